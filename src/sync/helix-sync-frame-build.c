/* helix-sync-frame-build.c: building the frames of the sync protocol
 *
 * Each builder takes values its caller already holds as valid and returns the frame's
 * JSON text, newly allocated. Arguments out of the protocol's limits are programming
 * errors (g_return_val_if_fail), not input errors.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-sync"

#include "config.h"

#include <string.h>

#include "helix-hlc.h"
#include "helix-sync-frame.h"
#include "helix-sync-private.h"

static JsonBuilder *
begin_frame (HelixSyncFrameKind kind)
{
  JsonBuilder *builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, helix_sync_frame_kind_to_string (kind));

  return builder;
}

static char *
end_frame (JsonBuilder *builder)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  g_object_unref (builder);

  return json_generator_to_data (generator, NULL);
}

static void
add_string (JsonBuilder *builder,
            const char  *name,
            const char  *value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_string_value (builder, value);
}

static void
add_int (JsonBuilder *builder,
         const char  *name,
         gint64       value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_int_value (builder, value);
}

char *
helix_sync_frame_build_hello (gint64      cursor,
                              const char *device)
{
  JsonBuilder *builder;

  g_return_val_if_fail (cursor >= 0 && cursor <= HELIX_SYNC_MAX_INT, NULL);
  g_return_val_if_fail (helix_hlc_device_is_valid (device), NULL);

  builder = begin_frame (HELIX_SYNC_FRAME_HELLO);
  add_int (builder, "cursor", cursor);
  add_string (builder, "device", device);

  return end_frame (builder);
}

char *
helix_sync_frame_build_welcome (const char *user,
                                const char *device,
                                gint64      head)
{
  JsonBuilder *builder;

  g_return_val_if_fail (user != NULL && user[0] != '\0', NULL);
  g_return_val_if_fail (g_utf8_validate (user, -1, NULL), NULL);
  g_return_val_if_fail (strlen (user) <= HELIX_SYNC_MAX_NAME_BYTES, NULL);
  g_return_val_if_fail (helix_hlc_device_is_valid (device), NULL);
  g_return_val_if_fail (head >= 0 && head <= HELIX_SYNC_MAX_INT, NULL);

  builder = begin_frame (HELIX_SYNC_FRAME_WELCOME);
  add_string (builder, "user", user);
  add_string (builder, "device", device);
  add_int (builder, "head", head);

  return end_frame (builder);
}

static char *
build_op_frame (HelixSyncFrameKind   kind,
                HelixSyncOp * const *ops,
                guint                n_ops)
{
  JsonBuilder *builder = begin_frame (kind);

  json_builder_set_member_name (builder, "ops");
  json_builder_begin_array (builder);
  for (guint i = 0; i < n_ops; i++)
    _helix_sync_op_build (ops[i], builder, kind == HELIX_SYNC_FRAME_OPS);
  json_builder_end_array (builder);

  return end_frame (builder);
}

/**
 * helix_sync_frame_build_ops:
 * @ops: (array length=n_ops): stored ops, each with its seq
 * @n_ops: 1 to %HELIX_SYNC_MAX_OPS
 *
 * The caller keeps the result within %HELIX_SYNC_MAX_FRAME_BYTES, sending fewer ops
 * per page when their content is long.
 *
 * Returns: (transfer full): an `ops` frame
 */
char *
helix_sync_frame_build_ops (HelixSyncOp * const *ops,
                            guint                n_ops)
{
  g_return_val_if_fail (ops != NULL, NULL);
  g_return_val_if_fail (n_ops >= 1 && n_ops <= HELIX_SYNC_MAX_OPS, NULL);
  for (guint i = 0; i < n_ops; i++)
    g_return_val_if_fail (helix_sync_op_get_seq (ops[i]) > 0, NULL);

  return build_op_frame (HELIX_SYNC_FRAME_OPS, ops, n_ops);
}

char *
helix_sync_frame_build_synced (gint64 cursor)
{
  JsonBuilder *builder;

  g_return_val_if_fail (cursor >= 0 && cursor <= HELIX_SYNC_MAX_INT, NULL);

  builder = begin_frame (HELIX_SYNC_FRAME_SYNCED);
  add_int (builder, "cursor", cursor);

  return end_frame (builder);
}

/**
 * helix_sync_frame_build_push:
 * @ops: (array length=n_ops): ops from the outbox; a seq they carry is left out
 * @n_ops: 1 to %HELIX_SYNC_MAX_OPS
 *
 * Returns: (transfer full): a `push` frame
 */
