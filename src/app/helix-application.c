/* helix-application.c: the desktop application
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <errno.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "helix-application.h"
#include "helix-audit.h"
#include "helix-audit-keyring.h"
#include "helix-audit-watch.h"
#include "helix-checkpoint-keeper.h"
#include "helix-core.h"
#include "helix-operator-window.h"
#include "helix-ledger.h"
#include "helix-preferences-window.h"
#include "helix-window.h"

struct _HelixApplication
{
  AdwApplication  parent_instance;

  char           *database_path;
  HelixStore     *store;
  GError         *store_error;
  GCancellable   *cancellable;
  GSettings      *settings;
  HelixAccount   *account;
  HelixRouter    *router;
  HelixBudget    *budget;
  HelixLedger    *ledger;
  HelixAudit     *audit;
  char           *audit_error;
  HelixProviderSettings *providers;
  HelixCheckpointKeeper *checkpoints;
  HelixWebhookSettings *webhooks;
  HelixSyncClient *sync_client;
  GtkWindow      *preferences;

  guint           opening : 1;
  guint           activate_pending : 1;
};

G_DEFINE_FINAL_TYPE (HelixApplication, helix_application, ADW_TYPE_APPLICATION)

/* Shown instead of the main window when the store cannot be opened: the
 * user learns what is wrong, and nothing touches the file. */
static GtkWidget *
create_error_window (HelixApplication *self,
                     const GError     *error)
{
  g_autofree char *description = NULL;
  GtkWidget *window;
  GtkWidget *box;
  GtkWidget *status_page;
  GtkWidget *button;

  window = adw_application_window_new (GTK_APPLICATION (self));
  gtk_window_set_title (GTK_WINDOW (window), _("Helix"));
  gtk_window_set_default_size (GTK_WINDOW (window), 600, 520);

  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  gtk_box_append (GTK_BOX (box), adw_header_bar_new ());

  /* The status page takes markup; the message (which names the file) is
   * plain text. */
  description = g_markup_escape_text (error->message, -1);

  status_page = adw_status_page_new ();
  adw_status_page_set_icon_name (ADW_STATUS_PAGE (status_page), "dialog-error-symbolic");
  adw_status_page_set_title (ADW_STATUS_PAGE (status_page), _("Could Not Open Your Chats"));
  adw_status_page_set_description (ADW_STATUS_PAGE (status_page), description);
  gtk_widget_set_vexpand (status_page, TRUE);

  button = gtk_button_new_with_mnemonic (_("_Quit"));
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), "app.quit");
  gtk_widget_set_halign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "pill");
  adw_status_page_set_child (ADW_STATUS_PAGE (status_page), button);

  gtk_box_append (GTK_BOX (box), status_page);
  adw_application_window_set_content (ADW_APPLICATION_WINDOW (window), box);

  return window;
}

/* The router, with the shipped prices; the providers come from the settings
 * (HelixProviderSettings). */
static HelixRouter *
create_router (void)
{
  g_autoptr(HelixPriceTable) prices = NULL;
  g_autoptr(GError) error = NULL;

  prices = helix_price_table_new_default (&error);
  if (prices == NULL)
    {
      /* The table is compiled in: this is a bug, not a user's problem. */
      g_critical ("The shipped price table is invalid: %s", error->message);
      prices = helix_price_table_new ();
    }

  return helix_router_new (prices);
}

static void
present_main_window (HelixApplication *self)
{
  GtkWindow *window;

  g_assert (HELIX_IS_APPLICATION (self));

  if ((window = gtk_application_get_active_window (GTK_APPLICATION (self))))
    {
      gtk_window_present (window);
      return;
    }

  if (self->store != NULL)
    {
      window = GTK_WINDOW (helix_window_new (GTK_APPLICATION (self), self->store));
      helix_window_set_sync_client (HELIX_WINDOW (window), self->sync_client);
      helix_window_set_router (HELIX_WINDOW (window), self->router);
    }
  else
    window = GTK_WINDOW (create_error_window (self, self->store_error));

  gtk_window_present (window);
}

