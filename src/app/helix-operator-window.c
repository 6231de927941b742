/* helix-operator-window.c: what Helix did, what it cost, what is failing, and
 * whether the record is intact
 *
 * The operator view of the local install, in four pages, and of the gateway
 * for its administrators in a fifth:
 *
 * - Health: each provider's breaker and last health check (from the router),
 *   the webhook sinks of the audit log and how delivery goes, and sync with
 *   the gateway and the account's devices (helix-operator-sync.c).
 * - Costs: today and this month by provider and by model, a bar per day of
 *   the month (HelixCostChart) and the budget burn-down
 *   (helix-operator-costs.c).
 * - Calls: the newest calls, with why the router chose each model.
 * - Audit Log: the entries, newest first, filtered by channel and text, and a
 *   Verify button that proves the chain (helix-operator-audit.c).
 * - Gateway, only for an administrator of the gateway signed in to: its
 *   maintenance mode, its feature flags, and its audit log verified against
 *   the checkpoint this device kept (helix-operator-gateway.c).
 *
 * Every collaborator is optional: a page whose source is missing says so.
 * Nothing here waits for the disk or the network: the ledger and the audit
 * log answer on their own threads, and the router, the budget and the sinks
 * keep their state in memory. The figures follow the router's
 * "call-finished" and "health-changed" signals and the audit log's
 * "entry-added" signal, and a timer of a few seconds for what has no signal
 * (health checks, budgets, delivery) runs only while the window is shown.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-operator-window-private.h"
#include "helix-resources.h"

/* Refreshes after a routed call are put off this long, so a burst of calls
 * costs one refresh. */
#define SOON_MS 300

/* Devices are asked of the gateway every this many ticks. */
#define DEVICES_EVERY_TICKS 15

G_DEFINE_FINAL_TYPE (HelixOperatorWindow, helix_operator_window, ADW_TYPE_WINDOW)

enum {
  PROP_0,
  PROP_ROUTER,
  PROP_LEDGER,
  PROP_BUDGET,
  PROP_AUDIT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* Keyed rows {{{1 */

#define ROW_VALUE      "helix-operator-value"
#define ROW_KEY        "helix-operator-key"
#define ROW_GENERATION "helix-operator-generation"
#define ROW_ORDER      "helix-operator-order"

static int
sort_rows (GtkListBoxRow *a,
           GtkListBoxRow *b,
           gpointer       user_data)
{
  int order_a = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (a), ROW_ORDER));
  int order_b = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (b), ROW_ORDER));

  return (order_a > order_b) - (order_a < order_b);
}

void
_helix_operator_rows_init (HelixOperatorRows *rows,
                           GtkListBox        *list)
{
  rows->list = list;
  rows->rows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  rows->placeholder = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_wrap (rows->placeholder, TRUE);
  gtk_widget_set_margin_top (GTK_WIDGET (rows->placeholder), 12);
  gtk_widget_set_margin_bottom (GTK_WIDGET (rows->placeholder), 12);
  gtk_widget_set_margin_start (GTK_WIDGET (rows->placeholder), 12);
  gtk_widget_set_margin_end (GTK_WIDGET (rows->placeholder), 12);
  gtk_widget_add_css_class (GTK_WIDGET (rows->placeholder), "dim-label");
  gtk_list_box_set_placeholder (list, GTK_WIDGET (rows->placeholder));
  gtk_list_box_set_sort_func (list, sort_rows, NULL, NULL);
}

void
_helix_operator_rows_clear (HelixOperatorRows *rows)
{
  g_clear_pointer (&rows->rows, g_hash_table_unref);
}

void
_helix_operator_rows_begin (HelixOperatorRows *rows)
{
  rows->generation++;
}

/**
 * _helix_operator_rows_take:
 * @rows: keyed rows
 * @key: the row's key
 * @order: its place: rows are sorted by it
 *
 * Returns: (transfer none): the row of @key, made if it is new, kept by the
 *   next _helix_operator_rows_end()
 */
