/* test-store-sync.c: the store's outbox, cursor and remote ops, and the sync replica
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <sqlite3.h>
#include <string.h>

#include "helix-core.h"
#include "helix-store-private.h"
#include "helix-sync.h"
#include "helix-test-sqlite.h"
#include "helix-test-util.h"

typedef struct
{
  char       *dir;
  char       *path;
  HelixStore *store;
} Fixture;

static guint outbox_len (HelixStore *store);

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("helix-store-sync-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "helix.db", NULL);
  if (data == NULL)
    {
      f->store = helix_store_open (f->path, &error);
      g_assert_no_error (error);
    }
}


/* A schema-2 database gets per-field HLCs from its rows' HLCs, an empty outbox and
 * cursor 0; a deleted session keeps its deletion HLC. */
static void
test_migrate_backfill (Fixture       *f,
                       gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  sqlite3 *db = NULL;

  g_assert_true (_helix_store_create_at_version (f->path, 2, &error));
  g_assert_no_error (error);
  db = helix_test_sqlite_open (f->path, SQLITE_OPEN_READWRITE);
  g_assert_cmpint (sqlite3_exec (db,
    "INSERT INTO sessions (uuid, title, created_us, updated_us, hlc, deleted) VALUES "
    "('0190a0b2-7c3d-7000-8000-000000000001', 'Old', 1, 1, '5:0:old', 0), "
    "('0190a0b2-7c3d-7000-8000-000000000003', 'Gone', 1, 1, '6:0:old', 1);"
    "INSERT INTO messages (uuid, session, position, role, content, created_us, hlc, model) VALUES "
    "('0190a0b2-7c3d-7000-8000-000000000002', 1, 0, 'user', 'x', 1, '7:0:old', 'm');",
    NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);

  f->store = helix_store_open (f->path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (helix_store_get_schema_version (f->store), ==,
                    helix_store_get_latest_schema_version ());
  g_assert_cmpint (helix_store_get_sync_cursor (f->store, &error), ==, 0);
  g_assert_cmpuint (outbox_len (f->store), ==, 0);

  g_assert_cmpint (helix_test_sqlite_query_int (f->path, "SELECT count (*) FROM sessions WHERE title_hlc = hlc AND "
                                       "pinned_hlc = hlc AND archived_hlc = hlc"), ==, 2);
  g_assert_cmpint (helix_test_sqlite_query_int (f->path, "SELECT count (*) FROM sessions WHERE deleted_hlc = hlc"),
                   ==, 1);
  g_assert_cmpint (helix_test_sqlite_query_int (f->path, "SELECT count (*) FROM messages WHERE model_hlc = hlc AND "
                                       "created_hlc = hlc AND cost_hlc IS NULL"), ==, 1);
  /* Schema 4: nothing pinned, never set. */
  g_assert_cmpint (helix_test_sqlite_query_int (f->path, "SELECT count (*) FROM sessions WHERE model IS NULL AND "
                                       "model_hlc IS NULL"), ==, 2);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  if (f->store != NULL)
    {
      helix_store_close (f->store);
      helix_test_assert_finalized (g_steal_pointer (&f->store));
    }
  helix_test_rm_rf (f->dir);
  g_free (f->path);
  g_free (f->dir);
}

static GPtrArray *
peek_all (HelixStore *store)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *entries = helix_store_outbox_peek (store, 10000, &error);

  g_assert_no_error (error);
  g_assert_nonnull (entries);

  return entries;
}

static guint
outbox_len (HelixStore *store)
{
  g_autoptr(GPtrArray) entries = peek_all (store);

  return entries->len;
}

static const HelixOutboxEntry *
last_entry (GPtrArray *entries)
{
  g_assert_cmpuint (entries->len, >, 0);
  return g_ptr_array_index (entries, entries->len - 1);
}

/* The entry is a valid protocol op, and its data reads back as @expected_data. */
static void
assert_entry (const HelixOutboxEntry *entry,
              const char             *kind,
              const char             *entity,
              const char             *session_id,
              const char             *hlc,
              const char             *expected_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSyncOp) op = helix_sync_replica_op_from_entry (entry, &error);

  g_assert_no_error (error);
  g_assert_nonnull (op);
  g_assert_true (helix_uuid_is_valid (entry->op_id));
  g_assert_cmpstr (entry->kind, ==, kind);
  g_assert_cmpstr (entry->entity, ==, entity);
  g_assert_cmpstr (entry->session_id, ==, session_id);
  g_assert_cmpstr (entry->hlc, ==, hlc);

  if (expected_data == NULL)
    {
      g_assert_null (entry->data);
    }
  else
    {
      g_autoptr(JsonNode) want = json_from_string (expected_data, &error);
      g_autoptr(JsonNode) have = json_from_string (entry->data, NULL);

      g_assert_no_error (error);
      g_assert_nonnull (have);
      g_assert_true (json_node_equal (want, have));
    }
}

