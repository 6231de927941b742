/* helix-provider-editor.c: the dialog that adds or changes an AI provider
 *
 * Name, kind, base URL (empty for the vendor's), API key, models; "Fetch"
 * fills the models from the provider, "Test Connection" asks it for them and
 * says how it went. The key field stays empty for a provider whose key is in
 * the keyring: typing one replaces it, leaving it empty keeps it. The work
 * (validation, keyring, HTTP) is HelixProviderSettings'; this only shows it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-resources.h"
#include "helix-http-provider.h"
#include "helix-provider-editor-private.h"

G_DEFINE_FINAL_TYPE (HelixProviderEditor, helix_provider_editor, ADW_TYPE_WINDOW)

enum {
  PROP_0,
  PROP_SETTINGS,
  PROP_CONFIG,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* In the order of the kind row's list. */
static const char * const kinds[] = { "openai", "anthropic", "gemini" };

static const char *
get_kind (HelixProviderEditor *self)
{
  guint selected = adw_combo_row_get_selected (self->kind_row);

  return kinds[selected < G_N_ELEMENTS (kinds) ? selected : 0];
}

static const char *
get_text (gpointer row)
{
  return gtk_editable_get_text (GTK_EDITABLE (row));
}

/* What the fields say, as a configuration with the id of the one edited. */
static HelixProviderConfig *
dup_entered (HelixProviderEditor *self)
{
  g_auto(GStrv) models = helix_provider_parse_models (get_text (self->models_row));
  g_autofree char *name = g_strstrip (g_strdup (get_text (self->name_row)));
  g_autofree char *base_url = g_strstrip (g_strdup (get_text (self->url_row)));

  return helix_provider_config_new (self->config != NULL ? helix_provider_config_get_id (self->config)
                                                         : NULL,
                                    name, get_kind (self), base_url,
                                    (const char * const *) models,
                                    self->config != NULL ? helix_provider_config_get_enabled (self->config)
                                                         : TRUE);
}

static void
show_error (HelixProviderEditor *self,
            const char          *message)
{
  gtk_label_set_text (self->error_label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), message != NULL);
}

static void
show_test_result (HelixProviderEditor *self,
                  const char          *message,
                  gboolean             success)
{
  gtk_label_set_text (self->test_label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->test_label), message != NULL);
  if (success)
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self->test_label), "error");
      gtk_widget_add_css_class (GTK_WIDGET (self->test_label), "success");
    }
  else
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self->test_label), "success");
      gtk_widget_add_css_class (GTK_WIDGET (self->test_label), "error");
    }
}

static void
set_busy (HelixProviderEditor *self,
          gboolean             busy)
{
  self->busy = !!busy;
  gtk_widget_set_visible (GTK_WIDGET (self->test_spinner), busy);
  gtk_spinner_set_spinning (self->test_spinner, busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "editor.test", !busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "editor.fetch", !busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "editor.save", !busy);
}

static void
update_url_hint (HelixProviderEditor *self)
{
  const char *url = helix_http_provider_default_base_url (get_kind (self));
  g_autofree char *hint = NULL;

  /* Translators: %s is an address like https://api.openai.com/v1. */
  hint = g_strdup_printf (_("Leave empty for %s. For a server of your own, like Ollama, enter its "
                            "address, like http://127.0.0.1:11434/v1."),
                          url);
  adw_preferences_group_set_description (self->url_group, hint);
}

static void
on_kind_changed (HelixProviderEditor *self,
                 GParamSpec          *pspec,
                 AdwComboRow         *row)
{
  update_url_hint (self);
}

static void
on_changed (HelixProviderEditor *self,
            GtkEditable         *editable)
{
  show_error (self, NULL);
}

/* Test and fetch {{{1 */

static void
test_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(HelixProviderEditor) self = user_data;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) models = NULL;
  gboolean fill;
  guint n;

  models = helix_provider_settings_test_finish (HELIX_PROVIDER_SETTINGS (object), result, &error);
  if (g_cancellable_is_cancelled (self->cancellable))
    return;

  fill = GPOINTER_TO_INT (g_object_steal_data (G_OBJECT (self), "fill-models"));
  set_busy (self, FALSE);

  if (models == NULL)
    {
      /* The AI layer's messages are for people and never hold the key. */
      show_test_result (self, error->message, FALSE);
      return;
    }

  n = g_strv_length (models);
  if (fill && n > 0)
    {
      g_autofree char *joined = g_strjoinv (", ", models);

      gtk_editable_set_text (GTK_EDITABLE (self->models_row), joined);
    }

  if (n == 0)
    show_test_result (self, _("Connected, but the provider lists no models. Enter them by hand."),
                      TRUE);
  else
    {
      g_autofree char *message = NULL;

      /* Translators: shown after a successful connection test. */
      message = g_strdup_printf (ngettext ("Connected · %u model", "Connected · %u models", n), n);
      show_test_result (self, message, TRUE);
    }
}

