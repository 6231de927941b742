/* helix-message-list.h: a paged GListModel of the messages of one session
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-store.h"

G_BEGIN_DECLS

#define HELIX_TYPE_MESSAGE_LIST (helix_message_list_get_type ())

G_DECLARE_FINAL_TYPE (HelixMessageList, helix_message_list, HELIX, MESSAGE_LIST, GObject)

HelixMessageList *helix_message_list_new            (HelixStore       *store,
                                                     const char       *session_id);
HelixStore       *helix_message_list_get_store      (HelixMessageList *self);
const char       *helix_message_list_get_session_id (HelixMessageList *self);
guint             helix_message_list_get_n_cached   (HelixMessageList *self);

G_END_DECLS
