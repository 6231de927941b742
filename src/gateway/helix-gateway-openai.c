/* helix-gateway-openai.c: the OpenAI-compatible API of the gateway's AI router
 *
 *   POST /v1/chat/completions   a chat completion, streamed (SSE) or not
 *   GET  /v1/models             the models a client may name, and "auto"
 *
 * Any program that speaks OpenAI's chat completions API uses the gateway's
 * router with `base_url = https://GATEWAY/v1` and a device token of the
 * gateway as its API key: same authentication, rate limits and CORS rules as
 * /api/v1. The router picks the provider and model ("auto" or "helix": the
 * cheapest healthy one for the operation "chat"; any other name pins that
 * model, as "model" or "provider/model"), retries and fails over, and the
 * ledger records the call under the user's name.
 *
 * Errors have OpenAI's shape, {"error":{"message","type","param","code"}},
 * for every path under /v1/ (see _helix_gateway_respond_error()).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <glib/gi18n.h>

#include "helix-gateway-native.h"
#include "helix-gateway-private.h"
#include "helix-json.h"
#include "helix-log.h"

#define CHAT_PATH   "/v1/chat/completions"
#define MODELS_PATH "/v1/models"

/* The model names that let the router choose. */
#define AUTO_MODEL  "auto"
#define HELIX_MODEL "helix"

/* Bounds of a request. */
#define MAX_MESSAGES    1024
#define MAX_MAX_TOKENS  1000000

gboolean
_helix_gateway_path_is_openai (const char *path)
{
  return path != NULL && (g_str_has_prefix (path, "/v1/") || g_str_equal (path, "/v1"));
}

/* Errors {{{1 */

static JsonNode *openai_error_node (const char *type,
                                    const char *code,
                                    const char *message);

/**
 * _helix_gateway_respond_openai_error:
 * @msg: a request under /v1/
 * @status: the HTTP status
 * @type: OpenAI's error type (`invalid_request_error`, …)
 * @code: (nullable): a stable code (`model_not_found`, …)
 * @message: what happened and what to do, for people
 *
 * Answers {"error":{"message","type","param":null,"code"}}.
 */
void
_helix_gateway_respond_openai_error (SoupServerMessage *msg,
                                     guint              status,
                                     const char        *type,
                                     const char        *code,
                                     const char        *message)
{
  g_autoptr(JsonNode) root = openai_error_node (type, code, message);

  _helix_gateway_respond_json (msg, status, root);
}

static JsonNode *
openai_error_node (const char *type,
                   const char *code,
                   const char *message)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "error");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "message");
  json_builder_add_string_value (builder, message);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, type);
  json_builder_set_member_name (builder, "param");
  json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "code");
  if (code != NULL)
    json_builder_add_string_value (builder, code);
  else
    json_builder_add_null_value (builder);
  json_builder_end_object (builder);
  json_builder_end_object (builder);

  return json_builder_get_root (builder);
}

