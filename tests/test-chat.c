/* test-chat.c: the assistant answers, through the real router, from a loopback fake
 *
 * The main window on a real store file, with a real HelixRouter whose only
 * provider is the OpenAI-compatible provider in front of a fake server that
 * speaks the wire format. The fake is registered as "deepseek" serving
 * "deepseek-chat", so the shipped price table prices its answers.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-test-chat"

#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "fake-provider.h"
#include "helix-chat-controller.h"
#include "helix-core.h"
#include "helix-message-row.h"
#include "helix-provider-openai.h"
#include "helix-title.h"
#include "helix-test-util.h"
#include "helix-window-private.h"

#define KEY "sk-chat-test-key-0123456789"
#define WAIT_TIMEOUT_SECONDS 30

/* Wire data ------------------------------------------------------------------- */

static const char * const answer_chunks[] = {
  "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"}}]}\n\n",
  "data: {\"choices\":[{\"delta\":{\"content\":\", world\"}}]}\n\n",
  "data: {\"choices\":[{\"delta\":{\"content\":\"!\"},\"finish_reason\":\"stop\"}]}\n\n",
  "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":500}}\n\n",
  "data: [DONE]\n\n",
  NULL
};

/* The start of an answer, then nothing: the fake holds the connection. */
static const char * const slow_chunks[] = {
  "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Once upon\"}}]}\n\n",
  "data: {\"choices\":[{\"delta\":{\"content\":\" a time\"}}]}\n\n",
  NULL
};

/* A long start of an answer, then nothing. */
static const char * const long_chunks[] = {
  "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"First line\\n\\n\"}}]}\n\n",
  "data: {\"choices\":[{\"delta\":{\"content\":\"a\\n\\nb\\n\\nc\\n\\nd\\n\\ne\\n\\nf\\n\\ng\\n\\nh\\n\\n\"}}]}\n\n",
  "data: {\"choices\":[{\"delta\":{\"content\":\"i\\n\\nj\\n\\nk\\n\\nl\\n\\nm\\n\\nn\\n\\no\\n\\np\\n\\nLast line\"}}]}\n\n",
  NULL
};

static const char * const title_chunks[] = {
  "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\\\"Greeting the\"}}]}\n\n",
  "data: {\"choices\":[{\"delta\":{\"content\":\" World.\\\"\\n\"},\"finish_reason\":\"stop\"}]}\n\n",
  "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":5}}\n\n",
  "data: [DONE]\n\n",
  NULL
};

static const char * const second_chunks[] = {
  "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Hi again\"},\"finish_reason\":\"stop\"}]}\n\n",
  "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":500}}\n\n",
  "data: [DONE]\n\n",
  NULL
};

#define SERVER_BODY "{\"error\":{\"message\":\"Internal error\",\"type\":\"server_error\"}}"

/* A scripted provider: the real OpenAI-compatible provider, with the fake told
 * what to answer before each call (titles apart from chats). */

typedef struct
{
  guint              status;  /* 0: stream the chunks */
  const char *const *chunks;
  FakeEnd            end;
} Step;

#define TEST_TYPE_PROVIDER (test_provider_get_type ())
G_DECLARE_FINAL_TYPE (TestProvider, test_provider, TEST, PROVIDER, GObject)

struct _TestProvider
{
  GObject        parent_instance;
  HelixProvider *inner;
  FakeProvider  *fake;
  Step           chat;
  Step           title;
  guint          n_chat_calls;
  guint          n_title_calls;
  char          *last_chat_body;
};

static void test_provider_iface_init (HelixProviderInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (TestProvider, test_provider, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (HELIX_TYPE_PROVIDER,
                                                      test_provider_iface_init))

static const char *
test_get_name (HelixProvider *provider)
{
  return helix_provider_get_name (TEST_PROVIDER (provider)->inner);
}

static gboolean
is_title_request (HelixChatRequest *request)
{
  return helix_chat_request_get_n_messages (request) > 0 &&
         strstr (helix_chat_request_get_message_content (request, 0), "title") != NULL;
}

/* The provider's callback, after noting what a chat call asked. */
typedef struct
{
  TestProvider        *self;
  gboolean             title;
  GAsyncReadyCallback  callback;
  gpointer             user_data;
} Wrap;

static void
wrap_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  Wrap *wrap = user_data;
  const char *body = fake_provider_get_last_body (wrap->self->fake);

  if (!wrap->title && body != NULL)
    {
      g_free (wrap->self->last_chat_body);
      wrap->self->last_chat_body = g_strdup (body);
    }

  wrap->callback (object, result, wrap->user_data);
  g_object_unref (wrap->self);
  g_free (wrap);
}

static void
test_stream_chat_async (HelixProvider       *provider,
                        HelixChatRequest    *request,
                        HelixChatStream     *stream,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  TestProvider *self = TEST_PROVIDER (provider);
  Wrap *wrap = g_new0 (Wrap, 1);
  const Step *step;

  wrap->self = g_object_ref (self);
  wrap->title = is_title_request (request);
  wrap->callback = callback;
  wrap->user_data = user_data;

  if (wrap->title)
    {
      self->n_title_calls++;
      step = &self->title;
    }
  else
    {
      self->n_chat_calls++;
      step = &self->chat;
    }

  if (step->status == 0)
    fake_provider_respond_stream (self->fake, step->chunks, step->end);
  else
    fake_provider_respond_error (self->fake, step->status, NULL, "application/json", SERVER_BODY);

  helix_provider_stream_chat_async (self->inner, request, stream, cancellable, wrap_cb, wrap);
}

static gboolean
test_stream_chat_finish (HelixProvider  *provider,
                         GAsyncResult   *result,
                         GError        **error)
{
  return helix_provider_stream_chat_finish (TEST_PROVIDER (provider)->inner, result, error);
}

static void
test_provider_iface_init (HelixProviderInterface *iface)
{
  iface->get_name = test_get_name;
  iface->stream_chat_async = test_stream_chat_async;
  iface->stream_chat_finish = test_stream_chat_finish;
}

static void
test_provider_finalize (GObject *object)
{
  TestProvider *self = TEST_PROVIDER (object);

  g_clear_object (&self->inner);
  g_clear_pointer (&self->fake, fake_provider_free);
  g_free (self->last_chat_body);

  G_OBJECT_CLASS (test_provider_parent_class)->finalize (object);
}

