/* helix-audit-keyring.h: the desktop's audit signing key, kept in the keyring
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-audit-checkpoint.h"

G_BEGIN_DECLS

#define HELIX_AUDIT_KEY_SCHEMA_NAME "ai.helix.Helix.AuditKey"

char             *helix_audit_keyring_default_origin (void);
void              helix_audit_keyring_load_async     (const char          *origin,
                                                      GCancellable        *cancellable,
                                                      GAsyncReadyCallback  callback,
                                                      gpointer             user_data);
HelixAuditSigner *helix_audit_keyring_load_finish    (GAsyncResult        *result,
                                                      GError             **error);
HelixAuditSigner *helix_audit_keyring_lookup_sync    (const char          *origin,
                                                      GError             **error);

G_END_DECLS
