/* helix-gateway-config-private.h: what the configuration's files share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-gateway-config.h"

G_BEGIN_DECLS

/* A feature flag as the file and the environment set it. */
typedef struct
{
  gboolean       set;
  gboolean       enabled;
  guint          percent;
  HelixFlagKill  kill;
} FlagConfig;

struct _HelixGatewayConfig
{
  char          *path;
  char          *listen;
  char          *listen_host;
  char          *state_dir;
  guint16        listen_port;
  HelixLogLevel  log_level;
  char         **allowed_origins;
  GPtrArray     *trusted_proxies; /* of GInetAddressMask */
  double         user_rate;     /* requests per second; 0: no limit */
  double         user_burst;
  double         address_rate;
  double         address_burst;
  gboolean       maintenance;
  char          *tls_certificate; /* (nullable): PEM file */
  char          *tls_key;         /* (nullable): PEM file */

  /* The AI router (helix-gateway-providers.c builds it from these). */
  GPtrArray     *providers;       /* of HelixGatewayProviderConfig, in file order */
  char          *router_override; /* (nullable): "model" or "provider/model" */
  char          *router_prices;   /* (nullable): a JSON price table merged over the shipped one */
  gint           router_cooldown_ms;   /* -1: the router's default */
  gint           router_max_attempts;  /* -1: the router's default */
  gint           router_health_interval_ms;  /* -1: the router's default; 0: no checks */
  HelixGatewayBudgetConfig budget;

  /* [flags]: one per helix_flags_get_names(), in that order. */
  FlagConfig    *flags;

  /* [audit] and [sink NAME] */
  char          *audit_key_file;          /* (nullable): <state-dir>/audit.key */
  guint          audit_checkpoint_entries;
  guint          audit_checkpoint_seconds;
  guint          audit_heartbeat_seconds;
  GPtrArray     *sinks;                   /* of HelixGatewaySinkConfig, in file order */
};

#define SINK_GROUP_PREFIX "sink "
#define FLAGS_GROUP "flags"
#define AUDIT_GROUP "audit"

gboolean  _helix_gateway_config_set_absolute_path   (char                    **field,
                                                     const char               *value,
                                                     const char               *example,
                                                     GError                  **error);
gboolean  _helix_gateway_config_parse_bounded_int   (const char               *value,
                                                     gint                      min,
                                                     gint                      max,
                                                     gint                     *out,
                                                     GError                  **error);

/* helix-gateway-config-audit.c */
guint                   _helix_gateway_config_n_flags             (void);
const char * const     *_helix_gateway_config_get_flags_keys      (void);
const char * const     *_helix_gateway_config_get_audit_keys      (void);
const char * const     *_helix_gateway_config_get_sink_keys       (void);
HelixGatewaySinkConfig *_helix_gateway_sink_config_copy           (const HelixGatewaySinkConfig
                                                                                            *from);
void                    _helix_gateway_sink_config_free           (gpointer                  data);
HelixGatewaySinkConfig *_helix_gateway_config_ensure_sink         (HelixGatewayConfig       *self,
                                                                   const char               *name);
gboolean                _helix_gateway_config_set_flags_key       (HelixGatewayConfig       *self,
                                                                   const char               *key,
                                                                   const char               *value,
                                                                   GError                  **error);
gboolean                _helix_gateway_config_set_audit_key       (HelixGatewayConfig       *self,
                                                                   const char               *key,
                                                                   const char               *value,
                                                                   GError                  **error);
gboolean                _helix_gateway_config_set_sink_key        (HelixGatewayConfig       *self,
                                                                   const char               *group,
                                                                   const char               *key,
                                                                   const char               *value,
                                                                   GError                  **error);
gboolean                _helix_gateway_config_check_sinks         (HelixGatewayConfig       *self,
                                                                   const char               *origin,
                                                                   GError                  **error);
gboolean                _helix_gateway_config_apply_kill_switches (HelixGatewayConfig       *self,
                                                                   const char * const       *envp,
                                                                   GError                  **error);

G_END_DECLS