static void
test_provider_class_init (TestProviderClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_provider_finalize;
}

static void
test_provider_init (TestProvider *self)
{
  self->chat = (Step) { 0, answer_chunks, FAKE_END_FINISH };
  self->title = (Step) { 0, title_chunks, FAKE_END_FINISH };
}

static TestProvider *
test_provider_new (void)
{
  TestProvider *self = g_object_new (TEST_TYPE_PROVIDER, NULL);
  g_autoptr(GError) error = NULL;

  self->fake = fake_provider_new (FAKE_FORMAT_OPENAI);
  self->inner = HELIX_PROVIDER (helix_provider_openai_new ("deepseek",
                                                           fake_provider_get_base_url (self->fake),
                                                           KEY, &error));
  g_assert_no_error (error);

  return self;
}

/* Fixture ---------------------------------------------------------------------- */

typedef struct
{
  char         *tmpdir;
  char         *db_path;
  HelixStore   *store;
  HelixRouter  *router;
  TestProvider *provider;
  HelixWindow  *window;
} Fixture;

typedef gboolean (*Predicate) (Fixture *fixture, gconstpointer data);

enum { ONE_MODEL, NO_PROVIDERS, TWO_MODELS };

static gboolean
on_wait_timeout (gpointer user_data)
{
  gboolean *timed_out = user_data;

  *timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
on_wait_tick (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Spins the main loop until @predicate holds; fails the test after a while
 * instead of hanging. */
static void
wait_until (Fixture       *fixture,
            Predicate      predicate,
            gconstpointer  data,
            const char    *what)
{
  gboolean timed_out = FALSE;
  guint timeout_id;
  guint tick_id;

  timeout_id = g_timeout_add_seconds (WAIT_TIMEOUT_SECONDS * fake_provider_time_scale (),
                                      on_wait_timeout, &timed_out);
  tick_id = g_timeout_add (25, on_wait_tick, NULL);

  while (!predicate (fixture, data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);

  g_source_remove (tick_id);
  if (!timed_out)
    g_source_remove (timeout_id);
  else
    g_error ("Timed out waiting for %s", what);
}

static void
spin_until_idle (void)
{
  for (guint i = 0; i < 100 && g_main_context_pending (NULL); i++)
    g_main_context_iteration (NULL, FALSE);
}

static HelixChatController *
controller (Fixture *fixture)
{
  return _helix_window_get_chat_controller (fixture->window);
}

static const char *
open_session_id (Fixture *fixture)
{
  HelixSession *session = _helix_window_get_session (fixture->window);

  return session != NULL ? helix_session_get_id (session) : NULL;
}

/* The stored messages of the open session. */
static GPtrArray *
stored_messages (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *messages;

  messages = helix_store_get_messages (fixture->store, open_session_id (fixture), 0, 100, &error);
  g_assert_no_error (error);
  return messages;
}

static HelixMessage *
stored_message (Fixture *fixture,
                guint    position)
{
  g_autoptr(GPtrArray) messages = stored_messages (fixture);

  g_assert_cmpuint (messages->len, >, position);
  return g_object_ref (g_ptr_array_index (messages, position));
}

/* The row shown for the answer on its way, or for the stored message at a position. */
static HelixMessageRow *
find_row (Fixture *fixture,
          gint     position)
{
  GtkWidget *view = GTK_WIDGET (_helix_window_get_message_list_view (fixture->window));

  for (GtkWidget *child = gtk_widget_get_first_child (view);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *row = gtk_widget_get_first_child (child);
      HelixMessage *message;

      if (!HELIX_IS_MESSAGE_ROW (row) || !gtk_widget_get_mapped (row))
        continue;

      if (position < 0)
        {
          if (helix_message_row_get_call (HELIX_MESSAGE_ROW (row)) != NULL)
            return HELIX_MESSAGE_ROW (row);
          continue;
        }

      message = helix_message_row_get_message (HELIX_MESSAGE_ROW (row));
      if (message != NULL && helix_message_get_position (message) == (guint64) position)
        return HELIX_MESSAGE_ROW (row);
    }

  return NULL;
}

#define CALL_ROW (-1)

static gboolean
window_is_mapped (Fixture       *fixture,
                  gconstpointer  data)
{
  return gtk_widget_get_mapped (GTK_WIDGET (fixture->window));
}

static gboolean
session_list_loaded (Fixture       *fixture,
                     gconstpointer  data)
{
  GListModel *list = _helix_window_get_session_list (fixture->window);

  return !helix_session_list_get_loading (HELIX_SESSION_LIST (list));
}

static gboolean
chat_is_idle (Fixture       *fixture,
              gconstpointer  data)
{
  return helix_chat_controller_get_n_pending (controller (fixture)) == 0;
}

static gboolean
n_stored_is (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(GPtrArray) messages = NULL;

  if (open_session_id (fixture) == NULL)
    return FALSE;

  messages = stored_messages (fixture);
  return messages->len == GPOINTER_TO_UINT (data);
}

static gboolean
call_row_shows (Fixture       *fixture,
                gconstpointer  data)
{
  HelixMessageRow *row = find_row (fixture, CALL_ROW);

  return row != NULL && g_strcmp0 (_helix_message_row_get_text (row), data) == 0;
}

static gboolean
no_call_row (Fixture       *fixture,
             gconstpointer  data)
{
  return find_row (fixture, CALL_ROW) == NULL;
}

static gboolean
call_row_has_status (Fixture       *fixture,
                     gconstpointer  data)
{
  HelixMessageRow *row = find_row (fixture, CALL_ROW);

  return row != NULL && _helix_message_row_get_status (row) != NULL &&
         strstr (_helix_message_row_get_status (row), data) != NULL;
}

static gboolean
row_1_shown (Fixture       *fixture,
             gconstpointer  data)
{
  return find_row (fixture, GPOINTER_TO_INT (data)) != NULL;
}

static gboolean
client_closed (Fixture       *fixture,
               gconstpointer  data)
{
  return fake_provider_get_client_closed (fixture->provider->fake);
}

static gboolean
session_title_is (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(HelixSession) session = NULL;

  session = helix_store_get_session (fixture->store, open_session_id (fixture), NULL);
  return session != NULL && g_strcmp0 (helix_session_get_title (session), data) == 0;
}

static void
open_window (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;

  fixture->store = helix_store_open (fixture->db_path, &error);
  g_assert_no_error (error);

  fixture->window = helix_window_new (NULL, fixture->store);
  g_object_add_weak_pointer (G_OBJECT (fixture->window), (gpointer *) &fixture->window);
  helix_window_set_router (fixture->window, fixture->router);
  gtk_window_present (GTK_WINDOW (fixture->window));

  wait_until (fixture, window_is_mapped, NULL, "the window to map");
  wait_until (fixture, session_list_loaded, NULL, "the session list to load");
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  static const char * const models[] = { "deepseek-chat", NULL };
  static const char * const two_models[] = { "deepseek-chat", "deepseek-reasoner", NULL };
  g_autoptr(GSettings) settings = g_settings_new ("ai.helix.Helix");
  g_autoptr(HelixPriceTable) prices = NULL;
  g_autoptr(GError) error = NULL;

  g_settings_reset (settings, "last-session");

  fixture->tmpdir = g_dir_make_tmp ("helix-test-chat-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->db_path = g_build_filename (fixture->tmpdir, "helix.db", NULL);

  prices = helix_price_table_new_default (&error);
  g_assert_no_error (error);
  fixture->router = helix_router_new (prices);
  /* Retries without waiting: the tests are about what the window shows. */
  helix_router_set_backoff (fixture->router, 1, 2, 2);

  /* data: NO_PROVIDERS for a router without providers; TWO_MODELS for a
   * provider that serves a dearer model too. */
  if (GPOINTER_TO_INT (data) != NO_PROVIDERS)
    {
      fixture->provider = test_provider_new ();
      helix_router_add_provider (fixture->router, HELIX_PROVIDER (fixture->provider), NULL,
                                 GPOINTER_TO_INT (data) == TWO_MODELS ? two_models : models);
    }

  open_window (fixture);
}

static void
close_window (Fixture *fixture)
{
  if (fixture->window != NULL)
    {
      gtk_window_destroy (GTK_WINDOW (fixture->window));
      spin_until_idle ();
      /* Nothing may keep a closed window alive, not even an answer on its way. */
      g_assert_null (fixture->window);
    }
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  if (fixture->window != NULL)
    wait_until (fixture, chat_is_idle, NULL, "the calls to end");
  close_window (fixture);

  helix_store_close (fixture->store);
  helix_test_assert_finalized (g_steal_pointer (&fixture->store));
  helix_test_assert_finalized (g_steal_pointer (&fixture->router));
  if (fixture->provider != NULL)
    helix_test_assert_finalized (g_steal_pointer (&fixture->provider));

  helix_test_rm_rf (fixture->tmpdir);
  g_clear_pointer (&fixture->db_path, g_free);
  g_clear_pointer (&fixture->tmpdir, g_free);
}

static void
send_message (Fixture    *fixture,
              const char *text)
{
  GtkTextBuffer *buffer = _helix_window_get_composer_buffer (fixture->window);

  if (_helix_window_get_session (fixture->window) == NULL)
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window),
                                               "win.new-session", NULL));
  gtk_text_buffer_set_text (buffer, text, -1);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window),
                                             "win.send-message", NULL));
}

