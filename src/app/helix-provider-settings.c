/* helix-provider-settings.c: the AI providers and spending limits the user configured
 *
 * The list of providers (id, name, kind, base URL, models, enabled) is kept in
 * GSettings (key "providers"); each provider's API key only in the keyring
 * (libsecret, schema HELIX_PROVIDER_KEY_SCHEMA_NAME, attribute "provider" =
 * id), read and written asynchronously. Keys never go to GSettings, the
 * database, the logs or a command line. If the keyring is missing or locked,
 * the settings say so (HelixProviderSettings:keyring-error) and store nothing
 * anywhere else; providers that need no key still work.
 *
 * The configuration is applied to a HelixRouter: every enabled provider is
 * made with helix_http_provider_new_for_kind() and added under its id, once
 * its key was looked up (at once for a provider on this computer, which needs
 * none). An edit removes it from the router and adds it again. Models of a
 * local provider that the price table does not know get a free entry (tier
 * 2); those of a remote provider stay unpriced, which the router does not use
 * for an automatic choice (a user can still pin them).
 *
 * The spending limits (keys budget-*) are applied to the router's HelixBudget
 * as they change, and so are its health checks (health-check-interval-ms) and
 * the cooldown of its circuit breakers (breaker-cooldown-ms).
 *
 * This is a GListModel of HelixProviderConfig. No GTK here.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-providers"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>
#include <libsecret/secret.h>

#include "helix-audit-gate.h"
#include "helix-http-provider.h"
#include "helix-json.h"
#include "helix-keyring-items.h"
#include "helix-provider-settings.h"

/* What the price table gets for an unknown model of a local server. */
#define LOCAL_TIER     2
#define LOCAL_CONTEXT  32768

struct _HelixProviderSettings
{
  GObject       parent_instance;

  GSettings    *settings;
  HelixRouter  *router;
  GPtrArray    *configs;      /* HelixProviderConfig, in the order of the settings */
  GHashTable   *keys;         /* id → API key (wiped when dropped) */
  GHashTable   *problems;     /* id → why it is not in the router */
  GHashTable   *local_prices; /* id → GStrv: the free entries it put in the price table */
  char         *keyring_error;
  GCancellable *cancellable;
  HelixAudit   *audit;         /* (nullable) */
  char         *audit_error;   /* why there is no audit trail, if it failed */

  guint         loading : 1;
  guint         keys_loaded : 1;
};

static void list_model_iface_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (HelixProviderSettings, helix_provider_settings, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, list_model_iface_init))

G_DEFINE_QUARK (helix-provider-settings-error-quark, helix_provider_settings_error)

enum {
  PROP_0,
  PROP_SETTINGS,
  PROP_ROUTER,
  PROP_LOADING,
  PROP_KEYRING_ERROR,
  N_PROPS
};

enum {
  STATE_CHANGED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static const SecretSchema *
get_schema (void)
{
  static const SecretSchema schema = {
    HELIX_PROVIDER_KEY_SCHEMA_NAME, SECRET_SCHEMA_NONE,
    {
      { "provider", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
    }
  };

  return &schema;
}

static gboolean
kind_is_known (const char *kind)
{
  return g_strcmp0 (kind, "openai") == 0 || g_strcmp0 (kind, "anthropic") == 0 ||
         g_strcmp0 (kind, "gemini") == 0;
}

/* GListModel {{{1 */

static GType
get_item_type (GListModel *model)
{
  return HELIX_TYPE_PROVIDER_CONFIG;
}

static guint
get_n_items (GListModel *model)
{
  return HELIX_PROVIDER_SETTINGS (model)->configs->len;
}

static gpointer
get_item (GListModel *model,
          guint       position)
{
  HelixProviderSettings *self = HELIX_PROVIDER_SETTINGS (model);

  if (position >= self->configs->len)
    return NULL;

  return g_object_ref (g_ptr_array_index (self->configs, position));
}

static void
list_model_iface_init (GListModelInterface *iface)
{
  iface->get_item_type = get_item_type;
  iface->get_n_items = get_n_items;
  iface->get_item = get_item;
}

/* State {{{1 */

static gboolean
find_position (HelixProviderSettings *self,
               const char            *id,
               guint                 *position)
{
  for (guint i = 0; i < self->configs->len; i++)
    {
      HelixProviderConfig *config = g_ptr_array_index (self->configs, i);

      if (g_strcmp0 (helix_provider_config_get_id (config), id) == 0)
        {
          if (position != NULL)
            *position = i;
          return TRUE;
        }
    }

  return FALSE;
}

static void
set_keyring_error (HelixProviderSettings *self,
                   const char            *message)
{
  if (g_strcmp0 (self->keyring_error, message) == 0)
    return;

  g_free (self->keyring_error);
  self->keyring_error = g_strdup (message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_KEYRING_ERROR]);
}

static void
set_problem (HelixProviderSettings *self,
             const char            *id,
             const char            *problem)
{
  if (problem != NULL)
    g_hash_table_replace (self->problems, g_strdup (id), g_strdup (problem));
  else
    g_hash_table_remove (self->problems, id);
}

/* Not secret: what the settings hold. */
static void
write_settings (HelixProviderSettings *self)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssssasb)"));
  for (guint i = 0; i < self->configs->len; i++)
    {
      HelixProviderConfig *config = g_ptr_array_index (self->configs, i);

      g_variant_builder_add (&builder, "(ssss^asb)",
                             helix_provider_config_get_id (config),
                             helix_provider_config_get_name (config),
                             helix_provider_config_get_kind (config),
                             helix_provider_config_get_base_url (config),
                             helix_provider_config_get_models (config),
                             helix_provider_config_get_enabled (config));
    }

  g_settings_set_value (self->settings, "providers", g_variant_builder_end (&builder));
}

