/* helix-markdown-parser.c: Markdown to a tree of blocks with Pango markup
 *
 * md4c calls us back block by block and span by span; we keep a stack of frames, one
 * per open md4c block, each knowing where its text goes. Raw HTML is off, and all text
 * is escaped, so nothing in the input can inject markup. Links keep only http, https
 * and mailto targets. Deep nesting and huge documents are flattened, never refused.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <string.h>

#include <md4c.h>

#include "helix-markdown-private.h"

#define MD_FLAGS (MD_FLAG_TABLES | MD_FLAG_STRIKETHROUGH | MD_FLAG_TASKLISTS | \
                  MD_FLAG_PERMISSIVEAUTOLINKS | MD_FLAG_NOHTML)

#define REPLACEMENT_CHARACTER "\xEF\xBF\xBD"

typedef enum
{
  /* A block holding blocks: the document, a quote, a list, an item */
  FRAME_CONTAINER,
  /* A block holding text: a paragraph, a heading, a table cell */
  FRAME_INLINE,
  /* A code block: its text is kept as written */
  FRAME_CODE,
  /* A block without text: a rule */
  FRAME_LEAF,
  /* A table and its sections and rows */
  FRAME_TABLE,
  /* A block we do not build (too deep, too many): its text joins the parent's */
  FRAME_FLAT,
} FrameKind;

typedef struct
{
  FrameKind     kind;
  HelixMdBlock *block;
  /* Where blocks opened inside this one go; NULL where there can be none */
  GPtrArray    *children;
  /* Where text goes, or NULL for the container's running paragraph */
  GString      *sink;
  guint         counts_depth : 1;
  guint         header_cell : 1;
} Frame;

typedef struct
{
  MD_SPANTYPE  type;
  /* The tags written, or NULL when the span writes none (a link not allowed) */
  char        *open;
  const char  *close;
} Span;

typedef struct
{
  GPtrArray    *root;
  GArray       *frames;

  /* The paragraph text outside a paragraph goes to (tight list items, flattened
   * blocks), in the children array of its container. */
  HelixMdBlock *running;
  GPtrArray    *running_owner;
  gboolean      pending_break;

  guint         depth;
  guint         list_depth;
  guint         n_blocks;

  /* The open spans, innermost last, and the text they are open in. md4c may
   * close spans out of order (permissive autolinks across emphasis): we keep the
   * markup well nested whatever it does. */
  GArray       *spans;
  GString      *span_sink;

  HelixMdBlock *table;
  guint         row;
  guint         column;

  GString      *discard;
} Parser;

/* Blocks --------------------------------------------------------------------- */

static HelixMdBlock *
block_new (Parser           *parser,
           HelixMdBlockKind  kind)
{
  HelixMdBlock *block = g_new0 (HelixMdBlock, 1);

  block->kind = kind;
  block->text = g_string_new (NULL);
  if (kind == HELIX_MD_BLOCK_QUOTE || kind == HELIX_MD_BLOCK_LIST || kind == HELIX_MD_BLOCK_ITEM)
    block->children = g_ptr_array_new_with_free_func ((GDestroyNotify) _helix_md_block_free);
  parser->n_blocks++;

  return block;
}

static void
string_free (gpointer data)
{
  g_string_free (data, TRUE);
}

void
_helix_md_block_free (HelixMdBlock *block)
{
  if (block == NULL)
    return;

  g_string_free (block->text, TRUE);
  g_free (block->lang);
  g_clear_pointer (&block->children, g_ptr_array_unref);
  g_clear_pointer (&block->cells, g_ptr_array_unref);
  g_free (block->aligns);
  g_free (block);
}

static gboolean
block_arrays_equal (const GPtrArray *a,
                    const GPtrArray *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  if (a->len != b->len)
    return FALSE;
  for (guint i = 0; i < a->len; i++)
    if (!_helix_md_block_equal (a->pdata[i], b->pdata[i]))
      return FALSE;
  return TRUE;
}

