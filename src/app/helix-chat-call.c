/* helix-chat-call.c: an answer on its way, shown until it is stored
 *
 * The chat controller makes one #HelixChatCall per question. The message view
 * shows it after the stored messages of its session, as the answer streams in;
 * once the answer is stored, the stored message takes its place. The text is
 * notified at most every %HELIX_CHAT_CALL_REDRAW_MS milliseconds, not for every
 * token, so a fast model does not make the view relayout hundreds of times a
 * second.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include "helix-chat-call.h"

struct _HelixChatCall
{
  GObject             parent_instance;

  char               *session_id;
  guint64             upto;
  HelixChatCallState  state;
  char               *error;
  GCancellable       *cancellable;

  HelixChatStream    *stream;
  gulong              delta_handler;
  guint               flush_id;
  gint64              last_flush;
  char               *text;   /* what was last shown */

  guint               needs_providers : 1;
};

enum {
  PROP_0,
  PROP_SESSION_ID,
  PROP_UPTO,
  PROP_STATE,
  PROP_TEXT,
  PROP_ERROR,
  PROP_NEEDS_PROVIDERS,
  N_PROPS
};

G_DEFINE_FINAL_TYPE (HelixChatCall, helix_chat_call, G_TYPE_OBJECT)

static GParamSpec *properties[N_PROPS];

/**
 * _helix_chat_call_flush:
 * @self: a #HelixChatCall
 *
 * Shows the text that arrived so far, now.
 */
void
_helix_chat_call_flush (HelixChatCall *self)
{
  const char *text;

  g_return_if_fail (HELIX_IS_CHAT_CALL (self));

  g_clear_handle_id (&self->flush_id, g_source_remove);
  self->last_flush = g_get_monotonic_time ();

  if (self->stream == NULL)
    return;

  text = helix_chat_stream_get_text (self->stream);
  if (g_strcmp0 (text, self->text) == 0)
    return;

  g_free (self->text);
  self->text = g_strdup (text);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TEXT]);
}

static gboolean
flush_cb (gpointer user_data)
{
  HelixChatCall *self = user_data;

  self->flush_id = 0;
  _helix_chat_call_flush (self);

  return G_SOURCE_REMOVE;
}

static void
on_delta (HelixChatCall   *self,
          const char      *piece,
          HelixChatStream *stream)
{
  gint64 since = (g_get_monotonic_time () - self->last_flush) / 1000;

  if (self->flush_id != 0)
    return;

  if (since >= HELIX_CHAT_CALL_REDRAW_MS)
    _helix_chat_call_flush (self);
  else
    self->flush_id = g_timeout_add_full (G_PRIORITY_DEFAULT,
                                         (guint) (HELIX_CHAT_CALL_REDRAW_MS - since),
                                         flush_cb, self, NULL);
}

static void
helix_chat_call_dispose (GObject *object)
{
  HelixChatCall *self = (HelixChatCall *)object;

  g_clear_handle_id (&self->flush_id, g_source_remove);
  if (self->stream != NULL)
    g_clear_signal_handler (&self->delta_handler, self->stream);
  g_clear_object (&self->stream);

  G_OBJECT_CLASS (helix_chat_call_parent_class)->dispose (object);
}

static void
helix_chat_call_finalize (GObject *object)
{
  HelixChatCall *self = (HelixChatCall *)object;

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->session_id, g_free);
  g_clear_pointer (&self->error, g_free);
  g_clear_pointer (&self->text, g_free);

  G_OBJECT_CLASS (helix_chat_call_parent_class)->finalize (object);
}

