/* helix-store-sync.c: the store's outbox, sync cursor and remote ops
 *
 * Every local write records its sync op in `outbox` in its own transaction (see
 * helix-store-write.c); the ops stay there until the gateway acknowledges them.
 * helix_store_apply_remote() applies a batch of ops from other devices in one
 * transaction together with the cursor, with the rules the gateway uses
 * (src/sync/PROTOCOL.md section 7, src/gateway/helix-gateway-sync.c):
 *
 * - session fields are last-writer-wins, each by its own HLC (ties by device);
 * - `session.delete` leaves a tombstone that no later op undoes. The local row keeps
 *   its fields, hidden, so that the visible state does not depend on arrival order;
 * - messages are append-only: the first `message.put` fixes session and role and gets
 *   the next position of its session; later ones replace content and status by the
 *   message HLC and the optional members each by its own HLC;
 * - a message whose session is not known yet creates an untitled session row, which
 *   the session's `session.put` fills in when it arrives.
 *
 * Remote ops never enter the outbox.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-store"

#include "config.h"

#include <glib/gi18n.h>
#include <math.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "helix-db.h"
#include "helix-lww.h"
#include "helix-json.h"
#include "helix-store-private.h"
#include "helix-uuid.h"

G_DEFINE_BOXED_TYPE (HelixOutboxEntry, helix_outbox_entry,
                     helix_outbox_entry_copy, helix_outbox_entry_free)

HelixOutboxEntry *
helix_outbox_entry_copy (const HelixOutboxEntry *entry)
{
  HelixOutboxEntry *copy;

  g_return_val_if_fail (entry != NULL, NULL);

  copy = g_new0 (HelixOutboxEntry, 1);
  copy->op_id = g_strdup (entry->op_id);
  copy->kind = g_strdup (entry->kind);
  copy->entity = g_strdup (entry->entity);
  copy->session_id = g_strdup (entry->session_id);
  copy->hlc = g_strdup (entry->hlc);
  copy->data = g_strdup (entry->data);

  return copy;
}

void
helix_outbox_entry_free (HelixOutboxEntry *entry)
{
  if (entry == NULL)
    return;

  g_free (entry->op_id);
  g_free (entry->kind);
  g_free (entry->entity);
  g_free (entry->session_id);
  g_free (entry->hlc);
  g_free (entry->data);
  g_free (entry);
}

/* Outbox {{{1 */

/* The data of a message.put op, from the message's row: columns @first … @first + 8 of
 * @stmt are role, status, content, created_us, model, provider, tokens_in, tokens_out
 * and cost. Members over the protocol's limits stay local. */
static char *
message_put_data (sqlite3_stmt *stmt,
                  int           first)
{
  const char *content = (const char *) sqlite3_column_text (stmt, first + 2);
  const char *model = (const char *) sqlite3_column_text (stmt, first + 4);
  const char *provider = (const char *) sqlite3_column_text (stmt, first + 5);
  g_autoptr(GString) data = g_string_sized_new ((content ? strlen (content) : 0) + 128);
  char number[G_ASCII_DTOSTR_BUF_SIZE];

  g_string_append_printf (data, "{\"created_us\":%" G_GINT64_FORMAT ",\"role\":\"%s\","
                          "\"status\":\"%s\",\"content\":",
                          (gint64) sqlite3_column_int64 (stmt, first + 3),
                          (const char *) sqlite3_column_text (stmt, first + 0),
                          (const char *) sqlite3_column_text (stmt, first + 1));
  helix_json_append_string (data, content);
  if (model != NULL && strlen (model) <= HELIX_STORE_SYNC_NAME_MAX_BYTES)
    {
      g_string_append (data, ",\"model\":");
      helix_json_append_string (data, model);
    }
  if (provider != NULL && strlen (provider) <= HELIX_STORE_SYNC_NAME_MAX_BYTES)
    {
      g_string_append (data, ",\"provider\":");
      helix_json_append_string (data, provider);
    }
  if (sqlite3_column_type (stmt, first + 6) != SQLITE_NULL)
    g_string_append_printf (data, ",\"tokens_in\":%" G_GINT64_FORMAT,
                            (gint64) sqlite3_column_int64 (stmt, first + 6));
  if (sqlite3_column_type (stmt, first + 7) != SQLITE_NULL)
    g_string_append_printf (data, ",\"tokens_out\":%" G_GINT64_FORMAT,
                            (gint64) sqlite3_column_int64 (stmt, first + 7));
  if (sqlite3_column_type (stmt, first + 8) != SQLITE_NULL)
    {
      double cost = sqlite3_column_double (stmt, first + 8);

      if (cost >= 0 && isfinite (cost))
        {
          g_ascii_formatd (number, sizeof number, "%.17g", cost);
          g_string_append_printf (data, ",\"cost\":%s", number);
        }
    }
  g_string_append_c (data, '}');

  return g_string_free (g_steal_pointer (&data), FALSE);
}

/* Records one local session op in the outbox, in the writer's open transaction. (Local
 * messages need no row here: helix_store_outbox_peek() reads them from the messages.) */
gboolean
_helix_store_enqueue (HelixStore  *self,
                      const char  *kind,
                      const char  *entity,
                      const char  *session_id,
                      const char  *hlc,
                      const char  *data,
                      GError     **error)
{
  char op_id[HELIX_UUID_STRING_LEN + 1];
  sqlite3_stmt *stmt;
  int rc;

  if (self->outbox_insert_stmt == NULL)
    {
      self->outbox_insert_stmt =
        helix_db_prepare (self->writer,
                          "INSERT INTO outbox (op, kind, entity, session, hlc, data) "
                          "VALUES (?, ?, ?, ?, ?, ?)", TRUE, error);
      if (self->outbox_insert_stmt == NULL)
        return FALSE;
    }

  helix_uuid_format_v7 (g_get_real_time () / 1000, op_id);

  stmt = self->outbox_insert_stmt;
  sqlite3_bind_text (stmt, 1, op_id, HELIX_UUID_STRING_LEN, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, kind, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, entity, -1, SQLITE_STATIC);
  if (session_id != NULL)
    sqlite3_bind_text (stmt, 4, session_id, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null (stmt, 4);
  sqlite3_bind_text (stmt, 5, hlc, -1, SQLITE_STATIC);
  if (data != NULL)
    sqlite3_bind_text (stmt, 6, data, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null (stmt, 6);
  rc = sqlite3_step (stmt);
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);

  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, self->writer, rc, _("Could not record the change for sync"));
      return FALSE;
    }

  return TRUE;
}

