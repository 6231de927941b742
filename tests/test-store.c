/* test-store.c: the SQLite store
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <sqlite3.h>
#include <string.h>

#include "helix-core.h"
#include "helix-db.h"
#include "helix-store-private.h"
#include "helix-test-sqlite.h"
#include "helix-test-util.h"

typedef struct
{
  char       *dir;
  char       *path;
  HelixStore *store;
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("helix-store-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "sub", "dir", "helix.db", NULL);

  if (GPOINTER_TO_INT (data))
    {
      f->store = helix_store_open (f->path, &error);
      g_assert_no_error (error);
      g_assert_nonnull (f->store);
    }
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



static void
test_store_create (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_test (f->path, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpuint (helix_store_get_schema_version (f->store), ==,
                    helix_store_get_latest_schema_version ());
  g_assert_cmpuint (helix_store_get_latest_schema_version (), >=, 2);
  g_assert_true (helix_store_check (f->store, &error));
  g_assert_no_error (error);
  g_assert_true (helix_uuid_is_valid (helix_store_get_device_id (f->store)) ||
                 g_uuid_string_is_valid (helix_store_get_device_id (f->store)));

  g_assert_cmpint (helix_test_sqlite_query_int (f->path, "PRAGMA user_version"), ==,
                   helix_store_get_latest_schema_version ());
  g_assert_cmpint (helix_test_sqlite_query_int (f->path, "PRAGMA application_id"), ==, HELIX_STORE_APPLICATION_ID);
  g_assert_cmpint (helix_test_sqlite_query_int (f->path, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), ==, 1);
  g_assert_cmpint (helix_test_sqlite_query_int (f->path, "SELECT count(*) FROM sqlite_schema WHERE name = 'messages_fts'"), ==, 1);
}

static void
test_store_reopen_keeps_device (Fixture       *f,
                                gconstpointer  data)
{
  g_autofree char *device = g_strdup (helix_store_get_device_id (f->store));
  g_autoptr(HelixStore) again = NULL;
  g_autoptr(GError) error = NULL;

  helix_store_close (f->store);
  g_clear_object (&f->store);

  again = helix_store_open (f->path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_store_get_device_id (again), ==, device);
}

/* Walks a database through every migration, one at a time, with data in it. */
static void
test_store_upgrade (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) hits = NULL;
  g_autoptr(GPtrArray) sessions = NULL;
  g_autofree guint *versions = NULL;
  guint n = _helix_store_list_migrations (&versions);

  g_assert_cmpuint (n, ==, helix_store_get_latest_schema_version ());
  for (guint i = 0; i < n; i++)
    g_assert_cmpuint (versions[i], ==, i + 1);

  /* Schema 1 only, with a session and a message written by "an old Helix". */
  g_assert_true (_helix_store_create_at_version (f->path, 1, &error));
  g_assert_no_error (error);
  g_assert_cmpint (helix_test_sqlite_query_int (f->path, "PRAGMA user_version"), ==, 1);
  helix_test_sqlite_exec (f->path,
               "INSERT INTO sessions (uuid, title, created_us, updated_us, hlc) VALUES "
               "('0190a0b2-7c3d-7000-8000-000000000001', 'Old chat', 1, 1, '1:0:old');"
               "INSERT INTO messages (uuid, session, position, role, content, created_us, hlc) VALUES "
               "('0190a0b2-7c3d-7000-8000-000000000002', 1, 0, 'user', 'an elephant remembers', 1, '1:1:old');"
               "UPDATE sessions SET n_messages = 1;");

  for (guint v = 2; v <= n; v++)
    {
      g_assert_true (_helix_store_create_at_version (f->path, v, &error));
      g_assert_no_error (error);
      g_assert_cmpint (helix_test_sqlite_query_int (f->path, "PRAGMA user_version"), ==, v);
    }

  f->store = helix_store_open (f->path, &error);
  g_assert_no_error (error);

  /* What schema 1 held is searchable after the upgrade. */
  hits = helix_store_search_messages (f->store, "elephant", 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hits->len, ==, 1);
  sessions = helix_store_list_sessions (f->store, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sessions->len, ==, 1);
  g_assert_cmpstr (helix_session_get_title (sessions->pdata[0]), ==, "Old chat");
}

/* A database of the schema before the pinned model (3) opens with every session on
 * automatic, and takes a pinned model afterwards. */
