/* helix-provider-openai.c: the OpenAI-compatible chat completions wire format
 *
 * `POST {base}/chat/completions` with `"stream": true` and
 * `"stream_options": {"include_usage": true}`; the answer is an event stream of
 * `data: {chunk}` events ending with `data: [DONE]`. Each chunk carries
 * `choices[0].delta.content` and, at the end, `choices[0].finish_reason`; the
 * last chunk before `[DONE]` has empty `choices` and the `usage`. Errors are
 * `{"error": {"message", "type", "code"}}`, as the HTTP body or as a chunk.
 * The same format is spoken by DeepSeek, Ollama (`http://127.0.0.1:11434/v1`),
 * vLLM, the llama.cpp server and OpenRouter.
 *
 * One #SoupSession per provider; each call is a #Call that owns its message,
 * its body stream and an inner #GCancellable. Cancelling the caller's
 * cancellable, or any of the three timeouts, cancels the inner one: the pending
 * libsoup operation fails at once and the connection is closed.
 *
 * Everything the provider sends is bounded: events (1 MiB), JSON depth (64,
 * checked before json-glib sees the text), the answer (8 MiB), error bodies
 * (64 KiB). The API key goes only into the Authorization header; it is never
 * logged and is removed from any provider text quoted in an error.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-ai"

#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "helix-json.h"
#include "helix-provider-openai.h"
#include "helix-provider-private.h"
#include "helix-sse-parser.h"

#define READ_SIZE 16384
#define DRAIN_MS  2000  /* after [DONE], how long the end of the body may take */

struct _HelixProviderOpenai
{
  GObject      parent_instance;

  char        *name;
  char        *base_url;
  char        *api_key;
  SoupSession *session;
};

static void provider_iface_init (HelixProviderInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (HelixProviderOpenai, helix_provider_openai, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (HELIX_TYPE_PROVIDER, provider_iface_init))

enum {
  PROP_0,
  PROP_NAME,
  PROP_BASE_URL,
  PROP_API_KEY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

typedef struct
{
  HelixProviderOpenai *self;
  GTask               *task;
  HelixChatStream     *stream;
  SoupMessage         *msg;
  GInputStream        *body;
  GCancellable        *cancellable;         /* ours: aborts the HTTP request */
  GCancellable        *caller_cancellable;
  gulong               cancelled_id;
  HelixSseParser      *parser;
  GByteArray          *error_body;
  GError              *error;               /* set by a timeout or an event */
  char                *secret;              /* the key of this call, to redact */
  GSource             *connect_timeout;
  GSource             *first_token_timeout;
  GSource             *call_timeout;
  GSource             *drain_timeout;
  guint                status;
  gint64               retry_after;
  guint                got_data : 1;
  guint                done : 1;
} Call;

static void read_next (Call *call);

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
call_free (Call *call)
{
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
  g_clear_pointer (&call->secret, g_free);
  g_clear_object (&call->cancellable);
  g_clear_pointer (&call->parser, helix_sse_parser_unref);
  g_clear_pointer (&call->error_body, g_byte_array_unref);
  g_clear_error (&call->error);
  g_clear_object (&call->stream);
  g_clear_object (&call->task);
  g_clear_object (&call->self);
  g_free (call);
}

/* Ends the call: aborts what is still in flight, reports, frees. */
static void
call_return (Call   *call,
             GError *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&call->task);

  g_assert (task != NULL);

  g_cancellable_cancel (call->cancellable);
  _helix_chat_stream_set_http_status (call->stream, call->status, call->retry_after);

  if (error != NULL)
    {
      g_debug ("%s: call failed after %" G_GSIZE_FORMAT " bytes of text: %s",
               call->self->name, helix_chat_stream_get_text_length (call->stream),
               error->message);
      call_free (call);
      g_task_return_error (task, error);
    }
  else
    {
      g_debug ("%s: call complete, %" G_GSIZE_FORMAT " bytes of text",
               call->self->name, helix_chat_stream_get_text_length (call->stream));
      call_free (call);
      g_task_return_boolean (task, TRUE);
    }
}

/* The error to report when a libsoup operation was cancelled: why we cancelled. */
static GError *
take_cancel_reason (Call *call)
{
  if (call->error != NULL)
    return g_steal_pointer (&call->error);

  return g_error_new (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CANCELLED,
                      _("The request to %s was cancelled"), call->self->name);
}

static gboolean
timeout_cb (gpointer user_data)
{
  GSource *source = g_main_current_source ();
  Call *call = user_data;
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
                           call->self->name);
      g_clear_pointer (&call->connect_timeout, g_source_unref);
    }
  else if (source == call->first_token_timeout)
    {
      error = g_error_new (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_FIRST_TOKEN_TIMEOUT,
                           _("%s did not start answering in time. Try again, or use another provider."),
                           call->self->name);
      g_clear_pointer (&call->first_token_timeout, g_source_unref);
    }
  else
    {
      g_assert (source == call->call_timeout);
      error = g_error_new (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CALL_TIMEOUT,
                           _("%s did not finish answering in time. Try again, or use another provider."),
                           call->self->name);
      g_clear_pointer (&call->call_timeout, g_source_unref);
    }

  g_debug ("%s: timeout: %s", call->self->name, error->message);

  if (call->error == NULL)
    call->error = error;
  else
    g_error_free (error);
  g_cancellable_cancel (call->cancellable);

  return G_SOURCE_REMOVE;
}

