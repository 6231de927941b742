/* helix-audit-log.c: the tamper-evident audit trail
 *
 * An append-only SQLite table of entries. Each entry is one binary record
 * (its seq, time, channel, actor, event and sanitized JSON payload, each
 * length-prefixed) and its hash:
 *
 *     hash(n) = SHA-256 ("helix-audit-v1\0" ‖ hash(n-1) ‖ record(n)),  hash(0) = 32 zero bytes
 *
 * so an edited, inserted, deleted or moved entry breaks the chain from there
 * on. Every N entries or T seconds (and on demand) the (size, head hash) pair
 * is signed with the log's ed25519 key into a checkpoint
 * (helix-audit-checkpoint.c). Checkpoints kept elsewhere catch what the chain
 * alone cannot: a cut tail, and a chain rewritten from some point on and
 * signed again with another key.
 *
 * Appends are durable (synchronous=FULL) before they return: a privileged
 * action is logged first and runs only if the entry was written.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-audit"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
/* SHA256_Init() and friends are deprecated in OpenSSL 3 in favour of EVP, but
 * they are the SHA-NI code without EVP's dispatch, which costs 40% more per
 * 256-byte record; verifying a long chain is all hashing. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "helix-audit-log-private.h"
#include "helix-sync-json.h"

#define SCHEMA_VERSION 1
#define RECORD_MAGIC   "HXA1"
#define DOMAIN         "helix-audit-v1"   /* hashed with its terminating nul */
#define DOMAIN_LEN     (sizeof DOMAIN)

#define DEFAULT_CHECKPOINT_ENTRIES 1000
#define DEFAULT_CHECKPOINT_SECONDS 300

static const char schema[] =
  "CREATE TABLE IF NOT EXISTS entries ("
  "  seq    INTEGER PRIMARY KEY,"
  "  record BLOB NOT NULL,"
  "  hash   BLOB NOT NULL CHECK (length (hash) = 32)"
  ");"
  "CREATE TABLE IF NOT EXISTS checkpoints ("
  "  size       INTEGER PRIMARY KEY,"
  "  note       TEXT    NOT NULL,"
  "  created_us INTEGER NOT NULL"
  ");";

struct _HelixAuditLog
{
  GObject           parent_instance;

  char             *path;
  char             *origin;
  sqlite3          *db;
  sqlite3_stmt     *begin;
  sqlite3_stmt     *insert;
  sqlite3_stmt     *commit;
  sqlite3_stmt     *rollback;
  GByteArray       *record;        /* the one being appended */
  HelixAuditSigner *signer;        /* (nullable): no checkpoints without it */

  gint64            size;
  guint8            head[32];

  guint             checkpoint_entries;
  guint             checkpoint_seconds;
  gint64            checkpoint_size;  /* of the newest checkpoint */
  gint64            checkpoint_time;  /* monotonic µs */
};

G_DEFINE_FINAL_TYPE (HelixAuditLog, helix_audit_log, G_TYPE_OBJECT)

void
helix_audit_report_clear (HelixAuditReport *report)
{
  g_clear_pointer (&report->message, g_free);
}

/**
 * helix_audit_entry_hash:
 * @prev: (array fixed-size=32): the hash of the entry before
 * @record: the entry's record
 * @len: its length
 * @out: (array fixed-size=32): where the hash goes
 */
void
helix_audit_entry_hash (const guint8 *prev,
                        const guint8 *record,
                        gsize         len,
                        guint8       *out)
{
  SHA256_CTX ctx;
  guint8 prefix[DOMAIN_LEN + 32];

  /* @out may be @prev. */
  memcpy (prefix, DOMAIN, DOMAIN_LEN);
  memcpy (prefix + DOMAIN_LEN, prev, 32);
  SHA256_Init (&ctx);
  SHA256_Update (&ctx, prefix, sizeof prefix);
  SHA256_Update (&ctx, record, len);
  SHA256_Final (out, &ctx);
}

/* Records */

/* Big-endian numbers and length-prefixed strings; each returns where it ended. */
static guint8 *
put_u64 (guint8  *p,
         guint64  value)
{
  for (int i = 7; i >= 0; i--, value >>= 8)
    p[i] = value & 0xff;

  return p + 8;
}

static guint8 *
put_text (guint8     *p,
          const char *text,
          gsize       len,
          guint       width)   /* of the length: 2 or 4 bytes */
{
  for (guint i = 0; i < width; i++)
    p[i] = (len >> (8 * (width - 1 - i))) & 0xff;
  memcpy (p + width, text, len);

  return p + width + len;
}

/* The record of @entry as entry @seq, into @out (reused from entry to entry). */
static void
encode_record (GByteArray            *out,
               gint64                 seq,
               const HelixAuditEntry *entry)
{
  gsize channel_len = strlen (entry->channel);
  gsize actor_len = strlen (entry->actor);
  gsize event_len = strlen (entry->event);
  gsize payload_len = strlen (entry->payload);
  guint8 *p;

  g_byte_array_set_size (out, (guint) (4 + 8 + 8 + 2 + channel_len + 2 + actor_len + 2 +
                                       event_len + 4 + payload_len));
  p = out->data;
  memcpy (p, RECORD_MAGIC, 4);
  p = put_u64 (p + 4, (guint64) seq);
  p = put_u64 (p, (guint64) entry->time_us);
  p = put_text (p, entry->channel, channel_len, 2);
  p = put_text (p, entry->actor, actor_len, 2);
  p = put_text (p, entry->event, event_len, 2);
  p = put_text (p, entry->payload, payload_len, 4);
  g_assert (p == out->data + out->len);
}

static gboolean
valid_name (const char *name)
{
  return name != NULL && *name != '\0' && strlen (name) <= HELIX_AUDIT_MAX_NAME &&
         g_utf8_validate (name, -1, NULL);
}

