/* helix-gateway-users.c: `helix --headless --add-user NAME` and friends
 *
 * Commands that manage the gateway's accounts from the command line, then
 * exit without serving. They open the same database as the server (which may
 * be running: SQLite serialises the writes). Adding, disabling and enabling
 * a user are recorded in the audit trail first (helix_audit_record_sync());
 * if that fails, nothing is changed. The gateway delivers those entries to
 * its webhooks when it next starts.
 *
 * New passwords are read from standard input: the first line when it is not
 * a terminal (for scripts), otherwise typed twice without echo. They never
 * appear in the arguments, the log or the database.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <sodium.h>

#include "helix-gateway-private.h"
#include "helix-password.h"

static int
fail (const char *message)
{
  g_printerr ("helix: %s\n", message);
  return 1;
}

/* Reads one line from @stream into a new string without its line end, or
 * returns %NULL with @error set. */
static char *
read_line (FILE    *stream,
           GError **error)
{
  char buffer[HELIX_PASSWORD_MAX_BYTES + 3];
  char *password = NULL;
  gsize len;

  if (fgets (buffer, sizeof buffer, stream) == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           _("No password was given on standard input"));
      return NULL;
    }

  len = strlen (buffer);
  if (len == sizeof buffer - 1 && buffer[len - 1] != '\n')
    {
      sodium_memzero (buffer, sizeof buffer);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("The password is too long: use at most %d bytes"),
                   HELIX_PASSWORD_MAX_BYTES);
      return NULL;
    }

  while (len > 0 && (buffer[len - 1] == '\n' || buffer[len - 1] == '\r'))
    buffer[--len] = '\0';

  password = g_strndup (buffer, len);
  sodium_memzero (buffer, sizeof buffer);

  return password;
}

/* Prompts on the terminal with echo off. */
static char *
prompt_password (const char  *prompt,
                 GError     **error)
{
  struct termios saved;
  struct termios quiet;
  char *password;
  gboolean echo_off;

  g_printerr ("%s", prompt);

  echo_off = tcgetattr (STDIN_FILENO, &saved) == 0;
  if (echo_off)
    {
      quiet = saved;
      quiet.c_lflag &= ~(tcflag_t) ECHO;
      quiet.c_lflag |= ECHONL;
      echo_off = tcsetattr (STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }

  password = read_line (stdin, error);

  if (echo_off)
    tcsetattr (STDIN_FILENO, TCSAFLUSH, &saved);

  return password;
}

static char *
get_new_password (const char  *name,
                  GError     **error)
{
  g_autofree char *prompt = NULL;
  char *first;
  char *second;

  if (!isatty (STDIN_FILENO))
    {
      first = read_line (stdin, error);
      if (first == NULL)
        return NULL;
      if (!helix_password_check_quality (first, error))
        {
          helix_password_free (first);
          return NULL;
        }
      return first;
    }

  prompt = g_strdup_printf (_("Password for %s: "), name);
  first = prompt_password (prompt, error);
  if (first == NULL)
    return NULL;
  if (!helix_password_check_quality (first, error))
    {
      helix_password_free (first);
      return NULL;
    }

  second = prompt_password (_("Repeat the password: "), error);
  if (second == NULL)
    {
      helix_password_free (first);
      return NULL;
    }

  if (!g_str_equal (first, second))
    {
      helix_password_free (first);
      helix_password_free (second);
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           _("The two passwords differ; nothing was changed"));
      return NULL;
    }

  helix_password_free (second);

  return first;
}

/* Records an account change before it is made: if the entry cannot be
 * written, the change must not happen (fail closed). */
static gboolean
record (HelixAudit  *audit,
        const char  *event,
        const char  *name,
        gboolean     is_admin,
        GError     **error)
{
  g_autofree char *actor = g_strdup_printf ("cli:%s", g_get_user_name ());
  g_autofree char *payload = NULL;
  g_autoptr(GError) local_error = NULL;

  payload = _helix_gateway_audit_payload ("user", name, "admin", is_admin ? "true" : "false",
                                          NULL);
  if (!helix_audit_record_sync (audit, HELIX_AUDIT_CHANNEL_API, actor, event, payload,
                                &local_error))
    {
      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_AUDIT,
                   _("Nothing was changed: the change could not be written to the audit trail "
                     "first (%s)"), local_error->message);
      return FALSE;
    }

  return TRUE;
}