static GSource *
add_timeout (Call  *call,
             guint  ms)
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

static void
network_event_cb (SoupMessage        *msg,
                  GSocketClientEvent  event,
                  GIOStream          *connection,
                  gpointer            user_data)
{
  Call *call = user_data;

  if (event == G_SOCKET_CLIENT_COMPLETE)
    clear_source (&call->connect_timeout);
}

static GError *
protocol_error (Call       *call,
                const char *what)
{
  return g_error_new (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL,
                      _("%s sent an answer Helix cannot read (%s). Try again, or use another provider."),
                      call->self->name, what);
}

/* The stream ended (or the connection closed) before `data: [DONE]`. */
static GError *
cut_error (Call *call)
{
  return g_error_new (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL,
                      _("The answer from %s was cut off before its end. What arrived is kept; try again."),
                      call->self->name);
}

/* Parses untrusted JSON text into an object node, within the limits. */
static JsonNode *
parse_object (const char  *text,
              gsize        len,
              GError     **error)
{
  g_autoptr(JsonParser) parser = NULL;
  JsonNode *root;

  if (!helix_json_check_text (text, len, HELIX_PROVIDER_MAX_EVENT,
                              HELIX_PROVIDER_MAX_JSON_DEPTH, error))
    return NULL;

  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, text, len, error))
    return NULL;

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           _("not a JSON object"));
      return NULL;
    }

  return json_node_ref (root);
}

/* A member that is a string; NULL if absent, null or of another type. */
static const char *
get_string (JsonObject *object,
            const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;

  return json_node_get_string (node);
}

/* The error code member, which providers give as a string or a number. */
static char *
get_code (JsonObject *object)
{
  JsonNode *node = json_object_get_member (object, "code");

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return NULL;
  if (json_node_get_value_type (node) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (node));
  if (json_node_get_value_type (node) == G_TYPE_INT64)
    return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));

  return NULL;
}

/*
 * The error of an error body or error chunk. @status is the HTTP status, or 0
 * for an error inside a stream that started well.
 */
