/* test-gateway-auth.c: gateway accounts — the database, the CLI, the HTTP API
 *
 * The real `helix --headless` runs in a child process on an ephemeral
 * loopback port; a real SoupSession talks to it. Account commands run the
 * real binary with the password on its standard input.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sodium.h>
#include <sqlite3.h>

#include "helix-gateway.h"
#include "helix-gateway-db.h"
#include "helix-test-sqlite.h"
#include "helix-test-http.h"
#include "helix-test-util.h"

/* Generous: on a loaded machine the gateway may take a while to start. A
 * timeout fails the test; nothing waits on a fixed sleep. */
#define WAIT_TIMEOUT_S 30

#define LOGIN_FAILED_BODY \
  "{\"error\":{\"code\":\"invalid_credentials\",\"message\":\"The user name or the password " \
  "is wrong, or the account is disabled.\"}}"

/* Whether @needle (of @needle_len bytes) occurs in @data. */
static gboolean
contains_bytes (gconstpointer data,
                gsize         len,
                gconstpointer needle,
                gsize         needle_len)
{
  const guint8 *p = data;

  if (needle_len == 0 || needle_len > len)
    return needle_len == 0;

  for (gsize i = 0; i + needle_len <= len; i++)
    {
      if (p[i] == *(const guint8 *) needle && memcmp (p + i, needle, needle_len) == 0)
        return TRUE;
    }

  return FALSE;
}

/* ------------------------------------------------------------------------ */
/* Child processes                                                          */
/* ------------------------------------------------------------------------ */

static void
kill_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static const char *
helix_binary (void)
{
  const char *binary = g_getenv ("HELIX_BINARY");

  if (binary == NULL || !g_file_test (binary, G_FILE_TEST_IS_EXECUTABLE))
    g_error ("HELIX_BINARY does not name the helix executable; run this test through meson test");

  return binary;
}

static GSubprocessLauncher *
make_launcher (GSubprocessFlags flags)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);

  g_subprocess_launcher_set_child_setup (launcher, kill_with_parent, NULL, NULL);
  g_subprocess_launcher_unsetenv (launcher, "HELIX_LISTEN");
  g_subprocess_launcher_unsetenv (launcher, "HELIX_STATE_DIR");
  g_subprocess_launcher_unsetenv (launcher, "HELIX_LOG_LEVEL");
  g_subprocess_launcher_unsetenv (launcher, "G_MESSAGES_DEBUG");

  return launcher;
}

/* A temporary directory with an empty configuration file, so that a
 * /etc/helix/gateway.conf on the machine does not count. */
typedef struct
{
  char             *dir;
  char             *state_dir;
  char             *config;
  char             *db_path;

  /* The gateway, once started. */
  GSubprocess      *process;
  GDataInputStream *stderr_stream;
  GCancellable     *cancellable;
  GString          *log;
  gboolean          stderr_done;
  gboolean          exited;
  guint             port;
  SoupSession      *session;

  /* Everything the account commands printed. */
  GString          *cli_output;
} Scratch;

static void
scratch_setup (Scratch       *s,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  s->dir = g_dir_make_tmp ("helix-gateway-auth-XXXXXX", &error);
  g_assert_no_error (error);
  s->state_dir = g_build_filename (s->dir, "state", NULL);
  s->config = g_build_filename (s->dir, "gateway.conf", NULL);
  s->db_path = g_build_filename (s->state_dir, "gateway.db", NULL);
  g_file_set_contents (s->config, "", 0, &error);
  g_assert_no_error (error);
  s->log = g_string_new (NULL);
  s->cli_output = g_string_new (NULL);
  s->cancellable = g_cancellable_new ();
  s->session = soup_session_new ();
}

static void
scratch_teardown (Scratch       *s,
                  gconstpointer  data)
{
  if (s->process != NULL && !s->exited)
    {
      g_subprocess_force_exit (s->process);
      g_subprocess_wait (s->process, NULL, NULL);
    }

  g_cancellable_cancel (s->cancellable);
  g_clear_object (&s->stderr_stream);
  g_clear_object (&s->process);
  g_clear_object (&s->cancellable);
  g_clear_object (&s->session);
  g_string_free (s->log, TRUE);
  g_string_free (s->cli_output, TRUE);

  helix_test_rm_rf (s->dir);
  g_free (s->dir);
  g_free (s->state_dir);
  g_free (s->config);
  g_free (s->db_path);
}

typedef struct
{
  char     *out;
  char     *err;
  GError   *error;
  gboolean  done;
} CommunicateResult;

static void
communicate_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  CommunicateResult *r = user_data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &r->out, &r->err,
                                        &r->error);
  r->done = TRUE;
}

/* Runs `helix --headless --config … --state-dir … ARGS` with @input on its
 * standard input; returns its exit status. */
static int
run_cli (Scratch             *s,
         const char * const  *args,
         const char          *input,
         char               **out,
         char               **err)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  CommunicateResult r = { 0 };
  gboolean waited = FALSE;

  g_ptr_array_add (argv, (gpointer) helix_binary ());
  g_ptr_array_add (argv, (gpointer) "--headless");
  g_ptr_array_add (argv, (gpointer) "--config");
  g_ptr_array_add (argv, s->config);
  g_ptr_array_add (argv, (gpointer) "--state-dir");
  g_ptr_array_add (argv, s->state_dir);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  launcher = make_launcher (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                            G_SUBPROCESS_FLAGS_STDERR_PIPE);
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);

  g_subprocess_communicate_utf8_async (process, input != NULL ? input : "", NULL,
                                       communicate_cb, &r);
  helix_test_wait_for (r.done, WAIT_TIMEOUT_S, "an account command to finish");
  g_assert_no_error (r.error);

  g_subprocess_wait (process, NULL, &error);
  g_assert_no_error (error);
  waited = g_subprocess_get_if_exited (process);
  g_assert_true (waited);

  g_test_message ("helix %s → %d\nstdout: %s\nstderr: %s", args[0],
                  g_subprocess_get_exit_status (process), r.out, r.err);
  g_string_append (s->cli_output, r.out);
  g_string_append (s->cli_output, r.err);

  if (out != NULL)
    *out = g_steal_pointer (&r.out);
  if (err != NULL)
    *err = g_steal_pointer (&r.err);
  g_free (r.out);
  g_free (r.err);

  return g_subprocess_get_exit_status (process);
}

static void
add_user (Scratch    *s,
          const char *name,
          const char *password,
          gboolean    admin)
{
  const char * const args[] = { "--add-user", name, admin ? "--admin" : NULL, NULL };
  g_autofree char *input = g_strconcat (password, "\n", NULL);

  g_assert_cmpint (run_cli (s, args, input, NULL, NULL), ==, 0);
}

