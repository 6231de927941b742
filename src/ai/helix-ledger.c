/* helix-ledger.c: the record of every routed AI call and what it cost
 *
 * One SQLite file (ledger.db beside the chats or in the gateway's state
 * directory) with one row per call: time, user, session, operation, provider,
 * model, tokens, cost, latency, time to first token, attempts, outcome,
 * error and the routing reason.
 *
 * The ledger has its own thread and connection. helix_ledger_record() only
 * queues the row; the thread writes queued rows in one transaction. Queries
 * run on the same thread, after the rows queued before them, so a query
 * always sees every call recorded before it was asked. Nothing waits for the
 * disk on the caller's thread except helix_ledger_flush(),
 * helix_ledger_load_budget() and helix_ledger_close(), which are for startup,
 * shutdown and tests.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-ai"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <unistd.h>

#include "helix-ledger.h"

#define SCHEMA_VERSION 1

/* Rows written in one transaction, at most. */
#define MAX_BATCH 1000

/* Records that come within this long of the first of a batch join it. A
 * commit writes whole pages to the write-ahead log: under load, one commit
 * for many calls instead of one for each (the ledger thread had become a
 * sixth of the gateway's CPU at 7,000 calls/s). Anything else queued (a
 * flush, a query) ends the wait at once. */
#define GATHER_US 2000

/* Lines a query returns, at most. */
#define MAX_TOTALS 10000
#define MAX_RECENT 1000

static const char schema[] =
  "CREATE TABLE IF NOT EXISTS calls ("
  "  id             INTEGER PRIMARY KEY,"
  "  time_us        INTEGER NOT NULL,"
  "  user           TEXT    NOT NULL,"
  "  session        TEXT,"
  "  operation      TEXT    NOT NULL,"
  "  provider       TEXT,"
  "  model          TEXT,"
  "  input_tokens   INTEGER NOT NULL,"
  "  output_tokens  INTEGER NOT NULL,"
  "  cost_usd       REAL    NOT NULL,"
  "  latency_us     INTEGER NOT NULL,"
  "  first_token_us INTEGER NOT NULL,"
  "  attempts       INTEGER NOT NULL,"
  "  outcome        TEXT    NOT NULL CHECK (outcome = 'ok' OR outcome = 'failed' OR"
  "                                         outcome = 'partial'),"
  "  error          TEXT,"
  "  reason         TEXT"
  ");"
  "CREATE INDEX IF NOT EXISTS calls_time ON calls (time_us);"
  "CREATE INDEX IF NOT EXISTS calls_user_time ON calls (user, time_us);";

typedef enum
{
  JOB_RECORD,
  JOB_WAIT,
  JOB_TOTALS,
  JOB_RECENT,
  JOB_BUDGET,
  JOB_STOP,
} JobKind;

/* A caller waiting on the thread: flush, load_budget, close. */
typedef struct
{
  GMutex    mutex;
  GCond     cond;
  gboolean  done;
  GError   *error;
} Waiter;

typedef struct
{
  JobKind           kind;
  HelixLedgerEntry *entry;       /* JOB_RECORD */
  Waiter           *waiter;      /* JOB_WAIT, JOB_BUDGET, JOB_STOP */
  GTask            *task;        /* JOB_TOTALS, JOB_RECENT */
  HelixLedgerGroup  group;
  char             *user;
  gint64            since_us;
  gint64            until_us;
  guint             limit;
  HelixBudget      *budget;      /* JOB_BUDGET */
} Job;

struct _HelixLedger
{
  GObject       parent_instance;

  char         *path;
  sqlite3      *db;       /* used by the thread only, once it runs */
  GAsyncQueue  *jobs;
  GThread      *thread;
};

G_DEFINE_FINAL_TYPE (HelixLedger, helix_ledger, G_TYPE_OBJECT)

static const char *outcome_names[] = { "ok", "failed", "partial" };