/* Whether the details grid has a line "name  value". */
static gboolean
grid_shows (GtkGrid    *grid,
            const char *name,
            const char *value)
{
  for (int row = 0; gtk_grid_get_child_at (grid, 0, row) != NULL; row++)
    {
      GtkWidget *name_label = gtk_grid_get_child_at (grid, 0, row);
      GtkWidget *value_label = gtk_grid_get_child_at (grid, 1, row);

      if (g_strcmp0 (gtk_label_get_text (GTK_LABEL (name_label)), name) == 0)
        return g_strcmp0 (gtk_label_get_text (GTK_LABEL (value_label)), value) == 0;
    }

  return FALSE;
}

static JsonObject *
parse_object (JsonParser *parser,
              const char *text)
{
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (text);
  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));

  return json_node_get_object (json_parser_get_root (parser));
}

/* Tests ------------------------------------------------------------------------- */

/* The stored answer and its streaming row are never in the view together. */
static void
check_one_answer (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  guint      *n_checks)
{
  guint n_answers = 0;

  for (guint i = 0; i < g_list_model_get_n_items (model); i++)
    {
      g_autoptr(GObject) item = g_list_model_get_item (model, i);

      if (HELIX_IS_CHAT_CALL (item) ||
          helix_message_get_role (HELIX_MESSAGE (item)) == HELIX_MESSAGE_ROLE_ASSISTANT)
        n_answers++;
    }

  g_assert_cmpuint (n_answers, <=, 1);
  (*n_checks)++;
}

/* An answer streams into a row of its own, is stored once with its model, cost
 * and metadata, and its row shows the model and the cost; the session is titled. */
