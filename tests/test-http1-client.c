/* test-http1-client.c: the native HTTP/1.1 client of http:// providers
 *
 * Against a loopback server of plain sockets driven step by step from the
 * test, in the same thread as the client: each test says exactly what the
 * server sends and when, and sees what the client does to the connection
 * (accepts counted, the client's end seen as EOF). The client is used
 * directly, and through an OpenAI-format provider for what the call does
 * with it (a cut answer kept, cancelling, a stale connection sent again).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libsoup/soup.h>

#include "helix-http1-client.h"
#include "helix-provider-openai.h"
#include "helix-test-canary.h"
#include "helix-test-raw-http.h"
#include "helix-test-util.h"

#define KEY "sk-helix-h1-SECRET-0123456789"
#define WAIT_S 30

/* Waiting without a main loop source to wake us: spin it, with a deadline. */
#define spin_until(cond, what) \
  G_STMT_START { \
    gint64 _deadline = g_get_monotonic_time () + WAIT_S * G_USEC_PER_SEC; \
    while (!(cond)) \
      { \
        if (!g_main_context_iteration (NULL, FALSE)) \
          g_usleep (100); \
        if (g_get_monotonic_time () > _deadline) \
          g_error ("Timed out waiting for %s", (what)); \
      } \
  } G_STMT_END

/* The server */

typedef struct
{
  int      listen_fd;
  guint16  port;
  guint    n_accepts;
  char    *url;
} Server;

static void
server_start (Server *s)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof addr;

  s->listen_fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  g_assert_cmpint (s->listen_fd, >=, 0);
  g_assert_cmpint (bind (s->listen_fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (s->listen_fd, 16), ==, 0);
  g_assert_cmpint (getsockname (s->listen_fd, (struct sockaddr *) &addr, &len), ==, 0);
  s->port = ntohs (addr.sin_port);
  s->n_accepts = 0;
  s->url = g_strdup_printf ("http://127.0.0.1:%u", s->port);
}

static void
server_stop (Server *s)
{
  if (s->listen_fd >= 0)
    close (s->listen_fd);
  g_clear_pointer (&s->url, g_free);
}

/* The next connection, as the client's main loop runs. */
static int
server_accept (Server *s)
{
  int fd = -1;

  spin_until ((fd = accept (s->listen_fd, NULL, NULL)) >= 0, "a connection");
  g_assert_cmpint (fcntl (fd, F_SETFL, O_NONBLOCK), ==, 0);
  g_assert_cmpint (fcntl (fd, F_SETFD, FD_CLOEXEC), ==, 0);
  s->n_accepts++;

  return fd;
}

/* Reads one request (a head and its Content-Length body); NULL at EOF. */
static char *
server_read_request (int fd)
{
  g_autoptr(GString) request = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + WAIT_S * G_USEC_PER_SEC;
  gsize want = G_MAXSIZE;

  while (request->len < want)
    {
      char buf[4096];
      gssize n = recv (fd, buf, MIN (sizeof buf, want - request->len), 0);
      const char *end;

      if (n == 0)
        return NULL;
      if (n < 0)
        {
          g_assert_cmpint (errno, ==, EAGAIN);
          if (!g_main_context_iteration (NULL, FALSE))
            g_usleep (100);
          if (g_get_monotonic_time () > deadline)
            g_error ("Timed out waiting for a request");
          continue;
        }
      g_string_append_len (request, buf, n);

      if (want == G_MAXSIZE && (end = strstr (request->str, "\r\n\r\n")) != NULL)
        {
          const char *length = strstr (request->str, "\r\nContent-Length: ");

          want = end + 4 - request->str;
          if (length != NULL && length < end)
            want += g_ascii_strtoull (length + 18, NULL, 10);
        }
    }

  return g_string_free (g_steal_pointer (&request), FALSE);
}

/* Sends all of @data, unless the client went away. */
static gboolean
server_send (int         fd,
             const char *data,
             gsize       len)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_S * G_USEC_PER_SEC;
  gsize done = 0;

  while (done < len)
    {
      gssize n = send (fd, data + done, len - done, MSG_NOSIGNAL);

      if (n < 0 && errno == EAGAIN)
        {
          if (!g_main_context_iteration (NULL, FALSE))
            g_usleep (100);
          if (g_get_monotonic_time () > deadline)
            g_error ("Timed out waiting for the client to read");
          continue;
        }
      if (n < 0)
        return FALSE;
      done += n;
    }

  return TRUE;
}

static void
server_send_str (int         fd,
                 const char *data)
{
  g_assert_true (server_send (fd, data, strlen (data)));
}

/* Whether the client closed the connection: EOF (or a reset) now, without
 * waiting. */
static gboolean
server_peer_closed (int fd)
{
  char c;
  gssize n = recv (fd, &c, 1, MSG_PEEK);

  return n == 0 || (n < 0 && errno != EAGAIN);
}

/* The client's end of the connection whose server end is @fd: the test and
 * the client share the process. */