static void
read_settings (HelixProviderSettings *self)
{
  g_autoptr(GVariant) value = g_settings_get_value (self->settings, "providers");
  GVariantIter iter;
  const char *id;
  const char *name;
  const char *kind;
  const char *base_url;
  const char **models;
  gboolean enabled;

  g_variant_iter_init (&iter, value);
  while (g_variant_iter_next (&iter, "(&s&s&s&s^a&sb)", &id, &name, &kind, &base_url, &models,
                              &enabled))
    {
      if (*id == '\0' || find_position (self, id, NULL))
        g_message ("Ignoring a provider in the settings with an empty or repeated id “%s”", id);
      else
        g_ptr_array_add (self->configs,
                         helix_provider_config_new (id, name, kind, base_url, models, enabled));
      g_free (models);
    }
}

/* The router {{{1 */

/* Takes out the free entries price_local_models() made for @id: a remote
 * provider that takes its name later must not inherit them. */
static void
unprice_local_models (HelixProviderSettings *self,
                      const char            *id)
{
  HelixPriceTable *prices = helix_router_get_prices (self->router);
  GStrv models = g_hash_table_lookup (self->local_prices, id);

  for (guint i = 0; models != NULL && models[i] != NULL; i++)
    helix_price_table_remove (prices, id, models[i]);
  g_hash_table_remove (self->local_prices, id);
}

/* Free entries for the models of a server on this computer that the price
 * table does not know. */
static void
price_local_models (HelixProviderSettings *self,
                    HelixProviderConfig   *config)
{
  HelixPriceTable *prices = helix_router_get_prices (self->router);
  const char *id = helix_provider_config_get_id (config);
  const char * const *models = helix_provider_config_get_models (config);
  g_autoptr(GStrvBuilder) priced = g_strv_builder_new ();

  for (guint i = 0; models[i] != NULL; i++)
    {
      HelixModelPrice price = { 0, };

      if (helix_price_table_lookup (prices, id, models[i]) != NULL)
        continue;

      price.provider = (char *) id;
      price.model = (char *) models[i];
      price.tier = LOCAL_TIER;
      price.context = LOCAL_CONTEXT;
      price.streaming = TRUE;
      helix_price_table_set (prices, &price);
      g_strv_builder_add (priced, models[i]);
    }

  g_hash_table_replace (self->local_prices, g_strdup (id), g_strv_builder_end (priced));
}

/* Puts the provider into the router as configured: removes what was there,
 * adds it again if it is enabled and its key is known. */
static void
apply_config (HelixProviderSettings *self,
              HelixProviderConfig   *config)
{
  const char *id = helix_provider_config_get_id (config);
  const char *base_url = helix_provider_config_get_base_url (config);
  g_autoptr(HelixHttpProvider) provider = NULL;
  g_autoptr(GError) error = NULL;
  gboolean local = helix_provider_config_is_local (config);

  if (helix_router_remove_provider (self->router, id))
    g_debug ("Removed %s from the router", id);
  unprice_local_models (self, id);
  set_problem (self, id, NULL);

  if (!helix_provider_config_get_enabled (config))
    goto out;

  /* A remote provider waits for its key; a local one needs none (one found
   * later is added with it). */
  if (!local && !self->keys_loaded)
    goto out;

  provider = helix_http_provider_new_for_kind (helix_provider_config_get_kind (config),
                                               helix_provider_config_get_name (config),
                                               *base_url != '\0' ? base_url : NULL, NULL,
                                               &error);
  if (provider == NULL)
    {
      g_message ("Cannot use the provider %s: %s", id, error->message);
      set_problem (self, id, error->message);
      goto out;
    }
  if (g_hash_table_contains (self->keys, id))
    {
      /* One key, or a pool of them (one per line in the keyring item). */
      g_auto(GStrv) keys = helix_http_provider_parse_api_keys (g_hash_table_lookup (self->keys, id),
                                                               &error);

      if (keys == NULL)
        {
          g_message ("Cannot use the provider %s: its keyring item: %s", id, error->message);
          set_problem (self, id, error->message);
          g_clear_object (&provider);
          goto out;
        }
      helix_http_provider_set_api_keys (provider, (const char * const *) keys);
    }

  if (local)
    price_local_models (self, config);

  helix_router_add_provider (self->router, HELIX_PROVIDER (provider), id,
                             helix_provider_config_get_models (config));
  g_debug ("Added %s to the router (%s, %s)", id, helix_provider_config_get_kind (config),
           local ? "local" : "remote");

out:
  g_signal_emit (self, signals[STATE_CHANGED], 0, id);
}

static void
apply_all (HelixProviderSettings *self)
{
  g_autoptr(GPtrArray) configs = g_ptr_array_copy (self->configs, (GCopyFunc) g_object_ref, NULL);

  g_ptr_array_set_free_func (configs, g_object_unref);
  for (guint i = 0; i < configs->len; i++)
    apply_config (self, g_ptr_array_index (configs, i));
}

/* Spending limits {{{1 */

static void
apply_budget (HelixProviderSettings *self)
{
  HelixBudget *budget = helix_router_get_budget (self->router);
  g_autofree char *over = NULL;

  if (budget == NULL)
    return;

  over = g_settings_get_string (self->settings, "budget-over-cap");
  helix_budget_set_limit (budget, HELIX_BUDGET_SCOPE_USER, HELIX_BUDGET_PERIOD_DAY,
                          g_settings_get_double (self->settings, "budget-daily-usd"));
  helix_budget_set_limit (budget, HELIX_BUDGET_SCOPE_USER, HELIX_BUDGET_PERIOD_MONTH,
                          g_settings_get_double (self->settings, "budget-monthly-usd"));
  helix_budget_set_over_policy (budget, g_str_equal (over, "downgrade")
                                        ? HELIX_BUDGET_OVER_DOWNGRADE
                                        : HELIX_BUDGET_OVER_REFUSE);
}

static void
on_budget_changed (HelixProviderSettings *self,
                   const char            *key,
                   GSettings             *settings)
{
  apply_budget (self);
}

/* Health checks {{{1 */

static void
apply_health (HelixProviderSettings *self)
{
  guint interval_ms = g_settings_get_uint (self->settings, "health-check-interval-ms");

  helix_router_set_cooldown (self->router,
                             g_settings_get_uint (self->settings, "breaker-cooldown-ms"));
  /* Setting it restarts the timer: only when it changed. */
  if (interval_ms != helix_router_get_health_interval (self->router))
    helix_router_set_health_interval (self->router, interval_ms);
}

