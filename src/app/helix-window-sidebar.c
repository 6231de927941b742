/* helix-window-sidebar.c: the list of sessions, and searching them
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-session-row.h"
#include "helix-window-private.h"

#define SEARCH_LIMIT 200

/* Sessions ---------------------------------------------------------------- */

static void
update_sidebar_page (HelixWindow *self)
{
  const char *page;

  g_assert (HELIX_IS_WINDOW (self));

  if (self->session_list == NULL)
    return;

  if (self->search_query != NULL)
    {
      /* Until the first results arrive the list stays as it was. */
      if (self->search_results == NULL)
        return;
      page = g_list_model_get_n_items (self->search_results) > 0 ? "sessions" : "no-results";
    }
  else if (g_list_model_get_n_items (G_LIST_MODEL (self->session_list)) > 0)
    page = "sessions";
  else if (helix_session_list_get_loading (self->session_list))
    page = "loading";
  else
    page = "empty";

  gtk_spinner_set_spinning (self->sidebar_spinner, g_str_equal (page, "loading"));
  gtk_stack_set_visible_child_name (self->sidebar_stack, page);
}

/* Selects the open session in the list without reacting to it. */
void
_helix_window_sync_selection (HelixWindow *self)
{
  guint position = GTK_INVALID_LIST_POSITION;

  g_assert (HELIX_IS_WINDOW (self));

  if (self->session_selection == NULL || self->search_query != NULL)
    return;

  if (self->session == NULL ||
      helix_session_list_find (self->session_list,
                               helix_session_get_id (self->session),
                               &position) == NULL)
    position = GTK_INVALID_LIST_POSITION;

  if (gtk_single_selection_get_selected (self->session_selection) != position)
    {
      self->selection_guard++;
      gtk_single_selection_set_selected (self->session_selection, position);
      self->selection_guard--;
    }
}

static void
set_sidebar_model (HelixWindow *self,
                   GListModel  *model)
{
  g_assert (HELIX_IS_WINDOW (self));

  self->selection_guard++;
  gtk_single_selection_set_model (self->session_selection, model);
  gtk_single_selection_set_selected (self->session_selection, GTK_INVALID_LIST_POSITION);
  self->selection_guard--;
}

static void
try_restore_session (HelixWindow *self)
{
  HelixSession *session;

  g_assert (HELIX_IS_WINDOW (self));

  if (self->restore_session_id == NULL)
    return;

  if (self->session != NULL || self->drafting)
    {
      /* The user was quicker. */
      g_clear_pointer (&self->restore_session_id, g_free);
      return;
    }

  session = helix_session_list_find (self->session_list, self->restore_session_id, NULL);
  if (session != NULL)
    {
      g_clear_pointer (&self->restore_session_id, g_free);
      _helix_window_open_session (self, session, FALSE);
    }
  else if (!helix_session_list_get_loading (self->session_list))
    {
      g_debug ("Last session %s no longer exists", self->restore_session_id);
      g_clear_pointer (&self->restore_session_id, g_free);
    }
}

static gboolean
session_list_loaded_idle (gpointer user_data)
{
  HelixWindow *self = HELIX_WINDOW (user_data);

  self->loaded_idle_id = 0;

  try_restore_session (self);
  update_sidebar_page (self);

  return G_SOURCE_REMOVE;
}

static void
on_session_list_loading_changed (HelixWindow      *self,
                                 GParamSpec       *pspec,
                                 HelixSessionList *list)
{
  /* Not from within the notification: the list may announce the end of
   * loading before its items-changed, and the views are not told yet. */
  if (self->loaded_idle_id == 0)
    self->loaded_idle_id = g_idle_add_full (G_PRIORITY_HIGH, session_list_loaded_idle, self, NULL);
}

static void
on_session_selection_items_changed (HelixWindow *self,
                                    guint        position,
                                    guint        removed,
                                    guint        added,
                                    GListModel  *model)
{
  try_restore_session (self);
  _helix_window_sync_selection (self);
  update_sidebar_page (self);
}

