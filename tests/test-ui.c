/* test-ui.c: the main window, driven through its actions
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-test-ui"

#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>

#include "helix-core.h"
#include "helix-message-row.h"
#include "helix-preferences-window.h"
#include "helix-session-row.h"
#include "helix-window-private.h"

#define WAIT_TIMEOUT_SECONDS 20

typedef struct
{
  char        *tmpdir;
  char        *db_path;
  HelixStore  *store;
  HelixWindow *window;
} Fixture;

typedef gboolean (*Predicate) (Fixture *fixture, gconstpointer data);

/* Main loop helpers ---------------------------------------------------------- */

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

  timeout_id = g_timeout_add_seconds (WAIT_TIMEOUT_SECONDS, on_wait_timeout, &timed_out);
  tick_id = g_timeout_add (25, on_wait_tick, NULL);

  while (!predicate (fixture, data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);

  g_source_remove (tick_id);
  if (!timed_out)
    g_source_remove (timeout_id);
  else
    g_error ("Timed out after %d s waiting for %s", WAIT_TIMEOUT_SECONDS, what);
}

static void
spin_until_idle (void)
{
  for (guint i = 0; i < 100 && g_main_context_pending (NULL); i++)
    g_main_context_iteration (NULL, FALSE);
}

/* Widget tree helpers ---------------------------------------------------------- */

static GtkWidget *
find_label (GtkWidget  *widget,
            const char *text,
            GType       ancestor_type)
{
  if (GTK_IS_LABEL (widget) &&
      g_strcmp0 (gtk_label_get_text (GTK_LABEL (widget)), text) == 0 &&
      gtk_widget_get_realized (widget) &&
      gtk_widget_get_mapped (widget) &&
      (ancestor_type == G_TYPE_INVALID || gtk_widget_get_ancestor (widget, ancestor_type) != NULL))
    return widget;

  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_label (child, text, ancestor_type);

      if (found != NULL)
        return found;
    }

  return NULL;
}

static guint
n_rows (GtkListView *view)
{
  return g_list_model_get_n_items (G_LIST_MODEL (gtk_list_view_get_model (view)));
}

static guint
n_sessions (Fixture *fixture)
{
  return g_list_model_get_n_items (_helix_window_get_session_list (fixture->window));
}

/* Predicates ---------------------------------------------------------------- */

static gboolean
window_is_mapped (Fixture       *fixture,
                  gconstpointer  data)
{
  return gtk_widget_get_mapped (GTK_WIDGET (fixture->window));
}

static gboolean
session_list_has_n (Fixture       *fixture,
                    gconstpointer  data)
{
  GListModel *list = _helix_window_get_session_list (fixture->window);

  return !helix_session_list_get_loading (HELIX_SESSION_LIST (list)) &&
         g_list_model_get_n_items (list) == GPOINTER_TO_UINT (data);
}

static gboolean
session_list_loaded (Fixture       *fixture,
                     gconstpointer  data)
{
  GListModel *list = _helix_window_get_session_list (fixture->window);

  return !helix_session_list_get_loading (HELIX_SESSION_LIST (list));
}

static gboolean
message_model_has_text (Fixture       *fixture,
                        gconstpointer  data)
{
  GtkListView *view = _helix_window_get_message_list_view (fixture->window);
  GListModel *model = G_LIST_MODEL (gtk_list_view_get_model (view));
  guint n_items;

  if (model == NULL)
    return FALSE;

  n_items = g_list_model_get_n_items (model);
  for (guint i = 0; i < n_items; i++)
    {
      g_autoptr(HelixMessage) message = g_list_model_get_item (model, i);

      if (g_strcmp0 (helix_message_get_content (message), data) == 0)
        return TRUE;
    }

  return FALSE;
}

static gboolean
message_row_shows_text (Fixture       *fixture,
                        gconstpointer  data)
{
  GtkWidget *view = GTK_WIDGET (_helix_window_get_message_list_view (fixture->window));

  return find_label (view, data, HELIX_TYPE_MESSAGE_ROW) != NULL;
}

