/* test-ai-anthropic.c: the Anthropic Messages provider against a loopback fake server
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "fake-provider.h"
#include "helix-provider-anthropic.h"
#include "helix-test-ai.h"

#define KEY "sk-ant-helix-test-SECRET-0123456789"

typedef HelixTestAiFixture Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  helix_test_ai_fixture_init (fixture, FAKE_FORMAT_ANTHROPIC, "claude-test");
  fixture->provider = HELIX_HTTP_PROVIDER (helix_provider_anthropic_new ("fake-anthropic", fixture->base_url, KEY, &error));
  g_assert_no_error (error);
  /* These tests are about one key's errors; the pool has its own test. */
  helix_http_provider_set_key_rest (fixture->provider, 0);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  helix_test_ai_fixture_clear (fixture);
}

#define MESSAGE_START \
  "event: message_start\n" \
  "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\"," \
  "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-test\",\"stop_reason\":null," \
  "\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"
#define BLOCK_START \
  "event: content_block_start\n" \
  "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
#define TEXT_DELTA(text) \
  "event: content_block_delta\n" \
  "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" text "\"}}\n\n"
#define PING "event: ping\ndata: {\"type\": \"ping\"}\n\n"

/* A full answer as the API streams it, split in the middle of lines and of a
 * UTF-8 character, with a thinking block and an event type from the future. */
static void
test_stream (Fixture       *fixture,
             gconstpointer  data)
{
  static const char * const chunks[] = {
    MESSAGE_START,
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Hmm.\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQB\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\r\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\r\n\r\n",
    PING,
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"H\xC3",
    "\xA9l\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,",
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: future_event\ndata: {\"type\":\"future_event\",\"x\":[1]}\n\n",
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
    "\"usage\":{\"output_tokens\":15}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    NULL
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *body;
  JsonArray *messages;
  JsonObject *message;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_FINISH);
  helix_chat_request_add_message (fixture->request, HELIX_MESSAGE_ROLE_ASSISTANT, "H\xC3\xA9llo");
  helix_chat_request_add_message (fixture->request, HELIX_MESSAGE_ROLE_SYSTEM, "Be kind.");
  helix_chat_request_add_message (fixture->request, HELIX_MESSAGE_ROLE_USER, "Again");
  helix_chat_request_set_max_tokens (fixture->request, 64);
  helix_chat_request_set_temperature (fixture->request, 0.5);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_no_error (error);

  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "H\xC3\xA9llo");
  g_assert_cmpuint (fixture->deltas->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (fixture->deltas, 0), ==, "H\xC3\xA9l");
  g_assert_cmpstr (g_ptr_array_index (fixture->deltas, 1), ==, "lo");
  g_assert_cmpstr (helix_chat_stream_get_finish_reason (fixture->stream), ==, "end_turn");
  g_assert_cmpint (helix_chat_stream_get_input_tokens (fixture->stream), ==, 25);
  g_assert_cmpint (helix_chat_stream_get_output_tokens (fixture->stream), ==, 15);
  g_assert_cmpuint (fixture->n_usage, ==, 1);
  g_assert_true (helix_chat_stream_is_complete (fixture->stream));
  g_assert_cmpuint (helix_chat_stream_get_http_status (fixture->stream), ==, 200);
  g_assert_cmpint (helix_chat_stream_get_first_token_delay (fixture->stream), >=, 0);

  /* The request on the wire. */
  g_assert_cmpuint (fake_provider_get_n_requests (fixture->fake), ==, 1);
  g_assert_cmpstr (fake_provider_get_last_path (fixture->fake), ==, "/v1/messages");
  g_assert_null (fake_provider_get_last_query (fixture->fake));
  g_assert_cmpstr (fake_provider_get_last_header (fixture->fake, "x-api-key"), ==, KEY);
  g_assert_cmpstr (fake_provider_get_last_header (fixture->fake, "anthropic-version"), ==, "2023-06-01");
  g_assert_cmpstr (fake_provider_get_last_header (fixture->fake, "Content-Type"), ==, "application/json");
  g_assert_cmpstr (fake_provider_get_last_header (fixture->fake, "Accept"), ==, "text/event-stream");
  g_assert_null (fake_provider_get_last_header (fixture->fake, "Authorization"));
  body = helix_test_ai_last_body (fixture, parser);
  g_assert_cmpstr (json_object_get_string_member (body, "model"), ==, "claude-test");
  g_assert_true (json_object_get_boolean_member (body, "stream"));
  g_assert_cmpint (json_object_get_int_member (body, "max_tokens"), ==, 64);
  g_assert_cmpfloat (json_object_get_double_member (body, "temperature"), ==, 0.5);
  /* The system messages go into "system", not into "messages". */
  g_assert_cmpstr (json_object_get_string_member (body, "system"), ==, "Be brief.\n\nBe kind.");
  messages = json_object_get_array_member (body, "messages");
  g_assert_cmpuint (json_array_get_length (messages), ==, 3);
  message = json_array_get_object_element (messages, 0);
  g_assert_cmpstr (json_object_get_string_member (message, "role"), ==, "user");
  g_assert_cmpstr (json_object_get_string_member (message, "content"), ==, "Say h\xC3\xA9llo");
  message = json_array_get_object_element (messages, 1);
  g_assert_cmpstr (json_object_get_string_member (message, "role"), ==, "assistant");
  g_assert_cmpstr (json_object_get_string_member (message, "content"), ==, "H\xC3\xA9llo");
  message = json_array_get_object_element (messages, 2);
  g_assert_cmpstr (json_object_get_string_member (message, "role"), ==, "user");
  g_assert_cmpstr (json_object_get_string_member (message, "content"), ==, "Again");
}

