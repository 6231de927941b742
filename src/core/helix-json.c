/* helix-json.c: guards for untrusted JSON
 *
 * json-glib 1.6 parses recursively and overflows the stack on input nested some 80,000
 * levels deep, and it accepts what it should not from a network peer. Every JSON text
 * that comes from outside goes through helix_json_check_text() before json-glib sees it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-core"

#include "config.h"

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <string.h>

#include "helix-json.h"

/**
 * helix_json_check_text:
 * @text: (array length=len): the bytes received
 * @len: their length
 * @max_bytes: the most bytes allowed
 * @max_depth: the deepest nesting of arrays and objects allowed
 * @error: a location for a #GError
 *
 * One linear pass over @text that rejects, before any parser runs: more than
 * @max_bytes, NUL bytes, invalid UTF-8, and arrays or objects nested deeper than
 * @max_depth (brackets inside strings, escaped quotes included, do not count).
 *
 * Errors are in the %G_IO_ERROR domain: %G_IO_ERROR_MESSAGE_TOO_LARGE for size and
 * depth, %G_IO_ERROR_INVALID_DATA for the rest.
 *
 * Returns: %TRUE if json-glib may parse @text
 */
gboolean
helix_json_check_text (const char  *text,
                       gsize        len,
                       gsize        max_bytes,
                       guint        max_depth,
                       GError     **error)
{
  gboolean in_string = FALSE;
  guint depth = 0;

  g_return_val_if_fail (text != NULL || len == 0, FALSE);

  if (len > max_bytes)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                   _("The JSON text is too large (%lu bytes; at most %lu)"),
                   (gulong) len, (gulong) max_bytes);
      return FALSE;
    }

  if (memchr (text, '\0', len) != NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           _("The JSON text contains a NUL byte"));
      return FALSE;
    }

  if (!g_utf8_validate_len (text, len, NULL))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           _("The JSON text is not valid UTF-8"));
      return FALSE;
    }

  for (gsize i = 0; i < len; i++)
    {
      char c = text[i];

      if (in_string)
        {
          if (c == '\\')
            i++;
          else if (c == '"')
            in_string = FALSE;
          continue;
        }

      switch (c)
        {
        case '"':
          in_string = TRUE;
          break;

        case '[':
        case '{':
          if (++depth > max_depth)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                           _("The JSON text is nested too deeply (more than %u levels)"),
                           max_depth);
              return FALSE;
            }
          break;

        case ']':
        case '}':
          if (depth > 0)
            depth--;
          break;

        default:
          break;
        }
    }

  return TRUE;
}

/* Characters that go into a JSON string as they are: all but the
 * terminating NUL, the other control characters, '"' (0x22) and '\\' (0x5c). */
static const guint8 json_plain[256] = {
  [0x20 ... 0x21] = 1,
  [0x23 ... 0x5b] = 1,
  [0x5d ... 0xff] = 1,
};

/**
 * helix_json_append_string:
 * @out: where to append
 * @text: UTF-8 text
 *
 * Appends @text as a JSON string literal, escaped: for JSON texts spliced
 * together without building a tree.
 */
void
helix_json_append_string (GString    *out,
                          const char *text)
{
  const char *run = text;
  const char *p = text;

  g_string_append_c (out, '"');
  for (;;)
    {
      guchar c;

      /* Most strings (ids, titles, text) need no escape at all. */
      while (json_plain[(guchar) *p])
        p++;
      helix_json_append_raw (out, run, p - run);

      c = (guchar) *p;
      if (c == '\0')
        break;

      switch (c)
        {
        case '"':
          helix_json_append_literal (out, "\\\"");
          break;
        case '\\':
          helix_json_append_literal (out, "\\\\");
          break;
        case '\n':
          helix_json_append_literal (out, "\\n");
          break;
        case '\t':
          helix_json_append_literal (out, "\\t");
          break;
        case '\r':
          helix_json_append_literal (out, "\\r");
          break;
        default:
          g_string_append_printf (out, "\\u%04x", c);
          break;
        }
      run = ++p;
    }
  g_string_append_c (out, '"');
}
