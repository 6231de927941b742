/* helix-provider-gemini.c: the Gemini streamGenerateContent wire format
 *
 * `POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse` with the key
 * in the `x-goog-api-key` header, never in the URL (URLs end up in logs).
 * The body has `contents` (roles "user" and "model"), the system messages as
 * `systemInstruction` and `generationConfig` (`maxOutputTokens`, `temperature`).
 *
 * Each `data:` event is a GenerateContentResponse: the text is in
 * `candidates[0].content.parts[*].text` (parts marked `thought` are not the
 * answer), `candidates[0].finishReason` says why it stopped ("STOP",
 * "MAX_TOKENS", "SAFETY", …; a blocked prompt gives
 * `promptFeedback.blockReason` instead), and `usageMetadata` has the token
 * counts so far. There is no end marker: an answer is complete when the body
 * ends after a finish reason; ending without one means it was cut off.
 *
 * Errors are `{"error": {"code", "message", "status", "details"}}` (the body of
 * an HTTP error, or an event). RESOURCE_EXHAUSTED (429) is a quota error when
 * its QuotaFailure names a daily quota or its message speaks of quota, a rate
 * limit when the quota is per minute; a RetryInfo `retryDelay` stands in for
 * `Retry-After`. "API key not valid" comes as 400 INVALID_ARGUMENT with the
 * reason API_KEY_INVALID: an auth error. UNAVAILABLE (503) is overload.
 *
 * The call itself (timeouts, cancelling, limits, error bodies) is a
 * #HelixProviderCall. The key is never logged and is removed from any provider
 * text quoted in an error.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-ai"

#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "helix-provider-gemini.h"
#include "helix-provider-private.h"

struct _HelixProviderGemini
{
  HelixHttpProvider parent_instance;
};

G_DEFINE_FINAL_TYPE (HelixProviderGemini, helix_provider_gemini, HELIX_TYPE_HTTP_PROVIDER)

/* A protobuf Duration in JSON: "27s", "1.5s". Returns whole seconds, rounded up, or -1. */
static gint64
parse_duration (const char *text)
{
  g_autofree char *number = NULL;
  char *end = NULL;
  double seconds;

  if (text == NULL || !g_str_has_suffix (text, "s") || !g_ascii_isdigit (*text))
    return -1;

  number = g_strndup (text, strlen (text) - 1);
  seconds = g_ascii_strtod (number, &end);
  if (end == NULL || *end != '\0' || !(seconds >= 0 && seconds <= G_MAXINT32))
    return -1;

  return (gint64) ceil (seconds);
}

typedef struct
{
  gboolean key_invalid;
  gboolean per_day;
  gboolean per_minute;
} Details;

/* What google.rpc error details say: ErrorInfo, QuotaFailure, RetryInfo. */
static void
read_details (HelixProviderCall *call,
              JsonObject        *error,
              Details           *details)
{
  JsonArray *array = _helix_json_get_array (error, "details");

  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      JsonObject *detail;
      const char *type;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      detail = json_node_get_object (node);
      type = _helix_json_get_string (detail, "@type");
      if (type == NULL)
        continue;

      if (g_str_has_suffix (type, "google.rpc.ErrorInfo"))
        {
          if (g_strcmp0 (_helix_json_get_string (detail, "reason"), "API_KEY_INVALID") == 0)
            details->key_invalid = TRUE;
        }
      else if (g_str_has_suffix (type, "google.rpc.RetryInfo"))
        {
          _helix_provider_call_set_retry_after (call,
                                                parse_duration (_helix_json_get_string (detail, "retryDelay")));
        }
      else if (g_str_has_suffix (type, "google.rpc.QuotaFailure"))
        {
          JsonArray *violations = _helix_json_get_array (detail, "violations");

          for (guint j = 0; violations != NULL && j < json_array_get_length (violations); j++)
            {
              JsonNode *violation = json_array_get_element (violations, j);
              const char *quota_id;

              if (!JSON_NODE_HOLDS_OBJECT (violation))
                continue;
              quota_id = _helix_json_get_string (json_node_get_object (violation), "quotaId");
              if (quota_id != NULL && strstr (quota_id, "PerDay") != NULL)
                details->per_day = TRUE;
              else if (quota_id != NULL && strstr (quota_id, "PerMinute") != NULL)
                details->per_minute = TRUE;
            }
        }
    }
}

