/* helix-provider-call.c: one streaming HTTP call to a provider, whatever its wire format
 *
 * What the OpenAI, Anthropic and Gemini providers share: the HTTP clients,
 * the three timeouts, cancelling, reading the event stream into a
 * #HelixSseParser, reading a bounded error body, and parsing untrusted JSON
 * within limits. The wire format only builds the #SoupMessage and reads events
 * and error bodies (#HelixProviderCallFuncs).
 *
 * Two clients carry the message: an http:// URL goes through the native
 * HTTP/1.1 client of helix-http1-client.c (several times cheaper per call
 * than libsoup's), https:// through libsoup's #SoupSession, which does TLS.
 * `HELIX_PROVIDER_HTTP=libsoup` in the environment sends http:// through
 * libsoup too (to compare the two). Both feed the same functions: the head
 * (call_got_head()), body bytes (call_got_body(): the event stream or the
 * error body), the end (call_body_ended(), call_body_failed()), or no
 * response at all (call_send_failed(), which sends again once on a new
 * connection when a reused one had been closed by the server).
 *
 * A call owns its message, its body stream (or native request) and an
 * inner #GCancellable. Cancelling the caller's cancellable, or any of the
 * three timeouts, cancels the inner one: the pending operation fails at once
 * and the connection is closed. Redirects are refused (the native client
 * follows none): one could carry the key elsewhere. Everything the provider
 * sends is bounded: events (1 MiB), JSON depth (64, checked before json-glib
 * sees the text), the answer (8 MiB), error bodies (64 KiB); the native
 * client bounds the response head (64 KiB) and chunk-size lines.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-ai"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-http1-client.h"
#include "helix-debug.h"
#include "helix-json.h"
#include "helix-sync-json.h"
#include "helix-provider-private.h"

#define READ_SIZE 16384
#define DRAIN_MS  2000  /* after the end marker, how long the end of the body may take */

struct _HelixProviderCall
{
  const HelixProviderCallFuncs *funcs;
  HelixProvider                *provider;
  char                         *name;
  GTask                        *task;
  HelixChatStream              *stream;
  SoupMessage                  *msg;
  SoupSession                  *session;             /* libsoup's client, or: */
  HelixHttp1Client             *h1client;            /* the native one (http://) */
  HelixHttp1Request            *h1;                  /* its request in flight */
  GSource                      *cancel_source;       /* aborts @h1 */
  GBytes                       *request_body;        /* kept to send it again */
  GInputStream                 *body;
  GCancellable                 *cancellable;         /* ours: aborts the HTTP request */
  GCancellable                 *caller_cancellable;
  gulong                        cancelled_id;
  HelixSseParser               *parser;
  GByteArray                   *error_body;
  GError                       *error;               /* set by a timeout or an event */
  char                         *secret;              /* the key of this call, to redact */
  GSource                      *connect_timeout;
  GSource                      *first_token_timeout;
  GSource                      *call_timeout;
  GSource                      *drain_timeout;
  guint                         status;
  gint64                        retry_after;
  gint64                        input_tokens;
  gint64                        output_tokens;
  guint                         has_usage : 1;
  guint                         done : 1;
  guint                         connected : 1;        /* on a connection made for it */
  guint                         resent : 1;
};

static void soup_read_next (HelixProviderCall *call);

/* Setup */

/* One session per provider (for https, and model lists). No libsoup I/O
 * timeout: the call's own timeouts bound every wait, and a model may think
 * quietly for longer than libsoup's default minute. */
SoupSession *
_helix_provider_session_new (void)
{
  return soup_session_new_with_options ("user-agent", "helix/" PACKAGE_VERSION,
                                        "timeout", 0,
                                        "max-conns", 1024,
                                        "max-conns-per-host", HELIX_HTTP1_DEFAULT_MAX_PER_HOST,
                                        NULL);
}

/* An http or https URL with a host, and without user info or query (where a
 * key could hide and end up in logs). */
gboolean
_helix_provider_check_base_url (const char  *provider_name,
                                const char  *base_url,
                                const char  *example,
                                GError     **error)
{
  g_autoptr(GUri) uri = g_uri_parse (base_url, SOUP_HTTP_URI_FLAGS, NULL);
  const char *scheme = uri != NULL ? g_uri_get_scheme (uri) : NULL;

  if (uri == NULL || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0' ||
      (g_strcmp0 (scheme, "http") != 0 && g_strcmp0 (scheme, "https") != 0) ||
      g_uri_get_query (uri) != NULL || g_uri_get_userinfo (uri) != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("The address of %s is not an http or https URL without user or query (e.g. %s)"),
                   provider_name, example);
      return FALSE;
    }

  return TRUE;
}

