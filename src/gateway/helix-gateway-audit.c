/* helix-gateway-audit.c: the gateway's audit trail
 *
 *   GET  /api/v1/audit/verify[?checkpoint=NOTE]   verifies the whole log (administrators)
 *   POST /api/v1/audit/verify {"checkpoint":NOTE}  the same, with a longer note
 *   GET  /api/v1/audit/entries?channel=&actor=&q=&before=&limit=   entries, newest first
 *   GET  /api/v1/audit/checkpoint                   the newest signed checkpoint and the key
 *                                                   (any signed-in user: devices keep them)
 *
 * The trail (src/audit/helix-audit.c) is `audit.db` in the state directory,
 * its webhook queue `webhooks.db`, its signing key `audit.key` (0600) unless
 * `[audit] key-file` says otherwise, and its origin `helix-audit/<hostname>`.
 *
 * Privileged actions go through _helix_gateway_audited(): the request is
 * paused, the entry is recorded off the main loop, and the action runs only
 * once the entry is durable. If it cannot be written the action does not
 * run and the client gets 503 `audit_unavailable` (fail closed).
 *
 * Also recorded: the configuration file changing on disk (file-changes), a
 * heartbeat; by helix_audit_watch_router(), a provider's breaker opening or
 * closing (assistant-state, alerts) and a budget reaching its alert share
 * (alerts); by the trail itself, a webhook sink failing for too long (alerts).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <stdarg.h>
#include <string.h>

#include <glib/gi18n.h>

#include "helix-audit.h"
#include "helix-gateway-private.h"

#define VERIFY_PATH  "/api/v1/audit/verify"
#define ENTRIES_PATH "/api/v1/audit/entries"
#define CHECKPOINT_PATH "/api/v1/audit/checkpoint"

/* The longest checkpoint note a client may send, and the longest filters. */
#define MAX_CHECKPOINT_NOTE 4096
#define MAX_FILTER_TEXT     256

/* Opening {{{1 */

/**
 * _helix_gateway_audit_open:
 * @config: the gateway's configuration
 * @serve: %TRUE for the gateway: add the sinks, sign checkpoints, beat and
 *   deliver; %FALSE for a command of the command line, which only records
 *   (the gateway delivers its entries when it next starts)
 * @error: return location for a #GError
 *
 * Loads (or makes) the signing key and opens the audit trail of the state
 * directory, which must exist. This blocks: call it at start-up.
 *
 * Returns: (transfer full) (nullable): the audit trail
 */
HelixAudit *
_helix_gateway_audit_open (const HelixGatewayConfig  *config,
                           gboolean                   serve,
                           GError                   **error)
{
  g_autoptr(HelixAuditSigner) signer = NULL;
  g_autoptr(HelixAudit) audit = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *key_path = helix_gateway_config_dup_audit_key_file (config);
  g_autofree char *origin = g_strdup_printf ("helix-audit/%s", g_get_host_name ());
  g_autofree char *log_path = NULL;
  g_autofree char *queue_path = NULL;
  const char *state_dir = helix_gateway_config_get_state_dir (config);
  guint checkpoint_entries;
  guint checkpoint_seconds;
  guint heartbeat_seconds;

  signer = helix_audit_load_key_file (key_path, origin, &local_error);
  if (signer == NULL)
    {
      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_AUDIT,
                   _("The audit trail’s key cannot be used: %s"), local_error->message);
      return NULL;
    }

  log_path = g_build_filename (state_dir, "audit.db", NULL);
  queue_path = g_build_filename (state_dir, "webhooks.db", NULL);
  audit = helix_audit_open (log_path, queue_path, origin, signer, &local_error);
  if (audit == NULL)
    {
      g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_AUDIT,
                   _("Could not open the audit trail %s: %s"), log_path, local_error->message);
      return NULL;
    }

  if (!serve)
    return g_steal_pointer (&audit);

  for (guint i = 0; i < helix_gateway_config_get_n_sinks (config); i++)
    {
      const HelixGatewaySinkConfig *sink = helix_gateway_config_get_sink (config, i);

      if (!helix_audit_add_sink (audit, sink->name, sink->format, sink->url, sink->backup_url,
                                 (const char * const *) sink->channels, &local_error))
        {
          g_set_error (error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_AUDIT,
                       _("[sink %s]: %s"), sink->name, local_error->message);
          helix_audit_close (audit);
          return NULL;
        }
    }

  helix_gateway_config_get_audit_timing (config, &checkpoint_entries, &checkpoint_seconds,
                                         &heartbeat_seconds);
  if (checkpoint_entries > 0 || checkpoint_seconds > 0)
    helix_audit_set_checkpoint_every (audit, checkpoint_entries, checkpoint_seconds);
  helix_audit_set_heartbeat (audit, heartbeat_seconds, "gateway");
  helix_audit_start (audit);

  return g_steal_pointer (&audit);
}

