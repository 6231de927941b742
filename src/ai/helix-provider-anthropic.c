/* helix-provider-anthropic.c: the Anthropic Messages wire format
 *
 * `POST {base}/v1/messages` with `"stream": true`, the key in `x-api-key` and
 * `anthropic-version: 2023-06-01`. System messages go into the top-level
 * `system` field; `max_tokens` is required (HELIX_PROVIDER_ANTHROPIC_DEFAULT_MAX_TOKENS
 * when the request sets none).
 *
 * The answer is an event stream: `message_start` (with `usage.input_tokens`),
 * then per content block `content_block_start`, `content_block_delta`
 * (`delta.type` "text_delta" carries the text; thinking and tool input deltas
 * are not answer text) and `content_block_stop`, then `message_delta`
 * (`delta.stop_reason`, `usage.output_tokens`) and `message_stop`, the end
 * marker. `ping` events may come at any time; unknown event types are ignored,
 * as the API documents. Errors are `{"type": "error", "error": {"type",
 * "message"}}`, as the HTTP body (400, 401, 403, 404, 413, 429, 500, 529) or as
 * an `error` event in a stream that started well (`overloaded_error` in the
 * middle of an answer).
 *
 * `message_start` and pings come before the model has produced anything, so the
 * first-token timeout runs until the first content block delta.
 *
 * The call itself (timeouts, cancelling, limits, error bodies) is a
 * #HelixProviderCall. The key goes only into the `x-api-key` header; it is
 * never logged and is removed from any provider text quoted in an error.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-ai"

#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "helix-provider-anthropic.h"
#include "helix-provider-private.h"

#define API_VERSION "2023-06-01"

struct _HelixProviderAnthropic
{
  HelixHttpProvider parent_instance;
};

G_DEFINE_FINAL_TYPE (HelixProviderAnthropic, helix_provider_anthropic, HELIX_TYPE_HTTP_PROVIDER)

/* The HTTP status Anthropic documents for each error type. */
static const struct
{
  const char *type;
  guint       status;
} error_types[] = {
  { "invalid_request_error", 400 },
  { "authentication_error", 401 },
  { "billing_error", 402 },
  { "permission_error", 403 },
  { "not_found_error", 404 },
  { "request_too_large", 413 },
  { "rate_limit_error", 429 },
  { "api_error", 500 },
  { "timeout_error", 504 },
  { "overloaded_error", 529 },
};

static guint
status_of_type (const char *type)
{
  for (guint i = 0; type != NULL && i < G_N_ELEMENTS (error_types); i++)
    if (g_str_equal (type, error_types[i].type))
      return error_types[i].status;

  return 0;
}

/*
 * The error of an error body or an `error` event. @status is the HTTP status,
 * or 0 for an error inside a stream that started well: its type then says
 * which status it stands for.
 */
static GError *
error_from_object (HelixProviderCall *call,
                   guint              status,
                   JsonObject        *root)
{
  JsonObject *error = _helix_json_get_object (root, "error");
  const char *type = error != NULL ? _helix_json_get_string (error, "type") : NULL;
  const char *message = error != NULL ? _helix_json_get_string (error, "message") : NULL;
  guint implied = status != 0 ? status : status_of_type (type);
  HelixProviderError code;

  code = _helix_provider_classify_http (implied != 0 ? implied : 500, type, NULL, message);

  /* "Your credit balance is too low to access the Anthropic API" is a 400. */
  if (code == HELIX_PROVIDER_ERROR_BAD_REQUEST && message != NULL &&
      strstr (message, "credit balance") != NULL)
    code = HELIX_PROVIDER_ERROR_QUOTA;

  return _helix_provider_call_error (call, code, status, message != NULL ? message : type);
}

static GError *
error_body (HelixProviderCall *call,
            guint              status,
            JsonNode          *root)
{
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;

  return error_from_object (call, status, json_node_get_object (root));
}

