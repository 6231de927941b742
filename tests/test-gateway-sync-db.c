/* test-gateway-sync-db.c: the gateway's op log and synced state
 *
 * A real gateway database in a temporary directory, real users made through
 * its API, real ops parsed from their wire form. The synced state is read
 * back both through the API and with SQL on a second connection.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include <sqlite3.h>

#include "helix-db.h"
#include "helix-gateway-db.h"
#include "helix-gateway-db-private.h"
#include "helix-gateway-resources.h"
#include "helix-gateway-sync.h"
#include "helix-sync.h"
#include "helix-test-util.h"

#define S1 "0190f3a2-1c00-7000-8000-0000000000a1"
#define S2 "0190f3a2-1c00-7000-8000-0000000000a2"
#define S3 "0190f3a2-1c00-7000-8000-0000000000a3"
#define M1 "0190f3a2-1c00-7000-8000-0000000000b1"
#define M2 "0190f3a2-1c00-7000-8000-0000000000b2"

typedef struct
{
  char           *dir;
  char           *path;
  HelixGatewayDb *db;
  sqlite3        *reader;
  gint64          alice;
  gint64          bob;
  gint64          alice_device;
  guint           n_users;
} Fixture;

static gint64
add_user (Fixture    *f,
          const char *name)
{
  g_autoptr(HelixGatewayUser) user = NULL;
  g_autoptr(GError) error = NULL;

  helix_gateway_db_add_user (f->db, name, "$argon2id$not-a-real-hash", FALSE, &error);
  g_assert_no_error (error);
  user = helix_gateway_db_lookup_user (f->db, name, &error);
  g_assert_no_error (error);

  return user->id;
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) devices = NULL;
  g_autofree char *device = NULL;
  guint8 hash[32] = { 1, 2, 3 };

  f->dir = g_dir_make_tmp ("helix-gateway-sync-db-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "gateway.db", NULL);
  f->db = helix_gateway_db_open (f->path, &error);
  g_assert_no_error (error);
  f->alice = add_user (f, "alice");
  f->bob = add_user (f, "bob");

  device = helix_gateway_db_add_device (f->db, f->alice, "laptop", hash, &error);
  g_assert_no_error (error);
  devices = helix_gateway_db_list_devices (f->db, f->alice, &error);
  g_assert_no_error (error);
  f->alice_device = ((HelixGatewayDevice *) g_ptr_array_index (devices, 0))->id;

  f->reader = helix_db_open (f->path, TRUE, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_pointer (&f->reader, sqlite3_close);
  helix_test_assert_finalized (g_steal_pointer (&f->db));
  helix_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->path);
}

/* An op parsed from its wire form. @op_id is a small number made into a UUID. */
static HelixSyncOp *
make_op (guint       op_id,
         const char *kind,
         const char *id,
         const char *session,
         const char *hlc,
         const char *data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *session_member = NULL;
  g_autofree char *data_member = NULL;
  HelixSyncOp *op;

  if (session != NULL)
    session_member = g_strdup_printf (",\"session\":\"%s\"", session);
  if (data != NULL)
    data_member = g_strdup_printf (",\"data\":%s", data);

  text = g_strdup_printf ("{\"op\":\"0190f3a2-1c00-7000-8000-%012x\",\"type\":\"%s\","
                          "\"id\":\"%s\"%s,\"hlc\":\"%s\"%s}",
                          op_id, kind, id, session_member ? session_member : "", hlc,
                          data_member ? data_member : "");
  op = helix_sync_op_new_from_data (text, strlen (text), &error);
  g_assert_no_error (error);
  g_assert_nonnull (op);

  return op;
}

static HelixSyncOp *
session_put (guint       op_id,
             const char *id,
             const char *hlc,
             const char *data)
{
  return make_op (op_id, "session.put", id, NULL, hlc, data);
}

static HelixSyncOp *
message_put (guint       op_id,
             const char *id,
             const char *session,
             const char *hlc,
             const char *data)
{
  return make_op (op_id, "message.put", id, session, hlc, data);
}

/* Applies @ops as one batch; asserts success and returns the seqs. */
static GArray *
apply (Fixture      *f,
       gint64        user_id,
       HelixSyncOp **ops,
       guint         n_ops,
       GPtrArray   **applied_out)
{
  g_autoptr(GPtrArray) applied = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  g_autoptr(GError) error = NULL;
  GArray *seqs = g_array_new (FALSE, FALSE, sizeof (gint64));

  g_assert_true (helix_gateway_db_apply_ops (f->db, user_id, user_id == f->alice ? f->alice_device : 0,
                                             ops, n_ops, seqs, applied, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (seqs->len, ==, n_ops);
  for (guint i = 0; i < applied->len; i++)
    g_assert_cmpint (helix_sync_op_get_seq (g_ptr_array_index (applied, i)), >=, 1);

  if (applied_out != NULL)
    *applied_out = g_steal_pointer (&applied);

  return seqs;
}

static gint64
apply_one (Fixture     *f,
           gint64       user_id,
           HelixSyncOp *op)
{
  g_autoptr(GArray) seqs = apply (f, user_id, &op, 1, NULL);

  return g_array_index (seqs, gint64, 0);
}

static gint64
head (Fixture *f,
      gint64   user_id)
{
  g_autoptr(GError) error = NULL;
  gint64 value = helix_gateway_db_get_head (f->db, user_id, &error);

  g_assert_no_error (error);

  return value;
}

/* Everything of @user_id's synced state but the seqs, as text. */
static char *
dump_state (Fixture *f,
            gint64   user_id)
{
  static const char * const queries[] = {
    "SELECT uuid, title, title_hlc, pinned, pinned_hlc, archived, archived_hlc, deleted, "
    "  deleted_hlc, created_us, updated_us, model, model_hlc FROM sync_sessions "
    "  WHERE user = ? ORDER BY uuid",
    "SELECT uuid, session, role, content, status, model, model_hlc, provider, provider_hlc, "
    "  tokens_in, tokens_in_hlc, tokens_out, tokens_out_hlc, cost, cost_hlc, created_us, "
    "  created_hlc, hlc FROM sync_messages WHERE user = ? ORDER BY uuid",
  };
  GString *out = g_string_new (NULL);

  for (guint q = 0; q < G_N_ELEMENTS (queries); q++)
    {
      g_autoptr(GError) error = NULL;
      sqlite3_stmt *stmt = helix_db_prepare (f->reader, queries[q], FALSE, &error);
      int rc;

      g_assert_no_error (error);
      sqlite3_bind_int64 (stmt, 1, user_id);
      while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        {
          for (int c = 0; c < sqlite3_column_count (stmt); c++)
            {
              const char *text = (const char *) sqlite3_column_text (stmt, c);

              g_string_append_printf (out, "%s|", text != NULL ? text : "NULL");
            }
          g_string_append_c (out, '\n');
        }
      g_assert_cmpint (rc, ==, SQLITE_DONE);
      sqlite3_finalize (stmt);
      g_string_append (out, "--\n");
    }

  return g_string_free (out, FALSE);
}

static HelixGatewaySyncSession *
get_session (Fixture    *f,
             gint64      user_id,
             const char *uuid)
{
  g_autoptr(GError) error = NULL;
  HelixGatewaySyncSession *session = helix_gateway_db_get_session (f->db, user_id, uuid, &error);

  g_assert_no_error (error);

  return session;
}

static void
assert_no_session (Fixture    *f,
                   gint64      user_id,
                   const char *uuid)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixGatewaySyncSession) session = helix_gateway_db_get_session (f->db, user_id, uuid,
                                                                             &error);

  g_assert_null (session);
  g_assert_error (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NO_SUCH_SESSION);
}

static GPtrArray *
list_messages (Fixture    *f,
               gint64      user_id,
               const char *session)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *messages = helix_gateway_db_list_messages (f->db, user_id, session, 0, 1000, &error);

  g_assert_no_error (error);

  return messages;
}

static GPtrArray *
ops_since (Fixture *f,
           gint64   user_id,
           gint64   cursor,
           guint    limit)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *ops = helix_gateway_db_ops_since (f->db, user_id, cursor, limit, &error);

  g_assert_no_error (error);

  return ops;
}

/* Tests {{{1 */

