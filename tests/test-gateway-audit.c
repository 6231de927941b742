/* test-gateway-audit.c: the gateway's audit trail over HTTP: fail closed, verify, list, canaries
 *
 * A real gateway in this process on an ephemeral loopback port, with a
 * provider whose key comes from the environment and a webhook sink whose URL
 * holds a token, an administrator (root) and a user (bob).
 *
 * - Fail closed: the test holds `BEGIN EXCLUSIVE` on the gateway's audit.db
 *   (a real store that cannot be written; the test runs as root, so file
 *   modes would not stop it). A login, a logout, a flag change and a
 *   maintenance switch then get 503 audit_unavailable and do not happen: no
 *   token, no device, the flag unchanged. Once the lock is gone, they work.
 * - Verify reports ok, and the entry after the test alters its record.
 * - The provider key, the webhook token and a password never appear in a log
 *   message, audit.db, webhooks.db, their WAL files or the state files.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define _GNU_SOURCE
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sqlite3.h>

#include "helix-gateway.h"
#include "helix-gateway-private.h"
#include "helix-sanitizer.h"
#include "helix-test-sqlite.h"
#include "helix-test-gateway.h"
#include "helix-test-http.h"
#include "helix-test-util.h"

#define ROOT_PASSWORD "root password for the audit test"
#define BOB_PASSWORD  "bob password for the audit test"

/* Secrets that must never be written down. */
#define PROVIDER_KEY  "sk-helixcanary0123456789abcdefghijklmnopq"
#define SINK_TOKEN    "CanaryWebhookToken_9f8e7d6c5b4a39281706"
#define WRONG_PASSWORD "canary-password-Zq81LmN0pR"

#define KEY_VARIABLE "HELIX_TEST_AUDIT_PROVIDER_KEY"

/* Port 9 of the loopback address refuses: deliveries fail and are retried. */
#define CONFIG_TEXT \
  "[audit]\n" \
  "heartbeat-seconds=0\n" \
  "checkpoint-entries=2\n" \
  "[sink canary]\n" \
  "url=http://127.0.0.1:9/api/webhooks/4242/" SINK_TOKEN "\n" \
  "format=discord\n" \
  "channels=api;alerts;hash-chain\n" \
  "[provider fake]\n" \
  "kind=openai\n" \
  "base-url=http://127.0.0.1:9/v1\n" \
  "models=fake-model\n" \
  "key-env=" KEY_VARIABLE "\n"

static const char * const canaries[] = { PROVIDER_KEY, SINK_TOKEN, WRONG_PASSWORD };

typedef struct
{
  char               *dir;
  char               *state_dir;
  char               *audit_path;
  HelixGatewayConfig *config;
  HelixGateway       *gateway;
  SoupSession        *session;
  char               *base;
  char               *root_token;
  char               *bob_token;
} Fixture;

/* Logs {{{1 */

static GLogFunc test_log_handler;
static gboolean show_debug;

static void
check_canary (const char *text,
              gssize      length)
{
  g_autofree char *copy = NULL;

  if (text == NULL)
    return;

  copy = length < 0 ? g_strdup (text) : g_strndup (text, length);
  for (guint i = 0; i < G_N_ELEMENTS (canaries); i++)
    if (strstr (copy, canaries[i]) != NULL)
      g_error ("A log message holds the secret %s", canaries[i]);
}