static void
test_answer (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(HelixMessage) question = NULL;
  g_autoptr(HelixMessage) answer = NULL;
  JsonObject *metadata;
  JsonObject *body;
  JsonArray *messages;
  HelixMessageRow *row;
  GtkGrid *grid;
  GListModel *model;
  guint n_checks = 0;

  send_message (fixture, "Say hello to the world");
  wait_until (fixture, row_1_shown, GINT_TO_POINTER (0), "the question");
  model = G_LIST_MODEL (gtk_list_view_get_model (
    _helix_window_get_message_list_view (fixture->window)));
  g_signal_connect (model, "items-changed", G_CALLBACK (check_one_answer), &n_checks);
  wait_until (fixture, n_stored_is, GUINT_TO_POINTER (2), "the answer to be stored");
  wait_until (fixture, chat_is_idle, NULL, "the calls to end");
  g_signal_handlers_disconnect_by_func (model, check_one_answer, &n_checks);
  g_assert_cmpuint (n_checks, >=, 1);

  question = stored_message (fixture, 0);
  g_assert_cmpint (helix_message_get_role (question), ==, HELIX_MESSAGE_ROLE_USER);
  g_assert_cmpint (helix_message_get_status (question), ==, HELIX_MESSAGE_STATUS_DONE);

  answer = stored_message (fixture, 1);
  g_assert_cmpint (helix_message_get_role (answer), ==, HELIX_MESSAGE_ROLE_ASSISTANT);
  g_assert_cmpint (helix_message_get_status (answer), ==, HELIX_MESSAGE_STATUS_DONE);
  g_assert_cmpstr (helix_message_get_content (answer), ==, "Hello, world!");
  g_assert_cmpstr (helix_message_get_model (answer), ==, "deepseek-chat");
  g_assert_cmpstr (helix_message_get_provider (answer), ==, "deepseek");
  g_assert_cmpint (helix_message_get_tokens_in (answer), ==, 1000);
  g_assert_cmpint (helix_message_get_tokens_out (answer), ==, 500);
  /* 1000 × $0.27/M + 500 × $1.10/M */
  g_assert_cmpfloat_with_epsilon (helix_message_get_cost (answer), 0.00082, 1e-9);

  metadata = parse_object (parser, helix_message_get_metadata (answer));
  g_assert_cmpstr (json_object_get_string_member (metadata, "outcome"), ==, "ok");
  g_assert_true (json_object_get_null_member (metadata, "error"));
  g_assert_cmpint (json_object_get_int_member (metadata, "attempts"), ==, 1);
  g_assert_true (json_object_has_member (metadata, "latency_ms"));
  g_assert_true (json_object_has_member (metadata, "ttft_ms"));
  g_assert_nonnull (strstr (json_object_get_string_member (metadata, "reason"), "deepseek-chat"));

  /* What was asked: a system prompt, then the question. */
  body = parse_object (parser, fixture->provider->last_chat_body);
  messages = json_object_get_array_member (body, "messages");
  g_assert_cmpuint (json_array_get_length (messages), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (messages, 0),
                                                  "role"), ==, "system");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (messages, 1),
                                                  "content"), ==, "Say hello to the world");

  /* The stored row took the place of the streaming one. */
  wait_until (fixture, row_1_shown, GINT_TO_POINTER (1), "the row of the answer");
  g_assert_null (find_row (fixture, CALL_ROW));
  row = find_row (fixture, 1);
  g_assert_cmpstr (_helix_message_row_get_text (row), ==, "Hello, world!");
  g_assert_cmpstr (_helix_message_row_get_footer (row), ==, "deepseek-chat · $0.0008");
  g_assert_nonnull (_helix_message_row_get_button (row, "details"));
  g_assert_nonnull (_helix_message_row_get_button (row, "regenerate"));
  g_assert_null (_helix_message_row_get_button (row, "partial"));
  g_assert_null (_helix_message_row_get_status (row));
  grid = _helix_message_row_get_details_grid (row);
  g_assert_true (grid_shows (grid, "Provider", "deepseek"));
  g_assert_true (grid_shows (grid, "Model", "deepseek-chat"));
  g_assert_true (grid_shows (grid, "Tokens", "1000 in · 500 out"));
  g_assert_true (grid_shows (grid, "Attempts", "1"));
  g_assert_true (grid_shows (grid, "Cost", "$0.0008"));

  /* The first exchange named the session, cleaned up. */
  g_assert_cmpuint (fixture->provider->n_title_calls, ==, 1);
  wait_until (fixture, session_title_is, "Greeting the World", "the session title");
}

/* The answer grows in a row of its own while it streams; Stop keeps what arrived. */
static void
test_stop (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(HelixMessage) answer = NULL;
  GtkButton *send_button = _helix_window_get_send_button (fixture->window);
  JsonObject *metadata;
  HelixMessageRow *row;

  fixture->provider->chat = (Step) { 0, slow_chunks, FAKE_END_HOLD };

  send_message (fixture, "Tell me a story");
  wait_until (fixture, call_row_shows, "Once upon a time", "the start of the answer");

  /* Not stored yet; the send button stops it. */
  g_assert_true (n_stored_is (fixture, GUINT_TO_POINTER (1)));
  row = find_row (fixture, CALL_ROW);
  g_assert_cmpstr (_helix_message_row_get_status (row), ==, "Writing…");
  g_assert_cmpstr (gtk_actionable_get_action_name (GTK_ACTIONABLE (send_button)), ==, "win.stop");
  g_assert_cmpstr (gtk_button_get_icon_name (send_button), ==, "media-playback-stop-symbolic");
  g_assert_cmpstr (gtk_widget_get_tooltip_text (GTK_WIDGET (send_button)), ==, "Stop");

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.stop", NULL));
  wait_until (fixture, client_closed, NULL, "the fake to see the connection closed");
  wait_until (fixture, n_stored_is, GUINT_TO_POINTER (2), "the partial answer to be stored");
  wait_until (fixture, chat_is_idle, NULL, "the calls to end");

  answer = stored_message (fixture, 1);
  g_assert_cmpint (helix_message_get_status (answer), ==, HELIX_MESSAGE_STATUS_ERROR);
  g_assert_cmpstr (helix_message_get_content (answer), ==, "Once upon a time");
  metadata = parse_object (parser, helix_message_get_metadata (answer));
  g_assert_cmpstr (json_object_get_string_member (metadata, "outcome"), ==, "partial");
  g_assert_cmpstr (json_object_get_string_member (metadata, "note"), ==, "Stopped");

  /* No title from a stopped answer; the send button sends again. */
  g_assert_cmpuint (fixture->provider->n_title_calls, ==, 0);
  g_assert_cmpstr (gtk_actionable_get_action_name (GTK_ACTIONABLE (send_button)), ==,
                   "win.send-message");

  wait_until (fixture, row_1_shown, GINT_TO_POINTER (1), "the row of the answer");
  row = find_row (fixture, 1);
  g_assert_cmpstr (_helix_message_row_get_text (row), ==, "Once upon a time");
  g_assert_nonnull (_helix_message_row_get_button (row, "partial"));
  g_assert_cmpstr (_helix_message_row_get_status (row), ==, "Stopped");
}

/* The provider cuts the connection off mid-answer: what arrived is kept,
 * marked partial, with the error shown and Retry; Retry answers. */
/* The provider recovers: @retry asks the question again, and only it (not
 * what failed: the request holds the system prompt and the question, which
 * is @question unless %NULL), and the whole answer is stored. */
