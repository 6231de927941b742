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
 * One #SoupSession per provider; the call itself (timeouts, cancelling, the
 * event stream, error bodies, limits) is a #HelixProviderCall. The API key
 * goes only into the Authorization header; it is never logged and is removed
 * from any provider text quoted in an error.
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

struct _HelixProviderOpenai
{
  HelixHttpProvider parent_instance;
};

G_DEFINE_FINAL_TYPE (HelixProviderOpenai, helix_provider_openai, HELIX_TYPE_HTTP_PROVIDER)

/*
 * The error of an error body or error chunk. @status is the HTTP status, or 0
 * for an error inside a stream that started well.
 */
static GError *
error_from_object (HelixProviderCall *call,
                   guint              status,
                   JsonObject        *root)
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
    message = _helix_json_get_string (object, "message");
  type = _helix_json_get_string (object, "type");
  code = _helix_json_get_code (object, "code");

  if (status == 0)
    {
      guint64 numeric = 0;

      /* OpenRouter puts the HTTP status it would have sent in the code. */
      if (code != NULL &&
          g_ascii_string_to_unsigned (code, 10, 400, 599, &numeric, NULL))
        status = (guint) numeric;
      else
        return _helix_provider_call_error (call, HELIX_PROVIDER_ERROR_SERVER, 0,
                                           message != NULL ? message : type);
    }

  return _helix_provider_call_http_error (call, status, type, code, message);
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

static gboolean
handle_chunk (HelixProviderCall *call,
              JsonObject        *root)
{
  JsonNode *node;

  if (json_object_has_member (root, "error"))
    {
      _helix_provider_call_fail (call, error_from_object (call, 0, root));
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

                  if (!JSON_NODE_HOLDS_VALUE (content) ||
                      json_node_get_value_type (content) != G_TYPE_STRING)
                    goto bad_chunk;

                  text = json_node_get_string (content);
                  if (!_helix_provider_call_append (call, text, strlen (text)))
                    return FALSE;
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
              _helix_chat_stream_set_finish_reason (_helix_provider_call_get_stream (call),
                                                    json_node_get_string (reason_node));
            }
        }
    }

  node = json_object_get_member (root, "usage");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    {
      gint64 in;
      gint64 out;

      if (!JSON_NODE_HOLDS_OBJECT (node) ||
          !_helix_json_get_count (json_node_get_object (node), "prompt_tokens", &in) ||
          !_helix_json_get_count (json_node_get_object (node), "completion_tokens", &out))
        goto bad_chunk;
      _helix_provider_call_set_usage (call, in, out);
    }

  return TRUE;

bad_chunk:
  return _helix_provider_call_fail_protocol (call, _("a chunk has an unexpected shape"));
}

static gboolean
handle_event (HelixProviderCall   *call,
              const HelixSseEvent *event)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) local_error = NULL;

  /* Any event, even the first role-only chunk, counts as the answer starting. */
  _helix_provider_call_got_data (call);

  if (g_str_equal (event->data, "[DONE]"))
    {
      _helix_provider_call_complete (call);
      return FALSE;
    }

  root = _helix_provider_parse_object (event->data, event->data_len, &local_error);
  if (root == NULL)
    return _helix_provider_call_fail_protocol (call, local_error->message);

  return handle_chunk (call, json_node_get_object (root));
}

static const HelixProviderCallFuncs openai_funcs = {
  .event = handle_event,
  .error_body = error_body,
  .stream_ended = NULL,  /* only [DONE] ends an answer */
};

/* The request body, written straight as text: a JsonBuilder tree and its
 * generator cost more than the rest of sending the call. */
static GBytes *
build_body (HelixChatRequest *request)
{
  guint n_messages = helix_chat_request_get_n_messages (request);
  gsize size = 256;
  GString *out;
  double temperature;

  for (guint i = 0; i < n_messages; i++)
    size += strlen (helix_chat_request_get_message_content (request, i)) + 48;
  out = g_string_sized_new (size);

  g_string_append (out, "{\"model\":");
  helix_json_append_string (out, helix_chat_request_get_model (request));
  g_string_append (out, ",\"messages\":[");
  for (guint i = 0; i < n_messages; i++)
    {
      HelixMessageRole role = helix_chat_request_get_message_role (request, i);

      if (i > 0)
        g_string_append_c (out, ',');
      g_string_append (out, "{\"role\":");
      helix_json_append_string (out, helix_message_role_to_string (role));
      g_string_append (out, ",\"content\":");
      helix_json_append_string (out, helix_chat_request_get_message_content (request, i));
      g_string_append_c (out, '}');
    }
  g_string_append_c (out, ']');

  if (helix_chat_request_get_max_tokens (request) > 0)
    g_string_append_printf (out, ",\"max_tokens\":%u", helix_chat_request_get_max_tokens (request));

  if (helix_chat_request_get_temperature (request, &temperature))
    {
      char buf[G_ASCII_DTOSTR_BUF_SIZE];

      /* Set through the API, which keeps it finite (0 to 2). */
      g_string_append (out, ",\"temperature\":");
      g_string_append (out, g_ascii_dtostr (buf, sizeof buf, temperature));
    }

  g_string_append (out, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}");

  return g_string_free_to_bytes (out);
}

static void
authorize (HelixHttpProvider *provider,
           SoupMessage       *msg,
           const char        *api_key)
{
  g_autofree char *authorization = NULL;

  if (api_key == NULL || *api_key == '\0')
    return;

  authorization = g_strconcat ("Bearer ", api_key, NULL);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                authorization);
}

static SoupMessage *
build_message (HelixHttpProvider  *provider,
               HelixChatRequest   *request,
               GBytes            **body)
{
  g_autofree char *url = NULL;
  SoupMessage *msg;

  url = g_strconcat (helix_http_provider_get_base_url (provider), "/chat/completions", NULL);
  msg = soup_message_new (SOUP_METHOD_POST, url);
  authorize (provider, msg, _helix_http_provider_get_api_key (provider));

  *body = build_body (request);

  return msg;
}

static void
helix_provider_openai_class_init (HelixProviderOpenaiClass *klass)
{
  HelixHttpProviderClass *http_class = HELIX_HTTP_PROVIDER_CLASS (klass);

  http_class->call_funcs = &openai_funcs;
  http_class->build_message = build_message;
  http_class->authorize = authorize;
  http_class->models_path = "/models";
  http_class->models_member = "data";
  http_class->models_id = "id";
}

static void
helix_provider_openai_init (HelixProviderOpenai *self)
{
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
  g_return_val_if_fail (name != NULL && *name != '\0', NULL);
  g_return_val_if_fail (base_url != NULL, NULL);

  if (!_helix_provider_check_base_url (name, base_url, "https://api.openai.com/v1", error))
    return NULL;

  return g_object_new (HELIX_TYPE_PROVIDER_OPENAI,
                       "name", name,
                       "base-url", base_url,
                       "api-key", api_key,
                       NULL);
}
