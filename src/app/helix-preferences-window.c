/* helix-preferences-window.c: the preferences window (Account, Providers, Alerts)
 *
 * The Account page signs the application's HelixAccount in to a gateway and
 * out again. It only shows the account: the HTTP and keyring work is in
 * HelixAccount. The gateway address and the user name (not secret) are
 * remembered in GSettings; the password is not kept, the token lives in the
 * keyring.
 *
 * The Providers page (HelixProvidersPage) is added beside it when the
 * application gives the window its HelixProviderSettings, and the Alerts page
 * (HelixAlertsPage) when it gives its HelixWebhookSettings.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-alerts-page.h"
#include "helix-preferences-window.h"
#include "helix-providers-page.h"

struct _HelixPreferencesWindow
{
  AdwPreferencesWindow  parent_instance;

  HelixAccount         *account;
  GSettings            *settings;
  HelixProvidersPage   *providers_page;
  HelixAlertsPage      *alerts_page;

  /* Template widgets */
  AdwPreferencesGroup  *sign_in_group;
  AdwPreferencesGroup  *sign_in_button_group;
  AdwPreferencesGroup  *signed_in_group;
  AdwEntryRow          *gateway_row;
  AdwEntryRow          *username_row;
  AdwEntryRow          *password_row;
  GtkLabel             *error_label;
  GtkSpinner           *sign_in_spinner;
  GtkSpinner           *sign_out_spinner;
  AdwActionRow         *status_row;
  GtkSwitch            *through_gateway_switch;
};

G_DEFINE_FINAL_TYPE (HelixPreferencesWindow, helix_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

enum {
  PROP_0,
  PROP_ACCOUNT,
  PROP_SETTINGS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static gboolean
row_is_empty (AdwEntryRow *row)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (row));
  g_autofree char *stripped = g_strstrip (g_strdup (text));

  return *stripped == '\0';
}

static void
show_error (HelixPreferencesWindow *self,
            const char             *message)
{
  gtk_label_set_text (self->error_label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), message != NULL);
}

static void
show_toast (HelixPreferencesWindow *self,
            const char             *title)
{
  g_autofree char *escaped = g_markup_escape_text (title, -1);

  adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (self), adw_toast_new (escaped));
}

static void
update_state (HelixPreferencesWindow *self)
{
  gboolean signed_in = helix_account_get_signed_in (self->account);
  gboolean busy = helix_account_get_busy (self->account);
  gboolean complete;

  gtk_widget_set_visible (GTK_WIDGET (self->sign_in_group), !signed_in);
  gtk_widget_set_visible (GTK_WIDGET (self->sign_in_button_group), !signed_in);
  gtk_widget_set_visible (GTK_WIDGET (self->signed_in_group), signed_in);

  if (signed_in)
    {
      g_autofree char *host = helix_account_dup_gateway_host (self->account);
      g_autofree char *title = NULL;

      /* Translators: the first %s is a user name, the second a host name. */
      title = g_strdup_printf (_("Signed in as %s on %s"),
                               helix_account_get_username (self->account), host);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->status_row), title);
      adw_action_row_set_subtitle (self->status_row,
                                   helix_account_get_gateway_uri (self->account));
    }

  gtk_widget_set_sensitive (GTK_WIDGET (self->sign_in_group), !busy);
  gtk_widget_set_visible (GTK_WIDGET (self->sign_in_spinner), busy && !signed_in);
  gtk_spinner_set_spinning (self->sign_in_spinner, busy && !signed_in);
  gtk_widget_set_visible (GTK_WIDGET (self->sign_out_spinner), busy && signed_in);
  gtk_spinner_set_spinning (self->sign_out_spinner, busy && signed_in);

  complete = !row_is_empty (self->gateway_row) &&
             !row_is_empty (self->username_row) &&
             *gtk_editable_get_text (GTK_EDITABLE (self->password_row)) != '\0';

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "preferences.sign-in",
                                 !busy && !signed_in && complete);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "preferences.sign-out", !busy && signed_in);
}

static void
on_account_notify (HelixPreferencesWindow *self,
                   GParamSpec             *pspec,
                   HelixAccount           *account)
{
  update_state (self);
}

static void
on_entry_changed (HelixPreferencesWindow *self,
                  GtkEditable            *editable)
{
  update_state (self);
}

