/* helix-provider-editor-private.h: what the tests look at in the provider editor
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-provider-editor.h"

G_BEGIN_DECLS

struct _HelixProviderEditor
{
  AdwWindow              parent_instance;

  HelixProviderSettings *settings;
  HelixProviderConfig   *config;     /* the one being changed, or NULL for a new one */
  GCancellable          *cancellable;

  /* Template widgets */
  AdwEntryRow           *name_row;
  AdwComboRow           *kind_row;
  AdwPreferencesGroup   *url_group;
  AdwEntryRow           *url_row;
  AdwPreferencesGroup   *key_group;
  AdwPasswordEntryRow   *key_row;
  AdwEntryRow           *models_row;
  GtkButton             *fetch_button;
  GtkButton             *test_button;
  GtkSpinner            *test_spinner;
  GtkLabel              *test_label;
  GtkLabel              *error_label;
  GtkButton             *save_button;

  guint                  busy : 1;
};

G_END_DECLS
