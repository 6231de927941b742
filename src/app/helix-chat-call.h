/* helix-chat-call.h: an answer on its way, shown until it is stored
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-chat-stream.h"

G_BEGIN_DECLS

/**
 * HelixChatCallState:
 * @HELIX_CHAT_CALL_PREPARING: reading the history of the chat
 * @HELIX_CHAT_CALL_STREAMING: asking the model; the text grows
 * @HELIX_CHAT_CALL_FINISHING: the call ended; the answer is being stored
 * @HELIX_CHAT_CALL_FAILED: nothing was asked (no provider, nothing to answer);
 *   the call stays to show why, with a way to retry
 */
typedef enum
{
  HELIX_CHAT_CALL_PREPARING,
  HELIX_CHAT_CALL_STREAMING,
  HELIX_CHAT_CALL_FINISHING,
  HELIX_CHAT_CALL_FAILED,
} HelixChatCallState;

#define HELIX_TYPE_CHAT_CALL (helix_chat_call_get_type ())

G_DECLARE_FINAL_TYPE (HelixChatCall, helix_chat_call, HELIX, CHAT_CALL, GObject)

/* How often a growing answer is shown again, at most. */
#define HELIX_CHAT_CALL_REDRAW_MS 50

const char         *helix_chat_call_get_session_id      (HelixChatCall *self);
guint64             helix_chat_call_get_upto            (HelixChatCall *self);
HelixChatCallState  helix_chat_call_get_state           (HelixChatCall *self);
const char         *helix_chat_call_get_text            (HelixChatCall *self);
const char         *helix_chat_call_get_error           (HelixChatCall *self);
gboolean            helix_chat_call_get_needs_providers (HelixChatCall *self);
GCancellable       *helix_chat_call_get_cancellable     (HelixChatCall *self);
gboolean            helix_chat_call_is_busy             (HelixChatCall *self);

/* For the chat controller */
HelixChatCall      *_helix_chat_call_new                (const char         *session_id,
                                                         guint64             upto);
void                _helix_chat_call_set_state          (HelixChatCall      *self,
                                                         HelixChatCallState  state);
void                _helix_chat_call_set_stream         (HelixChatCall      *self,
                                                         HelixChatStream    *stream);
HelixChatStream    *_helix_chat_call_get_stream         (HelixChatCall      *self);
void                _helix_chat_call_fail               (HelixChatCall      *self,
                                                         const char         *message,
                                                         gboolean            needs_providers);
void                _helix_chat_call_flush              (HelixChatCall      *self);

G_END_DECLS
