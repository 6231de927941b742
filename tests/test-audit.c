/* test-audit.c: the audit trail finds every tampering and raises no false alarm
 *
 * A real 10,000-entry log in a SQLite file, tampered with through a second
 * connection as an attacker with the file would: 1,000 seeded random bit
 * flips, deletions, swaps, reorders and inserts (each undone before the next),
 * a cut tail with an older checkpoint kept, a chain rewritten and signed
 * again with another key, a checkpoint rolled back. A child process appending
 * is killed with SIGKILL, and the chain still verifies. Every verification is
 * made twice, the second time with the log split into ranges checked on
 * threads at once, and both must find exactly the same.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helix-audit-log-private.h"
#include "helix-test-util.h"

#define ORIGIN    "helix-audit/test"
#define N_ENTRIES 10000

typedef struct
{
  char             *dir;
  char             *path;
  HelixAuditSigner *signer;
  HelixAuditLog    *log;
  sqlite3          *evil;   /* the attacker's connection */
} Fixture;

static void
fill (HelixAuditLog *log,
      guint          n)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) payloads = g_ptr_array_new_with_free_func (g_free);
  g_autofree HelixAuditEntry *entries = g_new0 (HelixAuditEntry, 500);

  for (guint done = 0; done < n; )
    {
      guint batch = MIN (500, n - done);

      g_ptr_array_set_size (payloads, 0);
      for (guint i = 0; i < batch; i++)
        {
          char *payload = g_strdup_printf ("{\"command\":\"ls -l /home/%u\",\"exit\":%u}",
                                           done + i, (done + i) % 3);

          g_ptr_array_add (payloads, payload);
          entries[i] = (HelixAuditEntry) { 0, 1795348800000000 + done + i, "commands", "alice",
                                           "tool.run", payload };
        }
      g_assert_true (helix_audit_log_append_batch (log, entries, batch, NULL, &error));
      g_assert_no_error (error);
      done += batch;
    }
}

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("helix-audit-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "audit.db", NULL);
  f->signer = helix_audit_signer_new (ORIGIN, &error);
  g_assert_no_error (error);
  f->log = helix_audit_log_open (f->path, ORIGIN, f->signer, &error);
  g_assert_no_error (error);
  /* A checkpoint every 1,000 entries. */
  helix_audit_log_set_checkpoint_every (f->log, 1000, 0);
  fill (f->log, N_ENTRIES);
  g_assert_cmpint (helix_audit_log_get_size (f->log), ==, N_ENTRIES);

  g_assert_cmpint (sqlite3_open (f->path, &f->evil), ==, SQLITE_OK);
  sqlite3_busy_timeout (f->evil, 5000);
  sqlite3_exec (f->evil, "PRAGMA synchronous = OFF", NULL, NULL, NULL);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  sqlite3_close (f->evil);
  helix_test_assert_finalized (g_steal_pointer (&f->log));
  helix_audit_signer_unref (f->signer);
  helix_test_rm_rf (f->dir);
  g_free (f->path);
  g_free (f->dir);
}

static void
evil_exec (Fixture    *f,
           const char *sql)
{
  char *message = NULL;

  if (sqlite3_exec (f->evil, sql, NULL, NULL, &message) != SQLITE_OK)
    g_error ("%s: %s", sql, message);
}

/* Verifies in @n_ranges ranges, and checks that the report is the one of
 * verifying it whole. */