static void
test_outbox_local_writes (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(HelixSession) changed = NULL;
  g_autoptr(HelixMessage) message = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  HelixNewMessage m = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_ASSISTANT,
                                              "Hi \"there\"\n\\ \x01");
  const char *id;

  g_assert_cmpuint (outbox_len (f->store), ==, 0);

  session = helix_store_create_session (f->store, "Trip \"plans\"", &error);
  g_assert_no_error (error);
  id = helix_session_get_id (session);
  entries = peek_all (f->store);
  g_assert_cmpuint (entries->len, ==, 1);
  assert_entry (last_entry (entries), "session.put", id, NULL, helix_session_get_hlc (session),
                "{\"title\":\"Trip \\\"plans\\\"\",\"pinned\":false,\"archived\":false}");
  g_clear_pointer (&entries, g_ptr_array_unref);

  changed = helix_store_rename_session (f->store, id, "Renamed", &error);
  g_assert_no_error (error);
  entries = peek_all (f->store);
  g_assert_cmpuint (entries->len, ==, 2);
  assert_entry (last_entry (entries), "session.put", id, NULL, helix_session_get_hlc (changed),
                "{\"title\":\"Renamed\"}");
  g_clear_pointer (&entries, g_ptr_array_unref);
  g_clear_object (&changed);

  changed = helix_store_set_session_flag (f->store, id, HELIX_SESSION_FLAG_PINNED, TRUE, &error);
  g_assert_no_error (error);
  entries = peek_all (f->store);
  g_assert_cmpuint (entries->len, ==, 3);
  assert_entry (last_entry (entries), "session.put", id, NULL, helix_session_get_hlc (changed),
                "{\"pinned\":true}");
  g_clear_pointer (&entries, g_ptr_array_unref);
  g_clear_object (&changed);

  changed = helix_store_set_session_flag (f->store, id, HELIX_SESSION_FLAG_ARCHIVED, TRUE, &error);
  g_assert_no_error (error);
  entries = peek_all (f->store);
  g_assert_cmpuint (entries->len, ==, 4);
  assert_entry (last_entry (entries), "session.put", id, NULL, helix_session_get_hlc (changed),
                "{\"archived\":true}");
  g_clear_pointer (&entries, g_ptr_array_unref);
  g_clear_object (&changed);

  m.model = "gpt-x";
  m.provider = "local";
  m.tokens_in = 12;
  m.tokens_out = 34;
  m.cost = 0.25;
  m.created_us = 1763769600000000;
  message = helix_store_append_message (f->store, id, &m, &error);
  g_assert_no_error (error);
  entries = peek_all (f->store);
  g_assert_cmpuint (entries->len, ==, 5);
  assert_entry (last_entry (entries), "message.put", helix_message_get_id (message), id,
                helix_message_get_hlc (message),
                "{\"role\":\"assistant\",\"content\":\"Hi \\\"there\\\"\\n\\\\ \\u0001\","
                "\"status\":\"done\",\"model\":\"gpt-x\",\"provider\":\"local\","
                "\"tokens_in\":12,\"tokens_out\":34,\"cost\":0.25,"
                "\"created_us\":1763769600000000}");
  g_clear_pointer (&entries, g_ptr_array_unref);

  changed = helix_store_set_session_flag (f->store, id, HELIX_SESSION_FLAG_DELETED, TRUE, &error);
  g_assert_no_error (error);
  entries = peek_all (f->store);
  g_assert_cmpuint (entries->len, ==, 6);
  assert_entry (last_entry (entries), "session.delete", id, NULL, helix_session_get_hlc (changed),
                NULL);
  g_clear_pointer (&entries, g_ptr_array_unref);
  g_clear_object (&changed);

  /* Undoing a deletion that has not left the device takes its op back. */
  changed = helix_store_set_session_flag (f->store, id, HELIX_SESSION_FLAG_DELETED, FALSE, &error);
  g_assert_no_error (error);
  g_assert_false (helix_session_get_deleted (changed));
  g_assert_cmpuint (outbox_len (f->store), ==, 5);
  g_clear_object (&changed);

  /* Refused writes enqueue nothing. */
  changed = helix_store_rename_session (f->store, "0190f3a2-1c00-7000-8000-000000000001", "x",
                                        &error);
  g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_NOT_FOUND);
  g_assert_null (changed);
  g_clear_error (&error);
  g_clear_object (&message);
  message = helix_store_append_message (f->store, "0190f3a2-1c00-7000-8000-000000000001", &m,
                                        &error);
  g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpuint (outbox_len (f->store), ==, 5);
}

static void
test_outbox_duplicate_refused (Fixture       *f,
                               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(HelixMessage) first = NULL;
  g_autoptr(HelixMessage) second = NULL;
  HelixNewMessage m = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "once");

  session = helix_store_create_session (f->store, "S", &error);
  g_assert_no_error (error);
  m.id = "0190f3a2-1c00-7000-8000-0000000000aa";
  first = helix_store_append_message (f->store, helix_session_get_id (session), &m, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (outbox_len (f->store), ==, 2);

  /* The insert fails inside the transaction: neither row nor op stays. */
  second = helix_store_append_message (f->store, helix_session_get_id (session), &m, &error);
  g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID);
  g_assert_null (second);
  g_assert_cmpuint (outbox_len (f->store), ==, 2);
  g_clear_error (&error);

  /* The other way round: when a session op cannot be recorded, the change does not
   * happen. (Messages need no outbox row: they are read from the messages table.) */
  {
    sqlite3 *db = NULL;
    g_autoptr(HelixSession) reread = NULL;

    db = helix_test_sqlite_open (f->path, SQLITE_OPEN_READWRITE);
    g_assert_cmpint (sqlite3_exec (db,
                                   "CREATE TRIGGER refuse_ops BEFORE INSERT ON outbox BEGIN "
                                   "  SELECT RAISE (ABORT, 'refused'); END;",
                                   NULL, NULL, NULL), ==, SQLITE_OK);
    sqlite3_close (db);

    reread = helix_store_rename_session (f->store, helix_session_get_id (session), "Nope", &error);
    g_assert_nonnull (error);
    g_assert_null (reread);
    g_clear_error (&error);

    reread = helix_store_get_session (f->store, helix_session_get_id (session), &error);
    g_assert_no_error (error);
    g_assert_cmpstr (helix_session_get_title (reread), ==, "S");
    g_assert_cmpuint (helix_session_get_n_messages (reread), ==, 1);
    g_assert_cmpint (helix_test_sqlite_query_int (f->path, "SELECT count (*) FROM messages"), ==, 1);
    g_assert_cmpuint (outbox_len (f->store), ==, 2);
  }
}

