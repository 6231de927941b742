/* helix-markdown-private.h: Markdown parsed into a tree of blocks for HelixMarkdownView
 *
 * The parser is GTK-free: it turns Markdown (md4c, GitHub flavour without raw HTML)
 * into blocks whose inline content is already Pango markup, with every piece of text
 * escaped. The view compares two trees block by block to rebuild only what changed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Quotes and lists nested deeper than this are flattened into their parent. */
#define HELIX_MD_MAX_DEPTH 16
/* Past this many blocks (table cells included) the rest becomes plain paragraphs. */
#define HELIX_MD_MAX_BLOCKS 4096
/* Tables wider than this are shown as text. */
#define HELIX_MD_MAX_COLUMNS 64

typedef enum
{
  HELIX_MD_BLOCK_PARAGRAPH,
  HELIX_MD_BLOCK_HEADING,
  HELIX_MD_BLOCK_CODE,
  HELIX_MD_BLOCK_RULE,
  HELIX_MD_BLOCK_QUOTE,
  HELIX_MD_BLOCK_LIST,
  HELIX_MD_BLOCK_ITEM,
  HELIX_MD_BLOCK_TABLE,
} HelixMdBlockKind;

typedef enum
{
  HELIX_MD_ALIGN_DEFAULT,
  HELIX_MD_ALIGN_LEFT,
  HELIX_MD_ALIGN_CENTER,
  HELIX_MD_ALIGN_RIGHT,
} HelixMdAlign;

typedef struct _HelixMdBlock HelixMdBlock;

struct _HelixMdBlock
{
  HelixMdBlockKind  kind;
  /* HEADING: 1–6 */
  guint             level;
  /* LIST: no blank lines between the items */
  gboolean          tight;
  /* PARAGRAPH, HEADING: Pango markup. CODE: the code as written, each line ending
   * in '\n'. ITEM: the marker ("•", "3.", "☑"), plain text. Never NULL. */
  GString          *text;
  /* CODE: the fence's language, or NULL */
  char             *lang;
  /* QUOTE, LIST, ITEM: HelixMdBlock */
  GPtrArray        *children;
  /* TABLE: the header row first; cells are GString markup, row by row */
  guint             n_columns;
  guint             n_rows;
  GPtrArray        *cells;
  guint8           *aligns;

  /* Owned by the view: the widget showing this block, where its content goes
   * (a label, a box, a source view or a grid), and one more widget of its own
   * (an item's marker label). Not references. */
  gpointer          widget;
  gpointer          content;
  gpointer          extra;
};

GPtrArray *_helix_md_parse          (const char         *text,
                                     gsize               len);
gboolean   _helix_md_block_equal    (const HelixMdBlock *a,
                                     const HelixMdBlock *b);
void       _helix_md_block_free     (HelixMdBlock       *block);
gboolean   _helix_md_uri_is_allowed (const char         *uri);

G_END_DECLS
