/* helix-store-write.c: every write to the store
 *
 * Writes run in one transaction each on the writer connection: the *_async calls on
 * the store's writer thread, in the order they were made, the synchronous ones on the
 * calling thread under the same mutex. Each commits (synchronous=FULL) before it
 * reports success, and the store announces what changed in its main context before
 * the caller's callback runs.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-store"

/* Messages appended one at a time are indexed for search in batches of this many (and
 * before any search): one small FTS segment per batch instead of one per message. */
#define INDEX_BATCH 256

#include "config.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

#include "helix-message-private.h"
#include "helix-session-private.h"
#include "helix-db.h"
#include "helix-json.h"
#include "helix-store-private.h"
#include "helix-uuid.h"

static void
bind_text_or_null (sqlite3_stmt *stmt,
                   int           column,
                   const char   *text)
{
  if (text != NULL)
    sqlite3_bind_text (stmt, column, text, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null (stmt, column);
}

/* Writes {{{1 */

/* BEGIN IMMEDIATE, COMMIT and ROLLBACK as prepared statements: parsing them again for
 * every write cost more than the rest of a small append. */
static int
step_cached (HelixStore    *self,
             sqlite3_stmt **stmt,
             const char    *sql)
{
  int rc;

  if (*stmt == NULL)
    {
      rc = sqlite3_prepare_v3 (self->writer, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL);
      if (rc != SQLITE_OK)
        return rc;
    }

  rc = sqlite3_step (*stmt);
  sqlite3_reset (*stmt);

  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int
writer_begin (HelixStore *self)
{
  return step_cached (self, &self->begin_stmt, "BEGIN IMMEDIATE");
}

static int
writer_commit (HelixStore *self)
{
  return step_cached (self, &self->commit_stmt, "COMMIT");
}

static void
writer_rollback (HelixStore *self)
{
  if (!sqlite3_get_autocommit (self->writer))
    step_cached (self, &self->rollback_stmt, "ROLLBACK");
}

int
_helix_store_writer_begin (HelixStore *self)
{
  return writer_begin (self);
}

int
_helix_store_writer_commit (HelixStore *self)
{
  return writer_commit (self);
}

void
_helix_store_writer_rollback (HelixStore *self)
{
  writer_rollback (self);
}


typedef enum
{
  WRITE_CREATE_SESSION,
  WRITE_RENAME_SESSION,
  WRITE_SET_FLAG,
  WRITE_SET_MODEL,
  WRITE_APPEND_MESSAGE,
  WRITE_INDEX,
} WriteKind;

typedef struct
{
  WriteKind         kind;
  char             *session_id;
  char             *title;
  char             *model;
  HelixSessionFlag  flag;
  gboolean          value;
  HelixNewMessage   message;
  /* Filled by the write: the objects to announce, the primary result first. */
  GPtrArray        *changed;
} WriteOp;

static void
write_op_free (WriteOp *op)
{
  g_free (op->session_id);
  g_free (op->title);
  g_free (op->model);
  g_free ((char *) op->message.content);
  g_free ((char *) op->message.model);
  g_free ((char *) op->message.provider);
  g_free ((char *) op->message.metadata);
  g_free ((char *) op->message.id);
  g_clear_pointer (&op->changed, g_ptr_array_unref);
  g_free (op);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WriteOp, write_op_free)

static WriteOp *
write_op_new (WriteKind kind)
{
  WriteOp *op = g_new0 (WriteOp, 1);

  op->kind = kind;
  op->changed = g_ptr_array_new_with_free_func (g_object_unref);

  return op;
}

static gboolean
validate_new_message (const HelixNewMessage  *message,
                      GError                **error)
{
  if ((guint) message->role > HELIX_MESSAGE_ROLE_TOOL ||
      (guint) message->status > HELIX_MESSAGE_STATUS_ERROR)
    {
      g_set_error_literal (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID,
                           _("The message has an unknown role or status"));
      return FALSE;
    }

  if (!_helix_store_check_text (message->content, HELIX_STORE_CONTENT_MAX_BYTES, _("message"), error))
    return FALSE;

  if (message->id != NULL && !_helix_store_check_id (message->id, _("message"), error))
    return FALSE;

  if (message->metadata != NULL && !_helix_store_check_text (message->metadata, 64 * 1024, _("metadata"), error))
    return FALSE;

  return TRUE;
}

static WriteOp *
append_op_new (const char            *session_id,
               const HelixNewMessage *message)
{
  WriteOp *op = write_op_new (WRITE_APPEND_MESSAGE);

  op->session_id = g_strdup (session_id);
  op->message = *message;
  op->message.content = g_strdup (message->content);
  op->message.model = g_strdup (message->model);
  op->message.provider = g_strdup (message->provider);
  op->message.metadata = g_strdup (message->metadata);
  op->message.id = g_strdup (message->id);

  return op;
}

static char *
next_hlc (HelixStore *self)
{
  HelixHlc hlc;

  helix_hlc_clock_now (self->clock, &hlc);

  return helix_hlc_to_string (&hlc);
}


static gboolean
write_create_session (HelixStore  *self,
                      WriteOp     *op,
                      GError     **error)
{
  g_autoptr(GString) data = NULL;
  sqlite3_stmt *stmt;
  g_autofree char *hlc = next_hlc (self);
  gint64 now = g_get_real_time ();
  int rc;

  stmt = helix_db_prepare (self->writer,
                  "INSERT INTO sessions (uuid, title, created_us, updated_us, hlc, title_hlc, "
                  "  pinned_hlc, archived_hlc) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?5, ?5)",
                  FALSE, error);
  if (stmt == NULL)
    return FALSE;

  op->session_id = helix_uuid_new_v7 ();
  sqlite3_bind_text (stmt, 1, op->session_id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, op->title, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, now);
  sqlite3_bind_int64 (stmt, 4, now);
  sqlite3_bind_text (stmt, 5, hlc, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  sqlite3_finalize (stmt);

  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, self->writer, rc, _("Could not create the chat"));
      return FALSE;
    }

  data = g_string_new ("{\"archived\":false,\"pinned\":false,\"title\":");
  helix_json_append_string (data, op->title);
  g_string_append_c (data, '}');

  return _helix_store_enqueue (self, "session.put", op->session_id, NULL, hlc, data->str, error);
}

/* Undoing a deletion is only possible while its session.delete op has not left the
 * outbox: a tombstone the gateway has stored is final (PROTOCOL.md section 7). Dropping
 * the pending op takes the deletion back before any other device saw it. */
static gboolean
undo_delete (HelixStore  *self,
             const char  *session_id,
             GError     **error)
{
  sqlite3_stmt *stmt;
  gboolean deleted = FALSE;
  int rc;

  stmt = helix_db_prepare (self->writer, "SELECT deleted FROM sessions WHERE uuid = ?", FALSE,
                           error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, session_id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    deleted = sqlite3_column_int (stmt, 0) != 0;
  sqlite3_finalize (stmt);

  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      helix_db_set_error (error, self->writer, rc, _("Could not read the chat"));
      return FALSE;
    }
  if (!deleted)
    return TRUE;

  stmt = helix_db_prepare (self->writer,
                           "DELETE FROM outbox WHERE kind = 'session.delete' AND entity = ?",
                           FALSE, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, session_id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  sqlite3_finalize (stmt);

  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, self->writer, rc, _("Could not change the chat"));
      return FALSE;
    }

  if (sqlite3_changes (self->writer) == 0)
    {
      g_set_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID,
                   _("The chat %s was deleted on all your devices and cannot be restored"),
                   session_id);
      return FALSE;
    }

  return TRUE;
}