/* The type of an OpenAI error of @status. */
const char *
_helix_gateway_openai_error_type (guint status)
{
  switch (status)
    {
    case SOUP_STATUS_UNAUTHORIZED:
      return "authentication_error";
    case SOUP_STATUS_PAYMENT_REQUIRED:
      return "insufficient_quota";
    case SOUP_STATUS_FORBIDDEN:
      return "permission_error";
    case 429:
      return "rate_limit_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

/* The OpenAI code of a gateway error code, where OpenAI has its own. */
const char *
_helix_gateway_openai_error_code (const char *code)
{
  if (g_strcmp0 (code, "rate_limited") == 0)
    return "rate_limit_exceeded";

  return code;
}

static void
respond_invalid (SoupServerMessage *msg,
                 const char        *message)
{
  _helix_gateway_respond_openai_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request_error",
                                       "invalid_request", message);
}

/* The status, type and code of a failed router call; *@retry_after_s for 429. */
static guint
classify_error (const GError  *error,
                const char   **type,
                const char   **code)
{
  if (error->domain == HELIX_BUDGET_ERROR)
    {
      *type = "insufficient_quota";
      *code = "insufficient_quota";
      return SOUP_STATUS_PAYMENT_REQUIRED;
    }

  if (error->domain == HELIX_ROUTER_ERROR)
    {
      *type = "api_error";
      *code = error->code == HELIX_ROUTER_ERROR_NO_CANDIDATE ? "no_healthy_provider"
                                                             : "router_misconfigured";
      return SOUP_STATUS_SERVICE_UNAVAILABLE;
    }

  if (error->domain == HELIX_PROVIDER_ERROR)
    {
      if (error->code == HELIX_PROVIDER_ERROR_RATE_LIMITED)
        {
          *type = "rate_limit_error";
          *code = "rate_limit_exceeded";
          return 429;
        }

      if (error->code == HELIX_PROVIDER_ERROR_BAD_REQUEST)
        {
          *type = "invalid_request_error";
          *code = "upstream_refused";
          return SOUP_STATUS_BAD_REQUEST;
        }

      if (error->code == HELIX_PROVIDER_ERROR_CONNECT_TIMEOUT ||
          error->code == HELIX_PROVIDER_ERROR_FIRST_TOKEN_TIMEOUT ||
          error->code == HELIX_PROVIDER_ERROR_CALL_TIMEOUT)
        {
          *type = "api_error";
          *code = "upstream_timeout";
          return SOUP_STATUS_GATEWAY_TIMEOUT;
        }
    }

  *type = "api_error";
  *code = "upstream_error";
  return SOUP_STATUS_BAD_GATEWAY;
}

/* Reading the request {{{1 */

static gboolean
member_is_type (JsonNode *node,
                GType     type)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

/* "content": a string, or an array of {"type":"text","text":…}. */
static char *
read_content (JsonNode  *node,
              guint      index,
              char     **problem)
{
  g_autoptr(GString) text = NULL;
  JsonArray *parts;

  if (member_is_type (node, G_TYPE_STRING))
    return g_strdup (json_node_get_string (node));

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    {
      *problem = g_strdup_printf (_("messages[%u].content must be a string or an array of "
                                    "text parts."), index);
      return NULL;
    }

  parts = json_node_get_array (node);
  text = g_string_new (NULL);
  for (guint i = 0; i < json_array_get_length (parts); i++)
    {
      JsonNode *part_node = json_array_get_element (parts, i);
      JsonObject *part = JSON_NODE_HOLDS_OBJECT (part_node) ? json_node_get_object (part_node)
                                                           : NULL;
      JsonNode *type = part != NULL ? json_object_get_member (part, "type") : NULL;
      JsonNode *part_text = part != NULL ? json_object_get_member (part, "text") : NULL;

      if (!member_is_type (type, G_TYPE_STRING) ||
          !g_str_equal (json_node_get_string (type), "text") ||
          !member_is_type (part_text, G_TYPE_STRING))
        {
          *problem = g_strdup_printf (_("messages[%u].content[%u] is not a text part "
                                        "{\"type\":\"text\",\"text\":\"…\"}; only text is "
                                        "supported."), index, i);
          return NULL;
        }

      if (text->len > 0)
        g_string_append_c (text, '\n');
      g_string_append (text, json_node_get_string (part_text));
    }

  return g_string_free (g_steal_pointer (&text), FALSE);
}

static gboolean
read_role (const char       *role,
           HelixMessageRole *out)
{
  if (g_strcmp0 (role, "system") == 0 || g_strcmp0 (role, "developer") == 0)
    *out = HELIX_MESSAGE_ROLE_SYSTEM;
  else if (g_strcmp0 (role, "user") == 0)
    *out = HELIX_MESSAGE_ROLE_USER;
  else if (g_strcmp0 (role, "assistant") == 0)
    *out = HELIX_MESSAGE_ROLE_ASSISTANT;
  else
    return FALSE;

  return TRUE;
}

/* A whole number member, from 1 to @max, or absent (0). */
static gboolean
read_count (JsonObject  *object,
            const char  *name,
            guint        max,
            guint       *out,
            char       **problem)
{
  JsonNode *node = json_object_get_member (object, name);
  double value;

  *out = 0;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;

  if (!JSON_NODE_HOLDS_VALUE (node) ||
      (json_node_get_value_type (node) != G_TYPE_INT64 &&
       json_node_get_value_type (node) != G_TYPE_DOUBLE))
    value = -1;
  else
    value = json_node_get_double (node);

  if (!(value >= 1) || value > max || value != (double) (guint) value)
    {
      *problem = g_strdup_printf (_("“%s” must be a whole number from 1 to %u."), name, max);
      return FALSE;
    }

  *out = (guint) value;
  return TRUE;
}

/* What a chat completion asks for. */
typedef struct
{
  HelixChatRequest *request;
  char             *model;          /* as asked */
  char             *pinned;         /* (nullable): NULL for "auto" */
  gboolean          stream;
  gboolean          include_usage;
} ChatAsk;

static void
chat_ask_clear (ChatAsk *ask)
{
  g_clear_pointer (&ask->request, helix_chat_request_unref);
  g_clear_pointer (&ask->model, g_free);
  g_clear_pointer (&ask->pinned, g_free);
}

/* Reads and checks the body. On a problem, sets @problem (a 400) or, for an
 * unknown model, returns FALSE with @problem NULL after answering 404. */
static gboolean
read_chat_ask (SoupServerMessage  *msg,
               HelixGatewayAi     *ai,
               JsonObject         *object,
               ChatAsk            *ask,
               char              **problem)
{
  JsonNode *node;
  JsonArray *messages;
  const char *model;
  guint max_tokens = 0;
  guint max_completion_tokens = 0;
  guint n = 0;

  node = json_object_get_member (object, "model");
  if (!member_is_type (node, G_TYPE_STRING) || *json_node_get_string (node) == '\0' ||
      strlen (json_node_get_string (node)) > 256)
    {
      *problem = g_strdup (_("“model” must be a model name: “auto” lets the gateway choose; "
                             "GET /v1/models lists the others."));
      return FALSE;
    }
  model = json_node_get_string (node);
  ask->model = g_strdup (model);

  if (!g_str_equal (model, AUTO_MODEL) && !g_str_equal (model, HELIX_MODEL))
    {
      if (!_helix_gateway_ai_has_model (ai, model))
        {
          g_autofree char *message =
            g_strdup_printf (_("The model “%s” does not exist on this gateway. Use “auto”, or "
                               "one that GET /v1/models lists."), model);

          /* The native path leaves this answer to libsoup. */
          if (msg != NULL)
            _helix_gateway_respond_openai_error (msg, SOUP_STATUS_NOT_FOUND,
                                                 "invalid_request_error", "model_not_found",
                                                 message);
          return FALSE;
        }
      ask->pinned = g_strdup (model);
    }

  node = json_object_get_member (object, "messages");
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node) ||
      json_array_get_length (json_node_get_array (node)) == 0)
    {
      *problem = g_strdup (_("“messages” must be a non-empty array of {\"role\",\"content\"}."));
      return FALSE;
    }
  messages = json_node_get_array (node);
  if (json_array_get_length (messages) > MAX_MESSAGES)
    {
      *problem = g_strdup_printf (_("“messages” holds more than %u messages."), MAX_MESSAGES);
      return FALSE;
    }

  ask->request = helix_chat_request_new (ask->pinned != NULL ? ask->pinned : AUTO_MODEL);

  for (guint i = 0; i < json_array_get_length (messages); i++)
    {
      JsonNode *message_node = json_array_get_element (messages, i);
      JsonObject *message;
      JsonNode *role;
      HelixMessageRole helix_role;
      g_autofree char *content = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (message_node))
        {
          *problem = g_strdup_printf (_("messages[%u] must be an object {\"role\",\"content\"}."),
                                      i);
          return FALSE;
        }
      message = json_node_get_object (message_node);

      role = json_object_get_member (message, "role");
      if (!member_is_type (role, G_TYPE_STRING) ||
          !read_role (json_node_get_string (role), &helix_role))
        {
          *problem = g_strdup_printf (_("messages[%u].role must be “system”, “user” or "
                                        "“assistant”."), i);
          return FALSE;
        }

      content = read_content (json_object_get_member (message, "content"), i, problem);
      if (content == NULL)
        return FALSE;

      helix_chat_request_add_message (ask->request, helix_role, content);
    }

  node = json_object_get_member (object, "stream");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    {
      if (!member_is_type (node, G_TYPE_BOOLEAN))
        {
          *problem = g_strdup (_("“stream” must be true or false."));
          return FALSE;
        }
      ask->stream = json_node_get_boolean (node);
    }

  node = json_object_get_member (object, "stream_options");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    {
      JsonNode *usage = JSON_NODE_HOLDS_OBJECT (node)
                        ? json_object_get_member (json_node_get_object (node), "include_usage")
                        : NULL;

      if (!JSON_NODE_HOLDS_OBJECT (node) ||
          (usage != NULL && !member_is_type (usage, G_TYPE_BOOLEAN)))
        {
          *problem = g_strdup (_("“stream_options” must be an object such as "
                                 "{\"include_usage\": true}."));
          return FALSE;
        }
      ask->include_usage = usage != NULL && json_node_get_boolean (usage);
    }

  if (!read_count (object, "max_tokens", MAX_MAX_TOKENS, &max_tokens, problem) ||
      !read_count (object, "max_completion_tokens", MAX_MAX_TOKENS, &max_completion_tokens,
                   problem) ||
      !read_count (object, "n", 1, &n, problem))
    return FALSE;
  if (max_completion_tokens > 0 || max_tokens > 0)
    helix_chat_request_set_max_tokens (ask->request,
                                       max_completion_tokens > 0 ? max_completion_tokens
                                                                 : max_tokens);

  node = json_object_get_member (object, "temperature");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    {
      double temperature = -1;

      if (JSON_NODE_HOLDS_VALUE (node) &&
          (json_node_get_value_type (node) == G_TYPE_INT64 ||
           json_node_get_value_type (node) == G_TYPE_DOUBLE))
        temperature = json_node_get_double (node);

      if (!(temperature >= 0) || temperature > 2)
        {
          *problem = g_strdup (_("“temperature” must be a number from 0 to 2."));
          return FALSE;
        }
      helix_chat_request_set_temperature (ask->request, temperature);
    }

  return TRUE;
}

