/* helix-sync-op.c: one validated sync operation
 *
 * An op is immutable once made; every way of making one (from a frame, from stored
 * text, from a caller's fields) runs the same validation, so an op that exists is one
 * the protocol allows.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-sync"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-types.h"
#include "helix-uuid.h"
#include "helix-sync-json.h"
#include "helix-sync-op.h"
#include "helix-sync-op-private.h"
#include "helix-sync-private.h"

G_DEFINE_BOXED_TYPE (HelixSyncOp, helix_sync_op, helix_sync_op_ref, helix_sync_op_unref)

static const char * const session_data_members[] = { "title", "pinned", "archived", NULL };
static const char * const session_flags[] = { "pinned", "archived" };
static const char * const message_data_members[] = {
  "role", "content", "status", "model", "provider",
  "tokens_in", "tokens_out", "cost", "created_us", NULL,
};
static const char * const message_names[] = { "model", "provider" };
static const char * const message_counts[] = { "tokens_in", "tokens_out", "created_us" };

static JsonObject *
validate_session_data (JsonObject  *data,
                       GError     **error)
{
  g_autoptr(JsonObject) out = json_object_new ();
  const char *title;
  gboolean value = FALSE;
  gboolean present;

  if (!_helix_sync_check_members (data, session_data_members, HELIX_SYNC_ERROR_BAD_OP,
                                  _("session.put data"), error))
    return NULL;

  if (!_helix_sync_get_string (data, "title", FALSE, HELIX_SYNC_MAX_TITLE_BYTES,
                               HELIX_SYNC_ERROR_BAD_OP, &title, error))
    return NULL;
  if (title != NULL)
    json_object_set_string_member (out, "title", title);

  for (guint i = 0; i < G_N_ELEMENTS (session_flags); i++)
    {
      const char *name = session_flags[i];

      if (!_helix_sync_get_bool (data, name, HELIX_SYNC_ERROR_BAD_OP, &value, &present, error))
        return NULL;
      if (present)
        json_object_set_boolean_member (out, name, value);
    }

  if (json_object_get_size (out) == 0)
    {
      g_set_error_literal (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP,
                           _("session.put data must set at least one of title, pinned, archived"));
      return NULL;
    }

  return g_steal_pointer (&out);
}

static JsonObject *
validate_message_data (JsonObject  *data,
                       GError     **error)
{
  g_autoptr(JsonObject) out = json_object_new ();
  const char *str;
  HelixMessageRole role;
  HelixMessageStatus status;
  gint64 n = 0;
  double cost = 0;
  gboolean present;

  if (!_helix_sync_check_members (data, message_data_members, HELIX_SYNC_ERROR_BAD_OP,
                                  _("message.put data"), error))
    return NULL;

  if (!_helix_sync_get_string (data, "role", TRUE, G_MAXSIZE, HELIX_SYNC_ERROR_BAD_OP, &str,
                               error))
    return NULL;
  if (!helix_message_role_from_string (str, &role))
    {
      g_set_error_literal (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP,
                           _("Member “role” must be user, assistant, system or tool"));
      return NULL;
    }
  json_object_set_string_member (out, "role", helix_message_role_to_string (role));

  if (!_helix_sync_get_string (data, "content", TRUE, HELIX_SYNC_MAX_CONTENT_BYTES,
                               HELIX_SYNC_ERROR_BAD_OP, &str, error))
    return NULL;
  json_object_set_string_member (out, "content", str);

  if (!_helix_sync_get_string (data, "status", TRUE, G_MAXSIZE, HELIX_SYNC_ERROR_BAD_OP, &str,
                               error))
    return NULL;
  if (!helix_message_status_from_string (str, &status))
    {
      g_set_error_literal (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP,
                           _("Member “status” must be pending, streaming, done or error"));
      return NULL;
    }
  json_object_set_string_member (out, "status", helix_message_status_to_string (status));

  for (guint i = 0; i < G_N_ELEMENTS (message_names); i++)
    {
      const char *name = message_names[i];

      if (!_helix_sync_get_string (data, name, FALSE, HELIX_SYNC_MAX_NAME_BYTES,
                                   HELIX_SYNC_ERROR_BAD_OP, &str, error))
        return NULL;
      if (str != NULL)
        json_object_set_string_member (out, name, str);
    }

  for (guint i = 0; i < G_N_ELEMENTS (message_counts); i++)
    {
      const char *name = message_counts[i];

      if (!_helix_sync_get_int (data, name, FALSE, 0, HELIX_SYNC_MAX_INT,
                                HELIX_SYNC_ERROR_BAD_OP, &n, &present, error))
        return NULL;
      if (present)
        json_object_set_int_member (out, name, n);
    }

  /* Always a double once validated, so that 1 and 1.0 are the same op. */
  if (!_helix_sync_get_number (data, "cost", 0, HELIX_SYNC_ERROR_BAD_OP, &cost, &present, error))
    return NULL;
  if (present)
    json_object_set_double_member (out, "cost", cost);

  return g_steal_pointer (&out);
}