static gboolean
session_row_shows_text (Fixture       *fixture,
                        gconstpointer  data)
{
  GtkWidget *view = GTK_WIDGET (_helix_window_get_session_list_view (fixture->window));

  return find_label (view, data, HELIX_TYPE_SESSION_ROW) != NULL;
}

static gboolean
composer_is_empty (Fixture       *fixture,
                   gconstpointer  data)
{
  return gtk_text_buffer_get_char_count (_helix_window_get_composer_buffer (fixture->window)) == 0;
}

static gboolean
session_is_open (Fixture       *fixture,
                 gconstpointer  data)
{
  HelixSession *session = _helix_window_get_session (fixture->window);

  return session != NULL && g_strcmp0 (helix_session_get_id (session), data) == 0;
}

static gboolean
search_results_have_session (Fixture       *fixture,
                             gconstpointer  data)
{
  GListModel *results = _helix_window_get_search_results (fixture->window);
  guint n_items;

  if (results == NULL)
    return FALSE;

  n_items = g_list_model_get_n_items (results);
  for (guint i = 0; i < n_items; i++)
    {
      g_autoptr(HelixSearchHit) hit = g_list_model_get_item (results, i);

      if (g_strcmp0 (helix_session_get_id (helix_search_hit_get_session (hit)), data) == 0)
        return TRUE;
    }

  return FALSE;
}

static gboolean
search_results_are_empty (Fixture       *fixture,
                          gconstpointer  data)
{
  GListModel *results = _helix_window_get_search_results (fixture->window);

  return results != NULL && g_list_model_get_n_items (results) == 0;
}

/* The row with this text is laid out entirely inside the visible part. */
static gboolean
message_is_fully_visible (Fixture       *fixture,
                          gconstpointer  data)
{
  GtkWidget *view = GTK_WIDGET (_helix_window_get_message_list_view (fixture->window));
  GtkWidget *scroller = gtk_widget_get_ancestor (view, GTK_TYPE_SCROLLED_WINDOW);
  GtkWidget *label = find_label (view, data, HELIX_TYPE_MESSAGE_ROW);
  GtkWidget *row;
  graphene_rect_t bounds;

  if (label == NULL)
    return FALSE;

  row = gtk_widget_get_ancestor (label, HELIX_TYPE_MESSAGE_ROW);
  if (!gtk_widget_compute_bounds (row, scroller, &bounds))
    return FALSE;

  return bounds.origin.y >= -0.5 &&
         bounds.origin.y + bounds.size.height <= gtk_widget_get_height (scroller) + 0.5;
}

static gboolean
first_session_is_pinned (Fixture       *fixture,
                         gconstpointer  data)
{
  GListModel *list = _helix_window_get_session_list (fixture->window);
  g_autoptr(HelixSession) session = g_list_model_get_item (list, 0);

  return session != NULL && helix_session_get_pinned (session) == GPOINTER_TO_INT (data);
}

/* Fixture ---------------------------------------------------------------------- */

static void
open_window (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;

  fixture->store = helix_store_open (fixture->db_path, &error);
  g_assert_no_error (error);
  g_assert_true (HELIX_IS_STORE (fixture->store));

  fixture->window = helix_window_new (NULL, fixture->store);
  g_assert_true (HELIX_IS_WINDOW (fixture->window));
  g_object_add_weak_pointer (G_OBJECT (fixture->window), (gpointer *)&fixture->window);
  gtk_window_present (GTK_WINDOW (fixture->window));

  wait_until (fixture, window_is_mapped, NULL, "the window to map");
  wait_until (fixture, session_list_loaded, NULL, "the session list to load");
}

