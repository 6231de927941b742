/* helix-sync-json.c: linear pre-scans of untrusted JSON text
 *
 * json-glib 1.6 parses recursively (about 80,000 nested brackets overflow the stack)
 * and is lenient: it accepts comments, single quotes, leading zeros, trailing
 * documents, and wraps integers that do not fit 64 bits. These scans run first, in
 * one pass with no recursion, so that json-glib only ever sees text it handles safely.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-sync"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-sync-json.h"
#include "helix-sync-types.h"

static gboolean
check_text (const char  *text,
            gsize        len,
            GError     **error)
{
  if (len == 0)
    return TRUE;  /* text may be NULL then, and memchr (NULL, …, 0) is undefined */

  if (memchr (text, '\0', len) != NULL)
    {
      g_set_error_literal (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_FRAME,
                           _("The frame contains a NUL byte; frames must be UTF-8 JSON text"));
      return FALSE;
    }

  if (!g_utf8_validate_len (text, len, NULL))
    {
      g_set_error_literal (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_FRAME,
                           _("The frame is not valid UTF-8; frames must be UTF-8 JSON text"));
      return FALSE;
    }

  return TRUE;
}

static gboolean
set_too_deep (guint    max_depth,
              GError **error)
{
  g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_TOO_DEEP,
               _("The frame nests arrays and objects deeper than %u levels"), max_depth);
  return FALSE;
}

typedef enum
{
  EXPECT_VALUE,
  EXPECT_VALUE_OR_CLOSE,  /* just after '[' */
  EXPECT_KEY_OR_CLOSE,    /* just after '{' */
  EXPECT_KEY,             /* after ',' in an object */
  EXPECT_COLON,
  EXPECT_COMMA_OR_CLOSE,
  EXPECT_END,
} ScanState;

static gboolean
syntax_error (gsize        pos,
              const char  *what,
              GError     **error)
{
  g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_FRAME,
               _("The frame is not valid JSON: %s at byte %lu"), what, (gulong) pos);
  return FALSE;
}

static int
hex4 (const char *p)
{
  int value = 0;

  for (guint i = 0; i < 4; i++)
    {
      int d = g_ascii_xdigit_value (p[i]);

      if (d < 0)
        return -1;
      value = (value << 4) | d;
    }

  return value;
}

/* Scans the string starting at the quote at *pos; leaves *pos after the closing quote. */
static gboolean
scan_string (const char  *text,
             gsize        len,
             gsize       *pos,
             GError     **error)
{
  gsize i = *pos + 1;

  while (i < len)
    {
      guchar c = (guchar) text[i];

      if (c == '"')
        {
          *pos = i + 1;
          return TRUE;
        }
      if (c < 0x20)
        return syntax_error (i, _("a control character in a string"), error);
      if (c != '\\')
        {
          i++;
          continue;
        }

      if (i + 1 >= len)
        break;
      switch (text[i + 1])
        {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
          i += 2;
          break;

        case 'u':
          {
            int cp = i + 6 <= len ? hex4 (text + i + 2) : -1;

            if (cp < 0)
              return syntax_error (i, _("a bad \\u escape"), error);
            if (cp == 0)
              return syntax_error (i, _("an escaped NUL (\\u0000)"), error);
            if (cp >= 0xdc00 && cp <= 0xdfff)
              return syntax_error (i, _("a lone low surrogate"), error);
            i += 6;
            if (cp >= 0xd800 && cp <= 0xdbff)
              {
                int low = (i + 6 <= len && text[i] == '\\' && text[i + 1] == 'u')
                          ? hex4 (text + i + 2) : -1;

                if (low < 0xdc00 || low > 0xdfff)
                  return syntax_error (i, _("a lone high surrogate"), error);
                i += 6;
              }
          }
          break;

        default:
          return syntax_error (i, _("an unknown escape"), error);
        }
    }

  return syntax_error (len, _("an unterminated string"), error);
}

/* Scans an RFC 8259 number at *pos. Integers (no fraction, no exponent) must lie
 * within ±(2^53 − 1): json-glib would silently wrap bigger ones. */
static gboolean
scan_number (const char  *text,
             gsize        len,
             gsize       *pos,
             GError     **error)
{
  gsize i = *pos;
  gsize int_digits = 0;
  guint64 magnitude = 0;
  gboolean is_integer = TRUE;

  if (text[i] == '-')
    i++;

  if (i < len && text[i] == '0')
    {
      i++;
      int_digits = 1;
    }
  else if (i < len && text[i] >= '1' && text[i] <= '9')
    {
      for (; i < len && g_ascii_isdigit (text[i]); i++, int_digits++)
        {
          /* Past 17 digits the value is out of range anyway; stop before overflow. */
          if (int_digits < 17)
            magnitude = magnitude * 10 + (guint64) (text[i] - '0');
        }
    }
  else
    {
      return syntax_error (i, _("a malformed number"), error);
    }

  if (i < len && text[i] == '.')
    {
      is_integer = FALSE;
      i++;
      if (i >= len || !g_ascii_isdigit (text[i]))
        return syntax_error (i, _("a malformed number"), error);
      while (i < len && g_ascii_isdigit (text[i]))
        i++;
    }

  if (i < len && (text[i] == 'e' || text[i] == 'E'))
    {
      is_integer = FALSE;
      i++;
      if (i < len && (text[i] == '+' || text[i] == '-'))
        i++;
      if (i >= len || !g_ascii_isdigit (text[i]))
        return syntax_error (i, _("a malformed number"), error);
      while (i < len && g_ascii_isdigit (text[i]))
        i++;
    }

  if (is_integer && (int_digits > 16 || magnitude > (guint64) HELIX_SYNC_MAX_INT))
    return syntax_error (*pos, _("an integer beyond ±(2^53 − 1)"), error);

  *pos = i;
  return TRUE;
}

