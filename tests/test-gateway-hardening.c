/* test-gateway-hardening.c: metrics, rate limits, maintenance, CORS and gzip
 *
 * A real gateway in this process on an ephemeral loopback port and a real
 * SoupSession talking to it. The session has no content decoder, so that
 * the tests see the bytes on the wire.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "helix-gateway.h"
#include "helix-gateway-native.h"
#include "helix-password.h"
#include "helix-sync-frame.h"
#include "helix-test-util.h"
#include "helix-uuid.h"
#include "helix-test-gateway.h"
#include "helix-test-http.h"

#define WAIT_TIMEOUT_S 30

#define SESSIONS "/api/v1/sessions"
#define ALLOWED_ORIGIN "https://app.example.org"

typedef struct
{
  char         *dir;
  HelixGateway *gateway;
  SoupSession  *session;
  guint         port;
  char         *uri;
  char         *alice_token;
  char         *bob_token;
} Fixture;

/* Sends a request through @session and spins until the answer. @headers are
 * name, value pairs, %NULL-terminated. */
static SoupMessage *
http_on (Fixture     *f,
         SoupSession *session,
         const char  *method,
         const char  *path,
         const char  *token,
         const char  *body,
         GBytes     **response,
         ...)
{
  g_autoptr(SoupMessage) msg = helix_test_http_message_new (f->uri, method, path, token,
                                                            "application/json", body, -1);
  const char *name;
  va_list args;

  va_start (args, response);
  while ((name = va_arg (args, const char *)) != NULL)
    {
      const char *value = va_arg (args, const char *);

      soup_message_headers_replace (soup_message_get_request_headers (msg), name, value);
    }
  va_end (args);

  *response = helix_test_http_send_message (session, msg, NULL);
  return g_steal_pointer (&msg);
}

#define http(f, method, path, token, body, response, ...) \
  http_on ((f), (f)->session, (method), (path), (token), (body), (response), __VA_ARGS__)

static void
assert_error_code (GBytes     *body,
                   const char *code)
{
  g_autoptr(JsonNode) root = helix_test_http_parse_json (body);
  JsonObject *error = json_object_get_object_member (json_node_get_object (root), "error");

  g_assert_nonnull (error);
  g_assert_cmpstr (json_object_get_string_member (error, "code"), ==, code);
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  const HelixTestGatewaySetup *setup = data;
  g_autoptr(HelixGatewayConfig) config = NULL;
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("helix-gateway-hardening-XXXXXX", &error);
  g_assert_no_error (error);
  config = helix_test_gateway_config_new (f->dir);

  g_assert_true (helix_gateway_config_set_allowed_origins (config, ALLOWED_ORIGIN, &error));
  g_assert_no_error (error);
  /* The test stands in for a reverse proxy on 127.0.0.1 (127.0.0.2 is not one). */
  g_assert_true (helix_gateway_config_set_trusted_proxies (config, "127.0.0.1", &error));
  g_assert_no_error (error);
  helix_test_gateway_config_apply (config, setup);

  f->gateway = helix_test_gateway_start (config);
  f->port = helix_test_gateway_get_port (f->gateway);
  f->uri = g_strdup_printf ("http://127.0.0.1:%u", f->port);
  f->session = soup_session_new ();
  soup_session_remove_feature_by_type (f->session, SOUP_TYPE_CONTENT_DECODER);

  helix_test_gateway_add_user (f->gateway, "alice", "correct horse alice");
  helix_test_gateway_add_user (f->gateway, "bob", "battery staple bob");
  if (setup == NULL || setup->rate_limit_per_address == NULL)
    {
      f->alice_token = helix_test_login (f->session, f->uri, "alice", "correct horse alice",
                                         "test", NULL);
      f->bob_token = helix_test_login (f->session, f->uri, "bob", "battery staple bob", "test",
                                       NULL);
    }
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

static char *
create_session (Fixture    *f,
                const char *title)
{
  g_autofree char *body = g_strdup_printf ("{\"title\":\"%s\"}", title);
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autoptr(JsonNode) root = NULL;

  msg = http (f, "POST", SESSIONS, f->alice_token, body, &response, NULL);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_CREATED);
  root = helix_test_http_parse_json (response);

  return g_strdup (json_object_get_string_member (json_node_get_object (root), "id"));
}

