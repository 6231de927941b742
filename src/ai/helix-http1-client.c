/* helix-http1-client.c: a small HTTP/1.1 keep-alive client for plain http:// providers
 *
 * What a provider call needs of HTTP and no more: one request (POST or GET
 * with a body of known length), the response head, and the body pushed to the
 * caller as it arrives. libsoup's client costs a #GTask, a #GInputStream read
 * and several signals per read; this one reads the socket itself: a
 * connection is a non-blocking fd and one #GSource watching it on the
 * thread-default main context of the request, the request goes out in one
 * sendmsg() of head and body, and body bytes go to the caller straight from
 * the read buffer.
 *
 * Only for http:// base URLs: https stays with libsoup, which does TLS. Set
 * `HELIX_PROVIDER_HTTP=libsoup` in the environment to send http:// through
 * libsoup too (to compare the two).
 *
 * Connections are made with #GSocketClient (rare, so GIO's async connect is
 * fine), TCP_NODELAY on. The pool keeps, per host:port, at most
 * %HELIX_HTTP1_DEFAULT_MAX_IDLE idle connections, each for at most
 * %HELIX_HTTP1_DEFAULT_IDLE_S seconds; the server closing one (or sending
 * anything while it is idle) closes it at once. A connection goes back to the
 * pool only when its response was HTTP/1.1, without `Connection: close`, and
 * its body was read to its end; a request that stops early (aborted, an
 * error) closes its connection.
 *
 * At most %HELIX_HTTP1_DEFAULT_MAX_PER_HOST connections per host:port are
 * open or being made at once (like libsoup's max-conns-per-host); a request
 * beyond that waits, first come first served, for a connection to come
 * free (it is handed over without going idle) or to close (a new one is
 * made). A local model server is not flooded with connections by a burst of
 * requests; the caller's timeouts bound the wait.
 *
 * Limits on what the server sends: the response head (and a chunked body's
 * trailers) at most %HELIX_HTTP1_MAX_HEAD bytes, a chunk-size line at most
 * %HELIX_HTTP1_MAX_CHUNK_LINE; the body's size is the caller's business (it
 * sees every byte as it comes). Headers are parsed by libsoup's
 * soup_headers_parse_response(). Headers are never logged: they carry keys.
 *
 * A client belongs to one thread (the provider's); a connection is watched
 * on the main context it was made on and reused only by requests from it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-ai"

#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <glib/gi18n.h>

#include "helix-http1-client.h"

#define READ_SIZE 16384
#define MAX_BUFFER (HELIX_HTTP1_MAX_HEAD + READ_SIZE)

typedef enum
{
  READ_HEAD,
  READ_LENGTH,       /* Content-Length: remaining bytes */
  READ_CHUNK_SIZE,
  READ_CHUNK_DATA,   /* remaining bytes of the chunk */
  READ_CHUNK_END,    /* the CRLF after a chunk's data */
  READ_TRAILERS,
  READ_UNTIL_EOF,
  READ_DONE,
} ReadState;

typedef struct _Conn Conn;

typedef struct
{
  char   *key;          /* "host:port" */
  char   *connect_uri;  /* for GSocketClient (and its proxy lookup) */
  char   *host_header;
  GQueue  idle;         /* of Conn, the most recently used first */
  guint   n_conns;      /* open (idle or busy) or being made */
  GQueue  waiting;      /* of HelixHttp1Request waiting for a connection, oldest first */
} Host;

struct _HelixHttp1Client
{
  gatomicrefcount  ref_count;
  char            *user_agent;
  GSocketClient   *socket_client;
  GHashTable      *hosts;           /* key → Host */
  guint            idle_timeout_s;
  guint            max_idle;
  guint            max_per_host;
  guint            n_open;
  guint            n_connects;
};

typedef struct
{
  GSource  source;
  Conn    *conn;
} ConnSource;

struct _Conn
{
  grefcount          ref_count;
  HelixHttp1Client  *client;    /* not a ref: the client closes its idle ones when it goes */
  Host              *host;
  GSocketConnection *connection;
  int                fd;
  GSource           *source;
  gpointer           fd_tag;
  GIOCondition       events;
  GList              idle_link;
  HelixHttp1Request *request;
  guint8            *buf;       /* cap + 1 bytes: a NUL ends the data */
  gsize              len;
  gsize              cap;
  guint              closed : 1;
};

struct _HelixHttp1Request
{
  grefcount                  ref_count;
  HelixHttp1Client          *client;
  Host                      *host;
  const HelixHttp1Callbacks *callbacks;
  gpointer                   user_data;
  Conn                      *conn;
  GMainContext              *context;            /* where it was sent from */
  GList                      wait_link;          /* in host->waiting */
  GCancellable              *connect_cancellable;
  GError                    *pending_error;      /* reported from the main loop */
  GString                   *head_out;
  GBytes                    *body_out;
  gsize                      written;
  SoupMessageHeaders        *headers;
  ReadState                  state;
  guint64                    remaining;
  gsize                      trailer_bytes;
  guint                      status;
  guint                      keep_alive : 1;
  guint                      new_connection : 1; /* never an idle one */
  guint                      waiting : 1;        /* for a connection */
  guint                      got_bytes : 1;      /* any byte of the response */
  guint                      finished : 1;
};

static void conn_dispatch (Conn         *conn,
                           GIOCondition  condition);
