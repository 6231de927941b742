/* helix-chat-controller.c: asks the AI router to answer the chats, and stores the answers
 *
 * One controller per window. helix_chat_controller_ask() reads the end of a
 * session's history off the main thread, sends it to the router as a "chat"
 * operation, and shows the answer as it streams in through a #HelixChatCall in
 * the session's list of calls (helix_chat_controller_get_calls()). When the call
 * ends the answer is appended to the store once (messages are append-only), with
 * its model, provider, tokens, cost and how the call went in the metadata; then
 * the call leaves the list, and the stored message takes its place.
 *
 * Calls belong to their session, not to what the window shows: switching to
 * another session leaves them running. Each call holds the store and the router,
 * not the window, so it can finish after the window is gone.
 *
 * After the first answer of a session whose title was made from the first
 * message, a "title" operation asks for a short title and renames the session.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "helix-chat-controller.h"
#include "helix-provider.h"
#include "helix-title.h"
#include "helix-uuid.h"

#define REQUEST_MODEL       "auto"  /* replaced by the router with each candidate's */

static const char system_prompt[] =
  "You are Helix, a helpful personal assistant. Answer clearly and concisely.";

struct _HelixChatController
{
  GObject      parent_instance;

  HelixStore  *store;
  HelixRouter *router;

  /* session id → GListStore of HelixChatCall */
  GHashTable  *calls;
  /* id of an answer being stored → its HelixChatCall */
  GHashTable  *storing;
  gulong       message_added_handler;
  guint        n_pending;

  /* Answers written by the gateway: reply id → Relayed */
  HelixSyncClient *sync_client;
  GHashTable      *relayed;
  gboolean         use_gateway;    /* when signed in: the setting chat-through-gateway */
};

/* An answer the gateway writes, streamed to this device. */
typedef struct
{
  HelixChatCall *call;
  char          *reply;
  gint64         next_index;
  gulong         cancelled_id;
} Relayed;

enum {
  PROP_0,
  PROP_STORE,
  PROP_ROUTER,
  PROP_USE_GATEWAY,
  N_PROPS
};

enum {
  CHANGED,
  N_SIGNALS
};

G_DEFINE_FINAL_TYPE (HelixChatController, helix_chat_controller, G_TYPE_OBJECT)

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

/* One question, from reading the history to storing the answer. */
typedef struct
{
  HelixChatController *self;
  HelixChatCall       *call;
  HelixStore          *store;
  HelixRouter         *router;
  guint64              first;
  char                *first_question;  /* set when this is the first exchange */
  char                *answer_id;
} Ask;

static void
ask_free (Ask *ask)
{
  g_clear_object (&ask->self);
  g_clear_object (&ask->call);
  g_clear_object (&ask->store);
  g_clear_object (&ask->router);
  g_clear_pointer (&ask->first_question, g_free);
  g_clear_pointer (&ask->answer_id, g_free);
  g_free (ask);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Ask, ask_free)

/* Calls ----------------------------------------------------------------------- */

static GListStore *
ensure_calls (HelixChatController *self,
              const char          *session_id)
{
  GListStore *calls = g_hash_table_lookup (self->calls, session_id);

  if (calls == NULL)
    {
      calls = g_list_store_new (HELIX_TYPE_CHAT_CALL);
      g_hash_table_insert (self->calls, g_strdup (session_id), calls);
    }

  return calls;
}

static void
remove_call (HelixChatController *self,
             HelixChatCall       *call)
{
  GListStore *calls;
  guint position;

  if (self->calls == NULL)
    return;

  calls = g_hash_table_lookup (self->calls, helix_chat_call_get_session_id (call));
  if (calls != NULL && g_list_store_find (calls, call, &position))
    g_list_store_remove (calls, position);
}

static void
emit_changed (HelixChatController *self,
              const char          *session_id)
{
  g_signal_emit (self, signals[CHANGED], 0, session_id);
}

static void
pending_hold (HelixChatController *self)
{
  self->n_pending++;
}

static void
pending_release (HelixChatController *self)
{
  g_assert (self->n_pending > 0);
  self->n_pending--;
}

/* Titles ------------------------------------------------------------------------ */

typedef struct
{
  HelixChatController *self;
  char                *session_id;
  char                *default_title;
} TitleData;

static void
title_data_free (TitleData *data)
{
  pending_release (data->self);
  g_clear_object (&data->self);
  g_free (data->session_id);
  g_free (data->default_title);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TitleData, title_data_free)

static void
on_title_renamed (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(TitleData) data = user_data;
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(GError) error = NULL;

  session = helix_store_update_session_finish (HELIX_STORE (object), result, &error);
  if (session == NULL)
    g_debug ("Could not rename chat %s: %s", data->session_id, error->message);
}

/* Whether the session still has the title it was given when it was created
 * (or none): one the user chose is kept. */
