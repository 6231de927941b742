/* helix-gateway-config.c: the gateway's settings
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "helix-audit.h"
#include "helix-gateway-config-private.h"
#include "helix-flags.h"

/**
 * HelixGatewayConfig:
 *
 * What the gateway listens on, where it keeps its state and how much it logs.
 *
 * A configuration starts from the built-in defaults; a key file
 * (helix_gateway_config_load_file()), the environment
 * (helix_gateway_config_apply_environment()) and the command line (the
 * setters) are applied over it in that order, each overriding the one
 * before. Every operation either succeeds completely or leaves the
 * configuration untouched, and its errors name where the bad value came
 * from: the file and line, the environment variable, or the option.
 */
#define CONFIG_GROUP "gateway"

typedef gboolean (*ConfigSetter) (HelixGatewayConfig  *self,
                                  const char          *value,
                                  GError             **error);

static gboolean set_state_dir_from_file (HelixGatewayConfig  *self,
                                         const char          *value,
                                         GError             **error);
static gboolean set_tls_certificate_from_file (HelixGatewayConfig  *self,
                                               const char          *value,
                                               GError             **error);
static gboolean set_tls_key_from_file   (HelixGatewayConfig  *self,
                                         const char          *value,
                                         GError             **error);

/* Every setting, with its key in the [gateway] group and its environment
 * variable. */
static const struct {
  const char   *key;
  const char   *variable;
  ConfigSetter  file_setter;
  ConfigSetter  setter;
} settings[] = {
  { "listen", "HELIX_LISTEN", helix_gateway_config_set_listen, helix_gateway_config_set_listen },
  { "state-dir", "HELIX_STATE_DIR", set_state_dir_from_file, helix_gateway_config_set_state_dir },
  { "log-level", "HELIX_LOG_LEVEL", helix_gateway_config_set_log_level_name,
    helix_gateway_config_set_log_level_name },
  { "allowed-origins", "HELIX_ALLOWED_ORIGINS", helix_gateway_config_set_allowed_origins,
    helix_gateway_config_set_allowed_origins },
  { "trusted-proxies", "HELIX_TRUSTED_PROXIES", helix_gateway_config_set_trusted_proxies,
    helix_gateway_config_set_trusted_proxies },
  { "rate-limit-per-user", "HELIX_RATE_LIMIT_PER_USER",
    helix_gateway_config_set_rate_limit_per_user, helix_gateway_config_set_rate_limit_per_user },
  { "rate-limit-per-address", "HELIX_RATE_LIMIT_PER_ADDRESS",
    helix_gateway_config_set_rate_limit_per_address,
    helix_gateway_config_set_rate_limit_per_address },
  { "maintenance", "HELIX_MAINTENANCE", helix_gateway_config_set_maintenance_name,
    helix_gateway_config_set_maintenance_name },
  { "tls-certificate", "HELIX_TLS_CERTIFICATE", set_tls_certificate_from_file,
    helix_gateway_config_set_tls_certificate },
  { "tls-key", "HELIX_TLS_KEY", set_tls_key_from_file, helix_gateway_config_set_tls_key },
};

typedef struct
{
  char  *group;
  char  *key;
  guint  line;
} KeyLocation;

/* The keys of the groups other than [gateway]. */
static const char * const router_keys[] = {
  "override", "prices", "cooldown-ms", "max-attempts", "health-interval-ms", NULL
};
static const char * const budget_keys[] = {
  "global-daily-usd", "global-monthly-usd", "user-daily-usd", "user-monthly-usd", "over-cap",
  "alert-ratio", NULL
};
static const char * const provider_keys[] = {
  "kind", "base-url", "models", "key-file", "key-env", NULL
};

#define PROVIDER_GROUP_PREFIX "provider "

static HelixGatewayProviderConfig *
provider_config_copy (const HelixGatewayProviderConfig *from)
{
  HelixGatewayProviderConfig *copy = g_new0 (HelixGatewayProviderConfig, 1);

  copy->name = g_strdup (from->name);
  copy->kind = g_strdup (from->kind);
  copy->base_url = g_strdup (from->base_url);
  copy->models = g_strdupv (from->models);
  copy->key_file = g_strdup (from->key_file);
  copy->key_env = g_strdup (from->key_env);

  return copy;
}

static void
provider_config_free (gpointer data)
{
  HelixGatewayProviderConfig *provider = data;

  g_free (provider->name);
  g_free (provider->kind);
  g_free (provider->base_url);
  g_strfreev (provider->models);
  g_free (provider->key_file);
  g_free (provider->key_env);
  g_free (provider);
}

G_DEFINE_QUARK (helix-gateway-config-error-quark, helix_gateway_config_error)

G_DEFINE_BOXED_TYPE (HelixGatewayConfig, helix_gateway_config,
                     helix_gateway_config_copy, helix_gateway_config_free)

/**
 * helix_gateway_config_new:
 *
 * Creates a configuration holding the built-in defaults: listen on
 * 127.0.0.1:8080, keep state in `$XDG_STATE_HOME/helix`, log at info level.
 *
 * Returns: (transfer full): a new configuration
 */
HelixGatewayConfig *
helix_gateway_config_new (void)
{
  HelixGatewayConfig *self = g_new0 (HelixGatewayConfig, 1);
  gboolean ok;

  ok = helix_gateway_config_set_listen (self, HELIX_GATEWAY_DEFAULT_LISTEN, NULL);
  g_assert (ok);

  self->state_dir = g_build_filename (g_get_user_state_dir (), "helix", NULL);
  self->log_level = HELIX_GATEWAY_DEFAULT_LOG_LEVEL;
  self->allowed_origins = g_new0 (char *, 1);
  self->trusted_proxies = g_ptr_array_new_with_free_func (g_object_unref);
  self->user_rate = HELIX_GATEWAY_DEFAULT_USER_RATE;
  self->user_burst = HELIX_GATEWAY_DEFAULT_USER_BURST;
  self->address_rate = HELIX_GATEWAY_DEFAULT_ADDRESS_RATE;
  self->address_burst = HELIX_GATEWAY_DEFAULT_ADDRESS_BURST;
  self->providers = g_ptr_array_new_with_free_func (provider_config_free);
  self->router_cooldown_ms = -1;
  self->router_max_attempts = -1;
  self->router_health_interval_ms = -1;
  self->budget.alert_ratio = HELIX_GATEWAY_DEFAULT_BUDGET_ALERT_RATIO;
  self->flags = g_new0 (FlagConfig, _helix_gateway_config_n_flags ());
  self->audit_heartbeat_seconds = HELIX_AUDIT_HEARTBEAT_S;
  self->sinks = g_ptr_array_new_with_free_func (_helix_gateway_sink_config_free);

  return self;
}

/**
 * helix_gateway_config_copy:
 * @self: a configuration
 *
 * Returns: (transfer full): a copy of @self
 */
HelixGatewayConfig *
helix_gateway_config_copy (const HelixGatewayConfig *self)
{
  HelixGatewayConfig *copy;

  g_return_val_if_fail (self != NULL, NULL);

  copy = g_new0 (HelixGatewayConfig, 1);
  copy->path = g_strdup (self->path);
  copy->listen = g_strdup (self->listen);
  copy->listen_host = g_strdup (self->listen_host);
  copy->listen_port = self->listen_port;
  copy->state_dir = g_strdup (self->state_dir);
  copy->log_level = self->log_level;
  copy->allowed_origins = g_strdupv (self->allowed_origins);
  copy->trusted_proxies = g_ptr_array_copy (self->trusted_proxies, (GCopyFunc) g_object_ref, NULL);
  g_ptr_array_set_free_func (copy->trusted_proxies, g_object_unref);
  copy->user_rate = self->user_rate;
  copy->user_burst = self->user_burst;
  copy->address_rate = self->address_rate;
  copy->address_burst = self->address_burst;
  copy->maintenance = self->maintenance;
  copy->tls_certificate = g_strdup (self->tls_certificate);
  copy->tls_key = g_strdup (self->tls_key);
  copy->providers = g_ptr_array_new_with_free_func (provider_config_free);
  for (guint i = 0; i < self->providers->len; i++)
    g_ptr_array_add (copy->providers, provider_config_copy (g_ptr_array_index (self->providers, i)));
  copy->router_override = g_strdup (self->router_override);
  copy->router_prices = g_strdup (self->router_prices);
  copy->router_cooldown_ms = self->router_cooldown_ms;
  copy->router_max_attempts = self->router_max_attempts;
  copy->router_health_interval_ms = self->router_health_interval_ms;
  copy->budget = self->budget;
  copy->flags = g_memdup2 (self->flags, sizeof (FlagConfig) * _helix_gateway_config_n_flags ());
  copy->audit_key_file = g_strdup (self->audit_key_file);
  copy->audit_checkpoint_entries = self->audit_checkpoint_entries;
  copy->audit_checkpoint_seconds = self->audit_checkpoint_seconds;
  copy->audit_heartbeat_seconds = self->audit_heartbeat_seconds;
  copy->sinks = g_ptr_array_new_with_free_func (_helix_gateway_sink_config_free);
  for (guint i = 0; i < self->sinks->len; i++)
    g_ptr_array_add (copy->sinks,
                     _helix_gateway_sink_config_copy (g_ptr_array_index (self->sinks, i)));

  return copy;
}

