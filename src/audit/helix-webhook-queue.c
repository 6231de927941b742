/* helix-webhook-queue.c: audit entries delivered to webhooks, at least once
 *
 * Entries wait in a SQLite table until a sink answered 2xx for them, so the
 * queue survives restarts and crashes: delivery is at least once, in seq
 * order per sink, and every entry carries its seq so that a receiver can drop
 * the ones it saw already.
 *
 * Each sink sends one batch at a time (up to 10 entries, with the newest
 * checkpoint). It honours `429` with `retry_after` (Discord's JSON body) or
 * `Retry-After`, and `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset-After`;
 * a Discord sink also keeps to 5 messages per 5 seconds on its own. Other
 * failures (5xx, timeouts, refused connections) back off exponentially with
 * full jitter; after three failures in a row the sink tries its backup URL,
 * and back. A sink failing for longer than the alert time emits
 * #HelixWebhookQueue::sink-failing, once, and #HelixWebhookQueue::sink-recovered
 * when it delivers again.
 *
 * Reading and deleting queued entries happen on a worker thread; enqueueing
 * writes at once (it is part of appending an audit entry, which is durable
 * before it returns).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-audit"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "helix-audit-checkpoint.h"
#include "helix-json.h"
#include "helix-webhook-queue.h"

#define DISCORD_MAX_CONTENT  2000
#define DISCORD_MAX_EMBEDS   10
#define DISCORD_MAX_TOTAL    6000
#define DISCORD_MAX_DESC     1000

static const char schema[] =
  "CREATE TABLE IF NOT EXISTS queue ("
  "  id         INTEGER PRIMARY KEY,"
  "  sink       TEXT    NOT NULL,"
  "  seq        INTEGER NOT NULL,"
  "  channel    TEXT    NOT NULL,"
  "  entry      TEXT    NOT NULL,"
  "  created_us INTEGER NOT NULL"
  ");"
  "CREATE INDEX IF NOT EXISTS queue_sink ON queue (sink, id);"
  /* The newest seq queued for each sink: what a restart catches up from. */
  "CREATE TABLE IF NOT EXISTS marks ("
  "  sink    TEXT    PRIMARY KEY,"
  "  through INTEGER NOT NULL"
  ");";

typedef struct
{
  HelixWebhookQueue  *queue;    /* (unowned) */
  char               *name;
  HelixWebhookFormat  format;
  char               *url;
  char               *backup_url;
  gboolean            on_backup;
  gboolean            busy;     /* a batch is being read or sent */
  gboolean            again;    /* entries were queued meanwhile */
  guint               failures; /* in a row */
  guint               failures_here; /* in a row, on the current URL */
  gint64              failing_since;
  gboolean            alerted;
  gint64              not_before;    /* monotonic µs: rate limits and backoff */
  gint64              window[HELIX_WEBHOOK_DISCORD_BURST];  /* sends, for Discord's limit */
  guint               window_next;
  guint               timer;
  char               *last_error;
  GArray             *sent_ids;      /* the rows of the batch in flight */
} Sink;

struct _HelixWebhookQueue
{
  GObject      parent_instance;

  GMutex       mutex;     /* around db and checkpoint */
  GMutex       counts_mutex; /* around pending; taken after mutex, never before */
  GMainContext *context;  /* where sinks deliver */
  sqlite3     *db;
  SoupSession *session;
  GHashTable  *sinks;     /* name → Sink */
  GHashTable  *pending;   /* sink name → entries queued, counted without a query */
  char        *checkpoint;
  gboolean     started;
  guint        backoff_min_ms;
  guint        backoff_max_ms;
  guint        alert_after_s;
  GCancellable *cancellable;
};

G_DEFINE_FINAL_TYPE (HelixWebhookQueue, helix_webhook_queue, G_TYPE_OBJECT)

