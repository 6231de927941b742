/* helix-gateway.c: the headless gateway (helix --headless)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <gio/gnetworking.h>
#include <glib/gi18n.h>
#include <sodium.h>

#include "helix-audit-watch.h"
#include "helix-gateway-keepalive.h"
#include "helix-gateway-native.h"
#include "helix-gateway-metrics.h"
#include "helix-gateway-private.h"
#include "helix-log.h"
#include "helix-password.h"
#include "helix-state-file.h"
#include "helix-token-bucket.h"

/* The files of the state directory that hold what changes at run time. */
#define FLAGS_FILE   "flags.json"
#define RUNTIME_FILE "runtime.json"

/**
 * HelixGateway:
 *
 * The server of `helix --headless`: it owns the configuration, the
 * gateway's #HelixGatewayDb (`gateway.db` in the state directory) and a
 * #SoupServer that answers HTTP requests.
 *
 * Beside the database, the state directory holds the audit trail
 * (`audit.db`, `webhooks.db`, `audit.key`: helix-gateway-audit.c), the
 * feature flags changed at run time (`flags.json`, a #HelixFlags) and the
 * maintenance switch (`runtime.json`); the last two are #HelixStateFile
 * documents, written in a worker thread before a change takes effect.
 *
 * helix_gateway_start() opens the database and starts listening;
 * helix_gateway_shutdown_async() stops accepting connections, lets the
 * requests in flight finish (for at most
 * %HELIX_GATEWAY_DRAIN_TIMEOUT_SECONDS), then closes everything.
 *
 * The gateway accepts connections itself (a #GSocketService) and hands
 * them to the server with soup_server_accept_iostream() rather than using
 * soup_server_listen(): the listener of libsoup 3.2 (Debian 12) leaks the
 * #GSocket of every connection it accepts, which a long-running server
 * cannot afford, and has no way to stop accepting without also closing the
 * connections in flight. libsoup would then close each connection after
 * its response; helix-gateway-keepalive.c turns HTTP keep-alive back on for
 * plain HTTP (a listener that never accepts) and closes the kept-alive
 * connections that libsoup 3.2.3 would leak: those whose client leaves
 * between requests, and those idle for longer than
 * %HELIX_GATEWAY_KEEPALIVE_IDLE_TIMEOUT_S. During a shutdown, idle
 * connections are closed at once and responses say `Connection: close`.
 * HTTPS connections are closed after each response (`Connection: close`):
 * the TLS layer may hold data the socket does not show, so a client
 * leaving could not be told from one sending. WebSocket connections are
 * not affected.
 *
 * With `tls-certificate` and `tls-key` set, every accepted connection is
 * first wrapped in a #GTlsServerConnection whose handshake must finish
 * within %HELIX_GATEWAY_TLS_HANDSHAKE_TIMEOUT_S seconds; only then is it
 * handed to the server. At most %HELIX_GATEWAY_TLS_HANDSHAKES_MAX
 * handshakes run at once: a client that connects and sends nothing cannot
 * pin connections for long, nor many of them. libsoup sees the
 * #GTlsConnection: request URIs (soup_server_message_get_uri()) are
 * `https://…`.
 */

/* How long a client has to complete the TLS handshake, in seconds. */
#define HELIX_GATEWAY_TLS_HANDSHAKE_TIMEOUT_S 10

/* TLS handshakes in progress at most; connections beyond are closed at once. */
#define HELIX_GATEWAY_TLS_HANDSHAKES_MAX 256


/* One TLS handshake in progress (see on_incoming()). */
typedef struct
{
  HelixGateway     *gateway;    /* (nullable) (unowned): cleared when the gateway stops */
  GIOStream        *tls;        /* the GTlsServerConnection */
  GSocketAddress   *local;
  GSocketAddress   *remote;
  GCancellable     *cancellable;
  guint             timeout_id;
} TlsHandshake;

struct _HelixGateway
{
  GObject             parent_instance;

  HelixGatewayConfig *config;
  HelixGatewayDb     *db;
  SoupServer         *server;
  GSocketService     *listener;
  char               *uri;

  /* (nullable): keep-alive, while serving plain HTTP. */
  HelixGatewayKeepalive *keepalive;
  /* (nullable): the hot routes without libsoup, while serving plain HTTP
   * (helix-gateway-native.c); off with HELIX_GATEWAY_HTTP=libsoup. */
  HelixGatewayNative *native;
  gboolean            native_disabled;
  guint               keepalive_timeout_ms;

  /* (nullable): the certificate and key, when serving HTTPS. */
  GTlsCertificate    *tls_certificate;
  /* TLS handshakes in progress (TlsHandshake). */
  GPtrArray          *handshakes;
  gint64              started_us;

  /* HelixRequest of every message between request-started and its end. */
  GHashTable         *requests;

  /* Failed logins per account and per client address. */
  HelixGatewayLogins  logins;

  /* API requests per user and per client address (nullable: no limit). */
  HelixTokenBuckets  *user_limits;
  HelixTokenBuckets  *address_limits;

  /* Timestamps the ops the gateway makes itself (REST API); device "gateway". */
  HelixHlcClock      *clock;

  /* The open sync WebSockets, per user (helix-gateway-ws.c). */
  HelixGatewayHub    *hub;

  /* The session lists answered, per user (helix-gateway-sessions.c); they
   * belong to the database they were read from. */
  HelixGatewayListCache *list_cache;

  /* (nullable): the connection searches run on, from the first search
   * until the database is closed (helix-gateway-search.c). */
  HelixGatewaySearcher *searcher;

  /* (nullable): the AI router, while started with providers configured. */
  HelixGatewayAi     *ai;

  /* The feature flags, kept in <state-dir>/flags.json while started. */
  HelixFlags         *flags;

  /* The audit trail (<state-dir>/audit.db), while started. */
  HelixAudit         *audit;
  /* (nullable): watches the configuration file for the audit trail. */
  GFileMonitor       *config_monitor;

  /* (nullable): <state-dir>/runtime.json, while started: what an
   * administrator switched at run time (maintenance mode). */
  HelixStateFile     *runtime;
  /* Maintenance switched at run time: it wins over the configuration. */
  gboolean            maintenance_set;
  gboolean            maintenance;

  /* A shutdown in progress. */
  GTask              *shutdown;
  gulong              cancelled_id;
  guint               drain_timeout_id;
  guint               drain_check_id;
  gboolean            stopping;
};

/* What the gateway knows about one request, attached to its message. */
typedef struct
{
  HelixGateway      *gateway; /* (nullable) (unowned): cleared when the gateway goes */
  SoupServerMessage *msg;     /* (unowned): the request lives as long as its message */
  gint64             started_us;
  char               id[HELIX_REQUEST_ID_MAX_LEN + 1];
  GByteArray        *body;    /* (nullable): the request body of an API route */
  gsize              max_body; /* how large @body may grow */
  char              *client_address; /* (nullable): once asked for */
  guint              got_headers : 1;
  guint              body_too_large : 1;
  guint              admitted : 1;
  guint              finished : 1;
} HelixRequest;

enum {
  PROP_0,
  PROP_CONFIG,
  PROP_DB,
  PROP_URI,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (HelixGateway, helix_gateway, G_TYPE_OBJECT)

G_DEFINE_QUARK (helix-gateway-error-quark, helix_gateway_error)

static GQuark
helix_request_quark (void)
{
  static GQuark quark;

  if G_UNLIKELY (quark == 0)
    quark = g_quark_from_static_string ("helix-gateway-request");

  return quark;
}

static void schedule_drain_check (HelixGateway *self);

static GQuark
helix_socket_quark (void)
{
  static GQuark quark;

  if G_UNLIKELY (quark == 0)
    quark = g_quark_from_static_string ("helix-gateway-socket");

  return quark;
}

/**
 * _helix_gateway_message_get_socket:
 * @msg: a request
 *
 * Returns: (transfer none) (nullable): the socket of the client's connection
 *   (under TLS, the one below it)
 */
GSocket *
_helix_gateway_message_get_socket (SoupServerMessage *msg)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);
  GSocket *socket = soup_server_message_get_socket (msg);

  if (socket != NULL || remote == NULL)
    return socket;

  return g_object_get_qdata (G_OBJECT (remote), helix_socket_quark ());
}

static HelixRequest *
get_request (SoupServerMessage *msg)
{
  return g_object_get_qdata (G_OBJECT (msg), helix_request_quark ());
}

static void
helix_request_clear_body (HelixRequest *request)
{
  if (request->body != NULL)
    {
      /* It may hold a password. */
      sodium_memzero (request->body->data, request->body->len);
      g_clear_pointer (&request->body, g_byte_array_unref);
    }
}