AdwActionRow *
_helix_operator_rows_take (HelixOperatorRows *rows,
                           const char        *key,
                           int                order)
{
  AdwActionRow *row = g_hash_table_lookup (rows->rows, key);

  if (row == NULL)
    {
      GtkWidget *value = gtk_label_new (NULL);

      row = ADW_ACTION_ROW (adw_action_row_new ());
      /* Names and errors come from outside: never markup. */
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_action_row_set_subtitle_lines (row, 3);
      gtk_label_set_selectable (GTK_LABEL (value), TRUE);
      gtk_widget_set_valign (value, GTK_ALIGN_CENTER);
      gtk_widget_add_css_class (value, "numeric");
      adw_action_row_add_suffix (row, value);
      g_object_set_data (G_OBJECT (row), ROW_VALUE, value);
      g_object_set_data_full (G_OBJECT (row), ROW_KEY, g_strdup (key), g_free);
      g_hash_table_insert (rows->rows, g_strdup (key), row);
      gtk_list_box_append (rows->list, GTK_WIDGET (row));
    }

  g_object_set_data (G_OBJECT (row), ROW_GENERATION, GUINT_TO_POINTER (rows->generation));
  g_object_set_data (G_OBJECT (row), ROW_ORDER, GINT_TO_POINTER (order));

  return row;
}

/**
 * _helix_operator_rows_end:
 * @rows: keyed rows
 * @placeholder: (nullable): what the list says when it is empty
 *
 * Removes the rows not taken since _helix_operator_rows_begin(), and sorts
 * the others.
 */
void
_helix_operator_rows_end (HelixOperatorRows *rows,
                          const char        *placeholder)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, rows->rows);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      GtkWidget *row = value;

      if (GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (row), ROW_GENERATION)) != rows->generation)
        {
          g_hash_table_iter_remove (&iter);
          gtk_list_box_remove (rows->list, row);
        }
    }

  gtk_list_box_invalidate_sort (rows->list);
  gtk_label_set_text (rows->placeholder, placeholder != NULL ? placeholder : "");
}

void
_helix_operator_row_set_value (AdwActionRow *row,
                               const char   *value,
                               const char   *style)
{
  GtkWidget *label = g_object_get_data (G_OBJECT (row), ROW_VALUE);
  static const char * const styles[] = { "success", "warning", "error", "dim-label" };

  gtk_label_set_text (GTK_LABEL (label), value != NULL ? value : "");
  for (guint i = 0; i < G_N_ELEMENTS (styles); i++)
    {
      if (g_strcmp0 (styles[i], style) == 0)
        gtk_widget_add_css_class (label, styles[i]);
      else
        gtk_widget_remove_css_class (label, styles[i]);
    }
}

const char *
_helix_operator_row_get_value (AdwActionRow *row)
{
  return gtk_label_get_text (g_object_get_data (G_OBJECT (row), ROW_VALUE));
}

/* Pending queries {{{1 */

static void refresh (HelixOperatorWindow *self);

void
_helix_operator_window_hold (HelixOperatorWindow *self)
{
  self->n_pending++;
}

void
_helix_operator_window_release (HelixOperatorWindow *self)
{
  g_assert (self->n_pending > 0);

  if (--self->n_pending > 0)
    return;

  self->n_refreshes++;
  if (self->refresh_again)
    {
      self->refresh_again = FALSE;
      refresh (self);
    }
}

/* Health {{{1 */

/* A time for people: the time of day for today, else the date too. */
char *
_helix_operator_format_time (gint64 time_us)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC);
  g_autoptr(GDateTime) local = utc != NULL ? g_date_time_to_local (utc) : NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();

  if (local == NULL)
    return g_strdup ("?");

  if (g_date_time_get_year (local) == g_date_time_get_year (now) &&
      g_date_time_get_day_of_year (local) == g_date_time_get_day_of_year (now))
    return g_date_time_format (local, "%X");

  return g_date_time_format (local, "%x %X");
}

