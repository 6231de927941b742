/* helix-session-row.c: one chat session in the sidebar
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-session-menu.h"
#include "helix-session-row.h"

struct _HelixSessionRow
{
  GtkWidget     parent_instance;

  HelixSession *session;
  char         *snippet;
  gulong        notify_handler;

  GtkPopover   *menu_popover;

  GtkBox       *box;
  GtkLabel     *title_label;
  GtkLabel     *subtitle_label;
  GtkImage     *pin_icon;
  GtkImage     *archived_icon;
};

enum {
  PROP_0,
  PROP_SESSION,
  PROP_SNIPPET,
  N_PROPS
};

G_DEFINE_FINAL_TYPE (HelixSessionRow, helix_session_row, GTK_TYPE_WIDGET)

static GParamSpec *properties[N_PROPS];

/* Titles are one line in the sidebar: collapse runs of white space, newlines included. */
static char *
one_line (const char *text)
{
  GString *str;
  gboolean space = FALSE;

  str = g_string_new (NULL);
  for (const char *p = text; p != NULL && *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_isspace (c))
        {
          space = str->len > 0;
          continue;
        }
      if (space)
        g_string_append_c (str, ' ');
      space = FALSE;
      g_string_append_unichar (str, c);
    }

  return g_string_free (str, FALSE);
}

static void
helix_session_row_update (HelixSessionRow *self)
{
  g_autofree char *title = NULL;
  g_autofree char *snippet = NULL;
  gboolean pinned = FALSE;
  gboolean archived = FALSE;

  g_assert (HELIX_IS_SESSION_ROW (self));

  if (self->session != NULL)
    {
      title = one_line (helix_session_get_title (self->session));
      pinned = helix_session_get_pinned (self->session);
      archived = helix_session_get_archived (self->session);
    }

  if (title == NULL || title[0] == '\0')
    {
      g_free (title);
      title = g_strdup (_("Untitled Chat"));
    }

  if (self->snippet != NULL)
    snippet = one_line (self->snippet);

  gtk_label_set_text (self->title_label, title);
  gtk_label_set_text (self->subtitle_label, snippet != NULL ? snippet : "");
  gtk_widget_set_visible (GTK_WIDGET (self->subtitle_label), snippet != NULL && snippet[0] != '\0');
  gtk_widget_set_visible (GTK_WIDGET (self->pin_icon), pinned);
  gtk_widget_set_visible (GTK_WIDGET (self->archived_icon), archived);
}

static void
on_session_notify (HelixSessionRow *self,
                   GParamSpec      *pspec,
                   HelixSession    *session)
{
  helix_session_row_update (self);
}

static void
helix_session_row_popup_menu_at (HelixSessionRow *self,
                                 double           x,
                                 double           y)
{
  g_autoptr(GMenuModel) model = NULL;

  g_assert (HELIX_IS_SESSION_ROW (self));

  if (self->session == NULL)
    return;

  /* Built on demand so the labels say what the item will do (Pin or Unpin). */
  model = helix_session_menu_new (self->session);

  if (self->menu_popover == NULL)
    {
      self->menu_popover = GTK_POPOVER (gtk_popover_menu_new_from_model (NULL));
      gtk_popover_set_has_arrow (self->menu_popover, FALSE);
      gtk_widget_set_halign (GTK_WIDGET (self->menu_popover), GTK_ALIGN_START);
      gtk_widget_set_parent (GTK_WIDGET (self->menu_popover), GTK_WIDGET (self));
    }

  gtk_popover_menu_set_menu_model (GTK_POPOVER_MENU (self->menu_popover), model);

  if (x >= 0 && y >= 0)
    gtk_popover_set_pointing_to (self->menu_popover,
                                 &(GdkRectangle) { (int) x, (int) y, 1, 1 });
  else
    gtk_popover_set_pointing_to (self->menu_popover, NULL);

  gtk_popover_popup (self->menu_popover);
}

static void
on_secondary_click_pressed (GtkGestureClick *gesture,
                            int              n_press,
                            double           x,
                            double           y,
                            HelixSessionRow *self)
{
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  helix_session_row_popup_menu_at (self, x, y);
}

static void
on_long_press_pressed (GtkGestureLongPress *gesture,
                       double               x,
                       double               y,
                       HelixSessionRow     *self)
{
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  helix_session_row_popup_menu_at (self, x, y);
}

static void
helix_session_row_size_allocate (GtkWidget *widget,
                                 int        width,
                                 int        height,
                                 int        baseline)
{
  HelixSessionRow *self = HELIX_SESSION_ROW (widget);

  GTK_WIDGET_CLASS (helix_session_row_parent_class)->size_allocate (widget,
                                                                    width, height, baseline);

  if (self->menu_popover != NULL)
    gtk_popover_present (self->menu_popover);
}

