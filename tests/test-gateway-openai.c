/* test-gateway-openai.c: the gateway as an AI router for other programs
 *
 * A real gateway on an ephemeral loopback port, with two OpenAI-compatible
 * providers ("alpha", cheap, and "beta") played by loopback fakes
 * (fake-provider.c), real libsoup clients, and real files for the keys and
 * the prices. The key of alpha is a canary: every log line of the test is
 * checked for it (fake_provider_test_init()), and so are the answers and,
 * for the gateway run as a child process, its whole output.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "fake-provider.h"
#include "helix-gateway-private.h"
#include "helix-sse-parser.h"
#include "helix-sync-json.h"
#include "helix-test-gateway.h"
#include "helix-test-http.h"
#include "helix-test-raw-http.h"
#include "helix-gateway-native.h"

#define CANARY       "sk-canary-7d1f0a9e3b5c4d2e8f6a"
#define BETA_KEY     "sk-beta-second-key"
#define PASSWORD     "correct horse battery staple"
#define WAIT_S       60

#define CHAT_BODY(model, extra) \
  "{\"model\":\"" model "\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"}," \
  "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Say hello\"}]}]" extra "}"

static const char * const hello_chunks[] = {
  "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n",
  "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
  "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":500}}\n\n",
  "data: [DONE]\n\n",
  NULL
};

static const char * const beta_chunks[] = {
  "data: {\"choices\":[{\"delta\":{\"content\":\"from beta\"},\"finish_reason\":\"stop\"}]}\n\n",
  "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":2}}\n\n",
  "data: [DONE]\n\n",
  NULL
};

static const char * const held_chunks[] = {
  "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
  NULL
};

static const char prices_json[] =
  "{\"version\":1,\"models\":["
  "{\"provider\":\"alpha\",\"model\":\"alpha-model\",\"input\":1.0,\"output\":2.0,"
  "\"tier\":2,\"context\":128000,\"streaming\":true},"
  "{\"provider\":\"beta\",\"model\":\"beta-model\",\"input\":5.0,\"output\":10.0,"
  "\"tier\":2,\"context\":128000,\"streaming\":true}]}";

typedef struct
{
  char         *dir;
  char         *key_file;
  char         *beta_key_file;
  char         *prices;
  FakeProvider *alpha;
  FakeProvider *beta;
  HelixGateway *gateway;
  char         *base;
  SoupSession  *session;
  char         *token;       /* bob's */
} Fixture;

/* What a fixture changes in the configuration. */
typedef struct
{
  const char *extra;          /* more lines of the configuration */
  const char *override_env;   /* PROVIDER_OVERRIDE */
} Setup;

static void
write_private_file (const char *path,
                    const char *text,
                    int         mode)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_NONE, mode, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
}

static char *
config_text (Fixture    *f,
             const char *extra)
{
  return g_strdup_printf ("[router]\n"
                          "prices=%s\n"
                          "max-attempts=2\n"
                          "%s"
                          "\n[provider alpha]\n"
                          "kind=openai\n"
                          "base-url=%s\n"
                          "models=alpha-model\n"
                          "key-file=%s\n"
                          "\n[provider beta]\n"
                          "kind=openai\n"
                          "base-url=%s\n"
                          "models=beta-model\n"
                          "key-env=HELIX_TEST_BETA_KEYS\n",
                          f->prices, extra != NULL ? extra : "",
                          fake_provider_get_base_url (f->alpha), f->key_file,
                          fake_provider_get_base_url (f->beta));
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  const Setup *setup = data;
  g_autoptr(HelixGatewayConfig) config = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *keys = g_strdup_printf ("# alpha's pool\n%s\n", CANARY);

  f->dir = g_dir_make_tmp ("helix-gateway-openai-XXXXXX", &error);
  g_assert_no_error (error);
  f->key_file = g_build_filename (f->dir, "alpha.keys", NULL);
  f->prices = g_build_filename (f->dir, "prices.json", NULL);
  write_private_file (f->key_file, keys, 0600);
  write_private_file (f->prices, prices_json, 0644);
  g_setenv ("HELIX_TEST_BETA_KEYS", BETA_KEY ",sk-beta-spare", TRUE);

  f->alpha = fake_provider_new (FAKE_FORMAT_OPENAI);
  f->beta = fake_provider_new (FAKE_FORMAT_OPENAI);
  fake_provider_respond_stream (f->alpha, hello_chunks, FAKE_END_FINISH);
  fake_provider_respond_stream (f->beta, beta_chunks, FAKE_END_FINISH);

  config = helix_test_gateway_config_new (f->dir);
  helix_test_gateway_config_apply (config, NULL);
  text = config_text (f, setup != NULL ? setup->extra : NULL);
  helix_gateway_config_load_data (config, text, strlen (text), "test.conf", &error);
  g_assert_no_error (error);
  if (setup != NULL && setup->override_env != NULL)
    {
      g_autofree char *variable = g_strconcat ("PROVIDER_OVERRIDE=", setup->override_env, NULL);
      const char * const envp[] = { variable, NULL };

      helix_gateway_config_apply_environment (config, envp, &error);
      g_assert_no_error (error);
    }

  f->gateway = helix_test_gateway_start (config);
  f->base = g_strdup (helix_gateway_get_uri (f->gateway));
  f->session = soup_session_new ();
  helix_test_gateway_add_user (f->gateway, "bob", PASSWORD);
  f->token = helix_test_login (f->session, f->base, "bob", PASSWORD, "laptop", NULL);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  helix_test_gateway_shutdown (f->gateway);
  g_clear_object (&f->gateway);
  g_clear_object (&f->session);
  g_clear_pointer (&f->alpha, fake_provider_free);
  g_clear_pointer (&f->beta, fake_provider_free);
  helix_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->key_file);
  g_free (f->beta_key_file);
  g_free (f->prices);
  g_free (f->base);
  g_free (f->token);
}

/* Helpers {{{1 */

static SoupMessage *
post_chat (Fixture     *f,
           const char  *token,
           const char  *body,
           gssize       len,
           GBytes     **response)
{
  return helix_test_http_send (f->session, f->base, "POST", "/v1/chat/completions", token,
                               "application/json", body, len, response);
}

static const char *
header (SoupMessage *msg,
        const char  *name)
{
  return soup_message_headers_get_one (soup_message_get_response_headers (msg), name);
}

static void
assert_no_canary (GBytes *body)
{
  g_autofree char *text = g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));

  g_assert_null (strstr (text, CANARY));
}

/* An OpenAI error: {"error":{"message","type","param":null,"code"}}. */
static void
assert_openai_error (SoupMessage *msg,
                     GBytes      *body,
                     guint        status,
                     const char  *type,
                     const char  *code)
{
  g_autoptr(JsonNode) root = NULL;
  JsonObject *error;

  helix_test_http_assert_status (msg, body, status);
  g_assert_cmpstr (soup_message_headers_get_content_type (soup_message_get_response_headers (msg),
                                                          NULL), ==, "application/json");
  root = helix_test_http_parse_json (body);
  error = json_object_get_object_member (json_node_get_object (root), "error");
  g_assert_nonnull (error);
  g_assert_cmpuint (json_object_get_size (error), ==, 4);
  g_assert_cmpstr (json_object_get_string_member (error, "message"), !=, "");
  g_assert_true (json_node_is_null (json_object_get_member (error, "param")));
  if (type != NULL)
    g_assert_cmpstr (json_object_get_string_member (error, "type"), ==, type);
  if (code != NULL)
    g_assert_cmpstr (json_object_get_string_member (error, "code"), ==, code);
  assert_no_canary (body);
}

static gboolean
collect_event (const HelixSseEvent *event,
               gpointer             user_data)
{
  g_ptr_array_add (user_data, g_strndup (event->data, event->data_len));
  return TRUE;
}

/* The data of every event of an SSE body. */
static GPtrArray *
parse_events (GBytes *body)
{
  GPtrArray *events = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(HelixSseParser) parser = helix_sse_parser_new (collect_event, events, NULL);
  g_autoptr(GError) error = NULL;

  helix_sse_parser_feed (parser, g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);
  g_assert_no_error (error);
  g_assert_false (helix_sse_parser_has_pending (parser));

  return events;
}

static JsonObject *
event_object (GPtrArray *events,
              guint      index,
              JsonNode **keep)
{
  g_autoptr(GBytes) bytes = NULL;

  g_assert_cmpuint (index, <, events->len);
  bytes = g_bytes_new_static (g_ptr_array_index (events, index),
                              strlen (g_ptr_array_index (events, index)));
  *keep = helix_test_http_parse_json (bytes);

  return json_node_get_object (*keep);
}