static void
helix_chat_call_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  HelixChatCall *self = HELIX_CHAT_CALL (object);

  switch (prop_id)
    {
    case PROP_SESSION_ID:
      g_value_set_string (value, self->session_id);
      break;

    case PROP_UPTO:
      g_value_set_uint64 (value, self->upto);
      break;

    case PROP_STATE:
      g_value_set_uint (value, self->state);
      break;

    case PROP_TEXT:
      g_value_set_string (value, helix_chat_call_get_text (self));
      break;

    case PROP_ERROR:
      g_value_set_string (value, self->error);
      break;

    case PROP_NEEDS_PROVIDERS:
      g_value_set_boolean (value, self->needs_providers);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_chat_call_class_init (HelixChatCallClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = helix_chat_call_dispose;
  object_class->finalize = helix_chat_call_finalize;
  object_class->get_property = helix_chat_call_get_property;

  /**
   * HelixChatCall:session-id:
   *
   * The session the answer belongs to.
   */
  properties[PROP_SESSION_ID] =
    g_param_spec_string ("session-id", NULL, NULL, NULL,
                         (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * HelixChatCall:upto:
   *
   * The answer is to the messages before this position (the last user
   * message among them is the question).
   */
  properties[PROP_UPTO] =
    g_param_spec_uint64 ("upto", NULL, NULL, 0, G_MAXUINT64, 0,
                         (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * HelixChatCall:state:
   *
   * A #HelixChatCallState.
   */
  properties[PROP_STATE] =
    g_param_spec_uint ("state", NULL, NULL, 0, HELIX_CHAT_CALL_FAILED, 0,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HelixChatCall:text:
   *
   * The answer so far, as last shown (throttled).
   */
  properties[PROP_TEXT] =
    g_param_spec_string ("text", NULL, NULL, "",
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HelixChatCall:error:
   *
   * Why nothing was asked, for people, once the state is failed.
   */
  properties[PROP_ERROR] =
    g_param_spec_string ("error", NULL, NULL, NULL,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HelixChatCall:needs-providers:
   *
   * Whether it failed because no AI provider is set up.
   */
  properties[PROP_NEEDS_PROVIDERS] =
    g_param_spec_boolean ("needs-providers", NULL, NULL, FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
helix_chat_call_init (HelixChatCall *self)
{
  self->cancellable = g_cancellable_new ();
}

HelixChatCall *
_helix_chat_call_new (const char *session_id,
                      guint64     upto)
{
  HelixChatCall *self;

  g_return_val_if_fail (session_id != NULL, NULL);

  self = g_object_new (HELIX_TYPE_CHAT_CALL, NULL);
  self->session_id = g_strdup (session_id);
  self->upto = upto;

  return self;
}

void
_helix_chat_call_set_state (HelixChatCall      *self,
                            HelixChatCallState  state)
{
  g_return_if_fail (HELIX_IS_CHAT_CALL (self));

  if (state != HELIX_CHAT_CALL_STREAMING)
    _helix_chat_call_flush (self);

  if (self->state == state)
    return;

  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

/* The stream the answer arrives in; its text is shown as it grows. */
void
_helix_chat_call_set_stream (HelixChatCall   *self,
                             HelixChatStream *stream)
{
  g_return_if_fail (HELIX_IS_CHAT_CALL (self));
  g_return_if_fail (HELIX_IS_CHAT_STREAM (stream));
  g_return_if_fail (self->stream == NULL);

  self->stream = g_object_ref (stream);
  self->delta_handler = g_signal_connect_object (stream, "delta", G_CALLBACK (on_delta), self,
                                                 G_CONNECT_SWAPPED);
}

HelixChatStream *
_helix_chat_call_get_stream (HelixChatCall *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_CALL (self), NULL);

  return self->stream;
}

void
_helix_chat_call_fail (HelixChatCall *self,
                       const char    *message,
                       gboolean       needs_providers)
{
  g_return_if_fail (HELIX_IS_CHAT_CALL (self));

  g_free (self->error);
  self->error = g_strdup (message);
  self->needs_providers = !!needs_providers;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NEEDS_PROVIDERS]);
  _helix_chat_call_set_state (self, HELIX_CHAT_CALL_FAILED);
}

const char *
helix_chat_call_get_session_id (HelixChatCall *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_CALL (self), NULL);

  return self->session_id;
}

guint64
helix_chat_call_get_upto (HelixChatCall *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_CALL (self), 0);

  return self->upto;
}

HelixChatCallState
helix_chat_call_get_state (HelixChatCall *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_CALL (self), HELIX_CHAT_CALL_FAILED);

  return self->state;
}

/**
 * helix_chat_call_get_text:
 * @self: a #HelixChatCall
 *
 * Returns: the answer as last shown: it lags the stream by at most
 *   %HELIX_CHAT_CALL_REDRAW_MS milliseconds
 */
const char *
helix_chat_call_get_text (HelixChatCall *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_CALL (self), NULL);

  return self->text != NULL ? self->text : "";
}

const char *
helix_chat_call_get_error (HelixChatCall *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_CALL (self), NULL);

  return self->error;
}

gboolean
helix_chat_call_get_needs_providers (HelixChatCall *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_CALL (self), FALSE);

  return self->needs_providers;
}

/**
 * helix_chat_call_get_cancellable:
 * @self: a #HelixChatCall
 *
 * Returns: (transfer none): what stops the call
 */
GCancellable *
helix_chat_call_get_cancellable (HelixChatCall *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_CALL (self), NULL);

  return self->cancellable;
}

/**
 * helix_chat_call_is_busy:
 * @self: a #HelixChatCall
 *
 * Returns: whether the call is under way (not failed)
 */
gboolean
helix_chat_call_is_busy (HelixChatCall *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_CALL (self), FALSE);

  return self->state != HELIX_CHAT_CALL_FAILED;
}
