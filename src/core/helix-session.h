/* helix-session.h: one chat session
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-types.h"

G_BEGIN_DECLS

#define HELIX_TYPE_SESSION (helix_session_get_type ())

G_DECLARE_FINAL_TYPE (HelixSession, helix_session, HELIX, SESSION, GObject)

const char *helix_session_get_id         (HelixSession *self);
const char *helix_session_get_title      (HelixSession *self);
GDateTime  *helix_session_dup_created    (HelixSession *self);
gint64      helix_session_get_created_us (HelixSession *self);
gint64      helix_session_get_updated_us (HelixSession *self);
gboolean    helix_session_get_pinned     (HelixSession *self);
gboolean    helix_session_get_archived   (HelixSession *self);
gboolean    helix_session_get_deleted    (HelixSession *self);
const char *helix_session_get_hlc        (HelixSession *self);
const char *helix_session_get_model      (HelixSession *self);
guint64     helix_session_get_n_messages (HelixSession *self);

G_END_DECLS
