/* helix-test-keyring.h: a real gnome-keyring-daemon for the tests, on a bus name of its own
 *
 * The daemon is started by the test as a child on the private session bus that
 * the test runner provides (dbus-run-session), with HOME and the XDG
 * directories in a temporary directory (helix_test_keyring_init()).
 *
 * It owns a bus name of its own (GNOME_KEYRING_TEST_SERVICE), which libsecret
 * is pointed at (SECRET_SERVICE_BUS_NAME): a name with no .service file, so
 * that "no keyring" really is no keyring (org.freedesktop.secrets would be
 * D-Bus activated, with the runner's HOME), and so that other tests on the
 * same bus are not disturbed. Prompts go to a prompter name nobody owns
 * (GNOME_KEYRING_TEST_PROMPTER), so a locked keyring fails at once instead of
 * waiting for a window on the X server.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <gio/gio.h>
#include <libsecret/secret.h>

#include "helix-test-util.h"

G_BEGIN_DECLS

#define HELIX_TEST_KEYRING_PASSWORD    "keyring password for the test"
#define HELIX_TEST_KEYRING_NO_PROMPTER "ai.helix.Test.NoPrompter"
#define HELIX_TEST_KEYRING_TIMEOUT_S   60

static struct
{
  char        *dir;
  char        *bus_name;
  GSubprocess *keyring;
  gboolean     unlocked;
  gboolean     exited;
} helix_test_keyring;

static inline void
helix_test_keyring_kill_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static inline void
helix_test_keyring_exited_cb (GObject      *object,
                              GAsyncResult *result,
                              gpointer      user_data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (object), result, NULL);
  if (object == (GObject *) helix_test_keyring.keyring)
    helix_test_keyring.exited = TRUE;
  g_object_unref (object);
}

static inline void
helix_test_keyring_name_appeared_cb (GDBusConnection *connection,
                                     const char      *name,
                                     const char      *owner,
                                     gpointer         user_data)
{
  *(int *) user_data = 1;
}

static inline void
helix_test_keyring_name_vanished_cb (GDBusConnection *connection,
                                     const char      *name,
                                     gpointer         user_data)
{
  *(int *) user_data = 0;
}

/* Spins until the keyring's bus name is owned (@owned) or not. */
static inline void
helix_test_keyring_wait_for_name (gboolean owned)
{
  int state = -1;
  gint64 deadline = g_get_monotonic_time () + HELIX_TEST_KEYRING_TIMEOUT_S * G_USEC_PER_SEC;
  guint watch;

  watch = g_bus_watch_name (G_BUS_TYPE_SESSION, helix_test_keyring.bus_name,
                            G_BUS_NAME_WATCHER_FLAGS_NONE, helix_test_keyring_name_appeared_cb,
                            helix_test_keyring_name_vanished_cb, &state, NULL);
  while (state != (owned ? 1 : 0))
    {
      if (owned && helix_test_keyring.exited)
        g_error ("gnome-keyring-daemon exited before it owned %s", helix_test_keyring.bus_name);
      if (g_get_monotonic_time () > deadline)
        g_error ("Timed out waiting for %s to be %s", helix_test_keyring.bus_name,
                 owned ? "owned" : "released");
      g_main_context_iteration (NULL, TRUE);
    }
  g_bus_unwatch_name (watch);

  /* libsecret keeps the service it connected to; the next call reconnects. */
  secret_service_disconnect ();
}

/* Stops the daemon, if it runs: then there is no keyring at all. */
static inline void
helix_test_keyring_stop (void)
{
  if (helix_test_keyring.keyring == NULL)
    return;

  g_subprocess_send_signal (helix_test_keyring.keyring, SIGTERM);
  helix_test_keyring.exited = FALSE;
  /* helix_test_keyring_exited_cb holds its own reference. */
  g_clear_object (&helix_test_keyring.keyring);
  helix_test_keyring_wait_for_name (FALSE);
}

