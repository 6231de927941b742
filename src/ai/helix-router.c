/* helix-router.c: picks a provider and model for each AI operation
 *
 * Each operation (chat, title, …) needs a capability (chat or transcription,
 * from the price table), a quality tier, a context length and maybe
 * streaming: only models that can do an operation are its candidates. The
 * router knows the providers, the models each serves and their prices
 * (#HelixPriceTable), and picks the cheapest healthy model that
 * meets the needs, unless the user pinned one for the session or an override
 * (PROVIDER_OVERRIDE, read by the caller) forces one. Every choice carries a
 * short reason, for people.
 *
 * Health is a circuit breaker per provider: it opens after
 * %HELIX_ROUTER_BREAKER_THRESHOLD failures in a row (at once for an auth
 * error), half-opens after a cooldown to let one probe call through, and
 * closes when a call succeeds.
 *
 * helix_router_chat_async() (helix-router-chat.c) runs a chat call on the
 * chosen model, with retries and failover.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-ai"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-router-private.h"

/* What each operation needs. */
static const Operation operations[] = {
  { "chat",          2, 16384, TRUE,  HELIX_MODEL_CAPABILITY_CHAT },
  { "title",         1,  4096, FALSE, HELIX_MODEL_CAPABILITY_CHAT },
  { "synthesis",     2, 32768, FALSE, HELIX_MODEL_CAPABILITY_CHAT },
  { "tool-planning", 3, 32768, FALSE, HELIX_MODEL_CAPABILITY_CHAT },
  { "transcription", 1,     0, FALSE, HELIX_MODEL_CAPABILITY_TRANSCRIPTION },
};

G_DEFINE_FINAL_TYPE (HelixRouter, helix_router, G_TYPE_OBJECT)
G_DEFINE_QUARK (helix-router-error-quark, helix_router_error)

