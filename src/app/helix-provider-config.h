/* helix-provider-config.h: one AI provider as the user configured it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define HELIX_TYPE_PROVIDER_CONFIG (helix_provider_config_get_type ())

G_DECLARE_FINAL_TYPE (HelixProviderConfig, helix_provider_config, HELIX, PROVIDER_CONFIG, GObject)

HelixProviderConfig *helix_provider_config_new          (const char          *id,
                                                         const char          *name,
                                                         const char          *kind,
                                                         const char          *base_url,
                                                         const char * const  *models,
                                                         gboolean             enabled);
HelixProviderConfig *helix_provider_config_copy_enabled (HelixProviderConfig *self,
                                                         gboolean             enabled);
const char          *helix_provider_config_get_id       (HelixProviderConfig *self);
const char          *helix_provider_config_get_name     (HelixProviderConfig *self);
const char          *helix_provider_config_get_kind     (HelixProviderConfig *self);
const char          *helix_provider_config_get_base_url (HelixProviderConfig *self);
const char          *helix_provider_config_get_effective_base_url (HelixProviderConfig *self);
const char * const  *helix_provider_config_get_models   (HelixProviderConfig *self);
gboolean             helix_provider_config_get_enabled  (HelixProviderConfig *self);
gboolean             helix_provider_config_is_local     (HelixProviderConfig *self);

gboolean             helix_provider_url_is_loopback     (const char          *url);
char               **helix_provider_parse_models        (const char          *text);

G_END_DECLS