/* /metrics {{{1 */

static char *
scrape (Fixture *f)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;
  const char *type;

  msg = http (f, "GET", "/metrics", NULL, NULL, &response, NULL);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
  type = soup_message_headers_get_one (soup_message_get_response_headers (msg), "Content-Type");
  g_assert_nonnull (type);
  g_assert_true (g_str_has_prefix (type, "text/plain; version=0.0.4"));

  return g_strndup (g_bytes_get_data (response, NULL), g_bytes_get_size (response));
}

/* The name of a sample's metric family: histograms' _bucket, _sum and _count
 * belong to their family. */
static char *
family_of (const char *sample,
           GHashTable *types)
{
  gsize len = strcspn (sample, "{ ");
  g_autofree char *name = g_strndup (sample, len);
  static const char * const suffixes[] = { "_bucket", "_sum", "_count" };

  if (g_hash_table_contains (types, name))
    return g_steal_pointer (&name);

  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      if (g_str_has_suffix (name, suffixes[i]))
        {
          g_autofree char *base = g_strndup (name, len - strlen (suffixes[i]));

          if (g_strcmp0 (g_hash_table_lookup (types, base), "histogram") == 0)
            return g_steal_pointer (&base);
        }
    }

  return g_steal_pointer (&name);
}

/* Checks the exposition format line by line; returns the value of @wanted
 * (a whole sample name with labels), or -1 if it is not there. */
static double
check_exposition (const char *text,
                  const char *wanted)
{
  g_autoptr(GHashTable) types = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GRegex) uuid = g_regex_new ("[0-9a-f]{8}-[0-9a-f]{4}-", 0, 0, NULL);
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  double found = -1;

  g_assert_true (g_str_has_suffix (text, "\n"));

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];
      g_autofree char *family = NULL;
      const char *value;
      char *end = NULL;
      double number;

      if (*line == '\0')
        continue;

      if (g_str_has_prefix (line, "# TYPE "))
        {
          g_auto(GStrv) parts = g_strsplit (line + 7, " ", 2);

          g_assert_cmpuint (g_strv_length (parts), ==, 2);
          g_assert_false (g_hash_table_contains (types, parts[0]));
          g_hash_table_insert (types, g_strdup (parts[0]), g_strdup (parts[1]));
          continue;
        }
      if (g_str_has_prefix (line, "# HELP "))
        continue;
      g_assert_false (g_str_has_prefix (line, "#"));

      family = family_of (line, types);
      if (!g_hash_table_contains (types, family))
        g_error ("No # TYPE line before the sample “%s”", line);

      g_assert_false (g_regex_match (uuid, line, 0, NULL));

      value = strrchr (line, ' ');
      g_assert_nonnull (value);
      number = g_ascii_strtod (value + 1, &end);
      g_assert_true (*end == '\0');

      if (wanted != NULL && strncmp (line, wanted, (gsize) (value - line)) == 0 &&
          strlen (wanted) == (gsize) (value - line))
        found = number;
    }

  return found;
}

#define SESSIONS_GET_200 \
  "helix_http_requests_total{route=\"/api/v1/sessions\",method=\"GET\",status=\"200\"}"

