/* test-ai-openai.c: the OpenAI-compatible provider against a loopback fake server
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helix-provider-openai.h"
#include "helix-sync-json.h"
#include "helix-test-ai.h"

#define KEY "sk-helix-test-SECRET-0123456789"

typedef HelixTestAiFixture Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  helix_test_ai_fixture_init (fixture, FAKE_FORMAT_OPENAI, "gpt-test");
  fixture->provider = HELIX_HTTP_PROVIDER (helix_provider_openai_new ("fake-openai", fixture->base_url,
                                                                      KEY, &error));
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

/* A full answer, split across chunks in the middle of lines and of a UTF-8 character. */
static void
test_stream (Fixture       *fixture,
             gconstpointer  data)
{
  static const char * const chunks[] = {
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"H\xC3",
    "\xA9l\"},\"finish_reason\":null}],\"usage\":null}\r\n\r\ndata: {\"id\":\"c1\",\"choices\":[{\"index\":0,",
    "\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}],\"usage\":null}\n\n",
    ": keep-alive\n\n",
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
    "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n",
    "data: [DONE]\n\n",
    NULL
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *body;
  JsonArray *messages;
  JsonObject *message;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_FINISH);
  helix_chat_request_set_max_tokens (fixture->request, 64);
  helix_chat_request_set_temperature (fixture->request, 0.5);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_no_error (error);

  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "H\xC3\xA9llo");
  g_assert_cmpuint (fixture->deltas->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (fixture->deltas, 0), ==, "H\xC3\xA9l");
  g_assert_cmpstr (g_ptr_array_index (fixture->deltas, 1), ==, "lo");
  g_assert_cmpstr (helix_chat_stream_get_finish_reason (fixture->stream), ==, "stop");
  g_assert_cmpint (helix_chat_stream_get_input_tokens (fixture->stream), ==, 9);
  g_assert_cmpint (helix_chat_stream_get_output_tokens (fixture->stream), ==, 2);
  g_assert_cmpuint (fixture->n_usage, ==, 1);
  g_assert_true (helix_chat_stream_is_complete (fixture->stream));
  g_assert_cmpuint (helix_chat_stream_get_http_status (fixture->stream), ==, 200);
  g_assert_cmpint (helix_chat_stream_get_first_token_delay (fixture->stream), >=, 0);

  /* The request on the wire. */
  g_assert_cmpuint (fake_provider_get_n_requests (fixture->fake), ==, 1);
  g_assert_cmpstr (fake_provider_get_last_header (fixture->fake, "Authorization"), ==, "Bearer " KEY);
  g_assert_cmpstr (fake_provider_get_last_header (fixture->fake, "Accept"), ==, "text/event-stream");
  g_assert_cmpstr (fake_provider_get_last_header (fixture->fake, "Content-Type"), ==, "application/json");
  g_assert_true (helix_json_validate (fake_provider_get_last_body (fixture->fake),
                                      strlen (fake_provider_get_last_body (fixture->fake)), 64,
                                      NULL));
  g_assert_true (json_parser_load_from_data (parser, fake_provider_get_last_body (fixture->fake), -1, NULL));
  body = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (body, "model"), ==, "gpt-test");
  g_assert_true (json_object_get_boolean_member (body, "stream"));
  g_assert_true (json_object_get_boolean_member (json_object_get_object_member (body, "stream_options"),
                                                 "include_usage"));
  g_assert_cmpint (json_object_get_int_member (body, "max_tokens"), ==, 64);
  g_assert_cmpfloat (json_object_get_double_member (body, "temperature"), ==, 0.5);
  messages = json_object_get_array_member (body, "messages");
  g_assert_cmpuint (json_array_get_length (messages), ==, 2);
  message = json_array_get_object_element (messages, 0);
  g_assert_cmpstr (json_object_get_string_member (message, "role"), ==, "system");
  g_assert_cmpstr (json_object_get_string_member (message, "content"), ==, "Be brief.");
  message = json_array_get_object_element (messages, 1);
  g_assert_cmpstr (json_object_get_string_member (message, "role"), ==, "user");
  g_assert_cmpstr (json_object_get_string_member (message, "content"), ==, "Say h\xC3\xA9llo");
}

