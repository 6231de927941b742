/* helix-providers-page.c: Preferences → Providers
 *
 * Lists the AI providers of a HelixProviderSettings: name, kind and address,
 * how the router's health checks find it (Working / Failing / Not checked),
 * models the price table does not know, and a switch to turn it on or off.
 * "Add Provider" and a row open the editor; Remove asks first. The Spending
 * group sets the limits (GSettings, which HelixProviderSettings applies to the
 * router's budget) and shows what was spent.
 *
 * The router has no signal for health changes: the page looks again every few
 * seconds while it is shown.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-resources.h"
#include "helix-providers-page-private.h"

#define REFRESH_INTERVAL_S 5

G_DEFINE_FINAL_TYPE (HelixProvidersPage, helix_providers_page, ADW_TYPE_PREFERENCES_PAGE)

enum {
  PROP_0,
  PROP_SETTINGS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static const char *
kind_label (const char *kind)
{
  if (g_strcmp0 (kind, "openai") == 0)
    return _("OpenAI-compatible");
  if (g_strcmp0 (kind, "anthropic") == 0)
    return _("Anthropic");
  if (g_strcmp0 (kind, "gemini") == 0)
    return _("Google Gemini");

  return kind;
}

static HelixRouterProviderStatus *
find_status (GPtrArray  *statuses,
             const char *id)
{
  for (guint i = 0; i < statuses->len; i++)
    {
      HelixRouterProviderStatus *status = g_ptr_array_index (statuses, i);

      if (g_strcmp0 (status->name, id) == 0)
        return status;
    }

  return NULL;
}

/* How the provider is doing, for people. */
static char *
dup_status_text (HelixProvidersPage  *self,
                 HelixProviderConfig *config,
                 GPtrArray           *statuses)
{
  const char *id = helix_provider_config_get_id (config);
  const char *problem = helix_provider_settings_get_problem (self->settings, id);
  HelixRouterProviderStatus *status;

  if (!helix_provider_config_get_enabled (config))
    return g_strdup (_("Turned off"));

  if (problem != NULL)
    /* Translators: %s says why, like “The address is not an http URL”. */
    return g_strdup_printf (_("Not in use: %s"), problem);

  status = find_status (statuses, id);
  if (status == NULL)
    {
      if (helix_provider_settings_get_loading (self->settings))
        return g_strdup (_("Reading the API key from the keyring…"));
      return g_strdup (_("Not in use"));
    }

  if (status->check_error != NULL)
    /* Translators: %s is the error of the last health check. */
    return g_strdup_printf (_("Failing: %s"), status->check_error);
  if (status->health == HELIX_ROUTER_HEALTH_OPEN)
    return g_strdup (_("Failing: too many errors in a row"));
  if (status->n_checks > 0)
    return g_strdup (_("Working"));

  return g_strdup (_("Not checked"));
}

static char *
dup_subtitle (HelixProvidersPage  *self,
              HelixProviderConfig *config,
              GPtrArray           *statuses)
{
  const char *id = helix_provider_config_get_id (config);
  const char * const *models = helix_provider_config_get_models (config);
  g_autoptr(GString) subtitle = g_string_new (NULL);
  g_autoptr(GPtrArray) unpriced = g_ptr_array_new ();
  g_autofree char *status = dup_status_text (self, config, statuses);

  g_string_append_printf (subtitle, "%s · %s\n%s",
                          kind_label (helix_provider_config_get_kind (config)),
                          helix_provider_config_get_effective_base_url (config), status);

  if (helix_provider_config_get_enabled (config) &&
      !helix_provider_config_is_local (config) &&
      !helix_provider_settings_get_loading (self->settings) &&
      !helix_provider_settings_has_key (self->settings, id))
    g_string_append_printf (subtitle, " · %s", _("No API key"));

  for (guint i = 0; models[i] != NULL; i++)
    if (!helix_provider_settings_is_priced (self->settings, id, models[i]))
      g_ptr_array_add (unpriced, (gpointer) models[i]);

  if (unpriced->len > 0)
    {
      g_autofree char *list = NULL;

      g_ptr_array_add (unpriced, NULL);
      list = g_strjoinv (", ", (char **) unpriced->pdata);
      g_string_append_c (subtitle, '\n');
      /* Translators: %s is a list of model names. */
      g_string_append_printf (subtitle, _("Price unknown — not used for automatic choice: %s"),
                              list);
    }

  return g_string_free (g_steal_pointer (&subtitle), FALSE);
}

