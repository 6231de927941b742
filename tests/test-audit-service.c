/* test-audit-service.c: the audit trail as the app and the gateway use it
 *
 * Real files: entries are recorded off the main loop and answered once
 * durable, a held lock on the log makes recording fail (and the caller must
 * not act), entries reach a loopback webhook receiver by channel with the
 * newest checkpoint, a sink catches up after entries were written while it
 * was not routed to, verifying finds an altered row, listing filters.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "helix-audit.h"
#include "helix-audit-watch.h"
#include "helix-http-provider.h"
#include "helix-sanitizer.h"
#include "helix-test-sqlite.h"
#include "helix-test-server.h"
#include "helix-test-util.h"

#define ORIGIN "helix-audit/test-host"
#define CANARY "sk-canaryCANARYcanaryCANARY0123456789"

typedef struct
{
  char             *dir;
  char             *log_path;
  char             *queue_path;
  HelixAuditSigner *signer;
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *key = NULL;

  f->dir = g_dir_make_tmp ("helix-audit-service-XXXXXX", &error);
  g_assert_no_error (error);
  f->log_path = g_build_filename (f->dir, "audit.db", NULL);
  f->queue_path = g_build_filename (f->dir, "webhooks.db", NULL);
  key = g_build_filename (f->dir, "audit.key", NULL);
  f->signer = helix_audit_load_key_file (key, ORIGIN, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  helix_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->log_path);
  g_free (f->queue_path);
  helix_audit_signer_unref (f->signer);
}

static HelixAudit *
open_audit (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  HelixAudit *audit = helix_audit_open (f->log_path, f->queue_path, ORIGIN, f->signer, &error);

  g_assert_no_error (error);
  g_assert_nonnull (audit);

  return audit;
}

typedef struct
{
  gint64   seq;
  GError  *error;
  gboolean done;
} Result;

static void
record_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Result *r = user_data;

  r->seq = helix_audit_record_finish (HELIX_AUDIT (source), result, &r->error);
  r->done = TRUE;
}

static gint64
record (HelixAudit  *audit,
        const char  *channel,
        const char  *event,
        const char  *payload,
        GError     **error)
{
  Result r = { 0 };

  helix_audit_record_async (audit, channel, "alice", event, payload, NULL, record_cb, &r);
  helix_test_wait_for (r.done, 30, "an audit entry");
  if (r.error != NULL)
    g_propagate_error (error, r.error);

  return r.seq;
}

static GPtrArray *
list (HelixAudit             *audit,
      const HelixAuditFilter *filter)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GPtrArray *items;

  helix_audit_list_async (audit, filter, NULL, helix_test_result_cb, &result);
  helix_test_wait_for (result != NULL, 30, "the audit list");
  items = helix_audit_list_finish (audit, result, &error);
  g_assert_no_error (error);

  return items;
}

static void
verify (HelixAudit       *audit,
        const char       *known,
        HelixAuditReport *report)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  helix_audit_verify_async (audit, known, NULL, helix_test_result_cb, &result);
  helix_test_wait_for (result != NULL, 60, "the verification");
  g_assert_true (helix_audit_verify_finish (audit, result, report, &error));
  g_assert_no_error (error);
}

static void
count_added (HelixAudit *audit,
             gint64      seq,
             const char *channel,
             const char *event,
             gint64     *last)
{
  g_assert_cmpint (seq, ==, *last + 1);
  *last = seq;
}

/* Many callers at once: one seq each, in order, all durable and verified. */
static void
test_record (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(HelixAudit) audit = open_audit (f);
  g_autoptr(GPtrArray) items = NULL;
  g_auto(HelixAuditReport) report = { 0 };
  Result results[200] = { { 0 } };
  gint64 last_added = 0;
  guint done = 0;

  g_signal_connect (audit, "entry-added", G_CALLBACK (count_added), &last_added);

  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    {
      g_autofree char *payload = g_strdup_printf ("{\"n\":%u,\"key\":\"%s\"}", i, CANARY);

      helix_audit_record_async (audit, HELIX_AUDIT_CHANNEL_COMMANDS, "alice", "tool.run", payload,
                                NULL, record_cb, &results[i]);
    }
  while (done < G_N_ELEMENTS (results))
    {
      g_main_context_iteration (NULL, TRUE);
      done = 0;
      for (guint i = 0; i < G_N_ELEMENTS (results); i++)
        done += results[i].done;
    }

  /* Seqs are given in the order the calls were made. */
  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    {
      g_assert_no_error (results[i].error);
      g_assert_cmpint (results[i].seq, ==, i + 1);
    }
  helix_test_wait_for (last_added == 200, 30, "every entry-added");
  g_assert_cmpint (helix_audit_get_size (audit), ==, 200);

  /* The payload was sanitized before it was written. */
  items = list (audit, NULL);
  g_assert_cmpuint (items->len, ==, 100);
  g_assert_cmpint (((HelixAuditItem *) g_ptr_array_index (items, 0))->seq, ==, 200);
  g_assert_null (strstr (((HelixAuditItem *) g_ptr_array_index (items, 0))->payload, CANARY));
  g_assert_nonnull (strstr (((HelixAuditItem *) g_ptr_array_index (items, 0))->payload,
                            HELIX_SANITIZER_REDACTED));

  verify (audit, NULL, &report);
  g_assert_cmpint (report.problem, ==, HELIX_AUDIT_OK);
  g_assert_cmpint (report.n_entries, ==, 200);

  /* Closed: nothing more is written, and the caller hears so. */
  helix_audit_close (audit);
  {
    g_autoptr(GError) error = NULL;

    g_assert_cmpint (record (audit, HELIX_AUDIT_CHANNEL_API, "auth.login", NULL, &error), ==, 0);
    g_assert_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO);
  }
}