/**
 * helix_gateway_config_free:
 * @self: (nullable): a configuration
 *
 * Frees @self.
 */
void
helix_gateway_config_free (HelixGatewayConfig *self)
{
  if (self == NULL)
    return;

  g_free (self->path);
  g_free (self->listen);
  g_free (self->listen_host);
  g_free (self->state_dir);
  g_strfreev (self->allowed_origins);
  g_ptr_array_unref (self->trusted_proxies);
  g_free (self->tls_certificate);
  g_free (self->tls_key);
  g_clear_pointer (&self->providers, g_ptr_array_unref);
  g_free (self->router_override);
  g_free (self->router_prices);
  g_free (self->flags);
  g_free (self->audit_key_file);
  g_clear_pointer (&self->sinks, g_ptr_array_unref);
  g_free (self);
}

/* Moves the contents of @from into @self; @from keeps the old contents. */
static void
config_swap (HelixGatewayConfig *self,
             HelixGatewayConfig *from)
{
  HelixGatewayConfig tmp = *self;

  *self = *from;
  *from = tmp;
}

static gboolean
parse_port (const char *text,
            guint16    *port)
{
  guint value = 0;
  gsize len = strlen (text);

  if (len == 0 || len > 5)
    return FALSE;

  for (gsize i = 0; i < len; i++)
    {
      if (!g_ascii_isdigit (text[i]))
        return FALSE;
      value = value * 10 + (guint) (text[i] - '0');
    }

  if (value > G_MAXUINT16)
    return FALSE;

  *port = (guint16) value;
  return TRUE;
}

static void
set_not_addr_port (GError     **error,
                   const char  *text)
{
  g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
               _("“%s” is not ADDR:PORT (for example 127.0.0.1:8080)"), text);
}

/**
 * helix_gateway_config_set_listen:
 * @self: a configuration
 * @listen: where to listen, as `ADDR:PORT`
 * @error: return location for a #GError
 *
 * Sets the address and port to listen on. @listen is an IPv4 address and a
 * port (`127.0.0.1:8080`) or an IPv6 address in brackets and a port
 * (`[::1]:8080`). Port 0 picks a free port when the gateway starts. Host
 * names are not accepted: resolving them would make the address depend on
 * DNS at start-up.
 *
 * Returns: %TRUE if @listen was valid; else @self is unchanged
 */
gboolean
helix_gateway_config_set_listen (HelixGatewayConfig  *self,
                                 const char          *listen,
                                 GError             **error)
{
  g_autoptr(GInetAddress) address = NULL;
  g_autofree char *host = NULL;
  g_autofree char *canonical = NULL;
  const char *port_text;
  GSocketFamily family;
  guint16 port;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (listen != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (listen[0] == '[')
    {
      const char *close = strchr (listen, ']');

      if (close == NULL || close[1] != ':')
        {
          set_not_addr_port (error, listen);
          return FALSE;
        }

      host = g_strndup (listen + 1, close - listen - 1);
      port_text = close + 2;
      family = G_SOCKET_FAMILY_IPV6;
    }
  else
    {
      const char *colon = strrchr (listen, ':');

      if (colon == NULL)
        {
          set_not_addr_port (error, listen);
          return FALSE;
        }

      if (memchr (listen, ':', colon - listen) != NULL)
        {
          g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                       _("“%s” is not ADDR:PORT: write an IPv6 address in brackets, "
                         "for example [::1]:8080"),
                       listen);
          return FALSE;
        }

      host = g_strndup (listen, colon - listen);
      port_text = colon + 1;
      family = G_SOCKET_FAMILY_IPV4;
    }

  if (host[0] == '\0')
    {
      set_not_addr_port (error, listen);
      return FALSE;
    }

  address = g_inet_address_new_from_string (host);
  if (address == NULL || g_inet_address_get_family (address) != family)
    {
      if (family == G_SOCKET_FAMILY_IPV6)
        g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                     _("“%s” is not ADDR:PORT: “%s” is not an IPv6 address "
                       "(for example [::1]:8080)"),
                     listen, host);
      else
        g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                     _("“%s” is not ADDR:PORT: “%s” is not an IPv4 address; host names are "
                       "not accepted (for example 127.0.0.1:8080)"),
                     listen, host);
      return FALSE;
    }

  if (!parse_port (port_text, &port))
    {
      g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                   _("“%s” is not ADDR:PORT: the port “%s” is not a number from 0 to 65535 "
                     "(0 picks a free port)"),
                   listen, port_text);
      return FALSE;
    }

  canonical = g_inet_address_to_string (address);

  g_free (self->listen);
  if (family == G_SOCKET_FAMILY_IPV6)
    self->listen = g_strdup_printf ("[%s]:%u", canonical, port);
  else
    self->listen = g_strdup_printf ("%s:%u", canonical, port);

  g_free (self->listen_host);
  self->listen_host = g_steal_pointer (&canonical);
  self->listen_port = port;

  return TRUE;
}

/**
 * helix_gateway_config_set_state_dir:
 * @self: a configuration
 * @state_dir: a directory; a relative path is taken from the current directory
 * @error: return location for a #GError
 *
 * Sets the directory for the database and other state. It need not exist
 * yet: the gateway creates it (readable by its user only) when it starts.
 *
 * Returns: %TRUE if @state_dir was valid; else @self is unchanged
 */
gboolean
helix_gateway_config_set_state_dir (HelixGatewayConfig  *self,
                                    const char          *state_dir,
                                    GError             **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (state_dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (state_dir[0] == '\0')
    {
      g_set_error_literal (error, HELIX_GATEWAY_CONFIG_ERROR,
                           HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                           _("the state directory must not be empty"));
      return FALSE;
    }

  g_free (self->state_dir);
  self->state_dir = g_canonicalize_filename (state_dir, NULL);

  return TRUE;
}

/* In a file, a relative path would depend on the directory the service was
 * started from: refuse it. */
static gboolean
set_state_dir_from_file (HelixGatewayConfig  *self,
                         const char          *value,
                         GError             **error)
{
  if (value[0] != '\0' && !g_path_is_absolute (value))
    {
      g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                   _("“%s” is not an absolute path (for example /var/lib/helix)"), value);
      return FALSE;
    }

  return helix_gateway_config_set_state_dir (self, value, error);
}

/**
 * helix_gateway_config_set_log_level_name:
 * @self: a configuration
 * @name: `error`, `warning`, `info` or `debug`
 * @error: return location for a #GError
 *
 * Sets the log level by name.
 *
 * Returns: %TRUE if @name was a level; else @self is unchanged
 */
gboolean
helix_gateway_config_set_log_level_name (HelixGatewayConfig  *self,
                                         const char          *name,
                                         GError             **error)
{
  HelixLogLevel level;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!helix_log_level_from_string (name, &level))
    {
      g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                   _("“%s” is not a log level; use error, warning, info or debug"), name);
      return FALSE;
    }

  self->log_level = level;

  return TRUE;
}

/**
 * helix_gateway_config_set_log_level:
 * @self: a configuration
 * @level: a level
 *
 * Sets the log level.
 */
void
helix_gateway_config_set_log_level (HelixGatewayConfig *self,
                                    HelixLogLevel       level)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (level <= HELIX_LOG_LEVEL_DEBUG);

  self->log_level = level;
}

/* An origin as browsers send it: `scheme://host` or `scheme://host:port`, with
 * scheme http or https, and nothing else (no path, query, user or trailing
 * slash). */
static gboolean
origin_is_valid (const char *origin)
{
  g_autoptr(GUri) uri = NULL;
  const char *scheme;

  uri = g_uri_parse (origin, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL)
    return FALSE;

  scheme = g_uri_get_scheme (uri);
  if (g_ascii_strcasecmp (scheme, "http") != 0 && g_ascii_strcasecmp (scheme, "https") != 0)
    return FALSE;

  return g_uri_get_host (uri) != NULL && *g_uri_get_host (uri) != '\0' &&
         g_uri_get_userinfo (uri) == NULL && *g_uri_get_path (uri) == '\0' &&
         g_uri_get_query (uri) == NULL && g_uri_get_fragment (uri) == NULL;
}

/**
 * helix_gateway_config_set_allowed_origins:
 * @self: a configuration
 * @origins: browser origins separated by `;`, such as
 *   `https://helix.example.org;http://localhost:5173`; empty for none
 * @error: return location for a #GError
 *
 * Sets the browser origins (the `Origin` header of a WebSocket upgrade) that
 * may use the sync endpoint. Clients that are not browsers send no `Origin`
 * and are not affected. By default the list is empty: every browser page is
 * refused, which stops other sites from opening a WebSocket with a user's
 * credentials (cross-site WebSocket hijacking). Whitespace around each origin
 * and empty items are ignored; origins are compared without regard to case.
 *
 * Returns: %TRUE if every origin was valid; else @self is unchanged
 */
