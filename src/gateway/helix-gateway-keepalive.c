/* helix-gateway-keepalive.c: HTTP keep-alive on the gateway's plain HTTP connections
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <errno.h>
#include <sys/socket.h>

#include <glib/gstdio.h>

#include "helix-gateway-keepalive.h"
#include "helix-gateway-private.h"

/*
 * libsoup 3.2 keeps a connection open after a response only while its
 * server has a listener of its own (soup_server_listen*()); the gateway
 * accepts connections itself (see helix-gateway.c), so it gives the server
 * a listener that can never accept anything: a Unix socket whose name is
 * removed as soon as it listens.
 *
 * Kept-alive connections would then leak in libsoup 3.2.3: after a
 * response, the connection waits for the next request with no completion
 * callback, and when the client closes it instead, libsoup reads the end
 * of the stream and forgets the connection, never closing it (its
 * descriptor stays in CLOSE-WAIT, the SoupServerConnection in the server's
 * list, for as long as the server runs).
 *
 * So the gateway watches each connection between a response and the next
 * request itself (an IdleConnection). On request-finished (and request-
 * aborted: libsoup keeps a connection open after a 500 response sent in
 * full, which it reports as aborted), it watches the socket for input.
 * The watch must run before the source through which libsoup reads the
 * next request, and it does without a priority above libsoup's: both are
 * at G_PRIORITY_DEFAULT, and GLib dispatches the ready sources of one
 * priority in the order they were attached. libsoup 3.2 emits request-
 * finished (the completion callback of the message, in
 * soup_server_message_io_http1_finished()) before it attaches the source
 * of the next request, so the watch is always the older. A higher
 * priority would cost a main loop iteration of its own for every request
 * on a kept-alive connection (a poll() and the wake-ups that come with it):
 * GLib dispatches only the most urgent ready sources in an iteration.
 * That order is libsoup's, checked for 3.2 (the libsoup of Debian 12; the
 * no-leak test crashes if it is reversed): with any other libsoup at run
 * time the watch runs at G_PRIORITY_HIGH, first whatever the order.
 * When the socket becomes readable, the watch runs first and peeks. Data:
 * a request, which libsoup reads in the same iteration, the watch being
 * gone. The end of the stream or an error: the client went;
 * libsoup has read nothing yet, so the gateway takes the connection from
 * the server (soup_server_message_steal_connection() on the last message
 * answered, which frees the server's side) and closes it. The watch also
 * ends when libsoup reads a request that was already buffered (request-
 * started on the connection) and when libsoup closes the connection itself
 * (the message's "disconnected": a response with "Connection: close", an
 * HTTP/1.0 client).
 *
 * A connection idle for longer than the idle timeout is closed the same
 * way, and so is the one idle for the longest when more than
 * HELIX_GATEWAY_KEEPALIVE_MAX_IDLE wait; both from a G_PRIORITY_HIGH timer,
 * never from inside libsoup's own signal emissions.
 *
 * A client that pipelines a request and shuts its side of the connection
 * down before libsoup read it may see that request go unanswered if libsoup
 * had buffered it: HTTP lets a client retry then (RFC 9112, 9.3.2).
 */

typedef struct _IdleConnection IdleConnection;

typedef struct
{
  GSource                parent;
  HelixGatewayKeepalive *keepalive;
} IdleTimer;

struct _HelixGatewayKeepalive
{
  SoupServer *server;     /* (unowned) */
  /* IdleConnection, in the order they expire: the first is due first. */
  GQueue      idle;
  guint       n_due;      /* at the head of @idle: to close at once (deadline 0) */
  GSource    *timer;      /* an IdleTimer */
  gint64      idle_timeout_us;
  int         watch_priority;
  gboolean    closing;    /* a shutdown: close every connection after its response */
};

struct _IdleConnection
{
  HelixGatewayKeepalive *keepalive;
  SoupServerMessage     *msg;       /* the last message answered on the connection */
  GSocketAddress        *remote;    /* (unowned): libsoup's, one per connection */
  GSource               *watch;
  GList                  link;      /* in keepalive->idle */
  gint64                 deadline_us;
  gulong                 disconnected_id;
};

static GQuark
idle_connection_quark (void)
{
  static GQuark quark;

  if G_UNLIKELY (quark == 0)
    quark = g_quark_from_static_string ("helix-gateway-idle-connection");

  return quark;
}

static void
update_timer (HelixGatewayKeepalive *self)
{
  IdleConnection *first = g_queue_peek_head (&self->idle);
  gint64 ready_time = g_source_get_ready_time (self->timer);

  if (first == NULL)
    return;

  /* A later wake-up than needed would close late; an earlier one only
   * finds nothing due and sets the next. */
  if (ready_time == -1 || ready_time > first->deadline_us)
    g_source_set_ready_time (self->timer, first->deadline_us);
}

