/* main.c: choose between the desktop app and the headless gateway
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix"

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "audit/helix-audit.h"
#include "core/helix-store.h"
#include "gateway/helix-gateway.h"

#if HAVE_GUI
# include "app/helix-application.h"
# include "app/helix-audit-keyring.h"
#endif

static gboolean
has_option (int         argc,
            char      **argv,
            const char *option)
{
  for (int i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--"))
        break;
      if (g_str_equal (argv[i], option))
        return TRUE;
    }

  return FALSE;
}

/* `helix --verify-audit`: the desktop's log, beside the chats; its key in the keyring. */
static int
verify_audit (int    argc,
              char **argv)
{
  g_autofree char *store = helix_store_dup_default_path ();
  g_autofree char *dir = g_path_get_dirname (store);

#if HAVE_GUI
  return helix_audit_verify_main (argc, argv, dir, helix_audit_keyring_lookup_sync);
#else
  return helix_audit_verify_main (argc, argv, dir, NULL);
#endif
}

int
main (int    argc,
      char **argv)
{
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  /* Decided before anything touches GTK: the gateway must run on a server with
   * no display and never initialise a toolkit. */
  if (has_option (argc, argv, "--headless"))
    return helix_gateway_main (argc, argv);

  /* A tool, not the app: no display needed. */
  if (has_option (argc, argv, "--verify-audit"))
    return verify_audit (argc, argv);

#if HAVE_GUI
  {
    g_autoptr(HelixApplication) app = helix_application_new (APP_ID);

    return g_application_run (G_APPLICATION (app), argc, argv);
  }
#else
  g_printerr (_("This build of Helix has no desktop app (it was configured with -Dgui=false).\n"
                "Run “%s --headless” to start the gateway.\n"),
              g_get_prgname () ? g_get_prgname () : "helix");
  return 2;
#endif
}
