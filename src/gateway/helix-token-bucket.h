/* helix-token-bucket.h: per-key request rate limits (token buckets)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _HelixTokenBuckets HelixTokenBuckets;

HelixTokenBuckets *helix_token_buckets_new        (double             rate,
                                                   double             burst,
                                                   guint              max_keys);
void               helix_token_buckets_free       (HelixTokenBuckets *self);
gboolean           helix_token_buckets_take       (HelixTokenBuckets *self,
                                                   const char        *key,
                                                   gint64             now_us,
                                                   gint64            *retry_after_us);
gboolean           helix_token_buckets_would_take (HelixTokenBuckets *self,
                                                   const char        *key,
                                                   gint64             now_us);
guint              helix_token_buckets_get_n_keys (HelixTokenBuckets *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixTokenBuckets, helix_token_buckets_free)

G_END_DECLS
