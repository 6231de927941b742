/* helix-rate-limit.c: a sliding-window limit on failed attempts
 *
 * Each key (an account, a client address) has the times of its last
 * attempts, at most max_attempts of them. An attempt is charged before it is
 * judged, so that attempts running at the same time count too; a successful
 * one is refunded. When a key already has max_attempts within the window, the
 * next attempt is refused until the oldest leaves the window.
 *
 * Memory is bounded: keys whose attempts all left the window are swept, and
 * past MAX_KEYS the table is swept before a new key goes in.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include "helix-rate-limit.h"

#define MAX_KEYS 65536

struct _HelixRateLimit
{
  guint       max_attempts;
  gint64      window_us;
  GHashTable *keys; /* char * → GArray of gint64, oldest first */
};

/**
 * helix_rate_limit_new:
 * @max_attempts: how many attempts a key may make within @window_us (≥ 1)
 * @window_us: the window, in microseconds
 *
 * Returns: (transfer full): a new limit
 */
HelixRateLimit *
helix_rate_limit_new (guint  max_attempts,
                      gint64 window_us)
{
  HelixRateLimit *self;

  g_return_val_if_fail (max_attempts > 0, NULL);
  g_return_val_if_fail (window_us > 0, NULL);

  self = g_new0 (HelixRateLimit, 1);
  self->max_attempts = max_attempts;
  self->window_us = window_us;
  self->keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify) g_array_unref);

  return self;
}

void
helix_rate_limit_free (HelixRateLimit *self)
{
  if (self == NULL)
    return;

  g_hash_table_unref (self->keys);
  g_free (self);
}

/* Drops the attempts of @times that left the window. */
static void
expire (HelixRateLimit *self,
        GArray         *times,
        gint64          now_us)
{
  guint n = 0;

  while (n < times->len && g_array_index (times, gint64, n) <= now_us - self->window_us)
    n++;
  if (n > 0)
    g_array_remove_range (times, 0, n);
}

static void
sweep (HelixRateLimit *self,
       gint64          now_us)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->keys);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      expire (self, value, now_us);
      if (((GArray *) value)->len == 0)
        g_hash_table_iter_remove (&iter);
    }
}

/**
 * helix_rate_limit_charge:
 * @self: a limit
 * @key: what is limited, such as `user:alice`
 * @now_us: the monotonic time now
 * @retry_after_us: (out): when refused, how long until an attempt is allowed
 *
 * Records an attempt for @key, unless it has used up its attempts.
 *
 * Returns: %TRUE if the attempt may go on; %FALSE if it is refused
 */
gboolean
helix_rate_limit_charge (HelixRateLimit *self,
                         const char     *key,
                         gint64          now_us,
                         gint64         *retry_after_us)
{
  GArray *times;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (retry_after_us != NULL, FALSE);

  *retry_after_us = 0;

  times = g_hash_table_lookup (self->keys, key);
  if (times == NULL)
    {
      if (g_hash_table_size (self->keys) >= MAX_KEYS)
        sweep (self, now_us);
      /* Still full: every key is under attack. Refusing new keys keeps the
       * memory bounded; the keys free up as their window passes. */
      if (g_hash_table_size (self->keys) >= MAX_KEYS)
        {
          *retry_after_us = self->window_us;
          return FALSE;
        }

      times = g_array_sized_new (FALSE, FALSE, sizeof (gint64), self->max_attempts);
      g_hash_table_insert (self->keys, g_strdup (key), times);
    }

  expire (self, times, now_us);
  if (times->len >= self->max_attempts)
    {
      *retry_after_us = g_array_index (times, gint64, 0) + self->window_us - now_us;
      return FALSE;
    }

  g_array_append_val (times, now_us);

  return TRUE;
}

/**
 * helix_rate_limit_refund:
 * @self: a limit
 * @key: what is limited
 *
 * Takes back the latest attempt charged to @key (it succeeded).
 */
void
helix_rate_limit_refund (HelixRateLimit *self,
                         const char     *key)
{
  GArray *times;

  g_return_if_fail (self != NULL);
  g_return_if_fail (key != NULL);

  times = g_hash_table_lookup (self->keys, key);
  if (times == NULL)
    return;

  if (times->len > 0)
    g_array_set_size (times, times->len - 1);
  if (times->len == 0)
    g_hash_table_remove (self->keys, key);
}

/**
 * helix_rate_limit_reset:
 * @self: a limit
 * @key: what is limited
 *
 * Forgets every attempt of @key.
 */
void
helix_rate_limit_reset (HelixRateLimit *self,
                        const char     *key)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (key != NULL);

  g_hash_table_remove (self->keys, key);
}

guint
helix_rate_limit_get_n_keys (HelixRateLimit *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return g_hash_table_size (self->keys);
}
