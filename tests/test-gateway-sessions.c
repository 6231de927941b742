/* test-gateway-sessions.c: the sessions REST API (/api/v1/sessions)
 *
 * A real gateway in this process on an ephemeral loopback port, a real
 * SoupSession talking to it, real users who log in through the API. The
 * op log is checked through the gateway's own database.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "helix-gateway.h"
#include "helix-gateway-sync.h"
#include "helix-password.h"
#include "helix-test-util.h"
#include "helix-uuid.h"
#include "helix-test-gateway.h"
#include "helix-test-http.h"

#define SESSIONS "/api/v1/sessions"
#define UNKNOWN_ID "0190f3a2-1c00-7000-8000-00000000dead"

typedef struct
{
  char         *dir;
  HelixGateway *gateway;
  SoupSession  *session;
  guint         port;
  char         *uri;
  gint64        alice;
  gint64        bob;
  char         *alice_token;
  char         *bob_token;
} Fixture;

static SoupMessage *
http (Fixture     *f,
      const char  *method,
      const char  *path,
      const char  *token,
      const char  *body,
      GBytes     **response)
{
  return helix_test_http_send (f->session, f->uri, method, path, token, "application/json", body,
                               -1, response);
}

/* Sends a request that must answer @status; returns the JSON body, if any. */
static JsonNode *
request (Fixture    *f,
         const char *method,
         const char *path,
         const char *token,
         const char *body,
         guint       status)
{
  return helix_test_http_json (f->session, f->uri, method, path, token, body, status);
}

/* A request that must fail with @status and the error @code. */
static void
request_error (Fixture    *f,
               const char *method,
               const char *path,
               const char *token,
               const char *body,
               guint       status,
               const char *code)
{
  g_autoptr(JsonNode) root = request (f, method, path, token, body, status);
  JsonObject *error;

  g_assert_nonnull (root);
  error = json_object_get_object_member (json_node_get_object (root), "error");
  g_assert_nonnull (error);
  if (code != NULL)
    g_assert_cmpstr (json_object_get_string_member (error, "code"), ==, code);
  g_assert_cmpstr (json_object_get_string_member (error, "message"), !=, "");
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(HelixGatewayConfig) config = NULL;
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("helix-gateway-sessions-XXXXXX", &error);
  g_assert_no_error (error);
  config = helix_test_gateway_config_new (f->dir);

  f->gateway = helix_test_gateway_start (config);
  f->port = helix_test_gateway_get_port (f->gateway);
  f->uri = g_strdup_printf ("http://127.0.0.1:%u", f->port);
  f->session = soup_session_new ();

  f->alice = helix_test_gateway_add_user (f->gateway, "alice", "correct horse alice");
  f->bob = helix_test_gateway_add_user (f->gateway, "bob", "battery staple bob");
  f->alice_token = helix_test_login (f->session, f->uri, "alice", "correct horse alice", "test",
                                     NULL);
  f->bob_token = helix_test_login (f->session, f->uri, "bob", "battery staple bob", "test", NULL);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_object (&f->session);
  helix_test_gateway_shutdown (f->gateway);
  g_clear_object (&f->gateway);

  helix_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->uri);
  g_free (f->alice_token);
  g_free (f->bob_token);
}

static gint64
head (Fixture *f,
      gint64   user_id)
{
  g_autoptr(GError) error = NULL;
  gint64 value = helix_gateway_db_get_head (helix_gateway_get_db (f->gateway), user_id, &error);

  g_assert_no_error (error);

  return value;
}

/* POST /api/v1/sessions; returns the new id. */
static char *
create_session (Fixture    *f,
                const char *token,
                const char *title)
{
  g_autofree char *body = g_strdup_printf ("{\"title\":\"%s\"}", title);
  g_autofree char *location = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *object;
  const char *id;

  msg = http (f, "POST", SESSIONS, token, body, &response);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_CREATED);
  root = helix_test_http_parse_json (response);
  object = json_node_get_object (root);
  id = json_object_get_string_member (object, "id");
  g_assert_true (helix_uuid_is_valid (id));
  g_assert_cmpint (helix_uuid_v7_get_time (id), >, 0);
  g_assert_cmpstr (json_object_get_string_member (object, "title"), ==, title);
  g_assert_false (json_object_get_boolean_member (object, "pinned"));
  g_assert_false (json_object_get_boolean_member (object, "archived"));
  g_assert_nonnull (json_object_get_string_member (object, "created"));
  g_assert_nonnull (json_object_get_string_member (object, "updated"));

  location = g_strconcat (SESSIONS "/", id, NULL);
  g_assert_cmpstr (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                 "Location"), ==, location);

  return g_strdup (id);
}

