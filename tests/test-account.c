/* test-account.c: the desktop account (HelixAccount) against a real gateway
 * and a real gnome-keyring-daemon
 *
 * The gateway runs in this process on an ephemeral loopback port. The
 * keyring is a real gnome-keyring-daemon, started by the test as a child on
 * the private session bus that the test runner provides (dbus-run-session),
 * with HOME and the XDG directories in a temporary directory.
 *
 * The daemon owns a bus name of its own (GNOME_KEYRING_TEST_SERVICE), which
 * libsecret is pointed at (SECRET_SERVICE_BUS_NAME): a name with no .service
 * file, so that "no keyring" really is no keyring (org.freedesktop.secrets
 * would be D-Bus activated, with the runner's HOME), and so that other tests
 * on the same bus are not disturbed. Prompts go to a prompter name nobody
 * owns (GNOME_KEYRING_TEST_PROMPTER), so a locked keyring fails at once
 * instead of waiting for a window on the X server.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsecret/secret.h>
#include <libsoup/soup.h>

#include "helix-account.h"
#include "helix-gateway.h"
#include "helix-test-gateway.h"
#include "helix-test-http.h"
#include "helix-test-util.h"

#define WAIT_TIMEOUT_S 60

#define ALICE_PASSWORD   "correct horse alice"
#define KEYRING_PASSWORD "keyring password for the test"
#define NO_PROMPTER      "ai.helix.Test.NoPrompter"

static struct
{
  char        *dir;
  char        *bus_name;
  GSubprocess *keyring;
  gboolean     keyring_unlocked;
  gboolean     keyring_exited;

  GMutex       log_lock;
  GString     *log;
} global;

static const SecretSchema *
token_schema (void)
{
  static const SecretSchema schema = {
    HELIX_ACCOUNT_SECRET_SCHEMA_NAME, SECRET_SCHEMA_NONE,
    {
      { "gateway", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { "username", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
    }
  };

  return &schema;
}

/* ------------------------------------------------------------------------ */
/* Logs: everything logged, debug included, is kept to look for secrets     */
/* ------------------------------------------------------------------------ */

static GLogWriterOutput
log_writer (GLogLevelFlags   log_level,
            const GLogField *fields,
            gsize            n_fields,
            gpointer         user_data)
{
  g_mutex_lock (&global.log_lock);
  for (gsize i = 0; i < n_fields; i++)
    {
      if (fields[i].length < 0)
        g_string_append (global.log, fields[i].value);
      else
        g_string_append_len (global.log, fields[i].value, fields[i].length);
      g_string_append_c (global.log, ' ');
    }
  g_string_append_c (global.log, '\n');
  g_mutex_unlock (&global.log_lock);

  if (log_level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO))
    return G_LOG_WRITER_HANDLED;

  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

static void
assert_not_logged (const char *secret)
{
  g_mutex_lock (&global.log_lock);
  g_assert_null (strstr (global.log->str, secret));
  g_mutex_unlock (&global.log_lock);
}

/* ------------------------------------------------------------------------ */
/* Files: no secret in any file under a directory                          */
/* ------------------------------------------------------------------------ */

/* Whether @needle occurs in the @len bytes at @data (which may hold NULs). */
static gboolean
contains_bytes (const char *data,
                gsize       len,
                const char *needle)
{
  gsize needle_len = strlen (needle);

  for (gsize i = 0; needle_len <= len && i <= len - needle_len; i++)
    {
      if (data[i] == needle[0] && memcmp (data + i, needle, needle_len) == 0)
        return TRUE;
    }

  return FALSE;
}

static void
assert_not_in_files (const char *path,
                     const char *secret)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        continue;

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        assert_not_in_files (child, secret);
      else if (g_file_test (child, G_FILE_TEST_IS_REGULAR))
        {
          g_autofree char *contents = NULL;
          gsize len = 0;

          if (!g_file_get_contents (child, &contents, &len, NULL))
            continue;

          if (contains_bytes (contents, len, secret))
            g_error ("A secret was written to %s", child);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The keyring daemon                                                       */
/* ------------------------------------------------------------------------ */

static void
kill_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static void
keyring_exited_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (object), result, NULL);
  if (object == (GObject *) global.keyring)
    global.keyring_exited = TRUE;
  g_object_unref (object);
}

