/* test-gateway-admin.c: feature flags and maintenance mode through the HTTP API
 *
 * A real gateway in this process on an ephemeral loopback port, an
 * administrator (root) and a user (bob), real libsoup clients. Flags come
 * from the configuration ([flags], a kill switch in the environment), are
 * changed by the administrator, evaluated for bob, refused to bob, and
 * survive a restart of the gateway; so does maintenance mode.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "helix-flags.h"
#include "helix-gateway.h"
#include "helix-test-gateway.h"
#include "helix-test-http.h"
#include "helix-test-util.h"

#define ROOT_PASSWORD "root password for the admin test"
#define BOB_PASSWORD  "bob password for the admin test"

#define CONFIG_TEXT \
  "[flags]\n" \
  "voice=25%\n" \
  "composite-skills=off\n" \
  "disable-custom-tools=false\n"

typedef struct
{
  char               *dir;
  HelixGatewayConfig *config;
  HelixGateway       *gateway;
  SoupSession        *session;
  char               *base;
  char               *root_token;
  char               *bob_token;
} Fixture;

static void
start (Fixture *f)
{
  f->gateway = helix_test_gateway_start (f->config);
  g_free (f->base);
  f->base = g_strdup (helix_gateway_get_uri (f->gateway));
}

static void
stop (Fixture *f)
{
  helix_test_gateway_shutdown (f->gateway);
  helix_test_assert_finalized (g_steal_pointer (&f->gateway));
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) env = g_environ_setenv (NULL, "DISABLE_SYNTHESIS", "1", TRUE);
  g_autofree char *hash = NULL;

  f->dir = g_dir_make_tmp ("helix-gateway-admin-XXXXXX", &error);
  g_assert_no_error (error);
  f->config = helix_test_gateway_config_new (f->dir);
  helix_test_gateway_config_apply (f->config, NULL);
  g_assert_true (helix_gateway_config_load_data (f->config, CONFIG_TEXT, strlen (CONFIG_TEXT),
                                                 "test.conf", &error));
  g_assert_no_error (error);
  g_assert_true (helix_gateway_config_apply_environment (f->config, (const char * const *) env,
                                                         &error));
  g_assert_no_error (error);

  start (f);
  f->session = soup_session_new ();

  hash = helix_password_hash (ROOT_PASSWORD, &error);
  g_assert_no_error (error);
  g_assert_true (helix_gateway_db_add_user (helix_gateway_get_db (f->gateway), "root", hash, TRUE,
                                            &error));
  g_assert_no_error (error);
  helix_test_gateway_add_user (f->gateway, "bob", BOB_PASSWORD);

  f->root_token = helix_test_login (f->session, f->base, "root", ROOT_PASSWORD, "console", NULL);
  f->bob_token = helix_test_login (f->session, f->base, "bob", BOB_PASSWORD, "laptop", NULL);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_object (&f->session);
  if (f->gateway != NULL)
    stop (f);
  helix_test_rm_rf (f->dir);
  g_clear_pointer (&f->config, helix_gateway_config_free);
  g_free (f->dir);
  g_free (f->base);
  g_free (f->root_token);
  g_free (f->bob_token);
}

/* A request that must answer @status with the error @code. */
static void
expect_error (Fixture    *f,
              const char *method,
              const char *path,
              const char *token,
              const char *body,
              guint       status,
              const char *code)
{
  helix_test_http_expect_error (f->session, f->base, method, path, token, body, status, code);
}

/* The entry of @name in GET /api/v1/admin/flags. */
static JsonObject *
find_flag (JsonNode   *root,
           const char *name)
{
  JsonArray *flags = json_object_get_array_member (json_node_get_object (root), "flags");

  for (guint i = 0; i < json_array_get_length (flags); i++)
    {
      JsonObject *flag = json_array_get_object_element (flags, i);

      if (g_str_equal (json_object_get_string_member (flag, "name"), name))
        return flag;
    }

  g_error ("GET /api/v1/admin/flags has no flag %s", name);
}

