/* helix-test-raw-http.h: raw HTTP/1.1 clients on plain sockets, for tests of
 * an in-process gateway
 *
 * The gateway runs in the test's thread: the clients never block, and spin
 * the main context while they wait, so that the test controls exactly when
 * each connection sends, pauses and closes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

#define HELIX_TEST_RAW_WAIT_S 60

/* The process's open descriptors: the gateway's and the test's. */
static inline guint
helix_test_count_fds (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;

  /* Less the one of the directory being read. */
  return n - 1;
}

/* Spins the main context until @condition holds, for at most HELIX_TEST_RAW_WAIT_S seconds;
 * the clients below never block it (the gateway runs in this thread). */
#define helix_test_spin_until(condition, what) \
  G_STMT_START { \
    gint64 _deadline = g_get_monotonic_time () + HELIX_TEST_RAW_WAIT_S * G_USEC_PER_SEC; \
    while (!(condition)) \
      { \
        if (g_get_monotonic_time () > _deadline) \
          g_error ("Timed out waiting for %s", (what)); \
        if (!g_main_context_iteration (NULL, FALSE)) \
          g_usleep (200); \
      } \
  } G_STMT_END

/* Waits until the process has @baseline descriptors open again. */
static inline void
helix_test_wait_fds (guint baseline)
{
  gint64 deadline = g_get_monotonic_time () + HELIX_TEST_RAW_WAIT_S * G_USEC_PER_SEC;
  guint n;

  while ((n = helix_test_count_fds ()) != baseline && g_get_monotonic_time () < deadline)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }

  if (n != baseline)
    {
      g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
      const char *name;

      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = g_build_filename ("/proc/self/fd", name, NULL);
          g_autofree char *target = g_file_read_link (path, NULL);

          g_test_message ("fd %s: %s", name, target);
        }
      g_error ("%u descriptors are open, %u before: connections leaked", n, baseline);
    }
}

/* A raw HTTP/1.1 client {{{1 */

typedef struct
{
  int      fd;
  GString *in;      /* received, not yet taken as a response */
  gboolean eof;
} HelixTestRawClient;

/* Connects to the gateway on loopback @port; @receive_buffer, if not 0, is
 * the size of the client's receive buffer (a client that takes its answers
 * slowly). */
