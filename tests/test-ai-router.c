/* test-ai-router.c: the price table, the router's choice, breakers, retries and failover
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include "fake-provider.h"
#include "helix-http-provider.h"
#include "helix-provider-openai.h"
#include "helix-router.h"
#include "helix-test-util.h"

#define KEY "sk-router-test-key-0123456789"

static const char *prices_text =
  "{\"version\": 1, \"models\": ["
  "{\"provider\": \"cheap\", \"model\": \"cheap-chat\", \"input\": 0.1, \"output\": 0.2,"
  " \"tier\": 2, \"context\": 32768, \"streaming\": true},"
  "{\"provider\": \"dear\", \"model\": \"dear-chat\", \"input\": 1, \"output\": 2,"
  " \"tier\": 3, \"context\": 200000, \"streaming\": true},"
  "{\"provider\": \"tiny\", \"model\": \"tiny\", \"input\": 0, \"output\": 0,"
  " \"tier\": 1, \"context\": 4096, \"streaming\": false}"
  "]}";

/* A fake clock */

static gint64 fake_now = 1000000;

static gint64
fake_clock (gpointer user_data)
{
  return fake_now;
}

/* Scripted providers: a real OpenAI-compatible provider in front of a fake
 * server whose answer changes with each call. */

typedef struct
{
  guint              status;        /* 0: stream the chunks */
  const char        *retry_after;
  const char        *body;
  const char *const *chunks;
  FakeEnd            end;
} Step;

#define SCRIPT_TYPE_PROVIDER (script_provider_get_type ())
G_DECLARE_FINAL_TYPE (ScriptProvider, script_provider, SCRIPT, PROVIDER, GObject)

struct _ScriptProvider
{
  GObject        parent_instance;
  HelixProvider *inner;
  FakeProvider  *fake;
  const Step    *steps;
  guint          n_steps;
  guint          n_calls;
};

static void script_provider_iface_init (HelixProviderInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (ScriptProvider, script_provider, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (HELIX_TYPE_PROVIDER,
                                                      script_provider_iface_init))

static const char *
script_get_name (HelixProvider *provider)
{
  return helix_provider_get_name (SCRIPT_PROVIDER (provider)->inner);
}

static void
script_stream_chat_async (HelixProvider       *provider,
                          HelixChatRequest    *request,
                          HelixChatStream     *stream,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  ScriptProvider *self = SCRIPT_PROVIDER (provider);
  const Step *step = &self->steps[MIN (self->n_calls, self->n_steps - 1)];

  self->n_calls++;
  if (step->status == 0)
    fake_provider_respond_stream (self->fake, step->chunks, step->end);
  else
    fake_provider_respond_error (self->fake, step->status, step->retry_after,
                                 "application/json", step->body);

  helix_provider_stream_chat_async (self->inner, request, stream, cancellable,
                                    callback, user_data);
}

static void
script_check_async (HelixProvider       *provider,
                    GCancellable        *cancellable,
                    GAsyncReadyCallback  callback,
                    gpointer             user_data)
{
  helix_provider_check_async (SCRIPT_PROVIDER (provider)->inner, cancellable, callback, user_data);
}

static gboolean
script_check_finish (HelixProvider  *provider,
                     GAsyncResult   *result,
                     GError        **error)
{
  return helix_provider_check_finish (SCRIPT_PROVIDER (provider)->inner, result, error);
}

static gboolean
script_has_spare_key (HelixProvider *provider)
{
  return helix_provider_has_spare_key (SCRIPT_PROVIDER (provider)->inner);
}

static gboolean
script_stream_chat_finish (HelixProvider  *provider,
                           GAsyncResult   *result,
                           GError        **error)
{
  return helix_provider_stream_chat_finish (SCRIPT_PROVIDER (provider)->inner, result, error);
}

static void
script_provider_iface_init (HelixProviderInterface *iface)
{
  iface->get_name = script_get_name;
  iface->stream_chat_async = script_stream_chat_async;
  iface->stream_chat_finish = script_stream_chat_finish;
  iface->has_spare_key = script_has_spare_key;
  iface->check_async = script_check_async;
  iface->check_finish = script_check_finish;
}

static void
script_provider_finalize (GObject *object)
{
  ScriptProvider *self = SCRIPT_PROVIDER (object);

  g_clear_object (&self->inner);
  g_clear_pointer (&self->fake, fake_provider_free);

  G_OBJECT_CLASS (script_provider_parent_class)->finalize (object);
}

static void
script_provider_class_init (ScriptProviderClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = script_provider_finalize;
}

static void
script_provider_init (ScriptProvider *self)
{
}

static ScriptProvider *
script_provider_new (const char *name)
{
  ScriptProvider *self = g_object_new (SCRIPT_TYPE_PROVIDER, NULL);
  g_autoptr(GError) error = NULL;

  self->fake = fake_provider_new (FAKE_FORMAT_OPENAI);
  self->inner = HELIX_PROVIDER (helix_provider_openai_new (name,
                                                           fake_provider_get_base_url (self->fake),
                                                           KEY, &error));
  g_assert_no_error (error);

  return self;
}

static void
script_provider_set_steps (ScriptProvider *self,
                           const Step     *steps,
                           guint           n_steps)
{
  self->steps = steps;
  self->n_steps = n_steps;
}

/* Wire data */

static const char * const ok_chunks[] = {
  "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n",
  "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
  "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":500}}\n\n",
  "data: [DONE]\n\n",
  NULL
};

static const char * const cut_chunks[] = {
  "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Par\"}}]}\n\n",
  "data: {\"choices\":[{\"delta\":{\"content\":\"tial\"}}]}\n\ndata: {\"choi",
  NULL
};

#define RATE_LIMITED_BODY "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}"
#define SERVER_BODY "{\"error\":{\"message\":\"Internal error\",\"type\":\"server_error\"}}"
#define AUTH_BODY "{\"error\":{\"message\":\"Incorrect API key\",\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}"

static const Step step_ok = { 0, NULL, NULL, ok_chunks, FAKE_END_FINISH };

/* Fixtures */

typedef struct
{
  HelixPriceTable *prices;
  HelixRouter     *router;
  ScriptProvider  *cheap;
  ScriptProvider  *dear;
  HelixProvider   *tiny;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  static const char * const cheap_models[] = { "cheap-chat", NULL };
  static const char * const dear_models[] = { "dear-chat", NULL };
  static const char * const tiny_models[] = { "tiny", NULL };
  g_autoptr(GError) error = NULL;

  fixture->prices = helix_price_table_new ();
  g_assert_true (helix_price_table_load (fixture->prices, prices_text, -1, &error));
  g_assert_no_error (error);

  fixture->cheap = script_provider_new ("cheap");
  fixture->dear = script_provider_new ("dear");
  script_provider_set_steps (fixture->dear, &step_ok, 1);
  fixture->tiny = HELIX_PROVIDER (helix_provider_openai_new ("tiny", "http://127.0.0.1:9/v1",
                                                             NULL, &error));
  g_assert_no_error (error);

  fake_now = 1000000;
  fixture->router = helix_router_new (fixture->prices);
  helix_router_set_clock (fixture->router, fake_clock, NULL);
  helix_router_set_backoff (fixture->router, 1, 20, 3);
  /* Registered dearest first: the order must not matter. */
  helix_router_add_provider (fixture->router, HELIX_PROVIDER (fixture->dear), NULL, dear_models);
  helix_router_add_provider (fixture->router, HELIX_PROVIDER (fixture->cheap), NULL, cheap_models);
  helix_router_add_provider (fixture->router, fixture->tiny, NULL, tiny_models);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  helix_test_assert_finalized (g_steal_pointer (&fixture->router));
  g_clear_object (&fixture->cheap);
  g_clear_object (&fixture->dear);
  g_clear_object (&fixture->tiny);
  g_clear_pointer (&fixture->prices, helix_price_table_unref);
}

/* Price table */

