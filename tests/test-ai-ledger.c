/* test-ai-ledger.c: the cost ledger: records, totals, recent calls, budgets after a restart
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>

#include "helix-ledger.h"
#include "helix-test-sqlite.h"
#include "helix-test-util.h"

/* 2026-11-22 12:00 UTC */
#define NOON G_GINT64_CONSTANT (1795348800000000)
#define DAY  G_TIME_SPAN_DAY

typedef struct
{
  char        *dir;
  char        *path;
  HelixLedger *ledger;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fixture->dir = g_dir_make_tmp ("helix-ledger-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->path = g_build_filename (fixture->dir, "ledger.db", NULL);
  fixture->ledger = helix_ledger_open (fixture->path, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autofree char *wal = g_strconcat (fixture->path, "-wal", NULL);
  g_autofree char *shm = g_strconcat (fixture->path, "-shm", NULL);

  if (fixture->ledger != NULL)
    helix_test_assert_finalized (g_steal_pointer (&fixture->ledger));
  g_unlink (wal);
  g_unlink (shm);
  g_unlink (fixture->path);
  g_rmdir (fixture->dir);
  g_free (fixture->path);
  g_free (fixture->dir);
}

static void
record (HelixLedger        *ledger,
        gint64              time_us,
        const char         *user,
        const char         *provider,
        const char         *model,
        HelixRouterOutcome  outcome,
        gint64              in,
        gint64              out,
        double              cost)
{
  HelixRouterResult result = {
    .operation = (char *) "chat",
    .user = (char *) user,
    .session_id = (char *) "0b9d6f0e-0000-4000-8000-000000000001",
    .provider = (char *) provider,
    .model = (char *) model,
    .reason = (char *) "cheapest healthy for chat",
    .attempts = 1,
    .outcome = outcome,
    .latency_us = 1500,
    .input_tokens = in,
    .output_tokens = out,
    .cost_usd = cost,
    .first_token_us = outcome == HELIX_ROUTER_OUTCOME_FAILED ? -1 : 300,
    .error = outcome == HELIX_ROUTER_OUTCOME_OK ? NULL : (char *) "cut off",
  };

  helix_ledger_record (ledger, &result, time_us);
}

typedef struct
{
  gboolean   done;
  GPtrArray *rows;
  GError    *error;
} Query;

static void
totals_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Query *q = user_data;

  q->rows = helix_ledger_query_totals_finish (HELIX_LEDGER (object), result, &q->error);
  q->done = TRUE;
}

static GPtrArray *
totals (HelixLedger      *ledger,
        HelixLedgerGroup  group,
        const char       *user,
        gint64            since,
        gint64            until)
{
  Query q = { 0 };

  helix_ledger_query_totals_async (ledger, group, user, since, until, NULL, totals_cb, &q);
  helix_test_wait_for (q.done, 30, "the totals");
  g_assert_no_error (q.error);
  return q.rows;
}

static void
assert_total (GPtrArray  *rows,
              guint       index,
              const char *key,
              gint64      calls,
              gint64      failures,
              gint64      in,
              gint64      out,
              double      cost)
{
  HelixLedgerTotal *t;

  g_assert_cmpuint (index, <, rows->len);
  t = g_ptr_array_index (rows, index);
  g_assert_cmpstr (t->key, ==, key);
  g_assert_cmpint (t->calls, ==, calls);
  g_assert_cmpint (t->failures, ==, failures);
  g_assert_cmpint (t->input_tokens, ==, in);
  g_assert_cmpint (t->output_tokens, ==, out);
  g_assert_cmpfloat_with_epsilon (t->cost_usd, cost, 1e-12);
}

static void
fill (HelixLedger *ledger)
{
  record (ledger, NOON - DAY, "alice", "deepseek", "deepseek-chat", HELIX_ROUTER_OUTCOME_OK, 100, 50, 0.01);
  record (ledger, NOON, "alice", "deepseek", "deepseek-chat", HELIX_ROUTER_OUTCOME_OK, 200, 100, 0.02);
  record (ledger, NOON + 1, "bob", "openai", "gpt-4o", HELIX_ROUTER_OUTCOME_PARTIAL, 300, 10, 0.5);
  record (ledger, NOON + 2, "bob", NULL, NULL, HELIX_ROUTER_OUTCOME_FAILED, 0, 0, 0);
}

static void
test_totals (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(GPtrArray) by_day = NULL;
  g_autoptr(GPtrArray) by_model = NULL;
  g_autoptr(GPtrArray) by_user = NULL;
  g_autoptr(GPtrArray) alice = NULL;
  g_autoptr(GPtrArray) today = NULL;

  fill (fixture->ledger);

  /* No flush: a query sees every call recorded before it. */
  by_day = totals (fixture->ledger, HELIX_LEDGER_GROUP_DAY, NULL, 0, G_MAXINT64);
  g_assert_cmpuint (by_day->len, ==, 2);
  assert_total (by_day, 0, "2026-11-21", 1, 0, 100, 50, 0.01);
  assert_total (by_day, 1, "2026-11-22", 3, 2, 500, 110, 0.52);

  by_model = totals (fixture->ledger, HELIX_LEDGER_GROUP_MODEL, NULL, 0, G_MAXINT64);
  g_assert_cmpuint (by_model->len, ==, 3);
  assert_total (by_model, 0, "/", 1, 1, 0, 0, 0);
  assert_total (by_model, 1, "deepseek/deepseek-chat", 2, 0, 300, 150, 0.03);
  assert_total (by_model, 2, "openai/gpt-4o", 1, 1, 300, 10, 0.5);

  by_user = totals (fixture->ledger, HELIX_LEDGER_GROUP_USER, NULL, 0, G_MAXINT64);
  g_assert_cmpuint (by_user->len, ==, 2);
  assert_total (by_user, 0, "alice", 2, 0, 300, 150, 0.03);
  assert_total (by_user, 1, "bob", 2, 2, 300, 10, 0.5);

  /* One user's calls; a time range (since included, until excluded). */
  alice = totals (fixture->ledger, HELIX_LEDGER_GROUP_PROVIDER, "alice", 0, G_MAXINT64);
  g_assert_cmpuint (alice->len, ==, 1);
  assert_total (alice, 0, "deepseek", 2, 0, 300, 150, 0.03);
  today = totals (fixture->ledger, HELIX_LEDGER_GROUP_OPERATION, NULL, NOON, NOON + 2);
  g_assert_cmpuint (today->len, ==, 1);
  assert_total (today, 0, "chat", 2, 1, 500, 110, 0.52);
}

/* Days in local time: the process runs 13 hours ahead of UTC (set in main), so
 * 23:00 UTC is noon of the next day there, and the UTC days split differently. */
static void
test_local_days (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(GPtrArray) utc = NULL;
  g_autoptr(GPtrArray) local = NULL;

  record (fixture->ledger, NOON - 12 * G_TIME_SPAN_HOUR, "alice", "deepseek", "deepseek-chat",
          HELIX_ROUTER_OUTCOME_OK, 1, 1, 0.25);
  record (fixture->ledger, NOON - 11 * G_TIME_SPAN_HOUR - 1, "alice", "deepseek", "deepseek-chat",
          HELIX_ROUTER_OUTCOME_OK, 1, 1, 0.5);
  record (fixture->ledger, NOON + 11 * G_TIME_SPAN_HOUR, "alice", "deepseek", "deepseek-chat",
          HELIX_ROUTER_OUTCOME_OK, 1, 1, 1.0);

  utc = totals (fixture->ledger, HELIX_LEDGER_GROUP_DAY, NULL, 0, G_MAXINT64);
  g_assert_cmpuint (utc->len, ==, 1);
  assert_total (utc, 0, "2026-11-22", 3, 0, 3, 3, 1.75);

  /* 00:00 and 00:59:59 UTC are 13:00 and 13:59:59 on the 22nd; 23:00 UTC is
   * noon on the 23rd. */
  local = totals (fixture->ledger, HELIX_LEDGER_GROUP_LOCAL_DAY, NULL, 0, G_MAXINT64);
  g_assert_cmpuint (local->len, ==, 2);
  assert_total (local, 0, "2026-11-22", 2, 0, 2, 2, 0.75);
  assert_total (local, 1, "2026-11-23", 1, 0, 1, 1, 1.0);
}

static void
recent_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Query *q = user_data;

  q->rows = helix_ledger_list_recent_finish (HELIX_LEDGER (object), result, &q->error);
  q->done = TRUE;
}

