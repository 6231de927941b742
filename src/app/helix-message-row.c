/* helix-message-row.c: one message in the chat view
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "helix-chat-format.h"
#include "helix-markdown-view.h"
#include "helix-message-row.h"

struct _HelixMessageRow
{
  GtkWidget     parent_instance;

  HelixMessage  *message;
  HelixChatCall *call;
  gulong         notify_handler;

  /* The body of an answer (see create_answer_body()) and the text it shows */
  GtkWidget     *answer_body;
  char          *answer_text;

  GtkBox        *bubble;
  GtkBox        *header_box;
  GtkLabel      *role_label;
  GtkLabel      *time_label;
  GtkLabel      *content_label;
  GtkBox        *answer_box;
  GtkBox        *status_box;
  GtkImage      *status_icon;
  GtkLabel      *status_label;
  GtkBox        *footer_box;
  GtkLabel      *partial_label;
  GtkMenuButton *details_button;
  GtkLabel      *footer_label;
  GtkGrid       *details_grid;
  GtkButton     *retry_button;
  GtkButton     *providers_button;
  GtkButton     *regenerate_button;

  guint          last : 1;
};

/* What the metadata of an answer says about its call. */
typedef struct
{
  char    *reason;
  gint64   latency_ms;
  gint64   ttft_ms;
  gint64   attempts;
  char    *outcome;
  char    *error;
  char    *note;
} Meta;

static void
meta_clear (Meta *meta)
{
  g_clear_pointer (&meta->reason, g_free);
  g_clear_pointer (&meta->outcome, g_free);
  g_clear_pointer (&meta->error, g_free);
  g_clear_pointer (&meta->note, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Meta, meta_clear)

enum {
  PROP_0,
  PROP_MESSAGE,
  PROP_CALL,
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

/* The one place where the body of an answer is made and filled. */
static GtkWidget *
create_answer_body (void)
{
  GtkWidget *view = helix_markdown_view_new ();

  gtk_widget_add_css_class (view, "message-content");
  return view;
}

static void
set_answer_body_text (HelixMessageRow *self,
                      const char      *text)
{
  if (self->answer_body == NULL)
    {
      self->answer_body = create_answer_body ();
      gtk_box_append (self->answer_box, self->answer_body);
    }

  if (g_strcmp0 (self->answer_text, text) == 0)
    return;

  g_free (self->answer_text);
  self->answer_text = g_strdup (text);
  helix_markdown_view_set_markdown (HELIX_MARKDOWN_VIEW (self->answer_body), text, -1);
}

static gint64
member_int (JsonObject *object,
            const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64)
    return -1;

  return json_node_get_int (node);
}

static char *
member_string (JsonObject *object,
               const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;

  return g_strdup (json_node_get_string (node));
}

static void
parse_metadata (const char *text,
                Meta       *meta)
{
  g_autoptr(JsonParser) parser = NULL;
  JsonNode *root;
  JsonObject *object;

  meta->latency_ms = meta->ttft_ms = meta->attempts = -1;

  if (text == NULL || text[0] == '\0')
    return;

  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, text, -1, NULL))
    return;

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return;

  object = json_node_get_object (root);
  meta->reason = member_string (object, "reason");
  meta->latency_ms = member_int (object, "latency_ms");
  meta->ttft_ms = member_int (object, "ttft_ms");
  meta->attempts = member_int (object, "attempts");
  meta->outcome = member_string (object, "outcome");
  meta->error = member_string (object, "error");
  meta->note = member_string (object, "note");
}

static char *
format_duration (gint64 ms)
{
  if (ms < 0)
    return g_strdup ("—");
  if (ms < 1000)
    /* Translators: a duration in milliseconds */
    return g_strdup_printf (_("%" G_GINT64_FORMAT " ms"), ms);
  /* Translators: a duration in seconds */
  return g_strdup_printf (_("%.1f s"), ms / 1000.0);
}

static char *
format_tokens (gint64 n)
{
  return n >= 0 ? g_strdup_printf ("%" G_GINT64_FORMAT, n) : g_strdup ("—");
}