enum {
  CALL_FINISHED,
  HEALTH_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static HelixRouterHealth entry_health (HelixRouter *self,
                                       Entry       *entry);
static Entry *find_entry (HelixRouter *self,
                          const char  *name);

/* Entries are shared with the candidates of calls under way, which may
 * outlive helix_router_remove_provider(). */
static Entry *
entry_ref (Entry *entry)
{
  entry->ref_count++;
  return entry;
}

static void
entry_unref (gpointer data)
{
  Entry *entry = data;

  if (--entry->ref_count > 0)
    return;

  g_clear_object (&entry->provider);
  g_free (entry->check_error);
  g_free (entry->name);
  g_strfreev (entry->models);
  g_free (entry);
}

static gint64
default_clock (gpointer user_data)
{
  return g_get_monotonic_time ();
}

static void
helix_router_dispose (GObject *object)
{
  HelixRouter *self = HELIX_ROUTER (object);

  g_cancellable_cancel (self->health_cancellable);
  g_clear_handle_id (&self->health_source, g_source_remove);

  G_OBJECT_CLASS (helix_router_parent_class)->dispose (object);
}

static void
helix_router_finalize (GObject *object)
{
  HelixRouter *self = HELIX_ROUTER (object);

  g_clear_object (&self->health_cancellable);
  g_clear_pointer (&self->entries, g_ptr_array_unref);
  g_clear_pointer (&self->prices, helix_price_table_unref);
  g_clear_pointer (&self->override, g_free);
  g_clear_object (&self->budget);

  G_OBJECT_CLASS (helix_router_parent_class)->finalize (object);
}

static void
helix_router_class_init (HelixRouterClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = helix_router_dispose;
  G_OBJECT_CLASS (klass)->finalize = helix_router_finalize;

  /**
   * HelixRouter::call-finished:
   * @self: the router
   * @result: (type gpointer): the #HelixRouterResult of the call
   *
   * Emitted when a routed call ends, however it ended, before its callback
   * runs: for the ledger, metrics and logs. @result is valid only during the
   * emission.
   */
  signals[CALL_FINISHED] =
    g_signal_new ("call-finished",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_POINTER);

  /**
   * HelixRouter::health-changed:
   * @self: the router
   * @name: the provider's name
   * @health: its breaker's new #HelixRouterHealth
   * @failures: its failures in a row
   *
   * A provider's breaker opened, half-opened or closed: for the operator
   * view, the audit trail's assistant-state channel and alerts.
   */
  signals[HEALTH_CHANGED] =
    g_signal_new ("health-changed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_INT, G_TYPE_UINT);
}

void
_helix_router_emit_call_finished (HelixRouter       *self,
                                  HelixRouterResult *result)
{
  g_signal_emit (self, signals[CALL_FINISHED], 0, result);
}

static void
helix_router_init (HelixRouter *self)
{
  self->entries = g_ptr_array_new_with_free_func (entry_unref);
  self->clock = default_clock;
  self->cooldown_ms = HELIX_ROUTER_DEFAULT_COOLDOWN_MS;
  self->backoff_base_ms = HELIX_ROUTER_DEFAULT_BACKOFF_BASE_MS;
  self->backoff_cap_ms = HELIX_ROUTER_DEFAULT_BACKOFF_CAP_MS;
  self->max_attempts = HELIX_ROUTER_DEFAULT_MAX_ATTEMPTS;
  self->health_cancellable = g_cancellable_new ();
}

/**
 * helix_router_new:
 * @prices: the prices and abilities of the models
 *
 * Returns: (transfer full): a router without providers
 */
HelixRouter *
helix_router_new (HelixPriceTable *prices)
{
  HelixRouter *self;

  g_return_val_if_fail (prices != NULL, NULL);

  self = g_object_new (HELIX_TYPE_ROUTER, NULL);
  self->prices = helix_price_table_ref (prices);

  return self;
}

/**
 * helix_router_add_provider:
 * @self: a router
 * @provider: a provider
 * @name: (nullable): the name under which the price table lists its models;
 *   %NULL for the provider's name
 * @models: the models it serves, most preferred first at equal price
 */
void
helix_router_add_provider (HelixRouter        *self,
                           HelixProvider      *provider,
                           const char         *name,
                           const char * const *models)
{
  Entry *entry;

  g_return_if_fail (HELIX_IS_ROUTER (self));
  g_return_if_fail (HELIX_IS_PROVIDER (provider));
  g_return_if_fail (models != NULL);
  g_return_if_fail (find_entry (self,
                                name != NULL ? name : helix_provider_get_name (provider)) == NULL);

  entry = g_new0 (Entry, 1);
  entry->ref_count = 1;
  entry->provider = g_object_ref (provider);
  entry->name = g_strdup (name != NULL ? name : helix_provider_get_name (provider));
  entry->models = g_strdupv ((char **) models);
  entry->state = HELIX_ROUTER_HEALTH_CLOSED;
  g_ptr_array_add (self->entries, entry);
}

/* For tests: a clock to use instead of g_get_monotonic_time(). */
void
helix_router_set_clock (HelixRouter          *self,
                        HelixRouterClockFunc  func,
                        gpointer              user_data)
{
  g_return_if_fail (HELIX_IS_ROUTER (self));

  self->clock = func != NULL ? func : default_clock;
  self->clock_data = func != NULL ? user_data : NULL;
}

/* How long an open breaker stays open before it lets a probe through. */
void
helix_router_set_cooldown (HelixRouter *self,
                           guint        cooldown_ms)
{
  g_return_if_fail (HELIX_IS_ROUTER (self));

  self->cooldown_ms = cooldown_ms;
}

/**
 * helix_router_get_cooldown:
 * @self: a router
 *
 * Returns: how long an open breaker stays open, in milliseconds
 */
guint
helix_router_get_cooldown (HelixRouter *self)
{
  g_return_val_if_fail (HELIX_IS_ROUTER (self), 0);

  return self->cooldown_ms;
}

/* The retries of a candidate: base and cap of the backoff, and the calls per
 * candidate (at least 1). */
void
helix_router_set_backoff (HelixRouter *self,
                          guint        base_ms,
                          guint        cap_ms,
                          guint        max_attempts)
{
  g_return_if_fail (HELIX_IS_ROUTER (self));
  g_return_if_fail (max_attempts >= 1);

  self->backoff_base_ms = base_ms;
  self->backoff_cap_ms = MAX (cap_ms, base_ms);
  self->max_attempts = max_attempts;
}

/* Active health checks */

typedef struct
{
  GWeakRef  router;
  Entry    *entry;
  gint64    started_at;
} Check;

static void
check_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  Check *check = user_data;
  g_autoptr(HelixRouter) self = g_weak_ref_get (&check->router);
  g_autoptr(GError) error = NULL;
  Entry *entry = check->entry;
  gboolean ok;

  ok = helix_provider_check_finish (HELIX_PROVIDER (object), result, &error);
  entry->checking = FALSE;

  if (self != NULL && !g_error_matches (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CANCELLED))
    {
      entry->n_checks++;
      entry->check_latency_us = g_get_monotonic_time () - check->started_at;
      entry->checked_at = g_get_real_time ();
      g_free (entry->check_error);
      entry->check_error = ok ? NULL : g_strdup (error->message);
      if (!ok)
        g_debug ("%s: health check failed: %s", entry->name, error->message);

      /* A provider that answers is healthy again, at once; one that does not
       * counts a failure, as a failed call does. */
      _helix_router_entry_report (self, entry, ok);
    }

  g_weak_ref_clear (&check->router);
  entry_unref (entry);
  g_free (check);
}

/**
 * helix_router_check_health:
 * @self: a router
 *
 * Checks every provider now, with a cheap call (helix_provider_check_async()):
 * one that answers closes its breaker, one that fails counts a failure.
 */
void
helix_router_check_health (HelixRouter *self)
{
  g_return_if_fail (HELIX_IS_ROUTER (self));

  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);
      Check *check;