static void
test_ack_and_cursor (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  const char *ids[3] = { NULL };

  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(HelixSession) session = helix_store_create_session (f->store, "S", &error);
      g_assert_no_error (error);
    }

  g_assert_cmpint (helix_store_get_sync_cursor (f->store, &error), ==, 0);
  g_assert_no_error (error);

  entries = peek_all (f->store);
  g_assert_cmpuint (entries->len, ==, 3);
  ids[0] = ((HelixOutboxEntry *) g_ptr_array_index (entries, 0))->op_id;
  ids[1] = ((HelixOutboxEntry *) g_ptr_array_index (entries, 1))->op_id;
  g_assert_true (helix_store_outbox_ack (f->store, ids, 42, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (outbox_len (f->store), ==, 1);
  g_assert_cmpint (helix_store_get_sync_cursor (f->store, &error), ==, 42);

  /* A repeated ack and a smaller cursor change nothing. */
  g_assert_true (helix_store_outbox_ack (f->store, ids, 7, &error));
  g_assert_no_error (error);
  g_assert_cmpint (helix_store_get_sync_cursor (f->store, &error), ==, 42);

  helix_store_close (f->store);
  helix_test_assert_finalized (g_steal_pointer (&f->store));
  f->store = helix_store_open (f->path, &error);
  g_assert_no_error (error);

  g_assert_cmpint (helix_store_get_sync_cursor (f->store, &error), ==, 42);
  g_assert_no_error (error);
  g_assert_cmpuint (outbox_len (f->store), ==, 1);
  g_clear_pointer (&entries, g_ptr_array_unref);
  entries = peek_all (f->store);
  g_assert_cmpstr (((HelixOutboxEntry *) g_ptr_array_index (entries, 0))->kind, ==,
                   "session.put");
}

/* State {{{1 */

/* A digest of everything that must converge: live sessions with their fields and
 * messages (by id, not position: positions are per replica), and the tombstones. */
static char *
state_hash (const char *path)
{
  static const char * const queries[] = {
    "SELECT uuid || '|' || deleted || '|' || "
    "  CASE WHEN deleted THEN '' ELSE title || '|' || pinned || '|' || archived END "
    "FROM sessions ORDER BY uuid",
    "SELECT m.uuid || '|' || s.uuid || '|' || m.role || '|' || m.content || '|' || "
    "  m.status || '|' || "
    "  coalesce (m.model, '-') || '|' || coalesce (m.provider, '-') || '|' || "
    "  coalesce (m.tokens_in, '-') || '|' || coalesce (m.tokens_out, '-') || '|' || "
    "  coalesce (printf ('%.17g', m.cost), '-') || '|' || m.created_us "
    "FROM messages m JOIN sessions s ON s.id = m.session WHERE NOT s.deleted ORDER BY m.uuid",
  };
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  sqlite3 *db = NULL;

  db = helix_test_sqlite_open (path, SQLITE_OPEN_READONLY);
  for (guint q = 0; q < G_N_ELEMENTS (queries); q++)
    {
      sqlite3_stmt *stmt = NULL;

      g_assert_cmpint (sqlite3_prepare_v2 (db, queries[q], -1, &stmt, NULL), ==, SQLITE_OK);
      while (sqlite3_step (stmt) == SQLITE_ROW)
        {
          g_checksum_update (sum, sqlite3_column_text (stmt, 0), -1);
          g_checksum_update (sum, (const guchar *) "\n", 1);
        }
      sqlite3_finalize (stmt);
      g_checksum_update (sum, (const guchar *) "--\n", 3);
    }
  sqlite3_close (db);

  return g_strdup (g_checksum_get_string (sum));
}

static void
apply_one (HelixStore          *store,
           const HelixRemoteOp *op)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (helix_store_apply_remote (store, op, 1, 0, &error));
  g_assert_no_error (error);
}

/* Remote ops {{{1 */

#define S1 "0190f3a2-1c00-7000-8000-000000000001"
#define M1 "0190f3a2-1c00-7000-8000-000000000011"
#define M2 "0190f3a2-1c00-7000-8000-000000000012"
#define M3 "0190f3a2-1c00-7000-8000-000000000013"

/* Op ids are made unique per round by the caller. */
static const HelixRemoteOp lww_ops[] = {
  { 1, NULL, "session.put", S1, NULL, "1700000000000:0:dev-a",
    "{\"title\":\"A first\",\"pinned\":false,\"archived\":false}" },
  { 2, NULL, "session.put", S1, NULL, "1700000000005:0:dev-b", "{\"title\":\"B later\"}" },
  { 3, NULL, "session.put", S1, NULL, "1700000000005:0:dev-a", "{\"title\":\"A tie\"}" },
  { 4, NULL, "session.put", S1, NULL, "1700000000003:2:dev-a", "{\"pinned\":true}" },
  { 5, NULL, "session.put", S1, NULL, "1700000000003:1:dev-b",
    "{\"pinned\":false,\"archived\":true}" },
  { 6, NULL, "message.put", M1, S1, "1700000000001:0:dev-a",
    "{\"role\":\"user\",\"content\":\"hel\",\"status\":\"streaming\",\"model\":\"m1\"}" },
  { 7, NULL, "message.put", M1, S1, "1700000000002:0:dev-a",
    "{\"role\":\"user\",\"content\":\"hello\",\"status\":\"done\",\"tokens_in\":3}" },
  { 8, NULL, "message.put", M2, S1, "1700000000004:0:dev-b",
    "{\"role\":\"assistant\",\"content\":\"hi\",\"status\":\"done\",\"cost\":0.5,"
    "\"created_us\":1700000000004000}" },
};

/* Rewrites the ids of @template with a suffix unique to @round. */
static char *
round_id (const char *id,
          guint       round)
{
  char *copy;

  if (id == NULL)
    return NULL;

  copy = g_strdup (id);
  g_snprintf (copy + 24, 13, "%04x%08x", (guint) (strtoul (id + 24, NULL, 16) & 0xffff), round);

  return copy;
}

static const char *
or_dash (const char *text)
{
  return text != NULL ? text : "-";
}

