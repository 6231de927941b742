/* test-gateway-isolation.c: one user can never reach another's data, and bad input
 * is refused without a trace
 *
 * A real gateway in this process on an ephemeral loopback port, two users
 * (alice and bob) with devices and data, real libsoup clients:
 *
 * - the REST matrix: every route the gateway registers (its route table,
 *   checked against the handlers really registered and the Allow headers
 *   really sent) × every method it allows, with bob's token on alice's ids,
 *   without a token and with a revoked token;
 * - the WebSocket matrix: every frame type a device can send, on bob's
 *   socket, naming alice's sessions, messages, ops and devices, while alice's
 *   device stays connected and must receive nothing;
 * - revocation (logout, device revoke): the next request is 401, an open
 *   socket is closed with 4001 at once;
 * - bad input (oversize, deep nesting, invalid UTF-8, NUL, huge numbers,
 *   wrong types, duplicated and unknown members, foreign Origin) on REST
 *   bodies and WebSocket frames;
 * - the rate limit: request N+1 in the window gets 429 with Retry-After.
 *
 * "Nothing changed" is checked on a dump of the gateway's database (every row
 * but the last-seen times), read through a connection of its own.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define _GNU_SOURCE
#include "config.h"

#include <dlfcn.h>
#include <string.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sqlite3.h>

#include "helix-gateway.h"
#include "helix-gateway-metrics.h"
#include "helix-gateway-private.h"
#include "helix-gateway-sync.h"
#include "helix-sync-frame.h"
#include "helix-test-sqlite.h"
#include "helix-test-gateway.h"
#include "helix-test-http.h"
#include "helix-test-util.h"
#include "helix-uuid.h"

#define WAIT_TIMEOUT_S 30

#define SYNC_PATH      "/api/v1/sync"
#define GOOD_ORIGIN    "https://helix.example.org"
#define FOREIGN_ORIGIN "https://evil.example.com"

#define ALICE_PASSWORD "correct horse alice"
#define BOB_PASSWORD   "battery staple bob"

/* The handlers the gateway registers {{{1
 *
 * The gateway's static library is linked into this program, so its calls to
 * these two functions land here first: the paths it registers are recorded,
 * then libsoup's own functions do the work. */

static GPtrArray *registered_paths;

static void
record_path (const char *path)
{
  if (registered_paths == NULL)
    registered_paths = g_ptr_array_new_with_free_func (g_free);
  if (path != NULL && !g_ptr_array_find_with_equal_func (registered_paths, path, g_str_equal, NULL))
    g_ptr_array_add (registered_paths, g_strdup (path));
}

void
soup_server_add_handler (SoupServer            *server,
                         const char            *path,
                         SoupServerCallback     callback,
                         gpointer               user_data,
                         GDestroyNotify         destroy)
{
  static void (*real) (SoupServer *, const char *, SoupServerCallback, gpointer, GDestroyNotify);

  if (real == NULL)
    real = dlsym (RTLD_NEXT, "soup_server_add_handler");
  g_assert_nonnull (real);
  record_path (path);
  real (server, path, callback, user_data, destroy);
}

void
soup_server_add_websocket_handler (SoupServer                   *server,
                                   const char                   *path,
                                   const char                   *origin,
                                   char                        **protocols,
                                   SoupServerWebsocketCallback   callback,
                                   gpointer                      user_data,
                                   GDestroyNotify                destroy)
{
  static void (*real) (SoupServer *, const char *, const char *, char **,
                       SoupServerWebsocketCallback, gpointer, GDestroyNotify);

  if (real == NULL)
    real = dlsym (RTLD_NEXT, "soup_server_add_websocket_handler");
  g_assert_nonnull (real);
  record_path (path);
  real (server, path, origin, protocols, callback, user_data, destroy);
}

/* Fixture {{{1 */

typedef struct
{
  char *token;
  char *device; /* the device's UUID */
} Login;

typedef struct
{
  char         *dir;
  char         *db_path;
  HelixGateway *gateway;
  SoupSession  *session;
  guint         port;
  char         *uri;          /* http://127.0.0.1:port */

  gint64        alice;
  gint64        bob;
  Login         alice_a;      /* connected to the sync WebSocket during the matrices */
  Login         alice_b;      /* logged out by the revocation test */
  Login         alice_c;      /* revoked by alice_a in the revocation test */
  Login         alice_old;    /* logged out during setup: a revoked token */
  Login         bob_c;
  Login         bob_d;        /* bob's second device */
  Login         bob_spare;    /* the one bob logs out in the matrix */

  /* Alice's data, stored as if her devices had pushed it. */
  char         *alice_session;      /* live, with a message */
  char         *alice_message;
  char         *alice_deleted;      /* a tombstone */
  char         *alice_op;           /* the op id of alice_session's session.put */
  char         *alice_op_json;      /* that op, as pushed */
  /* Bob's own session, for bodies that need a valid target. */
  char         *bob_session;
} Fixture;

typedef struct
{
  SoupWebsocketConnection *ws;
  GQueue                   frames; /* (element-type GBytes) */
  gboolean                 closed;
  gushort                  close_code;
  gint64                   closed_us;
} Client;

/* HTTP {{{1 */

/* Sends a request with a body of @len bytes (-1: a string) and @content_type,
 * waits for the answer and returns the message; *@response gets the body. */
static SoupMessage *
http_full (Fixture     *f,
           const char  *method,
           const char  *path,
           const char  *token,
           const char  *origin,
           const char  *content_type,
           const char  *body,
           gssize       len,
           GBytes     **response)
{
  g_autoptr(SoupMessage) msg = helix_test_http_message_new (f->uri, method, path, token,
                                                            content_type, body, len);

  if (origin != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), "Origin", origin);

  *response = helix_test_http_send_message (f->session, msg, NULL);
  return g_steal_pointer (&msg);
}

static SoupMessage *
http (Fixture     *f,
      const char  *method,
      const char  *path,
      const char  *token,
      const char  *body,
      GBytes     **response)
{
  return http_full (f, method, path, token, NULL, "application/json", body, -1, response);
}

/* An error answer is {"error":{"code":…,"message":…}} and nothing else. */
static void
assert_error_body (SoupMessage *msg,
                   GBytes      *body,
                   const char  *code)
{
  g_autoptr(JsonNode) root = NULL;
  JsonObject *object;
  JsonObject *error;

  /* HEAD answers have no body. */
  if (g_str_equal (soup_message_get_method (msg), "HEAD"))
    return;

  g_assert_cmpstr (soup_message_headers_get_content_type (soup_message_get_response_headers (msg),
                                                          NULL), ==, "application/json");
  root = helix_test_http_parse_json (body);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  object = json_node_get_object (root);
  g_assert_cmpuint (json_object_get_size (object), ==, 1);
  error = json_object_get_object_member (object, "error");
  g_assert_nonnull (error);
  /* The OpenAI-compatible API (/v1/) answers OpenAI's shape: type and param too. */
  if (g_str_has_prefix (g_uri_get_path (soup_message_get_uri (msg)), "/v1/"))
    {
      g_assert_cmpuint (json_object_get_size (error), ==, 4);
      g_assert_true (json_object_has_member (error, "type"));
      g_assert_true (json_object_has_member (error, "param"));
    }
  else
    g_assert_cmpuint (json_object_get_size (error), ==, 2);
  if (code != NULL)
    g_assert_cmpstr (json_object_get_string_member (error, "code"), ==, code);
  else
    g_assert_cmpuint (strlen (json_object_get_string_member (error, "code")), >, 0);
  g_assert_cmpuint (strlen (json_object_get_string_member (error, "message")), >, 0);
}

/* Sends a request, checks the status (and for an error, its body and code). */
static void
expect (Fixture    *f,
        const char *method,
        const char *path,
        const char *token,
        const char *body,
        guint       status,
        const char *code)
{
  g_autoptr(GBytes) response = NULL;
  g_autoptr(SoupMessage) msg = http (f, method, path, token, body, &response);

  helix_test_http_assert_status (msg, response, status);
  if (status >= 400)
    assert_error_body (msg, response, code);
}

static void
login (Fixture    *f,
       const char *username,
       const char *password,
       const char *device_name,
       Login      *out)
{
  out->token = helix_test_login (f->session, f->uri, username, password, device_name,
                                 &out->device);
  g_assert_true (helix_uuid_is_valid (out->device));
}

static void
login_clear (Login *l)
{
  g_clear_pointer (&l->token, g_free);
  g_clear_pointer (&l->device, g_free);
}

/* The database's state {{{1 */

static void
dump_query (sqlite3    *db,
            GString    *out,
            const char *sql,
            gint64      user)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    g_error ("%s: %s", sql, sqlite3_errmsg (db));
  if (sqlite3_bind_parameter_count (stmt) > 0)
    sqlite3_bind_int64 (stmt, 1, user);

  g_string_append_printf (out, "-- %s\n", sql);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      for (int i = 0; i < sqlite3_column_count (stmt); i++)
        {
          const unsigned char *text = sqlite3_column_text (stmt, i);

          g_string_append (out, i > 0 ? "|" : "");
          g_string_append (out, text != NULL ? (const char *) text : "NULL");
        }
      g_string_append_c (out, '\n');
    }
  if (rc != SQLITE_DONE)
    g_error ("%s: %s", sql, sqlite3_errmsg (db));
  sqlite3_finalize (stmt);
}

/* Every row of @user (or of everyone for @user 0) except the last-seen
 * times, which a valid request may update. */