static void
add_detail (GtkGrid    *grid,
            int         row,
            const char *name,
            const char *value)
{
  GtkWidget *name_label = gtk_label_new (name);
  GtkWidget *value_label = gtk_label_new (value != NULL && value[0] != '\0' ? value : "—");

  gtk_label_set_xalign (GTK_LABEL (name_label), 1);
  gtk_label_set_yalign (GTK_LABEL (name_label), 0);
  gtk_widget_add_css_class (name_label, "dim-label");
  gtk_label_set_xalign (GTK_LABEL (value_label), 0);
  gtk_label_set_wrap (GTK_LABEL (value_label), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (value_label), 40);
  gtk_label_set_selectable (GTK_LABEL (value_label), TRUE);
  /* Selectable for copying, without selecting itself when the popover opens. */
  gtk_widget_set_focusable (value_label, FALSE);
  gtk_grid_attach (grid, name_label, 0, row, 1, 1);
  gtk_grid_attach (grid, value_label, 1, row, 1, 1);
}

static void
update_details (HelixMessageRow *self,
                const Meta      *meta)
{
  g_autofree char *tokens = NULL;
  g_autofree char *latency = format_duration (meta->latency_ms);
  g_autofree char *ttft = format_duration (meta->ttft_ms);
  g_autofree char *attempts = meta->attempts >= 0 ?
    g_strdup_printf ("%" G_GINT64_FORMAT, meta->attempts) : NULL;
  g_autofree char *cost = NULL;
  g_autofree char *tokens_in = format_tokens (helix_message_get_tokens_in (self->message));
  g_autofree char *tokens_out = format_tokens (helix_message_get_tokens_out (self->message));
  GtkWidget *child;
  int row = 0;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->details_grid))) != NULL)
    gtk_grid_remove (self->details_grid, child);

  /* Translators: input and output tokens of an answer */
  tokens = g_strdup_printf (_("%s in · %s out"), tokens_in, tokens_out);
  cost = helix_chat_format_cost (helix_message_get_cost (self->message),
                                 helix_message_get_model (self->message));

  add_detail (self->details_grid, row++, _("Provider"), helix_message_get_provider (self->message));
  add_detail (self->details_grid, row++, _("Model"), helix_message_get_model (self->message));
  add_detail (self->details_grid, row++, _("Tokens"), tokens);
  add_detail (self->details_grid, row++, _("Cost"), cost);
  add_detail (self->details_grid, row++, _("Latency"), latency);
  add_detail (self->details_grid, row++, _("First token"), ttft);
  add_detail (self->details_grid, row++, _("Attempts"), attempts);
  add_detail (self->details_grid, row++, _("Routing"), meta->reason);
}

static void
show_status (HelixMessageRow *self,
             const char      *icon_name,
             const char      *text,
             gboolean         is_error)
{
  gtk_label_set_text (self->status_label, text);
  gtk_image_set_from_icon_name (self->status_icon, icon_name);
  gtk_widget_set_visible (GTK_WIDGET (self->status_box), TRUE);

  if (is_error)
    {
      gtk_widget_add_css_class (GTK_WIDGET (self->status_box), "error");
      gtk_widget_remove_css_class (GTK_WIDGET (self->status_box), "dim-label");
    }
  else
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self->status_box), "error");
      gtk_widget_add_css_class (GTK_WIDGET (self->status_box), "dim-label");
    }
}

/* Retry asks for the answer to the messages before @upto again. */
static void
show_retry (HelixMessageRow *self,
            guint64          upto)
{
  /* The target first: the action takes one. */
  gtk_actionable_set_action_target_value (GTK_ACTIONABLE (self->retry_button),
                                          g_variant_new_uint64 (upto));
  gtk_actionable_set_action_name (GTK_ACTIONABLE (self->retry_button), "win.retry");
  gtk_widget_set_visible (GTK_WIDGET (self->retry_button), TRUE);
}