static void
on_health_changed (HelixProviderSettings *self,
                   const char            *key,
                   GSettings             *settings)
{
  apply_health (self);
}

/* Loading the keys {{{1 */

/* Through helix_keyring_items_load_async(), shared with the webhook settings. */

static char *
keyring_message (const char *detail)
{
  return g_strdup_printf (_("The keyring is not available, so Helix cannot read or store API "
                            "keys. Providers that need no key still work. Make sure the keyring "
                            "(for example GNOME Keyring) is running and unlocked, then restart "
                            "Helix. (%s)"),
                          detail);
}

static void
keys_loaded (HelixProviderSettings *self,
             const GError          *error)
{
  g_assert (self->loading);

  if (error != NULL)
    {
      g_autofree char *message = keyring_message (error->message);

      g_message ("Could not read the API keys from the keyring: %s", error->message);
      set_keyring_error (self, message);
    }

  self->loading = FALSE;
  self->keys_loaded = TRUE;
  apply_all (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADING]);
}

static void
keys_read_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(HelixProviderSettings) self = user_data;
  g_autoptr(GHashTable) keys = NULL;
  g_autoptr(GError) error = NULL;
  GHashTableIter iter;
  gpointer id;
  gpointer key;

  keys = helix_keyring_items_load_finish (result, &error);
  if (keys == NULL)
    {
      keys_loaded (self, error);
      return;
    }

  g_hash_table_iter_init (&iter, keys);
  while (g_hash_table_iter_next (&iter, &id, &key))
    {
      g_hash_table_replace (self->keys, g_strdup (id), key);
      g_hash_table_iter_steal (&iter);
      g_free (id);
    }

  g_debug ("Found %u API keys in the keyring", g_hash_table_size (self->keys));
  keys_loaded (self, NULL);
}

static void
load_keys (HelixProviderSettings *self)
{
  self->loading = TRUE;
  helix_keyring_items_load_async (get_schema (), "provider", self->cancellable, keys_read_cb,
                                  g_object_ref (self));
}

/* GObject {{{1 */

