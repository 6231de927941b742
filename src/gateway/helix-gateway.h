/* helix-gateway.h: the headless gateway (helix --headless)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-gateway-config.h"
#include "helix-gateway-db.h"

G_BEGIN_DECLS

/* How long a shutdown waits for requests in flight before it gives up. */
#define HELIX_GATEWAY_DRAIN_TIMEOUT_SECONDS 10

#define HELIX_GATEWAY_ERROR (helix_gateway_error_quark ())

/**
 * HelixGatewayError:
 * @HELIX_GATEWAY_ERROR_FAILED: something not covered below
 * @HELIX_GATEWAY_ERROR_STATE_DIR: the state directory could not be created
 * @HELIX_GATEWAY_ERROR_DATABASE: the database could not be opened
 * @HELIX_GATEWAY_ERROR_LISTEN: the gateway could not listen on its address
 * @HELIX_GATEWAY_ERROR_DRAIN_TIMEOUT: a shutdown gave up waiting for requests in flight
 * @HELIX_GATEWAY_ERROR_CANCELLED: a shutdown was told to stop waiting for requests in flight
 * @HELIX_GATEWAY_ERROR_TLS: TLS is configured but cannot be used (see
 *   helix_gateway_config_load_tls())
 * @HELIX_GATEWAY_ERROR_PROVIDERS: the AI providers cannot be set up: a key
 *   file that others can read, a missing key, a bad price file, …
 * @HELIX_GATEWAY_ERROR_AUDIT: the audit trail cannot be opened or written
 */
typedef enum
{
  HELIX_GATEWAY_ERROR_FAILED,
  HELIX_GATEWAY_ERROR_STATE_DIR,
  HELIX_GATEWAY_ERROR_DATABASE,
  HELIX_GATEWAY_ERROR_LISTEN,
  HELIX_GATEWAY_ERROR_DRAIN_TIMEOUT,
  HELIX_GATEWAY_ERROR_CANCELLED,
  HELIX_GATEWAY_ERROR_TLS,
  HELIX_GATEWAY_ERROR_PROVIDERS,
  HELIX_GATEWAY_ERROR_AUDIT,
} HelixGatewayError;

#define HELIX_TYPE_GATEWAY (helix_gateway_get_type ())

G_DECLARE_FINAL_TYPE (HelixGateway, helix_gateway, HELIX, GATEWAY, GObject)

GQuark                    helix_gateway_error_quark              (void);

HelixGateway             *helix_gateway_new                      (const HelixGatewayConfig  *config);

const HelixGatewayConfig *helix_gateway_get_config               (HelixGateway              *self);
HelixGatewayDb           *helix_gateway_get_db                   (HelixGateway              *self);
const char               *helix_gateway_get_uri                  (HelixGateway              *self);
guint                     helix_gateway_get_n_requests_in_flight (HelixGateway              *self);
HelixFlags               *helix_gateway_get_flags                (HelixGateway              *self);

gboolean                  helix_gateway_start                    (HelixGateway              *self,
                                                                  GError                   **error);
void                      helix_gateway_shutdown_async           (HelixGateway              *self,
                                                                  GCancellable              *cancellable,
                                                                  GAsyncReadyCallback        callback,
                                                                  gpointer                   user_data);
gboolean                  helix_gateway_shutdown_finish          (HelixGateway              *self,
                                                                  GAsyncResult              *result,
                                                                  GError                   **error);

int                       helix_gateway_main                     (int                        argc,
                                                                  char                     **argv);

G_END_DECLS
