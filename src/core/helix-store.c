/* helix-store.c: the local SQLite store
 *
 * One SQLite file holds a profile's sessions and messages. The store owns:
 *
 *  - one writer connection, used by a single writer thread for the *_async calls (so
 *    writes happen in the order they were asked for and never block the main loop) and,
 *    under the same mutex, by the synchronous calls that tools and tests use;
 *  - one read connection for short, indexed lookups (pages of a message list);
 *  - a small pool of read connections for long queries (search, listing) that run in
 *    GTask worker threads.
 *
 * Every write commits with synchronous=FULL before it is reported done: whatever the UI
 * shows as saved survives a crash of the process or of the machine.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-store"

#include "config.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>

#include "helix-db.h"
#include "helix-hlc.h"
#include "helix-message-private.h"
#include "helix-search-hit-private.h"
#include "helix-session-private.h"
#include "helix-store-private.h"
#include "helix-uuid.h"



G_DEFINE_FINAL_TYPE (HelixStore, helix_store, G_TYPE_OBJECT)

enum {
  SESSION_CHANGED,
  MESSAGE_ADDED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* Set on the writer thread, so that a store finalized there does not wait for it. */
GPrivate _helix_store_in_writer_thread;



/* Errors {{{1 */


gboolean
_helix_store_check_open (HelixStore  *self,
                         GError     **error)
{
  if (self->closed)
    {
      g_set_error_literal (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_CLOSED,
                           _("The store was closed"));
      return FALSE;
    }

  return TRUE;
}

gboolean
_helix_store_check_id (const char  *id,
                       const char  *what,
                       GError     **error)
{
  if (!helix_uuid_is_valid (id))
    {
      g_set_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID,
                   _("“%.40s” is not a valid %s id"), id ? id : "", what);
      return FALSE;
    }

  return TRUE;
}

gboolean
_helix_store_check_text (const char  *text,
                         gsize        max_bytes,
                         const char  *what,
                         GError     **error)
{
  gsize len = text ? strlen (text) : 0;

  if (text == NULL || !g_utf8_validate (text, len, NULL))
    {
      g_set_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID,
                   _("The %s is not valid UTF-8 text"), what);
      return FALSE;
    }

  if (len > max_bytes)
    {
      g_set_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID,
                   _("The %s is too long (%lu bytes; at most %lu)"),
                   what, (gulong) len, (gulong) max_bytes);
      return FALSE;
    }

  return TRUE;
}

/* Connections {{{1 */




static sqlite3 *
open_reader (HelixStore  *self,
             GError     **error)
{
  sqlite3 *db = helix_db_open (self->path, TRUE, error);

  if (db == NULL)
    return NULL;

  if (!helix_db_exec (db, "PRAGMA query_only = ON; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16384",
             _("Could not set up a read connection"), error))
    {
      sqlite3_close (db);
      return NULL;
    }

  return db;
}

/* Hands out a read connection for a worker thread; give it back with release_reader(). */
sqlite3 *
_helix_store_acquire_reader (HelixStore  *self,
                             GError     **error)
{
  sqlite3 *db = NULL;

  g_mutex_lock (&self->pool_mutex);
  if (self->idle_readers->len > 0)
    db = g_ptr_array_steal_index_fast (self->idle_readers, self->idle_readers->len - 1);
  g_mutex_unlock (&self->pool_mutex);

  return db ? db : open_reader (self, error);
}

void
_helix_store_release_reader (HelixStore *self,
                             sqlite3    *db)
{
  g_mutex_lock (&self->pool_mutex);
  if (!self->closed && self->idle_readers->len < MAX_IDLE_READERS)
    {
      g_ptr_array_add (self->idle_readers, db);
      db = NULL;
    }
  g_mutex_unlock (&self->pool_mutex);

  if (db != NULL)
    sqlite3_close (db);
}


/* Checkpoints {{{1
 *
 * SQLite checkpoints the WAL inside whichever commit crosses the threshold, with its
 * fsyncs of the main file: that commit takes milliseconds instead of a fraction of one.
 * Automatic checkpoints are off on the writer; a commit that leaves more than
 * CHECKPOINT_PAGES in the WAL queues a PASSIVE checkpoint on a connection of its own,
 * which never blocks the writer or the readers.
 */