static void host_pump     (Host         *host);
static void request_take  (HelixHttp1Request *request,
                           Conn              *conn);

/* Switch */

/**
 * helix_http1_client_is_enabled:
 *
 * Returns: %FALSE when `HELIX_PROVIDER_HTTP=libsoup` asks for libsoup's client
 *   for http:// too
 */
gboolean
helix_http1_client_is_enabled (void)
{
  static gsize enabled = 0;

  if (g_once_init_enter (&enabled))
    g_once_init_leave (&enabled, g_strcmp0 (g_getenv ("HELIX_PROVIDER_HTTP"), "libsoup") == 0 ? 1 : 2);

  return enabled == 2;
}

/* Connections */

static gboolean
conn_source_dispatch (GSource     *source,
                      GSourceFunc  callback,
                      gpointer     user_data)
{
  ConnSource *conn_source = (ConnSource *) source;
  Conn *conn = conn_source->conn;

  conn_dispatch (conn, g_source_query_unix_fd (source, conn->fd_tag));
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs conn_source_funcs = {
  .dispatch = conn_source_dispatch,
};

static Conn *
conn_ref (Conn *conn)
{
  g_ref_count_inc (&conn->ref_count);
  return conn;
}

static void
conn_unref (Conn *conn)
{
  if (!g_ref_count_dec (&conn->ref_count))
    return;

  g_assert (conn->closed);
  g_free (conn->buf);
  g_free (conn);
}

static void
conn_set_events (Conn         *conn,
                 GIOCondition  events)
{
  if (conn->events != events)
    {
      g_source_modify_unix_fd (conn->source, conn->fd_tag, events);
      conn->events = events;
    }
}

/* Closes the socket at once; the struct lives while someone holds it. */
static void
conn_close (Conn *conn)
{
  if (conn->closed)
    return;

  conn->closed = TRUE;
  conn->client->n_open--;
  g_source_destroy (conn->source);
  g_clear_pointer (&conn->source, g_source_unref);
  g_socket_close (g_socket_connection_get_socket (conn->connection), NULL);
  g_clear_object (&conn->connection);
  conn->fd = -1;

  /* Its place is free: a request waiting for one gets a new connection. */
  conn->host->n_conns--;
  host_pump (conn->host);
}

static Conn *
conn_new (HelixHttp1Client  *client,
          Host              *host,
          GSocketConnection *connection)
{
  GSocket *socket = g_socket_connection_get_socket (connection);
  g_autoptr(GMainContext) context = g_main_context_ref_thread_default ();
  Conn *conn = g_new0 (Conn, 1);
  ConnSource *source;

  g_ref_count_init (&conn->ref_count);
  conn->client = client;
  conn->host = host;
  conn->connection = g_object_ref (connection);
  conn->fd = g_socket_get_fd (socket);
  conn->idle_link.data = conn;
  conn->cap = READ_SIZE;
  conn->buf = g_malloc (conn->cap + 1);  /* + the NUL after the data */

  /* GSocket keeps the fd non-blocking; requests are tiny and answers stream. */
  g_socket_set_blocking (socket, FALSE);
  g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);

  source = (ConnSource *) g_source_new (&conn_source_funcs, sizeof (ConnSource));
  source->conn = conn;
  conn->source = (GSource *) source;
  conn->events = G_IO_IN;
  conn->fd_tag = g_source_add_unix_fd (conn->source, conn->fd, conn->events);
  g_source_set_static_name (conn->source, "[helix-ai] http connection");
  g_source_attach (conn->source, context);

  client->n_open++;
  client->n_connects++;

  return conn;
}

/* Takes the request's reference of @conn: into the pool, or closed. */
static void
conn_release (Conn     *conn,
              gboolean  reusable)
{
  HelixHttp1Client *client = conn->client;

  conn->request = NULL;

  if (reusable && !conn->closed && conn->len == 0)
    {
      GMainContext *context = g_source_get_context (conn->source);

      /* Straight to the oldest request waiting that may reuse it. */
      for (GList *l = conn->host->waiting.head; l != NULL; l = l->next)
        {
          HelixHttp1Request *waiter = l->data;

          if (!waiter->new_connection && waiter->context == context)
            {
              g_queue_unlink (&conn->host->waiting, l);
              waiter->waiting = FALSE;
              request_take (waiter, conn);
              return;
            }
        }
      /* Those waiting need a new connection: this one makes room for it. */
      if (conn->host->waiting.length > 0)
        reusable = FALSE;
    }

  if (reusable && !conn->closed && conn->len == 0 &&
      g_queue_get_length (&conn->host->idle) < client->max_idle)
    {
      if (conn->cap > READ_SIZE)
        {
          conn->cap = READ_SIZE;
          conn->buf = g_realloc (conn->buf, conn->cap + 1);
        }
      conn_set_events (conn, G_IO_IN);
      g_source_set_ready_time (conn->source,
                               g_get_monotonic_time () + client->idle_timeout_s * G_USEC_PER_SEC);
      g_queue_push_head_link (&conn->host->idle, &conn->idle_link);
      return;
    }

  conn_close (conn);
  conn_unref (conn);
}

/* An idle connection woke up: the server closed it, sent something it
 * should not have, or it idled too long. Either way it goes. */
static void
conn_idle_dispatch (Conn *conn)
{
  g_queue_unlink (&conn->host->idle, &conn->idle_link);
  conn_close (conn);
  conn_unref (conn);
}

