/* helix-gateway-writer.c: the group commits of the sync hub, off the main loop
 *
 * A thread with its own connection to the gateway's database stores one
 * batch of pushes at a time (helix_gateway_db_apply_pushes(): one
 * transaction, one fsync, synchronous=FULL), while the main loop goes on
 * reading frames and fanning out what was stored before. When the commit
 * has returned, the thread tells the main context that made the writer (an
 * idle source); the hub then collects the result with
 * _helix_gateway_writer_collect() and only then acknowledges and fans out.
 *
 * Only one batch is in flight, so batches are committed, and their seqs
 * handed out, in the order they were submitted. The pushes (and their ops)
 * belong to the thread from _helix_gateway_writer_submit() until
 * _helix_gateway_writer_collect() returns: the main loop must not touch
 * them meanwhile (json-glib objects are not thread-safe).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-gateway-private.h"
#include "helix-gateway-sync.h"

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
  HelixGatewayPush      *todo;        /* submitted, not taken by the thread yet */
  guint                  n_todo;
  gboolean               finished;    /* the batch in flight is applied */
  gboolean               stored;      /* its result */
  GError                *error;
  GSource               *done_source; /* (owned) (nullable) */
  gboolean               quit;

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

static gpointer
writer_thread (gpointer data)
{
  HelixGatewayWriter *self = data;

  g_mutex_lock (&self->mutex);
  for (;;)
    {
      HelixGatewayPush *pushes;
      GError *error = NULL;
      gboolean stored = FALSE;
      guint n;

      while (self->todo == NULL && !self->quit)
        g_cond_wait (&self->cond, &self->mutex);

      /* A batch submitted before quitting is still stored: nothing is
       * acknowledged then, and the devices push it again. */
      if (self->todo == NULL)
        break;

      pushes = g_steal_pointer (&self->todo);
      n = self->n_todo;
      g_mutex_unlock (&self->mutex);

      if (self->db == NULL)
        {
          g_autoptr(GError) local_error = NULL;

          self->db = helix_gateway_db_open (self->db_path, &local_error);
          if (self->db != NULL)
            helix_gateway_db_defer_checkpoints (self->db);
          else
            g_set_error (&error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_DATABASE,
                         _("Could not open the database “%s”: %s"), self->db_path,
                         local_error->message);
        }
      if (self->db != NULL)
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
  g_cond_broadcast (&self->cond);
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
 * Stops the thread once the batch in flight, if any, is stored, and closes
 * its connection. That batch is not collected: the caller drops it.
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
  g_mutex_clear (&self->mutex);
  g_cond_clear (&self->cond);
  g_main_context_unref (self->context);
  g_free (self->db_path);
  g_free (self);
}