static char *
dup_column (sqlite3_stmt *stmt,
            int           column)
{
  return g_strdup ((const char *) sqlite3_column_text (stmt, column));
}

static gboolean
lock_writer (HelixStore  *self,
             GError     **error)
{
  if (!_helix_store_check_open (self, error))
    return FALSE;

  g_mutex_lock (&self->writer_mutex);
  if (self->writer == NULL)
    {
      g_mutex_unlock (&self->writer_mutex);
      g_set_error_literal (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_CLOSED,
                           _("The store was closed"));
      return FALSE;
    }

  return TRUE;
}

/**
 * helix_store_outbox_peek:
 * @self: a #HelixStore
 * @limit: the most entries to return
 * @error: a location for a #GError
 *
 * Reads the oldest local changes the gateway has not acknowledged yet, in the order
 * they were made. They stay in the outbox until helix_store_outbox_ack().
 *
 * Returns: (transfer container) (element-type HelixOutboxEntry): the entries
 */
static int
compare_entries_by_hlc (gconstpointer a,
                        gconstpointer b)
{
  const HelixOutboxEntry *x = *(HelixOutboxEntry * const *) a;
  const HelixOutboxEntry *y = *(HelixOutboxEntry * const *) b;
  HelixHlc hx, hy;

  if (!helix_hlc_parse (x->hlc, &hx, NULL) || !helix_hlc_parse (y->hlc, &hy, NULL))
    return g_strcmp0 (x->hlc, y->hlc);

  return helix_hlc_compare (&hx, &hy);
}

GPtrArray *
helix_store_outbox_peek (HelixStore  *self,
                         guint        limit,
                         GError     **error)
{
  g_autoptr(GPtrArray) entries = NULL;
  sqlite3_stmt *stmt;
  int rc;

  g_return_val_if_fail (HELIX_IS_STORE (self), NULL);

  if (!lock_writer (self, error))
    return NULL;

  entries = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_outbox_entry_free);

  /* Session ops, from the outbox. */
  stmt = helix_db_prepare (self->writer,
                           "SELECT op, kind, entity, session, hlc, data FROM outbox "
                           "ORDER BY id LIMIT ?", FALSE, error);
  if (stmt == NULL)
    {
      g_mutex_unlock (&self->writer_mutex);
      return NULL;
    }
  sqlite3_bind_int64 (stmt, 1, limit);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      HelixOutboxEntry *entry = g_new0 (HelixOutboxEntry, 1);

      entry->op_id = dup_column (stmt, 0);
      entry->kind = dup_column (stmt, 1);
      entry->entity = dup_column (stmt, 2);
      entry->session_id = dup_column (stmt, 3);
      entry->hlc = dup_column (stmt, 4);
      entry->data = dup_column (stmt, 5);
      g_ptr_array_add (entries, entry);
    }
  sqlite3_finalize (stmt);

  /* Local messages not yet acknowledged, read from the messages themselves; a
   * message's op id is its own id, so a re-sent one is recognised as the same op. */
  if (rc == SQLITE_DONE)
    {
      stmt = helix_db_prepare (self->writer,
                               "SELECT m.uuid, s.uuid, m.hlc, m.role, m.status, m.content, "
                               "       m.created_us, m.model, m.provider, m.tokens_in, "
                               "       m.tokens_out, m.cost "
                               "FROM messages m JOIN sessions s ON s.id = m.session "
                               "WHERE m.id > (SELECT CAST (value AS INTEGER) FROM store_meta "
                               "              WHERE key = 'push-acked-upto') "
                               "  AND m.remote = 0 "
                               "ORDER BY m.id LIMIT ?", FALSE, error);
      if (stmt == NULL)
        {
          g_mutex_unlock (&self->writer_mutex);
          return NULL;
        }
      sqlite3_bind_int64 (stmt, 1, limit);
      while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        {
          HelixOutboxEntry *entry = g_new0 (HelixOutboxEntry, 1);

          entry->op_id = dup_column (stmt, 0);
          entry->kind = g_strdup ("message.put");
          entry->entity = dup_column (stmt, 0);
          entry->session_id = dup_column (stmt, 1);
          entry->hlc = dup_column (stmt, 2);
          entry->data = message_put_data (stmt, 3);
          g_ptr_array_add (entries, entry);
        }
      sqlite3_finalize (stmt);
    }

  if (rc != SQLITE_DONE)
    helix_db_set_error (error, self->writer, rc, _("Could not read the changes waiting for sync"));

  g_mutex_unlock (&self->writer_mutex);

  if (rc != SQLITE_DONE)
    return NULL;

  /* One clock stamped both kinds: its order is the order the changes were made in. */
  g_ptr_array_sort (entries, compare_entries_by_hlc);
  if (entries->len > limit)
    g_ptr_array_set_size (entries, limit);

  return g_steal_pointer (&entries);
}

static gint64
read_cursor_locked (HelixStore  *self,
                    gboolean    *ok,
                    GError     **error)
{
  sqlite3_stmt *stmt;
  gint64 cursor = 0;
  int rc;

  *ok = FALSE;
  stmt = helix_db_prepare (self->writer,
                           "SELECT CAST (value AS INTEGER) FROM store_meta "
                           "WHERE key = 'sync-cursor'",
                           FALSE, error);
  if (stmt == NULL)
    return 0;

  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    cursor = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);

  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      helix_db_set_error (error, self->writer, rc, _("Could not read the sync position"));
      return 0;
    }

  *ok = TRUE;
  return cursor;
}

