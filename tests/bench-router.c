/* bench-router.c: what the gateway's AI router adds to a call
 *
 * Runs a loopback upstream in this process (an OpenAI-compatible server on
 * plain blocking sockets, HTTP/1.1 with keep-alive) and `$HELIX_BINARY --headless` as a child process with that
 * upstream as its only provider, then measures in the same run:
 *
 *   router_added_p50_ms    non-streaming calls through POST /v1/chat/completions
 *                          minus the same calls straight to the upstream, median
 *   router_added_p99_ms    the same, 99th percentile
 *   router_added_ttft_ms   streaming: time to the first text through the gateway
 *                          minus straight to the upstream, median
 *   router_rps             proxied non-streaming calls per second, HELIX_BENCH_CONCURRENCY
 *                          (32) clients for HELIX_BENCH_SECONDS (5)
 *   router_rps_steal_s     CPU seconds the hypervisor took from this virtual machine
 *                          during that phase (/proc/stat): what moves router_rps between
 *                          runs on a shared host
 *   router_direct_rps      the same clients straight to the upstream: the ceiling of
 *                          router_rps on this machine, whose cores the gateway shares
 *                          with them
 *   router_stream_bytes    the gateway's RSS growth per stream in flight, with
 *                          HELIX_BENCH_STREAMS (200) slow streams open at once
 *   router_streams_open    how many of them had their first event (the provider's
 *                          SoupSession opens at most 64 connections per host)
 *   router_upstream_reuse  proxied calls per upstream connection during the
 *                          throughput phase (1.0: no keep-alive to the upstream)
 *   router_bare_libsoup_added_p50_ms, router_bare_libsoup_added_p99_ms,
 *   router_bare_libsoup_rps  the same measures through tests/bare-soup-server.c:
 *                          libsoup's server and client relaying the calls with
 *                          nothing of Helix in between, the floor under the
 *                          gateway's figures on this machine
 *
 * The upstream (a pool of threads, each serving one connection at a time)
 * answers at once with a short event stream ("fast-model"), or
 * sends the first event and holds the rest until told ("slow-model"). The
 * clients of the non-streaming calls keep their connections open between
 * calls, to the gateway and to the upstream alike (HELIX_BENCH_KEEPALIVE=0:
 * a new connection for each call, "Connection: close"); the streaming ones
 * stop reading at the first text and open a new connection each time, on
 * both sides too. So the difference is what the gateway adds: parsing, auth,
 * routing, the upstream call over a kept-alive connection, and the answer.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-bench"

#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "helix-bench.h"
#include "helix-bench-bare.h"

#define PASSWORD "correct horse battery staple"

static const char prices_json[] =
  "{\"version\":1,\"models\":["
  "{\"provider\":\"up\",\"model\":\"fast-model\",\"input\":0.1,\"output\":0.2,"
  "\"tier\":2,\"context\":128000,\"streaming\":true},"
  "{\"provider\":\"up\",\"model\":\"slow-model\",\"input\":0.5,\"output\":1.0,"
  "\"tier\":2,\"context\":128000,\"streaming\":true}]}";

static const char first_event[] =
  "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"}}]}\n\n";
static const char rest_events[] =
  "data: {\"choices\":[{\"delta\":{\"content\":\" there\"},\"finish_reason\":\"stop\"}]}\n\n"
  "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2}}\n\n"
  "data: [DONE]\n\n";

static guint concurrency = 32;
static guint seconds = 5;
static guint n_streams = 200;
static guint n_samples = 2000;
static gboolean keep_alive = TRUE;

static struct sockaddr_in upstream_addr;
static struct sockaddr_in gateway_addr;
static gint release_slow;      /* atomic: the slow answers may finish */
static gint slow_started;      /* atomic: slow answers that sent their first event */
static gint upstream_accepted; /* atomic: connections the upstream accepted */

