/* helix-gateway-db.c: the gateway's database (accounts, devices, tokens)
 *
 * The op log and synced state of the same file are in helix-gateway-sync.c.
 *
 * One SQLite file, `<state-dir>/gateway.db`, with its own numbered migrations
 * (src/gateway/migrations/, compiled into the gateway's GResource). It is opened
 * only after checking, without writing a byte, that it is a gateway database
 * that this version understands.
 *
 * A running gateway uses two connections, each a HelixGatewayDb used from
 * one thread only: the main thread's, which only reads, and the writer
 * thread's (helix-gateway-writer.c), the one that writes. Every write of a
 * running gateway goes through the writer: the sync hub's group commits of
 * pushes and of the ops the gateway makes itself (REST sessions, the
 * assistant's answers), and the account writes (logins, logouts and
 * revocations, password rehashes, when a device was last seen), each
 * committed with synchronous=FULL (one fsync) off the main loop; the main
 * loop answers once the writer says it is committed. Reads on the main
 * loop are lookups through an index (a primary key or a UNIQUE column) or
 * scans of one user's rows, cheap enough to run there, and in WAL mode never
 * wait for the writer. Only the command line (--add-user, --disable-user),
 * which serves no clients, and opening (migrations, before serving) write
 * from the thread that calls them. Searches read through a third
 * connection, which their threads take turns with (helix-gateway-search.c);
 * the writer brings the search index up to date first. Slow work, such as
 * password hashing, never happens here.
 *
 * Every connection counts the transactions it commits, by whether the
 * committing thread is a writer thread (_helix_gateway_db_mark_writer_thread()):
 * the tests check with _helix_gateway_db_get_commit_counts() that the main
 * thread of a running gateway commits none.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib/gi18n.h>

#include "helix-db.h"
#include "helix-error.h"
#include "helix-gateway-db-private.h"
#include "helix-gateway-resources.h"
#include "helix-uuid.h"

#define MIGRATIONS_PATH "/ai/helix/Helix/gateway/migrations"
#define MAX_STATEMENT_ADDRESSES 1024

/* The desktop store's application id ('HLX1'): earlier gateways kept one as
 * their gateway.db. */

struct _HelixGatewayDb
{
  GObject     parent_instance;

  char       *path;
  sqlite3    *db;
  guint       schema_version;

  /* SQL text → its prepared sqlite3_stmt, kept while the connection is open:
   * parsing and planning a query costs more than running one of these
   * indexed lookups (see _helix_gateway_db_prepare()). */
  GHashTable *statements;
  /* The same statements by the address of the SQL text they were last asked
   * for with (not owned, at most MAX_STATEMENT_ADDRESSES): callers pass
   * string constants, and hashing a pointer costs far less than hashing
   * the text. A hit is checked against the statement's own text. */
  GHashTable *statement_addresses;

  /* (nullable): set by helix_gateway_db_defer_checkpoints() */
  struct _Checkpoints *checkpoints;
};

G_DEFINE_FINAL_TYPE (HelixGatewayDb, helix_gateway_db, G_TYPE_OBJECT)

/* Whether the calling thread is a writer thread. */
static GPrivate writer_thread_mark;

/* Atomic: transactions committed by writer threads, and by other threads. */
static guint writer_commits;
static guint other_commits;

/**
 * _helix_gateway_db_mark_writer_thread:
 *
 * Marks the calling thread as the gateway's writer thread for
 * _helix_gateway_db_get_commit_counts().
 */
void
_helix_gateway_db_mark_writer_thread (void)
{
  g_private_set (&writer_thread_mark, GINT_TO_POINTER (1));
}

/**
 * _helix_gateway_db_get_commit_counts:
 * @n_writer: (out) (optional): transactions committed by writer threads
 * @n_other: (out) (optional): transactions committed by other threads
 *
 * What every gateway connection of this process committed since it
 * started (its opening excepted), for tests.
 */
void
_helix_gateway_db_get_commit_counts (guint *n_writer,
                                     guint *n_other)
{
  if (n_writer != NULL)
    *n_writer = (guint) g_atomic_int_get (&writer_commits);
  if (n_other != NULL)
    *n_other = (guint) g_atomic_int_get (&other_commits);
}

/* sqlite3_commit_hook(): every write transaction that commits, explicit or
 * a single statement's. Returns 0: the commit goes on. */
static int
commit_hook (gpointer data)
{
  if (g_private_get (&writer_thread_mark) != NULL)
    g_atomic_int_inc (&writer_commits);
  else
    g_atomic_int_inc (&other_commits);

  return 0;
}

G_DEFINE_QUARK (helix-gateway-db-error-quark, helix_gateway_db_error)

void
helix_gateway_user_free (HelixGatewayUser *user)
{
  if (user == NULL)
    return;

  g_free (user->name);
  if (user->password_hash != NULL)
    {
      /* Not a secret by itself, but there is no reason to leave it about. */
      memset (user->password_hash, 0, strlen (user->password_hash));
      g_free (user->password_hash);
    }
  g_free (user);
}

void
helix_gateway_device_free (HelixGatewayDevice *device)
{
  if (device == NULL)
    return;

  g_free (device->uuid);
  g_free (device->name);
  g_free (device);
}

void
helix_gateway_auth_clear (HelixGatewayAuth *auth)
{
  g_clear_pointer (&auth->user_name, g_free);
  g_clear_pointer (&auth->device_uuid, g_free);
  memset (auth, 0, sizeof *auth);
}

