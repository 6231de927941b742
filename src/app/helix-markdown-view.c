/* helix-markdown-view.c: an assistant's answer, rendered from Markdown
 *
 * Text becomes selectable, wrapping labels with Pango markup; code blocks become
 * read-only GtkSourceViews with the fence's syntax highlighting and a copy button;
 * tables become grids. While an answer streams in the view is given the text so far
 * many times a second: each time it parses the whole text (fast) and then walks the
 * new blocks against the shown ones, keeping the widgets of equal blocks, updating in
 * place a block that only grew (a paragraph, a code block, a list, a table), and
 * building widgets only for what is new.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <string.h>

#include <adwaita.h>
#include <glib/gi18n.h>
#include <gtksourceview/gtksource.h>

#include "helix-markdown-private.h"
#include "helix-markdown-view.h"

/* Longer texts are shown as they are, without parsing. */
#define MAX_PARSE_BYTES (1024 * 1024)
/* How long the copy button shows its check mark */
#define COPIED_FEEDBACK_MS 1500

struct _HelixMarkdownView
{
  GtkWidget        parent_instance;

  char            *markdown;
  /* The shown blocks, HelixMdBlock, each knowing its widgets */
  GPtrArray       *blocks;
  /* The whole text, when it is too long to parse */
  GtkLabel        *plain_label;

  AdwStyleManager *style_manager;
  gulong           dark_handler;
};

enum {
  PROP_0,
  PROP_MARKDOWN,
  N_PROPS
};

G_DEFINE_FINAL_TYPE (HelixMarkdownView, helix_markdown_view, GTK_TYPE_WIDGET)

static GParamSpec *properties[N_PROPS];

static void reconcile (HelixMarkdownView *self,
                       GtkWidget         *container,
                       GPtrArray         *shown,
                       GPtrArray         *wanted);

/* Labels -------------------------------------------------------------------- */

static gboolean
on_activate_link (GtkLabel   *label,
                  const char *uri,
                  gpointer    user_data)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (label));

  /* The parser only writes allowed links; check again all the same. */
  if (_helix_md_uri_is_allowed (uri))
    gtk_show_uri (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, uri, GDK_CURRENT_TIME);
  else
    g_debug ("Not opening a link with a scheme other than http, https or mailto");

  return TRUE;
}

static void
text_label_init (GtkLabel   *label,
                 const char *markup)
{
  gtk_label_set_markup (label, markup);
  gtk_label_set_wrap (label, TRUE);
  gtk_label_set_wrap_mode (label, PANGO_WRAP_WORD_CHAR);
  /* Long words and URLs still break, but the minimum width is measured at ten
   * characters instead of one: laying every label out a character per line made
   * measuring four times slower. */
  gtk_label_set_width_chars (label, 10);
  gtk_label_set_xalign (label, 0.0f);
  gtk_label_set_selectable (label, TRUE);
  g_signal_connect (label, "activate-link", G_CALLBACK (on_activate_link), NULL);
}

static GtkWidget *
text_label_new (const char *markup)
{
  GtkWidget *label = gtk_label_new (NULL);

  text_label_init (GTK_LABEL (label), markup);
  return label;
}

static GtkWidget *
heading_new (const HelixMdBlock *block)
{
  GtkWidget *label = g_object_new (GTK_TYPE_LABEL,
                                   "accessible-role", GTK_ACCESSIBLE_ROLE_HEADING,
                                   NULL);

  text_label_init (GTK_LABEL (label), block->text->str);
  if (block->level <= 4)
    {
      char css_class[] = "title-1";

      css_class[6] = (char) ('0' + block->level);
      gtk_widget_add_css_class (label, css_class);
    }
  else
    {
      gtk_widget_add_css_class (label, "heading");
    }
  gtk_accessible_update_property (GTK_ACCESSIBLE (label),
                                  GTK_ACCESSIBLE_PROPERTY_LEVEL, (int) block->level,
                                  -1);

  return label;
}

/* Code blocks ---------------------------------------------------------------- */

typedef struct
{
  GtkTextBuffer *buffer;
  GtkButton     *button;
  guint          reset_id;
} CopyState;

static void
copy_state_free (gpointer data)
{
  CopyState *state = data;

  g_clear_handle_id (&state->reset_id, g_source_remove);
  g_clear_object (&state->buffer);
  g_free (state);
}

