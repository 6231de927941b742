/* helix-sync-json.c: linear pre-scans of untrusted JSON text
 *
 * json-glib 1.6 parses recursively (about 80,000 nested brackets overflow the stack)
 * and is lenient: it accepts comments, single quotes, leading zeros, trailing
 * documents, and wraps integers that do not fit 64 bits. These scans run first, in
 * one pass with no recursion, so that json-glib only ever sees text it handles safely.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-sync"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-sync-json.h"
#include "helix-sync-types.h"

static gboolean
check_text (const char  *text,
            gsize        len,
            GError     **error)
{
  if (len == 0)
    return TRUE;  /* text may be NULL then, and memchr (NULL, …, 0) is undefined */

  if (memchr (text, '\0', len) != NULL)
    {
      g_set_error_literal (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_FRAME,
                           _("The frame contains a NUL byte; frames must be UTF-8 JSON text"));
      return FALSE;
    }

  if (!g_utf8_validate_len (text, len, NULL))
    {
      g_set_error_literal (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_FRAME,
                           _("The frame is not valid UTF-8; frames must be UTF-8 JSON text"));
      return FALSE;
    }

  return TRUE;
}

static gboolean
set_too_deep (guint    max_depth,
              GError **error)
{
  g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_TOO_DEEP,
               _("The frame nests arrays and objects deeper than %u levels"), max_depth);
  return FALSE;
}

typedef enum
{
  EXPECT_VALUE,
  EXPECT_VALUE_OR_CLOSE,  /* just after '[' */
  EXPECT_KEY_OR_CLOSE,    /* just after '{' */
  EXPECT_KEY,             /* after ',' in an object */
  EXPECT_COLON,
  EXPECT_COMMA_OR_CLOSE,
  EXPECT_END,
} ScanState;

static gboolean
syntax_error (gsize        pos,
              const char  *what,
              GError     **error)
{
  g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_FRAME,
               _("The frame is not valid JSON: %s at byte %lu"), what, (gulong) pos);
  return FALSE;
}

static int
hex4 (const char *p)
{
  int value = 0;

  for (guint i = 0; i < 4; i++)
    {
      int d = g_ascii_xdigit_value (p[i]);

      if (d < 0)
        return -1;
      value = (value << 4) | d;
    }

  return value;
}

/* Scans the string starting at the quote at *pos; leaves *pos after the closing quote. */
static gboolean
scan_string (const char  *text,
             gsize        len,
             gsize       *pos,
             GError     **error)
{
  gsize i = *pos + 1;

  while (i < len)
    {
      guchar c = (guchar) text[i];

      if (c == '"')
        {
          *pos = i + 1;
          return TRUE;
        }
      if (c < 0x20)
        return syntax_error (i, _("a control character in a string"), error);
      if (c != '\\')
        {
          i++;
          continue;
        }

      if (i + 1 >= len)
        break;
      switch (text[i + 1])
        {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
          i += 2;
          break;

        case 'u':
          {
            int cp = i + 6 <= len ? hex4 (text + i + 2) : -1;

            if (cp < 0)
              return syntax_error (i, _("a bad \\u escape"), error);
            if (cp == 0)
              return syntax_error (i, _("an escaped NUL (\\u0000)"), error);
            if (cp >= 0xdc00 && cp <= 0xdfff)
              return syntax_error (i, _("a lone low surrogate"), error);
            i += 6;
            if (cp >= 0xd800 && cp <= 0xdbff)
              {
                int low = (i + 6 <= len && text[i] == '\\' && text[i + 1] == 'u')
                          ? hex4 (text + i + 2) : -1;

                if (low < 0xdc00 || low > 0xdfff)
                  return syntax_error (i, _("a lone high surrogate"), error);
                i += 6;
              }
          }
          break;

        default:
          return syntax_error (i, _("an unknown escape"), error);
        }
    }

  return syntax_error (len, _("an unterminated string"), error);
}

/* Scans an RFC 8259 number at *pos. Integers (no fraction, no exponent) must lie
 * within ±(2^53 − 1): json-glib would silently wrap bigger ones. */