static gboolean
scan_literal (const char  *text,
              gsize        len,
              gsize       *pos,
              GError     **error)
{
  static const char * const literals[] = { "true", "false", "null" };

  for (guint k = 0; k < G_N_ELEMENTS (literals); k++)
    {
      gsize n = strlen (literals[k]);

      if (len - *pos >= n && memcmp (text + *pos, literals[k], n) == 0)
        {
          *pos += n;
          return TRUE;
        }
    }

  return syntax_error (*pos, _("an unexpected character"), error);
}

/**
 * helix_json_validate:
 * @text: JSON text, not necessarily NUL-terminated
 * @len: length of @text in bytes
 * @max_depth: deepest nesting of arrays and objects allowed
 * @error: return location for a %HELIX_SYNC_ERROR
 *
 * Checks in one linear pass, without recursion, that @text is exactly one RFC 8259
 * JSON value, UTF-8 without NUL bytes (escaped `\u0000` and unpaired surrogates
 * included), nested at most @max_depth deep, with every integer literal within
 * ±(2^53 − 1). Everything it accepts, json-glib parses to the same value.
 *
 * Fails with %HELIX_SYNC_ERROR_TOO_DEEP when too deep, otherwise with
 * %HELIX_SYNC_ERROR_BAD_FRAME.
 *
 * Returns: %TRUE when @text is acceptable
 */
gboolean
helix_json_validate (const char  *text,
                     gsize        len,
                     guint        max_depth,
                     GError     **error)
{
  g_autofree char *stack = NULL;  /* '{' or '[' per open container */
  ScanState state = EXPECT_VALUE;
  guint depth = 0;
  gsize pos = 0;

  g_return_val_if_fail (text != NULL || len == 0, FALSE);

  if (!check_text (text, len, error))
    return FALSE;

  stack = g_malloc (max_depth + 1);

  for (;;)
    {
      char c;
      gboolean value_done = FALSE;

      while (pos < len && (text[pos] == ' ' || text[pos] == '\t' ||
                           text[pos] == '\n' || text[pos] == '\r'))
        pos++;

      if (pos == len)
        {
          if (state == EXPECT_END)
            return TRUE;
          return syntax_error (pos, _("an unexpected end"), error);
        }

      c = text[pos];

      switch (state)
        {
        case EXPECT_END:
          return syntax_error (pos, _("text after the value"), error);

        case EXPECT_COLON:
          if (c != ':')
            return syntax_error (pos, _("a missing ‘:’"), error);
          pos++;
          state = EXPECT_VALUE;
          break;

        case EXPECT_COMMA_OR_CLOSE:
          if (c == ',')
            {
              pos++;
              state = stack[depth - 1] == '{' ? EXPECT_KEY : EXPECT_VALUE;
            }
          else if ((c == '}' && stack[depth - 1] == '{') || (c == ']' && stack[depth - 1] == '['))
            {
              pos++;
              depth--;
              value_done = TRUE;
            }
          else
            {
              return syntax_error (pos, _("a missing ‘,’ or closing bracket"), error);
            }
          break;

        case EXPECT_KEY_OR_CLOSE:
        case EXPECT_KEY:
          if (c == '}' && state == EXPECT_KEY_OR_CLOSE)
            {
              pos++;
              depth--;
              value_done = TRUE;
            }
          else if (c == '"')
            {
              if (!scan_string (text, len, &pos, error))
                return FALSE;
              state = EXPECT_COLON;
            }
          else
            {
              return syntax_error (pos, _("a missing member name"), error);
            }
          break;

        case EXPECT_VALUE_OR_CLOSE:
        case EXPECT_VALUE:
          if (c == ']' && state == EXPECT_VALUE_OR_CLOSE)
            {
              pos++;
              depth--;
              value_done = TRUE;
            }
          else if (c == '{' || c == '[')
            {
              if (depth >= max_depth)
                return set_too_deep (max_depth, error);
              stack[depth++] = c;
              pos++;
              state = c == '{' ? EXPECT_KEY_OR_CLOSE : EXPECT_VALUE_OR_CLOSE;
            }
          else if (c == '"')
            {
              if (!scan_string (text, len, &pos, error))
                return FALSE;
              value_done = TRUE;
            }
          else if (c == '-' || g_ascii_isdigit (c))
            {
              if (!scan_number (text, len, &pos, error))
                return FALSE;
              value_done = TRUE;
            }
          else
            {
              if (!scan_literal (text, len, &pos, error))
                return FALSE;
              value_done = TRUE;
            }
          break;

        default:
          g_assert_not_reached ();
        }

      if (value_done)
        state = depth == 0 ? EXPECT_END : EXPECT_COMMA_OR_CLOSE;
    }
}