static void
retry_succeeds (Fixture     *fixture,
                GtkWidget   *retry,
                JsonParser  *parser,
                const char  *question)
{
  g_autoptr(HelixMessage) answer = NULL;
  JsonObject *body;
  JsonArray *messages;

  fixture->provider->chat = (Step) { 0, answer_chunks, FAKE_END_FINISH };
  g_assert_true (gtk_widget_activate (retry));
  wait_until (fixture, n_stored_is, GUINT_TO_POINTER (3), "the answer to be stored");
  wait_until (fixture, chat_is_idle, NULL, "the calls to end");

  answer = stored_message (fixture, 2);
  g_assert_cmpint (helix_message_get_status (answer), ==, HELIX_MESSAGE_STATUS_DONE);
  g_assert_cmpstr (helix_message_get_content (answer), ==, "Hello, world!");

  body = parse_object (parser, fixture->provider->last_chat_body);
  messages = json_object_get_array_member (body, "messages");
  g_assert_cmpuint (json_array_get_length (messages), ==, 2);
  if (question != NULL)
    g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (messages, 1),
                                                    "content"), ==, question);
}

static void
test_cut (Fixture       *fixture,
          gconstpointer  data)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(HelixMessage) partial = NULL;
  g_autoptr(HelixMessage) answer = NULL;
  JsonObject *metadata;
  HelixMessageRow *row;
  GtkWidget *retry;
  const char *error;

  fixture->provider->chat = (Step) { 0, slow_chunks, FAKE_END_CUT };

  send_message (fixture, "Tell me a story");
  wait_until (fixture, n_stored_is, GUINT_TO_POINTER (2), "the partial answer to be stored");
  wait_until (fixture, chat_is_idle, NULL, "the calls to end");

  partial = stored_message (fixture, 1);
  g_assert_cmpint (helix_message_get_role (partial), ==, HELIX_MESSAGE_ROLE_ASSISTANT);
  g_assert_cmpint (helix_message_get_status (partial), ==, HELIX_MESSAGE_STATUS_ERROR);
  g_assert_cmpstr (helix_message_get_content (partial), ==, "Once upon a time");
  g_assert_cmpstr (helix_message_get_model (partial), ==, "deepseek-chat");
  metadata = parse_object (parser, helix_message_get_metadata (partial));
  g_assert_cmpstr (json_object_get_string_member (metadata, "outcome"), ==, "partial");
  /* Not stopped by the user: the error is recorded, and there is no note. */
  error = json_object_get_string_member (metadata, "error");
  g_assert_nonnull (error);
  g_assert_cmpstr (error, !=, "");
  g_assert_false (json_object_has_member (metadata, "note"));
  /* No title from a cut answer. */
  g_assert_cmpuint (fixture->provider->n_title_calls, ==, 0);

  /* The row keeps the text, says it is partial and why, and offers Retry. */
  wait_until (fixture, row_1_shown, GINT_TO_POINTER (1), "the row of the partial answer");
  row = find_row (fixture, 1);
  g_assert_cmpstr (_helix_message_row_get_text (row), ==, "Once upon a time");
  g_assert_nonnull (_helix_message_row_get_button (row, "partial"));
  g_assert_cmpstr (_helix_message_row_get_status (row), ==, error);
  g_assert_true (gtk_widget_has_css_class (GTK_WIDGET (row), "failed"));
  g_assert_null (_helix_message_row_get_button (row, "regenerate"));
  retry = _helix_message_row_get_button (row, "retry");
  g_assert_nonnull (retry);

  /* The provider recovers: Retry asks the question again, not the partial answer. */
  retry_succeeds (fixture, retry, parser, "Tell me a story");
}

/* A failed call shows why, under the question, with Retry; Retry answers. */
static void
test_error_retry (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(HelixMessage) failed = NULL;
  g_autoptr(HelixMessage) answer = NULL;
  JsonObject *metadata;
  HelixMessageRow *row;
  GtkWidget *retry;

  fixture->provider->chat = (Step) { 500, NULL, FAKE_END_FINISH };

  send_message (fixture, "Are you there?");
  wait_until (fixture, n_stored_is, GUINT_TO_POINTER (2), "the failure to be stored");
  wait_until (fixture, chat_is_idle, NULL, "the calls to end");

  failed = stored_message (fixture, 1);
  g_assert_cmpint (helix_message_get_status (failed), ==, HELIX_MESSAGE_STATUS_ERROR);
  g_assert_cmpstr (helix_message_get_content (failed), ==, "");
  metadata = parse_object (parser, helix_message_get_metadata (failed));
  g_assert_cmpstr (json_object_get_string_member (metadata, "outcome"), ==, "failed");
  g_assert_nonnull (json_object_get_string_member (metadata, "error"));
  g_assert_cmpint (json_object_get_int_member (metadata, "attempts"), ==, 2);
  /* No tokens counted: the cost is unknown, not free. */
  g_assert_cmpfloat (helix_message_get_cost (failed), <, 0);

  wait_until (fixture, row_1_shown, GINT_TO_POINTER (1), "the row of the failure");
  row = find_row (fixture, 1);
  g_assert_cmpstr (_helix_message_row_get_status (row), ==,
                   json_object_get_string_member (metadata, "error"));
  g_assert_true (gtk_widget_has_css_class (GTK_WIDGET (row), "failed"));
  retry = _helix_message_row_get_button (row, "retry");
  g_assert_nonnull (retry);
  g_assert_cmpstr (_helix_message_row_get_footer (row), ==, "deepseek-chat");
  g_assert_null (_helix_message_row_get_button (row, "regenerate"));
  g_assert_cmpuint (fixture->provider->n_title_calls, ==, 0);

  /* The provider recovers: Retry asks the question again, not the failure. */
  retry_succeeds (fixture, retry, parser, NULL);
}

static gboolean
row_status_has (Fixture       *fixture,
                gconstpointer  data)
{
  HelixMessageRow *row = find_row (fixture, 1);

  return row != NULL && _helix_message_row_get_status (row) != NULL &&
         strstr (_helix_message_row_get_status (row), data) != NULL;
}

/* A refused key says so, with Retry. */
static void
test_auth_error (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(HelixMessage) failed = NULL;
  HelixMessageRow *row;

  fixture->provider->chat = (Step) { 401, NULL, FAKE_END_FINISH };

  send_message (fixture, "Are you there?");
  wait_until (fixture, n_stored_is, GUINT_TO_POINTER (2), "the failure to be stored");
  wait_until (fixture, chat_is_idle, NULL, "the calls to end");
  wait_until (fixture, row_status_has, "refused the API key", "the error in the row");

  failed = stored_message (fixture, 1);
  g_assert_cmpint (helix_message_get_status (failed), ==, HELIX_MESSAGE_STATUS_ERROR);
  row = find_row (fixture, 1);
  g_assert_nonnull (_helix_message_row_get_button (row, "retry"));
  g_assert_true (gtk_widget_has_css_class (GTK_WIDGET (row), "failed"));
  /* The question stays as it was written. */
  g_assert_cmpstr (_helix_message_row_get_text (find_row (fixture, 0)), ==, "Are you there?");
}