/* The call {{{1 */

/* One call. It answers through libsoup (@msg) or, when the native path
 * took the request (helix-gateway-native.c), through @native: then it never
 * streams, and its headers gather in @native_headers. */
typedef struct _HelixGatewayOpenaiCall
{
  SoupServerMessage *msg;           /* (nullable) */
  HelixGatewayNativeCall *native;   /* (nullable) */
  GString           *native_headers;
  ChatAsk            ask;
  char              *user_name;
  HelixRouter       *router;
  HelixChatStream   *stream;
  GCancellable      *cancellable;
  GSource           *hangup;        /* (nullable): watches the client's socket */
  char              *id;
  char              *model;         /* in the chunks: the router's choice at the start */
  gint64             created;
  gboolean           streaming;
  gboolean           include_usage;
  gboolean           started;       /* the event stream's headers went out */
  gboolean           gone;          /* the message is finished or its client went away */
  gboolean           ended;         /* libsoup is done with the message */
} ChatCall;

static void
chat_call_free (ChatCall *call)
{
  if (call->native_headers != NULL)
    g_string_free (call->native_headers, TRUE);
  chat_ask_clear (&call->ask);
  g_free (call->user_name);
  if (call->hangup != NULL)
    {
      g_source_destroy (call->hangup);
      g_source_unref (call->hangup);
    }
  g_signal_handlers_disconnect_by_data (call->stream, call);
  if (call->msg != NULL)
    g_signal_handlers_disconnect_by_data (call->msg, call);
  g_clear_object (&call->stream);
  g_clear_object (&call->msg);
  g_clear_object (&call->router);
  g_clear_object (&call->cancellable);
  g_free (call->id);
  g_free (call->model);
  g_free (call);
}