/* No key (Ollama): no Authorization header; no max_tokens or temperature unless set. */
static void
test_no_key (Fixture       *fixture,
             gconstpointer  data)
{
  static const char * const chunks[] = {
    "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
    NULL
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *body;

  helix_http_provider_set_api_key (HELIX_HTTP_PROVIDER (fixture->provider), NULL);
  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_FINISH);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "ok");
  g_assert_true (helix_chat_stream_is_complete (fixture->stream));
  /* No usage chunk: the counts stay unknown. */
  g_assert_cmpint (helix_chat_stream_get_input_tokens (fixture->stream), ==, -1);
  g_assert_null (fake_provider_get_last_header (fixture->fake, "Authorization"));
  g_assert_true (json_parser_load_from_data (parser, fake_provider_get_last_body (fixture->fake), -1, NULL));
  body = json_node_get_object (json_parser_get_root (parser));
  g_assert_false (json_object_has_member (body, "max_tokens"));
  g_assert_false (json_object_has_member (body, "temperature"));
}

/* Every character a message may hold reaches the provider intact, in
 * strict JSON. */
static void
test_request_escapes (Fixture       *fixture,
                      gconstpointer  data)
{
  static const char * const chunks[] = {
    "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
    NULL
  };
  static const char content[] = "q\" b\\ s/ n\n r\r t\t bs\b ff\f one\x01 us\x1f del\x7f "
                                "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80 \xE2\x80\xA8";
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  const char *text;
  JsonObject *body;
  JsonArray *messages;

  g_clear_pointer (&fixture->request, helix_chat_request_unref);
  fixture->request = helix_chat_request_new ("model \"x\"");
  helix_chat_request_add_message (fixture->request, HELIX_MESSAGE_ROLE_USER, content);
  helix_chat_request_set_temperature (fixture->request, 0.7);
  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_FINISH);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_no_error (error);

  text = fake_provider_get_last_body (fixture->fake);
  g_assert_true (helix_json_validate (text, strlen (text), 64, NULL));
  g_assert_true (json_parser_load_from_data (parser, text, -1, NULL));
  body = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (body, "model"), ==, "model \"x\"");
  g_assert_cmpfloat (json_object_get_double_member (body, "temperature"), ==, 0.7);
  messages = json_object_get_array_member (body, "messages");
  g_assert_cmpuint (json_array_get_length (messages), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (messages, 0),
                                                  "content"), ==, content);
}

typedef struct
{
  guint       status;
  const char *retry_after;
  const char *content_type;
  const char *body;
  int         code;
  gint64      retry_min;
  gint64      retry_max;
  const char *says;
} HttpCase;

