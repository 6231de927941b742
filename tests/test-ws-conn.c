/* test-ws-conn.c: HelixWsConn, the gateway's server side of WebSocket
 *
 * A SoupServer on an ephemeral loopback port answers the handshake and
 * hands the stream to a HelixWsConn, as the gateway does. Its peers are
 * libsoup's own WebSocket client (text both ways, coalesced frames, large
 * messages, closing handshakes, keep-alive) and a raw client on a socket
 * of its own, in a thread with blocking I/O, that writes frames libsoup
 * would never send (frames sent with the upgrade request, fragments with
 * control frames between them, and every protocol violation, each with
 * the close code it must get), reads nothing for a while (the output cap),
 * or writes random bytes. The libsoup client's tests run over TLS too
 * (/helix/ws-conn/tls/…): there the connection reads and writes through
 * GTlsConnection's pollable streams with a GSource of its own, not the
 * epoll descriptor of plain sockets.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <libsoup/soup.h>

#include "helix-test-server.h"
#include "helix-test-tls.h"
#include "helix-test-util.h"
#include "helix-ws-conn.h"

#define WAIT_TIMEOUT_S 30

/* As the gateway's sync socket (HELIX_SYNC_MAX_FRAME_BYTES). */
#define MAX_MESSAGE (1024 * 1024)

typedef struct _Fixture Fixture;

/* The server side of one connection. */
typedef struct
{
  Fixture     *f;
  HelixWsConn *ws;         /* (owned) (nullable): until released */
  GPtrArray   *messages;   /* (element-type GBytes) */
  guint        n_closed;   /* calls of the closed callback */
  gushort      close_code;
} Peer;

struct _Fixture
{
  HelixTestServer  server;
  SoupSession     *session;
  GPtrArray       *peers;       /* (element-type Peer) */
  gboolean         echo;        /* send every message back */
  guint            keepalive_s;
  char            *tls_dir;     /* (nullable): the certificate's, over TLS */
};

static void
peer_free (gpointer data)
{
  Peer *peer = data;

  g_clear_pointer (&peer->ws, helix_ws_conn_release);
  g_ptr_array_unref (peer->messages);
  g_free (peer);
}

static void
peer_message_cb (HelixWsConn *ws,
                 const char  *text,
                 gsize        len,
                 gpointer     user_data)
{
  Peer *peer = user_data;

  g_assert_true (ws == peer->ws);
  g_assert_cmpuint (peer->n_closed, ==, 0);
  g_ptr_array_add (peer->messages, g_bytes_new (text, len));
  if (peer->f->echo)
    helix_ws_conn_send_text (ws, text, len);
}

static void
peer_closed_cb (HelixWsConn *ws,
                gushort      code,
                gpointer     user_data)
{
  Peer *peer = user_data;

  g_assert_true (ws == peer->ws);
  g_assert_cmpint (helix_ws_conn_get_state (ws), ==, HELIX_WS_CONN_STATE_CLOSED);
  peer->n_closed++;
  peer->close_code = code;
}

static void
upgraded_cb (SoupServerMessage *msg,
             Fixture           *f)
{
  g_autoptr(GIOStream) stream = NULL;
  Peer *peer;

  g_assert_cmpuint (soup_server_message_get_status (msg), ==, SOUP_STATUS_SWITCHING_PROTOCOLS);

  g_object_ref (msg);
  stream = soup_server_message_steal_connection (msg);
  g_object_unref (msg);
  g_assert_nonnull (stream);

  peer = g_new0 (Peer, 1);
  peer->f = f;
  peer->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  peer->ws = helix_ws_conn_new (stream, MAX_MESSAGE);
  if (f->keepalive_s > 0)
    helix_ws_conn_set_keepalive (peer->ws, f->keepalive_s);
  helix_ws_conn_start (peer->ws, peer_message_cb, peer_closed_cb, peer);
  g_ptr_array_add (f->peers, peer);
}

static void
server_cb (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *path,
           GHashTable        *query,
           gpointer           user_data)
{
  Fixture *f = user_data;

  if (!soup_websocket_server_process_handshake (msg, NULL, NULL, NULL, NULL))
    return;
  g_signal_connect (msg, "wrote-informational", G_CALLBACK (upgraded_cb), f);
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  f->peers = g_ptr_array_new_with_free_func (peer_free);
  f->session = soup_session_new ();
  helix_test_server_start (&f->server, server_cb, f);
}

/* The same over TLS, with a certificate of the test's own. */
static void
fixture_setup_tls (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *cert_path = NULL;
  g_autofree char *key_path = NULL;

  f->tls_dir = g_dir_make_tmp ("helix-ws-conn-tls-XXXXXX", &error);
  g_assert_no_error (error);
  cert_path = g_build_filename (f->tls_dir, "cert.pem", NULL);
  key_path = g_build_filename (f->tls_dir, "key.pem", NULL);
  f->server.tls_certificate = helix_test_tls_make_certificate (cert_path, key_path);
  fixture_setup (f, data);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_ptr_array_unref (f->peers);
  g_clear_object (&f->session);
  helix_test_server_clear (&f->server);
  if (f->tls_dir != NULL)
    helix_test_rm_rf (f->tls_dir);
  g_free (f->tls_dir);
}