static HelixAuditProblem
verify_in_ranges (Fixture              *f,
                  HelixAuditCheckpoint *known,
                  guint                 n_ranges,
                  gint64               *seq)
{
  g_auto(HelixAuditReport) whole = { 0 };
  g_auto(HelixAuditReport) split = { 0 };
  g_autoptr(GError) error = NULL;
  const guint8 *key = helix_audit_signer_get_public_key (f->signer);

  g_assert_true (_helix_audit_log_verify_in_ranges (f->log, key, known, 1, &whole, &error));
  g_assert_no_error (error);
  g_assert_nonnull (whole.message);
  g_assert_true (_helix_audit_log_verify_in_ranges (f->log, key, known, n_ranges, &split, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (split.message, ==, whole.message);
  g_assert_cmpint (split.problem, ==, whole.problem);
  g_assert_cmpint (split.seq, ==, whole.seq);
  g_assert_cmpint (split.n_entries, ==, whole.n_entries);
  g_assert_cmpmem (split.head, 32, whole.head, 32);
  if (seq != NULL)
    *seq = whole.seq;

  return whole.problem;
}

/* helix_audit_log_verify(), and again in 2 to 5 ranges in turn. */
static HelixAuditProblem
verify (Fixture              *f,
        HelixAuditCheckpoint *known,
        gint64               *seq)
{
  static guint n_calls;
  g_auto(HelixAuditReport) report = { 0 };
  g_autoptr(GError) error = NULL;
  gint64 split_seq = 0;

  g_assert_true (helix_audit_log_verify (f->log, helix_audit_signer_get_public_key (f->signer),
                                         known, &report, &error));
  g_assert_no_error (error);
  g_assert_nonnull (report.message);
  g_assert_cmpint (verify_in_ranges (f, known, 2 + n_calls++ % 4, &split_seq), ==, report.problem);
  g_assert_cmpint (split_seq, ==, report.seq);
  if (seq != NULL)
    *seq = report.seq;

  return report.problem;
}

static void
test_untouched (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(HelixAuditCheckpoint) latest = NULL;
  g_autoptr(HelixAuditCheckpoint) parsed = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(HelixAuditReport) report = { 0 };

  g_assert_true (helix_audit_log_verify (f->log, helix_audit_signer_get_public_key (f->signer),
                                         NULL, &report, &error));
  g_assert_cmpint (report.problem, ==, HELIX_AUDIT_OK);
  g_assert_cmpint (report.n_entries, ==, N_ENTRIES);

  /* The newest checkpoint is signed, and names the head. */
  latest = helix_audit_log_get_latest_checkpoint (f->log, &error);
  g_assert_no_error (error);
  g_assert_cmpint (latest->size, ==, N_ENTRIES);
  parsed = helix_audit_checkpoint_parse (latest->note, -1,
                                         helix_audit_signer_get_public_key (f->signer), ORIGIN,
                                         &error);
  g_assert_no_error (error);
  g_assert_cmpmem (parsed->head, 32, report.head, 32);
  g_assert_true (g_str_has_prefix (latest->note, ORIGIN "\n10000\n"));
  g_assert_nonnull (strstr (latest->note, "\n\n\xe2\x80\x94 " ORIGIN " "));

  /* With a kept checkpoint, and again after reopening: no false alarm. */
  g_assert_cmpint (verify (f, parsed, NULL), ==, HELIX_AUDIT_OK);
  helix_audit_log_close (f->log);
  g_clear_object (&f->log);
  f->log = helix_audit_log_open (f->path, ORIGIN, f->signer, &error);
  g_assert_no_error (error);
  g_assert_cmpint (helix_audit_log_get_size (f->log), ==, N_ENTRIES);
  g_assert_cmpint (verify (f, parsed, NULL), ==, HELIX_AUDIT_OK);
  g_assert_cmpint (helix_audit_log_append (f->log, "api", "bob", "login", "{\"ok\":true}", &error),
                   ==, N_ENTRIES + 1);
  g_assert_cmpint (verify (f, parsed, NULL), ==, HELIX_AUDIT_OK);
}

/* Tampering */

typedef struct
{
  gint64  seq;
  GBytes *record;
  GBytes *hash;
} Row;

static void
row_clear (Row *row)
{
  g_clear_pointer (&row->record, g_bytes_unref);
  g_clear_pointer (&row->hash, g_bytes_unref);
}

static Row
read_row (Fixture *f,
          gint64   seq)
{
  sqlite3_stmt *stmt = NULL;
  Row row = { seq, NULL, NULL };

  g_assert_cmpint (sqlite3_prepare_v2 (f->evil, "SELECT record, hash FROM entries WHERE seq = ?1",
                                       -1, &stmt, NULL), ==, SQLITE_OK);
  sqlite3_bind_int64 (stmt, 1, seq);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  row.record = g_bytes_new (sqlite3_column_blob (stmt, 0), sqlite3_column_bytes (stmt, 0));
  row.hash = g_bytes_new (sqlite3_column_blob (stmt, 1), sqlite3_column_bytes (stmt, 1));
  sqlite3_finalize (stmt);

  return row;
}

static void
write_row (Fixture    *f,
           gint64      seq,
           GBytes     *record,
           GBytes     *hash)
{
  sqlite3_stmt *stmt = NULL;

  g_assert_cmpint (sqlite3_prepare_v2 (f->evil,
                                       "INSERT OR REPLACE INTO entries (seq, record, hash) VALUES (?1, ?2, ?3)",
                                       -1, &stmt, NULL), ==, SQLITE_OK);
  sqlite3_bind_int64 (stmt, 1, seq);
  sqlite3_bind_blob (stmt, 2, g_bytes_get_data (record, NULL), g_bytes_get_size (record),
                     SQLITE_STATIC);
  sqlite3_bind_blob (stmt, 3, g_bytes_get_data (hash, NULL), g_bytes_get_size (hash),
                     SQLITE_STATIC);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_DONE);
  sqlite3_finalize (stmt);
}

static GBytes *
flip_bit (GBytes *bytes,
          GRand  *rand)
{
  gsize len = 0;
  const guint8 *original = g_bytes_get_data (bytes, &len);
  guint8 *data = g_memdup2 (original, len);
  guint bit = g_rand_int_range (rand, 0, (gint32) len * 8);

  data[bit / 8] ^= 1 << (bit % 8);
  return g_bytes_new_take (data, len);
}

static void
test_tamper_random (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (20261122);
  guint detected = 0;
  guint counts[6] = { 0 };
  static const char * const kinds[] = { "flip record", "flip hash", "delete", "swap", "reorder", "insert" };

  for (guint i = 0; i < 1000; i++)
    {
      gint64 a = g_rand_int_range (rand, 1, N_ENTRIES + 1);
      gint64 b = g_rand_int_range (rand, 1, N_ENTRIES + 1);
      guint kind = i % 20 == 0 ? 5 : (guint) g_rand_int_range (rand, 0, 5);
      Row ra = read_row (f, a);
      Row rb = read_row (f, b);
      HelixAuditProblem problem;

      if (b == a)
        b = a == N_ENTRIES ? a - 1 : a + 1, row_clear (&rb), rb = read_row (f, b);
      if (kind == 4)  /* reorder: neighbours */
        {
          b = a == N_ENTRIES ? a - 1 : a + 1;
          row_clear (&rb);
          rb = read_row (f, b);
        }

      switch (kind)
        {
        case 0:
          {
            g_autoptr(GBytes) flipped = flip_bit (ra.record, rand);

            write_row (f, a, flipped, ra.hash);
          }
          break;
        case 1:
          {
            g_autoptr(GBytes) flipped = flip_bit (ra.hash, rand);

            write_row (f, a, ra.record, flipped);
          }
          break;
        case 2:
          {
            g_autofree char *sql = g_strdup_printf ("DELETE FROM entries WHERE seq = %" G_GINT64_FORMAT, a);

            evil_exec (f, sql);
          }
          break;
        case 3:
        case 4:
          write_row (f, a, rb.record, rb.hash);
          write_row (f, b, ra.record, ra.hash);
          break;
        case 5:
          /* A forged entry after a: later ones move up by one. */
          {
            g_autofree char *sql = g_strdup_printf ("UPDATE entries SET seq = -seq - 1 WHERE seq > %" G_GINT64_FORMAT ";"
                                                    "UPDATE entries SET seq = -seq WHERE seq < 0",
                                                    a);

            evil_exec (f, sql);
            write_row (f, a + 1, ra.record, ra.hash);
          }
          break;
        default:
          g_assert_not_reached ();
        }

      problem = verify (f, NULL, NULL);
      if (problem != HELIX_AUDIT_OK)
        detected++;
      else
        g_test_message ("undetected: %s of entry %" G_GINT64_FORMAT, kinds[kind], a);
      counts[kind]++;

      /* Undo */
      switch (kind)
        {
        case 0:
        case 1:
        case 2:
          write_row (f, a, ra.record, ra.hash);
          break;
        case 3:
        case 4:
          write_row (f, a, ra.record, ra.hash);
          write_row (f, b, rb.record, rb.hash);
          break;
        case 5:
          {
            g_autofree char *sql = g_strdup_printf ("DELETE FROM entries WHERE seq = %" G_GINT64_FORMAT ";"
                                                    "UPDATE entries SET seq = -seq + 1 WHERE seq > %" G_GINT64_FORMAT ";"
                                                    "UPDATE entries SET seq = -seq WHERE seq < 0",
                                                    a + 1, a + 1);

            evil_exec (f, sql);
          }
          break;
        default:
          g_assert_not_reached ();
        }
      row_clear (&ra);
      row_clear (&rb);
    }

  g_test_message ("%u flips of records, %u of hashes, %u deletions, %u swaps, %u reorders, %u inserts",
                  counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]);
  g_assert_cmpuint (detected, ==, 1000);
  /* Every undo restored the log exactly: no false alarm after all that. */
  g_assert_cmpint (verify (f, NULL, NULL), ==, HELIX_AUDIT_OK);
}

