/* helix-gateway-sync.c: each user's operation log and the state it materializes
 *
 * helix_gateway_db_apply_ops() stores a batch of validated ops (a `push`, or
 * one op made by the REST API) in one transaction: each new op gets the
 * user's next seq, goes into `ops`, and is applied to `sync_sessions` and
 * `sync_messages` as src/sync/PROTOCOL.md section 7 says:
 *
 * - a re-sent op (same op id, same canonical form) keeps its first seq and
 *   changes nothing; the same op id with another canonical form fails the
 *   whole batch with HELIX_SYNC_ERROR_OP_CONFLICT;
 * - session fields are last-writer-wins by HLC, each with its own HLC;
 * - `session.delete` leaves a tombstone that beats every later op for the
 *   session. It clears the session's fields and drops its messages, so that
 *   the state does not depend on whether a put arrived before or after it;
 * - messages are append-only: the first `message.put` fixes session and role,
 *   later ones replace the other members that they carry, each by its HLC. A
 *   message for a session the user does not have (yet) is stored; it creates
 *   no session.
 *
 * Every statement names the user: no user reads or changes another's rows.
 * HLCs are stored as text and compared here with helix_hlc_compare().
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>
/* See canonical_hash(). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "helix-db.h"
#include "helix-lww.h"
#include "helix-uuid.h"
#include "helix-gateway-db-private.h"
#include "helix-gateway-metrics.h"
#include "helix-gateway-sync.h"

/* An HLC as a time in µs: its wall time in ms × 1000, plus its counter (at most 999),
 * so that the events of one millisecond keep their order in created/updated times.
 * HLC_WALL_US() for C, SQL_HLC_WALL_US() for an HLC in text form in SQL. */
#define HLC_WALL_US(hlc) ((hlc)->wall_ms * 1000 + MIN ((hlc)->counter, 999))
#define SQL_HLC_REST(column) "substr (" column ", instr (" column ", ':') + 1)"
#define SQL_HLC_WALL_US(column) \
  "(CAST (substr (" column ", 1, instr (" column ", ':') - 1) AS INTEGER) * 1000 + " \
  "min (999, CAST (substr (" SQL_HLC_REST (column) ", 1, " \
  "instr (" SQL_HLC_REST (column) ", ':') - 1) AS INTEGER)))"

/* One op being applied. */
typedef struct
{
  HelixGatewayDb *self;
  sqlite3        *db;
  gint64          user_id;
  HelixSyncOp    *op;
  const HelixHlc *hlc;
  const char     *hlc_text;
  gint64          wall_us;
  gint64          seq;
  /* (not nullable): session updated_us raises this transaction still owes,
   * Bump → gint64 (see bump_session()) */
  GHashTable     *bumps;
} Apply;

/* A session whose updated_us a message raises. A message's raise is kept
 * here and written once per session at the end of the transaction
 * (flush_bumps()), not once per message: max() commutes, and a session
 * deleted in between is left alone, as it would have been. */
typedef struct
{
  gint64 user_id;
  char   session[HELIX_UUID_STRING_LEN + 1];
} Bump;

static guint
bump_hash (gconstpointer key)
{
  const Bump *bump = key;

  return g_str_hash (bump->session) ^ (guint) bump->user_id;
}

static gboolean
bump_equal (gconstpointer a,
            gconstpointer b)
{
  const Bump *x = a;
  const Bump *y = b;

  return x->user_id == y->user_id && strcmp (x->session, y->session) == 0;
}

static GHashTable *
bumps_new (void)
{
  return g_hash_table_new_full (bump_hash, bump_equal, g_free, g_free);
}

/* Owes session @session of @user_id the updated_us @wall_us (at least). */
static void
bump_session (GHashTable *bumps,
              gint64      user_id,
              const char *session,
              gint64      wall_us)
{
  Bump key = { .user_id = user_id };
  gint64 *owed;

  g_strlcpy (key.session, session, sizeof key.session);
  owed = g_hash_table_lookup (bumps, &key);
  if (owed != NULL)
    *owed = MAX (*owed, wall_us);
  else
    g_hash_table_insert (bumps, g_memdup2 (&key, sizeof key), g_memdup2 (&wall_us, sizeof wall_us));
}

/* Moves the raises of @from into @into (a push that was kept). */
static void
bumps_merge (GHashTable *into,
             GHashTable *from)
{
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, from);
  while (g_hash_table_iter_next (&iter, &key, &value))
    bump_session (into, ((Bump *) key)->user_id, ((Bump *) key)->session, *(gint64 *) value);
  g_hash_table_remove_all (from);
}

void
helix_gateway_sync_session_free (HelixGatewaySyncSession *session)
{
  if (session == NULL)
    return;

  g_free (session->uuid);
  g_free (session->title);
  g_free (session->title_hlc);
  g_free (session->pinned_hlc);
  g_free (session->archived_hlc);
  g_free (session->deleted_hlc);
  g_free (session->model);
  g_free (session->model_hlc);
  g_free (session);
}

void
helix_gateway_sync_message_free (HelixGatewaySyncMessage *message)
{
  if (message == NULL)
    return;

  g_free (message->uuid);
  g_free (message->session);
  g_free (message->role);
  g_free (message->content);
  g_free (message->status);
  g_free (message->model);
  g_free (message->provider);
  g_free (message->hlc);
  g_free (message);
}

static char *
dup_column (sqlite3_stmt *stmt,
            int           column)
{
  return g_strdup ((const char *) sqlite3_column_text (stmt, column));
}

/* Steps @stmt to its end and resets it. @what is translated only when it
 * is needed: gettext costs more than some of these statements. */
static gboolean
run (sqlite3       *db,
     sqlite3_stmt  *stmt,
     const char    *what,
     GError       **error)
{
  int rc = sqlite3_step (stmt);

  _helix_gateway_db_release (stmt);
  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, db, rc, _(what));
      return FALSE;
    }

  return TRUE;
}

/* Whether the op being applied is newer than the stored HLC @stored (text,
 * or %NULL when the value was never set). */
static gboolean
is_newer (Apply      *a,
          const char *stored)
{
  HelixHlc old;

  if (stored == NULL)
    return TRUE;

  /* Stored HLCs were valid when stored; an unreadable one loses. */
  if (!helix_hlc_parse (stored, &old, NULL))
    return TRUE;

  return helix_hlc_compare (a->hlc, &old) > 0;
}

/* Applying ops {{{1 */

/* Sets @field of the row @uuid of @table from the op's data if the op is
 * newer than the value there. */