/* Stops watching @conn; libsoup goes on with the connection. */
static void
idle_connection_forget (IdleConnection *conn)
{
  HelixGatewayKeepalive *self = conn->keepalive;

  g_queue_unlink (&self->idle, &conn->link);
  if (conn->deadline_us == 0)
    self->n_due--;
  g_object_set_qdata (G_OBJECT (conn->remote), idle_connection_quark (), NULL);
  g_clear_signal_handler (&conn->disconnected_id, conn->msg);
  g_source_destroy (conn->watch);
  g_source_unref (conn->watch);
  g_object_unref (conn->msg);
  g_free (conn);
}

/* Takes the connection of @conn from the server and closes it. Never
 * called from within libsoup: only from the watch and the timer. */
static void
idle_connection_close (IdleConnection *conn)
{
  g_autoptr(SoupServerMessage) msg = g_object_ref (conn->msg);
  g_autoptr(GIOStream) stream = NULL;

  idle_connection_forget (conn);

  /* libsoup has not read from the connection since it answered @msg (a
   * read makes the watch fire first, and a request ends it): stealing
   * ends the request it waits for, and the server forgets the connection. */
  stream = soup_server_message_steal_connection (msg);
  if (stream != NULL)
    g_io_stream_close (stream, NULL, NULL);
}

/* libsoup closed the connection itself. */
static void
on_disconnected (SoupServerMessage *msg,
                 IdleConnection    *conn)
{
  idle_connection_forget (conn);
}

static gboolean
on_readable (GSocket      *socket,
             GIOCondition  condition,
             gpointer      user_data)
{
  IdleConnection *conn = user_data;
  gssize n;
  char c;

  n = recv (g_socket_get_fd (socket), &c, 1, MSG_PEEK | MSG_DONTWAIT);

  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return G_SOURCE_CONTINUE;

  if (n > 0)
    {
      /* The next request: libsoup reads it once this watch is gone. */
      idle_connection_forget (conn);
      return G_SOURCE_REMOVE;
    }

  /* The end of the stream, or a reset: the client left while idle. */
  idle_connection_close (conn);

  return G_SOURCE_REMOVE;
}

static gboolean
idle_timer_dispatch (GSource     *source,
                     GSourceFunc  callback,
                     gpointer     user_data)
{
  HelixGatewayKeepalive *self = ((IdleTimer *) source)->keepalive;
  gint64 now = g_get_monotonic_time ();
  IdleConnection *first;

  g_source_set_ready_time (source, -1);

  while ((first = g_queue_peek_head (&self->idle)) != NULL && first->deadline_us <= now)
    idle_connection_close (first);

  update_timer (self);

  return G_SOURCE_CONTINUE;
}

static GSourceFuncs idle_timer_funcs = {
  .dispatch = idle_timer_dispatch,
};

/* Makes @conn due at once. */
static void
idle_connection_expire (IdleConnection *conn)
{
  HelixGatewayKeepalive *self = conn->keepalive;

  g_assert (conn->deadline_us != 0);

  g_queue_unlink (&self->idle, &conn->link);
  conn->deadline_us = 0;
  self->n_due++;
  g_queue_push_head_link (&self->idle, &conn->link);
  update_timer (self);
}

/* A listening socket nothing can connect to: bound to a name in a directory
 * of our own, which is removed at once. */
static GSocket *
unreachable_socket_new (GError **error)
{
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  gboolean ok;

  dir = g_dir_make_tmp ("helix-gateway-XXXXXX", error);
  if (dir == NULL)
    return NULL;

  path = g_build_filename (dir, "keepalive", NULL);
  address = g_unix_socket_address_new (path);
  socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                         error);
  ok = socket != NULL && g_socket_bind (socket, address, FALSE, error) &&
       g_socket_listen (socket, error);

  g_unlink (path);
  g_rmdir (dir);

  return ok ? g_steal_pointer (&socket) : NULL;
}

/**
 * _helix_gateway_keepalive_new:
 * @server: the gateway's server; it must outlive the result
 * @idle_timeout_ms: how long a connection may wait for its next request
 * @error: return location for a #GError
 *
 * Turns keep-alive on for the connections given to @server with
 * soup_server_accept_iostream(). The gateway then reports every request's
 * start and end with _helix_gateway_keepalive_request_started() and
 * _helix_gateway_keepalive_request_finished(). Only for plain TCP
 * connections: a TLS layer may hold data the socket does not show.
 *
 * Returns: (transfer full) (nullable): the keep-alive state, or %NULL if
 *   @server could not be given its listener
 */
HelixGatewayKeepalive *
_helix_gateway_keepalive_new (SoupServer  *server,
                              guint        idle_timeout_ms,
                              GError     **error)
{
  g_autoptr(GSocket) socket = NULL;
  HelixGatewayKeepalive *self;

  g_return_val_if_fail (SOUP_IS_SERVER (server), NULL);

  socket = unreachable_socket_new (error);
  if (socket == NULL || !soup_server_listen_socket (server, socket, 0, error))
    return NULL;

  self = g_new0 (HelixGatewayKeepalive, 1);
  self->server = server;
  self->idle_timeout_us = (gint64) idle_timeout_ms * 1000;
  self->watch_priority = soup_get_major_version () == 3 && soup_get_minor_version () == 2
                         ? G_PRIORITY_DEFAULT : G_PRIORITY_HIGH;
  g_queue_init (&self->idle);

  self->timer = g_source_new (&idle_timer_funcs, sizeof (IdleTimer));
  ((IdleTimer *) self->timer)->keepalive = self;
  g_source_set_priority (self->timer, G_PRIORITY_HIGH);
  g_source_set_static_name (self->timer, "[helix-gateway] keep-alive timeout");
  g_source_set_ready_time (self->timer, -1);
  g_source_attach (self->timer, NULL);

  return self;
}