static int
compare_message_ids (gconstpointer a,
                     gconstpointer b)
{
  HelixMessage *ma = *(HelixMessage * const *) a;
  HelixMessage *mb = *(HelixMessage * const *) b;

  return strcmp (helix_message_get_id (ma), helix_message_get_id (mb));
}

static void
test_lww_any_order (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (20261122);
  g_autofree char *expected = NULL;
  const guint n_ops = G_N_ELEMENTS (lww_ops);

  for (guint round = 0; round < 200; round++)
    {
      HelixRemoteOp ops[G_N_ELEMENTS (lww_ops)];
      g_autoptr(GPtrArray) strings = g_ptr_array_new_with_free_func (g_free);
      g_autoptr(GError) error = NULL;
      g_autoptr(HelixSession) session = NULL;
      g_autoptr(GPtrArray) messages = NULL;
      g_autofree char *s1 = round_id (S1, round);
      g_autofree char *state = NULL;

      for (guint i = 0; i < n_ops; i++)
        {
          char *entity = round_id (lww_ops[i].entity, round);
          char *session_id = round_id (lww_ops[i].session_id, round);
          char *op_id = round_id ("0190f3a2-1c00-7000-8000-0000000000f0", round * 16 + i);

          ops[i] = lww_ops[i];
          ops[i].entity = entity;
          ops[i].session_id = session_id;
          ops[i].op_id = op_id;
          g_ptr_array_add (strings, entity);
          g_ptr_array_add (strings, session_id);
          g_ptr_array_add (strings, op_id);
        }

      for (guint i = n_ops - 1; i > 0; i--)
        {
          guint j = g_rand_int_range (rand, 0, i + 1);
          HelixRemoteOp tmp = ops[i];

          ops[i] = ops[j];
          ops[j] = tmp;
        }

      /* Each op arrives on its own, and then all of them once more. */
      for (guint i = 0; i < n_ops; i++)
        apply_one (f->store, &ops[i]);
      g_assert_true (helix_store_apply_remote (f->store, ops, n_ops, 0, &error));
      g_assert_no_error (error);

      session = helix_store_get_session (f->store, s1, &error);
      g_assert_no_error (error);
      messages = helix_store_get_messages (f->store, s1, 0, 10, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (messages->len, ==, 2);

      /* Positions follow arrival order; compare the messages by id. */
      g_ptr_array_sort (messages, compare_message_ids);
      state = g_strdup_printf ("%s|%d|%d|%d", helix_session_get_title (session),
                               helix_session_get_pinned (session),
                               helix_session_get_archived (session),
                               helix_session_get_deleted (session));
      for (guint i = 0; i < messages->len; i++)
        {
          HelixMessage *m = g_ptr_array_index (messages, i);
          char *more = g_strdup_printf ("%s|%.28s|%d|%s|%d|%s|%s|%" G_GINT64_FORMAT "|%"
                                        G_GINT64_FORMAT "|%.17g|%" G_GINT64_FORMAT, state,
                                        helix_message_get_id (m), helix_message_get_role (m),
                                        helix_message_get_content (m),
                                        helix_message_get_status (m),
                                        or_dash (helix_message_get_model (m)),
                                        or_dash (helix_message_get_provider (m)),
                                        helix_message_get_tokens_in (m),
                                        helix_message_get_tokens_out (m),
                                        helix_message_get_cost (m),
                                        helix_message_get_created_us (m));
          g_free (state);
          state = more;
        }
      if (expected == NULL)
        expected = g_strdup (state);
      g_assert_cmpstr (state, ==, expected);

      /* The winners by HLC: B's title (the tie at ...005:0 goes to dev-b), dev-a's
       * pin at ...003:2, dev-b's archive; M1's newest content and both members. */
      g_assert_cmpstr (helix_session_get_title (session), ==, "B later");
      g_assert_true (helix_session_get_pinned (session));
      g_assert_true (helix_session_get_archived (session));
      g_assert_false (helix_session_get_deleted (session));
      for (guint i = 0; i < messages->len; i++)
        {
          HelixMessage *m = g_ptr_array_index (messages, i);

          if (g_str_has_prefix (helix_message_get_id (m), "0190f3a2-1c00-7000-8000-0011"))
            {
              g_assert_cmpstr (helix_message_get_content (m), ==, "hello");
              g_assert_cmpint (helix_message_get_status (m), ==, HELIX_MESSAGE_STATUS_DONE);
              g_assert_cmpstr (helix_message_get_model (m), ==, "m1");
              g_assert_cmpint (helix_message_get_tokens_in (m), ==, 3);
              g_assert_cmpint (helix_message_get_role (m), ==, HELIX_MESSAGE_ROLE_USER);
            }
          else
            {
              g_assert_cmpstr (helix_message_get_content (m), ==, "hi");
              g_assert_cmpfloat (helix_message_get_cost (m), ==, 0.5);
              g_assert_cmpint (helix_message_get_created_us (m), ==, 1700000000004000);
            }
        }
      g_assert_cmpuint (helix_session_get_n_messages (session), ==, 2);
    }

  /* Remote ops never enter the outbox; the cursor is the highest seq seen. */
  g_assert_cmpuint (outbox_len (f->store), ==, 0);
  g_assert_cmpint (helix_store_get_sync_cursor (f->store, NULL), ==, 8);
}

static void
test_tombstone (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(HelixSession) undone = NULL;
  const HelixRemoteOp ops[] = {
    { 1, "0190f3a2-1c00-7000-8000-0000000000e1", "session.put", S1, NULL,
      "1700000000000:0:dev-a", "{\"title\":\"Gone soon\"}" },
    { 2, "0190f3a2-1c00-7000-8000-0000000000e2", "session.delete", S1, NULL,
      "1700000000001:0:dev-b", NULL },
    /* Newer than the delete, yet the tombstone wins. */
    { 3, "0190f3a2-1c00-7000-8000-0000000000e3", "session.put", S1, NULL,
      "1700000000009:0:dev-a", "{\"title\":\"Back?\"}" },
    { 4, "0190f3a2-1c00-7000-8000-0000000000e4", "message.put", M1, S1,
      "1700000000009:1:dev-a", "{\"role\":\"user\",\"content\":\"x\",\"status\":\"done\"}" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
    apply_one (f->store, &ops[i]);

  session = helix_store_get_session (f->store, S1, &error);
  g_assert_no_error (error);
  g_assert_true (helix_session_get_deleted (session));

  /* A tombstone from the gateway cannot be undone locally. */
  undone = helix_store_set_session_flag (f->store, S1, HELIX_SESSION_FLAG_DELETED, FALSE, &error);
  g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID);
  g_assert_null (undone);
  g_clear_error (&error);

  g_clear_object (&session);
  session = helix_store_get_session (f->store, S1, &error);
  g_assert_no_error (error);
  g_assert_true (helix_session_get_deleted (session));
  g_assert_cmpuint (outbox_len (f->store), ==, 0);
}

/* The pinned model: a local choice goes out as a session.put ("" for automatic),
 * remote ones win by HLC like any session field, and a bad one is refused whole. */
static void
test_session_model (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) local = NULL;
  g_autoptr(HelixSession) changed = NULL;
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  g_autofree char *id = NULL;
  const HelixRemoteOp ops[] = {
    { 1, "0190f3a2-1c00-7000-8000-0000000000d1", "session.put", S1, NULL,
      "1700000000002:0:dev-a", "{\"title\":\"Remote\",\"model\":\"gemini-2.5-pro\"}" },
    /* Older: loses. */
    { 2, "0190f3a2-1c00-7000-8000-0000000000d2", "session.put", S1, NULL,
      "1700000000001:0:dev-b", "{\"model\":\"deepseek-chat\"}" },
    /* Newer: back to automatic. */
    { 3, "0190f3a2-1c00-7000-8000-0000000000d3", "session.put", S1, NULL,
      "1700000000003:0:dev-b", "{\"model\":\"\"}" },
  };
  const HelixRemoteOp stale = {
    4, "0190f3a2-1c00-7000-8000-0000000000d4", "session.put", S1, NULL,
    "1700000000004:0:dev-b", "{\"model\":\"deepseek-chat\"}"
  };
  const HelixRemoteOp bad = {
    5, "0190f3a2-1c00-7000-8000-0000000000d5", "session.put", S1, NULL,
    "1800000000000:0:dev-b", "{\"model\":5}"
  };

  /* Local: each choice is an op the protocol accepts (assert_entry checks). */
  local = helix_store_create_session (f->store, "Local", &error);
  g_assert_no_error (error);
  id = g_strdup (helix_session_get_id (local));
  changed = helix_store_set_session_model (f->store, id, "deepseek-reasoner", &error);
  g_assert_no_error (error);
  entries = peek_all (f->store);
  assert_entry (last_entry (entries), "session.put", id, NULL, helix_session_get_hlc (changed),
                "{\"model\":\"deepseek-reasoner\"}");
  g_clear_pointer (&entries, g_ptr_array_unref);
  g_clear_object (&changed);
  changed = helix_store_set_session_model (f->store, id, NULL, &error);
  g_assert_no_error (error);
  entries = peek_all (f->store);
  assert_entry (last_entry (entries), "session.put", id, NULL, helix_session_get_hlc (changed),
                "{\"model\":\"\"}");
  g_clear_pointer (&entries, g_ptr_array_unref);
  g_clear_object (&changed);

  /* Remote, in order: set, an older op that loses, a newer "" (automatic). */
  apply_one (f->store, &ops[0]);
  session = helix_store_get_session (f->store, S1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_session_get_model (session), ==, "gemini-2.5-pro");
  g_clear_object (&session);

  apply_one (f->store, &ops[1]);
  session = helix_store_get_session (f->store, S1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_session_get_model (session), ==, "gemini-2.5-pro");
  g_clear_object (&session);

  apply_one (f->store, &ops[2]);
  session = helix_store_get_session (f->store, S1, &error);
  g_assert_no_error (error);
  g_assert_null (helix_session_get_model (session));
  g_assert_cmpstr (helix_session_get_title (session), ==, "Remote");
  g_clear_object (&session);

  /* A local pin made now is newer than a remote op from 2023. */
  changed = helix_store_set_session_model (f->store, S1, "claude-sonnet-4-0", &error);
  g_assert_no_error (error);
  g_clear_object (&changed);
  apply_one (f->store, &stale);
  session = helix_store_get_session (f->store, S1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_session_get_model (session), ==, "claude-sonnet-4-0");
  g_clear_object (&session);

  /* A model that is not a string: nothing of the batch is applied. */
  g_assert_false (helix_store_apply_remote (f->store, &bad, 1, 0, &error));
  g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID);
  session = helix_store_get_session (f->store, S1, NULL);
  g_assert_cmpstr (helix_session_get_model (session), ==, "claude-sonnet-4-0");
}

