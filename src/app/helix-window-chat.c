/* helix-window-chat.c: the messages of the open session, and the composer
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-message-row.h"
#include "helix-session-menu.h"
#include "helix-window-private.h"

#define BOTTOM_SLACK     8.0
#define USER_SCROLL_USEC (500 * G_TIME_SPAN_MILLISECOND)

/* Messages ---------------------------------------------------------------- */

static gboolean
is_at_bottom (GtkAdjustment *adjustment)
{
  return gtk_adjustment_get_value (adjustment) + gtk_adjustment_get_page_size (adjustment) >=
         gtk_adjustment_get_upper (adjustment) - BOTTOM_SLACK;
}

static void
update_scroll_down_button (HelixWindow *self)
{
  GtkAdjustment *adjustment = gtk_scrolled_window_get_vadjustment (self->message_scroller);
  gboolean reveal;

  reveal = self->message_model != NULL &&
           g_list_model_get_n_items (self->message_model) > 0 &&
           !self->stick_to_bottom &&
           !is_at_bottom (adjustment);

  gtk_revealer_set_reveal_child (self->scroll_down_revealer, reveal);
}

static void
set_scroll_value (HelixWindow   *self,
                  GtkAdjustment *adjustment,
                  double         value)
{
  self->auto_scrolling = TRUE;
  gtk_adjustment_set_value (adjustment, value);
  self->auto_scrolling = FALSE;
}

/* GtkListView estimates the height of the rows it has not measured, so the
 * end of the list is only known once the last rows are laid out: scroll on a
 * few frames in a row, until the bottom stays where it is. */
static gboolean
scroll_to_bottom_tick (GtkWidget     *widget,
                       GdkFrameClock *frame_clock,
                       gpointer       user_data)
{
  HelixWindow *self = HELIX_WINDOW (user_data);
  GtkAdjustment *adjustment = gtk_scrolled_window_get_vadjustment (self->message_scroller);
  double target = gtk_adjustment_get_upper (adjustment) - gtk_adjustment_get_page_size (adjustment);

  if (!self->stick_to_bottom || self->message_list == NULL)
    {
      self->scroll_tick_id = 0;
      return G_SOURCE_REMOVE;
    }

  /* Moving away and back makes the list view re-anchor on measured rows. */
  if (target > 1)
    set_scroll_value (self, adjustment, target - 1);
  set_scroll_value (self, adjustment, target);

  self->last_scroll_value = gtk_adjustment_get_value (adjustment);
  update_scroll_down_button (self);

  if (target != self->scroll_last_target)
    self->scroll_stable_frames = 0;
  else
    self->scroll_stable_frames++;
  self->scroll_last_target = target;

  if (self->scroll_stable_frames < 2)
    return G_SOURCE_CONTINUE;

  self->scroll_tick_id = 0;
  return G_SOURCE_REMOVE;
}

static void
queue_scroll_to_bottom (HelixWindow *self)
{
  self->scroll_stable_frames = 0;
  self->scroll_last_target = -1;

  if (self->scroll_tick_id == 0 && self->message_list_view != NULL)
    self->scroll_tick_id = gtk_widget_add_tick_callback (GTK_WIDGET (self->message_list_view),
                                                         scroll_to_bottom_tick,
                                                         self, NULL);
}

void
_helix_window_scroll_to_bottom (HelixWindow *self)
{
  g_assert (HELIX_IS_WINDOW (self));

  self->stick_to_bottom = TRUE;
  queue_scroll_to_bottom (self);
}

/* Whether the user is scrolling: the list view also moves the adjustment
 * by itself, when it learns the real height of rows it had estimated. */
static gboolean
user_is_scrolling (HelixWindow *self)
{
  return self->pointer_on_scrollbar ||
         g_get_monotonic_time () - self->user_scroll_time < USER_SCROLL_USEC;
}

static void
mark_user_scroll (HelixWindow *self)
{
  self->user_scroll_time = g_get_monotonic_time ();
}

