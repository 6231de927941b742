/* test-gateway-search.c: full-text search over REST (GET /api/v1/search)
 *
 * A real gateway in this process on an ephemeral loopback port, with a
 * loopback fake provider (fake-provider.c) for the answers of
 * POST /api/v1/chat/message; a real SoupSession, real users who log in, and
 * ops pushed over the real sync WebSocket or stored through
 * helix_gateway_db_apply_ops(), as a push is.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "fake-provider.h"
#include "helix-gateway.h"
#include "helix-gateway-db-private.h"
#include "helix-gateway-sync.h"
#include "helix-test-gateway.h"
#include "helix-test-http.h"
#include "helix-test-sqlite.h"
#include "helix-uuid.h"

#define SEARCH "/api/v1/search"
#define ALICE_PASSWORD "correct horse alice"
#define BOB_PASSWORD "battery staple bob"

static const char * const answer_chunks[] = {
  "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Take the \"}}]}\n\n",
  "data: {\"choices\":[{\"delta\":{\"content\":\"Alfa Pendular\"},\"finish_reason\":\"stop\"}]}\n\n",
  "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5}}\n\n",
  "data: [DONE]\n\n",
};

typedef struct
{
  char         *dir;
  FakeProvider *alpha;
  HelixGateway *gateway;
  SoupSession  *session;
  char         *uri;
  gint64        alice;
  gint64        bob;
  char         *alice_token;
  char         *bob_token;
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(HelixGatewayConfig) config = NULL;
  g_autoptr(GError) error = NULL;
  f->dir = g_dir_make_tmp ("helix-gateway-search-XXXXXX", &error);
  g_assert_no_error (error);

  f->alpha = fake_provider_new (FAKE_FORMAT_OPENAI);
  fake_provider_respond_stream (f->alpha, answer_chunks, FAKE_END_FINISH);

  config = helix_test_gateway_config_new (f->dir);
  helix_test_gateway_config_apply (config, NULL);
  helix_test_gateway_config_add_alpha (config, f->dir, fake_provider_get_base_url (f->alpha),
                                       "sk-helix-search-test-key");

  f->gateway = helix_test_gateway_start (config);
  f->uri = g_strdup_printf ("http://127.0.0.1:%u", helix_test_gateway_get_port (f->gateway));
  f->session = soup_session_new ();

  f->alice = helix_test_gateway_add_user (f->gateway, "alice", ALICE_PASSWORD);
  f->bob = helix_test_gateway_add_user (f->gateway, "bob", BOB_PASSWORD);
  f->alice_token = helix_test_login (f->session, f->uri, "alice", ALICE_PASSWORD, "test", NULL);
  f->bob_token = helix_test_login (f->session, f->uri, "bob", BOB_PASSWORD, "test", NULL);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_object (&f->session);
  helix_test_gateway_shutdown (f->gateway);
  g_clear_object (&f->gateway);
  g_clear_pointer (&f->alpha, fake_provider_free);

  helix_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->uri);
  g_free (f->alice_token);
  g_free (f->bob_token);
}

/* Helpers {{{1 */

/* GET /api/v1/search?@query (already escaped), which must answer 200. */
static JsonObject *
search (Fixture    *f,
        const char *token,
        const char *query)
{
  g_autofree char *path = g_strconcat (SEARCH "?", query, NULL);
  g_autoptr(JsonNode) root = helix_test_http_json (f->session, f->uri, "GET", path, token, NULL,
                                                   SOUP_STATUS_OK);
  JsonObject *object;

  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  object = json_node_get_object (root);
  g_assert_true (json_object_has_member (object, "results"));
  g_assert_true (json_object_has_member (object, "next"));

  return json_object_ref (object);
}

/* Searches for @text (escaped here) and returns the results. */
static JsonArray *
search_text (Fixture    *f,
             const char *token,
             const char *text)
{
  g_autofree char *escaped = g_uri_escape_string (text, NULL, FALSE);
  g_autofree char *query = g_strconcat ("q=", escaped, NULL);
  g_autoptr(JsonObject) object = search (f, token, query);

  return json_array_ref (json_object_get_array_member (object, "results"));
}

/* Whether @results hold the message @id (or, for a %NULL @id, a hit in the
 * title of @session). */