static inline HelixTestRawClient *
helix_test_raw_connect_with_buffer (guint port,
                                    int   receive_buffer)
{
  struct sockaddr_in addr = { 0 };
  HelixTestRawClient *c = g_new0 (HelixTestRawClient, 1);
  int one = 1;

  addr.sin_family = AF_INET;
  addr.sin_port = htons (port);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);

  c->fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (c->fd, >=, 0);
  setsockopt (c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  /* Before connecting: the window is agreed then. */
  if (receive_buffer > 0)
    setsockopt (c->fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  /* The kernel completes the handshake: the gateway accepts it later. */
  g_assert_cmpint (connect (c->fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  c->in = g_string_new (NULL);

  return c;
}

static inline HelixTestRawClient *
helix_test_raw_connect (guint port)
{
  return helix_test_raw_connect_with_buffer (port, 0);
}

static inline void
helix_test_raw_client_free (HelixTestRawClient *c)
{
  if (c->fd >= 0)
    close (c->fd);
  g_string_free (c->in, TRUE);
  g_free (c);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixTestRawClient, helix_test_raw_client_free)

static inline void
helix_test_raw_send (HelixTestRawClient     *c,
             const char *text)
{
  gsize len = strlen (text);

  g_assert_cmpint (send (c->fd, text, len, MSG_NOSIGNAL), ==, (gssize) len);
}

/* Closes with a reset instead of a FIN. */
static inline void
helix_test_raw_reset (HelixTestRawClient *c)
{
  struct linger linger = { 1, 0 };

  setsockopt (c->fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger);
  close (c->fd);
  c->fd = -1;
}

/* Whatever arrived, without blocking; sets c->eof at the end of the stream
 * (or a reset). Returns whether anything happened. */
static inline gboolean
helix_test_raw_poll (HelixTestRawClient *c)
{
  char buf[4096];
  gssize n = recv (c->fd, buf, sizeof buf, MSG_DONTWAIT);

  if (n > 0)
    {
      g_string_append_len (c->in, buf, n);
      return TRUE;
    }
  if (n == 0 || (errno != EAGAIN && errno != EINTR))
    {
      c->eof = TRUE;
      return TRUE;
    }

  return FALSE;
}

typedef struct
{
  guint    status;
  gboolean close;       /* "Connection: close" */
  char    *request_id;
  char    *head;        /* the head as received, up to its empty line */
  GBytes  *body;
} HelixTestRawResponse;

static inline void
helix_test_raw_response_clear (HelixTestRawResponse *r)
{
  g_clear_pointer (&r->request_id, g_free);
  g_clear_pointer (&r->head, g_free);
  g_clear_pointer (&r->body, g_bytes_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (HelixTestRawResponse, helix_test_raw_response_clear)

/* Spins until a whole response (delimited by its Content-Length) is in, and
 * takes it out of c->in. */
static inline void
helix_test_raw_read_response (HelixTestRawClient   *c,
                      HelixTestRawResponse *r)
{
  gint64 deadline = g_get_monotonic_time () + HELIX_TEST_RAW_WAIT_S * G_USEC_PER_SEC;
  g_autofree char *head = NULL;
  const char *end;
  const char *value;
  guint64 length = 0;
  gsize head_len;

  for (;;)
    {
      end = strstr (c->in->str, "\r\n\r\n");
      if (end != NULL)
        {
          head_len = end + 4 - c->in->str;
          g_free (head);
          head = g_ascii_strdown (c->in->str, head_len);
          value = strstr (head, "\r\ncontent-length: ");
          g_assert_nonnull (value);
          length = g_ascii_strtoull (value + strlen ("\r\ncontent-length: "), NULL, 10);
          if (c->in->len >= head_len + length)
            break;
        }
      if (c->eof)
        g_error ("The connection closed before a whole response: %s", c->in->str);
      if (g_get_monotonic_time () > deadline)
        g_error ("Timed out waiting for a response");
      if (!helix_test_raw_poll (c) && !g_main_context_iteration (NULL, FALSE))
        g_usleep (200);
    }

  /* HTTP/1.1, or 1.0 to an HTTP/1.0 client. */
  g_assert_true (g_str_has_prefix (head, "http/1.1 ") || g_str_has_prefix (head, "http/1.0 "));
  r->status = (guint) g_ascii_strtoull (head + strlen ("http/1.1 "), NULL, 10);
  r->close = strstr (head, "\r\nconnection: close\r\n") != NULL;
  value = strstr (head, "\r\nx-request-id: ");
  g_assert_nonnull (value);
  value += strlen ("\r\nx-request-id: ");
  r->request_id = g_strndup (value, strcspn (value, "\r"));
  r->head = g_strndup (c->in->str, head_len);
  r->body = g_bytes_new (c->in->str + head_len, length);

  g_string_erase (c->in, 0, head_len + length);
}

/* Spins until the gateway closes the connection. */
static inline void
helix_test_raw_wait_closed (HelixTestRawClient *c)
{
  gint64 deadline = g_get_monotonic_time () + HELIX_TEST_RAW_WAIT_S * G_USEC_PER_SEC;

  while (!c->eof)
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("Timed out waiting for the gateway to close the connection");
      if (!helix_test_raw_poll (c) && !g_main_context_iteration (NULL, FALSE))
        g_usleep (200);
    }

  /* Nothing but the end: no response the client did not ask for. */
  g_assert_cmpuint (c->in->len, ==, 0);
}

/* Spins until a response head without a body (an interim response) has
 * arrived, checks that it starts with @status_line, and takes it out. */
static inline void
helix_test_raw_expect_head (HelixTestRawClient     *c,
                    const char *status_line)
{
  gint64 deadline = g_get_monotonic_time () + HELIX_TEST_RAW_WAIT_S * G_USEC_PER_SEC;
  const char *end;

  while ((end = strstr (c->in->str, "\r\n\r\n")) == NULL)
    {
      if (c->eof || g_get_monotonic_time () > deadline)
        g_error ("No “%s” from the gateway: %s", status_line, c->in->str);
      if (!helix_test_raw_poll (c) && !g_main_context_iteration (NULL, FALSE))
        g_usleep (200);
    }
  if (!g_str_has_prefix (c->in->str, status_line))
    g_error ("Expected “%s” from the gateway, got: %s", status_line, c->in->str);
  g_string_erase (c->in, 0, end + 4 - c->in->str);
}


/* Comparing answers {{{1 */

static inline int
helix_test_raw_compare_lines (gconstpointer a,
               gconstpointer b)
{
  return g_ascii_strcasecmp (*(const char * const *) a, *(const char * const *) b);
}

/* The header lines of @head, sorted, with the values of Date (checked to
 * be an HTTP date) and X-Request-Id left out: each answer has its own. */
static inline char *
helix_test_raw_comparable_headers (const char *head)
{
  g_auto(GStrv) lines = g_strsplit (head, "\r\n", -1);
  g_autoptr(GPtrArray) kept = g_ptr_array_new ();

  /* lines[0] is the status line; the head ends with an empty line. */
  for (guint i = 1; lines[i] != NULL; i++)
    {
      if (*lines[i] == '\0')
        continue;
      if (g_ascii_strncasecmp (lines[i], "Date: ", 6) == 0)
        {
          g_autoptr(GDateTime) date = soup_date_time_new_from_http_string (lines[i] + 6);

          g_assert_nonnull (date);
          g_ptr_array_add (kept, (gpointer) "Date: (a date)");
        }
      else if (g_ascii_strncasecmp (lines[i], "X-Request-Id: ", 14) == 0)
        g_ptr_array_add (kept, (gpointer) "X-Request-Id: (an id)");
      else
        g_ptr_array_add (kept, lines[i]);
    }

  g_ptr_array_sort (kept, helix_test_raw_compare_lines);
  g_ptr_array_add (kept, NULL);

  return g_strjoinv ("\n", (char **) kept->pdata);
}

/* The body as text, with what matches one of the regular expressions
 * @volatile_parts (nullable) replaced by "_". */
static inline char *
helix_test_raw_comparable_body (GBytes             *body,
                                const char * const *volatile_parts)
{
  gsize size;
  const char *data = g_bytes_get_data (body, &size);
  char *text = g_strndup (size > 0 ? data : "", size);

  for (guint i = 0; volatile_parts != NULL && volatile_parts[i] != NULL; i++)
    {
      g_autoptr(GRegex) regex = g_regex_new (volatile_parts[i], 0, 0, NULL);
      char *replaced = g_regex_replace_literal (regex, text, -1, 0, "_", 0, NULL);

      g_free (text);
      text = replaced;
    }

  return text;
}

/* Asserts that @a and @b are the same answer, but for their Date, their
 * X-Request-Id and what matches @volatile_parts in their bodies. */
static inline void
helix_test_raw_assert_same (const HelixTestRawResponse *a,
                            const HelixTestRawResponse *b,
                            const char * const         *volatile_parts)
{
  g_autofree char *a_headers = helix_test_raw_comparable_headers (a->head);
  g_autofree char *b_headers = helix_test_raw_comparable_headers (b->head);
  g_autofree char *a_body = helix_test_raw_comparable_body (a->body, volatile_parts);
  g_autofree char *b_body = helix_test_raw_comparable_body (b->body, volatile_parts);
  g_autofree char *a_status = g_strndup (a->head, strcspn (a->head, "\r"));
  g_autofree char *b_status = g_strndup (b->head, strcspn (b->head, "\r"));

  g_assert_cmpstr (a_status, ==, b_status);
  g_assert_cmpstr (a_headers, ==, b_headers);
  g_assert_cmpuint (g_bytes_get_size (a->body), ==, g_bytes_get_size (b->body));
  g_assert_cmpstr (a_body, ==, b_body);
}

G_END_DECLS
