/* fake-provider.c: a loopback server that speaks a provider's streaming wire format
 *
 * A SoupServer on 127.0.0.1 and an ephemeral port. It accepts connections itself
 * (like the gateway: the listener of libsoup 3.2 leaks every accepted socket) and
 * answers the streaming endpoint of its format with what the test asked for: an
 * event stream written chunk by chunk (HTTP chunked encoding), then a proper end,
 * a cut connection, or silence until the client goes away; or an error status
 * with a body and an optional Retry-After. The tests write the events and error
 * bodies of each format byte for byte; the fake knows each format's endpoint:
 *
 * - OpenAI: `POST /v1/chat/completions` (base URL `http://127.0.0.1:PORT/v1`)
 * - Anthropic: `POST /v1/messages` (base URL `http://127.0.0.1:PORT`)
 * - Gemini: `POST /v1beta/models/{model}:streamGenerateContent` (base URL
 *   `http://127.0.0.1:PORT`)
 *
 * Any other path gets a 404, so a wrong URL fails the test.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <libsoup/soup.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fake-provider.h"
#include "helix-test-canary.h"

struct _FakeProvider
{
  FakeFormat          format;
  SoupServer         *server;
  GSocketService     *service;
  char               *base_url;

  /* The next answers. */
  guint               status;
  char               *retry_after;
  char               *content_type;
  char               *body;
  char              **chunks;
  FakeEnd             end;
  char              **models;   /* for GET of the model list */
  gboolean            models_error;  /* a test set an error: the list gets it too */

  /* One-shot answers, used before the ones above (QueuedAnswer). */
  GQueue              queued;

  /* What was asked. */
  guint               n_requests;
  char               *last_body;
  char               *last_path;
  char               *last_query;
  SoupMessageHeaders *last_headers;

  GHashTable         *connections;  /* client port → GSocketConnection */
  GSource            *watch;
  gboolean            client_closed;
};

/* An answer for one request (fake_provider_queue_error(), fake_provider_queue_stream()). */
typedef struct
{
  guint    status;
  char    *retry_after;
  char    *body;
  char   **chunks;
  FakeEnd  end;
} QueuedAnswer;

static void
queued_answer_free (gpointer data)
{
  QueuedAnswer *queued = data;

  g_free (queued->retry_after);
  g_free (queued->body);
  g_strfreev (queued->chunks);
  g_free (queued);
}

typedef struct
{
  FakeProvider        *self;
  SoupServerMessage *msg;
  GSocket           *socket;
  guint              n_chunks;
  guint              n_written;
  FakeEnd            end;
} Answer;

static gboolean
watch_cb (GSocket      *socket,
          GIOCondition  condition,
          gpointer      user_data)
{
  FakeProvider *self = user_data;
  char c;

  /* Readable with nothing to read: the peer closed its side. */
  if ((condition & (G_IO_HUP | G_IO_ERR)) != 0 ||
      recv (g_socket_get_fd (socket), &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
    {
      self->client_closed = TRUE;
      g_clear_pointer (&self->watch, g_source_unref);
      return G_SOURCE_REMOVE;
    }

  return G_SOURCE_CONTINUE;
}

static void
watch_socket (FakeProvider *self,
              GSocket      *socket)
{
  if (self->watch != NULL)
    {
      g_source_destroy (self->watch);
      g_clear_pointer (&self->watch, g_source_unref);
    }

  self->watch = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (self->watch, (GSourceFunc) (void (*) (void)) watch_cb, self, NULL);
  g_source_attach (self->watch, NULL);
}

static void
wrote_headers_cb (SoupServerMessage *msg,
                  Answer            *answer)
{
  if (answer->end == FAKE_END_HOLD && answer->n_chunks == 0)
    watch_socket (answer->self, answer->socket);
}

static void
wrote_chunk_cb (SoupServerMessage *msg,
                Answer            *answer)
{
  if (++answer->n_written < answer->n_chunks)
    return;

  switch (answer->end)
    {
    case FAKE_END_CUT:
      g_socket_shutdown (answer->socket, FALSE, TRUE, NULL);
      break;

    case FAKE_END_HOLD:
      watch_socket (answer->self, answer->socket);
      break;

    case FAKE_END_FINISH:
    default:
      break;
    }
}

/* The socket of a request, found by the client's port (the server was given
 * streams, so it knows no GSocket). */
static GSocket *
connection_socket (FakeProvider      *self,
                   SoupServerMessage *msg)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);
  guint port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (remote));
  GSocketConnection *connection = g_hash_table_lookup (self->connections, GUINT_TO_POINTER (port));

  g_assert (connection != NULL);
  return g_socket_connection_get_socket (connection);
}