gboolean
helix_gateway_config_set_allowed_origins (HelixGatewayConfig  *self,
                                          const char          *origins,
                                          GError             **error)
{
  g_auto(GStrv) items = NULL;
  g_autoptr(GPtrArray) list = NULL;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (origins != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  items = g_strsplit (origins, ";", -1);
  list = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; items[i] != NULL; i++)
    {
      char *origin = g_strstrip (items[i]);

      if (*origin == '\0')
        continue;

      if (!origin_is_valid (origin))
        {
          g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                       _("“%s” is not a browser origin; write it as scheme://host or "
                         "scheme://host:port, for example https://helix.example.org"),
                       origin);
          return FALSE;
        }

      g_ptr_array_add (list, g_ascii_strdown (origin, -1));
    }
  g_ptr_array_add (list, NULL);

  g_strfreev (self->allowed_origins);
  self->allowed_origins = (char **) g_ptr_array_free (g_steal_pointer (&list), FALSE);

  return TRUE;
}

/**
 * helix_gateway_config_set_trusted_proxies:
 * @self: a configuration
 * @proxies: addresses or networks separated by `;`, such as
 *   `127.0.0.1;::1` or `10.0.0.0/8`; empty for none
 * @error: return location for a #GError
 *
 * Sets the reverse proxies (nginx, data/nginx-helix.conf) whose
 * `X-Forwarded-For` header the gateway believes. A request from one of them
 * counts as coming from the address the proxy says it forwards for, in the
 * rate limits per address, the limit on failed logins and the logs. Empty
 * by default: every client is the address its connection comes from, and
 * `X-Forwarded-For` is ignored, since any client can send one.
 *
 * Returns: %TRUE if every item was an address or a network; else @self is
 *   unchanged
 */
gboolean
helix_gateway_config_set_trusted_proxies (HelixGatewayConfig  *self,
                                          const char          *proxies,
                                          GError             **error)
{
  g_auto(GStrv) items = NULL;
  g_autoptr(GPtrArray) list = NULL;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (proxies != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  items = g_strsplit (proxies, ";", -1);
  list = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint i = 0; items[i] != NULL; i++)
    {
      char *item = g_strstrip (items[i]);
      GInetAddressMask *mask;

      if (*item == '\0')
        continue;

      mask = g_inet_address_mask_new_from_string (item, NULL);
      if (mask == NULL)
        {
          g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                       _("“%s” is not an IP address or network; write it as 127.0.0.1, ::1 "
                         "or 10.0.0.0/8"),
                       item);
          return FALSE;
        }
      g_ptr_array_add (list, mask);
    }

  g_ptr_array_unref (self->trusted_proxies);
  self->trusted_proxies = g_steal_pointer (&list);

  return TRUE;
}

/* Proxies in a row at most, in X-Forwarded-For. */
#define MAX_FORWARDED_HOPS 16

static gboolean
is_trusted_proxy (const HelixGatewayConfig *self,
                  GInetAddress             *address)
{
  for (guint i = 0; i < self->trusted_proxies->len; i++)
    {
      GInetAddressMask *mask = g_ptr_array_index (self->trusted_proxies, i);

      if (g_inet_address_get_family (address) == g_inet_address_mask_get_family (mask) &&
          g_inet_address_mask_matches (mask, address))
        return TRUE;
    }

  return FALSE;
}

/**
 * helix_gateway_config_dup_client_address:
 * @self: a configuration
 * @peer: the address a request's connection comes from, as text
 * @forwarded_for: (nullable): the request's `X-Forwarded-For`
 *
 * When @peer is a trusted proxy, the client is the right-most address of
 * @forwarded_for that is not itself a trusted proxy: the one the nearest
 * proxy saw. The addresses left of it were written by the client or by
 * proxies nobody vouches for, and are not believed. An item that is not a
 * plain IP address ends the walk at the proxy that wrote it.
 *
 * Returns: (transfer full) (nullable): the client's address when it is not
 *   @peer, formatted like @peer; %NULL when it is @peer
 */
char *
helix_gateway_config_dup_client_address (const HelixGatewayConfig *self,
                                         const char               *peer,
                                         const char               *forwarded_for)
{
  g_autoptr(GInetAddress) client = NULL;
  const char *end;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (peer != NULL, NULL);

  if (forwarded_for == NULL || self->trusted_proxies->len == 0)
    return NULL;

  client = g_inet_address_new_from_string (peer);
  if (client == NULL || !is_trusted_proxy (self, client))
    return NULL;

  /* From the right: what a client wrote on the left cannot hide the hops
   * the proxies added. */
  end = forwarded_for + strlen (forwarded_for);
  for (guint hops = 0; hops < MAX_FORWARDED_HOPS && is_trusted_proxy (self, client); hops++)
    {
      const char *start = end;
      g_autofree char *item = NULL;
      GInetAddress *hop;

      while (start > forwarded_for && start[-1] != ',')
        start--;
      item = g_strndup (start, end - start);
      hop = g_inet_address_new_from_string (g_strstrip (item));
      if (hop == NULL)
        break;
      g_object_unref (client);
      client = hop;
      if (start == forwarded_for)
        break;
      end = start - 1;
    }

  return g_inet_address_to_string (client);
}

/* Levenshtein distance, for "did you mean" hints on misspelt keys. */
static guint
edit_distance (const char *a,
               const char *b)
{
  gsize len_a = strlen (a);
  gsize len_b = strlen (b);
  g_autofree guint *row = g_new (guint, len_b + 1);

  for (gsize j = 0; j <= len_b; j++)
    row[j] = j;

  for (gsize i = 1; i <= len_a; i++)
    {
      guint diagonal = row[0];

      row[0] = i;
      for (gsize j = 1; j <= len_b; j++)
        {
          guint above = row[j];
          guint cost = a[i - 1] == b[j - 1] ? 0 : 1;

          row[j] = MIN (MIN (row[j] + 1, row[j - 1] + 1), diagonal + cost);
          diagonal = above;
        }
    }

  return row[len_b];
}

static int
find_setting (const char *key)
{
  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    {
      if (g_str_equal (settings[i].key, key))
        return i;
    }

  return -1;
}

/* A provider's name: what the router, the price table, the ledger and the
 * metrics call it. */
static gboolean
provider_name_is_valid (const char *name)
{
  gsize len = strlen (name);

  if (len == 0 || len > HELIX_GATEWAY_PROVIDER_NAME_MAX)
    return FALSE;

  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (name[i]) && name[i] != '-' && name[i] != '_' && name[i] != '.')
      return FALSE;

  return TRUE;
}

/* The keys of @group (a valid group name), or NULL for [gateway]. */
static const char * const *
group_keys (const char *group)
{
  if (g_str_equal (group, "router"))
    return router_keys;
  if (g_str_equal (group, "budget"))
    return budget_keys;
  if (g_str_equal (group, FLAGS_GROUP))
    return _helix_gateway_config_get_flags_keys ();
  if (g_str_equal (group, AUDIT_GROUP))
    return _helix_gateway_config_get_audit_keys ();
  if (g_str_has_prefix (group, SINK_GROUP_PREFIX))
    return _helix_gateway_config_get_sink_keys ();
  if (g_str_has_prefix (group, PROVIDER_GROUP_PREFIX))
    return provider_keys;

  return NULL;
}

static gboolean
group_has_key (const char *group,
               const char *key)
{
  const char * const *keys = group_keys (group);

  if (keys == NULL)
    return find_setting (key) >= 0;

  return g_strv_contains (keys, key);
}

static void
set_unknown_key (GError     **error,
                 const char  *origin,
                 guint        line,
                 const char  *group,
                 const char  *key)
{
  const char * const *keys = group_keys (group);
  const char *nearest = NULL;
  guint best = 3;

  /* Say why rather than "did you mean key-file": a key in the file would be
   * readable by whoever can read the configuration, and end up in backups. */
  if (keys == provider_keys &&
      (strstr (key, "key") != NULL || strstr (key, "token") != NULL ||
       strstr (key, "secret") != NULL) &&
      !g_strv_contains (provider_keys, key))
    {
      g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_KEY,
                   _("%s:%u: key “%s” in group “%s”: API keys are never written in the "
                     "configuration file; put them in a file readable only by the gateway’s "
                     "user and name it with “key-file”, or in an environment variable named "
                     "with “key-env”"),
                   origin, line, key, group);
      return;
    }

  if (keys == NULL)
    {
      for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
        {
          guint distance = edit_distance (key, settings[i].key);

          if (distance < best)
            {
              best = distance;
              nearest = settings[i].key;
            }
        }
    }
  else
    {
      for (guint i = 0; keys[i] != NULL; i++)
        {
          guint distance = edit_distance (key, keys[i]);

          if (distance < best)
            {
              best = distance;
              nearest = keys[i];
            }
        }
    }

  if (nearest != NULL)
    g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_KEY,
                 _("%s:%u: unknown key “%s” in group “%s”; did you mean “%s”?"),
                 origin, line, key, group, nearest);
  else if (keys == NULL)
    g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_KEY,
                 _("%s:%u: unknown key “%s” in group “%s”; the known keys are "
                   "allowed-origins, listen, log-level, maintenance, rate-limit-per-address, "
                   "rate-limit-per-user, state-dir, tls-certificate, tls-key and trusted-proxies"),
                 origin, line, key, group);
  else
    {
      g_autofree char *known = g_strjoinv (", ", (char **) keys);

      g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_KEY,
                   _("%s:%u: unknown key “%s” in group “%s”; the known keys are %s"),
                   origin, line, key, group, known);
    }
}

