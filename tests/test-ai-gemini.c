/* test-ai-gemini.c: the Gemini provider against a loopback fake server
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "fake-provider.h"
#include "helix-provider-gemini.h"
#include "helix-test-ai.h"

#define KEY "AIzaSy-helix-test-SECRET-0123456789"

typedef HelixTestAiFixture Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  helix_test_ai_fixture_init (fixture, FAKE_FORMAT_GEMINI, "gemini-test");
  fixture->provider = HELIX_HTTP_PROVIDER (helix_provider_gemini_new ("fake-gemini", fixture->base_url, KEY, &error));
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

#define CHUNK(text) \
  "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"" text "\"}],\"role\": \"model\"}," \
  "\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"totalTokenCount\": 9}," \
  "\"modelVersion\": \"gemini-test\",\"responseId\": \"r1\"}\r\n\r\n"
#define LAST_CHUNK(text) \
  "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"" text "\"}],\"role\": \"model\"}," \
  "\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9," \
  "\"candidatesTokenCount\": 2,\"thoughtsTokenCount\": 3,\"totalTokenCount\": 14}," \
  "\"modelVersion\": \"gemini-test\",\"responseId\": \"r1\"}\r\n\r\n"

/* A full answer as the API streams it (CRLF), split in the middle of lines and
 * of a UTF-8 character, with a thought part that is not the answer. */
static void
test_stream (Fixture       *fixture,
             gconstpointer  data)
{
  static const char * const chunks[] = {
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Thinking about it\",\"thought\": true}],"
    "\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9}}\r\n\r\n",
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"H\xC3",
    "\xA9l\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,"
    "\"totalTokenCount\": 9},\"modelVersion\": \"gemini-test\"}\r\n\r\n",
    LAST_CHUNK ("lo"),
    NULL
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *body;
  JsonArray *contents;
  JsonObject *content;
  JsonObject *config;
  JsonArray *parts;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_FINISH);
  helix_chat_request_add_message (fixture->request, HELIX_MESSAGE_ROLE_ASSISTANT, "H\xC3\xA9llo");
  helix_chat_request_add_message (fixture->request, HELIX_MESSAGE_ROLE_USER, "Again");
  helix_chat_request_set_max_tokens (fixture->request, 64);
  helix_chat_request_set_temperature (fixture->request, 0.5);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_no_error (error);

  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "H\xC3\xA9llo");
  g_assert_cmpuint (fixture->deltas->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (fixture->deltas, 0), ==, "H\xC3\xA9l");
  g_assert_cmpstr (g_ptr_array_index (fixture->deltas, 1), ==, "lo");
  g_assert_cmpstr (helix_chat_stream_get_finish_reason (fixture->stream), ==, "STOP");
  g_assert_cmpint (helix_chat_stream_get_input_tokens (fixture->stream), ==, 9);
  /* Thinking tokens are billed as output. */
  g_assert_cmpint (helix_chat_stream_get_output_tokens (fixture->stream), ==, 5);
  g_assert_cmpuint (fixture->n_usage, ==, 1);
  g_assert_true (helix_chat_stream_is_complete (fixture->stream));
  g_assert_cmpuint (helix_chat_stream_get_http_status (fixture->stream), ==, 200);

  /* The request on the wire: the key in its header, never in the URL. */
  g_assert_cmpuint (fake_provider_get_n_requests (fixture->fake), ==, 1);
  g_assert_cmpstr (fake_provider_get_last_path (fixture->fake), ==,
                   "/v1beta/models/gemini-test:streamGenerateContent");
  g_assert_cmpstr (fake_provider_get_last_query (fixture->fake), ==, "alt=sse");
  g_assert_cmpstr (fake_provider_get_last_header (fixture->fake, "x-goog-api-key"), ==, KEY);
  g_assert_cmpstr (fake_provider_get_last_header (fixture->fake, "Content-Type"), ==, "application/json");
  g_assert_null (fake_provider_get_last_header (fixture->fake, "Authorization"));
  body = helix_test_ai_last_body (fixture, parser);
  g_assert_false (json_object_has_member (body, "model"));
  g_assert_cmpstr (json_object_get_string_member (
                     json_array_get_object_element (
                       json_object_get_array_member (
                         json_object_get_object_member (body, "systemInstruction"), "parts"), 0),
                     "text"), ==, "Be brief.");
  config = json_object_get_object_member (body, "generationConfig");
  g_assert_cmpint (json_object_get_int_member (config, "maxOutputTokens"), ==, 64);
  g_assert_cmpfloat (json_object_get_double_member (config, "temperature"), ==, 0.5);
  contents = json_object_get_array_member (body, "contents");
  g_assert_cmpuint (json_array_get_length (contents), ==, 3);
  content = json_array_get_object_element (contents, 0);
  g_assert_cmpstr (json_object_get_string_member (content, "role"), ==, "user");
  parts = json_object_get_array_member (content, "parts");
  g_assert_cmpuint (json_array_get_length (parts), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (parts, 0), "text"),
                   ==, "Say h\xC3\xA9llo");
  /* assistant → model */
  content = json_array_get_object_element (contents, 1);
  g_assert_cmpstr (json_object_get_string_member (content, "role"), ==, "model");
  g_assert_cmpstr (json_object_get_string_member (
                     json_array_get_object_element (json_object_get_array_member (content, "parts"), 0),
                     "text"), ==, "H\xC3\xA9llo");
  content = json_array_get_object_element (contents, 2);
  g_assert_cmpstr (json_object_get_string_member (content, "role"), ==, "user");
}