/**
 * helix_gateway_user_name_is_valid:
 * @name: (nullable): a user name
 *
 * Returns: whether @name is 1 to 64 characters of `A–Z a–z 0–9 . _ -`
 */
gboolean
helix_gateway_user_name_is_valid (const char *name)
{
  gsize len;

  if (name == NULL)
    return FALSE;

  len = strlen (name);
  if (len == 0 || len > HELIX_GATEWAY_USER_NAME_MAX)
    return FALSE;

  for (gsize i = 0; i < len; i++)
    {
      if (!g_ascii_isalnum (name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-')
        return FALSE;
    }

  return TRUE;
}

/* Opening {{{1 */

/* helix_db_open_checked() reports in HELIX_STORE_ERROR; the gateway's callers
 * expect its own domain. */
static void
propagate_open_error (GError     **error,
                      GError      *store_error)
{
  HelixGatewayDbError code = HELIX_GATEWAY_DB_ERROR_FAILED;

  if (g_error_matches (store_error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_NOT_A_DATABASE))
    code = HELIX_GATEWAY_DB_ERROR_NOT_A_DATABASE;
  else if (g_error_matches (store_error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_TOO_NEW))
    code = HELIX_GATEWAY_DB_ERROR_TOO_NEW;

  g_set_error_literal (error, HELIX_GATEWAY_DB_ERROR, code, store_error->message);
  g_error_free (store_error);
}

static gboolean
helix_gateway_db_initialize (HelixGatewayDb  *self,
                             GError         **error)
{
  GError *local_error = NULL;
  guint version = 0;
  guint latest = helix_gateway_db_get_latest_schema_version ();

  self->db = helix_db_open_checked (self->path, HELIX_GATEWAY_DB_APPLICATION_ID, latest,
                                    &version, &local_error);
  if (self->db == NULL)
    {
      propagate_open_error (error, local_error);
      return FALSE;
    }

  /* Only now, knowing the file is ours and not too new, may we write to it. */
  if (!helix_db_exec (self->db,
                      "PRAGMA journal_mode = WAL;"
                      "PRAGMA synchronous = FULL;"
                      "PRAGMA foreign_keys = ON;"
                      "PRAGMA temp_store = MEMORY;",
                      _("Could not set up the database"), error))
    return FALSE;

  if (version < latest &&
      !helix_db_migrate (self->db, helix_gateway_get_resource (), MIGRATIONS_PATH, latest, error))
    return FALSE;

  self->schema_version = latest;

  return TRUE;
}

/* GObject {{{1 */

static void
helix_gateway_db_dispose (GObject *object)
{
  helix_gateway_db_close (HELIX_GATEWAY_DB (object));

  G_OBJECT_CLASS (helix_gateway_db_parent_class)->dispose (object);
}

static void
helix_gateway_db_finalize (GObject *object)
{
  HelixGatewayDb *self = (HelixGatewayDb *) object;

  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->statement_addresses, g_hash_table_unref);
  g_clear_pointer (&self->statements, g_hash_table_unref);

  G_OBJECT_CLASS (helix_gateway_db_parent_class)->finalize (object);
}

static void
helix_gateway_db_class_init (HelixGatewayDbClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = helix_gateway_db_dispose;
  object_class->finalize = helix_gateway_db_finalize;
}

static void
helix_gateway_db_init (HelixGatewayDb *self)
{
  self->statements = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify) sqlite3_finalize);
  self->statement_addresses = g_hash_table_new (NULL, NULL);
}

/* Public API {{{1 */

/**
 * helix_gateway_db_get_latest_schema_version:
 *
 * Returns: the schema version this gateway writes
 */
guint
helix_gateway_db_get_latest_schema_version (void)
{
  return helix_db_list_migrations (helix_gateway_get_resource (), MIGRATIONS_PATH, NULL);
}

/**
 * helix_gateway_db_open:
 * @path: the database file; created when missing (its folder must exist)
 * @error: a location for a #GError
 *
 * Opens the gateway's database and applies pending migrations. A file that is
 * not an SQLite database, belongs to another program, is damaged or was
 * written by a newer gateway is refused and left exactly as it was.
 *
 * This blocks on disk I/O: call it at start-up, before serving.
 *
 * Returns: (transfer full): the database, or %NULL with @error set
 */
HelixGatewayDb *
helix_gateway_db_open (const char  *path,
                       GError     **error)
{
  g_autoptr(HelixGatewayDb) self = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (HELIX_TYPE_GATEWAY_DB, NULL);
  self->path = g_strdup (path);

  if (!helix_gateway_db_initialize (self, error))
    {
      helix_gateway_db_close (self);
      return NULL;
    }

  sqlite3_commit_hook (self->db, commit_hook, NULL);

  g_debug ("Opened %s (schema %u)", self->path, self->schema_version);

  return g_steal_pointer (&self);
}

/**
 * _helix_gateway_db_open_again:
 * @path: a gateway database that a connection of this process has open
 *   (helix_gateway_db_open(): checked, migrated, in WAL mode)
 * @error: a location for a #GError
 *
 * Opens another connection to it, such as the writer thread's. Unlike
 * helix_gateway_db_open(), this never opens the file but through SQLite:
 * POSIX locks belong to the process, and closing any file descriptor of the
 * file drops all of them, those of the connections already open too. Then
 * another program (helix --add-user) closing its own connection would
 * take itself for the last one, and remove the write-ahead log and the
 * shared memory that this process still reads: its connections would no
 * longer see what others commit.
 *
 * Returns: (transfer full): the connection, or %NULL with @error set
 */