static void
test_prices_default (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixPriceTable) prices = helix_price_table_new_default (&error);
  const HelixModelPrice *price;

  g_assert_no_error (error);
  g_assert_nonnull (prices);
  g_assert_cmpuint (helix_price_table_get_n_items (prices), >, 0);

  price = helix_price_table_lookup (prices, "deepseek", "deepseek-chat");
  g_assert_nonnull (price);
  g_assert_cmpfloat_with_epsilon (price->input_per_m, 0.27, 1e-9);
  g_assert_true (price->streaming);
  g_assert_cmpuint (price->capabilities, ==, HELIX_MODEL_CAPABILITY_CHAT);
  g_assert_null (helix_price_table_lookup (prices, "deepseek", "gpt-4o"));

  /* A speech model transcribes, and does not chat. */
  price = helix_price_table_lookup (prices, "openai", "gpt-4o-mini-transcribe");
  g_assert_nonnull (price);
  g_assert_cmpuint (price->capabilities, ==, HELIX_MODEL_CAPABILITY_TRANSCRIPTION);
}

static void
test_prices_override (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixPriceTable) prices = helix_price_table_new ();
  const HelixModelPrice *price;

  g_assert_true (helix_price_table_load (prices, prices_text, -1, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (helix_price_table_get_n_items (prices), ==, 3);

  g_assert_true (helix_price_table_load (prices,
    "{\"version\": 1, \"models\": ["
    "{\"provider\": \"cheap\", \"model\": \"cheap-chat\", \"input\": 5, \"output\": 6,"
    " \"tier\": 3, \"context\": 1000, \"streaming\": false},"
    "{\"provider\": \"new\", \"model\": \"m\", \"input\": 1, \"output\": 1,"
    " \"tier\": 1, \"context\": 1000, \"streaming\": true},"
    "{\"provider\": \"new\", \"model\": \"whisper-1\", \"input\": 0, \"output\": 0,"
    " \"tier\": 1, \"context\": 1, \"streaming\": false,"
    " \"capabilities\": [\"transcription\"]},"
    "{\"provider\": \"new\", \"model\": \"both\", \"input\": 0, \"output\": 0,"
    " \"tier\": 1, \"context\": 1, \"streaming\": false,"
    " \"capabilities\": [\"transcription\", \"chat\"]}]}", -1, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (helix_price_table_get_n_items (prices), ==, 6);

  /* Without "capabilities", a model can chat. */
  g_assert_cmpuint (helix_price_table_lookup (prices, "new", "m")->capabilities, ==,
                    HELIX_MODEL_CAPABILITY_CHAT);
  g_assert_cmpuint (helix_price_table_lookup (prices, "new", "whisper-1")->capabilities, ==,
                    HELIX_MODEL_CAPABILITY_TRANSCRIPTION);
  g_assert_cmpuint (helix_price_table_lookup (prices, "new", "both")->capabilities, ==,
                    HELIX_MODEL_CAPABILITY_CHAT | HELIX_MODEL_CAPABILITY_TRANSCRIPTION);

  price = helix_price_table_lookup (prices, "cheap", "cheap-chat");
  g_assert_cmpfloat_with_epsilon (price->input_per_m, 5, 1e-9);
  g_assert_cmpuint (price->tier, ==, 3);
  g_assert_false (price->streaming);
  g_assert_cmpfloat_with_epsilon (helix_price_table_cost (price, 1000000, 500000), 8, 1e-9);
  g_assert_nonnull (helix_price_table_lookup (prices, "dear", "dear-chat"));
}

static void
test_prices_invalid (void)
{
  static const struct {
    const char *text;
    const char *message_part;
  } cases[] = {
    { "", "not a JSON object" },
    { "[]", "not a JSON object" },
    { "{\"version\": 2, \"models\": []}", "version" },
    { "{\"version\": 1}", "models" },
    { "{\"version\": 1, \"models\": [], \"extra\": 1}", "extra" },
    { "{\"version\": 1, \"models\": [1]}", "entry 1" },
    { "{\"version\": 1, \"models\": [{\"provider\": \"p\", \"model\": \"m\", \"input\": 1,"
      " \"output\": 1, \"tier\": 1, \"context\": 1, \"streaming\": true},"
      " {\"provider\": \"p\", \"model\": \"x\", \"input\": -1, \"output\": 1, \"tier\": 1,"
      " \"context\": 1, \"streaming\": true}]}", "entry 2 is not valid: p/x: “input”" },
    { "{\"version\": 1, \"models\": [{\"provider\": \"p\", \"model\": \"m\", \"input\": 1,"
      " \"output\": 1, \"tier\": 4, \"context\": 1, \"streaming\": true}]}", "p/m: “tier”" },
    { "{\"version\": 1, \"models\": [{\"provider\": \"p\", \"model\": \"m\", \"input\": 1,"
      " \"output\": 1, \"tier\": 1, \"context\": 0, \"streaming\": true}]}", "“context”" },
    { "{\"version\": 1, \"models\": [{\"provider\": \"p\", \"model\": \"m\", \"input\": 1,"
      " \"output\": \"1\", \"tier\": 1, \"context\": 1, \"streaming\": true}]}", "“output”" },
    { "{\"version\": 1, \"models\": [{\"provider\": \"p\", \"model\": \"m\", \"input\": 1,"
      " \"output\": 1, \"tier\": 1, \"context\": 1, \"streaming\": 1}]}", "“streaming”" },
    { "{\"version\": 1, \"models\": [{\"provider\": \"p\", \"model\": \"m\", \"input\": 1,"
      " \"output\": 1, \"tier\": 1, \"context\": 1, \"streaming\": true, \"colour\": 1}]}", "“colour”" },
    { "{\"version\": 1, \"models\": [{\"model\": \"m\"}]}", "“provider”" },
    { "{\"version\": 1, \"models\": [{\"provider\": \"p\", \"model\": \"m\", \"input\": 1,"
      " \"output\": 1, \"tier\": 1, \"context\": 1, \"streaming\": true},"
      " {\"provider\": \"p\", \"model\": \"m\", \"input\": 1,"
      " \"output\": 1, \"tier\": 1, \"context\": 1, \"streaming\": true}]}", "twice" },
    { "{\"version\": 1, \"models\": [[[[[[[[[[[[]]]]]]]]]]]]}", "not valid" },
    { "{\"version\": 1, \"models\": [{\"provider\": \"p\", \"model\": \"m\", \"input\": 1,"
      " \"output\": 1, \"tier\": 1, \"context\": 1, \"streaming\": true,"
      " \"capabilities\": \"chat\"}]}", "p/m: “capabilities”" },
    { "{\"version\": 1, \"models\": [{\"provider\": \"p\", \"model\": \"m\", \"input\": 1,"
      " \"output\": 1, \"tier\": 1, \"context\": 1, \"streaming\": true,"
      " \"capabilities\": []}]}", "p/m: “capabilities”" },
    { "{\"version\": 1, \"models\": [{\"provider\": \"p\", \"model\": \"m\", \"input\": 1,"
      " \"output\": 1, \"tier\": 1, \"context\": 1, \"streaming\": true,"
      " \"capabilities\": [\"chat\", \"dance\"]}]}", "unknown capability “dance”" },
    { "{\"version\": 1, \"models\": [{\"provider\": \"p\", \"model\": \"m\", \"input\": 1,"
      " \"output\": 1, \"tier\": 1, \"context\": 1, \"streaming\": true,"
      " \"capabilities\": [1]}]}", "unknown capability" },
    { "{\"version\": 1, \"models\": [{\"provider\": \"p\", \"model\": \"m\", \"input\": 1,"
      " \"output\": 1, \"tier\": 1, \"context\": 1, \"streaming\": true,"
      " \"capabilities\": [\"chat\", \"chat\"]}]}", "listed twice" },
    { "{\"version\": 1, \"models\": [{\"provider\": \"p\", \"model\": \"m\", \"input\": 1,"
      " \"output\": 1, \"tier\": 1, \"context\": 1, \"streaming\": true,"
      " \"capabilities\": [\"chat\", \"chat\", \"chat\", \"chat\", \"chat\", \"chat\","
      " \"chat\", \"chat\", \"chat\"]}]}", "1 to 8" },
  };
  g_autoptr(HelixPriceTable) prices = helix_price_table_new ();
  g_autofree char *huge = NULL;

  g_assert_true (helix_price_table_load (prices, prices_text, -1, NULL));

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;

      g_test_message ("case %u: %s", i, cases[i].text);
      g_assert_false (helix_price_table_load (prices, cases[i].text, -1, &error));
      g_assert_error (error, HELIX_PRICE_TABLE_ERROR, HELIX_PRICE_TABLE_ERROR_INVALID);
      g_test_message ("  %s", error->message);
      g_assert_nonnull (strstr (error->message, cases[i].message_part));
      /* A bad text changes nothing. */
      g_assert_cmpuint (helix_price_table_get_n_items (prices), ==, 3);
    }

  huge = g_strnfill (HELIX_PRICE_TABLE_MAX_SIZE + 10, ' ');
  g_assert_false (helix_price_table_load (prices, huge, -1, NULL));
}

/* Choice */

static void
assert_choice (HelixRouter *router,
               const char  *operation,
               const char  *pinned,
               const char  *override,
               const char  *expected_model,
               const char  *expected_reason)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *model = NULL;
  g_autofree char *reason = NULL;
  HelixProvider *provider;

  provider = helix_router_choose (router, operation, pinned, override, &model, &reason, &error);
  g_assert_no_error (error);
  g_assert_nonnull (provider);
  g_assert_cmpstr (model, ==, expected_model);
  if (expected_reason != NULL)
    g_assert_cmpstr (reason, ==, expected_reason);
}

static void
test_choose_cheapest (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  /* tiny is free but tier 1 and short: only enough for a title. */
  assert_choice (fixture->router, "chat", NULL, NULL, "cheap-chat",
                 "cheapest healthy for chat: cheap-chat, $0.10/M in");
  assert_choice (fixture->router, "title", NULL, NULL, "tiny",
                 "cheapest healthy for title: tiny, $0.00/M in");
  assert_choice (fixture->router, "tool-planning", NULL, NULL, "dear-chat",
                 "cheapest healthy for tool-planning: dear-chat, $1.00/M in");
  assert_choice (fixture->router, "synthesis", NULL, NULL, "cheap-chat", NULL);

  g_assert_null (helix_router_choose (fixture->router, "dance", NULL, NULL, NULL, NULL, &error));
  g_assert_error (error, HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_UNKNOWN_OPERATION);
}

static void
test_choose_pinned_override (Fixture       *fixture,
                             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  assert_choice (fixture->router, "chat", "dear-chat", NULL, "dear-chat",
                 "pinned for this session: dear-chat");
  /* A pinned model need not meet the needs: the user chose it. */
  assert_choice (fixture->router, "chat", "tiny/tiny", NULL, "tiny", NULL);
  assert_choice (fixture->router, "title", "tiny", "dear/dear-chat", "dear-chat",
                 "forced by PROVIDER_OVERRIDE: dear/dear-chat");

  g_assert_null (helix_router_choose (fixture->router, "chat", NULL, "cheap/dear-chat",
                                      NULL, NULL, &error));
  g_assert_error (error, HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_UNKNOWN_MODEL);
  g_clear_error (&error);

  /* An override holds even when the provider is down; a pinned model does not. */
  for (guint i = 0; i < HELIX_ROUTER_BREAKER_THRESHOLD; i++)
    helix_router_report (fixture->router, "dear", FALSE);
  assert_choice (fixture->router, "chat", NULL, "dear-chat", "dear-chat", NULL);
  g_assert_null (helix_router_choose (fixture->router, "chat", "dear-chat", NULL,
                                      NULL, NULL, &error));
  g_assert_error (error, HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_NO_CANDIDATE);
}

/* Each operation considers only the models that can do it: transcription
 * never goes to a chat model, and without a speech model the error says so. */
static void
test_choose_capability (Fixture       *fixture,
                        gconstpointer  data)
{
  static const char * const speech_models[] = { "whisper-1", NULL };
  g_autoptr(ScriptProvider) speech = script_provider_new ("speech");
  g_autoptr(GError) error = NULL;

  /* Only chat models: tiny would meet transcription's tier and context. */
  g_assert_null (helix_router_choose (fixture->router, "transcription", NULL, NULL, NULL, NULL,
                                      &error));
  g_assert_error (error, HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_NO_CANDIDATE);
  g_assert_nonnull (strstr (error->message, "No model can do transcription"));
  g_clear_error (&error);
  /* Not a pinned chat model either. */
  g_assert_null (helix_router_choose (fixture->router, "transcription", "tiny", NULL, NULL, NULL,
                                      &error));
  g_assert_error (error, HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_NO_CANDIDATE);
  g_clear_error (&error);

  /* A speech model, free, best tier, long context and streaming: it would win
   * every operation on its needs alone. */
  g_assert_true (helix_price_table_load (fixture->prices,
    "{\"version\": 1, \"models\": ["
    "{\"provider\": \"speech\", \"model\": \"whisper-1\", \"input\": 0, \"output\": 0,"
    " \"tier\": 3, \"context\": 1000000, \"streaming\": true,"
    " \"capabilities\": [\"transcription\"]}]}", -1, &error));
  g_assert_no_error (error);
  helix_router_add_provider (fixture->router, HELIX_PROVIDER (speech), NULL, speech_models);

  assert_choice (fixture->router, "transcription", NULL, NULL, "whisper-1",
                 "cheapest healthy for transcription: whisper-1, $0.00/M in");
  assert_choice (fixture->router, "chat", NULL, NULL, "cheap-chat", NULL);
  assert_choice (fixture->router, "title", NULL, NULL, "tiny", NULL);
  assert_choice (fixture->router, "tool-planning", NULL, NULL, "dear-chat", NULL);
  assert_choice (fixture->router, "synthesis", NULL, NULL, "cheap-chat", NULL);
  /* Pinned for chat, it does not chat: the session's pin fails rather than it. */
  g_assert_null (helix_router_choose (fixture->router, "chat", "whisper-1", NULL, NULL, NULL,
                                      &error));
  g_assert_error (error, HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_NO_CANDIDATE);
  g_assert_nonnull (strstr (error->message, "whisper-1, cannot do chat"));
  g_clear_error (&error);

  /* Every chat model down: the best available for chat is still no speech model. */
  for (guint i = 0; i < HELIX_ROUTER_BREAKER_THRESHOLD; i++)
    {
      helix_router_report (fixture->router, "dear", FALSE);
      helix_router_report (fixture->router, "cheap", FALSE);
      helix_router_report (fixture->router, "tiny", FALSE);
    }
  g_assert_null (helix_router_choose (fixture->router, "chat", NULL, NULL, NULL, NULL, &error));
  g_assert_error (error, HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_NO_CANDIDATE);
  g_clear_error (&error);

  /* The speech model down: there is one, it just does not work now. */
  for (guint i = 0; i < HELIX_ROUTER_BREAKER_THRESHOLD; i++)
    helix_router_report (fixture->router, "speech", FALSE);
  g_assert_null (helix_router_choose (fixture->router, "transcription", NULL, NULL, NULL, NULL,
                                      &error));
  g_assert_error (error, HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_NO_CANDIDATE);
  g_assert_nonnull (strstr (error->message, "No working model can do “transcription” now"));

  helix_router_remove_provider (fixture->router, "speech");
}

static void
assert_health (HelixRouter       *router,
               const char        *name,
               HelixRouterHealth  expected)
{
  g_assert_cmpint (helix_router_get_health (router, name), ==, expected);
}

static void
record_health (HelixRouter *router,
               const char  *name,
               int          health,
               guint        failures,
               GString     *log)
{
  g_string_append_printf (log, "%s:%d:%u ", name, health, failures);
}

static void
test_breaker (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(GString) changes = g_string_new (NULL);

  helix_router_set_cooldown (fixture->router, 30000);
  g_signal_connect (fixture->router, "health-changed", G_CALLBACK (record_health), changes);

  /* Four failures and a success: still closed, the count starts again. */
  for (guint i = 0; i < HELIX_ROUTER_BREAKER_THRESHOLD - 1; i++)
    helix_router_report (fixture->router, "cheap", FALSE);
  helix_router_report (fixture->router, "cheap", TRUE);
  for (guint i = 0; i < HELIX_ROUTER_BREAKER_THRESHOLD - 1; i++)
    helix_router_report (fixture->router, "cheap", FALSE);
  assert_health (fixture->router, "cheap", HELIX_ROUTER_HEALTH_CLOSED);
  assert_choice (fixture->router, "chat", NULL, NULL, "cheap-chat", NULL);

  /* The fifth in a row opens it: the next cheapest is chosen. */
  helix_router_report (fixture->router, "cheap", FALSE);
  assert_health (fixture->router, "cheap", HELIX_ROUTER_HEALTH_OPEN);
  g_assert_false (helix_router_begin_call (fixture->router, "cheap"));
  assert_choice (fixture->router, "chat", NULL, NULL, "dear-chat",
                 "cheapest healthy for chat: dear-chat, $1.00/M in");

  fake_now += 29999999;
  assert_health (fixture->router, "cheap", HELIX_ROUTER_HEALTH_OPEN);

  /* After the cooldown, one probe. */
  fake_now += 1;
  assert_health (fixture->router, "cheap", HELIX_ROUTER_HEALTH_HALF_OPEN);
  assert_choice (fixture->router, "chat", NULL, NULL, "cheap-chat", NULL);
  g_assert_true (helix_router_begin_call (fixture->router, "cheap"));
  g_assert_false (helix_router_begin_call (fixture->router, "cheap"));
  assert_choice (fixture->router, "chat", NULL, NULL, "dear-chat", NULL);

  /* The probe fails: open again, for another cooldown. */
  helix_router_report (fixture->router, "cheap", FALSE);
  assert_health (fixture->router, "cheap", HELIX_ROUTER_HEALTH_OPEN);
  fake_now += 30000000;
  g_assert_true (helix_router_begin_call (fixture->router, "cheap"));

  /* The probe succeeds: closed. */
  helix_router_report (fixture->router, "cheap", TRUE);
  assert_health (fixture->router, "cheap", HELIX_ROUTER_HEALTH_CLOSED);
  g_assert_true (helix_router_begin_call (fixture->router, "cheap"));
  g_assert_true (helix_router_begin_call (fixture->router, "cheap"));
  assert_choice (fixture->router, "chat", NULL, NULL, "cheap-chat", NULL);

  /* Each change was told once: open, half-open, open, half-open, closed. */
  g_assert_cmpstr (changes->str, ==, "cheap:1:5 cheap:2:5 cheap:1:6 cheap:2:6 cheap:0:0 ");
}

/* Chat calls */

typedef struct
{
  gboolean           done;
  gboolean           ok;
  GError            *error;
  HelixRouterResult *result;
} Outcome;

static void
chat_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  Outcome *o = user_data;

  o->ok = helix_router_chat_finish (HELIX_ROUTER (object), result, &o->result, &o->error);
  o->done = TRUE;
}

