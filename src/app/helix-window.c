/* helix-window.c: the main window
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-message-row.h"
#include "helix-resources.h"
#include "helix-session-row.h"
#include "helix-title.h"
#include "helix-window-private.h"

enum {
  PROP_0,
  PROP_STORE,
  PROP_SESSION_MODEL,
  N_PROPS
};

G_DEFINE_FINAL_TYPE (HelixWindow, helix_window, ADW_TYPE_APPLICATION_WINDOW)

static GParamSpec *properties[N_PROPS];

/* Content ---------------------------------------------------------------- */

static void
show_content (HelixWindow *self)
{
  if (adw_leaflet_get_folded (self->leaflet))
    adw_leaflet_set_visible_child_name (self->leaflet, "content");
}

/**
 * _helix_window_open_session:
 * @self: a #HelixWindow
 * @session: the session to show
 * @user_initiated: whether the user chose it (on a narrow window, go to it)
 *
 * Shows the messages of @session, selects it in the sidebar and remembers it
 * for the next start.
 */
void
_helix_window_open_session (HelixWindow  *self,
                            HelixSession *session,
                            gboolean      user_initiated)
{
  g_autoptr(HelixMessageList) message_list = NULL;
  const char *session_id;

  g_assert (HELIX_IS_WINDOW (self));
  g_assert (HELIX_IS_SESSION (session));

  session_id = helix_session_get_id (session);

  if (self->session != NULL && g_str_equal (helix_session_get_id (self->session), session_id))
    {
      if (user_initiated)
        show_content (self);
      return;
    }

  g_debug ("Opening session %s", session_id);

  g_set_object (&self->session, session);
  self->drafting = FALSE;
  g_clear_pointer (&self->deleted_open_session_id, g_free);

  message_list = helix_message_list_new (self->store, session_id);
  _helix_window_set_message_list (self, message_list);

  _helix_window_update_header (self);
  _helix_window_update_session_menu (self);
  _helix_window_update_content_page (self);
  _helix_window_sync_selection (self);

  g_settings_set_string (self->settings, "last-session", session_id);

  if (user_initiated)
    show_content (self);

  _helix_window_update_actions (self);
}

/**
 * _helix_window_close_session:
 * @self: a #HelixWindow
 *
 * Shows no session (the welcome page) and forgets it for the next start.
 */
void
_helix_window_close_session (HelixWindow *self)
{
  g_assert (HELIX_IS_WINDOW (self));

  _helix_window_set_message_list (self, NULL);
  g_clear_object (&self->session);
  self->drafting = FALSE;

  _helix_window_update_header (self);
  _helix_window_update_session_menu (self);
  _helix_window_update_content_page (self);
  _helix_window_sync_selection (self);
  g_settings_set_string (self->settings, "last-session", "");

  if (adw_leaflet_get_folded (self->leaflet))
    adw_leaflet_set_visible_child_name (self->leaflet, "sidebar");

  _helix_window_update_actions (self);
}

/**
 * _helix_window_start_draft:
 * @self: a #HelixWindow
 *
 * Shows an empty chat with the composer focused. The session is created
 * when the first message is sent, so abandoned drafts leave nothing behind.
 */
void
_helix_window_start_draft (HelixWindow *self)
{
  g_assert (HELIX_IS_WINDOW (self));

  if (self->session != NULL)
    _helix_window_close_session (self);

  self->drafting = TRUE;

  _helix_window_update_header (self);
  _helix_window_update_content_page (self);
  show_content (self);
  gtk_widget_grab_focus (GTK_WIDGET (self->composer_view));
  _helix_window_update_actions (self);
}

/**
 * _helix_window_find_session:
 * @self: a #HelixWindow
 * @session_id: a session UUID
 *
 * Looks for the session among what the window knows (the list, the open
 * session, the search results), without reading the disk.
 *
 * Returns: (transfer none) (nullable): the session
 */
HelixSession *
_helix_window_find_session (HelixWindow *self,
                            const char  *session_id)
{
  HelixSession *session;

  g_assert (HELIX_IS_WINDOW (self));

  if (session_id == NULL || session_id[0] == '\0')
    return NULL;

  if (self->session != NULL && g_str_equal (helix_session_get_id (self->session), session_id))
    return self->session;

  if ((session = helix_session_list_find (self->session_list, session_id, NULL)))
    return session;

  if (self->search_results != NULL)
    {
      guint n_items = g_list_model_get_n_items (self->search_results);

      for (guint i = 0; i < n_items; i++)
        {
          g_autoptr(HelixSearchHit) hit = g_list_model_get_item (self->search_results, i);

          session = helix_search_hit_get_session (hit);
          if (g_str_equal (helix_session_get_id (session), session_id))
            return session;
        }
    }

  return NULL;
}