/* Trusts exactly the test server's certificate. */
static gboolean
accept_certificate_cb (SoupMessage          *msg,
                       GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       Fixture              *f)
{
  return g_tls_certificate_is_same (certificate, f->server.tls_certificate);
}

static Peer *
wait_peer (Fixture *f,
           guint    n)
{
  helix_test_wait_for (f->peers->len > n, WAIT_TIMEOUT_S, "the upgrade");

  return g_ptr_array_index (f->peers, n);
}

/* libsoup's client {{{1 */

typedef struct
{
  SoupWebsocketConnection *ws;
  GQueue                   messages; /* (element-type GBytes) */
  gboolean                 closed;
  gushort                  close_code;
} Client;

static void
client_message_cb (SoupWebsocketConnection *ws,
                   gint                     type,
                   GBytes                  *message,
                   Client                  *c)
{
  g_assert_cmpint (type, ==, SOUP_WEBSOCKET_DATA_TEXT);
  g_queue_push_tail (&c->messages, g_bytes_ref (message));
}

static void
client_closed_cb (SoupWebsocketConnection *ws,
                  Client                  *c)
{
  c->closed = TRUE;
  c->close_code = soup_websocket_connection_get_close_code (ws);
}

static void
client_free (Client *c)
{
  if (soup_websocket_connection_get_state (c->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    {
      soup_websocket_connection_close (c->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      helix_test_wait_for (c->closed, WAIT_TIMEOUT_S, "the client to close");
    }
  g_signal_handlers_disconnect_by_data (c->ws, c);
  g_object_unref (c->ws);
  g_queue_clear_full (&c->messages, (GDestroyNotify) g_bytes_unref);
  g_free (c);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Client, client_free)

static Client *
client_connect (Fixture *f)
{
  g_autofree char *url = helix_test_server_url (&f->server, "/ws");
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  Client *c = g_new0 (Client, 1);

  if (f->server.tls_certificate != NULL)
    g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_certificate_cb), f);
  soup_session_websocket_connect_async (f->session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        helix_test_result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_TIMEOUT_S, "the WebSocket handshake");
  c->ws = soup_session_websocket_connect_finish (f->session, result, &error);
  g_assert_no_error (error);
  soup_websocket_connection_set_max_incoming_payload_size (c->ws, 4 * MAX_MESSAGE);
  g_signal_connect (c->ws, "message", G_CALLBACK (client_message_cb), c);
  g_signal_connect (c->ws, "closed", G_CALLBACK (client_closed_cb), c);

  return c;
}

static GBytes *
client_next (Client *c)
{
  helix_test_wait_for (c->messages.length > 0 || c->closed, WAIT_TIMEOUT_S, "a message");
  if (c->messages.length == 0)
    g_error ("The connection closed (%u) instead of sending a message", c->close_code);

  return g_queue_pop_head (&c->messages);
}

static void
assert_bytes_equal (GBytes     *bytes,
                    const char *text,
                    gsize       len)
{
  gsize size;
  const char *data = g_bytes_get_data (bytes, &size);

  g_assert_cmpuint (size, ==, len);
  /* An empty GBytes may have no data at all. */
  g_assert_true (len == 0 || memcmp (data, text, len) == 0);
}

/* The raw client {{{1 */

typedef struct
{
  guint      port;
  GBytes    *send;                /* written after the handshake */
  gboolean   pipelined;           /* @send goes with the upgrade request */
  gboolean   shutdown_after_send; /* then the write side is shut down */
  gboolean   wait_before_reading; /* reads nothing until @reading */
  gint       reading;
  gboolean   ignore_close;        /* does not answer the close frame */

  /* What the server sent. */
  GPtrArray *texts;               /* (element-type GBytes) */
  GPtrArray *pongs;               /* (element-type GBytes) */
  guint      n_pings;
  gint       close_code;          /* of its close frame; -1: none, 0: no code */
  gsize      n_bytes;
  char      *failure;
  gint       done;
} Raw;

static const guint8 test_mask[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* Appends a frame: @b0 is its first byte (FIN, RSV, opcode). The header says
 * @announced bytes (G_MAXUINT64: @len), of which @len follow. */
static void
put_frame (GByteArray *out,
           guint8      b0,
           const void *payload,
           gsize       len,
           gboolean    masked,
           guint64     announced)
{
  guint8 header[14];
  gsize hlen = 2;

  if (announced == G_MAXUINT64)
    announced = len;

  header[0] = b0;
  if (announced < 126)
    header[1] = (guint8) announced;
  else if (announced <= G_MAXUINT16)
    {
      header[1] = 126;
      header[2] = (guint8) (announced >> 8);
      header[3] = (guint8) announced;
      hlen = 4;
    }
  else
    {
      header[1] = 127;
      for (guint i = 0; i < 8; i++)
        header[2 + i] = (guint8) (announced >> (56 - 8 * i));
      hlen = 10;
    }
  if (masked)
    {
      header[1] |= 0x80;
      memcpy (header + hlen, test_mask, 4);
      hlen += 4;
    }
  g_byte_array_append (out, header, hlen);

  for (gsize i = 0; i < len; i++)
    {
      guint8 b = ((const guint8 *) payload)[i];

      if (masked)
        b ^= test_mask[i & 3];
      g_byte_array_append (out, &b, 1);
    }
}

static void
put_text (GByteArray *out,
          const char *text)
{
  put_frame (out, 0x81, text, strlen (text), TRUE, G_MAXUINT64);
}

static gboolean
raw_read (GInputStream *in,
          guint8       *buffer,
          gsize         size)
{
  gsize got = 0;

  return g_input_stream_read_all (in, buffer, size, &got, NULL, NULL) && got == size;
}

static gpointer
raw_thread (gpointer data)
{
  Raw *r = data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) head = g_string_new (NULL);
  g_autofree char *request = NULL;
  GOutputStream *out;
  GInputStream *in;
  gboolean close_answered = FALSE;

  g_socket_client_set_timeout (client, WAIT_TIMEOUT_S);
  conn = g_socket_client_connect_to_host (client, "127.0.0.1", r->port, NULL, &error);
  if (conn == NULL)
    goto fail;
  out = g_io_stream_get_output_stream (G_IO_STREAM (conn));
  in = g_io_stream_get_input_stream (G_IO_STREAM (conn));

  request = g_strdup_printf ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\n\r\n", r->port);
  if (r->pipelined && r->send != NULL)
    {
      g_autoptr(GByteArray) both = g_byte_array_new ();

      g_byte_array_append (both, (const guint8 *) request, strlen (request));
      g_byte_array_append (both, g_bytes_get_data (r->send, NULL), g_bytes_get_size (r->send));
      if (!g_output_stream_write_all (out, both->data, both->len, NULL, NULL, &error))
        goto fail;
    }
  else if (!g_output_stream_write_all (out, request, strlen (request), NULL, NULL, &error))
    goto fail;

  while (!g_str_has_suffix (head->str, "\r\n\r\n"))
    {
      guint8 c;

      if (!raw_read (in, &c, 1))
        {
          r->failure = g_strdup ("no answer to the handshake");
          goto out;
        }
      g_string_append_c (head, (char) c);
    }
  if (!g_str_has_prefix (head->str, "HTTP/1.1 101 "))
    {
      r->failure = g_strdup_printf ("no upgrade: %s", head->str);
      goto out;
    }

  if (r->send != NULL && !r->pipelined &&
      !g_output_stream_write_all (out, g_bytes_get_data (r->send, NULL), g_bytes_get_size (r->send),
                                  NULL, NULL, &error))
    goto fail;
  if (r->shutdown_after_send &&
      !g_socket_shutdown (g_socket_connection_get_socket (conn), FALSE, TRUE, &error))
    goto fail;

  while (r->wait_before_reading && !g_atomic_int_get (&r->reading))
    g_usleep (1000);

  /* Frames until the end of the stream. */
  for (;;)
    {
      guint8 header[2];
      guint64 size;
      g_autofree guint8 *body = NULL;
      guint8 opcode;

      if (!raw_read (in, header, 2))
        break;
      r->n_bytes += 2;
      opcode = header[0] & 0x0f;
      if (header[1] & 0x80)
        {
          r->failure = g_strdup ("a masked frame from the server");
          goto out;
        }
      size = header[1] & 0x7f;
      if (size == 126)
        {
          guint8 ext[2];

          if (!raw_read (in, ext, 2))
            break;
          size = ((guint64) ext[0] << 8) | ext[1];
        }
      else if (size == 127)
        {
          guint8 ext[8];

          if (!raw_read (in, ext, 8))
            break;
          size = 0;
          for (guint i = 0; i < 8; i++)
            size = (size << 8) | ext[i];
        }
      if (size > 4 * MAX_MESSAGE)
        {
          r->failure = g_strdup ("a frame over 4 MiB");
          goto out;
        }
      body = g_malloc (size + 1);
      if (size > 0 && !raw_read (in, body, size))
        break;
      r->n_bytes += size;

      switch (opcode)
        {
        case 0x1:
          g_ptr_array_add (r->texts, g_bytes_new (body, size));
          break;

        case 0x8:
          r->close_code = size >= 2 ? (body[0] << 8) | body[1] : 0;
          if (!r->ignore_close && !close_answered)
            {
              g_autoptr(GByteArray) reply = g_byte_array_new ();

              put_frame (reply, 0x88, body, MIN (size, 2), TRUE, G_MAXUINT64);
              /* The server may have closed its side already. */
              g_output_stream_write_all (out, reply->data, reply->len, NULL, NULL, NULL);
              close_answered = TRUE;
            }
          break;

        case 0x9:
          r->n_pings++;
          break;

        case 0xa:
          g_ptr_array_add (r->pongs, g_bytes_new (body, size));
          break;

        default:
          r->failure = g_strdup_printf ("opcode %u from the server", opcode);
          goto out;
        }
    }
  goto out;

fail:
  r->failure = g_strdup (error != NULL ? error->message : "failed");
out:
  if (conn != NULL)
    g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
  g_atomic_int_set (&r->done, 1);
  g_main_context_wakeup (NULL);
  return NULL;
}

static Raw *
raw_new (Fixture    *f,
         GByteArray *send)
{
  Raw *r = g_new0 (Raw, 1);

  r->port = f->server.port;
  r->send = send != NULL ? g_bytes_new (send->data, send->len) : NULL;
  r->texts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  r->pongs = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  r->close_code = -1;

  return r;
}

static void
raw_free (Raw *r)
{
  g_clear_pointer (&r->send, g_bytes_unref);
  g_ptr_array_unref (r->texts);
  g_ptr_array_unref (r->pongs);
  g_free (r->failure);
  g_free (r);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Raw, raw_free)

/* Runs @r to the end of the stream, while the main loop serves it. */
static void
raw_run (Raw *r)
{
  GThread *thread = g_thread_new ("raw-websocket", raw_thread, r);

  helix_test_wait_for (g_atomic_int_get (&r->done), WAIT_TIMEOUT_S, "the raw client");
  g_thread_join (thread);
  if (r->failure != NULL)
    g_error ("raw client: %s", r->failure);
}

/* Tests with libsoup's client {{{1 */

static void
test_text (Fixture       *f,
           gconstpointer  data)
{
  g_autoptr(Client) c = client_connect (f);
  g_autoptr(GBytes) reply = NULL;
  Peer *peer = wait_peer (f, 0);

  soup_websocket_connection_send_text (c->ws, "hello, server");
  helix_test_wait_for (peer->messages->len == 1, WAIT_TIMEOUT_S, "the message");
  assert_bytes_equal (g_ptr_array_index (peer->messages, 0), "hello, server", 13);

  /* Empty and non-ASCII messages too. */
  g_assert_true (helix_ws_conn_send_text (peer->ws, "héllo, client ✓", strlen ("héllo, client ✓")));
  g_assert_true (helix_ws_conn_send_text (peer->ws, "", 0));
  reply = client_next (c);
  assert_bytes_equal (reply, "héllo, client ✓", strlen ("héllo, client ✓"));
  g_clear_pointer (&reply, g_bytes_unref);
  reply = client_next (c);
  assert_bytes_equal (reply, "", 0);

  soup_websocket_connection_send_text (c->ws, "");
  helix_test_wait_for (peer->messages->len == 2, WAIT_TIMEOUT_S, "the empty message");
  g_assert_cmpuint (g_bytes_get_size (g_ptr_array_index (peer->messages, 1)), ==, 0);
}

/* Frames sent in one go are queued, then written together. */
static void
test_coalesced (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(Client) c = client_connect (f);
  Peer *peer = wait_peer (f, 0);
  guint n = 2000;

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *text = g_strdup_printf ("message %05u", i);

      g_assert_true (helix_ws_conn_send_text (peer->ws, text, strlen (text)));
    }
  /* Nothing is written before the main loop runs: 13 bytes and 2 of header each. */
  g_assert_cmpuint (helix_ws_conn_get_queued_bytes (peer->ws), ==, n * 15);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GBytes) bytes = client_next (c);
      g_autofree char *text = g_strdup_printf ("message %05u", i);

      assert_bytes_equal (bytes, text, strlen (text));
    }
  g_assert_cmpuint (helix_ws_conn_get_queued_bytes (peer->ws), ==, 0);

  /* And the other way, with an echo. */
  f->echo = TRUE;
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *text = g_strdup_printf ("echo %05u", i);

      soup_websocket_connection_send_text (c->ws, text);
    }
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GBytes) bytes = client_next (c);
      g_autofree char *text = g_strdup_printf ("echo %05u", i);

      assert_bytes_equal (bytes, text, strlen (text));
    }
  g_assert_cmpuint (peer->messages->len, ==, n);
}