static gboolean
on_copy_reset (gpointer user_data)
{
  CopyState *state = user_data;

  state->reset_id = 0;
  gtk_button_set_icon_name (state->button, "edit-copy-symbolic");
  gtk_widget_set_tooltip_text (GTK_WIDGET (state->button), _("Copy code"));

  return G_SOURCE_REMOVE;
}

static void
on_copy_clicked (GtkButton *button,
                 CopyState *state)
{
  GtkTextIter start, end;
  g_autofree char *code = NULL;

  gtk_text_buffer_get_bounds (state->buffer, &start, &end);
  code = gtk_text_buffer_get_text (state->buffer, &start, &end, TRUE);
  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (button)), code);

  gtk_button_set_icon_name (button, "object-select-symbolic");
  gtk_widget_set_tooltip_text (GTK_WIDGET (button), _("Copied"));
  g_clear_handle_id (&state->reset_id, g_source_remove);
  state->reset_id = g_timeout_add (COPIED_FEEDBACK_MS, on_copy_reset, state);
}

/* The language for a fence's info string ("c", "Python", "js"), or NULL. */
static GtkSourceLanguage *
language_for_fence (const char *fence)
{
  static const struct {
    const char *alias;
    const char *id;
  } aliases[] = {
    /* Python 3 is what people mean; the "python" language is Python 2. */
    { "py", "python3" }, { "python", "python3" }, { "py3", "python3" },
    { "javascript", "js" }, { "node", "js" }, { "mjs", "js" }, { "ts", "typescript" },
    { "bash", "sh" }, { "shell", "sh" }, { "zsh", "sh" }, { "console", "sh" },
    { "c++", "cpp" }, { "cxx", "cpp" }, { "hpp", "cpp" }, { "h", "chdr" },
    { "cs", "c-sharp" }, { "csharp", "c-sharp" }, { "rs", "rust" }, { "golang", "go" },
    { "yml", "yaml" }, { "md", "markdown" }, { "rb", "ruby" }, { "kt", "kotlin" },
    { "dockerfile", "docker" }, { "make", "makefile" }, { "ps1", "powershell" },
    { "patch", "diff" }, { "pl", "perl" }, { "hs", "haskell" }, { "jsonc", "json" },
    { "svg", "xml" },
  };
  GtkSourceLanguageManager *manager;
  g_autofree char *id = NULL;

  if (fence == NULL || fence[0] == '\0' || strlen (fence) > 64)
    return NULL;

  id = g_ascii_strdown (fence, -1);
  for (guint i = 0; i < G_N_ELEMENTS (aliases); i++)
    if (strcmp (id, aliases[i].alias) == 0)
      {
        g_free (id);
        id = g_strdup (aliases[i].id);
        break;
      }

  manager = gtk_source_language_manager_get_default ();
  return gtk_source_language_manager_get_language (manager, id);
}

static GtkSourceStyleScheme *
current_style_scheme (HelixMarkdownView *self)
{
  gboolean dark = self->style_manager != NULL && adw_style_manager_get_dark (self->style_manager);

  return gtk_source_style_scheme_manager_get_scheme (gtk_source_style_scheme_manager_get_default (),
                                                     dark ? "Adwaita-dark" : "Adwaita");
}

/* The code as shown: without the newline md4c ends its last line with. */
static gsize
code_shown_length (const GString *code)
{
  if (code->len > 0 && code->str[code->len - 1] == '\n')
    return code->len - 1;
  return code->len;
}

