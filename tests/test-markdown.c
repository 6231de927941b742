/* test-markdown.c: HelixMarkdownView, checked through the widgets it builds
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-test-markdown"

#include "config.h"

#include <string.h>

#include <adwaita.h>
#include <gtksourceview/gtksource.h>

#include "helix-markdown-private.h"
#include "helix-markdown-view.h"
#include "helix-test-markdown.h"
#include "helix-test-util.h"

#define WAIT_TIMEOUT_SECONDS 20

/* Helpers -------------------------------------------------------------------- */

static HelixMarkdownView *
view_new (void)
{
  return g_object_ref_sink (HELIX_MARKDOWN_VIEW (helix_markdown_view_new ()));
}

static HelixMarkdownView *
view_new_with (const char *markdown)
{
  HelixMarkdownView *view = view_new ();

  helix_markdown_view_set_markdown (view, markdown, -1);
  return view;
}

static void
collect (GtkWidget *widget,
         GType      type,
         GPtrArray *out)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type))
    g_ptr_array_add (out, widget);

  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    collect (child, type, out);
}

static GPtrArray *
find_all (HelixMarkdownView *view,
          GType              type)
{
  GPtrArray *out = g_ptr_array_new ();

  collect (GTK_WIDGET (view), type, out);
  return out;
}

/* The label showing exactly @text, or NULL. */
static GtkLabel *
find_label (HelixMarkdownView *view,
            const char        *text)
{
  g_autoptr(GPtrArray) labels = find_all (view, GTK_TYPE_LABEL);

  for (guint i = 0; i < labels->len; i++)
    if (g_strcmp0 (gtk_label_get_text (labels->pdata[i]), text) == 0)
      return labels->pdata[i];

  return NULL;
}

static GtkLabel *
find_label_containing (HelixMarkdownView *view,
                       const char        *text)
{
  g_autoptr(GPtrArray) labels = find_all (view, GTK_TYPE_LABEL);

  for (guint i = 0; i < labels->len; i++)
    if (strstr (gtk_label_get_text (labels->pdata[i]), text) != NULL)
      return labels->pdata[i];

  return NULL;
}

static char *
buffer_text (GtkTextView *view)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (view);
  GtkTextIter start, end;

  gtk_text_buffer_get_bounds (buffer, &start, &end);
  return gtk_text_buffer_get_text (buffer, &start, &end, TRUE);
}

static const char *
language_id (GtkTextView *view)
{
  GtkSourceLanguage *language =
    gtk_source_buffer_get_language (GTK_SOURCE_BUFFER (gtk_text_view_get_buffer (view)));

  return language != NULL ? gtk_source_language_get_id (language) : NULL;
}

/* How many boxes with @css_class are nested along the deepest path. */
static guint
max_nesting (GtkWidget  *widget,
             const char *css_class)
{
  guint deepest = 0;

  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      guint nesting = max_nesting (child, css_class);

      deepest = MAX (deepest, nesting);
    }

  return deepest + (gtk_widget_has_css_class (widget, css_class) ? 1 : 0);
}

static void
grid_size (GtkGrid *grid,
           int     *n_rows,
           int     *n_columns)
{
  *n_rows = 0;
  *n_columns = 0;

  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (grid));
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      int column, row, width, height;

      gtk_grid_query_child (grid, child, &column, &row, &width, &height);
      *n_rows = MAX (*n_rows, row + height);
      *n_columns = MAX (*n_columns, column + width);
    }
}

static const char *
grid_cell_text (GtkGrid *grid,
                int      column,
                int      row)
{
  GtkWidget *cell = gtk_grid_get_child_at (grid, column, row);

  g_assert_true (GTK_IS_LABEL (cell));
  return gtk_label_get_text (GTK_LABEL (cell));
}

/* Everything a user could see of the tree, one widget a line. */
static void
dump_widget (GtkWidget *widget,
             GString   *out,
             guint      depth)
{
  g_auto(GStrv) classes = gtk_widget_get_css_classes (widget);
  g_autofree char *joined = g_strjoinv (".", classes);

  g_string_append_printf (out, "%*s%s.%s", depth * 2, "", G_OBJECT_TYPE_NAME (widget), joined);

  if (GTK_IS_LABEL (widget))
    g_string_append_printf (out, " xalign=%.2f label=[%s]",
                            gtk_label_get_xalign (GTK_LABEL (widget)),
                            gtk_label_get_label (GTK_LABEL (widget)));
  else if (GTK_IS_TEXT_VIEW (widget))
    {
      g_autofree char *text = buffer_text (GTK_TEXT_VIEW (widget));

      g_string_append_printf (out, " language=%s text=[%s]",
                              language_id (GTK_TEXT_VIEW (widget)), text);
    }
  else if (GTK_IS_BOX (widget))
    g_string_append_printf (out, " spacing=%d", gtk_box_get_spacing (GTK_BOX (widget)));
  else if (GTK_IS_BUTTON (widget))
    g_string_append_printf (out, " icon=%s", gtk_button_get_icon_name (GTK_BUTTON (widget)));

  if (GTK_IS_GRID (gtk_widget_get_parent (widget)))
    {
      int column, row, width, height;

      gtk_grid_query_child (GTK_GRID (gtk_widget_get_parent (widget)), widget,
                            &column, &row, &width, &height);
      g_string_append_printf (out, " at=%d,%d", column, row);
    }
  g_string_append_c (out, '\n');

  if (GTK_IS_TEXT_VIEW (widget))
    return;

  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    dump_widget (child, out, depth + 1);
}