/* Moves the cursor forward to @cursor (never back), in the open transaction. */
static gboolean
advance_cursor_locked (HelixStore  *self,
                       gint64       cursor,
                       GError     **error)
{
  sqlite3_stmt *stmt;
  int rc;

  stmt = helix_db_prepare (self->writer,
                           "INSERT INTO store_meta (key, value) VALUES ('sync-cursor', ?1) "
                           "ON CONFLICT (key) DO UPDATE SET value = "
                           "  max (CAST (value AS INTEGER), ?1)", FALSE, error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, cursor);
  rc = sqlite3_step (stmt);
  sqlite3_finalize (stmt);

  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, self->writer, rc, _("Could not save the sync position"));
      return FALSE;
    }

  return TRUE;
}

/**
 * helix_store_get_sync_cursor:
 * @self: a #HelixStore
 * @error: a location for a #GError
 *
 * Returns: the highest gateway seq this store has applied (0: none), or -1 with @error
 */
gint64
helix_store_get_sync_cursor (HelixStore  *self,
                             GError     **error)
{
  gboolean ok;
  gint64 cursor;

  g_return_val_if_fail (HELIX_IS_STORE (self), -1);

  if (!lock_writer (self, error))
    return -1;

  cursor = read_cursor_locked (self, &ok, error);
  g_mutex_unlock (&self->writer_mutex);

  return ok ? cursor : -1;
}

/* Commits, or rolls back when @ok is %FALSE or the commit fails. */
static gboolean
finish_transaction_locked (HelixStore  *self,
                           gboolean     ok,
                           GError     **error)
{
  int rc;

  if (ok && (rc = _helix_store_writer_commit (self)) != SQLITE_OK)
    {
      helix_db_set_error (error, self->writer, rc, _("Could not save"));
      ok = FALSE;
    }
  if (!ok)
    _helix_store_writer_rollback (self);

  return ok;
}

/**
 * helix_store_outbox_count:
 * @self: a #HelixStore
 * @error: a location for a #GError
 *
 * Counts the local changes the gateway has not acknowledged yet: what a sync status
 * shows as “syncing N”.
 *
 * Returns: the number of changes waiting, or -1 with @error
 */
gint64
helix_store_outbox_count (HelixStore  *self,
                          GError     **error)
{
  sqlite3_stmt *stmt;
  gint64 count = -1;
  int rc;

  g_return_val_if_fail (HELIX_IS_STORE (self), -1);

  if (!lock_writer (self, error))
    return -1;

  stmt = helix_db_prepare (self->writer,
                           "SELECT (SELECT count(*) FROM outbox) + "
                           "       (SELECT count(*) FROM messages "
                           "        WHERE id > (SELECT CAST (value AS INTEGER) FROM store_meta "
                           "                    WHERE key = 'push-acked-upto') "
                           "          AND remote = 0)", FALSE, error);
  if (stmt != NULL)
    {
      rc = sqlite3_step (stmt);
      if (rc == SQLITE_ROW)
        count = sqlite3_column_int64 (stmt, 0);
      else
        helix_db_set_error (error, self->writer, rc, _("Could not read the changes waiting for sync"));
      sqlite3_finalize (stmt);
    }
  g_mutex_unlock (&self->writer_mutex);

  return count;
}

/**
 * helix_store_reset_sync_cursor:
 * @self: a #HelixStore
 * @error: a location for a #GError
 *
 * Sets the sync cursor back to 0, so that the next connection asks the gateway for
 * its whole history. For a gateway that lost history (PROTOCOL.md section 6):
 * re-applying ops the store already has changes nothing.
 *
 * Returns: %TRUE once saved
 */
gboolean
helix_store_reset_sync_cursor (HelixStore  *self,
                               GError     **error)
{
  gboolean ok;

  g_return_val_if_fail (HELIX_IS_STORE (self), FALSE);

  if (!lock_writer (self, error))
    return FALSE;

  ok = helix_db_exec (self->writer,
                      "UPDATE store_meta SET value = '0' WHERE key = 'sync-cursor'",
                      _("Could not save the sync position"), error);
  g_mutex_unlock (&self->writer_mutex);

  return ok;
}

/**
 * helix_store_check_sync_identity:
 * @self: a #HelixStore
 * @identity: which account on which gateway this store syncs with, such as
 *   `https://helix.example.org alice`
 * @changed: (out): set to %TRUE when the store synced with another one before
 * @error: a location for a #GError
 *
 * Remembers whom the store syncs with. A store that synced with another gateway or
 * account before has its cursor set back to 0 in the same transaction: cursors of one
 * gateway mean nothing to another. Changes already acknowledged by the old one are not
 * pushed again.
 *
 * Returns: %TRUE once checked and saved
 */
gboolean
helix_store_check_sync_identity (HelixStore  *self,
                                 const char  *identity,
                                 gboolean    *changed,
                                 GError     **error)
{
  g_autofree char *stored = NULL;
  sqlite3_stmt *stmt;
  gboolean ok;
  int rc;

  g_return_val_if_fail (HELIX_IS_STORE (self), FALSE);
  g_return_val_if_fail (identity != NULL, FALSE);
  g_return_val_if_fail (changed != NULL, FALSE);

  *changed = FALSE;
  if (!lock_writer (self, error))
    return FALSE;

  rc = _helix_store_writer_begin (self);
  ok = rc == SQLITE_OK;
  if (!ok)
    helix_db_set_error (error, self->writer, rc, _("Could not start saving"));

  if (ok && (ok = (stmt = helix_db_prepare (self->writer,
                                            "SELECT value FROM store_meta WHERE key = 'sync-identity'",
                                            FALSE, error)) != NULL))
    {
      rc = sqlite3_step (stmt);
      if (rc == SQLITE_ROW)
        stored = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
      sqlite3_finalize (stmt);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        {
          helix_db_set_error (error, self->writer, rc, _("Could not read the sync position"));
          ok = FALSE;
        }
    }

  if (ok && g_strcmp0 (stored, identity) != 0)
    {
      *changed = stored != NULL;
      ok = (stmt = helix_db_prepare (self->writer,
                                     "INSERT OR REPLACE INTO store_meta (key, value) "
                                     "VALUES ('sync-identity', ?)", FALSE, error)) != NULL;
      if (ok)
        {
          sqlite3_bind_text (stmt, 1, identity, -1, SQLITE_STATIC);
          rc = sqlite3_step (stmt);
          sqlite3_finalize (stmt);
          if (rc != SQLITE_DONE)
            {
              helix_db_set_error (error, self->writer, rc, _("Could not save the sync position"));
              ok = FALSE;
            }
        }
      if (ok && *changed)
        ok = helix_db_exec (self->writer,
                            "UPDATE store_meta SET value = '0' WHERE key = 'sync-cursor'",
                            _("Could not save the sync position"), error);
    }

  ok = finish_transaction_locked (self, ok, error);
  g_mutex_unlock (&self->writer_mutex);
  if (!ok)
    *changed = FALSE;

  return ok;
}


