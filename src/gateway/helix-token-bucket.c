/* helix-token-bucket.c: per-key request rate limits (token buckets)
 *
 * Each key (a user, a client address) has a bucket of at most `burst`
 * tokens that refills at `rate` tokens a second; a request takes one token
 * and is refused when the bucket is empty.
 *
 * Memory is bounded: a bucket that has refilled completely is the same as
 * no bucket, so such idle buckets are swept (at most once a second, and
 * before a new key would go past max_keys). When every bucket is busy and
 * the table is full, an arbitrary bucket is dropped for the new key: the
 * limit gets more lenient under such a flood, but never unbounded in memory.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <math.h>

#include "helix-token-bucket.h"

typedef struct
{
  double tokens;
  gint64 updated_us;
} Bucket;

struct _HelixTokenBuckets
{
  double      rate;     /* tokens per second */
  double      burst;    /* the most tokens a bucket holds */
  guint       max_keys;
  gint64      swept_us;
  GHashTable *buckets;  /* char * → Bucket */
};

/**
 * helix_token_buckets_new:
 * @rate: tokens added each second (> 0)
 * @burst: the size of each bucket (≥ 1)
 * @max_keys: how many buckets to keep at most (≥ 1)
 *
 * Returns: (transfer full): new, empty buckets
 */
HelixTokenBuckets *
helix_token_buckets_new (double rate,
                         double burst,
                         guint  max_keys)
{
  HelixTokenBuckets *self;

  g_return_val_if_fail (rate > 0, NULL);
  g_return_val_if_fail (burst >= 1, NULL);
  g_return_val_if_fail (max_keys > 0, NULL);

  self = g_new0 (HelixTokenBuckets, 1);
  self->rate = rate;
  self->burst = burst;
  self->max_keys = max_keys;
  self->buckets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  return self;
}

void
helix_token_buckets_free (HelixTokenBuckets *self)
{
  if (self == NULL)
    return;

  g_hash_table_unref (self->buckets);
  g_free (self);
}

static void
refill (HelixTokenBuckets *self,
        Bucket            *bucket,
        gint64             now_us)
{
  if (now_us > bucket->updated_us)
    {
      bucket->tokens = MIN (self->burst,
                            bucket->tokens +
                              (now_us - bucket->updated_us) * self->rate / G_USEC_PER_SEC);
      bucket->updated_us = now_us;
    }
}

static void
sweep (HelixTokenBuckets *self,
       gint64             now_us)
{
  GHashTableIter iter;
  gpointer value;

  self->swept_us = now_us;

  g_hash_table_iter_init (&iter, self->buckets);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      refill (self, value, now_us);
      if (((Bucket *) value)->tokens >= self->burst)
        g_hash_table_iter_remove (&iter);
    }
}

/**
 * helix_token_buckets_take:
 * @self: buckets
 * @key: whose bucket, such as `user:alice`
 * @now_us: the monotonic time now
 * @retry_after_us: (out): when refused, how long until a token is back
 *
 * Takes a token from the bucket of @key.
 *
 * Returns: %TRUE if the request may go on; %FALSE if it is over the limit
 */
gboolean
helix_token_buckets_take (HelixTokenBuckets *self,
                          const char        *key,
                          gint64             now_us,
                          gint64            *retry_after_us)
{
  Bucket *bucket;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (retry_after_us != NULL, FALSE);

  *retry_after_us = 0;

  if (now_us - self->swept_us >= G_USEC_PER_SEC)
    sweep (self, now_us);

  bucket = g_hash_table_lookup (self->buckets, key);
  if (bucket == NULL)
    {
      if (g_hash_table_size (self->buckets) >= self->max_keys)
        sweep (self, now_us);

      if (g_hash_table_size (self->buckets) >= self->max_keys)
        {
          GHashTableIter iter;

          g_hash_table_iter_init (&iter, self->buckets);
          if (g_hash_table_iter_next (&iter, NULL, NULL))
            g_hash_table_iter_remove (&iter);
        }

      bucket = g_new0 (Bucket, 1);
      bucket->tokens = self->burst;
      bucket->updated_us = now_us;
      g_hash_table_insert (self->buckets, g_strdup (key), bucket);
    }

  refill (self, bucket, now_us);
  if (bucket->tokens < 1)
    {
      *retry_after_us = (gint64) ceil ((1 - bucket->tokens) * G_USEC_PER_SEC / self->rate);
      return FALSE;
    }

  bucket->tokens -= 1;

  return TRUE;
}

/**
 * helix_token_buckets_would_take:
 * @self: buckets
 * @key: whose bucket
 * @now_us: the monotonic time now
 *
 * Whether helix_token_buckets_take() would give a token now, without
 * taking one or changing anything: for a caller that must check several
 * limits before it charges any of them.
 *
 * Returns: %TRUE if the bucket of @key holds a token
 */
gboolean
helix_token_buckets_would_take (HelixTokenBuckets *self,
                                const char        *key,
                                gint64             now_us)
{
  const Bucket *bucket;
  double tokens;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);

  /* A bucket made now is full, and a full one holds at least one token. */
  bucket = g_hash_table_lookup (self->buckets, key);
  if (bucket == NULL)
    return TRUE;

  tokens = bucket->tokens;
  if (now_us > bucket->updated_us)
    tokens = MIN (self->burst,
                  tokens + (now_us - bucket->updated_us) * self->rate / G_USEC_PER_SEC);

  return tokens >= 1;
}

guint
helix_token_buckets_get_n_keys (HelixTokenBuckets *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return g_hash_table_size (self->buckets);
}