      if (entry->checking || !helix_provider_can_check (entry->provider))
        continue;

      entry->checking = TRUE;
      check = g_new0 (Check, 1);
      g_weak_ref_init (&check->router, self);
      check->entry = entry_ref (entry);
      check->started_at = g_get_monotonic_time ();
      helix_provider_check_async (entry->provider, self->health_cancellable, check_cb, check);
    }
}

static gboolean
health_timeout_cb (gpointer user_data)
{
  helix_router_check_health (HELIX_ROUTER (user_data));

  return G_SOURCE_CONTINUE;
}

/**
 * helix_router_set_health_interval:
 * @self: a router
 * @interval_ms: how often to check every provider (30 s is usual); 0 for never
 */
void
helix_router_set_health_interval (HelixRouter *self,
                                  guint        interval_ms)
{
  g_return_if_fail (HELIX_IS_ROUTER (self));

  self->health_interval_ms = interval_ms;
  g_clear_handle_id (&self->health_source, g_source_remove);
  if (interval_ms > 0)
    {
      self->health_source = g_timeout_add (interval_ms, health_timeout_cb, self);
      g_source_set_static_name (g_main_context_find_source_by_id (NULL, self->health_source),
                                "[helix-ai] health checks");
    }
}

/**
 * helix_router_get_health_interval:
 * @self: a router
 *
 * Returns: how often every provider is checked, in milliseconds; 0 for never
 */
guint
helix_router_get_health_interval (HelixRouter *self)
{
  g_return_val_if_fail (HELIX_IS_ROUTER (self), 0);

  return self->health_interval_ms;
}

void
helix_router_provider_status_free (HelixRouterProviderStatus *status)
{
  if (status == NULL)
    return;

  g_free (status->name);
  g_free (status->check_error);
  g_free (status);
}