gboolean
_helix_md_block_equal (const HelixMdBlock *a,
                       const HelixMdBlock *b)
{
  if (a->kind != b->kind ||
      a->level != b->level ||
      a->tight != b->tight ||
      a->n_columns != b->n_columns ||
      a->n_rows != b->n_rows ||
      !g_string_equal (a->text, b->text) ||
      g_strcmp0 (a->lang, b->lang) != 0 ||
      !block_arrays_equal (a->children, b->children))
    return FALSE;

  if (a->kind == HELIX_MD_BLOCK_TABLE)
    {
      if (memcmp (a->aligns, b->aligns, a->n_columns) != 0)
        return FALSE;
      for (guint i = 0; i < a->cells->len; i++)
        if (!g_string_equal (a->cells->pdata[i], b->cells->pdata[i]))
          return FALSE;
    }

  return TRUE;
}

gboolean
_helix_md_uri_is_allowed (const char *uri)
{
  static const char * const allowed[] = { "http", "https", "mailto" };
  gsize len = 0;

  if (uri == NULL)
    return FALSE;

  /* The scheme, as in RFC 3986. Not g_uri_peek_scheme(): it interns every scheme it
   * sees, and these come from untrusted text. */
  while (g_ascii_isalnum (uri[len]) || uri[len] == '+' || uri[len] == '-' || uri[len] == '.')
    len++;
  if (len == 0 || uri[len] != ':' || !g_ascii_isalpha (uri[0]))
    return FALSE;

  for (guint i = 0; i < G_N_ELEMENTS (allowed); i++)
    if (strlen (allowed[i]) == len && g_ascii_strncasecmp (uri, allowed[i], len) == 0)
      return TRUE;

  return FALSE;
}

/* Text ----------------------------------------------------------------------- */

static void
append_escaped (GString    *out,
                const char *text,
                gsize       size)
{
  g_autofree char *escaped = NULL;

  if (size == 0)
    return;

  escaped = g_markup_escape_text (text, size);
  g_string_append (out, escaped);
}

typedef struct
{
  const char *name;
  const char *utf8;
} NamedEntity;

/* The common ones; any other name is shown as written. */
static const NamedEntity named_entities[] = {
  { "amp", "&" }, { "lt", "<" }, { "gt", ">" }, { "quot", "\"" }, { "apos", "'" },
  { "nbsp", "\xC2\xA0" }, { "copy", "©" }, { "reg", "®" }, { "trade", "™" },
  { "hellip", "…" }, { "mdash", "—" }, { "ndash", "–" }, { "laquo", "«" },
  { "raquo", "»" }, { "lsquo", "‘" }, { "rsquo", "’" }, { "ldquo", "“" },
  { "rdquo", "”" }, { "times", "×" }, { "divide", "÷" }, { "deg", "°" },
  { "plusmn", "±" }, { "middot", "·" }, { "bull", "•" }, { "larr", "←" },
  { "rarr", "→" }, { "uarr", "↑" }, { "darr", "↓" }, { "harr", "↔" }, { "euro", "€" },
  { "pound", "£" }, { "yen", "¥" }, { "cent", "¢" }, { "sect", "§" }, { "para", "¶" },
  { "le", "≤" }, { "ge", "≥" }, { "ne", "≠" }, { "infin", "∞" },
};

/* Appends what the entity @text (like "&amp;" or "&#x41;") stands for, escaped for
 * markup when @escape is set. */
static void
append_entity (GString    *out,
               const char *text,
               gsize       size,
               gboolean    escape)
{
  char buf[8] = { 0 };
  const char *decoded = NULL;
  gsize decoded_len = 0;

  if (size >= 4 && text[0] == '&' && text[1] == '#' && text[size - 1] == ';')
    {
      gunichar c = 0;
      gboolean hex = text[2] == 'x' || text[2] == 'X';
      gsize i = hex ? 3 : 2;
      gboolean any = FALSE;

      for (; i < size - 1; i++)
        {
          int digit = hex ? g_ascii_xdigit_value (text[i]) : g_ascii_digit_value (text[i]);

          if (digit < 0)
            break;
          any = TRUE;
          c = c * (hex ? 16 : 10) + digit;
          if (c > 0x10FFFF)
            break;
        }

      if (any && i == size - 1 && c != 0 && g_unichar_validate (c))
        {
          decoded_len = g_unichar_to_utf8 (c, buf);
          decoded = buf;
        }
      else
        {
          decoded = REPLACEMENT_CHARACTER;
          decoded_len = strlen (REPLACEMENT_CHARACTER);
        }
    }
  else if (size >= 3 && text[0] == '&' && text[size - 1] == ';')
    {
      for (guint i = 0; i < G_N_ELEMENTS (named_entities); i++)
        if (strlen (named_entities[i].name) == size - 2 &&
            memcmp (named_entities[i].name, text + 1, size - 2) == 0)
          {
            decoded = named_entities[i].utf8;
            decoded_len = strlen (decoded);
            break;
          }
    }

  if (decoded == NULL)
    {
      decoded = text;
      decoded_len = size;
    }

  if (escape)
    append_escaped (out, decoded, decoded_len);
  else
    g_string_append_len (out, decoded, decoded_len);
}