static void
assert_flag (JsonObject *flag,
             gboolean    enabled,
             gint64      percent,
             gboolean    killed,
             const char *source)
{
  g_assert_cmpint (json_object_get_boolean_member (flag, "enabled"), ==, enabled);
  g_assert_cmpint (json_object_get_int_member (flag, "percent"), ==, percent);
  g_assert_cmpint (json_object_get_boolean_member (flag, "killed"), ==, killed);
  g_assert_cmpstr (json_object_get_string_member (flag, "source"), ==, source);
}

static void
test_list (Fixture       *f,
           gconstpointer  data)
{
  g_autoptr(JsonNode) root = NULL;
  JsonObject *flag;

  root = helix_test_http_json (f->session, f->base, "GET", "/api/v1/admin/flags", f->root_token,
                               NULL, SOUP_STATUS_OK);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (
                      json_node_get_object (root), "flags")), ==, 4);

  assert_flag (find_flag (root, "voice"), TRUE, 25, FALSE, "config");
  assert_flag (find_flag (root, "composite-skills"), FALSE, 100, FALSE, "config");
  assert_flag (find_flag (root, "custom-tools"), TRUE, 100, FALSE, "default");

  flag = find_flag (root, "memory-synthesis");
  assert_flag (flag, TRUE, 100, TRUE, "default");
  g_assert_cmpstr (json_object_get_string_member (flag, "killed_by"), ==, "environment");
  g_assert_cmpstr (json_object_get_string_member (flag, "kill_variable"), ==,
                   "DISABLE_SYNTHESIS");
  g_assert_true (json_object_get_null_member (find_flag (root, "voice"), "killed_by"));

  /* Not for bob, nor without a token. */
  expect_error (f, "GET", "/api/v1/admin/flags", f->bob_token, NULL, 403, "forbidden");
  expect_error (f, "GET", "/api/v1/admin/flags", NULL, NULL, 401, "unauthorized");
  expect_error (f, "GET", "/api/v1/admin/nothing", f->root_token, NULL, 404, "not_found");
  expect_error (f, "DELETE", "/api/v1/admin/flags", f->root_token, NULL, 405,
                "method_not_allowed");
}

/* What GET /api/v1/flags says of @name for the caller. */
static gboolean
user_flag (Fixture    *f,
           const char *token,
           const char *name)
{
  g_autoptr(JsonNode) root = helix_test_http_json (f->session, f->base, "GET", "/api/v1/flags",
                                                   token, NULL, SOUP_STATUS_OK);
  JsonObject *flags = json_object_get_object_member (json_node_get_object (root), "flags");

  g_assert_cmpuint (json_object_get_size (flags), ==, 4);

  return json_object_get_boolean_member (flags, name);
}

static void
test_user_flags (Fixture       *f,
                 gconstpointer  data)
{
  /* voice is rolled out to 25 %: bob's bucket decides. */
  g_assert_cmpint (user_flag (f, f->bob_token, "voice"), ==,
                   helix_flags_bucket ("voice", "bob") < 2500);
  g_assert_cmpint (user_flag (f, f->root_token, "voice"), ==,
                   helix_flags_bucket ("voice", "root") < 2500);
  g_assert_false (user_flag (f, f->bob_token, "composite-skills"));
  g_assert_false (user_flag (f, f->bob_token, "memory-synthesis"));
  g_assert_true (user_flag (f, f->bob_token, "custom-tools"));

  expect_error (f, "GET", "/api/v1/flags", NULL, NULL, 401, "unauthorized");
}