/**
 * helix_router_get_status:
 * @self: a router
 *
 * Returns: (transfer container) (element-type HelixRouterProviderStatus): each
 *   provider's state, in the order they were added
 */
GPtrArray *
helix_router_get_status (HelixRouter *self)
{
  GPtrArray *status;

  g_return_val_if_fail (HELIX_IS_ROUTER (self), NULL);

  status = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_router_provider_status_free);
  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);
      HelixRouterProviderStatus *s = g_new0 (HelixRouterProviderStatus, 1);

      s->name = g_strdup (entry->name);
      s->health = entry_health (self, entry);
      s->failures = entry->failures;
      s->n_checks = entry->n_checks;
      s->check_latency_us = entry->n_checks > 0 ? entry->check_latency_us : -1;
      s->checked_at_us = entry->checked_at;
      s->check_error = g_strdup (entry->check_error);
      g_ptr_array_add (status, s);
    }

  return status;
}

/**
 * helix_router_get_prices:
 * @self: a router
 *
 * Returns: (transfer none): the price table; entries may be added to it
 */
HelixPriceTable *
helix_router_get_prices (HelixRouter *self)
{
  g_return_val_if_fail (HELIX_IS_ROUTER (self), NULL);

  return self->prices;
}

/**
 * helix_router_set_budget:
 * @self: a router
 * @budget: (nullable): the budget calls are reserved against, or %NULL for none
 */
void
helix_router_set_budget (HelixRouter *self,
                         HelixBudget *budget)
{
  g_return_if_fail (HELIX_IS_ROUTER (self));
  g_return_if_fail (budget == NULL || HELIX_IS_BUDGET (budget));

  g_set_object (&self->budget, budget);
}

/**
 * helix_router_get_budget:
 * @self: a router
 *
 * Returns: (transfer none) (nullable): the budget
 */
HelixBudget *
helix_router_get_budget (HelixRouter *self)
{
  g_return_val_if_fail (HELIX_IS_ROUTER (self), NULL);

  return self->budget;
}

/**
 * helix_router_set_override:
 * @self: a router
 * @override: (nullable): a model forced for every call, as "model" or
 *   "provider/model" (PROVIDER_OVERRIDE), or %NULL
 *
 * For emergencies: every helix_router_chat_async() uses @override whatever
 * the needs, the health and the pinned model.
 */
void
helix_router_set_override (HelixRouter *self,
                           const char  *override)
{
  g_return_if_fail (HELIX_IS_ROUTER (self));

  if (override != NULL && *override == '\0')
    override = NULL;
  g_free (self->override);
  self->override = g_strdup (override);
}

const char *
helix_router_get_override (HelixRouter *self)
{
  g_return_val_if_fail (HELIX_IS_ROUTER (self), NULL);

  return self->override;
}

/**
 * helix_router_remove_provider:
 * @self: a router
 * @name: the name the provider was added under
 *
 * Calls under way on it finish; no new ones go to it.
 *
 * Returns: %TRUE if there was such a provider
 */
gboolean
helix_router_remove_provider (HelixRouter *self,
                              const char  *name)
{
  g_return_val_if_fail (HELIX_IS_ROUTER (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);

  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);

      if (g_str_equal (entry->name, name))
        {
          g_ptr_array_remove_index (self->entries, i);
          return TRUE;
        }
    }

  return FALSE;
}

/**
 * helix_router_list_providers:
 * @self: a router
 *
 * Returns: (transfer full): the names of the providers, in the order they were added
 */
GStrv
helix_router_list_providers (HelixRouter *self)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  g_return_val_if_fail (HELIX_IS_ROUTER (self), NULL);

  for (guint i = 0; i < self->entries->len; i++)
    g_strv_builder_add (builder, ((Entry *) g_ptr_array_index (self->entries, i))->name);

  return g_strv_builder_end (builder);
}

