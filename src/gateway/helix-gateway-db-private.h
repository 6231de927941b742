/* helix-gateway-db-private.h: what the database's files share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <sqlite3.h>

#include "helix-gateway-db.h"

G_BEGIN_DECLS

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

G_END_DECLS
