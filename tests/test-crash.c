/* test-crash.c: SIGKILL at random moments loses nothing that was acknowledged
 *
 * A child process (helix-crash-writer) appends messages and prints each id after its
 * commit. We kill it with SIGKILL after a random delay, many times over, and after each
 * kill check that the database is intact and holds every acknowledged message once.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <signal.h>
#include <sqlite3.h>
#include <string.h>

#include "helix-core.h"
#include "helix-test-util.h"

#define N_CYCLES 60

typedef struct
{
  GSubprocess      *process;
  GDataInputStream *stdout_stream;
  GPtrArray        *acked;
  guint             kill_id;
  gboolean          eof;
  gboolean          exited;
} Cycle;

static void read_next_line (Cycle *cycle);

static void
read_line_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Cycle *cycle = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  gsize len = 0;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (object), result, &len, &error);
  g_assert_no_error (error);

  if (line == NULL)
    {
      cycle->eof = TRUE;
      return;
    }

  g_assert_true (helix_uuid_is_valid (line));
  g_ptr_array_add (cycle->acked, g_steal_pointer (&line));
  read_next_line (cycle);
}

static void
read_next_line (Cycle *cycle)
{
  g_data_input_stream_read_line_async (cycle->stdout_stream, G_PRIORITY_DEFAULT, NULL,
                                       read_line_cb, cycle);
}

static gboolean
kill_cb (gpointer user_data)
{
  Cycle *cycle = user_data;

  cycle->kill_id = 0;
  g_subprocess_force_exit (cycle->process);

  return G_SOURCE_REMOVE;
}

static void
wait_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  Cycle *cycle = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_subprocess_wait_finish (G_SUBPROCESS (object), result, &error));
  g_assert_no_error (error);
  cycle->exited = TRUE;
}

static void
check_database (const char *path,
                GHashTable *acked,
                guint       n_acked)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  guint n_rows = 0;
  gint64 expected_position = 0;
  guint found = 0;

  /* First what SQLite itself finds, before Helix touches the file. */
  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "PRAGMA integrity_check", -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  g_assert_cmpstr ((const char *) sqlite3_column_text (stmt, 0), ==, "ok");
  sqlite3_finalize (stmt);
  sqlite3_close (db);

  /* Opening the store indexes what the crash left unindexed; then the search index must
   * match the messages exactly. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(HelixStore) store = helix_store_open (path, &error);

    g_assert_no_error (error);
    helix_store_close (store);
  }

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "PRAGMA integrity_check", -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  g_assert_cmpstr ((const char *) sqlite3_column_text (stmt, 0), ==, "ok");
  sqlite3_finalize (stmt);

  g_assert_cmpint (sqlite3_exec (db, "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)",
                                 NULL, NULL, NULL), ==, SQLITE_OK);

  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT uuid, position FROM messages ORDER BY position",
                                       -1, &stmt, NULL), ==, SQLITE_OK);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      const char *uuid = (const char *) sqlite3_column_text (stmt, 0);

      /* Dense positions: nothing lost in the middle, nothing twice. */
      g_assert_cmpint (sqlite3_column_int64 (stmt, 1), ==, expected_position);
      expected_position++;
      n_rows++;
      if (g_hash_table_contains (acked, uuid))
        found++;
    }
  sqlite3_finalize (stmt);

  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT n_messages FROM sessions", -1, &stmt, NULL), ==, SQLITE_OK);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    g_assert_cmpint (sqlite3_column_int64 (stmt, 0), ==, n_rows);
  sqlite3_finalize (stmt);
  sqlite3_close (db);

  /* Every acknowledged message is there. Rows may exceed the acknowledged ones by the
   * commits whose ids the writer had no time to print (one per cycle at most). */
  g_assert_cmpuint (found, ==, n_acked);
  g_assert_cmpuint (n_rows, >=, n_acked);
}

static void
test_crash_sigkill (void)
{
  const char *writer = g_getenv ("HELIX_CRASH_WRITER");
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) acked = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *dir = g_dir_make_tmp ("helix-crash-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "helix.db", NULL);
  guint n_unacked = 0;
  guint total_acked = 0;

  g_assert_nonnull (writer);
  g_assert_no_error (error);

  for (guint c = 0; c < N_CYCLES; c++)
    {
      Cycle cycle = { 0 };
      /* The first cycles are short, so that kills land during creation and migration. */
      guint delay_ms = c < 5 ? g_test_rand_int_range (0, 15) : g_test_rand_int_range (5, 120);
      g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);

      cycle.acked = lines;
      cycle.process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, writer, path, NULL);
      g_assert_no_error (error);
      cycle.stdout_stream = g_data_input_stream_new (g_subprocess_get_stdout_pipe (cycle.process));

      read_next_line (&cycle);
      cycle.kill_id = g_timeout_add (delay_ms, kill_cb, &cycle);
      g_subprocess_wait_async (cycle.process, NULL, wait_cb, &cycle);

      helix_test_wait_for (cycle.exited && cycle.eof, 30, "the killed writer");
      g_clear_handle_id (&cycle.kill_id, g_source_remove);

      /* It must have died by our signal, not by an error of its own. */
      g_assert_true (g_subprocess_get_if_signaled (cycle.process));
      g_assert_cmpint (g_subprocess_get_term_sig (cycle.process), ==, SIGKILL);

      for (guint i = 0; i < lines->len; i++)
        {
          g_assert_false (g_hash_table_contains (acked, lines->pdata[i]));
          g_hash_table_add (acked, g_strdup (lines->pdata[i]));
        }
      total_acked += lines->len;
      g_test_message ("cycle %u: killed after %u ms, %u acknowledged (%u in all)",
                      c, delay_ms, lines->len, total_acked);

      if (g_file_test (path, G_FILE_TEST_EXISTS) && g_hash_table_size (acked) > 0)
        check_database (path, acked, g_hash_table_size (acked));

      g_clear_object (&cycle.stdout_stream);
      g_clear_object (&cycle.process);
    }

  /* The store itself opens the result and sees every acknowledged message. */
  {
    g_autoptr(HelixStore) store = helix_store_open (path, &error);
    g_autoptr(GPtrArray) sessions = NULL;
    guint64 n;

    g_assert_no_error (error);
    sessions = helix_store_list_sessions (store, TRUE, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (sessions->len, ==, 1);
    n = helix_store_count_messages (store, helix_session_get_id (sessions->pdata[0]), &error);
    g_assert_cmpuint (n, >=, g_hash_table_size (acked));
    n_unacked = (guint) (n - g_hash_table_size (acked));
    g_assert_cmpuint (n_unacked, <=, N_CYCLES);
    g_test_message ("%u acknowledged, %u committed but not yet acknowledged when killed",
                    g_hash_table_size (acked), n_unacked);
  }

  g_assert_cmpuint (g_hash_table_size (acked), >, 0);
  helix_test_rm_rf (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/helix/store/crash/sigkill", test_crash_sigkill);

  return g_test_run ();
}
