/* helix-chat-stream.c: the answer of a chat call, as it streams in
 *
 * A provider writes into one #HelixChatStream per call; the UI or the gateway
 * reads it. The text only grows. When the call fails, what arrived stays here,
 * and #HelixChatStream:complete stays %FALSE: the answer is partial.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-ai"

#include "config.h"

#include <string.h>

#include "helix-chat-stream.h"
#include "helix-provider-private.h"

struct _HelixChatStream
{
  GObject  parent_instance;

  GString *text;
  char    *finish_reason;
  gint64   input_tokens;
  gint64   output_tokens;
  gint64   retry_after;
  gint64   started_at;
  gint64   first_token_delay;
  guint    http_status;
  guint    started : 1;
  guint    complete : 1;
};

G_DEFINE_FINAL_TYPE (HelixChatStream, helix_chat_stream, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_TEXT,
  PROP_FINISH_REASON,
  PROP_INPUT_TOKENS,
  PROP_OUTPUT_TOKENS,
  PROP_COMPLETE,
  N_PROPS
};

enum {
  DELTA,
  USAGE,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void
helix_chat_stream_finalize (GObject *object)
{
  HelixChatStream *self = (HelixChatStream *) object;

  g_string_free (self->text, TRUE);
  g_clear_pointer (&self->finish_reason, g_free);

  G_OBJECT_CLASS (helix_chat_stream_parent_class)->finalize (object);
}

static void
helix_chat_stream_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  HelixChatStream *self = HELIX_CHAT_STREAM (object);

  switch (prop_id)
    {
    case PROP_TEXT:
      g_value_set_string (value, self->text->str);
      break;

    case PROP_FINISH_REASON:
      g_value_set_string (value, self->finish_reason);
      break;

    case PROP_INPUT_TOKENS:
      g_value_set_int64 (value, self->input_tokens);
      break;

    case PROP_OUTPUT_TOKENS:
      g_value_set_int64 (value, self->output_tokens);
      break;

    case PROP_COMPLETE:
      g_value_set_boolean (value, self->complete);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_chat_stream_class_init (HelixChatStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = helix_chat_stream_finalize;
  object_class->get_property = helix_chat_stream_get_property;

  /**
   * HelixChatStream:text:
   *
   * The answer so far. Not notified for every delta: use #HelixChatStream::delta.
   */
  properties[PROP_TEXT] =
    g_param_spec_string ("text", NULL, NULL, "",
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  /**
   * HelixChatStream:finish-reason:
   *
   * Why the model stopped, as the provider says it (OpenAI: "stop", "length",
   * "content_filter", "tool_calls"; Anthropic: "end_turn", "max_tokens", …;
   * Gemini: "STOP", "MAX_TOKENS", "SAFETY", or a prompt's block reason), or
   * %NULL until it says.
   */
  properties[PROP_FINISH_REASON] =
    g_param_spec_string ("finish-reason", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  /**
   * HelixChatStream:input-tokens:
   *
   * Tokens of the request, as the provider counted them, or -1 until it says.
   */
  properties[PROP_INPUT_TOKENS] =
    g_param_spec_int64 ("input-tokens", NULL, NULL, -1, G_MAXINT64, -1,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  /**
   * HelixChatStream:output-tokens:
   *
   * Tokens of the answer, as the provider counted them, or -1 until it says.
   */
  properties[PROP_OUTPUT_TOKENS] =
    g_param_spec_int64 ("output-tokens", NULL, NULL, -1, G_MAXINT64, -1,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  /**
   * HelixChatStream:complete:
   *
   * %TRUE once the provider marked the end of the answer (OpenAI `data: [DONE]`,
   * Anthropic `message_stop`, Gemini: the body ends after a finish reason).
   * A stream that ends otherwise, by an error, a timeout or a cancellation,
   * keeps its text but stays incomplete.
   */
  properties[PROP_COMPLETE] =
    g_param_spec_boolean ("complete", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * HelixChatStream::delta:
   * @self: the stream
   * @text: the new text, appended to #HelixChatStream:text
   *
   * Emitted for each piece of the answer, in order.
   */
  signals[DELTA] =
    g_signal_new ("delta",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);

  /**
   * HelixChatStream::usage:
   * @self: the stream
   * @input_tokens: tokens of the request
   * @output_tokens: tokens of the answer
   *
   * Emitted once when the call ends, complete or not, if the provider reported
   * token counts (-1 for a count it did not give).
   */
  signals[USAGE] =
    g_signal_new ("usage",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_INT64, G_TYPE_INT64);
}

static void
helix_chat_stream_init (HelixChatStream *self)
{
  self->text = g_string_new (NULL);
  self->input_tokens = -1;
  self->output_tokens = -1;
  self->retry_after = -1;
  self->first_token_delay = -1;
}

/**
 * helix_chat_stream_new:
 *
 * Returns: (transfer full): an empty stream, for one call of
 *   helix_provider_stream_chat_async()
 */
HelixChatStream *
helix_chat_stream_new (void)
{
  return g_object_new (HELIX_TYPE_CHAT_STREAM, NULL);
}

const char *
helix_chat_stream_get_text (HelixChatStream *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_STREAM (self), NULL);

  return self->text->str;
}

gsize
helix_chat_stream_get_text_length (HelixChatStream *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_STREAM (self), 0);

  return self->text->len;
}

const char *
helix_chat_stream_get_finish_reason (HelixChatStream *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_STREAM (self), NULL);

  return self->finish_reason;
}

gint64
helix_chat_stream_get_input_tokens (HelixChatStream *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_STREAM (self), -1);

  return self->input_tokens;
}