/* Called when the message is finalized. */
static void
helix_request_free (gpointer data)
{
  HelixRequest *request = data;

  /* A message can go without request-finished or request-aborted, for
   * example when a client connects and goes without sending a request. */
  if (request->gateway != NULL && !request->finished)
    {
      g_hash_table_remove (request->gateway->requests, request);
      if (request->gateway->stopping)
        schedule_drain_check (request->gateway);
    }

  helix_request_clear_body (request);
  g_free (request->client_address);
  g_free (request);
}

/**
 * _helix_gateway_make_request_id:
 * @id: (out caller-allocates): room for 33 bytes
 *
 * Writes a new request id: 32 hex digits.
 */
void
_helix_gateway_make_request_id (char *id)
{
  static const char hex[] = "0123456789abcdef";
  static GMutex lock;
  static GRand *rand;
  guint32 words[4];

  G_STATIC_ASSERT (HELIX_REQUEST_ID_MAX_LEN >= 32);

  /* Request ids only correlate log lines and responses; they are not
   * secrets, so a GLib PRNG (seeded from /dev/urandom) is good enough. Ours
   * takes one lock for the four words, and no printf. */
  g_mutex_lock (&lock);
  if G_UNLIKELY (rand == NULL)
    rand = g_rand_new ();
  for (guint i = 0; i < G_N_ELEMENTS (words); i++)
    words[i] = g_rand_int (rand);
  g_mutex_unlock (&lock);

  for (guint i = 0; i < 32; i++)
    id[i] = hex[(words[i / 8] >> (28 - 4 * (i % 8))) & 0xf];
  id[32] = '\0';
}

gboolean
_helix_gateway_request_id_is_valid (const char *id)
{
  gsize length;

  if (id == NULL)
    return FALSE;

  length = strlen (id);
  if (length == 0 || length > HELIX_REQUEST_ID_MAX_LEN)
    return FALSE;

  for (gsize i = 0; i < length; i++)
    {
      if (!g_ascii_isalnum (id[i]) && id[i] != '-' && id[i] != '_')
        return FALSE;
    }

  return TRUE;
}

static void
set_response_headers (SoupServerMessage *msg,
                      HelixRequest      *request)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  soup_message_headers_replace (headers, "X-Request-Id", request->id);
  /* HTTPS connections, and all of them once a shutdown began, are closed
   * after the response (see above): tell the client. A WebSocket
   * handshake (101) keeps its "Connection: Upgrade". */
  if (soup_server_message_get_status (msg) != SOUP_STATUS_SWITCHING_PROTOCOLS &&
      (request->gateway == NULL || request->gateway->keepalive == NULL ||
       request->gateway->stopping))
    soup_message_headers_replace (headers, "Connection", "close");
}

static void
on_got_chunk (SoupServerMessage *msg,
              GBytes            *chunk)
{
  HelixRequest *request = get_request (msg);
  gsize size;
  gconstpointer data = g_bytes_get_data (chunk, &size);

  if (request == NULL || request->body == NULL || request->body_too_large)
    return;

  if (size > request->max_body - request->body->len)
    {
      /* The rest is read and dropped; the route answers 413. */
      request->body_too_large = TRUE;
      sodium_memzero (request->body->data, request->body->len);
      g_byte_array_set_size (request->body, 0);
      return;
    }

  g_byte_array_append (request->body, data, size);
}

/**
 * _helix_gateway_get_request_body:
 * @msg: a request to an API route (under `/api/`)
 * @too_large: (out): whether the body was larger than HELIX_GATEWAY_MAX_BODY_BYTES
 *   (HELIX_GATEWAY_MAX_CHAT_BODY_BYTES under /v1/)
 *
 * Returns: (transfer none): the request body (empty when too large)
 */
GByteArray *
_helix_gateway_get_request_body (SoupServerMessage *msg,
                                 gboolean          *too_large)
{
  HelixRequest *request = get_request (msg);

  g_assert (request != NULL && request->body != NULL);

  *too_large = request->body_too_large;

  return request->body;
}

/* libsoup clears the response headers after a 1xx response (the "100
 * Continue" of a client that sent "Expect: 100-continue"), which comes
 * between the request headers and its body: put the id back for the final
 * response. The route handler has run by now, but nothing is written yet. */
static void
on_got_body (SoupServerMessage *msg)
{
  HelixRequest *request = get_request (msg);

  if (request != NULL)
    set_response_headers (msg, request);
}

/* Whether a request has a body (RFC 9112, 6.3): chunked, or a length
 * other than 0. libsoup reads nothing for one without either. */
static gboolean
announces_body (SoupMessageHeaders *headers)
{
  switch (soup_message_headers_get_encoding (headers))
    {
    case SOUP_ENCODING_NONE:
      return FALSE;
    case SOUP_ENCODING_CONTENT_LENGTH:
      return soup_message_headers_get_content_length (headers) > 0;
    case SOUP_ENCODING_UNRECOGNIZED:
    case SOUP_ENCODING_EOF:
    case SOUP_ENCODING_CHUNKED:
    case SOUP_ENCODING_BYTERANGES:
    default:
      return TRUE;
    }
}

static void
on_got_headers (SoupServerMessage *msg)
{
  HelixRequest *request = get_request (msg);
  SoupMessageHeaders *request_headers = soup_server_message_get_request_headers (msg);
  HelixGateway *self;
  const char *incoming;
  GUri *uri;

  /* The gateway clears request->gateway when it goes. */
  if (request == NULL || request->gateway == NULL)
    return;

  self = request->gateway;

  request->got_headers = TRUE;
  /* Requests whose headers arrived before a shutdown began may finish. */
  request->admitted = !self->stopping;

  incoming = soup_message_headers_get_one (request_headers, "X-Request-Id");
  if (_helix_gateway_request_id_is_valid (incoming))
    {
      g_strlcpy (request->id, incoming, sizeof request->id);
      set_response_headers (msg, request);
    }

  /* Only a request that expects "100 Continue" gets a 1xx response, after
   * which the headers must be set again (a shutdown starting meanwhile sets
   * them on every request in flight itself: see set_headers_in_flight()). */
  if (soup_message_headers_get_expectations (request_headers) & SOUP_EXPECTATION_CONTINUE)
    g_signal_connect (msg, "got-body", G_CALLBACK (on_got_body), NULL);

  /* Bodies are never collected by libsoup, which has no size limit: the API
   * routes get theirs through on_got_chunk(), up to
   * HELIX_GATEWAY_MAX_BODY_BYTES; everything else is dropped as it arrives. */
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);

  uri = soup_server_message_get_uri (msg);
  if (uri != NULL && (g_str_has_prefix (g_uri_get_path (uri), "/api/") ||
                      _helix_gateway_path_is_openai (g_uri_get_path (uri))))
    {
      request->body = g_byte_array_new ();
      /* Conversations are larger than the other bodies. */
      request->max_body = _helix_gateway_path_is_openai (g_uri_get_path (uri)) ||
                          g_str_equal (g_uri_get_path (uri), "/api/v1/chat/message")
                          ? HELIX_GATEWAY_MAX_CHAT_BODY_BYTES : HELIX_GATEWAY_MAX_BODY_BYTES;
      /* Most API requests (GET) announce no body: no chunk will come. */
      if (announces_body (request_headers))
        g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), NULL);
    }
}

static void
on_request_started (HelixGateway      *self,
                    SoupServerMessage *msg,
                    SoupServer        *server)
{
  HelixRequest *request = g_new0 (HelixRequest, 1);

  /* A request on a kept-alive connection: it is no longer idle. */
  if (self->keepalive != NULL)
    _helix_gateway_keepalive_request_started (self->keepalive, msg);

  request->gateway = self;
  request->msg = msg;
  request->started_us = g_get_monotonic_time ();
  _helix_gateway_make_request_id (request->id);

  g_object_set_qdata_full (G_OBJECT (msg), helix_request_quark (), request, helix_request_free);
  g_hash_table_add (self->requests, request);

  /* Set now so that even the responses libsoup makes itself (400 for a
   * malformed request) carry them. */
  set_response_headers (msg, request);

  /* Plain handlers (no g_signal_connect_object(), which watches the
   * gateway for every request): they find it in the request. */
  g_signal_connect (msg, "got-headers", G_CALLBACK (on_got_headers), NULL);
}

/* Writes @value in decimal just before @end; returns where it begins. */
static char *
format_decimal (char    *end,
                guint64  value)
{
  do
    {
      *--end = '0' + value % 10;
      value /= 10;
    }
  while (value > 0);

  return end;
}

/* Logs the line of a finished request: "METHOD PATH STATUS 12.3 ms
 * request-id=ID", STATUS being "aborted after" for an aborted one. Written
 * for every request: no printf, and most lines in a buffer on the stack (a
 * long path takes an allocation). */