/**
 * _helix_gateway_audit_payload:
 * @first_name: the first member's name, then its string value (nullable: a
 *   JSON null), then more pairs; %NULL ends the list
 *
 * Returns: (transfer full): a JSON object of string members, for an entry's payload
 */
char *
_helix_gateway_audit_payload (const char *first_name,
                              ...)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  const char *name;
  va_list args;

  json_builder_begin_object (builder);
  va_start (args, first_name);
  for (name = first_name; name != NULL; name = va_arg (args, const char *))
    {
      const char *value = va_arg (args, const char *);

      json_builder_set_member_name (builder, name);
      if (value != NULL)
        json_builder_add_string_value (builder, value);
      else
        json_builder_add_null_value (builder);
    }
  va_end (args);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);

  return json_to_string (root, FALSE);
}

/* Privileged actions {{{1 */

struct _HelixGatewayAudited
{
  HelixGateway       *gateway;
  SoupServerMessage  *msg;
  HelixGatewayActFunc act;
  gpointer            data;
  GDestroyNotify      destroy;
  gboolean            disconnected;
};

static void
on_audited_disconnected (SoupServerMessage   *msg,
                         HelixGatewayAudited *audited)
{
  audited->disconnected = TRUE;
}

/**
 * _helix_gateway_audited_get_data:
 * @audited: an audited action
 *
 * Returns: (transfer none): the data given to _helix_gateway_audited()
 */
gpointer
_helix_gateway_audited_get_data (HelixGatewayAudited *audited)
{
  return audited->data;
}

/**
 * _helix_gateway_audited_get_message:
 * @audited: an audited action
 *
 * Returns: (transfer none): its request
 */
SoupServerMessage *
_helix_gateway_audited_get_message (HelixGatewayAudited *audited)
{
  return audited->msg;
}

/**
 * _helix_gateway_audited_finish:
 * @audited: (transfer full): an audited action whose request is answered
 *
 * Lets the answer go (unless the client went away) and frees @audited.
 */
void
_helix_gateway_audited_finish (HelixGatewayAudited *audited)
{
  if (!audited->disconnected)
    soup_server_message_unpause (audited->msg);

  g_signal_handlers_disconnect_by_data (audited->msg, audited);
  if (audited->destroy != NULL)
    audited->destroy (audited->data);
  g_clear_object (&audited->msg);
  g_clear_object (&audited->gateway);
  g_free (audited);
}

/**
 * _helix_gateway_respond_audit_unavailable:
 * @msg: a request whose action was not taken
 * @error: why its entry could not be written
 *
 * Answers 503 `audit_unavailable`: the action did not happen.
 */
void
_helix_gateway_respond_audit_unavailable (SoupServerMessage *msg,
                                          const GError      *error)
{
  g_warning ("%s %s: refused, the audit trail cannot be written: %s",
             soup_server_message_get_method (msg),
             g_uri_get_path (soup_server_message_get_uri (msg)), error->message);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Retry-After", "30");
  _helix_gateway_respond_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "audit_unavailable",
                                _("This was not done: the gateway could not write it to its "
                                  "audit trail first. Try again later; if it persists, tell "
                                  "the gateway’s administrator."));
}