static HelixSyncOp *
parse_op (JsonObject        *object,
          HelixSyncSeqMode   seq_mode,
          GError           **error)
{
  g_autoptr(HelixSyncOp) op = NULL;
  g_autoptr(GError) hlc_error = NULL;
  const char *allowed[8];
  const char *str;
  guint n_allowed = 0;
  JsonNode *data;

  op = g_new0 (HelixSyncOp, 1);
  g_atomic_ref_count_init (&op->ref_count);

  if (!_helix_sync_get_uuid (object, "op", TRUE, HELIX_SYNC_ERROR_BAD_OP, &str, error))
    return NULL;
  memcpy (op->op_id, str, sizeof op->op_id);

  if (!_helix_sync_get_string (object, "type", TRUE, G_MAXSIZE, HELIX_SYNC_ERROR_BAD_OP, &str,
                               error))
    return NULL;
  if (!helix_sync_op_kind_from_string (str, &op->kind))
    {
      g_autofree char *excerpt = _helix_sync_excerpt (str);

      g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP,
                   _("Unknown operation type “%s”; expected session.put, message.put "
                     "or session.delete"), excerpt);
      return NULL;
    }

  allowed[n_allowed++] = "op";
  allowed[n_allowed++] = "type";
  allowed[n_allowed++] = "id";
  allowed[n_allowed++] = "hlc";
  if (op->kind != HELIX_SYNC_OP_SESSION_DELETE)
    allowed[n_allowed++] = "data";
  if (op->kind == HELIX_SYNC_OP_MESSAGE_PUT)
    allowed[n_allowed++] = "session";
  if (seq_mode != HELIX_SYNC_SEQ_FORBIDDEN)
    allowed[n_allowed++] = "seq";
  allowed[n_allowed] = NULL;
  if (!_helix_sync_check_members (object, allowed, HELIX_SYNC_ERROR_BAD_OP,
                                  helix_sync_op_kind_to_string (op->kind), error))
    return NULL;

  if (!_helix_sync_get_uuid (object, "id", TRUE, HELIX_SYNC_ERROR_BAD_OP, &str, error))
    return NULL;
  memcpy (op->id, str, sizeof op->id);

  if (op->kind == HELIX_SYNC_OP_MESSAGE_PUT)
    {
      if (!_helix_sync_get_uuid (object, "session", TRUE, HELIX_SYNC_ERROR_BAD_OP, &str, error))
        return NULL;
      memcpy (op->session_id, str, sizeof op->session_id);
    }

  if (!_helix_sync_get_string (object, "hlc", TRUE, HELIX_HLC_STRING_MAX,
                               HELIX_SYNC_ERROR_BAD_OP, &str, error))
    return NULL;
  if (!helix_hlc_parse (str, &op->hlc, &hlc_error))
    {
      g_set_error_literal (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP,
                           _("Member “hlc” must be WALL_MS:COUNTER:DEVICE"));
      return NULL;
    }

  if (seq_mode != HELIX_SYNC_SEQ_FORBIDDEN &&
      !_helix_sync_get_int (object, "seq", seq_mode == HELIX_SYNC_SEQ_REQUIRED,
                            1, HELIX_SYNC_MAX_INT, HELIX_SYNC_ERROR_BAD_OP,
                            &op->seq, NULL, error))
    return NULL;

  if (op->kind == HELIX_SYNC_OP_SESSION_DELETE)
    return g_steal_pointer (&op);

  data = json_object_get_member (object, "data");
  if (data == NULL || !JSON_NODE_HOLDS_OBJECT (data))
    {
      g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP,
                   _("Member “data” of a %s operation must be an object"),
                   helix_sync_op_kind_to_string (op->kind));
      return NULL;
    }

  if (op->kind == HELIX_SYNC_OP_SESSION_PUT)
    op->data = validate_session_data (json_node_get_object (data), error);
  else
    op->data = validate_message_data (json_node_get_object (data), error);
  if (op->data == NULL)
    return NULL;

  /* Shared by every copy of the op: nobody may change it. */
  json_object_seal (op->data);

  return g_steal_pointer (&op);
}

