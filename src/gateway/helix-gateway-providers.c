/* helix-gateway-providers.c: the gateway's AI router, built from its configuration
 *
 * At start-up the gateway reads the API keys of each `[provider NAME]` (from
 * its `key-file` or `key-env`), makes one #HelixHttpProvider per provider with
 * its key pool, and registers them with a #HelixRouter over the shipped price
 * table (and the `prices` file of `[router]`, merged over it). With limits in
 * `[budget]`, a #HelixBudget watches the spending; the ledger (`ledger.db` in
 * the state directory) records every call and gives the budget what was spent
 * before a restart.
 *
 * Keys never leave this file but into the providers: they are not logged, not
 * put in error messages (which say where a key is, never what it is), and the
 * buffers that held them are wiped.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <sodium.h>

#include "helix-gateway-metrics.h"
#include "helix-gateway-private.h"
#include "helix-sanitizer.h"
#include "helix-http-provider.h"
#include "helix-ledger.h"

/* The most keys one provider's pool takes, and the largest key file. */
#define MAX_KEYS          256
#define MAX_KEY_FILE_SIZE (64 * 1024)
#define MAX_KEY_LEN       1024

struct _HelixGatewayAi
{
  HelixRouter *router;
  HelixBudget *budget;   /* (nullable): only with limits */
  HelixLedger *ledger;   /* (nullable): until src/ai has it */
  GPtrArray   *models;   /* of HelixGatewayModel, in the order of the configuration */
  gulong       call_finished_id;
};

static void
model_free (gpointer data)
{
  HelixGatewayModel *model = data;

  g_free (model->provider);
  g_free (model->model);
  g_free (model);
}

/* A key goes into an HTTP header: printable ASCII without spaces. */
static gboolean
key_is_valid (const char *key)
{
  gsize len = strlen (key);

  if (len == 0 || len > MAX_KEY_LEN)
    return FALSE;

  for (gsize i = 0; i < len; i++)
    if ((guchar) key[i] <= ' ' || (guchar) key[i] >= 0x7f)
      return FALSE;

  return TRUE;
}

/* Splits @text at any of @separators into keys; '#' lines are comments in
 * files. The error says which item is bad, never what it holds. */
static GStrv
split_keys (const char  *text,
            const char  *separators,
            gboolean     comments,
            const char  *provider,
            const char  *where,
            GError     **error)
{
  g_auto(GStrv) items = g_strsplit_set (text, separators, -1);
  g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; items[i] != NULL; i++)
    {
      char *item = g_strstrip (items[i]);

      if (*item == '\0' || (comments && *item == '#'))
        continue;

      if (!key_is_valid (item) || keys->len >= MAX_KEYS)
        {
          if (keys->len >= MAX_KEYS)
            g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_PROVIDERS,
                         _("[provider %s]: %s holds more than %u API keys"),
                         provider, where, (guint) MAX_KEYS);
          else
            g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_PROVIDERS,
                         _("[provider %s]: item %u of %s is not an API key (keys are printable "
                           "ASCII without spaces, at most %u characters, one per line or "
                           "separated by commas)"),
                         provider, i + 1, where, (guint) MAX_KEY_LEN);
          for (guint j = 0; items[j] != NULL; j++)
            sodium_memzero (items[j], strlen (items[j]));
          return NULL;
        }

      g_ptr_array_add (keys, g_strdup (item));
    }

  for (guint j = 0; items[j] != NULL; j++)
    sodium_memzero (items[j], strlen (items[j]));

  if (keys->len == 0)
    {
      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_PROVIDERS,
                   _("[provider %s]: %s holds no API key; write one key per line, or remove "
                     "the setting for a server that needs none"),
                   provider, where);
      return NULL;
    }

  g_ptr_array_add (keys, NULL);
  return (GStrv) g_ptr_array_free (g_steal_pointer (&keys), FALSE);
}

