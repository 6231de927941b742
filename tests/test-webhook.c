/* test-webhook.c: audit entries reach webhooks at least once, in order, within their limits
 *
 * Loopback receivers written here (SoupServer on 127.0.0.1) answer as real
 * ones do: 200, 500, 429 with Discord's `retry_after`, rate-limit headers,
 * or not at all; one is killed and started again on its port. After dropping
 * duplicates by seq, every entry arrived, in order, and a Discord sink never
 * sent more than 5 messages in 5 seconds.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "helix-webhook-queue.h"
#include "helix-test-server.h"
#include "helix-test-util.h"

typedef enum
{
  ANSWER_OK,
  ANSWER_ERROR,       /* 500 */
  ANSWER_RATE_LIMIT,  /* 429, retry_after 0.2 s */
  ANSWER_HANG,        /* never answers: the client times out */
} Answer;

typedef struct
{
  HelixTestServer http;
  GQueue      script;        /* Answer, for the next requests; then OK */
  GArray     *seqs;          /* every seq received in a 2xx-answered request, in order */
  GArray     *times;         /* monotonic µs of every request */
  GPtrArray  *hung;          /* messages left unanswered */
  gboolean    discord;
  guint       n_requests;
} Receiver;

static void
collect_seqs (Receiver   *r,
              JsonObject *root)
{
  if (r->discord)
    {
      JsonArray *embeds = json_object_get_array_member (root, "embeds");

      g_assert_cmpuint (json_array_get_length (embeds), <=, 10);
      for (guint i = 0; i < json_array_get_length (embeds); i++)
        {
          JsonObject *embed = json_array_get_object_element (embeds, i);
          const char *footer = json_object_get_string_member (json_object_get_object_member (embed, "footer"), "text");
          gint64 seq = g_ascii_strtoll (footer + strlen ("seq "), NULL, 10);

          g_assert_true (g_str_has_prefix (footer, "seq "));
          g_array_append_val (r->seqs, seq);
        }
    }
  else
    {
      JsonArray *entries = json_object_get_array_member (root, "entries");

      for (guint i = 0; i < json_array_get_length (entries); i++)
        {
          JsonObject *entry = json_array_get_object_element (entries, i);
          gint64 seq = json_object_get_int_member (entry, "seq");

          g_assert_true (json_object_has_member (entry, "entry"));
          g_array_append_val (r->seqs, seq);
        }
    }
}

static void
handle (SoupServer        *server,
        SoupServerMessage *msg,
        const char        *path,
        GHashTable        *query,
        gpointer           user_data)
{
  Receiver *r = user_data;
  Answer answer = g_queue_is_empty (&r->script) ? ANSWER_OK
                                                : GPOINTER_TO_UINT (g_queue_pop_head (&r->script));
  gint64 now = g_get_monotonic_time ();
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) flat = soup_message_body_flatten (body);
  g_autoptr(JsonParser) parser = json_parser_new ();

  r->n_requests++;
  g_array_append_val (r->times, now);
  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (flat, NULL),
                                             g_bytes_get_size (flat), NULL));

  switch (answer)
    {
    case ANSWER_OK:
      collect_seqs (r, json_node_get_object (json_parser_get_root (parser)));
      soup_server_message_set_status (msg, r->discord ? 204 : 200, NULL);
      if (r->discord)
        {
          SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

          soup_message_headers_replace (headers, "X-RateLimit-Limit", "5");
          soup_message_headers_replace (headers, "X-RateLimit-Remaining", "4");
        }
      break;

    case ANSWER_ERROR:
      soup_server_message_set_status (msg, 500, NULL);
      break;

    case ANSWER_RATE_LIMIT:
      soup_server_message_set_status (msg, 429, NULL);
      soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC,
                                        "{\"message\":\"You are being rate limited.\",\"retry_after\":0.2,\"global\":false}",
                                        strlen ("{\"message\":\"You are being rate limited.\",\"retry_after\":0.2,\"global\":false}"));
      break;

    case ANSWER_HANG:
      soup_server_message_pause (msg);
      g_ptr_array_add (r->hung, g_object_ref (msg));
      break;

    default:
      g_assert_not_reached ();
    }
}

static Receiver *
receiver_new (gboolean discord)
{
  Receiver *r = g_new0 (Receiver, 1);

  r->discord = discord;
  r->seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  r->times = g_array_new (FALSE, FALSE, sizeof (gint64));
  r->hung = g_ptr_array_new_with_free_func (g_object_unref);
  g_queue_init (&r->script);
  helix_test_server_start (&r->http, handle, r);

  return r;
}

