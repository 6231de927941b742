/* helix-gateway-config-audit.c: the [flags], [audit] and [sink NAME] groups
 * of the gateway's configuration, and the kill switches of the environment
 *
 * The rest of the file's reading is in helix-gateway-config.c.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "helix-audit.h"
#include "helix-gateway-config-private.h"
#include "helix-sanitizer.h"

/* Group keys and sinks {{{1 */

static const char * const audit_keys[] = {
  "key-file", "checkpoint-entries", "checkpoint-seconds", "heartbeat-seconds", NULL
};
static const char * const sink_keys[] = {
  "url", "backup-url", "format", "channels", NULL
};

const char * const *
_helix_gateway_config_get_audit_keys (void)
{
  return audit_keys;
}

const char * const *
_helix_gateway_config_get_sink_keys (void)
{
  return sink_keys;
}

HelixGatewaySinkConfig *
_helix_gateway_sink_config_copy (const HelixGatewaySinkConfig *from)
{
  HelixGatewaySinkConfig *copy = g_new0 (HelixGatewaySinkConfig, 1);

  copy->name = g_strdup (from->name);
  copy->url = g_strdup (from->url);
  copy->backup_url = g_strdup (from->backup_url);
  copy->format = from->format;
  copy->channels = g_strdupv (from->channels);

  return copy;
}

void
_helix_gateway_sink_config_free (gpointer data)
{
  HelixGatewaySinkConfig *sink = data;

  g_free (sink->name);
  g_free (sink->url);
  g_free (sink->backup_url);
  g_strfreev (sink->channels);
  g_free (sink);
}

guint
_helix_gateway_config_n_flags (void)
{
  return g_strv_length ((char **) helix_flags_get_names ());
}

/* The key of [flags] that kills @name: its variable in lower case with
 * dashes, DISABLE_SYNTHESIS → disable-synthesis. */
static char *
dup_kill_key (const char *name)
{
  char *key = g_ascii_strdown (helix_flags_get_kill_variable (name), -1);

  g_strdelimit (key, "_", '-');

  return key;
}

/* The keys of [flags]: every flag, and every kill switch. */
const char * const *
_helix_gateway_config_get_flags_keys (void)
{
  static char **keys;
  static gsize initialized;

  if (g_once_init_enter (&initialized))
    {
      const char * const *names = helix_flags_get_names ();
      guint n = _helix_gateway_config_n_flags ();

      keys = g_new0 (char *, 2 * n + 1);
      for (guint i = 0; i < n; i++)
        {
          keys[i] = g_strdup (names[i]);
          keys[n + i] = dup_kill_key (names[i]);
        }
      g_once_init_leave (&initialized, 1);
    }

  return (const char * const *) keys;
}

/* [flags] NAME=on|off|N% and disable-NAME=true|false. */
gboolean
_helix_gateway_config_set_flags_key (HelixGatewayConfig  *self,
               const char          *key,
               const char          *value,
               GError             **error)
{
  const char * const *names = helix_flags_get_names ();

  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autofree char *kill_key = dup_kill_key (names[i]);
      gboolean on;

      if (g_str_equal (key, names[i]))
        {
          if (!helix_flags_parse_setting (value, &self->flags[i].enabled,
                                          &self->flags[i].percent, error))
            return FALSE;
          self->flags[i].set = TRUE;
          return TRUE;
        }

      if (g_str_equal (key, kill_key))
        {
          if (!helix_flags_parse_switch (value, &on, error))
            return FALSE;
          if (on)
            self->flags[i].kill = HELIX_FLAG_KILL_CONFIG;
          else if (self->flags[i].kill == HELIX_FLAG_KILL_CONFIG)
            self->flags[i].kill = HELIX_FLAG_KILL_NONE;
          return TRUE;
        }
    }

  g_assert_not_reached ();
}

/* The kill switches of the environment: DISABLE_SYNTHESIS=1 and the like. */
gboolean
_helix_gateway_config_apply_kill_switches (HelixGatewayConfig  *self,
                                           const char * const  *envp,
                                           GError             **error)
{
  const char * const *names = helix_flags_get_names ();

  for (guint i = 0; names[i] != NULL; i++)
    {
      const char *variable = helix_flags_get_kill_variable (names[i]);
      const char *value = g_environ_getenv ((char **) envp, variable);
      g_autoptr(GError) local_error = NULL;
      gboolean on;

      if (value == NULL)
        continue;

      if (!helix_flags_parse_switch (value, &on, &local_error))
        {
          g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR,
                       HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                       _("environment variable %s: %s"), variable, local_error->message);
          return FALSE;
        }
      if (on)
        self->flags[i].kill = HELIX_FLAG_KILL_ENVIRONMENT;
    }

  return TRUE;
}

/* [audit] and [sink NAME] {{{1 */