static gboolean
check_entry (const HelixAuditEntry  *entry,
             GError                **error)
{
  g_autoptr(GError) json_error = NULL;
  const char *p;
  gsize len;

  if (!valid_name (entry->channel) || !valid_name (entry->actor) || !valid_name (entry->event))
    {
      g_set_error_literal (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_INVALID,
                           _("An audit entry needs a channel, an actor and an event of 1 to 256 bytes of text"));
      return FALSE;
    }

  p = entry->payload;
  while (p != NULL && g_ascii_isspace (*p))
    p++;
  if (p == NULL || *p != '{' || (len = strlen (entry->payload)) > HELIX_AUDIT_MAX_PAYLOAD ||
      !helix_json_validate (entry->payload, len, 32, &json_error))
    {
      g_set_error_literal (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_INVALID,
                           _("An audit payload must be a JSON object of at most 64 KiB, 32 levels deep"));
      return FALSE;
    }

  return TRUE;
}

/* The database */

static GError *
db_error (sqlite3    *db,
          const char *what)
{
  return g_error_new (HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO, _("The audit log could not %s: %s"),
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
helix_audit_log_finalize (GObject *object)
{
  HelixAuditLog *self = HELIX_AUDIT_LOG (object);

  helix_audit_log_close (self);
  g_clear_pointer (&self->signer, helix_audit_signer_unref);
  g_free (self->path);
  g_free (self->origin);

  g_byte_array_unref (self->record);

  G_OBJECT_CLASS (helix_audit_log_parent_class)->finalize (object);
}

static void
helix_audit_log_class_init (HelixAuditLogClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = helix_audit_log_finalize;
}

static void
helix_audit_log_init (HelixAuditLog *self)
{
  self->checkpoint_entries = DEFAULT_CHECKPOINT_ENTRIES;
  self->checkpoint_seconds = DEFAULT_CHECKPOINT_SECONDS;
  self->record = g_byte_array_sized_new (1024);
}

static gboolean
read_state (HelixAuditLog  *self,
            GError        **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (sqlite3_prepare_v2 (self->db, "SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1",
                          -1, &stmt, NULL) != SQLITE_OK)
    {
      g_propagate_error (error, db_error (self->db, "be read"));
      return FALSE;
    }

  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW && sqlite3_column_bytes (stmt, 1) == 32)
    {
      self->size = sqlite3_column_int64 (stmt, 0);
      memcpy (self->head, sqlite3_column_blob (stmt, 1), 32);
    }
  sqlite3_finalize (stmt);

  if (sqlite3_prepare_v2 (self->db, "SELECT max (size) FROM checkpoints", -1, &stmt, NULL) ==
      SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW)
    self->checkpoint_size = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  self->checkpoint_time = g_get_monotonic_time ();

  return TRUE;
}

/**
 * helix_audit_log_open:
 * @path: the log's file; made if missing (mode 0600)
 * @origin: the log's name in checkpoints ("helix-audit/<host>"); also the
 *   name of its key
 * @signer: (nullable): the key that signs checkpoints
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the log
 */
HelixAuditLog *
helix_audit_log_open (const char        *path,
                      const char        *origin,
                      HelixAuditSigner  *signer,
                      GError           **error)
{
  g_autoptr(HelixAuditLog) self = NULL;
  sqlite3_stmt *stmt = NULL;
  int persist_wal = 1;
  int version = 0;
  int fd;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (origin != NULL && *origin != '\0' && strchr (origin, '\n') == NULL, NULL);

  self = g_object_new (HELIX_TYPE_AUDIT_LOG, NULL);
  self->path = g_strdup (path);
  self->origin = g_strdup (origin);
  self->signer = signer != NULL ? helix_audit_signer_ref (signer) : NULL;

  if ((fd = g_open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
    {
      int saved_errno = errno;

      g_set_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO,
                   _("Could not open the audit log %s: %s"), path, g_strerror (saved_errno));
      return NULL;
    }
  close (fd);

  if (sqlite3_open_v2 (path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
      SQLITE_OK)
    {
      g_set_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO,
                   _("Could not open the audit log %s: %s"), path,
                   self->db != NULL ? sqlite3_errmsg (self->db) : "out of memory");
      g_clear_pointer (&self->db, sqlite3_close);
      return NULL;
    }
  sqlite3_busy_timeout (self->db, 5000);

  if (sqlite3_prepare_v2 (self->db, "PRAGMA user_version", -1, &stmt, NULL) == SQLITE_OK &&
      sqlite3_step (stmt) == SQLITE_ROW)
    version = sqlite3_column_int (stmt, 0);
  sqlite3_finalize (stmt);
  if (version > SCHEMA_VERSION)
    {
      g_set_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_NEWER,
                   _("The audit log %s was written by a newer Helix. Update Helix."), path);
      g_clear_pointer (&self->db, sqlite3_close);
      return NULL;
    }

  if (!exec (self->db, "PRAGMA journal_mode = WAL", "use its journal", error) ||
      !exec (self->db, "PRAGMA synchronous = FULL", "set its durability", error) ||
      /* Verifying reads the whole file: mapped, it is not copied page by page. */
      !exec (self->db, "PRAGMA mmap_size = 1073741824", "map its file", error) ||
      !exec (self->db, "PRAGMA cache_size = -16384", "size its cache", error) ||
      !exec (self->db, "BEGIN IMMEDIATE", "start a transaction", error) ||
      !exec (self->db, schema, "create its tables", error) ||
      !exec (self->db, "PRAGMA user_version = 1", "record its schema", error) ||
      !exec (self->db, "COMMIT", "save its tables", error) ||
      !read_state (self, error))
    {
      g_clear_pointer (&self->db, sqlite3_close);
      return NULL;
    }

  /* The WAL stays when the log is closed: a commit that only overwrites the
   * file syncs about twice as fast as one that makes it grow. */
  sqlite3_file_control (self->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist_wal);

  /* A single durable append is one fsync of the WAL; nothing else of it
   * should cost, not even parsing its BEGIN and COMMIT. */
  if (sqlite3_prepare_v3 (self->db, "BEGIN IMMEDIATE", -1, SQLITE_PREPARE_PERSISTENT, &self->begin,
                          NULL) != SQLITE_OK ||
      sqlite3_prepare_v3 (self->db, "INSERT INTO entries (seq, record, hash) VALUES (?1, ?2, ?3)",
                          -1, SQLITE_PREPARE_PERSISTENT, &self->insert, NULL) != SQLITE_OK ||
      sqlite3_prepare_v3 (self->db, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &self->commit,
                          NULL) != SQLITE_OK ||
      sqlite3_prepare_v3 (self->db, "ROLLBACK", -1, SQLITE_PREPARE_PERSISTENT, &self->rollback,
                          NULL) != SQLITE_OK)
    {
      g_propagate_error (error, db_error (self->db, "prepare its writes"));
      helix_audit_log_close (self);
      return NULL;
    }

  return g_steal_pointer (&self);
}

void
helix_audit_log_close (HelixAuditLog *self)
{
  g_return_if_fail (HELIX_IS_AUDIT_LOG (self));

  g_clear_pointer (&self->begin, sqlite3_finalize);
  g_clear_pointer (&self->insert, sqlite3_finalize);
  g_clear_pointer (&self->commit, sqlite3_finalize);
  g_clear_pointer (&self->rollback, sqlite3_finalize);
  g_clear_pointer (&self->db, sqlite3_close);
}

const char *
helix_audit_log_get_path (HelixAuditLog *self)
{
  g_return_val_if_fail (HELIX_IS_AUDIT_LOG (self), NULL);

  return self->path;
}

/* Entries in the log. */
gint64
helix_audit_log_get_size (HelixAuditLog *self)
{
  g_return_val_if_fail (HELIX_IS_AUDIT_LOG (self), 0);

  return self->size;
}

/**
 * helix_audit_log_set_checkpoint_every:
 * @self: a log
 * @n_entries: a checkpoint after this many new entries (0: never)
 * @seconds: or after this long with new entries (0: never)
 */
void
helix_audit_log_set_checkpoint_every (HelixAuditLog *self,
                                      guint          n_entries,
                                      guint          seconds)
{
  g_return_if_fail (HELIX_IS_AUDIT_LOG (self));

  self->checkpoint_entries = n_entries;
  self->checkpoint_seconds = seconds;
}

/* Checkpoints */

static HelixAuditCheckpoint *
store_checkpoint (HelixAuditLog  *self,
                  GError        **error)
{
  g_autoptr(HelixAuditCheckpoint) checkpoint = NULL;
  sqlite3_stmt *stmt = NULL;
  int rc;

  checkpoint = helix_audit_checkpoint_sign (self->signer, self->origin, self->size, self->head);
  if (sqlite3_prepare_v2 (self->db,
                          "INSERT OR REPLACE INTO checkpoints (size, note, created_us) VALUES (?1, ?2, ?3)",
                          -1, &stmt, NULL) != SQLITE_OK)
    {
      g_propagate_error (error, db_error (self->db, "store a checkpoint"));
      return NULL;
    }
  sqlite3_bind_int64 (stmt, 1, checkpoint->size);
  sqlite3_bind_text (stmt, 2, checkpoint->note, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, g_get_real_time ());
  rc = sqlite3_step (stmt);
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      g_propagate_error (error, db_error (self->db, "store a checkpoint"));
      return NULL;
    }

  self->checkpoint_size = self->size;
  self->checkpoint_time = g_get_monotonic_time ();
  return g_steal_pointer (&checkpoint);
}

