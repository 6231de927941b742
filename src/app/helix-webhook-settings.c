/* helix-webhook-settings.c: the webhooks the user delivers the local audit trail to
 *
 * Each webhook has an id, a name, a format (Discord or generic JSON), a URL, an
 * optional backup URL and the audit channels it gets. The names, formats and
 * channels are kept in GSettings (key "webhooks"); the URLs only in the keyring
 * (libsecret, schema HELIX_WEBHOOK_URL_SCHEMA_NAME, attribute "webhook" = id),
 * read and written asynchronously: a Discord webhook URL carries its token, so
 * it is a credential. It never goes to GSettings, the logs or an audit entry
 * (those get its host only), and every URL known here is given to the
 * sanitizer. If the keyring is missing or locked, the settings say so
 * (HelixWebhookSettings:keyring-error) and store nothing.
 *
 * Adding, changing and removing a webhook is a privileged change: written to
 * the audit trail first (helix_audit_gate()), made only if that worked.
 *
 * The application adds the webhooks to its HelixAudit as sinks before it
 * starts it (helix_webhook_settings_add_sinks()); a change applies at the next
 * start. No GTK here.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-webhooks"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>
#include <libsecret/secret.h>
#include <libsoup/soup.h>

#include "helix-audit-gate.h"
#include "helix-json.h"
#include "helix-keyring-items.h"
#include "helix-sanitizer.h"
#include "helix-webhook-settings.h"

struct _HelixWebhookSettings
{
  GObject       parent_instance;

  GSettings    *settings;
  GPtrArray    *webhooks;     /* HelixWebhook, in the order of the settings */
  GHashTable   *changed;      /* ids saved since this object was made: not delivering yet */
  char         *keyring_error;
  HelixAudit   *audit;        /* (nullable) */
  char         *audit_error;  /* why there is no audit trail, if it failed */
  GCancellable *cancellable;

  guint         loading : 1;
};

G_DEFINE_FINAL_TYPE (HelixWebhookSettings, helix_webhook_settings, G_TYPE_OBJECT)

G_DEFINE_QUARK (helix-webhook-settings-error-quark, helix_webhook_settings_error)

G_DEFINE_BOXED_TYPE (HelixWebhook, helix_webhook, helix_webhook_copy, helix_webhook_free)

enum {
  PROP_0,
  PROP_SETTINGS,
  PROP_LOADING,
  PROP_KEYRING_ERROR,
  N_PROPS
};

