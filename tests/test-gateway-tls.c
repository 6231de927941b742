/* test-gateway-tls.c: the gateway serving HTTPS and WSS itself
 *
 * A throwaway self-signed certificate and key are made with openssl(1) for
 * each test (never stored in the tree), the gateway is started with them on
 * an ephemeral loopback port, and libsoup clients that trust exactly that
 * certificate talk to it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "helix-gateway.h"
#include "helix-sync-frame.h"
#include "helix-test-gateway.h"
#include "helix-test-http.h"
#include "helix-test-tls.h"
#include "helix-test-util.h"

#define WAIT_TIMEOUT_S 30

typedef struct
{
  char            *dir;
  char            *cert_path;
  char            *key_path;
  GTlsCertificate *cert;
  HelixGateway    *gateway;
  SoupSession     *session;
  guint            port;
} Fixture;

/* Makes cert.pem and key.pem in @dir; FALSE (and the test skipped) without openssl. */
static gboolean
make_certificate (Fixture *f)
{
  f->cert = helix_test_tls_make_certificate (f->cert_path, f->key_path);

  return f->cert != NULL;
}

/* Trusts exactly the test's certificate. */
static gboolean
on_accept_certificate (SoupMessage          *msg,
                       GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       Fixture              *f)
{
  return g_tls_certificate_is_same (certificate, f->cert);
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("helix-gateway-tls-XXXXXX", &error);
  g_assert_no_error (error);
  f->cert_path = g_build_filename (f->dir, "cert.pem", NULL);
  f->key_path = g_build_filename (f->dir, "key.pem", NULL);
  f->session = soup_session_new ();
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_object (&f->session);

  if (f->gateway != NULL)
    {
      helix_test_gateway_shutdown (f->gateway);
      helix_test_assert_finalized (g_steal_pointer (&f->gateway));
    }

  g_clear_object (&f->cert);
  helix_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->cert_path);
  g_free (f->key_path);
}

static void
start_tls_gateway (Fixture *f)
{
  g_autoptr(HelixGatewayConfig) config = helix_test_gateway_config_new (f->dir);
  g_autoptr(GError) error = NULL;

  g_assert_true (helix_gateway_config_set_tls_certificate (config, f->cert_path, &error));
  g_assert_true (helix_gateway_config_set_tls_key (config, f->key_path, &error));
  g_assert_no_error (error);

  f->gateway = helix_test_gateway_start (config);
  g_assert_true (g_str_has_prefix (helix_gateway_get_uri (f->gateway), "https://"));
  f->port = helix_test_gateway_get_port (f->gateway);
}

/* Sends a request to @scheme://127.0.0.1:port@path; returns the error, if any. */
static GError *
request (Fixture     *f,
         const char  *scheme,
         const char  *method,
         const char  *path,
         const char  *body,
         guint       *status,
         GBytes     **response)
{
  g_autofree char *base_uri = g_strdup_printf ("%s://127.0.0.1:%u", scheme, f->port);
  g_autoptr(SoupMessage) msg = helix_test_http_message_new (base_uri, method, path, NULL,
                                                            "application/json", body, -1);
  g_autoptr(GBytes) answer = NULL;
  GError *error = NULL;

  g_signal_connect (msg, "accept-certificate", G_CALLBACK (on_accept_certificate), f);
  answer = helix_test_http_send_message (f->session, msg, &error);
  *status = soup_message_get_status (msg);
  if (response != NULL)
    *response = g_steal_pointer (&answer);

  if (error == NULL && g_str_equal (scheme, "https"))
    g_assert_true (g_tls_certificate_is_same (soup_message_get_tls_peer_certificate (msg),
                                              f->cert));

  return error;
}

static void
assert_health (Fixture *f)
{
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *root;
  guint status = 0;

  error = request (f, "https", "GET", "/health", NULL, &status, &body);
  g_assert_no_error (error);
  g_assert_cmpuint (status, ==, SOUP_STATUS_OK);
  json_parser_load_from_data (parser, g_bytes_get_data (body, NULL), g_bytes_get_size (body),
                              &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (root, "status"), ==, "ok");
}

static void
on_ws_message (SoupWebsocketConnection *ws,
               gint                     type,
               GBytes                  *message,
               GQueue                  *frames)
{
  g_queue_push_tail (frames, g_bytes_ref (message));
}

