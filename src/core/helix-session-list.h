/* helix-session-list.h: a GListModel of the sessions in a store
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-store.h"

G_BEGIN_DECLS

#define HELIX_TYPE_SESSION_LIST (helix_session_list_get_type ())

G_DECLARE_FINAL_TYPE (HelixSessionList, helix_session_list, HELIX, SESSION_LIST, GObject)

HelixSessionList *helix_session_list_new               (HelixStore       *store);
HelixStore       *helix_session_list_get_store         (HelixSessionList *self);
gboolean          helix_session_list_get_show_archived (HelixSessionList *self);
void              helix_session_list_set_show_archived (HelixSessionList *self,
                                                        gboolean          show_archived);
gboolean          helix_session_list_get_loading       (HelixSessionList *self);
HelixSession     *helix_session_list_find              (HelixSessionList *self,
                                                        const char       *session_id,
                                                        guint            *position);

G_END_DECLS
