/* helix-router-chat.c: a chat call through the router, with retries and failover
 *
 * Retryable failures (helix_provider_error_is_retryable()) are retried with
 * exponential backoff and full jitter, waiting at least the provider's
 * Retry-After, then the next candidate is tried; other failures move on to
 * the next candidate at once (an auth error also opens the provider's
 * breaker). A call that fails after its answer started is not retried: what
 * arrived is kept and the error returned.
 *
 * With a budget (helix_router_set_budget()), the estimated cost of the call
 * (its input, and its max_tokens of output) is reserved before the first
 * attempt and re-estimated on failover; the real cost settles it at the end.
 * A call that does not fit is refused, or with the downgrade policy goes to
 * the cheapest model whose estimate fits.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-ai"

#include "config.h"

#include <glib/gi18n.h>

#include <string.h>

#include "helix-debug.h"
#include "helix-provider-private.h"
#include "helix-router-private.h"

/* Keys of one provider tried in one call, at most. */
#define MAX_KEY_SWITCHES 16

typedef struct
{
  HelixRouter       *router;
  const Operation   *op;
  Choice             choice;
  HelixChatRequest  *request;
  HelixChatStream   *attempt_stream;  /* forwards its text to result->stream */
  GArray            *candidates;
  guint              index;
  guint              attempt;      /* calls to the current candidate */
  guint              key_switches; /* to another key of the same provider */
  char              *failed_name;  /* the candidate failed over from */
  GSource           *backoff;
  gint64             started_at;
  HelixRouterResult *result;
  HelixBudgetReservation *reservation;
} ChatData;

static void
chat_data_free (gpointer data)
{
  ChatData *chat = data;

  if (chat->backoff != NULL)
    {
      g_source_destroy (chat->backoff);
      g_source_unref (chat->backoff);
    }
  g_assert (chat->reservation == NULL);
  g_clear_pointer (&chat->result, helix_router_result_free);
  g_clear_object (&chat->attempt_stream);
  g_free (chat->failed_name);
  g_clear_pointer (&chat->candidates, g_array_unref);
  g_clear_pointer (&chat->request, helix_chat_request_unref);
  g_clear_object (&chat->router);
  g_free (chat);
}

static void try_candidate (GTask *task);

/* The template request, for another model. */
static HelixChatRequest *
request_for_model (HelixChatRequest *template,
                   const char       *model)
{
  HelixChatRequest *request = helix_chat_request_new (model);
  guint connect_ms, first_token_ms, call_ms;
  double temperature;

  for (guint i = 0; i < helix_chat_request_get_n_messages (template); i++)
    helix_chat_request_add_message (request,
                                    helix_chat_request_get_message_role (template, i),
                                    helix_chat_request_get_message_content (template, i));
  helix_chat_request_set_max_tokens (request, helix_chat_request_get_max_tokens (template));
  if (helix_chat_request_get_temperature (template, &temperature))
    helix_chat_request_set_temperature (request, temperature);
  helix_chat_request_get_timeouts (template, &connect_ms, &first_token_ms, &call_ms);
  helix_chat_request_set_timeouts (request, connect_ms, first_token_ms, call_ms);

  return request;
}

/* The most a call of @request to @c may cost: its input (at most a token per
 * three bytes, which holds for English and CJK alike, and a few tokens a
 * message) and all the output it may ask for. */
#define DEFAULT_OUTPUT_ESTIMATE 4096

static double
estimate_cost (HelixChatRequest *request,
               const Candidate  *c)
{
  gint64 input = 0;
  gint64 output = helix_chat_request_get_max_tokens (request);

  if (c->price == NULL)
    return 0;

  for (guint i = 0; i < helix_chat_request_get_n_messages (request); i++)
    input += strlen (helix_chat_request_get_message_content (request, i)) / 3 + 8;

  return helix_price_table_cost (c->price, input, output > 0 ? output : DEFAULT_OUTPUT_ESTIMATE);
}

/* Every model whose estimate fits in @headroom, best tier first, then
 * cheapest: for the downgrade policy. */