static void
test_store_upgrade_session_model (Fixture       *f,
                                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(HelixSession) changed = NULL;
  const char *id = "0190a0b2-7c3d-7000-8000-000000000001";

  g_assert_cmpuint (helix_store_get_latest_schema_version (), ==, 4);
  g_assert_true (_helix_store_create_at_version (f->path, 3, &error));
  g_assert_no_error (error);
  helix_test_sqlite_exec (f->path,
               "INSERT INTO sessions (uuid, title, created_us, updated_us, hlc, title_hlc, "
               "  pinned_hlc, archived_hlc) VALUES "
               "('0190a0b2-7c3d-7000-8000-000000000001', 'Old chat', 1, 1, '1:0:old', "
               "  '1:0:old', '1:0:old', '1:0:old');");
  g_assert_cmpint (helix_test_sqlite_query_int (f->path,
                   "SELECT count(*) FROM pragma_table_info('sessions') WHERE name = 'model'"),
                   ==, 0);

  f->store = helix_store_open (f->path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (helix_store_get_schema_version (f->store), ==, 4);

  session = helix_store_get_session (f->store, id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_session_get_title (session), ==, "Old chat");
  g_assert_null (helix_session_get_model (session));
  g_assert_cmpint (helix_test_sqlite_query_int (f->path,
                   "SELECT count(*) FROM sessions WHERE model IS NULL AND model_hlc IS NULL"),
                   ==, 1);

  changed = helix_store_set_session_model (f->store, id, "deepseek-reasoner", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_session_get_model (changed), ==, "deepseek-reasoner");
  g_assert_cmpint (helix_test_sqlite_query_int (f->path,
                   "SELECT count(*) FROM sessions WHERE model = 'deepseek-reasoner' "
                   "AND model_hlc = hlc"), ==, 1);
}

/* A pinned model is stored, listed, kept across a restart and unpinned by NULL or "";
 * bad input is refused. */
static void
test_store_session_model (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(HelixSession) changed = NULL;
  g_autoptr(HelixSession) again = NULL;
  g_autoptr(GPtrArray) sessions = NULL;
  g_autofree char *id = NULL;
  g_autofree char *too_long = g_strnfill (HELIX_STORE_MODEL_MAX_BYTES + 1, 'm');

  session = helix_store_create_session (f->store, "Pinned", &error);
  g_assert_no_error (error);
  id = g_strdup (helix_session_get_id (session));
  g_assert_null (helix_session_get_model (session));

  changed = helix_store_set_session_model (f->store, id, "deepseek-reasoner", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_session_get_model (changed), ==, "deepseek-reasoner");
  g_assert_cmpstr (helix_session_get_title (changed), ==, "Pinned");
  g_clear_object (&changed);

  sessions = helix_store_list_sessions (f->store, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sessions->len, ==, 1);
  g_assert_cmpstr (helix_session_get_model (sessions->pdata[0]), ==, "deepseek-reasoner");

  /* Kept across a restart. */
  helix_store_close (f->store);
  helix_test_assert_finalized (g_steal_pointer (&f->store));
  f->store = helix_store_open (f->path, &error);
  g_assert_no_error (error);
  again = helix_store_get_session (f->store, id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_session_get_model (again), ==, "deepseek-reasoner");
  g_clear_object (&again);

  /* "" and NULL both mean automatic. */
  changed = helix_store_set_session_model (f->store, id, "", &error);
  g_assert_no_error (error);
  g_assert_null (helix_session_get_model (changed));
  g_clear_object (&changed);
  changed = helix_store_set_session_model (f->store, id, "gemini-2.5-pro", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_session_get_model (changed), ==, "gemini-2.5-pro");
  g_clear_object (&changed);
  changed = helix_store_set_session_model (f->store, id, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (helix_session_get_model (changed));
  g_clear_object (&changed);

  /* Refused: too long, not UTF-8, an unknown or malformed session. */
  g_assert_null (helix_store_set_session_model (f->store, id, too_long, &error));
  g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (helix_store_set_session_model (f->store, id, "bad \xff model", &error));
  g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (helix_store_set_session_model (f->store, "0190a0b2-7c3d-7000-8000-00000000dead",
                                                "deepseek-chat", &error));
  g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (helix_store_set_session_model (f->store, "not-a-uuid", "deepseek-chat", &error));
  g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID);
  g_clear_error (&error);

  again = helix_store_get_session (f->store, id, &error);
  g_assert_no_error (error);
  g_assert_null (helix_session_get_model (again));
}

static GBytes *
read_file (const char *path)
{
  g_autoptr(GError) error = NULL;
  char *contents = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (path, &contents, &len, &error));
  g_assert_no_error (error);

  return g_bytes_new_take (contents, len);
}

static void
assert_refused_untouched (const char      *path,
                          HelixStoreError  code)
{
  g_autoptr(GBytes) before = read_file (path);
  g_autoptr(GBytes) after = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixStore) store = NULL;
  g_autofree char *wal = g_strconcat (path, "-wal", NULL);
  g_autofree char *journal = g_strconcat (path, "-journal", NULL);
  gboolean had_wal = g_file_test (wal, G_FILE_TEST_EXISTS);

  store = helix_store_open (path, &error);
  g_assert_null (store);
  g_assert_error (error, HELIX_STORE_ERROR, code);
  g_assert_nonnull (strstr (error->message, path));
  g_test_message ("Refused as expected: %s", error->message);

  after = read_file (path);
  g_assert_true (g_bytes_equal (before, after));
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  g_assert_false (g_file_test (journal, G_FILE_TEST_EXISTS));
  if (!had_wal)
    g_assert_false (g_file_test (wal, G_FILE_TEST_EXISTS));
}

