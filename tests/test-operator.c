/* test-operator.c: the operator view, on a real ledger, budget, router and audit log
 *
 * A cost ledger file with known calls (today, earlier this month, last
 * month), a budget loaded from it, a router with one provider whose breaker
 * is opened, and an audit trail with entries and a webhook sink whose
 * receiver (a loopback server written here) answers 500. The window is built
 * on them and the figures are read back from its labels: they must match
 * what was recorded. Verify must say the log is intact, then name the entry
 * the test alters with sqlite3.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-test-operator"

#include "config.h"

#include <adwaita.h>
#include <sqlite3.h>
#include <string.h>

#include "fake-provider.h"
#include "helix-core.h"
#include "helix-gateway.h"
#include "helix-gateway-config-private.h"
#include "helix-password.h"
#include "helix-operator-window-private.h"
#include "helix-provider-openai.h"
#include "helix-test-gateway.h"
#include "helix-test-http.h"
#include "helix-test-keyring.h"
#include "helix-test-server.h"
#include "helix-test-util.h"

#define WAIT_S 30
#define ORIGIN "helix.test/operator"
#define N_AUDIT 30
#define TAMPERED_SEQ 7
#define ALICE_PASSWORD "correct horse alice"

typedef struct
{
  char                *dir;
  char                *ledger_path;
  char                *audit_path;
  HelixLedger         *ledger;
  HelixBudget         *budget;
  HelixRouter         *router;
  HelixAuditSigner    *signer;
  HelixAudit          *audit;
  FakeProvider        *fake;
  HelixTestServer      receiver;
  guint                n_deliveries;
  HelixOperatorWindow *window;

  /* What was recorded, as the test counts it */
  GDateTime           *month_start;
  gboolean             first_of_month;
  double               today_usd;
  double               month_usd;
} Fixture;

/* Ledger ------------------------------------------------------------------- */

static void
record (Fixture    *f,
        gint64      time_us,
        const char *provider,
        const char *model,
        double      cost,
        gboolean    ok)
{
  HelixRouterResult result = {
    .operation = (char *) "chat",
    .provider = (char *) provider,
    .model = (char *) model,
    .reason = (char *) (ok ? "cheapest healthy model for chat" : "no healthy provider"),
    .attempts = ok ? 1 : 3,
    .outcome = ok ? HELIX_ROUTER_OUTCOME_OK : HELIX_ROUTER_OUTCOME_FAILED,
    .latency_us = 1200000,
    .input_tokens = ok ? 1000 : 0,
    .output_tokens = ok ? 500 : 0,
    .cost_usd = cost,
    .first_token_us = ok ? 300000 : -1,
    .error = (char *) (ok ? NULL : "Every provider failed"),
  };
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autoptr(GDateTime) when = g_date_time_new_from_unix_local (time_us / G_USEC_PER_SEC);

  helix_ledger_record (f->ledger, &result, time_us);

  if (g_date_time_compare (when, f->month_start) >= 0)
    {
      f->month_usd += cost;
      if (g_date_time_get_day_of_month (when) == g_date_time_get_day_of_month (now) &&
          g_date_time_get_month (when) == g_date_time_get_month (now))
        f->today_usd += cost;
    }
}

static gint64
to_us (GDateTime *time)
{
  return g_date_time_to_unix (time) * G_USEC_PER_SEC;
}

static void
fill_ledger (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  gint64 now = g_get_real_time ();

  /* Last month, and the first second of this month (today too on the 1st). */
  record (f, to_us (f->month_start) - G_TIME_SPAN_HOUR, "openai", "gpt-4o-mini", 10.0, TRUE);
  record (f, to_us (f->month_start) + G_USEC_PER_SEC, "deepseek", "deepseek-chat", 2.0, TRUE);
  /* Today: two answers and a failure that reached no provider. */
  record (f, now - 2, "openai", "gpt-4o-mini", 0.25, TRUE);
  record (f, now - 1, "anthropic", "claude-3-5-haiku", 0.5, TRUE);
  record (f, now, NULL, NULL, 0, FALSE);

  g_assert_true (helix_ledger_flush (f->ledger, &error));
  g_assert_no_error (error);
}

/* Audit log ------------------------------------------------------------------ */

static void
receiver_cb (SoupServer        *server,
             SoupServerMessage *msg,
             const char        *path,
             GHashTable        *query,
             gpointer           user_data)
{
  Fixture *f = user_data;

  f->n_deliveries++;
  soup_server_message_set_status (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC, "down", 4);
}

static void
open_audit (Fixture *f)
{
  static const char * const alerts[] = { HELIX_AUDIT_CHANNEL_ALERTS, NULL };
  g_autofree char *queue_path = g_build_filename (f->dir, "webhooks.db", NULL);
  g_autofree char *url = NULL;
  g_autoptr(GError) error = NULL;

  f->audit_path = g_build_filename (f->dir, "audit.db", NULL);
  f->signer = helix_audit_signer_new (ORIGIN, &error);
  g_assert_no_error (error);
  f->audit = helix_audit_open (f->audit_path, queue_path, ORIGIN, f->signer, &error);
  g_assert_no_error (error);

  helix_test_server_start (&f->receiver, receiver_cb, f);
  url = helix_test_server_url (&f->receiver, "/hook");
  g_assert_true (helix_audit_add_sink (f->audit, "ops", HELIX_WEBHOOK_FORMAT_JSON, url, NULL,
                                       alerts, &error));
  g_assert_no_error (error);
  helix_audit_start (f->audit);

  /* Every fifth entry is an alert: six of thirty. */
  for (guint i = 1; i <= N_AUDIT; i++)
    {
      g_autofree char *event = g_strdup_printf ("event-%u", i);
      g_autofree char *payload = g_strdup_printf ("{\"n\":%u,\"word\":\"%s\"}", i,
                                                  i == 12 ? "needle" : "hay");

      g_assert_true (helix_audit_record_sync (f->audit,
                                              i % 5 == 0 ? HELIX_AUDIT_CHANNEL_ALERTS
                                                         : HELIX_AUDIT_CHANNEL_COMMANDS,
                                              "tester", event, payload, &error));
      g_assert_no_error (error);
    }
}