static guint
env_uint (const char *name,
          guint       fallback)
{
  const char *value = g_getenv (name);
  guint64 n;

  if (value == NULL || !g_ascii_string_to_unsigned (value, 10, 1, G_MAXUINT, &n, NULL))
    return fallback;

  return (guint) n;
}

static gboolean
write_all (int         fd,
           const char *data,
           gsize       len)
{
  while (len > 0)
    {
      gssize n = send (fd, data, len, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      len -= n;
    }

  return TRUE;
}

/* The upstream {{{1 */

static void
upstream_serve (int fd)
{
  g_autoptr(GString) in = g_string_new (NULL);
  char buffer[16384];

  for (;;)
    {
      const char *end;
      const char *length_header;
      gsize header_len;
      gsize body_len = 0;
      gboolean slow;
      gboolean close_after;
      g_autofree char *head = NULL;

      while ((end = strstr (in->str, "\r\n\r\n")) == NULL)
        {
          gssize n = recv (fd, buffer, sizeof buffer, 0);

          if (n <= 0)
            goto out;
          g_string_append_len (in, buffer, n);
        }

      header_len = end + 4 - in->str;
      head = g_ascii_strdown (in->str, header_len);
      length_header = strstr (head, "content-length:");
      if (length_header != NULL)
        body_len = g_ascii_strtoull (length_header + strlen ("content-length:"), NULL, 10);
      close_after = strstr (head, "connection: close") != NULL;

      while (in->len < header_len + body_len)
        {
          gssize n = recv (fd, buffer, sizeof buffer, 0);

          if (n <= 0)
            goto out;
          g_string_append_len (in, buffer, n);
        }

      slow = g_strstr_len (in->str + header_len, body_len, "slow-model") != NULL;
      g_string_erase (in, 0, header_len + body_len);

      {
        g_autofree char *headers =
          g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                           "Content-Length: %zu\r\n%s\r\n",
                           strlen (first_event) + strlen (rest_events),
                           close_after ? "Connection: close\r\n" : "");

        if (!slow)
          {
            g_autofree char *all = g_strconcat (headers, first_event, rest_events, NULL);

            if (!write_all (fd, all, strlen (all)))
              goto out;
          }
        else
          {
            g_autofree char *start = g_strconcat (headers, first_event, NULL);

            if (!write_all (fd, start, strlen (start)))
              goto out;
            g_atomic_int_inc (&slow_started);
            while (!g_atomic_int_get (&release_slow))
              g_usleep (10000);
            if (!write_all (fd, rest_events, strlen (rest_events)))
              goto out;
          }
      }

      if (close_after)
        break;
    }

out:
  close (fd);
}

/* Each thread of the pool accepts a connection and serves it to its end: no
 * thread is made per connection, in the direct baseline or behind the gateway. */
static gpointer
upstream_accept_thread (gpointer data)
{
  int listen_fd = GPOINTER_TO_INT (data);

  for (;;)
    {
      int fd = accept (listen_fd, NULL, NULL);
      int one = 1;

      if (fd < 0)
        {
          if (errno == EINTR || errno == ECONNABORTED)
            continue;
          g_error ("upstream: accept: %s", g_strerror (errno));
        }

      setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      g_atomic_int_inc (&upstream_accepted);
      upstream_serve (fd);
    }

  return NULL;
}

static void
upstream_start (void)
{
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  socklen_t len = sizeof upstream_addr;
  int one = 1;

  memset (&upstream_addr, 0, sizeof upstream_addr);
  upstream_addr.sin_family = AF_INET;
  inet_pton (AF_INET, "127.0.0.1", &upstream_addr.sin_addr);
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind (fd, (struct sockaddr *) &upstream_addr, sizeof upstream_addr) != 0 ||
      listen (fd, 4096) != 0 ||
      getsockname (fd, (struct sockaddr *) &upstream_addr, &len) != 0)
    g_error ("upstream: %s", g_strerror (errno));

  /* Enough for every slow stream, the load clients and the gateway's spare
   * connections at once. */
  for (guint i = 0; i < n_streams + concurrency + 64; i++)
    g_thread_unref (g_thread_new ("upstream", upstream_accept_thread, GINT_TO_POINTER (fd)));
}