static void
on_session_selection_changed (HelixWindow        *self,
                              GParamSpec         *pspec,
                              GtkSingleSelection *selection)
{
  gpointer item;

  if (self->selection_guard > 0)
    return;

  item = gtk_single_selection_get_selected_item (selection);
  if (item == NULL)
    return;

  if (HELIX_IS_SEARCH_HIT (item))
    _helix_window_open_session (self, helix_search_hit_get_session (item), TRUE);
  else if (HELIX_IS_SESSION (item))
    _helix_window_open_session (self, item, TRUE);
}

static void
on_session_list_activate (HelixWindow *self,
                          guint        position,
                          GtkListView *list_view)
{
  g_autoptr(GObject) item = NULL;

  item = g_list_model_get_item (G_LIST_MODEL (self->session_selection), position);
  if (item == NULL)
    return;

  if (HELIX_IS_SEARCH_HIT (item))
    _helix_window_open_session (self, helix_search_hit_get_session (HELIX_SEARCH_HIT (item)), TRUE);
  else if (HELIX_IS_SESSION (item))
    _helix_window_open_session (self, HELIX_SESSION (item), TRUE);
}

static void
session_factory_setup (GtkSignalListItemFactory *factory,
                       GtkListItem              *list_item,
                       HelixWindow              *self)
{
  gtk_list_item_set_child (list_item, helix_session_row_new ());
}

static void
session_factory_bind (GtkSignalListItemFactory *factory,
                      GtkListItem              *list_item,
                      HelixWindow              *self)
{
  HelixSessionRow *row = HELIX_SESSION_ROW (gtk_list_item_get_child (list_item));
  gpointer item = gtk_list_item_get_item (list_item);

  if (HELIX_IS_SEARCH_HIT (item))
    helix_session_row_set_session (row,
                                   helix_search_hit_get_session (item),
                                   helix_search_hit_get_snippet (item));
  else
    helix_session_row_set_session (row, item, NULL);
}

static void
session_factory_unbind (GtkSignalListItemFactory *factory,
                        GtkListItem              *list_item,
                        HelixWindow              *self)
{
  helix_session_row_set_session (HELIX_SESSION_ROW (gtk_list_item_get_child (list_item)),
                                 NULL, NULL);
}

static const char *
get_selected_session_id (HelixWindow *self)
{
  gpointer item = gtk_single_selection_get_selected_item (self->session_selection);

  if (HELIX_IS_SEARCH_HIT (item))
    return helix_session_get_id (helix_search_hit_get_session (item));
  if (HELIX_IS_SESSION (item))
    return helix_session_get_id (item);
  return NULL;
}

static gboolean
on_session_list_delete_shortcut (GtkWidget *widget,
                                 GVariant  *args,
                                 gpointer   user_data)
{
  HelixWindow *self = HELIX_WINDOW (user_data);
  const char *session_id = get_selected_session_id (self);

  if (session_id == NULL)
    return FALSE;

  gtk_widget_activate_action (GTK_WIDGET (self), "win.delete-session", "s", session_id);
  return TRUE;
}

static gboolean
on_session_list_menu_shortcut (GtkWidget *widget,
                               GVariant  *args,
                               gpointer   user_data)
{
  HelixWindow *self = HELIX_WINDOW (user_data);
  GtkWidget *focus = gtk_root_get_focus (GTK_ROOT (self));

  /* The focus is on the list item; the row is its child. */
  for (GtkWidget *child = focus != NULL ? gtk_widget_get_first_child (focus) : NULL;
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      if (HELIX_IS_SESSION_ROW (child))
        {
          helix_session_row_popup_menu (HELIX_SESSION_ROW (child));
          return TRUE;
        }
    }

  return FALSE;
}

/* Search ------------------------------------------------------------------ */

typedef struct
{
  HelixWindow  *self;
  GCancellable *cancellable;
} SearchData;