/* Changes one byte of an entry's stored record, behind the log's back. */
static void
tamper (Fixture *f,
        gint64   seq)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  g_autofree guint8 *record = NULL;
  int len;

  g_assert_cmpint (sqlite3_open (f->audit_path, &db), ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 5000);

  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT record FROM entries WHERE seq = ?1", -1, &stmt,
                                       NULL), ==, SQLITE_OK);
  sqlite3_bind_int64 (stmt, 1, seq);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  len = sqlite3_column_bytes (stmt, 0);
  g_assert_cmpint (len, >, 0);
  record = g_memdup2 (sqlite3_column_blob (stmt, 0), len);
  sqlite3_finalize (stmt);

  record[len / 2] ^= 0x01;

  g_assert_cmpint (sqlite3_prepare_v2 (db, "UPDATE entries SET record = ?1 WHERE seq = ?2", -1,
                                       &stmt, NULL), ==, SQLITE_OK);
  sqlite3_bind_blob (stmt, 1, record, len, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, seq);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_DONE);
  g_assert_cmpint (sqlite3_changes (db), ==, 1);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
}

/* Fixture -------------------------------------------------------------------- */

/* The figures are counted by local day: a test does not start in the last
 * minute before midnight, so that its day does not change under it. */
static GDateTime *
now_not_near_midnight (void)
{
  for (;;)
    {
      g_autoptr(GDateTime) now = g_date_time_new_now_local ();

      if (g_date_time_get_hour (now) < 23 || g_date_time_get_minute (now) < 59)
        return g_steal_pointer (&now);
      g_usleep (G_USEC_PER_SEC);
    }
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GDateTime) now = now_not_near_midnight ();
  g_autoptr(GTimeZone) local = g_time_zone_new_local ();
  g_autoptr(HelixPriceTable) prices = NULL;
  g_autoptr(HelixProviderOpenai) provider = NULL;
  static const char * const models[] = { "deepseek-chat", NULL };
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("helix-operator-XXXXXX", &error);
  g_assert_no_error (error);
  f->month_start = g_date_time_new_local (g_date_time_get_year (now), g_date_time_get_month (now),
                                          1, 0, 0, 0);
  f->first_of_month = g_date_time_get_day_of_month (now) == 1;

  f->ledger_path = g_build_filename (f->dir, "ledger.db", NULL);
  f->ledger = helix_ledger_open (f->ledger_path, &error);
  g_assert_no_error (error);
  fill_ledger (f);

  /* The budget as the application sets it up: local days, loaded from the ledger. */
  f->budget = helix_budget_new ();
  helix_budget_set_timezone (f->budget, local);
  helix_budget_set_limit (f->budget, HELIX_BUDGET_SCOPE_GLOBAL, HELIX_BUDGET_PERIOD_DAY, 5.0);
  helix_budget_set_limit (f->budget, HELIX_BUDGET_SCOPE_GLOBAL, HELIX_BUDGET_PERIOD_MONTH, 50.0);
  g_assert_true (helix_ledger_load_budget (f->ledger, f->budget, g_get_real_time (), &error));
  g_assert_no_error (error);

  /* A router with one provider, in front of a loopback fake that speaks its
   * wire format; deepseek-chat is in the shipped price table. */
  prices = helix_price_table_new_default (&error);
  g_assert_no_error (error);
  f->router = helix_router_new (prices);
  f->fake = fake_provider_new (FAKE_FORMAT_OPENAI);
  provider = helix_provider_openai_new ("deepseek", fake_provider_get_base_url (f->fake),
                                        "sk-operator-test-0123456789", &error);
  g_assert_no_error (error);
  helix_router_add_provider (f->router, HELIX_PROVIDER (provider), "deepseek", models);

  open_audit (f);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  if (f->window != NULL)
    {
      gpointer weak = f->window;

      g_object_add_weak_pointer (G_OBJECT (f->window), &weak);
      gtk_window_destroy (GTK_WINDOW (g_steal_pointer (&f->window)));
      helix_test_wait_finalized (&weak);
    }

  if (f->audit != NULL)
    {
      helix_audit_close (f->audit);
      helix_test_assert_finalized (g_steal_pointer (&f->audit));
    }
  helix_test_server_clear (&f->receiver);
  g_clear_pointer (&f->signer, helix_audit_signer_unref);
  if (f->router != NULL)
    helix_test_assert_finalized (g_steal_pointer (&f->router));
  g_clear_pointer (&f->fake, fake_provider_free);
  g_clear_object (&f->budget);
  if (f->ledger != NULL)
    helix_test_assert_finalized (g_steal_pointer (&f->ledger));
  g_clear_pointer (&f->month_start, g_date_time_unref);

  helix_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->ledger_path);
  g_free (f->audit_path);
}

/* Waiting ------------------------------------------------------------------- */

static gboolean
tick_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Spins the main loop (waking at least every 20 ms) until @cond holds. */
#define WAIT_UNTIL(cond, what) \
  G_STMT_START { \
    guint _tick = g_timeout_add (20, tick_cb, NULL); \
    helix_test_wait_for ((cond), WAIT_S, (what)); \
    g_source_remove (_tick); \
  } G_STMT_END

static void
open_window (Fixture *f)
{
  f->window = HELIX_OPERATOR_WINDOW (helix_operator_window_new (NULL, f->router, f->ledger,
                                                                f->budget, f->audit));
  gtk_window_present (GTK_WINDOW (f->window));
  WAIT_UNTIL (gtk_widget_get_mapped (GTK_WIDGET (f->window)), "the window to map");
  WAIT_UNTIL (_helix_operator_window_get_n_refreshes (f->window) >= 1 &&
              _helix_operator_window_get_n_audit_loads (f->window) >= 1 &&
              _helix_operator_window_is_idle (f->window),
              "the first figures");
}

/* Refreshes through the window's action and waits for the answers. */
static void
refresh (Fixture *f)
{
  guint before = _helix_operator_window_get_n_refreshes (f->window);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "operator.refresh", NULL));
  WAIT_UNTIL (_helix_operator_window_get_n_refreshes (f->window) > before &&
              _helix_operator_window_is_idle (f->window),
              "a refresh");
}

