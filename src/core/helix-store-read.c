/* helix-store-read.c: reads and full-text search
 *
 * Short indexed lookups (a page of messages, one session) use the store's own read
 * connection; listing and search take a connection from the reader pool so they can
 * run in worker threads while the UI stays responsive.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-store"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-message-private.h"
#include "helix-search-hit-private.h"
#include "helix-session-private.h"
#include "helix-db.h"
#include "helix-store-private.h"

/* Reads {{{1 */

/**
 * helix_store_get_session:
 *
 * Returns: (transfer full): the session, tombstoned or not
 */
HelixSession *
helix_store_get_session (HelixStore  *self,
                         const char  *session_id,
                         GError     **error)
{
  HelixSession *session;

  g_return_val_if_fail (HELIX_IS_STORE (self), NULL);

  if (!_helix_store_check_open (self, error) || !_helix_store_check_id (session_id, _("chat"), error))
    return NULL;

  g_mutex_lock (&self->reader_mutex);
  session = _helix_store_load_session (self, self->reader, session_id, error);
  g_mutex_unlock (&self->reader_mutex);

  return session;
}

static GPtrArray *
list_sessions (HelixStore  *self,
               sqlite3     *db,
               gboolean     include_archived,
               GError     **error)
{
  g_autoptr(GPtrArray) sessions = g_ptr_array_new_with_free_func (g_object_unref);
  sqlite3_stmt *stmt;
  int rc;

  stmt = helix_db_prepare (db,
                  "SELECT " SESSION_COLUMNS " FROM sessions s "
                  "WHERE s.deleted = 0 AND (?1 OR s.archived = 0) "
                  "ORDER BY s.pinned DESC, s.updated_us DESC, s.id DESC",
                  FALSE, error);
  if (stmt == NULL)
    return NULL;

  sqlite3_bind_int (stmt, 1, include_archived ? 1 : 0);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (sessions, _helix_store_session_from_row (stmt, 0));
  sqlite3_finalize (stmt);

  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, db, rc, _("Could not list the chats"));
      return NULL;
    }

  return g_steal_pointer (&sessions);
}

/**
 * helix_store_list_sessions:
 *
 * Returns: (transfer full) (element-type HelixSession): the sessions that are not
 *   deleted, pinned first, then the most recently active first
 */
GPtrArray *
helix_store_list_sessions (HelixStore  *self,
                           gboolean     include_archived,
                           GError     **error)
{
  GPtrArray *ret;
  sqlite3 *db;

  g_return_val_if_fail (HELIX_IS_STORE (self), NULL);

  if (!_helix_store_check_open (self, error) || !(db = _helix_store_acquire_reader (self, error)))
    return NULL;

  ret = list_sessions (self, db, include_archived, error);
  _helix_store_release_reader (self, db);

  return ret;
}

static void
list_sessions_thread (GTask        *task,
                      gpointer      source_object,
                      gpointer      task_data,
                      GCancellable *cancellable)
{
  GError *error = NULL;
  GPtrArray *sessions;

  sessions = helix_store_list_sessions (source_object, GPOINTER_TO_INT (task_data), &error);
  if (sessions != NULL)
    g_task_return_pointer (task, sessions, (GDestroyNotify) g_ptr_array_unref);
  else
    g_task_return_error (task, error);
}

void
helix_store_list_sessions_async (HelixStore          *self,
                                 gboolean             include_archived,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (HELIX_IS_STORE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_store_list_sessions_async);
  g_task_set_task_data (task, GINT_TO_POINTER (!!include_archived), NULL);
  g_task_run_in_thread (task, list_sessions_thread);
}

/**
 * helix_store_list_sessions_finish:
 *
 * Returns: (transfer full) (element-type HelixSession): the sessions
 */