static gboolean
apply_field (Apply                *a,
             const char           *table,
             const char           *uuid,
             const HelixLwwField  *field,
             GError              **error)
{
  JsonObject *data = helix_sync_op_get_data (a->op);
  JsonNode *node = json_object_get_member (data, field->member);
  g_autofree char *select_sql = NULL;
  g_autofree char *update_sql = NULL;
  g_autofree char *stored = NULL;
  sqlite3_stmt *stmt;
  int rc;

  if (node == NULL)
    return TRUE;

  select_sql = g_strdup_printf ("SELECT %s FROM %s WHERE user = ?1 AND uuid = ?2",
                                field->hlc_column, table);
  stmt = _helix_gateway_db_prepare (a->self, select_sql, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, a->user_id);
  sqlite3_bind_text (stmt, 2, uuid, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    stored = dup_column (stmt, 0);
  _helix_gateway_db_release (stmt);
  if (rc != SQLITE_ROW)
    {
      helix_db_set_error (error, a->db, rc, _("Could not read the synced state"));
      return FALSE;
    }

  if (!is_newer (a, stored))
    return TRUE;

  update_sql = g_strdup_printf ("UPDATE %s SET %s = ?1, %s = ?2 WHERE user = ?3 AND uuid = ?4",
                                table, field->column, field->hlc_column);
  stmt = _helix_gateway_db_prepare (a->self, update_sql, error);
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
  sqlite3_bind_text (stmt, 2, a->hlc_text, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, a->user_id);
  sqlite3_bind_text (stmt, 4, uuid, -1, SQLITE_STATIC);

  return run (a->db, stmt, N_("Could not store the synced state"), error);
}

/* Reads whether the user has the session @uuid and whether it is deleted. */
static gboolean
lookup_session (Apply       *a,
                const char  *uuid,
                gboolean    *exists,
                gboolean    *deleted,
                char       **deleted_hlc,
                GError     **error)
{
  sqlite3_stmt *stmt;
  int rc;

  stmt = _helix_gateway_db_prepare (a->self,
                                    "SELECT deleted, deleted_hlc FROM sync_sessions "
                                    "WHERE user = ?1 AND uuid = ?2", error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, a->user_id);
  sqlite3_bind_text (stmt, 2, uuid, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  *exists = rc == SQLITE_ROW;
  *deleted = *exists && sqlite3_column_int (stmt, 0) != 0;
  if (deleted_hlc != NULL)
    *deleted_hlc = *exists ? dup_column (stmt, 1) : NULL;
  _helix_gateway_db_release (stmt);

  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      helix_db_set_error (error, a->db, rc, _("Could not read the synced state"));
      return FALSE;
    }

  return TRUE;
}

static gboolean
apply_session_put (Apply   *a,
                   GError **error)
{
  const char *uuid = helix_sync_op_get_id (a->op);
  gboolean exists = FALSE;
  gboolean deleted = FALSE;
  sqlite3_stmt *stmt;

  if (!lookup_session (a, uuid, &exists, &deleted, NULL, error))
    return FALSE;

  if (deleted)
    return TRUE;

  if (!exists)
    /* Messages that arrived before their session count for updated_us. */
    stmt = _helix_gateway_db_prepare (a->self,
                                      "INSERT INTO sync_sessions "
                                      "  (user, uuid, created_us, updated_us) "
                                      "VALUES (?1, ?2, ?3, max (?3, coalesce ("
                                      "  (SELECT max (" SQL_HLC_WALL_US ("hlc") ") "
                                      "   FROM sync_messages "
                                      "   WHERE user = ?1 AND session = ?2), 0)))", error);
  else
    stmt = _helix_gateway_db_prepare (a->self,
                                      "UPDATE sync_sessions "
                                      "SET created_us = min (created_us, ?3), "
                                      "  updated_us = max (updated_us, ?3) "
                                      "WHERE user = ?1 AND uuid = ?2", error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, a->user_id);
  sqlite3_bind_text (stmt, 2, uuid, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, a->wall_us);
  if (!run (a->db, stmt, N_("Could not store the session"), error))
    return FALSE;

  for (gsize i = 0; i < G_N_ELEMENTS (helix_lww_session_fields); i++)
    {
      if (!apply_field (a, "sync_sessions", uuid, &helix_lww_session_fields[i], error))
        return FALSE;
    }

  return TRUE;
}

static gboolean
apply_session_delete (Apply   *a,
                      GError **error)
{
  const char *uuid = helix_sync_op_get_id (a->op);
  g_autofree char *deleted_hlc = NULL;
  gboolean exists = FALSE;
  gboolean deleted = FALSE;
  sqlite3_stmt *stmt;

  if (!lookup_session (a, uuid, &exists, &deleted, &deleted_hlc, error))
    return FALSE;

  /* Of several deletes, the newest HLC is kept (any fixed choice converges). */
  if (deleted && !is_newer (a, deleted_hlc))
    return TRUE;

  /* The tombstone keeps nothing but its HLC: what a put set before it must
   * not depend on whether the put arrived first. */
  stmt = _helix_gateway_db_prepare (a->self,
                                    "INSERT INTO sync_sessions (user, uuid, deleted, deleted_hlc, "
                                    "  created_us, updated_us) "
                                    "VALUES (?1, ?2, 1, ?3, ?4, ?4) "
                                    "ON CONFLICT (user, uuid) DO UPDATE SET "
                                    "  title = '', title_hlc = NULL, "
                                    "  pinned = 0, pinned_hlc = NULL, "
                                    "  archived = 0, archived_hlc = NULL, "
                                    "  model = NULL, model_hlc = NULL, deleted = 1, "
                                    "  deleted_hlc = ?3, created_us = ?4, updated_us = ?4", error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, a->user_id);
  sqlite3_bind_text (stmt, 2, uuid, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, a->hlc_text, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 4, a->wall_us);
  if (!run (a->db, stmt, N_("Could not delete the session"), error))
    return FALSE;

  stmt = _helix_gateway_db_prepare (a->self,
                                    "DELETE FROM sync_messages WHERE user = ?1 AND session = ?2",
                                    error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, a->user_id);
  sqlite3_bind_text (stmt, 2, uuid, -1, SQLITE_STATIC);

  return run (a->db, stmt, N_("Could not delete the session’s messages"), error);
}

static gboolean
apply_message_put (Apply   *a,
                   GError **error)
{
  const char *uuid = helix_sync_op_get_id (a->op);
  JsonObject *data = helix_sync_op_get_data (a->op);
  g_autofree char *session = g_strdup (helix_sync_op_get_session_id (a->op));
  g_autofree char *stored_hlc = NULL;
  gboolean has_created_hlc = FALSE;
  gboolean message_exists;
  gboolean exists = FALSE;
  gboolean deleted = FALSE;
  sqlite3_stmt *stmt;
  int rc;

  stmt = _helix_gateway_db_prepare (a->self,
                                    "SELECT session, hlc, created_hlc IS NOT NULL "
                                    "FROM sync_messages "
                                    "WHERE user = ?1 AND uuid = ?2", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, a->user_id);
  sqlite3_bind_text (stmt, 2, uuid, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  message_exists = rc == SQLITE_ROW;
  if (message_exists)
    {
      /* The first put fixed the session (and the role). */
      g_free (session);
      session = dup_column (stmt, 0);
      stored_hlc = dup_column (stmt, 1);
      has_created_hlc = sqlite3_column_int (stmt, 2) != 0;
    }
  _helix_gateway_db_release (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      helix_db_set_error (error, a->db, rc, _("Could not read the synced state"));
      return FALSE;
    }

  if (!lookup_session (a, session, &exists, &deleted, NULL, error))
    return FALSE;

  /* A tombstone beats every message of its session. */
  if (deleted)
    return TRUE;

  if (!message_exists)
    {
      stmt = _helix_gateway_db_prepare (a->self,
                                        "INSERT INTO sync_messages (user, uuid, session, "
                                        "  role, content, status, created_us, hlc, seq) "
                                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", error);
      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_int64 (stmt, 1, a->user_id);
      sqlite3_bind_text (stmt, 2, uuid, -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 3, session, -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 4, json_object_get_string_member (data, "role"), -1,
                         SQLITE_STATIC);
      sqlite3_bind_text (stmt, 5, json_object_get_string_member (data, "content"), -1,
                         SQLITE_STATIC);
      sqlite3_bind_text (stmt, 6, json_object_get_string_member (data, "status"), -1,
                         SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 7, a->wall_us);
      sqlite3_bind_text (stmt, 8, a->hlc_text, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 9, a->seq);
      if (!run (a->db, stmt, N_("Could not store the message"), error))
        return FALSE;
    }
  else
    {
      if (is_newer (a, stored_hlc))
        {
          stmt = _helix_gateway_db_prepare (a->self,
                                            "UPDATE sync_messages "
                                            "SET content = ?3, status = ?4, hlc = ?5 "
                                            "WHERE user = ?1 AND uuid = ?2", error);
          if (stmt == NULL)
            return FALSE;
          sqlite3_bind_int64 (stmt, 1, a->user_id);
          sqlite3_bind_text (stmt, 2, uuid, -1, SQLITE_STATIC);
          sqlite3_bind_text (stmt, 3, json_object_get_string_member (data, "content"), -1,
                             SQLITE_STATIC);
          sqlite3_bind_text (stmt, 4, json_object_get_string_member (data, "status"), -1,
                             SQLITE_STATIC);
          sqlite3_bind_text (stmt, 5, a->hlc_text, -1, SQLITE_STATIC);
          if (!run (a->db, stmt, N_("Could not store the message"), error))
            return FALSE;
        }

      /* Until a put names created_us, it is the earliest wall time of any. */
      if (!has_created_hlc && !json_object_has_member (data, "created_us"))
        {
          stmt = _helix_gateway_db_prepare (a->self,
                                            "UPDATE sync_messages "
                                            "SET created_us = min (created_us, ?3) "
                                            "WHERE user = ?1 AND uuid = ?2", error);
          if (stmt == NULL)
            return FALSE;
          sqlite3_bind_int64 (stmt, 1, a->user_id);
          sqlite3_bind_text (stmt, 2, uuid, -1, SQLITE_STATIC);
          sqlite3_bind_int64 (stmt, 3, a->wall_us);
          if (!run (a->db, stmt, N_("Could not store the message"), error))
            return FALSE;
        }
    }

  for (gsize i = 0; i < G_N_ELEMENTS (helix_lww_message_fields); i++)
    {
      if (!apply_field (a, "sync_messages", uuid, &helix_lww_message_fields[i], error))
        return FALSE;
    }

  if (exists)
    bump_session (a->bumps, a->user_id, session, a->wall_us);

  return TRUE;
}

/* The raw SHA-256 of an op's canonical form: helix_sync_op_hash() without
 * the hex, and without making the canonical form a second time. OpenSSL's
 * SHA-256 runs the CPU's SHA instructions where it has them, three times as
 * fast as GChecksum on a 360-byte op. Its one-shot SHA256() looks the
 * algorithm up for every call (EVP) and is slower than GChecksum: hence the
 * deprecated low-level calls, as in the audit log. */
static void
canonical_hash (const char *canonical,
                guint8      out[32])
{
  SHA256_CTX ctx;

  G_STATIC_ASSERT (SHA256_DIGEST_LENGTH == 32);

  SHA256_Init (&ctx);
  SHA256_Update (&ctx, canonical, strlen (canonical));
  SHA256_Final (out, &ctx);
}

/* Looks the op up in the user's log: *@seq is its seq, or 0 when it is new.
 * A known op id with another hash fails with OP_CONFLICT. */
static gboolean
find_op (HelixGatewayDb  *self,
         sqlite3         *db,
         gint64           user_id,
         HelixSyncOp     *op,
         const guint8    *hash,
         gint64          *seq,
         char           **conflict_op_id,
         GError         **error)
{
  sqlite3_stmt *stmt;
  gboolean same = FALSE;
  int rc;

  stmt = _helix_gateway_db_prepare (self, "SELECT seq, hash FROM ops WHERE user = ?1 AND op = ?2",
                                    error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_text (stmt, 2, helix_sync_op_get_op_id (op), -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  *seq = 0;
  if (rc == SQLITE_ROW)
    {
      *seq = sqlite3_column_int64 (stmt, 0);
      same = sqlite3_column_bytes (stmt, 1) == 32 &&
             memcmp (sqlite3_column_blob (stmt, 1), hash, 32) == 0;
    }
  _helix_gateway_db_release (stmt);

  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      helix_db_set_error (error, db, rc, _("Could not read the operation log"));
      return FALSE;
    }

  if (rc == SQLITE_ROW && !same)
    {
      if (conflict_op_id != NULL)
        *conflict_op_id = g_strdup (helix_sync_op_get_op_id (op));
      g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_OP_CONFLICT,
                   _("The operation %s was sent before with other content. Make a new "
                     "operation id for this change; nothing of this batch was stored."),
                   helix_sync_op_get_op_id (op));
      return FALSE;
    }

  return TRUE;
}

/* Adds the op to the log under a->seq, unless the user's log has its op id
 * already: then *@inserted is %FALSE and nothing changed (find_op() tells
 * its seq, or the conflict). One statement for the common case, a new op. */
static gboolean
insert_op (Apply         *a,
           gint64         device_id,
           const char    *canonical,
           const guint8  *hash,
           gboolean      *inserted,
           GError       **error)
{
  sqlite3_stmt *stmt;

  stmt = _helix_gateway_db_prepare (a->self,
                                    "INSERT INTO ops (user, seq, op, kind, entity, session, hlc, "
                                    "  canonical, hash, device, received_us) "
                                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                                    "ON CONFLICT (op, user) DO NOTHING", error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, a->user_id);
  sqlite3_bind_int64 (stmt, 2, a->seq);
  sqlite3_bind_text (stmt, 3, helix_sync_op_get_op_id (a->op), -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 4, helix_sync_op_kind_to_string (helix_sync_op_get_kind (a->op)), -1,
                     SQLITE_STATIC);
  sqlite3_bind_text (stmt, 5, helix_sync_op_get_id (a->op), -1, SQLITE_STATIC);
  if (helix_sync_op_get_session_id (a->op) != NULL)
    sqlite3_bind_text (stmt, 6, helix_sync_op_get_session_id (a->op), -1, SQLITE_STATIC);
  else
    sqlite3_bind_null (stmt, 6);
  sqlite3_bind_text (stmt, 7, a->hlc_text, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 8, canonical, -1, SQLITE_STATIC);
  sqlite3_bind_blob (stmt, 9, hash, 32, SQLITE_STATIC);
  if (device_id > 0)
    sqlite3_bind_int64 (stmt, 10, device_id);
  else
    sqlite3_bind_null (stmt, 10);
  sqlite3_bind_int64 (stmt, 11, g_get_real_time ());

  if (!run (a->db, stmt, N_("Could not store the operation"), error))
    return FALSE;
  *inserted = sqlite3_changes (a->db) > 0;

  return TRUE;
}

static gboolean
apply_op (Apply   *a,
          GError **error)
{
  switch (helix_sync_op_get_kind (a->op))
    {
    case HELIX_SYNC_OP_SESSION_PUT:
      return apply_session_put (a, error);
    case HELIX_SYNC_OP_SESSION_DELETE:
      return apply_session_delete (a, error);
    case HELIX_SYNC_OP_MESSAGE_PUT:
      return apply_message_put (a, error);
    default:
      g_assert_not_reached ();
    }

  return FALSE;
}

static gboolean
read_head (HelixGatewayDb  *self,
           sqlite3         *db,
           gint64           user_id,
           gint64          *head,
           GError         **error)
{
  sqlite3_stmt *stmt;
  int rc;

  stmt = _helix_gateway_db_prepare (self, "SELECT head_seq FROM users WHERE id = ?", error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, user_id);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    *head = sqlite3_column_int64 (stmt, 0);
  _helix_gateway_db_release (stmt);

  if (rc == SQLITE_DONE)
    {
      g_set_error_literal (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NO_SUCH_USER,
                           _("The user does not exist"));
      return FALSE;
    }
  if (rc != SQLITE_ROW)
    {
      helix_db_set_error (error, db, rc, _("Could not read the operation log"));
      return FALSE;
    }

  return TRUE;
}

/* Writes the session raises @bumps owes (see Bump), and forgets them. */
static gboolean
flush_bumps (HelixGatewayDb  *self,
             sqlite3         *db,
             GHashTable      *bumps,
             GError         **error)
{
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, bumps);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const Bump *bump = key;
      sqlite3_stmt *stmt;

      stmt = _helix_gateway_db_prepare (self,
                                        "UPDATE sync_sessions SET updated_us = ?3 "
                                        "WHERE user = ?1 AND uuid = ?2 AND deleted = 0 "
                                        "  AND updated_us < ?3", error);
      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_int64 (stmt, 1, bump->user_id);
      sqlite3_bind_text (stmt, 2, bump->session, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 3, *(gint64 *) value);
      if (!run (db, stmt, N_("Could not store the session"), error))
        return FALSE;
    }
  g_hash_table_remove_all (bumps);

  return TRUE;
}

static gboolean
apply_ops_locked (HelixGatewayDb  *self,
                  sqlite3         *db,
                  gint64           user_id,
                  gint64           device_id,
                  HelixSyncOp    **ops,
                  guint            n_ops,
                  GArray          *seqs,
                  GPtrArray       *applied,
                  GPtrArray       *canonicals,
                  gint64          *head_inout,
                  GHashTable      *bumps,
                  char           **conflict_op_id,
                  GError         **error)
{
  gint64 head = 0;
  gint64 first_head;
  sqlite3_stmt *stmt;

  /* @head_inout: the user's head as the batch left it, which the caller
   * stores once for the whole batch. */
  if (head_inout != NULL)
    head = *head_inout;
  else if (!read_head (self, db, user_id, &head, error))
    return FALSE;
  first_head = head;

  for (guint i = 0; i < n_ops; i++)
    {
      g_autofree char *canonical = helix_sync_op_canonical (ops[i]);
      char hlc_text[HELIX_HLC_STRING_MAX];
      guint8 hash[32];
      gint64 seq = 0;
      Apply a = { 0 };

      gboolean inserted = FALSE;

      canonical_hash (canonical, hash);

      a.self = self;
      a.db = db;
      a.user_id = user_id;
      a.op = ops[i];
      a.hlc = helix_sync_op_get_hlc (ops[i]);
      helix_hlc_format (a.hlc, hlc_text);
      a.hlc_text = hlc_text;
      a.wall_us = HLC_WALL_US (a.hlc);
      a.seq = head + 1;
      a.bumps = bumps;

      /* A full log still acknowledges ops it has. */
      if (head < HELIX_SYNC_MAX_INT &&
          !insert_op (&a, device_id, canonical, hash, &inserted, error))
        return FALSE;

      if (!inserted)
        {
          /* Sent before: acknowledged with its first seq, or refused if
           * its content differs. */
          if (!find_op (self, db, user_id, ops[i], hash, &seq, conflict_op_id, error))
            return FALSE;

          if (seq != 0)
            {
              g_array_append_val (seqs, seq);
              continue;
            }

          g_assert (head >= HELIX_SYNC_MAX_INT);
          g_set_error_literal (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_FAILED,
                               _("The user’s operation log is full"));
          return FALSE;
        }

      head = a.seq;
      if (!apply_op (&a, error))
        return FALSE;

      g_array_append_val (seqs, a.seq);
      g_ptr_array_add (applied, helix_sync_op_dup_with_seq (ops[i], a.seq));
      if (canonicals != NULL)
        g_ptr_array_add (canonicals, g_steal_pointer (&canonical));
    }

  if (head_inout != NULL)
    {
      *head_inout = head;
      return TRUE;
    }

  if (head == first_head)
    return TRUE;

  stmt = _helix_gateway_db_prepare (self, "UPDATE users SET head_seq = ? WHERE id = ?", error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, head);
  sqlite3_bind_int64 (stmt, 2, user_id);

  return run (db, stmt, N_("Could not store the operation"), error);
}

/**
 * helix_gateway_db_apply_ops_full:
 * @self: a gateway database
 * @user_id: whose ops
 * @device_id: the device that sent them, or 0 (ops the gateway made itself)
 * @ops: (array length=n_ops): validated ops, without seq
 * @n_ops: how many
 * @seqs_out: (element-type gint64): receives one seq per op, in order: a new
 *   one, or the first one of an op stored before
 * @applied_out: (element-type HelixSyncOp): receives the ops stored now, with
 *   their seq (the ones to fan out); re-sent ops are not in it
 * @conflict_op_id: (out) (optional) (nullable): on %HELIX_SYNC_ERROR_OP_CONFLICT,
 *   the id of the op that was sent before with other content, for the `op`
 *   member of the `error` frame
 * @error: a location for a #GError
 *
 * Stores and applies @ops in one transaction, committed durably
 * (synchronous=FULL) before this returns: an ack may be sent once it
 * returns %TRUE. On failure nothing is stored and @seqs_out and @applied_out
 * are left as they were.
 *
 * Returns: %TRUE on success; %FALSE with %HELIX_SYNC_ERROR_OP_CONFLICT if an
 *   op id was stored before with other content, or another error
 */
gboolean
helix_gateway_db_apply_ops_full (HelixGatewayDb  *self,
                                 gint64           user_id,
                                 gint64           device_id,
                                 HelixSyncOp    **ops,
                                 guint            n_ops,
                                 GArray          *seqs_out,
                                 GPtrArray       *applied_out,
                                 char           **conflict_op_id,
                                 GError         **error)
{
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(GPtrArray) applied = NULL;
  g_autoptr(GHashTable) bumps = bumps_new ();
  g_autofree char *conflict = NULL;
  gint64 started_us = g_get_monotonic_time ();
  sqlite3 *db;
  gboolean ok;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), FALSE);
  g_return_val_if_fail (ops != NULL || n_ops == 0, FALSE);
  g_return_val_if_fail (seqs_out != NULL, FALSE);
  g_return_val_if_fail (g_array_get_element_size (seqs_out) == sizeof (gint64), FALSE);
  g_return_val_if_fail (applied_out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (conflict_op_id != NULL)
    *conflict_op_id = NULL;

  db = _helix_gateway_db_get_handle (self, error);
  if (db == NULL || !_helix_gateway_db_begin (self, error))
    return FALSE;

  seqs = g_array_sized_new (FALSE, FALSE, sizeof (gint64), n_ops);
  applied = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);

  ok = apply_ops_locked (self, db, user_id, device_id, ops, n_ops, seqs, applied, NULL, NULL,
                         bumps, &conflict, error) &&
       flush_bumps (self, db, bumps, error);
  ok = _helix_gateway_db_commit (self, ok, error);
  helix_gateway_metrics_observe_query ("apply_ops", g_get_monotonic_time () - started_us);
  if (!ok)
    {
      if (conflict_op_id != NULL)
        *conflict_op_id = g_steal_pointer (&conflict);
      return FALSE;
    }

  g_array_append_vals (seqs_out, seqs->data, seqs->len);
  for (guint i = 0; i < applied->len; i++)
    g_ptr_array_add (applied_out, helix_sync_op_ref (g_ptr_array_index (applied, i)));
  helix_gateway_metrics_add_ops_accepted (applied->len);

  return TRUE;
}

