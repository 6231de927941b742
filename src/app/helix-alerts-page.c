/* helix-alerts-page.c: Preferences → Alerts: the webhooks the audit trail goes to
 *
 * Lists the webhooks of a HelixWebhookSettings: name, format, host and
 * channels, and how delivery goes (from helix_audit_list_sinks(): entries
 * waiting, failing, the last error). "Add Webhook" and a row open an editor
 * (a message dialog that checks what is entered as it is typed); Remove asks
 * first. Changes are written to the audit trail before they are made, and
 * apply the next time Helix starts: the page says so.
 *
 * The queue has no signal for delivery progress: the page looks again every
 * few seconds while it is shown.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-alerts-page-private.h"
#include "helix-resources.h"

#define REFRESH_INTERVAL_S 5

G_DEFINE_FINAL_TYPE (HelixAlertsPage, helix_alerts_page, ADW_TYPE_PREFERENCES_PAGE)

enum {
  PROP_0,
  PROP_SETTINGS,
  PROP_AUDIT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_STATIC_ASSERT (HELIX_ALERTS_PAGE_N_CHANNELS == 7);

static const char *
format_label (HelixWebhookFormat format)
{
  return format == HELIX_WEBHOOK_FORMAT_DISCORD ? _("Discord") : _("JSON");
}

static GtkWindow *
get_window (HelixAlertsPage *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  return GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL;
}

/* Errors stay on the page until the next change works; a toast too, if the
 * page is in a preferences window. */
static void
show_error (HelixAlertsPage *self,
            const char      *message)
{
  GtkWindow *window = get_window (self);

  gtk_label_set_text (self->error_label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->error_group), message != NULL);

  if (message != NULL && ADW_IS_PREFERENCES_WINDOW (window))
    {
      g_autofree char *escaped = g_markup_escape_text (message, -1);

      adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (window), adw_toast_new (escaped));
    }
}

/* Rows {{{1 */

static HelixAuditSinkStatus *
find_status (GPtrArray  *statuses,
             const char *id)
{
  for (guint i = 0; statuses != NULL && i < statuses->len; i++)
    {
      HelixAuditSinkStatus *status = g_ptr_array_index (statuses, i);

      if (g_strcmp0 (status->name, id) == 0)
        return status;
    }

  return NULL;
}

/* How delivery goes, for people. */
static char *
dup_state_text (HelixAlertsPage    *self,
                const HelixWebhook *webhook,
                GPtrArray          *statuses)
{
  HelixAuditSinkStatus *status;

  if (webhook->url == NULL)
    {
      if (helix_webhook_settings_get_loading (self->settings))
        return g_strdup (_("Reading the address from the keyring…"));
      return g_strdup (_("Not delivering: its address could not be read from the keyring (is "
                         "it locked?). Edit the webhook to enter the address again."));
    }

  if (helix_webhook_settings_needs_restart (self->settings, webhook->id))
    return g_strdup (_("Saved · applies the next time Helix starts"));

  if (self->audit == NULL)
    return g_strdup (_("Not delivering: the audit log is not available"));

  status = find_status (statuses, webhook->id);
  if (status == NULL)
    return g_strdup (_("Not delivering yet · applies the next time Helix starts"));

  if (status->failing)
    /* Translators: %s is the last delivery error. */
    return g_strdup_printf (_("Failing: %s"),
                            status->last_error != NULL ? status->last_error : _("no answer"));

  if (status->last_error != NULL)
    /* Translators: %u is a number of log entries, %s the last delivery error. */
    return g_strdup_printf (ngettext ("Retrying · %u entry waiting · last error: %s",
                                      "Retrying · %u entries waiting · last error: %s",
                                      status->pending),
                            status->pending, status->last_error);

  if (status->pending > 0)
    /* Translators: %u is a number of log entries. */
    return g_strdup_printf (ngettext ("Delivering · %u entry waiting",
                                      "Delivering · %u entries waiting", status->pending),
                            status->pending);

  return g_strdup (_("Delivering · up to date"));
}

