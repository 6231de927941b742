/* helix-gateway-writer.c: every write of the running gateway, off the main loop
 *
 * A thread with its own connection to the gateway's database, the only one
 * of a running gateway that writes (see helix-gateway-db.c). It stores, one
 * at a time and in the order they were submitted:
 *
 *  - the group commits of the sync hub (_helix_gateway_writer_submit()):
 *    one batch of pushes, helix_gateway_db_apply_pushes(), one transaction,
 *    one fsync (synchronous=FULL), while the main loop goes on reading frames
 *    and fanning out what was stored before. When the commit has returned,
 *    the thread tells the main context that made the writer (an idle
 *    source); the hub then collects the result with
 *    _helix_gateway_writer_collect() and only then acknowledges and fans
 *    out. Only one batch is in flight, so batches are committed, and their
 *    seqs handed out, in the order they were submitted. The pushes (and
 *    their ops) belong to the thread from _helix_gateway_writer_submit()
 *    until _helix_gateway_writer_collect() returns: the main loop must not
 *    touch them meanwhile (json-glib objects are not thread-safe).
 *
 *  - other writes (_helix_gateway_writer_run_async()): a function run on
 *    the thread with its connection, such as an account change, whose
 *    result comes back as a GTask on the main context of the caller.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-gateway-db-private.h"
#include "helix-gateway-private.h"
#include "helix-gateway-sync.h"

/* A write of _helix_gateway_writer_run_async(); one with no @func stands
 * for the batch of _helix_gateway_writer_submit(). */
typedef struct
{
  HelixGatewayWriteFunc  func;
  GTask                 *task; /* (owned) (nullable): with @func */
} Job;

struct _HelixGatewayWriter
{
  char                  *db_path;
  GThread               *thread;
  GMainContext          *context;     /* where @done runs */
  HelixGatewayWriterDone done;
  gpointer               user_data;

  GMutex                 mutex;
  GCond                  cond;
  /* Under @mutex: */
  GQueue                 jobs;        /* (element-type Job) (owned): in the order submitted */
  HelixGatewayPush      *todo;        /* the batch submitted, until the thread takes it */
  guint                  n_todo;
  gboolean               finished;    /* the batch in flight is applied */
  gboolean               stored;      /* its result */
  GError                *error;
  GSource               *done_source; /* (owned) (nullable) */
  gboolean               quit;
  HelixGatewayWriterHold hold;        /* (nullable): for tests */
  gpointer               hold_data;

  /* Main thread only: a batch was submitted and not collected. */
  gboolean               busy;

  /* Writer thread only. */
  HelixGatewayDb        *db;
};

static gboolean
done_cb (gpointer data)
{
  HelixGatewayWriter *self = data;

  self->done (self->user_data);

  return G_SOURCE_REMOVE;
}

/* The thread's connection, opened with the first write. */
static HelixGatewayDb *
ensure_db (HelixGatewayWriter  *self,
           GError             **error)
{
  g_autoptr(GError) local_error = NULL;

  if (self->db != NULL)
    return self->db;

  /* Not helix_gateway_db_open(), which reads the file's header through a
   * file descriptor of its own: closing it would drop every POSIX lock
   * this process holds on the file, those of the main thread's connection
   * too (see _helix_gateway_db_open_again()). */
  self->db = _helix_gateway_db_open_again (self->db_path, &local_error);
  if (self->db != NULL)
    helix_gateway_db_defer_checkpoints (self->db);
  else
    g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_DATABASE,
                 _("Could not open the database “%s”: %s"), self->db_path,
                 local_error->message);

  return self->db;
}

static void
run_job (HelixGatewayWriter *self,
         Job                *job)
{
  GError *error = NULL;
  HelixGatewayDb *db = ensure_db (self, &error);

  if (db != NULL && job->func (db, g_task_get_task_data (job->task), &error))
    g_task_return_boolean (job->task, TRUE);
  else
    g_task_return_error (job->task, error);

  g_clear_object (&job->task);
  g_free (job);
}

