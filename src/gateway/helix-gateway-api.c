/* helix-gateway-api.c: the accounts API (/api/v1/auth/…, /api/v1/devices)
 *
 *   POST   /api/v1/auth/login       {"username","password","device"} → a token
 *   POST   /api/v1/auth/logout      revokes the caller's device and its token
 *   GET    /api/v1/devices          the caller's devices
 *   DELETE /api/v1/devices/{uuid}   revokes one of the caller's devices
 *
 * Every route but login needs `Authorization: Bearer <token>`. Request bodies
 * are JSON (Content-Type: application/json), at most
 * HELIX_GATEWAY_MAX_BODY_BYTES, checked by helix_json_check_text() before
 * json-glib sees them. Errors are {"error":{"code":"…","message":"…"}}.
 * The helpers for all this (_helix_gateway_authenticate() and friends) are
 * shared with the sessions routes (helix-gateway-sessions.c).
 *
 * Database work here runs synchronously on the main loop: each query is a
 * lookup or update through an index (see helix-gateway-db.c). Password
 * checks, which are slow on purpose, run in a worker thread.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>
#include <sodium.h>

#include "helix-gateway-private.h"
#include "helix-json.h"
#include "helix-password.h"
#include "helix-sync-json.h"
#include "helix-uuid.h"

#define LOGIN_PATH   "/api/v1/auth/login"
#define LOGOUT_PATH  "/api/v1/auth/logout"
#define DEVICES_PATH "/api/v1/devices"

/* libsoup 3.2 has no name for 429 (RFC 6585). */
#define STATUS_TOO_MANY_REQUESTS 429

/* How often devices.last_seen_us is written for a device that keeps talking. */
#define LAST_SEEN_PERIOD_US (60 * G_USEC_PER_SEC)

void
_helix_gateway_set_no_store (SoupServerMessage *msg)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Cache-Control", "no-store");
}

void
_helix_gateway_respond_no_content (SoupServerMessage *msg)
{
  soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
}

void
_helix_gateway_respond_internal_error (SoupServerMessage *msg,
                                       const GError      *error)
{
  g_warning ("%s %s: %s", soup_server_message_get_method (msg),
             g_uri_get_path (soup_server_message_get_uri (msg)), error->message);
  _helix_gateway_respond_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                                _("The gateway could not do this because of an internal "
                                  "error. Try again later; if it persists, tell the "
                                  "gateway’s administrator."));
}

static void
respond_unavailable (SoupServerMessage *msg)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Retry-After", "5");
  _helix_gateway_respond_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "unavailable",
                                _("The gateway’s database is closed. Try again in a moment."));
}

static void
set_retry_after (SoupServerMessage *msg,
                 gint64             retry_after_us)
{
  gint64 seconds = MAX (1, (retry_after_us + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);
  g_autofree char *value = g_strdup_printf ("%" G_GINT64_FORMAT, seconds);

  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Retry-After", value);
}

/* Request bodies {{{1 */

/* Reads the request body as a JSON object. On any problem, answers (415, 413
 * or 400) and returns %NULL. */
JsonObject *
_helix_gateway_read_json_object (SoupServerMessage *msg)
{
  return _helix_gateway_read_json_object_limited (msg, HELIX_GATEWAY_MAX_BODY_BYTES,
                                                  HELIX_GATEWAY_MAX_JSON_DEPTH);
}

/* The same, with a limit of @max_bytes and @max_depth levels of nesting. */
JsonObject *
_helix_gateway_read_json_object_limited (SoupServerMessage *msg,
                                         gsize              max_bytes,
                                         guint              max_depth)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  g_autoptr(GError) error = NULL;
  HelixGatewayBodyProblem problem;
  JsonObject *object;
  const char *content_type;
  GByteArray *body;
  gboolean too_large = FALSE;

  content_type = soup_message_headers_get_content_type (headers, NULL);
  if (content_type == NULL || g_ascii_strcasecmp (content_type, "application/json") != 0)
    {
      _helix_gateway_respond_error (msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE,
                                    "unsupported_media_type",
                                    _("The request body must be JSON, sent with "
                                      "“Content-Type: application/json”."));
      return NULL;
    }

  body = _helix_gateway_get_request_body (msg, &too_large);
  if (too_large || body->len > max_bytes)
    {
      g_autofree char *message =
        g_strdup_printf (_("The request body is too large: send at most %u bytes."),
                         (guint) max_bytes);

      _helix_gateway_respond_error (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                                    message);
      return NULL;
    }

  object = _helix_gateway_parse_json_body ((const char *) body->data, body->len, max_bytes,
                                           max_depth, &problem, &error);
  switch (problem)
    {
    case HELIX_GATEWAY_BODY_OK:
      return object;
    case HELIX_GATEWAY_BODY_EMPTY:
      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_json",
                                    _("The request body is empty; it must be a JSON object."));
      return NULL;
    case HELIX_GATEWAY_BODY_INVALID:
      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_json",
                                    error->message);
      return NULL;
    case HELIX_GATEWAY_BODY_NOT_STRICT:
      g_debug ("%s: %s", g_uri_get_path (soup_server_message_get_uri (msg)), error->message);
      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_json",
                                    _("The request body is not strict JSON (RFC 8259): send "
                                      "one object, without comments, trailing text or "
                                      "leading zeros."));
      return NULL;
    case HELIX_GATEWAY_BODY_UNREADABLE:
      _helix_gateway_respond_internal_error (msg, error);
      return NULL;
    case HELIX_GATEWAY_BODY_REPEATED:
      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_json",
                                    _("The request body names a member twice in one object; "
                                      "send each member once."));
      return NULL;
    case HELIX_GATEWAY_BODY_NOT_OBJECT:
    default:
      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                                    _("The request body must be a JSON object."));
      return NULL;
    }
}