/* Sync runs while the account is signed in and the store is open. */
static void
update_sync (HelixApplication *self)
{
  const char *token;

  if (self->sync_client == NULL)
    return;

  token = helix_account_get_signed_in (self->account) ? helix_account_get_token (self->account)
                                                      : NULL;
  if (token == NULL)
    helix_sync_client_disconnect (self->sync_client);
  else
    helix_sync_client_connect (self->sync_client, helix_account_get_gateway_uri (self->account),
                               token);
}

static void
on_signed_out_done (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  /* The gateway refused the token already: only forgetting it here matters. */
  if (!helix_account_sign_out_finish (HELIX_ACCOUNT (object), result, &error))
    g_debug ("Signing out after the gateway revoked the token: %s", error->message);
}

/* The gateway revoked this device (or disabled the account): forget the token, so
 * that Preferences offers to sign in again. */
static void
on_sync_signed_out (HelixApplication *self)
{
  g_message ("The gateway signed this device out");
  helix_account_sign_out_async (self->account, NULL, on_signed_out_done, NULL);
}

static void
on_store_opened (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(HelixApplication) self = user_data;
  g_autoptr(GError) error = NULL;

  self->opening = FALSE;
  self->store = helix_store_open_finish (result, &error);

  if (self->store == NULL)
    {
      g_message ("Could not open the database: %s", error->message);
      self->store_error = g_steal_pointer (&error);
    }
  else
    {
      self->sync_client = helix_sync_client_new (self->store);
      g_signal_connect_object (self->sync_client, "signed-out",
                               G_CALLBACK (on_sync_signed_out), self, G_CONNECT_SWAPPED);
      update_sync (self);

      /* An operator window opened before the store was. */
      for (GList *l = gtk_application_get_windows (GTK_APPLICATION (self)); l != NULL; l = l->next)
        if (HELIX_IS_OPERATOR_WINDOW (l->data))
          helix_operator_window_set_sync (l->data, self->account, self->sync_client);
    }

  if (self->activate_pending)
    {
      self->activate_pending = FALSE;
      present_main_window (self);
    }

  g_application_release (G_APPLICATION (self));
}

static void
quit_action (GSimpleAction *action,
             GVariant      *param,
             gpointer       user_data)
{
  HelixApplication *self = HELIX_APPLICATION (user_data);
  GList *windows;

  /* Closing, rather than destroying, lets each window save its state. */
  windows = g_list_copy (gtk_application_get_windows (GTK_APPLICATION (self)));
  for (const GList *l = windows; l != NULL; l = l->next)
    gtk_window_close (GTK_WINDOW (l->data));
  g_list_free (windows);

  g_application_quit (G_APPLICATION (self));
}

static void
about_action (GSimpleAction *action,
              GVariant      *param,
              gpointer       user_data)
{
  HelixApplication *self = HELIX_APPLICATION (user_data);
  static const char *developers[] = { "The Helix developers", NULL };

  adw_show_about_window (gtk_application_get_active_window (GTK_APPLICATION (self)),
                         "application-name", _("Helix"),
                         "application-icon", APP_ID,
                         "version", PACKAGE_VERSION,
                         "developer-name", _("The Helix developers"),
                         "developers", developers,
                         "copyright", _("© The Helix developers"),
                         "license-type", GTK_LICENSE_GPL_3_0,
                         "comments", _("A personal assistant that keeps your chats on your device"),
                         "translator-credits", _("translator-credits"),
                         NULL);
}

static void
preferences_action (GSimpleAction *action,
                    GVariant      *param,
                    gpointer       user_data)
{
  HelixApplication *self = HELIX_APPLICATION (user_data);
  GtkWindow *parent;

  if (self->preferences == NULL)
    {
      parent = gtk_application_get_active_window (GTK_APPLICATION (self));
      g_set_weak_pointer (&self->preferences,
                          GTK_WINDOW (helix_preferences_window_new (parent, self->account,
                                                                    self->settings)));
      helix_preferences_window_set_provider_settings (HELIX_PREFERENCES_WINDOW (self->preferences),
                                                      self->providers);
      helix_preferences_window_set_webhook_settings (HELIX_PREFERENCES_WINDOW (self->preferences),
                                                     self->webhooks, self->audit);
    }

  gtk_window_present (self->preferences);
}