static void
refresh_health (HelixOperatorWindow *self)
{
  HelixOperatorRows *rows = &self->rows[HELIX_OPERATOR_LIST_PROVIDERS];
  g_autoptr(GPtrArray) status = NULL;

  _helix_operator_rows_begin (rows);

  if (self->router == NULL)
    {
      _helix_operator_rows_end (rows,
                                _("No AI router in this view: provider health is not known."));
      return;
    }

  /* The router's table, in memory: no waiting. */
  status = helix_router_get_status (self->router);
  for (guint i = 0; i < status->len; i++)
    {
      HelixRouterProviderStatus *s = g_ptr_array_index (status, i);
      AdwActionRow *row = _helix_operator_rows_take (rows, s->name, i);
      g_autoptr(GString) subtitle = g_string_new (NULL);
      const char *state = NULL;
      const char *style = NULL;

      switch (s->health)
        {
        case HELIX_ROUTER_HEALTH_CLOSED:
          state = s->failures > 0 ? _("Failing") : _("Healthy");
          style = s->failures > 0 ? "warning" : "success";
          break;
        case HELIX_ROUTER_HEALTH_OPEN:
          state = _("Breaker open");
          style = "error";
          break;
        case HELIX_ROUTER_HEALTH_HALF_OPEN:
        default:
          state = _("Probing");
          style = "warning";
          break;
        }

      if (s->n_checks == 0)
        g_string_append (subtitle, _("Not checked yet"));
      else
        {
          g_autofree char *when = _helix_operator_format_time (s->checked_at_us);

          if (s->check_error != NULL)
            /* Translators: a time, then why a provider's health check failed. */
            g_string_append_printf (subtitle, _("Check at %s failed: %s"), when, s->check_error);
          else
            /* Translators: a time, then how long the check took. */
            g_string_append_printf (subtitle, _("Checked at %s in %.0f ms"), when,
                                    s->check_latency_us / 1000.0);
        }

      if (s->failures > 0)
        {
          g_string_append (subtitle, " · ");
          g_string_append_printf (subtitle, g_dngettext (GETTEXT_PACKAGE, "%u failure in a row",
                                                         "%u failures in a row", s->failures),
                                  s->failures);
        }

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), s->name);
      adw_action_row_set_subtitle (row, subtitle->str);
      _helix_operator_row_set_value (row, state, style);
    }

  _helix_operator_rows_end (rows, _("No providers are set up. Add one in Preferences."));
}

/* Refreshing {{{1 */

static void
refresh (HelixOperatorWindow *self)
{
  if (g_cancellable_is_cancelled (self->cancellable))
    return;

  /* One refresh at a time; a request meanwhile makes one more after it. */
  if (self->n_pending > 0)
    {
      self->refresh_again = TRUE;
      return;
    }

  /* Held while the queries are queued, so a quick answer cannot end the
   * refresh before the others are asked. */
  _helix_operator_window_hold (self);

  refresh_health (self);
  _helix_operator_costs_refresh_budget (self);
  _helix_operator_costs_refresh (self);
  _helix_operator_audit_refresh_sinks (self);
  _helix_operator_sync_refresh (self, self->n_ticks % DEVICES_EVERY_TICKS == 0);

  _helix_operator_window_release (self);
}

static gboolean
on_tick (gpointer user_data)
{
  HelixOperatorWindow *self = user_data;

  self->n_ticks++;
  refresh (self);

  return G_SOURCE_CONTINUE;
}

static gboolean
on_soon (gpointer user_data)
{
  HelixOperatorWindow *self = user_data;

  self->soon_id = 0;
  refresh (self);

  return G_SOURCE_REMOVE;
}

static void
on_call_finished (HelixRouter         *router,
                  HelixRouterResult   *result,
                  HelixOperatorWindow *self)
{
  if (gtk_widget_get_mapped (GTK_WIDGET (self)) && self->soon_id == 0)
    self->soon_id = g_timeout_add (SOON_MS, on_soon, self);
}

/* A breaker opened, half-opened or closed. */
static void
on_health_changed (HelixRouter         *router,
                   const char          *name,
                   int                  health,
                   guint                failures,
                   HelixOperatorWindow *self)
{
  if (gtk_widget_get_mapped (GTK_WIDGET (self)) && self->soon_id == 0)
    self->soon_id = g_timeout_add (SOON_MS, on_soon, self);
}

/**
 * helix_operator_window_refresh:
 * @self: an operator window
 *
 * Asks again for every figure the window shows (and the first page of the
 * audit log); the answers come in the background.
 */
void
helix_operator_window_refresh (HelixOperatorWindow *self)
{
  g_return_if_fail (HELIX_IS_OPERATOR_WINDOW (self));

  self->n_ticks = 0;
  refresh (self);
}

static void
refresh_action (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  HelixOperatorWindow *self = HELIX_OPERATOR_WINDOW (widget);

  helix_operator_window_refresh (self);
  _helix_operator_audit_reload (self);
}

static void
verify_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  _helix_operator_audit_verify (HELIX_OPERATOR_WINDOW (widget));
}

static void
gateway_verify_action (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *parameter)
{
  _helix_operator_gateway_verify (HELIX_OPERATOR_WINDOW (widget));
}