static JsonArray *
list_sessions (Fixture    *f,
               const char *token)
{
  g_autoptr(JsonNode) root = request (f, "GET", SESSIONS, token, NULL, SOUP_STATUS_OK);

  g_assert_true (JSON_NODE_HOLDS_ARRAY (root));

  return json_array_ref (json_node_get_array (root));
}

/* Adds @n messages to @session of @user_id through the op log. */
static void
add_messages (Fixture    *f,
              gint64      user_id,
              const char *session,
              guint       n)
{
  g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GPtrArray) applied = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  g_autoptr(GPtrArray) ops = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *op_id = helix_uuid_new_v7 ();
      g_autofree char *id = helix_uuid_new_v7 ();
      g_autofree char *content = g_strdup_printf ("message %u", i);
      g_autoptr(JsonObject) data = json_object_new ();
      HelixHlc hlc = { .wall_ms = g_get_real_time () / 1000, .counter = i, .device = "phone" };
      HelixSyncOp *op;

      json_object_set_string_member (data, "role", i % 2 ? "assistant" : "user");
      json_object_set_string_member (data, "content", content);
      json_object_set_string_member (data, "status", "done");
      if (i % 2)
        {
          json_object_set_string_member (data, "model", "m1");
          json_object_set_int_member (data, "tokens_out", 7);
          json_object_set_double_member (data, "cost", 0.5);
        }
      op = helix_sync_op_new (HELIX_SYNC_OP_MESSAGE_PUT, op_id, id, session, &hlc, data, &error);
      g_assert_no_error (error);
      g_ptr_array_add (ops, op);
    }

  g_assert_true (helix_gateway_db_apply_ops (helix_gateway_get_db (f->gateway), user_id, 0,
                                             (HelixSyncOp **) ops->pdata, ops->len, seqs,
                                             applied, &error));
  g_assert_no_error (error);
}

/* Tests {{{1 */

