/* helix-chat-controller.h: asks the AI router to answer the chats, and stores the answers
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-chat-call.h"
#include "helix-chat-format.h"
#include "helix-router.h"
#include "helix-store.h"
#include "helix-sync-client.h"

G_BEGIN_DECLS

/* What the history sent with a question may hold. */
#define HELIX_CHAT_HISTORY_MAX_MESSAGES 64
#define HELIX_CHAT_HISTORY_MAX_BYTES    (64 * 1024)

#define HELIX_TYPE_CHAT_CONTROLLER (helix_chat_controller_get_type ())

G_DECLARE_FINAL_TYPE (HelixChatController, helix_chat_controller, HELIX, CHAT_CONTROLLER, GObject)

HelixChatController *helix_chat_controller_new            (HelixStore          *store);
HelixStore          *helix_chat_controller_get_store      (HelixChatController *self);
void                 helix_chat_controller_set_router     (HelixChatController *self,
                                                           HelixRouter         *router);
HelixRouter         *helix_chat_controller_get_router     (HelixChatController *self);
void                 helix_chat_controller_set_use_gateway (HelixChatController *self,
                                                            gboolean             use_gateway);
gboolean             helix_chat_controller_get_use_gateway (HelixChatController *self);
void                 helix_chat_controller_set_sync_client (HelixChatController *self,
                                                           HelixSyncClient     *client);
gboolean             helix_chat_controller_has_providers  (HelixChatController *self);

GListModel          *helix_chat_controller_get_calls      (HelixChatController *self,
                                                           const char          *session_id);
HelixChatCall       *helix_chat_controller_get_busy_call  (HelixChatController *self,
                                                           const char          *session_id);
HelixChatCall       *helix_chat_controller_ask            (HelixChatController *self,
                                                           const char          *session_id,
                                                           guint64              upto);
gboolean             helix_chat_controller_stop           (HelixChatController *self,
                                                           const char          *session_id);
void                 helix_chat_controller_stop_all       (HelixChatController *self);
guint                helix_chat_controller_get_n_pending  (HelixChatController *self);

G_END_DECLS
