/* helix-window-actions.c: the win.* actions of the main window
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-window-private.h"

/* What an asynchronous store call needs to finish its job in the window. */
typedef struct
{
  HelixWindow *self;
  char        *session_id;
  char        *text;
} OpData;

static OpData *
op_data_new (HelixWindow *self,
             const char  *session_id,
             const char  *text)
{
  OpData *data = g_new0 (OpData, 1);

  data->self = g_object_ref (self);
  data->session_id = g_strdup (session_id);
  data->text = g_strdup (text);

  return data;
}

static void
op_data_free (OpData *data)
{
  g_clear_object (&data->self);
  g_clear_pointer (&data->session_id, g_free);
  g_clear_pointer (&data->text, g_free);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OpData, op_data_free)

/* The window may have been closed while the store was busy. */
static gboolean
window_is_gone (HelixWindow *self)
{
  return self->toast_overlay == NULL || gtk_widget_in_destruction (GTK_WIDGET (self));
}

/* An empty target ("") means the open session: what the keyboard shortcuts use. */
static const char *
get_target_session_id (HelixWindow *self,
                       GVariant    *param)
{
  const char *session_id = param != NULL ? g_variant_get_string (param, NULL) : "";

  if (session_id[0] != '\0')
    return session_id;

  if (self->session != NULL)
    return helix_session_get_id (self->session);

  return NULL;
}

static void
show_toast (HelixWindow *self,
            const char  *title,
            const char  *undo_action,
            const char  *session_id)
{
  AdwToast *toast = adw_toast_new (title);

  if (undo_action != NULL)
    {
      adw_toast_set_button_label (toast, _("_Undo"));
      adw_toast_set_action_name (toast, undo_action);
      adw_toast_set_action_target_value (toast, g_variant_new_string (session_id));
    }

  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

/* Composer text, without white space around it; %NULL if there is nothing. */
static char *
dup_composer_text (HelixWindow *self)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->composer_view);
  GtkTextIter begin;
  GtkTextIter end;
  char *text;

  gtk_text_buffer_get_bounds (buffer, &begin, &end);
  text = g_strstrip (gtk_text_buffer_get_text (buffer, &begin, &end, FALSE));

  if (text[0] == '\0')
    g_clear_pointer (&text, g_free);

  return text;
}

static const char *
open_session_id (HelixWindow *self)
{
  return self->session != NULL ? helix_session_get_id (self->session) : NULL;
}

/* The last stored message of the open session, if it is an answer. */
static HelixMessage *
dup_last_answer (HelixWindow *self)
{
  g_autoptr(HelixMessage) message = NULL;
  guint n_items;

  if (self->message_list == NULL)
    return NULL;

  n_items = g_list_model_get_n_items (G_LIST_MODEL (self->message_list));
  if (n_items == 0)
    return NULL;

  message = g_list_model_get_item (G_LIST_MODEL (self->message_list), n_items - 1);
  if (message == NULL || helix_message_get_role (message) != HELIX_MESSAGE_ROLE_ASSISTANT)
    return NULL;

  return g_steal_pointer (&message);
}

