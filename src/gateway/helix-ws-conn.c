/* helix-ws-conn.c: the server side of a WebSocket connection (RFC 6455)
 *
 * A HelixWsConn speaks WebSocket on a stream whose HTTP upgrade is done
 * already (see helix-gateway-ws.c): text messages both ways, pings, the
 * closing handshake. No extension is negotiated, so frames carry no RSV bit.
 *
 * Input: under a plain stream, the thread's one epoll instance watches
 * every connection's socket, and the thread's source polls that one
 * descriptor: GLib's main loop polls, prepares and checks every source's
 * descriptors at every iteration, a cost that grows with the number of
 * connections (half of the gateway's main thread with 1,000 of them). A
 * TLS stream (or a system without epoll) gets a source of its own: the
 * pollable stream's, never blocked while it is dispatched. Each wake-up
 * reads up to
 * READ_CHUNK bytes (more when a large frame is known to be coming) and
 * handles every complete frame in them. Bytes read while the connection
 * holds no partial frame land in a buffer shared by the thread's
 * connections, so that an idle connection owns no input buffer; only the
 * start of a frame not read in full is copied into one of its own. A data
 * frame whose message would go over the limit given to helix_ws_conn_new()
 * is refused from its header (1009), its payload never buffered.
 *
 * Output: helix_ws_conn_send_text() appends the frame to the connection's
 * output buffer and puts the connection on its thread's list of dirty
 * connections. One GSource per thread (at G_PRIORITY_DEFAULT) writes each
 * dirty connection's output with one write, however many frames it holds,
 * from its prepare function: once per main loop iteration, after the
 * previous iteration's dispatches and before the poll, which then needs no
 * extra iteration to find the source ready. (Prepare functions run with
 * the context unlocked; callbacks of a closed connection may run there.) A
 * connection whose socket is full waits for it with an output source, and
 * past HELIX_WS_CONN_MAX_OUTPUT_BYTES queued the frames not
 * started are dropped and the connection closed (HELIX_WS_CLOSE_OUTPUT_FULL).
 *
 * A one-second timer per thread sends the keep-alive pings, closes (1008)
 * the connections whose peer sent nothing for KEEPALIVE_MISSED intervals,
 * and ends the closing handshakes that waited HELIX_WS_CONN_CLOSE_TIMEOUT_S
 * for the peer's close frame.
 *
 * Closing: helix_ws_conn_close() sends a close frame and waits for the
 * peer's; a peer's close frame is echoed with its code, then the stream is
 * closed once the echo is written (the server closes first). A frame
 * refused sends the close frame with its code; then data frames are
 * skipped as they come (never buffered) until the peer's close frame, the
 * end of the stream or the timeout.
 *
 * Everything runs on the thread (and thread-default main context) that
 * created the connection; callbacks must not iterate the main context.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <errno.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "helix-ws-conn.h"

/* How many ready sockets one dispatch takes from epoll. */
#define EPOLL_BATCH 256

/* What one wake-up reads at least, and the size of the shared input buffer. */
#define READ_CHUNK (64 * 1024)

/* The longest frame header: 2 bytes, a 64-bit length, a mask. */
#define MAX_HEADER_BYTES 14

/* A drained output buffer up to this size is kept for the next frames. */
#define KEEP_OUTPUT_CAPACITY (8 * 1024)

/* A connection that read nothing for this many keep-alive intervals is closed. */
#define KEEPALIVE_MISSED 3

/* Control frames carry at most this many payload bytes (RFC 6455 section 5.5). */
#define MAX_CONTROL_PAYLOAD 125

enum
{
  OPCODE_CONTINUATION = 0x0,
  OPCODE_TEXT         = 0x1,
  OPCODE_BINARY       = 0x2,
  OPCODE_CLOSE        = 0x8,
  OPCODE_PING         = 0x9,
  OPCODE_PONG         = 0xa,
};

typedef struct
{
  guint8 *data;
  gsize   len;
  gsize   cap;
} Buf;

/* The connections of one thread: a GSource that reads the ready ones and
 * flushes the dirty ones. */
typedef struct
{
  GSource   source;
  int       epfd;         /* the sockets of plain streams, or -1 */
  gpointer  epfd_tag;
  GQueue    conns;        /* (element-type HelixWsConn) (unowned): every connection */
  GQueue    dirty;        /* (element-type HelixWsConn) (unowned): output to write */
  GSource  *tick;         /* (owned): the one-second timer */
  guint8   *scratch;      /* (owned) (nullable): READ_CHUNK bytes of shared input */
  gboolean  scratch_busy;
} Loop;

struct _HelixWsConn
{
  grefcount               ref_count;
  HelixWsConnState        state;
  Loop                   *loop;         /* (unowned): lives as long as its connections */
  GList                   link;         /* in loop->conns */
  GList                   dirty_link;   /* in loop->dirty while dirty */

  GIOStream              *stream;       /* (owned) */
  GPollableInputStream   *in;           /* (unowned) */
  GPollableOutputStream  *out;          /* (unowned) */
  GSocket                *socket;       /* (unowned) (nullable): under a plain stream */
  GSource                *in_source;    /* (owned) (nullable): while reading */
  GSource                *in_idle;      /* (owned) (nullable): the first read */
  GSource                *out_source;   /* (owned) (nullable): while the socket is full */

  HelixWsConnMessageFunc  message_func;
  HelixWsConnClosedFunc   closed_func;
  gpointer                user_data;

  gsize                   max_message;
  Buf                     input;        /* the start of a frame not read in full */
  gsize                   frame_need;   /* its size when its header is complete, else 0 */
  gsize                   skip;         /* payload bytes of a refused frame still to drop */
  Buf                     message;      /* the fragments of a message so far */