static gboolean
on_message_scroll (HelixWindow              *self,
                   double                    dx,
                   double                    dy,
                   GtkEventControllerScroll *controller)
{
  mark_user_scroll (self);
  return GDK_EVENT_PROPAGATE;
}

static gboolean
on_message_key_pressed (HelixWindow           *self,
                        guint                  keyval,
                        guint                  keycode,
                        GdkModifierType        state,
                        GtkEventControllerKey *controller)
{
  mark_user_scroll (self);
  return GDK_EVENT_PROPAGATE;
}

static void
on_message_touch_drag (HelixWindow    *self,
                       double          x,
                       double          y,
                       GtkGestureDrag *gesture)
{
  mark_user_scroll (self);
}

static void
on_scrollbar_enter (HelixWindow              *self,
                    double                    x,
                    double                    y,
                    GtkEventControllerMotion *controller)
{
  self->pointer_on_scrollbar = TRUE;
}

static void
on_scrollbar_leave (HelixWindow              *self,
                    GtkEventControllerMotion *controller)
{
  self->pointer_on_scrollbar = FALSE;
}

static void
on_vadjustment_value_changed (HelixWindow   *self,
                              GtkAdjustment *adjustment)
{
  double value = gtk_adjustment_get_value (adjustment);

  /* Follow new messages while the view is at the bottom, and stop when the
   * user scrolls up; when the list view moves the view by itself while it
   * follows, go back to the bottom. */
  if (!self->auto_scrolling)
    {
      if (is_at_bottom (adjustment))
        self->stick_to_bottom = TRUE;
      else if (user_is_scrolling (self))
        self->stick_to_bottom = value >= self->last_scroll_value && self->stick_to_bottom;
      else if (self->stick_to_bottom && self->message_list != NULL)
        queue_scroll_to_bottom (self);
    }

  self->last_scroll_value = value;
  update_scroll_down_button (self);
}

static void
on_vadjustment_changed (HelixWindow   *self,
                        GtkAdjustment *adjustment)
{
  if (self->stick_to_bottom && self->message_list != NULL)
    queue_scroll_to_bottom (self);

  update_scroll_down_button (self);
}

void
_helix_window_update_header (HelixWindow *self)
{
  g_autofree char *subtitle = NULL;
  const char *title = "";

  g_assert (HELIX_IS_WINDOW (self));

  if (self->session != NULL)
    {
      guint n_messages = 0;

      title = helix_session_get_title (self->session);
      if (title == NULL || title[0] == '\0')
        title = _("Untitled Chat");

      if (self->message_list != NULL)
        n_messages = g_list_model_get_n_items (G_LIST_MODEL (self->message_list));

      if (n_messages == 0)
        subtitle = g_strdup (_("Saved on this device"));
      else
        subtitle = g_strdup_printf (ngettext ("%u message", "%u messages", n_messages),
                                    n_messages);

      /* The model pinned for the chat (win.session-model), in view. */
      if (helix_session_get_model (self->session) != NULL)
        {
          g_autofree char *counted = g_steal_pointer (&subtitle);

          /* Translators: the number of messages of a chat, then the model the user
           * chose for all its answers, e.g. "3 messages · deepseek-reasoner" */
          subtitle = g_strdup_printf (_("%s · %s"), counted,
                                      helix_session_get_model (self->session));
        }
    }
  else if (self->drafting)
    {
      title = _("New Chat");
      subtitle = g_strdup (_("Saved on this device"));
    }

  adw_window_title_set_title (self->window_title, title);
  adw_window_title_set_subtitle (self->window_title, subtitle);

  /* For the window switcher. */
  gtk_window_set_title (GTK_WINDOW (self), title[0] != '\0' ? title : _("Helix"));
}

