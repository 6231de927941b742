/* helix-audit-gate.h: privileged changes, written to the audit trail before they are made
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-audit.h"

G_BEGIN_DECLS

/**
 * HelixAuditGateFunc:
 * @task: the task of the change, written to the audit trail
 *
 * Makes the change and returns @task's result.
 */
typedef void (*HelixAuditGateFunc) (GTask *task);

void helix_audit_gate (HelixAudit         *audit,
                       const char         *unavailable,
                       GTask              *task,
                       const char         *event,
                       const char         *payload,
                       GQuark              domain,
                       int                 code,
                       const char         *refusal,
                       HelixAuditGateFunc  then);

G_END_DECLS