static void
test_https_and_wss (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *ws_uri = NULL;
  g_autofree char *bearer = NULL;
  g_autoptr(SoupMessage) upgrade = NULL;
  g_autoptr(HelixSyncFrame) welcome = NULL;
  g_autoptr(GBytes) frame = NULL;
  GQueue frames = G_QUEUE_INIT;
  SoupWebsocketConnection *ws;
  guint status = 0;
  const char *token;

  if (!make_certificate (f))
    return;
  start_tls_gateway (f);

  assert_health (f);

  /* A login and the sync WebSocket over TLS. */
  helix_test_gateway_add_user (f->gateway, "alice", "correct horse alice");
  error = request (f, "https", "POST", "/api/v1/auth/login",
                   "{\"username\":\"alice\",\"password\":\"correct horse alice\","
                   "\"device\":\"laptop\"}", &status, &body);
  g_assert_no_error (error);
  g_assert_cmpuint (status, ==, SOUP_STATUS_OK);
  json_parser_load_from_data (parser, g_bytes_get_data (body, NULL), g_bytes_get_size (body),
                              &error);
  g_assert_no_error (error);
  token = json_object_get_string_member (json_node_get_object (json_parser_get_root (parser)),
                                         "token");

  ws_uri = g_strdup_printf ("wss://127.0.0.1:%u/api/v1/sync", f->port);
  upgrade = soup_message_new ("GET", ws_uri);
  bearer = g_strconcat ("Bearer ", token, NULL);
  soup_message_headers_replace (soup_message_get_request_headers (upgrade), "Authorization",
                                bearer);
  g_signal_connect (upgrade, "accept-certificate", G_CALLBACK (on_accept_certificate), f);
  ws = helix_test_ws_connect (f->session, upgrade, NULL, NULL);
  g_assert_true (g_tls_certificate_is_same (soup_message_get_tls_peer_certificate (upgrade),
                                            f->cert));

  g_signal_connect (ws, "message", G_CALLBACK (on_ws_message), &frames);
  soup_websocket_connection_send_text (ws,
                                       "{\"type\":\"hello\",\"cursor\":0,\"device\":\"dev-a\"}");
  helix_test_wait_for (frames.length > 0, WAIT_TIMEOUT_S, "welcome");
  frame = g_queue_pop_head (&frames);
  welcome = helix_sync_frame_parse (g_bytes_get_data (frame, NULL), g_bytes_get_size (frame),
                                    &error);
  g_assert_no_error (error);
  g_assert_cmpint (helix_sync_frame_get_kind (welcome), ==, HELIX_SYNC_FRAME_WELCOME);
  g_assert_cmpstr (helix_sync_frame_get_user (welcome), ==, "alice");

  g_signal_handlers_disconnect_by_data (ws, &frames);
  soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  g_object_unref (ws);
  g_queue_clear_full (&frames, (GDestroyNotify) g_bytes_unref);
}

/* A client that does not trust the certificate, one that speaks plain HTTP
 * to the TLS port, and one that connects and says nothing: each fails on
 * its own, and the gateway keeps serving. */
static void
test_bad_clients (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketClient) client = NULL;
  g_autoptr(GSocketConnection) idle = NULL;
  g_autoptr(SoupSession) strict = soup_session_new ();
  g_autofree char *uri = NULL;
  guint status = 0;

  if (!make_certificate (f))
    return;
  start_tls_gateway (f);

  /* Plain HTTP to the TLS port: no answer libsoup can read. */
  error = request (f, "http", "GET", "/health", NULL, &status, NULL);
  g_assert_nonnull (error);
  g_test_message ("plain HTTP to the TLS port: %s", error->message);
  g_assert_cmpuint (status, !=, SOUP_STATUS_OK);
  g_clear_error (&error);
  assert_health (f);

  /* A client that trusts nothing it was not told to. */
  {
    g_autoptr(SoupMessage) msg = NULL;
    g_autoptr(GBytes) answer = NULL;

    uri = g_strdup_printf ("https://127.0.0.1:%u/health", f->port);
    msg = soup_message_new ("GET", uri);
    answer = helix_test_http_send_message (strict, msg, &error);
    g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
    g_clear_error (&error);
  }
  assert_health (f);

  /* A connection that sends nothing does not hold up the others. */
  client = g_socket_client_new ();
  idle = g_socket_client_connect_to_host (client, "127.0.0.1", f->port, NULL, &error);
  g_assert_no_error (error);
  assert_health (f);

  /* The gateway shuts down with that handshake still pending. */
}