/* An answer on its way, or a question that could not be asked. */
static void
update_call (HelixMessageRow *self)
{
  HelixChatCallState state = helix_chat_call_get_state (self->call);
  const char *text = helix_chat_call_get_text (self->call);

  gtk_label_set_text (self->role_label, _("Assistant"));
  gtk_label_set_text (self->time_label, "");
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->time_label), NULL);

  set_answer_body_text (self, text);
  gtk_widget_set_visible (GTK_WIDGET (self->answer_box), text[0] != '\0');

  switch (state)
    {
    case HELIX_CHAT_CALL_PREPARING:
    case HELIX_CHAT_CALL_STREAMING:
      show_status (self, "document-edit-symbolic", _("Writing…"), FALSE);
      break;

    case HELIX_CHAT_CALL_FAILED:
      show_status (self, "dialog-error-symbolic", helix_chat_call_get_error (self->call), TRUE);
      gtk_widget_set_visible (GTK_WIDGET (self->footer_box), TRUE);
      show_retry (self, helix_chat_call_get_upto (self->call));
      gtk_widget_set_visible (GTK_WIDGET (self->providers_button),
                              helix_chat_call_get_needs_providers (self->call));
      break;

    case HELIX_CHAT_CALL_FINISHING:
    default:
      break;
    }
}

/* A stored answer: its footer, and how its call ended. */
static void
update_answer (HelixMessageRow *self)
{
  g_auto(Meta) meta = { 0 };
  HelixMessageStatus status = helix_message_get_status (self->message);
  const char *model = helix_message_get_model (self->message);
  g_autofree char *cost = NULL;
  g_autofree char *footer = NULL;
  gboolean partial;

  parse_metadata (helix_message_get_metadata (self->message), &meta);
  partial = g_strcmp0 (meta.outcome, "partial") == 0;

  cost = helix_chat_format_cost (helix_message_get_cost (self->message), model);
  if (model != NULL && model[0] != '\0')
    footer = cost != NULL ? g_strdup_printf ("%s · %s", model, cost) : g_strdup (model);

  gtk_label_set_text (self->footer_label, footer != NULL ? footer : "");
  gtk_widget_set_visible (GTK_WIDGET (self->details_button), footer != NULL);
  if (footer != NULL)
    update_details (self, &meta);

  gtk_widget_set_visible (GTK_WIDGET (self->partial_label), partial);

  if (status == HELIX_MESSAGE_STATUS_ERROR)
    {
      if (meta.note != NULL)
        show_status (self, "media-playback-stop-symbolic", meta.note, FALSE);
      else
        show_status (self, "dialog-error-symbolic",
                     meta.error != NULL ? meta.error : _("The answer could not be completed"),
                     TRUE);
      if (self->last)
        show_retry (self, helix_message_get_position (self->message));
    }

  gtk_widget_set_visible (GTK_WIDGET (self->regenerate_button),
                          self->last && status == HELIX_MESSAGE_STATUS_DONE);

  gtk_widget_set_visible (GTK_WIDGET (self->footer_box),
                          footer != NULL || partial ||
                          gtk_widget_get_visible (GTK_WIDGET (self->retry_button)) ||
                          gtk_widget_get_visible (GTK_WIDGET (self->regenerate_button)));
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
  gboolean is_answer;

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

  is_answer = self->call != NULL || (self->message != NULL && role == HELIX_MESSAGE_ROLE_ASSISTANT);

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

  /* Answers are Markdown; everything else is shown as written. */
  gtk_widget_set_visible (GTK_WIDGET (self->content_label), !is_answer);
  gtk_widget_set_visible (GTK_WIDGET (self->answer_box), is_answer && content[0] != '\0');
  if (is_answer && self->message != NULL)
    set_answer_body_text (self, content);
  gtk_label_set_text (self->content_label, is_answer ? "" : content);

  gtk_widget_set_visible (GTK_WIDGET (self->status_box), FALSE);
  gtk_widget_set_visible (GTK_WIDGET (self->footer_box), FALSE);
  gtk_widget_set_visible (GTK_WIDGET (self->partial_label), FALSE);
  gtk_widget_set_visible (GTK_WIDGET (self->details_button), FALSE);
  gtk_widget_set_visible (GTK_WIDGET (self->retry_button), FALSE);
  gtk_widget_set_visible (GTK_WIDGET (self->providers_button), FALSE);
  gtk_widget_set_visible (GTK_WIDGET (self->regenerate_button), FALSE);
  gtk_widget_remove_css_class (GTK_WIDGET (self), "pending");
  gtk_widget_remove_css_class (GTK_WIDGET (self), "failed");

  if (self->call != NULL)
    {
      update_call (self);
      if (helix_chat_call_get_state (self->call) == HELIX_CHAT_CALL_FAILED)
        gtk_widget_add_css_class (GTK_WIDGET (self), "failed");
      return;
    }

  if (self->message == NULL)
    return;

  if (role == HELIX_MESSAGE_ROLE_ASSISTANT)
    {
      update_answer (self);
      if (status == HELIX_MESSAGE_STATUS_ERROR)
        gtk_widget_add_css_class (GTK_WIDGET (self), "failed");
      return;
    }

  /* A question nobody could answer yet, until something follows it. */
  if (status == HELIX_MESSAGE_STATUS_PENDING && role == HELIX_MESSAGE_ROLE_USER)
    {
      if (self->last)
        show_status (self, "dialog-information-symbolic", _("Not sent — no AI provider"), FALSE);
      gtk_widget_add_css_class (GTK_WIDGET (self), "pending");
    }

  gtk_widget_set_halign (GTK_WIDGET (self->status_box),
                         role == HELIX_MESSAGE_ROLE_USER ? GTK_ALIGN_END : GTK_ALIGN_START);
}