static void
close_window (Fixture *fixture)
{
  if (fixture->window != NULL)
    {
      gtk_window_destroy (GTK_WINDOW (fixture->window));
      spin_until_idle ();
      /* Nothing may keep a closed window alive. */
      g_assert_null (fixture->window);
    }

  if (fixture->store != NULL)
    {
      helix_store_close (fixture->store);
      g_clear_object (&fixture->store);
    }
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(GSettings) settings = g_settings_new ("ai.helix.Helix");
  g_autoptr(GError) error = NULL;

  /* The memory backend lives as long as the process: start each test afresh. */
  g_settings_reset (settings, "last-session");
  g_settings_reset (settings, "show-archived");

  fixture->tmpdir = g_dir_make_tmp ("helix-test-ui-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->db_path = g_build_filename (fixture->tmpdir, "helix.db", NULL);

  open_window (fixture);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(GDir) dir = NULL;
  const char *name;

  close_window (fixture);

  dir = g_dir_open (fixture->tmpdir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (fixture->tmpdir, name, NULL);

      g_assert_cmpint (g_unlink (path), ==, 0);
    }
  g_assert_cmpint (g_rmdir (fixture->tmpdir), ==, 0);

  g_clear_pointer (&fixture->db_path, g_free);
  g_clear_pointer (&fixture->tmpdir, g_free);
}

/* Sends @text from the composer and waits until the message is shown. */
static void
send_message (Fixture    *fixture,
              const char *text)
{
  GtkTextBuffer *buffer = _helix_window_get_composer_buffer (fixture->window);

  gtk_text_buffer_set_text (buffer, text, -1);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window),
                                             "win.send-message", NULL));

  wait_until (fixture, message_model_has_text, text, "the message in the model");
  wait_until (fixture, message_row_shows_text, text, "the message in a row");
  wait_until (fixture, composer_is_empty, NULL, "the composer to be cleared");
}

static char *
dup_first_session_id (Fixture *fixture)
{
  g_autoptr(HelixSession) session =
    g_list_model_get_item (_helix_window_get_session_list (fixture->window), 0);

  g_assert_nonnull (session);
  return g_strdup (helix_session_get_id (session));
}

/* Tests ------------------------------------------------------------------------- */

static void
test_window_maps (Fixture       *fixture,
                  gconstpointer  data)
{
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (fixture->window)));
  g_assert_true (helix_window_get_store (fixture->window) == fixture->store);
  g_assert_cmpuint (n_sessions (fixture), ==, 0);
  g_assert_null (_helix_window_get_session (fixture->window));

  /* Nothing to send: nothing happens. */
  gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.send-message", NULL);
  spin_until_idle ();
  g_assert_null (_helix_window_get_session (fixture->window));
  g_assert_cmpuint (n_sessions (fixture), ==, 0);
}

static void
test_send_message (Fixture       *fixture,
                   gconstpointer  data)
{
  const char *text = "Hello from the test 42";
  GListModel *list = _helix_window_get_session_list (fixture->window);
  g_autoptr(HelixSession) session = NULL;
  GtkListView *view;

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window),
                                             "win.new-session", NULL));
  send_message (fixture, text);

  view = _helix_window_get_message_list_view (fixture->window);
  g_assert_cmpuint (n_rows (view), ==, 1);

  wait_until (fixture, session_list_has_n, GUINT_TO_POINTER (1), "one session in the list");
  session = g_list_model_get_item (list, 0);
  g_assert_cmpstr (helix_session_get_title (session), ==, text);
  g_assert_true (_helix_window_get_session (fixture->window) != NULL);
  g_assert_cmpstr (helix_session_get_id (_helix_window_get_session (fixture->window)), ==,
                   helix_session_get_id (session));

  /* The sidebar shows it, and the message says that no provider answered it. */
  wait_until (fixture, session_row_shows_text, text, "the session row");
  wait_until (fixture, message_row_shows_text, "Not sent — no AI provider", "the pending hint");

  /* A second message goes to the same session. */
  send_message (fixture, "And a second one");
  g_assert_cmpuint (n_rows (view), ==, 2);
  g_assert_cmpuint (g_list_model_get_n_items (list), ==, 1);
}

static void
test_reopen (Fixture       *fixture,
             gconstpointer  data)
{
  const char *text = "Hello from the test 42";
  g_autoptr(GSettings) settings = g_settings_new ("ai.helix.Helix");
  g_autofree char *session_id = NULL;
  GtkSingleSelection *selection;
  GtkListView *view;

  gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.new-session", NULL);
  send_message (fixture, text);
  wait_until (fixture, session_list_has_n, GUINT_TO_POINTER (1), "one session in the list");
  session_id = dup_first_session_id (fixture);

  close_window (fixture);

  /* Open it again, without the memory of the last session. */
  g_settings_set_string (settings, "last-session", "");
  open_window (fixture);
  wait_until (fixture, session_list_has_n, GUINT_TO_POINTER (1), "the session after reopening");
  g_assert_null (_helix_window_get_session (fixture->window));

  /* Select it as a click does. */
  view = _helix_window_get_session_list_view (fixture->window);
  selection = GTK_SINGLE_SELECTION (gtk_list_view_get_model (view));
  gtk_single_selection_set_selected (selection, 0);
  wait_until (fixture, session_is_open, session_id, "the session to open");
  wait_until (fixture, message_model_has_text, text, "the stored message in the model");
  wait_until (fixture, message_row_shows_text, text, "the stored message in a row");
}