/* choices[0] of a chunk */
static JsonObject *
chunk_choice (JsonObject *chunk)
{
  JsonArray *choices = json_object_get_array_member (chunk, "choices");

  g_assert_cmpstr (json_object_get_string_member (chunk, "object"), ==, "chat.completion.chunk");
  g_assert_cmpuint (json_array_get_length (choices), ==, 1);

  return json_array_get_object_element (choices, 0);
}

/* Tests {{{1 */

static void
test_completion (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(GBytes) response = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(JsonNode) sent = NULL;
  g_autoptr(GBytes) sent_bytes = NULL;
  JsonObject *object;
  JsonObject *choice;
  JsonObject *usage;
  JsonArray *messages;

  msg = post_chat (f, f->token, CHAT_BODY ("auto", ",\"max_tokens\":64,\"temperature\":0.5"), -1,
                   &response);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
  assert_no_canary (response);

  g_assert_cmpstr (header (msg, "X-Helix-Provider"), ==, "alpha");
  g_assert_cmpstr (header (msg, "X-Helix-Model"), ==, "alpha-model");
  g_assert_nonnull (strstr (header (msg, "X-Helix-Reason"), "cheapest"));

  /* Strict JSON (RFC 8259), as any client may parse it. */
  g_assert_true (helix_json_validate (g_bytes_get_data (response, NULL),
                                      g_bytes_get_size (response), 64, NULL));
  root = helix_test_http_parse_json (response);
  object = json_node_get_object (root);
  g_assert_true (g_str_has_prefix (json_object_get_string_member (object, "id"), "chatcmpl-"));
  g_assert_cmpstr (json_object_get_string_member (object, "object"), ==, "chat.completion");
  g_assert_cmpint (json_object_get_int_member (object, "created"), >, 1700000000);
  g_assert_cmpstr (json_object_get_string_member (object, "model"), ==, "alpha-model");
  choice = json_array_get_object_element (json_object_get_array_member (object, "choices"), 0);
  g_assert_cmpint (json_object_get_int_member (choice, "index"), ==, 0);
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (choice, "message"),
                                                  "role"), ==, "assistant");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (choice, "message"),
                                                  "content"), ==, "Hello");
  g_assert_cmpstr (json_object_get_string_member (choice, "finish_reason"), ==, "stop");
  usage = json_object_get_object_member (object, "usage");
  g_assert_cmpint (json_object_get_int_member (usage, "prompt_tokens"), ==, 1000);
  g_assert_cmpint (json_object_get_int_member (usage, "completion_tokens"), ==, 500);
  g_assert_cmpint (json_object_get_int_member (usage, "total_tokens"), ==, 1500);

  /* What went upstream: alpha's key, the model, the messages. */
  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 1);
  g_assert_cmpuint (fake_provider_get_n_requests (f->beta), ==, 0);
  g_assert_cmpstr (fake_provider_get_last_header (f->alpha, "Authorization"), ==,
                   "Bearer " CANARY);
  sent_bytes = g_bytes_new_static (fake_provider_get_last_body (f->alpha),
                                   strlen (fake_provider_get_last_body (f->alpha)));
  sent = helix_test_http_parse_json (sent_bytes);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (sent), "model"), ==,
                   "alpha-model");
  messages = json_object_get_array_member (json_node_get_object (sent), "messages");
  g_assert_cmpuint (json_array_get_length (messages), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (messages, 1),
                                                  "content"), ==, "Say hello");
}

static void
check_stream (Fixture  *f,
              gboolean  include_usage)
{
  g_autoptr(GBytes) response = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GPtrArray) events = NULL;
  g_autoptr(JsonNode) n0 = NULL;
  g_autoptr(JsonNode) n1 = NULL;
  g_autoptr(JsonNode) n2 = NULL;
  g_autoptr(JsonNode) n3 = NULL;
  g_autoptr(JsonNode) n4 = NULL;
  JsonObject *choice;
  JsonObject *usage_chunk;
  JsonObject *usage;
  const char *id;

  msg = post_chat (f, f->token,
                   include_usage ? CHAT_BODY ("auto", ",\"stream\":true,"
                                              "\"stream_options\":{\"include_usage\":true}")
                                 : CHAT_BODY ("auto", ",\"stream\":true"),
                   -1, &response);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
  g_assert_cmpstr (soup_message_headers_get_content_type (soup_message_get_response_headers (msg),
                                                          NULL), ==, "text/event-stream");
  assert_no_canary (response);

  events = parse_events (response);
  g_assert_cmpuint (events->len, ==, include_usage ? 6 : 5);

  /* The role, the two deltas, the finish reason. */
  choice = chunk_choice (event_object (events, 0, &n0));
  id = json_object_get_string_member (json_node_get_object (n0), "id");
  g_assert_true (g_str_has_prefix (id, "chatcmpl-"));
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (n0), "model"), ==,
                   "alpha-model");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (choice, "delta"),
                                                  "role"), ==, "assistant");
  g_assert_true (json_node_is_null (json_object_get_member (choice, "finish_reason")));

  choice = chunk_choice (event_object (events, 1, &n1));
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (n1), "id"), ==, id);
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (choice, "delta"),
                                                  "content"), ==, "Hel");
  choice = chunk_choice (event_object (events, 2, &n2));
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (choice, "delta"),
                                                  "content"), ==, "lo");
  g_assert_true (json_node_is_null (json_object_get_member (choice, "finish_reason")));

  choice = chunk_choice (event_object (events, 3, &n3));
  g_assert_cmpuint (json_object_get_size (json_object_get_object_member (choice, "delta")), ==, 0);
  g_assert_cmpstr (json_object_get_string_member (choice, "finish_reason"), ==, "stop");

  if (include_usage)
    {
      usage_chunk = event_object (events, 4, &n4);
      g_assert_cmpuint (json_array_get_length (json_object_get_array_member (usage_chunk,
                                                                             "choices")), ==, 0);
      usage = json_object_get_object_member (usage_chunk, "usage");
      g_assert_cmpint (json_object_get_int_member (usage, "prompt_tokens"), ==, 1000);
      g_assert_cmpint (json_object_get_int_member (usage, "completion_tokens"), ==, 500);
      g_assert_cmpint (json_object_get_int_member (usage, "total_tokens"), ==, 1500);
    }

  g_assert_cmpstr (g_ptr_array_index (events, events->len - 1), ==, "[DONE]");
}

static void
test_stream (Fixture       *f,
             gconstpointer  data)
{
  check_stream (f, FALSE);
  check_stream (f, TRUE);
}

static void
test_auth (Fixture       *f,
           gconstpointer  data)
{
  g_autoptr(GBytes) response = NULL;
  g_autoptr(SoupMessage) msg = NULL;

  msg = post_chat (f, NULL, CHAT_BODY ("auto", ""), -1, &response);
  assert_openai_error (msg, response, SOUP_STATUS_UNAUTHORIZED, "authentication_error", NULL);
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  msg = post_chat (f, "not-a-token", CHAT_BODY ("auto", ""), -1, &response);
  assert_openai_error (msg, response, SOUP_STATUS_UNAUTHORIZED, "authentication_error", NULL);
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  msg = helix_test_http_send (f->session, f->base, "GET", "/v1/models", NULL, NULL, NULL, 0,
                              &response);
  assert_openai_error (msg, response, SOUP_STATUS_UNAUTHORIZED, "authentication_error", NULL);

  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 0);
}