static gboolean
title_is_default (HelixStore *store,
                  TitleData  *data)
{
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(GError) error = NULL;
  const char *title;

  session = helix_store_get_session (store, data->session_id, &error);
  if (session == NULL)
    {
      g_debug ("Could not read chat %s: %s", data->session_id, error->message);
      return FALSE;
    }

  title = helix_session_get_title (session);
  return title == NULL || title[0] == '\0' || g_str_equal (title, data->default_title);
}

static void
on_title_ready (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(TitleData) data = user_data;
  g_autoptr(HelixRouterResult) call = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *title = NULL;
  HelixStore *store = data->self->store;
  const char *session_id;

  if (!helix_router_chat_finish (HELIX_ROUTER (object), result, &call, &error))
    {
      g_debug ("No title for chat %s: %s", data->session_id, error->message);
      return;
    }

  title = helix_title_clean (helix_chat_stream_get_text (call->stream));
  if (title[0] == '\0')
    {
      g_debug ("No title for chat %s: the answer was empty", data->session_id);
      return;
    }

  if (!title_is_default (store, data))
    {
      g_debug ("Chat %s was renamed meanwhile: keeping its title", data->session_id);
      return;
    }

  g_debug ("Titling chat %s", data->session_id);
  session_id = data->session_id;  /* owned by data, which lives until the rename is done */
  helix_store_rename_session_async (store, session_id, title, NULL,
                                    on_title_renamed, g_steal_pointer (&data));
}

static void
ask_title (Ask        *ask,
           const char *answer)
{
  g_autoptr(HelixChatRequest) request = helix_title_request_new (ask->first_question, answer);
  TitleData *data;

  data = g_new0 (TitleData, 1);
  data->self = g_object_ref (ask->self);
  data->session_id = g_strdup (helix_chat_call_get_session_id (ask->call));
  data->default_title = helix_title_from_text (ask->first_question, HELIX_TITLE_DEFAULT_CHARS);
  pending_hold (ask->self);

  /* Named already (by the user, or for an earlier answer to the same question). */
  if (!title_is_default (ask->store, data))
    {
      title_data_free (data);
      return;
    }

  helix_router_chat_async (ask->router,
                           &(HelixRouterParams) {
                             .operation = "title",
                             .session_id = data->session_id,
                           },
                           request, NULL, NULL, on_title_ready, data);
}

/* Storing the answer ---------------------------------------------------------- */

static void
on_answer_stored (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(Ask) ask = user_data;
  HelixChatController *self = ask->self;
  g_autoptr(HelixMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  const char *session_id = helix_chat_call_get_session_id (ask->call);

  message = helix_store_append_message_finish (HELIX_STORE (object), result, &error);

  /* Usually gone already (see on_message_added()); not if the write failed. */
  if (self->storing != NULL)
    g_hash_table_remove (self->storing, ask->answer_id);
  remove_call (self, ask->call);
  pending_release (self);
  emit_changed (self, session_id);

  if (message == NULL)
    {
      g_debug ("Could not store the answer in chat %s: %s", session_id, error->message);
      return;
    }

  if (ask->first_question != NULL && ask->router != NULL &&
      helix_message_get_status (message) == HELIX_MESSAGE_STATUS_DONE &&
      helix_message_get_content (message)[0] != '\0')
    ask_title (ask, helix_message_get_content (message));
}

static const char *
outcome_to_string (HelixRouterOutcome outcome)
{
  switch (outcome)
    {
    case HELIX_ROUTER_OUTCOME_OK:
      return "ok";
    case HELIX_ROUTER_OUTCOME_PARTIAL:
      return "partial";
    case HELIX_ROUTER_OUTCOME_FAILED:
    default:
      return "failed";
    }
}

static char *
build_metadata (HelixRouterResult *result,
                const char        *outcome,
                const char        *error,
                const char        *note)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);

  json_builder_set_member_name (builder, "reason");
  if (result != NULL && result->reason != NULL)
    json_builder_add_string_value (builder, result->reason);
  else
    json_builder_add_null_value (builder);

  json_builder_set_member_name (builder, "latency_ms");
  json_builder_add_int_value (builder, result != NULL ? result->latency_us / 1000 : 0);

  json_builder_set_member_name (builder, "ttft_ms");
  if (result != NULL && result->first_token_us >= 0)
    json_builder_add_int_value (builder, result->first_token_us / 1000);
  else
    json_builder_add_null_value (builder);

  json_builder_set_member_name (builder, "attempts");
  json_builder_add_int_value (builder, result != NULL ? result->attempts : 0);

  json_builder_set_member_name (builder, "outcome");
  json_builder_add_string_value (builder, outcome);

  json_builder_set_member_name (builder, "error");
  if (error != NULL)
    json_builder_add_string_value (builder, error);
  else
    json_builder_add_null_value (builder);

  if (note != NULL)
    {
      json_builder_set_member_name (builder, "note");
      json_builder_add_string_value (builder, note);
    }

  json_builder_end_object (builder);
  root = json_builder_get_root (builder);

  return json_to_string (root, FALSE);
}