static void
name_appeared_cb (GDBusConnection *connection,
                  const char      *name,
                  const char      *owner,
                  gpointer         user_data)
{
  *(int *) user_data = 1;
}

static void
name_vanished_cb (GDBusConnection *connection,
                  const char      *name,
                  gpointer         user_data)
{
  *(int *) user_data = 0;
}

/* Spins until the keyring's bus name is owned (@owned) or not. */
static void
wait_for_keyring_name (gboolean owned)
{
  int state = -1;
  gint64 deadline = g_get_monotonic_time () + WAIT_TIMEOUT_S * G_USEC_PER_SEC;
  guint watch;

  watch = g_bus_watch_name (G_BUS_TYPE_SESSION, global.bus_name, G_BUS_NAME_WATCHER_FLAGS_NONE,
                            name_appeared_cb, name_vanished_cb, &state, NULL);
  while (state != (owned ? 1 : 0))
    {
      if (owned && global.keyring_exited)
        g_error ("gnome-keyring-daemon exited before it owned %s", global.bus_name);
      if (g_get_monotonic_time () > deadline)
        g_error ("Timed out waiting for %s to be %s", global.bus_name,
                 owned ? "owned" : "released");
      g_main_context_iteration (NULL, TRUE);
    }
  g_bus_unwatch_name (watch);

  /* libsecret keeps the service it connected to; the next call reconnects. */
  secret_service_disconnect ();
}

static void
keyring_stop (void)
{
  if (global.keyring == NULL)
    return;

  g_subprocess_send_signal (global.keyring, SIGTERM);
  global.keyring_exited = FALSE;
  g_clear_object (&global.keyring); /* keyring_exited_cb holds its own reference */
  wait_for_keyring_name (FALSE);
}

/* Starts gnome-keyring-daemon, with the login keyring unlocked (created
 * with KEYRING_PASSWORD the first time) or locked. */
static void
keyring_start (gboolean unlocked)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  GOutputStream *input;

  if (global.keyring != NULL && global.keyring_unlocked == unlocked)
    return;
  keyring_stop ();

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                        G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_set_child_setup (launcher, kill_with_parent, NULL, NULL);
  g_subprocess_launcher_setenv (launcher, "GNOME_KEYRING_TEST_SERVICE", global.bus_name, TRUE);
  g_subprocess_launcher_setenv (launcher, "GNOME_KEYRING_TEST_PROMPTER", NO_PROMPTER, TRUE);
  g_subprocess_launcher_unsetenv (launcher, "G_MESSAGES_DEBUG");

  global.keyring_exited = FALSE;
  global.keyring_unlocked = unlocked;
  if (unlocked)
    global.keyring = g_subprocess_launcher_spawn (launcher, &error, "gnome-keyring-daemon",
                                                  "--unlock", "--components=secrets",
                                                  "--foreground", NULL);
  else
    global.keyring = g_subprocess_launcher_spawn (launcher, &error, "gnome-keyring-daemon",
                                                  "--components=secrets", "--foreground", NULL);
  if (global.keyring == NULL)
    g_error ("Could not start gnome-keyring-daemon (Debian package gnome-keyring): %s",
             error->message);

  g_subprocess_wait_async (global.keyring, NULL, keyring_exited_cb,
                           g_object_ref (global.keyring));

  /* The password goes on standard input, never on a command line. */
  input = g_subprocess_get_stdin_pipe (global.keyring);
  if (unlocked)
    {
      g_output_stream_write_all (input, KEYRING_PASSWORD, strlen (KEYRING_PASSWORD), NULL, NULL,
                                 &error);
      g_assert_no_error (error);
    }
  g_output_stream_close (input, NULL, &error);
  g_assert_no_error (error);

  wait_for_keyring_name (TRUE);
}

static void
lookup_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

/* The token in the keyring, looked up without HelixAccount (and, like it,
 * not with secret_password_lookup(), which leaks in libsecret 0.20). */