static void
checkpoint_pool_func (gpointer data,
                      gpointer user_data)
{
  HelixStore *self = user_data;
  g_autoptr(GError) error = NULL;
  int n_log = 0, n_done = 0;
  int rc;

  g_atomic_int_set (&self->checkpoint_queued, FALSE);

  if (self->checkpointer == NULL)
    {
      gint64 n_objects;

      /* A connection learns that the file is in WAL mode only when it first reads it;
       * until then a checkpoint is a no-op. */
      self->checkpointer = helix_db_open (self->path, FALSE, &error);
      if (self->checkpointer == NULL ||
          !helix_db_query_int (self->checkpointer, "SELECT count(*) FROM sqlite_schema", &n_objects, &error))
        {
          g_warning ("Could not open a connection for checkpoints: %s", error->message);
          g_clear_pointer (&self->checkpointer, sqlite3_close);
          return;
        }
    }

  rc = sqlite3_wal_checkpoint_v2 (self->checkpointer, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                  &n_log, &n_done);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY)
    g_warning ("Checkpoint of %s failed: %s", self->path, sqlite3_errmsg (self->checkpointer));
  else
    g_debug ("Checkpointed %d of %d WAL pages", n_done, n_log);
}

static int
wal_hook_cb (gpointer     user_data,
             sqlite3     *db,
             const char  *db_name,
             int          n_pages)
{
  HelixStore *self = user_data;

  if (n_pages >= CHECKPOINT_PAGES &&
      self->checkpoint_pool != NULL &&
      g_atomic_int_compare_and_exchange (&self->checkpoint_queued, FALSE, TRUE))
    g_thread_pool_push (self->checkpoint_pool, GINT_TO_POINTER (1), NULL);

  return SQLITE_OK;
}

/* Checkpoints the whole WAL and truncates it, on the writer connection; blocks until
 * done. For tests, benchmarks and tools: the store itself checkpoints in the
 * background. */
gboolean
_helix_store_checkpoint (HelixStore  *self,
                         GError     **error)
{
  int rc;

  g_mutex_lock (&self->writer_mutex);
  rc = self->writer ? sqlite3_wal_checkpoint_v2 (self->writer, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                                 NULL, NULL)
                    : SQLITE_MISUSE;
  if (rc != SQLITE_OK)
    helix_db_set_error (error, self->writer, rc, _("Could not checkpoint the database"));
  g_mutex_unlock (&self->writer_mutex);

  return rc == SQLITE_OK;
}

/* Opening {{{1 */

static char *
load_device_id (sqlite3  *db,
                GError  **error)
{
  sqlite3_stmt *stmt = NULL;
  g_autofree char *device_id = NULL;
  int rc;

  stmt = helix_db_prepare (db, "SELECT value FROM store_meta WHERE key = 'device-id'", FALSE, error);
  if (stmt == NULL)
    return NULL;
  if (sqlite3_step (stmt) == SQLITE_ROW)
    device_id = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  sqlite3_finalize (stmt);

  if (device_id != NULL && helix_hlc_device_is_valid (device_id))
    return g_steal_pointer (&device_id);

  g_clear_pointer (&device_id, g_free);
  device_id = g_uuid_string_random ();

  stmt = helix_db_prepare (db, "INSERT OR REPLACE INTO store_meta (key, value) VALUES ('device-id', ?)",
                  FALSE, error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, device_id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, db, rc, _("Could not save the device id"));
      return NULL;
    }

  return g_steal_pointer (&device_id);
}

static sqlite3 *
open_and_check (const char  *path,
                guint       *version,
                GError     **error)
{
  return helix_db_open_checked (path, HELIX_STORE_APPLICATION_ID,
                                helix_store_get_latest_schema_version (), version, error);
}