static void
update_spent (HelixProvidersPage *self)
{
  HelixBudget *budget = helix_router_get_budget (helix_provider_settings_get_router (self->settings));
  g_autofree char *text = NULL;

  gtk_widget_set_visible (GTK_WIDGET (self->spent_row), budget != NULL);
  if (budget == NULL)
    return;

  /* Translators: amounts in US dollars. */
  text = g_strdup_printf (_("Spent today: $%.2f · this month: $%.2f"),
                          helix_budget_get_spent (budget, HELIX_BUDGET_SCOPE_USER,
                                                  HELIX_BUDGET_LOCAL_USER, HELIX_BUDGET_PERIOD_DAY),
                          helix_budget_get_spent (budget, HELIX_BUDGET_SCOPE_USER,
                                                  HELIX_BUDGET_LOCAL_USER,
                                                  HELIX_BUDGET_PERIOD_MONTH));
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->spent_row), text);
}

/**
 * _helix_providers_page_refresh:
 * @self: the page
 *
 * Shows the router's health, the keyring's state and what was spent, as they
 * are now.
 */
void
_helix_providers_page_refresh (HelixProvidersPage *self)
{
  g_autoptr(GPtrArray) statuses = NULL;
  const char *keyring_error;

  g_return_if_fail (HELIX_IS_PROVIDERS_PAGE (self));

  keyring_error = helix_provider_settings_get_keyring_error (self->settings);
  gtk_label_set_text (self->keyring_label, keyring_error != NULL ? keyring_error : "");
  gtk_widget_set_visible (GTK_WIDGET (self->keyring_group), keyring_error != NULL);

  statuses = helix_router_get_status (helix_provider_settings_get_router (self->settings));
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->provider_list));
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      HelixProviderConfig *config = g_object_get_data (G_OBJECT (child), "config");
      g_autofree char *subtitle = NULL;

      if (config == NULL)
        continue;

      subtitle = dup_subtitle (self, config, statuses);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (child), subtitle);
    }

  update_spent (self);
}

static gboolean
refresh_cb (gpointer user_data)
{
  _helix_providers_page_refresh (HELIX_PROVIDERS_PAGE (user_data));

  return G_SOURCE_CONTINUE;
}

/* Rows {{{1 */

typedef struct
{
  HelixProvidersPage *page;
  char               *id;
  gboolean            enabled;
} SetEnabled;

static void
set_enabled_free (gpointer data)
{
  SetEnabled *set = data;

  g_object_unref (set->page);
  g_free (set->id);
  g_free (set);
}

static gboolean
set_enabled_cb (gpointer data)
{
  SetEnabled *set = data;

  helix_provider_settings_set_enabled (set->page->settings, set->id, set->enabled);

  return G_SOURCE_REMOVE;
}

/* Later: the change rebuilds the row, and with it this switch. */
static void
on_enabled_changed (GtkSwitch  *toggle,
                    GParamSpec *pspec,
                    gpointer    user_data)
{
  HelixProvidersPage *self = HELIX_PROVIDERS_PAGE (user_data);
  HelixProviderConfig *config = g_object_get_data (G_OBJECT (toggle), "config");
  SetEnabled *set = g_new0 (SetEnabled, 1);

  set->page = g_object_ref (self);
  set->id = g_strdup (helix_provider_config_get_id (config));
  set->enabled = gtk_switch_get_active (toggle);
  g_idle_add_full (G_PRIORITY_DEFAULT, set_enabled_cb, set, set_enabled_free);
}