HelixGatewayDb *
_helix_gateway_db_open_again (const char  *path,
                              GError     **error)
{
  g_autoptr(HelixGatewayDb) self = NULL;
  gint64 application_id = 0;
  gint64 version = 0;

  g_return_val_if_fail (path != NULL, NULL);

  self = g_object_new (HELIX_TYPE_GATEWAY_DB, NULL);
  self->path = g_strdup (path);
  self->db = helix_db_open (path, FALSE, error);
  if (self->db == NULL)
    return NULL;

  if (!helix_db_query_int (self->db, "PRAGMA application_id", &application_id, error) ||
      !helix_db_query_int (self->db, "PRAGMA user_version", &version, error))
    {
      helix_gateway_db_close (self);
      return NULL;
    }

  if (application_id != HELIX_GATEWAY_DB_APPLICATION_ID ||
      version != helix_gateway_db_get_latest_schema_version ())
    {
      g_set_error (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NOT_A_DATABASE,
                   _("“%s” is no longer the database the gateway opened"), path);
      helix_gateway_db_close (self);
      return NULL;
    }

  if (!helix_db_exec (self->db,
                      "PRAGMA synchronous = FULL;"
                      "PRAGMA foreign_keys = ON;"
                      "PRAGMA temp_store = MEMORY;",
                      _("Could not set up the database"), error))
    {
      helix_gateway_db_close (self);
      return NULL;
    }

  self->schema_version = (guint) version;
  sqlite3_commit_hook (self->db, commit_hook, NULL);

  return g_steal_pointer (&self);
}

/* Checkpoints off the committing thread {{{1 */

/* SQLite copies the write-ahead log back into the database (a checkpoint)
 * in whichever connection commits once the log is past 1,000 pages (its
 * default; HELIX_GATEWAY_DB_CHECKPOINT_PAGES for deferred ones): a pause
 * of several milliseconds, with an fsync, for the main loop or the sync
 * writer, and for every push waiting behind that commit. A connection that
 * defers them asks one background thread to do it instead, on a connection
 * of its own (PASSIVE: it never blocks readers or writers, and copies what
 * it can). The log stays durable either way; only its size changes. */

/* The page cache of each of the running gateway's connections. */
#define RUNNING_CACHE_KIB 65536

typedef struct _Checkpoints
{
  char     *path;
  int       pages;    /* the log's size that asks for a checkpoint */
  int       queued;   /* atomic: a checkpoint of @path is waiting or running */
  GMutex    lock;
  GCond     cond;
  gboolean  running;  /* under @lock */
  gboolean  closed;   /* under @lock: the database was closed (and its files
                       * may be gone): no checkpoint starts any more */
} Checkpoints;

static void
checkpoints_clear (Checkpoints *checkpoints)
{
  g_mutex_clear (&checkpoints->lock);
  g_cond_clear (&checkpoints->cond);
  g_free (checkpoints->path);
}

static void
checkpoints_unref (Checkpoints *checkpoints)
{
  g_atomic_rc_box_release_full (checkpoints, (GDestroyNotify) checkpoints_clear);
}