static void
test_metrics (Fixture       *f,
              gconstpointer  data)
{
  g_autofree char *id = create_session (f, "Counted");
  g_autofree char *item = g_strconcat (SESSIONS "/", id, NULL);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  double count_before;
  double count_after;

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(SoupMessage) msg = NULL;
      g_autoptr(GBytes) response = NULL;

      msg = http (f, "GET", SESSIONS, f->alice_token, NULL, &response, NULL);
      helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
      g_clear_object (&msg);
      g_clear_pointer (&response, g_bytes_unref);
      msg = http (f, "GET", item, f->alice_token, NULL, &response, NULL);
      helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
      g_clear_object (&msg);
      g_clear_pointer (&response, g_bytes_unref);
      msg = http (f, "GET", "/no/such/thing/0190f3a2-1c00-7000-8000-00000000dead", NULL, NULL,
                  &response, NULL);
      helix_test_http_assert_status (msg, response, SOUP_STATUS_NOT_FOUND);
    }

  before = scrape (f);
  count_before = check_exposition (before, SESSIONS_GET_200);
  g_assert_cmpfloat (count_before, >=, 2);

  g_assert_nonnull (strstr (before, "route=\"/api/v1/sessions/{id}\""));
  g_assert_nonnull (strstr (before, "route=\"other\""));
  g_assert_null (strstr (before, id));
  g_assert_nonnull (strstr (before, "helix_build_info{version=\"" PACKAGE_VERSION "\"} 1\n"));
  g_assert_nonnull (strstr (before, "# TYPE helix_http_request_duration_seconds histogram\n"));
  g_assert_nonnull (strstr (before, "le=\"0.0005\""));
  g_assert_nonnull (strstr (before, "le=\"5\""));
  g_assert_nonnull (strstr (before, "helix_websockets_open "));
  g_assert_nonnull (strstr (before, "helix_process_start_time_seconds "));
  g_assert_nonnull (strstr (before, "helix_db_query_duration_seconds_count{query=\"apply_ops\"}"));
  g_assert_nonnull (strstr (before,
                            "helix_db_query_duration_seconds_count{query=\"list_sessions\"}"));
  g_assert_cmpfloat (check_exposition (before, "helix_sync_ops_accepted_total"), >=, 1);
  g_assert_cmpfloat (check_exposition (before, "helix_sync_ops_fanned_out_total"), >=, 0);

  {
    g_autoptr(SoupMessage) msg = NULL;
    g_autoptr(GBytes) response = NULL;

    msg = http (f, "GET", SESSIONS, f->alice_token, NULL, &response, NULL);
    helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
  }

  after = scrape (f);
  count_after = check_exposition (after, SESSIONS_GET_200);
  g_assert_cmpfloat (count_after, ==, count_before + 1);
}

/* Rate limits {{{1 */

static const HelixTestGatewaySetup address_limit = { .rate_limit_per_address = "0.1,3" };
static const HelixTestGatewaySetup user_limit = { .rate_limit_per_user = "0.1,2" };

static void
test_rate_limit_address (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(GInetSocketAddress) other_address = NULL;
  g_autoptr(SoupSession) other = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;

  for (guint i = 0; i < 3; i++)
    {
      g_clear_object (&msg);
      g_clear_pointer (&response, g_bytes_unref);
      msg = http (f, "GET", SESSIONS, NULL, NULL, &response, NULL);
      helix_test_http_assert_status (msg, response, SOUP_STATUS_UNAUTHORIZED);
    }

  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  msg = http (f, "GET", SESSIONS, NULL, NULL, &response, NULL);
  helix_test_http_assert_status (msg, response, 429);
  helix_test_http_assert_retry_after (msg);
  assert_error_code (response, "rate_limited");

  /* /health and /metrics are not API requests. */
  for (guint i = 0; i < 5; i++)
    {
      g_clear_object (&msg);
      g_clear_pointer (&response, g_bytes_unref);
      msg = http (f, "GET", "/health", NULL, NULL, &response, NULL);
      helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
    }

  /* Another client address has its own bucket. */
  other_address = G_INET_SOCKET_ADDRESS (g_inet_socket_address_new_from_string ("127.0.0.2", 0));
  other = soup_session_new_with_options ("local-address", other_address, NULL);
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  msg = http_on (f, other, "GET", SESSIONS, NULL, NULL, &response, NULL);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_UNAUTHORIZED);
}

/* GET /api/v1/sessions for @token, as forwarded for @client (or not); the
 * status, and whether the native path answered. */
static guint
sessions_from (Fixture     *f,
               SoupSession *session,
               const char  *token,
               const char  *client,
               gboolean    *native)
{
  guint64 before = _helix_gateway_get_n_native_requests (f->gateway);
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;

  if (client != NULL)
    msg = http_on (f, session, "GET", SESSIONS, token, NULL, &response,
                   "X-Forwarded-For", client, NULL);
  else
    msg = http_on (f, session, "GET", SESSIONS, token, NULL, &response, NULL);
  if (native != NULL)
    *native = _helix_gateway_get_n_native_requests (f->gateway) > before;
  if (soup_message_get_status (msg) == 429)
    helix_test_http_assert_retry_after (msg);

  return soup_message_get_status (msg);
}