/* "…/v1/" and "…/v1" both work. */
char *
_helix_provider_normalize_base_url (const char *base_url)
{
  gsize len = base_url != NULL ? strlen (base_url) : 0;

  while (len > 0 && base_url[len - 1] == '/')
    len--;

  return g_strndup (base_url, len);
}

/* Untrusted JSON */

/* Parses untrusted JSON text, within the limits. Providers speak strict
 * JSON (RFC 8259), which helix_json_validate() checks in one pass (depth
 * included) before helix_json_parse_valid() builds the tree: several times
 * cheaper than JsonParser, which every event of every answer went through. */
JsonNode *
_helix_provider_parse_json (const char  *text,
                            gsize        len,
                            GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  JsonNode *root;

  if (!helix_json_check_text (text, len, HELIX_PROVIDER_MAX_EVENT,
                              HELIX_PROVIDER_MAX_JSON_DEPTH, error))
    return NULL;

  if (!helix_json_validate (text, len, HELIX_PROVIDER_MAX_JSON_DEPTH, &local_error))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, local_error->message);
      return NULL;
    }

  root = helix_json_parse_valid (text, len);
  if (root == NULL)
    {
      g_critical ("Validated JSON could not be parsed");
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("no JSON value"));
    }

  return root;
}

/* Parses untrusted JSON text into an object node, within the limits. */
JsonNode *
_helix_provider_parse_object (const char  *text,
                              gsize        len,
                              GError     **error)
{
  g_autoptr(JsonNode) root = _helix_provider_parse_json (text, len, error);

  if (root == NULL)
    return NULL;

  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           _("not a JSON object"));
      return NULL;
    }

  return g_steal_pointer (&root);
}

/* A member that is a string; NULL if absent, null or of another type. */
const char *
_helix_json_get_string (JsonObject *object,
                        const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;

  return json_node_get_string (node);
}

/* A member that is a count: a non-negative integer. */
gboolean
_helix_json_get_count (JsonObject *object,
                       const char *name,
                       gint64     *value)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64 || json_node_get_int (node) < 0)
    return FALSE;

  *value = json_node_get_int (node);
  return TRUE;
}

/* A member that is an object; NULL otherwise. */
JsonObject *
_helix_json_get_object (JsonObject *object,
                        const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

/* A member that is an array; NULL otherwise. */
JsonArray *
_helix_json_get_array (JsonObject *object,
                       const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

/* An error code member, which providers give as a string or a number. */
char *
_helix_json_get_code (JsonObject *object,
                      const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return NULL;
  if (json_node_get_value_type (node) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (node));
  if (json_node_get_value_type (node) == G_TYPE_INT64)
    return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));

  return NULL;
}

/* The call */

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static void
call_free (HelixProviderCall *call)
{
  /* First: nothing of the request is called after this. */
  if (call->h1 != NULL)
    helix_http1_request_abort (g_steal_pointer (&call->h1));
  clear_source (&call->cancel_source);
  g_clear_pointer (&call->h1client, helix_http1_client_unref);
  clear_source (&call->connect_timeout);
  clear_source (&call->first_token_timeout);
  clear_source (&call->call_timeout);
  clear_source (&call->drain_timeout);
  if (call->caller_cancellable != NULL)
    g_cancellable_disconnect (call->caller_cancellable, call->cancelled_id);
  g_clear_object (&call->caller_cancellable);
  g_clear_object (&call->body);
  if (call->msg != NULL)
    g_signal_handlers_disconnect_by_data (call->msg, call);
  g_clear_object (&call->msg);
  g_clear_object (&call->session);
  g_clear_pointer (&call->request_body, g_bytes_unref);
  g_clear_pointer (&call->secret, g_free);
  g_clear_object (&call->cancellable);
  g_clear_pointer (&call->parser, helix_sse_parser_unref);
  g_clear_pointer (&call->error_body, g_byte_array_unref);
  g_clear_error (&call->error);
  g_clear_object (&call->stream);
  g_clear_object (&call->task);
  g_clear_pointer (&call->name, g_free);
  g_clear_object (&call->provider);
  g_free (call);
}

