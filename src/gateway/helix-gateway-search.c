/* helix-gateway-search.c: full-text search over a user's synced messages
 *
 *   GET /api/v1/search?q=TEXT&limit=1..100&cursor=ID
 *       {"results":[{"session":…,"title":…,"message":…,"seq":…,"role":…,
 *                    "snippet":…,"created":…}…],"next":ID or null}
 *
 * The index is migrations/0006-search.sql's: a document per message and per
 * titled session in search_docs, indexed by the FTS5 table search_fts. It is
 * brought up to date from the op log, per user, right before that user's
 * search (index_user()), not while pushes are stored: a group commit costs
 * what it did, and a user who never searches never pays for the index
 * (beyond the rows of schema 5's migration). The text searched for is
 * turned into quoted FTS5 terms by helix_db_fts_query(), as in the desktop
 * store: no operator, column filter or prefix star in it means anything.
 *
 * Every statement names the user, and a document is only found through a
 * live session of the same user: another user's rows, deleted sessions and
 * messages of sessions not (yet) there are never found.
 *
 * Nothing of it runs on the main loop. The index is written by the
 * gateway's one writer connection (helix-gateway-writer.c), a batch of at
 * most INDEX_BATCH_OPS ops at a time, so pushes and REST writes queued
 * meanwhile go between the batches of a long backlog; the search itself
 * then reads in a GTask thread, on a read connection of its own (a
 * #HelixGatewaySearcher).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "helix-db.h"
#include "helix-gateway-db-private.h"
#include "helix-gateway-metrics.h"
#include "helix-gateway-private.h"
#include "helix-gateway-sync.h"

#define SEARCH_PATH "/api/v1/search"

#define SEARCH_LIMIT_DEFAULT 20

/* The most ops one transaction of index_user() indexes: a long backlog is
 * indexed in several, each about as short as a group commit of pushes, so
 * that the sync writer and the REST API's writes, which wait for it, do
 * not wait long. */
#define INDEX_BATCH_OPS 256

/* A document's id is (user << DOC_USER_SHIFT) | ((2^40 - 1 - seq) << 1) |
 * kind (1099511627775 in SQL is 2^40 - 1): see migrations/0006-search.sql. */
#define DOC_USER_SHIFT 41
#define DOC_MAX_USER   ((G_GINT64_CONSTANT (1) << (63 - DOC_USER_SHIFT)) - 1)

void
helix_gateway_search_hit_free (HelixGatewaySearchHit *hit)
{
  if (hit == NULL)
    return;

  g_free (hit->session);
  g_free (hit->title);
  g_free (hit->message);
  g_free (hit->role);
  g_free (hit->snippet);
  g_free (hit);
}

/* The database {{{1 */

static char *
dup_text (sqlite3_stmt *stmt,
          int           column)
{
  return g_strdup ((const char *) sqlite3_column_text (stmt, column));
}

/* Runs @sql, a statement of index_user(), with the user and the range of
 * seqs it indexes. */
static gboolean
run_index_statement (HelixGatewayDb  *self,
                     sqlite3         *db,
                     const char      *sql,
                     gint64           user_id,
                     gint64           after_seq,
                     gint64           upto_seq,
                     GError         **error)
{
  sqlite3_stmt *stmt = _helix_gateway_db_prepare (self, sql, error);
  int rc;

  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_int64 (stmt, 2, after_seq);
  sqlite3_bind_int64 (stmt, 3, upto_seq);
  rc = sqlite3_step (stmt);
  _helix_gateway_db_release (stmt);

  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, db, rc, _("Could not index messages for search"));
      return FALSE;
    }

  return TRUE;
}

/* The statements of one batch, each with ?1 the user and the ops ?2 < seq <=
 * ?3 (through the op log's UNIQUE (user, seq)). Each looks up the current
 * state of what the ops named: ops of one batch may come in any order. */