static void
test_bad_bodies (Fixture       *f,
                 gconstpointer  data)
{
  static const struct
  {
    const char *body;
    guint       status;
  } cases[] = {
    { "not json", 400 },
    { "{\"model\":\"auto\"}", 400 },
    { "{\"model\":\"auto\",\"messages\":[]}", 400 },
    { "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 400 },
    { "{\"model\":7,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 400 },
    { "{\"model\":\"auto\",\"messages\":[{\"role\":\"tool\",\"content\":\"hi\"}]}", 400 },
    { "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":7}]}", 400 },
    { "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
      "\"image_url\":{\"url\":\"x\"}}]}]}", 400 },
    { "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
      "\"stream\":\"yes\"}", 400 },
    { "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
      "\"max_tokens\":-1}", 400 },
    { "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
      "\"temperature\":9}", 400 },
    { "[1,2,3]", 400 },
    { "{\"model\":\"auto\",\"model\":\"auto\",\"messages\":[{\"role\":\"user\","
      "\"content\":\"hi\"}]}", 400 },
  };
  g_autoptr(GString) deep = g_string_new ("{\"model\":\"auto\",\"messages\":");
  g_autofree char *huge = NULL;
  gsize huge_len = 2 * 1024 * 1024;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GBytes) response = NULL;
      g_autoptr(SoupMessage) msg = post_chat (f, f->token, cases[i].body, -1, &response);

      g_test_message ("%s", cases[i].body);
      assert_openai_error (msg, response, cases[i].status, "invalid_request_error", NULL);
    }

  /* 100 levels of nesting: refused before json-glib sees them. */
  for (guint i = 0; i < 100; i++)
    g_string_append_c (deep, '[');
  for (guint i = 0; i < 100; i++)
    g_string_append_c (deep, ']');
  g_string_append_c (deep, '}');
  {
    g_autoptr(GBytes) response = NULL;
    g_autoptr(SoupMessage) msg = post_chat (f, f->token, deep->str, -1, &response);

    assert_openai_error (msg, response, SOUP_STATUS_BAD_REQUEST, "invalid_request_error",
                         "invalid_json");
  }

  /* Not JSON by its type. */
  {
    g_autoptr(GBytes) response = NULL;
    g_autoptr(SoupMessage) msg =
      helix_test_http_send (f->session, f->base, "POST", "/v1/chat/completions", f->token,
                            "text/plain", CHAT_BODY ("auto", ""), -1, &response);

    assert_openai_error (msg, response, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE,
                         "invalid_request_error", NULL);
  }

  /* Larger than the limit. */
  huge = g_malloc (huge_len);
  memset (huge, ' ', huge_len);
  {
    g_autoptr(GBytes) response = NULL;
    g_autoptr(SoupMessage) msg = post_chat (f, f->token, huge, huge_len, &response);

    assert_openai_error (msg, response, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
                         "invalid_request_error", NULL);
  }

  /* A wrong method. */
  {
    g_autoptr(GBytes) response = NULL;
    g_autoptr(SoupMessage) msg =
      helix_test_http_send (f->session, f->base, "GET", "/v1/chat/completions", f->token,
                            NULL, NULL, 0, &response);

    assert_openai_error (msg, response, SOUP_STATUS_METHOD_NOT_ALLOWED, "invalid_request_error",
                         "method_not_allowed");
  }

  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 0);
  g_assert_cmpuint (fake_provider_get_n_requests (f->beta), ==, 0);
}

static void
test_unknown_model (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GBytes) response = NULL;
  g_autoptr(SoupMessage) msg = NULL;

  msg = post_chat (f, f->token, CHAT_BODY ("gpt-17-ultra", ""), -1, &response);
  assert_openai_error (msg, response, SOUP_STATUS_NOT_FOUND, "invalid_request_error",
                       "model_not_found");
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  /* A known model under another provider's name. */
  msg = post_chat (f, f->token, CHAT_BODY ("alpha/beta-model", ""), -1, &response);
  assert_openai_error (msg, response, SOUP_STATUS_NOT_FOUND, "invalid_request_error",
                       "model_not_found");

  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 0);
  g_assert_cmpuint (fake_provider_get_n_requests (f->beta), ==, 0);
}

static void
test_pinned (Fixture       *f,
             gconstpointer  data)
{
  const char * const models[] = { "beta-model", "beta/beta-model" };

  for (guint i = 0; i < G_N_ELEMENTS (models); i++)
    {
      g_autofree char *body =
        g_strdup_printf ("{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                         models[i]);
      g_autoptr(GBytes) response = NULL;
      g_autoptr(SoupMessage) msg = post_chat (f, f->token, body, -1, &response);

      helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
      g_assert_cmpstr (header (msg, "X-Helix-Provider"), ==, "beta");
      g_assert_cmpstr (header (msg, "X-Helix-Model"), ==, "beta-model");
      g_assert_nonnull (strstr (header (msg, "X-Helix-Reason"), "pinned"));
      g_assert_cmpuint (fake_provider_get_n_requests (f->beta), ==, i + 1);
      g_assert_cmpstr (fake_provider_get_last_header (f->beta, "Authorization"), ==,
                       "Bearer " BETA_KEY);
    }

  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 0);
}

static const Setup override_setup = { NULL, "beta/beta-model" };

static void
test_override (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GBytes) response = NULL;
  g_autoptr(SoupMessage) msg = NULL;

  msg = post_chat (f, f->token, CHAT_BODY ("auto", ""), -1, &response);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
  g_assert_cmpstr (header (msg, "X-Helix-Provider"), ==, "beta");
  g_assert_nonnull (strstr (header (msg, "X-Helix-Reason"), "PROVIDER_OVERRIDE"));
  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 0);
  g_assert_cmpuint (fake_provider_get_n_requests (f->beta), ==, 1);
}

static void
test_failover (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GBytes) response = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *choice;

  fake_provider_respond_error (f->alpha, 500, NULL, "application/json",
                               "{\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}");

  msg = post_chat (f, f->token, CHAT_BODY ("auto", ""), -1, &response);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
  g_assert_cmpstr (header (msg, "X-Helix-Provider"), ==, "beta");
  g_assert_nonnull (strstr (header (msg, "X-Helix-Reason"), "failover"));
  root = helix_test_http_parse_json (response);
  choice = json_array_get_object_element (json_object_get_array_member (json_node_get_object (root),
                                                                        "choices"), 0);
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (choice, "message"),
                                                  "content"), ==, "from beta");
  /* max-attempts=2 on alpha, then beta. */
  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 2);
  g_assert_cmpuint (fake_provider_get_n_requests (f->beta), ==, 1);
}

static void
test_retry_after (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(GBytes) response = NULL;
  g_autoptr(SoupMessage) msg = NULL;

  fake_provider_queue_error (f->alpha, 429, "1",
                             "{\"error\":{\"message\":\"slow down\",\"type\":\"requests\","
                             "\"code\":\"rate_limit_exceeded\"}}");

  msg = post_chat (f, f->token, CHAT_BODY ("auto", ""), -1, &response);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
  g_assert_cmpstr (header (msg, "X-Helix-Provider"), ==, "alpha");
  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 2);
  g_assert_cmpuint (fake_provider_get_n_requests (f->beta), ==, 0);
}

static void
test_upstream_errors (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(GBytes) response = NULL;
  g_autoptr(SoupMessage) msg = NULL;

  /* Both providers fail: 502 (a pinned model has no failover). */
  fake_provider_respond_error (f->beta, 500, NULL, "application/json", "{}");
  msg = post_chat (f, f->token, CHAT_BODY ("beta-model", ""), -1, &response);
  assert_openai_error (msg, response, SOUP_STATUS_BAD_GATEWAY, "api_error", "upstream_error");
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  /* Rate limited for longer than the router waits: 429 with Retry-After. */
  fake_provider_respond_error (f->beta, 429, "3600", "application/json",
                               "{\"error\":{\"message\":\"later\",\"type\":\"requests\"}}");
  msg = post_chat (f, f->token, CHAT_BODY ("beta-model", ""), -1, &response);
  assert_openai_error (msg, response, 429, "rate_limit_error", "rate_limit_exceeded");
  helix_test_http_assert_retry_after (msg);
}

/* A raw HTTP client: reads the stream until its first text, then hangs up. */
static void
test_disconnect (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) got = g_string_new (NULL);
  g_autofree char *request = NULL;
  const char *body = CHAT_BODY ("auto", ",\"stream\":true");
  GInputStream *in;
  gint64 deadline;

  fake_provider_respond_stream (f->alpha, held_chunks, FAKE_END_HOLD);

  connection = g_socket_client_connect_to_host (client, f->base + strlen ("http://"), 0, NULL,
                                                &error);
  g_assert_no_error (error);
  request = g_strdup_printf ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                             "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\n\r\n%s", f->token, strlen (body), body);
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)), request,
                             strlen (request), NULL, NULL, &error);
  g_assert_no_error (error);

  /* The gateway runs in this thread: read without blocking it. */
  in = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  deadline = g_get_monotonic_time () + WAIT_S * G_USEC_PER_SEC;
  while (strstr (got->str, "Hel") == NULL)
    {
      char buffer[4096];
      gssize n;

      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, FALSE);
      n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (in), buffer,
                                                    sizeof buffer - 1, NULL, &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          g_clear_error (&error);
          g_usleep (1000);
          continue;
        }
      g_assert_no_error (error);
      g_assert_cmpint (n, >, 0);
      g_string_append_len (got, buffer, n);
    }
  g_assert_true (g_str_has_prefix (got->str, "HTTP/1.1 200"));
  g_assert_false (fake_provider_get_client_closed (f->alpha));

  /* Hang up: the gateway drops the upstream call at once. */
  g_io_stream_close (G_IO_STREAM (connection), NULL, &error);
  g_assert_no_error (error);
  helix_test_wait_for (fake_provider_get_client_closed (f->alpha), WAIT_S,
                       "the gateway to close the upstream connection");
  helix_test_wait_for (helix_gateway_get_n_requests_in_flight (f->gateway) == 0, WAIT_S,
                       "the request to end");
}

