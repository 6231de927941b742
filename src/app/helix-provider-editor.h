/* helix-provider-editor.h: the dialog that adds or changes an AI provider
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "helix-provider-settings.h"

G_BEGIN_DECLS

#define HELIX_TYPE_PROVIDER_EDITOR (helix_provider_editor_get_type ())

G_DECLARE_FINAL_TYPE (HelixProviderEditor, helix_provider_editor, HELIX, PROVIDER_EDITOR, AdwWindow)

HelixProviderEditor *helix_provider_editor_new (GtkWindow             *transient_for,
                                                HelixProviderSettings *settings,
                                                HelixProviderConfig   *config);

G_END_DECLS