static const char * const index_statements[] = {
  /* A deleted session's messages are gone from sync_messages: their
   * documents, and its title's, go too. */
  "DELETE FROM search_docs WHERE user = ?1 AND session IN "
  "  (SELECT entity FROM ops WHERE user = ?1 AND seq > ?2 AND seq <= ?3 "
  "   AND kind = 'session.delete')",
  /* Messages stored or changed. One that a tombstone kept out is not in
   * sync_messages, and gets no document. */
  "INSERT INTO search_docs (id, user, kind, uuid, session, text) "
  "  SELECT (o.user << 41) | ((1099511627775 - o.seq) << 1), m.user, 0, m.uuid, m.session, "
  "    m.content "
  "  FROM ops o CROSS JOIN sync_messages m ON m.uuid = o.entity AND m.user = o.user "
  "  WHERE o.user = ?1 AND o.seq > ?2 AND o.seq <= ?3 AND o.kind = 'message.put' "
  "  ORDER BY o.seq "
  "ON CONFLICT (user, uuid, kind) DO UPDATE SET text = excluded.text "
  "  WHERE search_docs.text <> excluded.text",
  /* Titles set ... */
  "INSERT INTO search_docs (id, user, kind, uuid, session, text) "
  "  SELECT (o.user << 41) | ((1099511627775 - o.seq) << 1) | 1, s.user, 1, s.uuid, s.uuid, "
  "    s.title "
  "  FROM ops o CROSS JOIN sync_sessions s ON s.user = o.user AND s.uuid = o.entity "
  "  WHERE o.user = ?1 AND o.seq > ?2 AND o.seq <= ?3 AND o.kind = 'session.put' "
  "    AND s.deleted = 0 AND s.title <> '' "
  "  ORDER BY o.seq "
  "ON CONFLICT (user, uuid, kind) DO UPDATE SET text = excluded.text "
  "  WHERE search_docs.text <> excluded.text",
  /* ... and cleared. */
  "DELETE FROM search_docs WHERE user = ?1 AND kind = 1 AND uuid IN "
  "  (SELECT o.entity FROM ops o "
  "   CROSS JOIN sync_sessions s ON s.user = o.user AND s.uuid = o.entity "
  "   WHERE o.user = ?1 AND o.seq > ?2 AND o.seq <= ?3 AND o.kind = 'session.put' "
  "     AND s.title = '')",
  "UPDATE users SET search_seq = ?3 WHERE id = ?1 AND search_seq = ?2",
};

/* Reads how far @user_id's ops are indexed and how far they go. */
static gboolean
read_search_seqs (HelixGatewayDb  *self,
                  sqlite3         *db,
                  gint64           user_id,
                  gint64          *search_seq,
                  gint64          *head_seq,
                  GError         **error)
{
  sqlite3_stmt *stmt;
  int rc;

  stmt = _helix_gateway_db_prepare (self, "SELECT search_seq, head_seq FROM users WHERE id = ?1",
                                    error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, user_id);
  rc = sqlite3_step (stmt);
  /* No such user (any more): nothing to index, nothing to find. */
  *search_seq = rc == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0;
  *head_seq = rc == SQLITE_ROW ? sqlite3_column_int64 (stmt, 1) : 0;
  _helix_gateway_db_release (stmt);

  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      helix_db_set_error (error, db, rc, _("Could not read the users"));
      return FALSE;
    }

  return TRUE;
}

/* Indexes the next INDEX_BATCH_OPS ops at most of @user_id's after
 * users.search_seq, in one transaction; *@more says whether some are left.
 * Nothing new: nothing is written. */
static gboolean
index_user_batch (HelixGatewayDb  *self,
                  gint64           user_id,
                  gboolean        *more,
                  GError         **error)
{
  gint64 search_seq = 0;
  gint64 head_seq = 0;
  gint64 upto_seq;
  gboolean ok;
  sqlite3 *db;

  *more = FALSE;

  db = _helix_gateway_db_get_handle (self, error);
  if (db == NULL || !read_search_seqs (self, db, user_id, &search_seq, &head_seq, error))
    return FALSE;
  if (search_seq >= head_seq)
    return TRUE;

  if (!_helix_gateway_db_begin (self, error))
    return FALSE;

  /* Again, now that no other connection writes: one may have indexed. */
  ok = read_search_seqs (self, db, user_id, &search_seq, &head_seq, error);
  upto_seq = MIN (head_seq, search_seq + INDEX_BATCH_OPS);
  for (gsize i = 0; ok && search_seq < head_seq && i < G_N_ELEMENTS (index_statements); i++)
    ok = run_index_statement (self, db, index_statements[i], user_id, search_seq, upto_seq,
                              error);

  if (!_helix_gateway_db_commit (self, ok, error))
    return FALSE;

  if (search_seq < head_seq)
    g_debug ("search: user %lld: indexed seqs %lld to %lld", (long long) user_id,
             (long long) search_seq + 1, (long long) upto_seq);
  *more = upto_seq < head_seq;

  return TRUE;
}