static void
test_store_refuse_newer (Fixture       *f,
                         gconstpointer  data)
{
  g_autofree char *sql = g_strdup_printf ("PRAGMA user_version = %u",
                                          helix_store_get_latest_schema_version () + 1);

  helix_store_close (f->store);
  g_clear_object (&f->store);
  helix_test_sqlite_exec (f->path, "PRAGMA journal_mode = DELETE");
  helix_test_sqlite_exec (f->path, sql);

  assert_refused_untouched (f->path, HELIX_STORE_ERROR_TOO_NEW);
}

static void
test_store_refuse_corrupt (Fixture       *f,
                           gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *db_dir = g_path_get_dirname (f->path);
  guint8 garbage[8192];

  g_assert_true (g_mkdir_with_parents (db_dir, 0700) == 0);

  /* Not SQLite at all. */
  g_assert_true (g_file_set_contents (f->path, "{\"this\": \"is JSON\"}\n", -1, &error));
  assert_refused_untouched (f->path, HELIX_STORE_ERROR_NOT_A_DATABASE);

  /* Random bytes. */
  for (guint i = 0; i < sizeof garbage; i++)
    garbage[i] = (guint8) g_test_rand_int ();
  g_assert_true (g_file_set_contents (f->path, (char *) garbage, sizeof garbage, &error));
  assert_refused_untouched (f->path, HELIX_STORE_ERROR_NOT_A_DATABASE);

  /* SQLite's magic followed by garbage: a damaged header. */
  memcpy (garbage, "SQLite format 3", 16);
  g_assert_true (g_file_set_contents (f->path, (char *) garbage, sizeof garbage, &error));
  assert_refused_untouched (f->path, HELIX_STORE_ERROR_NOT_A_DATABASE);
}

static void
test_store_refuse_corrupt_pages (Fixture       *f,
                                 gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autofree guint8 *copy = NULL;
  gsize len;

  helix_store_close (f->store);
  g_clear_object (&f->store);
  helix_test_sqlite_exec (f->path, "PRAGMA journal_mode = DELETE");

  /* Keep the 100-byte header and trash the schema page behind it. */
  bytes = read_file (f->path);
  copy = g_memdup2 (g_bytes_get_data (bytes, &len), g_bytes_get_size (bytes));
  for (gsize i = 100; i < MIN (len, 4096); i++)
    copy[i] = (guint8) (i * 7 + 13);
  g_assert_true (g_file_set_contents (f->path, (char *) copy, len, &error));

  assert_refused_untouched (f->path, HELIX_STORE_ERROR_CORRUPT);
}

static void
test_store_refuse_foreign (Fixture       *f,
                           gconstpointer  data)
{
  g_autofree char *db_dir = g_path_get_dirname (f->path);

  g_assert_true (g_mkdir_with_parents (db_dir, 0700) == 0);
  helix_test_sqlite_exec (f->path, "CREATE TABLE contacts (name TEXT)");

  assert_refused_untouched (f->path, HELIX_STORE_ERROR_NOT_A_DATABASE);
}

static void
test_store_sessions (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) a = NULL;
  g_autoptr(HelixSession) b = NULL;
  g_autoptr(HelixSession) changed = NULL;
  g_autoptr(GPtrArray) list = NULL;
  g_autofree char *long_title = g_strnfill (HELIX_STORE_TITLE_MAX_BYTES + 1, 'x');

  a = helix_store_create_session (f->store, "  First\nchat  ", &error);
  g_assert_no_error (error);
  g_assert_true (helix_uuid_is_valid (helix_session_get_id (a)));
  g_assert_cmpstr (helix_session_get_title (a), ==, "First chat");
  g_assert_false (helix_session_get_pinned (a));
  g_assert_cmpuint (helix_session_get_n_messages (a), ==, 0);

  b = helix_store_create_session (f->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_session_get_title (b), ==, "");

  changed = helix_store_rename_session (f->store, helix_session_get_id (b), "Second", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_session_get_title (changed), ==, "Second");
  g_clear_object (&changed);

  /* Pinned first, then most recent. */
  changed = helix_store_set_session_flag (f->store, helix_session_get_id (a),
                                          HELIX_SESSION_FLAG_PINNED, TRUE, &error);
  g_assert_no_error (error);
  g_assert_true (helix_session_get_pinned (changed));
  g_clear_object (&changed);
  list = helix_store_list_sessions (f->store, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 2);
  g_assert_cmpstr (helix_session_get_id (list->pdata[0]), ==, helix_session_get_id (a));
  g_clear_pointer (&list, g_ptr_array_unref);

  /* Archived sessions are listed only on request. */
  changed = helix_store_set_session_flag (f->store, helix_session_get_id (b),
                                          HELIX_SESSION_FLAG_ARCHIVED, TRUE, &error);
  g_assert_no_error (error);
  g_clear_object (&changed);
  list = helix_store_list_sessions (f->store, FALSE, &error);
  g_assert_cmpuint (list->len, ==, 1);
  g_clear_pointer (&list, g_ptr_array_unref);
  list = helix_store_list_sessions (f->store, TRUE, &error);
  g_assert_cmpuint (list->len, ==, 2);
  g_clear_pointer (&list, g_ptr_array_unref);

  /* Bad input is refused with a clear error and changes nothing. */
  g_assert_null (helix_store_create_session (f->store, long_title, &error));
  g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (helix_store_create_session (f->store, "bad \xff utf8", &error));
  g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (helix_store_rename_session (f->store, "not-a-uuid", "x", &error));
  g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (helix_store_rename_session (f->store, "0190a0b2-7c3d-7000-8000-000000000000", "x", &error));
  g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  list = helix_store_list_sessions (f->store, TRUE, &error);
  g_assert_cmpuint (list->len, ==, 2);
}

