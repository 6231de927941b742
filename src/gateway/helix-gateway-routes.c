/* helix-gateway-routes.c: the gateway's HTTP routes
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "helix-gateway-metrics.h"
#include "helix-gateway-private.h"
#include "helix-json.h"

/**
 * _helix_gateway_accepts_gzip:
 * @value: (nullable): the request's Accept-Encoding header
 *
 * Returns: whether the client takes gzip: "gzip" in @value, and not with q=0
 */
gboolean
_helix_gateway_accepts_gzip (const char *value)
{
  GSList *codings;
  gboolean found = FALSE;

  if (value == NULL)
    return FALSE;

  /* Codings with q=0 are left out of the list. */
  codings = soup_header_parse_quality_list (value, NULL);
  for (GSList *l = codings; l != NULL && !found; l = l->next)
    found = g_ascii_strcasecmp (l->data, "gzip") == 0;
  soup_header_free_list (codings);

  return found;
}

/**
 * _helix_gateway_gzip_bytes:
 * @data: a response body
 * @size: its length
 *
 * Returns: (transfer full) (nullable): @data compressed with gzip, or %NULL
 *   (with a warning) if that failed
 */
GBytes *
_helix_gateway_gzip_bytes (const char *data,
                           gsize       size)
{
  g_autoptr(GZlibCompressor) compressor = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, -1);
  g_autoptr(GOutputStream) memory = g_memory_output_stream_new_resizable ();
  g_autoptr(GOutputStream) gzip = NULL;
  g_autoptr(GError) error = NULL;

  gzip = g_converter_output_stream_new (memory, G_CONVERTER (compressor));
  if (!g_output_stream_write_all (gzip, data, size, NULL, NULL, &error) ||
      !g_output_stream_close (gzip, NULL, &error))
    {
      g_warning ("Could not compress a response: %s", error->message);
      return NULL;
    }

  return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (memory));
}

/* Answers with the JSON @body (taken), gzipped if large and accepted. */
static void
respond_json_body (SoupServerMessage *msg,
                   guint              status,
                   char              *body,
                   gsize              length)
{
  SoupMessageHeaders *headers;
  g_autoptr(GBytes) compressed = NULL;

  g_assert (SOUP_IS_SERVER_MESSAGE (msg));

  headers = soup_server_message_get_response_headers (msg);

  /* libsoup 3.2 knows no phrase for 429 (RFC 6585). */
  soup_server_message_set_status (msg, status, status == 429 ? "Too Many Requests" : NULL);

  /* Small bodies gain nothing from compression. Whether a large one is
   * compressed depends on Accept-Encoding: caches must know. */
  if (length > HELIX_GATEWAY_GZIP_MIN_BYTES)
    {
      SoupMessageHeaders *request_headers = soup_server_message_get_request_headers (msg);

      soup_message_headers_append (headers, "Vary", "Accept-Encoding");
      if (_helix_gateway_accepts_gzip (soup_message_headers_get_list (request_headers,
                                                                      "Accept-Encoding")))
        compressed = _helix_gateway_gzip_bytes (body, length);
    }

  if (compressed != NULL)
    {
      g_free (body);
      soup_message_headers_replace (headers, "Content-Encoding", "gzip");
      soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY,
                                        g_bytes_get_data (compressed, NULL),
                                        g_bytes_get_size (compressed));
    }
  else
    soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, body, length);
}

void
_helix_gateway_respond_json (SoupServerMessage *msg,
                             guint              status,
                             JsonNode          *root)
{
  char *body;

  g_assert (root != NULL);

  body = json_to_string (root, FALSE);
  respond_json_body (msg, status, body, strlen (body));
}

/**
 * _helix_gateway_respond_json_text:
 * @msg: a request
 * @status: the status of the answer
 * @text: (transfer full): a JSON document, as built with
 *   _helix_gateway_json_append_string() and friends
 *
 * Like _helix_gateway_respond_json(), for the answers of hot routes, which
 * are written directly rather than built as a #JsonNode first.
 */