static inline void
helix_test_keyring_result_cb (GObject      *object,
                              GAsyncResult *result,
                              gpointer      user_data);

/* Whether the daemon answers an OpenSession: a freshly started one sometimes
 * does not know its caller yet and exits on the first call. */
static inline gboolean
helix_test_keyring_probe (void)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(SecretService) service = NULL;
  g_autoptr(GError) error = NULL;

  secret_service_get (SECRET_SERVICE_OPEN_SESSION, NULL, helix_test_keyring_result_cb, &result);
  helix_test_wait_for (result != NULL, HELIX_TEST_KEYRING_TIMEOUT_S, "the new keyring service");
  service = secret_service_get_finish (result, &error);
  if (service == NULL)
    g_printerr ("# The new gnome-keyring-daemon failed: %s; starting it again\n", error->message);

  return service != NULL;
}

static inline void helix_test_keyring_start_once (gboolean unlocked);

/* Starts gnome-keyring-daemon, with the login keyring unlocked (created with
 * HELIX_TEST_KEYRING_PASSWORD the first time) or locked. */
static inline void
helix_test_keyring_start (gboolean unlocked)
{
  if (helix_test_keyring.keyring != NULL && helix_test_keyring.unlocked == unlocked)
    return;

  for (guint attempt = 0; ; attempt++)
    {
      helix_test_keyring_stop ();
      helix_test_keyring_start_once (unlocked);
      if (helix_test_keyring_probe ())
        return;
      if (attempt == 4)
        g_error ("gnome-keyring-daemon failed five times in a row");
    }
}

static inline void
helix_test_keyring_start_once (gboolean unlocked)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  GOutputStream *input;

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                        G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_set_child_setup (launcher, helix_test_keyring_kill_with_parent, NULL, NULL);
  g_subprocess_launcher_setenv (launcher, "GNOME_KEYRING_TEST_SERVICE",
                                helix_test_keyring.bus_name, TRUE);
  g_subprocess_launcher_setenv (launcher, "GNOME_KEYRING_TEST_PROMPTER",
                                HELIX_TEST_KEYRING_NO_PROMPTER, TRUE);
  g_subprocess_launcher_unsetenv (launcher, "G_MESSAGES_DEBUG");

  helix_test_keyring.exited = FALSE;
  helix_test_keyring.unlocked = unlocked;
  if (unlocked)
    helix_test_keyring.keyring = g_subprocess_launcher_spawn (launcher, &error,
                                                              "gnome-keyring-daemon", "--unlock",
                                                              "--components=secrets",
                                                              "--foreground", NULL);
  else
    helix_test_keyring.keyring = g_subprocess_launcher_spawn (launcher, &error,
                                                              "gnome-keyring-daemon",
                                                              "--components=secrets",
                                                              "--foreground", NULL);
  if (helix_test_keyring.keyring == NULL)
    g_error ("Could not start gnome-keyring-daemon (Debian package gnome-keyring): %s",
             error->message);

  g_subprocess_wait_async (helix_test_keyring.keyring, NULL, helix_test_keyring_exited_cb,
                           g_object_ref (helix_test_keyring.keyring));

  /* The password goes on standard input, never on a command line. */
  input = g_subprocess_get_stdin_pipe (helix_test_keyring.keyring);
  if (unlocked)
    {
      g_output_stream_write_all (input, HELIX_TEST_KEYRING_PASSWORD,
                                 strlen (HELIX_TEST_KEYRING_PASSWORD), NULL, NULL, &error);
      g_assert_no_error (error);
    }
  g_output_stream_close (input, NULL, &error);
  g_assert_no_error (error);

  helix_test_keyring_wait_for_name (TRUE);
}

