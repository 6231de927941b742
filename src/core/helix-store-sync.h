/* helix-store-sync.h: what the sync replica needs from the local store
 *
 * The store records every local write as a sync operation in its outbox, in the same
 * transaction as the write, and applies operations from other devices with the rules of
 * src/sync/PROTOCOL.md section 7. Plain C types only: the core does not link the sync
 * library; src/sync/helix-sync-replica.c converts to and from HelixSyncOp.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-store.h"

G_BEGIN_DECLS

/* Longest model or provider name an op carries (PROTOCOL.md section 5). */
#define HELIX_STORE_SYNC_NAME_MAX_BYTES 256

#define HELIX_TYPE_OUTBOX_ENTRY (helix_outbox_entry_get_type ())

/**
 * HelixOutboxEntry:
 * @op_id: the op's UUID
 * @kind: `session.put`, `message.put` or `session.delete`
 * @entity: the session (`session.*`) or the message (`message.put`)
 * @session_id: (nullable): the message's session, for `message.put` only
 * @hlc: the HLC the change got, in text form
 * @data: (nullable): the op's data object as JSON text; %NULL for `session.delete`
 *
 * One local change waiting for the gateway's acknowledgement.
 */
typedef struct
{
  char *op_id;
  char *kind;
  char *entity;
  char *session_id;
  char *hlc;
  char *data;
} HelixOutboxEntry;

/**
 * HelixRemoteOp:
 * @seq: the sequence number the gateway stored the op under
 * @op_id: the op's UUID
 * @kind: `session.put`, `message.put` or `session.delete`
 * @entity: the session (`session.*`) or the message (`message.put`)
 * @session_id: (nullable): the message's session, for `message.put` only
 * @hlc: the op's HLC in text form
 * @data: (nullable): the op's data object as JSON text; %NULL for `session.delete`
 *
 * One op from another device, as helix_store_apply_remote() takes it.
 */
typedef struct
{
  gint64      seq;
  const char *op_id;
  const char *kind;
  const char *entity;
  const char *session_id;
  const char *hlc;
  const char *data;
} HelixRemoteOp;

GType             helix_outbox_entry_get_type  (void) G_GNUC_CONST;
HelixOutboxEntry *helix_outbox_entry_copy      (const HelixOutboxEntry  *entry);
void              helix_outbox_entry_free      (HelixOutboxEntry        *entry);

GPtrArray        *helix_store_outbox_peek      (HelixStore              *self,
                                                guint                    limit,
                                                GError                 **error);
gboolean          helix_store_outbox_ack       (HelixStore              *self,
                                                const char * const      *op_ids,
                                                gint64                   new_cursor,
                                                GError                 **error);
gint64            helix_store_get_sync_cursor  (HelixStore              *self,
                                                GError                 **error);
gboolean          helix_store_reset_sync_cursor (HelixStore             *self,
                                                GError                 **error);
gint64            helix_store_outbox_count     (HelixStore              *self,
                                                GError                 **error);
gboolean          helix_store_check_sync_identity (HelixStore           *self,
                                                const char              *identity,
                                                gboolean                *changed,
                                                GError                 **error);
gboolean          helix_store_apply_remote     (HelixStore              *self,
                                                const HelixRemoteOp     *ops,
                                                guint                    n_ops,
                                                gint64                   cursor,
                                                GError                 **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixOutboxEntry, helix_outbox_entry_free)

G_END_DECLS
