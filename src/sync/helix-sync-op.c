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
#include <math.h>
#include <string.h>

#include "helix-types.h"
#include "helix-uuid.h"
#include "helix-sync-json.h"
#include "helix-sync-op.h"
#include "helix-sync-op-private.h"
#include "helix-sync-private.h"

G_DEFINE_BOXED_TYPE (HelixSyncOp, helix_sync_op, helix_sync_op_ref, helix_sync_op_unref)

static const char * const session_data_members[] = {
  "title", "pinned", "archived", "model", NULL,
};
static const char * const session_flags[] = { "pinned", "archived" };
static const char * const message_data_members[] = {
  "role", "content", "status", "model", "provider",
  "tokens_in", "tokens_out", "cost", "created_us", NULL,
};
static const char * const message_names[] = { "model", "provider" };
static const char * const message_counts[] = { "tokens_in", "tokens_out", "created_us" };

/* The validators below check an op's data. Data that is already in its
 * normal form is returned itself (with a new reference) when @adopt is
 * %TRUE (data parsed here, which nobody else holds); otherwise, or when
 * something needs normalizing, as a copy. The op seals it either way. */

/* A copy of every member of @data, validated before. */
static JsonObject *
copy_data (JsonObject *data)
{
  JsonObject *out = json_object_new ();
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;

  json_object_iter_init (&iter, data);
  while (json_object_iter_next (&iter, &name, &node))
    json_object_set_member (out, name, json_node_copy (node));

  return out;
}

static JsonObject *
validate_session_data (JsonObject  *data,
                       gboolean     adopt,
                       GError     **error)
{
  const char *title;
  const char *model;
  gboolean value = FALSE;
  gboolean present;
  gboolean any;

  if (!_helix_sync_check_members (data, session_data_members, HELIX_SYNC_ERROR_BAD_OP,
                                  N_("session.put data"), error))
    return NULL;

  if (!_helix_sync_get_string (data, "title", FALSE, HELIX_SYNC_MAX_TITLE_BYTES,
                               HELIX_SYNC_ERROR_BAD_OP, &title, error))
    return NULL;
  any = title != NULL;

  /* "" is automatic: the router chooses. */
  if (!_helix_sync_get_string (data, "model", FALSE, HELIX_SYNC_MAX_NAME_BYTES,
                               HELIX_SYNC_ERROR_BAD_OP, &model, error))
    return NULL;
  any |= model != NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (session_flags); i++)
    {
      if (!_helix_sync_get_bool (data, session_flags[i], HELIX_SYNC_ERROR_BAD_OP, &value,
                                 &present, error))
        return NULL;
      any |= present;
    }

  if (!any)
    {
      g_set_error_literal (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP,
                           _("session.put data must set at least one of title, pinned, archived, model"));
      return NULL;
    }

  return adopt ? json_object_ref (data) : copy_data (data);
}

static JsonObject *
validate_message_data (JsonObject  *data,
                       gboolean     adopt,
                       GError     **error)
{
  JsonObject *out;
  const char *str;
  HelixMessageRole role;
  HelixMessageStatus status;
  gint64 n = 0;
  double cost = 0;
  gboolean present;
  JsonNode *cost_node;

  if (!_helix_sync_check_members (data, message_data_members, HELIX_SYNC_ERROR_BAD_OP,
                                  N_("message.put data"), error))
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

  if (!_helix_sync_get_string (data, "content", TRUE, HELIX_SYNC_MAX_CONTENT_BYTES,
                               HELIX_SYNC_ERROR_BAD_OP, &str, error))
    return NULL;

  if (!_helix_sync_get_string (data, "status", TRUE, G_MAXSIZE, HELIX_SYNC_ERROR_BAD_OP, &str,
                               error))
    return NULL;
  if (!helix_message_status_from_string (str, &status))
    {
      g_set_error_literal (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP,
                           _("Member “status” must be pending, streaming, done or error"));
      return NULL;
    }

  for (gsize i = 0; i < G_N_ELEMENTS (message_names); i++)
    {
      if (!_helix_sync_get_string (data, message_names[i], FALSE, HELIX_SYNC_MAX_NAME_BYTES,
                                   HELIX_SYNC_ERROR_BAD_OP, &str, error))
        return NULL;
    }

  for (gsize i = 0; i < G_N_ELEMENTS (message_counts); i++)
    {
      if (!_helix_sync_get_int (data, message_counts[i], FALSE, 0, HELIX_SYNC_MAX_INT,
                                HELIX_SYNC_ERROR_BAD_OP, &n, &present, error))
        return NULL;
    }

  if (!_helix_sync_get_number (data, "cost", 0, HELIX_SYNC_ERROR_BAD_OP, &cost, &present, error))
    return NULL;

  /* The normal form of a cost is a double, so that 1 and 1.0 are the same
   * op, and never -0. */
  cost_node = json_object_get_member (data, "cost");
  if (adopt && (cost_node == NULL ||
                (json_node_get_value_type (cost_node) == G_TYPE_DOUBLE &&
                 !signbit (json_node_get_double (cost_node)))))
    return json_object_ref (data);

  out = copy_data (data);
  if (present)
    json_object_set_double_member (out, "cost", cost);

  return out;
}