static char *
keyring_lookup (const char *gateway_uri,
                const char *username)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(SecretService) service = NULL;
  g_autoptr(GHashTable) attributes = NULL;
  g_autoptr(GError) error = NULL;
  GList *items;
  char *secret = NULL;

  secret_service_get (SECRET_SERVICE_OPEN_SESSION, NULL, lookup_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_TIMEOUT_S, "the keyring service");
  service = secret_service_get_finish (result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);

  attributes = secret_attributes_build (token_schema (),
                                        "gateway", gateway_uri,
                                        "username", username,
                                        NULL);
  secret_service_search (service, token_schema (), attributes,
                         SECRET_SEARCH_ALL | SECRET_SEARCH_LOAD_SECRETS, NULL, lookup_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_TIMEOUT_S, "a keyring search");
  items = secret_service_search_finish (service, result, &error);
  g_assert_no_error (error);

  /* One item per gateway and user name: a second sign-in replaces it. */
  g_assert_cmpuint (g_list_length (items), <=, 1);
  if (items != NULL)
    {
      SecretValue *value = secret_item_get_secret (items->data);

      g_assert_nonnull (value);
      g_assert_cmpstr (secret_value_get_content_type (value), ==, "text/plain");
      secret = g_strdup (secret_value_get_text (value));
      secret_value_unref (value);
    }
  g_list_free_full (items, g_object_unref);

  return secret;
}

/* ------------------------------------------------------------------------ */
/* The gateway                                                              */
/* ------------------------------------------------------------------------ */

typedef struct
{
  char         *dir;
  HelixGateway *gateway;
  char         *uri;
  SoupSession  *session;
  gint64        alice;
  gboolean      stopped;
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(HelixGatewayConfig) config = NULL;
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("helix-account-gateway-XXXXXX", &error);
  g_assert_no_error (error);
  config = helix_test_gateway_config_new (f->dir);
  f->gateway = helix_test_gateway_start (config);

  /* Normalized, as HelixAccount stores it: no trailing slash. */
  f->uri = helix_account_normalize_uri (helix_gateway_get_uri (f->gateway), &error);
  g_assert_no_error (error);
  f->session = soup_session_new ();
  f->alice = helix_test_gateway_add_user (f->gateway, "alice", ALICE_PASSWORD);
}

static void
gateway_stop (Fixture *f)
{
  if (f->stopped)
    return;

  helix_test_gateway_shutdown (f->gateway);
  f->stopped = TRUE;
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_object (&f->session);
  gateway_stop (f);
  g_clear_object (&f->gateway);

  helix_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->uri);
}

/* The status of GET /api/v1/sessions with @token. */
static guint
get_sessions_status (Fixture    *f,
                     const char *token)
{
  g_autoptr(GBytes) body = NULL;
  g_autoptr(SoupMessage) msg = helix_test_http_send (f->session, f->uri, "GET",
                                                     "/api/v1/sessions", token, NULL, NULL, -1,
                                                     &body);

  return soup_message_get_status (msg);
}

/* Alice's devices in the gateway's database. */
static GPtrArray *
list_devices (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *devices;

  devices = helix_gateway_db_list_devices (helix_gateway_get_db (f->gateway), f->alice, &error);
  g_assert_no_error (error);

  return devices;
}

/* ------------------------------------------------------------------------ */
/* HelixAccount, synchronously for the tests                                */
/* ------------------------------------------------------------------------ */

static void
result_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

static gboolean
sign_in (HelixAccount  *account,
         const char    *uri,
         const char    *username,
         const char    *password,
         GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  helix_account_sign_in_async (account, uri, username, password, "test device", NULL,
                               result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_TIMEOUT_S, "a sign-in");
  g_assert_false (helix_account_get_busy (account));

  return helix_account_sign_in_finish (account, result, error);
}

static gboolean
load (HelixAccount  *account,
      const char    *uri,
      const char    *username,
      GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  helix_account_load_async (account, uri, username, NULL, result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_TIMEOUT_S, "a load");
  g_assert_false (helix_account_get_busy (account));

  return helix_account_load_finish (account, result, error);
}

static gboolean
sign_out (HelixAccount  *account,
          GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  helix_account_sign_out_async (account, NULL, result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_TIMEOUT_S, "a sign-out");
  g_assert_false (helix_account_get_busy (account));

  return helix_account_sign_out_finish (account, result, error);
}

static void
count_notify_cb (GObject    *object,
                 GParamSpec *pspec,
                 gpointer    user_data)
{
  (*(guint *) user_data)++;
}