static void
test_patch (Fixture       *f,
            gconstpointer  data)
{
  static const char * const bad_bodies[] = {
    "{}",
    "{\"percent\":101}",
    "{\"percent\":-1}",
    "{\"percent\":\"5\"}",
    "{\"percent\":5.0}",
    "{\"enabled\":1}",
    "{\"enabled\":true,\"extra\":1}",
    "{\"enabled\":true,\"enabled\":false}",
    "[]",
    "{\"percent\":99999999999999999999}",
  };
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(JsonNode) listed = NULL;
  g_autofree char *flags_path = NULL;
  GStatBuf st;

  /* Bob may not, and nothing changes. */
  expect_error (f, "PATCH", "/api/v1/admin/flags/voice", f->bob_token, "{\"percent\":100}", 403,
                "forbidden");
  listed = helix_test_http_json (f->session, f->base, "GET", "/api/v1/admin/flags",
                                 f->root_token, NULL, SOUP_STATUS_OK);
  assert_flag (find_flag (listed, "voice"), TRUE, 25, FALSE, "config");
  g_clear_pointer (&listed, json_node_unref);

  for (guint i = 0; i < G_N_ELEMENTS (bad_bodies); i++)
    {
      g_test_message ("PATCH %s", bad_bodies[i]);
      expect_error (f, "PATCH", "/api/v1/admin/flags/voice", f->root_token, bad_bodies[i], 400,
                    NULL);
    }
  expect_error (f, "PATCH", "/api/v1/admin/flags/teleport", f->root_token, "{\"percent\":5}",
                404, "not_found");
  expect_error (f, "PATCH", "/api/v1/admin/flags/voice/x", f->root_token, "{\"percent\":5}", 404,
                "not_found");
  {
    g_autoptr(GBytes) response = NULL;
    g_autoptr(SoupMessage) msg = helix_test_http_send (f->session, f->base, "PATCH",
                                                       "/api/v1/admin/flags/voice",
                                                       f->root_token, "text/plain",
                                                       "{\"percent\":5}", -1, &response);

    helix_test_http_assert_status (msg, response, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE);
  }
  listed = helix_test_http_json (f->session, f->base, "GET", "/api/v1/admin/flags",
                                 f->root_token, NULL, SOUP_STATUS_OK);
  assert_flag (find_flag (listed, "voice"), TRUE, 25, FALSE, "config");
  g_clear_pointer (&listed, json_node_unref);

  /* The administrator rolls voice out to everyone. */
  root = helix_test_http_json (f->session, f->base, "PATCH", "/api/v1/admin/flags/voice",
                               f->root_token, "{\"percent\":100}", SOUP_STATUS_OK);
  assert_flag (json_node_get_object (root), TRUE, 100, FALSE, "runtime");
  g_assert_false (json_object_get_null_member (json_node_get_object (root), "changed"));
  g_assert_true (user_flag (f, f->bob_token, "voice"));
  g_clear_pointer (&root, json_node_unref);

  /* A killed flag can be changed, but stays off. */
  root = helix_test_http_json (f->session, f->base, "PATCH",
                               "/api/v1/admin/flags/memory-synthesis", f->root_token,
                               "{\"enabled\":true,\"percent\":100}", SOUP_STATUS_OK);
  assert_flag (json_node_get_object (root), TRUE, 100, TRUE, "runtime");
  g_assert_false (user_flag (f, f->bob_token, "memory-synthesis"));
  g_clear_pointer (&root, json_node_unref);

  /* Off for everyone. */
  root = helix_test_http_json (f->session, f->base, "PATCH", "/api/v1/admin/flags/custom-tools",
                               f->root_token, "{\"enabled\":false}", SOUP_STATUS_OK);
  assert_flag (json_node_get_object (root), FALSE, 100, FALSE, "runtime");
  g_assert_false (user_flag (f, f->bob_token, "custom-tools"));
  g_assert_false (user_flag (f, f->root_token, "custom-tools"));
  g_clear_pointer (&root, json_node_unref);

  flags_path = g_build_filename (helix_gateway_config_get_state_dir (f->config), "flags.json",
                                 NULL);
  g_assert_cmpint (g_stat (flags_path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  /* After a restart the changes are still there; the configuration did not win. */
  stop (f);
  start (f);
  listed = helix_test_http_json (f->session, f->base, "GET", "/api/v1/admin/flags",
                                 f->root_token, NULL, SOUP_STATUS_OK);
  assert_flag (find_flag (listed, "voice"), TRUE, 100, FALSE, "runtime");
  assert_flag (find_flag (listed, "custom-tools"), FALSE, 100, FALSE, "runtime");
  assert_flag (find_flag (listed, "memory-synthesis"), TRUE, 100, TRUE, "runtime");
  assert_flag (find_flag (listed, "composite-skills"), FALSE, 100, FALSE, "config");
  g_assert_true (user_flag (f, f->bob_token, "voice"));
}

/* Whether @json (an answer of /api/v1/admin/maintenance) says @maintenance from @source. */
static void
assert_maintenance (JsonNode   *root,
                    gboolean    maintenance,
                    const char *source)
{
  JsonObject *object = json_node_get_object (root);

  g_assert_cmpint (json_object_get_boolean_member (object, "maintenance"), ==, maintenance);
  g_assert_cmpstr (json_object_get_string_member (object, "source"), ==, source);
}

static void
test_maintenance (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GBytes) created = NULL;

  root = helix_test_http_json (f->session, f->base, "GET", "/api/v1/admin/maintenance",
                               f->root_token, NULL, SOUP_STATUS_OK);
  assert_maintenance (root, FALSE, "config");
  g_clear_pointer (&root, json_node_unref);

  expect_error (f, "GET", "/api/v1/admin/maintenance", f->bob_token, NULL, 403, "forbidden");
  expect_error (f, "PUT", "/api/v1/admin/maintenance", f->bob_token, "{\"maintenance\":true}",
                403, "forbidden");
  expect_error (f, "PUT", "/api/v1/admin/maintenance", f->root_token, "{\"maintenance\":1}",
                400, "invalid_request");
  expect_error (f, "PUT", "/api/v1/admin/maintenance", f->root_token,
                "{\"maintenance\":true,\"why\":\"x\"}", 400, "invalid_request");
  expect_error (f, "POST", "/api/v1/admin/maintenance", f->root_token, "{\"maintenance\":true}",
                405, "method_not_allowed");

  root = helix_test_http_json (f->session, f->base, "PUT", "/api/v1/admin/maintenance",
                               f->root_token, "{\"maintenance\":true}", SOUP_STATUS_OK);
  assert_maintenance (root, TRUE, "runtime");
  g_clear_pointer (&root, json_node_unref);

  /* Writes are refused, reads and admin changes go on. */
  expect_error (f, "POST", "/api/v1/sessions", f->bob_token, "{\"title\":\"x\"}", 503,
                "maintenance");
  g_clear_pointer (&root, json_node_unref);
  root = helix_test_http_json (f->session, f->base, "GET", "/health", NULL, NULL,
                               SOUP_STATUS_OK);
  g_assert_true (json_object_get_boolean_member (json_node_get_object (root), "maintenance"));
  g_clear_pointer (&root, json_node_unref);
  root = helix_test_http_json (f->session, f->base, "PATCH", "/api/v1/admin/flags/voice",
                               f->root_token, "{\"percent\":50}", SOUP_STATUS_OK);
  g_clear_pointer (&root, json_node_unref);

  /* It survives a restart, although the configuration says no maintenance. */
  stop (f);
  start (f);
  root = helix_test_http_json (f->session, f->base, "GET", "/api/v1/admin/maintenance",
                               f->root_token, NULL, SOUP_STATUS_OK);
  assert_maintenance (root, TRUE, "runtime");
  g_clear_pointer (&root, json_node_unref);
  expect_error (f, "POST", "/api/v1/sessions", f->bob_token, "{\"title\":\"x\"}", 503,
                "maintenance");

  /* Ended, writes work again. */
  root = helix_test_http_json (f->session, f->base, "PUT", "/api/v1/admin/maintenance",
                               f->root_token, "{\"maintenance\":false}", SOUP_STATUS_OK);
  assert_maintenance (root, FALSE, "runtime");
  created = helix_test_http (f->session, f->base, "POST", "/api/v1/sessions", f->bob_token,
                             "{\"title\":\"x\"}", SOUP_STATUS_CREATED);

  /* Switched off at run time, it stays off even when the configuration says on. */
  stop (f);
  helix_gateway_config_set_maintenance (f->config, TRUE);
  start (f);
  g_clear_pointer (&root, json_node_unref);
  root = helix_test_http_json (f->session, f->base, "GET", "/api/v1/admin/maintenance",
                               f->root_token, NULL, SOUP_STATUS_OK);
  assert_maintenance (root, FALSE, "runtime");
}

/* A damaged state file stops the start-up with a message naming it, and is
 * left for the administrator. */
static void
test_damaged_state (Fixture       *f,
                    gconstpointer  data)
{
  g_autofree char *flags_path = g_build_filename (helix_gateway_config_get_state_dir (f->config),
                                                  "flags.json", NULL);
  g_autoptr(HelixGateway) gateway = NULL;
  g_autoptr(GError) error = NULL;

  stop (f);
  g_assert_true (g_file_set_contents (flags_path, "{\"voice\":{\"enabled\":true,\"percent\":500,"
                                                  "\"changed_us\":1}}", -1, &error));
  gateway = helix_gateway_new (f->config);
  g_assert_false (helix_gateway_start (gateway, &error));
  g_assert_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_STATE_DIR);
  g_assert_nonnull (strstr (error->message, flags_path));
}