static void
test_recent (Fixture       *fixture,
             gconstpointer  data)
{
  HelixLedgerEntry *e;
  Query q = { 0 };

  fill (fixture->ledger);
  helix_ledger_list_recent_async (fixture->ledger, "bob", 10, NULL, recent_cb, &q);
  helix_test_wait_for (q.done, 30, "the recent calls");
  g_assert_no_error (q.error);
  g_assert_cmpuint (q.rows->len, ==, 2);

  e = g_ptr_array_index (q.rows, 0);
  g_assert_cmpint (e->time_us, ==, NOON + 2);
  g_assert_cmpstr (e->outcome, ==, "failed");
  g_assert_null (e->provider);
  g_assert_cmpint (e->first_token_us, ==, -1);
  g_assert_cmpstr (e->error, ==, "cut off");

  e = g_ptr_array_index (q.rows, 1);
  g_assert_cmpstr (e->user, ==, "bob");
  g_assert_cmpstr (e->session_id, ==, "0b9d6f0e-0000-4000-8000-000000000001");
  g_assert_cmpstr (e->operation, ==, "chat");
  g_assert_cmpstr (e->provider, ==, "openai");
  g_assert_cmpstr (e->model, ==, "gpt-4o");
  g_assert_cmpint (e->input_tokens, ==, 300);
  g_assert_cmpint (e->output_tokens, ==, 10);
  g_assert_cmpfloat (e->cost_usd, ==, 0.5);
  g_assert_cmpint (e->latency_us, ==, 1500);
  g_assert_cmpint (e->first_token_us, ==, 300);
  g_assert_cmpuint (e->attempts, ==, 1);
  g_assert_cmpstr (e->outcome, ==, "partial");
  g_assert_cmpstr (e->reason, ==, "cheapest healthy for chat");
  g_ptr_array_unref (q.rows);
}

