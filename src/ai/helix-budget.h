/* helix-budget.h: spending limits, reserved before a call and settled after
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define HELIX_BUDGET_ERROR (helix_budget_error_quark ())

/**
 * HelixBudgetError:
 * @HELIX_BUDGET_ERROR_EXCEEDED: the call would go past a limit
 */
typedef enum
{
  HELIX_BUDGET_ERROR_EXCEEDED,
} HelixBudgetError;

/**
 * HelixBudgetScope:
 * @HELIX_BUDGET_SCOPE_GLOBAL: everything the install spends
 * @HELIX_BUDGET_SCOPE_USER: what each user spends
 */
typedef enum
{
  HELIX_BUDGET_SCOPE_GLOBAL,
  HELIX_BUDGET_SCOPE_USER,
} HelixBudgetScope;

/**
 * HelixBudgetPeriod:
 * @HELIX_BUDGET_PERIOD_DAY: a calendar day
 * @HELIX_BUDGET_PERIOD_MONTH: a calendar month
 */
typedef enum
{
  HELIX_BUDGET_PERIOD_DAY,
  HELIX_BUDGET_PERIOD_MONTH,
} HelixBudgetPeriod;

/**
 * HelixBudgetOverPolicy:
 * @HELIX_BUDGET_OVER_REFUSE: a call that does not fit is refused
 * @HELIX_BUDGET_OVER_DOWNGRADE: a cheaper model that fits is used instead,
 *   if there is one; otherwise the call is refused
 */
typedef enum
{
  HELIX_BUDGET_OVER_REFUSE,
  HELIX_BUDGET_OVER_DOWNGRADE,
} HelixBudgetOverPolicy;

/* The share of a limit at which the budget raises an alert. */
#define HELIX_BUDGET_DEFAULT_ALERT_RATIO 0.8

/* The local user of the desktop, when a call names none. */
#define HELIX_BUDGET_LOCAL_USER "local"

/**
 * HelixBudgetClockFunc:
 * @user_data: the data given with the function
 *
 * Returns: the time now, in microseconds since the Unix epoch
 */
typedef gint64 (*HelixBudgetClockFunc) (gpointer user_data);

typedef struct _HelixBudgetReservation HelixBudgetReservation;

#define HELIX_TYPE_BUDGET (helix_budget_get_type ())

G_DECLARE_FINAL_TYPE (HelixBudget, helix_budget, HELIX, BUDGET, GObject)

GQuark                  helix_budget_error_quark     (void);

HelixBudget            *helix_budget_new             (void);
void                    helix_budget_set_clock       (HelixBudget            *self,
                                                      HelixBudgetClockFunc    func,
                                                      gpointer                user_data);
void                    helix_budget_set_timezone    (HelixBudget            *self,
                                                      GTimeZone              *tz);
void                    helix_budget_set_limit       (HelixBudget            *self,
                                                      HelixBudgetScope        scope,
                                                      HelixBudgetPeriod       period,
                                                      double                  usd);
double                  helix_budget_get_limit       (HelixBudget            *self,
                                                      HelixBudgetScope        scope,
                                                      HelixBudgetPeriod       period);
void                    helix_budget_set_over_policy (HelixBudget            *self,
                                                      HelixBudgetOverPolicy   policy);
HelixBudgetOverPolicy   helix_budget_get_over_policy (HelixBudget            *self);
void                    helix_budget_set_alert_ratio (HelixBudget            *self,
                                                      double                  ratio);
gboolean                helix_budget_has_limits      (HelixBudget            *self);

void                    helix_budget_add_spent       (HelixBudget            *self,
                                                      const char             *user,
                                                      gint64                  when_us,
                                                      double                  usd);
double                  helix_budget_get_spent       (HelixBudget            *self,
                                                      HelixBudgetScope        scope,
                                                      const char             *user,
                                                      HelixBudgetPeriod       period);
double                  helix_budget_get_reserved    (HelixBudget            *self,
                                                      HelixBudgetScope        scope,
                                                      const char             *user,
                                                      HelixBudgetPeriod       period);
double                  helix_budget_get_headroom    (HelixBudget            *self,
                                                      const char             *user);

HelixBudgetReservation *helix_budget_reserve         (HelixBudget            *self,
                                                      const char             *user,
                                                      double                  estimate_usd,
                                                      GError                **error);
gboolean                helix_budget_adjust          (HelixBudget            *self,
                                                      HelixBudgetReservation *reservation,
                                                      double                  estimate_usd,
                                                      GError                **error);
void                    helix_budget_settle          (HelixBudget            *self,
                                                      HelixBudgetReservation *reservation,
                                                      double                  actual_usd);

G_END_DECLS