/* Tampering right at the ends of ranges: the stored hash a range starts from
 * is the one the range before ends with. */
static void
test_tamper_boundaries (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);

  for (guint n_ranges = 2; n_ranges <= 4; n_ranges++)
    for (guint boundary = 1; boundary < n_ranges; boundary++)
      for (gint64 a = N_ENTRIES / n_ranges * boundary - 1; a <= N_ENTRIES / n_ranges * boundary + 1; a++)
        for (guint kind = 0; kind < 3; kind++)
          {
            Row ra = read_row (f, a);
            gint64 seq = 0;

            if (kind == 0)
              {
                g_autoptr(GBytes) flipped = flip_bit (ra.record, rand);

                write_row (f, a, flipped, ra.hash);
              }
            else if (kind == 1)
              {
                g_autoptr(GBytes) flipped = flip_bit (ra.hash, rand);

                write_row (f, a, ra.record, flipped);
              }
            else
              {
                g_autofree char *sql = g_strdup_printf ("DELETE FROM entries WHERE seq = %" G_GINT64_FORMAT, a);

                evil_exec (f, sql);
              }

            g_assert_cmpint (verify_in_ranges (f, NULL, n_ranges, &seq), ==,
                             kind == 2 ? HELIX_AUDIT_BAD_SEQUENCE : HELIX_AUDIT_BAD_ENTRY);
            g_assert_cmpint (seq, ==, a);

            write_row (f, a, ra.record, ra.hash);
            row_clear (&ra);
          }

  g_assert_cmpint (verify_in_ranges (f, NULL, 3, NULL), ==, HELIX_AUDIT_OK);
}

