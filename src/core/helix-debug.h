/* helix-debug.h: debug messages on hot paths, made only when they are written
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * HelixWouldDropFunc:
 * @log_level: a level
 * @log_domain: (nullable): a domain
 *
 * Returns: whether a message of @log_level in @log_domain would be dropped
 */
typedef gboolean (*HelixWouldDropFunc) (GLogLevelFlags  log_level,
                                        const char     *log_domain);

void     helix_debug_set_would_drop_func (HelixWouldDropFunc  func);
gboolean helix_debug_would_drop          (GLogLevelFlags      log_level,
                                          const char         *log_domain);

/**
 * HELIX_HOT_DEBUG:
 * @...: the format and arguments of g_debug()
 *
 * g_debug() for a hot path: GLib 2.74 formats every g_log() message before
 * it can be dropped, so this makes the line only when it will be written
 * (helix_debug_would_drop()).
 */
#define HELIX_HOT_DEBUG(...) \
  G_STMT_START { \
    if G_UNLIKELY (!helix_debug_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN)) \
      g_debug (__VA_ARGS__); \
  } G_STMT_END

G_END_DECLS