static GError *
error_from_object (Call       *call,
                   guint       status,
                   JsonObject *root)
{
  JsonNode *node = json_object_get_member (root, "error");
  JsonObject *object = root;
  const char *message = NULL;
  g_autofree char *code = NULL;
  const char *type = NULL;

  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    object = json_node_get_object (node);
  else if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
           json_node_get_value_type (node) == G_TYPE_STRING)
    message = json_node_get_string (node);  /* Ollama: {"error": "…"} */

  if (message == NULL)
    message = get_string (object, "message");
  type = get_string (object, "type");
  code = get_code (object);

  if (status == 0)
    {
      guint64 numeric = 0;

      /* OpenRouter puts the HTTP status it would have sent in the code. */
      if (code != NULL &&
          g_ascii_string_to_unsigned (code, 10, 400, 599, &numeric, NULL))
        status = (guint) numeric;
      else
        {
          g_autofree char *said = _helix_provider_redact (message != NULL ? message : type,
                                                          call->secret, 300);

          return g_error_new (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_SERVER,
                              _("%s reported an error while answering (%s). Try again, or use another provider."),
                              call->self->name, said != NULL ? said : _("no details"));
        }
    }

  return _helix_provider_error_from_http (call->self->name, status, call->retry_after,
                                          type, code, message, call->secret);
}

static gboolean
handle_chunk (Call       *call,
              JsonObject *root)
{
  JsonNode *node;

  if (json_object_has_member (root, "error"))
    {
      call->error = error_from_object (call, 0, root);
      return FALSE;
    }

  node = json_object_get_member (root, "choices");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    {
      JsonArray *choices;

      if (!JSON_NODE_HOLDS_ARRAY (node))
        goto bad_chunk;

      choices = json_node_get_array (node);
      if (json_array_get_length (choices) > 0)
        {
          JsonNode *choice_node = json_array_get_element (choices, 0);
          JsonObject *choice;
          JsonNode *delta_node;
          JsonNode *reason_node;

          if (!JSON_NODE_HOLDS_OBJECT (choice_node))
            goto bad_chunk;
          choice = json_node_get_object (choice_node);

          delta_node = json_object_get_member (choice, "delta");
          if (delta_node != NULL && JSON_NODE_HOLDS_OBJECT (delta_node))
            {
              JsonNode *content = json_object_get_member (json_node_get_object (delta_node),
                                                          "content");

              if (content != NULL && !JSON_NODE_HOLDS_NULL (content))
                {
                  const char *text;
                  gsize len;

                  if (!JSON_NODE_HOLDS_VALUE (content) ||
                      json_node_get_value_type (content) != G_TYPE_STRING)
                    goto bad_chunk;

                  text = json_node_get_string (content);
                  len = strlen (text);
                  /* json-glib may turn a lone surrogate escape into invalid UTF-8. */
                  if (!g_utf8_validate_len (text, len, NULL))
                    goto bad_chunk;
                  if (helix_chat_stream_get_text_length (call->stream) + len > HELIX_PROVIDER_MAX_TEXT)
                    {
                      call->error = protocol_error (call, _("the answer is too long"));
                      return FALSE;
                    }
                  _helix_chat_stream_append (call->stream, text, len);
                }
            }
          else if (delta_node != NULL && !JSON_NODE_HOLDS_NULL (delta_node))
            goto bad_chunk;

          reason_node = json_object_get_member (choice, "finish_reason");
          if (reason_node != NULL && !JSON_NODE_HOLDS_NULL (reason_node))
            {
              if (!JSON_NODE_HOLDS_VALUE (reason_node) ||
                  json_node_get_value_type (reason_node) != G_TYPE_STRING)
                goto bad_chunk;
              _helix_chat_stream_set_finish_reason (call->stream,
                                                    json_node_get_string (reason_node));
            }
        }
    }

  node = json_object_get_member (root, "usage");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    {
      JsonObject *usage;
      JsonNode *in;
      JsonNode *out;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        goto bad_chunk;
      usage = json_node_get_object (node);
      in = json_object_get_member (usage, "prompt_tokens");
      out = json_object_get_member (usage, "completion_tokens");
      if (in == NULL || out == NULL ||
          !JSON_NODE_HOLDS_VALUE (in) || json_node_get_value_type (in) != G_TYPE_INT64 ||
          !JSON_NODE_HOLDS_VALUE (out) || json_node_get_value_type (out) != G_TYPE_INT64 ||
          json_node_get_int (in) < 0 || json_node_get_int (out) < 0)
        goto bad_chunk;
      _helix_chat_stream_set_usage (call->stream, json_node_get_int (in), json_node_get_int (out));
    }

  return TRUE;

bad_chunk:
  call->error = protocol_error (call, _("a chunk has an unexpected shape"));
  return FALSE;
}

