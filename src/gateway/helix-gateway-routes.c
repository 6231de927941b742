/* helix-gateway-routes.c: the gateway's HTTP routes
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "helix-gateway-private.h"

void
_helix_gateway_respond_json (SoupServerMessage *msg,
                             guint              status,
                             JsonNode          *root)
{
  char *body;

  g_assert (SOUP_IS_SERVER_MESSAGE (msg));
  g_assert (root != NULL);

  body = json_to_string (root, FALSE);
  /* libsoup 3.2 knows no phrase for 429 (RFC 6585). */
  soup_server_message_set_status (msg, status, status == 429 ? "Too Many Requests" : NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE,
                                    body, strlen (body));
}

/* Errors are {"error":{"code":"…","message":"…"}}: a stable code for
 * programs and a sentence for people. */
void
_helix_gateway_respond_error (SoupServerMessage *msg,
                              guint              status,
                              const char        *code,
                              const char        *message)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "error");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "code");
  json_builder_add_string_value (builder, code);
  json_builder_set_member_name (builder, "message");
  json_builder_add_string_value (builder, message);
  json_builder_end_object (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  _helix_gateway_respond_json (msg, status, root);
}

void
_helix_gateway_respond_not_found (SoupServerMessage *msg,
                   const char        *path)
{
  g_autofree char *message = NULL;

  message = g_strdup_printf (_("Nothing is at “%s”. The gateway’s status is at /health."), path);
  _helix_gateway_respond_error (msg, SOUP_STATUS_NOT_FOUND, "not_found", message);
}

/* Returns whether @msg uses one of @allowed (a NULL-terminated list of
 * methods); if not, answers 405 with an Allow header. */
gboolean
_helix_gateway_check_method (SoupServerMessage  *msg,
                             const char * const *allowed)
{
  const char *method = soup_server_message_get_method (msg);
  g_autofree char *allow = NULL;
  g_autofree char *message = NULL;

  if (g_strv_contains (allowed, method))
    return TRUE;

  allow = g_strjoinv (", ", (char **) allowed);
  message = g_strdup_printf (_("The method %s is not allowed here. Allowed methods: %s."),
                             method, allow);

  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", allow);
  _helix_gateway_respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed",
                                message);

  return FALSE;
}

/* GET /health: whether the gateway and its database answer.
 *
 * This runs on the main loop and queries the database synchronously. That
 * is acceptable here: helix_gateway_db_check() is one trivial query on a
 * local SQLite file (no table scan), much cheaper than the HTTP parsing
 * around it. Anything slow must run in a worker thread. */
static void
health_cb (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *path,
           GHashTable        *query,
           gpointer           user_data)
{
  static const char * const allowed[] = { "GET", "HEAD", NULL };
  HelixGateway *self = user_data;
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;
  HelixGatewayDb *db;
  gboolean database_ok;

  if (!_helix_gateway_admit (self, msg))
    return;

  /* The handler for /health also gets /health/anything. */
  if (!g_str_equal (path, "/health"))
    {
      _helix_gateway_respond_not_found (msg, path);
      return;
    }

  if (!_helix_gateway_check_method (msg, allowed))
    return;

  db = helix_gateway_get_db (self);
  if (db != NULL)
    database_ok = helix_gateway_db_check (db, &error);
  else
    {
      g_set_error_literal (&error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_DATABASE,
                           _("The database is closed"));
      database_ok = FALSE;
    }

  if (!database_ok)
    g_warning ("Health check: the database does not answer: %s", error->message);

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "status");
  json_builder_add_string_value (builder, database_ok ? "ok" : "degraded");
  json_builder_set_member_name (builder, "version");
  json_builder_add_string_value (builder, PACKAGE_VERSION);
  json_builder_set_member_name (builder, "uptime_s");
  json_builder_add_int_value (builder, _helix_gateway_get_uptime_seconds (self));
  json_builder_set_member_name (builder, "database");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "ok");
  json_builder_add_boolean_value (builder, database_ok);
  if (database_ok)
    {
      json_builder_set_member_name (builder, "schema_version");
      json_builder_add_int_value (builder, helix_gateway_db_get_schema_version (db));
    }
  else
    {
      json_builder_set_member_name (builder, "error");
      json_builder_add_string_value (builder, error->message);
    }
  json_builder_end_object (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);

  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Cache-Control", "no-store");
  _helix_gateway_respond_json (msg,
                               database_ok ? SOUP_STATUS_OK : SOUP_STATUS_SERVICE_UNAVAILABLE,
                               root);
}

/* Everything without a route of its own. */
static void
default_cb (SoupServer        *server,
            SoupServerMessage *msg,
            const char        *path,
            GHashTable        *query,
            gpointer           user_data)
{
  HelixGateway *self = user_data;

  if (!_helix_gateway_admit (self, msg))
    return;

  _helix_gateway_respond_not_found (msg, path);
}

void
_helix_gateway_add_routes (HelixGateway *self,
                           SoupServer   *server)
{
  g_assert (HELIX_IS_GATEWAY (self));
  g_assert (SOUP_IS_SERVER (server));

  /* The server does not outlive the gateway: no references needed. */
  soup_server_add_handler (server, NULL, default_cb, self, NULL);
  soup_server_add_handler (server, "/health", health_cb, self, NULL);
  _helix_gateway_add_api_routes (self, server);
  _helix_gateway_add_sessions_routes (self, server);
  _helix_gateway_add_sync_routes (self, server);
}