static void
code_block_build (HelixMarkdownView *self,
                  HelixMdBlock      *block)
{
  GtkSourceLanguage *language = language_for_fence (block->lang);
  g_autoptr(GtkSourceBuffer) buffer = gtk_source_buffer_new (NULL);
  g_autofree char *accessible_label = NULL;
  GtkWidget *card;
  GtkWidget *header;
  GtkWidget *title;
  GtkWidget *button;
  GtkWidget *view;
  CopyState *state;

  gtk_text_buffer_set_enable_undo (GTK_TEXT_BUFFER (buffer), FALSE);
  gtk_source_buffer_set_language (buffer, language);
  gtk_source_buffer_set_highlight_syntax (buffer, language != NULL);
  gtk_source_buffer_set_highlight_matching_brackets (buffer, FALSE);
  gtk_source_buffer_set_style_scheme (buffer, current_style_scheme (self));
  gtk_text_buffer_set_text (GTK_TEXT_BUFFER (buffer),
                            block->text->str, (int) code_shown_length (block->text));

  view = gtk_source_view_new_with_buffer (buffer);
  gtk_text_view_set_editable (GTK_TEXT_VIEW (view), FALSE);
  gtk_text_view_set_cursor_visible (GTK_TEXT_VIEW (view), FALSE);
  gtk_text_view_set_monospace (GTK_TEXT_VIEW (view), TRUE);
  gtk_text_view_set_wrap_mode (GTK_TEXT_VIEW (view), GTK_WRAP_WORD_CHAR);
  gtk_text_view_set_top_margin (GTK_TEXT_VIEW (view), 8);
  gtk_text_view_set_bottom_margin (GTK_TEXT_VIEW (view), 10);
  gtk_text_view_set_left_margin (GTK_TEXT_VIEW (view), 12);
  gtk_text_view_set_right_margin (GTK_TEXT_VIEW (view), 12);

  title = gtk_label_new (block->lang != NULL ? block->lang : _("Code"));
  gtk_label_set_xalign (GTK_LABEL (title), 0.0f);
  gtk_label_set_ellipsize (GTK_LABEL (title), PANGO_ELLIPSIZE_END);
  gtk_widget_set_hexpand (title, TRUE);
  gtk_widget_add_css_class (title, "caption");
  gtk_widget_add_css_class (title, "dim-label");

  button = gtk_button_new_from_icon_name ("edit-copy-symbolic");
  gtk_widget_add_css_class (button, "flat");
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (button, _("Copy code"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (button),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Copy code"),
                                  -1);
  state = g_new0 (CopyState, 1);
  state->buffer = GTK_TEXT_BUFFER (g_object_ref (buffer));
  state->button = GTK_BUTTON (button);
  g_object_set_data_full (G_OBJECT (button), "helix-copy-state", state, copy_state_free);
  g_signal_connect (button, "clicked", G_CALLBACK (on_copy_clicked), state);

  header = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  gtk_widget_add_css_class (header, "markdown-code-header");
  gtk_box_append (GTK_BOX (header), title);
  gtk_box_append (GTK_BOX (header), button);

  card = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  gtk_widget_set_overflow (card, GTK_OVERFLOW_HIDDEN);
  gtk_widget_add_css_class (card, "card");
  gtk_widget_add_css_class (card, "markdown-code");
  gtk_box_append (GTK_BOX (card), header);
  gtk_box_append (GTK_BOX (card), view);

  if (block->lang != NULL)
    /* Translators: the accessible name of a code block; %s is its language, like "python" */
    accessible_label = g_strdup_printf (_("Code block, %s"), block->lang);
  else
    accessible_label = g_strdup (_("Code block"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (card),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, accessible_label,
                                  -1);
  gtk_accessible_update_property (GTK_ACCESSIBLE (view),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, accessible_label,
                                  -1);

  block->widget = card;
  block->content = view;
}

/* Shows @code in @view, appending when the code only grew (the usual case while an
 * answer streams in) so highlighting carries on instead of starting over. */
static void
code_block_update (GtkTextView   *view,
                   const GString *shown,
                   const GString *code)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (view);
  gsize shown_len = code_shown_length (shown);
  gsize code_len = code_shown_length (code);

  if (code_len >= shown_len && memcmp (shown->str, code->str, shown_len) == 0)
    {
      GtkTextIter end;

      gtk_text_buffer_get_end_iter (buffer, &end);
      gtk_text_buffer_insert (buffer, &end, code->str + shown_len, (int) (code_len - shown_len));
    }
  else
    {
      gtk_text_buffer_set_text (buffer, code->str, (int) code_len);
    }
}

static void
update_style_schemes (GPtrArray            *blocks,
                      GtkSourceStyleScheme *scheme)
{
  for (guint i = 0; i < blocks->len; i++)
    {
      HelixMdBlock *block = blocks->pdata[i];

      if (block->kind == HELIX_MD_BLOCK_CODE && block->content != NULL)
        {
          GtkTextBuffer *buffer = gtk_text_view_get_buffer (block->content);

          gtk_source_buffer_set_style_scheme (GTK_SOURCE_BUFFER (buffer), scheme);
        }
      else if (block->children != NULL)
        update_style_schemes (block->children, scheme);
    }
}

static void
on_dark_changed (HelixMarkdownView *self,
                 GParamSpec        *pspec,
                 AdwStyleManager   *style_manager)
{
  update_style_schemes (self->blocks, current_style_scheme (self));
}

/* Tables -------------------------------------------------------------------- */

static void
table_update_accessible_label (GtkWidget          *grid,
                               const HelixMdBlock *block)
{
  g_autofree char *columns = NULL;
  g_autofree char *label = NULL;

  /* Translators: part of a table's accessible name, "Table, 3 columns, 4 rows" */
  columns = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u column", "%u columns",
                                          block->n_columns),
                             block->n_columns);
  /* Translators: a table's accessible name; %s is "3 columns", the rows include the header */
  label = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Table, %s, %u row", "Table, %s, %u rows",
                                        block->n_rows),
                           columns, block->n_rows);
  gtk_accessible_update_property (GTK_ACCESSIBLE (grid),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, label,
                                  -1);
}