static void
test_seqs (Fixture       *f,
           gconstpointer  data)
{
  HelixSyncOp *a[3] = {
    session_put (1, S1, "1000:0:laptop", "{\"title\":\"one\"}"),
    session_put (2, S2, "1001:0:laptop", "{\"title\":\"two\"}"),
    message_put (3, M1, S1, "1002:0:laptop",
                 "{\"role\":\"user\",\"content\":\"hi\",\"status\":\"done\"}"),
  };
  HelixSyncOp *b[2] = {
    session_put (1, S1, "1000:0:phone", "{\"title\":\"bob\"}"),
    session_put (4, S3, "1001:0:phone", "{\"pinned\":true}"),
  };
  g_autoptr(HelixSyncOp) later = session_put (5, S3, "1003:0:laptop", "{\"archived\":true}");
  g_autoptr(GPtrArray) applied = NULL;
  g_autoptr(GPtrArray) all = NULL;
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(GArray) bob_seqs = NULL;

  g_assert_cmpint (head (f, f->alice), ==, 0);
  g_assert_cmpint (head (f, f->bob), ==, 0);

  seqs = apply (f, f->alice, a, G_N_ELEMENTS (a), &applied);
  for (guint i = 0; i < 3; i++)
    {
      g_assert_cmpint (g_array_index (seqs, gint64, i), ==, i + 1);
      g_assert_cmpint (helix_sync_op_get_seq (g_ptr_array_index (applied, i)), ==, i + 1);
      g_assert_true (helix_sync_op_equal (g_ptr_array_index (applied, i), a[i]));
    }

  /* Bob's seqs start at 1 too, even for an op id that Alice used. */
  bob_seqs = apply (f, f->bob, b, G_N_ELEMENTS (b), NULL);
  g_assert_cmpint (g_array_index (bob_seqs, gint64, 0), ==, 1);
  g_assert_cmpint (g_array_index (bob_seqs, gint64, 1), ==, 2);

  g_assert_cmpint (apply_one (f, f->alice, later), ==, 4);
  g_assert_cmpint (head (f, f->alice), ==, 4);
  g_assert_cmpint (head (f, f->bob), ==, 2);

  all = ops_since (f, f->alice, 0, HELIX_GATEWAY_OPS_PAGE_MAX);
  g_assert_cmpuint (all->len, ==, 4);
  for (guint i = 0; i < all->len; i++)
    g_assert_cmpint (helix_sync_op_get_seq (g_ptr_array_index (all, i)), ==, i + 1);
  g_assert_true (helix_sync_op_equal (g_ptr_array_index (all, 3), later));

  for (guint i = 0; i < G_N_ELEMENTS (a); i++)
    helix_sync_op_unref (a[i]);
  for (guint i = 0; i < G_N_ELEMENTS (b); i++)
    helix_sync_op_unref (b[i]);
}

static void
test_resend (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(HelixSyncOp) first = session_put (1, S1, "1000:0:laptop", "{\"title\":\"one\"}");
  g_autoptr(HelixSyncOp) second = session_put (2, S1, "2000:0:laptop", "{\"title\":\"two\"}");
  g_autoptr(HelixSyncOp) respelled = NULL;
  g_autoptr(GPtrArray) applied = NULL;
  g_autoptr(GPtrArray) ops = NULL;
  g_autoptr(GArray) seqs = NULL;
  HelixSyncOp *batch[2];
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autoptr(GError) error = NULL;
  const char *text =
    "{ \"hlc\" : \"01000:00:laptop\", \"data\": {\"title\": \"\\u006fne\"}, \"type\":\"session.put\","
    " \"id\":\"" S1 "\", \"op\":\"0190f3a2-1c00-7000-8000-000000000001\" }";

  g_assert_cmpint (apply_one (f, f->alice, first), ==, 1);
  g_assert_cmpint (apply_one (f, f->alice, second), ==, 2);
  before = dump_state (f, f->alice);

  /* The same op again, alone and in a batch: its first seq, nothing applied. */
  g_assert_cmpint (apply_one (f, f->alice, first), ==, 1);

  respelled = helix_sync_op_new_from_data (text, strlen (text), &error);
  g_assert_no_error (error);
  batch[0] = helix_sync_op_ref (respelled);
  batch[1] = session_put (3, S1, "3000:0:laptop", "{\"pinned\":true}");
  seqs = apply (f, f->alice, batch, 2, &applied);
  g_assert_cmpint (g_array_index (seqs, gint64, 0), ==, 1);
  g_assert_cmpint (g_array_index (seqs, gint64, 1), ==, 3);
  g_assert_cmpuint (applied->len, ==, 1);
  g_assert_cmpint (helix_sync_op_get_seq (g_ptr_array_index (applied, 0)), ==, 3);

  helix_sync_op_unref (batch[0]);
  helix_sync_op_unref (batch[1]);

  after = dump_state (f, f->alice);
  g_assert_nonnull (strstr (after, "|two|"));
  g_assert_null (strstr (after, "|one|"));
  g_assert_cmpstr (before, !=, after); /* pinned changed */

  ops = ops_since (f, f->alice, 0, 10);
  g_assert_cmpuint (ops->len, ==, 3);
  g_assert_cmpint (head (f, f->alice), ==, 3);
}

static void
test_conflict (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(HelixSyncOp) first = session_put (1, S1, "1000:0:laptop", "{\"title\":\"one\"}");
  g_autoptr(HelixSyncOp) fresh = session_put (2, S2, "1000:1:laptop", "{\"title\":\"new\"}");
  g_autoptr(HelixSyncOp) reused = session_put (1, S1, "1000:0:laptop", "{\"title\":\"other\"}");
  g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GPtrArray) applied = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  g_autoptr(GPtrArray) ops = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  HelixSyncOp *batch[2];

  g_assert_cmpint (apply_one (f, f->alice, first), ==, 1);
  before = dump_state (f, f->alice);

  batch[0] = fresh;
  batch[1] = reused;
  g_assert_false (helix_gateway_db_apply_ops (f->db, f->alice, f->alice_device, batch, 2, seqs,
                                              applied, &error));
  g_assert_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_OP_CONFLICT);
  g_assert_nonnull (strstr (error->message, helix_sync_op_get_op_id (reused)));
  g_assert_cmpuint (seqs->len, ==, 0);
  g_assert_cmpuint (applied->len, ==, 0);

  /* Nothing of the batch stayed: not the op log, not the head, not the state. */
  g_assert_cmpint (head (f, f->alice), ==, 1);
  ops = ops_since (f, f->alice, 0, 10);
  g_assert_cmpuint (ops->len, ==, 1);
  assert_no_session (f, f->alice, S2);
  after = dump_state (f, f->alice);
  g_assert_cmpstr (before, ==, after);

  /* The next op still gets seq 2. */
  g_assert_cmpint (apply_one (f, f->alice, fresh), ==, 2);
}

/* Group commit: pushes of several users in one transaction, each all or
 * nothing on its own; later pushes see the earlier ones. */