/* An invalid entry fails alone; those written with it in the same group still land. */
static void
test_invalid (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(HelixAudit) audit = open_audit (f);
  Result good = { 0 }, bad = { 0 }, also_good = { 0 };

  helix_audit_record_async (audit, HELIX_AUDIT_CHANNEL_API, "alice", "a", "{}", NULL, record_cb, &good);
  helix_audit_record_async (audit, HELIX_AUDIT_CHANNEL_API, "alice", "b", "[1,2]", NULL, record_cb, &bad);
  helix_audit_record_async (audit, HELIX_AUDIT_CHANNEL_API, "alice", "c", "{\"x\":1}", NULL, record_cb,
                            &also_good);
  helix_test_wait_for (good.done && bad.done && also_good.done, 30, "three entries");

  g_assert_no_error (good.error);
  g_assert_error (bad.error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_INVALID);
  g_assert_no_error (also_good.error);
  g_assert_cmpint (bad.seq, ==, 0);
  g_assert_cmpint (also_good.seq, ==, good.seq + 1);
  g_clear_error (&bad.error);
}

/* A store that cannot be written (another process holds its lock): the
 * caller is told and does not act; afterwards recording works again. */
static void
test_fail_closed (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(HelixAudit) audit = open_audit (f);
  g_autoptr(GError) error = NULL;
  sqlite3 *db = NULL;
  gboolean acted = FALSE;
  gint64 seq;

  g_assert_cmpint (record (audit, HELIX_AUDIT_CHANNEL_API, "auth.login", NULL, &error), ==, 1);
  g_assert_no_error (error);

  db = helix_test_sqlite_open (f->log_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  g_assert_cmpint (sqlite3_exec (db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), ==, SQLITE_OK);

  seq = record (audit, HELIX_AUDIT_CHANNEL_API, "provider.key.set", "{\"provider\":\"deepseek\"}", &error);
  if (seq > 0)
    acted = TRUE;
  g_assert_false (acted);
  g_assert_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO);
  {
    g_autofree char *last_error = helix_audit_dup_last_error (audit);

    g_assert_nonnull (last_error);
  }
  g_clear_error (&error);

  g_assert_cmpint (sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);

  g_assert_cmpint (record (audit, HELIX_AUDIT_CHANNEL_API, "provider.key.set", NULL, &error), ==, 2);
  g_assert_no_error (error);
}

/* Webhooks {{{1 */

typedef struct
{
  HelixTestServer http;
  GArray         *seqs;
  GPtrArray      *channels;
  char           *checkpoint;
  guint           fail_next;
} Receiver;

