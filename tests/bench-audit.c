/* bench-audit.c: the audit trail's speed
 *
 * Prints lines `BENCH <name> <value> <unit>`. Run with `meson test -C <build> --benchmark`.
 *
 *   sha256_raw_records_per_s        SHA-256 of 256-byte chained records on one thread, nothing
 *                                   else
 *   audit_append_single_first_per_s durable appends, one transaction (and fsync) each: the first
 *                                   1,000 of a new log, whose WAL file grows with each
 *   audit_append_single_per_s       the same, the next 2,000: the WAL file is only overwritten
 *                                   (it stays when the log is closed, so this is what a log in
 *                                   use sees)
 *   audit_append_batched_per_s      durable appends in batches of 1,000
 *   audit_verify_entries_per_s      verifying a 1,000,000-entry log (read from SQLite, rehashed,
 *                                   on every core)
 *   audit_verify_raw_ratio          sha256_raw_records_per_s / audit_verify_entries_per_s
 *   webhook_queue_us_per_entry      entries queued one by one (each durable) and delivered to a
 *                                   loopback JSON webhook answering 204: from the first enqueue
 *                                   to the last entry received, per entry
 *
 * HELIX_BENCH_AUDIT_ENTRIES overrides the 1,000,000 (for a quick run).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <stdio.h>

#include "helix-audit-log.h"
#include "helix-test-util.h"
#include "helix-webhook-queue.h"

#define ORIGIN "helix-audit/bench"

static double
seconds_since (gint64 start)
{
  return (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC;
}

/* A payload that makes each record 256 bytes. */
static char *
make_payload (guint i)
{
  g_autofree char *pad = g_strnfill (256 - 4 - 8 - 8 - 2 - 8 - 2 - 5 - 2 - 8 - 4 - 42, 'x');

  return g_strdup_printf ("{\"n\":\"%08u\",\"pad\":\"%s\"}", i % 100000000, pad);
}

static double raw_per_s;

static void
bench_raw (guint n)
{
  guint8 record[256];
  guint8 head[32] = { 0 };
  gint64 start;

  for (guint i = 0; i < sizeof record; i++)
    record[i] = (guint8) i;

  start = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++)
    {
      record[0] = (guint8) i;
      helix_audit_entry_hash (head, record, sizeof record, head);
    }
  raw_per_s = n / seconds_since (start);
  printf ("BENCH sha256_raw_records_per_s %.0f records/s\n", raw_per_s);
}

static void
bench_log (const char *dir,
           guint       n)
{
  g_autofree char *path = g_build_filename (dir, "audit.db", NULL);
  g_autoptr(HelixAuditSigner) signer = helix_audit_signer_new (ORIGIN, NULL);
  g_autoptr(HelixAuditLog) log = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(HelixAuditReport) report = { 0 };
  g_autofree HelixAuditEntry *entries = g_new0 (HelixAuditEntry, 1000);
  g_autoptr(GPtrArray) payloads = g_ptr_array_new_with_free_func (g_free);
  const guint n_first = 1000;
  const guint n_single = n_first + 2000;
  gint64 start;
  gint64 batched_us = 0;
  double verify_per_s;

  log = helix_audit_log_open (path, ORIGIN, signer, &error);
  g_assert_no_error (error);

  start = g_get_monotonic_time ();
  for (guint i = 0; i < n_single; i++)
    {
      g_autofree char *payload = make_payload (i);

      if (helix_audit_log_append (log, "commands", "alice", "tool.run", payload, &error) == 0)
        g_error ("%s: %s", payload, error->message);
      if (i + 1 == n_first)
        {
          printf ("BENCH audit_append_single_first_per_s %.0f entries/s\n",
                  n_first / seconds_since (start));
          start = g_get_monotonic_time ();
        }
    }
  printf ("BENCH audit_append_single_per_s %.0f entries/s\n",
          (n_single - n_first) / seconds_since (start));

  for (guint i = 0; i < 1000; i++)
    g_ptr_array_add (payloads, make_payload (i));
  for (guint done = n_single; done < n; done += 1000)
    {
      guint batch = MIN (1000, n - done);

      for (guint i = 0; i < batch; i++)
        entries[i] = (HelixAuditEntry) { 0, 0, "commands", "alice", "tool.run",
                                         g_ptr_array_index (payloads, i) };
      start = g_get_monotonic_time ();
      g_assert_true (helix_audit_log_append_batch (log, entries, batch, NULL, &error));
      batched_us += g_get_monotonic_time () - start;
    }
  printf ("BENCH audit_append_batched_per_s %.0f entries/s\n",
          (n - n_single) / (batched_us / (double) G_USEC_PER_SEC));

  start = g_get_monotonic_time ();
  g_assert_true (helix_audit_log_verify (log, helix_audit_signer_get_public_key (signer), NULL,
                                         &report, &error));
  verify_per_s = report.n_entries / seconds_since (start);
  g_assert_cmpint (report.problem, ==, HELIX_AUDIT_OK);
  g_assert_cmpint (report.n_entries, ==, n);
  printf ("BENCH audit_verify_entries_per_s %.0f entries/s\n", verify_per_s);
  printf ("BENCH audit_verify_raw_ratio %.2f x\n", raw_per_s / verify_per_s);
}