static GArray *
list_downgrades (ChatData *chat,
                 double    headroom)
{
  HelixRouter *self = chat->router;
  g_autoptr(GArray) downgrades = g_array_new (FALSE, TRUE, sizeof (Candidate));

  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);

      if (!_helix_router_entry_available (self, entry))
        continue;

      for (guint j = 0; entry->models[j] != NULL; j++)
        {
          Candidate c = { entry, entry->models[j], NULL, 0 };

          c.price = helix_price_table_lookup (self->prices, entry->name, c.model);
          if (c.price == NULL || (c.price->capabilities & chat->op->capability) == 0 ||
              (chat->op->streaming && !c.price->streaming) ||
              estimate_cost (chat->request, &c) > headroom)
            continue;
          c.cost = c.price->input_per_m + c.price->output_per_m;
          entry->ref_count++;
          g_array_append_val (downgrades, c);
        }
    }

  g_array_set_clear_func (downgrades, _helix_router_candidate_clear);
  g_array_sort (downgrades, _helix_router_compare_best_available);
  return g_steal_pointer (&downgrades);
}

/* Reserves the first candidate's estimate, or downgrades. */
static gboolean
reserve (ChatData  *chat,
         GError   **error)
{
  HelixBudget *budget = chat->router->budget;
  const char *user = chat->result->user;
  Candidate *c = &g_array_index (chat->candidates, Candidate, 0);
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GArray) downgrades = NULL;

  chat->reservation = helix_budget_reserve (budget, user, estimate_cost (chat->request, c),
                                            &local_error);
  if (chat->reservation != NULL)
    return TRUE;

  if (helix_budget_get_over_policy (budget) != HELIX_BUDGET_OVER_DOWNGRADE ||
      chat->choice == CHOICE_OVERRIDE)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  downgrades = list_downgrades (chat, helix_budget_get_headroom (budget, user));
  if (downgrades->len == 0)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  c = &g_array_index (downgrades, Candidate, 0);
  chat->reservation = helix_budget_reserve (budget, user, estimate_cost (chat->request, c),
                                            error);
  if (chat->reservation == NULL)
    return FALSE;

  g_debug ("%s: downgraded to %s/%s to stay within budget", chat->op->name, c->entry->name,
           c->model);
  g_array_unref (chat->candidates);
  chat->candidates = g_steal_pointer (&downgrades);
  chat->choice = CHOICE_DOWNGRADED;
  return TRUE;
}

