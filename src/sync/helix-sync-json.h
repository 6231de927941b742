/* helix-sync-json.h: checks run on untrusted JSON text before json-glib sees it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

gboolean helix_json_validate    (const char  *text,
                                 gsize        len,
                                 guint        max_depth,
                                 GError     **error);

JsonNode *helix_json_parse_valid      (const char  *text,
                                       gsize        len);
JsonNode *helix_json_parse_valid_full (const char  *text,
                                       gsize        len,
                                       gboolean    *repeated);

G_END_DECLS
