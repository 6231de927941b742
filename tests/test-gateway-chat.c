/* test-gateway-chat.c: answers written by the gateway, streamed to every device
 *
 * End to end: a real gateway on an ephemeral loopback port with a loopback fake
 * provider (fake-provider.c) as its only upstream; two devices, each a real
 * HelixStore with its own SQLite file and a HelixSyncClient over a real
 * WebSocket. One device asks; both see the answer stream in as message.delta
 * frames and then stored, as the same message.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>

#include "fake-provider.h"
#include "helix-chat-controller.h"
#include "helix-gateway.h"
#include "helix-provider-openai.h"
#include "helix-test-gateway.h"
#include "helix-test-sync.h"
#include "helix-uuid.h"

#define PASSWORD "correct horse battery staple"
#define CANARY   "sk-helix-chat-canary-0123456789abcdef"

static const char * const answer_chunks[] = {
  "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n",
  "data: {\"choices\":[{\"delta\":{\"content\":\"lo, \"}}]}\n\n",
  "data: {\"choices\":[{\"delta\":{\"content\":\"Alice\"},\"finish_reason\":\"stop\"}]}\n\n",
  "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":500}}\n\n",
  "data: [DONE]\n\n",
  NULL
};

/* What the desktop's own provider answers. */
static const char * const desktop_chunks[] = {
  "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"From the \"}}]}\n\n",
  "data: {\"choices\":[{\"delta\":{\"content\":\"desktop\"},\"finish_reason\":\"stop\"}]}\n\n",
  "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3}}\n\n",
  "data: [DONE]\n\n",
  NULL
};

typedef struct
{
  HelixStore      *store;
  HelixSyncClient *client;
  char            *token;
  GString         *streamed;   /* the deltas of the last answer, in order */
  char            *streaming;  /* its id */
  gint64           next_index;
  guint            n_failed;
  char            *failure;
} Device;

typedef struct
{
  char         *dir;
  FakeProvider *alpha;
  HelixGateway *gateway;
  char         *uri;
  SoupSession  *session;
  Device        a;
  Device        b;
} Fixture;

static void
on_delta (HelixSyncClient *client,
          const char      *session_id,
          const char      *message_id,
          gint64           index,
          const char      *delta,
          Device          *device)
{
  /* In order, once each, from 0 for each answer. */
  if (g_strcmp0 (message_id, device->streaming) != 0)
    {
      g_free (device->streaming);
      device->streaming = g_strdup (message_id);
      device->next_index = 0;
      g_string_truncate (device->streamed, 0);
    }
  g_assert_cmpint (index, ==, device->next_index);
  device->next_index++;
  g_string_append (device->streamed, delta);
}

static void
on_failed (HelixSyncClient *client,
           const char      *session_id,
           const char      *reply_id,
           const char      *error,
           Device          *device)
{
  device->n_failed++;
  g_free (device->failure);
  device->failure = g_strdup (error);
}

static void
device_init (Fixture    *f,
             Device     *device,
             const char *name)
{
  g_autofree char *path = g_strdup_printf ("%s/%s.db", f->dir, name);
  g_autoptr(GError) error = NULL;

  device->store = helix_store_open (path, &error);
  g_assert_no_error (error);
  device->client = helix_sync_client_new (device->store);
  helix_sync_client_set_backoff (device->client, 20, 200);
  device->token = helix_test_login (NULL, f->uri, "alice", PASSWORD, name, NULL);
  device->streamed = g_string_new (NULL);
  g_signal_connect (device->client, "message-delta", G_CALLBACK (on_delta), device);
  g_signal_connect (device->client, "chat-failed", G_CALLBACK (on_failed), device);
  helix_sync_client_connect (device->client, f->uri, device->token);
}

