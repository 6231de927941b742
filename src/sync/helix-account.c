/* helix-account.c: the desktop's gateway account and its device token
 *
 * Signing in sends the user name and password once to
 * POST /api/v1/auth/login; the gateway answers with a device token, which
 * goes into the user's keyring (libsecret) and nowhere else: not the logs,
 * not GSettings, not the database. If the keyring cannot take it (no Secret
 * Service, a locked collection, a dismissed prompt), the token is revoked on
 * the gateway again and the sign-in fails: there is no plaintext fallback.
 * Signing out revokes the token (POST /api/v1/auth/logout) and removes it
 * from the keyring, even when the gateway cannot be reached.
 *
 * Everything here is asynchronous (libsoup, libsecret); nothing blocks the
 * main loop. Bodies of requests and answers are never logged.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-account"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <libsecret/secret.h>
#include <libsoup/soup.h>

#include "helix-account.h"
#include "helix-json.h"

#define LOGIN_PATH  "api/v1/auth/login"
#define LOGOUT_PATH "api/v1/auth/logout"
#define DEVICES_PATH "api/v1/devices"
#define CHECKPOINT_PATH "api/v1/audit/checkpoint"

/* The gateway's limits (HELIX_GATEWAY_DEVICE_NAME_MAX, HELIX_PASSWORD_MAX_BYTES). */
#define DEVICE_NAME_MAX   128
#define PASSWORD_MAX      1024
#define TOKEN_MAX         512
#define ANSWER_MAX        (64 * 1024)
#define TIMEOUT_SECONDS   30

/* libsoup 3.2 has no name for 429 (RFC 6585). */
#define STATUS_TOO_MANY_REQUESTS 429

struct _HelixAccount
{
  GObject      parent_instance;

  SoupSession *session;
  char        *gateway_uri;
  char        *username;
  char        *token;

  guint        busy : 1;
};

G_DEFINE_FINAL_TYPE (HelixAccount, helix_account, G_TYPE_OBJECT)

G_DEFINE_QUARK (helix-account-error-quark, helix_account_error)

enum {
  PROP_0,
  PROP_GATEWAY_URI,
  PROP_USERNAME,
  PROP_SIGNED_IN,
  PROP_BUSY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static const SecretSchema *
get_schema (void)
{
  static const SecretSchema schema = {
    HELIX_ACCOUNT_SECRET_SCHEMA_NAME, SECRET_SCHEMA_NONE,
    {
      { "gateway", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { "username", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
    }
  };

  return &schema;
}

/* Wipes a string that held a secret, then frees it. */
static void
free_secret (char *secret)
{
  if (secret != NULL)
    secret_password_free (secret);
}

static void
free_secret_bytes (gpointer data)
{
  free_secret (data);
}

static void
set_busy (HelixAccount *self,
          gboolean      busy)
{
  if (self->busy == !!busy)
    return;

  self->busy = !!busy;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
}

/* g_set_str() is GLib 2.76. */
static gboolean
replace_str (char       **location,
             const char  *value)
{
  if (g_strcmp0 (*location, value) == 0)
    return FALSE;

  g_free (*location);
  *location = g_strdup (value);

  return TRUE;
}

static void
set_identity (HelixAccount *self,
              const char   *gateway_uri,
              const char   *username)
{
  if (replace_str (&self->gateway_uri, gateway_uri))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_GATEWAY_URI]);
  if (replace_str (&self->username, username))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_USERNAME]);
}

/* Takes @token (wiped when replaced). */
static void
set_token (HelixAccount *self,
           char         *token)
{
  gboolean was_signed_in = self->token != NULL;

  free_secret (self->token);
  self->token = token;

  if (was_signed_in != (token != NULL))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SIGNED_IN]);
}

/* Addresses {{{1 */

/**
 * helix_account_normalize_uri:
 * @gateway_uri: what the user typed, like `https://helix.example.org`
 * @error: where to put the error
 *
 * Checks a gateway address: http or https, a host, no user name or
 * password in it, no query or fragment. A path (a gateway behind a reverse
 * proxy under a prefix) is kept, without its trailing slash.
 *
 * Returns: (transfer full): the normalized address, or %NULL
 */
char *
helix_account_normalize_uri (const char  *gateway_uri,
                             GError     **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autofree char *stripped = NULL;
  g_autofree char *path = NULL;
  g_autofree char *lower_scheme = NULL;
  const char *scheme;
  const char *host;
  gsize len;
  int port;

  g_return_val_if_fail (gateway_uri != NULL, NULL);

  stripped = g_strstrip (g_strdup (gateway_uri));
  if (*stripped == '\0')
    {
      g_set_error_literal (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID,
                           _("Enter the address of your Helix gateway, like "
                             "“https://helix.example.org”."));
      return NULL;
    }

  uri = g_uri_parse (stripped, G_URI_FLAGS_ENCODED_PATH, NULL);
  scheme = uri != NULL ? g_uri_get_scheme (uri) : NULL;
  host = uri != NULL ? g_uri_get_host (uri) : NULL;
  if (uri == NULL || host == NULL || *host == '\0' ||
      (g_ascii_strcasecmp (scheme, "http") != 0 && g_ascii_strcasecmp (scheme, "https") != 0))
    {
      g_set_error_literal (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID,
                           _("The gateway address must start with “https://” or “http://” "
                             "and name a host, like “https://helix.example.org”."));
      return NULL;
    }

  if (g_uri_get_userinfo (uri) != NULL)
    {
      g_set_error_literal (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID,
                           _("The gateway address must not contain a user name or password. "
                             "Enter them in their own fields."));
      return NULL;
    }

  if (g_uri_get_query (uri) != NULL || g_uri_get_fragment (uri) != NULL)
    {
      g_set_error_literal (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID,
                           _("The gateway address must not contain “?” or “#”."));
      return NULL;
    }

  path = g_strdup (g_uri_get_path (uri));
  len = strlen (path);
  while (len > 0 && path[len - 1] == '/')
    path[--len] = '\0';

  /* One spelling per gateway: it is the keyring attribute. */
  lower_scheme = g_ascii_strdown (scheme, -1);
  port = g_uri_get_port (uri);
  if ((port == 80 && g_str_equal (lower_scheme, "http")) ||
      (port == 443 && g_str_equal (lower_scheme, "https")))
    port = -1;

  return g_uri_join (G_URI_FLAGS_ENCODED_PATH, lower_scheme, NULL, host, port, path, NULL, NULL);
}

/* A POST to @gateway_uri/@path (for a normalized @gateway_uri) that is not
 * redirected: what it carries goes to this address and no other. */
static SoupMessage *
new_post_message (const char *gateway_uri,
                  const char *path)
{
  g_autofree char *endpoint = g_strconcat (gateway_uri, "/", path, NULL);
  SoupMessage *msg = soup_message_new (SOUP_METHOD_POST, endpoint);

  g_assert (msg != NULL);
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);

  return msg;
}

/* The host name of @gateway_uri, or @gateway_uri itself if it has none. */
static char *
dup_host (const char *gateway_uri)
{
  g_autoptr(GUri) uri = g_uri_parse (gateway_uri, G_URI_FLAGS_NONE, NULL);

  return g_strdup (uri != NULL ? g_uri_get_host (uri) : gateway_uri);
}

/* Answers {{{1 */

/* The root object of a JSON answer no larger than ANSWER_MAX, or %NULL;
 * @parser holds it. */
static JsonObject *
parse_answer (JsonParser *parser,
              GBytes     *body)
{
  JsonNode *root;
  gsize len = 0;
  const char *data;

  if (body == NULL)
    return NULL;

  data = g_bytes_get_data (body, &len);
  if (len == 0 || len > ANSWER_MAX || !json_parser_load_from_data (parser, data, len, NULL))
    return NULL;

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;

  return json_node_get_object (root);
}

/* The string member @name of @object (which may be %NULL), or %NULL. */
static const char *
get_string_member (JsonObject *object,
                   const char *name)
{
  JsonNode *member = object != NULL ? json_object_get_member (object, name) : NULL;

  if (member == NULL || json_node_get_value_type (member) != G_TYPE_STRING)
    return NULL;

  return json_node_get_string (member);
}