/* A link's href or title, with its entities decoded; not escaped. */
static char *
attribute_to_string (const MD_ATTRIBUTE *attr)
{
  GString *out = g_string_new (NULL);

  if (attr->size == 0 || attr->text == NULL)
    return g_string_free (out, FALSE);

  for (guint i = 0; attr->substr_offsets[i] < attr->size; i++)
    {
      MD_OFFSET start = attr->substr_offsets[i];
      MD_OFFSET end = MIN (attr->substr_offsets[i + 1], attr->size);

      switch (attr->substr_types[i])
        {
        case MD_TEXT_ENTITY:
          append_entity (out, attr->text + start, end - start, FALSE);
          break;

        case MD_TEXT_NULLCHAR:
          g_string_append (out, REPLACEMENT_CHARACTER);
          break;

        case MD_TEXT_NORMAL:
        case MD_TEXT_BR:
        case MD_TEXT_SOFTBR:
        case MD_TEXT_CODE:
        case MD_TEXT_HTML:
        case MD_TEXT_LATEXMATH:
        default:
          g_string_append_len (out, attr->text + start, end - start);
          break;
        }
    }

  return g_string_free (out, FALSE);
}

/* Spans ---------------------------------------------------------------------- */

static void
span_clear (gpointer data)
{
  Span *span = data;

  g_free (span->open);
}

/* Closes every open span, in the text they were opened in. */
static void
spans_close_all (Parser *parser)
{
  for (guint i = parser->spans->len; i > 0; i--)
    {
      Span *span = &g_array_index (parser->spans, Span, i - 1);

      if (span->open != NULL)
        g_string_append (parser->span_sink, span->close);
    }
  g_array_set_size (parser->spans, 0);
  parser->span_sink = NULL;
}

static void
spans_open (Parser      *parser,
            GString     *sink,
            MD_SPANTYPE  type,
            char        *open,
            const char  *close)
{
  Span span = { type, open, close };

  if (parser->span_sink != sink)
    spans_close_all (parser);
  parser->span_sink = sink;

  if (open != NULL)
    g_string_append (sink, open);
  g_array_append_val (parser->spans, span);
}

/* Closes the innermost open span of @type; spans opened inside it close first and
 * open again after it. */
static void
spans_close (Parser      *parser,
             MD_SPANTYPE  type)
{
  guint found = G_MAXUINT;

  for (guint i = parser->spans->len; i > 0; i--)
    if (g_array_index (parser->spans, Span, i - 1).type == type)
      {
        found = i - 1;
        break;
      }
  if (found == G_MAXUINT)
    return;

  for (guint i = parser->spans->len; i > found; i--)
    {
      Span *span = &g_array_index (parser->spans, Span, i - 1);

      if (span->open != NULL)
        g_string_append (parser->span_sink, span->close);
    }
  for (guint i = found + 1; i < parser->spans->len; i++)
    {
      Span *span = &g_array_index (parser->spans, Span, i);

      if (span->open != NULL)
        g_string_append (parser->span_sink, span->open);
    }
  g_array_remove_index (parser->spans, found);
}

static gboolean
spans_have (Parser      *parser,
            MD_SPANTYPE  type,
            gboolean     written_only)
{
  for (guint i = 0; i < parser->spans->len; i++)
    {
      Span *span = &g_array_index (parser->spans, Span, i);

      if (span->type == type && (!written_only || span->open != NULL))
        return TRUE;
    }
  return FALSE;
}