static void
set_user_disabled (Scratch    *s,
                   const char *name,
                   gboolean    disabled)
{
  const char * const args[] = { disabled ? "--disable-user" : "--enable-user", name, NULL };

  g_assert_cmpint (run_cli (s, args, NULL, NULL, NULL), ==, 0);
}

static void read_next_line (Scratch *s);

static void
stderr_line_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  Scratch *s;

  line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* @user_data may be gone */

  s = user_data;
  if (line == NULL)
    {
      s->stderr_done = TRUE;
      return;
    }

  g_test_message ("gateway: %s", line);
  g_string_append (s->log, line);
  g_string_append_c (s->log, '\n');
  read_next_line (s);
}

static void
read_next_line (Scratch *s)
{
  g_data_input_stream_read_line_async (s->stderr_stream, G_PRIORITY_DEFAULT, s->cancellable,
                                       stderr_line_cb, s);
}

/* Starts the gateway at debug level (so that its stderr holds everything it
 * could ever log) and waits until it listens. */
static void
gateway_start (Scratch *s)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GRegex) regex = NULL;
  g_autoptr(GMatchInfo) match = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *port = NULL;
  const char * const argv[] = {
    helix_binary (), "--headless",
    "--config", s->config,
    "--listen", "127.0.0.1:0",
    "--state-dir", s->state_dir,
    "--log-level", "debug",
    NULL
  };

  g_assert_null (s->process);

  /* stdout is silenced: it carries this test's TAP output. */
  launcher = make_launcher (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  s->process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  s->stderr_stream = g_data_input_stream_new (g_subprocess_get_stderr_pipe (s->process));
  read_next_line (s);

  helix_test_wait_for (strstr (s->log->str, "listening on http://127.0.0.1:") != NULL ||
                       s->stderr_done, WAIT_TIMEOUT_S, "the gateway to listen");
  if (strstr (s->log->str, "listening on http://127.0.0.1:") == NULL)
    g_error ("The gateway did not start. It logged:\n%s", s->log->str);

  regex = g_regex_new ("listening on http://127\\.0\\.0\\.1:([0-9]+)$", G_REGEX_MULTILINE, 0, NULL);
  g_assert_true (g_regex_match (regex, s->log->str, 0, &match));
  port = g_match_info_fetch (match, 1);
  s->port = (guint) g_ascii_strtoull (port, NULL, 10);
  g_assert_cmpuint (s->port, >, 0);
}

static void
wait_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  gboolean *done = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *done = TRUE;
}

/* Stops the gateway with SIGTERM and checks that it exits with 0. */
static void
gateway_stop (Scratch *s)
{
  gboolean done = FALSE;

  g_subprocess_send_signal (s->process, SIGTERM);
  g_subprocess_wait_async (s->process, NULL, wait_cb, &done);
  helix_test_wait_for (done, WAIT_TIMEOUT_S, "the gateway to exit");
  s->exited = TRUE;
  helix_test_wait_for (s->stderr_done, WAIT_TIMEOUT_S, "the end of the gateway's stderr");

  g_assert_true (g_subprocess_get_if_exited (s->process));
  g_assert_cmpint (g_subprocess_get_exit_status (s->process), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* HTTP                                                                     */
/* ------------------------------------------------------------------------ */

/* Sends a request and spins until the answer. @content_type and @body may
 * be %NULL; @token, when not %NULL, goes in an Authorization header. */
static SoupMessage *
http (Scratch     *s,
      const char  *method,
      const char  *path,
      const char  *token,
      const char  *content_type,
      const char  *body,
      gssize       body_len,
      GBytes     **response)
{
  g_autofree char *base_uri = g_strdup_printf ("http://127.0.0.1:%u", s->port);

  return helix_test_http_send (s->session, base_uri, method, path, token, content_type, body,
                               body_len, response);
}

static const char *
response_header (SoupMessage *msg,
                 const char  *name)
{
  return soup_message_headers_get_one (soup_message_get_response_headers (msg), name);
}

static void
assert_error_body (SoupMessage *msg,
                   GBytes      *body,
                   guint        status,
                   const char  *code)
{
  g_assert_cmpuint (soup_message_get_status (msg), ==, status);
  helix_test_http_assert_error (msg, body, code);
}

/* POST /api/v1/auth/login; returns the response, with its status. */
static SoupMessage *
login_raw (Scratch     *s,
           const char  *username,
           const char  *password,
           const char  *device,
           GBytes     **response)
{
  g_autofree char *body = helix_test_login_body (username, password, device);

  return http (s, "POST", "/api/v1/auth/login", NULL, "application/json", body, -1, response);
}

/* Logs in, which must succeed; returns the token and the device id. */
static char *
login (Scratch     *s,
       const char  *username,
       const char  *password,
       const char  *device,
       char       **device_id)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *object;
  const char *token;

  msg = login_raw (s, username, password, device, &response);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_OK);
  g_assert_cmpstr (response_header (msg, "Cache-Control"), ==, "no-store");

  root = helix_test_http_parse_json (response);
  object = json_node_get_object (root);
  token = json_object_get_string_member (object, "token");
  g_assert_cmpuint (strlen (token), ==, 43);
  for (const char *p = token; *p != '\0'; p++)
    g_assert_true (g_ascii_isalnum (*p) || *p == '-' || *p == '_');
  g_assert_cmpstr (json_object_get_string_member (object, "user"), ==, username);
  g_assert_cmpuint (strlen (json_object_get_string_member (object, "device")), ==, 36);

  if (device_id != NULL)
    *device_id = g_strdup (json_object_get_string_member (object, "device"));

  return g_strdup (token);
}

/* GET /api/v1/devices with @token; returns the array, which must come. */
static JsonArray *
list_devices (Scratch    *s,
              const char *token)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autoptr(JsonNode) root = NULL;

  msg = http (s, "GET", "/api/v1/devices", token, NULL, NULL, 0, &response);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_OK);
  root = helix_test_http_parse_json (response);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (root));

  return json_array_ref (json_node_get_array (root));
}

static JsonObject *
find_device (JsonArray  *devices,
             const char *id)
{
  for (guint i = 0; i < json_array_get_length (devices); i++)
    {
      JsonObject *device = json_array_get_object_element (devices, i);

      if (g_str_equal (json_object_get_string_member (device, "id"), id))
        return device;
    }

  return NULL;
}

/* Asserts that @token is refused (401 with WWW-Authenticate: Bearer). */
static void
assert_token_refused (Scratch    *s,
                      const char *token)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;

  msg = http (s, "GET", "/api/v1/devices", token, NULL, NULL, 0, &response);
  assert_error_body (msg, response, SOUP_STATUS_UNAUTHORIZED, NULL);
  g_assert_true (g_str_has_prefix (response_header (msg, "WWW-Authenticate"), "Bearer"));
}

