/* helix-window.h: the main window
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "helix-store.h"

G_BEGIN_DECLS

#define HELIX_TYPE_WINDOW (helix_window_get_type ())

G_DECLARE_FINAL_TYPE (HelixWindow, helix_window, HELIX, WINDOW, AdwApplicationWindow)

HelixWindow *helix_window_new       (GtkApplication *application,
                                     HelixStore     *store);
HelixStore  *helix_window_get_store (HelixWindow    *self);

G_END_DECLS