gboolean
_helix_store_create_at_version (const char  *path,
                                guint        version,
                                GError     **error)
{
  guint current = 0;
  sqlite3 *db = open_and_check (path, &current, error);
  gboolean ret;

  if (db == NULL)
    return FALSE;

  ret = helix_db_exec (db, "PRAGMA journal_mode = WAL", _("Could not set up the database"), error) &&
        _helix_store_migrate (db, version, error);
  sqlite3_close (db);

  return ret;
}

static gboolean
helix_store_initialize (HelixStore  *self,
                        GError     **error)
{
  guint version = 0;

  self->writer = open_and_check (self->path, &version, error);
  if (self->writer == NULL)
    return FALSE;

  /* Only now, knowing the file is ours and not too new, may we write to it. */
  if (!helix_db_exec (self->writer,
             "PRAGMA journal_mode = WAL;"
             "PRAGMA synchronous = FULL;"
             "PRAGMA foreign_keys = ON;"
             "PRAGMA temp_store = MEMORY;"
             "PRAGMA cache_size = -65536;",
             _("Could not set up the database"), error))
    return FALSE;

  if (!_helix_store_migrate (self->writer, helix_store_get_latest_schema_version (), error))
    return FALSE;
  self->schema_version = helix_store_get_latest_schema_version ();

  self->device_id = load_device_id (self->writer, error);
  if (self->device_id == NULL)
    return FALSE;
  self->clock = helix_hlc_clock_new (self->device_id);

  self->reader = open_reader (self, error);
  if (self->reader == NULL)
    return FALSE;

  /* Messages a crash left out of the search index go in now. */
  if (!_helix_store_flush_index (self, error))
    return FALSE;

  self->checkpoint_pool = g_thread_pool_new (checkpoint_pool_func, self, 1, FALSE, error);
  if (self->checkpoint_pool == NULL)
    return FALSE;
  if (!helix_db_exec (self->writer, "PRAGMA wal_autocheckpoint = 0", _("Could not set up the database"), error))
    return FALSE;
  sqlite3_wal_hook (self->writer, wal_hook_cb, self);

  self->write_pool = g_thread_pool_new (_helix_store_write_pool_func, NULL, 1, FALSE, error);

  return self->write_pool != NULL;
}

/* GObject {{{1 */

static void
close_connections (HelixStore *self)
{
  g_mutex_lock (&self->writer_mutex);
  g_clear_pointer (&self->find_session_stmt, sqlite3_finalize);
  g_clear_pointer (&self->insert_message_stmt, sqlite3_finalize);
  g_clear_pointer (&self->bump_session_stmt, sqlite3_finalize);
  g_clear_pointer (&self->index_messages_stmt, sqlite3_finalize);
  g_clear_pointer (&self->index_watermark_stmt, sqlite3_finalize);
  g_clear_pointer (&self->set_watermark_stmt, sqlite3_finalize);
  g_clear_pointer (&self->begin_stmt, sqlite3_finalize);
  g_clear_pointer (&self->commit_stmt, sqlite3_finalize);
  g_clear_pointer (&self->rollback_stmt, sqlite3_finalize);
  g_clear_pointer (&self->writer_session_stmt, sqlite3_finalize);
  g_clear_pointer (&self->outbox_insert_stmt, sqlite3_finalize);
  g_clear_pointer (&self->writer, sqlite3_close);
  g_mutex_unlock (&self->writer_mutex);

  g_mutex_lock (&self->reader_mutex);
  g_clear_pointer (&self->page_stmt, sqlite3_finalize);
  g_clear_pointer (&self->reader_session_stmt, sqlite3_finalize);
  g_clear_pointer (&self->reader, sqlite3_close);
  g_mutex_unlock (&self->reader_mutex);

  g_mutex_lock (&self->pool_mutex);
  g_ptr_array_set_size (self->idle_readers, 0);
  g_mutex_unlock (&self->pool_mutex);
}

/**
 * helix_store_close:
 * @self: a #HelixStore
 *
 * Finishes the writes already asked for, then closes every connection. Calls made after
 * it fail with %HELIX_STORE_ERROR_CLOSED. Safe to call more than once.
 */
