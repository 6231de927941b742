/* test-gateway-native.c: the gateway's hot routes answered without libsoup
 *
 * An in-process gateway on loopback, driven by raw HTTP/1.1 clients
 * (helix-test-raw-http.h). The native path (src/gateway/helix-gateway-native.c)
 * may only ever give the answers libsoup's routes give, so each request is
 * sent twice: on a new connection, where the native path sees it first, and
 * on a connection already handed to libsoup (its first request was one the
 * native path does not answer). The two answers must be the same, header by
 * header and byte by byte, but for Date; and the gateway's count of native
 * answers says which way each went:
 *
 *   - `GET /health` and `GET /api/v1/sessions` (empty, small, and large
 *     enough for gzip, with and without Accept-Encoding) go the native way;
 *   - every unusual request (another method or route, a query, HTTP/1.0,
 *     `Connection: close`, `Origin`, a body, a bad or missing token, a
 *     folded or binary header, no Host, a head too large or not whole yet…)
 *     goes to libsoup, answered the same as before;
 *   - pipelined requests are answered in order, whichever way each goes;
 *   - rate limits are charged once per request, whichever way it goes;
 *   - a client that reads slowly gets its whole answers, and a shutdown
 *     waits for them; idle connections close at a shutdown, and one that
 *     had sent nothing yet is answered 503 by libsoup;
 *   - native answers are counted in the metrics, and no descriptor leaks.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <libsoup/soup.h>

#include "helix-gateway.h"
#include "helix-gateway-keepalive.h"
#include "helix-gateway-native.h"
#include "helix-gateway-sync.h"
#include "helix-sync.h"
#include "helix-test-gateway.h"
#include "helix-test-http.h"
#include "helix-test-raw-http.h"
#include "helix-token-bucket.h"
#include "helix-uuid.h"

#define PASSWORD "correct horse battery staple"

#ifdef __SANITIZE_ADDRESS__
/* The mutants below make libsoup 3.2 leak a few bytes per malformed request
 * (tests/lsan.supp). libsoup has no frame pointers: only the slow unwinder
 * sees its frames, which the suppression names. Options from the
 * environment still apply on top of these. */
const char *__asan_default_options (void);

const char *
__asan_default_options (void)
{
  return "fast_unwind_on_malloc=0";
}
#endif

typedef struct
{
  char         *dir;
  HelixGateway *gateway;
  guint         port;
  char         *uri;
  char         *token;
  gint64        user_id;
  guint         baseline_fds;
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  const HelixTestGatewaySetup *setup = data;
  g_autoptr(HelixGatewayConfig) config = NULL;
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("helix-gateway-native-XXXXXX", &error);
  g_assert_no_error (error);
  config = helix_test_gateway_config_new (f->dir);
  helix_test_gateway_config_apply (config, setup);

  f->gateway = helix_gateway_new (config);
  _helix_gateway_set_native_http (f->gateway, TRUE);
  g_assert_true (helix_gateway_start (f->gateway, &error));
  g_assert_no_error (error);

  f->port = helix_test_gateway_get_port (f->gateway);
  f->uri = g_strdup_printf ("http://127.0.0.1:%u", f->port);
  f->user_id = helix_test_gateway_add_user (f->gateway, "ada", PASSWORD);
  f->token = helix_test_login (session, f->uri, "ada", PASSWORD, "laptop", NULL);

  /* The login's connection goes with its session. */
  g_clear_object (&session);
  helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 0,
                         "the login's connection to close");
  f->baseline_fds = helix_test_count_fds ();
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  /* Every connection of the test went, the gateway's side too. */
  if (helix_gateway_get_db (f->gateway) != NULL)
    {
      helix_test_wait_fds (f->baseline_fds);
      helix_test_gateway_shutdown (f->gateway);
    }
  helix_test_assert_finalized (g_steal_pointer (&f->gateway));
  helix_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->uri);
  g_free (f->token);
}

/* Helpers {{{1 */