/* The "message" of a gateway error body, if there is one. */
static char *
dup_error_message (GBytes *body)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *object = parse_answer (parser, body);
  JsonNode *member = object != NULL ? json_object_get_member (object, "error") : NULL;
  const char *message;

  if (member == NULL || !JSON_NODE_HOLDS_OBJECT (member))
    return NULL;

  message = get_string_member (json_node_get_object (member), "message");

  return message != NULL ? g_utf8_make_valid (message, -1) : NULL;
}

/* Whether @token can go into an Authorization header as it is. */
static gboolean
token_is_valid (const char *token)
{
  gsize len = strlen (token);

  if (len == 0 || len > TOKEN_MAX)
    return FALSE;

  for (gsize i = 0; i < len; i++)
    {
      if (!g_ascii_isalnum (token[i]) && strchr ("-._~+/=", token[i]) == NULL)
        return FALSE;
    }

  return TRUE;
}

/* The token of a login answer, or %NULL. */
static char *
read_token (GBytes *body)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  const char *token = get_string_member (parse_answer (parser, body), "token");

  if (token == NULL || !token_is_valid (token))
    return NULL;

  return g_strdup (token);
}

/* Seconds from a Retry-After header (delta-seconds or an HTTP date), or 0. */
static guint64
parse_retry_after (SoupMessage *msg)
{
  const char *value = soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                    "Retry-After");
  guint64 seconds = 0;

  if (value == NULL)
    return 0;

  if (g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT32, &seconds, NULL))
    return seconds;
  else
    {
      g_autoptr(GDateTime) when = soup_date_time_new_from_http_string (value);
      g_autoptr(GDateTime) now = g_date_time_new_now_utc ();

      if (when != NULL && g_date_time_compare (when, now) > 0)
        return (guint64) (g_date_time_difference (when, now) / G_USEC_PER_SEC) + 1;
    }

  return 0;
}

static void
set_rate_limited_error (GError      **error,
                        SoupMessage  *msg)
{
  guint64 seconds = parse_retry_after (msg);

  if (seconds == 0)
    g_set_error_literal (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_RATE_LIMITED,
                         _("Too many failed sign-ins. Wait a while, then try again."));
  else if (seconds < 120)
    g_set_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_RATE_LIMITED,
                 ngettext ("Too many failed sign-ins. Try again in %u second.",
                           "Too many failed sign-ins. Try again in %u seconds.",
                           (gulong) seconds),
                 (guint) seconds);
  else
    {
      guint minutes = (guint) MIN ((seconds + 59) / 60, G_MAXUINT);

      g_set_error (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_RATE_LIMITED,
                   ngettext ("Too many failed sign-ins. Try again in %u minute.",
                             "Too many failed sign-ins. Try again in %u minutes.",
                             minutes),
                   minutes);
    }
}

/* Turns a failed exchange (a transport @error, or an answer that is not 2xx)
 * into an account error. */
static GError *
translate_failure (const char  *gateway_uri,
                   SoupMessage *msg,
                   GBytes      *body,
                   GError      *transport_error)
{
  g_autofree char *host = dup_host (gateway_uri);
  g_autofree char *message = NULL;
  GError *error = NULL;
  guint status;

  if (transport_error != NULL)
    {
      if (g_error_matches (transport_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return g_error_copy (transport_error);

      return g_error_new (HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_NETWORK,
                          _("Could not reach the gateway at %s: %s. Check the address and "
                            "your network connection."),
                          host, transport_error->message);
    }

  status = soup_message_get_status (msg);
  message = dup_error_message (body);

  if (status == SOUP_STATUS_UNAUTHORIZED)
    return g_error_new_literal (HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_AUTH,
                                _("The user name or the password is wrong, or the account is "
                                  "disabled. Check them and try again."));

  if (status == STATUS_TOO_MANY_REQUESTS)
    {
      set_rate_limited_error (&error, msg);
      return error;
    }

  if (status == SOUP_STATUS_SERVICE_UNAVAILABLE)
    return g_error_new (HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_UNAVAILABLE,
                        _("The gateway at %s is busy or down for maintenance. Try again in a "
                          "moment."),
                        host);

  if (SOUP_STATUS_IS_REDIRECTION (status))
    {
      const char *location = soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                           "Location");
      g_autofree char *valid = g_utf8_make_valid (location != NULL ? location : "", -1);

      /* Credentials are never sent on to another address on their own. */
      return g_error_new (HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_PROTOCOL,
                          _("The gateway at %s redirects to “%s”. Check the gateway address; "
                            "it may have to start with “https://”."),
                          host, valid);
    }

  if (status == SOUP_STATUS_NOT_FOUND)
    return g_error_new (HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_PROTOCOL,
                        _("%s does not look like a Helix gateway (it has no sign-in page). "
                          "Check the address."),
                        host);

  if (message != NULL)
    return g_error_new (HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_PROTOCOL,
                        _("The gateway at %s refused the request (HTTP %u): %s"),
                        host, status, message);

  return g_error_new (HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_PROTOCOL,
                      _("The gateway at %s gave an unexpected answer (HTTP %u). Check the "
                        "address, or try again later."),
                      host, status);
}

/* Sends POST /api/v1/auth/logout with @token to @gateway_uri, calling
 * @callback with @user_data; returns the message, for logout_finish(). */
static SoupMessage *
send_logout (HelixAccount        *self,
             const char          *gateway_uri,
             const char          *token,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             user_data)
{
  g_autofree char *authorization = g_strconcat ("Bearer ", token, NULL);
  SoupMessage *msg = new_post_message (gateway_uri, LOGOUT_PATH);

  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                authorization);
  memset (authorization, 0, strlen (authorization));

  soup_session_send_and_read_async (self->session, msg, G_PRIORITY_DEFAULT, cancellable,
                                    callback, user_data);

  return msg;
}

/* Whether the logout of send_logout() means that the token no longer works:
 * revoked now, or (401) revoked before. A transport error goes to @error. */
static gboolean
logout_finish (GObject       *session,
               GAsyncResult  *result,
               SoupMessage   *msg,
               GError       **error)
{
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (session), result,
                                                               error);
  guint status = soup_message_get_status (msg);

  return body != NULL &&
         (SOUP_STATUS_IS_SUCCESSFUL (status) || status == SOUP_STATUS_UNAUTHORIZED);
}

/* Tasks {{{1 */

/* A task for an operation of @self, or %NULL, with the task failed, while
 * another operation is under way. */
static GTask *
start_task (HelixAccount        *self,
            GCancellable        *cancellable,
            gboolean             check_cancellable,
            gpointer             source_tag,
            GAsyncReadyCallback  callback,
            gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_task_set_check_cancellable (task, check_cancellable);

  if (self->busy)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                               _("The account is busy. Wait a moment, then try again."));
      return NULL;
    }

  return g_steal_pointer (&task);
}

