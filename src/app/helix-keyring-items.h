/* helix-keyring-items.h: every secret of a libsecret schema, read asynchronously
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <libsecret/secret.h>

G_BEGIN_DECLS

void        helix_keyring_items_load_async  (const SecretSchema   *schema,
                                             const char           *attribute,
                                             GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data);
GHashTable *helix_keyring_items_load_finish (GAsyncResult         *result,
                                             GError              **error);

void        helix_keyring_secret_free       (gpointer              secret);

G_END_DECLS