static void
audited_recorded_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  HelixGatewayAudited *audited = user_data;
  g_autoptr(GError) error = NULL;

  if (helix_audit_record_finish (HELIX_AUDIT (source), result, &error) <= 0)
    {
      if (error == NULL)
        g_set_error_literal (&error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_AUDIT,
                             _("The entry was not written"));
      _helix_gateway_respond_audit_unavailable (audited->msg, error);
      _helix_gateway_audited_finish (audited);
      return;
    }

  /* The entry is durable: now the action may run. */
  if (audited->act (audited->gateway, audited->msg, audited))
    _helix_gateway_audited_finish (audited);
}

/**
 * _helix_gateway_audited:
 * @self: a started gateway
 * @msg: the request asking for a privileged action
 * @channel: the entry's channel
 * @actor: who acts (a user name, "system")
 * @event: what, such as "auth.logout"
 * @payload: (nullable): a JSON object with the details (sanitized by the trail)
 * @act: runs the action and answers @msg once the entry is durable
 * @data: (nullable): for @act, see _helix_gateway_audited_get_data()
 * @destroy: (nullable): frees @data
 *
 * Records the action, then runs it (fail closed). @msg is paused meanwhile.
 * @act returns %TRUE when it answered @msg; %FALSE when it goes on
 * asynchronously and calls _helix_gateway_audited_finish() itself.
 */
void
_helix_gateway_audited (HelixGateway        *self,
                        SoupServerMessage   *msg,
                        const char          *channel,
                        const char          *actor,
                        const char          *event,
                        const char          *payload,
                        HelixGatewayActFunc  act,
                        gpointer             data,
                        GDestroyNotify       destroy)
{
  HelixGatewayAudited *audited;
  HelixAudit *audit = _helix_gateway_get_audit (self);

  g_assert (HELIX_IS_GATEWAY (self));

  audited = g_new0 (HelixGatewayAudited, 1);
  audited->gateway = g_object_ref (self);
  audited->msg = g_object_ref (msg);
  audited->act = act;
  audited->data = data;
  audited->destroy = destroy;
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_audited_disconnected), audited);
  soup_server_message_pause (msg);

  if (audit == NULL)
    {
      g_autoptr(GError) error = g_error_new_literal (HELIX_GATEWAY_ERROR,
                                                     HELIX_GATEWAY_ERROR_AUDIT,
                                                     _("The audit trail is closed"));

      _helix_gateway_respond_audit_unavailable (msg, error);
      _helix_gateway_audited_finish (audited);
      return;
    }

  helix_audit_record_async (audit, channel, actor, event, payload, NULL,
                            audited_recorded_cb, audited);
}

/* File changes {{{1 */

static const char *
monitor_event_name (GFileMonitorEvent event)
{
  switch ((int) event)
    {
    case G_FILE_MONITOR_EVENT_CHANGES_DONE_HINT:
      return "changed";
    case G_FILE_MONITOR_EVENT_DELETED:
    case G_FILE_MONITOR_EVENT_MOVED_OUT:
      return "deleted";
    case G_FILE_MONITOR_EVENT_CREATED:
    case G_FILE_MONITOR_EVENT_MOVED_IN:
      return "created";
    case G_FILE_MONITOR_EVENT_RENAMED:
      /* An editor (or g_file_set_contents()) wrote a new file over it. */
      return "replaced";
    case G_FILE_MONITOR_EVENT_ATTRIBUTE_CHANGED:
      return "attributes";
    default:
      return NULL;
    }
}