void
_helix_window_update_actions (HelixWindow *self)
{
  g_autofree char *text = NULL;
  g_autoptr(HelixMessage) last_answer = NULL;
  gboolean busy;

  g_assert (HELIX_IS_WINDOW (self));

  if (self->composer_view == NULL || self->chat == NULL)
    return;

  text = dup_composer_text (self);
  busy = helix_chat_controller_get_busy_call (self->chat, open_session_id (self)) != NULL;
  if (!busy)
    last_answer = dup_last_answer (self);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.send-message",
                                 text != NULL && !self->sending && !busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.stop", busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.retry", self->session != NULL && !busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.regenerate",
                                 last_answer != NULL &&
                                 helix_chat_controller_get_router (self->chat) != NULL);

  /* Until a provider is set up, say why nothing answers. */
  gtk_revealer_set_reveal_child (self->notice_revealer,
                                 !self->notice_dismissed &&
                                 !helix_chat_controller_has_providers (self->chat));

  /* While an answer streams in, the send button stops it. */
  if (self->send_button != NULL)
    {
      gtk_actionable_set_action_name (GTK_ACTIONABLE (self->send_button),
                                      busy ? "win.stop" : "win.send-message");
      gtk_button_set_icon_name (self->send_button,
                                busy ? "media-playback-stop-symbolic" : "go-up-symbolic");
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->send_button),
                                   busy ? _("Stop") : _("Send Message"));
      gtk_accessible_update_property (GTK_ACCESSIBLE (self->send_button),
                                      GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      busy ? _("Stop") : _("Send Message"),
                                      -1);
      if (busy)
        gtk_widget_remove_css_class (GTK_WIDGET (self->send_button), "suggested-action");
      else
        gtk_widget_add_css_class (GTK_WIDGET (self->send_button), "suggested-action");
    }
}

/**
 * _helix_window_ask:
 * @self: a #HelixWindow
 * @session_id: the session
 * @upto: answer the messages before this position
 *
 * Asks for an answer in @session_id (see helix_chat_controller_ask()).
 */
void
_helix_window_ask (HelixWindow *self,
                   const char  *session_id,
                   guint64      upto)
{
  g_assert (HELIX_IS_WINDOW (self));

  if (self->chat == NULL || helix_chat_controller_get_router (self->chat) == NULL)
    return;

  helix_chat_controller_ask (self->chat, session_id, upto);
  if (g_strcmp0 (session_id, open_session_id (self)) == 0)
    _helix_window_scroll_to_bottom (self);
}

/* win.send-message ---------------------------------------------------------- */

static void
set_sending (HelixWindow *self,
             gboolean     sending)
{
  self->sending = !!sending;

  /* Not editable while the write is in flight: the text is cleared when it
   * is committed, and nothing typed meanwhile may be lost with it. */
  gtk_text_view_set_editable (self->composer_view, !sending);
  gtk_widget_set_cursor_from_name (GTK_WIDGET (self->composer_view), sending ? "progress" : NULL);
  _helix_window_update_actions (self);
}

static void
on_append_ready (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(OpData) data = user_data;
  HelixWindow *self = data->self;
  g_autoptr(HelixMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = helix_store_append_message_finish (HELIX_STORE (object), result, &error);

  if (window_is_gone (self))
    return;

  set_sending (self, FALSE);

  if (message == NULL)
    {
      g_debug ("Could not save a message: %s", error->message);
      _helix_window_show_error (self, error);
      return;
    }

  /* Committed: only now is the text safe to drop. The message itself
   * reaches the view through the session's message list. */
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->composer_view), "", 0);
  _helix_window_scroll_to_bottom (self);

  /* Then the answer, in the message's own session whatever is shown now. */
  _helix_window_ask (self, data->session_id, helix_message_get_position (message) + 1);
}

static void
append_message (HelixStore *store,
                OpData     *data)
{
  HelixNewMessage message = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, data->text);
  HelixWindow *self = data->self;

  /* No provider will answer it until one is configured. */
  if (window_is_gone (self) || self->chat == NULL ||
      !helix_chat_controller_has_providers (self->chat))
    message.status = HELIX_MESSAGE_STATUS_PENDING;

  helix_store_append_message_async (store,
                                    data->session_id,
                                    &message,
                                    NULL,
                                    on_append_ready,
                                    data);
}

static void
on_create_session_ready (GObject      *object,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  OpData *data = user_data;
  HelixWindow *self = data->self;
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(GError) error = NULL;

  session = helix_store_create_session_finish (HELIX_STORE (object), result, &error);

  if (session == NULL)
    {
      g_debug ("Could not create a session: %s", error->message);
      if (!window_is_gone (self))
        {
          set_sending (self, FALSE);
          _helix_window_show_error (self, error);
        }
      op_data_free (data);
      return;
    }

  /* The message is written even if the window went away meanwhile. */
  data->session_id = g_strdup (helix_session_get_id (session));

  if (!window_is_gone (self) && self->drafting && self->session == NULL)
    _helix_window_open_session (self, session, FALSE);

  append_message (HELIX_STORE (object), data);
}