/* Indexes all of @user_id's ops after users.search_seq, a batch at a time. */
static gboolean
index_user (HelixGatewayDb  *self,
            gint64           user_id,
            GError         **error)
{
  gboolean more = TRUE;

  while (more)
    if (!index_user_batch (self, user_id, &more, error))
      return FALSE;

  return TRUE;
}

/* Finds the hits in the index as it is (see helix_gateway_db_search()). */
static GPtrArray *
search (HelixGatewayDb  *self,
        gint64           user_id,
        const char      *text,
        gint64           after,
        guint            limit,
        GError         **error)
{
  g_autoptr(GPtrArray) hits = NULL;
  g_autofree char *fts_query = NULL;
  sqlite3_stmt *stmt;
  sqlite3 *db;
  int rc;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), NULL);
  g_return_val_if_fail (text != NULL, NULL);
  g_return_val_if_fail (limit >= 1 && limit <= G_MAXINT, NULL);

  db = _helix_gateway_db_get_handle (self, error);
  if (db == NULL)
    return NULL;

  /* Ids are made from user ids (see DOC_USER_SHIFT). */
  if (user_id < 0 || user_id >= DOC_MAX_USER)
    {
      g_set_error (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_FAILED,
                   _("Search takes user ids below %lld"), (long long) DOC_MAX_USER);
      return NULL;
    }

  hits = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_gateway_search_hit_free);

  /* No word in it: nothing can match. */
  fts_query = helix_db_fts_query (text, FALSE);
  if (fts_query == NULL)
    return g_steal_pointer (&hits);

  /* The FTS table drives the join in rowid order, which FTS5 gives
   * without sorting: the newest documents first, and the cursor is a
   * rowid. FTS5 reads only the user's range of rowids (see
   * migrations/0006-search.sql), and only the user's documents of their
   * live sessions pass. */
  stmt = _helix_gateway_db_prepare (self,
                                    "SELECT d.id, d.session, s.title, m.uuid, m.seq, m.role, "
                                    "  snippet (search_fts, 0, '', '', '…', 12), "
                                    "  coalesce (m.created_us, s.created_us) "
                                    "FROM search_fts f "
                                    "CROSS JOIN search_docs d ON d.id = f.rowid "
                                    "CROSS JOIN sync_sessions s "
                                    "  ON s.user = d.user AND s.uuid = d.session "
                                    "LEFT JOIN sync_messages m "
                                    "  ON d.kind = 0 AND m.uuid = d.uuid AND m.user = d.user "
                                    "WHERE search_fts MATCH ?1 AND f.rowid > ?3 AND f.rowid < ?5 "
                                    "  AND d.user = ?2 AND s.deleted = 0 "
                                    "  AND (d.kind = 1 OR m.uuid IS NOT NULL) "
                                    "ORDER BY f.rowid LIMIT ?4", error);
  if (stmt == NULL)
    return NULL;

  sqlite3_bind_text (stmt, 1, fts_query, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, user_id);
  sqlite3_bind_int64 (stmt, 3, MAX (after, (user_id << DOC_USER_SHIFT) - 1));
  sqlite3_bind_int (stmt, 4, (int) limit);
  sqlite3_bind_int64 (stmt, 5, (user_id + 1) << DOC_USER_SHIFT);

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      HelixGatewaySearchHit *hit = g_new0 (HelixGatewaySearchHit, 1);

      hit->id = sqlite3_column_int64 (stmt, 0);
      hit->session = dup_text (stmt, 1);
      hit->title = dup_text (stmt, 2);
      hit->message = dup_text (stmt, 3);
      hit->seq = sqlite3_column_int64 (stmt, 4);
      hit->role = dup_text (stmt, 5);
      hit->snippet = dup_text (stmt, 6);
      hit->created_us = sqlite3_column_int64 (stmt, 7);
      g_ptr_array_add (hits, hit);
    }
  _helix_gateway_db_release (stmt);

  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, db, rc, _("Could not search"));
      return NULL;
    }

  return g_steal_pointer (&hits);
}

