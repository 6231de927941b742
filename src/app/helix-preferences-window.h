/* helix-preferences-window.h: the preferences window (Account, Providers, Alerts)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "helix-account.h"
#include "helix-alerts-page.h"
#include "helix-provider-settings.h"
#include "helix-providers-page.h"

G_BEGIN_DECLS

#define HELIX_TYPE_PREFERENCES_WINDOW (helix_preferences_window_get_type ())

G_DECLARE_FINAL_TYPE (HelixPreferencesWindow, helix_preferences_window, HELIX, PREFERENCES_WINDOW,
                      AdwPreferencesWindow)

HelixPreferencesWindow *helix_preferences_window_new         (GtkWindow              *transient_for,
                                                              HelixAccount           *account,
                                                              GSettings              *settings);
HelixAccount           *helix_preferences_window_get_account (HelixPreferencesWindow *self);
void                    helix_preferences_window_set_provider_settings (HelixPreferencesWindow *self,
                                                                        HelixProviderSettings  *providers);
HelixProvidersPage     *helix_preferences_window_get_providers_page    (HelixPreferencesWindow *self);
void                    helix_preferences_window_set_webhook_settings  (HelixPreferencesWindow *self,
                                                                        HelixWebhookSettings   *webhooks,
                                                                        HelixAudit             *audit);
HelixAlertsPage        *helix_preferences_window_get_alerts_page       (HelixPreferencesWindow *self);

G_END_DECLS