/* Records the sync op of a rename or flag change made in the open transaction. */
static gboolean
enqueue_update (HelixStore  *self,
                WriteOp     *op,
                const char  *hlc,
                GError     **error)
{
  g_autoptr(GString) data = g_string_new ("{");

  if (op->kind == WRITE_RENAME_SESSION)
    {
      g_string_append (data, "\"title\":");
      helix_json_append_string (data, op->title);
    }
  else if (op->kind == WRITE_SET_MODEL)
    {
      /* "" is automatic on the wire (PROTOCOL.md, session.put data). */
      g_string_append (data, "\"model\":");
      helix_json_append_string (data, op->model != NULL ? op->model : "");
    }
  else if (op->flag == HELIX_SESSION_FLAG_DELETED)
    {
      if (!op->value)
        return TRUE;
      return _helix_store_enqueue (self, "session.delete", op->session_id, NULL, hlc, NULL, error);
    }
  else
    {
      g_string_append_printf (data, "\"%s\":%s",
                              op->flag == HELIX_SESSION_FLAG_PINNED ? "pinned" : "archived",
                              op->value ? "true" : "false");
    }
  g_string_append_c (data, '}');

  return _helix_store_enqueue (self, "session.put", op->session_id, NULL, hlc, data->str, error);
}

static gboolean
write_update_session (HelixStore  *self,
                      WriteOp     *op,
                      GError     **error)
{
  static const char * const flag_sql[] = {
    [HELIX_SESSION_FLAG_PINNED] =
      "UPDATE sessions SET pinned = ?1, pinned_hlc = ?3, updated_us = max (updated_us, ?2), "
      "hlc = ?3 WHERE uuid = ?4",
    [HELIX_SESSION_FLAG_ARCHIVED] =
      "UPDATE sessions SET archived = ?1, archived_hlc = ?3, updated_us = max (updated_us, ?2), "
      "hlc = ?3 WHERE uuid = ?4",
    [HELIX_SESSION_FLAG_DELETED] =
      "UPDATE sessions SET deleted = ?1, deleted_hlc = CASE WHEN ?1 THEN ?3 END, "
      "updated_us = max (updated_us, ?2), hlc = ?3 WHERE uuid = ?4",
  };
  sqlite3_stmt *stmt;
  g_autofree char *hlc = next_hlc (self);
  int rc;

  if (op->kind == WRITE_SET_FLAG && op->flag == HELIX_SESSION_FLAG_DELETED && !op->value &&
      !undo_delete (self, op->session_id, error))
    return FALSE;

  if (op->kind == WRITE_RENAME_SESSION)
    {
      stmt = helix_db_prepare (self->writer,
                      "UPDATE sessions SET title = ?1, title_hlc = ?3, "
                      "updated_us = max (updated_us, ?2), hlc = ?3 WHERE uuid = ?4",
                      FALSE, error);
      if (stmt != NULL)
        sqlite3_bind_text (stmt, 1, op->title, -1, SQLITE_STATIC);
    }
  else if (op->kind == WRITE_SET_MODEL)
    {
      stmt = helix_db_prepare (self->writer,
                      "UPDATE sessions SET model = ?1, model_hlc = ?3, "
                      "updated_us = max (updated_us, ?2), hlc = ?3 WHERE uuid = ?4",
                      FALSE, error);
      if (stmt != NULL)
        bind_text_or_null (stmt, 1, op->model);
    }
  else
    {
      stmt = helix_db_prepare (self->writer, flag_sql[op->flag], FALSE, error);
      if (stmt != NULL)
        sqlite3_bind_int (stmt, 1, op->value ? 1 : 0);
    }

  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 2, g_get_real_time ());
  sqlite3_bind_text (stmt, 3, hlc, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 4, op->session_id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  sqlite3_finalize (stmt);

  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, self->writer, rc, _("Could not change the chat"));
      return FALSE;
    }

  if (sqlite3_changes (self->writer) == 0)
    {
      g_set_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_NOT_FOUND,
                   _("The chat %s does not exist"), op->session_id);
      return FALSE;
    }

  return enqueue_update (self, op, hlc, error);
}