/* The native path (src/gateway/helix-gateway-native.c) {{{1 */

/* What differs between two answers to the same call. */
static const char * const chat_volatile[] = { "chatcmpl-[0-9a-f]+", "\"created\":[0-9]+", NULL };

static char *
raw_chat_request (Fixture    *f,
                  const char *body,
                  const char *content_type)
{
  return g_strdup_printf ("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Authorization: Bearer %s\r\nContent-Type: %s\r\n"
                          "Content-Length: %zu\r\n\r\n%s", f->token, content_type,
                          strlen (body), body);
}

/* Sends @request, whole, on a new connection (where the native path sees it
 * first), and on one already handed to libsoup: the answers must be the
 * same, and the first native as @native says. */
static void
chat_both (Fixture              *f,
           const char           *request,
           gboolean              native,
           HelixTestRawResponse *r)
{
  guint port = helix_test_gateway_get_port (f->gateway);
  g_autoptr(HelixTestRawClient) fresh = helix_test_raw_connect (port);
  g_autoptr(HelixTestRawClient) old = helix_test_raw_connect (port);
  g_auto(HelixTestRawResponse) first = { 0 };
  g_auto(HelixTestRawResponse) reference = { 0 };
  guint64 before;

  helix_test_raw_send (old, "GET /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  helix_test_raw_read_response (old, &first);
  g_assert_cmpuint (first.status, ==, 404);
  before = _helix_gateway_get_n_native_requests (f->gateway);

  helix_test_raw_send (fresh, request);
  helix_test_raw_read_response (fresh, r);
  g_assert_cmpuint (_helix_gateway_get_n_native_requests (f->gateway), ==, before + (native ? 1 : 0));

  helix_test_raw_send (old, request);
  helix_test_raw_read_response (old, &reference);
  g_assert_cmpuint (_helix_gateway_get_n_native_requests (f->gateway), ==, before + (native ? 1 : 0));

  helix_test_raw_assert_same (r, &reference, chat_volatile);
}

/* A call whose conversation is about @size bytes long: many turns. */
static char *
long_chat_body (gsize size)
{
  GString *body = g_string_new ("{\"model\":\"auto\",\"messages\":[");
  g_autofree char *words = g_strnfill (180, 'w');

  for (guint i = 0; body->len < size; i++)
    g_string_append_printf (body, "{\"role\":\"%s\",\"content\":\"turn %u %s\"},",
                            i % 2 == 0 ? "user" : "assistant", i, words);
  g_string_append (body, "{\"role\":\"user\",\"content\":\"Say hello\"}]}");

  return g_string_free (body, FALSE);
}

/* A call that does not stream goes the native way, answered as libsoup answers it. */
static void
test_native_completion (Fixture       *f,
                        gconstpointer  data)
{
  g_autofree char *request = raw_chat_request (f, CHAT_BODY ("auto", ""), "application/json");
  g_autofree char *pinned = raw_chat_request (f, CHAT_BODY ("beta-model", ",\"stream\":false"),
                                              "application/json");
  g_auto(HelixTestRawResponse) r = { 0 };
  g_auto(HelixTestRawResponse) r2 = { 0 };
  g_autofree char *text = NULL;

  chat_both (f, request, TRUE, &r);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_nonnull (strstr (r.head, "\r\nX-Helix-Provider: alpha\r\n"));
  text = g_strndup (g_bytes_get_data (r.body, NULL), g_bytes_get_size (r.body));
  g_assert_nonnull (strstr (text, "\"content\":\"Hello\""));

  chat_both (f, pinned, TRUE, &r2);
  g_assert_cmpuint (r2.status, ==, 200);
  g_assert_nonnull (strstr (r2.head, "\r\nX-Helix-Provider: beta\r\n"));
  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 2);
  g_assert_cmpuint (fake_provider_get_n_requests (f->beta), ==, 2);

  /* A long conversation, within the native path's limit, and over it. */
  {
    g_autofree char *within = long_chat_body (HELIX_GATEWAY_NATIVE_REQUEST_MAX - 1024);
    g_autofree char *over = long_chat_body (HELIX_GATEWAY_NATIVE_REQUEST_MAX);
    g_autofree char *long_request = raw_chat_request (f, within, "application/json");
    g_autofree char *longer_request = raw_chat_request (f, over, "application/json");
    g_auto(HelixTestRawResponse) r3 = { 0 };
    g_auto(HelixTestRawResponse) r4 = { 0 };

    g_assert_cmpuint (strlen (long_request), <=, HELIX_GATEWAY_NATIVE_REQUEST_MAX);
    g_assert_cmpuint (strlen (longer_request), >, HELIX_GATEWAY_NATIVE_REQUEST_MAX);
    chat_both (f, long_request, TRUE, &r3);
    g_assert_cmpuint (r3.status, ==, 200);
    chat_both (f, longer_request, FALSE, &r4);
    g_assert_cmpuint (r4.status, ==, 200);
    g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 6);
  }
}

/* Upstream failures are answered natively, as libsoup answers them. */
static void
test_native_failure (Fixture       *f,
                     gconstpointer  data)
{
  g_autofree char *request = raw_chat_request (f, CHAT_BODY ("auto", ""), "application/json");
  g_auto(HelixTestRawResponse) r = { 0 };

  fake_provider_respond_error (f->alpha, 500, NULL, "application/json",
                               "{\"error\":{\"message\":\"down\"}}");
  fake_provider_respond_error (f->beta, 400, NULL, "application/json",
                               "{\"error\":{\"message\":\"bad\"}}");
  chat_both (f, request, TRUE, &r);
  g_assert_cmpuint (r.status, >=, 400);
  g_assert_nonnull (strstr (r.head, "\r\nContent-Type: application/json\r\n"));
}

/* What the native path leaves to libsoup. */
static void
test_native_handed_over (Fixture       *f,
                         gconstpointer  data)
{
  g_autofree char *streaming = raw_chat_request (f, CHAT_BODY ("auto", ",\"stream\":true"),
                                                 "application/json");
  g_autofree char *unknown = raw_chat_request (f, CHAT_BODY ("gamma-model", ""),
                                               "application/json");
  g_autofree char *not_json = raw_chat_request (f, "{\"model\":", "application/json");
  g_autofree char *media = raw_chat_request (f, CHAT_BODY ("auto", ""), "text/plain");
  g_autofree char *charset = raw_chat_request (f, CHAT_BODY ("auto", ""),
                                               "application/json; charset=utf-8");
  const char *no_token = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
  const char *requests[] = { unknown, not_json, media, charset, no_token };

  for (guint i = 0; i < G_N_ELEMENTS (requests); i++)
    {
      g_auto(HelixTestRawResponse) r = { 0 };

      chat_both (f, requests[i], FALSE, &r);
    }

  /* Streaming: libsoup's, chunked (read here up to its end). */
  {
    guint port = helix_test_gateway_get_port (f->gateway);
    g_autoptr(HelixTestRawClient) c = helix_test_raw_connect (port);
    guint64 before = _helix_gateway_get_n_native_requests (f->gateway);

    helix_test_raw_send (c, streaming);
    helix_test_raw_expect_head (c, "HTTP/1.1 200 OK\r\n");
    g_assert_cmpuint (_helix_gateway_get_n_native_requests (f->gateway), ==, before);
  }
}

/* A body sent after its head, as libsoup's clients send it: the native
 * path waits for it (SO_RCVLOWAT), and answers. */
static void
test_native_body_after_head (Fixture       *f,
                             gconstpointer  data)
{
  guint port = helix_test_gateway_get_port (f->gateway);
  const char *body = CHAT_BODY ("auto", "");
  g_autofree char *request = raw_chat_request (f, body, "application/json");
  g_autofree char *head = g_strndup (request, strlen (request) - strlen (body));
  guint64 before = _helix_gateway_get_n_native_requests (f->gateway);

  {
    g_autoptr(HelixTestRawClient) c = helix_test_raw_connect (port);
    g_auto(HelixTestRawResponse) r = { 0 };

    helix_test_wait_for (_helix_gateway_get_n_native_connections (f->gateway) == 1, WAIT_S,
                         "the connection to be accepted");
    helix_test_raw_send (c, head);
    helix_test_wait_for (_helix_gateway_get_n_native_waiting (f->gateway) == 1, WAIT_S,
                         "the gateway to wait for the body");
    g_assert_cmpuint (_helix_gateway_get_n_native_connections (f->gateway), ==, 1);
    helix_test_raw_send (c, body);
    helix_test_raw_read_response (c, &r);
    g_assert_cmpuint (r.status, ==, 200);
    g_assert_cmpuint (_helix_gateway_get_n_native_requests (f->gateway), ==, before + 1);
  }

  /* One whose body never comes: its client goes, and so does the connection. */
  {
    g_autoptr(HelixTestRawClient) c = helix_test_raw_connect (port);

    helix_test_wait_for (_helix_gateway_get_n_native_connections (f->gateway) == 1, WAIT_S,
                         "the connection to be accepted");
    helix_test_raw_send (c, head);
    helix_test_wait_for (_helix_gateway_get_n_native_waiting (f->gateway) == 1, WAIT_S,
                         "the gateway to wait for the body");
  }
  helix_test_wait_for (_helix_gateway_get_n_native_connections (f->gateway) == 0 &&
                       helix_gateway_get_n_requests_in_flight (f->gateway) == 0, WAIT_S,
                       "the connection to close");

  /* A libsoup client's call goes the native way. */
  {
    g_autoptr(GBytes) answer = helix_test_http (f->session, f->base, SOUP_METHOD_POST,
                                                "/v1/chat/completions", f->token, body,
                                                SOUP_STATUS_OK);

    g_assert_cmpuint (_helix_gateway_get_n_native_requests (f->gateway), ==, before + 2);
  }
}