static void
test_pushes (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(HelixSyncOp) first = session_put (1, S1, "1000:0:laptop", "{\"title\":\"one\"}");
  g_autoptr(HelixSyncOp) second = session_put (2, S2, "1000:1:laptop", "{\"title\":\"two\"}");
  g_autoptr(HelixSyncOp) fresh = session_put (3, S3, "1000:2:laptop", "{\"title\":\"new\"}");
  g_autoptr(HelixSyncOp) reused = session_put (1, S1, "1000:0:laptop", "{\"title\":\"other\"}");
  g_autoptr(HelixSyncOp) for_bob = session_put (4, S1, "1000:0:phone", "{\"title\":\"bob\"}");
  g_autoptr(GPtrArray) ops = NULL;
  g_autoptr(GError) error = NULL;
  HelixSyncOp *conflicting[2] = { fresh, reused };
  /* Refused alone: a push of one op has no savepoint of its own. */
  HelixGatewayPush pushes[5] = {
    { .user_id = f->alice, .device_id = f->alice_device, .ops = &first, .n_ops = 1 },
    { .user_id = f->alice, .device_id = f->alice_device, .ops = conflicting, .n_ops = 2 },
    { .user_id = f->bob, .ops = &for_bob, .n_ops = 1 },
    { .user_id = f->alice, .device_id = f->alice_device, .ops = &second, .n_ops = 1 },
    { .user_id = f->alice, .device_id = f->alice_device, .ops = &reused, .n_ops = 1 },
  };

  g_assert_true (helix_gateway_db_apply_pushes (f->db, pushes, G_N_ELEMENTS (pushes), &error));
  g_assert_no_error (error);

  /* Alice's first push: seq 1. */
  g_assert_no_error (pushes[0].error);
  g_assert_cmpuint (pushes[0].seqs->len, ==, 1);
  g_assert_cmpint (g_array_index (pushes[0].seqs, gint64, 0), ==, 1);
  g_assert_cmpuint (pushes[0].applied->len, ==, 1);

  /* The second reuses the first op's id with other content: refused whole. */
  g_assert_error (pushes[1].error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_OP_CONFLICT);
  g_assert_cmpstr (pushes[1].conflict_op_id, ==, helix_sync_op_get_op_id (reused));
  g_assert_null (pushes[1].seqs);
  g_assert_null (pushes[1].applied);

  /* Bob's log is his own; Alice's next push gets the next seq, as if the
   * refused one had never come. */
  g_assert_no_error (pushes[2].error);
  g_assert_cmpint (g_array_index (pushes[2].seqs, gint64, 0), ==, 1);
  g_assert_no_error (pushes[3].error);
  g_assert_cmpint (g_array_index (pushes[3].seqs, gint64, 0), ==, 2);
  g_assert_cmpint (helix_sync_op_get_seq (g_ptr_array_index (pushes[3].applied, 0)), ==, 2);
  g_assert_error (pushes[4].error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_OP_CONFLICT);
  g_assert_cmpstr (pushes[4].conflict_op_id, ==, helix_sync_op_get_op_id (reused));
  g_assert_null (pushes[4].seqs);

  /* Each stored op comes with its canonical text, for the frames. */
  for (guint i = 0; i < G_N_ELEMENTS (pushes); i++)
    {
      if (pushes[i].error != NULL)
        {
          g_assert_null (pushes[i].canonicals);
          continue;
        }
      g_assert_cmpuint (pushes[i].canonicals->len, ==, pushes[i].applied->len);
      for (guint j = 0; j < pushes[i].applied->len; j++)
        {
          g_autofree char *canonical =
            helix_sync_op_canonical (g_ptr_array_index (pushes[i].applied, j));

          g_assert_cmpstr (g_ptr_array_index (pushes[i].canonicals, j), ==, canonical);
        }
    }

  for (guint i = 0; i < G_N_ELEMENTS (pushes); i++)
    helix_gateway_push_clear (&pushes[i]);

  g_assert_cmpint (head (f, f->alice), ==, 2);
  g_assert_cmpint (head (f, f->bob), ==, 1);
  ops = ops_since (f, f->alice, 0, 10);
  g_assert_cmpuint (ops->len, ==, 2);
  assert_no_session (f, f->alice, S3);

  /* The same op again in a later batch: its first seq, nothing new. */
  pushes[0] = (HelixGatewayPush) { .user_id = f->alice, .ops = &second, .n_ops = 1 };
  g_assert_true (helix_gateway_db_apply_pushes (f->db, pushes, 1, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_array_index (pushes[0].seqs, gint64, 0), ==, 2);
  g_assert_cmpuint (pushes[0].applied->len, ==, 0);
  helix_gateway_push_clear (&pushes[0]);
}

/* Shuffles @order (Fisher–Yates with the test's random numbers). */
static void
shuffle (guint *order,
         guint  n)
{
  for (guint i = n - 1; i > 0; i--)
    {
      guint j = (guint) g_test_rand_int_range (0, (gint32) i + 1);
      guint tmp = order[i];

      order[i] = order[j];
      order[j] = tmp;
    }
}

/* Applies @ops one by one in @n_orders random orders, each for a new user,
 * and checks that every order ends in the same state. Returns that state and
 * the user of the first order. */
static char *
apply_in_orders (Fixture      *f,
                 HelixSyncOp **ops,
                 guint         n_ops,
                 guint         n_orders,
                 gint64       *first_user)
{
  g_autofree guint *order = g_new (guint, n_ops);
  char *reference = NULL;

  for (guint round = 0; round < n_orders; round++)
    {
      g_autofree char *name = g_strdup_printf ("user%u-%u", f->n_users++, round);
      g_autofree char *state = NULL;
      gint64 user = add_user (f, name);

      for (guint i = 0; i < n_ops; i++)
        order[i] = i;
      if (round > 0)
        shuffle (order, n_ops);

      for (guint i = 0; i < n_ops; i++)
        g_assert_cmpint (apply_one (f, user, ops[order[i]]), ==, i + 1);

      state = dump_state (f, user);
      if (reference == NULL)
        {
          reference = g_steal_pointer (&state);
          *first_user = user;
        }
      else
        g_assert_cmpstr (state, ==, reference);
    }

  return reference;
}

static void
test_lww (Fixture       *f,
          gconstpointer  data)
{
  HelixSyncOp *ops[] = {
    session_put (1, S1, "1000:0:dev-a", "{\"title\":\"a\"}"),
    session_put (2, S1, "2000:0:dev-a", "{\"title\":\"b\",\"pinned\":true}"),
    /* Same wall time and counter: the device id breaks the tie (dev-b > dev-a). */
    session_put (3, S1, "2000:0:dev-b", "{\"title\":\"c\"}"),
    session_put (4, S1, "1500:3:dev-c", "{\"archived\":true}"),
    session_put (5, S1, "1500:0:dev-b", "{\"pinned\":false,\"archived\":false}"),
    message_put (6, M1, S1, "1200:0:dev-a",
                 "{\"role\":\"user\",\"content\":\"hi\",\"status\":\"pending\"}"),
    message_put (7, M1, S1, "2500:0:dev-a",
                 "{\"role\":\"user\",\"content\":\"hi there\",\"status\":\"done\",\"model\":\"m\"}"),
    message_put (8, M1, S1, "1300:0:dev-b",
                 "{\"role\":\"user\",\"content\":\"stale\",\"status\":\"streaming\","
                 "\"tokens_in\":5,\"model\":\"old\"}"),
    message_put (9, M2, S1, "1400:0:dev-c",
                 "{\"role\":\"assistant\",\"content\":\"yo\",\"status\":\"done\","
                 "\"created_us\":42,\"cost\":0.25}"),
  };
  g_autoptr(HelixGatewaySyncSession) session = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_autofree char *state = NULL;
  HelixGatewaySyncMessage *m1;
  HelixGatewaySyncMessage *m2;
  gint64 user = 0;

  state = apply_in_orders (f, ops, G_N_ELEMENTS (ops), 200, &user);
  g_test_message ("final state:\n%s", state);

  session = get_session (f, user, S1);
  g_assert_cmpstr (session->title, ==, "c");
  g_assert_cmpstr (session->title_hlc, ==, "2000:0:dev-b");
  g_assert_true (session->pinned);
  g_assert_cmpstr (session->pinned_hlc, ==, "2000:0:dev-a");
  g_assert_true (session->archived);
  g_assert_cmpstr (session->archived_hlc, ==, "1500:3:dev-c");
  g_assert_false (session->deleted);
  g_assert_cmpint (session->created_us, ==, 1000 * 1000);
  g_assert_cmpint (session->updated_us, ==, 2500 * 1000);

  messages = list_messages (f, user, S1);
  g_assert_cmpuint (messages->len, ==, 2);
  m1 = g_ptr_array_index (messages, 0);
  m2 = g_ptr_array_index (messages, 1);
  if (g_str_equal (m1->uuid, M2))
    {
      HelixGatewaySyncMessage *tmp = m1;

      m1 = m2;
      m2 = tmp;
    }
  g_assert_cmpstr (m1->content, ==, "hi there");
  g_assert_cmpstr (m1->status, ==, "done");
  g_assert_cmpstr (m1->model, ==, "m");
  g_assert_cmpint (m1->tokens_in, ==, 5); /* only the stale put had it */
  g_assert_cmpint (m1->tokens_out, ==, -1);
  g_assert_cmpint (m1->created_us, ==, 1200 * 1000);
  g_assert_cmpstr (m1->hlc, ==, "2500:0:dev-a");
  g_assert_cmpstr (m2->role, ==, "assistant");
  g_assert_cmpint (m2->created_us, ==, 42);
  g_assert_cmpfloat (m2->cost, ==, 0.25);

  for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
    helix_sync_op_unref (ops[i]);
}

/* The session's model and its HLC, as "model|hlc" ("NULL" for NULL). */
static char *
session_model (Fixture    *f,
               gint64      user,
               const char *uuid)
{
  g_autoptr(GError) error = NULL;
  sqlite3_stmt *stmt = helix_db_prepare (f->reader,
                                         "SELECT model, model_hlc FROM sync_sessions "
                                         "WHERE user = ? AND uuid = ?", FALSE, &error);
  const char *model;
  const char *hlc;
  char *ret;

  g_assert_no_error (error);
  sqlite3_bind_int64 (stmt, 1, user);
  sqlite3_bind_text (stmt, 2, uuid, -1, SQLITE_STATIC);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  model = (const char *) sqlite3_column_text (stmt, 0);
  hlc = (const char *) sqlite3_column_text (stmt, 1);
  ret = g_strdup_printf ("%s|%s", model != NULL ? model : "NULL", hlc != NULL ? hlc : "NULL");
  sqlite3_finalize (stmt);

  return ret;
}

/* The pinned model of a session is one more last-writer-wins field; "" (automatic)
 * is a value like any other. */
static void
test_session_model (Fixture       *f,
                    gconstpointer  data)
{
  HelixSyncOp *ops[] = {
    session_put (1, S1, "1000:0:dev-a", "{\"title\":\"a\",\"model\":\"deepseek-chat\"}"),
    session_put (2, S1, "3000:0:dev-b", "{\"model\":\"deepseek-reasoner\"}"),
    session_put (3, S1, "2000:0:dev-a", "{\"model\":\"\"}"),
    session_put (4, S2, "1000:0:dev-a", "{\"title\":\"never pinned\"}"),
    session_put (5, S3, "1000:0:dev-a", "{\"model\":\"gemini-2.5-pro\"}"),
    session_put (6, S3, "4000:0:dev-b", "{\"model\":\"\",\"pinned\":true}"),
  };
  g_autofree char *state = NULL;
  g_autofree char *s1 = NULL;
  g_autofree char *s2 = NULL;
  g_autofree char *s3 = NULL;
  gint64 user = 0;

  state = apply_in_orders (f, ops, G_N_ELEMENTS (ops), 100, &user);
  g_test_message ("final state:\n%s", state);

  s1 = session_model (f, user, S1);
  s2 = session_model (f, user, S2);
  s3 = session_model (f, user, S3);
  g_assert_cmpstr (s1, ==, "deepseek-reasoner|3000:0:dev-b");
  g_assert_cmpstr (s2, ==, "NULL|NULL");
  g_assert_cmpstr (s3, ==, "|4000:0:dev-b");

  for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
    helix_sync_op_unref (ops[i]);
}

static void
test_tombstone (Fixture       *f,
                gconstpointer  data)
{
  HelixSyncOp *ops[] = {
    session_put (1, S1, "1000:0:dev-a",
                 "{\"title\":\"x\",\"pinned\":true,\"model\":\"deepseek-chat\"}"),
    /* Older than the puts, and still final. */
    make_op (2, "session.delete", S1, NULL, "500:0:dev-b", NULL),
    session_put (3, S1, "3000:0:dev-a", "{\"title\":\"y\"}"),
    message_put (4, M1, S1, "4000:0:dev-a",
                 "{\"role\":\"user\",\"content\":\"hi\",\"status\":\"done\"}"),
    make_op (5, "session.delete", S1, NULL, "600:0:dev-c", NULL),
  };
  g_autoptr(HelixGatewaySyncSession) session = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GPtrArray) sessions = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *state = NULL;
  gint64 user = 0;

  state = apply_in_orders (f, ops, G_N_ELEMENTS (ops), 60, &user);

  session = get_session (f, user, S1);
  g_assert_true (session->deleted);
  g_assert_cmpstr (session->deleted_hlc, ==, "600:0:dev-c");
  g_assert_cmpstr (session->title, ==, "");
  g_assert_false (session->pinned);
  g_assert_null (session->title_hlc);

  messages = list_messages (f, user, S1);
  g_assert_cmpuint (messages->len, ==, 0);
  sessions = helix_gateway_db_list_sessions (f->db, user, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sessions->len, ==, 0);

  /* Ops on a tombstone are still acknowledged with a seq. */
  g_assert_cmpint (head (f, user), ==, G_N_ELEMENTS (ops));

  for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
    helix_sync_op_unref (ops[i]);
}