/* Clients {{{1 */

/* One request on a new connection; returns the microseconds until the
 * response ended (or, with @until_text, until @until_text arrived), or -1.
 * *@fd_out, when not NULL, gets the open connection instead of closing it. */
static gint64
request (const struct sockaddr_in *addr,
         const char               *request_text,
         const char               *until_text,
         GString                  *response,
         int                      *fd_out)
{
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  int one = 1;
  gint64 start = g_get_monotonic_time ();
  char buffer[16384];

  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect (fd, (const struct sockaddr *) addr, sizeof *addr) != 0 ||
      !write_all (fd, request_text, strlen (request_text)))
    {
      close (fd);
      return -1;
    }

  g_string_truncate (response, 0);
  for (;;)
    {
      gssize n = recv (fd, buffer, sizeof buffer, 0);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      g_string_append_len (response, buffer, n);
      if (until_text != NULL && strstr (response->str, until_text) != NULL)
        break;
    }

  if (fd_out != NULL)
    *fd_out = fd;
  else
    close (fd);

  if (!g_str_has_prefix (response->str, "HTTP/1.1 200") ||
      (until_text != NULL && strstr (response->str, until_text) == NULL))
    return -1;

  return g_get_monotonic_time () - start;
}

/* A connection kept open between requests. */
typedef struct
{
  int      fd;          /* -1: none open */
  GString *in;          /* received and not yet taken as a response */
} Conn;

static Conn *
conn_new (void)
{
  Conn *conn = g_new0 (Conn, 1);

  conn->fd = -1;
  conn->in = g_string_new (NULL);

  return conn;
}

static void
conn_close (Conn *conn)
{
  if (conn->fd >= 0)
    close (conn->fd);
  conn->fd = -1;
  g_string_truncate (conn->in, 0);
}

static void
conn_free (Conn *conn)
{
  conn_close (conn);
  g_string_free (conn->in, TRUE);
  g_free (conn);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Conn, conn_free)

/* One request on @conn (opened if needed, kept open if the server keeps
 * it); the response must have a Content-Length. A request on a connection
 * the server closed meanwhile is retried once on a new one. Returns the
 * microseconds until the response ended, or -1. */
static gint64
request_on (Conn                     *conn,
            const struct sockaddr_in *addr,
            const char               *request_text,
            GString                  *response)
{
  char buffer[16384];

  for (guint attempt = 0; attempt < 2; attempt++)
    {
      gboolean reused = conn->fd >= 0;
      gint64 start = g_get_monotonic_time ();
      g_autofree char *head = NULL;
      gsize head_len = 0;
      gssize length = -1;
      gboolean ok = FALSE;

      if (!reused)
        {
          int one = 1;

          conn->fd = socket (AF_INET, SOCK_STREAM, 0);
          setsockopt (conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          if (connect (conn->fd, (const struct sockaddr *) addr, sizeof *addr) != 0)
            {
              conn_close (conn);
              return -1;
            }
        }

      if (write_all (conn->fd, request_text, strlen (request_text)))
        for (;;)
          {
            const char *end;
            gssize n;

            if (head == NULL && (end = strstr (conn->in->str, "\r\n\r\n")) != NULL)
              {
                const char *value;

                head_len = end + 4 - conn->in->str;
                head = g_ascii_strdown (conn->in->str, head_len);
                value = strstr (head, "\r\ncontent-length:");
                if (value == NULL)
                  break;
                length = g_ascii_strtoll (value + strlen ("\r\ncontent-length:"), NULL, 10);
              }
            if (head != NULL && conn->in->len >= head_len + length)
              {
                ok = TRUE;
                break;
              }

            n = recv (conn->fd, buffer, sizeof buffer, 0);
            if (n < 0 && errno == EINTR)
              continue;
            if (n <= 0)
              break;
            g_string_append_len (conn->in, buffer, n);
          }

      if (!ok)
        {
          g_string_assign (response, conn->in->str);
          conn_close (conn);
          if (reused && head == NULL)
            continue;
          return -1;
        }

      g_string_truncate (response, 0);
      g_string_append_len (response, conn->in->str, head_len + length);
      g_string_erase (conn->in, 0, head_len + length);
      if (strstr (head, "\r\nconnection: close\r\n") != NULL)
        conn_close (conn);

      if (!g_str_has_prefix (response->str, "HTTP/1.1 200"))
        return -1;

      return g_get_monotonic_time () - start;
    }

  return -1;
}

static char *
chat_request (const char *path,
              const char *token,
              const char *model,
              gboolean    stream)
{
  g_autofree char *body =
    g_strdup_printf ("{\"model\":\"%s\",\"stream\":%s,\"messages\":[{\"role\":\"user\","
                     "\"content\":\"Say hello\"}]}", model, stream ? "true" : "false");
  g_autofree char *auth = token != NULL ? g_strdup_printf ("Authorization: Bearer %s\r\n", token)
                                        : g_strdup ("");

  /* The streaming ones are read up to their first text only. */
  return g_strdup_printf ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
                          "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                          "%s\r\n%s", path, auth, strlen (body),
                          keep_alive && !stream ? "" : "Connection: close\r\n", body);
}