/* The end of every operation: its boolean result. */
static gboolean
finish_task (HelixAccount  *self,
             GAsyncResult  *result,
             gpointer       source_tag,
             GError       **error)
{
  g_return_val_if_fail (HELIX_IS_ACCOUNT (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* The normalized @gateway_uri and the trimmed @username of a request, or
 * %FALSE with @task failed. */
static gboolean
read_identity (GTask       *task,
               const char  *gateway_uri,
               const char  *username,
               char       **out_gateway_uri,
               char       **out_username)
{
  g_autoptr(GError) error = NULL;

  *out_gateway_uri = helix_account_normalize_uri (gateway_uri, &error);
  if (*out_gateway_uri == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return FALSE;
    }

  *out_username = g_strstrip (g_strdup (username));
  if (**out_username == '\0')
    {
      g_task_return_new_error (task, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID,
                               _("Enter your user name on the gateway."));
      return FALSE;
    }

  return TRUE;
}

/* Sign in {{{1 */

typedef struct
{
  char        *gateway_uri;
  char        *username;
  char        *token;
  SoupMessage *msg;
  GError      *error;
} SignIn;

static void
sign_in_free (SignIn *sign_in)
{
  g_free (sign_in->gateway_uri);
  g_free (sign_in->username);
  free_secret (sign_in->token);
  g_clear_object (&sign_in->msg);
  g_clear_error (&sign_in->error);
  g_free (sign_in);
}

static void
sign_in_revoked_cb (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HelixAccount *self = g_task_get_source_object (task);
  SignIn *sign_in = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  GError *failure = g_steal_pointer (&sign_in->error);

  if (logout_finish (object, result, sign_in->msg, &error))
    g_debug ("Revoked the token that could not be stored");
  else if (failure->domain == HELIX_ACCOUNT_ERROR)
    {
      g_autofree char *host = dup_host (sign_in->gateway_uri);
      g_autofree char *message = NULL;

      g_debug ("Could not revoke the token that could not be stored: %s",
               error != NULL ? error->message : soup_message_get_reason_phrase (sign_in->msg));
      message = g_strdup_printf (_("%s The gateway at %s could not be told to forget the new "
                                   "device: remove it from your devices on the gateway."),
                                 failure->message, host);
      g_free (failure->message);
      failure->message = g_steal_pointer (&message);
    }

  set_busy (self, FALSE);
  g_task_return_error (task, failure);
}

/* Revokes the token of @task's sign-in, then fails the task with @error. */
static void
sign_in_fail_and_revoke (GTask  *task,
                         GError *error)
{
  HelixAccount *self = g_task_get_source_object (task);
  SignIn *sign_in = g_task_get_task_data (task);

  g_assert (sign_in->error == NULL);
  sign_in->error = error;

  g_clear_object (&sign_in->msg);
  /* Not cancellable: a token that could not be stored must not stay valid. */
  sign_in->msg = send_logout (self, sign_in->gateway_uri, sign_in->token, NULL,
                              sign_in_revoked_cb, task);
  free_secret (g_steal_pointer (&sign_in->token));
}

static void
sign_in_stored_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HelixAccount *self = g_task_get_source_object (task);
  SignIn *sign_in = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!secret_password_store_finish (result, &error))
    {
      GError *failure;

      g_debug ("Could not store the device token: %s", error->message);

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        failure = g_steal_pointer (&error);
      else
        failure = g_error_new (HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_KEYRING,
                               _("The keyring is not available, so Helix did not sign in. "
                                 "Nothing was stored. Make sure the keyring (for example GNOME "
                                 "Keyring) is running and unlocked, then try again. (%s)"),
                               error->message);

      sign_in_fail_and_revoke (g_steal_pointer (&task), failure);
      return;
    }

  g_debug ("Signed in as %s on %s", sign_in->username, sign_in->gateway_uri);

  set_identity (self, sign_in->gateway_uri, sign_in->username);
  set_token (self, g_steal_pointer (&sign_in->token));
  set_busy (self, FALSE);
  g_task_return_boolean (task, TRUE);
}

static void
sign_in_logged_in_cb (GObject      *object,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HelixAccount *self = g_task_get_source_object (task);
  SignIn *sign_in = g_task_get_task_data (task);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *host = NULL;
  g_autofree char *label = NULL;
  GCancellable *cancellable;

  body = soup_session_send_and_read_finish (SOUP_SESSION (object), result, &error);

  if (error != NULL || soup_message_get_status (sign_in->msg) != SOUP_STATUS_OK)
    {
      set_busy (self, FALSE);
      g_task_return_error (task, translate_failure (sign_in->gateway_uri, sign_in->msg, body,
                                                    error));
      return;
    }

  sign_in->token = read_token (body);
  if (sign_in->token == NULL)
    {
      g_autofree char *bad_host = dup_host (sign_in->gateway_uri);

      set_busy (self, FALSE);
      g_task_return_new_error (task, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_PROTOCOL,
                               _("The gateway at %s accepted the sign-in but sent no usable "
                                 "device token. Check that the address is a Helix gateway."),
                               bad_host);
      return;
    }

  if (g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    {
      sign_in_fail_and_revoke (g_steal_pointer (&task),
                               g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                    _("The sign-in was cancelled.")));
      return;
    }

  host = dup_host (sign_in->gateway_uri);
  /* Translators: the label of the keyring item; the first %s is a user
   * name, the second a host name. */
  label = g_strdup_printf (_("Helix device token for %s on %s"), sign_in->username, host);

  cancellable = g_task_get_cancellable (task);
  secret_password_store (get_schema (), SECRET_COLLECTION_DEFAULT, label, sign_in->token,
                         cancellable, sign_in_stored_cb,
                         g_steal_pointer (&task),
                         "gateway", sign_in->gateway_uri,
                         "username", sign_in->username,
                         NULL);
}

static GBytes *
build_login_body (const char *username,
                  const char *password,
                  const char *device_name)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  char *data;
  gsize len = 0;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "username");
  json_builder_add_string_value (builder, username);
  json_builder_set_member_name (builder, "password");
  json_builder_add_string_value (builder, password);
  json_builder_set_member_name (builder, "device");
  json_builder_add_string_value (builder, device_name);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  data = json_generator_to_data (generator, &len);

  /* The body is wiped when libsoup is done with it. */
  return g_bytes_new_with_free_func (data, len, free_secret_bytes, data);
}

/* The host name, cut to what the gateway takes, at a character boundary. */
static char *
dup_default_device_name (void)
{
  g_autofree char *name = g_utf8_make_valid (g_get_host_name (), -1);
  const char *end;

  if (strlen (name) <= DEVICE_NAME_MAX)
    return g_steal_pointer (&name);

  end = g_utf8_find_prev_char (name, name + DEVICE_NAME_MAX + 1);
  return g_strndup (name, end - name);
}

/**
 * helix_account_sign_in_async:
 * @self: a #HelixAccount
 * @gateway_uri: the gateway's address (http or https)
 * @username: the user name on the gateway
 * @password: the password; not kept
 * @device_name: (nullable): how the gateway lists this device; the host name if %NULL
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: for @callback
 *
 * Signs in on the gateway and stores the device token in the default keyring
 * collection. A token that cannot be stored, or that arrives after
 * @cancellable was cancelled, is revoked on the gateway again.
 */
void
helix_account_sign_in_async (HelixAccount        *self,
                             const char          *gateway_uri,
                             const char          *username,
                             const char          *password,
                             const char          *device_name,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autofree char *default_device = NULL;
  SignIn *sign_in;

  g_return_if_fail (HELIX_IS_ACCOUNT (self));
  g_return_if_fail (gateway_uri != NULL);
  g_return_if_fail (username != NULL);
  g_return_if_fail (password != NULL);
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  /* Cancelling after the token was stored does not undo the sign-in; before
   * that, the callbacks return G_IO_ERROR_CANCELLED themselves. */
  task = start_task (self, cancellable, FALSE, helix_account_sign_in_async, callback, user_data);
  if (task == NULL)
    return;

  if (self->token != NULL)
    {
      g_task_return_new_error (task, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID,
                               _("Already signed in. Sign out first."));
      return;
    }

  sign_in = g_new0 (SignIn, 1);
  g_task_set_task_data (task, sign_in, (GDestroyNotify) sign_in_free);

  if (!read_identity (task, gateway_uri, username, &sign_in->gateway_uri, &sign_in->username))
    return;

  if (!g_utf8_validate (sign_in->username, -1, NULL))
    {
      g_task_return_new_error (task, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID,
                               _("Enter your user name on the gateway."));
      return;
    }

  if (*password == '\0' || strlen (password) > PASSWORD_MAX ||
      !g_utf8_validate (password, -1, NULL))
    {
      g_task_return_new_error (task, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID,
                               _("Enter your password on the gateway."));
      return;
    }

  if (device_name == NULL || *device_name == '\0')
    device_name = default_device = dup_default_device_name ();
  if (strlen (device_name) > DEVICE_NAME_MAX || !g_utf8_validate (device_name, -1, NULL))
    {
      g_task_return_new_error (task, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID,
                               _("The device name must be valid text of at most %d bytes."),
                               DEVICE_NAME_MAX);
      return;
    }

  sign_in->msg = new_post_message (sign_in->gateway_uri, LOGIN_PATH);

  body = build_login_body (sign_in->username, password, device_name);
  soup_message_set_request_body_from_bytes (sign_in->msg, "application/json", body);

  g_debug ("Signing in as %s on %s", sign_in->username, sign_in->gateway_uri);

  set_busy (self, TRUE);
  soup_session_send_and_read_async (self->session, sign_in->msg, G_PRIORITY_DEFAULT,
                                    cancellable, sign_in_logged_in_cb, g_steal_pointer (&task));
}