static HelixGatewayUser *
lookup_user (Scratch    *s,
             const char *name)
{
  g_autoptr(HelixGatewayDb) db = NULL;
  g_autoptr(GError) error = NULL;
  HelixGatewayUser *user;

  db = helix_gateway_db_open (s->db_path, &error);
  g_assert_no_error (error);
  user = helix_gateway_db_lookup_user (db, name, &error);
  g_assert_no_error (error);
  helix_gateway_db_close (db);

  return user;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */
/* ------------------------------------------------------------------------ */

static void
test_cli (Scratch       *s,
          gconstpointer  data)
{
  const char * const add_alice[] = { "--add-user", "alice", "--admin", NULL };
  const char * const add_bob[] = { "--add-user", "bob", NULL };
  const char * const add_bad_name[] = { "--add-user", "no spaces", NULL };
  const char * const add_long_name[] = { "--add-user",
    "a1234567890123456789012345678901234567890123456789012345678901234", NULL };
  const char * const list[] = { "--list-users", NULL };
  const char * const disable_bob[] = { "--disable-user", "bob", NULL };
  const char * const disable_nobody[] = { "--disable-user", "nobody", NULL };
  const char * const admin_alone[] = { "--admin", NULL };
  const char * const two_commands[] = { "--list-users", "--enable-user", "bob", NULL };
  g_autoptr(HelixGatewayUser) alice = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *db = NULL;
  gsize db_len = 0;

  /* No users yet. */
  g_assert_cmpint (run_cli (s, list, NULL, &out, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "No users yet"));
  g_clear_pointer (&out, g_free);

  /* The password is the first line of standard input. */
  g_assert_cmpint (run_cli (s, add_alice, "correct horse battery\nignored\n", &out, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "alice"));
  g_clear_pointer (&out, g_free);

  /* A duplicate is refused, with a clear message, before any password. */
  g_assert_cmpint (run_cli (s, add_alice, "another password\n", NULL, &err), ==, 1);
  g_assert_nonnull (strstr (err, "“alice” exists already"));
  g_clear_pointer (&err, g_free);

  /* Bad passwords and names. */
  g_assert_cmpint (run_cli (s, add_bob, "", NULL, &err), ==, 1);
  g_assert_nonnull (strstr (err, "No password"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (s, add_bob, "\n", NULL, &err), ==, 1);
  g_assert_nonnull (strstr (err, "empty"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (s, add_bob, "short\n", NULL, &err), ==, 1);
  g_assert_nonnull (strstr (err, "at least 8"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (s, add_bad_name, "long enough pass\n", NULL, &err), ==, 1);
  g_assert_nonnull (strstr (err, "not a valid user name"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (s, add_long_name, "long enough pass\n", NULL, &err), ==, 1);
  g_assert_nonnull (strstr (err, "not a valid user name"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (s, admin_alone, NULL, NULL, &err), ==, 1);
  g_assert_nonnull (strstr (err, "--add-user"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (s, two_commands, NULL, NULL, &err), ==, 1);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (s, disable_nobody, NULL, NULL, &err), ==, 1);
  g_assert_nonnull (strstr (err, "no user named “nobody”"));
  g_clear_pointer (&err, g_free);

  /* Windows line ends are not part of the password. */
  g_assert_cmpint (run_cli (s, add_bob, "bobs password\r\n", NULL, NULL), ==, 0);
  g_assert_cmpint (run_cli (s, disable_bob, NULL, NULL, NULL), ==, 0);

  g_assert_cmpint (run_cli (s, list, NULL, &out, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "NAME"));
  g_assert_true (g_regex_match_simple ("^alice +yes +no +0$", out, G_REGEX_MULTILINE, 0));
  g_assert_true (g_regex_match_simple ("^bob +no +yes +0$", out, G_REGEX_MULTILINE, 0));

  /* Stored as argon2id, never in the clear. */
  alice = lookup_user (s, "alice");
  g_assert_true (g_str_has_prefix (alice->password_hash, "$argon2id$"));
  g_assert_true (alice->is_admin);
  g_assert_true (crypto_pwhash_str_verify (alice->password_hash, "correct horse battery",
                                           strlen ("correct horse battery")) == 0);

  g_assert_true (g_file_get_contents (s->db_path, &db, &db_len, NULL));
  g_assert_false (contains_bytes (db, db_len, "correct horse battery",
                                  strlen ("correct horse battery")));
  g_assert_false (contains_bytes (db, db_len, "bobs password", strlen ("bobs password")));
  g_assert_null (strstr (s->cli_output->str, "correct horse battery"));
}

static gint64
count_audit_entries (Scratch *s)
{
  g_autofree char *path = g_build_filename (s->state_dir, "audit.db", NULL);
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gint64 n;

  db = helix_test_sqlite_open (path, SQLITE_OPEN_READONLY);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT count (*) FROM entries", -1, &stmt, NULL), ==,
                   SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  n = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);

  return n;
}

/* Account commands are on record before they change anything; with the
 * audit store locked they change nothing. */
static void
test_cli_audit (Scratch       *s,
                gconstpointer  data)
{
  const char * const add_carol[] = { "--add-user", "carol", NULL };
  const char * const disable_alice[] = { "--disable-user", "alice", NULL };
  const char * const enable_alice[] = { "--enable-user", "alice", NULL };
  g_autofree char *audit_path = g_build_filename (s->state_dir, "audit.db", NULL);
  g_autoptr(HelixGatewayUser) alice = NULL;
  g_autofree char *err = NULL;
  sqlite3 *lock = NULL;
  gint64 before;

  add_user (s, "alice", "alice password", FALSE);
  before = count_audit_entries (s);
  g_assert_cmpint (before, >=, 1);

  /* The audit store cannot be written: nothing happens. */
  lock = helix_test_sqlite_open (audit_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  g_assert_cmpint (sqlite3_exec (lock, "BEGIN EXCLUSIVE", NULL, NULL, NULL), ==, SQLITE_OK);

  g_assert_cmpint (run_cli (s, add_carol, "carol password\n", NULL, &err), ==, 1);
  g_assert_nonnull (strstr (err, "Nothing was changed"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (s, disable_alice, NULL, NULL, &err), ==, 1);
  g_assert_nonnull (strstr (err, "Nothing was changed"));
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (sqlite3_exec (lock, "ROLLBACK", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (lock);

  {
    g_autoptr(HelixGatewayDb) db = helix_gateway_db_open (s->db_path, NULL);
    g_autoptr(HelixGatewayUser) carol = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_nonnull (db);
    carol = helix_gateway_db_lookup_user (db, "carol", &error);
    g_assert_error (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NO_SUCH_USER);
    g_assert_null (carol);
    helix_gateway_db_close (db);
  }
  alice = lookup_user (s, "alice");
  g_assert_false (alice->disabled);
  g_clear_pointer (&alice, helix_gateway_user_free);
  g_assert_cmpint (count_audit_entries (s), ==, before);

  /* Writable again: each change is one entry more. */
  g_assert_cmpint (run_cli (s, disable_alice, NULL, NULL, NULL), ==, 0);
  g_assert_cmpint (run_cli (s, enable_alice, NULL, NULL, NULL), ==, 0);
  add_user (s, "carol", "carol password", FALSE);
  g_assert_cmpint (count_audit_entries (s), ==, before + 3);
  alice = lookup_user (s, "carol");
  g_assert_nonnull (alice);
}

static void
test_login (Scratch       *s,
            gconstpointer  data)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autoptr(GBytes) wrong_password = NULL;
  g_autoptr(GBytes) unknown_user = NULL;
  g_autoptr(JsonArray) devices = NULL;
  g_autofree char *token = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *carol_token = NULL;
  JsonObject *device;

  gateway_start (s);
  /* The server runs meanwhile: the commands share its database. */
  add_user (s, "alice", "alice password", FALSE);
  add_user (s, "carol", "carol password", FALSE);

  token = login (s, "alice", "alice password", "Alice’s laptop", &device_id);

  devices = list_devices (s, token);
  g_assert_cmpuint (json_array_get_length (devices), ==, 1);
  device = find_device (devices, device_id);
  g_assert_nonnull (device);
  g_assert_cmpstr (json_object_get_string_member (device, "name"), ==, "Alice’s laptop");
  g_assert_true (json_object_get_boolean_member (device, "current"));
  g_assert_false (json_object_get_boolean_member (device, "revoked"));
  g_assert_true (g_str_has_suffix (json_object_get_string_member (device, "created"), "Z"));
  g_assert_nonnull (json_object_get_string_member (device, "last_seen"));

  /* A wrong password and an unknown user get the very same answer. */
  msg = login_raw (s, "alice", "wrong password", "laptop", &wrong_password);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_UNAUTHORIZED);
  g_clear_object (&msg);
  msg = login_raw (s, "mallory", "alice password", "laptop", &unknown_user);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_UNAUTHORIZED);
  g_clear_object (&msg);
  g_assert_true (g_bytes_equal (wrong_password, unknown_user));
  g_assert_cmpmem (g_bytes_get_data (wrong_password, NULL), g_bytes_get_size (wrong_password),
                   LOGIN_FAILED_BODY, strlen (LOGIN_FAILED_BODY));

  /* So does a disabled user with the right password; enabling lets them in. */
  set_user_disabled (s, "carol", TRUE);
  msg = login_raw (s, "carol", "carol password", "phone", &response);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_UNAUTHORIZED);
  g_assert_true (g_bytes_equal (response, wrong_password));
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  set_user_disabled (s, "carol", FALSE);
  carol_token = login (s, "carol", "carol password", "phone", NULL);

  /* Disabling revokes the tokens at once, and enabling does not bring them back. */
  set_user_disabled (s, "carol", TRUE);
  assert_token_refused (s, carol_token);
  set_user_disabled (s, "carol", FALSE);
  assert_token_refused (s, carol_token);

  /* Without a token, and with malformed ones. */
  msg = http (s, "GET", "/api/v1/devices", NULL, NULL, NULL, 0, &response);
  assert_error_body (msg, response, SOUP_STATUS_UNAUTHORIZED, "unauthorized");
  g_assert_cmpstr (response_header (msg, "WWW-Authenticate"), ==, "Bearer realm=\"helix\"");
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  assert_token_refused (s, "not-a-token");
  assert_token_refused (s, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");

  /* The login route only takes POST. */
  msg = http (s, "GET", "/api/v1/auth/login", NULL, NULL, NULL, 0, &response);
  assert_error_body (msg, response, SOUP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed");
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  gateway_stop (s);
}

static void
test_logout (Scratch       *s,
             gconstpointer  data)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autoptr(JsonArray) devices = NULL;
  g_autofree char *token = NULL;
  g_autofree char *other = NULL;
  g_autofree char *device_id = NULL;

  gateway_start (s);
  add_user (s, "alice", "alice password", FALSE);

  token = login (s, "alice", "alice password", "laptop", &device_id);
  other = login (s, "alice", "alice password", "phone", NULL);

  msg = http (s, "POST", "/api/v1/auth/logout", token, NULL, NULL, 0, &response);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_NO_CONTENT);
  g_assert_cmpuint (g_bytes_get_size (response), ==, 0);
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  /* At once: the very next request is refused, and so is a second logout. */
  assert_token_refused (s, token);
  msg = http (s, "POST", "/api/v1/auth/logout", token, NULL, NULL, 0, &response);
  assert_error_body (msg, response, SOUP_STATUS_UNAUTHORIZED, "invalid_token");
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  /* The other device is still logged in and sees the first one revoked. */
  devices = list_devices (s, other);
  g_assert_cmpuint (json_array_get_length (devices), ==, 2);
  g_assert_true (json_object_get_boolean_member (find_device (devices, device_id), "revoked"));

  gateway_stop (s);
}

static void
test_devices (Scratch       *s,
              gconstpointer  data)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autoptr(JsonArray) devices = NULL;
  g_autofree char *laptop = NULL;
  g_autofree char *laptop_id = NULL;
  g_autofree char *phone = NULL;
  g_autofree char *phone_id = NULL;
  g_autofree char *bob = NULL;
  g_autofree char *bob_id = NULL;
  g_autofree char *path = NULL;
  g_autofree char *upper = NULL;

  gateway_start (s);
  add_user (s, "alice", "alice password", FALSE);
  add_user (s, "bob", "bob password", FALSE);

  laptop = login (s, "alice", "alice password", "laptop", &laptop_id);
  phone = login (s, "alice", "alice password", "phone", &phone_id);
  bob = login (s, "bob", "bob password", "bob’s desktop", &bob_id);

  /* Each user sees their own devices, and only those. */
  devices = list_devices (s, laptop);
  g_assert_cmpuint (json_array_get_length (devices), ==, 2);
  g_assert_nonnull (find_device (devices, laptop_id));
  g_assert_nonnull (find_device (devices, phone_id));
  g_assert_null (find_device (devices, bob_id));
  g_assert_true (json_object_get_boolean_member (find_device (devices, laptop_id), "current"));
  g_assert_false (json_object_get_boolean_member (find_device (devices, phone_id), "current"));
  g_clear_pointer (&devices, json_array_unref);

  devices = list_devices (s, bob);
  g_assert_cmpuint (json_array_get_length (devices), ==, 1);
  g_assert_nonnull (find_device (devices, bob_id));
  g_clear_pointer (&devices, json_array_unref);

  /* Another user's device is not found (not forbidden), and stays logged in. */
  path = g_strconcat ("/api/v1/devices/", phone_id, NULL);
  msg = http (s, "DELETE", path, bob, NULL, NULL, 0, &response);
  assert_error_body (msg, response, SOUP_STATUS_NOT_FOUND, "not_found");
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  g_clear_pointer (&devices, json_array_unref);
  devices = list_devices (s, phone);
  g_clear_pointer (&devices, json_array_unref);

  /* Not a UUID. */
  msg = http (s, "DELETE", "/api/v1/devices/not-a-uuid", laptop, NULL, NULL, 0, &response);
  assert_error_body (msg, response, SOUP_STATUS_BAD_REQUEST, "invalid_id");
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  upper = g_ascii_strup (phone_id, -1);
  g_free (path);
  path = g_strconcat ("/api/v1/devices/", upper, NULL);
  msg = http (s, "DELETE", path, laptop, NULL, NULL, 0, &response);
  assert_error_body (msg, response, SOUP_STATUS_BAD_REQUEST, "invalid_id");
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  /* Without a token: 401, before anything else is looked at. */
  g_free (path);
  path = g_strconcat ("/api/v1/devices/", phone_id, NULL);
  msg = http (s, "DELETE", path, NULL, NULL, NULL, 0, &response);
  assert_error_body (msg, response, SOUP_STATUS_UNAUTHORIZED, "unauthorized");
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  /* Only DELETE on a device. */
  msg = http (s, "GET", path, laptop, NULL, NULL, 0, &response);
  assert_error_body (msg, response, SOUP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed");
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  /* Alice revokes her phone from her laptop: its token stops working at once. */
  msg = http (s, "DELETE", path, laptop, NULL, NULL, 0, &response);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_NO_CONTENT);
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  assert_token_refused (s, phone);

  /* Revoking it again is fine. */
  msg = http (s, "DELETE", path, laptop, NULL, NULL, 0, &response);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_NO_CONTENT);
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  devices = list_devices (s, laptop);
  g_assert_true (json_object_get_boolean_member (find_device (devices, phone_id), "revoked"));
  g_assert_false (json_object_get_boolean_member (find_device (devices, laptop_id), "revoked"));
  g_clear_pointer (&devices, json_array_unref);

  /* Bob is not affected. */
  devices = list_devices (s, bob);
  g_assert_cmpuint (json_array_get_length (devices), ==, 1);

  gateway_stop (s);
}

static void
test_rate_limit (Scratch       *s,
                 gconstpointer  data)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;
  const char *retry_after;
  guint64 seconds;

  gateway_start (s);
  add_user (s, "alice", "alice password", FALSE);
  add_user (s, "bob", "bob password", FALSE);

  for (guint i = 0; i < 5; i++)
    {
      msg = login_raw (s, "alice", "wrong password", "laptop", &response);
      assert_error_body (msg, response, SOUP_STATUS_UNAUTHORIZED, "invalid_credentials");
      g_clear_object (&msg);
      g_clear_pointer (&response, g_bytes_unref);
    }

  /* The sixth is refused without a check, even with the right password. */
  msg = login_raw (s, "alice", "alice password", "laptop", &response);
  assert_error_body (msg, response, 429, "too_many_attempts");
  retry_after = response_header (msg, "Retry-After");
  g_assert_nonnull (retry_after);
  g_assert_true (g_ascii_string_to_unsigned (retry_after, 10, 1, 15 * 60, &seconds, NULL));
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  /* The address is limited too: another account from here waits as well. */
  msg = login_raw (s, "bob", "bob password", "desktop", &response);
  assert_error_body (msg, response, 429, "too_many_attempts");
  g_assert_nonnull (response_header (msg, "Retry-After"));
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  gateway_stop (s);
}

/* A login through a reverse proxy that forwards for @client. */
static SoupMessage *
login_forwarded (Scratch     *s,
                 const char  *client,
                 const char  *username,
                 const char  *password,
                 GBytes     **response)
{
  g_autofree char *base_uri = g_strdup_printf ("http://127.0.0.1:%u", s->port);
  g_autofree char *body = helix_test_login_body (username, password, "laptop");
  g_autofree char *forwarded = g_strdup_printf ("203.0.113.66, %s", client);
  SoupMessage *msg = helix_test_http_message_new (base_uri, "POST", "/api/v1/auth/login", NULL,
                                                  "application/json", body, -1);

  /* The client wrote the first address itself: never believed. */
  soup_message_headers_append (soup_message_get_request_headers (msg), "X-Forwarded-For",
                               forwarded);
  *response = helix_test_http_send_message (s->session, msg, NULL);

  return msg;
}

/* Behind a trusted proxy, failed logins count per client it forwards for,
 * and per account whatever the address. */
static void
test_rate_limit_proxied (Scratch       *s,
                         gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  SoupMessage *msg;
  GBytes *response;

  g_assert_true (g_file_set_contents (s->config, "[gateway]\ntrusted-proxies=127.0.0.1\n", -1,
                                      &error));
  gateway_start (s);
  add_user (s, "alice", "alice password", FALSE);
  add_user (s, "bob", "bob password", FALSE);
  add_user (s, "carol", "carol password", FALSE);

  /* Five wrong passwords for alice, each from another client. */
  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *client = g_strdup_printf ("198.51.100.%u", i + 1);

      msg = login_forwarded (s, client, "alice", "wrong password", &response);
      assert_error_body (msg, response, SOUP_STATUS_UNAUTHORIZED, "invalid_credentials");
      g_object_unref (msg);
      g_bytes_unref (response);
    }

  /* The account is limited, from a client that never failed… */
  msg = login_forwarded (s, "198.51.100.77", "alice", "alice password", &response);
  assert_error_body (msg, response, 429, "too_many_attempts");
  g_assert_nonnull (response_header (msg, "Retry-After"));
  g_object_unref (msg);
  g_bytes_unref (response);

  /* …but those clients are not: bob logs in from the first of them. */
  msg = login_forwarded (s, "198.51.100.1", "bob", "bob password", &response);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_OK);
  g_object_unref (msg);
  g_bytes_unref (response);

  /* One client's failures are its own: five for unknown accounts, then
   * carol from there waits, and from next door she does not. */
  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *user = g_strdup_printf ("nobody%u", i);

      msg = login_forwarded (s, "2001:db8::1", user, "wrong password", &response);
      assert_error_body (msg, response, SOUP_STATUS_UNAUTHORIZED, "invalid_credentials");
      g_object_unref (msg);
      g_bytes_unref (response);
    }
  msg = login_forwarded (s, "2001:db8::1", "carol", "carol password", &response);
  assert_error_body (msg, response, 429, "too_many_attempts");
  g_object_unref (msg);
  g_bytes_unref (response);
  msg = login_forwarded (s, "2001:db8::2", "carol", "carol password", &response);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_OK);
  g_object_unref (msg);
  g_bytes_unref (response);

  gateway_stop (s);
}

