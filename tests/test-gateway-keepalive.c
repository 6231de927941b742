/* test-gateway-keepalive.c: HTTP keep-alive in the gateway, without leaking connections
 *
 * An in-process gateway on loopback, driven by raw HTTP/1.1 clients on
 * plain sockets (so that the test controls exactly when each connection
 * sends, pauses and closes) and by a libsoup session:
 *
 *   - several requests, one after the other and pipelined, are answered on
 *     one connection, without "Connection: close";
 *   - connections that clients use and close in every way (while idle, with
 *     "Connection: close", HTTP/1.0, with a reset, before or in the middle
 *     of a request) all go: the process's descriptors return to where they
 *     were;
 *   - a connection idle for longer than the idle timeout is closed by the
 *     gateway, and a libsoup client then simply opens another;
 *   - a connection kept open after a 500 response does not leak either;
 *   - a shutdown closes the idle connections at once, while a request in
 *     flight still gets its answer (with "Connection: close").
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libsoup/soup.h>
#include <sqlite3.h>

#include "helix-gateway.h"
#include "helix-gateway-keepalive.h"
#include "helix-test-sqlite.h"
#include "helix-test-gateway.h"
#include "helix-test-http.h"
#include "helix-test-raw-http.h"
#include "helix-test-util.h"


#define HEALTH "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

typedef struct
{
  char         *dir;
  HelixGateway *gateway;
  guint         port;
  char         *uri;
} Fixture;

static void
fixture_start (Fixture *f,
               guint    idle_timeout_ms)
{
  g_autoptr(HelixGatewayConfig) config = NULL;
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("helix-gateway-keepalive-XXXXXX", &error);
  g_assert_no_error (error);
  config = helix_test_gateway_config_new (f->dir);
  helix_test_gateway_config_apply (config, NULL);

  f->gateway = helix_gateway_new (config);
  if (idle_timeout_ms > 0)
    _helix_gateway_set_keepalive_timeout (f->gateway, idle_timeout_ms);
  g_assert_true (helix_gateway_start (f->gateway, &error));
  g_assert_no_error (error);

  f->port = helix_test_gateway_get_port (f->gateway);
  f->uri = g_strdup_printf ("http://127.0.0.1:%u", f->port);
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  fixture_start (f, GPOINTER_TO_UINT (data));
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  if (helix_gateway_get_db (f->gateway) != NULL)
    helix_test_gateway_shutdown (f->gateway);
  helix_test_assert_finalized (g_steal_pointer (&f->gateway));
  helix_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->uri);
}

/* One GET /health answered 200 on @c, the connection kept open. */
static void
client_get_health (HelixTestRawClient *c)
{
  g_auto(HelixTestRawResponse) r = { 0 };

  helix_test_raw_send (c, HEALTH);
  helix_test_raw_read_response (c, &r);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_false (r.close);
}

/* Tests {{{1 */

/* Request bodies on a kept-alive connection: the cap holds whether the body
 * comes with a length or chunked, a request without one needs no body
 * handling, and the id survives a "100 Continue". */
