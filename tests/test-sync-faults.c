/* test-sync-faults.c: sync through a hostile network and a gateway killed with SIGKILL
 *
 * The real gateway runs as a child process (`helix --headless`). Two devices, each a
 * real HelixStore with its own SQLite file and a HelixSyncClient, reach it through a
 * TCP proxy written here that, driven by a seeded random generator:
 *
 * - cuts connections at random points, mid-frame included;
 * - delays data;
 * - duplicates whole WebSocket data frames, in both directions;
 * - drops connections: refuses some at once, and black-holes others (they stay open
 *   and nothing arrives; the client's keep-alive has to notice).
 *
 * Meanwhile both devices keep writing, and the gateway is killed with SIGKILL and
 * started again on the same state directory, twice, each time in the middle of a
 * push: a change written, its frame delivered to the gateway, its ack not back. When the faults
 * stop, the test checks that within 10 s both devices and the gateway hold every
 * change exactly once: no acknowledged op lost, none duplicated, the same state on
 * both devices.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sqlite3.h>

#include "helix-store-sync.h"
#include "helix-test-sqlite.h"
#include "helix-test-sync.h"

#define PASSWORD        "correct horse battery staple"
#define FAULT_SECONDS   6
#define CONVERGE_S      10
/* How much longer the faults may last while the kills wait for pushes in flight. */
#define KILL_GRACE_S    10
#define WS_OPCODE_TEXT  0x1

/* The gateway child {{{1 */

typedef struct
{
  char        *state_dir;
  GSubprocess *process;
  char        *uri;
  guint        port;
  GCancellable *cancellable;
} Gateway;

static void
read_log_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Gateway *gateway = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  const char *at;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL,
                                                    &error);
  if (line == NULL)
    return; /* the child exited, or the test stopped reading */

  if (gateway->uri == NULL && (at = strstr (line, "listening on ")) != NULL)
    {
      g_autoptr(GUri) uri = NULL;

      gateway->uri = g_strdup (at + strlen ("listening on "));
      g_strchomp (gateway->uri);
      uri = g_uri_parse (gateway->uri, G_URI_FLAGS_NONE, NULL);
      g_assert_nonnull (uri);
      gateway->port = (guint) g_uri_get_port (uri);
    }
  else if (strstr (line, "CRITICAL") != NULL || strstr (line, "<2>") != NULL)
    g_printerr ("gateway: %s\n", line);

  /* Keep reading, or the child blocks on a full pipe. */
  g_data_input_stream_read_line_async (G_DATA_INPUT_STREAM (source), G_PRIORITY_DEFAULT,
                                       gateway->cancellable, read_log_cb, gateway);
}

static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static void
gateway_start (Gateway *gateway)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GDataInputStream) log = NULL;
  g_autoptr(GError) error = NULL;

  /* If this test dies, the gateway goes with it. */
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);

  g_clear_pointer (&gateway->uri, g_free);
  g_clear_object (&gateway->cancellable);
  gateway->cancellable = g_cancellable_new ();
  /* Generous limits: this test pushes fast on purpose. */
  g_subprocess_launcher_setenv (launcher, "HELIX_RATE_LIMIT_PER_USER", "off", TRUE);
  g_subprocess_launcher_setenv (launcher, "HELIX_RATE_LIMIT_PER_ADDRESS", "off", TRUE);
  gateway->process = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("HELIX_BINARY"),
                                                  "--headless", "--listen", "127.0.0.1:0",
                                                  "--state-dir", gateway->state_dir,
                                                  "--log-level", "info", NULL);
  g_assert_no_error (error);

  log = g_data_input_stream_new (g_subprocess_get_stderr_pipe (gateway->process));
  g_data_input_stream_read_line_async (log, G_PRIORITY_DEFAULT, gateway->cancellable,
                                       read_log_cb, gateway);
  helix_test_wait_for (gateway->uri != NULL, HELIX_TEST_WAIT_S, "the gateway to listen");
}