HelixSyncOp *
_helix_sync_op_new_from_object (JsonObject        *object,
                                HelixSyncSeqMode   seq_mode,
                                GError           **error)
{
  g_assert (object != NULL);

  return parse_op (object, seq_mode, error);
}

/**
 * helix_sync_op_new:
 * @kind: what the op does
 * @op_id: a fresh UUID naming this op
 * @id: the session (session.put, session.delete) or message (message.put) it changes
 * @session_id: (nullable): the session of a message.put; %NULL otherwise
 * @hlc: when the change was made, on which device
 * @data: (nullable): the fields to set (see PROTOCOL.md); %NULL for session.delete
 * @error: return location for a %HELIX_SYNC_ERROR_BAD_OP
 *
 * Makes an op for the outbox, validated exactly as the gateway will validate it.
 *
 * Returns: (transfer full) (nullable): the op, or %NULL if it would be refused
 */
HelixSyncOp *
helix_sync_op_new (HelixSyncOpKind   kind,
                   const char       *op_id,
                   const char       *id,
                   const char       *session_id,
                   const HelixHlc   *hlc,
                   JsonObject       *data,
                   GError          **error)
{
  g_autoptr(JsonObject) object = json_object_new ();
  g_autofree char *hlc_str = NULL;

  g_return_val_if_fail (op_id != NULL, NULL);
  g_return_val_if_fail (id != NULL, NULL);
  g_return_val_if_fail (hlc != NULL, NULL);

  hlc_str = helix_hlc_to_string (hlc);
  json_object_set_string_member (object, "op", op_id);
  json_object_set_string_member (object, "type", helix_sync_op_kind_to_string (kind));
  json_object_set_string_member (object, "id", id);
  if (session_id != NULL)
    json_object_set_string_member (object, "session", session_id);
  json_object_set_string_member (object, "hlc", hlc_str);
  if (data != NULL)
    json_object_set_object_member (object, "data", json_object_ref (data));

  return parse_op (object, HELIX_SYNC_SEQ_FORBIDDEN, error);
}

/**
 * helix_sync_op_new_from_node:
 * @node: a JSON object holding one op, with or without `seq`
 * @error: return location for a %HELIX_SYNC_ERROR_BAD_OP
 *
 * Returns: (transfer full) (nullable): the op, or %NULL if @node is not a valid op
 */
HelixSyncOp *
helix_sync_op_new_from_node (JsonNode  *node,
                             GError   **error)
{
  g_return_val_if_fail (node != NULL, NULL);

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error_literal (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP,
                           _("An operation must be a JSON object"));
      return NULL;
    }

  return parse_op (json_node_get_object (node), HELIX_SYNC_SEQ_OPTIONAL, error);
}

