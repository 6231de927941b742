/* helix-sync-replica.c: the desktop store as a sync replica
 *
 * Glue between the store's plain-C sync API (helix-store-sync.h) and the protocol's
 * HelixSyncOp: outbox entries become validated ops and `push` frames; ops received
 * in `ops` frames become HelixRemoteOps that the store applies; `ack` frames empty the
 * outbox. No networking here: the WebSocket client sends and receives the text.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-sync"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-sync-replica.h"

/* Room left in a frame for its `{"type":"push","ops":[…]}` and the separators. */
#define FRAME_OVERHEAD 64

/**
 * helix_sync_replica_op_from_entry:
 * @entry: an outbox entry
 * @error: a location for a #GError
 *
 * Builds the protocol op of an outbox entry, validated by helix_sync_op_new().
 *
 * Returns: (transfer full): the op, or %NULL with a %HELIX_SYNC_ERROR_BAD_OP error
 */
HelixSyncOp *
helix_sync_replica_op_from_entry (const HelixOutboxEntry  *entry,
                                  GError                 **error)
{
  g_autoptr(JsonNode) node = NULL;
  HelixSyncOpKind kind;
  HelixHlc hlc;

  g_return_val_if_fail (entry != NULL, NULL);

  if (!helix_sync_op_kind_from_string (entry->kind, &kind) ||
      !helix_hlc_parse (entry->hlc, &hlc, NULL))
    {
      g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP,
                   _("The change %s waiting for sync is damaged"), entry->op_id);
      return NULL;
    }

  if (entry->data != NULL)
    {
      node = json_from_string (entry->data, NULL);
      if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
        {
          g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP,
                       _("The change %s waiting for sync is damaged"), entry->op_id);
          return NULL;
        }
    }

  return helix_sync_op_new (kind, entry->op_id, entry->entity, entry->session_id, &hlc,
                            node != NULL ? json_node_get_object (node) : NULL, error);
}

/**
 * helix_sync_replica_build_push:
 * @store: a #HelixStore
 * @max_ops: the most ops to put in the frame, 1 to %HELIX_SYNC_MAX_OPS
 * @op_ids: (out) (optional) (transfer full): the ids of the ops in the frame, in order
 * @error: a location for a #GError
 *
 * Builds a `push` frame from the oldest outbox entries, in their order, kept under the
 * frame size limit. An entry that can never be pushed (not a valid op, or an op that
 * alone does not fit in a frame) is dropped from the outbox with a warning when it is
 * the oldest one: the gateway would refuse it forever. A later one ends the frame
 * before it, so that it becomes the oldest next time: the outbox acknowledges local
 * messages in order (helix_store_outbox_ack()).
 *
 * Returns: (transfer full) (nullable): the frame text, or %NULL when there is nothing
 *   to push (@error unset) or on error
 */
char *
helix_sync_replica_build_push (HelixStore   *store,
                               guint         max_ops,
                               GStrv        *op_ids,
                               GError      **error)
{
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(GPtrArray) ops = NULL;
  g_autoptr(GPtrArray) bad = NULL;
  gsize size = FRAME_OVERHEAD;

  g_return_val_if_fail (HELIX_IS_STORE (store), NULL);
  g_return_val_if_fail (max_ops >= 1 && max_ops <= HELIX_SYNC_MAX_OPS, NULL);

  if (op_ids != NULL)
    *op_ids = NULL;

  entries = helix_store_outbox_peek (store, max_ops, error);
  if (entries == NULL)
    return NULL;

  ops = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  bad = g_ptr_array_new ();
  for (guint i = 0; i < entries->len; i++)
    {
      const HelixOutboxEntry *entry = g_ptr_array_index (entries, i);
      g_autoptr(GError) local_error = NULL;
      g_autoptr(HelixSyncOp) op = helix_sync_replica_op_from_entry (entry, &local_error);
      g_autofree char *canonical = NULL;
      gsize op_size;

      if (op != NULL)
        {
          canonical = helix_sync_op_canonical (op);
          op_size = strlen (canonical) + 1;
          if (FRAME_OVERHEAD + op_size > HELIX_SYNC_MAX_FRAME_BYTES)
            {
              g_clear_pointer (&op, helix_sync_op_unref);
              g_set_error (&local_error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_TOO_LARGE,
                           _("The change is larger than a sync frame (%" G_GSIZE_FORMAT " bytes)"),
                           op_size);
            }
        }

      if (op == NULL)
        {
          if (ops->len > 0)
            break;
          g_warning ("Dropping change %s from the sync outbox: %s", entry->op_id,
                     local_error->message);
          g_ptr_array_add (bad, entry->op_id);
          continue;
        }

      size += op_size;
      if (ops->len > 0 && size > HELIX_SYNC_MAX_FRAME_BYTES)
        break;
      g_ptr_array_add (ops, g_steal_pointer (&op));
    }

  if (bad->len > 0)
    {
      g_ptr_array_add (bad, NULL);
      if (!helix_store_outbox_ack (store, (const char * const *) bad->pdata, 0, error))
        return NULL;
    }

  if (ops->len == 0)
    return NULL;

  if (op_ids != NULL)
    {
      GStrvBuilder *builder = g_strv_builder_new ();

      for (guint i = 0; i < ops->len; i++)
        g_strv_builder_add (builder, helix_sync_op_get_op_id (g_ptr_array_index (ops, i)));
      *op_ids = g_strv_builder_end (builder);
      g_strv_builder_unref (builder);
    }

  return helix_sync_frame_build_push ((HelixSyncOp * const *) ops->pdata, ops->len);
}