static GtkWidget *
table_cell_new (const HelixMdBlock *block,
                guint               row,
                guint               column)
{
  const GString *markup = block->cells->pdata[row * block->n_columns + column];
  GtkWidget *label = text_label_new (markup->str);
  float xalign = 0.0f;
  GtkJustification justify = GTK_JUSTIFY_LEFT;

  switch ((HelixMdAlign) block->aligns[column])
    {
    case HELIX_MD_ALIGN_CENTER:
      xalign = 0.5f;
      justify = GTK_JUSTIFY_CENTER;
      break;

    case HELIX_MD_ALIGN_RIGHT:
      xalign = 1.0f;
      justify = GTK_JUSTIFY_RIGHT;
      break;

    case HELIX_MD_ALIGN_DEFAULT:
    case HELIX_MD_ALIGN_LEFT:
    default:
      break;
    }

  gtk_label_set_xalign (GTK_LABEL (label), xalign);
  gtk_label_set_justify (GTK_LABEL (label), justify);
  gtk_label_set_max_width_chars (GTK_LABEL (label), 40);
  gtk_widget_set_valign (label, GTK_ALIGN_START);
  if (row == 0)
    gtk_widget_add_css_class (label, "markdown-table-header");

  return label;
}

static void
table_build (HelixMdBlock *block)
{
  GtkWidget *grid = gtk_grid_new ();

  gtk_grid_set_row_spacing (GTK_GRID (grid), 6);
  gtk_grid_set_column_spacing (GTK_GRID (grid), 18);
  gtk_widget_add_css_class (grid, "markdown-table");

  for (guint row = 0; row < block->n_rows; row++)
    for (guint column = 0; column < block->n_columns; column++)
      gtk_grid_attach (GTK_GRID (grid), table_cell_new (block, row, column), column, row, 1, 1);
  table_update_accessible_label (grid, block);

  block->widget = grid;
  block->content = grid;
}

/* Changes the cells that differ; rows come and go at the end. */
static gboolean
table_update (HelixMdBlock *shown,
              HelixMdBlock *block)
{
  GtkGrid *grid = shown->content;

  if (shown->n_columns != block->n_columns ||
      memcmp (shown->aligns, block->aligns, block->n_columns) != 0)
    return FALSE;

  for (guint row = 0; row < block->n_rows; row++)
    for (guint column = 0; column < block->n_columns; column++)
      {
        guint i = row * block->n_columns + column;

        if (row >= shown->n_rows)
          gtk_grid_attach (grid, table_cell_new (block, row, column), column, row, 1, 1);
        else if (!g_string_equal (shown->cells->pdata[i], block->cells->pdata[i]))
          gtk_label_set_markup (GTK_LABEL (gtk_grid_get_child_at (grid, column, row)),
                                ((GString *) block->cells->pdata[i])->str);
      }

  for (guint row = shown->n_rows; row > block->n_rows; row--)
    gtk_grid_remove_row (grid, row - 1);

  if (shown->n_rows != block->n_rows)
    table_update_accessible_label (GTK_WIDGET (grid), block);

  return TRUE;
}

/* Blocks -------------------------------------------------------------------- */

static GtkWidget *
container_new (const char *css_class,
               int         spacing)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, spacing);

  gtk_widget_add_css_class (box, css_class);
  return box;
}