static GtkWidget *
create_row (gpointer item,
            gpointer user_data)
{
  HelixProvidersPage *self = HELIX_PROVIDERS_PAGE (user_data);
  HelixProviderConfig *config = HELIX_PROVIDER_CONFIG (item);
  const char *id = helix_provider_config_get_id (config);
  g_autoptr(GPtrArray) statuses = helix_router_get_status (helix_provider_settings_get_router (self->settings));
  g_autofree char *subtitle = dup_subtitle (self, config, statuses);
  GtkWidget *row;
  GtkWidget *toggle;
  GtkWidget *remove;

  row = adw_action_row_new ();
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), helix_provider_config_get_name (config));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 0);
  g_object_set_data_full (G_OBJECT (row), "config", g_object_ref (config), g_object_unref);

  remove = gtk_button_new_from_icon_name ("user-trash-symbolic");
  gtk_widget_set_valign (remove, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (remove, "flat");
  gtk_widget_set_tooltip_text (remove, _("Remove"));
  gtk_actionable_set_action_name (GTK_ACTIONABLE (remove), "providers.remove");
  gtk_actionable_set_action_target (GTK_ACTIONABLE (remove), "s", id);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), remove);

  toggle = gtk_switch_new ();
  gtk_widget_set_valign (toggle, GTK_ALIGN_CENTER);
  gtk_switch_set_active (GTK_SWITCH (toggle), helix_provider_config_get_enabled (config));
  gtk_widget_set_tooltip_text (toggle, _("Use this provider"));
  g_object_set_data_full (G_OBJECT (toggle), "config", g_object_ref (config), g_object_unref);
  g_signal_connect_object (toggle, "notify::active", G_CALLBACK (on_enabled_changed), self, 0);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), toggle);

  /* Activating the row edits the provider. */
  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (row), "providers.edit");
  gtk_actionable_set_action_target (GTK_ACTIONABLE (row), "s", id);

  return row;
}

static void
on_state_changed (HelixProvidersPage    *self,
                  const char            *id,
                  HelixProviderSettings *settings)
{
  _helix_providers_page_refresh (self);
}

/* Actions {{{1 */

static GtkWindow *
get_window (HelixProvidersPage *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  return GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL;
}

static void
show_toast (HelixProvidersPage *self,
            const char         *title)
{
  GtkWindow *window = get_window (self);
  g_autofree char *escaped = g_markup_escape_text (title, -1);

  if (ADW_IS_PREFERENCES_WINDOW (window))
    adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (window), adw_toast_new (escaped));
  else
    g_message ("%s", title);
}

static void
open_editor (HelixProvidersPage  *self,
             HelixProviderConfig *config)
{
  HelixProviderEditor *editor;

  if (self->editor != NULL)
    gtk_window_destroy (self->editor);

  editor = helix_provider_editor_new (get_window (self), self->settings, config);
  g_set_weak_pointer (&self->editor, GTK_WINDOW (editor));
  gtk_window_present (GTK_WINDOW (editor));
}

static void
add_action (GtkWidget  *widget,
            const char *action_name,
            GVariant   *param)
{
  open_editor (HELIX_PROVIDERS_PAGE (widget), NULL);
}

static void
edit_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *param)
{
  HelixProvidersPage *self = HELIX_PROVIDERS_PAGE (widget);
  HelixProviderConfig *config;

  config = helix_provider_settings_lookup (self->settings, g_variant_get_string (param, NULL));
  if (config != NULL)
    open_editor (self, config);
}

static void
removed_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(HelixProvidersPage) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!helix_provider_settings_remove_finish (HELIX_PROVIDER_SETTINGS (object), result, &error))
    show_toast (self, error->message);
}