/**
 * helix_gateway_push_clear:
 * @push: a push of helix_gateway_db_apply_pushes()
 *
 * Frees what helix_gateway_db_apply_pushes() set in @push.
 */
void
helix_gateway_push_clear (HelixGatewayPush *push)
{
  g_clear_pointer (&push->seqs, g_array_unref);
  g_clear_pointer (&push->applied, g_ptr_array_unref);
  g_clear_pointer (&push->canonicals, g_ptr_array_unref);
  g_clear_pointer (&push->conflict_op_id, g_free);
  g_clear_error (&push->error);
}

/* Runs a statement without result rows through the statement cache. */
static gboolean
exec_cached (HelixGatewayDb  *self,
             sqlite3         *db,
             const char      *sql,
             GError         **error)
{
  sqlite3_stmt *stmt = _helix_gateway_db_prepare (self, sql, error);

  return stmt != NULL && run (db, stmt, N_("Could not write to the database"), error);
}

/* Stores the head seq each user of a batch reached (apply_pushes()). */
static gboolean
store_heads (HelixGatewayDb  *self,
             sqlite3         *db,
             GHashTable      *heads,
             GError         **error)
{
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, heads);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      sqlite3_stmt *stmt = _helix_gateway_db_prepare (self, "UPDATE users SET head_seq = ?1 "
                                                      "WHERE id = ?2 AND head_seq != ?1", error);

      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_int64 (stmt, 1, *(gint64 *) value);
      sqlite3_bind_int64 (stmt, 2, *(gint64 *) key);
      if (!run (db, stmt, N_("Could not store the operation"), error))
        return FALSE;
    }

  return TRUE;
}

