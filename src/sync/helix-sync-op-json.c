/* helix-sync-op-json.c: the wire and canonical JSON forms of an op
 *
 * The wire form (helix_sync_op_to_json) is what frames carry; the canonical form is
 * one fixed spelling of an op, so that the gateway can tell a re-sent op from a
 * different op that reuses its id (PROTOCOL.md, section 5).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-sync"

#include "config.h"

#include <string.h>

#include "helix-json.h"
#include "helix-sync-op.h"
#include "helix-sync-op-private.h"
#include "helix-sync-private.h"

static void
build_value (JsonBuilder *builder,
             JsonNode    *node)
{
  GType type = json_node_get_value_type (node);

  if (type == G_TYPE_STRING)
    json_builder_add_string_value (builder, json_node_get_string (node));
  else if (type == G_TYPE_BOOLEAN)
    json_builder_add_boolean_value (builder, json_node_get_boolean (node));
  else if (type == G_TYPE_INT64)
    json_builder_add_int_value (builder, json_node_get_int (node));
  else
    json_builder_add_double_value (builder, json_node_get_double (node));
}

static void
build_data_member (JsonObject  *object,
                   const char  *name,
                   JsonNode    *node,
                   gpointer     user_data)
{
  json_builder_set_member_name (user_data, name);
  build_value (user_data, node);
}

void
_helix_sync_op_build (HelixSyncOp *op,
                      JsonBuilder *builder,
                      gboolean     with_seq)
{
  char hlc[HELIX_HLC_STRING_MAX];

  helix_hlc_format (&op->hlc, hlc);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "op");
  json_builder_add_string_value (builder, op->op_id);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, helix_sync_op_kind_to_string (op->kind));
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, op->id);
  if (op->session_id[0] != '\0')
    {
      json_builder_set_member_name (builder, "session");
      json_builder_add_string_value (builder, op->session_id);
    }
  json_builder_set_member_name (builder, "hlc");
  json_builder_add_string_value (builder, hlc);
  if (with_seq && op->seq > 0)
    {
      json_builder_set_member_name (builder, "seq");
      json_builder_add_int_value (builder, op->seq);
    }
  if (op->data != NULL)
    {
      json_builder_set_member_name (builder, "data");
      json_builder_begin_object (builder);
      json_object_foreach_member (op->data, build_data_member, builder);
      json_builder_end_object (builder);
    }
  json_builder_end_object (builder);
}

/**
 * helix_sync_op_to_json:
 * @op: an op
 * @with_seq: whether to include `seq` (only when @op has one)
 *
 * Returns: (transfer full): @op as its wire JSON object
 */
JsonNode *
helix_sync_op_to_json (HelixSyncOp *op,
                       gboolean     with_seq)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  g_return_val_if_fail (op != NULL, NULL);

  _helix_sync_op_build (op, builder, with_seq);

  return json_builder_get_root (builder);
}

static void
append_member (GString    *out,
               const char *name,
               const char *value)
{
  if (out->len > 1)
    g_string_append_c (out, ',');
  helix_json_append_string (out, name);
  g_string_append_c (out, ':');
  if (value != NULL)
    helix_json_append_string (out, value);
}

/**
 * helix_sync_op_canonical:
 * @op: an op
 *
 * The canonical text of @op: members sorted by name (data members too), no
 * whitespace, strings escaped one fixed way (helix_json_append_string(); test
 * /helix/sync/op/canonical-escapes pins it), `cost` printed with 17 significant
 * digits, and no `seq`. Two ops are the same operation exactly when their canonical
 * texts are equal, whatever the key order or spacing they arrived in; the gateway
 * compares a re-sent op with the stored one this way.
 *
 * Returns: (transfer full): the canonical JSON text
 */
char *
helix_sync_op_canonical (HelixSyncOp *op)
{
  GString *out = g_string_sized_new (256);
  char hlc[HELIX_HLC_STRING_MAX];

  g_return_val_if_fail (op != NULL, NULL);

  helix_hlc_format (&op->hlc, hlc);

  g_string_append_c (out, '{');
  if (op->data != NULL)
    {
      g_autoptr(GList) names = json_object_get_members (op->data);

      append_member (out, "data", NULL);
      g_string_append_c (out, '{');
      names = g_list_sort (names, (GCompareFunc) strcmp);
      for (const GList *l = names; l != NULL; l = l->next)
        {
          JsonNode *node = json_object_get_member (op->data, l->data);
          GType type = json_node_get_value_type (node);

          if (l != names)
            g_string_append_c (out, ',');
          helix_json_append_string (out, l->data);
          g_string_append_c (out, ':');
          if (type == G_TYPE_STRING)
            helix_json_append_string (out, json_node_get_string (node));
          else if (type == G_TYPE_BOOLEAN)
            g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
          else if (type == G_TYPE_INT64)
            g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
          else
            {
              char buf[G_ASCII_DTOSTR_BUF_SIZE];

              g_string_append (out, g_ascii_formatd (buf, sizeof buf, "%.17g",
                                                     json_node_get_double (node)));
            }
        }
      g_string_append_c (out, '}');
    }
  append_member (out, "hlc", hlc);
  append_member (out, "id", op->id);
  append_member (out, "op", op->op_id);
  if (op->session_id[0] != '\0')
    append_member (out, "session", op->session_id);
  append_member (out, "type", helix_sync_op_kind_to_string (op->kind));
  g_string_append_c (out, '}');

  return g_string_free (out, FALSE);
}

/**
 * helix_sync_op_hash:
 * @op: an op
 *
 * Returns: (transfer full): the SHA-256 of helix_sync_op_canonical(), 64 hex digits
 */
char *
helix_sync_op_hash (HelixSyncOp *op)
{
  g_autofree char *canonical = NULL;

  g_return_val_if_fail (op != NULL, NULL);

  canonical = helix_sync_op_canonical (op);

  return g_compute_checksum_for_string (G_CHECKSUM_SHA256, canonical, -1);
}

/**
 * helix_sync_op_equal:
 * @a: an op
 * @b: another op
 *
 * Returns: whether @a and @b are the same operation (their `seq` is not compared)
 */
gboolean
helix_sync_op_equal (HelixSyncOp *a,
                     HelixSyncOp *b)
{
  g_autofree char *ca = NULL;
  g_autofree char *cb = NULL;

  g_return_val_if_fail (a != NULL && b != NULL, FALSE);

  ca = helix_sync_op_canonical (a);
  cb = helix_sync_op_canonical (b);

  return strcmp (ca, cb) == 0;
}