typedef struct
{
  guint messages_added;
  guint sessions_changed;
} Signals;

static void
message_added_cb (HelixStore   *store,
                  HelixMessage *message,
                  Signals      *signals)
{
  signals->messages_added++;
}

static void
session_changed_cb (HelixStore   *store,
                    HelixSession *session,
                    Signals      *signals)
{
  signals->sessions_changed++;
}

static void
test_message_before_session (Fixture       *f,
                             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(HelixSession) local = NULL;
  g_autoptr(HelixMessage) mine = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  Signals signals = { 0 };
  const HelixRemoteOp m1 = {
    5, "0190f3a2-1c00-7000-8000-0000000000d1", "message.put", M1, S1, "1700000000002:0:dev-a",
    "{\"role\":\"user\",\"content\":\"first\",\"status\":\"done\"}"
  };
  const HelixRemoteOp m2 = {
    6, "0190f3a2-1c00-7000-8000-0000000000d2", "message.put", M2, S1, "1700000000003:0:dev-a",
    "{\"role\":\"assistant\",\"content\":\"second\",\"status\":\"done\"}"
  };
  const HelixRemoteOp put = {
    7, "0190f3a2-1c00-7000-8000-0000000000d3", "session.put", S1, NULL, "1700000000001:0:dev-a",
    "{\"title\":\"Late title\"}"
  };
  HelixNewMessage m = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "local reply");

  g_signal_connect (f->store, "message-added", G_CALLBACK (message_added_cb), &signals);
  g_signal_connect (f->store, "session-changed", G_CALLBACK (session_changed_cb), &signals);

  apply_one (f->store, &m1);
  g_assert_cmpuint (signals.messages_added, ==, 1);
  g_assert_cmpuint (signals.sessions_changed, ==, 1);

  session = helix_store_get_session (f->store, S1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_session_get_title (session), ==, "");
  g_assert_cmpuint (helix_session_get_n_messages (session), ==, 1);

  /* Re-applying is a no-op: no second row, no signal for a message. */
  apply_one (f->store, &m1);
  g_assert_cmpuint (signals.messages_added, ==, 1);

  apply_one (f->store, &m2);
  apply_one (f->store, &put);
  g_clear_object (&session);
  session = helix_store_get_session (f->store, S1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_session_get_title (session), ==, "Late title");
  g_assert_cmpuint (helix_session_get_n_messages (session), ==, 2);

  /* Local writes continue at the next dense position, and the local clock is past
   * every remote HLC. */
  mine = helix_store_append_message (f->store, S1, &m, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (helix_message_get_position (mine), ==, 2);
  local = helix_store_rename_session (f->store, S1, "Mine", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (outbox_len (f->store), ==, 2);

  messages = helix_store_get_messages (f->store, S1, 0, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (messages->len, ==, 3);
  g_assert_cmpstr (helix_message_get_content (g_ptr_array_index (messages, 0)), ==, "first");
  g_assert_cmpstr (helix_message_get_content (g_ptr_array_index (messages, 1)), ==, "second");
  g_assert_cmpstr (helix_message_get_content (g_ptr_array_index (messages, 2)), ==, "local reply");
  g_assert_cmpint (helix_store_get_sync_cursor (f->store, NULL), ==, 7);

  /* A remote message is searchable like a local one. */
  {
    g_autoptr(GPtrArray) hits = helix_store_search_messages (f->store, "second", 10, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (hits->len, ==, 1);
  }

  g_signal_handlers_disconnect_by_data (f->store, &signals);
}

static void
test_batch_atomic (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) session = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *future = g_strdup_printf ("%" G_GINT64_FORMAT ":0:dev-z",
                                             g_get_real_time () / 1000 + 3 * 86400 * 1000);
  const HelixRemoteOp ok = {
    1, "0190f3a2-1c00-7000-8000-0000000000c1", "session.put", S1, NULL, "1700000000000:0:dev-a",
    "{\"title\":\"Fine\"}"
  };
  HelixRemoteOp bad_data[] = {
    { 2, "0190f3a2-1c00-7000-8000-0000000000c2", "session.put", S1, NULL,
      "1700000000001:0:dev-a", "{\"title\":\"Changed\"}" },
    { 3, "0190f3a2-1c00-7000-8000-0000000000c3", "message.put", M1, S1,
      "1700000000002:0:dev-a", "{\"role\":\"king\",\"content\":\"x\",\"status\":\"done\"}" },
  };
  /* Valid on its face; the local clock refuses the second op mid-transaction. */
  HelixRemoteOp bad_clock[] = {
    { 2, "0190f3a2-1c00-7000-8000-0000000000c2", "session.put", S1, NULL,
      "1700000000001:0:dev-a", "{\"title\":\"Changed\"}" },
    { 3, "0190f3a2-1c00-7000-8000-0000000000c4", "message.put", M1, S1, future,
      "{\"role\":\"user\",\"content\":\"x\",\"status\":\"done\"}" },
  };

  apply_one (f->store, &ok);
  before = state_hash (f->path);

  g_assert_false (helix_store_apply_remote (f->store, bad_data, G_N_ELEMENTS (bad_data), 0,
                                            &error));
  g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID);
  g_clear_error (&error);

  g_assert_false (helix_store_apply_remote (f->store, bad_clock, G_N_ELEMENTS (bad_clock), 0,
                                            &error));
  g_assert_nonnull (error);
  g_clear_error (&error);

  after = state_hash (f->path);
  g_assert_cmpstr (before, ==, after);
  g_assert_cmpint (helix_store_get_sync_cursor (f->store, NULL), ==, 1);
  session = helix_store_get_session (f->store, S1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_session_get_title (session), ==, "Fine");
  g_assert_cmpuint (helix_session_get_n_messages (session), ==, 0);
}

static void
test_models_follow (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(HelixSessionList) sessions = helix_session_list_new (f->store);
  g_autoptr(HelixMessageList) messages = helix_message_list_new (f->store, S1);
  const HelixRemoteOp ops[] = {
    { 1, "0190f3a2-1c00-7000-8000-0000000000b1", "session.put", S1, NULL,
      "1700000000000:0:dev-a", "{\"title\":\"From afar\"}" },
    { 2, "0190f3a2-1c00-7000-8000-0000000000b2", "message.put", M1, S1,
      "1700000000001:0:dev-a", "{\"role\":\"user\",\"content\":\"hi\",\"status\":\"done\"}" },
  };
  g_autoptr(GError) error = NULL;
  HelixSession *found;

  helix_test_wait_for (!helix_session_list_get_loading (sessions), 10, "session list");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (sessions)), ==, 0);

  g_assert_true (helix_store_apply_remote (f->store, ops, G_N_ELEMENTS (ops), 2, &error));
  g_assert_no_error (error);

  found = helix_session_list_find (sessions, S1, NULL);
  g_assert_nonnull (found);
  g_assert_cmpstr (helix_session_get_title (found), ==, "From afar");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (messages)), ==, 1);
}