static void
gateway_kill (Gateway *gateway)
{
  g_autoptr(GError) error = NULL;

  g_subprocess_send_signal (gateway->process, SIGKILL);
  g_subprocess_wait (gateway->process, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_signaled (gateway->process));
  g_cancellable_cancel (gateway->cancellable);
  g_clear_object (&gateway->process);
}

static void
gateway_stop (Gateway *gateway)
{
  g_autoptr(GError) error = NULL;

  g_subprocess_send_signal (gateway->process, SIGTERM);
  g_subprocess_wait (gateway->process, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (gateway->process));
  g_assert_cmpint (g_subprocess_get_exit_status (gateway->process), ==, 0);
  g_cancellable_cancel (gateway->cancellable);
  g_clear_object (&gateway->process);
}

static void
add_user (Gateway    *gateway,
          const char *name)
{
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;

  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                              &error, g_getenv ("HELIX_BINARY"), "--headless", "--state-dir",
                              gateway->state_dir, "--add-user", name, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, PASSWORD "\n", NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_successful (process));
}

/* The proxy {{{1 */

typedef struct _Proxy Proxy;
typedef struct _Link Link;

typedef enum
{
  PIPE_HTTP,  /* the upgrade request or response, up to the blank line */
  PIPE_FRAMES,
} PipeMode;

/* One direction of one proxied connection. It reads nothing while a write (or a
 * delay) is pending, so bytes keep their order. */
typedef struct
{
  Link          *link;
  GInputStream  *in;
  GOutputStream *out;
  PipeMode       mode;
  GByteArray    *pending;  /* bytes read and not yet forwarded */
  GBytes        *writing;
  guchar         buffer[16384];
} Pipe;

struct _Link
{
  Proxy             *proxy;
  GSocketConnection *client;
  GSocketConnection *upstream;
  GCancellable      *cancellable;
  Pipe               up;
  Pipe               down;
  guint              busy;      /* async calls in progress */
  gboolean           black_hole;
  gboolean           closed;
  gint64             cut_after; /* bytes, both directions together; -1: never */
  gint64             forwarded;
};

struct _Proxy
{
  GSocketService *service;
  GSocketClient  *connector;
  guint           port;
  guint           upstream_port;
  GRand          *rand;
  gboolean        faults;
  GPtrArray      *links;
  guint           n_connections;
  guint           n_cut;
  guint           n_refused;
  guint           n_black_holed;
  guint           n_duplicated;
  guint           n_delayed;
  guint           n_up_writes;  /* writes that reached the gateway's socket */
};

static void pipe_read (Pipe *pipe);

static void
shutdown_connection (GSocketConnection *connection)
{
  if (connection != NULL)
    g_socket_shutdown (g_socket_connection_get_socket (connection), TRUE, TRUE, NULL);
}

/* Drops the connection: both peers see it end, wherever their frames were. */
static void
link_close (Link *link)
{
  if (link->closed)
    return;

  link->closed = TRUE;
  g_cancellable_cancel (link->cancellable);
  shutdown_connection (link->client);
  shutdown_connection (link->upstream);
}

static void
link_free (Link *link)
{
  g_assert_cmpuint (link->busy, ==, 0);
  g_clear_object (&link->client);
  g_clear_object (&link->upstream);
  g_clear_object (&link->cancellable);
  g_clear_pointer (&link->up.pending, g_byte_array_unref);
  g_clear_pointer (&link->down.pending, g_byte_array_unref);
  g_clear_pointer (&link->up.writing, g_bytes_unref);
  g_clear_pointer (&link->down.writing, g_bytes_unref);
  g_free (link);
}

/* The length of the complete WebSocket frame at the start of @data, or 0 if more bytes
 * are needed. Sets *@duplicable for an unfragmented text frame. */