  Buf                     output;
  gsize                   out_off;      /* what is written of it */
  gsize                   out_frame;    /* the first frame start at or after out_off */

  gint64                  close_deadline_us;
  gint64                  next_ping_us;
  gint64                  last_input_us; /* monotonic time of the last bytes read */
  guint                   keepalive_s;
  gushort                 close_code;

  guint                   in_message : 1;
  guint                   dirty : 1;
  guint                   close_sent : 1;
  guint                   close_received : 1;
  guint                   shutdown_after_flush : 1;
  guint                   discard_input : 1;
  guint                   processing : 1;
  guint                   in_epoll : 1;  /* its socket is in loop->epfd */
};

static GPrivate loop_key;

static void finish (HelixWsConn *conn);

/* Buffers {{{1 */

static void
buf_reserve (Buf   *buf,
             gsize  extra)
{
  if (buf->len + extra > buf->cap)
    {
      gsize cap = MAX (MAX (buf->cap * 2, buf->len + extra), 256);

      buf->data = g_realloc (buf->data, cap);
      buf->cap = cap;
    }
}

static void
buf_append (Buf        *buf,
            const void *data,
            gsize       len)
{
  buf_reserve (buf, len);
  if (len > 0)
    memcpy (buf->data + buf->len, data, len);
  buf->len += len;
}

static void
buf_clear (Buf *buf)
{
  g_clear_pointer (&buf->data, g_free);
  buf->len = 0;
  buf->cap = 0;
}

/* The loop {{{1 */

static void flush_dirty (Loop *loop);

/* The main loop's next iteration starts: what the last one queued is
 * written before it polls, so that it can block at once. */
static gboolean
loop_prepare (GSource *source,
              gint    *timeout)
{
  Loop *loop = (Loop *) source;

  *timeout = -1;
  flush_dirty (loop);

  return loop->dirty.length > 0;
}

static gboolean
sockets_ready (Loop *loop)
{
  return loop->epfd_tag != NULL &&
         (g_source_query_unix_fd (&loop->source, loop->epfd_tag) & G_IO_IN) != 0;
}

static gboolean
loop_check (GSource *source)
{
  Loop *loop = (Loop *) source;

  return loop->dirty.length > 0 || sockets_ready (loop);
}

static void read_input (HelixWsConn *conn);

/* Reads the connections whose socket epoll finds readable (or closed). */
static void
read_ready (Loop *loop)
{
  struct epoll_event events[EPOLL_BATCH];
  int n = epoll_wait (loop->epfd, events, G_N_ELEMENTS (events), 0);

  /* Each one is alive now (finish() takes a socket out before it goes);
   * an earlier one's callbacks may release a later one. */
  for (int i = 0; i < n; i++)
    helix_ws_conn_ref (events[i].data.ptr);
  for (int i = 0; i < n; i++)
    {
      HelixWsConn *conn = events[i].data.ptr;

      if (conn->in_epoll)
        read_input (conn);
    }
  for (int i = 0; i < n; i++)
    helix_ws_conn_unref (events[i].data.ptr);
}

static gboolean
loop_dispatch (GSource     *source,
               GSourceFunc  callback,
               gpointer     user_data)
{
  Loop *loop = (Loop *) source;

  if (sockets_ready (loop))
    read_ready (loop);
  flush_dirty (loop);

  return G_SOURCE_CONTINUE;
}

static void
loop_finalize (GSource *source)
{
  Loop *loop = (Loop *) source;

  g_clear_pointer (&loop->scratch, g_free);
  if (loop->epfd >= 0)
    close (loop->epfd);
}

static GSourceFuncs loop_funcs = {
  .prepare = loop_prepare,
  .check = loop_check,
  .dispatch = loop_dispatch,
  .finalize = loop_finalize,
};

static gboolean tick_cb (gpointer data);

static Loop *
loop_get (void)
{
  Loop *loop = g_private_get (&loop_key);
  GMainContext *context;

  if (loop != NULL)
    return loop;

  context = g_main_context_ref_thread_default ();

  loop = (Loop *) g_source_new (&loop_funcs, sizeof (Loop));
  g_source_set_priority (&loop->source, G_PRIORITY_DEFAULT);
  /* Its callbacks never iterate the context: no need to block it meanwhile. */
  g_source_set_can_recurse (&loop->source, TRUE);
  loop->epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (loop->epfd >= 0)
    loop->epfd_tag = g_source_add_unix_fd (&loop->source, loop->epfd, G_IO_IN);
  else
    g_warning ("WebSocket: no epoll (%s); one source per connection", g_strerror (errno));
  g_source_set_static_name (&loop->source, "[helix] WebSocket output");
  g_source_attach (&loop->source, context);

  loop->tick = g_timeout_source_new_seconds (1);
  g_source_set_static_name (loop->tick, "[helix] WebSocket keep-alive");
  g_source_set_callback (loop->tick, tick_cb, loop, NULL);
  g_source_attach (loop->tick, context);

  g_private_set (&loop_key, loop);
  g_main_context_unref (context);

  return loop;
}

/* After its last connection. */
static void
loop_free (Loop *loop)
{
  g_assert (loop->conns.length == 0);
  g_assert (g_private_get (&loop_key) == loop);

  g_private_set (&loop_key, NULL);
  g_source_destroy (loop->tick);
  g_clear_pointer (&loop->tick, g_source_unref);
  g_source_destroy (&loop->source);
  g_source_unref (&loop->source);
}

static void
attach (HelixWsConn *conn,
        GSource     *source)
{
  g_source_attach (source, g_source_get_context (&conn->loop->source));
}

/* Output {{{1 */

