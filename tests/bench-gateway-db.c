/* bench-gateway-db.c: the gateway's writer, alone
 *
 * What one synced op costs the gateway's writer thread, without sockets or
 * clients: helix_gateway_db_apply_pushes() on a real database file (WAL,
 * synchronous=FULL, background checkpoints, as the running gateway has it),
 * with group commits of the size the fan-out benchmark makes.
 *
 *   sync_apply_us_per_op         wall time per message.put of 100 users with 10
 *                                devices each, one op a push from one of them,
 *                                HELIX_BENCH_BATCH (500) pushes a commit, ids of
 *                                version 7 as Helix devices make them
 *   sync_apply_cpu_us_per_op     this thread's CPU time per op in the same run (the
 *                                rest of the wall time is mostly fsync)
 *   sync_apply_commits_per_s     group commits per second in the same run
 *   sync_apply_random_ids_us_per_op  the same with version 4 (random) ids, which
 *                                scatter every insert over the (user, id) indexes
 *   search_index_us_per_op       what indexing those ops for search costs, per op:
 *                                the first helix_gateway_db_search() of each user,
 *                                which indexes the user's ops since the last one
 *                                (pushes do not index)
 *   search_us                    a search (a page of 20 hits) once the index is
 *                                up to date, averaged over 1,000 searches
 *
 * Environment: HELIX_BENCH_OPS (100000 ops a run), HELIX_BENCH_BATCH (500),
 * HELIX_BENCH_USERS (100), HELIX_BENCH_DEVICES (10 per user).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-bench"

#include "config.h"

#include <string.h>
#include <time.h>

#include "helix-gateway-db.h"
#include "helix-gateway-sync.h"
#include "helix-sync.h"
#include "helix-test-util.h"
#include "helix-uuid.h"

#include <glib/gstdio.h>

static guint
env_uint (const char *name,
          guint       fallback)
{
  const char *value = g_getenv (name);

  return value != NULL && *value != '\0' ? (guint) g_ascii_strtoull (value, NULL, 10) : fallback;
}

static gint64
thread_cpu_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);

  return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static void
make_id (gboolean random_ids,
         gint64   now_ms,
         char     out[HELIX_UUID_STRING_LEN + 1])
{
  if (random_ids)
    {
      g_autofree char *id = g_uuid_string_random ();

      memcpy (out, id, HELIX_UUID_STRING_LEN + 1);
    }
  else
    helix_uuid_format_v7 (now_ms, out);
}

/* A message.put as a device sends it. */
static HelixSyncOp *
make_op (gboolean    random_ids,
         const char *session,
         guint       counter)
{
  g_autoptr(GError) error = NULL;
  gint64 now_ms = g_get_real_time () / 1000;
  char op_id[HELIX_UUID_STRING_LEN + 1];
  char msg_id[HELIX_UUID_STRING_LEN + 1];
  g_autofree char *text = NULL;
  HelixSyncOp *op;

  make_id (random_ids, now_ms, op_id);
  make_id (random_ids, now_ms, msg_id);
  text = g_strdup_printf ("{\"op\":\"%s\",\"type\":\"message.put\",\"id\":\"%s\","
                          "\"session\":\"%s\",\"hlc\":\"%" G_GINT64_FORMAT ":%u:bench\","
                          "\"data\":{\"role\":\"user\",\"content\":\"bench message %u, "
                          "about as long as a short chat line\",\"status\":\"done\"}}",
                          op_id, msg_id, session, now_ms, counter % 1000, counter);
  op = helix_sync_op_new_from_data (text, strlen (text), &error);
  g_assert_no_error (error);

  return op;
}