static char *
dump (HelixMarkdownView *view)
{
  GString *out = g_string_new (NULL);

  dump_widget (GTK_WIDGET (view), out, 0);
  return g_string_free (out, FALSE);
}

static void
spin_for (guint ms)
{
  gint64 deadline = g_get_monotonic_time () + ms * 1000;

  while (g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
}

/* Every construct ------------------------------------------------------------ */

static const char everything[] =
  "# Title\n"
  "\n"
  "Plain *em* **strong** ~~gone~~ `code` and [a link](https://example.org/a?b=1&c=2 \"Tip\").\n"
  "\n"
  "## Second\n"
  "\n"
  "##### Small\n"
  "\n"
  "1. one\n"
  "2. two\n"
  "   - nested\n"
  "3. three\n"
  "\n"
  "- [ ] todo\n"
  "- [x] done\n"
  "\n"
  "5) five\n"
  "6) six\n"
  "\n"
  "> quoted *text*\n"
  "\n"
  "---\n"
  "\n"
  "| Name | Qty | Note |\n"
  "|:-----|----:|:----:|\n"
  "| *a* | 1 | x |\n"
  "| b | 22 | |\n"
  "\n"
  "```c\n"
  "int\n"
  "main (void)\n"
  "{\n"
  "  return 0;\n"
  "}\n"
  "```\n"
  "\n"
  "```Python\n"
  "print(\"hi\")\n"
  "```\n"
  "\n"
  "```zzz-unknown\n"
  "what <is> this\n"
  "```\n"
  "\n"
  "    indented\n"
  "      more\n";

static void
test_constructs (void)
{
  HelixMarkdownView *view = view_new_with (everything);
  g_autoptr(GPtrArray) code_views = find_all (view, GTK_SOURCE_TYPE_VIEW);
  g_autoptr(GPtrArray) grids = find_all (view, GTK_TYPE_GRID);
  g_autoptr(GPtrArray) separators = find_all (view, GTK_TYPE_SEPARATOR);
  g_autoptr(GPtrArray) buttons = find_all (view, GTK_TYPE_BUTTON);
  GtkWindow *window;
  GtkLabel *label;
  GtkGrid *grid;
  GtkWidget *quote;
  int n_rows, n_columns;
  char *text;

  g_assert_cmpstr (helix_markdown_view_get_markdown (view), ==, everything);

  /* Headings */
  label = find_label (view, "Title");
  g_assert_nonnull (label);
  g_assert_true (gtk_widget_has_css_class (GTK_WIDGET (label), "title-1"));
  g_assert_cmpint (gtk_accessible_get_accessible_role (GTK_ACCESSIBLE (label)), ==,
                   GTK_ACCESSIBLE_ROLE_HEADING);
  label = find_label (view, "Second");
  g_assert_nonnull (label);
  g_assert_true (gtk_widget_has_css_class (GTK_WIDGET (label), "title-2"));
  label = find_label (view, "Small");
  g_assert_nonnull (label);
  g_assert_true (gtk_widget_has_css_class (GTK_WIDGET (label), "heading"));

  /* Spans, as markup in a selectable, wrapping label */
  label = find_label (view, "Plain em strong gone code and a link.");
  g_assert_nonnull (label);
  g_assert_true (gtk_label_get_use_markup (label));
  g_assert_true (gtk_label_get_selectable (label));
  g_assert_true (gtk_label_get_wrap (label));
  g_assert_cmpstr (gtk_label_get_label (label), ==,
                   "Plain <i>em</i> <b>strong</b> <s>gone</s> <tt>code</tt> and "
                   "<a href=\"https://example.org/a?b=1&amp;c=2\" title=\"Tip\">a link</a>.");

  /* Lists: numbers, bullets, task boxes */
  g_assert_nonnull (find_label (view, "1."));
  g_assert_nonnull (find_label (view, "2."));
  g_assert_nonnull (find_label (view, "3."));
  g_assert_nonnull (find_label (view, "◦"));
  g_assert_nonnull (find_label (view, "nested"));
  g_assert_nonnull (find_label (view, "☐"));
  g_assert_nonnull (find_label (view, "☑"));
  g_assert_nonnull (find_label (view, "todo"));
  g_assert_nonnull (find_label (view, "5)"));
  g_assert_nonnull (find_label (view, "6)"));
  g_assert_cmpuint (max_nesting (GTK_WIDGET (view), "markdown-list"), ==, 2);

  /* The quote */
  label = find_label (view, "quoted text");
  g_assert_nonnull (label);
  quote = gtk_widget_get_parent (GTK_WIDGET (label));
  g_assert_true (gtk_widget_has_css_class (quote, "markdown-quote"));

  /* The rule */
  g_assert_cmpuint (separators->len, ==, 1);

  /* The table: a header row in bold, columns aligned as asked */
  g_assert_cmpuint (grids->len, ==, 1);
  grid = grids->pdata[0];
  grid_size (grid, &n_rows, &n_columns);
  g_assert_cmpint (n_rows, ==, 3);
  g_assert_cmpint (n_columns, ==, 3);
  g_assert_cmpstr (grid_cell_text (grid, 0, 0), ==, "Name");
  g_assert_cmpstr (grid_cell_text (grid, 1, 0), ==, "Qty");
  g_assert_cmpstr (grid_cell_text (grid, 2, 0), ==, "Note");
  g_assert_cmpstr (grid_cell_text (grid, 0, 1), ==, "a");
  g_assert_cmpstr (grid_cell_text (grid, 1, 1), ==, "1");
  g_assert_cmpstr (grid_cell_text (grid, 2, 1), ==, "x");
  g_assert_cmpstr (grid_cell_text (grid, 0, 2), ==, "b");
  g_assert_cmpstr (grid_cell_text (grid, 1, 2), ==, "22");
  g_assert_cmpstr (grid_cell_text (grid, 2, 2), ==, "");
  g_assert_cmpstr (gtk_label_get_label (GTK_LABEL (gtk_grid_get_child_at (grid, 0, 0))), ==,
                   "<b>Name</b>");
  g_assert_cmpstr (gtk_label_get_label (GTK_LABEL (gtk_grid_get_child_at (grid, 0, 1))), ==,
                   "<i>a</i>");
  for (int column = 0; column < 3; column++)
    {
      static const float xaligns[] = { 0.0f, 1.0f, 0.5f };
      GtkLabel *cell = GTK_LABEL (gtk_grid_get_child_at (grid, column, 1));

      g_assert_cmpfloat (gtk_label_get_xalign (cell), ==, xaligns[column]);
    }

  /* Code blocks: the right language, the exact code, a header with a copy button */
  g_assert_cmpuint (code_views->len, ==, 4);
  g_assert_cmpstr (language_id (code_views->pdata[0]), ==, "c");
  text = buffer_text (code_views->pdata[0]);
  g_assert_cmpstr (text, ==, "int\nmain (void)\n{\n  return 0;\n}");
  g_free (text);
  g_assert_false (gtk_text_view_get_editable (code_views->pdata[0]));
  g_assert_true (gtk_text_view_get_monospace (code_views->pdata[0]));
  g_assert_true (gtk_source_buffer_get_highlight_syntax (
                   GTK_SOURCE_BUFFER (gtk_text_view_get_buffer (code_views->pdata[0]))));
  g_assert_true (gtk_widget_has_css_class (gtk_widget_get_parent (code_views->pdata[0]), "card"));

  /* "python" is Python 3: GtkSourceView's "python" language is Python 2. */
  g_assert_cmpstr (language_id (code_views->pdata[1]), ==, "python3");
  text = buffer_text (code_views->pdata[1]);
  g_assert_cmpstr (text, ==, "print(\"hi\")");
  g_free (text);

  g_assert_null (language_id (code_views->pdata[2]));
  g_assert_false (gtk_source_buffer_get_highlight_syntax (
                    GTK_SOURCE_BUFFER (gtk_text_view_get_buffer (code_views->pdata[2]))));
  text = buffer_text (code_views->pdata[2]);
  g_assert_cmpstr (text, ==, "what <is> this");
  g_free (text);

  g_assert_null (language_id (code_views->pdata[3]));
  text = buffer_text (code_views->pdata[3]);
  g_assert_cmpstr (text, ==, "indented\n  more");
  g_free (text);

  g_assert_nonnull (find_label (view, "c"));
  g_assert_nonnull (find_label (view, "Python"));
  g_assert_nonnull (find_label (view, "zzz-unknown"));
  g_assert_cmpuint (buttons->len, ==, 4);
  for (guint i = 0; i < buttons->len; i++)
    {
      g_assert_cmpstr (gtk_button_get_icon_name (buttons->pdata[i]), ==, "edit-copy-symbolic");
      g_assert_cmpstr (gtk_widget_get_tooltip_text (buttons->pdata[i]), ==, "Copy code");
    }

  /* It lays out and draws. */
  window = GTK_WINDOW (gtk_window_new ());
  gtk_window_set_default_size (window, 600, 400);
  gtk_window_set_child (window, gtk_scrolled_window_new ());
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (gtk_window_get_child (window)),
                                 GTK_WIDGET (view));
  gtk_window_present (window);
  for (gint64 deadline = g_get_monotonic_time () + WAIT_TIMEOUT_SECONDS * G_USEC_PER_SEC;
       !gtk_widget_get_mapped (GTK_WIDGET (view)) && g_get_monotonic_time () < deadline;)
    g_main_context_iteration (NULL, FALSE);
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (view)));
  spin_for (200);
  gtk_window_destroy (window);

  g_object_unref (view);
}