static void
test_round_trip (Fixture       *f,
                 gconstpointer  data)
{
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autofree char *path = NULL;
  g_autoptr(JsonArray) list = NULL;
  g_autoptr(JsonArray) after_delete = NULL;
  g_autoptr(JsonNode) got = NULL;
  g_autoptr(JsonNode) patched = NULL;
  g_autoptr(GPtrArray) ops = NULL;
  g_autoptr(GError) error = NULL;
  static const char * const kinds[] = {
    "session.put", "session.put", "session.put", "session.put", "session.delete",
  };
  JsonObject *object;

  g_assert_cmpuint (json_array_get_length (list = list_sessions (f, f->alice_token)), ==, 0);
  g_clear_pointer (&list, json_array_unref);

  first = create_session (f, f->alice_token, "Trip");
  second = create_session (f, f->alice_token, "Groceries");
  path = g_strconcat (SESSIONS "/", first, NULL);

  /* Most recently updated first. */
  list = list_sessions (f, f->alice_token);
  g_assert_cmpuint (json_array_get_length (list), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (list, 0), "id"),
                   ==, second);
  g_clear_pointer (&list, json_array_unref);

  got = request (f, "GET", path, f->alice_token, NULL, SOUP_STATUS_OK);
  object = json_node_get_object (got);
  g_assert_cmpstr (json_object_get_string_member (object, "id"), ==, first);
  g_assert_cmpstr (json_object_get_string_member (object, "title"), ==, "Trip");

  patched = request (f, "PATCH", path, f->alice_token,
                     "{\"title\":\"Trip to Lyon\",\"pinned\":true}", SOUP_STATUS_OK);
  object = json_node_get_object (patched);
  g_assert_cmpstr (json_object_get_string_member (object, "title"), ==, "Trip to Lyon");
  g_assert_true (json_object_get_boolean_member (object, "pinned"));
  g_assert_false (json_object_get_boolean_member (object, "archived"));
  g_clear_pointer (&patched, json_node_unref);

  patched = request (f, "PATCH", path, f->alice_token, "{\"archived\":true}", SOUP_STATUS_OK);
  object = json_node_get_object (patched);
  g_assert_cmpstr (json_object_get_string_member (object, "title"), ==, "Trip to Lyon");
  g_assert_true (json_object_get_boolean_member (object, "pinned"));
  g_assert_true (json_object_get_boolean_member (object, "archived"));

  /* The patched one is now the most recently updated. */
  list = list_sessions (f, f->alice_token);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (list, 0), "id"),
                   ==, first);

  g_assert_null (request (f, "DELETE", path, f->alice_token, NULL, SOUP_STATUS_NO_CONTENT));
  request_error (f, "GET", path, f->alice_token, NULL, SOUP_STATUS_NOT_FOUND, "not_found");
  request_error (f, "PATCH", path, f->alice_token, "{\"title\":\"back\"}", SOUP_STATUS_NOT_FOUND,
                 "not_found");
  request_error (f, "DELETE", path, f->alice_token, NULL, SOUP_STATUS_NOT_FOUND, "not_found");
  after_delete = list_sessions (f, f->alice_token);
  g_assert_cmpuint (json_array_get_length (after_delete), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (after_delete, 0),
                                                  "id"), ==, second);

  /* Every change is an op in Alice's log, in order, made by the gateway. */
  ops = helix_gateway_db_ops_since (helix_gateway_get_db (f->gateway), f->alice, 0, 500, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ops->len, ==, G_N_ELEMENTS (kinds));
  for (guint i = 0; i < ops->len; i++)
    {
      HelixSyncOp *op = g_ptr_array_index (ops, i);

      g_assert_cmpint (helix_sync_op_get_seq (op), ==, i + 1);
      g_assert_cmpstr (helix_sync_op_kind_to_string (helix_sync_op_get_kind (op)), ==, kinds[i]);
      g_assert_cmpstr (helix_sync_op_get_hlc (op)->device, ==, "gateway");
      if (i > 0)
        g_assert_cmpint (helix_hlc_compare (helix_sync_op_get_hlc (g_ptr_array_index (ops, i - 1)),
                                            helix_sync_op_get_hlc (op)), <, 0);
    }
  g_assert_cmpstr (helix_sync_op_get_id (g_ptr_array_index (ops, 4)), ==, first);
  g_assert_cmpint (head (f, f->alice), ==, 5);
  g_assert_cmpint (head (f, f->bob), ==, 0);
}

/* A PATCH wins over what a device with a clock ahead set before. */
static void
test_patch_after_device (Fixture       *f,
                         gconstpointer  data)
{
  g_autofree char *id = create_session (f, f->alice_token, "Mine");
  g_autofree char *path = g_strconcat (SESSIONS "/", id, NULL);
  g_autofree char *op_id = helix_uuid_new_v7 ();
  g_autoptr(JsonObject) op_data = json_object_new ();
  g_autoptr(HelixSyncOp) op = NULL;
  g_autofree char *message_op_id = helix_uuid_new_v7 ();
  g_autofree char *message_id = helix_uuid_new_v7 ();
  g_autoptr(JsonObject) message_data = json_object_new ();
  g_autoptr(HelixSyncOp) message = NULL;
  g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GPtrArray) applied = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) patched = NULL;
  HelixHlc ahead = { .wall_ms = g_get_real_time () / 1000 + 60 * 60 * 1000, .counter = 0,
                     .device = "fast-clock" };

  json_object_set_string_member (op_data, "title", "From the device");
  op = helix_sync_op_new (HELIX_SYNC_OP_SESSION_PUT, op_id, id, NULL, &ahead, op_data, &error);
  g_assert_no_error (error);
  g_assert_true (helix_gateway_db_apply_ops (helix_gateway_get_db (f->gateway), f->alice, 0, &op,
                                             1, seqs, applied, &error));
  g_assert_no_error (error);

  patched = request (f, "PATCH", path, f->alice_token, "{\"title\":\"From the web\"}",
                     SOUP_STATUS_OK);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (patched), "title"), ==,
                   "From the web");
}

/* The model pinned for a session: shown by the session (null for
 * automatic) but not in the list, set and unset with PATCH, checked. */