static char *
dup_subtitle (HelixAlertsPage    *self,
              const HelixWebhook *webhook,
              GPtrArray          *statuses)
{
  g_autoptr(GString) subtitle = g_string_new (format_label (webhook->format));
  g_autofree char *state = dup_state_text (self, webhook, statuses);
  g_autofree char *channels = g_strjoinv (", ", webhook->channels);

  if (webhook->url != NULL)
    {
      g_autoptr(GUri) uri = g_uri_parse (webhook->url, G_URI_FLAGS_NONE, NULL);

      /* The host only: the rest may be the webhook's token. */
      if (uri != NULL && g_uri_get_host (uri) != NULL)
        g_string_append_printf (subtitle, " · %s", g_uri_get_host (uri));
    }
  g_string_append_printf (subtitle, " · %s\n%s", channels, state);

  return g_string_free (g_steal_pointer (&subtitle), FALSE);
}

/**
 * _helix_alerts_page_refresh:
 * @self: the page
 *
 * Shows the keyring's state and how delivery goes, as they are now.
 */
void
_helix_alerts_page_refresh (HelixAlertsPage *self)
{
  g_autoptr(GPtrArray) statuses = NULL;
  const char *keyring_error;

  g_return_if_fail (HELIX_IS_ALERTS_PAGE (self));

  keyring_error = helix_webhook_settings_get_keyring_error (self->settings);
  gtk_label_set_text (self->keyring_label, keyring_error != NULL ? keyring_error : "");
  gtk_widget_set_visible (GTK_WIDGET (self->keyring_group), keyring_error != NULL);

  if (self->audit != NULL)
    statuses = helix_audit_list_sinks (self->audit);

  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->webhook_list));
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      const char *id = g_object_get_data (G_OBJECT (child), "webhook-id");
      const HelixWebhook *webhook;
      g_autofree char *subtitle = NULL;

      if (id == NULL || (webhook = helix_webhook_settings_lookup (self->settings, id)) == NULL)
        continue;

      subtitle = dup_subtitle (self, webhook, statuses);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (child), subtitle);
    }
}

static gboolean
refresh_cb (gpointer user_data)
{
  _helix_alerts_page_refresh (HELIX_ALERTS_PAGE (user_data));

  return G_SOURCE_CONTINUE;
}

static GtkWidget *
create_row (HelixAlertsPage    *self,
            const HelixWebhook *webhook)
{
  GtkWidget *row;
  GtkWidget *remove;

  row = adw_action_row_new ();
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), webhook->name);
  adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 0);
  g_object_set_data_full (G_OBJECT (row), "webhook-id", g_strdup (webhook->id), g_free);

  remove = gtk_button_new_from_icon_name ("user-trash-symbolic");
  gtk_widget_set_valign (remove, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (remove, "flat");
  gtk_widget_set_tooltip_text (remove, _("Remove"));
  gtk_actionable_set_action_name (GTK_ACTIONABLE (remove), "alerts.remove");
  gtk_actionable_set_action_target (GTK_ACTIONABLE (remove), "s", webhook->id);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), remove);

  /* Activating the row edits the webhook. */
  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (row), "alerts.edit");
  gtk_actionable_set_action_target (GTK_ACTIONABLE (row), "s", webhook->id);

  return row;
}

static void
rebuild_rows (HelixAlertsPage *self)
{
  GtkWidget *child;
  guint n;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->webhook_list))) != NULL &&
         GTK_IS_LIST_BOX_ROW (child) &&
         g_object_get_data (G_OBJECT (child), "webhook-id") != NULL)
    gtk_list_box_remove (self->webhook_list, child);

  n = helix_webhook_settings_get_n_webhooks (self->settings);
  for (guint i = 0; i < n; i++)
    gtk_list_box_append (self->webhook_list,
                         create_row (self, helix_webhook_settings_get_webhook (self->settings, i)));

  _helix_alerts_page_refresh (self);
}

