/* helix-sync-status.h: what sync is doing, at the foot of the sidebar
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "helix-sync-client.h"

G_BEGIN_DECLS

#define HELIX_TYPE_SYNC_STATUS (helix_sync_status_get_type ())

G_DECLARE_FINAL_TYPE (HelixSyncStatus, helix_sync_status, HELIX, SYNC_STATUS, GtkWidget)

GtkWidget  *helix_sync_status_new        (void);
void        helix_sync_status_set_client (HelixSyncStatus *self,
                                          HelixSyncClient *client);
const char *helix_sync_status_get_text   (HelixSyncStatus *self);

G_END_DECLS