static void
write_request_line (const char *method,
                    const char *path,
                    const char *outcome,
                    const char *duration,
                    const char *id)
{
  const char * const pieces[] = {
    method, " ", path, " ", outcome, " ", duration, " ms request-id=", id,
  };
  gsize lengths[G_N_ELEMENTS (pieces)];
  g_autofree char *allocated = NULL;
  char buffer[256];
  gsize total = 0;
  char *line;
  char *p;

  for (guint i = 0; i < G_N_ELEMENTS (pieces); i++)
    total += lengths[i] = strlen (pieces[i]);

  line = total < sizeof buffer ? buffer : (allocated = g_malloc (total + 1));
  p = line;
  for (guint i = 0; i < G_N_ELEMENTS (pieces); i++)
    {
      memcpy (p, pieces[i], lengths[i]);
      p += lengths[i];
    }
  *p = '\0';

  helix_log_info (G_LOG_DOMAIN, line);
}

/**
 * _helix_gateway_log_request:
 * @method: (nullable): the request's method
 * @path: (nullable): its path, without the query string (it may carry secrets)
 * @status: the status answered
 * @aborted: whether the request was cut off rather than answered
 * @started_us: the monotonic time the request began
 * @id: its request id
 *
 * Logs the line of a finished request, at info level.
 */
void
_helix_gateway_log_request (const char *method,
                            const char *path,
                            guint       status,
                            gboolean    aborted,
                            gint64      started_us,
                            const char *id)
{
  gint64 tenths;
  const char *outcome = "aborted after";
  char status_text[16];
  char duration[32];
  char *duration_start;

  /* GLib formats a message before it drops it: not for every request at a
   * quieter level. */
  if (helix_log_would_drop (G_LOG_LEVEL_INFO, G_LOG_DOMAIN))
    return;

  if (!aborted || status == SOUP_STATUS_INTERNAL_SERVER_ERROR)
    {
      status_text[sizeof status_text - 1] = '\0';
      outcome = format_decimal (status_text + sizeof status_text - 1, status);
    }

  /* In tenths of a millisecond, rounded: "12.3". */
  tenths = MAX ((g_get_monotonic_time () - started_us + 50) / 100, 0);
  duration[sizeof duration - 1] = '\0';
  duration_start = duration + sizeof duration - 1;
  *--duration_start = '0' + tenths % 10;
  *--duration_start = '.';
  duration_start = format_decimal (duration_start, (guint64) tenths / 10);

  write_request_line (method != NULL ? method : "-", path != NULL ? path : "-", outcome,
                      duration_start, id);
}

static void
finish_request (HelixGateway      *self,
                SoupServerMessage *msg,
                gboolean           aborted)
{
  HelixRequest *request = get_request (msg);
  GUri *uri = soup_server_message_get_uri (msg);
  const char *method = soup_server_message_get_method (msg);
  const char *path = uri != NULL ? g_uri_get_path (uri) : NULL;
  guint status = soup_server_message_get_status (msg);

  if (request == NULL || request->finished)
    return;

  request->finished = TRUE;
  g_hash_table_remove (self->requests, request);

  if (request->got_headers)
    helix_gateway_metrics_observe_request (helix_gateway_metrics_route_for_path (path ? path : ""),
                                           method, status,
                                           g_get_monotonic_time () - request->started_us);

  _helix_gateway_log_request (method, path, status, aborted, request->started_us, request->id);

  if (self->stopping)
    schedule_drain_check (self);
}

/* After request-finished, and request-aborted: libsoup keeps the connection
 * of a 500 response sent in full open too (it reports it as aborted). */
static void
keep_alive (HelixGateway      *self,
            SoupServerMessage *msg)
{
  HelixRequest *request = get_request (msg);

  if (self->keepalive == NULL)
    return;

  /* The message stays until the next request on its kept-alive
   * connection; its body was parsed when the route answered. */
  if (request != NULL)
    helix_request_clear_body (request);
  _helix_gateway_keepalive_request_finished (self->keepalive, msg);
}

static void
on_request_finished (HelixGateway      *self,
                     SoupServerMessage *msg,
                     SoupServer        *server)
{
  finish_request (self, msg, FALSE);
  keep_alive (self, msg);
}

static void
on_request_aborted (HelixGateway      *self,
                    SoupServerMessage *msg,
                    SoupServer        *server)
{
  finish_request (self, msg, TRUE);
  /* Also when the connection broke: libsoup then closes it right after
   * this signal, which ends the watch at once. */
  keep_alive (self, msg);
}

/* Requests the gateway is working on. A message whose headers have not
 * arrived is a connection whose client has not sent a request (yet), not
 * work in flight. */
static guint
count_busy (HelixGateway *self)
{
  GHashTableIter iter;
  gpointer key;
  guint busy = 0;

  g_hash_table_iter_init (&iter, self->requests);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      HelixRequest *request = key;

      if (request->got_headers)
        busy++;
    }

  /* Native answers are made at once, but a slow client may not have taken
   * all of one yet. */
  if (self->native != NULL)
    busy += _helix_gateway_native_get_n_writing (self->native);

  return busy;
}

static void
log_abandoned_requests (HelixGateway *self)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->requests);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      HelixRequest *request = key;
      GUri *uri = soup_server_message_get_uri (request->msg);
      const char *method = soup_server_message_get_method (request->msg);

      if (!request->got_headers)
        continue;

      g_warning ("%s %s abandoned after %.1f ms request-id=%s",
                 method ? method : "-", uri ? g_uri_get_path (uri) : "-",
                 (g_get_monotonic_time () - request->started_us) / 1000.0, request->id);
    }
}

/* A shutdown began: the responses still to come say "Connection: close". */
static void
set_headers_in_flight (HelixGateway *self)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->requests);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      HelixRequest *request = key;

      set_response_headers (request->msg, request);
    }
}

static void
detach_requests (HelixGateway *self)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->requests);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      HelixRequest *request = key;

      request->gateway = NULL;
      g_hash_table_iter_remove (&iter);
    }
}

static void
tls_handshake_free (TlsHandshake *hs)
{
  g_clear_handle_id (&hs->timeout_id, g_source_remove);
  g_clear_object (&hs->tls);
  g_clear_object (&hs->local);
  g_clear_object (&hs->remote);
  g_clear_object (&hs->cancellable);
  g_free (hs);
}

/* Cancels the TLS handshakes in progress; their callbacks find no gateway
 * and free them. */
static void
cancel_handshakes (HelixGateway *self)
{
  if (self->handshakes == NULL)
    return;

  for (guint i = 0; i < self->handshakes->len; i++)
    {
      TlsHandshake *hs = g_ptr_array_index (self->handshakes, i);

      hs->gateway = NULL;
      g_clear_handle_id (&hs->timeout_id, g_source_remove);
      g_cancellable_cancel (hs->cancellable);
    }
  g_ptr_array_set_size (self->handshakes, 0);
}

static void
stop_listening (HelixGateway *self)
{
  cancel_handshakes (self);

  if (self->listener == NULL)
    return;

  g_signal_handlers_disconnect_by_data (self->listener, self);
  g_socket_service_stop (self->listener);
  g_socket_listener_close (G_SOCKET_LISTENER (self->listener));
  g_clear_object (&self->listener);
}

static void
stop_serving (HelixGateway *self)
{
  stop_listening (self);
  _helix_gateway_hub_disconnect_all (self->hub);
  g_clear_pointer (&self->native, _helix_gateway_native_free);
  g_clear_pointer (&self->keepalive, _helix_gateway_keepalive_free);

  if (self->server != NULL)
    {
      /* Closes the connections still open: clients that have not sent a
       * request, idle kept-alive ones, and the requests a forced shutdown
       * abandons. */
      soup_server_disconnect (self->server);
      g_signal_handlers_disconnect_by_data (self->server, self);
      g_clear_object (&self->server);
    }

  detach_requests (self);
  g_clear_pointer (&self->ai, _helix_gateway_ai_free);
  if (self->flags != NULL)
    g_signal_handlers_disconnect_by_data (self->flags, self);
  g_clear_object (&self->flags);
  g_clear_object (&self->runtime);
  if (self->config_monitor != NULL)
    g_file_monitor_cancel (self->config_monitor);
  g_clear_object (&self->config_monitor);
  if (self->audit != NULL)
    helix_audit_close (self->audit);
  g_clear_object (&self->audit);

  g_clear_pointer (&self->searcher, _helix_gateway_searcher_close);
  if (self->db != NULL)
    {
      helix_gateway_db_close (self->db);
      g_clear_object (&self->db);
      _helix_gateway_list_cache_clear (self->list_cache);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DB]);
    }
}

