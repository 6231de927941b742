/* helix-gateway-keepalive.h: HTTP keep-alive on the gateway's plain HTTP connections
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <libsoup/soup.h>

#include "helix-gateway.h"

G_BEGIN_DECLS

/* How long a kept-alive connection may wait for its next request, in
 * seconds, before the gateway closes it. Longer than the idle timeout of
 * libsoup's clients (60 s), so that a client, not the gateway, usually
 * closes first: no request is then sent on a connection being closed. */
#define HELIX_GATEWAY_KEEPALIVE_IDLE_TIMEOUT_S 75

/* Kept-alive connections waiting for a request at most; beyond, the one
 * idle for the longest is closed. Well below the usual limit of 1,024
 * descriptors of a process. */
#define HELIX_GATEWAY_KEEPALIVE_MAX_IDLE 256

typedef struct _HelixGatewayKeepalive HelixGatewayKeepalive;

HelixGatewayKeepalive *_helix_gateway_keepalive_new              (SoupServer             *server,
                                                                  guint                   idle_timeout_ms,
                                                                  GError                **error);
void                   _helix_gateway_keepalive_free             (HelixGatewayKeepalive  *self);
void                   _helix_gateway_keepalive_request_started  (HelixGatewayKeepalive  *self,
                                                                  SoupServerMessage      *msg);
void                   _helix_gateway_keepalive_request_finished (HelixGatewayKeepalive  *self,
                                                                  SoupServerMessage      *msg);
void                   _helix_gateway_keepalive_close_idle       (HelixGatewayKeepalive  *self);
guint                  _helix_gateway_keepalive_get_n_idle       (HelixGatewayKeepalive  *self);

/* Tests: a shorter idle timeout, set before helix_gateway_start(). */
void                   _helix_gateway_set_keepalive_timeout      (HelixGateway           *self,
                                                                  guint                   idle_timeout_ms);
/* Tests: kept-alive connections now waiting for a request. */
guint                  _helix_gateway_get_n_idle_connections     (HelixGateway           *self);

G_END_DECLS