/* No provider: the question is kept, and the error says where to add one. */
static void
test_no_providers (Fixture       *fixture,
                   gconstpointer  data)
{
  static const char * const models[] = { "deepseek-chat", NULL };
  g_autoptr(HelixMessage) question = NULL;
  g_autoptr(HelixMessage) answer = NULL;
  HelixMessageRow *row;
  GtkWidget *button;

  send_message (fixture, "Anyone?");
  wait_until (fixture, n_stored_is, GUINT_TO_POINTER (1), "the question to be stored");
  wait_until (fixture, call_row_has_status, "provider", "the error row");

  question = stored_message (fixture, 0);
  g_assert_cmpint (helix_message_get_status (question), ==, HELIX_MESSAGE_STATUS_PENDING);

  row = find_row (fixture, CALL_ROW);
  g_assert_true (gtk_widget_has_css_class (GTK_WIDGET (row), "failed"));
  g_assert_nonnull (_helix_message_row_get_button (row, "retry"));
  button = _helix_message_row_get_button (row, "providers");
  g_assert_nonnull (button);
  g_assert_cmpstr (gtk_actionable_get_action_name (GTK_ACTIONABLE (button)), ==, "app.preferences");

  /* Nothing is under way: the composer sends. */
  g_assert_null (helix_chat_controller_get_busy_call (controller (fixture),
                                                      open_session_id (fixture)));
  g_assert_cmpuint (helix_chat_controller_get_n_pending (controller (fixture)), ==, 0);

  /* A provider is set up (as Preferences does it); Retry answers the question. */
  fixture->provider = test_provider_new ();
  helix_router_add_provider (fixture->router, HELIX_PROVIDER (fixture->provider), NULL, models);
  g_assert_true (gtk_widget_activate (_helix_message_row_get_button (row, "retry")));
  wait_until (fixture, n_stored_is, GUINT_TO_POINTER (2), "the answer to be stored");
  wait_until (fixture, chat_is_idle, NULL, "the calls to end");
  wait_until (fixture, no_call_row, NULL, "the error row to go");

  answer = stored_message (fixture, 1);
  g_assert_cmpstr (helix_message_get_content (answer), ==, "Hello, world!");
}

/* Regenerate asks the same question again and appends a second answer. */
static void
test_regenerate (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(HelixMessage) first = NULL;
  g_autoptr(HelixMessage) second = NULL;
  JsonArray *messages;

  send_message (fixture, "Say hello to the world");
  wait_until (fixture, n_stored_is, GUINT_TO_POINTER (2), "the answer to be stored");
  wait_until (fixture, chat_is_idle, NULL, "the calls to end");

  fixture->provider->chat = (Step) { 0, second_chunks, FAKE_END_FINISH };
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.regenerate", NULL));
  wait_until (fixture, n_stored_is, GUINT_TO_POINTER (3), "the second answer to be stored");
  wait_until (fixture, chat_is_idle, NULL, "the calls to end");

  first = stored_message (fixture, 1);
  second = stored_message (fixture, 2);
  g_assert_cmpstr (helix_message_get_content (first), ==, "Hello, world!");
  g_assert_cmpstr (helix_message_get_content (second), ==, "Hi again");
  g_assert_cmpint (helix_message_get_role (second), ==, HELIX_MESSAGE_ROLE_ASSISTANT);

  /* The same question, without the first answer. */
  messages = json_object_get_array_member (parse_object (parser, fixture->provider->last_chat_body),
                                           "messages");
  g_assert_cmpuint (json_array_get_length (messages), ==, 2);
  g_assert_cmpuint (fixture->provider->n_chat_calls, ==, 2);
  /* A session is titled once. */
  g_assert_cmpuint (fixture->provider->n_title_calls, ==, 1);

  /* Only the last answer offers to regenerate. */
  wait_until (fixture, row_1_shown, GINT_TO_POINTER (2), "the row of the second answer");
  g_assert_nonnull (_helix_message_row_get_button (find_row (fixture, 2), "regenerate"));
  if (find_row (fixture, 1) != NULL)
    g_assert_null (_helix_message_row_get_button (find_row (fixture, 1), "regenerate"));
}