/**
 * _helix_gateway_parse_json_body:
 * @data: a request body
 * @length: its length
 * @max_bytes: the most it may be
 * @max_depth: the deepest it may nest
 * @problem: (out): what is wrong with it, if anything
 * @error: details of %HELIX_GATEWAY_BODY_INVALID, _NOT_STRICT and _UNREADABLE
 *
 * Reads a body that must be one strict JSON object (RFC 8259), checking
 * its size and depth before json-glib sees it.
 *
 * Returns: (transfer full) (nullable): the object, or %NULL and @problem
 */
JsonObject *
_helix_gateway_parse_json_body (const char             *data,
                                gsize                   length,
                                gsize                   max_bytes,
                                guint                   max_depth,
                                HelixGatewayBodyProblem *problem,
                                GError                **error)
{
  g_autoptr(JsonNode) root = NULL;
  gboolean repeated = FALSE;

  *problem = HELIX_GATEWAY_BODY_EMPTY;
  if (length == 0)
    return NULL;

  *problem = HELIX_GATEWAY_BODY_INVALID;
  if (!helix_json_check_text (data, length, max_bytes, max_depth, error))
    return NULL;

  /* json-glib alone would take trailing text, comments and leading zeros. */
  *problem = HELIX_GATEWAY_BODY_NOT_STRICT;
  if (!helix_json_validate (data, length, max_depth, error))
    return NULL;

  *problem = HELIX_GATEWAY_BODY_UNREADABLE;
  root = helix_json_parse_valid_full (data, length, &repeated);
  if (root == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           "Validated JSON could not be read");
      return NULL;
    }

  /* json-glib keeps the last of repeated member names without a word. A
   * body that names a member twice is ambiguous (another parser on the way
   * may take the first): it is refused. */
  *problem = HELIX_GATEWAY_BODY_REPEATED;
  if (repeated)
    return NULL;

  *problem = HELIX_GATEWAY_BODY_NOT_OBJECT;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    return NULL;

  *problem = HELIX_GATEWAY_BODY_OK;
  return json_object_ref (json_node_get_object (root));
}

/* Returns the string member @name of @object, or %NULL if it is missing or
 * not a string. */
static const char *
get_string_member (JsonObject *object,
                   const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;

  return json_node_get_string (node);
}

/* Authentication {{{1 */

static void
respond_unauthorized (SoupServerMessage *msg,
                      gboolean           token_given)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  if (token_given)
    {
      soup_message_headers_replace (headers, "WWW-Authenticate",
                                    "Bearer realm=\"helix\", error=\"invalid_token\"");
      _helix_gateway_respond_error (msg, SOUP_STATUS_UNAUTHORIZED, "invalid_token",
                                    _("The access token is not valid: it was revoked, its "
                                      "device was logged out, or its user was disabled. "
                                      "Log in again."));
    }
  else
    {
      soup_message_headers_replace (headers, "WWW-Authenticate", "Bearer realm=\"helix\"");
      _helix_gateway_respond_error (msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized",
                                    _("This needs an access token: log in at "
                                      LOGIN_PATH " and send “Authorization: Bearer "
                                      "<token>”."));
    }
}