static void
test_large (Fixture       *f,
            gconstpointer  data)
{
  g_autoptr(Client) c = client_connect (f);
  g_autofree char *big = g_malloc (MAX_MESSAGE + 1);
  g_autoptr(GBytes) bytes = NULL;
  Peer *peer = wait_peer (f, 0);

  for (gsize i = 0; i < MAX_MESSAGE; i++)
    big[i] = 'a' + i % 26;
  big[MAX_MESSAGE] = '\0';

  /* Exactly the limit, both ways, and a medium one (a 16-bit length). */
  soup_websocket_connection_send_text (c->ws, big);
  soup_websocket_connection_send_text (c->ws, big + MAX_MESSAGE - 60000);
  helix_test_wait_for (peer->messages->len == 2, WAIT_TIMEOUT_S, "the large messages");
  assert_bytes_equal (g_ptr_array_index (peer->messages, 0), big, MAX_MESSAGE);
  assert_bytes_equal (g_ptr_array_index (peer->messages, 1), big + MAX_MESSAGE - 60000, 60000);

  g_assert_true (helix_ws_conn_send_text (peer->ws, big, MAX_MESSAGE));
  bytes = client_next (c);
  assert_bytes_equal (bytes, big, MAX_MESSAGE);

  /* One byte more is refused from the header, with 1009. */
  big[MAX_MESSAGE - 1] = 'x';
  {
    g_autofree char *over = g_strconcat (big, "y", NULL);

    soup_websocket_connection_send_text (c->ws, over);
  }
  helix_test_wait_for (c->closed, WAIT_TIMEOUT_S, "the close");
  g_assert_cmpuint (c->close_code, ==, SOUP_WEBSOCKET_CLOSE_TOO_BIG);
  helix_test_wait_for (peer->n_closed == 1, WAIT_TIMEOUT_S, "the server's close");
  g_assert_cmpuint (peer->close_code, ==, SOUP_WEBSOCKET_CLOSE_TOO_BIG);
  g_assert_cmpuint (peer->messages->len, ==, 2);
}