/**
 * helix_gateway_db_search:
 * @self: a gateway database
 * @user_id: whose messages and sessions
 * @text: what to look for: every word of it must be in a hit (words only,
 *   no FTS5 syntax; see helix_db_fts_query())
 * @after: only hits whose id is greater than this (the last of the page
 *   before), or 0 for the first page
 * @limit: at most this many (at least 1)
 * @error: a location for a #GError
 *
 * Indexes the user's ops stored since their last search, then finds their
 * messages and session titles that contain every word of @text, in
 * sessions that are not deleted, newest first. A text without words finds
 * nothing.
 *
 * Returns: (transfer container) (element-type HelixGatewaySearchHit): the
 *   hits, or %NULL with @error set
 */
GPtrArray *
helix_gateway_db_search (HelixGatewayDb  *self,
                         gint64           user_id,
                         const char      *text,
                         gint64           after,
                         guint            limit,
                         GError         **error)
{
  gint64 started_us = g_get_monotonic_time ();
  GPtrArray *hits = NULL;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), NULL);

  if (user_id >= 0 && user_id < DOC_MAX_USER && !index_user (self, user_id, error))
    return NULL;
  hits = search (self, user_id, text, after, limit, error);
  helix_gateway_metrics_observe_query ("search", g_get_monotonic_time () - started_us);

  return hits;
}

/* The route {{{1 */

static void
respond_invalid (SoupServerMessage *msg,
                 const char        *message)
{
  _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request", message);
}

/* Searching off the main loop {{{1 */

/* A connection of its own for searches, which the GTask threads take turns
 * with: indexing what a user pushed since their last search may take a
 * while, and the main loop must not wait for it. */
struct _HelixGatewaySearcher
{
  GMutex          lock;
  char           *path;
  HelixGatewayDb *db;      /* under @lock: opened by the first search */
  gboolean        closed;  /* under @lock */
};

static void
searcher_clear (HelixGatewaySearcher *searcher)
{
  g_mutex_clear (&searcher->lock);
  g_free (searcher->path);
  g_clear_object (&searcher->db);
}

/**
 * _helix_gateway_searcher_new:
 * @path: the gateway's database
 *
 * Returns: (transfer full): a searcher of @path, with no connection yet
 */
HelixGatewaySearcher *
_helix_gateway_searcher_new (const char *path)
{
  HelixGatewaySearcher *searcher = g_atomic_rc_box_new0 (HelixGatewaySearcher);

  g_mutex_init (&searcher->lock);
  searcher->path = g_strdup (path);

  return searcher;
}

HelixGatewaySearcher *
_helix_gateway_searcher_ref (HelixGatewaySearcher *searcher)
{
  return g_atomic_rc_box_acquire (searcher);
}

void
_helix_gateway_searcher_unref (HelixGatewaySearcher *searcher)
{
  g_atomic_rc_box_release_full (searcher, (GDestroyNotify) searcher_clear);
}

/**
 * _helix_gateway_searcher_close:
 * @searcher: (transfer full): a searcher
 *
 * Waits for the search running, if any, closes the connection and drops
 * @searcher. Searches still queued fail (the gateway is stopping).
 */
void
_helix_gateway_searcher_close (HelixGatewaySearcher *searcher)
{
  g_mutex_lock (&searcher->lock);
  searcher->closed = TRUE;
  if (searcher->db != NULL)
    helix_gateway_db_close (searcher->db);
  g_clear_object (&searcher->db);
  g_mutex_unlock (&searcher->lock);

  _helix_gateway_searcher_unref (searcher);
}

typedef struct
{
  HelixGateway         *gateway;
  HelixGatewaySearcher *searcher;
  SoupServerMessage    *msg;
  gint64                user_id;
  char                 *text;
  gint64                cursor;
  guint                 limit;
  gboolean              more;     /* the writer's: ops left to index */
} SearchJob;

static void
search_job_free (SearchJob *job)
{
  g_object_unref (job->gateway);
  _helix_gateway_searcher_unref (job->searcher);
  g_object_unref (job->msg);
  g_free (job->text);
  g_free (job);
}