static void
test_model (Fixture       *f,
            gconstpointer  data)
{
  g_autofree char *id = create_session (f, f->alice_token, "Pinned");
  g_autofree char *path = g_strconcat (SESSIONS "/", id, NULL);
  g_autofree char *too_long = g_strnfill (HELIX_SYNC_MAX_NAME_BYTES + 1, 'm');
  g_autofree char *too_long_body = g_strdup_printf ("{\"model\":\"%s\"}", too_long);
  g_autoptr(JsonNode) session = NULL;
  g_autoptr(JsonNode) patched = NULL;
  g_autoptr(JsonNode) unpinned = NULL;
  g_autoptr(JsonNode) list = NULL;
  g_autoptr(JsonNode) bad = NULL;
  g_autoptr(JsonNode) bad_length = NULL;
  JsonObject *listed;

  session = request (f, "GET", path, f->alice_token, NULL, SOUP_STATUS_OK);
  g_assert_true (json_object_get_null_member (json_node_get_object (session), "model"));

  patched = request (f, "PATCH", path, f->alice_token, "{\"model\":\"deepseek-reasoner\"}",
                     SOUP_STATUS_OK);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (patched), "model"), ==,
                   "deepseek-reasoner");
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (patched), "title"), ==,
                   "Pinned");
  list = request (f, "GET", SESSIONS, f->alice_token, NULL, SOUP_STATUS_OK);
  listed = json_array_get_object_element (json_node_get_array (list), 0);
  g_assert_cmpstr (json_object_get_string_member (listed, "id"), ==, id);
  g_assert_false (json_object_has_member (listed, "model"));

  unpinned = request (f, "PATCH", path, f->alice_token, "{\"model\":null}", SOUP_STATUS_OK);
  g_assert_true (json_object_get_null_member (json_node_get_object (unpinned), "model"));

  bad = request (f, "PATCH", path, f->alice_token, "{\"model\":5}", SOUP_STATUS_BAD_REQUEST);
  bad_length = request (f, "PATCH", path, f->alice_token, too_long_body, SOUP_STATUS_BAD_REQUEST);
  g_clear_pointer (&session, json_node_unref);
  session = request (f, "GET", path, f->alice_token, NULL, SOUP_STATUS_OK);
  g_assert_true (json_object_get_null_member (json_node_get_object (session), "model"));
}

static void
test_messages (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *id = create_session (f, f->alice_token, "Chat");
  g_autofree char *base = g_strconcat (SESSIONS "/", id, "/messages", NULL);
  g_autofree char *page2 = NULL;
  g_autofree char *page3 = NULL;
  g_autofree char *limit2 = g_strconcat (base, "?limit=2", NULL);
  g_autoptr(JsonNode) all = NULL;
  g_autoptr(JsonNode) first = NULL;
  g_autoptr(JsonNode) second = NULL;
  g_autoptr(JsonNode) third = NULL;
  static const char * const bad[] = {
    "?limit=0", "?limit=201", "?limit=abc", "?limit=", "?after=-1", "?after=1.5",
    "?after=99999999999999999999", "?foo=1", "?limit=+5",
  };
  JsonArray *messages;
  JsonObject *message;
  gint64 next;

  add_messages (f, f->alice, id, 5);

  all = request (f, "GET", base, f->alice_token, NULL, SOUP_STATUS_OK);
  messages = json_object_get_array_member (json_node_get_object (all), "messages");
  g_assert_cmpuint (json_array_get_length (messages), ==, 5);
  g_assert_true (json_object_get_null_member (json_node_get_object (all), "next"));
  message = json_array_get_object_element (messages, 1);
  g_assert_cmpstr (json_object_get_string_member (message, "content"), ==, "message 1");
  g_assert_cmpstr (json_object_get_string_member (message, "role"), ==, "assistant");
  g_assert_cmpstr (json_object_get_string_member (message, "model"), ==, "m1");
  g_assert_cmpint (json_object_get_int_member (message, "tokens_out"), ==, 7);
  g_assert_cmpfloat (json_object_get_double_member (message, "cost"), ==, 0.5);
  g_assert_false (json_object_has_member (json_array_get_object_element (messages, 0), "model"));

  first = request (f, "GET", limit2, f->alice_token, NULL, SOUP_STATUS_OK);
  messages = json_object_get_array_member (json_node_get_object (first), "messages");
  g_assert_cmpuint (json_array_get_length (messages), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (messages, 0),
                                                  "content"), ==, "message 0");
  next = json_object_get_int_member (json_node_get_object (first), "next");
  g_assert_cmpint (next, ==, json_object_get_int_member (json_array_get_object_element (messages, 1),
                                                         "seq"));

  page2 = g_strdup_printf ("%s?after=%lld&limit=2", base, (long long) next);
  second = request (f, "GET", page2, f->alice_token, NULL, SOUP_STATUS_OK);
  messages = json_object_get_array_member (json_node_get_object (second), "messages");
  g_assert_cmpuint (json_array_get_length (messages), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (messages, 0),
                                                  "content"), ==, "message 2");
  next = json_object_get_int_member (json_node_get_object (second), "next");

  page3 = g_strdup_printf ("%s?limit=2&after=%lld", base, (long long) next);
  third = request (f, "GET", page3, f->alice_token, NULL, SOUP_STATUS_OK);
  messages = json_object_get_array_member (json_node_get_object (third), "messages");
  g_assert_cmpuint (json_array_get_length (messages), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (messages, 0),
                                                  "content"), ==, "message 4");
  g_assert_true (json_object_get_null_member (json_node_get_object (third), "next"));

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *path = g_strconcat (base, bad[i], NULL);

      request_error (f, "GET", path, f->alice_token, NULL, SOUP_STATUS_BAD_REQUEST,
                     "invalid_request");
    }
}