/* Enter moves on to the next empty field, or signs in when all are filled. */
static void
on_entry_activated (HelixPreferencesWindow *self,
                    AdwEntryRow            *row)
{
  AdwEntryRow *rows[] = { self->gateway_row, self->username_row, self->password_row };

  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    {
      if (row_is_empty (rows[i]))
        {
          gtk_widget_grab_focus (GTK_WIDGET (rows[i]));
          return;
        }
    }

  gtk_widget_activate_action (GTK_WIDGET (self), "preferences.sign-in", NULL);
}

static void
sign_in_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(HelixPreferencesWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!helix_account_sign_in_finish (HELIX_ACCOUNT (object), result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;

      show_error (self, error->message);

      if (g_error_matches (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_AUTH))
        {
          gtk_editable_set_text (GTK_EDITABLE (self->password_row), "");
          gtk_widget_grab_focus (GTK_WIDGET (self->password_row));
        }
      return;
    }

  /* Not secret: remembered for the next start, which loads the token. */
  g_settings_set_string (self->settings, "gateway-url",
                         helix_account_get_gateway_uri (self->account));
  g_settings_set_string (self->settings, "username", helix_account_get_username (self->account));

  gtk_editable_set_text (GTK_EDITABLE (self->password_row), "");
  show_error (self, NULL);
  show_toast (self, _("Signed in"));
}

static void
sign_in_action (GtkWidget  *widget,
                const char *action_name,
                GVariant   *param)
{
  HelixPreferencesWindow *self = HELIX_PREFERENCES_WINDOW (widget);

  if (helix_account_get_busy (self->account) || helix_account_get_signed_in (self->account))
    return;

  show_error (self, NULL);
  helix_account_sign_in_async (self->account,
                               gtk_editable_get_text (GTK_EDITABLE (self->gateway_row)),
                               gtk_editable_get_text (GTK_EDITABLE (self->username_row)),
                               gtk_editable_get_text (GTK_EDITABLE (self->password_row)),
                               NULL, NULL, sign_in_cb, g_object_ref (self));
}

static void
sign_out_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(HelixPreferencesWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  /* Signed out on this device in any case; an error says what is left. */
  if (!helix_account_sign_out_finish (HELIX_ACCOUNT (object), result, &error))
    show_error (self, error->message);
  else
    {
      show_error (self, NULL);
      show_toast (self, _("Signed out"));
    }
}

static void
sign_out_action (GtkWidget  *widget,
                 const char *action_name,
                 GVariant   *param)
{
  HelixPreferencesWindow *self = HELIX_PREFERENCES_WINDOW (widget);

  if (helix_account_get_busy (self->account) || !helix_account_get_signed_in (self->account))
    return;

  show_error (self, NULL);
  helix_account_sign_out_async (self->account, NULL, sign_out_cb, g_object_ref (self));
}

static void
helix_preferences_window_constructed (GObject *object)
{
  HelixPreferencesWindow *self = (HelixPreferencesWindow *)object;
  const char *gateway_uri;
  const char *username;
  g_autofree char *saved_gateway = NULL;
  g_autofree char *saved_username = NULL;

  G_OBJECT_CLASS (helix_preferences_window_parent_class)->constructed (object);

  g_assert (HELIX_IS_ACCOUNT (self->account));
  g_assert (G_IS_SETTINGS (self->settings));

  /* The account's own values first (a sign-in of this run), then the
   * remembered ones. */
  saved_gateway = g_settings_get_string (self->settings, "gateway-url");
  saved_username = g_settings_get_string (self->settings, "username");
  gateway_uri = helix_account_get_gateway_uri (self->account);
  username = helix_account_get_username (self->account);
  gtk_editable_set_text (GTK_EDITABLE (self->gateway_row),
                         gateway_uri != NULL ? gateway_uri : saved_gateway);
  gtk_editable_set_text (GTK_EDITABLE (self->username_row),
                         username != NULL ? username : saved_username);

  g_settings_bind (self->settings, "chat-through-gateway", self->through_gateway_switch,
                   "active", G_SETTINGS_BIND_DEFAULT);

  g_signal_connect_object (self->account, "notify::signed-in", G_CALLBACK (on_account_notify),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->account, "notify::busy", G_CALLBACK (on_account_notify),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->account, "notify::gateway-uri", G_CALLBACK (on_account_notify),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->account, "notify::username", G_CALLBACK (on_account_notify),
                           self, G_CONNECT_SWAPPED);

  /* Remembered address and name: what is left to type is the password. */
  if (!helix_account_get_signed_in (self->account) &&
      !row_is_empty (self->gateway_row) && !row_is_empty (self->username_row))
    gtk_window_set_focus (GTK_WINDOW (self), GTK_WIDGET (self->password_row));

  update_state (self);
}