static void
receiver_kill (Receiver *r)
{
  g_ptr_array_set_size (r->hung, 0);
  helix_test_server_stop (&r->http);
}

static void
receiver_free (Receiver *r)
{
  g_ptr_array_set_size (r->hung, 0);
  helix_test_server_clear (&r->http);
  g_array_unref (r->seqs);
  g_array_unref (r->times);
  g_ptr_array_unref (r->hung);
  g_queue_clear (&r->script);
  g_free (r);
}

static char *
receiver_url (Receiver *r)
{
  return helix_test_server_url (&r->http, "/hook");
}

static void
script (Receiver *r,
        Answer    answer,
        guint     times)
{
  for (guint i = 0; i < times; i++)
    g_queue_push_tail (&r->script, GUINT_TO_POINTER (answer));
}

static void
enqueue_range (HelixWebhookQueue *queue,
               const char        *sink,
               gint64             first,
               gint64             last)
{
  for (gint64 seq = first; seq <= last; seq++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *entry = g_strdup_printf ("{\"seq\":%" G_GINT64_FORMAT ",\"event\":\"tool.run\","
                                                "\"payload\":{\"command\":\"ls\"}}", seq);

      g_assert_true (helix_webhook_queue_enqueue (queue, sink, seq, "commands", entry, &error));
      g_assert_no_error (error);
    }
}

/* After dropping repeats: 1…n, first seen in order. */
static void
assert_complete (GArray *seqs,
                 gint64  n)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_int64_hash, g_int64_equal);
  gint64 next = 1;

  for (guint i = 0; i < seqs->len; i++)
    {
      gint64 *seq = &g_array_index (seqs, gint64, i);

      if (g_hash_table_contains (seen, seq))
        continue;
      g_assert_cmpint (*seq, ==, next);
      g_hash_table_add (seen, seq);
      next++;
    }
  g_assert_cmpint (next - 1, ==, n);
}

typedef struct
{
  char *dir;
  char *path;
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  f->dir = g_dir_make_tmp ("helix-webhook-XXXXXX", NULL);
  f->path = g_build_filename (f->dir, "webhooks.db", NULL);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  helix_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->path);
}

static gint
compare_int64 (gconstpointer a,
               gconstpointer b)
{
  gint64 x = *(const gint64 *) a;
  gint64 y = *(const gint64 *) b;

  return (x > y) - (x < y);
}

static void
count_failing (HelixWebhookQueue *queue,
               const char        *sink,
               const char        *error,
               guint             *n)
{
  (*n)++;
}

static void
count_recovered (HelixWebhookQueue *queue,
                 const char        *sink,
                 guint             *n)
{
  (*n)++;
}

static gboolean
restart_cb (gpointer user_data)
{
  Receiver *r = user_data;

  helix_test_server_start (&r->http, handle, r);
  return G_SOURCE_REMOVE;
}

static void
test_json_failover (Fixture       *f,
                    gconstpointer  data)
{
  Receiver *primary = receiver_new (FALSE);
  Receiver *backup = receiver_new (FALSE);
  g_autoptr(HelixWebhookQueue) queue = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = receiver_url (primary);
  g_autofree char *backup_url = receiver_url (backup);
  g_autoptr(GArray) all = g_array_new (FALSE, FALSE, sizeof (gint64));
  guint n_failing = 0;
  guint n_recovered = 0;

  queue = helix_webhook_queue_open (f->path, &error);
  g_assert_no_error (error);
  helix_webhook_queue_set_timing (queue, 1, 20, 200, 1);
  helix_webhook_queue_set_checkpoint (queue, "helix-audit/test\n7\nAAAA\n\n\xe2\x80\x94 x y\n");
  g_assert_true (helix_webhook_queue_add_sink (queue, "ops", HELIX_WEBHOOK_FORMAT_JSON, url,
                                               backup_url, &error));
  g_signal_connect (queue, "sink-failing", G_CALLBACK (count_failing), &n_failing);
  g_signal_connect (queue, "sink-recovered", G_CALLBACK (count_recovered), &n_recovered);

  /* 500 twice, a 429, a request that hangs: the primary fails three times
   * in a row, so the backup takes over. */
  script (primary, ANSWER_ERROR, 2);
  script (primary, ANSWER_RATE_LIMIT, 1);
  script (primary, ANSWER_HANG, 1);
  script (backup, ANSWER_ERROR, 1);
  enqueue_range (queue, "ops", 1, 60);
  helix_webhook_queue_start (queue);
  helix_test_wait_for (helix_webhook_queue_get_pending (queue, "ops") == 0, 60, "the first 60");
  g_assert_cmpuint (backup->seqs->len, >, 0);

  /* The backup dies and comes back on its port; the primary is fine again. */
  receiver_kill (backup);
  g_timeout_add_once (300, (GSourceOnceFunc) restart_cb, backup);
  enqueue_range (queue, "ops", 61, 200);
  helix_test_wait_for (helix_webhook_queue_get_pending (queue, "ops") == 0, 60, "all 200");
  helix_test_wait_for (backup->http.server != NULL, 60, "the backup back");

  /* Each receiver in order; both together complete, after dropping repeats. */
  g_array_append_vals (all, primary->seqs->data, primary->seqs->len);
  g_array_append_vals (all, backup->seqs->data, backup->seqs->len);
  {
    g_autoptr(GArray) merged = g_array_new (FALSE, FALSE, sizeof (gint64));

    /* The sink delivers one batch at a time: the union sorted by first arrival is the union sorted. */
    g_array_append_vals (merged, all->data, all->len);
    g_array_sort (merged, compare_int64);
    assert_complete (merged, 200);
  }
  for (guint i = 1; i < primary->seqs->len; i++)
    g_assert_cmpint (g_array_index (primary->seqs, gint64, i), >, g_array_index (primary->seqs, gint64, i - 1));

  /* It failed for over a second once: one alert, one recovery. */
  g_assert_cmpuint (n_failing, ==, 1);
  g_assert_cmpuint (n_recovered, ==, 1);
  g_assert_null (helix_webhook_queue_get_last_error (queue, "ops"));

  helix_test_assert_finalized (g_steal_pointer (&queue));
  receiver_free (primary);
  receiver_free (backup);
}