static void
on_remove_response (AdwMessageDialog *dialog,
                    const char       *response,
                    gpointer          user_data)
{
  HelixProvidersPage *self = HELIX_PROVIDERS_PAGE (user_data);
  const char *id = g_object_get_data (G_OBJECT (dialog), "provider-id");

  if (g_strcmp0 (response, "remove") != 0)
    return;

  helix_provider_settings_remove_async (self->settings, id, NULL, removed_cb,
                                        g_object_ref (self));
}

static void
remove_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *param)
{
  HelixProvidersPage *self = HELIX_PROVIDERS_PAGE (widget);
  const char *id = g_variant_get_string (param, NULL);
  HelixProviderConfig *config = helix_provider_settings_lookup (self->settings, id);
  g_autofree char *heading = NULL;
  AdwMessageDialog *dialog;

  if (config == NULL)
    return;

  /* Translators: %s is a provider's name. */
  heading = g_strdup_printf (_("Remove %s?"), helix_provider_config_get_name (config));
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (get_window (self), heading,
                                                       _("Helix will no longer use it, and its API "
                                                         "key is removed from your keyring.")));
  adw_message_dialog_add_responses (dialog,
                                    "cancel", _("_Cancel"),
                                    "remove", _("_Remove"),
                                    NULL);
  adw_message_dialog_set_response_appearance (dialog, "remove", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (dialog, "cancel");
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_object_set_data_full (G_OBJECT (dialog), "provider-id", g_strdup (id), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_remove_response), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* Spending {{{1 */

static gboolean
over_cap_get_mapping (GValue   *value,
                      GVariant *variant,
                      gpointer  user_data)
{
  g_value_set_uint (value, g_str_equal (g_variant_get_string (variant, NULL), "downgrade") ? 1 : 0);
  return TRUE;
}

static GVariant *
over_cap_set_mapping (const GValue       *value,
                      const GVariantType *expected_type,
                      gpointer            user_data)
{
  return g_variant_new_string (g_value_get_uint (value) == 1 ? "downgrade" : "refuse");
}

/* GObject {{{1 */

static void
helix_providers_page_map (GtkWidget *widget)
{
  HelixProvidersPage *self = HELIX_PROVIDERS_PAGE (widget);

  GTK_WIDGET_CLASS (helix_providers_page_parent_class)->map (widget);

  _helix_providers_page_refresh (self);
  if (self->refresh_id == 0)
    self->refresh_id = g_timeout_add_seconds (REFRESH_INTERVAL_S, refresh_cb, self);
}

static void
helix_providers_page_unmap (GtkWidget *widget)
{
  HelixProvidersPage *self = HELIX_PROVIDERS_PAGE (widget);

  g_clear_handle_id (&self->refresh_id, g_source_remove);

  GTK_WIDGET_CLASS (helix_providers_page_parent_class)->unmap (widget);
}

static void
helix_providers_page_constructed (GObject *object)
{
  HelixProvidersPage *self = HELIX_PROVIDERS_PAGE (object);
  GSettings *settings;

  G_OBJECT_CLASS (helix_providers_page_parent_class)->constructed (object);

  g_assert (HELIX_IS_PROVIDER_SETTINGS (self->settings));
  settings = helix_provider_settings_get_settings (self->settings);

  gtk_list_box_bind_model (self->provider_list, G_LIST_MODEL (self->settings), create_row, self,
                           NULL);
  {
    GtkWidget *placeholder = adw_action_row_new ();

    adw_preferences_row_set_title (ADW_PREFERENCES_ROW (placeholder), _("No Providers"));
    adw_action_row_set_subtitle (ADW_ACTION_ROW (placeholder),
                                 _("Add one to chat with an assistant: a service like OpenAI or "
                                   "Anthropic, or a server on this computer like Ollama."));
    adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (placeholder), 0);
    gtk_list_box_set_placeholder (self->provider_list, placeholder);
  }

  g_signal_connect_object (self->settings, "state-changed", G_CALLBACK (on_state_changed), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "notify::keyring-error",
                           G_CALLBACK (_helix_providers_page_refresh), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "notify::loading",
                           G_CALLBACK (_helix_providers_page_refresh), self, G_CONNECT_SWAPPED);

  g_settings_bind (settings, "budget-daily-usd", self->daily_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "budget-monthly-usd", self->monthly_spin, "value",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind_with_mapping (settings, "budget-over-cap", self->over_cap_row, "selected",
                                G_SETTINGS_BIND_DEFAULT, over_cap_get_mapping,
                                over_cap_set_mapping, NULL, NULL);

  _helix_providers_page_refresh (self);
}

static void
helix_providers_page_dispose (GObject *object)
{
  HelixProvidersPage *self = HELIX_PROVIDERS_PAGE (object);

  g_clear_handle_id (&self->refresh_id, g_source_remove);
  if (self->editor != NULL)
    gtk_window_destroy (self->editor);
  g_clear_weak_pointer (&self->editor);
  gtk_widget_dispose_template (GTK_WIDGET (self), HELIX_TYPE_PROVIDERS_PAGE);

  G_OBJECT_CLASS (helix_providers_page_parent_class)->dispose (object);
}

static void
helix_providers_page_finalize (GObject *object)
{
  HelixProvidersPage *self = HELIX_PROVIDERS_PAGE (object);

  g_clear_object (&self->settings);

  G_OBJECT_CLASS (helix_providers_page_parent_class)->finalize (object);
}

static void
helix_providers_page_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  HelixProvidersPage *self = HELIX_PROVIDERS_PAGE (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      g_value_set_object (value, self->settings);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_providers_page_set_property (GObject      *object,
                                   guint         prop_id,
                                   const GValue *value,
                                   GParamSpec   *pspec)
{
  HelixProvidersPage *self = HELIX_PROVIDERS_PAGE (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      self->settings = g_value_dup_object (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_providers_page_class_init (HelixProvidersPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = helix_providers_page_constructed;
  object_class->dispose = helix_providers_page_dispose;
  object_class->finalize = helix_providers_page_finalize;
  object_class->get_property = helix_providers_page_get_property;
  object_class->set_property = helix_providers_page_set_property;

  widget_class->map = helix_providers_page_map;
  widget_class->unmap = helix_providers_page_unmap;

  /**
   * HelixProvidersPage:settings:
   *
   * The providers and limits the page shows and changes.
   */
  properties[PROP_SETTINGS] =
    g_param_spec_object ("settings", NULL, NULL, HELIX_TYPE_PROVIDER_SETTINGS,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* The resources live in a static library: referring to them keeps the
   * linker from dropping them, and with them the templates. */
  (void) helix_get_resource ();

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/ai/helix/Helix/ui/helix-providers-page.ui");
  gtk_widget_class_bind_template_child (widget_class, HelixProvidersPage, keyring_group);
  gtk_widget_class_bind_template_child (widget_class, HelixProvidersPage, keyring_label);
  gtk_widget_class_bind_template_child (widget_class, HelixProvidersPage, provider_list);
  gtk_widget_class_bind_template_child (widget_class, HelixProvidersPage, daily_spin);
  gtk_widget_class_bind_template_child (widget_class, HelixProvidersPage, monthly_spin);
  gtk_widget_class_bind_template_child (widget_class, HelixProvidersPage, over_cap_row);
  gtk_widget_class_bind_template_child (widget_class, HelixProvidersPage, spent_row);

  gtk_widget_class_install_action (widget_class, "providers.add", NULL, add_action);
  gtk_widget_class_install_action (widget_class, "providers.edit", "s", edit_action);
  gtk_widget_class_install_action (widget_class, "providers.remove", "s", remove_action);
}

static void
helix_providers_page_init (HelixProvidersPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

/**
 * helix_providers_page_new:
 * @settings: the providers and limits to show
 *
 * Returns: (transfer floating): a new page
 */
HelixProvidersPage *
helix_providers_page_new (HelixProviderSettings *settings)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER_SETTINGS (settings), NULL);

  return g_object_new (HELIX_TYPE_PROVIDERS_PAGE, "settings", settings, NULL);
}