void
_helix_window_update_session_menu (HelixWindow *self)
{
  g_autoptr(GMenuModel) menu = NULL;
  g_auto(GStrv) models = NULL;

  g_assert (HELIX_IS_WINDOW (self));

  if (self->session != NULL)
    {
      models = self->router != NULL ? helix_router_list_models (self->router)
                                    : g_new0 (char *, 1);
      menu = helix_session_menu_new_with_models (self->session,
                                                 (const char * const *) models);
    }

  gtk_menu_button_set_menu_model (self->session_menu_button, menu);
  gtk_widget_set_visible (GTK_WIDGET (self->session_menu_button), menu != NULL);

  /* The state of win.session-model follows the open session. */
  _helix_window_notify_session_model (self);
}

void
_helix_window_update_content_page (HelixWindow *self)
{
  gboolean has_messages;

  g_assert (HELIX_IS_WINDOW (self));

  if (self->session == NULL && !self->drafting)
    {
      gtk_stack_set_visible_child_name (self->content_stack, "welcome");
      return;
    }

  has_messages = self->message_model != NULL &&
                 g_list_model_get_n_items (self->message_model) > 0;

  gtk_stack_set_visible_child_name (self->messages_stack, has_messages ? "messages" : "new");
  gtk_stack_set_visible_child_name (self->content_stack, "chat");
}

static gboolean
row_is_last (HelixWindow     *self,
             HelixMessageRow *row)
{
  HelixMessage *message = helix_message_row_get_message (row);
  guint n_items;

  if (helix_message_row_get_call (row) != NULL)
    return TRUE;
  if (message == NULL || self->message_model == NULL)
    return FALSE;

  /* The stored messages come first, in the order of their positions. */
  n_items = g_list_model_get_n_items (self->message_model);
  return n_items > 0 && helix_message_get_position (message) == n_items - 1;
}

/**
 * _helix_window_update_last_rows:
 * @self: a #HelixWindow
 *
 * Tells the rows shown whether they are the last of the chat (the last answer
 * offers Regenerate or Retry): a row is only bound again when its own item
 * changes, not when one is added after it.
 */
void
_helix_window_update_last_rows (HelixWindow *self)
{
  g_assert (HELIX_IS_WINDOW (self));

  if (self->message_list_view == NULL)
    return;

  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->message_list_view));
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *row = gtk_widget_get_first_child (child);

      if (HELIX_IS_MESSAGE_ROW (row))
        helix_message_row_set_last (HELIX_MESSAGE_ROW (row),
                                    row_is_last (self, HELIX_MESSAGE_ROW (row)));
    }
}

static void
on_message_list_items_changed (HelixWindow *self,
                               guint        position,
                               guint        removed,
                               guint        added,
                               GListModel  *model)
{
  _helix_window_update_header (self);
  _helix_window_update_content_page (self);
  _helix_window_update_last_rows (self);
  _helix_window_update_actions (self);

  if (self->stick_to_bottom)
    queue_scroll_to_bottom (self);
}

static void
clear_message_list (HelixWindow *self)
{
  g_assert (HELIX_IS_WINDOW (self));

  if (self->message_model != NULL)
    g_clear_signal_handler (&self->message_list_changed_handler, self->message_model);
  if (self->message_list_view != NULL)
    gtk_list_view_set_model (self->message_list_view, NULL);
  g_clear_object (&self->message_model);
  g_clear_object (&self->message_list);
  if (self->scroll_tick_id != 0 && self->message_list_view != NULL)
    gtk_widget_remove_tick_callback (GTK_WIDGET (self->message_list_view), self->scroll_tick_id);
  self->scroll_tick_id = 0;
}

static void
message_factory_setup (GtkSignalListItemFactory *factory,
                       GtkListItem              *list_item,
                       HelixWindow              *self)
{
  gtk_list_item_set_activatable (list_item, FALSE);
  gtk_list_item_set_selectable (list_item, FALSE);
  gtk_list_item_set_child (list_item, helix_message_row_new ());
}

