/* helix-provider-gemini.h: the Gemini streamGenerateContent wire format
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-http-provider.h"

G_BEGIN_DECLS

#define HELIX_TYPE_PROVIDER_GEMINI (helix_provider_gemini_get_type ())

G_DECLARE_FINAL_TYPE (HelixProviderGemini, helix_provider_gemini, HELIX, PROVIDER_GEMINI, HelixHttpProvider)

HelixProviderGemini *helix_provider_gemini_new (const char  *name,
                                                const char  *base_url,
                                                const char  *api_key,
                                                GError     **error);

G_END_DECLS