static void
on_config_changed (GFileMonitor      *monitor,
                   GFile             *file,
                   GFile             *other_file,
                   GFileMonitorEvent  event,
                   HelixAudit        *audit)
{
  const char *what = monitor_event_name (event);
  const char *path = g_object_get_data (G_OBJECT (monitor), "helix-config-path");
  g_autofree char *payload = NULL;

  if (what == NULL)
    return;

  payload = _helix_gateway_audit_payload ("path", path, "change", what, NULL);
  helix_audit_record (audit, HELIX_AUDIT_CHANNEL_FILE_CHANGES, "system", "config.changed",
                      payload);
}

/**
 * _helix_gateway_audit_watch_config:
 * @audit: the audit trail
 * @path: (nullable): the configuration file
 *
 * Returns: (transfer full) (nullable): a monitor that records every change of
 *   @path on the file-changes channel (the gateway does not reload it: a
 *   change takes effect at the next start, and is on record before that)
 */
GFileMonitor *
_helix_gateway_audit_watch_config (HelixAudit *audit,
                                   const char *path)
{
  g_autoptr(GFile) file = NULL;
  g_autoptr(GError) error = NULL;
  GFileMonitor *monitor;

  if (path == NULL)
    return NULL;

  file = g_file_new_for_path (path);
  monitor = g_file_monitor_file (file, G_FILE_MONITOR_WATCH_MOVES, NULL, &error);
  if (monitor == NULL)
    {
      g_warning ("Cannot watch the configuration file %s for changes: %s", path,
                 error->message);
      return NULL;
    }

  /* The watched file's name: a rename reports the temporary file too. */
  g_object_set_data_full (G_OBJECT (monitor), "helix-config-path", g_strdup (path), g_free);
  g_signal_connect_object (monitor, "changed", G_CALLBACK (on_config_changed), audit, 0);

  return monitor;
}

/* GET|POST /api/v1/audit/verify {{{1 */

typedef struct
{
  SoupServerMessage *msg;
  HelixAudit        *audit;
  gboolean           disconnected;
} Query;

static void
on_query_disconnected (SoupServerMessage *msg,
                       Query             *query)
{
  query->disconnected = TRUE;
}

static Query *
query_new (SoupServerMessage *msg,
           HelixAudit        *audit)
{
  Query *query = g_new0 (Query, 1);

  query->msg = g_object_ref (msg);
  query->audit = g_object_ref (audit);
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_query_disconnected), query);
  soup_server_message_pause (msg);

  return query;
}

static void
query_finish (Query *query)
{
  if (!query->disconnected)
    soup_server_message_unpause (query->msg);
  g_signal_handlers_disconnect_by_data (query->msg, query);
  g_clear_object (&query->msg);
  g_clear_object (&query->audit);
  g_free (query);
}

static const char *
problem_name (HelixAuditProblem problem)
{
  switch (problem)
    {
    case HELIX_AUDIT_OK:
      return "ok";
    case HELIX_AUDIT_BAD_ENTRY:
      return "bad_entry";
    case HELIX_AUDIT_BAD_SEQUENCE:
      return "bad_sequence";
    case HELIX_AUDIT_TRUNCATED:
      return "truncated";
    case HELIX_AUDIT_REWRITTEN:
      return "rewritten";
    case HELIX_AUDIT_BAD_SIGNATURE:
      return "bad_signature";
    case HELIX_AUDIT_ROLLED_BACK:
      return "rolled_back";
    default:
      return "unknown";
    }
}

static void
verified_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Query *query = user_data;
  g_auto(HelixAuditReport) report = { 0 };
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *checkpoint = NULL;

  if (!helix_audit_verify_finish (HELIX_AUDIT (source), result, &report, &error))
    {
      _helix_gateway_respond_internal_error (query->msg, error);
      query_finish (query);
      return;
    }

  checkpoint = helix_audit_dup_latest_checkpoint (query->audit);

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "ok");
  json_builder_add_boolean_value (builder, report.problem == HELIX_AUDIT_OK);
  json_builder_set_member_name (builder, "entries");
  json_builder_add_int_value (builder, report.n_entries);
  json_builder_set_member_name (builder, "problem");
  json_builder_add_string_value (builder, problem_name (report.problem));
  json_builder_set_member_name (builder, "seq");
  json_builder_add_int_value (builder, report.seq);
  json_builder_set_member_name (builder, "message");
  if (report.message != NULL)
    json_builder_add_string_value (builder, report.message);
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "checkpoint");
  if (checkpoint != NULL)
    json_builder_add_string_value (builder, checkpoint);
  else
    json_builder_add_null_value (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  _helix_gateway_respond_json (query->msg, SOUP_STATUS_OK, root);
  query_finish (query);
}