static void
message_factory_bind (GtkSignalListItemFactory *factory,
                      GtkListItem              *list_item,
                      HelixWindow              *self)
{
  HelixMessageRow *row = HELIX_MESSAGE_ROW (gtk_list_item_get_child (list_item));
  gpointer item = gtk_list_item_get_item (list_item);

  /* Stored messages, then the answers on their way. */
  if (HELIX_IS_CHAT_CALL (item))
    helix_message_row_set_call (row, item);
  else
    helix_message_row_set_message (row, item);

  helix_message_row_set_last (row, row_is_last (self, row));
}

static void
message_factory_unbind (GtkSignalListItemFactory *factory,
                        GtkListItem              *list_item,
                        HelixWindow              *self)
{
  HelixMessageRow *row = HELIX_MESSAGE_ROW (gtk_list_item_get_child (list_item));

  helix_message_row_set_message (row, NULL);
  helix_message_row_set_call (row, NULL);
}

/**
 * _helix_window_set_message_list:
 * @self: a #HelixWindow
 * @message_list: (nullable): the messages to show
 *
 * Shows @message_list, scrolled to its end.
 */
void
_helix_window_set_message_list (HelixWindow      *self,
                                HelixMessageList *message_list)
{
  g_autoptr(GtkNoSelection) selection = NULL;
  g_autoptr(GListStore) parts = NULL;
  const char *session_id;

  g_assert (HELIX_IS_WINDOW (self));

  clear_message_list (self);

  if (message_list == NULL)
    {
      if (self->scroll_down_revealer != NULL)
        gtk_revealer_set_reveal_child (self->scroll_down_revealer, FALSE);
      return;
    }

  self->message_list = g_object_ref (message_list);
  session_id = helix_message_list_get_session_id (message_list);

  /* The answers of this session on their way follow its stored messages; they
   * keep going when another session is shown. */
  parts = g_list_store_new (G_TYPE_LIST_MODEL);
  g_list_store_append (parts, message_list);
  if (self->chat != NULL)
    g_list_store_append (parts, helix_chat_controller_get_calls (self->chat, session_id));
  self->message_model =
    G_LIST_MODEL (gtk_flatten_list_model_new (G_LIST_MODEL (g_steal_pointer (&parts))));
  self->message_list_changed_handler =
    g_signal_connect_object (self->message_model,
                             "items-changed",
                             G_CALLBACK (on_message_list_items_changed),
                             self,
                             G_CONNECT_SWAPPED);
  selection = gtk_no_selection_new (g_object_ref (self->message_model));
  gtk_list_view_set_model (self->message_list_view, GTK_SELECTION_MODEL (selection));

  self->stick_to_bottom = TRUE;
  self->last_scroll_value = 0;
  queue_scroll_to_bottom (self);
}

/* Composer ---------------------------------------------------------------- */

static void
on_composer_changed (HelixWindow   *self,
                     GtkTextBuffer *buffer)
{
  gtk_widget_set_visible (GTK_WIDGET (self->composer_placeholder),
                          gtk_text_buffer_get_char_count (buffer) == 0);
  _helix_window_update_actions (self);
}

static void
on_composer_preedit_changed (HelixWindow *self,
                             const char  *preedit,
                             GtkTextView *text_view)
{
  self->has_preedit = preedit != NULL && preedit[0] != '\0';
}

static gboolean
on_composer_key_pressed (HelixWindow           *self,
                         guint                  keyval,
                         guint                  keycode,
                         GdkModifierType        state,
                         GtkEventControllerKey *controller)
{
  if (keyval != GDK_KEY_Return && keyval != GDK_KEY_KP_Enter && keyval != GDK_KEY_ISO_Enter)
    return GDK_EVENT_PROPAGATE;

  /* Shift+Enter is a new line; an input method composing text owns Enter. */
  if ((state & (GDK_SHIFT_MASK | GDK_ALT_MASK)) != 0 || self->has_preedit)
    return GDK_EVENT_PROPAGATE;

  gtk_widget_activate_action (GTK_WIDGET (self), "win.send-message", NULL);
  return GDK_EVENT_STOP;
}