static void
test_http_errors (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GDateTime) later = g_date_time_add_seconds (now, 120);
  g_autofree char *date = soup_date_time_to_string (later, SOUP_DATE_HTTP);
  const HttpCase cases[] = {
    { 400, NULL, "application/json",
      "{\"error\":{\"message\":\"The model `gpt-9` does not exist\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"model_not_found\"}}",
      HELIX_PROVIDER_ERROR_BAD_REQUEST, -1, -1, "gpt-9" },
    { 401, NULL, "application/json",
      "{\"error\":{\"message\":\"Incorrect API key provided: " KEY ".\",\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}",
      HELIX_PROVIDER_ERROR_AUTH, -1, -1, "[redacted]" },
    { 403, NULL, "application/json", "{\"error\":{\"message\":\"Forbidden\"}}",
      HELIX_PROVIDER_ERROR_AUTH, -1, -1, "Forbidden" },
    { 402, NULL, "application/json",
      "{\"error\":{\"message\":\"Insufficient Balance\",\"type\":\"unknown_error\",\"param\":null,\"code\":\"invalid_request_error\"}}",
      HELIX_PROVIDER_ERROR_QUOTA, -1, -1, "Insufficient Balance" },
    { 429, "7", "application/json",
      "{\"error\":{\"message\":\"Rate limit reached for requests\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}",
      HELIX_PROVIDER_ERROR_RATE_LIMITED, 7, 7, "7 seconds" },
    { 429, date, "application/json", "{\"error\":{\"message\":\"slow down\"}}",
      HELIX_PROVIDER_ERROR_RATE_LIMITED, 60, 120, "slow down" },
    { 429, NULL, "application/json",
      "{\"error\":{\"message\":\"You exceeded your current quota, please check your plan and billing details.\",\"type\":\"insufficient_quota\",\"code\":\"insufficient_quota\"}}",
      HELIX_PROVIDER_ERROR_QUOTA, -1, -1, "current quota" },
    { 500, NULL, "application/json",
      "{\"error\":{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\"}}",
      HELIX_PROVIDER_ERROR_SERVER, -1, -1, "server had an error" },
    { 502, NULL, "text/html", "<html><body>Bad gateway</body></html>",
      HELIX_PROVIDER_ERROR_SERVER, -1, -1, "Bad Gateway" },
    { 503, "30", "application/json", "{\"error\":\"server busy\"}",
      HELIX_PROVIDER_ERROR_OVERLOADED, 30, 30, "server busy" },
    { 529, NULL, "application/json",
      "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
      HELIX_PROVIDER_ERROR_OVERLOADED, -1, -1, "Overloaded" },
    { 307, NULL, "text/plain", "moved", HELIX_PROVIDER_ERROR_PROTOCOL, -1, -1, "307" },
    { 404, NULL, "application/json", "{\"object\":\"error\",\"message\":\"no such route\",\"code\":404}",
      HELIX_PROVIDER_ERROR_BAD_REQUEST, -1, -1, "no such route" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const HttpCase *c = &cases[i];
      g_autoptr(GError) error = NULL;

      g_test_message ("HTTP %u", c->status);
      g_clear_object (&fixture->stream);
      fixture->stream = helix_chat_stream_new ();
      fake_provider_respond_error (fixture->fake, c->status, c->retry_after, c->content_type, c->body);

      error = helix_test_ai_run_call (fixture, NULL);
      g_assert_error (error, HELIX_PROVIDER_ERROR, c->code);
      if (strstr (error->message, c->says) == NULL)
        g_error ("HTTP %u: \"%s\" does not say \"%s\"", c->status, error->message, c->says);
      g_assert_null (strstr (error->message, KEY));
      g_assert_cmpuint (helix_chat_stream_get_http_status (fixture->stream), ==, c->status);
      g_assert_cmpint (helix_chat_stream_get_retry_after (fixture->stream), >=, c->retry_min);
      g_assert_cmpint (helix_chat_stream_get_retry_after (fixture->stream), <=, c->retry_max);
      g_assert_false (helix_chat_stream_is_complete (fixture->stream));
      g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "");
    }
}

static void
test_first_token_timeout (Fixture       *fixture,
                          gconstpointer  data)
{
  /* Headers and a comment (OpenRouter's keep-alive), then nothing. */
  static const char * const chunks[] = { ": OPENROUTER PROCESSING\n\n", NULL };
  g_autoptr(GError) error = NULL;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_HOLD);
  helix_chat_request_set_timeouts (fixture->request, 30000, 300, 0);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_FIRST_TOKEN_TIMEOUT);
  g_assert_false (helix_chat_stream_is_complete (fixture->stream));
  helix_test_ai_wait_client_closed (fixture);
}

static void
test_call_timeout (Fixture       *fixture,
                   gconstpointer  data)
{
  static const char * const chunks[] = {
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n", NULL
  };
  g_autoptr(GError) error = NULL;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_HOLD);
  /* Long enough for the first delta to arrive, even under valgrind. */
  helix_chat_request_set_timeouts (fixture->request, 30000, 30000, 1000 * fake_provider_time_scale ());

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CALL_TIMEOUT);
  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "Hel");
  g_assert_false (helix_chat_stream_is_complete (fixture->stream));
  helix_test_ai_wait_client_closed (fixture);
}

