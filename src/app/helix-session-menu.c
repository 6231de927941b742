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
  return helix_session_menu_new_with_models (session, NULL);
}

/* The "Model" submenu: radio items of the stateful `win.session-model` action,
 * whose state is the open session's pinned model ("" for automatic). */
static GMenuModel *
model_menu_new (HelixSession       *session,
                const char * const *models)
{
  g_autoptr(GMenu) menu = g_menu_new ();
  g_autoptr(GMenu) choices = g_menu_new ();
  const char *current = helix_session_get_model (session);
  gboolean listed = current == NULL;

  append_item (menu, _("Automatic (cheapest)"), "win.session-model",
               g_variant_new_string (""));

  for (guint i = 0; models[i] != NULL; i++)
    {
      if (models[i][0] == '\0')
        continue;
      append_item (choices, models[i], "win.session-model", g_variant_new_string (models[i]));
      listed |= g_strcmp0 (models[i], current) == 0;
    }

  /* Pinned on another device, or served by a provider that is off now: still shown,
   * so that the menu says what the session asks for. */
  if (!listed)
    append_item (choices, current, "win.session-model", g_variant_new_string (current));

  g_menu_append_section (menu, NULL, G_MENU_MODEL (choices));

  return G_MENU_MODEL (g_steal_pointer (&menu));
}

/**
 * helix_session_menu_new_with_models:
 * @session: a #HelixSession
 * @models: (nullable) (array zero-terminated=1): the models a user can pin
 *   for @session, or %NULL for a menu without the "Model" submenu
 *
 * Like helix_session_menu_new(), with a "Model" submenu for the open session:
 * "Automatic (cheapest)" and each of @models, as choices of the stateful
 * `win.session-model` action.
 *
 * Returns: (transfer full): a new #GMenuModel
 */
GMenuModel *
helix_session_menu_new_with_models (HelixSession       *session,
                                    const char * const *models)
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

  if (models != NULL)
    {
      g_autoptr(GMenuModel) model_menu = model_menu_new (session, models);

      g_menu_append_submenu (section, _("_Model"), model_menu);
    }

  g_menu_append_section (menu, NULL, G_MENU_MODEL (section));
  g_menu_append_section (menu, NULL, G_MENU_MODEL (danger));

  return G_MENU_MODEL (g_steal_pointer (&menu));
}