static guint
n_rows (Fixture           *f,
        HelixOperatorList  list)
{
  return _helix_operator_window_get_n_rows (f->window, list);
}

/* What an empty list says. */
static const char *
placeholder (HelixOperatorWindow *window,
             HelixOperatorList    list)
{
  return gtk_label_get_text (window->rows[list].placeholder);
}

static char *
usd (double amount)
{
  return g_strdup_printf ("$%.2f", amount);
}

static void
assert_value (Fixture           *f,
              HelixOperatorList  list,
              const char        *key,
              const char        *expected)
{
  const char *value = _helix_operator_window_get_value (f->window, list, key);

  if (value == NULL)
    g_error ("No row “%s” in list %d", key, list);
  g_assert_cmpstr (value, ==, expected);
}

static void
assert_subtitle_has (Fixture           *f,
                     HelixOperatorList  list,
                     const char        *key,
                     const char        *needle)
{
  const char *subtitle = _helix_operator_window_get_subtitle (f->window, list, key);

  g_assert_nonnull (subtitle);
  if (strstr (subtitle, needle) == NULL)
    g_error ("The row “%s” says “%s”, without “%s”", key, subtitle, needle);
}

/* Tests ---------------------------------------------------------------------- */

static void
test_costs (Fixture       *f,
            gconstpointer  data)
{
  g_autofree char *today = usd (f->today_usd);
  g_autofree char *month = usd (f->month_usd);
  g_autofree char *deepseek = usd (2.0);
  g_autofree char *total_text = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  HelixCostChart *chart;
  guint day;

  open_window (f);

  /* Today and this month, as the ledger has them; last month's $10 is in neither. */
  g_assert_cmpfloat_with_epsilon (f->month_usd, 2.75, 1e-9);
  g_assert_cmpstr (gtk_label_get_text (f->window->today_total_label), ==, today);
  g_assert_cmpstr (gtk_label_get_text (f->window->month_total_label), ==, month);

  assert_value (f, HELIX_OPERATOR_LIST_TODAY_PROVIDER, "openai", "$0.25");
  assert_value (f, HELIX_OPERATOR_LIST_TODAY_PROVIDER, "anthropic", "$0.50");
  assert_value (f, HELIX_OPERATOR_LIST_TODAY_PROVIDER, "", "$0.00");
  assert_subtitle_has (f, HELIX_OPERATOR_LIST_TODAY_PROVIDER, "", "1 failed");
  assert_subtitle_has (f, HELIX_OPERATOR_LIST_TODAY_PROVIDER, "openai", "1000 in / 500 out tokens");
  assert_value (f, HELIX_OPERATOR_LIST_TODAY_MODEL, "openai/gpt-4o-mini", "$0.25");
  assert_value (f, HELIX_OPERATOR_LIST_TODAY_MODEL, "anthropic/claude-3-5-haiku", "$0.50");
  g_assert_cmpuint (n_rows (f, HELIX_OPERATOR_LIST_TODAY_PROVIDER), ==, f->first_of_month ? 4 : 3);

  assert_value (f, HELIX_OPERATOR_LIST_MONTH_PROVIDER, "deepseek", deepseek);
  assert_value (f, HELIX_OPERATOR_LIST_MONTH_PROVIDER, "openai", "$0.25");
  assert_value (f, HELIX_OPERATOR_LIST_MONTH_MODEL, "deepseek/deepseek-chat", deepseek);
  g_assert_cmpuint (n_rows (f, HELIX_OPERATOR_LIST_MONTH_PROVIDER), ==, 4);

  /* The chart: a bar per day of the month, today's and the 1st's as recorded;
   * its accessible label says the total. */
  chart = f->window->chart;
  g_assert_cmpuint (helix_cost_chart_get_n_days (chart), ==,
                    g_date_get_days_in_month (g_date_time_get_month (now),
                                              g_date_time_get_year (now)));
  day = g_date_time_get_day_of_month (now) - 1;
  g_assert_cmpfloat_with_epsilon (helix_cost_chart_get_cost (chart, day), f->today_usd, 1e-9);
  g_assert_cmpfloat_with_epsilon (helix_cost_chart_get_cost (chart, 0),
                                  f->first_of_month ? f->today_usd : 2.0, 1e-9);
  total_text = g_strdup_printf ("%s in total", month);
  g_assert_nonnull (strstr (helix_cost_chart_get_description (chart), total_text));

  /* The budget: spent against the limits. */
  {
    g_autofree char *day_value = g_strdup_printf ("%s of $5.00", today);
    g_autofree char *month_value = g_strdup_printf ("%s of $50.00", month);

    HelixOperatorRows *budget = &f->window->rows[HELIX_OPERATOR_LIST_BUDGET];
    AdwActionRow *row = g_hash_table_lookup (budget->rows, "day");
    GtkLevelBar *left = g_object_get_data (G_OBJECT (row), "helix-operator-level");

    assert_value (f, HELIX_OPERATOR_LIST_BUDGET, "day", day_value);
    assert_value (f, HELIX_OPERATOR_LIST_BUDGET, "month", month_value);
    /* The burn-down bar: what is left of the day's limit. */
    g_assert_cmpfloat_with_epsilon (gtk_level_bar_get_value (left), 1 - f->today_usd / 5.0, 1e-9);
  }

  /* Recent calls: all five, newest first, with their routing reasons. */
  g_assert_cmpuint (n_rows (f, HELIX_OPERATOR_LIST_CALLS), ==, 5);

  /* A new call shows after a refresh. */
  record (f, g_get_real_time (), "openai", "gpt-4o-mini", 1.0, TRUE);
  refresh (f);
  g_clear_pointer (&today, g_free);
  today = usd (f->today_usd);
  g_assert_cmpstr (gtk_label_get_text (f->window->today_total_label), ==, today);
  assert_value (f, HELIX_OPERATOR_LIST_TODAY_PROVIDER, "openai", "$1.25");
  g_assert_cmpuint (n_rows (f, HELIX_OPERATOR_LIST_CALLS), ==, 6);
}

static const char * const answer_chunks[] = {
  "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"},"
  "\"finish_reason\":\"stop\"}]}\n\n",
  "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":100000,\"completion_tokens\":50000}}\n\n",
  "data: [DONE]\n\n",
  NULL
};