/* An answer keeps streaming into its own session when another one is shown. */
static void
test_switch_session (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autofree char *first_id = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  HelixChatCall *call;

  fixture->provider->chat = (Step) { 0, slow_chunks, FAKE_END_HOLD };
  send_message (fixture, "Tell me a story");
  wait_until (fixture, call_row_shows, "Once upon a time", "the start of the answer");
  first_id = g_strdup (open_session_id (fixture));
  call = helix_chat_controller_get_busy_call (controller (fixture), first_id);
  g_assert_nonnull (call);

  /* Another chat: no streaming row there, and it can send. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window),
                                             "win.new-session", NULL));
  fixture->provider->chat = (Step) { 0, answer_chunks, FAKE_END_FINISH };
  send_message (fixture, "Say hello to the world");
  wait_until (fixture, n_stored_is, GUINT_TO_POINTER (2), "the answer in the second chat");
  g_assert_cmpstr (open_session_id (fixture), !=, first_id);
  wait_until (fixture, no_call_row, NULL, "the streaming row to be replaced");
  g_assert_true (helix_chat_controller_get_busy_call (controller (fixture), first_id) == call);

  /* Stopped from the controller, it is stored in its own chat. */
  g_assert_true (helix_chat_controller_stop (controller (fixture), first_id));
  wait_until (fixture, chat_is_idle, NULL, "the calls to end");
  messages = helix_store_get_messages (fixture->store, first_id, 0, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (messages->len, ==, 2);
  g_assert_cmpstr (helix_message_get_content (g_ptr_array_index (messages, 1)), ==,
                   "Once upon a time");
}

/* The end of the streaming row is inside the visible part. */
static gboolean
call_row_end_visible (Fixture       *fixture,
                        gconstpointer  data)
{
  GtkWidget *view = GTK_WIDGET (_helix_window_get_message_list_view (fixture->window));
  GtkWidget *scroller = gtk_widget_get_ancestor (view, GTK_TYPE_SCROLLED_WINDOW);
  HelixMessageRow *row = find_row (fixture, CALL_ROW);
  graphene_rect_t bounds;

  if (row == NULL || !g_str_has_suffix (_helix_message_row_get_text (row), "Last line") ||
      !gtk_widget_compute_bounds (GTK_WIDGET (row), scroller, &bounds))
    return FALSE;

  return bounds.origin.y + bounds.size.height > 0 &&
         bounds.origin.y + bounds.size.height <= gtk_widget_get_height (scroller) + 0.5;
}

/* A long chat: the view follows the answer as it grows. */
static void
test_follow_answer (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  g_autofree HelixNewMessage *messages = g_new0 (HelixNewMessage, 100);

  session = helix_store_create_session (fixture->store, "A long chat", &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 100; i++)
    {
      char *text = g_strdup_printf ("Line %u\nand a second line", i);

      g_ptr_array_add (texts, text);
      messages[i] = HELIX_NEW_MESSAGE_INIT (i % 2 ? HELIX_MESSAGE_ROLE_ASSISTANT
                                                  : HELIX_MESSAGE_ROLE_USER, text);
    }
  g_assert_true (helix_store_import_messages (fixture->store, helix_session_get_id (session),
                                              messages, 100, &error));
  g_assert_no_error (error);
  wait_until (fixture, session_list_loaded, NULL, "the session list");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.open-session",
                                             "s", helix_session_get_id (session)));
  wait_until (fixture, n_stored_is, GUINT_TO_POINTER (100), "the session to open");

  fixture->provider->chat = (Step) { 0, long_chunks, FAKE_END_HOLD };
  send_message (fixture, "Tell me a long story");
  wait_until (fixture, call_row_end_visible, NULL, "the whole answer so far to be shown");

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.stop", NULL));
  wait_until (fixture, chat_is_idle, NULL, "the calls to end");
}

/* Closing the window stops the answer and stores what arrived. */
static void
test_close_while_streaming (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autoptr(HelixChatController) chat = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *session_id = NULL;

  fixture->provider->chat = (Step) { 0, slow_chunks, FAKE_END_HOLD };
  send_message (fixture, "Tell me a story");
  wait_until (fixture, call_row_shows, "Once upon a time", "the start of the answer");
  session_id = g_strdup (open_session_id (fixture));
  chat = g_object_ref (controller (fixture));

  close_window (fixture);

  helix_test_wait_for (helix_chat_controller_get_n_pending (chat) == 0,
                       WAIT_TIMEOUT_SECONDS * fake_provider_time_scale (),
                       "the answer to be stored");
  g_assert_true (fake_provider_get_client_closed (fixture->provider->fake));
  messages = helix_store_get_messages (fixture->store, session_id, 0, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (messages->len, ==, 2);
  g_assert_cmpstr (helix_message_get_content (g_ptr_array_index (messages, 1)), ==,
                   "Once upon a time");
  g_assert_cmpint (helix_message_get_status (g_ptr_array_index (messages, 1)), ==,
                   HELIX_MESSAGE_STATUS_ERROR);
}

static void
test_clean_title (void)
{
  struct {
    const char *text;
    const char *title;
  } cases[] = {
    { "Greeting the World", "Greeting the World" },
    { "\"Greeting the World.\"\n", "Greeting the World" },
    { "  Title: “Paris Trip Plans”!  ", "Paris Trip Plans" },
    { "\n\n## **Bread baking**\nmore text", "Bread baking" },
    { "'Quotes'…", "Quotes" },
    { "", "" },
    { "\"\"", "" },
  };
  g_autofree char *long_title = NULL;
  g_autoptr(GString) long_text = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *title = helix_title_clean (cases[i].text);

      g_assert_cmpstr (title, ==, cases[i].title);
    }

  for (guint i = 0; i < 30; i++)
    g_string_append (long_text, "wörd ");
  long_title = helix_title_clean (long_text->str);
  g_assert_cmpuint (g_utf8_strlen (long_title, -1), <=, HELIX_TITLE_MAX_CHARS);
}

