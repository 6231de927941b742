/* helix-chat-stream.h: the answer of a chat call, as it streams in
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define HELIX_TYPE_CHAT_STREAM (helix_chat_stream_get_type ())

G_DECLARE_FINAL_TYPE (HelixChatStream, helix_chat_stream, HELIX, CHAT_STREAM, GObject)

HelixChatStream *helix_chat_stream_new                  (void);

const char      *helix_chat_stream_get_text             (HelixChatStream *self);
gsize            helix_chat_stream_get_text_length      (HelixChatStream *self);
const char      *helix_chat_stream_get_finish_reason    (HelixChatStream *self);
gint64           helix_chat_stream_get_input_tokens     (HelixChatStream *self);
gint64           helix_chat_stream_get_output_tokens    (HelixChatStream *self);
gboolean         helix_chat_stream_is_complete          (HelixChatStream *self);
guint            helix_chat_stream_get_http_status      (HelixChatStream *self);
gint64           helix_chat_stream_get_retry_after      (HelixChatStream *self);
gint64           helix_chat_stream_get_first_token_delay (HelixChatStream *self);
void             helix_chat_stream_relay                (HelixChatStream *self,
                                                         const char      *text);

G_END_DECLS