static void
chat_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  HelixRouterResult **out = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (helix_router_chat_finish (HELIX_ROUTER (object), result, out, &error));
  g_assert_no_error (error);
}

/* A routed call shows in the costs and the recent calls when it ends, with
 * no refresh asked for and the window's timer stopped. */
static void
test_live_call (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(HelixChatRequest) request = helix_chat_request_new ("deepseek-chat");
  g_autoptr(HelixRouterResult) result = NULL;
  HelixRouterParams params = { .operation = "chat" };
  g_autofree char *cost = NULL;
  g_autofree char *today = NULL;
  GtkListBoxRow *newest;
  guint n_calls;

  helix_ledger_attach (f->ledger, f->router);
  open_window (f);
  g_clear_handle_id (&f->window->timer_id, g_source_remove);
  if (!f->first_of_month)
    g_assert_null (_helix_operator_window_get_value (f->window, HELIX_OPERATOR_LIST_TODAY_PROVIDER,
                                                     "deepseek"));
  n_calls = n_rows (f, HELIX_OPERATOR_LIST_CALLS);

  helix_chat_request_add_message (request, HELIX_MESSAGE_ROLE_USER, "Hello?");
  fake_provider_queue_stream (f->fake, answer_chunks, FAKE_END_FINISH);
  helix_router_chat_async (f->router, &params, request, NULL, NULL, chat_cb, &result);
  WAIT_UNTIL (result != NULL, "the call");
  g_assert_cmpint (result->outcome, ==, HELIX_ROUTER_OUTCOME_OK);
  g_assert_cmpfloat (result->cost_usd, >, 0);

  WAIT_UNTIL (n_rows (f, HELIX_OPERATOR_LIST_CALLS) == n_calls + 1 &&
              _helix_operator_window_is_idle (f->window),
              "the call to show");
  f->today_usd += result->cost_usd;
  today = g_strdup_printf ("$%.2f", f->today_usd);
  g_assert_cmpstr (gtk_label_get_text (f->window->today_total_label), ==, today);
  if (!f->first_of_month)
    {
      cost = g_strdup_printf (result->cost_usd < 0.01 ? "$%.4f" : "$%.2f", result->cost_usd);
      assert_value (f, HELIX_OPERATOR_LIST_TODAY_PROVIDER, "deepseek", cost);
      assert_value (f, HELIX_OPERATOR_LIST_TODAY_MODEL, "deepseek/deepseek-chat", cost);
    }
  newest = gtk_list_box_get_row_at_index (f->window->calls_list, 0);
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (newest)), ==,
                   "chat · deepseek/deepseek-chat");
  g_assert_nonnull (result->reason);
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (newest)), result->reason));
}

static void
test_recent_calls (Fixture       *f,
                   gconstpointer  data)
{
  GtkListBoxRow *newest;
  const char *subtitle;

  open_window (f);

  newest = gtk_list_box_get_row_at_index (f->window->calls_list, 0);
  g_assert_nonnull (newest);
  /* The failure, recorded last: no provider, the reason and the error. */
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (newest)), ==, "chat");
  subtitle = adw_action_row_get_subtitle (ADW_ACTION_ROW (newest));
  g_assert_nonnull (strstr (subtitle, "no healthy provider"));
  g_assert_nonnull (strstr (subtitle, "Every provider failed"));
  g_assert_nonnull (strstr (subtitle, "3 attempts"));

  newest = gtk_list_box_get_row_at_index (f->window->calls_list, 1);
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (newest)), ==,
                   "chat · anthropic/claude-3-5-haiku");
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (newest)),
                            "cheapest healthy model for chat"));
}

static void
test_health (Fixture       *f,
             gconstpointer  data)
{
  open_window (f);

  assert_value (f, HELIX_OPERATOR_LIST_PROVIDERS, "deepseek", "Healthy");
  assert_subtitle_has (f, HELIX_OPERATOR_LIST_PROVIDERS, "deepseek", "Not checked yet");

  /* Failures in a row open the breaker: the window follows at once, not at
   * its next tick (the timer is stopped to tell them apart). */
  g_clear_handle_id (&f->window->timer_id, g_source_remove);
  for (guint i = 0; i < HELIX_ROUTER_BREAKER_THRESHOLD; i++)
    helix_router_report (f->router, "deepseek", FALSE);
  WAIT_UNTIL (g_strcmp0 (_helix_operator_window_get_value (f->window, HELIX_OPERATOR_LIST_PROVIDERS,
                                                           "deepseek"), "Breaker open") == 0,
              "the breaker to show open");
  assert_subtitle_has (f, HELIX_OPERATOR_LIST_PROVIDERS, "deepseek", "5 failures in a row");
}

static gboolean
sink_has_error (Fixture *f)
{
  const char *subtitle = _helix_operator_window_get_subtitle (f->window, HELIX_OPERATOR_LIST_SINKS,
                                                              "ops");

  return subtitle != NULL && strstr (subtitle, "Last error") != NULL;
}

static void
test_webhooks (Fixture       *f,
               gconstpointer  data)
{
  const char *value;

  open_window (f);
  assert_subtitle_has (f, HELIX_OPERATOR_LIST_SINKS, "ops", "Channels: alerts");
  assert_subtitle_has (f, HELIX_OPERATOR_LIST_SINKS, "ops", "http://127.0.0.1");

  /* The receiver answers 500: the six alerts stay queued, with the error;
   * the window's timer shows it. */
  WAIT_UNTIL (f->n_deliveries > 0, "a delivery attempt");
  WAIT_UNTIL (sink_has_error (f), "the sink's error");
  value = _helix_operator_window_get_value (f->window, HELIX_OPERATOR_LIST_SINKS, "ops");
  g_assert_nonnull (strstr (value, "6 queued"));
}

static void
select_channel (Fixture    *f,
                const char *name)
{
  GListModel *model = gtk_drop_down_get_model (f->window->channel_dropdown);

  for (guint i = 0; i < g_list_model_get_n_items (model); i++)
    {
      g_autoptr(GtkStringObject) item = g_list_model_get_item (model, i);

      if (g_str_equal (gtk_string_object_get_string (item), name))
        {
          gtk_drop_down_set_selected (f->window->channel_dropdown, i);
          return;
        }
    }
  g_error ("No channel %s", name);
}

