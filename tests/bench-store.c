/* bench-store.c: store benchmarks
 *
 * Prints lines `BENCH <name> <value> <unit>`. Run with `meson test -C <build> --benchmark`.
 *
 *   store_import_msgs_per_s   bulk import of 1,000,000 messages, FTS index kept in step
 *   store_fts_p95_ms          FTS search over those messages, 50 newest hits
 *   store_open_last50_ms      open a 100,000-message session and fetch its last 50
 *   store_append_p99_ms       one durable message append (its own commit)
 *   store_row_bytes           list-model heap per message row of a 100,000-row session,
 *                             after scrolling through all of it
 *   store_cached_row_bytes    the same heap divided by the rows actually cached
 *   fsync_p50_us, fsync_p99_us one fdatasync of 4 KiB on this disk, for context
 *
 * HELIX_BENCH_MESSAGES overrides the 1,000,000 (for a quick run).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "helix-core.h"
#include "helix-store-private.h"
#include "helix-test-util.h"

#define BATCH 20000
#define N_WORDS 4000

static char *words[N_WORDS];
static double zipf_cdf[N_WORDS];

/* A deterministic vocabulary of pronounceable words with a Zipf distribution, so the
 * text has the skew of real chat: a few words everywhere, most words rare. */
static void
make_vocabulary (GRand *rand)
{
  static const char * const syllables[] = {
    "ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "ga", "ben", "cor", "dal", "fen",
    "gil", "hun", "jor", "lin", "mur", "nat", "ost", "pra", "qui", "ros", "sel", "tor",
    "ul", "ven", "wex", "yor", "zan", "ar", "ex", "in", "on", "um",
  };
  double sum = 0;

  for (guint i = 0; i < N_WORDS; i++)
    {
      GString *w = g_string_new (NULL);
      guint n = 1 + g_rand_int_range (rand, 0, 3) + (i > 200);

      for (guint j = 0; j < n; j++)
        g_string_append (w, syllables[g_rand_int_range (rand, 0, G_N_ELEMENTS (syllables))]);
      g_string_append_printf (w, "%u", i > 1000 ? i % 97 : 0);
      if (i <= 1000)
        g_string_truncate (w, w->len - 1);
      words[i] = g_string_free (w, FALSE);
      sum += 1.0 / (i + 1);
      zipf_cdf[i] = sum;
    }
  for (guint i = 0; i < N_WORDS; i++)
    zipf_cdf[i] /= sum;
}

static const char *
random_word (GRand *rand)
{
  double x = g_rand_double (rand);
  guint lo = 0, hi = N_WORDS - 1;

  while (lo < hi)
    {
      guint mid = (lo + hi) / 2;
      if (zipf_cdf[mid] < x)
        lo = mid + 1;
      else
        hi = mid;
    }

  return words[lo];
}

static char *
random_text (GRand *rand)
{
  GString *text = g_string_new (NULL);
  guint n = g_rand_int_range (rand, 8, 48);

  for (guint i = 0; i < n; i++)
    {
      if (i > 0)
        g_string_append_c (text, i % 11 == 10 ? '.' : ' ');
      if (i % 11 == 10)
        g_string_append_c (text, ' ');
      g_string_append (text, random_word (rand));
    }

  return g_string_free (text, FALSE);
}