/* Frames --------------------------------------------------------------------- */

static Frame *
top_frame (Parser *parser)
{
  if (parser->frames->len == 0)
    return NULL;
  return &g_array_index (parser->frames, Frame, parser->frames->len - 1);
}

/* Where text goes now: the open paragraph, heading or cell, or else the running
 * paragraph of the innermost container, started on demand. */
static GString *
parser_sink (Parser *parser)
{
  Frame *top = top_frame (parser);

  if (top == NULL || (top->sink == NULL && top->children == NULL))
    return parser->discard;
  if (top->sink != NULL)
    return top->sink;

  if (parser->running == NULL || parser->running_owner != top->children)
    {
      parser->running = block_new (parser, HELIX_MD_BLOCK_PARAGRAPH);
      parser->running_owner = top->children;
      parser->pending_break = FALSE;
      g_ptr_array_add (top->children, parser->running);
    }

  if (parser->pending_break)
    {
      if (parser->running->text->len > 0)
        {
          /* Spans do not run across blocks. */
          spans_close_all (parser);
          g_string_append_c (parser->running->text, '\n');
        }
      parser->pending_break = FALSE;
    }

  return parser->running->text;
}

/* Adds @block to the innermost container and ends its running paragraph. */
static void
parser_add_block (Parser       *parser,
                  Frame        *top,
                  HelixMdBlock *block)
{
  spans_close_all (parser);
  g_ptr_array_add (top->children, block);
  parser->running = NULL;
  parser->running_owner = NULL;
}

static const char *
bullet_for_depth (guint depth)
{
  static const char * const bullets[] = { "•", "◦", "▪" };

  return bullets[depth % G_N_ELEMENTS (bullets)];
}

static void
item_marker (GString                  *out,
             const MD_BLOCK_LI_DETAIL *detail,
             const HelixMdBlock       *list,
             guint                     list_depth)
{
  if (detail != NULL && detail->is_task)
    g_string_append (out, detail->task_mark == ' ' ? "☐" : "☑");
  else if (list != NULL && list->level > 0)
    /* An ordered list: level is the start number plus one, text the delimiter. */
    g_string_append_printf (out, "%u%s", list->level - 1 + list->children->len, list->text->str);
  else
    g_string_append (out, bullet_for_depth (list_depth));
}