char *
helix_sync_frame_build_push (HelixSyncOp * const *ops,
                             guint                n_ops)
{
  g_return_val_if_fail (ops != NULL, NULL);
  g_return_val_if_fail (n_ops >= 1 && n_ops <= HELIX_SYNC_MAX_OPS, NULL);

  return build_op_frame (HELIX_SYNC_FRAME_PUSH, ops, n_ops);
}

char *
helix_sync_frame_build_ack (const HelixSyncAck *acks,
                            guint               n_acks)
{
  JsonBuilder *builder;

  g_return_val_if_fail (acks != NULL, NULL);
  g_return_val_if_fail (n_acks >= 1 && n_acks <= HELIX_SYNC_MAX_OPS, NULL);
  for (guint i = 0; i < n_acks; i++)
    {
      g_return_val_if_fail (helix_uuid_is_valid (acks[i].op), NULL);
      g_return_val_if_fail (acks[i].seq >= 1 && acks[i].seq <= HELIX_SYNC_MAX_INT, NULL);
    }

  builder = begin_frame (HELIX_SYNC_FRAME_ACK);
  json_builder_set_member_name (builder, "acks");
  json_builder_begin_array (builder);
  for (guint i = 0; i < n_acks; i++)
    {
      json_builder_begin_object (builder);
      add_string (builder, "op", acks[i].op);
      add_int (builder, "seq", acks[i].seq);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  return end_frame (builder);
}

char *
helix_sync_frame_build_message_delta (const char *session_id,
                                      const char *message_id,
                                      const char *delta,
                                      gint64      index)
{
  JsonBuilder *builder;

  g_return_val_if_fail (helix_uuid_is_valid (session_id), NULL);
  g_return_val_if_fail (helix_uuid_is_valid (message_id), NULL);
  g_return_val_if_fail (delta != NULL && g_utf8_validate (delta, -1, NULL), NULL);
  g_return_val_if_fail (strlen (delta) <= HELIX_SYNC_MAX_DELTA_BYTES, NULL);
  g_return_val_if_fail (index >= 0 && index <= HELIX_SYNC_MAX_INT, NULL);

  builder = begin_frame (HELIX_SYNC_FRAME_MESSAGE_DELTA);
  add_string (builder, "session", session_id);
  add_string (builder, "message", message_id);
  add_string (builder, "delta", delta);
  add_int (builder, "index", index);

  return end_frame (builder);
}

/**
 * helix_sync_frame_build_chat:
 * @session_id: the session
 * @message_id: the stored user message to answer
 * @reply_id: a new id for the answer
 * @model: (nullable): a model pinned for the session
 *
 * Returns: (transfer full): a `chat` frame
 */
char *
helix_sync_frame_build_chat (const char *session_id,
                             const char *message_id,
                             const char *reply_id,
                             const char *model)
{
  JsonBuilder *builder;

  g_return_val_if_fail (helix_uuid_is_valid (session_id), NULL);
  g_return_val_if_fail (helix_uuid_is_valid (message_id), NULL);
  g_return_val_if_fail (helix_uuid_is_valid (reply_id), NULL);
  g_return_val_if_fail (model == NULL || strlen (model) <= HELIX_SYNC_MAX_MODEL_BYTES, NULL);

  builder = begin_frame (HELIX_SYNC_FRAME_CHAT);
  add_string (builder, "session", session_id);
  add_string (builder, "message", message_id);
  add_string (builder, "reply", reply_id);
  if (model != NULL)
    add_string (builder, "model", model);

  return end_frame (builder);
}

/**
 * helix_sync_frame_build_chat_cancel:
 * @session_id: the session
 * @reply_id: the answer to stop writing
 *
 * Returns: (transfer full): a `chat.cancel` frame
 */
char *
helix_sync_frame_build_chat_cancel (const char *session_id,
                                    const char *reply_id)
{
  JsonBuilder *builder;

  g_return_val_if_fail (helix_uuid_is_valid (session_id), NULL);
  g_return_val_if_fail (helix_uuid_is_valid (reply_id), NULL);

  builder = begin_frame (HELIX_SYNC_FRAME_CHAT_CANCEL);
  add_string (builder, "session", session_id);
  add_string (builder, "reply", reply_id);

  return end_frame (builder);
}

/**
 * helix_sync_frame_build_chat_failed:
 * @session_id: the session
 * @reply_id: the answer that did not come
 * @error: why, for people; cut to %HELIX_SYNC_MAX_MESSAGE_BYTES
 *
 * Returns: (transfer full): a `chat.failed` frame
 */
char *
helix_sync_frame_build_chat_failed (const char *session_id,
                                    const char *reply_id,
                                    const char *error)
{
  g_autofree char *text = NULL;
  JsonBuilder *builder;

  g_return_val_if_fail (helix_uuid_is_valid (session_id), NULL);
  g_return_val_if_fail (helix_uuid_is_valid (reply_id), NULL);
  g_return_val_if_fail (error != NULL, NULL);

  text = g_utf8_make_valid (error, -1);
  if (strlen (text) > HELIX_SYNC_MAX_MESSAGE_BYTES)
    *g_utf8_find_prev_char (text, text + HELIX_SYNC_MAX_MESSAGE_BYTES + 1) = '\0';

  builder = begin_frame (HELIX_SYNC_FRAME_CHAT_FAILED);
  add_string (builder, "session", session_id);
  add_string (builder, "reply", reply_id);
  add_string (builder, "error", text);

  return end_frame (builder);
}

/**
 * helix_sync_frame_build_error:
 * @code: the wire code, e.g. from helix_sync_error_to_code()
 * @message: a human-readable explanation; made valid UTF-8 and cut to
 *   %HELIX_SYNC_MAX_MESSAGE_BYTES
 * @op_id: (nullable): the op the error is about
 *
 * Returns: (transfer full): an `error` frame
 */
char *
helix_sync_frame_build_error (const char *code,
                              const char *message,
                              const char *op_id)
{
  g_autofree char *valid = NULL;
  g_autofree char *cut = NULL;
  JsonBuilder *builder;

  g_return_val_if_fail (code != NULL && code[0] != '\0', NULL);
  g_return_val_if_fail (strlen (code) <= HELIX_SYNC_MAX_CODE_BYTES, NULL);
  g_return_val_if_fail (message != NULL, NULL);
  g_return_val_if_fail (op_id == NULL || helix_uuid_is_valid (op_id), NULL);

  /* Messages may quote what a peer sent; never let that break the frame. */
  if (!g_utf8_validate (message, -1, NULL))
    {
      valid = g_utf8_make_valid (message, -1);
      message = valid;
    }

  if (strlen (message) > HELIX_SYNC_MAX_MESSAGE_BYTES)
    {
      /* Cut on a character boundary. */
      const char *end = g_utf8_find_prev_char (message,
                                               message + HELIX_SYNC_MAX_MESSAGE_BYTES + 1);

      cut = g_strndup (message, (gsize) (end - message));
      message = cut;
    }

  builder = begin_frame (HELIX_SYNC_FRAME_ERROR);
  add_string (builder, "code", code);
  add_string (builder, "message", message);
  if (op_id != NULL)
    add_string (builder, "op", op_id);

  return end_frame (builder);
}

/**
 * helix_sync_frame_build_error_from_gerror:
 * @error: a %HELIX_SYNC_ERROR; any other domain is sent as `unavailable`
 * @op_id: (nullable): the op the error is about
 *
 * Returns: (transfer full): an `error` frame
 */
char *
helix_sync_frame_build_error_from_gerror (const GError *error,
                                          const char   *op_id)
{
  HelixSyncError code = HELIX_SYNC_ERROR_UNAVAILABLE;

  g_return_val_if_fail (error != NULL, NULL);

  if (error->domain == HELIX_SYNC_ERROR && error->code >= 0 &&
      error->code <= HELIX_SYNC_ERROR_UNAVAILABLE)
    code = (HelixSyncError) error->code;

  return helix_sync_frame_build_error (helix_sync_error_to_code (code), error->message, op_id);
}

static char *
build_ping_pong (HelixSyncFrameKind  kind,
                 const char         *id)
{
  JsonBuilder *builder;

  g_return_val_if_fail (id == NULL || g_utf8_validate (id, -1, NULL), NULL);
  g_return_val_if_fail (id == NULL || strlen (id) <= HELIX_SYNC_MAX_PING_ID_BYTES, NULL);

  builder = begin_frame (kind);
  if (id != NULL)
    add_string (builder, "id", id);

  return end_frame (builder);
}

char *
helix_sync_frame_build_ping (const char *id)
{
  return build_ping_pong (HELIX_SYNC_FRAME_PING, id);
}

char *
helix_sync_frame_build_pong (const char *id)
{
  return build_ping_pong (HELIX_SYNC_FRAME_PONG, id);
}