static void
test_store_tombstones (Fixture       *f,
                       gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) s = helix_store_create_session (f->store, "Doomed", &error);
  g_autoptr(HelixSession) deleted = NULL;
  g_autoptr(HelixSession) restored = NULL;
  g_autoptr(HelixSession) fetched = NULL;
  g_autoptr(HelixMessage) m = NULL;
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GPtrArray) hits = NULL;
  HelixNewMessage nm = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "zebra crossing");

  m = helix_store_append_message (f->store, helix_session_get_id (s), &nm, &error);
  g_assert_no_error (error);

  deleted = helix_store_set_session_flag (f->store, helix_session_get_id (s),
                                          HELIX_SESSION_FLAG_DELETED, TRUE, &error);
  g_assert_no_error (error);
  g_assert_true (helix_session_get_deleted (deleted));
  g_assert_cmpstr (helix_session_get_hlc (deleted), !=, helix_session_get_hlc (s));

  /* A tombstone: hidden from lists and search, but still there. */
  list = helix_store_list_sessions (f->store, TRUE, &error);
  g_assert_cmpuint (list->len, ==, 0);
  hits = helix_store_search_messages (f->store, "zebra", 10, &error);
  g_assert_cmpuint (hits->len, ==, 0);
  g_clear_pointer (&hits, g_ptr_array_unref);
  fetched = helix_store_get_session (f->store, helix_session_get_id (s), &error);
  g_assert_no_error (error);
  g_assert_true (helix_session_get_deleted (fetched));
  g_assert_cmpint (helix_test_sqlite_query_int (f->path, "SELECT count(*) FROM messages"), ==, 1);

  /* Undo. */
  restored = helix_store_set_session_flag (f->store, helix_session_get_id (s),
                                           HELIX_SESSION_FLAG_DELETED, FALSE, &error);
  g_assert_no_error (error);
  g_assert_false (helix_session_get_deleted (restored));
  hits = helix_store_search_messages (f->store, "zebra", 10, &error);
  g_assert_cmpuint (hits->len, ==, 1);
}

static void
test_store_messages (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) s = helix_store_create_session (f->store, "Chat", &error);
  g_autoptr(HelixSession) after = NULL;
  g_autoptr(HelixMessage) got = NULL;
  g_autoptr(GPtrArray) page = NULL;
  const char *sid = helix_session_get_id (s);
  g_autofree char *huge = g_strnfill (HELIX_STORE_CONTENT_MAX_BYTES + 1, 'a');
  g_autofree char *first_id = NULL;

  for (guint i = 0; i < 10; i++)
    {
      g_autofree char *text = g_strdup_printf ("message number %u", i);
      HelixNewMessage nm = HELIX_NEW_MESSAGE_INIT (i % 2 ? HELIX_MESSAGE_ROLE_ASSISTANT : HELIX_MESSAGE_ROLE_USER, text);
      g_autoptr(HelixMessage) m = NULL;

      if (i % 2)
        {
          nm.model = "deepseek-chat";
          nm.provider = "deepseek";
          nm.tokens_in = 12;
          nm.tokens_out = 34;
          nm.cost = 0.0001;
          nm.metadata = "{\"reason\":\"cheapest\"}";
        }
      m = helix_store_append_message (f->store, sid, &nm, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (helix_message_get_position (m), ==, i);
      g_assert_cmpstr (helix_message_get_content (m), ==, text);
      g_assert_cmpstr (helix_message_get_session_id (m), ==, sid);
      if (i == 0)
        first_id = g_strdup (helix_message_get_id (m));
    }

  g_assert_cmpuint (helix_store_count_messages (f->store, sid, &error), ==, 10);
  after = helix_store_get_session (f->store, sid, &error);
  g_assert_cmpint (helix_session_get_updated_us (after), >=, helix_session_get_updated_us (s));

  page = helix_store_get_messages (f->store, sid, 8, 5, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (page->len, ==, 2);
  g_assert_cmpstr (helix_message_get_content (page->pdata[0]), ==, "message number 8");
  g_assert_cmpint (helix_message_get_role (page->pdata[1]), ==, HELIX_MESSAGE_ROLE_ASSISTANT);
  g_assert_cmpstr (helix_message_get_model (page->pdata[1]), ==, "deepseek-chat");
  g_assert_cmpint (helix_message_get_tokens_out (page->pdata[1]), ==, 34);
  g_assert_cmpfloat_with_epsilon (helix_message_get_cost (page->pdata[1]), 0.0001, 1e-12);
  g_assert_cmpstr (helix_message_get_metadata (page->pdata[1]), ==, "{\"reason\":\"cheapest\"}");

  got = helix_store_get_message (f->store, first_id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_message_get_content (got), ==, "message number 0");
  g_assert_cmpint (helix_message_get_tokens_in (got), ==, -1);

  /* Refusals. */
  {
    HelixNewMessage big = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, huge);
    HelixNewMessage bad_utf8 = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "a\xc3\x28");
    HelixNewMessage bad_json = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "ok");
    HelixNewMessage dup = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "again");

    bad_json.metadata = "{not json";
    dup.id = first_id;

    g_assert_null (helix_store_append_message (f->store, sid, &big, &error));
    g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID);
    g_clear_error (&error);
    g_assert_null (helix_store_append_message (f->store, sid, &bad_utf8, &error));
    g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID);
    g_clear_error (&error);
    g_assert_null (helix_store_append_message (f->store, sid, &bad_json, &error));
    g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID);
    g_clear_error (&error);
    g_assert_null (helix_store_append_message (f->store, sid, &dup, &error));
    g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID);
    g_clear_error (&error);
    bad_json.metadata = NULL;
    g_assert_null (helix_store_append_message (f->store, "0190a0b2-7c3d-7000-8000-000000000000", &bad_json, &error));
    g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_NOT_FOUND);
    g_clear_error (&error);
  }

  /* Nothing of the refused writes stuck, and positions stayed dense. */
  g_assert_cmpuint (helix_store_count_messages (f->store, sid, &error), ==, 10);
  g_assert_cmpint (helix_test_sqlite_query_int (f->path, "SELECT count(*) FROM messages"), ==, 10);
  g_assert_cmpint (helix_test_sqlite_query_int (f->path, "SELECT max(position) FROM messages"), ==, 9);
}