static void
test_isolation (Fixture       *f,
                gconstpointer  data)
{
  g_autofree char *id = create_session (f, f->alice_token, "Alice only");
  g_autofree char *path = g_strconcat (SESSIONS "/", id, NULL);
  g_autofree char *messages_path = g_strconcat (path, "/messages", NULL);
  g_autofree char *unknown = g_strconcat (SESSIONS "/", UNKNOWN_ID, NULL);
  g_autoptr(JsonArray) bob_list = NULL;
  g_autoptr(JsonNode) alice_view = NULL;
  g_autoptr(JsonNode) alice_messages = NULL;
  JsonObject *object;
  gint64 alice_head;

  add_messages (f, f->alice, id, 1);
  alice_head = head (f, f->alice);

  /* Every one of Alice's URLs is "not found" for Bob, never "forbidden". */
  request_error (f, "GET", path, f->bob_token, NULL, SOUP_STATUS_NOT_FOUND, "not_found");
  g_assert_null (request (f, "HEAD", path, f->bob_token, NULL, SOUP_STATUS_NOT_FOUND));
  request_error (f, "PATCH", path, f->bob_token, "{\"title\":\"pwned\"}", SOUP_STATUS_NOT_FOUND,
                 "not_found");
  request_error (f, "PATCH", path, f->bob_token, "{\"pinned\":true,\"archived\":true}",
                 SOUP_STATUS_NOT_FOUND, "not_found");
  request_error (f, "DELETE", path, f->bob_token, NULL, SOUP_STATUS_NOT_FOUND, "not_found");
  request_error (f, "GET", messages_path, f->bob_token, NULL, SOUP_STATUS_NOT_FOUND,
                 "not_found");
  /* The same answer as for an id nobody has. */
  request_error (f, "GET", unknown, f->bob_token, NULL, SOUP_STATUS_NOT_FOUND, "not_found");
  request_error (f, "GET", unknown, f->alice_token, NULL, SOUP_STATUS_NOT_FOUND, "not_found");

  bob_list = list_sessions (f, f->bob_token);
  g_assert_cmpuint (json_array_get_length (bob_list), ==, 0);

  /* Alice's data did not change; neither log moved. */
  alice_view = request (f, "GET", path, f->alice_token, NULL, SOUP_STATUS_OK);
  object = json_node_get_object (alice_view);
  g_assert_cmpstr (json_object_get_string_member (object, "title"), ==, "Alice only");
  g_assert_false (json_object_get_boolean_member (object, "pinned"));
  g_assert_false (json_object_get_boolean_member (object, "archived"));
  alice_messages = request (f, "GET", messages_path, f->alice_token, NULL, SOUP_STATUS_OK);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (
                      json_node_get_object (alice_messages), "messages")), ==, 1);
  g_assert_cmpint (head (f, f->alice), ==, alice_head);
  g_assert_cmpint (head (f, f->bob), ==, 0);
}

