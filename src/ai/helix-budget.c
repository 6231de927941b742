/* helix-budget.c: spending limits, reserved before a call and settled after
 *
 * Limits are in USD, for the whole install (global) and for each user, per
 * calendar day and per calendar month (in the budget's time zone, UTC by
 * default). A call reserves its estimated cost before it is sent: the
 * reservation fails if spent + reserved + estimate would pass any limit, so
 * concurrent calls cannot overshoot together. When the call ends its real
 * cost (from the provider's usage figures) replaces the reservation.
 *
 * When spent + reserved first reaches the alert ratio (80%) of a limit in a
 * period, #HelixBudget::alert is emitted once.
 *
 * A budget may be used from several threads.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-ai"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-budget.h"

#define N_SCOPES  2
#define N_PERIODS 2

typedef struct
{
  double spent;
  double reserved;
  guint  n_reservations;  /* when none is left, reserved is exactly 0 */
} Usage;

/* The usage entries a reservation is held in. */
typedef struct
{
  char *key[N_SCOPES][N_PERIODS];
} Keys;

struct _HelixBudgetReservation
{
  Keys    keys;
  char   *user;
  double  amount;
};

struct _HelixBudget
{
  GObject               parent_instance;

  GMutex                mutex;
  HelixBudgetClockFunc  clock;
  gpointer              clock_data;
  GTimeZone            *tz;
  double                limits[N_SCOPES][N_PERIODS];
  HelixBudgetOverPolicy over_policy;
  double                alert_ratio;
  GHashTable           *usage;    /* key → Usage */
  GHashTable           *alerted;  /* keys alerted in their period */
};

G_DEFINE_FINAL_TYPE (HelixBudget, helix_budget, G_TYPE_OBJECT)
G_DEFINE_QUARK (helix-budget-error-quark, helix_budget_error)

