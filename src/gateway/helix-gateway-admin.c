/* helix-gateway-admin.c: feature flags and maintenance mode over HTTP
 *
 *   GET   /api/v1/flags                   the caller's flags, evaluated for them
 *   GET   /api/v1/admin/flags             every flag: enabled, percent, killed, source
 *   PATCH /api/v1/admin/flags/{name}      {"enabled":bool,"percent":0–100} (either or both)
 *   GET   /api/v1/admin/maintenance       {"maintenance":bool,"source":"config"|"runtime"}
 *   PUT   /api/v1/admin/maintenance       {"maintenance":bool}
 *
 * Everything needs a token; /api/v1/admin/… needs an administrator's (403
 * otherwise, before the body is read). A change is recorded in the audit
 * trail (channel api) before it is made, and not made when that fails (503
 * audit_unavailable, see helix-gateway-audit.c). Changes are written to the state
 * directory in a worker thread and take effect once they are on disk; they
 * win over the configuration file across restarts, never over a kill switch.
 * The admin routes stay writable in maintenance mode: it must be possible to
 * end it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "helix-gateway-private.h"

#define FLAGS_PATH       "/api/v1/flags"
#define ADMIN_FLAGS_PATH "/api/v1/admin/flags"
#define MAINTENANCE_PATH "/api/v1/admin/maintenance"

/* A change asked for, recorded before it is made. */
typedef struct
{
  char       *flag;        /* (nullable): a flag change; else maintenance */
  gboolean    enabled;     /* the flag's, or maintenance on */
  guint       percent;
  char       *user_name;
  HelixAudit *audit;       /* (nullable): to record a change that failed */
} Change;

static void change_free (Change *change);

/* The change is on record as about to happen, but could not be stored: the
 * record says so too. */
static void
record_not_done (Change       *change,
                 const GError *error)
{
  g_autofree char *payload = NULL;

  payload = _helix_gateway_audit_payload (change->flag != NULL ? "flag" : "setting",
                                          change->flag != NULL ? change->flag : "maintenance",
                                          "error", error->message, NULL);
  if (change->audit != NULL)
    helix_audit_record (change->audit, HELIX_AUDIT_CHANNEL_API, change->user_name,
                        change->flag != NULL ? "flags.change_failed"
                                             : "maintenance.change_failed",
                        payload);
}

static void
change_free (Change *change)
{
  g_free (change->flag);
  g_free (change->user_name);
  g_clear_object (&change->audit);
  g_free (change);
}

/**
 * _helix_gateway_lookup_admin:
 * @self: a started gateway
 * @user_name: a user
 * @is_admin: (out): whether the user is an administrator
 * @error: return location for a #GError
 *
 * An indexed lookup (users.name is UNIQUE): cheap enough for the main loop.
 *
 * Returns: %FALSE if the user could not be looked up
 */
gboolean
_helix_gateway_lookup_admin (HelixGateway  *self,
                             const char    *user_name,
                             gboolean      *is_admin,
                             GError       **error)
{
  g_autoptr(HelixGatewayUser) user = NULL;
  HelixGatewayDb *db = helix_gateway_get_db (self);

  if (db == NULL)
    {
      g_set_error_literal (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_DATABASE,
                           _("The database is closed"));
      return FALSE;
    }

  user = helix_gateway_db_lookup_user (db, user_name, error);
  if (user == NULL)
    return FALSE;

  *is_admin = user->is_admin && !user->disabled;

  return TRUE;
}

static HelixFlags *
get_flags_or_respond (HelixGateway      *self,
                      SoupServerMessage *msg)
{
  HelixFlags *flags = helix_gateway_get_flags (self);

  if (flags == NULL)
    _helix_gateway_respond_not_started (msg);

  return flags;
}

/* GET /api/v1/flags {{{1 */