enum {
  CHANGED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static const SecretSchema *
get_schema (void)
{
  static const SecretSchema schema = {
    HELIX_WEBHOOK_URL_SCHEMA_NAME, SECRET_SCHEMA_NONE,
    {
      { "webhook", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
    }
  };

  return &schema;
}

/* Webhooks {{{1 */

/**
 * helix_webhook_new:
 * @id: (nullable): its id, or %NULL for a new one
 * @name: its name
 * @format: what its receiver reads
 * @url: (nullable): where to send
 * @backup_url: (nullable): where to send when @url keeps failing; "" for none
 * @channels: (nullable): the channels it gets
 *
 * Returns: (transfer full): a webhook
 */
HelixWebhook *
helix_webhook_new (const char         *id,
                   const char         *name,
                   HelixWebhookFormat  format,
                   const char         *url,
                   const char         *backup_url,
                   const char * const *channels)
{
  HelixWebhook *webhook = g_new0 (HelixWebhook, 1);
  static const char * const none[] = { NULL };

  webhook->id = g_strdup (id);
  webhook->name = g_strdup (name != NULL ? name : "");
  webhook->format = format;
  webhook->url = g_strdup (url);
  webhook->backup_url = backup_url != NULL && *backup_url != '\0' ? g_strdup (backup_url) : NULL;
  webhook->channels = g_strdupv ((char **) (channels != NULL ? channels : none));

  return webhook;
}

HelixWebhook *
helix_webhook_copy (const HelixWebhook *webhook)
{
  g_return_val_if_fail (webhook != NULL, NULL);

  return helix_webhook_new (webhook->id, webhook->name, webhook->format, webhook->url,
                            webhook->backup_url, (const char * const *) webhook->channels);
}

void
helix_webhook_free (HelixWebhook *webhook)
{
  if (webhook == NULL)
    return;

  g_free (webhook->id);
  g_free (webhook->name);
  helix_keyring_secret_free (webhook->url);
  helix_keyring_secret_free (webhook->backup_url);
  g_strfreev (webhook->channels);
  g_free (webhook);
}

/**
 * helix_webhook_list_channels:
 *
 * Returns: (transfer none): every audit channel a webhook can get
 */
const char * const *
helix_webhook_list_channels (void)
{
  static const char * const channels[] = {
    HELIX_AUDIT_CHANNEL_ALERTS, HELIX_AUDIT_CHANNEL_HASH_CHAIN, HELIX_AUDIT_CHANNEL_HEARTBEAT,
    HELIX_AUDIT_CHANNEL_ASSISTANT_STATE, HELIX_AUDIT_CHANNEL_COMMANDS, HELIX_AUDIT_CHANNEL_API,
    HELIX_AUDIT_CHANNEL_FILE_CHANGES, NULL,
  };

  return channels;
}

/**
 * helix_webhook_default_channels:
 *
 * Returns: (transfer none): the channels of a new webhook: alerts and checkpoints
 */
const char * const *
helix_webhook_default_channels (void)
{
  static const char * const channels[] = {
    HELIX_AUDIT_CHANNEL_ALERTS, HELIX_AUDIT_CHANNEL_HASH_CHAIN, NULL,
  };

  return channels;
}

/**
 * helix_webhook_channel_label:
 * @channel: an audit channel
 *
 * Returns: (transfer none): what the channel carries, for people
 */
const char *
helix_webhook_channel_label (const char *channel)
{
  if (g_strcmp0 (channel, HELIX_AUDIT_CHANNEL_ALERTS) == 0)
    return _("Alerts: budgets, failing providers and webhooks");
  if (g_strcmp0 (channel, HELIX_AUDIT_CHANNEL_HASH_CHAIN) == 0)
    return _("Checkpoints: the signed state of the audit log");
  if (g_strcmp0 (channel, HELIX_AUDIT_CHANNEL_HEARTBEAT) == 0)
    return _("Heartbeat: every minute while Helix runs");
  if (g_strcmp0 (channel, HELIX_AUDIT_CHANNEL_ASSISTANT_STATE) == 0)
    return _("Settings: providers, keys and webhooks changed");
  if (g_strcmp0 (channel, HELIX_AUDIT_CHANNEL_COMMANDS) == 0)
    return _("Commands: tools and commands run");
  if (g_strcmp0 (channel, HELIX_AUDIT_CHANNEL_API) == 0)
    return _("Accounts: sign-ins and tokens");
  if (g_strcmp0 (channel, HELIX_AUDIT_CHANNEL_FILE_CHANGES) == 0)
    return _("Files: configuration and key files changed");

  return channel;
}

static const char *
format_to_string (HelixWebhookFormat format)
{
  return format == HELIX_WEBHOOK_FORMAT_DISCORD ? "discord" : "json";
}

static gboolean
format_from_string (const char         *text,
                    HelixWebhookFormat *format)
{
  if (g_strcmp0 (text, "discord") == 0)
    *format = HELIX_WEBHOOK_FORMAT_DISCORD;
  else if (g_strcmp0 (text, "json") == 0)
    *format = HELIX_WEBHOOK_FORMAT_JSON;
  else
    return FALSE;

  return TRUE;
}

/* The keyring holds the URL, then a line break and the backup URL: neither
 * can hold a line break (check_url()), and both change together. */
static char *
join_urls (const HelixWebhook *webhook)
{
  if (webhook->backup_url == NULL)
    return g_strdup (webhook->url);

  return g_strconcat (webhook->url, "\n", webhook->backup_url, NULL);
}

static void
split_urls (const char  *secret,
            char       **url,
            char       **backup_url)
{
  const char *newline = strchr (secret, '\n');

  if (newline == NULL)
    {
      *url = g_strdup (secret);
      *backup_url = NULL;
      return;
    }

  *url = g_strndup (secret, newline - secret);
  *backup_url = *(newline + 1) != '\0' ? g_strdup (newline + 1) : NULL;
}

static void
tell_sanitizer (const HelixWebhook *webhook)
{
  HelixSanitizer *sanitizer = helix_sanitizer_get_default ();

  if (webhook->url != NULL)
    helix_sanitizer_add_secret (sanitizer, webhook->url);
  if (webhook->backup_url != NULL)
    helix_sanitizer_add_secret (sanitizer, webhook->backup_url);
}

/* Only the host: the rest of a webhook URL may be its token. */
static char *
dup_host (const char *url)
{
  g_autoptr(GUri) uri = url != NULL ? g_uri_parse (url, SOUP_HTTP_URI_FLAGS, NULL) : NULL;

  return uri != NULL ? g_strdup (g_uri_get_host (uri)) : NULL;
}

/* State {{{1 */

static gboolean
find_position (HelixWebhookSettings *self,
               const char           *id,
               guint                *position)
{
  for (guint i = 0; i < self->webhooks->len; i++)
    {
      const HelixWebhook *webhook = g_ptr_array_index (self->webhooks, i);

      if (g_strcmp0 (webhook->id, id) == 0)
        {
          if (position != NULL)
            *position = i;
          return TRUE;
        }
    }

  return FALSE;
}

static void
set_keyring_error (HelixWebhookSettings *self,
                   const char           *message)
{
  if (g_strcmp0 (self->keyring_error, message) == 0)
    return;

  g_free (self->keyring_error);
  self->keyring_error = g_strdup (message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_KEYRING_ERROR]);
}

/* Not secret: what the settings hold. */
static void
write_settings (HelixWebhookSettings *self)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(sssas)"));
  for (guint i = 0; i < self->webhooks->len; i++)
    {
      const HelixWebhook *webhook = g_ptr_array_index (self->webhooks, i);

      g_variant_builder_add (&builder, "(sss^as)", webhook->id, webhook->name,
                             format_to_string (webhook->format), webhook->channels);
    }