/* A client that hangs up while the native path waits for the model: the
 * upstream call is dropped at once. */
static void
test_native_disconnect (Fixture       *f,
                        gconstpointer  data)
{
  guint port = helix_test_gateway_get_port (f->gateway);
  g_autofree char *request = raw_chat_request (f, CHAT_BODY ("auto", ""), "application/json");
  g_autoptr(HelixTestRawClient) c = helix_test_raw_connect (port);
  guint64 before = _helix_gateway_get_n_native_requests (f->gateway);

  fake_provider_respond_stream (f->alpha, held_chunks, FAKE_END_HOLD);
  helix_test_raw_send (c, request);
  helix_test_wait_for (_helix_gateway_get_n_native_requests (f->gateway) == before + 1, WAIT_S,
                       "the call to start natively");
  helix_test_wait_for (fake_provider_get_n_requests (f->alpha) == 1, WAIT_S,
                       "the upstream call");
  g_assert_false (fake_provider_get_client_closed (f->alpha));

  helix_test_raw_reset (c);
  helix_test_wait_for (fake_provider_get_client_closed (f->alpha), WAIT_S,
                       "the gateway to close the upstream connection");
  helix_test_wait_for (_helix_gateway_get_n_native_connections (f->gateway) == 0, WAIT_S,
                       "the connection to close");
}

static void
test_models (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(JsonNode) root = NULL;
  JsonArray *list;

  root = helix_test_http_json (f->session, f->base, "GET", "/v1/models", f->token, NULL,
                               SOUP_STATUS_OK);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (root), "object"), ==,
                   "list");
  list = json_object_get_array_member (json_node_get_object (root), "data");
  g_assert_cmpuint (json_array_get_length (list), ==, 3);

  {
    const char * const ids[] = { "auto", "alpha-model", "beta-model" };
    const char * const owners[] = { "helix", "alpha", "beta" };

    for (guint i = 0; i < 3; i++)
      {
        JsonObject *model = json_array_get_object_element (list, i);

        g_assert_cmpstr (json_object_get_string_member (model, "id"), ==, ids[i]);
        g_assert_cmpstr (json_object_get_string_member (model, "object"), ==, "model");
        g_assert_cmpint (json_object_get_int_member (model, "created"), ==, 0);
        g_assert_cmpstr (json_object_get_string_member (model, "owned_by"), ==, owners[i]);
      }
  }
}

/* The value of a line of the metrics, or 0 if there is none. */
static double
metric_value (const char *text,
              const char *series)
{
  g_autofree char *prefix = g_strconcat ("\n", series, " ", NULL);
  const char *line = strstr (text, prefix);

  return line != NULL ? g_ascii_strtod (line + strlen (prefix), NULL) : 0;
}

static char *
get_metrics (Fixture *f)
{
  g_autoptr(GBytes) body = helix_test_http (f->session, f->base, "GET", "/metrics", NULL, NULL,
                                            SOUP_STATUS_OK);

  return g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
}

static void
test_metrics (Fixture       *f,
              gconstpointer  data)
{
  const char *ok = "helix_ai_calls_total{provider=\"alpha\",model=\"alpha-model\","
                   "operation=\"chat\",outcome=\"ok\"}";
  const char *failed = "helix_ai_calls_total{provider=\"beta\",model=\"beta-model\","
                       "operation=\"chat\",outcome=\"failed\"}";
  const char *tokens_in = "helix_ai_tokens_total{provider=\"alpha\",model=\"alpha-model\","
                          "direction=\"in\"}";
  g_autofree char *before = get_metrics (f);
  g_autofree char *after = NULL;

  for (guint i = 0; i < 2; i++)
    g_bytes_unref (helix_test_http (f->session, f->base, "POST", "/v1/chat/completions",
                                    f->token, CHAT_BODY ("auto", ""), SOUP_STATUS_OK));
  fake_provider_respond_error (f->beta, 400, NULL, "application/json",
                               "{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\"}}");
  g_bytes_unref (helix_test_http (f->session, f->base, "POST", "/v1/chat/completions", f->token,
                                  CHAT_BODY ("beta-model", ""), SOUP_STATUS_BAD_REQUEST));

  after = get_metrics (f);
  g_assert_cmpfloat (metric_value (after, ok) - metric_value (before, ok), ==, 2);
  g_assert_cmpfloat (metric_value (after, failed) - metric_value (before, failed), ==, 1);
  g_assert_cmpfloat (metric_value (after, tokens_in) - metric_value (before, tokens_in), ==, 2000);
  g_assert_nonnull (strstr (after, "# TYPE helix_ai_call_duration_seconds histogram"));
  g_assert_nonnull (strstr (after, "helix_ai_time_to_first_token_seconds_count{provider=\"alpha\""));
  g_assert_nonnull (strstr (after, "helix_ai_cost_usd_total{provider=\"alpha\",model=\"alpha-model\"}"));
  g_assert_nonnull (strstr (after, "\nhelix_ai_provider_breaker_state{provider=\"alpha\"} 0\n"));
  g_assert_nonnull (strstr (after, "\nhelix_ai_provider_breaker_state{provider=\"beta\"} 0\n"));
}

static char *
today (void)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();

  return g_date_time_format (now, "%Y-%m-%d");
}

static void
test_cost (Fixture       *f,
           gconstpointer  data)
{
  g_autofree char *day = today ();
  g_autofree char *path = g_strdup_printf ("/api/v1/operations/cost?from=%s&to=%s&group=provider",
                                           day, day);
  g_autofree char *by_user = g_strdup_printf ("/api/v1/operations/cost?from=%s&to=%s&group=user",
                                              day, day);
  g_autofree char *admin_token = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(JsonNode) admin_root = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *hash = NULL;
  JsonObject *object;
  JsonObject *total;
  JsonArray *totals;

  /* Two calls to alpha, one to beta. */
  for (guint i = 0; i < 2; i++)
    g_bytes_unref (helix_test_http (f->session, f->base, "POST", "/v1/chat/completions",
                                    f->token, CHAT_BODY ("auto", ""), SOUP_STATUS_OK));
  g_bytes_unref (helix_test_http (f->session, f->base, "POST", "/v1/chat/completions", f->token,
                                  CHAT_BODY ("beta-model", ""), SOUP_STATUS_OK));

  root = helix_test_http_json (f->session, f->base, "GET", path, f->token, NULL, SOUP_STATUS_OK);
  object = json_node_get_object (root);
  g_assert_cmpstr (json_object_get_string_member (object, "from"), ==, day);
  g_assert_cmpstr (json_object_get_string_member (object, "to"), ==, day);
  g_assert_cmpstr (json_object_get_string_member (object, "group"), ==, "provider");
  totals = json_object_get_array_member (object, "totals");
  g_assert_cmpuint (json_array_get_length (totals), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      JsonObject *line = json_array_get_object_element (totals, i);
      gboolean alpha = g_str_equal (json_object_get_string_member (line, "key"), "alpha");

      g_assert_cmpint (json_object_get_int_member (line, "calls"), ==, alpha ? 2 : 1);
      g_assert_cmpint (json_object_get_int_member (line, "failures"), ==, 0);
      g_assert_cmpint (json_object_get_int_member (line, "input_tokens"), ==, alpha ? 2000 : 10);
      g_assert_cmpint (json_object_get_int_member (line, "output_tokens"), ==, alpha ? 1000 : 2);
      /* alpha: 1000 in at $1/M, 500 out at $2/M, twice; beta: 10 at $5/M, 2 at $10/M. */
      g_assert_cmpfloat_with_epsilon (json_object_get_double_member (line, "cost_usd"),
                                      alpha ? 0.004 : 0.00007, 1e-9);
    }
  total = json_object_get_object_member (object, "total");
  g_assert_cmpint (json_object_get_int_member (total, "calls"), ==, 3);
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (total, "cost_usd"), 0.00407,
                                  1e-9);

  /* Other users' costs are for administrators. */
  g_bytes_unref (helix_test_http (f->session, f->base, "GET", by_user, f->token, NULL,
                                  SOUP_STATUS_FORBIDDEN));
  {
    g_autofree char *alice = g_strdup_printf ("/api/v1/operations/cost?user=alice");

    g_bytes_unref (helix_test_http (f->session, f->base, "GET", alice, f->token, NULL,
                                    SOUP_STATUS_FORBIDDEN));
  }

  /* Bad input. */
  {
    const char * const bad[] = {
      "/api/v1/operations/cost?from=2026-13-01",
      "/api/v1/operations/cost?from=yesterday",
      "/api/v1/operations/cost?from=2026-02-30&to=2026-03-01",
      "/api/v1/operations/cost?from=2024-01-01&to=2026-01-01",
      "/api/v1/operations/cost?from=2026-03-02&to=2026-03-01",
      "/api/v1/operations/cost?group=weekday",
    };

    for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
      g_bytes_unref (helix_test_http (f->session, f->base, "GET", bad[i], f->token, NULL,
                                      SOUP_STATUS_BAD_REQUEST));
  }

  /* An administrator sees everyone, by user. */
  hash = helix_password_hash (PASSWORD, &error);
  g_assert_no_error (error);
  helix_gateway_db_add_user (helix_gateway_get_db (f->gateway), "root", hash, TRUE, &error);
  g_assert_no_error (error);
  admin_token = helix_test_login (f->session, f->base, "root", PASSWORD, "console", NULL);
  admin_root = helix_test_http_json (f->session, f->base, "GET", by_user, admin_token, NULL,
                                     SOUP_STATUS_OK);
  totals = json_object_get_array_member (json_node_get_object (admin_root), "totals");
  g_assert_cmpuint (json_array_get_length (totals), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (totals, 0),
                                                  "key"), ==, "bob");
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (totals, 0),
                                               "calls"), ==, 3);
}

