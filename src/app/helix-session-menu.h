/* helix-session-menu.h: the menu of actions on one chat session
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-session.h"

G_BEGIN_DECLS

GMenuModel *helix_session_menu_new             (HelixSession       *session);
GMenuModel *helix_session_menu_new_with_models (HelixSession       *session,
                                                const char * const *models);

G_END_DECLS