void
helix_store_close (HelixStore *self)
{
  g_return_if_fail (HELIX_IS_STORE (self));

  if (self->closed)
    return;

  /* Queued writes hold references to the store, so they all run before this returns.
   * When the last reference goes away with the last write, this runs on the writer
   * thread itself, which must not wait for itself: its queue is empty by then. */
  if (self->write_pool != NULL)
    g_thread_pool_free (g_steal_pointer (&self->write_pool), FALSE,
                        g_private_get (&_helix_store_in_writer_thread) == NULL);

  /* Leave the search index complete on disk, for the next start and for other tools. */
  if (self->writer != NULL)
    {
      g_autoptr(GError) error = NULL;

      if (!_helix_store_flush_index (self, &error))
        g_warning ("Could not index the last messages for search: %s", error->message);
    }

  if (self->checkpoint_pool != NULL)
    g_thread_pool_free (g_steal_pointer (&self->checkpoint_pool), FALSE, TRUE);
  g_clear_pointer (&self->checkpointer, sqlite3_close);

  g_mutex_lock (&self->pool_mutex);
  self->closed = TRUE;
  g_mutex_unlock (&self->pool_mutex);

  close_connections (self);
}

static void
helix_store_dispose (GObject *object)
{
  HelixStore *self = (HelixStore *)object;

  helix_store_close (self);

  G_OBJECT_CLASS (helix_store_parent_class)->dispose (object);
}

static void
helix_store_finalize (GObject *object)
{
  HelixStore *self = (HelixStore *)object;

  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->device_id, g_free);
  g_clear_pointer (&self->clock, helix_hlc_clock_free);
  g_clear_pointer (&self->idle_readers, g_ptr_array_unref);
  g_clear_pointer (&self->main_context, g_main_context_unref);
  g_mutex_clear (&self->writer_mutex);
  g_mutex_clear (&self->reader_mutex);
  g_mutex_clear (&self->pool_mutex);

  G_OBJECT_CLASS (helix_store_parent_class)->finalize (object);
}

static void
helix_store_class_init (HelixStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = helix_store_dispose;
  object_class->finalize = helix_store_finalize;

  /**
   * HelixStore::session-changed:
   * @self: the store
   * @session: a snapshot of the session after the change
   *
   * Emitted in the main context of the thread that opened the store, after a session
   * was created or changed (renamed, pinned, archived, deleted or restored, or a message
   * was added to it) and the change was committed.
   */
  signals[SESSION_CHANGED] =
    g_signal_new ("session-changed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, HELIX_TYPE_SESSION);

  /**
   * HelixStore::message-added:
   * @self: the store
   * @message: the new message
   *
   * Emitted in the main context of the thread that opened the store, after a message
   * was committed.
   */
  signals[MESSAGE_ADDED] =
    g_signal_new ("message-added",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, HELIX_TYPE_MESSAGE);
}

static void
helix_store_init (HelixStore *self)
{
  g_mutex_init (&self->writer_mutex);
  g_mutex_init (&self->reader_mutex);
  g_mutex_init (&self->pool_mutex);
  self->idle_readers = g_ptr_array_new_with_free_func ((GDestroyNotify) sqlite3_close);
  self->main_context = g_main_context_ref_thread_default ();
  self->main_thread = g_thread_self ();
}

/**
 * helix_store_dup_default_path:
 *
 * Returns: (transfer full): `$XDG_DATA_HOME/helix/helix.db`
 */
char *
helix_store_dup_default_path (void)
{
  return g_build_filename (g_get_user_data_dir (), "helix", "helix.db", NULL);
}

/**
 * helix_store_open:
 * @path: the database file; created (with its folder) when missing
 * @error: a location for a #GError
 *
 * Opens the store, applying any pending migrations. A file that is not an SQLite
 * database, belongs to another program, is damaged or was written by a newer Helix is
 * refused with an error and left exactly as it was.
 *
 * This does disk I/O: use helix_store_open_async() from a UI thread.
 *
 * Returns: (transfer full): the store, or %NULL with @error set
 */
HelixStore *
helix_store_open (const char  *path,
                  GError     **error)
{
  g_autoptr(HelixStore) self = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (HELIX_TYPE_STORE, NULL);
  self->path = g_strdup (path);

  if (!helix_store_initialize (self, error))
    {
      helix_store_close (self);
      return NULL;
    }

  g_debug ("Opened %s (schema %u, device %s)", self->path, self->schema_version, self->device_id);

  return g_steal_pointer (&self);
}

static void
open_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  HelixStore *self = task_data;
  GError *error = NULL;

  if (helix_store_initialize (self, &error))
    g_task_return_pointer (task, g_object_ref (self), g_object_unref);
  else
    g_task_return_error (task, error);
}