/* Setup --------------------------------------------------------------------- */

/**
 * _helix_window_chat_init:
 * @self: a #HelixWindow
 *
 * Sets up the message view and the composer, from the window's init.
 */
void
_helix_window_chat_init (HelixWindow *self)
{
  g_autoptr(GtkListItemFactory) message_factory = NULL;
  GtkEventController *controller;
  GtkAdjustment *vadjustment;
  GtkTextBuffer *buffer;

  /* Messages */
  message_factory = gtk_signal_list_item_factory_new ();
  g_signal_connect (message_factory, "setup", G_CALLBACK (message_factory_setup), self);
  g_signal_connect (message_factory, "bind", G_CALLBACK (message_factory_bind), self);
  g_signal_connect (message_factory, "unbind", G_CALLBACK (message_factory_unbind), self);
  gtk_list_view_set_factory (self->message_list_view, message_factory);

  vadjustment = gtk_scrolled_window_get_vadjustment (self->message_scroller);
  g_signal_connect_object (vadjustment,
                           "value-changed",
                           G_CALLBACK (on_vadjustment_value_changed),
                           self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (vadjustment,
                           "changed",
                           G_CALLBACK (on_vadjustment_changed),
                           self,
                           G_CONNECT_SWAPPED);

  /* Input that scrolls the messages, to tell it from the list view's own
   * adjustments (see on_vadjustment_value_changed()). */
  controller = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_VERTICAL |
                                                GTK_EVENT_CONTROLLER_SCROLL_KINETIC);
  gtk_event_controller_set_propagation_phase (controller, GTK_PHASE_CAPTURE);
  g_signal_connect_object (controller, "scroll", G_CALLBACK (on_message_scroll), self,
                           G_CONNECT_SWAPPED);
  gtk_widget_add_controller (GTK_WIDGET (self->message_scroller), controller);

  controller = GTK_EVENT_CONTROLLER (gtk_gesture_drag_new ());
  gtk_gesture_single_set_touch_only (GTK_GESTURE_SINGLE (controller), TRUE);
  gtk_event_controller_set_propagation_phase (controller, GTK_PHASE_CAPTURE);
  g_signal_connect_object (controller, "drag-update", G_CALLBACK (on_message_touch_drag), self,
                           G_CONNECT_SWAPPED);
  gtk_widget_add_controller (GTK_WIDGET (self->message_scroller), controller);

  controller = gtk_event_controller_key_new ();
  gtk_event_controller_set_propagation_phase (controller, GTK_PHASE_CAPTURE);
  g_signal_connect_object (controller, "key-pressed", G_CALLBACK (on_message_key_pressed), self,
                           G_CONNECT_SWAPPED);
  gtk_widget_add_controller (GTK_WIDGET (self->message_list_view), controller);

  controller = gtk_event_controller_motion_new ();
  g_signal_connect_object (controller, "enter", G_CALLBACK (on_scrollbar_enter), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (controller, "leave", G_CALLBACK (on_scrollbar_leave), self,
                           G_CONNECT_SWAPPED);
  gtk_widget_add_controller (gtk_scrolled_window_get_vscrollbar (self->message_scroller),
                             controller);

  /* Composer */
  buffer = gtk_text_view_get_buffer (self->composer_view);
  g_signal_connect_object (buffer,
                           "changed",
                           G_CALLBACK (on_composer_changed),
                           self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->composer_view,
                           "preedit-changed",
                           G_CALLBACK (on_composer_preedit_changed),
                           self,
                           G_CONNECT_SWAPPED);

  controller = gtk_event_controller_key_new ();
  gtk_event_controller_set_propagation_phase (controller, GTK_PHASE_CAPTURE);
  g_signal_connect_object (controller,
                           "key-pressed",
                           G_CALLBACK (on_composer_key_pressed),
                           self,
                           G_CONNECT_SWAPPED);
  gtk_widget_add_controller (GTK_WIDGET (self->composer_view), controller);
}