/* Ranges that find nothing to check: an empty log, and one shorter than its
 * split. */
static void
test_ranges_small (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("helix-audit-small-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "audit.db", NULL);
  g_autoptr(HelixAuditSigner) signer = helix_audit_signer_new (ORIGIN, &error);
  g_autoptr(HelixAuditLog) log = helix_audit_log_open (path, ORIGIN, signer, &error);
  const guint8 *key = helix_audit_signer_get_public_key (signer);

  g_assert_no_error (error);
  for (guint n = 0; n < 4; n++)
    {
      for (guint n_ranges = 0; n_ranges <= 8; n_ranges++)
        {
          g_auto(HelixAuditReport) report = { 0 };

          g_assert_true (_helix_audit_log_verify_in_ranges (log, key, NULL, n_ranges, &report, &error));
          g_assert_no_error (error);
          g_assert_cmpint (report.problem, ==, HELIX_AUDIT_OK);
          g_assert_cmpint (report.n_entries, ==, n);
        }
      g_assert_cmpint (helix_audit_log_append (log, "api", "bob", "login", NULL, &error), ==, n + 1);
    }
  helix_audit_log_close (log);
  helix_test_rm_rf (dir);
}

static HelixAuditCheckpoint *
keep_checkpoint (Fixture *f)
{
  g_autoptr(HelixAuditCheckpoint) latest = NULL;
  g_autoptr(GError) error = NULL;
  HelixAuditCheckpoint *kept;

  latest = helix_audit_log_get_latest_checkpoint (f->log, &error);
  g_assert_no_error (error);
  kept = helix_audit_checkpoint_parse (latest->note, -1,
                                       helix_audit_signer_get_public_key (f->signer), ORIGIN,
                                       &error);
  g_assert_no_error (error);
  return kept;
}

static void
test_truncated (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(HelixAuditCheckpoint) kept = keep_checkpoint (f);
  gint64 seq;

  /* The tail cut, its checkpoints too: the chain alone looks fine... */
  evil_exec (f, "DELETE FROM entries WHERE seq > 9500; DELETE FROM checkpoints WHERE size > 9500");
  g_assert_cmpint (verify (f, NULL, NULL), ==, HELIX_AUDIT_OK);
  /* ...but not to someone who kept the checkpoint at 10,000. */
  g_assert_cmpint (verify (f, kept, &seq), ==, HELIX_AUDIT_TRUNCATED);
  g_assert_cmpint (seq, ==, 9501);

  /* With a checkpoint left past the cut, the log itself tells. */
  evil_exec (f, "DELETE FROM entries WHERE seq > 8500");
  g_assert_cmpint (verify (f, NULL, NULL), ==, HELIX_AUDIT_TRUNCATED);
}

static void
test_rewritten (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(HelixAuditCheckpoint) kept = keep_checkpoint (f);
  g_autoptr(HelixAuditSigner) other = helix_audit_signer_new (ORIGIN, NULL);
  sqlite3_stmt *stmt = NULL;
  guint8 head[32] = { 0 };
  gint64 seq;

  /* From entry 5,000 on, a different story, hashed properly, and every
   * checkpoint signed again with the attacker's key. */
  g_assert_cmpint (sqlite3_prepare_v2 (f->evil, "SELECT seq, record FROM entries ORDER BY seq", -1,
                                       &stmt, NULL), ==, SQLITE_OK);
  evil_exec (f, "BEGIN");
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      gint64 n = sqlite3_column_int64 (stmt, 0);
      gsize len = sqlite3_column_bytes (stmt, 1);
      guint8 *record = g_memdup2 (sqlite3_column_blob (stmt, 1), len);
      g_autoptr(GBytes) record_bytes = NULL;
      g_autoptr(GBytes) hash_bytes = NULL;
      guint8 hash[32];

      if (n >= 5000)
        record[len - 3] = 'X';  /* in the payload */
      helix_audit_entry_hash (head, record, len, hash);
      memcpy (head, hash, 32);
      record_bytes = g_bytes_new_take (record, len);
      hash_bytes = g_bytes_new (hash, 32);
      if (n >= 5000)
        write_row (f, n, record_bytes, hash_bytes);
      if (n % 1000 == 0)
        {
          g_autoptr(HelixAuditCheckpoint) forged = helix_audit_checkpoint_sign (other, ORIGIN, n, head);
          g_autofree char *sql = sqlite3_mprintf ("UPDATE checkpoints SET note = %Q WHERE size = %lld",
                                                  forged->note, (long long) n);

          evil_exec (f, sql);
          sqlite3_free (g_steal_pointer (&sql));
        }
    }
  sqlite3_finalize (stmt);
  evil_exec (f, "COMMIT");

  g_assert_cmpint (verify (f, NULL, NULL), ==, HELIX_AUDIT_BAD_SIGNATURE);

  /* Without checkpoints in the log, a kept one still tells. */
  evil_exec (f, "DELETE FROM checkpoints");
  g_assert_cmpint (verify (f, NULL, NULL), ==, HELIX_AUDIT_OK);
  g_assert_cmpint (verify (f, kept, &seq), ==, HELIX_AUDIT_REWRITTEN);
  g_assert_cmpint (seq, ==, N_ENTRIES);
}