/* Behind a trusted proxy each client it forwards for has its own bucket,
 * on the native path and libsoup's alike; anyone else's X-Forwarded-For is
 * not believed. */
static void
test_rate_limit_proxied (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(GInetSocketAddress) other_address = NULL;
  g_autoptr(SoupSession) other = NULL;
  g_autoptr(SoupSession) proxy = soup_session_new ();
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *body = helix_test_login_body ("alice", "correct horse alice", "proxied");
  g_autofree char *token = NULL;
  gboolean native = FALSE;

  msg = http (f, "POST", HELIX_TEST_LOGIN_PATH, NULL, body, &response,
              "X-Forwarded-For", "198.51.100.200", NULL);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
  root = helix_test_http_parse_json (response);
  token = g_strdup (json_object_get_string_member (json_node_get_object (root), "token"));

  /* A burst of 3, answered natively (on a connection libsoup has not
   * taken over: the login's is libsoup's), then 429 from libsoup. */
  for (guint i = 0; i < 3; i++)
    {
      g_assert_cmpuint (sessions_from (f, proxy, token, "198.51.100.1", &native), ==, 200);
      g_assert_true (native);
    }
  g_assert_cmpuint (sessions_from (f, proxy, token, "198.51.100.1", &native), ==, 429);
  g_assert_false (native);
  g_assert_cmpuint (sessions_from (f, proxy, token, "6.6.6.6, 198.51.100.1", NULL), ==, 429);

  /* Other clients of the proxy, and the proxy itself, are not held up (a
   * new connection: the last one is libsoup's now). */
  g_clear_object (&proxy);
  proxy = soup_session_new ();
  g_assert_cmpuint (sessions_from (f, proxy, token, "198.51.100.2", &native), ==, 200);
  g_assert_true (native);
  g_assert_cmpuint (sessions_from (f, proxy, token, "198.51.100.1, 198.51.100.2", NULL),
                    ==, 200);
  g_assert_cmpuint (sessions_from (f, proxy, token, NULL, NULL), ==, 200);

  /* From an address that is no proxy, the header means nothing. */
  other_address = G_INET_SOCKET_ADDRESS (g_inet_socket_address_new_from_string ("127.0.0.2", 0));
  other = soup_session_new_with_options ("local-address", other_address, NULL);
  g_assert_cmpuint (sessions_from (f, other, token, "198.51.100.2", NULL), ==, 200);
  g_assert_cmpuint (sessions_from (f, other, token, "198.51.100.2", NULL), ==, 200);
  g_assert_cmpuint (sessions_from (f, other, token, "198.51.100.2", NULL), ==, 200);
  g_assert_cmpuint (sessions_from (f, other, token, "198.51.100.3", NULL), ==, 429);
}

static void
test_rate_limit_user (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;

  for (guint i = 0; i < 2; i++)
    {
      g_clear_object (&msg);
      g_clear_pointer (&response, g_bytes_unref);
      msg = http (f, "GET", SESSIONS, f->alice_token, NULL, &response, NULL);
      helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
    }

  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  msg = http (f, "GET", SESSIONS, f->alice_token, NULL, &response, NULL);
  helix_test_http_assert_status (msg, response, 429);
  helix_test_http_assert_retry_after (msg);
  assert_error_code (response, "rate_limited");

  /* Bob, from the same address, is not affected. */
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  msg = http (f, "GET", SESSIONS, f->bob_token, NULL, &response, NULL);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
}

/* Maintenance {{{1 */

static const HelixTestGatewaySetup maintenance = { .maintenance = TRUE };

