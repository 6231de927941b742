/* helix-test-markdown.h: a long answer with every Markdown construct, for the
 * markdown test and benchmark
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A deterministic mixed document of at least @min_len bytes: headings, paragraphs
 * with every span, nested and task lists, quotes, tables, code in several languages
 * (and non-ASCII text, so that streaming prefixes cut characters in half). */
static inline char *
helix_test_markdown_document (gsize min_len)
{
  GString *doc = g_string_new (NULL);

  for (guint i = 0; doc->len < min_len; i++)
    {
      g_string_append_printf (doc, "## Section %u: the naïve approach\n\n", i);
      g_string_append_printf (doc,
        "Here is *why* it **matters**, with `inline_code(%u)` and ~~old~~ text — "
        "see [the docs](https://example.org/docs/%u?lang=en&v=2) or www.example.com "
        "or mail help@example.org. “Quotes” & <angles> stay as written.\n"
        "A soft break, then a hard one:  \nnext line.\n\n", i, i);
      g_string_append (doc,
        "1. First step\n"
        "2. Second step with **bold**\n"
        "   - nested bullet\n"
        "   - another one with `code`\n"
        "     1. deeper\n"
        "3. Third step\n\n"
        "- [ ] open task\n"
        "- [x] done task\n\n");
      g_string_append (doc,
        "> A quote with *emphasis*\n"
        "> > and a nested quote\n\n");
      if (i % 3 == 0)
        g_string_append (doc,
          "```c\n"
          "#include <stdio.h>\n"
          "\n"
          "int\n"
          "main (void)\n"
          "{\n"
          "  printf (\"hello, world\\n\");\n"
          "  return 0;\n"
          "}\n"
          "```\n\n");
      else if (i % 3 == 1)
        g_string_append (doc,
          "```python\n"
          "def greet(name: str) -> str:\n"
          "    return f\"Hello, {name}!\"\n"
          "\n"
          "print(greet(\"world\"))\n"
          "```\n\n");
      else
        g_string_append (doc,
          "    indented code\n"
          "    second line\n\n");
      g_string_append_printf (doc,
        "| Item | Count | Note |\n"
        "|:-----|------:|:----:|\n"
        "| apples | %u | *fresh* |\n"
        "| pears | %u | ripe |\n"
        "| plums | 7 | `n/a` |\n\n", i, i * 2);
      g_string_append (doc, "---\n\n");
    }

  return g_string_free (doc, FALSE);
}

G_END_DECLS