/**
 * helix_account_sign_in_finish:
 * @self: a #HelixAccount
 * @result: the result
 * @error: where to put the error (%HELIX_ACCOUNT_ERROR)
 *
 * Returns: whether the account is signed in, with the token in the keyring
 */
gboolean
helix_account_sign_in_finish (HelixAccount  *self,
                              GAsyncResult  *result,
                              GError       **error)
{
  return finish_task (self, result, helix_account_sign_in_async, error);
}

/* Load {{{1 */

/* Through secret_service_search() rather than secret_password_lookup(): the
 * latter leaks a D-Bus reply for every item it finds in libsecret 0.20. */

typedef struct
{
  char          *gateway_uri;
  char          *username;
  SecretService *service;
} Load;

static void
load_free (Load *load)
{
  g_free (load->gateway_uri);
  g_free (load->username);
  g_clear_object (&load->service);
  g_free (load);
}

/* Takes @task and @error. */
static void
load_fail (GTask  *owned_task,
           GError *error)
{
  g_autoptr(GTask) task = owned_task;
  HelixAccount *self = g_task_get_source_object (task);

  set_busy (self, FALSE);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_task_return_error (task, error);
  else
    {
      g_task_return_new_error (task, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_KEYRING,
                               _("Could not read the device token from the keyring: %s. "
                                 "Unlock the keyring, or sign in again."),
                               error->message);
      g_error_free (error);
    }
}

static void
load_searched_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HelixAccount *self = g_task_get_source_object (task);
  Load *load = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  GList *items;
  char *token = NULL;

  items = secret_service_search_finish (SECRET_SERVICE (object), result, &error);
  if (error != NULL)
    {
      load_fail (g_steal_pointer (&task), g_steal_pointer (&error));
      return;
    }

  if (items != NULL)
    {
      SecretValue *value = secret_item_get_secret (items->data);

      g_list_free_full (items, g_object_unref);

      /* Found, but still locked: the unlock prompt was dismissed. */
      if (value == NULL)
        {
          load_fail (g_steal_pointer (&task),
                     g_error_new_literal (HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_KEYRING,
                                          _("The keyring is locked")));
          return;
        }

      token = secret_value_unref_to_password (value, NULL);
      if (token != NULL && !token_is_valid (token))
        {
          g_debug ("The keyring item for %s on %s is not a device token; ignoring it",
                   load->username, load->gateway_uri);
          g_clear_pointer (&token, free_secret);
        }
    }

  if (token != NULL)
    g_debug ("Found a device token for %s on %s", load->username, load->gateway_uri);
  else
    g_debug ("Found no device token for %s on %s", load->username, load->gateway_uri);

  set_busy (self, FALSE);
  set_identity (self, load->gateway_uri, load->username);
  set_token (self, token);
  g_task_return_boolean (task, TRUE);
}

static void
load_got_service_cb (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Load *load = g_task_get_task_data (task);
  g_autoptr(GHashTable) attributes = NULL;
  g_autoptr(GError) error = NULL;
  GCancellable *cancellable;

  load->service = secret_service_get_finish (result, &error);
  if (load->service == NULL)
    {
      load_fail (g_steal_pointer (&task), g_steal_pointer (&error));
      return;
    }

  attributes = secret_attributes_build (get_schema (),
                                        "gateway", load->gateway_uri,
                                        "username", load->username,
                                        NULL);
  cancellable = g_task_get_cancellable (task);
  secret_service_search (load->service, get_schema (), attributes,
                         SECRET_SEARCH_UNLOCK | SECRET_SEARCH_LOAD_SECRETS,
                         cancellable, load_searched_cb, g_steal_pointer (&task));
}

/**
 * helix_account_load_async:
 * @self: a #HelixAccount
 * @gateway_uri: the gateway's address
 * @username: the user name on the gateway
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: for @callback
 *
 * Looks up the device token of @username on @gateway_uri in the keyring.
 * The account is signed in afterwards if there is one. Forgets the token in
 * memory of another account (without signing that one out).
 */
void
helix_account_load_async (HelixAccount        *self,
                          const char          *gateway_uri,
                          const char          *username,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Load *load;

  g_return_if_fail (HELIX_IS_ACCOUNT (self));
  g_return_if_fail (gateway_uri != NULL);
  g_return_if_fail (username != NULL);
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = start_task (self, cancellable, TRUE, helix_account_load_async, callback, user_data);
  if (task == NULL)
    return;

  load = g_new0 (Load, 1);
  g_task_set_task_data (task, load, (GDestroyNotify) load_free);

  if (!read_identity (task, gateway_uri, username, &load->gateway_uri, &load->username))
    return;

  set_busy (self, TRUE);
  secret_service_get (SECRET_SERVICE_OPEN_SESSION, cancellable, load_got_service_cb,
                      g_steal_pointer (&task));
}

/**
 * helix_account_load_finish:
 * @self: a #HelixAccount
 * @result: the result
 * @error: where to put the error
 *
 * Returns: whether the keyring could be read; #HelixAccount:signed-in tells
 *   whether it held a token
 */
gboolean
helix_account_load_finish (HelixAccount  *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  return finish_task (self, result, helix_account_load_async, error);
}

/* Sign out {{{1 */

typedef struct
{
  SoupMessage *msg;
  GError      *revoke_error;
} SignOut;

static void
sign_out_free (SignOut *sign_out)
{
  g_clear_object (&sign_out->msg);
  g_clear_error (&sign_out->revoke_error);
  g_free (sign_out);
}

static void
sign_out_cleared_cb (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HelixAccount *self = g_task_get_source_object (task);
  SignOut *sign_out = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  secret_password_clear_finish (result, &error);

  set_token (self, NULL);
  set_busy (self, FALSE);

  if (error != NULL)
    {
      g_task_return_new_error (task, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_KEYRING,
                               _("Signed out, but the device token could not be removed from "
                                 "the keyring: %s. Remove the item “%s” with the Passwords and "
                                 "Keys application."),
                               error->message, HELIX_ACCOUNT_SECRET_SCHEMA_NAME);
      return;
    }

  if (sign_out->revoke_error != NULL)
    {
      g_task_return_error (task, g_steal_pointer (&sign_out->revoke_error));
      return;
    }

  g_debug ("Signed out of %s", self->gateway_uri);
  g_task_return_boolean (task, TRUE);
}

static void
sign_out_revoked_cb (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HelixAccount *self = g_task_get_source_object (task);
  SignOut *sign_out = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!logout_finish (object, result, sign_out->msg, &error))
    {
      g_autofree char *host = dup_host (self->gateway_uri);
      g_autofree char *detail = NULL;

      if (error != NULL)
        detail = g_strdup (error->message);
      else
        detail = g_strdup_printf ("HTTP %u", soup_message_get_status (sign_out->msg));

      g_debug ("Could not revoke the device token: %s", detail);
      sign_out->revoke_error =
        g_error_new (HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_NOT_REVOKED,
                     _("Signed out on this device, but the gateway at %s could not be told "
                       "to revoke the device token (%s). Remove this device from your devices "
                       "on the gateway."),
                     host, detail);
    }

  /* The local copy goes whatever the gateway said. */
  secret_password_clear (get_schema (), NULL, sign_out_cleared_cb, g_steal_pointer (&task),
                         "gateway", self->gateway_uri,
                         "username", self->username,
                         NULL);
}

/**
 * helix_account_sign_out_async:
 * @self: a #HelixAccount
 * @cancellable: (nullable): a #GCancellable; it stops waiting for the
 *   gateway, but the token is removed from this device anyway
 * @callback: called when done
 * @user_data: for @callback
 *
 * Revokes the device token on the gateway, then removes it from the keyring
 * and from memory. If the gateway cannot be reached, the token is still
 * removed here and the result is %HELIX_ACCOUNT_ERROR_NOT_REVOKED.
 */