static void
on_message_gone (SoupServerMessage *msg,
                 ChatCall          *call)
{
  if (call->gone)
    return;

  call->gone = TRUE;
  if (call->hangup != NULL)
    {
      g_source_destroy (call->hangup);
      g_clear_pointer (&call->hangup, g_source_unref);
    }
  g_debug ("%s: the client went away; cancelling the upstream call", call->id);
  g_cancellable_cancel (call->cancellable);
}

/* A paused response does not read from its connection: nothing would notice
 * a client that hangs up while the upstream thinks. This watch does. */
static void
on_message_ended (SoupServerMessage *msg,
                  ChatCall          *call)
{
  call->ended = TRUE;
  on_message_gone (msg, call);
}

static gboolean
hangup_cb (GSocket      *socket,
           GIOCondition  condition,
           gpointer      user_data)
{
  ChatCall *call = user_data;
  char c;

  if ((condition & (G_IO_HUP | G_IO_ERR)) == 0)
    {
      gssize n = recv (g_socket_get_fd (socket), &c, 1, MSG_PEEK | MSG_DONTWAIT);

      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;

      if (n > 0)
        {
          /* The client sent more (a pipelined request): not a hang-up. */
          g_clear_pointer (&call->hangup, g_source_unref);
          return G_SOURCE_REMOVE;
        }
    }

  on_message_gone (call->msg, call);

  return G_SOURCE_REMOVE;
}

static void
watch_hangup (ChatCall *call)
{
  GSocket *socket = _helix_gateway_message_get_socket (call->msg);

  if (socket == NULL)
    return;

  call->hangup = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (call->hangup, G_SOURCE_FUNC (hangup_cb), call, NULL);
  g_source_set_static_name (call->hangup, "[helix-gateway] client hang-up");
  g_source_attach (call->hangup, NULL);
}

static const char *
openai_finish_reason (const char *reason)
{
  if (reason == NULL)
    return "stop";

  if (g_ascii_strcasecmp (reason, "length") == 0 || g_ascii_strcasecmp (reason, "max_tokens") == 0)
    return "length";
  if (g_ascii_strcasecmp (reason, "content_filter") == 0 ||
      g_ascii_strcasecmp (reason, "safety") == 0 ||
      g_ascii_strcasecmp (reason, "refusal") == 0)
    return "content_filter";
  if (g_ascii_strcasecmp (reason, "tool_calls") == 0 || g_ascii_strcasecmp (reason, "tool_use") == 0)
    return "tool_calls";

  return "stop";
}

static void
add_usage (JsonBuilder *builder,
           gint64       input_tokens,
           gint64       output_tokens)
{
  input_tokens = MAX (input_tokens, 0);
  output_tokens = MAX (output_tokens, 0);

  json_builder_set_member_name (builder, "usage");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "prompt_tokens");
  json_builder_add_int_value (builder, input_tokens);
  json_builder_set_member_name (builder, "completion_tokens");
  json_builder_add_int_value (builder, output_tokens);
  json_builder_set_member_name (builder, "total_tokens");
  json_builder_add_int_value (builder, input_tokens + output_tokens);
  json_builder_end_object (builder);
}