static int
add_user (HelixGatewayDb *db,
          HelixAudit     *audit,
          const char     *name,
          gboolean        is_admin)
{
  g_autoptr(HelixGatewayUser) existing = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *hash = NULL;
  char *password;

  if (!helix_gateway_user_name_is_valid (name))
    {
      g_autofree char *message =
        g_strdup_printf (_("“%.64s” is not a valid user name: use 1 to 64 letters, digits, "
                           "dots, dashes and underscores"), name);
      return fail (message);
    }

  /* Say so before asking for a password. */
  existing = helix_gateway_db_lookup_user (db, name, &error);
  if (existing != NULL)
    {
      g_autofree char *message =
        g_strdup_printf (_("A user named “%s” exists already. Choose another name."), name);
      return fail (message);
    }
  if (!g_error_matches (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NO_SUCH_USER))
    return fail (error->message);
  g_clear_error (&error);

  password = get_new_password (name, &error);
  if (password == NULL)
    return fail (error->message);

  /* A command-line tool, not a server: hashing may block here. */
  hash = helix_password_hash (password, &error);
  helix_password_free (password);
  if (hash == NULL)
    return fail (error->message);

  if (!record (audit, "user.add", name, is_admin, &error))
    return fail (error->message);

  if (!helix_gateway_db_add_user (db, name, hash, is_admin, &error))
    return fail (error->message);

  g_print (is_admin ? _("Added the administrator %s.\n") : _("Added the user %s.\n"), name);

  return 0;
}

static int
list_users (HelixGatewayDb *db)
{
  g_autoptr(GPtrArray) users = NULL;
  g_autoptr(GError) error = NULL;
  const char *yes = _("yes");
  const char *no = _("no");
  int width = (int) strlen (_("NAME"));

  users = helix_gateway_db_list_users (db, &error);
  if (users == NULL)
    return fail (error->message);

  if (users->len == 0)
    {
      g_print ("%s\n", _("No users yet. Add one with --add-user NAME."));
      return 0;
    }

  for (guint i = 0; i < users->len; i++)
    {
      HelixGatewayUser *user = g_ptr_array_index (users, i);

      width = MAX (width, (int) strlen (user->name));
    }

  g_print ("%-*s  %-5s  %-8s  %s\n", width, _("NAME"), _("ADMIN"), _("DISABLED"), _("DEVICES"));
  for (guint i = 0; i < users->len; i++)
    {
      HelixGatewayUser *user = g_ptr_array_index (users, i);

      g_print ("%-*s  %-5s  %-8s  %u\n", width, user->name,
               user->is_admin ? yes : no, user->disabled ? yes : no, user->n_devices);
    }

  return 0;
}

static int
set_disabled (HelixGatewayDb *db,
              HelixAudit     *audit,
              const char     *name,
              gboolean        disabled)
{
  g_autoptr(GError) error = NULL;

  if (!record (audit, disabled ? "user.disable" : "user.enable", name, FALSE, &error))
    return fail (error->message);

  if (!helix_gateway_db_set_user_disabled (db, name, disabled, &error))
    return fail (error->message);

  if (disabled)
    g_print (_("Disabled the user %s and logged out all their devices.\n"), name);
  else
    g_print (_("Enabled the user %s.\n"), name);

  return 0;
}

/**
 * _helix_gateway_users_main:
 * @config: the gateway's configuration
 * @command: what to do
 *
 * Runs one account command against the database of @config.
 *
 * Returns: the exit status (0 on success, 1 after printing an error)
 */
int
_helix_gateway_users_main (const HelixGatewayConfig      *config,
                           const HelixGatewayUserCommand *command)
{
  g_autoptr(HelixGatewayDb) db = NULL;
  g_autoptr(HelixAudit) audit = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *db_path = NULL;
  const char *state_dir = helix_gateway_config_get_state_dir (config);
  int status;

  if (!helix_password_init (&error))
    return fail (error->message);

  if (g_mkdir_with_parents (state_dir, 0700) != 0)
    {
      int saved_errno = errno;
      g_autofree char *message =
        g_strdup_printf (_("Could not create the state directory “%s”: %s"),
                         state_dir, g_strerror (saved_errno));
      return fail (message);
    }

  db_path = helix_gateway_config_dup_database_path (config);
  db = helix_gateway_db_open (db_path, &error);
  if (db == NULL)
    return fail (error->message);

  /* Account changes are on record before they are made. */
  if (!command->list_users)
    {
      audit = _helix_gateway_audit_open (config, FALSE, &error);
      if (audit == NULL)
        {
          g_autofree char *message =
            g_strdup_printf (_("Nothing was changed: %s"), error->message);

          helix_gateway_db_close (db);
          return fail (message);
        }
    }

  if (command->add_user != NULL)
    status = add_user (db, audit, command->add_user, command->admin);
  else if (command->list_users)
    status = list_users (db);
  else if (command->disable_user != NULL)
    status = set_disabled (db, audit, command->disable_user, TRUE);
  else if (command->enable_user != NULL)
    status = set_disabled (db, audit, command->enable_user, FALSE);
  else
    g_assert_not_reached ();

  if (audit != NULL)
    helix_audit_close (audit);
  helix_gateway_db_close (db);

  return status;
}