/**
 * helix_gateway_db_apply_pushes:
 * @self: a gateway database
 * @pushes: (array length=n_pushes): the pushes, in the order they arrived
 * @n_pushes: how many
 * @error: a location for a #GError
 *
 * Group commit: stores and applies several pushes, of any users, in one
 * transaction committed durably (synchronous=FULL, one fsync for all) before
 * this returns. Each push is all or nothing on its own, as with
 * helix_gateway_db_apply_ops_full(): a push refused by the protocol
 * (%HELIX_SYNC_ERROR, such as an op conflict) or by its user's state
 * (%HELIX_GATEWAY_DB_ERROR, such as a full log) gets its @error and stores
 * nothing, while the others are stored. Pushes see the ones before them (a
 * user's seqs follow the order of @pushes; an op id repeated in a later push
 * is acknowledged with the first one's seq).
 *
 * Returns: %TRUE if the transaction was committed: then each push has either
 *   its seqs and applied ops or an error; %FALSE with @error if nothing at
 *   all was stored (the database failed)
 */
gboolean
helix_gateway_db_apply_pushes (HelixGatewayDb    *self,
                               HelixGatewayPush  *pushes,
                               guint              n_pushes,
                               GError           **error)
{
  gint64 started_us = g_get_monotonic_time ();
  /* Each user's head seq as this batch left it, read once and written once
   * (not twice per push): user id → gint64. */
  g_autoptr(GHashTable) heads = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                                        g_free);
  /* The batch's session raises, and those of the push being applied, which
   * join them when the push is kept. */
  g_autoptr(GHashTable) bumps = bumps_new ();
  g_autoptr(GHashTable) push_bumps = bumps_new ();
  guint n_applied = 0;
  sqlite3 *db;
  gboolean ok = TRUE;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), FALSE);
  g_return_val_if_fail (pushes != NULL || n_pushes == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  db = _helix_gateway_db_get_handle (self, error);
  if (db == NULL || !exec_cached (self, db, "BEGIN IMMEDIATE", error))
    return FALSE;

  for (guint i = 0; ok && i < n_pushes; i++)
    {
      HelixGatewayPush *push = &pushes[i];
      g_autoptr(GArray) seqs = g_array_sized_new (FALSE, FALSE, sizeof (gint64), push->n_ops);
      g_autoptr(GPtrArray) applied =
        g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
      g_autoptr(GPtrArray) canonicals = g_ptr_array_new_with_free_func (g_free);
      gint64 *known_head = g_hash_table_lookup (heads, &push->user_id);
      gint64 head = known_head != NULL ? *known_head : 0;
      /* A push of one op that is refused has written nothing (the refusal
       * comes before its op is stored, or instead of it), so it needs no
       * savepoint. One costs much: in a savepoint, SQLite copies every page
       * that the transaction had already changed before changing it again. */
      gboolean guarded = push->n_ops > 1;
      sqlite3_int64 changes = sqlite3_total_changes64 (db);

      g_assert (push->seqs == NULL && push->applied == NULL && push->error == NULL);

      if (guarded && !exec_cached (self, db, "SAVEPOINT push", error))
        {
          ok = FALSE;
          break;
        }

      if ((known_head != NULL || read_head (self, db, push->user_id, &head, &push->error)) &&
          apply_ops_locked (self, db, push->user_id, push->device_id, push->ops, push->n_ops,
                            seqs, applied, canonicals, &head, push_bumps,
                            &push->conflict_op_id, &push->error))
        {
          bumps_merge (bumps, push_bumps);
          if (known_head != NULL)
            *known_head = head;
          else
            g_hash_table_insert (heads, g_memdup2 (&push->user_id, sizeof (gint64)),
                                 g_memdup2 (&head, sizeof (gint64)));
          ok = !guarded || exec_cached (self, db, "RELEASE push", error);
          push->seqs = g_steal_pointer (&seqs);
          push->applied = g_steal_pointer (&applied);
          push->canonicals = g_steal_pointer (&canonicals);
          n_applied += push->applied->len;
          continue;
        }

      g_hash_table_remove_all (push_bumps);
      if (guarded)
        ok = exec_cached (self, db, "ROLLBACK TO push", error) &&
             exec_cached (self, db, "RELEASE push", error);
      else if (sqlite3_total_changes64 (db) != changes &&
               (push->error->domain == HELIX_SYNC_ERROR ||
                push->error->domain == HELIX_GATEWAY_DB_ERROR))
        {
          /* Never expected: a refused push that wrote something, with no
           * savepoint to take it back. The batch goes instead. */
          g_critical ("A refused push of one op changed the database: %s",
                      push->error->message);
          g_set_error_literal (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_FAILED,
                               _("Could not store the operations"));
          ok = FALSE;
        }

      /* Refused by the protocol (HELIX_SYNC_ERROR) or by this user's state
       * (HELIX_GATEWAY_DB_ERROR, such as a full log): this push only. A storage
       * failure is not this push's fault: nothing of the batch is kept. */
      if (ok && push->error->domain != HELIX_SYNC_ERROR &&
          push->error->domain != HELIX_GATEWAY_DB_ERROR)
        {
          g_propagate_error (error, g_steal_pointer (&push->error));
          ok = FALSE;
        }
    }

  if (ok)
    ok = flush_bumps (self, db, bumps, error) && store_heads (self, db, heads, error) &&
         exec_cached (self, db, "COMMIT", error);
  if (!ok)
    {
      sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
      for (guint i = 0; i < n_pushes; i++)
        helix_gateway_push_clear (&pushes[i]);
    }

  helix_gateway_metrics_observe_query ("apply_ops", g_get_monotonic_time () - started_us);
  if (ok)
    helix_gateway_metrics_add_ops_accepted (n_applied);

  return ok;
}

