/* helix-test-server.h: a loopback HTTP server for tests that play a remote service
 *
 * A SoupServer fed by a GSocketService of our own: libsoup 3.2's own listener
 * leaks. It can be killed and started again on the same port. With a
 * certificate set before it starts, it speaks HTTPS (as the gateway does:
 * the TLS handshake first, then the stream goes to the SoupServer).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct
{
  SoupServer     *server;
  GSocketService *service;
  GPtrArray      *connections;
  guint           port;        /* kept across a restart */
  GTlsCertificate *tls_certificate; /* (nullable): HTTPS with it */
} HelixTestServer;

typedef struct
{
  HelixTestServer *s;
  GSocketAddress  *local;
  GSocketAddress  *remote;
} HelixTestServerHandshake;

static inline void
helix_test_server_handshake_cb (GObject      *source,
                                GAsyncResult *result,
                                gpointer      user_data)
{
  HelixTestServerHandshake *hs = user_data;
  g_autoptr(GError) error = NULL;

  /* A client that gave up, or a server stopped meanwhile: nothing to serve. */
  if (g_tls_connection_handshake_finish (G_TLS_CONNECTION (source), result, &error) &&
      hs->s->server != NULL &&
      !soup_server_accept_iostream (hs->s->server, G_IO_STREAM (source), hs->local, hs->remote,
                                    &error))
    g_error ("test server: %s", error->message);

  g_object_unref (hs->local);
  g_object_unref (hs->remote);
  g_free (hs);
}

static inline gboolean
helix_test_server_incoming_cb (GSocketService    *service,
                               GSocketConnection *connection,
                               GObject           *source_object,
                               HelixTestServer   *s)
{
  g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address (connection, NULL);
  g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address (connection, NULL);
  g_autoptr(GError) error = NULL;

  g_ptr_array_add (s->connections, g_object_ref (connection));
  if (s->tls_certificate != NULL)
    {
      g_autoptr(GIOStream) tls = g_tls_server_connection_new (G_IO_STREAM (connection),
                                                              s->tls_certificate, &error);
      HelixTestServerHandshake *hs = g_new0 (HelixTestServerHandshake, 1);

      g_assert_no_error (error);
      hs->s = s;
      hs->local = g_steal_pointer (&local);
      hs->remote = g_steal_pointer (&remote);
      g_tls_connection_handshake_async (G_TLS_CONNECTION (tls), G_PRIORITY_DEFAULT, NULL,
                                        helix_test_server_handshake_cb, hs);
      return TRUE;
    }

  if (!soup_server_accept_iostream (s->server, G_IO_STREAM (connection), local, remote, &error))
    g_error ("test server: %s", error->message);

  return TRUE;
}

/* Listens on 127.0.0.1, on the port it had before if any, and hands every
 * request to @handler. */
static inline void
helix_test_server_start (HelixTestServer    *s,
                         SoupServerCallback  handler,
                         gpointer            user_data)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, s->port);
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) error = NULL;

  if (s->connections == NULL)
    s->connections = g_ptr_array_new_with_free_func (g_object_unref);
  s->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (s->server, NULL, handler, user_data, NULL);
  s->service = g_socket_service_new ();
  g_socket_listener_add_address (G_SOCKET_LISTENER (s->service), address, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &effective, &error);
  g_assert_no_error (error);
  g_signal_connect (s->service, "incoming", G_CALLBACK (helix_test_server_incoming_cb), s);
  g_socket_service_start (s->service);
  s->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
}

/* Closes the listener and every connection, as a killed process would. */
static inline void
helix_test_server_stop (HelixTestServer *s)
{
  if (s->server == NULL)
    return;

  g_socket_service_stop (s->service);
  g_socket_listener_close (G_SOCKET_LISTENER (s->service));
  g_clear_object (&s->service);
  soup_server_disconnect (s->server);
  g_clear_object (&s->server);
  for (guint i = 0; i < s->connections->len; i++)
    g_io_stream_close (g_ptr_array_index (s->connections, i), NULL, NULL);
  g_ptr_array_set_size (s->connections, 0);
  /* Let the closed connections finish their cleanup (a bounded number of
   * iterations: the code under test keeps working meanwhile). */
  for (guint i = 0; i < 100 && g_main_context_iteration (NULL, FALSE); i++)
    ;
}

static inline void
helix_test_server_clear (HelixTestServer *s)
{
  helix_test_server_stop (s);
  g_clear_pointer (&s->connections, g_ptr_array_unref);
  g_clear_object (&s->tls_certificate);
}

static inline char *
helix_test_server_url (HelixTestServer *s,
                       const char      *path)
{
  return g_strdup_printf ("%s://127.0.0.1:%u%s", s->tls_certificate != NULL ? "https" : "http",
                          s->port, path);
}

G_END_DECLS