static gsize
header_size (gsize len)
{
  return len < 126 ? 2 : len <= G_MAXUINT16 ? 4 : 10;
}

/* The size of the (unmasked) frame this side wrote at @frame. */
static gsize
own_frame_size (const guint8 *frame)
{
  guint8 len7 = frame[1] & 0x7f;
  guint64 len = len7;

  if (len7 == 126)
    return 4 + (((gsize) frame[2] << 8) | frame[3]);

  if (len7 == 127)
    {
      len = 0;
      for (guint i = 0; i < 8; i++)
        len = (len << 8) | frame[2 + i];
      return 10 + len;
    }

  return 2 + len;
}

static void
mark_dirty (HelixWsConn *conn)
{
  if (conn->dirty || conn->out_source != NULL || conn->state == HELIX_WS_CONN_STATE_CLOSED)
    return;

  conn->dirty = TRUE;
  g_queue_push_tail_link (&conn->loop->dirty, &conn->dirty_link);
}

static void
unmark_dirty (HelixWsConn *conn)
{
  if (!conn->dirty)
    return;

  conn->dirty = FALSE;
  g_queue_unlink (&conn->loop->dirty, &conn->dirty_link);
}

static void
append_frame (HelixWsConn  *conn,
              guint8        opcode,
              const guint8 *payload,
              gsize         len)
{
  gsize hlen = header_size (len);
  guint8 *p;

  /* Room at the end first by moving what is left to the start. */
  if (conn->out_off > 0 && conn->output.len + hlen + len > conn->output.cap)
    {
      memmove (conn->output.data, conn->output.data + conn->out_off,
               conn->output.len - conn->out_off);
      conn->output.len -= conn->out_off;
      conn->out_frame -= conn->out_off;
      conn->out_off = 0;
    }

  buf_reserve (&conn->output, hlen + len);
  p = conn->output.data + conn->output.len;
  p[0] = 0x80 | opcode;
  if (hlen == 2)
    p[1] = (guint8) len;
  else if (hlen == 4)
    {
      p[1] = 126;
      p[2] = (guint8) (len >> 8);
      p[3] = (guint8) len;
    }
  else
    {
      p[1] = 127;
      for (guint i = 0; i < 8; i++)
        p[2 + i] = (guint8) ((guint64) len >> (56 - 8 * i));
    }
  if (len > 0)
    memcpy (p + hlen, payload, len);
  conn->output.len += hlen + len;

  mark_dirty (conn);
}

static void start_close (HelixWsConn *conn,
                         gushort      code,
                         const char  *reason);

/* Drops the frames not started and closes: the peer reads nothing. */
static void
overflow (HelixWsConn *conn)
{
  g_debug ("WebSocket: %" G_GSIZE_FORMAT " bytes queued for a peer that does not read; closing",
           conn->output.len - conn->out_off);

  conn->output.len = conn->out_frame;
  start_close (conn, HELIX_WS_CLOSE_OUTPUT_FULL, "the peer reads too slowly");
}

/* Queues a data or control frame. Nothing is queued after the close frame. */
static gboolean
queue_frame (HelixWsConn  *conn,
             guint8        opcode,
             const guint8 *payload,
             gsize         len)
{
  if (conn->state == HELIX_WS_CONN_STATE_CLOSED || conn->close_sent)
    return FALSE;

  if (opcode != OPCODE_CLOSE &&
      conn->output.len - conn->out_off + header_size (len) + len > HELIX_WS_CONN_MAX_OUTPUT_BYTES)
    {
      overflow (conn);
      return FALSE;
    }

  append_frame (conn, opcode, payload, len);

  return TRUE;
}

static gboolean
output_cb (GObject  *stream,
           gpointer  data);

static gboolean
socket_output_cb (GSocket      *socket,
                  GIOCondition  condition,
                  gpointer      data)
{
  return output_cb (NULL, data);
}

static void
wait_writable (HelixWsConn *conn)
{
  if (conn->out_source != NULL)
    return;

  unmark_dirty (conn);
  if (conn->socket != NULL)
    {
      conn->out_source = g_socket_create_source (conn->socket, G_IO_OUT, NULL);
      g_source_set_callback (conn->out_source, G_SOURCE_FUNC (socket_output_cb), conn, NULL);
    }
  else
    {
      conn->out_source = g_pollable_output_stream_create_source (conn->out, NULL);
      g_source_set_callback (conn->out_source, G_SOURCE_FUNC (output_cb), conn, NULL);
    }
  g_source_set_static_name (conn->out_source, "[helix] WebSocket output (full)");
  g_source_set_can_recurse (conn->out_source, TRUE);
  attach (conn, conn->out_source);
}

/* Writes what is queued, until it is all written or the socket is full. */
static void
flush (HelixWsConn *conn)
{
  while (conn->out_off < conn->output.len)
    {
      g_autoptr(GError) error = NULL;
      gssize n;

      n = g_pollable_output_stream_write_nonblocking (conn->out,
                                                      conn->output.data + conn->out_off,
                                                      conn->output.len - conn->out_off,
                                                      NULL, &error);
      if (n < 0)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            {
              wait_writable (conn);
              return;
            }

          g_debug ("WebSocket: could not write: %s", error->message);
          finish (conn);
          return;
        }

      conn->out_off += n;
      while (conn->out_frame < conn->out_off)
        conn->out_frame += own_frame_size (conn->output.data + conn->out_frame);
    }

  if (conn->output.cap > KEEP_OUTPUT_CAPACITY)
    buf_clear (&conn->output);
  conn->output.len = 0;
  conn->out_off = 0;
  conn->out_frame = 0;

  if (conn->out_source != NULL)
    {
      g_source_destroy (conn->out_source);
      g_clear_pointer (&conn->out_source, g_source_unref);
    }

  if (conn->shutdown_after_flush)
    finish (conn);
}