/**
 * helix_gateway_db_apply_ops:
 * @self: a gateway database
 * @user_id: whose ops
 * @device_id: the device that sent them, or 0 (ops the gateway made itself)
 * @ops: (array length=n_ops): validated ops, without seq
 * @n_ops: how many
 * @seqs_out: (element-type gint64): receives one seq per op
 * @applied_out: (element-type HelixSyncOp): receives the ops stored now
 * @error: a location for a #GError
 *
 * helix_gateway_db_apply_ops_full() without the id of a conflicting op.
 *
 * Returns: %TRUE on success
 */
gboolean
helix_gateway_db_apply_ops (HelixGatewayDb  *self,
                            gint64           user_id,
                            gint64           device_id,
                            HelixSyncOp    **ops,
                            guint            n_ops,
                            GArray          *seqs_out,
                            GPtrArray       *applied_out,
                            GError         **error)
{
  return helix_gateway_db_apply_ops_full (self, user_id, device_id, ops, n_ops, seqs_out,
                                          applied_out, NULL, error);
}

/* Reading {{{1 */

/**
 * helix_gateway_db_get_head:
 * @self: a gateway database
 * @user_id: whose log
 * @error: a location for a #GError
 *
 * Returns: the user's highest seq (0 before their first op), or -1 with
 *   @error set
 */