static gboolean
scan_number (const char  *text,
             gsize        len,
             gsize       *pos,
             GError     **error)
{
  gsize i = *pos;
  gsize int_digits = 0;
  guint64 magnitude = 0;
  gboolean is_integer = TRUE;

  if (text[i] == '-')
    i++;

  if (i < len && text[i] == '0')
    {
      i++;
      int_digits = 1;
    }
  else if (i < len && text[i] >= '1' && text[i] <= '9')
    {
      for (; i < len && g_ascii_isdigit (text[i]); i++, int_digits++)
        {
          /* Past 17 digits the value is out of range anyway; stop before overflow. */
          if (int_digits < 17)
            magnitude = magnitude * 10 + (guint64) (text[i] - '0');
        }
    }
  else
    {
      return syntax_error (i, _("a malformed number"), error);
    }

  if (i < len && text[i] == '.')
    {
      is_integer = FALSE;
      i++;
      if (i >= len || !g_ascii_isdigit (text[i]))
        return syntax_error (i, _("a malformed number"), error);
      while (i < len && g_ascii_isdigit (text[i]))
        i++;
    }

  if (i < len && (text[i] == 'e' || text[i] == 'E'))
    {
      is_integer = FALSE;
      i++;
      if (i < len && (text[i] == '+' || text[i] == '-'))
        i++;
      if (i >= len || !g_ascii_isdigit (text[i]))
        return syntax_error (i, _("a malformed number"), error);
      while (i < len && g_ascii_isdigit (text[i]))
        i++;
    }

  if (is_integer && (int_digits > 16 || magnitude > (guint64) HELIX_SYNC_MAX_INT))
    return syntax_error (*pos, _("an integer beyond ±(2^53 − 1)"), error);

  *pos = i;
  return TRUE;
}

static gboolean
scan_literal (const char  *text,
              gsize        len,
              gsize       *pos,
              GError     **error)
{
  static const char * const literals[] = { "true", "false", "null" };

  for (guint k = 0; k < G_N_ELEMENTS (literals); k++)
    {
      gsize n = strlen (literals[k]);

      if (len - *pos >= n && memcmp (text + *pos, literals[k], n) == 0)
        {
          *pos += n;
          return TRUE;
        }
    }

  return syntax_error (*pos, _("an unexpected character"), error);
}

/**
 * helix_json_validate:
 * @text: JSON text, not necessarily NUL-terminated
 * @len: length of @text in bytes
 * @max_depth: deepest nesting of arrays and objects allowed
 * @error: return location for a %HELIX_SYNC_ERROR
 *
 * Checks in one linear pass, without recursion, that @text is exactly one RFC 8259
 * JSON value, UTF-8 without NUL bytes (escaped `\u0000` and unpaired surrogates
 * included), nested at most @max_depth deep, with every integer literal within
 * ±(2^53 − 1). Everything it accepts, json-glib parses to the same value.
 *
 * Fails with %HELIX_SYNC_ERROR_TOO_DEEP when too deep, otherwise with
 * %HELIX_SYNC_ERROR_BAD_FRAME.
 *
 * Returns: %TRUE when @text is acceptable
 */