void
helix_ledger_total_free (HelixLedgerTotal *total)
{
  if (total == NULL)
    return;

  g_free (total->key);
  g_free (total);
}

void
helix_ledger_entry_free (HelixLedgerEntry *entry)
{
  if (entry == NULL)
    return;

  g_free (entry->user);
  g_free (entry->session_id);
  g_free (entry->operation);
  g_free (entry->provider);
  g_free (entry->model);
  g_free (entry->outcome);
  g_free (entry->error);
  g_free (entry->reason);
  g_free (entry);
}

static void
job_free (Job *job)
{
  g_clear_pointer (&job->entry, helix_ledger_entry_free);
  g_clear_object (&job->task);
  g_clear_object (&job->budget);
  g_free (job->user);
  g_free (job);
}

static void
waiter_signal (Waiter *waiter,
               GError *error)
{
  g_mutex_lock (&waiter->mutex);
  waiter->error = error;
  waiter->done = TRUE;
  g_cond_signal (&waiter->cond);
  g_mutex_unlock (&waiter->mutex);
}

/* Queues @kind and waits for the thread to get to it. */
static gboolean
wait_for_job (HelixLedger  *self,
              Job          *job,
              GError      **error)
{
  Waiter waiter = { 0 };

  g_mutex_init (&waiter.mutex);
  g_cond_init (&waiter.cond);
  job->waiter = &waiter;
  g_async_queue_push (self->jobs, job);

  g_mutex_lock (&waiter.mutex);
  while (!waiter.done)
    g_cond_wait (&waiter.cond, &waiter.mutex);
  g_mutex_unlock (&waiter.mutex);

  g_mutex_clear (&waiter.mutex);
  g_cond_clear (&waiter.cond);

  if (waiter.error != NULL)
    {
      g_propagate_error (error, waiter.error);
      return FALSE;
    }

  return TRUE;
}

static GError *
db_error (sqlite3    *db,
          const char *what)
{
  return g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, _("The cost ledger could not %s: %s"),
                      what, sqlite3_errmsg (db));
}

static gboolean
exec (sqlite3     *db,
      const char  *sql,
      const char  *what,
      GError     **error)
{
  if (sqlite3_exec (db, sql, NULL, NULL, NULL) != SQLITE_OK)
    {
      g_propagate_error (error, db_error (db, what));
      return FALSE;
    }

  return TRUE;
}

