/* helix-test-gateway.h: helpers shared by the tests of an in-process gateway
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-gateway.h"
#include "helix-gateway-db.h"
#include "helix-password.h"

G_BEGIN_DECLS

/* Adds a user with a real argon2id hash of @password; returns its id. */
static inline gint64
helix_test_gateway_add_user (HelixGateway *gateway,
                             const char   *name,
                             const char   *password)
{
  HelixGatewayDb *db = helix_gateway_get_db (gateway);
  g_autoptr(HelixGatewayUser) user = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *hash = helix_password_hash (password, &error);

  g_assert_no_error (error);
  helix_gateway_db_add_user (db, name, hash, FALSE, &error);
  g_assert_no_error (error);
  user = helix_gateway_db_lookup_user (db, name, &error);
  g_assert_no_error (error);

  return user->id;
}

G_END_DECLS