/* Links ---------------------------------------------------------------------- */

static void
test_links (void)
{
  HelixMarkdownView *view = view_new_with (
    "[bad](javascript:alert(1)) [file](file:///etc/passwd) [rel](docs/x.html) "
    "[data](data:text/html,hi) <https://auto.example.org> www.example.com "
    "bob@example.com [up](HTTPS://EXAMPLE.ORG) [mail](mailto:a@b.c) "
    "[q](https://e.org/\"><b>x</b>) ![img](https://e.org/i.png)");
  GtkLabel *label = find_label_containing (view, "bad");
  const char *markup;

  g_assert_nonnull (label);
  markup = gtk_label_get_label (label);

  /* Not links: only their text */
  g_assert_null (strstr (markup, "javascript"));
  g_assert_null (strstr (markup, "file:"));
  g_assert_null (strstr (markup, "docs/x.html"));
  g_assert_null (strstr (markup, "data:"));
  g_assert_true (g_str_has_prefix (markup, "bad file rel data "));

  /* Links */
  g_assert_nonnull (strstr (markup,
                            "<a href=\"https://auto.example.org\">https://auto.example.org</a>"));
  g_assert_nonnull (strstr (markup, "<a href=\"http://www.example.com\">www.example.com</a>"));
  g_assert_nonnull (strstr (markup, "<a href=\"mailto:bob@example.com\">bob@example.com</a>"));
  g_assert_nonnull (strstr (markup, "<a href=\"HTTPS://EXAMPLE.ORG\">up</a>"));
  g_assert_nonnull (strstr (markup, "<a href=\"mailto:a@b.c\">mail</a>"));
  /* An image shows its description, and is no link. */
  g_assert_null (strstr (markup, "i.png"));
  g_assert_nonnull (strstr (gtk_label_get_text (label), "img"));
  /* Nothing in a target breaks out of its attribute. */
  g_assert_null (strstr (markup, "<b>"));

  g_assert_true (_helix_md_uri_is_allowed ("https://x"));
  g_assert_true (_helix_md_uri_is_allowed ("mailto:x@y"));
  g_assert_false (_helix_md_uri_is_allowed ("javascript:alert(1)"));
  g_assert_false (_helix_md_uri_is_allowed ("JavaScript:alert(1)"));
  g_assert_false (_helix_md_uri_is_allowed ("ftp://x"));
  g_assert_false (_helix_md_uri_is_allowed ("x"));
  g_assert_false (_helix_md_uri_is_allowed (NULL));

  g_object_unref (view);
}