static void
device_clear (Device *device)
{
  helix_sync_client_disconnect (device->client);
  helix_test_assert_finalized (g_steal_pointer (&device->client));
  helix_store_close (device->store);
  g_clear_object (&device->store);
  g_clear_pointer (&device->token, g_free);
  g_string_free (device->streamed, TRUE);
  g_clear_pointer (&device->failure, g_free);
  g_clear_pointer (&device->streaming, g_free);
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(HelixGatewayConfig) config = NULL;
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("helix-gateway-chat-XXXXXX", &error);
  g_assert_no_error (error);

  f->alpha = fake_provider_new (FAKE_FORMAT_OPENAI);
  fake_provider_respond_stream (f->alpha, answer_chunks, FAKE_END_FINISH);

  config = helix_test_gateway_config_new (f->dir);
  helix_test_gateway_config_apply (config, NULL);
  helix_test_gateway_config_add_alpha (config, f->dir, fake_provider_get_base_url (f->alpha),
                                       CANARY);

  f->gateway = helix_test_gateway_start (config);
  f->uri = g_strdup (helix_gateway_get_uri (f->gateway));
  f->session = soup_session_new ();
  helix_test_gateway_add_user (f->gateway, "alice", PASSWORD);
  device_init (f, &f->a, "laptop");
  device_init (f, &f->b, "desktop");
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  device_clear (&f->a);
  device_clear (&f->b);
  helix_test_gateway_shutdown (f->gateway);
  g_clear_object (&f->gateway);
  g_clear_object (&f->session);
  g_clear_pointer (&f->alpha, fake_provider_free);
  helix_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->uri);
}

static void
wait_converged (Fixture *f)
{
  HelixSyncClient *clients[] = { f->a.client, f->b.client };

  helix_test_wait_converged (clients, G_N_ELEMENTS (clients), HELIX_TEST_WAIT_S);
}

/* A session with one user message on device A, synced to B. */
static void
ask (Fixture  *f,
     char    **session_id,
     char    **message_id)
{
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(HelixMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  HelixNewMessage new_message = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "Who am I?");

  session = helix_store_create_session (f->a.store, "Names", &error);
  g_assert_no_error (error);
  message = helix_store_append_message (f->a.store, helix_session_get_id (session), &new_message,
                                        &error);
  g_assert_no_error (error);

  *session_id = g_strdup (helix_session_get_id (session));
  *message_id = g_strdup (helix_message_get_id (message));
}

static HelixMessage *
lookup_message (HelixStore *store,
                const char *id)
{
  g_autoptr(GError) error = NULL;
  HelixMessage *message = helix_store_get_message (store, id, &error);

  if (message == NULL)
    g_clear_error (&error);

  return message;
}

static gboolean
has_message (HelixStore *store,
             const char *id)
{
  g_autoptr(HelixMessage) message = lookup_message (store, id);

  return message != NULL;
}

