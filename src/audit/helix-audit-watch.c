/* helix-audit-watch.c: what the AI router does, kept in the audit trail
 *
 * The desktop and the gateway both record a provider's breaker opening and
 * closing (assistant-state; an open breaker is also an alert) and a budget
 * reaching its alert share (alerts).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-audit"

#include "config.h"

#include "helix-audit.h"
#include "helix-audit-watch.h"
#include "helix-json.h"

static const char *
health_name (HelixRouterHealth health)
{
  switch (health)
    {
    case HELIX_ROUTER_HEALTH_CLOSED:    return "up";
    case HELIX_ROUTER_HEALTH_OPEN:      return "down";
    case HELIX_ROUTER_HEALTH_HALF_OPEN: return "probing";
    default:                            return "unknown";
    }
}

static void
on_health_changed (HelixRouter *router,
                   const char  *name,
                   int          health,
                   guint        failures,
                   HelixAudit  *audit)
{
  g_autoptr(GString) payload = g_string_new ("{\"provider\":");

  helix_json_append_string (payload, name);
  g_string_append (payload, ",\"state\":");
  helix_json_append_string (payload, health_name (health));
  g_string_append_printf (payload, ",\"failures\":%u}", failures);

  helix_audit_record (audit, HELIX_AUDIT_CHANNEL_ASSISTANT_STATE, "system", "provider.health",
                      payload->str);
  if (health == HELIX_ROUTER_HEALTH_OPEN)
    helix_audit_record (audit, HELIX_AUDIT_CHANNEL_ALERTS, "system", "provider.down", payload->str);
}

/* It may come from any thread that reserves: recording is thread-safe. */
static void
on_budget_alert (HelixBudget *budget,
                 int          scope,
                 const char  *user,
                 int          period,
                 double       used,
                 double       limit,
                 HelixAudit  *audit)
{
  g_autoptr(GString) payload = g_string_new ("{\"scope\":");
  char used_text[G_ASCII_DTOSTR_BUF_SIZE], limit_text[G_ASCII_DTOSTR_BUF_SIZE];

  helix_json_append_string (payload, scope == HELIX_BUDGET_SCOPE_USER ? "user" : "global");
  if (user != NULL)
    {
      g_string_append (payload, ",\"user\":");
      helix_json_append_string (payload, user);
    }
  g_string_append (payload, ",\"period\":");
  helix_json_append_string (payload, period == HELIX_BUDGET_PERIOD_DAY ? "day" : "month");
  g_string_append_printf (payload, ",\"used_usd\":%s,\"limit_usd\":%s}",
                          g_ascii_dtostr (used_text, sizeof used_text, used),
                          g_ascii_dtostr (limit_text, sizeof limit_text, limit));
  helix_audit_record (audit, HELIX_AUDIT_CHANNEL_ALERTS, "system", "budget.alert", payload->str);
}

/**
 * helix_audit_watch_router:
 * @audit: an audit trail
 * @router: (nullable): its breakers' changes are recorded
 * @budget: (nullable): its alerts are recorded
 *
 * Records until @audit is finalized.
 */
void
helix_audit_watch_router (HelixAudit  *audit,
                          HelixRouter *router,
                          HelixBudget *budget)
{
  g_return_if_fail (HELIX_IS_AUDIT (audit));

  if (router != NULL)
    g_signal_connect_object (router, "health-changed", G_CALLBACK (on_health_changed), audit, 0);
  if (budget != NULL)
    g_signal_connect_object (budget, "alert", G_CALLBACK (on_budget_alert), audit, 0);
}
