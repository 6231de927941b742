/* bench-gateway.c: load benchmarks of the real gateway on loopback
 *
 * Starts `$HELIX_BINARY --headless` as a child process with a fresh state
 * directory, adds users (--add-user), logs their devices in over REST and
 * drives it with WebSocket clients (plain sockets on epoll, or libsoup's:
 * see "WebSocket clients" below) and plain HTTP/1.1 clients. Prints
 * lines `BENCH <name> <value> <unit>`; run with `meson test -C <build> --benchmark`.
 *
 *   sync_fanout_p99_ms        1,000 WebSocket clients (100 users × 10 devices) push
 *                             10,000 ops/s in all; the time from sending a push to each
 *                             of the user's 9 other devices receiving the op, p99
 *   sync_fanout_p50_ms        the same, median (for context)
 *   sync_fanout_ops_per_s     ops acknowledged per second during that phase
 *   sync_fanout_rate_msgs_per_s  ops delivered per second during that phase
 *   sync_fanout_errors        error frames, unexpected closes, seqs out of order on a
 *                             connection, and pushes not acknowledged or deliveries
 *                             missing once everything sent had up to 2 minutes to arrive
 *   sync_fanout_drain_s       how long the gateway took, after the fixed-rate phase, to
 *                             acknowledge and deliver everything (its backlog if it was
 *                             slower than the rate)
 *   sync_fanout_msgs_per_s    delivered ops per second when every client keeps
 *                             HELIX_BENCH_WINDOW pushes in flight (saturation)
 *   sync_flood_ops_per_s      ops acknowledged per second in that saturation phase
 *   sync_fanout_ops_per_frame, sync_flood_ops_per_frame  ops delivered per `ops`
 *                             frame in each phase (each frame costs both sides a
 *                             system call or more, whatever the load on the machine)
 *   gateway_cpu_us_per_op     gateway_cpu_s / the ops acknowledged meanwhile
 *   gateway_rss_kib           the gateway's VmRSS at the end of the fan-out phases
 *   gateway_cpu_s             the gateway's user+system CPU seconds during the
 *                             fixed-rate phase (sync_fanout_seconds long), all its
 *                             threads (the main loop and the commit writer); divided
 *                             by the ops acknowledged meanwhile, the CPU cost of an op
 *   gateway_runqueue_wait_s   how long its main thread waited for a CPU then (other
 *                             processes, the load generator included, had the cores)
 *   loadgen_cpu_s             this process's CPU seconds in the same phase: the
 *                             clients' share of the two cores
 *   ws_idle_bytes_per_conn    gateway RSS growth over the idle synced connections / N
 *   sync_push_parse_us        reading and validating one push frame of one
 *                             message.put, as the clients send (in this process)
 *   sync_push_jsonglib_us     JsonParser alone on the same text, for comparison
 *   http_health_rps, http_health_p99_ms       GET /health
 *   http_sessions_rps, http_sessions_p99_ms   GET /api/v1/sessions with a token
 *   http_health_bare_libsoup_*  the same /health clients against tests/bare-soup-server.c,
 *                             a SoupServer with nothing of Helix in it: libsoup's floor
 *   http_health_bare_native_*  the same clients against tests/bare-native-server.c,
 *                             plain sockets on a GLib main loop with no libsoup: the floor
 *                             of the kernel and the main loop
 *   http_health_gateway_cpu_us, http_sessions_gateway_cpu_us  the CPU time of the
 *                             gateway's main thread (which serves HTTP) per request
 *                             answered in those phases
 *   sync_fanout_steal_s, sync_flood_steal_s, http_*_steal_s  CPU seconds the
 *                             hypervisor took from this virtual machine during each
 *                             phase (/proc/stat): on a shared host, what moves the
 *                             other figures between runs
 *
 * The HTTP clients are plain blocking sockets in HELIX_BENCH_HTTP_THREADS
 * threads, each keeping its connection to the gateway open between requests
 * (HTTP keep-alive, as browsers and libsoup do; HELIX_BENCH_HTTP_KEEPALIVE=0:
 * a new connection for each request, "Connection: close"): a libsoup client
 * costs more CPU per request than the server on a two-core machine and would
 * measure itself.
 *
 * Environment (defaults are the figures of issue 3):
 *   HELIX_BENCH_USERS (100), HELIX_BENCH_DEVICES (10 per user), HELIX_BENCH_CLIENTS
 *   (sets USERS = CLIENTS / DEVICES), HELIX_BENCH_RATE (10000 ops/s),
 *   HELIX_BENCH_SECONDS (10, the measured fixed-rate window), HELIX_BENCH_WINDOW (4),
 *   HELIX_BENCH_THREADS (2 WebSocket client threads), HELIX_BENCH_TICK_MS (1: how often
 *   each client thread sends the pushes due at the fixed rate), HELIX_BENCH_WS_CLIENT
 *   (plain; libsoup: SoupWebsocketConnection clients), HELIX_BENCH_HTTP_THREADS (4),
 *   HELIX_BENCH_HTTP_SECONDS (4), HELIX_BENCH_HTTP_KEEPALIVE (1).
 *   HELIX_BENCH_KEEP=1 keeps the state directory.
 *   HELIX_BENCH_SHARED_TOKENS=1 logs in once per user (the slow argon2 check) and
 *   lets its devices share that token, for quicker runs; the load is the same.
 *
 * Rate limits are turned off for the gateway (HELIX_RATE_LIMIT_PER_USER=off,
 * HELIX_RATE_LIMIT_PER_ADDRESS=off): a load test is not abuse.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-bench"
#define _GNU_SOURCE /* memmem() */

#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helix-bench.h"
#include "helix-bench-bare.h"
#include "helix-sync.h"
#include "helix-uuid.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#define PASSWORD "correct horse battery staple"
#define LOGINS_IN_FLIGHT 4
#define WARMUP_US (2 * G_USEC_PER_SEC)
#define DRAIN_US (1 * G_USEC_PER_SEC)
#define DRAIN_MAX_US (120 * G_USEC_PER_SEC)

typedef enum
{
  PHASE_CONNECT,
  PHASE_IDLE,
  PHASE_RATE,
  PHASE_DRAIN,
  PHASE_CHECK,
  PHASE_FLOOD,
  PHASE_STOP,
} Phase;

/* Settings {{{1 */

static guint n_users = 100;
static guint n_devices = 10;
static guint rate = 10000;
static guint rate_seconds = 10;
static guint window = 4;
static guint n_threads = 2;
static guint tick_ms = 1;
static guint http_threads = 4;
static guint http_seconds = 4;
static gboolean shared_tokens = FALSE;
static gboolean http_keepalive = TRUE;

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

/* Shared state: written by the main thread, read by the client threads. */
static struct sockaddr_in gateway_addr;
static char *gateway_base;            /* http://127.0.0.1:PORT */
static gint phase = PHASE_CONNECT;    /* atomic */
static gint64 rate_from_us;           /* atomic: ops sent from then on are measured */
static gint64 rate_until_us;          /* atomic: … until then */

static gint64
atomic_get64 (const gint64 *p)
{
  return __atomic_load_n (p, __ATOMIC_ACQUIRE);
}

static void
atomic_set64 (gint64 *p,
              gint64  v)
{
  __atomic_store_n (p, v, __ATOMIC_RELEASE);
}

static void
atomic_add64 (guint64 *p,
              guint64  v)
{
  __atomic_fetch_add (p, v, __ATOMIC_RELAXED);
}

static guint64
atomic_read_u64 (const guint64 *p)
{
  return __atomic_load_n (p, __ATOMIC_RELAXED);
}

/* The gateway process {{{1 */

typedef struct
{
  GSubprocess *process;
  char        *state_dir;
  char        *log_path;
} Gateway;

static const char *
helix_binary (void)
{
  const char *binary = g_getenv ("HELIX_BINARY");

  if (binary == NULL)
    g_error ("Set HELIX_BINARY to the helix executable (meson test does).");

  return binary;
}

static void
add_users (Gateway *gw)
{
  g_autoptr(GPtrArray) procs = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint i = 0; i < n_users; i++)
    {
      g_autofree char *name = g_strdup_printf ("bench%u", i);
      g_autoptr(GError) error = NULL;
      GSubprocess *proc;
      GOutputStream *in;

      proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE,
                               &error, helix_binary (), "--headless", "--state-dir",
                               gw->state_dir, "--add-user", name, NULL);
      g_assert_no_error (error);
      in = g_subprocess_get_stdin_pipe (proc);
      g_output_stream_write_all (in, PASSWORD "\n", strlen (PASSWORD "\n"), NULL, NULL, &error);
      g_assert_no_error (error);
      g_output_stream_close (in, NULL, NULL);
      g_ptr_array_add (procs, proc);

      /* A few at a time (each hashes a password), the first alone: it makes the
       * database. */
      if (i == 0 || procs->len == 4 || i + 1 == n_users)
        {
          for (guint j = 0; j < procs->len; j++)
            {
              g_subprocess_wait_check (g_ptr_array_index (procs, j), NULL, &error);
              g_assert_no_error (error);
            }
          g_ptr_array_set_size (procs, 0);
        }
    }
}

