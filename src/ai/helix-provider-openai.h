/* helix-provider-openai.h: the OpenAI-compatible chat completions wire format
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-provider.h"

G_BEGIN_DECLS

#define HELIX_TYPE_PROVIDER_OPENAI (helix_provider_openai_get_type ())

G_DECLARE_FINAL_TYPE (HelixProviderOpenai, helix_provider_openai, HELIX, PROVIDER_OPENAI, GObject)

HelixProviderOpenai *helix_provider_openai_new          (const char          *name,
                                                         const char          *base_url,
                                                         const char          *api_key,
                                                         GError             **error);
const char          *helix_provider_openai_get_base_url (HelixProviderOpenai *self);
void                 helix_provider_openai_set_api_key  (HelixProviderOpenai *self,
                                                         const char          *api_key);

G_END_DECLS