static gsize
frame_length (const guint8 *data,
              gsize         len,
              gboolean     *duplicable)
{
  guint64 payload;
  gsize header = 2;

  if (len < 2)
    return 0;

  payload = data[1] & 0x7f;
  if (payload == 126)
    {
      if (len < 4)
        return 0;
      payload = ((guint64) data[2] << 8) | data[3];
      header = 4;
    }
  else if (payload == 127)
    {
      if (len < 10)
        return 0;
      payload = 0;
      for (guint i = 0; i < 8; i++)
        payload = (payload << 8) | data[2 + i];
      header = 10;
    }
  if (data[1] & 0x80)
    header += 4; /* the mask key */

  if (len < header + payload)
    return 0;

  *duplicable = (data[0] & 0x80) != 0 && (data[0] & 0x0f) == WS_OPCODE_TEXT;

  return header + payload;
}

static void
write_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Pipe *pipe = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok = g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error);

  pipe->link->busy--;
  g_clear_pointer (&pipe->writing, g_bytes_unref);
  if (!ok)
    {
      link_close (pipe->link);
      return;
    }
  if (pipe == &pipe->link->up)
    pipe->link->proxy->n_up_writes++;

  pipe_read (pipe);
}

static void
pipe_write (Pipe *pipe)
{
  gsize size;
  gconstpointer data = g_bytes_get_data (pipe->writing, &size);

  if (pipe->link->closed)
    {
      g_clear_pointer (&pipe->writing, g_bytes_unref);
      return;
    }

  pipe->link->busy++;
  g_output_stream_write_all_async (pipe->out, data, size, G_PRIORITY_DEFAULT,
                                   pipe->link->cancellable, write_cb, pipe);
}

static void
delay_done_cb (gpointer user_data)
{
  Pipe *pipe = user_data;

  pipe->link->busy--;
  pipe_write (pipe);
}

/* Forwards what can be forwarded of @pipe->pending, faults included. */
static void
pipe_forward (Pipe *pipe)
{
  Link *link = pipe->link;
  Proxy *proxy = link->proxy;
  g_autoptr(GByteArray) out = g_byte_array_new ();
  gsize used = 0;

  if (pipe->mode == PIPE_HTTP)
    {
      /* The HTTP head has no NUL byte: g_strstr_len() stops at the first one. */
      const char *end = g_strstr_len ((const char *) pipe->pending->data, pipe->pending->len,
                                      "\r\n\r\n");

      if (end != NULL)
        {
          used = (const guint8 *) end + 4 - pipe->pending->data;
          g_byte_array_append (out, pipe->pending->data, used);
          pipe->mode = PIPE_FRAMES;
        }
    }

  while (pipe->mode == PIPE_FRAMES && used < pipe->pending->len)
    {
      gboolean duplicable = FALSE;
      gsize len = frame_length (pipe->pending->data + used, pipe->pending->len - used, &duplicable);

      if (len == 0)
        break;
      g_byte_array_append (out, pipe->pending->data + used, len);
      if (proxy->faults && duplicable && g_rand_int_range (proxy->rand, 0, 100) < 8)
        {
          g_byte_array_append (out, pipe->pending->data + used, len);
          proxy->n_duplicated++;
        }
      used += len;
    }
  g_byte_array_remove_range (pipe->pending, 0, used);

  if (link->cut_after >= 0 && link->forwarded + (gint64) out->len > link->cut_after)
    {
      /* Cut: forward part of it, perhaps half a frame, then drop the connection. */
      gsize part = (gsize) MAX (0, link->cut_after - link->forwarded);

      proxy->n_cut++;
      link->cut_after = -1;
      g_byte_array_set_size (out, part);
      pipe->writing = g_byte_array_free_to_bytes (g_steal_pointer (&out));
      link->forwarded += part;
      link->busy++;
      g_output_stream_write_all_async (pipe->out, g_bytes_get_data (pipe->writing, NULL), part,
                                       G_PRIORITY_DEFAULT, link->cancellable, write_cb, pipe);
      link_close (link);
      return;
    }
  link->forwarded += out->len;

  if (out->len == 0)
    {
      pipe_read (pipe);
      return;
    }

  pipe->writing = g_byte_array_free_to_bytes (g_steal_pointer (&out));
  if (proxy->faults && g_rand_int_range (proxy->rand, 0, 100) < 20)
    {
      proxy->n_delayed++;
      link->busy++;
      g_timeout_add_once (g_rand_int_range (proxy->rand, 1, 80), delay_done_cb, pipe);
      return;
    }

  pipe_write (pipe);
}

