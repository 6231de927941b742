/* helix-message-row.h: one message in the chat view
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "helix-chat-call.h"
#include "helix-message.h"

G_BEGIN_DECLS

#define HELIX_TYPE_MESSAGE_ROW (helix_message_row_get_type ())

G_DECLARE_FINAL_TYPE (HelixMessageRow, helix_message_row, HELIX, MESSAGE_ROW, GtkWidget)

GtkWidget     *helix_message_row_new         (void);
HelixMessage  *helix_message_row_get_message (HelixMessageRow *self);
void           helix_message_row_set_message (HelixMessageRow *self,
                                              HelixMessage    *message);
HelixChatCall *helix_message_row_get_call    (HelixMessageRow *self);
void           helix_message_row_set_call    (HelixMessageRow *self,
                                              HelixChatCall   *call);
void           helix_message_row_set_last    (HelixMessageRow *self,
                                              gboolean         last);

/* For tests */
const char    *_helix_message_row_get_text         (HelixMessageRow *self);
const char    *_helix_message_row_get_footer       (HelixMessageRow *self);
const char    *_helix_message_row_get_status       (HelixMessageRow *self);
GtkWidget     *_helix_message_row_get_button       (HelixMessageRow *self,
                                                    const char      *name);
GtkGrid       *_helix_message_row_get_details_grid (HelixMessageRow *self);

G_END_DECLS
