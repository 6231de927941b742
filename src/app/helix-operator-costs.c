/* helix-operator-costs.c: the operator view's costs, budget and recent calls
 *
 * Today and this month by provider and by model, a bar per day of the month,
 * the budget burn-down and the newest calls with why each model was chosen.
 * Days and months are local time, as the desktop's budget counts them (the
 * ledger groups local days for the chart). Every ledger query is answered on
 * the ledger's thread; each answer updates its own list, and the window
 * counts the answers still on their way (_helix_operator_window_hold()).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-chat-format.h"
#include "helix-operator-window-private.h"

/* A query's callback: the window, kept alive until it answers. */
typedef struct
{
  HelixOperatorWindow *self;
  HelixOperatorList    list;
  GDateTime           *since;
  GDateTime           *until;
} Query;

static Query *
query_new (HelixOperatorWindow *self,
           HelixOperatorList    list,
           GDateTime           *since,
           GDateTime           *until)
{
  Query *query = g_new0 (Query, 1);

  query->self = g_object_ref (self);
  query->list = list;
  query->since = since != NULL ? g_date_time_ref (since) : NULL;
  query->until = until != NULL ? g_date_time_ref (until) : NULL;
  _helix_operator_window_hold (self);

  return query;
}

static void
query_free (Query *query)
{
  /* After dispose the window has nothing left to update. */
  if (!g_cancellable_is_cancelled (query->self->cancellable))
    _helix_operator_window_release (query->self);
  g_clear_pointer (&query->since, g_date_time_unref);
  g_clear_pointer (&query->until, g_date_time_unref);
  g_object_unref (query->self);
  g_free (query);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Query, query_free)

static gboolean
query_failed (Query   *query,
              GError  *error,
              GtkLabel *label)
{
  if (error == NULL)
    return FALSE;

  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && label != NULL)
    gtk_label_set_text (label, error->message);

  return TRUE;
}

static gint64
to_us (GDateTime *time)
{
  return g_date_time_to_unix (time) * G_USEC_PER_SEC + g_date_time_get_microsecond (time);
}

/* Costs {{{1 */

static int
compare_totals_by_cost (gconstpointer a,
                        gconstpointer b)
{
  const HelixLedgerTotal *ta = *(HelixLedgerTotal * const *) a;
  const HelixLedgerTotal *tb = *(HelixLedgerTotal * const *) b;

  if (ta->cost_usd != tb->cost_usd)
    return ta->cost_usd < tb->cost_usd ? 1 : -1;
  if (ta->calls != tb->calls)
    return ta->calls < tb->calls ? 1 : -1;

  return g_strcmp0 (ta->key, tb->key);
}

static char *
describe_total (const HelixLedgerTotal *total)
{
  g_autoptr(GString) text = g_string_new (NULL);

  g_string_append_printf (text, g_dngettext (GETTEXT_PACKAGE, "%" G_GINT64_FORMAT " call",
                                             "%" G_GINT64_FORMAT " calls", total->calls),
                          total->calls);
  if (total->failures > 0)
    {
      g_string_append (text, " · ");
      g_string_append_printf (text, g_dngettext (GETTEXT_PACKAGE,
                                                 "%" G_GINT64_FORMAT " failed",
                                                 "%" G_GINT64_FORMAT " failed", total->failures),
                              total->failures);
    }
  g_string_append (text, " · ");
  /* Translators: tokens sent to a model and tokens it wrote. */
  g_string_append_printf (text, _("%" G_GINT64_FORMAT " in / %" G_GINT64_FORMAT " out tokens"),
                          total->input_tokens, total->output_tokens);

  return g_string_free (g_steal_pointer (&text), FALSE);
}

static const char *
total_title (HelixOperatorList  list,
             const char        *key)
{
  gboolean by_model = list == HELIX_OPERATOR_LIST_TODAY_MODEL ||
                      list == HELIX_OPERATOR_LIST_MONTH_MODEL;

  /* Calls that failed before any provider answered have no provider. */
  if (key == NULL || key[0] == '\0' || (by_model && g_str_equal (key, "/")))
    return _("No provider");

  return key;
}

