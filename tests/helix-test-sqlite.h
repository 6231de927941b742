/* helix-test-sqlite.h: reading and writing a database file the way another program
 * would, through a connection of its own
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <sqlite3.h>

/* The code under test may hold the write lock for a moment from a thread of its own
 * (a background index batch, a checkpoint), so the test's connection waits for it
 * like any well-behaved second program instead of failing with SQLITE_BUSY. */
#define HELIX_TEST_SQLITE_BUSY_MS 10000

static inline sqlite3 *
helix_test_sqlite_open (const char *path,
                        int         flags)
{
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, flags, NULL), ==, SQLITE_OK);
  sqlite3_busy_timeout (db, HELIX_TEST_SQLITE_BUSY_MS);

  return db;
}

/* The first column of the first row of @sql, or -1 when there is no row. */
static inline gint64
helix_test_sqlite_query_int (const char *path,
                             const char *sql)
{
  sqlite3 *db = helix_test_sqlite_open (path, SQLITE_OPEN_READONLY);
  sqlite3_stmt *stmt = NULL;
  gint64 value = -1;
  int rc;

  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    value = sqlite3_column_int64 (stmt, 0);
  else
    g_assert_cmpint (rc, ==, SQLITE_DONE);
  sqlite3_finalize (stmt);
  sqlite3_close (db);

  return value;
}

static inline void
helix_test_sqlite_exec (const char *path,
                        const char *sql)
{
  sqlite3 *db = helix_test_sqlite_open (path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  char *message = NULL;
  int rc = sqlite3_exec (db, sql, NULL, NULL, &message);

  if (rc != SQLITE_OK)
    g_error ("%s: %s (%d)", sql, message ? message : sqlite3_errstr (rc), rc);
  sqlite3_free (message);
  sqlite3_close (db);
}