static gboolean
sse_event_cb (const HelixSseEvent *event,
              gpointer             user_data)
{
  Call *call = user_data;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) local_error = NULL;

  if (!call->got_data)
    {
      call->got_data = TRUE;
      clear_source (&call->first_token_timeout);
    }

  /* Stop pressed, or done: no delta after that. */
  if (call->done || g_cancellable_is_cancelled (call->cancellable))
    return FALSE;

  if (g_str_equal (event->data, "[DONE]"))
    {
      call->done = TRUE;
      _helix_chat_stream_set_complete (call->stream);
      return FALSE;
    }

  root = parse_object (event->data, event->data_len, &local_error);
  if (root == NULL)
    {
      call->error = protocol_error (call, local_error->message);
      return FALSE;
    }

  return handle_chunk (call, json_node_get_object (root));
}

/* The body of a successful answer: the event stream. */
static void
stream_read_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  Call *call = user_data;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  gsize len;

  bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (object), result, &error);

  if (bytes == NULL)
    {
      if (call->done && call->error == NULL)
        call_return (call, NULL);  /* the answer is complete; the end of the body is not needed */
      else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        call_return (call, take_cancel_reason (call));
      else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT))
        call_return (call, cut_error (call));
      else
        call_return (call, _helix_provider_error_from_io (call->self->name, error));
      return;
    }

  len = g_bytes_get_size (bytes);
  if (len == 0)
    {
      if (call->done)
        call_return (call, NULL);
      else
        call_return (call, cut_error (call));
      return;
    }

  if (!call->done)
    {
      if (!helix_sse_parser_feed (call->parser, g_bytes_get_data (bytes, NULL), len, &error))
        {
          call_return (call, protocol_error (call, error->message));
          return;
        }
      if (call->error != NULL)
        {
          call_return (call, g_steal_pointer (&call->error));
          return;
        }
      if (!call->done && g_cancellable_is_cancelled (call->cancellable))
        {
          call_return (call, take_cancel_reason (call));
          return;
        }
      if (call->done)
        {
          clear_source (&call->call_timeout);
          call->drain_timeout = add_timeout (call, DRAIN_MS);
        }
    }

  read_next (call);
}

static void
read_next (Call *call)
{
  g_input_stream_read_bytes_async (call->body, READ_SIZE, G_PRIORITY_DEFAULT,
                                   call->cancellable, stream_read_cb, call);
}

static void
error_body_done (Call *call)
{
  g_autoptr(JsonNode) root = NULL;
  GError *error;

  root = parse_object ((const char *) call->error_body->data, call->error_body->len, NULL);
  if (root != NULL)
    error = error_from_object (call, call->status, json_node_get_object (root));
  else
    error = _helix_provider_error_from_http (call->self->name, call->status, call->retry_after,
                                            NULL, NULL, NULL, call->secret);
  call_return (call, error);
}