static GLogWriterOutput
canary_writer (GLogLevelFlags   log_level,
               const GLogField *fields,
               gsize            n_fields,
               gpointer         user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (fields[i].length != 0)
      check_canary (fields[i].value, fields[i].length);

  if ((log_level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) != 0 && !show_debug)
    return G_LOG_WRITER_HANDLED;

  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

static void
canary_handler (const char     *log_domain,
                GLogLevelFlags  log_level,
                const char     *message,
                gpointer        user_data)
{
  check_canary (message, -1);

  if ((log_level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) != 0 && !show_debug)
    return;

  test_log_handler (log_domain, log_level, message, user_data);
}

/* Fixture {{{1 */

static void
start (Fixture *f)
{
  f->gateway = helix_test_gateway_start (f->config);
  g_free (f->base);
  f->base = g_strdup (helix_gateway_get_uri (f->gateway));
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *hash = NULL;

  f->dir = g_dir_make_tmp ("helix-gateway-audit-XXXXXX", &error);
  g_assert_no_error (error);
  f->config = helix_test_gateway_config_new (f->dir);
  helix_test_gateway_config_apply (f->config, NULL);
  g_assert_true (helix_gateway_config_load_data (f->config, CONFIG_TEXT, strlen (CONFIG_TEXT),
                                                 "test.conf", &error));
  g_assert_no_error (error);
  f->state_dir = g_strdup (helix_gateway_config_get_state_dir (f->config));
  f->audit_path = g_build_filename (f->state_dir, "audit.db", NULL);

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
    {
      helix_test_gateway_shutdown (f->gateway);
      helix_test_assert_finalized (g_steal_pointer (&f->gateway));
    }
  helix_test_rm_rf (f->dir);
  g_clear_pointer (&f->config, helix_gateway_config_free);
  g_free (f->dir);
  g_free (f->state_dir);
  g_free (f->audit_path);
  g_free (f->base);
  g_free (f->root_token);
  g_free (f->bob_token);
}

/* Helpers {{{1 */

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

/* Holds the write lock of audit.db, as a full disk or a stuck writer would. */
static sqlite3 *
lock_audit (Fixture *f)
{
  sqlite3 *db = NULL;

  db = helix_test_sqlite_open (f->audit_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  g_assert_cmpint (sqlite3_exec (db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), ==, SQLITE_OK);

  return db;
}

static void
unlock_audit (sqlite3 *db)
{
  g_assert_cmpint (sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
}

static guint
count_devices (Fixture    *f,
               const char *user)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) users = helix_gateway_db_list_users (helix_gateway_get_db (f->gateway),
                                                            &error);

  g_assert_no_error (error);
  for (guint i = 0; i < users->len; i++)
    {
      HelixGatewayUser *u = g_ptr_array_index (users, i);

      if (g_str_equal (u->name, user))
        return u->n_devices;
    }

  g_assert_not_reached ();
}

static JsonNode *
list_entries (Fixture    *f,
              const char *query)
{
  g_autofree char *path = g_strconcat ("/api/v1/audit/entries", query, NULL);

  return helix_test_http_json (f->session, f->base, "GET", path, f->root_token, NULL,
                               SOUP_STATUS_OK);
}

/* Whether the newest entries hold @event by @actor. */
static gboolean
has_entry (Fixture    *f,
           const char *event,
           const char *actor)
{
  g_autoptr(JsonNode) root = list_entries (f, "?limit=1000");
  JsonArray *entries = json_object_get_array_member (json_node_get_object (root), "entries");

  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *entry = json_array_get_object_element (entries, i);

      if (g_str_equal (json_object_get_string_member (entry, "event"), event) &&
          g_str_equal (json_object_get_string_member (entry, "actor"), actor))
        return TRUE;
    }

  return FALSE;
}

/* Fail closed {{{1 */

