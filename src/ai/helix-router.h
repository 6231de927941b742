/* helix-router.h: picks a provider and model for each AI operation
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-budget.h"
#include "helix-price-table.h"
#include "helix-provider.h"

G_BEGIN_DECLS

#define HELIX_ROUTER_ERROR (helix_router_error_quark ())

/**
 * HelixRouterError:
 * @HELIX_ROUTER_ERROR_UNKNOWN_OPERATION: no such operation
 * @HELIX_ROUTER_ERROR_UNKNOWN_MODEL: the pinned or forced model is served by no
 *   registered provider
 * @HELIX_ROUTER_ERROR_NO_CANDIDATE: no healthy model meets the operation's needs
 */
typedef enum
{
  HELIX_ROUTER_ERROR_UNKNOWN_OPERATION,
  HELIX_ROUTER_ERROR_UNKNOWN_MODEL,
  HELIX_ROUTER_ERROR_NO_CANDIDATE,
} HelixRouterError;

/**
 * HelixRouterHealth:
 * @HELIX_ROUTER_HEALTH_CLOSED: the breaker is closed: calls go through
 * @HELIX_ROUTER_HEALTH_OPEN: too many failures in a row: no calls until the cooldown ends
 * @HELIX_ROUTER_HEALTH_HALF_OPEN: the cooldown ended: one probe call may go through
 */
typedef enum
{
  HELIX_ROUTER_HEALTH_CLOSED,
  HELIX_ROUTER_HEALTH_OPEN,
  HELIX_ROUTER_HEALTH_HALF_OPEN,
} HelixRouterHealth;

/**
 * HelixRouterOutcome:
 * @HELIX_ROUTER_OUTCOME_OK: the answer is complete
 * @HELIX_ROUTER_OUTCOME_FAILED: no answer: every attempt failed
 * @HELIX_ROUTER_OUTCOME_PARTIAL: the answer broke off after it started; what
 *   arrived is kept in the stream
 */
typedef enum
{
  HELIX_ROUTER_OUTCOME_OK,
  HELIX_ROUTER_OUTCOME_FAILED,
  HELIX_ROUTER_OUTCOME_PARTIAL,
} HelixRouterOutcome;

/* Defaults of the breaker and the retries. */
#define HELIX_ROUTER_BREAKER_THRESHOLD        5
#define HELIX_ROUTER_DEFAULT_COOLDOWN_MS      30000
#define HELIX_ROUTER_DEFAULT_BACKOFF_BASE_MS  500
#define HELIX_ROUTER_DEFAULT_BACKOFF_CAP_MS   20000
#define HELIX_ROUTER_DEFAULT_MAX_ATTEMPTS     3
#define HELIX_ROUTER_DEFAULT_HEALTH_INTERVAL_MS 30000

/**
 * HelixRouterProviderStatus:
 * @name: the provider's name
 * @health: its breaker
 * @failures: failures in a row
 * @n_checks: active health checks done
 * @check_latency_us: how long the last check took, or -1
 * @checked_at_us: when it ended (µs since the Unix epoch), or 0
 * @check_error: (nullable): why the last check failed
 *
 * What the router knows about a provider, for people (operator view, metrics).
 */
typedef struct
{
  char              *name;
  HelixRouterHealth  health;
  guint              failures;
  guint              n_checks;
  gint64             check_latency_us;
  gint64             checked_at_us;
  char              *check_error;
} HelixRouterProviderStatus;

void helix_router_provider_status_free (HelixRouterProviderStatus *status);

/**
 * HelixRouterClockFunc:
 * @user_data: the data given with the function
 *
 * Returns: monotonic time in microseconds, as g_get_monotonic_time()
 */
typedef gint64 (*HelixRouterClockFunc) (gpointer user_data);

/**
 * HelixRouterParams:
 * @operation: "chat", "title", "synthesis", "tool-planning" or "transcription"
 * @user: (nullable): who asks, for the budgets and the ledger; %NULL for the
 *   local user of the desktop
 * @session_id: (nullable): the chat session, for the ledger
 * @pinned_model: (nullable): the model the user pinned for the session, as
 *   "model" or "provider/model"
 *
 * What a routed call is for. The strings are copied.
 */
typedef struct
{
  const char *operation;
  const char *user;
  const char *session_id;
  const char *pinned_model;
} HelixRouterParams;

