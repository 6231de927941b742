/* helix-store-migrate.c: the desktop store's schema migrations
 *
 * Numbered SQL files compiled into the core GResource (src/core/migrations/), applied
 * by helix_db_migrate().
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-store"

#include "config.h"

#include "helix-core-resources.h"
#include "helix-db.h"
#include "helix-store-private.h"

#define MIGRATIONS_PATH "/ai/helix/Helix/core/migrations"

guint
_helix_store_list_migrations (guint **versions)
{
  return helix_db_list_migrations (helix_core_get_resource (), MIGRATIONS_PATH, versions);
}

guint
helix_store_get_latest_schema_version (void)
{
  return _helix_store_list_migrations (NULL);
}

gboolean
_helix_store_migrate (sqlite3  *db,
                      guint     target_version,
                      GError  **error)
{
  return helix_db_migrate (db, helix_core_get_resource (), MIGRATIONS_PATH, target_version, error);
}