static gboolean
ensure_append_statements (HelixStore  *self,
                          GError     **error)
{
  if (self->insert_message_stmt != NULL)
    return TRUE;

  self->find_session_stmt =
    helix_db_prepare (self->writer, "SELECT id, n_messages FROM sessions WHERE uuid = ?", TRUE, error);
  if (self->find_session_stmt == NULL)
    return FALSE;

  self->insert_message_stmt =
    helix_db_prepare (self->writer,
             "INSERT INTO messages (uuid, session, position, role, content, created_us, status, "
             "model, provider, tokens_in, tokens_out, cost, metadata, hlc, model_hlc, "
             "provider_hlc, tokens_in_hlc, tokens_out_hlc, cost_hlc, created_hlc) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
             "CASE WHEN ?8 IS NOT NULL THEN ?14 END, CASE WHEN ?9 IS NOT NULL THEN ?14 END, "
             "CASE WHEN ?10 IS NOT NULL THEN ?14 END, CASE WHEN ?11 IS NOT NULL THEN ?14 END, "
             "CASE WHEN ?12 IS NOT NULL THEN ?14 END, ?14)",
             TRUE, error);
  if (self->insert_message_stmt == NULL)
    return FALSE;

  self->bump_session_stmt =
    helix_db_prepare (self->writer,
             "UPDATE sessions SET n_messages = ?, updated_us = max (updated_us, ?) WHERE id = ?",
             TRUE, error);
  if (self->bump_session_stmt == NULL)
    return FALSE;

  return TRUE;
}

/* Indexes every message after the watermark, in the open transaction. See
 * migrations/0002-search.sql for why this is not a trigger. */