/* Which address a request counts as coming from. */
static void
test_trusted_proxies (void)
{
  g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
  g_autoptr(GError) error = NULL;
  const char * const env[] = { "HELIX_TRUSTED_PROXIES=192.0.2.1", NULL };
  const char *file = "[gateway]\ntrusted-proxies=127.0.0.1; 10.0.0.0/8 ;::1\n";
  static const char * const bad[] = { "localhost", "10.0.0.0/33", "1.2.3", "*", "127.0.0.1:80" };
  static const struct {
    const char *peer;
    const char *forwarded_for;
    const char *client;  /* NULL: the peer */
  } cases[] = {
    { "127.0.0.1", NULL, NULL },
    { "127.0.0.1", "198.51.100.7", "198.51.100.7" },
    { "127.0.0.1", " 198.51.100.7 ", "198.51.100.7" },
    /* Only the right-most untrusted hop: the rest is the client's word. */
    { "127.0.0.1", "6.6.6.6, 198.51.100.7", "198.51.100.7" },
    { "127.0.0.1", "6.6.6.6, 198.51.100.7, 10.1.2.3", "198.51.100.7" },
    { "127.0.0.1", "10.0.0.2,10.0.0.1", "10.0.0.2" },
    { "::1", "2001:DB8::7", "2001:db8::7" },
    /* Not an address: the proxy that wrote it is the client. */
    { "127.0.0.1", "6.6.6.6, unknown", "127.0.0.1" },
    { "127.0.0.1", "198.51.100.7, 10.0.0.1, junk", "127.0.0.1" },
    { "127.0.0.1", "6.6.6.6, junk, 10.0.0.1", "10.0.0.1" },
    { "127.0.0.1", "", "127.0.0.1" },
    /* Anyone else's header is ignored. */
    { "198.51.100.9", "6.6.6.6", NULL },
    { "11.0.0.1", "6.6.6.6", NULL },
  };

  /* None by default: the header is ignored. */
  g_assert_null (helix_gateway_config_dup_client_address (config, "127.0.0.1", "6.6.6.6"));

  g_assert_true (helix_gateway_config_load_data (config, file, strlen (file), "test.conf", &error));
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *client = helix_gateway_config_dup_client_address (config, cases[i].peer,
                                                                         cases[i].forwarded_for);

      g_assert_cmpstr (client, ==, cases[i].client);
    }

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_false (helix_gateway_config_set_trusted_proxies (config, bad[i], &error));
      g_assert_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE);
      g_clear_error (&error);
    }
  /* A refused value changes nothing. */
  {
    g_autofree char *client = helix_gateway_config_dup_client_address (config, "127.0.0.1", "1.2.3.4");

    g_assert_cmpstr (client, ==, "1.2.3.4");
  }

  g_assert_true (helix_gateway_config_apply_environment (config, env, &error));
  g_assert_no_error (error);
  g_assert_null (helix_gateway_config_dup_client_address (config, "127.0.0.1", "1.2.3.4"));
  {
    g_autofree char *client = helix_gateway_config_dup_client_address (config, "192.0.2.1", "1.2.3.4");

    g_assert_cmpstr (client, ==, "1.2.3.4");
  }
}