/**
 * _helix_window_show_error:
 * @self: a #HelixWindow
 * @error: what went wrong, in words for the user
 *
 * Shows @error in a toast.
 */
void
_helix_window_show_error (HelixWindow  *self,
                          const GError *error)
{
  AdwToast *toast;

  g_assert (HELIX_IS_WINDOW (self));
  g_assert (error != NULL);

  if (self->toast_overlay == NULL)
    return;

  toast = adw_toast_new (error->message);
  adw_toast_set_priority (toast, ADW_TOAST_PRIORITY_HIGH);
  adw_toast_set_timeout (toast, 0);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

/**
 * _helix_window_title_from_message:
 * @text: the first message of a chat
 *
 * Makes a title from the start of @text: one line, at most 48 characters,
 * cut at a word when it can be.
 *
 * Returns: (transfer full): the title
 */
char *
_helix_window_title_from_message (const char *text)
{
  return helix_title_from_text (text, HELIX_TITLE_DEFAULT_CHARS);
}

/* Store ------------------------------------------------------------------ */

/* The open session changed, or another one opened. */
void
_helix_window_notify_session_model (HelixWindow *self)
{
  g_assert (HELIX_IS_WINDOW (self));

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SESSION_MODEL]);
}

static void
on_store_session_changed (HelixWindow  *self,
                          HelixSession *snapshot,
                          HelixStore   *store)
{
  if (self->session == NULL ||
      !g_str_equal (helix_session_get_id (self->session), helix_session_get_id (snapshot)))
    return;

  if (helix_session_get_deleted (snapshot))
    {
      /* Deleted here or on another device. */
      _helix_window_close_session (self);
      return;
    }

  g_set_object (&self->session, snapshot);
  _helix_window_update_header (self);
  _helix_window_update_session_menu (self);
}

/* Answers ---------------------------------------------------------------- */

static void
on_chat_changed (HelixWindow         *self,
                 const char          *session_id,
                 HelixChatController *chat)
{
  if (self->session == NULL || g_strcmp0 (helix_session_get_id (self->session), session_id) != 0)
    return;

  _helix_window_update_actions (self);
  _helix_window_update_last_rows (self);
}

/* Window ----------------------------------------------------------------- */

static void
on_leaflet_folded_changed (HelixWindow *self,
                           GParamSpec  *pspec,
                           AdwLeaflet  *leaflet)
{
  if (!adw_leaflet_get_folded (leaflet))
    return;

  if (self->session != NULL || self->drafting)
    adw_leaflet_set_visible_child_name (leaflet, "content");
  else
    adw_leaflet_set_visible_child_name (leaflet, "sidebar");
}

static gboolean
helix_window_close_request (GtkWindow *window)
{
  HelixWindow *self = HELIX_WINDOW (window);
  gboolean maximized = gtk_window_is_maximized (window);
  int width;
  int height;

  gtk_window_get_default_size (window, &width, &height);

  if (!maximized && width > 0 && height > 0)
    {
      g_settings_set_int (self->settings, "window-width", width);
      g_settings_set_int (self->settings, "window-height", height);
    }
  g_settings_set_boolean (self->settings, "window-maximized", maximized);

  return GTK_WINDOW_CLASS (helix_window_parent_class)->close_request (window);
}

static void
helix_window_constructed (GObject *object)
{
  HelixWindow *self = (HelixWindow *)object;

  G_OBJECT_CLASS (helix_window_parent_class)->constructed (object);

  g_assert (HELIX_IS_STORE (self->store));

  self->chat = helix_chat_controller_new (self->store);
  helix_chat_controller_set_router (self->chat, self->router);
  g_settings_bind (self->settings, "chat-through-gateway", self->chat, "use-gateway",
                   G_SETTINGS_BIND_GET);
  g_signal_connect_object (self->chat,
                           "changed",
                           G_CALLBACK (on_chat_changed),
                           self,
                           G_CONNECT_SWAPPED);

  _helix_window_sidebar_constructed (self);

  g_signal_connect_object (self->store,
                           "session-changed",
                           G_CALLBACK (on_store_session_changed),
                           self,
                           G_CONNECT_SWAPPED);

  _helix_window_update_header (self);
  _helix_window_update_session_menu (self);
  _helix_window_update_content_page (self);
  _helix_window_update_actions (self);
}

