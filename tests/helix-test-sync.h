/* helix-test-sync.h: helpers for the tests of desktop sync against a real gateway
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <sqlite3.h>

#include "helix-store.h"
#include "helix-sync-client.h"
#include "helix-test-http.h"
#include "helix-test-util.h"

G_BEGIN_DECLS

#define HELIX_TEST_WAIT_S 60

/* A digest of what a user sees in a store: every live session with its fields and
 * its messages in order, and the ids of deleted sessions. Two replicas that converged
 * have the same digest. Read through a connection of its own, like another program. */
static inline char *
helix_test_state_hash (HelixStore *store)
{
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  int rc;

  rc = sqlite3_open_v2 (helix_store_get_path (store), &db, SQLITE_OPEN_READONLY, NULL);
  g_assert_cmpint (rc, ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 5000);

  rc = sqlite3_prepare_v2 (db,
                           "SELECT uuid, deleted, CASE WHEN deleted THEN '' ELSE title END, "
                           "       CASE WHEN deleted THEN 0 ELSE pinned END, "
                           "       CASE WHEN deleted THEN 0 ELSE archived END, "
                           "       CASE WHEN deleted THEN 0 ELSE n_messages END "
                           "FROM sessions ORDER BY uuid", -1, &stmt, NULL);
  g_assert_cmpint (rc, ==, SQLITE_OK);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      g_autofree char *row = g_strdup_printf ("S|%s|%d|%s|%d|%d|%lld\n",
                                              sqlite3_column_text (stmt, 0),
                                              sqlite3_column_int (stmt, 1),
                                              sqlite3_column_text (stmt, 2),
                                              sqlite3_column_int (stmt, 3),
                                              sqlite3_column_int (stmt, 4),
                                              (long long) sqlite3_column_int64 (stmt, 5));
      g_checksum_update (sum, (const guchar *) row, -1);
    }
  g_assert_cmpint (rc, ==, SQLITE_DONE);
  sqlite3_finalize (stmt);

  rc = sqlite3_prepare_v2 (db,
                           "SELECT s.uuid, m.position, m.uuid, m.role, m.status, m.content "
                           "FROM messages m JOIN sessions s ON s.id = m.session "
                           "WHERE NOT s.deleted ORDER BY s.uuid, m.position", -1, &stmt, NULL);
  g_assert_cmpint (rc, ==, SQLITE_OK);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      g_autofree char *row = g_strdup_printf ("M|%s|%lld|%s|%s|%s|%s\n",
                                              sqlite3_column_text (stmt, 0),
                                              (long long) sqlite3_column_int64 (stmt, 1),
                                              sqlite3_column_text (stmt, 2),
                                              sqlite3_column_text (stmt, 3),
                                              sqlite3_column_text (stmt, 4),
                                              sqlite3_column_text (stmt, 5));
      g_checksum_update (sum, (const guchar *) row, -1);
    }
  g_assert_cmpint (rc, ==, SQLITE_DONE);
  sqlite3_finalize (stmt);
  sqlite3_close (db);

  return g_strdup (g_checksum_get_string (sum));
}

/* Counts rows of a table in a store file, through a connection of its own. */
static inline gint64
helix_test_count_rows (HelixStore *store,
                       const char *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gint64 count;

  g_assert_cmpint (sqlite3_open_v2 (helix_store_get_path (store), &db, SQLITE_OPEN_READONLY, NULL),
                   ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 5000);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  count = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);

  return count;
}

static inline void
helix_test_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
}

/* Runs the main loop for @ms milliseconds. */
static inline void
helix_test_spin_for (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add_once (ms, helix_test_flag_cb, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static inline gboolean
helix_test_client_idle (HelixSyncClient *client)
{
  return helix_sync_client_get_state (client) == HELIX_SYNC_STATE_UP_TO_DATE &&
         helix_sync_client_get_pending (client) == 0;
}

/* Spins the main loop until every client is up to date and their stores have the
 * same state, checked every 20 ms; fails after @timeout_s seconds. Returns how long
 * that took, in microseconds. */
static inline gint64
helix_test_wait_converged (HelixSyncClient **clients,
                           guint             n_clients,
                           guint             timeout_s)
{
  gint64 start = g_get_monotonic_time ();
  gint64 deadline = start + (gint64) timeout_s * G_USEC_PER_SEC;
  gint64 next_check = 0;

  for (;;)
    {
      gboolean idle = TRUE;

      for (guint i = 0; i < n_clients; i++)
        idle = idle && helix_test_client_idle (clients[i]);

      if (idle && g_get_monotonic_time () >= next_check)
        {
          g_autofree char *first = helix_test_state_hash (helix_sync_client_get_store (clients[0]));
          gboolean same = TRUE;

          for (guint i = 1; i < n_clients && same; i++)
            {
              g_autofree char *other = helix_test_state_hash (helix_sync_client_get_store (clients[i]));

              same = g_str_equal (first, other);
            }
          if (same)
            return g_get_monotonic_time () - start;
          next_check = g_get_monotonic_time () + 20 * 1000;
        }

      if (g_get_monotonic_time () > deadline)
        {
          for (guint i = 0; i < n_clients; i++)
            {
              g_autofree char *state = g_enum_to_string (HELIX_TYPE_SYNC_STATE,
                                                         helix_sync_client_get_state (clients[i]));

              g_printerr ("client %u: state %s, %u pending, last error: %s\n", i, state,
                          helix_sync_client_get_pending (clients[i]),
                          helix_sync_client_get_last_error (clients[i]));
            }
          g_error ("The replicas did not converge within %u s", timeout_s);
        }

      helix_test_spin_for (1);
    }
}

G_END_DECLS