static void
begin_chunk (JsonBuilder *builder,
             ChatCall    *call,
             const char  *model)
{
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, call->id);
  json_builder_set_member_name (builder, "object");
  json_builder_add_string_value (builder, "chat.completion.chunk");
  json_builder_set_member_name (builder, "created");
  json_builder_add_int_value (builder, call->created);
  json_builder_set_member_name (builder, "model");
  json_builder_add_string_value (builder, model);
}

/* Writes one `data:` event and lets libsoup send it. */
static void
send_event (ChatCall   *call,
            JsonNode   *root,
            const char *literal)
{
  SoupMessageBody *body = soup_server_message_get_response_body (call->msg);
  g_autofree char *json = root != NULL ? json_to_string (root, FALSE) : NULL;
  char *event = g_strconcat ("data: ", json != NULL ? json : literal, "\n\n", NULL);

  soup_message_body_append (body, SOUP_MEMORY_TAKE, event, strlen (event));
  soup_server_message_unpause (call->msg);
}

/* Starts the event stream: status, headers, and the chunk that names the role. */
static void
start_stream (ChatCall *call)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (call->msg);
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  call->started = TRUE;

  soup_server_message_set_status (call->msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_set_content_type (headers, "text/event-stream", NULL);
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
  /* Proxies (nginx) must not hold the events back. */
  soup_message_headers_replace (headers, "X-Accel-Buffering", "no");

  begin_chunk (builder, call, call->model);
  json_builder_set_member_name (builder, "choices");
  json_builder_begin_array (builder);
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "index");
  json_builder_add_int_value (builder, 0);
  json_builder_set_member_name (builder, "delta");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "role");
  json_builder_add_string_value (builder, "assistant");
  json_builder_set_member_name (builder, "content");
  json_builder_add_string_value (builder, "");
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "finish_reason");
  json_builder_add_null_value (builder);
  json_builder_end_object (builder);
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  send_event (call, root, NULL);
}

static void
on_delta (HelixChatStream *stream,
          const char      *text,
          ChatCall        *call)
{
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) root = NULL;

  if (!call->streaming || call->gone)
    return;

  if (!call->started)
    start_stream (call);

  builder = json_builder_new ();
  begin_chunk (builder, call, call->model);
  json_builder_set_member_name (builder, "choices");
  json_builder_begin_array (builder);
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "index");
  json_builder_add_int_value (builder, 0);
  json_builder_set_member_name (builder, "delta");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "content");
  json_builder_add_string_value (builder, text);
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "finish_reason");
  json_builder_add_null_value (builder);
  json_builder_end_object (builder);
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  send_event (call, root, NULL);
}

/* Sets a header of @call's answer, not yet sent. */
static void
call_set_header (ChatCall   *call,
                 const char *name,
                 const char *value)
{
  if (call->msg != NULL)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (call->msg),
                                    name, value);
      return;
    }

  g_string_append (call->native_headers, name);
  g_string_append (call->native_headers, ": ");
  g_string_append (call->native_headers, value);
  g_string_append (call->native_headers, "\r\n");
}

/* Answers @call with the JSON @text (taken). */
static void
call_respond_json (ChatCall *call,
                   guint     status,
                   GString  *text)
{
  if (call->msg != NULL)
    {
      _helix_gateway_respond_json_text (call->msg, status, text);
      soup_server_message_unpause (call->msg);
      return;
    }

  {
    g_autoptr(GBytes) body = g_string_free_to_bytes (text);

    _helix_gateway_native_call_respond (g_steal_pointer (&call->native), status,
                                        call->native_headers->str, body);
  }
}

static void
set_helix_headers (ChatCall          *call,
                   HelixRouterResult *result)
{
  if (result == NULL)
    return;

  if (result->provider != NULL)
    call_set_header (call, "X-Helix-Provider", result->provider);
  if (result->model != NULL)
    call_set_header (call, "X-Helix-Model", result->model);
  if (result->reason != NULL)
    {
      /* A header value is one line of visible ASCII. */
      g_autofree char *reason = g_strdup (result->reason);

      for (char *c = reason; *c != '\0'; c++)
        if ((guchar) *c < ' ' || (guchar) *c >= 0x7f)
          *c = '?';
      call_set_header (call, "X-Helix-Reason", reason);
    }
}

/* The answer of a call that did not stream, written straight as text (a hot
 * path: a JsonBuilder tree cost more than the rest of answering). */