static void
test_messages (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(HelixSyncOp) first = message_put (1, M1, S1, "1000:0:dev-a",
                                              "{\"role\":\"user\",\"content\":\"a\","
                                              "\"status\":\"pending\"}");
  g_autoptr(HelixSyncOp) moved = message_put (2, M1, S2, "2000:0:dev-a",
                                              "{\"role\":\"assistant\",\"content\":\"b\","
                                              "\"status\":\"done\"}");
  g_autoptr(HelixSyncOp) orphan = message_put (3, M2, S3, "5000:0:dev-a",
                                               "{\"role\":\"user\",\"content\":\"early\","
                                               "\"status\":\"done\"}");
  g_autoptr(HelixSyncOp) s1 = session_put (4, S1, "900:0:dev-a", "{\"title\":\"one\"}");
  g_autoptr(HelixSyncOp) s3 = session_put (5, S3, "4000:0:dev-a", "{\"title\":\"three\"}");
  g_autoptr(HelixGatewaySyncSession) session = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GPtrArray) in_s2 = NULL;
  g_autoptr(GPtrArray) in_s3 = NULL;
  HelixGatewaySyncMessage *message;

  apply_one (f, f->alice, s1);
  apply_one (f, f->alice, first);
  apply_one (f, f->alice, moved);

  /* The first put fixed session and role; the rest was replaced. */
  messages = list_messages (f, f->alice, S1);
  g_assert_cmpuint (messages->len, ==, 1);
  message = g_ptr_array_index (messages, 0);
  g_assert_cmpstr (message->session, ==, S1);
  g_assert_cmpstr (message->role, ==, "user");
  g_assert_cmpstr (message->content, ==, "b");
  g_assert_cmpstr (message->status, ==, "done");
  g_assert_cmpint (message->seq, ==, 2);
  in_s2 = list_messages (f, f->alice, S2);
  g_assert_cmpuint (in_s2->len, ==, 0);
  assert_no_session (f, f->alice, S2);

  /* A message for a session not known yet is kept and creates nothing. */
  apply_one (f, f->alice, orphan);
  assert_no_session (f, f->alice, S3);
  in_s3 = list_messages (f, f->alice, S3);
  g_assert_cmpuint (in_s3->len, ==, 1);

  /* When the session comes, the message counts for its updated time. */
  apply_one (f, f->alice, s3);
  session = get_session (f, f->alice, S3);
  g_assert_cmpstr (session->title, ==, "three");
  g_assert_cmpint (session->created_us, ==, 4000 * 1000);
  g_assert_cmpint (session->updated_us, ==, 5000 * 1000);
}

/* A group commit raises each session's updated_us once, at its end: the
 * state must be the one that applying the same ops one at a time makes,
 * whatever the order, and a refused push raises nothing. */