/* GKeyFile parses the file but does not say on which line a key is, nor
 * complain about unknown groups and keys. This pass follows the same line
 * rules as GKeyFile (leading whitespace ignored, `#` comments, `[group]`
 * headers, `key=value` pairs, CRLF accepted), checks the names, and records
 * the line of every key for later error messages. */
static gboolean
scan_key_file (const char  *origin,
               const char  *data,
               gsize        length,
               GArray      *locations,
               GError     **error)
{
  const char *p = data;
  const char *end = data + length;
  g_autofree char *current_group = NULL;
  guint line_no = 0;

  while (p < end)
    {
      const char *eol = memchr (p, '\n', end - p);
      g_autofree char *line = NULL;
      const char *s;
      const char *eq;
      gsize line_len;

      if (eol == NULL)
        eol = end;

      line_no++;
      line_len = eol - p;
      if (line_len > 0 && p[line_len - 1] == '\r')
        line_len--;

      if (!g_utf8_validate (p, line_len, NULL))
        {
          g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_SYNTAX,
                       _("%s:%u: this line is not valid UTF-8 text"), origin, line_no);
          return FALSE;
        }

      line = g_strndup (p, line_len);
      p = eol < end ? eol + 1 : end;

      for (s = line; g_ascii_isspace (*s); s++)
        ;

      if (*s == '\0' || *s == '#')
        continue;

      if (*s == '[')
        {
          const char *close = strchr (s, ']');
          const char *after = NULL;
          g_autofree char *group = NULL;

          if (close != NULL)
            for (after = close + 1; *after == ' ' || *after == '\t'; after++)
              ;

          if (close == NULL || *after != '\0')
            {
              g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_SYNTAX,
                           _("%s:%u: “%s” is not a group header; write it as [%s]"),
                           origin, line_no, s, CONFIG_GROUP);
              return FALSE;
            }

          group = g_strndup (s + 1, close - s - 1);
          if (g_str_has_prefix (group, PROVIDER_GROUP_PREFIX))
            {
              if (!provider_name_is_valid (group + strlen (PROVIDER_GROUP_PREFIX)))
                {
                  g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR,
                               HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_GROUP,
                               _("%s:%u: “[%s]”: a provider’s name is 1 to %u letters, digits, "
                                 "dots, dashes and underscores, for example [provider openai]"),
                               origin, line_no, group, HELIX_GATEWAY_PROVIDER_NAME_MAX);
                  return FALSE;
                }
            }
          else if (g_str_has_prefix (group, SINK_GROUP_PREFIX))
            {
              if (!provider_name_is_valid (group + strlen (SINK_GROUP_PREFIX)))
                {
                  g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR,
                               HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_GROUP,
                               _("%s:%u: “[%s]”: a sink’s name is 1 to %u letters, digits, "
                                 "dots, dashes and underscores, for example [sink discord]"),
                               origin, line_no, group, HELIX_GATEWAY_PROVIDER_NAME_MAX);
                  return FALSE;
                }
            }
          else if (!g_str_equal (group, CONFIG_GROUP) && !g_str_equal (group, "router") &&
                   !g_str_equal (group, "budget") && !g_str_equal (group, FLAGS_GROUP) &&
                   !g_str_equal (group, AUDIT_GROUP))
            {
              g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR,
                           HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_GROUP,
                           _("%s:%u: unknown group “[%s]”; the groups are [%s], [router], "
                             "[budget], [flags], [audit], [provider NAME] and [sink NAME]"),
                           origin, line_no, group, CONFIG_GROUP);
              return FALSE;
            }

          g_free (current_group);
          current_group = g_steal_pointer (&group);
          continue;
        }

      eq = strchr (s, '=');
      if (eq == NULL || eq == s)
        {
          g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_SYNTAX,
                       _("%s:%u: “%s” is not a “key=value” line, a “[group]” header or a "
                         "“#” comment"),
                       origin, line_no, s);
          return FALSE;
        }

      {
        const char *key_end = eq;
        g_autofree char *key = NULL;
        KeyLocation location;

        while (key_end > s && g_ascii_isspace (key_end[-1]))
          key_end--;
        key = g_strndup (s, key_end - s);

        if (current_group == NULL)
          {
            g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_SYNTAX,
                         _("%s:%u: key “%s” comes before any group; put it after a [%s] line"),
                         origin, line_no, key, CONFIG_GROUP);
            return FALSE;
          }

        if (!group_has_key (current_group, key))
          {
            set_unknown_key (error, origin, line_no, current_group, key);
            return FALSE;
          }

        for (guint i = 0; i < locations->len; i++)
          {
            const KeyLocation *seen = &g_array_index (locations, KeyLocation, i);

            if (g_str_equal (seen->key, key) && g_str_equal (seen->group, current_group))
              {
                g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR,
                             HELIX_GATEWAY_CONFIG_ERROR_DUPLICATE_KEY,
                             _("%s:%u: key “%s” in group “%s” is already set on line %u; "
                               "keep only one"),
                             origin, line_no, key, current_group, seen->line);
                return FALSE;
              }
          }

        location.group = g_strdup (current_group);
        location.key = g_steal_pointer (&key);
        location.line = line_no;
        g_array_append_val (locations, location);
      }
    }

  return TRUE;
}

static void
clear_key_location (gpointer data)
{
  KeyLocation *location = data;

  g_clear_pointer (&location->group, g_free);
  g_clear_pointer (&location->key, g_free);
}

/* [router], [budget] and [provider NAME] {{{1 */

gboolean
_helix_gateway_config_set_absolute_path (char       **field,
                   const char  *value,
                   const char  *example,
                   GError     **error)
{
  if (value[0] == '\0')
    {
      g_clear_pointer (field, g_free);
      return TRUE;
    }

  if (!g_path_is_absolute (value))
    {
      g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                   _("“%s” is not an absolute path (for example %s)"), value, example);
      return FALSE;
    }

  g_free (*field);
  *field = g_canonicalize_filename (value, NULL);

  return TRUE;
}

/* A whole number from @min to @max. */
gboolean
_helix_gateway_config_parse_bounded_int (const char  *value,
                   gint         min,
                   gint         max,
                   gint        *out,
                   GError     **error)
{
  gint64 number;

  if (!g_ascii_string_to_signed (value, 10, min, max, &number, NULL))
    {
      g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                   _("“%s” is not a whole number from %d to %d"), value, min, max);
      return FALSE;
    }

  *out = (gint) number;
  return TRUE;
}

/* An amount of US dollars: a number from 0 (no limit) to 1,000,000,000. */
static gboolean
parse_usd (const char  *value,
           double      *out,
           GError     **error)
{
  char *end = NULL;
  double number;

  if (!g_ascii_isdigit (*value))
    number = -1;
  else
    number = g_ascii_strtod (value, &end);

  if (!(number >= 0) || number > 1e9 || end == NULL || *end != '\0')
    {
      g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                   _("“%s” is not an amount of US dollars, such as 5 or 0.25 (0: no limit)"),
                   value);
      return FALSE;
    }

  *out = number;
  return TRUE;
}

/**
 * helix_gateway_config_set_router_override:
 * @self: a configuration
 * @value: a model that every AI call must use, as `model` or `provider/model`;
 *   empty for none
 * @error: return location for a #GError
 *
 * Sets the router's override (also `PROVIDER_OVERRIDE` and
 * `HELIX_PROVIDER_OVERRIDE`): every call goes to that model, whatever its
 * price and health. For emergencies.
 *
 * Returns: %TRUE if @value was valid; else @self is unchanged
 */
gboolean
helix_gateway_config_set_router_override (HelixGatewayConfig  *self,
                                          const char          *value,
                                          GError             **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (strlen (value) > 256 || strchr (value, ' ') != NULL)
    {
      g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                   _("“%.64s” is not a model; write “model” or “provider/model”"), value);
      return FALSE;
    }

  g_free (self->router_override);
  self->router_override = value[0] != '\0' ? g_strdup (value) : NULL;

  return TRUE;
}