static void
test_fail_closed (Fixture       *f,
                  gconstpointer  data)
{
  g_autofree char *login_body = helix_test_login_body ("bob", BOB_PASSWORD, "phone");
  g_autoptr(JsonNode) root = NULL;
  HelixFlagState state;
  guint bob_devices = count_devices (f, "bob");
  sqlite3 *lock;

  g_assert_true (has_entry (f, "auth.login", "bob"));

  lock = lock_audit (f);

  /* A good password, but no token: the login could not be recorded. */
  {
    g_autoptr(GBytes) response = NULL;
    g_autoptr(SoupMessage) msg = helix_test_http_send (f->session, f->base, "POST",
                                                       "/api/v1/auth/login", NULL,
                                                       "application/json", login_body, -1,
                                                       &response);

    helix_test_http_assert_status (msg, response, SOUP_STATUS_SERVICE_UNAVAILABLE);
    helix_test_http_assert_error (msg, response, "audit_unavailable");
    g_assert_null (g_strstr_len (g_bytes_get_data (response, NULL), g_bytes_get_size (response),
                                 "token"));
  }
  g_assert_cmpuint (count_devices (f, "bob"), ==, bob_devices);

  /* The flag stays as it was. */
  expect_error (f, "PATCH", "/api/v1/admin/flags/voice", f->root_token,
                "{\"enabled\":false}", 503, "audit_unavailable");
  g_assert_true (helix_flags_get_state (helix_gateway_get_flags (f->gateway), "voice", &state));
  g_assert_true (state.enabled);
  g_assert_cmpint (state.source, ==, HELIX_FLAG_SOURCE_DEFAULT);

  /* Logging out does not happen either: bob's token still works. */
  expect_error (f, "POST", "/api/v1/auth/logout", f->bob_token, NULL, 503, "audit_unavailable");

  unlock_audit (lock);

  root = helix_test_http_json (f->session, f->base, "GET", "/api/v1/devices", f->bob_token,
                               NULL, SOUP_STATUS_OK);
  g_clear_pointer (&root, json_node_unref);

  /* With the store writable again, all of it works. */
  g_free (helix_test_login (f->session, f->base, "bob", BOB_PASSWORD, "phone", NULL));
  g_assert_cmpuint (count_devices (f, "bob"), ==, bob_devices + 1);
  root = helix_test_http_json (f->session, f->base, "PATCH", "/api/v1/admin/flags/voice",
                               f->root_token, "{\"enabled\":false}", SOUP_STATUS_OK);
  g_assert_true (helix_flags_get_state (helix_gateway_get_flags (f->gateway), "voice", &state));
  g_assert_false (state.enabled);
  g_assert_true (has_entry (f, "flags.change", "root"));
  g_clear_pointer (&root, json_node_unref);
  g_assert_null (helix_test_http_json (f->session, f->base, "POST", "/api/v1/auth/logout",
                                       f->bob_token, NULL, SOUP_STATUS_NO_CONTENT));
  expect_error (f, "GET", "/api/v1/devices", f->bob_token, NULL, 401, "invalid_token");
  g_assert_true (has_entry (f, "auth.logout", "bob"));
}

/* The maintenance switch and a failed login under the lock: refused too. */
static void
test_fail_closed_maintenance (Fixture       *f,
                              gconstpointer  data)
{
  g_autofree char *bad_login = helix_test_login_body ("bob", WRONG_PASSWORD, "phone");
  g_autofree char *runtime = g_build_filename (f->state_dir, "runtime.json", NULL);
  g_autoptr(GBytes) created = NULL;
  sqlite3 *lock = lock_audit (f);

  expect_error (f, "PUT", "/api/v1/admin/maintenance", f->root_token, "{\"maintenance\":true}",
                503, "audit_unavailable");
  expect_error (f, "POST", "/api/v1/auth/login", NULL, bad_login, 503, "audit_unavailable");
  unlock_audit (lock);

  /* Maintenance was not switched on: writes still work. */
  g_assert_false (g_file_test (runtime, G_FILE_TEST_EXISTS));
  created = helix_test_http (f->session, f->base, "POST", "/api/v1/sessions", f->bob_token,
                             "{\"title\":\"x\"}", SOUP_STATUS_CREATED);
}

/* Verify and list {{{1 */

static JsonObject *
verify (Fixture    *f,
        const char *method,
        const char *query,
        const char *body,
        JsonNode  **root)
{
  g_autofree char *path = g_strconcat ("/api/v1/audit/verify", query, NULL);

  *root = helix_test_http_json (f->session, f->base, method, path, f->root_token, body,
                                SOUP_STATUS_OK);

  return json_node_get_object (*root);
}

/* Flips the last byte of entry @seq's record, behind the gateway's back. */
static void
tamper (Fixture *f,
        gint64   seq)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  g_autofree guint8 *record = NULL;
  int len;

  db = helix_test_sqlite_open (f->audit_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3_busy_timeout (db, 5000);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT record FROM entries WHERE seq = ?", -1, &stmt,
                                       NULL), ==, SQLITE_OK);
  sqlite3_bind_int64 (stmt, 1, seq);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  len = sqlite3_column_bytes (stmt, 0);
  g_assert_cmpint (len, >, 0);
  record = g_memdup2 (sqlite3_column_blob (stmt, 0), len);
  sqlite3_finalize (stmt);

  record[len - 1] ^= 0x01;
  g_assert_cmpint (sqlite3_prepare_v2 (db, "UPDATE entries SET record = ? WHERE seq = ?", -1,
                                       &stmt, NULL), ==, SQLITE_OK);
  sqlite3_bind_blob (stmt, 1, record, len, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, seq);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_DONE);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
}