static const Setup rate_limit_setup = { "\n[gateway]\nrate-limit-per-user=0.001,2\n", NULL };

/* The gateway's own per-user limit: the same tokens, the same limit as /api/v1. */
static void
test_rate_limit (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(GBytes) response = NULL;
  g_autoptr(SoupMessage) msg = NULL;

  for (guint i = 0; i < 2; i++)
    g_bytes_unref (helix_test_http (f->session, f->base, "POST", "/v1/chat/completions",
                                    f->token, CHAT_BODY ("auto", ""), SOUP_STATUS_OK));

  msg = post_chat (f, f->token, CHAT_BODY ("auto", ""), -1, &response);
  assert_openai_error (msg, response, 429, "rate_limit_error", "rate_limit_exceeded");
  helix_test_http_assert_retry_after (msg);
  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 2);
}

static const Setup budget_setup = { "\n[budget]\nuser-daily-usd=0.001\n", NULL };

static void
test_budget (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GBytes) response = NULL;
  g_autoptr(SoupMessage) msg = NULL;

  /* The estimate fits ($0.000028); the call costs $0.002, past the limit. */
  g_bytes_unref (helix_test_http (f->session, f->base, "POST", "/v1/chat/completions", f->token,
                                  CHAT_BODY ("auto", ",\"max_tokens\":10"), SOUP_STATUS_OK));

  msg = post_chat (f, f->token, CHAT_BODY ("auto", ",\"max_tokens\":10"), -1, &response);
  assert_openai_error (msg, response, SOUP_STATUS_PAYMENT_REQUIRED, "insufficient_quota",
                       "insufficient_quota");
  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 1);
}

static const Setup downgrade_setup = { "\n[budget]\nuser-daily-usd=0.005\nover-cap=downgrade\n", NULL };

/* Past the limit with the downgrade policy: a call pinned to the dear model,
 * which would not fit, goes to the cheaper one that does; under the refuse
 * policy (test_budget) it would be refused. */
static void
test_budget_downgrade (Fixture       *f,
                       gconstpointer  data)
{
  g_autoptr(GBytes) response = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(JsonNode) root = NULL;

  /* beta-model: 1,000 tokens out at $10/M is $0.01, over $0.005; alpha-model's $0.002 fits. */
  msg = post_chat (f, f->token, CHAT_BODY ("beta-model", ",\"max_tokens\":1000"), -1, &response);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
  root = helix_test_http_parse_json (response);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (root), "model"), ==,
                   "alpha-model");
  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 1);
  g_assert_cmpuint (fake_provider_get_n_requests (f->beta), ==, 0);
}

/* The gateway as a child process {{{1 */

static void
kill_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static const char *
helix_binary (void)
{
  const char *binary = g_getenv ("HELIX_BINARY");

  if (binary == NULL || !g_file_test (binary, G_FILE_TEST_IS_EXECUTABLE))
    g_error ("HELIX_BINARY does not name the helix executable; run this test through meson test");

  return binary;
}

typedef struct
{
  char     *out;
  char     *err;
  GError   *error;
  gboolean  done;
} Communicate;

static void
communicate_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Communicate *r = user_data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &r->out, &r->err,
                                        &r->error);
  r->done = TRUE;
}

static GSubprocess *
spawn_gateway (const char * const *args,
               GSubprocessFlags    flags)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);
  g_autoptr(GError) error = NULL;
  GSubprocess *process;

  g_subprocess_launcher_set_child_setup (launcher, kill_with_parent, NULL, NULL);
  g_subprocess_launcher_unsetenv (launcher, "HELIX_LISTEN");
  g_subprocess_launcher_unsetenv (launcher, "HELIX_STATE_DIR");
  g_subprocess_launcher_unsetenv (launcher, "HELIX_LOG_LEVEL");
  g_subprocess_launcher_unsetenv (launcher, "PROVIDER_OVERRIDE");
  g_subprocess_launcher_unsetenv (launcher, "HELIX_PROVIDER_OVERRIDE");
  g_subprocess_launcher_setenv (launcher, "HELIX_TEST_BETA_KEYS", BETA_KEY, TRUE);
  process = g_subprocess_launcher_spawnv (launcher, args, &error);
  g_assert_no_error (error);

  return process;
}

/* A key file others can read: the gateway does not start, and says why. */
static void
test_key_file_mode (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("helix-gateway-openai-XXXXXX", &error);
  g_autofree char *key_file = g_build_filename (dir, "alpha.keys", NULL);
  g_autofree char *config = g_build_filename (dir, "gateway.conf", NULL);
  g_autofree char *state = g_build_filename (dir, "state", NULL);
  g_autofree char *text = NULL;
  g_autoptr(GSubprocess) process = NULL;
  Communicate r = { 0 };
  const char *args[] = { helix_binary (), "--headless", "--config", config, "--listen",
                         "127.0.0.1:0", "--state-dir", state, "--log-level", "debug", NULL };

  g_assert_no_error (error);
  write_private_file (key_file, CANARY "\n", 0644);
  text = g_strdup_printf ("[provider alpha]\nkind=openai\nbase-url=http://127.0.0.1:9/v1\n"
                          "models=alpha-model\nkey-file=%s\n", key_file);
  write_private_file (config, text, 0600);

  process = spawn_gateway (args, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_communicate_utf8_async (process, NULL, NULL, communicate_cb, &r);
  helix_test_wait_for (r.done, WAIT_S, "the gateway to refuse to start");
  g_assert_no_error (r.error);
  g_subprocess_wait (process, NULL, NULL);
  {
    g_autofree char *one_line = g_strdelimit (g_strdup (r.err), "\n", ' ');

    g_test_message ("stderr: %s", one_line);
  }

  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 1);
  g_assert_nonnull (strstr (r.err, key_file));
  g_assert_nonnull (strstr (r.err, "chmod 600"));
  g_assert_null (strstr (r.err, CANARY));
  g_assert_null (strstr (r.out, CANARY));
  g_assert_null (strstr (r.err, "listening on"));

  g_free (r.out);
  g_free (r.err);
  helix_test_rm_rf (dir);
}

/* A whole session of the gateway at debug level: the key is nowhere in its
 * output, nor in the answers. */