static gboolean
set_router_key (HelixGatewayConfig  *self,
                const char          *key,
                const char          *value,
                GError             **error)
{
  if (g_str_equal (key, "override"))
    return helix_gateway_config_set_router_override (self, value, error);
  if (g_str_equal (key, "prices"))
    return _helix_gateway_config_set_absolute_path (&self->router_prices, value,
                                                    "/etc/helix/prices.json", error);
  if (g_str_equal (key, "cooldown-ms"))
    return _helix_gateway_config_parse_bounded_int (value, 0, 24 * 3600 * 1000,
                                                    &self->router_cooldown_ms, error);
  if (g_str_equal (key, "max-attempts"))
    return _helix_gateway_config_parse_bounded_int (value, 1, 10, &self->router_max_attempts,
                                                    error);
  if (g_str_equal (key, "health-interval-ms"))
    return _helix_gateway_config_parse_bounded_int (value, 0, 24 * 3600 * 1000,
                                                    &self->router_health_interval_ms, error);

  g_assert_not_reached ();
}

static gboolean
set_budget_key (HelixGatewayConfig  *self,
                const char          *key,
                const char          *value,
                GError             **error)
{
  HelixGatewayBudgetConfig *budget = &self->budget;

  if (g_str_equal (key, "global-daily-usd"))
    return parse_usd (value, &budget->global_daily_usd, error);
  if (g_str_equal (key, "global-monthly-usd"))
    return parse_usd (value, &budget->global_monthly_usd, error);
  if (g_str_equal (key, "user-daily-usd"))
    return parse_usd (value, &budget->user_daily_usd, error);
  if (g_str_equal (key, "user-monthly-usd"))
    return parse_usd (value, &budget->user_monthly_usd, error);

  if (g_str_equal (key, "over-cap"))
    {
      if (g_str_equal (value, "refuse"))
        budget->downgrade = FALSE;
      else if (g_str_equal (value, "downgrade"))
        budget->downgrade = TRUE;
      else
        {
          g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR,
                       HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                       _("“%s” is not a policy; use refuse or downgrade"), value);
          return FALSE;
        }
      return TRUE;
    }

  if (g_str_equal (key, "alert-ratio"))
    {
      char *end = NULL;
      double ratio = g_ascii_isdigit (*value) ? g_ascii_strtod (value, &end) : -1;

      if (!(ratio > 0) || ratio > 1 || end == NULL || *end != '\0')
        {
          g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR,
                       HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                       _("“%s” is not a share of a limit; write a number above 0 and at most "
                         "1, such as 0.8"), value);
          return FALSE;
        }
      budget->alert_ratio = ratio;
      return TRUE;
    }

  g_assert_not_reached ();
}

static HelixGatewayProviderConfig *
ensure_provider (HelixGatewayConfig *self,
                 const char         *name)
{
  HelixGatewayProviderConfig *provider;

  for (guint i = 0; i < self->providers->len; i++)
    {
      provider = g_ptr_array_index (self->providers, i);
      if (g_str_equal (provider->name, name))
        return provider;
    }

  provider = g_new0 (HelixGatewayProviderConfig, 1);
  provider->name = g_strdup (name);
  g_ptr_array_add (self->providers, provider);

  return provider;
}

/* A model name as a provider's API takes it: no spaces or control characters. */
static gboolean
model_name_is_valid (const char *model)
{
  gsize len = strlen (model);

  if (len == 0 || len > 128)
    return FALSE;

  for (gsize i = 0; i < len; i++)
    if ((guchar) model[i] <= ' ' || model[i] == '"' || model[i] == '\\' || model[i] == 0x7f)
      return FALSE;

  return TRUE;
}

static gboolean
set_provider_key (HelixGatewayConfig  *self,
                  const char          *group,
                  const char          *key,
                  const char          *value,
                  GError             **error)
{
  HelixGatewayProviderConfig *provider =
    ensure_provider (self, group + strlen (PROVIDER_GROUP_PREFIX));

  if (g_str_equal (key, "kind"))
    {
      if (!g_str_equal (value, "openai") && !g_str_equal (value, "anthropic") &&
          !g_str_equal (value, "gemini"))
        {
          g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR,
                       HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                       _("“%s” is not a kind of provider; use openai (also for "
                         "OpenAI-compatible servers), anthropic or gemini"), value);
          return FALSE;
        }
      g_free (provider->kind);
      provider->kind = g_strdup (value);
      return TRUE;
    }

  if (g_str_equal (key, "base-url"))
    {
      g_autoptr(GUri) uri = value[0] != '\0' ? g_uri_parse (value, G_URI_FLAGS_NONE, NULL) : NULL;

      if (value[0] != '\0' &&
          (uri == NULL || (g_strcmp0 (g_uri_get_scheme (uri), "http") != 0 &&
                           g_strcmp0 (g_uri_get_scheme (uri), "https") != 0) ||
           g_uri_get_host (uri) == NULL || g_uri_get_userinfo (uri) != NULL ||
           g_uri_get_query (uri) != NULL))
        {
          /* Not quoted: a URL with user info may hold a secret. */
          g_set_error_literal (error, HELIX_GATEWAY_CONFIG_ERROR,
                               HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                               _("not an http or https URL without user name, password or "
                                 "query (for example https://api.openai.com/v1)"));
          return FALSE;
        }
      g_free (provider->base_url);
      provider->base_url = value[0] != '\0' ? g_strdup (value) : NULL;
      return TRUE;
    }

  if (g_str_equal (key, "models"))
    {
      g_auto(GStrv) items = g_strsplit (value, ";", -1);
      g_autoptr(GStrvBuilder) models = g_strv_builder_new ();

      for (guint i = 0; items[i] != NULL; i++)
        {
          char *model = g_strstrip (items[i]);

          if (*model == '\0')
            continue;
          if (!model_name_is_valid (model))
            {
              g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR,
                           HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                           _("“%.64s” is not a model name (1 to 128 characters, no spaces)"),
                           model);
              return FALSE;
            }
          g_strv_builder_add (models, model);
        }
      g_strfreev (provider->models);
      provider->models = g_strv_builder_end (models);
      return TRUE;
    }

  if (g_str_equal (key, "key-file"))
    return _helix_gateway_config_set_absolute_path (&provider->key_file, value,
                                                    "/etc/helix/keys/openai", error);

  if (g_str_equal (key, "key-env"))
    {
      for (const char *c = value; *c != '\0'; c++)
        if (!g_ascii_isalnum (*c) && *c != '_')
          {
            g_set_error_literal (error, HELIX_GATEWAY_CONFIG_ERROR,
                                 HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                                 _("not the name of an environment variable (letters, digits "
                                   "and underscores, such as OPENAI_API_KEYS); the key itself "
                                   "never goes in this file"));
            return FALSE;
          }
      g_free (provider->key_env);
      provider->key_env = value[0] != '\0' ? g_strdup (value) : NULL;
      return TRUE;
    }

  g_assert_not_reached ();
}

/* Every provider needs a kind and models. */
static gboolean
check_providers (HelixGatewayConfig  *self,
                 const char          *origin,
                 GError             **error)
{
  for (guint i = 0; i < self->providers->len; i++)
    {
      HelixGatewayProviderConfig *provider = g_ptr_array_index (self->providers, i);

      if (provider->kind == NULL)
        {
          g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                       _("%s: group “[provider %s]” needs “kind” (openai, anthropic or "
                         "gemini)"),
                       origin, provider->name);
          return FALSE;
        }

      if (provider->models == NULL || provider->models[0] == NULL)
        {
          g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                       _("%s: group “[provider %s]” needs “models”: the models to use, most "
                         "preferred first, separated by “;”"),
                       origin, provider->name);
          return FALSE;
        }

      if (provider->key_file != NULL && provider->key_env != NULL)
        {
          g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                       _("%s: group “[provider %s]” sets both “key-file” and “key-env”; "
                         "keep one"),
                       origin, provider->name);
          return FALSE;
        }
    }

  return TRUE;
}

/**
 * helix_gateway_config_load_data:
 * @self: a configuration
 * @data: the text of a key file
 * @length: the length of @data in bytes
 * @origin: what to call the text in error messages, usually its file name
 * @error: return location for a #GError
 *
 * Applies the settings of a key file over @self. The groups are `[gateway]`
 * (the keys `listen`, `state-dir`, `log-level`, `allowed-origins`,
 * `rate-limit-per-user`, `rate-limit-per-address`, `maintenance`,
 * `tls-certificate`, `tls-key`, `trusted-proxies`), `[router]` (`override`, `prices`,
 * `cooldown-ms`, `max-attempts`, `health-interval-ms`), `[budget]` (`global-daily-usd`,
 * `global-monthly-usd`, `user-daily-usd`, `user-monthly-usd`, `over-cap`,
 * `alert-ratio`), `[flags]` (one key per feature flag, `on`, `off` or a
 * percentage, and one kill switch per flag, `disable-custom-tools`,
 * `disable-composite-skills`, `disable-synthesis`, `disable-voice`) and one
 * `[provider NAME]` per AI provider (`kind`,
 * `base-url`, `models`, `key-file`, `key-env`). Any other group or key is an
 * error, so that a typo is never silently ignored; so is an API key written
 * in the file. Errors start with `ORIGIN:LINE:` and name the key. Trailing
 * whitespace in values and a leading byte order mark are ignored.
 *
 * Returns: %TRUE on success; else @self is unchanged
 */