/* Requests */

static HelixHttp1Request *
request_ref (HelixHttp1Request *request)
{
  g_ref_count_inc (&request->ref_count);
  return request;
}

static void
request_unref (HelixHttp1Request *request)
{
  if (!g_ref_count_dec (&request->ref_count))
    return;

  g_assert (request->conn == NULL && !request->waiting);
  g_main_context_unref (request->context);
  g_clear_object (&request->connect_cancellable);
  g_clear_error (&request->pending_error);
  if (request->head_out != NULL)
    g_string_free (request->head_out, TRUE);
  g_clear_pointer (&request->body_out, g_bytes_unref);
  g_clear_pointer (&request->headers, soup_message_headers_unref);
  helix_http1_client_unref (request->client);
  g_free (request);
}

static void
request_stop_waiting (HelixHttp1Request *request)
{
  if (request->waiting)
    {
      g_queue_unlink (&request->host->waiting, &request->wait_link);
      request->waiting = FALSE;
    }
}

/* Ends @request: its connection goes back to the pool if @reusable, the
 * caller hears @error (taken; %NULL: the body is complete), then the
 * request is dropped. */
static void
request_end (HelixHttp1Request *request,
             GError            *error,
             gboolean           reusable)
{
  g_autoptr(GError) owned_error = error;

  if (request->finished)
    return;

  request->finished = TRUE;
  request_stop_waiting (request);
  if (request->connect_cancellable != NULL)
    g_cancellable_cancel (request->connect_cancellable);
  if (request->conn != NULL)
    conn_release (g_steal_pointer (&request->conn), reusable && error == NULL);

  request->callbacks->end (error, request->user_data);
  request_unref (request);
}

static void
request_fail (HelixHttp1Request *request,
              GIOErrorEnum       code,
              const char        *message)
{
  request_end (request, g_error_new_literal (G_IO_ERROR, code, message), FALSE);
}

static void
request_fail_errno (HelixHttp1Request *request,
                    int                errsv)
{
  request_end (request, g_error_new_literal (G_IO_ERROR, g_io_error_from_errno (errsv),
                                             g_strerror (errsv)), FALSE);
}

/* Sends what is left of the request; waits for room when the socket is full. */
static gboolean
request_write (HelixHttp1Request  *request,
               GError            **error)
{
  Conn *conn = request->conn;
  gsize head_len = request->head_out->len;
  gsize body_len = request->body_out != NULL ? g_bytes_get_size (request->body_out) : 0;

  while (request->written < head_len + body_len)
    {
      struct iovec iov[2];
      struct msghdr msg = { 0 };
      int n_iov = 0;
      gssize n;

      if (request->written < head_len)
        {
          iov[n_iov].iov_base = request->head_out->str + request->written;
          iov[n_iov].iov_len = head_len - request->written;
          n_iov++;
        }
      if (body_len > 0)
        {
          gsize offset = request->written > head_len ? request->written - head_len : 0;

          iov[n_iov].iov_base = (guint8 *) g_bytes_get_data (request->body_out, NULL) + offset;
          iov[n_iov].iov_len = body_len - offset;
          n_iov++;
        }
      msg.msg_iov = iov;
      msg.msg_iovlen = n_iov;

      n = sendmsg (conn->fd, &msg, MSG_NOSIGNAL);
      if (n < 0)
        {
          int errsv = errno;

          if (errsv == EINTR)
            continue;
          if (errsv == EAGAIN)
            {
              conn_set_events (conn, G_IO_IN | G_IO_OUT);
              return TRUE;
            }
          g_set_error_literal (error, G_IO_ERROR, g_io_error_from_errno (errsv), g_strerror (errsv));
          return FALSE;
        }
      request->written += n;
    }

  conn_set_events (conn, G_IO_IN);
  return TRUE;
}

static gboolean
request_fail_later_cb (gpointer user_data)
{
  HelixHttp1Request *request = user_data;

  if (!request->finished)
    request_end (request, g_steal_pointer (&request->pending_error), FALSE);

  return G_SOURCE_REMOVE;
}

/* Reports @error (taken) from the main loop: never before
 * helix_http1_client_send() returns. */
static void
request_fail_later (HelixHttp1Request *request,
                    GError            *error)
{
  g_autoptr(GMainContext) context = g_main_context_ref_thread_default ();
  GSource *source = g_idle_source_new ();

  g_assert (request->pending_error == NULL);
  request->pending_error = error;
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_static_name (source, "[helix-ai] http request error");
  g_source_set_callback (source, request_fail_later_cb, request_ref (request),
                         (GDestroyNotify) request_unref);
  g_source_attach (source, context);
  g_source_unref (source);
}

/* The end of the head: after a "\n" followed by "\n" or "\r\n". Returns
 * the length of the head without its blank line in *@head_len. */
static const guint8 *
find_head_end (const guint8 *data,
               gsize         len,
               gsize        *head_len)
{
  const guint8 *p = data;
  const guint8 *end = data + len;

  while ((p = memchr (p, '\n', end - p)) != NULL)
    {
      if (p + 1 < end && p[1] == '\n')
        {
          *head_len = p + 1 - data;
          return p + 2;
        }
      if (p + 2 < end && p[1] == '\r' && p[2] == '\n')
        {
          *head_len = p + 1 - data;
          return p + 3;
        }
      p++;
    }

  return NULL;
}