gboolean
_helix_gateway_config_set_audit_key (HelixGatewayConfig  *self,
               const char          *key,
               const char          *value,
               GError             **error)
{
  gint number;

  if (g_str_equal (key, "key-file"))
    return _helix_gateway_config_set_absolute_path (&self->audit_key_file, value,
                                                    "/var/lib/helix/audit.key", error);

  if (!_helix_gateway_config_parse_bounded_int (value, 0, 1000000, &number, error))
    return FALSE;

  if (g_str_equal (key, "checkpoint-entries"))
    self->audit_checkpoint_entries = number;
  else if (g_str_equal (key, "checkpoint-seconds"))
    self->audit_checkpoint_seconds = number;
  else if (g_str_equal (key, "heartbeat-seconds"))
    self->audit_heartbeat_seconds = number;
  else
    g_assert_not_reached ();

  return TRUE;
}

HelixGatewaySinkConfig *
_helix_gateway_config_ensure_sink (HelixGatewayConfig *self,
             const char         *name)
{
  HelixGatewaySinkConfig *sink;

  for (guint i = 0; i < self->sinks->len; i++)
    {
      sink = g_ptr_array_index (self->sinks, i);
      if (g_str_equal (sink->name, name))
        return sink;
    }

  sink = g_new0 (HelixGatewaySinkConfig, 1);
  sink->name = g_strdup (name);
  sink->format = HELIX_WEBHOOK_FORMAT_JSON;
  g_ptr_array_add (self->sinks, sink);

  return sink;
}

/* A webhook URL is a credential: never quoted in a message, and told to the
 * sanitizer as soon as it is read. */
static gboolean
set_webhook_url (char       **field,
                 const char  *value,
                 GError     **error)
{
  g_autoptr(GUri) uri = g_uri_parse (value, G_URI_FLAGS_NONE, NULL);

  if (uri == NULL ||
      (g_strcmp0 (g_uri_get_scheme (uri), "http") != 0 &&
       g_strcmp0 (g_uri_get_scheme (uri), "https") != 0) ||
      g_uri_get_host (uri) == NULL || g_uri_get_host (uri)[0] == '\0')
    {
      g_set_error_literal (error, HELIX_GATEWAY_CONFIG_ERROR,
                           HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                           _("not an http or https URL (for example "
                             "https://discord.com/api/webhooks/ID/TOKEN)"));
      return FALSE;
    }

  helix_sanitizer_add_secret (helix_sanitizer_get_default (), value);
  g_free (*field);
  *field = g_strdup (value);

  return TRUE;
}

gboolean
_helix_gateway_config_set_sink_key (HelixGatewayConfig  *self,
              const char          *group,
              const char          *key,
              const char          *value,
              GError             **error)
{
  HelixGatewaySinkConfig *sink =
    _helix_gateway_config_ensure_sink (self, group + strlen (SINK_GROUP_PREFIX));

  if (g_str_equal (key, "url"))
    return set_webhook_url (&sink->url, value, error);

  if (g_str_equal (key, "backup-url"))
    {
      if (value[0] == '\0')
        {
          g_clear_pointer (&sink->backup_url, g_free);
          return TRUE;
        }
      return set_webhook_url (&sink->backup_url, value, error);
    }

  if (g_str_equal (key, "format"))
    {
      if (g_str_equal (value, "discord"))
        sink->format = HELIX_WEBHOOK_FORMAT_DISCORD;
      else if (g_str_equal (value, "json"))
        sink->format = HELIX_WEBHOOK_FORMAT_JSON;
      else
        {
          g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR,
                       HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                       _("“%s” is not a webhook format; use discord or json"), value);
          return FALSE;
        }
      return TRUE;
    }

  if (g_str_equal (key, "channels"))
    {
      static const char * const known[] = {
        HELIX_AUDIT_CHANNEL_COMMANDS, HELIX_AUDIT_CHANNEL_API, HELIX_AUDIT_CHANNEL_HEARTBEAT,
        HELIX_AUDIT_CHANNEL_FILE_CHANGES, HELIX_AUDIT_CHANNEL_ASSISTANT_STATE,
        HELIX_AUDIT_CHANNEL_ALERTS, HELIX_AUDIT_CHANNEL_HASH_CHAIN, NULL,
      };
      g_auto(GStrv) parts = g_strsplit (value, ";", -1);
      g_autoptr(GPtrArray) channels = g_ptr_array_new_with_free_func (g_free);

      for (guint i = 0; parts[i] != NULL; i++)
        {
          g_strstrip (parts[i]);
          if (parts[i][0] == '\0')
            continue;
          if (!g_strv_contains (known, parts[i]))
            {
              g_autofree char *list = g_strjoinv (";", (char **) known);

              g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR,
                           HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                           _("“%s” is not a channel; the channels are %s"), parts[i], list);
              return FALSE;
            }
          if (!g_ptr_array_find_with_equal_func (channels, parts[i], g_str_equal, NULL))
            g_ptr_array_add (channels, g_strdup (parts[i]));
        }
      g_ptr_array_add (channels, NULL);
      g_strfreev (sink->channels);
      sink->channels = (char **) g_ptr_array_steal (channels, NULL);
      return TRUE;
    }

  g_assert_not_reached ();
}

