/* test-gateway-ws.c: the sync WebSocket (GET /api/v1/sync)
 *
 * A real gateway in this process on an ephemeral loopback port, real libsoup
 * WebSocket clients, real users who log in through the API. Every wait is on
 * a real event (a frame, a close) with a timeout that fails the test.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sqlite3.h>

#include "helix-gateway.h"
#include "helix-gateway-db-private.h"
#include "helix-gateway-metrics.h"
#include "helix-gateway-private.h"
#include "helix-gateway-sync.h"
#include "helix-password.h"
#include "helix-test-sqlite.h"
#include "helix-test-util.h"
#include "helix-uuid.h"
#include "helix-test-gateway.h"

#define WAIT_TIMEOUT_S 30

#define SYNC_PATH     "/api/v1/sync"
#define GOOD_ORIGIN   "https://helix.example.org"
#define FOREIGN_ORIGIN "https://evil.example.com"

typedef struct
{
  char *token;
  char *device; /* the device id the gateway gave at login */
} Login;

typedef struct
{
  char         *dir;
  HelixGateway *gateway;
  SoupSession  *session;
  guint         port;
  gint64        alice;
  gint64        bob;
  Login         alice_a;
  Login         alice_b;
  Login         bob_c;
} Fixture;

typedef struct
{
  SoupWebsocketConnection *ws;
  GQueue                   frames; /* (element-type GBytes) */
  gboolean                 closed;
  gushort                  close_code;
  gint64                   last_frame_us;
} Client;

/* HTTP {{{1 */

typedef struct
{
  GBytes   *body;
  GError   *error;
  gboolean  done;
} HttpResult;

static void
send_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  HttpResult *r = user_data;

  r->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &r->error);
  r->done = TRUE;
}

static void
set_bearer (SoupMessage *msg,
            const char  *token)
{
  g_autofree char *value = g_strconcat ("Bearer ", token, NULL);

  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", value);
}

/* Sends a request, waits for the answer and checks its status. */
static JsonNode *
request (Fixture    *f,
         const char *method,
         const char *path,
         const char *token,
         const char *body,
         guint       status)
{
  g_autofree char *uri = g_strdup_printf ("http://127.0.0.1:%u%s", f->port, path);
  g_autoptr(SoupMessage) msg = soup_message_new (method, uri);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  HttpResult r = { 0 };

  if (token != NULL)
    set_bearer (msg, token);

  if (body != NULL)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));

      soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
    }

  soup_session_send_and_read_async (f->session, msg, G_PRIORITY_DEFAULT, NULL, send_cb, &r);
  helix_test_wait_for (r.done, WAIT_TIMEOUT_S, uri);
  g_assert_no_error (r.error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, status);

  if (g_bytes_get_size (r.body) == 0)
    {
      g_bytes_unref (r.body);
      return NULL;
    }

  json_parser_load_from_data (parser, g_bytes_get_data (r.body, NULL), g_bytes_get_size (r.body),
                              &error);
  g_assert_no_error (error);
  g_bytes_unref (r.body);

  return json_node_copy (json_parser_get_root (parser));
}

static void
login (Fixture    *f,
       const char *username,
       const char *password,
       Login      *out)
{
  g_autofree char *body = g_strdup_printf ("{\"username\":\"%s\",\"password\":\"%s\","
                                           "\"device\":\"test\"}", username, password);
  g_autoptr(JsonNode) root = request (f, "POST", "/api/v1/auth/login", NULL, body,
                                      SOUP_STATUS_OK);
  JsonObject *object = json_node_get_object (root);

  out->token = g_strdup (json_object_get_string_member (object, "token"));
  out->device = g_strdup (json_object_get_string_member (object, "device"));
}

static gint64
add_user (Fixture    *f,
          const char *name,
          const char *password)
{
  return helix_test_gateway_add_user (f->gateway, name, password);
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

/* Fixture {{{1 */

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autofree char *state_dir = NULL;

  f->dir = g_dir_make_tmp ("helix-gateway-ws-XXXXXX", &error);
  g_assert_no_error (error);
  state_dir = g_build_filename (f->dir, "state", NULL);

  g_assert_true (helix_gateway_config_set_listen (config, "127.0.0.1:0", &error));
  g_assert_true (helix_gateway_config_set_state_dir (config, state_dir, &error));
  g_assert_true (helix_gateway_config_set_allowed_origins (config, " " GOOD_ORIGIN " ;", &error));
  g_assert_no_error (error);

  f->gateway = helix_gateway_new (config);
  g_assert_true (helix_gateway_start (f->gateway, &error));
  g_assert_no_error (error);

  uri = g_uri_parse (helix_gateway_get_uri (f->gateway), G_URI_FLAGS_NONE, &error);
  g_assert_no_error (error);
  f->port = (guint) g_uri_get_port (uri);
  f->session = soup_session_new ();

  f->alice = add_user (f, "alice", "correct horse alice");
  f->bob = add_user (f, "bob", "battery staple bob");
  login (f, "alice", "correct horse alice", &f->alice_a);
  login (f, "alice", "correct horse alice", &f->alice_b);
  login (f, "bob", "battery staple bob", &f->bob_c);
}

static void
shutdown_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;

  helix_gateway_shutdown_finish (HELIX_GATEWAY (source), result, &error);
  g_assert_no_error (error);
  *done = TRUE;
}

static void
login_clear (Login *l)
{
  g_clear_pointer (&l->token, g_free);
  g_clear_pointer (&l->device, g_free);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  gboolean done = FALSE;

  g_clear_object (&f->session);
  helix_gateway_shutdown_async (f->gateway, NULL, shutdown_cb, &done);
  helix_test_wait_for (done, WAIT_TIMEOUT_S, "the gateway to shut down");
  g_clear_object (&f->gateway);

  helix_test_rm_rf (f->dir);
  g_free (f->dir);
  login_clear (&f->alice_a);
  login_clear (&f->alice_b);
  login_clear (&f->bob_c);
}

/* WebSocket clients {{{1 */

static void
on_client_message (SoupWebsocketConnection *ws,
                   gint                     type,
                   GBytes                  *message,
                   Client                  *c)
{
  g_assert_cmpint (type, ==, SOUP_WEBSOCKET_DATA_TEXT);
  c->last_frame_us = g_get_monotonic_time ();
  g_queue_push_tail (&c->frames, g_bytes_ref (message));
}

static void
on_client_closed (SoupWebsocketConnection *ws,
                  Client                  *c)
{
  c->closed = TRUE;
  c->close_code = soup_websocket_connection_get_close_code (ws);
}

typedef struct
{
  SoupWebsocketConnection *ws;
  GError                  *error;
  gboolean                 done;
} ConnectResult;

static void
connect_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  ConnectResult *r = user_data;

  r->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &r->error);
  r->done = TRUE;
}