/**
 * helix_audit_log_set_signer:
 * @self: a log
 * @signer: (nullable): the key that signs its checkpoints from now on
 *
 * For a key that arrives after the log was opened (the desktop's, from the
 * keyring). Its name must be the log's origin.
 */
void
helix_audit_log_set_signer (HelixAuditLog    *self,
                            HelixAuditSigner *signer)
{
  g_return_if_fail (HELIX_IS_AUDIT_LOG (self));

  if (signer != NULL)
    helix_audit_signer_ref (signer);
  g_clear_pointer (&self->signer, helix_audit_signer_unref);
  self->signer = signer;
}

/**
 * helix_audit_log_checkpoint:
 * @self: a log with a signer
 * @error: return location for a #GError
 *
 * Signs and stores the log's (size, head) now.
 *
 * Returns: (transfer full) (nullable): the checkpoint, to hand to those who
 *   keep them (webhook batches, clients)
 */
HelixAuditCheckpoint *
helix_audit_log_checkpoint (HelixAuditLog  *self,
                            GError        **error)
{
  g_return_val_if_fail (HELIX_IS_AUDIT_LOG (self), NULL);
  g_return_val_if_fail (self->signer != NULL, NULL);
  g_return_val_if_fail (self->db != NULL, NULL);

  return store_checkpoint (self, error);
}

static void
maybe_checkpoint (HelixAuditLog *self)
{
  g_autoptr(HelixAuditCheckpoint) checkpoint = NULL;
  g_autoptr(GError) error = NULL;
  gint64 new_entries = self->size - self->checkpoint_size;

  if (self->signer == NULL || new_entries <= 0)
    return;
  if (!((self->checkpoint_entries > 0 && new_entries >= self->checkpoint_entries) ||
        (self->checkpoint_seconds > 0 &&
         g_get_monotonic_time () - self->checkpoint_time >=
         (gint64) self->checkpoint_seconds * G_USEC_PER_SEC)))
    return;

  checkpoint = store_checkpoint (self, &error);
  if (checkpoint == NULL)
    g_warning ("%s", error->message);
}

/* Appending */

/* Another process may have appended since this one last did: the account
 * commands of the command line record while the gateway runs. Within the
 * write transaction, the tail is read again, so that both extend one chain. */
static gboolean
reread_tail (HelixAuditLog  *self,
             gint64         *size,
             guint8         *head,
             GError        **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (sqlite3_prepare_v2 (self->db, "SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1",
                          -1, &stmt, NULL) != SQLITE_OK)
    {
      g_propagate_error (error, db_error (self->db, "be read"));
      return FALSE;
    }

  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW && sqlite3_column_bytes (stmt, 1) == 32)
    {
      *size = sqlite3_column_int64 (stmt, 0);
      memcpy (head, sqlite3_column_blob (stmt, 1), 32);
    }
  else if (rc == SQLITE_DONE)
    {
      *size = 0;
      memset (head, 0, 32);
    }
  else
    {
      g_propagate_error (error, db_error (self->db, "be read"));
      sqlite3_finalize (stmt);
      return FALSE;
    }
  sqlite3_finalize (stmt);

  return TRUE;
}