/* Gives the user @n sessions whose titles are @title_length bytes long,
 * straight into the database (one transaction). */
static void
add_sessions (Fixture *f,
              guint    n,
              gsize    title_length)
{
  g_autoptr(GPtrArray) ops = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GPtrArray) applied = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  g_autofree char *title = g_strnfill (title_length, 't');
  g_autoptr(GError) error = NULL;
  gint64 now_ms = g_get_real_time () / 1000;

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *session_id = helix_uuid_new_v7 ();
      g_autofree char *text = NULL;
      char op_id[37];
      HelixSyncOp *op;

      helix_uuid_format_v7 (now_ms, op_id);
      text = g_strdup_printf ("{\"op\":\"%s\",\"type\":\"session.put\",\"id\":\"%s\","
                              "\"hlc\":\"%" G_GINT64_FORMAT ":%u:test\","
                              "\"data\":{\"title\":\"%s %u\"}}",
                              op_id, session_id, now_ms, i, title, i);
      op = helix_sync_op_new_from_data (text, strlen (text), &error);
      g_assert_no_error (error);
      g_ptr_array_add (ops, op);
    }

  helix_gateway_db_apply_ops (helix_gateway_get_db (f->gateway), f->user_id, 0,
                              (HelixSyncOp **) ops->pdata, ops->len, seqs, applied, &error);
  g_assert_no_error (error);
}

/* A connection the native path gave to libsoup: its first request is one
 * the native path does not answer. */
static HelixTestRawClient *
connect_libsoup (Fixture *f)
{
  HelixTestRawClient *c = helix_test_raw_connect (f->port);
  g_auto(HelixTestRawResponse) r = { 0 };
  guint64 native = _helix_gateway_get_n_native_requests (f->gateway);

  helix_test_raw_send (c, "GET /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  helix_test_raw_read_response (c, &r);
  g_assert_cmpuint (r.status, ==, 404);
  g_assert_cmpuint (_helix_gateway_get_n_native_requests (f->gateway), ==, native);

  return c;
}

/* What may differ between two /health answers: the uptime may have moved
 * on by a second. */
static const char * const health_volatile[] = { "\"uptime_s\":[0-9]+", NULL };

/* Sends @request (whole, in one write) on a new connection and on a
 * libsoup one; the answers must be the same, and the first native as
 * @native says. Returns the first answer in @r. */
static void
exchange_both (Fixture              *f,
               const char           *request,
               gboolean              native,
               HelixTestRawResponse *r)
{
  g_autoptr(HelixTestRawClient) fresh = helix_test_raw_connect (f->port);
  g_autoptr(HelixTestRawClient) old = connect_libsoup (f);
  g_auto(HelixTestRawResponse) reference = { 0 };
  guint64 before = _helix_gateway_get_n_native_requests (f->gateway);

  g_test_message ("request: %.200s", request);
  helix_test_raw_send (fresh, request);
  helix_test_raw_read_response (fresh, r);
  g_assert_cmpuint (_helix_gateway_get_n_native_requests (f->gateway), ==, before + (native ? 1 : 0));

  helix_test_raw_send (old, request);
  helix_test_raw_read_response (old, &reference);
  g_assert_cmpuint (_helix_gateway_get_n_native_requests (f->gateway), ==, before + (native ? 1 : 0));

  helix_test_raw_assert_same (r, &reference, health_volatile);
}

static char *
decompress (GBytes *body)
{
  g_autoptr(GZlibDecompressor) decompressor = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autoptr(GInputStream) memory = g_memory_input_stream_new_from_bytes (body);
  g_autoptr(GInputStream) gunzip = g_converter_input_stream_new (memory, G_CONVERTER (decompressor));
  g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable ();
  g_autoptr(GError) error = NULL;

  g_output_stream_splice (out, gunzip, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, &error);
  g_assert_no_error (error);

  return g_strndup (g_memory_output_stream_get_data (G_MEMORY_OUTPUT_STREAM (out)),
                    g_memory_output_stream_get_data_size (G_MEMORY_OUTPUT_STREAM (out)));
}

/* The number of sessions in a list answer. */
static guint
count_listed (const char *text)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (json_parser_get_root (parser)));

  return json_array_get_length (json_node_get_array (json_parser_get_root (parser)));
}

