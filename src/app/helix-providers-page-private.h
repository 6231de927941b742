/* helix-providers-page-private.h: what the tests look at in the providers page
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-provider-editor.h"
#include "helix-providers-page.h"

G_BEGIN_DECLS

struct _HelixProvidersPage
{
  AdwPreferencesPage     parent_instance;

  HelixProviderSettings *settings;
  GtkWindow             *editor;       /* weak */
  guint                  refresh_id;

  /* Template widgets */
  AdwPreferencesGroup   *keyring_group;
  GtkLabel              *keyring_label;
  GtkListBox            *provider_list;
  GtkSpinButton         *daily_spin;
  GtkSpinButton         *monthly_spin;
  AdwComboRow           *over_cap_row;
  AdwActionRow          *spent_row;
};

void _helix_providers_page_refresh (HelixProvidersPage *self);

G_END_DECLS