static void
checkpoint_func (gpointer data,
                 gpointer user_data)
{
  Checkpoints *checkpoints = data;
  sqlite3 *db = NULL;
  int rc;

  /* Cleared first: commits from now on may ask again. */
  g_atomic_int_set (&checkpoints->queued, 0);

  g_mutex_lock (&checkpoints->lock);
  if (checkpoints->closed)
    {
      g_mutex_unlock (&checkpoints->lock);
      checkpoints_unref (checkpoints);
      return;
    }
  checkpoints->running = TRUE;
  g_mutex_unlock (&checkpoints->lock);

  rc = sqlite3_open_v2 (checkpoints->path, &db, SQLITE_OPEN_READWRITE, NULL);
  /* A new connection knows the file is in WAL mode only once it read it. */
  if (rc == SQLITE_OK)
    rc = sqlite3_exec (db, "PRAGMA schema_version", NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    {
      int log_frames = 0;
      int copied = 0;

      rc = sqlite3_wal_checkpoint_v2 (db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                      &copied);
      g_debug ("Checkpoint of %s: %d of %d frames", checkpoints->path, copied, log_frames);
    }
  if (rc != SQLITE_OK && rc != SQLITE_BUSY)
    g_warning ("Could not checkpoint %s: %s", checkpoints->path,
               db != NULL ? sqlite3_errmsg (db) : sqlite3_errstr (rc));
  sqlite3_close (db);

  g_mutex_lock (&checkpoints->lock);
  checkpoints->running = FALSE;
  g_cond_broadcast (&checkpoints->cond);
  g_mutex_unlock (&checkpoints->lock);

  checkpoints_unref (checkpoints);
}

static GThreadPool *
get_checkpoint_pool (void)
{
  static gsize pool;

  if (g_once_init_enter (&pool))
    {
      GThreadPool *new_pool = g_thread_pool_new (checkpoint_func, NULL, 1, FALSE, NULL);

      g_once_init_leave (&pool, (gsize) new_pool);
    }

  return (GThreadPool *) pool;
}

static int
wal_hook (gpointer    data,
          sqlite3    *db,
          const char *name,
          int         n_pages)
{
  Checkpoints *checkpoints = data;

  if (n_pages >= checkpoints->pages &&
      g_atomic_int_compare_and_exchange (&checkpoints->queued, 0, 1))
    g_thread_pool_push (get_checkpoint_pool (), g_atomic_rc_box_acquire (checkpoints), NULL);

  return SQLITE_OK;
}

/**
 * helix_gateway_db_defer_checkpoints:
 * @self: an open gateway database
 *
 * Makes @self leave checkpoints to a background thread (see above), and
 * gives it a page cache of 64 MiB, for the connections of the running
 * gateway. Command-line tools keep SQLite's own.
 */
void
helix_gateway_db_defer_checkpoints (HelixGatewayDb *self)
{
  g_return_if_fail (HELIX_IS_GATEWAY_DB (self));
  g_return_if_fail (self->db != NULL);

  if (self->checkpoints != NULL)
    return;

  self->checkpoints = g_atomic_rc_box_new0 (Checkpoints);
  self->checkpoints->path = g_strdup (self->path);
  self->checkpoints->pages = HELIX_GATEWAY_DB_CHECKPOINT_PAGES;
  g_mutex_init (&self->checkpoints->lock);
  g_cond_init (&self->checkpoints->cond);
  sqlite3_wal_autocheckpoint (self->db, 0);
  sqlite3_wal_hook (self->db, wal_hook, self->checkpoints);

  /* SQLite's 2 MiB cache makes a big commit write pages out half-way
   * ("cache spill") and read back the index pages of random op ids. */
  if (!helix_db_exec (self->db, "PRAGMA cache_size = -" G_STRINGIFY (RUNNING_CACHE_KIB), NULL,
                      NULL))
    g_warning ("Could not enlarge the page cache of %s", self->path);
}

/* Tests: a smaller log asks for a checkpoint (after
 * helix_gateway_db_defer_checkpoints(), before any commit). */
void
_helix_gateway_db_set_checkpoint_pages (HelixGatewayDb *self,
                                        int             pages)
{
  g_return_if_fail (HELIX_IS_GATEWAY_DB (self));
  g_return_if_fail (self->checkpoints != NULL);
  g_return_if_fail (pages > 0);

  self->checkpoints->pages = pages;
}

/**
 * helix_gateway_db_close:
 * @self: a gateway database
 *
 * Closes the connection. Later calls fail with
 * %HELIX_GATEWAY_DB_ERROR_CLOSED. Safe to call more than once.
 */
void
helix_gateway_db_close (HelixGatewayDb *self)
{
  g_return_if_fail (HELIX_IS_GATEWAY_DB (self));

  /* The statements go first: sqlite3_close() refuses a connection that has some. */
  g_hash_table_remove_all (self->statement_addresses);
  g_hash_table_remove_all (self->statements);
  g_clear_pointer (&self->db, sqlite3_close);

  /* A checkpoint queued now would find the files gone (a test's
   * directory, a database moved away): none starts after this, and one
   * running is waited for. */
  if (self->checkpoints != NULL)
    {
      g_mutex_lock (&self->checkpoints->lock);
      self->checkpoints->closed = TRUE;
      while (self->checkpoints->running)
        g_cond_wait (&self->checkpoints->cond, &self->checkpoints->lock);
      g_mutex_unlock (&self->checkpoints->lock);
    }
  g_clear_pointer (&self->checkpoints, checkpoints_unref);
}

const char *
helix_gateway_db_get_path (HelixGatewayDb *self)
{
  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), NULL);

  return self->path;
}

guint
helix_gateway_db_get_schema_version (HelixGatewayDb *self)
{
  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), 0);

  return self->schema_version;
}

static gboolean
check_open (HelixGatewayDb  *self,
            GError         **error)
{
  if (self->db == NULL)
    {
      g_set_error_literal (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_CLOSED,
                           _("The database is closed"));
      return FALSE;
    }

  return TRUE;
}

/* Steps @stmt to its end and finalizes it. */
static gboolean
step_done (HelixGatewayDb  *self,
           sqlite3_stmt    *stmt,
           const char      *what,
           GError         **error)
{
  int rc = sqlite3_step (stmt);

  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, self->db, rc, what);
      return FALSE;
    }

  return TRUE;
}

static gboolean
begin (HelixGatewayDb  *self,
       GError         **error)
{
  return helix_db_exec (self->db, "BEGIN IMMEDIATE", _("Could not write to the database"), error);
}

static gboolean
commit (HelixGatewayDb  *self,
        gboolean         ok,
        GError         **error)
{
  if (!ok)
    {
      sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
      return FALSE;
    }

  if (!helix_db_exec (self->db, "COMMIT", _("Could not write to the database"), error))
    {
      sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
      return FALSE;
    }

  return TRUE;
}

/* For this file and its siblings: the prepared statement for @sql, from a
 * cache that keeps every distinct text (so only a fixed set of queries, never
 * text with values in it), with no bindings. Give it back with
 * _helix_gateway_db_release() (never
 * sqlite3_finalize()) once done with it, and before @sql is prepared again:
 * a statement left half-stepped would keep its read transaction open. */