static void
finish_shutdown (HelixGateway      *self,
                 HelixGatewayError  reason)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->shutdown);
  guint abandoned = count_busy (self);

  g_assert (task != NULL);

  g_clear_handle_id (&self->drain_timeout_id, g_source_remove);
  g_clear_handle_id (&self->drain_check_id, g_source_remove);
  if (self->cancelled_id != 0)
    {
      g_cancellable_disconnect (g_task_get_cancellable (task), self->cancelled_id);
      self->cancelled_id = 0;
    }

  log_abandoned_requests (self);
  stop_serving (self);

  if (abandoned == 0)
    g_task_return_boolean (task, TRUE);
  else if (reason == HELIX_GATEWAY_ERROR_DRAIN_TIMEOUT)
    g_task_return_new_error (task, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_DRAIN_TIMEOUT,
                             g_dngettext (GETTEXT_PACKAGE,
                                          "Gave up after %u s waiting for %u request in flight",
                                          "Gave up after %u s waiting for %u requests in flight",
                                          abandoned),
                             HELIX_GATEWAY_DRAIN_TIMEOUT_SECONDS, abandoned);
  else
    g_task_return_new_error (task, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_CANCELLED,
                             g_dngettext (GETTEXT_PACKAGE,
                                          "Stopped without waiting for %u request in flight",
                                          "Stopped without waiting for %u requests in flight",
                                          abandoned),
                             abandoned);
}

static gboolean
drain_check_cb (gpointer data)
{
  HelixGateway *self = data;

  self->drain_check_id = 0;

  if (self->shutdown == NULL)
    return G_SOURCE_REMOVE;

  if (count_busy (self) == 0)
    finish_shutdown (self, HELIX_GATEWAY_ERROR_FAILED);

  return G_SOURCE_REMOVE;
}

/* Checks from an idle callback rather than from inside libsoup's signal
 * emissions, where disconnecting the server would pull the connection out
 * from under the code that emitted them. */
static void
schedule_drain_check (HelixGateway *self)
{
  if (self->drain_check_id == 0)
    self->drain_check_id = g_idle_add (drain_check_cb, self);
}

/* The native path finished writing an answer. */
void
_helix_gateway_native_answer_written (HelixGateway *self)
{
  if (self->stopping)
    schedule_drain_check (self);
}

static gboolean
drain_timeout_cb (gpointer data)
{
  HelixGateway *self = data;

  self->drain_timeout_id = 0;
  finish_shutdown (self, HELIX_GATEWAY_ERROR_DRAIN_TIMEOUT);

  return G_SOURCE_REMOVE;
}

static gboolean
force_stop_cb (gpointer data)
{
  HelixGateway *self = data;

  if (self->shutdown != NULL)
    finish_shutdown (self, HELIX_GATEWAY_ERROR_CANCELLED);

  return G_SOURCE_REMOVE;
}

/* May run in another thread, and g_cancellable_disconnect() must not run
 * inside it: finish from the main context. */
static void
on_shutdown_cancelled (GCancellable *cancellable,
                       HelixGateway *self)
{
  g_idle_add_full (G_PRIORITY_DEFAULT, force_stop_cb, g_object_ref (self), g_object_unref);
}

static void
helix_gateway_dispose (GObject *object)
{
  HelixGateway *self = (HelixGateway *) object;

  g_clear_handle_id (&self->drain_timeout_id, g_source_remove);
  g_clear_handle_id (&self->drain_check_id, g_source_remove);

  stop_listening (self);
  if (self->hub != NULL)
    _helix_gateway_hub_disconnect_all (self->hub);
  g_clear_pointer (&self->keepalive, _helix_gateway_keepalive_free);

  if (self->server != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->server, self);
      soup_server_disconnect (self->server);
      g_clear_object (&self->server);
    }

  detach_requests (self);
  g_clear_pointer (&self->ai, _helix_gateway_ai_free);
  if (self->flags != NULL)
    g_signal_handlers_disconnect_by_data (self->flags, self);
  g_clear_object (&self->flags);
  g_clear_object (&self->runtime);
  if (self->config_monitor != NULL)
    g_file_monitor_cancel (self->config_monitor);
  g_clear_object (&self->config_monitor);
  if (self->audit != NULL)
    helix_audit_close (self->audit);
  g_clear_object (&self->audit);

  g_clear_pointer (&self->searcher, _helix_gateway_searcher_close);
  if (self->db != NULL)
    {
      helix_gateway_db_close (self->db);
      g_clear_object (&self->db);
      _helix_gateway_list_cache_clear (self->list_cache);
    }

  G_OBJECT_CLASS (helix_gateway_parent_class)->dispose (object);
}

static void
helix_gateway_finalize (GObject *object)
{
  HelixGateway *self = (HelixGateway *) object;

  g_clear_pointer (&self->config, helix_gateway_config_free);
  g_clear_pointer (&self->uri, g_free);
  g_clear_pointer (&self->requests, g_hash_table_unref);
  g_clear_pointer (&self->logins.limit, helix_rate_limit_free);
  g_clear_pointer (&self->user_limits, helix_token_buckets_free);
  g_clear_pointer (&self->address_limits, helix_token_buckets_free);
  g_clear_pointer (&self->clock, helix_hlc_clock_free);
  g_clear_pointer (&self->hub, _helix_gateway_hub_free);
  g_clear_pointer (&self->list_cache, _helix_gateway_list_cache_free);
  g_clear_object (&self->tls_certificate);
  g_clear_pointer (&self->handshakes, g_ptr_array_unref);

  G_OBJECT_CLASS (helix_gateway_parent_class)->finalize (object);
}

static void
helix_gateway_constructed (GObject *object)
{
  HelixGateway *self = (HelixGateway *) object;
  double rate;
  double burst;

  G_OBJECT_CLASS (helix_gateway_parent_class)->constructed (object);

  if (self->config == NULL)
    self->config = helix_gateway_config_new ();

  if (helix_gateway_config_get_rate_limit_per_user (self->config, &rate, &burst))
    self->user_limits = helix_token_buckets_new (rate, burst, HELIX_GATEWAY_RATE_LIMIT_MAX_KEYS);
  if (helix_gateway_config_get_rate_limit_per_address (self->config, &rate, &burst))
    self->address_limits = helix_token_buckets_new (rate, burst,
                                                    HELIX_GATEWAY_RATE_LIMIT_MAX_KEYS);
}