void
helix_account_sign_out_async (HelixAccount        *self,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  SignOut *sign_out;

  g_return_if_fail (HELIX_IS_ACCOUNT (self));
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  /* The token is gone from this device even when the wait was cancelled. */
  task = start_task (self, cancellable, FALSE, helix_account_sign_out_async, callback, user_data);
  if (task == NULL)
    return;

  if (self->token == NULL)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  sign_out = g_new0 (SignOut, 1);
  g_task_set_task_data (task, sign_out, (GDestroyNotify) sign_out_free);

  set_busy (self, TRUE);
  sign_out->msg = send_logout (self, self->gateway_uri, self->token, cancellable,
                               sign_out_revoked_cb, g_steal_pointer (&task));
}

/**
 * helix_account_sign_out_finish:
 * @self: a #HelixAccount
 * @result: the result
 * @error: where to put the error
 *
 * The account is signed out afterwards even on failure.
 *
 * Returns: whether the token was revoked and removed from the keyring
 */
gboolean
helix_account_sign_out_finish (HelixAccount  *self,
                               GAsyncResult  *result,
                               GError       **error)
{
  return finish_task (self, result, helix_account_sign_out_async, error);
}

/* Devices {{{1 */

/* The answer of GET /api/v1/devices, at most: a few hundred bytes a device. */
#define DEVICES_ANSWER_MAX (1024 * 1024)
#define DEVICES_MAX        1000
#define DEVICES_DEPTH_MAX  4

void
helix_account_device_free (HelixAccountDevice *device)
{
  if (device == NULL)
    return;

  g_free (device->id);
  g_free (device->name);
  g_free (device);
}

/* An ISO 8601 time member as µs since the Unix epoch, or 0. */
static gint64
get_time_member (JsonObject *object,
                 const char *name)
{
  const char *text = get_string_member (object, name);
  g_autoptr(GDateTime) time = text != NULL ? g_date_time_new_from_iso8601 (text, NULL) : NULL;

  return time != NULL ? g_date_time_to_unix (time) * G_USEC_PER_SEC : 0;
}

static gboolean
get_boolean_member (JsonObject *object,
                    const char *name)
{
  JsonNode *member = json_object_get_member (object, name);

  return member != NULL && json_node_get_value_type (member) == G_TYPE_BOOLEAN &&
         json_node_get_boolean (member);
}

/* The devices of a GET /api/v1/devices answer, or %NULL if it is not one. */
static GPtrArray *
parse_devices (GBytes *body)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GPtrArray) devices = NULL;
  const char *data;
  gsize len = 0;
  JsonNode *root;
  JsonArray *array;

  data = g_bytes_get_data (body, &len);
  if (!helix_json_check_text (data, len, DEVICES_ANSWER_MAX, DEVICES_DEPTH_MAX, NULL) ||
      !json_parser_load_from_data (parser, data, len, NULL))
    return NULL;

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_ARRAY (root))
    return NULL;

  array = json_node_get_array (root);
  devices = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_account_device_free);
  for (guint i = 0; i < json_array_get_length (array) && i < DEVICES_MAX; i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      JsonObject *object;
      const char *id, *name;
      HelixAccountDevice *device;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        return NULL;

      object = json_node_get_object (node);
      id = get_string_member (object, "id");
      name = get_string_member (object, "name");
      if (id == NULL || name == NULL)
        return NULL;

      device = g_new0 (HelixAccountDevice, 1);
      device->id = g_utf8_make_valid (id, -1);
      device->name = g_utf8_make_valid (name, -1);
      device->created_us = get_time_member (object, "created");
      device->last_seen_us = get_time_member (object, "last_seen");
      device->current = get_boolean_member (object, "current");
      device->revoked = get_boolean_member (object, "revoked");
      g_ptr_array_add (devices, device);
    }

  return g_steal_pointer (&devices);
}

/* An authorized request to the gateway's API: the answer parsed, or why not. */

typedef gpointer (*ParseFunc) (GBytes *body);

typedef struct
{
  SoupMessage    *msg;
  char           *gateway_uri;
  ParseFunc       parse;
  GDestroyNotify  free_result;
  const char     *what;   /* "a device list", for the error */
} Get;

static void
get_free (Get *get)
{
  g_clear_object (&get->msg);
  g_free (get->gateway_uri);
  g_free (get);
}

static void
get_cb (GObject      *object,
        GAsyncResult *result,
        gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Get *get = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = NULL;
  gpointer parsed;
  guint status;

  body = soup_session_send_and_read_finish (SOUP_SESSION (object), result, &error);
  status = soup_message_get_status (get->msg);

  if (body != NULL && status == SOUP_STATUS_UNAUTHORIZED)
    {
      g_task_return_new_error (task, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_AUTH,
                               _("The gateway no longer accepts this device. Sign in again in "
                                 "Preferences."));
      return;
    }

  if (body != NULL && status == SOUP_STATUS_FORBIDDEN)
    {
      g_autofree char *host = dup_host (get->gateway_uri);

      g_task_return_new_error (task, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_FORBIDDEN,
                               _("Only administrators of the gateway at %s may do this."),
                               host);
      return;
    }

  if (body != NULL && status == SOUP_STATUS_NOT_FOUND)
    {
      /* A gateway's own "not found" (an unknown flag) is not a wrong address. */
      g_autofree char *message = dup_error_message (body);

      if (message != NULL)
        {
          g_autofree char *host = dup_host (get->gateway_uri);

          g_task_return_new_error (task, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_PROTOCOL,
                                   _("The gateway at %s refused the request (HTTP %u): %s"),
                                   host, status, message);
          return;
        }
    }

  if (body == NULL || !SOUP_STATUS_IS_SUCCESSFUL (status))
    {
      g_task_return_error (task, translate_failure (get->gateway_uri, get->msg, body, error));
      return;
    }

  parsed = get->parse (body);
  if (parsed == NULL)
    {
      g_autofree char *host = dup_host (get->gateway_uri);

      g_task_return_new_error (task, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_PROTOCOL,
                               /* Translators: the first %s is what was asked for, such as "a device list" */
                               _("The gateway at %s answered with %s Helix does not understand. "
                                 "Check that it runs the same version of Helix."),
                               host, get->what);
      return;
    }

  g_task_return_pointer (task, parsed, get->free_result);
}

/* Sends @method @path with the device's token and, if @body is not %NULL, a
 * JSON body; @task gets what @parse made of the answer. */
static void
authorized_request (HelixAccount   *self,
                    GTask          *task,
                    const char     *method,
                    const char     *path,
                    GBytes         *body,
                    ParseFunc       parse,
                    GDestroyNotify  free_result,
                    const char     *what)
{
  g_autofree char *endpoint = NULL;
  g_autofree char *authorization = NULL;
  Get *get;

  get = g_new0 (Get, 1);
  get->gateway_uri = g_strdup (self->gateway_uri);
  get->parse = parse;
  get->free_result = free_result;
  get->what = what;
  endpoint = g_strconcat (self->gateway_uri, "/", path, NULL);
  get->msg = soup_message_new (method, endpoint);
  g_assert (get->msg != NULL);
  /* The token goes to this address and no other. */
  soup_message_add_flags (get->msg, SOUP_MESSAGE_NO_REDIRECT);
  authorization = g_strconcat ("Bearer ", self->token, NULL);
  soup_message_headers_replace (soup_message_get_request_headers (get->msg), "Authorization",
                                authorization);
  memset (authorization, 0, strlen (authorization));
  if (body != NULL)
    soup_message_set_request_body_from_bytes (get->msg, "application/json", body);
  g_task_set_task_data (task, get, (GDestroyNotify) get_free);

  soup_session_send_and_read_async (self->session, get->msg, G_PRIORITY_DEFAULT,
                                    g_task_get_cancellable (task), get_cb, g_object_ref (task));
}

