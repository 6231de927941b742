/* bare-native-server.c: the floor without libsoup, for the benchmarks
 *
 * The smallest HTTP/1.1 server that answers bench-gateway's clients as the
 * gateway's /health does: non-blocking sockets on a GLib main loop (one
 * source per connection, as the gateway's would be), requests read into a
 * buffer and answered with one send(), connections kept alive. Beside
 * bare-soup-server, it tells how much of a request's cost on this machine
 * is the kernel's and the main loop's, and how much libsoup's:
 *
 *   GET /health       {"status":"ok"}, with the headers of the gateway's answer
 *   anything else     404
 *
 * Not a server for anything but the benchmark's well-behaved clients: no
 * request bodies, no chunked encoding, no pipelining beyond what fits its
 * buffer (a request head over 16 KiB closes the connection).
 *
 * Usage: bare-native-server
 * It listens on 127.0.0.1 on a free port and prints "http://127.0.0.1:PORT\n".
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-bench"
#define _GNU_SOURCE /* accept4(), memmem() */

#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#define HEAD_MAX 16384

typedef struct
{
  int   fd;
  gsize len;
  char  buf[HEAD_MAX];
} Conn;

static gboolean
conn_close (Conn *conn)
{
  close (conn->fd);
  g_free (conn);

  return G_SOURCE_REMOVE;
}

/* Answers one request head, @head_len bytes at the start of the buffer. */
static gboolean
answer (Conn  *conn,
        gsize  head_len)
{
  static const char ok[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "Cache-Control: no-store\r\n"
    "X-Request-Id: 0123456789abcdef0123\r\n"
    "Content-Length: 15\r\n"
    "\r\n"
    "{\"status\":\"ok\"}";
  static const char not_found[] =
    "HTTP/1.1 404 Not Found\r\n"
    "Content-Length: 0\r\n"
    "\r\n";
  gboolean health = head_len >= 13 && memcmp (conn->buf, "GET /health ", 12) == 0;
  const char *response = health ? ok : not_found;
  gsize length = health ? sizeof ok - 1 : sizeof not_found - 1;

  /* The client reads each answer before it sends its next request: the
   * socket's buffer always takes one. */
  return send (conn->fd, response, length, MSG_NOSIGNAL) == (gssize) length;
}

static gboolean
conn_cb (int           fd,
         GIOCondition  condition,
         gpointer      user_data)
{
  Conn *conn = user_data;
  gssize n = recv (fd, conn->buf + conn->len, sizeof conn->buf - conn->len, 0);
  const char *end;

  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return G_SOURCE_CONTINUE;
  if (n <= 0)
    return conn_close (conn);

  conn->len += n;
  while ((end = memmem (conn->buf, conn->len, "\r\n\r\n", 4)) != NULL)
    {
      gsize head_len = end + 4 - conn->buf;

      if (!answer (conn, head_len))
        return conn_close (conn);
      memmove (conn->buf, conn->buf + head_len, conn->len - head_len);
      conn->len -= head_len;
    }

  if (conn->len == sizeof conn->buf)
    return conn_close (conn);

  return G_SOURCE_CONTINUE;
}

static gboolean
accept_cb (int           listen_fd,
           GIOCondition  condition,
           gpointer      user_data)
{
  int fd;

  while ((fd = accept4 (listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
    {
      Conn *conn = g_new (Conn, 1);
      int one = 1;

      setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      conn->fd = fd;
      conn->len = 0;
      g_unix_fd_add (fd, G_IO_IN | G_IO_HUP | G_IO_ERR, conn_cb, conn);
    }

  return G_SOURCE_CONTINUE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  struct sockaddr_in addr = { .sin_family = AF_INET };
  socklen_t len = sizeof addr;
  int fd;

  prctl (PR_SET_PDEATHSIG, SIGTERM);
  signal (SIGPIPE, SIG_IGN);

  fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  inet_pton (AF_INET, "127.0.0.1", &addr.sin_addr);
  if (fd < 0 ||
      bind (fd, (struct sockaddr *) &addr, sizeof addr) != 0 ||
      listen (fd, 4096) != 0 ||
      getsockname (fd, (struct sockaddr *) &addr, &len) != 0)
    g_error ("Could not listen: %s", g_strerror (errno));

  g_print ("http://127.0.0.1:%u\n", ntohs (addr.sin_port));
  fflush (stdout);

  g_unix_fd_add (fd, G_IO_IN, accept_cb, NULL);
  g_main_loop_run (loop);

  return 0;
}