static void
helix_session_row_dispose (GObject *object)
{
  HelixSessionRow *self = (HelixSessionRow *)object;

  helix_session_row_set_session (self, NULL, NULL);
  g_clear_pointer ((GtkWidget **)&self->menu_popover, gtk_widget_unparent);
  gtk_widget_dispose_template (GTK_WIDGET (self), HELIX_TYPE_SESSION_ROW);

  G_OBJECT_CLASS (helix_session_row_parent_class)->dispose (object);
}

static void
helix_session_row_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  HelixSessionRow *self = HELIX_SESSION_ROW (object);

  switch (prop_id)
    {
    case PROP_SESSION:
      g_value_set_object (value, self->session);
      break;

    case PROP_SNIPPET:
      g_value_set_string (value, self->snippet);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_session_row_class_init (HelixSessionRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = helix_session_row_dispose;
  object_class->get_property = helix_session_row_get_property;

  widget_class->size_allocate = helix_session_row_size_allocate;

  /**
   * HelixSessionRow:session:
   *
   * The session shown by the row, or %NULL.
   */
  properties[PROP_SESSION] =
    g_param_spec_object ("session", NULL, NULL,
                         HELIX_TYPE_SESSION,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * HelixSessionRow:snippet:
   *
   * The matching text of a search result, shown under the title, or %NULL.
   */
  properties[PROP_SNIPPET] =
    g_param_spec_string ("snippet", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/ai/helix/Helix/ui/helix-session-row.ui");
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "helixsessionrow");

  gtk_widget_class_bind_template_child (widget_class, HelixSessionRow, box);
  gtk_widget_class_bind_template_child (widget_class, HelixSessionRow, title_label);
  gtk_widget_class_bind_template_child (widget_class, HelixSessionRow, subtitle_label);
  gtk_widget_class_bind_template_child (widget_class, HelixSessionRow, pin_icon);
  gtk_widget_class_bind_template_child (widget_class, HelixSessionRow, archived_icon);
  gtk_widget_class_bind_template_callback (widget_class, on_secondary_click_pressed);
  gtk_widget_class_bind_template_callback (widget_class, on_long_press_pressed);
}

static void
helix_session_row_init (HelixSessionRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  helix_session_row_update (self);
}

/**
 * helix_session_row_new:
 *
 * Returns: (transfer full): a new #HelixSessionRow showing no session
 */
GtkWidget *
helix_session_row_new (void)
{
  return g_object_new (HELIX_TYPE_SESSION_ROW, NULL);
}

/**
 * helix_session_row_get_session:
 * @self: a #HelixSessionRow
 *
 * Returns: (transfer none) (nullable): the session shown
 */
HelixSession *
helix_session_row_get_session (HelixSessionRow *self)
{
  g_return_val_if_fail (HELIX_IS_SESSION_ROW (self), NULL);

  return self->session;
}

/**
 * helix_session_row_get_snippet:
 * @self: a #HelixSessionRow
 *
 * Returns: (nullable): the search snippet shown under the title
 */
const char *
helix_session_row_get_snippet (HelixSessionRow *self)
{
  g_return_val_if_fail (HELIX_IS_SESSION_ROW (self), NULL);

  return self->snippet;
}

/**
 * helix_session_row_set_session:
 * @self: a #HelixSessionRow
 * @session: (nullable): the session to show
 * @snippet: (nullable): matching text of a search result, shown under the title
 *
 * Shows @session and follows its changes (a rename, pinning) until another
 * session is set. List item factories call this from bind and, with %NULL,
 * from unbind.
 */
void
helix_session_row_set_session (HelixSessionRow *self,
                               HelixSession    *session,
                               const char      *snippet)
{
  g_return_if_fail (HELIX_IS_SESSION_ROW (self));
  g_return_if_fail (session == NULL || HELIX_IS_SESSION (session));

  if (self->session != session)
    {
      if (self->session != NULL)
        {
          g_clear_signal_handler (&self->notify_handler, self->session);
          g_clear_object (&self->session);
        }

      if (session != NULL)
        {
          self->session = g_object_ref (session);
          self->notify_handler = g_signal_connect_object (session,
                                                          "notify",
                                                          G_CALLBACK (on_session_notify),
                                                          self,
                                                          G_CONNECT_SWAPPED);
        }

      if (self->menu_popover != NULL)
        gtk_popover_popdown (self->menu_popover);

      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SESSION]);
    }

  if (g_strcmp0 (self->snippet, snippet) != 0)
    {
      g_free (self->snippet);
      self->snippet = g_strdup (snippet);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SNIPPET]);
    }

  if (self->title_label != NULL)
    helix_session_row_update (self);
}

/**
 * helix_session_row_popup_menu:
 * @self: a #HelixSessionRow
 *
 * Shows the row's context menu (Rename, Pin, Archive, Delete), as a right
 * click does; for the keyboard (Shift+F10, Menu).
 */
void
helix_session_row_popup_menu (HelixSessionRow *self)
{
  g_return_if_fail (HELIX_IS_SESSION_ROW (self));

  helix_session_row_popup_menu_at (self, -1, -1);
}