/* Runs one of the prepared transaction statements. */
static gboolean
step_once (sqlite3_stmt *stmt)
{
  int rc = sqlite3_step (stmt);

  sqlite3_reset (stmt);
  return rc == SQLITE_DONE;
}

static gboolean
insert_entries (HelixAuditLog          *self,
                const HelixAuditEntry  *entries,
                guint                   n_entries,
                gint64                 *first_seq,
                GError                **error)
{
  guint8 head[32];
  gint64 seq;
  gint64 start;

  for (guint i = 0; i < n_entries; i++)
    if (!check_entry (&entries[i], error))
      return FALSE;

  if (!step_once (self->begin))
    {
      g_propagate_error (error, db_error (self->db, "start a transaction"));
      return FALSE;
    }

  if (!reread_tail (self, &start, head, error))
    {
      step_once (self->rollback);
      return FALSE;
    }
  seq = start;
  for (guint i = 0; i < n_entries; i++)
    {
      HelixAuditEntry entry = entries[i];
      guint8 hash[32];

      if (entry.time_us == 0)
        entry.time_us = g_get_real_time ();
      encode_record (self->record, ++seq, &entry);
      helix_audit_entry_hash (head, self->record->data, self->record->len, hash);

      sqlite3_bind_int64 (self->insert, 1, seq);
      sqlite3_bind_blob (self->insert, 2, self->record->data, (int) self->record->len, SQLITE_STATIC);
      sqlite3_bind_blob (self->insert, 3, hash, 32, SQLITE_STATIC);
      if (!step_once (self->insert))
        {
          g_propagate_error (error, db_error (self->db, "be written"));
          step_once (self->rollback);
          return FALSE;
        }
      memcpy (head, hash, 32);
    }

  /* Durable here (synchronous=FULL): only now may the action go ahead. */
  if (!step_once (self->commit))
    {
      g_propagate_error (error, db_error (self->db, "be written"));
      step_once (self->rollback);
      return FALSE;
    }

  if (first_seq != NULL)
    *first_seq = start + 1;
  self->size = seq;
  memcpy (self->head, head, 32);
  maybe_checkpoint (self);

  return TRUE;
}

/**
 * helix_audit_log_append:
 * @self: a log
 * @channel: the channel ("commands", "api", …)
 * @actor: who
 * @event: what
 * @payload: (nullable): a sanitized JSON object, or %NULL for `{}`
 * @error: return location for a #GError
 *
 * Appends one entry and waits until it is on disk.
 *
 * Returns: its seq, or 0 on error: then the action it records must not run
 */
gint64
helix_audit_log_append (HelixAuditLog  *self,
                        const char     *channel,
                        const char     *actor,
                        const char     *event,
                        const char     *payload,
                        GError        **error)
{
  HelixAuditEntry entry = { 0, 0, channel, actor, event, payload != NULL ? payload : "{}" };
  gint64 seq = 0;

  g_return_val_if_fail (HELIX_IS_AUDIT_LOG (self), 0);

  if (self->db == NULL)
    {
      g_set_error_literal (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO,
                           _("The audit log is closed"));
      return 0;
    }

  return insert_entries (self, &entry, 1, &seq, error) ? seq : 0;
}

/**
 * helix_audit_log_append_batch:
 * @self: a log
 * @entries: (array length=n_entries): entries; their seq is ignored, a
 *   time_us of 0 means now
 * @n_entries: how many
 * @first_seq: (out) (optional): the seq of the first
 * @error: return location for a #GError
 *
 * Appends all of them in one durable transaction, or none.
 *
 * Returns: %TRUE on success
 */
gboolean
helix_audit_log_append_batch (HelixAuditLog          *self,
                              const HelixAuditEntry  *entries,
                              guint                   n_entries,
                              gint64                 *first_seq,
                              GError                **error)
{
  g_return_val_if_fail (HELIX_IS_AUDIT_LOG (self), FALSE);
  g_return_val_if_fail (entries != NULL || n_entries == 0, FALSE);

  if (self->db == NULL)
    {
      g_set_error_literal (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO,
                           _("The audit log is closed"));
      return FALSE;
    }

  return n_entries == 0 || insert_entries (self, entries, n_entries, first_seq, error);
}

/* Reading */

static guint32
read_u16 (const guint8 *p)
{
  return ((guint32) p[0] << 8) | p[1];
}

static guint32
read_u32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static guint64 read_u64 (const guint8 *p);

/* One length-prefixed field of a record, copied out with a nul. */
static gboolean
take_field (const guint8 **p,
            const guint8  *end,
            guint          prefix,
            GString       *into)
{
  guint32 len;

  if ((gsize) (end - *p) < prefix)
    return FALSE;
  len = prefix == 2 ? read_u16 (*p) : read_u32 (*p);
  *p += prefix;
  if ((gsize) (end - *p) < len)
    return FALSE;
  g_string_truncate (into, 0);
  g_string_append_len (into, (const char *) *p, len);
  *p += len;

  return TRUE;
}

/**
 * helix_audit_log_read:
 * @self: a log
 * @from_seq: with @newest_first, the entries before this seq (0: from the
 *   newest); else the entries after it
 * @newest_first: the direction
 * @func: called with each entry (valid during the call) until it returns %FALSE
 * @user_data: for @func
 * @error: return location for a #GError
 *
 * Reads entries back without checking the chain (helix_audit_log_verify()
 * does). A record that does not decode ends the reading with
 * %HELIX_AUDIT_ERROR_INVALID.
 *
 * Returns: %TRUE if every entry read decoded
 */