static gint64
noon_clock (gpointer user_data)
{
  return NOON;
}

/* The limits hold across a restart: the ledger tells the budget what was spent. */
static void
test_budget_restart (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(HelixBudget) budget = helix_budget_new ();
  g_autoptr(GError) error = NULL;
  struct stat st;

  fill (fixture->ledger);
  record (fixture->ledger, NOON - 40 * DAY, "alice", "openai", "gpt-4o", HELIX_ROUTER_OUTCOME_OK, 1, 1, 100);
  g_assert_true (helix_ledger_flush (fixture->ledger, &error));
  g_assert_no_error (error);
  helix_ledger_close (fixture->ledger);
  g_clear_object (&fixture->ledger);

  g_assert_cmpint (g_stat (fixture->path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  fixture->ledger = helix_ledger_open (fixture->path, &error);
  g_assert_no_error (error);
  helix_budget_set_clock (budget, noon_clock, NULL);
  g_assert_true (helix_ledger_load_budget (fixture->ledger, budget, NOON, &error));
  g_assert_no_error (error);

  g_assert_cmpfloat_with_epsilon (helix_budget_get_spent (budget, HELIX_BUDGET_SCOPE_USER, "alice",
                                                          HELIX_BUDGET_PERIOD_DAY), 0.02, 1e-12);
  g_assert_cmpfloat_with_epsilon (helix_budget_get_spent (budget, HELIX_BUDGET_SCOPE_USER, "alice",
                                                          HELIX_BUDGET_PERIOD_MONTH), 0.03, 1e-12);
  g_assert_cmpfloat_with_epsilon (helix_budget_get_spent (budget, HELIX_BUDGET_SCOPE_GLOBAL, NULL,
                                                          HELIX_BUDGET_PERIOD_MONTH), 0.53, 1e-12);
}

/* A router's calls land in the ledger by themselves. */
static void
test_attach (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(HelixPriceTable) prices = helix_price_table_new ();
  g_autoptr(HelixRouter) router = helix_router_new (prices);
  g_autoptr(GPtrArray) rows = NULL;
  HelixRouterResult result = {
    .operation = (char *) "title", .outcome = HELIX_ROUTER_OUTCOME_OK, .first_token_us = -1,
  };

  helix_ledger_attach (fixture->ledger, router);
  g_signal_emit_by_name (router, "call-finished", &result);
  rows = totals (fixture->ledger, HELIX_LEDGER_GROUP_USER, NULL, 0, G_MAXINT64);
  g_assert_cmpuint (rows->len, ==, 1);
  assert_total (rows, 0, HELIX_BUDGET_LOCAL_USER, 1, 0, 0, 0, 0);
}

static void
test_bad_file (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("helix-ledger-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "ledger.db", NULL);
  sqlite3 *db = NULL;

  /* From a newer Helix */
  db = helix_test_sqlite_open (path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  g_assert_cmpint (sqlite3_exec (db, "PRAGMA user_version = 99", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
  g_assert_null (helix_ledger_open (path, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "newer Helix"));
  g_clear_error (&error);
  g_unlink (path);

  /* Not a database */
  g_assert_true (g_file_set_contents (path, "not a database, not at all, no", -1, NULL));
  g_assert_null (helix_ledger_open (path, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_unlink (path);

  /* Nowhere to write */
  g_assert_null (helix_ledger_open ("/nonexistent-helix/ledger.db", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_rmdir (dir);
}

int
main (int   argc,
      char *argv[])
{
  /* A fixed offset without daylight saving, for the local days: no tzdata needed. */
  g_setenv ("TZ", "HLX-13", TRUE);
  tzset ();

  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/helix/ai/ledger/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("totals", test_totals);
  ADD ("local-days", test_local_days);
  ADD ("recent", test_recent);
  ADD ("budget-restart", test_budget_restart);
  ADD ("attach", test_attach);
  g_test_add_func ("/helix/ai/ledger/bad-file", test_bad_file);

  return g_test_run ();
}