typedef struct
{
  const char *name;
  const char *content_type;
  const char *body;
  gssize      body_len;
  guint       status;
  const char *code;
} BadBody;

static void
test_bad_bodies (Scratch       *s,
                 gconstpointer  data)
{
  static const BadBody bad[] = {
    { "not json", "application/json", "username=alice&password=x", -1, 400, "invalid_json" },
    { "truncated", "application/json", "{\"username\":\"alice\"", -1, 400, "invalid_json" },
    { "text/plain", "text/plain", "{\"username\":\"alice\",\"password\":\"alice password\","
      "\"device\":\"x\"}", -1, 415, "unsupported_media_type" },
    { "form", "application/x-www-form-urlencoded", "a=b", -1, 415, "unsupported_media_type" },
    { "invalid utf-8", "application/json",
      "{\"username\":\"alice\",\"password\":\"\xff\xfe\",\"device\":\"x\"}", -1, 400, "invalid_json" },
    { "nul byte", "application/json", "{\"username\":\"al\0ice\"}", 20, 400, "invalid_json" },
    { "empty", "application/json", "", 0, 400, "invalid_json" },
    { "array", "application/json", "[\"alice\",\"alice password\",\"x\"]", -1, 400, "invalid_request" },
    { "string", "application/json", "\"alice\"", -1, 400, "invalid_request" },
    { "missing device", "application/json",
      "{\"username\":\"alice\",\"password\":\"alice password\"}", -1, 400, "invalid_request" },
    { "missing password", "application/json",
      "{\"username\":\"alice\",\"device\":\"x\"}", -1, 400, "invalid_request" },
    { "number username", "application/json",
      "{\"username\":42,\"password\":\"alice password\",\"device\":\"x\"}", -1, 400, "invalid_request" },
    { "object password", "application/json",
      "{\"username\":\"alice\",\"password\":{\"p\":1},\"device\":\"x\"}", -1, 400, "invalid_request" },
    { "null device", "application/json",
      "{\"username\":\"alice\",\"password\":\"alice password\",\"device\":null}", -1, 400,
      "invalid_request" },
    { "empty device", "application/json",
      "{\"username\":\"alice\",\"password\":\"alice password\",\"device\":\"\"}", -1, 400,
      "invalid_request" },
  };
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autofree char *big = NULL;
  g_autofree char *deep = NULL;
  g_autofree char *long_device = NULL;
  g_autofree char *long_device_body = NULL;
  g_autofree char *token = NULL;
  g_autofree char *out = NULL;
  const char * const list[] = { "--list-users", NULL };

  gateway_start (s);
  add_user (s, "alice", "alice password", FALSE);

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_test_message ("bad body: %s", bad[i].name);
      msg = http (s, "POST", "/api/v1/auth/login", NULL, bad[i].content_type, bad[i].body,
                  bad[i].body_len, &response);
      assert_error_body (msg, response, bad[i].status, bad[i].code);
      g_clear_object (&msg);
      g_clear_pointer (&response, g_bytes_unref);
    }

  /* No Content-Type at all. */
  msg = http (s, "POST", "/api/v1/auth/login", NULL, NULL, "{}", -1, &response);
  assert_error_body (msg, response, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  /* 20 KiB: a valid JSON object, only too large. */
  big = g_strdup_printf ("{\"username\":\"alice\",\"password\":\"alice password\","
                         "\"device\":\"x\",\"pad\":\"%0*d\"}", 20 * 1024, 0);
  msg = http (s, "POST", "/api/v1/auth/login", NULL, "application/json", big, -1, &response);
  assert_error_body (msg, response, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large");
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  /* Nested 100 deep. */
  deep = g_strconcat ("{\"username\":\"alice\",\"password\":\"alice password\",\"device\":\"x\","
                      "\"deep\":", NULL);
  for (guint i = 0; i < 100; i++)
    {
      char *next = g_strconcat (deep, "[", NULL);
      g_free (deep);
      deep = next;
    }
  for (guint i = 0; i < 100; i++)
    {
      char *next = g_strconcat (deep, "]", NULL);
      g_free (deep);
      deep = next;
    }
  {
    char *next = g_strconcat (deep, "}", NULL);
    g_free (deep);
    deep = next;
  }
  msg = http (s, "POST", "/api/v1/auth/login", NULL, "application/json", deep, -1, &response);
  assert_error_body (msg, response, SOUP_STATUS_BAD_REQUEST, "invalid_json");
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  /* A device name over 128 bytes. */
  long_device = g_strnfill (129, 'd');
  long_device_body = helix_test_login_body ("alice", "alice password", long_device);
  msg = http (s, "POST", "/api/v1/auth/login", NULL, "application/json", long_device_body, -1,
              &response);
  assert_error_body (msg, response, SOUP_STATUS_BAD_REQUEST, "invalid_request");
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  /* Nothing was stored, and none of it counted as a failed login: more than
   * five bad requests later, the right password still works. */
  g_assert_cmpint (run_cli (s, list, NULL, &out, NULL), ==, 0);
  g_assert_true (g_regex_match_simple ("^alice +no +no +0$", out, G_REGEX_MULTILINE, 0));
  token = login (s, "alice", "alice password", "laptop", NULL);

  gateway_stop (s);
}

static gboolean
bytes_contain (const char *data,
               gsize       len,
               const char *needle)
{
  return contains_bytes (data, len, needle, strlen (needle));
}

/* Reads @path (if it exists) and asserts that none of @secrets is in it. */
static void
assert_file_clean (const char         *path,
                   const char * const *secrets)
{
  g_autofree char *data = NULL;
  gsize len = 0;

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return;

  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_test_message ("%s: %" G_GSIZE_FORMAT " bytes", path, len);
  for (guint i = 0; secrets[i] != NULL; i++)
    {
      if (bytes_contain (data, len, secrets[i]))
        g_error ("%s holds secret #%u", path, i);
    }
}

/* The audit trail's files and its webhook queue, with their WAL files. */
static void
assert_audit_clean (Scratch            *s,
                    const char * const *secrets)
{
  static const char * const files[] = {
    "audit.db", "audit.db-wal", "webhooks.db", "webhooks.db-wal",
  };

  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (s->state_dir, files[i], NULL);

      if (g_file_test (path, G_FILE_TEST_EXISTS))
        assert_file_clean (path, secrets);
    }
}