static void
start_chat (Fixture          *fixture,
            const char       *operation,
            HelixChatRequest *request,
            HelixChatStream  *stream,
            GCancellable     *cancellable,
            Outcome          *o)
{
  HelixRouterParams params = { .operation = operation, .user = "alice" };

  helix_router_chat_async (fixture->router, &params, request, stream, cancellable, chat_cb, o);
}

static void
run_chat_cancellable (Fixture      *fixture,
                      Outcome      *o,
                      GCancellable *cancellable)
{
  g_autoptr(HelixChatRequest) request = helix_chat_request_new ("ignored");

  helix_chat_request_add_message (request, HELIX_MESSAGE_ROLE_USER, "Hi");
  start_chat (fixture, "chat", request, NULL, cancellable, o);
  helix_test_wait_for (o->done, 60, "the routed chat call");
  g_assert_true (o->ok == (o->error == NULL));
  g_assert_nonnull (o->result);
  g_assert_cmpstr (o->result->operation, ==, "chat");
}

static void
run_chat (Fixture *fixture,
          Outcome *o)
{
  run_chat_cancellable (fixture, o, NULL);
}

static void
outcome_clear (Outcome *o)
{
  g_clear_error (&o->error);
  g_clear_pointer (&o->result, helix_router_result_free);
  o->done = FALSE;
  o->ok = FALSE;
}