static int
list_spacing (const HelixMdBlock *block)
{
  return block->tight ? 4 : 10;
}

/* Creates the widgets for @block. */
static void
block_build (HelixMarkdownView *self,
             HelixMdBlock      *block)
{
  switch (block->kind)
    {
    case HELIX_MD_BLOCK_PARAGRAPH:
      block->widget = block->content = text_label_new (block->text->str);
      break;

    case HELIX_MD_BLOCK_HEADING:
      block->widget = block->content = heading_new (block);
      break;

    case HELIX_MD_BLOCK_CODE:
      code_block_build (self, block);
      break;

    case HELIX_MD_BLOCK_RULE:
      block->widget = gtk_separator_new (GTK_ORIENTATION_HORIZONTAL);
      break;

    case HELIX_MD_BLOCK_QUOTE:
      block->widget = block->content = container_new ("markdown-quote", 8);
      reconcile (self, block->content, NULL, block->children);
      break;

    case HELIX_MD_BLOCK_LIST:
      block->widget = block->content = container_new ("markdown-list", list_spacing (block));
      reconcile (self, block->content, NULL, block->children);
      break;

    case HELIX_MD_BLOCK_ITEM:
      {
        GtkWidget *marker = gtk_label_new (block->text->str);
        GtkWidget *content = container_new ("markdown-item", 6);

        gtk_label_set_xalign (GTK_LABEL (marker), 1.0f);
        gtk_widget_set_valign (marker, GTK_ALIGN_START);
        gtk_widget_add_css_class (marker, "markdown-marker");
        gtk_widget_set_hexpand (content, TRUE);

        block->widget = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 8);
        gtk_box_append (GTK_BOX (block->widget), marker);
        gtk_box_append (GTK_BOX (block->widget), content);
        block->content = content;
        block->extra = marker;
        reconcile (self, content, NULL, block->children);
      }
      break;

    case HELIX_MD_BLOCK_TABLE:
      table_build (block);
      break;

    default:
      g_assert_not_reached ();
    }
}

/* Makes the widgets of @shown show @block instead, if they can. On success @block
 * owns them. */
static gboolean
block_update (HelixMarkdownView *self,
              HelixMdBlock      *shown,
              HelixMdBlock      *block)
{
  if (shown->kind != block->kind || shown->widget == NULL)
    return FALSE;

  switch (block->kind)
    {
    case HELIX_MD_BLOCK_HEADING:
      if (shown->level != block->level)
        return FALSE;
      G_GNUC_FALLTHROUGH;
    case HELIX_MD_BLOCK_PARAGRAPH:
      gtk_label_set_markup (shown->content, block->text->str);
      break;

    case HELIX_MD_BLOCK_CODE:
      if (g_strcmp0 (shown->lang, block->lang) != 0)
        return FALSE;
      code_block_update (shown->content, shown->text, block->text);
      break;

    case HELIX_MD_BLOCK_RULE:
      break;

    case HELIX_MD_BLOCK_LIST:
      gtk_box_set_spacing (shown->content, list_spacing (block));
      G_GNUC_FALLTHROUGH;
    case HELIX_MD_BLOCK_QUOTE:
      reconcile (self, shown->content, shown->children, block->children);
      break;

    case HELIX_MD_BLOCK_ITEM:
      if (!g_string_equal (shown->text, block->text))
        gtk_label_set_text (shown->extra, block->text->str);
      reconcile (self, shown->content, shown->children, block->children);
      break;

    case HELIX_MD_BLOCK_TABLE:
      if (!table_update (shown, block))
        return FALSE;
      break;

    default:
      g_assert_not_reached ();
    }

  block->widget = g_steal_pointer (&shown->widget);
  block->content = g_steal_pointer (&shown->content);
  block->extra = g_steal_pointer (&shown->extra);

  return TRUE;
}

static void
container_insert_after (GtkWidget *container,
                        GtkWidget *child,
                        GtkWidget *sibling)
{
  if (GTK_IS_BOX (container))
    gtk_box_insert_child_after (GTK_BOX (container), child, sibling);
  else
    gtk_widget_insert_after (child, container, sibling);
}

static void
container_remove (GtkWidget *container,
                  GtkWidget *child)
{
  if (GTK_IS_BOX (container))
    gtk_box_remove (GTK_BOX (container), child);
  else
    gtk_widget_unparent (child);
}