static void
wait_audit_load (Fixture *f,
                 guint    before)
{
  WAIT_UNTIL (_helix_operator_window_get_n_audit_loads (f->window) > before &&
              _helix_operator_window_is_idle (f->window),
              "the audit list");
}

static void
test_audit_list (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  GtkListBoxRow *top;
  guint loads;

  open_window (f);

  /* Newest first. */
  g_assert_cmpuint (_helix_operator_window_get_n_audit_rows (f->window), ==, N_AUDIT);
  top = gtk_list_box_get_row_at_index (f->window->audit_list, 0);
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (top)), ==, "event-30");
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (f->window->more_button)));

  /* A new entry comes in live. */
  loads = _helix_operator_window_get_n_audit_loads (f->window);
  g_assert_true (helix_audit_record_sync (f->audit, HELIX_AUDIT_CHANNEL_API, "tester", "login",
                                          "{}", &error));
  g_assert_no_error (error);
  wait_audit_load (f, loads);
  g_assert_cmpuint (_helix_operator_window_get_n_audit_rows (f->window), ==, N_AUDIT + 1);
  top = gtk_list_box_get_row_at_index (f->window->audit_list, 0);
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (top)), ==, "login");

  /* Filters: a channel, then text too. */
  loads = _helix_operator_window_get_n_audit_loads (f->window);
  select_channel (f, "Alerts");
  wait_audit_load (f, loads);
  g_assert_cmpuint (_helix_operator_window_get_n_audit_rows (f->window), ==, N_AUDIT / 5);

  loads = _helix_operator_window_get_n_audit_loads (f->window);
  select_channel (f, "All Channels");
  gtk_editable_set_text (GTK_EDITABLE (f->window->audit_search), "needle");
  wait_audit_load (f, loads);
  g_assert_cmpuint (_helix_operator_window_get_n_audit_rows (f->window), ==, 1);
  top = gtk_list_box_get_row_at_index (f->window->audit_list, 0);
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (top)), ==, "event-12");
}

/* Pages of HELIX_OPERATOR_AUDIT_PAGE, newest first; "Show Older Entries"
 * adds the next one until there is no more. */
static void
test_audit_paging (Fixture       *f,
                   gconstpointer  data)
{
  const guint n_more = 2 * HELIX_OPERATOR_AUDIT_PAGE + 20;
  g_autoptr(GError) error = NULL;
  GtkListBoxRow *row;
  guint total = N_AUDIT + n_more;
  guint loads;

  for (guint i = 1; i < n_more; i++)
    helix_audit_record (f->audit, HELIX_AUDIT_CHANNEL_COMMANDS, "tester", "bulk", "{}");
  /* Entries are written in order: once this one is durable, all are. */
  g_assert_true (helix_audit_record_sync (f->audit, HELIX_AUDIT_CHANNEL_COMMANDS, "tester", "last",
                                          "{}", &error));
  g_assert_no_error (error);
  g_assert_cmpint (helix_audit_get_size (f->audit), ==, total);

  open_window (f);
  g_assert_cmpuint (_helix_operator_window_get_n_audit_rows (f->window), ==,
                    HELIX_OPERATOR_AUDIT_PAGE);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (f->window->more_button)));

  for (guint page = 2; page <= 3; page++)
    {
      loads = _helix_operator_window_get_n_audit_loads (f->window);
      g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "operator.more", NULL));
      wait_audit_load (f, loads);
      g_assert_cmpuint (_helix_operator_window_get_n_audit_rows (f->window), ==,
                        MIN (page * HELIX_OPERATOR_AUDIT_PAGE, total));
    }
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (f->window->more_button)));

  /* Newest first to oldest last, the first entry at the bottom. */
  row = gtk_list_box_get_row_at_index (f->window->audit_list, 0);
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)), ==, "last");
  row = gtk_list_box_get_row_at_index (f->window->audit_list, total - 1);
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)), ==, "event-1");
}

static void
verify (Fixture *f)
{
  guint before = _helix_operator_window_get_n_verifies (f->window);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "operator.verify", NULL));
  WAIT_UNTIL (_helix_operator_window_get_n_verifies (f->window) > before, "Verify");
}

static void
test_verify (Fixture       *f,
             gconstpointer  data)
{
  g_autofree char *count = NULL;
  g_autofree char *entry = NULL;
  const char *subtitle;

  open_window (f);

  verify (f);
  g_assert_cmpstr (_helix_operator_window_get_verify_title (f->window), ==, "Intact");
  count = g_strdup_printf ("%" G_GINT64_FORMAT " entries checked", helix_audit_get_size (f->audit));
  subtitle = _helix_operator_window_get_verify_subtitle (f->window);
  if (strstr (subtitle, count) == NULL)
    g_error ("Verify says “%s”, not “%s”", subtitle, count);

  tamper (f, TAMPERED_SEQ);

  verify (f);
  g_assert_cmpstr (_helix_operator_window_get_verify_title (f->window), ==, "Altered");
  entry = g_strdup_printf ("Entry %d ", TAMPERED_SEQ);
  subtitle = _helix_operator_window_get_verify_subtitle (f->window);
  if (strstr (subtitle, entry) == NULL)
    g_error ("Verify says “%s”, without “%s”", subtitle, entry);
}

static void
result_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static gboolean
sync_row_is (Fixture    *f,
             const char *value)
{
  return g_strcmp0 (_helix_operator_window_get_value (f->window, HELIX_OPERATOR_LIST_SYNC,
                                                      "gateway"), value) == 0;
}