static void
helix_provider_settings_constructed (GObject *object)
{
  HelixProviderSettings *self = HELIX_PROVIDER_SETTINGS (object);

  G_OBJECT_CLASS (helix_provider_settings_parent_class)->constructed (object);

  g_assert (G_IS_SETTINGS (self->settings));
  g_assert (HELIX_IS_ROUTER (self->router));

  read_settings (self);

  g_signal_connect_object (self->settings, "changed::budget-daily-usd",
                           G_CALLBACK (on_budget_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "changed::budget-monthly-usd",
                           G_CALLBACK (on_budget_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "changed::budget-over-cap",
                           G_CALLBACK (on_budget_changed), self, G_CONNECT_SWAPPED);
  apply_budget (self);

  g_signal_connect_object (self->settings, "changed::health-check-interval-ms",
                           G_CALLBACK (on_health_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "changed::breaker-cooldown-ms",
                           G_CALLBACK (on_health_changed), self, G_CONNECT_SWAPPED);
  apply_health (self);

  /* Local providers at once; the others when their keys are known. */
  load_keys (self);
  apply_all (self);
}

static void
helix_provider_settings_dispose (GObject *object)
{
  HelixProviderSettings *self = HELIX_PROVIDER_SETTINGS (object);

  g_cancellable_cancel (self->cancellable);

  G_OBJECT_CLASS (helix_provider_settings_parent_class)->dispose (object);
}

static void
helix_provider_settings_finalize (GObject *object)
{
  HelixProviderSettings *self = HELIX_PROVIDER_SETTINGS (object);

  g_clear_object (&self->settings);
  g_clear_object (&self->router);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->configs, g_ptr_array_unref);
  g_clear_pointer (&self->keys, g_hash_table_unref);
  g_clear_pointer (&self->problems, g_hash_table_unref);
  g_clear_pointer (&self->local_prices, g_hash_table_unref);
  g_clear_pointer (&self->keyring_error, g_free);
  g_clear_object (&self->audit);
  g_clear_pointer (&self->audit_error, g_free);

  G_OBJECT_CLASS (helix_provider_settings_parent_class)->finalize (object);
}

static void
helix_provider_settings_get_property (GObject    *object,
                                      guint       prop_id,
                                      GValue     *value,
                                      GParamSpec *pspec)
{
  HelixProviderSettings *self = HELIX_PROVIDER_SETTINGS (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      g_value_set_object (value, self->settings);
      break;

    case PROP_ROUTER:
      g_value_set_object (value, self->router);
      break;

    case PROP_LOADING:
      g_value_set_boolean (value, self->loading);
      break;

    case PROP_KEYRING_ERROR:
      g_value_set_string (value, self->keyring_error);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_provider_settings_set_property (GObject      *object,
                                      guint         prop_id,
                                      const GValue *value,
                                      GParamSpec   *pspec)
{
  HelixProviderSettings *self = HELIX_PROVIDER_SETTINGS (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      self->settings = g_value_dup_object (value);
      break;

    case PROP_ROUTER:
      self->router = g_value_dup_object (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_provider_settings_class_init (HelixProviderSettingsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = helix_provider_settings_constructed;
  object_class->dispose = helix_provider_settings_dispose;
  object_class->finalize = helix_provider_settings_finalize;
  object_class->get_property = helix_provider_settings_get_property;
  object_class->set_property = helix_provider_settings_set_property;

  /**
   * HelixProviderSettings:settings:
   *
   * The application's settings (schema ai.helix.Helix).
   */
  properties[PROP_SETTINGS] =
    g_param_spec_object ("settings", NULL, NULL, G_TYPE_SETTINGS,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HelixProviderSettings:router:
   *
   * The router the providers are added to; its budget gets the limits.
   */
  properties[PROP_ROUTER] =
    g_param_spec_object ("router", NULL, NULL, HELIX_TYPE_ROUTER,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HelixProviderSettings:loading:
   *
   * Whether the API keys are being read from the keyring.
   */
  properties[PROP_LOADING] =
    g_param_spec_boolean ("loading", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * HelixProviderSettings:keyring-error:
   *
   * Why the keyring could not be used, for people, or %NULL.
   */
  properties[PROP_KEYRING_ERROR] =
    g_param_spec_string ("keyring-error", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * HelixProviderSettings::state-changed:
   * @self: the settings
   * @id: the provider's id
   *
   * The provider was (re)applied to the router: its key, its problem or its
   * presence in the router may have changed.
   */
  signals[STATE_CHANGED] =
    g_signal_new ("state-changed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
helix_provider_settings_init (HelixProviderSettings *self)
{
  self->configs = g_ptr_array_new_with_free_func (g_object_unref);
  self->keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, helix_keyring_secret_free);
  self->problems = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->local_prices = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_strfreev);
  self->cancellable = g_cancellable_new ();
}

/* Public API {{{1 */

/**
 * helix_provider_settings_new:
 * @settings: the application's settings (schema ai.helix.Helix)
 * @router: the router to add the providers to
 *
 * Reads the providers from @settings and starts reading their keys from the
 * keyring; providers are added to @router as soon as they can be.
 *
 * Returns: (transfer full): the settings
 */
HelixProviderSettings *
helix_provider_settings_new (GSettings   *settings,
                             HelixRouter *router)
{
  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);
  g_return_val_if_fail (HELIX_IS_ROUTER (router), NULL);

  return g_object_new (HELIX_TYPE_PROVIDER_SETTINGS,
                       "settings", settings,
                       "router", router,
                       NULL);
}

HelixRouter *
helix_provider_settings_get_router (HelixProviderSettings *self)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_SETTINGS (self), NULL);

  return self->router;
}

GSettings *
helix_provider_settings_get_settings (HelixProviderSettings *self)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_SETTINGS (self), NULL);

  return self->settings;
}

gboolean
helix_provider_settings_get_loading (HelixProviderSettings *self)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_SETTINGS (self), FALSE);

  return self->loading;
}

const char *
helix_provider_settings_get_keyring_error (HelixProviderSettings *self)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_SETTINGS (self), NULL);

  return self->keyring_error;
}

/**
 * helix_provider_settings_lookup:
 * @self: the settings
 * @id: a provider's id
 *
 * Returns: (transfer none) (nullable): its configuration
 */
HelixProviderConfig *
helix_provider_settings_lookup (HelixProviderSettings *self,
                                const char            *id)
{
  guint position;

  g_return_val_if_fail (HELIX_IS_PROVIDER_SETTINGS (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);

  if (!find_position (self, id, &position))
    return NULL;

  return g_ptr_array_index (self->configs, position);
}

/**
 * helix_provider_settings_lookup_by_name:
 * @self: the settings
 * @name: a provider's name (compared without case)
 *
 * Returns: (transfer none) (nullable): its configuration
 */
HelixProviderConfig *
helix_provider_settings_lookup_by_name (HelixProviderSettings *self,
                                        const char            *name)
{
  g_autofree char *folded = NULL;

  g_return_val_if_fail (HELIX_IS_PROVIDER_SETTINGS (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);

  folded = g_utf8_casefold (name, -1);
  for (guint i = 0; i < self->configs->len; i++)
    {
      HelixProviderConfig *config = g_ptr_array_index (self->configs, i);
      g_autofree char *other = g_utf8_casefold (helix_provider_config_get_name (config), -1);

      if (g_str_equal (folded, other))
        return config;
    }

  return NULL;
}

/* Whether an API key of the provider was found in (or stored to) the keyring. */
gboolean
helix_provider_settings_has_key (HelixProviderSettings *self,
                                 const char            *id)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_SETTINGS (self), FALSE);
  g_return_val_if_fail (id != NULL, FALSE);

  return g_hash_table_contains (self->keys, id);
}

/**
 * helix_provider_settings_get_problem:
 * @self: the settings
 * @id: a provider's id
 *
 * Returns: (nullable): why the enabled provider could not be added to the
 *   router, for people, or %NULL
 */
const char *
helix_provider_settings_get_problem (HelixProviderSettings *self,
                                     const char            *id)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_SETTINGS (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);

  return g_hash_table_lookup (self->problems, id);
}

/* Whether the price table knows @model of the provider: an unpriced one is
 * not used for an automatic choice. */
gboolean
helix_provider_settings_is_priced (HelixProviderSettings *self,
                                   const char            *id,
                                   const char            *model)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_SETTINGS (self), FALSE);
  g_return_val_if_fail (id != NULL && model != NULL, FALSE);

  return helix_price_table_lookup (helix_router_get_prices (self->router), id, model) != NULL;
}

/**
 * helix_provider_settings_validate:
 * @self: the settings
 * @config: a configuration to save; its id is %NULL for a new provider
 * @error: return location for a #GError (%HELIX_PROVIDER_SETTINGS_ERROR_INVALID)
 *
 * Checks what a user entered: a name no other provider has, a known kind, an
 * http(s) base URL, and at least one model.
 *
 * Returns: whether @config can be saved
 */
