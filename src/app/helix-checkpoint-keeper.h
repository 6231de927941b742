/* helix-checkpoint-keeper.h: this device keeps the gateway's audit checkpoints
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-account.h"

G_BEGIN_DECLS

/* How often a signed-in device asks for the newest checkpoint. */
#define HELIX_CHECKPOINT_KEEPER_INTERVAL_S (10 * 60)

#define HELIX_TYPE_CHECKPOINT_KEEPER (helix_checkpoint_keeper_get_type ())

G_DECLARE_FINAL_TYPE (HelixCheckpointKeeper, helix_checkpoint_keeper, HELIX, CHECKPOINT_KEEPER, GObject)

HelixCheckpointKeeper *helix_checkpoint_keeper_new            (GSettings             *settings,
                                                               HelixAccount          *account);
const char            *helix_checkpoint_keeper_get_warning    (HelixCheckpointKeeper *self);
char                  *helix_checkpoint_keeper_dup_checkpoint (HelixCheckpointKeeper *self);
void                   helix_checkpoint_keeper_check_async    (HelixCheckpointKeeper *self,
                                                               GCancellable          *cancellable,
                                                               GAsyncReadyCallback    callback,
                                                               gpointer               user_data);
gboolean               helix_checkpoint_keeper_check_finish   (HelixCheckpointKeeper *self,
                                                               GAsyncResult          *result,
                                                               GError               **error);
void                   helix_checkpoint_keeper_forget         (HelixCheckpointKeeper *self);

G_END_DECLS