static void
bind_text (sqlite3_stmt *stmt,
           int           index,
           const char   *text)
{
  if (text != NULL)
    sqlite3_bind_text (stmt, index, text, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null (stmt, index);
}

static char *
column_dup (sqlite3_stmt *stmt,
            int           index)
{
  return g_strdup ((const char *) sqlite3_column_text (stmt, index));
}

/* The thread */

static gboolean
insert (HelixLedger       *self,
        sqlite3_stmt      *stmt,
        HelixLedgerEntry  *e)
{
  sqlite3_reset (stmt);
  sqlite3_bind_int64 (stmt, 1, e->time_us);
  bind_text (stmt, 2, e->user);
  bind_text (stmt, 3, e->session_id);
  bind_text (stmt, 4, e->operation);
  bind_text (stmt, 5, e->provider);
  bind_text (stmt, 6, e->model);
  sqlite3_bind_int64 (stmt, 7, e->input_tokens);
  sqlite3_bind_int64 (stmt, 8, e->output_tokens);
  sqlite3_bind_double (stmt, 9, e->cost_usd);
  sqlite3_bind_int64 (stmt, 10, e->latency_us);
  sqlite3_bind_int64 (stmt, 11, e->first_token_us);
  sqlite3_bind_int64 (stmt, 12, e->attempts);
  bind_text (stmt, 13, e->outcome);
  bind_text (stmt, 14, e->error);
  bind_text (stmt, 15, e->reason);

  return sqlite3_step (stmt) == SQLITE_DONE;
}

/* Writes @first and every record queued behind it, in one transaction.
 * Returns the first job that is not a record, or %NULL. */
static Job *
write_batch (HelixLedger  *self,
             sqlite3_stmt *stmt,
             Job          *first)
{
  g_autoptr(GError) error = NULL;
  gint64 deadline = g_get_monotonic_time () + GATHER_US;
  Job *job = first;
  guint n = 0;

  if (!exec (self->db, "BEGIN IMMEDIATE", "start a transaction", &error))
    {
      g_warning ("%s", error->message);
      job_free (first);
      return NULL;
    }

  while (job != NULL && job->kind == JOB_RECORD && n < MAX_BATCH)
    {
      if (!insert (self, stmt, job->entry) && error == NULL)
        error = db_error (self->db, "record a call");
      job_free (job);
      n++;
      job = g_async_queue_try_pop (self->jobs);
      if (job == NULL)
        {
          gint64 left = deadline - g_get_monotonic_time ();

          if (left > 0)
            job = g_async_queue_timeout_pop (self->jobs, left);
        }
    }

  if (error == NULL)
    exec (self->db, "COMMIT", "save the calls", &error);
  if (error != NULL)
    {
      /* A lost ledger row is bad, not fatal: the call itself happened. */
      g_warning ("%s (%u calls not recorded)", error->message, n);
      sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
    }

  if (job != NULL && job->kind == JOB_RECORD)
    return write_batch (self, stmt, job);

  return job;
}

static const char *
group_sql (HelixLedgerGroup group)
{
  switch (group)
    {
    case HELIX_LEDGER_GROUP_DAY:
      return "strftime ('%Y-%m-%d', time_us / 1000000, 'unixepoch')";
    case HELIX_LEDGER_GROUP_LOCAL_DAY:
      /* SQLite's localtime follows TZ and daylight saving, day by day. */
      return "strftime ('%Y-%m-%d', time_us / 1000000, 'unixepoch', 'localtime')";
    case HELIX_LEDGER_GROUP_PROVIDER:
      return "coalesce (provider, '')";
    case HELIX_LEDGER_GROUP_MODEL:
      return "coalesce (provider, '') || '/' || coalesce (model, '')";
    case HELIX_LEDGER_GROUP_USER:
      return "user";
    case HELIX_LEDGER_GROUP_OPERATION:
    default:
      return "operation";
    }
}

static void
run_totals (HelixLedger *self,
            Job         *job)
{
  g_autoptr(GPtrArray) totals = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_ledger_total_free);
  g_autofree char *sql = NULL;
  sqlite3_stmt *stmt = NULL;
  int rc;

  sql = g_strdup_printf ("SELECT %s AS k, count (*), sum (outcome != 'ok'), sum (input_tokens),"
                         " sum (output_tokens), sum (cost_usd) FROM calls"
                         " WHERE time_us >= ?1 AND time_us < ?2 AND (?3 IS NULL OR user = ?3)"
                         " GROUP BY k ORDER BY k LIMIT %d",
                         group_sql (job->group), MAX_TOTALS);
  if (sqlite3_prepare_v2 (self->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      g_task_return_error (job->task, db_error (self->db, "read the totals"));
      return;
    }

  sqlite3_bind_int64 (stmt, 1, job->since_us);
  sqlite3_bind_int64 (stmt, 2, job->until_us);
  bind_text (stmt, 3, job->user);

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      HelixLedgerTotal *total = g_new0 (HelixLedgerTotal, 1);

      total->key = column_dup (stmt, 0);
      if (total->key == NULL)
        total->key = g_strdup ("");
      total->calls = sqlite3_column_int64 (stmt, 1);
      total->failures = sqlite3_column_int64 (stmt, 2);
      total->input_tokens = sqlite3_column_int64 (stmt, 3);
      total->output_tokens = sqlite3_column_int64 (stmt, 4);
      total->cost_usd = sqlite3_column_double (stmt, 5);
      g_ptr_array_add (totals, total);
    }

  if (rc != SQLITE_DONE)
    g_task_return_error (job->task, db_error (self->db, "read the totals"));
  else
    g_task_return_pointer (job->task, g_steal_pointer (&totals), (GDestroyNotify) g_ptr_array_unref);
  sqlite3_finalize (stmt);
}