static void
test_restore_last_session (Fixture       *fixture,
                           gconstpointer  data)
{
  const char *text = "Remember me";
  g_autofree char *session_id = NULL;

  gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.new-session", NULL);
  send_message (fixture, text);
  wait_until (fixture, session_list_has_n, GUINT_TO_POINTER (1), "one session in the list");
  session_id = dup_first_session_id (fixture);

  close_window (fixture);
  open_window (fixture);

  wait_until (fixture, session_is_open, session_id, "the last session to be reopened");
  wait_until (fixture, message_row_shows_text, text, "its message");
}

static void
test_search (Fixture       *fixture,
             gconstpointer  data)
{
  GtkEditable *entry = _helix_window_get_search_entry (fixture->window);
  GListModel *results;
  GListModel *shown;
  g_autofree char *session_id = NULL;
  gboolean found_snippet = FALSE;

  gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.new-session", NULL);
  send_message (fixture, "Hello from the test 42");
  send_message (fixture, "Pineapples grow on the ground");
  wait_until (fixture, session_list_has_n, GUINT_TO_POINTER (1), "one session in the list");
  session_id = dup_first_session_id (fixture);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.search", NULL));
  gtk_editable_set_text (entry, "pineapple");
  wait_until (fixture, search_results_have_session, session_id, "the search results");

  results = _helix_window_get_search_results (fixture->window);
  for (guint i = 0; i < g_list_model_get_n_items (results); i++)
    {
      g_autoptr(HelixSearchHit) hit = g_list_model_get_item (results, i);
      const char *snippet = helix_search_hit_get_snippet (hit);

      if (snippet != NULL && strstr (snippet, "ineapple") != NULL)
        found_snippet = TRUE;
    }
  g_assert_true (found_snippet);

  /* The sidebar shows the results, not the sessions. */
  shown = gtk_single_selection_get_model (GTK_SINGLE_SELECTION (
    gtk_list_view_get_model (_helix_window_get_session_list_view (fixture->window))));
  g_assert_true (shown == results);

  gtk_editable_set_text (entry, "xylophonequartz");
  wait_until (fixture, search_results_are_empty, NULL, "no results");

  /* Clearing the search shows the sessions again. */
  gtk_editable_set_text (entry, "");
  spin_until_idle ();
  g_assert_null (_helix_window_get_search_results (fixture->window));
  shown = gtk_single_selection_get_model (GTK_SINGLE_SELECTION (
    gtk_list_view_get_model (_helix_window_get_session_list_view (fixture->window))));
  g_assert_true (shown == _helix_window_get_session_list (fixture->window));
}

static void
test_delete_undo (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autofree char *session_id = NULL;

  gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.new-session", NULL);
  send_message (fixture, "Delete me, then bring me back");
  wait_until (fixture, session_list_has_n, GUINT_TO_POINTER (1), "one session in the list");
  session_id = dup_first_session_id (fixture);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window),
                                             "win.delete-session", "s", session_id));
  wait_until (fixture, session_list_has_n, GUINT_TO_POINTER (0), "the session to go");
  g_assert_null (_helix_window_get_session (fixture->window));

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window),
                                             "win.undo-delete", "s", session_id));
  wait_until (fixture, session_list_has_n, GUINT_TO_POINTER (1), "the session to come back");
  /* It was open, so it is open again. */
  wait_until (fixture, session_is_open, session_id, "the session to reopen");
}

