/* bench-ai.c: the router's own costs, without any network
 *
 * Prints lines `BENCH <name> <value> <unit>`. Run with `meson test -C <build> --benchmark`.
 *
 *   router_choose_per_s          cheapest-healthy choices among 10 providers × 5 models
 *   budget_reserve_settle_per_s  a reservation and its settlement, with four limits set
 *   budget_concurrent_per_s      the same from 2 threads at once (the budget's lock)
 *   ledger_record_per_s          calls recorded and written (queued, batched, committed)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <stdio.h>

#include "helix-budget.h"
#include "helix-ledger.h"
#include "helix-provider-openai.h"
#include "helix-router.h"
#include "helix-test-util.h"

#define N_PROVIDERS 10
#define N_MODELS    5

static double
seconds_since (gint64 start)
{
  return (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC;
}

static void
bench_choose (void)
{
  g_autoptr(GString) prices_text = g_string_new ("{\"version\":1,\"models\":[");
  g_autoptr(HelixPriceTable) prices = helix_price_table_new ();
  g_autoptr(HelixRouter) router = NULL;
  g_autoptr(GError) error = NULL;
  const guint n = 1000000;
  gint64 start;

  for (guint p = 0; p < N_PROVIDERS; p++)
    for (guint m = 0; m < N_MODELS; m++)
      g_string_append_printf (prices_text,
                              "%s{\"provider\":\"p%u\",\"model\":\"m%u-%u\",\"input\":%u.5,"
                              "\"output\":%u,\"tier\":%u,\"context\":65536,\"streaming\":true}",
                              p + m > 0 ? "," : "", p, p, m, (p * 7 + m * 3) % 11, p + m + 1,
                              1 + (p + m) % 3);
  g_string_append (prices_text, "]}");
  g_assert_true (helix_price_table_load (prices, prices_text->str, -1, &error));
  g_assert_no_error (error);

  router = helix_router_new (prices);
  for (guint p = 0; p < N_PROVIDERS; p++)
    {
      g_autofree char *name = g_strdup_printf ("p%u", p);
      g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
      g_autoptr(HelixProviderOpenai) provider = NULL;
      g_auto(GStrv) models = NULL;

      for (guint m = 0; m < N_MODELS; m++)
        {
          g_autofree char *model = g_strdup_printf ("m%u-%u", p, m);

          g_strv_builder_add (builder, model);
        }
      models = g_strv_builder_end (builder);
      provider = helix_provider_openai_new (name, "http://127.0.0.1:9/v1", NULL, &error);
      g_assert_no_error (error);
      helix_router_add_provider (router, HELIX_PROVIDER (provider), NULL,
                                 (const char * const *) models);
    }

  start = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *model = NULL;

      g_assert_nonnull (helix_router_choose (router, "chat", NULL, NULL, &model, NULL, NULL));
    }
  printf ("BENCH router_choose_per_s %.0f choices/s\n", n / seconds_since (start));
}

static HelixBudget *
make_budget (void)
{
  HelixBudget *budget = helix_budget_new ();

  helix_budget_set_limit (budget, HELIX_BUDGET_SCOPE_GLOBAL, HELIX_BUDGET_PERIOD_DAY, 1e9);
  helix_budget_set_limit (budget, HELIX_BUDGET_SCOPE_GLOBAL, HELIX_BUDGET_PERIOD_MONTH, 1e9);
  helix_budget_set_limit (budget, HELIX_BUDGET_SCOPE_USER, HELIX_BUDGET_PERIOD_DAY, 1e9);
  helix_budget_set_limit (budget, HELIX_BUDGET_SCOPE_USER, HELIX_BUDGET_PERIOD_MONTH, 1e9);

  return budget;
}

typedef struct
{
  HelixBudget *budget;
  const char  *user;
  guint        n;
} Worker;

static gpointer
reserve_settle (gpointer data)
{
  Worker *worker = data;

  for (guint i = 0; i < worker->n; i++)
    {
      HelixBudgetReservation *r = helix_budget_reserve (worker->budget, worker->user, 0.01, NULL);

      g_assert_nonnull (r);
      helix_budget_settle (worker->budget, r, 0.005);
    }

  return NULL;
}

static void
bench_budget (void)
{
  g_autoptr(HelixBudget) budget = make_budget ();
  Worker one = { budget, "alice", 500000 };
  Worker two[2] = { { budget, "alice", 250000 }, { budget, "bob", 250000 } };
  GThread *threads[2];
  gint64 start;

  start = g_get_monotonic_time ();
  reserve_settle (&one);
  printf ("BENCH budget_reserve_settle_per_s %.0f calls/s\n", one.n / seconds_since (start));

  start = g_get_monotonic_time ();
  for (guint i = 0; i < 2; i++)
    threads[i] = g_thread_new ("bench-budget", reserve_settle, &two[i]);
  for (guint i = 0; i < 2; i++)
    g_thread_join (threads[i]);
  printf ("BENCH budget_concurrent_per_s %.0f calls/s\n",
          (two[0].n + two[1].n) / seconds_since (start));
}

static void
bench_ledger (void)
{
  g_autofree char *dir = g_dir_make_tmp ("helix-bench-ledger-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "ledger.db", NULL);
  g_autoptr(HelixLedger) ledger = NULL;
  g_autoptr(GError) error = NULL;
  const guint n = 200000;
  gint64 start;
  HelixRouterResult result = {
    .operation = (char *) "chat", .user = (char *) "alice",
    .session_id = (char *) "0190f3a2-1c00-7000-8000-000000000001",
    .provider = (char *) "deepseek", .model = (char *) "deepseek-chat",
    .reason = (char *) "cheapest healthy for chat: deepseek-chat, $0.27/M in",
    .attempts = 1, .outcome = HELIX_ROUTER_OUTCOME_OK, .latency_us = 812345,
    .input_tokens = 1234, .output_tokens = 567, .cost_usd = 0.000956, .first_token_us = 301234,
  };

  ledger = helix_ledger_open (path, &error);
  g_assert_no_error (error);

  start = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++)
    helix_ledger_record (ledger, &result, g_get_real_time ());
  g_assert_true (helix_ledger_flush (ledger, &error));
  printf ("BENCH ledger_record_per_s %.0f calls/s\n", n / seconds_since (start));

  helix_ledger_close (ledger);
  g_clear_object (&ledger);
  helix_test_rm_rf (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  bench_choose ();
  bench_budget ();
  bench_ledger ();

  return 0;
}