/* Opens the sync WebSocket; returns %NULL and the HTTP status when refused. */
static Client *
try_connect (Fixture    *f,
             const char *token,
             const char *origin,
             guint      *status)
{
  g_autofree char *uri = g_strdup_printf ("ws://127.0.0.1:%u" SYNC_PATH, f->port);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", uri);
  ConnectResult r = { 0 };
  Client *c;

  if (token != NULL)
    set_bearer (msg, token);

  soup_session_websocket_connect_async (f->session, msg, origin, NULL, G_PRIORITY_DEFAULT, NULL,
                                        connect_cb, &r);
  helix_test_wait_for (r.done, WAIT_TIMEOUT_S, "the WebSocket handshake");
  *status = soup_message_get_status (msg);

  if (r.ws == NULL)
    {
      g_assert_nonnull (r.error);
      g_test_message ("WebSocket refused (%u): %s", *status, r.error->message);
      g_error_free (r.error);
      return NULL;
    }

  g_assert_no_error (r.error);
  /* No extension: the gateway offers none. */
  g_assert_null (soup_websocket_connection_get_extensions (r.ws));

  c = g_new0 (Client, 1);
  c->ws = r.ws;
  soup_websocket_connection_set_max_incoming_payload_size (c->ws, 2 * 1024 * 1024);
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

/* Waits for the next frame and parses it. */
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
client_skip (Client             *c,
             HelixSyncFrameKind  kind)
{
  g_autoptr(HelixSyncFrame) frame = client_expect (c, kind);
}

static void
client_expect_error (Client     *c,
                     const char *code,
                     const char *op_id)
{
  g_autoptr(HelixSyncFrame) frame = client_expect (c, HELIX_SYNC_FRAME_ERROR);

  g_assert_cmpstr (helix_sync_frame_get_error_code (frame), ==, code);
  g_assert_cmpstr (helix_sync_frame_get_error_op (frame), ==, op_id);
}

static gushort
client_wait_closed (Client *c)
{
  helix_test_wait_for (c->closed, WAIT_TIMEOUT_S, "the connection to close");

  return c->close_code;
}

/* A ping answered proves that nothing was queued for @c before it. */
static void
client_ping_pong (Client     *c,
                  const char *id)
{
  g_autofree char *text = g_strdup_printf ("{\"type\":\"ping\",\"id\":\"%s\"}", id);
  g_autoptr(HelixSyncFrame) pong = NULL;

  client_send (c, text);
  pong = client_expect (c, HELIX_SYNC_FRAME_PONG);
  g_assert_cmpstr (helix_sync_frame_get_ping_id (pong), ==, id);
}

/* Says hello with @cursor; returns the welcome head. The backlog is left. */
static gint64
client_hello (Client     *c,
              gint64      cursor,
              const char *device)
{
  g_autofree char *text = g_strdup_printf ("{\"type\":\"hello\",\"cursor\":%" G_GINT64_FORMAT
                                           ",\"device\":\"%s\"}", cursor, device);
  g_autoptr(HelixSyncFrame) welcome = NULL;

  client_send (c, text);
  welcome = client_expect (c, HELIX_SYNC_FRAME_WELCOME);
  g_assert_cmpstr (helix_sync_frame_get_device (welcome), ==, device);

  return helix_sync_frame_get_head (welcome);
}

/* Says hello with cursor 0 on an account without ops and reads up to synced. */
static void
client_sync_empty (Client     *c,
                   const char *device)
{
  g_autoptr(HelixSyncFrame) synced = NULL;

  g_assert_cmpint (client_hello (c, 0, device), ==, 0);
  synced = client_expect (c, HELIX_SYNC_FRAME_SYNCED);
  g_assert_cmpint (helix_sync_frame_get_cursor (synced), ==, 0);
}

/* A session.put op as a device writes it. */
static char *
op_json (const char *op_id,
         const char *device,
         const char *title)
{
  g_autofree char *session = helix_uuid_new_v7 ();

  return g_strdup_printf ("{\"op\":\"%s\",\"type\":\"session.put\",\"id\":\"%s\","
                          "\"hlc\":\"%" G_GINT64_FORMAT ":0:%s\",\"data\":{\"title\":\"%s\"}}",
                          op_id, session, g_get_real_time () / 1000, device, title);
}

static char *
push_json (char **ops,
           guint  n_ops)
{
  GString *s = g_string_new ("{\"type\":\"push\",\"ops\":[");

  for (guint i = 0; i < n_ops; i++)
    {
      if (i > 0)
        g_string_append_c (s, ',');
      g_string_append (s, ops[i]);
    }
  g_string_append (s, "]}");

  return g_string_free (s, FALSE);
}

/* Stores @n ops of alice's straight through the op log, as if pushed
 * earlier; @content_bytes > 0 makes them message.put ops that long. */
static void
store_ops (Fixture *f,
           guint    n,
           gsize    content_bytes)
{
  g_autoptr(GPtrArray) ops = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  g_autofree char *content = g_malloc (content_bytes + 1);
  g_autofree char *session = helix_uuid_new_v7 ();

  memset (content, 'x', content_bytes);
  content[content_bytes] = '\0';

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *id = helix_uuid_new_v7 ();
      g_autofree char *op_id = helix_uuid_new_v7 ();
      g_autofree char *text = NULL;
      g_autoptr(GError) error = NULL;
      HelixSyncOp *op;

      if (content_bytes > 0)
        text = g_strdup_printf ("{\"op\":\"%s\",\"type\":\"message.put\",\"id\":\"%s\","
                                "\"session\":\"%s\",\"hlc\":\"1763769600000:%u:old\","
                                "\"data\":{\"role\":\"user\",\"content\":\"%s\","
                                "\"status\":\"done\"}}", op_id, id, session, i, content);
      else
        text = op_json (op_id, "old", "stored");

      op = helix_sync_op_new_from_data (text, strlen (text), &error);
      g_assert_no_error (error);
      g_ptr_array_add (ops, op);
    }

  for (guint i = 0; i < n; i += 500)
    {
      g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
      g_autoptr(GPtrArray) applied = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
      g_autoptr(GError) error = NULL;

      helix_gateway_db_apply_ops (helix_gateway_get_db (f->gateway), f->alice, 0,
                                  (HelixSyncOp **) ops->pdata + i, MIN (500, n - i), seqs,
                                  applied, &error);
      g_assert_no_error (error);
    }
}

/* Reads ops frames up to synced, appending their seqs to @seqs; checks the
 * size limits and that synced names the last seq. Returns how many ops
 * frames came. */
static guint
client_collect_backlog (Client *c,
                        GArray *seqs)
{
  guint pages = 0;

  for (;;)
    {
      g_autoptr(HelixSyncFrame) frame = NULL;
      GBytes *bytes;
      GPtrArray *ops;

      helix_test_wait_for (c->frames.length > 0 || c->closed, WAIT_TIMEOUT_S, "a frame");
      g_assert_cmpuint (c->frames.length, >, 0);
      bytes = g_queue_peek_head (&c->frames);
      /* Every frame stays within the limit. */
      g_assert_cmpuint (g_bytes_get_size (bytes), <=, 1024 * 1024);

      frame = client_next (c);
      if (helix_sync_frame_get_kind (frame) == HELIX_SYNC_FRAME_SYNCED)
        {
          g_assert_cmpuint (seqs->len, >, 0);
          g_assert_cmpint (helix_sync_frame_get_cursor (frame), ==,
                           g_array_index (seqs, gint64, seqs->len - 1));
          return pages;
        }

      g_assert_cmpint (helix_sync_frame_get_kind (frame), ==, HELIX_SYNC_FRAME_OPS);
      ops = helix_sync_frame_get_ops (frame);
      g_assert_cmpuint (ops->len, <=, 500);
      for (guint i = 0; i < ops->len; i++)
        {
          gint64 seq = helix_sync_op_get_seq (g_ptr_array_index (ops, i));

          g_array_append_val (seqs, seq);
        }
      pages++;
    }
}

/* Checks that @seqs is @first, @first + 1, …, @last. */
static void
assert_seqs (GArray *seqs,
             gint64  first,
             gint64  last)
{
  g_assert_cmpint (seqs->len, ==, last - first + 1);
  for (guint i = 0; i < seqs->len; i++)
    g_assert_cmpint (g_array_index (seqs, gint64, i), ==, first + i);
}

/* Tests {{{1 */

static void
test_unauthenticated (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(JsonNode) plain = NULL;
  guint status = 0;

  g_assert_null (try_connect (f, NULL, NULL, &status));
  g_assert_cmpuint (status, ==, SOUP_STATUS_UNAUTHORIZED);

  g_assert_null (try_connect (f, "not-a-token", NULL, &status));
  g_assert_cmpuint (status, ==, SOUP_STATUS_UNAUTHORIZED);

  /* A plain GET (no upgrade) is refused too. */
  plain = request (f, "GET", SYNC_PATH, f->alice_a.token, NULL, SOUP_STATUS_BAD_REQUEST);
  g_assert_nonnull (plain);
}

static void
test_origin (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(Client) c = NULL;
  guint status = 0;

  g_assert_null (try_connect (f, f->alice_a.token, FOREIGN_ORIGIN, &status));
  g_assert_cmpuint (status, ==, SOUP_STATUS_FORBIDDEN);

  c = try_connect (f, f->alice_a.token, GOOD_ORIGIN, &status);
  g_assert_nonnull (c);
  g_assert_cmpuint (status, ==, SOUP_STATUS_SWITCHING_PROTOCOLS);
  client_sync_empty (c, "browser-1");
}

static void
test_hello_empty (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(Client) c = client_connect (f, f->alice_a.token);
  g_autoptr(HelixSyncFrame) welcome = NULL;
  g_autoptr(HelixSyncFrame) synced = NULL;

  client_send (c, "{\"type\":\"hello\",\"cursor\":0,\"device\":\"laptop-1\"}");
  welcome = client_expect (c, HELIX_SYNC_FRAME_WELCOME);
  g_assert_cmpstr (helix_sync_frame_get_user (welcome), ==, "alice");
  g_assert_cmpstr (helix_sync_frame_get_device (welcome), ==, "laptop-1");
  g_assert_cmpint (helix_sync_frame_get_head (welcome), ==, 0);
  synced = client_expect (c, HELIX_SYNC_FRAME_SYNCED);
  g_assert_cmpint (helix_sync_frame_get_cursor (synced), ==, 0);

  client_ping_pong (c, "after-sync");
}

static void
test_before_hello (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(Client) c = client_connect (f, f->alice_a.token);

  client_send (c, "{\"type\":\"ping\",\"id\":\"early\"}");
  client_expect_error (c, "forbidden", NULL);
  g_assert_cmpuint (client_wait_closed (c), ==, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
}

/* The value of an unlabelled counter of /metrics. */
static guint64
metric_value (const char *name)
{
  g_autofree char *text = helix_gateway_metrics_render ();
  g_autofree char *needle = g_strdup_printf ("\n%s ", name);
  const char *line = strstr (text, needle);

  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen (needle), NULL, 10);
}