/* A count member that may be absent (-1) but must be a count if present. */
static gboolean
get_optional_count (JsonObject *object,
                    const char *name,
                    gint64     *value)
{
  *value = -1;

  return !json_object_has_member (object, name) ||
         JSON_NODE_HOLDS_NULL (json_object_get_member (object, name)) ||
         _helix_json_get_count (object, name, value);
}

static gboolean
handle_usage (HelixProviderCall *call,
              JsonObject        *usage)
{
  gint64 in;
  gint64 out;

  if (!get_optional_count (usage, "input_tokens", &in) ||
      !get_optional_count (usage, "output_tokens", &out))
    return FALSE;

  _helix_provider_call_set_usage (call, in, out);
  return TRUE;
}

static gboolean
handle_event (HelixProviderCall   *call,
              const HelixSseEvent *event)
{
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonObject *root;
  const char *type;

  node = _helix_provider_parse_object (event->data, event->data_len, &local_error);
  if (node == NULL)
    return _helix_provider_call_fail_protocol (call, local_error->message);
  root = json_node_get_object (node);

  type = _helix_json_get_string (root, "type");
  if (type == NULL)
    goto bad_event;

  if (g_str_equal (type, "message_start"))
    {
      JsonObject *message = _helix_json_get_object (root, "message");
      JsonObject *usage;

      if (message == NULL)
        goto bad_event;
      usage = _helix_json_get_object (message, "usage");
      if (usage != NULL && !handle_usage (call, usage))
        goto bad_event;
    }
  else if (g_str_equal (type, "content_block_start"))
    {
      JsonObject *block = _helix_json_get_object (root, "content_block");
      const char *text;

      if (block == NULL)
        goto bad_event;
      text = _helix_json_get_string (block, "text");
      if (g_strcmp0 (_helix_json_get_string (block, "type"), "text") == 0 && text != NULL &&
          !_helix_provider_call_append (call, text, strlen (text)))
        return FALSE;
    }
  else if (g_str_equal (type, "content_block_delta"))
    {
      JsonObject *delta = _helix_json_get_object (root, "delta");
      const char *delta_type;

      if (delta == NULL || (delta_type = _helix_json_get_string (delta, "type")) == NULL)
        goto bad_event;

      /* Thinking, or the input of a tool call: the model is answering. */
      _helix_provider_call_got_data (call);

      if (g_str_equal (delta_type, "text_delta"))
        {
          const char *text = _helix_json_get_string (delta, "text");

          if (text == NULL)
            goto bad_event;
          if (!_helix_provider_call_append (call, text, strlen (text)))
            return FALSE;
        }
    }
  else if (g_str_equal (type, "message_delta"))
    {
      JsonObject *delta = _helix_json_get_object (root, "delta");
      JsonObject *usage = _helix_json_get_object (root, "usage");
      const char *reason = delta != NULL ? _helix_json_get_string (delta, "stop_reason") : NULL;

      if (reason != NULL)
        _helix_chat_stream_set_finish_reason (_helix_provider_call_get_stream (call), reason);
      if (usage != NULL && !handle_usage (call, usage))
        goto bad_event;
    }
  else if (g_str_equal (type, "message_stop"))
    {
      _helix_provider_call_complete (call);
      return FALSE;
    }
  else if (g_str_equal (type, "error"))
    {
      _helix_provider_call_fail (call, error_from_object (call, 0, root));
      return FALSE;
    }
  /* content_block_stop, ping, and event types added later: nothing to do. */

  return TRUE;

bad_event:
  return _helix_provider_call_fail_protocol (call, _("an event has an unexpected shape"));
}

static const HelixProviderCallFuncs anthropic_funcs = {
  .event = handle_event,
  .error_body = error_body,
  .stream_ended = NULL,  /* only message_stop ends an answer */
};