/* HTML and entities are text ---------------------------------------------------- */

static void
test_html_literal (void)
{
  HelixMarkdownView *view = view_new_with (
    "<b>bold?</b> and <script>alert(1)</script> &amp; &lt;i&gt; &#65; &#x1F600; &bogus; &#0;\n"
    "\n"
    "<div>\n"
    "*block*\n"
    "</div>\n");
  GtkLabel *label;

  label = find_label (view,
                      "<b>bold?</b> and <script>alert(1)</script> & <i> A 😀 &bogus; \xEF\xBF\xBD");
  g_assert_nonnull (label);
  g_assert_true (g_str_has_prefix (gtk_label_get_label (label), "&lt;b&gt;bold?&lt;/b&gt;"));

  label = find_label (view, "<div> block </div>");
  g_assert_nonnull (label);
  g_assert_cmpstr (gtk_label_get_label (label), ==, "&lt;div&gt; <i>block</i> &lt;/div&gt;");

  g_object_unref (view);
}

/* Streaming ------------------------------------------------------------------ */

static void
test_unclosed_fence (void)
{
  HelixMarkdownView *view = view_new_with ("Some text\n\n```c\nint x");
  g_autoptr(GPtrArray) code_views = find_all (view, GTK_SOURCE_TYPE_VIEW);
  g_autoptr(GPtrArray) again = NULL;
  GtkTextView *code_view;
  GtkLabel *paragraph;
  char *text;

  g_assert_cmpuint (code_views->len, ==, 1);
  code_view = code_views->pdata[0];
  g_assert_cmpstr (language_id (code_view), ==, "c");
  text = buffer_text (code_view);
  g_assert_cmpstr (text, ==, "int x");
  g_free (text);
  paragraph = find_label (view, "Some text");
  g_assert_nonnull (paragraph);

  /* More of the same answer: the same widgets, the code grown in place */
  helix_markdown_view_set_markdown (view, "Some text\n\n```c\nint x = 1;\nint y", -1);
  again = find_all (view, GTK_SOURCE_TYPE_VIEW);
  g_assert_cmpuint (again->len, ==, 1);
  g_assert_true (again->pdata[0] == code_view);
  g_assert_true (find_label (view, "Some text") == paragraph);
  text = buffer_text (code_view);
  g_assert_cmpstr (text, ==, "int x = 1;\nint y");
  g_free (text);

  /* The fence closes and a paragraph follows. */
  helix_markdown_view_set_markdown (view, "Some text\n\n```c\nint x = 1;\nint y;\n```\n\nDone", -1);
  g_clear_pointer (&again, g_ptr_array_unref);
  again = find_all (view, GTK_SOURCE_TYPE_VIEW);
  g_assert_true (again->pdata[0] == code_view);
  text = buffer_text (code_view);
  g_assert_cmpstr (text, ==, "int x = 1;\nint y;");
  g_free (text);
  g_assert_nonnull (find_label (view, "Done"));

  g_object_unref (view);
}