static void
test_push_fanout (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);
  g_autoptr(Client) b = client_connect (f, f->alice_b.token);
  g_autoptr(Client) b2 = NULL;
  g_autoptr(HelixSyncFrame) ack = NULL;
  g_autoptr(HelixSyncFrame) live = NULL;
  g_autoptr(HelixSyncFrame) backlog = NULL;
  g_autoptr(HelixSyncFrame) synced = NULL;
  g_autoptr(HelixSyncFrame) reack = NULL;
  g_autoptr(HelixSyncFrame) ack4 = NULL;
  g_autoptr(HelixSyncFrame) live4 = NULL;
  g_autofree char *push = NULL;
  g_autofree char *repush = NULL;
  g_autofree char *push4 = NULL;
  char *op_ids[3];
  char *ops[3];
  const HelixSyncAck *acks;
  GPtrArray *received;
  guint n_acks;
  gint64 sent_us;
  guint64 accepted_before;
  guint64 fanned_out_before;

  client_sync_empty (a, "dev-a");
  client_sync_empty (b, "dev-b");
  accepted_before = metric_value ("helix_sync_ops_accepted_total");
  fanned_out_before = metric_value ("helix_sync_ops_fanned_out_total");

  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *title = g_strdup_printf ("Trip %u", i);

      op_ids[i] = helix_uuid_new_v7 ();
      ops[i] = op_json (op_ids[i], "dev-a", title);
    }

  push = push_json (ops, 3);
  client_send (a, push);
  ack = client_expect (a, HELIX_SYNC_FRAME_ACK);
  acks = helix_sync_frame_get_acks (ack, &n_acks);
  g_assert_cmpuint (n_acks, ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      g_assert_cmpstr (acks[i].op, ==, op_ids[i]);
      g_assert_cmpint (acks[i].seq, ==, i + 1);
    }
  g_assert_cmpint (head (f, f->alice), ==, 3);

  /* B gets exactly those ops, live. */
  live = client_expect (b, HELIX_SYNC_FRAME_OPS);
  received = helix_sync_frame_get_ops (live);
  g_assert_cmpuint (received->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      HelixSyncOp *op = g_ptr_array_index (received, i);

      g_assert_cmpstr (helix_sync_op_get_op_id (op), ==, op_ids[i]);
      g_assert_cmpint (helix_sync_op_get_seq (op), ==, i + 1);
    }
  /* Counted: three ops accepted, sent to the one other device. */
  g_assert_cmpuint (metric_value ("helix_sync_ops_accepted_total"), ==, accepted_before + 3);
  g_assert_cmpuint (metric_value ("helix_sync_ops_fanned_out_total"), ==, fanned_out_before + 3);
  client_ping_pong (b, "b-after-live");

  /* The pusher is not sent its own ops. */
  client_ping_pong (a, "a-after-ack");

  /* A re-sent op keeps its seq and is not fanned out again. */
  repush = push_json (&ops[1], 1);
  client_send (a, repush);
  reack = client_expect (a, HELIX_SYNC_FRAME_ACK);
  acks = helix_sync_frame_get_acks (reack, &n_acks);
  g_assert_cmpuint (n_acks, ==, 1);
  g_assert_cmpstr (acks[0].op, ==, op_ids[1]);
  g_assert_cmpint (acks[0].seq, ==, 2);
  g_assert_cmpint (head (f, f->alice), ==, 3);
  client_ping_pong (b, "b-no-duplicate");

  /* One more op, timed from the push to B's receipt (informational). */
  {
    g_autofree char *id4 = helix_uuid_new_v7 ();
    g_autofree char *op4 = op_json (id4, "dev-a", "Timed");
    char *one[] = { op4 };

    push4 = push_json (one, 1);
    sent_us = g_get_monotonic_time ();
    client_send (a, push4);
    live4 = client_expect (b, HELIX_SYNC_FRAME_OPS);
    g_test_message ("A->B delivery latency of one op: %.3f ms",
                    (b->last_frame_us - sent_us) / 1000.0);
    g_assert_cmpuint (helix_sync_frame_get_ops (live4)->len, ==, 1);
    g_assert_cmpint (helix_sync_op_get_seq (g_ptr_array_index (helix_sync_frame_get_ops (live4), 0)),
                     ==, 4);
    ack4 = client_expect (a, HELIX_SYNC_FRAME_ACK);
  }

  /* B reconnects from 0: the backlog has everything, then synced. */
  g_clear_pointer (&b, client_free);
  b2 = client_connect (f, f->alice_b.token);
  g_assert_cmpint (client_hello (b2, 0, "dev-b"), ==, 4);
  backlog = client_expect (b2, HELIX_SYNC_FRAME_OPS);
  received = helix_sync_frame_get_ops (backlog);
  g_assert_cmpuint (received->len, ==, 4);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpstr (helix_sync_op_get_op_id (g_ptr_array_index (received, i)), ==, op_ids[i]);
  for (guint i = 0; i < 4; i++)
    g_assert_cmpint (helix_sync_op_get_seq (g_ptr_array_index (received, i)), ==, i + 1);
  synced = client_expect (b2, HELIX_SYNC_FRAME_SYNCED);
  g_assert_cmpint (helix_sync_frame_get_cursor (synced), ==, 4);

  for (guint i = 0; i < 3; i++)
    {
      g_free (op_ids[i]);
      g_free (ops[i]);
    }
}

/* Reads frames of @c until it has seen @want_acks acks and @want_ops live ops,
 * checking that seqs only ever increase on the connection; records each op
 * id's seq in @seqs (op id → seq). Returns how many `ops` frames came. */
static guint
client_collect (Client     *c,
                guint       want_acks,
                guint       want_ops,
                GHashTable *seqs)
{
  guint n_acks = 0;
  guint n_ops = 0;
  guint n_frames = 0;
  gint64 last = 0;

  while (n_acks < want_acks || n_ops < want_ops)
    {
      g_autoptr(HelixSyncFrame) frame = client_next (c);

      if (helix_sync_frame_get_kind (frame) == HELIX_SYNC_FRAME_ACK)
        {
          guint n;
          const HelixSyncAck *acks = helix_sync_frame_get_acks (frame, &n);

          for (guint i = 0; i < n; i++, n_acks++)
            {
              g_assert_cmpint (acks[i].seq, >, last);
              last = acks[i].seq;
              g_hash_table_insert (seqs, g_strdup (acks[i].op), GINT_TO_POINTER (acks[i].seq));
            }
        }
      else
        {
          GPtrArray *ops;

          g_assert_cmpint (helix_sync_frame_get_kind (frame), ==, HELIX_SYNC_FRAME_OPS);
          ops = helix_sync_frame_get_ops (frame);
          n_frames++;
          for (guint i = 0; i < ops->len; i++, n_ops++)
            {
              HelixSyncOp *op = g_ptr_array_index (ops, i);
              gint64 seq = helix_sync_op_get_seq (op);
              gpointer known;

              g_assert_cmpint (seq, >, last);
              last = seq;
              /* Every device sees an op under the seq its pusher was acked with. */
              if (g_hash_table_lookup_extended (seqs, helix_sync_op_get_op_id (op), NULL, &known))
                g_assert_cmpint (GPOINTER_TO_INT (known), ==, seq);
              else
                g_hash_table_insert (seqs, g_strdup (helix_sync_op_get_op_id (op)),
                                     GINT_TO_POINTER (seq));
            }
        }
    }

  /* Nothing more than asked for. */
  g_assert_cmpuint (n_acks, ==, want_acks);
  g_assert_cmpuint (n_ops, ==, want_ops);

  return n_frames;
}

/* Pushes of several connections that arrive together are stored by one
 * commit: each pusher gets its ack, the others the ops, every connection in
 * increasing seq order, and the log has each op once. The ops of one commit
 * reach a device in as few frames as that order allows: with the database
 * locked by another process while they arrive, the pushes make at most two
 * commits (the first push's, waiting for the lock, and all the others), so
 * the device that pushed nothing gets at most two `ops` frames, and each
 * pusher at most one before each of its acks and one after the last. */
static void
test_group_commit (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);
  g_autoptr(Client) b = client_connect (f, f->alice_b.token);
  g_autoptr(Client) c = client_connect (f, f->alice_a.token);
  g_autoptr(GHashTable) seqs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GPtrArray) strings = g_ptr_array_new_with_free_func (g_free);
  const char *pushers[] = { "dev-a", "dev-b", "dev-a", "dev-b", "dev-a" };
  sqlite3 *lock = NULL;

  client_sync_empty (a, "dev-a");
  client_sync_empty (b, "dev-b");
  client_sync_empty (c, "dev-c");

  lock = helix_test_sqlite_open (helix_gateway_db_get_path (helix_gateway_get_db (f->gateway)),
                                 SQLITE_OPEN_READWRITE);
  g_assert_cmpint (sqlite3_exec (lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), ==, SQLITE_OK);

  /* Sent without waiting: they reach the gateway in the same few reads. */
  for (guint i = 0; i < G_N_ELEMENTS (pushers); i++)
    {
      g_autofree char *id = helix_uuid_new_v7 ();
      g_autofree char *title = g_strdup_printf ("Batch %u", i);
      char *op = op_json (id, pushers[i], title);
      char *push = push_json (&op, 1);

      client_send (g_str_equal (pushers[i], "dev-a") ? a : b, push);
      g_ptr_array_add (strings, op);
      g_ptr_array_add (strings, push);
    }

  /* Answered before any ack: every push was read while the commit waits. */
  client_ping_pong (a, "a-read");
  client_ping_pong (b, "b-read");
  g_assert_cmpint (sqlite3_exec (lock, "ROLLBACK", NULL, NULL, NULL), ==, SQLITE_OK);
  g_clear_pointer (&lock, sqlite3_close);

  g_assert_cmpuint (client_collect (a, 3, 2, seqs), <=, 3);
  g_assert_cmpuint (client_collect (b, 2, 3, seqs), <=, 3);
  g_assert_cmpuint (client_collect (c, 0, 5, seqs), <=, 2);

  /* Five ops, five different seqs, all stored. */
  g_assert_cmpuint (g_hash_table_size (seqs), ==, 5);
  g_assert_cmpint (head (f, f->alice), ==, 5);
  client_ping_pong (a, "a-done");
  client_ping_pong (b, "b-done");
  client_ping_pong (c, "c-done");
}