static gboolean
path_is_endpoint (FakeProvider *self,
                  const char   *path)
{
  switch (self->format)
    {
    case FAKE_FORMAT_OPENAI:
      return g_str_equal (path, "/v1/chat/completions");

    case FAKE_FORMAT_ANTHROPIC:
      return g_str_equal (path, "/v1/messages");

    case FAKE_FORMAT_GEMINI:
      return g_str_has_prefix (path, "/v1beta/models/") &&
             g_str_has_suffix (path, ":streamGenerateContent") &&
             strchr (path + strlen ("/v1beta/models/"), '/') == NULL;

    default:
      g_assert_not_reached ();
    }
}

/* The model list in the format's shape, or the error set for the next answers. */
static void
respond_models (FakeProvider      *self,
                SoupServerMessage *msg)
{
  g_autoptr(GString) body = g_string_new (NULL);
  gboolean gemini = self->format == FAKE_FORMAT_GEMINI;

  if (self->models_error)
    {
      if (self->retry_after != NULL)
        soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                      "Retry-After", self->retry_after);
      soup_server_message_set_status (msg, self->status, NULL);
      soup_server_message_set_response (msg, self->content_type, SOUP_MEMORY_COPY,
                                        self->body, strlen (self->body));
      return;
    }

  g_string_append (body, gemini ? "{\"models\":[" : "{\"object\":\"list\",\"data\":[");
  for (guint i = 0; self->models != NULL && self->models[i] != NULL; i++)
    g_string_append_printf (body, gemini ? "%s{\"name\":\"models/%s\"}" : "%s{\"id\":\"%s\",\"object\":\"model\"}",
                            i > 0 ? "," : "", self->models[i]);
  g_string_append (body, "]}");

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY,
                                    body->str, body->len);
}