sqlite3_stmt *
_helix_gateway_db_prepare (HelixGatewayDb  *self,
                           const char      *sql,
                           GError         **error)
{
  sqlite3_stmt *stmt;

  g_assert (HELIX_IS_GATEWAY_DB (self));

  if (!check_open (self, error))
    return NULL;

  /* The address may have held other text since (a freed string's): the
   * statement's text says. */
  stmt = g_hash_table_lookup (self->statement_addresses, sql);
  if (stmt != NULL && strcmp (sqlite3_sql (stmt), sql) == 0)
    goto found;

  stmt = g_hash_table_lookup (self->statements, sql);
  if (stmt == NULL)
    {
      stmt = helix_db_prepare (self->db, sql, TRUE, error);
      if (stmt == NULL)
        return NULL;
      g_hash_table_insert (self->statements, g_strdup (sql), stmt);
    }
  if (g_hash_table_size (self->statement_addresses) < MAX_STATEMENT_ADDRESSES ||
      g_hash_table_contains (self->statement_addresses, sql))
    g_hash_table_insert (self->statement_addresses, (gpointer) sql, stmt);

found:
  /* Two users at once would share one cursor. */
  g_assert (!sqlite3_stmt_busy (stmt));

  return stmt;
}

/* Resets a statement of _helix_gateway_db_prepare() for its next use. */
void
_helix_gateway_db_release (sqlite3_stmt *stmt)
{
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
}

/* For the sibling files (helix-gateway-sync.c): the connection, or %NULL
 * with %HELIX_GATEWAY_DB_ERROR_CLOSED. */
sqlite3 *
_helix_gateway_db_get_handle (HelixGatewayDb  *self,
                              GError         **error)
{
  g_assert (HELIX_IS_GATEWAY_DB (self));

  return check_open (self, error) ? self->db : NULL;
}

gboolean
_helix_gateway_db_begin (HelixGatewayDb  *self,
                         GError         **error)
{
  return check_open (self, error) && begin (self, error);
}

/* Commits if @ok, or rolls back (and returns %FALSE) otherwise. */
gboolean
_helix_gateway_db_commit (HelixGatewayDb  *self,
                          gboolean         ok,
                          GError         **error)
{
  return commit (self, ok, error);
}

/**
 * helix_gateway_db_check:
 * @self: a gateway database
 * @error: a location for a #GError
 *
 * One trivial query, for health checks.
 *
 * Returns: whether the database answers
 */
gboolean
helix_gateway_db_check (HelixGatewayDb  *self,
                        GError         **error)
{
  sqlite3_stmt *stmt;
  int rc;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), FALSE);

  /* Asked by every health check: the statement is kept. */
  stmt = _helix_gateway_db_prepare (self, "PRAGMA user_version", error);
  if (stmt == NULL)
    return FALSE;

  rc = sqlite3_step (stmt);
  _helix_gateway_db_release (stmt);
  if (rc != SQLITE_ROW)
    {
      helix_db_set_error (error, self->db, rc, _("Could not read the database"));
      return FALSE;
    }

  return TRUE;
}

/**
 * helix_gateway_db_add_user:
 * @self: a gateway database
 * @name: a valid user name (see helix_gateway_user_name_is_valid())
 * @password_hash: the argon2id string of the password
 * @is_admin: whether the user is an administrator
 * @error: a location for a #GError
 *
 * Returns: %TRUE if the user was added; %FALSE with
 *   %HELIX_GATEWAY_DB_ERROR_USER_EXISTS if the name is taken
 */
gboolean
helix_gateway_db_add_user (HelixGatewayDb  *self,
                           const char      *name,
                           const char      *password_hash,
                           gboolean         is_admin,
                           GError         **error)
{
  sqlite3_stmt *stmt;
  int rc;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), FALSE);
  g_return_val_if_fail (password_hash != NULL, FALSE);

  if (!helix_gateway_user_name_is_valid (name))
    {
      g_set_error (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_INVALID,
                   _("“%.64s” is not a valid user name: use 1 to 64 letters, digits, dots, "
                     "dashes and underscores"), name ? name : "");
      return FALSE;
    }

  if (!check_open (self, error))
    return FALSE;

  stmt = helix_db_prepare (self->db,
                           "INSERT INTO users (name, password_hash, is_admin, created_us) "
                           "VALUES (?, ?, ?, ?)", FALSE, error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_text (stmt, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, password_hash, -1, SQLITE_STATIC);
  sqlite3_bind_int (stmt, 3, is_admin ? 1 : 0);
  sqlite3_bind_int64 (stmt, 4, g_get_real_time ());
  rc = sqlite3_step (stmt);
  sqlite3_finalize (stmt);

  if (rc == SQLITE_CONSTRAINT_UNIQUE)
    {
      g_set_error (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_USER_EXISTS,
                   _("A user named “%s” exists already. Choose another name."), name);
      return FALSE;
    }

  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, self->db, rc, _("Could not add the user"));
      return FALSE;
    }

  return TRUE;
}

static HelixGatewayUser *
user_from_row (sqlite3_stmt *stmt)
{
  HelixGatewayUser *user = g_new0 (HelixGatewayUser, 1);

  user->id = sqlite3_column_int64 (stmt, 0);
  user->name = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
  user->is_admin = sqlite3_column_int (stmt, 2) != 0;
  user->disabled = sqlite3_column_int (stmt, 3) != 0;
  user->created_us = sqlite3_column_int64 (stmt, 4);
  user->n_devices = (guint) sqlite3_column_int (stmt, 5);

  return user;
}