/**
 * helix_router_list_models:
 * @self: a router
 *
 * Returns: (transfer full): every model some provider serves, once each, in
 *   the order the providers were added
 */
GStrv
helix_router_list_models (HelixRouter *self)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  g_return_val_if_fail (HELIX_IS_ROUTER (self), NULL);

  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);

      for (guint j = 0; entry->models[j] != NULL; j++)
        if (g_hash_table_add (seen, entry->models[j]))
          g_strv_builder_add (builder, entry->models[j]);
    }

  return g_strv_builder_end (builder);
}

/* Breakers */

static Entry *
find_entry (HelixRouter *self,
            const char  *name)
{
  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);

      if (g_str_equal (entry->name, name))
        return entry;
    }

  return NULL;
}

static void
set_state (HelixRouter       *self,
           Entry             *entry,
           HelixRouterHealth  state)
{
  if (entry->state == state)
    return;

  entry->state = state;
  g_signal_emit (self, signals[HEALTH_CHANGED], 0, entry->name, (int) state, entry->failures);
}

static HelixRouterHealth
entry_health (HelixRouter *self,
              Entry       *entry)
{
  if (entry->state == HELIX_ROUTER_HEALTH_OPEN &&
      self->clock (self->clock_data) - entry->opened_at >= (gint64) self->cooldown_ms * 1000)
    {
      g_debug ("%s: breaker half-open", entry->name);
      entry->probing = FALSE;
      set_state (self, entry, HELIX_ROUTER_HEALTH_HALF_OPEN);
    }

  return entry->state;
}

/* Whether a call may go to @entry now. */
gboolean
_helix_router_entry_available (HelixRouter *self,
                               Entry       *entry)
{
  switch (entry_health (self, entry))
    {
    case HELIX_ROUTER_HEALTH_CLOSED:
      return TRUE;
    case HELIX_ROUTER_HEALTH_HALF_OPEN:
      return !entry->probing;
    case HELIX_ROUTER_HEALTH_OPEN:
    default:
      return FALSE;
    }
}

void
_helix_router_entry_open (HelixRouter *self,
                          Entry       *entry)
{
  g_debug ("%s: breaker open after %u failures", entry->name, entry->failures);
  entry->opened_at = self->clock (self->clock_data);
  entry->probing = FALSE;
  set_state (self, entry, HELIX_ROUTER_HEALTH_OPEN);
}

void
_helix_router_entry_report (HelixRouter *self,
                            Entry       *entry,
                            gboolean     success)
{
  entry_health (self, entry);
  entry->probing = FALSE;

  if (success)
    {
      entry->failures = 0;
      set_state (self, entry, HELIX_ROUTER_HEALTH_CLOSED);
      return;
    }

  entry->failures++;
  if (entry->state == HELIX_ROUTER_HEALTH_HALF_OPEN ||
      (entry->state == HELIX_ROUTER_HEALTH_CLOSED &&
       entry->failures >= HELIX_ROUTER_BREAKER_THRESHOLD))
    _helix_router_entry_open (self, entry);
}

/**
 * helix_router_get_health:
 * @self: a router
 * @name: a provider name
 *
 * Returns: the state of the provider's breaker
 */
HelixRouterHealth
helix_router_get_health (HelixRouter *self,
                         const char  *name)
{
  Entry *entry;

  g_return_val_if_fail (HELIX_IS_ROUTER (self), HELIX_ROUTER_HEALTH_OPEN);
  g_return_val_if_fail (name != NULL, HELIX_ROUTER_HEALTH_OPEN);

  entry = find_entry (self, name);
  g_return_val_if_fail (entry != NULL, HELIX_ROUTER_HEALTH_OPEN);

  return entry_health (self, entry);
}

/**
 * helix_router_begin_call:
 * @self: a router
 * @name: a provider name
 *
 * Asks the provider's breaker for a call. A half-open breaker lets one probe
 * through until helix_router_report() tells how it went.
 *
 * Returns: %TRUE if the call may go ahead
 */