static void
read_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Pipe *pipe = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  pipe->link->busy--;
  if (n <= 0 || pipe->link->closed)
    {
      link_close (pipe->link);
      return;
    }

  if (pipe->link->black_hole)
    {
      /* Swallow everything, answer nothing. */
      pipe_read (pipe);
      return;
    }

  g_byte_array_append (pipe->pending, pipe->buffer, (guint) n);
  pipe_forward (pipe);
}

static void
pipe_read (Pipe *pipe)
{
  if (pipe->link->closed)
    return;

  pipe->link->busy++;
  g_input_stream_read_async (pipe->in, pipe->buffer, sizeof pipe->buffer, G_PRIORITY_DEFAULT,
                             pipe->link->cancellable, read_cb, pipe);
}

static void
pipe_init (Pipe      *pipe,
           Link      *link,
           GIOStream *from,
           GIOStream *to)
{
  pipe->link = link;
  pipe->in = g_io_stream_get_input_stream (from);
  pipe->out = g_io_stream_get_output_stream (to);
  pipe->mode = PIPE_HTTP;
  pipe->pending = g_byte_array_new ();
}

static void
upstream_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Link *link = user_data;
  g_autoptr(GError) error = NULL;

  link->busy--;
  link->upstream = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), result, &error);
  if (link->upstream == NULL || link->closed)
    {
      /* The gateway is down (killed): the device sees the connection drop. */
      link_close (link);
      return;
    }

  pipe_init (&link->up, link, G_IO_STREAM (link->client), G_IO_STREAM (link->upstream));
  pipe_init (&link->down, link, G_IO_STREAM (link->upstream), G_IO_STREAM (link->client));
  pipe_read (&link->up);
  pipe_read (&link->down);
}

static gboolean
incoming_cb (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             gpointer           user_data)
{
  Proxy *proxy = user_data;
  Link *link = g_new0 (Link, 1);
  g_autofree char *host = g_strdup_printf ("127.0.0.1:%u", proxy->upstream_port);

  link->proxy = proxy;
  link->client = g_object_ref (connection);
  link->cancellable = g_cancellable_new ();
  link->cut_after = -1;
  g_ptr_array_add (proxy->links, link);
  proxy->n_connections++;

  if (proxy->faults)
    {
      int dice = g_rand_int_range (proxy->rand, 0, 100);

      if (dice < 10)
        {
          proxy->n_refused++;
          link_close (link);
          return TRUE;
        }
      if (dice < 15)
        link->black_hole = TRUE;
      else if (dice < 65)
        link->cut_after = g_rand_int_range (proxy->rand, 0, 32 * 1024);
    }

  if (link->black_hole)
    {
      proxy->n_black_holed++;
      pipe_init (&link->up, link, G_IO_STREAM (link->client), G_IO_STREAM (link->client));
      pipe_read (&link->up);
      return TRUE;
    }

  link->busy++;
  g_socket_client_connect_to_host_async (proxy->connector, host, 0, link->cancellable,
                                         upstream_cb, link);

  return TRUE;
}

static void
proxy_init (Proxy   *proxy,
            guint32  seed)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) effective = NULL;

  proxy->rand = g_rand_new_with_seed (seed);
  proxy->links = g_ptr_array_new_with_free_func ((GDestroyNotify) link_free);
  proxy->connector = g_socket_client_new ();
  proxy->service = g_socket_service_new ();
  g_socket_listener_add_address (G_SOCKET_LISTENER (proxy->service), address, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &effective, &error);
  g_assert_no_error (error);
  proxy->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  g_signal_connect (proxy->service, "incoming", G_CALLBACK (incoming_cb), proxy);
  g_socket_service_start (proxy->service);
}

/* Ends the faults: every connection made under them is cut, so that the devices
 * reconnect through a clean proxy. */
static void
proxy_heal (Proxy *proxy)
{
  proxy->faults = FALSE;
  for (guint i = 0; i < proxy->links->len; i++)
    link_close (g_ptr_array_index (proxy->links, i));
}