gboolean
helix_json_validate (const char  *text,
                     gsize        len,
                     guint        max_depth,
                     GError     **error)
{
  g_autofree char *stack = NULL;  /* '{' or '[' per open container */
  ScanState state = EXPECT_VALUE;
  guint depth = 0;
  gsize pos = 0;

  g_return_val_if_fail (text != NULL || len == 0, FALSE);

  if (!check_text (text, len, error))
    return FALSE;

  stack = g_malloc (max_depth + 1);

  for (;;)
    {
      char c;
      gboolean value_done = FALSE;

      while (pos < len && (text[pos] == ' ' || text[pos] == '\t' ||
                           text[pos] == '\n' || text[pos] == '\r'))
        pos++;

      if (pos == len)
        {
          if (state == EXPECT_END)
            return TRUE;
          return syntax_error (pos, _("an unexpected end"), error);
        }

      c = text[pos];

      switch (state)
        {
        case EXPECT_END:
          return syntax_error (pos, _("text after the value"), error);

        case EXPECT_COLON:
          if (c != ':')
            return syntax_error (pos, _("a missing ‘:’"), error);
          pos++;
          state = EXPECT_VALUE;
          break;

        case EXPECT_COMMA_OR_CLOSE:
          if (c == ',')
            {
              pos++;
              state = stack[depth - 1] == '{' ? EXPECT_KEY : EXPECT_VALUE;
            }
          else if ((c == '}' && stack[depth - 1] == '{') || (c == ']' && stack[depth - 1] == '['))
            {
              pos++;
              depth--;
              value_done = TRUE;
            }
          else
            {
              return syntax_error (pos, _("a missing ‘,’ or closing bracket"), error);
            }
          break;

        case EXPECT_KEY_OR_CLOSE:
        case EXPECT_KEY:
          if (c == '}' && state == EXPECT_KEY_OR_CLOSE)
            {
              pos++;
              depth--;
              value_done = TRUE;
            }
          else if (c == '"')
            {
              if (!scan_string (text, len, &pos, error))
                return FALSE;
              state = EXPECT_COLON;
            }
          else
            {
              return syntax_error (pos, _("a missing member name"), error);
            }
          break;

        case EXPECT_VALUE_OR_CLOSE:
        case EXPECT_VALUE:
          if (c == ']' && state == EXPECT_VALUE_OR_CLOSE)
            {
              pos++;
              depth--;
              value_done = TRUE;
            }
          else if (c == '{' || c == '[')
            {
              if (depth >= max_depth)
                return set_too_deep (max_depth, error);
              stack[depth++] = c;
              pos++;
              state = c == '{' ? EXPECT_KEY_OR_CLOSE : EXPECT_VALUE_OR_CLOSE;
            }
          else if (c == '"')
            {
              if (!scan_string (text, len, &pos, error))
                return FALSE;
              value_done = TRUE;
            }
          else if (c == '-' || g_ascii_isdigit (c))
            {
              if (!scan_number (text, len, &pos, error))
                return FALSE;
              value_done = TRUE;
            }
          else
            {
              if (!scan_literal (text, len, &pos, error))
                return FALSE;
              value_done = TRUE;
            }
          break;

        default:
          g_assert_not_reached ();
        }

      if (value_done)
        state = depth == 0 ? EXPECT_END : EXPECT_COMMA_OR_CLOSE;
    }
}

/* Parsing validated text {{{1 */

/* json-glib 1.6 reads JSON through GScanner, one character and one GObject
 * signal at a time; this builds the same JsonNode tree from text that
 * helix_json_validate() accepted, in one pass. It still checks every byte it
 * reads and gives up (returns %NULL) on anything unexpected, so that text
 * that was not validated cannot make it read out of bounds. */

typedef struct
{
  const char *text;
  gsize       len;
  gsize       pos;
  GString    *scratch;  /* a string being unescaped, or a number for strtod */
  guint       depth;
  gboolean    repeated; /* some object named a member twice */
} Reader;

#define READER_MAX_DEPTH 1024

static JsonNode *read_value (Reader *r);

static void
skip_space (Reader *r)
{
  while (r->pos < r->len && (r->text[r->pos] == ' ' || r->text[r->pos] == '\t' ||
                             r->text[r->pos] == '\n' || r->text[r->pos] == '\r'))
    r->pos++;
}

static void
append_code_point (GString  *out,
                   gunichar  c)
{
  char utf8[6];

  g_string_append_len (out, utf8, g_unichar_to_utf8 (c, utf8));
}

