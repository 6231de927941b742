/* test-sanitizer.c: secrets never pass the sanitizer
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "helix-sanitizer.h"

typedef struct
{
  const char *in;
  const char *out;
} Case;

static void
test_shapes (void)
{
  static const Case cases[] = {
    { "key sk-abcdefghijklmnopqrstuvwx1234 used", "key [redacted] used" },
    { "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz012345", "[redacted]" },
    { "anthropic sk-ant-api03-AbCdEfGh_ij-KlMn0123456789", "anthropic [redacted]" },
    { "google AIzaSyA1234567890abcdefghijklmnopqrstu!", "google [redacted]!" },
    { "Authorization: Bearer abcDEF123._~+/=xyz", "Authorization: Bearer [redacted]" },
    { "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk then",
      "jwt [redacted] then" },
    { "{\"username\":\"bob\",\"password\":\"hunter2 \\\"quoted\\\"\"}",
      "{\"username\":\"bob\",\"password\":\"[redacted]\"}" },
    { "{\"API_KEY\" : \"xyz\", \"token\":\"t\"}", "{\"API_KEY\" : \"[redacted]\", \"token\":\"[redacted]\"}" },
    { "login?user=bob&password=s3cr3t&next=/", "login?user=bob&password=[redacted]&next=/" },
    { "client_secret = abc123; other", "client_secret = [redacted]; other" },
    /* Several rules in one line, and a replacement followed by more */
    { "GET /x?Token=abc&q=1 Bearer abcdefgh123 sk-ant-api03-AbCdEfGh_ij",
      "GET /x?Token=[redacted]&q=1 Bearer [redacted] [redacted]" },
    /* Names in other cases and spellings: Unicode case folding (long s,
     * Kelvin sign), which a quick look at ASCII letters would miss */
    { "PaSsWoRd=abc", "PaSsWoRd=[redacted]" },
    { "pa\u017f\u017fword=abc", "pa\u017f\u017fword=[redacted]" },
    { "api_\u212aey=abc", "api_\u212aey=[redacted]" },
    /* Not secrets */
    { "GET /api/v1/sessions 200 0.2 ms request-id=0123456789abcdef",
      "GET /api/v1/sessions 200 0.2 ms request-id=0123456789abcdef" },
    { "the task: sketch a plan", "the task: sketch a plan" },
    { "sk-short", "sk-short" },
    { "{\"passwords_changed\":3}", "{\"passwords_changed\":3}" },
    { "", "" },
  };
  g_autoptr(HelixSanitizer) sanitizer = helix_sanitizer_new ();

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *out = helix_sanitizer_redact (sanitizer, cases[i].in);

      g_assert_cmpstr (out, ==, cases[i].out);
      g_assert_true (helix_sanitizer_is_clean (sanitizer, out));
    }

  g_assert_null (helix_sanitizer_redact (sanitizer, NULL));
}

static void
test_known_secrets (void)
{
  g_autoptr(HelixSanitizer) sanitizer = helix_sanitizer_new ();
  g_autofree char *out = NULL;
  g_autofree char *out2 = NULL;
  g_autofree char *bad = NULL;

  /* A device token has no telling shape: it is known. */
  helix_sanitizer_add_secret (sanitizer, "Zm9vYmFyYmF6cXV4cXV1eA");
  helix_sanitizer_add_secret (sanitizer, "short");
  out = helix_sanitizer_redact (sanitizer, "token Zm9vYmFyYmF6cXV4cXV1eA and Zm9vYmFyYmF6cXV4cXV1eA; short");
  g_assert_cmpstr (out, ==, "token [redacted] and [redacted]; short");

  helix_sanitizer_remove_secret (sanitizer, "Zm9vYmFyYmF6cXV4cXV1eA");
  out2 = helix_sanitizer_redact (sanitizer, "Zm9vYmFyYmF6cXV4cXV1eA");
  g_assert_cmpstr (out2, ==, "Zm9vYmFyYmF6cXV4cXV1eA");

  /* Invalid UTF-8 comes out valid. */
  bad = helix_sanitizer_redact (sanitizer, "a\xff b");
  g_assert_true (g_utf8_validate (bad, -1, NULL));
}

static gpointer
redact_many (gpointer data)
{
  HelixSanitizer *sanitizer = data;

  for (guint i = 0; i < 2000; i++)
    {
      g_autofree char *out = helix_sanitizer_redact (sanitizer, "x sk-abcdefghijklmnopqrstuvwx1234 secret-value-42");

      g_assert_cmpstr (out, ==, "x [redacted] [redacted]");
    }

  return NULL;
}

static void
test_threads (void)
{
  HelixSanitizer *sanitizer = helix_sanitizer_get_default ();
  GThread *threads[4];

  g_assert_true (sanitizer == helix_sanitizer_get_default ());
  helix_sanitizer_add_secret (sanitizer, "secret-value-42");
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("redact", redact_many, sanitizer);
  for (guint i = 0; i < 200; i++)
    helix_sanitizer_add_secret (sanitizer, "another-secret-value");
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/helix/sanitizer/shapes", test_shapes);
  g_test_add_func ("/helix/sanitizer/known-secrets", test_known_secrets);
  g_test_add_func ("/helix/sanitizer/threads", test_threads);

  return g_test_run ();
}