static void
test_pin (Fixture       *fixture,
          gconstpointer  data)
{
  gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.new-session", NULL);
  send_message (fixture, "Pin me");
  wait_until (fixture, session_list_has_n, GUINT_TO_POINTER (1), "one session in the list");

  /* "" is the open session, as the shortcuts use it. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window),
                                             "win.pin-session", "s", ""));
  wait_until (fixture, first_session_is_pinned, GINT_TO_POINTER (TRUE), "the session to be pinned");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window),
                                             "win.pin-session", "s", ""));
  wait_until (fixture, first_session_is_pinned, GINT_TO_POINTER (FALSE),
              "the session to be unpinned");
}

static void
test_scroll_to_bottom (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  g_autofree HelixNewMessage *messages = g_new0 (HelixNewMessage, 500);
  GtkAdjustment *adjustment;

  /* A chat much taller than the window, with rows of several heights. */
  session = helix_store_create_session (fixture->store, "A long chat", &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 500; i++)
    {
      char *text = g_strdup_printf ("Line %u%s", i,
                                    i % 3 == 0 ? "\nwith a second line\nand a third" : "");

      g_ptr_array_add (texts, text);
      messages[i] = HELIX_NEW_MESSAGE_INIT (i % 2 ? HELIX_MESSAGE_ROLE_ASSISTANT
                                                  : HELIX_MESSAGE_ROLE_USER,
                                            text);
    }
  g_assert_true (helix_store_import_messages (fixture->store, helix_session_get_id (session),
                                              messages, 500, &error));
  g_assert_no_error (error);

  wait_until (fixture, session_list_has_n, GUINT_TO_POINTER (1), "the session in the list");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.open-session",
                                             "s", helix_session_get_id (session)));

  /* Opened at the end. */
  wait_until (fixture, message_is_fully_visible, "Line 499", "the last message to be shown");
  adjustment = gtk_scrollable_get_vadjustment (
    GTK_SCROLLABLE (_helix_window_get_message_list_view (fixture->window)));
  g_assert_cmpfloat (gtk_adjustment_get_upper (adjustment), >,
                     gtk_adjustment_get_page_size (adjustment));

  /* A new message, sent from the bottom, is shown in full. */
  send_message (fixture, "The newest message");
  wait_until (fixture, message_is_fully_visible, "The newest message", "the new message shown");
}

static gboolean
sync_status_has_prefix (Fixture       *fixture,
                        gconstpointer  data)
{
  const char *text = helix_sync_status_get_text (helix_window_get_sync_status (fixture->window));

  return text != NULL && g_str_has_prefix (text, data);
}

static gboolean
sync_status_has (Fixture       *fixture,
                 gconstpointer  data)
{
  const char *text = helix_sync_status_get_text (helix_window_get_sync_status (fixture->window));

  return text != NULL && strstr (text, data) != NULL;
}

/* The sidebar says what sync does: nothing while it is off; offline, when it retries
 * and how many changes wait while the gateway cannot be reached. */
static void
test_sync_status (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(HelixSyncClient) client = helix_sync_client_new (fixture->store);
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(GError) error = NULL;
  HelixSyncStatus *status = helix_window_get_sync_status (fixture->window);

  helix_window_set_sync_client (fixture->window, client);
  g_assert_null (helix_sync_status_get_text (status));
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (status)));

  /* Nothing listens on port 1 of loopback. */
  helix_sync_client_set_backoff (client, 30000, 30000);
  helix_sync_client_connect (client, "http://127.0.0.1:1", "not-a-real-token");
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (status)));
  wait_until (fixture, sync_status_has_prefix, "Offline · retrying in", "the offline state");
  g_assert_nonnull (gtk_widget_get_tooltip_text (GTK_WIDGET (status)));

  session = helix_store_create_session (fixture->store, "Written offline", &error);
  g_assert_no_error (error);
  wait_until (fixture, sync_status_has, "1 change waiting", "the pending count");

  helix_sync_client_disconnect (client);
  g_assert_null (helix_sync_status_get_text (status));
  helix_window_set_sync_client (fixture->window, NULL);
}