static void
test_bodies (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(HelixTestRawClient) c = helix_test_raw_connect (f->port);
  g_autofree char *pad = g_strnfill (20 * 1024, 'a');
  g_autofree char *with_length = NULL;
  g_autofree char *chunked = NULL;

  with_length = g_strdup_printf ("POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                 "X-Request-Id: long-1\r\nContent-Type: application/json\r\n"
                                 "Content-Length: %zu\r\n\r\n%s", strlen (pad), pad);
  chunked = g_strdup_printf ("POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "X-Request-Id: chunked-1\r\nContent-Type: application/json\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n"
                             "%zx\r\n%s\r\n%zx\r\n%s\r\n0\r\n\r\n",
                             strlen (pad) / 2, pad + strlen (pad) / 2,
                             strlen (pad) / 2, pad + strlen (pad) / 2);

  {
    g_auto(HelixTestRawResponse) r = { 0 };

    helix_test_raw_send (c, with_length);
    helix_test_raw_read_response (c, &r);
    g_assert_cmpuint (r.status, ==, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE);
    g_assert_cmpstr (r.request_id, ==, "long-1");
  }

  {
    g_auto(HelixTestRawResponse) r = { 0 };

    helix_test_raw_send (c, chunked);
    helix_test_raw_read_response (c, &r);
    g_assert_cmpuint (r.status, ==, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE);
    g_assert_cmpstr (r.request_id, ==, "chunked-1");
  }

  /* A small chunked body is read: not valid JSON, so 400 rather than 413. */
  {
    g_auto(HelixTestRawResponse) r = { 0 };

    helix_test_raw_send (c, "POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "2\r\n{x\r\n0\r\n\r\n");
    helix_test_raw_read_response (c, &r);
    g_assert_cmpuint (r.status, ==, SOUP_STATUS_BAD_REQUEST);
  }

  /* The headers first, then the body once the gateway asked for it. */
  {
    g_auto(HelixTestRawResponse) r = { 0 };

    helix_test_raw_send (c, "POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "X-Request-Id: continue-1\r\nContent-Type: application/json\r\n"
                    "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    helix_test_raw_expect_head (c, "HTTP/1.1 100 Continue\r\n");
    helix_test_raw_send (c, "{x");
    helix_test_raw_read_response (c, &r);
    g_assert_cmpuint (r.status, ==, SOUP_STATUS_BAD_REQUEST);
    g_assert_cmpstr (r.request_id, ==, "continue-1");
    g_assert_false (r.close);
  }

  /* No body at all. */
  {
    g_auto(HelixTestRawResponse) r = { 0 };

    helix_test_raw_send (c, "GET /api/v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "X-Request-Id: get-1\r\n\r\n");
    helix_test_raw_read_response (c, &r);
    g_assert_cmpuint (r.status, ==, SOUP_STATUS_UNAUTHORIZED);
    g_assert_cmpstr (r.request_id, ==, "get-1");
    g_assert_false (r.close);
  }
}

/* Requests one after the other, then pipelined, on one connection. */
static void
test_reuse (Fixture       *f,
            gconstpointer  data)
{
  g_autoptr(HelixTestRawClient) c = helix_test_raw_connect (f->port);
  g_autoptr(GHashTable) ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < 5; i++)
    {
      g_auto(HelixTestRawResponse) r = { 0 };

      helix_test_raw_send (c, HEALTH);
      helix_test_raw_read_response (c, &r);
      g_assert_cmpuint (r.status, ==, 200);
      g_assert_false (r.close);
      /* Each is a request of its own. */
      g_assert_true (g_hash_table_add (ids, g_steal_pointer (&r.request_id)));
    }

  /* The gateway waits for the next one. */
  helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 1, "an idle connection");

  helix_test_raw_send (c, HEALTH HEALTH "GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  for (guint i = 0; i < 3; i++)
    {
      g_auto(HelixTestRawResponse) r = { 0 };

      helix_test_raw_read_response (c, &r);
      g_assert_cmpuint (r.status, ==, i < 2 ? 200 : 404);
      g_assert_false (r.close);
      g_assert_true (g_hash_table_add (ids, g_steal_pointer (&r.request_id)));
    }

  /* "Connection: close" from the client ends it after the response. */
  {
    g_auto(HelixTestRawResponse) r = { 0 };

    helix_test_raw_send (c, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    helix_test_raw_read_response (c, &r);
    g_assert_cmpuint (r.status, ==, 200);
    helix_test_raw_wait_closed (c);
  }

  helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 0, "no idle connection");
}

/* A libsoup client sends its requests on one connection. */
static void
test_session (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  guint64 connection_id = 0;

  for (guint i = 0; i < 5; i++)
    {
      g_autoptr(GBytes) body = NULL;
      g_autoptr(SoupMessage) msg = helix_test_http_send (session, f->uri, SOUP_METHOD_GET,
                                                         "/health", NULL, NULL, NULL, 0, &body);

      helix_test_http_assert_status (msg, body, SOUP_STATUS_OK);
      if (i == 0)
        connection_id = soup_message_get_connection_id (msg);
      else
        g_assert_cmpuint (soup_message_get_connection_id (msg), ==, connection_id);
    }

  g_assert_cmpuint (connection_id, !=, 0);
}

typedef enum
{
  LEAVE_WHILE_IDLE,     /* requests, then the client closes */
  LEAVE_RESET,          /* requests, then the client resets the connection */
  LEAVE_CONNECTION_CLOSE,
  LEAVE_HTTP_1_0,
  LEAVE_BEFORE_REQUEST,
  LEAVE_IN_REQUEST,     /* half the headers of a request, then the client closes */
  LEAVE_AFTER_IDLE_REQUEST, /* a request on a kept-alive connection, half sent */
  N_LEAVES
} Leave;

static void
use_connection (Fixture *f,
                Leave    leave,
                guint    n_requests)
{
  g_autoptr(HelixTestRawClient) c = helix_test_raw_connect (f->port);

  switch (leave)
    {
    case LEAVE_WHILE_IDLE:
      for (guint i = 0; i < n_requests; i++)
        client_get_health (c);
      break;

    case LEAVE_RESET:
      for (guint i = 0; i < n_requests; i++)
        client_get_health (c);
      helix_test_raw_reset (c);
      break;

    case LEAVE_CONNECTION_CLOSE:
      {
        g_auto(HelixTestRawResponse) r = { 0 };

        helix_test_raw_send (c, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        helix_test_raw_read_response (c, &r);
        g_assert_cmpuint (r.status, ==, 200);
        helix_test_raw_wait_closed (c);
      }
      break;

    case LEAVE_HTTP_1_0:
      {
        g_auto(HelixTestRawResponse) r = { 0 };

        helix_test_raw_send (c, "GET /health HTTP/1.0\r\n\r\n");
        helix_test_raw_read_response (c, &r);
        g_assert_cmpuint (r.status, ==, 200);
        helix_test_raw_wait_closed (c);
      }
      break;

    case LEAVE_BEFORE_REQUEST:
      /* The gateway gets to it, then the client goes. */
      break;

    case LEAVE_IN_REQUEST:
      helix_test_raw_send (c, "GET /health HTTP/1.1\r\nHo");
      break;

    case LEAVE_AFTER_IDLE_REQUEST:
      client_get_health (c);
      helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) > 0, "an idle connection");
      helix_test_raw_send (c, "GET /health HTTP/1.1\r\nHo");
      helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 0,
                  "the request to start");
      break;

    case N_LEAVES:
    default:
      g_assert_not_reached ();
    }
}

/* Connections the clients use and close, in every way: none is left open. */
static void
test_no_leak (Fixture       *f,
              gconstpointer  data)
{
  guint baseline;

  /* Whatever the gateway opens once (the database's files) is open now. */
  use_connection (f, LEAVE_WHILE_IDLE, 2);
  helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 0, "no idle connection");
  baseline = helix_test_count_fds ();

  for (guint i = 0; i < 200; i++)
    {
      use_connection (f, i % N_LEAVES, 1 + i % 3);
      /* Let the gateway get to some of them while they are still open. */
      if (i % 2 == 0)
        g_main_context_iteration (NULL, FALSE);
    }

  helix_test_wait_fds (baseline);
  g_assert_cmpuint (_helix_gateway_get_n_idle_connections (f->gateway), ==, 0);

  /* And the gateway still answers. */
  use_connection (f, LEAVE_CONNECTION_CLOSE, 1);
  helix_test_wait_fds (baseline);
}