static gboolean
output_cb (GObject  *stream,
           gpointer  data)
{
  HelixWsConn *conn = helix_ws_conn_ref (data);

  flush (conn);
  helix_ws_conn_unref (conn);

  return G_SOURCE_CONTINUE;
}

static void
flush_dirty (Loop *loop)
{
  GList *link;

  while ((link = g_queue_pop_head_link (&loop->dirty)) != NULL)
    {
      HelixWsConn *conn = helix_ws_conn_ref (link->data);

      conn->dirty = FALSE;
      flush (conn);
      helix_ws_conn_unref (conn);
    }
}

/* Closing {{{1 */

/* The stream is closed: no more frames either way. */
static void
finish (HelixWsConn *conn)
{
  HelixWsConnClosedFunc closed_func = conn->closed_func;
  gushort code;

  if (conn->state == HELIX_WS_CONN_STATE_CLOSED)
    return;

  code = conn->close_received || conn->close_sent ? conn->close_code : HELIX_WS_CLOSE_ABNORMAL;
  conn->state = HELIX_WS_CONN_STATE_CLOSED;

  if (conn->in_source != NULL)
    {
      g_source_destroy (conn->in_source);
      g_clear_pointer (&conn->in_source, g_source_unref);
    }
  if (conn->in_epoll)
    {
      epoll_ctl (conn->loop->epfd, EPOLL_CTL_DEL, g_socket_get_fd (conn->socket), NULL);
      conn->in_epoll = FALSE;
    }
  if (conn->in_idle != NULL)
    {
      g_source_destroy (conn->in_idle);
      g_clear_pointer (&conn->in_idle, g_source_unref);
    }
  if (conn->out_source != NULL)
    {
      g_source_destroy (conn->out_source);
      g_clear_pointer (&conn->out_source, g_source_unref);
    }
  unmark_dirty (conn);

  /* The input being parsed is freed once parsed (read_input()). */
  if (!conn->processing)
    {
      buf_clear (&conn->input);
      buf_clear (&conn->message);
    }
  buf_clear (&conn->output);
  conn->out_off = 0;
  conn->out_frame = 0;

  /* The task holds the stream until it is closed. */
  g_io_stream_close_async (conn->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);

  if (closed_func != NULL)
    {
      helix_ws_conn_ref (conn);
      conn->message_func = NULL;
      conn->closed_func = NULL;
      closed_func (conn, code, conn->user_data);
      helix_ws_conn_unref (conn);
    }
}

static void
start_close (HelixWsConn *conn,
             gushort      code,
             const char  *reason)
{
  guint8 payload[2 + MAX_CONTROL_PAYLOAD - 2];
  const char *end = reason;
  gsize len = 2;

  if (conn->state != HELIX_WS_CONN_STATE_OPEN)
    return;

  /* The reason is cut to what fits, on a character boundary. */
  if (reason != NULL)
    {
      g_utf8_validate (reason, MIN (strlen (reason), sizeof payload - 2), &end);
      memcpy (payload + 2, reason, end - reason);
      len += end - reason;
    }
  payload[0] = code >> 8;
  payload[1] = code & 0xff;

  conn->state = HELIX_WS_CONN_STATE_CLOSING;
  conn->close_code = code;
  conn->close_deadline_us = g_get_monotonic_time () +
                            HELIX_WS_CONN_CLOSE_TIMEOUT_S * G_USEC_PER_SEC;
  queue_frame (conn, OPCODE_CLOSE, payload, len);
  conn->close_sent = TRUE;
}

/* A frame refused: the close frame. Only the peer's close frame is read after it. */
static void
fail (HelixWsConn *conn,
      gushort      code,
      const char  *reason)
{
  g_debug ("WebSocket: closing (%u): %s", code, reason);
  start_close (conn, code, reason);
}

/* Input {{{1 */

/* Text as RFC 6455 wants it: UTF-8, where NUL is a character like any other. */
static gboolean
text_is_valid (const char *text,
               gsize       len)
{
  const char *end;

  while (len > 0)
    {
      if (g_utf8_validate (text, len, &end))
        return TRUE;
      if (*end != '\0')
        return FALSE;
      len -= end - text + 1;
      text = end + 1;
    }

  return TRUE;
}