/* In the child: the gateway goes when the benchmark does, even on a crash. */
static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static void
gateway_start (Gateway *gw)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  gint64 deadline;

  gw->state_dir = g_dir_make_tmp ("helix-bench-gateway-XXXXXX", &error);
  g_assert_no_error (error);
  gw->log_path = g_build_filename (gw->state_dir, "gateway.log", NULL);

  add_users (gw);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_setenv (launcher, "HELIX_RATE_LIMIT_PER_USER", "off", TRUE);
  g_subprocess_launcher_setenv (launcher, "HELIX_RATE_LIMIT_PER_ADDRESS", "off", TRUE);
  g_subprocess_launcher_unsetenv (launcher, "G_DEBUG");
  g_subprocess_launcher_unsetenv (launcher, "MALLOC_CHECK_");
  g_subprocess_launcher_set_stderr_file_path (launcher, gw->log_path);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  gw->process = g_subprocess_launcher_spawn (launcher, &error, helix_binary (), "--headless",
                                             "--listen", "127.0.0.1:0", "--state-dir",
                                             gw->state_dir, "--log-level", "info", NULL);
  g_assert_no_error (error);
  deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;

  while (gateway_base == NULL)
    {
      g_autofree char *log = NULL;
      const char *found;

      if (g_get_monotonic_time () > deadline)
        g_error ("The gateway did not start; see %s", gw->log_path);

      g_usleep (20000);
      if (!g_file_get_contents (gw->log_path, &log, NULL, NULL))
        continue;
      found = strstr (log, "listening on http://");
      if (found != NULL && strchr (found, '\n') != NULL)
        {
          const char *url = found + strlen ("listening on ");
          guint port;

          gateway_base = g_strndup (url, strchr (url, '\n') - url);
          port = atoi (strrchr (gateway_base, ':') + 1);
          memset (&gateway_addr, 0, sizeof gateway_addr);
          gateway_addr.sin_family = AF_INET;
          gateway_addr.sin_port = htons (port);
          inet_pton (AF_INET, "127.0.0.1", &gateway_addr.sin_addr);
        }
    }
}

static void
exited_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      data)
{
  gboolean *done = data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *done = TRUE;
}

static void
gateway_stop (Gateway *gw)
{
  gint64 deadline = g_get_monotonic_time () + 15 * G_USEC_PER_SEC;
  gboolean done = FALSE;

  g_subprocess_send_signal (gw->process, SIGTERM);
  g_subprocess_wait_async (gw->process, NULL, exited_cb, &done);
  while (!done)
    {
      if (g_get_monotonic_time () > deadline)
        {
          g_printerr ("bench: the gateway did not stop; killing it\n");
          g_subprocess_force_exit (gw->process);
          deadline = G_MAXINT64;
        }
      g_main_context_iteration (NULL, FALSE);
      g_usleep (10000);
    }

  if (g_getenv ("HELIX_BENCH_KEEP") == NULL)
    {
      g_autoptr(GDir) dir = g_dir_open (gw->state_dir, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = g_build_filename (gw->state_dir, name, NULL);
          g_unlink (path);
        }
      g_rmdir (gw->state_dir);
    }
  else
    g_printerr ("state directory kept: %s\n", gw->state_dir);

  g_clear_object (&gw->process);
  g_free (gw->state_dir);
  g_free (gw->log_path);
}

/* /proc/PID/status VmRSS in KiB. */
static gint64
gateway_rss_kib (Gateway *gw)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/status",
                                           g_subprocess_get_identifier (gw->process));
  g_autofree char *text = NULL;
  const char *line;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (line = strstr (text, "VmRSS:")) == NULL)
    return -1;

  return g_ascii_strtoll (line + strlen ("VmRSS:"), NULL, 10);
}

/* utime + stime from @path (/proc/PID/stat, or a thread's), in seconds. */
static double
stat_cpu_s (const char *path)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) fields = NULL;
  const char *after;

  /* The command name (field 2) may hold spaces: count from its ')'. */
  if (!g_file_get_contents (path, &text, NULL, NULL) || (after = strrchr (text, ')')) == NULL)
    return -1;

  fields = g_strsplit (after + 2, " ", 0);
  if (g_strv_length (fields) < 13)
    return -1;

  /* Fields 14 and 15 of the file: 12 and 13 after the ')' counting from 1. */
  return (g_ascii_strtod (fields[11], NULL) + g_ascii_strtod (fields[12], NULL)) /
         sysconf (_SC_CLK_TCK);
}

/* The gateway's CPU time, all its threads. */
static double
gateway_cpu_s (Gateway *gw)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/stat",
                                           g_subprocess_get_identifier (gw->process));

  return stat_cpu_s (path);
}

/* The CPU time of the gateway's main thread, which serves HTTP. */
static double
gateway_main_cpu_s (Gateway *gw)
{
  const char *pid = g_subprocess_get_identifier (gw->process);
  g_autofree char *path = g_strdup_printf ("/proc/%s/task/%s/stat", pid, pid);

  return stat_cpu_s (path);
}

/* This process's CPU seconds: the load generator's share of the machine. */
static double
self_cpu_s (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);

  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

/* Seconds the gateway's main thread was runnable but waiting for a CPU
 * (/proc/PID/schedstat): how much other processes took from it. */
static double
gateway_runqueue_s (Gateway *gw)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/schedstat",
                                           g_subprocess_get_identifier (gw->process));
  g_autofree char *text = NULL;
  g_auto(GStrv) fields = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  fields = g_strsplit (text, " ", 0);
  if (g_strv_length (fields) < 2)
    return -1;

  return g_ascii_strtod (fields[1], NULL) / 1e9;
}

/* Plain HTTP/1.1 over a blocking socket {{{1 */

/* A client's connection to the gateway, kept open between requests. */
typedef struct
{
  int      fd;          /* -1: none open */
  GString *in;          /* received and not yet taken as a response */
} HttpConn;

#define HTTP_CONN_INIT { -1, NULL }

static void
http_conn_close (HttpConn *conn)
{
  if (conn->fd >= 0)
    close (conn->fd);
  conn->fd = -1;
  if (conn->in != NULL)
    g_string_truncate (conn->in, 0);
}

static void
http_conn_clear (HttpConn *conn)
{
  http_conn_close (conn);
  if (conn->in != NULL)
    g_string_free (conn->in, TRUE);
  conn->in = NULL;
}