/* Signed in to a real gateway: its address, the sync state and the devices. */
static void
test_sync (Fixture       *f,
           gconstpointer  data)
{
  g_autoptr(HelixGatewayConfig) config = NULL;
  g_autoptr(HelixGateway) gateway = NULL;
  g_autoptr(HelixAccount) account = helix_account_new ();
  g_autoptr(HelixStore) store = NULL;
  g_autoptr(HelixSyncClient) client = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *store_path = g_build_filename (f->dir, "helix.db", NULL);
  g_autofree char *gateway_dir = g_build_filename (f->dir, "gateway", NULL);
  GtkListBoxRow *row;

  helix_test_keyring_start (TRUE);
  g_assert_cmpint (g_mkdir (gateway_dir, 0700), ==, 0);
  config = helix_test_gateway_config_new (gateway_dir);
  helix_test_gateway_config_apply (config, NULL);
  gateway = helix_test_gateway_start (config);
  helix_test_gateway_add_user (gateway, "alice", ALICE_PASSWORD);

  open_window (f);
  helix_operator_window_set_sync (f->window, account, NULL);
  g_assert_cmpuint (n_rows (f, HELIX_OPERATOR_LIST_SYNC), ==, 0);
  g_assert_nonnull (strstr (placeholder (f->window, HELIX_OPERATOR_LIST_SYNC),
                            "Not signed in"));
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (f->window->devices_group)));

  /* Signing in shows the gateway and this device. */
  helix_account_sign_in_async (account, helix_gateway_get_uri (gateway), "alice", ALICE_PASSWORD,
                               "Operator laptop", NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL, "the sign-in");
  g_assert_true (helix_account_sign_in_finish (account, result, &error));
  g_assert_no_error (error);
  WAIT_UNTIL (n_rows (f, HELIX_OPERATOR_LIST_DEVICES) == 1 &&
              _helix_operator_window_is_idle (f->window), "the devices");
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (f->window->devices_group)));
  row = gtk_list_box_get_row_at_index (f->window->devices_list, 0);
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)), ==,
                   "Operator laptop");
  g_assert_cmpstr (_helix_operator_row_get_value (ADW_ACTION_ROW (row)), ==, "This device");
  g_assert_true (sync_row_is (f, "Not syncing"));
  assert_subtitle_has (f, HELIX_OPERATOR_LIST_SYNC, "gateway", "Signed in as alice");

  /* What this device keeps of the gateway's audit log: nothing checkpointed
   * yet; then a key other than the one pinned is reported. */
  {
    g_autoptr(GSettings) settings = g_settings_new ("ai.helix.Helix");
    g_autoptr(HelixCheckpointKeeper) keeper = NULL;
    g_autoptr(GAsyncResult) checked = NULL;

    g_settings_reset (settings, "gateway-audit-key");
    g_settings_reset (settings, "gateway-audit-checkpoint");
    keeper = helix_checkpoint_keeper_new (settings, account);
    helix_operator_window_set_checkpoint_keeper (f->window, keeper);
    helix_checkpoint_keeper_check_async (keeper, NULL, result_cb, &checked);
    WAIT_UNTIL (checked != NULL, "the checkpoint check");
    g_assert_true (helix_checkpoint_keeper_check_finish (keeper, checked, &error));
    g_assert_cmpstr (_helix_operator_window_get_value (f->window, HELIX_OPERATOR_LIST_SYNC,
                                                       "gateway-audit"), ==, "Unknown");

    g_settings_set (settings, "gateway-audit-key", "(ss)", helix_gateway_get_uri (gateway),
                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    g_clear_object (&checked);
    helix_checkpoint_keeper_check_async (keeper, NULL, result_cb, &checked);
    WAIT_UNTIL (checked != NULL, "the checkpoint check");
    g_assert_true (helix_checkpoint_keeper_check_finish (keeper, checked, &error));
    g_assert_cmpstr (_helix_operator_window_get_value (f->window, HELIX_OPERATOR_LIST_SYNC,
                                                       "gateway-audit"), ==, "Altered");
    assert_subtitle_has (f, HELIX_OPERATOR_LIST_SYNC, "gateway-audit", "another key");
    helix_operator_window_set_checkpoint_keeper (f->window, NULL);
    g_settings_reset (settings, "gateway-audit-key");
    g_settings_reset (settings, "gateway-audit-checkpoint");
  }

  /* Syncing: the client's state, live. */
  store = helix_store_open (store_path, &error);
  g_assert_no_error (error);
  client = helix_sync_client_new (store);
  helix_operator_window_set_sync (f->window, account, client);
  helix_sync_client_connect (client, helix_account_get_gateway_uri (account),
                             helix_account_get_token (account));
  WAIT_UNTIL (sync_row_is (f, "Up to date"), "the sync state");

  helix_sync_client_disconnect (client);
  WAIT_UNTIL (!sync_row_is (f, "Up to date"), "the sync state after disconnecting");

  /* Signed out: nothing of the account is left. */
  g_clear_object (&result);
  helix_account_sign_out_async (account, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL, "the sign-out");
  g_assert_true (helix_account_sign_out_finish (account, result, &error));
  g_assert_no_error (error);
  WAIT_UNTIL (n_rows (f, HELIX_OPERATOR_LIST_SYNC) == 0,
              "the sync rows to go");
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (f->window->devices_group)));
  g_assert_cmpuint (n_rows (f, HELIX_OPERATOR_LIST_DEVICES), ==, 0);

  /* The window lets go of them. */
  helix_operator_window_set_sync (f->window, NULL, NULL);
  helix_test_gateway_shutdown (gateway);
  helix_test_assert_finalized (g_steal_pointer (&client));
  helix_store_close (store);
}

/* Gateway administration ---------------------------------------------------- */

#define ROOT_PASSWORD "root password for the operator test"
#define BOB_PASSWORD  "bob password for the operator test"

static void
sign_in (HelixAccount *account,
         HelixGateway *gateway,
         const char   *username,
         const char   *password)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  helix_account_sign_in_async (account, helix_gateway_get_uri (gateway), username, password,
                               "Operator laptop", NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL, "the sign-in");
  g_assert_true (helix_account_sign_in_finish (account, result, &error));
  g_assert_no_error (error);
}

/* What the gateway answers @account for @path, as an administrator. */
static JsonNode *
ask_gateway (SoupSession  *session,
             HelixAccount *account,
             const char   *path)
{
  return helix_test_http_json (session, helix_account_get_gateway_uri (account), "GET", path,
                               helix_account_get_token (account), NULL, SOUP_STATUS_OK);
}

