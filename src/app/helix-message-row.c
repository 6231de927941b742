/* helix-message-row.c: one message in the chat view
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-message-row.h"

struct _HelixMessageRow
{
  GtkWidget     parent_instance;

  HelixMessage *message;
  gulong        notify_handler;

  GtkBox       *bubble;
  GtkBox       *header_box;
  GtkLabel     *role_label;
  GtkLabel     *time_label;
  GtkLabel     *content_label;
  GtkBox       *status_box;
  GtkImage     *status_icon;
  GtkLabel     *status_label;
};

enum {
  PROP_0,
  PROP_MESSAGE,
  N_PROPS
};

G_DEFINE_FINAL_TYPE (HelixMessageRow, helix_message_row, GTK_TYPE_WIDGET)

static GParamSpec *properties[N_PROPS];

static const char * const role_css_classes[] = { "user", "assistant", "system", "tool" };

static const char *
role_to_label (HelixMessageRole role)
{
  switch (role)
    {
    case HELIX_MESSAGE_ROLE_USER:
      return _("You");
    case HELIX_MESSAGE_ROLE_ASSISTANT:
      return _("Assistant");
    case HELIX_MESSAGE_ROLE_SYSTEM:
      return _("System");
    case HELIX_MESSAGE_ROLE_TOOL:
      return _("Tool");
    default:
      return "";
    }
}

static const char *
role_to_css_class (HelixMessageRole role)
{
  if ((guint) role < G_N_ELEMENTS (role_css_classes))
    return role_css_classes[role];
  return "assistant";
}

/* "14:03" for today, "Mar 4 14:03" this year, "Mar 4 2023 14:03" before. */
static char *
format_time (gint64 created_us)
{
  g_autoptr(GDateTime) when = NULL;
  g_autoptr(GDateTime) now = NULL;

  if (created_us <= 0)
    return g_strdup ("");

  when = g_date_time_new_from_unix_local (created_us / G_USEC_PER_SEC);
  now = g_date_time_new_now_local ();
  if (when == NULL || now == NULL)
    return g_strdup ("");

  if (g_date_time_get_year (when) == g_date_time_get_year (now) &&
      g_date_time_get_day_of_year (when) == g_date_time_get_day_of_year (now))
    /* Translators: the time of a message sent today, see g_date_time_format() */
    return g_date_time_format (when, _("%H:%M"));

  if (g_date_time_get_year (when) == g_date_time_get_year (now))
    /* Translators: the date and time of a message sent this year, see g_date_time_format() */
    return g_date_time_format (when, _("%b %-d %H:%M"));

  /* Translators: the date and time of an older message, see g_date_time_format() */
  return g_date_time_format (when, _("%b %-d %Y %H:%M"));
}

static char *
format_full_time (gint64 created_us)
{
  g_autoptr(GDateTime) when = NULL;

  if (created_us <= 0)
    return NULL;

  when = g_date_time_new_from_unix_local (created_us / G_USEC_PER_SEC);
  if (when == NULL)
    return NULL;

  return g_date_time_format (when, "%c");
}

static void
helix_message_row_update (HelixMessageRow *self)
{
  HelixMessageRole role = HELIX_MESSAGE_ROLE_ASSISTANT;
  HelixMessageStatus status = HELIX_MESSAGE_STATUS_DONE;
  const char *content = "";
  const char *model = NULL;
  g_autofree char *time = NULL;
  g_autofree char *full_time = NULL;
  gboolean show_status = FALSE;

  g_assert (HELIX_IS_MESSAGE_ROW (self));

  if (self->message != NULL)
    {
      role = helix_message_get_role (self->message);
      status = helix_message_get_status (self->message);
      content = helix_message_get_content (self->message);
      model = helix_message_get_model (self->message);
      time = format_time (helix_message_get_created_us (self->message));
      full_time = format_full_time (helix_message_get_created_us (self->message));
    }

  for (guint i = 0; i < G_N_ELEMENTS (role_css_classes); i++)
    gtk_widget_remove_css_class (GTK_WIDGET (self), role_css_classes[i]);
  gtk_widget_add_css_class (GTK_WIDGET (self), role_to_css_class (role));

  /* Your own words on the trailing side, everything else on the leading side. */
  gtk_widget_set_halign (GTK_WIDGET (self->bubble),
                         role == HELIX_MESSAGE_ROLE_USER ? GTK_ALIGN_END : GTK_ALIGN_FILL);
  gtk_widget_set_halign (GTK_WIDGET (self->content_label),
                         role == HELIX_MESSAGE_ROLE_USER ? GTK_ALIGN_END : GTK_ALIGN_START);
  gtk_widget_set_halign (GTK_WIDGET (self->header_box),
                         role == HELIX_MESSAGE_ROLE_USER ? GTK_ALIGN_END : GTK_ALIGN_START);

  gtk_label_set_text (self->role_label, role_to_label (role));
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->role_label),
                               model != NULL && model[0] != '\0' ? model : NULL);
  gtk_label_set_text (self->time_label, time != NULL ? time : "");
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->time_label), full_time);
  gtk_label_set_text (self->content_label, content != NULL ? content : "");

  switch (status)
    {
    case HELIX_MESSAGE_STATUS_PENDING:
      if (role == HELIX_MESSAGE_ROLE_USER)
        {
          gtk_label_set_text (self->status_label, _("Not sent — no AI provider"));
          gtk_image_set_from_icon_name (self->status_icon, "dialog-information-symbolic");
          show_status = TRUE;
        }
      break;

    case HELIX_MESSAGE_STATUS_STREAMING:
      gtk_label_set_text (self->status_label, _("Writing…"));
      gtk_image_set_from_icon_name (self->status_icon, "document-edit-symbolic");
      show_status = TRUE;
      break;

    case HELIX_MESSAGE_STATUS_ERROR:
      gtk_label_set_text (self->status_label, _("The answer could not be completed"));
      gtk_image_set_from_icon_name (self->status_icon, "dialog-error-symbolic");
      show_status = TRUE;
      break;

    case HELIX_MESSAGE_STATUS_DONE:
    default:
      break;
    }

  gtk_widget_set_visible (GTK_WIDGET (self->status_box), show_status);
  if (show_status && role == HELIX_MESSAGE_ROLE_USER)
    gtk_widget_set_halign (GTK_WIDGET (self->status_box), GTK_ALIGN_END);
  else
    gtk_widget_set_halign (GTK_WIDGET (self->status_box), GTK_ALIGN_START);

  if (status == HELIX_MESSAGE_STATUS_PENDING)
    gtk_widget_add_css_class (GTK_WIDGET (self), "pending");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self), "pending");
}