static void
keys_free (GStrv keys)
{
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    sodium_memzero (keys[i], strlen (keys[i]));
  g_strfreev (keys);
}


/* The key file must be private, as the TLS key is: a regular file of the
 * gateway's user or root that no group or other user may read or write. */
static GStrv
read_key_file (const HelixGatewayProviderConfig  *provider,
               GError                           **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *where = NULL;
  char *contents = NULL;
  gsize length = 0;
  struct stat st;
  GStrv keys;

  where = g_strdup_printf (_("the key file “%s” (key-file)"), provider->key_file);

  if (g_stat (provider->key_file, &st) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_PROVIDERS,
                   _("[provider %s]: cannot read the key file “%s” (key-file): %s"),
                   provider->name, provider->key_file, g_strerror (saved_errno));
      return NULL;
    }

  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_PROVIDERS,
                   _("[provider %s]: the key file “%s” (key-file) is not a regular file"),
                   provider->name, provider->key_file);
      return NULL;
    }

  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    {
      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_PROVIDERS,
                   _("[provider %s]: the key file “%s” (key-file) can be read or written by "
                     "other users (mode %03o); make it private with “chmod 600 %s”"),
                   provider->name, provider->key_file, (guint) (st.st_mode & 0777),
                   provider->key_file);
      return NULL;
    }

  if (st.st_uid != geteuid () && st.st_uid != 0)
    {
      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_PROVIDERS,
                   _("[provider %s]: the key file “%s” (key-file) belongs to user %u, neither "
                     "the gateway’s user (%u) nor root; give it to the gateway’s user with "
                     "“chown”"),
                   provider->name, provider->key_file, (guint) st.st_uid, (guint) geteuid ());
      return NULL;
    }

  if (st.st_size > MAX_KEY_FILE_SIZE)
    {
      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_PROVIDERS,
                   _("[provider %s]: the key file “%s” (key-file) is larger than %u bytes"),
                   provider->name, provider->key_file, (guint) MAX_KEY_FILE_SIZE);
      return NULL;
    }

  /* Read at start-up, before the main loop serves anything. */
  if (!g_file_get_contents (provider->key_file, &contents, &length, &local_error))
    {
      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_PROVIDERS,
                   _("[provider %s]: cannot read the key file “%s” (key-file): %s"),
                   provider->name, provider->key_file, local_error->message);
      return NULL;
    }

  keys = split_keys (contents, "\r\n", TRUE, provider->name, where, error);
  sodium_memzero (contents, length);
  g_free (contents);

  return keys;
}

static GStrv
read_key_env (const HelixGatewayProviderConfig  *provider,
              GError                           **error)
{
  g_autofree char *where = NULL;
  const char *value = g_getenv (provider->key_env);

  if (value == NULL || *value == '\0')
    {
      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_PROVIDERS,
                   _("[provider %s]: the environment variable %s (key-env) is not set; set it "
                     "to the provider’s API keys, separated by commas"),
                   provider->name, provider->key_env);
      return NULL;
    }

  where = g_strdup_printf (_("the environment variable %s (key-env)"), provider->key_env);

  return split_keys (value, ",\r\n", FALSE, provider->name, where, error);
}

/* Whether @wanted ("model" or "provider/model") names a configured model. */
gboolean
_helix_gateway_ai_has_model (HelixGatewayAi *ai,
                             const char     *wanted)
{
  const char *slash = strchr (wanted, '/');

  for (guint i = 0; i < ai->models->len; i++)
    {
      HelixGatewayModel *m = g_ptr_array_index (ai->models, i);

      if (g_str_equal (m->model, wanted))
        return TRUE;
      if (slash != NULL && strlen (m->provider) == (gsize) (slash - wanted) &&
          strncmp (m->provider, wanted, slash - wanted) == 0 && g_str_equal (m->model, slash + 1))
        return TRUE;
    }

  return FALSE;
}

