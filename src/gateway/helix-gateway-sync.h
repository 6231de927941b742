/* helix-gateway-sync.h: each user's operation log and the state it materializes
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-gateway-db.h"
#include "helix-sync.h"

G_BEGIN_DECLS

/* Most ops helix_gateway_db_ops_since() returns at once (one `ops` frame). */
#define HELIX_GATEWAY_OPS_PAGE_MAX HELIX_SYNC_MAX_OPS

/**
 * HelixGatewaySyncSession:
 * @uuid: the session's id
 * @title: its title ("" until one is set)
 * @title_hlc: (nullable): the HLC of the op that set @title
 * @pinned: whether it is pinned
 * @pinned_hlc: (nullable): the HLC of the op that set @pinned
 * @archived: whether it is archived
 * @archived_hlc: (nullable): the HLC of the op that set @archived
 * @deleted: whether it is a tombstone (its fields are then cleared)
 * @deleted_hlc: (nullable): the HLC of the newest `session.delete`
 * @created_us: the earliest wall time of its ops (µs since the epoch)
 * @updated_us: the latest wall time of its ops and of its messages' ops
 * @model: (nullable): the model the user pinned for it; %NULL or "" for automatic
 * @model_hlc: (nullable): the HLC of the op that set @model
 *
 * A session as the gateway's ops have made it. Both times come from HLCs, so
 * they do not depend on the order the ops arrived in.
 */
typedef struct
{
  char     *uuid;
  char     *title;
  char     *title_hlc;
  gboolean  pinned;
  char     *pinned_hlc;
  gboolean  archived;
  char     *archived_hlc;
  gboolean  deleted;
  char     *deleted_hlc;
  gint64    created_us;
  gint64    updated_us;
  char     *model;
  char     *model_hlc;
} HelixGatewaySyncSession;

/**
 * HelixGatewaySyncSessionFunc:
 * @session: (transfer none): a session, valid only during the call
 * @user_data: the data given with the function
 *
 * Called by helix_gateway_db_foreach_session() for each session.
 */
typedef void (*HelixGatewaySyncSessionFunc) (const HelixGatewaySyncSession *session,
                                             gpointer                       user_data);

/**
 * HelixGatewaySyncMessage:
 * @uuid: the message's id
 * @session: the session it belongs to
 * @role: `user`, `assistant`, `system` or `tool`
 * @content: its text
 * @status: `pending`, `streaming`, `done` or `error`
 * @model: (nullable): the model that wrote it
 * @provider: (nullable): the provider of @model
 * @tokens_in: input tokens, or -1 when not known
 * @tokens_out: output tokens, or -1 when not known
 * @cost: what it cost, or a negative number when not known
 * @created_us: when it was written (µs since the epoch)
 * @hlc: the HLC of its newest content
 * @seq: the seq of the op that first stored it
 */
typedef struct
{
  char   *uuid;
  char   *session;
  char   *role;
  char   *content;
  char   *status;
  char   *model;
  char   *provider;
  gint64  tokens_in;
  gint64  tokens_out;
  double  cost;
  gint64  created_us;
  char   *hlc;
  gint64  seq;
} HelixGatewaySyncMessage;

void                     helix_gateway_sync_session_free (HelixGatewaySyncSession *session);
void                     helix_gateway_sync_message_free (HelixGatewaySyncMessage *message);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixGatewaySyncSession, helix_gateway_sync_session_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixGatewaySyncMessage, helix_gateway_sync_message_free)

/**
 * HelixGatewayPush:
 * @user_id: whose ops
 * @device_id: the device that sent them, or 0
 * @ops: (array length=n_ops): validated ops, without seq
 * @n_ops: how many
 * @seqs: (element-type gint64) (nullable): set on success: one seq per op
 * @applied: (element-type HelixSyncOp) (nullable): set on success: the ops
 *   stored now, with their seq
 * @canonicals: (element-type utf8) (nullable): set on success: the canonical
 *   text of each op of @applied (helix_sync_op_canonical()), for the frames
 * @conflict_op_id: (nullable): set with an %HELIX_SYNC_ERROR_OP_CONFLICT error
 * @error: (nullable): set when this push was refused
 *
 * One push of helix_gateway_db_apply_pushes(): the caller fills the first four
 * members, the function the others. Free them with helix_gateway_push_clear().
 */