static void
flags_cb (SoupServer        *server,
          SoupServerMessage *msg,
          const char        *path,
          GHashTable        *query,
          gpointer           user_data)
{
  static const char * const allowed[] = { "GET", "HEAD", NULL };
  HelixGateway *self = user_data;
  g_auto(HelixGatewayAuth) auth = { 0 };
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) root = NULL;
  const char * const *names = helix_flags_get_names ();
  HelixFlags *flags;

  if (!_helix_gateway_begin_authenticated (self, msg, path, FLAGS_PATH, allowed, &auth))
    return;

  flags = get_flags_or_respond (self, msg);
  if (flags == NULL)
    return;

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "flags");
  json_builder_begin_object (builder);
  for (guint i = 0; names[i] != NULL; i++)
    {
      json_builder_set_member_name (builder, names[i]);
      json_builder_add_boolean_value (builder,
                                      helix_flags_is_enabled (flags, names[i], auth.user_name));
    }
  json_builder_end_object (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  _helix_gateway_respond_json (msg, SOUP_STATUS_OK, root);
}

/* /api/v1/admin/flags {{{1 */

static void
add_flag_state (JsonBuilder          *builder,
                const HelixFlagState *state)
{
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, state->name);
  json_builder_set_member_name (builder, "enabled");
  json_builder_add_boolean_value (builder, state->enabled);
  json_builder_set_member_name (builder, "percent");
  json_builder_add_int_value (builder, state->percent);
  json_builder_set_member_name (builder, "killed");
  json_builder_add_boolean_value (builder, state->kill != HELIX_FLAG_KILL_NONE);
  json_builder_set_member_name (builder, "killed_by");
  if (state->kill != HELIX_FLAG_KILL_NONE)
    json_builder_add_string_value (builder, helix_flags_kill_to_string (state->kill));
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "kill_variable");
  json_builder_add_string_value (builder, state->kill_variable);
  json_builder_set_member_name (builder, "source");
  json_builder_add_string_value (builder, helix_flags_source_to_string (state->source));
  if (state->changed_us > 0)
    _helix_gateway_add_time_member (builder, "changed", state->changed_us);
  else
    {
      json_builder_set_member_name (builder, "changed");
      json_builder_add_null_value (builder);
    }
  json_builder_end_object (builder);
}

static void
respond_flag (SoupServerMessage *msg,
              HelixFlags        *flags,
              const char        *name)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  HelixFlagState state;

  helix_flags_get_state (flags, name, &state);
  add_flag_state (builder, &state);
  root = json_builder_get_root (builder);
  _helix_gateway_respond_json (msg, SOUP_STATUS_OK, root);
}

static void
list_flags (SoupServerMessage *msg,
            HelixFlags        *flags)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  const char * const *names = helix_flags_get_names ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "flags");
  json_builder_begin_array (builder);
  for (guint i = 0; names[i] != NULL; i++)
    {
      HelixFlagState state;

      helix_flags_get_state (flags, names[i], &state);
      add_flag_state (builder, &state);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  _helix_gateway_respond_json (msg, SOUP_STATUS_OK, root);
}

static gboolean
node_holds (JsonNode *node,
            GType     type)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

static void
flag_set_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  HelixGatewayAudited *audited = user_data;
  Change *change = _helix_gateway_audited_get_data (audited);
  SoupServerMessage *msg = _helix_gateway_audited_get_message (audited);
  g_autoptr(GError) error = NULL;

  if (!helix_flags_set_finish (HELIX_FLAGS (source), result, &error))
    {
      record_not_done (change, error);
      _helix_gateway_respond_internal_error (msg, error);
    }
  else
    {
      g_info ("flags: %s changed flag %s", change->user_name, change->flag);
      respond_flag (msg, HELIX_FLAGS (source), change->flag);
    }

  _helix_gateway_audited_finish (audited);
}

/* Once the change is on record. */
static gboolean
act_set_flag (HelixGateway        *self,
              SoupServerMessage   *msg,
              HelixGatewayAudited *audited)
{
  Change *change = _helix_gateway_audited_get_data (audited);
  HelixFlags *flags = get_flags_or_respond (self, msg);

  if (flags == NULL)
    return TRUE;

  helix_flags_set_async (flags, change->flag, change->enabled, change->percent, NULL,
                         flag_set_cb, audited);
  return FALSE;
}

