/* helix-chat-format.c: costs, as the chat shows them
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-chat-format.h"

/**
 * helix_chat_format_cost:
 * @cost: cost in USD, negative when unknown
 * @model: (nullable): the model that answered
 *
 * Returns: (transfer full) (nullable): "$0.0012", "<$0.0001", "free" (nothing
 *   to pay for a model), or %NULL when there is nothing to say
 */
char *
helix_chat_format_cost (double      cost,
                        const char *model)
{
  if (cost < 0)
    return NULL;

  if (cost == 0)
    return model != NULL && model[0] != '\0' ? g_strdup (_("free")) : NULL;

  if (cost < 0.0001)
    return g_strdup ("<$0.0001");

  if (cost < 0.01)
    return g_strdup_printf ("$%.4f", cost);

  if (cost < 1)
    return g_strdup_printf ("$%.3f", cost);

  return g_strdup_printf ("$%.2f", cost);
}

/**
 * helix_format_usd:
 * @usd: an amount in USD, 0 or more
 *
 * An amount as totals and budgets show it: cents, or four decimals below a
 * cent so that small sums do not read as nothing.
 *
 * Returns: (transfer full): "$12.30", "$0.0042", "$0.00"
 */
char *
helix_format_usd (double usd)
{
  if (usd > 0 && usd < 0.01)
    return g_strdup_printf ("$%.4f", usd);

  return g_strdup_printf ("$%.2f", MAX (usd, 0.0));
}
