/* helix-message.h: one message of a chat session
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-types.h"

G_BEGIN_DECLS

#define HELIX_TYPE_MESSAGE (helix_message_get_type ())

G_DECLARE_FINAL_TYPE (HelixMessage, helix_message, HELIX, MESSAGE, GObject)

const char         *helix_message_get_id         (HelixMessage *self);
const char         *helix_message_get_session_id (HelixMessage *self);
guint64             helix_message_get_position   (HelixMessage *self);
HelixMessageRole    helix_message_get_role       (HelixMessage *self);
const char         *helix_message_get_content    (HelixMessage *self);
gint64              helix_message_get_created_us (HelixMessage *self);
HelixMessageStatus  helix_message_get_status     (HelixMessage *self);
const char         *helix_message_get_model      (HelixMessage *self);
const char         *helix_message_get_provider   (HelixMessage *self);
gint64              helix_message_get_tokens_in  (HelixMessage *self);
gint64              helix_message_get_tokens_out (HelixMessage *self);
double              helix_message_get_cost       (HelixMessage *self);
const char         *helix_message_get_metadata   (HelixMessage *self);
const char         *helix_message_get_hlc        (HelixMessage *self);

G_END_DECLS
