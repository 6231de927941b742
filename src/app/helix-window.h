/* helix-window.h: the main window
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "helix-router.h"
#include "helix-store.h"
#include "helix-sync-status.h"

G_BEGIN_DECLS

#define HELIX_TYPE_WINDOW (helix_window_get_type ())

G_DECLARE_FINAL_TYPE (HelixWindow, helix_window, HELIX, WINDOW, AdwApplicationWindow)

HelixWindow     *helix_window_new             (GtkApplication  *application,
                                               HelixStore      *store);
HelixStore      *helix_window_get_store       (HelixWindow     *self);
void             helix_window_set_sync_client (HelixWindow     *self,
                                               HelixSyncClient *client);
HelixSyncStatus *helix_window_get_sync_status (HelixWindow     *self);
void             helix_window_set_router      (HelixWindow     *self,
                                               HelixRouter     *router);
HelixRouter     *helix_window_get_router      (HelixWindow     *self);

G_END_DECLS