static void
respond_completion (ChatCall          *call,
                    HelixRouterResult *result)
{
  HelixChatStream *stream = call->stream;
  const char *text = helix_chat_stream_get_text (stream);
  gint64 input_tokens = MAX (result->input_tokens, 0);
  gint64 output_tokens = MAX (result->output_tokens, 0);
  GString *out = g_string_sized_new (256 + strlen (text));

  set_helix_headers (call, result);

  g_string_append (out, "{\"id\":");
  _helix_gateway_json_append_string (out, call->id);
  g_string_append_printf (out, ",\"object\":\"chat.completion\",\"created\":%" G_GINT64_FORMAT
                          ",\"model\":", call->created);
  _helix_gateway_json_append_string (out, result->model != NULL ? result->model : call->model);
  g_string_append (out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                        "\"content\":");
  _helix_gateway_json_append_string (out, text);
  g_string_append (out, "},\"finish_reason\":");
  _helix_gateway_json_append_string (out, openai_finish_reason (
                                       helix_chat_stream_get_finish_reason (stream)));
  g_string_append_printf (out, "}],\"usage\":{\"prompt_tokens\":%" G_GINT64_FORMAT
                          ",\"completion_tokens\":%" G_GINT64_FORMAT
                          ",\"total_tokens\":%" G_GINT64_FORMAT "}}",
                          input_tokens, output_tokens, input_tokens + output_tokens);

  call_respond_json (call, SOUP_STATUS_OK, out);
}

/* The end of an event stream: the finish reason, the usage if asked, [DONE]. */
static void
finish_stream (ChatCall          *call,
               HelixRouterResult *result)
{
  const char *model = result->model != NULL ? result->model : call->model;
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  if (!call->started)
    start_stream (call);  /* an empty answer */

  begin_chunk (builder, call, model);
  json_builder_set_member_name (builder, "choices");
  json_builder_begin_array (builder);
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "index");
  json_builder_add_int_value (builder, 0);
  json_builder_set_member_name (builder, "delta");
  json_builder_begin_object (builder);
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "finish_reason");
  json_builder_add_string_value (builder,
                                 openai_finish_reason (
                                   helix_chat_stream_get_finish_reason (call->stream)));
  json_builder_end_object (builder);
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  send_event (call, root, NULL);

  if (call->include_usage)
    {
      g_autoptr(JsonBuilder) usage = json_builder_new ();
      g_autoptr(JsonNode) usage_root = NULL;

      begin_chunk (usage, call, model);
      json_builder_set_member_name (usage, "choices");
      json_builder_begin_array (usage);
      json_builder_end_array (usage);
      add_usage (usage, result->input_tokens, result->output_tokens);
      json_builder_end_object (usage);
      usage_root = json_builder_get_root (usage);
      send_event (call, usage_root, NULL);
    }

  send_event (call, NULL, "[DONE]");
  soup_message_body_complete (soup_server_message_get_response_body (call->msg));
  soup_server_message_unpause (call->msg);
}

static void
respond_failure (ChatCall     *call,
                 const GError *error)
{
  const char *type;
  const char *code;
  guint status = classify_error (error, &type, &code);

  if (call->started)
    {
      /* The status went out with the first event: the error is the last one. */
      g_autoptr(JsonNode) root = openai_error_node (type, code, error->message);

      send_event (call, root, NULL);
      soup_message_body_complete (soup_server_message_get_response_body (call->msg));
      soup_server_message_unpause (call->msg);
      return;
    }

  if (status == 429)
    {
      gint64 retry_after = helix_chat_stream_get_retry_after (call->stream);
      g_autofree char *seconds = g_strdup_printf ("%" G_GINT64_FORMAT, MAX (retry_after, 1));

      call_set_header (call, "Retry-After", seconds);
    }

  {
    g_autoptr(JsonNode) root = openai_error_node (type, code, error->message);
    g_autofree char *json = json_to_string (root, FALSE);

    call_respond_json (call, status, g_string_new (json));
  }
}

static void
chat_done_cb (GObject      *source,
              GAsyncResult *res,
              gpointer      user_data)
{
  ChatCall *call = user_data;
  g_autoptr(HelixRouterResult) result = NULL;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  ok = helix_router_chat_finish (HELIX_ROUTER (source), res, &result, &error);

  if (call->gone)
    {
      g_debug ("%s: ended after its client went away", call->id);
      if (call->native != NULL)
        _helix_gateway_native_call_drop (g_steal_pointer (&call->native));
      /* A client that hung up while the message waited: let libsoup write
       * the end, find the connection closed and be done with the message. */
      else if (!call->ended)
        {
          if (call->started)
            soup_message_body_complete (soup_server_message_get_response_body (call->msg));
          else
            soup_server_message_set_status (call->msg, 499, "Client Closed Request");
          soup_server_message_unpause (call->msg);
        }
      chat_call_free (call);
      return;
    }

  if (!ok)
    {
      g_debug ("%s: failed: %s", call->id, error->message);
      if (!call->started)
        set_helix_headers (call, result);
      respond_failure (call, error);
    }
  else if (call->streaming)
    finish_stream (call, result);
  else
    respond_completion (call, result);

  chat_call_free (call);
}