static char *
sessions_request (Fixture    *f,
                  const char *extra)
{
  return g_strdup_printf ("GET /api/v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Authorization: Bearer %s\r\nX-Request-Id: list-1\r\n%s\r\n",
                          f->token, extra);
}

/* Tests {{{1 */

static void
test_health (Fixture       *f,
             gconstpointer  data)
{
  g_auto(HelixTestRawResponse) r = { 0 };
  g_auto(HelixTestRawResponse) again = { 0 };

  exchange_both (f, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", TRUE, &r);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_nonnull (strstr (r.head, "\r\nCache-Control: no-store\r\n"));
  g_assert_cmpuint (strlen (r.request_id), ==, 32);

  /* The client's id, and headers of any case, with spaces around values. */
  exchange_both (f, "GET /health HTTP/1.1\r\nhost:127.0.0.1 \r\nUser-Agent: test\r\n"
                 "x-request-id:  health-7\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n"
                 "Accept-Encoding: gzip\r\n\r\n", TRUE, &again);
  g_assert_cmpstr (again.request_id, ==, "health-7");
}

static void
test_sessions (Fixture       *f,
               gconstpointer  data)
{
  static const struct {
    guint n;
    gsize title_length;
  } lists[] = {
    { 0, 0 },     /* none yet */
    { 3, 10 },    /* small */
    { 40, 100 },  /* > 1 KiB: gzip when accepted */
  };
  guint total = 0;

  for (guint i = 0; i < G_N_ELEMENTS (lists); i++)
    {
      g_auto(HelixTestRawResponse) plain = { 0 };
      g_auto(HelixTestRawResponse) gzipped = { 0 };
      g_auto(HelixTestRawResponse) refused = { 0 };
      g_autofree char *request = sessions_request (f, "");
      g_autofree char *request_gzip = sessions_request (f, "Accept-Encoding: deflate, gzip\r\n");
      g_autofree char *request_no_gzip = sessions_request (f, "Accept-Encoding: gzip;q=0\r\n");
      g_autofree char *text = NULL;

      add_sessions (f, lists[i].n, lists[i].title_length);
      total += lists[i].n;

      exchange_both (f, request, TRUE, &plain);
      g_assert_cmpuint (plain.status, ==, 200);
      g_assert_nonnull (strstr (plain.head, "\r\nVary: Origin\r\n"));
      g_assert_cmpstr (plain.request_id, ==, "list-1");
      text = g_strndup (g_bytes_get_data (plain.body, NULL), g_bytes_get_size (plain.body));
      g_assert_cmpuint (count_listed (text), ==, total);

      exchange_both (f, request_gzip, TRUE, &gzipped);
      exchange_both (f, request_no_gzip, TRUE, &refused);
      g_assert_true (g_bytes_equal (refused.body, plain.body));
      if (g_bytes_get_size (plain.body) > 1024)
        {
          g_autofree char *inflated = decompress (gzipped.body);

          g_assert_nonnull (strstr (gzipped.head, "\r\nContent-Encoding: gzip\r\n"));
          g_assert_nonnull (strstr (gzipped.head, "\r\nVary: Accept-Encoding\r\n"));
          g_assert_cmpstr (inflated, ==, text);
        }
      else
        g_assert_true (g_bytes_equal (gzipped.body, plain.body));
    }
}

/* Requests the native path must leave to libsoup. */
static void
test_handed_over (Fixture       *f,
                  gconstpointer  data)
{
  g_autofree char *big = g_strnfill (HELIX_GATEWAY_NATIVE_HEAD_MAX, 'x');
  g_autofree char *token_header = g_strdup_printf ("Authorization: Bearer %s\r\n", f->token);
  const char *requests[] = {
    /* Other routes, methods, targets, versions. */
    "GET /metrics-not HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
    "GET /health?verbose=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "GET /health/more HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "GET /%68ealth HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "GET /api/v1/sessions/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "GET http://127.0.0.1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "get /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
    "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    /* Headers the native path does not take. */
    "GET /health HTTP/1.1\r\n\r\n",
    "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\n\r\n",
    "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Folded: a\r\n b\r\n\r\n",
    "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Binary: caf\xc3\xa9\r\n\r\n",
    "GET /health HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n",
    "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nhi",
    "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=0-3\r\n\r\n",
    "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: a\r\nX-Request-Id: b\r\n\r\n",
    /* Not the native path's to answer: errors, CORS. */
    "GET /api/v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "GET /api/v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer nope\r\n\r\n",
    "GET /api/v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic YTpi\r\n\r\n",
  };

  for (guint i = 0; i < G_N_ELEMENTS (requests); i++)
    {
      g_auto(HelixTestRawResponse) r = { 0 };

      exchange_both (f, requests[i], FALSE, &r);
    }

  /* HEAD: an answer without a body. */
  {
    g_autoptr(HelixTestRawClient) c = helix_test_raw_connect (f->port);
    guint64 before = _helix_gateway_get_n_native_requests (f->gateway);

    helix_test_raw_send (c, "HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    helix_test_raw_expect_head (c, "HTTP/1.1 200 OK\r\n");
    g_assert_cmpuint (_helix_gateway_get_n_native_requests (f->gateway), ==, before);
  }

  /* With a token: still libsoup's when a browser's Origin comes along, or
   * the header is given twice. */
  {
    g_autofree char *origin = g_strdup_printf ("GET /api/v1/sessions HTTP/1.1\r\nHost: x\r\n%s"
                                               "Origin: https://elsewhere.example\r\n\r\n",
                                               token_header);
    g_autofree char *twice = g_strdup_printf ("GET /api/v1/sessions HTTP/1.1\r\nHost: x\r\n%s%s\r\n",
                                              token_header, token_header);
    g_auto(HelixTestRawResponse) r1 = { 0 };
    g_auto(HelixTestRawResponse) r2 = { 0 };

    exchange_both (f, origin, FALSE, &r1);
    g_assert_cmpuint (r1.status, ==, 200);
    exchange_both (f, twice, FALSE, &r2);
  }

  /* A head larger than the native path reads: libsoup answers it. */
  {
    g_autofree char *request = g_strdup_printf ("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                "X-Padding: %s\r\n\r\n", big);
    g_auto(HelixTestRawResponse) r = { 0 };

    exchange_both (f, request, FALSE, &r);
    g_assert_cmpuint (r.status, ==, 200);
  }
}

/* A head that arrives in two pieces goes to libsoup, which waits for the rest. */
static void
test_split_head (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(HelixTestRawClient) c = helix_test_raw_connect (f->port);
  g_auto(HelixTestRawResponse) r = { 0 };
  g_auto(HelixTestRawResponse) next = { 0 };
  guint64 before = _helix_gateway_get_n_native_requests (f->gateway);

  helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 1,
                         "the connection to be accepted");
  helix_test_raw_send (c, "GET /health HTTP/1.1\r\nHo");
  helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 0,
                         "the connection to go to libsoup");
  helix_test_raw_send (c, "st: 127.0.0.1\r\n\r\n");
  helix_test_raw_read_response (c, &r);
  g_assert_cmpuint (r.status, ==, 200);

  /* The connection stays libsoup's. */
  helix_test_raw_send (c, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  helix_test_raw_read_response (c, &next);
  g_assert_cmpuint (next.status, ==, 200);
  g_assert_cmpuint (_helix_gateway_get_n_native_requests (f->gateway), ==, before);
}

/* Pipelined requests are answered in order, whichever way each goes. */
static void
test_pipelined (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(HelixTestRawClient) c = helix_test_raw_connect (f->port);
  g_autofree char *list = sessions_request (f, "");
  g_autofree char *all_native = NULL;
  guint64 before = _helix_gateway_get_n_native_requests (f->gateway);

  all_native = g_strconcat ("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: p-1\r\n\r\n",
                            list,
                            "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: p-3\r\n\r\n",
                            NULL);
  helix_test_raw_send (c, all_native);
  for (guint i = 0; i < 3; i++)
    {
      g_auto(HelixTestRawResponse) r = { 0 };

      helix_test_raw_read_response (c, &r);
      g_assert_cmpuint (r.status, ==, 200);
      g_assert_cmpstr (r.request_id, ==, i == 0 ? "p-1" : i == 1 ? "list-1" : "p-3");
    }
  g_assert_cmpuint (_helix_gateway_get_n_native_requests (f->gateway), ==, before + 3);

  /* The second goes to libsoup: so does the third, in its turn. */
  {
    const char *mixed =
      "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: p-4\r\n\r\n"
      "GET /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: p-5\r\n\r\n"
      "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: p-6\r\n\r\n";

    helix_test_raw_send (c, mixed);
    for (guint i = 0; i < 3; i++)
      {
        g_auto(HelixTestRawResponse) r = { 0 };
        g_autofree char *id = g_strdup_printf ("p-%u", 4 + i);

        helix_test_raw_read_response (c, &r);
        g_assert_cmpuint (r.status, ==, i == 1 ? 404 : 200);
        g_assert_cmpstr (r.request_id, ==, id);
      }
    g_assert_cmpuint (_helix_gateway_get_n_native_requests (f->gateway), ==, before + 4);
  }
}

static const HelixTestGatewaySetup limits = {
  .rate_limit_per_user = "0.001,3",
  .rate_limit_per_address = "0.001,6",
};

/* Each request is charged once, whichever way it goes. */
static void
test_rate_limits (Fixture       *f,
                  gconstpointer  data)
{
  g_autofree char *list = sessions_request (f, "");
  g_autoptr(HelixTestRawClient) c = helix_test_raw_connect (f->port);
  g_autoptr(HelixTestRawClient) bad = helix_test_raw_connect (f->port);
  g_auto(HelixTestRawResponse) refused = { 0 };
  g_auto(HelixTestRawResponse) over = { 0 };
  guint64 before = _helix_gateway_get_n_native_requests (f->gateway);

  /* The login took one of the address's 6. A request libsoup refuses (bad
   * token) takes another, once. */
  helix_test_raw_send (bad, "GET /api/v1/sessions HTTP/1.1\r\nHost: x\r\n"
                            "Authorization: Bearer nope\r\n\r\n");
  helix_test_raw_read_response (bad, &refused);
  g_assert_cmpuint (refused.status, ==, 401);

  /* The user's 3, natively: the address has 4 left. */
  for (guint i = 0; i < 3; i++)
    {
      g_auto(HelixTestRawResponse) r = { 0 };

      helix_test_raw_send (c, list);
      helix_test_raw_read_response (c, &r);
      g_assert_cmpuint (r.status, ==, 200);
    }
  g_assert_cmpuint (_helix_gateway_get_n_native_requests (f->gateway), ==, before + 3);

  /* The user's 4th: libsoup refuses it, and it took nothing natively. */
  helix_test_raw_send (c, list);
  helix_test_raw_read_response (c, &over);
  g_assert_cmpuint (over.status, ==, 429);
  g_assert_nonnull (strstr (over.head, "\r\nRetry-After: "));
  g_assert_cmpuint (_helix_gateway_get_n_native_requests (f->gateway), ==, before + 3);

  /* The address had 6: login, bad token, 3 lists, and the refused one
   * (charged to the address before the user's limit refused it). */
  {
    g_autoptr(HelixTestRawClient) last = helix_test_raw_connect (f->port);
    g_auto(HelixTestRawResponse) r = { 0 };

    helix_test_raw_send (last, "GET /api/v1/sessions HTTP/1.1\r\nHost: x\r\n\r\n");
    helix_test_raw_read_response (last, &r);
    g_assert_cmpuint (r.status, ==, 429);
  }
}

/* Reads @c slowly until it holds @n whole responses; returns their bodies. */
static GPtrArray *
read_slowly (HelixTestRawClient *c,
             guint               n)
{
  GPtrArray *bodies = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

  for (guint i = 0; i < n; i++)
    {
      g_auto(HelixTestRawResponse) r = { 0 };

      helix_test_raw_read_response (c, &r);
      g_assert_cmpuint (r.status, ==, 200);
      g_ptr_array_add (bodies, g_bytes_ref (r.body));
    }

  return bodies;
}

/* A client that reads slowly gets whole answers, and a shutdown waits. */
static void
test_slow_reader (Fixture       *f,
                  gconstpointer  data)
{
  g_autofree char *list = sessions_request (f, "");
  g_autofree char *twice = g_strconcat (list, list, NULL);
  g_autoptr(HelixTestRawClient) c = NULL;
  g_autoptr(GPtrArray) bodies = NULL;
  g_autofree char *text = NULL;
  gboolean done = FALSE;

  /* About 5 MB: more than the sockets hold (the kernel gives a loopback
   * connection a send buffer of up to 4 MiB). */
  add_sessions (f, 5000, 1000);

  c = helix_test_raw_connect_with_buffer (f->port, 4096);
  helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 1,
                         "the connection to be accepted");
  helix_test_raw_send (c, twice);
  helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 0,
                         "the gateway to wait for the client");
  g_assert_cmpuint (_helix_gateway_get_n_native_requests (f->gateway), ==, 1);

  /* The answer is owed: the shutdown waits for it, and the second request
   * is not read meanwhile. */
  helix_gateway_shutdown_async (f->gateway, NULL, helix_test_gateway_shutdown_cb, &done);
  for (guint i = 0; i < 20; i++)
    g_main_context_iteration (NULL, FALSE);
  g_assert_false (done);

  bodies = read_slowly (c, 1);
  text = g_strndup (g_bytes_get_data (bodies->pdata[0], NULL), g_bytes_get_size (bodies->pdata[0]));
  g_assert_cmpuint (count_listed (text), ==, 5000);
  /* Then the connection closes: the second request came during the shutdown. */
  helix_test_raw_wait_closed (c);
  helix_test_wait_for (done, HELIX_TEST_GATEWAY_WAIT_S, "the gateway to shut down");
}