static gboolean
proxy_idle (Proxy *proxy)
{
  for (guint i = 0; i < proxy->links->len; i++)
    if (((Link *) g_ptr_array_index (proxy->links, i))->busy > 0)
      return FALSE;

  return TRUE;
}

static void
proxy_clear (Proxy *proxy)
{
  g_socket_service_stop (proxy->service);
  g_socket_listener_close (G_SOCKET_LISTENER (proxy->service));
  for (guint i = 0; i < proxy->links->len; i++)
    link_close (g_ptr_array_index (proxy->links, i));
  helix_test_wait_for (proxy_idle (proxy), HELIX_TEST_WAIT_S, "the proxy to finish");
  g_clear_object (&proxy->service);
  g_clear_object (&proxy->connector);
  g_clear_pointer (&proxy->links, g_ptr_array_unref);
  g_clear_pointer (&proxy->rand, g_rand_free);
}

/* The test {{{1 */

typedef struct
{
  HelixStore      *store;
  HelixSyncClient *client;
  char            *token;
  GPtrArray       *sessions; /* ids of the chats this device made */
  guint            n_ops;    /* changes it made */
} Device;

static void
device_init (Device     *device,
             const char *dir,
             const char *name,
             const char *gateway_uri)
{
  g_autofree char *path = g_strdup_printf ("%s/%s.db", dir, name);
  g_autoptr(GError) error = NULL;

  device->store = helix_store_open (path, &error);
  g_assert_no_error (error);
  device->client = helix_sync_client_new (device->store);
  /* Fast retries and keep-alive, so that the test sees many reconnects in a few
   * seconds; the production defaults are 1 to 60 s and 30 s / 90 s. */
  helix_sync_client_set_backoff (device->client, 20, 500);
  helix_sync_client_set_keepalive (device->client, 200, 1000);
  device->token = helix_test_login (NULL, gateway_uri, "alice", PASSWORD, name, NULL);
  device->sessions = g_ptr_array_new_with_free_func (g_free);
}

static void
device_clear (Device *device)
{
  helix_sync_client_disconnect (device->client);
  helix_test_assert_finalized (g_steal_pointer (&device->client));
  helix_store_close (device->store);
  g_clear_object (&device->store);
  g_clear_pointer (&device->token, g_free);
  g_clear_pointer (&device->sessions, g_ptr_array_unref);
}

/* One random change: a new chat, a message, a rename or a pin. */
static void
device_write (Device *device,
              GRand  *rand,
              guint   serial)
{
  g_autoptr(GError) error = NULL;
  int dice = g_rand_int_range (rand, 0, 100);

  if (device->sessions->len == 0 || dice < 10)
    {
      g_autofree char *title = g_strdup_printf ("Chat %u", serial);
      g_autoptr(HelixSession) session = helix_store_create_session (device->store, title, &error);

      g_assert_no_error (error);
      g_ptr_array_add (device->sessions, g_strdup (helix_session_get_id (session)));
    }
  else
    {
      const char *id = g_ptr_array_index (device->sessions,
                                          g_rand_int_range (rand, 0, (gint32) device->sessions->len));

      if (dice < 80)
        {
          g_autofree char *content = g_strdup_printf ("Message %u", serial);
          HelixNewMessage message = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, content);
          g_autoptr(HelixMessage) added = helix_store_append_message (device->store, id, &message,
                                                                      &error);

          g_assert_no_error (error);
        }
      else if (dice < 95)
        {
          g_autofree char *title = g_strdup_printf ("Renamed %u", serial);
          g_autoptr(HelixSession) session = helix_store_rename_session (device->store, id, title,
                                                                        &error);

          g_assert_no_error (error);
        }
      else
        {
          g_autoptr(HelixSession) session = helix_store_set_session_flag (device->store, id,
                                                                          HELIX_SESSION_FLAG_PINNED,
                                                                          serial % 2, &error);

          g_assert_no_error (error);
        }
    }
  device->n_ops++;
}

/* Counts the distinct ops the gateway stored for its only user, from its database file
 * (read after the gateway stopped). */
