/* helix-session-private.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-session.h"

G_BEGIN_DECLS

struct _HelixSession
{
  GObject  parent_instance;

  gint64   rowid;
  char    *id;
  char    *title;
  char    *hlc;
  char    *model;
  gint64   created_us;
  gint64   updated_us;
  guint64  n_messages;
  guint    pinned : 1;
  guint    archived : 1;
  guint    deleted : 1;
};

HelixSession *_helix_session_new    (void);
void          _helix_session_update (HelixSession *self,
                                     HelixSession *from);

G_END_DECLS