static void
authorized_get (HelixAccount   *self,
                GTask          *task,
                const char     *path,
                ParseFunc       parse,
                GDestroyNotify  free_result,
                const char     *what)
{
  authorized_request (self, task, SOUP_METHOD_GET, path, NULL, parse, free_result, what);
}

/**
 * helix_account_list_devices_async:
 * @self: a #HelixAccount, signed in
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the devices
 * @user_data: for @callback
 *
 * Lists the account's devices (GET /api/v1/devices).
 */
void
helix_account_list_devices_async (HelixAccount        *self,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (HELIX_IS_ACCOUNT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_account_list_devices_async);

  if (self->token == NULL || self->gateway_uri == NULL)
    {
      g_task_return_new_error (task, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID,
                               _("Not signed in to a gateway. Sign in in Preferences to see "
                                 "your devices."));
      return;
    }

  authorized_get (self, task, DEVICES_PATH, (ParseFunc) parse_devices,
                  (GDestroyNotify) g_ptr_array_unref, _("a device list"));
}

/* The gateway's audit checkpoint {{{1 */

#define CHECKPOINT_ANSWER_MAX (16 * 1024)
#define CHECKPOINT_DEPTH_MAX  2

void
helix_account_checkpoint_free (HelixAccountCheckpoint *checkpoint)
{
  if (checkpoint == NULL)
    return;

  g_free (checkpoint->origin);
  g_free (checkpoint->note);
  g_free (checkpoint);
}

/* A GET /api/v1/audit/checkpoint answer: {"origin", "public_key", "checkpoint"|null}. */
static HelixAccountCheckpoint *
parse_checkpoint (GBytes *body)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree guchar *key = NULL;
  HelixAccountCheckpoint *checkpoint;
  const char *data, *origin, *public_key;
  JsonObject *object;
  JsonNode *root, *note;
  gsize len = 0;

  data = g_bytes_get_data (body, &len);
  if (!helix_json_check_text (data, len, CHECKPOINT_ANSWER_MAX, CHECKPOINT_DEPTH_MAX, NULL) ||
      !json_parser_load_from_data (parser, data, len, NULL) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;

  object = json_node_get_object (root);
  origin = get_string_member (object, "origin");
  public_key = get_string_member (object, "public_key");
  note = json_object_get_member (object, "checkpoint");
  if (origin == NULL || public_key == NULL || note == NULL ||
      !(JSON_NODE_HOLDS_NULL (note) || json_node_get_value_type (note) == G_TYPE_STRING))
    return NULL;

  key = g_base64_decode (public_key, &len);
  if (len != sizeof checkpoint->public_key)
    return NULL;

  checkpoint = g_new0 (HelixAccountCheckpoint, 1);
  checkpoint->origin = g_strdup (origin);
  memcpy (checkpoint->public_key, key, sizeof checkpoint->public_key);
  if (JSON_NODE_HOLDS_VALUE (note))
    checkpoint->note = g_strdup (json_node_get_string (note));

  return checkpoint;
}

/**
 * helix_account_get_audit_checkpoint_async:
 * @self: a #HelixAccount, signed in
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the checkpoint
 * @user_data: for @callback
 *
 * Asks the gateway for the newest signed checkpoint of its audit log and the
 * key it signs them with (GET /api/v1/audit/checkpoint): devices keep them,
 * so that a log cut or rewritten later does not go unnoticed.
 */
void
helix_account_get_audit_checkpoint_async (HelixAccount        *self,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (HELIX_IS_ACCOUNT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_account_get_audit_checkpoint_async);

  if (self->token == NULL || self->gateway_uri == NULL)
    {
      g_task_return_new_error (task, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID,
                               _("Not signed in to a gateway."));
      return;
    }

  authorized_get (self, task, CHECKPOINT_PATH, (ParseFunc) parse_checkpoint,
                  (GDestroyNotify) helix_account_checkpoint_free, _("an audit checkpoint"));
}

/**
 * helix_account_get_audit_checkpoint_finish:
 * @self: a #HelixAccount
 * @result: the result
 * @error: where to put the error
 *
 * Returns: (transfer full): the gateway's newest checkpoint (its signature
 *   not checked yet) and key
 */
