/* test-providers.c: the AI providers the user configures (HelixProviderSettings), their
 * keys in a real keyring, the router they are applied to, and Preferences → Providers
 *
 * The keyring is a real gnome-keyring-daemon (helix-test-keyring.h); GSettings is the
 * memory backend; the providers are loopback fakes (fake-provider.c). Every log line of
 * every test, debug included, is checked for the API key: the test aborts if one holds it
 * (as fake_provider_test_init() does, with libsecret's info lines kept off the TAP output).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-test-providers"

#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <adwaita.h>
#include <libsecret/secret.h>
#include <sqlite3.h>

#include "fake-provider.h"
#include "helix-application.h"
#include "helix-http-provider.h"
#include "helix-preferences-window.h"
#include "helix-provider-editor-private.h"
#include "helix-provider-settings.h"
#include "helix-providers-page-private.h"
#include "helix-test-sqlite.h"
#include "helix-test-canary.h"
#include "helix-test-keyring.h"
#include "helix-test-lsan.h"
#include "helix-test-util.h"

#define CANARY    "sk-canary-3f9d1e7a0b5c-never-log-this"
#define WAIT_S    (30 * fake_provider_time_scale ())
#define REMOTE_URL "https://llm.example.com/v1"

typedef struct
{
  GSettings             *settings;
  HelixRouter           *router;
  HelixBudget           *budget;
  HelixProviderSettings *providers;
  FakeProvider          *fake;
} Fixture;

static const char * const setting_keys[] = {
  "providers", "ollama-offered", "budget-daily-usd", "budget-monthly-usd", "budget-over-cap",
  "health-check-interval-ms", "breaker-cooldown-ms",
};

/* Helpers {{{1 */

static const SecretSchema *
key_schema (void)
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

/* The key of provider @id in the keyring, looked up without the code under test. */
static char *
keyring_key (const char *id)
{
  g_autoptr(GHashTable) attributes = secret_attributes_build (key_schema (), "provider", id, NULL);

  return helix_test_keyring_lookup (key_schema (), attributes);
}

/* Whether the keyring has no key of provider @id; %FALSE while it is being
 * removed (a search may find the item, then fail to read it). */
static gboolean
key_is_gone (const char *id)
{
  g_autoptr(GHashTable) attributes = secret_attributes_build (key_schema (), "provider", id, NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GList *items;
  gboolean gone;

  secret_service_search (NULL, key_schema (), attributes, SECRET_SEARCH_ALL, NULL,
                         helix_test_keyring_result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_S, "a keyring search");
  items = secret_service_search_finish (NULL, result, &error);
  gone = error == NULL && items == NULL;
  g_list_free_full (items, g_object_unref);

  return gone;
}

/* No value of the settings holds @secret. */
static void
assert_not_in_settings (GSettings  *settings,
                        const char *secret)
{
  g_autoptr(GSettingsSchema) schema = NULL;
  g_auto(GStrv) keys = NULL;

  g_object_get (settings, "settings-schema", &schema, NULL);
  keys = g_settings_schema_list_keys (schema);
  for (guint i = 0; keys[i] != NULL; i++)
    {
      g_autoptr(GVariant) value = g_settings_get_value (settings, keys[i]);
      g_autofree char *text = g_variant_print (value, FALSE);

      g_assert_null (strstr (text, secret));
    }
}

static gboolean
router_has (HelixRouter *router,
            const char  *name)
{
  g_auto(GStrv) names = helix_router_list_providers (router);

  return g_strv_contains ((const char * const *) names, name);
}

static void
wait_loaded (HelixProviderSettings *providers)
{
  helix_test_wait_for (!helix_provider_settings_get_loading (providers), WAIT_S,
                       "the API keys from the keyring");
}

static HelixProviderSettings *
new_providers (Fixture *f)
{
  HelixProviderSettings *providers = helix_provider_settings_new (f->settings, f->router);

  wait_loaded (providers);
  return providers;
}

static void
result_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static HelixProviderConfig *
save (Fixture              *f,
      HelixProviderConfig  *config,
      const char           *api_key,
      GError              **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  helix_provider_settings_save_async (f->providers, config, api_key, NULL, result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_S, "saving a provider");
  return helix_provider_settings_save_finish (f->providers, result, error);
}

static gboolean
remove_provider (Fixture     *f,
                 const char  *id,
                 GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  helix_provider_settings_remove_async (f->providers, id, NULL, result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_S, "removing a provider");
  return helix_provider_settings_remove_finish (f->providers, result, error);
}

static GStrv
test_connection (Fixture              *f,
                 HelixProviderConfig  *config,
                 const char           *api_key,
                 GError              **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  helix_provider_settings_test_async (f->providers, config, api_key, NULL, result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_S, "a connection test");
  return helix_provider_settings_test_finish (f->providers, result, error);
}

static gboolean
offer_ollama (Fixture    *f,
              const char *url)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  gboolean added;

  helix_provider_settings_offer_ollama_async (f->providers, url, NULL, result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_S, "looking for Ollama");
  added = helix_provider_settings_offer_ollama_finish (f->providers, result, &error);
  g_assert_no_error (error);

  return added;
}

static HelixProviderConfig *
new_config (const char *name,
            const char *base_url,
            gboolean    enabled,
            ...)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) models = NULL;
  const char *model;
  va_list args;

  va_start (args, enabled);
  while ((model = va_arg (args, const char *)) != NULL)
    g_strv_builder_add (builder, model);
  va_end (args);
  models = g_strv_builder_end (builder);

  return helix_provider_config_new (NULL, name, "openai", base_url, (const char * const *) models,
                                    enabled);
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(HelixPriceTable) prices = NULL;
  g_autoptr(GHashTable) every_key = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(SecretService) service = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  /* A keyring without the keys of the tests before. */
  helix_test_keyring_start (TRUE);
  secret_service_get (SECRET_SERVICE_OPEN_SESSION, NULL, helix_test_keyring_result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_S, "the keyring service");
  service = secret_service_get_finish (result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  secret_service_clear (service, key_schema (), every_key, NULL, helix_test_keyring_result_cb,
                        &result);
  helix_test_wait_for (result != NULL, WAIT_S, "clearing the keyring");
  secret_service_clear_finish (service, result, &error);
  g_assert_no_error (error);

  f->settings = g_settings_new ("ai.helix.Helix");
  for (guint i = 0; i < G_N_ELEMENTS (setting_keys); i++)
    g_settings_reset (f->settings, setting_keys[i]);

  prices = helix_price_table_new_default (&error);
  g_assert_no_error (error);
  f->router = helix_router_new (prices);
  f->budget = helix_budget_new ();
  helix_router_set_budget (f->router, f->budget);
  f->fake = fake_provider_new (FAKE_FORMAT_OPENAI);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  if (f->providers != NULL)
    helix_test_assert_finalized (g_steal_pointer (&f->providers));
  g_clear_pointer (&f->fake, fake_provider_free);
  g_clear_object (&f->router);
  g_clear_object (&f->budget);
  for (guint i = 0; i < G_N_ELEMENTS (setting_keys); i++)
    g_settings_reset (f->settings, setting_keys[i]);
  g_clear_object (&f->settings);
}

/* Tests {{{1 */

