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

/* The longest request, head and body, the native path takes: an AI call
 * with a long conversation in it. A longer one goes to libsoup. */
#define HELIX_GATEWAY_NATIVE_REQUEST_MAX (64 * 1024)

/* Header lines of a request at most on the native path. */
#define HELIX_GATEWAY_NATIVE_MAX_HEADERS 64

typedef struct _HelixGatewayNative HelixGatewayNative;

/* A request the native path answers later: an AI call. */
typedef struct _HelixGatewayNativeCall HelixGatewayNativeCall;

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
guint               _helix_gateway_native_get_n_waiting   (HelixGatewayNative *self);

void                _helix_gateway_native_call_set_gone_func (HelixGatewayNativeCall *call,
                                                              GFunc                   func,
                                                              gpointer                data);
void                _helix_gateway_native_call_respond    (HelixGatewayNativeCall *call,
                                                           guint               status,
                                                           const char         *headers,
                                                           GBytes             *body);
void                _helix_gateway_native_call_drop       (HelixGatewayNativeCall *call);

/* In helix-gateway-openai.c: POST /v1/chat/completions. The first checks a
 * request and returns it ready to start, or %NULL for libsoup to answer;
 * the second starts it, answering through @native_call. */
typedef struct _HelixGatewayOpenaiCall HelixGatewayOpenaiCall;

HelixGatewayOpenaiCall *_helix_gateway_openai_native_prepare (HelixGateway       *self,
                                                              const char         *authorization,
                                                              const char         *address,
                                                              const char         *content_type,
                                                              const char         *body,
                                                              gsize               length);
void                _helix_gateway_openai_native_start    (HelixGatewayOpenaiCall *call,
                                                           HelixGatewayNativeCall *native_call);

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
guint               _helix_gateway_get_n_native_waiting   (HelixGateway       *self);

G_END_DECLS