/**
 * helix_sync_replica_apply_ops:
 * @store: a #HelixStore
 * @ops: (array length=n_ops): received ops, with their seq
 * @n_ops: how many
 * @cursor: the cursor to keep afterwards (0: the highest seq of @ops)
 * @error: a location for a #GError
 *
 * Applies ops from an `ops` frame to the store, all or nothing, and moves the cursor
 * in the same transaction. See helix_store_apply_remote().
 */
gboolean
helix_sync_replica_apply_ops (HelixStore          *store,
                              HelixSyncOp * const *ops,
                              guint                n_ops,
                              gint64               cursor,
                              GError             **error)
{
  g_autofree HelixRemoteOp *remote = NULL;
  g_autoptr(GPtrArray) strings = NULL;

  g_return_val_if_fail (HELIX_IS_STORE (store), FALSE);
  g_return_val_if_fail (ops != NULL || n_ops == 0, FALSE);

  remote = g_new0 (HelixRemoteOp, MAX (n_ops, 1));
  strings = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < n_ops; i++)
    {
      HelixSyncOp *op = ops[i];
      JsonObject *data = helix_sync_op_get_data (op);
      char *hlc = helix_hlc_to_string (helix_sync_op_get_hlc (op));

      g_ptr_array_add (strings, hlc);
      remote[i].seq = helix_sync_op_get_seq (op);
      remote[i].op_id = helix_sync_op_get_op_id (op);
      remote[i].kind = helix_sync_op_kind_to_string (helix_sync_op_get_kind (op));
      remote[i].entity = helix_sync_op_get_id (op);
      remote[i].session_id = helix_sync_op_get_session_id (op);
      remote[i].hlc = hlc;
      if (data != NULL)
        {
          g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), data);
          char *text = json_to_string (node, FALSE);

          g_ptr_array_add (strings, text);
          remote[i].data = text;
        }
    }

  return helix_store_apply_remote (store, remote, n_ops, cursor, error);
}

/**
 * helix_sync_replica_apply_parsed:
 * @store: a #HelixStore
 * @frame: a frame received from the gateway
 * @error: a location for a #GError
 *
 * Applies a frame: the ops of an `ops` frame go into the store; the ops of an `ack`
 * frame leave the outbox. Either moves the cursor to the highest seq of the frame
 * (PROTOCOL.md section 6), in the same transaction. Other frames are refused with
 * %HELIX_SYNC_ERROR_FORBIDDEN: the connection handles them.
 */
gboolean
helix_sync_replica_apply_parsed (HelixStore      *store,
                                 HelixSyncFrame  *frame,
                                 GError         **error)
{
  g_return_val_if_fail (HELIX_IS_STORE (store), FALSE);
  g_return_val_if_fail (frame != NULL, FALSE);

  switch (helix_sync_frame_get_kind (frame))
    {
    case HELIX_SYNC_FRAME_OPS:
      {
        GPtrArray *ops = helix_sync_frame_get_ops (frame);

        return helix_sync_replica_apply_ops (store, (HelixSyncOp * const *) ops->pdata,
                                             ops->len, 0, error);
      }

    case HELIX_SYNC_FRAME_ACK:
      {
        guint n_acks = 0;
        const HelixSyncAck *acks = helix_sync_frame_get_acks (frame, &n_acks);
        g_autofree const char **ids = g_new0 (const char *, n_acks + 1);
        gint64 cursor = 0;

        for (guint i = 0; i < n_acks; i++)
          {
            ids[i] = acks[i].op;
            cursor = MAX (cursor, acks[i].seq);
          }

        return helix_store_outbox_ack (store, ids, cursor, error);
      }

    case HELIX_SYNC_FRAME_HELLO:
    case HELIX_SYNC_FRAME_WELCOME:
    case HELIX_SYNC_FRAME_SYNCED:
    case HELIX_SYNC_FRAME_PUSH:
    case HELIX_SYNC_FRAME_MESSAGE_DELTA:
    case HELIX_SYNC_FRAME_ERROR:
    case HELIX_SYNC_FRAME_PING:
    case HELIX_SYNC_FRAME_PONG:
    case HELIX_SYNC_FRAME_CHAT:
    case HELIX_SYNC_FRAME_CHAT_FAILED:
    case HELIX_SYNC_FRAME_CHAT_CANCEL:
    default:
      g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_FORBIDDEN,
                   _("A “%s” frame does not change the store"),
                   helix_sync_frame_kind_to_string (helix_sync_frame_get_kind (frame)));
      return FALSE;
    }
}

/**
 * helix_sync_replica_apply_frame:
 * @store: a #HelixStore
 * @text: a frame received from the gateway
 * @len: its length in bytes
 * @error: a location for a #GError
 *
 * Parses and validates a frame and applies it with helix_sync_replica_apply_parsed().
 */
gboolean
helix_sync_replica_apply_frame (HelixStore  *store,
                                const char  *text,
                                gsize        len,
                                GError     **error)
{
  g_autoptr(HelixSyncFrame) frame = NULL;

  g_return_val_if_fail (HELIX_IS_STORE (store), FALSE);
  g_return_val_if_fail (text != NULL, FALSE);

  frame = helix_sync_frame_parse (text, len, error);
  if (frame == NULL)
    return FALSE;

  return helix_sync_replica_apply_parsed (store, frame, error);
}