static void
test_verify (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(JsonNode) again = NULL;
  g_autoptr(JsonNode) posted = NULL;
  g_autoptr(JsonNode) tampered = NULL;
  g_autofree char *checkpoint = NULL;
  g_autofree char *query = NULL;
  g_autofree char *escaped = NULL;
  g_autofree char *body = NULL;
  JsonObject *report;

  report = verify (f, "GET", "", NULL, &root);
  g_assert_true (json_object_get_boolean_member (report, "ok"));
  g_assert_cmpstr (json_object_get_string_member (report, "problem"), ==, "ok");
  g_assert_cmpint (json_object_get_int_member (report, "entries"), >=, 3);
  g_assert_false (json_object_get_null_member (report, "checkpoint"));
  checkpoint = g_strdup (json_object_get_string_member (report, "checkpoint"));

  /* Against a checkpoint kept elsewhere, in the query or in a body. */
  escaped = g_uri_escape_string (checkpoint, NULL, FALSE);
  query = g_strconcat ("?checkpoint=", escaped, NULL);
  report = verify (f, "GET", query, NULL, &again);
  g_assert_true (json_object_get_boolean_member (report, "ok"));
  {
    g_autoptr(JsonBuilder) builder = json_builder_new ();
    g_autoptr(JsonNode) node = NULL;

    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "checkpoint");
    json_builder_add_string_value (builder, checkpoint);
    json_builder_end_object (builder);
    node = json_builder_get_root (builder);
    body = json_to_string (node, FALSE);
  }
  report = verify (f, "POST", "", body, &posted);
  g_assert_true (json_object_get_boolean_member (report, "ok"));

  expect_error (f, "GET", "/api/v1/audit/verify", f->bob_token, NULL, 403, "forbidden");
  expect_error (f, "POST", "/api/v1/audit/verify", f->root_token, "{\"checkpoint\":5}", 400,
                "invalid_request");

  /* Entry 2 altered in the file: verify names it. */
  tamper (f, 2);
  report = verify (f, "GET", "", NULL, &tampered);
  g_test_message ("%s", json_object_get_string_member (report, "message"));
  g_assert_false (json_object_get_boolean_member (report, "ok"));
  g_assert_cmpstr (json_object_get_string_member (report, "problem"), ==, "bad_entry");
  g_assert_cmpint (json_object_get_int_member (report, "seq"), ==, 2);
}

static void
test_entries (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(JsonNode) all = NULL;
  g_autoptr(JsonNode) logins = NULL;
  g_autoptr(JsonNode) page = NULL;
  g_autoptr(JsonNode) older = NULL;
  JsonArray *entries;
  JsonObject *entry;
  gint64 first;

  g_assert_true (has_entry (f, "gateway.start", "system"));
  g_assert_true (has_entry (f, "auth.login", "root"));

  all = list_entries (f, "?channel=api");
  entries = json_object_get_array_member (json_node_get_object (all), "entries");
  g_assert_cmpuint (json_array_get_length (entries), >=, 3);
  for (guint i = 0; i < json_array_get_length (entries); i++)
    g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (entries, i),
                                                    "channel"), ==, "api");

  /* bob's login: its payload names him and his device, never the password. */
  logins = list_entries (f, "?actor=bob&q=auth.login");
  entries = json_object_get_array_member (json_node_get_object (logins), "entries");
  g_assert_cmpuint (json_array_get_length (entries), ==, 1);
  entry = json_array_get_object_element (entries, 0);
  g_assert_cmpstr (json_object_get_string_member (entry, "event"), ==, "auth.login");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (entry, "payload"),
                                                  "device_name"), ==, "laptop");
  g_assert_false (json_object_has_member (json_object_get_object_member (entry, "payload"),
                                          "password"));

  /* Paging: newest first, "next" is the seq to pass as "before". */
  page = list_entries (f, "?limit=1");
  entries = json_object_get_array_member (json_node_get_object (page), "entries");
  g_assert_cmpuint (json_array_get_length (entries), ==, 1);
  first = json_object_get_int_member (json_array_get_object_element (entries, 0), "seq");
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (page), "next"), ==, first);
  {
    g_autofree char *q = g_strdup_printf ("?limit=1&before=%" G_GINT64_FORMAT, first);

    older = list_entries (f, q);
  }
  entries = json_object_get_array_member (json_node_get_object (older), "entries");
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (entries, 0), "seq"),
                   <, first);

  expect_error (f, "GET", "/api/v1/audit/entries?channel=nope", f->root_token, NULL, 400,
                "invalid_request");
  expect_error (f, "GET", "/api/v1/audit/entries?limit=0", f->root_token, NULL, 400,
                "invalid_request");
  expect_error (f, "GET", "/api/v1/audit/entries?limit=1001", f->root_token, NULL, 400,
                "invalid_request");
  expect_error (f, "GET", "/api/v1/audit/entries?before=-1", f->root_token, NULL, 400,
                "invalid_request");
  expect_error (f, "GET", "/api/v1/audit/entries", f->bob_token, NULL, 403, "forbidden");
}