static void
show_totals (HelixOperatorWindow *self,
             HelixOperatorList    list,
             GPtrArray           *totals)
{
  HelixOperatorRows *rows = &self->rows[list];
  double sum = 0;
  HelixLedgerTotal rest = { 0 };

  g_ptr_array_sort (totals, compare_totals_by_cost);
  _helix_operator_rows_begin (rows);

  for (guint i = 0; i < totals->len; i++)
    {
      HelixLedgerTotal *total = g_ptr_array_index (totals, i);
      g_autofree char *cost = NULL;
      g_autofree char *subtitle = NULL;
      AdwActionRow *row;

      sum += total->cost_usd;
      if (i >= HELIX_OPERATOR_MAX_COST_ROWS)
        {
          rest.calls += total->calls;
          rest.failures += total->failures;
          rest.input_tokens += total->input_tokens;
          rest.output_tokens += total->output_tokens;
          rest.cost_usd += total->cost_usd;
          continue;
        }

      row = _helix_operator_rows_take (rows, total->key, i);
      cost = helix_format_usd (total->cost_usd);
      subtitle = describe_total (total);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), total_title (list, total->key));
      adw_action_row_set_subtitle (row, subtitle);
      _helix_operator_row_set_value (row, cost, NULL);
    }

  if (rest.calls > 0)
    {
      /* A key no total has: it starts with a character the keys never do. */
      AdwActionRow *row = _helix_operator_rows_take (rows, "\x01rest",
                                                     HELIX_OPERATOR_MAX_COST_ROWS);
      g_autofree char *cost = helix_format_usd (rest.cost_usd);
      g_autofree char *subtitle = describe_total (&rest);
      g_autofree char *title = NULL;

      title = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u more", "%u more",
                                            totals->len - HELIX_OPERATOR_MAX_COST_ROWS),
                               totals->len - HELIX_OPERATOR_MAX_COST_ROWS);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
      adw_action_row_set_subtitle (row, subtitle);
      _helix_operator_row_set_value (row, cost, NULL);
    }

  _helix_operator_rows_end (rows, _("No calls"));

  if (list == HELIX_OPERATOR_LIST_TODAY_PROVIDER || list == HELIX_OPERATOR_LIST_MONTH_PROVIDER)
    {
      g_autofree char *text = helix_format_usd (sum);
      g_autofree char *description = NULL;
      GtkLabel *label = list == HELIX_OPERATOR_LIST_TODAY_PROVIDER ? self->today_total_label
                                                                   : self->month_total_label;

      gtk_label_set_text (label, text);
      /* Translators: %s is an amount, e.g. "$1.20". */
      description = g_strdup_printf (_("Total: %s"), text);
      gtk_accessible_update_property (GTK_ACCESSIBLE (label),
                                      GTK_ACCESSIBLE_PROPERTY_LABEL, description, -1);
    }
}

static void
on_totals (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(Query) query = user_data;
  HelixOperatorWindow *self = query->self;
  g_autoptr(GPtrArray) totals = NULL;
  g_autoptr(GError) error = NULL;

  totals = helix_ledger_query_totals_finish (HELIX_LEDGER (object), result, &error);
  if (query_failed (query, error, self->rows[query->list].placeholder))
    return;

  show_totals (self, query->list, totals);
}

static void
on_days (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(Query) query = user_data;
  HelixOperatorWindow *self = query->self;
  g_autoptr(GPtrArray) totals = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *prefix = NULL;
  double costs[HELIX_COST_CHART_MAX_DAYS] = { 0 };
  g_autoptr(GDateTime) now = NULL;
  guint n_days;

  totals = helix_ledger_query_totals_finish (HELIX_LEDGER (object), result, &error);
  if (error != NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        adw_preferences_group_set_description (self->chart_group, error->message);
      return;
    }

  /* Keys are "YYYY-MM-DD" in local time, the month's only. */
  prefix = g_date_time_format (query->since, "%Y-%m-");
  n_days = g_date_get_days_in_month (g_date_time_get_month (query->since),
                                     g_date_time_get_year (query->since));
  for (guint i = 0; i < totals->len; i++)
    {
      HelixLedgerTotal *total = g_ptr_array_index (totals, i);
      guint64 day = 0;

      if (g_str_has_prefix (total->key, prefix) &&
          g_ascii_string_to_unsigned (total->key + strlen (prefix), 10, 1, n_days, &day, NULL))
        costs[day - 1] += total->cost_usd;
    }

  now = g_date_time_new_now_local ();
  adw_preferences_group_set_description (self->chart_group, NULL);
  helix_cost_chart_set_days (self->chart, query->since, costs, n_days,
                             g_date_time_get_day_of_month (now) - 1);
}

