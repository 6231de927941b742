/* helix-message-private.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-message.h"

G_BEGIN_DECLS

/* Kept small: a paged list model holds many of these. Strings that repeat across
 * messages (session id, model, provider) are interned GRefStrings. */
struct _HelixMessage
{
  GObject  parent_instance;

  gint64   rowid;
  char    *id;
  char    *session_id;   /* GRefString */
  char    *content;
  char    *model;        /* GRefString, nullable */
  char    *provider;     /* GRefString, nullable */
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