  g_settings_set_value (self->settings, "webhooks", g_variant_builder_end (&builder));
}

static gboolean
channels_are_known (const char * const *channels)
{
  for (guint i = 0; channels[i] != NULL; i++)
    if (!g_strv_contains (helix_webhook_list_channels (), channels[i]))
      return FALSE;

  return channels[0] != NULL;
}

static void
read_settings (HelixWebhookSettings *self)
{
  g_autoptr(GVariant) value = g_settings_get_value (self->settings, "webhooks");
  GVariantIter iter;
  const char *id;
  const char *name;
  const char *format_text;
  const char **channels;

  g_variant_iter_init (&iter, value);
  while (g_variant_iter_next (&iter, "(&s&s&s^a&s)", &id, &name, &format_text, &channels))
    {
      HelixWebhookFormat format;

      if (self->webhooks->len >= HELIX_WEBHOOK_MAX_WEBHOOKS)
        g_message ("Ignoring the webhooks in the settings past the first %u",
                   HELIX_WEBHOOK_MAX_WEBHOOKS);
      else if (*id == '\0' || find_position (self, id, NULL))
        g_message ("Ignoring a webhook in the settings with an empty or repeated id “%s”", id);
      else if (!format_from_string (format_text, &format))
        g_message ("Ignoring the webhook “%s” in the settings: unknown format “%s”", id,
                   format_text);
      else if (!channels_are_known (channels))
        g_message ("Ignoring the webhook “%s” in the settings: no channels, or unknown ones",
                   id);
      else
        g_ptr_array_add (self->webhooks,
                         helix_webhook_new (id, name, format, NULL, NULL, channels));
      g_free (channels);

      if (self->webhooks->len >= HELIX_WEBHOOK_MAX_WEBHOOKS)
        break;
    }
}

/* Loading the URLs {{{1 */

static void
urls_read_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HelixWebhookSettings *self = g_task_get_source_object (task);
  g_autoptr(GHashTable) secrets = NULL;
  g_autoptr(GError) error = NULL;

  g_assert (self->loading);

  secrets = helix_keyring_items_load_finish (result, &error);
  self->loading = FALSE;

  if (secrets == NULL)
    {
      g_autofree char *message = NULL;

      message = g_strdup_printf (_("The keyring is not available, so Helix cannot read or store "
                                   "the addresses of your webhooks, and delivers the audit log to "
                                   "none. Make sure the keyring (for example GNOME Keyring) is "
                                   "running and unlocked, then restart Helix. (%s)"),
                                 error->message);
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        set_keyring_error (self, message);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADING]);
      g_signal_emit (self, signals[CHANGED], 0);
      g_task_return_new_error (task, HELIX_WEBHOOK_SETTINGS_ERROR,
                               HELIX_WEBHOOK_SETTINGS_ERROR_KEYRING, "%s", message);
      return;
    }

  for (guint i = 0; i < self->webhooks->len; i++)
    {
      HelixWebhook *webhook = g_ptr_array_index (self->webhooks, i);
      const char *secret = g_hash_table_lookup (secrets, webhook->id);

      /* One saved meanwhile has its new URL already. */
      if (secret == NULL || webhook->url != NULL)
        continue;

      split_urls (secret, &webhook->url, &webhook->backup_url);
      tell_sanitizer (webhook);
    }

  g_debug ("Read the addresses of %u webhooks from the keyring", g_hash_table_size (secrets));
  set_keyring_error (self, NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADING]);
  g_signal_emit (self, signals[CHANGED], 0);
  g_task_return_boolean (task, TRUE);
}

/**
 * helix_webhook_settings_load_async:
 * @self: the settings
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: for @callback
 *
 * Reads the webhooks' URLs from the keyring (unlocking it if needed). If the
 * keyring is missing or locked, the webhooks stay without URLs and
 * HelixWebhookSettings:keyring-error says why.
 */
void
helix_webhook_settings_load_async (HelixWebhookSettings *self,
                                   GCancellable         *cancellable,
                                   GAsyncReadyCallback   callback,
                                   gpointer              user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (HELIX_IS_WEBHOOK_SETTINGS (self));
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_webhook_settings_load_async);

  if (self->loading)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                               "The webhooks are being read already");
      return;
    }

  self->loading = TRUE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADING]);
  helix_keyring_items_load_async (get_schema (), "webhook", cancellable, urls_read_cb,
                                  g_steal_pointer (&task));
}