static int
find_client_fd (int server_fd)
{
  struct sockaddr_in peer;
  socklen_t peer_len = sizeof peer;

  g_assert_cmpint (getpeername (server_fd, (struct sockaddr *) &peer, &peer_len), ==, 0);
  for (int fd = 3; fd < 1024; fd++)
    {
      struct sockaddr_in local;
      socklen_t local_len = sizeof local;

      if (fd != server_fd && getsockname (fd, (struct sockaddr *) &local, &local_len) == 0 &&
          local_len == peer_len && local.sin_family == AF_INET && local.sin_port == peer.sin_port &&
          local.sin_addr.s_addr == peer.sin_addr.s_addr)
        return fd;
    }

  g_assert_not_reached ();
}

/* Until the client has read everything sent to it so far. */
static void
wait_client_read (int client_fd)
{
  int pending = 1;

  spin_until (ioctl (client_fd, FIONREAD, &pending) == 0 && pending == 0, "the client to read");
}

/* The client */

typedef struct
{
  HelixHttp1Request *request;
  guint              status;
  char              *content_type;
  GByteArray        *body;
  GError            *error;
  gboolean           connected;
  gboolean           done;
  guint              n_end;
  gboolean           abort_in_body;
} Result;

static void
result_clear (Result *r)
{
  g_clear_pointer (&r->body, g_byte_array_unref);
  g_clear_pointer (&r->content_type, g_free);
  g_clear_error (&r->error);
  memset (r, 0, sizeof *r);
}

static void
connected_cb (gpointer user_data)
{
  ((Result *) user_data)->connected = TRUE;
}

static void
head_cb (guint               status,
         SoupMessageHeaders *headers,
         gpointer            user_data)
{
  Result *r = user_data;

  r->status = status;
  r->content_type = g_strdup (soup_message_headers_get_one (headers, "Content-Type"));
}

static void
body_cb (const guint8 *data,
         gsize         len,
         gpointer      user_data)
{
  Result *r = user_data;

  g_assert_cmpuint (len, >, 0);
  g_byte_array_append (r->body, data, len);
  if (r->abort_in_body)
    {
      helix_http1_request_abort (r->request);
      r->done = TRUE;
    }
}

static void
end_cb (const GError *error,
        gpointer      user_data)
{
  Result *r = user_data;

  r->n_end++;
  r->error = error != NULL ? g_error_copy (error) : NULL;
  r->done = TRUE;
}

static const HelixHttp1Callbacks callbacks = {
  .connected = connected_cb,
  .head = head_cb,
  .body = body_cb,
  .end = end_cb,
};

static void
start_full (HelixHttp1Client *client,
            Server           *s,
            Result           *r,
            GBytes           *body,
            gboolean          new_connection)
{
  g_autofree char *url = g_strconcat (s->url, "/v1/chat?x=1", NULL);
  g_autoptr(GUri) uri = g_uri_parse (url, SOUP_HTTP_URI_FLAGS, NULL);
  g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);

  result_clear (r);
  r->body = g_byte_array_new ();
  soup_message_headers_append (headers, "Authorization", "Bearer " KEY);
  soup_message_headers_append (headers, "Accept", "text/event-stream");
  r->request = helix_http1_client_send (client, "POST", uri, headers, "application/json", body,
                                        new_connection, &callbacks, r);
  g_assert_nonnull (r->request);
  /* Never a callback before send returns. */
  g_assert_false (r->done);
}

static void
start_with_body (HelixHttp1Client *client,
                 Server           *s,
                 Result           *r,
                 GBytes           *body)
{
  start_full (client, s, r, body, FALSE);
}

static void
start (HelixHttp1Client *client,
       Server           *s,
       Result           *r)
{
  g_autoptr(GBytes) body = g_bytes_new_static ("{\"a\":1}", 7);

  start_with_body (client, s, r, body);
}

static void
assert_body (Result     *r,
             const char *expected)
{
  g_assert_cmpmem (r->body->data, r->body->len, expected, strlen (expected));
}

/* Ends a test: the client gone, every connection closed, no fd left. */
static void
finish (HelixHttp1Client *client,
        Server           *s,
        guint             fds_before)
{
  helix_http1_client_close_idle (client);
  g_assert_cmpuint (helix_http1_client_get_n_open (client), ==, 0);
  helix_http1_client_unref (client);
  server_stop (s);
  g_assert_cmpuint (helix_test_count_fds (), ==, fds_before);
}