static void
test_close_by_server (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(Client) c = client_connect (f);
  Peer *peer = wait_peer (f, 0);

  g_assert_true (helix_ws_conn_send_text (peer->ws, "last", 4));
  helix_ws_conn_close (peer->ws, 4000, "bye now");
  g_assert_cmpint (helix_ws_conn_get_state (peer->ws), ==, HELIX_WS_CONN_STATE_CLOSING);
  /* Nothing is sent after the close frame. */
  g_assert_false (helix_ws_conn_send_text (peer->ws, "too late", 8));

  helix_test_wait_for (c->closed, WAIT_TIMEOUT_S, "the close");
  g_assert_cmpuint (c->close_code, ==, 4000);
  g_assert_cmpstr (soup_websocket_connection_get_close_data (c->ws), ==, "bye now");
  g_assert_cmpuint (c->messages.length, ==, 1);
  helix_test_wait_for (peer->n_closed == 1, WAIT_TIMEOUT_S, "the server's close");
  g_assert_cmpuint (peer->close_code, ==, 4000);
}

static void
test_close_by_client (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(Client) c = client_connect (f);
  Peer *peer = wait_peer (f, 0);

  soup_websocket_connection_send_text (c->ws, "first");
  soup_websocket_connection_close (c->ws, 4321, "leaving");
  helix_test_wait_for (peer->n_closed == 1, WAIT_TIMEOUT_S, "the server's close");
  g_assert_cmpuint (peer->close_code, ==, 4321);
  g_assert_cmpuint (peer->messages->len, ==, 1);
  /* The close is echoed with its code. */
  helix_test_wait_for (c->closed, WAIT_TIMEOUT_S, "the client's close");
  g_assert_cmpuint (c->close_code, ==, 4321);

  /* Closing a closed connection does nothing. */
  helix_ws_conn_close (peer->ws, 1000, NULL);
  g_assert_cmpuint (peer->n_closed, ==, 1);
}