/* No system message, max tokens or temperature: none of their fields. A
 * "models/" prefix is not doubled; the name is escaped (the fake sees it decoded). */
static void
test_defaults (Fixture       *fixture,
               gconstpointer  data)
{
  static const char * const chunks[] = { LAST_CHUNK ("ok"), NULL };
  g_autoptr(HelixChatRequest) request = helix_chat_request_new ("models/gemini test");
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
  g_assert_cmpstr (fake_provider_get_last_path (fixture->fake), ==,
                   "/v1beta/models/gemini test:streamGenerateContent");

  body = helix_test_ai_last_body (fixture, parser);
  g_assert_false (json_object_has_member (body, "systemInstruction"));
  g_assert_false (json_object_has_member (body, "generationConfig"));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (body, "contents")), ==, 1);
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

#define ERROR_BODY(code, status, message, details) \
  "{\n  \"error\": {\n    \"code\": " #code ",\n    \"message\": \"" message "\",\n" \
  "    \"status\": \"" status "\"" details "\n  }\n}\n"
#define QUOTA_DETAILS(quota_id, delay) \
  ",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":" \
  "[{\"quotaMetric\":\"generativelanguage.googleapis.com/generate_content_free_tier_requests\"," \
  "\"quotaId\":\"" quota_id "\"}]},{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\"," \
  "\"retryDelay\":\"" delay "\"}]"

static void
test_http_errors (Fixture       *fixture,
                  gconstpointer  data)
{
  const HttpCase cases[] = {
    { 400, NULL, "application/json",
      ERROR_BODY (400, "INVALID_ARGUMENT", "Invalid JSON payload received.", ""),
      HELIX_PROVIDER_ERROR_BAD_REQUEST, -1, "Invalid JSON payload" },
    { 400, NULL, "application/json",
      ERROR_BODY (400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key. " KEY,
                  ",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\","
                  "\"reason\":\"API_KEY_INVALID\",\"domain\":\"googleapis.com\"}]"),
      HELIX_PROVIDER_ERROR_AUTH, -1, "[redacted]" },
    { 403, NULL, "application/json",
      ERROR_BODY (403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.", ""),
      HELIX_PROVIDER_ERROR_AUTH, -1, "unregistered callers" },
    { 404, NULL, "application/json",
      ERROR_BODY (404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta", ""),
      HELIX_PROVIDER_ERROR_BAD_REQUEST, -1, "gemini-9" },
    /* Per minute: a rate limit, even though the message speaks of quota. */
    { 429, NULL, "application/json",
      ERROR_BODY (429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details.",
                  QUOTA_DETAILS ("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "27s")),
      HELIX_PROVIDER_ERROR_RATE_LIMITED, 27, "27 seconds" },
    /* A Retry-After header wins over the body's retryDelay. */
    { 429, "5", "application/json",
      ERROR_BODY (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted.",
                  QUOTA_DETAILS ("GenerateRequestsPerMinutePerProjectPerModel", "27.5s")),
      HELIX_PROVIDER_ERROR_RATE_LIMITED, 5, "5 seconds" },
    { 429, NULL, "application/json",
      ERROR_BODY (429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details.",
                  QUOTA_DETAILS ("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "3600s")),
      HELIX_PROVIDER_ERROR_QUOTA, 3600, "current quota" },
    { 429, NULL, "application/json",
      ERROR_BODY (429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", ""),
      HELIX_PROVIDER_ERROR_QUOTA, -1, "current quota" },
    { 500, NULL, "application/json",
      ERROR_BODY (500, "INTERNAL", "An internal error has occurred.", ""),
      HELIX_PROVIDER_ERROR_SERVER, -1, "internal error" },
    { 503, NULL, "application/json",
      ERROR_BODY (503, "UNAVAILABLE", "The model is overloaded. Please try again later.", ""),
      HELIX_PROVIDER_ERROR_OVERLOADED, -1, "HTTP 503: The model is overloaded" },
    /* Without alt=sse errors come in an array; take it all the same. */
    { 400, NULL, "application/json",
      "[" ERROR_BODY (400, "FAILED_PRECONDITION", "User location is not supported for the API use.", "") "]",
      HELIX_PROVIDER_ERROR_BAD_REQUEST, -1, "User location" },
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

/* An error chunk in a stream that started well: what arrived stays. */
static void
test_error_chunk (Fixture       *fixture,
                  gconstpointer  data)
{
  static const char * const chunks[] = {
    CHUNK ("Hel"),
    "data: {\"error\": {\"code\": 503,\"message\": \"The model is overloaded.\",\"status\": \"UNAVAILABLE\"}}\r\n\r\n",
    LAST_CHUNK ("lo"),
    NULL
  };
  g_autoptr(GError) error = NULL;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_FINISH);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_OVERLOADED);
  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "Hel");
  g_assert_false (helix_chat_stream_is_complete (fixture->stream));
  g_assert_cmpint (helix_chat_stream_get_input_tokens (fixture->stream), ==, 9);
}

/* A blocked prompt: no candidates, a block reason; the (empty) answer is complete. */
static void
test_blocked (Fixture       *fixture,
              gconstpointer  data)
{
  static const char * const chunks[] = {
    "data: {\"promptFeedback\": {\"blockReason\": \"PROHIBITED_CONTENT\"},"
    "\"usageMetadata\": {\"promptTokenCount\": 7,\"totalTokenCount\": 7}}\r\n\r\n",
    NULL
  };
  g_autoptr(GError) error = NULL;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_FINISH);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "");
  g_assert_cmpstr (helix_chat_stream_get_finish_reason (fixture->stream), ==, "PROHIBITED_CONTENT");
  g_assert_true (helix_chat_stream_is_complete (fixture->stream));
}

/* Headers, then nothing. */
static void
test_first_token_timeout (Fixture       *fixture,
                          gconstpointer  data)
{
  static const char * const chunks[] = { NULL };
  g_autoptr(GError) error = NULL;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_HOLD);
  helix_chat_request_set_timeouts (fixture->request, 30000, 300 * fake_provider_time_scale (), 0);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_FIRST_TOKEN_TIMEOUT);
  g_assert_false (helix_chat_stream_is_complete (fixture->stream));
  helix_test_ai_wait_client_closed (fixture);
}

/* The connection drops in the middle of the chunked body. */
static void
test_cut (Fixture       *fixture,
          gconstpointer  data)
{
  static const char * const chunks[] = { CHUNK ("Hel"), CHUNK ("lo"), "data: {\"candi", NULL };
  g_autoptr(GError) error = NULL;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_CUT);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL);
  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "Hello");
  g_assert_false (helix_chat_stream_is_complete (fixture->stream));
  g_assert_true (helix_provider_error_is_retryable (error));
}

/* The body ends properly, but no chunk had a finish reason. */
static void
test_no_finish_reason (Fixture       *fixture,
                       gconstpointer  data)
{
  static const char * const chunks[] = { CHUNK ("Hel"), CHUNK ("lo"), NULL };
  g_autoptr(GError) error = NULL;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_FINISH);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL);
  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "Hello");
  g_assert_null (helix_chat_stream_get_finish_reason (fixture->stream));
  g_assert_false (helix_chat_stream_is_complete (fixture->stream));
}