/**
 * helix_gateway_db_lookup_user:
 * @self: a gateway database
 * @name: a user name
 * @error: a location for a #GError
 *
 * Returns: (transfer full) (nullable): the user with their password hash, or
 *   %NULL with %HELIX_GATEWAY_DB_ERROR_NO_SUCH_USER (or another error)
 */
HelixGatewayUser *
helix_gateway_db_lookup_user (HelixGatewayDb  *self,
                              const char      *name,
                              GError         **error)
{
  g_autoptr(HelixGatewayUser) user = NULL;
  sqlite3_stmt *stmt;
  int rc;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);

  if (!check_open (self, error))
    return NULL;

  stmt = helix_db_prepare (self->db,
                           "SELECT id, name, is_admin, disabled, created_us, 0, password_hash "
                           "FROM users WHERE name = ?", FALSE, error);
  if (stmt == NULL)
    return NULL;

  sqlite3_bind_text (stmt, 1, name, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      user = user_from_row (stmt);
      user->password_hash = g_strdup ((const char *) sqlite3_column_text (stmt, 6));
    }
  sqlite3_finalize (stmt);

  if (rc == SQLITE_DONE)
    g_set_error (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NO_SUCH_USER,
                 _("There is no user named “%s”. See --list-users."), name);
  else if (rc != SQLITE_ROW)
    helix_db_set_error (error, self->db, rc, _("Could not read the users"));

  return g_steal_pointer (&user);
}

/**
 * helix_gateway_db_list_users:
 * @self: a gateway database
 * @error: a location for a #GError
 *
 * Returns: (transfer container) (element-type HelixGatewayUser): every user,
 *   by name, without password hashes
 */
GPtrArray *
helix_gateway_db_list_users (HelixGatewayDb  *self,
                             GError         **error)
{
  g_autoptr(GPtrArray) users = NULL;
  sqlite3_stmt *stmt;
  int rc;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), NULL);

  if (!check_open (self, error))
    return NULL;

  stmt = helix_db_prepare (self->db,
                           "SELECT u.id, u.name, u.is_admin, u.disabled, u.created_us, "
                           "       (SELECT count(*) FROM devices d "
                           "        WHERE d.user = u.id AND d.revoked_us IS NULL) "
                           "FROM users u ORDER BY u.name", FALSE, error);
  if (stmt == NULL)
    return NULL;

  users = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_gateway_user_free);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (users, user_from_row (stmt));
  sqlite3_finalize (stmt);

  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, self->db, rc, _("Could not read the users"));
      return NULL;
    }

  return g_steal_pointer (&users);
}

/* Revokes the tokens of every device of @user_id (if @device_id is 0) or of
 * one device. Inside a transaction. */
static gboolean
revoke_tokens (HelixGatewayDb  *self,
               gint64           user_id,
               gint64           device_id,
               gint64           now_us,
               GError         **error)
{
  sqlite3_stmt *stmt;

  if (device_id != 0)
    stmt = helix_db_prepare (self->db,
                             "UPDATE tokens SET revoked_us = ?1 "
                             "WHERE device = ?2 AND revoked_us IS NULL", FALSE, error);
  else
    stmt = helix_db_prepare (self->db,
                             "UPDATE tokens SET revoked_us = ?1 "
                             "WHERE revoked_us IS NULL AND device IN "
                             "  (SELECT id FROM devices WHERE user = ?2)", FALSE, error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, now_us);
  sqlite3_bind_int64 (stmt, 2, device_id != 0 ? device_id : user_id);

  return step_done (self, stmt, _("Could not revoke the tokens"), error);
}

/**
 * helix_gateway_db_set_user_disabled:
 * @self: a gateway database
 * @name: a user name
 * @disabled: whether the user may no longer log in
 * @error: a location for a #GError
 *
 * Disabling a user also revokes every token of theirs, in the same
 * transaction: their devices must log in again once they are enabled.
 *
 * Returns: %TRUE on success; %FALSE with %HELIX_GATEWAY_DB_ERROR_NO_SUCH_USER
 *   if there is no such user
 */
gboolean
helix_gateway_db_set_user_disabled (HelixGatewayDb  *self,
                                    const char      *name,
                                    gboolean         disabled,
                                    GError         **error)
{
  g_autoptr(HelixGatewayUser) user = NULL;
  sqlite3_stmt *stmt;
  gboolean ok;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);

  if (!check_open (self, error) || !begin (self, error))
    return FALSE;

  user = helix_gateway_db_lookup_user (self, name, error);
  ok = user != NULL;

  if (ok)
    {
      stmt = helix_db_prepare (self->db, "UPDATE users SET disabled = ? WHERE id = ?", FALSE, error);
      ok = stmt != NULL;
      if (ok)
        {
          sqlite3_bind_int (stmt, 1, disabled ? 1 : 0);
          sqlite3_bind_int64 (stmt, 2, user->id);
          ok = step_done (self, stmt, _("Could not change the user"), error);
        }
    }

  if (ok && disabled)
    ok = revoke_tokens (self, user->id, 0, g_get_real_time (), error);

  return commit (self, ok, error);
}

/**
 * helix_gateway_db_set_password_hash:
 * @self: a gateway database
 * @user_id: the user's row id
 * @password_hash: the new argon2id string
 * @error: a location for a #GError
 *
 * Returns: whether the hash was stored
 */