/* The command line's account commands record while the gateway serves: both
 * extend one chain, which still verifies. */
static void
test_cli_while_serving (Fixture       *f,
                        gconstpointer  data)
{
  g_autofree char *config_path = g_build_filename (f->dir, "empty.conf", NULL);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(JsonNode) report = NULL;
  const char *binary = g_getenv ("HELIX_BINARY");

  g_assert_nonnull (binary);
  g_assert_true (g_file_set_contents (config_path, "", 0, &error));
  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error, binary, "--headless",
                              "--config", config_path, "--state-dir", f->state_dir,
                              "--disable-user", "bob", NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_wait_check (process, NULL, &error));
  g_assert_no_error (error);

  /* The gateway appends after it. */
  root = helix_test_http_json (f->session, f->base, "PATCH", "/api/v1/admin/flags/voice",
                               f->root_token, "{\"percent\":40}", SOUP_STATUS_OK);
  {
    g_autofree char *actor = g_strdup_printf ("cli:%s", g_get_user_name ());

    g_assert_true (has_entry (f, "user.disable", actor));
  }
  g_assert_true (has_entry (f, "flags.change", "root"));

  report = helix_test_http_json (f->session, f->base, "GET", "/api/v1/audit/verify",
                                 f->root_token, NULL, SOUP_STATUS_OK);
  g_test_message ("%s", json_object_get_string_member (json_node_get_object (report),
                                                        "problem"));
  g_assert_true (json_object_get_boolean_member (json_node_get_object (report), "ok"));

  /* The command line's verifier takes the gateway's log and key as they are. */
  g_clear_object (&process);
  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error, binary,
                              "--verify-audit", "--state-dir", f->state_dir, NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_wait (process, NULL, &error));
  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);

  /* And the gateway's own: its configuration's state directory and key file. */
  g_clear_object (&process);
  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error, binary, "--headless",
                              "--verify-audit", "--state-dir", f->state_dir, NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_wait (process, NULL, &error));
  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);
}

/* A change on record that then cannot be stored: refused, and on record as failed. */
static void
test_store_fails (Fixture       *f,
                  gconstpointer  data)
{
  g_autofree char *flags_path = g_build_filename (f->state_dir, "flags.json", NULL);
  HelixFlagState state;

  /* A directory where the file must go: the rename over it fails. */
  g_assert_cmpint (g_mkdir (flags_path, 0700), ==, 0);

  expect_error (f, "PATCH", "/api/v1/admin/flags/voice", f->root_token, "{\"percent\":5}", 500,
                "internal");
  g_assert_true (helix_flags_get_state (helix_gateway_get_flags (f->gateway), "voice", &state));
  g_assert_cmpuint (state.percent, ==, 100);
  g_assert_true (has_entry (f, "flags.change", "root"));
  g_assert_true (has_entry (f, "flags.change_failed", "root"));
}

static void
on_entry_added (HelixAudit *audit,
                gint64      seq,
                const char *channel,
                const char *event,
                GPtrArray  *seen)
{
  g_ptr_array_add (seen, g_strdup_printf ("%s %s", channel, event));
}