/* Kept-alive connections close at a shutdown; one that has sent nothing
 * is answered by libsoup (503) if it sends during the shutdown. */
static void
test_shutdown (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(HelixTestRawClient) used = helix_test_raw_connect (f->port);
  g_autoptr(HelixTestRawClient) quiet = helix_test_raw_connect (f->port);
  g_autoptr(HelixTestRawClient) busy = connect_libsoup (f);
  g_auto(HelixTestRawResponse) r = { 0 };
  g_auto(HelixTestRawResponse) late = { 0 };
  g_autofree char *text = NULL;
  gboolean done = FALSE;

  helix_test_raw_send (used, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  helix_test_raw_read_response (used, &r);
  helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 3,
                         "three idle connections");

  /* A request in flight keeps the gateway draining. */
  helix_test_raw_send (busy, "POST /api/v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Content-Length: 10\r\n\r\n{");
  helix_test_spin_until (_helix_gateway_get_n_idle_connections (f->gateway) == 2,
                         "the request to start");
  helix_gateway_shutdown_async (f->gateway, NULL, helix_test_gateway_shutdown_cb, &done);

  helix_test_raw_wait_closed (used);
  helix_test_raw_send (quiet, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  helix_test_raw_read_response (quiet, &late);
  g_assert_cmpuint (late.status, ==, 503);
  text = g_strndup (g_bytes_get_data (late.body, NULL), g_bytes_get_size (late.body));
  g_assert_nonnull (strstr (text, "\"shutting_down\""));

  helix_test_raw_send (busy, "\"x\":1}   ");
  helix_test_wait_for (done, HELIX_TEST_GATEWAY_WAIT_S, "the gateway to shut down");
}

/* Mutated requests: whatever the native path answers, libsoup answers the
 * same. Those it leaves to libsoup are not read on: their answer is
 * libsoup's by construction (see test_handed_over()). */
static void
test_mutants (Fixture       *f,
              gconstpointer  data)
{
  static const char bytes[] = { ' ', '\t', ':', '\r', '\n', '\0', 'a', 'A', '%', '?', '#', '/',
                                ',', ';', '=', '"', '\x7f', '\x80', '\xff', '0', '-', '.' };
  g_autofree char *list = sessions_request (f, "Accept-Encoding: gzip\r\nX-Other: 1\r\n");
  const char *seeds[] = {
    "GET /health HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-Request-Id: m-1\r\n"
    "Connection: keep-alive\r\nContent-Length: 0\r\n\r\n",
    list,
  };
  g_autoptr(GRand) rand = g_rand_new_with_seed (20261122);
  guint n_native = 0;

  add_sessions (f, 2, 10);

  for (guint i = 0; i < 600; i++)
    {
      const char *seed = seeds[i % G_N_ELEMENTS (seeds)];
      g_autoptr(GString) mutant = g_string_new (seed);
      g_autoptr(HelixTestRawClient) fresh = NULL;
      g_auto(HelixTestRawResponse) r = { 0 };
      guint64 before = _helix_gateway_get_n_native_requests (f->gateway);
      guint n_edits = 1 + g_rand_int_range (rand, 0, 3);

      for (guint e = 0; e < n_edits; e++)
        {
          /* Within the head: its last empty line stays. */
          guint at = g_rand_int_range (rand, 0, (gint32) mutant->len - 4);
          char byte = bytes[g_rand_int_range (rand, 0, G_N_ELEMENTS (bytes))];

          switch (g_rand_int_range (rand, 0, 3))
            {
            case 0:
              mutant->str[at] = byte;
              break;
            case 1:
              g_string_insert_c (mutant, at, byte);
              break;
            default:
              g_string_erase (mutant, at, 1);
              break;
            }
        }

      fresh = helix_test_raw_connect (f->port);
      helix_test_spin_until (_helix_gateway_get_n_native_connections (f->gateway) == 1,
                             "the connection to be accepted");
      g_assert_cmpint (send (fresh->fd, mutant->str, mutant->len, MSG_NOSIGNAL), ==,
                       (gssize) mutant->len);
      helix_test_spin_until (_helix_gateway_get_n_native_requests (f->gateway) > before ||
                             _helix_gateway_get_n_native_connections (f->gateway) == 0,
                             "the request to be answered or handed over");
      if (_helix_gateway_get_n_native_requests (f->gateway) == before)
        continue;

      /* Answered natively: libsoup must give the same answer. */
      n_native++;
      helix_test_raw_read_response (fresh, &r);
      g_clear_pointer (&fresh, helix_test_raw_client_free);
      {
        g_autoptr(HelixTestRawClient) old = connect_libsoup (f);
        g_auto(HelixTestRawResponse) reference = { 0 };
        g_autofree char *escaped = NULL;

        g_test_message ("native mutant: %s", escaped = g_strescape (mutant->str, NULL));
        g_assert_cmpint (send (old->fd, mutant->str, mutant->len, MSG_NOSIGNAL), ==,
                         (gssize) mutant->len);
        helix_test_raw_read_response (old, &reference);
        helix_test_raw_assert_same (&r, &reference, health_volatile);
      }
    }

  /* Some of them were harmless (an edit in a value the routes ignore). */
  g_test_message ("%u of 600 mutants answered natively", n_native);
  g_assert_cmpuint (n_native, >, 0);
}

/* Native answers are counted like libsoup's. */
static void
test_metrics (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(HelixTestRawClient) c = helix_test_raw_connect (f->port);
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(GBytes) metrics = NULL;
  g_autofree char *text = NULL;
  const char *line;
  guint64 before = _helix_gateway_get_n_native_requests (f->gateway);

  for (guint i = 0; i < 5; i++)
    {
      g_auto(HelixTestRawResponse) r = { 0 };

      helix_test_raw_send (c, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      helix_test_raw_read_response (c, &r);
    }
  g_assert_cmpuint (_helix_gateway_get_n_native_requests (f->gateway), ==, before + 5);

  metrics = helix_test_http (session, f->uri, SOUP_METHOD_GET, "/metrics", NULL, NULL,
                             SOUP_STATUS_OK);
  text = g_strndup (g_bytes_get_data (metrics, NULL), g_bytes_get_size (metrics));
  line = strstr (text, "helix_http_requests_total{route=\"/health\",method=\"GET\",status=\"200\"} ");
  g_assert_nonnull (line);
  g_assert_cmpuint (g_ascii_strtoull (strchr (line, '}') + 2, NULL, 10), >=, 5);
}

static void
test_would_take (void)
{
  g_autoptr(HelixTokenBuckets) buckets = helix_token_buckets_new (1, 2, 10);
  gint64 retry_after_us;

  g_assert_true (helix_token_buckets_would_take (buckets, "a", 0));
  g_assert_true (helix_token_buckets_take (buckets, "a", 0, &retry_after_us));
  g_assert_true (helix_token_buckets_would_take (buckets, "a", 0));
  g_assert_true (helix_token_buckets_take (buckets, "a", 0, &retry_after_us));
  /* Empty: asking changes nothing, time refills. */
  for (guint i = 0; i < 3; i++)
    g_assert_false (helix_token_buckets_would_take (buckets, "a", 0));
  g_assert_false (helix_token_buckets_would_take (buckets, "a", G_USEC_PER_SEC / 2));
  g_assert_true (helix_token_buckets_would_take (buckets, "a", G_USEC_PER_SEC));
  g_assert_true (helix_token_buckets_take (buckets, "a", G_USEC_PER_SEC, &retry_after_us));
  g_assert_false (helix_token_buckets_take (buckets, "a", G_USEC_PER_SEC, &retry_after_us));
  g_assert_true (helix_token_buckets_would_take (buckets, "b", 0));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/helix/gateway/native/would-take", test_would_take);
  g_test_add ("/helix/gateway/native/health", Fixture, NULL,
              fixture_setup, test_health, fixture_teardown);
  g_test_add ("/helix/gateway/native/sessions", Fixture, NULL,
              fixture_setup, test_sessions, fixture_teardown);
  g_test_add ("/helix/gateway/native/handed-over", Fixture, NULL,
              fixture_setup, test_handed_over, fixture_teardown);
  g_test_add ("/helix/gateway/native/mutants", Fixture, NULL,
              fixture_setup, test_mutants, fixture_teardown);
  g_test_add ("/helix/gateway/native/split-head", Fixture, NULL,
              fixture_setup, test_split_head, fixture_teardown);
  g_test_add ("/helix/gateway/native/pipelined", Fixture, NULL,
              fixture_setup, test_pipelined, fixture_teardown);
  g_test_add ("/helix/gateway/native/rate-limits", Fixture, &limits,
              fixture_setup, test_rate_limits, fixture_teardown);
  g_test_add ("/helix/gateway/native/slow-reader", Fixture, NULL,
              fixture_setup, test_slow_reader, fixture_teardown);
  g_test_add ("/helix/gateway/native/shutdown", Fixture, NULL,
              fixture_setup, test_shutdown, fixture_teardown);
  g_test_add ("/helix/gateway/native/metrics", Fixture, NULL,
              fixture_setup, test_metrics, fixture_teardown);

  return g_test_run ();
}