/* GET of the list, which must answer 200; returns the body as sent. */
static GBytes *
list_bytes (Fixture    *f,
            const char *token)
{
  g_autoptr(SoupMessage) msg = NULL;
  GBytes *response = NULL;

  msg = http (f, "GET", SESSIONS, token, NULL, &response);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_OK);

  return response;
}

static const char *
list_title (JsonArray *list,
            guint      i)
{
  return json_object_get_string_member (json_array_get_object_element (list, i), "title");
}

/* The lists the gateway keeps (see helix-gateway-sessions.c) change as soon
 * as the sessions do, by whatever connection stores the change, and are no
 * one else's. */
static void
test_list_cache (Fixture       *f,
                 gconstpointer  data)
{
  g_autofree char *older = create_session (f, f->alice_token, "Older");
  g_autofree char *newer = create_session (f, f->alice_token, "Newer");
  g_autofree char *db_path = g_build_filename (f->dir, "state", "gateway.db", NULL);
  g_autofree char *older_path = g_strconcat (SESSIONS "/", older, NULL);
  g_autofree char *op_id = helix_uuid_new_v7 ();
  g_autoptr(HelixGatewayDb) other = NULL;
  g_autoptr(JsonObject) op_data = json_object_new ();
  g_autoptr(HelixSyncOp) op = NULL;
  g_autofree char *message_op_id = helix_uuid_new_v7 ();
  g_autofree char *message_id = helix_uuid_new_v7 ();
  g_autoptr(JsonObject) message_data = json_object_new ();
  g_autoptr(HelixSyncOp) message = NULL;
  g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GPtrArray) applied = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  g_autoptr(GBytes) first = NULL;
  g_autoptr(GBytes) again = NULL;
  g_autoptr(JsonArray) list = NULL;
  g_autoptr(JsonNode) patched = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *bobs = NULL;
  HelixHlc hlc = { .wall_ms = g_get_real_time () / 1000 + 1000, .counter = 0, .device = "phone" };

  /* Asked twice with nothing changed: the very same answer. */
  first = list_bytes (f, f->alice_token);
  again = list_bytes (f, f->alice_token);
  g_assert_true (g_bytes_equal (first, again));
  list = list_sessions (f, f->alice_token);
  g_assert_cmpuint (json_array_get_length (list), ==, 2);
  g_assert_cmpstr (list_title (list, 0), ==, "Newer");
  g_clear_pointer (&list, json_array_unref);

  /* A change stored through another connection to the database, as the
   * sync writer thread or another process stores it. */
  other = helix_gateway_db_open (db_path, &error);
  g_assert_no_error (error);
  json_object_set_string_member (op_data, "title", "Renamed on the phone");
  op = helix_sync_op_new (HELIX_SYNC_OP_SESSION_PUT, op_id, older, NULL, &hlc, op_data, &error);
  g_assert_no_error (error);
  g_assert_true (helix_gateway_db_apply_ops (other, f->alice, 0, &op, 1, seqs, applied, &error));
  g_assert_no_error (error);
  helix_gateway_db_close (other);

  list = list_sessions (f, f->alice_token);
  g_assert_cmpuint (json_array_get_length (list), ==, 2);
  g_assert_cmpstr (list_title (list, 0), ==, "Renamed on the phone");
  g_assert_cmpstr (list_title (list, 1), ==, "Newer");
  g_clear_pointer (&list, json_array_unref);

  /* A message raises its session's updated time: the order changes. */
  json_object_set_string_member (message_data, "role", "user");
  json_object_set_string_member (message_data, "content", "later");
  json_object_set_string_member (message_data, "status", "done");
  hlc.wall_ms += 1000;
  message = helix_sync_op_new (HELIX_SYNC_OP_MESSAGE_PUT, message_op_id, message_id, newer, &hlc,
                               message_data, &error);
  g_assert_no_error (error);
  g_assert_true (helix_gateway_db_apply_ops (helix_gateway_get_db (f->gateway), f->alice, 0,
                                             &message, 1, seqs, applied, &error));
  g_assert_no_error (error);
  list = list_sessions (f, f->alice_token);
  g_assert_cmpstr (list_title (list, 0), ==, "Newer");
  g_clear_pointer (&list, json_array_unref);

  /* Through the API. */
  patched = request (f, "PATCH", older_path, f->alice_token, "{\"title\":\"From the web\"}",
                     SOUP_STATUS_OK);
  list = list_sessions (f, f->alice_token);
  /* Still behind the message, which is a second ahead of the clocks. */
  g_assert_cmpstr (list_title (list, 0), ==, "Newer");
  g_assert_cmpstr (list_title (list, 1), ==, "From the web");
  g_clear_pointer (&list, json_array_unref);
  g_assert_null (request (f, "DELETE", older_path, f->alice_token, NULL,
                          SOUP_STATUS_NO_CONTENT));
  list = list_sessions (f, f->alice_token);
  g_assert_cmpuint (json_array_get_length (list), ==, 1);
  g_assert_cmpstr (list_title (list, 0), ==, "Newer");
  g_clear_pointer (&list, json_array_unref);

  /* Bob's list is his own, before and after Alice's was kept. */
  list = list_sessions (f, f->bob_token);
  g_assert_cmpuint (json_array_get_length (list), ==, 0);
  g_clear_pointer (&list, json_array_unref);
  bobs = create_session (f, f->bob_token, "Bob's");
  list = list_sessions (f, f->bob_token);
  g_assert_cmpuint (json_array_get_length (list), ==, 1);
  g_assert_cmpstr (list_title (list, 0), ==, "Bob's");
  g_clear_pointer (&list, json_array_unref);
  list = list_sessions (f, f->alice_token);
  g_assert_cmpuint (json_array_get_length (list), ==, 1);
  g_assert_cmpstr (list_title (list, 0), ==, "Newer");
  g_clear_pointer (&list, json_array_unref);

  /* A kept list goes to no one whose token is no longer valid. */
  g_assert_null (request (f, "POST", "/api/v1/auth/logout", f->alice_token, NULL,
                          SOUP_STATUS_NO_CONTENT));
  request_error (f, "GET", SESSIONS, f->alice_token, NULL, SOUP_STATUS_UNAUTHORIZED,
                 "invalid_token");
}