typedef struct
{
  guint position;
  guint removed;
  guint added;
} ItemsChanged;

static void
items_changed_cb (GListModel   *model,
                  guint         position,
                  guint         removed,
                  guint         added,
                  ItemsChanged *last)
{
  last->position = position;
  last->removed = removed;
  last->added = added;
}

/* Messages written on two devices while offline take the same order everywhere: by
 * the HLC of their first put. One that sorts before messages already here is
 * inserted, and the list model says what moved. */
static void
test_message_order (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(HelixMessageList) list = helix_message_list_new (f->store, S1);
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GError) error = NULL;
  ItemsChanged changed = { 0 };
  const HelixRemoteOp early = {
    3, "0190f3a2-1c00-7000-8000-0000000000e3", "message.put", M2, S1, "1700000000002:0:dev-b",
    "{\"role\":\"user\",\"content\":\"written between\",\"status\":\"done\"}"
  };
  const HelixRemoteOp ops[] = {
    { 1, "0190f3a2-1c00-7000-8000-0000000000e1", "session.put", S1, NULL,
      "1700000000000:0:dev-a", "{\"title\":\"Order\"}" },
    { 2, "0190f3a2-1c00-7000-8000-0000000000e2", "message.put", M1, S1,
      "1700000000001:0:dev-a", "{\"role\":\"user\",\"content\":\"oldest\",\"status\":\"done\"}" },
    { 4, "0190f3a2-1c00-7000-8000-0000000000e4", "message.put", M3, S1,
      "1700000000003:0:dev-a", "{\"role\":\"user\",\"content\":\"newest\",\"status\":\"done\"}" },
  };

  g_assert_true (helix_store_apply_remote (f->store, ops, G_N_ELEMENTS (ops), 0, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (list)), ==, 2);
  /* Load the page, so that the insert must drop it. */
  g_object_unref (g_list_model_get_item (G_LIST_MODEL (list), 1));

  g_signal_connect (list, "items-changed", G_CALLBACK (items_changed_cb), &changed);
  g_assert_true (helix_store_apply_remote (f->store, &early, 1, 0, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (changed.position, ==, 1);
  g_assert_cmpuint (changed.removed, ==, 1);
  g_assert_cmpuint (changed.added, ==, 2);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (list)), ==, 3);

  messages = helix_store_get_messages (f->store, S1, 0, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (messages->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      const char *expected[] = { "oldest", "written between", "newest" };
      g_autoptr(HelixMessage) item = g_list_model_get_item (G_LIST_MODEL (list), i);

      g_assert_cmpstr (helix_message_get_content (g_ptr_array_index (messages, i)), ==, expected[i]);
      g_assert_cmpuint (helix_message_get_position (g_ptr_array_index (messages, i)), ==, i);
      g_assert_cmpstr (helix_message_get_content (item), ==, expected[i]);
    }
  g_signal_handlers_disconnect_by_data (list, &changed);
}

