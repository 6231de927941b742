/* helix-db.h: small SQLite helpers shared by every Helix database
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* The most words helix_db_fts_query() keeps from a text. */
#define HELIX_DB_FTS_MAX_TERMS 16

sqlite3      *helix_db_open            (const char    *path,
                                        gboolean       read_only,
                                        GError       **error);
sqlite3      *helix_db_open_checked    (const char    *path,
                                        gint64         application_id,
                                        guint          latest_version,
                                        guint         *version,
                                        GError       **error);
gboolean      helix_db_exec            (sqlite3       *db,
                                        const char    *sql,
                                        const char    *what,
                                        GError       **error);
sqlite3_stmt *helix_db_prepare         (sqlite3       *db,
                                        const char    *sql,
                                        gboolean       persistent,
                                        GError       **error);
gboolean      helix_db_query_int       (sqlite3       *db,
                                        const char    *sql,
                                        gint64        *value,
                                        GError       **error);
void          helix_db_set_error       (GError       **error,
                                        sqlite3       *db,
                                        int            rc,
                                        const char    *what);
guint         helix_db_list_migrations (GResource     *resource,
                                        const char    *dir,
                                        guint        **versions);
gboolean      helix_db_migrate         (sqlite3       *db,
                                        GResource     *resource,
                                        const char    *dir,
                                        guint          target_version,
                                        GError       **error);
char         *helix_db_fts_query       (const char    *text,
                                        gboolean       prefix_last);

G_END_DECLS