/**
 * _helix_gateway_lookup_token:
 * @self: the gateway
 * @authorization: (nullable): the request's Authorization header
 * @auth: (out caller-allocates): who the token speaks for
 * @error: where a database error goes (%HELIX_GATEWAY_TOKEN_FAILED only)
 *
 * Finds who the bearer token of @authorization speaks for, and notes when
 * its device was last seen (at most every LAST_SEEN_PERIOD_US). Charges no
 * rate limit and answers nothing: _helix_gateway_authenticate() does, and
 * the native HTTP path (helix-gateway-native.c) answers only when this
 * succeeds.
 *
 * Returns: what the token is
 */
HelixGatewayTokenResult
_helix_gateway_lookup_token (HelixGateway      *self,
                             const char        *authorization,
                             HelixGatewayAuth  *auth,
                             GError           **error)
{
  HelixGatewayDb *db = helix_gateway_get_db (self);
  g_autoptr(GError) local_error = NULL;
  const char *value = authorization;
  guint8 hash[HELIX_GATEWAY_TOKEN_HASH_LEN];
  gint64 now_us;

  if (value == NULL || g_ascii_strncasecmp (value, "Bearer ", 7) != 0)
    return HELIX_GATEWAY_TOKEN_MISSING;

  value += 7;
  while (*value == ' ')
    value++;

  /* A lookup by hash: the hash of a wrong token reveals nothing about a
   * right one, so no constant-time comparison is needed. */
  if (!helix_token_hash (value, hash))
    return HELIX_GATEWAY_TOKEN_INVALID;

  if (db == NULL)
    return HELIX_GATEWAY_TOKEN_UNAVAILABLE;

  if (!helix_gateway_db_authenticate (db, hash, auth, &local_error))
    {
      if (g_error_matches (local_error, HELIX_GATEWAY_DB_ERROR,
                           HELIX_GATEWAY_DB_ERROR_NO_SUCH_DEVICE))
        return HELIX_GATEWAY_TOKEN_INVALID;
      g_propagate_error (error, g_steal_pointer (&local_error));
      return HELIX_GATEWAY_TOKEN_FAILED;
    }

  /* Written by the writer thread; the request does not wait for it. */
  now_us = g_get_real_time ();
  if (now_us - auth->last_seen_us >= LAST_SEEN_PERIOD_US &&
      _helix_gateway_hub_touch_device (_helix_gateway_get_hub (self), auth->device_id, now_us))
    auth->last_seen_us = now_us;

  return HELIX_GATEWAY_TOKEN_VALID;
}

/* Finds who the request's bearer token speaks for. If it has none or an
 * invalid one, answers 401 and returns %FALSE. */
gboolean
_helix_gateway_authenticate (HelixGateway      *self,
                             SoupServerMessage *msg,
                             HelixGatewayAuth  *auth)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  g_autoptr(GError) error = NULL;

  switch (_helix_gateway_lookup_token (self, soup_message_headers_get_one (headers, "Authorization"),
                                       auth, &error))
    {
    case HELIX_GATEWAY_TOKEN_VALID:
      return _helix_gateway_limit_user (self, msg, auth->user_name);
    case HELIX_GATEWAY_TOKEN_MISSING:
      respond_unauthorized (msg, FALSE);
      return FALSE;
    case HELIX_GATEWAY_TOKEN_INVALID:
      respond_unauthorized (msg, TRUE);
      return FALSE;
    case HELIX_GATEWAY_TOKEN_UNAVAILABLE:
      respond_unavailable (msg);
      return FALSE;
    case HELIX_GATEWAY_TOKEN_FAILED:
    default:
      _helix_gateway_respond_internal_error (msg, error);
      return FALSE;
    }
}

/**
 * _helix_gateway_begin_authenticated:
 * @self: a gateway
 * @msg: a request
 * @path: its path
 * @expected: the one path the handler serves
 * @allowed: (array zero-terminated=1): the methods it serves
 * @auth: (out caller-allocates): who the bearer token speaks for
 *
 * What every single-path API handler does first: admit the request (limits,
 * shutdown), answer 404 for another path and 405 for another method, forbid
 * caching, and check the token.
 *
 * Returns: %TRUE to go on; otherwise the request was answered
 */