static gboolean
index_pending_locked (HelixStore  *self,
                      GError     **error)
{
  gint64 watermark = 0;
  gint64 max_id = 0;
  int rc;

  if (self->index_watermark_stmt == NULL)
    {
      self->index_watermark_stmt =
        helix_db_prepare (self->writer,
                              "SELECT (SELECT CAST (value AS INTEGER) FROM store_meta "
                              "        WHERE key = 'fts-indexed-upto'), "
                              "       (SELECT coalesce (max (id), 0) FROM messages)",
                              TRUE, error);
      self->index_messages_stmt =
        helix_db_prepare (self->writer,
                              "INSERT INTO messages_fts (rowid, content) "
                              "SELECT id, content FROM messages WHERE id > ?1 AND id <= ?2",
                              TRUE, error);
      self->set_watermark_stmt =
        helix_db_prepare (self->writer,
                              "INSERT OR REPLACE INTO store_meta (key, value) "
                              "VALUES ('fts-indexed-upto', ?1)",
                              TRUE, error);
      if (self->index_watermark_stmt == NULL || self->index_messages_stmt == NULL ||
          self->set_watermark_stmt == NULL)
        return FALSE;
    }

  rc = sqlite3_step (self->index_watermark_stmt);
  if (rc == SQLITE_ROW)
    {
      watermark = sqlite3_column_int64 (self->index_watermark_stmt, 0);
      max_id = sqlite3_column_int64 (self->index_watermark_stmt, 1);
      rc = SQLITE_OK;
    }
  sqlite3_reset (self->index_watermark_stmt);

  if (rc == SQLITE_OK && max_id > watermark)
    {
      sqlite3_bind_int64 (self->index_messages_stmt, 1, watermark);
      sqlite3_bind_int64 (self->index_messages_stmt, 2, max_id);
      rc = sqlite3_step (self->index_messages_stmt);
      sqlite3_reset (self->index_messages_stmt);

      if (rc == SQLITE_DONE)
        {
          sqlite3_bind_int64 (self->set_watermark_stmt, 1, max_id);
          rc = sqlite3_step (self->set_watermark_stmt);
          sqlite3_reset (self->set_watermark_stmt);
        }
      if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    }

  if (rc != SQLITE_OK)
    {
      helix_db_set_error (error, self->writer, rc, _("Could not index messages for search"));
      return FALSE;
    }

  return TRUE;
}

/* Inserts @n_messages into the session in the open transaction. When @created is not
 * %NULL it receives a HelixMessage for each row. With @index_now, the messages (and any
 * still waiting) are indexed for search in the same transaction; otherwise they wait
 * for the next batch. */
static gboolean
insert_messages (HelixStore            *self,
                 const char            *session_id,
                 const HelixNewMessage *messages,
                 gsize                  n_messages,
                 GPtrArray             *created,
                 gboolean               index_now,
                 GError               **error)
{
  sqlite3_stmt *stmt;
  gint64 session_rowid;
  gint64 position;
  gint64 now = g_get_real_time ();
  gint64 last_created = 0;
  gint64 last_rowid = 0;
  g_autoptr(GRefString) session_ref = created ? g_ref_string_new (session_id) : NULL;
  int rc;

  if (!ensure_append_statements (self, error))
    return FALSE;

  stmt = self->find_session_stmt;
  sqlite3_bind_text (stmt, 1, session_id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW)
    {
      if (rc == SQLITE_DONE)
        g_set_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_NOT_FOUND,
                     _("The chat %s does not exist"), session_id);
      else
        helix_db_set_error (error, self->writer, rc, _("Could not read the chat"));
      sqlite3_reset (stmt);
      return FALSE;
    }
  session_rowid = sqlite3_column_int64 (stmt, 0);
  position = sqlite3_column_int64 (stmt, 1);
  sqlite3_reset (stmt);

  stmt = self->insert_message_stmt;
  for (gsize i = 0; i < n_messages; i++)
    {
      const HelixNewMessage *m = &messages[i];
      char id[HELIX_UUID_STRING_LEN + 1];
      char hlc[HELIX_HLC_STRING_MAX];
      HelixHlc stamp;
      gint64 created_us = m->created_us > 0 ? m->created_us : now;

      helix_hlc_clock_now (self->clock, &stamp);
      helix_hlc_format (&stamp, hlc);

      if (m->id != NULL)
        memcpy (id, m->id, sizeof id);
      else
        helix_uuid_format_v7 (created_us / 1000, id);

      sqlite3_bind_text (stmt, 1, id, HELIX_UUID_STRING_LEN, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 2, session_rowid);
      sqlite3_bind_int64 (stmt, 3, position);
      sqlite3_bind_text (stmt, 4, helix_message_role_to_string (m->role), -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 5, m->content, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 6, created_us);
      sqlite3_bind_text (stmt, 7, helix_message_status_to_string (m->status), -1, SQLITE_STATIC);
      bind_text_or_null (stmt, 8, m->model);
      bind_text_or_null (stmt, 9, m->provider);
      if (m->tokens_in >= 0)
        sqlite3_bind_int64 (stmt, 10, m->tokens_in);
      else
        sqlite3_bind_null (stmt, 10);
      if (m->tokens_out >= 0)
        sqlite3_bind_int64 (stmt, 11, m->tokens_out);
      else
        sqlite3_bind_null (stmt, 11);
      if (m->cost >= 0)
        sqlite3_bind_double (stmt, 12, m->cost);
      else
        sqlite3_bind_null (stmt, 12);
      bind_text_or_null (stmt, 13, m->metadata);
      sqlite3_bind_text (stmt, 14, hlc, -1, SQLITE_STATIC);

      rc = sqlite3_step (stmt);
      sqlite3_reset (stmt);
      sqlite3_clear_bindings (stmt);

      if (rc != SQLITE_DONE)
        {
          if (rc == SQLITE_CONSTRAINT_UNIQUE)
            g_set_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID,
                         _("A message with the id %s already exists"), id);
          else
            helix_db_set_error (error, self->writer, rc, _("Could not save the message"));
          return FALSE;
        }

      last_rowid = sqlite3_last_insert_rowid (self->writer);

      /* No outbox row: helix_store_outbox_peek() reads a local message's message.put
       * from the message itself, so an import does not write every byte twice. */

      if (created != NULL)
        {
          HelixMessage *message = _helix_message_new ();

          message->rowid = last_rowid;
          message->id = g_strdup (id);
          message->session_id = g_ref_string_acquire (session_ref);
          message->position = (guint64) position;
          message->role = m->role;
          message->content = g_strdup (m->content);
          message->created_us = created_us;
          message->status = m->status;
          message->model = g_strdup (m->model);
          message->provider = g_strdup (m->provider);
          message->tokens_in = m->tokens_in;
          message->tokens_out = m->tokens_out;
          message->cost = m->cost;
          message->metadata = g_strdup (m->metadata);
          message->hlc = g_strdup (hlc);
          g_ptr_array_add (created, message);
        }

      last_created = MAX (last_created, created_us);
      position++;
    }

  if (index_now && !index_pending_locked (self, error))
    return FALSE;

  stmt = self->bump_session_stmt;
  sqlite3_bind_int64 (stmt, 1, position);
  sqlite3_bind_int64 (stmt, 2, last_created);
  sqlite3_bind_int64 (stmt, 3, session_rowid);
  rc = sqlite3_step (stmt);
  sqlite3_reset (stmt);

  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, self->writer, rc, _("Could not save the message"));
      return FALSE;
    }

  return TRUE;
}