gboolean
helix_router_begin_call (HelixRouter *self,
                         const char  *name)
{
  Entry *entry;

  g_return_val_if_fail (HELIX_IS_ROUTER (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);

  entry = find_entry (self, name);
  g_return_val_if_fail (entry != NULL, FALSE);

  if (!_helix_router_entry_available (self, entry))
    return FALSE;

  if (entry->state == HELIX_ROUTER_HEALTH_HALF_OPEN)
    entry->probing = TRUE;

  return TRUE;
}

/* Tells the provider's breaker how a call went. */
void
helix_router_report (HelixRouter *self,
                     const char  *name,
                     gboolean     success)
{
  Entry *entry;

  g_return_if_fail (HELIX_IS_ROUTER (self));
  g_return_if_fail (name != NULL);

  entry = find_entry (self, name);
  g_return_if_fail (entry != NULL);

  _helix_router_entry_report (self, entry, success);
}

/* Choice */

const Operation *
_helix_router_find_operation (const char  *name,
                              GError     **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (operations); i++)
    if (g_str_equal (operations[i].name, name))
      return &operations[i];

  g_set_error (error, HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_UNKNOWN_OPERATION,
               _("There is no AI operation “%s”"), name);
  return NULL;
}

/* Whether a model can do @op at all. A model without a price can chat: the
 * user pinned it by name. */
static gboolean
can_do (const Operation       *op,
        const HelixModelPrice *price)
{
  guint capabilities = price != NULL ? price->capabilities : HELIX_MODEL_CAPABILITY_DEFAULT;

  return (capabilities & op->capability) != 0;
}

static gboolean
meets_needs (const Operation       *op,
             const HelixModelPrice *price)
{
  return price != NULL && can_do (op, price) && price->tier >= op->min_tier &&
         price->context >= op->min_context && (!op->streaming || price->streaming);
}

/* Whether any model of any provider, healthy or not, can do @op. */
static gboolean
any_model_can_do (HelixRouter     *self,
                  const Operation *op)
{
  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);

      for (guint j = 0; entry->models[j] != NULL; j++)
        {
          const HelixModelPrice *price = helix_price_table_lookup (self->prices, entry->name,
                                                                   entry->models[j]);

          if (price != NULL && can_do (op, price))
            return TRUE;
        }
    }

  return FALSE;
}

/* "model" or "provider/model" */
static gboolean
matches (Entry      *entry,
         const char *model,
         const char *wanted)
{
  const char *slash = strchr (wanted, '/');

  if (g_str_equal (model, wanted))
    return TRUE;

  return slash != NULL && strlen (entry->name) == (gsize) (slash - wanted) &&
         strncmp (entry->name, wanted, slash - wanted) == 0 && g_str_equal (model, slash + 1);
}

/* Whether @pinned names served models, none of which can do @op. */
static gboolean
pinned_cannot_do (HelixRouter     *self,
                  const Operation *op,
                  const char      *pinned)
{
  gboolean served = FALSE;

  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);

      for (guint j = 0; entry->models[j] != NULL; j++)
        {
          if (!matches (entry, entry->models[j], pinned))
            continue;
          served = TRUE;
          if (can_do (op, helix_price_table_lookup (self->prices, entry->name, entry->models[j])))
            return FALSE;
        }
    }

  return served;
}

int
_helix_router_compare_candidates (gconstpointer a,
                    gconstpointer b)
{
  const Candidate *ca = a;
  const Candidate *cb = b;

  return (ca->cost > cb->cost) - (ca->cost < cb->cost);
}

int
_helix_router_compare_best_available (gconstpointer a,
                                      gconstpointer b)
{
  const Candidate *ca = a;
  const Candidate *cb = b;

  if (ca->price->tier != cb->price->tier)
    return ca->price->tier > cb->price->tier ? -1 : 1;

  return _helix_router_compare_candidates (a, b);
}