static void
test_ws_chat (Fixture       *f,
              gconstpointer  data)
{
  g_autofree char *session_id = NULL;
  g_autofree char *message_id = NULL;
  g_autofree char *reply_id = helix_uuid_new_v7 ();
  g_autofree char *hash_a = NULL;
  g_autofree char *hash_b = NULL;
  Device *devices[] = { &f->a, &f->b };

  helix_test_wait_for (helix_test_client_idle (f->a.client) &&
                       helix_test_client_idle (f->b.client), HELIX_TEST_WAIT_S,
                       "both devices connected");

  /* Asked right after the message was written: the request waits for the push. */
  ask (f, &session_id, &message_id);
  helix_sync_client_request_chat (f->a.client, session_id, message_id, reply_id, NULL);

  helix_test_wait_for (has_message (f->a.store, reply_id) && has_message (f->b.store, reply_id),
                       HELIX_TEST_WAIT_S, "the answer on both devices");
  wait_converged (f);

  for (guint i = 0; i < G_N_ELEMENTS (devices); i++)
    {
      g_autoptr(HelixMessage) answer = lookup_message (devices[i]->store, reply_id);

      /* Streamed to both, the asker included, then stored as the same message. */
      g_assert_cmpstr (devices[i]->streamed->str, ==, "Hello, Alice");
      g_assert_cmpuint (devices[i]->n_failed, ==, 0);
      g_assert_cmpstr (helix_message_get_session_id (answer), ==, session_id);
      g_assert_cmpint (helix_message_get_role (answer), ==, HELIX_MESSAGE_ROLE_ASSISTANT);
      g_assert_cmpstr (helix_message_get_content (answer), ==, "Hello, Alice");
      g_assert_cmpint (helix_message_get_status (answer), ==, HELIX_MESSAGE_STATUS_DONE);
      g_assert_cmpstr (helix_message_get_model (answer), ==, "alpha-model");
      g_assert_cmpstr (helix_message_get_provider (answer), ==, "alpha");
      g_assert_cmpint (helix_message_get_tokens_in (answer), ==, 1000);
      g_assert_cmpint (helix_message_get_tokens_out (answer), ==, 500);
      g_assert_cmpfloat_with_epsilon (helix_message_get_cost (answer),
                                      (1000 * 1.0 + 500 * 2.0) / 1e6, 1e-12);
      g_assert_cmpuint (helix_message_get_position (answer), ==, 1);
    }

  /* The question went to the provider, with the gateway's key. */
  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 1);
  g_assert_nonnull (strstr (fake_provider_get_last_body (f->alpha), "Who am I?"));
  g_assert_cmpstr (fake_provider_get_last_header (f->alpha, "Authorization"), ==,
                   "Bearer " CANARY);

  hash_a = helix_test_state_hash (f->a.store);
  hash_b = helix_test_state_hash (f->b.store);
  g_assert_cmpstr (hash_a, ==, hash_b);

  /* Asking again for the same answer (a resent frame) writes nothing twice. */
  helix_sync_client_request_chat (f->b.client, session_id, message_id, reply_id, NULL);
  helix_test_spin_for (200);
  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 1);
  g_assert_cmpint (helix_test_count_rows (f->b.store, "SELECT count (*) FROM messages"), ==, 2);
}

static void
test_ws_chat_failed (Fixture       *f,
                     gconstpointer  data)
{
  g_autofree char *session_id = NULL;
  g_autofree char *message_id = NULL;
  g_autofree char *reply_id = helix_uuid_new_v7 ();
  g_autofree char *other_reply = helix_uuid_new_v7 ();
  g_autofree char *nowhere = helix_uuid_new_v7 ();

  fake_provider_respond_error (f->alpha, 401, NULL, "application/json",
                               "{\"error\":{\"message\":\"Incorrect API key provided: " CANARY "\","
                               "\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}");
  ask (f, &session_id, &message_id);
  helix_sync_client_request_chat (f->a.client, session_id, message_id, reply_id, NULL);

  helix_test_wait_for (f->a.n_failed == 1 && f->b.n_failed == 1, HELIX_TEST_WAIT_S,
                       "the failure on both devices");
  g_assert_nonnull (strstr (f->a.failure, "refused the API key"));
  g_assert_null (strstr (f->a.failure, CANARY));
  g_assert_cmpstr (f->a.streamed->str, ==, "");
  wait_converged (f);
  g_assert_false (has_message (f->a.store, reply_id));

  /* A message the gateway does not have */
  helix_sync_client_request_chat (f->a.client, session_id, nowhere, other_reply, NULL);
  helix_test_wait_for (f->a.n_failed == 2, HELIX_TEST_WAIT_S, "the second failure");
  g_assert_nonnull (strstr (f->a.failure, "no such user message"));
  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 1);
}