/* The editor {{{1 */

static HelixWebhook *
editor_dup_webhook (HelixAlertsPage *self)
{
  const char * const *channels = helix_webhook_list_channels ();
  g_autoptr(GStrvBuilder) chosen = g_strv_builder_new ();
  g_auto(GStrv) list = NULL;
  g_autofree char *url = NULL;
  g_autofree char *backup_url = NULL;

  for (guint i = 0; i < HELIX_ALERTS_PAGE_N_CHANNELS; i++)
    if (gtk_check_button_get_active (self->channel_checks[i]))
      g_strv_builder_add (chosen, channels[i]);
  list = g_strv_builder_end (chosen);

  url = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->url_row))));
  backup_url = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->backup_row))));

  return helix_webhook_new (self->editing_id,
                            gtk_editable_get_text (GTK_EDITABLE (self->name_row)),
                            adw_combo_row_get_selected (self->format_row) == 0
                              ? HELIX_WEBHOOK_FORMAT_DISCORD : HELIX_WEBHOOK_FORMAT_JSON,
                            url, backup_url, (const char * const *) list);
}

/* Checked as it is typed: Save only with something that can be saved. */
static void
editor_validate (HelixAlertsPage *self)
{
  g_autoptr(HelixWebhook) webhook = NULL;
  g_autoptr(GError) error = NULL;
  gboolean valid;

  if (self->editor == NULL)
    return;

  webhook = editor_dup_webhook (self);
  valid = helix_webhook_settings_validate (self->settings, webhook, &error);
  gtk_label_set_text (self->editor_error, valid ? "" : error->message);
  gtk_widget_set_visible (GTK_WIDGET (self->editor_error), !valid);
  adw_message_dialog_set_response_enabled (self->editor, "save", valid);
}

static void
saved_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(HelixAlertsPage) self = user_data;
  g_autoptr(HelixWebhook) webhook = NULL;
  g_autoptr(GError) error = NULL;

  webhook = helix_webhook_settings_save_finish (HELIX_WEBHOOK_SETTINGS (object), result, &error);
  show_error (self, webhook == NULL ? error->message : NULL);
}

static void
on_editor_response (AdwMessageDialog *dialog,
                    const char       *response,
                    gpointer          user_data)
{
  HelixAlertsPage *self = HELIX_ALERTS_PAGE (user_data);
  g_autoptr(HelixWebhook) webhook = NULL;

  if (g_strcmp0 (response, "save") != 0 || self->editor != dialog)
    return;

  webhook = editor_dup_webhook (self);
  helix_webhook_settings_save_async (self->settings, webhook, NULL, saved_cb, g_object_ref (self));
}

static void
on_editor_destroyed (HelixAlertsPage *self,
                     GtkWidget       *dialog)
{
  /* Its rows go with it (a new editor is made after the old one is gone). */
  self->name_row = NULL;
  self->format_row = NULL;
  self->url_row = NULL;
  self->backup_row = NULL;
  self->editor_error = NULL;
  for (guint i = 0; i < HELIX_ALERTS_PAGE_N_CHANNELS; i++)
    self->channel_checks[i] = NULL;
  g_clear_pointer (&self->editing_id, g_free);
}

static AdwEntryRow *
add_entry_row (GtkWidget       *group,
               gboolean         password,
               const char      *title,
               const char      *text,
               HelixAlertsPage *self)
{
  GtkWidget *row = password ? adw_password_entry_row_new () : adw_entry_row_new ();

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  gtk_editable_set_text (GTK_EDITABLE (row), text != NULL ? text : "");
  g_signal_connect_object (row, "changed", G_CALLBACK (editor_validate), self, G_CONNECT_SWAPPED);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), row);

  return ADW_ENTRY_ROW (row);
}