/**
 * helix_store_outbox_ack:
 * @self: a #HelixStore
 * @op_ids: (array zero-terminated=1): the ops the gateway acknowledged
 * @new_cursor: the highest seq of the `ack`, or 0 to leave the cursor alone
 * @error: a location for a #GError
 *
 * Removes acknowledged ops from the outbox and moves the cursor forward, in one
 * transaction. Unknown op ids are ignored: an ack may come twice.
 */
gboolean
helix_store_outbox_ack (HelixStore         *self,
                        const char * const *op_ids,
                        gint64              new_cursor,
                        GError            **error)
{
  sqlite3_stmt *stmt = NULL;
  sqlite3_stmt *find_stmt = NULL;
  gint64 acked_message = 0;
  gboolean ok;
  int rc;

  g_return_val_if_fail (HELIX_IS_STORE (self), FALSE);
  g_return_val_if_fail (op_ids != NULL, FALSE);

  if (!lock_writer (self, error))
    return FALSE;

  rc = _helix_store_writer_begin (self);
  ok = rc == SQLITE_OK;
  if (!ok)
    helix_db_set_error (error, self->writer, rc, _("Could not start saving"));

  if (ok)
    ok = (stmt = helix_db_prepare (self->writer, "DELETE FROM outbox WHERE op = ?", FALSE,
                                   error)) != NULL;

  if (ok)
    ok = (find_stmt = helix_db_prepare (self->writer,
                                        "SELECT id FROM messages WHERE uuid = ? AND remote = 0",
                                        FALSE, error)) != NULL;

  for (guint i = 0; ok && op_ids[i] != NULL; i++)
    {
      sqlite3_bind_text (stmt, 1, op_ids[i], -1, SQLITE_STATIC);
      rc = sqlite3_step (stmt);
      sqlite3_reset (stmt);
      if (rc == SQLITE_DONE && sqlite3_changes (self->writer) == 0)
        {
          /* Not a session op: a local message, acknowledged up to its rowid. Pushes go
           * out in rowid order, so an ack covers every message before it. */
          sqlite3_bind_text (find_stmt, 1, op_ids[i], -1, SQLITE_STATIC);
          rc = sqlite3_step (find_stmt);
          if (rc == SQLITE_ROW)
            {
              acked_message = MAX (acked_message, sqlite3_column_int64 (find_stmt, 0));
              rc = SQLITE_DONE;
            }
          sqlite3_reset (find_stmt);
        }
      if (rc != SQLITE_DONE)
        {
          helix_db_set_error (error, self->writer, rc, _("Could not remove a synced change"));
          ok = FALSE;
        }
    }
  g_clear_pointer (&stmt, sqlite3_finalize);
  g_clear_pointer (&find_stmt, sqlite3_finalize);

  if (ok && acked_message > 0)
    {
      ok = (stmt = helix_db_prepare (self->writer,
                                     "UPDATE store_meta SET value = max (CAST (value AS INTEGER), ?) "
                                     "WHERE key = 'push-acked-upto'", FALSE, error)) != NULL;
      if (ok)
        {
          sqlite3_bind_int64 (stmt, 1, acked_message);
          rc = sqlite3_step (stmt);
          if (rc != SQLITE_DONE)
            {
              helix_db_set_error (error, self->writer, rc, _("Could not remove a synced change"));
              ok = FALSE;
            }
        }
      g_clear_pointer (&stmt, sqlite3_finalize);
    }

  if (ok && new_cursor > 0)
    ok = advance_cursor_locked (self, new_cursor, error);

  ok = finish_transaction_locked (self, ok, error);
  g_mutex_unlock (&self->writer_mutex);

  return ok;
}

/* Remote ops {{{1 */

typedef enum
{
  REMOTE_SESSION_PUT,
  REMOTE_MESSAGE_PUT,
  REMOTE_SESSION_DELETE,
} RemoteKind;

/* One remote op, checked and parsed before anything is written. */
typedef struct
{
  const HelixRemoteOp *op;
  RemoteKind           kind;
  HelixHlc             hlc;
  char                 hlc_text[HELIX_HLC_STRING_MAX];
  gint64               wall_us;
  JsonObject          *data;
} Remote;

typedef struct
{
  HelixStore  *self;
  Remote      *r;
  /* Session ids to announce, in first-change order, and the messages added. */
  GPtrArray   *session_ids;
  GHashTable  *seen_sessions;
  GPtrArray   *messages;
} Apply;

static void
clear_remotes (Remote *remotes,
               guint   n)
{
  for (guint i = 0; i < n; i++)
    g_clear_pointer (&remotes[i].data, json_object_unref);
  g_free (remotes);
}

static gboolean
bad_op (const HelixRemoteOp  *op,
        const char           *why,
        GError              **error)
{
  g_set_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID,
               _("The synced change %.40s is invalid (%s); nothing of its batch was applied"),
               op->op_id ? op->op_id : "", why);
  return FALSE;
}

static gboolean
member_has_type (JsonObject *data,
                 const char *member,
                 GType       type,
                 gboolean    required)
{
  JsonNode *node = json_object_get_member (data, member);

  if (node == NULL)
    return !required;

  return JSON_NODE_HOLDS_VALUE (node) &&
         (json_node_get_value_type (node) == type ||
          (type == G_TYPE_DOUBLE && json_node_get_value_type (node) == G_TYPE_INT64));
}