static void
test_streaming_matches_full (void)
{
  g_autofree char *doc = helix_test_markdown_document (20 * 1024);
  gsize len = strlen (doc);
  HelixMarkdownView *streamed = view_new ();
  HelixMarkdownView *full = view_new_with (doc);
  g_autofree char *streamed_dump = NULL;
  g_autofree char *full_dump = NULL;
  GtkWidget *first_child = NULL;

  g_assert_cmpuint (len, >=, 20 * 1024);

  for (gsize n = 100; n < len; n += 100)
    {
      helix_markdown_view_set_markdown (streamed, doc, n);
      /* The first block, once complete, keeps its widget. */
      if (n == 1000)
        first_child = gtk_widget_get_first_child (GTK_WIDGET (streamed));
    }
  helix_markdown_view_set_markdown (streamed, doc, len);
  g_assert_true (gtk_widget_get_first_child (GTK_WIDGET (streamed)) == first_child);
  g_assert_cmpstr (helix_markdown_view_get_markdown (streamed), ==, doc);

  streamed_dump = dump (streamed);
  full_dump = dump (full);
  g_assert_cmpstr (streamed_dump, ==, full_dump);

  /* And back to a shorter text, then to the full one again */
  helix_markdown_view_set_markdown (streamed, doc, len / 3);
  helix_markdown_view_set_markdown (streamed, doc, len);
  g_clear_pointer (&streamed_dump, g_free);
  streamed_dump = dump (streamed);
  g_assert_cmpstr (streamed_dump, ==, full_dump);

  g_object_unref (streamed);
  g_object_unref (full);
}

/* Limits --------------------------------------------------------------------- */

static char *
repeat (const char *unit,
        guint       times,
        const char *tail)
{
  GString *out = g_string_sized_new (strlen (unit) * times + strlen (tail));

  for (guint i = 0; i < times; i++)
    g_string_append (out, unit);
  g_string_append (out, tail);

  return g_string_free (out, FALSE);
}

static void
test_deep_quote (void)
{
  g_autofree char *text = repeat (">", 100000, " deep\n");
  HelixMarkdownView *view = view_new_with (text);

  g_assert_cmpuint (max_nesting (GTK_WIDGET (view), "markdown-quote"), ==, HELIX_MD_MAX_DEPTH);
  g_assert_nonnull (find_label (view, "deep"));

  g_object_unref (view);
}