static void
test_bad_input (Fixture       *f,
                gconstpointer  data)
{
  g_autofree char *id = create_session (f, f->alice_token, "Keep");
  g_autofree char *path = g_strconcat (SESSIONS "/", id, NULL);
  g_autofree char *huge = NULL;
  g_autofree char *filler = g_strnfill (20 * 1024, 'y');
  g_autofree char *long_title = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autoptr(JsonNode) kept = NULL;
  g_autoptr(JsonArray) list = NULL;
  JsonObject *object;
  gint64 before = head (f, f->alice);
  static const char * const bad_ids[] = {
    SESSIONS "/not-a-uuid",
    SESSIONS "/0190f3a2-1c00-7000-8000-0000000000a",
    SESSIONS "/{0190f3a2-1c00-7000-8000-0000000000a1}",
    SESSIONS "/0190f3a21c0070008000000000000a1",
  };
  static const char * const bad_creates[] = {
    "{\"title\":5}", "{\"title\":null}", "{\"title\":[\"x\"]}", "{\"title\":\"x\",\"extra\":1}",
    "{\"pinned\":true}", "[]", "\"title\"", "{\"title\":\"x\"", "{\"title\":\"x\"} {}",
    "{\"title\":\"a\\u0000b\"}",
  };
  static const char * const bad_patches[] = {
    "{}", "{\"pinned\":\"yes\"}", "{\"archived\":null}", "{\"archived\":1}", "{\"title\":false}",
    "{\"deleted\":true}", "{\"title\":\"x\",\"id\":\"" UNKNOWN_ID "\"}", "not json",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad_ids); i++)
    {
      request_error (f, "GET", bad_ids[i], f->alice_token, NULL, SOUP_STATUS_BAD_REQUEST,
                     "invalid_id");
      request_error (f, "PATCH", bad_ids[i], f->alice_token, "{\"title\":\"x\"}",
                     SOUP_STATUS_BAD_REQUEST, "invalid_id");
      request_error (f, "DELETE", bad_ids[i], f->alice_token, NULL, SOUP_STATUS_BAD_REQUEST,
                     "invalid_id");
    }
  {
    g_autofree char *upper_id = g_ascii_strup (id, -1);
    g_autofree char *upper_path = g_strconcat (SESSIONS "/", upper_id, NULL);

    request_error (f, "GET", upper_path, f->alice_token, NULL, SOUP_STATUS_BAD_REQUEST,
                   "invalid_id");
  }

  for (guint i = 0; i < G_N_ELEMENTS (bad_creates); i++)
    request_error (f, "POST", SESSIONS, f->alice_token, bad_creates[i], SOUP_STATUS_BAD_REQUEST,
                   NULL);
  for (guint i = 0; i < G_N_ELEMENTS (bad_patches); i++)
    request_error (f, "PATCH", path, f->alice_token, bad_patches[i], SOUP_STATUS_BAD_REQUEST,
                   NULL);

  /* A title over the protocol's 1,024 bytes, in a body small enough. */
  long_title = g_strnfill (1025, 'x');
  {
    g_autofree char *body = g_strdup_printf ("{\"title\":\"%s\"}", long_title);

    request_error (f, "POST", SESSIONS, f->alice_token, body, SOUP_STATUS_BAD_REQUEST,
                   "invalid_request");
    request_error (f, "PATCH", path, f->alice_token, body, SOUP_STATUS_BAD_REQUEST,
                   "invalid_request");
  }

  /* A body over the API's limit. */
  huge = g_strdup_printf ("{\"title\":\"%s\"}", filler);
  request_error (f, "POST", SESSIONS, f->alice_token, huge, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
                 "too_large");
  request_error (f, "PATCH", path, f->alice_token, huge, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
                 "too_large");

  /* Not JSON by its type. */
  msg = helix_test_http_send (f->session, f->uri, "POST", SESSIONS, f->alice_token, "text/plain",
                              "{\"title\":\"x\"}", -1, &response);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE);
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);

  /* Wrong methods: 405 with Allow. */
  msg = http (f, "PUT", SESSIONS, f->alice_token, NULL, &response);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_METHOD_NOT_ALLOWED);
  g_assert_cmpstr (soup_message_headers_get_one (soup_message_get_response_headers (msg), "Allow"),
                   ==, "GET, HEAD, POST");
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  msg = http (f, "POST", path, f->alice_token, "{\"title\":\"x\"}", &response);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_METHOD_NOT_ALLOWED);
  g_assert_cmpstr (soup_message_headers_get_one (soup_message_get_response_headers (msg), "Allow"),
                   ==, "GET, HEAD, PATCH, DELETE");
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  {
    g_autofree char *messages_path = g_strconcat (path, "/messages", NULL);
    g_autofree char *other_path = g_strconcat (path, "/other", NULL);

    msg = http (f, "DELETE", messages_path, f->alice_token, NULL, &response);
    g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_METHOD_NOT_ALLOWED);
    g_assert_cmpstr (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                   "Allow"), ==, "GET, HEAD");
    request_error (f, "GET", other_path, f->alice_token, NULL, SOUP_STATUS_NOT_FOUND,
                   "not_found");
  }

  /* No token, or a wrong one. */
  request_error (f, "GET", SESSIONS, NULL, NULL, SOUP_STATUS_UNAUTHORIZED, "unauthorized");
  request_error (f, "POST", SESSIONS, "not-a-token", "{\"title\":\"x\"}",
                 SOUP_STATUS_UNAUTHORIZED, "invalid_token");
  request_error (f, "GET", path, "not-a-token", NULL, SOUP_STATUS_UNAUTHORIZED, "invalid_token");

  /* Nothing of it was stored. */
  g_assert_cmpint (head (f, f->alice), ==, before);
  list = list_sessions (f, f->alice_token);
  g_assert_cmpuint (json_array_get_length (list), ==, 1);
  kept = request (f, "GET", path, f->alice_token, NULL, SOUP_STATUS_OK);
  object = json_node_get_object (kept);
  g_assert_cmpstr (json_object_get_string_member (object, "title"), ==, "Keep");
  g_assert_false (json_object_get_boolean_member (object, "pinned"));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/helix/gateway/sessions/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("round-trip", test_round_trip);
  ADD ("patch-after-device", test_patch_after_device);
  ADD ("model", test_model);
  ADD ("messages", test_messages);
  ADD ("isolation", test_isolation);
  ADD ("list-cache", test_list_cache);
  ADD ("bad-input", test_bad_input);

#undef ADD

  return g_test_run ();
}