/* Makes @container, which shows the blocks @shown (or nothing when NULL), show
 * @wanted. Equal blocks trade places, so @wanted ends up with the widgets and
 * @shown with the leftovers, to be freed. */
static void
reconcile (HelixMarkdownView *self,
           GtkWidget         *container,
           GPtrArray         *shown,
           GPtrArray         *wanted)
{
  GtkWidget *previous = NULL;
  guint n_shown = shown != NULL ? shown->len : 0;
  guint i;

  for (i = 0; i < wanted->len; i++)
    {
      HelixMdBlock *block = wanted->pdata[i];
      HelixMdBlock *old = i < n_shown ? shown->pdata[i] : NULL;

      if (old != NULL && old->widget != NULL && _helix_md_block_equal (old, block))
        {
          wanted->pdata[i] = old;
          shown->pdata[i] = block;
          block = old;
        }
      else if (old == NULL || !block_update (self, old, block))
        {
          if (old != NULL && old->widget != NULL)
            {
              container_remove (container, old->widget);
              old->widget = NULL;
            }
          block_build (self, block);
          container_insert_after (container, block->widget, previous);
        }

      previous = block->widget;
    }

  for (; i < n_shown; i++)
    {
      HelixMdBlock *old = shown->pdata[i];

      if (old->widget != NULL)
        {
          container_remove (container, old->widget);
          old->widget = NULL;
        }
    }
}

/* The view ------------------------------------------------------------------- */

static void
clear_blocks (HelixMarkdownView *self)
{
  for (guint i = 0; i < self->blocks->len; i++)
    {
      HelixMdBlock *block = self->blocks->pdata[i];

      if (block->widget != NULL)
        gtk_widget_unparent (block->widget);
      block->widget = NULL;
    }
  g_ptr_array_set_size (self->blocks, 0);
}

static void
show_plain (HelixMarkdownView *self)
{
  clear_blocks (self);

  if (self->plain_label == NULL)
    {
      self->plain_label = GTK_LABEL (gtk_label_new (NULL));
      gtk_label_set_wrap (self->plain_label, TRUE);
      gtk_label_set_wrap_mode (self->plain_label, PANGO_WRAP_WORD_CHAR);
      gtk_label_set_xalign (self->plain_label, 0.0f);
      gtk_label_set_selectable (self->plain_label, TRUE);
      gtk_widget_insert_after (GTK_WIDGET (self->plain_label), GTK_WIDGET (self), NULL);
    }
  gtk_label_set_text (self->plain_label, self->markdown);
}

static void
helix_markdown_view_render (HelixMarkdownView *self)
{
  gsize len = strlen (self->markdown);
  g_autoptr(GPtrArray) blocks = NULL;

  if (len <= MAX_PARSE_BYTES)
    blocks = _helix_md_parse (self->markdown, len);

  if (blocks == NULL)
    {
      if (len <= MAX_PARSE_BYTES)
        g_debug ("Could not parse %" G_GSIZE_FORMAT " bytes of Markdown, showing it as text", len);
      show_plain (self);
      return;
    }

  if (self->plain_label != NULL)
    {
      gtk_widget_unparent (GTK_WIDGET (self->plain_label));
      self->plain_label = NULL;
    }

  reconcile (self, GTK_WIDGET (self), self->blocks, blocks);
  /* blocks now holds what the old tree had left: free it. */
  g_ptr_array_unref (g_steal_pointer (&self->blocks));
  self->blocks = g_steal_pointer (&blocks);
}

static void
helix_markdown_view_dispose (GObject *object)
{
  HelixMarkdownView *self = HELIX_MARKDOWN_VIEW (object);
  GtkWidget *child;

  g_clear_signal_handler (&self->dark_handler, self->style_manager);
  g_clear_object (&self->style_manager);

  g_ptr_array_set_size (self->blocks, 0);
  self->plain_label = NULL;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);

  G_OBJECT_CLASS (helix_markdown_view_parent_class)->dispose (object);
}

static void
helix_markdown_view_finalize (GObject *object)
{
  HelixMarkdownView *self = HELIX_MARKDOWN_VIEW (object);

  g_clear_pointer (&self->blocks, g_ptr_array_unref);
  g_clear_pointer (&self->markdown, g_free);

  G_OBJECT_CLASS (helix_markdown_view_parent_class)->finalize (object);
}