/**
 * helix_sync_op_new_from_data:
 * @text: JSON text of one op, e.g. as stored from helix_sync_op_canonical()
 * @len: length of @text in bytes
 * @error: return location for a %HELIX_SYNC_ERROR
 *
 * Returns: (transfer full) (nullable): the op, or %NULL if @text is not a valid op
 */
HelixSyncOp *
helix_sync_op_new_from_data (const char  *text,
                             gsize        len,
                             GError     **error)
{
  g_autoptr(JsonNode) root = NULL;

  g_return_val_if_fail (text != NULL, NULL);

  if (!helix_json_validate (text, len, HELIX_SYNC_MAX_DEPTH, error))
    return NULL;

  root = helix_json_parse_valid (text, len);
  if (root == NULL)
    {
      g_critical ("A validated operation could not be parsed");
      g_set_error_literal (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP,
                           _("The operation is not valid JSON"));
      return NULL;
    }

  return helix_sync_op_new_from_node (root, error);
}

/**
 * helix_sync_op_dup_with_seq:
 * @op: an op
 * @seq: the sequence number the gateway gave it, at least 1
 *
 * Returns: (transfer full): a copy of @op that carries @seq, for an `ops` frame
 */
HelixSyncOp *
helix_sync_op_dup_with_seq (HelixSyncOp *op,
                            gint64       seq)
{
  HelixSyncOp *copy;

  g_return_val_if_fail (op != NULL, NULL);
  g_return_val_if_fail (seq >= 1 && seq <= HELIX_SYNC_MAX_INT, NULL);

  copy = g_memdup2 (op, sizeof *op);
  g_atomic_ref_count_init (&copy->ref_count);
  copy->seq = seq;
  if (op->data != NULL)
    copy->data = json_object_ref (op->data);

  return copy;
}

HelixSyncOp *
helix_sync_op_ref (HelixSyncOp *op)
{
  g_return_val_if_fail (op != NULL, NULL);

  g_atomic_ref_count_inc (&op->ref_count);

  return op;
}

void
helix_sync_op_unref (HelixSyncOp *op)
{
  g_return_if_fail (op != NULL);

  if (!g_atomic_ref_count_dec (&op->ref_count))
    return;

  g_clear_pointer (&op->data, json_object_unref);
  g_free (op);
}

HelixSyncOpKind
helix_sync_op_get_kind (HelixSyncOp *op)
{
  g_return_val_if_fail (op != NULL, HELIX_SYNC_OP_SESSION_PUT);

  return op->kind;
}

const char *
helix_sync_op_get_op_id (HelixSyncOp *op)
{
  g_return_val_if_fail (op != NULL, NULL);

  return op->op_id;
}

const char *
helix_sync_op_get_id (HelixSyncOp *op)
{
  g_return_val_if_fail (op != NULL, NULL);

  return op->id;
}

/**
 * helix_sync_op_get_session_id:
 * @op: an op
 *
 * Returns: (nullable): the session of a message.put, %NULL for other kinds
 */
const char *
helix_sync_op_get_session_id (HelixSyncOp *op)
{
  g_return_val_if_fail (op != NULL, NULL);

  return op->session_id[0] != '\0' ? op->session_id : NULL;
}

const HelixHlc *
helix_sync_op_get_hlc (HelixSyncOp *op)
{
  g_return_val_if_fail (op != NULL, NULL);

  return &op->hlc;
}

/**
 * helix_sync_op_get_seq:
 * @op: an op
 *
 * Returns: the gateway's sequence number, or 0 when @op has none (pushed ops)
 */
gint64
helix_sync_op_get_seq (HelixSyncOp *op)
{
  g_return_val_if_fail (op != NULL, 0);

  return op->seq;
}

/**
 * helix_sync_op_get_data:
 * @op: an op
 *
 * The validated data: only the members PROTOCOL.md allows, each of its documented
 * type (`cost` always a double). Do not modify it.
 *
 * Returns: (transfer none) (nullable): the data, %NULL for session.delete
 */
JsonObject *
helix_sync_op_get_data (HelixSyncOp *op)
{
  g_return_val_if_fail (op != NULL, NULL);

  return op->data;
}