/* The owner drops an open connection: its stream is closed, and it calls
 * nothing any more. */
static void
test_release (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(Client) c = client_connect (f);
  Peer *peer = wait_peer (f, 0);

  helix_ws_conn_send_text (peer->ws, "dropped", 7);
  g_clear_pointer (&peer->ws, helix_ws_conn_release);
  helix_test_wait_for (c->closed, WAIT_TIMEOUT_S, "the client's close");
  g_assert_cmpuint (peer->n_closed, ==, 0);
}

/* Keep-alive pings are answered by libsoup's client: the connection stays. */
static void
test_keepalive (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(Client) c = NULL;
  Peer *peer;
  gint64 until;

  f->keepalive_s = 1;
  c = client_connect (f);
  peer = wait_peer (f, 0);

  until = g_get_monotonic_time () + 4 * G_USEC_PER_SEC;
  helix_test_wait_for (g_get_monotonic_time () >= until, WAIT_TIMEOUT_S, "four seconds");
  g_assert_cmpint (helix_ws_conn_get_state (peer->ws), ==, HELIX_WS_CONN_STATE_OPEN);
  g_assert_false (c->closed);

  soup_websocket_connection_send_text (c->ws, "still here");
  helix_test_wait_for (peer->messages->len == 1, WAIT_TIMEOUT_S, "the message");
}

/* Tests with the raw client {{{1 */

/* Fragments with control frames between them, a NUL byte, a split
 * character. */
static void
test_fragments (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GByteArray) send = g_byte_array_new ();
  g_autoptr(Raw) r = NULL;
  Peer *peer;
  static const char nul_text[] = "a\0b";

  put_frame (send, 0x01, "Hel", 3, TRUE, G_MAXUINT64);
  put_frame (send, 0x89, "ping-1", 6, TRUE, G_MAXUINT64);
  put_frame (send, 0x00, "lo, ", 4, TRUE, G_MAXUINT64);
  put_frame (send, 0x8a, "unasked", 7, TRUE, G_MAXUINT64);
  put_frame (send, 0x80, "world", 5, TRUE, G_MAXUINT64);
  put_frame (send, 0x81, nul_text, 3, TRUE, G_MAXUINT64);
  /* "é" cut between two fragments. */
  put_frame (send, 0x01, "caf\xc3", 4, TRUE, G_MAXUINT64);
  put_frame (send, 0x80, "\xa9", 1, TRUE, G_MAXUINT64);
  put_frame (send, 0x89, "", 0, TRUE, G_MAXUINT64);
  put_frame (send, 0x88, "\x03\xe8" "done", 6, TRUE, G_MAXUINT64);

  r = raw_new (f, send);
  raw_run (r);

  peer = wait_peer (f, 0);
  g_assert_cmpuint (peer->messages->len, ==, 3);
  assert_bytes_equal (g_ptr_array_index (peer->messages, 0), "Hello, world", 12);
  assert_bytes_equal (g_ptr_array_index (peer->messages, 1), nul_text, 3);
  assert_bytes_equal (g_ptr_array_index (peer->messages, 2), "café", 5);
  g_assert_cmpuint (r->pongs->len, ==, 2);
  assert_bytes_equal (g_ptr_array_index (r->pongs, 0), "ping-1", 6);
  assert_bytes_equal (g_ptr_array_index (r->pongs, 1), "", 0);
  g_assert_cmpint (r->close_code, ==, 1000);
  g_assert_cmpuint (peer->n_closed, ==, 1);
  g_assert_cmpuint (peer->close_code, ==, 1000);
}