static void
store_batch (HelixGatewayWriter *self)
{
  HelixGatewayPush *pushes;
  GError *error = NULL;
  gboolean stored = FALSE;
  guint n;

  /* Called and returns with @mutex held. */
  pushes = g_steal_pointer (&self->todo);
  n = self->n_todo;
  g_mutex_unlock (&self->mutex);

  if (ensure_db (self, &error) != NULL)
    stored = helix_gateway_db_apply_pushes (self->db, pushes, n, &error);

  g_mutex_lock (&self->mutex);
  self->finished = TRUE;
  self->stored = stored;
  self->error = error;
  g_cond_broadcast (&self->cond);

  if (!self->quit)
    {
      self->done_source = g_idle_source_new ();
      g_source_set_priority (self->done_source, G_PRIORITY_DEFAULT);
      g_source_set_callback (self->done_source, done_cb, self, NULL);
      g_source_set_name (self->done_source, "[helix] group commit done");
      g_source_attach (self->done_source, self->context);
    }
}

static gpointer
writer_thread (gpointer data)
{
  HelixGatewayWriter *self = data;

  _helix_gateway_db_mark_writer_thread ();

  g_mutex_lock (&self->mutex);
  for (;;)
    {
      Job *job;

      /* Writes submitted before quitting are still stored: a batch is then
       * not acknowledged, and the devices push it again; the others are
       * answered as usual. */
      while (g_queue_is_empty (&self->jobs) && !self->quit)
        g_cond_wait (&self->cond, &self->mutex);
      if (g_queue_is_empty (&self->jobs))
        break;

      if (self->hold != NULL)
        {
          HelixGatewayWriterHold hold = self->hold;
          gpointer hold_data = self->hold_data;

          g_mutex_unlock (&self->mutex);
          hold (hold_data);
          g_mutex_lock (&self->mutex);
        }

      job = g_queue_pop_head (&self->jobs);
      if (job->func == NULL)
        {
          g_free (job);
          store_batch (self);
          continue;
        }

      g_mutex_unlock (&self->mutex);
      run_job (self, job);
      g_mutex_lock (&self->mutex);
    }
  g_mutex_unlock (&self->mutex);

  if (self->db != NULL)
    {
      helix_gateway_db_close (self->db);
      g_clear_object (&self->db);
    }

  return NULL;
}

/**
 * _helix_gateway_writer_new:
 * @db_path: the gateway's database
 * @done: called on the thread-default main context of the caller when a
 *   submitted batch is stored (or failed)
 * @user_data: for @done
 *
 * Starts the writer thread. Its connection to the database opens with the
 * first batch.
 *
 * Returns: (transfer full): the writer
 */
HelixGatewayWriter *
_helix_gateway_writer_new (const char             *db_path,
                           HelixGatewayWriterDone  done,
                           gpointer                user_data)
{
  HelixGatewayWriter *self = g_new0 (HelixGatewayWriter, 1);

  self->db_path = g_strdup (db_path);
  self->context = g_main_context_ref_thread_default ();
  self->done = done;
  self->user_data = user_data;
  g_mutex_init (&self->mutex);
  g_cond_init (&self->cond);
  self->thread = g_thread_new ("helix-gw-writer", writer_thread, self);

  return self;
}

/**
 * _helix_gateway_writer_submit:
 * @self: a writer with no batch in flight
 * @pushes: (array length=n): the pushes, filled as for helix_gateway_db_apply_pushes();
 *   the writer owns them until _helix_gateway_writer_collect()
 * @n: how many, at least 1
 *
 * Stores @pushes in one transaction on the writer thread.
 */
void
_helix_gateway_writer_submit (HelixGatewayWriter *self,
                              HelixGatewayPush   *pushes,
                              guint               n)
{
  g_assert (!self->busy);
  g_assert (n > 0);

  self->busy = TRUE;

  g_mutex_lock (&self->mutex);
  g_assert (self->todo == NULL && !self->finished);
  self->todo = pushes;
  self->n_todo = n;
  g_queue_push_tail (&self->jobs, g_new0 (Job, 1));
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->mutex);
}