static void
test_chat_ok (Fixture       *fixture,
              gconstpointer  data)
{
  Outcome o = { 0 };

  script_provider_set_steps (fixture->cheap, &step_ok, 1);
  run_chat (fixture, &o);

  g_assert_no_error (o.error);
  g_assert_cmpint (o.result->outcome, ==, HELIX_ROUTER_OUTCOME_OK);
  g_assert_cmpstr (o.result->provider, ==, "cheap");
  g_assert_cmpstr (o.result->model, ==, "cheap-chat");
  g_assert_cmpstr (o.result->reason, ==, "cheapest healthy for chat: cheap-chat, $0.10/M in");
  g_assert_cmpuint (o.result->attempts, ==, 1);
  g_assert_cmpint (o.result->input_tokens, ==, 1000);
  g_assert_cmpint (o.result->output_tokens, ==, 500);
  g_assert_cmpfloat_with_epsilon (o.result->cost_usd, (1000 * 0.1 + 500 * 0.2) / 1e6, 1e-12);
  g_assert_cmpint (o.result->latency_us, >=, 0);
  g_assert_cmpstr (helix_chat_stream_get_text (o.result->stream), ==, "Hello");
  g_assert_nonnull (strstr (fake_provider_get_last_body (fixture->cheap->fake), "\"cheap-chat\""));
  g_assert_cmpuint (fake_provider_get_n_requests (fixture->dear->fake), ==, 0);

  outcome_clear (&o);
}

static void
test_chat_retry (Fixture       *fixture,
                 gconstpointer  data)
{
  static const Step steps[] = {
    { 429, "0", RATE_LIMITED_BODY, NULL, FAKE_END_FINISH },
    { 429, "0", RATE_LIMITED_BODY, NULL, FAKE_END_FINISH },
    { 0, NULL, NULL, ok_chunks, FAKE_END_FINISH },
  };
  Outcome o = { 0 };

  script_provider_set_steps (fixture->cheap, steps, G_N_ELEMENTS (steps));
  run_chat (fixture, &o);

  g_assert_no_error (o.error);
  g_assert_cmpint (o.result->outcome, ==, HELIX_ROUTER_OUTCOME_OK);
  g_assert_cmpstr (o.result->provider, ==, "cheap");
  g_assert_cmpuint (o.result->attempts, ==, 3);
  g_assert_cmpuint (fake_provider_get_n_requests (fixture->cheap->fake), ==, 3);
  g_assert_cmpuint (fake_provider_get_n_requests (fixture->dear->fake), ==, 0);
  g_assert_cmpstr (helix_chat_stream_get_text (o.result->stream), ==, "Hello");
  assert_health (fixture->router, "cheap", HELIX_ROUTER_HEALTH_CLOSED);

  outcome_clear (&o);
}

static void
test_chat_failover (Fixture       *fixture,
                    gconstpointer  data)
{
  static const Step steps[] = { { 500, NULL, SERVER_BODY, NULL, FAKE_END_FINISH } };
  Outcome o = { 0 };

  script_provider_set_steps (fixture->cheap, steps, 1);
  run_chat (fixture, &o);

  g_assert_no_error (o.error);
  g_assert_cmpint (o.result->outcome, ==, HELIX_ROUTER_OUTCOME_OK);
  g_assert_cmpstr (o.result->provider, ==, "dear");
  g_assert_cmpstr (o.result->model, ==, "dear-chat");
  g_assert_cmpstr (o.result->reason, ==, "failover for chat after cheap failed: dear-chat, $1.00/M in");
  g_assert_cmpuint (o.result->attempts, ==, 4);
  g_assert_cmpuint (fake_provider_get_n_requests (fixture->cheap->fake), ==, 3);
  g_assert_cmpuint (fake_provider_get_n_requests (fixture->dear->fake), ==, 1);
  g_assert_cmpfloat_with_epsilon (o.result->cost_usd, (1000 * 1.0 + 500 * 2.0) / 1e6, 1e-12);
  outcome_clear (&o);

  /* Two more calls like that: five failures in a row open cheap's breaker,
   * and the next call goes straight to dear. */
  run_chat (fixture, &o);
  outcome_clear (&o);
  assert_health (fixture->router, "cheap", HELIX_ROUTER_HEALTH_OPEN);
  g_assert_cmpuint (fake_provider_get_n_requests (fixture->cheap->fake), ==, 5);

  run_chat (fixture, &o);
  g_assert_no_error (o.error);
  g_assert_cmpstr (o.result->reason, ==, "cheapest healthy for chat: dear-chat, $1.00/M in");
  g_assert_cmpuint (o.result->attempts, ==, 1);
  g_assert_cmpuint (fake_provider_get_n_requests (fixture->cheap->fake), ==, 5);
  outcome_clear (&o);
}