static void
more_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  _helix_operator_audit_more (HELIX_OPERATOR_WINDOW (widget));
}

/* The timer runs while the window is shown. */
static void
helix_operator_window_map (GtkWidget *widget)
{
  HelixOperatorWindow *self = HELIX_OPERATOR_WINDOW (widget);

  GTK_WIDGET_CLASS (helix_operator_window_parent_class)->map (widget);

  helix_operator_window_refresh (self);
  if (self->timer_id == 0)
    self->timer_id = g_timeout_add_seconds (HELIX_OPERATOR_REFRESH_S, on_tick, self);
}

static void
helix_operator_window_unmap (GtkWidget *widget)
{
  HelixOperatorWindow *self = HELIX_OPERATOR_WINDOW (widget);

  g_clear_handle_id (&self->timer_id, g_source_remove);
  g_clear_handle_id (&self->soon_id, g_source_remove);

  GTK_WIDGET_CLASS (helix_operator_window_parent_class)->unmap (widget);
}

/* The object {{{1 */

static void
helix_operator_window_constructed (GObject *object)
{
  HelixOperatorWindow *self = HELIX_OPERATOR_WINDOW (object);

  G_OBJECT_CLASS (helix_operator_window_parent_class)->constructed (object);

  if (self->router != NULL)
    {
      g_signal_connect_object (self->router, "call-finished", G_CALLBACK (on_call_finished), self,
                               G_CONNECT_DEFAULT);
      g_signal_connect_object (self->router, "health-changed", G_CALLBACK (on_health_changed),
                               self, G_CONNECT_DEFAULT);
    }

  _helix_operator_audit_set_log (self);
}

static void
helix_operator_window_dispose (GObject *object)
{
  HelixOperatorWindow *self = HELIX_OPERATOR_WINDOW (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->timer_id, g_source_remove);
  g_clear_handle_id (&self->soon_id, g_source_remove);
  if (self->router != NULL)
    g_signal_handlers_disconnect_by_data (self->router, self);
  _helix_operator_audit_dispose (self);
  _helix_operator_gateway_dispose (self);
  _helix_operator_sync_dispose (self);
  _helix_operator_sync_finalize (self);

  gtk_widget_dispose_template (GTK_WIDGET (self), HELIX_TYPE_OPERATOR_WINDOW);

  for (guint i = 0; i < HELIX_OPERATOR_N_LISTS; i++)
    _helix_operator_rows_clear (&self->rows[i]);

  g_clear_object (&self->router);
  g_clear_object (&self->ledger);
  g_clear_object (&self->budget);
  g_clear_object (&self->audit);

  G_OBJECT_CLASS (helix_operator_window_parent_class)->dispose (object);
}

static void
helix_operator_window_finalize (GObject *object)
{
  HelixOperatorWindow *self = HELIX_OPERATOR_WINDOW (object);

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->known_checkpoint, g_free);

  G_OBJECT_CLASS (helix_operator_window_parent_class)->finalize (object);
}

