/* helix-title.c: short titles for chat sessions
 *
 * A chat is first named after the start of its first message
 * (helix_title_from_text()); after its first answer, a "title" operation asks
 * a model for a few words (helix_title_request_new()), and what it says is
 * cleaned into one short line (helix_title_clean()). The desktop and the
 * gateway (for answers it writes) do the same.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-ai"

#include "config.h"

#include <string.h>

#include "helix-title.h"

/* How much of the question and of the answer a title request quotes. */
#define EXCERPT_CHARS     1500
#define TITLE_MAX_TOKENS  16

static const char title_prompt[] =
  "Write a title of at most six words for the chat below. Reply with the title only: "
  "no quotes, no punctuation at the end.";

/**
 * helix_title_from_text:
 * @text: the first message of a chat
 * @max_chars: the longest title, in characters
 *
 * Makes a title from the start of @text: one line, at most @max_chars
 * characters (and an ellipsis), cut at a word when it can be.
 *
 * Returns: (transfer full): the title
 */
char *
helix_title_from_text (const char *text,
                            guint       max_chars)
{
  GString *str = g_string_new (NULL);
  guint n_chars = 0;
  gboolean pending_space = FALSE;
  gboolean truncated = FALSE;
  gboolean at_word_end = FALSE;

  for (const char *p = text; p != NULL && *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_isspace (c) || g_unichar_iscntrl (c))
        {
          pending_space = str->len > 0;
          continue;
        }

      if (n_chars + (pending_space ? 1 : 0) >= max_chars)
        {
          truncated = TRUE;
          at_word_end = pending_space;
          break;
        }

      if (pending_space)
        {
          g_string_append_c (str, ' ');
          n_chars++;
          pending_space = FALSE;
        }

      g_string_append_unichar (str, c);
      n_chars++;
    }

  if (truncated)
    {
      const char *space = strrchr (str->str, ' ');

      /* Cut after the last whole word, unless that loses too much. */
      if (!at_word_end && space != NULL &&
          g_utf8_pointer_to_offset (str->str, space) > max_chars / 2)
        g_string_truncate (str, space - str->str);
      g_string_append (str, "…");
    }

  return g_string_free (str, FALSE);
}

static gboolean
is_quote (gunichar c)
{
  return c == '"' || c == '\'' || c == '`' || c == '*' || c == '_' ||
         c == 0x2018 || c == 0x2019 || c == 0x201C || c == 0x201D ||
         c == 0x00AB || c == 0x00BB;
}

static gboolean
is_trailing_punctuation (gunichar c)
{
  return c == '.' || c == '!' || c == '?' || c == ',' || c == ';' || c == ':' ||
         c == 0x2026 || c == 0x3002;
}

/**
 * helix_title_clean:
 * @text: what a model answered when asked for a title
 *
 * Keeps the first line with text, without a "Title:" prefix, Markdown
 * heading marks, quotes or trailing punctuation, at most
 * %HELIX_TITLE_MAX_CHARS characters.
 *
 * Returns: (transfer full): the title, maybe empty
 */
char *
helix_title_clean (const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text != NULL ? text : "", "\n", -1);
  g_autofree char *line = NULL;
  gboolean changed = TRUE;
  char *end;

  for (guint i = 0; lines[i] != NULL && line == NULL; i++)
    {
      g_strstrip (lines[i]);
      if (lines[i][0] != '\0' && g_utf8_validate (lines[i], -1, NULL))
        line = g_strdup (lines[i]);
    }
  if (line == NULL)
    return g_strdup ("");

  while (line[0] == '#')
    memmove (line, line + 1, strlen (line));
  g_strstrip (line);
  if (g_ascii_strncasecmp (line, "title:", 6) == 0)
    {
      memmove (line, line + 6, strlen (line + 6) + 1);
      g_strstrip (line);
    }

  while (changed && line[0] != '\0')
    {
      gunichar first = g_utf8_get_char (line);
      char *last_p = g_utf8_find_prev_char (line, line + strlen (line));
      gunichar last = last_p != NULL ? g_utf8_get_char (last_p) : 0;

      changed = FALSE;
      if (is_quote (first))
        {
          const char *next = g_utf8_next_char (line);

          memmove (line, next, strlen (next) + 1);
          changed = TRUE;
        }
      else if (last_p != NULL && (is_quote (last) || is_trailing_punctuation (last)))
        {
          *last_p = '\0';
          changed = TRUE;
        }
      g_strstrip (line);
    }

  /* One line of plain words, capped. */
  g_strdelimit (line, "\t\r", ' ');
  if (g_utf8_strlen (line, -1) > HELIX_TITLE_MAX_CHARS)
    {
      end = g_utf8_offset_to_pointer (line, HELIX_TITLE_MAX_CHARS);
      *end = '\0';
      g_strchomp (line);
    }

  return g_steal_pointer (&line);
}

static char *
excerpt (const char *text)
{
  g_autofree char *head = NULL;

  if (g_utf8_strlen (text, -1) <= EXCERPT_CHARS)
    return g_strdup (text);

  head = g_utf8_substring (text, 0, EXCERPT_CHARS);
  return g_strconcat (head, "…", NULL);
}

/**
 * helix_title_request_new:
 * @question: the first message of the chat
 * @answer: the first answer
 *
 * Returns: (transfer full): a request for the "title" operation: a few words
 *   about the start of the chat, excerpts of both quoted
 */
HelixChatRequest *
helix_title_request_new (const char *question,
                         const char *answer)
{
  HelixChatRequest *request = helix_chat_request_new ("auto");
  g_autofree char *q = excerpt (question != NULL ? question : "");
  g_autofree char *a = excerpt (answer != NULL ? answer : "");
  g_autofree char *chat = g_strdup_printf ("User: %s\n\nAssistant: %s", q, a);

  helix_chat_request_add_message (request, HELIX_MESSAGE_ROLE_SYSTEM, title_prompt);
  helix_chat_request_add_message (request, HELIX_MESSAGE_ROLE_USER, chat);
  helix_chat_request_set_max_tokens (request, TITLE_MAX_TOKENS);

  return request;
}