/* A Content-Length: digits only, within 2^63. */
static gboolean
parse_length (const char *value,
              guint64    *length)
{
  return value != NULL && g_ascii_isdigit (*value) &&
         g_ascii_string_to_unsigned (value, 10, 0, G_MAXINT64, length, NULL);
}

/* A chunk-size line without its "\n": hex digits, then optional whitespace
 * and extensions after ';' (ignored). */
static gboolean
parse_chunk_size (const guint8 *line,
                  gsize         len,
                  guint64      *size)
{
  gsize i = 0;
  guint64 value = 0;

  if (len > 0 && line[len - 1] == '\r')
    len--;

  for (; i < len && g_ascii_isxdigit (line[i]); i++)
    {
      if (value > (G_MAXINT64 >> 4))
        return FALSE;
      value = (value << 4) | g_ascii_xdigit_value (line[i]);
    }
  if (i == 0)
    return FALSE;

  while (i < len && (line[i] == ' ' || line[i] == '\t'))
    i++;
  if (i < len && line[i] != ';')
    return FALSE;
  for (; i < len; i++)
    if (line[i] < 0x20 && line[i] != '\t')
      return FALSE;

  *size = value;
  return TRUE;
}

/* The head is in: status, headers, how the body ends. Returns FALSE if the
 * request ended. */
static gboolean
request_parse_head (HelixHttp1Request *request,
                    const guint8      *data,
                    gsize              head_len)
{
  SoupHTTPVersion version;
  SoupEncoding encoding;

  soup_message_headers_clear (request->headers);
  if (!soup_headers_parse_response ((const char *) data, head_len, request->headers, &version,
                                    &request->status, NULL))
    {
      request_fail (request, G_IO_ERROR_INVALID_DATA, _("the response head is not valid HTTP"));
      return FALSE;
    }

  if (request->status >= 100 && request->status < 200)
    {
      /* 100 Continue and friends: the real head follows. Not an upgrade. */
      if (request->status == SOUP_STATUS_SWITCHING_PROTOCOLS)
        {
          request_fail (request, G_IO_ERROR_INVALID_DATA, _("the server switched protocols"));
          return FALSE;
        }
      request->status = 0;
      return TRUE;
    }

  encoding = soup_message_headers_get_encoding (request->headers);
  if (request->status == SOUP_STATUS_NO_CONTENT || request->status == SOUP_STATUS_NOT_MODIFIED)
    encoding = SOUP_ENCODING_NONE;

  switch ((int) encoding)
    {
    case SOUP_ENCODING_NONE:
      request->state = READ_DONE;
      break;

    case SOUP_ENCODING_CONTENT_LENGTH:
      if (!parse_length (soup_message_headers_get_one (request->headers, "Content-Length"),
                         &request->remaining))
        {
          request_fail (request, G_IO_ERROR_INVALID_DATA, _("the Content-Length is not a number"));
          return FALSE;
        }
      request->state = request->remaining > 0 ? READ_LENGTH : READ_DONE;
      break;

    case SOUP_ENCODING_CHUNKED:
      request->state = READ_CHUNK_SIZE;
      break;

    case SOUP_ENCODING_EOF:
      request->state = READ_UNTIL_EOF;
      break;

    default:
      request_fail (request, G_IO_ERROR_INVALID_DATA, _("the body has an unknown transfer encoding"));
      return FALSE;
    }

  request->keep_alive = version == SOUP_HTTP_1_1 && encoding != SOUP_ENCODING_EOF &&
                        !soup_message_headers_header_contains (request->headers, "Connection", "close");

  request->callbacks->head (request->status, request->headers, request->user_data);
  return !request->finished;
}

/* Hands @len body bytes to the caller; FALSE if it ended the request. */
static gboolean
request_deliver (HelixHttp1Request *request,
                 const guint8      *data,
                 gsize              len)
{
  if (len > 0)
    request->callbacks->body (data, len, request->user_data);
  return !request->finished;
}

/* Reads what the connection's buffer holds; returns the bytes used, and
 * FALSE in *@go_on when the request ended meanwhile. */
