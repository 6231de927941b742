/* helix-gateway-main.c: `helix --headless`, the gateway's entry point
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <signal.h>

#include <glib/gi18n.h>
#include <glib-unix.h>
#include <sqlite3.h>

#include "helix-audit.h"
#include "helix-gateway-private.h"

typedef struct
{
  HelixGateway *gateway;
  GMainLoop    *loop;
  GCancellable *cancellable;
  gboolean      shutting_down;
} MainState;

static void
shutdown_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  MainState *state = user_data;
  g_autoptr(GError) error = NULL;

  if (helix_gateway_shutdown_finish (HELIX_GATEWAY (object), result, &error))
    g_info ("stopped");
  else
    g_warning ("%s", error->message);

  g_main_loop_quit (state->loop);
}

static void
handle_signal (MainState  *state,
               const char *name)
{
  if (!state->shutting_down)
    {
      state->shutting_down = TRUE;
      g_info ("received %s", name);
      helix_gateway_shutdown_async (state->gateway, state->cancellable, shutdown_cb, state);
    }
  else
    {
      g_info ("received %s again: stopping now", name);
      g_cancellable_cancel (state->cancellable);
    }
}

static gboolean
sigterm_cb (gpointer user_data)
{
  handle_signal (user_data, "SIGTERM");
  return G_SOURCE_CONTINUE;
}

static gboolean
sigint_cb (gpointer user_data)
{
  handle_signal (user_data, "SIGINT");
  return G_SOURCE_CONTINUE;
}

static int
fail (const GError *error)
{
  g_printerr ("helix: %s\n", error->message);
  return 1;
}

/* Defaults, then the file, then the environment, then the command line. */
static HelixGatewayConfig *
build_config (const char  *config_path,
              const char  *listen,
              const char  *state_dir,
              const char  *log_level,
              GError     **error)
{
  g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();

  if (config_path != NULL)
    {
      if (!helix_gateway_config_load_file (config, config_path, error))
        return NULL;
    }
  else if (g_file_test (HELIX_GATEWAY_SYSTEM_CONFIG_PATH, G_FILE_TEST_EXISTS))
    {
      if (!helix_gateway_config_load_file (config, HELIX_GATEWAY_SYSTEM_CONFIG_PATH, error))
        return NULL;
    }

  if (!helix_gateway_config_apply_environment (config, NULL, error))
    return NULL;

  if (listen != NULL && !helix_gateway_config_set_listen (config, listen, error))
    {
      g_prefix_error (error, _("option --listen: "));
      return NULL;
    }

  if (state_dir != NULL && !helix_gateway_config_set_state_dir (config, state_dir, error))
    {
      g_prefix_error (error, _("option --state-dir: "));
      return NULL;
    }

  if (log_level != NULL && !helix_gateway_config_set_log_level_name (config, log_level, error))
    {
      g_prefix_error (error, _("option --log-level: "));
      return NULL;
    }

  return g_steal_pointer (&config);
}

/**
 * helix_gateway_main:
 * @argc: the number of arguments
 * @argv: (array length=argc): the arguments, as given to main()
 *
 * Runs the gateway until SIGTERM or SIGINT: parses the options, loads the
 * configuration, starts the gateway and shuts it down gracefully on the
 * first signal (at once on the second).
 *
 * Returns: the exit status: 0 after a shutdown, 1 if the gateway could not
 *   start (an error message was printed to stderr)
 */