/* The handshake has a deadline: a silent client is dropped. */
static void
test_handshake_timeout (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketClient) client = NULL;
  g_autoptr(GSocketConnection) idle = NULL;
  GInputStream *in;
  guint8 byte;
  gssize got;
  gint64 start_us;

  if (!make_certificate (f))
    return;
  start_tls_gateway (f);

  client = g_socket_client_new ();
  idle = g_socket_client_connect_to_host (client, "127.0.0.1", f->port, NULL, &error);
  g_assert_no_error (error);
  in = g_io_stream_get_input_stream (G_IO_STREAM (idle));

  /* The gateway runs on this thread: wait for its close without blocking. */
  start_us = g_get_monotonic_time ();
  g_socket_set_blocking (g_socket_connection_get_socket (idle), FALSE);
  for (;;)
    {
      g_clear_error (&error);
      got = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (in), &byte, 1,
                                                      NULL, &error);
      if (got == 0 || (got < 0 && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)))
        break;
      g_assert_cmpint (g_get_monotonic_time () - start_us, <, 20 * G_USEC_PER_SEC);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (10000);
    }
  g_test_message ("silent client dropped after %.1f s",
                  (g_get_monotonic_time () - start_us) / (double) G_USEC_PER_SEC);
  assert_health (f);
}

static void
expect_start_error (Fixture            *f,
                    HelixGatewayConfig *config,
                    const char         *part1,
                    const char         *part2)
{
  g_autoptr(HelixGateway) gateway = helix_gateway_new (config);
  g_autoptr(GError) error = NULL;

  g_assert_false (helix_gateway_start (gateway, &error));
  g_assert_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_TLS);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, part1));
  if (part2 != NULL)
    g_assert_nonnull (strstr (error->message, part2));
}

