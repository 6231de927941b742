/* helix-gateway-native.h: the gateway's hot HTTP routes without libsoup
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-gateway.h"

G_BEGIN_DECLS

/* The longest request head the native path reads; a longer one goes to libsoup. */
#define HELIX_GATEWAY_NATIVE_HEAD_MAX 8192

/* Header lines of a request at most on the native path. */
#define HELIX_GATEWAY_NATIVE_MAX_HEADERS 64

typedef struct _HelixGatewayNative HelixGatewayNative;

HelixGatewayNative *_helix_gateway_native_new             (HelixGateway       *gateway,
                                                           guint               idle_timeout_ms);
void                _helix_gateway_native_free            (HelixGatewayNative *self);
void                _helix_gateway_native_take            (HelixGatewayNative *self,
                                                           GSocketConnection  *connection,
                                                           GSocketAddress     *local,
                                                           GSocketAddress     *remote);
void                _helix_gateway_native_close_idle      (HelixGatewayNative *self);
guint               _helix_gateway_native_get_n_idle      (HelixGatewayNative *self);
guint               _helix_gateway_native_get_n_writing   (HelixGatewayNative *self);
guint64             _helix_gateway_native_get_n_answered  (HelixGatewayNative *self);

/* In helix-gateway.c, for the native path. */
void                _helix_gateway_serve_with_libsoup     (HelixGateway       *self,
                                                           GSocketConnection  *connection,
                                                           GSocketAddress     *local,
                                                           GSocketAddress     *remote);
gboolean            _helix_gateway_is_stopping            (HelixGateway       *self);
gboolean            _helix_gateway_charge_limits          (HelixGateway       *self,
                                                           const char         *address,
                                                           const char         *user_name);
void                _helix_gateway_native_answer_written  (HelixGateway       *self);
void                _helix_gateway_make_request_id        (char               *id);
void                _helix_gateway_log_request            (const char         *method,
                                                           const char         *path,
                                                           guint               status,
                                                           gboolean            aborted,
                                                           gint64              started_us,
                                                           const char         *id);

/* Tests: native on or off (before helix_gateway_start()), and its count. */
void                _helix_gateway_set_native_http        (HelixGateway       *self,
                                                           gboolean            enabled);
guint64             _helix_gateway_get_n_native_requests  (HelixGateway       *self);
guint               _helix_gateway_get_n_native_connections (HelixGateway     *self);

G_END_DECLS
