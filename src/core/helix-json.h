/* helix-json.h: guards for untrusted JSON
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <string.h>

#include <glib.h>

G_BEGIN_DECLS

gboolean helix_json_check_text (const char  *text,
                                gsize        len,
                                gsize        max_bytes,
                                guint        max_depth,
                                GError     **error);

void     helix_json_append_string (GString    *out,
                                   const char *text);

/**
 * helix_json_append_raw:
 * @out: a JSON text being written
 * @text: (array length=length): text to append as is
 * @length: its length in bytes
 *
 * Appends @text to @out: g_string_append_len() without a function call
 * when @out has room, which GLib 2.74 has only for single characters
 * (g_string_append_c()). For writers of JSON texts that append many small
 * pieces.
 */
static inline void
helix_json_append_raw (GString    *out,
                       const char *text,
                       gsize       length)
{
  if G_LIKELY (out->len + length < out->allocated_len)
    {
      memcpy (out->str + out->len, text, length);
      out->len += length;
      out->str[out->len] = '\0';
    }
  else
    {
      g_string_append_len (out, text, (gssize) length);
    }
}

/* Appends the string literal @literal with helix_json_append_raw(). */
#define helix_json_append_literal(out, literal) \
  helix_json_append_raw ((out), "" literal "", sizeof (literal) - 1)

G_END_DECLS