static void
helix_gateway_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  HelixGateway *self = HELIX_GATEWAY (object);

  switch (prop_id)
    {
    case PROP_CONFIG:
      g_value_set_boxed (value, self->config);
      break;

    case PROP_DB:
      g_value_set_object (value, self->db);
      break;

    case PROP_URI:
      g_value_set_string (value, self->uri);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_gateway_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  HelixGateway *self = HELIX_GATEWAY (object);

  switch (prop_id)
    {
    case PROP_CONFIG:
      self->config = g_value_dup_boxed (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_gateway_class_init (HelixGatewayClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  helix_gateway_metrics_init ();

  object_class->constructed = helix_gateway_constructed;
  object_class->dispose = helix_gateway_dispose;
  object_class->finalize = helix_gateway_finalize;
  object_class->get_property = helix_gateway_get_property;
  object_class->set_property = helix_gateway_set_property;

  /**
   * HelixGateway:config:
   *
   * The configuration the gateway was made with (a copy).
   */
  properties[PROP_CONFIG] =
    g_param_spec_boxed ("config", NULL, NULL,
                        HELIX_TYPE_GATEWAY_CONFIG,
                        (G_PARAM_READWRITE |
                         G_PARAM_CONSTRUCT_ONLY |
                         G_PARAM_STATIC_STRINGS));

  /**
   * HelixGateway:db:
   *
   * The gateway's database, while it is started.
   */
  properties[PROP_DB] =
    g_param_spec_object ("db", NULL, NULL,
                         HELIX_TYPE_GATEWAY_DB,
                         (G_PARAM_READABLE |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  /**
   * HelixGateway:uri:
   *
   * The base URI the gateway answers on, with the port it really got
   * (`http://127.0.0.1:8080`, or `https://…` with TLS), once it is listening.
   */
  properties[PROP_URI] =
    g_param_spec_string ("uri", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
helix_gateway_init (HelixGateway *self)
{
  self->requests = g_hash_table_new (NULL, NULL);
  self->logins.limit = helix_rate_limit_new (HELIX_GATEWAY_LOGIN_MAX_FAILURES,
                                             HELIX_GATEWAY_LOGIN_WINDOW_S * G_USEC_PER_SEC);
  self->clock = helix_hlc_clock_new ("gateway");
  self->hub = _helix_gateway_hub_new (self);
  self->list_cache = _helix_gateway_list_cache_new ();
  self->handshakes = g_ptr_array_new ();
  self->keepalive_timeout_ms = HELIX_GATEWAY_KEEPALIVE_IDLE_TIMEOUT_S * 1000;
  /* For measuring libsoup against the native path, and a way out. */
  self->native_disabled = g_strcmp0 (g_getenv ("HELIX_GATEWAY_HTTP"), "libsoup") == 0;
}

/**
 * helix_gateway_new:
 * @config: (nullable): the configuration; %NULL for the defaults
 *
 * Creates a gateway. It does nothing until helix_gateway_start().
 *
 * Returns: (transfer full): a new gateway
 */
HelixGateway *
helix_gateway_new (const HelixGatewayConfig *config)
{
  return g_object_new (HELIX_TYPE_GATEWAY,
                       "config", config,
                       NULL);
}

/**
 * helix_gateway_get_config:
 * @self: a gateway
 *
 * Returns: (transfer none): the configuration
 */
const HelixGatewayConfig *
helix_gateway_get_config (HelixGateway *self)
{
  g_return_val_if_fail (HELIX_IS_GATEWAY (self), NULL);

  return self->config;
}

/**
 * helix_gateway_get_db:
 * @self: a gateway
 *
 * Returns: (transfer none) (nullable): the database, while the gateway is started
 */
HelixGatewayDb *
helix_gateway_get_db (HelixGateway *self)
{
  g_return_val_if_fail (HELIX_IS_GATEWAY (self), NULL);

  return self->db;
}

HelixHlcClock *
_helix_gateway_get_clock (HelixGateway *self)
{
  g_assert (HELIX_IS_GATEWAY (self));

  return self->clock;
}

/**
 * _helix_gateway_get_searcher:
 * @self: a started gateway
 *
 * Returns: (transfer none): the connection searches run on, made now if
 *   there is none yet
 */
HelixGatewaySearcher *
_helix_gateway_get_searcher (HelixGateway *self)
{
  g_assert (HELIX_IS_GATEWAY (self));
  g_assert (self->db != NULL);

  if (self->searcher == NULL)
    self->searcher = _helix_gateway_searcher_new (helix_gateway_db_get_path (self->db));

  return self->searcher;
}

HelixGatewayListCache *
_helix_gateway_get_list_cache (HelixGateway *self)
{
  g_assert (HELIX_IS_GATEWAY (self));

  return self->list_cache;
}

HelixGatewayHub *
_helix_gateway_get_hub (HelixGateway *self)
{
  g_assert (HELIX_IS_GATEWAY (self));

  return self->hub;
}

/* A WebSocket upgrade is answered (101) and the connection now belongs to
 * the hub: libsoup emits neither request-finished nor request-aborted for
 * it, so it is finished here, or a shutdown would wait for it forever. */
void
_helix_gateway_request_upgraded (HelixGateway      *self,
                                 SoupServerMessage *msg)
{
  g_assert (HELIX_IS_GATEWAY (self));

  finish_request (self, msg, FALSE);
}

void
_helix_gateway_set_keepalive_timeout (HelixGateway *self,
                                      guint         idle_timeout_ms)
{
  g_assert (HELIX_IS_GATEWAY (self));
  g_assert (self->server == NULL);
  g_assert (idle_timeout_ms > 0);

  self->keepalive_timeout_ms = idle_timeout_ms;
}

guint
_helix_gateway_get_n_idle_connections (HelixGateway *self)
{
  g_assert (HELIX_IS_GATEWAY (self));

  return (self->keepalive != NULL ? _helix_gateway_keepalive_get_n_idle (self->keepalive) : 0) +
         (self->native != NULL ? _helix_gateway_native_get_n_idle (self->native) : 0);
}

/* Tests: whether plain HTTP connections begin on the native path (the
 * default) or go to libsoup at once; set before helix_gateway_start(). */
void
_helix_gateway_set_native_http (HelixGateway *self,
                                gboolean      enabled)
{
  g_assert (HELIX_IS_GATEWAY (self));
  g_assert (self->server == NULL);

  self->native_disabled = !enabled;
}

/* Tests: connections on the native path now. */
guint
_helix_gateway_get_n_native_connections (HelixGateway *self)
{
  g_assert (HELIX_IS_GATEWAY (self));

  return self->native != NULL ? _helix_gateway_native_get_n_idle (self->native) +
                                _helix_gateway_native_get_n_writing (self->native) : 0;
}

/* Tests: native connections whose request waits for the rest of its body. */
guint
_helix_gateway_get_n_native_waiting (HelixGateway *self)
{
  g_assert (HELIX_IS_GATEWAY (self));

  return self->native != NULL ? _helix_gateway_native_get_n_waiting (self->native) : 0;
}

/* Tests: requests answered on the native path since the gateway started. */
guint64
_helix_gateway_get_n_native_requests (HelixGateway *self)
{
  g_assert (HELIX_IS_GATEWAY (self));

  return self->native != NULL ? _helix_gateway_native_get_n_answered (self->native) : 0;
}

gboolean
_helix_gateway_is_stopping (HelixGateway *self)
{
  g_assert (HELIX_IS_GATEWAY (self));

  return self->stopping;
}

/**
 * _helix_gateway_serve_with_libsoup:
 * @self: the gateway
 * @connection: a plain HTTP connection, with nothing of the next request read
 * @local: its local address
 * @remote: its remote address
 *
 * Hands @connection to the gateway's #SoupServer, for good.
 */
void
_helix_gateway_serve_with_libsoup (HelixGateway      *self,
                                   GSocketConnection *connection,
                                   GSocketAddress    *local,
                                   GSocketAddress    *remote)
{
  g_autoptr(GError) error = NULL;

  g_assert (HELIX_IS_GATEWAY (self));

  if (self->server == NULL)
    {
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return;
    }

  if (!soup_server_accept_iostream (self->server, G_IO_STREAM (connection), local, remote, &error))
    g_warning ("Could not take a connection: %s", error->message);
}

/* (nullable): the AI router, while started with providers */
HelixGatewayAi *
_helix_gateway_get_ai (HelixGateway *self)
{
  g_assert (HELIX_IS_GATEWAY (self));

  return self->ai;
}

HelixGatewayLogins *
_helix_gateway_get_logins (HelixGateway *self)
{
  g_assert (HELIX_IS_GATEWAY (self));

  return &self->logins;
}

/**
 * helix_gateway_get_uri:
 * @self: a gateway
 *
 * Returns: (nullable): the base URI, such as `http://127.0.0.1:8080`, once listening
 */
const char *
helix_gateway_get_uri (HelixGateway *self)
{
  g_return_val_if_fail (HELIX_IS_GATEWAY (self), NULL);

  return self->uri;
}

/**
 * helix_gateway_get_n_requests_in_flight:
 * @self: a gateway
 *
 * Returns: the number of requests whose headers have arrived and whose
 *   response is not yet sent
 */
guint
helix_gateway_get_n_requests_in_flight (HelixGateway *self)
{
  g_return_val_if_fail (HELIX_IS_GATEWAY (self), 0);

  return count_busy (self);
}

gint64
_helix_gateway_get_uptime_seconds (HelixGateway *self)
{
  g_assert (HELIX_IS_GATEWAY (self));

  return (g_get_monotonic_time () - self->started_us) / G_USEC_PER_SEC;
}

/**
 * _helix_gateway_get_client_address:
 * @self: a gateway
 * @msg: a request
 *
 * The address of the client a limit per address counts: the connection's,
 * or the one a trusted proxy forwards for
 * (helix_gateway_config_dup_client_address()). Formatted only when a limit
 * needs it.
 *
 * Returns: (transfer none): the address, as text; valid while @msg is
 */
const char *
_helix_gateway_get_client_address (HelixGateway      *self,
                                   SoupServerMessage *msg)
{
  HelixRequest *request = get_request (msg);
  const char *peer = soup_server_message_get_remote_host (msg);
  char *forwarded;

  if (request != NULL && request->client_address != NULL)
    return request->client_address;
  if (peer == NULL)
    return "unknown";

  forwarded = helix_gateway_config_dup_client_address (
    self->config, peer,
    soup_message_headers_get_list (soup_server_message_get_request_headers (msg), "X-Forwarded-For"));
  if (forwarded == NULL || request == NULL)
    {
      g_free (forwarded);
      return peer;
    }

  request->client_address = forwarded;
  return forwarded;
}

/* Answers @msg with 503 if it arrived during a shutdown. Returns whether
 * the handler should go on. */
gboolean
_helix_gateway_admit (HelixGateway      *self,
                      SoupServerMessage *msg)
{
  HelixRequest *request = get_request (msg);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  GUri *uri = soup_server_message_get_uri (msg);
  const char *path = uri != NULL ? g_uri_get_path (uri) : "";
  gboolean openai = _helix_gateway_path_is_openai (path);
  gboolean api = g_str_has_prefix (path, "/api/") || openai;
  gint64 retry_after_us;

  g_assert (HELIX_IS_GATEWAY (self));

  if (self->stopping && (request == NULL || !request->admitted))
    {
      soup_message_headers_replace (headers, "Retry-After", "5");
      _helix_gateway_respond_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "shutting_down",
                                    _("The gateway is shutting down. Try again in a moment."));
      return FALSE;
    }

  if (!api)
    return TRUE;

  if (!_helix_gateway_apply_cors (self, msg))
    return FALSE;

  if (self->address_limits != NULL &&
      !helix_token_buckets_take (self->address_limits,
                                 _helix_gateway_get_client_address (self, msg),
                                 g_get_monotonic_time (), &retry_after_us))
    {
      _helix_gateway_respond_rate_limited (msg, retry_after_us);
      return FALSE;
    }

  /* Logging in and out stays possible: reading needs a token. AI calls
   * change nothing that syncs: they go on too. Administrators must be able
   * to change flags and to end maintenance. */
  if (_helix_gateway_in_maintenance (self) && !openai &&
      _helix_gateway_method_is_write (soup_server_message_get_method (msg)) &&
      !g_str_has_prefix (path, "/api/v1/auth/") && !g_str_has_prefix (path, "/api/v1/admin/") &&
      !g_str_has_prefix (path, "/api/v1/audit/"))
    {
      soup_message_headers_replace (headers, "Retry-After",
                                    G_STRINGIFY (HELIX_GATEWAY_MAINTENANCE_RETRY_AFTER_S));
      _helix_gateway_respond_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "maintenance",
                                    _("The gateway is in maintenance and takes no changes "
                                      "now; reading still works. Try again later."));
      return FALSE;
    }

  return TRUE;
}

/**
 * _helix_gateway_limit_user:
 * @self: the gateway
 * @msg: an authenticated API request
 * @user_name: whose request it is
 *
 * Charges the request to @user_name's rate limit; if over it, answers 429.
 *
 * Returns: whether the request may go on
 */
gboolean
_helix_gateway_limit_user (HelixGateway      *self,
                           SoupServerMessage *msg,
                           const char        *user_name)
{
  g_autofree char *key = NULL;
  gint64 retry_after_us;

  g_assert (HELIX_IS_GATEWAY (self));

  if (self->user_limits == NULL)
    return TRUE;

  key = g_strconcat ("user:", user_name, NULL);
  if (helix_token_buckets_take (self->user_limits, key, g_get_monotonic_time (),
                                &retry_after_us))
    return TRUE;

  _helix_gateway_respond_rate_limited (msg, retry_after_us);

  return FALSE;
}

/**
 * _helix_gateway_charge_limits:
 * @self: the gateway
 * @address: the client's address, as _helix_gateway_get_client_address() gives it
 * @user_name: (nullable): whose request it is, if authenticated
 *
 * For the native path: charges a request to the limits of @address and of
 * @user_name, if both have room; charges neither otherwise (the request
 * then goes to libsoup, whose routes charge and refuse it).
 *
 * Returns: whether the request was charged
 */
gboolean
_helix_gateway_charge_limits (HelixGateway *self,
                              const char   *address,
                              const char   *user_name)
{
  g_autofree char *user_key = NULL;
  gint64 now_us = g_get_monotonic_time ();
  gint64 retry_after_us;

  g_assert (HELIX_IS_GATEWAY (self));

  if (self->user_limits != NULL && user_name != NULL)
    user_key = g_strconcat ("user:", user_name, NULL);

  if ((self->address_limits != NULL &&
       !helix_token_buckets_would_take (self->address_limits, address, now_us)) ||
      (user_key != NULL && !helix_token_buckets_would_take (self->user_limits, user_key, now_us)))
    return FALSE;

  if (self->address_limits != NULL)
    helix_token_buckets_take (self->address_limits, address, now_us, &retry_after_us);
  if (user_key != NULL)
    helix_token_buckets_take (self->user_limits, user_key, now_us, &retry_after_us);

  return TRUE;
}

/* Answers 429 with a Retry-After in whole seconds, at least one. */
void
_helix_gateway_respond_rate_limited (SoupServerMessage *msg,
                                     gint64             retry_after_us)
{
  char seconds[32];

  g_snprintf (seconds, sizeof seconds, "%" G_GINT64_FORMAT,
              MAX (1, (retry_after_us + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC));
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Retry-After", seconds);
  _helix_gateway_respond_error (msg, 429, "rate_limited",
                                _("Too many requests. Wait as long as the Retry-After header "
                                  "says, then try again."));
}

gboolean
_helix_gateway_method_is_write (const char *method)
{
  return g_strcmp0 (method, "POST") == 0 || g_strcmp0 (method, "PATCH") == 0 ||
         g_strcmp0 (method, "DELETE") == 0 || g_strcmp0 (method, "PUT") == 0;
}

gboolean
_helix_gateway_in_maintenance (HelixGateway *self)
{
  g_assert (HELIX_IS_GATEWAY (self));

  if (self->maintenance_set)
    return self->maintenance;

  return helix_gateway_config_get_maintenance (self->config);
}

/* Whether maintenance was last switched at run time (else: the configuration). */
gboolean
_helix_gateway_maintenance_is_runtime (HelixGateway *self)
{
  g_assert (HELIX_IS_GATEWAY (self));

  return self->maintenance_set;
}

/* Reads {"maintenance":{"enabled":bool,"changed_us":int,"by":"NAME"}}. */
static gboolean
load_runtime (HelixGateway    *self,
              HelixStateFile  *runtime,
              GError         **error)
{
  JsonObject *root = helix_state_file_get_root (runtime);
  JsonNode *node = json_object_get_member (root, "maintenance");
  JsonObject *object;
  JsonNode *enabled;

  if (node == NULL)
    return TRUE;

  object = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  enabled = object != NULL ? json_object_get_member (object, "enabled") : NULL;
  if (enabled == NULL || !JSON_NODE_HOLDS_VALUE (enabled) ||
      json_node_get_value_type (enabled) != G_TYPE_BOOLEAN)
    {
      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_STATE_DIR,
                   _("%s: “maintenance” needs the boolean “enabled”; correct or remove it"),
                   helix_state_file_get_path (runtime));
      return FALSE;
    }

  self->maintenance_set = TRUE;
  self->maintenance = json_node_get_boolean (enabled);

  return TRUE;
}

static void
maintenance_stored_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HelixGateway *self = g_task_get_source_object (task);
  GError *error = NULL;

  if (!helix_state_file_set_member_finish (HELIX_STATE_FILE (source), result, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  self->maintenance_set = TRUE;
  self->maintenance = GPOINTER_TO_INT (g_task_get_task_data (task));
  g_info ("maintenance mode is now %s", self->maintenance ? "on" : "off");
  g_task_return_boolean (task, TRUE);
}

/**
 * _helix_gateway_set_maintenance_async:
 * @self: a started gateway
 * @maintenance: whether to refuse writes
 * @by: the administrator who switched it
 * @callback: called once the switch is on disk (and in effect), or failed
 * @user_data: data for @callback
 *
 * Switches maintenance mode at run time. The switch is written to
 * `runtime.json` in the state directory (in a worker thread) before it takes
 * effect, and wins over the configuration after a restart too.
 */
void
_helix_gateway_set_maintenance_async (HelixGateway        *self,
                                      gboolean             maintenance,
                                      const char          *by,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) node = NULL;

  g_assert (HELIX_IS_GATEWAY (self));

  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, _helix_gateway_set_maintenance_async);
  g_task_set_task_data (task, GINT_TO_POINTER (!!maintenance), NULL);

  if (self->runtime == NULL)
    {
      g_task_return_new_error (task, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_FAILED,
                               _("The gateway is not started"));
      return;
    }

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "enabled");
  json_builder_add_boolean_value (builder, maintenance);
  json_builder_set_member_name (builder, "changed_us");
  json_builder_add_int_value (builder, g_get_real_time ());
  json_builder_set_member_name (builder, "by");
  json_builder_add_string_value (builder, by);
  json_builder_end_object (builder);
  node = json_builder_get_root (builder);

  helix_state_file_set_member_async (self->runtime, "maintenance", node, NULL,
                                     maintenance_stored_cb, g_steal_pointer (&task));
}

gboolean
_helix_gateway_set_maintenance_finish (HelixGateway  *self,
                                       GAsyncResult  *result,
                                       GError       **error)
{
  g_assert (HELIX_IS_GATEWAY (self));
  g_assert (g_task_is_valid (result, self));

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* (nullable): the audit trail, while started */
HelixAudit *
_helix_gateway_get_audit (HelixGateway *self)
{
  g_assert (HELIX_IS_GATEWAY (self));

  return self->audit;
}

/**
 * helix_gateway_get_flags:
 * @self: a gateway
 *
 * Returns: (transfer none) (nullable): the feature flags, while the gateway is started
 */
HelixFlags *
helix_gateway_get_flags (HelixGateway *self)
{
  g_return_val_if_fail (HELIX_IS_GATEWAY (self), NULL);

  return self->flags;
}

static void
on_flag_changed (HelixFlags   *flags,
                 const char   *name,
                 HelixGateway *self)
{
  HelixFlagState state;

  if (helix_flags_get_state (flags, name, &state))
    g_info ("flag %s: %s, %u%%%s", name, state.enabled ? "enabled" : "disabled", state.percent,
            state.kill != HELIX_FLAG_KILL_NONE ? " (killed)" : "");
}

static gboolean
tls_handshake_timeout_cb (gpointer data)
{
  TlsHandshake *hs = data;

  hs->timeout_id = 0;
  g_debug ("A client did not complete the TLS handshake within %u s",
           HELIX_GATEWAY_TLS_HANDSHAKE_TIMEOUT_S);
  g_cancellable_cancel (hs->cancellable);

  return G_SOURCE_REMOVE;
}

static void
tls_handshake_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  TlsHandshake *hs = user_data;
  HelixGateway *self = hs->gateway;
  g_autoptr(GError) error = NULL;

  g_clear_handle_id (&hs->timeout_id, g_source_remove);

  if (!g_tls_connection_handshake_finish (G_TLS_CONNECTION (source), result, &error))
    {
      /* A plain HTTP request, a client that does not trust the certificate,
       * one that sent nothing in time: the client's business, not a fault. */
      g_debug ("TLS handshake failed: %s", error->message);
      if (self != NULL)
        g_ptr_array_remove_fast (self->handshakes, hs);
      g_io_stream_close_async (hs->tls, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
      tls_handshake_free (hs);
      return;
    }

  if (self == NULL || self->server == NULL || self->stopping)
    {
      if (self != NULL)
        g_ptr_array_remove_fast (self->handshakes, hs);
      g_io_stream_close_async (hs->tls, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
      tls_handshake_free (hs);
      return;
    }

  g_ptr_array_remove_fast (self->handshakes, hs);
  if (!soup_server_accept_iostream (self->server, hs->tls, hs->local, hs->remote, &error))
    g_warning ("Could not take a connection: %s", error->message);
  tls_handshake_free (hs);
}

/* Wraps @connection in TLS; the handshake runs asynchronously, and the
 * connection goes to the server once it completes in time. */
static void
start_tls_handshake (HelixGateway      *self,
                     GSocketConnection *connection,
                     GSocketAddress    *local,
                     GSocketAddress    *remote)
{
  g_autoptr(GError) error = NULL;
  GIOStream *tls;
  TlsHandshake *hs;

  if (self->handshakes->len >= HELIX_GATEWAY_TLS_HANDSHAKES_MAX)
    {
      g_debug ("Dropping a connection: %u TLS handshakes in progress", self->handshakes->len);
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return;
    }

  tls = g_tls_server_connection_new (G_IO_STREAM (connection), self->tls_certificate, &error);
  if (tls == NULL)
    {
      g_warning ("Could not start TLS on a connection: %s", error->message);
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return;
    }

  g_object_set (tls,
                "authentication-mode", G_TLS_AUTHENTICATION_NONE,
                /* HTTP delimits its own messages: a client may close
                 * without a TLS close_notify. */
                "require-close-notify", FALSE,
                NULL);

  hs = g_new0 (TlsHandshake, 1);
  hs->gateway = self;
  hs->tls = tls;
  hs->local = g_object_ref (local);
  hs->remote = g_object_ref (remote);
  hs->cancellable = g_cancellable_new ();
  hs->timeout_id = g_timeout_add_seconds (HELIX_GATEWAY_TLS_HANDSHAKE_TIMEOUT_S,
                                          tls_handshake_timeout_cb, hs);
  g_ptr_array_add (self->handshakes, hs);

  g_tls_connection_handshake_async (G_TLS_CONNECTION (tls), G_PRIORITY_DEFAULT, hs->cancellable,
                                    tls_handshake_cb, hs);
}

static gboolean
on_incoming (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             HelixGateway      *self)
{
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GSocketAddress) remote = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *peer = NULL;

  local = g_socket_connection_get_local_address (connection, &error);
  if (local != NULL)
    remote = g_socket_connection_get_remote_address (connection, &error);
  if (remote == NULL)
    {
      /* The client went away before we got to it. */
      g_debug ("Dropping a connection: %s", error->message);
      return TRUE;
    }

  peer = g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (remote));
  HELIX_HOT_DEBUG ("connection from %s", peer);

  g_socket_set_option (g_socket_connection_get_socket (connection),
                       IPPROTO_TCP, TCP_NODELAY, TRUE, NULL);

  /* libsoup knows no GSocket of a stream it was given; the routes that
   * watch for a client hanging up find it here (_helix_gateway_message_get_socket()).
   * libsoup keeps @remote as long as the connection. */
  g_object_set_qdata_full (G_OBJECT (remote), helix_socket_quark (),
                           g_object_ref (g_socket_connection_get_socket (connection)),
                           g_object_unref);

  if (self->tls_certificate != NULL)
    {
      start_tls_handshake (self, connection, local, remote);
      return TRUE;
    }

  if (self->native != NULL)
    _helix_gateway_native_take (self->native, connection, local, remote);
  else
    _helix_gateway_serve_with_libsoup (self, connection, local, remote);

  return TRUE;
}

static GSocket *
listening_socket_new (GSocketAddress  *address,
                      GError         **error)
{
  g_autoptr(GSocket) listen_socket = NULL;

  listen_socket = g_socket_new (g_socket_address_get_family (address), G_SOCKET_TYPE_STREAM,
                                G_SOCKET_PROTOCOL_TCP, error);
  if (listen_socket == NULL)
    return NULL;

  /* GLib's default backlog (10) is small for a server. */
  g_socket_set_listen_backlog (listen_socket, SOMAXCONN);

  if (!g_socket_bind (listen_socket, address, TRUE, error) ||
      !g_socket_listen (listen_socket, error))
    return NULL;

  return g_steal_pointer (&listen_socket);
}

/* The base URI, with the port the socket really got (for port 0). */
static char *
dup_socket_uri (GSocket     *listen_socket,
                const char  *scheme,
                GError     **error)
{
  g_autoptr(GSocketAddress) address = NULL;
  g_autofree char *host = NULL;
  GInetSocketAddress *inet;
  GInetAddress *inet_address;

  address = g_socket_get_local_address (listen_socket, error);
  if (address == NULL)
    return NULL;

  inet = G_INET_SOCKET_ADDRESS (address);
  inet_address = g_inet_socket_address_get_address (inet);
  host = g_inet_address_to_string (inet_address);

  if (g_inet_address_get_family (inet_address) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("%s://[%s]:%u", scheme, host, g_inet_socket_address_get_port (inet));

  return g_strdup_printf ("%s://%s:%u", scheme, host, g_inet_socket_address_get_port (inet));
}

/**
 * helix_gateway_start:
 * @self: a gateway
 * @error: return location for a #GError
 *
 * Checks and loads the TLS certificate and key if configured, creates the
 * state directory (mode 0700) if needed, opens the audit trail (making its
 * key on the first start), reads the flags and the maintenance switch
 * changed at run time, opens the database and starts listening, then logs
 * `listening on http://ADDR:PORT` (`https://` with TLS) at info level with
 * the port it really got. A damaged state file or an audit trail that
 * cannot be opened stops the start-up (%HELIX_GATEWAY_ERROR_STATE_DIR,
 * %HELIX_GATEWAY_ERROR_AUDIT).
 *
 * This blocks while the files open (and the database migrates): it is
 * meant to run once at start-up, before the main loop serves anything.
 *
 * Returns: %TRUE if the gateway is listening
 */
gboolean
helix_gateway_start (HelixGateway  *self,
                     GError       **error)
{
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(SoupServer) server = NULL;
  g_autoptr(HelixGatewayDb) db = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GSocketService) listener = NULL;
  g_autoptr(GSocket) listen_socket = NULL;
  g_autoptr(GTlsCertificate) tls_certificate = NULL;
  g_autofree char *db_path = NULL;
  g_autofree char *uri = NULL;
  g_autoptr(GError) ai_error = NULL;
  g_autoptr(HelixFlags) flags = NULL;
  g_autoptr(HelixStateFile) runtime = NULL;
  g_autoptr(HelixAudit) audit = NULL;
  g_autofree char *flags_path = NULL;
  g_autofree char *runtime_path = NULL;
  HelixGatewayAi *ai = NULL;
  const char *state_dir;

  g_return_val_if_fail (HELIX_IS_GATEWAY (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_return_val_if_fail (self->server == NULL, FALSE);
  g_return_val_if_fail (!self->stopping, FALSE);

  /* Before anything is created: a TLS mistake must not leave a half-started gateway. */
  if (!helix_gateway_config_load_tls (self->config, &tls_certificate, &local_error))
    {
      g_set_error_literal (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_TLS,
                           local_error->message);
      return FALSE;
    }

  state_dir = helix_gateway_config_get_state_dir (self->config);
  if (g_mkdir_with_parents (state_dir, 0700) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_STATE_DIR,
                   _("Could not create the state directory “%s”: %s. Check that the "
                     "gateway’s user may write there, or choose another directory with "
                     "--state-dir."),
                   state_dir, g_strerror (saved_errno));
      return FALSE;
    }

  if (!helix_password_init (error))
    return FALSE;

  /* Before anything that acts: privileged actions are recorded first. */
  audit = _helix_gateway_audit_open (self->config, TRUE, error);
  if (audit == NULL)
    return FALSE;

  /* What an administrator changed at run time: the flags, maintenance. */
  flags = helix_gateway_config_dup_flags (self->config);
  flags_path = g_build_filename (state_dir, FLAGS_FILE, NULL);
  if (!helix_flags_load (flags, flags_path, &local_error))
    {
      g_set_error_literal (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_STATE_DIR,
                           local_error->message);
      return FALSE;
    }

  runtime_path = g_build_filename (state_dir, RUNTIME_FILE, NULL);
  runtime = helix_state_file_open (runtime_path, &local_error);
  if (runtime == NULL)
    {
      g_set_error_literal (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_STATE_DIR,
                           local_error->message);
      return FALSE;
    }
  if (!load_runtime (self, runtime, error))
    return FALSE;

  /* Keys, prices and the ledger: a mistake there stops the start-up too. */
  ai = _helix_gateway_ai_new (self->config, &ai_error);
  if (ai_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&ai_error));
      return FALSE;
    }

  helix_password_prepare ();

  db_path = helix_gateway_config_dup_database_path (self->config);
  db = helix_gateway_db_open (db_path, &local_error);
  if (db == NULL)
    {
      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_DATABASE,
                   _("Could not open the database “%s”: %s"), db_path, local_error->message);
      _helix_gateway_ai_free (ai);
      return FALSE;
    }

  server = soup_server_new ("server-header", "helix/" PACKAGE_VERSION, NULL);
  g_signal_connect_object (server, "request-started", G_CALLBACK (on_request_started), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (server, "request-finished", G_CALLBACK (on_request_finished), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (server, "request-aborted", G_CALLBACK (on_request_aborted), self,
                           G_CONNECT_SWAPPED);
  _helix_gateway_add_routes (self, server);

  address = helix_gateway_config_dup_listen_address (self->config);
  listen_socket = listening_socket_new (address, &local_error);
  if (listen_socket != NULL)
    uri = dup_socket_uri (listen_socket, tls_certificate != NULL ? "https" : "http",
                          &local_error);
  if (uri == NULL)
    {
      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_LISTEN,
                   _("Could not listen on %s: %s. If another program uses this address, "
                     "stop it or choose another address with --listen."),
                   helix_gateway_config_get_listen (self->config), local_error->message);
      g_signal_handlers_disconnect_by_data (server, self);
      helix_gateway_db_close (db);
      _helix_gateway_ai_free (ai);
      return FALSE;
    }

  listener = g_socket_service_new ();
  if (!g_socket_listener_add_socket (G_SOCKET_LISTENER (listener), listen_socket, NULL, &local_error))
    {
      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_LISTEN,
                   _("Could not listen on %s: %s"),
                   helix_gateway_config_get_listen (self->config), local_error->message);
      g_signal_handlers_disconnect_by_data (server, self);
      helix_gateway_db_close (db);
      _helix_gateway_ai_free (ai);
      return FALSE;
    }
  g_signal_connect_object (listener, "incoming", G_CALLBACK (on_incoming), self, 0);

  if (tls_certificate == NULL)
    {
      g_autoptr(GError) keepalive_error = NULL;

      self->keepalive = _helix_gateway_keepalive_new (server, self->keepalive_timeout_ms,
                                                      &keepalive_error);
      if (self->keepalive == NULL)
        g_warning ("HTTP keep-alive is off: %s", keepalive_error->message);
      else if (!self->native_disabled)
        self->native = _helix_gateway_native_new (self, self->keepalive_timeout_ms);
    }

  self->uri = g_steal_pointer (&uri);
  self->ai = ai;
  self->flags = g_steal_pointer (&flags);
  self->runtime = g_steal_pointer (&runtime);
  self->audit = g_steal_pointer (&audit);
  /* Breakers opening and closing (assistant-state, alerts), budget alerts (alerts). */
  if (ai != NULL)
    helix_audit_watch_router (self->audit, _helix_gateway_ai_get_router (ai),
                              _helix_gateway_ai_get_budget (ai));
  self->config_monitor =
    _helix_gateway_audit_watch_config (self->audit, helix_gateway_config_get_path (self->config));
  {
    g_autofree char *payload = _helix_gateway_audit_payload ("version", PACKAGE_VERSION,
                                                             "listen", self->uri, NULL);

    helix_audit_record (self->audit, HELIX_AUDIT_CHANNEL_API, "system", "gateway.start",
                        payload);
  }
  g_signal_connect_object (self->flags, "changed", G_CALLBACK (on_flag_changed), self, 0);
  self->tls_certificate = g_steal_pointer (&tls_certificate);
  self->listener = g_steal_pointer (&listener);
  self->started_us = g_get_monotonic_time ();
  self->db = g_steal_pointer (&db);
  _helix_gateway_list_cache_clear (self->list_cache);
  helix_gateway_db_defer_checkpoints (self->db);
  self->server = g_steal_pointer (&server);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DB]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_URI]);

  g_info ("database %s (schema version %u)", db_path,
          helix_gateway_db_get_schema_version (self->db));
  g_info ("listening on %s", self->uri);

  return TRUE;
}

