/* helix-alerts-page.h: Preferences → Alerts: the webhooks the audit trail goes to
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "helix-audit.h"
#include "helix-webhook-settings.h"

G_BEGIN_DECLS

#define HELIX_TYPE_ALERTS_PAGE (helix_alerts_page_get_type ())

G_DECLARE_FINAL_TYPE (HelixAlertsPage, helix_alerts_page, HELIX, ALERTS_PAGE, AdwPreferencesPage)

HelixAlertsPage *helix_alerts_page_new (HelixWebhookSettings *settings,
                                        HelixAudit           *audit);

G_END_DECLS