/* The flag @name of GET /api/v1/admin/flags, as the gateway has it. */
static JsonObject *
find_flag (JsonNode   *root,
           const char *name)
{
  JsonArray *flags = json_object_get_array_member (json_node_get_object (root), "flags");

  for (guint i = 0; i < json_array_get_length (flags); i++)
    {
      JsonObject *flag = json_array_get_object_element (flags, i);

      if (g_str_equal (json_object_get_string_member (flag, "name"), name))
        return flag;
    }

  g_error ("the gateway has no flag %s", name);
}

static void
test_gateway_admin (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(HelixGatewayConfig) config = NULL;
  g_autoptr(HelixGateway) gateway = NULL;
  g_autoptr(HelixAccount) account = helix_account_new ();
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(GSettings) settings = g_settings_new ("ai.helix.Helix");
  g_autoptr(HelixCheckpointKeeper) keeper = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *gateway_dir = g_build_filename (f->dir, "gateway", NULL);
  g_autofree char *hash = NULL;
  g_autofree char *note = NULL;
  g_auto(GStrv) env = g_environ_setenv (NULL, "DISABLE_SYNTHESIS", "1", TRUE);
  GtkSpinButton *percent;
  GtkSwitch *toggle;
  guint loads;

  helix_test_keyring_start (TRUE);
  g_settings_reset (settings, "gateway-audit-key");
  g_settings_reset (settings, "gateway-audit-checkpoint");
  g_assert_cmpint (g_mkdir (gateway_dir, 0700), ==, 0);
  config = helix_test_gateway_config_new (gateway_dir);
  helix_test_gateway_config_apply (config, NULL);
  /* A checkpoint after every entry, and one flag killed from the environment. */
  g_assert_true (_helix_gateway_config_set_audit_key (config, "checkpoint-entries", "1", &error));
  g_assert_no_error (error);
  g_assert_true (helix_gateway_config_apply_environment (config, (const char * const *) env,
                                                         &error));
  g_assert_no_error (error);
  gateway = helix_test_gateway_start (config);
  hash = helix_password_hash (ROOT_PASSWORD, &error);
  g_assert_no_error (error);
  g_assert_true (helix_gateway_db_add_user (helix_gateway_get_db (gateway), "root", hash, TRUE,
                                            &error));
  g_assert_no_error (error);
  helix_test_gateway_add_user (gateway, "bob", BOB_PASSWORD);

  open_window (f);
  helix_operator_window_set_sync (f->window, account, NULL);
  g_assert_false (adw_view_stack_page_get_visible (f->window->gateway_page));

  /* bob is no administrator: the gateway says 403, the page stays hidden. */
  loads = f->window->n_gateway_loads;
  sign_in (account, gateway, "bob", BOB_PASSWORD);
  WAIT_UNTIL (f->window->n_gateway_loads > loads && _helix_operator_window_is_idle (f->window),
              "bob's answer");
  g_assert_false (f->window->gateway_admin);
  g_assert_false (adw_view_stack_page_get_visible (f->window->gateway_page));
  helix_account_sign_out_async (account, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL, "the sign-out");
  g_assert_true (helix_account_sign_out_finish (account, result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);

  /* root is: the page shows the gateway's state and flags. */
  sign_in (account, gateway, "root", ROOT_PASSWORD);
  WAIT_UNTIL (f->window->gateway_admin && f->window->n_gateway_loads > loads + 1 &&
              _helix_operator_window_is_idle (f->window), "root's answers");
  g_assert_true (adw_view_stack_page_get_visible (f->window->gateway_page));
  g_assert_false (gtk_switch_get_state (f->window->maintenance_switch));
  g_assert_nonnull (_helix_operator_window_get_flag_row (f->window, "voice"));
  g_assert_nonnull (_helix_operator_window_get_flag_row (f->window, "custom-tools"));
  toggle = _helix_operator_window_get_flag_switch (f->window, "memory-synthesis");
  g_assert_nonnull (toggle);
  g_assert_false (gtk_widget_get_sensitive (GTK_WIDGET (toggle)));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (
                              _helix_operator_window_get_flag_row (f->window, "memory-synthesis")),
                            "DISABLE_SYNTHESIS"));
  g_assert_true (gtk_widget_get_sensitive (GTK_WIDGET (
                   _helix_operator_window_get_flag_switch (f->window, "voice"))));

  /* Maintenance on, then off: the gateway's state follows the switch. */
  gtk_switch_set_active (f->window->maintenance_switch, TRUE);
  WAIT_UNTIL (_helix_operator_window_is_idle (f->window), "the maintenance change");
  g_assert_true (gtk_switch_get_state (f->window->maintenance_switch));
  root = ask_gateway (session, account, "/api/v1/admin/maintenance");
  g_assert_true (json_object_get_boolean_member (json_node_get_object (root), "maintenance"));
  g_clear_pointer (&root, json_node_unref);

  gtk_switch_set_active (f->window->maintenance_switch, FALSE);
  WAIT_UNTIL (_helix_operator_window_is_idle (f->window), "the maintenance change");
  g_assert_false (gtk_switch_get_state (f->window->maintenance_switch));
  root = ask_gateway (session, account, "/api/v1/admin/maintenance");
  g_assert_false (json_object_get_boolean_member (json_node_get_object (root), "maintenance"));
  g_clear_pointer (&root, json_node_unref);

  /* A flag's roll-out and switch go to the gateway. */
  percent = _helix_operator_window_get_flag_percent (f->window, "voice");
  gtk_spin_button_set_value (percent, 40);
  WAIT_UNTIL (_helix_operator_window_is_idle (f->window), "the flag change");
  root = ask_gateway (session, account, "/api/v1/admin/flags");
  g_assert_cmpint (json_object_get_int_member (find_flag (root, "voice"), "percent"), ==, 40);
  g_assert_cmpstr (json_object_get_string_member (find_flag (root, "voice"), "source"), ==,
                   "runtime");
  g_clear_pointer (&root, json_node_unref);
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (
                              _helix_operator_window_get_flag_row (f->window, "voice")),
                            "40"));

  toggle = _helix_operator_window_get_flag_switch (f->window, "custom-tools");
  g_assert_true (gtk_switch_get_active (toggle));
  gtk_switch_set_active (toggle, FALSE);
  WAIT_UNTIL (_helix_operator_window_is_idle (f->window), "the flag change");
  root = ask_gateway (session, account, "/api/v1/admin/flags");
  g_assert_false (json_object_get_boolean_member (find_flag (root, "custom-tools"), "enabled"));
  g_clear_pointer (&root, json_node_unref);
  g_assert_false (gtk_switch_get_active (toggle));

  /* Verify, with the checkpoint this device kept. */
  keeper = helix_checkpoint_keeper_new (settings, account);
  helix_checkpoint_keeper_check_async (keeper, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL, "the checkpoint check");
  g_assert_true (helix_checkpoint_keeper_check_finish (keeper, result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);
  note = helix_checkpoint_keeper_dup_checkpoint (keeper);
  g_assert_nonnull (note);
  helix_operator_window_set_checkpoint_keeper (f->window, keeper);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "operator.gateway-verify",
                                             NULL));
  WAIT_UNTIL (f->window->n_gateway_verifies == 1 && _helix_operator_window_is_idle (f->window),
              "the gateway's verification");
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (f->window->gateway_verify_row)),
                   ==, "The Gateway’s Audit Log Is Intact");
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (f->window->gateway_verify_row),
                            "entries checked"));

  /* A checkpoint the gateway's log does not fit: the problem and where. */
  {
    g_autofree char *forged = g_strdup (note);
    g_autofree char *kept = NULL;
    char *size = strchr (forged, '\n');

    g_assert_nonnull (size);
    /* The checkpoint's size, one more: the signature no longer covers it. */
    size[1] = size[1] == '9' ? '1' : size[1] + 1;
    g_settings_set (settings, "gateway-audit-checkpoint", "(ss)",
                    helix_account_get_gateway_uri (account), forged);
    kept = helix_checkpoint_keeper_dup_checkpoint (keeper);
    g_assert_cmpstr (kept, ==, forged);
  }
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "operator.gateway-verify",
                                             NULL));
  WAIT_UNTIL (f->window->n_gateway_verifies == 2 && _helix_operator_window_is_idle (f->window),
              "the gateway's verification");
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (f->window->gateway_verify_row)),
                   ==, "The Gateway’s Audit Log Was Altered");
  g_test_message ("%s", adw_action_row_get_subtitle (f->window->gateway_verify_row));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (f->window->gateway_verify_row),
                            "Signature not valid at entry 0: "));

  /* The gateway gone: the switches go back and say why. */
  helix_test_gateway_shutdown (gateway);
  gtk_switch_set_active (f->window->maintenance_switch, TRUE);
  WAIT_UNTIL (_helix_operator_window_is_idle (f->window), "the failed maintenance change");
  g_assert_false (gtk_switch_get_active (f->window->maintenance_switch));
  g_assert_false (gtk_switch_get_state (f->window->maintenance_switch));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (f->window->maintenance_row),
                            "Could not reach"));
  toggle = _helix_operator_window_get_flag_switch (f->window, "custom-tools");
  gtk_switch_set_active (toggle, TRUE);
  WAIT_UNTIL (_helix_operator_window_is_idle (f->window), "the failed flag change");
  g_assert_false (gtk_switch_get_active (toggle));
  g_assert_nonnull (strstr (adw_preferences_group_get_description (f->window->flags_group),
                            "Could not reach"));

  helix_operator_window_set_checkpoint_keeper (f->window, NULL);
  helix_operator_window_set_sync (f->window, NULL, NULL);
  g_assert_false (adw_view_stack_page_get_visible (f->window->gateway_page));
  g_settings_reset (settings, "gateway-audit-key");
  g_settings_reset (settings, "gateway-audit-checkpoint");
}