gboolean
helix_audit_log_read (HelixAuditLog       *self,
                      gint64               from_seq,
                      gboolean             newest_first,
                      HelixAuditReadFunc   func,
                      gpointer             user_data,
                      GError             **error)
{
  g_autoptr(GString) channel = g_string_new (NULL);
  g_autoptr(GString) actor = g_string_new (NULL);
  g_autoptr(GString) event = g_string_new (NULL);
  g_autoptr(GString) payload = g_string_new (NULL);
  sqlite3_stmt *stmt = NULL;
  gboolean ok = TRUE;
  int rc;

  g_return_val_if_fail (HELIX_IS_AUDIT_LOG (self), FALSE);
  g_return_val_if_fail (func != NULL, FALSE);

  if (self->db == NULL)
    {
      g_set_error_literal (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO,
                           _("The audit log is closed"));
      return FALSE;
    }

  if (sqlite3_prepare_v2 (self->db,
                          newest_first
                            ? "SELECT seq, record FROM entries WHERE seq < ?1 ORDER BY seq DESC"
                            : "SELECT seq, record FROM entries WHERE seq > ?1 ORDER BY seq",
                          -1, &stmt, NULL) != SQLITE_OK)
    {
      g_propagate_error (error, db_error (self->db, "be read"));
      return FALSE;
    }
  sqlite3_bind_int64 (stmt, 1, newest_first && from_seq <= 0 ? G_MAXINT64 : from_seq);

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      const guint8 *record = sqlite3_column_blob (stmt, 1);
      const guint8 *end = record + sqlite3_column_bytes (stmt, 1);
      const guint8 *p = record + 20;
      HelixAuditEntry entry = { 0 };

      entry.seq = sqlite3_column_int64 (stmt, 0);
      if (record == NULL || end - record < 20 || memcmp (record, RECORD_MAGIC, 4) != 0 ||
          !take_field (&p, end, 2, channel) || !take_field (&p, end, 2, actor) ||
          !take_field (&p, end, 2, event) || !take_field (&p, end, 4, payload))
        {
          g_set_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_INVALID,
                       _("Entry %" G_GINT64_FORMAT " of the audit log cannot be read"), entry.seq);
          ok = FALSE;
          break;
        }
      entry.time_us = (gint64) read_u64 (record + 12);
      entry.channel = channel->str;
      entry.actor = actor->str;
      entry.event = event->str;
      entry.payload = payload->str;
      if (!func (&entry, user_data))
        break;
    }

  if (ok && rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      g_propagate_error (error, db_error (self->db, "be read"));
      ok = FALSE;
    }
  sqlite3_finalize (stmt);

  return ok;
}

/**
 * helix_audit_log_get_latest_checkpoint:
 * @self: a log
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the newest stored checkpoint, not
 *   verified; %NULL without error when there is none
 */