static void
test_backlog_cursor (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);
  g_autoptr(Client) b = NULL;
  g_autoptr(HelixSyncFrame) backlog = NULL;
  g_autoptr(HelixSyncFrame) synced = NULL;
  char *ops[5];
  g_autofree char *push = NULL;

  client_sync_empty (a, "dev-a");
  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *id = helix_uuid_new_v7 ();

      ops[i] = op_json (id, "dev-a", "x");
    }
  push = push_json (ops, 5);
  client_send (a, push);
  client_skip (a, HELIX_SYNC_FRAME_ACK);

  /* From cursor 3, only seqs 4 and 5. */
  b = client_connect (f, f->alice_b.token);
  g_assert_cmpint (client_hello (b, 3, "dev-b"), ==, 5);
  backlog = client_expect (b, HELIX_SYNC_FRAME_OPS);
  g_assert_cmpuint (helix_sync_frame_get_ops (backlog)->len, ==, 2);
  g_assert_cmpint (helix_sync_op_get_seq (g_ptr_array_index (helix_sync_frame_get_ops (backlog), 0)),
                   ==, 4);
  synced = client_expect (b, HELIX_SYNC_FRAME_SYNCED);
  g_assert_cmpint (helix_sync_frame_get_cursor (synced), ==, 5);

  for (guint i = 0; i < 5; i++)
    g_free (ops[i]);
}

static void
test_backlog_pages (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(Client) b = NULL;

  store_ops (f, 1203, 0);

  b = client_connect (f, f->alice_b.token);
  g_assert_cmpint (client_hello (b, 0, "dev-b"), ==, 1203);
  g_assert_cmpuint (client_collect_backlog (b, seqs), ==, 3);
  assert_seqs (seqs, 1, 1203);
}

static void
test_backlog_large_ops (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(Client) b = NULL;

  /* Five ops of 300 KiB: at most three fit in one 1 MiB frame. */
  store_ops (f, 5, 300 * 1024);

  b = client_connect (f, f->alice_b.token);
  g_assert_cmpint (client_hello (b, 0, "dev-b"), ==, 5);
  g_assert_cmpuint (client_collect_backlog (b, seqs), >=, 2);
  assert_seqs (seqs, 1, 5);
}

/* A push that lands while another device is still reading its backlog
 * reaches it exactly once, in seq order. */
static void
test_push_during_backlog (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);
  g_autoptr(Client) b = client_connect (f, f->alice_b.token);
  g_autofree char *id = helix_uuid_new_v7 ();
  g_autofree char *op = op_json (id, "dev-a", "during");
  g_autofree char *push = push_json (&op, 1);
  g_autofree char *hello = g_strdup ("{\"type\":\"hello\",\"cursor\":0,\"device\":\"dev-b\"}");
  g_autoptr(HelixSyncFrame) welcome = NULL;
  g_autoptr(HelixSyncFrame) ack = NULL;
  g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  const HelixSyncAck *acks;
  guint n_acks;

  store_ops (f, 1500, 0);
  g_assert_cmpint (client_hello (a, 1500, "dev-a"), ==, 1500);
  client_skip (a, HELIX_SYNC_FRAME_SYNCED);

  client_send (b, hello);
  welcome = client_expect (b, HELIX_SYNC_FRAME_WELCOME);
  g_assert_cmpint (helix_sync_frame_get_head (welcome), ==, 1500);
  client_send (a, push);
  ack = client_expect (a, HELIX_SYNC_FRAME_ACK);

  acks = helix_sync_frame_get_acks (ack, &n_acks);
  g_assert_cmpint (acks[0].seq, ==, 1501);

  /* Seq 1501 comes in the backlog or live after synced, but once. */
  client_collect_backlog (b, seqs);
  if (seqs->len == 1500)
    {
      g_autoptr(HelixSyncFrame) live = client_expect (b, HELIX_SYNC_FRAME_OPS);
      gint64 seq;

      g_assert_cmpuint (helix_sync_frame_get_ops (live)->len, ==, 1);
      seq = helix_sync_op_get_seq (g_ptr_array_index (helix_sync_frame_get_ops (live), 0));
      g_array_append_val (seqs, seq);
      g_test_message ("the push came after the backlog");
    }
  else
    g_test_message ("the push came during the backlog");
  assert_seqs (seqs, 1, 1501);
  client_ping_pong (b, "b-no-duplicate");
}

/* Ops the REST API makes reach the connected devices too. */
static void
test_rest_fanout (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(Client) b = client_connect (f, f->alice_b.token);
  g_autoptr(JsonNode) created = NULL;
  g_autoptr(HelixSyncFrame) live = NULL;
  HelixSyncOp *op;

  client_sync_empty (b, "dev-b");

  created = request (f, "POST", "/api/v1/sessions", f->alice_a.token, "{\"title\":\"From REST\"}",
                     SOUP_STATUS_CREATED);
  live = client_expect (b, HELIX_SYNC_FRAME_OPS);
  g_assert_cmpuint (helix_sync_frame_get_ops (live)->len, ==, 1);
  op = g_ptr_array_index (helix_sync_frame_get_ops (live), 0);
  g_assert_cmpint (helix_sync_op_get_seq (op), ==, 1);
  g_assert_cmpint (helix_sync_op_get_kind (op), ==, HELIX_SYNC_OP_SESSION_PUT);
  g_assert_cmpstr (helix_sync_op_get_id (op), ==,
                   json_object_get_string_member (json_node_get_object (created), "id"));
}

/* message.delta goes to the user's other devices and is not stored. */
static void
test_delta_relay (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);
  g_autoptr(Client) b = client_connect (f, f->alice_b.token);
  g_autoptr(Client) c = client_connect (f, f->bob_c.token);
  g_autoptr(HelixSyncFrame) delta = NULL;
  g_autofree char *session = helix_uuid_new_v7 ();
  g_autofree char *message = helix_uuid_new_v7 ();
  g_autofree char *text = NULL;

  client_sync_empty (a, "dev-a");
  client_sync_empty (b, "dev-b");
  client_sync_empty (c, "dev-c");

  text = g_strdup_printf ("{\"type\":\"message.delta\",\"session\":\"%s\","
                          "\"message\":\"%s\",\"delta\":\"Hel\",\"index\":0}",
                          session, message);
  client_send (a, text);
  delta = client_expect (b, HELIX_SYNC_FRAME_MESSAGE_DELTA);
  g_assert_cmpstr (helix_sync_frame_get_session_id (delta), ==, session);
  g_assert_cmpstr (helix_sync_frame_get_message_id (delta), ==, message);
  g_assert_cmpstr (helix_sync_frame_get_delta (delta), ==, "Hel");
  g_assert_cmpint (helix_sync_frame_get_index (delta), ==, 0);

  client_ping_pong (a, "a-not-echoed");
  client_ping_pong (c, "c-other-user");
  g_assert_cmpint (head (f, f->alice), ==, 0);
}

static void
test_config_origins (void)
{
  g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
  g_autoptr(GError) error = NULL;
  const char * const env[] = { "HELIX_ALLOWED_ORIGINS=https://env.example", NULL };
  const char *file = "[gateway]\nallowed-origins=https://A.example.org; http://localhost:5173 ;\n";
  static const char * const bad[] = {
    "https://example.org/path", "ftp://example.org", "example.org", "https://", "*",
    "https://user@example.org", "https://example.org?x=1",
  };

  /* Empty by default: every browser origin is refused. */
  g_assert_cmpuint (g_strv_length ((char **) helix_gateway_config_get_allowed_origins (config)),
                    ==, 0);
  g_assert_false (helix_gateway_config_origin_is_allowed (config, "https://a.example.org"));

  g_assert_true (helix_gateway_config_load_data (config, file, strlen (file), "test.conf",
                                                 &error));
  g_assert_no_error (error);
  g_assert_true (helix_gateway_config_origin_is_allowed (config, "https://a.example.org"));
  g_assert_true (helix_gateway_config_origin_is_allowed (config, "HTTP://LOCALHOST:5173"));
  g_assert_false (helix_gateway_config_origin_is_allowed (config, "http://localhost:5174"));
  g_assert_false (helix_gateway_config_origin_is_allowed (config, "null"));

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_false (helix_gateway_config_set_allowed_origins (config, bad[i], &error));
      g_assert_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE);
      g_clear_error (&error);
    }
  /* A refused value changes nothing. */
  g_assert_true (helix_gateway_config_origin_is_allowed (config, "https://a.example.org"));

  g_assert_true (helix_gateway_config_apply_environment (config, env, &error));
  g_assert_no_error (error);
  g_assert_true (helix_gateway_config_origin_is_allowed (config, "https://env.example"));
  g_assert_false (helix_gateway_config_origin_is_allowed (config, "https://a.example.org"));

  g_assert_true (helix_gateway_config_set_allowed_origins (config, "", &error));
  g_assert_false (helix_gateway_config_origin_is_allowed (config, "https://env.example"));
}

