/* helix-audit-watch.h: what the AI router does, kept in the audit trail
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-audit.h"
#include "helix-budget.h"
#include "helix-router.h"

G_BEGIN_DECLS

void helix_audit_watch_router (HelixAudit  *audit,
                               HelixRouter *router,
                               HelixBudget *budget);

G_END_DECLS