static void
run_recent (HelixLedger *self,
            Job         *job)
{
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_ledger_entry_free);
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (sqlite3_prepare_v2 (self->db,
                          "SELECT time_us, user, session, operation, provider, model,"
                          " input_tokens, output_tokens, cost_usd, latency_us, first_token_us,"
                          " attempts, outcome, error, reason FROM calls"
                          " WHERE (?1 IS NULL OR user = ?1) ORDER BY id DESC LIMIT ?2",
                          -1, &stmt, NULL) != SQLITE_OK)
    {
      g_task_return_error (job->task, db_error (self->db, "read the recent calls"));
      return;
    }

  bind_text (stmt, 1, job->user);
  sqlite3_bind_int (stmt, 2, MIN (job->limit, MAX_RECENT));

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      HelixLedgerEntry *e = g_new0 (HelixLedgerEntry, 1);

      e->time_us = sqlite3_column_int64 (stmt, 0);
      e->user = column_dup (stmt, 1);
      e->session_id = column_dup (stmt, 2);
      e->operation = column_dup (stmt, 3);
      e->provider = column_dup (stmt, 4);
      e->model = column_dup (stmt, 5);
      e->input_tokens = sqlite3_column_int64 (stmt, 6);
      e->output_tokens = sqlite3_column_int64 (stmt, 7);
      e->cost_usd = sqlite3_column_double (stmt, 8);
      e->latency_us = sqlite3_column_int64 (stmt, 9);
      e->first_token_us = sqlite3_column_int64 (stmt, 10);
      e->attempts = sqlite3_column_int (stmt, 11);
      e->outcome = column_dup (stmt, 12);
      e->error = column_dup (stmt, 13);
      e->reason = column_dup (stmt, 14);
      g_ptr_array_add (entries, e);
    }

  if (rc != SQLITE_DONE)
    g_task_return_error (job->task, db_error (self->db, "read the recent calls"));
  else
    g_task_return_pointer (job->task, g_steal_pointer (&entries), (GDestroyNotify) g_ptr_array_unref);
  sqlite3_finalize (stmt);
}

/* What was spent in the last 32 days, in quarter hours (time zones are
 * whole quarter hours off UTC, so each lands in the right day). */
static GError *
run_budget (HelixLedger *self,
            Job         *job)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (sqlite3_prepare_v2 (self->db,
                          "SELECT user, time_us / 900000000, sum (cost_usd) FROM calls"
                          " WHERE time_us >= ?1 AND cost_usd > 0 GROUP BY 1, 2",
                          -1, &stmt, NULL) != SQLITE_OK)
    return db_error (self->db, "read what was spent");

  sqlite3_bind_int64 (stmt, 1, job->since_us);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    helix_budget_add_spent (job->budget, (const char *) sqlite3_column_text (stmt, 0),
                            sqlite3_column_int64 (stmt, 1) * 900 * G_USEC_PER_SEC,
                            sqlite3_column_double (stmt, 2));
  sqlite3_finalize (stmt);

  return rc == SQLITE_DONE ? NULL : db_error (self->db, "read what was spent");
}