static JsonObject *
find_hit (JsonArray  *results,
          const char *session,
          const char *id)
{
  for (guint i = 0; i < json_array_get_length (results); i++)
    {
      JsonObject *hit = json_array_get_object_element (results, i);

      if ((session == NULL || g_str_equal (json_object_get_string_member (hit, "session"),
                                           session)) &&
          g_strcmp0 (json_object_get_string_member (hit, "message"), id) == 0)
        return hit;
    }

  return NULL;
}

static char *
create_session (Fixture    *f,
                const char *token,
                const char *title)
{
  g_autofree char *body = g_strdup_printf ("{\"title\":\"%s\"}", title);
  g_autoptr(JsonNode) created = helix_test_http_json (f->session, f->uri, "POST",
                                                      "/api/v1/sessions", token, body,
                                                      SOUP_STATUS_CREATED);

  return g_strdup (json_object_get_string_member (json_node_get_object (created), "id"));
}

/* Stores one op of @user_id through the op log, as a push does. */
static void
store_op (Fixture         *f,
          gint64           user_id,
          HelixSyncOpKind  kind,
          const char      *id,
          const char      *session,
          JsonObject      *data)
{
  g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GPtrArray) applied = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  g_autofree char *op_id = helix_uuid_new_v7 ();
  g_autoptr(HelixSyncOp) op = NULL;
  g_autoptr(GError) error = NULL;
  static guint counter;
  HelixHlc hlc = { .wall_ms = g_get_real_time () / 1000, .counter = counter++ % 1000,
                   .device = "phone" };

  op = helix_sync_op_new (kind, op_id, id, session, &hlc, data, &error);
  g_assert_no_error (error);
  g_assert_true (helix_gateway_db_apply_ops (helix_gateway_get_db (f->gateway), user_id, 0, &op,
                                             1, seqs, applied, &error));
  g_assert_no_error (error);
}

/* A message of @user_id in @session with @content; returns its id. */
static char *
store_message (Fixture    *f,
               gint64      user_id,
               const char *session,
               const char *content)
{
  g_autoptr(JsonObject) data = json_object_new ();
  char *id = helix_uuid_new_v7 ();

  json_object_set_string_member (data, "role", "user");
  json_object_set_string_member (data, "content", content);
  json_object_set_string_member (data, "status", "done");
  store_op (f, user_id, HELIX_SYNC_OP_MESSAGE_PUT, id, session, data);

  return id;
}

/* A session of @user_id titled @title, stored through the op log. */
static char *
store_session (Fixture    *f,
               gint64      user_id,
               const char *title)
{
  g_autoptr(JsonObject) data = json_object_new ();
  char *id = helix_uuid_new_v7 ();

  json_object_set_string_member (data, "title", title);
  store_op (f, user_id, HELIX_SYNC_OP_SESSION_PUT, id, NULL, data);

  return id;
}

typedef struct
{
  GPtrArray *frames;   /* the text frames received, as HelixSyncFrame */
  gboolean   closed;
} WsClient;

static void
on_ws_message (SoupWebsocketConnection *ws,
               gint                     type,
               GBytes                  *message,
               WsClient                *c)
{
  g_autoptr(GError) error = NULL;
  gsize len;
  const char *text = g_bytes_get_data (message, &len);
  HelixSyncFrame *frame;

  g_assert_cmpint (type, ==, SOUP_WEBSOCKET_DATA_TEXT);
  frame = helix_sync_frame_parse (text, len, &error);
  g_assert_no_error (error);
  g_ptr_array_add (c->frames, frame);
}

static void
on_ws_closed (SoupWebsocketConnection *ws,
              WsClient                *c)
{
  c->closed = TRUE;
}

/* Whether a frame of @kind came; fails on an error frame. */
static gboolean
ws_has_frame (WsClient           *c,
              HelixSyncFrameKind  kind)
{
  for (guint i = 0; i < c->frames->len; i++)
    {
      HelixSyncFrame *frame = g_ptr_array_index (c->frames, i);

      if (helix_sync_frame_get_kind (frame) == HELIX_SYNC_FRAME_ERROR)
        g_error ("The gateway refused the push: %s", helix_sync_frame_get_error_message (frame));
      if (helix_sync_frame_get_kind (frame) == kind)
        return TRUE;
    }

  return FALSE;
}

