/* helix-cost-chart.c: what each day of a month cost, as bars
 *
 * A bar per day of the month, scaled to the dearest day, with the day numbers
 * under every seventh bar and the top of the scale at the left. Today's bar is
 * drawn in the accent colour; days still to come are left empty. Drawn with
 * GtkSnapshot colour and text nodes (no cairo surface to upload), so it is
 * cheap to redraw on every refresh.
 *
 * Screen readers get the figures: the accessible label says the month's total,
 * the dearest day and every day that cost something. Hovering a bar tells its
 * day and cost in a tooltip.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-chat-format.h"
#include "helix-cost-chart.h"

#define MIN_HEIGHT   140
#define MIN_WIDTH    240
#define AXIS_GAP     6
#define BAR_SHARE    0.7

struct _HelixCostChart
{
  GtkWidget  parent_instance;

  GDateTime *first_day;
  double     costs[HELIX_COST_CHART_MAX_DAYS];
  guint      n_days;
  guint      today;
  char      *description;
};

G_DEFINE_FINAL_TYPE (HelixCostChart, helix_cost_chart, GTK_TYPE_WIDGET)

static double
max_cost (HelixCostChart *self)
{
  double max = 0;

  for (guint i = 0; i < self->n_days; i++)
    max = MAX (max, self->costs[i]);

  return max;
}

/* The geometry the snapshot and the tooltips share. */
typedef struct
{
  float left;    /* x of the first slot */
  float slot;    /* width of a day */
  float top;
  float bottom;  /* the baseline */
} Plot;

static void
get_plot (HelixCostChart *self,
          PangoLayout    *scale,
          PangoLayout    *days,
          Plot           *plot)
{
  int width = gtk_widget_get_width (GTK_WIDGET (self));
  int height = gtk_widget_get_height (GTK_WIDGET (self));
  int scale_w = 0, scale_h = 0, days_h = 0;

  pango_layout_get_pixel_size (scale, &scale_w, &scale_h);
  pango_layout_get_pixel_size (days, NULL, &days_h);

  plot->left = scale_w + AXIS_GAP;
  plot->slot = self->n_days > 0 ? MAX (0.0f, (width - plot->left) / (float) self->n_days) : 0;
  plot->top = scale_h / 2.0f;
  plot->bottom = MAX (plot->top + 1, height - days_h - AXIS_GAP);
}

static PangoLayout *
new_scale_layout (HelixCostChart *self)
{
  g_autofree char *text = helix_format_usd (max_cost (self));

  return gtk_widget_create_pango_layout (GTK_WIDGET (self), text);
}

static void
get_color (HelixCostChart *self,
           GdkRGBA        *color)
{
  gtk_style_context_get_color (gtk_widget_get_style_context (GTK_WIDGET (self)), color);
}

static void
helix_cost_chart_snapshot (GtkWidget   *widget,
                           GtkSnapshot *snapshot)
{
  HelixCostChart *self = HELIX_COST_CHART (widget);
  g_autoptr(PangoLayout) scale = new_scale_layout (self);
  g_autoptr(PangoLayout) day_layout = gtk_widget_create_pango_layout (widget, "31");
  GdkRGBA fg, past, grid, accent;
  double max = max_cost (self);
  Plot plot;

  if (self->n_days == 0)
    return;

  get_plot (self, scale, day_layout, &plot);
  get_color (self, &fg);
  past = grid = fg;
  past.alpha *= 0.55f;
  grid.alpha *= 0.15f;
  /* libadwaita's default accent (blue 3), for today's bar. */
  gdk_rgba_parse (&accent, "#3584e4");

  /* The scale: its top value, a line there and the baseline. */
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (0, 0));
  gtk_snapshot_append_layout (snapshot, scale, &fg);
  gtk_snapshot_restore (snapshot);
  gtk_snapshot_append_color (snapshot, &grid,
                             &GRAPHENE_RECT_INIT (plot.left, plot.top,
                                                  plot.slot * self->n_days, 1));
  gtk_snapshot_append_color (snapshot, &past,
                             &GRAPHENE_RECT_INIT (plot.left, plot.bottom,
                                                  plot.slot * self->n_days, 1));

  for (guint i = 0; i < self->n_days; i++)
    {
      float x = plot.left + i * plot.slot;
      float bar_w = MAX (1.0f, plot.slot * BAR_SHARE);

      if (i <= self->today && max > 0 && self->costs[i] > 0)
        {
          float h = (float) (self->costs[i] / max) * (plot.bottom - plot.top);

          h = MAX (h, 1.0f);
          gtk_snapshot_append_color (snapshot, i == self->today ? &accent : &past,
                                     &GRAPHENE_RECT_INIT (x + (plot.slot - bar_w) / 2,
                                                          plot.bottom - h, bar_w, h));
        }

      /* Day numbers under the 1st, 8th, 15th, 22nd and 29th. */
      if (i % 7 == 0)
        {
          guint day = g_date_time_get_day_of_month (self->first_day) + i;
          g_autofree char *number = g_strdup_printf ("%u", day);
          int text_w = 0;

          pango_layout_set_text (day_layout, number, -1);
          pango_layout_get_pixel_size (day_layout, &text_w, NULL);
          gtk_snapshot_save (snapshot);
          gtk_snapshot_translate (snapshot,
                                  &GRAPHENE_POINT_INIT (x + (plot.slot - text_w) / 2,
                                                        plot.bottom + AXIS_GAP));
          gtk_snapshot_append_layout (snapshot, day_layout, i == self->today ? &fg : &past);
          gtk_snapshot_restore (snapshot);
        }
    }
}