/* max_tokens is required: a default goes out; no system or temperature unless set. */
static void
test_defaults (Fixture       *fixture,
               gconstpointer  data)
{
  static const char * const chunks[] = {
    MESSAGE_START BLOCK_START TEXT_DELTA ("ok")
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    NULL
  };
  g_autoptr(HelixChatRequest) request = helix_chat_request_new ("claude-test");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *body;

  helix_chat_request_add_message (request, HELIX_MESSAGE_ROLE_USER, "Hi");
  helix_chat_request_unref (fixture->request);
  fixture->request = helix_chat_request_ref (request);
  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_FINISH);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "ok");
  g_assert_true (helix_chat_stream_is_complete (fixture->stream));
  /* Only message_start's counts: the input is known, the output is what it said. */
  g_assert_cmpint (helix_chat_stream_get_input_tokens (fixture->stream), ==, 25);

  body = helix_test_ai_last_body (fixture, parser);
  g_assert_cmpint (json_object_get_int_member (body, "max_tokens"), ==,
                   HELIX_PROVIDER_ANTHROPIC_DEFAULT_MAX_TOKENS);
  g_assert_false (json_object_has_member (body, "system"));
  g_assert_false (json_object_has_member (body, "temperature"));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (body, "messages")), ==, 1);
}

typedef struct
{
  guint       status;
  const char *retry_after;
  const char *content_type;
  const char *body;
  int         code;
  gint64      retry_after_seconds;
  const char *says;
} HttpCase;

#define ERROR_BODY(type, message) \
  "{\"type\":\"error\",\"error\":{\"type\":\"" type "\",\"message\":\"" message "\"}," \
  "\"request_id\":\"req_011\"}"

static void
test_http_errors (Fixture       *fixture,
                  gconstpointer  data)
{
  const HttpCase cases[] = {
    { 400, NULL, "application/json", ERROR_BODY ("invalid_request_error", "messages: field required"),
      HELIX_PROVIDER_ERROR_BAD_REQUEST, -1, "messages: field required" },
    { 400, NULL, "application/json",
      ERROR_BODY ("invalid_request_error", "Your credit balance is too low to access the Anthropic API."),
      HELIX_PROVIDER_ERROR_QUOTA, -1, "credit balance" },
    { 401, NULL, "application/json", ERROR_BODY ("authentication_error", "invalid x-api-key " KEY),
      HELIX_PROVIDER_ERROR_AUTH, -1, "[redacted]" },
    { 403, NULL, "application/json",
      ERROR_BODY ("permission_error", "Your API key does not have permission to use the specified resource."),
      HELIX_PROVIDER_ERROR_AUTH, -1, "permission" },
    { 404, NULL, "application/json", ERROR_BODY ("not_found_error", "model: claude-9"),
      HELIX_PROVIDER_ERROR_BAD_REQUEST, -1, "claude-9" },
    { 413, NULL, "application/json", ERROR_BODY ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
      HELIX_PROVIDER_ERROR_BAD_REQUEST, -1, "HTTP 413" },
    { 429, "12", "application/json",
      ERROR_BODY ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
      HELIX_PROVIDER_ERROR_RATE_LIMITED, 12, "12 seconds" },
    { 500, NULL, "application/json", ERROR_BODY ("api_error", "Internal server error"),
      HELIX_PROVIDER_ERROR_SERVER, -1, "Internal server error" },
    { 529, NULL, "application/json", ERROR_BODY ("overloaded_error", "Overloaded"),
      HELIX_PROVIDER_ERROR_OVERLOADED, -1, "HTTP 529: Overloaded" },
    { 502, NULL, "text/html", "<html>bad gateway</html>",
      HELIX_PROVIDER_ERROR_SERVER, -1, "Bad Gateway" },
    /* Not followed: a redirect could carry the key elsewhere. */
    { 307, NULL, "text/plain", "moved", HELIX_PROVIDER_ERROR_PROTOCOL, -1, "HTTP 307" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const HttpCase *c = &cases[i];
      g_autoptr(GError) error = NULL;

      g_test_message ("HTTP %u: %s", c->status, c->says);
      helix_test_ai_new_stream (fixture);
      fake_provider_respond_error (fixture->fake, c->status, c->retry_after, c->content_type, c->body);

      error = helix_test_ai_run_call (fixture, NULL);
      g_assert_error (error, HELIX_PROVIDER_ERROR, c->code);
      if (strstr (error->message, c->says) == NULL)
        g_error ("HTTP %u: \"%s\" does not say \"%s\"", c->status, error->message, c->says);
      g_assert_null (strstr (error->message, KEY));
      g_assert_cmpuint (helix_chat_stream_get_http_status (fixture->stream), ==, c->status);
      g_assert_cmpint (helix_chat_stream_get_retry_after (fixture->stream), ==, c->retry_after_seconds);
      g_assert_false (helix_chat_stream_is_complete (fixture->stream));
      g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "");
    }
}