enum {
  SINK_FAILING,
  SINK_RECOVERED,
  DELIVERED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void try_send (Sink *sink);

/* The count kept for @sink, if there is one. Takes the counts' own lock:
 * never waits for the database's. */
static gboolean
lookup_pending (HelixWebhookQueue *self,
                const char        *sink,
                guint             *n)
{
  gpointer value = NULL;
  gboolean found;

  g_mutex_lock (&self->counts_mutex);
  found = g_hash_table_lookup_extended (self->pending, sink, NULL, &value);
  g_mutex_unlock (&self->counts_mutex);
  *n = GPOINTER_TO_UINT (value);

  return found;
}

static void
store_pending (HelixWebhookQueue *self,
               const char        *sink,
               guint              n)
{
  g_mutex_lock (&self->counts_mutex);
  g_hash_table_replace (self->pending, g_strdup (sink), GUINT_TO_POINTER (n));
  g_mutex_unlock (&self->counts_mutex);
}

/* Counts what is queued for @sink, once: from then on the count is kept up
 * to date in memory. With the database's mutex held. */
static guint
count_pending (HelixWebhookQueue *self,
               const char        *sink)
{
  sqlite3_stmt *stmt = NULL;
  guint n = 0;

  if (lookup_pending (self, sink, &n))
    return n;

  if (self->db != NULL &&
      sqlite3_prepare_v2 (self->db, "SELECT count (*) FROM queue WHERE sink = ?1", -1, &stmt,
                          NULL) == SQLITE_OK)
    {
      sqlite3_bind_text (stmt, 1, sink, -1, SQLITE_STATIC);
      if (sqlite3_step (stmt) == SQLITE_ROW)
        n = (guint) sqlite3_column_int64 (stmt, 0);
      store_pending (self, sink, n);
    }
  sqlite3_finalize (stmt);

  return n;
}

/* After @delta entries were committed to (> 0) or delivered from (< 0)
 * @sink's queue; count_pending() ran before they were committed. */
static void
add_pending (HelixWebhookQueue *self,
             const char        *sink,
             gint               delta)
{
  guint n = 0;

  lookup_pending (self, sink, &n);
  n = delta < 0 && (guint) -delta > n ? 0 : n + delta;
  store_pending (self, sink, n);
}

static void
sink_free (gpointer data)
{
  Sink *sink = data;

  g_clear_handle_id (&sink->timer, g_source_remove);
  g_free (sink->name);
  g_free (sink->url);
  g_free (sink->backup_url);
  g_free (sink->last_error);
  g_clear_pointer (&sink->sent_ids, g_array_unref);
  g_free (sink);
}

static void
helix_webhook_queue_dispose (GObject *object)
{
  HelixWebhookQueue *self = HELIX_WEBHOOK_QUEUE (object);

  g_cancellable_cancel (self->cancellable);
  if (self->session != NULL)
    soup_session_abort (self->session);
  g_clear_pointer (&self->sinks, g_hash_table_unref);

  G_OBJECT_CLASS (helix_webhook_queue_parent_class)->dispose (object);
}

static void
helix_webhook_queue_finalize (GObject *object)
{
  HelixWebhookQueue *self = HELIX_WEBHOOK_QUEUE (object);

  helix_webhook_queue_close (self);
  g_clear_object (&self->session);
  g_clear_object (&self->cancellable);
  g_free (self->checkpoint);
  g_main_context_unref (self->context);
  g_hash_table_unref (self->pending);
  g_mutex_clear (&self->counts_mutex);
  g_mutex_clear (&self->mutex);

  G_OBJECT_CLASS (helix_webhook_queue_parent_class)->finalize (object);
}

static void
helix_webhook_queue_class_init (HelixWebhookQueueClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = helix_webhook_queue_dispose;
  object_class->finalize = helix_webhook_queue_finalize;

  /**
   * HelixWebhookQueue::sink-failing:
   * @self: the queue
   * @sink: the sink's name
   * @error: its last error
   *
   * The sink has failed for longer than the alert time (raise an alert).
   */
  signals[SINK_FAILING] =
    g_signal_new ("sink-failing", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);

  /**
   * HelixWebhookQueue::sink-recovered:
   * @self: the queue
   * @sink: the sink's name
   *
   * A failing sink delivered again.
   */
  signals[SINK_RECOVERED] =
    g_signal_new ("sink-recovered", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  /**
   * HelixWebhookQueue::delivered:
   * @self: the queue
   * @sink: the sink's name
   * @n_entries: entries delivered by one request
   */
  signals[DELIVERED] =
    g_signal_new ("delivered", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_UINT);
}

static void
helix_webhook_queue_init (HelixWebhookQueue *self)
{
  g_mutex_init (&self->mutex);
  g_mutex_init (&self->counts_mutex);
  self->context = g_main_context_ref_thread_default ();
  self->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->sinks = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, sink_free);
  self->backoff_min_ms = HELIX_WEBHOOK_BACKOFF_MIN_MS;
  self->backoff_max_ms = HELIX_WEBHOOK_BACKOFF_MAX_MS;
  self->alert_after_s = HELIX_WEBHOOK_ALERT_AFTER_S;
  self->cancellable = g_cancellable_new ();
  self->session = soup_session_new_with_options ("user-agent", "helix/" PACKAGE_VERSION,
                                                 "timeout", HELIX_WEBHOOK_TIMEOUT_S,
                                                 NULL);
}

static gboolean
exec (sqlite3     *db,
      const char  *sql,
      GError     **error)
{
  if (sqlite3_exec (db, sql, NULL, NULL, NULL) != SQLITE_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("The webhook queue failed: %s"),
                   sqlite3_errmsg (db));
      return FALSE;
    }

  return TRUE;
}

/**
 * helix_webhook_queue_open:
 * @path: the queue's file; made if missing (mode 0600)
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the queue, not delivering yet
 */
HelixWebhookQueue *
helix_webhook_queue_open (const char  *path,
                          GError     **error)
{
  g_autoptr(HelixWebhookQueue) self = g_object_new (HELIX_TYPE_WEBHOOK_QUEUE, NULL);
  int fd;

  if ((fd = g_open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   _("Could not open the webhook queue %s: %s"), path, g_strerror (saved_errno));
      return NULL;
    }
  close (fd);

  if (sqlite3_open_v2 (path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
      SQLITE_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("Could not open the webhook queue %s"),
                   path);
      g_clear_pointer (&self->db, sqlite3_close);
      return NULL;
    }
  sqlite3_busy_timeout (self->db, 5000);

  if (!exec (self->db, "PRAGMA journal_mode = WAL", error) ||
      !exec (self->db, "PRAGMA synchronous = FULL", error) ||
      !exec (self->db, schema, error))
    {
      g_clear_pointer (&self->db, sqlite3_close);
      return NULL;
    }

  return g_steal_pointer (&self);
}

