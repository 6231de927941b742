/* helix-flags.h: feature flags with a percentage roll-out and kill switches
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The known flags. */
#define HELIX_FLAG_CUSTOM_TOOLS     "custom-tools"
#define HELIX_FLAG_COMPOSITE_SKILLS "composite-skills"
#define HELIX_FLAG_MEMORY_SYNTHESIS "memory-synthesis"
#define HELIX_FLAG_VOICE            "voice"

/* The longest user id a flag is evaluated for, in bytes. */
#define HELIX_FLAGS_USER_ID_MAX 256

/* Buckets of the roll-out: a percent is 100 of them. */
#define HELIX_FLAGS_BUCKETS 10000

#define HELIX_FLAGS_ERROR (helix_flags_error_quark ())

/**
 * HelixFlagsError:
 * @HELIX_FLAGS_ERROR_UNKNOWN_FLAG: no flag has that name
 * @HELIX_FLAGS_ERROR_INVALID_VALUE: a percent, switch or stored value is out of range
 * @HELIX_FLAGS_ERROR_STORE: the flags could not be read or written on disk
 */
typedef enum
{
  HELIX_FLAGS_ERROR_UNKNOWN_FLAG,
  HELIX_FLAGS_ERROR_INVALID_VALUE,
  HELIX_FLAGS_ERROR_STORE,
} HelixFlagsError;

/**
 * HelixFlagSource:
 * @HELIX_FLAG_SOURCE_DEFAULT: the built-in default
 * @HELIX_FLAG_SOURCE_CONFIG: the configuration file
 * @HELIX_FLAG_SOURCE_RUNTIME: a change at run time (helix_flags_set()), kept on disk
 *
 * Where a flag's enabled state and percent come from.
 */
typedef enum
{
  HELIX_FLAG_SOURCE_DEFAULT,
  HELIX_FLAG_SOURCE_CONFIG,
  HELIX_FLAG_SOURCE_RUNTIME,
} HelixFlagSource;

/**
 * HelixFlagKill:
 * @HELIX_FLAG_KILL_NONE: not killed
 * @HELIX_FLAG_KILL_CONFIG: killed by the configuration file
 * @HELIX_FLAG_KILL_ENVIRONMENT: killed by its environment variable (`DISABLE_…`)
 *
 * What holds a flag's kill switch.
 */
typedef enum
{
  HELIX_FLAG_KILL_NONE,
  HELIX_FLAG_KILL_CONFIG,
  HELIX_FLAG_KILL_ENVIRONMENT,
} HelixFlagKill;

/**
 * HelixFlagState:
 * @name: the flag
 * @enabled: whether it is switched on (before the roll-out and the kill switch)
 * @percent: the share of users who get it when enabled, 0 to 100
 * @source: where @enabled and @percent come from
 * @kill: what holds its kill switch, if anything: a killed flag is off for everyone
 * @kill_variable: the environment variable that kills it (`DISABLE_VOICE`, …)
 * @changed_us: when it was last changed at run time (µs since the epoch), or 0
 */
typedef struct
{
  const char      *name;
  gboolean         enabled;
  guint            percent;
  HelixFlagSource  source;
  HelixFlagKill    kill;
  const char      *kill_variable;
  gint64           changed_us;
} HelixFlagState;

#define HELIX_TYPE_FLAGS (helix_flags_get_type ())

G_DECLARE_FINAL_TYPE (HelixFlags, helix_flags, HELIX, FLAGS, GObject)

GQuark              helix_flags_error_quark          (void);

const char * const *helix_flags_get_names            (void);
gboolean            helix_flags_name_is_known        (const char          *name);
const char         *helix_flags_get_kill_variable    (const char          *name);
const char         *helix_flags_source_to_string     (HelixFlagSource      source);
const char         *helix_flags_kill_to_string       (HelixFlagKill        kill);
guint               helix_flags_bucket               (const char          *name,
                                                      const char          *user_id);
gboolean            helix_flags_parse_setting        (const char          *text,
                                                      gboolean            *enabled,
                                                      guint               *percent,
                                                      GError             **error);
gboolean            helix_flags_parse_switch         (const char          *text,
                                                      gboolean            *on,
                                                      GError             **error);

HelixFlags         *helix_flags_new                  (void);
gboolean            helix_flags_configure            (HelixFlags          *self,
                                                      const char          *name,
                                                      gboolean             enabled,
                                                      guint                percent,
                                                      GError             **error);
gboolean            helix_flags_kill                 (HelixFlags          *self,
                                                      const char          *name,
                                                      HelixFlagKill        kill,
                                                      GError             **error);
gboolean            helix_flags_apply_environment    (HelixFlags          *self,
                                                      const char * const  *envp,
                                                      GError             **error);
gboolean            helix_flags_load                 (HelixFlags          *self,
                                                      const char          *path,
                                                      GError             **error);

gboolean            helix_flags_get_state            (HelixFlags          *self,
                                                      const char          *name,
                                                      HelixFlagState      *state);
gboolean            helix_flags_is_enabled           (HelixFlags          *self,
                                                      const char          *name,
                                                      const char          *user_id);

gboolean            helix_flags_check                (HelixFlags          *self,
                                                      const char          *name,
                                                      gboolean             enabled,
                                                      guint                percent,
                                                      GError             **error);
gboolean            helix_flags_set                  (HelixFlags          *self,
                                                      const char          *name,
                                                      gboolean             enabled,
                                                      guint                percent,
                                                      GError             **error);
void                helix_flags_set_async            (HelixFlags          *self,
                                                      const char          *name,
                                                      gboolean             enabled,
                                                      guint                percent,
                                                      GCancellable        *cancellable,
                                                      GAsyncReadyCallback  callback,
                                                      gpointer             user_data);
gboolean            helix_flags_set_finish           (HelixFlags          *self,
                                                      GAsyncResult        *result,
                                                      GError             **error);

G_END_DECLS