static gboolean
close_code_is_valid (gushort code)
{
  return (code >= 1000 && code <= 1003) ||
         (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

static void
deliver (HelixWsConn  *conn,
         const guint8 *text,
         gsize         len)
{
  if (!text_is_valid ((const char *) text, len))
    {
      fail (conn, HELIX_WS_CLOSE_BAD_DATA, "invalid UTF-8 in a text message");
      return;
    }

  if (conn->message_func != NULL)
    conn->message_func (conn, (const char *) text, len, conn->user_data);
}

static void
handle_close (HelixWsConn  *conn,
              const guint8 *payload,
              gsize         len)
{
  gushort code = HELIX_WS_CLOSE_NO_STATUS;

  if (len >= 2)
    code = (payload[0] << 8) | payload[1];

  /* An invalid close frame is refused like any frame while open; after our
   * close, any close frame ends the handshake. */
  if (conn->state == HELIX_WS_CONN_STATE_OPEN)
    {
      if (len == 1 || (len >= 2 && !close_code_is_valid (code)))
        {
          fail (conn, HELIX_WS_CLOSE_PROTOCOL_ERROR, "an invalid close frame");
          return;
        }
      if (len > 2 && !text_is_valid ((const char *) payload + 2, len - 2))
        {
          fail (conn, HELIX_WS_CLOSE_BAD_DATA, "invalid UTF-8 in a close reason");
          return;
        }
    }
  else if (len == 1 || (len >= 2 && !close_code_is_valid (code)))
    code = HELIX_WS_CLOSE_PROTOCOL_ERROR;

  /* Nothing comes after a close frame. */
  conn->discard_input = TRUE;
  conn->close_received = TRUE;
  conn->close_code = code;
  conn->shutdown_after_flush = TRUE;

  if (conn->state == HELIX_WS_CONN_STATE_OPEN)
    {
      conn->state = HELIX_WS_CONN_STATE_CLOSING;
      conn->close_deadline_us = g_get_monotonic_time () +
                                HELIX_WS_CONN_CLOSE_TIMEOUT_S * G_USEC_PER_SEC;
      queue_frame (conn, OPCODE_CLOSE, payload, MIN (len, 2));
      conn->close_sent = TRUE;
    }

  /* The server closes the TCP connection first (RFC 6455 section 7.1.1),
   * once the close frame is written. */
  if (conn->out_off == conn->output.len)
    finish (conn);
}

static void
handle_frame (HelixWsConn *conn,
              gboolean     fin,
              guint8       opcode,
              guint8      *payload,
              gsize        len)
{
  switch (opcode)
    {
    case OPCODE_PING:
      queue_frame (conn, OPCODE_PONG, payload, len);
      break;

    case OPCODE_PONG:
      break;

    case OPCODE_CLOSE:
      handle_close (conn, payload, len);
      break;

    case OPCODE_TEXT:
      if (fin)
        deliver (conn, payload, len);
      else
        {
          conn->in_message = TRUE;
          buf_append (&conn->message, payload, len);
        }
      break;

    case OPCODE_CONTINUATION:
      buf_append (&conn->message, payload, len);
      if (fin)
        {
          conn->in_message = FALSE;
          deliver (conn, conn->message.data, conn->message.len);
          buf_clear (&conn->message);
        }
      break;

    default:
      g_assert_not_reached ();
    }
}

/* The protocol errors a frame's first two bytes show, or %NULL. */
static const char *
check_frame_start (HelixWsConn *conn,
                   guint8       b0,
                   guint8       b1)
{
  guint8 opcode = b0 & 0x0f;

  if (b0 & 0x70)
    return "reserved bits set";
  if (!(b1 & 0x80))
    return "an unmasked frame";

  switch (opcode)
    {
    case OPCODE_CLOSE:
    case OPCODE_PING:
    case OPCODE_PONG:
      if (!(b0 & 0x80))
        return "a fragmented control frame";
      if ((b1 & 0x7f) > MAX_CONTROL_PAYLOAD)
        return "a control frame over 125 bytes";
      return NULL;

    case OPCODE_CONTINUATION:
      if (conn->state == HELIX_WS_CONN_STATE_OPEN && !conn->in_message)
        return "a continuation frame without a message";
      return NULL;

    case OPCODE_TEXT:
    case OPCODE_BINARY:
      if (conn->state == HELIX_WS_CONN_STATE_OPEN && conn->in_message)
        return "a new message inside a fragmented one";
      return NULL;

    default:
      return "an unknown opcode";
    }
}

/* Handles every complete frame of @data; returns how much of it was used.
 *
 * A frame refused while the connection is open closes it with the frame's
 * close code; like every data frame that comes after our close frame, it
 * is then skipped as it comes, never buffered, so that the peer's close
 * frame can still be read and the closing handshake end. */
static gsize
process_input (HelixWsConn *conn,
               guint8      *data,
               gsize        len)
{
  gsize pos = 0;

  conn->frame_need = 0;

  while (pos < len && conn->state != HELIX_WS_CONN_STATE_CLOSED)
    {
      const char *refused = NULL;
      gushort code = HELIX_WS_CLOSE_PROTOCOL_ERROR;
      guint8 b0, b1, len7, opcode;
      gboolean masked;
      guint64 plen;
      gsize hlen;
      guint8 *payload;

      if (conn->discard_input)
        return len;

      if (conn->skip > 0)
        {
          gsize n = MIN (conn->skip, len - pos);

          conn->skip -= n;
          pos += n;
          continue;
        }

      if (len - pos < 2)
        break;

      b0 = data[pos];
      b1 = data[pos + 1];
      opcode = b0 & 0x0f;
      len7 = b1 & 0x7f;
      masked = (b1 & 0x80) != 0;

      hlen = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
      if (len - pos < hlen)
        break;

      plen = len7;
      if (len7 == 126)
        plen = ((guint64) data[pos + 2] << 8) | data[pos + 3];
      else if (len7 == 127)
        {
          plen = 0;
          for (guint i = 0; i < 8; i++)
            plen = (plen << 8) | data[pos + 2 + i];
        }

      if ((refused = check_frame_start (conn, b0, b1)) != NULL)
        ;
      else if (plen >> 63)
        refused = "a length with its top bit set";
      else if (opcode & 0x8)
        ;
      else if (conn->state != HELIX_WS_CONN_STATE_OPEN)
        refused = "a data frame after the close frame";
      else if (opcode == OPCODE_BINARY)
        {
          code = HELIX_WS_CLOSE_UNSUPPORTED_DATA;
          refused = "only text messages are accepted";
        }
      else if (plen > conn->max_message ||
               (opcode == OPCODE_CONTINUATION && conn->message.len + plen > conn->max_message))
        {
          code = HELIX_WS_CLOSE_TOO_BIG;
          refused = "a message over the size limit";
        }

      /* The frame is dropped as it comes. */
      if (refused != NULL)
        {
          if (conn->state == HELIX_WS_CONN_STATE_OPEN)
            {
              g_debug ("WebSocket: closing (%u): %s", code, refused);
              start_close (conn, code, refused);
            }
          pos += hlen;
          conn->skip = MIN (plen, G_MAXSIZE);
          continue;
        }

      if (len - pos < hlen + plen)
        {
          conn->frame_need = hlen + plen;
          break;
        }

      payload = data + pos + hlen;
      for (gsize i = 0; i < plen; i++)
        payload[i] ^= data[pos + hlen - 4 + (i & 3)];
      pos += hlen + plen;

      handle_frame (conn, (b0 & 0x80) != 0, opcode, payload, plen);
    }

  return pos;
}

/* The most input a connection keeps. */
static gsize
max_input (HelixWsConn *conn)
{
  return conn->max_message + MAX_HEADER_BYTES + READ_CHUNK;
}

static void
read_input (HelixWsConn *conn)
{
  g_autoptr(GError) error = NULL;
  Loop *loop = conn->loop;
  gboolean shared = conn->input.len == 0 && !loop->scratch_busy;
  gsize want = READ_CHUNK;
  guint8 *dest;
  gssize n;

  if (shared)
    {
      if (loop->scratch == NULL)
        loop->scratch = g_malloc (READ_CHUNK);
      dest = loop->scratch;
    }
  else
    {
      /* The rest of a large frame at once. What is kept between reads is
       * the start of one frame, at most max_message + MAX_HEADER_BYTES
       * bytes (a larger frame is skipped, never kept): the ceiling is a
       * guard. */
      if (conn->frame_need > conn->input.len)
        want = MAX (want, conn->frame_need - conn->input.len);
      if (conn->input.len + want > max_input (conn))
        {
          g_warning ("WebSocket: %" G_GSIZE_FORMAT " bytes of input kept; closing",
                     conn->input.len);
          start_close (conn, HELIX_WS_CLOSE_TOO_BIG, "too much input");
          finish (conn);
          return;
        }
      buf_reserve (&conn->input, want);
      dest = conn->input.data + conn->input.len;
    }

  n = g_pollable_input_stream_read_nonblocking (conn->in, dest, want, NULL, &error);
  if (n < 0)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          g_debug ("WebSocket: could not read: %s", error->message);
          finish (conn);
        }
      return;
    }

  if (n == 0)
    {
      finish (conn);
      return;
    }

  conn->last_input_us = g_get_monotonic_time ();
  conn->processing = TRUE;

  if (shared)
    {
      gsize used;

      loop->scratch_busy = TRUE;
      used = process_input (conn, dest, n);
      loop->scratch_busy = FALSE;
      if (conn->state != HELIX_WS_CONN_STATE_CLOSED && used < (gsize) n)
        buf_append (&conn->input, dest + used, n - used);
    }
  else
    {
      gsize used;

      conn->input.len += n;
      used = process_input (conn, conn->input.data, conn->input.len);
      if (used == conn->input.len)
        buf_clear (&conn->input);
      else if (used > 0)
        {
          memmove (conn->input.data, conn->input.data + used, conn->input.len - used);
          conn->input.len -= used;
        }
    }

  conn->processing = FALSE;

  if (conn->state == HELIX_WS_CONN_STATE_CLOSED)
    {
      buf_clear (&conn->input);
      buf_clear (&conn->message);
    }
}