/* The desktop keeps the gateway address and the user name in GSettings (the
 * memory backend here); no value there may hold the token. */
static void
assert_not_in_settings (const char *gateway_uri,
                        const char *token)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;
  g_autoptr(GSettings) settings = NULL;
  g_auto(GStrv) keys = NULL;

  schema = source != NULL ? g_settings_schema_source_lookup (source, "ai.helix.Helix", TRUE) : NULL;
  if (schema == NULL)
    g_error ("The ai.helix.Helix schema is not compiled in GSETTINGS_SCHEMA_DIR; run this "
             "test through meson test");

  settings = g_settings_new_full (schema, NULL, NULL);
  g_settings_set_string (settings, "gateway-url", gateway_uri);
  g_settings_set_string (settings, "username", "alice");

  keys = g_settings_schema_list_keys (schema);
  for (guint i = 0; keys[i] != NULL; i++)
    {
      g_autoptr(GVariant) value = g_settings_get_value (settings, keys[i]);
      g_autofree char *text = g_variant_print (value, FALSE);

      g_assert_null (strstr (text, token));
    }

  g_settings_reset (settings, "gateway-url");
  g_settings_reset (settings, "username");
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */
/* ------------------------------------------------------------------------ */

static void
test_normalize_uri (void)
{
  static const struct { const char *in; const char *out; } good[] = {
    { "https://helix.example.org", "https://helix.example.org" },
    { "  https://helix.example.org/  ", "https://helix.example.org" },
    { "HTTPS://helix.example.org:8443/helix/", "https://helix.example.org:8443/helix" },
    { "http://127.0.0.1:8080", "http://127.0.0.1:8080" },
    { "https://helix.example.org:443/", "https://helix.example.org" },
    { "http://[::1]:8080/", "http://[::1]:8080" },
  };
  static const char *bad[] = {
    "", "   ", "helix.example.org", "ftp://helix.example.org", "https://",
    "https://alice:secret@helix.example.org", "https://alice@helix.example.org",
    "https://helix.example.org/?token=1", "https://helix.example.org/#x", "file:///etc/passwd",
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *out = helix_account_normalize_uri (good[i].in, &error);

      g_assert_no_error (error);
      g_assert_cmpstr (out, ==, good[i].out);
    }

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *out = helix_account_normalize_uri (bad[i], &error);

      g_assert_null (out);
      g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID);
      g_assert_cmpstr (error->message, !=, "");
    }
}