static int
compare_gint64 (gconstpointer a,
                gconstpointer b)
{
  gint64 x = *(const gint64 *) a;
  gint64 y = *(const gint64 *) b;

  return (x > y) - (x < y);
}

static double
percentile_ms (GArray *values,
               double  p)
{
  guint index;

  g_assert (values->len > 0);
  g_array_sort (values, compare_gint64);
  index = MIN (values->len - 1, (guint) (p * values->len));

  return g_array_index (values, gint64, index) / 1000.0;
}

/* @n sequential requests; the latencies in µs. */
static GArray *
measure (const struct sockaddr_in *addr,
         const char               *text,
         const char               *until_text,
         guint                     n)
{
  GArray *values = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GString) response = g_string_new (NULL);
  g_autoptr(Conn) conn = conn_new ();
  guint errors = 0;

  for (guint i = 0; i < n; i++)
    {
      gint64 us = until_text == NULL ? request_on (conn, addr, text, response)
                                     : request (addr, text, until_text, response, NULL);

      if (us < 0)
        {
          if (errors++ == 0)
            g_printerr ("bench: a request failed: %.300s\n", response->str);
          continue;
        }
      g_array_append_val (values, us);
    }

  if (errors > 0)
    g_printerr ("bench: %u of %u requests failed\n", errors, n);

  return values;
}

/* Load {{{1 */

static const struct sockaddr_in *load_addr;
static const char *load_request;
static gint64 load_until_us;
static guint64 load_done;     /* atomic */
static guint64 load_failed;   /* atomic */

static gpointer
load_thread (gpointer data)
{
  g_autoptr(GString) response = g_string_new (NULL);
  g_autoptr(Conn) conn = conn_new ();

  while (g_get_monotonic_time () < load_until_us)
    {
      if (request_on (conn, load_addr, load_request, response) >= 0)
        __atomic_add_fetch (&load_done, 1, __ATOMIC_RELAXED);
      else
        __atomic_add_fetch (&load_failed, 1, __ATOMIC_RELAXED);
    }

  return NULL;
}

/* Runs HELIX_BENCH_CONCURRENCY clients sending @request to @addr for
 * HELIX_BENCH_SECONDS; returns the seconds it took (load_done: how many
 * were answered). */
static double
run_load (const struct sockaddr_in *addr,
          const char               *request_text)
{
  g_autoptr(GPtrArray) threads = g_ptr_array_new ();
  gint64 t0 = g_get_monotonic_time ();

  load_addr = addr;
  load_request = request_text;
  load_done = 0;
  load_failed = 0;
  load_until_us = t0 + seconds * G_USEC_PER_SEC;
  for (guint i = 0; i < concurrency; i++)
    g_ptr_array_add (threads, g_thread_new ("load", load_thread, NULL));
  for (guint i = 0; i < threads->len; i++)
    g_thread_join (g_ptr_array_index (threads, i));

  return (g_get_monotonic_time () - t0) / (double) G_USEC_PER_SEC;
}