void
helix_webhook_queue_close (HelixWebhookQueue *self)
{
  g_return_if_fail (HELIX_IS_WEBHOOK_QUEUE (self));

  g_mutex_lock (&self->mutex);
  g_clear_pointer (&self->db, sqlite3_close);
  g_mutex_unlock (&self->mutex);
}

static gboolean
url_is_valid (const char *url)
{
  g_autoptr(GUri) uri = url != NULL ? g_uri_parse (url, SOUP_HTTP_URI_FLAGS, NULL) : NULL;

  return uri != NULL && g_uri_get_host (uri) != NULL &&
         (g_str_equal (g_uri_get_scheme (uri), "https") ||
          g_str_equal (g_uri_get_scheme (uri), "http"));
}

/**
 * helix_webhook_queue_add_sink:
 * @self: a queue
 * @name: the sink's name
 * @format: what its receiver reads
 * @url: where to send
 * @backup_url: (nullable): where to send when @url keeps failing
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the URLs are http(s) URLs
 */
gboolean
helix_webhook_queue_add_sink (HelixWebhookQueue   *self,
                              const char          *name,
                              HelixWebhookFormat   format,
                              const char          *url,
                              const char          *backup_url,
                              GError             **error)
{
  Sink *sink;

  g_return_val_if_fail (HELIX_IS_WEBHOOK_QUEUE (self), FALSE);
  g_return_val_if_fail (name != NULL && *name != '\0', FALSE);

  if (!url_is_valid (url) || (backup_url != NULL && !url_is_valid (backup_url)))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("The webhook %s needs http or https URLs"), name);
      return FALSE;
    }

  /* What earlier runs left queued, counted once; then kept up to date. */
  g_mutex_lock (&self->mutex);
  count_pending (self, name);
  g_mutex_unlock (&self->mutex);

  sink = g_new0 (Sink, 1);
  sink->queue = self;
  sink->name = g_strdup (name);
  sink->format = format;
  sink->url = g_strdup (url);
  sink->backup_url = g_strdup (backup_url);
  g_hash_table_replace (self->sinks, sink->name, sink);

  if (self->started)
    try_send (sink);

  return TRUE;
}

/**
 * helix_webhook_queue_set_timing:
 * @self: a queue
 * @timeout_s: a request's time limit
 * @backoff_min_ms: the first wait after a failure
 * @backoff_max_ms: the longest wait
 * @alert_after_s: how long a sink may fail before #HelixWebhookQueue::sink-failing
 */
void
helix_webhook_queue_set_timing (HelixWebhookQueue *self,
                                guint              timeout_s,
                                guint              backoff_min_ms,
                                guint              backoff_max_ms,
                                guint              alert_after_s)
{
  g_return_if_fail (HELIX_IS_WEBHOOK_QUEUE (self));

  g_object_set (self->session, "timeout", timeout_s, NULL);
  self->backoff_min_ms = MAX (backoff_min_ms, 1);
  self->backoff_max_ms = MAX (backoff_max_ms, self->backoff_min_ms);
  self->alert_after_s = alert_after_s;
}

/* The newest checkpoint of the audit log: it goes with every batch. */
void
helix_webhook_queue_set_checkpoint (HelixWebhookQueue *self,
                                    const char        *note)
{
  g_return_if_fail (HELIX_IS_WEBHOOK_QUEUE (self));

  g_mutex_lock (&self->mutex);
  g_free (self->checkpoint);
  self->checkpoint = g_strdup (note);
  g_mutex_unlock (&self->mutex);
}

/**
 * helix_webhook_queue_enqueue:
 * @self: a queue
 * @sink: a sink's name
 * @seq: the entry's seq in the audit log
 * @channel: its channel
 * @entry: the entry as a JSON object, sanitized
 * @error: return location for a #GError
 *
 * Stores the entry for the sink; it survives restarts until delivered.
 *
 * Returns: %TRUE when stored
 */