static void
test_invalid_input (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(HelixAccount) account = helix_account_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *long_name = g_strnfill (200, 'x');
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GPtrArray) devices = NULL;

  g_assert_false (sign_in (account, "https://alice:pw@example.org", "alice", "pw", &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID);
  g_clear_error (&error);

  g_assert_false (sign_in (account, f->uri, "  ", ALICE_PASSWORD, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID);
  g_clear_error (&error);

  g_assert_false (sign_in (account, f->uri, "alice", "", &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID);
  g_clear_error (&error);

  helix_account_sign_in_async (account, f->uri, "alice", ALICE_PASSWORD, long_name, NULL,
                               result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_TIMEOUT_S, "a sign-in");
  g_assert_false (helix_account_sign_in_finish (account, result, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID);

  g_assert_false (helix_account_get_signed_in (account));
  devices = list_devices (f);
  g_assert_cmpuint (devices->len, ==, 0);
}

static void
test_round_trip (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(HelixAccount) account = helix_account_new ();
  g_autoptr(HelixAccount) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *stored = NULL;
  g_autofree char *token = NULL;
  g_autofree char *with_slash = g_strconcat (f->uri, "/", NULL);
  g_autoptr(GPtrArray) devices = NULL;
  guint signed_in_notifies = 0;

  keyring_start (TRUE);

  g_signal_connect (account, "notify::signed-in", G_CALLBACK (count_notify_cb),
                    &signed_in_notifies);
  g_assert_false (helix_account_get_signed_in (account));
  g_assert_null (helix_account_get_token (account));

  /* Sign in: the token goes to the keyring. */
  g_assert_true (sign_in (account, with_slash, "alice", ALICE_PASSWORD, &error));
  g_assert_no_error (error);
  g_assert_true (helix_account_get_signed_in (account));
  g_assert_cmpuint (signed_in_notifies, ==, 1);
  g_assert_cmpstr (helix_account_get_gateway_uri (account), ==, f->uri);
  g_assert_cmpstr (helix_account_get_username (account), ==, "alice");
  token = g_strdup (helix_account_get_token (account));
  g_assert_nonnull (token);

  stored = keyring_lookup (f->uri, "alice");
  g_assert_cmpstr (stored, ==, token);

  /* The log check below does see the log. */
  g_mutex_lock (&global.log_lock);
  g_assert_nonnull (strstr (global.log->str, "Signed in as alice"));
  g_mutex_unlock (&global.log_lock);

  devices = list_devices (f);
  g_assert_cmpuint (devices->len, ==, 1);
  g_assert_cmpstr (((HelixGatewayDevice *) devices->pdata[0])->name, ==, "test device");
  g_clear_pointer (&devices, g_ptr_array_unref);

  /* The gateway takes it. */
  g_assert_cmpuint (get_sessions_status (f, token), ==, SOUP_STATUS_OK);

  /* Signing in twice is refused; nothing changes. */
  g_assert_false (sign_in (account, f->uri, "alice", ALICE_PASSWORD, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_cmpstr (helix_account_get_token (account), ==, token);

  /* Secrets are nowhere else: not in the logs, the settings, or any file
   * (the keyring file is encrypted; the gateway keeps a hash). */
  assert_not_logged (token);
  assert_not_logged (ALICE_PASSWORD);
  assert_not_in_settings (f->uri, token);
  assert_not_in_files (global.dir, token);
  assert_not_in_files (global.dir, ALICE_PASSWORD);
  assert_not_in_files (f->dir, token);
  assert_not_in_files (f->dir, ALICE_PASSWORD);

  /* Another start of the application finds it. */
  again = helix_account_new ();
  g_assert_true (load (again, with_slash, "alice", &error));
  g_assert_no_error (error);
  g_assert_true (helix_account_get_signed_in (again));
  g_assert_cmpstr (helix_account_get_token (again), ==, token);
  g_assert_cmpstr (helix_account_get_gateway_uri (again), ==, f->uri);

  /* … and a user with no token is signed out. */
  {
    g_autoptr(HelixAccount) bob = helix_account_new ();

    g_assert_true (load (bob, f->uri, "bob", &error));
    g_assert_no_error (error);
    g_assert_false (helix_account_get_signed_in (bob));
    g_assert_cmpstr (helix_account_get_username (bob), ==, "bob");
  }

  /* Sign out: revoked on the gateway, gone from the keyring. */
  g_assert_true (sign_out (again, &error));
  g_assert_no_error (error);
  g_assert_false (helix_account_get_signed_in (again));
  g_assert_null (helix_account_get_token (again));
  g_clear_pointer (&stored, g_free);
  stored = keyring_lookup (f->uri, "alice");
  g_assert_null (stored);
  g_assert_cmpuint (get_sessions_status (f, token), ==, SOUP_STATUS_UNAUTHORIZED);

  devices = list_devices (f);
  g_assert_cmpuint (devices->len, ==, 1);
  g_assert_cmpint (((HelixGatewayDevice *) devices->pdata[0])->revoked_us, !=, 0);

  /* The first account still has the revoked token in memory: signing out
   * is fine (the gateway already forgot it). */
  g_assert_true (sign_out (account, &error));
  g_assert_no_error (error);
  g_assert_false (helix_account_get_signed_in (account));
  g_assert_cmpuint (signed_in_notifies, ==, 2);

  /* Signed out: signing out again does nothing. */
  g_assert_true (sign_out (account, &error));
  g_assert_no_error (error);

  g_assert_true (load (again, f->uri, "alice", &error));
  g_assert_no_error (error);
  g_assert_false (helix_account_get_signed_in (again));

  assert_not_logged (token);
  assert_not_in_files (global.dir, token);
  assert_not_in_files (f->dir, token);

  helix_test_assert_finalized (g_steal_pointer (&again));
  helix_test_assert_finalized (g_steal_pointer (&account));
}

static void
test_wrong_password (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(HelixAccount) account = helix_account_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) devices = NULL;
  g_autofree char *stored = NULL;

  keyring_start (TRUE);

  g_assert_false (sign_in (account, f->uri, "alice", "not the password", &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, "password"));
  g_clear_error (&error);

  /* An unknown user gets the same answer. */
  g_assert_false (sign_in (account, f->uri, "mallory", "not the password", &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_AUTH);
  g_clear_error (&error);

  g_assert_false (helix_account_get_signed_in (account));
  g_assert_null (helix_account_get_token (account));
  stored = keyring_lookup (f->uri, "alice");
  g_assert_null (stored);
  devices = list_devices (f);
  g_assert_cmpuint (devices->len, ==, 0);
  assert_not_logged ("not the password");
}

static void
test_rate_limited (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(HelixAccount) account = helix_account_new ();
  g_autoptr(GError) error = NULL;
  guint attempts = 0;

  keyring_start (TRUE);

  /* The gateway allows a few failures, then answers 429 with Retry-After. */
  while (sign_in (account, f->uri, "alice", "guess", &error) == FALSE &&
         g_error_matches (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_AUTH))
    {
      g_assert_cmpuint (++attempts, <, 20);
      g_clear_error (&error);
    }

  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_RATE_LIMITED);
  g_test_message ("%s", error->message);
  /* It says how long to wait. */
  g_assert_nonnull (strpbrk (error->message, "0123456789"));
  g_assert_true (strstr (error->message, "minute") != NULL ||
                 strstr (error->message, "second") != NULL);
  g_assert_false (helix_account_get_signed_in (account));
}

static void
test_no_keyring (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(HelixAccount) account = helix_account_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) devices = NULL;
  HelixGatewayDevice *device;

  keyring_stop ();

  g_assert_false (sign_in (account, f->uri, "alice", ALICE_PASSWORD, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_KEYRING);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "keyring is not available"));
  g_assert_nonnull (strstr (error->message, "Nothing was stored"));
  g_clear_error (&error);
  g_assert_false (helix_account_get_signed_in (account));
  g_assert_null (helix_account_get_token (account));

  /* The gateway issued a token, and it was revoked again. */
  devices = list_devices (f);
  g_assert_cmpuint (devices->len, ==, 1);
  device = devices->pdata[0];
  g_assert_cmpint (device->revoked_us, !=, 0);

  /* Loading says the keyring is missing too. */
  g_assert_false (load (account, f->uri, "alice", &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_KEYRING);
  g_test_message ("%s", error->message);
  g_assert_false (helix_account_get_signed_in (account));
}

static void
test_locked_keyring (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(HelixAccount) account = helix_account_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) devices = NULL;
  g_autofree char *stored = NULL;

#ifdef __SANITIZE_ADDRESS__
  /* libsecret 0.20.5 (Debian 12) leaks a D-Bus reply when an unlock fails,
   * in its GDBus worker thread, where no suppression can name it. The case
   * runs in the plain build. */
  g_test_skip ("libsecret 0.20 leaks when an unlock fails; not run under AddressSanitizer");
  return;
#endif

  /* Running, but locked; the unlock prompt cannot be shown. */
  keyring_start (FALSE);

  g_assert_false (sign_in (account, f->uri, "alice", ALICE_PASSWORD, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_KEYRING);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "Nothing was stored"));
  g_assert_false (helix_account_get_signed_in (account));

  devices = list_devices (f);
  g_assert_cmpuint (devices->len, ==, 1);
  g_assert_cmpint (((HelixGatewayDevice *) devices->pdata[0])->revoked_us, !=, 0);

  keyring_start (TRUE);
  stored = keyring_lookup (f->uri, "alice");
  g_assert_null (stored);
}

static void
test_unreachable (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(HelixAccount) account = helix_account_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = g_strdup (f->uri);

  keyring_start (TRUE);

  /* Nothing listens on the gateway's port any more. */
  gateway_stop (f);

  g_assert_false (sign_in (account, uri, "alice", ALICE_PASSWORD, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_NETWORK);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "127.0.0.1"));
  g_assert_false (helix_account_get_signed_in (account));
}