/* Pushes @ops_json (the members of a JSON array) over the sync WebSocket as
 * the device @device of @token, and waits for the gateway's ack. */
static void
push_over_sync (Fixture    *f,
                const char *token,
                const char *device,
                const char *ops_json)
{
  g_autofree char *base_uri = g_strdup_printf ("ws://127.0.0.1:%u",
                                               helix_test_gateway_get_port (f->gateway));
  g_autoptr(SoupMessage) msg = helix_test_http_message_new (base_uri, "GET", "/api/v1/sync",
                                                            token, NULL, NULL, -1);
  g_autoptr(SoupWebsocketConnection) ws = NULL;
  g_autofree char *hello = g_strdup_printf ("{\"type\":\"hello\",\"cursor\":0,\"device\":\"%s\"}",
                                            device);
  g_autofree char *push = g_strdup_printf ("{\"type\":\"push\",\"ops\":[%s]}", ops_json);
  WsClient c = { .frames = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_frame_unref) };

  ws = helix_test_ws_connect (f->session, msg, NULL, NULL);
  soup_websocket_connection_set_max_incoming_payload_size (ws, 4 * 1024 * 1024);
  g_signal_connect (ws, "message", G_CALLBACK (on_ws_message), &c);
  g_signal_connect (ws, "closed", G_CALLBACK (on_ws_closed), &c);

  soup_websocket_connection_send_text (ws, hello);
  helix_test_wait_for (ws_has_frame (&c, HELIX_SYNC_FRAME_SYNCED) || c.closed,
                       HELIX_TEST_GATEWAY_WAIT_S, "the backlog");
  g_assert_false (c.closed);

  soup_websocket_connection_send_text (ws, push);
  helix_test_wait_for (ws_has_frame (&c, HELIX_SYNC_FRAME_ACK) || c.closed,
                       HELIX_TEST_GATEWAY_WAIT_S, "the ack");
  g_assert_false (c.closed);

  soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  helix_test_wait_for (c.closed, HELIX_TEST_GATEWAY_WAIT_S, "the socket to close");
  g_signal_handlers_disconnect_by_data (ws, &c);
  g_ptr_array_unref (c.frames);
}

/* Tests {{{1 */

/* A message pushed by a device over sync, a question asked over REST and
 * its answer, and titles: each found by its words, and only by its user. */