static gsize
request_process (HelixHttp1Request *request,
                 gboolean          *go_on)
{
  Conn *conn = request->conn;
  const guint8 *buf = conn->buf;
  gsize len = conn->len;
  gsize pos = 0;

  *go_on = TRUE;

  while (request->state != READ_DONE && (pos < len || request->state == READ_HEAD))
    {
      const guint8 *line_end;
      gsize n;

      switch (request->state)
        {
        case READ_HEAD:
          {
            gsize head_len;
            const guint8 *end = find_head_end (buf + pos, len - pos, &head_len);

            if (end == NULL || end - (buf + pos) > HELIX_HTTP1_MAX_HEAD)
              {
                if (len - pos > HELIX_HTTP1_MAX_HEAD)
                  {
                    request_fail (request, G_IO_ERROR_INVALID_DATA, _("the response head is too large"));
                    *go_on = FALSE;
                  }
                return pos;
              }
            if (!request_parse_head (request, buf + pos, head_len))
              {
                *go_on = FALSE;
                return pos;
              }
            pos = end - buf;
          }
          break;

        case READ_LENGTH:
        case READ_CHUNK_DATA:
          n = MIN (len - pos, request->remaining);
          request->remaining -= n;
          pos += n;
          if (request->remaining == 0)
            request->state = request->state == READ_LENGTH ? READ_DONE : READ_CHUNK_END;
          if (!request_deliver (request, buf + pos - n, n))
            {
              *go_on = FALSE;
              return pos;
            }
          break;

        case READ_UNTIL_EOF:
          n = len - pos;
          pos = len;
          if (!request_deliver (request, buf + pos - n, n))
            {
              *go_on = FALSE;
              return pos;
            }
          break;

        case READ_CHUNK_SIZE:
          line_end = memchr (buf + pos, '\n', MIN (len - pos, HELIX_HTTP1_MAX_CHUNK_LINE));
          if (line_end == NULL)
            {
              if (len - pos >= HELIX_HTTP1_MAX_CHUNK_LINE)
                {
                  request_fail (request, G_IO_ERROR_INVALID_DATA, _("a chunk-size line is too long"));
                  *go_on = FALSE;
                }
              return pos;
            }
          if (!parse_chunk_size (buf + pos, line_end - (buf + pos), &request->remaining))
            {
              request_fail (request, G_IO_ERROR_INVALID_DATA, _("a chunk size is not valid"));
              *go_on = FALSE;
              return pos;
            }
          pos = line_end + 1 - buf;
          request->state = request->remaining > 0 ? READ_CHUNK_DATA : READ_TRAILERS;
          break;

        case READ_CHUNK_END:
          if (buf[pos] == '\r')
            {
              if (pos + 1 == len)
                return pos;  /* the "\n" is still to come */
              pos++;
            }
          if (buf[pos] != '\n')
            {
              request_fail (request, G_IO_ERROR_INVALID_DATA, _("a chunk does not end where its size says"));
              *go_on = FALSE;
              return pos;
            }
          pos++;
          request->state = READ_CHUNK_SIZE;
          break;

        case READ_TRAILERS:
          line_end = memchr (buf + pos, '\n', len - pos);
          n = line_end != NULL ? (gsize) (line_end + 1 - (buf + pos)) : len - pos;
          if (request->trailer_bytes + n > HELIX_HTTP1_MAX_HEAD)
            {
              request_fail (request, G_IO_ERROR_INVALID_DATA, _("the trailers are too large"));
              *go_on = FALSE;
              return pos;
            }
          if (line_end == NULL)
            return pos;
          request->trailer_bytes += n;
          if (n == 1 || (n == 2 && buf[pos] == '\r'))
            request->state = READ_DONE;
          pos += n;
          break;

        case READ_DONE:
        default:
          g_assert_not_reached ();
        }
    }

  return pos;
}

/* The server closed its side: the end of an until-EOF body, or too early. */
static void
request_eof (HelixHttp1Request *request)
{
  if (request->state == READ_UNTIL_EOF)
    request_end (request, NULL, FALSE);
  else if (request->state == READ_HEAD && !request->got_bytes)
    request_fail (request, G_IO_ERROR_CONNECTION_CLOSED, _("the server closed the connection"));
  else if (request->state == READ_HEAD)
    request_fail (request, G_IO_ERROR_INVALID_DATA, _("the connection closed in the middle of the response head"));
  else
    request_fail (request, G_IO_ERROR_PARTIAL_INPUT, _("the connection closed before the end of the body"));
}

/* Reads from the socket and processes it; until it would block or the
 * request is over. */
static void
request_read (HelixHttp1Request *request)
{
  Conn *conn = request->conn;

  for (guint round = 0; round < 4; round++)
    {
      gssize n;
      gsize used;
      gsize room;
      gboolean go_on;

      if (conn->cap - conn->len < READ_SIZE && conn->cap < MAX_BUFFER)
        {
          conn->cap = MIN (conn->cap * 2, MAX_BUFFER);
          conn->buf = g_realloc (conn->buf, conn->cap + 1);
        }
      room = conn->cap - conn->len;
      g_assert (room > 0);

      n = recv (conn->fd, conn->buf + conn->len, room, 0);
      if (n < 0)
        {
          int errsv = errno;

          if (errsv == EINTR)
            continue;
          if (errsv != EAGAIN)
            {
              if (request->state == READ_HEAD && request->got_bytes)
                request_fail (request, G_IO_ERROR_INVALID_DATA, g_strerror (errsv));
              else if (request->state != READ_HEAD)
                request_fail (request, G_IO_ERROR_PARTIAL_INPUT, g_strerror (errsv));
              else
                request_fail_errno (request, errsv);
            }
          return;
        }
      if (n == 0)
        {
          request_eof (request);
          return;
        }

      request->got_bytes = TRUE;
      conn->len += n;
      /* soup_headers_parse_response() reads the status line with strtoul(). */
      conn->buf[conn->len] = '\0';
      used = request_process (request, &go_on);
      if (!go_on)
        return;

      if (request->state == READ_DONE)
        {
          /* Anything after the body is a server out of step: not reused. */
          gboolean reusable = request->keep_alive && used == conn->len;

          conn->len = 0;
          request_end (request, NULL, reusable);
          return;
        }

      memmove (conn->buf, conn->buf + used, conn->len - used);
      conn->len -= used;

      if ((gsize) n < room)
        return;  /* drained for now */
    }
}