/* The operator view: one window, with what this install has. */
static void
operator_action (GSimpleAction *action,
                 GVariant      *param,
                 gpointer       user_data)
{
  HelixApplication *self = HELIX_APPLICATION (user_data);
  GtkWindow *window = NULL;

  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (self)); l != NULL; l = l->next)
    if (HELIX_IS_OPERATOR_WINDOW (l->data))
      window = l->data;

  if (window == NULL)
    window = GTK_WINDOW (helix_operator_window_new (GTK_APPLICATION (self), self->router,
                                                    self->ledger, self->budget, self->audit));
  helix_operator_window_set_sync (HELIX_OPERATOR_WINDOW (window), self->account, self->sync_client);
  helix_operator_window_set_checkpoint_keeper (HELIX_OPERATOR_WINDOW (window), self->checkpoints);
  gtk_window_present (window);
}

static const GActionEntry app_actions[] = {
  { "quit", quit_action },
  { "about", about_action },
  { "preferences", preferences_action },
  { "operator", operator_action },
};

static void
on_account_loaded (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(HelixApplication) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!helix_account_load_finish (HELIX_ACCOUNT (object), result, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_message ("Could not load the gateway account: %s", error->message);
      return;
    }

  g_debug ("Gateway account: %s", helix_account_get_signed_in (self->account) ? "signed in"
                                                                               : "signed out");
}

/* The budget the router reserves calls against: limits from the settings
 * (applied by HelixProviderSettings), days and months in local time. */
static void
setup_budget (HelixApplication *self)
{
  g_autoptr(GTimeZone) tz = g_time_zone_new_local ();

  self->budget = helix_budget_new ();
  helix_budget_set_timezone (self->budget, tz);
  helix_router_set_budget (self->router, self->budget);
}

/* The cost ledger beside the store: every routed call is recorded, and what
 * was spent this month counts against the budget after a restart. Opening it
 * is quick; a ledger that cannot be opened costs the record, not the chats. */
static void
open_ledger (HelixApplication *self,
             const char       *store_path)
{
  g_autofree char *dir = g_path_get_dirname (store_path);
  g_autofree char *path = g_build_filename (dir, "ledger.db", NULL);
  g_autoptr(GError) error = NULL;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved_errno = errno;

      g_message ("Could not make the folder %s for the cost ledger: %s", dir,
                 g_strerror (saved_errno));
      return;
    }

  self->ledger = helix_ledger_open (path, &error);
  if (self->ledger == NULL)
    {
      g_message ("%s", error->message);
      return;
    }

  helix_ledger_attach (self->ledger, self->router);
  if (!helix_ledger_load_budget (self->ledger, self->budget, g_get_real_time (), &error))
    g_message ("Could not count what was spent before: %s", error->message);
}

static void
on_audit_key_loaded (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(HelixApplication) self = user_data;
  g_autoptr(HelixAuditSigner) signer = NULL;
  g_autoptr(GError) error = NULL;

  signer = helix_audit_keyring_load_finish (result, &error);
  if (signer == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_message ("The audit log’s checkpoints are not signed: its key is in the keyring, "
                   "which is not available (%s)", error->message);
      return;
    }

  if (self->audit != NULL)
    helix_audit_set_signer (self->audit, signer);
}

/* The webhooks are read: each becomes a sink of the audit trail, which then
 * starts delivering. Without the keyring, it starts without them. */