static void
test_store_import (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) s = helix_store_create_session (f->store, "Imported", &error);
  g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  g_autofree HelixNewMessage *batch = g_new0 (HelixNewMessage, 500);
  g_autoptr(GPtrArray) hits = NULL;

  for (guint i = 0; i < 500; i++)
    {
      g_ptr_array_add (texts, g_strdup_printf ("imported line %u %s", i, i == 250 ? "needle" : "hay"));
      batch[i] = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, texts->pdata[i]);
    }

  g_assert_true (helix_store_import_messages (f->store, helix_session_get_id (s), batch, 500, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (helix_store_count_messages (f->store, helix_session_get_id (s), NULL), ==, 500);

  hits = helix_store_search_messages (f->store, "needle", 10, &error);
  g_assert_cmpuint (hits->len, ==, 1);
  g_assert_cmpuint (helix_message_get_position (hits->pdata[0]), ==, 250);

  /* All or nothing: one bad message in a batch stores none of it. */
  batch[499].content = "bad \xff";
  g_assert_false (helix_store_import_messages (f->store, helix_session_get_id (s), batch, 500, &error));
  g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID);
  g_assert_cmpuint (helix_store_count_messages (f->store, helix_session_get_id (s), NULL), ==, 500);
}

static void
test_store_fts_query (void)
{
  static const struct { const char *text; gboolean prefix; const char *query; } cases[] = {
    { "hello", FALSE, "\"hello\"" },
    { "hello wor", TRUE, "\"hello\" \"wor\"*" },
    { "don't \"stop\" NEAR(a b)", FALSE, "\"don\" \"t\" \"stop\" \"NEAR\" \"a\" \"b\"" },
    { "pastéis", FALSE, "\"pastéis\"" },
    { "  -- * ^ ", TRUE, NULL },
    { "", TRUE, NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *query = helix_db_fts_query (cases[i].text, cases[i].prefix);
      g_assert_cmpstr (query, ==, cases[i].query);
    }
}

static void
test_store_search (Fixture       *f,
                   gconstpointer  data)
{
  static const char * const nasty[] = {
    "\"", "\"\"", "AND", "OR NOT", "NEAR(a b)", "*", "a*b", "col:val", "^start", "( )", "'; DROP TABLE messages; --",
    "", "   ", "-", "{}", "\\", "%", "_",
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) s1 = helix_store_create_session (f->store, "Trip to Lisbon", &error);
  g_autoptr(HelixSession) s2 = helix_store_create_session (f->store, "Recipes", &error);
  g_autoptr(GPtrArray) hits = NULL;
  g_autoptr(HelixMessage) m1 = NULL;
  g_autoptr(HelixMessage) m2 = NULL;
  g_autoptr(HelixMessage) m3 = NULL;
  HelixNewMessage a = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "Where can I eat pastéis de nata?");
  HelixNewMessage b = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "How do I bake pastel de nata at home");
  HelixNewMessage c = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_ASSISTANT, "Preheat the oven to 250 °C.");
  g_autofree char *too_long = g_strnfill (HELIX_STORE_SEARCH_MAX_BYTES + 1, 'q');

  m1 = helix_store_append_message (f->store, helix_session_get_id (s1), &a, &error);
  m2 = helix_store_append_message (f->store, helix_session_get_id (s2), &b, &error);
  m3 = helix_store_append_message (f->store, helix_session_get_id (s2), &c, &error);
  g_assert_no_error (error);

  /* Newest first; diacritics folded; every word must match. */
  hits = helix_store_search_messages (f->store, "nata", 50, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hits->len, ==, 2);
  g_assert_cmpstr (helix_message_get_id (hits->pdata[0]), ==, helix_message_get_id (m2));
  g_clear_pointer (&hits, g_ptr_array_unref);

  hits = helix_store_search_messages (f->store, "pasteis", 50, &error);
  g_assert_cmpuint (hits->len, ==, 1);
  g_clear_pointer (&hits, g_ptr_array_unref);

  hits = helix_store_search_messages (f->store, "bake nata", 50, &error);
  g_assert_cmpuint (hits->len, ==, 1);
  g_assert_cmpstr (helix_message_get_id (hits->pdata[0]), ==, helix_message_get_id (m2));
  g_clear_pointer (&hits, g_ptr_array_unref);

  hits = helix_store_search_messages (f->store, "oven nata", 50, &error);
  g_assert_cmpuint (hits->len, ==, 0);
  g_clear_pointer (&hits, g_ptr_array_unref);

  /* Whatever the user types, the query parses. */
  for (guint i = 0; i < G_N_ELEMENTS (nasty); i++)
    {
      hits = helix_store_search_messages (f->store, nasty[i], 50, &error);
      g_assert_no_error (error);
      g_assert_nonnull (hits);
      g_clear_pointer (&hits, g_ptr_array_unref);
    }

  g_assert_null (helix_store_search_messages (f->store, too_long, 50, &error));
  g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID);
  g_clear_error (&error);

  /* A renamed title is searchable under its new name only. */
  g_clear_object (&s1);
  s1 = helix_store_rename_session (f->store, helix_session_get_id (s2), "Baking", &error);
  g_assert_no_error (error);
  g_assert_cmpint (helix_test_sqlite_query_int (f->path, "SELECT count(*) FROM sessions_fts WHERE sessions_fts MATCH 'recipes'"), ==, 0);
  g_assert_cmpint (helix_test_sqlite_query_int (f->path, "SELECT count(*) FROM sessions_fts WHERE sessions_fts MATCH 'baking'"), ==, 1);
  g_assert_cmpint (helix_test_sqlite_query_int (f->path, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'oven'"), ==, 1);
  helix_test_sqlite_exec (f->path, "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)");
  helix_test_sqlite_exec (f->path, "INSERT INTO sessions_fts (sessions_fts, rank) VALUES ('integrity-check', 1)");
}

static gint64
fts_count (const char *path,
           const char *word)
{
  g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH '%s'", word);

  return helix_test_sqlite_query_int (path, sql);
}

/* Single appends are indexed in batches and before every search: a search always finds
 * a message appended a moment ago, and the index never holds a row twice or misses one. */
static void
test_store_deferred_index (Fixture       *f,
                           gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) s = helix_store_create_session (f->store, "Batches", &error);
  g_autoptr(GPtrArray) hits = NULL;
  gint64 deadline;

  for (guint i = 0; i < 3; i++)
    {
      HelixNewMessage nm = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "walrus tusk");
      g_autoptr(HelixMessage) m = helix_store_append_message (f->store, helix_session_get_id (s), &nm, &error);

      g_assert_no_error (error);
    }

  /* Not in the index yet, but a search finds all three. */
  g_assert_cmpint (fts_count (f->path, "walrus"), ==, 0);
  hits = helix_store_search_messages (f->store, "walrus", 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hits->len, ==, 3);
  g_assert_cmpint (fts_count (f->path, "walrus"), ==, 3);

  /* A message that is not yet indexed can be deleted and edited without harm. */
  {
    HelixNewMessage nm = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "narwhal horn");
    g_autoptr(HelixMessage) m = helix_store_append_message (f->store, helix_session_get_id (s), &nm, &error);
    g_autofree char *sql = g_strdup_printf ("UPDATE messages SET content = 'beluga' WHERE uuid = '%s'",
                                            helix_message_get_id (m));

    helix_test_sqlite_exec (f->path, sql);
    g_clear_pointer (&hits, g_ptr_array_unref);
    hits = helix_store_search_messages (f->store, "beluga", 10, &error);
    g_assert_cmpuint (hits->len, ==, 1);
    g_clear_pointer (&hits, g_ptr_array_unref);
    hits = helix_store_search_messages (f->store, "narwhal", 10, &error);
    g_assert_cmpuint (hits->len, ==, 0);
  }

  /* A batch's worth of appends is indexed in the background, without a search. */
  for (guint i = 0; i < 256; i++)
    {
      HelixNewMessage nm = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "orca pod");
      g_autoptr(HelixMessage) m = helix_store_append_message (f->store, helix_session_get_id (s), &nm, &error);

      g_assert_no_error (error);
    }
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (fts_count (f->path, "orca") < 256 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpint (fts_count (f->path, "orca"), ==, 256);

  helix_test_sqlite_exec (f->path, "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)");
  g_assert_cmpint (helix_test_sqlite_query_int (f->path, "SELECT CAST (value AS INTEGER) FROM store_meta WHERE key = 'fts-indexed-upto'"),
                   ==, helix_test_sqlite_query_int (f->path, "SELECT max (id) FROM messages"));
}