void
_helix_gateway_respond_json_text (SoupServerMessage *msg,
                                  guint              status,
                                  GString           *text)
{
  gsize length = text->len;

  respond_json_body (msg, status, g_string_free (text, FALSE), length);
}

/**
 * _helix_gateway_json_append_string:
 * @out: a JSON text being written
 * @value: (nullable): valid UTF-8
 *
 * Appends @value as a JSON string (helix_json_append_string()), or `null`.
 */
void
_helix_gateway_json_append_string (GString    *out,
                                   const char *value)
{
  if (value == NULL)
    helix_json_append_literal (out, "null");
  else
    helix_json_append_string (out, value);
}

/* "00" to "99": two digits at a time, half the divisions. */
static const char digit_pairs[201] =
  "0001020304050607080910111213141516171819"
  "2021222324252627282930313233343536373839"
  "4041424344454647484950515253545556575859"
  "6061626364656667686970717273747576777879"
  "8081828384858687888990919293949596979899";

/* Writes @value (0–99) as two digits at @out. */
static inline void
put_2_digits (char  *out,
              guint  value)
{
  memcpy (out, digit_pairs + 2 * value, 2);
}

/**
 * _helix_gateway_json_append_time:
 * @out: a JSON text being written
 * @time_us: microseconds since the Unix epoch
 *
 * Appends the time, to the second, as an ISO 8601 string in UTC
 * (`"2026-11-22T10:00:00Z"`, what _helix_gateway_add_time_member() writes),
 * or `null` outside the years 1–9999.
 */
void
_helix_gateway_json_append_time (GString *out,
                                 gint64   time_us)
{
  /* Seconds from 0001-01-01 to 1970-01-01, and to 10000-01-01. */
  const gint64 min_s = G_GINT64_CONSTANT (-62135596800);
  const gint64 max_s = G_GINT64_CONSTANT (253402300800);
  gint64 seconds = time_us / G_USEC_PER_SEC; /* as GDateTime: towards zero */
  gint64 days;
  guint secs_of_day, shifted, era, day_of_era, year_of_era, day_of_year, mp;
  guint year, month, day;
  char text[32];

  if (seconds < min_s || seconds >= max_s)
    {
      helix_json_append_literal (out, "null");
      return;
    }

  /* Days since the epoch to a civil date (Howard Hinnant's algorithm). From
   * 0001-01-01 on, days + 719468 (counted from 0000-03-01) is positive and
   * below 2^32: the rest is unsigned 32-bit arithmetic, which divides by
   * constants in fewer instructions. */
  days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
  secs_of_day = (guint) (seconds - days * 86400);
  shifted = (guint) (days + 719468);
  era = shifted / 146097;
  day_of_era = shifted - era * 146097;
  year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  mp = (5 * day_of_year + 2) / 153;
  day = day_of_year - (153 * mp + 2) / 5 + 1;
  month = mp < 10 ? mp + 3 : mp - 9;
  year = year_of_era + era * 400 + (month <= 2);

  /* "YYYY-MM-DDTHH:MM:SSZ", without printf: two of them in every session. */
  text[0] = '"';
  put_2_digits (text + 1, year / 100);
  put_2_digits (text + 3, year % 100);
  text[5] = '-';
  put_2_digits (text + 6, month);
  text[8] = '-';
  put_2_digits (text + 9, day);
  text[11] = 'T';
  put_2_digits (text + 12, secs_of_day / 3600);
  text[14] = ':';
  put_2_digits (text + 15, secs_of_day / 60 % 60);
  text[17] = ':';
  put_2_digits (text + 18, secs_of_day % 60);
  text[20] = 'Z';
  text[21] = '"';
  helix_json_append_raw (out, text, 22);
}

/**
 * _helix_gateway_append_int:
 * @out: a text being written
 * @value: a number
 *
 * Appends @value in decimal, without printf (which was most of the time
 * spent building the gateway's hottest texts).
 */
