/* helix-provider-settings.h: the AI providers and spending limits the user configured
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-provider-config.h"
#include "helix-audit.h"
#include "helix-router.h"

G_BEGIN_DECLS

#define HELIX_PROVIDER_SETTINGS_ERROR (helix_provider_settings_error_quark ())

/**
 * HelixProviderSettingsError:
 * @HELIX_PROVIDER_SETTINGS_ERROR_INVALID: the configuration cannot be used
 *   (the message says which field and why)
 * @HELIX_PROVIDER_SETTINGS_ERROR_KEYRING: the keyring is missing, locked or
 *   refused; nothing was stored
 * @HELIX_PROVIDER_SETTINGS_ERROR_NOT_FOUND: no provider has that id
 * @HELIX_PROVIDER_SETTINGS_ERROR_AUDIT: the change could not be written to the
 *   audit trail first, so it was not made
 * @HELIX_PROVIDER_SETTINGS_ERROR_KEY_NOT_REMOVED: the provider was removed, but
 *   its key could not be removed from the keyring
 */
typedef enum
{
  HELIX_PROVIDER_SETTINGS_ERROR_INVALID,
  HELIX_PROVIDER_SETTINGS_ERROR_KEYRING,
  HELIX_PROVIDER_SETTINGS_ERROR_NOT_FOUND,
  HELIX_PROVIDER_SETTINGS_ERROR_KEY_NOT_REMOVED,
  HELIX_PROVIDER_SETTINGS_ERROR_AUDIT,
} HelixProviderSettingsError;

/* The libsecret schema of the API keys, with the attribute "provider" (the
 * provider's id). */
#define HELIX_PROVIDER_KEY_SCHEMA_NAME "ai.helix.Helix.ProviderKey"

/* Where a local Ollama server answers, OpenAI-compatible. */
#define HELIX_PROVIDER_SETTINGS_OLLAMA_URL "http://127.0.0.1:11434/v1"

#define HELIX_TYPE_PROVIDER_SETTINGS (helix_provider_settings_get_type ())

G_DECLARE_FINAL_TYPE (HelixProviderSettings, helix_provider_settings, HELIX, PROVIDER_SETTINGS,
                      GObject)

GQuark                 helix_provider_settings_error_quark       (void);

void                   helix_provider_settings_set_audit         (HelixProviderSettings *self,
                                                                  HelixAudit            *audit,
                                                                  const char            *unavailable);

HelixProviderSettings *helix_provider_settings_new               (GSettings             *settings,
                                                                  HelixRouter           *router);
HelixRouter           *helix_provider_settings_get_router        (HelixProviderSettings *self);
GSettings             *helix_provider_settings_get_settings      (HelixProviderSettings *self);
gboolean               helix_provider_settings_get_loading       (HelixProviderSettings *self);
const char            *helix_provider_settings_get_keyring_error (HelixProviderSettings *self);

HelixProviderConfig   *helix_provider_settings_lookup            (HelixProviderSettings *self,
                                                                  const char            *id);
HelixProviderConfig   *helix_provider_settings_lookup_by_name    (HelixProviderSettings *self,
                                                                  const char            *name);
gboolean               helix_provider_settings_has_key           (HelixProviderSettings *self,
                                                                  const char            *id);
const char            *helix_provider_settings_get_problem       (HelixProviderSettings *self,
                                                                  const char            *id);
gboolean               helix_provider_settings_is_priced         (HelixProviderSettings *self,
                                                                  const char            *id,
                                                                  const char            *model);
gboolean               helix_provider_settings_validate          (HelixProviderSettings *self,
                                                                  HelixProviderConfig   *config,
                                                                  GError               **error);

void                   helix_provider_settings_save_async        (HelixProviderSettings *self,
                                                                  HelixProviderConfig   *config,
                                                                  const char            *api_key,
                                                                  GCancellable          *cancellable,
                                                                  GAsyncReadyCallback    callback,
                                                                  gpointer               user_data);
HelixProviderConfig   *helix_provider_settings_save_finish       (HelixProviderSettings *self,
                                                                  GAsyncResult          *result,
                                                                  GError               **error);
void                   helix_provider_settings_remove_async      (HelixProviderSettings *self,
                                                                  const char            *id,
                                                                  GCancellable          *cancellable,
                                                                  GAsyncReadyCallback    callback,
                                                                  gpointer               user_data);
gboolean               helix_provider_settings_remove_finish     (HelixProviderSettings *self,
                                                                  GAsyncResult          *result,
                                                                  GError               **error);
gboolean               helix_provider_settings_set_enabled       (HelixProviderSettings *self,
                                                                  const char            *id,
                                                                  gboolean               enabled);

void                   helix_provider_settings_test_async        (HelixProviderSettings *self,
                                                                  HelixProviderConfig   *config,
                                                                  const char            *api_key,
                                                                  GCancellable          *cancellable,
                                                                  GAsyncReadyCallback    callback,
                                                                  gpointer               user_data);
GStrv                  helix_provider_settings_test_finish       (HelixProviderSettings *self,
                                                                  GAsyncResult          *result,
                                                                  GError               **error);

void                   helix_provider_settings_offer_ollama_async  (HelixProviderSettings *self,
                                                                    const char            *base_url,
                                                                    GCancellable          *cancellable,
                                                                    GAsyncReadyCallback    callback,
                                                                    gpointer               user_data);
gboolean               helix_provider_settings_offer_ollama_finish (HelixProviderSettings *self,
                                                                    GAsyncResult          *result,
                                                                    GError               **error);

G_END_DECLS