/*
 * The error of an error body or error event. @status is the HTTP status, or
 * 0 for an error inside a stream that started well: its code then says which
 * status it stands for. Returns %NULL if @root holds no error.
 */
static GError *
error_from_object (HelixProviderCall *call,
                   guint              status,
                   JsonObject        *root)
{
  JsonObject *error = _helix_json_get_object (root, "error");
  Details details = { 0 };
  const char *message;
  const char *rpc_status;
  gint64 code = 0;
  HelixProviderError kind;

  if (error == NULL)
    return NULL;

  message = _helix_json_get_string (error, "message");
  rpc_status = _helix_json_get_string (error, "status");
  if (!_helix_json_get_count (error, "code", &code) || code < 400 || code > 599)
    code = 500;
  read_details (call, error, &details);

  kind = _helix_provider_classify_http (status != 0 ? status : (guint) code, rpc_status, NULL,
                                        message);

  if (details.key_invalid || g_strcmp0 (rpc_status, "UNAUTHENTICATED") == 0 ||
      g_strcmp0 (rpc_status, "PERMISSION_DENIED") == 0)
    kind = HELIX_PROVIDER_ERROR_AUTH;
  else if (g_strcmp0 (rpc_status, "RESOURCE_EXHAUSTED") == 0 && details.per_day)
    kind = HELIX_PROVIDER_ERROR_QUOTA;
  else if (g_strcmp0 (rpc_status, "RESOURCE_EXHAUSTED") == 0 && details.per_minute)
    kind = HELIX_PROVIDER_ERROR_RATE_LIMITED;
  else if (g_strcmp0 (rpc_status, "UNAVAILABLE") == 0)
    kind = HELIX_PROVIDER_ERROR_OVERLOADED;

  return _helix_provider_call_error (call, kind, status, message != NULL ? message : rpc_status);
}

static GError *
error_body (HelixProviderCall *call,
            guint              status,
            JsonNode          *root)
{
  /* Without alt=sse, Gemini wraps its answers in an array; take the error either way. */
  if (root != NULL && JSON_NODE_HOLDS_ARRAY (root) &&
      json_array_get_length (json_node_get_array (root)) > 0)
    root = json_array_get_element (json_node_get_array (root), 0);

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
         _helix_json_get_count (object, name, value);
}

/* Returns FALSE when the call failed. */
static gboolean
handle_candidate (HelixProviderCall *call,
                  JsonObject        *candidate)
{
  JsonNode *content_node = json_object_get_member (candidate, "content");
  JsonNode *reason_node = json_object_get_member (candidate, "finishReason");

  if (content_node != NULL && !JSON_NODE_HOLDS_NULL (content_node))
    {
      JsonArray *parts;

      if (!JSON_NODE_HOLDS_OBJECT (content_node))
        goto bad_candidate;
      parts = _helix_json_get_array (json_node_get_object (content_node), "parts");

      for (guint i = 0; parts != NULL && i < json_array_get_length (parts); i++)
        {
          JsonNode *part_node = json_array_get_element (parts, i);
          JsonObject *part;
          JsonNode *text_node;
          const char *text;

          if (!JSON_NODE_HOLDS_OBJECT (part_node))
            goto bad_candidate;
          part = json_node_get_object (part_node);

          /* A thought summary is not the answer. */
          if (json_object_has_member (part, "thought") &&
              json_object_get_boolean_member_with_default (part, "thought", FALSE))
            continue;

          text_node = json_object_get_member (part, "text");
          if (text_node == NULL)
            continue;  /* a function call, inline data: not text */
          if (!JSON_NODE_HOLDS_VALUE (text_node) ||
              json_node_get_value_type (text_node) != G_TYPE_STRING)
            goto bad_candidate;

          text = json_node_get_string (text_node);
          if (!_helix_provider_call_append (call, text, strlen (text)))
            return FALSE;  /* failed, with its own error */
        }
    }

  if (reason_node != NULL && !JSON_NODE_HOLDS_NULL (reason_node))
    {
      const char *reason;

      if (!JSON_NODE_HOLDS_VALUE (reason_node) ||
          json_node_get_value_type (reason_node) != G_TYPE_STRING)
        goto bad_candidate;
      reason = json_node_get_string (reason_node);
      if (!g_str_equal (reason, "FINISH_REASON_UNSPECIFIED"))
        _helix_chat_stream_set_finish_reason (_helix_provider_call_get_stream (call), reason);
    }

  return TRUE;

bad_candidate:
  return _helix_provider_call_fail_protocol (call, _("a chunk has an unexpected shape"));
}