enum {
  ALERT,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static gint64
default_clock (gpointer user_data)
{
  return g_get_real_time ();
}

static void
helix_budget_finalize (GObject *object)
{
  HelixBudget *self = HELIX_BUDGET (object);

  g_clear_pointer (&self->usage, g_hash_table_unref);
  g_clear_pointer (&self->alerted, g_hash_table_unref);
  g_clear_pointer (&self->tz, g_time_zone_unref);
  g_mutex_clear (&self->mutex);

  G_OBJECT_CLASS (helix_budget_parent_class)->finalize (object);
}

static void
helix_budget_class_init (HelixBudgetClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = helix_budget_finalize;

  /**
   * HelixBudget::alert:
   * @self: the budget
   * @scope: the #HelixBudgetScope of the limit
   * @user: (nullable): the user, for a user limit
   * @period: the #HelixBudgetPeriod of the limit
   * @used: spent and reserved in the period, USD
   * @limit: the limit, USD
   *
   * Emitted once per limit and period when spent and reserved reach the
   * alert ratio of the limit. It may be emitted in any thread that reserves.
   */
  signals[ALERT] =
    g_signal_new ("alert",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 5,
                  G_TYPE_INT, G_TYPE_STRING, G_TYPE_INT, G_TYPE_DOUBLE, G_TYPE_DOUBLE);
}

static void
helix_budget_init (HelixBudget *self)
{
  g_mutex_init (&self->mutex);
  self->clock = default_clock;
  self->tz = g_time_zone_new_utc ();
  self->alert_ratio = HELIX_BUDGET_DEFAULT_ALERT_RATIO;
  self->usage = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->alerted = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

/**
 * helix_budget_new:
 *
 * Returns: (transfer full): a budget without limits
 */
HelixBudget *
helix_budget_new (void)
{
  return g_object_new (HELIX_TYPE_BUDGET, NULL);
}

/* For tests: a wall clock to use instead of g_get_real_time(). */
void
helix_budget_set_clock (HelixBudget          *self,
                        HelixBudgetClockFunc  func,
                        gpointer              user_data)
{
  g_return_if_fail (HELIX_IS_BUDGET (self));

  g_mutex_lock (&self->mutex);
  self->clock = func != NULL ? func : default_clock;
  self->clock_data = func != NULL ? user_data : NULL;
  g_mutex_unlock (&self->mutex);
}

/**
 * helix_budget_set_timezone:
 * @self: a budget
 * @tz: where days and months begin (the desktop uses local time)
 */
void
helix_budget_set_timezone (HelixBudget *self,
                           GTimeZone   *tz)
{
  g_return_if_fail (HELIX_IS_BUDGET (self));
  g_return_if_fail (tz != NULL);

  g_mutex_lock (&self->mutex);
  g_time_zone_unref (self->tz);
  self->tz = g_time_zone_ref (tz);
  g_mutex_unlock (&self->mutex);
}

/**
 * helix_budget_set_limit:
 * @self: a budget
 * @scope: global or per user
 * @period: per day or per month
 * @usd: the limit; 0 or less for none
 */
void
helix_budget_set_limit (HelixBudget       *self,
                        HelixBudgetScope   scope,
                        HelixBudgetPeriod  period,
                        double             usd)
{
  g_return_if_fail (HELIX_IS_BUDGET (self));
  g_return_if_fail (scope < N_SCOPES && period < N_PERIODS);

  g_mutex_lock (&self->mutex);
  self->limits[scope][period] = usd > 0 ? usd : 0;
  g_mutex_unlock (&self->mutex);
}

double
helix_budget_get_limit (HelixBudget       *self,
                        HelixBudgetScope   scope,
                        HelixBudgetPeriod  period)
{
  double usd;

  g_return_val_if_fail (HELIX_IS_BUDGET (self), 0);
  g_return_val_if_fail (scope < N_SCOPES && period < N_PERIODS, 0);

  g_mutex_lock (&self->mutex);
  usd = self->limits[scope][period];
  g_mutex_unlock (&self->mutex);

  return usd;
}

/* What the router does with a call that does not fit. */
void
helix_budget_set_over_policy (HelixBudget           *self,
                              HelixBudgetOverPolicy  policy)
{
  g_return_if_fail (HELIX_IS_BUDGET (self));

  self->over_policy = policy;
}

HelixBudgetOverPolicy
helix_budget_get_over_policy (HelixBudget *self)
{
  g_return_val_if_fail (HELIX_IS_BUDGET (self), HELIX_BUDGET_OVER_REFUSE);

  return self->over_policy;
}

/* The share of a limit (0 < ratio ≤ 1) at which #HelixBudget::alert is emitted. */
void
helix_budget_set_alert_ratio (HelixBudget *self,
                              double       ratio)
{
  g_return_if_fail (HELIX_IS_BUDGET (self));
  g_return_if_fail (ratio > 0 && ratio <= 1);

  g_mutex_lock (&self->mutex);
  self->alert_ratio = ratio;
  g_mutex_unlock (&self->mutex);
}

/* Whether any limit is set. */
gboolean
helix_budget_has_limits (HelixBudget *self)
{
  gboolean any = FALSE;

  g_return_val_if_fail (HELIX_IS_BUDGET (self), FALSE);

  g_mutex_lock (&self->mutex);
  for (guint s = 0; s < N_SCOPES; s++)
    for (guint p = 0; p < N_PERIODS; p++)
      any |= self->limits[s][p] > 0;
  g_mutex_unlock (&self->mutex);

  return any;
}

/* Usage entries: "g|d|2026-11-22", "u|m|2026-11|alice". The user name comes
 * last, so it may hold any character without two keys colliding. */
static char *
usage_key (HelixBudget       *self,
           HelixBudgetScope   scope,
           const char        *user,
           HelixBudgetPeriod  period,
           gint64             when_us)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (when_us / G_USEC_PER_SEC);
  g_autoptr(GDateTime) local = g_date_time_to_timezone (utc, self->tz);
  g_autofree char *date = g_date_time_format (local, period == HELIX_BUDGET_PERIOD_DAY ? "%Y-%m-%d"
                                                                                      : "%Y-%m");

  if (scope == HELIX_BUDGET_SCOPE_GLOBAL)
    return g_strconcat ("g|", period == HELIX_BUDGET_PERIOD_DAY ? "d|" : "m|", date, NULL);

  return g_strconcat ("u|", period == HELIX_BUDGET_PERIOD_DAY ? "d|" : "m|", date, "|",
                      user != NULL ? user : HELIX_BUDGET_LOCAL_USER, NULL);
}

static Usage *
usage_lookup (HelixBudget *self,
              const char  *key,
              gboolean     create)
{
  Usage *usage = g_hash_table_lookup (self->usage, key);

  if (usage == NULL && create)
    {
      usage = g_new0 (Usage, 1);
      g_hash_table_insert (self->usage, g_strdup (key), usage);
    }

  return usage;
}

/* Drops the entries of past periods: they can no longer be charged. */
static void
prune (HelixBudget *self,
       gint64       now_us)
{
  g_autofree char *day = usage_key (self, HELIX_BUDGET_SCOPE_GLOBAL, NULL,
                                    HELIX_BUDGET_PERIOD_DAY, now_us);
  g_autofree char *month = usage_key (self, HELIX_BUDGET_SCOPE_GLOBAL, NULL,
                                      HELIX_BUDGET_PERIOD_MONTH, now_us);
  const char *day_date = day + strlen ("g|d|");
  const char *month_date = month + strlen ("g|m|");
  GHashTableIter iter;
  const char *key;
  Usage *usage;

  g_hash_table_iter_init (&iter, self->usage);
  while (g_hash_table_iter_next (&iter, (gpointer *) &key, (gpointer *) &usage))
    {
      const char *date = strchr (key + 2, '|') + 1;
      gboolean is_day = key[2] == 'd';

      /* Keep what reservations still hold. */
      if (usage->n_reservations > 0)
        continue;
      if (strncmp (date, is_day ? day_date : month_date, is_day ? 10 : 7) < 0)
        {
          g_hash_table_remove (self->alerted, key);
          g_hash_table_iter_remove (&iter);
        }
    }
}

/**
 * helix_budget_add_spent:
 * @self: a budget
 * @user: (nullable): who spent it; %NULL for the local user
 * @when_us: when, µs since the Unix epoch
 * @usd: how much
 *
 * Counts money already spent: at startup, from the ledger.
 */
void
helix_budget_add_spent (HelixBudget *self,
                        const char  *user,
                        gint64       when_us,
                        double       usd)
{
  g_return_if_fail (HELIX_IS_BUDGET (self));

  if (usd <= 0)
    return;

  g_mutex_lock (&self->mutex);
  for (guint s = 0; s < N_SCOPES; s++)
    for (guint p = 0; p < N_PERIODS; p++)
      {
        g_autofree char *key = usage_key (self, s, user, p, when_us);

        usage_lookup (self, key, TRUE)->spent += usd;
      }
  g_mutex_unlock (&self->mutex);
}

static double
get_usage (HelixBudget       *self,
           HelixBudgetScope   scope,
           const char        *user,
           HelixBudgetPeriod  period,
           gboolean           reserved)
{
  g_autofree char *key = NULL;
  Usage *usage;
  double value;

  g_mutex_lock (&self->mutex);
  key = usage_key (self, scope, user, period, self->clock (self->clock_data));
  usage = usage_lookup (self, key, FALSE);
  value = usage == NULL ? 0 : reserved ? usage->reserved : usage->spent;
  g_mutex_unlock (&self->mutex);

  return value;
}

/* Settled spending in the current period. */
double
helix_budget_get_spent (HelixBudget       *self,
                        HelixBudgetScope   scope,
                        const char        *user,
                        HelixBudgetPeriod  period)
{
  g_return_val_if_fail (HELIX_IS_BUDGET (self), 0);

  return get_usage (self, scope, user, period, FALSE);
}

/* Reserved by calls under way in the current period. */
double
helix_budget_get_reserved (HelixBudget       *self,
                           HelixBudgetScope   scope,
                           const char        *user,
                           HelixBudgetPeriod  period)
{
  g_return_val_if_fail (HELIX_IS_BUDGET (self), 0);

  return get_usage (self, scope, user, period, TRUE);
}

static const char *
limit_name (HelixBudgetScope  scope,
            HelixBudgetPeriod period)
{
  if (scope == HELIX_BUDGET_SCOPE_GLOBAL)
    return period == HELIX_BUDGET_PERIOD_DAY ? _("the daily budget of this installation")
                                             : _("the monthly budget of this installation");

  return period == HELIX_BUDGET_PERIOD_DAY ? _("your daily budget") : _("your monthly budget");
}

/* Locked. Whether @amount more fits in every limit; sets @error if not. */
static gboolean
fits (HelixBudget  *self,
      const Keys   *keys,
      double        amount,
      GError      **error)
{
  for (guint s = 0; s < N_SCOPES; s++)
    for (guint p = 0; p < N_PERIODS; p++)
      {
        Usage *usage;
        double used;

        if (self->limits[s][p] <= 0)
          continue;

        usage = usage_lookup (self, keys->key[s][p], FALSE);
        used = usage != NULL ? usage->spent + usage->reserved : 0;
        /* A hair of slack for rounding in the sums. */
        if (used + amount > self->limits[s][p] + 1e-9)
          {
            g_set_error (error, HELIX_BUDGET_ERROR, HELIX_BUDGET_ERROR_EXCEEDED,
                         _("This request could cost up to $%.4f, which would go past %s of $%.2f ($%.4f used). Try again later or raise the limit."),
                         amount, limit_name (s, p), self->limits[s][p], used);
            return FALSE;
          }
      }

  return TRUE;
}

typedef struct
{
  HelixBudgetScope  scope;
  HelixBudgetPeriod period;
  double            used;
  double            limit;
} Alert;

/* Locked. Adds @amount to the reservations and collects the alerts due. */
static void
hold (HelixBudget  *self,
      const Keys   *keys,
      double        amount,
      int           n_delta,
      GArray       *alerts)
{
  for (guint s = 0; s < N_SCOPES; s++)
    for (guint p = 0; p < N_PERIODS; p++)
      {
        Usage *usage = usage_lookup (self, keys->key[s][p], TRUE);
        double limit = self->limits[s][p];

        usage->n_reservations += n_delta;
        usage->reserved = usage->n_reservations > 0 ? MAX (usage->reserved + amount, 0) : 0;

        if (limit > 0 && usage->spent + usage->reserved >= limit * self->alert_ratio &&
            g_hash_table_add (self->alerted, g_strdup (keys->key[s][p])))
          {
            Alert alert = { s, p, usage->spent + usage->reserved, limit };

            g_array_append_val (alerts, alert);
          }
      }
}

static void
emit_alerts (HelixBudget *self,
             const char  *user,
             GArray      *alerts)
{
  for (guint i = 0; i < alerts->len; i++)
    {
      Alert *alert = &g_array_index (alerts, Alert, i);

      g_message ("Budget alert: %s %s limit: $%.6g of $%.6g used",
                 alert->scope == HELIX_BUDGET_SCOPE_GLOBAL ? "global" : user,
                 alert->period == HELIX_BUDGET_PERIOD_DAY ? "daily" : "monthly",
                 alert->used, alert->limit);
      g_signal_emit (self, signals[ALERT], 0, (int) alert->scope,
                     alert->scope == HELIX_BUDGET_SCOPE_USER ? user : NULL,
                     (int) alert->period, alert->used, alert->limit);
    }
}

static void
reservation_free (HelixBudgetReservation *reservation)
{
  for (guint s = 0; s < N_SCOPES; s++)
    for (guint p = 0; p < N_PERIODS; p++)
      g_free (reservation->keys.key[s][p]);
  g_free (reservation->user);
  g_free (reservation);
}

/**
 * helix_budget_reserve:
 * @self: a budget
 * @user: (nullable): who asks; %NULL for the local user
 * @estimate_usd: the most the call is expected to cost
 * @error: return location for a #GError (%HELIX_BUDGET_ERROR_EXCEEDED)
 *
 * Returns: (transfer full) (nullable): the reservation, to give to
 *   helix_budget_settle() when the call ends
 */
HelixBudgetReservation *
helix_budget_reserve (HelixBudget  *self,
                      const char   *user,
                      double        estimate_usd,
                      GError      **error)
{
  g_autoptr(GArray) alerts = g_array_new (FALSE, FALSE, sizeof (Alert));
  HelixBudgetReservation *reservation;
  gint64 now;

  g_return_val_if_fail (HELIX_IS_BUDGET (self), NULL);

  estimate_usd = MAX (estimate_usd, 0);
  reservation = g_new0 (HelixBudgetReservation, 1);
  reservation->user = g_strdup (user);

  g_mutex_lock (&self->mutex);
  now = self->clock (self->clock_data);
  prune (self, now);
  for (guint s = 0; s < N_SCOPES; s++)
    for (guint p = 0; p < N_PERIODS; p++)
      reservation->keys.key[s][p] = usage_key (self, s, user, p, now);

  if (!fits (self, &reservation->keys, estimate_usd, error))
    {
      g_mutex_unlock (&self->mutex);
      reservation_free (reservation);
      return NULL;
    }

  reservation->amount = estimate_usd;
  hold (self, &reservation->keys, estimate_usd, 1, alerts);
  g_mutex_unlock (&self->mutex);

  emit_alerts (self, user, alerts);

  return reservation;
}

/**
 * helix_budget_adjust:
 * @self: a budget
 * @reservation: a reservation of @self
 * @estimate_usd: the new estimate (another model after a failover)
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the new estimate fits; if not the reservation is unchanged
 */
gboolean
helix_budget_adjust (HelixBudget             *self,
                     HelixBudgetReservation  *reservation,
                     double                   estimate_usd,
                     GError                 **error)
{
  g_autoptr(GArray) alerts = g_array_new (FALSE, FALSE, sizeof (Alert));
  double delta;

  g_return_val_if_fail (HELIX_IS_BUDGET (self), FALSE);
  g_return_val_if_fail (reservation != NULL, FALSE);

  estimate_usd = MAX (estimate_usd, 0);
  delta = estimate_usd - reservation->amount;

  g_mutex_lock (&self->mutex);
  if (delta > 0 && !fits (self, &reservation->keys, delta, error))
    {
      g_mutex_unlock (&self->mutex);
      return FALSE;
    }
  hold (self, &reservation->keys, delta, 0, alerts);
  reservation->amount = estimate_usd;
  g_mutex_unlock (&self->mutex);

  emit_alerts (self, reservation->user, alerts);

  return TRUE;
}

/**
 * helix_budget_settle:
 * @self: a budget
 * @reservation: (transfer full): a reservation of @self
 * @actual_usd: what the call really cost (0 if it failed before any usage)
 *
 * Replaces the reservation with the real cost, in the periods the call was
 * reserved in.
 */
void
helix_budget_settle (HelixBudget            *self,
                     HelixBudgetReservation *reservation,
                     double                  actual_usd)
{
  g_autoptr(GArray) alerts = g_array_new (FALSE, FALSE, sizeof (Alert));

  g_return_if_fail (HELIX_IS_BUDGET (self));
  g_return_if_fail (reservation != NULL);

  g_mutex_lock (&self->mutex);
  for (guint s = 0; s < N_SCOPES; s++)
    for (guint p = 0; p < N_PERIODS; p++)
      usage_lookup (self, reservation->keys.key[s][p], TRUE)->spent += MAX (actual_usd, 0);
  /* Going over the estimate can cross the alert line too. */
  hold (self, &reservation->keys, -reservation->amount, -1, alerts);
  g_mutex_unlock (&self->mutex);

  emit_alerts (self, reservation->user, alerts);

  reservation_free (reservation);
}

/**
 * helix_budget_get_headroom:
 * @self: a budget
 * @user: (nullable): who asks
 *
 * Returns: what @user may still reserve now, USD; %G_MAXDOUBLE without limits
 */
double
helix_budget_get_headroom (HelixBudget *self,
                           const char  *user)
{
  double headroom = G_MAXDOUBLE;
  gint64 now;

  g_return_val_if_fail (HELIX_IS_BUDGET (self), 0);

  g_mutex_lock (&self->mutex);
  now = self->clock (self->clock_data);
  for (guint s = 0; s < N_SCOPES; s++)
    for (guint p = 0; p < N_PERIODS; p++)
      {
        g_autofree char *key = NULL;
        Usage *usage;

        if (self->limits[s][p] <= 0)
          continue;
        key = usage_key (self, s, user, p, now);
        usage = usage_lookup (self, key, FALSE);
        headroom = MIN (headroom, self->limits[s][p] -
                                  (usage != NULL ? usage->spent + usage->reserved : 0));
      }
  g_mutex_unlock (&self->mutex);

  return MAX (headroom, 0);
}