static void
test_rolled_back (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(HelixAuditCheckpoint) kept = keep_checkpoint (f);

  /* The log shows an older checkpoint as its newest (a replay). */
  evil_exec (f, "DELETE FROM checkpoints WHERE size > 5000");
  g_assert_cmpint (verify (f, NULL, NULL), ==, HELIX_AUDIT_OK);
  g_assert_cmpint (verify (f, kept, NULL), ==, HELIX_AUDIT_ROLLED_BACK);
}

static void
test_bad_checkpoints (void)
{
  g_autoptr(HelixAuditSigner) signer = helix_audit_signer_new (ORIGIN, NULL);
  g_autoptr(HelixAuditSigner) other = helix_audit_signer_new (ORIGIN, NULL);
  g_autoptr(HelixAuditCheckpoint) good = NULL;
  g_autoptr(HelixAuditCheckpoint) parsed = NULL;
  g_autoptr(GError) error = NULL;
  const guint8 *key = helix_audit_signer_get_public_key (signer);
  guint8 head[32];
  static const char * const bad[] = {
    "", "x\n", "helix-audit/test\n12\n", "helix-audit/test\n012\nAAAA\n\n\xe2\x80\x94 helix-audit/test AAAA\n",
    "helix-audit/test\n-1\nAAAA\n\n\xe2\x80\x94 helix-audit/test AAAA\n",
    "helix-audit/test\n1\nnot base64!\n\n\xe2\x80\x94 helix-audit/test AAAA\n",
  };

  memset (head, 0xab, sizeof head);
  good = helix_audit_checkpoint_sign (signer, ORIGIN, 42, head);
  parsed = helix_audit_checkpoint_parse (good->note, -1, key, ORIGIN, &error);
  g_assert_no_error (error);
  g_assert_cmpint (parsed->size, ==, 42);
  g_assert_cmpmem (parsed->head, 32, head, 32);

  /* Another key's signature */
  g_assert_null (helix_audit_checkpoint_parse (good->note, -1,
                                               helix_audit_signer_get_public_key (other), ORIGIN,
                                               &error));
  g_assert_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_SIGNATURE);
  g_clear_error (&error);

  /* A changed size under a valid signature */
  {
    g_autofree char *forged = g_strdup (good->note);

    forged[strlen (ORIGIN) + 2] = '3';  /* 42 → 43 */
    g_assert_null (helix_audit_checkpoint_parse (forged, -1, key, ORIGIN, &error));
    g_assert_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_SIGNATURE);
    g_clear_error (&error);
  }

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_null (helix_audit_checkpoint_parse (bad[i], -1, key, ORIGIN, &error));
      g_assert_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_INVALID);
      g_clear_error (&error);
    }
}