gboolean
helix_webhook_queue_enqueue (HelixWebhookQueue  *self,
                             const char         *sink,
                             gint64              seq,
                             const char         *channel,
                             const char         *entry,
                             GError            **error)
{
  sqlite3_stmt *stmt = NULL;
  gboolean ok;
  Sink *s;

  g_return_val_if_fail (HELIX_IS_WEBHOOK_QUEUE (self), FALSE);
  g_return_val_if_fail (sink != NULL && channel != NULL && entry != NULL, FALSE);

  if (strlen (entry) > HELIX_WEBHOOK_MAX_ENTRY)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           _("The entry is too large for a webhook"));
      return FALSE;
    }

  g_mutex_lock (&self->mutex);
  count_pending (self, sink);
  ok = self->db != NULL &&
       sqlite3_prepare_v2 (self->db,
                           "INSERT INTO queue (sink, seq, channel, entry, created_us) VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &stmt, NULL) == SQLITE_OK;
  if (ok)
    {
      sqlite3_bind_text (stmt, 1, sink, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 2, seq);
      sqlite3_bind_text (stmt, 3, channel, -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 4, entry, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 5, g_get_real_time ());
      ok = sqlite3_step (stmt) == SQLITE_DONE;
    }
  sqlite3_finalize (stmt);
  if (ok)
    add_pending (self, sink, 1);
  g_mutex_unlock (&self->mutex);

  if (!ok)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           _("Could not store the entry in the webhook queue"));
      return FALSE;
    }

  s = g_hash_table_lookup (self->sinks, sink);
  if (s != NULL && self->started)
    try_send (s);

  return TRUE;
}

static gboolean
wake_sinks (gpointer data)
{
  HelixWebhookQueue *self = data;
  GHashTableIter iter;
  Sink *sink;

  if (!self->started || self->sinks == NULL)
    return G_SOURCE_REMOVE;

  g_hash_table_iter_init (&iter, self->sinks);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &sink))
    try_send (sink);

  return G_SOURCE_REMOVE;
}

/**
 * helix_webhook_queue_enqueue_batch:
 * @self: a queue
 * @items: (array length=n_items): entries for sinks, in seq order per sink;
 *   an item without an entry only moves its sink's mark
 * @n_items: how many
 * @error: return location for a #GError
 *
 * Stores all of @items in one durable transaction, and remembers for each
 * sink the newest seq queued (helix_webhook_queue_get_mark()). Unlike
 * helix_webhook_queue_enqueue(), it may be called from any thread: the
 * sinks are woken in the main context the queue was made in.
 *
 * Returns: %TRUE when all were stored; else none was
 */
gboolean
helix_webhook_queue_enqueue_batch (HelixWebhookQueue       *self,
                                   const HelixWebhookItem  *items,
                                   guint                    n_items,
                                   GError                 **error)
{
  sqlite3_stmt *insert = NULL;
  sqlite3_stmt *mark = NULL;
  gboolean ok;

  g_return_val_if_fail (HELIX_IS_WEBHOOK_QUEUE (self), FALSE);
  g_return_val_if_fail (items != NULL || n_items == 0, FALSE);

  for (guint i = 0; i < n_items; i++)
    if (items[i].entry != NULL && strlen (items[i].entry) > HELIX_WEBHOOK_MAX_ENTRY)
      {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                     _("Entry %" G_GINT64_FORMAT " is too large for a webhook"), items[i].seq);
        return FALSE;
      }
  if (n_items == 0)
    return TRUE;

  g_mutex_lock (&self->mutex);
  for (guint i = 0; i < n_items; i++)
    count_pending (self, items[i].sink);
  ok = self->db != NULL &&
       sqlite3_exec (self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
  if (ok)
    {
      ok = sqlite3_prepare_v2 (self->db,
                               "INSERT INTO queue (sink, seq, channel, entry, created_us) "
                               "VALUES (?1, ?2, ?3, ?4, ?5)", -1, &insert, NULL) == SQLITE_OK &&
           sqlite3_prepare_v2 (self->db,
                               "INSERT INTO marks (sink, through) VALUES (?1, ?2) "
                               "ON CONFLICT (sink) DO UPDATE SET through = max (through, excluded.through)",
                               -1, &mark, NULL) == SQLITE_OK;
      for (guint i = 0; ok && i < n_items; i++)
        {
          if (items[i].entry != NULL)
            {
              sqlite3_bind_text (insert, 1, items[i].sink, -1, SQLITE_STATIC);
              sqlite3_bind_int64 (insert, 2, items[i].seq);
              sqlite3_bind_text (insert, 3, items[i].channel, -1, SQLITE_STATIC);
              sqlite3_bind_text (insert, 4, items[i].entry, -1, SQLITE_STATIC);
              sqlite3_bind_int64 (insert, 5, g_get_real_time ());
              ok = sqlite3_step (insert) == SQLITE_DONE;
              sqlite3_reset (insert);
            }

          sqlite3_bind_text (mark, 1, items[i].sink, -1, SQLITE_STATIC);
          sqlite3_bind_int64 (mark, 2, items[i].seq);
          ok = ok && sqlite3_step (mark) == SQLITE_DONE;
          sqlite3_reset (mark);
        }
      ok = ok && sqlite3_exec (self->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
      if (!ok)
        sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
      for (guint i = 0; ok && i < n_items; i++)
        if (items[i].entry != NULL)
          add_pending (self, items[i].sink, 1);
    }
  sqlite3_finalize (insert);
  sqlite3_finalize (mark);
  g_mutex_unlock (&self->mutex);

  if (!ok)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           _("Could not store the entries in the webhook queue"));
      return FALSE;
    }

  g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, wake_sinks,
                              g_object_ref (self), g_object_unref);

  return TRUE;
}