/* A TLS server that accepts TCP (the kernel does) but never answers the handshake. */
static void
test_connect_timeout (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GSocket) listener = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(HelixProviderOpenai) provider = NULL;
  g_autofree char *url = NULL;
  g_autoptr(GError) error = NULL;

  listener = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (listener, address, TRUE, &error));
  g_assert_true (g_socket_listen (listener, &error));
  bound = g_socket_get_local_address (listener, &error);
  g_assert_no_error (error);
  url = g_strdup_printf ("https://127.0.0.1:%u/v1",
                         g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));

  g_clear_object (&fixture->provider);
  fixture->provider = HELIX_HTTP_PROVIDER (helix_provider_openai_new ("silent", url, KEY, &error));
  g_assert_no_error (error);
  helix_chat_request_set_timeouts (fixture->request, 300, 0, 0);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CONNECT_TIMEOUT);
  g_assert_cmpuint (helix_chat_stream_get_http_status (fixture->stream), ==, 0);
}

static void
test_network_error (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autofree char *url = NULL;
  g_autoptr(GError) error = NULL;

  /* A port that was free a moment ago and that nobody listens on. */
  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_true (g_socket_bind (socket, address, TRUE, &error));
  bound = g_socket_get_local_address (socket, &error);
  url = g_strdup_printf ("http://127.0.0.1:%u/v1",
                         g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));

  g_clear_object (&fixture->provider);
  fixture->provider = HELIX_HTTP_PROVIDER (helix_provider_openai_new ("nobody", url, KEY, &error));
  g_assert_no_error (error);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_NETWORK);
  g_assert_true (helix_provider_error_is_retryable (error));
}

/* A server that keeps its first connection open after answering, then
 * closes it when the next request arrives on it, unanswered: what a reused
 * connection looks like when the server closed it while it was idle. */
typedef struct
{
  gint n_connections;  /* (atomic) */
  gint n_requests;     /* (atomic) */
} StaleServer;

#define STALE_BODY "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\n" \
                   "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n" \
                   "data: [DONE]\n\n"

/* Reads one request (headers and a Content-Length body); FALSE at EOF. */
static gboolean
read_request (GDataInputStream *in)
{
  gsize length = 0;
  char *line;

  while ((line = g_data_input_stream_read_line (in, NULL, NULL, NULL)) != NULL)
    {
      gboolean end = line[0] == '\r' || line[0] == '\0';

      if (g_ascii_strncasecmp (line, "Content-Length:", 15) == 0)
        length = g_ascii_strtoull (line + 15, NULL, 10);
      g_free (line);
      if (end)
        break;
    }
  if (line == NULL)
    return FALSE;

  return length == 0 || g_input_stream_skip (G_INPUT_STREAM (in), length, NULL, NULL) == (gssize) length;
}

static gboolean
stale_run (GThreadedSocketService *service,
           GSocketConnection      *connection,
           GObject                *source,
           StaleServer            *server)
{
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  g_autoptr(GDataInputStream) in =
    g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (connection)));
  g_autofree char *response =
    g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     "Content-Length: %zu\r\n\r\n%s", strlen (STALE_BODY), STALE_BODY);
  int n = g_atomic_int_add (&server->n_connections, 1);

  g_filter_input_stream_set_close_base_stream (G_FILTER_INPUT_STREAM (in), FALSE);
  if (!read_request (in))
    return TRUE;
  g_atomic_int_inc (&server->n_requests);
  g_output_stream_write_all (out, response, strlen (response), NULL, NULL, NULL);

  /* The first connection stays open for one more request, which it drops. */
  if (n == 0 && read_request (in))
    g_atomic_int_inc (&server->n_requests);
  g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);

  return TRUE;
}

static void
test_stale_connection (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(GSocketService) service = g_threaded_socket_service_new (4);
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  StaleServer server = { 0 };
  guint16 port;

  port = g_socket_listener_add_any_inet_port (G_SOCKET_LISTENER (service), NULL, &error);
  g_assert_no_error (error);
  g_signal_connect (service, "run", G_CALLBACK (stale_run), &server);
  g_socket_service_start (service);
  url = g_strdup_printf ("http://127.0.0.1:%u/v1", port);

  g_clear_object (&fixture->provider);
  fixture->provider = HELIX_HTTP_PROVIDER (helix_provider_openai_new ("stale", url, KEY, &error));
  g_assert_no_error (error);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "Hello");

  /* The second call goes out on the kept connection, which the server drops:
   * it is sent again on a new one, and succeeds, as one call. */
  helix_test_ai_new_stream (fixture);
  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "Hello");
  g_assert_cmpint (g_atomic_int_get (&server.n_connections), ==, 2);
  g_assert_cmpint (g_atomic_int_get (&server.n_requests), ==, 3);

  g_socket_service_stop (service);
  g_socket_listener_close (G_SOCKET_LISTENER (service));
}