static void
test_bad_entries (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *deep = NULL;
  g_autofree char *brackets = g_strnfill (100, '[');
  g_autofree char *huge = g_strnfill (HELIX_AUDIT_MAX_PAYLOAD + 1, 'a');

  g_assert_cmpint (helix_audit_log_append (f->log, "", "a", "e", NULL, &error), ==, 0);
  g_assert_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_cmpint (helix_audit_log_append (f->log, "c", "a", "e", "[1]", &error), ==, 0);
  g_assert_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_cmpint (helix_audit_log_append (f->log, "c", "a", "e", "{\"a\":", &error), ==, 0);
  g_assert_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_INVALID);
  g_clear_error (&error);
  deep = g_strconcat ("{\"a\":", brackets, NULL);
  g_assert_cmpint (helix_audit_log_append (f->log, "c", "a", "e", deep, &error), ==, 0);
  g_assert_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_cmpint (helix_audit_log_append (f->log, "c", "a", "e", huge, &error), ==, 0);
  g_clear_error (&error);

  /* Nothing of them was written. */
  g_assert_cmpint (helix_audit_log_get_size (f->log), ==, N_ENTRIES);
  g_assert_cmpint (verify (f, NULL, NULL), ==, HELIX_AUDIT_OK);

  /* A closed log refuses: the action it would record must not run. */
  helix_audit_log_close (f->log);
  g_assert_cmpint (helix_audit_log_append (f->log, "c", "a", "e", NULL, &error), ==, 0);
  g_assert_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO);
}