/* Webhooks */

typedef struct
{
  SoupServer     *server;
  GSocketService *service;      /* accepts for the server, as in test-webhook.c */
  GPtrArray      *connections;
  guint           port;
  GHashTable     *seen;         /* seqs received */
  gint64          next;         /* the next new seq expected: in order */
} Receiver;

static void
receiver_handle (SoupServer        *server,
                 SoupServerMessage *msg,
                 const char        *path,
                 GHashTable        *query,
                 gpointer           user_data)
{
  Receiver *r = user_data;
  g_autoptr(GBytes) body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonArray *entries;

  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (body, NULL),
                                             g_bytes_get_size (body), NULL));
  entries = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                          "entries");
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      gint64 seq = json_object_get_int_member (json_array_get_object_element (entries, i), "seq");

      /* At least once, in order: a repeat is dropped, a gap is a bug. */
      if (g_hash_table_contains (r->seen, &seq))
        continue;
      g_assert_cmpint (seq, ==, r->next);
      g_hash_table_add (r->seen, g_memdup2 (&seq, sizeof seq));
      r->next++;
    }
  soup_server_message_set_status (msg, 204, NULL);
}

static gboolean
receiver_incoming_cb (GSocketService    *service,
                      GSocketConnection *connection,
                      GObject           *source,
                      gpointer           user_data)
{
  Receiver *r = user_data;
  g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address (connection, NULL);
  g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address (connection, NULL);
  g_autoptr(GError) error = NULL;

  g_ptr_array_add (r->connections, g_object_ref (connection));
  if (!soup_server_accept_iostream (r->server, G_IO_STREAM (connection), local, remote, &error))
    g_error ("receiver: %s", error->message);

  return TRUE;
}

static void
receiver_start (Receiver *r)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) error = NULL;

  r->seen = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  r->next = 1;
  r->connections = g_ptr_array_new_with_free_func (g_object_unref);
  r->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (r->server, NULL, receiver_handle, r, NULL);
  r->service = g_socket_service_new ();
  g_socket_listener_add_address (G_SOCKET_LISTENER (r->service), address, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &effective, &error);
  g_assert_no_error (error);
  g_signal_connect (r->service, "incoming", G_CALLBACK (receiver_incoming_cb), r);
  g_socket_service_start (r->service);
  r->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
}

static void
receiver_stop (Receiver *r)
{
  g_socket_service_stop (r->service);
  g_socket_listener_close (G_SOCKET_LISTENER (r->service));
  g_clear_object (&r->service);
  soup_server_disconnect (r->server);
  g_clear_object (&r->server);
  for (guint i = 0; i < r->connections->len; i++)
    g_io_stream_close (g_ptr_array_index (r->connections, i), NULL, NULL);
  g_clear_pointer (&r->connections, g_ptr_array_unref);
  g_clear_pointer (&r->seen, g_hash_table_unref);
}

static void
bench_webhook (const char *dir,
               guint       n)
{
  g_autofree char *path = g_build_filename (dir, "webhooks.db", NULL);
  g_autoptr(HelixWebhookQueue) queue = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  g_autofree char *pad = g_strnfill (160, 'x');
  Receiver r = { 0 };
  gint64 start;

  receiver_start (&r);
  url = g_strdup_printf ("http://127.0.0.1:%u/hook", r.port);
  queue = helix_webhook_queue_open (path, &error);
  g_assert_no_error (error);
  g_assert_true (helix_webhook_queue_add_sink (queue, "bench", HELIX_WEBHOOK_FORMAT_JSON, url, NULL,
                                               &error));
  helix_webhook_queue_start (queue);

  /* Entries come one by one, the main loop running between them, as when
   * each is appended to the audit log. */
  start = g_get_monotonic_time ();
  for (guint i = 1; i <= n; i++)
    {
      g_autofree char *entry = g_strdup_printf ("{\"seq\":%u,\"channel\":\"commands\",\"actor\":\"alice\","
                                                "\"event\":\"tool.run\",\"payload\":{\"pad\":\"%s\"}}",
                                                i, pad);

      if (!helix_webhook_queue_enqueue (queue, "bench", i, "commands", entry, &error))
        g_error ("%s", error->message);
      while (g_main_context_iteration (NULL, FALSE))
        ;
    }
  helix_test_wait_for (r.next > (gint64) n, 300, "the webhook deliveries");
  printf ("BENCH webhook_queue_us_per_entry %.1f us\n",
          (g_get_monotonic_time () - start) / (double) n);

  helix_webhook_queue_close (queue);
  g_clear_object (&queue);
  receiver_stop (&r);
}

int
main (void)
{
  g_autofree char *dir = g_dir_make_tmp ("helix-bench-audit-XXXXXX", NULL);
  const char *value = g_getenv ("HELIX_BENCH_AUDIT_ENTRIES");
  guint n = value != NULL ? (guint) g_ascii_strtoull (value, NULL, 10) : 1000000;

  bench_raw (MAX (n, 100000));
  bench_log (dir, MAX (n, 10000));
  bench_webhook (dir, 2000);
  helix_test_rm_rf (dir);

  return 0;
}