/**
 * helix_webhook_queue_get_mark:
 * @self: a queue
 * @sink: a sink's name
 * @through: (out): the newest seq ever queued for @sink
 *
 * May be called from any thread.
 *
 * Returns: %TRUE if anything was ever queued for @sink (or a mark set)
 */
gboolean
helix_webhook_queue_get_mark (HelixWebhookQueue *self,
                              const char        *sink,
                              gint64            *through)
{
  sqlite3_stmt *stmt = NULL;
  gboolean found = FALSE;

  g_return_val_if_fail (HELIX_IS_WEBHOOK_QUEUE (self), FALSE);

  g_mutex_lock (&self->mutex);
  if (self->db != NULL &&
      sqlite3_prepare_v2 (self->db, "SELECT through FROM marks WHERE sink = ?1", -1, &stmt,
                          NULL) == SQLITE_OK)
    {
      sqlite3_bind_text (stmt, 1, sink, -1, SQLITE_STATIC);
      if ((found = sqlite3_step (stmt) == SQLITE_ROW))
        *through = sqlite3_column_int64 (stmt, 0);
    }
  sqlite3_finalize (stmt);
  g_mutex_unlock (&self->mutex);

  return found;
}

/**
 * helix_webhook_queue_set_mark:
 * @self: a queue
 * @sink: a sink's name
 * @through: the seq it is caught up to
 * @error: return location for a #GError
 *
 * For a new sink: it starts after @through rather than with the whole log.
 * May be called from any thread.
 *
 * Returns: %TRUE when stored
 */
gboolean
helix_webhook_queue_set_mark (HelixWebhookQueue  *self,
                              const char         *sink,
                              gint64              through,
                              GError            **error)
{
  sqlite3_stmt *stmt = NULL;
  gboolean ok = FALSE;

  g_return_val_if_fail (HELIX_IS_WEBHOOK_QUEUE (self), FALSE);

  g_mutex_lock (&self->mutex);
  if (self->db != NULL &&
      sqlite3_prepare_v2 (self->db,
                          "INSERT INTO marks (sink, through) VALUES (?1, ?2) "
                          "ON CONFLICT (sink) DO UPDATE SET through = excluded.through",
                          -1, &stmt, NULL) == SQLITE_OK)
    {
      sqlite3_bind_text (stmt, 1, sink, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 2, through);
      ok = sqlite3_step (stmt) == SQLITE_DONE;
    }
  sqlite3_finalize (stmt);
  g_mutex_unlock (&self->mutex);

  if (!ok)
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                         _("Could not store the webhook queue’s progress"));

  return ok;
}

/* Entries waiting for @sink, from a count kept in memory: a query only the
 * first time a sink is asked about. */
guint
helix_webhook_queue_get_pending (HelixWebhookQueue *self,
                                 const char        *sink)
{
  guint n;

  g_return_val_if_fail (HELIX_IS_WEBHOOK_QUEUE (self), 0);

  /* Known once the sink was added: no wait for a sync in progress. */
  if (lookup_pending (self, sink, &n))
    return n;

  g_mutex_lock (&self->mutex);
  n = count_pending (self, sink);
  g_mutex_unlock (&self->mutex);

  return n;
}

const char *
helix_webhook_queue_get_last_error (HelixWebhookQueue *self,
                                    const char        *sink)
{
  Sink *s;

  g_return_val_if_fail (HELIX_IS_WEBHOOK_QUEUE (self), NULL);

  s = g_hash_table_lookup (self->sinks, sink);
  return s != NULL ? s->last_error : NULL;
}

/* Reading a batch, on the worker */

typedef struct
{
  char       *sink;
  GArray     *ids;
  GArray     *seqs;
  GPtrArray  *channels;
  GPtrArray  *entries;
} Batch;

static void
batch_free (gpointer data)
{
  Batch *batch = data;

  g_free (batch->sink);
  g_array_unref (batch->ids);
  g_array_unref (batch->seqs);
  g_ptr_array_unref (batch->channels);
  g_ptr_array_unref (batch->entries);
  g_free (batch);
}

static void
read_batch_thread (GTask        *task,
                   gpointer      source,
                   gpointer      task_data,
                   GCancellable *cancellable)
{
  HelixWebhookQueue *self = source;
  Batch *batch = task_data;
  sqlite3_stmt *stmt = NULL;

  g_mutex_lock (&self->mutex);
  if (self->db != NULL &&
      sqlite3_prepare_v2 (self->db,
                          "SELECT id, seq, channel, entry FROM queue WHERE sink = ?1 ORDER BY id LIMIT ?2",
                          -1, &stmt, NULL) == SQLITE_OK)
    {
      sqlite3_bind_text (stmt, 1, batch->sink, -1, SQLITE_STATIC);
      sqlite3_bind_int (stmt, 2, HELIX_WEBHOOK_MAX_BATCH);
      while (sqlite3_step (stmt) == SQLITE_ROW)
        {
          gint64 id = sqlite3_column_int64 (stmt, 0);
          gint64 seq = sqlite3_column_int64 (stmt, 1);

          g_array_append_val (batch->ids, id);
          g_array_append_val (batch->seqs, seq);
          g_ptr_array_add (batch->channels, g_strdup ((const char *) sqlite3_column_text (stmt, 2)));
          g_ptr_array_add (batch->entries, g_strdup ((const char *) sqlite3_column_text (stmt, 3)));
        }
    }
  sqlite3_finalize (stmt);
  g_mutex_unlock (&self->mutex);

  g_task_return_boolean (task, TRUE);
}

