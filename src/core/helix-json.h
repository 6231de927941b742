/* helix-json.h: guards for untrusted JSON
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean helix_json_check_text (const char  *text,
                                gsize        len,
                                gsize        max_bytes,
                                guint        max_depth,
                                GError     **error);

void     helix_json_append_string (GString    *out,
                                   const char *text);

G_END_DECLS