void
_helix_router_candidate_clear (gpointer data)
{
  Candidate *c = data;

  g_clear_pointer (&c->entry, entry_unref);
}

/* The candidates for @op, cheapest first. */
GArray *
_helix_router_list_candidates (HelixRouter      *self,
                               const Operation  *op,
                               const char       *pinned_model,
                               const char       *override,
                               Choice           *choice,
                               GError          **error)
{
  g_autoptr(GArray) candidates = g_array_new (FALSE, TRUE, sizeof (Candidate));
  const char *wanted;

  if (override == NULL)
    override = self->override;
  wanted = override != NULL ? override : pinned_model;

  *choice = override != NULL ? CHOICE_OVERRIDE : pinned_model != NULL ? CHOICE_PINNED :
            CHOICE_CHEAPEST;

  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);

      for (guint j = 0; entry->models[j] != NULL; j++)
        {
          Candidate c = { entry, entry->models[j], NULL, 0 };

          c.price = helix_price_table_lookup (self->prices, entry->name, c.model);
          c.cost = c.price != NULL ? c.price->input_per_m + c.price->output_per_m : 0;

          if (wanted != NULL && !matches (entry, c.model, wanted))
            continue;
          /* An override is forced, whatever the needs and the health. A pinned
           * model only needs to be healthy and able to do the operation; the
           * user chose it. */
          if (*choice == CHOICE_CHEAPEST && !meets_needs (op, c.price))
            continue;
          if (*choice == CHOICE_PINNED && !can_do (op, c.price))
            continue;
          if (*choice != CHOICE_OVERRIDE && !_helix_router_entry_available (self, entry))
            continue;

          entry_ref (entry);
          g_array_append_val (candidates, c);
        }
    }

  if (candidates->len == 0 && *choice == CHOICE_CHEAPEST)
    {
      /* Nothing meets the needs: the best of what there is (a local model
       * answers rather than nobody), highest tier first, then cheapest. */
      for (guint i = 0; i < self->entries->len; i++)
        {
          Entry *entry = g_ptr_array_index (self->entries, i);

          if (!_helix_router_entry_available (self, entry))
            continue;

          for (guint j = 0; entry->models[j] != NULL; j++)
            {
              Candidate c = { entry, entry->models[j], NULL, 0 };

              c.price = helix_price_table_lookup (self->prices, entry->name, c.model);
              if (c.price == NULL || !can_do (op, c.price) || (op->streaming && !c.price->streaming))
                continue;
              c.cost = c.price->input_per_m + c.price->output_per_m;
              entry_ref (entry);
              g_array_append_val (candidates, c);
            }
        }
      if (candidates->len > 0)
        {
          *choice = CHOICE_BEST_AVAILABLE;
          g_array_set_clear_func (candidates, _helix_router_candidate_clear);
          g_array_sort (candidates, _helix_router_compare_best_available);
          return g_steal_pointer (&candidates);
        }
    }

  if (candidates->len == 0)
    {
      if (*choice == CHOICE_CHEAPEST && !any_model_can_do (self, op))
        g_set_error (error, HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_NO_CANDIDATE,
                     _("No model can do %s: none of the providers’ models has the capability “%s” in the price table. Add a provider with such a model."),
                     op->name, helix_model_capability_to_string (op->capability));
      else if (*choice == CHOICE_CHEAPEST)
        g_set_error (error, HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_NO_CANDIDATE,
                     _("No working model can do “%s” now. Add a provider with a suitable model, or try again later."),
                     op->name);
      else if (*choice == CHOICE_PINNED && pinned_cannot_do (self, op, pinned_model))
        g_set_error (error, HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_NO_CANDIDATE,
                     _("The model pinned for this session, %s, cannot do %s. Unpin it to let Helix choose one that can."),
                     pinned_model, op->name);
      else if (*choice == CHOICE_PINNED)
        g_set_error (error, HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_NO_CANDIDATE,
                     _("The model pinned for this session, %s, is not served by a working provider now. Unpin it or try again later."),
                     pinned_model);
      else
        g_set_error (error, HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_UNKNOWN_MODEL,
                     _("PROVIDER_OVERRIDE names %s, which no provider serves. Fix or unset it."),
                     override);
      return NULL;
    }

  g_array_set_clear_func (candidates, _helix_router_candidate_clear);
  g_array_sort (candidates, _helix_router_compare_candidates);  /* stable: registration order at equal cost */
  return g_steal_pointer (&candidates);
}

