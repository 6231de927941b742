/* helix-application.h: the desktop application
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "helix-account.h"
#include "helix-audit.h"
#include "helix-checkpoint-keeper.h"
#include "helix-ledger.h"
#include "helix-provider-settings.h"
#include "helix-router.h"
#include "helix-webhook-settings.h"

G_BEGIN_DECLS

#define HELIX_TYPE_APPLICATION (helix_application_get_type ())

G_DECLARE_FINAL_TYPE (HelixApplication, helix_application, HELIX, APPLICATION, AdwApplication)

HelixApplication *helix_application_new         (const char       *application_id);
HelixAccount     *helix_application_get_account (HelixApplication *self);
HelixRouter      *helix_application_get_router  (HelixApplication *self);
HelixProviderSettings *helix_application_get_provider_settings (HelixApplication *self);
HelixLedger      *helix_application_get_ledger  (HelixApplication *self);
HelixAudit       *helix_application_get_audit   (HelixApplication *self);
HelixCheckpointKeeper *helix_application_get_checkpoint_keeper (HelixApplication *self);
HelixWebhookSettings *helix_application_get_webhook_settings (HelixApplication *self);

G_END_DECLS
