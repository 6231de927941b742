/* helix-session-menu.c: the menu of actions on one chat session
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-session-menu.h"

static void
append_item (GMenu      *menu,
             const char *label,
             const char *action,
             GVariant   *target)
{
  g_autoptr(GMenuItem) item = g_menu_item_new (label, NULL);

  g_menu_item_set_action_and_target_value (item, action, target);
  g_menu_append_item (menu, item);
}

/**
 * helix_session_menu_new:
 * @session: a #HelixSession
 *
 * Builds the menu of the `win.*-session` actions targeting @session. The
 * labels follow its state at the time of the call (Pin or Unpin), so the
 * menu is built each time it is shown.
 *
 * Returns: (transfer full): a new #GMenuModel
 */
GMenuModel *
helix_session_menu_new (HelixSession *session)
{
  g_autoptr(GMenu) menu = NULL;
  g_autoptr(GMenu) section = NULL;
  g_autoptr(GMenu) danger = NULL;
  g_autoptr(GVariant) target = NULL;

  g_return_val_if_fail (HELIX_IS_SESSION (session), NULL);

  menu = g_menu_new ();
  section = g_menu_new ();
  danger = g_menu_new ();
  target = g_variant_ref_sink (g_variant_new_string (helix_session_get_id (session)));

  append_item (section, _("_Rename…"), "win.rename-session", target);
  append_item (section,
               helix_session_get_pinned (session) ? _("Un_pin") : _("_Pin"),
               "win.pin-session", target);
  append_item (section,
               helix_session_get_archived (session) ? _("Un_archive") : _("_Archive"),
               "win.archive-session", target);
  append_item (danger, _("_Delete"), "win.delete-session", target);

  g_menu_append_section (menu, NULL, G_MENU_MODEL (section));
  g_menu_append_section (menu, NULL, G_MENU_MODEL (danger));

  return G_MENU_MODEL (g_steal_pointer (&menu));
}