static void
test_chat_auth (Fixture       *fixture,
                gconstpointer  data)
{
  static const Step steps[] = { { 401, NULL, AUTH_BODY, NULL, FAKE_END_FINISH } };
  Outcome o = { 0 };

  script_provider_set_steps (fixture->cheap, steps, 1);
  run_chat (fixture, &o);

  g_assert_no_error (o.error);
  g_assert_cmpstr (o.result->provider, ==, "dear");
  g_assert_cmpuint (o.result->attempts, ==, 2);
  g_assert_cmpuint (fake_provider_get_n_requests (fixture->cheap->fake), ==, 1);
  assert_health (fixture->router, "cheap", HELIX_ROUTER_HEALTH_OPEN);
  outcome_clear (&o);
}

static void
test_chat_all_fail (Fixture       *fixture,
                    gconstpointer  data)
{
  static const Step steps[] = { { 401, NULL, AUTH_BODY, NULL, FAKE_END_FINISH } };
  Outcome o = { 0 };

  script_provider_set_steps (fixture->cheap, steps, 1);
  script_provider_set_steps (fixture->dear, steps, 1);
  run_chat (fixture, &o);

  g_assert_error (o.error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_AUTH);
  g_assert_cmpint (o.result->outcome, ==, HELIX_ROUTER_OUTCOME_FAILED);
  g_assert_cmpstr (o.result->provider, ==, "dear");
  g_assert_cmpuint (o.result->attempts, ==, 2);
  g_assert_null (strstr (o.error->message, KEY));
  outcome_clear (&o);

  /* Both breakers open: nothing left to try. */
  run_chat (fixture, &o);
  g_assert_error (o.error, HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_NO_CANDIDATE);
  g_assert_cmpuint (o.result->attempts, ==, 0);
  outcome_clear (&o);
}

static void
test_chat_cut (Fixture       *fixture,
               gconstpointer  data)
{
  static const Step steps[] = { { 0, NULL, NULL, cut_chunks, FAKE_END_CUT } };
  Outcome o = { 0 };

  script_provider_set_steps (fixture->cheap, steps, 1);
  run_chat (fixture, &o);

  g_assert_error (o.error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL);
  g_assert_cmpint (o.result->outcome, ==, HELIX_ROUTER_OUTCOME_PARTIAL);
  g_assert_cmpstr (o.result->provider, ==, "cheap");
  g_assert_cmpuint (o.result->attempts, ==, 1);
  g_assert_cmpstr (helix_chat_stream_get_text (o.result->stream), ==, "Partial");
  g_assert_false (helix_chat_stream_is_complete (o.result->stream));
  g_assert_cmpuint (fake_provider_get_n_requests (fixture->cheap->fake), ==, 1);
  g_assert_cmpuint (fake_provider_get_n_requests (fixture->dear->fake), ==, 0);
  outcome_clear (&o);
}

typedef struct
{
  FakeProvider *fake;
  GCancellable *cancellable;
  guint         id;
} CancelWatch;

/* Cancels once the first call was answered: during the backoff, or just before. */
static gboolean
cancel_after_first_cb (gpointer user_data)
{
  CancelWatch *watch = user_data;

  if (fake_provider_get_n_requests (watch->fake) < 1)
    return G_SOURCE_CONTINUE;

  g_cancellable_cancel (watch->cancellable);
  watch->id = 0;
  return G_SOURCE_REMOVE;
}

static void
test_chat_cancel_backoff (Fixture       *fixture,
                          gconstpointer  data)
{
  /* Retry-After: 5 s. Without the cancel, the call would retry and then fail
   * over to dear, and succeed. */
  static const Step steps[] = { { 429, "5", RATE_LIMITED_BODY, NULL, FAKE_END_FINISH } };
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  CancelWatch watch = { fixture->cheap->fake, cancellable, 0 };
  Outcome o = { 0 };

  helix_router_set_backoff (fixture->router, 1, 60000, 3);
  script_provider_set_steps (fixture->cheap, steps, 1);
  watch.id = g_timeout_add (1, cancel_after_first_cb, &watch);
  run_chat_cancellable (fixture, &o, cancellable);
  g_clear_handle_id (&watch.id, g_source_remove);

  g_assert_error (o.error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CANCELLED);
  g_assert_cmpint (o.result->outcome, ==, HELIX_ROUTER_OUTCOME_FAILED);
  g_assert_cmpuint (o.result->attempts, ==, 1);
  g_assert_cmpuint (fake_provider_get_n_requests (fixture->dear->fake), ==, 0);
  outcome_clear (&o);
}

/* The caller's stream gets the answer as it comes, once, even after retries. */
static void
on_delta (HelixChatStream *stream,
          const char      *piece,
          GPtrArray       *pieces)
{
  g_ptr_array_add (pieces, g_strdup (piece));
}

static void
test_chat_stream (Fixture       *fixture,
                  gconstpointer  data)
{
  static const Step steps[] = {
    { 429, "0", RATE_LIMITED_BODY, NULL, FAKE_END_FINISH },
    { 0, NULL, NULL, ok_chunks, FAKE_END_FINISH },
  };
  g_autoptr(HelixChatRequest) request = helix_chat_request_new ("ignored");
  g_autoptr(HelixChatStream) stream = helix_chat_stream_new ();
  g_autoptr(GPtrArray) pieces = g_ptr_array_new_with_free_func (g_free);
  Outcome o = { 0 };

  script_provider_set_steps (fixture->cheap, steps, G_N_ELEMENTS (steps));
  g_signal_connect (stream, "delta", G_CALLBACK (on_delta), pieces);
  helix_chat_request_add_message (request, HELIX_MESSAGE_ROLE_USER, "Hi");
  start_chat (fixture, "chat", request, stream, NULL, &o);
  helix_test_wait_for (o.done, 60, "the routed chat call");

  g_assert_no_error (o.error);
  g_assert_true (o.result->stream == stream);
  g_assert_cmpuint (o.result->attempts, ==, 2);
  g_assert_cmpuint (pieces->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (pieces, 0), ==, "Hel");
  g_assert_cmpstr (g_ptr_array_index (pieces, 1), ==, "lo");
  g_assert_cmpstr (helix_chat_stream_get_text (stream), ==, "Hello");
  g_assert_true (helix_chat_stream_is_complete (stream));
  g_assert_cmpstr (helix_chat_stream_get_finish_reason (stream), ==, "stop");
  g_assert_cmpint (helix_chat_stream_get_input_tokens (stream), ==, 1000);
  g_assert_cmpint (o.result->first_token_us, >=, 0);
  g_assert_cmpint (o.result->first_token_us, <=, o.result->latency_us);
  g_assert_cmpstr (o.result->user, ==, "alice");
  g_assert_null (o.result->error);
  outcome_clear (&o);
}

/* "call-finished" comes once per call, with the result, before the callback. */
static void
on_call_finished (HelixRouter       *router,
                  HelixRouterResult *result,
                  GPtrArray         *seen)
{
  g_ptr_array_add (seen, g_strdup_printf ("%s %s %s", result->operation,
                                          result->provider != NULL ? result->provider : "-",
                                          result->error != NULL ? "error" : "ok"));
}

