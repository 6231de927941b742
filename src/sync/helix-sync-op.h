/* helix-sync-op.h: one validated sync operation
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

#include "helix-hlc.h"
#include "helix-sync-types.h"

G_BEGIN_DECLS

#define HELIX_TYPE_SYNC_OP (helix_sync_op_get_type ())

GType              helix_sync_op_get_type        (void) G_GNUC_CONST;
HelixSyncOp       *helix_sync_op_new             (HelixSyncOpKind    kind,
                                                  const char        *op_id,
                                                  const char        *id,
                                                  const char        *session_id,
                                                  const HelixHlc    *hlc,
                                                  JsonObject        *data,
                                                  GError           **error);
HelixSyncOp       *helix_sync_op_new_from_node   (JsonNode          *node,
                                                  GError           **error);
HelixSyncOp       *helix_sync_op_new_from_data   (const char        *text,
                                                  gsize              len,
                                                  GError           **error);
HelixSyncOp       *helix_sync_op_dup_with_seq    (HelixSyncOp       *op,
                                                  gint64             seq);
HelixSyncOp       *helix_sync_op_ref             (HelixSyncOp       *op);
void               helix_sync_op_unref           (HelixSyncOp       *op);

HelixSyncOpKind    helix_sync_op_get_kind        (HelixSyncOp       *op);
const char        *helix_sync_op_get_op_id       (HelixSyncOp       *op);
const char        *helix_sync_op_get_id          (HelixSyncOp       *op);
const char        *helix_sync_op_get_session_id  (HelixSyncOp       *op);
const HelixHlc    *helix_sync_op_get_hlc         (HelixSyncOp       *op);
gint64             helix_sync_op_get_seq         (HelixSyncOp       *op);
JsonObject        *helix_sync_op_get_data        (HelixSyncOp       *op);

JsonNode          *helix_sync_op_to_json         (HelixSyncOp       *op,
                                                  gboolean           with_seq);
char              *helix_sync_op_canonical       (HelixSyncOp       *op);
char              *helix_sync_op_hash            (HelixSyncOp       *op);
gboolean           helix_sync_op_equal           (HelixSyncOp       *a,
                                                  HelixSyncOp       *b);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixSyncOp, helix_sync_op_unref)

G_END_DECLS