HelixAccountCheckpoint *
helix_account_get_audit_checkpoint_finish (HelixAccount  *self,
                                           GAsyncResult  *result,
                                           GError       **error)
{
  g_return_val_if_fail (HELIX_IS_ACCOUNT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * helix_account_list_devices_finish:
 * @self: a #HelixAccount
 * @result: the result
 * @error: where to put the error
 *
 * Returns: (transfer container) (element-type HelixAccountDevice): the
 *   account's devices, as the gateway lists them
 */
GPtrArray *
helix_account_list_devices_finish (HelixAccount  *self,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  g_return_val_if_fail (HELIX_IS_ACCOUNT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == helix_account_list_devices_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Administration of the gateway (PROTOCOL.md §12) {{{1 */

#define MAINTENANCE_PATH   "api/v1/admin/maintenance"
#define FLAGS_PATH         "api/v1/admin/flags"
#define VERIFY_PATH        "api/v1/audit/verify"
/* libsoup 3.2 has no SOUP_METHOD_PATCH. */
#define METHOD_PATCH       "PATCH"
#define ADMIN_ANSWER_MAX   (64 * 1024)
#define ADMIN_DEPTH_MAX    4
#define FLAGS_MAX          256
#define FLAG_NAME_MAX      64
#define NOTE_MAX           4096

/* Checks that @self can ask the gateway, or returns an error to @task. */
static gboolean
check_signed_in (HelixAccount *self,
                 GTask        *task)
{
  if (self->token != NULL && self->gateway_uri != NULL)
    return TRUE;

  g_task_return_new_error (task, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID,
                           _("Not signed in to a gateway."));
  return FALSE;
}

/* The root object of an administration answer within the limits, or %NULL;
 * @parser holds it. */
static JsonObject *
parse_admin_answer (JsonParser *parser,
                    GBytes     *body)
{
  const char *data;
  gsize len = 0;
  JsonNode *root;

  data = g_bytes_get_data (body, &len);
  if (!helix_json_check_text (data, len, ADMIN_ANSWER_MAX, ADMIN_DEPTH_MAX, NULL) ||
      !json_parser_load_from_data (parser, data, len, NULL) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;

  return json_node_get_object (root);
}

/* The integer member @name of @object in [@min, @max], or FALSE. */
static gboolean
get_int_member (JsonObject *object,
                const char *name,
                gint64      min,
                gint64      max,
                gint64     *value)
{
  JsonNode *member = json_object_get_member (object, name);

  if (member == NULL || json_node_get_value_type (member) != G_TYPE_INT64)
    return FALSE;

  *value = json_node_get_int (member);

  return *value >= min && *value <= max;
}

/* Whether @object has a boolean member @name. */
static gboolean
has_boolean_member (JsonObject *object,
                    const char *name)
{
  JsonNode *member = json_object_get_member (object, name);

  return member != NULL && json_node_get_value_type (member) == G_TYPE_BOOLEAN;
}

/* @builder's object as a request body. */
static GBytes *
builder_to_bytes (JsonBuilder *builder)
{
  g_autoptr(JsonNode) root = json_builder_get_root (builder);
  char *text = json_to_string (root, FALSE);

  return g_bytes_new_take (text, strlen (text));
}

/* Maintenance {{{2 */

static gboolean *
parse_maintenance (GBytes *body)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *object = parse_admin_answer (parser, body);

  if (object == NULL || !has_boolean_member (object, "maintenance"))
    return NULL;

  return g_memdup2 (&(gboolean) { get_boolean_member (object, "maintenance") }, sizeof (gboolean));
}

/**
 * helix_account_get_maintenance_async:
 * @self: a #HelixAccount, signed in
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: for @callback
 *
 * Asks whether the gateway is in maintenance mode
 * (GET /api/v1/admin/maintenance). Only administrators may ask: for anyone
 * else this fails with %HELIX_ACCOUNT_ERROR_FORBIDDEN, which also tells
 * whether the account is an administrator.
 */
void
helix_account_get_maintenance_async (HelixAccount        *self,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (HELIX_IS_ACCOUNT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_account_get_maintenance_async);

  if (check_signed_in (self, task))
    authorized_get (self, task, MAINTENANCE_PATH, (ParseFunc) parse_maintenance, g_free,
                    _("a maintenance state"));
}

/**
 * helix_account_set_maintenance_async:
 * @self: a #HelixAccount, signed in as an administrator
 * @maintenance: whether the gateway goes into maintenance mode
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: for @callback
 *
 * Switches the gateway's maintenance mode (PUT /api/v1/admin/maintenance).
 * Finish with helix_account_maintenance_finish().
 */
void
helix_account_set_maintenance_async (HelixAccount        *self,
                                     gboolean             maintenance,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(GBytes) body = NULL;

  g_return_if_fail (HELIX_IS_ACCOUNT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_account_get_maintenance_async);

  if (!check_signed_in (self, task))
    return;

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "maintenance");
  json_builder_add_boolean_value (builder, !!maintenance);
  json_builder_end_object (builder);
  body = builder_to_bytes (builder);

  authorized_request (self, task, SOUP_METHOD_PUT, MAINTENANCE_PATH, body,
                      (ParseFunc) parse_maintenance, g_free, _("a maintenance state"));
}

/**
 * helix_account_maintenance_finish:
 * @self: a #HelixAccount
 * @result: the result of helix_account_get_maintenance_async() or
 *   helix_account_set_maintenance_async()
 * @maintenance: (out): whether the gateway is in maintenance mode now
 * @error: where to put the error
 *
 * Returns: whether the gateway answered
 */
gboolean
helix_account_maintenance_finish (HelixAccount  *self,
                                  GAsyncResult  *result,
                                  gboolean      *maintenance,
                                  GError       **error)
{
  g_autofree gboolean *answer = NULL;

  g_return_val_if_fail (HELIX_IS_ACCOUNT (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        helix_account_get_maintenance_async, FALSE);

  answer = g_task_propagate_pointer (G_TASK (result), error);
  if (answer == NULL)
    return FALSE;

  if (maintenance != NULL)
    *maintenance = *answer;

  return TRUE;
}

/* Feature flags {{{2 */

void
helix_account_flag_free (HelixAccountFlag *flag)
{
  if (flag == NULL)
    return;

  g_free (flag->name);
  g_free (flag->killed_by);
  g_free (flag->kill_variable);
  g_free (flag->source);
  g_free (flag);
}

/* Whether @name can be a flag's name and go into a path as it is. */
static gboolean
flag_name_is_valid (const char *name)
{
  gsize len = strlen (name);

  if (len == 0 || len > FLAG_NAME_MAX)
    return FALSE;

  for (gsize i = 0; i < len; i++)
    {
      if (!g_ascii_islower (name[i]) && !g_ascii_isdigit (name[i]) && name[i] != '-')
        return FALSE;
    }

  return TRUE;
}

/* A flag as GET /api/v1/admin/flags lists it, or %NULL. */
static HelixAccountFlag *
read_flag (JsonNode *node)
{
  g_autoptr(HelixAccountFlag) flag = NULL;
  const char *name, *source, *killed_by, *kill_variable;
  JsonObject *object;
  gint64 percent;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return NULL;

  object = json_node_get_object (node);
  name = get_string_member (object, "name");
  source = get_string_member (object, "source");
  killed_by = get_string_member (object, "killed_by");
  kill_variable = get_string_member (object, "kill_variable");
  if (name == NULL || !flag_name_is_valid (name) || source == NULL ||
      !has_boolean_member (object, "enabled") || !has_boolean_member (object, "killed") ||
      !get_int_member (object, "percent", 0, 100, &percent))
    return NULL;

  flag = g_new0 (HelixAccountFlag, 1);
  flag->name = g_strdup (name);
  flag->enabled = get_boolean_member (object, "enabled");
  flag->percent = (guint) percent;
  flag->killed = get_boolean_member (object, "killed");
  flag->killed_by = killed_by != NULL ? g_utf8_make_valid (killed_by, -1) : NULL;
  flag->kill_variable = kill_variable != NULL ? g_utf8_make_valid (kill_variable, -1) : NULL;
  flag->source = g_utf8_make_valid (source, -1);
  flag->changed_us = get_time_member (object, "changed");

  return g_steal_pointer (&flag);
}

static GPtrArray *
parse_flags (GBytes *body)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GPtrArray) flags = NULL;
  JsonObject *object = parse_admin_answer (parser, body);
  JsonNode *member;
  JsonArray *array;

  if (object == NULL || (member = json_object_get_member (object, "flags")) == NULL ||
      !JSON_NODE_HOLDS_ARRAY (member))
    return NULL;

  array = json_node_get_array (member);
  if (json_array_get_length (array) > FLAGS_MAX)
    return NULL;

  flags = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_account_flag_free);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      HelixAccountFlag *flag = read_flag (json_array_get_element (array, i));

      if (flag == NULL)
        return NULL;

      g_ptr_array_add (flags, flag);
    }

  return g_steal_pointer (&flags);
}

static HelixAccountFlag *
parse_flag (GBytes *body)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *object = parse_admin_answer (parser, body);

  if (object == NULL)
    return NULL;

  return read_flag (json_parser_get_root (parser));
}

/**
 * helix_account_list_flags_async:
 * @self: a #HelixAccount, signed in as an administrator
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the flags
 * @user_data: for @callback
 *
 * Lists the gateway's feature flags with their roll-out (GET /api/v1/admin/flags).
 */
void
helix_account_list_flags_async (HelixAccount        *self,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (HELIX_IS_ACCOUNT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_account_list_flags_async);

  if (check_signed_in (self, task))
    authorized_get (self, task, FLAGS_PATH, (ParseFunc) parse_flags,
                    (GDestroyNotify) g_ptr_array_unref, _("a list of feature flags"));
}

/**
 * helix_account_list_flags_finish:
 * @self: a #HelixAccount
 * @result: the result
 * @error: where to put the error
 *
 * Returns: (transfer container) (element-type HelixAccountFlag): the flags
 */
GPtrArray *
helix_account_list_flags_finish (HelixAccount  *self,
                                 GAsyncResult  *result,
                                 GError       **error)
{
  g_return_val_if_fail (HELIX_IS_ACCOUNT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == helix_account_list_flags_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * helix_account_patch_flag_async:
 * @self: a #HelixAccount, signed in as an administrator
 * @name: the flag's name
 * @enabled: 1 to enable it, 0 to disable it, -1 to leave it
 * @percent: its roll-out 0–100, or -1 to leave it
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the flag as it is now
 * @user_data: for @callback
 *
 * Changes a feature flag (PATCH /api/v1/admin/flags/@name).
 */
void
helix_account_patch_flag_async (HelixAccount        *self,
                                const char          *name,
                                int                  enabled,
                                int                  percent,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autofree char *path = NULL;

  g_return_if_fail (HELIX_IS_ACCOUNT (self));
  g_return_if_fail (name != NULL);
  g_return_if_fail (enabled >= -1 && enabled <= 1);
  g_return_if_fail (percent >= -1 && percent <= 100);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_account_patch_flag_async);

  if (!check_signed_in (self, task))
    return;

  if (!flag_name_is_valid (name) || (enabled < 0 && percent < 0))
    {
      g_task_return_new_error (task, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID,
                               _("This change of a feature flag cannot be sent."));
      return;
    }

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  if (enabled >= 0)
    {
      json_builder_set_member_name (builder, "enabled");
      json_builder_add_boolean_value (builder, enabled == 1);
    }
  if (percent >= 0)
    {
      json_builder_set_member_name (builder, "percent");
      json_builder_add_int_value (builder, percent);
    }
  json_builder_end_object (builder);
  body = builder_to_bytes (builder);
  path = g_strconcat (FLAGS_PATH, "/", name, NULL);

  authorized_request (self, task, METHOD_PATCH, path, body, (ParseFunc) parse_flag,
                      (GDestroyNotify) helix_account_flag_free, _("a feature flag"));
}

/**
 * helix_account_patch_flag_finish:
 * @self: a #HelixAccount
 * @result: the result
 * @error: where to put the error
 *
 * Returns: (transfer full): the flag as the gateway has it now
 */
HelixAccountFlag *
helix_account_patch_flag_finish (HelixAccount  *self,
                                 GAsyncResult  *result,
                                 GError       **error)
{
  g_return_val_if_fail (HELIX_IS_ACCOUNT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == helix_account_patch_flag_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Verifying the gateway's audit log {{{2 */

void
helix_account_audit_report_free (HelixAccountAuditReport *report)
{
  if (report == NULL)
    return;

  g_free (report->problem);
  g_free (report->message);
  g_free (report->checkpoint);
  g_free (report);
}

static HelixAccountAuditReport *
parse_audit_report (GBytes *body)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *object = parse_admin_answer (parser, body);
  HelixAccountAuditReport *report;
  const char *problem;
  gint64 entries, seq;

  if (object == NULL || !has_boolean_member (object, "ok") ||
      (problem = get_string_member (object, "problem")) == NULL ||
      !get_int_member (object, "entries", 0, G_MAXINT64, &entries) ||
      !get_int_member (object, "seq", 0, G_MAXINT64, &seq))
    return NULL;

  report = g_new0 (HelixAccountAuditReport, 1);
  report->ok = get_boolean_member (object, "ok");
  report->entries = entries;
  report->problem = g_utf8_make_valid (problem, -1);
  report->seq = seq;
  if (get_string_member (object, "message") != NULL)
    report->message = g_utf8_make_valid (get_string_member (object, "message"), -1);
  if (get_string_member (object, "checkpoint") != NULL &&
      strlen (get_string_member (object, "checkpoint")) <= NOTE_MAX)
    report->checkpoint = g_strdup (get_string_member (object, "checkpoint"));

  return report;
}

/**
 * helix_account_verify_audit_async:
 * @self: a #HelixAccount, signed in as an administrator
 * @checkpoint: (nullable): a signed checkpoint note this device kept
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the report
 * @user_data: for @callback
 *
 * Has the gateway check its whole audit log, and that it still holds what
 * @checkpoint signed (POST /api/v1/audit/verify).
 */
void
helix_account_verify_audit_async (HelixAccount        *self,
                                  const char          *checkpoint,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(GBytes) body = NULL;

  g_return_if_fail (HELIX_IS_ACCOUNT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_account_verify_audit_async);

  if (!check_signed_in (self, task))
    return;

  if (checkpoint != NULL && strlen (checkpoint) > NOTE_MAX)
    {
      g_task_return_new_error (task, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_INVALID,
                               _("The checkpoint this device kept is too large to send."));
      return;
    }

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  if (checkpoint != NULL)
    {
      json_builder_set_member_name (builder, "checkpoint");
      json_builder_add_string_value (builder, checkpoint);
    }
  json_builder_end_object (builder);
  body = builder_to_bytes (builder);

  authorized_request (self, task, SOUP_METHOD_POST, VERIFY_PATH, body,
                      (ParseFunc) parse_audit_report,
                      (GDestroyNotify) helix_account_audit_report_free, _("an audit report"));
}

/**
 * helix_account_verify_audit_finish:
 * @self: a #HelixAccount
 * @result: the result
 * @error: where to put the error
 *
 * Returns: (transfer full): what the gateway found
 */
HelixAccountAuditReport *
helix_account_verify_audit_finish (HelixAccount  *self,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  g_return_val_if_fail (HELIX_IS_ACCOUNT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        helix_account_verify_audit_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* GObject {{{1 */

/**
 * helix_account_get_gateway_uri:
 * @self: a #HelixAccount
 *
 * Returns: (nullable): the normalized gateway address of the last sign-in or load
 */
const char *
helix_account_get_gateway_uri (HelixAccount *self)
{
  g_return_val_if_fail (HELIX_IS_ACCOUNT (self), NULL);

  return self->gateway_uri;
}

/**
 * helix_account_dup_gateway_host:
 * @self: a #HelixAccount
 *
 * The host name of #HelixAccount:gateway-uri, as the account names the
 * gateway in its messages.
 *
 * Returns: (nullable) (transfer full): the host name, or %NULL without a
 *   gateway address
 */
char *
helix_account_dup_gateway_host (HelixAccount *self)
{
  g_return_val_if_fail (HELIX_IS_ACCOUNT (self), NULL);

  return self->gateway_uri != NULL ? dup_host (self->gateway_uri) : NULL;
}

/**
 * helix_account_get_username:
 * @self: a #HelixAccount
 *
 * Returns: (nullable): the user name of the last sign-in or load
 */
const char *
helix_account_get_username (HelixAccount *self)
{
  g_return_val_if_fail (HELIX_IS_ACCOUNT (self), NULL);

  return self->username;
}

gboolean
helix_account_get_signed_in (HelixAccount *self)
{
  g_return_val_if_fail (HELIX_IS_ACCOUNT (self), FALSE);

  return self->token != NULL;
}

gboolean
helix_account_get_busy (HelixAccount *self)
{
  g_return_val_if_fail (HELIX_IS_ACCOUNT (self), FALSE);

  return self->busy;
}

/**
 * helix_account_get_token:
 * @self: a #HelixAccount
 *
 * The device token, for `Authorization: Bearer`. It lives in memory and in
 * the keyring only: never log it or write it anywhere.
 *
 * Returns: (nullable): the token, or %NULL when signed out
 */
const char *
helix_account_get_token (HelixAccount *self)
{
  g_return_val_if_fail (HELIX_IS_ACCOUNT (self), NULL);

  return self->token;
}

/**
 * helix_account_new:
 *
 * Returns: (transfer full): a signed-out #HelixAccount; load it with
 *   helix_account_load_async()
 */
HelixAccount *
helix_account_new (void)
{
  return g_object_new (HELIX_TYPE_ACCOUNT, NULL);
}

static void
helix_account_dispose (GObject *object)
{
  HelixAccount *self = (HelixAccount *)object;

  if (self->session != NULL)
    soup_session_abort (self->session);
  g_clear_object (&self->session);

  G_OBJECT_CLASS (helix_account_parent_class)->dispose (object);
}

static void
helix_account_finalize (GObject *object)
{
  HelixAccount *self = (HelixAccount *)object;

  g_clear_pointer (&self->gateway_uri, g_free);
  g_clear_pointer (&self->username, g_free);
  g_clear_pointer (&self->token, free_secret);

  G_OBJECT_CLASS (helix_account_parent_class)->finalize (object);
}

static void
helix_account_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  HelixAccount *self = HELIX_ACCOUNT (object);

  switch (prop_id)
    {
    case PROP_GATEWAY_URI:
      g_value_set_string (value, self->gateway_uri);
      break;

    case PROP_USERNAME:
      g_value_set_string (value, self->username);
      break;

    case PROP_SIGNED_IN:
      g_value_set_boolean (value, self->token != NULL);
      break;

    case PROP_BUSY:
      g_value_set_boolean (value, self->busy);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_account_class_init (HelixAccountClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = helix_account_dispose;
  object_class->finalize = helix_account_finalize;
  object_class->get_property = helix_account_get_property;

  /**
   * HelixAccount:gateway-uri:
   *
   * The normalized gateway address of the last sign-in or load.
   */
  properties[PROP_GATEWAY_URI] =
    g_param_spec_string ("gateway-uri", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HelixAccount:username:
   *
   * The user name of the last sign-in or load.
   */
  properties[PROP_USERNAME] =
    g_param_spec_string ("username", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HelixAccount:signed-in:
   *
   * Whether there is a device token.
   */
  properties[PROP_SIGNED_IN] =
    g_param_spec_boolean ("signed-in", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HelixAccount:busy:
   *
   * Whether a sign-in, sign-out or load is under way.
   */
  properties[PROP_BUSY] =
    g_param_spec_boolean ("busy", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
helix_account_init (HelixAccount *self)
{
  g_autofree char *user_agent = g_strdup_printf ("Helix/%s", PACKAGE_VERSION);

  self->session = soup_session_new_with_options ("timeout", TIMEOUT_SECONDS,
                                                 "user-agent", user_agent,
                                                 NULL);
}