gboolean
helix_gateway_db_set_password_hash (HelixGatewayDb  *self,
                                    gint64           user_id,
                                    const char      *password_hash,
                                    GError         **error)
{
  sqlite3_stmt *stmt;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), FALSE);
  g_return_val_if_fail (password_hash != NULL, FALSE);

  if (!check_open (self, error))
    return FALSE;

  stmt = helix_db_prepare (self->db, "UPDATE users SET password_hash = ? WHERE id = ?",
                           FALSE, error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_text (stmt, 1, password_hash, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, user_id);

  return step_done (self, stmt, _("Could not store the password"), error);
}

/**
 * helix_gateway_db_add_device:
 * @self: a gateway database
 * @user_id: the user logging in
 * @device_name: the device's display name (at most 128 bytes of UTF-8)
 * @token_hash: (array fixed-size=32): SHA-256 of the token issued to it
 * @error: a location for a #GError
 *
 * Adds a device and its token in one transaction, unless the user was
 * disabled (or removed) meanwhile.
 *
 * Returns: (transfer full): the new device's UUID, or %NULL with @error set
 *   (%HELIX_GATEWAY_DB_ERROR_NO_SUCH_USER if the user may not log in)
 */
char *
helix_gateway_db_add_device (HelixGatewayDb  *self,
                             gint64           user_id,
                             const char      *device_name,
                             const guint8    *token_hash,
                             GError         **error)
{
  g_autofree char *uuid = helix_uuid_new_v7 ();
  gint64 now_us = g_get_real_time ();
  sqlite3_stmt *stmt;
  gboolean ok;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), NULL);
  g_return_val_if_fail (device_name != NULL, NULL);
  g_return_val_if_fail (token_hash != NULL, NULL);

  if (!check_open (self, error) || !begin (self, error))
    return NULL;

  stmt = helix_db_prepare (self->db,
                           "INSERT INTO devices (uuid, user, name, created_us, last_seen_us) "
                           "SELECT ?1, id, ?2, ?3, ?3 FROM users WHERE id = ?4 AND disabled = 0",
                           FALSE, error);
  ok = stmt != NULL;
  if (ok)
    {
      sqlite3_bind_text (stmt, 1, uuid, -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 2, device_name, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 3, now_us);
      sqlite3_bind_int64 (stmt, 4, user_id);
      ok = step_done (self, stmt, _("Could not add the device"), error);
    }

  if (ok && sqlite3_changes (self->db) == 0)
    {
      g_set_error_literal (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NO_SUCH_USER,
                           _("The user may not log in"));
      ok = FALSE;
    }

  if (ok)
    {
      gint64 device_id = sqlite3_last_insert_rowid (self->db);

      stmt = helix_db_prepare (self->db,
                               "INSERT INTO tokens (hash, device, created_us) VALUES (?, ?, ?)",
                               FALSE, error);
      ok = stmt != NULL;
      if (ok)
        {
          sqlite3_bind_blob (stmt, 1, token_hash, HELIX_GATEWAY_TOKEN_HASH_LEN, SQLITE_STATIC);
          sqlite3_bind_int64 (stmt, 2, device_id);
          sqlite3_bind_int64 (stmt, 3, now_us);
          ok = step_done (self, stmt, _("Could not store the token"), error);
        }
    }

  if (!commit (self, ok, error))
    return NULL;

  return g_steal_pointer (&uuid);
}

/**
 * helix_gateway_db_authenticate:
 * @self: a gateway database
 * @token_hash: (array fixed-size=32): SHA-256 of the token presented
 * @auth: (out caller-allocates): who the token speaks for
 * @error: a location for a #GError
 *
 * Finds the token by its hash (the primary key). Revoked tokens, revoked
 * devices and disabled users are not found. The user's head seq is read in
 * the same statement: what was committed before this call is in it.
 *
 * Returns: %TRUE if the token is valid; %FALSE with @error set otherwise
 *   (%HELIX_GATEWAY_DB_ERROR_NO_SUCH_DEVICE when the token is not valid)
 */
gboolean
helix_gateway_db_authenticate (HelixGatewayDb    *self,
                               const guint8      *token_hash,
                               HelixGatewayAuth  *auth,
                               GError           **error)
{
  sqlite3_stmt *stmt;
  int rc;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), FALSE);
  g_return_val_if_fail (token_hash != NULL, FALSE);
  g_return_val_if_fail (auth != NULL, FALSE);

  memset (auth, 0, sizeof *auth);

  if (!check_open (self, error))
    return FALSE;

  /* Every request and every sync frame asks: the statement is kept. */
  stmt = _helix_gateway_db_prepare (self,
                                    "SELECT u.id, u.name, d.id, d.uuid, d.last_seen_us, "
                                    "       u.head_seq "
                                    "FROM tokens t "
                                    "JOIN devices d ON d.id = t.device "
                                    "JOIN users u ON u.id = d.user "
                                    "WHERE t.hash = ? AND t.revoked_us IS NULL "
                                    "  AND d.revoked_us IS NULL AND u.disabled = 0",
                                    error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_blob (stmt, 1, token_hash, HELIX_GATEWAY_TOKEN_HASH_LEN, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      auth->user_id = sqlite3_column_int64 (stmt, 0);
      auth->user_name = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
      auth->device_id = sqlite3_column_int64 (stmt, 2);
      auth->device_uuid = g_strdup ((const char *) sqlite3_column_text (stmt, 3));
      auth->last_seen_us = sqlite3_column_int64 (stmt, 4);
      auth->head_seq = sqlite3_column_int64 (stmt, 5);
    }
  _helix_gateway_db_release (stmt);

  if (rc == SQLITE_DONE)
    {
      g_set_error_literal (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NO_SUCH_DEVICE,
                           _("The token is not valid"));
      return FALSE;
    }
  if (rc != SQLITE_ROW)
    {
      helix_db_set_error (error, self->db, rc, _("Could not read the tokens"));
      return FALSE;
    }

  return TRUE;
}