static gpointer
ledger_thread (gpointer data)
{
  HelixLedger *self = data;
  sqlite3_stmt *insert_stmt = NULL;

  if (sqlite3_prepare_v3 (self->db,
                          "INSERT INTO calls (time_us, user, session, operation, provider, model,"
                          " input_tokens, output_tokens, cost_usd, latency_us, first_token_us,"
                          " attempts, outcome, error, reason)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                          -1, SQLITE_PREPARE_PERSISTENT, &insert_stmt, NULL) != SQLITE_OK)
    g_error ("The ledger's insert does not compile: %s", sqlite3_errmsg (self->db));

  for (;;)
    {
      Job *job = g_async_queue_pop (self->jobs);

      if (job->kind == JOB_RECORD)
        {
          job = write_batch (self, insert_stmt, job);
          if (job == NULL)
            continue;
        }

      switch (job->kind)
        {
        case JOB_WAIT:
          waiter_signal (job->waiter, NULL);
          break;

        case JOB_TOTALS:
          run_totals (self, job);
          break;

        case JOB_RECENT:
          run_recent (self, job);
          break;

        case JOB_BUDGET:
          waiter_signal (job->waiter, run_budget (self, job));
          break;

        case JOB_STOP:
          sqlite3_finalize (insert_stmt);
          waiter_signal (job->waiter, NULL);
          job_free (job);
          return NULL;

        case JOB_RECORD:
        default:
          g_assert_not_reached ();
        }

      job_free (job);
    }
}

/* The object */

static void
helix_ledger_finalize (GObject *object)
{
  HelixLedger *self = HELIX_LEDGER (object);

  helix_ledger_close (self);
  g_clear_pointer (&self->jobs, g_async_queue_unref);
  g_clear_pointer (&self->path, g_free);

  G_OBJECT_CLASS (helix_ledger_parent_class)->finalize (object);
}

static void
helix_ledger_class_init (HelixLedgerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = helix_ledger_finalize;
}

static void
helix_ledger_init (HelixLedger *self)
{
  self->jobs = g_async_queue_new ();
}

/**
 * helix_ledger_open:
 * @path: the ledger's file; made if missing (mode 0600)
 * @error: return location for a #GError
 *
 * Opens the ledger and starts its thread. This waits for the disk: call it
 * at startup.
 *
 * Returns: (transfer full) (nullable): the ledger
 */
HelixLedger *
helix_ledger_open (const char  *path,
                   GError     **error)
{
  g_autoptr(HelixLedger) self = NULL;
  sqlite3_stmt *stmt = NULL;
  int version = 0;
  int fd;

  g_return_val_if_fail (path != NULL, NULL);

  self = g_object_new (HELIX_TYPE_LEDGER, NULL);
  self->path = g_strdup (path);

  /* Who asked what and when is private: only the owner reads the file (SQLite
   * gives its journal files the same mode). */
  if ((fd = g_open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   _("Could not open the cost ledger %s: %s"), path, g_strerror (saved_errno));
      return NULL;
    }
  close (fd);

  if (sqlite3_open_v2 (path, &self->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                       NULL) != SQLITE_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("Could not open the cost ledger %s: %s"),
                   path, self->db != NULL ? sqlite3_errmsg (self->db) : "out of memory");
      g_clear_pointer (&self->db, sqlite3_close);
      return NULL;
    }
  sqlite3_busy_timeout (self->db, 5000);
  sqlite3_extended_result_codes (self->db, TRUE);

  if (sqlite3_prepare_v2 (self->db, "PRAGMA user_version", -1, &stmt, NULL) == SQLITE_OK &&
      sqlite3_step (stmt) == SQLITE_ROW)
    version = sqlite3_column_int (stmt, 0);
  sqlite3_finalize (stmt);

  if (version > SCHEMA_VERSION)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   _("The cost ledger %s was written by a newer Helix (schema %d). Update Helix."),
                   path, version);
      g_clear_pointer (&self->db, sqlite3_close);
      return NULL;
    }

  if (!exec (self->db, "PRAGMA journal_mode = WAL", "use its journal", error) ||
      !exec (self->db, "PRAGMA synchronous = NORMAL", "set its durability", error) ||
      !exec (self->db, "BEGIN IMMEDIATE", "start a transaction", error) ||
      !exec (self->db, schema, "create its tables", error) ||
      !exec (self->db, "PRAGMA user_version = 1", "record its schema", error) ||
      !exec (self->db, "COMMIT", "save its tables", error))
    {
      g_clear_pointer (&self->db, sqlite3_close);
      return NULL;
    }

  self->thread = g_thread_new ("helix-ledger", ledger_thread, self);

  return g_steal_pointer (&self);
}