static void
test_op_conflict (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);
  g_autoptr(Client) b = client_connect (f, f->alice_b.token);
  g_autofree char *id = helix_uuid_new_v7 ();
  g_autofree char *other_id = helix_uuid_new_v7 ();
  g_autofree char *first = op_json (id, "dev-a", "First");
  g_autofree char *changed = op_json (id, "dev-a", "Changed");
  g_autofree char *fresh = op_json (other_id, "dev-a", "Fresh");
  g_autofree char *push1 = NULL;
  g_autofree char *push2 = NULL;
  char *batch[2];

  client_sync_empty (a, "dev-a");
  client_sync_empty (b, "dev-b");

  push1 = push_json (&first, 1);
  client_send (a, push1);
  client_skip (a, HELIX_SYNC_FRAME_ACK);
  client_skip (b, HELIX_SYNC_FRAME_OPS);
  g_assert_cmpint (head (f, f->alice), ==, 1);

  /* The reused id comes second: the new op before it is not stored either. */
  batch[0] = fresh;
  batch[1] = changed;
  push2 = push_json (batch, 2);
  client_send (a, push2);
  client_expect_error (a, "op_conflict", id);
  g_assert_cmpint (head (f, f->alice), ==, 1);

  client_ping_pong (a, "a-still-open");
  client_ping_pong (b, "b-got-nothing");
}

static void
test_isolation (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);
  g_autoptr(Client) b = client_connect (f, f->alice_b.token);
  g_autoptr(Client) c = client_connect (f, f->bob_c.token);
  g_autofree char *alice_id = helix_uuid_new_v7 ();
  g_autofree char *bob_id = helix_uuid_new_v7 ();
  g_autofree char *alice_op = op_json (alice_id, "dev-a", "Alice's");
  g_autofree char *bob_op = op_json (bob_id, "dev-c", "Bob's");
  g_autofree char *alice_push = push_json (&alice_op, 1);
  g_autofree char *bob_push = push_json (&bob_op, 1);
  g_autoptr(HelixSyncFrame) bob_ack = NULL;
  guint n_acks = 0;

  client_sync_empty (a, "dev-a");
  client_sync_empty (b, "dev-b");
  client_sync_empty (c, "dev-c");

  client_send (a, alice_push);
  client_skip (a, HELIX_SYNC_FRAME_ACK);
  client_skip (b, HELIX_SYNC_FRAME_OPS);
  client_ping_pong (c, "c-got-nothing");

  /* Bob's log is his own: his first op is his seq 1. */
  client_send (c, bob_push);
  bob_ack = client_expect (c, HELIX_SYNC_FRAME_ACK);
  g_assert_cmpint (helix_sync_frame_get_acks (bob_ack, &n_acks)[0].seq, ==, 1);
  g_assert_cmpuint (n_acks, ==, 1);
  client_ping_pong (a, "a-got-nothing");
  client_ping_pong (b, "b-got-nothing");
  g_assert_cmpint (head (f, f->alice), ==, 1);
  g_assert_cmpint (head (f, f->bob), ==, 1);
}

static void
test_bad_frames (Fixture       *f,
                 gconstpointer  data)
{
  static const struct {
    const char *text;
    const char *code;
  } cases[] = {
    { "{\"type\":\"ping\"", "bad_frame" },
    { "not json", "bad_frame" },
    { "[1,2]", "bad_frame" },
    { "{\"type\":\"teleport\"}", "unknown_type" },
    { "{\"type\":\"ping\",\"id\":5}", "bad_frame" },
    { "{\"type\":\"ping\",\"id\":\"a\",\"extra\":1}", "bad_frame" },
    { "{\"type\":\"ping\",\"id\":1e999999}", "bad_frame" },
    { "{\"type\":\"ping\",\"id\":\"\\ud800\"}", "bad_frame" },
    { "{\"type\":\"ping\",\"id\":\"a\\u0000b\"}", "bad_frame" },
    { "{\"type\":\"push\",\"ops\":[]}", "bad_frame" },
    { "{\"type\":\"ack\",\"acks\":[]}", "bad_frame" },
    { "{\"type\":\"synced\",\"cursor\":1}", "forbidden" },
  };
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);
  g_autoptr(GString) deep = g_string_new ("{\"type\":\"ping\",\"id\":\"x\",\"a\":");

  client_sync_empty (a, "dev-a");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(HelixSyncFrame) error = NULL;

      g_test_message ("bad frame %s", cases[i].text);
      client_send (a, cases[i].text);
      error = client_expect (a, HELIX_SYNC_FRAME_ERROR);
      g_assert_cmpstr (helix_sync_frame_get_error_code (error), ==, cases[i].code);
      client_ping_pong (a, "still-open");
    }

  /* A bad op in a push: bad_op naming it, nothing stored. */
  {
    g_autofree char *id = helix_uuid_new_v7 ();
    g_autofree char *text = g_strdup_printf ("{\"type\":\"push\",\"ops\":[{\"op\":\"%s\","
                                             "\"type\":\"session.put\",\"id\":\"%s\","
                                             "\"hlc\":\"1:0:dev-a\",\"data\":{}}]}", id, id);

    client_send (a, text);
    client_expect_error (a, "bad_op", id);
    g_assert_cmpint (head (f, f->alice), ==, 0);
    client_ping_pong (a, "after-bad-op");
  }

  /* A clock a week ahead is refused. */
  {
    g_autofree char *id = helix_uuid_new_v7 ();
    g_autofree char *text = g_strdup_printf ("{\"type\":\"push\",\"ops\":[{\"op\":\"%s\","
                                             "\"type\":\"session.put\",\"id\":\"%s\","
                                             "\"hlc\":\"%" G_GINT64_FORMAT ":0:dev-a\","
                                             "\"data\":{\"title\":\"future\"}}]}", id, id,
                                             g_get_real_time () / 1000 + 7 * 24 * 3600 * 1000);

    client_send (a, text);
    client_expect_error (a, "bad_op", id);
    g_assert_cmpint (head (f, f->alice), ==, 0);
  }

  /* A second hello is forbidden, and so is nesting deeper than 64: both close. */
  for (guint i = 0; i < 100; i++)
    g_string_append_c (deep, '[');
  for (guint i = 0; i < 100; i++)
    g_string_append_c (deep, ']');
  g_string_append_c (deep, '}');
  client_send (a, deep->str);
  client_expect_error (a, "too_deep", NULL);
  g_assert_cmpuint (client_wait_closed (a), ==, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
}

static void
test_second_hello (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);

  client_sync_empty (a, "dev-a");
  client_send (a, "{\"type\":\"hello\",\"cursor\":0,\"device\":\"dev-a\"}");
  client_expect_error (a, "forbidden", NULL);
  g_assert_cmpuint (client_wait_closed (a), ==, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
}

static void
test_too_big (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);
  gsize size = 2 * 1024 * 1024;
  g_autofree char *big = g_malloc (size + 1);

  client_sync_empty (a, "dev-a");

  memset (big, ' ', size);
  big[size] = '\0';
  client_send (a, big);
  g_assert_cmpuint (client_wait_closed (a), ==, SOUP_WEBSOCKET_CLOSE_TOO_BIG);
}

static void
test_binary (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);
  static const guint8 bytes[] = { 0x7b, 0x7d };

  client_sync_empty (a, "dev-a");
  soup_websocket_connection_send_binary (a->ws, bytes, sizeof bytes);
  g_assert_cmpuint (client_wait_closed (a), ==, SOUP_WEBSOCKET_CLOSE_UNSUPPORTED_DATA);
}

static void
test_revoke (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);
  g_autoptr(Client) b = client_connect (f, f->alice_b.token);
  g_autofree char *path = g_strconcat ("/api/v1/devices/", f->alice_b.device, NULL);
  guint status = 0;

  client_sync_empty (a, "dev-a");
  client_sync_empty (b, "dev-b");

  g_assert_null (request (f, "DELETE", path, f->alice_a.token, NULL, SOUP_STATUS_NO_CONTENT));
  g_assert_cmpuint (client_wait_closed (b), ==, 4001);
  client_ping_pong (a, "a-unaffected");

  /* The revoked token no longer upgrades. */
  g_assert_null (try_connect (f, f->alice_b.token, NULL, &status));
  g_assert_cmpuint (status, ==, SOUP_STATUS_UNAUTHORIZED);

  /* Logging out closes the caller's own sockets too. */
  g_assert_null (request (f, "POST", "/api/v1/auth/logout", f->alice_a.token, NULL,
                          SOUP_STATUS_NO_CONTENT));
  g_assert_cmpuint (client_wait_closed (a), ==, 4001);
}