static void
conn_dispatch (Conn         *conn,
               GIOCondition  condition)
{
  HelixHttp1Request *request = conn->request;

  if (request == NULL)
    {
      conn_idle_dispatch (conn);
      return;
    }

  conn_ref (conn);
  request_ref (request);

  if (request->pending_error != NULL)
    request_end (request, g_steal_pointer (&request->pending_error), FALSE);
  else
    {
      gsize total = request->head_out->len +
                    (request->body_out != NULL ? g_bytes_get_size (request->body_out) : 0);
      GError *error = NULL;

      if (request->written < total && (condition & (G_IO_OUT | G_IO_ERR | G_IO_HUP)) != 0 &&
          !request_write (request, &error))
        request_end (request, error, FALSE);
      if (!request->finished && request->written == total &&
          (condition & (G_IO_IN | G_IO_ERR | G_IO_HUP)) != 0)
        request_read (request);
    }

  request_unref (request);
  conn_unref (conn);
}

static void
connect_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  HelixHttp1Request *request = user_data;
  g_autoptr(GSocketConnection) connection = NULL;
  GError *error = NULL;

  connection = g_socket_client_connect_to_uri_finish (G_SOCKET_CLIENT (object), result, &error);
  g_clear_object (&request->connect_cancellable);

  if (request->finished || connection == NULL)
    {
      Host *host = request->host;

      /* Aborted meanwhile (a connection made anyway is not kept), or failed:
       * its place goes to the next request waiting. */
      if (connection != NULL)
        g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      host->n_conns--;
      if (!request->finished)
        request_end (request, g_steal_pointer (&error), FALSE);
      g_clear_error (&error);
      host_pump (host);
      request_unref (request);
      return;
    }

  request->conn = conn_new (request->client, request->host, connection);
  request->conn->request = request;
  if (request->callbacks->connected != NULL)
    request->callbacks->connected (request->user_data);
  if (!request->finished && !request_write (request, &error))
    request_end (request, error, FALSE);
  request_unref (request);
}

/* Sends @request on @conn, a connection of its host that was idle or just
 * finished another request. */
static void
request_take (HelixHttp1Request *request,
              Conn              *conn)
{
  GError *error = NULL;

  g_assert (conn->request == NULL && conn->len == 0);
  request->conn = conn;
  conn->request = request;
  g_source_set_ready_time (conn->source, -1);
  if (!request_write (request, &error))
    request_fail_later (request, error);
}

/* Makes a new connection for @request, in a place of its host's already
 * counted. The connection is watched on @request's main context. */
static void
request_connect (HelixHttp1Request *request)
{
  g_main_context_push_thread_default (request->context);
  request_ref (request);  /* for the connect */
  request->connect_cancellable = g_cancellable_new ();
  g_socket_client_connect_to_uri_async (request->client->socket_client, request->host->connect_uri, 80,
                                        request->connect_cancellable, connect_cb, request);
  g_main_context_pop_thread_default (request->context);
}

/* Requests waiting get new connections while the host has room. */
static void
host_pump (Host *host)
{
  HelixHttp1Request *request;

  while (host->waiting.length > 0 &&
         host->n_conns < ((HelixHttp1Request *) host->waiting.head->data)->client->max_per_host)
    {
      request = g_queue_pop_head_link (&host->waiting)->data;
      request->waiting = FALSE;
      host->n_conns++;
      request_connect (request);
    }
}

/* The client */

static void
host_close_idle (Host *host)
{
  GList *link;

  while ((link = g_queue_pop_head_link (&host->idle)) != NULL)
    {
      conn_close (link->data);
      conn_unref (link->data);
    }
}

static void
host_free (gpointer data)
{
  Host *host = data;

  host_close_idle (host);
  g_assert (host->waiting.length == 0 && host->n_conns == 0);
  g_free (host->key);
  g_free (host->connect_uri);
  g_free (host->host_header);
  g_free (host);
}

/**
 * helix_http1_client_new:
 * @user_agent: the User-Agent of every request
 *
 * Returns: (transfer full): a client with an empty pool
 */
HelixHttp1Client *
helix_http1_client_new (const char *user_agent)
{
  HelixHttp1Client *self = g_new0 (HelixHttp1Client, 1);

  g_return_val_if_fail (user_agent != NULL, NULL);

  g_atomic_ref_count_init (&self->ref_count);
  self->user_agent = g_strdup (user_agent);
  self->socket_client = g_socket_client_new ();
  self->hosts = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, host_free);
  self->idle_timeout_s = HELIX_HTTP1_DEFAULT_IDLE_S;
  self->max_idle = HELIX_HTTP1_DEFAULT_MAX_IDLE;
  self->max_per_host = HELIX_HTTP1_DEFAULT_MAX_PER_HOST;

  return self;
}