static void
test_add_with_key (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(HelixProviderConfig) config = NULL;
  g_autoptr(HelixProviderConfig) saved = NULL;
  g_autoptr(HelixProviderSettings) again = NULL;
  g_autoptr(HelixRouter) router2 = NULL;
  g_autoptr(GVariant) raw = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *stored = NULL;
  g_autofree char *raw_text = NULL;
  g_auto(GStrv) models = NULL;
  static const char * const served[] = { "deepseek-chat", NULL };

  f->providers = new_providers (f);
  g_assert_null (helix_provider_settings_get_keyring_error (f->providers));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->providers)), ==, 0);

  config = new_config ("DeepSeek", fake_provider_get_base_url (f->fake), TRUE,
                       "deepseek-chat", "mystery-model", NULL);
  saved = save (f, config, CANARY, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_provider_config_get_id (saved), ==, "deepseek");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->providers)), ==, 1);

  /* The key is in the keyring, and only there. */
  stored = keyring_key ("deepseek");
  g_assert_cmpstr (stored, ==, CANARY);
  raw = g_settings_get_value (f->settings, "providers");
  raw_text = g_variant_print (raw, FALSE);
  g_test_message ("providers = %s", raw_text);
  g_assert_nonnull (strstr (raw_text, "'deepseek'"));
  g_assert_nonnull (strstr (raw_text, "mystery-model"));
  g_assert_null (strstr (raw_text, CANARY));
  assert_not_in_settings (f->settings, CANARY);

  /* In the router under its id; the shipped price of deepseek/deepseek-chat
   * applies, and the unknown model of this local server is free. */
  g_assert_true (router_has (f->router, "deepseek"));
  g_assert_true (helix_provider_settings_has_key (f->providers, "deepseek"));
  g_assert_true (helix_provider_settings_is_priced (f->providers, "deepseek", "deepseek-chat"));
  g_assert_cmpfloat (helix_price_table_lookup (helix_router_get_prices (f->router), "deepseek",
                                               "deepseek-chat")->input_per_m, >, 0);
  g_assert_true (helix_provider_settings_is_priced (f->providers, "deepseek", "mystery-model"));
  g_assert_cmpfloat (helix_price_table_lookup (helix_router_get_prices (f->router), "deepseek",
                                               "mystery-model")->input_per_m, ==, 0);

  /* Test connection with the stored key: the fake sees it, the logs do not. */
  fake_provider_set_models (f->fake, served);
  models = test_connection (f, saved, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstrv (models, served);
  g_assert_cmpstr (fake_provider_get_last_header (f->fake, "Authorization"), ==,
                   "Bearer " CANARY);

  /* A restart: the list from the settings, the key from the keyring. */
  router2 = helix_router_new (helix_router_get_prices (f->router));
  again = helix_provider_settings_new (f->settings, router2);
  g_assert_true (helix_provider_settings_get_loading (again));
  wait_loaded (again);
  g_assert_true (helix_provider_settings_has_key (again, "deepseek"));
  g_assert_true (router_has (router2, "deepseek"));
}

#define POOL_KEY_1 "sk-pool-one-5b2e9c7d11aa"
#define POOL_KEY_2 "sk-pool-two-8f04be3c62dd"

/* Several keys form a pool: kept in one keyring item, given to the router's
 * provider together, each tried by Test Connection; typing mistakes are
 * refused without quoting a key. */
static void
test_key_pool (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(HelixProviderConfig) config = NULL;
  g_autoptr(HelixProviderConfig) saved = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *stored = NULL;
  g_autofree char *model = NULL;
  g_autofree char *reason = NULL;
  g_auto(GStrv) models = NULL;
  HelixProvider *provider;
  guint requests;
  static const char * const served[] = { "deepseek-chat", NULL };
  static const char * const bad[] = {
    POOL_KEY_1 " " POOL_KEY_1, POOL_KEY_1 " sk-\xc3\xa9t\xc3\xa9", POOL_KEY_1 " sk-\x7f",
  };

  f->providers = new_providers (f);
  config = new_config ("DeepSeek", fake_provider_get_base_url (f->fake), TRUE, "deepseek-chat",
                       NULL);
  saved = save (f, config, "  " POOL_KEY_1 ",\n" POOL_KEY_2 " ", &error);
  g_assert_no_error (error);

  stored = keyring_key ("deepseek");
  g_assert_cmpstr (stored, ==, POOL_KEY_1 "\n" POOL_KEY_2);
  assert_not_in_settings (f->settings, POOL_KEY_1);
  assert_not_in_settings (f->settings, POOL_KEY_2);

  provider = helix_router_choose (f->router, "chat", NULL, NULL, &model, &reason, &error);
  g_assert_no_error (error);
  g_assert_true (HELIX_IS_HTTP_PROVIDER (provider));
  g_assert_cmpuint (helix_http_provider_get_n_keys (HELIX_HTTP_PROVIDER (provider)), ==, 2);

  /* Test Connection tries both, in order. */
  fake_provider_set_models (f->fake, served);
  requests = fake_provider_get_n_requests (f->fake);
  models = test_connection (f, saved, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstrv (models, served);
  g_assert_cmpuint (fake_provider_get_n_requests (f->fake), ==, requests + 2);
  g_assert_cmpstr (fake_provider_get_last_header (f->fake, "Authorization"), ==,
                   "Bearer " POOL_KEY_2);

  /* A refused key is named by its place. */
  fake_provider_respond_error (f->fake, 401, NULL, "application/json",
                               "{\"error\":{\"message\":\"Incorrect API key provided\"}}");
  g_clear_pointer (&models, g_strfreev);
  models = test_connection (f, saved, NULL, &error);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_AUTH);
  g_assert_true (g_str_has_prefix (error->message, "API key 1 of 2: "));
  g_assert_null (strstr (error->message, "sk-pool"));
  g_clear_error (&error);

  /* Mistakes change nothing, and never quote a key. */
  for (guint i = 0; i <= G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(HelixProviderConfig) again = NULL;
      g_autofree char *keys = i < G_N_ELEMENTS (bad) ? g_strdup (bad[i]) : NULL;

      if (keys == NULL)
        {
          GString *many = g_string_new (NULL);

          for (guint k = 0; k <= HELIX_HTTP_PROVIDER_MAX_KEYS; k++)
            g_string_append_printf (many, "sk-many-%u ", k);
          keys = g_string_free (many, FALSE);
        }
      again = save (f, saved, keys, &error);
      g_assert_null (again);
      g_assert_error (error, HELIX_PROVIDER_SETTINGS_ERROR, HELIX_PROVIDER_SETTINGS_ERROR_INVALID);
      g_test_message ("%s", error->message);
      g_assert_null (strstr (error->message, "sk-"));
      g_clear_error (&error);
    }
  g_clear_pointer (&stored, g_free);
  stored = keyring_key ("deepseek");
  g_assert_cmpstr (stored, ==, POOL_KEY_1 "\n" POOL_KEY_2);
}

static void
test_remote_unpriced (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(HelixProviderConfig) config = NULL;
  g_autoptr(HelixProviderConfig) saved = NULL;
  g_autoptr(GError) error = NULL;

  f->providers = new_providers (f);

  config = new_config ("Example Cloud", REMOTE_URL, TRUE, "mystery-model", NULL);
  saved = save (f, config, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_provider_config_get_id (saved), ==, "example-cloud");
  g_assert_false (helix_provider_config_is_local (saved));

  /* Kept and in the router, for a pinned model, but without a price. */
  g_assert_true (router_has (f->router, "example-cloud"));
  g_assert_false (helix_provider_settings_is_priced (f->providers, "example-cloud",
                                                     "mystery-model"));
  g_assert_false (helix_provider_settings_has_key (f->providers, "example-cloud"));
}

/* The free entries a local server's models got do not outlive it: a remote
 * provider that takes its name afterwards is not priced as free. */
