/* helix-cost-chart.h: what each day of a month cost, as bars
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Days a chart shows, at most (a month). */
#define HELIX_COST_CHART_MAX_DAYS 31

#define HELIX_TYPE_COST_CHART (helix_cost_chart_get_type ())

G_DECLARE_FINAL_TYPE (HelixCostChart, helix_cost_chart, HELIX, COST_CHART, GtkWidget)

GtkWidget  *helix_cost_chart_new             (void);
void        helix_cost_chart_set_days        (HelixCostChart *self,
                                              GDateTime      *first_day,
                                              const double   *costs_usd,
                                              guint           n_days,
                                              guint           today);
guint       helix_cost_chart_get_n_days      (HelixCostChart *self);
double      helix_cost_chart_get_cost        (HelixCostChart *self,
                                              guint           day);
const char *helix_cost_chart_get_description (HelixCostChart *self);

G_END_DECLS