static void
test_maintenance (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autoptr(JsonNode) root = NULL;
  static const char * const writes[][2] = {
    { "POST", SESSIONS },
    { "PATCH", SESSIONS "/0190f3a2-1c00-7000-8000-00000000dead" },
    { "DELETE", SESSIONS "/0190f3a2-1c00-7000-8000-00000000dead" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (writes); i++)
    {
      g_clear_object (&msg);
      g_clear_pointer (&response, g_bytes_unref);
      msg = http (f, writes[i][0], writes[i][1], f->alice_token, "{\"title\":\"No\"}",
                  &response, NULL);
      helix_test_http_assert_status (msg, response, SOUP_STATUS_SERVICE_UNAVAILABLE);
      helix_test_http_assert_retry_after (msg);
      assert_error_code (response, "maintenance");
    }

  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  msg = http (f, "GET", SESSIONS, f->alice_token, NULL, &response, NULL);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);

  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  msg = http (f, "GET", "/metrics", NULL, NULL, &response, NULL);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);

  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  msg = http (f, "GET", "/health", NULL, NULL, &response, NULL);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
  root = helix_test_http_parse_json (response);
  g_assert_true (json_object_get_boolean_member (json_node_get_object (root), "maintenance"));
}

typedef struct
{
  SoupWebsocketConnection *ws;
  GQueue                   frames;
  gboolean                 closed;
} WsClient;

static void
on_ws_message (SoupWebsocketConnection *ws,
               gint                     type,
               GBytes                  *message,
               WsClient                *c)
{
  g_queue_push_tail (&c->frames, g_bytes_ref (message));
}

static void
on_ws_closed (SoupWebsocketConnection *ws,
              WsClient                *c)
{
  c->closed = TRUE;
}

static HelixSyncFrame *
ws_expect (WsClient           *c,
           HelixSyncFrameKind  kind)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  HelixSyncFrame *frame;
  const char *text;
  gsize len;

  helix_test_wait_for (c->frames.length > 0 || c->closed, WAIT_TIMEOUT_S, "a sync frame");
  g_assert_cmpuint (c->frames.length, >, 0);
  bytes = g_queue_pop_head (&c->frames);
  text = g_bytes_get_data (bytes, &len);
  frame = helix_sync_frame_parse (text, len, &error);
  g_assert_no_error (error);
  g_assert_cmpint (helix_sync_frame_get_kind (frame), ==, kind);

  return frame;
}