static gint64
gateway_count_ops (Gateway *gateway)
{
  g_autofree char *path = g_build_filename (gateway->state_dir, "gateway.db", NULL);
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gint64 count;

  db = helix_test_sqlite_open (path, SQLITE_OPEN_READONLY);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT count(*), count(DISTINCT op) FROM ops", -1,
                                       &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  count = sqlite3_column_int64 (stmt, 0);
  /* No op stored twice. */
  g_assert_cmpint (sqlite3_column_int64 (stmt, 1), ==, count);
  sqlite3_finalize (stmt);
  sqlite3_close (db);

  return count;
}

/* Kills the gateway while a push of @device is on its way: a change just
 * written, its frame in the gateway's socket, its ack not back. Returns
 * FALSE, and kills nothing, when that does not happen within half a second
 * (the device is offline, or the proxy swallows what it sends). */
static gboolean
kill_mid_push (Gateway *gateway,
               Proxy   *proxy,
               Device  *device,
               GRand   *rand,
               guint   *serial)
{
  guint writes = proxy->n_up_writes;
  gint64 deadline = g_get_monotonic_time () + G_USEC_PER_SEC / 2;

  if (helix_sync_client_get_state (device->client) < HELIX_SYNC_STATE_SYNCING)
    return FALSE;

  device_write (device, rand, ++*serial);
  while (proxy->n_up_writes == writes && g_get_monotonic_time () < deadline)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (100);

  if (proxy->n_up_writes == writes || helix_sync_client_get_pending (device->client) == 0)
    return FALSE;

  gateway_kill (gateway);
  return TRUE;
}

static guint
time_scale (void)
{
  const char *value = g_getenv ("HELIX_TEST_TIME_SCALE");
  guint64 scale = value != NULL ? g_ascii_strtoull (value, NULL, 10) : 1;

  return (guint) CLAMP (scale, 1, 100);
}