static int
compare_double (gconstpointer a,
                gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
percentile (GArray *samples,
            double  p)
{
  guint i;

  g_array_sort (samples, compare_double);
  i = (guint) ceil (p * samples->len) - 1;

  return g_array_index (samples, double, MIN (i, samples->len - 1));
}

static void
bench (const char *name,
       double      value,
       const char *unit)
{
  g_print ("BENCH %s %.3f %s\n", name, value, unit);
}

static gsize
heap_in_use (void)
{
  struct mallinfo2 info = mallinfo2 ();
  return info.uordblks + info.hblkhd;
}

static void
bench_fsync (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "fsync.bin", NULL);
  g_autoptr(GArray) samples = g_array_new (FALSE, FALSE, sizeof (double));
  char block[4096] = { 0 };
  int fd = open (path, O_CREAT | O_WRONLY | O_TRUNC, 0600);

  g_assert_cmpint (fd, >=, 0);
  for (guint i = 0; i < 2000; i++)
    {
      gint64 t0 = g_get_monotonic_time ();
      double us;

      g_assert_cmpint (pwrite (fd, block, sizeof block, 0), ==, sizeof block);
      g_assert_cmpint (fdatasync (fd), ==, 0);
      us = (double) (g_get_monotonic_time () - t0);
      g_array_append_val (samples, us);
    }
  close (fd);
  bench ("fsync_p50_us", percentile (samples, 0.50), "us");
  bench ("fsync_p99_us", percentile (samples, 0.99), "us");
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (20261122);
  g_autofree char *dir = g_dir_make_tmp ("helix-bench-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "bench.db", NULL);
  g_autoptr(HelixStore) store = NULL;
  g_autoptr(HelixSession) big = NULL;
  g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  g_autofree HelixNewMessage *batch = g_new0 (HelixNewMessage, BATCH);
  const char *env = g_getenv ("HELIX_BENCH_MESSAGES");
  guint64 n_total = env ? g_ascii_strtoull (env, NULL, 10) : 1000000;
  guint64 n_done = 0;
  gint64 t0, elapsed;
  const guint n_texts = 65536;

  g_assert_no_error (error);
  make_vocabulary (rand);
  bench_fsync (dir);

  store = helix_store_open (path, &error);
  g_assert_no_error (error);

  for (guint i = 0; i < n_texts; i++)
    g_ptr_array_add (texts, random_text (rand));

  /* 1. Bulk import: one 100,000-message session, the rest spread over 90 sessions. */
  big = helix_store_create_session (store, "The long one", &error);
  g_assert_no_error (error);

  t0 = g_get_monotonic_time ();
  while (n_done < n_total)
    {
      g_autoptr(HelixSession) session = NULL;
      const char *session_id;
      guint n = (guint) MIN ((guint64) BATCH, n_total - n_done);

      if (n_done < MIN (n_total, 100000))
        {
          session_id = helix_session_get_id (big);
          n = (guint) MIN ((guint64) n, 100000 - n_done);
        }
      else
        {
          g_autofree char *title = g_strdup_printf ("Session %" G_GUINT64_FORMAT, n_done / 10000);
          session = helix_store_create_session (store, title, &error);
          g_assert_no_error (error);
          session_id = helix_session_get_id (session);
          n = (guint) MIN ((guint64) n, 10000);
        }

      for (guint i = 0; i < n; i++)
        {
          guint64 k = n_done + i;
          batch[i] = HELIX_NEW_MESSAGE_INIT (k % 2 ? HELIX_MESSAGE_ROLE_ASSISTANT : HELIX_MESSAGE_ROLE_USER,
                                             texts->pdata[(k * 2654435761u) % n_texts]);
        }

      g_assert_true (helix_store_import_messages (store, session_id, batch, n, &error));
      g_assert_no_error (error);
      n_done += n;
    }
  elapsed = g_get_monotonic_time () - t0;
  bench ("store_import_msgs_per_s", n_total / (elapsed / 1e6), "msgs/s");

  /* 2. Search: common, middling and rare words, and two-word queries. */
  {
    g_autoptr(GArray) samples = g_array_new (FALSE, FALSE, sizeof (double));
    guint64 n_hits = 0;

    for (guint i = 0; i < 300; i++)
      {
        g_autoptr(GPtrArray) hits = NULL;
        g_autofree char *query = NULL;
        guint rank;
        double ms;

        switch (i % 4)
          {
          case 0: rank = g_rand_int_range (rand, 0, 20); break;
          case 1: rank = g_rand_int_range (rand, 20, 500); break;
          case 2: rank = g_rand_int_range (rand, 500, N_WORDS); break;
          default: rank = G_MAXUINT; break;
          }
        if (rank == G_MAXUINT)
          query = g_strdup_printf ("%s %s", words[g_rand_int_range (rand, 0, 200)],
                                   words[g_rand_int_range (rand, 0, 200)]);
        else
          query = g_strdup (words[rank]);

        t0 = g_get_monotonic_time ();
        hits = helix_store_search_messages (store, query, 50, &error);
        ms = (g_get_monotonic_time () - t0) / 1000.0;
        g_assert_no_error (error);
        n_hits += hits->len;
        g_array_append_val (samples, ms);
      }
    bench ("store_fts_p50_ms", percentile (samples, 0.50), "ms");
    bench ("store_fts_p95_ms", percentile (samples, 0.95), "ms");
    g_printerr ("search: %" G_GUINT64_FORMAT " hits over 300 queries\n", n_hits);
  }

  /* 3. Open the 100,000-message session and fetch its last 50, as the chat view does. */
  {
    g_autoptr(GArray) samples = g_array_new (FALSE, FALSE, sizeof (double));

    for (guint r = 0; r < 50; r++)
      {
        g_autoptr(HelixMessageList) list = NULL;
        guint n;
        double ms;

        t0 = g_get_monotonic_time ();
        list = helix_message_list_new (store, helix_session_get_id (big));
        n = g_list_model_get_n_items (G_LIST_MODEL (list));
        for (guint i = n >= 50 ? n - 50 : 0; i < n; i++)
          {
            g_autoptr(HelixMessage) m = g_list_model_get_item (G_LIST_MODEL (list), i);
            g_assert_nonnull (m);
          }
        ms = (g_get_monotonic_time () - t0) / 1000.0;
        g_array_append_val (samples, ms);
      }
    bench ("store_open_last50_ms", percentile (samples, 0.95), "ms");
  }

  /* 4. Memory of the list model after scrolling through the whole session. */
  {
    g_autoptr(HelixMessageList) list = NULL;
    gsize before, after;
    guint n;

    gint64 sqlite_before, sqlite_after;

    malloc_trim (0);
    before = heap_in_use ();
    sqlite_before = sqlite3_memory_used ();
    list = helix_message_list_new (store, helix_session_get_id (big));
    n = g_list_model_get_n_items (G_LIST_MODEL (list));
    for (guint i = 0; i < n; i++)
      {
        g_autoptr(HelixMessage) m = g_list_model_get_item (G_LIST_MODEL (list), i);
      }
    after = heap_in_use ();
    sqlite_after = sqlite3_memory_used ();
    /* SQLite's page cache grows as the scan reads pages; it is bounded by cache_size
     * whatever the session's size, and it is not the model's. */
    after -= (gsize) MAX (sqlite_after - sqlite_before, 0);
    bench ("store_row_bytes", (double) (after - before) / MAX (n, 1), "bytes");
    bench ("store_cached_row_bytes",
           (double) (after - before) / MAX (helix_message_list_get_n_cached (list), 1), "bytes");
  }

  /* 5. Durable single appends, in steady state: the WAL the import left behind is
   *    checkpointed first, as the store's background checkpointer would in time. */
  g_assert_true (_helix_store_checkpoint (store, &error));
  g_assert_no_error (error);
  {
    g_autoptr(GArray) samples = g_array_new (FALSE, FALSE, sizeof (double));
    g_autoptr(HelixSession) s = helix_store_create_session (store, "Appends", &error);

    for (guint i = 0; i < 2000; i++)
      {
        HelixNewMessage nm = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, texts->pdata[i]);
        g_autoptr(HelixMessage) m = NULL;
        double ms;

        t0 = g_get_monotonic_time ();
        m = helix_store_append_message (store, helix_session_get_id (s), &nm, &error);
        ms = (g_get_monotonic_time () - t0) / 1000.0;
        g_assert_no_error (error);
        g_array_append_val (samples, ms);
      }
    bench ("store_append_p50_ms", percentile (samples, 0.50), "ms");
    bench ("store_append_p99_ms", percentile (samples, 0.99), "ms");
  }

  helix_store_close (store);
  g_clear_object (&store);
  helix_test_rm_rf (dir);
  for (guint i = 0; i < N_WORDS; i++)
    g_free (words[i]);

  return 0;
}