GPtrArray *
helix_store_list_sessions_finish (HelixStore    *self,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * helix_store_get_message:
 *
 * Returns: (transfer full): the message
 */
HelixMessage *
helix_store_get_message (HelixStore  *self,
                         const char  *message_id,
                         GError     **error)
{
  sqlite3_stmt *stmt;
  HelixMessage *message = NULL;
  int rc;

  g_return_val_if_fail (HELIX_IS_STORE (self), NULL);

  if (!_helix_store_check_open (self, error) || !_helix_store_check_id (message_id, _("message"), error))
    return NULL;

  g_mutex_lock (&self->reader_mutex);
  stmt = helix_db_prepare (self->reader,
                  "SELECT " MESSAGE_COLUMNS ", s.uuid FROM messages m "
                  "JOIN sessions s ON s.id = m.session WHERE m.uuid = ?",
                  FALSE, error);
  if (stmt != NULL)
    {
      sqlite3_bind_text (stmt, 1, message_id, -1, SQLITE_STATIC);
      rc = sqlite3_step (stmt);
      if (rc == SQLITE_ROW)
        {
          g_autoptr(GRefString) session_ref = g_ref_string_new ((const char *) sqlite3_column_text (stmt, 14));

          message = _helix_store_message_from_row (stmt, session_ref);
        }
      else if (rc == SQLITE_DONE)
        g_set_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_NOT_FOUND,
                     _("The message %s does not exist"), message_id);
      else
        helix_db_set_error (error, self->reader, rc, _("Could not read the message"));
      sqlite3_finalize (stmt);
    }
  g_mutex_unlock (&self->reader_mutex);

  return message;
}

/**
 * helix_store_count_messages:
 *
 * Returns: how many messages the session has (an O(log n) lookup)
 */
guint64
helix_store_count_messages (HelixStore  *self,
                            const char  *session_id,
                            GError     **error)
{
  g_autoptr(HelixSession) session = helix_store_get_session (self, session_id, error);

  return session ? session->n_messages : 0;
}

/**
 * helix_store_get_messages:
 * @self: a #HelixStore
 * @session_id: the session
 * @first_position: the position of the first message wanted
 * @n_messages: how many, at most 1024
 * @error: a location for a #GError
 *
 * Fetches one page of a session's messages with a single index range scan: the cost
 * does not depend on the size of the session. Meant for list models; it runs on the
 * store's short-query read connection.
 *
 * Returns: (transfer full) (element-type HelixMessage): the messages, in order
 */
GPtrArray *
helix_store_get_messages (HelixStore  *self,
                          const char  *session_id,
                          guint64      first_position,
                          guint        n_messages,
                          GError     **error)
{
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GRefString) session_ref = NULL;
  int rc;

  g_return_val_if_fail (HELIX_IS_STORE (self), NULL);
  g_return_val_if_fail (n_messages <= MAX_PAGE, NULL);

  if (!_helix_store_check_open (self, error) || !_helix_store_check_id (session_id, _("chat"), error))
    return NULL;

  messages = g_ptr_array_new_full (n_messages, g_object_unref);
  session_ref = g_ref_string_new (session_id);

  g_mutex_lock (&self->reader_mutex);

  if (self->page_stmt == NULL)
    self->page_stmt = helix_db_prepare (self->reader,
                               "SELECT " MESSAGE_COLUMNS " FROM messages m "
                               "WHERE m.session = (SELECT id FROM sessions WHERE uuid = ?1) "
                               "AND m.position >= ?2 AND m.position < ?2 + ?3 "
                               "ORDER BY m.position",
                               TRUE, error);
  if (self->page_stmt == NULL)
    {
      g_mutex_unlock (&self->reader_mutex);
      return NULL;
    }

  sqlite3_bind_text (self->page_stmt, 1, session_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (self->page_stmt, 2, (gint64) MIN (first_position, (guint64) G_MAXINT64 / 2));
  sqlite3_bind_int64 (self->page_stmt, 3, n_messages);
  while ((rc = sqlite3_step (self->page_stmt)) == SQLITE_ROW)
    g_ptr_array_add (messages, _helix_store_message_from_row (self->page_stmt, session_ref));
  sqlite3_reset (self->page_stmt);

  if (rc != SQLITE_DONE)
    helix_db_set_error (error, self->reader, rc, _("Could not read the messages"));

  g_mutex_unlock (&self->reader_mutex);

  return rc == SQLITE_DONE ? g_steal_pointer (&messages) : NULL;
}