static void
helix_operator_window_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  HelixOperatorWindow *self = HELIX_OPERATOR_WINDOW (object);

  switch (prop_id)
    {
    case PROP_ROUTER:
      g_value_set_object (value, self->router);
      break;
    case PROP_LEDGER:
      g_value_set_object (value, self->ledger);
      break;
    case PROP_BUDGET:
      g_value_set_object (value, self->budget);
      break;
    case PROP_AUDIT:
      g_value_set_object (value, self->audit);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_operator_window_set_property (GObject      *object,
                                    guint         prop_id,
                                    const GValue *value,
                                    GParamSpec   *pspec)
{
  HelixOperatorWindow *self = HELIX_OPERATOR_WINDOW (object);

  switch (prop_id)
    {
    case PROP_ROUTER:
      self->router = g_value_dup_object (value);
      break;
    case PROP_LEDGER:
      self->ledger = g_value_dup_object (value);
      break;
    case PROP_BUDGET:
      self->budget = g_value_dup_object (value);
      break;
    case PROP_AUDIT:
      self->audit = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_operator_window_class_init (HelixOperatorWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = helix_operator_window_constructed;
  object_class->dispose = helix_operator_window_dispose;
  object_class->finalize = helix_operator_window_finalize;
  object_class->get_property = helix_operator_window_get_property;
  object_class->set_property = helix_operator_window_set_property;
  widget_class->map = helix_operator_window_map;
  widget_class->unmap = helix_operator_window_unmap;

  /**
   * HelixOperatorWindow:router: (nullable)
   *
   * Where provider health comes from, and whose calls refresh the costs.
   */
  properties[PROP_ROUTER] =
    g_param_spec_object ("router", NULL, NULL, HELIX_TYPE_ROUTER,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * HelixOperatorWindow:ledger: (nullable)
   *
   * Where the costs and the recent calls come from.
   */
  properties[PROP_LEDGER] =
    g_param_spec_object ("ledger", NULL, NULL, HELIX_TYPE_LEDGER,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * HelixOperatorWindow:budget: (nullable)
   *
   * The limits, and what was spent against them.
   */
  properties[PROP_BUDGET] =
    g_param_spec_object ("budget", NULL, NULL, HELIX_TYPE_BUDGET,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * HelixOperatorWindow:audit: (nullable)
   *
   * The audit log, its verification and its webhook sinks.
   */
  properties[PROP_AUDIT] =
    g_param_spec_object ("audit", NULL, NULL, HELIX_TYPE_AUDIT,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* The resources live in a static library: referring to them keeps the
   * linker from dropping them, and with them the template. */
  (void) helix_get_resource ();

  g_type_ensure (HELIX_TYPE_COST_CHART);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/ai/helix/Helix/ui/helix-operator-window.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, HelixOperatorWindow, name)
  BIND (stack);
  BIND (providers_group);
  BIND (sinks_group);
  BIND (sync_group);
  BIND (devices_group);
  BIND (today_provider_group);
  BIND (today_model_group);
  BIND (month_provider_group);
  BIND (month_model_group);
  BIND (chart_group);
  BIND (budget_group);
  BIND (calls_group);
  BIND (verify_group);
  BIND (audit_group);
  BIND (today_total_label);
  BIND (month_total_label);
  BIND (chart);
  BIND (verify_row);
  BIND (verify_spinner);
  BIND (channel_dropdown);
  BIND (audit_search);
  BIND (audit_list);
  BIND (more_button);
  BIND (providers_list);
  BIND (sinks_list);
  BIND (sync_list);
  BIND (devices_list);
  BIND (today_provider_list);
  BIND (today_model_list);
  BIND (month_provider_list);
  BIND (month_model_list);
  BIND (budget_list);
  BIND (calls_list);
  BIND (gateway_page);
  BIND (gateway_group);
  BIND (maintenance_row);
  BIND (maintenance_switch);
  BIND (gateway_verify_row);
  BIND (gateway_verify_spinner);
  BIND (flags_group);
  BIND (flags_list);
#undef BIND
  gtk_widget_class_bind_template_callback_full (widget_class, "on_audit_filter_changed",
                                                G_CALLBACK (_helix_operator_audit_filter_changed));

  gtk_widget_class_install_action (widget_class, "operator.refresh", NULL, refresh_action);
  gtk_widget_class_install_action (widget_class, "operator.verify", NULL, verify_action);
  gtk_widget_class_install_action (widget_class, "operator.more", NULL, more_action);
  gtk_widget_class_install_action (widget_class, "operator.gateway-verify", NULL,
                                   gateway_verify_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F5, 0, "operator.refresh", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_r, GDK_CONTROL_MASK,
                                       "operator.refresh", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_w, GDK_CONTROL_MASK,
                                       "window.close", NULL);
}

static void
helix_operator_window_init (HelixOperatorWindow *self)
{
  GtkListBox *lists[HELIX_OPERATOR_N_LISTS];

  gtk_widget_init_template (GTK_WIDGET (self));

  self->cancellable = g_cancellable_new ();

  lists[HELIX_OPERATOR_LIST_PROVIDERS] = self->providers_list;
  lists[HELIX_OPERATOR_LIST_SINKS] = self->sinks_list;
  lists[HELIX_OPERATOR_LIST_SYNC] = self->sync_list;
  lists[HELIX_OPERATOR_LIST_DEVICES] = self->devices_list;
  lists[HELIX_OPERATOR_LIST_TODAY_PROVIDER] = self->today_provider_list;
  lists[HELIX_OPERATOR_LIST_TODAY_MODEL] = self->today_model_list;
  lists[HELIX_OPERATOR_LIST_MONTH_PROVIDER] = self->month_provider_list;
  lists[HELIX_OPERATOR_LIST_MONTH_MODEL] = self->month_model_list;
  lists[HELIX_OPERATOR_LIST_BUDGET] = self->budget_list;
  lists[HELIX_OPERATOR_LIST_CALLS] = self->calls_list;
  for (guint i = 0; i < HELIX_OPERATOR_N_LISTS; i++)
    _helix_operator_rows_init (&self->rows[i], lists[i]);

  _helix_operator_audit_init (self);
  _helix_operator_gateway_init (self);
}

/**
 * helix_operator_window_new:
 * @application: (nullable): the application
 * @router: (nullable): the AI router: provider health
 * @ledger: (nullable): the cost ledger: costs and recent calls
 * @budget: (nullable): the budget: limits and what was spent
 * @audit: (nullable): the audit log: entries, verification, webhook delivery
 *
 * Makes the operator view. What is %NULL is missing from it, and the page
 * says so.
 *
 * Returns: (transfer floating): the window
 */
GtkWidget *
helix_operator_window_new (GtkApplication *application,
                           HelixRouter    *router,
                           HelixLedger    *ledger,
                           HelixBudget    *budget,
                           HelixAudit     *audit)
{
  g_return_val_if_fail (application == NULL || GTK_IS_APPLICATION (application), NULL);
  g_return_val_if_fail (router == NULL || HELIX_IS_ROUTER (router), NULL);
  g_return_val_if_fail (ledger == NULL || HELIX_IS_LEDGER (ledger), NULL);
  g_return_val_if_fail (budget == NULL || HELIX_IS_BUDGET (budget), NULL);
  g_return_val_if_fail (audit == NULL || HELIX_IS_AUDIT (audit), NULL);

  return g_object_new (HELIX_TYPE_OPERATOR_WINDOW,
                       "application", application,
                       "router", router,
                       "ledger", ledger,
                       "budget", budget,
                       "audit", audit,
                       NULL);
}

HelixRouter *
helix_operator_window_get_router (HelixOperatorWindow *self)
{
  g_return_val_if_fail (HELIX_IS_OPERATOR_WINDOW (self), NULL);

  return self->router;
}

HelixLedger *
helix_operator_window_get_ledger (HelixOperatorWindow *self)
{
  g_return_val_if_fail (HELIX_IS_OPERATOR_WINDOW (self), NULL);

  return self->ledger;
}

HelixBudget *
helix_operator_window_get_budget (HelixOperatorWindow *self)
{
  g_return_val_if_fail (HELIX_IS_OPERATOR_WINDOW (self), NULL);

  return self->budget;
}

HelixAudit *
helix_operator_window_get_audit (HelixOperatorWindow *self)
{
  g_return_val_if_fail (HELIX_IS_OPERATOR_WINDOW (self), NULL);

  return self->audit;
}

/* Test accessors {{{1 */

gboolean
_helix_operator_window_is_idle (HelixOperatorWindow *self)
{
  return self->n_pending == 0 && !self->refresh_again && !self->audit_loading &&
         !self->verifying && !self->devices_loading && !self->gateway_loading &&
         !self->gateway_verifying && self->n_gateway_changes == 0;
}

guint
_helix_operator_window_get_n_refreshes (HelixOperatorWindow *self)
{
  return self->n_refreshes;
}

static AdwActionRow *
lookup_row (HelixOperatorWindow *self,
            HelixOperatorList    list,
            const char          *key)
{
  g_return_val_if_fail (list < HELIX_OPERATOR_N_LISTS, NULL);

  return g_hash_table_lookup (self->rows[list].rows, key);
}

/* What the row of @key shows at its end, or %NULL without such a row. */
const char *
_helix_operator_window_get_value (HelixOperatorWindow *self,
                                  HelixOperatorList    list,
                                  const char          *key)
{
  AdwActionRow *row = lookup_row (self, list, key);

  return row != NULL ? _helix_operator_row_get_value (row) : NULL;
}

const char *
_helix_operator_window_get_subtitle (HelixOperatorWindow *self,
                                     HelixOperatorList    list,
                                     const char          *key)
{
  AdwActionRow *row = lookup_row (self, list, key);

  return row != NULL ? adw_action_row_get_subtitle (row) : NULL;
}

guint
_helix_operator_window_get_n_rows (HelixOperatorWindow *self,
                                   HelixOperatorList    list)
{
  g_return_val_if_fail (list < HELIX_OPERATOR_N_LISTS, 0);

  return g_hash_table_size (self->rows[list].rows);
}