/* A call of @ask (taken) for @user_name, not started yet. */
static ChatCall *
chat_call_new (HelixGatewayAi *ai,
               ChatAsk        *ask,
               const char     *user_name)
{
  ChatCall *call = g_new0 (ChatCall, 1);
  g_autofree char *chosen = NULL;

  call->router = g_object_ref (_helix_gateway_ai_get_router (ai));
  call->stream = helix_chat_stream_new ();
  call->cancellable = g_cancellable_new ();
  call->id = g_strdup_printf ("chatcmpl-%08x%08x%08x", g_random_int (), g_random_int (),
                              g_random_int ());
  call->created = g_get_real_time () / G_USEC_PER_SEC;
  call->streaming = ask->stream;
  call->include_usage = ask->include_usage;
  call->user_name = g_strdup (user_name);

  /* The chunks name the model before the call says which it was: the
   * router's choice now, which a failover before the first token changes
   * only in the last chunk. */
  if (call->streaming &&
      helix_router_choose (call->router, "chat", ask->pinned, NULL, &chosen, NULL, NULL) != NULL)
    call->model = g_steal_pointer (&chosen);
  else
    call->model = g_strdup (ask->pinned != NULL ? ask->pinned : ask->model);

  call->ask = *ask;
  memset (ask, 0, sizeof *ask);

  /* An answer that does not stream is written whole at the end. */
  if (call->streaming)
    g_signal_connect (call->stream, "delta", G_CALLBACK (on_delta), call);

  return call;
}

static void
chat_call_start (ChatCall *call)
{
  HelixRouterParams params = { 0 };

  params.operation = "chat";
  params.user = call->user_name;
  params.pinned_model = call->ask.pinned;

  HELIX_HOT_DEBUG ("%s: user %s, model %s, %u messages%s", call->id, call->user_name,
                   call->ask.model, helix_chat_request_get_n_messages (call->ask.request),
                   call->streaming ? ", streaming" : "");

  helix_router_chat_async (call->router, &params, call->ask.request, call->stream,
                           call->cancellable, chat_done_cb, call);
}

static void
chat_completions_cb (SoupServer        *server,
                     SoupServerMessage *msg,
                     const char        *path,
                     GHashTable        *query,
                     gpointer           user_data)
{
  static const char * const allowed[] = { "POST", NULL };
  HelixGateway *self = user_data;
  g_auto(HelixGatewayAuth) auth = { 0 };
  g_autoptr(JsonObject) object = NULL;
  g_autofree char *problem = NULL;
  ChatAsk ask = { 0 };
  HelixGatewayAi *ai;
  ChatCall *call;

  if (!_helix_gateway_begin_authenticated (self, msg, path, CHAT_PATH, allowed, &auth))
    return;

  ai = _helix_gateway_get_ai (self);
  if (ai == NULL)
    {
      _helix_gateway_respond_openai_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "api_error",
                                           "no_providers",
                                           _("This gateway has no AI provider. Its "
                                             "administrator can add one as a [provider NAME] "
                                             "group of its configuration."));
      return;
    }

  object = _helix_gateway_read_json_object_limited (msg, HELIX_GATEWAY_MAX_CHAT_BODY_BYTES,
                                                    HELIX_GATEWAY_MAX_CHAT_JSON_DEPTH);
  if (object == NULL)
    return;

  if (!read_chat_ask (msg, ai, object, &ask, &problem))
    {
      if (problem != NULL)
        respond_invalid (msg, problem);
      chat_ask_clear (&ask);
      return;
    }

  call = chat_call_new (ai, &ask, auth.user_name);
  call->msg = g_object_ref (msg);
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_message_ended), call);
  g_signal_connect (msg, "finished", G_CALLBACK (on_message_ended), call);
  watch_hangup (call);

  soup_server_message_pause (msg);
  chat_call_start (call);
}

/* The native path (helix-gateway-native.c) {{{1 */

/**
 * _helix_gateway_openai_native_prepare:
 * @self: the gateway
 * @authorization: (nullable): the request's Authorization header
 * @address: the client's address
 * @content_type: (nullable): the request's Content-Type header
 * @body: the request body
 * @length: its length
 *
 * For the native path: checks a `POST /v1/chat/completions` as
 * chat_completions_cb() would, and returns the call ready to start if it
 * would start one that does not stream. Anything else — a bad token, no
 * provider, a body that is not right, an unknown model, streaming, a rate
 * limit reached — returns %NULL having answered and charged nothing: the
 * native path then gives the request to libsoup, which answers it.
 *
 * Returns: (transfer full) (nullable): the call, for
 *   _helix_gateway_openai_native_start()
 */