static void
helix_window_dispose (GObject *object)
{
  HelixWindow *self = (HelixWindow *)object;

  if (self->store != NULL)
    g_signal_handlers_disconnect_by_data (self->store, self);

  g_cancellable_cancel (self->cancellable);

  /* Closing the window stops the answers on their way; each stores what
   * arrived of it by itself, without the window. */
  if (self->chat != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->chat, self);
      helix_chat_controller_stop_all (self->chat);
    }

  _helix_window_sidebar_dispose (self);
  _helix_window_set_message_list (self, NULL);

  gtk_widget_dispose_template (GTK_WIDGET (self), HELIX_TYPE_WINDOW);

  G_OBJECT_CLASS (helix_window_parent_class)->dispose (object);

  g_clear_object (&self->session_selection);
  g_clear_object (&self->session_list);
  g_clear_object (&self->search_results);
  g_clear_object (&self->search_cancellable);
  g_clear_object (&self->session);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->settings);
  g_clear_object (&self->chat);
  g_clear_object (&self->store);
  g_clear_object (&self->router);
}

static void
helix_window_finalize (GObject *object)
{
  HelixWindow *self = (HelixWindow *)object;

  g_clear_pointer (&self->search_query, g_free);
  g_clear_pointer (&self->restore_session_id, g_free);
  g_clear_pointer (&self->deleted_open_session_id, g_free);

  G_OBJECT_CLASS (helix_window_parent_class)->finalize (object);
}

static void
helix_window_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  HelixWindow *self = HELIX_WINDOW (object);

  switch (prop_id)
    {
    case PROP_STORE:
      g_value_set_object (value, self->store);
      break;

    case PROP_SESSION_MODEL:
      g_value_set_string (value,
                          self->session != NULL && helix_session_get_model (self->session) != NULL
                          ? helix_session_get_model (self->session) : "");
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_window_set_property (GObject      *object,
                           guint         prop_id,
                           const GValue *value,
                           GParamSpec   *pspec)
{
  HelixWindow *self = HELIX_WINDOW (object);

  switch (prop_id)
    {
    case PROP_STORE:
      self->store = g_value_dup_object (value);
      break;

    case PROP_SESSION_MODEL:
      _helix_window_set_session_model (self, g_value_get_string (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_window_class_init (HelixWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->constructed = helix_window_constructed;
  object_class->dispose = helix_window_dispose;
  object_class->finalize = helix_window_finalize;
  object_class->get_property = helix_window_get_property;
  object_class->set_property = helix_window_set_property;

  window_class->close_request = helix_window_close_request;

  /**
   * HelixWindow:store:
   *
   * The store whose sessions the window shows.
   */
  properties[PROP_STORE] =
    g_param_spec_object ("store", NULL, NULL,
                         HELIX_TYPE_STORE,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));

  /**
   * HelixWindow:session-model:
   *
   * The model pinned for the open session, "" for automatic (the cheapest that
   * fits). Setting it stores the choice in the session, which then reads back
   * here once stored; the state of the `win.session-model` action.
   */
  properties[PROP_SESSION_MODEL] =
    g_param_spec_string ("session-model", NULL, NULL, "",
                         (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* The resources live in a static library: referring to them keeps the
   * linker from dropping them, and with them the templates. */
  (void) helix_get_resource ();

  g_type_ensure (HELIX_TYPE_SYNC_STATUS);
  gtk_widget_class_set_template_from_resource (widget_class, "/ai/helix/Helix/ui/helix-window.ui");

  gtk_widget_class_bind_template_child (widget_class, HelixWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, leaflet);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, sync_status);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, search_bar);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, search_entry);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, sidebar_stack);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, sidebar_spinner);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, session_list_view);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, window_title);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, session_menu_button);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, content_stack);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, messages_stack);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, message_scroller);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, message_list_view);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, scroll_down_revealer);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, notice_revealer);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, composer_view);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, composer_placeholder);
  gtk_widget_class_bind_template_child (widget_class, HelixWindow, send_button);

  gtk_widget_class_bind_template_callback (widget_class, on_leaflet_folded_changed);

  _helix_window_class_sidebar_init (klass);

  _helix_window_class_actions_init (klass);

  g_type_ensure (HELIX_TYPE_MESSAGE_ROW);
  g_type_ensure (HELIX_TYPE_SESSION_ROW);
}

static void
helix_window_init (HelixWindow *self)
{
  int width;
  int height;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->cancellable = g_cancellable_new ();
  self->settings = g_settings_new ("ai.helix.Helix");

#if DEVELOPMENT_BUILD
  gtk_widget_add_css_class (GTK_WIDGET (self), "devel");
#endif

  /* Size and state of the last window */
  width = g_settings_get_int (self->settings, "window-width");
  height = g_settings_get_int (self->settings, "window-height");
  gtk_window_set_default_size (GTK_WINDOW (self), MAX (width, 360), MAX (height, 294));
  if (g_settings_get_boolean (self->settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));

  _helix_window_sidebar_init (self);
  _helix_window_chat_init (self);
  _helix_window_actions_init (self);
}