static void
send_message_action (GtkWidget  *widget,
                     const char *action_name,
                     GVariant   *param)
{
  HelixWindow *self = HELIX_WINDOW (widget);
  g_autofree char *text = NULL;

  if (self->sending ||
      (self->chat != NULL &&
       helix_chat_controller_get_busy_call (self->chat, open_session_id (self)) != NULL))
    return;

  text = dup_composer_text (self);
  if (text == NULL)
    return;

  if (strlen (text) > HELIX_STORE_CONTENT_MAX_BYTES)
    {
      g_autoptr(GError) error = NULL;

      error = g_error_new_literal (HELIX_STORE_ERROR, HELIX_STORE_ERROR_INVALID,
                                   _("The message is too long. Shorten it and send it again."));
      _helix_window_show_error (self, error);
      return;
    }

  set_sending (self, TRUE);

  if (self->session != NULL)
    {
      append_message (self->store, op_data_new (self, helix_session_get_id (self->session), text));
    }
  else
    {
      g_autofree char *title = _helix_window_title_from_message (text);

      self->drafting = TRUE;
      helix_store_create_session_async (self->store,
                                        title,
                                        NULL,
                                        on_create_session_ready,
                                        op_data_new (self, NULL, text));
    }
}

/* Answers ------------------------------------------------------------------------ */

static void
stop_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *param)
{
  HelixWindow *self = HELIX_WINDOW (widget);

  if (self->chat != NULL)
    helix_chat_controller_stop (self->chat, open_session_id (self));
}

/* Asks again for the answer at this position: a new answer to the same
 * question, appended after the others. */
static void
retry_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *param)
{
  HelixWindow *self = HELIX_WINDOW (widget);
  guint64 upto = g_variant_get_uint64 (param);

  if (self->session == NULL)
    return;

  _helix_window_ask (self, open_session_id (self), upto);
}

static void
regenerate_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *param)
{
  HelixWindow *self = HELIX_WINDOW (widget);
  g_autoptr(HelixMessage) last_answer = dup_last_answer (self);

  if (last_answer == NULL || self->chat == NULL ||
      helix_chat_controller_get_busy_call (self->chat, open_session_id (self)) != NULL)
    return;

  _helix_window_ask (self, open_session_id (self), helix_message_get_position (last_answer));
}

/* Session actions ------------------------------------------------------------ */

static void
on_update_ready (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(OpData) data = user_data;
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(GError) error = NULL;

  session = helix_store_update_session_finish (HELIX_STORE (object), result, &error);

  if (session == NULL && !window_is_gone (data->self))
    _helix_window_show_error (data->self, error);
}

/**
 * _helix_window_set_session_model:
 * @self: a #HelixWindow
 * @model: (nullable): the model to pin for the open session; %NULL or "" for
 *   automatic
 *
 * What activating `win.session-model` does: stores the choice in the open
 * session. The action's state follows once the store has it.
 */
void
_helix_window_set_session_model (HelixWindow *self,
                                 const char  *model)
{
  const char *session_id;

  g_assert (HELIX_IS_WINDOW (self));

  if (self->session == NULL || self->store == NULL)
    return;

  if (model != NULL && model[0] == '\0')
    model = NULL;
  if (g_strcmp0 (model, helix_session_get_model (self->session)) == 0)
    return;

  session_id = helix_session_get_id (self->session);
  g_debug ("Pinning %s in chat %s", model != NULL ? model : "automatic", session_id);
  helix_store_set_session_model_async (self->store, session_id, model, NULL, on_update_ready,
                                       op_data_new (self, session_id, NULL));
}