static void
test_deep_lists (void)
{
  g_autofree char *same_line = repeat ("- ", 100000, "x\n");
  g_autofree char *numbered = repeat ("1. ", 50000, "y\n");
  g_autofree char *mixed = repeat ("> - ", 20000, "z\n");
  GString *indented = g_string_new (NULL);
  g_autofree char *indented_text = NULL;
  HelixMarkdownView *view = view_new_with (same_line);

  g_assert_cmpuint (max_nesting (GTK_WIDGET (view), "markdown-list"), ==, HELIX_MD_MAX_DEPTH);
  g_assert_nonnull (find_label_containing (view, "x"));

  helix_markdown_view_set_markdown (view, numbered, -1);
  g_assert_cmpuint (max_nesting (GTK_WIDGET (view), "markdown-list"), ==, HELIX_MD_MAX_DEPTH);
  g_assert_nonnull (find_label_containing (view, "y"));

  helix_markdown_view_set_markdown (view, mixed, -1);
  g_assert_cmpuint (max_nesting (GTK_WIDGET (view), "markdown-list") +
                    max_nesting (GTK_WIDGET (view), "markdown-quote"), ==, HELIX_MD_MAX_DEPTH);
  g_assert_nonnull (find_label_containing (view, "z"));

  /* 300 levels by indentation, each with its own text: all the text is still there. */
  for (guint i = 0; i < 300; i++)
    g_string_append_printf (indented, "%*s- level%u\n", i * 2, "", i);
  indented_text = g_string_free (g_steal_pointer (&indented), FALSE);
  helix_markdown_view_set_markdown (view, indented_text, -1);
  g_assert_cmpuint (max_nesting (GTK_WIDGET (view), "markdown-list"), ==, HELIX_MD_MAX_DEPTH);
  g_assert_nonnull (find_label (view, "level0"));
  g_assert_nonnull (find_label_containing (view, "level299"));

  g_object_unref (view);
}

static void
test_huge_is_plain (void)
{
  gsize size = 2 * 1024 * 1024;
  g_autofree char *text = g_malloc (size + 1);
  HelixMarkdownView *view = view_new ();
  g_autoptr(GPtrArray) labels = NULL;
  g_autoptr(GPtrArray) code_views = NULL;
  GtkWidget *child;

  for (gsize i = 0; i < size; i++)
    text[i] = "# *x* `y`\n```\n"[i % 14];
  text[size] = '\0';

  helix_markdown_view_set_markdown (view, text, -1);
  child = gtk_widget_get_first_child (GTK_WIDGET (view));
  g_assert_true (GTK_IS_LABEL (child));
  g_assert_null (gtk_widget_get_next_sibling (child));
  g_assert_false (gtk_label_get_use_markup (GTK_LABEL (child)));
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (child)), ==, text);
  code_views = find_all (view, GTK_SOURCE_TYPE_VIEW);
  g_assert_cmpuint (code_views->len, ==, 0);

  /* Back under the limit: Markdown again */
  helix_markdown_view_set_markdown (view, "# Short", -1);
  labels = find_all (view, GTK_TYPE_LABEL);
  g_assert_cmpuint (labels->len, ==, 1);
  g_assert_true (gtk_widget_has_css_class (labels->pdata[0], "title-1"));

  g_object_unref (view);
}

static void
test_many_blocks (void)
{
  GString *text = g_string_new (NULL);
  HelixMarkdownView *view;
  g_autoptr(GPtrArray) labels = NULL;
  guint n_widgets = 0;

  for (guint i = 0; i < 20000; i++)
    g_string_append_printf (text, "para %u\n\n", i);
  view = view_new_with (text->str);

  labels = find_all (view, GTK_TYPE_LABEL);
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (view));
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    n_widgets++;
  g_assert_cmpuint (n_widgets, <=, HELIX_MD_MAX_BLOCKS + 1);
  g_assert_nonnull (find_label (view, "para 0"));
  g_assert_nonnull (strstr (gtk_label_get_text (labels->pdata[labels->len - 1]), "para 19999"));

  g_string_free (text, TRUE);
  g_object_unref (view);
}

/* Invalid input -------------------------------------------------------------- */

