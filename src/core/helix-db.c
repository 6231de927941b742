/* helix-db.c: small SQLite helpers shared by every Helix database
 *
 * Connections, statements, errors that say what failed and what to do, and numbered
 * migrations compiled into a GResource, each applied in its own transaction together
 * with the new PRAGMA user_version, so a crash leaves a database at a version it fully
 * has. The desktop store and the gateway's database both use these.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-db"

#include "config.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <string.h>

#include "helix-db.h"
#include "helix-error.h"

#define BUSY_TIMEOUT_MS 5000

void
helix_db_set_error (GError     **error,
                    sqlite3     *db,
                    int          rc,
                    const char  *what)
{
  HelixStoreError code;
  const char *detail = db ? sqlite3_errmsg (db) : sqlite3_errstr (rc);

  switch (rc & 0xff)
    {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      code = HELIX_STORE_ERROR_BUSY;
      detail = _("another program is using the database; close it and try again");
      break;

    case SQLITE_FULL:
      code = HELIX_STORE_ERROR_FULL;
      detail = _("the disk is full; free some space and try again");
      break;

    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
      code = HELIX_STORE_ERROR_READ_ONLY;
      break;

    case SQLITE_CORRUPT:
      code = HELIX_STORE_ERROR_CORRUPT;
      detail = _("the database file is damaged; restore it from a backup");
      break;

    case SQLITE_NOTADB:
      code = HELIX_STORE_ERROR_NOT_A_DATABASE;
      detail = _("the file is not a database");
      break;

    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
      code = HELIX_STORE_ERROR_INVALID;
      break;

    default:
      code = HELIX_STORE_ERROR_FAILED;
      break;
    }

  g_set_error (error, HELIX_STORE_ERROR, code, "%s: %s", what, detail);
}

gboolean
helix_db_exec (sqlite3     *db,
               const char  *sql,
               const char  *what,
               GError     **error)
{
  int rc = sqlite3_exec (db, sql, NULL, NULL, NULL);

  if (rc != SQLITE_OK)
    {
      helix_db_set_error (error, db, rc, what);
      return FALSE;
    }

  return TRUE;
}

sqlite3_stmt *
helix_db_prepare (sqlite3     *db,
                  const char  *sql,
                  gboolean     persistent,
                  GError     **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v3 (db, sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0,
                               &stmt, NULL);

  if (rc != SQLITE_OK)
    {
      helix_db_set_error (error, db, rc, _("Could not prepare a database query"));
      return NULL;
    }

  return stmt;
}

sqlite3 *
helix_db_open (const char  *path,
               gboolean     read_only,
               GError     **error)
{
  sqlite3 *db = NULL;
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  int rc;

  flags |= read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);

  rc = sqlite3_open_v2 (path, &db, flags, NULL);
  if (rc != SQLITE_OK)
    {
      g_autofree char *what = g_strdup_printf (_("Could not open “%s”"), path);

      helix_db_set_error (error, db, rc, what);
      sqlite3_close (db);
      return NULL;
    }

  sqlite3_extended_result_codes (db, 1);
  sqlite3_busy_timeout (db, BUSY_TIMEOUT_MS);

  return db;
}

gboolean
helix_db_query_int (sqlite3     *db,
                    const char  *sql,
                    gint64      *value,
                    GError     **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL);

  if (rc == SQLITE_OK)
    {
      rc = sqlite3_step (stmt);
      if (rc == SQLITE_ROW)
        {
          *value = sqlite3_column_int64 (stmt, 0);
          rc = SQLITE_OK;
        }
      else if (rc == SQLITE_DONE)
        {
          *value = 0;
          rc = SQLITE_OK;
        }
    }

  if (rc != SQLITE_OK)
    rc = sqlite3_errcode (db);
  sqlite3_finalize (stmt);

  if (rc != SQLITE_OK)
    {
      helix_db_set_error (error, db, rc, _("Could not read the database"));
      return FALSE;
    }

  return TRUE;
}

static int
compare_uint (gconstpointer a,
              gconstpointer b)
{
  guint x = *(const guint *)a;
  guint y = *(const guint *)b;

  return x < y ? -1 : x > y;
}

static guint
migration_version (const char *name)
{
  guint64 v;
  char *end = NULL;

  if (!g_ascii_isdigit (name[0]))
    return 0;

  v = g_ascii_strtoull (name, &end, 10);
  if (end == NULL || *end != '-' || v == 0 || v > G_MAXINT)
    return 0;

  return (guint) v;
}

static char *
migration_name (GResource  *resource,
                const char *dir,
                guint       version)
{
  g_auto(GStrv) children = g_resource_enumerate_children (resource, dir,
                                                          G_RESOURCE_LOOKUP_FLAGS_NONE,
                                                          NULL);

  for (guint i = 0; children && children[i]; i++)
    {
      if (migration_version (children[i]) == version)
        return g_strdup (children[i]);
    }

  return NULL;
}

/**
 * helix_db_list_migrations:
 * @resource: the GResource that holds the migrations
 * @dir: the folder of numbered `NNNN-name.sql` files in it
 * @versions: (out) (optional): the versions, sorted
 *
 * Returns: how many migrations there are
 */