static char *
dump_state (Fixture *f,
            gint64   user)
{
  g_autoptr(GString) out = g_string_new (NULL);
  sqlite3 *db = NULL;
  const char *where = user != 0 ? " WHERE id = ?1" : "";
  const char *where_user = user != 0 ? " WHERE user = ?1" : "";
  g_autofree char *users = NULL;
  g_autofree char *devices = NULL;
  g_autofree char *tokens = NULL;
  g_autofree char *ops = NULL;
  g_autofree char *sessions = NULL;
  g_autofree char *messages = NULL;
  g_autofree char *search_docs = NULL;

  db = helix_test_sqlite_open (f->db_path, SQLITE_OPEN_READONLY);

  users = g_strdup_printf ("SELECT id, name, password_hash, is_admin, disabled, created_us, "
                           "head_seq, search_seq FROM users%s ORDER BY id", where);
  devices = g_strdup_printf ("SELECT id, uuid, user, name, created_us, revoked_us FROM devices%s "
                             "ORDER BY id", where_user);
  tokens = g_strdup_printf ("SELECT hex (hash), device, created_us, revoked_us FROM tokens%s "
                            "ORDER BY hash",
                            user != 0 ? " WHERE device IN (SELECT id FROM devices WHERE user = ?1)"
                                      : "");
  ops = g_strdup_printf ("SELECT user, seq, op, kind, entity, session, hlc, canonical, hex (hash), "
                         "device FROM ops%s ORDER BY user, seq", where_user);
  sessions = g_strdup_printf ("SELECT * FROM sync_sessions%s ORDER BY user, uuid", where_user);
  messages = g_strdup_printf ("SELECT * FROM sync_messages%s ORDER BY user, uuid", where_user);
  search_docs = g_strdup_printf ("SELECT * FROM search_docs%s ORDER BY id", where_user);

  /* One read transaction: a consistent picture. */
  g_assert_cmpint (sqlite3_exec (db, "BEGIN", NULL, NULL, NULL), ==, SQLITE_OK);
  dump_query (db, out, users, user);
  dump_query (db, out, devices, user);
  dump_query (db, out, tokens, user);
  dump_query (db, out, ops, user);
  dump_query (db, out, sessions, user);
  dump_query (db, out, messages, user);
  dump_query (db, out, search_docs, user);
  sqlite3_exec (db, "COMMIT", NULL, NULL, NULL);
  sqlite3_close (db);

  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* Fixture {{{1 */

static char *
session_op_json (const char *op_id,
                 const char *session,
                 const char *device,
                 const char *title)
{
  return g_strdup_printf ("{\"op\":\"%s\",\"type\":\"session.put\",\"id\":\"%s\","
                          "\"hlc\":\"%" G_GINT64_FORMAT ":0:%s\",\"data\":{\"title\":\"%s\"}}",
                          op_id, session, g_get_real_time () / 1000, device, title);
}

static void
store_op_texts (Fixture     *f,
                gint64       user,
                const char **texts,
                guint        n)
{
  g_autoptr(GPtrArray) ops = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GPtrArray) applied = NULL;
  g_autoptr(GError) error = NULL;

  applied = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  for (guint i = 0; i < n; i++)
    {
      HelixSyncOp *op = helix_sync_op_new_from_data (texts[i], strlen (texts[i]), &error);

      g_assert_no_error (error);
      g_ptr_array_add (ops, op);
    }

  helix_gateway_db_apply_ops (helix_gateway_get_db (f->gateway), user, 0,
                              (HelixSyncOp **) ops->pdata, ops->len, seqs, applied, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (applied->len, ==, n);
}

static void
store_data (Fixture *f)
{
  g_autofree char *message_op = helix_uuid_new_v7 ();
  g_autofree char *deleted_put = helix_uuid_new_v7 ();
  g_autofree char *deleted_op = helix_uuid_new_v7 ();
  g_autofree char *bob_op = helix_uuid_new_v7 ();
  g_autofree char *message_text = NULL;
  g_autofree char *deleted_put_text = NULL;
  g_autofree char *deleted_text = NULL;
  g_autofree char *bob_text = NULL;
  gint64 now_ms = g_get_real_time () / 1000;
  const char *alice_texts[4];
  const char *bob_texts[1];

  f->alice_session = helix_uuid_new_v7 ();
  f->alice_message = helix_uuid_new_v7 ();
  f->alice_deleted = helix_uuid_new_v7 ();
  f->alice_op = helix_uuid_new_v7 ();
  f->bob_session = helix_uuid_new_v7 ();

  f->alice_op_json = session_op_json (f->alice_op, f->alice_session, "dev-a", "Alice's secrets");
  message_text = g_strdup_printf ("{\"op\":\"%s\",\"type\":\"message.put\",\"id\":\"%s\","
                                  "\"session\":\"%s\",\"hlc\":\"%" G_GINT64_FORMAT ":1:dev-a\","
                                  "\"data\":{\"role\":\"user\",\"content\":\"for alice only\","
                                  "\"status\":\"done\"}}",
                                  message_op, f->alice_message, f->alice_session, now_ms);
  deleted_put_text = session_op_json (deleted_put, f->alice_deleted, "dev-a", "gone");
  deleted_text = g_strdup_printf ("{\"op\":\"%s\",\"type\":\"session.delete\",\"id\":\"%s\","
                                  "\"hlc\":\"%" G_GINT64_FORMAT ":2:dev-a\"}",
                                  deleted_op, f->alice_deleted, now_ms);
  bob_text = session_op_json (bob_op, f->bob_session, "dev-c", "Bob's");

  alice_texts[0] = f->alice_op_json;
  alice_texts[1] = message_text;
  alice_texts[2] = deleted_put_text;
  alice_texts[3] = deleted_text;
  store_op_texts (f, f->alice, alice_texts, G_N_ELEMENTS (alice_texts));
  bob_texts[0] = bob_text;
  store_op_texts (f, f->bob, bob_texts, G_N_ELEMENTS (bob_texts));
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  const HelixTestGatewaySetup *setup = data;
  g_autoptr(HelixGatewayConfig) config = NULL;
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("helix-gateway-isolation-XXXXXX", &error);
  g_assert_no_error (error);
  config = helix_test_gateway_config_new (f->dir);

  g_assert_true (helix_gateway_config_set_allowed_origins (config, GOOD_ORIGIN, &error));
  g_assert_no_error (error);
  helix_test_gateway_config_apply (config, setup);

  f->gateway = helix_test_gateway_start (config);
  f->db_path = helix_gateway_config_dup_database_path (config);
  f->port = helix_test_gateway_get_port (f->gateway);
  f->uri = g_strdup_printf ("http://127.0.0.1:%u", f->port);
  f->session = soup_session_new ();

  f->alice = helix_test_gateway_add_user (f->gateway, "alice", ALICE_PASSWORD);
  f->bob = helix_test_gateway_add_user (f->gateway, "bob", BOB_PASSWORD);
  login (f, "alice", ALICE_PASSWORD, "laptop", &f->alice_a);
  login (f, "alice", ALICE_PASSWORD, "phone", &f->alice_b);
  login (f, "alice", ALICE_PASSWORD, "tablet", &f->alice_c);
  login (f, "alice", ALICE_PASSWORD, "old", &f->alice_old);
  login (f, "bob", BOB_PASSWORD, "desktop", &f->bob_c);
  login (f, "bob", BOB_PASSWORD, "watch", &f->bob_d);
  login (f, "bob", BOB_PASSWORD, "spare", &f->bob_spare);

  store_data (f);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_object (&f->session);
  helix_test_gateway_shutdown (f->gateway);
  helix_test_assert_finalized (g_steal_pointer (&f->gateway));

  helix_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->db_path);
  g_free (f->uri);
  login_clear (&f->alice_a);
  login_clear (&f->alice_b);
  login_clear (&f->alice_c);
  login_clear (&f->alice_old);
  login_clear (&f->bob_c);
  login_clear (&f->bob_d);
  login_clear (&f->bob_spare);
  g_free (f->alice_session);
  g_free (f->alice_message);
  g_free (f->alice_deleted);
  g_free (f->alice_op);
  g_free (f->alice_op_json);
  g_free (f->bob_session);
}

/* Revokes alice_old's token, so that the matrices have a revoked token to try. */
static void
revoke_old (Fixture *f)
{
  expect (f, "POST", "/api/v1/auth/logout", f->alice_old.token, NULL, SOUP_STATUS_NO_CONTENT,
          NULL);
}

/* WebSocket clients {{{1 */

static void
on_client_message (SoupWebsocketConnection *ws,
                   gint                     type,
                   GBytes                  *message,
                   Client                  *c)
{
  g_assert_cmpint (type, ==, SOUP_WEBSOCKET_DATA_TEXT);
  g_queue_push_tail (&c->frames, g_bytes_ref (message));
}

static void
on_client_closed (SoupWebsocketConnection *ws,
                  Client                  *c)
{
  c->closed = TRUE;
  c->closed_us = g_get_monotonic_time ();
  c->close_code = soup_websocket_connection_get_close_code (ws);
}

/* Opens the sync WebSocket; returns %NULL and the HTTP status when refused. */
static Client *
try_connect (Fixture    *f,
             const char *token,
             const char *origin,
             guint      *status)
{
  g_autofree char *base_uri = g_strdup_printf ("ws://127.0.0.1:%u", f->port);
  g_autoptr(SoupMessage) msg = helix_test_http_message_new (base_uri, "GET", SYNC_PATH, token,
                                                            NULL, NULL, -1);
  g_autoptr(GError) error = NULL;
  SoupWebsocketConnection *ws;
  Client *c;

  ws = helix_test_ws_connect (f->session, msg, origin, &error);
  *status = soup_message_get_status (msg);

  if (ws == NULL)
    {
      g_assert_nonnull (error);
      return NULL;
    }

  c = g_new0 (Client, 1);
  c->ws = ws;
  soup_websocket_connection_set_max_incoming_payload_size (c->ws, 4 * 1024 * 1024);
  g_signal_connect (c->ws, "message", G_CALLBACK (on_client_message), c);
  g_signal_connect (c->ws, "closed", G_CALLBACK (on_client_closed), c);

  return c;
}

static Client *
client_connect (Fixture    *f,
                const char *token)
{
  guint status = 0;
  Client *c = try_connect (f, token, NULL, &status);

  g_assert_nonnull (c);
  g_assert_cmpuint (status, ==, SOUP_STATUS_SWITCHING_PROTOCOLS);

  return c;
}

static void
client_free (Client *c)
{
  if (!c->closed)
    {
      soup_websocket_connection_close (c->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      helix_test_wait_for (c->closed, WAIT_TIMEOUT_S, "the client to close");
    }

  g_signal_handlers_disconnect_by_data (c->ws, c);
  g_object_unref (c->ws);
  g_queue_clear_full (&c->frames, (GDestroyNotify) g_bytes_unref);
  g_free (c);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Client, client_free)

static void
client_send (Client     *c,
             const char *text)
{
  soup_websocket_connection_send_text (c->ws, text);
}

/* Sends @len bytes as one text message, whatever they are. */
static void
client_send_raw (Client     *c,
                 const char *data,
                 gsize       len)
{
  g_autoptr(GBytes) bytes = g_bytes_new (data, len);

  soup_websocket_connection_send_message (c->ws, SOUP_WEBSOCKET_DATA_TEXT, bytes);
}

static HelixSyncFrame *
client_next (Client *c)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  HelixSyncFrame *frame;
  gsize len;
  const char *text;

  helix_test_wait_for (c->frames.length > 0 || c->closed, WAIT_TIMEOUT_S, "a frame");
  if (c->frames.length == 0)
    g_error ("The connection closed (%u) instead of sending a frame", c->close_code);

  bytes = g_queue_pop_head (&c->frames);
  text = g_bytes_get_data (bytes, &len);
  frame = helix_sync_frame_parse (text, len, &error);
  g_assert_no_error (error);

  return frame;
}

static HelixSyncFrame *
client_expect (Client             *c,
               HelixSyncFrameKind  kind)
{
  HelixSyncFrame *frame = client_next (c);

  if (helix_sync_frame_get_kind (frame) != kind)
    g_error ("Expected a %s frame, got %s (%s)", helix_sync_frame_kind_to_string (kind),
             helix_sync_frame_kind_to_string (helix_sync_frame_get_kind (frame)),
             helix_sync_frame_get_kind (frame) == HELIX_SYNC_FRAME_ERROR
               ? helix_sync_frame_get_error_message (frame) : "");

  return frame;
}

static void
client_expect_error (Client     *c,
                     const char *code)
{
  g_autoptr(HelixSyncFrame) frame = client_expect (c, HELIX_SYNC_FRAME_ERROR);

  g_assert_cmpstr (helix_sync_frame_get_error_code (frame), ==, code);
}

static gushort
client_wait_closed (Client *c)
{
  helix_test_wait_for (c->closed, WAIT_TIMEOUT_S, "the connection to close");

  return c->close_code;
}

/* A ping answered by the very next frame: nothing was sent to @c before it. */
static void
client_sentinel (Client     *c,
                 const char *id)
{
  g_autofree char *text = g_strdup_printf ("{\"type\":\"ping\",\"id\":\"%s\"}", id);
  g_autoptr(HelixSyncFrame) pong = NULL;

  client_send (c, text);
  pong = client_next (c);
  if (helix_sync_frame_get_kind (pong) != HELIX_SYNC_FRAME_PONG)
    g_error ("Sentinel %s: got a %s frame first", id,
             helix_sync_frame_kind_to_string (helix_sync_frame_get_kind (pong)));
  g_assert_cmpstr (helix_sync_frame_get_ping_id (pong), ==, id);
}

/* Says hello and reads the backlog up to synced; returns the ops' texts. */
static GPtrArray *
client_sync (Client     *c,
             const char *device,
             const char *user)
{
  g_autofree char *text = g_strdup_printf ("{\"type\":\"hello\",\"cursor\":0,\"device\":\"%s\"}",
                                           device);
  g_autoptr(HelixSyncFrame) welcome = NULL;
  GPtrArray *ops = g_ptr_array_new_with_free_func (g_free);

  client_send (c, text);
  welcome = client_expect (c, HELIX_SYNC_FRAME_WELCOME);
  g_assert_cmpstr (helix_sync_frame_get_user (welcome), ==, user);
  g_assert_cmpstr (helix_sync_frame_get_device (welcome), ==, device);

  for (;;)
    {
      g_autoptr(HelixSyncFrame) frame = client_next (c);
      GPtrArray *frame_ops;

      if (helix_sync_frame_get_kind (frame) == HELIX_SYNC_FRAME_SYNCED)
        break;
      g_assert_cmpint (helix_sync_frame_get_kind (frame), ==, HELIX_SYNC_FRAME_OPS);
      frame_ops = helix_sync_frame_get_ops (frame);
      for (guint i = 0; i < frame_ops->len; i++)
        g_ptr_array_add (ops, helix_sync_op_canonical (g_ptr_array_index (frame_ops, i)));
    }

  return ops;
}

/* A raw WebSocket client {{{1
 *
 * libsoup's client will not send a text message that is not UTF-8. This one
 * writes the frames itself, in a thread of its own with blocking I/O (the
 * gateway runs on this thread's main loop). */

typedef struct
{
  guint     port;
  char     *token;
  GBytes   *payload;     /* sent as one text message after the upgrade */
  gushort   close_code;  /* of the close frame the gateway sent; 0: none */
  char     *failure;     /* (nullable): what went wrong */
  gint      done;
} RawClient;

static gboolean
raw_read (GInputStream  *in,
          guint8        *buffer,
          gsize          size,
          GError       **error)
{
  gsize got = 0;

  return g_input_stream_read_all (in, buffer, size, &got, NULL, error) && got == size;
}

static gpointer
raw_client_thread (gpointer data)
{
  RawClient *r = data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) head = g_string_new (NULL);
  g_autofree char *request = NULL;
  g_autofree guint8 *frame = NULL;
  GOutputStream *out;
  GInputStream *in;
  const guint8 mask[4] = { 0x12, 0x34, 0x56, 0x78 };
  gsize len;
  const guint8 *payload = g_bytes_get_data (r->payload, &len);
  gsize frame_len;

  g_socket_client_set_timeout (client, 10);
  conn = g_socket_client_connect_to_host (client, "127.0.0.1", r->port, NULL, &error);
  if (conn == NULL)
    goto fail;
  out = g_io_stream_get_output_stream (G_IO_STREAM (conn));
  in = g_io_stream_get_input_stream (G_IO_STREAM (conn));

  request = g_strdup_printf ("GET " SYNC_PATH " HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n",
                             r->port, r->token);
  if (!g_output_stream_write_all (out, request, strlen (request), NULL, NULL, &error))
    goto fail;

  while (!g_str_has_suffix (head->str, "\r\n\r\n"))
    {
      guint8 c;

      if (!raw_read (in, &c, 1, &error))
        goto fail;
      g_string_append_c (head, (char) c);
    }
  if (!g_str_has_prefix (head->str, "HTTP/1.1 101 "))
    {
      r->failure = g_strdup_printf ("no upgrade: %s", head->str);
      goto out;
    }

  /* One masked text frame (payloads under 126 bytes only). */
  g_assert_cmpuint (len, <, 126);
  frame_len = 2 + 4 + len;
  frame = g_malloc (frame_len);
  frame[0] = 0x81;
  frame[1] = 0x80 | (guint8) len;
  memcpy (frame + 2, mask, 4);
  for (gsize i = 0; i < len; i++)
    frame[6 + i] = payload[i] ^ mask[i % 4];
  if (!g_output_stream_write_all (out, frame, frame_len, NULL, NULL, &error))
    goto fail;

  /* Frames until the close frame. */
  for (;;)
    {
      guint8 header[2];
      guint64 size;
      g_autofree guint8 *body = NULL;

      if (!raw_read (in, header, 2, &error))
        goto fail;
      size = header[1] & 0x7f;
      if (size == 126)
        {
          guint8 ext[2];

          if (!raw_read (in, ext, 2, &error))
            goto fail;
          size = ((guint64) ext[0] << 8) | ext[1];
        }
      else if (size == 127)
        {
          guint8 ext[8];

          if (!raw_read (in, ext, 8, &error))
            goto fail;
          size = 0;
          for (guint i = 0; i < 8; i++)
            size = (size << 8) | ext[i];
        }
      g_assert_cmpuint (size, <, 4 * 1024 * 1024);
      body = g_malloc (size + 1);
      if (size > 0 && !raw_read (in, body, size, &error))
        goto fail;

      if ((header[0] & 0x0f) == 0x8)
        {
          r->close_code = size >= 2 ? (gushort) ((body[0] << 8) | body[1]) : 0;
          goto out;
        }
    }

fail:
  r->failure = g_strdup (error != NULL ? error->message : "failed");
out:
  if (conn != NULL)
    g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
  g_atomic_int_set (&r->done, 1);
  /* The main thread may be asleep in g_main_context_iteration(). */
  g_main_context_wakeup (NULL);
  return NULL;
}

/* Sends @payload as a text message on a new socket of @token; returns the
 * code the gateway closed it with. */
static gushort
raw_send (Fixture    *f,
          const char *token,
          const char *payload,
          gsize       len)
{
  RawClient r = { 0 };
  GThread *thread;

  r.port = f->port;
  r.token = g_strdup (token);
  r.payload = g_bytes_new (payload, len);
  thread = g_thread_new ("raw-websocket", raw_client_thread, &r);
  helix_test_wait_for (g_atomic_int_get (&r.done), WAIT_TIMEOUT_S, "the raw WebSocket client");
  g_thread_join (thread);

  if (r.failure != NULL)
    g_error ("raw WebSocket client: %s", r.failure);
  g_free (r.token);
  g_bytes_unref (r.payload);

  return r.close_code;
}

/* The route table {{{1 */

/* A concrete path for @pattern, with @id for "{id}" (and "{name}"). */
static char *
route_path (const char *pattern,
            const char *id)
{
  g_autoptr(GString) path = g_string_new (pattern);

  g_string_replace (path, "{id}", id, 0);
  g_string_replace (path, "{name}", id, 0);

  return g_string_free (g_steal_pointer (&path), FALSE);
}

/* The route table is the truth: every handler the gateway registered serves
 * routes of it, every route answers exactly its methods (a method outside
 * them gets 405 with the route's methods in Allow), and the metrics know
 * every route. */
static void
test_route_table (Fixture       *f,
                  gconstpointer  data)
{
  const HelixGatewayRoute *routes;
  guint n_routes;

  routes = _helix_gateway_get_routes (&n_routes);
  g_assert_cmpuint (n_routes, >, 0);
  g_assert_nonnull (registered_paths);

  for (guint i = 0; i < registered_paths->len; i++)
    {
      const char *path = g_ptr_array_index (registered_paths, i);
      gboolean found = FALSE;

      for (guint j = 0; j < n_routes && !found; j++)
        found = g_str_equal (routes[j].pattern, path);
      if (!found)
        g_error ("The gateway registers a handler for %s, which is not in the route table of "
                 "helix-gateway-routes.c", path);
    }

  for (guint i = 0; i < n_routes; i++)
    {
      static const char * const write_methods[] = { "PUT", "PATCH", "POST", "DELETE" };
      g_autofree char *path = route_path (routes[i].pattern, f->bob_session);
      g_autoptr(GBytes) response = NULL;
      g_autoptr(SoupMessage) msg = NULL;
      const char *method = NULL;
      gboolean served = FALSE;

      /* Served by a handler registered for it or for a prefix of it. */
      for (guint j = 0; j < registered_paths->len && !served; j++)
        served = g_str_has_prefix (routes[i].pattern,
                                   (const char *) g_ptr_array_index (registered_paths, j));
      g_assert_true (served);

      g_assert_cmpstr (helix_gateway_metrics_route_for_path (path), ==, routes[i].pattern);

      /* A method with a body that the route does not take. */
      for (guint m = 0; m < G_N_ELEMENTS (write_methods) && method == NULL; m++)
        if (strstr (routes[i].methods, write_methods[m]) == NULL)
          method = write_methods[m];
      g_assert_nonnull (method);
      msg = http (f, method, path, f->bob_c.token, "{}", &response);
      helix_test_http_assert_status (msg, response, SOUP_STATUS_METHOD_NOT_ALLOWED);
      assert_error_body (msg, response, "method_not_allowed");
      g_assert_cmpstr (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                     "Allow"), ==, routes[i].methods);
    }
}

/* The REST matrix {{{1 */

typedef enum
{
  TARGET_NONE,          /* the route has no id */
  TARGET_SESSION,       /* alice's live session */
  TARGET_DELETED,       /* alice's deleted session */
  TARGET_MESSAGE,       /* alice's message id, used as a session id */
  TARGET_DEVICE,        /* alice's device */
  TARGET_FLAG,          /* a feature flag */
} Target;

typedef enum
{
  AUTH_NONE,            /* no token needed */
  AUTH_TOKEN,           /* 401 without a valid token */
} Auth;

typedef struct
{
  const char *pattern;
  const char *method;
  Target      target;
  Auth        auth;
  const char *body;     /* with alice's ids for {session}, {message} and {device} */
  guint       status;   /* bob's answer */
  const char *code;     /* for an error status */
  const char *query;    /* (nullable): the query string, with alice's ids as in @body */
} RestCase;

/* Every route × method of the route table has rows here: bob's token (bob_c)
 * on alice's ids. A 200 answer is checked to hold nothing of alice's. */
static const RestCase rest_cases[] = {
  { "/health", "GET", TARGET_NONE, AUTH_NONE, NULL, 200, NULL },
  { "/health", "HEAD", TARGET_NONE, AUTH_NONE, NULL, 200, NULL },
  { "/metrics", "GET", TARGET_NONE, AUTH_NONE, NULL, 200, NULL },
  { "/metrics", "HEAD", TARGET_NONE, AUTH_NONE, NULL, 200, NULL },
  /* Bob's password on alice's account. */
  { "/api/v1/auth/login", "POST", TARGET_NONE, AUTH_NONE,
    "{\"username\":\"alice\",\"password\":\"" BOB_PASSWORD "\",\"device\":\"x\"}",
    401, "invalid_credentials" },
  { "/api/v1/auth/login", "POST", TARGET_NONE, AUTH_NONE,
    "{\"username\":\"alice\",\"password\":\"\",\"device\":\"x\"}", 401, "invalid_credentials" },
  /* Logs out bob's own (spare) device, whatever the body says. */
  { "/api/v1/auth/logout", "POST", TARGET_NONE, AUTH_TOKEN,
    "{\"device\":\"{device}\"}", 204, NULL },
  { "/api/v1/devices", "GET", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL },
  { "/api/v1/devices", "HEAD", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL },
  { "/api/v1/devices/{id}", "DELETE", TARGET_DEVICE, AUTH_TOKEN, NULL, 404, "not_found" },
  { "/api/v1/sessions", "GET", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL },
  { "/api/v1/sessions", "HEAD", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL },
  /* A session id cannot be chosen: no way to write into alice's. */
  { "/api/v1/sessions", "POST", TARGET_NONE, AUTH_TOKEN,
    "{\"id\":\"{session}\",\"title\":\"hijack\"}", 400, "invalid_request" },
  { "/api/v1/sessions/{id}", "GET", TARGET_SESSION, AUTH_TOKEN, NULL, 404, "not_found" },
  { "/api/v1/sessions/{id}", "GET", TARGET_DELETED, AUTH_TOKEN, NULL, 404, "not_found" },
  { "/api/v1/sessions/{id}", "GET", TARGET_MESSAGE, AUTH_TOKEN, NULL, 404, "not_found" },
  { "/api/v1/sessions/{id}", "HEAD", TARGET_SESSION, AUTH_TOKEN, NULL, 404, NULL },
  { "/api/v1/sessions/{id}", "PATCH", TARGET_SESSION, AUTH_TOKEN,
    "{\"title\":\"pwned\",\"pinned\":true,\"archived\":true}", 404, "not_found" },
  { "/api/v1/sessions/{id}", "PATCH", TARGET_DELETED, AUTH_TOKEN,
    "{\"title\":\"undead\"}", 404, "not_found" },
  { "/api/v1/sessions/{id}", "DELETE", TARGET_SESSION, AUTH_TOKEN, NULL, 404, "not_found" },
  { "/api/v1/sessions/{id}", "DELETE", TARGET_DELETED, AUTH_TOKEN, NULL, 404, "not_found" },
  { "/api/v1/sessions/{id}/messages", "GET", TARGET_SESSION, AUTH_TOKEN, NULL, 404, "not_found" },
  { "/api/v1/sessions/{id}/messages", "GET", TARGET_DELETED, AUTH_TOKEN, NULL, 404,
    "not_found" },
  { "/api/v1/sessions/{id}/messages", "HEAD", TARGET_SESSION, AUTH_TOKEN, NULL, 404, NULL },
  /* Alice's words and ids find nothing of hers (and she finds them: see below). */
  { "/api/v1/search", "GET", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL, "q=secrets" },
  { "/api/v1/search", "GET", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL, "q=for%20alice%20only" },
  { "/api/v1/search", "GET", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL, "q=gone" },
  { "/api/v1/search", "GET", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL, "q={session}" },
  { "/api/v1/search", "GET", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL,
    "q=alice&limit=100&cursor=1000000" },
  { "/api/v1/search", "GET", TARGET_NONE, AUTH_TOKEN, NULL, 400, "invalid_request", NULL },
  { "/api/v1/search", "HEAD", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL, "q=secrets" },
  /* The upgrade itself is the WebSocket matrix; a plain GET is refused. */
  { "/api/v1/sync", "GET", TARGET_NONE, AUTH_TOKEN, NULL, 400, "not_websocket" },
  /* Bob's own costs only (alice's need user=alice: 403, see test-gateway-openai.c). */
  { "/api/v1/operations/cost", "GET", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL },
  { "/api/v1/operations/cost", "HEAD", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL },
  /* The AI router; this gateway has no provider. */
  { "/v1/chat/completions", "POST", TARGET_NONE, AUTH_TOKEN,
    "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"{session}\"}]}",
    503, "no_providers" },
  { "/v1/models", "GET", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL },
  { "/v1/models", "HEAD", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL },
  /* An answer in alice's session: as if it did not exist. */
  { "/api/v1/chat/message", "POST", TARGET_NONE, AUTH_TOKEN,
    "{\"session\":\"{session}\",\"content\":\"hi\"}", 404, "not_found" },
  { "/api/v1/chat/message", "POST", TARGET_NONE, AUTH_TOKEN,
    "{\"session\":\"{message}\",\"content\":\"hi\"}", 404, "not_found" },
  /* Bob's own flags; the admin routes are for administrators only. */
  { "/api/v1/flags", "GET", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL },
  { "/api/v1/flags", "HEAD", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL },
  { "/api/v1/admin/flags", "GET", TARGET_NONE, AUTH_TOKEN, NULL, 403, "forbidden" },
  { "/api/v1/admin/flags", "HEAD", TARGET_NONE, AUTH_TOKEN, NULL, 403, NULL },
  { "/api/v1/admin/flags/{name}", "PATCH", TARGET_FLAG, AUTH_TOKEN,
    "{\"enabled\":false,\"percent\":0}", 403, "forbidden" },
  { "/api/v1/admin/maintenance", "GET", TARGET_NONE, AUTH_TOKEN, NULL, 403, "forbidden" },
  { "/api/v1/admin/maintenance", "HEAD", TARGET_NONE, AUTH_TOKEN, NULL, 403, NULL },
  { "/api/v1/admin/maintenance", "PUT", TARGET_NONE, AUTH_TOKEN,
    "{\"maintenance\":true}", 403, "forbidden" },
  { "/api/v1/audit/verify", "GET", TARGET_NONE, AUTH_TOKEN, NULL, 403, "forbidden" },
  { "/api/v1/audit/verify", "HEAD", TARGET_NONE, AUTH_TOKEN, NULL, 403, NULL },
  { "/api/v1/audit/verify", "POST", TARGET_NONE, AUTH_TOKEN, "{}", 403, "forbidden" },
  { "/api/v1/audit/entries", "GET", TARGET_NONE, AUTH_TOKEN, NULL, 403, "forbidden" },
  { "/api/v1/audit/entries", "HEAD", TARGET_NONE, AUTH_TOKEN, NULL, 403, NULL },
  /* The newest checkpoint is every signed-in user's to keep: nobody's data. */
  { "/api/v1/audit/checkpoint", "GET", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL },
  { "/api/v1/audit/checkpoint", "HEAD", TARGET_NONE, AUTH_TOKEN, NULL, 200, NULL },
};

static const char *
target_id (Fixture *f,
           Target   target)
{
  switch (target)
    {
    case TARGET_NONE:
      return NULL;
    case TARGET_SESSION:
      return f->alice_session;
    case TARGET_DELETED:
      return f->alice_deleted;
    case TARGET_MESSAGE:
      return f->alice_message;
    case TARGET_DEVICE:
      return f->alice_a.device;
    case TARGET_FLAG:
      return "voice";
    default:
      g_assert_not_reached ();
    }
}

static char *
case_path (Fixture        *f,
           const RestCase *c)
{
  g_autofree char *path = c->target == TARGET_NONE
                          ? g_strdup (c->pattern)
                          : route_path (c->pattern, target_id (f, c->target));
  GString *query;

  if (c->query == NULL)
    return g_steal_pointer (&path);

  query = g_string_new (c->query);
  g_string_replace (query, "{session}", f->alice_session, 0);
  g_string_replace (query, "{message}", f->alice_message, 0);
  g_string_prepend_c (query, '?');
  g_string_prepend (query, path);

  return g_string_free (query, FALSE);
}

static char *
case_body (Fixture        *f,
           const RestCase *c)
{
  GString *body;

  if (c->body == NULL)
    return NULL;

  body = g_string_new (c->body);
  g_string_replace (body, "{session}", f->alice_session, 0);
  g_string_replace (body, "{message}", f->alice_message, 0);
  g_string_replace (body, "{device}", f->alice_a.device, 0);

  return g_string_free (body, FALSE);
}

/* Nothing of alice's in an answer to bob. */
static void
assert_nothing_of_alice (Fixture *f,
                         GBytes  *body)
{
  g_autofree char *text = g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
  const char *secrets[] = {
    f->alice_session, f->alice_message, f->alice_deleted, f->alice_op,
    f->alice_a.device, f->alice_b.device, f->alice_c.device, f->alice_a.token,
    "alice", "Alice's secrets", "for alice only",
  };

  if (text == NULL)
    return;

  for (guint i = 0; i < G_N_ELEMENTS (secrets); i++)
    if (strstr (text, secrets[i]) != NULL)
      g_error ("An answer to bob holds “%s”: %s", secrets[i], text);
}

static void
test_rest_matrix (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(Client) alice_ws = NULL;
  g_autoptr(GPtrArray) backlog = NULL;
  g_autofree char *alice_before = NULL;
  g_autofree char *all_before = NULL;
  const HelixGatewayRoute *routes;
  guint n_routes;
  guint n_requests = 0;

  revoke_old (f);
  routes = _helix_gateway_get_routes (&n_routes);

  /* Every route and method of the table has a row. */
  for (guint i = 0; i < n_routes; i++)
    {
      g_auto(GStrv) methods = g_strsplit (routes[i].methods, ", ", -1);

      for (guint m = 0; methods[m] != NULL; m++)
        {
          gboolean found = FALSE;

          for (guint j = 0; j < G_N_ELEMENTS (rest_cases) && !found; j++)
            found = g_str_equal (rest_cases[j].pattern, routes[i].pattern) &&
                    g_str_equal (rest_cases[j].method, methods[m]);
          if (!found)
            g_error ("The isolation matrix has no row for %s %s: add one to rest_cases",
                     methods[m], routes[i].pattern);
        }
    }

  alice_ws = client_connect (f, f->alice_a.token);
  backlog = client_sync (alice_ws, "dev-a", "alice");
  g_assert_cmpuint (backlog->len, ==, 4);

  alice_before = dump_state (f, f->alice);

  for (guint i = 0; i < G_N_ELEMENTS (rest_cases); i++)
    {
      const RestCase *c = &rest_cases[i];
      g_autofree char *path = case_path (f, c);
      g_autofree char *body = case_body (f, c);
      g_autofree char *after = NULL;
      g_autofree char *sentinel = g_strdup_printf ("rest-%u", i);
      const char *token = g_str_equal (c->pattern, "/api/v1/auth/logout")
                          ? f->bob_spare.token : f->bob_c.token;

      g_test_message ("bob: %s %s", c->method, c->pattern);

      if (c->auth == AUTH_TOKEN)
        {
          g_autoptr(GBytes) response = NULL;
          g_autoptr(SoupMessage) msg = NULL;

          /* Without a token, and with alice's revoked one. */
          all_before = dump_state (f, 0);
          msg = http (f, c->method, path, NULL, body, &response);
          helix_test_http_assert_status (msg, response, SOUP_STATUS_UNAUTHORIZED);
          assert_error_body (msg, response, "unauthorized");
          g_clear_object (&msg);
          g_clear_pointer (&response, g_bytes_unref);

          msg = http (f, c->method, path, f->alice_old.token, body, &response);
          helix_test_http_assert_status (msg, response, SOUP_STATUS_UNAUTHORIZED);
          assert_error_body (msg, response, "invalid_token");
          g_clear_object (&msg);
          g_clear_pointer (&response, g_bytes_unref);

          /* Alice's device id is not a token. */
          msg = http (f, c->method, path, f->alice_a.device, body, &response);
          helix_test_http_assert_status (msg, response, SOUP_STATUS_UNAUTHORIZED);
          assert_error_body (msg, response, "invalid_token");

          after = dump_state (f, 0);
          g_assert_cmpstr (after, ==, all_before);
          g_clear_pointer (&after, g_free);
          g_clear_pointer (&all_before, g_free);
          n_requests += 3;
        }

      {
        g_autoptr(GBytes) response = NULL;
        g_autoptr(SoupMessage) msg = http (f, c->method, path, token, body, &response);

        helix_test_http_assert_status (msg, response, c->status);
        if (c->status >= 400)
          assert_error_body (msg, response, c->code);
        else if (c->status != 204)
          assert_nothing_of_alice (f, response);
        n_requests++;
      }

      after = dump_state (f, f->alice);
      g_assert_cmpstr (after, ==, alice_before);

      /* Nothing reached alice's open socket either. */
      client_sentinel (alice_ws, sentinel);
    }

  /* Bob's admin requests changed nothing. */
  {
    HelixFlagState state;

    g_assert_true (helix_flags_get_state (helix_gateway_get_flags (f->gateway), "voice", &state));
    g_assert_true (state.enabled);
    g_assert_cmpuint (state.percent, ==, 100);
    g_assert_cmpint (state.source, ==, HELIX_FLAG_SOURCE_DEFAULT);
    g_assert_false (_helix_gateway_in_maintenance (f->gateway));
  }

  /* Bob's spare device is logged out; alice's devices are all still there. */
  expect (f, "GET", "/api/v1/devices", f->bob_spare.token, NULL, 401, "invalid_token");
  {
    g_autofree char *path = route_path ("/api/v1/sessions/{id}", f->alice_session);

    expect (f, "GET", path, f->alice_a.token, NULL, 200, NULL);
  }
  /* What bob's searches did not find is there for alice: her title, her
   * message, and not her deleted session. */
  {
    static const struct { const char *query; guint n; } alice_finds[] = {
      { "q=secrets", 1 }, { "q=for%20alice%20only", 1 }, { "q=gone", 0 },
    };

    for (guint i = 0; i < G_N_ELEMENTS (alice_finds); i++)
      {
        g_autofree char *path = g_strconcat ("/api/v1/search?", alice_finds[i].query, NULL);
        g_autoptr(GBytes) response = NULL;
        g_autoptr(SoupMessage) msg = http (f, "GET", path, f->alice_a.token, NULL, &response);
        g_autoptr(JsonNode) root = NULL;

        helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
        root = helix_test_http_parse_json (response);
        g_assert_cmpuint (json_array_get_length (json_object_get_array_member (
                            json_node_get_object (root), "results")), ==, alice_finds[i].n);
      }
  }

  g_assert_false (alice_ws->closed);
  g_test_message ("REST matrix: %u rows, %u requests", (guint) G_N_ELEMENTS (rest_cases),
                  n_requests);
}

/* The WebSocket matrix {{{1 */

static char *
push_json (const char *op)
{
  return g_strdup_printf ("{\"type\":\"push\",\"ops\":[%s]}", op);
}

/* Sends @text on bob's socket and checks what bob gets back: @reply a frame
 * kind (or -1 for nothing), @code for an error. Alice's state and socket
 * must not change; bob's other device gets a relayed delta only. */
typedef struct
{
  const char *name;
  char       *text;
  int         reply;        /* HelixSyncFrameKind, or -1: nothing */
  const char *code;         /* for HELIX_SYNC_FRAME_ERROR */
  gboolean    relayed;      /* bob's other device gets it (message.delta) */
} WsCase;

static void
ws_case_clear (WsCase *c)
{
  g_clear_pointer (&c->text, g_free);
}

static void
test_ws_matrix (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(Client) alice_ws = client_connect (f, f->alice_a.token);
  g_autoptr(Client) bob_ws = client_connect (f, f->bob_c.token);
  g_autoptr(Client) bob_other = client_connect (f, f->bob_d.token);
  g_autoptr(GPtrArray) alice_backlog = NULL;
  g_autoptr(GPtrArray) bob_backlog = NULL;
  g_autoptr(GPtrArray) other_backlog = NULL;
  g_autofree char *alice_before = NULL;
  g_autofree char *new_op = helix_uuid_new_v7 ();
  g_autofree char *new_op2 = helix_uuid_new_v7 ();
  g_autofree char *new_op3 = helix_uuid_new_v7 ();
  g_autofree char *new_op4 = helix_uuid_new_v7 ();
  gint64 now_ms = g_get_real_time () / 1000;
  gint64 bob_head;
  g_autoptr(GError) error = NULL;
  WsCase cases[17] = { { 0 } };
  guint n = 0;

  alice_backlog = client_sync (alice_ws, "dev-a", "alice");
  g_assert_cmpuint (alice_backlog->len, ==, 4);
  /* Alice's device id in hello: the connection stays bob's (the token says
   * who it is), with bob's log only. */
  bob_backlog = client_sync (bob_ws, f->alice_a.device, "bob");
  g_assert_cmpuint (bob_backlog->len, ==, 1);
  g_assert_null (strstr (g_ptr_array_index (bob_backlog, 0), f->alice_session));
  other_backlog = client_sync (bob_other, "dev-a", "bob");
  g_assert_cmpuint (other_backlog->len, ==, 1);

  alice_before = dump_state (f, f->alice);
  bob_head = helix_gateway_db_get_head (helix_gateway_get_db (f->gateway), f->bob, &error);
  g_assert_no_error (error);

  /* Ops naming alice's ids are bob's own ops about bob's own namespace:
   * stored for bob (ack), never touching alice's rows. */
  {
    g_autofree char *op = g_strdup_printf ("{\"op\":\"%s\",\"type\":\"session.put\",\"id\":\"%s\","
                                           "\"hlc\":\"%" G_GINT64_FORMAT ":9:dev-c\","
                                           "\"data\":{\"title\":\"pwned\",\"pinned\":true}}",
                                           new_op, f->alice_session, now_ms);
    cases[n++] = (WsCase) { "session.put on alice's session", push_json (op),
                            HELIX_SYNC_FRAME_ACK, NULL, FALSE };
  }
  {
    g_autofree char *op = g_strdup_printf ("{\"op\":\"%s\",\"type\":\"message.put\",\"id\":\"%s\","
                                           "\"session\":\"%s\",\"hlc\":\"%" G_GINT64_FORMAT
                                           ":10:dev-c\",\"data\":{\"role\":\"assistant\","
                                           "\"content\":\"pwned\",\"status\":\"done\"}}",
                                           new_op2, f->alice_message, f->alice_session, now_ms);
    cases[n++] = (WsCase) { "message.put on alice's message", push_json (op),
                            HELIX_SYNC_FRAME_ACK, NULL, FALSE };
  }
  {
    g_autofree char *op = g_strdup_printf ("{\"op\":\"%s\",\"type\":\"session.delete\","
                                           "\"id\":\"%s\",\"hlc\":\"%" G_GINT64_FORMAT
                                           ":11:dev-c\"}", new_op3, f->alice_session, now_ms);
    cases[n++] = (WsCase) { "session.delete of alice's session", push_json (op),
                            HELIX_SYNC_FRAME_ACK, NULL, FALSE };
  }
  /* Alice's op replayed as is: bob's own op (no op_conflict, which would
   * tell that the id exists elsewhere), stored under bob's next seq. */
  cases[n++] = (WsCase) { "alice's op replayed", push_json (f->alice_op_json),
                          HELIX_SYNC_FRAME_ACK, NULL, FALSE };
  {
    g_autofree char *op = session_op_json (new_op4, f->alice_deleted, "dev-a", "resurrect");
    cases[n++] = (WsCase) { "session.put on alice's deleted session", push_json (op),
                            HELIX_SYNC_FRAME_ACK, NULL, FALSE };
  }
  cases[n++] = (WsCase) { "message.delta in alice's session",
    g_strdup_printf ("{\"type\":\"message.delta\",\"session\":\"%s\",\"message\":\"%s\","
                     "\"delta\":\"pwned\",\"index\":0}", f->alice_session, f->alice_message),
    -1, NULL, TRUE };
  /* Asking for an answer in alice's session: no such session, for bob's
   * devices only; nothing is stored. */
  cases[n++] = (WsCase) { "chat in alice's session",
    g_strdup_printf ("{\"type\":\"chat\",\"session\":\"%s\",\"message\":\"%s\","
                     "\"reply\":\"%s\"}", f->alice_session, f->alice_message, new_op4),
    HELIX_SYNC_FRAME_CHAT_FAILED, NULL, TRUE };
  /* Stopping an answer of alice's: ignored, nothing to anyone. */
  cases[n++] = (WsCase) { "chat.cancel of alice's answer",
    g_strdup_printf ("{\"type\":\"chat.cancel\",\"session\":\"%s\",\"reply\":\"%s\"}",
                     f->alice_session, f->alice_message),
    -1, NULL, FALSE };
  cases[n++] = (WsCase) { "chat.failed from a client",
    g_strdup_printf ("{\"type\":\"chat.failed\",\"session\":\"%s\",\"reply\":\"%s\","
                     "\"error\":\"x\"}", f->alice_session, f->alice_message),
    HELIX_SYNC_FRAME_ERROR, "forbidden", FALSE };
  cases[n++] = (WsCase) { "ping", g_strdup ("{\"type\":\"ping\",\"id\":\"p\"}"),
                          HELIX_SYNC_FRAME_PONG, NULL, FALSE };
  cases[n++] = (WsCase) { "pong", g_strdup ("{\"type\":\"pong\",\"id\":\"p\"}"), -1, NULL, FALSE };
  cases[n++] = (WsCase) { "error", g_strdup ("{\"type\":\"error\",\"code\":\"bad_op\","
                                             "\"message\":\"x\"}"), -1, NULL, FALSE };
  cases[n++] = (WsCase) { "ack from a client",
    g_strdup_printf ("{\"type\":\"ack\",\"acks\":[{\"op\":\"%s\",\"seq\":1}]}", f->alice_op),
    HELIX_SYNC_FRAME_ERROR, "forbidden", FALSE };
  cases[n++] = (WsCase) { "ops from a client",
    g_strdup_printf ("{\"type\":\"ops\",\"ops\":[%.*s,\"seq\":1}]}",
                     (int) strlen (f->alice_op_json) - 1, f->alice_op_json),
    HELIX_SYNC_FRAME_ERROR, "forbidden", FALSE };
  cases[n++] = (WsCase) { "welcome from a client",
    g_strdup_printf ("{\"type\":\"welcome\",\"user\":\"alice\",\"device\":\"%s\",\"head\":4}",
                     f->alice_a.device),
    HELIX_SYNC_FRAME_ERROR, "forbidden", FALSE };
  cases[n++] = (WsCase) { "synced from a client", g_strdup ("{\"type\":\"synced\",\"cursor\":4}"),
                          HELIX_SYNC_FRAME_ERROR, "forbidden", FALSE };
  g_assert_cmpuint (n, <=, G_N_ELEMENTS (cases));

  for (guint i = 0; i < n; i++)
    {
      WsCase *c = &cases[i];
      g_autofree char *sentinel = g_strdup_printf ("ws-%u", i);
      g_autofree char *after = NULL;

      g_test_message ("bob's socket: %s", c->name);
      client_send (bob_ws, c->text);

      if (c->reply == HELIX_SYNC_FRAME_ACK)
        {
          g_autoptr(HelixSyncFrame) ack = client_expect (bob_ws, HELIX_SYNC_FRAME_ACK);
          const HelixSyncAck *acks;
          guint n_acks;

          acks = helix_sync_frame_get_acks (ack, &n_acks);
          g_assert_cmpuint (n_acks, ==, 1);
          /* Bob's log grows by one: the op went to bob's namespace. */
          g_assert_cmpint (acks[0].seq, ==, ++bob_head);
          /* Bob's other device gets it; alice's does not (sentinel below). */
          {
            g_autoptr(HelixSyncFrame) live = client_expect (bob_other, HELIX_SYNC_FRAME_OPS);

            g_assert_cmpuint (helix_sync_frame_get_ops (live)->len, ==, 1);
          }
        }
      else if (c->reply == HELIX_SYNC_FRAME_ERROR)
        client_expect_error (bob_ws, c->code);
      else if (c->reply >= 0)
        {
          g_autoptr(HelixSyncFrame) reply = client_expect (bob_ws, c->reply);
        }

      /* Relayed to bob's other device (a delta), or sent to all bob's devices
       * (a failed chat). */
      if (c->relayed)
        {
          g_autoptr(HelixSyncFrame) delta = client_expect (bob_other,
                                                           c->reply >= 0 ? (HelixSyncFrameKind) c->reply
                                                                         : HELIX_SYNC_FRAME_MESSAGE_DELTA);

          g_assert_cmpstr (helix_sync_frame_get_session_id (delta), ==, f->alice_session);
        }

      /* Bob's socket stays open and has nothing more; bob's other device and
       * alice's get nothing else. */
      client_sentinel (bob_ws, sentinel);
      client_sentinel (bob_other, sentinel);
      client_sentinel (alice_ws, sentinel);

      after = dump_state (f, f->alice);
      g_assert_cmpstr (after, ==, alice_before);
    }

  /* Over REST too, alice's session is as it was; bob's copy is bob's. */
  {
    g_autoptr(GBytes) response = NULL;
    g_autofree char *path = route_path ("/api/v1/sessions/{id}", f->alice_session);
    g_autoptr(SoupMessage) msg = http (f, "GET", path, f->alice_a.token, NULL, &response);
    g_autoptr(JsonNode) root = NULL;

    helix_test_http_assert_status (msg, response, 200);
    root = helix_test_http_parse_json (response);
    g_assert_cmpstr (json_object_get_string_member (json_node_get_object (root), "title"), ==,
                     "Alice's secrets");
    g_assert_false (json_object_get_boolean_member (json_node_get_object (root), "pinned"));
  }

  /* A second hello, with alice's device id: forbidden, and closed. */
  {
    g_autofree char *hello = g_strdup_printf ("{\"type\":\"hello\",\"cursor\":0,"
                                              "\"device\":\"%s\"}", f->alice_a.device);
    g_autofree char *after = NULL;

    client_send (bob_ws, hello);
    client_expect_error (bob_ws, "forbidden");
    g_assert_cmpuint (client_wait_closed (bob_ws), ==, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
    client_sentinel (alice_ws, "after-second-hello");
    after = dump_state (f, f->alice);
    g_assert_cmpstr (after, ==, alice_before);
    n++;
  }

  g_test_message ("WebSocket matrix: %u frames", n + 1);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    ws_case_clear (&cases[i]);
}

/* Revocation {{{1 */

static void
test_revocation (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);
  g_autoptr(Client) b = client_connect (f, f->alice_b.token);
  g_autoptr(Client) c = client_connect (f, f->alice_c.token);
  g_autoptr(Client) bob = client_connect (f, f->bob_c.token);
  g_autoptr(GPtrArray) ba = client_sync (a, "dev-a", "alice");
  g_autoptr(GPtrArray) bb = client_sync (b, "dev-b", "alice");
  g_autoptr(GPtrArray) bc = client_sync (c, "dev-cc", "alice");
  g_autoptr(GPtrArray) bbob = client_sync (bob, "dev-bob", "bob");
  g_autofree char *c_path = route_path ("/api/v1/devices/{id}", f->alice_c.device);
  g_autofree char *a_path = route_path ("/api/v1/devices/{id}", f->alice_a.device);
  g_autofree char *session_path = route_path ("/api/v1/sessions/{id}", f->alice_session);
  const HelixGatewayRoute *routes;
  guint n_routes;
  gint64 sent_us;
  guint status = 0;

  routes = _helix_gateway_get_routes (&n_routes);

  /* Bob cannot revoke alice's device, nor log it out. */
  expect (f, "DELETE", a_path, f->bob_c.token, NULL, 404, "not_found");
  client_sentinel (a, "a-not-revoked-by-bob");

  /* Logout: the socket of that device closes with 4001 at once. */
  sent_us = g_get_monotonic_time ();
  expect (f, "POST", "/api/v1/auth/logout", f->alice_b.token, NULL, 204, NULL);
  g_assert_cmpuint (client_wait_closed (b), ==, 4001);
  g_test_message ("logout closed the socket after %.1f ms", (b->closed_us - sent_us) / 1000.0);
  g_assert_cmpint (b->closed_us - sent_us, <, G_USEC_PER_SEC);

  /* Device revoke by another device of the user: the same. */
  sent_us = g_get_monotonic_time ();
  expect (f, "DELETE", c_path, f->alice_a.token, NULL, 204, NULL);
  g_assert_cmpuint (client_wait_closed (c), ==, 4001);
  g_assert_cmpint (c->closed_us - sent_us, <, G_USEC_PER_SEC);

  /* The others are unaffected. */
  client_sentinel (a, "a-still-open");
  client_sentinel (bob, "bob-still-open");

  /* Both tokens are refused everywhere at once, and cannot open a socket. */
  for (guint i = 0; i < n_routes; i++)
    {
      g_auto(GStrv) methods = g_strsplit (routes[i].methods, ", ", -1);
      g_autofree char *path = route_path (routes[i].pattern, f->alice_session);

      if (g_str_has_prefix (routes[i].pattern, "/health") ||
          g_str_has_prefix (routes[i].pattern, "/metrics") ||
          g_str_equal (routes[i].pattern, "/api/v1/auth/login"))
        continue;

      for (guint m = 0; methods[m] != NULL; m++)
        {
          expect (f, methods[m], path, f->alice_b.token, "{\"title\":\"x\"}", 401,
                  "invalid_token");
          expect (f, methods[m], path, f->alice_c.token, "{\"title\":\"x\"}", 401,
                  "invalid_token");
        }
    }
  g_assert_null (try_connect (f, f->alice_b.token, NULL, &status));
  g_assert_cmpuint (status, ==, SOUP_STATUS_UNAUTHORIZED);
  g_assert_null (try_connect (f, f->alice_c.token, NULL, &status));
  g_assert_cmpuint (status, ==, SOUP_STATUS_UNAUTHORIZED);

  /* Alice's remaining device still works. */
  expect (f, "GET", session_path, f->alice_a.token, NULL, 200, NULL);
}

/* Bad input {{{1 */

typedef struct
{
  const char *name;
  const char *body;         /* NULL: built by the test */
  gssize      len;          /* -1: a string */
  const char *content_type;
  guint       status;
  const char *code;         /* NULL: any code */
} BadBody;

/* Each is sent as the body of POST /api/v1/sessions, PATCH on bob's session
 * and POST /api/v1/auth/login (bob's password where one is needed). */
static const BadBody bad_bodies[] = {
  { "invalid UTF-8", "{\"title\":\"\xff\xfe\"}", -1, "application/json", 400, "invalid_json" },
  { "overlong UTF-8", "{\"title\":\"\xc0\xaf\"}", -1, "application/json", 400, "invalid_json" },
  { "NUL byte", "{\"title\":\"a\0b\"}", 15, "application/json", 400, "invalid_json" },
  { "escaped NUL", "{\"title\":\"a\\u0000b\"}", -1, "application/json", 400, "invalid_json" },
  { "lone surrogate", "{\"title\":\"\\ud800\"}", -1, "application/json", 400, "invalid_json" },
  /* No REST member is a number: refused as JSON or as a wrong type. */
  { "1e999999", "{\"title\":\"x\",\"pinned\":1e999999}", -1, "application/json", 400, NULL },
  { "2^53", "{\"title\":\"x\",\"pinned\":9007199254740992}", -1, "application/json", 400,
    NULL },
  { "-2^53", "{\"title\":\"x\",\"pinned\":-9007199254740992}", -1, "application/json", 400,
    NULL },
  { "1e999999 alone", "{\"title\":1e999999}", -1, "application/json", 400, NULL },
  { "NaN", "{\"title\":NaN}", -1, "application/json", 400, "invalid_json" },
  { "leading zero", "{\"title\":\"x\",\"pinned\":01}", -1, "application/json", 400,
    "invalid_json" },
  { "trailing text", "{\"title\":\"x\"} {}", -1, "application/json", 400, "invalid_json" },
  { "comment", "{\"title\":\"x\" /* */}", -1, "application/json", 400, "invalid_json" },
  { "trailing comma", "{\"title\":\"x\",}", -1, "application/json", 400, "invalid_json" },
  { "single quotes", "{'title':'x'}", -1, "application/json", 400, "invalid_json" },
  { "not an object", "[\"title\"]", -1, "application/json", 400, "invalid_request" },
  { "a string", "\"title\"", -1, "application/json", 400, "invalid_request" },
  { "null", "null", -1, "application/json", 400, "invalid_request" },
  { "empty", "", -1, "application/json", 400, "invalid_json" },
  { "wrong type: title", "{\"title\":5}", -1, "application/json", 400, "invalid_request" },
  { "wrong type: title null", "{\"title\":null}", -1, "application/json", 400,
    "invalid_request" },
  { "wrong type: title object", "{\"title\":{\"a\":1}}", -1, "application/json", 400,
    "invalid_request" },
  { "duplicated member", "{\"title\":\"a\",\"title\":\"b\"}", -1, "application/json", 400,
    "invalid_json" },
  { "duplicated nested member", "{\"title\":\"a\",\"x\":[{\"k\":1,\"k\":1}]}", -1,
    "application/json", 400, "invalid_json" },
  { "unknown member", "{\"title\":\"a\",\"owner\":\"alice\"}", -1, "application/json", 400,
    "invalid_request" },
  { "text/plain", "{\"title\":\"a\"}", -1, "text/plain", 415, "unsupported_media_type" },
  { "form", "title=a", -1, "application/x-www-form-urlencoded", 415, "unsupported_media_type" },
  { "depth 17", NULL, 17, "application/json", 400, "invalid_json" },
  { "depth 8000", NULL, 8000, "application/json", 400, "invalid_json" },
  { "depth 100000", NULL, 100000, "application/json", 413, "too_large" },
  { "16 KiB + 1", NULL, 0, "application/json", 413, "too_large" },
};

static char *
nested_body (guint  depth,
             gsize *len)
{
  GString *s = g_string_new ("{\"title\":\"x\",\"pinned\":");

  for (guint i = 1; i < depth; i++)
    g_string_append_c (s, '[');
  for (guint i = 1; i < depth; i++)
    g_string_append_c (s, ']');
  g_string_append_c (s, '}');
  *len = s->len;

  return g_string_free (s, FALSE);
}

static char *
large_body (gsize *len)
{
  gsize size = HELIX_GATEWAY_MAX_BODY_BYTES + 1;
  char *body = g_malloc (size + 1);

  memset (body, 'x', size);
  memcpy (body, "{\"title\":\"", 10);
  memcpy (body + size - 2, "\"}", 2);
  body[size] = '\0';
  *len = size;

  return body;
}

/* Whether the gateway still serves: /health, and a valid push from bob. */
static void
assert_still_serving (Fixture *f)
{
  g_autoptr(Client) bob = client_connect (f, f->bob_c.token);
  g_autoptr(GPtrArray) backlog = client_sync (bob, "dev-c", "bob");
  g_autofree char *op_id = helix_uuid_new_v7 ();
  g_autofree char *session = helix_uuid_new_v7 ();
  g_autofree char *op = session_op_json (op_id, session, "dev-c", "still here");
  g_autofree char *push = push_json (op);
  g_autoptr(HelixSyncFrame) ack = NULL;

  expect (f, "GET", "/health", NULL, NULL, 200, NULL);
  client_send (bob, push);
  ack = client_expect (bob, HELIX_SYNC_FRAME_ACK);
}

static void
test_bad_rest_bodies (Fixture       *f,
                      gconstpointer  data)
{
  g_autofree char *before = dump_state (f, 0);
  g_autofree char *patch_path = route_path ("/api/v1/sessions/{id}", f->bob_session);
  const char *targets[][2] = {
    { "POST", "/api/v1/sessions" },
    { "PATCH", patch_path },
    { "POST", "/api/v1/auth/login" },
  };
  guint n_requests = 0;

  for (guint i = 0; i < G_N_ELEMENTS (bad_bodies); i++)
    {
      const BadBody *b = &bad_bodies[i];
      g_autofree char *built = NULL;
      const char *body = b->body;
      gsize len = b->len < 0 ? strlen (b->body) : (gsize) b->len;

      if (body == NULL && b->len == 0)
        body = built = large_body (&len);
      else if (body == NULL)
        body = built = nested_body ((guint) b->len, &len);

      for (guint t = 0; t < G_N_ELEMENTS (targets); t++)
        {
          g_autoptr(GBytes) response = NULL;
          g_autoptr(SoupMessage) msg = NULL;
          g_autofree char *after = NULL;
          const char *code = b->code;
          guint status = b->status;

          g_test_message ("bad body %s: %s %s", b->name, targets[t][0], targets[t][1]);
          msg = http_full (f, targets[t][0], targets[t][1], t == 2 ? NULL : f->bob_c.token, NULL,
                           b->content_type, body, (gssize) len, &response);
          helix_test_http_assert_status (msg, response, status);
          assert_error_body (msg, response, code);
          n_requests++;

          after = dump_state (f, 0);
          g_assert_cmpstr (after, ==, before);
        }
    }

  g_test_message ("bad REST bodies: %u cases, %u requests", (guint) G_N_ELEMENTS (bad_bodies),
                  n_requests);
  assert_still_serving (f);
}

typedef struct
{
  const char *name;
  const char *text;
  gssize      len;       /* -1: a string */
  const char *code;      /* the error frame; NULL: the reply is a pong with id "ok" */
} BadFrame;

/* Frames that get an error and leave the connection open. */
static const BadFrame bad_frames[] = {
  { "NUL byte", "{\"type\":\"ping\",\"id\":\"a\0b\"}", 27, "bad_frame" },
  { "escaped NUL", "{\"type\":\"ping\",\"id\":\"a\\u0000b\"}", -1, "bad_frame" },
  { "lone surrogate", "{\"type\":\"ping\",\"id\":\"\\udc00\"}", -1, "bad_frame" },
  { "1e999999", "{\"type\":\"ping\",\"id\":1e999999}", -1, "bad_frame" },
  { "2^53 index", "{\"type\":\"message.delta\","
    "\"session\":\"0190f3a2-1c00-7000-8000-000000000001\","
    "\"message\":\"0190f3a2-1c00-7000-8000-000000000002\",\"delta\":\"x\","
    "\"index\":9007199254740992}", -1, "bad_frame" },
  { "1e999999 cost", "{\"type\":\"push\",\"ops\":[{\"op\":\"0190f3a2-1c00-7000-8000-000000000003\","
    "\"type\":\"message.put\",\"id\":\"0190f3a2-1c00-7000-8000-000000000004\","
    "\"session\":\"0190f3a2-1c00-7000-8000-000000000001\",\"hlc\":\"1763769600000:0:dev-c\","
    "\"data\":{\"role\":\"user\",\"content\":\"x\",\"status\":\"done\",\"cost\":1e999999}}]}",
    -1, "bad_op" },
  { "wrong type: ops", "{\"type\":\"push\",\"ops\":\"x\"}", -1, "bad_frame" },
  { "wrong type: ping id", "{\"type\":\"ping\",\"id\":5}", -1, "bad_frame" },
  { "wrong type: null", "{\"type\":\"ping\",\"id\":null}", -1, "bad_frame" },
  { "wrong type: type", "{\"type\":5}", -1, "bad_frame" },
  { "unknown member", "{\"type\":\"ping\",\"id\":\"a\",\"user\":\"alice\"}", -1, "bad_frame" },
  { "unknown op member", "{\"type\":\"push\",\"ops\":["
    "{\"op\":\"0190f3a2-1c00-7000-8000-000000000005\","
    "\"type\":\"session.put\",\"id\":\"0190f3a2-1c00-7000-8000-000000000001\","
    "\"hlc\":\"1763769600000:0:dev-c\",\"user\":\"alice\",\"data\":{\"title\":\"x\"}}]}",
    -1, "bad_op" },
  { "seq in a push", "{\"type\":\"push\",\"ops\":[{\"op\":\"0190f3a2-1c00-7000-8000-000000000006\","
    "\"type\":\"session.put\",\"id\":\"0190f3a2-1c00-7000-8000-000000000001\","
    "\"hlc\":\"1763769600000:0:dev-c\",\"seq\":1,\"data\":{\"title\":\"x\"}}]}",
    -1, "bad_op" },
  { "unknown type", "{\"type\":\"session.put\"}", -1, "unknown_type" },
  { "not JSON", "ping", -1, "bad_frame" },
  { "trailing text", "{\"type\":\"ping\"} {}", -1, "bad_frame" },
  { "an array", "[{\"type\":\"ping\"}]", -1, "bad_frame" },
  /* PROTOCOL.md section 3: the reference parser keeps the last member. */
  { "duplicated member", "{\"type\":\"ping\",\"id\":\"alice\",\"id\":\"ok\"}", -1, NULL },
};

static void
test_bad_frames (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(Client) bob = client_connect (f, f->bob_c.token);
  g_autoptr(Client) alice = client_connect (f, f->alice_a.token);
  g_autoptr(GPtrArray) bob_backlog = client_sync (bob, "dev-c", "bob");
  g_autoptr(GPtrArray) alice_backlog = client_sync (alice, "dev-a", "alice");
  g_autofree char *before = dump_state (f, 0);
  g_autofree char *after = NULL;
  guint n_cases = 0;

  for (guint i = 0; i < G_N_ELEMENTS (bad_frames); i++)
    {
      const BadFrame *b = &bad_frames[i];
      g_autofree char *sentinel = g_strdup_printf ("frame-%u", i);

      g_test_message ("bad frame: %s", b->name);
      client_send_raw (bob, b->text, b->len < 0 ? strlen (b->text) : (gsize) b->len);
      if (b->code != NULL)
        client_expect_error (bob, b->code);
      else
        {
          g_autoptr(HelixSyncFrame) pong = client_expect (bob, HELIX_SYNC_FRAME_PONG);

          g_assert_cmpstr (helix_sync_frame_get_ping_id (pong), ==, "ok");
        }
      client_sentinel (bob, sentinel);
      client_sentinel (alice, sentinel);
      n_cases++;
    }
  after = dump_state (f, 0);
  g_assert_cmpstr (after, ==, before);
  g_clear_pointer (&after, g_free);

  /* Frames that close the connection. Each gets a socket of its own. */
  {
    static const struct {
      const char *name;
      guint       kind;      /* 0 oversize, 1 deep, 2 invalid UTF-8, 3 binary */
      gushort     close_code;
    } closing[] = {
      { "1 MiB + 1", 0, SOUP_WEBSOCKET_CLOSE_TOO_BIG },
      { "depth 100000", 1, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION },
      { "invalid UTF-8", 2, SOUP_WEBSOCKET_CLOSE_BAD_DATA },
      { "binary", 3, SOUP_WEBSOCKET_CLOSE_UNSUPPORTED_DATA },
    };

    for (guint i = 0; i < G_N_ELEMENTS (closing); i++)
      {
        g_autoptr(Client) c = client_connect (f, f->bob_c.token);
        g_autoptr(GPtrArray) backlog = client_sync (c, "dev-x", "bob");
        g_autofree char *sentinel = g_strdup_printf ("closing-%u", i);

        g_test_message ("bad frame: %s", closing[i].name);
        switch (closing[i].kind)
          {
          case 0:
            {
              gsize size = 1024 * 1024 + 1;
              g_autofree char *text = g_malloc (size + 1);

              memset (text, ' ', size);
              memcpy (text, "{\"type\":\"ping\",\"id\":\"x\"}", 24);
              text[size] = '\0';
              client_send_raw (c, text, size);
            }
            break;
          case 1:
            {
              g_autoptr(GString) deep = g_string_new ("{\"type\":\"ping\",\"id\":\"x\",\"a\":");

              for (guint j = 0; j < 100000; j++)
                g_string_append_c (deep, '[');
              for (guint j = 0; j < 100000; j++)
                g_string_append_c (deep, ']');
              g_string_append_c (deep, '}');
              client_send_raw (c, deep->str, deep->len);
              client_expect_error (c, "too_deep");
            }
            break;
          case 2:
            /* libsoup's client refuses to send it: a raw socket of bob's
             * does, and libsoup in the gateway closes it (PROTOCOL.md
             * would have bad_frame; README.md lists the difference). */
            g_assert_cmpuint (raw_send (f, f->bob_c.token, "{\"type\":\"ping\",\"id\":\"\xff\"}",
                                        24), ==, closing[i].close_code);
            client_sentinel (c, "utf8-unaffected");
            break;
          case 3:
            {
              g_autoptr(GBytes) bytes = g_bytes_new_static ("{\"type\":\"ping\"}", 15);

              soup_websocket_connection_send_message (c->ws, SOUP_WEBSOCKET_DATA_BINARY, bytes);
            }
            break;
          default:
            g_assert_not_reached ();
          }
        if (closing[i].kind != 2)
          g_assert_cmpuint (client_wait_closed (c), ==, closing[i].close_code);
        client_sentinel (alice, sentinel);
        n_cases++;
      }
  }

  after = dump_state (f, 0);
  g_assert_cmpstr (after, ==, before);
  g_test_message ("bad frames: %u cases", n_cases);

  client_sentinel (bob, "bob-still-open");
  assert_still_serving (f);
}

/* A page of another site: no WebSocket (403), and no CORS headers for it on
 * the REST API, so that its scripts cannot read the answers. */
static void
test_foreign_origin (Fixture       *f,
                     gconstpointer  data)
{
  g_autofree char *before = dump_state (f, 0);
  g_autofree char *after = NULL;
  g_autoptr(Client) good = NULL;
  guint status = 0;
  const char *methods[][2] = {
    { "GET", "/api/v1/sessions" },
    { "POST", "/api/v1/sessions" },
    { "GET", "/api/v1/devices" },
    { "OPTIONS", "/api/v1/sessions" },
  };

  g_assert_null (try_connect (f, f->bob_c.token, FOREIGN_ORIGIN, &status));
  g_assert_cmpuint (status, ==, SOUP_STATUS_FORBIDDEN);
  g_assert_null (try_connect (f, f->bob_c.token, "null", &status));
  g_assert_cmpuint (status, ==, SOUP_STATUS_FORBIDDEN);
  /* Case does not matter, a prefix or suffix is not the origin. */
  g_assert_null (try_connect (f, f->bob_c.token, GOOD_ORIGIN ".evil.example.com", &status));
  g_assert_cmpuint (status, ==, SOUP_STATUS_FORBIDDEN);
  g_assert_null (try_connect (f, f->bob_c.token, "http://helix.example.org", &status));
  g_assert_cmpuint (status, ==, SOUP_STATUS_FORBIDDEN);

  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      g_autoptr(GBytes) response = NULL;
      g_autoptr(SoupMessage) msg = NULL;
      SoupMessageHeaders *headers;

      msg = http_full (f, methods[i][0], methods[i][1], f->bob_c.token, FOREIGN_ORIGIN,
                       "text/plain", g_str_equal (methods[i][0], "POST") ? "{}" : NULL, -1,
                       &response);
      headers = soup_message_get_response_headers (msg);
      g_assert_null (soup_message_headers_get_one (headers, "Access-Control-Allow-Origin"));
      g_assert_null (soup_message_headers_get_one (headers, "Access-Control-Allow-Credentials"));
      g_assert_null (soup_message_headers_get_one (headers, "Access-Control-Allow-Methods"));
    }

  /* The refusal of the upgrade is an error like any other. */
  {
    g_autoptr(GBytes) response = NULL;
    g_autoptr(SoupMessage) msg = http_full (f, "GET", SYNC_PATH, f->bob_c.token, FOREIGN_ORIGIN,
                                            NULL, NULL, -1, &response);

    helix_test_http_assert_status (msg, response, SOUP_STATUS_FORBIDDEN);
    assert_error_body (msg, response, "forbidden_origin");
  }

  after = dump_state (f, 0);
  g_assert_cmpstr (after, ==, before);

  /* The allowed origin works, and is echoed. */
  good = try_connect (f, f->bob_c.token, GOOD_ORIGIN, &status);
  g_assert_nonnull (good);
  {
    g_autoptr(GBytes) response = NULL;
    g_autoptr(SoupMessage) msg = http_full (f, "GET", "/api/v1/sessions", f->bob_c.token,
                                            GOOD_ORIGIN, NULL, NULL, -1, &response);

    g_assert_cmpstr (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                   "Access-Control-Allow-Origin"), ==,
                     GOOD_ORIGIN);
  }
  assert_still_serving (f);
}