/* Frames sent with the upgrade request, before the 101: libsoup has read
 * them already when the stream is handed over. */
static void
test_pipelined (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GByteArray) send = g_byte_array_new ();
  g_autoptr(Raw) r = NULL;
  Peer *peer;

  put_text (send, "early");
  put_text (send, "bird");
  put_frame (send, 0x88, "\x03\xe8", 2, TRUE, G_MAXUINT64);
  r = raw_new (f, send);
  r->pipelined = TRUE;
  raw_run (r);

  peer = wait_peer (f, 0);
  helix_test_wait_for (peer->n_closed == 1, WAIT_TIMEOUT_S, "the server's close");
  g_assert_cmpuint (peer->messages->len, ==, 2);
  assert_bytes_equal (g_ptr_array_index (peer->messages, 0), "early", 5);
  assert_bytes_equal (g_ptr_array_index (peer->messages, 1), "bird", 4);
  g_assert_cmpuint (peer->close_code, ==, 1000);
  g_assert_cmpint (r->close_code, ==, 1000);
}

typedef struct
{
  const char *name;
  guint       kind;
  gushort     code;
} Violation;

static const Violation violations[] = {
  { "unmasked", 0, 1002 },
  { "rsv1", 1, 1002 },
  { "rsv3", 2, 1002 },
  { "opcode 3", 3, 1002 },
  { "opcode 11", 4, 1002 },
  { "control frame of 126 bytes", 5, 1002 },
  { "fragmented ping", 6, 1002 },
  { "continuation without a start", 7, 1002 },
  { "text inside a fragmented message", 8, 1002 },
  { "binary inside a fragmented message", 9, 1002 },
  { "binary", 10, 1003 },
  { "fragmented binary", 11, 1003 },
  { "a header of 2 MiB", 12, 1009 },
  { "a header of 2^63 bytes", 13, 1002 },
  { "fragments over 1 MiB", 14, 1009 },
  { "invalid UTF-8", 15, 1007 },
  { "invalid UTF-8 across fragments", 16, 1007 },
  { "overlong UTF-8", 17, 1007 },
  { "close of one byte", 18, 1002 },
  { "close code 1005", 19, 1002 },
  { "close code 999", 20, 1002 },
  { "close reason not UTF-8", 21, 1007 },
};

static void
put_violation (GByteArray *out,
               guint       kind)
{
  static char big[600 * 1024];

  switch (kind)
    {
    case 0:
      put_frame (out, 0x81, "{}", 2, FALSE, G_MAXUINT64);
      break;
    case 1:
      put_frame (out, 0xc1, "{}", 2, TRUE, G_MAXUINT64);
      break;
    case 2:
      put_frame (out, 0x91, "{}", 2, TRUE, G_MAXUINT64);
      break;
    case 3:
      put_frame (out, 0x83, "{}", 2, TRUE, G_MAXUINT64);
      break;
    case 4:
      put_frame (out, 0x8b, "", 0, TRUE, G_MAXUINT64);
      break;
    case 5:
      {
        guint8 payload[126] = { 0 };

        put_frame (out, 0x89, payload, sizeof payload, TRUE, G_MAXUINT64);
      }
      break;
    case 6:
      put_frame (out, 0x09, "p", 1, TRUE, G_MAXUINT64);
      break;
    case 7:
      put_frame (out, 0x80, "tail", 4, TRUE, G_MAXUINT64);
      break;
    case 8:
      put_frame (out, 0x01, "start", 5, TRUE, G_MAXUINT64);
      put_frame (out, 0x81, "again", 5, TRUE, G_MAXUINT64);
      break;
    case 9:
      put_frame (out, 0x01, "start", 5, TRUE, G_MAXUINT64);
      put_frame (out, 0x82, "again", 5, TRUE, G_MAXUINT64);
      break;
    case 10:
      put_frame (out, 0x82, "{}", 2, TRUE, G_MAXUINT64);
      break;
    case 11:
      put_frame (out, 0x02, "{", 1, TRUE, G_MAXUINT64);
      put_frame (out, 0x80, "}", 1, TRUE, G_MAXUINT64);
      break;
    case 12:
      /* Only the header: the close must not wait for the payload. */
      put_frame (out, 0x81, NULL, 0, TRUE, 2 * MAX_MESSAGE);
      break;
    case 13:
      put_frame (out, 0x81, NULL, 0, TRUE, G_GUINT64_CONSTANT (1) << 63);
      break;
    case 14:
      memset (big, ' ', sizeof big);
      put_frame (out, 0x01, big, sizeof big, TRUE, G_MAXUINT64);
      put_frame (out, 0x80, NULL, 0, TRUE, sizeof big);
      break;
    case 15:
      put_frame (out, 0x81, "{\"a\":\"\xff\"}", 10, TRUE, G_MAXUINT64);
      break;
    case 16:
      put_frame (out, 0x01, "caf\xc3", 4, TRUE, G_MAXUINT64);
      put_frame (out, 0x80, "e", 1, TRUE, G_MAXUINT64);
      break;
    case 17:
      put_frame (out, 0x81, "\xc0\xaf", 2, TRUE, G_MAXUINT64);
      break;
    case 18:
      put_frame (out, 0x88, "\x03", 1, TRUE, G_MAXUINT64);
      break;
    case 19:
      put_frame (out, 0x88, "\x03\xed", 2, TRUE, G_MAXUINT64);
      break;
    case 20:
      put_frame (out, 0x88, "\x03\xe7", 2, TRUE, G_MAXUINT64);
      break;
    case 21:
      put_frame (out, 0x88, "\x03\xe8\xff", 3, TRUE, G_MAXUINT64);
      break;
    default:
      g_assert_not_reached ();
    }
}