static void
run (gboolean random_ids,
     guint    n_ops,
     guint    batch,
     guint    n_users,
     guint    n_devices)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("helix-bench-gateway-db-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "gateway.db", NULL);
  g_autofree gint64 *users = g_new (gint64, n_users);
  g_autofree gint64 *devices = g_new (gint64, n_users * n_devices);
  g_auto(GStrv) sessions = g_new0 (char *, n_users + 1);
  g_autoptr(HelixGatewayDb) db = NULL;
  g_autofree HelixGatewayPush *pushes = g_new0 (HelixGatewayPush, batch);
  g_autofree HelixSyncOp **ops = g_new0 (HelixSyncOp *, batch);
  gint64 wall_us = 0;
  gint64 cpu_us = 0;
  guint n_commits = 0;
  guint counter = 0;

  g_assert_no_error (error);
  db = helix_gateway_db_open (path, &error);
  g_assert_no_error (error);
  helix_gateway_db_defer_checkpoints (db);

  for (guint u = 0; u < n_users; u++)
    {
      g_autofree char *name = g_strdup_printf ("bench%u", u);
      g_autoptr(HelixGatewayUser) user = NULL;
      g_autoptr(HelixSyncOp) put = NULL;
      g_autofree char *text = NULL;
      g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
      g_autoptr(GPtrArray) applied = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
      char op_id[HELIX_UUID_STRING_LEN + 1];

      helix_gateway_db_add_user (db, name, "$argon2id$not-a-real-hash", FALSE, &error);
      g_assert_no_error (error);
      user = helix_gateway_db_lookup_user (db, name, &error);
      g_assert_no_error (error);
      users[u] = user->id;

      for (guint d = 0; d < n_devices; d++)
        {
          g_autofree char *device_name = g_strdup_printf ("device%u", d);
          g_autofree char *uuid = NULL;
          g_autoptr(GPtrArray) list = NULL;
          guint8 token_hash[32] = { 0 };

          memcpy (token_hash, &u, sizeof u);
          memcpy (token_hash + sizeof u, &d, sizeof d);
          uuid = helix_gateway_db_add_device (db, users[u], device_name, token_hash, &error);
          g_assert_no_error (error);
          list = helix_gateway_db_list_devices (db, users[u], &error);
          g_assert_no_error (error);
          for (guint i = 0; i < list->len; i++)
            {
              HelixGatewayDevice *device = g_ptr_array_index (list, i);

              if (g_strcmp0 (device->uuid, uuid) == 0)
                devices[u * n_devices + d] = device->id;
            }
          g_assert_cmpint (devices[u * n_devices + d], >, 0);
        }

      sessions[u] = helix_uuid_new_v7 ();
      helix_uuid_format_v7 (g_get_real_time () / 1000, op_id);
      text = g_strdup_printf ("{\"op\":\"%s\",\"type\":\"session.put\",\"id\":\"%s\","
                              "\"hlc\":\"%" G_GINT64_FORMAT ":0:bench\","
                              "\"data\":{\"title\":\"Bench\"}}",
                              op_id, sessions[u], g_get_real_time () / 1000);
      put = helix_sync_op_new_from_data (text, strlen (text), &error);
      g_assert_no_error (error);
      helix_gateway_db_apply_ops (db, users[u], 0, &put, 1, seqs, applied, &error);
      g_assert_no_error (error);
    }

  for (guint done = 0; done < n_ops; done += batch)
    {
      guint n = MIN (batch, n_ops - done);
      gint64 t0, c0;

      for (guint i = 0; i < n; i++)
        {
          guint u = g_random_int_range (0, (gint32) n_users);
          guint d = g_random_int_range (0, (gint32) n_devices);

          ops[i] = make_op (random_ids, sessions[u], counter++);
          pushes[i] = (HelixGatewayPush) { .user_id = users[u],
                                           .device_id = devices[u * n_devices + d],
                                           .ops = &ops[i], .n_ops = 1 };
        }

      t0 = g_get_monotonic_time ();
      c0 = thread_cpu_us ();
      if (!helix_gateway_db_apply_pushes (db, pushes, n, &error))
        g_error ("apply_pushes: %s", error->message);
      cpu_us += thread_cpu_us () - c0;
      wall_us += g_get_monotonic_time () - t0;
      n_commits++;

      for (guint i = 0; i < n; i++)
        {
          g_assert_no_error (pushes[i].error);
          helix_gateway_push_clear (&pushes[i]);
          helix_sync_op_unref (ops[i]);
        }
    }

  if (!random_ids)
    {
      gint64 index_us = 0;
      gint64 search_us = 0;
      guint n_searches = 1000;

      /* Each user's first search indexes their ops. */
      for (guint u = 0; u < n_users; u++)
        {
          g_autoptr(GPtrArray) hits = NULL;
          gint64 t0 = g_get_monotonic_time ();

          hits = helix_gateway_db_search (db, users[u], "bench message", 0, 20, &error);
          g_assert_no_error (error);
          index_us += g_get_monotonic_time () - t0;
        }

      for (guint i = 0; i < n_searches; i++)
        {
          g_autoptr(GPtrArray) hits = NULL;
          gint64 t0 = g_get_monotonic_time ();

          hits = helix_gateway_db_search (db, users[i % n_users], "short chat", 0, 20,
                                          &error);
          g_assert_no_error (error);
          search_us += g_get_monotonic_time () - t0;
        }

      g_print ("BENCH search_index_us_per_op %.2f us\n", index_us / (double) n_ops);
      g_print ("BENCH search_us %.1f us\n", search_us / (double) n_searches);
    }

  if (random_ids)
    g_print ("BENCH sync_apply_random_ids_us_per_op %.2f us\n", wall_us / (double) n_ops);
  else
    {
      g_print ("BENCH sync_apply_us_per_op %.2f us\n", wall_us / (double) n_ops);
      g_print ("BENCH sync_apply_cpu_us_per_op %.2f us\n", cpu_us / (double) n_ops);
      g_print ("BENCH sync_apply_commits_per_s %.0f commits/s\n",
               n_commits / (wall_us / (double) G_USEC_PER_SEC));
    }

  g_clear_object (&db);
  helix_test_rm_rf (dir);
}

int
main (int   argc,
      char *argv[])
{
  guint n_ops = MAX (1, env_uint ("HELIX_BENCH_OPS", 100000));
  guint batch = MAX (1, env_uint ("HELIX_BENCH_BATCH", 500));
  guint n_users = MAX (1, env_uint ("HELIX_BENCH_USERS", 100));
  guint n_devices = MAX (1, env_uint ("HELIX_BENCH_DEVICES", 10));

  run (FALSE, n_ops, batch, n_users, n_devices);
  run (TRUE, n_ops, batch, n_users, n_devices);

  return 0;
}