static void
on_webhooks_loaded (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(HelixApplication) self = user_data;
  g_autoptr(GError) error = NULL;
  guint n_sinks = 0;

  if (!helix_webhook_settings_load_finish (HELIX_WEBHOOK_SETTINGS (object), result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      if (self->audit != NULL)
        g_message ("Not delivering the audit log to any webhook: %s", error->message);
    }

  /* Read for the Alerts page only: there is no trail to deliver. */
  if (self->audit == NULL)
    return;

  if (error == NULL)
    n_sinks = helix_webhook_settings_add_sinks (self->webhooks, self->audit);

  /* A receiver that stops getting heartbeats knows Helix stopped. */
  if (n_sinks > 0)
    helix_audit_set_heartbeat (self->audit, HELIX_AUDIT_HEARTBEAT_S, "desktop");
  helix_audit_start (self->audit);
  g_debug ("The audit log delivers to %u webhooks", n_sinks);
}

/* The audit trail beside the store: what Helix did on the user's behalf,
 * chained and, once the keyring answers, checkpointed with the key kept
 * there, and delivered to the user's webhooks once their addresses are read
 * from the keyring. A trail that cannot be opened leaves privileged changes
 * refused (fail closed), with the reason. */
static void
open_audit (HelixApplication *self,
            const char       *store_path)
{
  g_autofree char *dir = g_path_get_dirname (store_path);
  g_autofree char *log_path = g_build_filename (dir, "audit.db", NULL);
  g_autofree char *queue_path = g_build_filename (dir, "webhooks.db", NULL);
  g_autofree char *origin = helix_audit_keyring_default_origin ();
  g_autoptr(GError) error = NULL;

  /* The addresses are read even without a trail, for the Alerts page; with
   * one, the sinks are added before it starts: it starts once they are read.
   * Entries recorded meanwhile are delivered too. */
  self->webhooks = helix_webhook_settings_new (self->settings);
  helix_webhook_settings_load_async (self->webhooks, self->cancellable, on_webhooks_loaded,
                                     g_object_ref (self));

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved_errno = errno;

      self->audit_error = g_strdup_printf (_("Could not make the folder %s for the audit log: %s"),
                                           dir, g_strerror (saved_errno));
      g_message ("%s", self->audit_error);
      helix_webhook_settings_set_audit (self->webhooks, NULL, self->audit_error);
      return;
    }

  self->audit = helix_audit_open (log_path, queue_path, origin, NULL, &error);
  if (self->audit == NULL)
    {
      self->audit_error = g_strdup (error->message);
      g_message ("%s", self->audit_error);
      helix_webhook_settings_set_audit (self->webhooks, NULL, self->audit_error);
      return;
    }
  helix_webhook_settings_set_audit (self->webhooks, self->audit, NULL);
  helix_audit_watch_router (self->audit, self->router, self->budget);

  helix_audit_keyring_load_async (origin, self->cancellable, on_audit_key_loaded,
                                  g_object_ref (self));
}

static void
on_ollama_offered (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!helix_provider_settings_offer_ollama_finish (HELIX_PROVIDER_SETTINGS (object), result,
                                                    &error) &&
      error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_debug ("Looking for a local Ollama: %s", error->message);
}

/* The providers from the settings and the keyring; the router's health
 * checks; an override from the environment; on a first start, a local Ollama. */
static void
setup_providers (HelixApplication *self)
{
  const char *override = g_getenv ("HELIX_PROVIDER_OVERRIDE");

  if (override == NULL || *override == '\0')
    override = g_getenv ("PROVIDER_OVERRIDE");
  if (override != NULL && *override != '\0')
    {
      g_message ("A provider override is active: every AI call uses the model “%s”", override);
      helix_router_set_override (self->router, override);
    }

  /* The health checks and the breakers' cooldown follow the settings
   * (health-check-interval-ms, breaker-cooldown-ms). */
  self->providers = helix_provider_settings_new (self->settings, self->router);
  helix_provider_settings_set_audit (self->providers, self->audit, self->audit_error);

  /* HELIX_OLLAMA_URL is for tests only: where to look instead of the default. */
  helix_provider_settings_offer_ollama_async (self->providers, g_getenv ("HELIX_OLLAMA_URL"),
                                              self->cancellable, on_ollama_offered, NULL);
}

/* The token is in the keyring; the settings say which one to look up. */
static void
load_account (HelixApplication *self)
{
  g_autofree char *gateway_url = g_settings_get_string (self->settings, "gateway-url");
  g_autofree char *username = g_settings_get_string (self->settings, "username");

  if (*gateway_url == '\0' || *username == '\0')
    return;

  helix_account_load_async (self->account, gateway_url, username, self->cancellable,
                            on_account_loaded, g_object_ref (self));
}