static void
test_batch_bumps (Fixture       *f,
                  gconstpointer  data)
{
#define MSG(n, id, session, hlc) \
  message_put (n, id, session, hlc, "{\"role\":\"user\",\"content\":\"m\",\"status\":\"done\"}")
  HelixSyncOp *ops[] = {
    session_put (1, S1, "1000:0:dev-a", "{\"title\":\"one\"}"),
    session_put (2, S2, "1500:0:dev-b", "{\"title\":\"two\"}"),
    MSG (3, M1, S1, "2000:0:dev-a"),
    MSG (4, M2, S1, "7000:3:dev-b"),
    MSG (5, "0190f3a2-1c00-7000-8000-0000000000b3", S2, "3000:0:dev-a"),
    MSG (6, "0190f3a2-1c00-7000-8000-0000000000b4", S2, "2500:0:dev-b"),
    /* Older than S2's messages: which of delete and messages comes first
     * decides nothing. */
    make_op (7, "session.delete", S2, NULL, "1800:0:dev-c", NULL),
    session_put (8, S3, "1200:0:dev-a", "{\"pinned\":true}"),
    MSG (9, "0190f3a2-1c00-7000-8000-0000000000b5", S3, "6000:0:dev-a"),
    session_put (10, S3, "6500:0:dev-b", "{\"title\":\"three\"}"),
  };
  /* Stored by no one: a new message for S1, far in the future, in a push
   * that reuses op 1's id with other content. */
  HelixSyncOp *refused[] = {
    MSG (11, "0190f3a2-1c00-7000-8000-0000000000b6", S1, "99000:0:dev-a"),
    session_put (1, S1, "1000:0:dev-a", "{\"title\":\"other\"}"),
  };
#undef MSG
  guint order[G_N_ELEMENTS (ops)];

  for (guint round = 0; round < 30; round++)
    {
      g_autofree char *name_a = g_strdup_printf ("single%u", round);
      g_autofree char *name_b = g_strdup_printf ("batch%u", round);
      g_autofree char *one_by_one = NULL;
      g_autofree char *batched = NULL;
      g_autoptr(GError) error = NULL;
      HelixGatewayPush pushes[G_N_ELEMENTS (ops) + 1] = { { 0 } };
      gint64 single = add_user (f, name_a);
      gint64 batch = add_user (f, name_b);

      for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
        order[i] = i;
      shuffle (order, G_N_ELEMENTS (ops));

      for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
        {
          apply_one (f, single, ops[order[i]]);
          pushes[i] = (HelixGatewayPush) { .user_id = batch, .ops = &ops[order[i]], .n_ops = 1 };
        }
      pushes[G_N_ELEMENTS (ops)] = (HelixGatewayPush) { .user_id = batch, .ops = refused,
                                                        .n_ops = G_N_ELEMENTS (refused) };

      g_assert_true (helix_gateway_db_apply_pushes (f->db, pushes, G_N_ELEMENTS (pushes), &error));
      g_assert_no_error (error);
      g_assert_error (pushes[G_N_ELEMENTS (ops)].error, HELIX_SYNC_ERROR,
                      HELIX_SYNC_ERROR_OP_CONFLICT);
      for (guint i = 0; i < G_N_ELEMENTS (pushes); i++)
        helix_gateway_push_clear (&pushes[i]);

      one_by_one = dump_state (f, single);
      batched = dump_state (f, batch);
      g_assert_cmpstr (batched, ==, one_by_one);
    }

  /* And what that state is: S1 raised by its newest message, S3 by its
   * message (newer than both puts), S2 a tombstone. */
  {
    g_autoptr(HelixGatewaySyncSession) s1 = NULL;
    g_autoptr(HelixGatewaySyncSession) s2 = NULL;
    g_autoptr(HelixGatewaySyncSession) s3 = NULL;
    gint64 last = add_user (f, "last");

    for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
      apply_one (f, last, ops[i]);
    s1 = get_session (f, last, S1);
    g_assert_cmpint (s1->updated_us, ==, 7000 * 1000 + 3);
    s2 = get_session (f, last, S2);
    g_assert_true (s2->deleted);
    s3 = get_session (f, last, S3);
    g_assert_cmpint (s3->updated_us, ==, 6500 * 1000);
  }

  for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
    helix_sync_op_unref (ops[i]);
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    helix_sync_op_unref (refused[i]);
}

static void
test_ops_since (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GPtrArray) sent = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  gint64 cursor = 0;
  guint n_pages = 0;
  guint n_seen = 0;

  for (guint i = 0; i < 7; i++)
    {
      g_autofree char *hlc = g_strdup_printf ("%u:0:laptop", 1000 + i);
      g_autofree char *title = g_strdup_printf ("{\"title\":\"t\\n%u\"}", i);
      HelixSyncOp *op = session_put (i + 1, i % 2 ? S1 : S2, hlc, title);

      g_ptr_array_add (sent, op);
      g_assert_cmpint (apply_one (f, f->alice, op), ==, i + 1);
    }

  for (;;)
    {
      g_autoptr(GPtrArray) page = ops_since (f, f->alice, cursor, 3);

      if (page->len == 0)
        break;
      g_assert_cmpuint (page->len, <=, 3);
      n_pages++;
      for (guint i = 0; i < page->len; i++)
        {
          HelixSyncOp *op = g_ptr_array_index (page, i);

          g_assert_cmpint (helix_sync_op_get_seq (op), ==, cursor + 1);
          g_assert_true (helix_sync_op_equal (op, g_ptr_array_index (sent, n_seen)));
          cursor = helix_sync_op_get_seq (op);
          n_seen++;
        }
    }

  g_assert_cmpuint (n_pages, ==, 3);
  g_assert_cmpuint (n_seen, ==, 7);

  {
    g_autoptr(GPtrArray) middle = ops_since (f, f->alice, 5, 500);
    g_autoptr(GPtrArray) beyond = ops_since (f, f->alice, 99, 500);

    g_assert_cmpuint (middle->len, ==, 2);
    g_assert_cmpint (helix_sync_op_get_seq (g_ptr_array_index (middle, 0)), ==, 6);
    g_assert_cmpuint (beyond->len, ==, 0);
  }

  /* The backlog's form: the stored canonical texts, unparsed. */
  {
    g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
    g_autoptr(GPtrArray) canonicals = g_ptr_array_new_with_free_func (g_free);
    g_autoptr(GError) error = NULL;

    g_assert_true (_helix_gateway_db_op_texts_since (f->db, f->alice, 4, 2, seqs, canonicals,
                                                     &error));
    g_assert_no_error (error);
    g_assert_cmpuint (seqs->len, ==, 2);
    g_assert_cmpuint (canonicals->len, ==, 2);
    for (guint i = 0; i < seqs->len; i++)
      {
        g_autofree char *canonical = helix_sync_op_canonical (g_ptr_array_index (sent, 4 + i));

        g_assert_cmpint (g_array_index (seqs, gint64, i), ==, 5 + i);
        g_assert_cmpstr (g_ptr_array_index (canonicals, i), ==, canonical);
      }
  }
}

static void
test_isolation (Fixture       *f,
                gconstpointer  data)
{
  /* The same session id and op ids for both users: their rows stay apart. */
  g_autoptr(HelixSyncOp) alice_put = session_put (1, S1, "1000:0:laptop", "{\"title\":\"alice\"}");
  g_autoptr(HelixSyncOp) alice_msg = message_put (2, M1, S1, "1001:0:laptop",
                                                  "{\"role\":\"user\",\"content\":\"secret\","
                                                  "\"status\":\"done\"}");
  g_autoptr(HelixSyncOp) bob_put = session_put (1, S1, "9000:0:phone", "{\"title\":\"bob\"}");
  g_autoptr(HelixSyncOp) bob_msg = message_put (2, M1, S1, "9001:0:phone",
                                                "{\"role\":\"user\",\"content\":\"mine\","
                                                "\"status\":\"done\"}");
  g_autoptr(HelixSyncOp) bob_delete = make_op (3, "session.delete", S1, NULL, "9002:0:phone",
                                               NULL);
  g_autoptr(HelixSyncOp) bob_other = session_put (4, S2, "9003:0:phone", "{\"title\":\"b2\"}");
  g_autoptr(HelixGatewaySyncSession) session = NULL;
  g_autoptr(GPtrArray) alice_ops = NULL;
  g_autoptr(GPtrArray) bob_ops = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GPtrArray) sessions = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *alice_before = NULL;
  g_autofree char *alice_after = NULL;

  apply_one (f, f->alice, alice_put);
  apply_one (f, f->alice, alice_msg);
  alice_before = dump_state (f, f->alice);

  g_assert_cmpint (apply_one (f, f->bob, bob_put), ==, 1);
  g_assert_cmpint (apply_one (f, f->bob, bob_msg), ==, 2);
  g_assert_cmpint (apply_one (f, f->bob, bob_delete), ==, 3);
  g_assert_cmpint (apply_one (f, f->bob, bob_other), ==, 4);

  alice_after = dump_state (f, f->alice);
  g_assert_cmpstr (alice_before, ==, alice_after);
  g_assert_null (strstr (alice_after, "bob"));
  g_assert_null (strstr (alice_after, "mine"));

  session = get_session (f, f->alice, S1);
  g_assert_cmpstr (session->title, ==, "alice");
  g_assert_false (session->deleted);
  messages = list_messages (f, f->alice, S1);
  g_assert_cmpuint (messages->len, ==, 1);
  g_assert_cmpstr (((HelixGatewaySyncMessage *) g_ptr_array_index (messages, 0))->content, ==,
                   "secret");
  assert_no_session (f, f->alice, S2);
  sessions = helix_gateway_db_list_sessions (f->db, f->alice, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sessions->len, ==, 1);

  alice_ops = ops_since (f, f->alice, 0, 500);
  bob_ops = ops_since (f, f->bob, 0, 500);
  g_assert_cmpuint (alice_ops->len, ==, 2);
  g_assert_cmpuint (bob_ops->len, ==, 4);
  for (guint i = 0; i < alice_ops->len; i++)
    {
      g_autofree char *canonical = helix_sync_op_canonical (g_ptr_array_index (alice_ops, i));

      g_assert_null (strstr (canonical, "phone"));
    }
  g_assert_cmpint (head (f, f->alice), ==, 2);
  g_assert_cmpint (head (f, f->bob), ==, 4);
}