static void
delete_thread (GTask        *task,
               gpointer      source,
               gpointer      task_data,
               GCancellable *cancellable)
{
  HelixWebhookQueue *self = source;
  GArray *ids = task_data;
  sqlite3_stmt *stmt = NULL;

  g_mutex_lock (&self->mutex);
  if (self->db != NULL &&
      sqlite3_exec (self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK)
    {
      if (sqlite3_prepare_v2 (self->db, "DELETE FROM queue WHERE id = ?1", -1, &stmt, NULL) ==
          SQLITE_OK)
        for (guint i = 0; i < ids->len; i++)
          {
            sqlite3_reset (stmt);
            sqlite3_bind_int64 (stmt, 1, g_array_index (ids, gint64, i));
            sqlite3_step (stmt);
          }
      sqlite3_finalize (stmt);
      sqlite3_exec (self->db, "COMMIT", NULL, NULL, NULL);
    }
  g_mutex_unlock (&self->mutex);

  g_task_return_boolean (task, TRUE);
}

/* Bodies */

static char *
build_json_body (HelixWebhookQueue *self,
                 Sink              *sink,
                 Batch             *batch)
{
  g_autoptr(GString) body = g_string_new ("{\"sink\":");

  helix_json_append_string (body, sink->name);
  g_string_append (body, ",\"entries\":[");
  for (guint i = 0; i < batch->ids->len; i++)
    {
      /* The entry is a JSON object already. */
      g_string_append_printf (body, "%s{\"seq\":%" G_GINT64_FORMAT ",\"channel\":",
                              i > 0 ? "," : "", g_array_index (batch->seqs, gint64, i));
      helix_json_append_string (body, g_ptr_array_index (batch->channels, i));
      g_string_append_printf (body, ",\"entry\":%s}",
                              (const char *) g_ptr_array_index (batch->entries, i));
    }
  g_string_append (body, "]");
  g_mutex_lock (&self->mutex);
  if (self->checkpoint != NULL)
    {
      g_string_append (body, ",\"checkpoint\":");
      helix_json_append_string (body, self->checkpoint);
    }
  g_mutex_unlock (&self->mutex);
  g_string_append (body, "}");

  return g_string_free (g_steal_pointer (&body), FALSE);
}

static char *
cut_chars (const char *text,
           glong       max_chars)
{
  if (g_utf8_strlen (text, -1) <= max_chars)
    return g_strdup (text);

  return g_strconcat (g_utf8_substring (text, 0, max_chars - 1), "…", NULL);
}

/* One embed per entry, with its seq in the footer for deduplication. */
static char *
build_discord_body (Sink  *sink,
                    Batch *batch)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *content = NULL;
  glong total = 0;

  content = g_strdup_printf ("Helix audit: entries %" G_GINT64_FORMAT "–%" G_GINT64_FORMAT,
                             g_array_index (batch->seqs, gint64, 0),
                             g_array_index (batch->seqs, gint64, batch->ids->len - 1));

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "content");
  json_builder_add_string_value (builder, content);
  json_builder_set_member_name (builder, "embeds");
  json_builder_begin_array (builder);
  for (guint i = 0; i < batch->ids->len && i < DISCORD_MAX_EMBEDS; i++)
    {
      g_autofree char *title = g_strdup_printf ("%s · #%" G_GINT64_FORMAT,
                                                (const char *) g_ptr_array_index (batch->channels, i),
                                                g_array_index (batch->seqs, gint64, i));
      g_autofree char *footer = g_strdup_printf ("seq %" G_GINT64_FORMAT,
                                                 g_array_index (batch->seqs, gint64, i));
      g_autofree char *description = cut_chars (g_ptr_array_index (batch->entries, i),
                                                MIN (DISCORD_MAX_DESC,
                                                     (DISCORD_MAX_TOTAL - total) / (glong) (batch->ids->len - i) -
                                                     g_utf8_strlen (title, -1) - g_utf8_strlen (footer, -1)));

      total += g_utf8_strlen (title, -1) + g_utf8_strlen (footer, -1) + g_utf8_strlen (description, -1);
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "title");
      json_builder_add_string_value (builder, title);
      json_builder_set_member_name (builder, "description");
      json_builder_add_string_value (builder, description);
      json_builder_set_member_name (builder, "footer");
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "text");
      json_builder_add_string_value (builder, footer);
      json_builder_end_object (builder);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

/* Sending */

static void
schedule (Sink   *sink,
          gint64  wait_us);

static gboolean
timer_cb (gpointer user_data)
{
  Sink *sink = user_data;

  sink->timer = 0;
  try_send (sink);

  return G_SOURCE_REMOVE;
}