int
helix_gateway_main (int    argc,
                    char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(HelixGatewayConfig) config = NULL;
  g_autoptr(HelixGateway) gateway = NULL;
  g_autoptr(GCancellable) cancellable = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *config_path = NULL;
  g_autofree char *listen = NULL;
  g_autofree char *state_dir = NULL;
  g_autofree char *log_level = NULL;
  g_autofree char *add_user = NULL;
  g_autofree char *disable_user = NULL;
  g_autofree char *enable_user = NULL;
  g_auto(GStrv) args = NULL;
  g_autofree char *checkpoint_path = NULL;
  g_autofree char *public_key = NULL;
  gboolean headless = FALSE;
  gboolean version = FALSE;
  gboolean verify_audit = FALSE;
  HelixGatewayUserCommand users = { 0 };
  guint n_user_commands;
  MainState state = { 0 };
  guint sigterm_id;
  guint sigint_id;
  const GOptionEntry entries[] = {
    { "headless", 0, 0, G_OPTION_ARG_NONE, &headless,
      N_("Run the gateway, without a user interface"), NULL },
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
      N_("Read the configuration from FILE (default: /etc/helix/gateway.conf, if it exists)"),
      N_("FILE") },
    { "listen", 'l', 0, G_OPTION_ARG_STRING, &listen,
      N_("Listen on ADDR:PORT, for example 127.0.0.1:8080 or [::1]:8080; port 0 picks a free one"),
      N_("ADDR:PORT") },
    { "state-dir", 's', 0, G_OPTION_ARG_FILENAME, &state_dir,
      N_("Keep the database and other state in DIR"), N_("DIR") },
    { "log-level", 0, 0, G_OPTION_ARG_STRING, &log_level,
      N_("Log messages of LEVEL and above: error, warning, info or debug"), N_("LEVEL") },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version,
      N_("Show the version and exit"), NULL },
    { "add-user", 0, 0, G_OPTION_ARG_STRING, &add_user,
      N_("Add a user and exit; the password is read from standard input"), N_("NAME") },
    { "admin", 0, 0, G_OPTION_ARG_NONE, &users.admin,
      N_("With --add-user: make the user an administrator"), NULL },
    { "list-users", 0, 0, G_OPTION_ARG_NONE, &users.list_users,
      N_("List the users and exit"), NULL },
    { "disable-user", 0, 0, G_OPTION_ARG_STRING, &disable_user,
      N_("Disable a user, log out all their devices, and exit"), N_("NAME") },
    { "enable-user", 0, 0, G_OPTION_ARG_STRING, &enable_user,
      N_("Enable a disabled user and exit"), N_("NAME") },
    { "verify-audit", 0, 0, G_OPTION_ARG_NONE, &verify_audit,
      N_("Verify the audit log and exit: 0 intact, 1 altered, 2 not checked"), NULL },
    { "checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &checkpoint_path,
      N_("With --verify-audit: a checkpoint kept elsewhere, the newest seen"), N_("FILE") },
    { "public-key", 0, 0, G_OPTION_ARG_STRING, &public_key,
      N_("With --verify-audit: the key the checkpoints must be signed with, in base64"),
      N_("BASE64") },
    { NULL }
  };

  g_return_val_if_fail (argc >= 0, 1);

  context = g_option_context_new (NULL);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context,
                                _("Runs the Helix gateway, the server that syncs Helix "
                                  "between devices.\n"
                                  "Settings come from the configuration file, then the "
                                  "environment (HELIX_LISTEN,\nHELIX_STATE_DIR, "
                                  "HELIX_LOG_LEVEL), then these options."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);

  args = g_new0 (char *, argc + 1);
  for (int i = 0; i < argc; i++)
    args[i] = g_strdup (argv[i]);

  if (!g_option_context_parse_strv (context, &args, &error))
    return fail (error);

  if (args[0] != NULL && args[1] != NULL)
    {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   _("unexpected argument “%s”; see --help"), args[1]);
      return fail (error);
    }

  if (version)
    {
      g_print ("helix %s\n", PACKAGE_VERSION);
      return 0;
    }

  users.add_user = add_user;
  users.disable_user = disable_user;
  users.enable_user = enable_user;
  n_user_commands = (users.add_user != NULL) + users.list_users +
                    (users.disable_user != NULL) + (users.enable_user != NULL);
  if (n_user_commands > 1)
    {
      g_set_error_literal (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           _("--add-user, --list-users, --disable-user and --enable-user "
                             "cannot be combined; give one at a time"));
      return fail (error);
    }
  if (users.admin && users.add_user == NULL)
    {
      g_set_error_literal (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           _("--admin only goes with --add-user NAME"));
      return fail (error);
    }

  config = build_config (config_path, listen, state_dir, log_level, &error);
  if (config == NULL)
    return fail (error);

  helix_log_install (helix_gateway_config_get_log_level (config));
  if (helix_gateway_config_get_path (config) != NULL)
    g_debug ("configuration from %s", helix_gateway_config_get_path (config));

  /* Account commands change the database and exit, without serving. */
  if (n_user_commands > 0)
    return _helix_gateway_users_main (config, &users);

  /* The state directory and key file of this configuration, and exit. */
  if (verify_audit)
    {
      g_autofree char *key_file = helix_gateway_config_dup_audit_key_file (config);

      return helix_audit_verify_run (helix_gateway_config_get_state_dir (config), key_file,
                                     checkpoint_path, public_key, NULL);
    }
  if (checkpoint_path != NULL || public_key != NULL)
    {
      g_set_error_literal (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           _("--checkpoint and --public-key only go with --verify-audit"));
      return fail (error);
    }

  /* SQLite counts its memory under a global mutex at every allocation
   * unless told not to; nothing here reads the counts. Only possible before
   * SQLite initializes: the gateway opens its database later. */
  sqlite3_config (SQLITE_CONFIG_MEMSTATUS, 0);

  loop = g_main_loop_new (NULL, FALSE);
  cancellable = g_cancellable_new ();
  gateway = helix_gateway_new (config);

  state.gateway = gateway;
  state.loop = loop;
  state.cancellable = cancellable;

  /* Before starting, so that a signal during start-up is not lost: it is
   * handled as soon as the loop runs. */
  sigterm_id = g_unix_signal_add (SIGTERM, sigterm_cb, &state);
  sigint_id = g_unix_signal_add (SIGINT, sigint_cb, &state);

  if (!helix_gateway_start (gateway, &error))
    {
      g_source_remove (sigterm_id);
      g_source_remove (sigint_id);
      return fail (error);
    }

  /* One write() for many request lines; the main loop going idle, any
   * other message, exit and a crash write them (see helix-log.c). */
  helix_log_set_batched (TRUE);

  g_main_loop_run (loop);

  helix_log_flush ();
  g_source_remove (sigterm_id);
  g_source_remove (sigint_id);

  return 0;
}