/* 200 clients that keep their connections open at once, then all leave. */
static void
test_many_idle (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_test_raw_client_free);
  guint baseline;

  use_connection (f, LEAVE_WHILE_IDLE, 1);
  helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 0, "no idle connection");
  baseline = helix_test_count_fds ();

  for (guint i = 0; i < 200; i++)
    {
      HelixTestRawClient *c = helix_test_raw_connect (f->port);

      client_get_health (c);
      g_ptr_array_add (clients, c);
    }
  helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 200, "200 idle connections");

  /* Each is still usable. */
  for (guint i = 0; i < clients->len; i++)
    client_get_health (g_ptr_array_index (clients, i));

  g_ptr_array_set_size (clients, 0);
  helix_test_wait_fds (baseline);
  g_assert_cmpuint (_helix_gateway_get_n_idle_connections (f->gateway), ==, 0);
}

/* More idle connections than HELIX_GATEWAY_KEEPALIVE_MAX_IDLE: the gateway
 * closes those idle for the longest. */
static void
test_max_idle (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_test_raw_client_free);
  guint n = HELIX_GATEWAY_KEEPALIVE_MAX_IDLE + 10;

  for (guint i = 0; i < n; i++)
    {
      HelixTestRawClient *c = helix_test_raw_connect (f->port);

      client_get_health (c);
      g_ptr_array_add (clients, c);
    }

  /* The first ten went, the others are still served. */
  for (guint i = 0; i < 10; i++)
    helix_test_raw_wait_closed (g_ptr_array_index (clients, i));
  g_assert_cmpuint (_helix_gateway_get_n_idle_connections (f->gateway), ==,
                    HELIX_GATEWAY_KEEPALIVE_MAX_IDLE);
  for (guint i = 10; i < n; i++)
    client_get_health (g_ptr_array_index (clients, i));
}