static gboolean
http_conn_open (HttpConn *conn)
{
  struct timeval timeout = { 30, 0 };
  int one = 1;

  if (conn->in == NULL)
    conn->in = g_string_new (NULL);

  conn->fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (conn->fd < 0)
    return FALSE;
  setsockopt (conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt (conn->fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);

  if (connect (conn->fd, (struct sockaddr *) &gateway_addr, sizeof gateway_addr) != 0)
    {
      http_conn_close (conn);
      return FALSE;
    }

  return TRUE;
}

/* Reads one response: its head, then a Content-Length body, or everything
 * until the gateway closes. Returns its status, 0 on a transport failure;
 * @response gets the body, *@keep whether the connection may be reused. */
static guint
http_conn_read (HttpConn *conn,
                GString  *response,
                gboolean *keep)
{
  char buf[16384];
  g_autofree char *head = NULL;
  const char *end;
  const char *value;
  gssize length = -1;
  gsize head_len = 0;
  guint status = 0;
  ssize_t n;

  *keep = FALSE;

  for (;;)
    {
      if (head == NULL && (end = strstr (conn->in->str, "\r\n\r\n")) != NULL)
        {
          head_len = end + 4 - conn->in->str;
          head = g_ascii_strdown (conn->in->str, head_len);
          value = strstr (head, "\r\ncontent-length: ");
          if (value != NULL)
            length = g_ascii_strtoll (value + strlen ("\r\ncontent-length: "), NULL, 10);
        }
      if (head != NULL && length >= 0 && conn->in->len >= head_len + length)
        break;

      n = recv (conn->fd, buf, sizeof buf, 0);
      if (n < 0)
        return 0;
      if (n == 0)
        {
          /* The end: a response without a length is all there. */
          if (head == NULL || length >= 0)
            return 0;
          length = conn->in->len - head_len;
          break;
        }
      g_string_append_len (conn->in, buf, n);
    }

  if (sscanf (head, "http/1.1 %u", &status) != 1)
    return 0;

  g_string_truncate (response, 0);
  g_string_append_len (response, conn->in->str + head_len, length);
  g_string_erase (conn->in, 0, head_len + length);

  *keep = strstr (head, "\r\nconnection: close\r\n") == NULL && conn->fd >= 0 &&
          conn->in->len == 0;

  return status;
}

/* One request on @conn, opened if needed and kept open when the gateway
 * keeps it (and @keep_alive): as browsers and libsoup do. A request on a
 * connection the gateway closed meanwhile is retried once on a new one.
 * Returns the status (0 on a transport failure) and the body in @response. */
static guint
http_request_on (HttpConn   *conn,
                 gboolean    keep_alive,
                 const char *method,
                 const char *path,
                 const char *token,
                 const char *body,
                 GString    *response)
{
  char head[1024];
  gsize head_len;

  head_len = g_snprintf (head, sizeof head,
                         "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s%s%s%s\r\n",
                         method, path,
                         keep_alive ? "" : "Connection: close\r\n",
                         token != NULL ? "Authorization: Bearer " : "",
                         token != NULL ? token : "", token != NULL ? "\r\n" : "",
                         body != NULL ? "Content-Type: application/json\r\n" : "",
                         body != NULL ? "Content-Length: " : "");
  if (body != NULL)
    head_len += g_snprintf (head + head_len - 2, sizeof head - head_len + 2, "%zu\r\n\r\n%s",
                            strlen (body), body) - 2;

  for (guint attempt = 0; attempt < 2; attempt++)
    {
      gboolean reused = conn->fd >= 0;
      gboolean keep;
      guint status;

      if (!reused && !http_conn_open (conn))
        return 0;

      if (send (conn->fd, head, head_len, MSG_NOSIGNAL) != (ssize_t) head_len)
        status = 0;
      else
        status = http_conn_read (conn, response, &keep);

      if (status == 0 || !keep || !keep_alive)
        http_conn_close (conn);
      if (status != 0 || !reused)
        return status;
    }

  return 0;
}

/* One request on a connection of its own. */
static guint
http_request (const char *method,
              const char *path,
              const char *token,
              const char *body,
              GString    *response)
{
  HttpConn conn = HTTP_CONN_INIT;
  guint status = http_request_on (&conn, FALSE, method, path, token, body, response);

  http_conn_clear (&conn);

  return status;
}

/* Devices and logins {{{1 */

typedef struct
{
  guint  user;
  guint  index;
  char  *name;    /* the hello device id, also the login's device name */
  char  *token;
} Device;

static Device *devices;        /* n_users × n_devices */
static char **user_sessions;   /* a session id per user, for message.put */
static guint next_login;       /* atomic */

static char *
json_get_string (const char *text,
                 const char *member)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;

  if (!json_parser_load_from_data (parser, text, -1, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  if (!JSON_NODE_HOLDS_OBJECT (root) ||
      !json_object_has_member (json_node_get_object (root), member))
    return NULL;

  return g_strdup (json_object_get_string_member (json_node_get_object (root), member));
}

static gpointer
login_thread (gpointer data)
{
  g_autoptr(GString) response = g_string_new (NULL);
  guint total = n_users * n_devices;
  guint i;

  while ((i = g_atomic_int_add (&next_login, 1)) < total)
    {
      Device *d = &devices[i];
      g_autofree char *body = NULL;
      guint status = 0;

      /* A quick run: one login per user, its devices share the token. */
      if (shared_tokens && d->index > 0)
        continue;

      body = g_strdup_printf ("{\"username\":\"bench%u\",\"password\":\"%s\",\"device\":\"%s\"}",
                              d->user, PASSWORD, d->name);

      for (guint attempt = 0; attempt < 50 && status != 200; attempt++)
        {
          status = http_request ("POST", "/api/v1/auth/login", NULL, body, response);
          if (status == 503 || status == 429)
            g_usleep (50000);
        }
      if (status != 200)
        g_error ("Login of %s failed: %u %s", d->name, status, response->str);

      d->token = json_get_string (response->str, "token");
      g_assert (d->token != NULL);
    }

  return NULL;
}

static void
login_all (void)
{
  GThread *threads[LOGINS_IN_FLIGHT];
  g_autoptr(GString) response = g_string_new (NULL);

  devices = g_new0 (Device, n_users * n_devices);
  for (guint u = 0; u < n_users; u++)
    for (guint k = 0; k < n_devices; k++)
      {
        Device *d = &devices[u * n_devices + k];

        d->user = u;
        d->index = k;
        d->name = g_strdup_printf ("bench-u%u-d%u", u, k);
      }

  for (guint i = 0; i < LOGINS_IN_FLIGHT; i++)
    threads[i] = g_thread_new ("login", login_thread, NULL);
  for (guint i = 0; i < LOGINS_IN_FLIGHT; i++)
    g_thread_join (threads[i]);
  for (guint i = 0; shared_tokens && i < n_users * n_devices; i++)
    if (devices[i].index > 0)
      devices[i].token = g_strdup (devices[i - devices[i].index].token);

  /* One session per user, made over REST, for the messages pushed. */
  user_sessions = g_new0 (char *, n_users);
  for (guint u = 0; u < n_users; u++)
    {
      guint status = http_request ("POST", "/api/v1/sessions", devices[u * n_devices].token,
                                   "{\"title\":\"Bench\"}", response);

      if (status != 201)
        g_error ("Could not make a session: %u %s", status, response->str);
      user_sessions[u] = json_get_string (response->str, "id");
      g_assert (user_sessions[u] != NULL);
    }
}

/* WebSocket clients {{{1 */

/* The WebSocket clients of the sync phases come in two kinds:
 *
 * - plain (the default): non-blocking sockets on one epoll descriptor per
 *   thread, the RFC 6455 handshake and frames written here (client frames
 *   masked, as the RFC requires; the handshake's Sec-WebSocket-Accept
 *   checked);
 * - libsoup (HELIX_BENCH_WS_CLIENT=libsoup): SoupSession and
 *   SoupWebsocketConnection on a GMainContext per thread.
 *
 * Both send the same frames and read them with the same code
 * (client_got_text()). libsoup's are the reference; but a GMainContext polls
 * every one of its sources at each wake-up, so 500 connections per thread
 * cost the load generator about half of the machine's two cores at 10,000
 * ops/s, and the gateway's main thread then waits for a CPU for 40 % of the
 * phase: the figures would measure the load generator. */

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* A frame's header, as a client sends it: 2 bytes, 8 of extended length, 4 of mask. */
#define WS_HEADER_MAX 14

typedef enum
{
  WS_OPCODE_CONTINUATION = 0x0,
  WS_OPCODE_TEXT = 0x1,
  WS_OPCODE_CLOSE = 0x8,
  WS_OPCODE_PING = 0x9,
  WS_OPCODE_PONG = 0xa,
} WsOpcode;

static gboolean libsoup_clients;

typedef struct _Worker Worker;

typedef struct
{
  Worker                  *worker;
  Device                  *device;
  gint64                   last_seq;
  guint64                  counter;   /* HLC counter */
  guint                    in_flight;
  gboolean                 synced;
  gboolean                 closed;

  /* libsoup clients */
  SoupWebsocketConnection *ws;

  /* Plain clients */
  int                      fd;
  GByteArray              *in;        /* received, not yet taken as frames */
  GByteArray              *out;       /* waiting for the socket to take it */
  GByteArray              *message;   /* the fragments of a message so far */
  char                     accept[29]; /* the Sec-WebSocket-Accept expected */
  gboolean                 connecting;
  gboolean                 open;      /* the handshake is done */
  gboolean                 close_sent;
} Client;

struct _Worker
{
  GThread      *thread;
  Client       *clients;
  guint         n_clients;
  guint         next_client;       /* round robin of the fixed rate */
  double        rate;              /* this worker's share, ops/s */
  gint64        rate_started_us;
  guint64       rate_sent;
  gboolean      flood_started;
  gboolean      drain_checked;
  gboolean      stopping;

  /* libsoup clients */
  GMainContext *context;
  GMainLoop    *loop;
  SoupSession  *session;

  /* Plain clients */
  int           epfd;
  GRand        *rand;              /* the masks of the frames sent */

  /* Counters the main thread reads while running (atomic). */
  guint64       connected;
  guint64       synced;
  guint64       sent;
  guint64       acked;
  guint64       delivered;
  guint64       ops_frames;
  guint64       errors;

  /* Read after the thread has ended. */
  GArray       *latencies_us;      /* guint32, of ops sent in the measured window */
  guint64       window_delivered;  /* deliveries of ops sent in the measured window */
  guint64       window_sent;
  guint         n_closed;
  guint         error_frames_printed;
};

static guint
count_substr (const char *text,
              gsize       len,
              const char *needle)
{
  gsize needle_len = strlen (needle);
  const char *end = text + len;
  guint n = 0;

  for (const char *p = memmem (text, len, needle, needle_len); p != NULL;
       p = memmem (p + needle_len, end - p - needle_len, needle, needle_len))
    n++;

  return n;
}

/* Checks that every "seq":N of a frame is above the connection's last one. */
static gboolean
check_seqs (Client     *c,
            const char *text,
            gsize       len)
{
  const char *end = text + len;
  gboolean ok = TRUE;

  for (const char *p = memmem (text, len, "\"seq\":", 6); p != NULL;
       p = memmem (p + 6, end - p - 6, "\"seq\":", 6))
    {
      gint64 seq = g_ascii_strtoll (p + 6, NULL, 10);

      if (seq <= c->last_seq)
        ok = FALSE;
      c->last_seq = MAX (c->last_seq, seq);
    }

  return ok;
}

static void
client_error (Client     *c,
              const char *what,
              const char *text)
{
  Worker *w = c->worker;

  atomic_add64 (&w->errors, 1);
  if (w->error_frames_printed++ < 5)
    g_printerr ("bench: %s: %s: %.300s\n", c->device->name, what, text != NULL ? text : "");
}

/* The connection closed: an error unless the benchmark is ending. */
static void
client_closed (Client     *c,
               guint       code,
               const char *reason)
{
  Worker *w = c->worker;

  if (c->closed)
    return;

  c->closed = TRUE;
  w->n_closed++;
  if (!w->stopping)
    {
      g_autofree char *what = g_strdup_printf ("closed (%u)", code);

      client_error (c, what, reason);
    }
}

static void ws_send_frame (Client     *c,
                           WsOpcode    opcode,
                           const void *payload,
                           gsize       len);

static void
client_send_text (Client     *c,
                  const char *text)
{
  if (c->ws != NULL)
    soup_websocket_connection_send_text (c->ws, text);
  else
    ws_send_frame (c, WS_OPCODE_TEXT, text, strlen (text));
}

/* The connection is open: say hello. */
static void
client_opened (Client *c)
{
  char hello[160];

  atomic_add64 (&c->worker->connected, 1);
  g_snprintf (hello, sizeof hello, "{\"type\":\"hello\",\"cursor\":0,\"device\":\"%s\"}",
              c->device->name);
  client_send_text (c, hello);
}

static void
send_push (Client *c)
{
  char op_id[37];
  char msg_id[37];
  char text[768];
  gint64 now_us = g_get_monotonic_time ();
  gint64 now_ms = g_get_real_time () / 1000;

  /* Version 7, as Helix devices make them (PROTOCOL.md): time-ordered
   * ids keep the gateway's (user, id) indexes appending. */
  helix_uuid_format_v7 (now_ms, op_id);
  helix_uuid_format_v7 (now_ms, msg_id);
  g_snprintf (text, sizeof text,
              "{\"type\":\"push\",\"ops\":[{\"op\":\"%s\",\"type\":\"message.put\",\"id\":\"%s\","
              "\"session\":\"%s\",\"hlc\":\"%" G_GINT64_FORMAT ":%" G_GUINT64_FORMAT ":%s\","
              "\"data\":{\"role\":\"user\",\"content\":\"bench @T%" G_GINT64_FORMAT "@\","
              "\"status\":\"done\"}}]}",
              op_id, msg_id, user_sessions[c->device->user], g_get_real_time () / 1000,
              c->counter++, c->device->name, now_us);

  c->in_flight++;
  atomic_add64 (&c->worker->sent, 1);
  if (now_us >= atomic_get64 (&rate_from_us) && now_us < atomic_get64 (&rate_until_us))
    atomic_add64 (&c->worker->window_sent, 1);
  client_send_text (c, text);
}

/* The send time of an op, from its content "bench @T<us>@". */
static void
record_deliveries (Client     *c,
                   const char *text,
                   gsize       len,
                   gint64      now_us)
{
  Worker *w = c->worker;
  const char *end = text + len;
  gint64 from = atomic_get64 (&rate_from_us);
  gint64 until = atomic_get64 (&rate_until_us);
  guint n = 0;

  for (const char *p = memmem (text, len, "@T", 2); p != NULL;
       p = memmem (p + 2, end - p - 2, "@T", 2))
    {
      gint64 sent_us = g_ascii_strtoll (p + 2, NULL, 10);

      n++;
      if (sent_us >= from && sent_us < until)
        {
          guint32 latency = (guint32) MIN (now_us - sent_us, G_MAXUINT32);

          g_array_append_val (w->latencies_us, latency);
          atomic_add64 (&w->window_delivered, 1);
        }
    }

  atomic_add64 (&w->delivered, n);
}

/* A text message from the gateway. */
static void
client_got_text (Client     *c,
                 const char *text,
                 gsize       len)
{
  Worker *w = c->worker;
  gint64 now_us = g_get_monotonic_time ();
  /* The frame's type is its first member (the gateway builds it so). */
  const char *type_at = memmem (text, MIN (len, 40), "\"type\":\"", 8);
  const char *kind = type_at != NULL ? type_at + 8 : "";

  if (g_str_has_prefix (kind, "ops\""))
    {
      if (!check_seqs (c, text, len))
        client_error (c, "seq out of order", text);
      record_deliveries (c, text, len, now_us);
      atomic_add64 (&w->ops_frames, 1);
    }
  else if (g_str_has_prefix (kind, "ack\""))
    {
      guint n = count_substr (text, len, "\"seq\":");

      if (!check_seqs (c, text, len))
        client_error (c, "ack seq out of order", text);
      c->in_flight -= MIN (c->in_flight, n);
      atomic_add64 (&w->acked, n);
      if (g_atomic_int_get (&phase) == PHASE_FLOOD)
        while (c->in_flight < window)
          send_push (c);
    }
  else if (g_str_has_prefix (kind, "welcome\""))
    ;
  else if (g_str_has_prefix (kind, "synced\""))
    {
      c->synced = TRUE;
      c->last_seq = MAX (c->last_seq, 0);
      atomic_add64 (&w->synced, 1);
    }
  else if (g_str_has_prefix (kind, "error\""))
    client_error (c, "error frame", text);
  else if (g_str_has_prefix (kind, "ping\"") || g_str_has_prefix (kind, "pong\""))
    ;
  else
    client_error (c, "unexpected frame", text);
}

/* Every tick_ms: sends the pushes that are due at the fixed rate. */
static void
worker_tick (Worker *w)
{
  Phase p = g_atomic_int_get (&phase);
  gint64 now_us = g_get_monotonic_time ();

  if (p == PHASE_RATE)
    {
      guint64 due;

      if (w->rate_started_us == 0)
        w->rate_started_us = now_us;

      due = (guint64) (w->rate * (now_us - w->rate_started_us) / G_USEC_PER_SEC);
      for (guint tries = 0; w->rate_sent < due && tries < w->n_clients; tries++)
        {
          Client *c = &w->clients[w->next_client];

          w->next_client = (w->next_client + 1) % w->n_clients;
          if (c->closed || !c->synced)
            continue;
          send_push (c);
          w->rate_sent++;
        }
      /* Behind by more than a round of clients: the gateway is slower than the rate;
       * the backlog is kept and sent as fast as it goes (open loop). */
    }
  else if (p == PHASE_CHECK && !w->drain_checked)
    {
      /* Everything sent at the fixed rate has had time to be acknowledged. */
      w->drain_checked = TRUE;
      for (guint i = 0; i < w->n_clients; i++)
        if (w->clients[i].in_flight > 0)
          client_error (&w->clients[i], "pushes not acknowledged", NULL);
    }
  else if (p == PHASE_FLOOD && !w->flood_started)
    {
      w->flood_started = TRUE;
      for (guint i = 0; i < w->n_clients; i++)
        {
          Client *c = &w->clients[i];

          if (!c->closed && c->synced)
            while (c->in_flight < window)
              send_push (c);
        }
    }
}

/* Plain clients {{{2 */

static void
ws_update_events (Client *c)
{
  struct epoll_event event = { .events = EPOLLIN, .data.ptr = c };

  if (c->fd < 0)
    return;
  if (c->connecting || (c->out != NULL && c->out->len > 0))
    event.events |= EPOLLOUT;
  if (epoll_ctl (c->worker->epfd, EPOLL_CTL_MOD, c->fd, &event) != 0)
    g_error ("epoll_ctl: %s", g_strerror (errno));
}

/* The socket is gone (the gateway closed it, or the client after the
 * closing handshake): @code and @reason are those of the close frame, if any. */
static void
ws_lost (Client     *c,
         guint       code,
         const char *reason)
{
  if (c->fd >= 0)
    {
      epoll_ctl (c->worker->epfd, EPOLL_CTL_DEL, c->fd, NULL);
      close (c->fd);
      c->fd = -1;
    }
  client_closed (c, code, reason);
}

/* Writes what the socket takes now; keeps the rest in c->out. */
static void
ws_write (Client        *c,
          const guint8  *data,
          gsize          len)
{
  gboolean queued = c->out != NULL && c->out->len > 0;

  if (c->fd < 0)
    return;

  if (!queued && !c->connecting)
    {
      ssize_t n = send (c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

      if (n < 0 && errno != EAGAIN && errno != EINTR)
        {
          ws_lost (c, 1006, g_strerror (errno));
          return;
        }
      n = MAX (n, 0);
      data += n;
      len -= n;
      if (len == 0)
        return;
    }

  if (c->out == NULL)
    c->out = g_byte_array_new ();
  g_byte_array_append (c->out, data, len);
  if (!queued)
    ws_update_events (c);
}

/* A masked frame, as clients must send them (RFC 6455, 5.3). */
static void
ws_send_frame (Client     *c,
               WsOpcode    opcode,
               const void *payload,
               gsize       len)
{
  guint8 stack[WS_HEADER_MAX + 1024];
  g_autofree guint8 *allocated = NULL;
  guint8 *frame = len + WS_HEADER_MAX <= sizeof stack ? stack
                  : (allocated = g_malloc (len + WS_HEADER_MAX));
  guint32 mask_value = g_rand_int (c->worker->rand);
  guint8 mask[4];
  gsize n = 0;

  memcpy (mask, &mask_value, 4);
  frame[n++] = 0x80 | opcode;
  if (len < 126)
    frame[n++] = 0x80 | len;
  else if (len <= G_MAXUINT16)
    {
      frame[n++] = 0x80 | 126;
      frame[n++] = len >> 8;
      frame[n++] = len & 0xff;
    }
  else
    {
      frame[n++] = 0x80 | 127;
      for (int shift = 56; shift >= 0; shift -= 8)
        frame[n++] = ((guint64) len >> shift) & 0xff;
    }
  memcpy (frame + n, mask, 4);
  n += 4;
  for (gsize i = 0; i < len; i++)
    frame[n + i] = ((const guint8 *) payload)[i] ^ mask[i & 3];

  ws_write (c, frame, n + len);
}

static void
ws_connect (Client *c)
{
  struct epoll_event event = { .events = EPOLLOUT, .data.ptr = c };
  int one = 1;

  c->fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0)
    g_error ("socket: %s", g_strerror (errno));
  setsockopt (c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->in = g_byte_array_new ();
  c->connecting = TRUE;

  if (connect (c->fd, (struct sockaddr *) &gateway_addr, sizeof gateway_addr) != 0 &&
      errno != EINPROGRESS)
    g_error ("connect: %s", g_strerror (errno));
  if (epoll_ctl (c->worker->epfd, EPOLL_CTL_ADD, c->fd, &event) != 0)
    g_error ("epoll_ctl: %s", g_strerror (errno));
}

/* Connected: the opening handshake (RFC 6455, 4.1). */
static void
ws_send_handshake (Client *c)
{
  g_autoptr(GChecksum) sha1 = g_checksum_new (G_CHECKSUM_SHA1);
  g_autofree char *key = NULL;
  g_autofree char *accept = NULL;
  g_autofree char *request = NULL;
  guint8 nonce[16];
  guint8 digest[20];
  gsize digest_len = sizeof digest;
  int error = 0;
  socklen_t error_len = sizeof error;

  if (getsockopt (c->fd, SOL_SOCKET, SO_ERROR, &error, &error_len) != 0 || error != 0)
    {
      g_autofree char *reason = g_strconcat ("could not connect: ", g_strerror (error), NULL);

      ws_lost (c, 1006, reason);
      return;
    }
  c->connecting = FALSE;

  for (guint i = 0; i < sizeof nonce; i += 4)
    {
      guint32 r = g_rand_int (c->worker->rand);

      memcpy (nonce + i, &r, 4);
    }
  key = g_base64_encode (nonce, sizeof nonce);
  g_checksum_update (sha1, (const guchar *) key, -1);
  g_checksum_update (sha1, (const guchar *) WS_GUID, -1);
  g_checksum_get_digest (sha1, digest, &digest_len);
  accept = g_base64_encode (digest, digest_len);
  g_strlcpy (c->accept, accept, sizeof c->accept);

  request = g_strdup_printf ("GET /api/v1/sync HTTP/1.1\r\n"
                             "Host: %s\r\n"
                             "Upgrade: websocket\r\n"
                             "Connection: Upgrade\r\n"
                             "Sec-WebSocket-Key: %s\r\n"
                             "Sec-WebSocket-Version: 13\r\n"
                             "Authorization: Bearer %s\r\n"
                             "\r\n",
                             gateway_base + strlen ("http://"), key, c->device->token);
  ws_write (c, (const guint8 *) request, strlen (request));
  ws_update_events (c);
}

/* The handshake's response, once its head is in c->in: FALSE (the
 * connection lost) when the gateway refused, or answered wrongly. */
static gboolean
ws_read_handshake (Client *c,
                   gsize   head_len)
{
  g_autofree char *head = g_ascii_strdown ((const char *) c->in->data, head_len);
  g_autofree char *expected = g_strdup_printf ("\r\nsec-websocket-accept: %s\r\n", c->accept);
  g_autofree char *accept_down = g_ascii_strdown (expected, -1);

  if (!g_str_has_prefix (head, "http/1.1 101 ") || strstr (head, accept_down) == NULL)
    {
      g_autofree char *first = g_strndup ((const char *) c->in->data,
                                          strcspn ((const char *) c->in->data, "\r"));
      g_autofree char *reason = g_strconcat ("handshake refused: ", first, NULL);

      ws_lost (c, 1006, reason);
      return FALSE;
    }

  g_byte_array_remove_range (c->in, 0, head_len);
  c->open = TRUE;
  client_opened (c);

  return TRUE;
}

/* One frame from the gateway: FALSE when the connection is done. */
static gboolean
ws_got_frame (Client       *c,
              guint8        first,
              const guint8 *payload,
              gsize         len)
{
  WsOpcode opcode = first & 0x0f;
  gboolean fin = (first & 0x80) != 0;

  switch (opcode)
    {
    case WS_OPCODE_TEXT:
    case WS_OPCODE_CONTINUATION:
      if ((opcode == WS_OPCODE_TEXT) == (c->message != NULL))
        {
          client_error (c, "fragments out of order", NULL);
          return FALSE;
        }
      if (fin && c->message == NULL)
        {
          client_got_text (c, (const char *) payload, len);
          return TRUE;
        }
      if (c->message == NULL)
        c->message = g_byte_array_new ();
      g_byte_array_append (c->message, payload, len);
      if (c->message->len > HELIX_SYNC_MAX_FRAME_BYTES)
        {
          client_error (c, "message too large", NULL);
          return FALSE;
        }
      if (fin)
        {
          g_autoptr(GByteArray) message = g_steal_pointer (&c->message);

          client_got_text (c, (const char *) message->data, message->len);
        }
      return TRUE;

    case WS_OPCODE_PING:
      ws_send_frame (c, WS_OPCODE_PONG, payload, len);
      return TRUE;

    case WS_OPCODE_PONG:
      return TRUE;

    case WS_OPCODE_CLOSE:
      {
        guint code = len >= 2 ? (payload[0] << 8) | payload[1] : 1005;
        g_autofree char *reason = len > 2 ? g_strndup ((const char *) payload + 2, len - 2)
                                          : NULL;

        /* Answered, then the socket closed: the gateway closes its side too. */
        if (!c->close_sent)
          ws_send_frame (c, WS_OPCODE_CLOSE, payload, MIN (len, 2));
        ws_lost (c, code, reason);
        return FALSE;
      }

    default:
      client_error (c, "unknown opcode", NULL);
      return FALSE;
    }
}

/* Takes the complete frames out of c->in. */
static void
ws_read_frames (Client *c)
{
  gsize at = 0;

  while (c->fd >= 0)
    {
      const guint8 *p = c->in->data + at;
      gsize avail = c->in->len - at;
      gsize header = 2;
      guint64 len;

      if (avail < 2)
        break;
      if (p[1] & 0x80)
        {
          client_error (c, "masked frame from the server", NULL);
          ws_lost (c, 1002, NULL);
          return;
        }
      len = p[1] & 0x7f;
      if (len == 126)
        {
          header = 4;
          if (avail < header)
            break;
          len = (p[2] << 8) | p[3];
        }
      else if (len == 127)
        {
          header = 10;
          if (avail < header)
            break;
          len = 0;
          for (guint i = 0; i < 8; i++)
            len = (len << 8) | p[2 + i];
        }
      if (len > HELIX_SYNC_MAX_FRAME_BYTES)
        {
          client_error (c, "frame too large", NULL);
          ws_lost (c, 1009, NULL);
          return;
        }
      if (avail < header + len)
        break;

      at += header + len;
      if (!ws_got_frame (c, p[0], p + header, len))
        {
          if (c->fd >= 0)
            ws_lost (c, 1002, NULL);
          return;
        }
    }

  if (at > 0 && c->in != NULL)
    g_byte_array_remove_range (c->in, 0, at);
}

static void
ws_readable (Client *c)
{
  guint8 buf[65536];
  ssize_t n = recv (c->fd, buf, sizeof buf, MSG_DONTWAIT);

  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0)
    {
      ws_lost (c, 1006, n < 0 ? g_strerror (errno) : "the gateway closed the connection");
      return;
    }
  g_byte_array_append (c->in, buf, n);

  if (!c->open)
    {
      const guint8 *end = memmem (c->in->data, c->in->len, "\r\n\r\n", 4);

      if (end == NULL)
        {
          if (c->in->len > 16384)
            ws_lost (c, 1006, "handshake response too large");
          return;
        }
      if (!ws_read_handshake (c, end + 4 - c->in->data))
        return;
    }

  ws_read_frames (c);
}

static void
ws_writable (Client *c)
{
  ssize_t n;

  if (c->connecting)
    {
      ws_send_handshake (c);
      return;
    }
  if (c->out == NULL || c->out->len == 0)
    return;

  n = send (c->fd, c->out->data, c->out->len, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0 && errno != EAGAIN && errno != EINTR)
    {
      ws_lost (c, 1006, g_strerror (errno));
      return;
    }
  if (n > 0)
    g_byte_array_remove_range (c->out, 0, n);
  if (c->out->len == 0)
    ws_update_events (c);
}

/* Starts the closing handshake on every open connection. */
static void
ws_worker_stop (Worker *w)
{
  w->stopping = TRUE;
  for (guint i = 0; i < w->n_clients; i++)
    {
      Client *c = &w->clients[i];
      const guint8 normal[2] = { 1000 >> 8, 1000 & 0xff };

      if (c->fd < 0)
        continue;
      if (!c->open)
        {
          ws_lost (c, 1006, NULL);
          continue;
        }
      c->close_sent = TRUE;
      ws_send_frame (c, WS_OPCODE_CLOSE, normal, sizeof normal);
    }
}

static void
ws_worker_run (Worker *w)
{
  struct epoll_event events[256];
  gint64 next_tick = g_get_monotonic_time ();
  gint64 stop_deadline = 0;

  w->epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (w->epfd < 0)
    g_error ("epoll_create1: %s", g_strerror (errno));
  w->rand = g_rand_new ();

  for (guint i = 0; i < w->n_clients; i++)
    ws_connect (&w->clients[i]);

  while (!w->stopping || w->n_closed < w->n_clients)
    {
      gint64 now = g_get_monotonic_time ();
      int timeout = next_tick > now ? (int) ((next_tick - now + 999) / 1000) : 0;
      int n = epoll_wait (w->epfd, events, G_N_ELEMENTS (events), timeout);

      if (n < 0 && errno != EINTR)
        g_error ("epoll_wait: %s", g_strerror (errno));

      for (int i = 0; i < n; i++)
        {
          Client *c = events[i].data.ptr;

          /* An earlier event of this round may have closed it. */
          if (c->fd < 0)
            continue;
          if (events[i].events & (EPOLLOUT | EPOLLERR))
            ws_writable (c);
          if (c->fd >= 0 && events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            ws_readable (c);
        }

      now = g_get_monotonic_time ();
      if (now < next_tick)
        continue;
      next_tick = now + tick_ms * 1000;

      worker_tick (w);
      if (g_atomic_int_get (&phase) == PHASE_STOP && !w->stopping)
        {
          ws_worker_stop (w);
          stop_deadline = now + 10 * G_USEC_PER_SEC;
        }
      else if (w->stopping && now > stop_deadline)
        {
          /* The closing handshakes that did not finish. */
          for (guint i = 0; i < w->n_clients; i++)
            if (w->clients[i].fd >= 0)
              {
                client_error (&w->clients[i], "no close frame in answer", NULL);
                ws_lost (&w->clients[i], 1006, NULL);
              }
        }
    }

  for (guint i = 0; i < w->n_clients; i++)
    {
      Client *c = &w->clients[i];

      g_clear_pointer (&c->in, g_byte_array_unref);
      g_clear_pointer (&c->out, g_byte_array_unref);
      g_clear_pointer (&c->message, g_byte_array_unref);
    }
  close (w->epfd);
  g_rand_free (w->rand);
}

/* libsoup clients {{{2 */

static void
on_ws_message (SoupWebsocketConnection *ws,
               gint                     type,
               GBytes                  *message,
               Client                  *c)
{
  gsize len;
  const char *text = g_bytes_get_data (message, &len);

  client_got_text (c, text, len);
}

static void
on_ws_closed (SoupWebsocketConnection *ws,
              Client                  *c)
{
  client_closed (c, soup_websocket_connection_get_close_code (ws),
                 soup_websocket_connection_get_close_data (ws));
  if (c->worker->stopping && c->worker->n_closed == c->worker->n_clients)
    g_main_loop_quit (c->worker->loop);
}

static void
connected_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  Client *c = data;
  g_autoptr(GError) error = NULL;

  c->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  if (c->ws == NULL)
    {
      client_error (c, "could not connect", error->message);
      c->closed = TRUE;
      c->worker->n_closed++;
      return;
    }

  /* Frames may be up to 1 MiB (PROTOCOL.md); libsoup allows 128 KiB by default. */
  soup_websocket_connection_set_max_incoming_payload_size (c->ws, HELIX_SYNC_MAX_FRAME_BYTES);
  g_signal_connect (c->ws, "message", G_CALLBACK (on_ws_message), c);
  g_signal_connect (c->ws, "closed", G_CALLBACK (on_ws_closed), c);
  client_opened (c);
}

static void
client_connect (Client *c)
{
  g_autofree char *uri = g_strconcat (gateway_base, "/api/v1/sync", NULL);
  g_autofree char *auth = g_strconcat ("Bearer ", c->device->token, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", uri);

  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  soup_session_websocket_connect_async (c->worker->session, msg, NULL, NULL, G_PRIORITY_DEFAULT,
                                        NULL, connected_cb, c);
}

static void
worker_stop (Worker *w)
{
  w->stopping = TRUE;
  if (w->n_closed == w->n_clients)
    {
      g_main_loop_quit (w->loop);
      return;
    }

  for (guint i = 0; i < w->n_clients; i++)
    {
      Client *c = &w->clients[i];

      if (!c->closed && c->ws != NULL &&
          soup_websocket_connection_get_state (c->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (c->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    }
}

static gboolean
tick_cb (gpointer data)
{
  Worker *w = data;

  worker_tick (w);
  if (g_atomic_int_get (&phase) == PHASE_STOP && !w->stopping)
    worker_stop (w);

  return G_SOURCE_CONTINUE;
}

static void
soup_worker_run (Worker *w)
{
  g_autoptr(GSource) tick = NULL;

  w->context = g_main_context_new ();
  w->loop = g_main_loop_new (w->context, FALSE);
  g_main_context_push_thread_default (w->context);

  w->session = soup_session_new_with_options ("max-conns", 65536, "max-conns-per-host", 65536,
                                              "timeout", 60, NULL);
  for (guint i = 0; i < w->n_clients; i++)
    client_connect (&w->clients[i]);

  tick = g_timeout_source_new (tick_ms);
  g_source_set_callback (tick, tick_cb, w, NULL);
  g_source_attach (tick, w->context);

  g_main_loop_run (w->loop);

  g_source_destroy (tick);
  for (guint i = 0; i < w->n_clients; i++)
    {
      if (w->clients[i].ws != NULL)
        g_signal_handlers_disconnect_by_data (w->clients[i].ws, &w->clients[i]);
      g_clear_object (&w->clients[i].ws);
    }
  g_clear_object (&w->session);
  while (g_main_context_iteration (w->context, FALSE))
    ;
  g_main_context_pop_thread_default (w->context);
  g_main_loop_unref (w->loop);
  g_main_context_unref (w->context);
}

static gpointer
worker_thread (gpointer data)
{
  Worker *w = data;

  if (libsoup_clients)
    soup_worker_run (w);
  else
    ws_worker_run (w);

  return NULL;
}

/* The phases {{{1 */

static Worker *workers;

static guint64
sum_counter (gsize offset)
{
  guint64 total = 0;

  for (guint i = 0; i < n_threads; i++)
    total += atomic_read_u64 ((const guint64 *) ((const char *) &workers[i] + offset));

  return total;
}

#define SUM(member) sum_counter (G_STRUCT_OFFSET (Worker, member))

static int
compare_u32 (gconstpointer a,
             gconstpointer b)
{
  guint32 x = *(const guint32 *) a;
  guint32 y = *(const guint32 *) b;

  return x < y ? -1 : x > y;
}

static double
percentile_ms (GArray *values,
               double  p)
{
  gsize i;

  if (values->len == 0)
    return -1;

  i = MIN (values->len - 1, (gsize) (p * values->len));
  return g_array_index (values, guint32, i) / 1000.0;
}

static void
wait_until (const char *what,
            gsize       offset,
            guint64     target,
            guint       seconds)
{
  gint64 deadline = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;

  while (sum_counter (offset) < target)
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("Timed out waiting for %s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT,
                 what, sum_counter (offset), target);
      g_usleep (10000);
    }
}

static void
bench_sync (Gateway *gw)
{
  guint total = n_users * n_devices;
  g_autoptr(GArray) latencies = g_array_new (FALSE, FALSE, sizeof (guint32));
  gint64 rss_before, rss_idle;
  guint64 acked0, acked1, delivered0, delivered1, frames0, frames1, errors_rate;
  guint64 window_sent = 0, window_delivered = 0;
  gint64 t0, t1;
  double cpu0, cpu1, self0, self1;
  double runq0, runq1;
  double steal0, steal1;
  guint64 missing;

  /* Let the logins' memory settle before the baseline. */
  g_usleep (500000);
  rss_before = gateway_rss_kib (gw);

  workers = g_new0 (Worker, n_threads);
  for (guint i = 0; i < n_threads; i++)
    {
      Worker *w = &workers[i];

      w->latencies_us = g_array_new (FALSE, FALSE, sizeof (guint32));
      w->rate = (double) rate / n_threads;
    }

  /* All the devices of a user in one thread; users spread over the threads. */
  for (guint i = 0; i < n_threads; i++)
    {
      Worker *w = &workers[i];
      guint n = 0;

      w->clients = g_new0 (Client, total);
      for (guint u = i; u < n_users; u += n_threads)
        for (guint k = 0; k < n_devices; k++)
          {
            Client *c = &w->clients[n++];

            c->worker = w;
            c->device = &devices[u * n_devices + k];
            c->fd = -1;
          }
      w->n_clients = n;
    }

  atomic_set64 (&rate_from_us, G_MAXINT64);
  atomic_set64 (&rate_until_us, G_MAXINT64);
  for (guint i = 0; i < n_threads; i++)
    workers[i].thread = g_thread_new ("ws-client", worker_thread, &workers[i]);

  wait_until ("the WebSockets to open", G_STRUCT_OFFSET (Worker, connected), total, 120);
  wait_until ("the WebSockets to sync", G_STRUCT_OFFSET (Worker, synced), total, 120);
  g_atomic_int_set (&phase, PHASE_IDLE);
  g_usleep (1000000);
  rss_idle = gateway_rss_kib (gw);
  g_print ("BENCH ws_idle_bytes_per_conn %.0f bytes\n",
           (double) (rss_idle - rss_before) * 1024 / total);

  /* Fixed rate: warm up, then measure. */
  t0 = g_get_monotonic_time ();
  atomic_set64 (&rate_from_us, t0 + WARMUP_US);
  atomic_set64 (&rate_until_us, t0 + WARMUP_US + rate_seconds * G_USEC_PER_SEC);
  g_atomic_int_set (&phase, PHASE_RATE);
  g_usleep (WARMUP_US);
  acked0 = SUM (acked);
  delivered0 = SUM (delivered);
  frames0 = SUM (ops_frames);
  cpu0 = gateway_cpu_s (gw);
  self0 = self_cpu_s ();
  runq0 = gateway_runqueue_s (gw);
  steal0 = helix_bench_steal_s ();
  t0 = g_get_monotonic_time ();
  g_usleep (rate_seconds * G_USEC_PER_SEC);
  acked1 = SUM (acked);
  delivered1 = SUM (delivered);
  frames1 = SUM (ops_frames);
  cpu1 = gateway_cpu_s (gw);
  self1 = self_cpu_s ();
  runq1 = gateway_runqueue_s (gw);
  steal1 = helix_bench_steal_s ();
  t1 = g_get_monotonic_time ();
  g_atomic_int_set (&phase, PHASE_DRAIN);

  /* Everything sent is acknowledged and delivered, late or not: what is
   * still missing after the drain is an error, what came late is latency. */
  {
    gint64 drain_start = g_get_monotonic_time ();
    gint64 deadline = drain_start + DRAIN_MAX_US;

    while (g_get_monotonic_time () < deadline &&
           (SUM (acked) < SUM (sent) ||
            SUM (window_delivered) < SUM (window_sent) * (n_devices - 1)))
      g_usleep (50000);
    g_print ("BENCH sync_fanout_drain_s %.1f s\n",
             (g_get_monotonic_time () - drain_start) / (double) G_USEC_PER_SEC);
    g_usleep (DRAIN_US);
  }
  g_atomic_int_set (&phase, PHASE_CHECK);
  g_usleep (100000);
  errors_rate = SUM (errors);

  g_print ("BENCH sync_fanout_ops_per_s %.0f ops/s\n",
           (acked1 - acked0) * (double) G_USEC_PER_SEC / (t1 - t0));
  g_print ("BENCH sync_fanout_rate_msgs_per_s %.0f msgs/s\n",
           (delivered1 - delivered0) * (double) G_USEC_PER_SEC / (t1 - t0));
  g_print ("BENCH sync_fanout_ops_per_frame %.2f ops\n",
           (delivered1 - delivered0) / (double) MAX (frames1 - frames0, 1));
  g_print ("BENCH gateway_cpu_s %.2f s\n", cpu1 - cpu0);
  g_print ("BENCH gateway_cpu_us_per_op %.1f us\n",
           (cpu1 - cpu0) * G_USEC_PER_SEC / (double) MAX (acked1 - acked0, 1));
  g_print ("BENCH gateway_runqueue_wait_s %.2f s\n", runq1 - runq0);
  g_print ("BENCH loadgen_cpu_s %.2f s\n", self1 - self0);
  g_print ("BENCH sync_fanout_steal_s %.2f s\n", steal1 - steal0);
  g_print ("BENCH sync_fanout_seconds %.1f s\n", (t1 - t0) / (double) G_USEC_PER_SEC);

  /* Saturation: every client keeps `window` pushes in flight. */
  g_atomic_int_set (&phase, PHASE_FLOOD);
  g_usleep (WARMUP_US);
  acked0 = SUM (acked);
  delivered0 = SUM (delivered);
  frames0 = SUM (ops_frames);
  steal0 = helix_bench_steal_s ();
  t0 = g_get_monotonic_time ();
  g_usleep (5 * G_USEC_PER_SEC);
  acked1 = SUM (acked);
  delivered1 = SUM (delivered);
  frames1 = SUM (ops_frames);
  t1 = g_get_monotonic_time ();
  g_print ("BENCH sync_fanout_msgs_per_s %.0f msgs/s\n",
           (delivered1 - delivered0) * (double) G_USEC_PER_SEC / (t1 - t0));
  g_print ("BENCH sync_flood_ops_per_s %.0f ops/s\n",
           (acked1 - acked0) * (double) G_USEC_PER_SEC / (t1 - t0));
  g_print ("BENCH sync_flood_ops_per_frame %.2f ops\n",
           (delivered1 - delivered0) / (double) MAX (frames1 - frames0, 1));
  g_print ("BENCH sync_flood_steal_s %.2f s\n", helix_bench_steal_s () - steal0);
  g_print ("BENCH gateway_rss_kib %" G_GINT64_FORMAT " KiB\n", gateway_rss_kib (gw));

  g_atomic_int_set (&phase, PHASE_STOP);
  for (guint i = 0; i < n_threads; i++)
    {
      Worker *w = &workers[i];

      g_thread_join (w->thread);
      g_array_append_vals (latencies, w->latencies_us->data, w->latencies_us->len);
      window_sent += w->window_sent;
      window_delivered += w->window_delivered;
    }

  /* Every op sent in the window reaches the user's other devices. */
  missing = window_sent * (n_devices - 1) > window_delivered ?
            window_sent * (n_devices - 1) - window_delivered : 0;
  if (missing > 0)
    g_printerr ("bench: %" G_GUINT64_FORMAT " deliveries missing of %" G_GUINT64_FORMAT "\n",
                missing, window_sent * (n_devices - 1));

  g_array_sort (latencies, compare_u32);
  g_print ("BENCH sync_fanout_p50_ms %.2f ms\n", percentile_ms (latencies, 0.50));
  g_print ("BENCH sync_fanout_p99_ms %.2f ms\n", percentile_ms (latencies, 0.99));
  g_print ("BENCH sync_fanout_errors %" G_GUINT64_FORMAT " errors\n", errors_rate + missing);

  for (guint i = 0; i < n_threads; i++)
    {
      Worker *w = &workers[i];

      g_array_unref (w->latencies_us);
      g_free (w->clients);
    }
  g_clear_pointer (&workers, g_free);
}

/* HTTP {{{1 */

typedef struct
{
  const char *path;
  const char *token;
  gint64      until_us;
  GArray     *latencies_us;
  guint       ok;
  guint       failed;
} HttpRun;

static gpointer
http_thread (gpointer data)
{
  HttpRun *run = data;
  g_autoptr(GString) response = g_string_new (NULL);
  HttpConn conn = HTTP_CONN_INIT;

  while (g_get_monotonic_time () < run->until_us)
    {
      gint64 started = g_get_monotonic_time ();
      guint status = http_request_on (&conn, http_keepalive, "GET", run->path, run->token, NULL,
                                      response);
      guint32 latency = (guint32) (g_get_monotonic_time () - started);

      if (status == 200)
        {
          run->ok++;
          g_array_append_val (run->latencies_us, latency);
        }
      else if (run->failed++ < 3)
        g_printerr ("bench: GET %s: %u %.200s\n", run->path, status, response->str);
    }
  http_conn_clear (&conn);

  return NULL;
}

static void
bench_http (Gateway    *gw,
            const char *name,
            const char *path,
            const char *token)
{
  g_autofree HttpRun *runs = g_new0 (HttpRun, http_threads);
  g_autofree GThread **threads = g_new0 (GThread *, http_threads);
  g_autoptr(GArray) latencies = g_array_new (FALSE, FALSE, sizeof (guint32));
  gint64 started = g_get_monotonic_time ();
  gint64 until = started + http_seconds * G_USEC_PER_SEC;
  guint ok = 0, failed = 0;
  double cpu0 = gateway_main_cpu_s (gw);
  double steal0 = helix_bench_steal_s ();
  double cpu1;

  for (guint i = 0; i < http_threads; i++)
    {
      runs[i].path = path;
      runs[i].token = token;
      runs[i].until_us = until;
      runs[i].latencies_us = g_array_new (FALSE, FALSE, sizeof (guint32));
      threads[i] = g_thread_new ("http-client", http_thread, &runs[i]);
    }
  for (guint i = 0; i < http_threads; i++)
    {
      g_thread_join (threads[i]);
      g_array_append_vals (latencies, runs[i].latencies_us->data, runs[i].latencies_us->len);
      g_array_unref (runs[i].latencies_us);
      ok += runs[i].ok;
      failed += runs[i].failed;
    }
  cpu1 = gateway_main_cpu_s (gw);

  g_array_sort (latencies, compare_u32);
  g_print ("BENCH http_%s_rps %.0f requests/s\n", name,
           ok * (double) G_USEC_PER_SEC / (g_get_monotonic_time () - started));
  g_print ("BENCH http_%s_p99_ms %.2f ms\n", name, percentile_ms (latencies, 0.99));
  g_print ("BENCH http_%s_errors %u errors\n", name, failed);
  /* Less sensitive than the rate to what else runs on the machine (the
   * rate is shared with the clients, and the writer thread may still be
   * storing what the sync phases sent). */
  g_print ("BENCH http_%s_gateway_cpu_us %.1f us/request\n", name,
           ok > 0 ? (cpu1 - cpu0) * G_USEC_PER_SEC / ok : -1.0);
  g_print ("BENCH http_%s_steal_s %.2f s\n", name, helix_bench_steal_s () - steal0);
}

/* main {{{1 */

/* The gateway's cost of reading one push frame as send_push() makes them. */
static void
bench_push_parse (void)
{
  const guint n = 50000;
  g_autofree char *text = NULL;
  gint64 t0;

  text = g_strdup_printf ("{\"type\":\"push\",\"ops\":[{\"op\":\"%s\",\"type\":\"message.put\","
                          "\"id\":\"%s\",\"session\":\"%s\",\"hlc\":\"1763769600000:17:dev-0-3\","
                          "\"data\":{\"role\":\"user\",\"content\":\"bench @T123456789@\","
                          "\"status\":\"done\"}}]}",
                          "0194f1d2-6b7a-7c3e-9a1b-2c3d4e5f6a7b", "0194f1d2-6b7a-7c3e-9a1b-2c3d4e5f6a7c",
                          "0194f1d2-6b7a-7c3e-9a1b-2c3d4e5f6a7d");

  t0 = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(HelixSyncFrame) frame = helix_sync_frame_parse_full (text, strlen (text), NULL,
                                                                     &error);

      g_assert_no_error (error);
    }
  g_print ("BENCH sync_push_parse_us %.2f us\n", (g_get_monotonic_time () - t0) / (double) n);

  t0 = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();

      if (!json_parser_load_from_data (parser, text, -1, NULL))
        g_assert_not_reached ();
    }
  g_print ("BENCH sync_push_jsonglib_us %.2f us\n", (g_get_monotonic_time () - t0) / (double) n);
}

int
main (int   argc,
      char *argv[])
{
  Gateway gw = { 0 };
  gint64 started;

  n_devices = MAX (2, env_uint ("HELIX_BENCH_DEVICES", n_devices));
  n_users = env_uint ("HELIX_BENCH_USERS", n_users);
  if (g_getenv ("HELIX_BENCH_CLIENTS") != NULL)
    n_users = MAX (1, env_uint ("HELIX_BENCH_CLIENTS", 1000) / n_devices);
  rate = env_uint ("HELIX_BENCH_RATE", rate);
  rate_seconds = env_uint ("HELIX_BENCH_SECONDS", rate_seconds);
  window = env_uint ("HELIX_BENCH_WINDOW", window);
  n_threads = MIN (env_uint ("HELIX_BENCH_THREADS", n_threads), n_users);
  tick_ms = MAX (1, env_uint ("HELIX_BENCH_TICK_MS", tick_ms));
  http_threads = env_uint ("HELIX_BENCH_HTTP_THREADS", http_threads);
  http_seconds = env_uint ("HELIX_BENCH_HTTP_SECONDS", http_seconds);
  shared_tokens = g_strcmp0 (g_getenv ("HELIX_BENCH_SHARED_TOKENS"), "1") == 0;
  http_keepalive = g_strcmp0 (g_getenv ("HELIX_BENCH_HTTP_KEEPALIVE"), "0") != 0;
  libsoup_clients = g_strcmp0 (g_getenv ("HELIX_BENCH_WS_CLIENT"), "libsoup") == 0;

  /* Enough descriptors for the WebSockets. */
  {
    struct rlimit limit;

    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max)
      {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
      }
  }

  g_printerr ("bench: %u users x %u devices, %u ops/s for %u s, window %u, %u %s client "
              "threads\n", n_users, n_devices, rate, rate_seconds, window, n_threads,
              libsoup_clients ? "libsoup" : "plain");

  bench_push_parse ();

  started = g_get_monotonic_time ();
  gateway_start (&gw);
  login_all ();
  g_printerr ("bench: gateway (pid %s) at %s, %u devices logged in after %.1f s\n",
              g_subprocess_get_identifier (gw.process), gateway_base, n_users * n_devices,
              (g_get_monotonic_time () - started) / 1e6);

  bench_sync (&gw);

  bench_http (&gw, "health", "/health", NULL);
  bench_http (&gw, "sessions", "/api/v1/sessions", devices[0].token);

  gateway_stop (&gw);

  /* The same clients against a SoupServer with nothing of Helix in it, and
   * against a server with no libsoup either. */
  {
    Gateway bare = { 0 };

    bare.process = helix_bench_bare_start (NULL, &gateway_addr);
    if (bare.process != NULL)
      {
        bench_http (&bare, "health_bare_libsoup", "/health", NULL);
        helix_bench_bare_stop (g_steal_pointer (&bare.process));
      }

    bare.process = helix_bench_bare_start_from ("HELIX_BARE_NATIVE_SERVER", NULL, &gateway_addr);
    if (bare.process != NULL)
      {
        bench_http (&bare, "health_bare_native", "/health", NULL);
        helix_bench_bare_stop (g_steal_pointer (&bare.process));
      }
  }

  g_printerr ("bench: done in %.1f s\n", (g_get_monotonic_time () - started) / 1e6);

  for (guint i = 0; i < n_users * n_devices; i++)
    {
      g_free (devices[i].name);
      g_free (devices[i].token);
    }
  g_free (devices);
  for (guint u = 0; u < n_users; u++)
    g_free (user_sessions[u]);
  g_free (user_sessions);
  g_free (gateway_base);

  return 0;
}