static const char *
outcome_label (HelixRouterOutcome outcome)
{
  switch (outcome)
    {
    case HELIX_ROUTER_OUTCOME_OK:
      return "ok";
    case HELIX_ROUTER_OUTCOME_PARTIAL:
      return "partial";
    case HELIX_ROUTER_OUTCOME_FAILED:
    default:
      return "failed";
    }
}

static void
on_call_finished (HelixRouter       *router,
                  HelixRouterResult *result,
                  HelixGatewayAi    *ai)
{
  const char *provider = result->provider != NULL ? result->provider : "none";

  helix_gateway_metrics_observe_ai_call (provider,
                                         result->model != NULL ? result->model : "none",
                                         result->operation, outcome_label (result->outcome),
                                         result->input_tokens, result->output_tokens,
                                         result->cost_usd, result->latency_us,
                                         result->first_token_us);
  if (result->provider != NULL)
    helix_gateway_metrics_set_ai_breaker_state (result->provider,
                                                helix_router_get_health (router,
                                                                         result->provider));
}

/* Puts the state of every breaker into the metrics (before /metrics renders). */
void
_helix_gateway_ai_update_metrics (HelixGatewayAi *ai)
{
  g_auto(GStrv) names = helix_router_list_providers (ai->router);

  for (guint i = 0; names[i] != NULL; i++)
    helix_gateway_metrics_set_ai_breaker_state (names[i],
                                                helix_router_get_health (ai->router, names[i]));
}

static HelixPriceTable *
load_prices (const HelixGatewayConfig  *config,
             GError                   **error)
{
  g_autoptr(HelixPriceTable) prices = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *text = NULL;
  const char *path = helix_gateway_config_get_router_prices (config);
  gsize length = 0;

  prices = helix_price_table_new_default (&local_error);
  if (prices == NULL)
    {
      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_PROVIDERS,
                   _("The shipped price table cannot be loaded: %s"), local_error->message);
      return NULL;
    }

  if (path == NULL)
    return g_steal_pointer (&prices);

  if (!g_file_get_contents (path, &text, &length, &local_error))
    {
      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_PROVIDERS,
                   _("[router]: cannot read the price file “%s” (prices): %s"),
                   path, local_error->message);
      return NULL;
    }

  if (!helix_price_table_load (prices, text, length, &local_error))
    {
      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_PROVIDERS,
                   _("[router]: the price file “%s” (prices) is not valid: %s"),
                   path, local_error->message);
      return NULL;
    }

  return g_steal_pointer (&prices);
}

#ifdef HELIX_GATEWAY_HAVE_LEDGER
static HelixBudget *
make_budget (const HelixGatewayBudgetConfig *limits)
{
  HelixBudget *budget;

  if (limits->global_daily_usd <= 0 && limits->global_monthly_usd <= 0 &&
      limits->user_daily_usd <= 0 && limits->user_monthly_usd <= 0)
    return NULL;

  budget = helix_budget_new ();
  if (limits->global_daily_usd > 0)
    helix_budget_set_limit (budget, HELIX_BUDGET_SCOPE_GLOBAL, HELIX_BUDGET_PERIOD_DAY,
                            limits->global_daily_usd);
  if (limits->global_monthly_usd > 0)
    helix_budget_set_limit (budget, HELIX_BUDGET_SCOPE_GLOBAL, HELIX_BUDGET_PERIOD_MONTH,
                            limits->global_monthly_usd);
  if (limits->user_daily_usd > 0)
    helix_budget_set_limit (budget, HELIX_BUDGET_SCOPE_USER, HELIX_BUDGET_PERIOD_DAY,
                            limits->user_daily_usd);
  if (limits->user_monthly_usd > 0)
    helix_budget_set_limit (budget, HELIX_BUDGET_SCOPE_USER, HELIX_BUDGET_PERIOD_MONTH,
                            limits->user_monthly_usd);
  helix_budget_set_over_policy (budget, limits->downgrade ? HELIX_BUDGET_OVER_DOWNGRADE
                                                          : HELIX_BUDGET_OVER_REFUSE);
  helix_budget_set_alert_ratio (budget, limits->alert_ratio);

  return budget;
}
#endif

