/* helix-gateway-native.c: the gateway's hot HTTP routes without libsoup
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <glib-unix.h>

#include "helix-gateway-keepalive.h"
#include "helix-gateway-metrics.h"
#include "helix-gateway-native.h"
#include "helix-gateway-private.h"

/*
 * libsoup's server spends 30–50 µs of the main thread on every request on
 * this project's machines, more than everything the gateway does for its
 * hottest routes: the status (`GET /health`, asked by load balancers and
 * monitoring), a user's session list (`GET /api/v1/sessions`, asked by
 * every device when it starts) and the AI calls of other programs
 * (`POST /v1/chat/completions` without streaming, helix-gateway-openai.c).
 * Those are answered here, on plain non-blocking sockets, in a few
 * microseconds of HTTP; everything else is still libsoup's, which stays the
 * one HTTP implementation the gateway trusts with anything unusual.
 *
 * Every plain HTTP connection (not HTTPS: see helix-gateway.c) starts here.
 * When it has data, its first bytes are peeked (MSG_PEEK), not read. If they
 * hold a whole request head of the usual shape for one of these routes,
 * and the answer would be a success, the head is read for real and the
 * answer written at once; the connection stays here for the next request.
 * A call's body must have arrived whole with its head, within
 * %HELIX_GATEWAY_NATIVE_REQUEST_MAX bytes in all; the call is checked as libsoup's
 * route would (_helix_gateway_openai_native_prepare()) before anything is
 * read, and answered later (a HelixGatewayNativeCall): meanwhile the
 * connection is watched for the client hanging up, which cancels the call.
 * Anything else — another route or method, a head not whole yet or larger
 * than %HELIX_GATEWAY_NATIVE_HEAD_MAX, a call larger than
 * %HELIX_GATEWAY_NATIVE_REQUEST_MAX, HTTP/1.0, `Connection: close`, a
 * body elsewhere, `Origin` (CORS), `Expect`, `Upgrade`, `Range`, an unusual
 * byte, a repeated header, a token that does not authenticate, a request
 * over a rate limit, a failing database, a call that streams or names an
 * unknown model or whose body is not right, a shutdown under way — hands the
 * connection to the #SoupServer with nothing of that request read
 * (_helix_gateway_serve_with_libsoup()), for good: libsoup answers it, and
 * every later request on the connection, exactly as it would have without
 * this file, errors included. So the native path only ever gives the
 * answers libsoup's routes would give (the same function builds each body),
 * and a test compares the two, header by header.
 *
 * A native answer is the route's status, `Server`, `Date`, the route's
 * headers, `Content-Type`, `Content-Length` and `X-Request-Id` (the
 * client's, if valid), like libsoup's; it is logged and counted in the
 * metrics like any other request. Rate limits are charged only when the
 * answer is sure (_helix_gateway_charge_limits()): a request handed to
 * libsoup is not charged twice.
 *
 * Connections here are either waiting for a request or writing an answer
 * the client has not taken yet (then nothing more is read from them). Those
 * quiet for longer than the keep-alive idle timeout are closed, and so is
 * the quietest one when more than %HELIX_GATEWAY_KEEPALIVE_MAX_IDLE wait:
 * the same rules as libsoup's kept-alive connections
 * (helix-gateway-keepalive.c). A shutdown closes those waiting for their
 * next request at once, waits for those writing like for any request in
 * flight, and hands those that have not sent a request yet to libsoup,
 * which answers 503 if they do before the end.
 */

/* One connection on the native path. */
typedef struct
{
  HelixGatewayNative *native;
  GSocketConnection  *connection;
  GSocketAddress     *local;
  GSocketAddress     *remote;
  char               *address;      /* (nullable): the remote host, once a limit needs it */
  char               *host;         /* (nullable): the last Host header taken */
  int                 fd;
  GSource            *source;
  GList               link;         /* in native->conns */
  gint64              active_us;    /* when it last read or wrote */
  GByteArray         *pending;      /* (nullable): answer bytes the socket has not taken yet */
  HelixGatewayNativeCall *call;     /* (nullable): the request being answered later */
  gboolean            answered;     /* whether a request was answered on it */
  gboolean            queued;       /* in native->conns: not in a call */
  gsize               low_water;    /* the request being waited for whole, or 0 */
} NativeConn;

/* A request answered later (helix-gateway-openai.c). */
struct _HelixGatewayNativeCall
{
  NativeConn *conn;               /* (nullable): NULL once the client went */
  GFunc       gone_func;
  gpointer    gone_data;
  const char *path;               /* static */
  char       *accept_encoding;    /* (nullable) */
  gint64      started_us;
  char        id[HELIX_REQUEST_ID_MAX_LEN + 1];
};