static int
helix_application_handle_local_options (GApplication *app,
                                        GVariantDict *options)
{
  HelixApplication *self = HELIX_APPLICATION (app);
  const char *path = NULL;

  if (g_variant_dict_lookup (options, "database", "^&ay", &path) && path != NULL && path[0] != '\0')
    {
      g_autoptr(GFile) file = g_file_new_for_commandline_arg (path);

      g_free (self->database_path);
      self->database_path = g_file_get_path (file);

      /* Another database is another instance, not a window of the running one. */
      g_application_set_flags (app, g_application_get_flags (app) | G_APPLICATION_NON_UNIQUE);
    }

  /* Go on with the default processing. */
  return -1;
}

static void
helix_application_startup (GApplication *app)
{
  HelixApplication *self = HELIX_APPLICATION (app);
  static const char *quit_accels[] = { "<Primary>q", NULL };
  static const char *preferences_accels[] = { "<Primary>comma", NULL };
  g_autofree char *path = NULL;

  G_APPLICATION_CLASS (helix_application_parent_class)->startup (app);

  gtk_window_set_default_icon_name (APP_ID);

  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions, G_N_ELEMENTS (app_actions),
                                   self);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit", quit_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.preferences",
                                         preferences_accels);

  self->settings = g_settings_new ("ai.helix.Helix");
  self->checkpoints = helix_checkpoint_keeper_new (self->settings, self->account);
  path = self->database_path != NULL ? g_strdup (self->database_path)
                                     : helix_store_dup_default_path ();

  self->router = create_router ();
  setup_budget (self);
  open_ledger (self, path);
  open_audit (self, path);
  setup_providers (self);

  g_signal_connect_object (self->account, "notify::signed-in", G_CALLBACK (update_sync), self,
                           G_CONNECT_SWAPPED);
  load_account (self);

  /* The window comes when the store is open, without blocking on the disk. */
  g_debug ("Opening %s", path);

  self->opening = TRUE;
  g_application_hold (app);
  helix_store_open_async (path, self->cancellable, on_store_opened, g_object_ref (self));
}

static void
helix_application_activate (GApplication *app)
{
  HelixApplication *self = HELIX_APPLICATION (app);

  if (self->opening)
    {
      self->activate_pending = TRUE;
      return;
    }

  present_main_window (self);
}

static void
helix_application_shutdown (GApplication *app)
{
  HelixApplication *self = HELIX_APPLICATION (app);

  g_cancellable_cancel (self->cancellable);

  if (self->sync_client != NULL)
    helix_sync_client_disconnect (self->sync_client);

  /* Lets the writer finish what was acknowledged. */
  if (self->store != NULL)
    helix_store_close (self->store);

  /* No more checks; the ledger writes what is queued. */
  if (self->router != NULL)
    helix_router_set_health_interval (self->router, 0);
  if (self->ledger != NULL)
    helix_ledger_close (self->ledger);
  if (self->audit != NULL)
    helix_audit_close (self->audit);

  G_APPLICATION_CLASS (helix_application_parent_class)->shutdown (app);
}

static void
helix_application_constructed (GObject *object)
{
  G_OBJECT_CLASS (helix_application_parent_class)->constructed (object);

  /* The resources are at one path whatever the application id (.Devel);
   * GApplication sets its default from the id in constructed. */
  g_application_set_resource_base_path (G_APPLICATION (object), "/ai/helix/Helix");
}

static void
helix_application_finalize (GObject *object)
{
  HelixApplication *self = (HelixApplication *)object;

  g_clear_pointer (&self->database_path, g_free);
  g_clear_object (&self->store);
  g_clear_error (&self->store_error);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->settings);
  g_clear_object (&self->sync_client);
  g_clear_object (&self->account);
  g_clear_object (&self->providers);
  g_clear_object (&self->checkpoints);
  g_clear_object (&self->webhooks);
  g_clear_object (&self->ledger);
  g_clear_object (&self->audit);
  g_free (self->audit_error);
  g_clear_object (&self->budget);
  g_clear_object (&self->router);
  g_clear_weak_pointer (&self->preferences);

  G_OBJECT_CLASS (helix_application_parent_class)->finalize (object);
}