static void
test_local_prices_removed (Fixture       *f,
                           gconstpointer  data)
{
  g_autoptr(HelixProviderConfig) local = NULL;
  g_autoptr(HelixProviderConfig) remote = NULL;
  g_autoptr(HelixProviderConfig) saved = NULL;
  g_autoptr(HelixProviderConfig) saved_remote = NULL;
  g_autoptr(GError) error = NULL;

  f->providers = new_providers (f);
  local = new_config ("Mine", fake_provider_get_base_url (f->fake), TRUE, "mystery-model", NULL);
  saved = save (f, local, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (helix_provider_settings_is_priced (f->providers, "mine", "mystery-model"));

  g_assert_true (remove_provider (f, "mine", &error));
  g_assert_no_error (error);
  g_assert_false (helix_provider_settings_is_priced (f->providers, "mine", "mystery-model"));

  remote = new_config ("Mine", REMOTE_URL, TRUE, "mystery-model", NULL);
  saved_remote = save (f, remote, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_provider_config_get_id (saved_remote), ==, "mine");
  g_assert_false (helix_provider_settings_is_priced (f->providers, "mine", "mystery-model"));
}

static void
test_connection_errors (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(HelixProviderConfig) config = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) models = NULL;
  static const char * const served[] = { "model-a", "model-b", NULL };

  f->providers = new_providers (f);
  config = new_config ("Fake", fake_provider_get_base_url (f->fake), TRUE, "model-a", NULL);

  fake_provider_set_models (f->fake, served);
  models = test_connection (f, config, CANARY, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (models), ==, 2);
  g_clear_pointer (&models, g_strfreev);

  /* A refused key: the AI layer's message, without the key. */
  fake_provider_respond_error (f->fake, 401, NULL, "application/json",
                               "{\"error\":{\"message\":\"Incorrect API key provided: "
                               CANARY "\",\"type\":\"invalid_request_error\","
                               "\"code\":\"invalid_api_key\"}}");
  models = test_connection (f, config, CANARY, &error);
  g_assert_null (models);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_AUTH);
  g_test_message ("401: %s", error->message);
  g_assert_null (strstr (error->message, CANARY));
  g_clear_error (&error);

  /* A bad address is the constructor's message. */
  g_clear_object (&config);
  config = new_config ("Fake", "ftp://example.com", TRUE, "model-a", NULL);
  models = test_connection (f, config, NULL, &error);
  g_assert_error (error, HELIX_PROVIDER_SETTINGS_ERROR, HELIX_PROVIDER_SETTINGS_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "http"));
}

static void
test_validation (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(HelixProviderConfig) first = NULL;
  g_autoptr(HelixProviderConfig) saved = NULL;
  g_autoptr(HelixProviderConfig) edited = NULL;
  g_autoptr(GError) error = NULL;
  struct {
    const char *name;
    const char *url;
    const char *model;
    const char *message;
  } bad[] = {
    { "  ", REMOTE_URL, "m", "Enter a name" },
    { "openai", REMOTE_URL, "m", "already a provider named" },
    { "Other", "ftp://example.com", "m", "not an http" },
    { "Other", "https://user:pw@example.com/v1", "m", "not an http" },
    { "Other", REMOTE_URL, NULL, "at least one model" },
  };

  f->providers = new_providers (f);
  first = new_config ("OpenAI", REMOTE_URL, TRUE, "gpt-4o-mini", NULL);
  saved = save (f, first, NULL, &error);
  g_assert_no_error (error);

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(HelixProviderConfig) config = new_config (bad[i].name, bad[i].url, TRUE,
                                                          bad[i].model, NULL);
      g_autoptr(HelixProviderConfig) none = NULL;

      none = save (f, config, CANARY, &error);
      g_assert_null (none);
      g_assert_error (error, HELIX_PROVIDER_SETTINGS_ERROR, HELIX_PROVIDER_SETTINGS_ERROR_INVALID);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, bad[i].message));
      g_clear_error (&error);
    }

  /* Nothing of that was stored. */
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->providers)), ==, 1);
  g_assert_null (keyring_key ("other"));

  /* Its own name is no clash when editing; the id stays. */
  edited = helix_provider_config_new ("openai", "OpenAI", "openai", REMOTE_URL,
                                      (const char * const[]) { "gpt-4o", NULL }, TRUE);
  g_clear_object (&saved);
  saved = save (f, edited, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_provider_config_get_id (saved), ==, "openai");
  g_assert_cmpstr (helix_provider_config_get_models (saved)[0], ==, "gpt-4o");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->providers)), ==, 1);
  g_assert_true (router_has (f->router, "openai"));
}

static void
test_remove (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(HelixProviderConfig) config = NULL;
  g_autoptr(HelixProviderConfig) saved = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *stored = NULL;
  g_autoptr(GVariant) raw = NULL;

  f->providers = new_providers (f);
  config = new_config ("Remote", REMOTE_URL, TRUE, "gpt-4o-mini", NULL);
  saved = save (f, config, CANARY, &error);
  g_assert_no_error (error);
  stored = keyring_key ("remote");
  g_assert_cmpstr (stored, ==, CANARY);
  g_assert_true (router_has (f->router, "remote"));

  g_assert_true (remove_provider (f, "remote", &error));
  g_assert_no_error (error);

  g_clear_pointer (&stored, g_free);
  stored = keyring_key ("remote");
  g_assert_null (stored);
  g_assert_false (router_has (f->router, "remote"));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->providers)), ==, 0);
  raw = g_settings_get_value (f->settings, "providers");
  g_assert_cmpuint (g_variant_n_children (raw), ==, 0);

  g_assert_false (remove_provider (f, "remote", &error));
  g_assert_error (error, HELIX_PROVIDER_SETTINGS_ERROR, HELIX_PROVIDER_SETTINGS_ERROR_NOT_FOUND);
}

static GPtrArray *
audit_entries (HelixAudit *audit)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GPtrArray *items;

  helix_audit_list_async (audit, NULL, NULL, result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_S, "the audit entries");
  items = helix_audit_list_finish (audit, result, &error);
  g_assert_no_error (error);

  return items;
}

/* Changes are written to the audit trail before they are made, never with
 * the key; when the trail cannot be written, nothing changes (fail closed). */