/* The body of an error answer: read at most HELIX_PROVIDER_MAX_ERROR_BODY. */
static void
error_body_read_cb (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Call *call = user_data;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  gsize room;

  bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (object), result, &error);

  if (bytes == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      call_return (call, take_cancel_reason (call));
      return;
    }

  if (bytes == NULL || g_bytes_get_size (bytes) == 0)
    {
      /* An unreadable body still has its status. */
      error_body_done (call);
      return;
    }

  room = HELIX_PROVIDER_MAX_ERROR_BODY - call->error_body->len;
  g_byte_array_append (call->error_body, g_bytes_get_data (bytes, NULL),
                       MIN (room, g_bytes_get_size (bytes)));
  if (call->error_body->len >= HELIX_PROVIDER_MAX_ERROR_BODY)
    {
      error_body_done (call);
      return;
    }

  g_input_stream_read_bytes_async (call->body, READ_SIZE, G_PRIORITY_DEFAULT,
                                   call->cancellable, error_body_read_cb, call);
}

static void
send_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;
  SoupMessageHeaders *headers;
  const char *content_type;

  call->body = soup_session_send_finish (SOUP_SESSION (object), result, &error);
  clear_source (&call->connect_timeout);

  if (call->body == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        call_return (call, take_cancel_reason (call));
      else
        call_return (call, _helix_provider_error_from_io (call->self->name, error));
      return;
    }

  headers = soup_message_get_response_headers (call->msg);
  call->status = soup_message_get_status (call->msg);
  call->retry_after = helix_provider_parse_retry_after (
    soup_message_headers_get_one (headers, "Retry-After"), NULL);
  content_type = soup_message_headers_get_content_type (headers, NULL);

  g_debug ("%s: HTTP %u, %s", call->self->name, call->status,
           content_type != NULL ? content_type : "no content type");

  if (!SOUP_STATUS_IS_SUCCESSFUL (call->status))
    {
      clear_source (&call->first_token_timeout);
      call->error_body = g_byte_array_new ();
      g_input_stream_read_bytes_async (call->body, READ_SIZE, G_PRIORITY_DEFAULT,
                                       call->cancellable, error_body_read_cb, call);
      return;
    }

  if (g_strcmp0 (content_type, "application/json") == 0)
    {
      call_return (call, protocol_error (call, _("it did not stream its answer")));
      return;
    }

  call->parser = helix_sse_parser_new (sse_event_cb, call, NULL);
  helix_sse_parser_set_limits (call->parser, HELIX_PROVIDER_MAX_EVENT, HELIX_PROVIDER_MAX_EVENT);
  read_next (call);
}

static GBytes *
build_body (HelixChatRequest *request)
{
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  char *text;
  gsize len;
  double temperature;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "model");
  json_builder_add_string_value (builder, helix_chat_request_get_model (request));

  json_builder_set_member_name (builder, "messages");
  json_builder_begin_array (builder);
  for (guint i = 0; i < helix_chat_request_get_n_messages (request); i++)
    {
      HelixMessageRole role = helix_chat_request_get_message_role (request, i);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "role");
      json_builder_add_string_value (builder, helix_message_role_to_string (role));
      json_builder_set_member_name (builder, "content");
      json_builder_add_string_value (builder, helix_chat_request_get_message_content (request, i));
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  if (helix_chat_request_get_max_tokens (request) > 0)
    {
      json_builder_set_member_name (builder, "max_tokens");
      json_builder_add_int_value (builder, helix_chat_request_get_max_tokens (request));
    }

  if (helix_chat_request_get_temperature (request, &temperature))
    {
      json_builder_set_member_name (builder, "temperature");
      json_builder_add_double_value (builder, temperature);
    }

  json_builder_set_member_name (builder, "stream");
  json_builder_add_boolean_value (builder, TRUE);
  json_builder_set_member_name (builder, "stream_options");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "include_usage");
  json_builder_add_boolean_value (builder, TRUE);
  json_builder_end_object (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  text = json_generator_to_data (generator, &len);

  return g_bytes_new_take (text, len);
}