static void queue_write (HelixStore          *self,
                         WriteOp             *op,
                         gpointer             source_tag,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data);

/* Indexes the messages appended one by one since the last batch, on the writer thread
 * after the writes already queued. */
static void
queue_index (HelixStore *self)
{
  queue_write (self, write_op_new (WRITE_INDEX), queue_index, NULL, NULL, NULL);
}

/* Runs @op in one transaction on the writer connection. On success op->changed holds
 * the committed objects, the primary result first. */
static gboolean
run_write (HelixStore  *self,
           WriteOp     *op,
           GError     **error)
{
  g_autoptr(HelixSession) session = NULL;
  gboolean schedule_index = FALSE;
  gboolean ok = FALSE;
  int rc;

  g_mutex_lock (&self->writer_mutex);

  if (self->writer == NULL)
    {
      g_set_error_literal (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_CLOSED,
                           _("The store was closed"));
      goto out;
    }

  rc = writer_begin (self);
  if (rc != SQLITE_OK)
    {
      helix_db_set_error (error, self->writer, rc, _("Could not start saving"));
      goto out;
    }

  switch (op->kind)
    {
    case WRITE_CREATE_SESSION:
      ok = write_create_session (self, op, error);
      break;

    case WRITE_RENAME_SESSION:
    case WRITE_SET_FLAG:
    case WRITE_SET_MODEL:
      ok = write_update_session (self, op, error);
      break;

    case WRITE_APPEND_MESSAGE:
      ok = insert_messages (self, op->session_id, &op->message, 1, op->changed, FALSE, error);
      break;

    case WRITE_INDEX:
      ok = index_pending_locked (self, error);
      break;

    default:
      g_assert_not_reached ();
    }

  if (ok && op->session_id != NULL)
    ok = (session = _helix_store_load_session (self, self->writer, op->session_id, error)) != NULL;

  if (ok)
    {
      rc = writer_commit (self);
      if (rc != SQLITE_OK)
        {
          helix_db_set_error (error, self->writer, rc, _("Could not save"));
          ok = FALSE;
        }
    }

  if (!ok)
    {
      writer_rollback (self);
      g_ptr_array_set_size (op->changed, 0);
    }
  else if (op->kind == WRITE_INDEX)
    {
      self->n_unindexed = 0;
    }
  else
    {
      g_ptr_array_add (op->changed, g_steal_pointer (&session));
      if (op->kind == WRITE_APPEND_MESSAGE && ++self->n_unindexed % INDEX_BATCH == 0)
        schedule_index = TRUE;
    }

out:
  g_mutex_unlock (&self->writer_mutex);

  if (schedule_index)
    queue_index (self);

  return ok;
}

/**
 * _helix_store_flush_index:
 *
 * Indexes every message not yet in the search index, now, on the calling thread.
 * Searches call it first, so that they find the message sent a moment ago.
 */
gboolean
_helix_store_flush_index (HelixStore  *self,
                          GError     **error)
{
  g_autoptr(WriteOp) op = write_op_new (WRITE_INDEX);

  if (!_helix_store_check_open (self, error))
    return FALSE;

  return run_write (self, op, error);
}

