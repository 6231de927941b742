/* helix-sync-replica.h: the desktop store as a sync replica
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-store-sync.h"
#include "helix-sync-frame.h"
#include "helix-sync-op.h"

G_BEGIN_DECLS

HelixSyncOp *helix_sync_replica_op_from_entry (const HelixOutboxEntry  *entry,
                                               GError                 **error);
char        *helix_sync_replica_build_push    (HelixStore              *store,
                                               guint                    max_ops,
                                               GStrv                   *op_ids,
                                               GError                 **error);
gboolean     helix_sync_replica_apply_ops     (HelixStore              *store,
                                               HelixSyncOp * const     *ops,
                                               guint                    n_ops,
                                               gint64                   cursor,
                                               GError                 **error);
gboolean     helix_sync_replica_apply_parsed  (HelixStore              *store,
                                               HelixSyncFrame          *frame,
                                               GError                 **error);
gboolean     helix_sync_replica_apply_frame   (HelixStore              *store,
                                               const char              *text,
                                               gsize                    len,
                                               GError                 **error);

G_END_DECLS
