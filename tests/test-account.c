/* test-account.c: the desktop account (HelixAccount) against a real gateway
 * and a real gnome-keyring-daemon
 *
 * The gateway runs in this process on an ephemeral loopback port. The
 * keyring is a real gnome-keyring-daemon on a bus name of its own, started
 * by the test (helix-test-keyring.h), unlocked, locked or not at all.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsecret/secret.h>
#include <libsoup/soup.h>

#include "helix-account.h"
#include "helix-gateway.h"
#include "helix-password.h"
#include "helix-test-gateway.h"
#include "helix-test-http.h"
#include "helix-test-keyring.h"
#include "helix-test-server.h"
#include "helix-test-util.h"
#include "helix-uuid.h"

#define WAIT_TIMEOUT_S 60

#define ALICE_PASSWORD   "correct horse alice"
#define ROOT_PASSWORD    "root password for the account test"

static struct
{
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

/* The token in the keyring, looked up without HelixAccount. */
static char *
keyring_lookup (const char *gateway_uri,
                const char *username)
{
  g_autoptr(GHashTable) attributes = secret_attributes_build (token_schema (),
                                                              "gateway", gateway_uri,
                                                              "username", username,
                                                              NULL);

  return helix_test_keyring_lookup (token_schema (), attributes);
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

  helix_test_keyring_start (TRUE);

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
  assert_not_in_files (helix_test_keyring.dir, token);
  assert_not_in_files (helix_test_keyring.dir, ALICE_PASSWORD);
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
  assert_not_in_files (helix_test_keyring.dir, token);
  assert_not_in_files (f->dir, token);

  helix_test_assert_finalized (g_steal_pointer (&again));
  helix_test_assert_finalized (g_steal_pointer (&account));
}

static GPtrArray *
account_list_devices (HelixAccount  *account,
                      GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  helix_account_list_devices_async (account, NULL, result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_TIMEOUT_S, "the devices");

  return helix_account_list_devices_finish (account, result, error);
}

static HelixAccountDevice *
find_device (GPtrArray *devices,
             gboolean   current)
{
  for (guint i = 0; i < devices->len; i++)
    {
      HelixAccountDevice *device = g_ptr_array_index (devices, i);

      if (device->current == current)
        return device;
    }

  return NULL;
}

/* GET /api/v1/devices through the account: this device and the others, and
 * what a revoked token gets. */
