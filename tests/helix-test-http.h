/* helix-test-http.h: REST requests to a gateway from the tests
 *
 * Every request is sent asynchronously while the default main context spins
 * (the gateway may run in the same process), with a deadline that fails the
 * test instead of hanging it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <string.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "helix-test-util.h"

G_BEGIN_DECLS

#define HELIX_TEST_HTTP_WAIT_S 60

#define HELIX_TEST_LOGIN_PATH "/api/v1/auth/login"

/* One request in flight. */
typedef struct
{
  GBytes   *body;
  GError   *error;
  gboolean  done;
} HelixTestHttp;

static inline void
helix_test_http_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  HelixTestHttp *r = user_data;

  r->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &r->error);
  r->done = TRUE;
}

/* A request for @base_uri@path. @token, when not %NULL, goes in an Authorization
 * header; @body, when not %NULL, is @len bytes (-1: a string) of @content_type. */
static inline SoupMessage *
helix_test_http_message_new (const char *base_uri,
                             const char *method,
                             const char *path,
                             const char *token,
                             const char *content_type,
                             const char *body,
                             gssize      len)
{
  g_autofree char *uri = g_strconcat (base_uri, path, NULL);
  SoupMessage *msg = soup_message_new (method, uri);

  g_assert_nonnull (msg);

  if (token != NULL)
    {
      g_autofree char *value = g_strconcat ("Bearer ", token, NULL);

      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                    value);
    }

  if (body != NULL)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (body, len < 0 ? strlen (body) : (gsize) len);

      soup_message_set_request_body_from_bytes (msg, content_type, bytes);
    }

  return msg;
}

/* Sends @msg through @session (%NULL: a session of its own) and spins until the
 * answer; returns its body. A transport error goes to @error, or, when @error is
 * %NULL, fails the test. */
static inline GBytes *
helix_test_http_send_message (SoupSession  *session,
                              SoupMessage  *msg,
                              GError      **error)
{
  g_autoptr(SoupSession) own = session == NULL ? soup_session_new () : NULL;
  g_autofree char *uri = g_uri_to_string (soup_message_get_uri (msg));
  HelixTestHttp r = { 0 };

  soup_session_send_and_read_async (session != NULL ? session : own, msg, G_PRIORITY_DEFAULT,
                                    NULL, helix_test_http_cb, &r);
  helix_test_wait_for (r.done, HELIX_TEST_HTTP_WAIT_S, uri);

  if (error == NULL)
    g_assert_no_error (r.error);
  else if (r.error != NULL)
    g_propagate_error (error, g_steal_pointer (&r.error));

  return r.body;
}

/* Sends a request (see helix_test_http_message_new()) and returns the message, with
 * its status and headers; *@response gets the body. */
static inline SoupMessage *
helix_test_http_send (SoupSession  *session,
                      const char   *base_uri,
                      const char   *method,
                      const char   *path,
                      const char   *token,
                      const char   *content_type,
                      const char   *body,
                      gssize        len,
                      GBytes      **response)
{
  SoupMessage *msg = helix_test_http_message_new (base_uri, method, path, token, content_type,
                                                  body, len);

  *response = helix_test_http_send_message (session, msg, NULL);

  return msg;
}

/* Parses a body that must be JSON. */
static inline JsonNode *
helix_test_http_parse_json (GBytes *body)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  gsize size;
  const char *data = g_bytes_get_data (body, &size);

  json_parser_load_from_data (parser, data, size, &error);
  g_assert_no_error (error);

  return json_node_copy (json_parser_get_root (parser));
}

/* Fails the test, with the request and the start of the answer, unless @msg
 * answered @status. */
static inline void
helix_test_http_assert_status (SoupMessage *msg,
                               GBytes      *body,
                               guint        status)
{
  if (soup_message_get_status (msg) != status)
    g_error ("%s %s answered %u, not %u: %.*s", soup_message_get_method (msg),
             g_uri_get_path (soup_message_get_uri (msg)), soup_message_get_status (msg), status,
             (int) MIN (g_bytes_get_size (body), 400),
             (const char *) g_bytes_get_data (body, NULL));
}

/* Asserts that @body is a JSON error answer: {"error":{"code":…,"message":…}}
 * with @code (any, if %NULL) and a message. */
static inline void
helix_test_http_assert_error (SoupMessage *msg,
                              GBytes      *body,
                              const char  *code)
{
  g_autoptr(JsonNode) root = NULL;
  JsonObject *error;

  g_assert_cmpstr (soup_message_headers_get_content_type (soup_message_get_response_headers (msg),
                                                          NULL), ==, "application/json");
  root = helix_test_http_parse_json (body);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  error = json_object_get_object_member (json_node_get_object (root), "error");
  g_assert_nonnull (error);
  if (code != NULL)
    g_assert_cmpstr (json_object_get_string_member (error, "code"), ==, code);
  g_assert_cmpstr (json_object_get_string_member (error, "message"), !=, "");
}