gboolean
helix_gateway_config_load_data (HelixGatewayConfig  *self,
                                const char          *data,
                                gsize                length,
                                const char          *origin,
                                GError             **error)
{
  g_autoptr(GArray) locations = g_array_new (FALSE, FALSE, sizeof (KeyLocation));
  g_autoptr(GKeyFile) key_file = g_key_file_new ();
  g_autoptr(HelixGatewayConfig) updated = NULL;
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (data != NULL || length == 0, FALSE);
  g_return_val_if_fail (origin != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_array_set_clear_func (locations, clear_key_location);

  /* Some editors start UTF-8 files with a byte order mark. */
  if (length >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
    {
      data += 3;
      length -= 3;
    }

  if (!scan_key_file (origin, data, length, locations, error))
    return FALSE;

  /* The scan accepted the file, so GKeyFile should too; if it does not,
   * at least say which file it is about. */
  if (length > 0 && !g_key_file_load_from_data (key_file, data, length, G_KEY_FILE_NONE,
                                                &local_error))
    {
      g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_SYNTAX,
                   "%s: %s", origin, local_error->message);
      return FALSE;
    }

  updated = helix_gateway_config_copy (self);

  for (guint i = 0; i < locations->len; i++)
    {
      const KeyLocation *location = &g_array_index (locations, KeyLocation, i);
      g_autofree char *value = NULL;

      /* For a bad escape sequence GKeyFile sets the error yet returns a value. */
      value = g_key_file_get_string (key_file, location->group, location->key, &local_error);
      /* GKeyFile keeps trailing whitespace, which no value here can mean. */
      if (local_error == NULL && value != NULL)
        {
          g_strchomp (value);
          if (g_str_equal (location->group, CONFIG_GROUP))
            settings[find_setting (location->key)].file_setter (updated, value, &local_error);
          else if (g_str_equal (location->group, "router"))
            set_router_key (updated, location->key, value, &local_error);
          else if (g_str_equal (location->group, "budget"))
            set_budget_key (updated, location->key, value, &local_error);
          else if (g_str_equal (location->group, FLAGS_GROUP))
            _helix_gateway_config_set_flags_key (updated, location->key, value, &local_error);
          else if (g_str_equal (location->group, AUDIT_GROUP))
            _helix_gateway_config_set_audit_key (updated, location->key, value, &local_error);
          else if (g_str_has_prefix (location->group, SINK_GROUP_PREFIX))
            _helix_gateway_config_set_sink_key (updated, location->group, location->key, value,
                                                &local_error);
          else
            set_provider_key (updated, location->group, location->key, value, &local_error);
        }

      if (local_error != NULL)
        {
          g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR,
                       local_error->domain == HELIX_GATEWAY_CONFIG_ERROR
                         ? local_error->code
                         : HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                       _("%s:%u: key “%s” in group “%s”: %s"),
                       origin, location->line, location->key, location->group,
                       local_error->message);
          return FALSE;
        }
    }

  /* A group header alone makes a provider too, which then lacks its keys. */
  {
    g_auto(GStrv) groups = g_key_file_get_groups (key_file, NULL);

    for (guint i = 0; groups[i] != NULL; i++)
      if (g_str_has_prefix (groups[i], PROVIDER_GROUP_PREFIX))
        ensure_provider (updated, groups[i] + strlen (PROVIDER_GROUP_PREFIX));
  }

  if (!check_providers (updated, origin, error))
    return FALSE;

  {
    g_auto(GStrv) groups = g_key_file_get_groups (key_file, NULL);

    for (guint i = 0; groups[i] != NULL; i++)
      if (g_str_has_prefix (groups[i], SINK_GROUP_PREFIX))
        _helix_gateway_config_ensure_sink (updated, groups[i] + strlen (SINK_GROUP_PREFIX));
  }

  if (!_helix_gateway_config_check_sinks (updated, origin, error))
    return FALSE;

  config_swap (self, updated);

  return TRUE;
}

/**
 * helix_gateway_config_load_file:
 * @self: a configuration
 * @path: the path of a key file
 * @error: return location for a #GError
 *
 * Reads @path and applies it as helix_gateway_config_load_data() does.
 * A file that does not exist is an error
 * (%HELIX_GATEWAY_CONFIG_ERROR_NOT_FOUND).
 *
 * Returns: %TRUE on success; else @self is unchanged
 */
gboolean
helix_gateway_config_load_file (HelixGatewayConfig  *self,
                                const char          *path,
                                GError             **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* Read at start-up, before the main loop runs. */
  if (!g_file_get_contents (path, &contents, &length, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_NOT_FOUND,
                     _("%s: the configuration file does not exist; check the path, or "
                       "copy gateway.conf.example there"),
                     path);
      else
        g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_READ,
                     _("%s: could not read the configuration file: %s"),
                     path, local_error->message);
      return FALSE;
    }

  if (!helix_gateway_config_load_data (self, contents, length, path, error))
    return FALSE;

  g_free (self->path);
  self->path = g_strdup (path);

  return TRUE;
}

/**
 * helix_gateway_config_apply_environment:
 * @self: a configuration
 * @envp: (nullable) (array zero-terminated=1): an environment, as from
 *   g_get_environ(); %NULL for the environment of the process
 * @error: return location for a #GError
 *
 * Applies `HELIX_LISTEN`, `HELIX_STATE_DIR`, `HELIX_LOG_LEVEL`,
 * `HELIX_ALLOWED_ORIGINS`, `HELIX_RATE_LIMIT_PER_USER`,
 * `HELIX_RATE_LIMIT_PER_ADDRESS`, `HELIX_MAINTENANCE`, `HELIX_TLS_CERTIFICATE`,
 * `HELIX_TLS_KEY`, `HELIX_ROUTER_<KEY>` and `HELIX_BUDGET_<KEY>` for the keys
 * of [router] and [budget] (`HELIX_BUDGET_USER_DAILY_USD`), the router's
 * override and the kill switches of the
 * feature flags (`DISABLE_SYNTHESIS`, `DISABLE_CUSTOM_TOOLS`,
 * `DISABLE_COMPOSITE_SKILLS`, `DISABLE_VOICE`: `1` kills) over @self. A
 * variable that is unset or empty changes nothing.
 *
 * Returns: %TRUE on success; else @self is unchanged
 */
gboolean
helix_gateway_config_apply_environment (HelixGatewayConfig  *self,
                                        const char * const  *envp,
                                        GError             **error)
{
  g_auto(GStrv) own_environ = NULL;
  g_autoptr(HelixGatewayConfig) updated = NULL;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (envp == NULL)
    envp = (const char * const *) (own_environ = g_get_environ ());

  updated = helix_gateway_config_copy (self);

  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    {
      const char *value = g_environ_getenv ((char **) envp, settings[i].variable);
      g_autoptr(GError) local_error = NULL;

      if (value == NULL || value[0] == '\0')
        continue;

      if (!settings[i].setter (updated, value, &local_error))
        {
          g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, local_error->code,
                       _("environment variable %s: %s"),
                       settings[i].variable, local_error->message);
          return FALSE;
        }
    }

  if (!_helix_gateway_config_apply_kill_switches (updated, envp, error))
    return FALSE;

  /* HELIX_ROUTER_<KEY> and HELIX_BUDGET_<KEY> for the keys of [router] and
   * [budget]: HELIX_BUDGET_USER_DAILY_USD=2, HELIX_ROUTER_COOLDOWN_MS=10000. */
  {
    static const struct
    {
      const char         *prefix;
      const char * const *keys;
      gboolean          (*set) (HelixGatewayConfig *, const char *, const char *, GError **);
    } groups[] = {
      { "HELIX_ROUTER_", router_keys, set_router_key },
      { "HELIX_BUDGET_", budget_keys, set_budget_key },
    };

    for (guint g = 0; g < G_N_ELEMENTS (groups); g++)
      for (guint k = 0; groups[g].keys[k] != NULL; k++)
        {
          g_autofree char *variable = g_strconcat (groups[g].prefix, groups[g].keys[k], NULL);
          g_autoptr(GError) local_error = NULL;
          const char *value;

          g_strdelimit (variable, "-", '_');
          for (char *c = variable; *c != '\0'; c++)
            *c = g_ascii_toupper (*c);

          value = g_environ_getenv ((char **) envp, variable);
          if (value == NULL || value[0] == '\0')
            continue;

          if (!groups[g].set (updated, groups[g].keys[k], value, &local_error))
            {
              g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR,
                           local_error->domain == HELIX_GATEWAY_CONFIG_ERROR
                             ? local_error->code : HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                           _("environment variable %s: %s"), variable, local_error->message);
              return FALSE;
            }
        }
  }

  /* The router's override: HELIX_PROVIDER_OVERRIDE, or the PROVIDER_OVERRIDE
   * the desktop reads too. */
  {
    static const char * const variables[] = { "HELIX_PROVIDER_OVERRIDE", "PROVIDER_OVERRIDE" };

    for (guint i = 0; i < G_N_ELEMENTS (variables); i++)
      {
        const char *value = g_environ_getenv ((char **) envp, variables[i]);
        g_autoptr(GError) local_error = NULL;

        if (value == NULL || value[0] == '\0')
          continue;

        if (!helix_gateway_config_set_router_override (updated, value, &local_error))
          {
            g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, local_error->code,
                         _("environment variable %s: %s"), variables[i], local_error->message);
            return FALSE;
          }
        break;
      }
  }

  config_swap (self, updated);

  return TRUE;
}