struct _HelixGatewayNative
{
  HelixGateway *gateway;          /* (unowned): owns us */
  GMainContext *context;
  /* NativeConn, the quietest first. */
  GQueue        conns;
  guint         n_writing;
  guint         n_calls;
  /* NativeConn waiting for the answer of a call (not quiet: not in conns). */
  GQueue        calls;
  gint64        idle_timeout_us;
  GSource      *timer;
  guint64       n_answered;
  /* The answer being made: its head. */
  GString      *head;
  /* The Date header of answers made in the same second. */
  gint64        date_second;
  char          date[64];
  /* The peeked request; one byte more for a final NUL. */
  char          buffer[HELIX_GATEWAY_NATIVE_REQUEST_MAX + 1];
  /* Where a request is read once answered. */
  char          discard[HELIX_GATEWAY_NATIVE_REQUEST_MAX];
};

/* A request head of the usual shape, parsed in place. */
typedef struct
{
  const char *method;           /* GET or POST */
  const char *path;
  const char *body;             /* (nullable): POST's, whole */
  gsize       content_length;
  const char *content_type;     /* (nullable) */
  const char *authorization;    /* (nullable) */
  const char *accept_encoding;  /* (nullable) */
  const char *request_id;       /* (nullable) */
  const char *forwarded_for;    /* (nullable): X-Forwarded-For */
} NativeRequest;

/* An answer of a native route. */
typedef struct
{
  guint       status;
  const char *headers;   /* the route's header lines, each ending in CRLF */
  GBytes     *body;
  gboolean    may_gzip;  /* whether a large body may be compressed */
} NativeAnswer;

static void conn_watch (NativeConn   *conn,
                        GIOCondition  condition);

/* Connections {{{1 */

static void
conn_free (NativeConn *conn)
{
  HelixGatewayNative *native = conn->native;

  if (conn->queued)
    g_queue_unlink (&native->conns, &conn->link);
  else if (conn->call != NULL)
    g_queue_unlink (&native->calls, &conn->link);
  if (conn->pending != NULL)
    native->n_writing--;
  if (conn->call != NULL)
    {
      /* The client went before its answer: the call learns it now. */
      HelixGatewayNativeCall *call = conn->call;

      native->n_calls--;
      call->conn = NULL;
      conn->call = NULL;
      if (call->gone_func != NULL)
        call->gone_func (call, call->gone_data);
    }
  if (conn->source != NULL)
    {
      g_source_destroy (conn->source);
      g_source_unref (conn->source);
    }
  g_clear_pointer (&conn->pending, g_byte_array_unref);
  g_object_unref (conn->connection);
  g_object_unref (conn->local);
  g_object_unref (conn->remote);
  g_free (conn->address);
  g_free (conn->host);
  g_free (conn);
}

static void
conn_close (NativeConn *conn)
{
  g_io_stream_close (G_IO_STREAM (conn->connection), NULL, NULL);
  conn_free (conn);
}

/* Closes @conn after its last answer. Requests it sent meanwhile are read
 * and dropped first: closing a socket with unread input sends a reset,
 * which could destroy the answer before the client read it. */
static void
conn_close_after_answer (NativeConn *conn)
{
  HelixGatewayNative *native = conn->native;
  gsize dropped = 0;
  gssize n;

  while (dropped < 16 * sizeof native->discard &&
         (n = recv (conn->fd, native->discard, sizeof native->discard, MSG_DONTWAIT)) > 0)
    dropped += n;

  shutdown (conn->fd, SHUT_WR);
  conn_close (conn);
}

/* Makes @conn readable once @size bytes are in (0: as soon as any are).
 * Returns whether it is. */
static gboolean
conn_set_low_water (NativeConn *conn,
                    gsize       size)
{
  int value = MAX (size, 1);

  if (conn->low_water == size)
    return TRUE;

  if (setsockopt (conn->fd, SOL_SOCKET, SO_RCVLOWAT, &value, sizeof value) != 0)
    return FALSE;

  conn->low_water = size;
  return TRUE;
}

/* Gives @conn to libsoup, nothing of its next request read. */
static void
conn_hand_over (NativeConn *conn)
{
  HelixGateway *gateway = conn->native->gateway;
  g_autoptr(GSocketConnection) connection = g_object_ref (conn->connection);
  g_autoptr(GSocketAddress) local = g_object_ref (conn->local);
  g_autoptr(GSocketAddress) remote = g_object_ref (conn->remote);

  /* libsoup reads what comes as it comes. */
  conn_set_low_water (conn, 0);
  conn_free (conn);
  _helix_gateway_serve_with_libsoup (gateway, connection, local, remote);
}

static gboolean
timer_cb (gpointer data)
{
  HelixGatewayNative *native = data;
  gint64 now_us = g_get_monotonic_time ();

  while (native->conns.head != NULL)
    {
      NativeConn *conn = native->conns.head->data;

      if (now_us - conn->active_us < native->idle_timeout_us)
        break;

      g_debug ("Closing a connection quiet for %" G_GINT64_FORMAT " ms",
               (now_us - conn->active_us) / 1000);
      conn_close (conn);
    }

  if (native->conns.head != NULL)
    {
      NativeConn *conn = native->conns.head->data;

      g_source_set_ready_time (native->timer, conn->active_us + native->idle_timeout_us);
    }
  else
    g_source_set_ready_time (native->timer, -1);

  return G_SOURCE_CONTINUE;
}

