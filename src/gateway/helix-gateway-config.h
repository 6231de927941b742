/* helix-gateway-config.h: the gateway's settings
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-flags.h"
#include "helix-log.h"
#include "helix-webhook-queue.h"

G_BEGIN_DECLS

/* Where the gateway looks for its configuration when --config is not given.
 * A missing file there is not an error: the built-in defaults apply. */
#define HELIX_GATEWAY_SYSTEM_CONFIG_PATH "/etc/helix/gateway.conf"

#define HELIX_GATEWAY_DEFAULT_LISTEN    "127.0.0.1:8080"
#define HELIX_GATEWAY_DEFAULT_LOG_LEVEL HELIX_LOG_LEVEL_INFO

/* API requests per second, and bursts, allowed per user and per client address. */
#define HELIX_GATEWAY_DEFAULT_USER_RATE      50.0
#define HELIX_GATEWAY_DEFAULT_USER_BURST     100.0
#define HELIX_GATEWAY_DEFAULT_ADDRESS_RATE   100.0
#define HELIX_GATEWAY_DEFAULT_ADDRESS_BURST  200.0

/* The longest name of a [provider NAME]. */
#define HELIX_GATEWAY_PROVIDER_NAME_MAX 64

#define HELIX_GATEWAY_DEFAULT_BUDGET_ALERT_RATIO 0.8

/**
 * HelixGatewayProviderConfig:
 * @name: the name of the group, `[provider NAME]`: what the router, the price
 *   table, the ledger and the metrics call it
 * @kind: its wire format: `openai`, `anthropic` or `gemini`
 * @base_url: (nullable): the API root; %NULL for the vendor's own
 * @models: the models to use, most preferred first
 * @key_file: (nullable): a file with one API key per line (a pool)
 * @key_env: (nullable): an environment variable with API keys separated by
 *   commas or line ends
 *
 * One AI provider of the gateway. Never a key: only where to find them.
 */
typedef struct
{
  char  *name;
  char  *kind;
  char  *base_url;
  char **models;
  char  *key_file;
  char  *key_env;
} HelixGatewayProviderConfig;

/**
 * HelixGatewayBudgetConfig:
 * @global_daily_usd: what the whole gateway may spend per day (0: no limit)
 * @global_monthly_usd: … per month
 * @user_daily_usd: what each user may spend per day
 * @user_monthly_usd: … per month
 * @downgrade: over a limit, use a cheaper model that fits instead of refusing
 * @alert_ratio: the share of a limit at which an alert is raised
 */
typedef struct
{
  double   global_daily_usd;
  double   global_monthly_usd;
  double   user_daily_usd;
  double   user_monthly_usd;
  gboolean downgrade;
  double   alert_ratio;
} HelixGatewayBudgetConfig;

/**
 * HelixGatewaySinkConfig:
 * @name: the sink's name (`[sink NAME]`)
 * @url: where entries are sent (a credential: never logged)
 * @backup_url: (nullable): where they go when @url keeps failing
 * @format: Discord-compatible or generic JSON
 * @channels: the audit channels it gets
 */
typedef struct
{
  char               *name;
  char               *url;
  char               *backup_url;
  HelixWebhookFormat  format;
  char              **channels;
} HelixGatewaySinkConfig;

#define HELIX_GATEWAY_CONFIG_ERROR (helix_gateway_config_error_quark ())

/**
 * HelixGatewayConfigError:
 * @HELIX_GATEWAY_CONFIG_ERROR_NOT_FOUND: the configuration file does not exist
 * @HELIX_GATEWAY_CONFIG_ERROR_READ: the configuration file could not be read
 * @HELIX_GATEWAY_CONFIG_ERROR_SYNTAX: a line is not a group header, a key or a comment
 * @HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_GROUP: a group other than `[gateway]`
 * @HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_KEY: a key the gateway does not know (a typo?)
 * @HELIX_GATEWAY_CONFIG_ERROR_DUPLICATE_KEY: a key is set twice
 * @HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE: a value is malformed or out of range
 * @HELIX_GATEWAY_CONFIG_ERROR_TLS: the TLS settings are incomplete, or their files
 *   cannot be used
 */
typedef enum
{
  HELIX_GATEWAY_CONFIG_ERROR_NOT_FOUND,
  HELIX_GATEWAY_CONFIG_ERROR_READ,
  HELIX_GATEWAY_CONFIG_ERROR_SYNTAX,
  HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_GROUP,
  HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_KEY,
  HELIX_GATEWAY_CONFIG_ERROR_DUPLICATE_KEY,
  HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
  HELIX_GATEWAY_CONFIG_ERROR_TLS,
} HelixGatewayConfigError;

#define HELIX_TYPE_GATEWAY_CONFIG (helix_gateway_config_get_type ())

typedef struct _HelixGatewayConfig HelixGatewayConfig;

GQuark              helix_gateway_config_error_quark       (void);
GType               helix_gateway_config_get_type          (void) G_GNUC_CONST;

HelixGatewayConfig *helix_gateway_config_new               (void);
HelixGatewayConfig *helix_gateway_config_copy              (const HelixGatewayConfig *self);
void                helix_gateway_config_free              (HelixGatewayConfig       *self);

gboolean            helix_gateway_config_load_file         (HelixGatewayConfig       *self,
                                                            const char               *path,
                                                            GError                  **error);
gboolean            helix_gateway_config_load_data         (HelixGatewayConfig       *self,
                                                            const char               *data,
                                                            gsize                     length,
                                                            const char               *origin,
                                                            GError                  **error);