/* The entry of a change: what it was, what it is to be. */
static char *
change_payload (const char *name,
                gboolean    was_enabled,
                guint       was_percent,
                gboolean    enabled,
                guint       percent)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, name != NULL ? "flag" : "setting");
  json_builder_add_string_value (builder, name != NULL ? name : "maintenance");
  json_builder_set_member_name (builder, "was_enabled");
  json_builder_add_boolean_value (builder, was_enabled);
  json_builder_set_member_name (builder, "enabled");
  json_builder_add_boolean_value (builder, enabled);
  if (name != NULL)
    {
      json_builder_set_member_name (builder, "was_percent");
      json_builder_add_int_value (builder, was_percent);
      json_builder_set_member_name (builder, "percent");
      json_builder_add_int_value (builder, percent);
    }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);

  return json_to_string (root, FALSE);
}

/* PATCH /api/v1/admin/flags/{name}: the body is checked whole before
 * anything changes; a member left out keeps its value. */
static void
patch_flag (HelixGateway      *self,
            SoupServerMessage *msg,
            HelixGatewayAuth  *auth,
            HelixFlags        *flags,
            const char        *name)
{
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(GError) error = NULL;
  HelixFlagState state;
  JsonObjectIter iter;
  const char *member;
  JsonNode *node;
  gboolean enabled;
  gint64 percent;
  g_autofree char *payload = NULL;
  Change *change;

  if (!helix_flags_get_state (flags, name, &state))
    {
      g_autofree char *names = g_strjoinv (", ", (char **) helix_flags_get_names ());
      g_autofree char *message =
        g_strdup_printf (_("There is no feature flag “%s”; the flags are %s."), name, names);

      _helix_gateway_respond_error (msg, SOUP_STATUS_NOT_FOUND, "not_found", message);
      return;
    }

  object = _helix_gateway_read_json_object (msg);
  if (object == NULL)
    return;

  enabled = state.enabled;
  percent = state.percent;

  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &member, &node))
    {
      if (g_str_equal (member, "enabled") && node_holds (node, G_TYPE_BOOLEAN))
        enabled = json_node_get_boolean (node);
      else if (g_str_equal (member, "percent") && node_holds (node, G_TYPE_INT64) &&
               json_node_get_int (node) >= 0 && json_node_get_int (node) <= 100)
        percent = json_node_get_int (node);
      else
        {
          _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                                        _("A flag change is {\"enabled\": true or false, "
                                          "\"percent\": a whole number from 0 to 100}, either "
                                          "or both, and nothing else."));
          return;
        }
    }

  if (json_object_get_size (object) == 0)
    {
      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                                    _("Send “enabled”, “percent” or both."));
      return;
    }

  if (!helix_flags_check (flags, name, enabled, (guint) percent, &error))
    {
      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                                    error->message);
      return;
    }

  change = g_new0 (Change, 1);
  change->flag = g_strdup (name);
  change->enabled = enabled;
  change->percent = (guint) percent;
  change->user_name = g_strdup (auth->user_name);
  if (_helix_gateway_get_audit (self) != NULL)
    change->audit = g_object_ref (_helix_gateway_get_audit (self));
  payload = change_payload (name, state.enabled, state.percent, enabled, (guint) percent);
  _helix_gateway_audited (self, msg, HELIX_AUDIT_CHANNEL_API, auth->user_name, "flags.change",
                          payload, act_set_flag, change, (GDestroyNotify) change_free);
}

static void
admin_flags_cb (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  static const char * const list_allowed[] = { "GET", "HEAD", NULL };
  static const char * const item_allowed[] = { "PATCH", NULL };
  HelixGateway *self = user_data;
  g_auto(HelixGatewayAuth) auth = { 0 };
  const char *name = NULL;
  HelixFlags *flags;

  if (!_helix_gateway_admit (self, msg))
    return;

  if (g_str_has_prefix (path, ADMIN_FLAGS_PATH "/"))
    {
      name = path + strlen (ADMIN_FLAGS_PATH "/");
      if (*name == '\0' || strchr (name, '/') != NULL)
        {
          _helix_gateway_respond_not_found (msg, path);
          return;
        }
    }
  else if (!g_str_equal (path, ADMIN_FLAGS_PATH))
    {
      _helix_gateway_respond_not_found (msg, path);
      return;
    }

  if (!_helix_gateway_check_method (msg, name != NULL ? item_allowed : list_allowed))
    return;

  _helix_gateway_set_no_store (msg);

  if (!_helix_gateway_authenticate (self, msg, &auth) ||
      !_helix_gateway_require_admin (self, msg, &auth))
    return;

  flags = get_flags_or_respond (self, msg);
  if (flags == NULL)
    return;

  if (name == NULL)
    list_flags (msg, flags);
  else
    patch_flag (self, msg, &auth, flags, name);
}