/* Rate limit {{{1 */

static const HelixTestGatewaySetup user_limit = { .rate_limit_per_user = "0.01,3" };
static const HelixTestGatewaySetup address_limit = { .rate_limit_per_address = "0.01,12" };

static void
assert_rate_limited (Fixture    *f,
                     const char *token)
{
  g_autoptr(GBytes) response = NULL;
  g_autoptr(SoupMessage) msg = http (f, "GET", "/api/v1/sessions", token, NULL, &response);

  helix_test_http_assert_status (msg, response, 429);
  assert_error_body (msg, response, "rate_limited");
  helix_test_http_assert_retry_after (msg);
}

static void
test_rate_limit_user (Fixture       *f,
                      gconstpointer  data)
{
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;

  /* Logins are not charged to the user: bob has his whole burst. */
  for (guint i = 0; i < 3; i++)
    expect (f, "GET", "/api/v1/sessions", f->bob_c.token, NULL, 200, NULL);
  assert_rate_limited (f, f->bob_c.token);
  /* Another device of bob's shares his bucket; a write is refused too. */
  assert_rate_limited (f, f->bob_d.token);
  before = dump_state (f, 0);
  {
    g_autoptr(GBytes) response = NULL;
    g_autoptr(SoupMessage) msg = http (f, "POST", "/api/v1/sessions", f->bob_c.token,
                                       "{\"title\":\"over\"}", &response);

    helix_test_http_assert_status (msg, response, 429);
    helix_test_http_assert_retry_after (msg);
  }
  after = dump_state (f, 0);
  g_assert_cmpstr (after, ==, before);

  /* Bob's limit is not alice's. */
  expect (f, "GET", "/api/v1/sessions", f->alice_a.token, NULL, 200, NULL);
  expect (f, "GET", "/health", NULL, NULL, 200, NULL);
}