static void
test_devices (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(HelixAccount) laptop = helix_account_new ();
  g_autoptr(HelixAccount) phone = helix_account_new ();
  g_autoptr(GPtrArray) devices = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *phone_id = NULL;
  HelixAccountDevice *device;
  gint64 before = g_get_real_time () - G_USEC_PER_SEC;

  helix_test_keyring_start (TRUE);

  /* Signed out: nothing to ask. */
  g_assert_null (account_list_devices (laptop, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID);
  g_clear_error (&error);

  g_assert_true (sign_in (laptop, f->uri, "alice", ALICE_PASSWORD, &error));
  g_assert_no_error (error);
  g_assert_true (sign_in (phone, f->uri, "alice", ALICE_PASSWORD, &error));
  g_assert_no_error (error);

  devices = account_list_devices (laptop, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (devices->len, ==, 2);
  device = find_device (devices, TRUE);
  g_assert_nonnull (device);
  g_assert_cmpstr (device->name, ==, "test device");
  g_assert_true (helix_uuid_is_valid (device->id));
  g_assert_cmpint (device->created_us, >=, before);
  g_assert_false (device->revoked);
  device = find_device (devices, FALSE);
  g_assert_nonnull (device);
  g_assert_false (device->revoked);
  phone_id = g_strdup (device->id);
  g_clear_pointer (&devices, g_ptr_array_unref);

  /* The phone signs out: the laptop sees it revoked. */
  g_assert_true (sign_out (phone, &error));
  g_assert_no_error (error);
  devices = account_list_devices (laptop, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (devices->len, ==, 2);
  device = find_device (devices, FALSE);
  g_assert_cmpstr (device->id, ==, phone_id);
  g_assert_true (device->revoked);
  g_clear_pointer (&devices, g_ptr_array_unref);

  /* The laptop's own token revoked behind its back: told to sign in again. */
  devices = account_list_devices (laptop, &error);
  device = find_device (devices, TRUE);
  g_assert_true (helix_gateway_db_revoke_device (helix_gateway_get_db (f->gateway), f->alice,
                                                 device->id, &error));
  g_assert_no_error (error);
  g_clear_pointer (&devices, g_ptr_array_unref);
  g_assert_null (account_list_devices (laptop, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_AUTH);
  g_clear_error (&error);

  /* The gateway down: a network error. */
  gateway_stop (f);
  g_assert_null (account_list_devices (laptop, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_NETWORK);
  g_clear_error (&error);

  assert_not_logged (helix_account_get_token (laptop));

  helix_test_assert_finalized (g_steal_pointer (&phone));
  helix_test_assert_finalized (g_steal_pointer (&laptop));
}

/* Administration: synchronous wrappers */

static gboolean
account_maintenance (HelixAccount  *account,
                     int            set,
                     gboolean      *maintenance,
                     GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  if (set < 0)
    helix_account_get_maintenance_async (account, NULL, result_cb, &result);
  else
    helix_account_set_maintenance_async (account, set, NULL, result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_TIMEOUT_S, "the maintenance mode");

  return helix_account_maintenance_finish (account, result, maintenance, error);
}

static GPtrArray *
account_list_flags (HelixAccount  *account,
                    GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  helix_account_list_flags_async (account, NULL, result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_TIMEOUT_S, "the flags");

  return helix_account_list_flags_finish (account, result, error);
}

static HelixAccountFlag *
account_patch_flag (HelixAccount  *account,
                    const char    *name,
                    int            enabled,
                    int            percent,
                    GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  helix_account_patch_flag_async (account, name, enabled, percent, NULL, result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_TIMEOUT_S, "the flag change");

  return helix_account_patch_flag_finish (account, result, error);
}

static HelixAccountAuditReport *
account_verify_audit (HelixAccount  *account,
                      const char    *checkpoint,
                      GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  helix_account_verify_audit_async (account, checkpoint, NULL, result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_TIMEOUT_S, "the audit report");

  return helix_account_verify_audit_finish (account, result, error);
}

static void
test_admin (Fixture       *f,
            gconstpointer  data)
{
  g_autoptr(HelixAccount) alice = helix_account_new ();
  g_autoptr(HelixAccount) root = helix_account_new ();
  g_autoptr(GPtrArray) flags = NULL;
  g_autoptr(HelixAccountFlag) flag = NULL;
  g_autoptr(HelixAccountAuditReport) report = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *hash = NULL;
  g_autofree char *long_note = NULL;
  gboolean maintenance = TRUE;

  helix_test_keyring_start (TRUE);
  hash = helix_password_hash (ROOT_PASSWORD, &error);
  g_assert_no_error (error);
  g_assert_true (helix_gateway_db_add_user (helix_gateway_get_db (f->gateway), "root", hash, TRUE,
                                            &error));
  g_assert_no_error (error);

  /* Signed out: nothing is sent. */
  g_assert_false (account_maintenance (root, -1, NULL, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID);
  g_clear_error (&error);

  /* alice is no administrator: every route says so. */
  g_assert_true (sign_in (alice, f->uri, "alice", ALICE_PASSWORD, &error));
  g_assert_no_error (error);
  g_assert_false (account_maintenance (alice, -1, NULL, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_FORBIDDEN);
  g_clear_error (&error);
  g_assert_false (account_maintenance (alice, TRUE, NULL, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_FORBIDDEN);
  g_clear_error (&error);
  g_assert_null (account_list_flags (alice, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_FORBIDDEN);
  g_clear_error (&error);
  g_assert_null (account_patch_flag (alice, "voice", 1, 100, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_FORBIDDEN);
  g_clear_error (&error);
  g_assert_null (account_verify_audit (alice, NULL, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_FORBIDDEN);
  g_clear_error (&error);

  /* root is. */
  g_assert_true (sign_in (root, f->uri, "root", ROOT_PASSWORD, &error));
  g_assert_no_error (error);
  g_assert_true (account_maintenance (root, -1, &maintenance, &error));
  g_assert_no_error (error);
  g_assert_false (maintenance);
  g_assert_true (account_maintenance (root, TRUE, &maintenance, &error));
  g_assert_no_error (error);
  g_assert_true (maintenance);
  maintenance = FALSE;
  g_assert_true (account_maintenance (root, -1, &maintenance, &error));
  g_assert_true (maintenance);
  g_assert_true (account_maintenance (root, FALSE, &maintenance, &error));
  g_assert_false (maintenance);

  flags = account_list_flags (root, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (flags->len, ==, 4);

  flag = account_patch_flag (root, "voice", -1, 30, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (flag->name, ==, "voice");
  g_assert_cmpuint (flag->percent, ==, 30);
  g_assert_cmpstr (flag->source, ==, "runtime");
  g_assert_cmpint (flag->changed_us, >, 0);
  g_clear_pointer (&flag, helix_account_flag_free);
  flag = account_patch_flag (root, "voice", 0, -1, &error);
  g_assert_no_error (error);
  g_assert_false (flag->enabled);
  g_assert_cmpuint (flag->percent, ==, 30);
  g_clear_pointer (&flag, helix_account_flag_free);

  /* Names that cannot be a flag's, and nothing to change, are not sent. */
  g_assert_null (account_patch_flag (root, "../auth/logout", 1, -1, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (account_patch_flag (root, "voice", -1, -1, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (account_patch_flag (root, "teleport", 1, -1, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_PROTOCOL);
  g_assert_nonnull (strstr (error->message, "HTTP 404"));
  g_assert_null (strstr (error->message, "does not look like"));
  g_clear_error (&error);

  /* The gateway's audit trail holds the logins and the changes above. */
  report = account_verify_audit (root, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (report->ok);
  g_assert_cmpstr (report->problem, ==, "ok");
  g_assert_cmpint (report->entries, >=, 4);
  g_clear_pointer (&report, helix_account_audit_report_free);

  /* A note too long is not sent; one that is not a checkpoint does not verify. */
  long_note = g_strnfill (4097, 'a');
  g_assert_null (account_verify_audit (root, long_note, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID);
  g_clear_error (&error);
  report = account_verify_audit (root, "not a checkpoint", &error);
  g_assert_no_error (error);
  g_test_message ("%s: %s", report->problem, report->message);
  g_assert_false (report->ok);
  g_assert_cmpstr (report->problem, !=, "ok");
  g_assert_nonnull (report->message);

  assert_not_logged (helix_account_get_token (root));
  assert_not_logged (helix_account_get_token (alice));
}

/* A gateway that answers too much, too deep, or out of range. */
static void
bad_gateway_cb (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer          user_data)
{
  GString *request_bodies = user_data;
  SoupMessageBody *request = soup_server_message_get_request_body (msg);
  g_autoptr(GString) answer = g_string_new (NULL);

  if (request->length > 0)
    {
      g_string_append_len (request_bodies, request->data, request->length);
      g_string_append_c (request_bodies, '\n');
    }

  if (g_str_equal (path, "/api/v1/auth/login"))
    g_string_append (answer, "{\"token\":\"limits-test-token-0123456789\"}");
  else if (g_str_equal (path, "/api/v1/admin/maintenance"))
    {
      /* Over 64 KiB. */
      g_string_append (answer, "{\"maintenance\":true,\"padding\":\"");
      for (guint i = 0; i < 70 * 1024; i++)
        g_string_append_c (answer, 'x');
      g_string_append (answer, "\"}");
    }
  else if (g_str_equal (path, "/api/v1/admin/flags"))
    /* Nested deeper than an answer of flags is. */
    g_string_append (answer, "{\"flags\":[{\"name\":\"voice\",\"enabled\":true,\"percent\":5,"
                             "\"killed\":false,\"source\":\"default\",\"x\":[[[[[[1]]]]]]}]}");
  else if (g_str_equal (path, "/api/v1/admin/flags/voice"))
    /* A percent out of range. */
    g_string_append (answer, "{\"name\":\"voice\",\"enabled\":true,\"percent\":101,"
                             "\"killed\":false,\"source\":\"runtime\"}");
  else if (g_str_equal (path, "/api/v1/audit/verify"))
    /* A negative count. */
    g_string_append (answer, "{\"ok\":true,\"entries\":-1,\"problem\":\"ok\",\"seq\":0}");
  else
    {
      soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
      return;
    }

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, answer->str,
                                    answer->len);
}

static void
test_admin_limits (Fixture       *f,
                   gconstpointer  data)
{
  HelixTestServer server = { 0 };
  g_autoptr(HelixAccount) account = helix_account_new ();
  g_autoptr(GString) request_bodies = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = NULL;

  helix_test_keyring_start (TRUE);
  helix_test_server_start (&server, bad_gateway_cb, request_bodies);
  uri = helix_test_server_url (&server, "");

  g_assert_true (sign_in (account, uri, "alice", ALICE_PASSWORD, &error));
  g_assert_no_error (error);

  g_assert_false (account_maintenance (account, TRUE, NULL, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_PROTOCOL);
  g_clear_error (&error);
  g_assert_null (account_list_flags (account, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_PROTOCOL);
  g_clear_error (&error);
  g_assert_null (account_patch_flag (account, "voice", 1, 50, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_PROTOCOL);
  g_clear_error (&error);
  g_assert_null (account_verify_audit (account, "kept\nnote", &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_PROTOCOL);
  g_clear_error (&error);

  /* What was sent: JSON bodies as PROTOCOL.md §12 has them. */
  g_assert_nonnull (strstr (request_bodies->str, "{\"maintenance\":true}\n"));
  g_assert_nonnull (strstr (request_bodies->str, "{\"enabled\":true,\"percent\":50}\n"));
  g_assert_nonnull (strstr (request_bodies->str, "{\"checkpoint\":\"kept\\nnote\"}\n"));

  assert_not_logged ("limits-test-token-0123456789");
  helix_test_server_clear (&server);
}

static void
test_wrong_password (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(HelixAccount) account = helix_account_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) devices = NULL;
  g_autofree char *stored = NULL;

  helix_test_keyring_start (TRUE);

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

  helix_test_keyring_start (TRUE);

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

  helix_test_keyring_stop ();

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
  helix_test_keyring_start (FALSE);

  g_assert_false (sign_in (account, f->uri, "alice", ALICE_PASSWORD, &error));
  g_assert_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_KEYRING);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "Nothing was stored"));
  g_assert_false (helix_account_get_signed_in (account));

  devices = list_devices (f);
  g_assert_cmpuint (devices->len, ==, 1);
  g_assert_cmpint (((HelixGatewayDevice *) devices->pdata[0])->revoked_us, !=, 0);

  helix_test_keyring_start (TRUE);
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

  helix_test_keyring_start (TRUE);

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

  helix_test_keyring_start (TRUE);

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

  helix_test_keyring_start (TRUE);

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

  helix_test_rm_rf (helix_test_keyring.dir);
  g_error ("%s", message);
}

int
main (int    argc,
      char **argv)
{
  g_autofree char *problem = NULL;
  int ret;

  /* Before any thread: the environment of this process and of the daemon. */
  helix_test_keyring_init ("helix-account");
  /* Format every debug message, so that the log check sees them all. */
  g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);

  g_mutex_init (&global.log_lock);
  global.log = g_string_new (NULL);
  g_log_set_writer_func (log_writer, NULL, NULL);

  g_test_init (&argc, &argv, NULL);

  if ((problem = helix_test_keyring_check ()) != NULL)
    bail_out ("%s", problem);

#define ADD(path, func) \
  g_test_add ("/helix/account/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  g_test_add_func ("/helix/account/normalize-uri", test_normalize_uri);
  ADD ("no-keyring", test_no_keyring);
  ADD ("round-trip", test_round_trip);
  ADD ("devices", test_devices);
  ADD ("admin", test_admin);
  ADD ("admin-limits", test_admin_limits);
  ADD ("invalid-input", test_invalid_input);
  ADD ("wrong-password", test_wrong_password);
  ADD ("rate-limited", test_rate_limited);
  ADD ("locked-keyring", test_locked_keyring);
  ADD ("unreachable", test_unreachable);
  ADD ("not-a-gateway", test_not_a_gateway);
  ADD ("sign-out-offline", test_sign_out_offline);

  ret = g_test_run ();

  helix_test_keyring_cleanup ();

  return ret;
}