gboolean
_helix_gateway_config_check_sinks (HelixGatewayConfig  *self,
             const char          *origin,
             GError             **error)
{
  for (guint i = 0; i < self->sinks->len; i++)
    {
      const HelixGatewaySinkConfig *sink = g_ptr_array_index (self->sinks, i);

      if (sink->url == NULL)
        {
          g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                       _("%s: group “[sink %s]” needs “url”: where to send the entries"),
                       origin, sink->name);
          return FALSE;
        }
      if (sink->channels == NULL || sink->channels[0] == NULL)
        {
          g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
                       _("%s: group “[sink %s]” needs “channels”, such as api;alerts;hash-chain"),
                       origin, sink->name);
          return FALSE;
        }
    }

  return TRUE;
}


/**
 * helix_gateway_config_set_flag:
 * @self: a configuration
 * @name: a feature flag (see helix_flags_get_names())
 * @value: `on`, `off` or a percentage, as in [flags] (see helix_flags_parse_setting())
 * @error: return location for a #GError
 *
 * Sets a feature flag as the `[flags]` group of the file does.
 *
 * Returns: %TRUE if the flag exists and @value is valid; else @self is unchanged
 */
gboolean
helix_gateway_config_set_flag (HelixGatewayConfig  *self,
                               const char          *name,
                               const char          *value,
                               GError             **error)
{
  const char * const *names = helix_flags_get_names ();

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  for (guint i = 0; names[i] != NULL; i++)
    {
      gboolean enabled;
      guint percent;

      if (!g_str_equal (names[i], name))
        continue;

      if (!helix_flags_parse_setting (value, &enabled, &percent, error))
        return FALSE;

      self->flags[i].set = TRUE;
      self->flags[i].enabled = enabled;
      self->flags[i].percent = percent;
      return TRUE;
    }

  g_set_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
               _("There is no feature flag “%s”"), name);
  return FALSE;
}

/**
 * helix_gateway_config_dup_flags:
 * @self: a configuration
 *
 * Makes the feature flags as `[flags]` and the kill switches of the file and
 * the environment (`DISABLE_SYNTHESIS=1` and the like) set them. The flags
 * are in memory only until helix_flags_load().
 *
 * Returns: (transfer full): new flags
 */
HelixFlags *
helix_gateway_config_dup_flags (const HelixGatewayConfig *self)
{
  const char * const *names = helix_flags_get_names ();
  g_autoptr(HelixFlags) flags = NULL;

  g_return_val_if_fail (self != NULL, NULL);

  flags = helix_flags_new ();
  for (guint i = 0; names[i] != NULL; i++)
    {
      gboolean ok = TRUE;

      if (self->flags[i].set)
        ok = helix_flags_configure (flags, names[i], self->flags[i].enabled,
                                    self->flags[i].percent, NULL);
      if (ok && self->flags[i].kill != HELIX_FLAG_KILL_NONE)
        ok = helix_flags_kill (flags, names[i], self->flags[i].kill, NULL);
      g_assert (ok);
    }

  return g_steal_pointer (&flags);
}

/**
 * helix_gateway_config_dup_audit_key_file:
 * @self: a configuration
 *
 * Returns: (transfer full): the file of the key that signs the audit log's
 *   checkpoints: `key-file` of `[audit]`, or `<state-dir>/audit.key`
 */
char *
helix_gateway_config_dup_audit_key_file (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  if (self->audit_key_file != NULL)
    return g_strdup (self->audit_key_file);

  return g_build_filename (self->state_dir, "audit.key", NULL);
}

/**
 * helix_gateway_config_get_audit_timing:
 * @self: a configuration
 * @checkpoint_entries: (out) (optional): sign a checkpoint after this many entries (0: the default)
 * @checkpoint_seconds: (out) (optional): or after this long (0: the default)
 * @heartbeat_seconds: (out) (optional): record a heartbeat this often (0: never)
 */
void
helix_gateway_config_get_audit_timing (const HelixGatewayConfig *self,
                                       guint                    *checkpoint_entries,
                                       guint                    *checkpoint_seconds,
                                       guint                    *heartbeat_seconds)
{
  g_return_if_fail (self != NULL);

  if (checkpoint_entries != NULL)
    *checkpoint_entries = self->audit_checkpoint_entries;
  if (checkpoint_seconds != NULL)
    *checkpoint_seconds = self->audit_checkpoint_seconds;
  if (heartbeat_seconds != NULL)
    *heartbeat_seconds = self->audit_heartbeat_seconds;
}

/**
 * helix_gateway_config_get_n_sinks:
 * @self: a configuration
 *
 * Returns: how many `[sink NAME]` groups there are
 */
guint
helix_gateway_config_get_n_sinks (const HelixGatewayConfig *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->sinks->len;
}

/**
 * helix_gateway_config_get_sink:
 * @self: a configuration
 * @index: which, from 0
 *
 * Returns: (transfer none): a webhook sink of the audit trail
 */
const HelixGatewaySinkConfig *
helix_gateway_config_get_sink (const HelixGatewayConfig *self,
                               guint                     index)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (index < self->sinks->len, NULL);

  return g_ptr_array_index (self->sinks, index);
}