/**
 * HelixRouterResult:
 * @operation: the operation
 * @user: (nullable): who asked
 * @session_id: (nullable): the session
 * @provider: (nullable): the provider of the last attempt
 * @model: (nullable): the model of the last attempt
 * @reason: (nullable): why that model was chosen, for people
 * @attempts: calls made, over all candidates
 * @outcome: how it ended
 * @latency_us: from the start to the end, in microseconds
 * @input_tokens: input tokens of the last attempt, as the provider reported (0 if not)
 * @output_tokens: output tokens of the last attempt (0 if not)
 * @cost_usd: what the tokens of the last attempt cost
 * @first_token_us: from the start to the first text, in microseconds, or -1
 * @error: (nullable): why it failed, for people (already free of secrets)
 * @stream: the answer, or what arrived of it: the stream given to
 *   helix_router_chat_async(), or one made for the call
 *
 * The record of one routed call (for the ledger).
 */
typedef struct
{
  char               *operation;
  char               *user;
  char               *session_id;
  char               *provider;
  char               *model;
  char               *reason;
  guint               attempts;
  HelixRouterOutcome  outcome;
  gint64              latency_us;
  gint64              input_tokens;
  gint64              output_tokens;
  double              cost_usd;
  gint64              first_token_us;
  char               *error;
  HelixChatStream    *stream;
} HelixRouterResult;

void helix_router_result_free (HelixRouterResult *result);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixRouterResult, helix_router_result_free)

#define HELIX_TYPE_ROUTER (helix_router_get_type ())

G_DECLARE_FINAL_TYPE (HelixRouter, helix_router, HELIX, ROUTER, GObject)

GQuark             helix_router_error_quark      (void);

HelixRouter       *helix_router_new              (HelixPriceTable       *prices);
void               helix_router_add_provider     (HelixRouter           *self,
                                                  HelixProvider         *provider,
                                                  const char            *name,
                                                  const char * const    *models);
void               helix_router_set_clock        (HelixRouter           *self,
                                                  HelixRouterClockFunc   func,
                                                  gpointer               user_data);
void               helix_router_set_cooldown     (HelixRouter           *self,
                                                  guint                  cooldown_ms);
guint              helix_router_get_cooldown     (HelixRouter           *self);
void               helix_router_set_backoff      (HelixRouter           *self,
                                                  guint                  base_ms,
                                                  guint                  cap_ms,
                                                  guint                  max_attempts);
void               helix_router_set_health_interval (HelixRouter        *self,
                                                     guint               interval_ms);
guint              helix_router_get_health_interval (HelixRouter        *self);
void               helix_router_check_health     (HelixRouter           *self);
GPtrArray         *helix_router_get_status       (HelixRouter           *self);
void               helix_router_set_budget       (HelixRouter           *self,
                                                  HelixBudget           *budget);
HelixBudget       *helix_router_get_budget       (HelixRouter           *self);
HelixPriceTable   *helix_router_get_prices       (HelixRouter           *self);
void               helix_router_set_override     (HelixRouter           *self,
                                                  const char            *override);
const char        *helix_router_get_override     (HelixRouter           *self);
gboolean           helix_router_remove_provider  (HelixRouter           *self,
                                                  const char            *name);
GStrv              helix_router_list_providers   (HelixRouter           *self);
GStrv              helix_router_list_models      (HelixRouter           *self);

HelixProvider     *helix_router_choose           (HelixRouter           *self,
                                                  const char            *operation,
                                                  const char            *pinned_model,
                                                  const char            *override,
                                                  char                 **model,
                                                  char                 **reason,
                                                  GError               **error);

HelixRouterHealth  helix_router_get_health       (HelixRouter           *self,
                                                  const char            *name);
gboolean           helix_router_begin_call       (HelixRouter           *self,
                                                  const char            *name);
void               helix_router_report           (HelixRouter           *self,
                                                  const char            *name,
                                                  gboolean               success);

void               helix_router_chat_async       (HelixRouter           *self,
                                                  const HelixRouterParams *params,
                                                  HelixChatRequest      *request,
                                                  HelixChatStream       *stream,
                                                  GCancellable          *cancellable,
                                                  GAsyncReadyCallback    callback,
                                                  gpointer               user_data);
gboolean           helix_router_chat_finish      (HelixRouter           *self,
                                                  GAsyncResult          *result,
                                                  HelixRouterResult    **out_result,
                                                  GError               **error);

G_END_DECLS