static void
search_data_free (SearchData *data)
{
  g_clear_object (&data->self);
  g_clear_object (&data->cancellable);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SearchData, search_data_free)

static void
end_search (HelixWindow *self)
{
  g_assert (HELIX_IS_WINDOW (self));

  g_cancellable_cancel (self->search_cancellable);
  g_clear_object (&self->search_cancellable);

  if (self->search_query == NULL)
    return;

  g_clear_pointer (&self->search_query, g_free);
  g_clear_object (&self->search_results);

  set_sidebar_model (self, G_LIST_MODEL (self->session_list));
  _helix_window_sync_selection (self);
  update_sidebar_page (self);
}

static void
on_search_ready (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(SearchData) data = user_data;
  HelixWindow *self = data->self;
  g_autoptr(GListModel) results = NULL;
  g_autoptr(GError) error = NULL;

  results = helix_store_search_finish (HELIX_STORE (object), result, &error);

  /* A newer search, or the end of searching, superseded this one. */
  if (data->cancellable != self->search_cancellable ||
      g_cancellable_is_cancelled (data->cancellable) ||
      self->search_query == NULL)
    return;

  if (results == NULL)
    {
      g_debug ("Search failed: %s", error->message);
      results = G_LIST_MODEL (g_list_store_new (HELIX_TYPE_SEARCH_HIT));
    }

  g_set_object (&self->search_results, results);
  set_sidebar_model (self, results);
  update_sidebar_page (self);
}

static void
on_search_changed (HelixWindow    *self,
                   GtkSearchEntry *entry)
{
  g_autofree char *query = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (entry))));
  SearchData *data;

  if (query[0] == '\0')
    {
      end_search (self);
      return;
    }

  if (g_strcmp0 (query, self->search_query) == 0)
    return;

  g_cancellable_cancel (self->search_cancellable);
  g_clear_object (&self->search_cancellable);
  self->search_cancellable = g_cancellable_new ();

  g_free (self->search_query);
  self->search_query = g_steal_pointer (&query);

  data = g_new0 (SearchData, 1);
  data->self = g_object_ref (self);
  data->cancellable = g_object_ref (self->search_cancellable);

  helix_store_search_async (self->store,
                            self->search_query,
                            SEARCH_LIMIT,
                            self->search_cancellable,
                            on_search_ready,
                            data);
}

static void
on_search_activate (HelixWindow    *self,
                    GtkSearchEntry *entry)
{
  GListModel *model = G_LIST_MODEL (self->session_selection);

  /* Enter opens the first result. */
  if (self->search_results != NULL && g_list_model_get_n_items (model) > 0)
    {
      gtk_single_selection_set_selected (self->session_selection, 0);
      on_session_list_activate (self, 0, self->session_list_view);
    }
}

static void
on_search_mode_changed (HelixWindow  *self,
                        GParamSpec   *pspec,
                        GtkSearchBar *search_bar)
{
  if (!gtk_search_bar_get_search_mode (search_bar))
    {
      gtk_editable_set_text (GTK_EDITABLE (self->search_entry), "");
      end_search (self);
    }
  else if (adw_leaflet_get_folded (self->leaflet))
    {
      adw_leaflet_set_visible_child_name (self->leaflet, "sidebar");
    }
}

/* Setup --------------------------------------------------------------------- */

static void
add_shortcut (GtkEventController    *controller,
              guint                  keyval,
              GdkModifierType        modifiers,
              GtkShortcutFunc        callback,
              HelixWindow           *self)
{
  GtkShortcut *shortcut;

  shortcut = gtk_shortcut_new (gtk_keyval_trigger_new (keyval, modifiers),
                               gtk_callback_action_new (callback, self, NULL));
  gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (controller), shortcut);
}

/**
 * _helix_window_sidebar_init:
 * @self: a #HelixWindow
 *
 * Sets up the sidebar's rows, keys and search, from the window's init.
 */