/* Reads the string at r->pos (its opening quote) into r->scratch. */
static gboolean
read_string (Reader *r)
{
  const char *text = r->text;
  gsize i = r->pos + 1;

  g_string_truncate (r->scratch, 0);

  for (;;)
    {
      gsize run = i;
      int cp;

      /* The bytes up to the next quote or backslash are copied as they are. */
      while (i < r->len && text[i] != '"' && text[i] != '\\')
        {
          if ((guchar) text[i] < 0x20)
            return FALSE;
          i++;
        }
      g_string_append_len (r->scratch, text + run, i - run);

      if (i >= r->len)
        return FALSE;
      if (text[i] == '"')
        {
          r->pos = i + 1;
          return TRUE;
        }

      if (i + 1 >= r->len)
        return FALSE;
      switch (text[i + 1])
        {
        case '"': g_string_append_c (r->scratch, '"'); break;
        case '\\': g_string_append_c (r->scratch, '\\'); break;
        case '/': g_string_append_c (r->scratch, '/'); break;
        case 'b': g_string_append_c (r->scratch, '\b'); break;
        case 'f': g_string_append_c (r->scratch, '\f'); break;
        case 'n': g_string_append_c (r->scratch, '\n'); break;
        case 'r': g_string_append_c (r->scratch, '\r'); break;
        case 't': g_string_append_c (r->scratch, '\t'); break;
        case 'u':
          cp = i + 6 <= r->len ? hex4 (text + i + 2) : -1;
          if (cp <= 0 || (cp >= 0xdc00 && cp <= 0xdfff))
            return FALSE;
          if (cp >= 0xd800 && cp <= 0xdbff)
            {
              int low = (i + 12 <= r->len && text[i + 6] == '\\' && text[i + 7] == 'u')
                        ? hex4 (text + i + 8) : -1;

              if (low < 0xdc00 || low > 0xdfff)
                return FALSE;
              cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
              i += 6;
            }
          append_code_point (r->scratch, (gunichar) cp);
          i += 4;
          break;
        default:
          return FALSE;
        }
      i += 2;
    }
}

static JsonNode *
read_number (Reader *r)
{
  const char *text = r->text;
  gsize start = r->pos;
  gsize i = start;
  gboolean negative = FALSE;
  gboolean is_integer = TRUE;
  guint64 magnitude = 0;
  guint digits = 0;
  JsonNode *node;

  if (text[i] == '-')
    {
      negative = TRUE;
      i++;
    }
  for (; i < r->len && g_ascii_isdigit (text[i]); i++, digits++)
    if (digits < 17)
      magnitude = magnitude * 10 + (guint64) (text[i] - '0');
  if (digits == 0)
    return NULL;
  while (i < r->len && (g_ascii_isdigit (text[i]) || text[i] == '.' || text[i] == 'e' ||
                        text[i] == 'E' || text[i] == '+' || text[i] == '-'))
    {
      is_integer = FALSE;
      i++;
    }
  r->pos = i;

  node = json_node_alloc ();
  if (is_integer)
    {
      /* helix_json_validate() allows integers within ±(2^53 − 1) only. */
      if (digits > 16 || magnitude > (guint64) HELIX_SYNC_MAX_INT)
        {
          json_node_unref (node);
          return NULL;
        }
      json_node_init_int (node, negative ? -(gint64) magnitude : (gint64) magnitude);
    }
  else
    {
      char *end;

      g_string_truncate (r->scratch, 0);
      g_string_append_len (r->scratch, text + start, i - start);
      json_node_init_double (node, g_ascii_strtod (r->scratch->str, &end));
      if (*end != '\0')
        {
          json_node_unref (node);
          return NULL;
        }
    }

  return node;
}

static JsonNode *
read_object (Reader *r)
{
  g_autoptr(JsonObject) object = json_object_new ();

  r->pos++;
  skip_space (r);
  if (r->pos < r->len && r->text[r->pos] == '}')
    {
      r->pos++;
      return json_node_init_object (json_node_alloc (), object);
    }

  for (;;)
    {
      /* Most names are short: kept on the stack until json-glib copies them. */
      char short_name[64];
      g_autofree char *long_name = NULL;
      const char *name;
      JsonNode *member;

      skip_space (r);
      if (r->pos >= r->len || r->text[r->pos] != '"' || !read_string (r))
        return NULL;
      if (r->scratch->len < sizeof short_name)
        {
          memcpy (short_name, r->scratch->str, r->scratch->len + 1);
          name = short_name;
        }
      else
        name = long_name = g_strndup (r->scratch->str, r->scratch->len);

      skip_space (r);
      if (r->pos >= r->len || r->text[r->pos] != ':')
        return NULL;
      r->pos++;

      member = read_value (r);
      if (member == NULL)
        return NULL;
      /* A repeated name: the last one wins, as with JsonParser. */
      if (!r->repeated && json_object_has_member (object, name))
        r->repeated = TRUE;
      json_object_set_member (object, name, member);

      skip_space (r);
      if (r->pos >= r->len)
        return NULL;
      if (r->text[r->pos] == '}')
        {
          r->pos++;
          return json_node_init_object (json_node_alloc (), object);
        }
      if (r->text[r->pos] != ',')
        return NULL;
      r->pos++;
    }
}