void
_helix_gateway_append_int (GString *out,
                           gint64   value)
{
  char text[24];
  char *p = text + sizeof text;
  guint64 magnitude = value < 0 ? -(guint64) value : (guint64) value;

  do
    {
      *--p = '0' + magnitude % 10;
      magnitude /= 10;
    }
  while (magnitude > 0);
  if (value < 0)
    *--p = '-';

  g_string_append_len (out, p, text + sizeof text - p);
}

/**
 * _helix_gateway_apply_cors:
 * @self: the gateway
 * @msg: a request to an API route
 *
 * Adds the CORS headers for a request whose `Origin` is in the
 * `allowed-origins` list (the origin itself, never `*`), and answers a
 * preflight `OPTIONS` request from such an origin. A request from any other
 * origin gets no CORS headers, so browsers keep its page from reading the
 * answer.
 *
 * Returns: %FALSE if @msg was answered (a preflight)
 */
gboolean
_helix_gateway_apply_cors (HelixGateway      *self,
                           SoupServerMessage *msg)
{
  SoupMessageHeaders *request_headers = soup_server_message_get_request_headers (msg);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  const char *origin = soup_message_headers_get_one (request_headers, "Origin");
  const char *method = soup_server_message_get_method (msg);

  /* The answer depends on Origin whether or not it is allowed. */
  soup_message_headers_append (headers, "Vary", "Origin");

  if (origin == NULL ||
      !helix_gateway_config_origin_is_allowed (helix_gateway_get_config (self), origin))
    return TRUE;

  soup_message_headers_replace (headers, "Access-Control-Allow-Origin", origin);
  soup_message_headers_replace (headers, "Access-Control-Allow-Credentials", "true");

  if (g_str_equal (method, "OPTIONS") &&
      soup_message_headers_get_one (request_headers, "Access-Control-Request-Method") != NULL)
    {
      soup_message_headers_replace (headers, "Access-Control-Allow-Methods",
                                    "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
      soup_message_headers_replace (headers, "Access-Control-Allow-Headers",
                                    "Authorization, Content-Type, X-Request-Id");
      soup_message_headers_replace (headers, "Access-Control-Max-Age",
                                    G_STRINGIFY (HELIX_GATEWAY_CORS_MAX_AGE_S));
      soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
      return FALSE;
    }

  soup_message_headers_replace (headers, "Access-Control-Expose-Headers",
                                "Retry-After, X-Request-Id");

  return TRUE;
}

/* Errors are {"error":{"code":"…","message":"…"}}: a stable code for
 * programs and a sentence for people. */
void
_helix_gateway_respond_error (SoupServerMessage *msg,
                              guint              status,
                              const char        *code,
                              const char        *message)
{
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) root = NULL;
  GUri *uri = soup_server_message_get_uri (msg);

  /* The OpenAI-compatible API answers errors in OpenAI's shape. */
  if (uri != NULL && _helix_gateway_path_is_openai (g_uri_get_path (uri)))
    {
      _helix_gateway_respond_openai_error (msg, status, _helix_gateway_openai_error_type (status),
                                           _helix_gateway_openai_error_code (code), message);
      return;
    }

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "error");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "code");
  json_builder_add_string_value (builder, code);
  json_builder_set_member_name (builder, "message");
  json_builder_add_string_value (builder, message);
  json_builder_end_object (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  _helix_gateway_respond_json (msg, status, root);
}

void
_helix_gateway_respond_not_found (SoupServerMessage *msg,
                   const char        *path)
{
  g_autofree char *message = NULL;

  message = g_strdup_printf (_("Nothing is at “%s”. The gateway’s status is at /health."), path);
  _helix_gateway_respond_error (msg, SOUP_STATUS_NOT_FOUND, "not_found", message);
}

/* Returns whether @msg uses one of @allowed (a NULL-terminated list of
 * methods); if not, answers 405 with an Allow header. */