static const char * const partial_chunks[] = {
  "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
  "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
  "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\ndata: {\"choi",
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

/* The body ends properly, but without [DONE]. */
static void
test_no_done (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fake_provider_respond_stream (fixture->fake, partial_chunks, FAKE_END_FINISH);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL);
  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "Hello");
  g_assert_false (helix_chat_stream_is_complete (fixture->stream));
}

/* [DONE], then the body never ends: the answer is complete all the same. */
static void
test_done_then_silence (Fixture       *fixture,
                        gconstpointer  data)
{
  static const char * const chunks[] = {
    "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\n"
    "data: [DONE]\n\n",
    NULL
  };
  g_autoptr(GError) error = NULL;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_HOLD);
  helix_chat_request_set_timeouts (fixture->request, 30000, 30000, 0);

  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_no_error (error);
  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "ok");
  g_assert_true (helix_chat_stream_is_complete (fixture->stream));
  helix_test_ai_wait_client_closed (fixture);
}

/* Stop pressed while the answer streams: the request is aborted at once. */
static void
test_cancel (Fixture       *fixture,
             gconstpointer  data)
{
  static const char * const chunks[] = {
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n", NULL
  };
  g_autoptr(GError) error = NULL;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_HOLD);
  fixture->cancel_on_delta = g_cancellable_new ();

  error = helix_test_ai_run_call (fixture, fixture->cancel_on_delta);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CANCELLED);
  g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, "Hel");
  g_assert_false (helix_chat_stream_is_complete (fixture->stream));
  g_assert_false (helix_provider_error_is_retryable (error));
  helix_test_ai_wait_client_closed (fixture);
}

static void
test_cancel_before (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;

  g_cancellable_cancel (cancellable);
  error = helix_test_ai_run_call (fixture, cancellable);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CANCELLED);
}

typedef struct
{
  const char *name;
  const char *chunk;   /* NULL: built by the test */
  int         code;
  const char *text;    /* what stays */
} BadCase;