guint
helix_db_list_migrations (GResource   *resource,
                          const char  *dir,
                          guint      **versions)
{
  g_auto(GStrv) children = NULL;
  g_autoptr(GArray) array = g_array_new (FALSE, FALSE, sizeof (guint));

  children = g_resource_enumerate_children (resource, dir, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  for (guint i = 0; children && children[i]; i++)
    {
      guint v = migration_version (children[i]);

      g_assert (v > 0);
      g_array_append_val (array, v);
    }

  g_array_sort (array, compare_uint);

  /* Versions must be 1, 2, 3, … with no gaps: a gap is a packaging bug. */
  for (guint i = 0; i < array->len; i++)
    g_assert (g_array_index (array, guint, i) == i + 1);

  if (versions != NULL)
    *versions = (guint *) g_array_free (g_steal_pointer (&array), FALSE);

  return children ? g_strv_length (children) : 0;
}

static int
get_user_version (sqlite3 *db)
{
  sqlite3_stmt *stmt = NULL;
  int version = -1;

  if (sqlite3_prepare_v2 (db, "PRAGMA user_version", -1, &stmt, NULL) == SQLITE_OK &&
      sqlite3_step (stmt) == SQLITE_ROW)
    version = sqlite3_column_int (stmt, 0);
  sqlite3_finalize (stmt);

  return version;
}

static gboolean
apply_one (sqlite3     *db,
           GResource   *resource,
           const char  *dir,
           guint        version,
           GError     **error)
{
  g_autofree char *name = migration_name (resource, dir, version);
  g_autofree char *path = g_strconcat (dir, "/", name, NULL);
  g_autofree char *set_version = g_strdup_printf ("PRAGMA user_version = %u", version);
  g_autoptr(GBytes) bytes = NULL;
  g_autofree char *sql = NULL;
  char *errmsg = NULL;
  int rc;

  bytes = g_resource_lookup_data (resource, path, G_RESOURCE_LOOKUP_FLAGS_NONE, error);
  if (bytes == NULL)
    return FALSE;
  sql = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));

  rc = sqlite3_exec (db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    {
      helix_db_set_error (error, db, rc, _("Could not start upgrading the database"));
      return FALSE;
    }

  rc = sqlite3_exec (db, sql, NULL, NULL, &errmsg);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec (db, set_version, NULL, NULL, &errmsg);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec (db, "COMMIT", NULL, NULL, &errmsg);

  if (rc != SQLITE_OK)
    {
      g_autofree char *what = g_strdup_printf (_("Could not upgrade the database to schema %u (%s)"),
                                               version, name);

      sqlite3_free (errmsg);
      helix_db_set_error (error, db, rc, what);
      sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
      return FALSE;
    }

  g_debug ("Applied migration %s", name);

  return TRUE;
}

/**
 * helix_db_migrate:
 * @db: a writable connection
 * @resource: the GResource that holds the migrations
 * @dir: the folder of numbered `NNNN-name.sql` files in it
 * @target_version: the schema version to reach
 * @error: a location for a #GError
 *
 * Applies every migration after the database's user_version up to @target_version,
 * each in one transaction together with the new user_version.
 */
gboolean
helix_db_migrate (sqlite3     *db,
                  GResource   *resource,
                  const char  *dir,
                  guint        target_version,
                  GError     **error)
{
  int current = get_user_version (db);

  if (current < 0)
    {
      helix_db_set_error (error, db, sqlite3_errcode (db), _("Could not read the schema version"));
      return FALSE;
    }

  for (guint v = (guint) current + 1; v <= target_version; v++)
    {
      if (!apply_one (db, resource, dir, v, error))
        return FALSE;
    }

  return TRUE;
}

/* Opening with checks */

static gboolean
is_sqlite_file (const char  *path,
                gboolean    *exists,
                GError     **error)
{
  static const char magic[16] = "SQLite format 3";
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileInputStream) stream = NULL;
  char header[16];
  gsize n_read = 0;

  stream = g_file_read (file, NULL, &local_error);
  if (stream == NULL)
    {
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        {
          *exists = FALSE;
          return TRUE;
        }

      g_set_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_READ_ONLY,
                   _("Could not read “%s”: %s"), path, local_error->message);
      return FALSE;
    }

  *exists = TRUE;

  if (!g_input_stream_read_all (G_INPUT_STREAM (stream), header, sizeof header, &n_read,
                                NULL, &local_error))
    {
      g_set_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_READ_ONLY,
                   _("Could not read “%s”: %s"), path, local_error->message);
      return FALSE;
    }

  /* An empty file is what a crash during the very first start leaves: SQLite treats
   * it as a new database. Anything else must carry SQLite's magic. */
  if (n_read == 0)
    return TRUE;

  if (n_read < sizeof header || memcmp (header, magic, sizeof magic) != 0)
    {
      g_set_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_NOT_A_DATABASE,
                   _("“%s” is not a Helix database (it is not an SQLite file). "
                     "Helix has not changed it; move it away or choose another file."),
                   path);
      return FALSE;
    }

  return TRUE;
}