/**
 * helix_window_new:
 * @application: (nullable): the application, or %NULL (tests)
 * @store: the store to show
 *
 * Returns: (transfer full): a new #HelixWindow
 */
HelixWindow *
helix_window_new (GtkApplication *application,
                  HelixStore     *store)
{
  g_return_val_if_fail (application == NULL || GTK_IS_APPLICATION (application), NULL);
  g_return_val_if_fail (HELIX_IS_STORE (store), NULL);

  return g_object_new (HELIX_TYPE_WINDOW,
                       "application", application,
                       "store", store,
                       NULL);
}

/**
 * helix_window_set_sync_client:
 * @self: a #HelixWindow
 * @client: (nullable): the sync client of the account: the sidebar shows its
 *   state, and while it is connected the gateway answers the chats
 */
void
helix_window_set_sync_client (HelixWindow     *self,
                              HelixSyncClient *client)
{
  g_return_if_fail (HELIX_IS_WINDOW (self));

  helix_sync_status_set_client (self->sync_status, client);
  helix_chat_controller_set_sync_client (self->chat, client);
}

/**
 * helix_window_set_router:
 * @self: a #HelixWindow
 * @router: (nullable): the router that answers the chats of this window
 */
void
helix_window_set_router (HelixWindow *self,
                         HelixRouter *router)
{
  g_return_if_fail (HELIX_IS_WINDOW (self));
  g_return_if_fail (router == NULL || HELIX_IS_ROUTER (router));

  g_set_object (&self->router, router);
  if (self->chat != NULL)
    helix_chat_controller_set_router (self->chat, router);
  /* The models a session can be pinned to are the router's. */
  if (self->session_menu_button != NULL)
    _helix_window_update_session_menu (self);
  _helix_window_update_actions (self);
}

/**
 * helix_window_get_router:
 * @self: a #HelixWindow
 *
 * Returns: (transfer none) (nullable): the router that answers the chats
 */
HelixRouter *
helix_window_get_router (HelixWindow *self)
{
  g_return_val_if_fail (HELIX_IS_WINDOW (self), NULL);

  return self->router;
}

/**
 * helix_window_get_sync_status:
 * @self: a #HelixWindow
 *
 * Returns: (transfer none): the sync status line of the sidebar
 */
HelixSyncStatus *
helix_window_get_sync_status (HelixWindow *self)
{
  g_return_val_if_fail (HELIX_IS_WINDOW (self), NULL);

  return self->sync_status;
}

/**
 * helix_window_get_store:
 * @self: a #HelixWindow
 *
 * Returns: (transfer none): the store the window shows
 */
HelixStore *
helix_window_get_store (HelixWindow *self)
{
  g_return_val_if_fail (HELIX_IS_WINDOW (self), NULL);

  return self->store;
}

/* Test accessors ----------------------------------------------------------- */

GtkTextBuffer *
_helix_window_get_composer_buffer (HelixWindow *self)
{
  g_return_val_if_fail (HELIX_IS_WINDOW (self), NULL);

  return gtk_text_view_get_buffer (self->composer_view);
}

GtkListView *
_helix_window_get_message_list_view (HelixWindow *self)
{
  g_return_val_if_fail (HELIX_IS_WINDOW (self), NULL);

  return self->message_list_view;
}

GtkListView *
_helix_window_get_session_list_view (HelixWindow *self)
{
  g_return_val_if_fail (HELIX_IS_WINDOW (self), NULL);

  return self->session_list_view;
}

GtkEditable *
_helix_window_get_search_entry (HelixWindow *self)
{
  g_return_val_if_fail (HELIX_IS_WINDOW (self), NULL);

  return GTK_EDITABLE (self->search_entry);
}

GListModel *
_helix_window_get_session_list (HelixWindow *self)
{
  g_return_val_if_fail (HELIX_IS_WINDOW (self), NULL);

  return G_LIST_MODEL (self->session_list);
}

GListModel *
_helix_window_get_search_results (HelixWindow *self)
{
  g_return_val_if_fail (HELIX_IS_WINDOW (self), NULL);

  return self->search_results;
}

HelixSession *
_helix_window_get_session (HelixWindow *self)
{
  g_return_val_if_fail (HELIX_IS_WINDOW (self), NULL);

  return self->session;
}

HelixChatController *
_helix_window_get_chat_controller (HelixWindow *self)
{
  g_return_val_if_fail (HELIX_IS_WINDOW (self), NULL);

  return self->chat;
}

GtkButton *
_helix_window_get_send_button (HelixWindow *self)
{
  g_return_val_if_fail (HELIX_IS_WINDOW (self), NULL);

  return self->send_button;
}