static void
open_editor (HelixAlertsPage    *self,
             const HelixWebhook *webhook)
{
  const char * const *channels = helix_webhook_list_channels ();
  const char * const *checked = webhook != NULL ? (const char * const *) webhook->channels
                                                : helix_webhook_default_channels ();
  const char * const formats[] = { _("Discord"), _("JSON"), NULL };
  g_autoptr(GtkStringList) format_model = gtk_string_list_new (formats);
  GtkWidget *dialog;
  GtkWidget *box;
  GtkWidget *group;
  GtkWidget *channel_group;
  GtkWidget *row;

  if (self->editor != NULL)
    gtk_window_destroy (GTK_WINDOW (self->editor));

  dialog = adw_message_dialog_new (get_window (self),
                                   webhook != NULL ? _("Edit Webhook") : _("Add Webhook"),
                                   _("Changes apply the next time Helix starts."));
  g_set_weak_pointer (&self->editor, ADW_MESSAGE_DIALOG (dialog));
  self->editing_id = webhook != NULL ? g_strdup (webhook->id) : NULL;
  g_signal_connect_object (dialog, "destroy", G_CALLBACK (on_editor_destroyed), self,
                           G_CONNECT_SWAPPED);

  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  group = adw_preferences_group_new ();
  gtk_box_append (GTK_BOX (box), group);

  self->name_row = add_entry_row (group, FALSE, _("Name"), webhook != NULL ? webhook->name : NULL,
                                  self);

  row = adw_combo_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Format"));
  adw_combo_row_set_model (ADW_COMBO_ROW (row), G_LIST_MODEL (format_model));
  adw_combo_row_set_selected (ADW_COMBO_ROW (row),
                              webhook != NULL && webhook->format == HELIX_WEBHOOK_FORMAT_JSON
                                ? 1 : 0);
  g_signal_connect_object (row, "notify::selected", G_CALLBACK (editor_validate), self,
                           G_CONNECT_SWAPPED);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), row);
  self->format_row = ADW_COMBO_ROW (row);

  /* The addresses are credentials: hidden until asked for. */
  self->url_row = add_entry_row (group, TRUE, _("Address"),
                                 webhook != NULL ? webhook->url : NULL, self);
  self->backup_row = add_entry_row (group, TRUE, _("Backup Address (Optional)"),
                                    webhook != NULL ? webhook->backup_url : NULL, self);

  channel_group = adw_preferences_group_new ();
  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (channel_group), _("Send"));
  gtk_box_append (GTK_BOX (box), channel_group);
  for (guint i = 0; i < HELIX_ALERTS_PAGE_N_CHANNELS; i++)
    {
      GtkWidget *check = gtk_check_button_new ();

      g_assert (channels[i] != NULL);
      gtk_check_button_set_active (GTK_CHECK_BUTTON (check),
                                   g_strv_contains (checked, channels[i]));
      gtk_widget_set_valign (check, GTK_ALIGN_CENTER);
      g_signal_connect_object (check, "toggled", G_CALLBACK (editor_validate), self,
                               G_CONNECT_SWAPPED);
      row = adw_action_row_new ();
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row),
                                     helix_webhook_channel_label (channels[i]));
      adw_action_row_add_prefix (ADW_ACTION_ROW (row), check);
      adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row), check);
      adw_preferences_group_add (ADW_PREFERENCES_GROUP (channel_group), row);
      self->channel_checks[i] = GTK_CHECK_BUTTON (check);
    }

  self->editor_error = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_wrap (self->editor_error, TRUE);
  gtk_label_set_xalign (self->editor_error, 0);
  gtk_widget_add_css_class (GTK_WIDGET (self->editor_error), "error");
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->editor_error));

  adw_message_dialog_set_extra_child (ADW_MESSAGE_DIALOG (dialog), box);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    "save", _("_Save"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "save",
                                              ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "save");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_editor_response), self, 0);

  editor_validate (self);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* Actions {{{1 */

static void
add_action (GtkWidget  *widget,
            const char *action_name,
            GVariant   *param)
{
  open_editor (HELIX_ALERTS_PAGE (widget), NULL);
}

static void
edit_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *param)
{
  HelixAlertsPage *self = HELIX_ALERTS_PAGE (widget);
  const HelixWebhook *webhook;

  webhook = helix_webhook_settings_lookup (self->settings, g_variant_get_string (param, NULL));
  if (webhook != NULL)
    open_editor (self, webhook);
}

static void
removed_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(HelixAlertsPage) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!helix_webhook_settings_remove_finish (HELIX_WEBHOOK_SETTINGS (object), result, &error))
    show_error (self, error->message);
  else
    show_error (self, NULL);
}