/* A source that runs when its ready time comes (a GTimeoutSource would set
 * its own after each run). */
static gboolean
timer_dispatch (GSource     *source,
                GSourceFunc  callback,
                gpointer     user_data)
{
  return callback (user_data);
}

static GSourceFuncs timer_funcs = {
  .dispatch = timer_dispatch,
};

/* @conn just read or wrote: it becomes the least quiet. */
static void
conn_touch (NativeConn *conn,
            gint64      now_us)
{
  HelixGatewayNative *native = conn->native;

  conn->active_us = now_us;
  if (!conn->queued)
    {
      g_queue_push_tail_link (&native->conns, &conn->link);
      conn->queued = TRUE;
    }
  else if (native->conns.tail != &conn->link)
    {
      g_queue_unlink (&native->conns, &conn->link);
      g_queue_push_tail_link (&native->conns, &conn->link);
    }

  /* The timer is due for the quietest connection; running early is harmless. */
  if (g_source_get_ready_time (native->timer) == -1)
    g_source_set_ready_time (native->timer, now_us + native->idle_timeout_us);
}

/* Writes what @conn still owes; returns %FALSE if it was closed. */
static gboolean
conn_flush (NativeConn *conn)
{
  HelixGatewayNative *native = conn->native;
  gssize sent;

  sent = send (conn->fd, conn->pending->data, conn->pending->len, MSG_NOSIGNAL);
  if (sent < 0 && (errno == EAGAIN || errno == EINTR))
    return TRUE;
  if (sent < 0)
    {
      conn_close (conn);
      return FALSE;
    }

  conn_touch (conn, g_get_monotonic_time ());
  g_byte_array_remove_range (conn->pending, 0, sent);
  if (conn->pending->len > 0)
    return TRUE;

  g_clear_pointer (&conn->pending, g_byte_array_unref);
  native->n_writing--;
  _helix_gateway_native_answer_written (native->gateway);

  /* A shutdown began while the client was slow: it may go now. */
  if (_helix_gateway_is_stopping (native->gateway))
    {
      conn_close_after_answer (conn);
      return FALSE;
    }

  conn_watch (conn, G_IO_IN);

  return TRUE;
}

/* Parsing {{{1 */