static void
test_chat_override (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func (g_free);
  Outcome o = { 0 };

  script_provider_set_steps (fixture->cheap, &step_ok, 1);
  g_signal_connect (fixture->router, "call-finished", G_CALLBACK (on_call_finished), seen);

  helix_router_set_override (fixture->router, "dear/dear-chat");
  g_assert_cmpstr (helix_router_get_override (fixture->router), ==, "dear/dear-chat");
  run_chat (fixture, &o);
  g_assert_no_error (o.error);
  g_assert_cmpstr (o.result->provider, ==, "dear");
  g_assert_cmpstr (o.result->reason, ==, "forced by PROVIDER_OVERRIDE: dear/dear-chat");
  outcome_clear (&o);

  helix_router_set_override (fixture->router, "");
  g_assert_null (helix_router_get_override (fixture->router));
  run_chat (fixture, &o);
  g_assert_cmpstr (o.result->provider, ==, "cheap");
  outcome_clear (&o);

  helix_router_set_override (fixture->router, "nobody/nothing");
  run_chat (fixture, &o);
  g_assert_error (o.error, HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_UNKNOWN_MODEL);
  outcome_clear (&o);

  g_assert_cmpuint (seen->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (seen, 0), ==, "chat dear ok");
  g_assert_cmpstr (g_ptr_array_index (seen, 1), ==, "chat cheap ok");
  g_assert_cmpstr (g_ptr_array_index (seen, 2), ==, "chat - error");
}

static void
test_providers (Fixture       *fixture,
                gconstpointer  data)
{
  static const char * const local_models[] = { "llama", NULL };
  static const char * const local_chunks[] = {
    "data: {\"choices\":[{\"delta\":{\"content\":\"local\"},\"finish_reason\":\"stop\"}]}\n\n",
    "data: [DONE]\n\n",
    NULL
  };
  HelixModelPrice local = { (char *) "local", (char *) "*", 0, 0, 1, 8192, TRUE, 0 };
  g_auto(GStrv) providers = NULL;
  g_auto(GStrv) models = NULL;
  g_autoptr(ScriptProvider) script = NULL;
  Step step = { 0, NULL, NULL, local_chunks, FAKE_END_FINISH };
  Outcome o = { 0 };

  providers = helix_router_list_providers (fixture->router);
  g_assert_cmpstrv (providers, ((const char *[]) { "dear", "cheap", "tiny", NULL }));
  models = helix_router_list_models (fixture->router);
  g_assert_cmpstrv (models, ((const char *[]) { "dear-chat", "cheap-chat", "tiny", NULL }));

  /* A call under way keeps its provider when it is removed. */
  script_provider_set_steps (fixture->cheap, &step_ok, 1);
  {
    g_autoptr(HelixChatRequest) request = helix_chat_request_new ("ignored");

    helix_chat_request_add_message (request, HELIX_MESSAGE_ROLE_USER, "Hi");
    start_chat (fixture, "chat", request, NULL, NULL, &o);
  }
  g_assert_true (helix_router_remove_provider (fixture->router, "cheap"));
  g_assert_false (helix_router_remove_provider (fixture->router, "cheap"));
  helix_test_wait_for (o.done, 60, "the call on a removed provider");
  g_assert_no_error (o.error);
  g_assert_cmpstr (o.result->provider, ==, "cheap");
  outcome_clear (&o);

  /* Only a tier-1 local model left for chat: it answers rather than nobody. */
  g_assert_true (helix_router_remove_provider (fixture->router, "dear"));
  helix_price_table_set (helix_router_get_prices (fixture->router), &local);
  g_assert_nonnull (helix_price_table_lookup (fixture->prices, "local", "llama"));
  script = script_provider_new ("local");
  script_provider_set_steps (script, &step, 1);
  helix_router_add_provider (fixture->router, HELIX_PROVIDER (script), NULL, local_models);
  run_chat (fixture, &o);
  g_assert_no_error (o.error);
  g_assert_cmpstr (o.result->model, ==, "llama");
  g_assert_cmpstr (o.result->reason, ==, "best available for chat (none meets its needs): llama");
  g_assert_cmpstr (helix_chat_stream_get_text (o.result->stream), ==, "local");
  outcome_clear (&o);
}

/* Active health checks */

static HelixRouterProviderStatus *
find_status (GPtrArray  *status,
             const char *name)
{
  for (guint i = 0; i < status->len; i++)
    if (g_str_equal (((HelixRouterProviderStatus *) g_ptr_array_index (status, i))->name, name))
      return g_ptr_array_index (status, i);

  g_assert_not_reached ();
}

static guint
n_checks (HelixRouter *router,
          const char  *name)
{
  g_autoptr(GPtrArray) status = helix_router_get_status (router);

  return find_status (status, name)->n_checks;
}

static void
test_health_checks (Fixture       *fixture,
                    gconstpointer  data)
{
  static const char * const models[] = { "cheap-chat", NULL };
  g_autoptr(GPtrArray) status = NULL;
  HelixRouterProviderStatus *s;

  fake_provider_set_models (fixture->cheap->fake, models);
  fake_provider_set_models (fixture->dear->fake, models);
  for (guint i = 0; i < HELIX_ROUTER_BREAKER_THRESHOLD; i++)
    helix_router_report (fixture->router, "cheap", FALSE);
  assert_health (fixture->router, "cheap", HELIX_ROUTER_HEALTH_OPEN);

  status = helix_router_get_status (fixture->router);
  s = find_status (status, "cheap");
  g_assert_cmpuint (s->n_checks, ==, 0);
  g_assert_cmpint (s->check_latency_us, ==, -1);
  g_assert_cmpuint (s->failures, ==, HELIX_ROUTER_BREAKER_THRESHOLD);
  g_clear_pointer (&status, g_ptr_array_unref);

  /* cheap answers its check: its breaker closes before the cooldown ends.
   * tiny is at a closed port: its check fails and counts. */
  helix_router_check_health (fixture->router);
  helix_test_wait_for (n_checks (fixture->router, "cheap") == 1 &&
                       n_checks (fixture->router, "tiny") == 1 &&
                       n_checks (fixture->router, "dear") == 1, 30, "the health checks");
  assert_health (fixture->router, "cheap", HELIX_ROUTER_HEALTH_CLOSED);
  g_assert_cmpstr (fake_provider_get_last_path (fixture->cheap->fake), ==, "/v1/models");

  status = helix_router_get_status (fixture->router);
  s = find_status (status, "cheap");
  g_assert_null (s->check_error);
  g_assert_cmpint (s->check_latency_us, >=, 0);
  g_assert_cmpint (s->checked_at_us, >, 0);
  s = find_status (status, "tiny");
  g_assert_nonnull (s->check_error);
  g_assert_cmpuint (s->failures, ==, 1);
  g_clear_pointer (&status, g_ptr_array_unref);

  /* A failing check counts like a failed call. */
  fake_provider_respond_error (fixture->dear->fake, 500, NULL, "application/json", SERVER_BODY);
  helix_router_check_health (fixture->router);
  helix_test_wait_for (n_checks (fixture->router, "dear") == 2, 30, "the second check");
  status = helix_router_get_status (fixture->router);
  g_assert_cmpuint (find_status (status, "dear")->failures, ==, 1);
  g_assert_nonnull (strstr (find_status (status, "dear")->check_error, "server error"));
  g_clear_pointer (&status, g_ptr_array_unref);

  /* On a timer */
  helix_router_set_health_interval (fixture->router, 10);
  helix_test_wait_for (n_checks (fixture->router, "cheap") >= 3, 30, "the timed checks");
  helix_router_set_health_interval (fixture->router, 0);
}

/* Key pools */