/* POST /api/v1/chat/message: the question and the answer land on the devices too. */
static void
test_rest_chat (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(JsonNode) created = NULL;
  g_autoptr(JsonNode) answer = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autofree char *request = NULL;
  g_autofree char *token = helix_test_login (f->session, f->uri, "alice", PASSWORD, "script", NULL);
  g_autofree char *missing = helix_uuid_new_v7 ();
  JsonObject *object;
  JsonObject *message;
  const char *session_id;

  created = helix_test_http_json (f->session, f->uri, "POST", "/api/v1/sessions", token,
                                  "{\"title\":\"From a script\"}", SOUP_STATUS_CREATED);
  session_id = json_object_get_string_member (json_node_get_object (created), "id");

  request = g_strdup_printf ("{\"session\":\"%s\",\"content\":\"Who am I?\"}", session_id);
  answer = helix_test_http_json (f->session, f->uri, "POST", "/api/v1/chat/message", token,
                                 request, SOUP_STATUS_OK);
  object = json_node_get_object (answer);
  message = json_object_get_object_member (object, "message");
  g_assert_cmpstr (json_object_get_string_member (message, "content"), ==, "Hello, Alice");
  g_assert_cmpstr (json_object_get_string_member (message, "role"), ==, "assistant");
  g_assert_cmpstr (json_object_get_string_member (message, "status"), ==, "done");
  g_assert_cmpstr (json_object_get_string_member (message, "model"), ==, "alpha-model");
  g_assert_cmpstr (json_object_get_string_member (message, "session"), ==, session_id);
  g_assert_false (json_object_get_boolean_member (object, "partial"));
  g_assert_nonnull (strstr (json_object_get_string_member (object, "reason"), "alpha-model"));

  /* Both devices get the question and the answer, and saw it stream. */
  helix_test_wait_for (has_message (f->a.store, json_object_get_string_member (message, "id")) &&
                       has_message (f->b.store, json_object_get_string_member (message, "id")) &&
                       has_message (f->b.store,
                                    json_object_get_string_member (object, "user_message")),
                       HELIX_TEST_WAIT_S, "the messages on the devices");
  g_assert_cmpstr (f->b.streamed->str, ==, "Hello, Alice");

  /* Bad requests */
  body = helix_test_http (f->session, f->uri, "POST", "/api/v1/chat/message", NULL, request,
                          SOUP_STATUS_UNAUTHORIZED);
  g_clear_pointer (&body, g_bytes_unref);
  body = helix_test_http (f->session, f->uri, "POST", "/api/v1/chat/message", token,
                          "{\"content\":\"hi\"}", SOUP_STATUS_BAD_REQUEST);
  g_clear_pointer (&body, g_bytes_unref);
  g_free (request);
  request = g_strdup_printf ("{\"session\":\"%s\",\"content\":\"hi\",\"stream\":true}", session_id);
  body = helix_test_http (f->session, f->uri, "POST", "/api/v1/chat/message", token, request,
                          SOUP_STATUS_BAD_REQUEST);
  g_clear_pointer (&body, g_bytes_unref);
  g_free (request);
  request = g_strdup_printf ("{\"session\":\"%s\",\"content\":\"\"}", session_id);
  body = helix_test_http (f->session, f->uri, "POST", "/api/v1/chat/message", token, request,
                          SOUP_STATUS_BAD_REQUEST);
  g_clear_pointer (&body, g_bytes_unref);
  g_free (request);
  request = g_strdup_printf ("{\"session\":\"%s\",\"content\":\"hi\"}", missing);
  body = helix_test_http (f->session, f->uri, "POST", "/api/v1/chat/message", token, request,
                          SOUP_STATUS_NOT_FOUND);
  g_clear_pointer (&body, g_bytes_unref);
  body = helix_test_http (f->session, f->uri, "POST", "/api/v1/chat/message", token,
                          "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
                          SOUP_STATUS_BAD_REQUEST);
  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 1);

  /* A failing provider: 502, and the question stays. */
  g_clear_pointer (&body, g_bytes_unref);
  fake_provider_respond_error (f->alpha, 500, NULL, "application/json",
                               "{\"error\":{\"message\":\"Internal error\",\"type\":\"server_error\"}}");
  g_free (request);
  request = g_strdup_printf ("{\"session\":\"%s\",\"content\":\"Still there?\"}", session_id);
  body = helix_test_http (f->session, f->uri, "POST", "/api/v1/chat/message", token, request,
                          SOUP_STATUS_BAD_GATEWAY);
  g_assert_nonnull (g_strstr_len (g_bytes_get_data (body, NULL), g_bytes_get_size (body),
                                  "server error"));
}