static void
handle_request (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  FakeProvider *self = user_data;
  SoupMessageHeaders *response_headers = soup_server_message_get_response_headers (msg);
  SoupMessageBody *request_body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) flat = soup_message_body_flatten (request_body);
  SoupMessageHeadersIter iter;
  const char *name;
  const char *value;
  Answer *answer;
  QueuedAnswer *queued = NULL;
  char **chunks;
  FakeEnd end;

  GUri *uri = soup_server_message_get_uri (msg);

  self->n_requests++;
  g_free (self->last_path);
  self->last_path = g_strdup (g_uri_get_path (uri));
  g_free (self->last_query);
  self->last_query = g_strdup (g_uri_get_query (uri));
  g_free (self->last_body);
  self->last_body = g_strndup (g_bytes_get_data (flat, NULL), g_bytes_get_size (flat));
  g_clear_pointer (&self->last_headers, soup_message_headers_unref);
  self->last_headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  soup_message_headers_iter_init (&iter, soup_server_message_get_request_headers (msg));
  while (soup_message_headers_iter_next (&iter, &name, &value))
    soup_message_headers_append (self->last_headers, name, value);

  if (g_strcmp0 (soup_server_message_get_method (msg), "GET") == 0 &&
      g_str_equal (self->last_path,
                   self->format == FAKE_FORMAT_GEMINI ? "/v1beta/models" : "/v1/models"))
    {
      respond_models (self, msg);
      return;
    }

  if (g_strcmp0 (soup_server_message_get_method (msg), "POST") != 0)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
      return;
    }

  if (!path_is_endpoint (self, self->last_path))
    {
      soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
      soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC, "no such endpoint", 16);
      return;
    }

  queued = g_queue_pop_head (&self->queued);
  chunks = queued != NULL ? queued->chunks : self->chunks;
  end = queued != NULL ? queued->end : self->end;

  if (chunks == NULL)
    {
      const char *retry_after = queued != NULL ? queued->retry_after : self->retry_after;
      const char *body = queued != NULL ? queued->body : self->body;

      soup_server_message_set_status (msg, queued != NULL ? queued->status : self->status, NULL);
      if (retry_after != NULL)
        soup_message_headers_replace (response_headers, "Retry-After", retry_after);
      soup_server_message_set_response (msg, queued != NULL ? "application/json" : self->content_type,
                                        SOUP_MEMORY_COPY, body, strlen (body));
      g_clear_pointer (&queued, queued_answer_free);
      return;
    }

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_set_content_type (response_headers, "text/event-stream", NULL);
  soup_message_headers_replace (response_headers, "Cache-Control", "no-cache");
  soup_message_headers_set_encoding (response_headers, SOUP_ENCODING_CHUNKED);

  answer = g_new0 (Answer, 1);
  answer->self = self;
  answer->msg = msg;
  answer->end = end;
  answer->n_chunks = g_strv_length (chunks);
  answer->socket = connection_socket (self, msg);
  g_signal_connect (msg, "wrote-headers", G_CALLBACK (wrote_headers_cb), answer);
  g_signal_connect (msg, "wrote-chunk", G_CALLBACK (wrote_chunk_cb), answer);
  g_object_set_data_full (G_OBJECT (msg), "fake-answer", answer, g_free);

  for (guint i = 0; chunks[i] != NULL; i++)
    soup_message_body_append (soup_server_message_get_response_body (msg), SOUP_MEMORY_COPY,
                              chunks[i], strlen (chunks[i]));
  if (end == FAKE_END_FINISH)
    soup_message_body_complete (soup_server_message_get_response_body (msg));
  g_clear_pointer (&queued, queued_answer_free);
}

static gboolean
incoming_cb (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             gpointer           user_data)
{
  FakeProvider *self = user_data;
  g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address (connection, NULL);
  g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address (connection, NULL);
  g_autoptr(GError) error = NULL;

  g_hash_table_replace (self->connections,
                        GUINT_TO_POINTER (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (remote))),
                        g_object_ref (connection));
  if (!soup_server_accept_iostream (self->server, G_IO_STREAM (connection), local, remote, &error))
    g_error ("fake server: %s", error->message);

  return TRUE;
}

FakeProvider *
fake_provider_new (FakeFormat format)
{
  FakeProvider *self = g_new0 (FakeProvider, 1);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) error = NULL;

  self->format = format;
  self->connections = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
  self->server = soup_server_new ("server-header", "fake-provider", NULL);
  soup_server_add_handler (self->server, NULL, handle_request, self, NULL);

  self->service = g_socket_service_new ();
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (self->service), address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                      NULL, &effective, &error))
    g_error ("fake server: %s", error->message);
  g_signal_connect (self->service, "incoming", G_CALLBACK (incoming_cb), self);
  g_socket_service_start (self->service);

  self->base_url = g_strdup_printf ("http://127.0.0.1:%u%s",
                                    g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective)),
                                    format == FAKE_FORMAT_OPENAI ? "/v1" : "");
  fake_provider_respond_error (self, 500, NULL, "application/json", "{}");
  self->models_error = FALSE;

  return self;
}