void
_helix_window_sidebar_init (HelixWindow *self)
{
  g_autoptr(GtkListItemFactory) session_factory = NULL;
  GtkEventController *controller;

  /* Rows */
  session_factory = gtk_signal_list_item_factory_new ();
  g_signal_connect (session_factory, "setup", G_CALLBACK (session_factory_setup), self);
  g_signal_connect (session_factory, "bind", G_CALLBACK (session_factory_bind), self);
  g_signal_connect (session_factory, "unbind", G_CALLBACK (session_factory_unbind), self);
  gtk_list_view_set_factory (self->session_list_view, session_factory);

  /* Delete and the context menu key act on the list's rows; they stay out of
   * the way of typing because they only exist on the list. */
  controller = gtk_shortcut_controller_new ();
  add_shortcut (controller, GDK_KEY_Delete, 0, on_session_list_delete_shortcut, self);
  add_shortcut (controller, GDK_KEY_KP_Delete, 0, on_session_list_delete_shortcut, self);
  add_shortcut (controller, GDK_KEY_F10, GDK_SHIFT_MASK, on_session_list_menu_shortcut, self);
  add_shortcut (controller, GDK_KEY_Menu, 0, on_session_list_menu_shortcut, self);
  gtk_widget_add_controller (GTK_WIDGET (self->session_list_view), controller);

  gtk_search_bar_connect_entry (self->search_bar, GTK_EDITABLE (self->search_entry));
  gtk_search_bar_set_key_capture_widget (self->search_bar, GTK_WIDGET (self->session_list_view));
}

/**
 * _helix_window_sidebar_constructed:
 * @self: a #HelixWindow
 *
 * Shows the sessions of the window's store, and reopens the last one once
 * they are loaded.
 */
void
_helix_window_sidebar_constructed (HelixWindow *self)
{
  g_autofree char *last_session = NULL;

  g_assert (HELIX_IS_STORE (self->store));

  self->session_list = helix_session_list_new (self->store);
  g_settings_bind (self->settings, "show-archived",
                   self->session_list, "show-archived",
                   G_SETTINGS_BIND_GET);
  g_signal_connect_object (self->session_list,
                           "notify::loading",
                           G_CALLBACK (on_session_list_loading_changed),
                           self,
                           G_CONNECT_SWAPPED);

  self->session_selection =
    gtk_single_selection_new (g_object_ref (G_LIST_MODEL (self->session_list)));
  gtk_single_selection_set_autoselect (self->session_selection, FALSE);
  gtk_single_selection_set_can_unselect (self->session_selection, TRUE);
  gtk_single_selection_set_selected (self->session_selection, GTK_INVALID_LIST_POSITION);
  g_signal_connect_object (self->session_selection,
                           "notify::selected-item",
                           G_CALLBACK (on_session_selection_changed),
                           self,
                           G_CONNECT_SWAPPED);
  gtk_list_view_set_model (self->session_list_view,
                           GTK_SELECTION_MODEL (self->session_selection));
  /* After the list view has caught up with the change: selecting a row it
   * does not know about yet would confuse it. */
  g_signal_connect_object (self->session_selection,
                           "items-changed",
                           G_CALLBACK (on_session_selection_items_changed),
                           self,
                           G_CONNECT_SWAPPED | G_CONNECT_AFTER);

  last_session = g_settings_get_string (self->settings, "last-session");
  if (last_session[0] != '\0')
    self->restore_session_id = g_steal_pointer (&last_session);

  update_sidebar_page (self);
  try_restore_session (self);
}

void
_helix_window_sidebar_dispose (HelixWindow *self)
{
  g_cancellable_cancel (self->search_cancellable);
  g_clear_handle_id (&self->loaded_idle_id, g_source_remove);
}

void
_helix_window_class_sidebar_init (HelixWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  gtk_widget_class_bind_template_callback (widget_class, on_search_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_search_activate);
  gtk_widget_class_bind_template_callback (widget_class, on_search_mode_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_session_list_activate);
}