/* An `error` event in a stream that started well: what arrived stays. */
static void
test_error_events (Fixture       *fixture,
                   gconstpointer  data)
{
  const struct
  {
    const char *type;
    int         code;
  } cases[] = {
    { "overloaded_error", HELIX_PROVIDER_ERROR_OVERLOADED },
    { "rate_limit_error", HELIX_PROVIDER_ERROR_RATE_LIMITED },
    { "api_error", HELIX_PROVIDER_ERROR_SERVER },
    { "something_new_error", HELIX_PROVIDER_ERROR_SERVER },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *event = g_strdup_printf ("event: error\ndata: {\"type\":\"error\",\"error\":"
                                                "{\"type\":\"%s\",\"message\":\"Overloaded " KEY "\"}}\n\n",
                                                cases[i].type);
      const char *chunks[] = { MESSAGE_START BLOCK_START TEXT_DELTA ("Hel"), event,
                               TEXT_DELTA ("lo"), NULL };
      g_autoptr(GError) error = NULL;

      g_test_message ("error event: %s", cases[i].type);
      helix_test_ai_new_stream (fixture);
      fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_FINISH);

      error = helix_test_ai_run_call (fixture, NULL);
      g_assert_error (error, HELIX_PROVIDER_ERROR, cases[i].code);
      g_assert_nonnull (strstr (error->message, "Overloaded [redacted]"));
      g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "Hel");
      g_assert_false (helix_chat_stream_is_complete (fixture->stream));
      g_assert_cmpuint (helix_chat_stream_get_http_status (fixture->stream), ==, 200);
      /* The input tokens of message_start are billed all the same. */
      g_assert_cmpint (helix_chat_stream_get_input_tokens (fixture->stream), ==, 25);
      g_assert_true (helix_provider_error_is_retryable (error));
    }
}

/* message_start and pings come at once; the first text does not. */
static void
test_first_token_timeout (Fixture       *fixture,
                          gconstpointer  data)
{
  static const char * const chunks[] = { MESSAGE_START, BLOCK_START PING, NULL };
  g_autoptr(GError) error = NULL;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_HOLD);
  helix_chat_request_set_timeouts (fixture->request, 30000, 300 * fake_provider_time_scale (), 0);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_FIRST_TOKEN_TIMEOUT);
  g_assert_false (helix_chat_stream_is_complete (fixture->stream));
  g_assert_cmpint (helix_chat_stream_get_first_token_delay (fixture->stream), ==, -1);
  helix_test_ai_wait_client_closed (fixture);
}

static void
test_call_timeout (Fixture       *fixture,
                   gconstpointer  data)
{
  static const char * const chunks[] = { MESSAGE_START BLOCK_START TEXT_DELTA ("Hel"), NULL };
  g_autoptr(GError) error = NULL;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_HOLD);
  helix_chat_request_set_timeouts (fixture->request, 30000, 30000, 1000 * fake_provider_time_scale ());

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CALL_TIMEOUT);
  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "Hel");
  helix_test_ai_wait_client_closed (fixture);
}

static const char * const partial_chunks[] = {
  MESSAGE_START BLOCK_START,
  TEXT_DELTA ("Hel"),
  TEXT_DELTA ("lo") "event: content_block_delta\ndata: {\"type\":\"content_bl",
  NULL
};