gboolean
_helix_gateway_begin_authenticated (HelixGateway       *self,
                                    SoupServerMessage  *msg,
                                    const char         *path,
                                    const char         *expected,
                                    const char * const *allowed,
                                    HelixGatewayAuth   *auth)
{
  if (!_helix_gateway_admit (self, msg))
    return FALSE;

  if (!g_str_equal (path, expected))
    {
      _helix_gateway_respond_not_found (msg, path);
      return FALSE;
    }

  if (!_helix_gateway_check_method (msg, allowed))
    return FALSE;

  _helix_gateway_set_no_store (msg);

  return _helix_gateway_authenticate (self, msg, auth);
}

/* POST /api/v1/auth/login {{{1 */

typedef struct
{
  HelixGateway      *gateway;
  SoupServerMessage *msg;
  gint64             user_id;
  gboolean           may_login;
  char              *user_name;
  char              *device_name;
  char              *user_key;
  char              *address_key;
  gboolean           disconnected;
  gboolean           succeeded;
} Login;

static void
login_free (Login *login)
{
  g_signal_handlers_disconnect_by_data (login->msg, login);
  g_clear_object (&login->msg);
  g_clear_object (&login->gateway);
  g_free (login->user_name);
  g_free (login->device_name);
  g_free (login->user_key);
  g_free (login->address_key);
  g_free (login);
}

static void
on_login_disconnected (SoupServerMessage *msg,
                       Login             *login)
{
  login->disconnected = TRUE;
}

static void
respond_login_failed (SoupServerMessage *msg)
{
  /* The same answer for an unknown user, a wrong password and a disabled
   * user: the API does not reveal which names exist. */
  _helix_gateway_respond_error (msg, SOUP_STATUS_UNAUTHORIZED, "invalid_credentials",
                                _("The user name or the password is wrong, or the account "
                                  "is disabled."));
}

/* A new device and its token, stored by the writer thread. */
typedef struct
{
  Login               *login;   /* (unowned): the audited action's */
  HelixGatewayAudited *audited; /* (owned): finished once answered */
  char                 token[HELIX_TOKEN_LEN + 1];
  guint8               hash[HELIX_GATEWAY_TOKEN_HASH_LEN];
  gint64               user_id;
  char                *device_name;
  char                *device;  /* set by the writer */
} NewDevice;

static void
new_device_free (NewDevice *new_device)
{
  sodium_memzero (new_device->token, sizeof new_device->token);
  g_free (new_device->device_name);
  g_free (new_device->device);
  g_free (new_device);
}

static gboolean
add_device_func (HelixGatewayDb  *db,
                 gpointer         data,
                 GError         **error)
{
  NewDevice *new_device = data;

  new_device->device = helix_gateway_db_add_device (db, new_device->user_id,
                                                    new_device->device_name, new_device->hash,
                                                    error);

  return new_device->device != NULL;
}

static void
device_added_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  NewDevice *new_device = user_data;
  Login *login = new_device->login;
  HelixGatewayLogins *logins = _helix_gateway_get_logins (login->gateway);
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;

  if (!_helix_gateway_writer_run_finish (result, &error))
    {
      if (g_error_matches (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NO_SUCH_USER))
        respond_login_failed (login->msg); /* disabled meanwhile */
      else
        _helix_gateway_respond_internal_error (login->msg, error);
      _helix_gateway_set_no_store (login->msg);
      _helix_gateway_audited_finish (new_device->audited);
      new_device_free (new_device);
      return;
    }

  /* Good logins do not count against the address; the account starts over. */
  helix_rate_limit_refund (logins->limit, login->address_key);
  helix_rate_limit_reset (logins->limit, login->user_key);

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "token");
  json_builder_add_string_value (builder, new_device->token);
  json_builder_set_member_name (builder, "device");
  json_builder_add_string_value (builder, new_device->device);
  json_builder_set_member_name (builder, "user");
  json_builder_add_string_value (builder, login->user_name);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);

  g_info ("login: user %s on new device %s", login->user_name, new_device->device);
  _helix_gateway_respond_json (login->msg, SOUP_STATUS_OK, root);
  _helix_gateway_set_no_store (login->msg);
  _helix_gateway_audited_finish (new_device->audited);
  new_device_free (new_device);
}

/* Issues a token on a new device: answered once it is stored. Returns
 * whether @msg was answered now. */