static void
on_message_notify (HelixMessageRow *self,
                   GParamSpec      *pspec,
                   GObject         *object)
{
  helix_message_row_update (self);
}

static void
helix_message_row_dispose (GObject *object)
{
  HelixMessageRow *self = (HelixMessageRow *)object;

  helix_message_row_set_message (self, NULL);
  helix_message_row_set_call (self, NULL);
  self->answer_body = NULL;
  gtk_widget_dispose_template (GTK_WIDGET (self), HELIX_TYPE_MESSAGE_ROW);

  G_OBJECT_CLASS (helix_message_row_parent_class)->dispose (object);
}

static void
helix_message_row_finalize (GObject *object)
{
  HelixMessageRow *self = (HelixMessageRow *)object;

  g_clear_pointer (&self->answer_text, g_free);

  G_OBJECT_CLASS (helix_message_row_parent_class)->finalize (object);
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

    case PROP_CALL:
      g_value_set_object (value, self->call);
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

    case PROP_CALL:
      helix_message_row_set_call (self, g_value_get_object (value));
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
  object_class->finalize = helix_message_row_finalize;
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

  /**
   * HelixMessageRow:call:
   *
   * The answer on its way shown by the row, or %NULL.
   */
  properties[PROP_CALL] =
    g_param_spec_object ("call", NULL, NULL,
                         HELIX_TYPE_CHAT_CALL,
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
  gtk_widget_class_bind_template_child (widget_class, HelixMessageRow, answer_box);
  gtk_widget_class_bind_template_child (widget_class, HelixMessageRow, footer_box);
  gtk_widget_class_bind_template_child (widget_class, HelixMessageRow, partial_label);
  gtk_widget_class_bind_template_child (widget_class, HelixMessageRow, details_button);
  gtk_widget_class_bind_template_child (widget_class, HelixMessageRow, footer_label);
  gtk_widget_class_bind_template_child (widget_class, HelixMessageRow, details_grid);
  gtk_widget_class_bind_template_child (widget_class, HelixMessageRow, retry_button);
  gtk_widget_class_bind_template_child (widget_class, HelixMessageRow, providers_button);
  gtk_widget_class_bind_template_child (widget_class, HelixMessageRow, regenerate_button);
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

static void
clear_call (HelixMessageRow *self)
{
  if (self->call == NULL)
    return;

  g_signal_handlers_disconnect_by_func (self->call, on_message_notify, self);
  g_clear_object (&self->call);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CALL]);
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
      clear_call (self);
    }

  /* Not while disposing: the template children are gone by then. */
  if (self->content_label != NULL)
    helix_message_row_update (self);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MESSAGE]);
}

