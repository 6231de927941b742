/* helix-chat-request.h: what a chat call asks a provider
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib-object.h>

#include "helix-types.h"

G_BEGIN_DECLS

/* Default timeouts of a call, in milliseconds. */
#define HELIX_CHAT_REQUEST_DEFAULT_CONNECT_TIMEOUT_MS      10000
#define HELIX_CHAT_REQUEST_DEFAULT_FIRST_TOKEN_TIMEOUT_MS  60000
#define HELIX_CHAT_REQUEST_DEFAULT_CALL_TIMEOUT_MS        600000

typedef struct _HelixChatRequest HelixChatRequest;

#define HELIX_TYPE_CHAT_REQUEST (helix_chat_request_get_type ())

GType             helix_chat_request_get_type          (void) G_GNUC_CONST;

HelixChatRequest *helix_chat_request_new               (const char        *model);
HelixChatRequest *helix_chat_request_ref               (HelixChatRequest  *self);
void              helix_chat_request_unref             (HelixChatRequest  *self);

void              helix_chat_request_add_message       (HelixChatRequest  *self,
                                                        HelixMessageRole   role,
                                                        const char        *content);
void              helix_chat_request_set_max_tokens    (HelixChatRequest  *self,
                                                        guint              max_tokens);
void              helix_chat_request_set_temperature   (HelixChatRequest  *self,
                                                        double             temperature);
void              helix_chat_request_unset_temperature (HelixChatRequest  *self);
void              helix_chat_request_set_timeouts      (HelixChatRequest  *self,
                                                        guint              connect_ms,
                                                        guint              first_token_ms,
                                                        guint              call_ms);

const char       *helix_chat_request_get_model         (HelixChatRequest  *self);
guint             helix_chat_request_get_n_messages    (HelixChatRequest  *self);
HelixMessageRole  helix_chat_request_get_message_role  (HelixChatRequest  *self,
                                                        guint              index);
const char       *helix_chat_request_get_message_content (HelixChatRequest *self,
                                                          guint             index);
guint             helix_chat_request_get_max_tokens    (HelixChatRequest  *self);
gboolean          helix_chat_request_get_temperature   (HelixChatRequest  *self,
                                                        double            *temperature);
void              helix_chat_request_get_timeouts      (HelixChatRequest  *self,
                                                        guint             *connect_ms,
                                                        guint             *first_token_ms,
                                                        guint             *call_ms);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixChatRequest, helix_chat_request_unref)

G_END_DECLS
