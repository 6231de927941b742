/* helix-title.h: short titles for chat sessions, shared by the desktop and the gateway
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "helix-chat-request.h"

G_BEGIN_DECLS

/* The longest title a model may give, in characters. */
#define HELIX_TITLE_MAX_CHARS      80
/* A new chat is named after the start of its first message, this long at most. */
#define HELIX_TITLE_DEFAULT_CHARS  48

char             *helix_title_from_text   (const char *text,
                                           guint       max_chars);
char             *helix_title_clean       (const char *text);
HelixChatRequest *helix_title_request_new (const char *question,
                                           const char *answer);

G_END_DECLS
