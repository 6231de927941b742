/* helix-operator-window.h: what Helix did, what it cost, what is failing, and
 * whether the record is intact
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "helix-account.h"
#include "helix-audit.h"
#include "helix-budget.h"
#include "helix-ledger.h"
#include "helix-router.h"
#include "helix-sync-client.h"

#include "helix-checkpoint-keeper.h"

G_BEGIN_DECLS

/* Seconds between two refreshes of the figures that have no signal, while the
 * window is shown. */
#define HELIX_OPERATOR_REFRESH_S 4

#define HELIX_TYPE_OPERATOR_WINDOW (helix_operator_window_get_type ())

G_DECLARE_FINAL_TYPE (HelixOperatorWindow, helix_operator_window, HELIX, OPERATOR_WINDOW, AdwWindow)

GtkWidget   *helix_operator_window_new         (GtkApplication      *application,
                                                HelixRouter         *router,
                                                HelixLedger         *ledger,
                                                HelixBudget         *budget,
                                                HelixAudit          *audit);
HelixRouter *helix_operator_window_get_router  (HelixOperatorWindow *self);
HelixLedger *helix_operator_window_get_ledger  (HelixOperatorWindow *self);
HelixBudget *helix_operator_window_get_budget  (HelixOperatorWindow *self);
HelixAudit  *helix_operator_window_get_audit   (HelixOperatorWindow *self);
void         helix_operator_window_set_sync    (HelixOperatorWindow *self,
                                                HelixAccount        *account,
                                                HelixSyncClient     *client);
void         helix_operator_window_set_checkpoint_keeper (HelixOperatorWindow   *self,
                                                          HelixCheckpointKeeper *keeper);
void         helix_operator_window_refresh     (HelixOperatorWindow *self);

G_END_DECLS