/* Stop on a device: the gateway aborts the provider's call and stores what came. */
static void
test_ws_cancel (Fixture       *f,
                gconstpointer  data)
{
  static const char * const held[] = {
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
    NULL
  };
  g_autofree char *session_id = NULL;
  g_autofree char *message_id = NULL;
  g_autofree char *reply_id = helix_uuid_new_v7 ();
  g_autoptr(HelixMessage) answer = NULL;

  fake_provider_respond_stream (f->alpha, held, FAKE_END_HOLD);
  ask (f, &session_id, &message_id);
  helix_sync_client_request_chat (f->a.client, session_id, message_id, reply_id, NULL);
  helix_test_wait_for (g_strcmp0 (f->b.streamed->str, "Hel") == 0, HELIX_TEST_WAIT_S,
                       "the first piece");

  helix_sync_client_cancel_chat (f->a.client, reply_id);
  helix_test_wait_for (fake_provider_get_client_closed (f->alpha), HELIX_TEST_WAIT_S,
                       "the provider's request aborted");
  helix_test_wait_for (has_message (f->a.store, reply_id) && has_message (f->b.store, reply_id),
                       HELIX_TEST_WAIT_S, "the partial answer on both devices");

  answer = lookup_message (f->b.store, reply_id);
  g_assert_cmpstr (helix_message_get_content (answer), ==, "Hel");
  g_assert_cmpint (helix_message_get_status (answer), ==, HELIX_MESSAGE_STATUS_ERROR);
  g_assert_cmpuint (f->a.n_failed, ==, 0);
}

/* The messages of @session_id in @store; 0 while the session has not
 * reached that device yet (the other device's push and the gateway's answer
 * arrive on their own, in seq order, but not at a set time). */
static guint64
count_messages (HelixStore *store,
                const char *session_id)
{
  g_autoptr(GError) error = NULL;
  guint64 n = helix_store_count_messages (store, session_id, &error);

  if (g_error_matches (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_NOT_FOUND))
    return 0;
  g_assert_no_error (error);
  return n;
}

/* The desktop's chat controller, signed in: the gateway answers, without any
 * provider on the desktop, and the answer streams to the window and the other
 * device, then takes its place in both stores. */
static void
test_desktop (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(HelixChatController) chat = helix_chat_controller_new (f->a.store);
  g_autoptr(HelixChatCall) call = NULL;
  g_autofree char *session_id = NULL;
  g_autofree char *message_id = NULL;
  g_autofree char *hash_a = NULL;
  g_autofree char *hash_b = NULL;

  g_assert_false (helix_chat_controller_has_providers (chat));
  helix_chat_controller_set_sync_client (chat, f->a.client);
  helix_test_wait_for (helix_test_client_idle (f->a.client) &&
                       helix_test_client_idle (f->b.client), HELIX_TEST_WAIT_S,
                       "both devices connected");
  g_assert_true (helix_chat_controller_has_providers (chat));

  ask (f, &session_id, &message_id);
  call = g_object_ref (helix_chat_controller_ask (chat, session_id, 1));
  g_assert_true (helix_chat_controller_get_busy_call (chat, session_id) == call);

  helix_test_wait_for (count_messages (f->a.store, session_id) == 2 &&
                       count_messages (f->b.store, session_id) == 2 &&
                       helix_chat_controller_get_n_pending (chat) == 0,
                       HELIX_TEST_WAIT_S, "the answer in both stores");
  wait_converged (f);

  /* Streamed into the window's call, then replaced by the stored message. */
  g_assert_cmpstr (helix_chat_stream_get_text (_helix_chat_call_get_stream (call)), ==,
                   "Hello, Alice");
  g_assert_null (helix_chat_controller_get_busy_call (chat, session_id));
  g_assert_cmpuint (g_list_model_get_n_items (helix_chat_controller_get_calls (chat, session_id)),
                    ==, 0);
  g_assert_cmpstr (f->b.streamed->str, ==, "Hello, Alice");
  hash_a = helix_test_state_hash (f->a.store);
  hash_b = helix_test_state_hash (f->b.store);
  g_assert_cmpstr (hash_a, ==, hash_b);

  /* Signed out: nothing answers on this desktop. */
  helix_chat_controller_set_sync_client (chat, NULL);
  g_assert_false (helix_chat_controller_has_providers (chat));
}