static void
test_audited (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(HelixProviderConfig) config = NULL;
  g_autoptr(HelixProviderConfig) second = NULL;
  g_autoptr(HelixProviderConfig) saved = NULL;
  g_autoptr(HelixProviderConfig) refused = NULL;
  g_autoptr(HelixAudit) audit = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("helix-providers-audit-XXXXXX", NULL);
  g_autofree char *log_path = g_build_filename (dir, "audit.db", NULL);
  g_autofree char *queue_path = g_build_filename (dir, "webhooks.db", NULL);
  g_autofree char *stored = NULL;
  HelixAuditItem *item;
  sqlite3 *db = NULL;

  audit = helix_audit_open (log_path, queue_path, "helix-audit/test", NULL, &error);
  g_assert_no_error (error);
  f->providers = new_providers (f);
  helix_provider_settings_set_audit (f->providers, audit, NULL);

  config = new_config ("Remote", REMOTE_URL, TRUE, "gpt-4o-mini", NULL);
  saved = save (f, config, CANARY, &error);
  g_assert_no_error (error);
  entries = audit_entries (audit);
  g_assert_cmpuint (entries->len, ==, 1);
  item = g_ptr_array_index (entries, 0);
  g_assert_cmpstr (item->event, ==, "provider.added");
  g_assert_cmpstr (item->channel, ==, HELIX_AUDIT_CHANNEL_ASSISTANT_STATE);
  g_assert_nonnull (strstr (item->payload, "\"id\":\"remote\""));
  g_assert_nonnull (strstr (item->payload, "\"key\":\"replaced\""));
  g_assert_null (strstr (item->payload, CANARY));

  /* Another process holds the trail's lock: neither an addition nor a
   * removal happens, in the settings, the router or the keyring. */
  db = helix_test_sqlite_open (log_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  g_assert_cmpint (sqlite3_exec (db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), ==, SQLITE_OK);

  second = new_config ("Second", REMOTE_URL, TRUE, "gpt-4o", NULL);
  refused = save (f, second, CANARY, &error);
  g_assert_null (refused);
  g_assert_error (error, HELIX_PROVIDER_SETTINGS_ERROR, HELIX_PROVIDER_SETTINGS_ERROR_AUDIT);
  g_clear_error (&error);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->providers)), ==, 1);
  g_assert_false (router_has (f->router, "second"));
  stored = keyring_key ("second");
  g_assert_null (stored);

  g_assert_false (remove_provider (f, "remote", &error));
  g_assert_error (error, HELIX_PROVIDER_SETTINGS_ERROR, HELIX_PROVIDER_SETTINGS_ERROR_AUDIT);
  g_clear_error (&error);
  g_assert_true (router_has (f->router, "remote"));
  stored = keyring_key ("remote");
  g_assert_cmpstr (stored, ==, CANARY);

  g_assert_cmpint (sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);

  /* Writable again: the removal goes through, recorded. */
  g_assert_true (remove_provider (f, "remote", &error));
  g_assert_no_error (error);
  g_clear_pointer (&entries, g_ptr_array_unref);
  entries = audit_entries (audit);
  g_assert_cmpuint (entries->len, ==, 2);
  g_assert_cmpstr (((HelixAuditItem *) g_ptr_array_index (entries, 0))->event, ==, "provider.removed");

  /* No trail at all (it could not be opened): refused, with the reason. */
  helix_provider_settings_set_audit (f->providers, NULL, "The disk is full");
  refused = save (f, second, NULL, &error);
  g_assert_null (refused);
  g_assert_error (error, HELIX_PROVIDER_SETTINGS_ERROR, HELIX_PROVIDER_SETTINGS_ERROR_AUDIT);
  g_assert_nonnull (strstr (error->message, "The disk is full"));

  helix_audit_close (audit);
  helix_test_rm_rf (dir);
}

static void
test_disabled (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(HelixProviderConfig) config = NULL;
  g_autoptr(HelixProviderConfig) saved = NULL;
  g_autoptr(GError) error = NULL;

  f->providers = new_providers (f);
  config = new_config ("Local", fake_provider_get_base_url (f->fake), FALSE, "llama", NULL);
  saved = save (f, config, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (helix_provider_config_get_enabled (saved));
  g_assert_false (router_has (f->router, "local"));

  g_assert_true (helix_provider_settings_set_enabled (f->providers, "local", TRUE));
  g_assert_true (router_has (f->router, "local"));
  g_assert_true (helix_provider_config_get_enabled (helix_provider_settings_lookup (f->providers,
                                                                                    "local")));

  g_assert_true (helix_provider_settings_set_enabled (f->providers, "local", FALSE));
  g_assert_false (router_has (f->router, "local"));
  g_assert_false (helix_provider_settings_set_enabled (f->providers, "nobody", TRUE));
}

static void
test_locked_keyring (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(HelixProviderConfig) config = NULL;
  g_autoptr(HelixProviderConfig) saved = NULL;
  g_autoptr(GVariant) raw = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *stored = NULL;

#ifdef __SANITIZE_ADDRESS__
  /* libsecret 0.20.5 (Debian 12) leaks a D-Bus reply when an unlock fails,
   * in its GDBus worker thread (see test-account.c). */
  g_test_skip ("libsecret 0.20 leaks when an unlock fails; not run under AddressSanitizer");
  return;
#endif

  /* Running, but locked; the unlock prompt cannot be shown. */
  helix_test_keyring_start (FALSE);
  f->providers = new_providers (f);

  config = new_config ("Remote", REMOTE_URL, TRUE, "gpt-4o-mini", NULL);
  saved = save (f, config, CANARY, &error);
  g_assert_null (saved);
  g_assert_error (error, HELIX_PROVIDER_SETTINGS_ERROR, HELIX_PROVIDER_SETTINGS_ERROR_KEYRING);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "Nothing was stored"));
  g_clear_error (&error);

  /* Nothing anywhere. */
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->providers)), ==, 0);
  raw = g_settings_get_value (f->settings, "providers");
  g_assert_cmpuint (g_variant_n_children (raw), ==, 0);
  g_assert_false (router_has (f->router, "remote"));
  assert_not_in_settings (f->settings, CANARY);

  helix_test_keyring_start (TRUE);
  stored = keyring_key ("remote");
  g_assert_null (stored);
}

static void
test_no_keyring (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(HelixProviderConfig) config = NULL;
  g_autoptr(HelixProviderConfig) saved = NULL;
  g_autoptr(HelixProviderConfig) local = NULL;
  g_autoptr(GError) error = NULL;
  GtkWidget *page;

  helix_test_keyring_stop ();
  f->providers = new_providers (f);

  /* Said once, clearly. */
  g_assert_nonnull (helix_provider_settings_get_keyring_error (f->providers));
  g_test_message ("%s", helix_provider_settings_get_keyring_error (f->providers));
  g_assert_nonnull (strstr (helix_provider_settings_get_keyring_error (f->providers),
                            "keyring is not available"));

  /* A key cannot be stored, so nothing is. */
  config = new_config ("Remote", REMOTE_URL, TRUE, "gpt-4o-mini", NULL);
  saved = save (f, config, CANARY, &error);
  g_assert_null (saved);
  g_assert_error (error, HELIX_PROVIDER_SETTINGS_ERROR, HELIX_PROVIDER_SETTINGS_ERROR_KEYRING);
  g_clear_error (&error);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->providers)), ==, 0);
  assert_not_in_settings (f->settings, CANARY);

  /* A provider that needs no key works without a keyring. */
  local = new_config ("Ollama", fake_provider_get_base_url (f->fake), TRUE, "llama3.2", NULL);
  saved = save (f, local, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (router_has (f->router, "ollama"));

  /* The page says what is wrong. */
  page = GTK_WIDGET (helix_providers_page_new (f->providers));
  g_object_ref_sink (page);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (HELIX_PROVIDERS_PAGE (page)->keyring_group)));
  g_assert_nonnull (strstr (gtk_label_get_text (HELIX_PROVIDERS_PAGE (page)->keyring_label),
                            "keyring is not available"));
  g_object_unref (page);

  helix_test_keyring_start (TRUE);
}

static void
test_ollama (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixProviderConfig) config = NULL;
  static const char * const served[] = { "llama3.2", "qwen2.5-coder", NULL };

  f->providers = new_providers (f);
  fake_provider_set_models (f->fake, served);

  g_assert_true (offer_ollama (f, fake_provider_get_base_url (f->fake)));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->providers)), ==, 1);
  config = g_list_model_get_item (G_LIST_MODEL (f->providers), 0);
  g_assert_cmpstr (helix_provider_config_get_name (config), ==, "Ollama");
  g_assert_cmpstr (helix_provider_config_get_id (config), ==, "ollama");
  g_assert_cmpstr (helix_provider_config_get_kind (config), ==, "openai");
  g_assert_cmpstr (helix_provider_config_get_base_url (config), ==,
                   fake_provider_get_base_url (f->fake));
  g_assert_cmpstrv (helix_provider_config_get_models (config), served);
  g_assert_true (g_settings_get_boolean (f->settings, "ollama-offered"));
  g_assert_true (router_has (f->router, "ollama"));
  /* The shipped table prices every model of "ollama" (its "*" entry). */
  g_assert_true (helix_provider_settings_is_priced (f->providers, "ollama", "qwen2.5-coder"));

  /* Once only: not again, not after the user removed it. */
  g_assert_false (offer_ollama (f, fake_provider_get_base_url (f->fake)));
  g_assert_true (remove_provider (f, "ollama", &error));
  g_assert_no_error (error);
  g_assert_false (offer_ollama (f, fake_provider_get_base_url (f->fake)));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->providers)), ==, 0);
}