static void
helix_provider_openai_stream_chat_async (HelixProvider       *provider,
                                         HelixChatRequest    *request,
                                         HelixChatStream     *stream,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             user_data)
{
  HelixProviderOpenai *self = HELIX_PROVIDER_OPENAI (provider);
  g_autoptr(GBytes) body = NULL;
  g_autofree char *url = NULL;
  SoupMessageHeaders *headers;
  guint connect_ms;
  guint first_token_ms;
  guint call_ms;
  Call *call;

  call = g_new0 (Call, 1);
  call->self = g_object_ref (self);
  call->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (call->task, helix_provider_openai_stream_chat_async);
  g_task_set_check_cancellable (call->task, FALSE);
  call->stream = g_object_ref (stream);
  call->cancellable = g_cancellable_new ();
  call->retry_after = -1;
  call->secret = g_strdup (self->api_key);

  _helix_chat_stream_start (stream);

  url = g_strconcat (self->base_url, "/chat/completions", NULL);
  call->msg = soup_message_new (SOUP_METHOD_POST, url);
  g_assert (call->msg != NULL);  /* the base URL was checked in new() */
  /* A redirect could carry the key elsewhere: an API endpoint has no business redirecting. */
  soup_message_add_flags (call->msg, SOUP_MESSAGE_NO_REDIRECT);

  headers = soup_message_get_request_headers (call->msg);
  if (self->api_key != NULL && *self->api_key != '\0')
    {
      g_autofree char *authorization = g_strconcat ("Bearer ", self->api_key, NULL);

      soup_message_headers_replace (headers, "Authorization", authorization);
    }
  soup_message_headers_replace (headers, "Accept", "text/event-stream");

  body = build_body (request);
  soup_message_set_request_body_from_bytes (call->msg, "application/json", body);

  g_signal_connect (call->msg, "network-event", G_CALLBACK (network_event_cb), call);

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

  g_debug ("%s: POST %s/chat/completions, model %s, %u messages",
           self->name, self->base_url, helix_chat_request_get_model (request),
           helix_chat_request_get_n_messages (request));

  soup_session_send_async (self->session, call->msg, G_PRIORITY_DEFAULT, call->cancellable,
                           send_cb, call);
}

static gboolean
helix_provider_openai_stream_chat_finish (HelixProvider  *provider,
                                          GAsyncResult   *result,
                                          GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, provider), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        helix_provider_openai_stream_chat_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static const char *
helix_provider_openai_get_name (HelixProvider *provider)
{
  return HELIX_PROVIDER_OPENAI (provider)->name;
}

static void
provider_iface_init (HelixProviderInterface *iface)
{
  iface->get_name = helix_provider_openai_get_name;
  iface->stream_chat_async = helix_provider_openai_stream_chat_async;
  iface->stream_chat_finish = helix_provider_openai_stream_chat_finish;
}

static void
helix_provider_openai_dispose (GObject *object)
{
  HelixProviderOpenai *self = (HelixProviderOpenai *) object;

  if (self->session != NULL)
    soup_session_abort (self->session);
  g_clear_object (&self->session);

  G_OBJECT_CLASS (helix_provider_openai_parent_class)->dispose (object);
}

static void
helix_provider_openai_finalize (GObject *object)
{
  HelixProviderOpenai *self = (HelixProviderOpenai *) object;

  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->base_url, g_free);
  g_clear_pointer (&self->api_key, g_free);

  G_OBJECT_CLASS (helix_provider_openai_parent_class)->finalize (object);
}

