/* helix-sanitizer.c: secrets out of everything Helix writes down or sends
 *
 * One place that log lines, audit payloads and webhook bodies pass through.
 * It replaces with "[redacted]":
 *
 * - API keys by their shape: OpenAI and DeepSeek `sk-…`, Anthropic `sk-ant-…`,
 *   Google `AIza…`;
 * - bearer tokens (`Bearer …`), JSON Web Tokens (`eyJ….….…`);
 * - the values of JSON members and `name=value` pairs whose name says secret
 *   (password, secret, token, api_key, authorization…);
 * - every secret it was told of (helix_sanitizer_add_secret()): provider keys
 *   as they are loaded, device tokens as they are issued.
 *
 * It is safe to use from several threads.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-audit"

#include "config.h"

#include <string.h>

#include "helix-sanitizer.h"

/* A name that says its value is a secret. */
#define SECRET_NAME "(?:password|passwd|pass|secret|client_secret|token|access_token|refresh_token|" \
                    "api_key|apikey|api-key|x-api-key|x-goog-api-key|authorization|private_key)"

/* The rules, most specific first: each replacement is plain text for the next. */
static const struct
{
  const char *pattern;
  const char *replacement;
} rules[] = {
  /* "password": "…" in JSON, the escapes of the value included */
  { "(\"" SECRET_NAME "\"\\s*:\\s*\")(?:[^\"\\\\]|\\\\.)*(\")", "\\1" HELIX_SANITIZER_REDACTED "\\2" },
  /* password=… in forms, URLs and key files */
  { "(\\b" SECRET_NAME "\\s*=\\s*)[^&\\s\"';,]+", "\\1" HELIX_SANITIZER_REDACTED },
  /* Authorization: Bearer … */
  { "(\\b[Bb]earer\\s+)[A-Za-z0-9._~+/=-]{8,}", "\\1" HELIX_SANITIZER_REDACTED },
  /* JSON Web Tokens */
  { "\\beyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]{5,}", HELIX_SANITIZER_REDACTED },
  /* Anthropic, then OpenAI / DeepSeek / OpenRouter keys */
  { "\\bsk-ant-[A-Za-z0-9_-]{8,}", HELIX_SANITIZER_REDACTED },
  { "\\bsk-(?:proj-|or-v1-)?[A-Za-z0-9_-]{16,}", HELIX_SANITIZER_REDACTED },
  /* Google API keys */
  { "\\bAIza[0-9A-Za-z_-]{30,}", HELIX_SANITIZER_REDACTED },
};

/* What each rule cannot match without, for a quick look before the regex
 * (most text holds none of it): a rule may match a text only if the text
 * holds one of @literals (compared in ASCII lowercase for the caseless
 * rules) and, when set, the character @also. Only for ASCII text: under
 * Unicode case folding a caseless name may be spelt with other characters
 * ("ſ" for "s", the Kelvin sign for "k"). Keep in step with @rules. */
static const struct
{
  const char *literals[6];  /* any one of them, NULL-terminated */
  char        also;
  gboolean    caseless;
} needs[] = {
  { { "pass", "secret", "token", "key", "authorization", NULL }, '"', TRUE },
  { { "pass", "secret", "token", "key", "authorization", NULL }, '=', TRUE },
  { { "earer", NULL }, 0, FALSE },
  { { "eyJ", NULL }, 0, FALSE },
  { { "sk-ant-", NULL }, 0, FALSE },
  { { "sk-", NULL }, 0, FALSE },
  { { "AIza", NULL }, 0, FALSE },
};

G_STATIC_ASSERT (G_N_ELEMENTS (needs) == G_N_ELEMENTS (rules));

struct _HelixSanitizer
{
  GRegex    *regexes[G_N_ELEMENTS (rules)];
  GRWLock    lock;
  GPtrArray *secrets;   /* longest first */
};

/**
 * helix_sanitizer_new:
 *
 * Returns: (transfer full): a sanitizer that knows no secrets yet
 */
HelixSanitizer *
helix_sanitizer_new (void)
{
  HelixSanitizer *self = g_new0 (HelixSanitizer, 1);

  for (guint i = 0; i < G_N_ELEMENTS (rules); i++)
    {
      g_autoptr(GError) error = NULL;

      /* The names of secret members in any case; key shapes exactly. */
      GRegexCompileFlags flags = G_REGEX_OPTIMIZE | (i < 2 ? G_REGEX_CASELESS : 0);

      self->regexes[i] = g_regex_new (rules[i].pattern, flags, 0, &error);
      if (self->regexes[i] == NULL)
        g_error ("Sanitizer rule %u does not compile: %s", i, error->message);
    }
  g_rw_lock_init (&self->lock);
  self->secrets = g_ptr_array_new_with_free_func (g_free);

  return self;
}

/**
 * helix_sanitizer_get_default:
 *
 * Returns: (transfer none): the process's sanitizer
 */
HelixSanitizer *
helix_sanitizer_get_default (void)
{
  static HelixSanitizer *instance;
  static gsize initialized;

  if (g_once_init_enter (&initialized))
    {
      instance = helix_sanitizer_new ();
      g_once_init_leave (&initialized, 1);
    }

  return instance;
}

void
helix_sanitizer_free (HelixSanitizer *self)
{
  if (self == NULL)
    return;

  for (guint i = 0; i < G_N_ELEMENTS (rules); i++)
    g_regex_unref (self->regexes[i]);
  for (guint i = 0; i < self->secrets->len; i++)
    {
      char *secret = g_ptr_array_index (self->secrets, i);

      memset (secret, 0, strlen (secret));
    }
  g_ptr_array_unref (self->secrets);
  g_rw_lock_clear (&self->lock);
  g_free (self);
}