static void
test_found (Fixture       *f,
            gconstpointer  data)
{
  g_autofree char *synced_session = helix_uuid_new_v7 ();
  g_autofree char *synced_message = helix_uuid_new_v7 ();
  g_autofree char *op1 = helix_uuid_new_v7 ();
  g_autofree char *op2 = helix_uuid_new_v7 ();
  g_autofree char *ops = NULL;
  g_autofree char *rest_session = NULL;
  g_autofree char *request = NULL;
  g_autofree char *bob_session = NULL;
  g_autofree char *bob_message = NULL;
  g_autofree char *rename_path = NULL;
  g_autoptr(JsonNode) answer = NULL;
  g_autoptr(JsonArray) results = NULL;
  gint64 now_ms = g_get_real_time () / 1000;
  const char *question;
  const char *reply;
  JsonObject *hit;
  guint writer_before, other_before;
  guint writer_after, other_after;

  ops = g_strdup_printf ("{\"op\":\"%s\",\"type\":\"session.put\",\"id\":\"%s\","
                         "\"hlc\":\"%" G_GINT64_FORMAT ":0:dev-a\",\"data\":{\"title\":\"Baking\"}},"
                         "{\"op\":\"%s\",\"type\":\"message.put\",\"id\":\"%s\",\"session\":\"%s\","
                         "\"hlc\":\"%" G_GINT64_FORMAT ":1:dev-a\",\"data\":{\"role\":\"user\","
                         "\"content\":\"The sourdough starter wants rye flour\","
                         "\"status\":\"done\"}}",
                         op1, synced_session, now_ms, op2, synced_message, synced_session, now_ms);
  push_over_sync (f, f->alice_token, "dev-a", ops);

  rest_session = create_session (f, f->alice_token, "Travel plans");
  request = g_strdup_printf ("{\"session\":\"%s\",\"content\":\"Which train goes to Lisbon?\"}",
                             rest_session);
  answer = helix_test_http_json (f->session, f->uri, "POST", "/api/v1/chat/message",
                                 f->alice_token, request, SOUP_STATUS_OK);
  question = json_object_get_string_member (json_node_get_object (answer), "user_message");
  reply = json_object_get_string_member (json_object_get_object_member (
                                           json_node_get_object (answer), "message"), "id");
  g_assert_nonnull (question);
  g_assert_nonnull (reply);

  /* Bob has a sourdough of his own. */
  bob_session = store_session (f, f->bob, "Bob's bread");
  bob_message = store_message (f, f->bob, bob_session, "my sourdough never rises");

  /* Pushed over sync: a word of it, in any case, with diacritics or without.
   * Indexing it is the writer thread's commit; the search only reads. */
  _helix_gateway_db_get_commit_counts (&writer_before, &other_before);
  results = search_text (f, f->alice_token, "SOURDOUGH");
  _helix_gateway_db_get_commit_counts (&writer_after, &other_after);
  g_assert_cmpuint (other_after, ==, other_before);
  g_assert_cmpuint (writer_after, >, writer_before);
  g_assert_cmpuint (json_array_get_length (results), ==, 1);
  hit = find_hit (results, synced_session, synced_message);
  g_assert_nonnull (hit);
  g_assert_cmpstr (json_object_get_string_member (hit, "title"), ==, "Baking");
  g_assert_cmpstr (json_object_get_string_member (hit, "role"), ==, "user");
  g_assert_cmpint (json_object_get_int_member (hit, "seq"), ==, 2);
  g_assert_nonnull (strstr (json_object_get_string_member (hit, "snippet"), "sourdough"));
  g_assert_nonnull (json_object_get_string_member (hit, "created"));
  g_clear_pointer (&results, json_array_unref);

  /* Every word must be there. */
  results = search_text (f, f->alice_token, "rye sourdough");
  g_assert_cmpuint (json_array_get_length (results), ==, 1);
  g_clear_pointer (&results, json_array_unref);
  results = search_text (f, f->alice_token, "rye wheat");
  g_assert_cmpuint (json_array_get_length (results), ==, 0);
  g_clear_pointer (&results, json_array_unref);

  /* Created over REST: the question and the answer. */
  results = search_text (f, f->alice_token, "lisbon");
  g_assert_cmpuint (json_array_get_length (results), ==, 1);
  hit = find_hit (results, rest_session, question);
  g_assert_nonnull (hit);
  g_assert_cmpstr (json_object_get_string_member (hit, "role"), ==, "user");
  g_assert_cmpstr (json_object_get_string_member (hit, "title"), ==, "Travel plans");
  g_clear_pointer (&results, json_array_unref);
  results = search_text (f, f->alice_token, "pendular");
  g_assert_cmpuint (json_array_get_length (results), ==, 1);
  hit = find_hit (results, rest_session, reply);
  g_assert_nonnull (hit);
  g_assert_cmpstr (json_object_get_string_member (hit, "role"), ==, "assistant");
  g_clear_pointer (&results, json_array_unref);

  /* A title: a hit without a message. */
  results = search_text (f, f->alice_token, "travel");
  g_assert_cmpuint (json_array_get_length (results), ==, 1);
  hit = find_hit (results, rest_session, NULL);
  g_assert_nonnull (hit);
  g_assert_true (json_object_get_null_member (hit, "message"));
  g_assert_true (json_object_get_null_member (hit, "role"));
  g_assert_true (json_object_get_null_member (hit, "seq"));
  g_clear_pointer (&results, json_array_unref);

  /* Renamed: found by the new title only. */
  rename_path = g_strconcat ("/api/v1/sessions/", rest_session, NULL);
  g_clear_pointer (&answer, json_node_unref);
  answer = helix_test_http_json (f->session, f->uri, "PATCH", rename_path, f->alice_token,
                                 "{\"title\":\"Holidays\"}", SOUP_STATUS_OK);
  results = search_text (f, f->alice_token, "travel");
  g_assert_cmpuint (json_array_get_length (results), ==, 0);
  g_clear_pointer (&results, json_array_unref);
  results = search_text (f, f->alice_token, "holidays");
  g_assert_cmpuint (json_array_get_length (results), ==, 1);
  g_clear_pointer (&results, json_array_unref);
  /* A message's title follows its session's. */
  results = search_text (f, f->alice_token, "lisbon");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (results, 0),
                                                  "title"), ==, "Holidays");
  g_clear_pointer (&results, json_array_unref);

  /* Each user finds their own only. */
  results = search_text (f, f->bob_token, "sourdough");
  g_assert_cmpuint (json_array_get_length (results), ==, 1);
  g_assert_nonnull (find_hit (results, bob_session, bob_message));
  g_clear_pointer (&results, json_array_unref);
  results = search_text (f, f->bob_token, "lisbon");
  g_assert_cmpuint (json_array_get_length (results), ==, 0);
  g_clear_pointer (&results, json_array_unref);
  results = search_text (f, f->alice_token, "rises");
  g_assert_cmpuint (json_array_get_length (results), ==, 0);
}