static void
helix_application_class_init (HelixApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->constructed = helix_application_constructed;
  object_class->finalize = helix_application_finalize;

  app_class->handle_local_options = helix_application_handle_local_options;
  app_class->startup = helix_application_startup;
  app_class->activate = helix_application_activate;
  app_class->shutdown = helix_application_shutdown;
}

static void
helix_application_init (HelixApplication *self)
{
  static const GOptionEntry entries[] = {
    { "database", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_FILENAME, NULL,
      N_("Use the chats stored in FILE instead of the default database"), N_("FILE") },
    { NULL }
  };

  self->cancellable = g_cancellable_new ();
  self->account = helix_account_new ();

  g_application_add_main_option_entries (G_APPLICATION (self), entries);
  g_application_set_option_context_summary (
    G_APPLICATION (self), _("A personal assistant that keeps your chats on your device."));
}

/**
 * helix_application_new:
 * @application_id: the application id (ai.helix.Helix, or .Devel)
 *
 * Returns: (transfer full): a new #HelixApplication
 */
HelixApplication *
helix_application_new (const char *application_id)
{
  g_return_val_if_fail (application_id != NULL, NULL);

  return g_object_new (HELIX_TYPE_APPLICATION,
                       "application-id", application_id,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       NULL);
}

/**
 * helix_application_get_account:
 * @self: a #HelixApplication
 *
 * The gateway account of the desktop, loaded from the keyring at startup
 * (see the gateway-url and username settings).
 *
 * Returns: (transfer none): the account
 */
HelixAccount *
helix_application_get_account (HelixApplication *self)
{
  g_return_val_if_fail (HELIX_IS_APPLICATION (self), NULL);

  return self->account;
}

/**
 * helix_application_get_router:
 * @self: a #HelixApplication
 *
 * The router that answers the chats of every window; valid after startup.
 *
 * Returns: (transfer none): the router
 */
HelixRouter *
helix_application_get_router (HelixApplication *self)
{
  g_return_val_if_fail (HELIX_IS_APPLICATION (self), NULL);

  return self->router;
}

/**
 * helix_application_get_provider_settings:
 * @self: a #HelixApplication
 *
 * The AI providers and spending limits the user configured, applied to the
 * router; valid after startup.
 *
 * Returns: (transfer none): the provider settings
 */
HelixProviderSettings *
helix_application_get_provider_settings (HelixApplication *self)
{
  g_return_val_if_fail (HELIX_IS_APPLICATION (self), NULL);

  return self->providers;
}

/**
 * helix_application_get_ledger:
 * @self: a #HelixApplication
 *
 * Returns: (transfer none) (nullable): the cost ledger, if it could be opened
 */
HelixLedger *
helix_application_get_ledger (HelixApplication *self)
{
  g_return_val_if_fail (HELIX_IS_APPLICATION (self), NULL);

  return self->ledger;
}

/**
 * helix_application_get_webhook_settings:
 * @self: the application
 *
 * The webhooks the user delivers the audit trail to; valid after startup.
 *
 * Returns: (transfer none) (nullable): the webhook settings
 */
HelixWebhookSettings *
helix_application_get_webhook_settings (HelixApplication *self)
{
  g_return_val_if_fail (HELIX_IS_APPLICATION (self), NULL);

  return self->webhooks;
}

/**
 * helix_application_get_audit:
 * @self: the application
 *
 * Returns: (transfer none) (nullable): the local audit trail, or %NULL if it
 *   could not be opened
 */
HelixAudit *
helix_application_get_audit (HelixApplication *self)
{
  g_return_val_if_fail (HELIX_IS_APPLICATION (self), NULL);

  return self->audit;
}

/**
 * helix_application_get_checkpoint_keeper:
 * @self: the application
 *
 * Returns: (transfer none) (nullable): what keeps the gateway's audit
 *   checkpoints, once the application started
 */
HelixCheckpointKeeper *
helix_application_get_checkpoint_keeper (HelixApplication *self)
{
  g_return_val_if_fail (HELIX_IS_APPLICATION (self), NULL);

  return self->checkpoints;
}
