/* helix-providers-page.h: Preferences → Providers
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "helix-provider-settings.h"

G_BEGIN_DECLS

#define HELIX_TYPE_PROVIDERS_PAGE (helix_providers_page_get_type ())

G_DECLARE_FINAL_TYPE (HelixProvidersPage, helix_providers_page, HELIX, PROVIDERS_PAGE,
                      AdwPreferencesPage)

HelixProvidersPage *helix_providers_page_new (HelixProviderSettings *settings);

G_END_DECLS