/* A connection idle for longer than the idle timeout is closed. */
static void
test_idle_timeout (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  guint64 first_id;
  guint baseline;

  use_connection (f, LEAVE_WHILE_IDLE, 1);
  helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 0, "no idle connection");
  baseline = helix_test_count_fds ();

  {
    g_autoptr(HelixTestRawClient) c = helix_test_raw_connect (f->port);

    client_get_health (c);
    client_get_health (c);
    helix_test_raw_wait_closed (c);
  }
  helix_test_wait_fds (baseline);

  /* A libsoup client opens another connection for its next request. */
  {
    g_autoptr(GBytes) body = NULL;
    g_autoptr(SoupMessage) msg = helix_test_http_send (session, f->uri, SOUP_METHOD_GET,
                                                       "/health", NULL, NULL, NULL, 0, &body);

    helix_test_http_assert_status (msg, body, SOUP_STATUS_OK);
    first_id = soup_message_get_connection_id (msg);
  }
  helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 1, "an idle connection");
  helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 0, "the idle timeout");
  {
    g_autoptr(GBytes) body = NULL;
    g_autoptr(SoupMessage) msg = helix_test_http_send (session, f->uri, SOUP_METHOD_GET,
                                                       "/health", NULL, NULL, NULL, 0, &body);

    helix_test_http_assert_status (msg, body, SOUP_STATUS_OK);
    g_assert_cmpuint (soup_message_get_connection_id (msg), !=, first_id);
  }
}

/* libsoup keeps the connection of a 500 response open too, though it reports
 * the request as aborted: it must not leak either. */