const char *
helix_ledger_get_path (HelixLedger *self)
{
  g_return_val_if_fail (HELIX_IS_LEDGER (self), NULL);

  return self->path;
}

/**
 * helix_ledger_close:
 * @self: a ledger
 *
 * Writes what is queued and stops the thread; later records are dropped
 * with a warning. Called by finalize too.
 */
void
helix_ledger_close (HelixLedger *self)
{
  Job *job;

  g_return_if_fail (HELIX_IS_LEDGER (self));

  if (self->thread == NULL)
    return;

  job = g_new0 (Job, 1);
  job->kind = JOB_STOP;
  wait_for_job (self, job, NULL);
  g_clear_pointer (&self->thread, g_thread_join);
  g_clear_pointer (&self->db, sqlite3_close);
}

static void
on_call_finished (HelixRouter       *router,
                  HelixRouterResult *result,
                  HelixLedger       *self)
{
  helix_ledger_record (self, result, g_get_real_time ());
}

/**
 * helix_ledger_attach:
 * @self: a ledger
 * @router: a router
 *
 * Records every call @router makes from now on, for as long as both live.
 */
void
helix_ledger_attach (HelixLedger *self,
                     HelixRouter *router)
{
  g_return_if_fail (HELIX_IS_LEDGER (self));
  g_return_if_fail (HELIX_IS_ROUTER (router));

  g_signal_connect_object (router, "call-finished", G_CALLBACK (on_call_finished), self,
                           G_CONNECT_DEFAULT);
}

/**
 * helix_ledger_record:
 * @self: a ledger
 * @result: a routed call's record
 * @time_us: when it ended, µs since the Unix epoch
 *
 * Queues the call for writing; never waits.
 */
void
helix_ledger_record (HelixLedger             *self,
                     const HelixRouterResult *result,
                     gint64                   time_us)
{
  HelixLedgerEntry *e;
  Job *job;

  g_return_if_fail (HELIX_IS_LEDGER (self));
  g_return_if_fail (result != NULL);

  if (self->thread == NULL)
    {
      g_warning ("A call ended after the cost ledger was closed; it is not recorded");
      return;
    }

  e = g_new0 (HelixLedgerEntry, 1);
  e->time_us = time_us;
  e->user = g_strdup (result->user != NULL ? result->user : HELIX_BUDGET_LOCAL_USER);
  e->session_id = g_strdup (result->session_id);
  e->operation = g_strdup (result->operation);
  e->provider = g_strdup (result->provider);
  e->model = g_strdup (result->model);
  e->input_tokens = result->input_tokens;
  e->output_tokens = result->output_tokens;
  e->cost_usd = result->cost_usd;
  e->latency_us = result->latency_us;
  e->first_token_us = result->first_token_us;
  e->attempts = result->attempts;
  e->outcome = g_strdup (outcome_names[CLAMP (result->outcome, 0, (int) G_N_ELEMENTS (outcome_names) - 1)]);
  e->error = g_strdup (result->error);
  e->reason = g_strdup (result->reason);

  job = g_new0 (Job, 1);
  job->kind = JOB_RECORD;
  job->entry = e;
  g_async_queue_push (self->jobs, job);
}

/**
 * helix_ledger_flush:
 * @self: a ledger
 * @error: return location for a #GError
 *
 * Waits until every call queued so far is written. For tests and shutdown.
 *
 * Returns: %TRUE
 */
gboolean
helix_ledger_flush (HelixLedger  *self,
                    GError      **error)
{
  Job *job;

  g_return_val_if_fail (HELIX_IS_LEDGER (self), FALSE);
  g_return_val_if_fail (self->thread != NULL, FALSE);

  job = g_new0 (Job, 1);
  job->kind = JOB_WAIT;
  return wait_for_job (self, job, error);
}