static void
handle (SoupServer        *server,
        SoupServerMessage *msg,
        const char        *path,
        GHashTable        *query,
        gpointer           user_data)
{
  Receiver *r = user_data;
  g_autoptr(GBytes) body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *root;
  JsonArray *entries;

  if (r->fail_next > 0)
    {
      r->fail_next--;
      soup_server_message_set_status (msg, 500, NULL);
      return;
    }

  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (body, NULL),
                                             g_bytes_get_size (body), NULL));
  root = json_node_get_object (json_parser_get_root (parser));
  entries = json_object_get_array_member (root, "entries");
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *wrapper = json_array_get_object_element (entries, i);
      JsonObject *entry = json_object_get_object_member (wrapper, "entry");
      gint64 seq = json_object_get_int_member (wrapper, "seq");

      g_assert_cmpint (json_object_get_int_member (entry, "seq"), ==, seq);
      g_assert_cmpstr (json_object_get_string_member (entry, "channel"), ==,
                       json_object_get_string_member (wrapper, "channel"));
      g_assert_true (JSON_NODE_HOLDS_OBJECT (json_object_get_member (entry, "payload")));
      g_array_append_val (r->seqs, seq);
      g_ptr_array_add (r->channels, g_strdup (json_object_get_string_member (entry, "channel")));
    }
  if (json_object_has_member (root, "checkpoint"))
    {
      g_free (r->checkpoint);
      r->checkpoint = g_strdup (json_object_get_string_member (root, "checkpoint"));
    }
  soup_server_message_set_status (msg, 200, NULL);
}

static void
receiver_init (Receiver *r)
{
  r->seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  r->channels = g_ptr_array_new_with_free_func (g_free);
  helix_test_server_start (&r->http, handle, r);
}

static void
receiver_clear (Receiver *r)
{
  helix_test_server_clear (&r->http);
  g_array_unref (r->seqs);
  g_ptr_array_unref (r->channels);
  g_free (r->checkpoint);
}

static guint
count_channel (Receiver   *r,
               const char *channel)
{
  guint n = 0;

  for (guint i = 0; i < r->channels->len; i++)
    n += g_str_equal (g_ptr_array_index (r->channels, i), channel);

  return n;
}

/* After dropping repeats, the seqs received are 1…n in order: returns n. */
static gint64
distinct_through (Receiver *r)
{
  gint64 next = 1;

  for (guint i = 0; i < r->seqs->len; i++)
    {
      gint64 seq = g_array_index (r->seqs, gint64, i);

      if (seq < next)
        continue;
      g_assert_cmpint (seq, ==, next);
      next++;
    }

  return next - 1;
}

static void
add_sink (HelixAudit         *audit,
          Receiver           *r,
          const char * const *channels)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = helix_test_server_url (&r->http, "/hook/token-in-path");

  g_assert_true (helix_audit_add_sink (audit, "receiver", HELIX_WEBHOOK_FORMAT_JSON, url, NULL,
                                       channels, &error));
  g_assert_no_error (error);
}