static JsonNode *
read_array (Reader *r)
{
  g_autoptr(JsonArray) array = json_array_new ();

  r->pos++;
  skip_space (r);
  if (r->pos < r->len && r->text[r->pos] == ']')
    {
      r->pos++;
      return json_node_init_array (json_node_alloc (), array);
    }

  for (;;)
    {
      JsonNode *element = read_value (r);

      if (element == NULL)
        return NULL;
      json_array_add_element (array, element);

      skip_space (r);
      if (r->pos >= r->len)
        return NULL;
      if (r->text[r->pos] == ']')
        {
          r->pos++;
          return json_node_init_array (json_node_alloc (), array);
        }
      if (r->text[r->pos] != ',')
        return NULL;
      r->pos++;
    }
}

static gboolean
read_literal (Reader     *r,
              const char *literal)
{
  gsize n = strlen (literal);

  if (r->len - r->pos < n || memcmp (r->text + r->pos, literal, n) != 0)
    return FALSE;
  r->pos += n;

  return TRUE;
}

static JsonNode *
read_value (Reader *r)
{
  JsonNode *node = NULL;

  skip_space (r);
  if (r->pos >= r->len || r->depth >= READER_MAX_DEPTH)
    return NULL;

  switch (r->text[r->pos])
    {
    case '{':
      r->depth++;
      node = read_object (r);
      r->depth--;
      break;

    case '[':
      r->depth++;
      node = read_array (r);
      r->depth--;
      break;

    case '"':
      if (read_string (r))
        node = json_node_init_string (json_node_alloc (), r->scratch->str);
      break;

    case 't':
      if (read_literal (r, "true"))
        node = json_node_init_boolean (json_node_alloc (), TRUE);
      break;

    case 'f':
      if (read_literal (r, "false"))
        node = json_node_init_boolean (json_node_alloc (), FALSE);
      break;

    case 'n':
      if (read_literal (r, "null"))
        node = json_node_init_null (json_node_alloc ());
      break;

    default:
      if (r->text[r->pos] == '-' || g_ascii_isdigit (r->text[r->pos]))
        node = read_number (r);
      break;
    }

  return node;
}

/**
 * helix_json_parse_valid_full:
 * @text: JSON text that helix_json_validate() accepted
 * @len: its length in bytes
 * @repeated: (out) (optional): whether some object of @text names a member
 *   twice (the tree has the last one, as JsonParser's would)
 *
 * Builds the JsonNode tree of @text, the same one JsonParser would, in a
 * fraction of the time. Text that helix_json_validate() would refuse gives
 * %NULL (never a partial tree), but callers validate first: only then are
 * the size, depth, UTF-8 and number checks done.
 *
 * Returns: (transfer full) (nullable): the root node
 */
JsonNode *
helix_json_parse_valid_full (const char *text,
                             gsize       len,
                             gboolean   *repeated)
{
  g_autoptr(GString) scratch = g_string_sized_new (64);
  Reader r = { text, len, 0, scratch, 0, FALSE };
  JsonNode *root;

  g_return_val_if_fail (text != NULL || len == 0, NULL);

  if (repeated != NULL)
    *repeated = FALSE;

  root = read_value (&r);
  if (root == NULL)
    return NULL;

  skip_space (&r);
  if (r.pos != r.len)
    {
      json_node_unref (root);
      return NULL;
    }

  if (repeated != NULL)
    *repeated = r.repeated;

  return root;
}

/**
 * helix_json_parse_valid:
 * @text: JSON text that helix_json_validate() accepted
 * @len: its length in bytes
 *
 * helix_json_parse_valid_full() without telling about repeated names.
 *
 * Returns: (transfer full) (nullable): the root node
 */
JsonNode *
helix_json_parse_valid (const char *text,
                        gsize       len)
{
  return helix_json_parse_valid_full (text, len, NULL);
}