/**
 * helix_ledger_load_budget:
 * @self: a ledger
 * @budget: a budget
 * @now_us: the time now, µs since the Unix epoch
 * @error: return location for a #GError
 *
 * Counts in @budget what the ledger says was spent this month (and day), so
 * a restart does not reset the limits. Waits for the disk: call it at startup.
 *
 * Returns: %TRUE on success
 */
gboolean
helix_ledger_load_budget (HelixLedger  *self,
                          HelixBudget  *budget,
                          gint64        now_us,
                          GError      **error)
{
  Job *job;

  g_return_val_if_fail (HELIX_IS_LEDGER (self), FALSE);
  g_return_val_if_fail (HELIX_IS_BUDGET (budget), FALSE);
  g_return_val_if_fail (self->thread != NULL, FALSE);

  job = g_new0 (Job, 1);
  job->kind = JOB_BUDGET;
  job->budget = g_object_ref (budget);
  job->since_us = now_us - 32 * G_TIME_SPAN_DAY;
  return wait_for_job (self, job, error);
}

static Job *
new_query (HelixLedger         *self,
           JobKind              kind,
           const char          *user,
           GCancellable        *cancellable,
           GAsyncReadyCallback  callback,
           gpointer             user_data,
           gpointer             source_tag)
{
  Job *job = g_new0 (Job, 1);

  job->kind = kind;
  job->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (job->task, source_tag);
  job->user = g_strdup (user);

  return job;
}

/* Runs after every record queued before it; answers at once on a closed ledger. */
static void
queue_query (HelixLedger *self,
             Job         *job)
{
  if (self->thread == NULL)
    {
      g_task_return_new_error (job->task, G_IO_ERROR, G_IO_ERROR_CLOSED,
                               _("The cost ledger is closed"));
      job_free (job);
      return;
    }

  g_async_queue_push (self->jobs, job);
}

/**
 * helix_ledger_query_totals_async:
 * @self: a ledger
 * @group: how to group the calls
 * @user: (nullable): only this user's calls, or %NULL for everyone's
 * @since_us: from this time (µs since the Unix epoch), included
 * @until_us: to this time, excluded
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the totals
 * @user_data: data for @callback
 */
void
helix_ledger_query_totals_async (HelixLedger         *self,
                                 HelixLedgerGroup     group,
                                 const char          *user,
                                 gint64               since_us,
                                 gint64               until_us,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  Job *job;

  g_return_if_fail (HELIX_IS_LEDGER (self));

  job = new_query (self, JOB_TOTALS, user, cancellable, callback, user_data,
                   helix_ledger_query_totals_async);
  job->group = group;
  job->since_us = since_us;
  job->until_us = until_us;
  queue_query (self, job);
}

/**
 * helix_ledger_query_totals_finish:
 * @self: a ledger
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Returns: (transfer container) (element-type HelixLedgerTotal): the totals,
 *   by key
 */
GPtrArray *
helix_ledger_query_totals_finish (HelixLedger   *self,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == helix_ledger_query_totals_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * helix_ledger_list_recent_async:
 * @self: a ledger
 * @user: (nullable): only this user's calls, or %NULL for everyone's
 * @limit: how many, at most (up to 1000)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the calls
 * @user_data: data for @callback
 */
void
helix_ledger_list_recent_async (HelixLedger         *self,
                                const char          *user,
                                guint                limit,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  Job *job;

  g_return_if_fail (HELIX_IS_LEDGER (self));

  job = new_query (self, JOB_RECENT, user, cancellable, callback, user_data,
                   helix_ledger_list_recent_async);
  job->limit = limit;
  queue_query (self, job);
}

/**
 * helix_ledger_list_recent_finish:
 * @self: a ledger
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Returns: (transfer container) (element-type HelixLedgerEntry): the calls,
 *   newest first
 */
GPtrArray *
helix_ledger_list_recent_finish (HelixLedger   *self,
                                 GAsyncResult  *result,
                                 GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == helix_ledger_list_recent_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