static void
helix_provider_openai_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  HelixProviderOpenai *self = HELIX_PROVIDER_OPENAI (object);

  switch (prop_id)
    {
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;

    case PROP_BASE_URL:
      g_value_set_string (value, self->base_url);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_provider_openai_set_property (GObject      *object,
                                    guint         prop_id,
                                    const GValue *value,
                                    GParamSpec   *pspec)
{
  HelixProviderOpenai *self = HELIX_PROVIDER_OPENAI (object);

  switch (prop_id)
    {
    case PROP_NAME:
      self->name = g_value_dup_string (value);
      break;

    case PROP_BASE_URL:
      {
        const char *url = g_value_get_string (value);
        gsize len = url != NULL ? strlen (url) : 0;

        /* "…/v1/" and "…/v1" both work. */
        while (len > 0 && url[len - 1] == '/')
          len--;
        self->base_url = g_strndup (url, len);
      }
      break;

    case PROP_API_KEY:
      helix_provider_openai_set_api_key (self, g_value_get_string (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_provider_openai_class_init (HelixProviderOpenaiClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = helix_provider_openai_dispose;
  object_class->finalize = helix_provider_openai_finalize;
  object_class->get_property = helix_provider_openai_get_property;
  object_class->set_property = helix_provider_openai_set_property;

  /**
   * HelixProviderOpenai:name:
   *
   * The provider's name in messages and the ledger ("openai", "deepseek", "ollama").
   */
  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL, "openai",
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HelixProviderOpenai:base-url:
   *
   * The API root, up to and with the version: `https://api.openai.com/v1`,
   * `https://api.deepseek.com/v1`, `http://127.0.0.1:11434/v1`.
   */
  properties[PROP_BASE_URL] =
    g_param_spec_string ("base-url", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HelixProviderOpenai:api-key:
   *
   * The bearer key, or %NULL for servers without one (Ollama). Write-only.
   */
  properties[PROP_API_KEY] =
    g_param_spec_string ("api-key", NULL, NULL, NULL,
                         G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
helix_provider_openai_init (HelixProviderOpenai *self)
{
  /* No libsoup I/O timeout: the call's own timeouts bound every wait, and a
   * model may think quietly for longer than libsoup's default minute. */
  self->session = soup_session_new_with_options ("user-agent", "helix/" PACKAGE_VERSION,
                                                 "timeout", 0,
                                                 "max-conns", 256,
                                                 "max-conns-per-host", 64,
                                                 NULL);
}

/**
 * helix_provider_openai_new:
 * @name: the provider's name in messages and the ledger
 * @base_url: the API root with its version (`https://api.openai.com/v1`)
 * @api_key: (nullable): the bearer key, or %NULL for none
 * @error: a location for a #GError
 *
 * Returns: (transfer full) (nullable): a provider, or %NULL with
 *   %G_IO_ERROR_INVALID_ARGUMENT if @base_url is not an http or https URL
 */
HelixProviderOpenai *
helix_provider_openai_new (const char  *name,
                           const char  *base_url,
                           const char  *api_key,
                           GError     **error)
{
  g_autoptr(GUri) uri = NULL;
  const char *scheme;

  g_return_val_if_fail (name != NULL && *name != '\0', NULL);
  g_return_val_if_fail (base_url != NULL, NULL);

  uri = g_uri_parse (base_url, SOUP_HTTP_URI_FLAGS, NULL);
  scheme = uri != NULL ? g_uri_get_scheme (uri) : NULL;
  if (uri == NULL || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0' ||
      (g_strcmp0 (scheme, "http") != 0 && g_strcmp0 (scheme, "https") != 0) ||
      g_uri_get_query (uri) != NULL || g_uri_get_userinfo (uri) != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("The address of %s is not an http or https URL without user or query (e.g. https://api.openai.com/v1)"),
                   name);
      return NULL;
    }

  return g_object_new (HELIX_TYPE_PROVIDER_OPENAI,
                       "name", name,
                       "base-url", base_url,
                       "api-key", api_key,
                       NULL);
}

const char *
helix_provider_openai_get_base_url (HelixProviderOpenai *self)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_OPENAI (self), NULL);

  return self->base_url;
}

/**
 * helix_provider_openai_set_api_key:
 * @self: a provider
 * @api_key: (nullable): the new key; calls already running keep the old one
 */
void
helix_provider_openai_set_api_key (HelixProviderOpenai *self,
                                   const char          *api_key)
{
  g_return_if_fail (HELIX_IS_PROVIDER_OPENAI (self));

  g_clear_pointer (&self->api_key, g_free);
  self->api_key = g_strdup (api_key);
}