/* The same calls through bare-soup-server, libsoup's server and client
 * relaying with nothing of Helix in between: the floor under the gateway's
 * figures on this machine. */
static void
bench_bare (const char *direct_fast)
{
  g_autofree char *upstream = g_strdup_printf ("http://127.0.0.1:%u",
                                               ntohs (upstream_addr.sin_port));
  g_autofree char *bare_fast = NULL;
  g_autoptr(GArray) direct = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GArray) relayed = g_array_new (FALSE, FALSE, sizeof (gint64));
  struct sockaddr_in bare_addr;
  GSubprocess *bare = helix_bench_bare_start (upstream, &bare_addr);
  double elapsed;

  if (bare == NULL)
    return;

  bare_fast = chat_request ("/v1/chat/completions", "none", "fast-model", FALSE);
  g_array_unref (measure (&bare_addr, bare_fast, NULL, 200));
  for (guint block = 0; block < 10; block++)
    {
      g_autoptr(GArray) a = measure (&upstream_addr, direct_fast, NULL, n_samples / 10);
      g_autoptr(GArray) b = measure (&bare_addr, bare_fast, NULL, n_samples / 10);

      g_array_append_vals (direct, a->data, a->len);
      g_array_append_vals (relayed, b->data, b->len);
    }
  g_print ("BENCH router_bare_libsoup_added_p50_ms %.3f ms\n",
           percentile_ms (relayed, 0.50) - percentile_ms (direct, 0.50));
  g_print ("BENCH router_bare_libsoup_added_p99_ms %.3f ms\n",
           percentile_ms (relayed, 0.99) - percentile_ms (direct, 0.99));

  elapsed = run_load (&bare_addr, bare_fast);
  g_print ("BENCH router_bare_libsoup_rps %.0f req/s\n", load_done / elapsed);
  g_print ("BENCH router_bare_libsoup_rps_errors %" G_GUINT64_FORMAT " errors\n", load_failed);

  helix_bench_bare_stop (bare);
}

/* The gateway {{{1 */

static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static const char *
helix_binary (void)
{
  const char *binary = g_getenv ("HELIX_BINARY");

  if (binary == NULL)
    g_error ("Set HELIX_BINARY to the helix executable (meson test does).");

  return binary;
}

static gint64
rss_kib (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *text = NULL;
  const char *line;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (line = strstr (text, "VmRSS:")) == NULL)
    return -1;

  return g_ascii_strtoll (line + strlen ("VmRSS:"), NULL, 10);
}