static gboolean
input_cb (GObject  *stream,
          gpointer  data)
{
  HelixWsConn *conn = helix_ws_conn_ref (data);

  read_input (conn);
  helix_ws_conn_unref (conn);

  return G_SOURCE_CONTINUE;
}

static gboolean
socket_input_cb (GSocket      *socket,
                 GIOCondition  condition,
                 gpointer      data)
{
  return input_cb (NULL, data);
}

/* What the stream holds already (libsoup may have read past the request)
 * does not make the socket readable: it is read once at the start. */
static gboolean
first_read_cb (gpointer data)
{
  HelixWsConn *conn = helix_ws_conn_ref (data);

  g_clear_pointer (&conn->in_idle, g_source_unref);
  for (guint i = 0; i < 16 && conn->state != HELIX_WS_CONN_STATE_CLOSED &&
                    g_pollable_input_stream_is_readable (conn->in); i++)
    read_input (conn);
  helix_ws_conn_unref (conn);

  return G_SOURCE_REMOVE;
}

/* Keep-alive and timeouts {{{1 */

static void
tick_conn (HelixWsConn *conn,
           gint64       now)
{
  if (conn->state == HELIX_WS_CONN_STATE_CLOSING && now >= conn->close_deadline_us)
    {
      g_debug ("WebSocket: the peer did not finish the closing handshake");
      finish (conn);
      return;
    }

  if (conn->state != HELIX_WS_CONN_STATE_OPEN || conn->keepalive_s == 0 ||
      (conn->in_source == NULL && !conn->in_epoll) || now < conn->next_ping_us)
    return;

  if (now - conn->last_input_us >= KEEPALIVE_MISSED * conn->keepalive_s * G_USEC_PER_SEC)
    {
      g_debug ("WebSocket: nothing from the peer for %u s", KEEPALIVE_MISSED * conn->keepalive_s);
      start_close (conn, HELIX_WS_CLOSE_POLICY_VIOLATION, "no answer to pings");
      return;
    }

  conn->next_ping_us = now + conn->keepalive_s * G_USEC_PER_SEC;
  queue_frame (conn, OPCODE_PING, NULL, 0);
}