gint64
helix_gateway_db_get_head (HelixGatewayDb  *self,
                           gint64           user_id,
                           GError         **error)
{
  gint64 head = 0;
  sqlite3 *db;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), -1);

  db = _helix_gateway_db_get_handle (self, error);
  if (db == NULL || !read_head (self, db, user_id, &head, error))
    return -1;

  return head;
}

/**
 * helix_gateway_db_ops_since:
 * @self: a gateway database
 * @user_id: whose log
 * @cursor: the highest seq the device has (0 for all)
 * @limit: at most this many, 1 to %HELIX_GATEWAY_OPS_PAGE_MAX
 * @error: a location for a #GError
 *
 * Returns: (transfer container) (element-type HelixSyncOp): the user's ops
 *   with a seq above @cursor, in seq order, each carrying its seq; or %NULL
 *   with @error set
 */
GPtrArray *
helix_gateway_db_ops_since (HelixGatewayDb  *self,
                            gint64           user_id,
                            gint64           cursor,
                            guint            limit,
                            GError         **error)
{
  g_autoptr(GPtrArray) ops = NULL;
  g_autoptr(GPtrArray) texts = NULL;
  g_autoptr(GArray) seqs = NULL;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), NULL);
  g_return_val_if_fail (cursor >= 0, NULL);
  g_return_val_if_fail (limit >= 1 && limit <= HELIX_GATEWAY_OPS_PAGE_MAX, NULL);

  seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  texts = g_ptr_array_new_with_free_func (g_free);
  if (!_helix_gateway_db_op_texts_since (self, user_id, cursor, limit, seqs, texts, error))
    return NULL;

  ops = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  for (guint i = 0; i < texts->len; i++)
    {
      const char *text = g_ptr_array_index (texts, i);
      gint64 seq = g_array_index (seqs, gint64, i);
      g_autoptr(HelixSyncOp) op = NULL;
      g_autoptr(GError) local_error = NULL;

      op = helix_sync_op_new_from_data (text, strlen (text), &local_error);
      if (op == NULL)
        {
          g_set_error (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_FAILED,
                       _("The stored operation %lld is damaged: %s"), (long long) seq,
                       local_error->message);
          return NULL;
        }

      g_ptr_array_add (ops, helix_sync_op_dup_with_seq (op, seq));
    }

  return g_steal_pointer (&ops);
}