static gboolean
set_true_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* --disable-user runs in another process: the gateway finds out at the
 * device's first frame 2 s or more after the connection last checked its
 * token (or at its periodic check, every 30 s) and closes with 4001. */
static void
test_disabled_user (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);
  g_autoptr(Client) c = client_connect (f, f->bob_c.token);
  g_autoptr(GError) error = NULL;
  gboolean waited = FALSE;

  client_sync_empty (a, "dev-a");
  client_sync_empty (c, "dev-c");

  g_assert_true (helix_gateway_db_set_user_disabled (helix_gateway_get_db (f->gateway), "alice",
                                                     TRUE, &error));
  g_assert_no_error (error);

  /* Frames within 2 s of the last check are not checked again. */
  g_timeout_add (2100, set_true_cb, &waited);
  helix_test_wait_for (waited, WAIT_TIMEOUT_S, "the frame recheck interval");

  client_send (a, "{\"type\":\"ping\",\"id\":\"disabled\"}");
  g_assert_cmpuint (client_wait_closed (a), ==, 4001);
  g_assert_cmpuint (a->frames.length, ==, 0);
  client_ping_pong (c, "bob-unaffected");
}

static void
test_shutdown (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);
  gboolean done = FALSE;

  client_sync_empty (a, "dev-a");

  helix_gateway_shutdown_async (f->gateway, NULL, shutdown_cb, &done);
  g_assert_cmpuint (client_wait_closed (a), ==, SOUP_WEBSOCKET_CLOSE_GOING_AWAY);
  helix_test_wait_for (done, WAIT_TIMEOUT_S, "the gateway to shut down");
}

/* `ops` and `ack` frames are spliced from the ops' canonical texts: ops with
 * every escape, number and member a device may send arrive equal to what was
 * pushed, live and from the backlog, through the strict parser. */
static void
test_frames_spliced (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);
  g_autoptr(Client) b = client_connect (f, f->alice_b.token);
  g_autoptr(Client) c = NULL;
  g_autoptr(GPtrArray) pushed =
    g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(HelixSyncFrame) ack = NULL;
  g_autoptr(HelixSyncFrame) live = NULL;
  g_autoptr(HelixSyncFrame) backlog = NULL;
  g_autofree char *session = helix_uuid_new_v7 ();
  g_autofree char *push = NULL;
  const HelixSyncAck *acks;
  GPtrArray *ops;
  guint n_acks = 0;
  gint64 wall = g_get_real_time () / 1000;

  client_sync_empty (a, "dev-a");
  client_sync_empty (b, "dev-b");

  for (guint i = 0; i < 4; i++)
    {
      g_autofree char *op_id = helix_uuid_new_v7 ();
      g_autofree char *id = helix_uuid_new_v7 ();
      g_autoptr(GError) error = NULL;
      char *text;

      switch (i)
        {
        case 0:
          text = g_strdup_printf ("{ \"data\" : {\"pinned\":true,\"title\":\"q\\\"b\\\\s"
                                  "\\/\\u00e9\\ud83d\\ude00 \u00e9\\u001f\\b\\f\","
                                  "\"archived\":false},\"type\":"
                                  "\"session.put\",\"hlc\":\"%" G_GINT64_FORMAT ":007:dev-a\","
                                  "\"id\":\"%s\",\"op\":\"%s\"}", wall, session, op_id);
          break;
        case 1:
          text = g_strdup_printf ("{\"op\":\"%s\",\"type\":\"message.put\",\"id\":\"%s\","
                                  "\"session\":\"%s\",\"hlc\":\"%" G_GINT64_FORMAT ":1:dev-a\","
                                  "\"data\":{\"role\":\"assistant\",\"content\":\"line\\nnext\\t"
                                  "tab\\r\\u0001\\u007f\",\"status\":\"streaming\",\"model\":"
                                  "\"m\\\"1\",\"provider\":\"\",\"tokens_in\":0,\"tokens_out\":"
                                  "9007199254740991,\"cost\":1e-7,\"created_us\":12}}",
                                  op_id, id, session, wall);
          break;
        case 2:
          text = g_strdup_printf ("{\"op\":\"%s\",\"type\":\"message.put\",\"id\":\"%s\","
                                  "\"session\":\"%s\",\"hlc\":\"%" G_GINT64_FORMAT ":2:dev-a\","
                                  "\"data\":{\"role\":\"user\",\"content\":\"\",\"status\":"
                                  "\"done\",\"cost\":3}}", op_id, id, session, wall);
          break;
        default:
          text = g_strdup_printf ("{\"op\":\"%s\",\"type\":\"session.delete\",\"id\":\"%s\","
                                  "\"hlc\":\"%" G_GINT64_FORMAT ":3:dev-a\"}", op_id, session,
                                  wall);
          break;
        }

      g_ptr_array_add (pushed, helix_sync_op_new_from_data (text, strlen (text), &error));
      g_assert_no_error (error);
      g_ptr_array_add (texts, text);
    }

  push = push_json ((char **) texts->pdata, texts->len);
  client_send (a, push);

  ack = client_expect (a, HELIX_SYNC_FRAME_ACK);
  acks = helix_sync_frame_get_acks (ack, &n_acks);
  g_assert_cmpuint (n_acks, ==, pushed->len);

  live = client_expect (b, HELIX_SYNC_FRAME_OPS);
  ops = helix_sync_frame_get_ops (live);
  g_assert_cmpuint (ops->len, ==, pushed->len);
  for (guint i = 0; i < ops->len; i++)
    {
      HelixSyncOp *op = g_ptr_array_index (ops, i);

      g_assert_true (helix_sync_op_equal (op, g_ptr_array_index (pushed, i)));
      g_assert_cmpstr (acks[i].op, ==, helix_sync_op_get_op_id (op));
      g_assert_cmpint (acks[i].seq, ==, helix_sync_op_get_seq (op));
      g_assert_cmpint (helix_sync_op_get_seq (op), ==, i + 1);
    }

  /* The same from the log. */
  c = client_connect (f, f->alice_a.token);
  g_assert_cmpint (client_hello (c, 0, "dev-c"), ==, pushed->len);
  backlog = client_expect (c, HELIX_SYNC_FRAME_OPS);
  ops = helix_sync_frame_get_ops (backlog);
  g_assert_cmpuint (ops->len, ==, pushed->len);
  for (guint i = 0; i < ops->len; i++)
    {
      g_assert_true (helix_sync_op_equal (g_ptr_array_index (ops, i),
                                          g_ptr_array_index (pushed, i)));
      g_assert_cmpint (helix_sync_op_get_seq (g_ptr_array_index (ops, i)), ==, i + 1);
    }
  client_skip (c, HELIX_SYNC_FRAME_SYNCED);
}

/* The `ops` and `ack` frames the gateway splices, with seqs of every
 * length up to the largest: the strict parser reads back each seq, each op
 * as it was, and the length _helix_gateway_ops_frame_bytes() promised. */
static void
test_frame_builders (void)
{
  static const gint64 seqs[] = {
    1, 9, 10, 99, 100, 12345, 999999999, 1000000000, 4294967296, HELIX_SYNC_MAX_INT - 1,
    HELIX_SYNC_MAX_INT,
  };
  const guint n = G_N_ELEMENTS (seqs);
  g_autoptr(GPtrArray) ops = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  g_autoptr(GPtrArray) canonicals = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(HelixSyncFrame) ops_frame = NULL;
  g_autoptr(HelixSyncFrame) ack_frame = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *ops_text = NULL;
  g_autofree char *ack_text = NULL;
  const HelixSyncAck *acks;
  guint n_acks = 0;
  gsize length = 0;
  GPtrArray *parsed;

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *op_id = helix_uuid_new_v7 ();
      g_autofree char *id = helix_uuid_new_v7 ();
      g_autofree char *text = g_strdup_printf ("{\"op\":\"%s\",\"type\":\"session.put\","
                                               "\"id\":\"%s\",\"hlc\":\"1763769600000:%u:dev-a\","
                                               "\"data\":{\"title\":\"t%u\"}}",
                                               op_id, id, i, i);
      HelixSyncOp *op = helix_sync_op_new_from_data (text, strlen (text), &error);

      g_assert_no_error (error);
      g_ptr_array_add (ops, op);
      g_ptr_array_add (canonicals, helix_sync_op_canonical (op));
    }

  ops_text = _helix_gateway_build_ops_frame (seqs, (char * const *) canonicals->pdata, n, &length);
  g_assert_cmpuint (length, ==, strlen (ops_text));
  g_assert_cmpuint (length, ==, _helix_gateway_ops_frame_bytes (seqs,
                                                                 (char * const *) canonicals->pdata,
                                                                 n));
  ops_frame = helix_sync_frame_parse (ops_text, length, &error);
  g_assert_no_error (error);
  g_assert_cmpint (helix_sync_frame_get_kind (ops_frame), ==, HELIX_SYNC_FRAME_OPS);
  parsed = helix_sync_frame_get_ops (ops_frame);
  g_assert_cmpuint (parsed->len, ==, n);
  for (guint i = 0; i < n; i++)
    {
      g_assert_cmpint (helix_sync_op_get_seq (g_ptr_array_index (parsed, i)), ==, seqs[i]);
      g_assert_true (helix_sync_op_equal (g_ptr_array_index (parsed, i),
                                          g_ptr_array_index (ops, i)));
    }

  ack_text = _helix_gateway_build_ack_frame ((HelixSyncOp * const *) ops->pdata, seqs, n);
  ack_frame = helix_sync_frame_parse (ack_text, strlen (ack_text), &error);
  g_assert_no_error (error);
  acks = helix_sync_frame_get_acks (ack_frame, &n_acks);
  g_assert_cmpuint (n_acks, ==, n);
  for (guint i = 0; i < n; i++)
    {
      g_assert_cmpstr (acks[i].op, ==, helix_sync_op_get_op_id (g_ptr_array_index (ops, i)));
      g_assert_cmpint (acks[i].seq, ==, seqs[i]);
    }
}