gboolean
helix_provider_settings_validate (HelixProviderSettings  *self,
                                  HelixProviderConfig    *config,
                                  GError                **error)
{
  g_autofree char *name = NULL;
  g_autoptr(HelixHttpProvider) provider = NULL;
  g_autoptr(GError) local_error = NULL;
  HelixProviderConfig *other;
  const char *base_url;
  const char *id;

  g_return_val_if_fail (HELIX_IS_PROVIDER_SETTINGS (self), FALSE);
  g_return_val_if_fail (HELIX_IS_PROVIDER_CONFIG (config), FALSE);

  id = helix_provider_config_get_id (config);
  name = g_strstrip (g_strdup (helix_provider_config_get_name (config)));
  if (*name == '\0')
    {
      g_set_error_literal (error, HELIX_PROVIDER_SETTINGS_ERROR,
                           HELIX_PROVIDER_SETTINGS_ERROR_INVALID,
                           _("Enter a name for the provider."));
      return FALSE;
    }

  other = helix_provider_settings_lookup_by_name (self, name);
  if (other != NULL && g_strcmp0 (helix_provider_config_get_id (other), id) != 0)
    {
      g_set_error (error, HELIX_PROVIDER_SETTINGS_ERROR, HELIX_PROVIDER_SETTINGS_ERROR_INVALID,
                   _("There is already a provider named “%s”. Choose another name."), name);
      return FALSE;
    }

  if (!kind_is_known (helix_provider_config_get_kind (config)))
    {
      g_set_error (error, HELIX_PROVIDER_SETTINGS_ERROR, HELIX_PROVIDER_SETTINGS_ERROR_INVALID,
                   _("Unknown kind of provider “%s”: choose OpenAI-compatible, Anthropic or "
                     "Google Gemini."),
                   helix_provider_config_get_kind (config));
      return FALSE;
    }

  /* The provider checks its address itself, and says what is wrong. */
  base_url = helix_provider_config_get_base_url (config);
  provider = helix_http_provider_new_for_kind (helix_provider_config_get_kind (config), name,
                                               *base_url != '\0' ? base_url : NULL, NULL,
                                               &local_error);
  if (provider == NULL)
    {
      g_set_error_literal (error, HELIX_PROVIDER_SETTINGS_ERROR,
                           HELIX_PROVIDER_SETTINGS_ERROR_INVALID, local_error->message);
      return FALSE;
    }

  if (helix_provider_config_get_models (config)[0] == NULL)
    {
      g_set_error_literal (error, HELIX_PROVIDER_SETTINGS_ERROR,
                           HELIX_PROVIDER_SETTINGS_ERROR_INVALID,
                           _("Enter at least one model, or fetch the list from the provider."));
      return FALSE;
    }

  return TRUE;
}

/* A stable id from the name: "DeepSeek" → "deepseek", like the price table
 * names the vendors; made unique with a number. */
static char *
make_id (HelixProviderSettings *self,
         const char            *name)
{
  g_autoptr(GString) slug = g_string_new (NULL);
  g_autofree char *candidate = NULL;

  for (const char *p = name; *p != '\0'; p++)
    {
      if (g_ascii_isalnum (*p))
        g_string_append_c (slug, g_ascii_tolower (*p));
      else if (slug->len > 0 && slug->str[slug->len - 1] != '-')
        g_string_append_c (slug, '-');
    }
  while (slug->len > 0 && slug->str[slug->len - 1] == '-')
    g_string_truncate (slug, slug->len - 1);
  if (slug->len == 0)
    g_string_assign (slug, "provider");

  candidate = g_strdup (slug->str);
  for (guint n = 2; find_position (self, candidate, NULL); n++)
    {
      g_free (candidate);
      candidate = g_strdup_printf ("%s-%u", slug->str, n);
    }

  return g_steal_pointer (&candidate);
}

/* Adds or replaces @config (which has an id), in the settings and the router. */
static void
commit_config (HelixProviderSettings *self,
               HelixProviderConfig   *config)
{
  guint position;

  if (find_position (self, helix_provider_config_get_id (config), &position))
    {
      HelixProviderConfig *old = g_ptr_array_index (self->configs, position);

      g_ptr_array_index (self->configs, position) = g_object_ref (config);
      g_object_unref (old);
      write_settings (self);
      apply_config (self, config);
      g_list_model_items_changed (G_LIST_MODEL (self), position, 1, 1);
    }
  else
    {
      g_ptr_array_add (self->configs, g_object_ref (config));
      write_settings (self);
      apply_config (self, config);
      g_list_model_items_changed (G_LIST_MODEL (self), self->configs->len - 1, 0, 1);
    }
}

/* Save {{{2 */

typedef struct
{
  HelixProviderConfig *config;
  HelixProviderConfig *old_config;
  char                *api_key;
} Save;

static void
save_free (Save *save)
{
  g_clear_object (&save->config);
  g_clear_object (&save->old_config);
  g_clear_pointer (&save->api_key, helix_keyring_secret_free);
  g_free (save);
}

static void
stale_key_cleared_cb (GObject      *object,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  secret_password_clear_finish (result, &error);
  if (error != NULL)
    g_debug ("Could not look for a stale API key: %s", error->message);
}

static void
save_commit (GTask *task)
{
  HelixProviderSettings *self = g_task_get_source_object (task);
  Save *save = g_task_get_task_data (task);
  const char *id = helix_provider_config_get_id (save->config);

  if (save->api_key != NULL)
    g_hash_table_replace (self->keys, g_strdup (id), g_steal_pointer (&save->api_key));

  commit_config (self, save->config);

  /* A key left behind by a provider of the same id whose key could not be
   * removed must not come back with this one. */
  if (save->old_config == NULL && !g_hash_table_contains (self->keys, id))
    secret_password_clear (get_schema (), NULL, stale_key_cleared_cb, NULL, "provider", id, NULL);

  g_task_return_pointer (task, g_object_ref (save->config), g_object_unref);
}

/* Audit {{{2 */

/* Changes to providers and their keys are privileged: each is written to
 * the audit trail first and made only if that worked (fail closed). */
static void
audit_then (HelixProviderSettings *self,
            GTask                 *task,
            const char            *event,
            const char            *payload,
            HelixAuditGateFunc     then)
{
  helix_audit_gate (self->audit, self->audit_error, task, event, payload,
                    HELIX_PROVIDER_SETTINGS_ERROR, HELIX_PROVIDER_SETTINGS_ERROR_AUDIT,
                    _("Helix did not change the providers"), then);
}

/* What an audit entry says of a provider: never its key. */
static char *
describe_config (HelixProviderConfig *config,
                 const char          *key)
{
  const char * const *models = helix_provider_config_get_models (config);
  GString *out = g_string_new ("{\"id\":");

  helix_json_append_string (out, helix_provider_config_get_id (config));
  g_string_append (out, ",\"name\":");
  helix_json_append_string (out, helix_provider_config_get_name (config));
  if (helix_provider_config_get_kind (config) != NULL)
    {
      g_string_append (out, ",\"kind\":");
      helix_json_append_string (out, helix_provider_config_get_kind (config));
    }
  if (helix_provider_config_get_base_url (config) != NULL)
    {
      g_string_append (out, ",\"base_url\":");
      helix_json_append_string (out, helix_provider_config_get_base_url (config));
    }
  g_string_append (out, ",\"models\":[");
  for (guint i = 0; models != NULL && models[i] != NULL; i++)
    {
      if (i > 0)
        g_string_append_c (out, ',');
      helix_json_append_string (out, models[i]);
    }
  g_string_append_printf (out, "],\"enabled\":%s",
                          helix_provider_config_get_enabled (config) ? "true" : "false");
  if (key != NULL)
    {
      g_string_append (out, ",\"key\":");
      helix_json_append_string (out, key);
    }
  g_string_append_c (out, '}');

  return g_string_free (out, FALSE);
}