static gint
longest_first (gconstpointer a,
               gconstpointer b)
{
  gsize la = strlen (*(const char * const *) a);
  gsize lb = strlen (*(const char * const *) b);

  return (la < lb) - (la > lb);
}

/**
 * helix_sanitizer_add_secret:
 * @self: a sanitizer
 * @secret: a secret to redact wherever it appears (shorter than
 *   %HELIX_SANITIZER_MIN_SECRET: ignored)
 */
void
helix_sanitizer_add_secret (HelixSanitizer *self,
                            const char     *secret)
{
  g_return_if_fail (self != NULL);

  if (secret == NULL || strlen (secret) < HELIX_SANITIZER_MIN_SECRET)
    return;

  g_rw_lock_writer_lock (&self->lock);
  for (guint i = 0; i < self->secrets->len; i++)
    if (g_str_equal (g_ptr_array_index (self->secrets, i), secret))
      {
        g_rw_lock_writer_unlock (&self->lock);
        return;
      }
  g_ptr_array_add (self->secrets, g_strdup (secret));
  g_ptr_array_sort (self->secrets, longest_first);
  g_rw_lock_writer_unlock (&self->lock);
}

/* Forgets a secret (a revoked token, a removed key). */
void
helix_sanitizer_remove_secret (HelixSanitizer *self,
                               const char     *secret)
{
  g_return_if_fail (self != NULL);

  if (secret == NULL)
    return;

  g_rw_lock_writer_lock (&self->lock);
  for (guint i = 0; i < self->secrets->len; i++)
    if (g_str_equal (g_ptr_array_index (self->secrets, i), secret))
      {
        char *stored = g_ptr_array_index (self->secrets, i);

        memset (stored, 0, strlen (stored));
        g_ptr_array_remove_index (self->secrets, i);
        break;
      }
  g_rw_lock_writer_unlock (&self->lock);
}

static char *
replace_all (const char *text,
             const char *secret)
{
  g_autoptr(GString) out = NULL;
  const char *p = text;
  const char *hit;
  gsize len = strlen (secret);

  if ((hit = strstr (text, secret)) == NULL)
    return NULL;

  out = g_string_new (NULL);
  do
    {
      g_string_append_len (out, p, hit - p);
      g_string_append (out, HELIX_SANITIZER_REDACTED);
      p = hit + len;
    }
  while ((hit = strstr (p, secret)) != NULL);
  g_string_append (out, p);

  return g_string_free (g_steal_pointer (&out), FALSE);
}

static gboolean
is_ascii (const char *text)
{
  for (const guchar *p = (const guchar *) text; *p != '\0'; p++)
    if (*p >= 0x80)
      return FALSE;

  return TRUE;
}

/* Whether rule @i could match the ASCII @text (see @needs); @lowered caches
 * @text in lowercase for the caseless rules. */
static gboolean
rule_may_match (guint        i,
                const char  *text,
                char       **lowered)
{
  const char *haystack = text;

  if (needs[i].also != 0 && strchr (text, needs[i].also) == NULL)
    return FALSE;

  if (needs[i].caseless)
    {
      if (*lowered == NULL)
        *lowered = g_ascii_strdown (text, -1);
      haystack = *lowered;
    }

  for (guint j = 0; needs[i].literals[j] != NULL; j++)
    if (strstr (haystack, needs[i].literals[j]) != NULL)
      return TRUE;

  return FALSE;
}

/**
 * helix_sanitizer_redact:
 * @self: a sanitizer
 * @text: (nullable): text that may hold secrets; invalid UTF-8 is made valid first
 *
 * Returns: (transfer full) (nullable): @text without its secrets
 */
char *
helix_sanitizer_redact (HelixSanitizer *self,
                        const char     *text)
{
  g_autofree char *out = NULL;
  g_autofree char *lowered = NULL;
  gboolean ascii;

  g_return_val_if_fail (self != NULL, NULL);

  if (text == NULL)
    return NULL;

  out = g_utf8_make_valid (text, -1);

  g_rw_lock_reader_lock (&self->lock);
  for (guint i = 0; i < self->secrets->len; i++)
    {
      char *replaced = replace_all (out, g_ptr_array_index (self->secrets, i));

      if (replaced != NULL)
        {
          g_free (out);
          out = replaced;
        }
    }
  g_rw_lock_reader_unlock (&self->lock);

  ascii = is_ascii (out);
  for (guint i = 0; i < G_N_ELEMENTS (rules); i++)
    {
      char *replaced;

      if (ascii && !rule_may_match (i, out, &lowered))
        continue;
      if (!g_regex_match (self->regexes[i], out, 0, NULL))
        continue;
      replaced = g_regex_replace (self->regexes[i], out, -1, 0, rules[i].replacement, 0, NULL);
      if (replaced != NULL)
        {
          g_free (out);
          out = replaced;
          /* The replacement is ASCII: @out stays ASCII if it was. */
          g_clear_pointer (&lowered, g_free);
        }
    }

  return g_steal_pointer (&out);
}

/* Whether @text holds nothing the sanitizer would redact. */
gboolean
helix_sanitizer_is_clean (HelixSanitizer *self,
                          const char     *text)
{
  g_autofree char *redacted = NULL;

  g_return_val_if_fail (self != NULL, FALSE);

  redacted = helix_sanitizer_redact (self, text);
  return g_strcmp0 (redacted, text) == 0;
}