/* Bad streams: each ends the call with a clean error, the text before it kept. */
static void
test_bad_streams (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(GString) deep = g_string_new ("data: ");
  g_autoptr(GString) deep_content = g_string_new ("data: {\"choices\":[{\"delta\":{\"content\":\"x\",\"extra\":");
  g_autoptr(GString) huge = g_string_new ("data: ");
  BadCase cases[] = {
    { "deep", NULL, HELIX_PROVIDER_ERROR_PROTOCOL, "Hel" },
    { "deep-member", NULL, HELIX_PROVIDER_ERROR_PROTOCOL, "Hel" },
    { "huge-line", NULL, HELIX_PROVIDER_ERROR_PROTOCOL, "Hel" },
    { "not-json", "data: {not json}\n\n", HELIX_PROVIDER_ERROR_PROTOCOL, "Hel" },
    { "not-object", "data: [1,2]\n\n", HELIX_PROVIDER_ERROR_PROTOCOL, "Hel" },
    /* Not strict JSON (RFC 8259), which json-glib alone would have taken. */
    { "trailing-comma", "data: {\"choices\":[],}\n\n", HELIX_PROVIDER_ERROR_PROTOCOL, "Hel" },
    { "comment", "data: {\"choices\":[] /* x */}\n\n", HELIX_PROVIDER_ERROR_PROTOCOL, "Hel" },
    { "trailing-text", "data: {\"choices\":[]} {}\n\n", HELIX_PROVIDER_ERROR_PROTOCOL, "Hel" },
    { "leading-zero", "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":012,"
      "\"completion_tokens\":2}}\n\n", HELIX_PROVIDER_ERROR_PROTOCOL, "Hel" },
    { "content-number", "data: {\"choices\":[{\"delta\":{\"content\":5}}]}\n\n",
      HELIX_PROVIDER_ERROR_PROTOCOL, "Hel" },
    { "choices-object", "data: {\"choices\":{}}\n\n", HELIX_PROVIDER_ERROR_PROTOCOL, "Hel" },
    { "usage-string", "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":\"9\",\"completion_tokens\":2}}\n\n",
      HELIX_PROVIDER_ERROR_PROTOCOL, "Hel" },
    { "invalid-utf8", "data: {\"choices\":[{\"delta\":{\"content\":\"\xC3\x28\"}}]}\n\n",
      HELIX_PROVIDER_ERROR_PROTOCOL, "Hel" },
    { "lone-surrogate", "data: {\"choices\":[{\"delta\":{\"content\":\"\\ud800\"}}]}\n\n",
      HELIX_PROVIDER_ERROR_PROTOCOL, "Hel" },
    { "stream-error", "data: {\"error\":{\"message\":\"upstream failed\",\"type\":\"server_error\"}}\n\n",
      HELIX_PROVIDER_ERROR_SERVER, "Hel" },
    { "stream-error-status", "data: {\"error\":{\"message\":\"Overloaded\",\"code\":529}}\n\n",
      HELIX_PROVIDER_ERROR_OVERLOADED, "Hel" },
  };

  /* 100,000 nested arrays: json-glib 1.6 would overflow its stack. */
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  g_string_append (deep, "\n\n");
  cases[0].chunk = deep->str;
  for (guint i = 0; i < 100; i++)
    g_string_append (deep_content, "{\"a\":");
  g_string_append (deep_content, "1\n\n");
  cases[1].chunk = deep_content->str;
  /* A line of 2 MiB without an end. */
  for (guint i = 0; i < 2 * 1024 * 1024; i++)
    g_string_append_c (huge, 'a');
  cases[2].chunk = huge->str;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *chunks[] = {
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
        cases[i].chunk,
        "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\ndata: [DONE]\n\n",
        NULL
      };
      g_autoptr(GError) error = NULL;

      g_test_message ("bad stream: %s", cases[i].name);
      g_clear_object (&fixture->stream);
      fixture->stream = helix_chat_stream_new ();
      fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_FINISH);

      error = helix_test_ai_run_call (fixture, NULL);
      g_assert_error (error, HELIX_PROVIDER_ERROR, cases[i].code);
      g_assert_cmpstr (helix_chat_stream_get_text (fixture->stream), ==, cases[i].text);
      g_assert_false (helix_chat_stream_is_complete (fixture->stream));
    }
}

/* A 200 with a JSON body: the server ignored "stream": true. */
static void
test_not_streamed (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fake_provider_respond_error (fixture->fake, 200, NULL, "application/json",
                             "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"hi\"}}]}");
  error = helix_test_ai_run_call (fixture, NULL);
  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL);
}

static void
test_retry_after (void)
{
  g_autoptr(GDateTime) now = g_date_time_new_utc (2026, 11, 22, 3, 0, 0);

  g_assert_cmpint (helix_provider_parse_retry_after (NULL, now), ==, -1);
  g_assert_cmpint (helix_provider_parse_retry_after ("", now), ==, -1);
  g_assert_cmpint (helix_provider_parse_retry_after ("7", now), ==, 7);
  g_assert_cmpint (helix_provider_parse_retry_after (" 120 ", now), ==, 120);
  g_assert_cmpint (helix_provider_parse_retry_after ("0", now), ==, 0);
  g_assert_cmpint (helix_provider_parse_retry_after ("-5", now), ==, -1);
  g_assert_cmpint (helix_provider_parse_retry_after ("1.5", now), ==, -1);
  g_assert_cmpint (helix_provider_parse_retry_after ("99999999999999999999", now), ==, -1);
  g_assert_cmpint (helix_provider_parse_retry_after ("soon", now), ==, -1);
  g_assert_cmpint (helix_provider_parse_retry_after ("Sun, 22 Nov 2026 03:01:30 GMT", now), ==, 90);
  g_assert_cmpint (helix_provider_parse_retry_after ("Sunday, 22-Nov-26 03:00:10 GMT", now), ==, 10);
  g_assert_cmpint (helix_provider_parse_retry_after ("Sun, 22 Nov 2026 02:00:00 GMT", now), ==, 0);
}

