/* helix-provider-anthropic.h: the Anthropic Messages wire format
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-http-provider.h"

G_BEGIN_DECLS

#define HELIX_TYPE_PROVIDER_ANTHROPIC (helix_provider_anthropic_get_type ())

G_DECLARE_FINAL_TYPE (HelixProviderAnthropic, helix_provider_anthropic, HELIX, PROVIDER_ANTHROPIC, HelixHttpProvider)

/* max_tokens is required by the Messages API: this when the request sets none. */
#define HELIX_PROVIDER_ANTHROPIC_DEFAULT_MAX_TOKENS 4096

HelixProviderAnthropic *helix_provider_anthropic_new (const char  *name,
                                                      const char  *base_url,
                                                      const char  *api_key,
                                                      GError     **error);

G_END_DECLS