static void
on_remove_response (AdwMessageDialog *dialog,
                    const char       *response,
                    gpointer          user_data)
{
  HelixAlertsPage *self = HELIX_ALERTS_PAGE (user_data);
  const char *id = g_object_get_data (G_OBJECT (dialog), "webhook-id");

  if (g_strcmp0 (response, "remove") != 0)
    return;

  helix_webhook_settings_remove_async (self->settings, id, NULL, removed_cb, g_object_ref (self));
}

static void
remove_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *param)
{
  HelixAlertsPage *self = HELIX_ALERTS_PAGE (widget);
  const char *id = g_variant_get_string (param, NULL);
  const HelixWebhook *webhook = helix_webhook_settings_lookup (self->settings, id);
  g_autofree char *heading = NULL;
  AdwMessageDialog *dialog;

  if (webhook == NULL)
    return;

  /* Translators: %s is a webhook's name. */
  heading = g_strdup_printf (_("Remove %s?"), webhook->name);
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (get_window (self), heading,
                                                       _("Its address is removed from your "
                                                         "keyring, and Helix stops sending the "
                                                         "audit log to it the next time it "
                                                         "starts.")));
  adw_message_dialog_add_responses (dialog,
                                    "cancel", _("_Cancel"),
                                    "remove", _("_Remove"),
                                    NULL);
  adw_message_dialog_set_response_appearance (dialog, "remove", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (dialog, "cancel");
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_object_set_data_full (G_OBJECT (dialog), "webhook-id", g_strdup (id), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_remove_response), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* GObject {{{1 */

static void
helix_alerts_page_map (GtkWidget *widget)
{
  HelixAlertsPage *self = HELIX_ALERTS_PAGE (widget);

  GTK_WIDGET_CLASS (helix_alerts_page_parent_class)->map (widget);

  _helix_alerts_page_refresh (self);
  if (self->refresh_id == 0)
    self->refresh_id = g_timeout_add_seconds (REFRESH_INTERVAL_S, refresh_cb, self);
}

static void
helix_alerts_page_unmap (GtkWidget *widget)
{
  HelixAlertsPage *self = HELIX_ALERTS_PAGE (widget);

  g_clear_handle_id (&self->refresh_id, g_source_remove);

  GTK_WIDGET_CLASS (helix_alerts_page_parent_class)->unmap (widget);
}

static void
helix_alerts_page_constructed (GObject *object)
{
  HelixAlertsPage *self = HELIX_ALERTS_PAGE (object);
  GtkWidget *placeholder;

  G_OBJECT_CLASS (helix_alerts_page_parent_class)->constructed (object);

  g_assert (HELIX_IS_WEBHOOK_SETTINGS (self->settings));

  placeholder = adw_action_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (placeholder), _("No Webhooks"));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (placeholder),
                               _("Add one to be told on Discord or another service when a budget "
                                 "is reached, a provider fails or the audit log is checkpointed."));
  adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (placeholder), 0);
  gtk_list_box_set_placeholder (self->webhook_list, placeholder);

  g_signal_connect_object (self->settings, "changed", G_CALLBACK (rebuild_rows), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "notify::keyring-error",
                           G_CALLBACK (_helix_alerts_page_refresh), self, G_CONNECT_SWAPPED);

  rebuild_rows (self);
}

static void
helix_alerts_page_dispose (GObject *object)
{
  HelixAlertsPage *self = HELIX_ALERTS_PAGE (object);

  g_clear_handle_id (&self->refresh_id, g_source_remove);
  if (self->editor != NULL)
    gtk_window_destroy (GTK_WINDOW (self->editor));
  g_clear_weak_pointer (&self->editor);
  gtk_widget_dispose_template (GTK_WIDGET (self), HELIX_TYPE_ALERTS_PAGE);

  G_OBJECT_CLASS (helix_alerts_page_parent_class)->dispose (object);
}

static void
helix_alerts_page_finalize (GObject *object)
{
  HelixAlertsPage *self = HELIX_ALERTS_PAGE (object);

  g_clear_object (&self->settings);
  g_clear_object (&self->audit);
  g_clear_pointer (&self->editing_id, g_free);

  G_OBJECT_CLASS (helix_alerts_page_parent_class)->finalize (object);
}

static void
helix_alerts_page_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  HelixAlertsPage *self = HELIX_ALERTS_PAGE (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      g_value_set_object (value, self->settings);
      break;

    case PROP_AUDIT:
      g_value_set_object (value, self->audit);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_alerts_page_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  HelixAlertsPage *self = HELIX_ALERTS_PAGE (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      self->settings = g_value_dup_object (value);
      break;

    case PROP_AUDIT:
      self->audit = g_value_dup_object (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_alerts_page_class_init (HelixAlertsPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = helix_alerts_page_constructed;
  object_class->dispose = helix_alerts_page_dispose;
  object_class->finalize = helix_alerts_page_finalize;
  object_class->get_property = helix_alerts_page_get_property;
  object_class->set_property = helix_alerts_page_set_property;

  widget_class->map = helix_alerts_page_map;
  widget_class->unmap = helix_alerts_page_unmap;

  /**
   * HelixAlertsPage:settings:
   *
   * The webhooks the page shows and changes.
   */
  properties[PROP_SETTINGS] =
    g_param_spec_object ("settings", NULL, NULL, HELIX_TYPE_WEBHOOK_SETTINGS,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HelixAlertsPage:audit:
   *
   * The running audit trail, whose delivery state the page shows, or %NULL.
   */
  properties[PROP_AUDIT] =
    g_param_spec_object ("audit", NULL, NULL, HELIX_TYPE_AUDIT,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* The resources live in a static library: referring to them keeps the
   * linker from dropping them, and with them the templates. */
  (void) helix_get_resource ();

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/ai/helix/Helix/ui/helix-alerts-page.ui");
  gtk_widget_class_bind_template_child (widget_class, HelixAlertsPage, keyring_group);
  gtk_widget_class_bind_template_child (widget_class, HelixAlertsPage, keyring_label);
  gtk_widget_class_bind_template_child (widget_class, HelixAlertsPage, error_group);
  gtk_widget_class_bind_template_child (widget_class, HelixAlertsPage, error_label);
  gtk_widget_class_bind_template_child (widget_class, HelixAlertsPage, webhook_list);

  gtk_widget_class_install_action (widget_class, "alerts.add", NULL, add_action);
  gtk_widget_class_install_action (widget_class, "alerts.edit", "s", edit_action);
  gtk_widget_class_install_action (widget_class, "alerts.remove", "s", remove_action);
}

static void
helix_alerts_page_init (HelixAlertsPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

/**
 * helix_alerts_page_new:
 * @settings: the webhooks to show
 * @audit: (nullable): the running audit trail, for the delivery state
 *
 * Returns: (transfer floating): a new page
 */
HelixAlertsPage *
helix_alerts_page_new (HelixWebhookSettings *settings,
                       HelixAudit           *audit)
{
  g_return_val_if_fail (HELIX_IS_WEBHOOK_SETTINGS (settings), NULL);
  g_return_val_if_fail (audit == NULL || HELIX_IS_AUDIT (audit), NULL);

  return g_object_new (HELIX_TYPE_ALERTS_PAGE, "settings", settings, "audit", audit, NULL);
}