typedef struct
{
  GListModel *hits;
  GError     *error;
  gboolean    done;
} SearchResult;

static void
search_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  SearchResult *r = user_data;

  r->hits = helix_store_search_finish (HELIX_STORE (object), result, &r->error);
  r->done = TRUE;
}

static void
test_store_search_sessions_async (Fixture       *f,
                                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) s1 = helix_store_create_session (f->store, "Garden planning", &error);
  g_autoptr(HelixSession) s2 = helix_store_create_session (f->store, "Other", &error);
  g_autoptr(HelixMessage) m1 = NULL;
  g_autoptr(HelixMessage) m2 = NULL;
  g_autoptr(HelixSearchHit) first = NULL;
  g_autoptr(HelixSearchHit) second = NULL;
  HelixNewMessage a = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "which tomatoes grow well in a garden?");
  HelixNewMessage b = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "my garden gnome fell over");
  SearchResult r = { 0 };

  m1 = helix_store_append_message (f->store, helix_session_get_id (s1), &a, &error);
  m2 = helix_store_append_message (f->store, helix_session_get_id (s2), &b, &error);
  g_assert_no_error (error);

  helix_store_search_async (f->store, "garden", 20, NULL, search_cb, &r);
  helix_test_wait_for (r.done, 10, "search");
  g_assert_no_error (r.error);

  /* One hit per session: the title match first, then the message match. */
  g_assert_cmpuint (g_list_model_get_n_items (r.hits), ==, 2);
  first = g_list_model_get_item (r.hits, 0);
  second = g_list_model_get_item (r.hits, 1);
  g_assert_cmpstr (helix_session_get_id (helix_search_hit_get_session (first)), ==, helix_session_get_id (s1));
  g_assert_null (helix_search_hit_get_snippet (first));
  g_assert_cmpstr (helix_session_get_id (helix_search_hit_get_session (second)), ==, helix_session_get_id (s2));
  g_assert_cmpstr (helix_search_hit_get_message_id (second), ==, helix_message_get_id (m2));
  g_assert_nonnull (strstr (helix_search_hit_get_snippet (second), "garden"));
  g_clear_object (&r.hits);
}