static gboolean
handle_event (HelixProviderCall   *call,
              const HelixSseEvent *event)
{
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonObject *root;
  JsonNode *member;
  JsonObject *feedback;
  GError *error;

  node = _helix_provider_parse_object (event->data, event->data_len, &local_error);
  if (node == NULL)
    return _helix_provider_call_fail_protocol (call, local_error->message);
  root = json_node_get_object (node);

  if ((error = error_from_object (call, 0, root)) != NULL)
    {
      _helix_provider_call_fail (call, error);
      return FALSE;
    }

  /* Gemini sends a chunk only when it has something: the answer has started. */
  _helix_provider_call_got_data (call);

  member = json_object_get_member (root, "candidates");
  if (member != NULL && !JSON_NODE_HOLDS_NULL (member))
    {
      JsonArray *candidates;

      if (!JSON_NODE_HOLDS_ARRAY (member))
        goto bad_chunk;
      candidates = json_node_get_array (member);
      if (json_array_get_length (candidates) > 0)
        {
          JsonNode *candidate = json_array_get_element (candidates, 0);

          if (!JSON_NODE_HOLDS_OBJECT (candidate))
            goto bad_chunk;
          if (!handle_candidate (call, json_node_get_object (candidate)))
            return FALSE;
        }
    }

  /* A blocked prompt: no candidates, the reason instead. */
  feedback = _helix_json_get_object (root, "promptFeedback");
  if (feedback != NULL && _helix_json_get_string (feedback, "blockReason") != NULL)
    _helix_chat_stream_set_finish_reason (_helix_provider_call_get_stream (call),
                                          _helix_json_get_string (feedback, "blockReason"));

  member = json_object_get_member (root, "usageMetadata");
  if (member != NULL && !JSON_NODE_HOLDS_NULL (member))
    {
      JsonObject *usage;
      gint64 in;
      gint64 out;
      gint64 thoughts;

      if (!JSON_NODE_HOLDS_OBJECT (member))
        goto bad_chunk;
      usage = json_node_get_object (member);
      if (!get_optional_count (usage, "promptTokenCount", &in) ||
          !get_optional_count (usage, "candidatesTokenCount", &out) ||
          !get_optional_count (usage, "thoughtsTokenCount", &thoughts))
        goto bad_chunk;
      /* Thinking tokens are billed as output. */
      if (out >= 0 && thoughts > 0)
        out += thoughts;
      _helix_provider_call_set_usage (call, in, out);
    }

  return TRUE;

bad_chunk:
  return _helix_provider_call_fail_protocol (call, _("a chunk has an unexpected shape"));
}

/* No end marker: a body that ends after a finish reason is a complete answer. */
static gboolean
stream_ended (HelixProviderCall *call)
{
  return helix_chat_stream_get_finish_reason (_helix_provider_call_get_stream (call)) != NULL;
}

static const HelixProviderCallFuncs gemini_funcs = {
  .event = handle_event,
  .error_body = error_body,
  .stream_ended = stream_ended,
};

static void
add_text_parts (JsonBuilder *builder,
                const char  *text)
{
  json_builder_set_member_name (builder, "parts");
  json_builder_begin_array (builder);
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "text");
  json_builder_add_string_value (builder, text);
  json_builder_end_object (builder);
  json_builder_end_array (builder);
}