/* 503 for a request that came before the gateway finished starting. */
void
_helix_gateway_respond_not_started (SoupServerMessage *msg)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Retry-After",
                                "5");
  _helix_gateway_respond_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "unavailable",
                                _("The gateway is not started. Try again in a moment."));
}

/* Answers 403 unless @auth speaks for an administrator (shared with helix-gateway-admin.c). */
gboolean
_helix_gateway_require_admin (HelixGateway      *self,
                              SoupServerMessage *msg,
                              HelixGatewayAuth  *auth)
{
  g_autoptr(GError) error = NULL;
  gboolean is_admin = FALSE;

  if (!_helix_gateway_lookup_admin (self, auth->user_name, &is_admin, &error))
    {
      _helix_gateway_respond_internal_error (msg, error);
      return FALSE;
    }

  if (!is_admin)
    {
      _helix_gateway_respond_error (msg, SOUP_STATUS_FORBIDDEN, "forbidden",
                                    _("Only an administrator of the gateway may do this. Ask "
                                      "one, or log in with an administrator’s account."));
      return FALSE;
    }

  return TRUE;
}

static HelixAudit *
get_audit_or_respond (HelixGateway      *self,
                      SoupServerMessage *msg)
{
  HelixAudit *audit = _helix_gateway_get_audit (self);

  if (audit == NULL)
    _helix_gateway_respond_not_started (msg);

  return audit;
}

static void
verify_cb (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *path,
           GHashTable        *params,
           gpointer           user_data)
{
  static const char * const allowed[] = { "GET", "HEAD", "POST", NULL };
  HelixGateway *self = user_data;
  g_auto(HelixGatewayAuth) auth = { 0 };
  g_autoptr(JsonObject) object = NULL;
  const char *checkpoint = NULL;
  HelixAudit *audit;

  if (!_helix_gateway_begin_authenticated (self, msg, path, VERIFY_PATH, allowed, &auth) ||
      !_helix_gateway_require_admin (self, msg, &auth))
    return;

  if (g_str_equal (soup_server_message_get_method (msg), "POST"))
    {
      JsonNode *node;

      object = _helix_gateway_read_json_object (msg);
      if (object == NULL)
        return;

      node = json_object_get_member (object, "checkpoint");
      if (json_object_get_size (object) > 1 ||
          (json_object_get_size (object) == 1 &&
           (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
            json_node_get_value_type (node) != G_TYPE_STRING)))
        {
          _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                                        _("Send {\"checkpoint\": \"<a signed checkpoint "
                                          "note>\"}, or an empty object."));
          return;
        }
      if (node != NULL)
        checkpoint = json_node_get_string (node);
    }
  else if (params != NULL)
    checkpoint = g_hash_table_lookup (params, "checkpoint");

  if (checkpoint != NULL && strlen (checkpoint) > MAX_CHECKPOINT_NOTE)
    {
      g_autofree char *message =
        g_strdup_printf (_("The checkpoint note is too long: at most %u bytes."),
                         MAX_CHECKPOINT_NOTE);

      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request", message);
      return;
    }
  if (checkpoint != NULL && checkpoint[0] == '\0')
    checkpoint = NULL;

  audit = get_audit_or_respond (self, msg);
  if (audit == NULL)
    return;

  helix_audit_verify_async (audit, checkpoint, NULL, verified_cb, query_new (msg, audit));
}