static gboolean
login_succeeded (Login               *login,
                 HelixGatewayAudited *audited)
{
  HelixGatewayWriter *writer = _helix_gateway_hub_get_writer (_helix_gateway_get_hub (login->gateway));
  NewDevice *new_device;

  if (writer == NULL)
    {
      respond_unavailable (login->msg);
      return TRUE;
    }

  new_device = g_new0 (NewDevice, 1);
  new_device->login = login;
  new_device->audited = audited;
  new_device->user_id = login->user_id;
  new_device->device_name = g_strdup (login->device_name);
  helix_token_new (new_device->token, new_device->hash);
  _helix_gateway_writer_run_async (writer, add_device_func, new_device, device_added_cb,
                                   new_device);

  return FALSE;
}

/* Once the login is on record. */
static gboolean
act_login (HelixGateway        *self,
           SoupServerMessage   *msg,
           HelixGatewayAudited *audited)
{
  Login *login = _helix_gateway_audited_get_data (audited);

  if (login->succeeded && !login_succeeded (login, audited))
    return FALSE;

  if (!login->succeeded)
    {
      g_info ("login: refused from %s", _helix_gateway_get_client_address (login->gateway, msg));
      respond_login_failed (msg);
    }
  _helix_gateway_set_no_store (msg);

  return TRUE;
}

/* A password hash with new parameters, stored by the writer thread. */
typedef struct
{
  gint64  user_id;
  char   *user_name;
  char   *hash;
} Rehash;

static gboolean
set_password_hash_func (HelixGatewayDb  *db,
                        gpointer         data,
                        GError         **error)
{
  Rehash *rehash = data;

  return helix_gateway_db_set_password_hash (db, rehash->user_id, rehash->hash, error);
}

static void
password_hash_set_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  Rehash *rehash = user_data;
  g_autoptr(GError) error = NULL;

  if (_helix_gateway_writer_run_finish (result, &error))
    g_info ("login: stored a new password hash for user %s (hash parameters changed)",
            rehash->user_name);
  else
    g_warning ("Could not store a new password hash for user %s: %s",
               rehash->user_name, error->message);

  g_free (rehash->user_name);
  sodium_memzero (rehash->hash, strlen (rehash->hash));
  g_free (rehash->hash);
  g_free (rehash);
}

static void
login_verified_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Login *login = user_data;
  HelixGatewayLogins *logins = _helix_gateway_get_logins (login->gateway);
  HelixGatewayWriter *writer = _helix_gateway_hub_get_writer (_helix_gateway_get_hub (login->gateway));
  g_autoptr(GError) error = NULL;
  g_autofree char *new_hash = NULL;
  gboolean ok;

  g_assert (logins->in_flight > 0);
  logins->in_flight--;

  ok = helix_password_verify_finish (result, &new_hash, &error);

  if (login->disconnected)
    {
      g_debug ("login: the client went away during the password check");
      login_free (login);
      return;
    }

  /* Stored by the writer before the new device's token (in that order), and
   * not waited for: the old hash still verifies the password meanwhile. */
  if (ok && login->may_login && new_hash != NULL && writer != NULL)
    {
      Rehash *rehash = g_new0 (Rehash, 1);

      rehash->user_id = login->user_id;
      rehash->user_name = g_strdup (login->user_name);
      rehash->hash = g_steal_pointer (&new_hash);
      _helix_gateway_writer_run_async (writer, set_password_hash_func, rehash,
                                       password_hash_set_cb, rehash);
    }

  if (error != NULL)
    {
      _helix_gateway_respond_internal_error (login->msg, error);
      _helix_gateway_set_no_store (login->msg);
      soup_server_message_unpause (login->msg);
      login_free (login);
      return;
    }

  /* On record before a token is issued, or the refusal is told (never the
   * password; the name only when it is one). */
  login->succeeded = ok && login->may_login;
  g_signal_handlers_disconnect_by_data (login->msg, login);
  {
    gboolean valid = helix_gateway_user_name_is_valid (login->user_name);
    g_autofree char *payload =
      _helix_gateway_audit_payload ("user", valid ? login->user_name : NULL,
                                    "device_name", login->device_name,
                                    "address",
                                    _helix_gateway_get_client_address (login->gateway, login->msg),
                                    NULL);

    _helix_gateway_audited (login->gateway, login->msg, HELIX_AUDIT_CHANNEL_API,
                            valid ? login->user_name : "anonymous",
                            login->succeeded ? "auth.login" : "auth.login_failed", payload,
                            act_login, login, (GDestroyNotify) login_free);
  }
}