static void
schedule (Sink   *sink,
          gint64  wait_us)
{
  sink->not_before = MAX (sink->not_before, g_get_monotonic_time () + wait_us);
  g_clear_handle_id (&sink->timer, g_source_remove);
  sink->timer = g_timeout_add ((guint) MAX ((sink->not_before - g_get_monotonic_time ()) / 1000, 1),
                               timer_cb, sink);
}

static void
set_error (Sink       *sink,
           const char *message)
{
  g_free (sink->last_error);
  sink->last_error = g_strdup (message);
}

static void
failed (Sink       *sink,
        const char *message,
        gint64      wait_us)
{
  HelixWebhookQueue *self = sink->queue;
  gint64 now = g_get_monotonic_time ();

  set_error (sink, message);
  sink->failures++;
  sink->failures_here++;
  if (sink->failing_since == 0)
    sink->failing_since = now;

  g_debug ("webhook %s: %s (failure %u)", sink->name, message, sink->failures);

  /* Three in a row on one URL: the other one. */
  if (sink->backup_url != NULL && sink->failures_here >= HELIX_WEBHOOK_FAILOVER_AFTER)
    {
      sink->on_backup = !sink->on_backup;
      sink->failures_here = 0;
      g_message ("Webhook %s: trying its %s URL", sink->name, sink->on_backup ? "backup" : "primary");
    }

  if (!sink->alerted && self->alert_after_s > 0 &&
      now - sink->failing_since >= (gint64) self->alert_after_s * G_USEC_PER_SEC)
    {
      sink->alerted = TRUE;
      g_signal_emit (self, signals[SINK_FAILING], 0, sink->name, message);
    }

  if (wait_us < 0)
    {
      /* Full jitter: up to min × 2^failures, capped. */
      guint64 ceiling = self->backoff_min_ms;

      for (guint i = 1; i < sink->failures && ceiling < self->backoff_max_ms; i++)
        ceiling *= 2;
      ceiling = MIN (ceiling, self->backoff_max_ms);
      wait_us = (gint64) g_random_double_range (self->backoff_min_ms / 2.0, (double) ceiling) * 1000;
    }

  sink->busy = FALSE;
  schedule (sink, wait_us);
}

static void
deleted_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  Sink *sink = user_data;

  if (g_task_had_error (G_TASK (result)))
    return;
  sink->busy = FALSE;
  try_send (sink);
}

static double
header_seconds (SoupMessageHeaders *headers,
                const char         *name)
{
  const char *value = soup_message_headers_get_one (headers, name);
  double seconds;

  if (value == NULL)
    return -1;
  seconds = g_ascii_strtod (value, NULL);
  return seconds >= 0 && seconds < 86400 ? seconds : -1;
}

/* 429: `retry_after` in Discord's JSON body (seconds, may be fractional), or `Retry-After`. */
static gint64
retry_after_us (SoupMessage *msg,
                GBytes      *body)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  double seconds = header_seconds (soup_message_get_response_headers (msg), "Retry-After");
  gsize len = 0;
  const char *data = body != NULL ? g_bytes_get_data (body, &len) : NULL;

  if (data != NULL && len > 0 && len < 4096 && json_parser_load_from_data (parser, data, len, NULL) &&
      JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      JsonObject *object = json_node_get_object (json_parser_get_root (parser));
      JsonNode *node = json_object_get_member (object, "retry_after");

      if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
          (json_node_get_value_type (node) == G_TYPE_DOUBLE ||
           json_node_get_value_type (node) == G_TYPE_INT64))
        seconds = json_node_get_double (node);
    }

  return seconds >= 0 && seconds < 86400 ? (gint64) (seconds * G_USEC_PER_SEC) : -1;
}

