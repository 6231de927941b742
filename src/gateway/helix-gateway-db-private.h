/* helix-gateway-db-private.h: what the database's files share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <sqlite3.h>

#include "helix-gateway-db.h"

G_BEGIN_DECLS

/* A connection that defers checkpoints (helix_gateway_db_defer_checkpoints())
 * has the write-ahead log copied back by a background thread once it is past
 * this many pages (125 MiB of 4 KiB pages). A busy gateway rewrites the same
 * pages (each index's last page per user) in every commit: the longer the
 * log, the more of its frames are older copies of a page that the
 * checkpoint skips. */
#define HELIX_GATEWAY_DB_CHECKPOINT_PAGES 32000

sqlite3  *_helix_gateway_db_get_handle (HelixGatewayDb  *self,
                                        GError         **error);
gboolean  _helix_gateway_db_begin      (HelixGatewayDb  *self,
                                        GError         **error);
gboolean  _helix_gateway_db_commit     (HelixGatewayDb  *self,
                                        gboolean         ok,
                                        GError         **error);
sqlite3_stmt *_helix_gateway_db_prepare (HelixGatewayDb  *self,
                                         const char      *sql,
                                         GError         **error);
void      _helix_gateway_db_release    (sqlite3_stmt    *stmt);
void      _helix_gateway_db_set_checkpoint_pages (HelixGatewayDb *self,
                                                  int             pages);

HelixGatewayDb *_helix_gateway_db_open_again (const char  *path,
                                              GError     **error);

void      _helix_gateway_db_mark_writer_thread (void);
void      _helix_gateway_db_get_commit_counts  (guint          *n_writer,
                                                guint          *n_other);

G_END_DECLS