/**
 * _helix_gateway_ai_new:
 * @config: the gateway's configuration
 * @error: return location for a #GError
 *
 * Reads the keys and the price file and builds the router, the budget and
 * the ledger. This reads files and opens a database: it runs at start-up.
 *
 * Returns: (nullable): the AI side of the gateway; %NULL without error when
 *   no provider is configured
 */
HelixGatewayAi *
_helix_gateway_ai_new (const HelixGatewayConfig  *config,
                       GError                   **error)
{
  g_autoptr(HelixPriceTable) prices = NULL;
  g_autoptr(GString) names = g_string_new (NULL);
  const char *override;
  HelixGatewayAi *ai;
  gint value;

  if (helix_gateway_config_get_n_providers (config) == 0)
    return NULL;

  prices = load_prices (config, error);
  if (prices == NULL)
    return NULL;

  ai = g_new0 (HelixGatewayAi, 1);
  ai->router = helix_router_new (prices);
  ai->models = g_ptr_array_new_with_free_func (model_free);

  for (guint i = 0; i < helix_gateway_config_get_n_providers (config); i++)
    {
      const HelixGatewayProviderConfig *pc = helix_gateway_config_get_provider (config, i);
      g_autoptr(HelixHttpProvider) provider = NULL;
      g_autoptr(GError) local_error = NULL;
      GStrv keys = NULL;

      if (pc->key_file != NULL)
        keys = read_key_file (pc, error);
      else if (pc->key_env != NULL)
        keys = read_key_env (pc, error);
      if ((pc->key_file != NULL || pc->key_env != NULL) && keys == NULL)
        {
          _helix_gateway_ai_free (ai);
          return NULL;
        }

      provider = helix_http_provider_new_for_kind (pc->kind, pc->name, pc->base_url, NULL,
                                                   &local_error);
      if (provider == NULL)
        {
          keys_free (keys);
          g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_PROVIDERS,
                       _("[provider %s]: %s"), pc->name, local_error->message);
          _helix_gateway_ai_free (ai);
          return NULL;
        }

      /* Keys never reach a log line, an audit entry or a webhook. */
      for (guint j = 0; keys != NULL && keys[j] != NULL; j++)
        helix_sanitizer_add_secret (helix_sanitizer_get_default (), keys[j]);
      helix_http_provider_set_api_keys (provider, (const char * const *) keys);
      helix_router_add_provider (ai->router, HELIX_PROVIDER (provider), pc->name,
                                 (const char * const *) pc->models);

      for (guint j = 0; pc->models[j] != NULL; j++)
        {
          HelixGatewayModel *model = g_new0 (HelixGatewayModel, 1);

          model->provider = g_strdup (pc->name);
          model->model = g_strdup (pc->models[j]);
          g_ptr_array_add (ai->models, model);

          if (helix_price_table_lookup (prices, pc->name, pc->models[j]) == NULL)
            g_info ("AI: %s/%s has no price (see [router] prices): the router picks it only "
                    "when a client asks for it by name", pc->name, pc->models[j]);
        }

      g_string_append_printf (names, "%s%s (%s, %u %s)", names->len > 0 ? ", " : "",
                              pc->name, pc->kind, keys != NULL ? g_strv_length (keys) : 0,
                              keys != NULL && g_strv_length (keys) == 1 ? "key" : "keys");
      keys_free (keys);
    }

  if ((value = helix_gateway_config_get_router_cooldown_ms (config)) >= 0)
    helix_router_set_cooldown (ai->router, (guint) value);
  if ((value = helix_gateway_config_get_router_max_attempts (config)) >= 1)
    helix_router_set_backoff (ai->router, HELIX_ROUTER_DEFAULT_BACKOFF_BASE_MS,
                              HELIX_ROUTER_DEFAULT_BACKOFF_CAP_MS, (guint) value);
  /* Active health checks: a provider that stopped answering opens its breaker
   * before a user's call finds out, and one that answers again closes it. */
  value = helix_gateway_config_get_router_health_interval_ms (config);
  helix_router_set_health_interval (ai->router, value >= 0 ? (guint) value
                                                           : HELIX_ROUTER_DEFAULT_HEALTH_INTERVAL_MS);

  override = helix_gateway_config_get_router_override (config);
  if (override != NULL)
    {
      if (!_helix_gateway_ai_has_model (ai, override))
        {
          g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_PROVIDERS,
                       _("The router’s override “%s” (override in [router], or "
                         "HELIX_PROVIDER_OVERRIDE / PROVIDER_OVERRIDE) names a model that no "
                         "[provider] serves; fix or unset it"),
                       override);
          _helix_gateway_ai_free (ai);
          return NULL;
        }
      helix_router_set_override (ai->router, override);
      g_info ("AI: every call goes to %s (override)", override);
    }