static int
on_enter_block (MD_BLOCKTYPE  type,
                void         *detail,
                void         *user_data)
{
  Parser *parser = user_data;
  Frame *top = top_frame (parser);
  gboolean full = parser->n_blocks >= HELIX_MD_MAX_BLOCKS;
  Frame frame = { FRAME_FLAT, NULL, top != NULL ? top->children : NULL, NULL, FALSE, FALSE };
  HelixMdBlock *block = NULL;
  gboolean can_add = top != NULL && top->children != NULL && top->kind != FRAME_FLAT && !full;

  /* Inside a flattened block everything stays flat, except that a flattened
   * container still collects its children into the running paragraph. */
  if (top != NULL && top->kind == FRAME_FLAT)
    can_add = FALSE;

  switch (type)
    {
    case MD_BLOCK_DOC:
      frame.kind = FRAME_CONTAINER;
      frame.children = parser->root;
      break;

    case MD_BLOCK_QUOTE:
    case MD_BLOCK_UL:
    case MD_BLOCK_OL:
      if (!can_add || parser->depth >= HELIX_MD_MAX_DEPTH ||
          (top->block != NULL && top->block->kind == HELIX_MD_BLOCK_LIST))
        break;
      if (type == MD_BLOCK_QUOTE)
        {
          block = block_new (parser, HELIX_MD_BLOCK_QUOTE);
        }
      else
        {
          block = block_new (parser, HELIX_MD_BLOCK_LIST);
          if (type == MD_BLOCK_OL)
            {
              const MD_BLOCK_OL_DETAIL *ol = detail;

              block->level = MIN (ol->start, G_MAXUINT - 1 - HELIX_MD_MAX_BLOCKS) + 1;
              block->tight = ol->is_tight != 0;
              g_string_append_c (block->text, ol->mark_delimiter == ')' ? ')' : '.');
            }
          else
            {
              const MD_BLOCK_UL_DETAIL *ul = detail;

              block->tight = ul->is_tight != 0;
            }
          parser->list_depth++;
        }
      parser_add_block (parser, top, block);
      frame.kind = FRAME_CONTAINER;
      frame.block = block;
      frame.children = block->children;
      frame.counts_depth = TRUE;
      parser->depth++;
      break;

    case MD_BLOCK_LI:
      if (top != NULL && top->kind == FRAME_CONTAINER &&
          top->block != NULL && top->block->kind == HELIX_MD_BLOCK_LIST && !full)
        {
          HelixMdBlock *list = top->block;

          block = block_new (parser, HELIX_MD_BLOCK_ITEM);
          item_marker (block->text, detail, list, parser->list_depth - 1);
          parser_add_block (parser, top, block);
          frame.kind = FRAME_CONTAINER;
          frame.block = block;
          frame.children = block->children;
        }
      else
        {
          g_autoptr(GString) marker = g_string_new (NULL);

          g_array_append_val (parser->frames, frame);
          parser->pending_break = TRUE;
          item_marker (marker, detail, NULL, parser->list_depth);
          g_string_append (parser_sink (parser), marker->str);
          g_string_append_c (parser_sink (parser), ' ');
          return 0;
        }
      break;

    case MD_BLOCK_HR:
      if (!can_add)
        break;
      block = block_new (parser, HELIX_MD_BLOCK_RULE);
      parser_add_block (parser, top, block);
      frame.kind = FRAME_LEAF;
      frame.block = block;
      frame.children = NULL;
      break;

    case MD_BLOCK_H:
    case MD_BLOCK_P:
    case MD_BLOCK_HTML:
      if (!can_add)
        break;
      if (type == MD_BLOCK_H)
        {
          const MD_BLOCK_H_DETAIL *h = detail;

          block = block_new (parser, HELIX_MD_BLOCK_HEADING);
          block->level = CLAMP (h->level, 1, 6);
        }
      else
        {
          block = block_new (parser, HELIX_MD_BLOCK_PARAGRAPH);
        }
      parser_add_block (parser, top, block);
      frame.kind = FRAME_INLINE;
      frame.block = block;
      frame.children = NULL;
      frame.sink = block->text;
      break;

    case MD_BLOCK_CODE:
      if (!can_add)
        break;
      {
        const MD_BLOCK_CODE_DETAIL *code = detail;

        block = block_new (parser, HELIX_MD_BLOCK_CODE);
        if (code->fence_char != 0 && code->lang.size > 0)
          {
            block->lang = attribute_to_string (&code->lang);
            if (block->lang[0] == '\0')
              g_clear_pointer (&block->lang, g_free);
          }
        parser_add_block (parser, top, block);
        frame.kind = FRAME_CODE;
        frame.block = block;
        frame.children = NULL;
        frame.sink = block->text;
      }
      break;

    case MD_BLOCK_TABLE:
      {
        const MD_BLOCK_TABLE_DETAIL *table = detail;
        guint64 n_cells = (guint64) table->col_count *
                          ((guint64) table->head_row_count + table->body_row_count);

        if (!can_add || parser->table != NULL ||
            table->col_count == 0 || table->col_count > HELIX_MD_MAX_COLUMNS ||
            parser->n_blocks + n_cells > HELIX_MD_MAX_BLOCKS)
          break;

        block = block_new (parser, HELIX_MD_BLOCK_TABLE);
        block->n_columns = table->col_count;
        block->aligns = g_new0 (guint8, block->n_columns);
        block->cells = g_ptr_array_new_with_free_func (string_free);
        parser_add_block (parser, top, block);
        parser->table = block;
        parser->row = 0;
        frame.kind = FRAME_TABLE;
        frame.block = block;
        frame.children = NULL;
      }
      break;

    case MD_BLOCK_THEAD:
    case MD_BLOCK_TBODY:
    case MD_BLOCK_TR:
      if (top == NULL || top->kind != FRAME_TABLE || parser->table == NULL)
        break;
      frame.kind = FRAME_TABLE;
      frame.children = NULL;
      if (type == MD_BLOCK_TR)
        {
          HelixMdBlock *table = parser->table;

          table->n_rows++;
          for (guint i = 0; i < table->n_columns; i++)
            g_ptr_array_add (table->cells, g_string_new (NULL));
          parser->n_blocks += table->n_columns;
          parser->row = table->n_rows - 1;
          parser->column = 0;
        }
      break;

    case MD_BLOCK_TH:
    case MD_BLOCK_TD:
      if (top == NULL || top->kind != FRAME_TABLE || parser->table == NULL)
        {
          /* A cell of a flattened table: keep the cells apart. */
          GString *sink;

          g_array_append_val (parser->frames, frame);
          sink = parser_sink (parser);
          if (sink->len > 0 && sink->str[sink->len - 1] != '\n')
            g_string_append (sink, "  ");
          return 0;
        }
      frame.kind = FRAME_INLINE;
      frame.children = NULL;
      if (parser->column < parser->table->n_columns && parser->table->n_rows > 0)
        {
          HelixMdBlock *table = parser->table;
          const MD_BLOCK_TD_DETAIL *td = detail;

          frame.sink = table->cells->pdata[parser->row * table->n_columns + parser->column];
          if (parser->row == 0)
            table->aligns[parser->column] = (guint8) CLAMP ((int) td->align,
                                                            HELIX_MD_ALIGN_DEFAULT,
                                                            HELIX_MD_ALIGN_RIGHT);
          if (type == MD_BLOCK_TH)
            {
              g_string_append (frame.sink, "<b>");
              frame.header_cell = TRUE;
            }
        }
      else
        {
          frame.sink = parser->discard;
        }
      parser->column++;
      break;

    default:
      break;
    }

  if (frame.kind == FRAME_FLAT)
    parser->pending_break = TRUE;

  g_array_append_val (parser->frames, frame);
  return 0;
}