/* Ends the call: aborts what is still in flight, reports, frees. */
static void
call_return (HelixProviderCall *call,
             GError            *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&call->task);

  g_assert (task != NULL);

  g_cancellable_cancel (call->cancellable);
  _helix_chat_stream_set_http_status (call->stream, call->status, call->retry_after);
  /* Once, whether the answer is complete or not: the tokens are billed either way. */
  if (call->has_usage)
    _helix_chat_stream_set_usage (call->stream, call->input_tokens, call->output_tokens);

  if (error != NULL)
    {
      HELIX_HOT_DEBUG ("%s: call failed after %" G_GSIZE_FORMAT " bytes of text: %s",
                       call->name, helix_chat_stream_get_text_length (call->stream), error->message);
      call_free (call);
      g_task_return_error (task, error);
    }
  else
    {
      HELIX_HOT_DEBUG ("%s: call complete, %" G_GSIZE_FORMAT " bytes of text",
                       call->name, helix_chat_stream_get_text_length (call->stream));
      call_free (call);
      g_task_return_boolean (task, TRUE);
    }
}

/* The error to report when a libsoup operation was cancelled: why we cancelled. */
static GError *
take_cancel_reason (HelixProviderCall *call)
{
  if (call->error != NULL)
    return g_steal_pointer (&call->error);

  return g_error_new (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CANCELLED,
                      _("The request to %s was cancelled"), call->name);
}

static gboolean
timeout_cb (gpointer user_data)
{
  GSource *source = g_main_current_source ();
  HelixProviderCall *call = user_data;
  GError *error;

  if (source == call->drain_timeout)
    {
      /* The answer is complete, only the end of the body is late. */
      g_clear_pointer (&call->drain_timeout, g_source_unref);
      g_cancellable_cancel (call->cancellable);
      return G_SOURCE_REMOVE;
    }

  if (source == call->connect_timeout)
    {
      error = g_error_new (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CONNECT_TIMEOUT,
                           _("%s could not be reached in time. Check the network and the provider’s address."),
                           call->name);
      g_clear_pointer (&call->connect_timeout, g_source_unref);
    }
  else if (source == call->first_token_timeout)
    {
      error = g_error_new (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_FIRST_TOKEN_TIMEOUT,
                           _("%s did not start answering in time. Try again, or use another provider."),
                           call->name);
      g_clear_pointer (&call->first_token_timeout, g_source_unref);
    }
  else
    {
      g_assert (source == call->call_timeout);
      error = g_error_new (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CALL_TIMEOUT,
                           _("%s did not finish answering in time. Try again, or use another provider."),
                           call->name);
      g_clear_pointer (&call->call_timeout, g_source_unref);
    }

  g_debug ("%s: timeout: %s", call->name, error->message);

  if (call->error == NULL)
    call->error = error;
  else
    g_error_free (error);
  g_cancellable_cancel (call->cancellable);

  return G_SOURCE_REMOVE;
}

static GSource *
add_timeout (HelixProviderCall *call,
             guint              ms)
{
  GSource *source;

  if (ms == 0)
    return NULL;

  source = g_timeout_source_new (ms);
  g_source_set_callback (source, timeout_cb, call, NULL);
  g_source_set_static_name (source, "[helix-ai] call timeout");
  g_source_attach (source, g_task_get_context (call->task));

  return source;
}

static void
caller_cancelled_cb (GCancellable *caller_cancellable,
                     gpointer      user_data)
{
  /* May run in any thread: only touch what is thread-safe. */
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

/* Whether @error says the connection was gone before any answer: what an
 * idle connection the server closed meanwhile gives when it is reused. */
static gboolean
is_stale_connection_error (const GError *error)
{
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
}

/* The stream ended (or the connection closed) before its end marker. */
static GError *
cut_error (HelixProviderCall *call)
{
  return g_error_new (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL,
                      _("The answer from %s was cut off before its end. What arrived is kept; try again."),
                      call->name);
}

/* The error of a failed transport operation. */
static GError *
transport_error (HelixProviderCall *call,
                 const GError      *error)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return take_cancel_reason (call);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA))
    return _helix_provider_call_protocol_error (call, error->message);

  return _helix_provider_error_from_io (call->name, error);
}