/* Reads what the file says about itself without writing a byte to it. */
static gboolean
inspect_database (sqlite3     *db,
                  const char  *path,
                  gint64       expected_application_id,
                  guint        latest,
                  guint       *version,
                  GError     **error)
{
  gint64 application_id = 0;
  gint64 user_version = 0;
  gint64 n_objects = 0;

  if (!helix_db_query_int (db, "PRAGMA application_id", &application_id, error) ||
      !helix_db_query_int (db, "PRAGMA user_version", &user_version, error) ||
      !helix_db_query_int (db, "SELECT count(*) FROM sqlite_schema", &n_objects, error))
    {
      g_prefix_error (error, _("Could not open “%s”: "), path);
      return FALSE;
    }

  if (application_id != expected_application_id &&
      (application_id != 0 || user_version != 0 || n_objects != 0))
    {
      g_set_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_NOT_A_DATABASE,
                   _("“%s” is an SQLite database of another program, not of Helix. "
                     "Helix has not changed it; choose another file."),
                   path);
      return FALSE;
    }

  if (user_version > latest)
    {
      g_set_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_TOO_NEW,
                   _("“%s” was written by a newer version of Helix (schema %d; this version "
                     "knows up to %u). Update Helix to open it; the file has not been changed."),
                   path, (int) MIN (user_version, G_MAXINT), latest);
      return FALSE;
    }

  *version = (guint) user_version;

  return TRUE;
}

/**
 * helix_db_open_checked:
 * @path: the database file; created, with its folder (mode 0700), when missing
 * @application_id: the `PRAGMA application_id` the program's databases carry
 * @latest_version: the newest schema version the program knows
 * @version: (out): the file's schema version (0 for a new file)
 * @error: a location for a #GError
 *
 * Opens a writable connection, but only after reading, without writing a byte, that the
 * file is SQLite, belongs to this program (or is new) and is not newer than
 * @latest_version. Anything else is refused with a %HELIX_STORE_ERROR that says so and
 * leaves the file as it was. The caller sets the journal mode and migrates.
 *
 * Returns: (transfer full): the connection, or %NULL
 */
sqlite3 *
helix_db_open_checked (const char  *path,
                       gint64       application_id,
                       guint        latest_version,
                       guint       *version,
                       GError     **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  gboolean exists = FALSE;
  sqlite3 *db;

  if (!is_sqlite_file (path, &exists, error))
    return NULL;

  if (!exists && g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_READ_ONLY,
                   _("Could not create the folder “%s”: %s"), dir, g_strerror (saved_errno));
      return NULL;
    }

  db = helix_db_open (path, FALSE, error);
  if (db == NULL)
    return NULL;

  if (!inspect_database (db, path, application_id, latest_version, version, error))
    {
      sqlite3_close (db);
      return NULL;
    }

  return db;
}

/* Full-text search {{{1 */

/**
 * helix_db_fts_query:
 * @text: what the user typed
 * @prefix_last: whether the last word matches as a prefix (search as you type)
 *
 * Turns free text into an FTS5 query that cannot fail to parse, for the desktop
 * store and the gateway alike: the text is split into words the way the
 * unicode61 tokenizer splits it, every word becomes a quoted string (so
 * operators and punctuation are taken literally), and all words must match.
 * Words after the first %HELIX_DB_FTS_MAX_TERMS are ignored.
 *
 * Returns: (transfer full) (nullable): the query, or %NULL when @text has no words
 */
char *
helix_db_fts_query (const char *text,
                    gboolean    prefix_last)
{
  g_autoptr(GString) query = g_string_new (NULL);
  guint n_terms = 0;
  const char *p;

  if (text == NULL || !g_utf8_validate (text, -1, NULL))
    return NULL;

  p = text;
  while (*p != '\0' && n_terms < HELIX_DB_FTS_MAX_TERMS)
    {
      const char *start;

      while (*p != '\0' && !g_unichar_isalnum (g_utf8_get_char (p)))
        p = g_utf8_next_char (p);
      if (*p == '\0')
        break;

      start = p;
      while (*p != '\0' && g_unichar_isalnum (g_utf8_get_char (p)))
        p = g_utf8_next_char (p);

      /* Word characters only, so the quotes need no escaping. */
      if (n_terms > 0)
        g_string_append_c (query, ' ');
      g_string_append_c (query, '"');
      g_string_append_len (query, start, p - start);
      g_string_append_c (query, '"');
      n_terms++;
    }

  if (n_terms == 0)
    return NULL;

  if (prefix_last)
    g_string_append_c (query, '*');

  return g_string_free (g_steal_pointer (&query), FALSE);
}