/* Each violation, after a valid message, gets its close code; what came
 * before it was delivered, nothing after it. */
static void
test_violations (Fixture       *f,
                 gconstpointer  data)
{
  for (guint i = 0; i < G_N_ELEMENTS (violations); i++)
    {
      g_autoptr(GByteArray) send = g_byte_array_new ();
      g_autoptr(Raw) r = NULL;
      Peer *peer;

      g_test_message ("violation: %s", violations[i].name);
      put_text (send, "before");
      put_violation (send, violations[i].kind);
      put_text (send, "after");

      r = raw_new (f, send);
      raw_run (r);

      peer = wait_peer (f, i);
      g_assert_cmpint (r->close_code, ==, violations[i].code);
      helix_test_wait_for (peer->n_closed == 1, WAIT_TIMEOUT_S, "the server's close");
      g_assert_cmpuint (peer->close_code, ==, violations[i].code);
      g_assert_cmpuint (peer->messages->len, ==, 1);
      assert_bytes_equal (g_ptr_array_index (peer->messages, 0), "before", 6);
    }
}

/* A peer that goes without a close frame. */
static void
test_eof (Fixture       *f,
          gconstpointer  data)
{
  g_autoptr(GByteArray) send = g_byte_array_new ();
  g_autoptr(Raw) r = NULL;
  Peer *peer;

  put_text (send, "one");
  /* Half a frame. */
  put_frame (send, 0x81, "tw", 2, TRUE, 3);
  r = raw_new (f, send);
  r->shutdown_after_send = TRUE;
  raw_run (r);

  peer = wait_peer (f, 0);
  helix_test_wait_for (peer->n_closed == 1, WAIT_TIMEOUT_S, "the server's close");
  g_assert_cmpuint (peer->close_code, ==, 1006);
  g_assert_cmpuint (peer->messages->len, ==, 1);
  g_assert_cmpint (r->close_code, ==, -1);
}

/* A peer that sends nothing, not even pongs, for three intervals is closed (1008). */
static void
test_keepalive_timeout (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(Raw) r = NULL;
  Peer *peer;

  f->keepalive_s = 1;
  r = raw_new (f, NULL);
  r->ignore_close = TRUE;
  raw_run (r);

  peer = wait_peer (f, 0);
  g_assert_cmpuint (r->n_pings, >=, 1);
  g_assert_cmpint (r->close_code, ==, HELIX_WS_CLOSE_POLICY_VIOLATION);
  /* It waited for the close frame that never came. */
  g_assert_cmpuint (peer->n_closed, ==, 1);
  g_assert_cmpuint (peer->close_code, ==, HELIX_WS_CLOSE_POLICY_VIOLATION);
}

/* A peer that reads nothing: past the cap, the frames not started are
 * dropped and the connection closed with HELIX_WS_CLOSE_OUTPUT_FULL. */