HelixAuditCheckpoint *
helix_audit_log_get_latest_checkpoint (HelixAuditLog  *self,
                                       GError        **error)
{
  HelixAuditCheckpoint *checkpoint = NULL;
  sqlite3_stmt *stmt = NULL;

  g_return_val_if_fail (HELIX_IS_AUDIT_LOG (self), NULL);

  if (sqlite3_prepare_v2 (self->db, "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                          -1, &stmt, NULL) != SQLITE_OK)
    {
      g_propagate_error (error, db_error (self->db, "be read"));
      return NULL;
    }
  if (sqlite3_step (stmt) == SQLITE_ROW)
    {
      checkpoint = g_new0 (HelixAuditCheckpoint, 1);
      checkpoint->origin = g_strdup (self->origin);
      checkpoint->size = sqlite3_column_int64 (stmt, 0);
      checkpoint->note = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
    }
  sqlite3_finalize (stmt);

  return checkpoint;
}

/* Verifying */

static gboolean
report (HelixAuditReport  *out,
        HelixAuditProblem  problem,
        gint64             seq,
        const char        *format,
        ...) G_GNUC_PRINTF (4, 5);

static gboolean
report (HelixAuditReport  *out,
        HelixAuditProblem  problem,
        gint64             seq,
        const char        *format,
        ...)
{
  va_list args;

  out->problem = problem;
  out->seq = seq;
  g_free (out->message);
  va_start (args, format);
  out->message = g_strdup_vprintf (format, args);
  va_end (args);

  return TRUE;
}

static guint64
read_u64 (const guint8 *p)
{
  return ((guint64) p[0] << 56) | ((guint64) p[1] << 48) | ((guint64) p[2] << 40) |
         ((guint64) p[3] << 32) | ((guint64) p[4] << 24) | ((guint64) p[5] << 16) |
         ((guint64) p[6] << 8) | (guint64) p[7];
}

/* A stored checkpoint, and once checked against the trusted key, what it says. */
typedef struct
{
  gint64                size;
  char                 *note;
  HelixAuditCheckpoint *checkpoint;   /* (nullable): it is signed by the key */
  char                 *problem;      /* (nullable): why it is not */
} StoredCheckpoint;

static void
stored_checkpoint_clear (gpointer data)
{
  StoredCheckpoint *stored = data;

  g_clear_pointer (&stored->note, g_free);
  g_clear_pointer (&stored->checkpoint, helix_audit_checkpoint_free);
  g_clear_pointer (&stored->problem, g_free);
}

/* The stored checkpoints by size, not checked yet. */
static gboolean
read_checkpoints (HelixAuditLog  *self,
                  GArray         *checkpoints,
                  GError        **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (sqlite3_prepare_v2 (self->db, "SELECT size, note FROM checkpoints ORDER BY size", -1, &stmt,
                          NULL) != SQLITE_OK)
    {
      g_propagate_error (error, db_error (self->db, "be read"));
      return FALSE;
    }

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      const char *note = (const char *) sqlite3_column_text (stmt, 1);
      StoredCheckpoint stored = { sqlite3_column_int64 (stmt, 0), g_strdup (note != NULL ? note : "") };

      g_array_append_val (checkpoints, stored);
    }
  sqlite3_finalize (stmt);

  if (rc != SQLITE_DONE)
    {
      g_propagate_error (error, db_error (self->db, "be read"));
      return FALSE;
    }

  return TRUE;
}

/* Checks a stored checkpoint's signature: ed25519, about as slow as hashing
 * a thousand entries, so each range checks those of its own entries. */
static void
check_checkpoint (StoredCheckpoint *stored,
                  const guint8     *public_key,
                  const char       *origin)
{
  g_autoptr(GError) error = NULL;

  stored->checkpoint = helix_audit_checkpoint_parse (stored->note, -1, public_key, origin, &error);
  if (stored->checkpoint == NULL || stored->checkpoint->size != stored->size ||
      g_strcmp0 (stored->checkpoint->origin, origin) != 0)
    {
      g_clear_pointer (&stored->checkpoint, helix_audit_checkpoint_free);
      stored->problem = g_strdup_printf (_("The checkpoint at entry %" G_GINT64_FORMAT " is not signed by this log’s key: %s"),
                                         stored->size,
                                         error != NULL ? error->message : _("it names another log or size"));
    }
}

/* The chain holds when each entry's stored hash is the hash of its record and
 * of the stored hash before it (hash(0) being 32 zero bytes): by induction
 * every stored hash is then the one the chain gives, and the first entry where
 * this fails is the first where the log and the chain part. So no entry needs
 * the hashes before it computed: the log is checked in ranges of seqs at once,
 * one per core, each on its own connection, hashing the rows straight from
 * SQLite's mapped pages. The log's first problem is the first problem of the
 * lowest range that has one, and a range stops as soon as a lower one found
 * something. There are more ranges than threads, taken in order by whichever
 * thread is free: on a busy machine a thread that gets less time checks
 * fewer of them instead of holding the others up. */

#define VERIFY_MIN_THREAD 32768   /* entries: fewer are not worth a thread and a connection */
#define VERIFY_MAX_THREADS 8
#define VERIFY_RANGES_PER_THREAD 16
#define VERIFY_MIN_RANGE  4096

typedef struct
{
  sqlite3               *db;           /* of the thread that checks it */
  guint                  index;
  gint64                 first;        /* seqs: the first range starts at 1 */
  gint64                 last;
  StoredCheckpoint      *checkpoints;  /* those of its entries, by size */
  guint                  n_checkpoints;
  const guint8          *public_key;
  const char            *origin;
  HelixAuditCheckpoint  *known;
  gint                  *found;        /* (atomic) the lowest index of a range with a
                                        * problem; -1 for a bad checkpoint */
  guint8                 anchor[32];   /* the stored hash before its first entry */
  HelixAuditReport       report;       /* its problem, or where it ended */
  GError                *error;
} Range;

/* The other ranges after @index need not go on. */
static void
range_found (Range *range,
             gint   index)
{
  gint found;

  do
    found = g_atomic_int_get (range->found);
  while (found > index && !g_atomic_int_compare_and_exchange (range->found, found, index));
}

/* The seq after @seq that the log has, or 0. */
static gint64
next_seq (sqlite3 *db,
          gint64   seq)
{
  sqlite3_stmt *stmt = NULL;
  gint64 next = 0;

  if (sqlite3_prepare_v2 (db, "SELECT min (seq) FROM entries WHERE seq > ?1", -1, &stmt, NULL) ==
      SQLITE_OK)
    {
      sqlite3_bind_int64 (stmt, 1, seq);
      if (sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_type (stmt, 0) != SQLITE_NULL)
        next = sqlite3_column_int64 (stmt, 0);
    }
  sqlite3_finalize (stmt);

  return next;
}

static gpointer
verify_range (gpointer data)
{
  Range *range = data;
  HelixAuditReport *out = &range->report;
  StoredCheckpoint *checkpoints = range->checkpoints;
  sqlite3_stmt *stmt = NULL;
  guint8 *head = out->head;
  guint next_checkpoint = 0;
  gint64 expected = range->first;
  gboolean stopped = FALSE;
  int rc;

  out->n_entries = range->first - 1;

  /* A checkpoint not signed by the key outweighs any entry: no range need go on. */
  for (guint i = 0; i < range->n_checkpoints; i++)
    {
      check_checkpoint (&checkpoints[i], range->public_key, range->origin);
      if (checkpoints[i].problem != NULL)
        range_found (range, -1);
    }

  /* The stored hash before the range. If it is missing or malformed, the range
   * before reports that entry; this one goes on from zeros, which can only
   * raise an alarm, never hide one. */
  if (range->first > 1)
    {
      if (sqlite3_prepare_v2 (range->db, "SELECT hash FROM entries WHERE seq = ?1", -1, &stmt,
                              NULL) != SQLITE_OK)
        goto failed;
      sqlite3_bind_int64 (stmt, 1, range->first - 1);
      rc = sqlite3_step (stmt);
      if (rc == SQLITE_ROW && sqlite3_column_bytes (stmt, 0) == 32)
        memcpy (head, sqlite3_column_blob (stmt, 0), 32);
      else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        goto failed;
      memcpy (range->anchor, head, 32);
      g_clear_pointer (&stmt, sqlite3_finalize);
    }

  /* seq is the rowid: the rows come in order, straight off the b-tree. */
  if (sqlite3_prepare_v2 (range->db,
                          "SELECT seq, record, hash FROM entries WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq",
                          -1, &stmt, NULL) != SQLITE_OK)
    goto failed;
  sqlite3_bind_int64 (stmt, 1, range->index == 0 ? G_MININT64 : range->first);
  sqlite3_bind_int64 (stmt, 2, range->last);

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      gint64 seq = sqlite3_column_int64 (stmt, 0);
      const guint8 *record;
      const guint8 *stored;
      gsize len;
      guint8 hash[32];

      if (G_UNLIKELY (g_atomic_int_get (range->found) < (gint) range->index))
        {
          stopped = TRUE;
          break;
        }

      if (seq != expected)
        {
          report (out, HELIX_AUDIT_BAD_SEQUENCE, expected,
                  _("Entry %" G_GINT64_FORMAT " is missing (the next one is %" G_GINT64_FORMAT ")"),
                  expected, seq);
          break;
        }

      record = sqlite3_column_blob (stmt, 1);
      len = (gsize) sqlite3_column_bytes (stmt, 1);
      /* The record must say its own place: a moved record does not fit. */
      if (len < 20 || memcmp (record, RECORD_MAGIC, 4) != 0 || (gint64) read_u64 (record + 4) != seq)
        {
          report (out, HELIX_AUDIT_BAD_ENTRY, seq,
                  _("Entry %" G_GINT64_FORMAT " was altered or moved"), seq);
          break;
        }

      helix_audit_entry_hash (head, record, len, hash);
      stored = sqlite3_column_blob (stmt, 2);
      if (sqlite3_column_bytes (stmt, 2) != 32 || memcmp (hash, stored, 32) != 0)
        {
          report (out, HELIX_AUDIT_BAD_ENTRY, seq,
                  _("Entry %" G_GINT64_FORMAT " does not match the chain: it, or one before it, was altered, inserted, deleted or reordered"),
                  seq);
          break;
        }
      memcpy (head, hash, 32);
      out->n_entries = seq;
      expected++;

      while (next_checkpoint < range->n_checkpoints && checkpoints[next_checkpoint].size <= seq)
        {
          HelixAuditCheckpoint *c = checkpoints[next_checkpoint++].checkpoint;

          if (c != NULL && c->size == seq && memcmp (c->head, head, 32) != 0)
            {
              report (out, HELIX_AUDIT_REWRITTEN, seq,
                      _("The log differs from what its checkpoint at entry %" G_GINT64_FORMAT " signed"),
                      seq);
              break;
            }
        }
      if (out->problem != HELIX_AUDIT_OK)
        break;
      if (range->known != NULL && range->known->size == seq &&
          memcmp (range->known->head, head, 32) != 0)
        {
          report (out, HELIX_AUDIT_REWRITTEN, seq,
                  _("The log differs from the checkpoint kept at entry %" G_GINT64_FORMAT ": it was rewritten"),
                  seq);
          break;
        }
    }
  g_clear_pointer (&stmt, sqlite3_finalize);

  if (!stopped && out->problem == HELIX_AUDIT_OK)
    {
      gint64 next;

      if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        goto failed;

      /* The range's last entries are missing: the log has a gap there, or
       * simply ends (then later ranges are empty too). */
      if (expected <= range->last && (next = next_seq (range->db, expected)) != 0)
        report (out, HELIX_AUDIT_BAD_SEQUENCE, expected,
                _("Entry %" G_GINT64_FORMAT " is missing (the next one is %" G_GINT64_FORMAT ")"),
                expected, next);
    }

  if (out->problem != HELIX_AUDIT_OK)
    range_found (range, (gint) range->index);

  return NULL;

failed:
  range->error = db_error (range->db, "be read");
  sqlite3_finalize (stmt);
  range_found (range, (gint) range->index);

  return NULL;
}