static HelixSession *
get_session (HelixStore *store,
             const char *session_id)
{
  g_autoptr(GError) error = NULL;
  HelixSession *session = helix_store_get_session (store, session_id, &error);

  g_assert_no_error (error);
  return session;
}

/* The model pinned for a session on the desktop goes with its chat frame (the
 * gateway's router asks for it, or says it cannot), and syncs to the user's other
 * devices like the rest of the session. */
static void
test_desktop_pinned (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(HelixChatController) chat = helix_chat_controller_new (f->a.store);
  g_autoptr(HelixChatCall) call = NULL;
  g_autoptr(HelixSession) changed = NULL;
  g_autoptr(HelixSession) on_b = NULL;
  g_autoptr(HelixMessage) answer = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *session_id = NULL;
  g_autofree char *message_id = NULL;
  g_autofree char *token = NULL;
  g_autofree char *request = NULL;
  g_autoptr(JsonNode) reply = NULL;

  helix_chat_controller_set_sync_client (chat, f->a.client);
  helix_test_wait_for (helix_test_client_idle (f->a.client) &&
                       helix_test_client_idle (f->b.client), HELIX_TEST_WAIT_S,
                       "both devices connected");
  ask (f, &session_id, &message_id);

  /* A model the gateway does not serve: its router refuses it, nothing is asked. */
  changed = helix_store_set_session_model (f->a.store, session_id, "no-such-model", &error);
  g_assert_no_error (error);
  g_clear_object (&changed);
  call = g_object_ref (helix_chat_controller_ask (chat, session_id, 1));
  helix_test_wait_for (helix_chat_call_get_state (call) == HELIX_CHAT_CALL_FAILED &&
                       helix_chat_controller_get_n_pending (chat) == 0,
                       HELIX_TEST_WAIT_S, "the gateway to refuse the pinned model");
  g_assert_nonnull (strstr (helix_chat_call_get_error (call), "no-such-model"));
  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 0);
  g_clear_object (&call);

  /* One it serves, named with its provider. */
  changed = helix_store_set_session_model (f->a.store, session_id, "alpha/alpha-model", &error);
  g_assert_no_error (error);
  g_clear_object (&changed);
  call = g_object_ref (helix_chat_controller_ask (chat, session_id, 1));
  helix_test_wait_for (count_messages (f->a.store, session_id) == 2 &&
                       helix_chat_controller_get_n_pending (chat) == 0,
                       HELIX_TEST_WAIT_S, "the answer of the pinned model");
  messages = helix_store_get_messages (f->a.store, session_id, 1, 1, &error);
  g_assert_no_error (error);
  answer = g_object_ref (g_ptr_array_index (messages, 0));
  g_assert_cmpstr (helix_message_get_content (answer), ==, "Hello, Alice");
  g_assert_cmpstr (helix_message_get_model (answer), ==, "alpha-model");

  wait_converged (f);
  on_b = get_session (f->b.store, session_id);
  g_assert_cmpstr (helix_session_get_model (on_b), ==, "alpha/alpha-model");

  /* A program that names no model gets the one pinned for the session. */
  token = helix_test_login (f->session, f->uri, "alice", PASSWORD, "script", NULL);
  request = g_strdup_printf ("{\"session\":\"%s\",\"content\":\"And you?\"}", session_id);
  reply = helix_test_http_json (f->session, f->uri, "POST", "/api/v1/chat/message", token,
                                request, SOUP_STATUS_OK);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (reply), "reason"), ==,
                   "pinned for this session: alpha-model");

  helix_chat_controller_set_sync_client (chat, NULL);
}