/* Pages of hits, newest first, each hit once. */
static void
test_paging (Fixture       *f,
             gconstpointer  data)
{
  g_autofree char *session = store_session (f, f->alice, "Notes");
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *cursor = NULL;
  guint n_pages = 0;

  for (guint i = 0; i < 25; i++)
    {
      g_autofree char *content = g_strdup_printf ("needle number %u", i);

      g_ptr_array_add (ids, store_message (f, f->alice, session, content));
    }
  /* Bob's needles are not on alice's pages. */
  g_free (store_message (f, f->bob, session, "needle of bob"));

  do
    {
      g_autofree char *query = cursor != NULL
                               ? g_strdup_printf ("q=needle&limit=10&cursor=%s", cursor)
                               : g_strdup ("q=needle&limit=10");
      g_autoptr(JsonObject) page = search (f, f->alice_token, query);
      JsonArray *results = json_object_get_array_member (page, "results");
      guint n = json_array_get_length (results);

      g_assert_cmpuint (n, ==, n_pages < 2 ? 10 : 5);
      for (guint i = 0; i < n; i++)
        {
          JsonObject *hit = json_array_get_object_element (results, i);
          const char *id = json_object_get_string_member (hit, "message");
          /* Newest first: the 25th message is the first hit. */
          const char *expected = g_ptr_array_index (ids, 24 - (n_pages * 10 + i));

          g_assert_cmpstr (id, ==, expected);
          g_assert_false (g_hash_table_contains (seen, id));
          g_hash_table_add (seen, (gpointer) expected);
        }

      g_clear_pointer (&cursor, g_free);
      if (!json_object_get_null_member (page, "next"))
        cursor = g_strdup_printf ("%" G_GINT64_FORMAT, json_object_get_int_member (page, "next"));
      n_pages++;
    }
  while (cursor != NULL);

  g_assert_cmpuint (n_pages, ==, 3);
  g_assert_cmpuint (g_hash_table_size (seen), ==, 25);

  /* The default page. */
  {
    g_autoptr(JsonObject) page = search (f, f->alice_token, "q=needle");

    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (page, "results")), ==,
                      20);
    g_assert_false (json_object_get_null_member (page, "next"));
  }
}

/* A deleted session's messages and title are never found, whether they
 * were indexed before the delete or not. */
static void
test_deleted (Fixture       *f,
              gconstpointer  data)
{
  g_autofree char *indexed = create_session (f, f->alice_token, "Secret recipes");
  g_autofree char *unindexed = store_session (f, f->alice, "Hidden plans");
  g_autofree char *kept = store_session (f, f->alice, "Kept");
  g_autofree char *indexed_path = g_strconcat ("/api/v1/sessions/", indexed, NULL);
  g_autofree char *unindexed_path = g_strconcat ("/api/v1/sessions/", unindexed, NULL);
  g_autofree char *late = NULL;
  g_autoptr(JsonArray) results = NULL;
  g_autoptr(GBytes) body = NULL;

  g_free (store_message (f, f->alice, indexed, "tiramisu with mascarpone"));
  g_free (store_message (f, f->alice, unindexed, "tiramisu for the party"));
  g_free (store_message (f, f->alice, kept, "tiramisu again"));

  results = search_text (f, f->alice_token, "tiramisu");
  g_assert_cmpuint (json_array_get_length (results), ==, 3);
  g_clear_pointer (&results, json_array_unref);

  body = helix_test_http (f->session, f->uri, "DELETE", indexed_path, f->alice_token, NULL,
                          SOUP_STATUS_NO_CONTENT);
  g_clear_pointer (&body, g_bytes_unref);
  /* Stored and deleted since the last search. */
  g_free (store_message (f, f->alice, unindexed, "tiramisu in secret"));
  body = helix_test_http (f->session, f->uri, "DELETE", unindexed_path, f->alice_token, NULL,
                          SOUP_STATUS_NO_CONTENT);
  g_clear_pointer (&body, g_bytes_unref);
  /* A message for the tombstone is kept out too. */
  late = store_message (f, f->alice, indexed, "tiramisu after the delete");

  results = search_text (f, f->alice_token, "tiramisu");
  g_assert_cmpuint (json_array_get_length (results), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (results, 0),
                                                  "session"), ==, kept);
  g_clear_pointer (&results, json_array_unref);
  results = search_text (f, f->alice_token, "secret");
  g_assert_cmpuint (json_array_get_length (results), ==, 0);
  g_clear_pointer (&results, json_array_unref);
  results = search_text (f, f->alice_token, "hidden plans");
  g_assert_cmpuint (json_array_get_length (results), ==, 0);
}