gint64
helix_chat_stream_get_output_tokens (HelixChatStream *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_STREAM (self), -1);

  return self->output_tokens;
}

gboolean
helix_chat_stream_is_complete (HelixChatStream *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_STREAM (self), FALSE);

  return self->complete;
}

/**
 * helix_chat_stream_get_http_status:
 * @self: a stream
 *
 * Returns: the HTTP status of the provider's answer, or 0 if none came
 */
guint
helix_chat_stream_get_http_status (HelixChatStream *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_STREAM (self), 0);

  return self->http_status;
}

/**
 * helix_chat_stream_get_retry_after:
 * @self: a stream
 *
 * Returns: the seconds the provider asked to wait (`Retry-After`, given in
 *   seconds or as an HTTP date), or -1 if it did not say
 */
gint64
helix_chat_stream_get_retry_after (HelixChatStream *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_STREAM (self), -1);

  return self->retry_after;
}

/**
 * helix_chat_stream_get_first_token_delay:
 * @self: a stream
 *
 * Returns: microseconds from the start of the call to its first text, or -1
 */
gint64
helix_chat_stream_get_first_token_delay (HelixChatStream *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_STREAM (self), -1);

  return self->first_token_delay;
}

void
_helix_chat_stream_start (HelixChatStream *self)
{
  g_assert (HELIX_IS_CHAT_STREAM (self));
  g_assert (!self->started);

  self->started = TRUE;
  self->started_at = g_get_monotonic_time ();
}

void
_helix_chat_stream_append (HelixChatStream *self,
                           const char      *text,
                           gsize            len)
{
  g_autofree char *piece = NULL;

  g_assert (HELIX_IS_CHAT_STREAM (self));

  if (len == 0)
    return;

  if (self->first_token_delay < 0)
    self->first_token_delay = g_get_monotonic_time () - self->started_at;

  g_string_append_len (self->text, text, len);
  piece = g_strndup (text, len);
  g_signal_emit (self, signals[DELTA], 0, piece);
}

void
_helix_chat_stream_set_usage (HelixChatStream *self,
                              gint64           input_tokens,
                              gint64           output_tokens)
{
  g_assert (HELIX_IS_CHAT_STREAM (self));

  g_object_freeze_notify (G_OBJECT (self));
  if (self->input_tokens != input_tokens)
    {
      self->input_tokens = input_tokens;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_INPUT_TOKENS]);
    }
  if (self->output_tokens != output_tokens)
    {
      self->output_tokens = output_tokens;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_OUTPUT_TOKENS]);
    }
  g_signal_emit (self, signals[USAGE], 0, input_tokens, output_tokens);
  g_object_thaw_notify (G_OBJECT (self));
}

void
_helix_chat_stream_set_finish_reason (HelixChatStream *self,
                                      const char      *reason)
{
  g_assert (HELIX_IS_CHAT_STREAM (self));

  if (g_strcmp0 (self->finish_reason, reason) == 0)
    return;

  g_free (self->finish_reason);
  self->finish_reason = g_strdup (reason);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FINISH_REASON]);
}

void
_helix_chat_stream_set_complete (HelixChatStream *self)
{
  g_assert (HELIX_IS_CHAT_STREAM (self));

  if (self->complete)
    return;

  self->complete = TRUE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COMPLETE]);
}

void
_helix_chat_stream_set_http_status (HelixChatStream *self,
                                    guint            status,
                                    gint64           retry_after)
{
  g_assert (HELIX_IS_CHAT_STREAM (self));

  self->http_status = status;
  self->retry_after = retry_after;
}

/**
 * helix_chat_stream_relay:
 * @self: a stream no provider writes to
 * @text: the next piece of an answer written elsewhere (by a gateway)
 *
 * Appends @text and emits #HelixChatStream::delta, as a provider would.
 */
void
helix_chat_stream_relay (HelixChatStream *self,
                         const char      *text)
{
  g_return_if_fail (HELIX_IS_CHAT_STREAM (self));
  g_return_if_fail (text != NULL);

  if (!self->started)
    _helix_chat_stream_start (self);
  _helix_chat_stream_append (self, text, strlen (text));
}