static void
helix_preferences_window_dispose (GObject *object)
{
  HelixPreferencesWindow *self = (HelixPreferencesWindow *)object;

  gtk_widget_dispose_template (GTK_WIDGET (self), HELIX_TYPE_PREFERENCES_WINDOW);

  G_OBJECT_CLASS (helix_preferences_window_parent_class)->dispose (object);
}

static void
helix_preferences_window_finalize (GObject *object)
{
  HelixPreferencesWindow *self = (HelixPreferencesWindow *)object;

  g_clear_object (&self->account);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (helix_preferences_window_parent_class)->finalize (object);
}

static void
helix_preferences_window_get_property (GObject    *object,
                                       guint       prop_id,
                                       GValue     *value,
                                       GParamSpec *pspec)
{
  HelixPreferencesWindow *self = HELIX_PREFERENCES_WINDOW (object);

  switch (prop_id)
    {
    case PROP_ACCOUNT:
      g_value_set_object (value, self->account);
      break;

    case PROP_SETTINGS:
      g_value_set_object (value, self->settings);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_preferences_window_set_property (GObject      *object,
                                       guint         prop_id,
                                       const GValue *value,
                                       GParamSpec   *pspec)
{
  HelixPreferencesWindow *self = HELIX_PREFERENCES_WINDOW (object);

  switch (prop_id)
    {
    case PROP_ACCOUNT:
      self->account = g_value_dup_object (value);
      break;

    case PROP_SETTINGS:
      self->settings = g_value_dup_object (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_preferences_window_class_init (HelixPreferencesWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = helix_preferences_window_constructed;
  object_class->dispose = helix_preferences_window_dispose;
  object_class->finalize = helix_preferences_window_finalize;
  object_class->get_property = helix_preferences_window_get_property;
  object_class->set_property = helix_preferences_window_set_property;

  /**
   * HelixPreferencesWindow:account:
   *
   * The account that the Account page signs in and out.
   */
  properties[PROP_ACCOUNT] =
    g_param_spec_object ("account", NULL, NULL,
                         HELIX_TYPE_ACCOUNT,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));

  /**
   * HelixPreferencesWindow:settings:
   *
   * The application's settings (schema ai.helix.Helix).
   */
  properties[PROP_SETTINGS] =
    g_param_spec_object ("settings", NULL, NULL,
                         G_TYPE_SETTINGS,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/ai/helix/Helix/ui/helix-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, HelixPreferencesWindow, sign_in_group);
  gtk_widget_class_bind_template_child (widget_class, HelixPreferencesWindow, sign_in_button_group);
  gtk_widget_class_bind_template_child (widget_class, HelixPreferencesWindow, signed_in_group);
  gtk_widget_class_bind_template_child (widget_class, HelixPreferencesWindow, gateway_row);
  gtk_widget_class_bind_template_child (widget_class, HelixPreferencesWindow, username_row);
  gtk_widget_class_bind_template_child (widget_class, HelixPreferencesWindow, password_row);
  gtk_widget_class_bind_template_child (widget_class, HelixPreferencesWindow, error_label);
  gtk_widget_class_bind_template_child (widget_class, HelixPreferencesWindow, sign_in_spinner);
  gtk_widget_class_bind_template_child (widget_class, HelixPreferencesWindow, sign_out_spinner);
  gtk_widget_class_bind_template_child (widget_class, HelixPreferencesWindow, status_row);
  gtk_widget_class_bind_template_child (widget_class, HelixPreferencesWindow,
                                        through_gateway_switch);
  gtk_widget_class_bind_template_callback (widget_class, on_entry_activated);
  gtk_widget_class_bind_template_callback (widget_class, on_entry_changed);

  gtk_widget_class_install_action (widget_class, "preferences.sign-in", NULL, sign_in_action);
  gtk_widget_class_install_action (widget_class, "preferences.sign-out", NULL, sign_out_action);
}

static void
helix_preferences_window_init (HelixPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

/**
 * helix_preferences_window_new:
 * @transient_for: (nullable): the window it belongs to
 * @account: the account of the Account page
 * @settings: the application's settings
 *
 * Returns: (transfer none): a new #HelixPreferencesWindow, owned by GTK like every
 *   toplevel window
 */
HelixPreferencesWindow *
helix_preferences_window_new (GtkWindow    *transient_for,
                              HelixAccount *account,
                              GSettings    *settings)
{
  g_return_val_if_fail (!transient_for || GTK_IS_WINDOW (transient_for), NULL);
  g_return_val_if_fail (HELIX_IS_ACCOUNT (account), NULL);
  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  return g_object_new (HELIX_TYPE_PREFERENCES_WINDOW,
                       "transient-for", transient_for,
                       "modal", transient_for != NULL,
                       "account", account,
                       "settings", settings,
                       NULL);
}

HelixAccount *
helix_preferences_window_get_account (HelixPreferencesWindow *self)
{
  g_return_val_if_fail (HELIX_IS_PREFERENCES_WINDOW (self), NULL);

  return self->account;
}

/**
 * helix_preferences_window_set_provider_settings:
 * @self: a #HelixPreferencesWindow
 * @providers: (nullable): the AI providers and spending limits, or %NULL
 *
 * Adds the Providers page for @providers (once), beside the Account page.
 */
void
helix_preferences_window_set_provider_settings (HelixPreferencesWindow *self,
                                                HelixProviderSettings  *providers)
{
  g_return_if_fail (HELIX_IS_PREFERENCES_WINDOW (self));
  g_return_if_fail (providers == NULL || HELIX_IS_PROVIDER_SETTINGS (providers));

  if (self->providers_page != NULL)
    {
      adw_preferences_window_remove (ADW_PREFERENCES_WINDOW (self),
                                     ADW_PREFERENCES_PAGE (self->providers_page));
      self->providers_page = NULL;
    }

  if (providers == NULL)
    return;

  self->providers_page = helix_providers_page_new (providers);
  adw_preferences_window_add (ADW_PREFERENCES_WINDOW (self),
                              ADW_PREFERENCES_PAGE (self->providers_page));
}

/**
 * helix_preferences_window_get_providers_page:
 * @self: a #HelixPreferencesWindow
 *
 * Returns: (transfer none) (nullable): the Providers page, if there is one
 */
HelixProvidersPage *
helix_preferences_window_get_providers_page (HelixPreferencesWindow *self)
{
  g_return_val_if_fail (HELIX_IS_PREFERENCES_WINDOW (self), NULL);

  return self->providers_page;
}

/**
 * helix_preferences_window_set_webhook_settings:
 * @self: a #HelixPreferencesWindow
 * @webhooks: (nullable): the webhooks of the audit trail, or %NULL
 * @audit: (nullable): the running audit trail, for their delivery state
 *
 * Adds the Alerts page for @webhooks (once), after the other pages.
 */
void
helix_preferences_window_set_webhook_settings (HelixPreferencesWindow *self,
                                               HelixWebhookSettings   *webhooks,
                                               HelixAudit             *audit)
{
  g_return_if_fail (HELIX_IS_PREFERENCES_WINDOW (self));
  g_return_if_fail (webhooks == NULL || HELIX_IS_WEBHOOK_SETTINGS (webhooks));
  g_return_if_fail (audit == NULL || HELIX_IS_AUDIT (audit));

  if (self->alerts_page != NULL)
    {
      adw_preferences_window_remove (ADW_PREFERENCES_WINDOW (self),
                                     ADW_PREFERENCES_PAGE (self->alerts_page));
      self->alerts_page = NULL;
    }

  if (webhooks == NULL)
    return;

  self->alerts_page = helix_alerts_page_new (webhooks, audit);
  adw_preferences_window_add (ADW_PREFERENCES_WINDOW (self),
                              ADW_PREFERENCES_PAGE (self->alerts_page));
}

/**
 * helix_preferences_window_get_alerts_page:
 * @self: a #HelixPreferencesWindow
 *
 * Returns: (transfer none) (nullable): the Alerts page, if there is one
 */
HelixAlertsPage *
helix_preferences_window_get_alerts_page (HelixPreferencesWindow *self)
{
  g_return_val_if_fail (HELIX_IS_PREFERENCES_WINDOW (self), NULL);

  return self->alerts_page;
}