static void
test_secrets (Scratch       *s,
              gconstpointer  data)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autoptr(GPtrArray) secrets = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(HelixGatewayUser) alice = NULL;
  g_autoptr(JsonArray) devices = NULL;
  g_autofree char *wal_path = g_strconcat (s->db_path, "-wal", NULL);
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autofree char *bob = NULL;
  g_autofree char *db_data = NULL;
  gsize db_len = 0;
  guint8 hash[crypto_hash_sha256_BYTES];
  const char *password = "Tr0ub4dor&3-secret";
  /* A webhook whose URL holds a token; port 9 refuses, so deliveries fail and retry. */
  const char *sink_token = "SinkToken-canary-7Hq2mPz91xKc";
  g_autofree char *config = g_strdup_printf ("[sink canary]\n"
                                             "url=http://127.0.0.1:9/api/webhooks/1/%s\n"
                                             "channels=api;alerts;hash-chain\n", sink_token);
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_set_contents (s->config, config, -1, &error));
  g_assert_no_error (error);
  gateway_start (s);
  add_user (s, "alice", password, TRUE);
  add_user (s, "bob", "bob's own password", FALSE);

  first = login (s, "alice", password, "laptop", NULL);
  second = login (s, "alice", password, "phone", NULL);
  bob = login (s, "bob", "bob's own password", "desktop", NULL);
  msg = login_raw (s, "alice", "Tr0ub4dor&3-wrong", "laptop", &response);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_UNAUTHORIZED);
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  devices = list_devices (s, second);
  g_assert_cmpuint (json_array_get_length (devices), ==, 2);
  msg = http (s, "POST", "/api/v1/auth/logout", first, NULL, NULL, 0, &response);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_NO_CONTENT);
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  g_ptr_array_add (secrets, g_strdup (password));
  g_ptr_array_add (secrets, g_strdup ("Tr0ub4dor&3-wrong"));
  g_ptr_array_add (secrets, g_strdup ("bob's own password"));
  g_ptr_array_add (secrets, g_strdup (first));
  g_ptr_array_add (secrets, g_strdup (second));
  g_ptr_array_add (secrets, g_strdup (bob));
  g_ptr_array_add (secrets, g_strdup (sink_token));
  g_ptr_array_add (secrets, NULL);

  /* While it runs, the WAL holds the recent writes. */
  g_assert_true (g_file_test (wal_path, G_FILE_TEST_EXISTS));
  assert_file_clean (s->db_path, (const char * const *) secrets->pdata);
  assert_file_clean (wal_path, (const char * const *) secrets->pdata);
  assert_audit_clean (s, (const char * const *) secrets->pdata);

  gateway_stop (s);

  assert_file_clean (s->db_path, (const char * const *) secrets->pdata);
  assert_file_clean (wal_path, (const char * const *) secrets->pdata);
  assert_audit_clean (s, (const char * const *) secrets->pdata);
  for (guint i = 0; i + 1 < secrets->len; i++)
    {
      const char *secret = g_ptr_array_index (secrets, i);

      if (strstr (s->log->str, secret) != NULL)
        g_error ("The gateway's stderr holds secret #%u", i);
      if (strstr (s->cli_output->str, secret) != NULL)
        g_error ("The account commands printed secret #%u", i);
    }
  /* The log did record the logins (so it was looked at, at debug level). */
  g_assert_nonnull (strstr (s->log->str, "login: user alice on new device"));
  g_assert_nonnull (strstr (s->log->str, "DEBUG:"));

  /* What is stored: an argon2id hash and the SHA-256 of each token. */
  alice = lookup_user (s, "alice");
  g_assert_true (g_str_has_prefix (alice->password_hash, "$argon2id$"));
  g_assert_true (g_file_get_contents (s->db_path, &db_data, &db_len, NULL));
  crypto_hash_sha256 (hash, (const guchar *) second, strlen (second));
  g_assert_true (contains_bytes (db_data, db_len, hash, sizeof hash));
}