static void
test_ollama_absent (Fixture       *f,
                    gconstpointer  data)
{
  g_autofree char *url = NULL;
  g_autoptr(FakeProvider) gone = fake_provider_new (FAKE_FORMAT_OPENAI);
  static const char * const none[] = { NULL };

  f->providers = new_providers (f);

  /* Nobody listens there any more. */
  url = g_strdup (fake_provider_get_base_url (gone));
  g_clear_pointer (&gone, fake_provider_free);
  g_assert_false (offer_ollama (f, url));

  /* A server without models is no Ollama to offer either. */
  fake_provider_set_models (f->fake, none);
  g_assert_false (offer_ollama (f, fake_provider_get_base_url (f->fake)));

  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->providers)), ==, 0);
  g_assert_false (g_settings_get_boolean (f->settings, "ollama-offered"));
}

static void
test_budget (Fixture       *f,
             gconstpointer  data)
{
  f->providers = new_providers (f);

  g_assert_cmpfloat (helix_budget_get_limit (f->budget, HELIX_BUDGET_SCOPE_USER,
                                             HELIX_BUDGET_PERIOD_DAY), ==, 0);

  g_settings_set_double (f->settings, "budget-daily-usd", 2.5);
  g_settings_set_double (f->settings, "budget-monthly-usd", 40);
  g_settings_set_string (f->settings, "budget-over-cap", "downgrade");

  g_assert_cmpfloat (helix_budget_get_limit (f->budget, HELIX_BUDGET_SCOPE_USER,
                                             HELIX_BUDGET_PERIOD_DAY), ==, 2.5);
  g_assert_cmpfloat (helix_budget_get_limit (f->budget, HELIX_BUDGET_SCOPE_USER,
                                             HELIX_BUDGET_PERIOD_MONTH), ==, 40);
  g_assert_cmpint (helix_budget_get_over_policy (f->budget), ==, HELIX_BUDGET_OVER_DOWNGRADE);

  g_settings_set_double (f->settings, "budget-daily-usd", 0);
  g_settings_set_string (f->settings, "budget-over-cap", "refuse");
  g_assert_cmpfloat (helix_budget_get_limit (f->budget, HELIX_BUDGET_SCOPE_USER,
                                             HELIX_BUDGET_PERIOD_DAY), ==, 0);
  g_assert_cmpint (helix_budget_get_over_policy (f->budget), ==, HELIX_BUDGET_OVER_REFUSE);
}

/* The health checks done of the router's provider @id. */
static guint
n_checks (HelixRouter *router,
          const char  *id)
{
  g_autoptr(GPtrArray) status = helix_router_get_status (router);

  for (guint i = 0; i < status->len; i++)
    {
      HelixRouterProviderStatus *s = g_ptr_array_index (status, i);

      if (g_str_equal (s->name, id))
        return s->n_checks;
    }

  g_assert_not_reached ();
}

/* The router's health checks and the breakers' cooldown follow the settings. */
static void
test_health_settings (Fixture       *f,
                      gconstpointer  data)
{
  static const char * const served[] = { "llama3.2", NULL };
  g_autoptr(HelixProviderConfig) config = new_config ("Local", fake_provider_get_base_url (f->fake),
                                                      TRUE, "llama3.2", NULL);
  g_autoptr(HelixProviderConfig) saved = NULL;
  g_autoptr(GError) error = NULL;
  const char *id;

  f->providers = new_providers (f);
  g_assert_cmpuint (helix_router_get_health_interval (f->router), ==,
                    HELIX_ROUTER_DEFAULT_HEALTH_INTERVAL_MS);
  g_assert_cmpuint (helix_router_get_cooldown (f->router), ==, HELIX_ROUTER_DEFAULT_COOLDOWN_MS);

  g_settings_set_uint (f->settings, "breaker-cooldown-ms", 5000);
  g_assert_cmpuint (helix_router_get_cooldown (f->router), ==, 5000);

  fake_provider_set_models (f->fake, served);
  saved = save (f, config, NULL, &error);
  g_assert_no_error (error);
  id = helix_provider_config_get_id (saved);
  g_assert_true (router_has (f->router, id));

  /* A short interval: the provider is asked for its models, again and again. */
  g_settings_set_uint (f->settings, "health-check-interval-ms", 20);
  g_assert_cmpuint (helix_router_get_health_interval (f->router), ==, 20);
  helix_test_wait_for (n_checks (f->router, id) >= 2, WAIT_S, "two health checks");
  g_assert_cmpstr (fake_provider_get_last_path (f->fake), ==, "/v1/models");

  g_settings_set_uint (f->settings, "health-check-interval-ms", 0);
  g_assert_cmpuint (helix_router_get_health_interval (f->router), ==, 0);
}

/* The page {{{1 */

static guint
count_rows (HelixProvidersPage *page)
{
  guint n = 0;

  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (page->provider_list));
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (g_object_get_data (G_OBJECT (child), "config") != NULL)
      n++;

  return n;
}

static AdwActionRow *
find_row (HelixProvidersPage *page,
          const char         *id)
{
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (page->provider_list));
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      HelixProviderConfig *config = g_object_get_data (G_OBJECT (child), "config");

      if (config != NULL && g_strcmp0 (helix_provider_config_get_id (config), id) == 0)
        return ADW_ACTION_ROW (child);
    }

  return NULL;
}

static GtkWidget *
find_descendant (GtkWidget *widget,
                 GType      type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type))
    return widget;

  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_descendant (child, type);

      if (found != NULL)
        return found;
    }

  return NULL;
}

static void
spin (void)
{
  for (guint i = 0; i < 100 && g_main_context_pending (NULL); i++)
    g_main_context_iteration (NULL, FALSE);
}

/* The open message dialog, if there is one. */
static AdwMessageDialog *
find_message_dialog (void)
{
  GListModel *toplevels = gtk_window_get_toplevels ();
  AdwMessageDialog *found = NULL;

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GObject) window = g_list_model_get_item (toplevels, i);

      if (ADW_IS_MESSAGE_DIALOG (window) && gtk_widget_get_visible (GTK_WIDGET (window)))
        found = ADW_MESSAGE_DIALOG (window);
    }

  return found;
}

static void
editor_save_expecting (HelixProviderEditor *editor,
                       const char          *message)
{
  gtk_widget_activate_action (GTK_WIDGET (editor), "editor.save", NULL);
  spin ();
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (editor->error_label)));
  g_test_message ("editor: %s", gtk_label_get_text (editor->error_label));
  g_assert_nonnull (strstr (gtk_label_get_text (editor->error_label), message));
}

static void
editor_test_expecting (HelixProviderEditor *editor,
                       const char          *action,
                       const char          *text)
{
  gtk_widget_activate_action (GTK_WIDGET (editor), action, NULL);
  g_assert_true (editor->busy);
  helix_test_wait_for (!editor->busy, WAIT_S, "the connection test in the editor");
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (editor->test_label)));
  g_test_message ("test: %s", gtk_label_get_text (editor->test_label));
  g_assert_nonnull (strstr (gtk_label_get_text (editor->test_label), text));
  g_assert_null (strstr (gtk_label_get_text (editor->test_label), CANARY));
}

