/* helix-rate-limit.h: a sliding-window limit on failed attempts
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _HelixRateLimit HelixRateLimit;

HelixRateLimit *helix_rate_limit_new    (guint           max_attempts,
                                         gint64          window_us);
void            helix_rate_limit_free   (HelixRateLimit *self);

gboolean        helix_rate_limit_charge (HelixRateLimit *self,
                                         const char     *key,
                                         gint64          now_us,
                                         gint64         *retry_after_us);
void            helix_rate_limit_refund (HelixRateLimit *self,
                                         const char     *key);
void            helix_rate_limit_reset  (HelixRateLimit *self,
                                         const char     *key);
guint           helix_rate_limit_get_n_keys (HelixRateLimit *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixRateLimit, helix_rate_limit_free)

G_END_DECLS