static void
test_output_cap (Fixture       *f,
                 gconstpointer  data)
{
  g_autofree char *big = g_malloc (MAX_MESSAGE);
  g_autoptr(Raw) r = raw_new (f, NULL);
  GThread *thread;
  Peer *peer;
  gsize sent = 0;
  guint n_sent = 0;

  memset (big, 'z', MAX_MESSAGE);
  r->wait_before_reading = TRUE;
  thread = g_thread_new ("raw-websocket", raw_thread, r);
  peer = wait_peer (f, 0);

  while (helix_ws_conn_get_state (peer->ws) == HELIX_WS_CONN_STATE_OPEN)
    {
      /* Bounded: far more than the cap and any socket buffers. */
      g_assert_cmpuint (n_sent, <, 256);
      if (helix_ws_conn_send_text (peer->ws, big, MAX_MESSAGE))
        {
          n_sent++;
          sent += MAX_MESSAGE;
        }
      g_assert_cmpuint (helix_ws_conn_get_queued_bytes (peer->ws), <=,
                        HELIX_WS_CONN_MAX_OUTPUT_BYTES + 256);
      while (g_main_context_iteration (NULL, FALSE))
        ;
    }
  g_test_message ("closed after %u messages", n_sent);
  g_assert_cmpuint (sent, >, HELIX_WS_CONN_MAX_OUTPUT_BYTES);
  g_assert_cmpint (helix_ws_conn_get_state (peer->ws), ==, HELIX_WS_CONN_STATE_CLOSING);

  /* Now it reads: whole messages, then the close frame. */
  g_atomic_int_set (&r->reading, 1);
  helix_test_wait_for (g_atomic_int_get (&r->done), WAIT_TIMEOUT_S, "the raw client");
  g_thread_join (thread);
  g_assert_null (r->failure);
  g_assert_cmpint (r->close_code, ==, HELIX_WS_CLOSE_OUTPUT_FULL);
  g_assert_cmpuint (r->texts->len, <, n_sent);
  for (guint i = 0; i < r->texts->len; i++)
    assert_bytes_equal (g_ptr_array_index (r->texts, i), big, MAX_MESSAGE);
  helix_test_wait_for (peer->n_closed == 1, WAIT_TIMEOUT_S, "the server's close");
  g_assert_cmpuint (peer->close_code, ==, HELIX_WS_CLOSE_OUTPUT_FULL);
}

/* Random bytes after a valid handshake, from valid-looking frame headers
 * to noise: never a crash or a hang, always a close. */
static void
test_random (Fixture       *f,
             gconstpointer  data)
{
  guint n_rounds = 64;

  for (guint round = 0; round < n_rounds; round++)
    {
      guint32 seed = 0x5eed0000 + round;
      g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
      g_autoptr(GByteArray) send = g_byte_array_new ();
      g_autoptr(Raw) r = NULL;
      guint n_pieces = g_rand_int_range (rand, 1, 16);
      Peer *peer;

      for (guint i = 0; i < n_pieces; i++)
        {
          guint len = g_rand_int_range (rand, 0, 300);
          guint kind = g_rand_int_range (rand, 0, 10);
          g_autofree guint8 *bytes = g_malloc (len + 1);

          for (guint j = 0; j < len; j++)
            bytes[j] = g_rand_int_range (rand, 0, 256);

          /* Mostly valid frames, so that the noise comes after some state. */
          switch (kind < 6 ? 2 : kind < 8 ? 1 : kind == 8 ? 0 : 3)
            {
            case 0:
              /* Noise. */
              g_byte_array_append (send, bytes, len);
              break;
            case 1:
              /* A well-formed frame of any first byte, with random data. */
              put_frame (send, g_rand_int_range (rand, 0, 256), bytes, len,
                         g_rand_boolean (rand), G_MAXUINT64);
              break;
            case 2:
              /* A valid text or control frame. */
              {
                static const guint8 firsts[] = { 0x81, 0x01, 0x80, 0x00, 0x89, 0x8a };

                for (guint j = 0; j < len; j++)
                  bytes[j] = 0x20 + bytes[j] % 0x5f;
                put_frame (send, firsts[g_rand_int_range (rand, 0, G_N_ELEMENTS (firsts))],
                           bytes, MIN (len, 125), TRUE, G_MAXUINT64);
              }
              break;
            default:
              /* A frame that announces more than it holds. */
              put_frame (send, 0x81, bytes, len, TRUE, len + g_rand_int_range (rand, 1, 100000));
              break;
            }
        }

      r = raw_new (f, send);
      r->shutdown_after_send = TRUE;
      raw_run (r);

      peer = wait_peer (f, round);
      helix_test_wait_for (peer->n_closed == 1, WAIT_TIMEOUT_S, "the server's close");
      g_test_message ("seed %#x: %u bytes, %u messages, closed %u (raw client saw %d)", seed,
                      send->len, peer->messages->len, peer->close_code, r->close_code);
      g_assert_cmpuint (peer->close_code, >=, 1000);
    }
}

int
main (int    argc,
      char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/helix/ws-conn/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("text", test_text);
  ADD ("coalesced", test_coalesced);
  ADD ("large", test_large);
  ADD ("close-by-server", test_close_by_server);
  ADD ("close-by-client", test_close_by_client);
  ADD ("release", test_release);
  ADD ("keepalive", test_keepalive);
  ADD ("fragments", test_fragments);
  ADD ("pipelined", test_pipelined);
  ADD ("violations", test_violations);
  ADD ("eof", test_eof);
  ADD ("keepalive-timeout", test_keepalive_timeout);
  ADD ("output-cap", test_output_cap);
  ADD ("random", test_random);

#undef ADD
#define ADD(path, func) \
  g_test_add ("/helix/ws-conn/tls/" path, Fixture, NULL, fixture_setup_tls, func, fixture_teardown)

  /* What the libsoup client can do, over TLS. */
  ADD ("text", test_text);
  ADD ("coalesced", test_coalesced);
  ADD ("large", test_large);
  ADD ("close-by-server", test_close_by_server);
  ADD ("close-by-client", test_close_by_client);
  ADD ("release", test_release);
  ADD ("keepalive", test_keepalive);

#undef ADD

  ret = g_test_run ();
  helix_test_tls_end_workers ();

  return ret;
}