/* Two calls in a row: one connection; the request as it should be. */
static void
test_keep_alive (void)
{
  guint fds = helix_test_count_fds ();
  HelixHttp1Client *client = helix_http1_client_new ("helix-test/1");
  g_autofree char *request = NULL;
  g_autofree char *host = NULL;
  Result r = { 0 };
  Server s;
  int fd;

  server_start (&s);
  start (client, &s, &r);
  fd = server_accept (&s);
  request = server_read_request (fd);
  g_assert_nonnull (request);
  host = g_strdup_printf ("\r\nHost: 127.0.0.1:%u\r\n", s.port);
  g_assert_true (g_str_has_prefix (request, "POST /v1/chat?x=1 HTTP/1.1\r\n"));
  g_assert_nonnull (strstr (request, host));
  g_assert_nonnull (strstr (request, "\r\nAuthorization: Bearer " KEY "\r\n"));
  g_assert_nonnull (strstr (request, "\r\nAccept: text/event-stream\r\n"));
  g_assert_nonnull (strstr (request, "\r\nUser-Agent: helix-test/1\r\n"));
  g_assert_nonnull (strstr (request, "\r\nContent-Type: application/json\r\n"));
  g_assert_nonnull (strstr (request, "\r\nContent-Length: 7\r\n"));
  g_assert_true (g_str_has_suffix (request, "\r\n\r\n{\"a\":1}"));

  server_send_str (fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
  helix_test_wait_for (r.done, WAIT_S, "the first response");
  g_assert_no_error (r.error);
  g_assert_true (r.connected);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_cmpstr (r.content_type, ==, "text/plain");
  assert_body (&r, "hello");
  g_assert_cmpuint (helix_http1_client_get_n_idle (client), ==, 1);

  /* The second goes out on the same connection. */
  start (client, &s, &r);
  g_clear_pointer (&request, g_free);
  request = server_read_request (fd);
  g_assert_nonnull (request);
  server_send_str (fd, "HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabc");
  helix_test_wait_for (r.done, WAIT_S, "the second response");
  g_assert_no_error (r.error);
  g_assert_false (r.connected);
  g_assert_cmpuint (r.status, ==, 201);
  assert_body (&r, "abc");
  g_assert_cmpuint (r.n_end, ==, 1);
  g_assert_cmpuint (s.n_accepts, ==, 1);
  g_assert_cmpuint (helix_http1_client_get_n_connects (client), ==, 1);
  g_assert_cmpuint (helix_http1_client_get_n_idle (client), ==, 1);

  /* Closing the pool closes the connection. */
  helix_http1_client_close_idle (client);
  g_assert_true (server_peer_closed (fd));
  close (fd);
  result_clear (&r);
  finish (client, &s, fds);
}

/* A body larger than the socket takes at once: written as room comes. */
static void
test_big_body (void)
{
  guint fds = helix_test_count_fds ();
  HelixHttp1Client *client = helix_http1_client_new ("helix-test/1");
  gsize size = 8 * 1024 * 1024;
  g_autofree char *data = g_malloc (size);
  g_autoptr(GBytes) body = NULL;
  g_autofree char *request = NULL;
  Result r = { 0 };
  Server s;
  const char *received;
  int fd;

  for (gsize i = 0; i < size; i++)
    data[i] = 'a' + i % 26;
  body = g_bytes_new_static (data, size);

  server_start (&s);
  start_with_body (client, &s, &r, body);
  fd = server_accept (&s);
  request = server_read_request (fd);
  g_assert_nonnull (request);
  received = strstr (request, "\r\n\r\n") + 4;
  g_assert_cmpmem (received, strlen (received), data, size);
  server_send_str (fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  helix_test_wait_for (r.done, WAIT_S, "the response");
  g_assert_no_error (r.error);
  assert_body (&r, "ok");
  g_assert_cmpuint (helix_http1_client_get_n_idle (client), ==, 1);

  close (fd);
  result_clear (&r);
  finish (client, &s, fds);
}

/* The server closes an idle pooled connection: the client drops it at
 * once, and the next request goes out on a new one. */
static void
test_idle_closed (void)
{
  guint fds = helix_test_count_fds ();
  HelixHttp1Client *client = helix_http1_client_new ("helix-test/1");
  g_autofree char *request = NULL;
  Result r = { 0 };
  Server s;
  int fd;

  server_start (&s);
  /* Not the idle timeout: the server's close. */
  helix_http1_client_set_idle_limits (client, 3600, HELIX_HTTP1_DEFAULT_MAX_IDLE);
  start (client, &s, &r);
  fd = server_accept (&s);
  request = server_read_request (fd);
  server_send_str (fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  helix_test_wait_for (r.done, WAIT_S, "the response");
  g_assert_no_error (r.error);
  g_assert_cmpuint (helix_http1_client_get_n_idle (client), ==, 1);

  close (fd);
  helix_test_wait_for (helix_http1_client_get_n_open (client) == 0, WAIT_S,
                       "the client to drop the closed connection");
  g_assert_cmpuint (helix_http1_client_get_n_idle (client), ==, 0);

  start (client, &s, &r);
  fd = server_accept (&s);
  g_clear_pointer (&request, g_free);
  request = server_read_request (fd);
  server_send_str (fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  helix_test_wait_for (r.done, WAIT_S, "the response on a new connection");
  g_assert_no_error (r.error);
  g_assert_true (r.connected);
  g_assert_cmpuint (s.n_accepts, ==, 2);

  /* Bytes the server sends on an idle connection: dropped too. */
  server_send_str (fd, "HTTP/1.1 200 OK\r\n");
  helix_test_wait_for (helix_http1_client_get_n_open (client) == 0, WAIT_S,
                       "the client to drop the noisy connection");

  /* A reused connection closed under the request: the connection-closed
   * error that the call sends again on (test_call_stale). */
  start (client, &s, &r);
  close (fd);
  fd = server_accept (&s);
  g_clear_pointer (&request, g_free);
  request = server_read_request (fd);
  server_send_str (fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  helix_test_wait_for (r.done, WAIT_S, "an empty response");
  g_assert_no_error (r.error);
  g_assert_cmpuint (r.body->len, ==, 0);
  start (client, &s, &r);
  g_clear_pointer (&request, g_free);
  request = server_read_request (fd);
  close (fd);
  helix_test_wait_for (r.done, WAIT_S, "the failure");
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_false (r.connected);

  /* Reset while idle, and a request goes out before the client saw it: the
   * write fails at once, which is reported from the main loop. */
  start (client, &s, &r);
  fd = server_accept (&s);
  g_clear_pointer (&request, g_free);
  request = server_read_request (fd);
  server_send_str (fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  helix_test_wait_for (r.done, WAIT_S, "an empty response");
  g_assert_no_error (r.error);
  {
    struct linger linger = { .l_onoff = 1, .l_linger = 0 };

    g_assert_cmpint (setsockopt (fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger), ==, 0);
    close (fd);
  }
  start (client, &s, &r);
  helix_test_wait_for (r.done, WAIT_S, "the failed write");
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_false (r.connected);
  g_assert_cmpuint (r.n_end, ==, 1);
  g_assert_cmpuint (helix_http1_client_get_n_open (client), ==, 0);

  result_clear (&r);
  finish (client, &s, fds);
}

/* Idle connections go after the idle timeout, and beyond the cap per host. */
static void
test_idle_limits (void)
{
  guint fds = helix_test_count_fds ();
  HelixHttp1Client *client = helix_http1_client_new ("helix-test/1");
  Result r1 = { 0 };
  Result r2 = { 0 };
  Server s;
  int fd1;
  int fd2;

  server_start (&s);
  helix_http1_client_set_idle_limits (client, 1, 1);
  start (client, &s, &r1);
  start (client, &s, &r2);
  fd1 = server_accept (&s);
  fd2 = server_accept (&s);
  g_free (server_read_request (fd1));
  g_free (server_read_request (fd2));
  server_send_str (fd1, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1");
  server_send_str (fd2, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2");
  helix_test_wait_for (r1.done && r2.done, WAIT_S, "both responses");
  g_assert_no_error (r1.error);
  g_assert_no_error (r2.error);

  /* One kept, one closed; then the kept one times out. */
  g_assert_cmpuint (helix_http1_client_get_n_idle (client), ==, 1);
  g_assert_cmpuint (helix_http1_client_get_n_open (client), ==, 1);
  g_assert_true (server_peer_closed (fd1) != server_peer_closed (fd2));
  helix_test_wait_for (helix_http1_client_get_n_open (client) == 0, WAIT_S, "the idle timeout");
  g_assert_true (server_peer_closed (fd1) && server_peer_closed (fd2));

  close (fd1);
  close (fd2);
  result_clear (&r1);
  result_clear (&r2);
  finish (client, &s, fds);
}

#define CHUNKED_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
#define CHUNKED_BODY "5;name=\"va;lue\"\r\nhello\r\n" \
                     "1A \r\nabcdefghijklmnopqrstuvwxyz\r\n" \
                     "1\r\n\n\r\n" \
                     "0\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n"
#define CHUNKED_DATA "helloabcdefghijklmnopqrstuvwxyz\n"

/* A chunked response split at every byte: the same body each time, and
 * the connection kept all along. */
static void
test_chunked_splits (void)
{
  guint fds = helix_test_count_fds ();
  HelixHttp1Client *client = helix_http1_client_new ("helix-test/1");
  const char *response = CHUNKED_HEAD CHUNKED_BODY;
  gsize len = strlen (response);
  Result r = { 0 };
  Server s;
  int client_fd = -1;
  int fd = -1;

  server_start (&s);
  for (gsize split = 1; split < len; split++)
    {
      start (client, &s, &r);
      if (fd < 0)
        {
          fd = server_accept (&s);
          client_fd = find_client_fd (fd);
        }
      g_free (server_read_request (fd));

      g_assert_true (server_send (fd, response, split));
      wait_client_read (client_fd);
      g_assert_false (r.done);
      g_assert_true (server_send (fd, response + split, len - split));
      helix_test_wait_for (r.done, WAIT_S, "the chunked response");

      g_assert_no_error (r.error);
      g_assert_cmpuint (r.status, ==, 200);
      assert_body (&r, CHUNKED_DATA);
    }
  g_assert_cmpuint (s.n_accepts, ==, 1);
  g_assert_cmpuint (helix_http1_client_get_n_idle (client), ==, 1);

  close (fd);
  result_clear (&r);
  finish (client, &s, fds);
}

/* Without a length, the body ends with the connection, which is not kept;
 * likewise after `Connection: close` or from an HTTP/1.0 server. */
static void
test_not_kept (void)
{
  const char *responses[] = {
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 13\r\n\r\nuntil the end",
    "HTTP/1.0 200 OK\r\nContent-Length: 13\r\n\r\nuntil the end",
  };
  guint fds = helix_test_count_fds ();
  HelixHttp1Client *client = helix_http1_client_new ("helix-test/1");
  Result r = { 0 };
  Server s;

  server_start (&s);
  for (guint i = 0; i < G_N_ELEMENTS (responses); i++)
    {
      int fd;

      start (client, &s, &r);
      fd = server_accept (&s);
      g_free (server_read_request (fd));
      server_send_str (fd, responses[i]);
      if (i == 0)
        {
          wait_client_read (find_client_fd (fd));
          g_assert_false (r.done);
          shutdown (fd, SHUT_WR);
        }
      helix_test_wait_for (r.done, WAIT_S, "the response");
      g_assert_no_error (r.error);
      assert_body (&r, "until the end");
      g_assert_true (server_peer_closed (fd));
      g_assert_cmpuint (helix_http1_client_get_n_open (client), ==, 0);
      close (fd);
    }
  g_assert_cmpuint (s.n_accepts, ==, G_N_ELEMENTS (responses));

  result_clear (&r);
  finish (client, &s, fds);
}

/* A server breaking the protocol: an error, the connection closed. */
static void
test_bad_responses (void)
{
  g_autoptr(GString) big_head = g_string_new ("HTTP/1.1 200 OK\r\n");
  g_autofree char *long_line = g_strnfill (HELIX_HTTP1_MAX_CHUNK_LINE + 10, '0');
  g_autofree char *long_chunk = g_strconcat ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                                             long_line, NULL);
  const char *responses[] = {
    NULL,  /* the big head */
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n",
    long_chunk,
    "HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    "HTTP/2 200\r\n\r\n",
    "HTTP/1.1 20",
  };
  guint fds = helix_test_count_fds ();
  HelixHttp1Client *client = helix_http1_client_new ("helix-test/1");
  Result r = { 0 };
  Server s;

  while (big_head->len <= HELIX_HTTP1_MAX_HEAD)
    g_string_append (big_head, "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
  responses[0] = big_head->str;

  server_start (&s);
  for (guint i = 0; i < G_N_ELEMENTS (responses); i++)
    {
      int fd;

      start (client, &s, &r);
      fd = server_accept (&s);
      g_free (server_read_request (fd));
      server_send (fd, responses[i], strlen (responses[i]));  /* the client may close first */
      if (g_str_has_suffix (responses[i], " 20"))
        shutdown (fd, SHUT_WR);  /* cut in the head */
      helix_test_wait_for (r.done, WAIT_S, "the failure");
      g_test_message ("%u: %s", i, r.error != NULL ? r.error->message : "no error");
      g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_cmpuint (helix_http1_client_get_n_open (client), ==, 0);
      g_assert_true (server_peer_closed (fd));
      close (fd);
    }

  result_clear (&r);
  finish (client, &s, fds);
}

/* The body stops short: a partial-input error, what came delivered. An
 * abort closes the connection at once, with no more callbacks. */
static void
test_cut_and_abort (void)
{
  guint fds = helix_test_count_fds ();
  HelixHttp1Client *client = helix_http1_client_new ("helix-test/1");
  Result r = { 0 };
  Result r2 = { 0 };
  Server s;
  int fd;

  server_start (&s);
  start (client, &s, &r);
  fd = server_accept (&s);
  g_free (server_read_request (fd));
  server_send_str (fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhell");
  close (fd);
  helix_test_wait_for (r.done, WAIT_S, "the cut");
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT);
  assert_body (&r, "hell");
  g_assert_cmpuint (helix_http1_client_get_n_open (client), ==, 0);

  start (client, &s, &r);
  fd = server_accept (&s);
  g_free (server_read_request (fd));
  server_send_str (fd, CHUNKED_HEAD "5\r\nhel");
  r.abort_in_body = TRUE;
  helix_test_wait_for (r.done, WAIT_S, "the first bytes");
  g_assert_true (server_peer_closed (fd));
  g_assert_cmpuint (r.n_end, ==, 0);
  g_assert_cmpuint (helix_http1_client_get_n_open (client), ==, 0);
  close (fd);

  /* Aborted while connecting: nothing is called, nothing kept (a request
   * after it settles the connect). A connection the server saw is closed. */
  start (client, &s, &r);
  helix_http1_request_abort (r.request);
  start (client, &s, &r2);
  g_assert_cmpuint (r.n_end, ==, 0);
  for (;;)
    {
      g_autofree char *request = NULL;

      fd = server_accept (&s);
      request = server_read_request (fd);
      if (request != NULL)
        break;
      close (fd);  /* the aborted one */
    }
  server_send_str (fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  helix_test_wait_for (r2.done, WAIT_S, "the request after the aborted one");
  g_assert_no_error (r2.error);
  g_assert_cmpuint (r.n_end, ==, 0);
  g_assert_cmpuint (helix_http1_client_get_n_open (client), ==, 1);
  close (fd);

  result_clear (&r);
  result_clear (&r2);
  finish (client, &s, fds);
}

/* Reads the next request on @fd and checks it is the one with @body. */
static void
assert_next_request (int         fd,
                     const char *body)
{
  g_autofree char *request = server_read_request (fd);

  g_assert_nonnull (request);
  g_assert_true (g_str_has_suffix (request, body));
}

/* Runs the client's main loop for a while, for what it might wrongly do. */
static void
let_client_run (void)
{
  for (guint i = 0; i < 200; i++)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (100);
    }
}

static gboolean
server_has_connection (Server *s)
{
  struct pollfd pfd = { .fd = s->listen_fd, .events = POLLIN };

  return poll (&pfd, 1, 0) == 1;
}

/* At most so many connections per host: the others wait, first come first
 * served; a finished connection goes straight to the next waiting request,
 * or closes to make room for one that needs a new connection; an aborted
 * waiting request leaves the queue unseen; a failed connect frees its
 * place; a higher limit lets those waiting in. */
static void
test_per_host_cap (void)
{
  guint fds = helix_test_count_fds ();
  HelixHttp1Client *client = helix_http1_client_new ("helix-test/1");
  Result r[6] = { { 0 } };
  GBytes *bodies[G_N_ELEMENTS (r)];
  Server s;
  int fd1;
  int fd2;
  int fd3;

  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    bodies[i] = g_bytes_new_take (g_strdup_printf ("{\"n\":%u}", i), strlen ("{\"n\":0}"));

  server_start (&s);
  helix_http1_client_set_max_per_host (client, 2);
  start_full (client, &s, &r[0], bodies[0], FALSE);
  start_full (client, &s, &r[1], bodies[1], FALSE);
  start_full (client, &s, &r[2], bodies[2], FALSE);
  start_full (client, &s, &r[3], bodies[3], TRUE);
  start_full (client, &s, &r[4], bodies[4], FALSE);
  g_assert_cmpuint (helix_http1_client_get_n_waiting (client), ==, 3);

  fd1 = server_accept (&s);
  fd2 = server_accept (&s);
  assert_next_request (fd1, "{\"n\":0}");
  assert_next_request (fd2, "{\"n\":1}");
  let_client_run ();
  g_assert_false (server_has_connection (&s));
  g_assert_cmpuint (helix_http1_client_get_n_open (client), ==, 2);

  /* Aborted while waiting: gone from the queue, never heard of again. */
  helix_http1_request_abort (r[4].request);
  g_assert_cmpuint (helix_http1_client_get_n_waiting (client), ==, 2);

  /* The first connection goes on with the oldest request waiting. */
  server_send_str (fd1, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na");
  helix_test_wait_for (r[0].done, WAIT_S, "the first response");
  g_assert_no_error (r[0].error);
  assert_next_request (fd1, "{\"n\":2}");
  g_assert_cmpuint (helix_http1_client_get_n_waiting (client), ==, 1);

  /* The next one wants a new connection: the second closes for it. */
  server_send_str (fd2, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb");
  helix_test_wait_for (r[1].done, WAIT_S, "the second response");
  g_assert_no_error (r[1].error);
  fd3 = server_accept (&s);
  assert_next_request (fd3, "{\"n\":3}");
  g_assert_true (server_peer_closed (fd2));
  g_assert_cmpuint (helix_http1_client_get_n_waiting (client), ==, 0);
  g_assert_cmpuint (helix_http1_client_get_n_open (client), ==, 2);

  server_send_str (fd1, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc");
  server_send_str (fd3, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nd");
  helix_test_wait_for (r[2].done && r[3].done, WAIT_S, "the last responses");
  g_assert_no_error (r[2].error);
  g_assert_no_error (r[3].error);
  assert_body (&r[2], "c");
  assert_body (&r[3], "d");
  g_assert_cmpuint (r[4].n_end, ==, 0);
  g_assert_cmpuint (helix_http1_client_get_n_connects (client), ==, 3);
  g_assert_cmpuint (helix_http1_client_get_n_idle (client), ==, 2);
  close (fd1);
  close (fd2);
  close (fd3);

  /* A limit of one, with the idle connections gone: the second request
   * waits until a higher limit lets it in. */
  helix_http1_client_close_idle (client);
  helix_http1_client_set_max_per_host (client, 1);
  start_full (client, &s, &r[0], bodies[0], FALSE);
  start_full (client, &s, &r[1], bodies[1], FALSE);
  fd1 = server_accept (&s);
  assert_next_request (fd1, "{\"n\":0}");
  g_assert_cmpuint (helix_http1_client_get_n_waiting (client), ==, 1);
  helix_http1_client_set_max_per_host (client, 2);
  g_assert_cmpuint (helix_http1_client_get_n_waiting (client), ==, 0);
  fd2 = server_accept (&s);
  assert_next_request (fd2, "{\"n\":1}");
  server_send_str (fd1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  server_send_str (fd2, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  helix_test_wait_for (r[0].done && r[1].done, WAIT_S, "both responses");
  g_assert_no_error (r[0].error);
  g_assert_no_error (r[1].error);
  close (fd1);
  close (fd2);

  /* Nobody listening: each refused connect makes room for the next. */
  helix_http1_client_close_idle (client);
  helix_http1_client_set_max_per_host (client, 1);
  close (s.listen_fd);
  s.listen_fd = -1;
  for (guint i = 0; i < 3; i++)
    start_full (client, &s, &r[i], bodies[i], FALSE);
  helix_test_wait_for (r[0].done && r[1].done && r[2].done, WAIT_S, "the refused connects");
  for (guint i = 0; i < 3; i++)
    g_assert_error (r[i].error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_cmpuint (helix_http1_client_get_n_waiting (client), ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    {
      result_clear (&r[i]);
      g_bytes_unref (bodies[i]);
    }
  finish (client, &s, fds);
}

/* Through a provider call */

typedef struct
{
  gboolean      done;
  GError       *error;
  GCancellable *cancel_on_delta;
} CallResult;

static void
call_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  CallResult *r = user_data;

  helix_provider_stream_chat_finish (HELIX_PROVIDER (object), result, &r->error);
  r->done = TRUE;
}

static void
delta_cb (HelixChatStream *stream,
          const char      *text,
          CallResult      *r)
{
  if (r->cancel_on_delta != NULL)
    g_cancellable_cancel (r->cancel_on_delta);
}

static HelixChatStream *
call_start (HelixProvider *provider,
            GCancellable  *cancellable,
            CallResult    *r)
{
  g_autoptr(HelixChatRequest) request = helix_chat_request_new ("gpt-test");
  HelixChatStream *stream = helix_chat_stream_new ();

  g_signal_connect (stream, "delta", G_CALLBACK (delta_cb), r);
  helix_chat_request_add_message (request, HELIX_MESSAGE_ROLE_USER, "Say hello");
  helix_provider_stream_chat_async (provider, request, stream, cancellable, call_cb, r);

  return stream;
}

static HelixProvider *
provider_new (Server *s)
{
  g_autofree char *url = g_strconcat (s->url, "/v1", NULL);
  g_autoptr(GError) error = NULL;
  HelixProvider *provider = HELIX_PROVIDER (helix_provider_openai_new ("h1", url, KEY, &error));

  g_assert_no_error (error);
  return provider;
}

#define SSE_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
#define SSE_HEL  "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
#define SSE_END  "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"

static void
send_chunk (int         fd,
            const char *data)
{
  g_autofree char *chunk = g_strdup_printf ("%zx\r\n%s\r\n", strlen (data), data);

  server_send_str (fd, chunk);
}

/* The server stops in the middle of the body: a cut answer, what came kept. */
static void
test_call_cut (void)
{
  guint fds = helix_test_count_fds ();
  CallResult r = { 0 };
  g_autoptr(HelixChatStream) stream = NULL;
  HelixProvider *provider;
  Server s;
  int fd;

  server_start (&s);
  provider = provider_new (&s);
  stream = call_start (provider, NULL, &r);
  fd = server_accept (&s);
  g_free (server_read_request (fd));
  server_send_str (fd, SSE_HEAD);
  send_chunk (fd, SSE_HEL);
  server_send_str (fd, "40\r\ndata: {\"cho");
  close (fd);
  helix_test_wait_for (r.done, WAIT_S, "the call");
  g_assert_error (r.error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL);
  g_assert_cmpstr (helix_chat_stream_get_text (stream), ==, "Hel");
  g_assert_false (helix_chat_stream_is_complete (stream));

  g_clear_error (&r.error);
  helix_test_assert_finalized (provider);
  server_stop (&s);
  g_assert_cmpuint (helix_test_count_fds (), ==, fds);
}

/* Cancelling in the middle of the answer closes the connection before the
 * call returns. A complete answer keeps its connection for the next call. */
static void
test_call_cancel (void)
{
  guint fds = helix_test_count_fds ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(HelixChatStream) stream = NULL;
  CallResult r = { 0 };
  HelixProvider *provider;
  Server s;
  int fd;

  server_start (&s);
  provider = provider_new (&s);
  stream = call_start (provider, NULL, &r);
  fd = server_accept (&s);
  g_free (server_read_request (fd));
  server_send_str (fd, SSE_HEAD);
  send_chunk (fd, SSE_HEL);
  send_chunk (fd, SSE_END);
  server_send_str (fd, "0\r\n\r\n");
  helix_test_wait_for (r.done, WAIT_S, "the first call");
  g_assert_no_error (r.error);
  g_assert_cmpstr (helix_chat_stream_get_text (stream), ==, "Hello");
  g_assert_false (server_peer_closed (fd));

  /* On the same connection. */
  r.done = FALSE;
  r.cancel_on_delta = cancellable;
  g_clear_object (&stream);
  stream = call_start (provider, cancellable, &r);
  g_free (server_read_request (fd));
  server_send_str (fd, SSE_HEAD);
  send_chunk (fd, SSE_HEL);
  helix_test_wait_for (r.done, WAIT_S, "the cancelled call");
  g_assert_error (r.error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CANCELLED);
  g_assert_true (server_peer_closed (fd));
  g_assert_cmpstr (helix_chat_stream_get_text (stream), ==, "Hel");
  g_assert_cmpuint (s.n_accepts, ==, 1);
  close (fd);

  g_clear_error (&r.error);
  helix_test_assert_finalized (provider);
  server_stop (&s);
  g_assert_cmpuint (helix_test_count_fds (), ==, fds);
}

/* The reused connection is closed when the request arrives: the call sends
 * it again, once, on a new connection, and succeeds. */
static void
test_call_stale (void)
{
  guint fds = helix_test_count_fds ();
  g_autoptr(HelixChatStream) stream = NULL;
  CallResult r = { 0 };
  HelixProvider *provider;
  Server s;
  int fd;

  server_start (&s);
  provider = provider_new (&s);
  stream = call_start (provider, NULL, &r);
  fd = server_accept (&s);
  g_free (server_read_request (fd));
  server_send_str (fd, SSE_HEAD);
  send_chunk (fd, SSE_HEL SSE_END);
  server_send_str (fd, "0\r\n\r\n");
  helix_test_wait_for (r.done, WAIT_S, "the first call");
  g_assert_no_error (r.error);

  r.done = FALSE;
  g_clear_object (&stream);
  stream = call_start (provider, NULL, &r);
  g_free (server_read_request (fd));
  close (fd);
  fd = server_accept (&s);
  g_free (server_read_request (fd));
  server_send_str (fd, SSE_HEAD);
  send_chunk (fd, SSE_HEL SSE_END);
  server_send_str (fd, "0\r\n\r\n");
  helix_test_wait_for (r.done, WAIT_S, "the second call");
  g_assert_no_error (r.error);
  g_assert_cmpstr (helix_chat_stream_get_text (stream), ==, "Hello");
  g_assert_cmpuint (s.n_accepts, ==, 2);

  /* A second failure is not sent again: the new connection closes too. */
  r.done = FALSE;
  g_clear_object (&stream);
  stream = call_start (provider, NULL, &r);
  g_free (server_read_request (fd));
  close (fd);
  fd = server_accept (&s);
  g_free (server_read_request (fd));
  close (fd);
  helix_test_wait_for (r.done, WAIT_S, "the third call");
  g_assert_error (r.error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_NETWORK);
  g_assert_cmpuint (s.n_accepts, ==, 3);

  g_clear_error (&r.error);
  helix_test_assert_finalized (provider);
  server_stop (&s);
  g_assert_cmpuint (helix_test_count_fds (), ==, fds);
}

/* GIO makes a few fds of its own on first use (the resolver's, the worker
 * threads' wake-ups) and keeps them: make them before any test counts. */
static void
warm_up (void)
{
  HelixHttp1Client *client = helix_http1_client_new ("helix-test/1");
  Result r = { 0 };
  Server s;
  int fd;

  server_start (&s);
  start (client, &s, &r);
  fd = server_accept (&s);
  g_free (server_read_request (fd));
  server_send_str (fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  helix_test_wait_for (r.done, WAIT_S, "the warm-up");
  g_assert_no_error (r.error);
  close (fd);
  result_clear (&r);
  helix_http1_client_unref (client);
  server_stop (&s);
}

int
main (int   argc,
      char *argv[])
{
  /* The provider tests are about the native client, whatever the caller's setting. */
  g_unsetenv ("HELIX_PROVIDER_HTTP");
  helix_test_canary_init (&argc, &argv, KEY);
  warm_up ();

  g_test_add_func ("/helix/http1/keep-alive", test_keep_alive);
  g_test_add_func ("/helix/http1/big-body", test_big_body);
  g_test_add_func ("/helix/http1/idle-closed", test_idle_closed);
  g_test_add_func ("/helix/http1/idle-limits", test_idle_limits);
  g_test_add_func ("/helix/http1/chunked-splits", test_chunked_splits);
  g_test_add_func ("/helix/http1/not-kept", test_not_kept);
  g_test_add_func ("/helix/http1/bad-responses", test_bad_responses);
  g_test_add_func ("/helix/http1/cut-and-abort", test_cut_and_abort);
  g_test_add_func ("/helix/http1/per-host-cap", test_per_host_cap);
  g_test_add_func ("/helix/http1/call-cut", test_call_cut);
  g_test_add_func ("/helix/http1/call-cancel", test_call_cancel);
  g_test_add_func ("/helix/http1/call-stale", test_call_stale);

  return g_test_run ();
}
