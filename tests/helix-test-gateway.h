/* helix-test-gateway.h: helpers shared by the tests of an in-process gateway
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <string.h>

#include <glib/gstdio.h>

#include "helix-gateway.h"
#include "helix-gateway-db.h"
#include "helix-password.h"
#include "helix-test-util.h"

G_BEGIN_DECLS

#define HELIX_TEST_GATEWAY_WAIT_S 60

/* A configuration for a gateway on an ephemeral loopback port with its state in
 * @dir/state; a test changes what else it needs before starting it. */
static inline HelixGatewayConfig *
helix_test_gateway_config_new (const char *dir)
{
  HelixGatewayConfig *config = helix_gateway_config_new ();
  g_autofree char *state_dir = g_build_filename (dir, "state", NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (helix_gateway_config_set_listen (config, "127.0.0.1:0", &error));
  g_assert_true (helix_gateway_config_set_state_dir (config, state_dir, &error));
  g_assert_no_error (error);

  return config;
}

/* What a test changes in the configuration before the gateway starts. */
typedef struct
{
  const char *rate_limit_per_user;    /* %NULL: off */
  const char *rate_limit_per_address; /* %NULL: off */
  gboolean    maintenance;
} HelixTestGatewaySetup;

/* Applies @setup (%NULL: the defaults) to @config. The rate limits are off
 * unless @setup says otherwise: a test makes many requests from one address. */
static inline void
helix_test_gateway_config_apply (HelixGatewayConfig          *config,
                                 const HelixTestGatewaySetup *setup)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (helix_gateway_config_set_rate_limit_per_user (
                   config, setup != NULL && setup->rate_limit_per_user != NULL
                             ? setup->rate_limit_per_user : "off", &error));
  g_assert_true (helix_gateway_config_set_rate_limit_per_address (
                   config, setup != NULL && setup->rate_limit_per_address != NULL
                             ? setup->rate_limit_per_address : "off", &error));
  g_assert_no_error (error);
  helix_gateway_config_set_maintenance (config, setup != NULL && setup->maintenance);
}

/* Creates a gateway with @config and starts it, which must succeed. */
static inline HelixGateway *
helix_test_gateway_start (HelixGatewayConfig *config)
{
  HelixGateway *gateway = helix_gateway_new (config);
  g_autoptr(GError) error = NULL;

  g_assert_true (helix_gateway_start (gateway, &error));
  g_assert_no_error (error);

  return gateway;
}

/* The port @gateway listens on. */
static inline guint
helix_test_gateway_get_port (HelixGateway *gateway)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUri) uri = g_uri_parse (helix_gateway_get_uri (gateway), G_URI_FLAGS_NONE, &error);

  g_assert_no_error (error);

  return (guint) g_uri_get_port (uri);
}

static inline void
helix_test_gateway_shutdown_cb (GObject      *source,
                                GAsyncResult *result,
                                gpointer      user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;

  helix_gateway_shutdown_finish (HELIX_GATEWAY (source), result, &error);
  g_assert_no_error (error);
  *done = TRUE;
}

/* Shuts @gateway down, spinning the main loop until it has; the caller still owns it. */
static inline void
helix_test_gateway_shutdown (HelixGateway *gateway)
{
  gboolean done = FALSE;

  helix_gateway_shutdown_async (gateway, NULL, helix_test_gateway_shutdown_cb, &done);
  helix_test_wait_for (done, HELIX_TEST_GATEWAY_WAIT_S, "the gateway to shut down");
}

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

/* Adds to @config the one AI provider of the gateway tests that chat:
 * "alpha", OpenAI's format, at @base_url, serving alpha-model ($1 and $2 per
 * million tokens in and out), its key @key in a key file of mode 0600 and
 * its price table, both written in @dir; the router tries each call once. */
static inline void
helix_test_gateway_config_add_alpha (HelixGatewayConfig *config,
                                     const char         *dir,
                                     const char         *base_url,
                                     const char         *key)
{
  static const char prices_json[] =
    "{\"version\":1,\"models\":["
    "{\"provider\":\"alpha\",\"model\":\"alpha-model\",\"input\":1.0,\"output\":2.0,"
    "\"tier\":2,\"context\":128000,\"streaming\":true}]}";
  g_autofree char *keys = g_build_filename (dir, "alpha.keys", NULL);
  g_autofree char *prices = g_build_filename (dir, "prices.json", NULL);
  g_autofree char *key_line = g_strconcat (key, "\n", NULL);
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;

  g_file_set_contents_full (keys, key_line, -1, G_FILE_SET_CONTENTS_NONE, 0600, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (keys, 0600), ==, 0);
  g_file_set_contents (prices, prices_json, -1, &error);
  g_assert_no_error (error);

  text = g_strdup_printf ("[router]\nprices=%s\nmax-attempts=1\n"
                          "\n[provider alpha]\nkind=openai\nbase-url=%s\nmodels=alpha-model\n"
                          "key-file=%s\n", prices, base_url, keys);
  helix_gateway_config_load_data (config, text, strlen (text), "test.conf", &error);
  g_assert_no_error (error);
}

G_END_DECLS
