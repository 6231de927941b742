/* helix-provider-openai.h: the OpenAI-compatible chat completions wire format
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-http-provider.h"

G_BEGIN_DECLS

#define HELIX_TYPE_PROVIDER_OPENAI (helix_provider_openai_get_type ())

G_DECLARE_FINAL_TYPE (HelixProviderOpenai, helix_provider_openai, HELIX, PROVIDER_OPENAI, HelixHttpProvider)

HelixProviderOpenai *helix_provider_openai_new (const char  *name,
                                                const char  *base_url,
                                                const char  *api_key,
                                                GError     **error);

G_END_DECLS
