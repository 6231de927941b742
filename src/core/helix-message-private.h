/* helix-message-private.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-message.h"

G_BEGIN_DECLS

/* Kept small: a paged list model holds many of these. The session id is a GRefString
 * shared by the messages of one page. (Not an interned one: GLib 2.74's interning races
 * when threads release and look up the same string.) */
struct _HelixMessage
{
  GObject  parent_instance;

  gint64   rowid;
  char    *id;
  char    *session_id;   /* GRefString */
  char    *content;
  char    *model;        /* nullable */
  char    *provider;     /* nullable */
  char    *metadata;     /* nullable */
  char    *hlc;
  guint64  position;
  gint64   created_us;
  gint64   tokens_in;
  gint64   tokens_out;
  double   cost;
  guint8   role;
  guint8   status;
};

HelixMessage *_helix_message_new (void);

G_END_DECLS