static void
test_page (Fixture       *f,
           gconstpointer  data)
{
  g_autoptr(HelixProviderConfig) local = NULL;
  g_autoptr(HelixProviderConfig) remote = NULL;
  g_autoptr(HelixProviderConfig) saved = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *stored = NULL;
  GtkWindow *window;
  HelixProvidersPage *page;
  HelixProviderEditor *editor;
  g_autofree char *over_cap = NULL;
  gpointer weak_editor;
  AdwMessageDialog *dialog;
  AdwActionRow *row;
  static const char * const served[] = { "llama3.2", "phi4", NULL };

  f->providers = new_providers (f);
  local = new_config ("Ollama", fake_provider_get_base_url (f->fake), TRUE, "llama3.2", NULL);
  saved = save (f, local, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&saved);
  remote = new_config ("Example Cloud", REMOTE_URL, TRUE, "mystery-model", NULL);
  saved = save (f, remote, NULL, &error);
  g_assert_no_error (error);

  /* In a window of its own: libadwaita 1.2's AdwPreferencesWindow keeps its
   * groups past its end (see test_preferences_window()). */
  window = GTK_WINDOW (adw_window_new ());
  page = helix_providers_page_new (f->providers);
  adw_window_set_content (ADW_WINDOW (window), GTK_WIDGET (page));
  gtk_window_set_default_size (window, 600, 800);
  gtk_window_present (window);
  spin ();

  /* A row per provider, with its address, its state and its unpriced models. */
  g_assert_cmpuint (count_rows (page), ==, 2);
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (page->keyring_group)));
  row = find_row (page, "example-cloud");
  g_assert_nonnull (row);
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)), ==, "Example Cloud");
  g_test_message ("%s", adw_action_row_get_subtitle (row));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (row), REMOTE_URL));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (row), "Not checked"));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (row), "Price unknown"));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (row), "mystery-model"));
  row = find_row (page, "ollama");
  g_assert_null (strstr (adw_action_row_get_subtitle (row), "Price unknown"));

  /* The switch turns it off in the router (and the health checks below stay on
   * this computer). */
  row = find_row (page, "example-cloud");
  gtk_switch_set_active (GTK_SWITCH (find_descendant (GTK_WIDGET (row), GTK_TYPE_SWITCH)), FALSE);
  helix_test_wait_for (!router_has (f->router, "example-cloud"), WAIT_S,
                       "the switch to turn the provider off");
  spin ();
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (find_row (page, "example-cloud")),
                            "Turned off"));

  /* Health from the router. */
  fake_provider_respond_error (f->fake, 503, NULL, "application/json",
                               "{\"error\":{\"message\":\"Loading the model\"}}");
  helix_router_check_health (f->router);
  helix_test_wait_for (strstr (adw_action_row_get_subtitle (find_row (page, "ollama")),
                               "Failing") != NULL ||
                       (_helix_providers_page_refresh (page), FALSE),
                       WAIT_S, "the failed health check on the page");
  fake_provider_set_models (f->fake, served);
  fake_provider_respond_stream (f->fake, (const char * const[]) { NULL }, FAKE_END_FINISH);
  helix_router_check_health (f->router);
  helix_test_wait_for (strstr (adw_action_row_get_subtitle (find_row (page, "ollama")),
                               "Working") != NULL ||
                       (_helix_providers_page_refresh (page), FALSE),
                       WAIT_S, "the working health check on the page");

  /* Add Provider: the editor checks what was entered. */
  gtk_widget_activate_action (GTK_WIDGET (page), "providers.add", NULL);
  editor = HELIX_PROVIDER_EDITOR (page->editor);
  g_assert_nonnull (editor);
  spin ();
  editor_save_expecting (editor, "Enter a name");
  gtk_editable_set_text (GTK_EDITABLE (editor->name_row), "ollama");
  gtk_editable_set_text (GTK_EDITABLE (editor->models_row), "m");
  editor_save_expecting (editor, "already a provider named");
  gtk_editable_set_text (GTK_EDITABLE (editor->name_row), "Fake Cloud");
  gtk_editable_set_text (GTK_EDITABLE (editor->url_row), "ftp://example.com");
  editor_save_expecting (editor, "not an http");
  gtk_editable_set_text (GTK_EDITABLE (editor->url_row), fake_provider_get_base_url (f->fake));
  gtk_editable_set_text (GTK_EDITABLE (editor->models_row), " , ");
  editor_save_expecting (editor, "at least one model");

  /* Test Connection and Fetch, with the key typed in. */
  gtk_editable_set_text (GTK_EDITABLE (editor->key_row), CANARY);
  editor_test_expecting (editor, "editor.test", "Connected · 2 models");
  g_assert_cmpstr (fake_provider_get_last_header (f->fake, "Authorization"), ==,
                   "Bearer " CANARY);
  editor_test_expecting (editor, "editor.fetch", "Connected · 2 models");
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (editor->models_row)), ==, "llama3.2, phi4");
  fake_provider_respond_error (f->fake, 401, NULL, "application/json",
                               "{\"error\":{\"message\":\"Incorrect API key provided\","
                               "\"type\":\"invalid_request_error\"}}");
  editor_test_expecting (editor, "editor.test", "Incorrect API key");
  g_assert_true (gtk_widget_has_css_class (GTK_WIDGET (editor->test_label), "error"));

  /* Save: the key to the keyring, a row for the provider, the editor gone. */
  weak_editor = editor;
  g_object_add_weak_pointer (G_OBJECT (editor), &weak_editor);
  gtk_widget_activate_action (GTK_WIDGET (editor), "editor.save", NULL);
  helix_test_wait_for (weak_editor == NULL, WAIT_S, "the editor to close after saving");
  spin ();
  g_assert_cmpuint (count_rows (page), ==, 3);
  g_assert_true (router_has (f->router, "fake-cloud"));
  stored = keyring_key ("fake-cloud");
  g_assert_cmpstr (stored, ==, CANARY);
  assert_not_in_settings (f->settings, CANARY);

  /* Editing: the key stays in the keyring unless a new one is typed. */
  gtk_widget_activate_action (GTK_WIDGET (page), "providers.edit", "s", "fake-cloud");
  editor = HELIX_PROVIDER_EDITOR (page->editor);
  g_assert_nonnull (editor);
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (editor->name_row)), ==, "Fake Cloud");
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (editor->key_row)), ==, "");
  g_assert_nonnull (strstr (adw_preferences_group_get_description (editor->key_group),
                            "Stored in the keyring"));
  gtk_editable_set_text (GTK_EDITABLE (editor->models_row), "phi4");
  weak_editor = editor;
  g_object_add_weak_pointer (G_OBJECT (editor), &weak_editor);
  gtk_widget_activate_action (GTK_WIDGET (editor), "editor.save", NULL);
  helix_test_wait_for (weak_editor == NULL, WAIT_S, "the editor to close after editing");
  g_clear_pointer (&stored, g_free);
  stored = keyring_key ("fake-cloud");
  g_assert_cmpstr (stored, ==, CANARY);
  g_assert_cmpstr (helix_provider_config_get_models (helix_provider_settings_lookup (f->providers,
                                                                                     "fake-cloud"))[0],
                   ==, "phi4");

  /* Remove asks first, then takes the key out of the keyring too. */
  gtk_widget_activate_action (GTK_WIDGET (page), "providers.remove", "s", "fake-cloud");
  dialog = find_message_dialog ();
  g_assert_nonnull (dialog);
  g_assert_nonnull (strstr (adw_message_dialog_get_heading (dialog), "Fake Cloud"));
  adw_message_dialog_response (dialog, "cancel");
  spin ();
  g_assert_nonnull (helix_provider_settings_lookup (f->providers, "fake-cloud"));
  gtk_widget_activate_action (GTK_WIDGET (page), "providers.remove", "s", "fake-cloud");
  dialog = find_message_dialog ();
  adw_message_dialog_response (dialog, "remove");
  g_assert_null (helix_provider_settings_lookup (f->providers, "fake-cloud"));
  g_assert_false (router_has (f->router, "fake-cloud"));
  helix_test_wait_for (key_is_gone ("fake-cloud"), WAIT_S, "the key to leave the keyring");
  spin ();
  g_assert_cmpuint (count_rows (page), ==, 2);

  /* Spending: the controls are the settings, which reach the budget. */
  gtk_spin_button_set_value (page->daily_spin, 3);
  adw_combo_row_set_selected (page->over_cap_row, 1);
  g_assert_cmpfloat (g_settings_get_double (f->settings, "budget-daily-usd"), ==, 3);
  over_cap = g_settings_get_string (f->settings, "budget-over-cap");
  g_assert_cmpstr (over_cap, ==, "downgrade");
  g_assert_cmpfloat (helix_budget_get_limit (f->budget, HELIX_BUDGET_SCOPE_USER,
                                             HELIX_BUDGET_PERIOD_DAY), ==, 3);
  helix_budget_add_spent (f->budget, HELIX_BUDGET_LOCAL_USER, g_get_real_time (), 1.25);
  _helix_providers_page_refresh (page);
  g_test_message ("%s", adw_preferences_row_get_title (ADW_PREFERENCES_ROW (page->spent_row)));
  g_assert_nonnull (strstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (page->spent_row)),
                            "1.25"));

  gtk_window_destroy (window);
  spin ();
}