static void
collect_session (const HelixGatewaySyncSession *session,
                 gpointer                       user_data)
{
  GPtrArray *seen = user_data;
  HelixGatewaySyncSession *copy = g_new0 (HelixGatewaySyncSession, 1);

  /* Only the listed members; the HLCs are not read. */
  g_assert_null (session->title_hlc);
  g_assert_null (session->pinned_hlc);
  g_assert_null (session->archived_hlc);
  g_assert_null (session->deleted_hlc);
  g_assert_false (session->deleted);

  copy->uuid = g_strdup (session->uuid);
  copy->title = g_strdup (session->title);
  copy->pinned = session->pinned;
  copy->archived = session->archived;
  copy->created_us = session->created_us;
  copy->updated_us = session->updated_us;
  g_ptr_array_add (seen, copy);
}

/* helix_gateway_db_foreach_session() passes the sessions of
 * helix_gateway_db_list_sessions(), in its order (newest first, ties by
 * uuid, descending), tombstones and other users' sessions left out. */
static void
test_foreach_session (Fixture       *f,
                      gconstpointer  data)
{
#define S4 "0190f3a2-1c00-7000-8000-0000000000a4"
  HelixSyncOp *ops[] = {
    session_put (1, S1, "1000:0:laptop", "{\"title\":\"quote \\\" and \\u0001\"}"),
    session_put (2, S2, "3000:0:laptop", "{\"title\":\"two\",\"pinned\":true}"),
    /* As new as S2: after it, by uuid. */
    session_put (3, S3, "3000:0:phone", "{\"archived\":true,\"pinned\":true}"),
    session_put (4, S4, "2000:0:laptop", "{\"title\":\"gone\"}"),
    make_op (5, "session.delete", S4, NULL, "2001:0:laptop", NULL),
  };
  g_autoptr(HelixSyncOp) bobs = session_put (1, S4, "9000:0:phone", "{\"title\":\"bob\"}");
  static const char * const order[] = { S3, S2, S1 };
  g_autoptr(GPtrArray) seen =
    g_ptr_array_new_with_free_func ((GDestroyNotify) helix_gateway_sync_session_free);
  g_autoptr(GPtrArray) listed = NULL;
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(GError) error = NULL;

  seqs = apply (f, f->alice, ops, G_N_ELEMENTS (ops), NULL);
  apply_one (f, f->bob, bobs);

  g_assert_true (helix_gateway_db_foreach_session (f->db, f->alice, collect_session, seen,
                                                   &error));
  g_assert_no_error (error);
  listed = helix_gateway_db_list_sessions (f->db, f->alice, &error);
  g_assert_no_error (error);

  g_assert_cmpuint (seen->len, ==, G_N_ELEMENTS (order));
  g_assert_cmpuint (listed->len, ==, seen->len);
  for (guint i = 0; i < seen->len; i++)
    {
      HelixGatewaySyncSession *a = g_ptr_array_index (seen, i);
      HelixGatewaySyncSession *b = g_ptr_array_index (listed, i);

      g_assert_cmpstr (a->uuid, ==, order[i]);
      g_assert_cmpstr (a->uuid, ==, b->uuid);
      g_assert_cmpstr (a->title, ==, b->title);
      g_assert_cmpint (a->pinned, ==, b->pinned);
      g_assert_cmpint (a->archived, ==, b->archived);
      g_assert_cmpint (a->created_us, ==, b->created_us);
      g_assert_cmpint (a->updated_us, ==, b->updated_us);
    }
  g_assert_cmpstr (((HelixGatewaySyncSession *) g_ptr_array_index (seen, 2))->title, ==,
                   "quote \" and \001");
  g_assert_true (((HelixGatewaySyncSession *) g_ptr_array_index (seen, 0))->archived);
  g_assert_true (((HelixGatewaySyncSession *) g_ptr_array_index (seen, 0))->pinned);
  g_assert_cmpint (((HelixGatewaySyncSession *) g_ptr_array_index (seen, 0))->updated_us, ==,
                   3000 * 1000);

  /* Bob has only the one session, and a user without any none. */
  g_ptr_array_set_size (seen, 0);
  g_assert_true (helix_gateway_db_foreach_session (f->db, f->bob, collect_session, seen,
                                                   &error));
  g_assert_cmpuint (seen->len, ==, 1);
  g_assert_cmpstr (((HelixGatewaySyncSession *) g_ptr_array_index (seen, 0))->title, ==, "bob");
  g_ptr_array_set_size (seen, 0);
  g_assert_true (helix_gateway_db_foreach_session (f->db, add_user (f, "carol"),
                                                   collect_session, seen, &error));
  g_assert_cmpuint (seen->len, ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
    helix_sync_op_unref (ops[i]);
#undef S4
}

/* The list is read from the index sync_sessions_list alone: no lookup in
 * the table per row, no sort. The plan of the very statement
 * helix_gateway_db_foreach_session() keeps prepared. */
static void
test_foreach_session_plan (Fixture       *f,
                           gconstpointer  data)
{
  g_autoptr(GPtrArray) seen =
    g_ptr_array_new_with_free_func ((GDestroyNotify) helix_gateway_sync_session_free);
  sqlite3 *db = _helix_gateway_db_get_handle (f->db, NULL);
  g_autoptr(GString) plan = g_string_new (NULL);
  g_autofree char *explain = NULL;
  g_autoptr(GError) error = NULL;
  sqlite3_stmt *stmt = NULL;

  g_assert_true (helix_gateway_db_foreach_session (f->db, f->alice, collect_session, seen,
                                                   &error));
  g_assert_no_error (error);

  for (sqlite3_stmt *kept = sqlite3_next_stmt (db, NULL); kept != NULL;
       kept = sqlite3_next_stmt (db, kept))
    {
      const char *sql = sqlite3_sql (kept);

      if (g_str_has_prefix (sql, "SELECT uuid, title, pinned, archived, created_us, updated_us "))
        {
          g_assert_null (explain);
          explain = g_strconcat ("EXPLAIN QUERY PLAN ", sql, NULL);
        }
    }
  g_assert_nonnull (explain);

  g_assert_cmpint (sqlite3_prepare_v2 (f->reader, explain, -1, &stmt, NULL), ==, SQLITE_OK);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    g_string_append_printf (plan, "%s\n", (const char *) sqlite3_column_text (stmt, 3));
  sqlite3_finalize (stmt);

  g_assert_nonnull (strstr (plan->str, "USING COVERING INDEX sync_sessions_list"));
  g_assert_null (strstr (plan->str, "TEMP B-TREE"));
}

/* Kept statements are found by the address of their text, but the text
 * decides: another text at the same address (a buffer reused, as texts
 * built at run time are) gets its own statement. */
static void
test_statement_cache (Fixture       *f,
                      gconstpointer  data)
{
  static const char * const texts[] = {
    "SELECT head_seq FROM users WHERE id = ?1",
    "SELECT name FROM users WHERE id = ?1",
    "SELECT head_seq FROM users WHERE id = ?1 AND disabled = 0",
  };
  sqlite3_stmt *first[G_N_ELEMENTS (texts)];
  char buffer[128];
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      g_strlcpy (buffer, texts[i], sizeof buffer);
      first[i] = _helix_gateway_db_prepare (f->db, buffer, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (sqlite3_sql (first[i]), ==, texts[i]);
      _helix_gateway_db_release (first[i]);
      for (guint j = 0; j < i; j++)
        g_assert_true (first[j] != first[i]);
    }

  /* Again, from the literals and from the buffer: the same statements. */
  for (guint n = 0; n < 2; n++)
    for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
      {
        sqlite3_stmt *stmt;

        g_strlcpy (buffer, texts[i], sizeof buffer);
        stmt = _helix_gateway_db_prepare (f->db, n == 0 ? texts[i] : buffer, &error);
        g_assert_no_error (error);
        g_assert_true (stmt == first[i]);
        g_assert_cmpstr (sqlite3_sql (stmt), ==, texts[i]);
        sqlite3_bind_int64 (stmt, 1, f->alice);
        g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
        _helix_gateway_db_release (stmt);
      }

  /* Texts at ever other addresses (more than are remembered) still find theirs. */
  for (guint i = 0; i < 3000; i++)
    {
      g_autofree char *copy = g_strdup (texts[i % G_N_ELEMENTS (texts)]);
      sqlite3_stmt *stmt = _helix_gateway_db_prepare (f->db, copy, &error);

      g_assert_no_error (error);
      g_assert_true (stmt == first[i % G_N_ELEMENTS (texts)]);
      _helix_gateway_db_release (stmt);
    }
}

/* An unknown user has no head and cannot store ops. */
static gint64
file_size (const char *path)
{
  GStatBuf buf;

  return g_stat (path, &buf) == 0 ? (gint64) buf.st_size : -1;
}

static gint64
query_int (sqlite3    *db,
           const char *sql)
{
  sqlite3_stmt *stmt = NULL;
  gint64 value;

  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  value = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);

  return value;
}