static void
test_rehash (Scratch       *s,
             gconstpointer  data)
{
  const char *password = "an old password";
  char weak[crypto_pwhash_STRBYTES];
  g_autoptr(HelixGatewayDb) db = NULL;
  g_autoptr(HelixGatewayUser) before = NULL;
  g_autoptr(HelixGatewayUser) after = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;

  /* A user whose hash was made with weaker limits than today's. */
  g_assert_cmpint (crypto_pwhash_str (weak, password, strlen (password),
                                      crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN),
                   ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (s->state_dir, 0700), ==, 0);
  db = helix_gateway_db_open (s->db_path, &error);
  g_assert_no_error (error);
  g_assert_true (helix_gateway_db_add_user (db, "old", weak, FALSE, &error));
  g_assert_no_error (error);
  helix_gateway_db_close (db);
  before = lookup_user (s, "old");
  g_assert_cmpstr (before->password_hash, ==, weak);

  gateway_start (s);
  first = login (s, "old", password, "laptop", NULL);
  /* The new hash works too. */
  second = login (s, "old", password, "phone", NULL);
  gateway_stop (s);

  after = lookup_user (s, "old");
  g_assert_cmpstr (after->password_hash, !=, weak);
  g_assert_true (g_str_has_prefix (after->password_hash, "$argon2id$"));
  g_assert_cmpint (crypto_pwhash_str_needs_rehash (after->password_hash,
                                                   crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                                   crypto_pwhash_MEMLIMIT_INTERACTIVE), ==, 0);
  g_assert_true (g_strrstr (s->log->str, "stored a new password hash for user old") != NULL);
}