static void
search_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  SearchJob *job = task_data;
  HelixGatewaySearcher *searcher = job->searcher;
  GPtrArray *hits = NULL;
  GError *error = NULL;

  g_mutex_lock (&searcher->lock);
  if (searcher->closed)
    g_set_error_literal (&error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_CLOSED,
                         _("The database is closed"));
  else
    {
      /* Not helix_gateway_db_open(): see _helix_gateway_db_open_again(). */
      if (searcher->db == NULL)
        searcher->db = _helix_gateway_db_open_again (searcher->path, &error);
      /* Read only: the writer brought the index up to date. One more than
       * asked for tells whether there is a next page. */
      if (searcher->db != NULL)
        {
          gint64 started_us = g_get_monotonic_time ();

          hits = search (searcher->db, job->user_id, job->text, job->cursor, job->limit + 1,
                         &error);
          helix_gateway_metrics_observe_query ("search", g_get_monotonic_time () - started_us);
        }
    }
  g_mutex_unlock (&searcher->lock);

  if (hits == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, hits, (GDestroyNotify) g_ptr_array_unref);
}

static void respond_hits (SoupServerMessage *msg,
                          GPtrArray         *hits,
                          guint              limit);

static void
search_done_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  SearchJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(GPtrArray) hits = NULL;
  g_autoptr(GError) error = NULL;

  hits = g_task_propagate_pointer (G_TASK (result), &error);
  if (hits == NULL)
    _helix_gateway_respond_internal_error (job->msg, error);
  else
    respond_hits (job->msg, hits, job->limit);
  soup_server_message_unpause (job->msg);
}

/* On the writer thread: the next batch of the user's ops into the index. */
static gboolean
index_batch_func (HelixGatewayDb  *db,
                  gpointer         data,
                  GError         **error)
{
  SearchJob *job = data;

  /* An id search() refuses: it says so. */
  if (job->user_id < 0 || job->user_id >= DOC_MAX_USER)
    {
      job->more = FALSE;
      return TRUE;
    }

  return index_user_batch (db, job->user_id, &job->more, error);
}

static void index_next (SearchJob *job);

static void
indexed_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  SearchJob *job = user_data;
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;

  if (!_helix_gateway_writer_run_finish (result, &error))
    {
      _helix_gateway_respond_internal_error (job->msg, error);
      soup_server_message_unpause (job->msg);
      search_job_free (job);
      return;
    }

  /* Writes queued meanwhile go before the next batch. */
  if (job->more)
    {
      index_next (job);
      return;
    }

  task = g_task_new (NULL, NULL, search_done_cb, NULL);
  g_task_set_source_tag (task, indexed_cb);
  g_task_set_task_data (task, job, (GDestroyNotify) search_job_free);
  g_task_run_in_thread (task, search_thread);
}

static void
index_next (SearchJob *job)
{
  HelixGatewayHub *hub = _helix_gateway_get_hub (job->gateway);
  HelixGatewayWriter *writer = _helix_gateway_hub_get_writer (hub);

  if (writer == NULL)
    {
      _helix_gateway_respond_error (job->msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "unavailable",
                                    _("The database is not open."));
      soup_server_message_unpause (job->msg);
      search_job_free (job);
      return;
    }

  _helix_gateway_writer_run_async (writer, index_batch_func, job, indexed_cb, job);
}