static char *
json_string (const char *text,
             const char *member)
{
  g_autofree char *key = g_strdup_printf ("\"%s\":\"", member);
  const char *start = strstr (text, key);
  const char *end;

  if (start == NULL)
    return NULL;
  start += strlen (key);
  end = strchr (start, '"');

  return end != NULL ? g_strndup (start, end - start) : NULL;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) gateway = NULL;
  g_autoptr(GString) response = g_string_new (NULL);
  g_autoptr(GArray) direct = NULL;
  g_autoptr(GArray) proxied = NULL;
  g_autoptr(GArray) direct_ttft = NULL;
  g_autoptr(GArray) proxied_ttft = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *state = NULL;
  g_autofree char *config = NULL;
  g_autofree char *prices = NULL;
  g_autofree char *log_path = NULL;
  g_autofree char *config_text = NULL;
  g_autofree char *login = NULL;
  g_autofree char *token = NULL;
  g_autofree char *direct_fast = NULL;
  g_autofree char *direct_stream = NULL;
  g_autofree char *gateway_fast = NULL;
  g_autofree char *gateway_stream = NULL;
  g_autofree char *gateway_slow = NULL;
  g_autofree char *upstream_path = NULL;
  g_autofree int *stream_fds = NULL;
  g_autofree char *listen = NULL;
  GSubprocess *adder;
  gint64 deadline;
  gint64 rss_before;
  gint64 rss_during;
  double elapsed;
  double steal;
  guint open_streams = 0;
  gint accepted_before;
  guint n_connected = 0;

  concurrency = env_uint ("HELIX_BENCH_CONCURRENCY", concurrency);
  seconds = env_uint ("HELIX_BENCH_SECONDS", seconds);
  n_streams = env_uint ("HELIX_BENCH_STREAMS", n_streams);
  n_samples = env_uint ("HELIX_BENCH_SAMPLES", n_samples);
  keep_alive = g_strcmp0 (g_getenv ("HELIX_BENCH_KEEPALIVE"), "0") != 0;

  signal (SIGPIPE, SIG_IGN);
  upstream_start ();

  dir = g_dir_make_tmp ("helix-bench-router-XXXXXX", &error);
  g_assert_no_error (error);
  state = g_build_filename (dir, "state", NULL);
  config = g_build_filename (dir, "gateway.conf", NULL);
  prices = g_build_filename (dir, "prices.json", NULL);
  log_path = g_build_filename (dir, "gateway.log", NULL);
  g_file_set_contents (prices, prices_json, -1, &error);
  g_assert_no_error (error);
  config_text = g_strdup_printf ("[router]\nprices=%s\n[provider up]\nkind=openai\n"
                                 "base-url=http://127.0.0.1:%u/v1\nmodels=fast-model;slow-model\n",
                                 prices, ntohs (upstream_addr.sin_port));
  g_file_set_contents (config, config_text, -1, &error);
  g_assert_no_error (error);

  /* A user, then the gateway. */
  adder = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE,
                            &error, helix_binary (), "--headless", "--config", config,
                            "--state-dir", state, "--add-user", "bench", NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (adder, PASSWORD "\n", NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_subprocess_wait_check (adder, NULL, &error);
  g_assert_no_error (error);
  g_object_unref (adder);

  /* A free port, chosen here: the gateway logs nothing at warning level. */
  {
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    socklen_t len = sizeof gateway_addr;

    memset (&gateway_addr, 0, sizeof gateway_addr);
    gateway_addr.sin_family = AF_INET;
    inet_pton (AF_INET, "127.0.0.1", &gateway_addr.sin_addr);
    if (bind (fd, (struct sockaddr *) &gateway_addr, sizeof gateway_addr) != 0 ||
        getsockname (fd, (struct sockaddr *) &gateway_addr, &len) != 0)
      g_error ("No free port: %s", g_strerror (errno));
    close (fd);
    listen = g_strdup_printf ("127.0.0.1:%u", ntohs (gateway_addr.sin_port));
  }

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_setenv (launcher, "HELIX_RATE_LIMIT_PER_USER", "off", TRUE);
  g_subprocess_launcher_setenv (launcher, "HELIX_RATE_LIMIT_PER_ADDRESS", "off", TRUE);
  g_subprocess_launcher_unsetenv (launcher, "G_DEBUG");
  g_subprocess_launcher_unsetenv (launcher, "MALLOC_CHECK_");
  g_subprocess_launcher_unsetenv (launcher, "PROVIDER_OVERRIDE");
  g_subprocess_launcher_unsetenv (launcher, "HELIX_PROVIDER_OVERRIDE");
  g_subprocess_launcher_set_stderr_file_path (launcher, log_path);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  gateway = g_subprocess_launcher_spawn (launcher, &error, helix_binary (), "--headless",
                                         "--config", config, "--listen", listen,
                                         "--state-dir", state, "--log-level", "warning", NULL);
  g_assert_no_error (error);

  /* Wait until it answers: at warning level it logs nothing when it listens. */
  deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  for (;;)
    {
      g_autofree char *health = g_strdup ("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                          "Connection: close\r\n\r\n");

      if (request (&gateway_addr, health, NULL, response, NULL) >= 0)
        break;
      if (g_get_monotonic_time () > deadline)
        g_error ("The gateway did not start; see %s", log_path);
      g_usleep (50000);
    }

  login = g_strdup_printf ("POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                           "Connection: close\r\n\r\n%s",
                           strlen ("{\"username\":\"bench\",\"password\":\"" PASSWORD
                                   "\",\"device\":\"bench\"}"),
                           "{\"username\":\"bench\",\"password\":\"" PASSWORD
                           "\",\"device\":\"bench\"}");
  if (request (&gateway_addr, login, NULL, response, NULL) < 0)
    g_error ("Could not log in: %s", response->str);
  token = json_string (response->str, "token");
  g_assert_nonnull (token);

  upstream_path = g_strdup ("/v1/chat/completions");
  direct_fast = chat_request (upstream_path, "sk-none", "fast-model", FALSE);
  direct_stream = chat_request (upstream_path, "sk-none", "fast-model", TRUE);
  gateway_fast = chat_request ("/v1/chat/completions", token, "fast-model", FALSE);
  gateway_stream = chat_request ("/v1/chat/completions", token, "fast-model", TRUE);
  gateway_slow = chat_request ("/v1/chat/completions", token, "slow-model", TRUE);

  /* Warm up: connections, caches, the ledger. */
  g_array_unref (measure (&gateway_addr, gateway_fast, NULL, 200));
  g_array_unref (measure (&upstream_addr, direct_fast, NULL, 200));

  /* Latency, one request at a time, interleaved in blocks so that drift
   * affects both sides alike. */
  direct = g_array_new (FALSE, FALSE, sizeof (gint64));
  proxied = g_array_new (FALSE, FALSE, sizeof (gint64));
  direct_ttft = g_array_new (FALSE, FALSE, sizeof (gint64));
  proxied_ttft = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (guint block = 0; block < 10; block++)
    {
      g_autoptr(GArray) a = measure (&upstream_addr, direct_fast, NULL, n_samples / 10);
      g_autoptr(GArray) b = measure (&gateway_addr, gateway_fast, NULL, n_samples / 10);
      g_autoptr(GArray) c = measure (&upstream_addr, direct_stream, "Hello", n_samples / 20);
      g_autoptr(GArray) d = measure (&gateway_addr, gateway_stream, "Hello", n_samples / 20);

      g_array_append_vals (direct, a->data, a->len);
      g_array_append_vals (proxied, b->data, b->len);
      g_array_append_vals (direct_ttft, c->data, c->len);
      g_array_append_vals (proxied_ttft, d->data, d->len);
    }

  g_print ("BENCH router_direct_p50_ms %.3f ms\n", percentile_ms (direct, 0.50));
  g_print ("BENCH router_direct_p99_ms %.3f ms\n", percentile_ms (direct, 0.99));
  g_print ("BENCH router_proxied_p50_ms %.3f ms\n", percentile_ms (proxied, 0.50));
  g_print ("BENCH router_proxied_p99_ms %.3f ms\n", percentile_ms (proxied, 0.99));
  g_print ("BENCH router_added_p50_ms %.3f ms\n",
           percentile_ms (proxied, 0.50) - percentile_ms (direct, 0.50));
  g_print ("BENCH router_added_p99_ms %.3f ms\n",
           percentile_ms (proxied, 0.99) - percentile_ms (direct, 0.99));
  g_print ("BENCH router_added_ttft_ms %.3f ms\n",
           percentile_ms (proxied_ttft, 0.50) - percentile_ms (direct_ttft, 0.50));

  /* Throughput. */
  accepted_before = g_atomic_int_get (&upstream_accepted);
  steal = helix_bench_steal_s ();
  elapsed = run_load (&gateway_addr, gateway_fast);
  g_print ("BENCH router_rps %.0f req/s\n", load_done / elapsed);
  g_print ("BENCH router_rps_steal_s %.2f s\n", helix_bench_steal_s () - steal);
  g_print ("BENCH router_rps_errors %" G_GUINT64_FORMAT " errors\n", load_failed);
  /* Proxied calls per upstream connection: how well the gateway reuses them. */
  g_print ("BENCH router_upstream_reuse %.1f calls/connection\n",
           load_done / (double) MAX (1, g_atomic_int_get (&upstream_accepted) - accepted_before));

  /* The same clients straight to the upstream: what the clients and the
   * upstream alone make of this machine's cores, the ceiling of router_rps. */
  elapsed = run_load (&upstream_addr, direct_fast);
  g_print ("BENCH router_direct_rps %.0f req/s\n", load_done / elapsed);

  /* Memory per stream in flight. */
  g_usleep (500000);
  rss_before = rss_kib (atoi (g_subprocess_get_identifier (gateway)));
  stream_fds = g_new0 (int, n_streams);
  for (guint i = 0; i < n_streams; i++)
    {
      int one = 1;

      stream_fds[i] = socket (AF_INET, SOCK_STREAM, 0);
      setsockopt (stream_fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (connect (stream_fds[i], (const struct sockaddr *) &gateway_addr,
                   sizeof gateway_addr) != 0 ||
          !write_all (stream_fds[i], gateway_slow, strlen (gateway_slow)))
        {
          close (stream_fds[i]);
          stream_fds[i] = -1;
        }
    }
  /* Each stream in flight: its first event arrived; all within one deadline
   * (the gateway's upstream session may queue some of them). */
  {
    g_autofree struct pollfd *fds = g_new0 (struct pollfd, n_streams);
    g_autofree gboolean *seen = g_new0 (gboolean, n_streams);
    gint64 until = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

    for (guint i = 0; i < n_streams; i++)
      {
        fds[i].fd = stream_fds[i];
        fds[i].events = POLLIN;
      }

    while (open_streams < n_streams && g_get_monotonic_time () < until)
      {
        if (poll (fds, n_streams, 100) <= 0)
          continue;
        for (guint i = 0; i < n_streams; i++)
          {
            char buffer[4096];
            gssize n;

            if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
              continue;
            n = recv (fds[i].fd, buffer, sizeof buffer - 1, MSG_DONTWAIT);
            if (n <= 0)
              {
                fds[i].fd = -1;
                continue;
              }
            buffer[n] = '\0';
            /* "Hello" comes in one piece: the gateway writes each event whole. */
            if (!seen[i] && strstr (buffer, "Hello") != NULL)
              {
                seen[i] = TRUE;
                open_streams++;
              }
          }
      }
  }
  g_usleep (200000);
  rss_during = rss_kib (atoi (g_subprocess_get_identifier (gateway)));
  /* Per request in flight at the gateway, whether its upstream call is under
   * way or waits for a connection (the provider's session caps them per host). */
  for (guint i = 0; i < n_streams; i++)
    n_connected += stream_fds[i] >= 0;
  g_print ("BENCH router_stream_bytes %.0f bytes\n",
           n_connected > 0 ? (rss_during - rss_before) * 1024.0 / n_connected : -1.0);
  g_print ("BENCH router_streams_open %u streams\n", open_streams);
  g_print ("BENCH router_upstream_streams_open %d streams\n", g_atomic_int_get (&slow_started));
  g_atomic_int_set (&release_slow, 1);
  for (guint i = 0; i < n_streams; i++)
    if (stream_fds[i] >= 0)
      close (stream_fds[i]);

  g_subprocess_send_signal (gateway, SIGTERM);
  g_subprocess_wait (gateway, NULL, NULL);

  bench_bare (direct_fast);

  if (g_getenv ("HELIX_BENCH_KEEP") == NULL)
    {
      g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", dir);

      g_spawn_command_line_sync (cmd, NULL, NULL, NULL, NULL);
    }
  else
    g_printerr ("kept: %s\n", dir);

  return 0;
}