/* A connection that defers checkpoints never copies the log back itself;
 * the background thread does, once the log is past its threshold
 * (HELIX_GATEWAY_DB_CHECKPOINT_PAGES; CHECKPOINT_PAGES here, not to write
 * 130 MB), and all of what was committed is there. */
#define CHECKPOINT_PAGES 2000

static void
test_deferred_checkpoints (Fixture       *f,
                           gconstpointer  data)
{
  g_autofree char *content = g_strnfill (200 * 1024, 'x');
  guint n_batches;
  gint64 before;

  helix_gateway_db_defer_checkpoints (f->db);
  _helix_gateway_db_set_checkpoint_pages (f->db, CHECKPOINT_PAGES);
  g_assert_cmpint (query_int (_helix_gateway_db_get_handle (f->db, NULL),
                              "PRAGMA wal_autocheckpoint"), ==, 0);

  /* What the migrations wrote gets to the database file first. */
  g_assert_cmpint (sqlite3_wal_checkpoint_v2 (f->reader, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                              NULL), ==, SQLITE_OK);
  before = file_size (f->path);

  /* Messages of 200 KiB (each stored twice: in the log and as a message) in
   * batches of 5, until the log is 1,500 pages past the threshold. */
  n_batches = (CHECKPOINT_PAGES + 1500) * 4096 / (5 * 2 * 200 * 1024) + 1;
  for (guint batch = 0; batch < n_batches; batch++)
    {
      HelixSyncOp *ops[5];
      g_autoptr(GArray) seqs = NULL;

      for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
        {
          guint n = 100 + batch * G_N_ELEMENTS (ops) + i;
          g_autofree char *id = g_strdup_printf ("0190f3a2-1c00-7000-8000-%012x", n);
          g_autofree char *body = g_strdup_printf ("{\"role\":\"user\",\"content\":\"%s\","
                                                   "\"status\":\"done\"}", content);

          ops[i] = message_put (n, id, S1, "1763769600000:0:laptop", body);
        }
      seqs = apply (f, f->alice, ops, G_N_ELEMENTS (ops), NULL);
      for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
        helix_sync_op_unref (ops[i]);
    }

  helix_test_wait_for (file_size (f->path) >= before + CHECKPOINT_PAGES * 4096 / 2,
                       30, "the background checkpoint");
  g_assert_cmpint (query_int (f->reader, "SELECT count(*) FROM sync_messages"), ==, 5 * n_batches);
}

static void
test_no_such_user (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(HelixSyncOp) op = session_put (1, S1, "1000:0:laptop", "{\"title\":\"x\"}");
  g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GPtrArray) applied = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (helix_gateway_db_get_head (f->db, 9999, &error), ==, -1);
  g_assert_error (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NO_SUCH_USER);
  g_clear_error (&error);

  g_assert_false (helix_gateway_db_apply_ops (f->db, 9999, 0, &op, 1, seqs, applied, &error));
  g_assert_error (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NO_SUCH_USER);
  g_assert_cmpuint (seqs->len, ==, 0);
}

/* A database of schema 2, with a log and messages, keeps them when it is
 * opened (schema 3 rebuilds ops and sync_messages): every op acknowledged
 * stays, with its seq, and re-sent ops still get their first seq. */