char *
_helix_router_describe (Choice           choice,
                        const Operation *op,
                        const Candidate *c)
{
  switch (choice)
    {
    case CHOICE_PINNED:
      return g_strdup_printf ("pinned for this session: %s", c->model);
    case CHOICE_OVERRIDE:
      return g_strdup_printf ("forced by PROVIDER_OVERRIDE: %s/%s", c->entry->name, c->model);
    case CHOICE_BEST_AVAILABLE:
      return g_strdup_printf ("best available for %s (none meets its needs): %s",
                              op->name, c->model);
    case CHOICE_DOWNGRADED:
      return g_strdup_printf ("downgraded for %s to stay within budget: %s, $%.2f/M in",
                              op->name, c->model, c->price->input_per_m);
    case CHOICE_CHEAPEST:
    default:
      return g_strdup_printf ("cheapest healthy for %s: %s, $%.2f/M in",
                              op->name, c->model, c->price->input_per_m);
    }
}

/**
 * helix_router_choose:
 * @self: a router
 * @operation: "chat", "title", "synthesis", "tool-planning" or "transcription"
 * @pinned_model: (nullable): the model the user pinned for the session, as
 *   "model" or "provider/model"; it is used if healthy and able to do
 *   @operation, whatever its other needs
 * @override: (nullable): a model forced by PROVIDER_OVERRIDE, as "model" or
 *   "provider/model"; it is used whatever the needs and the health
 * @model: (out) (optional) (transfer full): the model chosen
 * @reason: (out) (optional) (transfer full): why, for people
 * @error: return location for a #GError
 *
 * Chooses the cheapest healthy model (by its price per million input plus
 * output tokens) that meets the operation's needs, unless one is pinned or
 * forced. Does not ask the breaker for a call (helix_router_begin_call()).
 *
 * Returns: (transfer none) (nullable): the provider of the chosen model
 */
HelixProvider *
helix_router_choose (HelixRouter  *self,
                     const char   *operation,
                     const char   *pinned_model,
                     const char   *override,
                     char        **model,
                     char        **reason,
                     GError      **error)
{
  g_autoptr(GArray) candidates = NULL;
  const Operation *op;
  const Candidate *c;
  Choice choice;

  g_return_val_if_fail (HELIX_IS_ROUTER (self), NULL);
  g_return_val_if_fail (operation != NULL, NULL);

  op = _helix_router_find_operation (operation, error);
  if (op == NULL)
    return NULL;

  candidates = _helix_router_list_candidates (self, op, pinned_model, override, &choice, error);
  if (candidates == NULL)
    return NULL;

  c = &g_array_index (candidates, Candidate, 0);
  if (model != NULL)
    *model = g_strdup (c->model);
  if (reason != NULL)
    *reason = _helix_router_describe (choice, op, c);

  return c->entry->provider;
}

/* Results */

void
helix_router_result_free (HelixRouterResult *result)
{
  if (result == NULL)
    return;

  g_free (result->operation);
  g_free (result->user);
  g_free (result->session_id);
  g_free (result->error);
  g_free (result->provider);
  g_free (result->model);
  g_free (result->reason);
  g_clear_object (&result->stream);
  g_free (result);
}