static gboolean
parse_remote (const HelixRemoteOp  *op,
              Remote               *r,
              GError              **error)
{
  g_autoptr(JsonNode) node = NULL;
  HelixMessageRole role;
  HelixMessageStatus status;

  r->op = op;

  if (op->op_id == NULL || !helix_uuid_is_valid (op->op_id))
    return bad_op (op, "op id", error);
  if (op->seq < 0)
    return bad_op (op, "seq", error);
  if (g_strcmp0 (op->kind, "session.put") == 0)
    r->kind = REMOTE_SESSION_PUT;
  else if (g_strcmp0 (op->kind, "message.put") == 0)
    r->kind = REMOTE_MESSAGE_PUT;
  else if (g_strcmp0 (op->kind, "session.delete") == 0)
    r->kind = REMOTE_SESSION_DELETE;
  else
    return bad_op (op, "type", error);

  if (op->entity == NULL || !helix_uuid_is_valid (op->entity))
    return bad_op (op, "id", error);
  if ((r->kind == REMOTE_MESSAGE_PUT) != (op->session_id != NULL) ||
      (op->session_id != NULL && !helix_uuid_is_valid (op->session_id)))
    return bad_op (op, "session", error);
  if (op->hlc == NULL || !helix_hlc_parse (op->hlc, &r->hlc, NULL))
    return bad_op (op, "hlc", error);
  helix_hlc_format (&r->hlc, r->hlc_text);
  r->wall_us = r->hlc.wall_ms * 1000 + MIN (r->hlc.counter, 999);

  if ((r->kind == REMOTE_SESSION_DELETE) != (op->data == NULL))
    return bad_op (op, "data", error);
  if (op->data == NULL)
    return TRUE;

  node = json_from_string (op->data, NULL);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return bad_op (op, "data", error);
  r->data = json_node_dup_object (node);

  if (r->kind == REMOTE_SESSION_PUT)
    {
      if (!member_has_type (r->data, "title", G_TYPE_STRING, FALSE) ||
          !member_has_type (r->data, "pinned", G_TYPE_BOOLEAN, FALSE) ||
          !member_has_type (r->data, "archived", G_TYPE_BOOLEAN, FALSE) ||
          !member_has_type (r->data, "model", G_TYPE_STRING, FALSE))
        return bad_op (op, "session data", error);
      if (json_object_has_member (r->data, "title") &&
          strlen (json_object_get_string_member (r->data, "title")) > HELIX_STORE_TITLE_MAX_BYTES)
        return bad_op (op, "title", error);
      if (json_object_has_member (r->data, "model") &&
          strlen (json_object_get_string_member (r->data, "model")) > HELIX_STORE_MODEL_MAX_BYTES)
        return bad_op (op, "model", error);
      return TRUE;
    }

  if (!member_has_type (r->data, "role", G_TYPE_STRING, TRUE) ||
      !member_has_type (r->data, "content", G_TYPE_STRING, TRUE) ||
      !member_has_type (r->data, "status", G_TYPE_STRING, TRUE) ||
      !member_has_type (r->data, "model", G_TYPE_STRING, FALSE) ||
      !member_has_type (r->data, "provider", G_TYPE_STRING, FALSE) ||
      !member_has_type (r->data, "tokens_in", G_TYPE_INT64, FALSE) ||
      !member_has_type (r->data, "tokens_out", G_TYPE_INT64, FALSE) ||
      !member_has_type (r->data, "cost", G_TYPE_DOUBLE, FALSE) ||
      !member_has_type (r->data, "created_us", G_TYPE_INT64, FALSE))
    return bad_op (op, "message data", error);
  if (!helix_message_role_from_string (json_object_get_string_member (r->data, "role"), &role) ||
      !helix_message_status_from_string (json_object_get_string_member (r->data, "status"),
                                         &status))
    return bad_op (op, "role or status", error);

  return TRUE;
}

static gboolean
run_stmt (HelixStore    *self,
          sqlite3_stmt  *stmt,
          const char    *what,
          GError       **error)
{
  int rc = sqlite3_step (stmt);

  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    {
      helix_db_set_error (error, self->writer, rc, what);
      return FALSE;
    }

  return TRUE;
}

/* Whether @r is newer than the stored HLC @stored (%NULL: never set, always older). */
static gboolean
is_newer (const Remote *r,
          const char   *stored)
{
  HelixHlc old;

  if (stored == NULL || !helix_hlc_parse (stored, &old, NULL))
    return TRUE;

  return helix_hlc_compare (&r->hlc, &old) > 0;
}

static void
note_session (Apply      *a,
              const char *session_id)
{
  if (g_hash_table_contains (a->seen_sessions, session_id))
    return;

  g_hash_table_add (a->seen_sessions, g_strdup (session_id));
  g_ptr_array_add (a->session_ids, g_strdup (session_id));
}