/* ------------------------------------------------------------------------ */
/* The database, in this process                                            */
/* ------------------------------------------------------------------------ */

static void
assert_refused_unchanged (const char *path,
                          int         code)
{
  g_autoptr(HelixGatewayDb) db = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  gsize before_len = 0;
  gsize after_len = 0;

  g_assert_true (g_file_get_contents (path, &before, &before_len, NULL));
  db = helix_gateway_db_open (path, &error);
  g_assert_null (db);
  g_assert_error (error, HELIX_GATEWAY_DB_ERROR, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_true (g_file_get_contents (path, &after, &after_len, NULL));
  g_assert_cmpmem (before, before_len, after, after_len);
}

static void
test_db_refuses (Scratch       *s,
                 gconstpointer  data)
{
  g_autoptr(HelixGatewayDb) db = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = g_build_filename (s->dir, "text.db", NULL);
  g_autofree char *foreign = g_build_filename (s->dir, "foreign.db", NULL);
  g_autofree char *newer = g_build_filename (s->dir, "newer.db", NULL);
  g_autofree char *desktop = g_build_filename (s->dir, "desktop.db", NULL);
  g_autofree char *fresh = g_build_filename (s->dir, "fresh.db", NULL);
  g_autofree char *sql = NULL;

  g_file_set_contents (text, "these are notes, not a database\n", -1, &error);
  g_assert_no_error (error);
  assert_refused_unchanged (text, HELIX_GATEWAY_DB_ERROR_NOT_A_DATABASE);

  helix_test_sqlite_exec (foreign, "PRAGMA application_id = 42; CREATE TABLE t (x);");
  assert_refused_unchanged (foreign, HELIX_GATEWAY_DB_ERROR_NOT_A_DATABASE);

  helix_test_sqlite_exec (desktop, "PRAGMA application_id = 1212962865; PRAGMA user_version = 2; "
                          "CREATE TABLE sessions (x);");
  assert_refused_unchanged (desktop, HELIX_GATEWAY_DB_ERROR_NOT_A_DATABASE);

  sql = g_strdup_printf ("PRAGMA application_id = %d; PRAGMA user_version = %u; "
                         "CREATE TABLE users (x);", HELIX_GATEWAY_DB_APPLICATION_ID,
                         helix_gateway_db_get_latest_schema_version () + 1);
  helix_test_sqlite_exec (newer, sql);
  assert_refused_unchanged (newer, HELIX_GATEWAY_DB_ERROR_TOO_NEW);

  /* A new file gets the latest schema, and opens again. */
  db = helix_gateway_db_open (fresh, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (helix_gateway_db_get_schema_version (db), ==,
                    helix_gateway_db_get_latest_schema_version ());
  g_assert_true (helix_gateway_db_check (db, &error));
  helix_gateway_db_close (db);
  g_assert_false (helix_gateway_db_check (db, &error));
  g_assert_error (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_CLOSED);
  g_clear_error (&error);
  g_clear_object (&db);

  db = helix_gateway_db_open (fresh, &error);
  g_assert_no_error (error);
  g_assert_true (helix_gateway_user_name_is_valid ("a.b-c_D9"));
  g_assert_false (helix_gateway_user_name_is_valid (""));
  g_assert_false (helix_gateway_user_name_is_valid ("é"));
  g_assert_false (helix_gateway_user_name_is_valid ("a/b"));

  g_assert_false (helix_gateway_db_add_user (db, "no spaces", "$argon2id$x", FALSE, &error));
  g_assert_error (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_true (helix_gateway_db_add_user (db, "alice", "$argon2id$x", FALSE, &error));
  g_assert_no_error (error);
  g_assert_false (helix_gateway_db_add_user (db, "alice", "$argon2id$y", TRUE, &error));
  g_assert_error (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_USER_EXISTS);
  g_clear_error (&error);
  g_assert_false (helix_gateway_db_set_user_disabled (db, "bob", TRUE, &error));
  g_assert_error (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NO_SUCH_USER);
  g_clear_error (&error);
  helix_gateway_db_close (db);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  if (sodium_init () < 0)
    g_error ("libsodium does not work here");

#define ADD(path, func) \
  g_test_add ("/helix/gateway/auth/" path, Scratch, NULL, scratch_setup, func, scratch_teardown)

  ADD ("db-refuses", test_db_refuses);
  ADD ("cli", test_cli);
  ADD ("cli-audit", test_cli_audit);
  ADD ("login", test_login);
  ADD ("logout", test_logout);
  ADD ("devices", test_devices);
  ADD ("rate-limit", test_rate_limit);
  ADD ("rate-limit-proxied", test_rate_limit_proxied);
  ADD ("bad-bodies", test_bad_bodies);
  ADD ("secrets", test_secrets);
  ADD ("rehash", test_rehash);

#undef ADD

  g_test_add_func ("/helix/gateway/auth/trusted-proxies", test_trusted_proxies);

  return g_test_run ();
}