HelixGatewayOpenaiCall *
_helix_gateway_openai_native_prepare (HelixGateway *self,
                                      const char   *authorization,
                                      const char   *address,
                                      const char   *content_type,
                                      const char   *body,
                                      gsize         length)
{
  HelixGatewayAi *ai = _helix_gateway_get_ai (self);
  g_auto(HelixGatewayAuth) auth = { 0 };
  g_autoptr(JsonObject) object = NULL;
  g_autofree char *problem = NULL;
  HelixGatewayBodyProblem body_problem;
  ChatAsk ask = { 0 };
  ChatCall *call;

  if (ai == NULL || content_type == NULL ||
      g_ascii_strcasecmp (content_type, "application/json") != 0 ||
      length > HELIX_GATEWAY_MAX_CHAT_BODY_BYTES)
    return NULL;

  if (_helix_gateway_lookup_token (self, authorization, &auth, NULL) != HELIX_GATEWAY_TOKEN_VALID)
    return NULL;

  object = _helix_gateway_parse_json_body (body, length, HELIX_GATEWAY_MAX_CHAT_BODY_BYTES,
                                           HELIX_GATEWAY_MAX_CHAT_JSON_DEPTH, &body_problem, NULL);
  if (object == NULL)
    return NULL;

  if (!read_chat_ask (NULL, ai, object, &ask, &problem) || ask.stream ||
      !_helix_gateway_charge_limits (self, address, auth.user_name))
    {
      chat_ask_clear (&ask);
      return NULL;
    }

  call = chat_call_new (ai, &ask, auth.user_name);
  /* As libsoup's answer has them: an API route (_helix_gateway_apply_cors()),
   * _helix_gateway_begin_authenticated(). */
  call->native_headers = g_string_new ("Vary: Origin\r\nCache-Control: no-store\r\n");

  return call;
}

static void
on_native_gone (gpointer native_call,
                gpointer user_data)
{
  ChatCall *call = user_data;

  call->gone = TRUE;
  g_debug ("%s: the client went away; cancelling the upstream call", call->id);
  g_cancellable_cancel (call->cancellable);
}

/**
 * _helix_gateway_openai_native_start:
 * @call: (transfer full): from _helix_gateway_openai_native_prepare()
 * @native_call: (transfer full) (nullable): how to answer; %NULL to drop @call
 *
 * Starts @call; its answer goes through @native_call.
 */
void
_helix_gateway_openai_native_start (HelixGatewayOpenaiCall *call,
                                    HelixGatewayNativeCall *native_call)
{
  if (native_call == NULL)
    {
      chat_call_free (call);
      return;
    }

  call->native = native_call;
  _helix_gateway_native_call_set_gone_func (native_call, on_native_gone, call);
  chat_call_start (call);
}

/* GET /v1/models {{{1 */

static void
add_model (JsonBuilder *builder,
           const char  *id,
           const char  *owner)
{
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, id);
  json_builder_set_member_name (builder, "object");
  json_builder_add_string_value (builder, "model");
  json_builder_set_member_name (builder, "created");
  json_builder_add_int_value (builder, 0);
  json_builder_set_member_name (builder, "owned_by");
  json_builder_add_string_value (builder, owner);
  json_builder_end_object (builder);
}

static void
models_cb (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *path,
           GHashTable        *query,
           gpointer           user_data)
{
  static const char * const allowed[] = { "GET", "HEAD", NULL };
  HelixGateway *self = user_data;
  g_auto(HelixGatewayAuth) auth = { 0 };
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GHashTable) seen = NULL;
  HelixGatewayAi *ai;

  if (!_helix_gateway_begin_authenticated (self, msg, path, MODELS_PATH, allowed, &auth))
    return;

  ai = _helix_gateway_get_ai (self);
  seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "object");
  json_builder_add_string_value (builder, "list");
  json_builder_set_member_name (builder, "data");
  json_builder_begin_array (builder);
  add_model (builder, AUTO_MODEL, "helix");
  for (guint i = 0; ai != NULL && i < _helix_gateway_ai_get_models (ai)->len; i++)
    {
      HelixGatewayModel *model = g_ptr_array_index (_helix_gateway_ai_get_models (ai), i);

      /* A model two providers serve: the second one by its full name. */
      if (g_hash_table_add (seen, g_strdup (model->model)))
        add_model (builder, model->model, model->provider);
      else
        {
          g_autofree char *id = g_strconcat (model->provider, "/", model->model, NULL);

          add_model (builder, id, model->provider);
        }
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  _helix_gateway_respond_json (msg, SOUP_STATUS_OK, root);
}

void
_helix_gateway_add_openai_routes (HelixGateway *self,
                                  SoupServer   *server)
{
  g_assert (HELIX_IS_GATEWAY (self));
  g_assert (SOUP_IS_SERVER (server));

  soup_server_add_handler (server, CHAT_PATH, chat_completions_cb, self, NULL);
  soup_server_add_handler (server, MODELS_PATH, models_cb, self, NULL);
}
