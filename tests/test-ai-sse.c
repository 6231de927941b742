/* test-ai-sse.c: the Server-Sent Events parser, fed split at every point
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include "helix-sse-parser.h"

typedef struct
{
  const char *name;
  const char *input;
  gssize      len;        /* -1: strlen (input) */
  gsize       max_line;   /* 0: default */
  gsize       max_event;  /* 0: default */
  const char *events;     /* "type|last-id|data;" for each event */
  int         error;      /* a HelixSseError, or -1 */
  gint64      retry;
  gboolean    pending;    /* bytes left that no event used */
} Case;

static const Case cases[] = {
  { "lf", "data: hello\n\n", -1, 0, 0, "message||hello;", -1, -1, FALSE },
  { "crlf", "data: a\r\ndata: b\r\n\r\n", -1, 0, 0, "message||a\nb;", -1, -1, FALSE },
  { "cr", "data: a\rdata: b\r\r", -1, 0, 0, "message||a\nb;", -1, -1, FALSE },
  { "mixed-ends", "data: x\r\n\rdata: y\n\ndata: z\r\r\n", -1, 0, 0,
    "message||x;message||y;message||z;", -1, -1, FALSE },
  { "comments", ": hello\ndata: a\n:\n: more\n\n", -1, 0, 0, "message||a;", -1, -1, FALSE },
  { "only-comments", ": keep-alive\n\n: keep-alive\n\n", -1, 0, 0, "", -1, -1, FALSE },
  { "event-type", "event: delta\ndata: {}\n\ndata: 2\n\n", -1, 0, 0,
    "delta||{};message||2;", -1, -1, FALSE },
  { "event-empty-type", "event:\ndata: a\n\n", -1, 0, 0, "message||a;", -1, -1, FALSE },
  { "event-without-data", "event: x\nid: 7\n\ndata: a\n\n", -1, 0, 0, "message|7|a;", -1, -1, FALSE },
  { "id-persists", "id: 42\ndata: a\n\ndata: b\n\nid\ndata: c\n\n", -1, 0, 0,
    "message|42|a;message|42|b;message||c;", -1, -1, FALSE },
  { "no-space", "data:a\n\n", -1, 0, 0, "message||a;", -1, -1, FALSE },
  { "two-spaces", "data:  a \n\n", -1, 0, 0, "message|| a ;", -1, -1, FALSE },
  { "colon-in-value", "data: a: b:c\n\n", -1, 0, 0, "message||a: b:c;", -1, -1, FALSE },
  { "field-without-colon", "data\ndata\n\n", -1, 0, 0, "message||\n;", -1, -1, FALSE },
  { "empty-data", "data:\n\n", -1, 0, 0, "message||;", -1, -1, FALSE },
  { "multi-line", "data: one\ndata:\ndata: three\n\n", -1, 0, 0, "message||one\n\nthree;", -1, -1, FALSE },
  { "unknown-field", "foo: bar\nDATA: no\ndata: a\n\n", -1, 0, 0, "message||a;", -1, -1, FALSE },
  { "bom", "\xEF\xBB\xBF" "data: a\n\n", -1, 0, 0, "message||a;", -1, -1, FALSE },
  { "bom-once", "\xEF\xBB\xBF\xEF\xBB\xBF" "data: a\n\n", -1, 0, 0, "", -1, -1, FALSE },
  { "bom-alone-line", "\xEF\xBB\xBF\ndata: a\n\n", -1, 0, 0, "message||a;", -1, -1, FALSE },
  { "utf8", "data: h\xC3\xA9llo \xE2\x9C\x93 \xF0\x9F\x8E\x89\n\n", -1, 0, 0,
    "message||h\xC3\xA9llo \xE2\x9C\x93 \xF0\x9F\x8E\x89;", -1, -1, FALSE },
  { "blank-lines", "\n\n\ndata: a\n\n\n\n", -1, 0, 0, "message||a;", -1, -1, FALSE },
  { "no-final-blank", "data: a\n\ndata: b\n", -1, 0, 0, "message||a;", -1, -1, TRUE },
  { "no-final-eol", "data: a\n\ndata: b", -1, 0, 0, "message||a;", -1, -1, TRUE },
  { "retry", "retry: 1500\n\n", -1, 0, 0, "", -1, 1500, FALSE },
  { "retry-invalid", "retry: 15x\nretry: -1\nretry:\n\n", -1, 0, 0, "", -1, -1, FALSE },
  { "openai",
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
    ": OPENROUTER PROCESSING\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}}\n\n"
    "data: [DONE]\n\n", -1, 0, 0,
    "message||{\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]};"
    "message||{\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]};"
    "message||{\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}};"
    "message||[DONE];", -1, -1, FALSE },
  { "anthropic",
    "event: message_start\r\ndata: {\"type\":\"message_start\"}\r\n\r\n"
    "event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n", -1, 0, 0,
    "message_start||{\"type\":\"message_start\"};ping||{\"type\": \"ping\"};", -1, -1, FALSE },

  /* Errors: the events before the bad line are still delivered. */
  { "invalid-utf8", "data: a\n\ndata: \xC3\x28\n\ndata: b\n\n", -1, 0, 0, "message||a;",
    HELIX_SSE_ERROR_INVALID_UTF8, -1, FALSE },
  { "truncated-utf8", "data: \xE2\x9C\n\n", -1, 0, 0, "", HELIX_SSE_ERROR_INVALID_UTF8, -1, FALSE },
  { "overlong-utf8", "data: \xC0\xAF\n\n", -1, 0, 0, "", HELIX_SSE_ERROR_INVALID_UTF8, -1, FALSE },
  { "nul", "data: a\0b\n\n", 11, 0, 0, "", HELIX_SSE_ERROR_INVALID_UTF8, -1, FALSE },
  { "half-bom", "\xEF\xBB" "data: a\n\n", -1, 0, 0, "", HELIX_SSE_ERROR_INVALID_UTF8, -1, FALSE },
  { "line-limit-ok", "data: 0123456789\n\n", -1, 16, 0, "message||0123456789;", -1, -1, FALSE },
  { "line-too-long", "data: 0123456789a\n\n", -1, 16, 0, "", HELIX_SSE_ERROR_LINE_TOO_LONG, -1, FALSE },
  { "line-too-long-no-eol", "data: 0123456789abcdefghijklmnopqrstuvwxyz", -1, 16, 0, "",
    HELIX_SSE_ERROR_LINE_TOO_LONG, -1, FALSE },
  { "event-limit-ok", "data: 1234\ndata: 56789\n\n", -1, 0, 10, "message||1234\n56789;", -1, -1, FALSE },
  { "event-too-large", "data: 12345\ndata: 67890\n\n", -1, 0, 10, "",
    HELIX_SSE_ERROR_EVENT_TOO_LARGE, -1, FALSE },
  { "event-too-large-many-lines", "data\ndata\ndata\ndata\n\n", -1, 0, 2, "",
    HELIX_SSE_ERROR_EVENT_TOO_LARGE, -1, FALSE },
};