/**
 * helix_message_row_set_call:
 * @self: a #HelixMessageRow
 * @call: (nullable): the answer on its way to show
 *
 * Shows @call instead of a stored message, following its text as it grows.
 */
void
helix_message_row_set_call (HelixMessageRow *self,
                            HelixChatCall   *call)
{
  g_return_if_fail (HELIX_IS_MESSAGE_ROW (self));
  g_return_if_fail (call == NULL || HELIX_IS_CHAT_CALL (call));

  if (self->call == call)
    return;

  if (call != NULL)
    helix_message_row_set_message (self, NULL);

  clear_call (self);

  if (call != NULL)
    {
      self->call = g_object_ref (call);
      g_signal_connect_object (call, "notify", G_CALLBACK (on_message_notify), self,
                               G_CONNECT_SWAPPED);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CALL]);
    }

  if (self->content_label != NULL)
    helix_message_row_update (self);
}

/**
 * helix_message_row_get_call:
 * @self: a #HelixMessageRow
 *
 * Returns: (transfer none) (nullable): the answer on its way shown
 */
HelixChatCall *
helix_message_row_get_call (HelixMessageRow *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE_ROW (self), NULL);

  return self->call;
}

/**
 * helix_message_row_set_last:
 * @self: a #HelixMessageRow
 * @last: whether the row is the last of its chat
 *
 * The last answer offers to regenerate or retry it; the last question, if
 * nobody answered it, says so.
 */
void
helix_message_row_set_last (HelixMessageRow *self,
                            gboolean         last)
{
  g_return_if_fail (HELIX_IS_MESSAGE_ROW (self));

  last = !!last;
  if (self->last == (guint) last)
    return;

  self->last = last;
  if (self->content_label != NULL)
    helix_message_row_update (self);
}

/* For tests: what the row shows. */
const char *
_helix_message_row_get_text (HelixMessageRow *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE_ROW (self), NULL);

  if (gtk_widget_get_visible (GTK_WIDGET (self->content_label)))
    return gtk_label_get_text (self->content_label);

  return self->answer_text != NULL ? self->answer_text : "";
}

const char *
_helix_message_row_get_footer (HelixMessageRow *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE_ROW (self), NULL);

  if (!gtk_widget_get_visible (GTK_WIDGET (self->footer_box)) ||
      !gtk_widget_get_visible (GTK_WIDGET (self->details_button)))
    return NULL;

  return gtk_label_get_text (self->footer_label);
}

const char *
_helix_message_row_get_status (HelixMessageRow *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE_ROW (self), NULL);

  if (!gtk_widget_get_visible (GTK_WIDGET (self->status_box)))
    return NULL;

  return gtk_label_get_text (self->status_label);
}

GtkWidget *
_helix_message_row_get_button (HelixMessageRow *self,
                               const char      *name)
{
  GtkWidget *button = NULL;

  g_return_val_if_fail (HELIX_IS_MESSAGE_ROW (self), NULL);

  if (g_str_equal (name, "retry"))
    button = GTK_WIDGET (self->retry_button);
  else if (g_str_equal (name, "providers"))
    button = GTK_WIDGET (self->providers_button);
  else if (g_str_equal (name, "regenerate"))
    button = GTK_WIDGET (self->regenerate_button);
  else if (g_str_equal (name, "details"))
    button = GTK_WIDGET (self->details_button);
  else if (g_str_equal (name, "partial"))
    button = GTK_WIDGET (self->partial_label);

  if (button == NULL || !gtk_widget_get_visible (button) ||
      !gtk_widget_get_visible (GTK_WIDGET (self->footer_box)))
    return NULL;

  return button;
}

GtkGrid *
_helix_message_row_get_details_grid (HelixMessageRow *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE_ROW (self), NULL);

  return self->details_grid;
}