/* FTS5 syntax in q is only text: every word must be in a hit. */
static void
test_operators (Fixture       *f,
                gconstpointer  data)
{
  g_autofree char *session = store_session (f, f->alice, "Words");
  g_autofree char *foo_only = store_message (f, f->alice, session, "foo alone");
  g_autofree char *foo_or_bar = store_message (f, f->alice, session, "foo or bar, together");
  g_autofree char *food = store_message (f, f->alice, session, "food court");
  g_autofree char *text_foo = store_message (f, f->alice, session, "text: foo");
  static const char * const no_words[] = { "\"", "*", "\"\"", "(", ")", "-", "^", ":", "''",
                                           "* - *", "NEAR(" };
  struct
  {
    const char *q;
    const char *only;   /* the one hit, or NULL for none */
  } cases[] = {
    /* OR as an operator would find foo_only too. */
    { "foo OR bar", foo_or_bar },
    { "bar NOT foo", NULL },
    { "foo AND bar", NULL },
    /* A prefix star would find food. */
    { "foo* court", NULL },
    { "food*", food },
    /* A column filter would find any foo. */
    { "text:foo", text_foo },
    { "NEAR(foo bar)", NULL },
    { "\"foo alone\"", foo_only },
    { "{text}: alone", NULL },
    { "^foo alone", foo_only },
    { "bar\" OR \"foo", foo_or_bar },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(JsonArray) results = search_text (f, f->alice_token, cases[i].q);

      g_test_message ("q=%s", cases[i].q);
      if (cases[i].only == NULL)
        g_assert_cmpuint (json_array_get_length (results), ==, 0);
      else
        {
          g_assert_cmpuint (json_array_get_length (results), ==, 1);
          g_assert_nonnull (find_hit (results, session, cases[i].only));
        }
    }

  /* No word at all: nothing, and no error. */
  for (guint i = 0; i < G_N_ELEMENTS (no_words); i++)
    {
      g_autoptr(JsonArray) results = search_text (f, f->alice_token, no_words[i]);

      g_test_message ("q=%s", no_words[i]);
      g_assert_cmpuint (json_array_get_length (results), ==, 0);
    }
}