static void
on_rename_entry_changed (AdwMessageDialog *dialog,
                         GtkEditable      *entry)
{
  g_autofree char *title = g_strstrip (g_strdup (gtk_editable_get_text (entry)));

  adw_message_dialog_set_response_enabled (dialog, "rename", title[0] != '\0');
}

static void
on_rename_response (AdwMessageDialog *dialog,
                    const char       *response,
                    gpointer          user_data)
{
  OpData *data = user_data;
  GtkEditable *entry = GTK_EDITABLE (adw_message_dialog_get_extra_child (dialog));
  g_autofree char *title = g_strstrip (g_strdup (gtk_editable_get_text (entry)));

  if (!g_str_equal (response, "rename") || title[0] == '\0' || window_is_gone (data->self))
    return;

  helix_store_rename_session_async (data->self->store,
                                    data->session_id,
                                    title,
                                    NULL,
                                    on_update_ready,
                                    op_data_new (data->self, data->session_id, NULL));
}

static void
rename_session_action (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *param)
{
  HelixWindow *self = HELIX_WINDOW (widget);
  const char *session_id = get_target_session_id (self, param);
  HelixSession *session;
  AdwMessageDialog *dialog;
  GtkWidget *entry;

  if (session_id == NULL)
    return;

  session = _helix_window_find_session (self, session_id);

  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self), _("Rename Chat"), NULL));
  adw_message_dialog_add_responses (dialog,
                                    "cancel", _("_Cancel"),
                                    "rename", _("_Rename"),
                                    NULL);
  adw_message_dialog_set_response_appearance (dialog, "rename", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "rename");
  adw_message_dialog_set_close_response (dialog, "cancel");

  entry = gtk_entry_new ();
  gtk_entry_set_activates_default (GTK_ENTRY (entry), TRUE);
  gtk_entry_set_max_length (GTK_ENTRY (entry), 200);
  gtk_accessible_update_property (GTK_ACCESSIBLE (entry),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Chat title"),
                                  -1);
  if (session != NULL)
    gtk_editable_set_text (GTK_EDITABLE (entry), helix_session_get_title (session));
  adw_message_dialog_set_extra_child (dialog, entry);

  g_signal_connect_object (entry, "changed", G_CALLBACK (on_rename_entry_changed), dialog,
                           G_CONNECT_SWAPPED);
  on_rename_entry_changed (dialog, GTK_EDITABLE (entry));

  g_signal_connect_data (dialog, "response",
                         G_CALLBACK (on_rename_response),
                         op_data_new (self, session_id, NULL),
                         (GClosureNotify) op_data_free,
                         0);

  gtk_window_present (GTK_WINDOW (dialog));
  gtk_widget_grab_focus (entry);
}

static void
pin_session_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *param)
{
  HelixWindow *self = HELIX_WINDOW (widget);
  const char *session_id = get_target_session_id (self, param);
  HelixSession *session = _helix_window_find_session (self, session_id);

  if (session == NULL)
    return;

  helix_store_set_session_flag_async (self->store,
                                      session_id,
                                      HELIX_SESSION_FLAG_PINNED,
                                      !helix_session_get_pinned (session),
                                      NULL,
                                      on_update_ready,
                                      op_data_new (self, session_id, NULL));
}

static void
on_archive_ready (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(OpData) data = user_data;
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(GError) error = NULL;

  session = helix_store_update_session_finish (HELIX_STORE (object), result, &error);

  if (window_is_gone (data->self))
    return;

  if (session == NULL)
    _helix_window_show_error (data->self, error);
  else if (helix_session_get_archived (session))
    show_toast (data->self, _("Chat archived"), "win.unarchive-session", data->session_id);
}

static void
set_archived (HelixWindow *self,
              const char  *session_id,
              gboolean     archived)
{
  helix_store_set_session_flag_async (self->store,
                                      session_id,
                                      HELIX_SESSION_FLAG_ARCHIVED,
                                      archived,
                                      NULL,
                                      on_archive_ready,
                                      op_data_new (self, session_id, NULL));
}

