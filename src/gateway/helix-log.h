/* helix-log.h: how the gateway writes its log
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "helix-debug.h"

G_BEGIN_DECLS

/**
 * HelixLogLevel:
 * @HELIX_LOG_LEVEL_ERROR: only errors (and criticals)
 * @HELIX_LOG_LEVEL_WARNING: warnings and everything above
 * @HELIX_LOG_LEVEL_INFO: informational messages (request log) and everything above
 * @HELIX_LOG_LEVEL_DEBUG: everything, including debug traces of every domain
 *
 * The least severe messages the gateway writes. Messages less severe than
 * the chosen level are dropped; debug messages of a domain named in
 * `G_MESSAGES_DEBUG` (or all of them for `all`) are written at any level.
 */
typedef enum
{
  HELIX_LOG_LEVEL_ERROR,
  HELIX_LOG_LEVEL_WARNING,
  HELIX_LOG_LEVEL_INFO,
  HELIX_LOG_LEVEL_DEBUG,
} HelixLogLevel;

gboolean       helix_log_level_from_string (const char     *text,
                                            HelixLogLevel  *level);
const char    *helix_log_level_to_string   (HelixLogLevel   level);

void           helix_log_install           (HelixLogLevel   level);
void           helix_log_set_level         (HelixLogLevel   level);
HelixLogLevel  helix_log_get_level         (void);
gboolean       helix_log_would_drop        (GLogLevelFlags  log_level,
                                            const char     *log_domain);

void           helix_log_info              (const char     *log_domain,
                                            const char     *message);
void           helix_log_set_batched       (gboolean        batch);
void           helix_log_flush             (void);
char          *helix_log_format_line       (GLogLevelFlags  log_level,
                                            const char     *log_domain,
                                            const char     *message);

G_END_DECLS