static GBytes *
build_body (HelixChatRequest *request)
{
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GString) system = NULL;
  guint max_tokens = helix_chat_request_get_max_tokens (request);
  char *text;
  gsize len;
  double temperature;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "model");
  json_builder_add_string_value (builder, helix_chat_request_get_model (request));

  if (max_tokens == 0)
    max_tokens = HELIX_PROVIDER_ANTHROPIC_DEFAULT_MAX_TOKENS;
  json_builder_set_member_name (builder, "max_tokens");
  json_builder_add_int_value (builder, max_tokens);

  json_builder_set_member_name (builder, "messages");
  json_builder_begin_array (builder);
  for (guint i = 0; i < helix_chat_request_get_n_messages (request); i++)
    {
      HelixMessageRole role = helix_chat_request_get_message_role (request, i);
      const char *content = helix_chat_request_get_message_content (request, i);

      /* The Messages API has no system role: system prompts are one top-level field. */
      if (role == HELIX_MESSAGE_ROLE_SYSTEM)
        {
          if (system == NULL)
            system = g_string_new (content);
          else
            g_string_append_printf (system, "\n\n%s", content);
          continue;
        }

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "role");
      /* Tool output without a tool call id can only be told as user text. */
      json_builder_add_string_value (builder, role == HELIX_MESSAGE_ROLE_ASSISTANT ? "assistant"
                                                                                   : "user");
      json_builder_set_member_name (builder, "content");
      json_builder_add_string_value (builder, content);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  if (system != NULL)
    {
      json_builder_set_member_name (builder, "system");
      json_builder_add_string_value (builder, system->str);
    }

  if (helix_chat_request_get_temperature (request, &temperature))
    {
      json_builder_set_member_name (builder, "temperature");
      json_builder_add_double_value (builder, temperature);
    }

  json_builder_set_member_name (builder, "stream");
  json_builder_add_boolean_value (builder, TRUE);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  text = json_generator_to_data (generator, &len);

  return g_bytes_new_take (text, len);
}

static void
authorize (HelixHttpProvider *provider,
           SoupMessage       *msg,
           const char        *api_key)
{
  SoupMessageHeaders *headers = soup_message_get_request_headers (msg);

  if (api_key != NULL && *api_key != '\0')
    soup_message_headers_replace (headers, "x-api-key", api_key);
  soup_message_headers_replace (headers, "anthropic-version", API_VERSION);
}

static SoupMessage *
build_message (HelixHttpProvider  *provider,
               HelixChatRequest   *request,
               GBytes            **body)
{
  g_autofree char *url = NULL;
  SoupMessage *msg;

  url = g_strconcat (helix_http_provider_get_base_url (provider), "/v1/messages", NULL);
  msg = soup_message_new (SOUP_METHOD_POST, url);
  authorize (provider, msg, _helix_http_provider_get_api_key (provider));

  *body = build_body (request);

  return msg;
}

static void
helix_provider_anthropic_class_init (HelixProviderAnthropicClass *klass)
{
  HelixHttpProviderClass *http_class = HELIX_HTTP_PROVIDER_CLASS (klass);

  http_class->call_funcs = &anthropic_funcs;
  http_class->build_message = build_message;
  http_class->authorize = authorize;
  http_class->models_path = "/v1/models";
  http_class->models_member = "data";
  http_class->models_id = "id";
}

static void
helix_provider_anthropic_init (HelixProviderAnthropic *self)
{
}

/**
 * helix_provider_anthropic_new:
 * @name: the provider's name in messages and the ledger
 * @base_url: the API root without the version (`https://api.anthropic.com`)
 * @api_key: (nullable): the key, or %NULL for none
 * @error: a location for a #GError
 *
 * Returns: (transfer full) (nullable): a provider, or %NULL with
 *   %G_IO_ERROR_INVALID_ARGUMENT if @base_url is not an http or https URL
 */
HelixProviderAnthropic *
helix_provider_anthropic_new (const char  *name,
                              const char  *base_url,
                              const char  *api_key,
                              GError     **error)
{
  g_return_val_if_fail (name != NULL && *name != '\0', NULL);
  g_return_val_if_fail (base_url != NULL, NULL);

  if (!_helix_provider_check_base_url (name, base_url, "https://api.anthropic.com", error))
    return NULL;

  return g_object_new (HELIX_TYPE_PROVIDER_ANTHROPIC,
                       "name", name,
                       "base-url", base_url,
                       "api-key", api_key,
                       NULL);
}