/**
 * helix_gateway_shutdown_async:
 * @self: a gateway
 * @cancellable: (nullable): cancel to stop waiting for requests in flight
 * @callback: called when the gateway has stopped
 * @user_data: data for @callback
 *
 * Stops the gateway gracefully: it stops accepting connections at once,
 * answers requests that arrive on open connections with 503, waits until
 * the requests in flight are answered (at most
 * %HELIX_GATEWAY_DRAIN_TIMEOUT_SECONDS), then closes all connections and
 * the database.
 *
 * Cancelling @cancellable stops waiting and closes everything at once.
 */
void
helix_gateway_shutdown_async (HelixGateway        *self,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  guint busy;

  g_return_if_fail (HELIX_IS_GATEWAY (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_gateway_shutdown_async);
  /* Cancelling means "stop waiting", not "fail": the result says what the
   * shutdown cut off. */
  g_task_set_check_cancellable (task, FALSE);

  if (self->shutdown != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                               _("The gateway is already shutting down"));
      return;
    }

  self->stopping = TRUE;

  if (self->server == NULL)
    {
      stop_serving (self);
      g_task_return_boolean (task, TRUE);
      return;
    }

  self->shutdown = g_steal_pointer (&task);
  set_headers_in_flight (self);
  stop_listening (self);
  if (self->keepalive != NULL)
    _helix_gateway_keepalive_close_idle (self->keepalive);
  if (self->native != NULL)
    _helix_gateway_native_close_idle (self->native);
  /* Sync connections are not requests in flight: they are told to go (1001)
   * at once and reconnect elsewhere or later. */
  _helix_gateway_hub_close_all (self->hub, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                                "the gateway is shutting down");

  busy = count_busy (self);
  if (busy > 0)
    g_info (g_dngettext (GETTEXT_PACKAGE,
                         "shutting down: waiting for %u request in flight (at most %u s)",
                         "shutting down: waiting for %u requests in flight (at most %u s)",
                         busy),
            busy, HELIX_GATEWAY_DRAIN_TIMEOUT_SECONDS);
  else
    g_info ("shutting down: no requests in flight");

  self->drain_timeout_id = g_timeout_add (HELIX_GATEWAY_DRAIN_TIMEOUT_SECONDS * 1000,
                                          drain_timeout_cb, self);
  if (cancellable != NULL)
    self->cancelled_id = g_cancellable_connect (cancellable,
                                                G_CALLBACK (on_shutdown_cancelled),
                                                self, NULL);
  schedule_drain_check (self);
}

/**
 * helix_gateway_shutdown_finish:
 * @self: a gateway
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Returns: %TRUE if every request in flight was answered before the
 *   gateway stopped; %FALSE if some were cut off
 *   (%HELIX_GATEWAY_ERROR_DRAIN_TIMEOUT, %HELIX_GATEWAY_ERROR_CANCELLED).
 *   Either way the gateway has stopped.
 */
gboolean
helix_gateway_shutdown_finish (HelixGateway  *self,
                               GAsyncResult  *result,
                               GError       **error)
{
  g_return_val_if_fail (HELIX_IS_GATEWAY (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == helix_gateway_shutdown_async,
                        FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