void
fake_provider_free (FakeProvider *self)
{
  g_socket_service_stop (self->service);
  g_socket_listener_close (G_SOCKET_LISTENER (self->service));
  g_clear_object (&self->service);
  soup_server_disconnect (self->server);
  g_clear_object (&self->server);
  if (self->watch != NULL)
    {
      g_source_destroy (self->watch);
      g_clear_pointer (&self->watch, g_source_unref);
    }
  /* Let the closed connections finish their cleanup. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_hash_table_unref (self->connections);
  g_free (self->base_url);
  g_free (self->retry_after);
  g_free (self->content_type);
  g_free (self->body);
  g_strfreev (self->chunks);
  g_strfreev (self->models);
  g_free (self->last_body);
  g_free (self->last_path);
  g_free (self->last_query);
  g_clear_pointer (&self->last_headers, soup_message_headers_unref);
  g_free (self);
}

const char *
fake_provider_get_base_url (FakeProvider *self)
{
  return self->base_url;
}

/* Answers the next requests with 200 and these event stream chunks. */
void
fake_provider_respond_stream (FakeProvider      *self,
                              const char *const *chunks,
                              FakeEnd            end)
{
  g_strfreev (self->chunks);
  self->chunks = g_strdupv ((char **) chunks);
  self->end = end;
  self->models_error = FALSE;
}

/* Serves these models on GET of the format's model list. */
void
fake_provider_set_models (FakeProvider       *self,
                          const char * const *models)
{
  g_strfreev (self->models);
  self->models = g_strdupv ((char **) models);
}

/* Answers the next requests with this status and body. */
void
fake_provider_respond_error (FakeProvider *self,
                             guint         status,
                             const char   *retry_after,
                             const char   *content_type,
                             const char   *body)
{
  g_clear_pointer (&self->chunks, g_strfreev);
  self->status = status;
  self->models_error = TRUE;
  g_free (self->retry_after);
  self->retry_after = g_strdup (retry_after);
  g_free (self->content_type);
  self->content_type = g_strdup (content_type);
  g_free (self->body);
  self->body = g_strdup (body);
}

/* Answers the next request (only) with this status and a JSON body; the
 * answers set with fake_provider_respond_*() come after the queued ones. */
void
fake_provider_queue_error (FakeProvider *self,
                           guint         status,
                           const char   *retry_after,
                           const char   *body)
{
  QueuedAnswer *queued = g_new0 (QueuedAnswer, 1);

  queued->status = status;
  queued->retry_after = g_strdup (retry_after);
  queued->body = g_strdup (body);
  g_queue_push_tail (&self->queued, queued);
}

/* Answers the next request (only) with 200 and these chunks. */
void
fake_provider_queue_stream (FakeProvider      *self,
                            const char *const *chunks,
                            FakeEnd            end)
{
  QueuedAnswer *queued = g_new0 (QueuedAnswer, 1);

  queued->chunks = g_strdupv ((char **) chunks);
  queued->end = end;
  g_queue_push_tail (&self->queued, queued);
}

/* Whether the client closed the connection of the last held answer; clears it. */
void
fake_provider_reset_client_closed (FakeProvider *self)
{
  self->client_closed = FALSE;
}

guint
fake_provider_get_n_requests (FakeProvider *self)
{
  return self->n_requests;
}

const char *
fake_provider_get_last_body (FakeProvider *self)
{
  return self->last_body;
}

/* The path of the last request, decoded. */
const char *
fake_provider_get_last_path (FakeProvider *self)
{
  return self->last_path;
}

/* The query of the last request, or NULL. */
const char *
fake_provider_get_last_query (FakeProvider *self)
{
  return self->last_query;
}

const char *
fake_provider_get_last_header (FakeProvider *self,
                               const char   *name)
{
  return self->last_headers != NULL ? soup_message_headers_get_one (self->last_headers, name) : NULL;
}

/* Whether the client closed the connection of the last held answer. */
gboolean
fake_provider_get_client_closed (FakeProvider *self)
{
  return self->client_closed;
}

/* Test support */

/*
 * g_test_init(), with every log line of every test checked for @secret (see
 * helix-test-canary.h).
 */
void
fake_provider_test_init (int        *argc,
                         char     ***argv,
                         const char *secret)
{
  helix_test_canary_init (argc, argv, secret);
}

/* Sanitizer and valgrind runs are slower: their test setups set HELIX_TEST_TIME_SCALE. */
guint
fake_provider_time_scale (void)
{
  const char *value = g_getenv ("HELIX_TEST_TIME_SCALE");
  guint64 scale = 1;

  if (value != NULL && !g_ascii_string_to_unsigned (value, 10, 1, 100, &scale, NULL))
    scale = 1;

  return (guint) scale;
}