/* Sets @field of the row @uuid of @table from the op's data if the op is newer. */
static gboolean
apply_field (Apply                *a,
             const char           *table,
             const char           *uuid,
             const HelixLwwField  *field,
             gboolean             *changed,
             GError              **error)
{
  JsonNode *node = json_object_get_member (a->r->data, field->member);
  g_autofree char *select_sql = NULL;
  g_autofree char *update_sql = NULL;
  g_autofree char *stored = NULL;
  sqlite3_stmt *stmt;
  int rc;

  if (node == NULL)
    return TRUE;

  select_sql = g_strdup_printf ("SELECT %s FROM %s WHERE uuid = ?", field->hlc_column, table);
  stmt = helix_db_prepare (a->self->writer, select_sql, FALSE, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, uuid, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    stored = dup_column (stmt, 0);
  sqlite3_finalize (stmt);
  if (rc != SQLITE_ROW)
    {
      helix_db_set_error (error, a->self->writer, rc, _("Could not read the synced state"));
      return FALSE;
    }

  if (!is_newer (a->r, stored))
    return TRUE;

  update_sql = g_strdup_printf ("UPDATE %s SET %s = ?1, %s = ?2 WHERE uuid = ?3",
                                table, field->column, field->hlc_column);
  stmt = helix_db_prepare (a->self->writer, update_sql, FALSE, error);
  if (stmt == NULL)
    return FALSE;

  switch (field->type)
    {
    case HELIX_LWW_STRING:
      sqlite3_bind_text (stmt, 1, json_node_get_string (node), -1, SQLITE_STATIC);
      break;
    case HELIX_LWW_BOOLEAN:
      sqlite3_bind_int (stmt, 1, json_node_get_boolean (node) ? 1 : 0);
      break;
    case HELIX_LWW_INTEGER:
      sqlite3_bind_int64 (stmt, 1, json_node_get_int (node));
      break;
    case HELIX_LWW_NUMBER:
      sqlite3_bind_double (stmt, 1, json_node_get_double (node));
      break;
    default:
      g_assert_not_reached ();
    }
  sqlite3_bind_text (stmt, 2, a->r->hlc_text, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, uuid, -1, SQLITE_STATIC);

  *changed = TRUE;

  return run_stmt (a->self, stmt, _("Could not store the synced state"), error);
}

/* Creates the session row @uuid if there is none: untitled, every field unset. */
static gboolean
ensure_session (Apply       *a,
                const char  *uuid,
                GError     **error)
{
  sqlite3_stmt *stmt;

  stmt = helix_db_prepare (a->self->writer,
                           "INSERT INTO sessions (uuid, created_us, updated_us, hlc) "
                           "VALUES (?1, ?2, ?2, ?3) ON CONFLICT (uuid) DO NOTHING",
                           FALSE, error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_text (stmt, 1, uuid, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, a->r->wall_us);
  sqlite3_bind_text (stmt, 3, a->r->hlc_text, -1, SQLITE_STATIC);

  return run_stmt (a->self, stmt, _("Could not store the chat"), error);
}

/* Keeps the session's `hlc` (its latest change) and updated time up to date. */
static gboolean
touch_session (Apply       *a,
               const char  *uuid,
               GError     **error)
{
  g_autofree char *stored = NULL;
  sqlite3_stmt *stmt;
  int rc;

  stmt = helix_db_prepare (a->self->writer, "SELECT hlc FROM sessions WHERE uuid = ?", FALSE,
                           error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, uuid, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    stored = dup_column (stmt, 0);
  sqlite3_finalize (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      helix_db_set_error (error, a->self->writer, rc, _("Could not read the synced state"));
      return FALSE;
    }

  stmt = helix_db_prepare (a->self->writer,
                           "UPDATE sessions SET updated_us = max (updated_us, ?1), "
                           "  hlc = CASE WHEN ?2 THEN ?3 ELSE hlc END WHERE uuid = ?4",
                           FALSE, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, a->r->wall_us);
  sqlite3_bind_int (stmt, 2, is_newer (a->r, stored) ? 1 : 0);
  sqlite3_bind_text (stmt, 3, a->r->hlc_text, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 4, uuid, -1, SQLITE_STATIC);

  note_session (a, uuid);

  return run_stmt (a->self, stmt, _("Could not store the chat"), error);
}

static gboolean
apply_session_put (Apply   *a,
                   GError **error)
{
  const char *uuid = a->r->op->entity;
  gboolean changed = FALSE;

  if (!ensure_session (a, uuid, error))
    return FALSE;

  for (gsize i = 0; i < G_N_ELEMENTS (helix_lww_session_fields); i++)
    {
      if (!apply_field (a, "sessions", uuid, &helix_lww_session_fields[i], &changed, error))
        return FALSE;
    }

  return touch_session (a, uuid, error);
}

static gboolean
apply_session_delete (Apply   *a,
                      GError **error)
{
  const char *uuid = a->r->op->entity;
  g_autofree char *stored = NULL;
  gboolean deleted = FALSE;
  sqlite3_stmt *stmt;
  int rc;

  if (!ensure_session (a, uuid, error))
    return FALSE;

  stmt = helix_db_prepare (a->self->writer,
                           "SELECT deleted, deleted_hlc FROM sessions WHERE uuid = ?",
                           FALSE, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, uuid, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      deleted = sqlite3_column_int (stmt, 0) != 0;
      stored = dup_column (stmt, 1);
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_ROW)
    {
      helix_db_set_error (error, a->self->writer, rc, _("Could not read the synced state"));
      return FALSE;
    }

  /* Of several deletes the newest HLC is kept, like on the gateway. */
  if (!deleted || is_newer (a->r, stored))
    {
      stmt = helix_db_prepare (a->self->writer,
                               "UPDATE sessions SET deleted = 1, deleted_hlc = ?1 WHERE uuid = ?2",
                               FALSE, error);
      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_text (stmt, 1, a->r->hlc_text, -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 2, uuid, -1, SQLITE_STATIC);
      if (!run_stmt (a->self, stmt, _("Could not delete the chat"), error))
        return FALSE;
    }

  /* The gateway holds a tombstone now: a local deletion still waiting in the outbox can
   * no longer be undone, so it goes (pushing it would change nothing). */
  stmt = helix_db_prepare (a->self->writer,
                           "DELETE FROM outbox WHERE kind = 'session.delete' AND entity = ?",
                           FALSE, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, uuid, -1, SQLITE_STATIC);
  if (!run_stmt (a->self, stmt, _("Could not delete the chat"), error))
    return FALSE;

  return touch_session (a, uuid, error);
}

/* Where a new remote message goes in its session. Every replica orders a session's
 * messages by the HLC of their first put, so that messages written on two devices while
 * they were offline end up in the same order everywhere. A local message is always the
 * newest (the clock is ahead of everything received), and so is a remote one almost
 * always: the scan from the end usually stops at the first row. Messages after the new
 * one move down a place. */
static gboolean
find_message_position (Apply        *a,
                       gint64        session_rowid,
                       gint64       *position,
                       GError      **error)
{
  sqlite3_stmt *stmt;
  gint64 insert_at = *position;
  int rc;

  stmt = helix_db_prepare (a->self->writer,
                           "SELECT position, coalesce (created_hlc, hlc) FROM messages "
                           "WHERE session = ? ORDER BY position DESC",
                           FALSE, error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, session_rowid);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      HelixHlc hlc;

      if (!helix_hlc_parse ((const char *) sqlite3_column_text (stmt, 1), &hlc, NULL) ||
          helix_hlc_compare (&hlc, &a->r->hlc) < 0)
        break;
      insert_at = sqlite3_column_int64 (stmt, 0);
    }
  sqlite3_finalize (stmt);

  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      helix_db_set_error (error, a->self->writer, rc, _("Could not read the chat"));
      return FALSE;
    }

  if (insert_at < *position)
    {
      /* Two steps through negative positions keep (session, position) unique. */
      stmt = helix_db_prepare (a->self->writer,
                               "UPDATE messages SET position = -position - 2 "
                               "WHERE session = ?1 AND position >= ?2",
                               FALSE, error);
      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_int64 (stmt, 1, session_rowid);
      sqlite3_bind_int64 (stmt, 2, insert_at);
      if (!run_stmt (a->self, stmt, _("Could not store the message"), error))
        return FALSE;

      stmt = helix_db_prepare (a->self->writer,
                               "UPDATE messages SET position = -position - 1 "
                               "WHERE session = ?1 AND position < 0",
                               FALSE, error);
      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_int64 (stmt, 1, session_rowid);
      if (!run_stmt (a->self, stmt, _("Could not store the message"), error))
        return FALSE;
    }

  *position = insert_at;

  return TRUE;
}

static gboolean
insert_remote_message (Apply       *a,
                       const char  *session_id,
                       GError     **error)
{
  JsonObject *data = a->r->data;
  sqlite3_stmt *stmt;
  gint64 session_rowid;
  gint64 position;
  int rc;

  if (!ensure_session (a, session_id, error))
    return FALSE;

  stmt = helix_db_prepare (a->self->writer, "SELECT id, n_messages FROM sessions WHERE uuid = ?",
                           FALSE, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, session_id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  session_rowid = sqlite3_column_int64 (stmt, 0);
  position = sqlite3_column_int64 (stmt, 1);
  sqlite3_finalize (stmt);
  if (rc != SQLITE_ROW)
    {
      helix_db_set_error (error, a->self->writer, rc, _("Could not read the chat"));
      return FALSE;
    }

  if (!find_message_position (a, session_rowid, &position, error))
    return FALSE;

  /* The optional members are set below, each with its HLC. Until a put names
   * created_us, the message was created at the earliest HLC of its puts. */
  stmt = helix_db_prepare (a->self->writer,
                           "INSERT INTO messages (uuid, session, position, role, content, "
                           "  created_us, status, hlc, remote) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
                           FALSE, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, a->r->op->entity, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, session_rowid);
  sqlite3_bind_int64 (stmt, 3, position);
  sqlite3_bind_text (stmt, 4, json_object_get_string_member (data, "role"), -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 5, json_object_get_string_member (data, "content"), -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 6, a->r->wall_us);
  sqlite3_bind_text (stmt, 7, json_object_get_string_member (data, "status"), -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 8, a->r->hlc_text, -1, SQLITE_STATIC);
  if (!run_stmt (a->self, stmt, _("Could not store the message"), error))
    return FALSE;

  stmt = helix_db_prepare (a->self->writer,
                           "UPDATE sessions SET n_messages = n_messages + 1 WHERE id = ?",
                           FALSE, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, session_rowid);
  if (!run_stmt (a->self, stmt, _("Could not store the message"), error))
    return FALSE;

  a->self->n_unindexed++;

  return TRUE;
}

/* Reads a message through the writer, inside the open transaction. */
static HelixMessage *
load_message_locked (HelixStore  *self,
                     const char  *message_id,
                     GError     **error)
{
  g_autoptr(GRefString) session_ref = NULL;
  HelixMessage *message = NULL;
  sqlite3_stmt *stmt;
  int rc;

  stmt = helix_db_prepare (self->writer,
                           "SELECT " MESSAGE_COLUMNS ", s.uuid FROM messages m "
                           "JOIN sessions s ON s.id = m.session WHERE m.uuid = ?",
                           FALSE, error);
  if (stmt == NULL)
    return NULL;

  sqlite3_bind_text (stmt, 1, message_id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      session_ref = g_ref_string_new ((const char *) sqlite3_column_text (stmt, 14));
      message = _helix_store_message_from_row (stmt, session_ref);
    }
  else
    {
      helix_db_set_error (error, self->writer, rc, _("Could not read the message"));
    }
  sqlite3_finalize (stmt);

  return message;
}

static gboolean
apply_message_put (Apply   *a,
                   GError **error)
{
  const char *uuid = a->r->op->entity;
  JsonObject *data = a->r->data;
  g_autofree char *session_id = g_strdup (a->r->op->session_id);
  g_autofree char *stored_hlc = NULL;
  gboolean has_created_hlc = FALSE;
  gboolean exists;
  gboolean changed = FALSE;
  sqlite3_stmt *stmt;
  int rc;

  stmt = helix_db_prepare (a->self->writer,
                           "SELECT s.uuid, m.hlc, m.created_hlc IS NOT NULL FROM messages m "
                           "JOIN sessions s ON s.id = m.session WHERE m.uuid = ?",
                           FALSE, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, uuid, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  exists = rc == SQLITE_ROW;
  if (exists)
    {
      /* The first put fixed the session and the role. */
      g_free (session_id);
      session_id = dup_column (stmt, 0);
      stored_hlc = dup_column (stmt, 1);
      has_created_hlc = sqlite3_column_int (stmt, 2) != 0;
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      helix_db_set_error (error, a->self->writer, rc, _("Could not read the synced state"));
      return FALSE;
    }

  if (!exists)
    {
      if (!insert_remote_message (a, session_id, error))
        return FALSE;
      changed = TRUE;
    }
  else
    {
      if (is_newer (a->r, stored_hlc))
        {
          stmt = helix_db_prepare (a->self->writer,
                                   "UPDATE messages SET content = ?1, status = ?2, hlc = ?3 "
                                   "WHERE uuid = ?4", FALSE, error);
          if (stmt == NULL)
            return FALSE;
          sqlite3_bind_text (stmt, 1, json_object_get_string_member (data, "content"), -1,
                             SQLITE_STATIC);
          sqlite3_bind_text (stmt, 2, json_object_get_string_member (data, "status"), -1,
                             SQLITE_STATIC);
          sqlite3_bind_text (stmt, 3, a->r->hlc_text, -1, SQLITE_STATIC);
          sqlite3_bind_text (stmt, 4, uuid, -1, SQLITE_STATIC);
          if (!run_stmt (a->self, stmt, _("Could not store the message"), error))
            return FALSE;
          changed = TRUE;
        }

      if (!has_created_hlc && !json_object_has_member (data, "created_us"))
        {
          stmt = helix_db_prepare (a->self->writer,
                                   "UPDATE messages SET created_us = min (created_us, ?1) "
                                   "WHERE uuid = ?2", FALSE, error);
          if (stmt == NULL)
            return FALSE;
          sqlite3_bind_int64 (stmt, 1, a->r->wall_us);
          sqlite3_bind_text (stmt, 2, uuid, -1, SQLITE_STATIC);
          if (!run_stmt (a->self, stmt, _("Could not store the message"), error))
            return FALSE;
        }
    }

  for (gsize i = 0; i < G_N_ELEMENTS (helix_lww_message_fields); i++)
    {
      if (!apply_field (a, "messages", uuid, &helix_lww_message_fields[i], &changed, error))
        return FALSE;
    }

  if (!exists)
    {
      HelixMessage *message = load_message_locked (a->self, uuid, error);

      if (message == NULL)
        return FALSE;
      g_ptr_array_add (a->messages, message);
    }

  return !changed || touch_session (a, session_id, error);
}

static gboolean
apply_one (Apply   *a,
           GError **error)
{
  switch (a->r->kind)
    {
    case REMOTE_SESSION_PUT:
      return apply_session_put (a, error);
    case REMOTE_SESSION_DELETE:
      return apply_session_delete (a, error);
    case REMOTE_MESSAGE_PUT:
      return apply_message_put (a, error);
    default:
      g_assert_not_reached ();
    }

  return FALSE;
}

/**
 * helix_store_apply_remote:
 * @self: a #HelixStore
 * @ops: (array length=n_ops): ops from other devices, with their seq
 * @n_ops: how many
 * @cursor: the cursor to keep once they are applied (the highest seq of the frame);
 *   the store keeps the largest of this, the ops' seqs and its current cursor
 * @error: a location for a #GError
 *
 * Applies remote ops with the rules of PROTOCOL.md section 7 and moves the sync cursor,
 * in one transaction: all of it or nothing. An invalid op fails the whole batch.
 * Applying an op again changes nothing. Each op's HLC is merged into the local clock,
 * so that later local changes sort after it. Remote ops are not put in the outbox.
 * Emits #HelixStore::message-added for each new message and
 * #HelixStore::session-changed for each session that changed.
 *
 * Returns: %TRUE when the batch was applied
 */
gboolean
helix_store_apply_remote (HelixStore           *self,
                          const HelixRemoteOp  *ops,
                          guint                 n_ops,
                          gint64                cursor,
                          GError              **error)
{
  g_autoptr(GPtrArray) changed = NULL;
  g_autoptr(GPtrArray) session_ids = NULL;
  g_autoptr(GHashTable) seen = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  Remote *remotes;
  Apply a = { 0 };
  gboolean ok;
  int rc;

  g_return_val_if_fail (HELIX_IS_STORE (self), FALSE);
  g_return_val_if_fail (ops != NULL || n_ops == 0, FALSE);

  if (!_helix_store_check_open (self, error))
    return FALSE;

  remotes = g_new0 (Remote, MAX (n_ops, 1));
  for (guint i = 0; i < n_ops; i++)
    {
      if (!parse_remote (&ops[i], &remotes[i], error))
        {
          clear_remotes (remotes, n_ops);
          return FALSE;
        }
      cursor = MAX (cursor, ops[i].seq);
    }

  session_ids = g_ptr_array_new_with_free_func (g_free);
  seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  messages = g_ptr_array_new_with_free_func (g_object_unref);
  a.self = self;
  a.session_ids = session_ids;
  a.seen_sessions = seen;
  a.messages = messages;
  changed = g_ptr_array_new_with_free_func (g_object_unref);

  if (!lock_writer (self, error))
    {
      clear_remotes (remotes, n_ops);
      return FALSE;
    }

  rc = _helix_store_writer_begin (self);
  ok = rc == SQLITE_OK;
  if (!ok)
    helix_db_set_error (error, self->writer, rc, _("Could not start saving"));

  for (guint i = 0; ok && i < n_ops; i++)
    {
      HelixHlc merged;

      a.r = &remotes[i];
      ok = helix_hlc_clock_receive (self->clock, &remotes[i].hlc, &merged, error) &&
           apply_one (&a, error);
    }

  if (ok && cursor > 0)
    ok = advance_cursor_locked (self, cursor, error);

  /* With no local message waiting, move the push watermark over the remote ones, so
   * that finding local messages to push stays a short range scan. */
  if (ok && messages->len > 0)
    {
      sqlite3_stmt *stmt =
        helix_db_prepare (self->writer,
                          "UPDATE store_meta SET value = (SELECT max (id) FROM messages) "
                          "WHERE key = 'push-acked-upto' AND NOT EXISTS "
                          "  (SELECT 1 FROM messages "
                          "   WHERE id > CAST (store_meta.value AS INTEGER) AND remote = 0)",
                          FALSE, error);

      ok = stmt != NULL && run_stmt (self, stmt, _("Could not save the sync position"), error);
    }

  for (guint i = 0; ok && i < messages->len; i++)
    g_ptr_array_add (changed, g_object_ref (g_ptr_array_index (messages, i)));
  for (guint i = 0; ok && i < session_ids->len; i++)
    {
      HelixSession *session = _helix_store_load_session (self, self->writer,
                                                         g_ptr_array_index (session_ids, i),
                                                         error);
      ok = session != NULL;
      if (ok)
        g_ptr_array_add (changed, session);
    }

  ok = finish_transaction_locked (self, ok, error);
  g_mutex_unlock (&self->writer_mutex);
  clear_remotes (remotes, n_ops);

  if (!ok)
    return FALSE;

  if (changed->len > 0)
    _helix_store_emit_changes (self, changed);

  return TRUE;
}