static void
test_discord_limits (Fixture       *f,
                     gconstpointer  data)
{
  Receiver *discord = receiver_new (TRUE);
  g_autoptr(HelixWebhookQueue) queue = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = receiver_url (discord);

  queue = helix_webhook_queue_open (f->path, &error);
  g_assert_no_error (error);
  helix_webhook_queue_set_timing (queue, 2, 20, 200, 60);
  g_assert_true (helix_webhook_queue_add_sink (queue, "discord", HELIX_WEBHOOK_FORMAT_DISCORD, url,
                                               NULL, &error));
  script (discord, ANSWER_RATE_LIMIT, 1);
  script (discord, ANSWER_OK, 2);
  script (discord, ANSWER_RATE_LIMIT, 1);
  enqueue_range (queue, "discord", 1, 70);
  helix_webhook_queue_start (queue);
  helix_test_wait_for (helix_webhook_queue_get_pending (queue, "discord") == 0, 60, "70 entries");
  assert_complete (discord->seqs, 70);

  /* Never more than 5 requests in any 5 seconds. */
  for (guint i = 5; i < discord->times->len; i++)
    g_assert_cmpint (g_array_index (discord->times, gint64, i) -
                     g_array_index (discord->times, gint64, i - 5), >=, 5 * G_USEC_PER_SEC - 50000);

  helix_test_assert_finalized (g_steal_pointer (&queue));
  receiver_free (discord);
}

static void
test_restart (Fixture       *f,
              gconstpointer  data)
{
  Receiver *r = receiver_new (FALSE);
  g_autoptr(HelixWebhookQueue) queue = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = receiver_url (r);

  /* Queued, not delivered, closed: nothing lost. */
  queue = helix_webhook_queue_open (f->path, &error);
  g_assert_no_error (error);
  g_assert_true (helix_webhook_queue_add_sink (queue, "ops", HELIX_WEBHOOK_FORMAT_JSON, url, NULL,
                                               &error));
  enqueue_range (queue, "ops", 1, 25);
  helix_webhook_queue_close (queue);
  helix_test_assert_finalized (g_steal_pointer (&queue));

  queue = helix_webhook_queue_open (f->path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (helix_webhook_queue_get_pending (queue, "ops"), ==, 25);
  g_assert_true (helix_webhook_queue_add_sink (queue, "ops", HELIX_WEBHOOK_FORMAT_JSON, url, NULL,
                                               &error));
  helix_webhook_queue_start (queue);
  helix_test_wait_for (helix_webhook_queue_get_pending (queue, "ops") == 0, 60, "the queued entries");
  assert_complete (r->seqs, 25);

  /* Bad sinks and entries */
  g_assert_false (helix_webhook_queue_add_sink (queue, "bad", HELIX_WEBHOOK_FORMAT_JSON,
                                                "ftp://example.com/x", NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);

  helix_test_assert_finalized (g_steal_pointer (&queue));
  receiver_free (r);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/helix/webhook/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("json-failover", test_json_failover);
  ADD ("discord-limits", test_discord_limits);
  ADD ("restart", test_restart);

  return g_test_run ();
}