static void
test_not_a_gateway (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(HelixAccount) account = helix_account_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = g_strconcat (f->uri, "/not-here", NULL);

  keyring_start (TRUE);

  g_assert_false (sign_in (account, uri, "alice", ALICE_PASSWORD, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_PROTOCOL);
  g_test_message ("%s", error->message);
  g_assert_false (helix_account_get_signed_in (account));
}

static void
test_sign_out_offline (Fixture       *f,
                       gconstpointer  data)
{
  g_autoptr(HelixAccount) account = helix_account_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *stored = NULL;

  keyring_start (TRUE);

  g_assert_true (sign_in (account, f->uri, "alice", ALICE_PASSWORD, &error));
  g_assert_no_error (error);

  gateway_stop (f);

  /* The token is gone from this device, and the user is told that the
   * gateway still has it. */
  g_assert_false (sign_out (account, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_NOT_REVOKED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "Signed out on this device"));
  g_assert_false (helix_account_get_signed_in (account));
  g_assert_null (helix_account_get_token (account));
  stored = keyring_lookup (f->uri, "alice");
  g_assert_null (stored);
}

/* Fails the whole test, without leaving the temporary directory behind. */
G_GNUC_PRINTF (1, 2) G_GNUC_NORETURN static void
bail_out (const char *format,
          ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  helix_test_rm_rf (global.dir);
  g_error ("%s", message);
}

int
main (int    argc,
      char **argv)
{
  const char *bus_address = g_getenv ("DBUS_SESSION_BUS_ADDRESS");
  g_autoptr(GError) error = NULL;
  g_autofree char *runtime_dir = NULL;
  g_autofree char *daemon = NULL;
  int ret;

  /* Before any thread: the environment of this process and of the daemon. */
  global.dir = g_dir_make_tmp ("helix-account-XXXXXX", &error);
  g_assert_no_error (error);
  runtime_dir = g_build_filename (global.dir, "run", NULL);
  g_assert_cmpint (g_mkdir_with_parents (runtime_dir, 0700), ==, 0);
  g_setenv ("HOME", global.dir, TRUE);
  g_setenv ("XDG_DATA_HOME", global.dir, TRUE);
  g_setenv ("XDG_CONFIG_HOME", global.dir, TRUE);
  g_setenv ("XDG_CACHE_HOME", global.dir, TRUE);
  g_setenv ("XDG_RUNTIME_DIR", runtime_dir, TRUE);
  g_unsetenv ("GNOME_KEYRING_CONTROL");
  global.bus_name = g_strdup_printf ("ai.helix.Test.Secrets.p%d", (int) getpid ());
  g_setenv ("SECRET_SERVICE_BUS_NAME", global.bus_name, TRUE);
  /* Format every debug message, so that the log check sees them all. */
  g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);

  g_mutex_init (&global.log_lock);
  global.log = g_string_new (NULL);
  g_log_set_writer_func (log_writer, NULL, NULL);

  g_test_init (&argc, &argv, NULL);

  if (bus_address == NULL || *bus_address == '\0')
    bail_out ("There is no session bus (DBUS_SESSION_BUS_ADDRESS is not set). Run this test "
             "through “dbus-run-session -- meson test”, as build-aux/dev.sh test does.");
  {
    g_autoptr(GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);

    if (bus == NULL)
      bail_out ("Cannot connect to the session bus at %s: %s. Run this test through "
               "“dbus-run-session -- meson test”.", bus_address, error->message);
  }
  daemon = g_find_program_in_path ("gnome-keyring-daemon");
  if (daemon == NULL)
    bail_out ("gnome-keyring-daemon is not installed (Debian package gnome-keyring; "
             "build-aux/dev.sh deps installs it)");

#define ADD(path, func) \
  g_test_add ("/helix/account/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  g_test_add_func ("/helix/account/normalize-uri", test_normalize_uri);
  ADD ("no-keyring", test_no_keyring);
  ADD ("round-trip", test_round_trip);
  ADD ("invalid-input", test_invalid_input);
  ADD ("wrong-password", test_wrong_password);
  ADD ("rate-limited", test_rate_limited);
  ADD ("locked-keyring", test_locked_keyring);
  ADD ("unreachable", test_unreachable);
  ADD ("not-a-gateway", test_not_a_gateway);
  ADD ("sign-out-offline", test_sign_out_offline);

  ret = g_test_run ();

  keyring_stop ();
  helix_test_rm_rf (global.dir);
  g_clear_pointer (&global.dir, g_free);
  g_clear_pointer (&global.bus_name, g_free);

  return ret;
}
