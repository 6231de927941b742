/* bench-audit.c: the audit trail's speed
 *
 * Prints lines `BENCH <name> <value> <unit>`. Run with `meson test -C <build> --benchmark`.
 *
 *   sha256_raw_records_per_s     SHA-256 of 256-byte chained records, nothing else: the ceiling
 *   audit_verify_entries_per_s   verifying a 1,000,000-entry log (read from SQLite, rehashed)
 *   audit_append_single_per_s    durable appends, one transaction (and fsync) each
 *   audit_append_batched_per_s   durable appends in batches of 1,000
 *
 * HELIX_BENCH_AUDIT_ENTRIES overrides the 1,000,000 (for a quick run).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdio.h>

#include "helix-audit-log.h"
#include "helix-test-util.h"

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
  printf ("BENCH sha256_raw_records_per_s %.0f records/s\n", n / seconds_since (start));
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
  const guint n_single = 2000;
  gint64 start;
  gint64 batched_us = 0;

  log = helix_audit_log_open (path, ORIGIN, signer, &error);
  g_assert_no_error (error);

  start = g_get_monotonic_time ();
  for (guint i = 0; i < n_single; i++)
    {
      g_autofree char *payload = make_payload (i);

      if (helix_audit_log_append (log, "commands", "alice", "tool.run", payload, &error) == 0)
        g_error ("%s: %s", payload, error->message);
    }
  printf ("BENCH audit_append_single_per_s %.0f entries/s\n", n_single / seconds_since (start));

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
  g_assert_cmpint (report.problem, ==, HELIX_AUDIT_OK);
  printf ("BENCH audit_verify_entries_per_s %.0f entries/s\n",
          report.n_entries / seconds_since (start));
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *dir = g_dir_make_tmp ("helix-bench-audit-XXXXXX", NULL);
  const char *value = g_getenv ("HELIX_BENCH_AUDIT_ENTRIES");
  guint n = value != NULL ? (guint) g_ascii_strtoull (value, NULL, 10) : 1000000;

  g_test_init (&argc, &argv, NULL);

  bench_raw (MAX (n, 100000));
  bench_log (dir, MAX (n, 10000));
  helix_test_rm_rf (dir);

  return 0;
}