static void
chat_return (GTask              *task,
             HelixRouterOutcome  outcome,
             GError             *error)
{
  ChatData *chat = g_task_get_task_data (task);

  chat->result->outcome = outcome;
  chat->result->latency_us = g_get_monotonic_time () - chat->started_at;
  chat->result->first_token_us = helix_chat_stream_get_first_token_delay (chat->result->stream);
  if (error != NULL)
    chat->result->error = g_strdup (error->message);

  if (chat->reservation != NULL)
    helix_budget_settle (chat->router->budget, g_steal_pointer (&chat->reservation),
                         chat->result->cost_usd);

  _helix_router_emit_call_finished (chat->router, chat->result);

  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

/* Moves on to the next candidate. */
static void
fail_over (GTask *task)
{
  ChatData *chat = g_task_get_task_data (task);
  Candidate *c = &g_array_index (chat->candidates, Candidate, chat->index);

  g_free (chat->failed_name);
  chat->failed_name = g_strdup (c->entry->name);
  chat->index++;
  chat->attempt = 0;
  chat->key_switches = 0;
  try_candidate (task);
}

/* The cancellable's source only wakes the backoff source up: backoff_cb() runs. */
static gboolean
cancelled_cb (GCancellable *cancellable,
              gpointer      user_data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
backoff_cb (gpointer user_data)
{
  GTask *task = user_data;
  ChatData *chat = g_task_get_task_data (task);

  g_clear_pointer (&chat->backoff, g_source_unref);

  if (g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    chat_return (task, HELIX_ROUTER_OUTCOME_FAILED,
                 g_error_new_literal (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CANCELLED,
                                      _("The request was cancelled")));
  else
    try_candidate (task);

  return G_SOURCE_REMOVE;
}

/* Full jitter: a random wait up to base × 2^attempt (capped), and not less
 * than Retry-After. Returns -1 if Retry-After asks for longer than the cap:
 * another candidate is better than a long wait. */
static gint64
backoff_ms (HelixRouter *self,
            guint        attempt,
            gint64       retry_after)
{
  guint64 ceiling = self->backoff_base_ms;

  if (retry_after > 0 && retry_after * 1000 > (gint64) self->backoff_cap_ms)
    return -1;

  for (guint i = 1; i < attempt && ceiling < self->backoff_cap_ms; i++)
    ceiling *= 2;
  ceiling = MIN (ceiling, self->backoff_cap_ms);

  return MAX ((gint64) g_random_double_range (0, (double) ceiling + 1),
              MAX (retry_after, 0) * 1000);
}

static void
attempt_cb (GObject      *object,
            GAsyncResult *res,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  ChatData *chat = g_task_get_task_data (task);
  HelixRouter *self = chat->router;
  Candidate *c = &g_array_index (chat->candidates, Candidate, chat->index);
  HelixChatStream *stream = chat->attempt_stream;
  HelixChatStream *answer = chat->result->stream;
  g_autoptr(GError) error = NULL;
  gint64 delay;

  helix_provider_stream_chat_finish (HELIX_PROVIDER (object), res, &error);

  _helix_chat_stream_set_http_status (answer, helix_chat_stream_get_http_status (stream),
                                      helix_chat_stream_get_retry_after (stream));
  if (helix_chat_stream_get_input_tokens (stream) > 0 ||
      helix_chat_stream_get_output_tokens (stream) > 0)
    _helix_chat_stream_set_usage (answer, helix_chat_stream_get_input_tokens (stream),
                                  helix_chat_stream_get_output_tokens (stream));
  if (helix_chat_stream_get_finish_reason (stream) != NULL)
    _helix_chat_stream_set_finish_reason (answer, helix_chat_stream_get_finish_reason (stream));

  chat->result->input_tokens = MAX (helix_chat_stream_get_input_tokens (stream), 0);
  chat->result->output_tokens = MAX (helix_chat_stream_get_output_tokens (stream), 0);
  chat->result->cost_usd = c->price != NULL ?
    helix_price_table_cost (c->price, chat->result->input_tokens, chat->result->output_tokens) : 0;

  if (error == NULL)
    {
      _helix_router_entry_report (self, c->entry, TRUE);
      _helix_chat_stream_set_complete (answer);
      chat_return (task, HELIX_ROUTER_OUTCOME_OK, NULL);
      return;
    }

  g_debug ("%s/%s: attempt %u failed: %s", c->entry->name, c->model, chat->attempt,
           error->message);

  if (g_error_matches (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CANCELLED) ||
      g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    {
      c->entry->probing = FALSE;
      chat_return (task,
                   helix_chat_stream_get_text_length (stream) > 0 ?
                   HELIX_ROUTER_OUTCOME_PARTIAL : HELIX_ROUTER_OUTCOME_FAILED,
                   g_steal_pointer (&error));
      return;
    }

  if (helix_chat_stream_get_text_length (stream) > 0)
    {
      /* The answer started: another call would answer again from the start. */
      _helix_router_entry_report (self, c->entry, FALSE);
      chat_return (task, HELIX_ROUTER_OUTCOME_PARTIAL, g_steal_pointer (&error));
      return;
    }

  if ((g_error_matches (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_AUTH) ||
       g_error_matches (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_QUOTA)) &&
      helix_provider_has_spare_key (c->entry->provider) && chat->key_switches++ < MAX_KEY_SWITCHES)
    {
      /* The key rests; the provider is fine: its next key, at once. */
      c->entry->probing = FALSE;
      g_debug ("%s: next API key", c->entry->name);
      try_candidate (task);
      return;
    }

  if (g_error_matches (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_AUTH))
    {
      c->entry->failures++;
      _helix_router_entry_open (self, c->entry);
    }
  else if (helix_provider_error_is_retryable (error) ||
           g_error_matches (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_QUOTA))
    _helix_router_entry_report (self, c->entry, FALSE);
  else
    c->entry->probing = FALSE;  /* a bad request says nothing about the provider's health */

  if (helix_provider_error_is_retryable (error) && chat->attempt < self->max_attempts &&
      (chat->choice == CHOICE_OVERRIDE || _helix_router_entry_available (self, c->entry)) &&
      (delay = backoff_ms (self, chat->attempt, helix_chat_stream_get_retry_after (stream))) >= 0)
    {
      g_autoptr(GSource) cancel_source = NULL;

      g_debug ("%s/%s: retrying in %" G_GINT64_FORMAT " ms", c->entry->name, c->model, delay);
      chat->backoff = g_timeout_source_new ((guint) MIN (delay, G_MAXUINT));
      g_source_set_static_name (chat->backoff, "[helix-ai] router backoff");
      if (g_task_get_cancellable (task) != NULL)
        {
          cancel_source = g_cancellable_source_new (g_task_get_cancellable (task));
          g_source_set_callback (cancel_source, G_SOURCE_FUNC (cancelled_cb), NULL, NULL);
          g_source_add_child_source (chat->backoff, cancel_source);
        }
      g_source_set_callback (chat->backoff, backoff_cb, g_object_ref (task), g_object_unref);
      g_source_attach (chat->backoff, g_task_get_context (task));
      return;
    }

  if (chat->index + 1 >= chat->candidates->len || chat->choice == CHOICE_OVERRIDE)
    {
      chat_return (task, HELIX_ROUTER_OUTCOME_FAILED, g_steal_pointer (&error));
      return;
    }

  fail_over (task);
}

static void
forward_delta (HelixChatStream *attempt,
               const char      *piece,
               HelixChatStream *answer)
{
  _helix_chat_stream_append (answer, piece, strlen (piece));
}

/* Calls the current candidate, or the next one its breaker lets through. */
static void
try_candidate (GTask *task)
{
  ChatData *chat = g_task_get_task_data (task);
  HelixRouter *self = chat->router;
  g_autoptr(HelixChatRequest) request = NULL;
  Candidate *c;

  for (;;)
    {
      if (chat->index >= chat->candidates->len)
        {
          chat_return (task, HELIX_ROUTER_OUTCOME_FAILED,
                       g_error_new (HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_NO_CANDIDATE,
                                    _("No working model can do “%s” now. Try again later."),
                                    chat->op->name));
          return;
        }

      c = &g_array_index (chat->candidates, Candidate, chat->index);
      if (chat->choice == CHOICE_OVERRIDE || helix_router_begin_call (self, c->entry->name))
        break;

      chat->index++;
      chat->attempt = 0;
    }

  if (chat->attempt == 0 && chat->reservation != NULL && chat->index > 0)
    {
      GError *error = NULL;

      if (!helix_budget_adjust (chat->router->budget, chat->reservation,
                                estimate_cost (chat->request, c), &error))
        {
          chat_return (task, HELIX_ROUTER_OUTCOME_FAILED, error);
          return;
        }
    }

  if (chat->attempt == 0)
    {
      g_free (chat->result->provider);
      chat->result->provider = g_strdup (c->entry->name);
      g_free (chat->result->model);
      chat->result->model = g_strdup (c->model);
      g_free (chat->result->reason);
      if (chat->failed_name != NULL)
        chat->result->reason = g_strdup_printf ("failover for %s after %s failed: %s%s%.2f%s",
                                                chat->op->name, chat->failed_name, c->model,
                                                c->price != NULL ? ", $" : "",
                                                c->price != NULL ? c->price->input_per_m : 0,
                                                c->price != NULL ? "/M in" : "");
      else
        chat->result->reason = _helix_router_describe (chat->choice, chat->op, c);
    }

  chat->attempt++;
  chat->result->attempts++;
  /* Only an attempt that sent no text is retried, so the answer holds the
   * text of one attempt only. */
  g_clear_object (&chat->attempt_stream);
  chat->attempt_stream = helix_chat_stream_new ();
  g_signal_connect_object (chat->attempt_stream, "delta", G_CALLBACK (forward_delta),
                           chat->result->stream, G_CONNECT_DEFAULT);
  request = request_for_model (chat->request, c->model);

  HELIX_HOT_DEBUG ("%s/%s: attempt %u (%s)", c->entry->name, c->model, chat->attempt,
                   chat->result->reason);
  helix_provider_stream_chat_async (c->entry->provider, request, chat->attempt_stream,
                                    g_task_get_cancellable (task), attempt_cb,
                                    g_object_ref (task));
}

/**
 * helix_router_chat_async:
 * @self: a router
 * @params: what the call is for
 * @request: the request; its model is replaced by each candidate's
 * @stream: (nullable): a new stream that receives the answer as it comes in,
 *   or %NULL for one made for the call (#HelixRouterResult.stream)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the call is done
 * @user_data: data for @callback
 *
 * Runs a chat call on the chosen model, with retries and failover. A pinned
 * model is tried on each provider that serves it; a forced one
 * (helix_router_set_override()) only as named. Retries happen only before
 * any text arrived, so @stream's text is the text of one answer.
 */
void
helix_router_chat_async (HelixRouter             *self,
                         const HelixRouterParams *params,
                         HelixChatRequest        *request,
                         HelixChatStream         *stream,
                         GCancellable            *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;
  ChatData *chat;

  g_return_if_fail (HELIX_IS_ROUTER (self));
  g_return_if_fail (params != NULL && params->operation != NULL);
  g_return_if_fail (request != NULL);
  g_return_if_fail (stream == NULL || HELIX_IS_CHAT_STREAM (stream));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_router_chat_async);
  g_task_set_check_cancellable (task, FALSE);  /* report HELIX_PROVIDER_ERROR_CANCELLED */

  chat = g_new0 (ChatData, 1);
  chat->router = g_object_ref (self);
  chat->request = helix_chat_request_ref (request);
  chat->started_at = g_get_monotonic_time ();
  chat->result = g_new0 (HelixRouterResult, 1);
  chat->result->operation = g_strdup (params->operation);
  chat->result->user = g_strdup (params->user);
  chat->result->session_id = g_strdup (params->session_id);
  chat->result->outcome = HELIX_ROUTER_OUTCOME_FAILED;
  chat->result->first_token_us = -1;
  chat->result->stream = stream != NULL ? g_object_ref (stream) : helix_chat_stream_new ();
  _helix_chat_stream_start (chat->result->stream);
  g_task_set_task_data (task, chat, chat_data_free);

  chat->op = _helix_router_find_operation (params->operation, &error);
  if (chat->op != NULL)
    chat->candidates = _helix_router_list_candidates (self, chat->op, params->pinned_model,
                                                      NULL, &chat->choice, &error);
  if (chat->candidates == NULL ||
      (self->budget != NULL && !reserve (chat, &error)))
    {
      chat_return (task, HELIX_ROUTER_OUTCOME_FAILED, error);
      return;
    }

  try_candidate (task);
}

/**
 * helix_router_chat_finish:
 * @self: a router
 * @result: the result given to the callback
 * @out_result: (out) (optional) (transfer full): the record of the call, set
 *   whether it succeeded or not
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the answer is complete (in the result's stream)
 */
gboolean
helix_router_chat_finish (HelixRouter        *self,
                          GAsyncResult       *result,
                          HelixRouterResult **out_result,
                          GError            **error)
{
  ChatData *chat;

  g_return_val_if_fail (HELIX_IS_ROUTER (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == helix_router_chat_async, FALSE);

  chat = g_task_get_task_data (G_TASK (result));
  if (out_result != NULL)
    *out_result = g_steal_pointer (&chat->result);

  return g_task_propagate_boolean (G_TASK (result), error);
}