/* Sends a request with a JSON @body (or none) that must answer @status with the
 * error @code (any, if %NULL). */
static inline void
helix_test_http_expect_error (SoupSession *session,
                              const char  *base,
                              const char  *method,
                              const char  *path,
                              const char  *token,
                              const char  *body,
                              guint        status,
                              const char  *code)
{
  g_autoptr(GBytes) response = NULL;
  g_autoptr(SoupMessage) msg = helix_test_http_send (session, base, method, path, token,
                                                     "application/json", body, -1, &response);

  helix_test_http_assert_status (msg, response, status);
  helix_test_http_assert_error (msg, response, code);
}

/* Sends a request with a JSON @body (or none) that must answer @status; returns
 * the body. */
static inline GBytes *
helix_test_http (SoupSession *session,
                 const char  *base_uri,
                 const char  *method,
                 const char  *path,
                 const char  *token,
                 const char  *body,
                 guint        status)
{
  GBytes *response = NULL;
  g_autoptr(SoupMessage) msg = helix_test_http_send (session, base_uri, method, path, token,
                                                     "application/json", body, -1, &response);

  helix_test_http_assert_status (msg, response, status);

  return response;
}

/* Like helix_test_http(), but returns the answer parsed, or %NULL when it is empty. */
static inline JsonNode *
helix_test_http_json (SoupSession *session,
                      const char  *base_uri,
                      const char  *method,
                      const char  *path,
                      const char  *token,
                      const char  *body,
                      guint        status)
{
  g_autoptr(GBytes) response = helix_test_http (session, base_uri, method, path, token, body,
                                                status);

  if (g_bytes_get_size (response) == 0)
    return NULL;

  return helix_test_http_parse_json (response);
}

/* The body of POST /api/v1/auth/login. */
static inline char *
helix_test_login_body (const char *username,
                       const char *password,
                       const char *device)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "username");
  json_builder_add_string_value (builder, username);
  json_builder_set_member_name (builder, "password");
  json_builder_add_string_value (builder, password);
  json_builder_set_member_name (builder, "device");
  json_builder_add_string_value (builder, device);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);

  return json_to_string (root, FALSE);
}

/* Logs a device in over the REST API, which must succeed; returns its token and,
 * when @device_id is not %NULL, the device's id. */
static inline char *
helix_test_login (SoupSession  *session,
                  const char   *base_uri,
                  const char   *username,
                  const char   *password,
                  const char   *device,
                  char        **device_id)
{
  g_autofree char *body = helix_test_login_body (username, password, device);
  g_autoptr(JsonNode) root = helix_test_http_json (session, base_uri, SOUP_METHOD_POST,
                                                   HELIX_TEST_LOGIN_PATH, NULL, body,
                                                   SOUP_STATUS_OK);
  JsonObject *object;

  g_assert_nonnull (root);
  object = json_node_get_object (root);
  if (device_id != NULL)
    *device_id = g_strdup (json_object_get_string_member (object, "device"));

  return g_strdup (json_object_get_string_member (object, "token"));
}

/* A Retry-After of whole seconds, at least one. */
static inline void
helix_test_http_assert_retry_after (SoupMessage *msg)
{
  const char *value = soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                    "Retry-After");
  guint64 seconds = 0;

  g_assert_nonnull (value);
  g_assert_true (g_ascii_string_to_unsigned (value, 10, 1, G_MAXUINT32, &seconds, NULL));
  g_assert_cmpuint (seconds, >=, 1);
}

/* One WebSocket handshake in flight. */
typedef struct
{
  SoupWebsocketConnection *ws;
  GError                  *error;
  gboolean                 done;
} HelixTestWsConnect;

static inline void
helix_test_ws_connect_cb (GObject      *source,
                          GAsyncResult *result,
                          gpointer      user_data)
{
  HelixTestWsConnect *r = user_data;

  r->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &r->error);
  r->done = TRUE;
}

/* Opens a WebSocket with the upgrade request @msg (from @origin, if not %NULL)
 * through @session and spins until the handshake is over. Returns the
 * connection, or %NULL with the reason in @error; when @error is %NULL, a
 * refusal fails the test. */
static inline SoupWebsocketConnection *
helix_test_ws_connect (SoupSession  *session,
                       SoupMessage  *msg,
                       const char   *origin,
                       GError      **error)
{
  HelixTestWsConnect r = { 0 };

  soup_session_websocket_connect_async (session, msg, origin, NULL, G_PRIORITY_DEFAULT, NULL,
                                        helix_test_ws_connect_cb, &r);
  helix_test_wait_for (r.done, HELIX_TEST_HTTP_WAIT_S, "the WebSocket handshake");

  if (error == NULL)
    g_assert_no_error (r.error);
  else if (r.error != NULL)
    g_propagate_error (error, g_steal_pointer (&r.error));

  return r.ws;
}

G_END_DECLS