static void
store_answer (Ask               *ask,
              HelixRouterResult *result,
              const GError      *error)
{
  HelixChatStream *stream = _helix_chat_call_get_stream (ask->call);
  const char *text = stream != NULL ? helix_chat_stream_get_text (stream) : "";
  gboolean stopped = g_cancellable_is_cancelled (helix_chat_call_get_cancellable (ask->call));
  HelixRouterOutcome outcome = result != NULL ? result->outcome : HELIX_ROUTER_OUTCOME_FAILED;
  HelixNewMessage message = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_ASSISTANT, text);
  const char *error_text = NULL;
  g_autofree char *metadata = NULL;

  if (outcome != HELIX_ROUTER_OUTCOME_OK && text[0] != '\0')
    outcome = HELIX_ROUTER_OUTCOME_PARTIAL;
  if (outcome != HELIX_ROUTER_OUTCOME_OK && !stopped)
    error_text = result != NULL && result->error != NULL ? result->error :
                 error != NULL ? error->message : _("The answer could not be completed");

  metadata = build_metadata (result, outcome_to_string (outcome), error_text,
                             stopped && outcome != HELIX_ROUTER_OUTCOME_OK ? _("Stopped") : NULL);

  message.status = outcome == HELIX_ROUTER_OUTCOME_OK ? HELIX_MESSAGE_STATUS_DONE
                                                      : HELIX_MESSAGE_STATUS_ERROR;
  message.metadata = metadata;
  if (result != NULL && result->model != NULL)
    {
      HelixPriceTable *prices = helix_router_get_prices (ask->router);

      message.model = result->model;
      message.provider = result->provider;
      if (stream != NULL)
        {
          message.tokens_in = helix_chat_stream_get_input_tokens (stream);
          message.tokens_out = helix_chat_stream_get_output_tokens (stream);
        }
      /* What a model missing from the price table costs, or an answer whose
       * tokens the provider did not count, nobody knows. */
      if (prices != NULL && message.tokens_in >= 0 && message.tokens_out >= 0 &&
          helix_price_table_lookup (prices, result->provider, result->model) != NULL)
        message.cost = result->cost_usd;
    }

  g_debug ("Storing the answer in chat %s: %s, %zu bytes",
           helix_chat_call_get_session_id (ask->call), outcome_to_string (outcome), strlen (text));

  ask->answer_id = helix_uuid_new_v7 ();
  message.id = ask->answer_id;
  if (ask->self->storing != NULL)
    g_hash_table_insert (ask->self->storing, g_strdup (ask->answer_id), g_object_ref (ask->call));

  _helix_chat_call_set_state (ask->call, HELIX_CHAT_CALL_FINISHING);
  helix_store_append_message_async (ask->store,
                                    helix_chat_call_get_session_id (ask->call),
                                    &message,
                                    NULL,
                                    on_answer_stored,
                                    ask);
}

static void
on_chat_ready (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  Ask *ask = user_data;
  g_autoptr(HelixRouterResult) call = NULL;
  g_autoptr(GError) error = NULL;

  if (!helix_router_chat_finish (HELIX_ROUTER (object), result, &call, &error))
    g_debug ("The chat call of chat %s ended: %s",
             helix_chat_call_get_session_id (ask->call), error->message);

  store_answer (ask, call, error);
}

/* History ------------------------------------------------------------------------ */

typedef struct
{
  char    *session_id;
  guint64  first;
  guint    n_messages;
  /* Set by history_thread(): the model the user pinned for the session, if any. */
  char    *model;
} HistoryQuery;

static void
history_query_free (HistoryQuery *query)
{
  g_free (query->session_id);
  g_free (query->model);
  g_free (query);
}

/* The model pinned for the query's session, once the history task is over. */
static const char *
history_model (GAsyncResult *result)
{
  HistoryQuery *query = g_task_get_task_data (G_TASK (result));

  return query->model;
}

static void
history_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  HistoryQuery *query = task_data;
  HelixStore *store = source_object;
  g_autoptr(HelixSession) session = NULL;
  GError *error = NULL;
  GPtrArray *messages = NULL;

  session = helix_store_get_session (store, query->session_id, &error);
  if (session != NULL)
    {
      query->model = g_strdup (helix_session_get_model (session));
      messages = helix_store_get_messages (store, query->session_id, query->first,
                                           query->n_messages, &error);
    }
  if (messages == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, messages, (GDestroyNotify) g_ptr_array_unref);
}

/* The request for the history: a system prompt, then the messages up to the
 * last user message, the newest that fit in the size budget (the question
 * always does). Failed answers without text are left out. */