/* Search {{{1 */

static gboolean
check_query (const char  *query,
             GError     **error)
{
  return _helix_store_check_text (query, HELIX_STORE_SEARCH_MAX_BYTES, _("search"), error);
}

static GPtrArray *
search_messages (sqlite3     *db,
                 const char  *fts_query,
                 guint        limit,
                 GError     **error)
{
  g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func (g_object_unref);
  sqlite3_stmt *stmt;
  int rc;

  /* The FTS table drives the join in descending rowid order, which FTS5 produces
   * without sorting; rowids grow with time, so the first rows are the newest hits. */
  stmt = helix_db_prepare (db,
                  "SELECT " MESSAGE_COLUMNS ", s.uuid FROM messages_fts f "
                  "CROSS JOIN messages m ON m.id = f.rowid "
                  "CROSS JOIN sessions s ON s.id = m.session "
                  "WHERE messages_fts MATCH ?1 AND s.deleted = 0 "
                  "ORDER BY f.rowid DESC LIMIT ?2",
                  FALSE, error);
  if (stmt == NULL)
    return NULL;

  sqlite3_bind_text (stmt, 1, fts_query, -1, SQLITE_STATIC);
  sqlite3_bind_int (stmt, 2, (int) limit);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      g_autoptr(GRefString) session_ref = g_ref_string_new ((const char *) sqlite3_column_text (stmt, 14));

      g_ptr_array_add (messages, _helix_store_message_from_row (stmt, session_ref));
    }
  sqlite3_finalize (stmt);

  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, db, rc, _("Could not search"));
      return NULL;
    }

  return g_steal_pointer (&messages);
}

/**
 * helix_store_search_messages:
 * @self: a #HelixStore
 * @query: what the user typed
 * @limit: the most hits to return
 * @error: a location for a #GError
 *
 * Finds the newest messages that contain every word of @query, in sessions that are
 * not deleted. Runs on the calling thread.
 *
 * Returns: (transfer full) (element-type HelixMessage): the hits, newest first
 */
GPtrArray *
helix_store_search_messages (HelixStore  *self,
                             const char  *query,
                             guint        limit,
                             GError     **error)
{
  g_autofree char *fts_query = NULL;
  GPtrArray *ret;
  sqlite3 *db;

  g_return_val_if_fail (HELIX_IS_STORE (self), NULL);

  if (!_helix_store_check_open (self, error) || !check_query (query, error))
    return NULL;

  fts_query = helix_db_fts_query (query, FALSE);
  if (fts_query == NULL)
    return g_ptr_array_new_with_free_func (g_object_unref);

  if (!_helix_store_flush_index (self, error))
    return NULL;

  if (!(db = _helix_store_acquire_reader (self, error)))
    return NULL;
  ret = search_messages (db, fts_query, MIN (limit, MAX_SEARCH_LIMIT), error);
  _helix_store_release_reader (self, db);

  return ret;
}