static inline void
helix_test_keyring_result_cb (GObject      *object,
                              GAsyncResult *result,
                              gpointer      user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

/* The secret of the one item of @schema with @attributes, or %NULL: looked up
 * without the code under test, and (like it) not with secret_password_lookup(),
 * which leaks a D-Bus reply per item in libsecret 0.20. */
static inline char *
helix_test_keyring_lookup (const SecretSchema *schema,
                           GHashTable         *attributes)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(SecretService) service = NULL;
  g_autoptr(GError) error = NULL;
  GList *items;
  char *secret = NULL;

  secret_service_get (SECRET_SERVICE_OPEN_SESSION, NULL, helix_test_keyring_result_cb, &result);
  helix_test_wait_for (result != NULL, HELIX_TEST_KEYRING_TIMEOUT_S, "the keyring service");
  service = secret_service_get_finish (result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);

  secret_service_search (service, schema, attributes,
                         SECRET_SEARCH_ALL | SECRET_SEARCH_LOAD_SECRETS, NULL,
                         helix_test_keyring_result_cb, &result);
  helix_test_wait_for (result != NULL, HELIX_TEST_KEYRING_TIMEOUT_S, "a keyring search");
  items = secret_service_search_finish (service, result, &error);
  g_assert_no_error (error);

  /* One item per set of attributes: storing again replaces it. */
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

/* Before any thread: a temporary HOME and XDG directories for this process and
 * the daemon, and the bus name libsecret is to use. Returns the directory. */
static inline const char *
helix_test_keyring_init (const char *prefix)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *template = g_strconcat (prefix, "-XXXXXX", NULL);
  g_autofree char *runtime_dir = NULL;

  helix_test_keyring.dir = g_dir_make_tmp (template, &error);
  g_assert_no_error (error);
  runtime_dir = g_build_filename (helix_test_keyring.dir, "run", NULL);
  g_assert_cmpint (g_mkdir_with_parents (runtime_dir, 0700), ==, 0);
  g_setenv ("HOME", helix_test_keyring.dir, TRUE);
  g_setenv ("XDG_DATA_HOME", helix_test_keyring.dir, TRUE);
  g_setenv ("XDG_CONFIG_HOME", helix_test_keyring.dir, TRUE);
  g_setenv ("XDG_CACHE_HOME", helix_test_keyring.dir, TRUE);
  g_setenv ("XDG_RUNTIME_DIR", runtime_dir, TRUE);
  g_unsetenv ("GNOME_KEYRING_CONTROL");
  helix_test_keyring.bus_name = g_strdup_printf ("ai.helix.Test.Secrets.p%d", (int) getpid ());
  g_setenv ("SECRET_SERVICE_BUS_NAME", helix_test_keyring.bus_name, TRUE);

  return helix_test_keyring.dir;
}

/* Why the keyring cannot be run here (no session bus, no daemon), or %NULL. */
static inline char *
helix_test_keyring_check (void)
{
  const char *bus_address = g_getenv ("DBUS_SESSION_BUS_ADDRESS");
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *daemon = NULL;

  if (bus_address == NULL || *bus_address == '\0')
    return g_strdup ("There is no session bus (DBUS_SESSION_BUS_ADDRESS is not set). Run this "
                     "test through “dbus-run-session -- meson test”, as build-aux/dev.sh test does.");

  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (bus == NULL)
    return g_strdup_printf ("Cannot connect to the session bus at %s: %s. Run this test through "
                            "“dbus-run-session -- meson test”.", bus_address, error->message);

  daemon = g_find_program_in_path ("gnome-keyring-daemon");
  if (daemon == NULL)
    return g_strdup ("gnome-keyring-daemon is not installed (Debian package gnome-keyring; "
                     "build-aux/dev.sh deps installs it)");

  return NULL;
}

/* Stops the daemon and removes the temporary directory. */
static inline void
helix_test_keyring_cleanup (void)
{
  helix_test_keyring_stop ();
  if (helix_test_keyring.dir != NULL)
    helix_test_rm_rf (helix_test_keyring.dir);
  g_clear_pointer (&helix_test_keyring.dir, g_free);
  g_clear_pointer (&helix_test_keyring.bus_name, g_free);
}

G_END_DECLS