gboolean
_helix_gateway_check_method (SoupServerMessage  *msg,
                             const char * const *allowed)
{
  const char *method = soup_server_message_get_method (msg);
  g_autofree char *allow = NULL;
  g_autofree char *message = NULL;

  if (g_strv_contains (allowed, method))
    return TRUE;

  allow = g_strjoinv (", ", (char **) allowed);
  message = g_strdup_printf (_("The method %s is not allowed here. Allowed methods: %s."),
                             method, allow);

  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", allow);
  _helix_gateway_respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed",
                                message);

  return FALSE;
}

/**
 * _helix_gateway_health_text:
 * @self: the gateway
 * @status: (out): 200, or 503 when the database does not answer
 *
 * The answer of `GET /health`: whether the gateway and its database
 * answer. Shared by the route below and the native HTTP path
 * (helix-gateway-native.c).
 *
 * This runs on the main loop and queries the database synchronously. That
 * is acceptable here: helix_gateway_db_check() is one trivial query on a
 * local SQLite file (no table scan), much cheaper than the HTTP parsing
 * around it. Anything slow must run in a worker thread.
 *
 * Returns: (transfer full): the JSON text
 */
GString *
_helix_gateway_health_text (HelixGateway *self,
                            guint        *status)
{
  g_autoptr(GError) error = NULL;
  HelixGatewayDb *db;
  GString *text;
  gboolean database_ok;

  db = helix_gateway_get_db (self);
  if (db != NULL)
    database_ok = helix_gateway_db_check (db, &error);
  else
    {
      g_set_error_literal (&error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_DATABASE,
                           _("The database is closed"));
      database_ok = FALSE;
    }

  if (!database_ok)
    g_warning ("Health check: the database does not answer: %s", error->message);

  /* Asked often (by load balancers, monitoring): written directly. */
  text = g_string_sized_new (160);
  g_string_append (text, "{\"status\":");
  g_string_append (text, database_ok ? "\"ok\"" : "\"degraded\"");
  g_string_append (text, ",\"version\":");
  _helix_gateway_json_append_string (text, PACKAGE_VERSION);
  g_string_append (text, ",\"maintenance\":");
  g_string_append (text, _helix_gateway_in_maintenance (self) ? "true" : "false");
  g_string_append (text, ",\"uptime_s\":");
  _helix_gateway_append_int (text, _helix_gateway_get_uptime_seconds (self));
  g_string_append (text, ",\"database\":{\"ok\":");
  if (database_ok)
    {
      g_string_append (text, "true,\"schema_version\":");
      _helix_gateway_append_int (text, helix_gateway_db_get_schema_version (db));
    }
  else
    {
      g_string_append (text, "false,\"error\":");
      _helix_gateway_json_append_string (text, error->message);
    }
  g_string_append (text, "}}");

  *status = database_ok ? SOUP_STATUS_OK : SOUP_STATUS_SERVICE_UNAVAILABLE;

  return text;
}

/* GET /health */
static void
health_cb (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *path,
           GHashTable        *query,
           gpointer           user_data)
{
  static const char * const allowed[] = { "GET", "HEAD", NULL };
  HelixGateway *self = user_data;
  GString *text;
  guint status;

  if (!_helix_gateway_admit (self, msg))
    return;

  /* The handler for /health also gets /health/anything. */
  if (!g_str_equal (path, "/health"))
    {
      _helix_gateway_respond_not_found (msg, path);
      return;
    }

  if (!_helix_gateway_check_method (msg, allowed))
    return;

  text = _helix_gateway_health_text (self, &status);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Cache-Control", "no-store");
  _helix_gateway_respond_json_text (msg, status, text);
}

/* GET /metrics: Prometheus metrics. Unauthenticated: the reverse proxy must
 * keep it from the public (data/nginx-helix.conf). */