/* The configuration file changing on disk is on record (file-changes). */
static void
test_config_changes (Fixture       *f,
                     gconstpointer  data)
{
  g_autofree char *path = g_build_filename (f->dir, "gateway.conf", NULL);
  g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = NULL;

  /* Started again, from a file this time. */
  helix_test_gateway_shutdown (f->gateway);
  helix_test_assert_finalized (g_steal_pointer (&f->gateway));
  g_assert_true (g_file_set_contents (path, CONFIG_TEXT, -1, &error));
  g_assert_true (helix_gateway_config_load_file (f->config, path, &error));
  g_assert_no_error (error);
  start (f);
  g_signal_connect (_helix_gateway_get_audit (f->gateway), "entry-added",
                    G_CALLBACK (on_entry_added), seen);

  g_assert_true (g_file_set_contents (path, CONFIG_TEXT "# edited\n", -1, &error));
  helix_test_wait_for (g_ptr_array_find_with_equal_func (seen, "file-changes config.changed",
                                                         g_str_equal, NULL),
                       30, "the change of the configuration file to be recorded");

  root = list_entries (f, "?channel=file-changes&limit=1");
  {
    JsonArray *entries = json_object_get_array_member (json_node_get_object (root), "entries");
    JsonObject *payload = json_object_get_object_member (json_array_get_object_element (entries,
                                                                                        0),
                                                         "payload");

    g_assert_cmpstr (json_object_get_string_member (payload, "path"), ==, path);
  }
}

/* Canaries {{{1 */

static void
assert_file_clean (const char *path)
{
  g_autofree char *contents = NULL;
  gsize length = 0;

  if (!g_file_get_contents (path, &contents, &length, NULL))
    return;

  for (guint i = 0; i < G_N_ELEMENTS (canaries); i++)
    if (memmem (contents, length, canaries[i], strlen (canaries[i])) != NULL)
      g_error ("%s holds the secret %s", path, canaries[i]);
}

static void
assert_state_clean (Fixture *f)
{
  static const char * const files[] = {
    "audit.db", "audit.db-wal", "webhooks.db", "webhooks.db-wal", "gateway.db", "gateway.db-wal",
    "ledger.db", "ledger.db-wal", "flags.json", "runtime.json",
  };

  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (f->state_dir, files[i], NULL);

      assert_file_clean (path);
    }
}

static void
test_canaries (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *bad_login = helix_test_login_body ("bob", WRONG_PASSWORD, "phone");
  g_autofree char *key_login = helix_test_login_body ("root", PROVIDER_KEY, "x");
  g_autoptr(JsonNode) root = NULL;

  /* A failed login (recorded, without the password), one with the key as the password. */
  expect_error (f, "POST", "/api/v1/auth/login", NULL, bad_login, 401, "invalid_credentials");
  expect_error (f, "POST", "/api/v1/auth/login", NULL, key_login, 401, "invalid_credentials");
  g_assert_true (has_entry (f, "auth.login_failed", "bob"));

  /* The provider is called with its key, and fails. */
  {
    g_autoptr(GBytes) response = NULL;
    g_autoptr(SoupMessage) msg =
      helix_test_http_send (f->session, f->base, "POST", "/v1/chat/completions", f->bob_token,
                            "application/json",
                            "{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\","
                            "\"content\":\"hello\"}]}", -1, &response);

    g_assert_cmpuint (soup_message_get_status (msg), >=, 500);
  }

  /* Admin actions and the trail's own views. */
  root = helix_test_http_json (f->session, f->base, "PATCH", "/api/v1/admin/flags/voice",
                               f->root_token, "{\"percent\":10}", SOUP_STATUS_OK);
  g_clear_pointer (&root, json_node_unref);
  root = helix_test_http_json (f->session, f->base, "PUT", "/api/v1/admin/maintenance",
                               f->root_token, "{\"maintenance\":false}", SOUP_STATUS_OK);
  g_clear_pointer (&root, json_node_unref);
  root = list_entries (f, "?limit=1000");
  {
    g_autofree char *text = json_to_string (root, FALSE);

    check_canary (text, -1);
  }

  /* While the gateway runs (the WAL files hold the newest pages) and after it stopped. */
  assert_state_clean (f);
  helix_test_gateway_shutdown (f->gateway);
  helix_test_assert_finalized (g_steal_pointer (&f->gateway));
  assert_state_clean (f);
}