static void
test_internal_error (Fixture       *f,
                     gconstpointer  data)
{
  static const char body[] = "{\"username\":\"alice\",\"password\":\"x\",\"device\":\"d\"}";
  g_autofree char *db_path = helix_gateway_config_dup_database_path (
                               helix_gateway_get_config (f->gateway));
  g_autofree char *request = NULL;
  g_auto(HelixTestRawResponse) r = { 0 };
  sqlite3 *db = NULL;
  guint baseline;

  /* Logging in looks the user up: that fails now. (SQLite may keep the
   * descriptor of this connection for the next one: counted from here.) */
  db = helix_test_sqlite_open (db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  g_assert_cmpint (sqlite3_exec (db, "DROP TABLE users", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);

  use_connection (f, LEAVE_WHILE_IDLE, 1);
  helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 0, "no idle connection");
  baseline = helix_test_count_fds ();

  request = g_strdup_printf ("POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                             strlen (body), body);
  g_test_expect_message ("helix-gateway", G_LOG_LEVEL_WARNING, "POST /api/v1/auth/login: *");
  {
    g_autoptr(HelixTestRawClient) c = helix_test_raw_connect (f->port);

    helix_test_raw_send (c, request);
    helix_test_raw_read_response (c, &r);
    g_assert_cmpuint (r.status, ==, SOUP_STATUS_INTERNAL_SERVER_ERROR);
    g_assert_false (r.close);
    helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 1, "an idle connection");
  }
  g_test_assert_expected_messages ();

  helix_test_wait_fds (baseline);
  g_assert_cmpuint (_helix_gateway_get_n_idle_connections (f->gateway), ==, 0);
}

static void
shutdown_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (helix_gateway_shutdown_finish (HELIX_GATEWAY (source), result, &error));
  g_assert_no_error (error);
  *done = TRUE;
}

/* A shutdown closes the idle connections at once; a request in flight is
 * answered, with "Connection: close", and then the shutdown completes. */
static void
test_shutdown (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GPtrArray) idle = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_test_raw_client_free);
  g_autoptr(HelixTestRawClient) busy = helix_test_raw_connect (f->port);
  g_auto(HelixTestRawResponse) r = { 0 };
  gboolean done = FALSE;

  for (guint i = 0; i < 5; i++)
    {
      HelixTestRawClient *c = helix_test_raw_connect (f->port);

      client_get_health (c);
      g_ptr_array_add (idle, c);
    }

  /* On a kept-alive connection, a request whose body is not all there. */
  client_get_health (busy);
  helix_test_raw_send (busy, "POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhe");
  helix_test_spin_until (helix_gateway_get_n_requests_in_flight (f->gateway) == 1, "a request in flight");
  g_assert_cmpuint (_helix_gateway_get_n_idle_connections (f->gateway), ==, 5);

  helix_gateway_shutdown_async (f->gateway, NULL, shutdown_cb, &done);

  for (guint i = 0; i < idle->len; i++)
    helix_test_raw_wait_closed (g_ptr_array_index (idle, i));
  g_assert_false (done);

  helix_test_raw_send (busy, "llo");
  helix_test_raw_read_response (busy, &r);
  g_assert_cmpuint (r.status, ==, SOUP_STATUS_METHOD_NOT_ALLOWED);
  g_assert_true (r.close);
  helix_test_raw_wait_closed (busy);

  helix_test_spin_until (done, "the shutdown");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/helix/gateway/keepalive/reuse", Fixture, NULL,
              fixture_setup, test_reuse, fixture_teardown);
  g_test_add ("/helix/gateway/keepalive/bodies", Fixture, NULL,
              fixture_setup, test_bodies, fixture_teardown);
  g_test_add ("/helix/gateway/keepalive/session", Fixture, NULL,
              fixture_setup, test_session, fixture_teardown);
  g_test_add ("/helix/gateway/keepalive/no-leak", Fixture, NULL,
              fixture_setup, test_no_leak, fixture_teardown);
  g_test_add ("/helix/gateway/keepalive/many-idle", Fixture, NULL,
              fixture_setup, test_many_idle, fixture_teardown);
  g_test_add ("/helix/gateway/keepalive/max-idle", Fixture, NULL,
              fixture_setup, test_max_idle, fixture_teardown);
  g_test_add ("/helix/gateway/keepalive/idle-timeout", Fixture, GUINT_TO_POINTER (300),
              fixture_setup, test_idle_timeout, fixture_teardown);
  g_test_add ("/helix/gateway/keepalive/internal-error", Fixture, NULL,
              fixture_setup, test_internal_error, fixture_teardown);
  g_test_add ("/helix/gateway/keepalive/shutdown", Fixture, NULL,
              fixture_setup, test_shutdown, fixture_teardown);

  return g_test_run ();
}