static int
on_leave_block (MD_BLOCKTYPE  type,
                void         *detail,
                void         *user_data)
{
  Parser *parser = user_data;
  Frame frame;

  if (parser->frames->len == 0)
    return 0;

  frame = g_array_index (parser->frames, Frame, parser->frames->len - 1);
  g_array_set_size (parser->frames, parser->frames->len - 1);

  if (frame.counts_depth)
    {
      parser->depth--;
      if (frame.block != NULL && frame.block->kind == HELIX_MD_BLOCK_LIST)
        parser->list_depth--;
    }

  switch (frame.kind)
    {
    case FRAME_CONTAINER:
      spans_close_all (parser);
      parser->running = NULL;
      parser->running_owner = NULL;
      break;

    case FRAME_INLINE:
      spans_close_all (parser);
      if (frame.header_cell)
        g_string_append (frame.sink, "</b>");
      break;

    case FRAME_TABLE:
      if (type == MD_BLOCK_TABLE)
        parser->table = NULL;
      break;

    case FRAME_FLAT:
      if (type != MD_BLOCK_TD && type != MD_BLOCK_TH)
        parser->pending_break = TRUE;
      break;

    case FRAME_CODE:
    case FRAME_LEAF:
    default:
      break;
    }

  return 0;
}

/* Span callbacks --------------------------------------------------------------- */

