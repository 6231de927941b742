/* helix-audit-gate.c: privileged changes, written to the audit trail before they are made
 *
 * Shared by the provider and webhook settings: the change is recorded (channel
 * assistant-state, actor the user) and made only once the entry is committed;
 * if it cannot be, the change is refused with the reason (fail closed).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-audit-gate"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-audit-gate.h"

typedef struct
{
  HelixAuditGateFunc  then;
  GQuark              domain;
  int                 code;
  char               *refusal;
} Gate;

static void
gate_free (Gate *gate)
{
  g_free (gate->refusal);
  g_free (gate);
}

static void
recorded_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Gate *gate = g_object_get_data (G_OBJECT (task), "helix-audit-gate");
  g_autoptr(GError) error = NULL;

  if (helix_audit_record_finish (HELIX_AUDIT (object), result, &error) == 0)
    {
      /* Translators: the first %s says what was not done, like “Helix did
       * not change the providers”; the second is the reason. */
      g_task_return_new_error (task, gate->domain, gate->code,
                               _("%s: the change could not be written to the audit log first. "
                                 "(%s)"),
                               gate->refusal, error->message);
      return;
    }

  gate->then (task);
}

/**
 * helix_audit_gate:
 * @audit: (nullable): the audit trail
 * @unavailable: (nullable): with no @audit, why it could not be opened: then
 *   the change is refused; with neither, the change is made unrecorded
 *   (no trail was asked for, as in some tests)
 * @task: the change's task; its result is returned here on a refusal
 * @event: the entry's event, like "provider.added"
 * @payload: the entry's payload, a JSON object without secrets
 * @domain: the error domain of a refusal
 * @code: the error code of a refusal
 * @refusal: what was not done, for people (“Helix did not change the providers”)
 * @then: makes the change, once it is recorded
 *
 * Writes the change to the audit trail, then makes it (fail closed).
 */
void
helix_audit_gate (HelixAudit         *audit,
                  const char         *unavailable,
                  GTask              *task,
                  const char         *event,
                  const char         *payload,
                  GQuark              domain,
                  int                 code,
                  const char         *refusal,
                  HelixAuditGateFunc  then)
{
  Gate *gate;

  g_return_if_fail (audit == NULL || HELIX_IS_AUDIT (audit));
  g_return_if_fail (G_IS_TASK (task));
  g_return_if_fail (event != NULL && refusal != NULL && then != NULL);

  if (audit == NULL && unavailable != NULL)
    {
      /* Translators: the first %s says what was not done, like “Helix did
       * not change the providers”; the second is the reason. */
      g_task_return_new_error (task, domain, code,
                               _("%s: the audit log is not available. (%s)"),
                               refusal, unavailable);
      return;
    }

  if (audit == NULL)
    {
      then (task);
      return;
    }

  gate = g_new0 (Gate, 1);
  gate->then = then;
  gate->domain = domain;
  gate->code = code;
  gate->refusal = g_strdup (refusal);
  g_object_set_data_full (G_OBJECT (task), "helix-audit-gate", gate, (GDestroyNotify) gate_free);
  helix_audit_record_async (audit, HELIX_AUDIT_CHANNEL_ASSISTANT_STATE, g_get_user_name (),
                            event, payload, g_task_get_cancellable (task), recorded_cb,
                            g_object_ref (task));
}