void
helix_store_open_async (const char          *path,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  HelixStore *self;

  g_return_if_fail (path != NULL);

  /* Created here so that signals are emitted in the caller's main context. */
  self = g_object_new (HELIX_TYPE_STORE, NULL);
  self->path = g_strdup (path);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_store_open_async);
  g_task_set_task_data (task, self, g_object_unref);
  g_task_run_in_thread (task, open_thread);
}

HelixStore *
helix_store_open_finish (GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == helix_store_open_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

const char *
helix_store_get_path (HelixStore *self)
{
  g_return_val_if_fail (HELIX_IS_STORE (self), NULL);
  return self->path;
}

/**
 * helix_store_get_device_id:
 *
 * Returns: the id this database uses for itself in HLC timestamps
 */
const char *
helix_store_get_device_id (HelixStore *self)
{
  g_return_val_if_fail (HELIX_IS_STORE (self), NULL);
  return self->device_id;
}

guint
helix_store_get_schema_version (HelixStore *self)
{
  g_return_val_if_fail (HELIX_IS_STORE (self), 0);
  return self->schema_version;
}

/**
 * helix_store_check:
 * @self: a #HelixStore
 * @error: a location for a #GError
 *
 * Runs a trivial query on the read connection to prove the database answers. Cheap
 * enough for a health endpoint.
 */
gboolean
helix_store_check (HelixStore  *self,
                   GError     **error)
{
  gint64 n = 0;
  gboolean ret;

  g_return_val_if_fail (HELIX_IS_STORE (self), FALSE);

  if (!_helix_store_check_open (self, error))
    return FALSE;

  g_mutex_lock (&self->reader_mutex);
  ret = helix_db_query_int (self->reader, "SELECT count(*) FROM sqlite_schema", &n, error);
  g_mutex_unlock (&self->reader_mutex);

  return ret;
}

/* Rows to objects {{{1 */

HelixSession *
_helix_store_session_from_row (sqlite3_stmt *stmt,
                               int           first)
{
  HelixSession *session = _helix_session_new ();
  const char *model;

  session->rowid = sqlite3_column_int64 (stmt, first + 0);
  session->id = g_strdup ((const char *) sqlite3_column_text (stmt, first + 1));
  session->title = g_strdup ((const char *) sqlite3_column_text (stmt, first + 2));
  session->created_us = sqlite3_column_int64 (stmt, first + 3);
  session->updated_us = sqlite3_column_int64 (stmt, first + 4);
  session->pinned = sqlite3_column_int (stmt, first + 5) != 0;
  session->archived = sqlite3_column_int (stmt, first + 6) != 0;
  session->deleted = sqlite3_column_int (stmt, first + 7) != 0;
  session->hlc = g_strdup ((const char *) sqlite3_column_text (stmt, first + 8));
  session->n_messages = (guint64) sqlite3_column_int64 (stmt, first + 9);
  /* '' is how a session.put says "automatic" (PROTOCOL.md): the same as never set. */
  model = (const char *) sqlite3_column_text (stmt, first + 10);
  session->model = model != NULL && model[0] != '\0' ? g_strdup (model) : NULL;

  return session;
}

HelixMessage *
_helix_store_message_from_row (sqlite3_stmt *stmt,
                               GRefString   *session_id)
{
  HelixMessage *message = _helix_message_new ();
  HelixMessageRole role = HELIX_MESSAGE_ROLE_USER;
  HelixMessageStatus status = HELIX_MESSAGE_STATUS_DONE;

  message->rowid = sqlite3_column_int64 (stmt, 0);
  message->id = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
  message->session_id = g_ref_string_acquire (session_id);
  message->position = (guint64) sqlite3_column_int64 (stmt, 2);
  helix_message_role_from_string ((const char *) sqlite3_column_text (stmt, 3), &role);
  message->role = role;
  message->content = g_strdup ((const char *) sqlite3_column_text (stmt, 4));
  message->created_us = sqlite3_column_int64 (stmt, 5);
  helix_message_status_from_string ((const char *) sqlite3_column_text (stmt, 6), &status);
  message->status = status;
  message->model = g_strdup ((const char *) sqlite3_column_text (stmt, 7));
  message->provider = g_strdup ((const char *) sqlite3_column_text (stmt, 8));
  message->tokens_in = sqlite3_column_type (stmt, 9) == SQLITE_NULL ? -1 : sqlite3_column_int64 (stmt, 9);
  message->tokens_out = sqlite3_column_type (stmt, 10) == SQLITE_NULL ? -1 : sqlite3_column_int64 (stmt, 10);
  message->cost = sqlite3_column_type (stmt, 11) == SQLITE_NULL ? -1.0 : sqlite3_column_double (stmt, 11);
  message->metadata = g_strdup ((const char *) sqlite3_column_text (stmt, 12));
  message->hlc = g_strdup ((const char *) sqlite3_column_text (stmt, 13));

  return message;
}

/* Reads one session on @db, which must be the writer or the reader connection, with
 * the caller holding that connection's mutex. */
HelixSession *
_helix_store_load_session (HelixStore  *self,
                           sqlite3     *db,
                           const char  *session_id,
                           GError     **error)
{
  sqlite3_stmt **stmt;
  HelixSession *session = NULL;
  int rc;

  g_assert (db == self->writer || db == self->reader);

  stmt = db == self->writer ? &self->writer_session_stmt : &self->reader_session_stmt;
  if (*stmt == NULL)
    *stmt = helix_db_prepare (db, "SELECT " SESSION_COLUMNS " FROM sessions s WHERE s.uuid = ?",
                                  TRUE, error);
  if (*stmt == NULL)
    return NULL;

  sqlite3_bind_text (*stmt, 1, session_id, -1, SQLITE_STATIC);
  rc = sqlite3_step (*stmt);
  if (rc == SQLITE_ROW)
    session = _helix_store_session_from_row (*stmt, 0);
  else if (rc == SQLITE_DONE)
    g_set_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_NOT_FOUND,
                 _("The chat %s does not exist"), session_id);
  else
    helix_db_set_error (error, db, rc, _("Could not read the chat"));
  sqlite3_reset (*stmt);

  return session;
}