static gboolean
sse_event_cb (const HelixSseEvent *event,
              gpointer             user_data)
{
  HelixProviderCall *call = user_data;
  gboolean go_on;

  /* Stop pressed, or done: no delta after that. */
  if (call->done || call->error != NULL || g_cancellable_is_cancelled (call->cancellable))
    return FALSE;

  go_on = call->funcs->event (call, event);
  g_assert (go_on || call->done || call->error != NULL);

  return go_on;
}

static void
error_body_done (HelixProviderCall *call)
{
  g_autoptr(JsonNode) root = NULL;
  GError *error = NULL;

  root = _helix_provider_parse_json ((const char *) call->error_body->data,
                                     call->error_body->len, NULL);
  if (call->funcs->error_body != NULL)
    error = call->funcs->error_body (call, call->status, root);
  if (error == NULL)
    error = _helix_provider_call_http_error (call, call->status, NULL, NULL, NULL);

  call_return (call, error);
}

/*
 * The response, whichever client carries it (libsoup's, or the native one
 * for http://): both feed these. A call goes: call_send_failed() (no
 * response; may send again), or call_got_head() then call_got_body() for
 * each piece of the body, then call_body_ended() or call_body_failed().
 */

static void transport_send (HelixProviderCall *call,
                            gboolean           new_connection);

/* No response came. */
static void
call_send_failed (HelixProviderCall *call,
                  const GError      *error)
{
  /* A reused connection the server had closed while it was idle: the
   * request never reached it (no answer began), so it goes again, once, on
   * a new connection. Not an attempt of the router's: nothing failed. */
  if (!call->connected && !call->resent && !g_cancellable_is_cancelled (call->cancellable) &&
      is_stale_connection_error (error))
    {
      g_debug ("%s: the reused connection was closed (%s); sending again on a new one",
               call->name, error->message);
      call->resent = TRUE;
      transport_send (call, TRUE);
      return;
    }

  clear_source (&call->connect_timeout);
  call_return (call, transport_error (call, error));
}

/* The status and headers. Returns FALSE if the call ended. */
static gboolean
call_got_head (HelixProviderCall  *call,
               guint               status,
               SoupMessageHeaders *headers)
{
  const char *content_type;

  clear_source (&call->connect_timeout);

  call->status = status;
  call->retry_after = helix_provider_parse_retry_after (
    soup_message_headers_get_one (headers, "Retry-After"), NULL);
  content_type = soup_message_headers_get_content_type (headers, NULL);

  HELIX_HOT_DEBUG ("%s: HTTP %u, %s", call->name, call->status,
                   content_type != NULL ? content_type : "no content type");

  if (!SOUP_STATUS_IS_SUCCESSFUL (call->status))
    {
      /* The body of an error answer: read at most HELIX_PROVIDER_MAX_ERROR_BODY. */
      clear_source (&call->first_token_timeout);
      call->error_body = g_byte_array_new ();
      return TRUE;
    }

  if (g_strcmp0 (content_type, "application/json") == 0)
    {
      call_return (call, _helix_provider_call_protocol_error (call, _("it did not stream its answer")));
      return FALSE;
    }

  call->parser = helix_sse_parser_new (sse_event_cb, call, NULL);
  helix_sse_parser_set_limits (call->parser, HELIX_PROVIDER_MAX_EVENT, HELIX_PROVIDER_MAX_EVENT);
  return TRUE;
}

/* Some bytes of the body. Returns FALSE if the call ended. */
static gboolean
call_got_body (HelixProviderCall *call,
               const guint8      *data,
               gsize              len)
{
  g_autoptr(GError) error = NULL;

  if (call->error_body != NULL)
    {
      gsize room = HELIX_PROVIDER_MAX_ERROR_BODY - call->error_body->len;

      g_byte_array_append (call->error_body, data, MIN (room, len));
      if (call->error_body->len >= HELIX_PROVIDER_MAX_ERROR_BODY)
        {
          error_body_done (call);
          return FALSE;
        }
      return TRUE;
    }

  if (call->done)
    return TRUE;  /* the answer is complete: the rest is read so the connection can be reused */

  if (!helix_sse_parser_feed (call->parser, (const char *) data, len, &error))
    {
      call_return (call, _helix_provider_call_protocol_error (call, error->message));
      return FALSE;
    }
  if (call->error != NULL)
    {
      call_return (call, g_steal_pointer (&call->error));
      return FALSE;
    }
  if (!call->done && g_cancellable_is_cancelled (call->cancellable))
    {
      call_return (call, take_cancel_reason (call));
      return FALSE;
    }
  if (call->done)
    {
      clear_source (&call->call_timeout);
      call->drain_timeout = add_timeout (call, DRAIN_MS);
    }

  return TRUE;
}