static void
test_config (Fixture       *f,
             gconstpointer  data)
{
  g_autofree char *missing = NULL;
  g_autofree char *conf_data = NULL;
  g_autoptr(GError) error = NULL;

  if (!make_certificate (f))
    return;
  missing = g_build_filename (f->dir, "missing.pem", NULL);

  /* One without the other. */
  {
    g_autoptr(HelixGatewayConfig) config = helix_test_gateway_config_new (f->dir);

    g_assert_true (helix_gateway_config_set_tls_certificate (config, f->cert_path, NULL));
    expect_start_error (f, config, "tls-key", f->cert_path);
  }
  {
    g_autoptr(HelixGatewayConfig) config = helix_test_gateway_config_new (f->dir);

    g_assert_true (helix_gateway_config_set_tls_key (config, f->key_path, NULL));
    expect_start_error (f, config, "tls-certificate", f->key_path);
  }

  /* A key every user can read is refused. */
  {
    g_autoptr(HelixGatewayConfig) config = helix_test_gateway_config_new (f->dir);

    g_assert_cmpint (g_chmod (f->key_path, 0644), ==, 0);
    g_assert_true (helix_gateway_config_set_tls_certificate (config, f->cert_path, NULL));
    g_assert_true (helix_gateway_config_set_tls_key (config, f->key_path, NULL));
    expect_start_error (f, config, f->key_path, "chmod 600");
    g_assert_cmpint (g_chmod (f->key_path, 0600), ==, 0);
  }

  /* Missing files, and a key that is not a key. */
  {
    g_autoptr(HelixGatewayConfig) config = helix_test_gateway_config_new (f->dir);

    g_assert_true (helix_gateway_config_set_tls_certificate (config, f->cert_path, NULL));
    g_assert_true (helix_gateway_config_set_tls_key (config, missing, NULL));
    expect_start_error (f, config, missing, NULL);
  }
  {
    g_autoptr(HelixGatewayConfig) config = helix_test_gateway_config_new (f->dir);

    g_assert_true (helix_gateway_config_set_tls_certificate (config, missing, NULL));
    g_assert_true (helix_gateway_config_set_tls_key (config, f->key_path, NULL));
    expect_start_error (f, config, missing, NULL);
  }
  {
    g_autoptr(HelixGatewayConfig) config = helix_test_gateway_config_new (f->dir);

    g_assert_true (helix_gateway_config_set_tls_certificate (config, f->cert_path, NULL));
    g_assert_true (helix_gateway_config_set_tls_key (config, f->cert_path, NULL));
    g_assert_cmpint (g_chmod (f->cert_path, 0600), ==, 0);
    expect_start_error (f, config, f->cert_path, "PEM");
    g_assert_cmpint (g_chmod (f->cert_path, 0644), ==, 0);
  }

  /* In a file: absolute paths only; an empty value means no TLS. */
  {
    g_autoptr(HelixGatewayConfig) config = helix_test_gateway_config_new (f->dir);
    const char *text = "[gateway]\ntls-certificate=cert.pem\n";

    g_assert_false (helix_gateway_config_load_data (config, text, strlen (text), "tls.conf",
                                                    &error));
    g_assert_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE);
    g_assert_nonnull (strstr (error->message, "tls.conf:2:"));
    g_assert_nonnull (strstr (error->message, "“tls-certificate”"));
    g_clear_error (&error);
  }
  {
    g_autoptr(HelixGatewayConfig) config = helix_test_gateway_config_new (f->dir);
    g_autoptr(GTlsCertificate) loaded = NULL;

    conf_data = g_strdup_printf ("[gateway]\ntls-certificate=%s\ntls-key=%s\n", f->cert_path,
                                 f->key_path);
    g_assert_true (helix_gateway_config_load_data (config, conf_data, strlen (conf_data),
                                                   "tls.conf", &error));
    g_assert_no_error (error);
    g_assert_cmpstr (helix_gateway_config_get_tls_certificate (config), ==, f->cert_path);
    g_assert_cmpstr (helix_gateway_config_get_tls_key (config), ==, f->key_path);
    g_assert_true (helix_gateway_config_load_tls (config, &loaded, &error));
    g_assert_no_error (error);
    g_assert_true (g_tls_certificate_is_same (loaded, f->cert));
  }
  {
    g_autoptr(HelixGatewayConfig) config = helix_test_gateway_config_new (f->dir);
    g_autoptr(GTlsCertificate) loaded = NULL;
    const char *text = "[gateway]\ntls-certificate=\ntls-key=\n";

    g_assert_true (helix_gateway_config_load_data (config, text, strlen (text), "tls.conf",
                                                   &error));
    g_assert_null (helix_gateway_config_get_tls_certificate (config));
    g_assert_true (helix_gateway_config_load_tls (config, &loaded, &error));
    g_assert_no_error (error);
    g_assert_null (loaded);
  }

  /* The environment, over the file. */
  {
    g_autoptr(HelixGatewayConfig) config = helix_test_gateway_config_new (f->dir);
    g_auto(GStrv) env = NULL;

    env = g_environ_setenv (NULL, "HELIX_TLS_CERTIFICATE", f->cert_path, TRUE);
    env = g_environ_setenv (env, "HELIX_TLS_KEY", f->key_path, TRUE);
    g_assert_true (helix_gateway_config_apply_environment (config, (const char * const *) env,
                                                           &error));
    g_assert_no_error (error);
    g_assert_cmpstr (helix_gateway_config_get_tls_certificate (config), ==, f->cert_path);
    g_assert_cmpstr (helix_gateway_config_get_tls_key (config), ==, f->key_path);
  }

  /* Nothing configured: plain HTTP, as before. */
  {
    g_autoptr(HelixGatewayConfig) config = helix_test_gateway_config_new (f->dir);
    g_autoptr(HelixGateway) gateway = helix_test_gateway_start (config);

    g_assert_true (g_str_has_prefix (helix_gateway_get_uri (gateway), "http://"));
    helix_test_gateway_shutdown (gateway);
  }
}

int
main (int   argc,
      char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/helix/gateway/tls/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("https-and-wss", test_https_and_wss);
  ADD ("bad-clients", test_bad_clients);
  ADD ("handshake-timeout", test_handshake_timeout);
  ADD ("config", test_config);

#undef ADD

  ret = g_test_run ();
  helix_test_tls_end_workers ();

  return ret;
}
