/* helix-sync-frame.h: parsing and building the frames of the sync protocol
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

#include "helix-uuid.h"
#include "helix-sync-json.h"
#include "helix-sync-op.h"
#include "helix-sync-types.h"

G_BEGIN_DECLS

/**
 * HelixSyncAck:
 * @op: the op id that was pushed
 * @seq: the sequence number the gateway stored it under
 *
 * One entry of an `ack` frame.
 */
typedef struct
{
  char   op[HELIX_UUID_STRING_LEN + 1];
  gint64 seq;
} HelixSyncAck;

#define HELIX_TYPE_SYNC_FRAME (helix_sync_frame_get_type ())

GType               helix_sync_frame_get_type          (void) G_GNUC_CONST;
HelixSyncFrame     *helix_sync_frame_parse             (const char          *text,
                                                        gsize                len,
                                                        GError             **error);
HelixSyncFrame     *helix_sync_frame_parse_full        (const char          *text,
                                                        gsize                len,
                                                        char               **bad_op_id,
                                                        GError             **error);
HelixSyncFrame     *helix_sync_frame_ref               (HelixSyncFrame      *frame);
void                helix_sync_frame_unref             (HelixSyncFrame      *frame);

HelixSyncFrameKind  helix_sync_frame_get_kind          (HelixSyncFrame      *frame);
gint64              helix_sync_frame_get_cursor        (HelixSyncFrame      *frame);
gint64              helix_sync_frame_get_head          (HelixSyncFrame      *frame);
const char         *helix_sync_frame_get_user          (HelixSyncFrame      *frame);
const char         *helix_sync_frame_get_device        (HelixSyncFrame      *frame);
GPtrArray          *helix_sync_frame_get_ops           (HelixSyncFrame      *frame);
const HelixSyncAck *helix_sync_frame_get_acks          (HelixSyncFrame      *frame,
                                                        guint               *n_acks);
const char         *helix_sync_frame_get_session_id    (HelixSyncFrame      *frame);
const char         *helix_sync_frame_get_message_id    (HelixSyncFrame      *frame);
const char         *helix_sync_frame_get_delta         (HelixSyncFrame      *frame);
gint64              helix_sync_frame_get_index         (HelixSyncFrame      *frame);
const char         *helix_sync_frame_get_error_code    (HelixSyncFrame      *frame);
const char         *helix_sync_frame_get_error_message (HelixSyncFrame      *frame);
const char         *helix_sync_frame_get_error_op      (HelixSyncFrame      *frame);
const char         *helix_sync_frame_get_ping_id       (HelixSyncFrame      *frame);
const char         *helix_sync_frame_get_reply_id      (HelixSyncFrame      *frame);
const char         *helix_sync_frame_get_model         (HelixSyncFrame      *frame);

char *helix_sync_frame_build_hello            (gint64               cursor,
                                               const char          *device);
char *helix_sync_frame_build_welcome          (const char          *user,
                                               const char          *device,
                                               gint64               head);
char *helix_sync_frame_build_ops              (HelixSyncOp * const *ops,
                                               guint                n_ops);
char *helix_sync_frame_build_synced           (gint64               cursor);
char *helix_sync_frame_build_push             (HelixSyncOp * const *ops,
                                               guint                n_ops);
char *helix_sync_frame_build_ack              (const HelixSyncAck  *acks,
                                               guint                n_acks);
char *helix_sync_frame_build_message_delta    (const char          *session_id,
                                               const char          *message_id,
                                               const char          *delta,
                                               gint64               index);
char *helix_sync_frame_build_error            (const char          *code,
                                               const char          *message,
                                               const char          *op_id);
char *helix_sync_frame_build_error_from_gerror (const GError       *error,
                                                const char         *op_id);
char *helix_sync_frame_build_chat             (const char          *session_id,
                                               const char          *message_id,
                                               const char          *reply_id,
                                               const char          *model);
char *helix_sync_frame_build_chat_cancel      (const char          *session_id,
                                               const char          *reply_id);
char *helix_sync_frame_build_chat_failed      (const char          *session_id,
                                               const char          *reply_id,
                                               const char          *error);
char *helix_sync_frame_build_ping             (const char          *id);
char *helix_sync_frame_build_pong             (const char          *id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixSyncFrame, helix_sync_frame_unref)

G_END_DECLS