static void
test_format_cost (void)
{
  struct {
    double      cost;
    const char *model;
    const char *text;
  } cases[] = {
    { -1, "m", NULL },
    { 0, "llama3.2", "free" },
    { 0, NULL, NULL },
    { 0.00002, "m", "<$0.0001" },
    { 0.0012, "m", "$0.0012" },
    { 0.00082, "m", "$0.0008" },
    { 0.123, "m", "$0.123" },
    { 12.5, "m", "$12.50" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = helix_chat_format_cost (cases[i].cost, cases[i].model);

      g_assert_cmpstr (text, ==, cases[i].text);
    }
}

static gboolean
session_model_is (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(HelixSession) session = NULL;
  g_autofree char *state = NULL;

  session = helix_store_get_session (fixture->store, open_session_id (fixture), NULL);
  g_object_get (fixture->window, "session-model", &state, NULL);

  return session != NULL && g_strcmp0 (helix_session_get_model (session), data) == 0 &&
         g_strcmp0 (state, data != NULL ? data : "") == 0;
}

/* The targets of the radio items of win.session-model in the open session's menu, in
 * order, separated by "|"; and the label of the automatic one. */
static void
collect_model_items (GMenuModel *menu,
                     GString    *targets,
                     char      **automatic_label)
{
  for (int i = 0; i < g_menu_model_get_n_items (menu); i++)
    {
      g_autoptr(GMenuLinkIter) links = g_menu_model_iterate_item_links (menu, i);
      g_autofree char *action = NULL;
      g_autofree char *label = NULL;
      g_autoptr(GVariant) target = NULL;
      const char *name;
      GMenuModel *link;

      if (g_menu_model_get_item_attribute (menu, i, G_MENU_ATTRIBUTE_ACTION, "s", &action) &&
          g_str_equal (action, "win.session-model"))
        {
          target = g_menu_model_get_item_attribute_value (menu, i, G_MENU_ATTRIBUTE_TARGET,
                                                          G_VARIANT_TYPE_STRING);
          g_assert_nonnull (target);
          g_string_append_printf (targets, "%s|", g_variant_get_string (target, NULL));
          if (g_variant_get_string (target, NULL)[0] == '\0')
            {
              g_assert_true (g_menu_model_get_item_attribute (menu, i, G_MENU_ATTRIBUTE_LABEL,
                                                              "s", &label));
              *automatic_label = g_steal_pointer (&label);
            }
        }

      while (g_menu_link_iter_get_next (links, &name, &link))
        {
          collect_model_items (link, targets, automatic_label);
          g_object_unref (link);
        }
    }
}

static HelixMessage *
ask_and_wait (Fixture    *fixture,
              const char *question,
              guint       n_stored)
{
  send_message (fixture, question);
  wait_until (fixture, n_stored_is, GUINT_TO_POINTER (n_stored), "the answer to be stored");
  wait_until (fixture, chat_is_idle, NULL, "the calls to end");

  return stored_message (fixture, n_stored - 1);
}

static const char *
asked_model (Fixture    *fixture,
             JsonParser *parser)
{
  return json_object_get_string_member (parse_object (parser, fixture->provider->last_chat_body),
                                        "model");
}

/* A model pinned for the session in its menu is the one asked, and the answer says
 * why; "Automatic" goes back to the cheapest. */
static void
test_session_model (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(HelixMessage) first = NULL;
  g_autoptr(HelixMessage) pinned = NULL;
  g_autoptr(HelixMessage) automatic = NULL;
  g_autoptr(GString) targets = g_string_new (NULL);
  g_autofree char *automatic_label = NULL;
  JsonObject *metadata;
  HelixMessageRow *row;
  GtkGrid *grid;
  GMenuModel *menu;

  /* Nothing pinned: the cheapest. */
  first = ask_and_wait (fixture, "Say hello to the world", 2);
  g_assert_cmpstr (helix_message_get_model (first), ==, "deepseek-chat");
  g_assert_cmpstr (asked_model (fixture, parser), ==, "deepseek-chat");
  g_assert_true (session_model_is (fixture, NULL));

  /* The menu offers automatic and every model of the router. */
  menu = gtk_menu_button_get_menu_model (fixture->window->session_menu_button);
  g_assert_nonnull (menu);
  collect_model_items (menu, targets, &automatic_label);
  g_assert_cmpstr (targets->str, ==, "|deepseek-chat|deepseek-reasoner|");
  g_assert_cmpstr (automatic_label, ==, "Automatic (cheapest)");

  /* Pin the dearer one. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.session-model",
                                             "s", "deepseek-reasoner"));
  wait_until (fixture, session_model_is, "deepseek-reasoner", "the model to be pinned");

  fixture->provider->chat = (Step) { 0, second_chunks, FAKE_END_FINISH };
  pinned = ask_and_wait (fixture, "And again", 4);
  g_assert_cmpstr (asked_model (fixture, parser), ==, "deepseek-reasoner");
  g_assert_cmpstr (helix_message_get_content (pinned), ==, "Hi again");
  g_assert_cmpstr (helix_message_get_model (pinned), ==, "deepseek-reasoner");
  metadata = parse_object (parser, helix_message_get_metadata (pinned));
  g_assert_cmpstr (json_object_get_string_member (metadata, "reason"), ==,
                   "pinned for this session: deepseek-reasoner");

  /* The message shows it. */
  wait_until (fixture, row_1_shown, GINT_TO_POINTER (3), "the row of the pinned answer");
  row = find_row (fixture, 3);
  g_assert_true (g_str_has_prefix (_helix_message_row_get_footer (row), "deepseek-reasoner · "));
  grid = _helix_message_row_get_details_grid (row);
  g_assert_true (grid_shows (grid, "Model", "deepseek-reasoner"));
  g_assert_true (grid_shows (grid, "Routing", "pinned for this session: deepseek-reasoner"));
  /* So does the header, for the whole chat. */
  g_assert_cmpstr (adw_window_title_get_subtitle (fixture->window->window_title), ==,
                   "4 messages · deepseek-reasoner");

  /* Back to automatic: the cheapest again. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.session-model",
                                             "s", ""));
  wait_until (fixture, session_model_is, NULL, "the model to be unpinned");
  g_assert_cmpstr (adw_window_title_get_subtitle (fixture->window->window_title), ==,
                   "4 messages");
  fixture->provider->chat = (Step) { 0, answer_chunks, FAKE_END_FINISH };
  automatic = ask_and_wait (fixture, "Once more", 6);
  g_assert_cmpstr (asked_model (fixture, parser), ==, "deepseek-chat");
  g_assert_cmpstr (helix_message_get_model (automatic), ==, "deepseek-chat");
  metadata = parse_object (parser, helix_message_get_metadata (automatic));
  g_assert_true (g_str_has_prefix (json_object_get_string_member (metadata, "reason"),
                                   "cheapest healthy for chat: deepseek-chat"));
}

int
main (int   argc,
      char *argv[])
{
  gtk_test_init (&argc, &argv, NULL);
  adw_init ();

  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

#define ADD(path, func, providers) \
  g_test_add ((path), Fixture, GINT_TO_POINTER (providers), \
              fixture_setup, (func), fixture_teardown)

  g_test_add_func ("/helix/chat/clean-title", test_clean_title);
  g_test_add_func ("/helix/chat/format-cost", test_format_cost);
  ADD ("/helix/chat/answer", test_answer, ONE_MODEL);
  ADD ("/helix/chat/stop", test_stop, ONE_MODEL);
  ADD ("/helix/chat/cut", test_cut, ONE_MODEL);
  ADD ("/helix/chat/error-retry", test_error_retry, ONE_MODEL);
  ADD ("/helix/chat/auth-error", test_auth_error, ONE_MODEL);
  ADD ("/helix/chat/no-providers", test_no_providers, NO_PROVIDERS);
  ADD ("/helix/chat/regenerate", test_regenerate, ONE_MODEL);
  ADD ("/helix/chat/switch-session", test_switch_session, ONE_MODEL);
  ADD ("/helix/chat/follow-answer", test_follow_answer, ONE_MODEL);
  ADD ("/helix/chat/close-while-streaming", test_close_while_streaming, ONE_MODEL);
  ADD ("/helix/chat/session-model", test_session_model, TWO_MODELS);

#undef ADD

  return g_test_run ();
}
