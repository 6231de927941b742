/* helix-gateway-metrics.h: Prometheus metrics of the gateway
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void        helix_gateway_metrics_init            (void);
const char *helix_gateway_metrics_route_for_path  (const char *path);
void        helix_gateway_metrics_observe_request (const char *route,
                                                   const char *method,
                                                   guint       status,
                                                   gint64      duration_us);
void        helix_gateway_metrics_observe_query   (const char *query,
                                                   gint64      duration_us);
void        helix_gateway_metrics_websocket_opened (void);
void        helix_gateway_metrics_websocket_closed (void);
void        helix_gateway_metrics_add_ops_accepted (guint       n_ops);
void        helix_gateway_metrics_add_ops_fanned_out (guint     n_ops);
void        helix_gateway_metrics_observe_ai_call  (const char *provider,
                                                    const char *model,
                                                    const char *operation,
                                                    const char *outcome,
                                                    gint64      input_tokens,
                                                    gint64      output_tokens,
                                                    double      cost_usd,
                                                    gint64      duration_us,
                                                    gint64      first_token_us);
void        helix_gateway_metrics_set_ai_breaker_state (const char *provider,
                                                    guint       state);
char       *helix_gateway_metrics_render           (void);

G_END_DECLS