/**
 * helix_gateway_db_touch_device:
 * @self: a gateway database
 * @device_id: a device's row id
 * @now_us: the time it was seen
 * @error: a location for a #GError
 *
 * Returns: whether devices.last_seen_us was updated
 */
gboolean
helix_gateway_db_touch_device (HelixGatewayDb  *self,
                               gint64           device_id,
                               gint64           now_us,
                               GError         **error)
{
  sqlite3_stmt *stmt;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), FALSE);

  if (!check_open (self, error))
    return FALSE;

  stmt = helix_db_prepare (self->db, "UPDATE devices SET last_seen_us = ? WHERE id = ?",
                           FALSE, error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, now_us);
  sqlite3_bind_int64 (stmt, 2, device_id);

  return step_done (self, stmt, _("Could not update the device"), error);
}

/**
 * helix_gateway_db_list_devices:
 * @self: a gateway database
 * @user_id: whose devices
 * @error: a location for a #GError
 *
 * Returns: (transfer container) (element-type HelixGatewayDevice): the
 *   user's devices, revoked ones included, oldest first
 */
GPtrArray *
helix_gateway_db_list_devices (HelixGatewayDb  *self,
                               gint64           user_id,
                               GError         **error)
{
  g_autoptr(GPtrArray) devices = NULL;
  sqlite3_stmt *stmt;
  int rc;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), NULL);

  if (!check_open (self, error))
    return NULL;

  stmt = helix_db_prepare (self->db,
                           "SELECT id, uuid, name, created_us, last_seen_us, revoked_us "
                           "FROM devices WHERE user = ? ORDER BY id", FALSE, error);
  if (stmt == NULL)
    return NULL;

  sqlite3_bind_int64 (stmt, 1, user_id);

  devices = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_gateway_device_free);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      HelixGatewayDevice *device = g_new0 (HelixGatewayDevice, 1);

      device->id = sqlite3_column_int64 (stmt, 0);
      device->uuid = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
      device->name = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
      device->created_us = sqlite3_column_int64 (stmt, 3);
      device->last_seen_us = sqlite3_column_int64 (stmt, 4);
      device->revoked_us = sqlite3_column_int64 (stmt, 5);
      g_ptr_array_add (devices, device);
    }
  sqlite3_finalize (stmt);

  if (rc != SQLITE_DONE)
    {
      helix_db_set_error (error, self->db, rc, _("Could not read the devices"));
      return NULL;
    }

  return g_steal_pointer (&devices);
}

/**
 * helix_gateway_db_revoke_device:
 * @self: a gateway database
 * @user_id: the user the device must belong to
 * @device_uuid: the device's id
 * @error: a location for a #GError
 *
 * Revokes a device of @user_id and all its tokens. Revoking a revoked device
 * again succeeds. A device of another user is not found: its existence is
 * not revealed.
 *
 * Returns: %TRUE on success; %FALSE with %HELIX_GATEWAY_DB_ERROR_NO_SUCH_DEVICE
 *   if @user_id has no such device
 */
gboolean
helix_gateway_db_revoke_device (HelixGatewayDb  *self,
                                gint64           user_id,
                                const char      *device_uuid,
                                GError         **error)
{
  gint64 now_us = g_get_real_time ();
  gint64 device_id = 0;
  sqlite3_stmt *stmt;
  gboolean ok;
  int rc;

  g_return_val_if_fail (HELIX_IS_GATEWAY_DB (self), FALSE);
  g_return_val_if_fail (device_uuid != NULL, FALSE);

  if (!check_open (self, error) || !begin (self, error))
    return FALSE;

  stmt = helix_db_prepare (self->db, "SELECT id FROM devices WHERE uuid = ? AND user = ?",
                           FALSE, error);
  ok = stmt != NULL;
  if (ok)
    {
      sqlite3_bind_text (stmt, 1, device_uuid, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 2, user_id);
      rc = sqlite3_step (stmt);
      if (rc == SQLITE_ROW)
        device_id = sqlite3_column_int64 (stmt, 0);
      sqlite3_finalize (stmt);

      if (rc == SQLITE_DONE)
        {
          g_set_error_literal (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NO_SUCH_DEVICE,
                               _("You have no device with this id"));
          ok = FALSE;
        }
      else if (rc != SQLITE_ROW)
        {
          helix_db_set_error (error, self->db, rc, _("Could not read the devices"));
          ok = FALSE;
        }
    }

  if (ok)
    {
      stmt = helix_db_prepare (self->db,
                               "UPDATE devices SET revoked_us = ? "
                               "WHERE id = ? AND revoked_us IS NULL", FALSE, error);
      ok = stmt != NULL;
      if (ok)
        {
          sqlite3_bind_int64 (stmt, 1, now_us);
          sqlite3_bind_int64 (stmt, 2, device_id);
          ok = step_done (self, stmt, _("Could not revoke the device"), error);
        }
    }

  if (ok)
    ok = revoke_tokens (self, user_id, device_id, now_us, error);

  return commit (self, ok, error);
}