/* A push in maintenance gets `unavailable`; the connection stays open. */
static void
test_maintenance_push (Fixture       *f,
                       gconstpointer  data)
{
  g_autofree char *uri = g_strdup_printf ("ws://127.0.0.1:%u/api/v1/sync", f->port);
  g_autofree char *bearer = g_strconcat ("Bearer ", f->alice_token, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", uri);
  g_autoptr(HelixSyncFrame) welcome = NULL;
  g_autoptr(HelixSyncFrame) synced = NULL;
  g_autoptr(HelixSyncFrame) error = NULL;
  g_autoptr(HelixSyncFrame) pong = NULL;
  g_autofree char *op_id = helix_uuid_new_v7 ();
  g_autofree char *session = helix_uuid_new_v7 ();
  g_autofree char *push = NULL;
  g_autofree char *metrics = NULL;
  WsClient c = { 0 };

  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", bearer);
  c.ws = helix_test_ws_connect (f->session, msg, NULL, NULL);
  g_signal_connect (c.ws, "message", G_CALLBACK (on_ws_message), &c);
  g_signal_connect (c.ws, "closed", G_CALLBACK (on_ws_closed), &c);

  soup_websocket_connection_send_text (c.ws, "{\"type\":\"hello\",\"cursor\":0,"
                                             "\"device\":\"dev-a\"}");
  welcome = ws_expect (&c, HELIX_SYNC_FRAME_WELCOME);
  synced = ws_expect (&c, HELIX_SYNC_FRAME_SYNCED);

  /* The open socket shows in the gauge. */
  metrics = scrape (f);
  g_assert_null (strstr (metrics, "helix_websockets_open 0\n"));

  push = g_strdup_printf ("{\"type\":\"push\",\"ops\":[{\"op\":\"%s\",\"type\":\"session.put\","
                          "\"id\":\"%s\",\"hlc\":\"%" G_GINT64_FORMAT ":0:dev-a\","
                          "\"data\":{\"title\":\"No\"}}]}",
                          op_id, session, g_get_real_time () / 1000);
  soup_websocket_connection_send_text (c.ws, push);
  error = ws_expect (&c, HELIX_SYNC_FRAME_ERROR);
  g_assert_cmpstr (helix_sync_frame_get_error_code (error), ==, "unavailable");

  soup_websocket_connection_send_text (c.ws, "{\"type\":\"ping\",\"id\":\"p1\"}");
  pong = ws_expect (&c, HELIX_SYNC_FRAME_PONG);
  g_assert_false (c.closed);

  soup_websocket_connection_close (c.ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  helix_test_wait_for (c.closed, WAIT_TIMEOUT_S, "the WebSocket to close");
  g_signal_handlers_disconnect_by_data (c.ws, &c);
  g_object_unref (c.ws);
  g_queue_clear_full (&c.frames, (GDestroyNotify) g_bytes_unref);
}

static void
test_health_not_in_maintenance (Fixture       *f,
                                gconstpointer  data)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autoptr(JsonNode) root = NULL;

  msg = http (f, "GET", "/health", NULL, NULL, &response, NULL);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
  root = helix_test_http_parse_json (response);
  g_assert_false (json_object_get_boolean_member (json_node_get_object (root), "maintenance"));
}

/* CORS {{{1 */

static gboolean
header_list_has (SoupMessage *msg,
                 const char  *name,
                 const char  *token)
{
  const char *value = soup_message_headers_get_list (soup_message_get_response_headers (msg),
                                                     name);

  return value != NULL && soup_header_contains (value, token);
}

static void
test_cors (Fixture       *f,
           gconstpointer  data)
{
  SoupMessageHeaders *headers;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) response = NULL;

  msg = http (f, "GET", SESSIONS, f->alice_token, NULL, &response, "Origin", ALLOWED_ORIGIN, NULL);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
  headers = soup_message_get_response_headers (msg);
  g_assert_cmpstr (soup_message_headers_get_one (headers, "Access-Control-Allow-Origin"), ==,
                   ALLOWED_ORIGIN);
  g_assert_cmpstr (soup_message_headers_get_one (headers, "Access-Control-Allow-Credentials"),
                   ==, "true");
  g_assert_true (header_list_has (msg, "Vary", "Origin"));

  /* An origin that is not listed gets no CORS headers, and no echo. */
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  msg = http (f, "GET", SESSIONS, f->alice_token, NULL, &response,
              "Origin", "https://evil.example.com", NULL);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
  headers = soup_message_get_response_headers (msg);
  g_assert_null (soup_message_headers_get_one (headers, "Access-Control-Allow-Origin"));
  g_assert_null (soup_message_headers_get_one (headers, "Access-Control-Allow-Credentials"));
  g_assert_true (header_list_has (msg, "Vary", "Origin"));

  /* Preflight. */
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  msg = http (f, "OPTIONS", SESSIONS, NULL, NULL, &response,
              "Origin", ALLOWED_ORIGIN,
              "Access-Control-Request-Method", "POST",
              "Access-Control-Request-Headers", "authorization, content-type", NULL);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_NO_CONTENT);
  headers = soup_message_get_response_headers (msg);
  g_assert_cmpstr (soup_message_headers_get_one (headers, "Access-Control-Allow-Origin"), ==,
                   ALLOWED_ORIGIN);
  g_assert_true (header_list_has (msg, "Access-Control-Allow-Methods", "POST"));
  g_assert_true (header_list_has (msg, "Access-Control-Allow-Methods", "PATCH"));
  g_assert_true (header_list_has (msg, "Access-Control-Allow-Headers", "Authorization"));
  g_assert_true (header_list_has (msg, "Access-Control-Allow-Headers", "Content-Type"));
  g_assert_nonnull (soup_message_headers_get_one (headers, "Access-Control-Max-Age"));

  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  msg = http (f, "OPTIONS", SESSIONS, NULL, NULL, &response,
              "Origin", "https://evil.example.com",
              "Access-Control-Request-Method", "POST", NULL);
  headers = soup_message_get_response_headers (msg);
  g_assert_null (soup_message_headers_get_one (headers, "Access-Control-Allow-Origin"));
  g_assert_null (soup_message_headers_get_one (headers, "Access-Control-Allow-Methods"));
}