static void
test_preferences_window (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(HelixAccount) account = helix_account_new ();
  HelixPreferencesWindow *window;
  HelixProvidersPage *page;

  f->providers = new_providers (f);

  /* Beside the Account page. */
  window = helix_preferences_window_new (NULL, account, f->settings);
  g_assert_null (helix_preferences_window_get_providers_page (window));
  helix_preferences_window_set_provider_settings (window, f->providers);
  page = helix_preferences_window_get_providers_page (window);
  g_assert_nonnull (page);
  g_assert_true (gtk_widget_get_ancestor (GTK_WIDGET (page), ADW_TYPE_PREFERENCES_WINDOW) ==
                 GTK_WIDGET (window));
  adw_preferences_window_set_visible_page (ADW_PREFERENCES_WINDOW (window),
                                           ADW_PREFERENCES_PAGE (page));
  gtk_window_present (GTK_WINDOW (window));
  spin ();
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (page)));
  gtk_window_destroy (GTK_WINDOW (window));
  spin ();

  /* libadwaita 1.2's AdwPreferencesWindow keeps a reference to the groups of
   * its pages (and so to the list model) after it is destroyed: not checked. */
  g_clear_object (&f->providers);
}

/* The application {{{1 */

typedef struct
{
  HelixApplication *app;
  gboolean          checked;
} AppCheck;

static gboolean
app_check_cb (gpointer user_data)
{
  AppCheck *check = user_data;
  HelixProviderSettings *providers = helix_application_get_provider_settings (check->app);

  /* Ollama offered, and the window up (the store is open). */
  if (providers == NULL || g_list_model_get_n_items (G_LIST_MODEL (providers)) == 0 ||
      gtk_application_get_active_window (GTK_APPLICATION (check->app)) == NULL)
    return G_SOURCE_CONTINUE;

  /* The operator view has its action (its window is tested in test-operator.c:
   * opened here, its widgets would push GLib's quark table past its first
   * block, which LeakSanitizer reports; see test_application()). */
  g_assert_true (g_action_group_has_action (G_ACTION_GROUP (check->app), "operator"));
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (check->app), "operator"));

  check->checked = TRUE;
  g_application_quit (G_APPLICATION (check->app));

  return G_SOURCE_REMOVE;
}

static void
test_application (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *db = NULL;
  g_autofree char *ledger = NULL;
  g_auto(GStrv) names = NULL;
  static const char * const served[] = { "llama3.2", NULL };
  AppCheck check = { NULL, FALSE };
  char *argv[4];
  guint timeout_id;
  HelixRouter *router;

  /* In a process of its own, leak-checked on its own. The whole
   * application's widgets push GLib's quark table past 2,048 entries, and
   * GLib abandons the table's first block on purpose when it grows: kept
   * here, LeakSanitizer does not take it for a leak of ours. */
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }
  helix_test_keep_quark_block ();

  dir = g_dir_make_tmp ("helix-providers-app-XXXXXX", &error);
  g_assert_no_error (error);
  db = g_build_filename (dir, "profile", "helix.db", NULL);
  ledger = g_build_filename (dir, "profile", "ledger.db", NULL);

  fake_provider_set_models (f->fake, served);
  g_setenv ("HELIX_OLLAMA_URL", fake_provider_get_base_url (f->fake), TRUE);
  g_setenv ("HELIX_PROVIDER_OVERRIDE", "ollama/llama3.2", TRUE);
  g_settings_set_double (f->settings, "budget-monthly-usd", 12);

  check.app = helix_application_new ("ai.helix.Helix.TestProviders");
  argv[0] = (char *) "helix";
  argv[1] = (char *) "--database";
  argv[2] = db;
  argv[3] = NULL;
  timeout_id = g_timeout_add (50, app_check_cb, &check);
  g_assert_cmpint (g_application_run (G_APPLICATION (check.app), 3, argv), ==, 0);
  if (!check.checked)
    g_source_remove (timeout_id);
  g_assert_true (check.checked);

  /* The router of the windows has the providers, the budget and the override. */
  router = helix_application_get_router (check.app);
  names = helix_router_list_providers (router);
  g_assert_true (g_strv_contains ((const char * const *) names, "ollama"));
  g_assert_cmpstr (helix_router_get_override (router), ==, "ollama/llama3.2");
  g_assert_nonnull (helix_router_get_budget (router));
  g_assert_cmpfloat (helix_budget_get_limit (helix_router_get_budget (router),
                                             HELIX_BUDGET_SCOPE_USER,
                                             HELIX_BUDGET_PERIOD_MONTH), ==, 12);
  g_assert_true (g_settings_get_boolean (f->settings, "ollama-offered"));

  /* The ledger beside the store. */
  g_assert_nonnull (helix_application_get_ledger (check.app));
  g_assert_cmpstr (helix_ledger_get_path (helix_application_get_ledger (check.app)), ==, ledger);
  g_assert_true (g_file_test (ledger, G_FILE_TEST_IS_REGULAR));

  g_clear_object (&check.app);
  g_unsetenv ("HELIX_OLLAMA_URL");
  g_unsetenv ("HELIX_PROVIDER_OVERRIDE");
  helix_test_rm_rf (dir);
}

/* The canary {{{1 */

static const char * const canary_chunks[] = {
  "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"},\"finish_reason\":\"stop\"}]}\n\n",
  "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":2}}\n\n",
  "data: [DONE]\n\n",
  NULL
};

typedef struct
{
  HelixApplication *app;
  FakeProvider     *fake;
  guint             step;
  gboolean          done;
} Canary;

static void
canary_chat_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  Canary *canary = user_data;
  g_autoptr(GError) error = NULL;
  HelixRouterResult *out = NULL;

  helix_router_chat_finish (HELIX_ROUTER (object), result, &out, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (out->provider, ==, "canary-cloud");
  helix_router_result_free (out);
  canary->done = TRUE;
  g_application_quit (G_APPLICATION (canary->app));
}