/**
 * helix_gateway_config_get_path:
 * @self: a configuration
 *
 * Returns: (nullable): the file @self was last loaded from, if any
 */
const char *
helix_gateway_config_get_path (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->path;
}

/**
 * helix_gateway_config_get_listen:
 * @self: a configuration
 *
 * Returns: where to listen, as `ADDR:PORT` in canonical form
 */
const char *
helix_gateway_config_get_listen (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->listen;
}

/**
 * helix_gateway_config_get_listen_host:
 * @self: a configuration
 *
 * Returns: the address to listen on, without brackets
 */
const char *
helix_gateway_config_get_listen_host (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->listen_host;
}

/**
 * helix_gateway_config_get_listen_port:
 * @self: a configuration
 *
 * Returns: the port to listen on; 0 for a free one
 */
guint16
helix_gateway_config_get_listen_port (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->listen_port;
}

/**
 * helix_gateway_config_dup_listen_address:
 * @self: a configuration
 *
 * Returns: (transfer full): the socket address to listen on
 */
GSocketAddress *
helix_gateway_config_dup_listen_address (const HelixGatewayConfig *self)
{
  g_autoptr(GInetAddress) address = NULL;

  g_return_val_if_fail (self != NULL, NULL);

  address = g_inet_address_new_from_string (self->listen_host);
  g_assert (address != NULL);

  return g_inet_socket_address_new (address, self->listen_port);
}

/**
 * helix_gateway_config_get_state_dir:
 * @self: a configuration
 *
 * Returns: the directory for the database and other state
 */
const char *
helix_gateway_config_get_state_dir (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->state_dir;
}

/**
 * helix_gateway_config_dup_database_path:
 * @self: a configuration
 *
 * Returns: (transfer full): the path of the gateway's database,
 *   `gateway.db` in the state directory
 */
char *
helix_gateway_config_dup_database_path (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return g_build_filename (self->state_dir, "gateway.db", NULL);
}

/**
 * helix_gateway_config_get_log_level:
 * @self: a configuration
 *
 * Returns: the least severe messages to log
 */
HelixLogLevel
helix_gateway_config_get_log_level (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, HELIX_GATEWAY_DEFAULT_LOG_LEVEL);

  return self->log_level;
}

/* A positive number of at most 1,000,000, in the C locale. */
static gboolean
parse_rate (const char *text,
            double     *value)
{
  char *end = NULL;
  double number;

  text = text + strspn (text, " \t");
  if (!g_ascii_isdigit (*text))
    return FALSE;

  number = g_ascii_strtod (text, &end);
  end = end + strspn (end, " \t");
  if (*end != '\0' || !(number > 0) || number > 1000000)
    return FALSE;

  *value = number;
  return TRUE;
}

/* "RATE" (burst twice the rate), "RATE,BURST" or "off". */
static gboolean
parse_rate_limit (const char  *text,
                  double      *rate,
                  double      *burst,
                  GError     **error)
{
  g_auto(GStrv) parts = g_strsplit (text, ",", -1);
  g_autofree char *trimmed = g_strstrip (g_strdup (text));
  guint n = g_strv_length (parts);

  if (g_ascii_strcasecmp (trimmed, "off") == 0)
    {
      *rate = 0;
      *burst = 0;
      return TRUE;
    }

  if ((n == 1 || n == 2) && parse_rate (parts[0], rate) &&
      (n == 1 || parse_rate (parts[1], burst)))
    {
      if (n == 1)
        *burst = MAX (1, 2 * *rate);
      if (*burst >= 1)
        return TRUE;
    }

  g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
               _("“%s” is not a rate limit; write requests per second and a burst, such as "
                 "“50,100”, or “off”"), text);
  return FALSE;
}

/**
 * helix_gateway_config_set_rate_limit_per_user:
 * @self: a configuration
 * @value: `RATE,BURST` (requests per second, and how many may come at once),
 *   `RATE` (the burst is twice the rate) or `off`
 * @error: return location for a #GError
 *
 * Sets how many API requests each authenticated user may make.
 *
 * Returns: %TRUE if @value was valid; else @self is unchanged
 */
gboolean
helix_gateway_config_set_rate_limit_per_user (HelixGatewayConfig  *self,
                                              const char          *value,
                                              GError             **error)
{
  double rate = 0;
  double burst = 0;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!parse_rate_limit (value, &rate, &burst, error))
    return FALSE;

  self->user_rate = rate;
  self->user_burst = burst;

  return TRUE;
}

/**
 * helix_gateway_config_set_rate_limit_per_address:
 * @self: a configuration
 * @value: as for helix_gateway_config_set_rate_limit_per_user()
 * @error: return location for a #GError
 *
 * Sets how many API requests each client address may make.
 *
 * Returns: %TRUE if @value was valid; else @self is unchanged
 */
gboolean
helix_gateway_config_set_rate_limit_per_address (HelixGatewayConfig  *self,
                                                 const char          *value,
                                                 GError             **error)
{
  double rate = 0;
  double burst = 0;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!parse_rate_limit (value, &rate, &burst, error))
    return FALSE;

  self->address_rate = rate;
  self->address_burst = burst;

  return TRUE;
}

/**
 * helix_gateway_config_get_rate_limit_per_user:
 * @self: a configuration
 * @rate: (out): requests per second
 * @burst: (out): the size of the burst
 *
 * Returns: %FALSE if users are not limited
 */
gboolean
helix_gateway_config_get_rate_limit_per_user (const HelixGatewayConfig *self,
                                              double                   *rate,
                                              double                   *burst)
{
  g_return_val_if_fail (self != NULL, FALSE);

  *rate = self->user_rate;
  *burst = self->user_burst;

  return self->user_rate > 0;
}

/**
 * helix_gateway_config_get_rate_limit_per_address:
 * @self: a configuration
 * @rate: (out): requests per second
 * @burst: (out): the size of the burst
 *
 * Returns: %FALSE if client addresses are not limited
 */
gboolean
helix_gateway_config_get_rate_limit_per_address (const HelixGatewayConfig *self,
                                                 double                   *rate,
                                                 double                   *burst)
{
  g_return_val_if_fail (self != NULL, FALSE);

  *rate = self->address_rate;
  *burst = self->address_burst;

  return self->address_rate > 0;
}

/**
 * helix_gateway_config_set_maintenance_name:
 * @self: a configuration
 * @value: `true` or `false` (also `yes`/`no`, `on`/`off`, `1`/`0`)
 * @error: return location for a #GError
 *
 * Sets whether the gateway is in maintenance mode: it refuses every write
 * (503) and keeps answering reads.
 *
 * Returns: %TRUE if @value was a boolean; else @self is unchanged
 */
gboolean
helix_gateway_config_set_maintenance_name (HelixGatewayConfig  *self,
                                           const char          *value,
                                           GError             **error)
{
  static const char * const yes[] = { "true", "yes", "on", "1", NULL };
  static const char * const no[] = { "false", "no", "off", "0", NULL };
  g_autofree char *lower = NULL;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  lower = g_ascii_strdown (value, -1);
  g_strstrip (lower);
  if (g_strv_contains (yes, lower))
    self->maintenance = TRUE;
  else if (g_strv_contains (no, lower))
    self->maintenance = FALSE;
  else
    {
      g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                   _("“%s” is not a boolean; use true or false"), value);
      return FALSE;
    }

  return TRUE;
}

/**
 * helix_gateway_config_set_maintenance:
 * @self: a configuration
 * @maintenance: whether writes are refused
 */
void
helix_gateway_config_set_maintenance (HelixGatewayConfig *self,
                                      gboolean            maintenance)
{
  g_return_if_fail (self != NULL);

  self->maintenance = !!maintenance;
}

/**
 * helix_gateway_config_get_maintenance:
 * @self: a configuration
 *
 * Returns: whether the gateway is in maintenance mode
 */
gboolean
helix_gateway_config_get_maintenance (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  return self->maintenance;
}

/**
 * helix_gateway_config_get_allowed_origins:
 * @self: a configuration
 *
 * Returns: (transfer none) (array zero-terminated=1): the browser origins that
 *   may open the sync WebSocket, in lower case; empty by default
 */
const char * const *
helix_gateway_config_get_allowed_origins (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return (const char * const *) self->allowed_origins;
}

/**
 * helix_gateway_config_origin_is_allowed:
 * @self: a configuration
 * @origin: the `Origin` header of a request
 *
 * Returns: whether @origin is on the allowlist (compared without regard to case)
 */