typedef struct
{
  guint         n_session_changed;
  guint         n_message_added;
  HelixMessage *message;
  HelixSession *session;
  GError       *error;
  gboolean      signal_before_callback;
  gboolean      done;
} AsyncState;

static void
on_message_added (HelixStore   *store,
                  HelixMessage *message,
                  AsyncState   *state)
{
  state->n_message_added++;
}

static void
on_session_changed (HelixStore   *store,
                    HelixSession *session,
                    AsyncState   *state)
{
  state->n_session_changed++;
}

static void
create_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  AsyncState *state = user_data;

  state->session = helix_store_create_session_finish (HELIX_STORE (object), result, &state->error);
  state->signal_before_callback = state->n_session_changed == 1;
  state->done = TRUE;
}

static void
append_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  AsyncState *state = user_data;

  state->message = helix_store_append_message_finish (HELIX_STORE (object), result, &state->error);
  state->signal_before_callback = state->n_message_added == 1;
  state->done = TRUE;
}

static void
test_store_async_writes (Fixture       *f,
                         gconstpointer  data)
{
  AsyncState state = { 0 };
  HelixNewMessage nm = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "async hello");
  GThread *main_thread = g_thread_self ();

  g_signal_connect (f->store, "message-added", G_CALLBACK (on_message_added), &state);
  g_signal_connect (f->store, "session-changed", G_CALLBACK (on_session_changed), &state);

  helix_store_create_session_async (f->store, "Async", NULL, create_cb, &state);
  helix_test_wait_for (state.done, 10, "create");
  g_assert_no_error (state.error);
  g_assert_true (state.signal_before_callback);
  g_assert_true (g_thread_self () == main_thread);

  state.done = FALSE;
  helix_store_append_message_async (f->store, helix_session_get_id (state.session), &nm,
                                    NULL, append_cb, &state);
  helix_test_wait_for (state.done, 10, "append");
  g_assert_no_error (state.error);
  g_assert_true (state.signal_before_callback);
  g_assert_cmpstr (helix_message_get_content (state.message), ==, "async hello");
  /* Appending bumps the session too. */
  g_assert_cmpuint (state.n_session_changed, ==, 2);

  /* Committed, as a separate connection sees. */
  g_assert_cmpint (helix_test_sqlite_query_int (f->path, "SELECT count(*) FROM messages WHERE content = 'async hello'"), ==, 1);

  /* Errors come back through the callback. */
  state.done = FALSE;
  g_clear_object (&state.message);
  helix_store_append_message_async (f->store, "nope", &nm, NULL, append_cb, &state);
  helix_test_wait_for (state.done, 10, "bad append");
  g_assert_error (state.error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID);
  g_clear_error (&state.error);

  g_signal_handlers_disconnect_by_data (f->store, &state);
  g_clear_object (&state.session);
  g_clear_object (&state.message);
}