static gboolean
tick_cb (gpointer data)
{
  Loop *loop = data;
  g_autoptr(GPtrArray) conns = g_ptr_array_new_full (loop->conns.length,
                                                     (GDestroyNotify) helix_ws_conn_unref);
  gint64 now = g_get_monotonic_time ();

  /* Closing one can free others (through their owners' callbacks). */
  for (GList *l = loop->conns.head; l != NULL; l = l->next)
    g_ptr_array_add (conns, helix_ws_conn_ref (l->data));

  for (guint i = 0; i < conns->len; i++)
    tick_conn (g_ptr_array_index (conns, i), now);

  return G_SOURCE_CONTINUE;
}

/* Public API {{{1 */

/* The socket under @stream when nothing but a buffer is in between: a
 * GSocketConnection, or libsoup's stream around one (its "base-iostream").
 * Not under TLS, which holds data of its own. */
static GSocket *
get_plain_socket (GIOStream *stream)
{
  g_autoptr(GIOStream) base = NULL;

  if (G_IS_SOCKET_CONNECTION (stream))
    return g_socket_connection_get_socket (G_SOCKET_CONNECTION (stream));

  if (g_object_class_find_property (G_OBJECT_GET_CLASS (stream), "base-iostream") == NULL)
    return NULL;

  /* @stream holds @base. */
  g_object_get (stream, "base-iostream", &base, NULL);
  if (G_IS_SOCKET_CONNECTION (base))
    return g_socket_connection_get_socket (G_SOCKET_CONNECTION (base));

  return NULL;
}

/* Frames are written whole and at once: Nagle's delay would only hold them back. */
static void
set_no_delay (GIOStream *stream)
{
  GSocket *socket = NULL;

  if (G_IS_SOCKET_CONNECTION (stream))
    socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (stream));
  else
    socket = g_object_get_data (G_OBJECT (stream), "GSocket");

  if (socket != NULL && G_IS_SOCKET (socket) &&
      g_socket_get_socket_type (socket) == G_SOCKET_TYPE_STREAM &&
      (g_socket_get_family (socket) == G_SOCKET_FAMILY_IPV4 ||
       g_socket_get_family (socket) == G_SOCKET_FAMILY_IPV6))
    g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, TRUE, NULL);
}

/**
 * helix_ws_conn_new:
 * @stream: an upgraded connection whose streams are pollable
 * @max_message_bytes: the largest text message accepted; a larger one
 *   closes the connection with 1009
 *
 * Creates the server side of a WebSocket connection. It reads nothing
 * until helix_ws_conn_start().
 *
 * Returns: (transfer full): the connection
 */
HelixWsConn *
helix_ws_conn_new (GIOStream *stream,
                   gsize      max_message_bytes)
{
  HelixWsConn *conn;
  GInputStream *in;
  GOutputStream *out;

  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);
  g_return_val_if_fail (max_message_bytes > 0, NULL);

  in = g_io_stream_get_input_stream (stream);
  out = g_io_stream_get_output_stream (stream);
  g_return_val_if_fail (G_IS_POLLABLE_INPUT_STREAM (in) &&
                        g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (in)), NULL);
  g_return_val_if_fail (G_IS_POLLABLE_OUTPUT_STREAM (out) &&
                        g_pollable_output_stream_can_poll (G_POLLABLE_OUTPUT_STREAM (out)), NULL);

  conn = g_new0 (HelixWsConn, 1);
  g_ref_count_init (&conn->ref_count);
  conn->state = HELIX_WS_CONN_STATE_OPEN;
  conn->stream = g_object_ref (stream);
  conn->in = G_POLLABLE_INPUT_STREAM (in);
  conn->out = G_POLLABLE_OUTPUT_STREAM (out);
  conn->max_message = max_message_bytes;
  conn->socket = get_plain_socket (stream);
  conn->link.data = conn;
  conn->dirty_link.data = conn;
  conn->loop = loop_get ();
  g_queue_push_tail_link (&conn->loop->conns, &conn->link);

  set_no_delay (stream);

  return conn;
}

/**
 * helix_ws_conn_ref:
 * @conn: a connection
 *
 * Returns: (transfer full): @conn
 */
HelixWsConn *
helix_ws_conn_ref (HelixWsConn *conn)
{
  g_return_val_if_fail (conn != NULL, NULL);

  g_ref_count_inc (&conn->ref_count);

  return conn;
}

/**
 * helix_ws_conn_unref:
 * @conn: (transfer full): a connection
 *
 * Drops a reference. The last one closes the stream at once if it is still
 * open, without calling the callbacks.
 */
void
helix_ws_conn_unref (HelixWsConn *conn)
{
  Loop *loop;

  g_return_if_fail (conn != NULL);

  if (!g_ref_count_dec (&conn->ref_count))
    return;

  conn->message_func = NULL;
  conn->closed_func = NULL;
  finish (conn);

  loop = conn->loop;
  g_queue_unlink (&loop->conns, &conn->link);
  buf_clear (&conn->input);
  buf_clear (&conn->message);
  buf_clear (&conn->output);
  g_clear_object (&conn->stream);
  g_free (conn);

  if (loop->conns.length == 0)
    loop_free (loop);
}

/**
 * helix_ws_conn_start:
 * @conn: a new connection
 * @message_func: called with each text message
 * @closed_func: called once, when the connection is closed
 * @user_data: for the callbacks
 *
 * Starts reading. The callbacks are called until the connection is closed
 * or helix_ws_conn_release().
 */
