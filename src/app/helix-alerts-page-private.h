/* helix-alerts-page-private.h: what the tests look at in the Alerts page
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-alerts-page.h"

G_BEGIN_DECLS

#define HELIX_ALERTS_PAGE_N_CHANNELS 7

struct _HelixAlertsPage
{
  AdwPreferencesPage    parent_instance;

  HelixWebhookSettings *settings;
  HelixAudit           *audit;        /* (nullable) */
  guint                 refresh_id;

  /* The editor: a message dialog, open or not */
  AdwMessageDialog     *editor;       /* weak */
  char                 *editing_id;   /* (nullable): the webhook edited, or a new one */
  AdwEntryRow          *name_row;
  AdwComboRow          *format_row;
  AdwEntryRow          *url_row;
  AdwEntryRow          *backup_row;
  GtkCheckButton       *channel_checks[HELIX_ALERTS_PAGE_N_CHANNELS];
  GtkLabel             *editor_error;

  /* Template widgets */
  AdwPreferencesGroup  *keyring_group;
  GtkLabel             *keyring_label;
  AdwPreferencesGroup  *error_group;
  GtkLabel             *error_label;
  GtkListBox           *webhook_list;
};

void _helix_alerts_page_refresh (HelixAlertsPage *self);

G_END_DECLS