static void
on_message_notify (HelixMessageRow *self,
                   GParamSpec      *pspec,
                   HelixMessage    *message)
{
  helix_message_row_update (self);
}

static void
helix_message_row_dispose (GObject *object)
{
  HelixMessageRow *self = (HelixMessageRow *)object;

  helix_message_row_set_message (self, NULL);
  gtk_widget_dispose_template (GTK_WIDGET (self), HELIX_TYPE_MESSAGE_ROW);

  G_OBJECT_CLASS (helix_message_row_parent_class)->dispose (object);
}

static void
helix_message_row_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  HelixMessageRow *self = HELIX_MESSAGE_ROW (object);

  switch (prop_id)
    {
    case PROP_MESSAGE:
      g_value_set_object (value, self->message);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_message_row_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  HelixMessageRow *self = HELIX_MESSAGE_ROW (object);

  switch (prop_id)
    {
    case PROP_MESSAGE:
      helix_message_row_set_message (self, g_value_get_object (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_message_row_class_init (HelixMessageRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = helix_message_row_dispose;
  object_class->get_property = helix_message_row_get_property;
  object_class->set_property = helix_message_row_set_property;

  /**
   * HelixMessageRow:message:
   *
   * The message shown by the row, or %NULL.
   */
  properties[PROP_MESSAGE] =
    g_param_spec_object ("message", NULL, NULL,
                         HELIX_TYPE_MESSAGE,
                         (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/ai/helix/Helix/ui/helix-message-row.ui");
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "helixmessagerow");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);

  gtk_widget_class_bind_template_child (widget_class, HelixMessageRow, bubble);
  gtk_widget_class_bind_template_child (widget_class, HelixMessageRow, header_box);
  gtk_widget_class_bind_template_child (widget_class, HelixMessageRow, role_label);
  gtk_widget_class_bind_template_child (widget_class, HelixMessageRow, time_label);
  gtk_widget_class_bind_template_child (widget_class, HelixMessageRow, content_label);
  gtk_widget_class_bind_template_child (widget_class, HelixMessageRow, status_box);
  gtk_widget_class_bind_template_child (widget_class, HelixMessageRow, status_icon);
  gtk_widget_class_bind_template_child (widget_class, HelixMessageRow, status_label);
}

static void
helix_message_row_init (HelixMessageRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  helix_message_row_update (self);
}

/**
 * helix_message_row_new:
 *
 * Creates a row that shows no message yet.
 *
 * Returns: (transfer full): a new #HelixMessageRow
 */
GtkWidget *
helix_message_row_new (void)
{
  return g_object_new (HELIX_TYPE_MESSAGE_ROW, NULL);
}

/**
 * helix_message_row_get_message:
 * @self: a #HelixMessageRow
 *
 * Returns: (transfer none) (nullable): the message shown
 */
HelixMessage *
helix_message_row_get_message (HelixMessageRow *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE_ROW (self), NULL);

  return self->message;
}

/**
 * helix_message_row_set_message:
 * @self: a #HelixMessageRow
 * @message: (nullable): the message to show
 *
 * Shows @message, following its changes until another message is set.
 * List item factories call this from bind (with the item) and unbind (with %NULL).
 */
void
helix_message_row_set_message (HelixMessageRow *self,
                               HelixMessage    *message)
{
  g_return_if_fail (HELIX_IS_MESSAGE_ROW (self));
  g_return_if_fail (message == NULL || HELIX_IS_MESSAGE (message));

  if (self->message == message)
    return;

  if (self->message != NULL)
    {
      g_clear_signal_handler (&self->notify_handler, self->message);
      g_clear_object (&self->message);
    }

  if (message != NULL)
    {
      self->message = g_object_ref (message);
      self->notify_handler = g_signal_connect_object (message,
                                                      "notify",
                                                      G_CALLBACK (on_message_notify),
                                                      self,
                                                      G_CONNECT_SWAPPED);
    }

  /* Not while disposing: the template children are gone by then. */
  if (self->content_label != NULL)
    helix_message_row_update (self);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MESSAGE]);
}