static void
metrics_cb (SoupServer        *server,
            SoupServerMessage *msg,
            const char        *path,
            GHashTable        *query,
            gpointer           user_data)
{
  static const char * const allowed[] = { "GET", "HEAD", NULL };
  HelixGateway *self = user_data;
  char *text;

  if (!_helix_gateway_admit (self, msg))
    return;

  if (!g_str_equal (path, "/metrics"))
    {
      _helix_gateway_respond_not_found (msg, path);
      return;
    }

  if (!_helix_gateway_check_method (msg, allowed))
    return;

  if (_helix_gateway_get_ai (self) != NULL)
    _helix_gateway_ai_update_metrics (_helix_gateway_get_ai (self));
  text = helix_gateway_metrics_render ();
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Cache-Control", "no-store");
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/plain; version=0.0.4; charset=utf-8",
                                    SOUP_MEMORY_TAKE, text, strlen (text));
}

/* Everything without a route of its own. */
static void
default_cb (SoupServer        *server,
            SoupServerMessage *msg,
            const char        *path,
            GHashTable        *query,
            gpointer           user_data)
{
  HelixGateway *self = user_data;

  if (!_helix_gateway_admit (self, msg))
    return;

  _helix_gateway_respond_not_found (msg, path);
}

/* Every route of the gateway, with the methods it answers (its Allow header).
 * The handlers registered in _helix_gateway_add_routes() serve exactly these.
 * tests/test-gateway-isolation.c tries each route and method with another
 * user's ids and token, and fails for a registered handler or an allowed
 * method that has no entry here: a new route must be added here. */
static const HelixGatewayRoute routes[] = {
  { "/health", "GET, HEAD" },
  { "/metrics", "GET, HEAD" },
  { "/api/v1/auth/login", "POST" },
  { "/api/v1/auth/logout", "POST" },
  { "/api/v1/devices", "GET, HEAD" },
  { "/api/v1/devices/{id}", "DELETE" },
  { "/api/v1/sessions", "GET, HEAD, POST" },
  { "/api/v1/sessions/{id}", "GET, HEAD, PATCH, DELETE" },
  { "/api/v1/sessions/{id}/messages", "GET, HEAD" },
  { "/api/v1/search", "GET, HEAD" },
  { "/api/v1/sync", "GET" },
  { "/api/v1/operations/cost", "GET, HEAD" },
  { "/api/v1/chat/message", "POST" },
  { "/api/v1/flags", "GET, HEAD" },
  { "/api/v1/admin/flags", "GET, HEAD" },
  { "/api/v1/admin/flags/{name}", "PATCH" },
  { "/api/v1/admin/maintenance", "GET, HEAD, PUT" },
  { "/api/v1/audit/verify", "GET, HEAD, POST" },
  { "/api/v1/audit/entries", "GET, HEAD" },
  { "/api/v1/audit/checkpoint", "GET, HEAD" },
  { "/v1/chat/completions", "POST" },
  { "/v1/models", "GET, HEAD" },
};

/**
 * _helix_gateway_get_routes:
 * @n_routes: (out): the number of routes
 *
 * Returns: (array length=n_routes) (transfer none): every route of the gateway
 */
const HelixGatewayRoute *
_helix_gateway_get_routes (guint *n_routes)
{
  *n_routes = G_N_ELEMENTS (routes);

  return routes;
}

void
_helix_gateway_add_routes (HelixGateway *self,
                           SoupServer   *server)
{
  g_assert (HELIX_IS_GATEWAY (self));
  g_assert (SOUP_IS_SERVER (server));

  /* The server does not outlive the gateway: no references needed. */
  soup_server_add_handler (server, NULL, default_cb, self, NULL);
  soup_server_add_handler (server, "/health", health_cb, self, NULL);
  soup_server_add_handler (server, "/metrics", metrics_cb, self, NULL);
  _helix_gateway_add_api_routes (self, server);
  _helix_gateway_add_sessions_routes (self, server);
  _helix_gateway_add_search_routes (self, server);
  _helix_gateway_add_sync_routes (self, server);
  _helix_gateway_add_openai_routes (self, server);
  _helix_gateway_add_cost_routes (self, server);
  _helix_gateway_add_chat_routes (self, server);
  _helix_gateway_add_admin_routes (self, server);
  _helix_gateway_add_audit_routes (self, server);
}