static void
test_bad_requests (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GString) long_q = g_string_new ("q=");
  g_autoptr(GString) longest_q = g_string_new ("q=");
  g_autoptr(GBytes) body = NULL;
  static const char * const bad_queries[] = {
    "", "q=", "limit=5", "q=x&limit=0", "q=x&limit=101", "q=x&limit=-1", "q=x&limit=ten",
    "q=x&limit=1e2", "q=x&cursor=0", "q=x&cursor=-5", "q=x&cursor=", "q=x&cursor=99999999999999999999",
    "q=x&offset=10", "q=x&Q=y", "q=%FF%FE",
  };

  for (guint i = 0; i < HELIX_GATEWAY_SEARCH_MAX_BYTES + 1; i++)
    g_string_append_c (long_q, 'a' + i % 26);
  for (guint i = 0; i < HELIX_GATEWAY_SEARCH_MAX_BYTES; i++)
    g_string_append_c (longest_q, i % 8 == 7 ? '+' : 'a' + i % 26);

  for (guint i = 0; i < G_N_ELEMENTS (bad_queries); i++)
    {
      g_autofree char *path = g_strconcat (SEARCH "?", bad_queries[i], NULL);

      g_test_message ("%s", path);
      helix_test_http_expect_error (f->session, f->uri, "GET", path, f->alice_token, NULL,
                                    SOUP_STATUS_BAD_REQUEST, "invalid_request");
    }

  /* Too long by a byte; the longest allowed is searched. */
  {
    g_autofree char *path = g_strconcat (SEARCH "?", long_q->str, NULL);
    g_autoptr(JsonObject) page = NULL;

    helix_test_http_expect_error (f->session, f->uri, "GET", path, f->alice_token, NULL,
                                  SOUP_STATUS_BAD_REQUEST, "invalid_request");
    page = search (f, f->alice_token, longest_q->str);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (page, "results")), ==,
                      0);
  }

  /* No token, a bad one; a method it does not answer. */
  helix_test_http_expect_error (f->session, f->uri, "GET", SEARCH "?q=x", NULL, NULL,
                                SOUP_STATUS_UNAUTHORIZED, "unauthorized");
  helix_test_http_expect_error (f->session, f->uri, "GET", SEARCH "?q=x",
                                "hx_not-a-token", NULL, SOUP_STATUS_UNAUTHORIZED, NULL);
  body = helix_test_http (f->session, f->uri, "POST", SEARCH "?q=x", f->alice_token, "{}",
                          SOUP_STATUS_METHOD_NOT_ALLOWED);
  g_clear_pointer (&body, g_bytes_unref);
  helix_test_http_expect_error (f->session, f->uri, "GET", SEARCH "/more?q=x", f->alice_token,
                                NULL, SOUP_STATUS_NOT_FOUND, NULL);

  /* HEAD answers as GET does, without a body. */
  body = helix_test_http (f->session, f->uri, "HEAD", SEARCH "?q=x", f->alice_token, NULL,
                          SOUP_STATUS_OK);
  g_assert_cmpuint (g_bytes_get_size (body), ==, 0);
}

/* The search, and the indexing before it, wait in a thread of their own:
 * while another connection holds the database's write lock, the search
 * cannot index and answer, and the gateway answers other requests all the
 * same (on the main loop, it would answer them only after the search). */
static void
test_off_main_loop (Fixture       *f,
                    gconstpointer  data)
{
  g_autofree char *session = store_session (f, f->alice, "Locked");
  g_autofree char *message = store_message (f, f->alice, session, "waiting for the lock");
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) health = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(JsonArray) results = NULL;
  HelixTestHttp r = { 0 };
  sqlite3 *db;

  db = helix_test_sqlite_open (helix_gateway_db_get_path (helix_gateway_get_db (f->gateway)),
                               SQLITE_OPEN_READWRITE);
  g_assert_cmpint (sqlite3_exec (db, "BEGIN IMMEDIATE", NULL, NULL, NULL), ==, SQLITE_OK);

  msg = helix_test_http_message_new (f->uri, "GET", SEARCH "?q=lock", f->alice_token, NULL, NULL,
                                     -1);
  soup_session_send_and_read_async (f->session, msg, G_PRIORITY_DEFAULT, NULL,
                                    helix_test_http_cb, &r);

  health = helix_test_http (f->session, f->uri, "GET", "/health", NULL, NULL, SOUP_STATUS_OK);
  g_assert_false (r.done);

  g_assert_cmpint (sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);

  helix_test_wait_for (r.done, HELIX_TEST_GATEWAY_WAIT_S, "the search");
  g_assert_no_error (r.error);
  helix_test_http_assert_status (msg, r.body, SOUP_STATUS_OK);
  root = helix_test_http_parse_json (r.body);
  results = json_array_ref (json_object_get_array_member (json_node_get_object (root), "results"));
  g_assert_cmpuint (json_array_get_length (results), ==, 1);
  g_assert_nonnull (find_hit (results, session, message));
  g_bytes_unref (r.body);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/helix/gateway/search/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("found", test_found);
  ADD ("paging", test_paging);
  ADD ("deleted", test_deleted);
  ADD ("operators", test_operators);
  ADD ("bad-requests", test_bad_requests);
  ADD ("off-main-loop", test_off_main_loop);

#undef ADD

  return g_test_run ();
}