/* Checks the data of a session.put or message.put @op and makes it the
 * op's. @adopt: whether @data was parsed by this library, so that it may
 * become the op's itself (see validate_session_data()). */
static gboolean
set_data (HelixSyncOp  *op,
          JsonObject   *data,
          gboolean      adopt,
          GError      **error)
{
  if (op->kind == HELIX_SYNC_OP_SESSION_PUT)
    op->data = validate_session_data (data, adopt, error);
  else
    op->data = validate_message_data (data, adopt, error);
  if (op->data == NULL)
    return FALSE;

  /* Shared by every copy of the op: nobody may change it. */
  json_object_seal (op->data);

  return TRUE;
}

/* @adopt: whether @object was parsed by this library, so that its data
 * may become the op's (see validate_session_data()). */
static HelixSyncOp *
parse_op (JsonObject        *object,
          HelixSyncSeqMode   seq_mode,
          gboolean           adopt,
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

  if (!set_data (op, json_node_get_object (data), adopt, error))
    return NULL;

  return g_steal_pointer (&op);
}

/**
 * _helix_sync_op_new_parsed:
 * @kind: the op's `type`
 * @op_id: its `op`, a valid UUID
 * @id: its `id`, a valid UUID
 * @session_id: (nullable): the `session` of a message.put, a valid UUID
 * @hlc: its `hlc`
 * @data: (nullable): its `data`, as read from a frame; %NULL for session.delete
 *
 * The op of a push frame that helix-sync-frame.c read the short way: the
 * caller checked every member but @data, which is checked here exactly as
 * parse_op() checks it (and adopted when parse_op() would adopt it).
 *
 * Returns: (transfer full) (nullable): the op, or %NULL when @data is refused
 */
HelixSyncOp *
_helix_sync_op_new_parsed (HelixSyncOpKind  kind,
                           const char      *op_id,
                           const char      *id,
                           const char      *session_id,
                           const HelixHlc  *hlc,
                           JsonObject      *data)
{
  g_autoptr(HelixSyncOp) op = g_new0 (HelixSyncOp, 1);

  g_assert ((data == NULL) == (kind == HELIX_SYNC_OP_SESSION_DELETE));
  g_assert ((session_id != NULL) == (kind == HELIX_SYNC_OP_MESSAGE_PUT));

  g_atomic_ref_count_init (&op->ref_count);
  op->kind = kind;
  memcpy (op->op_id, op_id, sizeof op->op_id);
  memcpy (op->id, id, sizeof op->id);
  if (session_id != NULL)
    memcpy (op->session_id, session_id, sizeof op->session_id);
  op->hlc = *hlc;

  if (data != NULL && !set_data (op, data, TRUE, NULL))
    return NULL;

  return g_steal_pointer (&op);
}

HelixSyncOp *
_helix_sync_op_new_from_object (JsonObject        *object,
                                HelixSyncSeqMode   seq_mode,
                                GError           **error)
{
  g_assert (object != NULL);

  /* Frames are parsed by this library: their ops' data may be adopted. */
  return parse_op (object, seq_mode, TRUE, error);
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

  return parse_op (object, HELIX_SYNC_SEQ_FORBIDDEN, FALSE, error);
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

  return parse_op (json_node_get_object (node), HELIX_SYNC_SEQ_OPTIONAL, FALSE, error);
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

  /* The tree is this function's own: the op may adopt its data. */
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP,
                           _("An operation must be a JSON object"));
      return NULL;
    }

  return parse_op (json_node_get_object (root), HELIX_SYNC_SEQ_OPTIONAL, TRUE, error);
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