static void
test_migrate_from_2 (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("helix-gateway-migrate-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "gateway.db", NULL);
  g_autoptr(HelixGatewayDb) db = NULL;
  g_autoptr(GPtrArray) ops = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GPtrArray) applied = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  g_autoptr(HelixSyncOp) s1 = session_put (1, S1, "1000:0:dev-a", "{\"title\":\"old\"}");
  g_autoptr(HelixSyncOp) m1 = message_put (2, M1, S1, "2000:0:dev-a",
                                           "{\"role\":\"user\",\"content\":\"kept\","
                                           "\"status\":\"done\"}");
  g_autoptr(HelixSyncOp) changed = message_put (2, M2, S1, "2000:0:dev-a",
                                                "{\"role\":\"user\",\"content\":\"other\","
                                                "\"status\":\"done\"}");
  g_autoptr(HelixSyncOp) m2 = message_put (3, M2, S1, "3000:0:dev-a",
                                           "{\"role\":\"user\",\"content\":\"new\","
                                           "\"status\":\"done\"}");
  HelixSyncOp *old_ops[] = { s1, m1 };
  g_autofree char *canonical_s1 = helix_sync_op_canonical (s1);
  g_autofree char *canonical_m1 = helix_sync_op_canonical (m1);
  g_autofree char *hash_s1 = helix_sync_op_hash (s1);
  g_autofree char *hash_m1 = helix_sync_op_hash (m1);
  g_autofree char *insert = NULL;
  sqlite3 *raw = NULL;
  gint64 user;

  g_assert_no_error (error);

  /* Schema 2, written as the gateway of then wrote it. */
  g_assert_cmpint (sqlite3_open (path, &raw), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (raw, "PRAGMA application_id = " G_STRINGIFY (HELIX_GATEWAY_DB_APPLICATION_ID),
                                 NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_true (helix_db_migrate (raw, helix_gateway_get_resource (),
                                   "/ai/helix/Helix/gateway/migrations", 2, &error));
  g_assert_no_error (error);
  g_assert_cmpint (query_int (raw, "SELECT count(*) FROM sqlite_schema WHERE name = 'ops_device'"),
                   ==, 1);
  insert = g_strdup_printf (
    "INSERT INTO users (name, password_hash, is_admin, created_us, head_seq) "
    "  VALUES ('alice', '$argon2id$x', 0, 1, 2);"
    "INSERT INTO ops (user, seq, op, kind, entity, session, hlc, canonical, hash, device, "
    "  received_us) VALUES "
    "  (1, 1, '%s', 'session.put', '%s', NULL, '1000:0:dev-a', '%s', x'%s', NULL, 1),"
    "  (1, 2, '%s', 'message.put', '%s', '%s', '2000:0:dev-a', '%s', x'%s', NULL, 2);"
    "INSERT INTO sync_sessions (user, uuid, title, title_hlc, created_us, updated_us) "
    "  VALUES (1, '%s', 'old', '1000:0:dev-a', 1000000, 2000000);"
    "INSERT INTO sync_messages (user, uuid, session, role, content, status, created_us, hlc, "
    "  seq) VALUES (1, '%s', '%s', 'user', 'kept', 'done', 2000000, '2000:0:dev-a', 2);",
    helix_sync_op_get_op_id (s1), S1, canonical_s1, hash_s1,
    helix_sync_op_get_op_id (m1), M1, S1, canonical_m1, hash_m1, S1, M1, S1);
  g_assert_cmpint (sqlite3_exec (raw, insert, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (raw);

  db = helix_gateway_db_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (helix_gateway_db_get_schema_version (db), ==,
                    helix_gateway_db_get_latest_schema_version ());
  user = 1;

  ops = helix_gateway_db_ops_since (db, user, 0, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ops->len, ==, 2);
  g_assert_cmpint (helix_sync_op_get_seq (g_ptr_array_index (ops, 1)), ==, 2);
  messages = helix_gateway_db_list_messages (db, user, S1, 0, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (messages->len, ==, 1);
  g_assert_cmpstr (((HelixGatewaySyncMessage *) g_ptr_array_index (messages, 0))->content, ==,
                   "kept");

  /* Re-sent: the first seqs, nothing new; the same id with other content:
   * refused; a new op: the next seq. */
  g_assert_true (helix_gateway_db_apply_ops (db, user, 0, old_ops, 2, seqs, applied, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_array_index (seqs, gint64, 0), ==, 1);
  g_assert_cmpint (g_array_index (seqs, gint64, 1), ==, 2);
  g_assert_cmpuint (applied->len, ==, 0);
  g_assert_false (helix_gateway_db_apply_ops (db, user, 0, &changed, 1, seqs, applied, &error));
  g_assert_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_OP_CONFLICT);
  g_clear_error (&error);
  g_array_set_size (seqs, 0);
  g_assert_true (helix_gateway_db_apply_ops (db, user, 0, &m2, 1, seqs, applied, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_array_index (seqs, gint64, 0), ==, 3);

  g_clear_object (&db);

  /* The keys of schema 3, and no index by device. */
  g_assert_cmpint (sqlite3_open (path, &raw), ==, SQLITE_OK);
  g_assert_cmpint (query_int (raw, "SELECT count(*) FROM sqlite_schema WHERE name = 'ops_device'"),
                   ==, 0);
  g_assert_cmpint (query_int (raw, "SELECT count(*) FROM pragma_index_list ('ops') AS l, "
                                   "  pragma_index_info (l.name) AS i "
                                   "WHERE l.\"unique\" AND i.seqno = 0 AND i.name = 'op'"), ==, 1);
  g_assert_cmpint (query_int (raw, "SELECT count(*) FROM pragma_index_list ('sync_messages') AS l, "
                                   "  pragma_index_info (l.name) AS i "
                                   "WHERE l.origin = 'pk' AND i.seqno = 0 AND i.name = 'uuid'"),
                   ==, 1);
  g_assert_cmpint (query_int (raw, "SELECT count(*) FROM sync_messages"), ==, 2);
  g_assert_cmpint (query_int (raw, "SELECT count(*) FROM pragma_foreign_key_check"), ==, 0);
  g_assert_cmpint (query_int (raw, "SELECT count(*) FROM pragma_integrity_check "
                                   "  WHERE integrity_check != 'ok'"), ==, 0);
  sqlite3_close (raw);

  helix_test_rm_rf (dir);
}

/* Counts the hits of helix_gateway_db_search() for @user and @text. */
static guint
count_hits (HelixGatewayDb *db,
            gint64          user,
            const char     *text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) hits = helix_gateway_db_search (db, user, text, 0, 100, &error);

  g_assert_no_error (error);
  g_assert_nonnull (hits);

  return hits->len;
}

/* A database of schema 4 with sessions and messages: schema 6 (search) makes what
 * it holds searchable, each user's rows for that user only, and not the
 * tombstone's; what is stored later is found too. */
static void
test_migrate_from_4 (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("helix-gateway-migrate-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "gateway.db", NULL);
  g_autoptr(HelixGatewayDb) db = NULL;
  g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GPtrArray) applied = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  g_autoptr(GPtrArray) hits = NULL;
  g_autoptr(HelixSyncOp) m3 = message_put (3, M2, S1, "3000:0:dev-a",
                                           "{\"role\":\"assistant\",\"content\":\"Preheat the oven\","
                                           "\"status\":\"done\"}");
  g_autoptr(HelixSyncOp) rename = session_put (4, S1, "4000:0:dev-a", "{\"title\":\"Pastry\"}");
  HelixGatewaySearchHit *hit;
  sqlite3 *raw = NULL;

  g_assert_no_error (error);

  /* Schema 4: alice (1) has a live session with a message and a deleted
   * one; bob (2) has the same words in his own session. */
  g_assert_cmpint (sqlite3_open (path, &raw), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (raw, "PRAGMA application_id = " G_STRINGIFY (HELIX_GATEWAY_DB_APPLICATION_ID),
                                 NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_true (helix_db_migrate (raw, helix_gateway_get_resource (),
                                   "/ai/helix/Helix/gateway/migrations", 4, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sqlite3_exec (raw,
    "INSERT INTO users (name, password_hash, is_admin, created_us, head_seq) "
    "  VALUES ('alice', '$argon2id$x', 0, 1, 2), ('bob', '$argon2id$y', 0, 1, 1);"
    "INSERT INTO sync_sessions (user, uuid, title, title_hlc, created_us, updated_us) "
    "  VALUES (1, '" S1 "', 'Baking', '1000:0:dev-a', 1000000, 2000000),"
    "         (2, '" S3 "', 'Baking too', '1000:0:dev-b', 1000000, 2000000);"
    "INSERT INTO sync_sessions (user, uuid, deleted, deleted_hlc, created_us, updated_us) "
    "  VALUES (1, '" S2 "', 1, '1500:0:dev-a', 1500000, 1500000);"
    "INSERT INTO sync_messages (user, uuid, session, role, content, status, created_us, hlc, "
    "  seq) VALUES (1, '" M1 "', '" S1 "', 'user', 'Knead the dough', 'done', 2000000, "
    "  '2000:0:dev-a', 2),"
    "  (2, '" M1 "', '" S3 "', 'user', 'Knead the dough, bob', 'done', 2000000, "
    "  '2000:0:dev-b', 1);",
    NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (raw);

  db = helix_gateway_db_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (helix_gateway_db_get_schema_version (db), ==,
                    helix_gateway_db_get_latest_schema_version ());

  hits = helix_gateway_db_search (db, 1, "knead", 0, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hits->len, ==, 1);
  hit = g_ptr_array_index (hits, 0);
  g_assert_cmpstr (hit->message, ==, M1);
  g_assert_cmpstr (hit->session, ==, S1);
  g_assert_cmpstr (hit->title, ==, "Baking");
  g_assert_cmpstr (hit->role, ==, "user");
  g_assert_cmpint (hit->seq, ==, 2);
  g_assert_cmpint (hit->created_us, ==, 2000000);
  g_assert_cmpstr (hit->snippet, ==, "Knead the dough");
  g_assert_cmpuint (count_hits (db, 1, "baking"), ==, 1);
  g_assert_cmpuint (count_hits (db, 1, "bob"), ==, 0);
  g_assert_cmpuint (count_hits (db, 2, "knead"), ==, 1);
  g_assert_cmpuint (count_hits (db, 2, "dough bob"), ==, 1);
  g_assert_cmpuint (count_hits (db, 3, "knead"), ==, 0);

  /* Ops stored after the migration are indexed at the next search. */
  g_assert_true (helix_gateway_db_apply_ops (db, 1, 0, &m3, 1, seqs, applied, &error));
  g_assert_no_error (error);
  g_assert_true (helix_gateway_db_apply_ops (db, 1, 0, &rename, 1, seqs, applied, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_hits (db, 1, "oven"), ==, 1);
  g_assert_cmpuint (count_hits (db, 1, "baking"), ==, 0);
  g_assert_cmpuint (count_hits (db, 1, "pastry"), ==, 1);
  g_assert_cmpuint (count_hits (db, 2, "oven"), ==, 0);
  g_clear_object (&db);

  /* The index agrees with its documents, which agree with the state. */
  g_assert_cmpint (sqlite3_open (path, &raw), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (raw, "INSERT INTO search_fts (search_fts, rank) "
                                      "VALUES ('integrity-check', 1)", NULL, NULL, NULL),
                   ==, SQLITE_OK);
  g_assert_cmpint (query_int (raw, "SELECT count(*) FROM search_docs"), ==, 5);
  g_assert_cmpint (query_int (raw, "SELECT search_seq FROM users WHERE id = 1"), ==, 4);
  g_assert_cmpint (query_int (raw, "SELECT count(*) FROM pragma_foreign_key_check"), ==, 0);
  g_assert_cmpint (query_int (raw, "SELECT count(*) FROM pragma_integrity_check "
                                   "  WHERE integrity_check != 'ok'"), ==, 0);
  sqlite3_close (raw);

  helix_test_rm_rf (dir);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/helix/gateway/sync-db/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("seqs", test_seqs);
  ADD ("resend", test_resend);
  ADD ("conflict", test_conflict);
  ADD ("pushes", test_pushes);
  ADD ("lww-orders", test_lww);
  ADD ("session-model", test_session_model);
  ADD ("tombstone", test_tombstone);
  ADD ("messages", test_messages);
  ADD ("batch-bumps", test_batch_bumps);
  ADD ("ops-since", test_ops_since);
  ADD ("isolation", test_isolation);
  ADD ("foreach-session", test_foreach_session);
  ADD ("foreach-session-plan", test_foreach_session_plan);
  ADD ("statement-cache", test_statement_cache);
  ADD ("no-such-user", test_no_such_user);
  ADD ("deferred-checkpoints", test_deferred_checkpoints);

#undef ADD

  g_test_add_func ("/helix/gateway/sync-db/migrate-from-2", test_migrate_from_2);
  g_test_add_func ("/helix/gateway/sync-db/migrate-from-4", test_migrate_from_4);

  return g_test_run ();
}