void
helix_ws_conn_start (HelixWsConn            *conn,
                     HelixWsConnMessageFunc  message_func,
                     HelixWsConnClosedFunc   closed_func,
                     gpointer                user_data)
{
  g_return_if_fail (conn != NULL);
  g_return_if_fail (conn->in_source == NULL);
  g_return_if_fail (conn->state == HELIX_WS_CONN_STATE_OPEN);

  conn->message_func = message_func;
  conn->closed_func = closed_func;
  conn->user_data = user_data;

  /* The socket's own source where nothing is in between: a pollable
   * stream's source has a child source, and GLib takes each source's
   * descriptors out of the poll set and back in for every dispatch, at a
   * cost that grows with the number of descriptors, unless it may recurse
   * (the callbacks never iterate the main context). */
  if (conn->socket != NULL && conn->loop->epfd >= 0)
    {
      struct epoll_event event = { .events = EPOLLIN, .data.ptr = conn };

      if (epoll_ctl (conn->loop->epfd, EPOLL_CTL_ADD, g_socket_get_fd (conn->socket), &event) == 0)
        conn->in_epoll = TRUE;
      else
        g_warning ("WebSocket: could not watch a socket with epoll: %s", g_strerror (errno));
    }

  if (conn->socket != NULL)
    {
      if (!conn->in_epoll)
        {
          conn->in_source = g_socket_create_source (conn->socket,
                                                    G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
          g_source_set_callback (conn->in_source, G_SOURCE_FUNC (socket_input_cb), conn, NULL);
        }

      conn->in_idle = g_idle_source_new ();
      g_source_set_priority (conn->in_idle, G_PRIORITY_DEFAULT);
      g_source_set_static_name (conn->in_idle, "[helix] WebSocket first read");
      g_source_set_callback (conn->in_idle, first_read_cb, conn, NULL);
      attach (conn, conn->in_idle);
    }
  else
    {
      conn->in_source = g_pollable_input_stream_create_source (conn->in, NULL);
      g_source_set_callback (conn->in_source, G_SOURCE_FUNC (input_cb), conn, NULL);
    }
  g_debug ("WebSocket: watching %s",
           conn->in_epoll ? "the socket with epoll" :
           conn->socket != NULL ? "the socket" : "a pollable stream");
  if (conn->in_source != NULL)
    {
      g_source_set_static_name (conn->in_source, "[helix] WebSocket input");
      g_source_set_can_recurse (conn->in_source, TRUE);
      attach (conn, conn->in_source);
    }

  conn->last_input_us = g_get_monotonic_time ();
  if (conn->keepalive_s > 0)
    conn->next_ping_us = conn->last_input_us + conn->keepalive_s * G_USEC_PER_SEC;
}

/**
 * helix_ws_conn_release:
 * @conn: (transfer full): a connection
 *
 * Drops the owner's reference: no callback is called any more, and an
 * open connection's stream is closed at once, without a closing handshake.
 */
void
helix_ws_conn_release (HelixWsConn *conn)
{
  g_return_if_fail (conn != NULL);

  conn->message_func = NULL;
  conn->closed_func = NULL;
  finish (conn);
  helix_ws_conn_unref (conn);
}

/**
 * helix_ws_conn_set_keepalive:
 * @conn: a connection
 * @interval_s: seconds between pings; 0 for none
 *
 * Pings the peer every @interval_s seconds, and closes the connection
 * (1008) when the peer sent nothing at all, not even a pong, for three
 * intervals.
 */
void
helix_ws_conn_set_keepalive (HelixWsConn *conn,
                             guint        interval_s)
{
  gint64 now = g_get_monotonic_time ();

  g_return_if_fail (conn != NULL);

  conn->keepalive_s = interval_s;
  conn->last_input_us = now;
  conn->next_ping_us = now + (gint64) interval_s * G_USEC_PER_SEC;
}

/**
 * helix_ws_conn_get_state:
 * @conn: a connection
 *
 * Returns: whether @conn is open, closing or closed
 */
HelixWsConnState
helix_ws_conn_get_state (HelixWsConn *conn)
{
  g_return_val_if_fail (conn != NULL, HELIX_WS_CONN_STATE_CLOSED);

  return conn->state;
}

/**
 * helix_ws_conn_get_queued_bytes:
 * @conn: a connection
 *
 * Returns: the bytes queued and not written yet
 */
gsize
helix_ws_conn_get_queued_bytes (HelixWsConn *conn)
{
  g_return_val_if_fail (conn != NULL, 0);

  return conn->output.len - conn->out_off;
}

/**
 * helix_ws_conn_send_text:
 * @conn: a connection
 * @text: (array length=len): UTF-8 text
 * @len: its length in bytes
 *
 * Queues a text message. It is written with whatever else is queued for
 * the connection in the main loop's next iteration. Past
 * HELIX_WS_CONN_MAX_OUTPUT_BYTES queued the connection is closed instead
 * (HELIX_WS_CLOSE_OUTPUT_FULL).
 *
 * Returns: %TRUE if it was queued, %FALSE if the connection is closing or
 *   closed
 */
gboolean
helix_ws_conn_send_text (HelixWsConn *conn,
                         const char  *text,
                         gsize        len)
{
  g_return_val_if_fail (conn != NULL, FALSE);
  g_return_val_if_fail (text != NULL || len == 0, FALSE);

  if (conn->state != HELIX_WS_CONN_STATE_OPEN)
    return FALSE;

  return queue_frame (conn, OPCODE_TEXT, (const guint8 *) text, len);
}

/**
 * helix_ws_conn_close:
 * @conn: a connection
 * @code: the close code
 * @reason: (nullable): the close reason, cut to 123 bytes
 *
 * Starts the closing handshake: sends a close frame, then waits (at most
 * HELIX_WS_CONN_CLOSE_TIMEOUT_S) for the peer's before closing the stream.
 * Does nothing unless @conn is open.
 */
void
helix_ws_conn_close (HelixWsConn *conn,
                     gushort      code,
                     const char  *reason)
{
  g_return_if_fail (conn != NULL);

  start_close (conn, code, reason);
}