static int
on_enter_span (MD_SPANTYPE  type,
               void        *detail,
               void        *user_data)
{
  Parser *parser = user_data;
  GString *sink = parser_sink (parser);

  switch (type)
    {
    case MD_SPAN_EM:
      spans_open (parser, sink, type, g_strdup ("<i>"), "</i>");
      break;

    case MD_SPAN_STRONG:
      spans_open (parser, sink, type, g_strdup ("<b>"), "</b>");
      break;

    case MD_SPAN_DEL:
      spans_open (parser, sink, type, g_strdup ("<s>"), "</s>");
      break;

    case MD_SPAN_CODE:
      spans_open (parser, sink, type, g_strdup ("<tt>"), "</tt>");
      break;

    case MD_SPAN_U:
      spans_open (parser, sink, type, g_strdup ("<u>"), "</u>");
      break;

    case MD_SPAN_A:
      {
        const MD_SPAN_A_DETAIL *a = detail;
        g_autofree char *href = attribute_to_string (&a->href);
        GString *open = NULL;

        /* No links in links, nor in an image's description */
        if (!spans_have (parser, MD_SPAN_A, TRUE) && !spans_have (parser, MD_SPAN_IMG, FALSE) &&
            _helix_md_uri_is_allowed (href))
          {
            g_autofree char *title = attribute_to_string (&a->title);

            open = g_string_new ("<a href=\"");
            append_escaped (open, href, strlen (href));
            if (title[0] != '\0')
              {
                g_string_append (open, "\" title=\"");
                append_escaped (open, title, strlen (title));
              }
            g_string_append (open, "\">");
          }
        spans_open (parser, sink, type,
                    open != NULL ? g_string_free (open, FALSE) : NULL, "</a>");
      }
      break;

    case MD_SPAN_IMG:
      /* Only its description is shown, as text. */
      spans_open (parser, sink, type, NULL, "");
      break;

    case MD_SPAN_LATEXMATH:
    case MD_SPAN_LATEXMATH_DISPLAY:
    case MD_SPAN_WIKILINK:
    default:
      spans_open (parser, sink, type, NULL, "");
      break;
    }

  return 0;
}

static int
on_leave_span (MD_SPANTYPE  type,
               void        *detail,
               void        *user_data)
{
  Parser *parser = user_data;

  spans_close (parser, type);
  return 0;
}

static int
on_text (MD_TEXTTYPE     type,
         const MD_CHAR  *text,
         MD_SIZE         size,
         void           *user_data)
{
  Parser *parser = user_data;
  Frame *top = top_frame (parser);
  GString *sink;

  if (top != NULL && top->kind == FRAME_CODE)
    {
      if (type == MD_TEXT_NULLCHAR)
        g_string_append (top->sink, REPLACEMENT_CHARACTER);
      else
        g_string_append_len (top->sink, text, size);
      return 0;
    }

  sink = parser_sink (parser);

  switch (type)
    {
    case MD_TEXT_NULLCHAR:
      g_string_append (sink, REPLACEMENT_CHARACTER);
      break;

    case MD_TEXT_BR:
      g_string_append_c (sink, '\n');
      break;

    case MD_TEXT_SOFTBR:
      g_string_append_c (sink, ' ');
      break;

    case MD_TEXT_ENTITY:
      append_entity (sink, text, size, TRUE);
      break;

    case MD_TEXT_NORMAL:
    case MD_TEXT_CODE:
    case MD_TEXT_HTML:
    case MD_TEXT_LATEXMATH:
    default:
      append_escaped (sink, text, size);
      break;
    }

  return 0;
}

/* Parses @text, which must be valid UTF-8 without NUL bytes. Returns the top-level
 * blocks, or NULL if md4c gave up. */
GPtrArray *
_helix_md_parse (const char *text,
                 gsize       len)
{
  MD_PARSER md_parser = {
    .abi_version = 0,
    .flags = MD_FLAGS,
    .enter_block = on_enter_block,
    .leave_block = on_leave_block,
    .enter_span = on_enter_span,
    .leave_span = on_leave_span,
    .text = on_text,
  };
  g_autoptr(GPtrArray) root =
    g_ptr_array_new_with_free_func ((GDestroyNotify) _helix_md_block_free);
  g_autoptr(GArray) frames = g_array_new (FALSE, FALSE, sizeof (Frame));
  g_autoptr(GArray) spans = g_array_new (FALSE, FALSE, sizeof (Span));
  g_autoptr(GString) discard = g_string_new (NULL);
  Parser parser = {
    .root = root,
    .frames = frames,
    .spans = spans,
    .discard = discard,
  };

  g_return_val_if_fail (text != NULL || len == 0, NULL);

  if (len > G_MAXUINT)
    return NULL;

  g_array_set_clear_func (spans, span_clear);

  if (md_parse (text != NULL ? text : "", (MD_SIZE) len, &md_parser, &parser) != 0)
    return NULL;
  spans_close_all (&parser);

  return g_steal_pointer (&root);
}