/**
 * _helix_gateway_keepalive_free:
 * @self: the keep-alive state
 *
 * Stops watching the idle connections; the caller closes them with
 * soup_server_disconnect() next, which also removes the listener.
 */
void
_helix_gateway_keepalive_free (HelixGatewayKeepalive *self)
{
  IdleConnection *conn;

  while ((conn = g_queue_peek_head (&self->idle)) != NULL)
    idle_connection_forget (conn);

  g_source_destroy (self->timer);
  g_source_unref (self->timer);
  g_free (self);
}

/**
 * _helix_gateway_keepalive_request_started:
 * @self: the keep-alive state
 * @msg: a request libsoup started to read
 *
 * A request on a kept-alive connection: it is not idle any more.
 */
void
_helix_gateway_keepalive_request_started (HelixGatewayKeepalive *self,
                                          SoupServerMessage     *msg)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);
  IdleConnection *conn;

  if (remote == NULL)
    return;

  conn = g_object_get_qdata (G_OBJECT (remote), idle_connection_quark ());
  if (conn != NULL)
    idle_connection_forget (conn);
}

/**
 * _helix_gateway_keepalive_request_finished:
 * @self: the keep-alive state
 * @msg: a request whose response was sent (request-finished), or that
 *   failed (request-aborted)
 *
 * Watches @msg's connection until its next request, while libsoup keeps it
 * open; during a shutdown (_helix_gateway_keepalive_close_idle()), closes
 * it instead.
 */
void
_helix_gateway_keepalive_request_finished (HelixGatewayKeepalive *self,
                                           SoupServerMessage     *msg)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);
  GSocket *socket = _helix_gateway_message_get_socket (msg);
  IdleConnection *conn;

  if (remote == NULL || socket == NULL || g_socket_is_closed (socket) ||
      g_object_get_qdata (G_OBJECT (remote), idle_connection_quark ()) != NULL)
    return;

  /* If libsoup closes the connection after this response, it does so
   * right after this signal: "disconnected" ends the watch. */
  conn = g_new0 (IdleConnection, 1);
  conn->keepalive = self;
  conn->msg = g_object_ref (msg);
  conn->remote = remote;
  conn->link.data = conn;
  conn->deadline_us = self->closing ? 0 : g_get_monotonic_time () + self->idle_timeout_us;
  conn->disconnected_id = g_signal_connect (msg, "disconnected", G_CALLBACK (on_disconnected),
                                            conn);
  g_object_set_qdata (G_OBJECT (remote), idle_connection_quark (), conn);

  /* Sent and done with: not kept while the connection waits. */
  soup_message_body_truncate (soup_server_message_get_response_body (msg));

  conn->watch = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  /* Attached before libsoup's source for the next request: dispatched
   * before it (see the top of this file). */
  g_source_set_priority (conn->watch, self->watch_priority);
  g_source_set_callback (conn->watch, G_SOURCE_FUNC (on_readable), conn, NULL);
  g_source_set_static_name (conn->watch, "[helix-gateway] idle connection");
  g_source_attach (conn->watch, NULL);

  if (conn->deadline_us == 0)
    {
      self->n_due++;
      g_queue_push_head_link (&self->idle, &conn->link);
    }
  else
    g_queue_push_tail_link (&self->idle, &conn->link);

  if (self->idle.length - self->n_due > HELIX_GATEWAY_KEEPALIVE_MAX_IDLE)
    {
      /* The first after those already due. */
      IdleConnection *oldest = g_queue_peek_nth (&self->idle, self->n_due);

      g_debug ("%u idle connections: closing the one idle for the longest",
               self->idle.length - self->n_due);
      idle_connection_expire (oldest);
    }

  update_timer (self);
}

/**
 * _helix_gateway_keepalive_close_idle:
 * @self: the keep-alive state
 *
 * For a shutdown: closes the connections waiting for a request, soon (from
 * the main loop), and every other one after its response.
 */
void
_helix_gateway_keepalive_close_idle (HelixGatewayKeepalive *self)
{
  IdleConnection *last;

  self->closing = TRUE;

  while (self->n_due < self->idle.length)
    {
      last = g_queue_peek_tail (&self->idle);
      idle_connection_expire (last);
    }
}

/**
 * _helix_gateway_keepalive_get_n_idle:
 * @self: the keep-alive state
 *
 * Returns: the kept-alive connections waiting for a request
 */
guint
_helix_gateway_keepalive_get_n_idle (HelixGatewayKeepalive *self)
{
  return self->idle.length;
}