gboolean            helix_gateway_config_apply_environment (HelixGatewayConfig       *self,
                                                            const char * const       *envp,
                                                            GError                  **error);

gboolean            helix_gateway_config_set_listen        (HelixGatewayConfig       *self,
                                                            const char               *listen,
                                                            GError                  **error);
gboolean            helix_gateway_config_set_state_dir     (HelixGatewayConfig       *self,
                                                            const char               *state_dir,
                                                            GError                  **error);
gboolean            helix_gateway_config_set_log_level_name (HelixGatewayConfig      *self,
                                                            const char               *name,
                                                            GError                  **error);
gboolean            helix_gateway_config_set_allowed_origins (HelixGatewayConfig    *self,
                                                            const char               *origins,
                                                            GError                  **error);
void                helix_gateway_config_set_log_level     (HelixGatewayConfig       *self,
                                                            HelixLogLevel             level);

const char         *helix_gateway_config_get_path          (const HelixGatewayConfig *self);
const char         *helix_gateway_config_get_listen        (const HelixGatewayConfig *self);
const char         *helix_gateway_config_get_listen_host   (const HelixGatewayConfig *self);
guint16             helix_gateway_config_get_listen_port   (const HelixGatewayConfig *self);
GSocketAddress     *helix_gateway_config_dup_listen_address (const HelixGatewayConfig *self);
const char         *helix_gateway_config_get_state_dir     (const HelixGatewayConfig *self);
char               *helix_gateway_config_dup_database_path (const HelixGatewayConfig *self);
HelixLogLevel       helix_gateway_config_get_log_level     (const HelixGatewayConfig *self);
const char * const *helix_gateway_config_get_allowed_origins (const HelixGatewayConfig *self);
gboolean            helix_gateway_config_set_trusted_proxies (HelixGatewayConfig    *self,
                                                            const char               *proxies,
                                                            GError                  **error);
char               *helix_gateway_config_dup_client_address (const HelixGatewayConfig *self,
                                                            const char               *peer,
                                                            const char               *forwarded_for);
gboolean            helix_gateway_config_origin_is_allowed (const HelixGatewayConfig *self,
                                                            const char               *origin);
gboolean            helix_gateway_config_set_rate_limit_per_user (HelixGatewayConfig *self,
                                                            const char               *value,
                                                            GError                  **error);
gboolean            helix_gateway_config_set_rate_limit_per_address (HelixGatewayConfig *self,
                                                            const char               *value,
                                                            GError                  **error);
gboolean            helix_gateway_config_get_rate_limit_per_user (const HelixGatewayConfig *self,
                                                            double                   *rate,
                                                            double                   *burst);
gboolean            helix_gateway_config_get_rate_limit_per_address (const HelixGatewayConfig *self,
                                                            double                   *rate,
                                                            double                   *burst);
gboolean            helix_gateway_config_set_maintenance_name (HelixGatewayConfig  *self,
                                                            const char               *value,
                                                            GError                  **error);
void                helix_gateway_config_set_maintenance   (HelixGatewayConfig       *self,
                                                            gboolean                  maintenance);
gboolean            helix_gateway_config_get_maintenance   (const HelixGatewayConfig *self);
gboolean            helix_gateway_config_set_tls_certificate (HelixGatewayConfig     *self,
                                                            const char               *path,
                                                            GError                  **error);
gboolean            helix_gateway_config_set_tls_key       (HelixGatewayConfig       *self,
                                                            const char               *path,
                                                            GError                  **error);
const char         *helix_gateway_config_get_tls_certificate (const HelixGatewayConfig *self);
const char         *helix_gateway_config_get_tls_key       (const HelixGatewayConfig *self);
gboolean            helix_gateway_config_load_tls          (const HelixGatewayConfig *self,
                                                            GTlsCertificate         **certificate,
                                                            GError                  **error);

gboolean            helix_gateway_config_set_router_override (HelixGatewayConfig     *self,
                                                            const char               *value,
                                                            GError                  **error);
guint               helix_gateway_config_get_n_providers   (const HelixGatewayConfig *self);
const HelixGatewayProviderConfig *
                    helix_gateway_config_get_provider      (const HelixGatewayConfig *self,
                                                            guint                     index);
const char         *helix_gateway_config_get_router_override (const HelixGatewayConfig *self);
const char         *helix_gateway_config_get_router_prices (const HelixGatewayConfig *self);
gint                helix_gateway_config_get_router_cooldown_ms (const HelixGatewayConfig *self);
gint                helix_gateway_config_get_router_max_attempts (const HelixGatewayConfig *self);
gint                helix_gateway_config_get_router_health_interval_ms (const HelixGatewayConfig *self);
const HelixGatewayBudgetConfig *
                    helix_gateway_config_get_budget        (const HelixGatewayConfig *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixGatewayConfig, helix_gateway_config_free)

gboolean            helix_gateway_config_set_flag          (HelixGatewayConfig       *self,
                                                            const char               *name,
                                                            const char               *value,
                                                            GError                  **error);
HelixFlags         *helix_gateway_config_dup_flags         (const HelixGatewayConfig *self);
char               *helix_gateway_config_dup_audit_key_file (const HelixGatewayConfig *self);
void                helix_gateway_config_get_audit_timing  (const HelixGatewayConfig *self,
                                                            guint                    *entries,
                                                            guint                    *seconds,
                                                            guint                    *heartbeat);
guint               helix_gateway_config_get_n_sinks       (const HelixGatewayConfig *self);
const HelixGatewaySinkConfig *
                    helix_gateway_config_get_sink          (const HelixGatewayConfig *self,
                                                            guint                     index);

G_END_DECLS