static void
test_key_never_logged (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("helix-gateway-openai-XXXXXX", &error);
  g_autofree char *key_file = g_build_filename (dir, "alpha.keys", NULL);
  g_autofree char *prices = g_build_filename (dir, "prices.json", NULL);
  g_autofree char *config = g_build_filename (dir, "gateway.conf", NULL);
  g_autofree char *state = g_build_filename (dir, "state", NULL);
  g_autofree char *text = NULL;
  g_autofree char *base = NULL;
  g_autofree char *token = NULL;
  g_autoptr(FakeProvider) alpha = fake_provider_new (FAKE_FORMAT_OPENAI);
  g_autoptr(GSubprocess) adder = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(GRegex) regex = NULL;
  g_autoptr(GMatchInfo) match = NULL;
  g_autoptr(GDataInputStream) err = NULL;
  g_autoptr(GString) log = g_string_new (NULL);
  g_autofree char *port = NULL;
  Communicate r = { 0 };
  const char *add_args[] = { helix_binary (), "--headless", "--config", config, "--state-dir",
                             state, "--add-user", "bob", NULL };
  const char *args[] = { helix_binary (), "--headless", "--config", config, "--listen",
                         "127.0.0.1:0", "--state-dir", state, "--log-level", "debug", NULL };

  g_assert_no_error (error);
  write_private_file (key_file, CANARY "\n", 0600);
  write_private_file (prices, prices_json, 0644);
  text = g_strdup_printf ("[router]\nprices=%s\n[provider alpha]\nkind=openai\nbase-url=%s\n"
                          "models=alpha-model\nkey-file=%s\n", prices,
                          fake_provider_get_base_url (alpha), key_file);
  write_private_file (config, text, 0600);

  /* The key rests after a 401; the error text must not carry it either. */
  fake_provider_queue_error (alpha, 401, NULL,
                             "{\"error\":{\"message\":\"Incorrect API key provided: " CANARY
                             "\",\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}");
  fake_provider_respond_stream (alpha, hello_chunks, FAKE_END_FINISH);

  adder = spawn_gateway (add_args, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                   G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_communicate_utf8_async (adder, PASSWORD "\n", NULL, communicate_cb, &r);
  helix_test_wait_for (r.done, WAIT_S, "--add-user");
  g_assert_no_error (r.error);
  g_subprocess_wait (adder, NULL, NULL);
  g_assert_cmpint (g_subprocess_get_exit_status (adder), ==, 0);
  g_string_append (log, r.out);
  g_string_append (log, r.err);
  g_free (r.out);
  g_free (r.err);

  process = spawn_gateway (args, G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (process));
  regex = g_regex_new ("listening on (http://127\\.0\\.0\\.1:[0-9]+)$", G_REGEX_MULTILINE, 0, NULL);
  while (!g_regex_match (regex, log->str, 0, &match))
    {
      g_autofree char *line = g_data_input_stream_read_line (err, NULL, NULL, &error);

      g_assert_no_error (error);
      if (line == NULL)
        g_error ("The gateway did not start:\n%s", log->str);
      g_string_append_printf (log, "%s\n", line);
      g_clear_pointer (&match, g_match_info_free);
    }
  base = g_match_info_fetch (match, 1);

  token = helix_test_login (session, base, "bob", PASSWORD, "laptop", NULL);
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GBytes) response = NULL;
      g_autoptr(SoupMessage) msg = helix_test_http_send (session, base, "POST",
                                                         "/v1/chat/completions", token,
                                                         "application/json",
                                                         CHAT_BODY ("auto", ""), -1, &response);

      g_test_message ("answer %u: %u", i, soup_message_get_status (msg));
      assert_no_canary (response);
    }
  g_assert_cmpuint (fake_provider_get_n_requests (alpha), >=, 1);
  g_assert_cmpstr (fake_provider_get_last_header (alpha, "Authorization"), ==, "Bearer " CANARY);

  g_subprocess_send_signal (process, SIGTERM);
  for (;;)
    {
      g_autofree char *line = g_data_input_stream_read_line (err, NULL, NULL, &error);

      g_assert_no_error (error);
      if (line == NULL)
        break;
      g_string_append_printf (log, "%s\n", line);
    }
  g_subprocess_wait (process, NULL, NULL);
  {
    g_auto(GStrv) lines = g_strsplit (log->str, "\n", -1);

    for (guint i = 0; lines[i] != NULL; i++)
      g_test_message ("gateway: %s", lines[i]);
  }

  g_assert_nonnull (strstr (log->str, "POST /v1/chat/completions"));
  g_assert_null (strstr (log->str, CANARY));
  g_assert_null (strstr (log->str, "canary"));

  helix_test_rm_rf (dir);
}

/* Configuration {{{1 */

/* Active health checks, every health-interval-ms: each provider is asked
 * for its model list with no call from anyone, and the answers alone open and
 * close its breaker. */
static const Setup health_setup = { "health-interval-ms=20\n", NULL };

static void
test_health_checks (Fixture       *f,
                    gconstpointer  data)
{
  HelixRouter *router = _helix_gateway_ai_get_router (_helix_gateway_get_ai (f->gateway));
  g_autoptr(GBytes) response = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree char *metrics = NULL;
  guint alpha_requests;

  helix_test_wait_for (fake_provider_get_n_requests (f->alpha) >= 2 &&
                       fake_provider_get_n_requests (f->beta) >= 2,
                       WAIT_S, "the providers to be checked");
  g_assert_cmpstr (fake_provider_get_last_path (f->alpha), ==, "/v1/models");
  g_assert_cmpstr (fake_provider_get_last_path (f->beta), ==, "/v1/models");
  g_assert_cmpint (helix_router_get_health (router, "alpha"), ==, HELIX_ROUTER_HEALTH_CLOSED);

  /* alpha fails its checks: its breaker opens (5 failures), though nobody
   * called it, and a chat goes to beta at once. */
  fake_provider_respond_error (f->alpha, 503, NULL, "application/json",
                               "{\"error\":{\"message\":\"down\",\"type\":\"server_error\"}}");
  helix_test_wait_for (helix_router_get_health (router, "alpha") == HELIX_ROUTER_HEALTH_OPEN,
                       WAIT_S, "alpha's breaker to open");
  metrics = get_metrics (f);
  g_assert_nonnull (strstr (metrics, "\nhelix_ai_provider_breaker_state{provider=\"alpha\"} 2\n"));

  alpha_requests = fake_provider_get_n_requests (f->alpha);
  msg = post_chat (f, f->token, CHAT_BODY ("auto", ""), -1, &response);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
  g_assert_cmpstr (header (msg, "X-Helix-Provider"), ==, "beta");
  g_assert_cmpstr (fake_provider_get_last_path (f->alpha), ==, "/v1/models");
  g_assert_cmpint (helix_router_get_health (router, "beta"), ==, HELIX_ROUTER_HEALTH_CLOSED);

  /* alpha answers again: a check closes its breaker long before the cooldown
   * (30 s) would have let a probe call through. */
  fake_provider_respond_stream (f->alpha, hello_chunks, FAKE_END_FINISH);
  helix_test_wait_for (helix_router_get_health (router, "alpha") == HELIX_ROUTER_HEALTH_CLOSED,
                       WAIT_S, "alpha's breaker to close");
  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), >, alpha_requests);
}