/* Each sink gets its channels' entries, in order, with the newest checkpoint. */
static void
test_webhooks (Fixture       *f,
               gconstpointer  data)
{
  static const char * const channels[] = { HELIX_AUDIT_CHANNEL_API, HELIX_AUDIT_CHANNEL_HASH_CHAIN, NULL };
  static const char * const unknown[] = { "gossip", NULL };
  g_autoptr(HelixAudit) audit = open_audit (f);
  g_autoptr(GPtrArray) sinks = NULL;
  g_autoptr(GError) error = NULL;
  Receiver r = { { 0 } };
  guint n_api = 0, n_checkpoints = 0;
  gint64 last_seq = 0;

  receiver_init (&r);
  g_assert_false (helix_audit_add_sink (audit, "bad", HELIX_WEBHOOK_FORMAT_JSON, "http://127.0.0.1:1/",
                                        NULL, unknown, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  add_sink (audit, &r, channels);
  helix_audit_set_checkpoint_every (audit, 10, 0);
  helix_audit_start (audit);
  r.fail_next = 2;   /* backoff, then delivery */
  helix_webhook_queue_set_timing (helix_audit_get_webhook_queue (audit), 5, 10, 50, 600);

  for (guint i = 0; i < 30; i++)
    {
      const char *channel = i % 3 == 0 ? HELIX_AUDIT_CHANNEL_COMMANDS : HELIX_AUDIT_CHANNEL_API;

      g_assert_cmpint (record (audit, channel, "event", "{}", &error), >, 0);
      g_assert_no_error (error);
    }

  /* 20 api entries and the checkpoint entries (every 10 entries). */
  helix_test_wait_for (r.checkpoint != NULL && count_channel (&r, HELIX_AUDIT_CHANNEL_API) == 20, 60,
                       "the api entries delivered");
  for (guint i = 0; i < r.seqs->len; i++)
    {
      const char *channel = g_ptr_array_index (r.channels, i);
      gint64 seq = g_array_index (r.seqs, gint64, i);

      g_assert_cmpint (seq, >, last_seq);
      last_seq = seq;
      g_assert_true (g_str_equal (channel, HELIX_AUDIT_CHANNEL_API) ||
                     g_str_equal (channel, HELIX_AUDIT_CHANNEL_HASH_CHAIN));
      n_api += g_str_equal (channel, HELIX_AUDIT_CHANNEL_API);
      n_checkpoints += g_str_equal (channel, HELIX_AUDIT_CHANNEL_HASH_CHAIN);
    }
  g_assert_cmpuint (n_api, ==, 20);
  g_assert_cmpuint (n_checkpoints, >=, 2);

  /* The checkpoint receivers keep is this log's, signed by its key. */
  {
    g_autoptr(HelixAuditCheckpoint) kept =
      helix_audit_checkpoint_parse (r.checkpoint, -1, helix_audit_get_public_key (audit), ORIGIN, &error);
    g_auto(HelixAuditReport) report = { 0 };

    g_assert_no_error (error);
    g_assert_cmpint (kept->size, >=, 10);
    verify (audit, r.checkpoint, &report);
    g_assert_cmpint (report.problem, ==, HELIX_AUDIT_OK);
  }

  sinks = helix_audit_list_sinks (audit);
  g_assert_cmpuint (sinks->len, ==, 1);
  /* The URL's path may hold a token: people see the host. */
  g_assert_null (strstr (((HelixAuditSinkStatus *) g_ptr_array_index (sinks, 0))->url, "token"));
  g_assert_false (((HelixAuditSinkStatus *) g_ptr_array_index (sinks, 0))->failing);

  helix_audit_close (audit);
  receiver_clear (&r);
}

/* Entries written while no sink was routed (a crash between commit and
 * queueing looks the same) reach the sink when it starts again. */
static void
test_catch_up (Fixture       *f,
               gconstpointer  data)
{
  static const char * const channels[] = { HELIX_AUDIT_CHANNEL_API, NULL };
  g_autoptr(GError) error = NULL;
  Receiver r = { { 0 } };

  receiver_init (&r);

  /* First run: the sink is new and gets this run's entries. */
  {
    g_autoptr(HelixAudit) audit = open_audit (f);

    add_sink (audit, &r, channels);
    helix_audit_start (audit);
    for (guint i = 0; i < 3; i++)
      g_assert_cmpint (record (audit, HELIX_AUDIT_CHANNEL_API, "one", NULL, &error), >, 0);
    helix_test_wait_for (r.seqs->len == 3, 30, "the first run's entries");
  }

  /* Second run: written, never routed. */
  {
    g_autoptr(HelixAudit) audit = open_audit (f);

    for (guint i = 0; i < 4; i++)
      g_assert_cmpint (record (audit, HELIX_AUDIT_CHANNEL_API, "two", NULL, &error), >, 0);
  }

  /* Third run: the sink catches up from its mark. */
  {
    g_autoptr(HelixAudit) audit = open_audit (f);

    add_sink (audit, &r, channels);
    helix_audit_start (audit);
    g_assert_cmpint (record (audit, HELIX_AUDIT_CHANNEL_API, "three", NULL, &error), ==, 8);
    /* At least once: what the first run had sent may come again. */
    helix_test_wait_for (distinct_through (&r) == 8, 30, "the missed entries");
  }

  g_assert_no_error (error);
  receiver_clear (&r);
}

/* Verifying and listing {{{1 */

static void
test_verify (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(HelixAudit) audit = open_audit (f);
  g_autoptr(HelixAuditSigner) other = NULL;
  g_autoptr(HelixAuditCheckpoint) foreign = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(HelixAuditReport) ok = { 0 };
  g_auto(HelixAuditReport) bad = { 0 };
  g_auto(HelixAuditReport) forged = { 0 };
  sqlite3 *db = NULL;

  helix_audit_set_checkpoint_every (audit, 5, 0);
  for (guint i = 0; i < 20; i++)
    g_assert_cmpint (record (audit, HELIX_AUDIT_CHANNEL_COMMANDS, "tool.run", "{\"ok\":true}", &error), >, 0);

  verify (audit, NULL, &ok);
  g_assert_cmpint (ok.problem, ==, HELIX_AUDIT_OK);
  g_assert_cmpint (ok.n_entries, ==, helix_audit_get_size (audit));

  /* A checkpoint signed by another key is not this log's. */
  other = helix_audit_signer_new (ORIGIN, &error);
  foreign = helix_audit_checkpoint_sign (other, ORIGIN, 3, ok.head);
  verify (audit, foreign->note, &forged);
  g_assert_cmpint (forged.problem, ==, HELIX_AUDIT_BAD_SIGNATURE);

  /* One byte of entry 7's payload changed. */
  db = helix_test_sqlite_open (f->log_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  g_assert_cmpint (sqlite3_exec (db,
                                 "UPDATE entries SET record = replace (record, CAST ('true' AS BLOB), "
                                 "CAST ('TRUE' AS BLOB)) WHERE seq = 7",
                                 NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_changes (db), ==, 1);
  sqlite3_close (db);

  verify (audit, NULL, &bad);
  g_assert_cmpint (bad.problem, ==, HELIX_AUDIT_BAD_ENTRY);
  g_assert_cmpint (bad.seq, ==, 7);
  g_assert_nonnull (bad.message);
}

static void
test_list (Fixture       *f,
           gconstpointer  data)
{
  g_autoptr(HelixAudit) audit = open_audit (f);
  g_autoptr(GError) error = NULL;
  HelixAuditFilter by_channel = { HELIX_AUDIT_CHANNEL_API, NULL, NULL, 0, 5 };
  HelixAuditFilter by_text = { NULL, NULL, "DeepSeek", 0, 100 };
  HelixAuditFilter older = { HELIX_AUDIT_CHANNEL_API, NULL, NULL, 0, 100 };

  for (guint i = 0; i < 40; i++)
    g_assert_cmpint (record (audit, i % 2 ? HELIX_AUDIT_CHANNEL_API : HELIX_AUDIT_CHANNEL_COMMANDS,
                             i == 17 ? "provider.added" : "other",
                             i == 17 ? "{\"provider\":\"deepseek\"}" : "{}", &error), >, 0);

  {
    g_autoptr(GPtrArray) items = list (audit, &by_channel);

    g_assert_cmpuint (items->len, ==, 5);
    for (guint i = 0; i < items->len; i++)
      {
        HelixAuditItem *item = g_ptr_array_index (items, i);

        g_assert_cmpstr (item->channel, ==, HELIX_AUDIT_CHANNEL_API);
        g_assert_cmpstr (item->actor, ==, "alice");
        g_assert_cmpint (item->seq, ==, 40 - 2 * i);
        g_assert_cmpint (item->time_us, >, 0);
      }
  }
  {
    g_autoptr(GPtrArray) items = list (audit, &by_text);

    /* Case-insensitive, in the payload. */
    g_assert_cmpuint (items->len, ==, 1);
    g_assert_cmpint (((HelixAuditItem *) g_ptr_array_index (items, 0))->seq, ==, 18);
  }
  {
    g_autoptr(GPtrArray) items = NULL;

    older.before_seq = 10;
    items = list (audit, &older);
    g_assert_cmpuint (items->len, ==, 4);
    g_assert_cmpint (((HelixAuditItem *) g_ptr_array_index (items, 0))->seq, ==, 8);
  }
}

/* A breaker that opens and closes again, and a budget at its alert share,
 * are kept in the trail. */
static void
test_watch_router (Fixture       *f,
                   gconstpointer  data)
{
  static const char * const models[] = { "deepseek-chat", NULL };
  g_autoptr(HelixAudit) audit = open_audit (f);
  g_autoptr(HelixPriceTable) prices = helix_price_table_new_default (NULL);
  g_autoptr(HelixRouter) router = helix_router_new (prices);
  g_autoptr(HelixBudget) budget = helix_budget_new ();
  g_autoptr(HelixHttpProvider) provider = NULL;
  HelixBudgetReservation *reservation;
  g_autoptr(GPtrArray) items = NULL;
  g_autoptr(GError) error = NULL;
  HelixAuditFilter alerts = { HELIX_AUDIT_CHANNEL_ALERTS, NULL, NULL, 0, 10 };
  HelixAuditFilter state = { HELIX_AUDIT_CHANNEL_ASSISTANT_STATE, NULL, NULL, 0, 10 };
  gint64 last_added = 0;

  provider = helix_http_provider_new_for_kind ("openai", "deepseek", "http://127.0.0.1:9/v1", NULL,
                                               &error);
  g_assert_no_error (error);
  helix_router_add_provider (router, HELIX_PROVIDER (provider), "deepseek", models);
  helix_audit_watch_router (audit, router, budget);
  g_signal_connect (audit, "entry-added", G_CALLBACK (count_added), &last_added);

  for (guint i = 0; i < HELIX_ROUTER_BREAKER_THRESHOLD; i++)
    helix_router_report (router, "deepseek", FALSE);
  helix_router_report (router, "deepseek", TRUE);

  helix_budget_set_limit (budget, HELIX_BUDGET_SCOPE_GLOBAL, HELIX_BUDGET_PERIOD_DAY, 1.0);
  reservation = helix_budget_reserve (budget, "alice", 0.9, &error);
  g_assert_no_error (error);

  /* down (state and alert), up, the budget's alert */
  helix_test_wait_for (last_added == 4, 30, "the router's entries");
  items = list (audit, &state);
  g_assert_cmpuint (items->len, ==, 2);
  g_assert_nonnull (strstr (((HelixAuditItem *) g_ptr_array_index (items, 1))->payload, "\"down\""));
  g_assert_nonnull (strstr (((HelixAuditItem *) g_ptr_array_index (items, 0))->payload, "\"up\""));
  g_clear_pointer (&items, g_ptr_array_unref);
  items = list (audit, &alerts);
  g_assert_cmpuint (items->len, ==, 2);
  g_assert_cmpstr (((HelixAuditItem *) g_ptr_array_index (items, 0))->event, ==, "budget.alert");
  g_assert_cmpstr (((HelixAuditItem *) g_ptr_array_index (items, 1))->event, ==, "provider.down");
  helix_budget_settle (budget, reservation, 0.9);
}

/* The key file {{{1 */

static void
test_key_file (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *path = g_build_filename (f->dir, "audit.key", NULL);
  g_autofree char *garbage = g_build_filename (f->dir, "garbage.key", NULL);
  g_autoptr(HelixAuditSigner) again = NULL;
  g_autoptr(HelixAuditSigner) refused = NULL;
  g_autoptr(GError) error = NULL;
  GStatBuf st;

  /* Made by the fixture, private. */
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  again = helix_audit_load_key_file (path, ORIGIN, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (helix_audit_signer_get_public_key (again), HELIX_AUDIT_PUBLIC_KEY_BYTES,
                   helix_audit_signer_get_public_key (f->signer), HELIX_AUDIT_PUBLIC_KEY_BYTES);

  /* Others could read it: refused. */
  g_assert_cmpint (g_chmod (path, 0644), ==, 0);
  refused = helix_audit_load_key_file (path, ORIGIN, &error);
  g_assert_null (refused);
  g_assert_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "0600"));
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (garbage, "helix-audit-key-v1\nnot base64 of a key\n", -1, NULL));
  g_assert_cmpint (g_chmod (garbage, 0600), ==, 0);
  refused = helix_audit_load_key_file (garbage, ORIGIN, &error);
  g_assert_null (refused);
  g_assert_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_INVALID);
}

/* helix --verify-audit {{{1 */

static int
run_verify (const char  *dir,
            const char  *checkpoint,
            char       **out)
{
  const char *binary = g_getenv ("HELIX_BINARY");
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  g_assert_nonnull (binary);
  g_ptr_array_add (args, (char *) binary);
  g_ptr_array_add (args, (char *) "--verify-audit");
  g_ptr_array_add (args, (char *) "--state-dir");
  g_ptr_array_add (args, (char *) dir);
  if (checkpoint != NULL)
    {
      g_ptr_array_add (args, (char *) "--checkpoint");
      g_ptr_array_add (args, (char *) checkpoint);
    }
  g_ptr_array_add (args, NULL);

  g_assert_true (g_spawn_sync (NULL, (char **) args->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out,
                               &err, &status, &error));
  g_assert_no_error (error);
  g_test_message ("helix --verify-audit: %s%s", *out, err);

  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

/* The command line finds a cut tail only with a checkpoint kept elsewhere,
 * and a checkpoint another key signed. */
static void
test_command_line (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(HelixAudit) audit = open_audit (f);
  g_autoptr(HelixAuditSigner) other = NULL;
  g_autoptr(HelixAuditCheckpoint) foreign = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *kept = g_build_filename (f->dir, "kept.note", NULL);
  g_autofree char *forged = g_build_filename (f->dir, "forged.note", NULL);
  g_autofree char *missing = g_build_filename (f->dir, "nowhere", NULL);
  g_autofree char *note = NULL;
  sqlite3 *db = NULL;

  helix_audit_set_checkpoint_every (audit, 10, 0);
  for (guint i = 0; i < 25; i++)
    g_assert_cmpint (record (audit, HELIX_AUDIT_CHANNEL_API, "auth.login", NULL, &error), >, 0);
  note = helix_audit_dup_latest_checkpoint (audit);
  g_assert_nonnull (note);
  g_assert_true (g_file_set_contents (kept, note, -1, NULL));
  other = helix_audit_signer_new (ORIGIN, &error);
  foreign = helix_audit_checkpoint_sign (other, ORIGIN, 5, (const guint8 *) "0123456789abcdef0123456789abcdef");
  g_assert_true (g_file_set_contents (forged, foreign->note, -1, NULL));
  helix_audit_close (audit);

  {
    g_autofree char *out = NULL;

    g_assert_cmpint (run_verify (f->dir, kept, &out), ==, 0);
    g_assert_true (g_str_has_prefix (out, "ok: "));
  }
  {
    g_autofree char *out = NULL;

    g_assert_cmpint (run_verify (f->dir, forged, &out), ==, 1);
    g_assert_nonnull (strstr (out, "bad-signature"));
  }
  {
    g_autofree char *out = NULL;

    g_assert_cmpint (run_verify (missing, NULL, &out), ==, 2);
  }

  /* The tail and the checkpoints that covered it are gone: consistent on
   * its own, caught by the kept checkpoint. */
  db = helix_test_sqlite_open (f->log_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  g_assert_cmpint (sqlite3_exec (db, "DELETE FROM entries WHERE seq > 12; "
                                     "DELETE FROM checkpoints WHERE size > 12",
                                 NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
  {
    g_autofree char *out = NULL;

    g_assert_cmpint (run_verify (f->dir, NULL, &out), ==, 0);
  }
  {
    g_autofree char *out = NULL;

    g_assert_cmpint (run_verify (f->dir, kept, &out), ==, 1);
    g_assert_nonnull (strstr (out, "truncated"));
  }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/audit-service/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("record", test_record);
  ADD ("invalid", test_invalid);
  ADD ("fail-closed", test_fail_closed);
  ADD ("webhooks", test_webhooks);
  ADD ("catch-up", test_catch_up);
  ADD ("verify", test_verify);
  ADD ("list", test_list);
  ADD ("watch-router", test_watch_router);
  ADD ("key-file", test_key_file);
  ADD ("command-line", test_command_line);
#undef ADD

  return g_test_run ();
}