static void
test_invalid_input (void)
{
  static const char bytes[] = "ok \xff\xfe bad\0nul *em\xc3*\n\n```\xe2\x82\n\0code";
  static const char * const tokens[] = {
    "#", "##", ">", "> ", "- ", "* ", "1. ", "2) ", "- [ ] ", "- [x] ", "*", "**", "_", "~~",
    "`", "```", "```c\n", "    ", "\n", "\n\n", " ", "|", "|---|", ":-:", "[", "]", "(", ")",
    "<", ">", "http://a.b", "javascript:x", "www.e.org", "a@b.c", "<b>", "</b>", "&amp;",
    "&#", ";", "\\", "\t", "x", "é", "—", "\xff", "---\n", "***", "![", "\"", "'",
  };
  HelixMarkdownView *view = view_new ();
  g_autoptr(GRand) rand = g_rand_new_with_seed (20261122);

  helix_markdown_view_set_markdown (view, bytes, sizeof bytes - 1);
  g_assert_true (g_utf8_validate (helix_markdown_view_get_markdown (view), -1, NULL));
  g_assert_nonnull (strstr (helix_markdown_view_get_markdown (view), "nul"));
  g_assert_nonnull (strstr (helix_markdown_view_get_markdown (view), "code"));

  helix_markdown_view_set_markdown (view, NULL, 0);
  g_assert_cmpstr (helix_markdown_view_get_markdown (view), ==, "");
  g_assert_null (gtk_widget_get_first_child (GTK_WIDGET (view)));

  /* Random Markdown-ish text, whole and streamed: GTK fails the test on any
   * markup it cannot parse. */
  for (guint round = 0; round < 400; round++)
    {
      GString *text = g_string_new (NULL);
      guint n_tokens = g_rand_int_range (rand, 0, 120);

      for (guint i = 0; i < n_tokens; i++)
        g_string_append (text, tokens[g_rand_int_range (rand, 0, G_N_ELEMENTS (tokens))]);

      helix_markdown_view_set_markdown (view, text->str, text->len);
      for (gsize n = 0; n <= text->len; n += g_rand_int_range (rand, 1, 16))
        helix_markdown_view_set_markdown (view, text->str, n);

      g_string_free (text, TRUE);
    }

  g_object_unref (view);
}

/* Copy button ---------------------------------------------------------------- */

typedef struct
{
  gboolean  done;
  char     *text;
} ReadResult;

static void
on_read_text (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  ReadResult *read = user_data;
  g_autoptr(GError) error = NULL;

  read->text = gdk_clipboard_read_text_finish (GDK_CLIPBOARD (source), result, &error);
  g_assert_no_error (error);
  read->done = TRUE;
}

static gboolean
on_wait_timeout (gpointer user_data)
{
  g_error ("Timed out after %d s waiting for %s", WAIT_TIMEOUT_SECONDS, (const char *) user_data);
  return G_SOURCE_REMOVE;
}

static void
test_copy_button (void)
{
  /* (md4c turns tabs that indent a line into spaces; others stay.) */
  static const char code[] = "if (a < b && c)\n  puts (\"ünïcode\");\n\ndone ();\t/* <tab> */";
  g_autofree char *markdown = g_strdup_printf ("Intro\n\n```c\n%s\n```\n", code);
  HelixMarkdownView *view = view_new_with (markdown);
  g_autoptr(GPtrArray) buttons = find_all (view, GTK_TYPE_BUTTON);
  GdkClipboard *clipboard;
  ReadResult read = { FALSE, NULL };
  guint timeout_id;
  GtkButton *button;

  g_assert_cmpuint (buttons->len, ==, 1);
  button = buttons->pdata[0];
  clipboard = gtk_widget_get_clipboard (GTK_WIDGET (button));
  gdk_clipboard_set_text (clipboard, "something else");

  g_signal_emit_by_name (button, "clicked");
  g_assert_cmpstr (gtk_button_get_icon_name (button), ==, "object-select-symbolic");

  gdk_clipboard_read_text_async (clipboard, NULL, on_read_text, &read);
  timeout_id = g_timeout_add_seconds (WAIT_TIMEOUT_SECONDS, on_wait_timeout,
                                      (gpointer) "the clipboard");
  while (!read.done)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (timeout_id);
  g_assert_cmpstr (read.text, ==, code);
  g_free (read.text);

  /* The check mark goes back to the copy icon. */
  timeout_id = g_timeout_add_seconds (WAIT_TIMEOUT_SECONDS, on_wait_timeout,
                                      (gpointer) "the copy icon");
  while (g_strcmp0 (gtk_button_get_icon_name (button), "edit-copy-symbolic") != 0)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (timeout_id);

  /* Clicked, then gone before the check mark goes: nothing fires late. */
  g_signal_emit_by_name (button, "clicked");
  helix_markdown_view_set_markdown (view, "No code", -1);
  spin_for (1700);

  g_object_unref (view);
}

/* Style ---------------------------------------------------------------------- */

static const char *
scheme_id (GtkTextView *view)
{
  GtkSourceBuffer *buffer = GTK_SOURCE_BUFFER (gtk_text_view_get_buffer (view));

  return gtk_source_style_scheme_get_id (gtk_source_buffer_get_style_scheme (buffer));
}