/* Convergence through a simulated gateway {{{1 */

typedef struct
{
  GPtrArray *log;   /* HelixSyncOp with seq */
  gint64     head;
} Gateway;

/* Sends @store every op after its cursor, as the gateway's backlog would. */
static void
gateway_pull (Gateway    *g,
              HelixStore *store)
{
  g_autoptr(GError) error = NULL;
  gint64 cursor = helix_store_get_sync_cursor (store, &error);
  guint first = 0;

  g_assert_no_error (error);
  while (first < g->log->len && helix_sync_op_get_seq (g_ptr_array_index (g->log, first)) <= cursor)
    first++;

  while (first < g->log->len)
    {
      guint n = MIN (g->log->len - first, 3);
      HelixSyncOp * const *page = (HelixSyncOp * const *) g->log->pdata + first;
      g_autofree char *text = helix_sync_frame_build_ops (page, n);

      g_assert_true (helix_sync_replica_apply_frame (store, text, strlen (text), &error));
      g_assert_no_error (error);
      first += n;
    }
}

/* Takes @store's pending ops, stores them under new seqs and acknowledges them. */
static void
gateway_push (Gateway    *g,
              HelixStore *store)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSyncFrame) frame = NULL;
  g_autofree char *text = NULL;
  g_autofree char *ack = NULL;
  g_autofree HelixSyncAck *acks = NULL;
  GPtrArray *ops;

  /* Everything stored before must reach the device before its ack. */
  gateway_pull (g, store);

  text = helix_sync_replica_build_push (store, 4, NULL, &error);
  g_assert_no_error (error);
  if (text == NULL)
    return;

  frame = helix_sync_frame_parse (text, strlen (text), &error);
  g_assert_no_error (error);
  g_assert_cmpint (helix_sync_frame_get_kind (frame), ==, HELIX_SYNC_FRAME_PUSH);
  ops = helix_sync_frame_get_ops (frame);
  acks = g_new0 (HelixSyncAck, ops->len);
  for (guint i = 0; i < ops->len; i++)
    {
      HelixSyncOp *op = g_ptr_array_index (ops, i);

      g->head++;
      g_ptr_array_add (g->log, helix_sync_op_dup_with_seq (op, g->head));
      g_strlcpy (acks[i].op, helix_sync_op_get_op_id (op), sizeof acks[i].op);
      acks[i].seq = g->head;
    }

  ack = helix_sync_frame_build_ack (acks, ops->len);
  g_assert_true (helix_sync_replica_apply_frame (store, ack, strlen (ack), &error));
  g_assert_no_error (error);
}

static HelixStore *
open_store (const char *path)
{
  g_autoptr(GError) error = NULL;
  HelixStore *store = helix_store_open (path, &error);

  g_assert_no_error (error);

  return store;
}

static void
append_text (HelixStore *store,
             const char *session_id,
             const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixMessage) message = NULL;
  HelixNewMessage m = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, text);

  m.model = "model-x";
  m.tokens_in = 5;
  m.cost = 0.125;
  message = helix_store_append_message (store, session_id, &m, &error);
  g_assert_no_error (error);
}