/* Without collaborators, every page says what it is missing. */
static void
test_nothing (void)
{
  HelixOperatorWindow *window;
  gpointer weak;

  window = HELIX_OPERATOR_WINDOW (helix_operator_window_new (NULL, NULL, NULL, NULL, NULL));
  weak = window;
  g_object_add_weak_pointer (G_OBJECT (window), &weak);
  gtk_window_present (GTK_WINDOW (window));
  WAIT_UNTIL (_helix_operator_window_get_n_refreshes (window) >= 1 &&
              _helix_operator_window_is_idle (window), "a refresh");

  g_assert_cmpuint (_helix_operator_window_get_n_rows (window, HELIX_OPERATOR_LIST_PROVIDERS),
                    ==, 0);
  g_assert_nonnull (strstr (placeholder (window, HELIX_OPERATOR_LIST_PROVIDERS),
                            "No AI router"));
  g_assert_nonnull (strstr (placeholder (window, HELIX_OPERATOR_LIST_CALLS),
                            "No cost ledger"));
  g_assert_nonnull (strstr (placeholder (window, HELIX_OPERATOR_LIST_BUDGET),
                            "No budget"));
  g_assert_nonnull (strstr (placeholder (window, HELIX_OPERATOR_LIST_SINKS),
                            "No audit log"));
  g_assert_cmpstr (_helix_operator_window_get_verify_title (window), ==, "Not available");

  gtk_window_destroy (GTK_WINDOW (window));
  helix_test_wait_finalized (&weak);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *problem = NULL;
  int ret;

  /* Before any thread: the environment of this process and of the keyring daemon. */
  helix_test_keyring_init ("helix-operator");

  gtk_test_init (&argc, &argv, NULL);
  adw_init ();

  if ((problem = helix_test_keyring_check ()) != NULL)
    g_error ("%s", problem);

  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

#define ADD(path, func) \
  g_test_add ("/helix/operator/" path, Fixture, NULL, fixture_setup, (func), fixture_teardown)

  ADD ("costs", test_costs);
  ADD ("recent-calls", test_recent_calls);
  ADD ("live-call", test_live_call);
  ADD ("health", test_health);
  ADD ("webhooks", test_webhooks);
  ADD ("audit-list", test_audit_list);
  ADD ("audit-paging", test_audit_paging);
  ADD ("verify", test_verify);
  ADD ("sync", test_sync);
  ADD ("gateway-admin", test_gateway_admin);
  g_test_add_func ("/helix/operator/nothing", test_nothing);

#undef ADD

  ret = g_test_run ();

  helix_test_keyring_cleanup ();

  return ret;
}