/* Signals {{{1 */

typedef struct
{
  HelixStore *store;
  GPtrArray  *objects;
} Emission;

static gboolean
emit_changes_cb (gpointer data)
{
  Emission *emission = data;

  for (guint i = 0; i < emission->objects->len; i++)
    {
      gpointer object = g_ptr_array_index (emission->objects, i);

      if (HELIX_IS_MESSAGE (object))
        g_signal_emit (emission->store, signals[MESSAGE_ADDED], 0, object);
      else
        g_signal_emit (emission->store, signals[SESSION_CHANGED], 0, object);
    }

  g_object_unref (emission->store);
  g_ptr_array_unref (emission->objects);
  g_free (emission);

  return G_SOURCE_REMOVE;
}

/* Emits the signals for committed objects in the store's main context: right away when
 * called from the thread that opened the store, otherwise from an idle source there. Sources of one priority are
 * dispatched in the order they were attached, so a writer thread that announces its
 * changes before g_task_return_*() has them emitted before the caller's callback runs. */
void
_helix_store_emit_changes (HelixStore *self,
                           GPtrArray  *objects)
{
  Emission *emission = g_new0 (Emission, 1);
  g_autoptr(GSource) source = NULL;

  emission->store = g_object_ref (self);
  emission->objects = g_ptr_array_ref (objects);

  if (g_thread_self () == self->main_thread)
    {
      emit_changes_cb (emission);
      return;
    }

  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, emit_changes_cb, emission, NULL);
  g_source_set_static_name (source, "[helix] store changes");
  g_source_attach (source, self->main_context);
}