static void
set_flag (HelixStore       *store,
          const char       *session_id,
          HelixSessionFlag  flag,
          gboolean          value)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) session = NULL;

  session = helix_store_set_session_flag (store, session_id, flag, value, &error);

  g_assert_no_error (error);
}

static void
rename_to (HelixStore *store,
           const char *session_id,
           const char *title,
           char      **hlc)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) session = helix_store_rename_session (store, session_id, title, &error);

  g_assert_no_error (error);
  if (hlc != NULL)
    *hlc = g_strdup (helix_session_get_hlc (session));
}

static void
test_convergence (Fixture       *f,
                  gconstpointer  data)
{
  for (guint seed = 1; seed <= 8; seed++)
    {
      g_autofree char *path_a = g_strdup_printf ("%s/a-%u.db", f->dir, seed);
      g_autofree char *path_b = g_strdup_printf ("%s/b-%u.db", f->dir, seed);
      g_autoptr(HelixStore) a = open_store (path_a);
      g_autoptr(HelixStore) b = open_store (path_b);
      g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
      g_autoptr(GError) error = NULL;
      g_autoptr(HelixSession) s1 = NULL;
      g_autoptr(HelixSession) s2 = NULL;
      g_autoptr(HelixSession) s3 = NULL;
      g_autoptr(HelixSession) final_a = NULL;
      g_autofree char *hlc_a = NULL;
      g_autofree char *hlc_b = NULL;
      g_autofree char *hash_a = NULL;
      g_autofree char *hash_b = NULL;
      Gateway g = { g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref), 0 };
      HelixHlc parsed_a, parsed_b;
      HelixStore *stores[2];
      const char *id1;

      stores[0] = a;
      stores[1] = b;

      /* A starts a chat, and B gets it. */
      s1 = helix_store_create_session (a, "Shared", &error);
      g_assert_no_error (error);
      id1 = helix_session_get_id (s1);
      append_text (a, id1, "from A, first");
      gateway_push (&g, a);
      gateway_pull (&g, b);

      /* Both change things offline, the same title included. */
      rename_to (b, id1, "Title from B", &hlc_b);
      rename_to (a, id1, "Title from A", &hlc_a);
      append_text (b, id1, "from B");
      append_text (a, id1, "from A, second");
      set_flag (b, id1, HELIX_SESSION_FLAG_PINNED, TRUE);
      set_flag (a, id1, HELIX_SESSION_FLAG_ARCHIVED, TRUE);
      s2 = helix_store_create_session (a, "Only A", &error);
      g_assert_no_error (error);
      append_text (a, helix_session_get_id (s2), "A2");
      s3 = helix_store_create_session (b, "B, then gone", &error);
      g_assert_no_error (error);
      append_text (b, helix_session_get_id (s3), "B3");
      set_flag (b, helix_session_get_id (s3), HELIX_SESSION_FLAG_DELETED, TRUE);

      /* The gateway takes pushes and sends backlogs in a random interleaving, with
       * more local changes in between. */
      for (guint step = 0; step < 12; step++)
        {
          HelixStore *store = stores[g_rand_int_range (rand, 0, 2)];

          switch (g_rand_int_range (rand, 0, 3))
            {
            case 0:
              gateway_push (&g, store);
              break;
            case 1:
              gateway_pull (&g, store);
              break;
            default:
              append_text (store, id1, store == a ? "A more" : "B more");
              break;
            }
        }

      for (guint round = 0; round < 3; round++)
        for (guint i = 0; i < 2; i++)
          gateway_push (&g, stores[i]);
      for (guint i = 0; i < 2; i++)
        gateway_pull (&g, stores[i]);

      g_assert_cmpuint (outbox_len (a), ==, 0);
      g_assert_cmpuint (outbox_len (b), ==, 0);
      g_assert_cmpint (helix_store_get_sync_cursor (a, NULL), ==, g.head);
      g_assert_cmpint (helix_store_get_sync_cursor (b, NULL), ==, g.head);

      hash_a = state_hash (path_a);
      hash_b = state_hash (path_b);
      g_assert_cmpstr (hash_a, ==, hash_b);

      /* The rename with the greater HLC won on both. */
      g_assert_true (helix_hlc_parse (hlc_a, &parsed_a, NULL));
      g_assert_true (helix_hlc_parse (hlc_b, &parsed_b, NULL));
      final_a = helix_store_get_session (a, id1, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (helix_session_get_title (final_a), ==,
                       helix_hlc_compare (&parsed_a, &parsed_b) > 0 ? "Title from A"
                                                                    : "Title from B");
      g_assert_true (helix_session_get_pinned (final_a));
      g_assert_true (helix_session_get_archived (final_a));

      helix_store_close (a);
      helix_store_close (b);
      g_ptr_array_unref (g.log);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/helix/store/sync/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  g_test_add ("/helix/store/sync/message-order", Fixture, NULL, fixture_setup, test_message_order,
              fixture_teardown);
  g_test_add ("/helix/store/sync/migrate-backfill", Fixture, GINT_TO_POINTER (1), fixture_setup,
              test_migrate_backfill, fixture_teardown);
  ADD ("outbox/local-writes", test_outbox_local_writes);
  ADD ("outbox/refused-write", test_outbox_duplicate_refused);
  ADD ("outbox/ack-cursor", test_ack_and_cursor);
  ADD ("remote/lww-any-order", test_lww_any_order);
  ADD ("remote/tombstone", test_tombstone);
  ADD ("remote/session-model", test_session_model);
  ADD ("remote/message-before-session", test_message_before_session);
  ADD ("remote/batch-atomic", test_batch_atomic);
  ADD ("remote/models-follow", test_models_follow);
  ADD ("convergence", test_convergence);

#undef ADD

  return g_test_run ();
}