typedef struct
{
  gint64         user_id;
  gint64         device_id;
  HelixSyncOp  **ops;
  guint          n_ops;
  GArray        *seqs;
  GPtrArray     *applied;
  GPtrArray     *canonicals;
  char          *conflict_op_id;
  GError        *error;
} HelixGatewayPush;

void                     helix_gateway_push_clear        (HelixGatewayPush *push);

gboolean                 helix_gateway_db_apply_ops      (HelixGatewayDb  *self,
                                                          gint64           user_id,
                                                          gint64           device_id,
                                                          HelixSyncOp    **ops,
                                                          guint            n_ops,
                                                          GArray          *seqs_out,
                                                          GPtrArray       *applied_out,
                                                          GError         **error);
gboolean                 helix_gateway_db_apply_ops_full (HelixGatewayDb  *self,
                                                          gint64           user_id,
                                                          gint64           device_id,
                                                          HelixSyncOp    **ops,
                                                          guint            n_ops,
                                                          GArray          *seqs_out,
                                                          GPtrArray       *applied_out,
                                                          char           **conflict_op_id,
                                                          GError         **error);
gboolean                 helix_gateway_db_apply_pushes   (HelixGatewayDb   *self,
                                                          HelixGatewayPush *pushes,
                                                          guint             n_pushes,
                                                          GError          **error);
GPtrArray               *helix_gateway_db_ops_since      (HelixGatewayDb  *self,
                                                          gint64           user_id,
                                                          gint64           cursor,
                                                          guint            limit,
                                                          GError         **error);
gboolean                 _helix_gateway_db_op_texts_since (HelixGatewayDb  *self,
                                                          gint64           user_id,
                                                          gint64           cursor,
                                                          guint            limit,
                                                          GArray          *seqs_out,
                                                          GPtrArray       *canonicals_out,
                                                          GError         **error);
gint64                   helix_gateway_db_get_head       (HelixGatewayDb  *self,
                                                          gint64           user_id,
                                                          GError         **error);

/* GET /api/v1/search: the longest text searched for, in bytes (as the
 * desktop store's HELIX_STORE_SEARCH_MAX_BYTES), and the most hits a page
 * has. */
#define HELIX_GATEWAY_SEARCH_MAX_BYTES 512
#define HELIX_GATEWAY_SEARCH_LIMIT_MAX 100

/**
 * HelixGatewaySearchHit:
 * @id: the document's id: the cursor of the next page
 * @session: the session it is in
 * @title: the session's title
 * @message: (nullable): the message found, or %NULL for the session's title
 * @seq: the seq of the op that first stored @message (0 for a title)
 * @role: (nullable): the role of @message
 * @snippet: the words found with a few around them
 * @created_us: when @message (or the session) was created
 *
 * One hit of helix_gateway_db_search().
 */
typedef struct
{
  gint64  id;
  char   *session;
  char   *title;
  char   *message;
  gint64  seq;
  char   *role;
  char   *snippet;
  gint64  created_us;
} HelixGatewaySearchHit;

void                     helix_gateway_search_hit_free   (HelixGatewaySearchHit *hit);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixGatewaySearchHit, helix_gateway_search_hit_free)

HelixGatewaySyncSession *helix_gateway_db_get_session    (HelixGatewayDb  *self,
                                                          gint64           user_id,
                                                          const char      *uuid,
                                                          GError         **error);
GPtrArray               *helix_gateway_db_list_sessions  (HelixGatewayDb  *self,
                                                          gint64           user_id,
                                                          GError         **error);
gboolean                 helix_gateway_db_foreach_session (HelixGatewayDb              *self,
                                                           gint64                       user_id,
                                                           HelixGatewaySyncSessionFunc  func,
                                                           gpointer                     user_data,
                                                           GError                     **error);
GPtrArray               *helix_gateway_db_list_messages  (HelixGatewayDb  *self,
                                                          gint64           user_id,
                                                          const char      *session,
                                                          gint64           after_seq,
                                                          guint            limit,
                                                          GError         **error);
GPtrArray               *helix_gateway_db_search         (HelixGatewayDb  *self,
                                                          gint64           user_id,
                                                          const char      *text,
                                                          gint64           after,
                                                          guint            limit,
                                                          GError         **error);

G_END_DECLS