/* /api/v1/admin/maintenance {{{1 */

static void
respond_maintenance (HelixGateway      *self,
                     SoupServerMessage *msg)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "maintenance");
  json_builder_add_boolean_value (builder, _helix_gateway_in_maintenance (self));
  json_builder_set_member_name (builder, "source");
  json_builder_add_string_value (builder,
                                 _helix_gateway_maintenance_is_runtime (self) ? "runtime"
                                                                              : "config");
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  _helix_gateway_respond_json (msg, SOUP_STATUS_OK, root);
}

static void
maintenance_set_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  HelixGatewayAudited *audited = user_data;
  Change *change = _helix_gateway_audited_get_data (audited);
  SoupServerMessage *msg = _helix_gateway_audited_get_message (audited);
  g_autoptr(GError) error = NULL;

  if (!_helix_gateway_set_maintenance_finish (HELIX_GATEWAY (source), result, &error))
    {
      record_not_done (change, error);
      _helix_gateway_respond_internal_error (msg, error);
    }
  else
    {
      g_info ("maintenance: %s switched it %s", change->user_name, change->enabled ? "on" : "off");
      respond_maintenance (HELIX_GATEWAY (source), msg);
    }

  _helix_gateway_audited_finish (audited);
}

static gboolean
act_set_maintenance (HelixGateway        *self,
                     SoupServerMessage   *msg,
                     HelixGatewayAudited *audited)
{
  Change *change = _helix_gateway_audited_get_data (audited);

  _helix_gateway_set_maintenance_async (self, change->enabled, change->user_name,
                                        maintenance_set_cb, audited);
  return FALSE;
}

static void
put_maintenance (HelixGateway      *self,
                 SoupServerMessage *msg,
                 HelixGatewayAuth  *auth)
{
  g_autoptr(JsonObject) object = NULL;
  g_autofree char *payload = NULL;
  JsonNode *node;
  Change *change;

  object = _helix_gateway_read_json_object (msg);
  if (object == NULL)
    return;

  node = json_object_get_member (object, "maintenance");
  if (json_object_get_size (object) != 1 || node == NULL || !node_holds (node, G_TYPE_BOOLEAN))
    {
      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                                    _("Send {\"maintenance\": true} or {\"maintenance\": false}, "
                                      "and nothing else."));
      return;
    }

  change = g_new0 (Change, 1);
  change->enabled = json_node_get_boolean (node);
  change->user_name = g_strdup (auth->user_name);
  if (_helix_gateway_get_audit (self) != NULL)
    change->audit = g_object_ref (_helix_gateway_get_audit (self));
  payload = change_payload (NULL, _helix_gateway_in_maintenance (self), 0, change->enabled, 0);
  _helix_gateway_audited (self, msg, HELIX_AUDIT_CHANNEL_API, auth->user_name,
                          "maintenance.change", payload, act_set_maintenance, change,
                          (GDestroyNotify) change_free);
}

static void
maintenance_cb (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  static const char * const allowed[] = { "GET", "HEAD", "PUT", NULL };
  HelixGateway *self = user_data;
  g_auto(HelixGatewayAuth) auth = { 0 };

  if (!_helix_gateway_begin_authenticated (self, msg, path, MAINTENANCE_PATH, allowed, &auth) ||
      !_helix_gateway_require_admin (self, msg, &auth))
    return;

  if (g_str_equal (soup_server_message_get_method (msg), "PUT"))
    put_maintenance (self, msg, &auth);
  else
    respond_maintenance (self, msg);
}

void
_helix_gateway_add_admin_routes (HelixGateway *self,
                                 SoupServer   *server)
{
  g_assert (HELIX_IS_GATEWAY (self));
  g_assert (SOUP_IS_SERVER (server));

  soup_server_add_handler (server, FLAGS_PATH, flags_cb, self, NULL);
  soup_server_add_handler (server, ADMIN_FLAGS_PATH, admin_flags_cb, self, NULL);
  soup_server_add_handler (server, MAINTENANCE_PATH, maintenance_cb, self, NULL);
}
