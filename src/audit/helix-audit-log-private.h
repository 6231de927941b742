/* helix-audit-log-private.h: what the audit log shares with its tests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-audit-log.h"

G_BEGIN_DECLS

gboolean _helix_audit_log_verify_in_ranges (HelixAuditLog          *self,
                                            const guint8           *public_key,
                                            HelixAuditCheckpoint   *known,
                                            guint                   n_ranges,
                                            HelixAuditReport       *report,
                                            GError                **error);

G_END_DECLS