static void
save_stored_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HelixProviderSettings *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;

  if (!secret_password_store_finish (result, &error))
    {
      g_debug ("Could not store an API key: %s", error->message);

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_task_return_new_error (task, HELIX_PROVIDER_SETTINGS_ERROR,
                                 HELIX_PROVIDER_SETTINGS_ERROR_KEYRING,
                                 _("The keyring is not available, so Helix did not save the "
                                   "provider. Nothing was stored. Make sure the keyring (for "
                                   "example GNOME Keyring) is running and unlocked, then try "
                                   "again. (%s)"),
                                 error->message);
      return;
    }

  /* The keyring works (again). */
  set_keyring_error (self, NULL);
  save_commit (task);
}

/* Written to the audit trail: store the key, if there is a new one, then the rest. */
static void
save_audited (GTask *task)
{
  Save *save = g_task_get_task_data (task);
  g_autofree char *label = NULL;

  if (save->api_key == NULL)
    {
      save_commit (task);
      return;
    }

  /* Translators: the label of a keyring item; %s is the provider's name. */
  label = g_strdup_printf (_("Helix: API key for %s"), helix_provider_config_get_name (save->config));
  secret_password_store (get_schema (), SECRET_COLLECTION_DEFAULT, label, save->api_key,
                         g_task_get_cancellable (task), save_stored_cb, g_object_ref (task),
                         "provider", helix_provider_config_get_id (save->config),
                         NULL);
}

/**
 * helix_provider_settings_save_async:
 * @self: the settings
 * @config: the configuration: with the id of an existing provider to change
 *   it, or with a %NULL id to add a new one
 * @api_key: (nullable): a new API key for the keyring, or %NULL (or "") to
 *   keep the stored one (or to have none)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: for @callback
 *
 * Validates @config, stores @api_key in the keyring, then the rest in the
 * settings, and applies it to the router. If the key cannot be stored,
 * nothing is saved.
 */
