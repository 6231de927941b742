/* helix-flags.c: feature flags with a percentage roll-out and kill switches
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-audit"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>
#include <sodium.h>

#include "helix-flags.h"
#include "helix-state-file.h"

/**
 * HelixFlags:
 *
 * The feature flags: whether custom tools, composite skills, memory synthesis
 * and voice are on, and for whom.
 *
 * Each flag is enabled or not and rolled out to a percentage of users. Who is
 * in the percentage is decided by the user id alone: the SHA-256 of the flag
 * name and the user id (domain-separated, so that the flags pick independent
 * users) gives a bucket from 0 to %HELIX_FLAGS_BUCKETS − 1, and a user gets an
 * enabled flag when the bucket is below percent × 100. The same user gets the
 * same answer on every device and after every restart, and raising the
 * percentage only ever adds users.
 *
 * A flag's enabled state and percent come from, in rising order of strength,
 * the built-in default (enabled, 100 %), the configuration
 * (helix_flags_configure()) and changes at run time (helix_flags_set(),
 * helix_flags_set_async()), which are written to a state file (0600, written
 * atomically: see #HelixStateFile) when one was loaded with helix_flags_load()
 * and so survive a restart. Above all of them stands the kill switch: from
 * the configuration (helix_flags_kill()) or the environment (`DISABLE_SYNTHESIS=1`,
 * `DISABLE_CUSTOM_TOOLS=1`, …, helix_flags_apply_environment()), it turns the
 * flag off for everyone whatever its percent, and no change at run time lifts
 * it: only the configuration or the environment can.
 *
 * To add a flag, add a row to `known_flags` below.
 */

/* The flags, with the environment variable that kills each. */
static const struct
{
  const char *name;
  const char *kill_variable;
} known_flags[] = {
  { HELIX_FLAG_CUSTOM_TOOLS, "DISABLE_CUSTOM_TOOLS" },
  { HELIX_FLAG_COMPOSITE_SKILLS, "DISABLE_COMPOSITE_SKILLS" },
  { HELIX_FLAG_MEMORY_SYNTHESIS, "DISABLE_SYNTHESIS" },
  { HELIX_FLAG_VOICE, "DISABLE_VOICE" },
};

#define N_FLAGS G_N_ELEMENTS (known_flags)

/* Hashed before the flag name and user id: these buckets are for nothing else. */
#define BUCKET_DOMAIN "helix feature flag roll-out v1"

typedef struct
{
  gboolean       config_set;
  gboolean       config_enabled;
  guint          config_percent;
  gboolean       runtime_set;
  gboolean       runtime_enabled;
  guint          runtime_percent;
  gint64         changed_us;
  HelixFlagKill  kill;
} Flag;

struct _HelixFlags
{
  GObject         parent_instance;

  Flag            flags[N_FLAGS];
  HelixStateFile *store; /* (nullable): where changes at run time are kept */
};