/* The writer thread {{{1 */

/* Holds the gateway's writer thread back, as a slow disk would, until
 * released: the writer calls hold_func() before each write. */
typedef struct
{
  GMutex   mutex;
  GCond    cond;
  gboolean held;    /* under @mutex */
  int      entered; /* atomic: writes that waited */
} Hold;

static void
hold_func (gpointer data)
{
  Hold *hold = data;

  g_mutex_lock (&hold->mutex);
  if (hold->held)
    {
      g_atomic_int_inc (&hold->entered);
      /* The test waits on the main context for this. */
      g_main_context_wakeup (NULL);
      while (hold->held)
        g_cond_wait (&hold->cond, &hold->mutex);
    }
  g_mutex_unlock (&hold->mutex);
}

static void
hold_start (Fixture *f,
            Hold    *hold)
{
  HelixGatewayWriter *writer = _helix_gateway_hub_get_writer (_helix_gateway_get_hub (f->gateway));

  g_assert_nonnull (writer);
  g_mutex_init (&hold->mutex);
  g_cond_init (&hold->cond);
  hold->held = TRUE;
  hold->entered = 0;
  _helix_gateway_writer_set_hold (writer, hold_func, hold);
}

static void
hold_release (Fixture *f,
              Hold    *hold)
{
  HelixGatewayWriter *writer = _helix_gateway_hub_get_writer (_helix_gateway_get_hub (f->gateway));

  g_mutex_lock (&hold->mutex);
  hold->held = FALSE;
  g_cond_broadcast (&hold->cond);
  g_mutex_unlock (&hold->mutex);

  /* Once it is not called any more, @hold may go. */
  _helix_gateway_writer_set_hold (writer, NULL, NULL);
  g_mutex_clear (&hold->mutex);
  g_cond_clear (&hold->cond);
}

/* Sends a request without waiting for its answer: *@r says when it came. */
static SoupMessage *
request_start (Fixture    *f,
               const char *method,
               const char *path,
               const char *token,
               const char *body,
               HttpResult *r)
{
  g_autofree char *uri = g_strdup_printf ("http://127.0.0.1:%u%s", f->port, path);
  SoupMessage *msg = soup_message_new (method, uri);

  if (token != NULL)
    set_bearer (msg, token);
  if (body != NULL)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));

      soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
    }
  soup_session_send_and_read_async (f->session, msg, G_PRIORITY_DEFAULT, NULL, send_cb, r);

  return msg;
}

/* The main thread of a running gateway writes nothing: REST session
 * changes, pushes, logins, logouts, revocations and last-seen updates are
 * all committed by the writer thread, each in one transaction. */
static void
test_writes_on_writer (Fixture       *f,
                       gconstpointer  data)
{
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);
  g_autoptr(GHashTable) seqs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(JsonNode) created = NULL;
  g_autoptr(JsonNode) patched = NULL;
  g_autoptr(JsonNode) devices = NULL;
  g_autofree char *path = NULL;
  g_autofree char *op_id = helix_uuid_new_v7 ();
  g_autofree char *op = NULL;
  g_autofree char *push = NULL;
  g_autofree char *revoked_path = NULL;
  g_autofree char *unseen = NULL;
  g_autoptr(HelixSyncFrame) ack = NULL;
  Login phone = { 0 };
  Login tablet = { 0 };
  sqlite3 *other = NULL;
  guint writer_before, other_before;
  guint writer_after, other_after;
  JsonObject *object;

  client_sync_empty (a, "dev-a");

  /* Another program makes alice's second device look unseen for long: its
   * next request notes it again. Not a connection of the gateway's. */
  other = helix_test_sqlite_open (helix_gateway_db_get_path (helix_gateway_get_db (f->gateway)),
                                  SQLITE_OPEN_READWRITE);
  unseen = g_strdup_printf ("UPDATE devices SET last_seen_us = 0 WHERE uuid = '%s'",
                            f->alice_b.device);
  g_assert_cmpint (sqlite3_exec (other, unseen, NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_changes (other), ==, 1);
  g_clear_pointer (&other, sqlite3_close);

  _helix_gateway_db_get_commit_counts (&writer_before, &other_before);

  /* REST: create, change, delete (three commits). */
  created = request (f, "POST", "/api/v1/sessions", f->alice_a.token, "{\"title\":\"Plans\"}",
                     SOUP_STATUS_CREATED);
  path = g_strconcat ("/api/v1/sessions/",
                      json_object_get_string_member (json_node_get_object (created), "id"), NULL);
  patched = request (f, "PATCH", path, f->alice_a.token, "{\"title\":\"Trip\",\"pinned\":true}",
                     SOUP_STATUS_OK);
  object = json_node_get_object (patched);
  g_assert_cmpstr (json_object_get_string_member (object, "title"), ==, "Trip");
  g_assert_true (json_object_get_boolean_member (object, "pinned"));
  g_assert_null (request (f, "DELETE", path, f->alice_a.token, NULL, SOUP_STATUS_NO_CONTENT));
  g_clear_pointer (&patched, json_node_unref);
  patched = request (f, "GET", path, f->alice_a.token, NULL, SOUP_STATUS_NOT_FOUND);

  /* Each reached the synced device. */
  client_collect (a, 0, 3, seqs);
  g_assert_cmpuint (g_hash_table_size (seqs), ==, 3);

  /* The sync WebSocket (one commit). */
  op = op_json (op_id, "dev-a", "Pushed");
  push = push_json (&op, 1);
  client_send (a, push);
  ack = client_expect (a, HELIX_SYNC_FRAME_ACK);

  /* Two logins (two commits), a logout and a revocation (two more). */
  login (f, "alice", "correct horse alice", &phone);
  login (f, "alice", "correct horse alice", &tablet);
  g_assert_null (request (f, "POST", "/api/v1/auth/logout", phone.token, NULL,
                          SOUP_STATUS_NO_CONTENT));
  g_clear_pointer (&devices, json_node_unref);
  devices = request (f, "GET", "/api/v1/devices", phone.token, NULL, SOUP_STATUS_UNAUTHORIZED);
  g_clear_pointer (&devices, json_node_unref);
  revoked_path = g_strconcat ("/api/v1/devices/", tablet.device, NULL);
  g_assert_null (request (f, "DELETE", revoked_path, f->alice_a.token, NULL,
                          SOUP_STATUS_NO_CONTENT));

  /* The unseen device is seen (one commit, not waited for by the request).
   * The writer stores in order: once a later change is answered, it is
   * stored too. */
  devices = request (f, "GET", "/api/v1/devices", f->alice_b.token, NULL, SOUP_STATUS_OK);
  g_clear_pointer (&created, json_node_unref);
  created = request (f, "POST", "/api/v1/sessions", f->alice_a.token, "{\"title\":\"Later\"}",
                     SOUP_STATUS_CREATED);
  client_collect (a, 0, 1, seqs);

  _helix_gateway_db_get_commit_counts (&writer_after, &other_after);
  g_assert_cmpuint (other_after, ==, other_before);
  g_assert_cmpuint (writer_after, ==, writer_before + 10);

  g_clear_pointer (&devices, json_node_unref);
  devices = request (f, "GET", "/api/v1/devices", f->alice_a.token, NULL, SOUP_STATUS_OK);
  for (guint i = 0; i < json_array_get_length (json_node_get_array (devices)); i++)
    {
      JsonObject *device = json_array_get_object_element (json_node_get_array (devices), i);

      if (g_str_equal (json_object_get_string_member (device, "id"), f->alice_b.device))
        g_assert_false (g_str_has_prefix (json_object_get_string_member (device, "last_seen"),
                                          "1970-"));
    }
  _helix_gateway_db_get_commit_counts (NULL, &other_after);
  g_assert_cmpuint (other_after, ==, other_before);

  login_clear (&phone);
  login_clear (&tablet);
}