static GBytes *
build_body (HelixChatRequest *request)
{
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GString) system = NULL;
  guint max_tokens = helix_chat_request_get_max_tokens (request);
  gboolean has_temperature;
  char *text;
  gsize len;
  double temperature;

  json_builder_begin_object (builder);

  json_builder_set_member_name (builder, "contents");
  json_builder_begin_array (builder);
  for (guint i = 0; i < helix_chat_request_get_n_messages (request); i++)
    {
      HelixMessageRole role = helix_chat_request_get_message_role (request, i);
      const char *content = helix_chat_request_get_message_content (request, i);

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
      /* Tool output without a function call can only be told as user text. */
      json_builder_add_string_value (builder, role == HELIX_MESSAGE_ROLE_ASSISTANT ? "model"
                                                                                   : "user");
      add_text_parts (builder, content);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  if (system != NULL)
    {
      json_builder_set_member_name (builder, "systemInstruction");
      json_builder_begin_object (builder);
      add_text_parts (builder, system->str);
      json_builder_end_object (builder);
    }

  has_temperature = helix_chat_request_get_temperature (request, &temperature);
  if (max_tokens > 0 || has_temperature)
    {
      json_builder_set_member_name (builder, "generationConfig");
      json_builder_begin_object (builder);
      if (max_tokens > 0)
        {
          json_builder_set_member_name (builder, "maxOutputTokens");
          json_builder_add_int_value (builder, max_tokens);
        }
      if (has_temperature)
        {
          json_builder_set_member_name (builder, "temperature");
          json_builder_add_double_value (builder, temperature);
        }
      json_builder_end_object (builder);
    }

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
  /* The key never goes into the URL: URLs end up in logs. */
  if (api_key != NULL && *api_key != '\0')
    soup_message_headers_replace (soup_message_get_request_headers (msg), "x-goog-api-key",
                                  api_key);
}

static SoupMessage *
build_message (HelixHttpProvider  *provider,
               HelixChatRequest   *request,
               GBytes            **body)
{
  const char *model = helix_chat_request_get_model (request);
  g_autofree char *escaped = NULL;
  g_autofree char *url = NULL;
  SoupMessage *msg;

  /* "gemini-2.0-flash" and "models/gemini-2.0-flash" both work; the name is
   * one path segment. */
  if (g_str_has_prefix (model, "models/"))
    model += strlen ("models/");
  escaped = g_uri_escape_string (model, NULL, FALSE);
  url = g_strconcat (helix_http_provider_get_base_url (provider), "/v1beta/models/", escaped,
                     ":streamGenerateContent?alt=sse", NULL);
  msg = soup_message_new (SOUP_METHOD_POST, url);
  authorize (provider, msg, _helix_http_provider_get_api_key (provider));

  *body = build_body (request);

  return msg;
}

static void
helix_provider_gemini_class_init (HelixProviderGeminiClass *klass)
{
  HelixHttpProviderClass *http_class = HELIX_HTTP_PROVIDER_CLASS (klass);

  http_class->call_funcs = &gemini_funcs;
  http_class->build_message = build_message;
  http_class->authorize = authorize;
  http_class->models_path = "/v1beta/models";
  http_class->models_member = "models";
  http_class->models_id = "name";
}

static void
helix_provider_gemini_init (HelixProviderGemini *self)
{
}

/**
 * helix_provider_gemini_new:
 * @name: the provider's name in messages and the ledger
 * @base_url: the API root without the version (`https://generativelanguage.googleapis.com`)
 * @api_key: (nullable): the key, or %NULL for none
 * @error: a location for a #GError
 *
 * Returns: (transfer full) (nullable): a provider, or %NULL with
 *   %G_IO_ERROR_INVALID_ARGUMENT if @base_url is not an http or https URL
 */
HelixProviderGemini *
helix_provider_gemini_new (const char  *name,
                           const char  *base_url,
                           const char  *api_key,
                           GError     **error)
{
  g_return_val_if_fail (name != NULL && *name != '\0', NULL);
  g_return_val_if_fail (base_url != NULL, NULL);

  if (!_helix_provider_check_base_url (name, base_url, "https://generativelanguage.googleapis.com", error))
    return NULL;

  return g_object_new (HELIX_TYPE_PROVIDER_GEMINI,
                       "name", name,
                       "base-url", base_url,
                       "api-key", api_key,
                       NULL);
}