/* GET /api/v1/audit/entries {{{1 */

static void
listed_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Query *query = user_data;
  g_autoptr(GPtrArray) items = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;

  items = helix_audit_list_finish (HELIX_AUDIT (source), result, &error);
  if (items == NULL)
    {
      _helix_gateway_respond_internal_error (query->msg, error);
      query_finish (query);
      return;
    }

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "entries");
  json_builder_begin_array (builder);
  for (guint i = 0; i < items->len; i++)
    {
      const HelixAuditItem *item = g_ptr_array_index (items, i);
      g_autoptr(JsonNode) payload = NULL;

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "seq");
      json_builder_add_int_value (builder, item->seq);
      _helix_gateway_add_time_member (builder, "time", item->time_us);
      json_builder_set_member_name (builder, "channel");
      json_builder_add_string_value (builder, item->channel);
      json_builder_set_member_name (builder, "actor");
      json_builder_add_string_value (builder, item->actor);
      json_builder_set_member_name (builder, "event");
      json_builder_add_string_value (builder, item->event);
      json_builder_set_member_name (builder, "payload");
      /* Written by the trail as a JSON object; anything else goes as text. */
      if (item->payload != NULL)
        payload = json_from_string (item->payload, NULL);
      if (payload != NULL)
        json_builder_add_value (builder, g_steal_pointer (&payload));
      else if (item->payload != NULL)
        json_builder_add_string_value (builder, item->payload);
      else
        json_builder_add_null_value (builder);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "next");
  if (items->len > 0)
    json_builder_add_int_value (builder,
                                ((const HelixAuditItem *) g_ptr_array_index (items,
                                                                             items->len - 1))->seq);
  else
    json_builder_add_null_value (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  _helix_gateway_respond_json (query->msg, SOUP_STATUS_OK, root);
  query_finish (query);
}

/* A whole number from @min to @max, digits only. */
static gboolean
parse_count (const char *text,
             gint64      min,
             gint64      max,
             gint64     *out)
{
  guint64 value;

  if (text == NULL || text[0] == '\0' || strlen (text) > 19)
    return FALSE;
  for (const char *p = text; *p != '\0'; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  if (!g_ascii_string_to_unsigned (text, 10, min, max, &value, NULL))
    return FALSE;

  *out = (gint64) value;
  return TRUE;
}

static void
entries_cb (SoupServer        *server,
            SoupServerMessage *msg,
            const char        *path,
            GHashTable        *params,
            gpointer           user_data)
{
  static const char * const allowed[] = { "GET", "HEAD", NULL };
  static const char * const channels[] = {
    HELIX_AUDIT_CHANNEL_COMMANDS, HELIX_AUDIT_CHANNEL_API, HELIX_AUDIT_CHANNEL_HEARTBEAT,
    HELIX_AUDIT_CHANNEL_FILE_CHANGES, HELIX_AUDIT_CHANNEL_ASSISTANT_STATE,
    HELIX_AUDIT_CHANNEL_ALERTS, HELIX_AUDIT_CHANNEL_HASH_CHAIN, NULL,
  };
  HelixGateway *self = user_data;
  g_auto(HelixGatewayAuth) auth = { 0 };
  HelixAuditFilter filter = { NULL, };
  const char *before = NULL;
  const char *limit = NULL;
  gint64 number;
  HelixAudit *audit;

  if (!_helix_gateway_begin_authenticated (self, msg, path, ENTRIES_PATH, allowed, &auth) ||
      !_helix_gateway_require_admin (self, msg, &auth))
    return;

  if (params != NULL)
    {
      filter.channel = g_hash_table_lookup (params, "channel");
      filter.actor = g_hash_table_lookup (params, "actor");
      filter.text = g_hash_table_lookup (params, "q");
      before = g_hash_table_lookup (params, "before");
      limit = g_hash_table_lookup (params, "limit");
    }

  if (filter.channel != NULL && filter.channel[0] == '\0')
    filter.channel = NULL;
  if (filter.actor != NULL && filter.actor[0] == '\0')
    filter.actor = NULL;
  if (filter.text != NULL && filter.text[0] == '\0')
    filter.text = NULL;

  if (filter.channel != NULL && !g_strv_contains (channels, filter.channel))
    {
      g_autofree char *list = g_strjoinv (", ", (char **) channels);
      g_autofree char *message = g_strdup_printf (_("“channel” must be one of %s."), list);

      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request", message);
      return;
    }

  if ((filter.actor != NULL && strlen (filter.actor) > MAX_FILTER_TEXT) ||
      (filter.text != NULL && strlen (filter.text) > MAX_FILTER_TEXT))
    {
      g_autofree char *message =
        g_strdup_printf (_("“actor” and “q” may be at most %u bytes long."), MAX_FILTER_TEXT);

      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request", message);
      return;
    }

  if (before != NULL && before[0] != '\0')
    {
      if (!parse_count (before, 1, G_MAXINT64, &number))
        {
          _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                                        _("“before” must be an entry’s seq, a whole number "
                                          "from 1."));
          return;
        }
      filter.before_seq = number;
    }

  if (limit != NULL && limit[0] != '\0')
    {
      if (!parse_count (limit, 1, HELIX_AUDIT_MAX_LIST, &number))
        {
          g_autofree char *message =
            g_strdup_printf (_("“limit” must be a whole number from 1 to %u."),
                             HELIX_AUDIT_MAX_LIST);

          _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                                        message);
          return;
        }
      filter.limit = (guint) number;
    }

  audit = get_audit_or_respond (self, msg);
  if (audit == NULL)
    return;

  helix_audit_list_async (audit, &filter, NULL, listed_cb, query_new (msg, audit));
}