/* gzip {{{1 */

static GBytes *
gunzip (GBytes *compressed)
{
  g_autoptr(GZlibDecompressor) decompressor = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autoptr(GInputStream) memory = g_memory_input_stream_new_from_bytes (compressed);
  g_autoptr(GInputStream) stream = NULL;
  g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable ();
  g_autoptr(GError) error = NULL;

  stream = g_converter_input_stream_new (memory, G_CONVERTER (decompressor));
  g_output_stream_splice (out, stream, G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE |
                          G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, &error);
  g_assert_no_error (error);

  return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (out));
}

static void
test_gzip (Fixture       *f,
           gconstpointer  data)
{
  g_autoptr(SoupMessage) plain = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) plain_body = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autoptr(GBytes) decoded = NULL;
  SoupMessageHeaders *headers;

  /* A small answer is not compressed. */
  msg = http (f, "GET", SESSIONS, f->alice_token, NULL, &response,
              "Accept-Encoding", "gzip", NULL);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
  g_assert_cmpuint (g_bytes_get_size (response), <, 1024);
  g_assert_null (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                               "Content-Encoding"));

  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *title = g_strdup_printf ("A session with a fairly long title, number %u",
                                                i);
      g_autofree char *id = create_session (f, title);
    }

  plain = http (f, "GET", SESSIONS, f->alice_token, NULL, &plain_body, NULL);
  helix_test_http_assert_status (plain, plain_body, SOUP_STATUS_OK);
  g_assert_cmpuint (g_bytes_get_size (plain_body), >, 1024);
  g_assert_null (soup_message_headers_get_one (soup_message_get_response_headers (plain),
                                               "Content-Encoding"));
  g_assert_true (header_list_has (plain, "Vary", "Accept-Encoding"));

  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  msg = http (f, "GET", SESSIONS, f->alice_token, NULL, &response,
              "Accept-Encoding", "gzip, deflate", NULL);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
  headers = soup_message_get_response_headers (msg);
  g_assert_cmpstr (soup_message_headers_get_one (headers, "Content-Encoding"), ==, "gzip");
  g_assert_true (header_list_has (msg, "Vary", "Accept-Encoding"));
  g_assert_cmpuint (g_bytes_get_size (response), <, g_bytes_get_size (plain_body));

  decoded = gunzip (response);
  g_assert_true (g_bytes_equal (decoded, plain_body));

  /* q=0 refuses gzip. */
  g_clear_object (&msg);
  g_clear_pointer (&response, g_bytes_unref);
  msg = http (f, "GET", SESSIONS, f->alice_token, NULL, &response,
              "Accept-Encoding", "gzip;q=0, identity", NULL);
  helix_test_http_assert_status (msg, response, SOUP_STATUS_OK);
  g_assert_null (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                               "Content-Encoding"));
}

/* Configuration {{{1 */

typedef struct
{
  const char *data;
  const char *expected[3];
} BadConfig;

static const BadConfig bad_configs[] = {
  { "[gateway]\nrate-limit-per-user=fast\n",
    { "bad.conf:2:", "“rate-limit-per-user”", "“fast”" } },
  { "[gateway]\nlisten=127.0.0.1:8080\nrate-limit-per-address=0,5\n",
    { "bad.conf:3:", "“rate-limit-per-address”", "“0,5”" } },
  { "[gateway]\nrate-limit-per-user=10,0.5\n",
    { "bad.conf:2:", "“rate-limit-per-user”", NULL } },
  { "[gateway]\n# comment\nmaintenance=maybe\n",
    { "bad.conf:3:", "“maintenance”", "“maybe”" } },
};

static void
test_config_bad_values (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (bad_configs); i++)
    {
      const BadConfig *bad = &bad_configs[i];
      g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
      g_autoptr(GError) error = NULL;

      g_assert_false (helix_gateway_config_load_data (config, bad->data, strlen (bad->data),
                                                      "/etc/helix/bad.conf", &error));
      g_assert_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE);
      g_test_message ("%s", error->message);
      g_assert_true (g_str_has_prefix (error->message, "/etc/helix/bad.conf:"));
      for (guint j = 0; j < G_N_ELEMENTS (bad->expected) && bad->expected[j] != NULL; j++)
        g_assert_nonnull (strstr (error->message, bad->expected[j]));
      g_assert_false (helix_gateway_config_get_maintenance (config));
    }
}