static void
test_dark_style (void)
{
  AdwStyleManager *style_manager = adw_style_manager_get_default ();
  HelixMarkdownView *view;
  g_autoptr(GPtrArray) code_views = NULL;
  g_autoptr(GPtrArray) more = NULL;

  adw_style_manager_set_color_scheme (style_manager, ADW_COLOR_SCHEME_FORCE_LIGHT);
  view = view_new_with ("```sh\nls\n```\n\n> ```\n> x\n> ```\n");
  code_views = find_all (view, GTK_SOURCE_TYPE_VIEW);
  g_assert_cmpuint (code_views->len, ==, 2);
  g_assert_cmpstr (scheme_id (code_views->pdata[0]), ==, "Adwaita");
  g_assert_cmpstr (scheme_id (code_views->pdata[1]), ==, "Adwaita");

  adw_style_manager_set_color_scheme (style_manager, ADW_COLOR_SCHEME_FORCE_DARK);
  g_assert_true (adw_style_manager_get_dark (style_manager));
  g_assert_cmpstr (scheme_id (code_views->pdata[0]), ==, "Adwaita-dark");
  g_assert_cmpstr (scheme_id (code_views->pdata[1]), ==, "Adwaita-dark");

  /* New code blocks start dark too. */
  helix_markdown_view_set_markdown (view,
                                    "```sh\nls\n```\n\n> ```\n> x\n> ```\n\n```\nnew\n```\n",
                                    -1);
  more = find_all (view, GTK_SOURCE_TYPE_VIEW);
  g_assert_cmpuint (more->len, ==, 3);
  g_assert_cmpstr (scheme_id (more->pdata[2]), ==, "Adwaita-dark");

  adw_style_manager_set_color_scheme (style_manager, ADW_COLOR_SCHEME_DEFAULT);
  g_object_unref (view);
}

/* Property ------------------------------------------------------------------- */

static void
on_notify (GObject    *object,
           GParamSpec *pspec,
           gpointer    user_data)
{
  guint *count = user_data;

  (*count)++;
}

static void
test_property (void)
{
  HelixMarkdownView *view = view_new ();
  g_autofree char *value = NULL;
  guint notified = 0;
  gpointer weak = view;

  g_assert_cmpstr (helix_markdown_view_get_markdown (view), ==, "");
  g_signal_connect (view, "notify::markdown", G_CALLBACK (on_notify), &notified);

  g_object_set (view, "markdown", "# Hi", NULL);
  g_assert_cmpuint (notified, ==, 1);
  g_object_get (view, "markdown", &value, NULL);
  g_assert_cmpstr (value, ==, "# Hi");
  g_assert_nonnull (find_label (view, "Hi"));

  /* The same text again: nothing to do, nothing to tell */
  helix_markdown_view_set_markdown (view, "# Hi and more", 4);
  g_assert_cmpuint (notified, ==, 1);

  g_object_set (view, "markdown", NULL, NULL);
  g_assert_cmpuint (notified, ==, 2);
  g_assert_cmpstr (helix_markdown_view_get_markdown (view), ==, "");

  g_object_add_weak_pointer (G_OBJECT (view), &weak);
  g_object_unref (view);
  g_assert_null (weak);
}

#if defined(__SANITIZE_ADDRESS__)
/* GLib allocates its quark table before main and abandons it, on purpose,
 * when the table grows: GtkSourceView's languages push it past 2,048 quarks
 * here. With the ASan setup's fast unwinder that 16 KiB block cannot be told
 * from a leak of ours, so this test checks memory errors only; the answers'
 * widgets are leak-checked in test-chat, which loads no language. */
int __lsan_is_turned_off (void);

int
__lsan_is_turned_off (void)
{
  return 1;
}
#endif

int
main (int   argc,
      char *argv[])
{
  gtk_test_init (&argc, &argv, NULL);
  adw_init ();
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

  g_test_add_func ("/helix/markdown/constructs", test_constructs);
  g_test_add_func ("/helix/markdown/links", test_links);
  g_test_add_func ("/helix/markdown/html-literal", test_html_literal);
  g_test_add_func ("/helix/markdown/unclosed-fence", test_unclosed_fence);
  g_test_add_func ("/helix/markdown/streaming-matches-full", test_streaming_matches_full);
  g_test_add_func ("/helix/markdown/deep-quote", test_deep_quote);
  g_test_add_func ("/helix/markdown/deep-lists", test_deep_lists);
  g_test_add_func ("/helix/markdown/huge-is-plain", test_huge_is_plain);
  g_test_add_func ("/helix/markdown/many-blocks", test_many_blocks);
  g_test_add_func ("/helix/markdown/invalid-input", test_invalid_input);
  g_test_add_func ("/helix/markdown/copy-button", test_copy_button);
  g_test_add_func ("/helix/markdown/dark-style", test_dark_style);
  g_test_add_func ("/helix/markdown/property", test_property);

  return g_test_run ();
}