static void
start_test (HelixProviderEditor *self,
            gboolean             fill_models)
{
  g_autoptr(HelixProviderConfig) entered = NULL;

  if (self->busy)
    return;

  entered = dup_entered (self);
  show_error (self, NULL);
  show_test_result (self, NULL, TRUE);
  set_busy (self, TRUE);
  g_object_set_data (G_OBJECT (self), "fill-models", GINT_TO_POINTER (fill_models));
  helix_provider_settings_test_async (self->settings, entered, get_text (self->key_row),
                                      self->cancellable, test_cb, g_object_ref (self));
}

static void
test_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *param)
{
  start_test (HELIX_PROVIDER_EDITOR (widget), FALSE);
}

static void
fetch_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *param)
{
  start_test (HELIX_PROVIDER_EDITOR (widget), TRUE);
}

/* Save {{{1 */

static void
save_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(HelixProviderEditor) self = user_data;
  g_autoptr(HelixProviderConfig) saved = NULL;
  g_autoptr(GError) error = NULL;

  saved = helix_provider_settings_save_finish (HELIX_PROVIDER_SETTINGS (object), result, &error);
  if (g_cancellable_is_cancelled (self->cancellable))
    return;

  set_busy (self, FALSE);
  if (saved == NULL)
    {
      show_error (self, error->message);
      return;
    }

  gtk_editable_set_text (GTK_EDITABLE (self->key_row), "");
  gtk_window_close (GTK_WINDOW (self));
}

static void
save_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *param)
{
  HelixProviderEditor *self = HELIX_PROVIDER_EDITOR (widget);
  g_autoptr(HelixProviderConfig) entered = NULL;
  g_autoptr(GError) error = NULL;

  if (self->busy)
    return;

  entered = dup_entered (self);
  if (!helix_provider_settings_validate (self->settings, entered, &error))
    {
      show_error (self, error->message);
      return;
    }

  show_error (self, NULL);
  set_busy (self, TRUE);
  helix_provider_settings_save_async (self->settings, entered, get_text (self->key_row),
                                      self->cancellable, save_cb, g_object_ref (self));
}

/* GObject {{{1 */

static void
helix_provider_editor_constructed (GObject *object)
{
  HelixProviderEditor *self = HELIX_PROVIDER_EDITOR (object);

  G_OBJECT_CLASS (helix_provider_editor_parent_class)->constructed (object);

  g_assert (HELIX_IS_PROVIDER_SETTINGS (self->settings));

  if (self->config != NULL)
    {
      const char *id = helix_provider_config_get_id (self->config);
      g_autofree char *models = g_strjoinv (", ", (char **) helix_provider_config_get_models (self->config));

      gtk_window_set_title (GTK_WINDOW (self), _("Edit Provider"));
      gtk_editable_set_text (GTK_EDITABLE (self->name_row), helix_provider_config_get_name (self->config));
      for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
        if (g_str_equal (kinds[i], helix_provider_config_get_kind (self->config)))
          adw_combo_row_set_selected (self->kind_row, i);
      gtk_editable_set_text (GTK_EDITABLE (self->url_row),
                             helix_provider_config_get_base_url (self->config));
      gtk_editable_set_text (GTK_EDITABLE (self->models_row), models);

      if (helix_provider_settings_has_key (self->settings, id))
        adw_preferences_group_set_description (self->key_group,
                                               _("Stored in the keyring. Leave empty to keep it, "
                                                 "or enter new keys to replace it. Several keys, "
                                                 "separated by spaces, are used in turn when one "
                                                 "runs out of quota."));
    }
  else
    gtk_window_set_title (GTK_WINDOW (self), _("Add Provider"));

  if (adw_preferences_group_get_description (self->key_group) == NULL)
    adw_preferences_group_set_description (self->key_group,
                                           _("Kept in your keyring, nowhere else. Several keys, "
                                             "separated by spaces, are used in turn when one runs "
                                             "out of quota. Servers on this computer, like Ollama, "
                                             "need none."));

  update_url_hint (self);
  show_error (self, NULL);
  gtk_window_set_focus (GTK_WINDOW (self), GTK_WIDGET (self->name_row));
}

static void
helix_provider_editor_dispose (GObject *object)
{
  HelixProviderEditor *self = HELIX_PROVIDER_EDITOR (object);

  g_cancellable_cancel (self->cancellable);
  gtk_widget_dispose_template (GTK_WIDGET (self), HELIX_TYPE_PROVIDER_EDITOR);

  G_OBJECT_CLASS (helix_provider_editor_parent_class)->dispose (object);
}