static HelixChatRequest *
build_request (Ask        *ask,
               GPtrArray  *messages,
               GError    **error)
{
  g_autoptr(HelixChatRequest) request = helix_chat_request_new (REQUEST_MODEL);
  guint n_user = 0;
  gboolean answered = FALSE;
  gsize bytes = 0;
  guint last_user = G_MAXUINT;
  guint start;

  for (guint i = 0; i < messages->len; i++)
    if (helix_message_get_role (g_ptr_array_index (messages, i)) == HELIX_MESSAGE_ROLE_USER)
      last_user = i;

  if (last_user == G_MAXUINT)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                           _("There is no question to answer here."));
      return NULL;
    }

  start = last_user;
  for (guint i = last_user + 1; i-- > 0;)
    {
      HelixMessage *message = g_ptr_array_index (messages, i);
      HelixMessageRole role = helix_message_get_role (message);
      gsize len = strlen (helix_message_get_content (message));

      if (role != HELIX_MESSAGE_ROLE_USER && role != HELIX_MESSAGE_ROLE_ASSISTANT)
        continue;
      if (i != last_user && bytes + len > HELIX_CHAT_HISTORY_MAX_BYTES)
        break;
      bytes += len;
      start = i;
    }

  helix_chat_request_add_message (request, HELIX_MESSAGE_ROLE_SYSTEM, system_prompt);
  for (guint i = start; i <= last_user; i++)
    {
      HelixMessage *message = g_ptr_array_index (messages, i);
      HelixMessageRole role = helix_message_get_role (message);
      const char *content = helix_message_get_content (message);

      if (role == HELIX_MESSAGE_ROLE_USER)
        {
          n_user++;
          helix_chat_request_add_message (request, role, content);
        }
      else if (role == HELIX_MESSAGE_ROLE_ASSISTANT && content[0] != '\0')
        {
          answered = TRUE;
          helix_chat_request_add_message (request, role, content);
        }
    }

  /* The first question of the session: its answer may name the session. */
  if (ask->first == 0 && start == 0 && n_user == 1 && !answered)
    ask->first_question =
      g_strdup (helix_message_get_content (g_ptr_array_index (messages, last_user)));

  return g_steal_pointer (&request);
}