/* While the writer is held (a slow commit), a REST change waits for it, and
 * the main loop goes on answering others: /health, reads, other users. */
static void
test_health_while_writing (Fixture       *f,
                           gconstpointer  data)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(JsonNode) health = NULL;
  g_autoptr(JsonNode) list = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  HttpResult r = { 0 };
  Hold hold;

  hold_start (f, &hold);
  msg = request_start (f, "POST", "/api/v1/sessions", f->alice_a.token,
                       "{\"title\":\"Slow disk\"}", &r);
  helix_test_wait_for (g_atomic_int_get (&hold.entered) > 0, WAIT_TIMEOUT_S,
                       "the write to reach the writer");

  health = request (f, "GET", "/health", NULL, NULL, SOUP_STATUS_OK);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (health), "status"), ==,
                   "ok");
  list = request (f, "GET", "/api/v1/sessions", f->bob_c.token, NULL, SOUP_STATUS_OK);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (list)), ==, 0);
  /* Not answered before it is stored. */
  g_assert_false (r.done);
  g_assert_cmpint (head (f, f->alice), ==, 0);

  hold_release (f, &hold);
  helix_test_wait_for (r.done, WAIT_TIMEOUT_S, "the change to be answered");
  g_assert_no_error (r.error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_CREATED);
  g_assert_cmpint (head (f, f->alice), ==, 1);
  json_parser_load_from_data (parser, g_bytes_get_data (r.body, NULL), g_bytes_get_size (r.body),
                              &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (json_parser_get_root (parser)),
                                                  "title"), ==, "Slow disk");
  g_bytes_unref (r.body);
}

/* A REST change of a session and a device's push to the same session, in
 * flight together: both are kept, in one order of seqs that every device
 * sees and the answer reflects. */
static void
test_rest_races_push (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(Client) a = client_connect (f, f->alice_a.token);
  g_autoptr(Client) b = client_connect (f, f->alice_b.token);
  g_autoptr(JsonNode) created = NULL;
  g_autoptr(JsonNode) got = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GPtrArray) log = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSyncFrame) ack = NULL;
  g_autoptr(HelixSyncFrame) rest_op = NULL;
  g_autoptr(HelixSyncFrame) first = NULL;
  g_autoptr(HelixSyncFrame) second = NULL;
  g_autofree char *path = NULL;
  g_autofree char *op_id = helix_uuid_new_v7 ();
  g_autofree char *op = NULL;
  g_autofree char *push = NULL;
  g_autofree char *patch_op_id = NULL;
  const HelixSyncAck *acks;
  const char *session;
  JsonObject *object;
  HttpResult r = { 0 };
  guint n_acks;
  Hold hold;

  client_sync_empty (a, "dev-a");
  client_sync_empty (b, "dev-b");

  created = request (f, "POST", "/api/v1/sessions", f->alice_a.token, "{\"title\":\"Plans\"}",
                     SOUP_STATUS_CREATED);
  session = json_object_get_string_member (json_node_get_object (created), "id");
  path = g_strconcat ("/api/v1/sessions/", session, NULL);
  client_skip (a, HELIX_SYNC_FRAME_OPS);
  client_skip (b, HELIX_SYNC_FRAME_OPS);

  /* The device pins the session; its push is being committed (held)... */
  hold_start (f, &hold);
  op = g_strdup_printf ("{\"op\":\"%s\",\"type\":\"session.put\",\"id\":\"%s\","
                        "\"hlc\":\"%" G_GINT64_FORMAT ":0:dev-a\",\"data\":{\"pinned\":true}}",
                        op_id, session, g_get_real_time () / 1000);
  push = push_json (&op, 1);
  client_send (a, push);
  helix_test_wait_for (g_atomic_int_get (&hold.entered) > 0, WAIT_TIMEOUT_S,
                       "the push to reach the writer");

  /* ... while the REST API renames it. */
  msg = request_start (f, "PATCH", path, f->alice_b.token, "{\"title\":\"Trip\"}", &r);
  /* A ping answered on the same loop: the PATCH was read and waits too. */
  client_ping_pong (b, "patch-sent");
  g_assert_false (r.done);
  hold_release (f, &hold);

  helix_test_wait_for (r.done, WAIT_TIMEOUT_S, "the PATCH to be answered");
  g_assert_no_error (r.error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_OK);
  json_parser_load_from_data (parser, g_bytes_get_data (r.body, NULL), g_bytes_get_size (r.body),
                              &error);
  g_assert_no_error (error);
  g_bytes_unref (r.body);
  /* Stored after the push: the answer has both. */
  object = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (object, "title"), ==, "Trip");
  g_assert_true (json_object_get_boolean_member (object, "pinned"));

  /* The pusher: its ack (seq 2), then the REST op (seq 3). */
  ack = client_expect (a, HELIX_SYNC_FRAME_ACK);
  acks = helix_sync_frame_get_acks (ack, &n_acks);
  g_assert_cmpuint (n_acks, ==, 1);
  g_assert_cmpstr (acks[0].op, ==, op_id);
  g_assert_cmpint (acks[0].seq, ==, 2);
  rest_op = client_expect (a, HELIX_SYNC_FRAME_OPS);
  g_assert_cmpuint (helix_sync_frame_get_ops (rest_op)->len, ==, 1);
  g_assert_cmpint (helix_sync_op_get_seq (g_ptr_array_index (helix_sync_frame_get_ops (rest_op), 0)),
                   ==, 3);
  patch_op_id = g_strdup (helix_sync_op_get_op_id (g_ptr_array_index (helix_sync_frame_get_ops (rest_op), 0)));

  /* The other device: both, in the same order. */
  first = client_expect (b, HELIX_SYNC_FRAME_OPS);
  g_assert_cmpuint (helix_sync_frame_get_ops (first)->len, ==, 1);
  g_assert_cmpstr (helix_sync_op_get_op_id (g_ptr_array_index (helix_sync_frame_get_ops (first), 0)),
                   ==, op_id);
  g_assert_cmpint (helix_sync_op_get_seq (g_ptr_array_index (helix_sync_frame_get_ops (first), 0)),
                   ==, 2);
  second = client_expect (b, HELIX_SYNC_FRAME_OPS);
  g_assert_cmpuint (helix_sync_frame_get_ops (second)->len, ==, 1);
  g_assert_cmpstr (helix_sync_op_get_op_id (g_ptr_array_index (helix_sync_frame_get_ops (second), 0)),
                   ==, patch_op_id);
  g_assert_cmpint (helix_sync_op_get_seq (g_ptr_array_index (helix_sync_frame_get_ops (second), 0)),
                   ==, 3);

  /* The log has the three ops, the session both changes. */
  log = helix_gateway_db_ops_since (helix_gateway_get_db (f->gateway), f->alice, 0, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (log->len, ==, 3);
  g_assert_cmpstr (helix_sync_op_get_op_id (g_ptr_array_index (log, 1)), ==, op_id);
  g_assert_cmpstr (helix_sync_op_get_op_id (g_ptr_array_index (log, 2)), ==, patch_op_id);
  got = request (f, "GET", path, f->alice_a.token, NULL, SOUP_STATUS_OK);
  object = json_node_get_object (got);
  g_assert_cmpstr (json_object_get_string_member (object, "title"), ==, "Trip");
  g_assert_true (json_object_get_boolean_member (object, "pinned"));
  client_ping_pong (a, "a-done");
  client_ping_pong (b, "b-done");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/helix/gateway/ws/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("unauthenticated", test_unauthenticated);
  ADD ("origin", test_origin);
  ADD ("hello-empty", test_hello_empty);
  ADD ("before-hello", test_before_hello);
  ADD ("push-fanout", test_push_fanout);
  ADD ("group-commit", test_group_commit);
  ADD ("backlog-cursor", test_backlog_cursor);
  ADD ("backlog-pages", test_backlog_pages);
  ADD ("backlog-large-ops", test_backlog_large_ops);
  ADD ("push-during-backlog", test_push_during_backlog);
  ADD ("rest-fanout", test_rest_fanout);
  ADD ("frames-spliced", test_frames_spliced);
  ADD ("delta-relay", test_delta_relay);
  ADD ("op-conflict", test_op_conflict);
  ADD ("isolation", test_isolation);
  ADD ("bad-frames", test_bad_frames);
  ADD ("second-hello", test_second_hello);
  ADD ("too-big", test_too_big);
  ADD ("binary", test_binary);
  ADD ("revoke", test_revoke);
  ADD ("disabled-user", test_disabled_user);
  ADD ("shutdown", test_shutdown);
  ADD ("writes-on-writer", test_writes_on_writer);
  ADD ("health-while-writing", test_health_while_writing);
  ADD ("rest-races-push", test_rest_races_push);

#undef ADD

  g_test_add_func ("/helix/gateway/ws/config-origins", test_config_origins);
  g_test_add_func ("/helix/gateway/ws/frame-builders", test_frame_builders);

  return g_test_run ();
}