static GListStore *
search_sessions (HelixStore  *self,
                 sqlite3     *db,
                 const char  *fts_query,
                 guint        limit,
                 GError     **error)
{
  g_autoptr(GListStore) hits = g_list_store_new (HELIX_TYPE_SEARCH_HIT);
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  sqlite3_stmt *stmt;
  int rc;

  /* Titles first: a chat whose title matches is what the user most likely wants. */
  stmt = helix_db_prepare (db,
                  "SELECT " SESSION_COLUMNS " FROM sessions_fts f "
                  "CROSS JOIN sessions s ON s.id = f.rowid "
                  "WHERE sessions_fts MATCH ?1 AND s.deleted = 0 "
                  "ORDER BY s.updated_us DESC LIMIT ?2",
                  FALSE, error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, fts_query, -1, SQLITE_STATIC);
  sqlite3_bind_int (stmt, 2, (int) limit);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      g_autoptr(HelixSession) session = _helix_store_session_from_row (stmt, 0);
      g_autoptr(HelixSearchHit) hit = _helix_search_hit_new (session, NULL, NULL);

      g_hash_table_add (seen, g_strdup (session->id));
      g_list_store_append (hits, hit);
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    goto failed;

  /* Then the newest matching message of each other session. */
  stmt = helix_db_prepare (db,
                  "SELECT m.uuid, snippet(messages_fts, 0, '', '', '…', 12), " SESSION_COLUMNS " "
                  "FROM messages_fts f "
                  "CROSS JOIN messages m ON m.id = f.rowid "
                  "CROSS JOIN sessions s ON s.id = m.session "
                  "WHERE messages_fts MATCH ?1 AND s.deleted = 0 "
                  "ORDER BY f.rowid DESC LIMIT ?2",
                  FALSE, error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, fts_query, -1, SQLITE_STATIC);
  sqlite3_bind_int (stmt, 2, (int) MIN (limit * 8, MAX_SEARCH_LIMIT));
  while (g_list_model_get_n_items (G_LIST_MODEL (hits)) < limit &&
         (rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      g_autoptr(HelixSession) session = _helix_store_session_from_row (stmt, 2);
      g_autoptr(HelixSearchHit) hit = NULL;

      if (g_hash_table_contains (seen, session->id))
        continue;

      hit = _helix_search_hit_new (session,
                                   (const char *) sqlite3_column_text (stmt, 0),
                                   (const char *) sqlite3_column_text (stmt, 1));
      g_list_store_append (hits, hit);
      g_hash_table_add (seen, g_strdup (session->id));
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    goto failed;

  return g_steal_pointer (&hits);

failed:
  helix_db_set_error (error, db, rc, _("Could not search"));
  return NULL;
}

typedef struct
{
  char  *query;
  guint  limit;
} SearchData;

static void
search_data_free (SearchData *data)
{
  g_free (data->query);
  g_free (data);
}

static void
search_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  HelixStore *self = source_object;
  SearchData *data = task_data;
  g_autofree char *fts_query = helix_db_fts_query (data->query, TRUE);
  GError *error = NULL;
  GListStore *hits;
  sqlite3 *db;

  if (fts_query == NULL)
    {
      g_task_return_pointer (task, g_list_store_new (HELIX_TYPE_SEARCH_HIT), g_object_unref);
      return;
    }

  if (g_task_return_error_if_cancelled (task))
    return;

  if (!_helix_store_flush_index (self, &error) || !(db = _helix_store_acquire_reader (self, &error)))
    {
      g_task_return_error (task, error);
      return;
    }

  hits = search_sessions (self, db, fts_query, data->limit, &error);
  _helix_store_release_reader (self, db);

  if (hits != NULL)
    g_task_return_pointer (task, hits, g_object_unref);
  else
    g_task_return_error (task, error);
}

/**
 * helix_store_search_async:
 * @self: a #HelixStore
 * @query: what the user typed
 * @limit: the most sessions to return
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Searches session titles and message text in a worker thread. The result has one
 * #HelixSearchHit per matching session: those whose title matches first, then the
 * others by their newest matching message, with a snippet of it.
 */
void
helix_store_search_async (HelixStore          *self,
                          const char          *query,
                          guint                limit,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  SearchData *data;

  g_return_if_fail (HELIX_IS_STORE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_store_search_async);

  if (!check_query (query, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  data = g_new0 (SearchData, 1);
  data->query = g_strdup (query);
  data->limit = CLAMP (limit, 1, MAX_SEARCH_LIMIT);
  g_task_set_task_data (task, data, (GDestroyNotify) search_data_free);
  g_task_run_in_thread (task, search_thread);
}

/**
 * helix_store_search_finish:
 *
 * Returns: (transfer full): a #GListModel of #HelixSearchHit
 */
GListModel *
helix_store_search_finish (HelixStore    *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
