/* helix-chat-format.h: costs, as the chat and the operator view show them
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

char *helix_chat_format_cost     (double      cost,
                                  const char *model);
char *helix_format_usd           (double      usd);

G_END_DECLS
