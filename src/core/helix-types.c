/* helix-types.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-core"

#include "config.h"

#include "helix-types.h"

static const char * const role_names[] = { "user", "assistant", "system", "tool" };
static const char * const status_names[] = { "pending", "streaming", "done", "error" };

const char *
helix_message_role_to_string (HelixMessageRole role)
{
  g_return_val_if_fail ((guint) role < G_N_ELEMENTS (role_names), NULL);

  return role_names[role];
}

gboolean
helix_message_role_from_string (const char       *str,
                                HelixMessageRole *role)
{
  g_return_val_if_fail (role != NULL, FALSE);

  for (guint i = 0; str != NULL && i < G_N_ELEMENTS (role_names); i++)
    {
      if (g_str_equal (str, role_names[i]))
        {
          *role = (HelixMessageRole) i;
          return TRUE;
        }
    }

  return FALSE;
}

const char *
helix_message_status_to_string (HelixMessageStatus status)
{
  g_return_val_if_fail ((guint) status < G_N_ELEMENTS (status_names), NULL);

  return status_names[status];
}

gboolean
helix_message_status_from_string (const char         *str,
                                  HelixMessageStatus *status)
{
  g_return_val_if_fail (status != NULL, FALSE);

  for (guint i = 0; str != NULL && i < G_N_ELEMENTS (status_names); i++)
    {
      if (g_str_equal (str, status_names[i]))
        {
          *status = (HelixMessageStatus) i;
          return TRUE;
        }
    }

  return FALSE;
}
