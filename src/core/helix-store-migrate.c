/* helix-store-migrate.c: schema migrations
 *
 * Migrations are numbered SQL files compiled into the core GResource
 * (src/core/migrations/NNNN-name.sql). Each is applied in its own transaction together
 * with the new PRAGMA user_version, so a crash leaves the database at a version it
 * fully has.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-store"

#include "config.h"

#include <glib/gi18n.h>
#include <stdlib.h>

#include "helix-core-resources.h"
#include "helix-store-private.h"

#define MIGRATIONS_PATH "/ai/helix/Helix/core/migrations"

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
migration_name (guint version)
{
  g_auto(GStrv) children = g_resource_enumerate_children (helix_core_get_resource (),
                                                          MIGRATIONS_PATH,
                                                          G_RESOURCE_LOOKUP_FLAGS_NONE,
                                                          NULL);

  for (guint i = 0; children && children[i]; i++)
    {
      if (migration_version (children[i]) == version)
        return g_strdup (children[i]);
    }

  return NULL;
}

/* Returns the number of migrations; @versions gets them sorted. */
guint
_helix_store_list_migrations (guint **versions)
{
  g_auto(GStrv) children = NULL;
  g_autoptr(GArray) array = g_array_new (FALSE, FALSE, sizeof (guint));

  children = g_resource_enumerate_children (helix_core_get_resource (),
                                            MIGRATIONS_PATH,
                                            G_RESOURCE_LOOKUP_FLAGS_NONE,
                                            NULL);
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

guint
helix_store_get_latest_schema_version (void)
{
  return _helix_store_list_migrations (NULL);
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
           guint        version,
           GError     **error)
{
  g_autofree char *name = migration_name (version);
  g_autofree char *path = g_strconcat (MIGRATIONS_PATH "/", name, NULL);
  g_autofree char *set_version = g_strdup_printf ("PRAGMA user_version = %u", version);
  g_autoptr(GBytes) bytes = NULL;
  g_autofree char *sql = NULL;
  char *errmsg = NULL;
  int rc;

  bytes = g_resources_lookup_data (path, G_RESOURCE_LOOKUP_FLAGS_NONE, error);
  if (bytes == NULL)
    return FALSE;
  sql = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));

  rc = sqlite3_exec (db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    {
      _helix_store_set_error (error, db, rc, _("Could not start upgrading the database"));
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
      _helix_store_set_error (error, db, rc, what);
      sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
      return FALSE;
    }

  g_debug ("Applied migration %s", name);

  return TRUE;
}

/**
 * _helix_store_migrate:
 * @db: a writable connection
 * @target_version: the schema version to reach
 *
 * Applies every migration after the database's user_version up to @target_version,
 * each in one transaction.
 */
gboolean
_helix_store_migrate (sqlite3  *db,
                      guint     target_version,
                      GError  **error)
{
  int current = get_user_version (db);

  if (current < 0)
    {
      _helix_store_set_error (error, db, sqlite3_errcode (db), _("Could not read the schema version"));
      return FALSE;
    }

  for (guint v = (guint) current + 1; v <= target_version; v++)
    {
      if (!apply_one (db, v, error))
        return FALSE;
    }

  return TRUE;
}