static void
on_recent (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(Query) query = user_data;
  HelixOperatorWindow *self = query->self;
  HelixOperatorRows *rows = &self->rows[HELIX_OPERATOR_LIST_CALLS];
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(GError) error = NULL;
  gint64 last_time = G_MININT64;
  guint same = 0;

  entries = helix_ledger_list_recent_finish (HELIX_LEDGER (object), result, &error);
  if (query_failed (query, error, rows->placeholder))
    return;

  _helix_operator_rows_begin (rows);
  for (guint i = 0; i < entries->len; i++)
    {
      HelixLedgerEntry *e = g_ptr_array_index (entries, i);
      g_autoptr(GString) subtitle = g_string_new (NULL);
      g_autofree char *key = NULL;
      g_autofree char *title = NULL;
      g_autofree char *when = NULL;
      g_autofree char *cost = NULL;
      AdwActionRow *row;

      /* A call's key: its time, and its rank among calls of the same time. */
      same = e->time_us == last_time ? same + 1 : 0;
      last_time = e->time_us;
      key = g_strdup_printf ("%" G_GINT64_FORMAT ".%u", e->time_us, same);
      row = _helix_operator_rows_take (rows, key, i);

      if (e->provider != NULL)
        /* Translators: an operation ("chat"), then the provider and model. */
        title = g_strdup_printf (_("%s · %s/%s"), e->operation, e->provider,
                                 e->model != NULL ? e->model : "?");
      else
        title = g_strdup (e->operation);

      when = _helix_operator_format_time (e->time_us);
      g_string_append (subtitle, when);
      g_string_append (subtitle, " · ");
      /* Translators: how long a call took, in seconds. */
      g_string_append_printf (subtitle, _("%.1f s"), e->latency_us / (double) G_USEC_PER_SEC);
      if (e->attempts > 1)
        {
          g_string_append (subtitle, " · ");
          g_string_append_printf (subtitle, g_dngettext (GETTEXT_PACKAGE, "%u attempt",
                                                         "%u attempts", e->attempts),
                                  e->attempts);
        }
      if (e->reason != NULL)
        {
          g_string_append (subtitle, "\n");
          g_string_append (subtitle, e->reason);
        }
      if (e->error != NULL)
        {
          g_string_append (subtitle, "\n");
          g_string_append (subtitle, e->error);
        }

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
      adw_action_row_set_subtitle (row, subtitle->str);

      if (g_strcmp0 (e->outcome, "failed") == 0)
        _helix_operator_row_set_value (row, _("Failed"), "error");
      else
        {
          cost = helix_format_usd (e->cost_usd);
          _helix_operator_row_set_value (row, cost,
                                         g_strcmp0 (e->outcome, "partial") == 0 ? "warning" : NULL);
        }
    }
  _helix_operator_rows_end (rows, _("No calls yet"));
}

/**
 * _helix_operator_costs_refresh:
 * @self: an operator window
 *
 * Asks the ledger for today's and this month's totals, the days of the
 * month and the recent calls; each answer updates its list.
 */