/**
 * _helix_gateway_db_op_texts_since:
 * @self: a gateway database
 * @user_id: whose log
 * @cursor: the highest seq the device has (0 for all)
 * @limit: at most this many, 1 to %HELIX_GATEWAY_OPS_PAGE_MAX
 * @seqs_out: (element-type gint64): receives the seq of each op
 * @canonicals_out: (element-type utf8): receives the canonical text of each op
 * @error: a location for a #GError
 *
 * helix_gateway_db_ops_since() for the backlog: the ops as they are stored,
 * canonical texts for _helix_gateway_build_ops_frame(), without parsing them.
 *
 * Returns: %TRUE on success
 */
gboolean
_helix_gateway_db_op_texts_since (HelixGatewayDb  *self,
                                  gint64           user_id,
                                  gint64           cursor,
                                  guint            limit,
                                  GArray          *seqs_out,
                                  GPtrArray       *canonicals_out,
                                  GError         **error)
{
  sqlite3_stmt *stmt;
  sqlite3 *db;
  int rc;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), FALSE);
  g_return_val_if_fail (cursor >= 0, FALSE);
  g_return_val_if_fail (limit >= 1 && limit <= HELIX_GATEWAY_OPS_PAGE_MAX, FALSE);

  db = _helix_gateway_db_get_handle (self, error);
  if (db == NULL)
    return FALSE;

  stmt = _helix_gateway_db_prepare (self,
                                    "SELECT seq, canonical FROM ops WHERE user = ?1 AND seq > ?2 "
                                    "ORDER BY seq LIMIT ?3", error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_int64 (stmt, 2, cursor);
  sqlite3_bind_int (stmt, 3, (int) limit);

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      gint64 seq = sqlite3_column_int64 (stmt, 0);
      const char *text = (const char *) sqlite3_column_text (stmt, 1);
      gsize len = (gsize) sqlite3_column_bytes (stmt, 1);

      /* Spliced into frames as it is: at least an object that is text. */
      if (seq < 1 || seq > HELIX_SYNC_MAX_INT || text == NULL || len < 3 || text[0] != '{' ||
          text[1] != '"' || text[len - 1] != '}' || !g_utf8_validate_len (text, len, NULL))
        {
          _helix_gateway_db_release (stmt);
          g_set_error (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_FAILED,
                       _("The stored operation %lld is damaged"), (long long) seq);
          return FALSE;
        }

      g_array_append_val (seqs_out, seq);
      g_ptr_array_add (canonicals_out, g_strndup (text, len));
    }
  _helix_gateway_db_release (stmt);

  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, db, rc, _("Could not read the operation log"));
      return FALSE;
    }

  return TRUE;
}

#define SESSION_COLUMNS \
  "uuid, title, title_hlc, pinned, pinned_hlc, archived, archived_hlc, deleted, " \
  "deleted_hlc, created_us, updated_us, model, model_hlc"

static HelixGatewaySyncSession *
session_from_row (sqlite3_stmt *stmt)
{
  HelixGatewaySyncSession *session = g_new0 (HelixGatewaySyncSession, 1);

  session->uuid = dup_column (stmt, 0);
  session->title = dup_column (stmt, 1);
  session->title_hlc = dup_column (stmt, 2);
  session->pinned = sqlite3_column_int (stmt, 3) != 0;
  session->pinned_hlc = dup_column (stmt, 4);
  session->archived = sqlite3_column_int (stmt, 5) != 0;
  session->archived_hlc = dup_column (stmt, 6);
  session->deleted = sqlite3_column_int (stmt, 7) != 0;
  session->deleted_hlc = dup_column (stmt, 8);
  session->created_us = sqlite3_column_int64 (stmt, 9);
  session->updated_us = sqlite3_column_int64 (stmt, 10);
  session->model = dup_column (stmt, 11);
  session->model_hlc = dup_column (stmt, 12);

  return session;
}

/**
 * helix_gateway_db_get_session:
 * @self: a gateway database
 * @user_id: whose session
 * @uuid: its id
 * @error: a location for a #GError
 *
 * Returns: (transfer full): the session, a tombstone included; or %NULL with
 *   %HELIX_GATEWAY_DB_ERROR_NO_SUCH_SESSION when @user_id has none with this
 *   id (another user's session is not found either), or another error
 */
static HelixGatewaySyncSession *
get_session (HelixGatewayDb  *self,
             gint64           user_id,
             const char      *uuid,
             GError         **error)
{
  HelixGatewaySyncSession *session = NULL;
  sqlite3_stmt *stmt;
  sqlite3 *db;
  int rc;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), NULL);
  g_return_val_if_fail (uuid != NULL, NULL);

  db = _helix_gateway_db_get_handle (self, error);
  if (db == NULL)
    return NULL;

  stmt = _helix_gateway_db_prepare (self,
                                    "SELECT " SESSION_COLUMNS " FROM sync_sessions "
                                    "WHERE user = ?1 AND uuid = ?2", error);
  if (stmt == NULL)
    return NULL;

  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_text (stmt, 2, uuid, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    session = session_from_row (stmt);
  _helix_gateway_db_release (stmt);

  if (rc == SQLITE_DONE)
    g_set_error_literal (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NO_SUCH_SESSION,
                         _("You have no session with this id"));
  else if (rc != SQLITE_ROW)
    helix_db_set_error (error, db, rc, _("Could not read the sessions"));

  return session;
}

/* A user's live sessions, newest first: through the index sync_sessions_list
 * (user, deleted, updated_us, uuid, …), with no sorting. */
#define LIVE_SESSIONS \
  "FROM sync_sessions WHERE user = ?1 AND deleted = 0 ORDER BY updated_us DESC, uuid DESC"

/**
 * helix_gateway_db_list_sessions:
 * @self: a gateway database
 * @user_id: whose sessions
 * @error: a location for a #GError
 *
 * Returns: (transfer container) (element-type HelixGatewaySyncSession): the
 *   user's sessions that are not deleted, most recently updated first
 */
static GPtrArray *
list_sessions (HelixGatewayDb  *self,
               gint64           user_id,
               GError         **error)
{
  g_autoptr(GPtrArray) sessions = NULL;
  sqlite3_stmt *stmt;
  sqlite3 *db;
  int rc;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), NULL);

  db = _helix_gateway_db_get_handle (self, error);
  if (db == NULL)
    return NULL;

  stmt = _helix_gateway_db_prepare (self,
                                    "SELECT " SESSION_COLUMNS " " LIVE_SESSIONS, error);
  if (stmt == NULL)
    return NULL;

  sqlite3_bind_int64 (stmt, 1, user_id);

  sessions = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_gateway_sync_session_free);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (sessions, session_from_row (stmt));
  _helix_gateway_db_release (stmt);

  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, db, rc, _("Could not read the sessions"));
      return NULL;
    }

  return g_steal_pointer (&sessions);
}