/* Stop pressed while the answer streams: the request is aborted at once. */
static void
test_cancel (Fixture       *fixture,
             gconstpointer  data)
{
  static const char * const chunks[] = { CHUNK ("Hel"), NULL };
  g_autoptr(GError) error = NULL;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_HOLD);
  fixture->cancel_on_delta = g_cancellable_new ();

  error = helix_test_ai_run_call (fixture, fixture->cancel_on_delta);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CANCELLED);
  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "Hel");
  g_assert_false (helix_chat_stream_is_complete (fixture->stream));
  helix_test_ai_wait_client_closed (fixture);
}

/* Bad chunks: each ends the call with a clean error, the text before it kept. */
static void
test_bad_streams (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(GString) deep = g_string_new ("data: ");
  const char *cases[] = {
    NULL,
    "data: {not json}\n\n",
    "data: [{\"candidates\":[]}]\n\n",
    "data: {\"candidates\":{}}\n\n",
    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":5}]}}]}\n\n",
    "data: {\"candidates\":[{\"content\":{\"parts\":[\"x\"]}}]}\n\n",
    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\\udc00\"}]}}]}\n\n",
    "data: {\"candidates\":[{\"finishReason\":1}]}\n\n",
    "data: {\"usageMetadata\":{\"promptTokenCount\":-1}}\n\n",
  };

  /* 100,000 nested arrays: json-glib 1.6 would overflow its stack. */
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  g_string_append (deep, "\n\n");
  cases[0] = deep->str;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *chunks[] = { CHUNK ("Hel"), cases[i], LAST_CHUNK ("lo"), NULL };
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
  const char * const bad[] = { "", "generativelanguage.googleapis.com", "ftp://example.org",
                               "https://user:pw@example.org", "https://example.org?key=x" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(HelixProviderGemini) provider = helix_provider_gemini_new ("x", bad[i], NULL, &error);

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
  g_test_add ("/helix/ai/gemini/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("stream", test_stream);
  ADD ("defaults", test_defaults);
  ADD ("http-errors", test_http_errors);
  ADD ("error-chunk", test_error_chunk);
  ADD ("blocked", test_blocked);
  ADD ("first-token-timeout", test_first_token_timeout);
  ADD ("cut", test_cut);
  ADD ("no-finish-reason", test_no_finish_reason);
  ADD ("cancel", test_cancel);
  ADD ("bad-streams", test_bad_streams);
  g_test_add_func ("/helix/ai/gemini/bad-base-url", test_bad_base_url);

#undef ADD

  return g_test_run ();
}