void
helix_provider_settings_save_async (HelixProviderSettings *self,
                                    HelixProviderConfig   *config,
                                    const char            *api_key,
                                    GCancellable          *cancellable,
                                    GAsyncReadyCallback    callback,
                                    gpointer               user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;
  g_autofree char *name = NULL;
  g_autofree char *base_url = NULL;
  g_autofree char *payload = NULL;
  g_auto(GStrv) keys = NULL;
  Save *save;

  g_return_if_fail (HELIX_IS_PROVIDER_SETTINGS (self));
  g_return_if_fail (HELIX_IS_PROVIDER_CONFIG (config));
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_provider_settings_save_async);

  if (!helix_provider_settings_validate (self, config, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (api_key != NULL)
    {
      keys = helix_http_provider_parse_api_keys (api_key, &error);
      if (keys == NULL)
        {
          g_task_return_new_error (task, HELIX_PROVIDER_SETTINGS_ERROR,
                                   HELIX_PROVIDER_SETTINGS_ERROR_INVALID, "%s", error->message);
          return;
        }
    }

  save = g_new0 (Save, 1);
  g_task_set_task_data (task, save, (GDestroyNotify) save_free);

  name = g_strstrip (g_strdup (helix_provider_config_get_name (config)));
  base_url = g_strstrip (g_strdup (helix_provider_config_get_base_url (config)));
  if (helix_provider_config_get_id (config) != NULL)
    {
      id = g_strdup (helix_provider_config_get_id (config));
      save->old_config = helix_provider_settings_lookup (self, id);
      if (save->old_config == NULL)
        {
          g_task_return_new_error (task, HELIX_PROVIDER_SETTINGS_ERROR,
                                   HELIX_PROVIDER_SETTINGS_ERROR_NOT_FOUND,
                                   _("The provider “%s” was removed in the meantime."), name);
          return;
        }
      g_object_ref (save->old_config);
    }
  else
    id = make_id (self, name);

  save->config = helix_provider_config_new (id, name, helix_provider_config_get_kind (config),
                                            base_url, helix_provider_config_get_models (config),
                                            helix_provider_config_get_enabled (config));
  /* Several keys are kept one per line, in one keyring item. */
  if (keys != NULL && keys[0] != NULL)
    save->api_key = g_strjoinv ("\n", keys);

  payload = describe_config (save->config, save->api_key != NULL ? "replaced" : "kept");
  audit_then (self, task, save->old_config != NULL ? "provider.changed" : "provider.added",
              payload, save_audited);
}

/**
 * helix_provider_settings_save_finish:
 * @self: the settings
 * @result: the result
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the saved configuration, with its id
 */
HelixProviderConfig *
helix_provider_settings_save_finish (HelixProviderSettings  *self,
                                     GAsyncResult           *result,
                                     GError                **error)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_SETTINGS (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        helix_provider_settings_save_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Remove {{{2 */

typedef struct
{
  char     *id;
  char     *name;
  gboolean  had_key;
} Remove;

static void
remove_free (Remove *remove)
{
  g_free (remove->id);
  g_free (remove->name);
  g_free (remove);
}

static void
remove_cleared_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Remove *remove = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  secret_password_clear_finish (result, &error);

  /* A provider without a key needs no keyring. */
  if (error != NULL && remove->had_key)
    {
      g_task_return_new_error (task, HELIX_PROVIDER_SETTINGS_ERROR,
                               HELIX_PROVIDER_SETTINGS_ERROR_KEY_NOT_REMOVED,
                               _("Removed “%s”, but its API key could not be removed from the "
                                 "keyring: %s. Remove the item “Helix: API key for %s” with the "
                                 "Passwords and Keys application."),
                               remove->name, error->message, remove->name);
      return;
    }

  if (error != NULL)
    g_debug ("Could not look for the API key of %s: %s", remove->name, error->message);

  g_task_return_boolean (task, TRUE);
}

/* Written to the audit trail: out of the settings and the router at once,
 * then the key out of the keyring. */
static void
remove_audited (GTask *task)
{
  HelixProviderSettings *self = g_task_get_source_object (task);
  Remove *remove = g_task_get_task_data (task);
  guint position;

  /* Removed meanwhile, by another window. */
  if (!find_position (self, remove->id, &position))
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  remove->had_key = g_hash_table_contains (self->keys, remove->id) || !self->keys_loaded;
  helix_router_remove_provider (self->router, remove->id);
  unprice_local_models (self, remove->id);
  g_hash_table_remove (self->keys, remove->id);
  g_hash_table_remove (self->problems, remove->id);
  g_ptr_array_remove_index (self->configs, position);
  write_settings (self);
  g_list_model_items_changed (G_LIST_MODEL (self), position, 1, 0);
  g_debug ("Removed the provider %s", remove->id);

  secret_password_clear (get_schema (), g_task_get_cancellable (task), remove_cleared_cb,
                         g_object_ref (task),
                         "provider", remove->id,
                         NULL);
}

/**
 * helix_provider_settings_remove_async:
 * @self: the settings
 * @id: the provider's id
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: for @callback
 *
 * Removes the provider from the settings and the router at once, then its
 * API key from the keyring.
 */
void
helix_provider_settings_remove_async (HelixProviderSettings *self,
                                      const char            *id,
                                      GCancellable          *cancellable,
                                      GAsyncReadyCallback    callback,
                                      gpointer               user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autofree char *payload = NULL;
  HelixProviderConfig *config;
  Remove *remove;
  guint position;

  g_return_if_fail (HELIX_IS_PROVIDER_SETTINGS (self));
  g_return_if_fail (id != NULL);
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_provider_settings_remove_async);

  if (!find_position (self, id, &position))
    {
      g_task_return_new_error (task, HELIX_PROVIDER_SETTINGS_ERROR,
                               HELIX_PROVIDER_SETTINGS_ERROR_NOT_FOUND,
                               _("There is no provider “%s”."), id);
      return;
    }

  config = g_ptr_array_index (self->configs, position);
  remove = g_new0 (Remove, 1);
  remove->id = g_strdup (id);
  remove->name = g_strdup (helix_provider_config_get_name (config));
  g_task_set_task_data (task, remove, (GDestroyNotify) remove_free);

  payload = describe_config (config, NULL);
  audit_then (self, task, "provider.removed", payload, remove_audited);
}

gboolean
helix_provider_settings_remove_finish (HelixProviderSettings  *self,
                                       GAsyncResult           *result,
                                       GError                **error)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_SETTINGS (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        helix_provider_settings_remove_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * helix_provider_settings_set_audit:
 * @self: the settings
 * @audit: (nullable): the audit trail changes are written to first
 * @unavailable: (nullable): with no @audit, why the trail could not be
 *   opened: then every change is refused (fail closed)
 */
void
helix_provider_settings_set_audit (HelixProviderSettings *self,
                                   HelixAudit            *audit,
                                   const char            *unavailable)
{
  g_return_if_fail (HELIX_IS_PROVIDER_SETTINGS (self));

  g_set_object (&self->audit, audit);
  g_free (self->audit_error);
  self->audit_error = audit == NULL ? g_strdup (unavailable) : NULL;
}

/**
 * helix_provider_settings_set_enabled:
 * @self: the settings
 * @id: the provider's id
 * @enabled: whether the router may use it
 *
 * Returns: %FALSE if there is no such provider
 */
gboolean
helix_provider_settings_set_enabled (HelixProviderSettings *self,
                                     const char            *id,
                                     gboolean               enabled)
{
  g_autoptr(HelixProviderConfig) config = NULL;
  HelixProviderConfig *old;

  g_return_val_if_fail (HELIX_IS_PROVIDER_SETTINGS (self), FALSE);
  g_return_val_if_fail (id != NULL, FALSE);

  old = helix_provider_settings_lookup (self, id);
  if (old == NULL)
    return FALSE;
  if (helix_provider_config_get_enabled (old) == !!enabled)
    return TRUE;

  config = helix_provider_config_copy_enabled (old, enabled);
  commit_config (self, config);

  return TRUE;
}

/* Test connection {{{2 */

/* A connection test: every key of the pool in turn. */
typedef struct
{
  HelixHttpProvider *provider;
  GStrv              keys;    /* (nullable): none for a local server */
  guint              n_keys;
  guint              next;    /* the key being tried */
} TestConnection;

static void
test_connection_free (TestConnection *test)
{
  g_clear_object (&test->provider);
  g_strfreev (test->keys);
  g_free (test);
}

static void test_next_key (GTask *task);

static void
test_listed_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  TestConnection *test = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) models = NULL;

  models = helix_http_provider_list_models_finish (HELIX_HTTP_PROVIDER (object), result, &error);
  if (models == NULL && test->n_keys > 1)
    {
      /* Which key, by its place in the list: never its text. */
      g_task_return_new_error (task, error->domain, error->code, _("API key %u of %u: %s"),
                               test->next + 1, test->n_keys, error->message);
      return;
    }
  if (models == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  if (++test->next < test->n_keys)
    {
      test_next_key (g_steal_pointer (&task));
      return;
    }
  g_task_return_pointer (task, g_steal_pointer (&models), (GDestroyNotify) g_strfreev);
}

static void
test_next_key (GTask *task)
{
  TestConnection *test = g_task_get_task_data (task);

  if (test->keys != NULL)
    helix_http_provider_set_api_key (test->provider, test->keys[test->next]);
  helix_http_provider_list_models_async (test->provider, g_task_get_cancellable (task),
                                         test_listed_cb, task);
}

/**
 * helix_provider_settings_test_async:
 * @self: the settings
 * @config: the values entered (its id, if it has one, finds the stored key)
 * @api_key: (nullable): the key or keys entered, or %NULL (or "") for the stored ones
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: for @callback
 *
 * "Test Connection": asks the provider for its models, with each key of
 * the pool in turn (one key, or several separated by spaces: see
 * helix_http_provider_parse_api_keys()). The errors are for people, say
 * which key failed by its place in the list, and never hold a key.
 */
void
helix_provider_settings_test_async (HelixProviderSettings *self,
                                    HelixProviderConfig   *config,
                                    const char            *api_key,
                                    GCancellable          *cancellable,
                                    GAsyncReadyCallback    callback,
                                    gpointer               user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(HelixHttpProvider) provider = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  g_autofree char *base_url = NULL;
  g_auto(GStrv) keys = NULL;
  TestConnection *test;
  const char *id;

  g_return_if_fail (HELIX_IS_PROVIDER_SETTINGS (self));
  g_return_if_fail (HELIX_IS_PROVIDER_CONFIG (config));
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_provider_settings_test_async);

  id = helix_provider_config_get_id (config);
  if ((api_key == NULL || *api_key == '\0') && id != NULL)
    api_key = g_hash_table_lookup (self->keys, id);
  if (api_key != NULL)
    {
      keys = helix_http_provider_parse_api_keys (api_key, &error);
      if (keys == NULL)
        {
          g_task_return_new_error (task, HELIX_PROVIDER_SETTINGS_ERROR,
                                   HELIX_PROVIDER_SETTINGS_ERROR_INVALID, "%s", error->message);
          return;
        }
      if (keys[0] == NULL)
        g_clear_pointer (&keys, g_strfreev);
    }

  name = g_strstrip (g_strdup (helix_provider_config_get_name (config)));
  if (*name == '\0')
    {
      g_free (name);
      name = g_strdup (_("The provider"));
    }
  base_url = g_strstrip (g_strdup (helix_provider_config_get_base_url (config)));

  provider = helix_http_provider_new_for_kind (helix_provider_config_get_kind (config), name,
                                               *base_url != '\0' ? base_url : NULL, NULL,
                                               &error);
  if (provider == NULL)
    {
      g_task_return_new_error (task, HELIX_PROVIDER_SETTINGS_ERROR,
                               HELIX_PROVIDER_SETTINGS_ERROR_INVALID, "%s", error->message);
      return;
    }

  test = g_new0 (TestConnection, 1);
  test->provider = g_steal_pointer (&provider);
  test->n_keys = keys != NULL ? g_strv_length (keys) : 0;
  test->keys = g_steal_pointer (&keys);
  g_task_set_task_data (task, test, (GDestroyNotify) test_connection_free);
  test_next_key (g_steal_pointer (&task));
}

/**
 * helix_provider_settings_test_finish:
 * @self: the settings
 * @result: the result
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the models the provider serves
 */
GStrv
helix_provider_settings_test_finish (HelixProviderSettings  *self,
                                     GAsyncResult           *result,
                                     GError                **error)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_SETTINGS (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        helix_provider_settings_test_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* A local Ollama {{{2 */

static void
ollama_listed_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HelixProviderSettings *self = g_task_get_source_object (task);
  HelixHttpProvider *provider = HELIX_HTTP_PROVIDER (object);
  g_autoptr(HelixProviderConfig) config = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) models = NULL;
  g_autofree char *id = NULL;

  models = helix_http_provider_list_models_finish (provider, result, &error);
  if (models == NULL || models[0] == NULL)
    {
      /* Nothing to tell the user: there is just no Ollama here. */
      g_debug ("No local Ollama server: %s", error != NULL ? error->message : "no models");
      g_task_return_boolean (task, FALSE);
      return;
    }

  if (helix_provider_settings_lookup_by_name (self, "Ollama") != NULL)
    {
      g_task_return_boolean (task, FALSE);
      return;
    }

  id = make_id (self, "Ollama");
  config = helix_provider_config_new (id, "Ollama", "openai",
                                      helix_http_provider_get_base_url (provider),
                                      (const char * const *) models, TRUE);
  commit_config (self, config);
  g_settings_set_boolean (self->settings, "ollama-offered", TRUE);
  g_message ("Found a local Ollama server with %u models; added it as a provider",
             g_strv_length (models));

  g_task_return_boolean (task, TRUE);
}

/**
 * helix_provider_settings_offer_ollama_async:
 * @self: the settings
 * @base_url: (nullable): where to look, or %NULL for
 *   %HELIX_PROVIDER_SETTINGS_OLLAMA_URL
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: for @callback
 *
 * On a first start (no provider yet, and the setting "ollama-offered" unset),
 * looks for a local Ollama server; if it answers with at least one model, adds
 * it as the provider "Ollama" and sets "ollama-offered". Anything else is no
 * error: there is just no Ollama.
 */
void
helix_provider_settings_offer_ollama_async (HelixProviderSettings *self,
                                            const char            *base_url,
                                            GCancellable          *cancellable,
                                            GAsyncReadyCallback    callback,
                                            gpointer               user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(HelixHttpProvider) provider = NULL;
  g_autoptr(GError) error = NULL;

  g_return_if_fail (HELIX_IS_PROVIDER_SETTINGS (self));
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_provider_settings_offer_ollama_async);

  if (self->configs->len > 0 || g_settings_get_boolean (self->settings, "ollama-offered"))
    {
      g_task_return_boolean (task, FALSE);
      return;
    }

  provider = helix_http_provider_new_for_kind ("openai", "Ollama",
                                               base_url != NULL ? base_url
                                                                : HELIX_PROVIDER_SETTINGS_OLLAMA_URL,
                                               NULL, &error);
  if (provider == NULL)
    {
      g_debug ("Not looking for Ollama: %s", error->message);
      g_task_return_boolean (task, FALSE);
      return;
    }

  helix_http_provider_list_models_async (provider, cancellable, ollama_listed_cb,
                                         g_steal_pointer (&task));
}

/**
 * helix_provider_settings_offer_ollama_finish:
 * @self: the settings
 * @result: the result
 * @error: return location for a #GError
 *
 * Returns: whether Ollama was added
 */
gboolean
helix_provider_settings_offer_ollama_finish (HelixProviderSettings  *self,
                                             GAsyncResult           *result,
                                             GError                **error)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_SETTINGS (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        helix_provider_settings_offer_ollama_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