static gpointer
run_write_sync (HelixStore  *self,
                WriteOp     *op,
                GError     **error)
{
  if (!_helix_store_check_open (self, error) || !run_write (self, op, error))
    return NULL;

  _helix_store_emit_changes (self, op->changed);

  return g_object_ref (g_ptr_array_index (op->changed, 0));
}

static void
write_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  HelixStore *self = source_object;
  WriteOp *op = task_data;
  GError *error = NULL;

  if (run_write (self, op, &error))
    {
      if (op->changed->len == 0)
        {
          g_task_return_pointer (task, NULL, NULL);
          return;
        }
      _helix_store_emit_changes (self, op->changed);
      g_task_return_pointer (task, g_object_ref (g_ptr_array_index (op->changed, 0)), g_object_unref);
    }
  else
    {
      g_task_return_error (task, error);
    }
}

/* The writer thread: runs queued writes one at a time, in the order they were queued. */
void
_helix_store_write_pool_func (gpointer data,
                              gpointer user_data)
{
  GTask *task = data;

  write_thread (task, g_task_get_source_object (task), g_task_get_task_data (task),
                g_task_get_cancellable (task));

  /* Dropping the task may drop the last reference to the store, which then closes
   * itself on this thread: see helix_store_close(). */
  g_private_set (&_helix_store_in_writer_thread, GINT_TO_POINTER (TRUE));
  g_object_unref (task);
  g_private_set (&_helix_store_in_writer_thread, NULL);
}

/* Queues @op on the writer thread. The signals are emitted before @callback runs,
 * both in the store's main context. */