/* GET /api/v1/audit/checkpoint {{{1 */

/* The newest checkpoint and the key that signs them, for every signed-in
 * user: a size and a hash say nothing of anyone's data, and each device that
 * keeps them is a witness the log's keeper cannot rewrite. */
static void
checkpoint_cb (SoupServer        *server,
               SoupServerMessage *msg,
               const char        *path,
               GHashTable        *params,
               gpointer           user_data)
{
  static const char * const allowed[] = { "GET", "HEAD", NULL };
  HelixGateway *self = user_data;
  g_auto(HelixGatewayAuth) auth = { 0 };
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *note = NULL;
  g_autofree char *key = NULL;
  const guint8 *public_key;
  HelixAudit *audit;

  if (!_helix_gateway_begin_authenticated (self, msg, path, CHECKPOINT_PATH, allowed, &auth))
    return;

  audit = get_audit_or_respond (self, msg);
  if (audit == NULL)
    return;

  public_key = helix_audit_get_public_key (audit);
  note = helix_audit_dup_latest_checkpoint (audit);
  key = public_key != NULL ? g_base64_encode (public_key, HELIX_AUDIT_PUBLIC_KEY_BYTES) : NULL;

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "origin");
  json_builder_add_string_value (builder, helix_audit_get_origin (audit));
  json_builder_set_member_name (builder, "public_key");
  if (key != NULL)
    json_builder_add_string_value (builder, key);
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "checkpoint");
  if (note != NULL)
    json_builder_add_string_value (builder, note);
  else
    json_builder_add_null_value (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  _helix_gateway_respond_json (msg, SOUP_STATUS_OK, root);
}

void
_helix_gateway_add_audit_routes (HelixGateway *self,
                                 SoupServer   *server)
{
  g_assert (HELIX_IS_GATEWAY (self));
  g_assert (SOUP_IS_SERVER (server));

  soup_server_add_handler (server, VERIFY_PATH, verify_cb, self, NULL);
  soup_server_add_handler (server, ENTRIES_PATH, entries_cb, self, NULL);
  soup_server_add_handler (server, CHECKPOINT_PATH, checkpoint_cb, self, NULL);
}
