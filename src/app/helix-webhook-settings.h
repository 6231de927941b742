/* helix-webhook-settings.h: the webhooks the user delivers the local audit trail to
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-audit.h"

G_BEGIN_DECLS

#define HELIX_WEBHOOK_SETTINGS_ERROR (helix_webhook_settings_error_quark ())

/**
 * HelixWebhookSettingsError:
 * @HELIX_WEBHOOK_SETTINGS_ERROR_INVALID: the webhook cannot be used (the
 *   message says which field and why)
 * @HELIX_WEBHOOK_SETTINGS_ERROR_KEYRING: the keyring is missing, locked or
 *   refused; nothing was stored
 * @HELIX_WEBHOOK_SETTINGS_ERROR_NOT_FOUND: no webhook has that id
 * @HELIX_WEBHOOK_SETTINGS_ERROR_AUDIT: the change could not be written to the
 *   audit trail first, so it was not made
 * @HELIX_WEBHOOK_SETTINGS_ERROR_URL_NOT_REMOVED: the webhook was removed, but
 *   its address could not be removed from the keyring
 */
typedef enum
{
  HELIX_WEBHOOK_SETTINGS_ERROR_INVALID,
  HELIX_WEBHOOK_SETTINGS_ERROR_KEYRING,
  HELIX_WEBHOOK_SETTINGS_ERROR_NOT_FOUND,
  HELIX_WEBHOOK_SETTINGS_ERROR_AUDIT,
  HELIX_WEBHOOK_SETTINGS_ERROR_URL_NOT_REMOVED,
} HelixWebhookSettingsError;

/* The libsecret schema of the webhook addresses, with the attribute "webhook"
 * (the webhook's id); the secret is the URL, then, if there is one, a line
 * break and the backup URL. */
#define HELIX_WEBHOOK_URL_SCHEMA_NAME "ai.helix.Helix.WebhookUrl"

/* Limits of what a user enters. */
#define HELIX_WEBHOOK_MAX_NAME      64     /* characters */
#define HELIX_WEBHOOK_MAX_URL       2048   /* bytes */
#define HELIX_WEBHOOK_MAX_WEBHOOKS  32

/**
 * HelixWebhook:
 * @id: (nullable): its stable id; %NULL for one not saved yet
 * @name: its name, for people
 * @format: what its receiver reads
 * @url: (nullable): where to send; %NULL when the keyring could not be read
 * @backup_url: (nullable): where to send when @url keeps failing
 * @channels: the audit channels it gets (%HELIX_AUDIT_CHANNEL_*)
 */
typedef struct
{
  char               *id;
  char               *name;
  HelixWebhookFormat  format;
  char               *url;
  char               *backup_url;
  char              **channels;
} HelixWebhook;

#define HELIX_TYPE_WEBHOOK (helix_webhook_get_type ())

GType         helix_webhook_get_type (void) G_GNUC_CONST;
HelixWebhook *helix_webhook_new      (const char         *id,
                                      const char         *name,
                                      HelixWebhookFormat  format,
                                      const char         *url,
                                      const char         *backup_url,
                                      const char * const *channels);
HelixWebhook *helix_webhook_copy     (const HelixWebhook *webhook);
void          helix_webhook_free     (HelixWebhook       *webhook);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixWebhook, helix_webhook_free)

const char * const *helix_webhook_list_channels   (void);
const char         *helix_webhook_channel_label   (const char *channel);
const char * const *helix_webhook_default_channels (void);

#define HELIX_TYPE_WEBHOOK_SETTINGS (helix_webhook_settings_get_type ())

G_DECLARE_FINAL_TYPE (HelixWebhookSettings, helix_webhook_settings, HELIX, WEBHOOK_SETTINGS,
                      GObject)

GQuark                helix_webhook_settings_error_quark       (void);

HelixWebhookSettings *helix_webhook_settings_new               (GSettings            *settings);
GSettings            *helix_webhook_settings_get_settings      (HelixWebhookSettings *self);
void                  helix_webhook_settings_set_audit         (HelixWebhookSettings *self,
                                                                HelixAudit           *audit,
                                                                const char           *unavailable);
gboolean              helix_webhook_settings_get_loading       (HelixWebhookSettings *self);
const char           *helix_webhook_settings_get_keyring_error (HelixWebhookSettings *self);

void                  helix_webhook_settings_load_async        (HelixWebhookSettings *self,
                                                                GCancellable         *cancellable,
                                                                GAsyncReadyCallback   callback,
                                                                gpointer              user_data);
gboolean              helix_webhook_settings_load_finish       (HelixWebhookSettings *self,
                                                                GAsyncResult         *result,
                                                                GError              **error);

guint                 helix_webhook_settings_get_n_webhooks    (HelixWebhookSettings *self);
const HelixWebhook   *helix_webhook_settings_get_webhook       (HelixWebhookSettings *self,
                                                                guint                 position);
const HelixWebhook   *helix_webhook_settings_lookup            (HelixWebhookSettings *self,
                                                                const char           *id);
gboolean              helix_webhook_settings_needs_restart     (HelixWebhookSettings *self,
                                                                const char           *id);
gboolean              helix_webhook_settings_validate          (HelixWebhookSettings *self,
                                                                const HelixWebhook   *webhook,
                                                                GError              **error);
guint                 helix_webhook_settings_add_sinks         (HelixWebhookSettings *self,
                                                                HelixAudit           *audit);

void                  helix_webhook_settings_save_async        (HelixWebhookSettings *self,
                                                                const HelixWebhook   *webhook,
                                                                GCancellable         *cancellable,
                                                                GAsyncReadyCallback   callback,
                                                                gpointer              user_data);
HelixWebhook         *helix_webhook_settings_save_finish       (HelixWebhookSettings *self,
                                                                GAsyncResult         *result,
                                                                GError              **error);
void                  helix_webhook_settings_remove_async      (HelixWebhookSettings *self,
                                                                const char           *id,
                                                                GCancellable         *cancellable,
                                                                GAsyncReadyCallback   callback,
                                                                gpointer              user_data);
gboolean              helix_webhook_settings_remove_finish     (HelixWebhookSettings *self,
                                                                GAsyncResult         *result,
                                                                GError              **error);

G_END_DECLS
