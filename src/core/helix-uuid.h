/* helix-uuid.h: UUID helpers
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define HELIX_UUID_STRING_LEN 36

char     *helix_uuid_new_v7        (void);
char     *helix_uuid_new_v7_at     (gint64      unix_ms);
void      helix_uuid_format_v7     (gint64      unix_ms,
                                    char        out[HELIX_UUID_STRING_LEN + 1]);
gboolean  helix_uuid_is_valid      (const char *str);
gint64    helix_uuid_v7_get_time   (const char *str);

G_END_DECLS