/**
 * helix_gateway_db_foreach_session:
 * @self: a gateway database
 * @user_id: whose sessions
 * @func: called for each session
 * @user_data: for @func
 * @error: a location for a #GError
 *
 * Calls @func for each of the user's sessions that are not deleted, most
 * recently updated first: the sessions of helix_gateway_db_list_sessions(),
 * without copying them. The session @func gets is valid only during the
 * call and has only @uuid, @title, @pinned, @archived, @created_us and
 * @updated_us (the HLCs are %NULL). @func must not use the database.
 *
 * Returns: %TRUE if every session was passed to @func; %FALSE with @error
 *   set otherwise
 */
static gboolean
foreach_session (HelixGatewayDb              *self,
                 gint64                       user_id,
                 HelixGatewaySyncSessionFunc  func,
                 gpointer                     user_data,
                 GError                     **error)
{
  HelixGatewaySyncSession session = { 0 };
  sqlite3_stmt *stmt;
  sqlite3 *db;
  int rc;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), FALSE);
  g_return_val_if_fail (func != NULL, FALSE);

  db = _helix_gateway_db_get_handle (self, error);
  if (db == NULL)
    return FALSE;

  /* Only what a list shows, all of it in sync_sessions_list: SQLite reads
   * the index alone (test-gateway-sync-db checks the plan). */
  stmt = _helix_gateway_db_prepare (self,
                                    "SELECT uuid, title, pinned, archived, created_us, "
                                    "updated_us " LIVE_SESSIONS, error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, user_id);

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      /* Borrowed: valid until the next step. */
      session.uuid = (char *) sqlite3_column_text (stmt, 0);
      session.title = (char *) sqlite3_column_text (stmt, 1);
      session.pinned = sqlite3_column_int (stmt, 2) != 0;
      session.archived = sqlite3_column_int (stmt, 3) != 0;
      session.created_us = sqlite3_column_int64 (stmt, 4);
      session.updated_us = sqlite3_column_int64 (stmt, 5);
      /* NOT NULL columns: NULL only when out of memory. */
      if G_UNLIKELY (session.uuid == NULL || session.title == NULL)
        {
          rc = SQLITE_NOMEM;
          break;
        }
      func (&session, user_data);
    }
  _helix_gateway_db_release (stmt);

  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, db, rc, _("Could not read the sessions"));
      return FALSE;
    }

  return TRUE;
}

/**
 * helix_gateway_db_list_messages:
 * @self: a gateway database
 * @user_id: whose messages
 * @session: the session
 * @after_seq: only messages first stored after this seq
 * @limit: at most this many (at least 1)
 * @error: a location for a #GError
 *
 * Returns: (transfer container) (element-type HelixGatewaySyncMessage): the
 *   messages of @session, in the order they were first stored
 */
static GPtrArray *
list_messages (HelixGatewayDb  *self,
               gint64           user_id,
               const char      *session,
               gint64           after_seq,
               guint            limit,
               GError         **error)
{
  g_autoptr(GPtrArray) messages = NULL;
  sqlite3_stmt *stmt;
  sqlite3 *db;
  int rc;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), NULL);
  g_return_val_if_fail (session != NULL, NULL);
  g_return_val_if_fail (limit >= 1 && limit <= G_MAXINT, NULL);

  db = _helix_gateway_db_get_handle (self, error);
  if (db == NULL)
    return NULL;

  /* Through sync_messages_session. */
  stmt = _helix_gateway_db_prepare (self,
                                    "SELECT uuid, session, role, content, status, model, provider, "
                                    "  tokens_in, tokens_out, cost, created_us, hlc, seq "
                                    "FROM sync_messages WHERE user = ?1 AND session = ?2 AND seq > "
                                    "?3 "
                                    "ORDER BY seq LIMIT ?4", error);
  if (stmt == NULL)
    return NULL;

  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_text (stmt, 2, session, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, after_seq);
  sqlite3_bind_int (stmt, 4, (int) limit);

  messages = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_gateway_sync_message_free);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      HelixGatewaySyncMessage *message = g_new0 (HelixGatewaySyncMessage, 1);

      message->uuid = dup_column (stmt, 0);
      message->session = dup_column (stmt, 1);
      message->role = dup_column (stmt, 2);
      message->content = dup_column (stmt, 3);
      message->status = dup_column (stmt, 4);
      message->model = dup_column (stmt, 5);
      message->provider = dup_column (stmt, 6);
      message->tokens_in = sqlite3_column_type (stmt, 7) == SQLITE_NULL
                           ? -1 : sqlite3_column_int64 (stmt, 7);
      message->tokens_out = sqlite3_column_type (stmt, 8) == SQLITE_NULL
                            ? -1 : sqlite3_column_int64 (stmt, 8);
      message->cost = sqlite3_column_type (stmt, 9) == SQLITE_NULL
                      ? -1.0 : sqlite3_column_double (stmt, 9);
      message->created_us = sqlite3_column_int64 (stmt, 10);
      message->hlc = dup_column (stmt, 11);
      message->seq = sqlite3_column_int64 (stmt, 12);
      g_ptr_array_add (messages, message);
    }
  _helix_gateway_db_release (stmt);

  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, db, rc, _("Could not read the messages"));
      return NULL;
    }

  return g_steal_pointer (&messages);
}

/* The public readers time their query for helix_db_query_duration_seconds. */

HelixGatewaySyncSession *
helix_gateway_db_get_session (HelixGatewayDb  *self,
                              gint64           user_id,
                              const char      *uuid,
                              GError         **error)
{
  gint64 started_us = g_get_monotonic_time ();
  HelixGatewaySyncSession *session = get_session (self, user_id, uuid, error);

  helix_gateway_metrics_observe_query ("get_session", g_get_monotonic_time () - started_us);

  return session;
}

GPtrArray *
helix_gateway_db_list_sessions (HelixGatewayDb  *self,
                                gint64           user_id,
                                GError         **error)
{
  gint64 started_us = g_get_monotonic_time ();
  GPtrArray *sessions = list_sessions (self, user_id, error);

  helix_gateway_metrics_observe_query ("list_sessions", g_get_monotonic_time () - started_us);

  return sessions;
}

gboolean
helix_gateway_db_foreach_session (HelixGatewayDb              *self,
                                  gint64                       user_id,
                                  HelixGatewaySyncSessionFunc  func,
                                  gpointer                     user_data,
                                  GError                     **error)
{
  gint64 started_us = g_get_monotonic_time ();
  gboolean done = foreach_session (self, user_id, func, user_data, error);

  /* The same query as helix_gateway_db_list_sessions(), but for the columns. */
  helix_gateway_metrics_observe_query ("list_sessions", g_get_monotonic_time () - started_us);

  return done;
}

GPtrArray *
helix_gateway_db_list_messages (HelixGatewayDb  *self,
                                gint64           user_id,
                                const char      *session,
                                gint64           after_seq,
                                guint            limit,
                                GError         **error)
{
  gint64 started_us = g_get_monotonic_time ();
  GPtrArray *messages = list_messages (self, user_id, session, after_seq, limit, error);

  helix_gateway_metrics_observe_query ("list_messages", g_get_monotonic_time () - started_us);

  return messages;
}