static void
queue_write (HelixStore          *self,
             WriteOp             *op,
             gpointer             source_tag,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GError) error = NULL;

  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, op, (GDestroyNotify) write_op_free);
  /* Once queued, a write is not abandoned: the caller may already show it. */
  g_task_set_check_cancellable (task, FALSE);

  if (!_helix_store_check_open (self, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* helix_store_close() takes the pool away before it marks the store closed. */
  if (self->write_pool == NULL)
    {
      g_task_return_new_error (task, HELIX_STORE_ERROR, HELIX_STORE_ERROR_CLOSED,
                               "%s", _("The store was closed"));
      return;
    }

  if (!g_thread_pool_push (self->write_pool, g_object_ref (task), &error))
    {
      g_object_unref (task);
      g_task_return_error (task, g_steal_pointer (&error));
    }
}

static gpointer
finish_write (HelixStore    *self,
              GAsyncResult  *result,
              GError       **error)
{
  g_return_val_if_fail (HELIX_IS_STORE (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static char *
normalize_title (const char *title)
{
  g_autofree char *stripped = g_strstrip (g_strdup (title ? title : ""));

  /* A title is one line. */
  g_strdelimit (stripped, "\r\n\t", ' ');

  return g_steal_pointer (&stripped);
}

/**
 * helix_store_create_session:
 * @self: a #HelixStore
 * @title: (nullable): the title; %NULL or empty for an untitled chat
 * @error: a location for a #GError
 *
 * Creates a session and commits it.
 *
 * Returns: (transfer full): the new session
 */
HelixSession *
helix_store_create_session (HelixStore  *self,
                            const char  *title,
                            GError     **error)
{
  g_autoptr(WriteOp) op = write_op_new (WRITE_CREATE_SESSION);

  g_return_val_if_fail (HELIX_IS_STORE (self), NULL);

  op->title = normalize_title (title);
  if (!_helix_store_check_text (op->title, HELIX_STORE_TITLE_MAX_BYTES, _("title"), error))
    return NULL;

  return run_write_sync (self, op, error);
}

void
helix_store_create_session_async (HelixStore          *self,
                                  const char          *title,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(WriteOp) op = write_op_new (WRITE_CREATE_SESSION);
  g_autoptr(GError) error = NULL;

  g_return_if_fail (HELIX_IS_STORE (self));

  op->title = normalize_title (title);
  if (!_helix_store_check_text (op->title, HELIX_STORE_TITLE_MAX_BYTES, _("title"), &error))
    {
      g_task_report_error (self, callback, user_data, helix_store_create_session_async,
                           g_steal_pointer (&error));
      return;
    }

  queue_write (self, g_steal_pointer (&op), helix_store_create_session_async,
               cancellable, callback, user_data);
}

HelixSession *
helix_store_create_session_finish (HelixStore    *self,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  return finish_write (self, result, error);
}

static WriteOp *
rename_op_new (const char  *session_id,
               const char  *title,
               GError     **error)
{
  g_autoptr(WriteOp) op = write_op_new (WRITE_RENAME_SESSION);

  if (!_helix_store_check_id (session_id, _("chat"), error))
    return NULL;

  op->session_id = g_strdup (session_id);
  op->title = normalize_title (title);
  if (!_helix_store_check_text (op->title, HELIX_STORE_TITLE_MAX_BYTES, _("title"), error))
    return NULL;

  return g_steal_pointer (&op);
}

/**
 * helix_store_rename_session:
 *
 * Returns: (transfer full): the session after the change
 */
HelixSession *
helix_store_rename_session (HelixStore  *self,
                            const char  *session_id,
                            const char  *title,
                            GError     **error)
{
  g_autoptr(WriteOp) op = NULL;

  g_return_val_if_fail (HELIX_IS_STORE (self), NULL);

  if (!(op = rename_op_new (session_id, title, error)))
    return NULL;

  return run_write_sync (self, op, error);
}

/* Queues @op, a change of a session, for the writer thread; finished with
 * helix_store_update_session_finish(). %NULL: it could not be made, and
 * @error (taken) says why. */
static void
queue_session_update (HelixStore          *self,
                      WriteOp             *op,
                      GError              *error,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  if (op == NULL)
    {
      g_task_report_error (self, callback, user_data, helix_store_update_session_finish, error);
      return;
    }

  queue_write (self, op, helix_store_update_session_finish, cancellable, callback, user_data);
}

/**
 * helix_store_rename_session_async:
 *
 * Renames a session; finish with helix_store_update_session_finish().
 */
void
helix_store_rename_session_async (HelixStore          *self,
                                  const char          *session_id,
                                  const char          *title,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  GError *error = NULL;
  WriteOp *op;

  g_return_if_fail (HELIX_IS_STORE (self));

  op = rename_op_new (session_id, title, &error);
  queue_session_update (self, op, error, cancellable, callback, user_data);
}

static WriteOp *
flag_op_new (const char        *session_id,
             HelixSessionFlag   flag,
             gboolean           value,
             GError           **error)
{
  WriteOp *op;

  if (!_helix_store_check_id (session_id, _("chat"), error))
    return NULL;

  if ((guint) flag > HELIX_SESSION_FLAG_DELETED)
    {
      g_set_error_literal (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID,
                           _("Unknown chat flag"));
      return NULL;
    }

  op = write_op_new (WRITE_SET_FLAG);
  op->session_id = g_strdup (session_id);
  op->flag = flag;
  op->value = !!value;

  return op;
}

/**
 * helix_store_set_session_flag:
 *
 * Pins, archives or deletes a session (or undoes it). Deleting leaves a tombstone, so
 * that the deletion can be undone and can reach other devices.
 *
 * Returns: (transfer full): the session after the change
 */
HelixSession *
helix_store_set_session_flag (HelixStore        *self,
                              const char        *session_id,
                              HelixSessionFlag   flag,
                              gboolean           value,
                              GError           **error)
{
  g_autoptr(WriteOp) op = NULL;

  g_return_val_if_fail (HELIX_IS_STORE (self), NULL);

  if (!(op = flag_op_new (session_id, flag, value, error)))
    return NULL;

  return run_write_sync (self, op, error);
}

void
helix_store_set_session_flag_async (HelixStore          *self,
                                    const char          *session_id,
                                    HelixSessionFlag     flag,
                                    gboolean             value,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  GError *error = NULL;
  WriteOp *op;

  g_return_if_fail (HELIX_IS_STORE (self));

  op = flag_op_new (session_id, flag, value, &error);
  queue_session_update (self, op, error, cancellable, callback, user_data);
}

static WriteOp *
model_op_new (const char  *session_id,
              const char  *model,
              GError     **error)
{
  WriteOp *op;

  if (!_helix_store_check_id (session_id, _("chat"), error))
    return NULL;

  if (model != NULL && model[0] == '\0')
    model = NULL;
  if (model != NULL &&
      !_helix_store_check_text (model, HELIX_STORE_MODEL_MAX_BYTES, _("model"), error))
    return NULL;

  op = write_op_new (WRITE_SET_MODEL);
  op->session_id = g_strdup (session_id);
  op->model = g_strdup (model);

  return op;
}

/**
 * helix_store_set_session_model:
 * @self: a #HelixStore
 * @session_id: the session
 * @model: (nullable): the model every answer of the session asks for, at most
 *   %HELIX_STORE_MODEL_MAX_BYTES; %NULL or "" for automatic (the router chooses)
 * @error: a location for a #GError
 *
 * Pins a model for a session, or goes back to automatic. The change syncs like the
 * other fields of the session.
 *
 * Returns: (transfer full): the session after the change
 */
HelixSession *
helix_store_set_session_model (HelixStore  *self,
                               const char  *session_id,
                               const char  *model,
                               GError     **error)
{
  g_autoptr(WriteOp) op = NULL;

  g_return_val_if_fail (HELIX_IS_STORE (self), NULL);

  if (!(op = model_op_new (session_id, model, error)))
    return NULL;

  return run_write_sync (self, op, error);
}

/**
 * helix_store_set_session_model_async:
 *
 * Like helix_store_set_session_model(), on the writer thread; finish with
 * helix_store_update_session_finish().
 */
void
helix_store_set_session_model_async (HelixStore          *self,
                                     const char          *session_id,
                                     const char          *model,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  GError *error = NULL;
  WriteOp *op;

  g_return_if_fail (HELIX_IS_STORE (self));

  op = model_op_new (session_id, model, &error);
  queue_session_update (self, op, error, cancellable, callback, user_data);
}

/**
 * helix_store_update_session_finish:
 *
 * Finishes helix_store_rename_session_async(), helix_store_set_session_flag_async()
 * and helix_store_set_session_model_async().
 *
 * Returns: (transfer full): the session after the change
 */
HelixSession *
helix_store_update_session_finish (HelixStore    *self,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  return finish_write (self, result, error);
}

/**
 * helix_store_append_message:
 * @self: a #HelixStore
 * @session_id: the session
 * @message: what to append
 * @error: a location for a #GError
 *
 * Appends a message and commits it durably before returning.
 *
 * Returns: (transfer full): the stored message
 */
HelixMessage *
helix_store_append_message (HelixStore             *self,
                            const char             *session_id,
                            const HelixNewMessage  *message,
                            GError                **error)
{
  g_autoptr(WriteOp) op = NULL;

  g_return_val_if_fail (HELIX_IS_STORE (self), NULL);
  g_return_val_if_fail (message != NULL, NULL);

  if (!_helix_store_check_id (session_id, _("chat"), error) || !validate_new_message (message, error))
    return NULL;

  op = append_op_new (session_id, message);

  return run_write_sync (self, op, error);
}

void
helix_store_append_message_async (HelixStore            *self,
                                  const char            *session_id,
                                  const HelixNewMessage *message,
                                  GCancellable          *cancellable,
                                  GAsyncReadyCallback    callback,
                                  gpointer               user_data)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (HELIX_IS_STORE (self));
  g_return_if_fail (message != NULL);

  if (!_helix_store_check_id (session_id, _("chat"), &error) || !validate_new_message (message, &error))
    {
      g_task_report_error (self, callback, user_data, helix_store_append_message_async,
                           g_steal_pointer (&error));
      return;
    }

  queue_write (self, append_op_new (session_id, message), helix_store_append_message_async,
               cancellable, callback, user_data);
}

HelixMessage *
helix_store_append_message_finish (HelixStore    *self,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  return finish_write (self, result, error);
}

/**
 * helix_store_import_messages:
 * @self: a #HelixStore
 * @session_id: the session
 * @messages: (array length=n_messages): what to append, in order
 * @n_messages: how many
 * @error: a location for a #GError
 *
 * Appends many messages in one transaction: all of them or none. For imports and
 * restores; it emits no per-message signals (one session-changed at the end).
 */
gboolean
helix_store_import_messages (HelixStore             *self,
                             const char             *session_id,
                             const HelixNewMessage  *messages,
                             gsize                   n_messages,
                             GError                **error)
{
  g_autoptr(GPtrArray) changed = NULL;
  HelixSession *session;
  gboolean ok;
  int rc;

  g_return_val_if_fail (HELIX_IS_STORE (self), FALSE);
  g_return_val_if_fail (messages != NULL || n_messages == 0, FALSE);

  if (!_helix_store_check_open (self, error) || !_helix_store_check_id (session_id, _("chat"), error))
    return FALSE;

  for (gsize i = 0; i < n_messages; i++)
    {
      if (!validate_new_message (&messages[i], error))
        {
          g_prefix_error (error, _("Message %lu: "), (gulong) (i + 1));
          return FALSE;
        }
    }

  g_mutex_lock (&self->writer_mutex);

  rc = writer_begin (self);
  ok = rc == SQLITE_OK;
  if (!ok)
    helix_db_set_error (error, self->writer, rc, _("Could not start the import"));

  ok = ok && insert_messages (self, session_id, messages, n_messages, NULL, TRUE, error);
  session = ok ? _helix_store_load_session (self, self->writer, session_id, error) : NULL;
  ok = session != NULL;

  if (ok && (rc = writer_commit (self)) != SQLITE_OK)
    {
      helix_db_set_error (error, self->writer, rc, _("Could not finish the import"));
      ok = FALSE;
    }
  if (!ok)
    writer_rollback (self);
  else
    self->n_unindexed = 0;

  g_mutex_unlock (&self->writer_mutex);

  if (!ok)
    {
      g_clear_object (&session);
      return FALSE;
    }

  changed = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (changed, session);
  _helix_store_emit_changes (self, changed);

  return TRUE;
}