static void
helix_markdown_view_get_property (GObject    *object,
                                  guint       prop_id,
                                  GValue     *value,
                                  GParamSpec *pspec)
{
  HelixMarkdownView *self = HELIX_MARKDOWN_VIEW (object);

  switch (prop_id)
    {
    case PROP_MARKDOWN:
      g_value_set_string (value, self->markdown);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_markdown_view_set_property (GObject      *object,
                                  guint         prop_id,
                                  const GValue *value,
                                  GParamSpec   *pspec)
{
  HelixMarkdownView *self = HELIX_MARKDOWN_VIEW (object);

  switch (prop_id)
    {
    case PROP_MARKDOWN:
      helix_markdown_view_set_markdown (self, g_value_get_string (value), -1);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_markdown_view_class_init (HelixMarkdownViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = helix_markdown_view_dispose;
  object_class->finalize = helix_markdown_view_finalize;
  object_class->get_property = helix_markdown_view_get_property;
  object_class->set_property = helix_markdown_view_set_property;

  /**
   * HelixMarkdownView:markdown:
   *
   * The Markdown shown. Setting it again with more text (an answer streaming in)
   * keeps the widgets of the blocks that did not change.
   */
  properties[PROP_MARKDOWN] =
    g_param_spec_string ("markdown", NULL, NULL,
                         "",
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "helixmarkdownview");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);

  gtk_source_init ();
}

static void
helix_markdown_view_init (HelixMarkdownView *self)
{
  GtkLayoutManager *layout = gtk_widget_get_layout_manager (GTK_WIDGET (self));

  gtk_orientable_set_orientation (GTK_ORIENTABLE (layout), GTK_ORIENTATION_VERTICAL);
  gtk_box_layout_set_spacing (GTK_BOX_LAYOUT (layout), 12);

  self->markdown = g_strdup ("");
  self->blocks = g_ptr_array_new_with_free_func ((GDestroyNotify) _helix_md_block_free);

  self->style_manager = g_object_ref (adw_style_manager_get_default ());
  self->dark_handler = g_signal_connect_object (self->style_manager, "notify::dark",
                                                G_CALLBACK (on_dark_changed), self,
                                                G_CONNECT_SWAPPED);
}

/**
 * helix_markdown_view_new:
 *
 * Returns: (transfer floating): a view showing no text yet
 */
GtkWidget *
helix_markdown_view_new (void)
{
  return g_object_new (HELIX_TYPE_MARKDOWN_VIEW, NULL);
}

/**
 * helix_markdown_view_get_markdown:
 * @self: a #HelixMarkdownView
 *
 * Returns: the Markdown shown, as valid UTF-8 (invalid bytes replaced)
 */
const char *
helix_markdown_view_get_markdown (HelixMarkdownView *self)
{
  g_return_val_if_fail (HELIX_IS_MARKDOWN_VIEW (self), NULL);

  return self->markdown;
}

/**
 * helix_markdown_view_set_markdown:
 * @self: a #HelixMarkdownView
 * @text: (nullable): Markdown, GitHub flavour; raw HTML is shown as text
 * @len: the length of @text in bytes, or -1 if it ends with a NUL byte
 *
 * Shows @text. Call it again with the text so far each time more of an answer
 * arrives: it may end anywhere, even inside a code block, and only the blocks that
 * changed are rebuilt. Invalid UTF-8 is replaced; texts over 1 MiB are shown as
 * plain text.
 */
void
helix_markdown_view_set_markdown (HelixMarkdownView *self,
                                  const char        *text,
                                  gssize             len)
{
  g_autofree char *valid = NULL;

  g_return_if_fail (HELIX_IS_MARKDOWN_VIEW (self));
  g_return_if_fail (text != NULL || len <= 0);

  if (text == NULL)
    text = "";
  if (len < 0)
    len = strlen (text);

  /* Also turns NUL bytes into U+FFFD, so the text is a C string from here on. */
  valid = g_utf8_make_valid (text, len);
  if (strcmp (valid, self->markdown) == 0)
    return;

  g_free (self->markdown);
  self->markdown = g_steal_pointer (&valid);
  helix_markdown_view_render (self);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MARKDOWN]);
}
