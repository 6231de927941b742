/* helix-chat-format.h: costs, as the chat shows them
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

char *helix_chat_format_cost     (double      cost,
                                  const char *model);

G_END_DECLS