static void
test_bad_base_url (void)
{
  const char * const bad[] = { "", "api.openai.com/v1", "ftp://example.org/v1",
                               "http:///v1", "https://user:pw@example.org/v1",
                               "https://example.org/v1?key=x" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(HelixProviderOpenai) provider = helix_provider_openai_new ("x", bad[i], NULL, &error);

      g_assert_null (provider);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
    }
}

static gboolean show_debug;

/* Every log line of every test is checked for the key. */
static GLogWriterOutput
log_writer (GLogLevelFlags   log_level,
            const GLogField *fields,
            gsize            n_fields,
            gpointer         user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    {
      if (fields[i].length < 0 && strstr (fields[i].value, KEY) != NULL)
        {
          fprintf (stderr, "The API key was logged: %s\n", (const char *) fields[i].value);
          abort ();
        }
    }

  if ((log_level & G_LOG_LEVEL_DEBUG) != 0 && !show_debug)
    return G_LOG_WRITER_HANDLED;

  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

static GLogFunc test_log_handler;

/* g_debug() and friends reach the handler that g_test_init() installed, not the writer. */
static void
log_handler (const char     *log_domain,
             GLogLevelFlags  log_level,
             const char     *message,
             gpointer        user_data)
{
  if (message != NULL && strstr (message, KEY) != NULL)
    {
      fprintf (stderr, "The API key was logged: %s\n", message);
      abort ();
    }

  if ((log_level & G_LOG_LEVEL_DEBUG) != 0 && !show_debug)
    return;

  test_log_handler (log_domain, log_level, message, user_data);
}

/* An answer that does not stop: cut at the text limit, what came before kept. */
static void
test_endless (Fixture       *fixture,
              gconstpointer  data)
{
  /* Ten events of 1,000,000 bytes of text: 10 MB, over the 8 MiB limit. */
  g_autoptr(GString) event = g_string_new ("data: {\"choices\":[{\"delta\":{\"content\":\"");
  g_autoptr(GError) error = NULL;
  const char *chunks[11];

  for (guint i = 0; i < 1000000; i++)
    g_string_append_c (event, 'a' + i % 26);
  g_string_append (event, "\"}}]}\n\n");
  for (guint i = 0; i < 10; i++)
    chunks[i] = event->str;
  chunks[10] = NULL;

  fake_provider_respond_stream (fixture->fake, chunks, FAKE_END_HOLD);
  error = helix_test_ai_run_call (fixture, NULL);

  g_assert_error (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL);
  g_assert_nonnull (strstr (error->message, "too long"));
  g_assert_cmpuint (helix_chat_stream_get_text_length (fixture->stream), ==, 8000000);
  g_assert_cmpuint (helix_chat_stream_get_text_length (fixture->stream), <=, 8 * 1024 * 1024);
  g_assert_false (helix_chat_stream_is_complete (fixture->stream));
  /* The connection is dropped, not read to its end. */
  helix_test_wait_for (fake_provider_get_client_closed (fixture->fake), 30, "the cut connection");
}

/* Model lists: "Test connection" and health checks */

typedef struct
{
  gboolean  done;
  GStrv     models;
  GError   *error;
} ListResult;

static void
list_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  ListResult *r = user_data;

  r->models = helix_http_provider_list_models_finish (HELIX_HTTP_PROVIDER (object), result,
                                                      &r->error);
  r->done = TRUE;
}

static void
run_list (Fixture    *fixture,
          ListResult *r)
{
  memset (r, 0, sizeof *r);
  helix_http_provider_list_models_async (fixture->provider, NULL, list_cb, r);
  helix_test_wait_for (r->done, 30, "the model list");
  g_assert_true ((r->models == NULL) != (r->error == NULL));
}

static void
list_result_clear (ListResult *r)
{
  g_clear_pointer (&r->models, g_strfreev);
  g_clear_error (&r->error);
}