HelixHttp1Client *
helix_http1_client_ref (HelixHttp1Client *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

/**
 * helix_http1_client_unref:
 * @self: a client
 *
 * Drops a reference; the last closes the idle connections. Requests in
 * flight hold their own reference.
 */
void
helix_http1_client_unref (HelixHttp1Client *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  g_hash_table_unref (self->hosts);
  g_assert (self->n_open == 0);
  g_clear_object (&self->socket_client);
  g_free (self->user_agent);
  g_free (self);
}

/**
 * helix_http1_client_close_idle:
 * @self: a client
 *
 * Closes every idle connection of the pool.
 */
void
helix_http1_client_close_idle (HelixHttp1Client *self)
{
  GHashTableIter iter;
  gpointer host;

  g_return_if_fail (self != NULL);

  /* The hosts stay: requests in flight point at theirs. */
  g_hash_table_iter_init (&iter, self->hosts);
  while (g_hash_table_iter_next (&iter, NULL, &host))
    host_close_idle (host);
}

/**
 * helix_http1_client_set_idle_limits:
 * @self: a client
 * @idle_timeout_s: how long an idle connection is kept
 * @max_idle_per_host: how many idle connections are kept per host:port
 */
void
helix_http1_client_set_idle_limits (HelixHttp1Client *self,
                                    guint             idle_timeout_s,
                                    guint             max_idle_per_host)
{
  g_return_if_fail (self != NULL);

  self->idle_timeout_s = idle_timeout_s;
  self->max_idle = max_idle_per_host;
}

/* The total length of one queue of every host: @offset is the queue's in #Host. */
static guint
sum_host_queues (HelixHttp1Client *self,
                 glong             offset)
{
  GHashTableIter iter;
  gpointer host;
  guint n = 0;

  g_hash_table_iter_init (&iter, self->hosts);
  while (g_hash_table_iter_next (&iter, NULL, &host))
    n += G_STRUCT_MEMBER (GQueue, host, offset).length;

  return n;
}

/**
 * helix_http1_client_set_max_per_host:
 * @self: a client
 * @max_per_host: how many connections may be open (or being made) per
 *   host:port at once, at least 1
 *
 * Requests beyond the limit wait for a connection.
 */
void
helix_http1_client_set_max_per_host (HelixHttp1Client *self,
                                     guint             max_per_host)
{
  GHashTableIter iter;
  gpointer host;

  g_return_if_fail (self != NULL);
  g_return_if_fail (max_per_host > 0);

  self->max_per_host = max_per_host;
  g_hash_table_iter_init (&iter, self->hosts);
  while (g_hash_table_iter_next (&iter, NULL, &host))
    host_pump (host);
}

/**
 * helix_http1_client_get_n_waiting:
 * @self: a client
 *
 * Returns: the number of requests waiting for a connection
 */
guint
helix_http1_client_get_n_waiting (HelixHttp1Client *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return sum_host_queues (self, G_STRUCT_OFFSET (Host, waiting));
}

/**
 * helix_http1_client_get_n_idle:
 * @self: a client
 *
 * Returns: the number of idle connections in the pool
 */
guint
helix_http1_client_get_n_idle (HelixHttp1Client *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return sum_host_queues (self, G_STRUCT_OFFSET (Host, idle));
}

/**
 * helix_http1_client_get_n_open:
 * @self: a client
 *
 * Returns: the number of open connections, idle or busy
 */
guint
helix_http1_client_get_n_open (HelixHttp1Client *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->n_open;
}

/**
 * helix_http1_client_get_n_connects:
 * @self: a client
 *
 * Returns: how many connections the client has made so far
 */
guint
helix_http1_client_get_n_connects (HelixHttp1Client *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->n_connects;
}

static Host *
get_host (HelixHttp1Client *self,
          GUri             *uri)
{
  const char *name = g_uri_get_host (uri);
  int port = g_uri_get_port (uri) > 0 ? g_uri_get_port (uri) : 80;
  gboolean ipv6 = strchr (name, ':') != NULL;
  g_autofree char *key = g_strdup_printf (ipv6 ? "[%s]:%d" : "%s:%d", name, port);
  Host *host = g_hash_table_lookup (self->hosts, key);

  if (host != NULL)
    return host;

  host = g_new0 (Host, 1);
  host->key = g_steal_pointer (&key);
  host->connect_uri = g_strdup_printf ("http://%s/", host->key);
  if (port == 80)
    host->host_header = g_strdup_printf (ipv6 ? "[%s]" : "%s", name);
  else
    host->host_header = g_strdup (host->key);
  g_queue_init (&host->idle);
  g_queue_init (&host->waiting);
  g_hash_table_insert (self->hosts, host->key, host);

  return host;
}

static gboolean
is_safe_text (const char *text)
{
  for (const char *p = text; *p != '\0'; p++)
    if ((guchar) *p <= 0x20 || *p == 0x7f)
      return FALSE;

  return TRUE;
}

typedef struct
{
  GString  *out;
  gboolean  has_user_agent;
  gboolean  has_content_type;
} HeadBuilder;

static void
append_header (const char *name,
               const char *value,
               gpointer    user_data)
{
  HeadBuilder *builder = user_data;

  /* Framing is ours to write. libsoup refuses CR and LF in values already. */
  if (g_ascii_strcasecmp (name, "Host") == 0 ||
      g_ascii_strcasecmp (name, "Content-Length") == 0 ||
      g_ascii_strcasecmp (name, "Transfer-Encoding") == 0 ||
      g_ascii_strcasecmp (name, "Connection") == 0 ||
      strpbrk (name, "\r\n: ") != NULL || strpbrk (value, "\r\n") != NULL)
    return;

  builder->has_user_agent |= g_ascii_strcasecmp (name, "User-Agent") == 0;
  builder->has_content_type |= g_ascii_strcasecmp (name, "Content-Type") == 0;
  g_string_append (builder->out, name);
  g_string_append_len (builder->out, ": ", 2);
  g_string_append (builder->out, value);
  g_string_append_len (builder->out, "\r\n", 2);
}

/**
 * helix_http1_client_send:
 * @self: a client
 * @method: "POST" or "GET"
 * @uri: an http:// URI with a host
 * @headers: (nullable): request headers to send (framing headers are the client's)
 * @content_type: (nullable): the Content-Type of @body, unless @headers has one
 * @body: (nullable): the request body
 * @new_connection: never reuse an idle connection
 * @callbacks: what to call as the response comes; must outlive the request
 * @user_data: data for @callbacks
 *
 * Sends a request on an idle connection of the pool, or a new one; when
 * its host has as many connections as it may, the request waits for one.
 * The callbacks run on the thread-default main context, never before this
 * returns.
 *
 * Returns: (transfer none): the request, valid until @callbacks.end returns
 *   or helix_http1_request_abort()
 */
HelixHttp1Request *
helix_http1_client_send (HelixHttp1Client          *self,
                         const char                *method,
                         GUri                      *uri,
                         SoupMessageHeaders        *headers,
                         const char                *content_type,
                         GBytes                    *body,
                         gboolean                   new_connection,
                         const HelixHttp1Callbacks *callbacks,
                         gpointer                   user_data)
{
  HelixHttp1Request *request;
  HeadBuilder builder = { 0 };
  const char *path;
  const char *query;
  gboolean path_ok;
  GMainContext *context;
  Host *host;
  GList *link = NULL;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (method != NULL, NULL);
  g_return_val_if_fail (uri != NULL && g_uri_get_host (uri) != NULL, NULL);
  g_return_val_if_fail (callbacks != NULL && callbacks->head != NULL &&
                        callbacks->body != NULL && callbacks->end != NULL, NULL);

  request = g_new0 (HelixHttp1Request, 1);
  g_ref_count_init (&request->ref_count);
  request->client = helix_http1_client_ref (self);
  request->host = host = get_host (self, uri);
  request->context = context = g_main_context_ref_thread_default ();
  request->wait_link.data = request;
  request->new_connection = new_connection;
  request->callbacks = callbacks;
  request->user_data = user_data;
  request->headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
  request->body_out = body != NULL ? g_bytes_ref (body) : NULL;

  path = g_uri_get_path (uri);
  query = g_uri_get_query (uri);
  builder.out = request->head_out = g_string_sized_new (1024);
  g_string_append (builder.out, method);
  g_string_append_c (builder.out, ' ');
  g_string_append (builder.out, *path != '\0' ? path : "/");
  if (query != NULL)
    {
      g_string_append_c (builder.out, '?');
      g_string_append (builder.out, query);
    }
  path_ok = is_safe_text (method) && is_safe_text (builder.out->str + strlen (method) + 1);
  g_string_append_len (builder.out, " HTTP/1.1\r\nHost: ", 17);
  g_string_append (builder.out, request->host->host_header);
  g_string_append_len (builder.out, "\r\n", 2);
  if (headers != NULL)
    soup_message_headers_foreach (headers, append_header, &builder);
  if (!builder.has_user_agent)
    g_string_append_printf (builder.out, "User-Agent: %s\r\n", self->user_agent);
  if (!builder.has_content_type && content_type != NULL && body != NULL)
    g_string_append_printf (builder.out, "Content-Type: %s\r\n", content_type);
  if (body != NULL || g_ascii_strcasecmp (method, "POST") == 0)
    g_string_append_printf (builder.out, "Content-Length: %" G_GSIZE_FORMAT "\r\n",
                            body != NULL ? g_bytes_get_size (body) : 0);
  g_string_append_len (builder.out, "\r\n", 2);

  if (!path_ok)
    {
      request_fail_later (request, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                                        _("the request line is not valid")));
      return request;
    }

  /* A connection is watched on one main context: only its own requests reuse it. */
  if (!new_connection)
    for (link = host->idle.head; link != NULL; link = link->next)
      if (g_source_get_context (((Conn *) link->data)->source) == context)
        break;
  if (link != NULL)
    {
      g_queue_unlink (&host->idle, link);
      request_take (request, link->data);
      return request;
    }

  /* No room for another connection: wait for one, behind those already
   * waiting. Idle connections no waiting request can use make room. */
  if (host->n_conns >= self->max_per_host || host->waiting.length > 0)
    {
      request->waiting = TRUE;
      g_queue_push_tail_link (&host->waiting, &request->wait_link);
      while (host->waiting.length > 0 && host->n_conns >= self->max_per_host &&
             (link = g_queue_pop_tail_link (&host->idle)) != NULL)
        {
          conn_close (link->data);
          conn_unref (link->data);
        }
      return request;
    }

  host->n_conns++;
  request_connect (request);

  return request;
}

/**
 * helix_http1_request_abort:
 * @request: a request in flight
 *
 * Stops @request at once: its connection is closed (the server sees the
 * end), nothing more is called, the request is freed.
 */
void
helix_http1_request_abort (HelixHttp1Request *request)
{
  g_return_if_fail (request != NULL);

  if (request->finished)
    return;

  request->finished = TRUE;
  request_stop_waiting (request);
  if (request->connect_cancellable != NULL)
    g_cancellable_cancel (request->connect_cancellable);
  if (request->conn != NULL)
    {
      Conn *conn = g_steal_pointer (&request->conn);

      conn->request = NULL;
      conn_close (conn);
      conn_unref (conn);
    }
  request_unref (request);
}