static void
login_cb (SoupServer        *server,
          SoupServerMessage *msg,
          const char        *path,
          GHashTable        *query,
          gpointer           user_data)
{
  static const char * const allowed[] = { "POST", NULL };
  HelixGateway *self = user_data;
  HelixGatewayLogins *logins = _helix_gateway_get_logins (self);
  HelixGatewayDb *db = helix_gateway_get_db (self);
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(HelixGatewayUser) user = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *user_key = NULL;
  g_autofree char *address_key = NULL;
  const char *username;
  const char *password;
  const char *device;
  const char *address;
  gint64 retry_after_us = 0;
  gint64 now_us;
  Login *login;

  if (!_helix_gateway_admit (self, msg))
    return;

  if (!g_str_equal (path, LOGIN_PATH))
    {
      _helix_gateway_respond_not_found (msg, path);
      return;
    }

  if (!_helix_gateway_check_method (msg, allowed))
    return;

  _helix_gateway_set_no_store (msg);

  object = _helix_gateway_read_json_object (msg);
  if (object == NULL)
    return;

  username = get_string_member (object, "username");
  password = get_string_member (object, "password");
  device = get_string_member (object, "device");
  if (username == NULL || password == NULL || device == NULL)
    {
      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                                    _("A login needs the strings “username”, “password” "
                                      "and “device”."));
      return;
    }

  if (*device == '\0' || strlen (device) > HELIX_GATEWAY_DEVICE_NAME_MAX)
    {
      g_autofree char *message =
        g_strdup_printf (_("The device name must be 1 to %d bytes long."),
                         HELIX_GATEWAY_DEVICE_NAME_MAX);

      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request", message);
      return;
    }

  if (strlen (password) > HELIX_PASSWORD_MAX_BYTES)
    {
      g_autofree char *message =
        g_strdup_printf (_("The password is too long (at most %d bytes)."),
                         HELIX_PASSWORD_MAX_BYTES);

      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request", message);
      return;
    }

  if (db == NULL)
    {
      respond_unavailable (msg);
      return;
    }

  /* Charged before the check, so that attempts running at the same time
   * count; refunded when the login succeeds. */
  address = _helix_gateway_get_client_address (self, msg);
  address_key = g_strconcat ("addr:", address, NULL);
  user_key = g_strconcat ("user:", username, NULL);
  now_us = g_get_monotonic_time ();
  if (!helix_rate_limit_charge (logins->limit, address_key, now_us, &retry_after_us))
    {
      g_info ("login: too many failed logins from %s", address);
      set_retry_after (msg, retry_after_us);
      _helix_gateway_respond_error (msg, STATUS_TOO_MANY_REQUESTS, "too_many_attempts",
                                    _("Too many failed logins. Wait before trying again "
                                      "(see Retry-After)."));
      return;
    }
  if (!helix_rate_limit_charge (logins->limit, user_key, now_us, &retry_after_us))
    {
      helix_rate_limit_refund (logins->limit, address_key);
      g_info ("login: too many failed logins for one account, from %s", address);
      set_retry_after (msg, retry_after_us);
      _helix_gateway_respond_error (msg, STATUS_TOO_MANY_REQUESTS, "too_many_attempts",
                                    _("Too many failed logins. Wait before trying again "
                                      "(see Retry-After)."));
      return;
    }

  if (logins->in_flight >= HELIX_GATEWAY_LOGINS_IN_FLIGHT_MAX)
    {
      helix_rate_limit_refund (logins->limit, address_key);
      helix_rate_limit_refund (logins->limit, user_key);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Retry-After", "1");
      _helix_gateway_respond_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "busy",
                                    _("The gateway is busy with other logins. Try again in "
                                      "a moment."));
      return;
    }

  /* An indexed lookup (users.name is UNIQUE): fine on the main loop. */
  if (helix_gateway_user_name_is_valid (username))
    user = helix_gateway_db_lookup_user (db, username, &error);
  if (user == NULL && error != NULL &&
      !g_error_matches (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NO_SUCH_USER))
    {
      helix_rate_limit_refund (logins->limit, address_key);
      helix_rate_limit_refund (logins->limit, user_key);
      _helix_gateway_respond_internal_error (msg, error);
      return;
    }

  login = g_new0 (Login, 1);
  login->gateway = g_object_ref (self);
  login->msg = g_object_ref (msg);
  login->user_id = user != NULL ? user->id : 0;
  login->may_login = user != NULL && !user->disabled;
  login->user_name = g_strdup (username);
  login->device_name = g_strdup (device);
  login->user_key = g_steal_pointer (&user_key);
  login->address_key = g_steal_pointer (&address_key);
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_login_disconnected), login);

  logins->in_flight++;
  soup_server_message_pause (msg);
  /* argon2id takes a few hundred milliseconds: a worker thread does it. An
   * unknown user is checked against a dummy hash, taking as long. */
  helix_password_verify_async (user != NULL ? user->password_hash : NULL, password, NULL,
                               login_verified_cb, login);
}