void
_helix_operator_costs_refresh (HelixOperatorWindow *self)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autoptr(GDateTime) today = NULL;
  g_autoptr(GDateTime) tomorrow = NULL;
  g_autoptr(GDateTime) month = NULL;
  g_autoptr(GDateTime) next_month = NULL;
  static const struct {
    HelixOperatorList list;
    HelixLedgerGroup  group;
    gboolean          month;
  } queries[] = {
    { HELIX_OPERATOR_LIST_TODAY_PROVIDER, HELIX_LEDGER_GROUP_PROVIDER, FALSE },
    { HELIX_OPERATOR_LIST_TODAY_MODEL, HELIX_LEDGER_GROUP_MODEL, FALSE },
    { HELIX_OPERATOR_LIST_MONTH_PROVIDER, HELIX_LEDGER_GROUP_PROVIDER, TRUE },
    { HELIX_OPERATOR_LIST_MONTH_MODEL, HELIX_LEDGER_GROUP_MODEL, TRUE },
  };

  if (self->ledger == NULL)
    {
      const char *missing = _("No cost ledger in this view: costs are not known.");

      for (guint i = 0; i < G_N_ELEMENTS (queries); i++)
        {
          _helix_operator_rows_begin (&self->rows[queries[i].list]);
          _helix_operator_rows_end (&self->rows[queries[i].list], missing);
        }
      _helix_operator_rows_begin (&self->rows[HELIX_OPERATOR_LIST_CALLS]);
      _helix_operator_rows_end (&self->rows[HELIX_OPERATOR_LIST_CALLS], missing);
      gtk_label_set_text (self->today_total_label, "");
      gtk_label_set_text (self->month_total_label, "");
      adw_preferences_group_set_description (self->chart_group, missing);
      gtk_widget_set_visible (GTK_WIDGET (self->chart), FALSE);
      return;
    }

  /* Days and months in local time, as the budget counts them. */
  today = g_date_time_new_local (g_date_time_get_year (now), g_date_time_get_month (now),
                                 g_date_time_get_day_of_month (now), 0, 0, 0);
  tomorrow = g_date_time_add_days (today, 1);
  month = g_date_time_new_local (g_date_time_get_year (now), g_date_time_get_month (now), 1,
                                 0, 0, 0);
  next_month = g_date_time_add_months (month, 1);

  for (guint i = 0; i < G_N_ELEMENTS (queries); i++)
    {
      GDateTime *since = queries[i].month ? month : today;
      GDateTime *until = queries[i].month ? next_month : tomorrow;

      helix_ledger_query_totals_async (self->ledger, queries[i].group, NULL,
                                       to_us (since), to_us (until), self->cancellable,
                                       on_totals, query_new (self, queries[i].list, since, until));
    }

  helix_ledger_query_totals_async (self->ledger, HELIX_LEDGER_GROUP_LOCAL_DAY, NULL,
                                   to_us (month), to_us (next_month), self->cancellable,
                                   on_days, query_new (self, HELIX_OPERATOR_N_LISTS, month,
                                                       next_month));
  helix_ledger_list_recent_async (self->ledger, NULL, HELIX_OPERATOR_RECENT_CALLS,
                                  self->cancellable, on_recent,
                                  query_new (self, HELIX_OPERATOR_LIST_CALLS, NULL, NULL));
}

/* Budget {{{1 */

/* The level bar at the end of a budget row, made the first time. */
static GtkLevelBar *
get_level_bar (AdwActionRow *row)
{
  GtkLevelBar *level = g_object_get_data (G_OBJECT (row), "helix-operator-level");

  if (level == NULL)
    {
      level = GTK_LEVEL_BAR (gtk_level_bar_new_for_interval (0, 1));
      gtk_level_bar_set_mode (level, GTK_LEVEL_BAR_MODE_CONTINUOUS);
      /* It shows what is left, burning down: the warning colour once the
       * alert ratio is used, the accent colour before. */
      gtk_level_bar_remove_offset_value (level, GTK_LEVEL_BAR_OFFSET_FULL);
      gtk_level_bar_add_offset_value (level, GTK_LEVEL_BAR_OFFSET_LOW,
                                      1 - HELIX_BUDGET_DEFAULT_ALERT_RATIO);
      gtk_level_bar_add_offset_value (level, GTK_LEVEL_BAR_OFFSET_HIGH, 1.0);
      gtk_widget_set_valign (GTK_WIDGET (level), GTK_ALIGN_CENTER);
      gtk_widget_set_size_request (GTK_WIDGET (level), 120, -1);
      gtk_accessible_update_property (GTK_ACCESSIBLE (level),
                                      GTK_ACCESSIBLE_PROPERTY_LABEL, _("Share of the limit left"),
                                      -1);
      adw_action_row_add_suffix (row, GTK_WIDGET (level));
      g_object_set_data (G_OBJECT (row), "helix-operator-level", level);
    }

  return level;
}