static void
test_config_values (void)
{
  static const char data[] = "[gateway]\nrate-limit-per-user=5,10\n"
                             "rate-limit-per-address=off\nmaintenance=true\n";
  static const char * const bad_env[] = { "HELIX_RATE_LIMIT_PER_USER=lots", NULL };
  static const char * const env[] = { "HELIX_MAINTENANCE=false",
                                      "HELIX_RATE_LIMIT_PER_ADDRESS=20", NULL };
  g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
  g_autoptr(GError) error = NULL;
  double rate;
  double burst;

  g_assert_true (helix_gateway_config_get_rate_limit_per_user (config, &rate, &burst));
  g_assert_cmpfloat (rate, ==, 50);
  g_assert_cmpfloat (burst, ==, 100);
  g_assert_true (helix_gateway_config_get_rate_limit_per_address (config, &rate, &burst));
  g_assert_cmpfloat (rate, ==, 100);
  g_assert_cmpfloat (burst, ==, 200);
  g_assert_false (helix_gateway_config_get_maintenance (config));

  g_assert_true (helix_gateway_config_load_data (config, data, strlen (data), "good.conf",
                                                 &error));
  g_assert_no_error (error);
  g_assert_true (helix_gateway_config_get_rate_limit_per_user (config, &rate, &burst));
  g_assert_cmpfloat (rate, ==, 5);
  g_assert_cmpfloat (burst, ==, 10);
  g_assert_false (helix_gateway_config_get_rate_limit_per_address (config, &rate, &burst));
  g_assert_true (helix_gateway_config_get_maintenance (config));

  g_assert_false (helix_gateway_config_apply_environment (config, bad_env, &error));
  g_assert_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE);
  g_assert_nonnull (strstr (error->message, "HELIX_RATE_LIMIT_PER_USER"));
  g_clear_error (&error);

  g_assert_true (helix_gateway_config_apply_environment (config, env, &error));
  g_assert_no_error (error);
  g_assert_false (helix_gateway_config_get_maintenance (config));
  g_assert_true (helix_gateway_config_get_rate_limit_per_address (config, &rate, &burst));
  g_assert_cmpfloat (rate, ==, 20);
  g_assert_cmpfloat (burst, ==, 40);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/helix/gateway/hardening/metrics", Fixture, NULL,
              fixture_setup, test_metrics, fixture_teardown);
  g_test_add ("/helix/gateway/hardening/rate-limit/address", Fixture, &address_limit,
              fixture_setup, test_rate_limit_address, fixture_teardown);
  g_test_add ("/helix/gateway/hardening/rate-limit/proxied", Fixture, &address_limit,
              fixture_setup, test_rate_limit_proxied, fixture_teardown);
  g_test_add ("/helix/gateway/hardening/rate-limit/user", Fixture, &user_limit,
              fixture_setup, test_rate_limit_user, fixture_teardown);
  g_test_add ("/helix/gateway/hardening/maintenance/writes", Fixture, &maintenance,
              fixture_setup, test_maintenance, fixture_teardown);
  g_test_add ("/helix/gateway/hardening/maintenance/push", Fixture, &maintenance,
              fixture_setup, test_maintenance_push, fixture_teardown);
  g_test_add ("/helix/gateway/hardening/maintenance/off", Fixture, NULL,
              fixture_setup, test_health_not_in_maintenance, fixture_teardown);
  g_test_add ("/helix/gateway/hardening/cors", Fixture, NULL,
              fixture_setup, test_cors, fixture_teardown);
  g_test_add ("/helix/gateway/hardening/gzip", Fixture, NULL,
              fixture_setup, test_gzip, fixture_teardown);
  g_test_add_func ("/helix/gateway/hardening/config/bad-values", test_config_bad_values);
  g_test_add_func ("/helix/gateway/hardening/config/values", test_config_values);

  return g_test_run ();
}
