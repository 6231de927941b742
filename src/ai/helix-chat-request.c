/* helix-chat-request.c: what a chat call asks a provider
 *
 * A small reference-counted record: the model, the conversation, the sampling
 * parameters a provider may need, and the three timeouts of the call. It is
 * not changed once a call has started with it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-ai"

#include "config.h"

#include "helix-chat-request.h"

typedef struct
{
  HelixMessageRole  role;
  char             *content;
} Message;

struct _HelixChatRequest
{
  gatomicrefcount  ref_count;
  char            *model;
  GArray          *messages;  /* of Message */
  guint            max_tokens;
  double           temperature;
  guint            has_temperature : 1;
  guint            connect_ms;
  guint            first_token_ms;
  guint            call_ms;
};

G_DEFINE_BOXED_TYPE (HelixChatRequest, helix_chat_request, helix_chat_request_ref, helix_chat_request_unref)

static void
message_clear (gpointer data)
{
  Message *message = data;

  g_clear_pointer (&message->content, g_free);
}

/**
 * helix_chat_request_new:
 * @model: the provider's model name ("gpt-4o-mini", "deepseek-chat", "llama3.2")
 *
 * Returns: (transfer full): a request without messages, without a token limit
 *   or temperature (the provider's defaults), and with the default timeouts
 */
HelixChatRequest *
helix_chat_request_new (const char *model)
{
  HelixChatRequest *self;

  g_return_val_if_fail (model != NULL && *model != '\0', NULL);

  self = g_new0 (HelixChatRequest, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->model = g_strdup (model);
  self->messages = g_array_new (FALSE, FALSE, sizeof (Message));
  g_array_set_clear_func (self->messages, message_clear);
  self->connect_ms = HELIX_CHAT_REQUEST_DEFAULT_CONNECT_TIMEOUT_MS;
  self->first_token_ms = HELIX_CHAT_REQUEST_DEFAULT_FIRST_TOKEN_TIMEOUT_MS;
  self->call_ms = HELIX_CHAT_REQUEST_DEFAULT_CALL_TIMEOUT_MS;

  return self;
}

HelixChatRequest *
helix_chat_request_ref (HelixChatRequest *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
helix_chat_request_unref (HelixChatRequest *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  g_free (self->model);
  g_array_unref (self->messages);
  g_free (self);
}

/**
 * helix_chat_request_add_message:
 * @self: a request
 * @role: who wrote it
 * @content: the text (UTF-8)
 *
 * Appends a message to the conversation.
 */
void
helix_chat_request_add_message (HelixChatRequest *self,
                                HelixMessageRole  role,
                                const char       *content)
{
  Message message;

  g_return_if_fail (self != NULL);
  g_return_if_fail (content != NULL);
  g_return_if_fail (g_utf8_validate (content, -1, NULL));

  message.role = role;
  message.content = g_strdup (content);
  g_array_append_val (self->messages, message);
}

/**
 * helix_chat_request_set_max_tokens:
 * @self: a request
 * @max_tokens: the most tokens the answer may have, or 0 for the provider's default
 */
void
helix_chat_request_set_max_tokens (HelixChatRequest *self,
                                   guint             max_tokens)
{
  g_return_if_fail (self != NULL);

  self->max_tokens = max_tokens;
}

/**
 * helix_chat_request_set_temperature:
 * @self: a request
 * @temperature: the sampling temperature, from 0 to 2
 */
void
helix_chat_request_set_temperature (HelixChatRequest *self,
                                    double            temperature)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (temperature >= 0.0 && temperature <= 2.0);

  self->temperature = temperature;
  self->has_temperature = TRUE;
}

/**
 * helix_chat_request_unset_temperature:
 * @self: a request
 *
 * Leaves the temperature to the provider.
 */
void
helix_chat_request_unset_temperature (HelixChatRequest *self)
{
  g_return_if_fail (self != NULL);

  self->has_temperature = FALSE;
}

/**
 * helix_chat_request_set_timeouts:
 * @self: a request
 * @connect_ms: the longest wait for the connection (TCP and TLS), 0 for none
 * @first_token_ms: the longest wait, from the start of the call, for the first
 *   data of the answer, 0 for none
 * @call_ms: the longest the whole call may take, 0 for none
 */
void
helix_chat_request_set_timeouts (HelixChatRequest *self,
                                 guint             connect_ms,
                                 guint             first_token_ms,
                                 guint             call_ms)
{
  g_return_if_fail (self != NULL);

  self->connect_ms = connect_ms;
  self->first_token_ms = first_token_ms;
  self->call_ms = call_ms;
}

const char *
helix_chat_request_get_model (HelixChatRequest *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->model;
}

guint
helix_chat_request_get_n_messages (HelixChatRequest *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->messages->len;
}

HelixMessageRole
helix_chat_request_get_message_role (HelixChatRequest *self,
                                     guint             index)
{
  g_return_val_if_fail (self != NULL, HELIX_MESSAGE_ROLE_USER);
  g_return_val_if_fail (index < self->messages->len, HELIX_MESSAGE_ROLE_USER);

  return g_array_index (self->messages, Message, index).role;
}

const char *
helix_chat_request_get_message_content (HelixChatRequest *self,
                                        guint             index)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (index < self->messages->len, NULL);

  return g_array_index (self->messages, Message, index).content;
}

guint
helix_chat_request_get_max_tokens (HelixChatRequest *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->max_tokens;
}

/**
 * helix_chat_request_get_temperature:
 * @self: a request
 * @temperature: (out) (optional): the temperature, if set
 *
 * Returns: whether a temperature was set
 */
gboolean
helix_chat_request_get_temperature (HelixChatRequest *self,
                                    double           *temperature)
{
  g_return_val_if_fail (self != NULL, FALSE);

  if (temperature != NULL)
    *temperature = self->temperature;

  return self->has_temperature;
}

void
helix_chat_request_get_timeouts (HelixChatRequest *self,
                                 guint            *connect_ms,
                                 guint            *first_token_ms,
                                 guint            *call_ms)
{
  g_return_if_fail (self != NULL);

  if (connect_ms != NULL)
    *connect_ms = self->connect_ms;
  if (first_token_ms != NULL)
    *first_token_ms = self->first_token_ms;
  if (call_ms != NULL)
    *call_ms = self->call_ms;
}