static void
helix_provider_editor_finalize (GObject *object)
{
  HelixProviderEditor *self = HELIX_PROVIDER_EDITOR (object);

  g_clear_object (&self->settings);
  g_clear_object (&self->config);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (helix_provider_editor_parent_class)->finalize (object);
}

static void
helix_provider_editor_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  HelixProviderEditor *self = HELIX_PROVIDER_EDITOR (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      g_value_set_object (value, self->settings);
      break;

    case PROP_CONFIG:
      g_value_set_object (value, self->config);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_provider_editor_set_property (GObject      *object,
                                    guint         prop_id,
                                    const GValue *value,
                                    GParamSpec   *pspec)
{
  HelixProviderEditor *self = HELIX_PROVIDER_EDITOR (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      self->settings = g_value_dup_object (value);
      break;

    case PROP_CONFIG:
      self->config = g_value_dup_object (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_provider_editor_class_init (HelixProviderEditorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = helix_provider_editor_constructed;
  object_class->dispose = helix_provider_editor_dispose;
  object_class->finalize = helix_provider_editor_finalize;
  object_class->get_property = helix_provider_editor_get_property;
  object_class->set_property = helix_provider_editor_set_property;

  /**
   * HelixProviderEditor:settings:
   *
   * Where the provider is saved.
   */
  properties[PROP_SETTINGS] =
    g_param_spec_object ("settings", NULL, NULL, HELIX_TYPE_PROVIDER_SETTINGS,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HelixProviderEditor:config:
   *
   * The provider being changed, or %NULL to add one.
   */
  properties[PROP_CONFIG] =
    g_param_spec_object ("config", NULL, NULL, HELIX_TYPE_PROVIDER_CONFIG,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* The resources live in a static library: referring to them keeps the
   * linker from dropping them, and with them the templates. */
  (void) helix_get_resource ();

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/ai/helix/Helix/ui/helix-provider-editor.ui");
  gtk_widget_class_bind_template_child (widget_class, HelixProviderEditor, name_row);
  gtk_widget_class_bind_template_child (widget_class, HelixProviderEditor, kind_row);
  gtk_widget_class_bind_template_child (widget_class, HelixProviderEditor, url_group);
  gtk_widget_class_bind_template_child (widget_class, HelixProviderEditor, url_row);
  gtk_widget_class_bind_template_child (widget_class, HelixProviderEditor, key_group);
  gtk_widget_class_bind_template_child (widget_class, HelixProviderEditor, key_row);
  gtk_widget_class_bind_template_child (widget_class, HelixProviderEditor, models_row);
  gtk_widget_class_bind_template_child (widget_class, HelixProviderEditor, fetch_button);
  gtk_widget_class_bind_template_child (widget_class, HelixProviderEditor, test_button);
  gtk_widget_class_bind_template_child (widget_class, HelixProviderEditor, test_spinner);
  gtk_widget_class_bind_template_child (widget_class, HelixProviderEditor, test_label);
  gtk_widget_class_bind_template_child (widget_class, HelixProviderEditor, error_label);
  gtk_widget_class_bind_template_child (widget_class, HelixProviderEditor, save_button);
  gtk_widget_class_bind_template_callback (widget_class, on_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_kind_changed);

  gtk_widget_class_install_action (widget_class, "editor.save", NULL, save_action);
  gtk_widget_class_install_action (widget_class, "editor.test", NULL, test_action);
  gtk_widget_class_install_action (widget_class, "editor.fetch", NULL, fetch_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_s, GDK_CONTROL_MASK, "editor.save",
                                       NULL);
}

static void
helix_provider_editor_init (HelixProviderEditor *self)
{
  self->cancellable = g_cancellable_new ();
  gtk_widget_init_template (GTK_WIDGET (self));
}

/**
 * helix_provider_editor_new:
 * @transient_for: (nullable): the window it belongs to
 * @settings: where the provider is saved
 * @config: (nullable): the provider to change, or %NULL to add one
 *
 * Returns: (transfer none): a new editor, owned by GTK like every toplevel window
 */
HelixProviderEditor *
helix_provider_editor_new (GtkWindow             *transient_for,
                           HelixProviderSettings *settings,
                           HelixProviderConfig   *config)
{
  g_return_val_if_fail (!transient_for || GTK_IS_WINDOW (transient_for), NULL);
  g_return_val_if_fail (HELIX_IS_PROVIDER_SETTINGS (settings), NULL);
  g_return_val_if_fail (!config || HELIX_IS_PROVIDER_CONFIG (config), NULL);

  return g_object_new (HELIX_TYPE_PROVIDER_EDITOR,
                       "transient-for", transient_for,
                       "settings", settings,
                       "config", config,
                       NULL);
}