static void
search_messages (HelixGateway      *self,
                 SoupServerMessage *msg,
                 HelixGatewayAuth  *auth,
                 GHashTable        *query)
{
  const char *text = NULL;
  gint64 cursor = 0;
  gint64 limit = SEARCH_LIMIT_DEFAULT;
  SearchJob *job;

  if (query != NULL)
    {
      GHashTableIter iter;
      const char *name;

      g_hash_table_iter_init (&iter, query);
      while (g_hash_table_iter_next (&iter, (gpointer *) &name, NULL))
        {
          if (!g_str_equal (name, "q") && !g_str_equal (name, "limit") &&
              !g_str_equal (name, "cursor"))
            {
              g_autofree char *message =
                g_strdup_printf (_("Unknown query parameter “%.64s”: use “q”, “limit” and "
                                   "“cursor”."), name);

              respond_invalid (msg, message);
              return;
            }
        }
      text = g_hash_table_lookup (query, "q");
    }

  if (text == NULL || *text == '\0')
    {
      respond_invalid (msg, _("Say what to search for with “q”."));
      return;
    }
  if (strlen (text) > HELIX_GATEWAY_SEARCH_MAX_BYTES)
    {
      g_autofree char *message =
        g_strdup_printf (_("“q” is too long: search for at most %d bytes."),
                         HELIX_GATEWAY_SEARCH_MAX_BYTES);

      respond_invalid (msg, message);
      return;
    }
  if (!g_utf8_validate (text, -1, NULL))
    {
      respond_invalid (msg, _("“q” is not valid UTF-8."));
      return;
    }

  if (!_helix_gateway_read_query_integer (msg, query, "limit", 1, HELIX_GATEWAY_SEARCH_LIMIT_MAX,
                                          &limit) ||
      !_helix_gateway_read_query_integer (msg, query, "cursor", 1, G_MAXINT64, &cursor))
    return;

  job = g_new0 (SearchJob, 1);
  job->gateway = g_object_ref (self);
  job->searcher = _helix_gateway_searcher_ref (_helix_gateway_get_searcher (self));
  job->msg = g_object_ref (msg);
  job->user_id = auth->user_id;
  job->text = g_strdup (text);
  job->cursor = cursor;
  job->limit = (guint) limit;

  /* First the index, on the writer; then the search, in a thread. */
  soup_server_message_pause (msg);
  index_next (job);
}

/* Answers @msg with the first @limit of @hits. */
static void
respond_hits (SoupServerMessage *msg,
              GPtrArray         *hits,
              guint              limit)
{
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) root = NULL;
  gboolean more;
  guint n;

  more = hits->len > limit;
  n = MIN (hits->len, limit);

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "results");
  json_builder_begin_array (builder);
  for (guint i = 0; i < n; i++)
    {
      HelixGatewaySearchHit *hit = g_ptr_array_index (hits, i);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "session");
      json_builder_add_string_value (builder, hit->session);
      json_builder_set_member_name (builder, "title");
      json_builder_add_string_value (builder, hit->title);
      /* A hit in the title has no message. */
      json_builder_set_member_name (builder, "message");
      if (hit->message != NULL)
        json_builder_add_string_value (builder, hit->message);
      else
        json_builder_add_null_value (builder);
      json_builder_set_member_name (builder, "seq");
      if (hit->message != NULL)
        json_builder_add_int_value (builder, hit->seq);
      else
        json_builder_add_null_value (builder);
      json_builder_set_member_name (builder, "role");
      if (hit->role != NULL)
        json_builder_add_string_value (builder, hit->role);
      else
        json_builder_add_null_value (builder);
      json_builder_set_member_name (builder, "snippet");
      json_builder_add_string_value (builder, hit->snippet);
      _helix_gateway_add_time_member (builder, "created", hit->created_us);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "next");
  if (more && n > 0)
    json_builder_add_int_value (builder,
                                ((HelixGatewaySearchHit *) g_ptr_array_index (hits, n - 1))->id);
  else
    json_builder_add_null_value (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  _helix_gateway_respond_json (msg, SOUP_STATUS_OK, root);
}

static void
search_cb (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *path,
           GHashTable        *query,
           gpointer           user_data)
{
  static const char * const allowed[] = { "GET", "HEAD", NULL };
  HelixGateway *self = user_data;
  g_auto(HelixGatewayAuth) auth = { 0 };

  if (!_helix_gateway_admit (self, msg))
    return;

  if (!g_str_equal (path, SEARCH_PATH))
    {
      _helix_gateway_respond_not_found (msg, path);
      return;
    }

  if (!_helix_gateway_check_method (msg, allowed))
    return;

  _helix_gateway_set_no_store (msg);

  if (!_helix_gateway_authenticate (self, msg, &auth))
    return;

  search_messages (self, msg, &auth, query);
}

void
_helix_gateway_add_search_routes (HelixGateway *self,
                                  SoupServer   *server)
{
  g_assert (HELIX_IS_GATEWAY (self));
  g_assert (SOUP_IS_SERVER (server));

  soup_server_add_handler (server, SEARCH_PATH, search_cb, self, NULL);
}