typedef struct
{
  GString *events;
} Collector;

static gboolean
collect_cb (const HelixSseEvent *event,
            gpointer             user_data)
{
  Collector *collector = user_data;

  g_assert_cmpuint (strlen (event->data), ==, event->data_len);
  g_string_append_printf (collector->events, "%s|%s|%s;",
                          event->type, event->last_event_id, event->data);
  return TRUE;
}

/* Feeds the input cut at the given offsets (ascending, may repeat). */
static void
run_case (const Case  *c,
          const gsize *cuts,
          guint        n_cuts,
          const char  *how)
{
  Collector collector = { g_string_new (NULL) };
  gsize len = c->len < 0 ? strlen (c->input) : (gsize) c->len;
  g_autoptr(HelixSseParser) parser = helix_sse_parser_new (collect_cb, &collector, NULL);
  g_autoptr(GError) error = NULL;
  gsize start = 0;

  if (c->max_line > 0 || c->max_event > 0)
    helix_sse_parser_set_limits (parser,
                                 c->max_line > 0 ? c->max_line : HELIX_SSE_PARSER_DEFAULT_MAX_LINE,
                                 c->max_event > 0 ? c->max_event : HELIX_SSE_PARSER_DEFAULT_MAX_EVENT);

  for (guint i = 0; i <= n_cuts && error == NULL; i++)
    {
      gsize stop = i < n_cuts ? cuts[i] : len;

      helix_sse_parser_feed (parser, c->input + start, stop - start, &error);
      start = stop;
    }

  if (g_strcmp0 (collector.events->str, c->events) != 0)
    g_error ("case %s (%s): got events \"%s\", expected \"%s\"",
             c->name, how, collector.events->str, c->events);

  if (c->error >= 0)
    {
      g_autoptr(GError) again = NULL;

      if (!g_error_matches (error, HELIX_SSE_ERROR, c->error))
        g_error ("case %s (%s): expected error %d, got %s", c->name, how, c->error,
                 error != NULL ? error->message : "none");
      /* The error sticks. */
      g_assert_false (helix_sse_parser_feed (parser, "data: x\n\n", 9, &again));
      g_assert_error (again, HELIX_SSE_ERROR, c->error);
    }
  else
    {
      if (error != NULL)
        g_error ("case %s (%s): unexpected error: %s", c->name, how, error->message);
      g_assert_cmpint (helix_sse_parser_get_retry (parser), ==, c->retry);
      if (helix_sse_parser_has_pending (parser) != c->pending)
        g_error ("case %s (%s): pending is %d", c->name, how, !c->pending);
    }

  g_string_free (collector.events, TRUE);
}