static void
test_models (Fixture       *fixture,
             gconstpointer  data)
{
  static const char * const models[] = { "gpt-a", "gpt-b", NULL };
  g_autofree char *huge = NULL;
  ListResult r;

  fake_provider_set_models (fixture->fake, models);
  run_list (fixture, &r);
  g_assert_no_error (r.error);
  g_assert_cmpstrv (r.models, models);
  g_assert_cmpstr (fake_provider_get_last_path (fixture->fake), ==, "/v1/models");
  g_assert_cmpstr (fake_provider_get_last_header (fixture->fake, "Authorization"), ==,
                   "Bearer " KEY);
  list_result_clear (&r);

  /* A refused key: an auth error, without the key in it. */
  fake_provider_respond_error (fixture->fake, 401, NULL, "application/json",
                               "{\"error\":{\"message\":\"Incorrect API key provided: " KEY "\",\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}");
  run_list (fixture, &r);
  g_assert_error (r.error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_AUTH);
  g_assert_null (strstr (r.error->message, KEY));
  list_result_clear (&r);

  /* Not a list */
  fake_provider_respond_error (fixture->fake, 200, NULL, "application/json", "{\"data\": 5}");
  run_list (fixture, &r);
  g_assert_error (r.error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL);
  list_result_clear (&r);

  /* Too large: cut off, not read to the end. */
  huge = g_strnfill (HELIX_HTTP_PROVIDER_MAX_LIST_BODY + 1, ' ');
  fake_provider_respond_error (fixture->fake, 200, NULL, "application/json", huge);
  run_list (fixture, &r);
  g_assert_error (r.error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL);
  g_assert_nonnull (strstr (r.error->message, "larger than"));
  list_result_clear (&r);

  /* With a key that rests, the only key: no call at all. */
  helix_http_provider_set_key_rest (fixture->provider, 600);
  fake_provider_respond_error (fixture->fake, 402, NULL, "application/json",
                               "{\"error\":{\"message\":\"Insufficient Balance\"}}");
  run_list (fixture, &r);
  g_assert_error (r.error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_QUOTA);
  list_result_clear (&r);
  g_assert_cmpuint (helix_http_provider_get_n_usable_keys (fixture->provider), ==, 0);
  {
    guint n = fake_provider_get_n_requests (fixture->fake);

    run_list (fixture, &r);
    g_assert_error (r.error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_QUOTA);
    g_assert_nonnull (strstr (r.error->message, "resting"));
    g_assert_cmpuint (fake_provider_get_n_requests (fixture->fake), ==, n);
    list_result_clear (&r);
  }
}

int
main (int   argc,
      char *argv[])
{
  show_debug = g_getenv ("G_MESSAGES_DEBUG") != NULL;
  g_log_set_writer_func (log_writer, NULL, NULL);
  g_test_init (&argc, &argv, NULL);
  /* Produce every debug message, so that the writer sees them. */
  g_log_set_debug_enabled (TRUE);
  test_log_handler = g_log_set_default_handler (log_handler, NULL);

#define ADD(path, func) \
  g_test_add ("/helix/ai/openai/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("stream", test_stream);
  ADD ("no-key", test_no_key);
  ADD ("request-escapes", test_request_escapes);
  ADD ("http-errors", test_http_errors);
  ADD ("first-token-timeout", test_first_token_timeout);
  ADD ("call-timeout", test_call_timeout);
  ADD ("connect-timeout", test_connect_timeout);
  ADD ("network-error", test_network_error);
  ADD ("stale-connection", test_stale_connection);
  ADD ("cut", test_cut);
  ADD ("no-done", test_no_done);
  ADD ("done-then-silence", test_done_then_silence);
  ADD ("cancel", test_cancel);
  ADD ("cancel-before", test_cancel_before);
  ADD ("bad-streams", test_bad_streams);
  ADD ("not-streamed", test_not_streamed);
  ADD ("models", test_models);
  ADD ("endless", test_endless);
  g_test_add_func ("/helix/ai/openai/retry-after", test_retry_after);
  g_test_add_func ("/helix/ai/openai/bad-base-url", test_bad_base_url);

#undef ADD

  return g_test_run ();
}