/* Entries in the log, read as another program would. */
static gint64
count_entries (const char *path)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gint64 n = 0;

  if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2 (db, "SELECT count (*) FROM entries", -1, &stmt, NULL) == SQLITE_OK &&
      sqlite3_step (stmt) == SQLITE_ROW)
    n = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);

  return n;
}

/* SIGKILL while appending: what was committed verifies. */
static void
test_sigkill (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("helix-audit-kill-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "audit.db", NULL);
  g_autoptr(HelixAuditSigner) signer = helix_audit_signer_new (ORIGIN, &error);
  g_autoptr(HelixAuditLog) log = NULL;
  g_auto(HelixAuditReport) report = { 0 };

  for (guint round = 0; round < 3; round++)
    {
      gint64 written;
      gint64 deadline;
      int status;
      pid_t pid = fork ();

      g_assert_cmpint (pid, >=, 0);
      if (pid == 0)
        {
          HelixAuditLog *child = helix_audit_log_open (path, ORIGIN, signer, NULL);

          if (child == NULL)
            _exit (2);
          helix_audit_log_set_checkpoint_every (child, 7, 0);
          for (;;)
            {
              HelixAuditEntry batch[3] = {
                { 0, 0, "heartbeat", "system", "tick", "{}" },
                { 0, 0, "api", "bob", "request", "{\"path\":\"/v1/models\"}" },
                { 0, 0, "alerts", "system", "budget", "{\"used\":0.8}" },
              };

              if (helix_audit_log_append (child, "commands", "alice", "run", "{\"n\":1}", NULL) == 0 ||
                  !helix_audit_log_append_batch (child, batch, 3, NULL, NULL))
                _exit (3);
            }
        }

      /* Once it has written more, kill it mid-stride. */
      written = count_entries (path);
      deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
      while (count_entries (path) < written + 20 * (round + 1))
        {
          if (g_get_monotonic_time () > deadline)
            g_error ("The child wrote nothing for 60 s");
          g_usleep (1000);  /* a poll, not a guess: the condition is checked */
        }
      g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
      g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
      g_assert_true (WIFSIGNALED (status));
    }

  log = helix_audit_log_open (path, ORIGIN, signer, &error);
  g_assert_no_error (error);
  g_assert_cmpint (helix_audit_log_get_size (log), >, 0);
  g_assert_true (helix_audit_log_verify (log, helix_audit_signer_get_public_key (signer), NULL,
                                         &report, &error));
  g_assert_cmpint (report.problem, ==, HELIX_AUDIT_OK);
  g_assert_cmpint (report.n_entries, ==, helix_audit_log_get_size (log));
  helix_audit_log_close (log);
  helix_test_rm_rf (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/helix/audit/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("untouched", test_untouched);
  ADD ("tamper/random", test_tamper_random);
  ADD ("tamper/boundaries", test_tamper_boundaries);
  ADD ("tamper/truncated", test_truncated);
  ADD ("tamper/rewritten", test_rewritten);
  ADD ("tamper/rolled-back", test_rolled_back);
  ADD ("bad-entries", test_bad_entries);
  g_test_add_func ("/helix/audit/bad-checkpoints", test_bad_checkpoints);
  g_test_add_func ("/helix/audit/ranges-small", test_ranges_small);
  g_test_add_func ("/helix/audit/sigkill", test_sigkill);

  return g_test_run ();
}