static void
archive_session_action (GtkWidget  *widget,
                        const char *action_name,
                        GVariant   *param)
{
  HelixWindow *self = HELIX_WINDOW (widget);
  const char *session_id = get_target_session_id (self, param);
  HelixSession *session = _helix_window_find_session (self, session_id);

  if (session == NULL)
    return;

  set_archived (self, session_id, !helix_session_get_archived (session));
}

static void
unarchive_session_action (GtkWidget  *widget,
                          const char *action_name,
                          GVariant   *param)
{
  HelixWindow *self = HELIX_WINDOW (widget);
  const char *session_id = get_target_session_id (self, param);

  if (session_id != NULL)
    set_archived (self, session_id, FALSE);
}

static void
on_delete_ready (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(OpData) data = user_data;
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(GError) error = NULL;

  session = helix_store_update_session_finish (HELIX_STORE (object), result, &error);

  if (window_is_gone (data->self))
    return;

  if (session == NULL)
    _helix_window_show_error (data->self, error);
  else
    show_toast (data->self, _("Chat deleted"), "win.undo-delete", data->session_id);
}

static void
delete_session_action (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *param)
{
  HelixWindow *self = HELIX_WINDOW (widget);
  g_autofree char *session_id = g_strdup (get_target_session_id (self, param));

  if (session_id == NULL)
    return;

  /* A tombstone at once, with a way back through the toast. */
  if (self->session != NULL && g_str_equal (helix_session_get_id (self->session), session_id))
    {
      _helix_window_close_session (self);
      g_free (self->deleted_open_session_id);
      self->deleted_open_session_id = g_strdup (session_id);
    }

  helix_store_set_session_flag_async (self->store,
                                      session_id,
                                      HELIX_SESSION_FLAG_DELETED,
                                      TRUE,
                                      NULL,
                                      on_delete_ready,
                                      op_data_new (self, session_id, NULL));
}

static void
on_undo_delete_ready (GObject      *object,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(OpData) data = user_data;
  HelixWindow *self = data->self;
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(GError) error = NULL;

  session = helix_store_update_session_finish (HELIX_STORE (object), result, &error);

  if (window_is_gone (self))
    return;

  if (session == NULL)
    {
      _helix_window_show_error (self, error);
      return;
    }

  /* Back where the user was, if the chat was open and nothing else is. */
  if (g_strcmp0 (self->deleted_open_session_id, data->session_id) == 0 &&
      self->session == NULL && !self->drafting)
    _helix_window_open_session (self, session, FALSE);
}

static void
undo_delete_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *param)
{
  HelixWindow *self = HELIX_WINDOW (widget);
  const char *session_id = g_variant_get_string (param, NULL);

  if (session_id[0] == '\0')
    return;

  helix_store_set_session_flag_async (self->store,
                                      session_id,
                                      HELIX_SESSION_FLAG_DELETED,
                                      FALSE,
                                      NULL,
                                      on_undo_delete_ready,
                                      op_data_new (self, session_id, NULL));
}

static void
open_session_action (GtkWidget  *widget,
                     const char *action_name,
                     GVariant   *param)
{
  HelixWindow *self = HELIX_WINDOW (widget);
  HelixSession *session = _helix_window_find_session (self, g_variant_get_string (param, NULL));

  if (session != NULL)
    _helix_window_open_session (self, session, TRUE);
}

/* Window actions -------------------------------------------------------------- */

static void
new_session_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *param)
{
  _helix_window_start_draft (HELIX_WINDOW (widget));
}