static void
test_rate_limit_address (Fixture       *f,
                         gconstpointer  data)
{
  /* The seven logins of the fixture took seven of the twelve. */
  for (guint i = 0; i < 5; i++)
    expect (f, "GET", "/api/v1/sessions", f->alice_a.token, NULL, 200, NULL);
  assert_rate_limited (f, f->alice_a.token);
  assert_rate_limited (f, f->bob_c.token);
  {
    g_autoptr(GBytes) response = NULL;
    g_autoptr(SoupMessage) msg = http (f, "POST", "/api/v1/auth/login", NULL,
                                       "{\"username\":\"bob\",\"password\":\"" BOB_PASSWORD "\","
                                       "\"device\":\"x\"}", &response);

    helix_test_http_assert_status (msg, response, 429);
    helix_test_http_assert_retry_after (msg);
  }
  /* /health is not limited. */
  expect (f, "GET", "/health", NULL, NULL, 200, NULL);
}

/* 503 {{{1 */

static const HelixTestGatewaySetup maintenance = { .maintenance = TRUE };

/* In maintenance every write is 503 with Retry-After, nothing is stored,
 * and reads go on. */
static void
test_unavailable (Fixture       *f,
                  gconstpointer  data)
{
  g_autofree char *before = dump_state (f, 0);
  g_autofree char *after = NULL;
  g_autofree char *path = route_path ("/api/v1/sessions/{id}", f->bob_session);
  const char *writes[][3] = {
    { "POST", "/api/v1/sessions", "{\"title\":\"x\"}" },
    { "PATCH", path, "{\"title\":\"x\"}" },
    { "DELETE", path, NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (writes); i++)
    {
      g_autoptr(GBytes) response = NULL;
      g_autoptr(SoupMessage) msg = http (f, writes[i][0], writes[i][1], f->bob_c.token,
                                         writes[i][2], &response);

      helix_test_http_assert_status (msg, response, SOUP_STATUS_SERVICE_UNAVAILABLE);
      assert_error_body (msg, response, "maintenance");
      helix_test_http_assert_retry_after (msg);
    }

  after = dump_state (f, 0);
  g_assert_cmpstr (after, ==, before);
  expect (f, "GET", path, f->bob_c.token, NULL, 200, NULL);
}

int
main (int   argc,
      char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);

#define ADD(path, setup, func) \
  g_test_add ("/helix/gateway/isolation/" path, Fixture, setup, fixture_setup, func, \
              fixture_teardown)

  ADD ("route-table", NULL, test_route_table);
  ADD ("rest-matrix", NULL, test_rest_matrix);
  ADD ("ws-matrix", NULL, test_ws_matrix);
  ADD ("revocation", NULL, test_revocation);
  ADD ("bad-rest-bodies", NULL, test_bad_rest_bodies);
  ADD ("bad-frames", NULL, test_bad_frames);
  ADD ("foreign-origin", NULL, test_foreign_origin);
  ADD ("rate-limit/user", &user_limit, test_rate_limit_user);
  ADD ("rate-limit/address", &address_limit, test_rate_limit_address);
  ADD ("unavailable", &maintenance, test_unavailable);

#undef ADD

  ret = g_test_run ();
  g_clear_pointer (&registered_paths, g_ptr_array_unref);

  return ret;
}