/* POST /api/v1/auth/logout {{{1 */

/* A device to revoke, once that is on record. */
typedef struct
{
  HelixGateway *gateway;  /* while it is being stored */
  gint64        user_id;
  char         *user_name;
  char         *device;
  gboolean      logout;   /* the caller's own device, logging out */
} Revocation;

static void
revocation_free (Revocation *revocation)
{
  g_clear_object (&revocation->gateway);
  g_free (revocation->user_name);
  g_free (revocation->device);
  g_free (revocation);
}

static gboolean
revoke_device_func (HelixGatewayDb  *db,
                    gpointer         data,
                    GError         **error)
{
  Revocation *revocation = data;

  /* Indexed updates of one device and its tokens. */
  return helix_gateway_db_revoke_device (db, revocation->user_id, revocation->device, error);
}

static void
device_revoked_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  HelixGatewayAudited *audited = user_data;
  Revocation *revocation = _helix_gateway_audited_get_data (audited);
  SoupServerMessage *msg = _helix_gateway_audited_get_message (audited);
  g_autoptr(GError) error = NULL;

  if (!_helix_gateway_writer_run_finish (result, &error))
    {
      /* Another user's device is "not found" too: never 403, which would
       * tell that it exists. */
      if (g_error_matches (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NO_SUCH_DEVICE))
        _helix_gateway_respond_error (msg, SOUP_STATUS_NOT_FOUND, "not_found",
                                      _("You have no device with this id."));
      else
        _helix_gateway_respond_internal_error (msg, error);
      _helix_gateway_audited_finish (audited);
      return;
    }

  if (revocation->logout)
    g_info ("logout: user %s, device %s", revocation->user_name, revocation->device);
  else
    g_info ("devices: user %s revoked device %s", revocation->user_name, revocation->device);
  _helix_gateway_hub_close_device (_helix_gateway_get_hub (revocation->gateway),
                                   revocation->user_id, revocation->device,
                                   HELIX_GATEWAY_WS_CLOSE_REVOKED,
                                   revocation->logout ? "the device logged out"
                                                      : "the device was revoked");
  _helix_gateway_respond_no_content (msg);
  _helix_gateway_audited_finish (audited);
}

/* Revokes the device once that is on record; answers once it is stored. */
static gboolean
act_revoke (HelixGateway        *self,
            SoupServerMessage   *msg,
            HelixGatewayAudited *audited)
{
  Revocation *revocation = _helix_gateway_audited_get_data (audited);
  HelixGatewayWriter *writer = _helix_gateway_hub_get_writer (_helix_gateway_get_hub (self));

  if (writer == NULL)
    {
      respond_unavailable (msg);
      return TRUE;
    }

  revocation->gateway = g_object_ref (self);
  _helix_gateway_writer_run_async (writer, revoke_device_func, revocation, device_revoked_cb,
                                   audited);

  return FALSE;
}

/* Records the revocation of @device, then makes it (fail closed). */
static void
revoke_audited (HelixGateway      *self,
                SoupServerMessage *msg,
                HelixGatewayAuth  *auth,
                const char        *device,
                gboolean           logout)
{
  Revocation *revocation = g_new0 (Revocation, 1);
  g_autofree char *payload = NULL;

  revocation->user_id = auth->user_id;
  revocation->user_name = g_strdup (auth->user_name);
  revocation->device = g_strdup (device);
  revocation->logout = logout;

  payload = _helix_gateway_audit_payload ("device", device, "by_device", auth->device_uuid, NULL);
  _helix_gateway_audited (self, msg, HELIX_AUDIT_CHANNEL_API, auth->user_name,
                          logout ? "auth.logout" : "device.revoke", payload, act_revoke,
                          revocation, (GDestroyNotify) revocation_free);
}