/**
 * _helix_gateway_writer_run_async:
 * @self: a writer
 * @func: what to write, run on the writer thread with its connection
 * @data: for @func; the thread's until @callback runs, so the caller must
 *   neither touch it nor free it meanwhile
 * @callback: (nullable): called on the thread-default main context of the
 *   caller once @func returned (committed, or failed)
 * @user_data: for @callback
 *
 * Runs @func on the writer thread after everything submitted before it.
 */
void
_helix_gateway_writer_run_async (HelixGatewayWriter    *self,
                                 HelixGatewayWriteFunc  func,
                                 gpointer               data,
                                 GAsyncReadyCallback    callback,
                                 gpointer               user_data)
{
  Job *job;

  g_assert (func != NULL);

  job = g_new0 (Job, 1);
  job->func = func;
  job->task = g_task_new (NULL, NULL, callback, user_data);
  g_task_set_source_tag (job->task, _helix_gateway_writer_run_async);
  g_task_set_name (job->task, "[helix] gateway write");
  g_task_set_task_data (job->task, data, NULL);

  g_mutex_lock (&self->mutex);
  g_queue_push_tail (&self->jobs, job);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->mutex);
}

/**
 * _helix_gateway_writer_run_finish:
 * @result: the result given to the callback of _helix_gateway_writer_run_async()
 * @error: a location for the error of the write function
 *
 * Returns: what the write function returned
 */
gboolean
_helix_gateway_writer_run_finish (GAsyncResult  *result,
                                  GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        _helix_gateway_writer_run_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * _helix_gateway_writer_set_hold:
 * @self: a writer
 * @hold: (nullable): called on the writer thread before each write, which
 *   waits until it returns
 * @data: for @hold
 *
 * For tests: holds the writer back, as a slow disk would.
 */
void
_helix_gateway_writer_set_hold (HelixGatewayWriter     *self,
                                HelixGatewayWriterHold  hold,
                                gpointer                data)
{
  g_mutex_lock (&self->mutex);
  self->hold = hold;
  self->hold_data = data;
  g_mutex_unlock (&self->mutex);
}

/**
 * _helix_gateway_writer_is_busy:
 * @self: a writer
 *
 * Returns: whether a batch was submitted and not collected yet
 */
gboolean
_helix_gateway_writer_is_busy (HelixGatewayWriter *self)
{
  return self->busy;
}

/**
 * _helix_gateway_writer_collect:
 * @self: a writer with a batch in flight
 * @error: a location for the error of the whole batch
 *
 * Waits until the batch in flight is stored (at once when @done was
 * called), so that the pushes are the caller's again.
 *
 * Returns: the result of helix_gateway_db_apply_pushes() for the batch
 */
gboolean
_helix_gateway_writer_collect (HelixGatewayWriter  *self,
                               GError             **error)
{
  gboolean stored;

  g_assert (self->busy);

  g_mutex_lock (&self->mutex);
  while (!self->finished)
    g_cond_wait (&self->cond, &self->mutex);

  self->finished = FALSE;
  stored = self->stored;
  if (!stored)
    g_propagate_error (error, g_steal_pointer (&self->error));
  g_clear_error (&self->error);
  if (self->done_source != NULL)
    {
      g_source_destroy (self->done_source);
      g_clear_pointer (&self->done_source, g_source_unref);
    }
  g_mutex_unlock (&self->mutex);

  self->busy = FALSE;

  return stored;
}

/**
 * _helix_gateway_writer_free:
 * @self: (nullable): a writer
 *
 * Stops the thread once everything submitted is stored, and closes its
 * connection. The batch in flight is not collected: the caller drops it;
 * the other writes are answered on the caller's main context.
 */
void
_helix_gateway_writer_free (HelixGatewayWriter *self)
{
  if (self == NULL)
    return;

  g_mutex_lock (&self->mutex);
  self->quit = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->mutex);

  g_thread_join (self->thread);

  if (self->done_source != NULL)
    {
      g_source_destroy (self->done_source);
      g_clear_pointer (&self->done_source, g_source_unref);
    }
  g_clear_error (&self->error);
  g_assert (g_queue_is_empty (&self->jobs));
  g_mutex_clear (&self->mutex);
  g_cond_clear (&self->cond);
  g_main_context_unref (self->context);
  g_free (self->db_path);
  g_free (self);
}
