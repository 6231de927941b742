/* main.c: choose between the desktop app and the headless gateway
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix"

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "gateway/helix-gateway.h"

#if HAVE_GUI
# include "app/helix-application.h"
#endif

static gboolean
wants_headless (int    argc,
                char **argv)
{
  for (int i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--"))
        break;
      if (g_str_equal (argv[i], "--headless"))
        return TRUE;
    }

  return FALSE;
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
  if (wants_headless (argc, argv))
    return helix_gateway_main (argc, argv);

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