static void
sent_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(SoupMessage) msg = user_data;
  Sink *sink = g_object_get_data (G_OBJECT (msg), "helix-sink");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = NULL;
  SoupMessageHeaders *headers;
  HelixWebhookQueue *self;
  guint status;
  GTask *task;
  double reset;

  body = soup_session_send_and_read_finish (SOUP_SESSION (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;  /* the queue is going away */

  self = sink->queue;
  if (body == NULL)
    {
      failed (sink, error->message, -1);
      return;
    }

  status = soup_message_get_status (msg);
  headers = soup_message_get_response_headers (msg);

  /* Whatever the status: the bucket says when the next request may go. */
  if (g_strcmp0 (soup_message_headers_get_one (headers, "X-RateLimit-Remaining"), "0") == 0 &&
      (reset = header_seconds (headers, "X-RateLimit-Reset-After")) >= 0)
    sink->not_before = MAX (sink->not_before,
                            g_get_monotonic_time () + (gint64) (reset * G_USEC_PER_SEC));

  if (status == 429)  /* SOUP_STATUS_TOO_MANY_REQUESTS: libsoup 3.4 */
    {
      g_autofree char *message = g_strdup (_("rate limited (429)"));
      gint64 wait = retry_after_us (msg, body);

      /* Not a failure of the sink: no failover, no alert. */
      set_error (sink, message);
      sink->busy = FALSE;
      schedule (sink, wait >= 0 ? wait : (gint64) self->backoff_min_ms * 1000);
      return;
    }

  if (!SOUP_STATUS_IS_SUCCESSFUL (status))
    {
      g_autofree char *message = g_strdup_printf (_("HTTP %u %s"), status,
                                                  soup_message_get_reason_phrase (msg));

      failed (sink, message, -1);
      return;
    }

  /* Delivered: forget those rows, then the next batch. */
  if (sink->alerted)
    g_signal_emit (self, signals[SINK_RECOVERED], 0, sink->name);
  sink->failures = 0;
  sink->failures_here = 0;
  sink->failing_since = 0;
  sink->alerted = FALSE;
  set_error (sink, NULL);
  add_pending (self, sink->name, -(gint) sink->sent_ids->len);
  g_signal_emit (self, signals[DELIVERED], 0, sink->name, sink->sent_ids->len);

  task = g_task_new (self, self->cancellable, deleted_cb, sink);
  g_task_set_task_data (task, g_steal_pointer (&sink->sent_ids), (GDestroyNotify) g_array_unref);
  g_task_run_in_thread (task, delete_thread);
  g_object_unref (task);
}

static void
batch_read_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  Sink *sink = user_data;
  HelixWebhookQueue *self = HELIX_WEBHOOK_QUEUE (object);
  Batch *batch = g_task_get_task_data (G_TASK (result));
  g_autofree char *body = NULL;
  g_autoptr(GBytes) bytes = NULL;
  SoupMessage *msg;
  gint64 now;
  gsize len;

  if (!g_task_propagate_boolean (G_TASK (result), NULL) || self->sinks == NULL)
    return;

  if (batch->ids->len == 0)
    {
      sink->busy = FALSE;
      if (sink->again)
        try_send (sink);
      return;
    }

  /* Discord: 5 per 5 s, counted here too. */
  now = g_get_monotonic_time ();
  if (sink->format == HELIX_WEBHOOK_FORMAT_DISCORD)
    {
      gint64 oldest = sink->window[sink->window_next];

      if (oldest != 0 && now - oldest < (gint64) HELIX_WEBHOOK_DISCORD_WINDOW_MS * 1000)
        {
          sink->busy = FALSE;
          schedule (sink, (gint64) HELIX_WEBHOOK_DISCORD_WINDOW_MS * 1000 - (now - oldest));
          return;
        }
      sink->window[sink->window_next] = now;
      sink->window_next = (sink->window_next + 1) % HELIX_WEBHOOK_DISCORD_BURST;
    }

  body = sink->format == HELIX_WEBHOOK_FORMAT_DISCORD ? build_discord_body (sink, batch)
                                                      : build_json_body (self, sink, batch);
  msg = soup_message_new (SOUP_METHOD_POST, sink->on_backup ? sink->backup_url : sink->url);
  /* Delivery is at least once and receivers drop repeats by seq: sending a
   * batch again is harmless, so the POST may go over a kept-alive connection
   * (libsoup opens a new one for every non-idempotent request otherwise: a
   * TCP, and for real webhooks a TLS, handshake per batch). */
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT | SOUP_MESSAGE_IDEMPOTENT);
  len = strlen (body);
  bytes = g_bytes_new_take (g_steal_pointer (&body), len);
  soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
  g_clear_pointer (&sink->sent_ids, g_array_unref);
  sink->sent_ids = g_array_ref (batch->ids);
  g_object_set_data (G_OBJECT (msg), "helix-sink", sink);
  soup_session_send_and_read_async (self->session, msg, G_PRIORITY_DEFAULT, self->cancellable,
                                    sent_cb, msg);
}

static void
try_send (Sink *sink)
{
  HelixWebhookQueue *self = sink->queue;
  GTask *task;
  Batch *batch;

  /* Entries queued while a batch is read may come after its SELECT: read again then. */
  if (sink->busy || sink->timer != 0)
    {
      sink->again = TRUE;
      return;
    }
  if (g_get_monotonic_time () < sink->not_before)
    {
      schedule (sink, 0);
      return;
    }

  sink->busy = TRUE;
  sink->again = FALSE;
  batch = g_new0 (Batch, 1);
  batch->sink = g_strdup (sink->name);
  batch->ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  batch->seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  batch->channels = g_ptr_array_new_with_free_func (g_free);
  batch->entries = g_ptr_array_new_with_free_func (g_free);

  task = g_task_new (self, self->cancellable, batch_read_cb, sink);
  g_task_set_task_data (task, batch, batch_free);
  g_task_run_in_thread (task, read_batch_thread);
  g_object_unref (task);
}

/**
 * helix_webhook_queue_start:
 * @self: a queue
 *
 * Delivers what is queued, and what is queued from now on.
 */
void
helix_webhook_queue_start (HelixWebhookQueue *self)
{
  GHashTableIter iter;
  Sink *sink;

  g_return_if_fail (HELIX_IS_WEBHOOK_QUEUE (self));

  self->started = TRUE;
  g_hash_table_iter_init (&iter, self->sinks);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &sink))
    try_send (sink);
}