/* The body was read to its end. */
static void
call_body_ended (HelixProviderCall *call)
{
  if (call->error_body != NULL)
    {
      error_body_done (call);
      return;
    }

  if (!call->done && call->funcs->stream_ended != NULL && call->funcs->stream_ended (call))
    _helix_provider_call_complete (call);
  if (call->error != NULL)
    call_return (call, g_steal_pointer (&call->error));
  else if (call->done)
    call_return (call, NULL);
  else
    call_return (call, cut_error (call));
}

/* Reading the body failed. */
static void
call_body_failed (HelixProviderCall *call,
                  const GError      *error)
{
  if (call->error_body != NULL)
    {
      /* An unreadable body still has its status. */
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        call_return (call, take_cancel_reason (call));
      else
        error_body_done (call);
      return;
    }

  if (call->done && call->error == NULL)
    call_return (call, NULL);  /* the answer is complete; the end of the body is not needed */
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT))
    call_return (call, cut_error (call));
  else
    call_return (call, transport_error (call, error));
}

/* libsoup: https, or everything with HELIX_PROVIDER_HTTP=libsoup */

static void
network_event_cb (SoupMessage        *msg,
                  GSocketClientEvent  event,
                  GIOStream          *connection,
                  gpointer            user_data)
{
  HelixProviderCall *call = user_data;

  /* Only a new connection has these events: a reused one has none. */
  call->connected = TRUE;
  if (event == G_SOCKET_CLIENT_COMPLETE)
    clear_source (&call->connect_timeout);
}

static void
soup_read_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  HelixProviderCall *call = user_data;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;

  bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (object), result, &error);

  if (bytes == NULL)
    call_body_failed (call, error);
  else if (g_bytes_get_size (bytes) == 0)
    call_body_ended (call);
  else if (call_got_body (call, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes)))
    soup_read_next (call);
}

static void
soup_read_next (HelixProviderCall *call)
{
  g_input_stream_read_bytes_async (call->body, READ_SIZE, G_PRIORITY_DEFAULT,
                                   call->cancellable, soup_read_cb, call);
}

static void
soup_send_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  HelixProviderCall *call = user_data;
  g_autoptr(GError) error = NULL;

  call->body = soup_session_send_finish (SOUP_SESSION (object), result, &error);

  if (call->body == NULL)
    call_send_failed (call, error);
  else if (call_got_head (call, soup_message_get_status (call->msg),
                          soup_message_get_response_headers (call->msg)))
    soup_read_next (call);
}

/* The native client: http:// (helix-http1-client.c) */

static void
h1_connected_cb (gpointer user_data)
{
  HelixProviderCall *call = user_data;

  call->connected = TRUE;
  clear_source (&call->connect_timeout);
}

static void
h1_head_cb (guint               status,
            SoupMessageHeaders *headers,
            gpointer            user_data)
{
  call_got_head (user_data, status, headers);
}

static void
h1_body_cb (const guint8 *data,
            gsize         len,
            gpointer      user_data)
{
  call_got_body (user_data, data, len);
}

static void
h1_end_cb (const GError *error,
           gpointer      user_data)
{
  HelixProviderCall *call = user_data;

  call->h1 = NULL;  /* over, freed when this returns */

  if (error == NULL)
    call_body_ended (call);
  else if (call->status == 0)
    call_send_failed (call, error);
  else
    call_body_failed (call, error);
}

static const HelixHttp1Callbacks h1_callbacks = {
  .connected = h1_connected_cb,
  .head = h1_head_cb,
  .body = h1_body_cb,
  .end = h1_end_cb,
};

/* The inner cancellable was cancelled (by the caller, or a timeout): the
 * request stops now, its connection closed. */
static gboolean
h1_cancelled_cb (GCancellable *cancellable,
                 gpointer      user_data)
{
  HelixProviderCall *call = user_data;
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                 "Operation was cancelled");

  if (call->h1 != NULL)
    helix_http1_request_abort (g_steal_pointer (&call->h1));

  if (call->status == 0)
    call_send_failed (call, error);
  else
    call_body_failed (call, error);

  return G_SOURCE_REMOVE;
}