typedef struct
{
  Range   *ranges;
  guint    n_ranges;
  gint    *next;       /* (atomic) the next range to take */
  sqlite3 *db;         /* the thread's own connection */
} Worker;

static gpointer
verify_ranges (gpointer data)
{
  Worker *worker = data;
  gint i;

  while ((i = g_atomic_int_add (worker->next, 1)) < (gint) worker->n_ranges)
    {
      worker->ranges[i].db = worker->db;
      verify_range (&worker->ranges[i]);
    }

  return NULL;
}

/* Another connection to the log, for another thread. */
static sqlite3 *
open_reader (HelixAuditLog *self)
{
  sqlite3 *db = NULL;

  if (sqlite3_open_v2 (self->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
      SQLITE_OK ||
      sqlite3_busy_timeout (db, 5000) != SQLITE_OK ||
      sqlite3_exec (db, "PRAGMA mmap_size = 1073741824", NULL, NULL, NULL) != SQLITE_OK)
    {
      g_debug ("No second reader of %s: %s", self->path, db != NULL ? sqlite3_errmsg (db) : "");
      g_clear_pointer (&db, sqlite3_close);
    }

  return db;
}

static gboolean
read_max_seq (HelixAuditLog  *self,
              gint64         *max_seq,
              GError        **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (sqlite3_prepare_v2 (self->db, "SELECT max (seq) FROM entries", -1, &stmt, NULL) != SQLITE_OK)
    {
      g_propagate_error (error, db_error (self->db, "be read"));
      return FALSE;
    }
  rc = sqlite3_step (stmt);
  *max_seq = rc == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0;
  sqlite3_finalize (stmt);
  if (rc != SQLITE_ROW)
    {
      g_propagate_error (error, db_error (self->db, "be read"));
      return FALSE;
    }

  return TRUE;
}

/*
 * _helix_audit_log_verify_in_ranges:
 * @n_ranges: into how many ranges to split the log, at most one per entry;
 *   0 to choose (one range under %VERIFY_MIN_THREAD entries)
 *
 * helix_audit_log_verify(), with the split chosen: the tests check that any
 * split finds the same. The ranges are checked on as many threads as there
 * are cores, at most one per range.
 */
gboolean
_helix_audit_log_verify_in_ranges (HelixAuditLog          *self,
                                   const guint8           *public_key,
                                   HelixAuditCheckpoint   *known,
                                   guint                   n_ranges,
                                   HelixAuditReport       *out,
                                   GError                **error)
{
  g_autoptr(GArray) checkpoints = NULL;
  g_autofree Range *ranges = NULL;
  g_autofree Worker *workers = NULL;
  g_autofree GThread **threads = NULL;
  guint n_threads;
  gint found = G_MAXINT;
  gint next = 0;
  gint64 max_seq = 0;
  gboolean done = FALSE;
  gboolean ok = TRUE;

  g_return_val_if_fail (HELIX_IS_AUDIT_LOG (self), FALSE);
  g_return_val_if_fail (public_key != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);

  memset (out, 0, sizeof *out);
  if (self->db == NULL)
    {
      g_set_error_literal (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO,
                           _("The audit log is closed"));
      return FALSE;
    }

  checkpoints = g_array_new (FALSE, TRUE, sizeof (StoredCheckpoint));
  g_array_set_clear_func (checkpoints, stored_checkpoint_clear);

  /* The log as it is now: entries appended while it is checked are not. */
  if (!read_checkpoints (self, checkpoints, error) || !read_max_seq (self, &max_seq, error))
    return FALSE;

  n_threads = MIN (g_get_num_processors (), VERIFY_MAX_THREADS);
  if (n_ranges == 0)
    {
      n_threads = (guint) CLAMP (max_seq / VERIFY_MIN_THREAD, 1, (gint64) n_threads);
      n_ranges = n_threads == 1 ? 1 : (guint) CLAMP (max_seq / VERIFY_MIN_RANGE, 1,
                                                      (gint64) n_threads * VERIFY_RANGES_PER_THREAD);
    }
  n_ranges = (guint) CLAMP (max_seq, 1, (gint64) n_ranges);
  n_threads = MIN (n_threads, n_ranges);

  ranges = g_new0 (Range, n_ranges);
  for (guint i = 0; i < n_ranges; i++)
    {
      Range *range = &ranges[i];

      range->index = i;
      range->first = i == 0 ? 1 : ranges[i - 1].last + 1;
      range->last = i + 1 == n_ranges ? max_seq : max_seq / n_ranges * (i + 1);
      range->public_key = public_key;
      range->origin = self->origin;
      range->known = known;
      range->found = &found;
    }

  /* Each range checks the checkpoints of its entries; the first and the last
   * take those before and after all entries. */
  for (guint i = 0, c = 0; i < n_ranges; i++)
    {
      if (c < checkpoints->len)
        ranges[i].checkpoints = &g_array_index (checkpoints, StoredCheckpoint, c);
      while (c < checkpoints->len &&
             (i + 1 == n_ranges || g_array_index (checkpoints, StoredCheckpoint, c).size <= ranges[i].last))
        {
          ranges[i].n_checkpoints++;
          c++;
        }
    }

  workers = g_new0 (Worker, n_threads);
  threads = g_new0 (GThread *, n_threads);
  for (guint i = 0; i < n_threads; i++)
    {
      workers[i] = (Worker) { ranges, n_ranges, &next, i == 0 ? self->db : open_reader (self) };
      if (workers[i].db == NULL)
        {
          n_threads = i;  /* no connection to spare: fewer threads */
          break;
        }
    }
  for (guint i = 1; i < n_threads; i++)
    threads[i] = g_thread_new ("helix-audit-verify", verify_ranges, &workers[i]);
  verify_ranges (&workers[0]);
  for (guint i = 1; i < n_threads; i++)
    {
      g_thread_join (threads[i]);
      sqlite3_close (workers[i].db);
    }

  /* A checkpoint not signed by the key first (the one of the fewest entries),
   * then the first range with a problem, or an error, or that ends early (the
   * log ends there). */
  for (guint i = 0; i < checkpoints->len && !done; i++)
    {
      StoredCheckpoint *stored = &g_array_index (checkpoints, StoredCheckpoint, i);

      if (stored->problem != NULL)
        {
          report (out, HELIX_AUDIT_BAD_SIGNATURE, stored->size, "%s", stored->problem);
          done = TRUE;
        }
    }
  for (guint i = 0; i < n_ranges; i++)
    {
      Range *range = &ranges[i];

      if (!done && range->error != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&range->error));
          ok = FALSE;
          done = TRUE;
        }
      else if (!done && i > 0 && memcmp (range->anchor, out->head, 32) != 0)
        {
          /* Each range read the entry between them on its own connection:
           * the log changed (or was replaced) while it was checked. */
          report (out, HELIX_AUDIT_BAD_ENTRY, range->first - 1,
                  _("Entry %" G_GINT64_FORMAT " changed while the log was being verified"),
                  range->first - 1);
          done = TRUE;
        }
      else if (!done)
        {
          helix_audit_report_clear (out);
          *out = range->report;
          range->report.message = NULL;
          done = out->problem != HELIX_AUDIT_OK || out->n_entries < range->last;
        }
      g_clear_error (&range->error);
      helix_audit_report_clear (&range->report);
    }

  if (!ok)
    return FALSE;
  if (out->problem != HELIX_AUDIT_OK)
    return TRUE;

  if (checkpoints->len > 0 &&
      g_array_index (checkpoints, StoredCheckpoint, checkpoints->len - 1).size > out->n_entries)
    {
      gint64 size = g_array_index (checkpoints, StoredCheckpoint, checkpoints->len - 1).size;

      return report (out, HELIX_AUDIT_TRUNCATED, out->n_entries + 1,
                     _("The log has %" G_GINT64_FORMAT " entries but was checkpointed at %" G_GINT64_FORMAT ": its end was cut off"),
                     out->n_entries, size);
    }

  if (known != NULL && known->size > out->n_entries)
    return report (out, HELIX_AUDIT_TRUNCATED, out->n_entries + 1,
                   _("The log has %" G_GINT64_FORMAT " entries but a kept checkpoint says %" G_GINT64_FORMAT ": its end was cut off"),
                   out->n_entries, known->size);

  if (known != NULL &&
      (checkpoints->len == 0 ||
       g_array_index (checkpoints, StoredCheckpoint, checkpoints->len - 1).size < known->size))
    return report (out, HELIX_AUDIT_ROLLED_BACK, known->size,
                   _("The log’s checkpoints end before the one kept at entry %" G_GINT64_FORMAT ": they were rolled back"),
                   known->size);

  return report (out, HELIX_AUDIT_OK, 0,
                 _("%" G_GINT64_FORMAT " entries verified"), out->n_entries);
}

/**
 * helix_audit_log_verify:
 * @self: a log
 * @public_key: (array fixed-size=32): the key its checkpoints must be signed with
 * @known: (nullable): a checkpoint kept elsewhere (verified already), the
 *   newest one seen
 * @report: (out caller-allocates): what was found
 * @error: return location for a #GError, for a log that cannot be read
 *
 * Checks the chain against the stored checkpoints and @known. Finds an
 * edited, inserted, deleted or moved entry (the first one), a checkpoint not
 * signed by @public_key (a chain rewritten and signed again with another
 * key), a log shorter than a checkpoint (a cut tail), a head that differs
 * from a checkpoint's, and a log whose newest checkpoint is older than @known
 * (rolled back). A long log is checked on every core at once. It waits for
 * the disk: run it in a thread (the operator view) or a tool
 * (`helix --verify-audit`).
 *
 * Returns: %TRUE if the log could be read; then see @report
 */
gboolean
helix_audit_log_verify (HelixAuditLog          *self,
                        const guint8           *public_key,
                        HelixAuditCheckpoint   *known,
                        HelixAuditReport       *out,
                        GError                **error)
{
  return _helix_audit_log_verify_in_ranges (self, public_key, known, 0, out, error);
}