static void
search_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *param)
{
  HelixWindow *self = HELIX_WINDOW (widget);
  GtkWidget *entry = GTK_WIDGET (self->search_entry);
  GtkWidget *focus = gtk_root_get_focus (GTK_ROOT (self));

  /* Ctrl+F opens the search, goes back to it, or closes it from within it. */
  if (!gtk_search_bar_get_search_mode (self->search_bar))
    {
      gtk_search_bar_set_search_mode (self->search_bar, TRUE);
      gtk_widget_grab_focus (entry);
    }
  else if (focus != NULL && (focus == entry || gtk_widget_is_ancestor (focus, entry)))
    {
      gtk_search_bar_set_search_mode (self->search_bar, FALSE);
    }
  else
    {
      if (adw_leaflet_get_folded (self->leaflet))
        adw_leaflet_set_visible_child_name (self->leaflet, "sidebar");
      gtk_widget_grab_focus (entry);
      gtk_editable_select_region (GTK_EDITABLE (entry), 0, -1);
    }
}

static void
go_back_action (GtkWidget  *widget,
                const char *action_name,
                GVariant   *param)
{
  HelixWindow *self = HELIX_WINDOW (widget);

  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
}

static void
scroll_to_bottom_action (GtkWidget  *widget,
                         const char *action_name,
                         GVariant   *param)
{
  _helix_window_scroll_to_bottom (HELIX_WINDOW (widget));
}

static void
dismiss_notice_action (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *param)
{
  HelixWindow *self = HELIX_WINDOW (widget);

  self->notice_dismissed = TRUE;
  gtk_revealer_set_reveal_child (self->notice_revealer, FALSE);
}

void
_helix_window_class_actions_init (HelixWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  gtk_widget_class_install_action (widget_class, "win.new-session", NULL, new_session_action);
  gtk_widget_class_install_action (widget_class, "win.send-message", NULL, send_message_action);
  gtk_widget_class_install_action (widget_class, "win.stop", NULL, stop_action);
  gtk_widget_class_install_action (widget_class, "win.retry", "t", retry_action);
  gtk_widget_class_install_action (widget_class, "win.regenerate", NULL, regenerate_action);
  gtk_widget_class_install_action (widget_class, "win.search", NULL, search_action);
  gtk_widget_class_install_action (widget_class, "win.go-back", NULL, go_back_action);
  gtk_widget_class_install_action (widget_class, "win.scroll-to-bottom", NULL,
                                   scroll_to_bottom_action);
  gtk_widget_class_install_action (widget_class, "win.dismiss-notice", NULL,
                                   dismiss_notice_action);

  /* Each takes a session id; "" means the open session (for the shortcuts). */
  gtk_widget_class_install_action (widget_class, "win.open-session", "s", open_session_action);
  gtk_widget_class_install_action (widget_class, "win.rename-session", "s", rename_session_action);
  gtk_widget_class_install_action (widget_class, "win.pin-session", "s", pin_session_action);
  gtk_widget_class_install_action (widget_class, "win.archive-session", "s",
                                   archive_session_action);
  gtk_widget_class_install_action (widget_class, "win.unarchive-session", "s",
                                   unarchive_session_action);
  gtk_widget_class_install_action (widget_class, "win.delete-session", "s", delete_session_action);
  gtk_widget_class_install_action (widget_class, "win.undo-delete", "s", undo_delete_action);
  gtk_widget_class_install_property_action (widget_class, "win.session-model", "session-model");

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_n, GDK_CONTROL_MASK,
                                       "win.new-session", NULL);
  /* Only while an answer streams in: win.stop is disabled otherwise. */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "win.stop", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_f, GDK_CONTROL_MASK,
                                       "win.search", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F2, 0,
                                       "win.rename-session", "s", "");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Delete, GDK_CONTROL_MASK,
                                       "win.delete-session", "s", "");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_Delete, GDK_CONTROL_MASK,
                                       "win.delete-session", "s", "");
}

void
_helix_window_actions_init (HelixWindow *self)
{
  g_autoptr(GAction) show_archived = NULL;

  g_assert (HELIX_IS_WINDOW (self));
  g_assert (G_IS_SETTINGS (self->settings));

  show_archived = g_settings_create_action (self->settings, "show-archived");
  g_action_map_add_action (G_ACTION_MAP (self), show_archived);
}