static void
transport_send (HelixProviderCall *call,
                gboolean           new_connection)
{
  if (call->h1client != NULL)
    {
      g_assert (call->h1 == NULL);
      call->h1 = helix_http1_client_send (call->h1client, soup_message_get_method (call->msg),
                                          soup_message_get_uri (call->msg),
                                          soup_message_get_request_headers (call->msg),
                                          "application/json", call->request_body, new_connection,
                                          &h1_callbacks, call);
      return;
    }

  if (new_connection)
    {
      soup_message_add_flags (call->msg, SOUP_MESSAGE_NEW_CONNECTION);
      soup_message_set_request_body_from_bytes (call->msg, "application/json", call->request_body);
    }
  soup_session_send_async (call->session, call->msg, G_PRIORITY_DEFAULT, call->cancellable,
                           soup_send_cb, call);
}

/*
 * Starts a call of @provider: the stream starts now, the three timeouts of
 * @request are armed by _helix_provider_call_send(). @secret is the key of
 * this call, removed from any provider text quoted in an error.
 */
HelixProviderCall *
_helix_provider_call_new (HelixProvider                *provider,
                          const HelixProviderCallFuncs *funcs,
                          HelixChatRequest             *request,
                          HelixChatStream              *stream,
                          const char                   *secret,
                          GCancellable                 *cancellable,
                          GAsyncReadyCallback           callback,
                          gpointer                      user_data,
                          gpointer                      source_tag)
{
  HelixProviderCall *call = g_new0 (HelixProviderCall, 1);
  guint connect_ms;
  guint first_token_ms;
  guint call_ms;

  g_assert (funcs != NULL && funcs->event != NULL);

  call->funcs = funcs;
  call->provider = g_object_ref (provider);
  call->name = g_strdup (helix_provider_get_name (provider));
  call->task = g_task_new (provider, cancellable, callback, user_data);
  g_task_set_source_tag (call->task, source_tag);
  g_task_set_check_cancellable (call->task, FALSE);
  call->stream = g_object_ref (stream);
  call->cancellable = g_cancellable_new ();
  call->retry_after = -1;
  call->input_tokens = -1;
  call->output_tokens = -1;
  call->secret = g_strdup (secret);

  _helix_chat_stream_start (stream);

  helix_chat_request_get_timeouts (request, &connect_ms, &first_token_ms, &call_ms);
  call->connect_timeout = add_timeout (call, connect_ms);
  call->first_token_timeout = add_timeout (call, first_token_ms);
  call->call_timeout = add_timeout (call, call_ms);

  if (cancellable != NULL)
    {
      call->caller_cancellable = g_object_ref (cancellable);
      call->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (caller_cancelled_cb),
                                                  g_object_ref (call->cancellable),
                                                  g_object_unref);
    }

  return call;
}

/* Sends @msg (taking it) with the JSON @body: on @h1client for an http://
 * URL when there is one, else on @session. The call then runs to its end
 * by itself. */
void
_helix_provider_call_send (HelixProviderCall *call,
                           SoupSession       *session,
                           HelixHttp1Client  *h1client,
                           SoupMessage       *msg,
                           GBytes            *body)
{
  GUri *uri = soup_message_get_uri (msg);

  g_assert (call->msg == NULL);

  call->msg = msg;
  call->request_body = g_bytes_ref (body);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Accept",
                                "text/event-stream");

  /* No query: a key never goes there, but a misconfigured URL could hold one. */
  HELIX_HOT_DEBUG ("%s: %s %s://%s:%d%s", call->name, soup_message_get_method (msg),
                   g_uri_get_scheme (uri), g_uri_get_host (uri), g_uri_get_port (uri),
                   g_uri_get_path (uri));

  if (h1client != NULL && g_strcmp0 (g_uri_get_scheme (uri), "http") == 0)
    {
      /* The native client follows no redirect and reuses idle connections;
       * cancelling aborts its request from the call's main context. */
      call->h1client = helix_http1_client_ref (h1client);
      call->cancel_source = g_cancellable_source_new (call->cancellable);
      g_source_set_callback (call->cancel_source, G_SOURCE_FUNC (h1_cancelled_cb), call, NULL);
      g_source_set_static_name (call->cancel_source, "[helix-ai] call cancelled");
      g_source_attach (call->cancel_source, g_task_get_context (call->task));
      transport_send (call, FALSE);
      return;
    }

  call->session = g_object_ref (session);
  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  /* A redirect could carry the key elsewhere: an API endpoint has no business
   * redirecting. Without IDEMPOTENT, libsoup 3.2 opens a new connection (and
   * TLS handshake) for every POST; with it, idle connections are reused. A
   * POST is never resent by libsoup itself: a reused connection the server
   * had closed meanwhile is handled in call_send_failed(). */
  soup_message_add_flags (call->msg, SOUP_MESSAGE_NO_REDIRECT | SOUP_MESSAGE_IDEMPOTENT);
  g_signal_connect (call->msg, "network-event", G_CALLBACK (network_event_cb), call);
  transport_send (call, FALSE);
}