static void
helix_cost_chart_measure (GtkWidget      *widget,
                          GtkOrientation  orientation,
                          int             for_size,
                          int            *minimum,
                          int            *natural,
                          int            *minimum_baseline,
                          int            *natural_baseline)
{
  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    *minimum = *natural = MIN_WIDTH;
  else
    *minimum = *natural = MIN_HEIGHT;
}

static char *
format_day (GDateTime *day)
{
  /* Translators: a day in the cost chart, as strftime would write it. */
  return g_date_time_format (day, _("%b %-d"));
}

static gboolean
on_query_tooltip (GtkWidget  *widget,
                  int         x,
                  int         y,
                  gboolean    keyboard,
                  GtkTooltip *tooltip,
                  gpointer    user_data)
{
  HelixCostChart *self = HELIX_COST_CHART (widget);
  g_autoptr(PangoLayout) scale = NULL;
  g_autoptr(PangoLayout) days = NULL;
  g_autoptr(GDateTime) day = NULL;
  g_autofree char *date = NULL;
  g_autofree char *cost = NULL;
  g_autofree char *text = NULL;
  Plot plot;
  int i;

  if (self->n_days == 0 || keyboard)
    return FALSE;

  scale = new_scale_layout (self);
  days = gtk_widget_create_pango_layout (widget, "31");
  get_plot (self, scale, days, &plot);
  if (plot.slot <= 0 || x < plot.left)
    return FALSE;

  i = (int) ((x - plot.left) / plot.slot);
  if (i < 0 || i >= (int) self->n_days || (guint) i > self->today)
    return FALSE;

  day = g_date_time_add_days (self->first_day, i);
  date = format_day (day);
  cost = helix_format_usd (self->costs[i]);
  /* Translators: a day and what it cost, e.g. "Nov 3: $0.42". */
  text = g_strdup_printf (_("%s: %s"), date, cost);
  gtk_tooltip_set_text (tooltip, text);

  return TRUE;
}