static void
on_history_ready (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Ask *ask = user_data;
  HelixChatController *self = ask->self;
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(HelixChatRequest) request = NULL;
  g_autoptr(HelixChatStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  const char *session_id = helix_chat_call_get_session_id (ask->call);

  messages = g_task_propagate_pointer (G_TASK (result), &error);
  if (messages != NULL)
    request = build_request (ask, messages, &error);

  if (g_cancellable_is_cancelled (helix_chat_call_get_cancellable (ask->call)))
    {
      /* Stopped before anything was asked: nothing to keep. */
      remove_call (self, ask->call);
      pending_release (self);
      emit_changed (self, session_id);
      ask_free (ask);
      return;
    }

  if (request == NULL)
    {
      g_debug ("Cannot ask in chat %s: %s", session_id, error->message);
      _helix_chat_call_fail (ask->call, error->message, FALSE);
      pending_release (self);
      emit_changed (self, session_id);
      ask_free (ask);
      return;
    }

  stream = helix_chat_stream_new ();
  _helix_chat_call_set_stream (ask->call, stream);
  _helix_chat_call_set_state (ask->call, HELIX_CHAT_CALL_STREAMING);

  g_debug ("Asking for an answer in chat %s (%u messages, model %s)", session_id,
           helix_chat_request_get_n_messages (request),
           history_model (result) != NULL ? history_model (result) : "automatic");
  helix_router_chat_async (ask->router,
                           &(HelixRouterParams) {
                             .operation = "chat",
                             .session_id = session_id,
                             .pinned_model = history_model (result),
                           },
                           request,
                           stream,
                           helix_chat_call_get_cancellable (ask->call),
                           on_chat_ready,
                           ask);
}

/* Through the gateway ---------------------------------------------------------------- */

/* Signed in and connected (or connecting), unless the user wants this
 * desktop's own providers: the gateway answers, and the answer streams to
 * every device of the user at once. */
static gboolean
use_gateway (HelixChatController *self)
{
  return self->use_gateway && self->sync_client != NULL &&
         helix_sync_client_get_state (self->sync_client) != HELIX_SYNC_STATE_OFFLINE;
}

static void
relayed_free (gpointer data)
{
  Relayed *relayed = data;

  g_cancellable_disconnect (helix_chat_call_get_cancellable (relayed->call),
                            relayed->cancelled_id);
  g_object_unref (relayed->call);
  g_free (relayed->reply);
  g_free (relayed);
}

/* Ends the wait for @reply: the answer arrived, failed, or was let go. */
static void
forget_relayed (HelixChatController *self,
                const char          *reply)
{
  if (self->relayed != NULL && g_hash_table_remove (self->relayed, reply))
    pending_release (self);
}

static void
on_relayed_delta (HelixChatController *self,
                  const char          *session_id,
                  const char          *message_id,
                  gint64               index,
                  const char          *delta,
                  HelixSyncClient     *client)
{
  Relayed *relayed = self->relayed != NULL ? g_hash_table_lookup (self->relayed, message_id) : NULL;

  /* Pieces in order, each once; a gap (frames lost on a dropped connection)
   * waits for the stored answer. */
  if (relayed == NULL || index != relayed->next_index)
    return;

  relayed->next_index++;
  helix_chat_stream_relay (_helix_chat_call_get_stream (relayed->call), delta);
}

static void
on_relayed_failed (HelixChatController *self,
                   const char          *session_id,
                   const char          *reply_id,
                   const char          *error,
                   HelixSyncClient     *client)
{
  Relayed *relayed = self->relayed != NULL ? g_hash_table_lookup (self->relayed, reply_id) : NULL;

  if (relayed == NULL)
    return;

  g_debug ("The gateway could not answer in chat %s: %s", session_id, error);
  _helix_chat_call_fail (relayed->call, error, FALSE);
  if (self->storing != NULL)
    g_hash_table_remove (self->storing, reply_id);
  forget_relayed (self, reply_id);
  emit_changed (self, session_id);
}

typedef struct
{
  HelixChatController *self;
  char                *reply;
} Stopped;

static gboolean
stopped_cb (gpointer data)
{
  Stopped *stopped = data;
  Relayed *relayed = stopped->self->relayed != NULL ?
                     g_hash_table_lookup (stopped->self->relayed, stopped->reply) : NULL;

  if (relayed != NULL)
    {
      g_autofree char *session_id = g_strdup (helix_chat_call_get_session_id (relayed->call));

      /* The gateway stores what it wrote; that message takes this row's place. */
      _helix_chat_call_fail (relayed->call, _("Stopped."), FALSE);
      if (stopped->self->sync_client != NULL)
        helix_sync_client_cancel_chat (stopped->self->sync_client, stopped->reply);
      forget_relayed (stopped->self, stopped->reply);
      emit_changed (stopped->self, session_id);
    }

  g_object_unref (stopped->self);
  g_free (stopped->reply);
  g_free (stopped);

  return G_SOURCE_REMOVE;
}

/* Stop: the gateway is told (chat.cancel), aborts the provider's call and
 * stores what it wrote, which then replaces the row like any synced message.
 * (Not from within the cancellable's emission: forgetting disconnects this
 * handler.) */
static void
on_relayed_cancelled (GCancellable *cancellable,
                      Relayed      *relayed)
{
  Stopped *stopped = g_new0 (Stopped, 1);

  stopped->self = g_object_ref (g_object_get_data (G_OBJECT (relayed->call), "helix-controller"));
  stopped->reply = g_strdup (relayed->reply);
  g_idle_add (stopped_cb, stopped);
}

static void
on_gateway_question_ready (GObject      *object,
                           GAsyncResult *result,
                           gpointer      user_data)
{
  Ask *ask = user_data;
  HelixChatController *self = ask->self;
  const char *session_id = helix_chat_call_get_session_id (ask->call);
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(HelixChatStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  HelixMessage *question = NULL;
  Relayed *relayed;

  messages = g_task_propagate_pointer (G_TASK (result), &error);
  if (messages != NULL && messages->len > 0)
    question = g_ptr_array_index (messages, messages->len - 1);

  if (question == NULL || helix_message_get_role (question) != HELIX_MESSAGE_ROLE_USER ||
      self->sync_client == NULL)
    {
      _helix_chat_call_fail (ask->call,
                             error != NULL ? error->message : _("There is no question to answer."),
                             FALSE);
      pending_release (self);
      emit_changed (self, session_id);
      ask_free (ask);
      return;
    }

  stream = helix_chat_stream_new ();
  _helix_chat_call_set_stream (ask->call, stream);
  _helix_chat_call_set_state (ask->call, HELIX_CHAT_CALL_STREAMING);

  relayed = g_new0 (Relayed, 1);
  relayed->call = g_object_ref (ask->call);
  relayed->reply = helix_uuid_new_v7 ();
  g_object_set_data (G_OBJECT (ask->call), "helix-controller", self);
  relayed->cancelled_id = g_cancellable_connect (helix_chat_call_get_cancellable (ask->call),
                                                 G_CALLBACK (on_relayed_cancelled), relayed, NULL);
  g_hash_table_insert (self->relayed, relayed->reply, relayed);
  /* The stored answer takes the streaming row's place (on_message_added()). */
  g_hash_table_insert (self->storing, g_strdup (relayed->reply), g_object_ref (ask->call));

  g_debug ("Asking the gateway for an answer in chat %s", session_id);
  helix_sync_client_request_chat (self->sync_client, session_id,
                                  helix_message_get_id (question), relayed->reply,
                                  history_model (result));
  emit_changed (self, session_id);
  ask_free (ask);
}

/* Controller ------------------------------------------------------------------------ */

/* An answer reached the store: its call leaves the session's list in the same
 * emission that adds the stored message to the session's message list, so the
 * stored row takes the place of the streaming one, with no frame showing both. */
static void
on_message_added (HelixChatController *self,
                  HelixMessage        *message,
                  HelixStore          *store)
{
  g_autoptr(HelixChatCall) call = NULL;
  g_autofree char *id = NULL;

  if (self->storing == NULL ||
      !g_hash_table_steal_extended (self->storing, helix_message_get_id (message),
                                    (gpointer *) &id, (gpointer *) &call))
    return;

  remove_call (self, call);
  forget_relayed (self, id);
}

static void
helix_chat_controller_constructed (GObject *object)
{
  HelixChatController *self = (HelixChatController *)object;

  G_OBJECT_CLASS (helix_chat_controller_parent_class)->constructed (object);

  g_assert (HELIX_IS_STORE (self->store));

  self->message_added_handler =
    g_signal_connect_object (self->store, "message-added", G_CALLBACK (on_message_added), self,
                             G_CONNECT_SWAPPED);
}

static void
helix_chat_controller_dispose (GObject *object)
{
  HelixChatController *self = (HelixChatController *)object;

  if (self->store != NULL)
    g_clear_signal_handler (&self->message_added_handler, self->store);
  helix_chat_controller_set_sync_client (self, NULL);
  g_clear_pointer (&self->relayed, g_hash_table_unref);
  g_clear_pointer (&self->storing, g_hash_table_unref);
  g_clear_pointer (&self->calls, g_hash_table_unref);
  g_clear_object (&self->router);
  g_clear_object (&self->store);

  G_OBJECT_CLASS (helix_chat_controller_parent_class)->dispose (object);
}

static void
helix_chat_controller_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  HelixChatController *self = HELIX_CHAT_CONTROLLER (object);

  switch (prop_id)
    {
    case PROP_STORE:
      g_value_set_object (value, self->store);
      break;

    case PROP_ROUTER:
      g_value_set_object (value, self->router);
      break;

    case PROP_USE_GATEWAY:
      g_value_set_boolean (value, self->use_gateway);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_chat_controller_set_property (GObject      *object,
                                    guint         prop_id,
                                    const GValue *value,
                                    GParamSpec   *pspec)
{
  HelixChatController *self = HELIX_CHAT_CONTROLLER (object);

  switch (prop_id)
    {
    case PROP_STORE:
      self->store = g_value_dup_object (value);
      break;

    case PROP_ROUTER:
      helix_chat_controller_set_router (self, g_value_get_object (value));
      break;

    case PROP_USE_GATEWAY:
      helix_chat_controller_set_use_gateway (self, g_value_get_boolean (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_chat_controller_class_init (HelixChatControllerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = helix_chat_controller_constructed;
  object_class->dispose = helix_chat_controller_dispose;
  object_class->get_property = helix_chat_controller_get_property;
  object_class->set_property = helix_chat_controller_set_property;

  /**
   * HelixChatController:store:
   *
   * Where the history is read and the answers are stored.
   */
  properties[PROP_STORE] =
    g_param_spec_object ("store", NULL, NULL,
                         HELIX_TYPE_STORE,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));

  /**
   * HelixChatController:router:
   *
   * What answers, or %NULL: then questions are stored unanswered.
   */
  properties[PROP_ROUTER] =
    g_param_spec_object ("router", NULL, NULL,
                         HELIX_TYPE_ROUTER,
                         (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HelixChatController:use-gateway:
   *
   * Whether the gateway answers when the device is signed in (the setting
   * chat-through-gateway). When %FALSE, this desktop's own providers answer
   * even when signed in; the chats still sync.
   */
  properties[PROP_USE_GATEWAY] =
    g_param_spec_boolean ("use-gateway", NULL, NULL,
                          TRUE,
                          (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * HelixChatController::changed:
   * @self: the controller
   * @session_id: the session
   *
   * Emitted when a call of @session_id started, ended or failed: whether the
   * session is busy (helix_chat_controller_get_busy_call()) may have changed.
   */
  signals[CHANGED] =
    g_signal_new ("changed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
helix_chat_controller_init (HelixChatController *self)
{
  self->calls = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->storing = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->relayed = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, relayed_free);
  self->use_gateway = TRUE;
}

/**
 * helix_chat_controller_new:
 * @store: where the chats are
 *
 * Returns: (transfer full): a new controller, without a router
 */
HelixChatController *
helix_chat_controller_new (HelixStore *store)
{
  g_return_val_if_fail (HELIX_IS_STORE (store), NULL);

  return g_object_new (HELIX_TYPE_CHAT_CONTROLLER, "store", store, NULL);
}

/**
 * helix_chat_controller_get_store:
 * @self: a #HelixChatController
 *
 * Returns: (transfer none): the store
 */
HelixStore *
helix_chat_controller_get_store (HelixChatController *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_CONTROLLER (self), NULL);

  return self->store;
}

/**
 * helix_chat_controller_set_router:
 * @self: a #HelixChatController
 * @router: (nullable): what answers the next questions
 *
 * Calls under way keep the router they started with.
 */
void
helix_chat_controller_set_router (HelixChatController *self,
                                  HelixRouter         *router)
{
  g_return_if_fail (HELIX_IS_CHAT_CONTROLLER (self));
  g_return_if_fail (router == NULL || HELIX_IS_ROUTER (router));

  if (g_set_object (&self->router, router))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ROUTER]);
}

/**
 * helix_chat_controller_get_router:
 * @self: a #HelixChatController
 *
 * Returns: (transfer none) (nullable): the router
 */
HelixRouter *
helix_chat_controller_get_router (HelixChatController *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_CONTROLLER (self), NULL);

  return self->router;
}

/**
 * helix_chat_controller_set_use_gateway:
 * @self: a #HelixChatController
 * @use_gateway: whether the gateway answers when signed in
 *
 * With %FALSE, the next questions go to this desktop's own router even when
 * signed in to a gateway. Calls under way are not moved.
 */
void
helix_chat_controller_set_use_gateway (HelixChatController *self,
                                       gboolean             use_gateway)
{
  g_return_if_fail (HELIX_IS_CHAT_CONTROLLER (self));

  use_gateway = !!use_gateway;
  if (self->use_gateway == use_gateway)
    return;

  self->use_gateway = use_gateway;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_USE_GATEWAY]);
}

/**
 * helix_chat_controller_get_use_gateway:
 * @self: a #HelixChatController
 *
 * Returns: whether the gateway answers when signed in
 */
gboolean
helix_chat_controller_get_use_gateway (HelixChatController *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_CONTROLLER (self), FALSE);

  return self->use_gateway;
}

/**
 * helix_chat_controller_has_providers:
 * @self: a #HelixChatController
 *
 * Returns: whether something can answer: the router has at least one
 *   provider, or the gateway answers (helix_chat_controller_set_sync_client())
 */
gboolean
helix_chat_controller_has_providers (HelixChatController *self)
{
  g_auto(GStrv) names = NULL;

  g_return_val_if_fail (HELIX_IS_CHAT_CONTROLLER (self), FALSE);

  if (use_gateway (self))
    return TRUE;
  if (self->router == NULL)
    return FALSE;

  names = helix_router_list_providers (self->router);
  return names != NULL && names[0] != NULL;
}

/**
 * helix_chat_controller_get_calls:
 * @self: a #HelixChatController
 * @session_id: a session
 *
 * The answers on their way in @session_id, and the calls that failed before
 * asking (to show why): what the message view shows after the stored messages.
 *
 * Returns: (transfer none): a #GListModel of #HelixChatCall
 */
GListModel *
helix_chat_controller_get_calls (HelixChatController *self,
                                 const char          *session_id)
{
  g_return_val_if_fail (HELIX_IS_CHAT_CONTROLLER (self), NULL);
  g_return_val_if_fail (session_id != NULL, NULL);

  return G_LIST_MODEL (ensure_calls (self, session_id));
}

/**
 * helix_chat_controller_get_busy_call:
 * @self: a #HelixChatController
 * @session_id: (nullable): a session
 *
 * Returns: (transfer none) (nullable): the call under way in @session_id
 */
HelixChatCall *
helix_chat_controller_get_busy_call (HelixChatController *self,
                                     const char          *session_id)
{
  GListModel *calls;
  guint n_items;

  g_return_val_if_fail (HELIX_IS_CHAT_CONTROLLER (self), NULL);

  if (session_id == NULL || (calls = g_hash_table_lookup (self->calls, session_id)) == NULL)
    return NULL;

  n_items = g_list_model_get_n_items (calls);
  for (guint i = 0; i < n_items; i++)
    {
      g_autoptr(HelixChatCall) call = g_list_model_get_item (calls, i);

      if (helix_chat_call_is_busy (call))
        return call;  /* the list holds it */
    }

  return NULL;
}

/**
 * helix_chat_controller_ask:
 * @self: a #HelixChatController
 * @session_id: the session
 * @upto: answer the messages before this position: the last user message
 *   among them is the question
 *
 * Asks for an answer, unless one is on its way in @session_id. A failed call
 * of the session (no provider…) makes room for the new one.
 *
 * Returns: (transfer none) (nullable): the call, or %NULL if the session is busy
 */
HelixChatCall *
helix_chat_controller_ask (HelixChatController *self,
                           const char          *session_id,
                           guint64              upto)
{
  g_autoptr(HelixChatCall) call = NULL;
  g_autoptr(GTask) task = NULL;
  HistoryQuery *query;
  GListStore *calls;
  Ask *ask;

  g_return_val_if_fail (HELIX_IS_CHAT_CONTROLLER (self), NULL);
  g_return_val_if_fail (session_id != NULL, NULL);

  if (helix_chat_controller_get_busy_call (self, session_id) != NULL)
    return NULL;

  calls = ensure_calls (self, session_id);
  call = _helix_chat_call_new (session_id, upto);
  g_list_store_splice (calls, 0, g_list_model_get_n_items (G_LIST_MODEL (calls)),
                       (gpointer *) &call, 1);

  if (use_gateway (self) && upto > 0)
    {
      /* The gateway reads the history itself: only the question's id is needed. */
      ask = g_new0 (Ask, 1);
      ask->self = g_object_ref (self);
      ask->call = g_object_ref (call);
      ask->store = g_object_ref (self->store);
      pending_hold (self);

      query = g_new0 (HistoryQuery, 1);
      query->session_id = g_strdup (session_id);
      query->first = upto - 1;
      query->n_messages = 1;

      task = g_task_new (self->store, NULL, on_gateway_question_ready, ask);
      g_task_set_source_tag (task, helix_chat_controller_ask);
      g_task_set_task_data (task, query, (GDestroyNotify) history_query_free);
      g_task_run_in_thread (task, history_thread);

      emit_changed (self, session_id);
      return call;
    }

  if (!helix_chat_controller_has_providers (self))
    {
      _helix_chat_call_fail (call,
                             _("No AI provider is set up. Add one in Preferences, then try again."),
                             TRUE);
      emit_changed (self, session_id);
      return call;
    }

  ask = g_new0 (Ask, 1);
  ask->self = g_object_ref (self);
  ask->call = g_object_ref (call);
  ask->store = g_object_ref (self->store);
  ask->router = g_object_ref (self->router);
  ask->first = upto > HELIX_CHAT_HISTORY_MAX_MESSAGES ? upto - HELIX_CHAT_HISTORY_MAX_MESSAGES : 0;
  pending_hold (self);

  query = g_new0 (HistoryQuery, 1);
  query->session_id = g_strdup (session_id);
  query->first = ask->first;
  query->n_messages = (guint) (upto - ask->first);

  task = g_task_new (self->store, NULL, on_history_ready, ask);
  g_task_set_source_tag (task, helix_chat_controller_ask);
  g_task_set_task_data (task, query, (GDestroyNotify) history_query_free);
  g_task_run_in_thread (task, history_thread);

  emit_changed (self, session_id);
  return call;
}

/**
 * helix_chat_controller_stop:
 * @self: a #HelixChatController
 * @session_id: a session
 *
 * Stops the call under way in @session_id: what arrived of the answer is
 * stored, marked as stopped.
 *
 * Returns: whether a call was stopped
 */
gboolean
helix_chat_controller_stop (HelixChatController *self,
                            const char          *session_id)
{
  HelixChatCall *call;

  g_return_val_if_fail (HELIX_IS_CHAT_CONTROLLER (self), FALSE);

  call = helix_chat_controller_get_busy_call (self, session_id);
  if (call == NULL || helix_chat_call_get_state (call) == HELIX_CHAT_CALL_FINISHING)
    return FALSE;

  g_debug ("Stopping the answer in chat %s", session_id);
  g_cancellable_cancel (helix_chat_call_get_cancellable (call));
  return TRUE;
}

/**
 * helix_chat_controller_stop_all:
 * @self: a #HelixChatController
 *
 * Stops every call (the window closes): what arrived is stored.
 */
void
helix_chat_controller_stop_all (HelixChatController *self)
{
  GHashTableIter iter;
  const char *session_id;

  g_return_if_fail (HELIX_IS_CHAT_CONTROLLER (self));

  if (self->calls == NULL)
    return;

  g_hash_table_iter_init (&iter, self->calls);
  while (g_hash_table_iter_next (&iter, (gpointer *) &session_id, NULL))
    helix_chat_controller_stop (self, session_id);
}

/**
 * helix_chat_controller_get_n_pending:
 * @self: a #HelixChatController
 *
 * Returns: how many calls and writes are under way (for tests)
 */
guint
helix_chat_controller_get_n_pending (HelixChatController *self)
{
  g_return_val_if_fail (HELIX_IS_CHAT_CONTROLLER (self), 0);

  return self->n_pending;
}

/**
 * helix_chat_controller_set_sync_client:
 * @self: a #HelixChatController
 * @client: (nullable): the sync client of the account the desktop is signed in to
 *
 * While @client is connected (or connecting), the gateway answers: the
 * question is pushed as usual, the gateway's router writes the answer, which
 * streams to every device of the user and is stored by the gateway.
 * Otherwise the controller's own router answers.
 */
void
helix_chat_controller_set_sync_client (HelixChatController *self,
                                       HelixSyncClient     *client)
{
  g_return_if_fail (HELIX_IS_CHAT_CONTROLLER (self));
  g_return_if_fail (client == NULL || HELIX_IS_SYNC_CLIENT (client));

  if (self->sync_client == client)
    return;

  if (self->sync_client != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->sync_client, self);
      g_clear_object (&self->sync_client);
    }

  if (client != NULL)
    {
      self->sync_client = g_object_ref (client);
      g_signal_connect_object (client, "message-delta", G_CALLBACK (on_relayed_delta), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (client, "chat-failed", G_CALLBACK (on_relayed_failed), self,
                               G_CONNECT_SWAPPED);
    }
}