/**
 * helix_webhook_settings_load_finish:
 * @self: the settings
 * @result: the result
 * @error: return location for a #GError (%HELIX_WEBHOOK_SETTINGS_ERROR_KEYRING)
 *
 * Returns: whether the URLs could be read
 */
gboolean
helix_webhook_settings_load_finish (HelixWebhookSettings  *self,
                                    GAsyncResult          *result,
                                    GError               **error)
{
  g_return_val_if_fail (HELIX_IS_WEBHOOK_SETTINGS (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        helix_webhook_settings_load_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* GObject {{{1 */

static void
helix_webhook_settings_constructed (GObject *object)
{
  HelixWebhookSettings *self = HELIX_WEBHOOK_SETTINGS (object);

  G_OBJECT_CLASS (helix_webhook_settings_parent_class)->constructed (object);

  g_assert (G_IS_SETTINGS (self->settings));
  read_settings (self);
}

static void
helix_webhook_settings_dispose (GObject *object)
{
  HelixWebhookSettings *self = HELIX_WEBHOOK_SETTINGS (object);

  g_cancellable_cancel (self->cancellable);

  G_OBJECT_CLASS (helix_webhook_settings_parent_class)->dispose (object);
}

static void
helix_webhook_settings_finalize (GObject *object)
{
  HelixWebhookSettings *self = HELIX_WEBHOOK_SETTINGS (object);

  g_clear_object (&self->settings);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->audit);
  g_clear_pointer (&self->webhooks, g_ptr_array_unref);
  g_clear_pointer (&self->changed, g_hash_table_unref);
  g_clear_pointer (&self->keyring_error, g_free);
  g_clear_pointer (&self->audit_error, g_free);

  G_OBJECT_CLASS (helix_webhook_settings_parent_class)->finalize (object);
}

static void
helix_webhook_settings_get_property (GObject    *object,
                                     guint       prop_id,
                                     GValue     *value,
                                     GParamSpec *pspec)
{
  HelixWebhookSettings *self = HELIX_WEBHOOK_SETTINGS (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      g_value_set_object (value, self->settings);
      break;

    case PROP_LOADING:
      g_value_set_boolean (value, self->loading);
      break;

    case PROP_KEYRING_ERROR:
      g_value_set_string (value, self->keyring_error);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_webhook_settings_set_property (GObject      *object,
                                     guint         prop_id,
                                     const GValue *value,
                                     GParamSpec   *pspec)
{
  HelixWebhookSettings *self = HELIX_WEBHOOK_SETTINGS (object);

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
helix_webhook_settings_class_init (HelixWebhookSettingsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = helix_webhook_settings_constructed;
  object_class->dispose = helix_webhook_settings_dispose;
  object_class->finalize = helix_webhook_settings_finalize;
  object_class->get_property = helix_webhook_settings_get_property;
  object_class->set_property = helix_webhook_settings_set_property;

  /**
   * HelixWebhookSettings:settings:
   *
   * The application's settings (schema ai.helix.Helix).
   */
  properties[PROP_SETTINGS] =
    g_param_spec_object ("settings", NULL, NULL, G_TYPE_SETTINGS,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HelixWebhookSettings:loading:
   *
   * Whether the URLs are being read from the keyring.
   */
  properties[PROP_LOADING] =
    g_param_spec_boolean ("loading", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * HelixWebhookSettings:keyring-error:
   *
   * Why the keyring could not be used, for people, or %NULL.
   */
  properties[PROP_KEYRING_ERROR] =
    g_param_spec_string ("keyring-error", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * HelixWebhookSettings::changed:
   * @self: the settings
   *
   * A webhook was added, changed or removed, or the URLs were read.
   */
  signals[CHANGED] =
    g_signal_new ("changed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}

static void
helix_webhook_settings_init (HelixWebhookSettings *self)
{
  self->webhooks = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_webhook_free);
  self->changed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->cancellable = g_cancellable_new ();
}

/* Public API {{{1 */

/**
 * helix_webhook_settings_new:
 * @settings: the application's settings (schema ai.helix.Helix)
 *
 * Reads the webhooks from @settings; their URLs come with
 * helix_webhook_settings_load_async().
 *
 * Returns: (transfer full): the settings
 */
HelixWebhookSettings *
helix_webhook_settings_new (GSettings *settings)
{
  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  return g_object_new (HELIX_TYPE_WEBHOOK_SETTINGS, "settings", settings, NULL);
}

GSettings *
helix_webhook_settings_get_settings (HelixWebhookSettings *self)
{
  g_return_val_if_fail (HELIX_IS_WEBHOOK_SETTINGS (self), NULL);

  return self->settings;
}

/**
 * helix_webhook_settings_set_audit:
 * @self: the settings
 * @audit: (nullable): the audit trail changes are written to first
 * @unavailable: (nullable): with no @audit, why the trail could not be
 *   opened: then every change is refused (fail closed)
 */
void
helix_webhook_settings_set_audit (HelixWebhookSettings *self,
                                  HelixAudit           *audit,
                                  const char           *unavailable)
{
  g_return_if_fail (HELIX_IS_WEBHOOK_SETTINGS (self));
  g_return_if_fail (audit == NULL || HELIX_IS_AUDIT (audit));

  g_set_object (&self->audit, audit);
  g_free (self->audit_error);
  self->audit_error = audit == NULL ? g_strdup (unavailable) : NULL;
}

gboolean
helix_webhook_settings_get_loading (HelixWebhookSettings *self)
{
  g_return_val_if_fail (HELIX_IS_WEBHOOK_SETTINGS (self), FALSE);

  return self->loading;
}

const char *
helix_webhook_settings_get_keyring_error (HelixWebhookSettings *self)
{
  g_return_val_if_fail (HELIX_IS_WEBHOOK_SETTINGS (self), NULL);

  return self->keyring_error;
}

guint
helix_webhook_settings_get_n_webhooks (HelixWebhookSettings *self)
{
  g_return_val_if_fail (HELIX_IS_WEBHOOK_SETTINGS (self), 0);

  return self->webhooks->len;
}

/**
 * helix_webhook_settings_get_webhook:
 * @self: the settings
 * @position: which, from 0
 *
 * Returns: (transfer none) (nullable): the webhook, valid until the next change
 */
const HelixWebhook *
helix_webhook_settings_get_webhook (HelixWebhookSettings *self,
                                    guint                 position)
{
  g_return_val_if_fail (HELIX_IS_WEBHOOK_SETTINGS (self), NULL);

  if (position >= self->webhooks->len)
    return NULL;

  return g_ptr_array_index (self->webhooks, position);
}

/**
 * helix_webhook_settings_lookup:
 * @self: the settings
 * @id: a webhook's id
 *
 * Returns: (transfer none) (nullable): the webhook, valid until the next change
 */
const HelixWebhook *
helix_webhook_settings_lookup (HelixWebhookSettings *self,
                               const char           *id)
{
  guint position;

  g_return_val_if_fail (HELIX_IS_WEBHOOK_SETTINGS (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);

  if (!find_position (self, id, &position))
    return NULL;

  return g_ptr_array_index (self->webhooks, position);
}

/**
 * helix_webhook_settings_needs_restart:
 * @self: the settings
 * @id: a webhook's id
 *
 * Returns: whether the webhook was added or changed since Helix started, so
 *   that the audit trail does not deliver to it as it is now before a restart
 */
gboolean
helix_webhook_settings_needs_restart (HelixWebhookSettings *self,
                                      const char           *id)
{
  g_return_val_if_fail (HELIX_IS_WEBHOOK_SETTINGS (self), FALSE);
  g_return_val_if_fail (id != NULL, FALSE);

  return g_hash_table_contains (self->changed, id);
}

static gboolean
set_invalid (GError     **error,
             const char  *message)
{
  g_set_error_literal (error, HELIX_WEBHOOK_SETTINGS_ERROR, HELIX_WEBHOOK_SETTINGS_ERROR_INVALID,
                       message);
  return FALSE;
}

/* The errors never quote the URL: it may hold a token. */
static gboolean
check_url (const char  *url,
           gboolean     backup,
           GError     **error)
{
  g_autoptr(GUri) uri = NULL;
  const char *scheme;

  if (strlen (url) > HELIX_WEBHOOK_MAX_URL)
    return set_invalid (error, backup ? _("The backup address is too long.")
                                      : _("The webhook address is too long."));

  for (const char *p = url; *p != '\0'; p++)
    if ((guchar) *p <= 0x20 || *p == 0x7f)
      return set_invalid (error, backup ? _("The backup address holds spaces or line breaks.")
                                        : _("The webhook address holds spaces or line breaks."));

  uri = g_uri_parse (url, SOUP_HTTP_URI_FLAGS, NULL);
  scheme = uri != NULL ? g_uri_get_scheme (uri) : NULL;
  if (uri == NULL || scheme == NULL ||
      (g_ascii_strcasecmp (scheme, "https") != 0 && g_ascii_strcasecmp (scheme, "http") != 0) ||
      g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0')
    return set_invalid (error,
                        backup ? _("The backup address is not an http(s) URL. Enter one like "
                                   "https://example.com/hook, or leave it empty.")
                               : _("The webhook address is not an http(s) URL. Enter one like "
                                   "https://discord.com/api/webhooks/…"));

  return TRUE;
}

/**
 * helix_webhook_settings_validate:
 * @self: the settings
 * @webhook: a webhook to save; its id is %NULL for a new one
 * @error: return location for a #GError (%HELIX_WEBHOOK_SETTINGS_ERROR_INVALID)
 *
 * Checks what a user entered: a name no other webhook has, of at most
 * %HELIX_WEBHOOK_MAX_NAME characters; a known format; http(s) URLs; at least
 * one known channel.
 *
 * Returns: whether @webhook can be saved
 */
gboolean
helix_webhook_settings_validate (HelixWebhookSettings  *self,
                                 const HelixWebhook    *webhook,
                                 GError               **error)
{
  g_autofree char *name = NULL;
  g_autofree char *folded = NULL;

  g_return_val_if_fail (HELIX_IS_WEBHOOK_SETTINGS (self), FALSE);
  g_return_val_if_fail (webhook != NULL, FALSE);

  name = g_strstrip (g_strdup (webhook->name != NULL ? webhook->name : ""));
  if (*name == '\0')
    return set_invalid (error, _("Enter a name for the webhook."));
  if (!g_utf8_validate (name, -1, NULL) || g_utf8_strlen (name, -1) > HELIX_WEBHOOK_MAX_NAME)
    {
      g_set_error (error, HELIX_WEBHOOK_SETTINGS_ERROR, HELIX_WEBHOOK_SETTINGS_ERROR_INVALID,
                   _("The name is too long: use at most %d characters."), HELIX_WEBHOOK_MAX_NAME);
      return FALSE;
    }

  folded = g_utf8_casefold (name, -1);
  for (guint i = 0; i < self->webhooks->len; i++)
    {
      const HelixWebhook *other = g_ptr_array_index (self->webhooks, i);
      g_autofree char *other_folded = g_utf8_casefold (other->name, -1);

      if (g_str_equal (folded, other_folded) && g_strcmp0 (other->id, webhook->id) != 0)
        {
          g_set_error (error, HELIX_WEBHOOK_SETTINGS_ERROR, HELIX_WEBHOOK_SETTINGS_ERROR_INVALID,
                       _("There is already a webhook named “%s”. Choose another name."), name);
          return FALSE;
        }
    }

  if (webhook->id == NULL && self->webhooks->len >= HELIX_WEBHOOK_MAX_WEBHOOKS)
    {
      g_set_error (error, HELIX_WEBHOOK_SETTINGS_ERROR, HELIX_WEBHOOK_SETTINGS_ERROR_INVALID,
                   _("Helix delivers to at most %d webhooks. Remove one first."),
                   HELIX_WEBHOOK_MAX_WEBHOOKS);
      return FALSE;
    }

  if (webhook->format != HELIX_WEBHOOK_FORMAT_DISCORD &&
      webhook->format != HELIX_WEBHOOK_FORMAT_JSON)
    return set_invalid (error, _("Choose the format the webhook reads: Discord or JSON."));

  if (webhook->url == NULL || *webhook->url == '\0')
    return set_invalid (error, _("Enter the webhook address."));
  if (!check_url (webhook->url, FALSE, error))
    return FALSE;
  if (webhook->backup_url != NULL && *webhook->backup_url != '\0' &&
      !check_url (webhook->backup_url, TRUE, error))
    return FALSE;

  if (webhook->channels == NULL || webhook->channels[0] == NULL)
    return set_invalid (error, _("Choose at least one kind of entry to send."));
  if (!channels_are_known ((const char * const *) webhook->channels))
    return set_invalid (error, _("One of the chosen kinds of entry is unknown."));

  return TRUE;
}

/**
 * helix_webhook_settings_add_sinks:
 * @self: the settings, loaded
 * @audit: an audit trail, not started yet
 *
 * Adds every webhook whose URL is known to @audit as a sink, named by its id;
 * says in a message why one is left out.
 *
 * Returns: how many were added
 */
guint
helix_webhook_settings_add_sinks (HelixWebhookSettings *self,
                                  HelixAudit           *audit)
{
  guint n_added = 0;

  g_return_val_if_fail (HELIX_IS_WEBHOOK_SETTINGS (self), 0);
  g_return_val_if_fail (HELIX_IS_AUDIT (audit), 0);

  for (guint i = 0; i < self->webhooks->len; i++)
    {
      const HelixWebhook *webhook = g_ptr_array_index (self->webhooks, i);
      g_autoptr(GError) error = NULL;

      if (webhook->url == NULL)
        {
          g_message ("Not delivering the audit log to the webhook “%s”: its address could not "
                     "be read from the keyring (is it locked?)", webhook->name);
          continue;
        }

      if (!helix_audit_add_sink (audit, webhook->id, webhook->format, webhook->url,
                                 webhook->backup_url, (const char * const *) webhook->channels,
                                 &error))
        {
          g_message ("Not delivering the audit log to the webhook “%s”: %s", webhook->name,
                     error->message);
          continue;
        }

      n_added++;
    }

  return n_added;
}

/* A stable id from the name, made unique with a number. */
static char *
make_id (HelixWebhookSettings *self,
         const char           *name)
{
  g_autoptr(GString) slug = g_string_new (NULL);
  g_autofree char *candidate = NULL;

  for (const char *p = name; *p != '\0' && slug->len < 32; p++)
    {
      if (g_ascii_isalnum (*p))
        g_string_append_c (slug, g_ascii_tolower (*p));
      else if (slug->len > 0 && slug->str[slug->len - 1] != '-')
        g_string_append_c (slug, '-');
    }
  while (slug->len > 0 && slug->str[slug->len - 1] == '-')
    g_string_truncate (slug, slug->len - 1);
  if (slug->len == 0)
    g_string_assign (slug, "webhook");

  candidate = g_strdup (slug->str);
  for (guint n = 2; find_position (self, candidate, NULL); n++)
    {
      g_free (candidate);
      candidate = g_strdup_printf ("%s-%u", slug->str, n);
    }

  return g_steal_pointer (&candidate);
}

/* What an audit entry says of a webhook: its URLs' hosts, never the URLs. */
static char *
describe_webhook (const HelixWebhook *webhook)
{
  g_autofree char *host = dup_host (webhook->url);
  g_autofree char *backup_host = dup_host (webhook->backup_url);
  GString *out = g_string_new ("{\"id\":");

  helix_json_append_string (out, webhook->id);
  g_string_append (out, ",\"name\":");
  helix_json_append_string (out, webhook->name);
  g_string_append (out, ",\"format\":");
  helix_json_append_string (out, format_to_string (webhook->format));
  g_string_append (out, ",\"channels\":[");
  for (guint i = 0; webhook->channels[i] != NULL; i++)
    {
      if (i > 0)
        g_string_append_c (out, ',');
      helix_json_append_string (out, webhook->channels[i]);
    }
  g_string_append_c (out, ']');
  if (host != NULL)
    {
      g_string_append (out, ",\"host\":");
      helix_json_append_string (out, host);
    }
  if (backup_host != NULL)
    {
      g_string_append (out, ",\"backup_host\":");
      helix_json_append_string (out, backup_host);
    }
  g_string_append_c (out, '}');

  return g_string_free (out, FALSE);
}

/* Save {{{2 */

static void
save_commit (GTask *task)
{
  HelixWebhookSettings *self = g_task_get_source_object (task);
  HelixWebhook *webhook = g_task_get_task_data (task);
  guint position;

  tell_sanitizer (webhook);
  if (find_position (self, webhook->id, &position))
    {
      helix_webhook_free (g_ptr_array_index (self->webhooks, position));
      g_ptr_array_index (self->webhooks, position) = helix_webhook_copy (webhook);
    }
  else
    g_ptr_array_add (self->webhooks, helix_webhook_copy (webhook));

  write_settings (self);
  g_hash_table_add (self->changed, g_strdup (webhook->id));
  g_debug ("Saved the webhook %s", webhook->id);
  g_signal_emit (self, signals[CHANGED], 0);

  g_task_return_pointer (task, helix_webhook_copy (webhook), (GDestroyNotify) helix_webhook_free);
}

static void
save_stored_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HelixWebhookSettings *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;

  if (!secret_password_store_finish (result, &error))
    {
      g_debug ("Could not store a webhook address: %s", error->message);

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_task_return_new_error (task, HELIX_WEBHOOK_SETTINGS_ERROR,
                                 HELIX_WEBHOOK_SETTINGS_ERROR_KEYRING,
                                 _("The keyring is not available, so Helix did not save the "
                                   "webhook. Nothing was stored. Make sure the keyring (for "
                                   "example GNOME Keyring) is running and unlocked, then try "
                                   "again. (%s)"),
                                 error->message);
      return;
    }

  /* The keyring works (again). */
  set_keyring_error (self, NULL);
  save_commit (task);
}

/* Written to the audit trail: the URLs to the keyring, then the rest. */
static void
save_audited (GTask *task)
{
  HelixWebhook *webhook = g_task_get_task_data (task);
  g_autofree char *label = NULL;
  char *secret = join_urls (webhook);

  /* Translators: the label of a keyring item; %s is the webhook's name. */
  label = g_strdup_printf (_("Helix: webhook address for %s"), webhook->name);
  secret_password_store (get_schema (), SECRET_COLLECTION_DEFAULT, label, secret,
                         g_task_get_cancellable (task), save_stored_cb, g_object_ref (task),
                         "webhook", webhook->id,
                         NULL);
  helix_keyring_secret_free (secret);
}

/**
 * helix_webhook_settings_save_async:
 * @self: the settings
 * @webhook: the webhook: with the id of an existing one to change it, or
 *   with a %NULL id to add a new one
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: for @callback
 *
 * Validates @webhook, writes the change to the audit trail, stores the URLs
 * in the keyring, then the rest in the settings. If any step fails, nothing
 * after it happens. The audit trail delivers to it from the next start.
 */
void
helix_webhook_settings_save_async (HelixWebhookSettings *self,
                                   const HelixWebhook   *webhook,
                                   GCancellable         *cancellable,
                                   GAsyncReadyCallback   callback,
                                   gpointer              user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *payload = NULL;
  HelixWebhook *saved;
  gboolean existing;

  g_return_if_fail (HELIX_IS_WEBHOOK_SETTINGS (self));
  g_return_if_fail (webhook != NULL);
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_webhook_settings_save_async);

  if (!helix_webhook_settings_validate (self, webhook, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  existing = webhook->id != NULL;
  if (existing && !find_position (self, webhook->id, NULL))
    {
      g_task_return_new_error (task, HELIX_WEBHOOK_SETTINGS_ERROR,
                               HELIX_WEBHOOK_SETTINGS_ERROR_NOT_FOUND,
                               _("The webhook “%s” was removed in the meantime."),
                               webhook->name);
      return;
    }

  saved = helix_webhook_copy (webhook);
  g_strstrip (saved->name);
  if (!existing)
    saved->id = make_id (self, saved->name);
  g_task_set_task_data (task, saved, (GDestroyNotify) helix_webhook_free);

  payload = describe_webhook (saved);
  helix_audit_gate (self->audit, self->audit_error, task,
                    existing ? "webhook.changed" : "webhook.added", payload,
                    HELIX_WEBHOOK_SETTINGS_ERROR, HELIX_WEBHOOK_SETTINGS_ERROR_AUDIT,
                    _("Helix did not change the webhooks"), save_audited);
}

/**
 * helix_webhook_settings_save_finish:
 * @self: the settings
 * @result: the result
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the saved webhook, with its id
 */
HelixWebhook *
helix_webhook_settings_save_finish (HelixWebhookSettings  *self,
                                    GAsyncResult          *result,
                                    GError               **error)
{
  g_return_val_if_fail (HELIX_IS_WEBHOOK_SETTINGS (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        helix_webhook_settings_save_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Remove {{{2 */

static void
remove_cleared_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HelixWebhook *webhook = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  secret_password_clear_finish (result, &error);
  if (error != NULL)
    {
      g_task_return_new_error (task, HELIX_WEBHOOK_SETTINGS_ERROR,
                               HELIX_WEBHOOK_SETTINGS_ERROR_URL_NOT_REMOVED,
                               _("Removed “%s”, but its address could not be removed from the "
                                 "keyring: %s. Remove the item “Helix: webhook address for %s” "
                                 "with the Passwords and Keys application."),
                               webhook->name, error->message, webhook->name);
      return;
    }

  g_task_return_boolean (task, TRUE);
}

/* Written to the audit trail: out of the settings at once, then the URLs out
 * of the keyring. */
static void
remove_audited (GTask *task)
{
  HelixWebhookSettings *self = g_task_get_source_object (task);
  HelixWebhook *webhook = g_task_get_task_data (task);
  guint position;

  /* Removed meanwhile, by another window. */
  if (!find_position (self, webhook->id, &position))
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  g_ptr_array_remove_index (self->webhooks, position);
  g_hash_table_remove (self->changed, webhook->id);
  write_settings (self);
  g_debug ("Removed the webhook %s", webhook->id);
  g_signal_emit (self, signals[CHANGED], 0);

  secret_password_clear (get_schema (), g_task_get_cancellable (task), remove_cleared_cb,
                         g_object_ref (task),
                         "webhook", webhook->id,
                         NULL);
}

/**
 * helix_webhook_settings_remove_async:
 * @self: the settings
 * @id: the webhook's id
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: for @callback
 *
 * Writes the removal to the audit trail, removes the webhook from the
 * settings, then its URLs from the keyring. The audit trail stops delivering
 * to it at the next start.
 */
void
helix_webhook_settings_remove_async (HelixWebhookSettings *self,
                                     const char           *id,
                                     GCancellable         *cancellable,
                                     GAsyncReadyCallback   callback,
                                     gpointer              user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autofree char *payload = NULL;
  HelixWebhook *webhook;
  guint position;

  g_return_if_fail (HELIX_IS_WEBHOOK_SETTINGS (self));
  g_return_if_fail (id != NULL);
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_webhook_settings_remove_async);

  if (!find_position (self, id, &position))
    {
      g_task_return_new_error (task, HELIX_WEBHOOK_SETTINGS_ERROR,
                               HELIX_WEBHOOK_SETTINGS_ERROR_NOT_FOUND,
                               _("There is no webhook “%s”."), id);
      return;
    }

  webhook = helix_webhook_copy (g_ptr_array_index (self->webhooks, position));
  g_task_set_task_data (task, webhook, (GDestroyNotify) helix_webhook_free);

  payload = describe_webhook (webhook);
  helix_audit_gate (self->audit, self->audit_error, task, "webhook.removed", payload,
                    HELIX_WEBHOOK_SETTINGS_ERROR, HELIX_WEBHOOK_SETTINGS_ERROR_AUDIT,
                    _("Helix did not change the webhooks"), remove_audited);
}

gboolean
helix_webhook_settings_remove_finish (HelixWebhookSettings  *self,
                                      GAsyncResult          *result,
                                      GError               **error)
{
  g_return_val_if_fail (HELIX_IS_WEBHOOK_SETTINGS (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        helix_webhook_settings_remove_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
