/* helix-session-row.h: one chat session in the sidebar
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "helix-session.h"

G_BEGIN_DECLS

#define HELIX_TYPE_SESSION_ROW (helix_session_row_get_type ())

G_DECLARE_FINAL_TYPE (HelixSessionRow, helix_session_row, HELIX, SESSION_ROW, GtkWidget)

GtkWidget    *helix_session_row_new         (void);
HelixSession *helix_session_row_get_session (HelixSessionRow *self);
const char   *helix_session_row_get_snippet (HelixSessionRow *self);
void          helix_session_row_set_session (HelixSessionRow *self,
                                             HelixSession    *session,
                                             const char      *snippet);
void          helix_session_row_popup_menu  (HelixSessionRow *self);

G_END_DECLS