static void
canary_saved_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Canary *canary = user_data;
  g_autoptr(HelixProviderConfig) saved = NULL;
  g_autoptr(HelixChatRequest) request = helix_chat_request_new ("canary-model");
  g_autoptr(GError) error = NULL;
  HelixRouterParams params = { "chat", NULL, NULL, "canary-cloud/canary-model" };

  saved = helix_provider_settings_save_finish (HELIX_PROVIDER_SETTINGS (object), result, &error);
  g_assert_no_error (error);

  helix_chat_request_add_message (request, HELIX_MESSAGE_ROLE_USER, "Say hello");
  helix_router_chat_async (helix_application_get_router (canary->app), &params, request, NULL, NULL,
                           canary_chat_cb, canary);
}

static gboolean
canary_start_cb (gpointer user_data)
{
  Canary *canary = user_data;
  HelixProviderSettings *providers = helix_application_get_provider_settings (canary->app);
  g_autoptr(HelixProviderConfig) config = NULL;

  if (providers == NULL || helix_provider_settings_get_loading (providers) ||
      gtk_application_get_active_window (GTK_APPLICATION (canary->app)) == NULL)
    return G_SOURCE_CONTINUE;

  config = new_config ("Canary Cloud", fake_provider_get_base_url (canary->fake), TRUE,
                       "canary-model", NULL);
  helix_provider_settings_save_async (providers, config, CANARY, NULL, canary_saved_cb, canary);

  return G_SOURCE_REMOVE;
}

/* Whether @path holds @needle anywhere. */
static gboolean
file_contains (const char *path,
               const char *needle)
{
  g_autofree char *contents = NULL;
  gsize len = 0, n = strlen (needle);

  if (!g_file_get_contents (path, &contents, &len, NULL))
    return FALSE;

  for (gsize i = 0; i + n <= len; i++)
    if (contents[i] == needle[0] && memcmp (contents + i, needle, n) == 0)
      return TRUE;

  return FALSE;
}

/* A key stored and used in every desktop flow — saved through Preferences'
 * settings (keyring, audit trail), used for a chat (ledger, store) — is in
 * none of the files beside the chats (databases, WAL and shared-memory
 * files), nor in this process's command line or any log line (the log
 * handler aborts on it), and the audit trail has the change without it. */
static void
test_canary (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) profile = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *db = NULL;
  g_autofree char *profile_path = NULL;
  g_autofree char *audit_path = NULL;
  Canary canary = { 0 };
  const char *name;
  char *argv[4];
  guint n_files = 0;

  if (!g_test_subprocess ())
    {
      const char *lsan = g_getenv ("LSAN_OPTIONS");
      g_autofree char *saved = g_strdup (lsan);
      g_autofree char *options = g_strconcat (lsan != NULL ? lsan : "",
                                              lsan != NULL ? ":" : "", "detect_leaks=0", NULL);

      /* The whole application with a chat, an audit trail and the keyring
       * pushes GLib's quark table past its first block, which GLib abandons
       * on purpose and LeakSanitizer reports without a frame to tell it from
       * ours (see test_application()). This case is about where a key ends
       * up, not about leaks, which the other cases check. */
      g_setenv ("LSAN_OPTIONS", options, TRUE);
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      if (saved != NULL)
        g_setenv ("LSAN_OPTIONS", saved, TRUE);
      else
        g_unsetenv ("LSAN_OPTIONS");
      g_test_trap_assert_passed ();
      return;
    }

  dir = g_dir_make_tmp ("helix-providers-canary-XXXXXX", &error);
  g_assert_no_error (error);
  profile_path = g_build_filename (dir, "profile", NULL);
  db = g_build_filename (profile_path, "helix.db", NULL);
  audit_path = g_build_filename (profile_path, "audit.db", NULL);
  g_setenv ("HELIX_OLLAMA_URL", "http://127.0.0.1:9/v1", TRUE);
  g_settings_set_boolean (f->settings, "ollama-offered", TRUE);

  canary.fake = fake_provider_new (FAKE_FORMAT_OPENAI);
  fake_provider_respond_stream (canary.fake, canary_chunks, FAKE_END_FINISH);
  canary.app = helix_application_new ("ai.helix.Helix.TestCanary");
  argv[0] = (char *) "helix";
  argv[1] = (char *) "--database";
  argv[2] = db;
  argv[3] = NULL;
  g_timeout_add (50, canary_start_cb, &canary);
  g_assert_cmpint (g_application_run (G_APPLICATION (canary.app), 3, argv), ==, 0);
  g_assert_true (canary.done);
  g_assert_cmpstr (fake_provider_get_last_header (canary.fake, "Authorization"), ==, "Bearer " CANARY);

  /* The change is on record, without the key. */
  {
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(GPtrArray) items = NULL;
    HelixAuditFilter added = { HELIX_AUDIT_CHANNEL_ASSISTANT_STATE, NULL, "provider.added", 0, 10 };

    helix_audit_list_async (helix_application_get_audit (canary.app), &added, NULL, result_cb, &result);
    helix_test_wait_for (result != NULL, WAIT_S, "the audit entries");
    items = helix_audit_list_finish (helix_application_get_audit (canary.app), result, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (items->len, ==, 1);
    g_assert_nonnull (strstr (((HelixAuditItem *) g_ptr_array_index (items, 0))->payload, "canary-cloud"));
  }
  g_clear_object (&canary.app);

  profile = g_dir_open (profile_path, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (profile)) != NULL)
    {
      g_autofree char *path = g_build_filename (profile_path, name, NULL);

      g_test_message ("canary: %s", name);
      g_assert_false (file_contains (path, CANARY));
      n_files++;
    }
  /* helix.db, ledger.db, audit.db, webhooks.db, with their WAL files. */
  g_assert_cmpuint (n_files, >=, 4);
  g_assert_true (g_file_test (audit_path, G_FILE_TEST_IS_REGULAR));
  g_assert_false (file_contains ("/proc/self/cmdline", CANARY));

  fake_provider_free (canary.fake);
  g_unsetenv ("HELIX_OLLAMA_URL");
  helix_test_rm_rf (dir);
}

/* Main {{{1 */

int
main (int   argc,
      char *argv[])
{
  g_autofree char *problem = NULL;
  int ret;

  /* Before any thread: the environment of this process and of the daemon. */
  helix_test_keyring_init ("helix-providers");

  /* No accessibility bus: its contexts keep widgets alive for a while. */
  g_setenv ("GTK_A11Y", "none", TRUE);

  /* Every log line is checked for the canary key, debug included. */
  helix_test_canary_init (&argc, &argv, CANARY);
  gtk_init ();
  adw_init ();
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

  if ((problem = helix_test_keyring_check ()) != NULL)
    {
      helix_test_keyring_cleanup ();
      g_error ("%s", problem);
    }

#define ADD(path, func) \
  g_test_add ("/helix/providers/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("add-with-key", test_add_with_key);
  ADD ("key-pool", test_key_pool);
  ADD ("remote-unpriced", test_remote_unpriced);
  ADD ("local-prices-removed", test_local_prices_removed);
  ADD ("connection-errors", test_connection_errors);
  ADD ("validation", test_validation);
  ADD ("remove", test_remove);
  ADD ("audited", test_audited);
  ADD ("disabled", test_disabled);
  ADD ("locked-keyring", test_locked_keyring);
  ADD ("no-keyring", test_no_keyring);
  ADD ("ollama", test_ollama);
  ADD ("ollama-absent", test_ollama_absent);
  ADD ("budget", test_budget);
  ADD ("health-settings", test_health_settings);
  ADD ("page", test_page);
  ADD ("preferences-window", test_preferences_window);
  ADD ("application", test_application);
  ADD ("canary", test_canary);

#undef ADD

  ret = g_test_run ();

  helix_test_keyring_cleanup ();

  return ret;
}