/* [flags] and the kill switches of the environment refuse what they do not know. */
static void
test_config (void)
{
  static const struct
  {
    const char *text;
    int         code;
    const char *needle;
  } bad[] = {
    { "[flags]\nvoice=150%\n", HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE, "test.conf:2" },
    { "[flags]\nvoice=sometimes\n", HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE, "voice" },
    { "[flags]\nteleport=on\n", HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_KEY, "teleport" },
    { "[flags]\nvoise=on\n", HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_KEY, "did you mean “voice”" },
    { "[flags]\ndisable-voice=maybe\n", HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
      "disable-voice" },
    { "[flags]\nvoice=on\nvoice=off\n", HELIX_GATEWAY_CONFIG_ERROR_DUPLICATE_KEY, "voice" },
  };
  g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
  g_autoptr(HelixFlags) flags = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) env = g_environ_setenv (NULL, "DISABLE_VOICE", "perhaps", TRUE);
  HelixFlagState state;

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_false (helix_gateway_config_load_data (config, bad[i].text, strlen (bad[i].text),
                                                      "test.conf", &error));
      g_assert_error (error, HELIX_GATEWAY_CONFIG_ERROR, bad[i].code);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, bad[i].needle));
      g_clear_error (&error);
    }

  g_assert_false (helix_gateway_config_apply_environment (config, (const char * const *) env,
                                                          &error));
  g_assert_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE);
  g_assert_nonnull (strstr (error->message, "DISABLE_VOICE"));
  g_clear_error (&error);

  /* Nothing of the refused input stuck. */
  flags = helix_gateway_config_dup_flags (config);
  g_assert_true (helix_flags_get_state (flags, "voice", &state));
  g_assert_cmpint (state.source, ==, HELIX_FLAG_SOURCE_DEFAULT);
  g_assert_cmpint (state.kill, ==, HELIX_FLAG_KILL_NONE);
  g_clear_object (&flags);

  /* A kill switch in the file. */
  g_assert_true (helix_gateway_config_load_data (config, "[flags]\ndisable-voice=1\n", 24,
                                                 "test.conf", &error));
  g_assert_no_error (error);
  flags = helix_gateway_config_dup_flags (config);
  g_assert_true (helix_flags_get_state (flags, "voice", &state));
  g_assert_cmpint (state.kill, ==, HELIX_FLAG_KILL_CONFIG);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/helix/gateway/admin/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  g_test_add_func ("/helix/gateway/admin/config", test_config);
  ADD ("list", test_list);
  ADD ("user-flags", test_user_flags);
  ADD ("patch", test_patch);
  ADD ("maintenance", test_maintenance);
  ADD ("damaged-state", test_damaged_state);

#undef ADD

  return g_test_run ();
}