static void
update_description (HelixCostChart *self)
{
  g_autoptr(GString) text = g_string_new (NULL);
  g_autofree char *month = NULL;
  g_autofree char *total = NULL;
  double sum = 0;
  double max = 0;
  guint max_day = 0;
  guint n_costly = 0;

  for (guint i = 0; i < self->n_days && i <= self->today; i++)
    {
      sum += self->costs[i];
      if (self->costs[i] > max)
        {
          max = self->costs[i];
          max_day = i;
        }
      if (self->costs[i] > 0)
        n_costly++;
    }

  month = self->first_day != NULL ? g_date_time_format (self->first_day, "%B %Y") : g_strdup ("");
  total = helix_format_usd (sum);
  /* Translators: the first %s is a month and year, the second an amount. */
  g_string_printf (text, _("Daily cost, %s: %s in total"), month, total);

  if (n_costly > 0)
    {
      g_autoptr(GDateTime) dearest = g_date_time_add_days (self->first_day, max_day);
      g_autofree char *dearest_day = format_day (dearest);
      g_autofree char *dearest_cost = helix_format_usd (max);

      /* Translators: the highest daily cost: an amount, then a day. */
      g_string_append_printf (text, _("; highest %s on %s"), dearest_cost, dearest_day);
      g_string_append (text, ". ");

      for (guint i = 0, n = 0; i < self->n_days && i <= self->today; i++)
        {
          g_autoptr(GDateTime) day = NULL;
          g_autofree char *date = NULL;
          g_autofree char *cost = NULL;

          if (self->costs[i] <= 0)
            continue;

          day = g_date_time_add_days (self->first_day, i);
          date = format_day (day);
          cost = helix_format_usd (self->costs[i]);
          g_string_append_printf (text, "%s%s %s", n++ > 0 ? ", " : "", date, cost);
        }
    }
  g_string_append (text, ".");

  g_free (self->description);
  self->description = g_string_free (g_steal_pointer (&text), FALSE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, self->description,
                                  -1);
}

static void
helix_cost_chart_finalize (GObject *object)
{
  HelixCostChart *self = HELIX_COST_CHART (object);

  g_clear_pointer (&self->first_day, g_date_time_unref);
  g_clear_pointer (&self->description, g_free);

  G_OBJECT_CLASS (helix_cost_chart_parent_class)->finalize (object);
}

static void
helix_cost_chart_class_init (HelixCostChartClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->finalize = helix_cost_chart_finalize;
  widget_class->snapshot = helix_cost_chart_snapshot;
  widget_class->measure = helix_cost_chart_measure;

  gtk_widget_class_set_css_name (widget_class, "costchart");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
helix_cost_chart_init (HelixCostChart *self)
{
  gtk_widget_set_has_tooltip (GTK_WIDGET (self), TRUE);
  g_signal_connect (self, "query-tooltip", G_CALLBACK (on_query_tooltip), NULL);
}

/**
 * helix_cost_chart_new:
 *
 * Returns: (transfer floating): an empty chart
 */
GtkWidget *
helix_cost_chart_new (void)
{
  return g_object_new (HELIX_TYPE_COST_CHART, NULL);
}

/**
 * helix_cost_chart_set_days:
 * @self: a chart
 * @first_day: the day of the first bar
 * @costs_usd: (array length=n_days): what each day cost
 * @n_days: how many days, at most %HELIX_COST_CHART_MAX_DAYS
 * @today: the index of today; later days are not drawn
 *
 * Shows @n_days days from @first_day, and says them to screen readers.
 */
void
helix_cost_chart_set_days (HelixCostChart *self,
                           GDateTime      *first_day,
                           const double   *costs_usd,
                           guint           n_days,
                           guint           today)
{
  g_return_if_fail (HELIX_IS_COST_CHART (self));
  g_return_if_fail (first_day != NULL);
  g_return_if_fail (n_days <= HELIX_COST_CHART_MAX_DAYS);
  g_return_if_fail (costs_usd != NULL || n_days == 0);

  g_clear_pointer (&self->first_day, g_date_time_unref);
  self->first_day = g_date_time_ref (first_day);
  self->n_days = n_days;
  self->today = today;
  for (guint i = 0; i < HELIX_COST_CHART_MAX_DAYS; i++)
    self->costs[i] = i < n_days ? MAX (costs_usd[i], 0.0) : 0.0;

  update_description (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

guint
helix_cost_chart_get_n_days (HelixCostChart *self)
{
  g_return_val_if_fail (HELIX_IS_COST_CHART (self), 0);

  return self->n_days;
}

double
helix_cost_chart_get_cost (HelixCostChart *self,
                           guint           day)
{
  g_return_val_if_fail (HELIX_IS_COST_CHART (self), 0);
  g_return_val_if_fail (day < self->n_days, 0);

  return self->costs[day];
}

/**
 * helix_cost_chart_get_description:
 * @self: a chart
 *
 * Returns: (nullable): what the chart shows, in words: its accessible label
 */
const char *
helix_cost_chart_get_description (HelixCostChart *self)
{
  g_return_val_if_fail (HELIX_IS_COST_CHART (self), NULL);

  return self->description;
}