#ifdef HELIX_GATEWAY_HAVE_LEDGER
  ai->budget = make_budget (helix_gateway_config_get_budget (config));
  if (ai->budget != NULL)
    helix_router_set_budget (ai->router, ai->budget);

  {
    g_autofree char *ledger_path = g_build_filename (helix_gateway_config_get_state_dir (config),
                                                     "ledger.db", NULL);
    g_autoptr(GError) local_error = NULL;

    ai->ledger = helix_ledger_open (ledger_path, &local_error);
    if (ai->ledger == NULL)
      {
        g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_PROVIDERS,
                     _("Could not open the AI ledger “%s”: %s"), ledger_path,
                     local_error->message);
        _helix_gateway_ai_free (ai);
        return NULL;
      }
    helix_ledger_attach (ai->ledger, ai->router);

    if (ai->budget != NULL &&
        !helix_ledger_load_budget (ai->ledger, ai->budget, g_get_real_time (), &local_error))
      {
        g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_PROVIDERS,
                     _("Could not read what was spent from the AI ledger “%s”: %s"),
                     ledger_path, local_error->message);
        _helix_gateway_ai_free (ai);
        return NULL;
      }
  }
#endif

  ai->call_finished_id = g_signal_connect (ai->router, "call-finished",
                                           G_CALLBACK (on_call_finished), ai);

  g_info ("AI: providers %s; %u models%s", names->str, ai->models->len,
          ai->budget != NULL ? "; budget limits on" : "");

  return ai;
}

void
_helix_gateway_ai_free (HelixGatewayAi *ai)
{
  if (ai == NULL)
    return;

  g_clear_signal_handler (&ai->call_finished_id, ai->router);
#ifdef HELIX_GATEWAY_HAVE_LEDGER
  if (ai->ledger != NULL)
    helix_ledger_close (ai->ledger);
#endif
  g_clear_object (&ai->ledger);
  g_clear_object (&ai->router);
  g_clear_object (&ai->budget);
  g_clear_pointer (&ai->models, g_ptr_array_unref);
  g_free (ai);
}

HelixRouter *
_helix_gateway_ai_get_router (HelixGatewayAi *ai)
{
  return ai->router;
}

/* (transfer none) (nullable): the ledger, once it is built in */
HelixLedger *
_helix_gateway_ai_get_ledger (HelixGatewayAi *ai)
{
  return ai->ledger;
}

/* (nullable): the budget, when limits are configured */
HelixBudget *
_helix_gateway_ai_get_budget (HelixGatewayAi *ai)
{
  return ai->budget;
}

/* (element-type HelixGatewayModel): the configured models */
GPtrArray *
_helix_gateway_ai_get_models (HelixGatewayAi *ai)
{
  return ai->models;
}
