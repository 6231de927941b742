/* helix-provider-config.c: one AI provider as the user configured it
 *
 * An immutable value: the providers page and HelixProviderSettings replace a
 * configuration rather than change it, so a GListModel of them only needs
 * items-changed. Nothing secret is in here: the API key lives in the keyring.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-providers"

#include "config.h"

#include <string.h>

#include "helix-http-provider.h"
#include "helix-provider-config.h"

struct _HelixProviderConfig
{
  GObject   parent_instance;

  char     *id;
  char     *name;
  char     *kind;
  char     *base_url;
  char    **models;
  gboolean  enabled;
};

G_DEFINE_FINAL_TYPE (HelixProviderConfig, helix_provider_config, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ID,
  PROP_NAME,
  PROP_KIND,
  PROP_BASE_URL,
  PROP_ENABLED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
helix_provider_config_finalize (GObject *object)
{
  HelixProviderConfig *self = HELIX_PROVIDER_CONFIG (object);

  g_clear_pointer (&self->id, g_free);
  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->kind, g_free);
  g_clear_pointer (&self->base_url, g_free);
  g_clear_pointer (&self->models, g_strfreev);

  G_OBJECT_CLASS (helix_provider_config_parent_class)->finalize (object);
}

static void
helix_provider_config_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  HelixProviderConfig *self = HELIX_PROVIDER_CONFIG (object);

  switch (prop_id)
    {
    case PROP_ID:
      g_value_set_string (value, self->id);
      break;

    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;

    case PROP_KIND:
      g_value_set_string (value, self->kind);
      break;

    case PROP_BASE_URL:
      g_value_set_string (value, self->base_url);
      break;

    case PROP_ENABLED:
      g_value_set_boolean (value, self->enabled);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_provider_config_class_init (HelixProviderConfigClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = helix_provider_config_finalize;
  object_class->get_property = helix_provider_config_get_property;

  properties[PROP_ID] =
    g_param_spec_string ("id", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_KIND] =
    g_param_spec_string ("kind", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_BASE_URL] =
    g_param_spec_string ("base-url", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_ENABLED] =
    g_param_spec_boolean ("enabled", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
helix_provider_config_init (HelixProviderConfig *self)
{
}

/**
 * helix_provider_config_new:
 * @id: (nullable): the stable id, or %NULL while it has none (a new provider)
 * @name: the name people see
 * @kind: "openai", "anthropic" or "gemini"
 * @base_url: (nullable): the API root, or %NULL or "" for the vendor's own
 * @models: the models it serves
 * @enabled: whether the router may use it
 *
 * Returns: (transfer full): a configuration
 */
HelixProviderConfig *
helix_provider_config_new (const char         *id,
                           const char         *name,
                           const char         *kind,
                           const char         *base_url,
                           const char * const *models,
                           gboolean            enabled)
{
  HelixProviderConfig *self;

  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (kind != NULL, NULL);

  self = g_object_new (HELIX_TYPE_PROVIDER_CONFIG, NULL);
  self->id = g_strdup (id);
  self->name = g_strdup (name);
  self->kind = g_strdup (kind);
  self->base_url = g_strdup (base_url != NULL ? base_url : "");
  self->models = models != NULL ? g_strdupv ((char **) models) : g_new0 (char *, 1);
  self->enabled = !!enabled;

  return self;
}

/* The same configuration, enabled or not. */
HelixProviderConfig *
helix_provider_config_copy_enabled (HelixProviderConfig *self,
                                    gboolean             enabled)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_CONFIG (self), NULL);

  return helix_provider_config_new (self->id, self->name, self->kind, self->base_url,
                                    (const char * const *) self->models, enabled);
}

const char *
helix_provider_config_get_id (HelixProviderConfig *self)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_CONFIG (self), NULL);

  return self->id;
}

const char *
helix_provider_config_get_name (HelixProviderConfig *self)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_CONFIG (self), NULL);

  return self->name;
}

const char *
helix_provider_config_get_kind (HelixProviderConfig *self)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_CONFIG (self), NULL);

  return self->kind;
}

/* The base URL as configured: "" for the vendor's own. */
const char *
helix_provider_config_get_base_url (HelixProviderConfig *self)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_CONFIG (self), NULL);

  return self->base_url;
}

/* The base URL the provider uses: the configured one or the vendor's. */
const char *
helix_provider_config_get_effective_base_url (HelixProviderConfig *self)
{
  const char *url;

  g_return_val_if_fail (HELIX_IS_PROVIDER_CONFIG (self), NULL);

  if (*self->base_url != '\0')
    return self->base_url;

  url = helix_http_provider_default_base_url (self->kind);
  return url != NULL ? url : "";
}

const char * const *
helix_provider_config_get_models (HelixProviderConfig *self)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_CONFIG (self), NULL);

  return (const char * const *) self->models;
}

gboolean
helix_provider_config_get_enabled (HelixProviderConfig *self)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_CONFIG (self), FALSE);

  return self->enabled;
}

/* Whether the provider runs on this computer (free, and needs no key). */
gboolean
helix_provider_config_is_local (HelixProviderConfig *self)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_CONFIG (self), FALSE);

  return helix_provider_url_is_loopback (helix_provider_config_get_effective_base_url (self));
}

/**
 * helix_provider_url_is_loopback:
 * @url: an http(s) URL
 *
 * Returns: whether the host of @url is this computer: "localhost" (or a name
 *   below it) or a loopback address (127.0.0.0/8, ::1)
 */
gboolean
helix_provider_url_is_loopback (const char *url)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GInetAddress) address = NULL;
  g_autofree char *host = NULL;
  const char *raw;

  if (url == NULL)
    return FALSE;

  uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  raw = uri != NULL ? g_uri_get_host (uri) : NULL;
  if (raw == NULL || *raw == '\0')
    return FALSE;

  host = g_ascii_strdown (raw, -1);
  if (g_str_equal (host, "localhost") || g_str_has_suffix (host, ".localhost"))
    return TRUE;

  address = g_inet_address_new_from_string (host);
  return address != NULL && g_inet_address_get_is_loopback (address);
}

/**
 * helix_provider_parse_models:
 * @text: model names separated by commas (or white space)
 *
 * Returns: (transfer full): the names, trimmed, without empty ones or repeats
 */
char **
helix_provider_parse_models (const char *text)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_auto(GStrv) parts = NULL;

  if (text == NULL)
    return g_new0 (char *, 1);

  parts = g_strsplit_set (text, ", \t\n", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      if (*parts[i] == '\0' || !g_hash_table_add (seen, parts[i]))
        continue;
      g_strv_builder_add (builder, parts[i]);
    }

  return g_strv_builder_end (builder);
}