/* The connection drops in the middle of the chunked body. */
static void
test_cut (Fixture       *fixture,
          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fake_provider_respond_stream (fixture->fake, partial_chunks, FAKE_END_CUT);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL);
  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "Hello");
  g_assert_false (helix_chat_stream_is_complete (fixture->stream));
  g_assert_true (helix_provider_error_is_retryable (error));
}

/* The body ends properly, but without message_stop (even after message_delta). */
static void
test_no_message_stop (Fixture       *fixture,
                      gconstpointer  data)
{
  static const char * const chunks[] = {
    MESSAGE_START BLOCK_START TEXT_DELTA ("Hel") TEXT_DELTA ("lo"),
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":2}}\n\n",
    NULL
  };
  g_autoptr(GError) error = NULL;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_FINISH);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL);
  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "Hello");
  g_assert_cmpstr (helix_chat_stream_get_finish_reason (fixture->stream), ==, "max_tokens");
  g_assert_cmpint (helix_chat_stream_get_output_tokens (fixture->stream), ==, 2);
  g_assert_false (helix_chat_stream_is_complete (fixture->stream));
}

/* message_stop, then the body never ends: the answer is complete all the same. */
static void
test_stop_then_silence (Fixture       *fixture,
                        gconstpointer  data)
{
  static const char * const chunks[] = {
    MESSAGE_START BLOCK_START TEXT_DELTA ("ok")
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    NULL
  };
  g_autoptr(GError) error = NULL;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_HOLD);
  helix_chat_request_set_timeouts (fixture->request, 30000, 30000, 0);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_no_error (error);
  g_assert_true (helix_chat_stream_is_complete (fixture->stream));
  helix_test_ai_wait_client_closed (fixture);
}

/* Stop pressed while the answer streams: the request is aborted at once. */
static void
test_cancel (Fixture       *fixture,
             gconstpointer  data)
{
  static const char * const chunks[] = { MESSAGE_START BLOCK_START TEXT_DELTA ("Hel"), NULL };
  g_autoptr(GError) error = NULL;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_HOLD);
  fixture->cancel_on_delta = g_cancellable_new ();

  error = helix_test_ai_run_call (fixture, fixture->cancel_on_delta);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CANCELLED);
  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "Hel");
  g_assert_false (helix_chat_stream_is_complete (fixture->stream));
  helix_test_ai_wait_client_closed (fixture);
}

/* Bad events: each ends the call with a clean error, the text before it kept. */
static void
test_bad_streams (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(GString) deep = g_string_new ("event: content_block_delta\ndata: ");
  const char *cases[] = {
    NULL,
    "event: content_block_delta\ndata: {not json}\n\n",
    "event: content_block_delta\ndata: [1]\n\n",
    "event: content_block_delta\ndata: {\"index\":0}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":5}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"\\ud800\"}}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":\"2\"}}\n\n",
  };

  /* 100,000 nested arrays: json-glib 1.6 would overflow its stack. */
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  g_string_append (deep, "\n\n");
  cases[0] = deep->str;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *chunks[] = {
        MESSAGE_START BLOCK_START TEXT_DELTA ("Hel"),
        cases[i],
        TEXT_DELTA ("lo") "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        NULL
      };
      g_autoptr(GError) error = NULL;

      g_test_message ("bad stream %u", i);
      helix_test_ai_new_stream (fixture);
      fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_FINISH);

      error = helix_test_ai_run_call (fixture, NULL);
      g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL);
      g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "Hel");
      g_assert_false (helix_chat_stream_is_complete (fixture->stream));
    }
}

static void
test_bad_base_url (void)
{
  const char * const bad[] = { "", "api.anthropic.com", "ftp://example.org",
                               "https://user:pw@example.org", "https://example.org?key=x" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(HelixProviderAnthropic) provider = helix_provider_anthropic_new ("x", bad[i], NULL,
                                                                                 &error);

      g_assert_null (provider);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
    }
}

int
main (int   argc,
      char *argv[])
{
  fake_provider_test_init (&argc, &argv, KEY);

#define ADD(path, func) \
  g_test_add ("/helix/ai/anthropic/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("stream", test_stream);
  ADD ("defaults", test_defaults);
  ADD ("http-errors", test_http_errors);
  ADD ("error-events", test_error_events);
  ADD ("first-token-timeout", test_first_token_timeout);
  ADD ("call-timeout", test_call_timeout);
  ADD ("cut", test_cut);
  ADD ("no-message-stop", test_no_message_stop);
  ADD ("stop-then-silence", test_stop_then_silence);
  ADD ("cancel", test_cancel);
  ADD ("bad-streams", test_bad_streams);
  g_test_add_func ("/helix/ai/anthropic/bad-base-url", test_bad_base_url);

#undef ADD

  return g_test_run ();
}