static void
test_chat_key_pool (Fixture       *fixture,
                    gconstpointer  data)
{
  static const char * const keys[] = { "sk-pool-key-one-0123456789", "sk-pool-key-two-0123456789", NULL };
  static const Step steps[] = {
    { 402, NULL, "{\"error\":{\"message\":\"Insufficient Balance\",\"type\":\"unknown_error\"}}", NULL, FAKE_END_FINISH },
    { 0, NULL, NULL, ok_chunks, FAKE_END_FINISH },
    { 0, NULL, NULL, ok_chunks, FAKE_END_FINISH },
    { 401, NULL, AUTH_BODY, NULL, FAKE_END_FINISH },
  };
  HelixHttpProvider *inner = HELIX_HTTP_PROVIDER (fixture->cheap->inner);
  Outcome o = { 0 };

  helix_http_provider_set_api_keys (inner, keys);
  g_assert_cmpuint (helix_http_provider_get_n_keys (inner), ==, 2);
  script_provider_set_steps (fixture->cheap, steps, G_N_ELEMENTS (steps));

  /* The first key is out of credit: it rests, the second answers at once. */
  run_chat (fixture, &o);
  g_assert_no_error (o.error);
  g_assert_cmpstr (o.result->provider, ==, "cheap");
  g_assert_cmpuint (o.result->attempts, ==, 2);
  g_assert_cmpstr (fake_provider_get_last_header (fixture->cheap->fake, "Authorization"), ==,
                   "Bearer sk-pool-key-two-0123456789");
  g_assert_cmpuint (helix_http_provider_get_n_usable_keys (inner), ==, 1);
  assert_health (fixture->router, "cheap", HELIX_ROUTER_HEALTH_CLOSED);
  outcome_clear (&o);

  /* The next call goes straight to the second key. */
  run_chat (fixture, &o);
  g_assert_no_error (o.error);
  g_assert_cmpuint (o.result->attempts, ==, 1);
  g_assert_cmpstr (fake_provider_get_last_header (fixture->cheap->fake, "Authorization"), ==,
                   "Bearer sk-pool-key-two-0123456789");
  outcome_clear (&o);

  /* The second is refused too: no key left, the provider is out, dear answers. */
  run_chat (fixture, &o);
  g_assert_no_error (o.error);
  g_assert_cmpstr (o.result->provider, ==, "dear");
  g_assert_cmpuint (helix_http_provider_get_n_usable_keys (inner), ==, 0);
  assert_health (fixture->router, "cheap", HELIX_ROUTER_HEALTH_OPEN);
  g_assert_cmpuint (fake_provider_get_n_requests (fixture->cheap->fake), ==, 4);
  outcome_clear (&o);

  /* New keys: usable again. */
  helix_http_provider_set_api_keys (inner, keys);
  g_assert_cmpuint (helix_http_provider_get_n_usable_keys (inner), ==, 2);
}

/* Budgets */

static gint64 wall_now;

static gint64
wall_clock (gpointer user_data)
{
  return wall_now;
}

typedef struct
{
  int     scope;
  char   *user;
  int     period;
  double  used;
  double  limit;
} AlertSeen;

static void
on_alert (HelixBudget *budget,
          int          scope,
          const char  *user,
          int          period,
          double       used,
          double       limit,
          GArray      *alerts)
{
  AlertSeen seen = { scope, g_strdup (user), period, used, limit };

  g_array_append_val (alerts, seen);
}

static void
alert_seen_clear (gpointer data)
{
  g_free (((AlertSeen *) data)->user);
}