static gboolean
is_tchar (char c)
{
  return g_ascii_isalnum (c) || (c != '\0' && strchr ("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Whether libsoup takes @value as a request's Host: it makes the
 * request's URI from it (http://HOST/PATH), and answers 400 when that is
 * not a URI with a host. Only names and addresses of the usual characters
 * are checked here at all; the last Host taken on a connection is kept,
 * so that the check runs once per connection. */
static gboolean
conn_host_is_valid (NativeConn *conn,
                    const char *value)
{
  g_autoptr(GUri) uri = NULL;
  g_autofree char *text = NULL;

  if (conn->host != NULL && strcmp (conn->host, value) == 0)
    return TRUE;

  if (*value == '\0')
    return FALSE;

  for (const char *p = value; *p != '\0'; p++)
    {
      if (!g_ascii_isalnum (*p) && strchr (".-_:[]", *p) == NULL)
        return FALSE;
    }

  text = g_strconcat ("http://", value, "/", NULL);
  uri = g_uri_parse (text, G_URI_FLAGS_HAS_PASSWORD | G_URI_FLAGS_ENCODED_PATH |
                     G_URI_FLAGS_ENCODED_QUERY | G_URI_FLAGS_ENCODED_FRAGMENT |
                     G_URI_FLAGS_SCHEME_NORMALIZE, NULL);
  if (uri == NULL || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0')
    return FALSE;

  g_free (conn->host);
  conn->host = g_strdup (value);

  return TRUE;
}

/* Sets *@slot to @value unless it was set already (a repeated header). */
static gboolean
take_once (const char **slot,
           const char  *value)
{
  if (*slot != NULL)
    return FALSE;

  *slot = value;
  return TRUE;
}

/*
 * Parses the request head @head (@length bytes, ending in an empty line) in
 * place. Returns %FALSE for anything but `GET <path> HTTP/1.1` with headers
 * the native routes know how to answer; such a request goes to libsoup.
 */
static gboolean
parse_head (NativeConn    *conn,
            char          *head,
            gsize          length,
            NativeRequest *request)
{
  const char *host = NULL;
  char *end = head + length;
  char *line = head;
  char *eol;
  char *p;
  guint n_headers = 0;

  memset (request, 0, sizeof *request);

  {

  const char *content_length = NULL;

  /* The request line. */
  if (length > 5 && memcmp (head, "GET /", 5) == 0)
    request->method = "GET";
  else if (length > 6 && memcmp (head, "POST /", 6) == 0)
    request->method = "POST";
  else
    return FALSE;

  eol = memchr (line, '\r', end - line);
  if (eol == NULL || eol[1] != '\n')
    return FALSE;

  p = line + strlen (request->method) + 1;
  request->path = p;
  while (p < eol && *p > ' ' && *p < 0x7f && *p != '?' && *p != '#' && *p != '%')
    p++;
  if (eol - p != (gssize) strlen (" HTTP/1.1") || memcmp (p, " HTTP/1.1", 9) != 0)
    return FALSE;
  *p = '\0';
  line = eol + 2;

  /* Header lines, up to the empty one. */
  while (line < end)
    {
      char *name = line;
      char *value;
      char *value_end;

      eol = memchr (line, '\r', end - line);
      if (eol == NULL || eol + 1 >= end || eol[1] != '\n')
        return FALSE;
      if (eol == line)
        break;
      if (++n_headers > HELIX_GATEWAY_NATIVE_MAX_HEADERS)
        return FALSE;

      /* No folded lines, no space before the colon. */
      p = name;
      while (p < eol && is_tchar (*p))
        p++;
      if (p == name || p == eol || *p != ':')
        return FALSE;
      *p++ = '\0';

      while (p < eol && (*p == ' ' || *p == '\t'))
        p++;
      value = p;
      for (; p < eol; p++)
        {
          if ((*p < ' ' && *p != '\t') || *p >= 0x7f)
            return FALSE;
        }
      value_end = eol;
      while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
        value_end--;
      *value_end = '\0';
      line = eol + 2;

      if (g_ascii_strcasecmp (name, "Host") == 0)
        {
          if (!take_once (&host, value) || !conn_host_is_valid (conn, value))
            return FALSE;
        }
      else if (g_ascii_strcasecmp (name, "Authorization") == 0)
        {
          if (!take_once (&request->authorization, value))
            return FALSE;
        }
      else if (g_ascii_strcasecmp (name, "Accept-Encoding") == 0)
        {
          if (!take_once (&request->accept_encoding, value))
            return FALSE;
        }
      else if (g_ascii_strcasecmp (name, "X-Request-Id") == 0)
        {
          if (!take_once (&request->request_id, value))
            return FALSE;
        }
      else if (g_ascii_strcasecmp (name, "X-Forwarded-For") == 0)
        {
          if (!take_once (&request->forwarded_for, value))
            return FALSE;
        }
      else if (g_ascii_strcasecmp (name, "Connection") == 0)
        {
          if (g_ascii_strcasecmp (value, "keep-alive") != 0)
            return FALSE;
        }
      else if (g_ascii_strcasecmp (name, "Content-Length") == 0)
        {
          if (!take_once (&content_length, value))
            return FALSE;
        }
      else if (g_ascii_strcasecmp (name, "Content-Type") == 0)
        {
          if (!take_once (&request->content_type, value))
            return FALSE;
        }
      else if (g_ascii_strcasecmp (name, "Transfer-Encoding") == 0 ||
               g_ascii_strcasecmp (name, "Origin") == 0 ||
               g_ascii_strcasecmp (name, "Expect") == 0 ||
               g_ascii_strcasecmp (name, "Upgrade") == 0 ||
               g_ascii_strcasecmp (name, "Range") == 0 ||
               g_ascii_strcasecmp (name, "If-Range") == 0)
        return FALSE;
    }

  /* A body has a plain length, and only POST has one: at most 7 digits. */
  if (content_length != NULL)
    {
      gsize digits = strspn (content_length, "0123456789");

      if (digits == 0 || digits > 7 || content_length[digits] != '\0')
        return FALSE;
      request->content_length = (gsize) g_ascii_strtoull (content_length, NULL, 10);
    }
  if (strcmp (request->method, "GET") == 0 ? request->content_length != 0
                                           : content_length == NULL)
    return FALSE;

  /* HTTP/1.1 requires Host (libsoup answers 400 without). */
  return host != NULL;
  }
}

/* Routes {{{1 */

/* The client's address, as _helix_gateway_get_client_address() has it:
 * the connection's, or the one a trusted proxy forwards for (then in
 * *@forwarded, for the caller to free). */
static const char *
request_get_address (NativeConn           *conn,
                     const NativeRequest  *request,
                     char                **forwarded)
{
  if (conn->address == NULL)
    {
      GInetAddress *inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (conn->remote));

      conn->address = g_inet_address_to_string (inet);
    }

  *forwarded = NULL;
  if (request->forwarded_for != NULL)
    {
      const HelixGatewayConfig *config = helix_gateway_get_config (conn->native->gateway);

      *forwarded = helix_gateway_config_dup_client_address (config, conn->address,
                                                            request->forwarded_for);
    }

  return *forwarded != NULL ? *forwarded : conn->address;
}

/* GET /health (helix-gateway-routes.c). */
static gboolean
answer_health (HelixGatewayNative *native,
               NativeAnswer       *answer)
{
  GString *text = _helix_gateway_health_text (native->gateway, &answer->status);

  answer->headers = "Cache-Control: no-store\r\n";
  answer->body = g_string_free_to_bytes (text);
  answer->may_gzip = TRUE;

  return TRUE;
}

/* GET /api/v1/sessions (helix-gateway-sessions.c): only a success. */
static gboolean
answer_sessions (HelixGatewayNative  *native,
                 NativeConn          *conn,
                 const NativeRequest *request,
                 NativeAnswer        *answer)
{
  HelixGateway *gateway = native->gateway;
  g_auto(HelixGatewayAuth) auth = { 0 };
  g_autoptr(GBytes) text = NULL;
  g_autofree char *forwarded = NULL;

  if (_helix_gateway_lookup_token (gateway, request->authorization, &auth, NULL) !=
      HELIX_GATEWAY_TOKEN_VALID)
    return FALSE;

  text = _helix_gateway_list_sessions_text (gateway, &auth, NULL);
  if (text == NULL)
    return FALSE;

  /* Last: nothing is charged for a request libsoup answers. */
  if (!_helix_gateway_charge_limits (gateway, request_get_address (conn, request, &forwarded),
                                     auth.user_name))
    return FALSE;

  answer->status = SOUP_STATUS_OK;
  /* An API route says Vary: Origin (_helix_gateway_apply_cors()). */
  answer->headers = "Vary: Origin\r\nCache-Control: no-store\r\n";
  answer->body = g_steal_pointer (&text);
  answer->may_gzip = TRUE;

  return TRUE;
}

/* Whether a native route answers POST requests to @path: only then is a
 * body waited for. */
static gboolean
route_takes_posts (const char *path)
{
  return strcmp (path, "/v1/chat/completions") == 0;
}

/* POST /v1/chat/completions (helix-gateway-openai.c): a call that did not
 * fail at once, answered later through a HelixGatewayNativeCall. */
static HelixGatewayOpenaiCall *
prepare_chat (HelixGatewayNative  *native,
              NativeConn          *conn,
              const NativeRequest *request)
{
  g_autofree char *forwarded = NULL;

  return _helix_gateway_openai_native_prepare (native->gateway, request->authorization,
                                               request_get_address (conn, request, &forwarded),
                                               request->content_type, request->body,
                                               request->content_length);
}

static gboolean
route (HelixGatewayNative      *native,
       NativeConn              *conn,
       const NativeRequest     *request,
       NativeAnswer            *answer,
       HelixGatewayOpenaiCall **later)
{
  if (strcmp (request->method, "POST") == 0)
    {
      if (!route_takes_posts (request->path))
        return FALSE;
      *later = prepare_chat (native, conn, request);
      return *later != NULL;
    }

  if (strcmp (request->path, "/health") == 0)
    return answer_health (native, answer);

  if (strcmp (request->path, "/api/v1/sessions") == 0)
    return answer_sessions (native, conn, request, answer);

  return FALSE;
}

/* Answering {{{1 */

static const char *
get_date (HelixGatewayNative *native)
{
  gint64 second = g_get_real_time () / G_USEC_PER_SEC;

  if (second != native->date_second)
    {
      g_autoptr(GDateTime) now = g_date_time_new_from_unix_utc (second);
      g_autofree char *text = soup_date_time_to_string (now, SOUP_DATE_HTTP);

      g_strlcpy (native->date, text, sizeof native->date);
      native->date_second = second;
    }

  return native->date;
}

/* Writes @answer to @conn, in one system call if the socket takes it all.
 * Returns %FALSE if @conn was closed. */
static gboolean
conn_answer (NativeConn          *conn,
             const char          *accept_encoding,
             NativeAnswer        *answer,
             const char          *id)
{
  HelixGatewayNative *native = conn->native;
  g_autoptr(GBytes) compressed = NULL;
  GString *head = native->head;
  struct iovec iov[2];
  struct msghdr message = { .msg_iov = iov, .msg_iovlen = 2 };
  gsize body_length;
  gconstpointer body = g_bytes_get_data (answer->body, &body_length);
  gssize sent;
  gsize total;

  g_string_truncate (head, 0);
  g_string_append (head, "HTTP/1.1 ");
  _helix_gateway_append_int (head, answer->status);
  g_string_append_c (head, ' ');
  /* libsoup 3.2 knows no phrase for 429 (RFC 6585): respond_json_body(). */
  g_string_append (head, answer->status == 429 ? "Too Many Requests"
                                               : soup_status_get_phrase (answer->status));
  g_string_append (head, "\r\nServer: helix/" PACKAGE_VERSION "\r\nDate: ");
  g_string_append (head, get_date (native));
  g_string_append (head, "\r\n");
  g_string_append (head, answer->headers);

  /* As respond_json_body() does. */
  if (answer->may_gzip && body_length > HELIX_GATEWAY_GZIP_MIN_BYTES)
    {
      g_string_append (head, "Vary: Accept-Encoding\r\n");
      if (_helix_gateway_accepts_gzip (accept_encoding))
        compressed = _helix_gateway_gzip_bytes (body, body_length);
      if (compressed != NULL)
        {
          g_string_append (head, "Content-Encoding: gzip\r\n");
          body = g_bytes_get_data (compressed, &body_length);
        }
    }

  g_string_append (head, "Content-Type: application/json\r\nContent-Length: ");
  _helix_gateway_append_int (head, body_length);
  g_string_append (head, "\r\nX-Request-Id: ");
  g_string_append (head, id);
  g_string_append (head, "\r\n\r\n");

  iov[0].iov_base = head->str;
  iov[0].iov_len = head->len;
  iov[1].iov_base = (gpointer) body;
  iov[1].iov_len = body_length;
  total = head->len + body_length;

  do
    sent = sendmsg (conn->fd, &message, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);

  if (sent < 0 && errno != EAGAIN)
    {
      conn_close (conn);
      return FALSE;
    }

  sent = MAX (sent, 0);
  if ((gsize) sent == total)
    return TRUE;

  /* The client reads slowly: the rest waits, and nothing more is read. */
  conn->pending = g_byte_array_sized_new (total - sent);
  if ((gsize) sent < head->len)
    {
      g_byte_array_append (conn->pending, (const guint8 *) head->str + sent, head->len - sent);
      g_byte_array_append (conn->pending, body, body_length);
    }
  else
    g_byte_array_append (conn->pending, (const guint8 *) body + (sent - head->len),
                         body_length - (sent - head->len));
  native->n_writing++;
  conn_watch (conn, G_IO_OUT);

  return TRUE;
}

/* Calls {{{1 */

/* @conn's request is answered later, by @later. */
static void
conn_begin_call (NativeConn             *conn,
                 const NativeRequest    *request,
                 const char             *id,
                 gint64                  started_us,
                 HelixGatewayOpenaiCall *later)
{
  HelixGatewayNative *native = conn->native;
  HelixGatewayNativeCall *call = g_new0 (HelixGatewayNativeCall, 1);

  call->conn = conn;
  call->path = "/v1/chat/completions";
  call->accept_encoding = g_strdup (request->accept_encoding);
  call->started_us = started_us;
  g_strlcpy (call->id, id, sizeof call->id);

  /* Not among the quiet ones: a model may think for minutes. */
  g_queue_unlink (&native->conns, &conn->link);
  conn->queued = FALSE;
  g_queue_push_tail_link (&native->calls, &conn->link);
  conn->call = call;
  native->n_calls++;

  _helix_gateway_openai_native_start (later, call);
}

/**
 * _helix_gateway_native_call_set_gone_func:
 * @call: a request answered later
 * @func: called (with @call and @data) if the client goes before the answer
 * @data: for @func
 */
void
_helix_gateway_native_call_set_gone_func (HelixGatewayNativeCall *call,
                                          GFunc                   func,
                                          gpointer                data)
{
  call->gone_func = func;
  call->gone_data = data;
}

/* Frees @call, unanswered: its client went. */
void
_helix_gateway_native_call_drop (HelixGatewayNativeCall *call)
{
  g_assert (call->conn == NULL);

  g_free (call->accept_encoding);
  g_free (call);
}

/**
 * _helix_gateway_native_call_respond:
 * @call: (transfer full): a request answered later
 * @status: the status of the answer
 * @headers: the route's header lines, each ending in CRLF
 * @body: a JSON body
 *
 * Answers @call (if its client is still there) and frees it; the
 * connection then waits for its next request.
 */
void
_helix_gateway_native_call_respond (HelixGatewayNativeCall *call,
                                    guint                   status,
                                    const char             *headers,
                                    GBytes                 *body)
{
  NativeConn *conn = call->conn;
  NativeAnswer answer = { .status = status, .headers = headers, .body = body, .may_gzip = TRUE };
  HelixGatewayNative *native;
  gboolean open;

  if (conn == NULL)
    {
      _helix_gateway_native_call_drop (call);
      return;
    }

  native = conn->native;
  g_queue_unlink (&native->calls, &conn->link);
  conn->call = NULL;
  call->conn = NULL;
  native->n_calls--;
  conn_touch (conn, g_get_monotonic_time ());

  helix_gateway_metrics_observe_request (helix_gateway_metrics_route_for_path (call->path),
                                         "POST", status,
                                         g_get_monotonic_time () - call->started_us);
  _helix_gateway_log_request ("POST", call->path, status, FALSE, call->started_us, call->id);

  open = conn_answer (conn, call->accept_encoding, &answer, call->id);
  _helix_gateway_native_call_drop (call);
  if (!open)
    return;

  _helix_gateway_native_answer_written (native->gateway);
  if (conn->pending != NULL)
    return;

  if (_helix_gateway_is_stopping (native->gateway))
    conn_close_after_answer (conn);
  else
    conn_watch (conn, G_IO_IN);  /* a pipelined request may be waiting */
}

/* Serving {{{1 */

/* Answers the requests @conn has sent, as long as they are native ones. */
static void
conn_serve (NativeConn *conn)
{
  HelixGatewayNative *native = conn->native;

  /* A few requests at most: other connections get their turn. */
  for (guint round = 0; round < 8; round++)
    {
      NativeRequest request;
      NativeAnswer answer = { 0 };
      HelixGatewayOpenaiCall *later = NULL;
      char id[HELIX_REQUEST_ID_MAX_LEN + 1];
      gint64 started_us;
      gssize peeked;
      gsize head_length;
      gsize request_length;
      char *end;

      do
        peeked = recv (conn->fd, native->buffer, HELIX_GATEWAY_NATIVE_REQUEST_MAX, MSG_PEEK);
      while (peeked < 0 && errno == EINTR);

      if (peeked < 0 && errno == EAGAIN)
        return;
      if (peeked <= 0)
        {
          /* The client went (or the connection broke) between requests. */
          conn_close (conn);
          return;
        }

      started_us = g_get_monotonic_time ();
      conn_touch (conn, started_us);
      native->buffer[peeked] = '\0';

      end = g_strstr_len (native->buffer, MIN (peeked, HELIX_GATEWAY_NATIVE_HEAD_MAX), "\r\n\r\n");
      if (end == NULL || _helix_gateway_is_stopping (native->gateway))
        {
          conn_hand_over (conn);
          return;
        }
      head_length = end + 4 - native->buffer;

      if (!parse_head (conn, native->buffer, head_length, &request))
        {
          conn_hand_over (conn);
          return;
        }

      /* A body must be here whole, within what can be peeked
       * (%HELIX_GATEWAY_NATIVE_REQUEST_MAX with its head). Clients
       * often send it after the head: the socket is then made to say it is
       * readable only once the whole request is in (SO_RCVLOWAT; an end of
       * the stream wakes it up as well). */
      request_length = head_length + request.content_length;
      if (strcmp (request.method, "POST") == 0 && !route_takes_posts (request.path))
        {
          conn_hand_over (conn);
          return;
        }
      if (request_length > (gsize) peeked &&
          (request_length > HELIX_GATEWAY_NATIVE_REQUEST_MAX ||
           conn->low_water == request_length ||
           !conn_set_low_water (conn, request_length)))
        {
          /* Too large, or the client stopped sending. */
          conn_hand_over (conn);
          return;
        }
      if (request_length > (gsize) peeked)
        return;
      request.body = native->buffer + head_length;

      if (!route (native, conn, &request, &answer, &later))
        {
          conn_hand_over (conn);
          return;
        }

      if (request.request_id != NULL && _helix_gateway_request_id_is_valid (request.request_id))
        g_strlcpy (id, request.request_id, sizeof id);
      else
        _helix_gateway_make_request_id (id);

      /* The request is ours now: read it for real (elsewhere: @request
       * points into the buffer). */
      if (recv (conn->fd, native->discard, request_length, 0) != (gssize) request_length)
        {
          g_clear_pointer (&answer.body, g_bytes_unref);
          if (later != NULL)
            _helix_gateway_openai_native_start (later, NULL);
          conn_close (conn);
          return;
        }

      native->n_answered++;
      conn->answered = TRUE;
      conn_set_low_water (conn, 0);

      if (later != NULL)
        {
          conn_begin_call (conn, &request, id, started_us, later);
          return;
        }

      helix_gateway_metrics_observe_request (helix_gateway_metrics_route_for_path (request.path),
                                             request.method, answer.status,
                                             g_get_monotonic_time () - started_us);
      _helix_gateway_log_request (request.method, request.path, answer.status, FALSE,
                                  started_us, id);

      if (!conn_answer (conn, request.accept_encoding, &answer, id))
        {
          g_bytes_unref (answer.body);
          return;
        }
      g_bytes_unref (answer.body);

      if (conn->pending != NULL || (gsize) peeked == request_length)
        return;
    }
}

static gboolean
conn_cb (int          fd,
         GIOCondition condition,
         gpointer     data)
{
  NativeConn *conn = data;

  /* Waiting for an AI call: only a client hanging up matters (a paused
   * answer reads nothing, so without this nothing would notice). */
  if (conn->call != NULL && conn->pending == NULL)
    {
      char c;
      gssize n = recv (conn->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
      if (n > 0)
        {
          /* A pipelined request: it waits for the answer. */
          g_source_destroy (conn->source);
          g_clear_pointer (&conn->source, g_source_unref);
          return G_SOURCE_REMOVE;
        }

      g_debug ("%s: the client went away", conn->call->id);
      conn_close (conn);
      return G_SOURCE_REMOVE;
    }

  if (conn->pending != NULL)
    {
      if ((condition & (G_IO_ERR | G_IO_HUP)) != 0 && (condition & G_IO_OUT) == 0)
        conn_close (conn);
      else
        conn_flush (conn);
      return G_SOURCE_CONTINUE;
    }

  conn_serve (conn);

  return G_SOURCE_CONTINUE;
}

/* Watches @conn for @condition (and hang-ups, errors) instead of what it
 * was watched for. */
static void
conn_watch (NativeConn   *conn,
            GIOCondition  condition)
{
  if (conn->source != NULL)
    {
      g_source_destroy (conn->source);
      g_source_unref (conn->source);
    }

  conn->source = g_unix_fd_source_new (conn->fd, condition | G_IO_HUP | G_IO_ERR);
  g_source_set_callback (conn->source, G_SOURCE_FUNC (conn_cb), conn, NULL);
  g_source_set_static_name (conn->source, "[helix] native HTTP connection");
  g_source_attach (conn->source, conn->native->context);
}

/* The gateway {{{1 */

HelixGatewayNative *
_helix_gateway_native_new (HelixGateway *gateway,
                           guint         idle_timeout_ms)
{
  HelixGatewayNative *native = g_new0 (HelixGatewayNative, 1);

  native->gateway = gateway;
  native->context = g_main_context_ref_thread_default ();
  native->idle_timeout_us = (gint64) idle_timeout_ms * 1000;
  native->head = g_string_sized_new (512);
  native->date_second = -1;
  g_queue_init (&native->conns);
  g_queue_init (&native->calls);

  /* Above libsoup's sources: closing a quiet connection is cheap. */
  native->timer = g_source_new (&timer_funcs, sizeof (GSource));
  g_source_set_priority (native->timer, G_PRIORITY_HIGH);
  g_source_set_callback (native->timer, timer_cb, native, NULL);
  g_source_set_static_name (native->timer, "[helix] native HTTP idle timer");
  g_source_attach (native->timer, native->context);

  return native;
}

void
_helix_gateway_native_free (HelixGatewayNative *native)
{
  if (native == NULL)
    return;

  while (native->conns.head != NULL)
    conn_close (native->conns.head->data);
  while (native->calls.head != NULL)
    conn_close (native->calls.head->data);

  g_source_destroy (native->timer);
  g_source_unref (native->timer);
  g_string_free (native->head, TRUE);
  g_main_context_unref (native->context);
  g_free (native);
}

/* A new plain HTTP connection: it starts here. */
void
_helix_gateway_native_take (HelixGatewayNative *native,
                            GSocketConnection  *connection,
                            GSocketAddress     *local,
                            GSocketAddress     *remote)
{
  NativeConn *conn;

  /* Too many connections wait: the quietest goes. */
  if (native->conns.length >= HELIX_GATEWAY_KEEPALIVE_MAX_IDLE + native->n_writing)
    {
      for (GList *l = native->conns.head; l != NULL; l = l->next)
        {
          NativeConn *quiet = l->data;

          if (quiet->pending == NULL)
            {
              conn_close (quiet);
              break;
            }
        }
    }

  conn = g_new0 (NativeConn, 1);
  conn->native = native;
  conn->connection = g_object_ref (connection);
  conn->local = g_object_ref (local);
  conn->remote = g_object_ref (remote);
  conn->fd = g_socket_get_fd (g_socket_connection_get_socket (connection));
  conn->link.data = conn;
  conn_touch (conn, g_get_monotonic_time ());
  conn_watch (conn, G_IO_IN);
}

/* A shutdown began: kept-alive connections waiting for their next request
 * close, as libsoup's do. A client that connected but has sent nothing yet,
 * or whose request waits for the rest of its body, is libsoup's to answer
 * (503) if its request comes whole before the end. */
void
_helix_gateway_native_close_idle (HelixGatewayNative *native)
{
  GList *l = native->conns.head;

  while (l != NULL)
    {
      NativeConn *conn = l->data;

      l = l->next;
      if (conn->pending != NULL)
        continue;
      /* One whose body is on its way is answered too. */
      if (conn->answered && conn->low_water == 0)
        conn_close (conn);
      else
        conn_hand_over (conn);
    }
}

guint
_helix_gateway_native_get_n_idle (HelixGatewayNative *native)
{
  return native->conns.length - native->n_writing;
}

/* Connections owed an answer: being written, or waiting for a call. */
guint
_helix_gateway_native_get_n_writing (HelixGatewayNative *native)
{
  return native->n_writing + native->n_calls;
}

/* Tests: connections whose request waits for the rest of its body. */
guint
_helix_gateway_native_get_n_waiting (HelixGatewayNative *native)
{
  guint n = 0;

  for (GList *l = native->conns.head; l != NULL; l = l->next)
    n += ((NativeConn *) l->data)->low_water != 0;

  return n;
}

guint64
_helix_gateway_native_get_n_answered (HelixGatewayNative *native)
{
  return native->n_answered;
}
