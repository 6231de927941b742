/* helix-gateway-private.h: what the gateway's files share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "helix-gateway.h"

G_BEGIN_DECLS

/* The longest X-Request-Id the gateway takes over from a client. */
#define HELIX_REQUEST_ID_MAX_LEN 64

gboolean _helix_gateway_admit               (HelixGateway      *self,
                                             SoupServerMessage *msg);
gint64   _helix_gateway_get_uptime_seconds  (HelixGateway      *self);
void     _helix_gateway_add_routes          (HelixGateway      *self,
                                             SoupServer        *server);
void     _helix_gateway_respond_json        (SoupServerMessage *msg,
                                             guint              status,
                                             JsonNode          *root);
void     _helix_gateway_respond_error       (SoupServerMessage *msg,
                                             guint              status,
                                             const char        *code,
                                             const char        *message);
gboolean _helix_gateway_request_id_is_valid (const char        *id);

G_END_DECLS
