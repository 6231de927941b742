/* helix-message-row.h: one message in the chat view
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "helix-message.h"

G_BEGIN_DECLS

#define HELIX_TYPE_MESSAGE_ROW (helix_message_row_get_type ())

G_DECLARE_FINAL_TYPE (HelixMessageRow, helix_message_row, HELIX, MESSAGE_ROW, GtkWidget)

GtkWidget    *helix_message_row_new         (void);
HelixMessage *helix_message_row_get_message (HelixMessageRow *self);
void          helix_message_row_set_message (HelixMessageRow *self,
                                             HelixMessage    *message);

G_END_DECLS