enum {
  CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (HelixFlags, helix_flags, G_TYPE_OBJECT)

G_DEFINE_QUARK (helix-flags-error-quark, helix_flags_error)

static int
find_flag (const char *name)
{
  if (name == NULL)
    return -1;

  for (guint i = 0; i < N_FLAGS; i++)
    if (g_str_equal (known_flags[i].name, name))
      return i;

  return -1;
}

static void
set_unknown_flag (GError     **error,
                  const char  *name)
{
  g_autoptr(GString) names = g_string_new (NULL);

  for (guint i = 0; i < N_FLAGS; i++)
    g_string_append_printf (names, "%s%s", i > 0 ? ", " : "", known_flags[i].name);

  g_set_error (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_UNKNOWN_FLAG,
               _("There is no feature flag “%s”; the flags are %s"), name, names->str);
}

/* Names and values {{{1 */

/**
 * helix_flags_get_names:
 *
 * Returns: (transfer none) (array zero-terminated=1): the names of the known flags
 */
const char * const *
helix_flags_get_names (void)
{
  static const char *names[N_FLAGS + 1];
  static gsize initialized;

  if (g_once_init_enter (&initialized))
    {
      for (guint i = 0; i < N_FLAGS; i++)
        names[i] = known_flags[i].name;
      g_once_init_leave (&initialized, 1);
    }

  return names;
}

/**
 * helix_flags_name_is_known:
 * @name: (nullable): a flag name
 *
 * Returns: whether @name is one of the flags
 */
gboolean
helix_flags_name_is_known (const char *name)
{
  return find_flag (name) >= 0;
}

/**
 * helix_flags_get_kill_variable:
 * @name: a flag name
 *
 * Returns: (nullable): the environment variable that kills the flag, such as
 *   `DISABLE_SYNTHESIS`; %NULL for an unknown flag
 */
const char *
helix_flags_get_kill_variable (const char *name)
{
  int i = find_flag (name);

  return i >= 0 ? known_flags[i].kill_variable : NULL;
}

/**
 * helix_flags_source_to_string:
 * @source: a source
 *
 * Returns: `default`, `config` or `runtime`
 */
const char *
helix_flags_source_to_string (HelixFlagSource source)
{
  switch (source)
    {
    case HELIX_FLAG_SOURCE_CONFIG:
      return "config";
    case HELIX_FLAG_SOURCE_RUNTIME:
      return "runtime";
    case HELIX_FLAG_SOURCE_DEFAULT:
    default:
      return "default";
    }
}

/**
 * helix_flags_kill_to_string:
 * @kill: a kill switch
 *
 * Returns: (nullable): `config` or `environment`; %NULL for %HELIX_FLAG_KILL_NONE
 */
const char *
helix_flags_kill_to_string (HelixFlagKill kill)
{
  switch (kill)
    {
    case HELIX_FLAG_KILL_CONFIG:
      return "config";
    case HELIX_FLAG_KILL_ENVIRONMENT:
      return "environment";
    case HELIX_FLAG_KILL_NONE:
    default:
      return NULL;
    }
}

static void
put_length (crypto_hash_sha256_state *state,
            gsize                     length)
{
  guint8 bytes[4] = { length >> 24, length >> 16, length >> 8, length };

  crypto_hash_sha256_update (state, bytes, sizeof bytes);
}

/**
 * helix_flags_bucket:
 * @name: a flag name
 * @user_id: a user id
 *
 * The roll-out bucket of @user_id for @name: the first 8 bytes of
 * SHA-256(domain ‖ len(name) ‖ name ‖ len(user_id) ‖ user_id), big-endian,
 * modulo %HELIX_FLAGS_BUCKETS (lengths as 4 bytes, big-endian).
 *
 * Returns: a number from 0 to %HELIX_FLAGS_BUCKETS − 1
 */
guint
helix_flags_bucket (const char *name,
                    const char *user_id)
{
  crypto_hash_sha256_state state;
  guint8 digest[crypto_hash_sha256_BYTES];
  guint64 value = 0;
  gsize name_len;
  gsize user_len;

  g_return_val_if_fail (name != NULL, 0);
  g_return_val_if_fail (user_id != NULL, 0);

  name_len = strlen (name);
  user_len = strlen (user_id);

  crypto_hash_sha256_init (&state);
  crypto_hash_sha256_update (&state, (const guint8 *) BUCKET_DOMAIN, sizeof BUCKET_DOMAIN);
  put_length (&state, name_len);
  crypto_hash_sha256_update (&state, (const guint8 *) name, name_len);
  put_length (&state, user_len);
  crypto_hash_sha256_update (&state, (const guint8 *) user_id, user_len);
  crypto_hash_sha256_final (&state, digest);

  for (guint i = 0; i < 8; i++)
    value = (value << 8) | digest[i];

  return (guint) (value % HELIX_FLAGS_BUCKETS);
}

/* A whole number from 0 to 100, digits only. */
static gboolean
parse_percent (const char *text,
               guint      *percent)
{
  guint64 value;

  if (text[0] == '\0' || strlen (text) > 3)
    return FALSE;
  for (const char *p = text; *p != '\0'; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;

  if (!g_ascii_string_to_unsigned (text, 10, 0, 100, &value, NULL))
    return FALSE;

  *percent = (guint) value;
  return TRUE;
}

/**
 * helix_flags_parse_setting:
 * @text: a flag's setting in a configuration file
 * @enabled: (out): whether it says enabled
 * @percent: (out): the roll-out it says
 * @error: return location for a #GError
 *
 * Reads `on` (also `true`, `yes`: enabled for everyone), `off` (also
 * `false`, `no`: disabled) or a percentage `N%` or `N` from 0 to 100
 * (enabled for that share of users).
 *
 * Returns: %TRUE if @text is one of these
 */
gboolean
helix_flags_parse_setting (const char  *text,
                           gboolean    *enabled,
                           guint       *percent,
                           GError     **error)
{
  g_autofree char *number = NULL;
  gsize len;

  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (enabled != NULL && percent != NULL, FALSE);

  if (g_ascii_strcasecmp (text, "on") == 0 || g_ascii_strcasecmp (text, "true") == 0 ||
      g_ascii_strcasecmp (text, "yes") == 0)
    {
      *enabled = TRUE;
      *percent = 100;
      return TRUE;
    }

  if (g_ascii_strcasecmp (text, "off") == 0 || g_ascii_strcasecmp (text, "false") == 0 ||
      g_ascii_strcasecmp (text, "no") == 0)
    {
      *enabled = FALSE;
      *percent = 100;
      return TRUE;
    }

  len = strlen (text);
  number = g_strndup (text, len > 0 && text[len - 1] == '%' ? len - 1 : len);
  if (!parse_percent (number, percent))
    {
      g_set_error (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_INVALID_VALUE,
                   _("“%s” is not a flag setting: write on, off, or the share of users who "
                     "get it as a percentage from 0%% to 100%%, such as 25%%"),
                   text);
      return FALSE;
    }

  *enabled = TRUE;
  return TRUE;
}

/**
 * helix_flags_parse_switch:
 * @text: the value of a kill switch
 * @on: (out): whether it is set
 * @error: return location for a #GError
 *
 * Reads `1`, `true`, `yes`, `on` (set) or `0`, `false`, `no`, `off` and the
 * empty string (not set), in any case.
 *
 * Returns: %TRUE if @text is one of these
 */
gboolean
helix_flags_parse_switch (const char  *text,
                          gboolean    *on,
                          GError     **error)
{
  static const char * const yes[] = { "1", "true", "yes", "on" };
  static const char * const no[] = { "", "0", "false", "no", "off" };

  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (on != NULL, FALSE);

  for (guint i = 0; i < G_N_ELEMENTS (yes); i++)
    if (g_ascii_strcasecmp (text, yes[i]) == 0)
      {
        *on = TRUE;
        return TRUE;
      }

  for (guint i = 0; i < G_N_ELEMENTS (no); i++)
    if (g_ascii_strcasecmp (text, no[i]) == 0)
      {
        *on = FALSE;
        return TRUE;
      }

  g_set_error (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_INVALID_VALUE,
               _("“%s” is not a kill switch value: write 1 (or true, yes, on) to kill the "
                 "feature, 0 (or false, no, off) to leave it"),
               text);
  return FALSE;
}

/* GObject {{{1 */

static void
helix_flags_dispose (GObject *object)
{
  HelixFlags *self = (HelixFlags *) object;

  g_clear_object (&self->store);

  G_OBJECT_CLASS (helix_flags_parent_class)->dispose (object);
}

static void
helix_flags_class_init (HelixFlagsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = helix_flags_dispose;

  if (sodium_init () < 0)
    g_error ("libsodium could not be initialized");

  /**
   * HelixFlags::changed:
   * @self: the flags
   * @name: the flag that changed
   *
   * Emitted when a flag's enabled state, percent or kill switch changed; the
   * detail is the flag's name (`changed::voice`). After a change at run time
   * it is emitted once the change is on disk.
   */
  signals[CHANGED] =
    g_signal_new ("changed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED,
                  0,
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
helix_flags_init (HelixFlags *self)
{
}

static void
emit_changed (HelixFlags *self,
              guint       index)
{
  g_signal_emit (self, signals[CHANGED], g_quark_from_static_string (known_flags[index].name),
                 known_flags[index].name);
}

/**
 * helix_flags_new:
 *
 * Creates the flags at their defaults (every flag enabled for everyone),
 * kept in memory only until helix_flags_load().
 *
 * Returns: (transfer full): new flags
 */
HelixFlags *
helix_flags_new (void)
{
  return g_object_new (HELIX_TYPE_FLAGS, NULL);
}

/* Settings {{{1 */

/**
 * helix_flags_check:
 * @self: the flags
 * @name: a flag name
 * @enabled: whether to switch it on
 * @percent: the share of users to roll it out to, 0 to 100
 * @error: return location for a #GError
 *
 * Checks a change before it is made (and audited): the flag must exist and
 * @percent be at most 100.
 *
 * Returns: %TRUE if helix_flags_set() would take it
 */
gboolean
helix_flags_check (HelixFlags  *self,
                   const char  *name,
                   gboolean     enabled,
                   guint        percent,
                   GError     **error)
{
  g_return_val_if_fail (HELIX_IS_FLAGS (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (find_flag (name) < 0)
    {
      set_unknown_flag (error, name != NULL ? name : "(null)");
      return FALSE;
    }

  if (percent > 100)
    {
      g_set_error (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_INVALID_VALUE,
                   _("The percent of flag “%s” must be from 0 to 100, not %u"), name, percent);
      return FALSE;
    }

  return TRUE;
}

/**
 * helix_flags_configure:
 * @self: the flags
 * @name: a flag name
 * @enabled: whether it is switched on
 * @percent: the share of users who get it, 0 to 100
 * @error: return location for a #GError
 *
 * Sets a flag as the configuration file says. A change at run time still
 * wins over it.
 *
 * Returns: %TRUE if the flag exists and @percent is valid
 */
gboolean
helix_flags_configure (HelixFlags  *self,
                       const char  *name,
                       gboolean     enabled,
                       guint        percent,
                       GError     **error)
{
  Flag *flag;
  int i;

  if (!helix_flags_check (self, name, enabled, percent, error))
    return FALSE;

  i = find_flag (name);
  flag = &self->flags[i];
  flag->config_set = TRUE;
  flag->config_enabled = enabled;
  flag->config_percent = percent;
  emit_changed (self, i);

  return TRUE;
}

/**
 * helix_flags_kill:
 * @self: the flags
 * @name: a flag name
 * @kill: what kills it; %HELIX_FLAG_KILL_NONE to lift a kill switch
 * @error: return location for a #GError
 *
 * Sets or lifts a flag's kill switch. A killed flag is off for everyone,
 * whatever its enabled state and percent.
 *
 * Returns: %TRUE if the flag exists
 */
gboolean
helix_flags_kill (HelixFlags     *self,
                  const char     *name,
                  HelixFlagKill   kill,
                  GError        **error)
{
  int i;

  g_return_val_if_fail (HELIX_IS_FLAGS (self), FALSE);

  i = find_flag (name);
  if (i < 0)
    {
      set_unknown_flag (error, name != NULL ? name : "(null)");
      return FALSE;
    }

  if (self->flags[i].kill != kill)
    {
      self->flags[i].kill = kill;
      emit_changed (self, i);
    }

  return TRUE;
}

/**
 * helix_flags_apply_environment:
 * @self: the flags
 * @envp: (nullable) (array zero-terminated=1): an environment, as from
 *   g_get_environ(); %NULL for the environment of the process
 * @error: return location for a #GError
 *
 * Applies the kill switches of the environment: `DISABLE_CUSTOM_TOOLS`,
 * `DISABLE_COMPOSITE_SKILLS`, `DISABLE_SYNTHESIS` (memory synthesis) and
 * `DISABLE_VOICE`, each `1` to kill the flag (see helix_flags_parse_switch()).
 * `0` or unset leaves a kill switch of the configuration as it is.
 *
 * Returns: %TRUE on success; on an invalid value nothing is changed
 */
gboolean
helix_flags_apply_environment (HelixFlags          *self,
                               const char * const  *envp,
                               GError             **error)
{
  g_auto(GStrv) own_environ = NULL;
  gboolean kill[N_FLAGS] = { FALSE, };

  g_return_val_if_fail (HELIX_IS_FLAGS (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (envp == NULL)
    envp = (const char * const *) (own_environ = g_get_environ ());

  for (guint i = 0; i < N_FLAGS; i++)
    {
      const char *value = g_environ_getenv ((char **) envp, known_flags[i].kill_variable);
      g_autoptr(GError) local_error = NULL;

      if (value != NULL && !helix_flags_parse_switch (value, &kill[i], &local_error))
        {
          g_set_error (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_INVALID_VALUE,
                       _("environment variable %s: %s"), known_flags[i].kill_variable,
                       local_error->message);
          return FALSE;
        }
    }

  for (guint i = 0; i < N_FLAGS; i++)
    if (kill[i])
      helix_flags_kill (self, known_flags[i].name, HELIX_FLAG_KILL_ENVIRONMENT, NULL);

  return TRUE;
}

/* The state file {{{1 */

static JsonNode *
runtime_to_node (gboolean enabled,
                 guint    percent,
                 gint64   changed_us)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "enabled");
  json_builder_add_boolean_value (builder, enabled);
  json_builder_set_member_name (builder, "percent");
  json_builder_add_int_value (builder, percent);
  json_builder_set_member_name (builder, "changed_us");
  json_builder_add_int_value (builder, changed_us);
  json_builder_end_object (builder);

  return json_builder_get_root (builder);
}

static gboolean
node_is_type (JsonNode *node,
              GType     type)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

/* Reads one stored flag: {"enabled":bool,"percent":0–100,"changed_us":int}. */
static gboolean
runtime_from_node (JsonNode  *node,
                   Flag      *flag)
{
  JsonObject *object;
  JsonNode *enabled;
  JsonNode *percent;
  JsonNode *changed;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return FALSE;

  object = json_node_get_object (node);
  enabled = json_object_get_member (object, "enabled");
  percent = json_object_get_member (object, "percent");
  changed = json_object_get_member (object, "changed_us");
  if (!node_is_type (enabled, G_TYPE_BOOLEAN) || !node_is_type (percent, G_TYPE_INT64) ||
      !node_is_type (changed, G_TYPE_INT64) || json_object_get_size (object) != 3)
    return FALSE;
  if (json_node_get_int (percent) < 0 || json_node_get_int (percent) > 100 ||
      json_node_get_int (changed) < 0)
    return FALSE;

  flag->runtime_set = TRUE;
  flag->runtime_enabled = json_node_get_boolean (enabled);
  flag->runtime_percent = (guint) json_node_get_int (percent);
  flag->changed_us = json_node_get_int (changed);

  return TRUE;
}

/**
 * helix_flags_load:
 * @self: the flags
 * @path: the state file for changes at run time, such as `<state-dir>/flags.json`
 * @error: return location for a #GError
 *
 * Reads the changes made at run time from @path (if it exists) and keeps the
 * next ones there. This blocks: call it at start-up. A damaged file, or one
 * with a value out of range, is refused (%HELIX_FLAGS_ERROR_STORE) and left
 * as it is; a flag this version does not know is ignored.
 *
 * Returns: %TRUE on success
 */
gboolean
helix_flags_load (HelixFlags  *self,
                  const char  *path,
                  GError     **error)
{
  g_autoptr(HelixStateFile) store = NULL;
  g_autoptr(GError) local_error = NULL;
  Flag loaded[N_FLAGS];
  JsonObjectIter iter;
  const char *member;
  JsonNode *node;

  g_return_val_if_fail (HELIX_IS_FLAGS (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  store = helix_state_file_open (path, &local_error);
  if (store == NULL)
    {
      g_set_error_literal (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_STORE,
                           local_error->message);
      return FALSE;
    }

  memcpy (loaded, self->flags, sizeof loaded);
  for (guint i = 0; i < N_FLAGS; i++)
    loaded[i].runtime_set = FALSE;

  json_object_iter_init (&iter, helix_state_file_get_root (store));
  while (json_object_iter_next (&iter, &member, &node))
    {
      int i = find_flag (member);

      if (i < 0)
        {
          g_message ("%s: ignoring the unknown flag “%s”", path, member);
          continue;
        }

      if (!runtime_from_node (node, &loaded[i]))
        {
          g_set_error (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_STORE,
                       _("%s: the stored value of flag “%s” is not valid (it needs "
                         "“enabled”, “percent” from 0 to 100 and “changed_us”); correct or "
                         "remove it"),
                       path, member);
          return FALSE;
        }
    }

  g_set_object (&self->store, store);
  for (guint i = 0; i < N_FLAGS; i++)
    {
      gboolean differs = memcmp (&self->flags[i], &loaded[i], sizeof (Flag)) != 0;

      self->flags[i] = loaded[i];
      if (differs)
        emit_changed (self, i);
    }

  return TRUE;
}

/* State {{{1 */

/**
 * helix_flags_get_state:
 * @self: the flags
 * @name: a flag name
 * @state: (out caller-allocates): the flag's state
 *
 * Returns: %TRUE if the flag exists (else @state is untouched)
 */
gboolean
helix_flags_get_state (HelixFlags     *self,
                       const char     *name,
                       HelixFlagState *state)
{
  const Flag *flag;
  int i;

  g_return_val_if_fail (HELIX_IS_FLAGS (self), FALSE);
  g_return_val_if_fail (state != NULL, FALSE);

  i = find_flag (name);
  if (i < 0)
    return FALSE;

  flag = &self->flags[i];
  state->name = known_flags[i].name;
  state->kill = flag->kill;
  state->kill_variable = known_flags[i].kill_variable;
  state->changed_us = flag->changed_us;
  if (flag->runtime_set)
    {
      state->enabled = flag->runtime_enabled;
      state->percent = flag->runtime_percent;
      state->source = HELIX_FLAG_SOURCE_RUNTIME;
    }
  else if (flag->config_set)
    {
      state->enabled = flag->config_enabled;
      state->percent = flag->config_percent;
      state->source = HELIX_FLAG_SOURCE_CONFIG;
    }
  else
    {
      state->enabled = TRUE;
      state->percent = 100;
      state->source = HELIX_FLAG_SOURCE_DEFAULT;
    }

  return TRUE;
}

/**
 * helix_flags_is_enabled:
 * @self: the flags
 * @name: a flag name (one of helix_flags_get_names())
 * @user_id: the user the flag is evaluated for (at most %HELIX_FLAGS_USER_ID_MAX bytes)
 *
 * Returns: whether @user_id gets the feature: the flag is not killed, is
 *   enabled, and the user's bucket (helix_flags_bucket()) is below its
 *   percent × 100
 */
gboolean
helix_flags_is_enabled (HelixFlags *self,
                        const char *name,
                        const char *user_id)
{
  HelixFlagState state;

  g_return_val_if_fail (HELIX_IS_FLAGS (self), FALSE);
  g_return_val_if_fail (helix_flags_name_is_known (name), FALSE);
  g_return_val_if_fail (user_id != NULL && strlen (user_id) <= HELIX_FLAGS_USER_ID_MAX, FALSE);

  helix_flags_get_state (self, name, &state);

  if (state.kill != HELIX_FLAG_KILL_NONE || !state.enabled || state.percent == 0)
    return FALSE;
  if (state.percent >= 100)
    return TRUE;

  return helix_flags_bucket (name, user_id) < state.percent * (HELIX_FLAGS_BUCKETS / 100);
}

/* Changes at run time {{{1 */

typedef struct
{
  guint    index;
  gboolean enabled;
  guint    percent;
  gint64   changed_us;
} Change;

static void
apply_change (HelixFlags   *self,
              const Change *change)
{
  Flag *flag = &self->flags[change->index];

  flag->runtime_set = TRUE;
  flag->runtime_enabled = change->enabled;
  flag->runtime_percent = change->percent;
  flag->changed_us = change->changed_us;
  emit_changed (self, change->index);
}

/**
 * helix_flags_set:
 * @self: the flags
 * @name: a flag name
 * @enabled: whether to switch it on
 * @percent: the share of users to roll it out to, 0 to 100
 * @error: return location for a #GError
 *
 * Changes a flag at run time; the change wins over the configuration (not
 * over a kill switch). With a state file (helix_flags_load()) it is written
 * there first, blocking: this is for the command line and tests; a server
 * uses helix_flags_set_async(). Emits #HelixFlags::changed.
 *
 * Returns: %TRUE if the change was made (and stored)
 */
gboolean
helix_flags_set (HelixFlags  *self,
                 const char  *name,
                 gboolean     enabled,
                 guint        percent,
                 GError     **error)
{
  Change change;

  if (!helix_flags_check (self, name, enabled, percent, error))
    return FALSE;

  change.index = find_flag (name);
  change.enabled = enabled;
  change.percent = percent;
  change.changed_us = g_get_real_time ();

  if (self->store != NULL)
    {
      g_autoptr(JsonNode) node = runtime_to_node (enabled, percent, change.changed_us);
      g_autoptr(GError) local_error = NULL;

      if (!helix_state_file_set_member (self->store, name, node, &local_error))
        {
          g_set_error_literal (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_STORE,
                               local_error->message);
          return FALSE;
        }
    }

  apply_change (self, &change);

  return TRUE;
}

static void
set_stored_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HelixFlags *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;

  if (!helix_state_file_set_member_finish (HELIX_STATE_FILE (source), result, &error))
    {
      g_task_return_new_error (task, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_STORE, "%s",
                               error->message);
      return;
    }

  apply_change (self, g_task_get_task_data (task));
  g_task_return_boolean (task, TRUE);
}

/**
 * helix_flags_set_async:
 * @self: the flags
 * @name: a flag name
 * @enabled: whether to switch it on
 * @percent: the share of users to roll it out to, 0 to 100
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once the change is made, or refused
 * @user_data: data for @callback
 *
 * The same as helix_flags_set(), with the state file written in a worker
 * thread: the change takes effect (and #HelixFlags::changed is emitted) once
 * it is on disk. Changes are stored in the order they were asked for.
 */
void
helix_flags_set_async (HelixFlags          *self,
                       const char          *name,
                       gboolean             enabled,
                       guint                percent,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  Change *change;

  g_return_if_fail (HELIX_IS_FLAGS (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_flags_set_async);
  g_task_set_check_cancellable (task, FALSE);

  if (!helix_flags_check (self, name, enabled, percent, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  change = g_new0 (Change, 1);
  change->index = find_flag (name);
  change->enabled = enabled;
  change->percent = percent;
  change->changed_us = g_get_real_time ();
  g_task_set_task_data (task, change, g_free);

  if (self->store == NULL)
    {
      apply_change (self, change);
      g_task_return_boolean (task, TRUE);
      return;
    }

  node = runtime_to_node (enabled, percent, change->changed_us);
  helix_state_file_set_member_async (self->store, name, node, cancellable, set_stored_cb,
                                     g_steal_pointer (&task));
}

/**
 * helix_flags_set_finish:
 * @self: the flags
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the change was made and stored
 */
gboolean
helix_flags_set_finish (HelixFlags    *self,
                        GAsyncResult  *result,
                        GError       **error)
{
  g_return_val_if_fail (HELIX_IS_FLAGS (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == helix_flags_set_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