gboolean
_helix_provider_call_finish (HelixProvider  *provider,
                             GAsyncResult   *result,
                             gpointer        source_tag,
                             GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, provider), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

HelixChatStream *
_helix_provider_call_get_stream (HelixProviderCall *call)
{
  return call->stream;
}

/* A delay the provider gave in its error body; a `Retry-After` header wins. */
void
_helix_provider_call_set_retry_after (HelixProviderCall *call,
                                      gint64             seconds)
{
  if (call->retry_after < 0)
    call->retry_after = seconds;
}

/* The answer has started: the first-token timeout no longer applies. */
void
_helix_provider_call_got_data (HelixProviderCall *call)
{
  clear_source (&call->first_token_timeout);
}

/*
 * Appends answer text. Fails the call (and returns %FALSE) on invalid UTF-8,
 * which json-glib may make of a lone surrogate escape, and past the size cap.
 */
gboolean
_helix_provider_call_append (HelixProviderCall *call,
                             const char        *text,
                             gsize              len)
{
  if (len == 0)
    return TRUE;  /* an empty delta is not the answer starting */

  if (!g_utf8_validate_len (text, len, NULL))
    return _helix_provider_call_fail_protocol (call, _("the text is not valid UTF-8"));

  if (helix_chat_stream_get_text_length (call->stream) + len > HELIX_PROVIDER_MAX_TEXT)
    return _helix_provider_call_fail_protocol (call, _("the answer is too long"));

  _helix_provider_call_got_data (call);
  _helix_chat_stream_append (call->stream, text, len);
  return TRUE;
}

/* Token counts so far (-1: unchanged); the stream gets them once, at the end. */
void
_helix_provider_call_set_usage (HelixProviderCall *call,
                                gint64             input_tokens,
                                gint64             output_tokens)
{
  if (input_tokens >= 0)
    call->input_tokens = input_tokens;
  if (output_tokens >= 0)
    call->output_tokens = output_tokens;
  call->has_usage = TRUE;
}

/* The provider marked the end of the answer. */
void
_helix_provider_call_complete (HelixProviderCall *call)
{
  call->done = TRUE;
  clear_source (&call->first_token_timeout);
  _helix_chat_stream_set_complete (call->stream);
}

/* Ends the call with @error (taken) once the current event is handled. */
void
_helix_provider_call_fail (HelixProviderCall *call,
                           GError            *error)
{
  if (call->error == NULL)
    call->error = error;
  else
    g_error_free (error);
}

/* Fails the call with a protocol error about @what; returns %FALSE, to stop. */
gboolean
_helix_provider_call_fail_protocol (HelixProviderCall *call,
                                    const char        *what)
{
  _helix_provider_call_fail (call, _helix_provider_call_protocol_error (call, what));
  return FALSE;
}

GError *
_helix_provider_call_protocol_error (HelixProviderCall *call,
                                     const char        *what)
{
  return g_error_new (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL,
                      _("%s sent an answer Helix cannot read (%s). Try again, or use another provider."),
                      call->name, what);
}

/* An error of @code that quotes the provider's @message without the key. */
GError *
_helix_provider_call_error (HelixProviderCall  *call,
                            HelixProviderError  code,
                            guint               status,
                            const char         *message)
{
  return _helix_provider_error_new (call->name, code, status, call->retry_after, message,
                                    call->secret);
}

/* The error of an HTTP status and the provider's error details. */
GError *
_helix_provider_call_http_error (HelixProviderCall *call,
                                 guint              status,
                                 const char        *error_type,
                                 const char        *error_code,
                                 const char        *message)
{
  return _helix_provider_error_from_http (call->name, status, call->retry_after,
                                          error_type, error_code, message, call->secret);
}