static void
test_budget_basics (void)
{
  g_autoptr(HelixBudget) budget = helix_budget_new ();
  g_autoptr(GArray) alerts = g_array_new (FALSE, TRUE, sizeof (AlertSeen));
  g_autoptr(GError) error = NULL;
  HelixBudgetReservation *a, *b, *c;

  g_array_set_clear_func (alerts, alert_seen_clear);
  /* 2026-11-22 12:00 UTC */
  wall_now = G_GINT64_CONSTANT (1795348800) * G_USEC_PER_SEC;
  helix_budget_set_clock (budget, wall_clock, NULL);
  g_signal_connect (budget, "alert", G_CALLBACK (on_alert), alerts);

  g_assert_false (helix_budget_has_limits (budget));
  g_assert_cmpfloat (helix_budget_get_headroom (budget, "alice"), ==, G_MAXDOUBLE);
  helix_budget_set_limit (budget, HELIX_BUDGET_SCOPE_USER, HELIX_BUDGET_PERIOD_DAY, 1.0);
  helix_budget_set_limit (budget, HELIX_BUDGET_SCOPE_GLOBAL, HELIX_BUDGET_PERIOD_MONTH, 10.0);
  g_assert_true (helix_budget_has_limits (budget));
  g_assert_cmpfloat (helix_budget_get_limit (budget, HELIX_BUDGET_SCOPE_USER,
                                             HELIX_BUDGET_PERIOD_DAY), ==, 1.0);

  /* Reservations count against the limit until settled. */
  a = helix_budget_reserve (budget, "alice", 0.5, &error);
  g_assert_no_error (error);
  b = helix_budget_reserve (budget, "alice", 0.4, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (helix_budget_get_reserved (budget, HELIX_BUDGET_SCOPE_USER, "alice",
                                                             HELIX_BUDGET_PERIOD_DAY), 0.9, 1e-12);
  /* 0.9 of 1.0: past 80%, one alert. */
  g_assert_cmpuint (alerts->len, ==, 1);
  g_assert_cmpint (g_array_index (alerts, AlertSeen, 0).scope, ==, HELIX_BUDGET_SCOPE_USER);
  g_assert_cmpstr (g_array_index (alerts, AlertSeen, 0).user, ==, "alice");
  g_assert_cmpint (g_array_index (alerts, AlertSeen, 0).period, ==, HELIX_BUDGET_PERIOD_DAY);

  g_assert_null (helix_budget_reserve (budget, "alice", 0.2, &error));
  g_assert_error (error, HELIX_BUDGET_ERROR, HELIX_BUDGET_ERROR_EXCEEDED);
  g_assert_nonnull (strstr (error->message, "daily budget"));
  g_clear_error (&error);

  /* Another user has their own daily limit. */
  c = helix_budget_reserve (budget, "bob", 0.7, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (helix_budget_get_headroom (budget, "alice"), 0.1, 1e-12);

  /* Settling replaces the estimate with the real cost. */
  helix_budget_settle (budget, a, 0.1);
  g_assert_cmpfloat_with_epsilon (helix_budget_get_spent (budget, HELIX_BUDGET_SCOPE_USER, "alice",
                                                          HELIX_BUDGET_PERIOD_DAY), 0.1, 1e-12);
  g_assert_cmpfloat_with_epsilon (helix_budget_get_headroom (budget, "alice"), 0.5, 1e-12);

  /* Adjusting: up only if it fits. */
  g_assert_false (helix_budget_adjust (budget, b, 0.95, &error));
  g_assert_error (error, HELIX_BUDGET_ERROR, HELIX_BUDGET_ERROR_EXCEEDED);
  g_clear_error (&error);
  g_assert_true (helix_budget_adjust (budget, b, 0.8, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (helix_budget_get_headroom (budget, "alice"), 0.1, 1e-12);
  helix_budget_settle (budget, b, 0.3);
  helix_budget_settle (budget, c, 0.7);
  g_assert_cmpfloat_with_epsilon (helix_budget_get_spent (budget, HELIX_BUDGET_SCOPE_GLOBAL, NULL,
                                                          HELIX_BUDGET_PERIOD_MONTH), 1.1, 1e-12);
  g_assert_cmpfloat (helix_budget_get_reserved (budget, HELIX_BUDGET_SCOPE_GLOBAL, NULL,
                                                HELIX_BUDGET_PERIOD_MONTH), ==, 0);

  /* A new day: alice may spend again; the month still counts. */
  wall_now += 24 * G_TIME_SPAN_HOUR;
  g_assert_cmpfloat (helix_budget_get_spent (budget, HELIX_BUDGET_SCOPE_USER, "alice",
                                             HELIX_BUDGET_PERIOD_DAY), ==, 0);
  a = helix_budget_reserve (budget, "alice", 0.9, &error);
  g_assert_no_error (error);
  helix_budget_settle (budget, a, 0.9);
  g_assert_cmpfloat_with_epsilon (helix_budget_get_spent (budget, HELIX_BUDGET_SCOPE_GLOBAL, NULL,
                                                          HELIX_BUDGET_PERIOD_MONTH), 2.0, 1e-12);
  /* alice's alert for the new day; bob's came when he settled at 0.7? No:
   * 0.7 of 1.0 is under 80%. */
  g_assert_cmpuint (alerts->len, ==, 2);

  /* Spending known from before (the ledger) counts. */
  helix_budget_add_spent (budget, "carol", wall_now, 9.0);
  g_assert_cmpuint (alerts->len, ==, 2);
  g_assert_null (helix_budget_reserve (budget, "dave", 0.01, &error));
  g_assert_error (error, HELIX_BUDGET_ERROR, HELIX_BUDGET_ERROR_EXCEEDED);
  g_assert_nonnull (strstr (error->message, "monthly budget of this installation"));
  g_assert_cmpfloat (helix_budget_get_headroom (budget, "dave"), ==, 0);
}

/* The input of a budget test: about 1000 tokens by the router's estimate,
 * as many as the fake reports. */
static HelixChatRequest *
budget_request (void)
{
  HelixChatRequest *request = helix_chat_request_new ("ignored");
  g_autofree char *text = g_strnfill (2976, 'x');  /* 2976 / 3 + 8 = 1000 tokens */

  helix_chat_request_add_message (request, HELIX_MESSAGE_ROLE_USER, text);
  helix_chat_request_set_max_tokens (request, 500);
  return request;
}

static void
test_budget_concurrent (Fixture       *fixture,
                        gconstpointer  data)
{
  /* cheap-chat: 1000 in × $0.1/M + 500 out × $0.2/M = $0.0002 a call, as
   * estimated and as reported. The day allows ten and a half calls. */
  const double per_call = (1000 * 0.1 + 500 * 0.2) / 1e6;
  const guint n = 50;
  g_autoptr(HelixBudget) budget = helix_budget_new ();
  g_autoptr(HelixChatRequest) request = budget_request ();
  g_autofree Outcome *outcomes = g_new0 (Outcome, n);
  guint ok = 0, refused = 0;

  helix_budget_set_limit (budget, HELIX_BUDGET_SCOPE_USER, HELIX_BUDGET_PERIOD_DAY, per_call * 10.5);
  helix_router_set_budget (fixture->router, budget);
  g_assert_true (helix_router_get_budget (fixture->router) == budget);
  script_provider_set_steps (fixture->cheap, &step_ok, 1);

  /* Fifty at once: all reserve before any settles. */
  for (guint i = 0; i < n; i++)
    start_chat (fixture, "chat", request, NULL, NULL, &outcomes[i]);
  for (guint i = 0; i < n; i++)
    helix_test_wait_for (outcomes[i].done, 60, "the concurrent calls");

  for (guint i = 0; i < n; i++)
    {
      if (outcomes[i].ok)
        ok++;
      else
        {
          g_assert_error (outcomes[i].error, HELIX_BUDGET_ERROR, HELIX_BUDGET_ERROR_EXCEEDED);
          g_assert_cmpuint (outcomes[i].result->attempts, ==, 0);
          refused++;
        }
      outcome_clear (&outcomes[i]);
    }

  g_assert_cmpuint (ok, ==, 10);
  g_assert_cmpuint (refused, ==, 40);
  g_assert_cmpuint (fake_provider_get_n_requests (fixture->cheap->fake), ==, 10);
  g_assert_cmpfloat_with_epsilon (helix_budget_get_spent (budget, HELIX_BUDGET_SCOPE_USER, "alice",
                                                          HELIX_BUDGET_PERIOD_DAY),
                                  per_call * 10, 1e-12);
  g_assert_cmpfloat (helix_budget_get_spent (budget, HELIX_BUDGET_SCOPE_USER, "alice",
                                             HELIX_BUDGET_PERIOD_DAY), <=, per_call * 10.5);
  g_assert_cmpfloat (helix_budget_get_reserved (budget, HELIX_BUDGET_SCOPE_GLOBAL, NULL,
                                                HELIX_BUDGET_PERIOD_DAY), ==, 0);
}

static void
test_budget_downgrade (Fixture       *fixture,
                       gconstpointer  data)
{
  /* tool-planning needs tier 3: dear-chat, $0.002 a call; cheap-chat would
   * cost $0.0002. The limit lets only cheap-chat through. */
  g_autoptr(HelixBudget) budget = helix_budget_new ();
  g_autoptr(HelixChatRequest) request = budget_request ();
  Outcome o = { 0 };

  helix_budget_set_limit (budget, HELIX_BUDGET_SCOPE_GLOBAL, HELIX_BUDGET_PERIOD_DAY, 0.001);
  helix_router_set_budget (fixture->router, budget);
  script_provider_set_steps (fixture->cheap, &step_ok, 1);

  /* Refuse (the default) */
  start_chat (fixture, "tool-planning", request, NULL, NULL, &o);
  helix_test_wait_for (o.done, 60, "the refused call");
  g_assert_error (o.error, HELIX_BUDGET_ERROR, HELIX_BUDGET_ERROR_EXCEEDED);
  g_assert_cmpuint (fake_provider_get_n_requests (fixture->dear->fake), ==, 0);
  outcome_clear (&o);

  /* Downgrade */
  helix_budget_set_over_policy (budget, HELIX_BUDGET_OVER_DOWNGRADE);
  start_chat (fixture, "tool-planning", request, NULL, NULL, &o);
  helix_test_wait_for (o.done, 60, "the downgraded call");
  g_assert_no_error (o.error);
  g_assert_cmpstr (o.result->model, ==, "cheap-chat");
  g_assert_cmpstr (o.result->reason, ==,
                   "downgraded for tool-planning to stay within budget: cheap-chat, $0.10/M in");
  g_assert_cmpfloat_with_epsilon (helix_budget_get_spent (budget, HELIX_BUDGET_SCOPE_GLOBAL, NULL,
                                                          HELIX_BUDGET_PERIOD_DAY),
                                  o.result->cost_usd, 1e-12);
  outcome_clear (&o);

  /* A failover to a dearer model must fit too: cheap fails, dear does not fit. */
  {
    static const Step steps[] = { { 401, NULL, AUTH_BODY, NULL, FAKE_END_FINISH } };

    helix_budget_set_over_policy (budget, HELIX_BUDGET_OVER_REFUSE);
    script_provider_set_steps (fixture->cheap, steps, 1);
    start_chat (fixture, "chat", request, NULL, NULL, &o);
    helix_test_wait_for (o.done, 60, "the call that fails over past the budget");
    g_assert_error (o.error, HELIX_BUDGET_ERROR, HELIX_BUDGET_ERROR_EXCEEDED);
    g_assert_cmpuint (fake_provider_get_n_requests (fixture->dear->fake), ==, 0);
    g_assert_cmpfloat (helix_budget_get_reserved (budget, HELIX_BUDGET_SCOPE_GLOBAL, NULL,
                                                  HELIX_BUDGET_PERIOD_DAY), ==, 0);
    outcome_clear (&o);
  }
}

#define add_test(path, func) \
  g_test_add ("/helix/ai/router/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

int
main (int   argc,
      char *argv[])
{
  fake_provider_test_init (&argc, &argv, KEY);

  g_test_add_func ("/helix/ai/router/prices/default", test_prices_default);
  g_test_add_func ("/helix/ai/router/prices/override", test_prices_override);
  g_test_add_func ("/helix/ai/router/prices/invalid", test_prices_invalid);
  add_test ("choose/cheapest", test_choose_cheapest);
  add_test ("choose/pinned-override", test_choose_pinned_override);
  add_test ("choose/capability", test_choose_capability);
  add_test ("choose/breaker", test_breaker);
  add_test ("chat/ok", test_chat_ok);
  add_test ("chat/retry", test_chat_retry);
  add_test ("chat/failover", test_chat_failover);
  add_test ("chat/auth", test_chat_auth);
  add_test ("chat/all-fail", test_chat_all_fail);
  add_test ("chat/cut", test_chat_cut);
  add_test ("chat/cancel-backoff", test_chat_cancel_backoff);
  add_test ("chat/stream", test_chat_stream);
  add_test ("chat/override", test_chat_override);
  add_test ("chat/key-pool", test_chat_key_pool);
  add_test ("providers", test_providers);
  add_test ("health-checks", test_health_checks);
  g_test_add_func ("/helix/ai/router/budget/basics", test_budget_basics);
  add_test ("budget/concurrent", test_budget_concurrent);
  add_test ("budget/downgrade", test_budget_downgrade);

  return g_test_run ();
}