/* Asks @chat about a new session's question and waits until the answer is
 * stored; returns the call. */
static HelixChatCall *
ask_and_wait (Fixture             *f,
              HelixChatController *chat,
              char               **session_id)
{
  g_autofree char *message_id = NULL;
  HelixChatCall *call;

  ask (f, session_id, &message_id);
  call = g_object_ref (helix_chat_controller_ask (chat, *session_id, 1));
  helix_test_wait_for (count_messages (f->a.store, *session_id) == 2 &&
                       helix_chat_controller_get_n_pending (chat) == 0,
                       HELIX_TEST_WAIT_S, "the answer stored");
  return call;
}

/* Chats go through the gateway when signed in, unless the setting
 * chat-through-gateway (bound to the controller as the window binds it) is
 * off: then the desktop's own provider answers, signed in all the same, and
 * the answer still syncs to the other device. */
static void
test_desktop_setting (Fixture       *f,
                      gconstpointer  data)
{
  static const char * const models[] = { "deepseek-chat", NULL };
  g_autoptr(GSettings) settings = g_settings_new ("ai.helix.Helix");
  g_autoptr(HelixChatController) chat = helix_chat_controller_new (f->a.store);
  g_autoptr(FakeProvider) desk = fake_provider_new (FAKE_FORMAT_OPENAI);
  g_autoptr(HelixPriceTable) prices = NULL;
  g_autoptr(HelixRouter) router = NULL;
  g_autoptr(HelixProviderOpenai) provider = NULL;
  g_autoptr(HelixChatCall) through_gateway = NULL;
  g_autoptr(HelixChatCall) on_desktop = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *streamed_reply = NULL;

  fake_provider_respond_stream (desk, desktop_chunks, FAKE_END_FINISH);
  prices = helix_price_table_new_default (&error);
  g_assert_no_error (error);
  router = helix_router_new (prices);
  provider = helix_provider_openai_new ("deepseek", fake_provider_get_base_url (desk),
                                        "sk-desktop-key", &error);
  g_assert_no_error (error);
  helix_router_add_provider (router, HELIX_PROVIDER (provider), NULL, models);
  helix_chat_controller_set_router (chat, router);

  g_settings_reset (settings, "chat-through-gateway");
  g_assert_true (g_settings_get_boolean (settings, "chat-through-gateway"));
  g_settings_bind (settings, "chat-through-gateway", chat, "use-gateway", G_SETTINGS_BIND_GET);
  g_assert_true (helix_chat_controller_get_use_gateway (chat));

  helix_chat_controller_set_sync_client (chat, f->a.client);
  helix_test_wait_for (helix_test_client_idle (f->a.client) &&
                       helix_test_client_idle (f->b.client), HELIX_TEST_WAIT_S,
                       "both devices connected");

  /* On (the default): the gateway answers; the desktop's provider is not asked. */
  through_gateway = ask_and_wait (f, chat, &first);
  g_assert_cmpstr (helix_chat_stream_get_text (_helix_chat_call_get_stream (through_gateway)), ==,
                   "Hello, Alice");
  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), >=, 1);
  g_assert_cmpuint (fake_provider_get_n_requests (desk), ==, 0);

  /* Off: the desktop's own provider answers, though signed in and online. */
  g_settings_set_boolean (settings, "chat-through-gateway", FALSE);
  g_assert_false (helix_chat_controller_get_use_gateway (chat));
  g_assert_true (helix_chat_controller_has_providers (chat));
  /* The other device saw the gateway's answer stream (its deltas may come
   * after the answer is stored on this one). */
  helix_test_wait_for (f->b.streaming != NULL, HELIX_TEST_WAIT_S,
                       "the gateway's answer streaming to the other device");
  streamed_reply = g_strdup (f->b.streaming);
  on_desktop = ask_and_wait (f, chat, &second);
  g_assert_cmpstr (helix_chat_stream_get_text (_helix_chat_call_get_stream (on_desktop)), ==,
                   "From the desktop");
  g_assert_cmpuint (fake_provider_get_n_requests (desk), >=, 1);
  g_assert_nonnull (strstr (fake_provider_get_last_body (desk), "\"model\":\"deepseek-chat\""));
  /* The stored answer syncs; the gateway streamed nothing for it. */
  helix_test_wait_for (helix_store_count_messages (f->b.store, second, NULL) == 2,
                       HELIX_TEST_WAIT_S, "the desktop's answer on the other device");
  g_assert_cmpstr (f->b.streaming, ==, streamed_reply);

  /* On again: the gateway answers the next question. */
  g_settings_set_boolean (settings, "chat-through-gateway", TRUE);
  g_assert_true (helix_chat_controller_get_use_gateway (chat));

  g_settings_unbind (chat, "use-gateway");
  g_settings_reset (settings, "chat-through-gateway");
  helix_chat_controller_set_sync_client (chat, NULL);
}