static void
test_whole (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    run_case (&cases[i], NULL, 0, "whole");
}

static void
test_byte_by_byte (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const Case *c = &cases[i];
      gsize len = c->len < 0 ? strlen (c->input) : (gsize) c->len;
      g_autofree gsize *cuts = g_new (gsize, len + 1);

      for (gsize k = 0; k <= len; k++)
        cuts[k] = k;
      run_case (c, cuts, len + 1, "byte by byte");
    }
}

/* Every split point, and every pair of split points (three pieces). */
static void
test_every_split (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const Case *c = &cases[i];
      gsize len = c->len < 0 ? strlen (c->input) : (gsize) c->len;

      for (gsize a = 0; a <= len; a++)
        {
          gsize one[1] = { a };

          run_case (c, one, 1, "one split");
          for (gsize b = a; b <= len; b++)
            {
              gsize two[2] = { a, b };

              run_case (c, two, 2, "two splits");
            }
        }
    }
}

static gboolean
stop_cb (const HelixSseEvent *event,
         gpointer             user_data)
{
  guint *count = user_data;

  (*count)++;
  return FALSE;
}

static void
test_stop (void)
{
  guint count = 0;
  g_autoptr(HelixSseParser) parser = helix_sse_parser_new (stop_cb, &count, NULL);
  g_autoptr(GError) error = NULL;
  const char *input = "data: [DONE]\n\ndata: after\n\n";

  g_assert_true (helix_sse_parser_feed (parser, input, strlen (input), &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count, ==, 1);
  g_assert_true (helix_sse_parser_is_stopped (parser));
  g_assert_true (helix_sse_parser_feed (parser, input, strlen (input), &error));
  g_assert_cmpuint (count, ==, 1);
}

/* A long stream in random chunk sizes: 10,000 events, each checked. */
static void
test_long_stream (void)
{
  Collector collector = { g_string_new (NULL) };
  g_autoptr(HelixSseParser) parser = helix_sse_parser_new (collect_cb, &collector, NULL);
  g_autoptr(GString) input = g_string_new (NULL);
  g_autoptr(GString) expected = g_string_new (NULL);
  g_autoptr(GRand) rand = g_rand_new_with_seed (4);
  gsize offset = 0;

  for (guint i = 0; i < 10000; i++)
    {
      static const char * const ends[] = { "\n", "\r\n", "\r" };
      const char *end = ends[i % 3];

      g_string_append_printf (input, "id: %u%sdata: \xE2\x9C\x93 %u%sdata: x%s%s", i, end, i, end, end, end);
      g_string_append_printf (expected, "message|%u|\xE2\x9C\x93 %u\nx;", i, i);
    }

  while (offset < input->len)
    {
      gsize n = MIN ((gsize) g_rand_int_range (rand, 1, 700), input->len - offset);
      g_autoptr(GError) error = NULL;

      g_assert_true (helix_sse_parser_feed (parser, input->str + offset, n, &error));
      g_assert_no_error (error);
      offset += n;
    }

  g_assert_cmpstr (collector.events->str, ==, expected->str);
  g_string_free (collector.events, TRUE);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/helix/ai/sse/whole", test_whole);
  g_test_add_func ("/helix/ai/sse/byte-by-byte", test_byte_by_byte);
  g_test_add_func ("/helix/ai/sse/every-split", test_every_split);
  g_test_add_func ("/helix/ai/sse/stop", test_stop);
  g_test_add_func ("/helix/ai/sse/long-stream", test_long_stream);

  return g_test_run ();
}