typedef struct
{
  guint   n_done;
  guint   n_failed;
} PendingState;

static void
pending_append_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  PendingState *state = user_data;
  g_autoptr(HelixMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = helix_store_append_message_finish (HELIX_STORE (object), result, &error);
  g_assert_no_error (error);
  state->n_done++;
}

/* The last reference to a store may go away while writes are queued, and may then be
 * dropped on the writer thread itself: every write must still land, and the store
 * must close without deadlocking. */
static void
test_store_unref_with_pending_writes (Fixture       *f,
                                      gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) session = helix_store_create_session (f->store, "Pending", &error);
  g_autoptr(HelixStore) again = NULL;
  g_autofree char *session_id = g_strdup (helix_session_get_id (session));
  PendingState state = { 0 };
  const guint n = 50;

  for (guint round = 0; round < 5; round++)
    {
      HelixStore *store = f->store ? f->store : (f->store = helix_store_open (f->path, &error));
      gpointer weak = store;

      g_assert_no_error (error);
      g_object_add_weak_pointer (G_OBJECT (store), &weak);
      state.n_done = 0;
      for (guint i = 0; i < n; i++)
        {
          HelixNewMessage nm = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "queued");

          helix_store_append_message_async (store, session_id, &nm, NULL, pending_append_cb, &state);
        }

      /* Our reference goes now; the queued writes keep the store alive. */
      g_clear_object (&f->store);
      helix_test_wait_for (state.n_done == n, 20, "queued writes");
      helix_test_wait_finalized (&weak);
    }

  again = helix_store_open (f->path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (helix_store_count_messages (again, session_id, &error), ==, 5 * n);
  g_assert_cmpuint (state.n_failed, ==, 0);
}

static void
open_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  HelixStore **store = user_data;
  g_autoptr(GError) error = NULL;

  *store = helix_store_open_finish (result, &error);
  g_assert_no_error (error);
}

static void
test_store_open_async (Fixture       *f,
                       gconstpointer  data)
{
  HelixStore *store = NULL;

  helix_store_open_async (f->path, NULL, open_cb, &store);
  helix_test_wait_for (store != NULL, 10, "open");
  g_assert_true (helix_store_check (store, NULL));
  helix_store_close (store);
  /* The worker thread may still hold the task, and with it a reference, for a moment. */
  g_object_unref (store);
}

static void
test_store_closed (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  helix_store_close (f->store);
  helix_store_close (f->store);
  g_assert_null (helix_store_create_session (f->store, "late", &error));
  g_assert_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_CLOSED);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func, open) \
  g_test_add (path, Fixture, GINT_TO_POINTER (open), fixture_setup, func, fixture_teardown)

  ADD ("/helix/store/create", test_store_create, TRUE);
  ADD ("/helix/store/reopen", test_store_reopen_keeps_device, TRUE);
  ADD ("/helix/store/upgrade", test_store_upgrade, FALSE);
  ADD ("/helix/store/upgrade-session-model", test_store_upgrade_session_model, FALSE);
  ADD ("/helix/store/session-model", test_store_session_model, TRUE);
  ADD ("/helix/store/refuse-newer", test_store_refuse_newer, TRUE);
  ADD ("/helix/store/refuse-corrupt", test_store_refuse_corrupt, FALSE);
  ADD ("/helix/store/refuse-corrupt-pages", test_store_refuse_corrupt_pages, TRUE);
  ADD ("/helix/store/refuse-foreign", test_store_refuse_foreign, FALSE);
  ADD ("/helix/store/sessions", test_store_sessions, TRUE);
  ADD ("/helix/store/tombstones", test_store_tombstones, TRUE);
  ADD ("/helix/store/messages", test_store_messages, TRUE);
  ADD ("/helix/store/import", test_store_import, TRUE);
  ADD ("/helix/store/search", test_store_search, TRUE);
  g_test_add_func ("/helix/store/fts-query", test_store_fts_query);
  ADD ("/helix/store/deferred-index", test_store_deferred_index, TRUE);
  ADD ("/helix/store/search-sessions-async", test_store_search_sessions_async, TRUE);
  ADD ("/helix/store/async-writes", test_store_async_writes, TRUE);
  ADD ("/helix/store/open-async", test_store_open_async, FALSE);
  ADD ("/helix/store/unref-with-pending-writes", test_store_unref_with_pending_writes, TRUE);
  ADD ("/helix/store/closed", test_store_closed, TRUE);

#undef ADD

  return g_test_run ();
}
