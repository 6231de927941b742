/* helix-markdown-view.h: an assistant's answer, rendered from Markdown
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define HELIX_TYPE_MARKDOWN_VIEW (helix_markdown_view_get_type ())

G_DECLARE_FINAL_TYPE (HelixMarkdownView, helix_markdown_view, HELIX, MARKDOWN_VIEW, GtkWidget)

GtkWidget  *helix_markdown_view_new          (void);
const char *helix_markdown_view_get_markdown (HelixMarkdownView *self);
void        helix_markdown_view_set_markdown (HelixMarkdownView *self,
                                              const char        *text,
                                              gssize             len);

G_END_DECLS