gboolean
helix_gateway_config_origin_is_allowed (const HelixGatewayConfig *self,
                                        const char               *origin)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (origin != NULL, FALSE);

  for (guint i = 0; self->allowed_origins[i] != NULL; i++)
    {
      if (g_ascii_strcasecmp (self->allowed_origins[i], origin) == 0)
        return TRUE;
    }

  return FALSE;
}

/* TLS {{{1 */

static gboolean
set_tls_path (char       **field,
              const char  *path,
              gboolean     from_file,
              GError     **error)
{
  /* Empty: no TLS (in a file; an empty variable changes nothing). */
  if (path[0] == '\0')
    {
      g_clear_pointer (field, g_free);
      return TRUE;
    }

  /* In a file, a relative path would depend on the directory the service
   * was started from. */
  if (from_file && !g_path_is_absolute (path))
    {
      g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                   _("“%s” is not an absolute path (for example /etc/helix/tls/gateway.pem)"),
                   path);
      return FALSE;
    }

  g_free (*field);
  *field = g_canonicalize_filename (path, NULL);

  return TRUE;
}

/**
 * helix_gateway_config_set_tls_certificate:
 * @self: a configuration
 * @path: a PEM file with the server certificate (and any intermediate
 *   certificates after it); empty for no TLS
 * @error: return location for a #GError
 *
 * Sets the certificate the gateway serves HTTPS and WSS with. It needs the
 * private key too (helix_gateway_config_set_tls_key()); the files are read
 * when the gateway starts (helix_gateway_config_load_tls()).
 *
 * Returns: %TRUE if @path was valid; else @self is unchanged
 */
gboolean
helix_gateway_config_set_tls_certificate (HelixGatewayConfig  *self,
                                          const char          *path,
                                          GError             **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return set_tls_path (&self->tls_certificate, path, FALSE, error);
}

/**
 * helix_gateway_config_set_tls_key:
 * @self: a configuration
 * @path: a PEM file with the private key of the TLS certificate; empty for
 *   no TLS
 * @error: return location for a #GError
 *
 * Sets the private key of the TLS certificate. The file must not be
 * readable by every user: helix_gateway_config_load_tls() refuses it then.
 *
 * Returns: %TRUE if @path was valid; else @self is unchanged
 */
gboolean
helix_gateway_config_set_tls_key (HelixGatewayConfig  *self,
                                  const char          *path,
                                  GError             **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return set_tls_path (&self->tls_key, path, FALSE, error);
}

static gboolean
set_tls_certificate_from_file (HelixGatewayConfig  *self,
                               const char          *value,
                               GError             **error)
{
  return set_tls_path (&self->tls_certificate, value, TRUE, error);
}

static gboolean
set_tls_key_from_file (HelixGatewayConfig  *self,
                       const char          *value,
                       GError             **error)
{
  return set_tls_path (&self->tls_key, value, TRUE, error);
}

/**
 * helix_gateway_config_get_tls_certificate:
 * @self: a configuration
 *
 * Returns: (nullable): the TLS certificate file, if any
 */
const char *
helix_gateway_config_get_tls_certificate (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->tls_certificate;
}

/**
 * helix_gateway_config_get_tls_key:
 * @self: a configuration
 *
 * Returns: (nullable): the TLS private key file, if any
 */
const char *
helix_gateway_config_get_tls_key (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->tls_key;
}

/**
 * helix_gateway_config_load_tls:
 * @self: a configuration
 * @certificate: (out) (transfer full) (optional): the certificate with its
 *   private key, or %NULL when TLS is not configured
 * @error: return location for a #GError
 *
 * Checks the TLS settings and loads the certificate and key. Neither
 * `tls-certificate` nor `tls-key` set: no TLS, and %TRUE with
 * *@certificate %NULL. Both set: the key file must not be readable by every
 * user (a private key other users can read is no longer private), GLib must
 * have a TLS backend (the glib-networking package), and the files must
 * hold a certificate and its key in PEM format. Only one of them set is an
 * error. This reads files: call it at start-up, not from the main loop.
 *
 * Returns: %FALSE with @error set (%HELIX_GATEWAY_CONFIG_ERROR_TLS) if
 *   TLS is configured but cannot be used
 */
gboolean
helix_gateway_config_load_tls (const HelixGatewayConfig  *self,
                               GTlsCertificate          **certificate,
                               GError                   **error)
{
  g_autoptr(GTlsCertificate) loaded = NULL;
  g_autoptr(GError) local_error = NULL;
  struct stat st;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (certificate != NULL)
    *certificate = NULL;

  if (self->tls_certificate == NULL && self->tls_key == NULL)
    return TRUE;

  if (self->tls_certificate == NULL || self->tls_key == NULL)
    {
      g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_TLS,
                   self->tls_key == NULL
                   ? _("TLS: “tls-certificate” (HELIX_TLS_CERTIFICATE) is set to “%s” but "
                       "“tls-key” (HELIX_TLS_KEY) is not; set both for HTTPS, or neither "
                       "for plain HTTP")
                   : _("TLS: “tls-key” (HELIX_TLS_KEY) is set to “%s” but "
                       "“tls-certificate” (HELIX_TLS_CERTIFICATE) is not; set both for "
                       "HTTPS, or neither for plain HTTP"),
                   self->tls_key == NULL ? self->tls_certificate : self->tls_key);
      return FALSE;
    }

  if (g_stat (self->tls_key, &st) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_TLS,
                   _("TLS: cannot read the key file “%s” (tls-key): %s"),
                   self->tls_key, g_strerror (saved_errno));
      return FALSE;
    }

  if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0)
    {
      g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_TLS,
                   _("TLS: the key file “%s” (tls-key) can be read or written by every user "
                     "(mode %03o); make it private, for example with “chmod 600 %s” (or "
                     "640 and a group the gateway’s user is in)"),
                   self->tls_key, (guint) (st.st_mode & 0777), self->tls_key);
      return FALSE;
    }

  if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    {
      g_set_error_literal (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_TLS,
                           _("TLS is configured (tls-certificate, tls-key) but GLib has no TLS "
                             "backend: install the glib-networking package, or remove the "
                             "TLS settings to serve plain HTTP"));
      return FALSE;
    }

  loaded = g_tls_certificate_new_from_files (self->tls_certificate, self->tls_key,
                                             &local_error);
  if (loaded == NULL)
    {
      g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_TLS,
                   _("TLS: cannot load the certificate “%s” (tls-certificate) with the key "
                     "“%s” (tls-key): %s. Both must be PEM files, the key unencrypted and "
                     "matching the certificate."),
                   self->tls_certificate, self->tls_key, local_error->message);
      return FALSE;
    }

  if (certificate != NULL)
    *certificate = g_steal_pointer (&loaded);

  return TRUE;
}

/* AI router {{{1 */

/**
 * helix_gateway_config_get_n_providers:
 * @self: a configuration
 *
 * Returns: the number of `[provider NAME]` groups
 */
guint
helix_gateway_config_get_n_providers (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->providers->len;
}

/**
 * helix_gateway_config_get_provider:
 * @self: a configuration
 * @index: from 0 to helix_gateway_config_get_n_providers() - 1
 *
 * Returns: (transfer none): a provider, in the order of the file
 */
const HelixGatewayProviderConfig *
helix_gateway_config_get_provider (const HelixGatewayConfig *self,
                                   guint                     index)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (index < self->providers->len, NULL);

  return g_ptr_array_index (self->providers, index);
}

/**
 * helix_gateway_config_get_router_override:
 * @self: a configuration
 *
 * Returns: (nullable): the model every AI call is forced to, if any
 */
const char *
helix_gateway_config_get_router_override (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->router_override;
}

/**
 * helix_gateway_config_get_router_prices:
 * @self: a configuration
 *
 * Returns: (nullable): a JSON price table to merge over the shipped one
 */
const char *
helix_gateway_config_get_router_prices (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->router_prices;
}

/**
 * helix_gateway_config_get_router_cooldown_ms:
 * @self: a configuration
 *
 * Returns: how long an open circuit breaker stays open, or -1 for the default
 */
gint
helix_gateway_config_get_router_cooldown_ms (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, -1);

  return self->router_cooldown_ms;
}

/**
 * helix_gateway_config_get_router_max_attempts:
 * @self: a configuration
 *
 * Returns: the calls made to each candidate model, or -1 for the default
 */
gint
helix_gateway_config_get_router_max_attempts (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, -1);

  return self->router_max_attempts;
}

/**
 * helix_gateway_config_get_router_health_interval_ms:
 * @self: a configuration
 *
 * Returns: how often the router checks every provider (`health-interval-ms`
 *   in `[router]`, or `HELIX_ROUTER_HEALTH_INTERVAL_MS`), 0 for never, or -1
 *   for the default (%HELIX_ROUTER_DEFAULT_HEALTH_INTERVAL_MS)
 */
gint
helix_gateway_config_get_router_health_interval_ms (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, -1);

  return self->router_health_interval_ms;
}

/**
 * helix_gateway_config_get_budget:
 * @self: a configuration
 *
 * Returns: (transfer none): the spending limits
 */
const HelixGatewayBudgetConfig *
helix_gateway_config_get_budget (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return &self->budget;
}
