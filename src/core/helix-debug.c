/* helix-debug.c: debug messages on hot paths, made only when they are written
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "helix-debug.h"

/* Set by whoever writes the program's log (the gateway's helix-log.c). */
static HelixWouldDropFunc would_drop_func;

/**
 * helix_debug_set_would_drop_func:
 * @func: (nullable): what decides which messages are dropped; %NULL for
 *   GLib's default writer (`G_MESSAGES_DEBUG`)
 *
 * Tells helix_debug_would_drop() how the program's log is written. Call it
 * when installing a log writer, before other threads log.
 */
void
helix_debug_set_would_drop_func (HelixWouldDropFunc func)
{
  g_atomic_pointer_set (&would_drop_func, func);
}

/**
 * helix_debug_would_drop:
 * @log_level: a level
 * @log_domain: (nullable): a domain
 *
 * Returns: whether a message of @log_level in @log_domain would be dropped
 */
gboolean
helix_debug_would_drop (GLogLevelFlags  log_level,
                        const char     *log_domain)
{
  HelixWouldDropFunc func = g_atomic_pointer_get (&would_drop_func);

  if (func != NULL)
    return func (log_level, log_domain);

  return g_log_writer_default_would_drop (log_level, log_domain);
}