/* [audit] and [sink NAME]: what is wrong is said, a webhook URL never quoted. */
static void
test_config (void)
{
  static const struct
  {
    const char *text;
    int         code;
    const char *needle;
  } bad[] = {
    { "[sink x]\nurl=ftp://example.org/" SINK_TOKEN "\nchannels=api\n",
      HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE, "test.conf:2" },
    { "[sink x]\nurl=https://user:" SINK_TOKEN "@/\nchannels=api\n",
      HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE, "url" },
    { "[sink x]\nurl=https://example.org/" SINK_TOKEN "\n",
      HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE, "channels" },
    { "[sink x]\nchannels=api\n", HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE, "needs “url”" },
    { "[sink x]\nurl=https://example.org/" SINK_TOKEN "\nchannels=api;nope\n",
      HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE, "nope" },
    { "[sink x]\nformat=xml\n", HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE, "discord or json" },
    { "[sink x]\ntoken=" SINK_TOKEN "\n", HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_KEY, "token" },
    { "[sink bad name]\n", HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_GROUP, "sink’s name" },
    { "[audit]\ncheckpoint-entries=-1\n", HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
      "checkpoint-entries" },
    { "[audit]\nkey-file=audit.key\n", HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
      "absolute path" },
    { "[audit]\nheartbeat=60\n", HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_KEY,
      "heartbeat-seconds" },
  };
  g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *redacted = NULL;
  g_autofree char *key_file = NULL;
  const HelixGatewaySinkConfig *sink;
  guint entries, seconds, heartbeat;
  const char *good =
    "[audit]\nkey-file=/var/lib/helix/other.key\ncheckpoint-entries=50\n"
    "checkpoint-seconds=30\nheartbeat-seconds=15\n"
    "[sink ops]\nurl=https://discord.example/api/webhooks/1/" SINK_TOKEN "\n"
    "backup-url=https://backup.example/hook\nformat=discord\n"
    "channels=api; alerts;hash-chain;api\n";

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_false (helix_gateway_config_load_data (config, bad[i].text, strlen (bad[i].text),
                                                      "test.conf", &error));
      g_assert_error (error, HELIX_GATEWAY_CONFIG_ERROR, bad[i].code);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, bad[i].needle));
      g_assert_null (strstr (error->message, SINK_TOKEN));
      g_clear_error (&error);
    }
  g_assert_cmpuint (helix_gateway_config_get_n_sinks (config), ==, 0);

  g_assert_true (helix_gateway_config_load_data (config, good, strlen (good), "test.conf",
                                                 &error));
  g_assert_no_error (error);
  g_assert_cmpuint (helix_gateway_config_get_n_sinks (config), ==, 1);
  sink = helix_gateway_config_get_sink (config, 0);
  g_assert_cmpstr (sink->name, ==, "ops");
  g_assert_cmpint (sink->format, ==, HELIX_WEBHOOK_FORMAT_DISCORD);
  g_assert_cmpstr (sink->backup_url, ==, "https://backup.example/hook");
  g_assert_cmpuint (g_strv_length (sink->channels), ==, 3);
  g_assert_cmpstr (sink->channels[1], ==, "alerts");
  helix_gateway_config_get_audit_timing (config, &entries, &seconds, &heartbeat);
  g_assert_cmpuint (entries, ==, 50);
  g_assert_cmpuint (seconds, ==, 30);
  g_assert_cmpuint (heartbeat, ==, 15);
  key_file = helix_gateway_config_dup_audit_key_file (config);
  g_assert_cmpstr (key_file, ==, "/var/lib/helix/other.key");

  /* The URL is a secret from now on. */
  redacted = helix_sanitizer_redact (helix_sanitizer_get_default (),
                                     "posting to https://discord.example/api/webhooks/1/"
                                     SINK_TOKEN " failed");
  g_assert_null (strstr (redacted, SINK_TOKEN));
}

int
main (int   argc,
      char *argv[])
{
  /* Before any thread reads the environment. */
  g_setenv (KEY_VARIABLE, PROVIDER_KEY, TRUE);

  show_debug = g_getenv ("G_MESSAGES_DEBUG") != NULL;
  g_log_set_writer_func (canary_writer, NULL, NULL);
  g_test_init (&argc, &argv, NULL);
  g_log_set_debug_enabled (TRUE);
  test_log_handler = g_log_set_default_handler (canary_handler, NULL);
  /* Refusing an action because the trail cannot be written warns, on purpose. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

#define ADD(path, func) \
  g_test_add ("/helix/gateway/audit/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  g_test_add_func ("/helix/gateway/audit/config", test_config);
  ADD ("fail-closed", test_fail_closed);
  ADD ("fail-closed-maintenance", test_fail_closed_maintenance);
  ADD ("verify", test_verify);
  ADD ("entries", test_entries);
  ADD ("cli-while-serving", test_cli_while_serving);
  ADD ("config-changes", test_config_changes);
  ADD ("store-fails", test_store_fails);
  ADD ("canaries", test_canaries);

#undef ADD

  return g_test_run ();
}