static void
show_limit (HelixOperatorWindow *self,
            HelixBudgetPeriod    period,
            double               elapsed,    /* of the period, 0…1 */
            double               days_left)  /* in the period */
{
  HelixOperatorRows *rows = &self->rows[HELIX_OPERATOR_LIST_BUDGET];
  double limit = helix_budget_get_limit (self->budget, HELIX_BUDGET_SCOPE_GLOBAL, period);
  double spent = helix_budget_get_spent (self->budget, HELIX_BUDGET_SCOPE_GLOBAL, NULL, period);
  double reserved = helix_budget_get_reserved (self->budget, HELIX_BUDGET_SCOPE_GLOBAL, NULL,
                                               period);
  gboolean day = period == HELIX_BUDGET_PERIOD_DAY;
  g_autofree char *spent_text = helix_format_usd (spent);
  g_autofree char *value = NULL;
  g_autoptr(GString) subtitle = g_string_new (NULL);
  const char *style = NULL;
  GtkLevelBar *level;
  AdwActionRow *row;

  row = _helix_operator_rows_take (rows, day ? "day" : "month", day ? 0 : 1);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), day ? _("Today") : _("This Month"));
  level = get_level_bar (row);

  if (limit <= 0)
    {
      value = g_strdup (spent_text);
      g_string_append (subtitle, _("No limit"));
    }
  else
    {
      g_autofree char *limit_text = helix_format_usd (limit);
      g_autofree char *left_text = helix_format_usd (MAX (limit - spent - reserved, 0.0));
      double used = (spent + reserved) / limit;

      /* Translators: spent "of" a limit, e.g. "$1.20 of $5.00". */
      value = g_strdup_printf (_("%s of %s"), spent_text, limit_text);
      /* Translators: %s is an amount; the number a share of the limit. */
      g_string_append_printf (subtitle, _("%s left · %.0f%% used"), left_text, used * 100);
      style = used >= 1 ? "error" : used >= HELIX_BUDGET_DEFAULT_ALERT_RATIO ? "warning" : NULL;

      /* The burn-down: at the rate so far, when the limit is reached. */
      if (!day && spent > 0 && elapsed > 0 && elapsed < 1)
        {
          double projected = spent / elapsed;
          g_autofree char *projected_text = helix_format_usd (projected);

          g_string_append (subtitle, "\n");
          if (projected > limit)
            {
              /* The share of the month left until the limit, in days. */
              double days_to_limit = (limit - spent) / (spent / elapsed) *
                                     (days_left / (1 - elapsed));

              /* Translators: %s is an amount, %.0f a number of days. */
              g_string_append_printf (subtitle,
                                      _("At this rate: %s by the end of the month; the limit "
                                        "is reached in about %.0f days"),
                                      projected_text, MAX (days_to_limit, 0.0));
              style = style != NULL ? style : "warning";
            }
          else
            /* Translators: %s is an amount. */
            g_string_append_printf (subtitle, _("At this rate: %s by the end of the month"),
                                    projected_text);
        }
    }

  if (reserved > 0)
    {
      g_autofree char *reserved_text = helix_format_usd (reserved);

      g_string_append (subtitle, "\n");
      /* Translators: %s is an amount held for calls still running. */
      g_string_append_printf (subtitle, _("%s reserved for calls in progress"), reserved_text);
    }

  adw_action_row_set_subtitle (row, subtitle->str);
  _helix_operator_row_set_value (row, value, style);

  gtk_widget_set_visible (GTK_WIDGET (level), limit > 0);
  if (limit > 0)
    gtk_level_bar_set_value (level, CLAMP (1 - (spent + reserved) / limit, 0.0, 1.0));
}

/* What was spent against the limits, from the budget's memory. */
void
_helix_operator_costs_refresh_budget (HelixOperatorWindow *self)
{
  HelixOperatorRows *rows = &self->rows[HELIX_OPERATOR_LIST_BUDGET];
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autoptr(GDateTime) month = NULL;
  g_autoptr(GDateTime) next_month = NULL;
  double elapsed, days_left;

  _helix_operator_rows_begin (rows);

  if (self->budget == NULL)
    {
      _helix_operator_rows_end (rows, _("No budget in this view: limits are not known."));
      return;
    }

  month = g_date_time_new_local (g_date_time_get_year (now), g_date_time_get_month (now), 1,
                                 0, 0, 0);
  next_month = g_date_time_add_months (month, 1);
  elapsed = (double) g_date_time_difference (now, month) /
            g_date_time_difference (next_month, month);
  days_left = (double) g_date_time_difference (next_month, now) / G_TIME_SPAN_DAY;

  show_limit (self, HELIX_BUDGET_PERIOD_DAY, 0, 0);
  show_limit (self, HELIX_BUDGET_PERIOD_MONTH, elapsed, days_left);

  adw_preferences_group_set_description (self->budget_group,
                                         helix_budget_has_limits (self->budget)
                                           ? _("What was spent against the limits set in "
                                               "Preferences.")
                                           : _("No limits are set: set daily or monthly limits "
                                               "in Preferences → Providers."));
  _helix_operator_rows_end (rows, NULL);
}