static void
logout_cb (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *path,
           GHashTable        *query,
           gpointer           user_data)
{
  static const char * const allowed[] = { "POST", NULL };
  HelixGateway *self = user_data;
  g_auto(HelixGatewayAuth) auth = { 0 };

  if (!_helix_gateway_begin_authenticated (self, msg, path, LOGOUT_PATH, allowed, &auth))
    return;

  revoke_audited (self, msg, &auth, auth.device_uuid, TRUE);
}

/* /api/v1/devices {{{1 */

void
_helix_gateway_add_time_member (JsonBuilder *builder,
                                const char  *name,
                                gint64       time_us)
{
  g_autoptr(GDateTime) time = g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC);
  g_autofree char *text = time != NULL ? g_date_time_format_iso8601 (time) : NULL;

  json_builder_set_member_name (builder, name);
  if (text != NULL)
    json_builder_add_string_value (builder, text);
  else
    json_builder_add_null_value (builder);
}

static void
list_devices (HelixGateway      *self,
              SoupServerMessage *msg,
              HelixGatewayAuth  *auth)
{
  g_autoptr(GPtrArray) devices = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;

  /* One user's devices, through the devices_user index. */
  devices = helix_gateway_db_list_devices (helix_gateway_get_db (self), auth->user_id, &error);
  if (devices == NULL)
    {
      _helix_gateway_respond_internal_error (msg, error);
      return;
    }

  builder = json_builder_new ();
  json_builder_begin_array (builder);
  for (guint i = 0; i < devices->len; i++)
    {
      HelixGatewayDevice *device = g_ptr_array_index (devices, i);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "id");
      json_builder_add_string_value (builder, device->uuid);
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, device->name);
      _helix_gateway_add_time_member (builder, "created", device->created_us);
      _helix_gateway_add_time_member (builder, "last_seen", device->last_seen_us);
      json_builder_set_member_name (builder, "current");
      json_builder_add_boolean_value (builder, device->id == auth->device_id);
      json_builder_set_member_name (builder, "revoked");
      json_builder_add_boolean_value (builder, device->revoked_us != 0);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  root = json_builder_get_root (builder);
  _helix_gateway_respond_json (msg, SOUP_STATUS_OK, root);
}

static void
revoke_device (HelixGateway      *self,
               SoupServerMessage *msg,
               HelixGatewayAuth  *auth,
               const char        *id)
{

  /* Canonical lower-case UUIDs only, as the gateway hands them out. */
  if (!helix_uuid_is_valid (id))
    {
      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_id",
                                    _("This is not a device id: device ids are UUIDs, as "
                                      "listed by GET " DEVICES_PATH "."));
      return;
    }

  revoke_audited (self, msg, auth, id, FALSE);
}

static void
devices_cb (SoupServer        *server,
            SoupServerMessage *msg,
            const char        *path,
            GHashTable        *query,
            gpointer           user_data)
{
  static const char * const list_allowed[] = { "GET", "HEAD", NULL };
  static const char * const item_allowed[] = { "DELETE", NULL };
  HelixGateway *self = user_data;
  g_auto(HelixGatewayAuth) auth = { 0 };
  const char *id = NULL;

  if (!_helix_gateway_admit (self, msg))
    return;

  if (g_str_has_prefix (path, DEVICES_PATH "/"))
    {
      id = path + strlen (DEVICES_PATH "/");
      if (*id == '\0' || strchr (id, '/') != NULL)
        {
          _helix_gateway_respond_not_found (msg, path);
          return;
        }
    }
  else if (!g_str_equal (path, DEVICES_PATH))
    {
      _helix_gateway_respond_not_found (msg, path);
      return;
    }

  if (!_helix_gateway_check_method (msg, id != NULL ? item_allowed : list_allowed))
    return;

  _helix_gateway_set_no_store (msg);

  if (!_helix_gateway_authenticate (self, msg, &auth))
    return;

  if (id == NULL)
    list_devices (self, msg, &auth);
  else
    revoke_device (self, msg, &auth, id);
}

void
_helix_gateway_add_api_routes (HelixGateway *self,
                               SoupServer   *server)
{
  g_assert (HELIX_IS_GATEWAY (self));
  g_assert (SOUP_IS_SERVER (server));

  soup_server_add_handler (server, LOGIN_PATH, login_cb, self, NULL);
  soup_server_add_handler (server, LOGOUT_PATH, logout_cb, self, NULL);
  soup_server_add_handler (server, DEVICES_PATH, devices_cb, self, NULL);
}