static void
test_title_from_message (void)
{
  struct {
    const char *text;
    const char *title;
  } cases[] = {
    { "Hello", "Hello" },
    { "  Hello\n\n  world\t! ", "Hello world !" },
    { "One two three four five six seven eight nine ten eleven twelve",
      "One two three four five six seven eight nine ten…" },
    { "Averyveryveryveryveryveryveryveryveryveryverylongwordwithoutspaces",
      "Averyveryveryveryveryveryveryveryveryveryverylon…" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *title = _helix_window_title_from_message (cases[i].text);

      g_assert_cmpstr (title, ==, cases[i].title);
      g_assert_cmpuint (g_utf8_strlen (title, -1), <=, 49);
    }
}

/* The Account page, signed out: the remembered address and user name are
 * filled in; signing in waits for a password. */
static void
test_preferences_account (void)
{
  g_autoptr(HelixAccount) account = helix_account_new ();
  g_autoptr(GSettings) settings = g_settings_new ("ai.helix.Helix");
  HelixPreferencesWindow *window;
  gpointer weak;
  gint64 deadline;

  g_settings_set_string (settings, "gateway-url", "https://helix.example.org");
  g_settings_set_string (settings, "username", "alice");

  window = helix_preferences_window_new (NULL, account, settings);
  weak = window;
  g_object_add_weak_pointer (G_OBJECT (window), &weak);
  gtk_window_present (GTK_WINDOW (window));
  deadline = g_get_monotonic_time () + WAIT_TIMEOUT_SECONDS * G_USEC_PER_SEC;
  while (!gtk_widget_get_mapped (GTK_WIDGET (window)) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (window)));

  g_assert_true (helix_preferences_window_get_account (window) == account);
  g_assert_cmpstr (adw_preferences_window_get_visible_page_name (ADW_PREFERENCES_WINDOW (window)),
                   ==, "account");
  g_assert_false (helix_account_get_signed_in (account));

  /* No password yet: the action is there but does nothing. */
  gtk_widget_activate_action (GTK_WIDGET (window), "preferences.sign-in", NULL);
  g_assert_false (helix_account_get_busy (account));

  /* Whether chats go through the gateway: a switch for the setting, on by
   * default, both ways. */
  {
    GtkSwitch *through_gateway =
      GTK_SWITCH (gtk_widget_get_template_child (GTK_WIDGET (window),
                                                 HELIX_TYPE_PREFERENCES_WINDOW,
                                                 "through_gateway_switch"));

    g_assert_true (GTK_IS_SWITCH (through_gateway));
    g_assert_true (g_settings_get_boolean (settings, "chat-through-gateway"));
    g_assert_true (gtk_switch_get_active (through_gateway));
    gtk_switch_set_active (through_gateway, FALSE);
    g_assert_false (g_settings_get_boolean (settings, "chat-through-gateway"));
    g_settings_set_boolean (settings, "chat-through-gateway", TRUE);
    g_assert_true (gtk_switch_get_active (through_gateway));
  }

  gtk_window_destroy (GTK_WINDOW (window));
  deadline = g_get_monotonic_time () + WAIT_TIMEOUT_SECONDS * G_USEC_PER_SEC;
  while (weak != NULL && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  g_assert_null (weak);

  g_settings_reset (settings, "gateway-url");
  g_settings_reset (settings, "username");
  g_settings_reset (settings, "chat-through-gateway");
}

int
main (int   argc,
      char *argv[])
{
  gtk_test_init (&argc, &argv, NULL);
  adw_init ();

  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

#define ADD(path, func) \
  g_test_add ((path), Fixture, NULL, fixture_setup, (func), fixture_teardown)

  g_test_add_func ("/helix/ui/title-from-message", test_title_from_message);
  g_test_add_func ("/helix/ui/preferences-account", test_preferences_account);
  ADD ("/helix/ui/window-maps", test_window_maps);
  ADD ("/helix/ui/send-message", test_send_message);
  ADD ("/helix/ui/reopen", test_reopen);
  ADD ("/helix/ui/restore-last-session", test_restore_last_session);
  ADD ("/helix/ui/search", test_search);
  ADD ("/helix/ui/delete-undo", test_delete_undo);
  ADD ("/helix/ui/pin", test_pin);
  ADD ("/helix/ui/scroll-to-bottom", test_scroll_to_bottom);
  ADD ("/helix/ui/sync-status", test_sync_status);

#undef ADD

  return g_test_run ();
}