static char *
session_title (Fixture    *f,
               const char *token,
               const char *session_id)
{
  g_autofree char *path = g_strconcat ("/api/v1/sessions/", session_id, NULL);
  g_autoptr(JsonNode) session = helix_test_http_json (f->session, f->uri, "GET", path, token,
                                                      NULL, SOUP_STATUS_OK);

  return g_strdup (json_object_get_string_member (json_node_get_object (session), "title"));
}

/* A session without a name is named after its first answer; one the user
 * named keeps its name. */
static void
test_title (Fixture       *f,
            gconstpointer  data)
{
  g_autofree char *token = helix_test_login (f->session, f->uri, "alice", PASSWORD, "script", NULL);
  g_autoptr(JsonNode) created = NULL;
  g_autoptr(JsonNode) answer = NULL;
  g_autofree char *request = NULL;
  g_autofree char *title = NULL;
  const char *session_id;

  created = helix_test_http_json (f->session, f->uri, "POST", "/api/v1/sessions", token, "{}",
                                  SOUP_STATUS_CREATED);
  session_id = json_object_get_string_member (json_node_get_object (created), "id");
  request = g_strdup_printf ("{\"session\":\"%s\",\"content\":\"Who am I?\"}", session_id);
  answer = helix_test_http_json (f->session, f->uri, "POST", "/api/v1/chat/message", token,
                                 request, SOUP_STATUS_OK);
  /* The fake answers the title request as it answered the question. */
  helix_test_wait_for (fake_provider_get_n_requests (f->alpha) == 2, HELIX_TEST_WAIT_S,
                       "the title request");
  g_assert_nonnull (strstr (fake_provider_get_last_body (f->alpha), "title"));
  g_assert_nonnull (strstr (fake_provider_get_last_body (f->alpha), "Who am I?"));
  for (;;)
    {
      g_free (title);
      title = session_title (f, token, session_id);
      if (*title != '\0')
        break;
      helix_test_spin_for (20);
    }
  g_assert_cmpstr (title, ==, "Hello, Alice");

  /* The second answer asks for no title. */
  g_clear_pointer (&answer, json_node_unref);
  answer = helix_test_http_json (f->session, f->uri, "POST", "/api/v1/chat/message", token,
                                 request, SOUP_STATUS_OK);
  helix_test_spin_for (200);
  g_assert_cmpuint (fake_provider_get_n_requests (f->alpha), ==, 3);
}

int
main (int   argc,
      char *argv[])
{
  fake_provider_test_init (&argc, &argv, CANARY);

#define ADD(path, func) \
  g_test_add ("/helix/gateway/chat/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("websocket", test_ws_chat);
  ADD ("websocket-failed", test_ws_chat_failed);
  ADD ("websocket-cancel", test_ws_cancel);
  ADD ("rest", test_rest_chat);
  ADD ("title", test_title);
  ADD ("desktop", test_desktop);
  ADD ("desktop-pinned", test_desktop_pinned);
  ADD ("desktop-setting", test_desktop_setting);

  return g_test_run ();
}