static void
test_config (void)
{
  static const struct
  {
    const char *text;
    const char *expected;
  } bad[] = {
    { "[provider a]\nkind=openai\nmodels=m\napi-key=sk-secret-in-file\n", "never written" },
    { "[provider a]\nkind=cohere\nmodels=m\n", "cohere" },
    { "[provider a]\nmodels=m\n", "needs “kind”" },
    { "[provider a]\nkind=openai\n", "needs “models”" },
    { "[provider a b]\nkind=openai\nmodels=m\n", "provider’s name" },
    { "[provider a]\nkind=openai\nmodels=m\nkey-env=NOT-A-NAME\n", "environment variable" },
    { "[provider a]\nkind=openai\nmodels=m\nkey-file=relative/path\n", "absolute path" },
    { "[router]\nmax-attempts=0\n", "max-attempts" },
    { "[router]\nhealth-interval-ms=-5\n", "health-interval-ms" },
    { "[router]\noverrid=x\n", "did you mean “override”" },
    { "[budget]\nuser-daily-usd=-1\n", "US dollars" },
    { "[budget]\nover-cap=maybe\n", "refuse or downgrade" },
    { "[budget]\nalert-ratio=2\n", "alert-ratio" },
    { "[routers]\n", "[provider NAME]" },
  };
  g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
  g_autoptr(GError) error = NULL;
  const HelixGatewayProviderConfig *provider;
  const HelixGatewayBudgetConfig *budget;
  const char *good =
    "[gateway]\nlisten=127.0.0.1:0\n"
    "[router]\noverride=b/m2\ncooldown-ms=100\nmax-attempts=4\nprices=/etc/helix/prices.json\n"
    "health-interval-ms=5000\n"
    "[budget]\nglobal-daily-usd=10\nglobal-monthly-usd=100\nuser-daily-usd=1.5\n"
    "user-monthly-usd=20\nover-cap=downgrade\nalert-ratio=0.5\n"
    "[provider a]\nkind=anthropic\nmodels=m1; m2 ;\nkey-env=A_KEYS\n"
    "[provider b]\nkind=gemini\nbase-url=http://127.0.0.1:1\nmodels=m2\n"
    "key-file=/etc/helix/keys/b\n";
  const char *env[] = { "HELIX_PROVIDER_OVERRIDE=a/m1", "PROVIDER_OVERRIDE=b/m2",
                        "HELIX_BUDGET_USER_DAILY_USD=2.5", "HELIX_BUDGET_OVER_CAP=refuse",
                        "HELIX_ROUTER_COOLDOWN_MS=250", "HELIX_ROUTER_HEALTH_INTERVAL_MS=0",
                        NULL };
  const char *bad_env[] = { "HELIX_BUDGET_ALERT_RATIO=2", NULL };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(HelixGatewayConfig) c = helix_gateway_config_new ();
      g_autoptr(GError) e = NULL;

      g_assert_false (helix_gateway_config_load_data (c, bad[i].text, strlen (bad[i].text),
                                                      "bad.conf", &e));
      g_assert_error (e, HELIX_GATEWAY_CONFIG_ERROR, e->code);
      g_test_message ("%s", e->message);
      g_assert_nonnull (strstr (e->message, bad[i].expected));
      g_assert_null (strstr (e->message, "sk-secret-in-file"));
      g_assert_cmpuint (helix_gateway_config_get_n_providers (c), ==, 0);
    }

  g_assert_true (helix_gateway_config_load_data (config, good, strlen (good), "good.conf",
                                                 &error));
  g_assert_no_error (error);
  g_assert_cmpuint (helix_gateway_config_get_n_providers (config), ==, 2);
  provider = helix_gateway_config_get_provider (config, 0);
  g_assert_cmpstr (provider->name, ==, "a");
  g_assert_cmpstr (provider->kind, ==, "anthropic");
  g_assert_null (provider->base_url);
  g_assert_cmpuint (g_strv_length (provider->models), ==, 2);
  g_assert_cmpstr (provider->models[1], ==, "m2");
  g_assert_cmpstr (provider->key_env, ==, "A_KEYS");
  provider = helix_gateway_config_get_provider (config, 1);
  g_assert_cmpstr (provider->base_url, ==, "http://127.0.0.1:1");
  g_assert_cmpstr (provider->key_file, ==, "/etc/helix/keys/b");
  g_assert_cmpstr (helix_gateway_config_get_router_override (config), ==, "b/m2");
  g_assert_cmpint (helix_gateway_config_get_router_cooldown_ms (config), ==, 100);
  g_assert_cmpint (helix_gateway_config_get_router_max_attempts (config), ==, 4);
  g_assert_cmpint (helix_gateway_config_get_router_health_interval_ms (config), ==, 5000);
  budget = helix_gateway_config_get_budget (config);
  g_assert_cmpfloat (budget->global_daily_usd, ==, 10);
  g_assert_cmpfloat (budget->user_daily_usd, ==, 1.5);
  g_assert_cmpfloat (budget->user_monthly_usd, ==, 20);
  g_assert_true (budget->downgrade);
  g_assert_cmpfloat (budget->alert_ratio, ==, 0.5);

  /* The environment wins; HELIX_PROVIDER_OVERRIDE over PROVIDER_OVERRIDE. */
  g_assert_true (helix_gateway_config_apply_environment (config, env, &error));
  g_assert_cmpstr (helix_gateway_config_get_router_override (config), ==, "a/m1");
  g_assert_cmpint (helix_gateway_config_get_router_cooldown_ms (config), ==, 250);
  g_assert_cmpint (helix_gateway_config_get_router_health_interval_ms (config), ==, 0);
  budget = helix_gateway_config_get_budget (config);
  g_assert_cmpfloat (budget->user_daily_usd, ==, 2.5);
  g_assert_cmpfloat (budget->user_monthly_usd, ==, 20);
  g_assert_false (budget->downgrade);

  /* A bad value: named with its variable, and nothing changes. */
  g_assert_false (helix_gateway_config_apply_environment (config, bad_env, &error));
  g_assert_nonnull (strstr (error->message, "HELIX_BUDGET_ALERT_RATIO"));
  g_clear_error (&error);
  g_assert_cmpfloat (helix_gateway_config_get_budget (config)->alert_ratio, ==, 0.5);

  /* A copy has it all. */
  {
    g_autoptr(HelixGatewayConfig) copy = helix_gateway_config_copy (config);

    g_assert_cmpuint (helix_gateway_config_get_n_providers (copy), ==, 2);
    g_assert_cmpstr (helix_gateway_config_get_provider (copy, 1)->name, ==, "b");
    g_assert_cmpfloat (helix_gateway_config_get_budget (copy)->user_daily_usd, ==, 2.5);
  }
}

int
main (int   argc,
      char *argv[])
{
  fake_provider_test_init (&argc, &argv, CANARY);
  /* stdout carries the TAP output; the gateway's request log goes to stderr. */
  g_log_writer_default_set_use_stderr (TRUE);

  g_test_add_func ("/gateway/openai/config", test_config);
  g_test_add ("/gateway/openai/completion", Fixture, NULL, fixture_setup, test_completion,
              fixture_teardown);
  g_test_add ("/gateway/openai/stream", Fixture, NULL, fixture_setup, test_stream,
              fixture_teardown);
  g_test_add ("/gateway/openai/auth", Fixture, NULL, fixture_setup, test_auth, fixture_teardown);
  g_test_add ("/gateway/openai/bad-bodies", Fixture, NULL, fixture_setup, test_bad_bodies,
              fixture_teardown);
  g_test_add ("/gateway/openai/unknown-model", Fixture, NULL, fixture_setup, test_unknown_model,
              fixture_teardown);
  g_test_add ("/gateway/openai/pinned", Fixture, NULL, fixture_setup, test_pinned,
              fixture_teardown);
  g_test_add ("/gateway/openai/override", Fixture, &override_setup, fixture_setup, test_override,
              fixture_teardown);
  g_test_add ("/gateway/openai/failover", Fixture, NULL, fixture_setup, test_failover,
              fixture_teardown);
  g_test_add ("/gateway/openai/retry-after", Fixture, NULL, fixture_setup, test_retry_after,
              fixture_teardown);
  g_test_add ("/gateway/openai/upstream-errors", Fixture, NULL, fixture_setup,
              test_upstream_errors, fixture_teardown);
  g_test_add ("/gateway/openai/disconnect", Fixture, NULL, fixture_setup, test_disconnect,
              fixture_teardown);
  g_test_add ("/gateway/openai/native/completion", Fixture, NULL, fixture_setup,
              test_native_completion, fixture_teardown);
  g_test_add ("/gateway/openai/native/failure", Fixture, NULL, fixture_setup,
              test_native_failure, fixture_teardown);
  g_test_add ("/gateway/openai/native/handed-over", Fixture, NULL, fixture_setup,
              test_native_handed_over, fixture_teardown);
  g_test_add ("/gateway/openai/native/body-after-head", Fixture, NULL, fixture_setup,
              test_native_body_after_head, fixture_teardown);
  g_test_add ("/gateway/openai/native/disconnect", Fixture, NULL, fixture_setup,
              test_native_disconnect, fixture_teardown);
  g_test_add ("/gateway/openai/models", Fixture, NULL, fixture_setup, test_models,
              fixture_teardown);
  g_test_add ("/gateway/openai/metrics", Fixture, NULL, fixture_setup, test_metrics,
              fixture_teardown);
  g_test_add ("/gateway/openai/cost", Fixture, NULL, fixture_setup, test_cost, fixture_teardown);
  g_test_add ("/gateway/openai/rate-limit", Fixture, &rate_limit_setup, fixture_setup,
              test_rate_limit, fixture_teardown);
  g_test_add ("/gateway/openai/budget-downgrade", Fixture, &downgrade_setup, fixture_setup,
              test_budget_downgrade, fixture_teardown);
  g_test_add ("/gateway/openai/budget", Fixture, &budget_setup, fixture_setup, test_budget,
              fixture_teardown);
  g_test_add ("/gateway/openai/health-checks", Fixture, &health_setup, fixture_setup,
              test_health_checks, fixture_teardown);
  g_test_add_func ("/gateway/openai/key-file-mode", test_key_file_mode);
  g_test_add_func ("/gateway/openai/key-never-logged", test_key_never_logged);

  return g_test_run ();
}