static void
test_faults (gconstpointer data)
{
  guint32 seed = GPOINTER_TO_UINT (data);
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("helix-sync-faults-XXXXXX", &error);
  g_autofree char *proxy_uri = NULL;
  Gateway gateway = { 0 };
  Proxy proxy = { 0 };
  Device a = { 0 }, b = { 0 };
  HelixSyncClient *clients[2];
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  gint64 start, next_kill, took_us;
  guint serial = 0, kills = 0;

  g_assert_no_error (error);
  g_test_message ("seed %u", seed);

  gateway.state_dir = g_build_filename (dir, "state", NULL);
  add_user (&gateway, "alice");
  gateway_start (&gateway);

  device_init (&a, dir, "laptop", gateway.uri);
  device_init (&b, dir, "desktop", gateway.uri);
  clients[0] = a.client;
  clients[1] = b.client;

  proxy_init (&proxy, seed);
  proxy.upstream_port = gateway.port;
  proxy.faults = TRUE;
  proxy_uri = g_strdup_printf ("http://127.0.0.1:%u", proxy.port);
  helix_sync_client_connect (a.client, proxy_uri, a.token);
  helix_sync_client_connect (b.client, proxy_uri, b.token);

  /* Both devices write while the network misbehaves, and the gateway is killed twice
   * at random moments, each time with a push on its way (the faults go on a while
   * longer if the network keeps that from happening). */
  start = g_get_monotonic_time ();
  next_kill = start + g_rand_int_range (rand, 1000, 2500) * 1000;
  while (g_get_monotonic_time () < start + FAULT_SECONDS * G_USEC_PER_SEC ||
         (kills < 2 &&
          g_get_monotonic_time () < start + (FAULT_SECONDS + KILL_GRACE_S) * G_USEC_PER_SEC))
    {
      Device *device = g_rand_boolean (rand) ? &a : &b;

      device_write (device, rand, ++serial);

      if (kills < 2 && g_get_monotonic_time () >= next_kill)
        {
          if (kill_mid_push (&gateway, &proxy, device, rand, &serial))
            {
              kills++;
              /* Down for a moment: devices meet refused connections. */
              helix_test_spin_for (200);
              gateway_start (&gateway);
              proxy.upstream_port = gateway.port;
              next_kill = g_get_monotonic_time () + g_rand_int_range (rand, 1000, 2000) * 1000;
            }
          else
            next_kill = g_get_monotonic_time () + 50 * 1000;
        }

      helix_test_spin_for ((guint) g_rand_int_range (rand, 2, 15));
    }

  g_test_message ("faults: %u connections, %u refused, %u black-holed, %u cut, %u frames "
                  "duplicated, %u delays, %u gateway kills; %u + %u changes",
                  proxy.n_connections, proxy.n_refused, proxy.n_black_holed, proxy.n_cut,
                  proxy.n_duplicated, proxy.n_delayed, kills, a.n_ops, b.n_ops);
  g_assert_cmpuint (kills, ==, 2);
  /* The seed decides which faults a run meets; some connection-level ones it must. */
  g_assert_cmpuint (proxy.n_cut + proxy.n_refused + proxy.n_black_holed, >, 0);
  g_assert_cmpuint (proxy.n_duplicated + proxy.n_delayed, >, 0);

  /* The faults stop: within 10 s everything converges. */
  proxy_heal (&proxy);
  /* Sanitizer builds run several times slower: HELIX_TEST_TIME_SCALE (set by the asan
   * and valgrind test setups) stretches the deadline, not the figure reported. */
  took_us = helix_test_wait_converged (clients, G_N_ELEMENTS (clients),
                                       CONVERGE_S * time_scale ());
  g_test_message ("converged %.0f ms after the faults stopped", took_us / 1000.0);

  /* Every change each device made is on the gateway exactly once (its outbox is empty,
   * so the gateway acknowledged each), and both stores hold every message once. */
  g_assert_cmpint (helix_store_outbox_count (a.store, &error), ==, 0);
  g_assert_cmpint (helix_store_outbox_count (b.store, &error), ==, 0);
  {
    gint64 messages = helix_test_count_rows (a.store, "SELECT count(*) FROM messages");

    g_assert_cmpint (helix_test_count_rows (a.store, "SELECT count(DISTINCT uuid) FROM messages"),
                     ==, messages);
    g_assert_cmpint (helix_test_count_rows (b.store, "SELECT count(*) FROM messages"), ==, messages);
    g_assert_cmpint (helix_test_count_rows (a.store, "SELECT count(*) FROM sessions"), ==,
                     a.sessions->len + b.sessions->len);
  }

  device_clear (&a);
  device_clear (&b);
  proxy_clear (&proxy);
  gateway_stop (&gateway);
  g_assert_cmpint (gateway_count_ops (&gateway), ==, a.n_ops + b.n_ops);

  g_clear_object (&gateway.cancellable);
  g_free (gateway.uri);
  g_free (gateway.state_dir);
  helix_test_rm_rf (dir);
}

int
main (int   argc,
      char *argv[])
{
  /* A written socket whose peer went away must not kill the test. */
  signal (SIGPIPE, SIG_IGN);
  g_test_init (&argc, &argv, NULL);

  if (g_getenv ("HELIX_BINARY") == NULL)
    g_error ("HELIX_BINARY must name the helix executable (meson test sets it)");

  /* Several seeds in CI; HELIX_FAULT_SEED replays one. */
  if (g_getenv ("HELIX_FAULT_SEED") != NULL)
    {
      guint32 seed = (guint32) g_ascii_strtoull (g_getenv ("HELIX_FAULT_SEED"), NULL, 10);
      g_autofree char *path = g_strdup_printf ("/sync-faults/seed-%u", seed);

      g_test_add_data_func (path, GUINT_TO_POINTER (seed), test_faults);
    }
  else
    {
      const guint32 seeds[] = { 1, 2, 3 };

      for (guint i = 0; i < G_N_ELEMENTS (seeds); i++)
        {
          g_autofree char *path = g_strdup_printf ("/sync-faults/seed-%u", seeds[i]);

          g_test_add_data_func (path, GUINT_TO_POINTER (seeds[i]), test_faults);
        }
    }

  return g_test_run ();
}
