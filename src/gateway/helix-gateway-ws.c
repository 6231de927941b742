/* helix-gateway-ws.c: the sync WebSocket (GET /api/v1/sync)
 *
 * The gateway side of src/sync/PROTOCOL.md. The upgrade request carries
 * `Authorization: Bearer <token>`; a plain handler on the same path checks
 * it (401), the browser `Origin` (403, allowlist `allowed-origins`) and the
 * method before the handshake is answered, so that nothing is upgraded
 * that should not be. permessage-deflate is not offered.
 *
 * The handshake is answered here too (soup_websocket_server_process_handshake());
 * once the 101 is written the stream is taken from libsoup and spoken to by
 * a HelixWsConn (helix-ws-conn.c), which coalesces the frames queued for a
 * connection in one main loop iteration into one write.
 *
 * Each open WebSocket is a SyncConn in the gateway's hub, listed under its
 * user. A connection says `hello {cursor}`, gets `welcome {head}`, then its
 * backlog (the user's ops above the cursor, in pages of at most 500 ops and
 * 1 MiB, one page per main loop iteration), then `synced`. A `push` is
 * stored (committed) before its `ack`; the ops it stored are sent at once to
 * the user's other connections that are synced. Connections still reading
 * their backlog are skipped: their next page reads the log, which already
 * holds the new ops. Every connection remembers the highest seq it was sent
 * (its cursor) and is only ever sent ops above it, so an op is neither lost
 * nor sent twice between the backlog and the live stream.
 *
 * Reads (backlog pages, heads, token checks) are synchronous, indexed
 * queries on the main loop. Pushes are stored by group commits: all the
 * pushes that arrived while the previous commit was being stored go into
 * one transaction (one fsync, synchronous=FULL) that a writer thread with
 * its own connection stores (helix-gateway-writer.c), while the main loop
 * goes on reading frames and fanning out; only once it is committed are
 * they acknowledged and fanned out, on the main loop, in the order they
 * arrived (flush_pushes_cb(), complete_batch()). One commit is in flight at
 * a time, so seqs are handed out and sent in the same order. A backlog read
 * sees what is committed; ops committed but not fanned out yet reach a
 * connection either from its backlog or from the fan-out, and its cursor
 * keeps the other copy out. Ops the gateway makes itself (REST sessions,
 * the assistant's answers: _helix_gateway_hub_store_op_async()) join the
 * same group commits as a push of one op with no pusher: their seqs are
 * handed out in the same order as the pushes', fanned out with them to
 * every synced connection of the user, and the caller is told (and answers
 * its request) once they are committed. The main thread never writes: the
 * account writes go through the same writer thread
 * (_helix_gateway_hub_get_writer()).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "helix-gateway-metrics.h"
#include "helix-gateway-private.h"
#include "helix-gateway-sync.h"
#include "helix-log.h"
#include "helix-password.h"
#include "helix-ws-conn.h"

#define SYNC_PATH "/api/v1/sync"

/* Consecutive refused frames after which a connection is closed (1008). */
#define MAX_BAD_FRAMES 16

/* WebSocket pings on an idle connection, in seconds (PROTOCOL.md section 6). */
#define KEEPALIVE_INTERVAL_S 30

/* How often open connections check that their token is still valid, in seconds,
 * even when they send nothing. */
#define RECHECK_INTERVAL_S 30

/* A frame checks the token again only when the last check is this old, in µs: a
 * database query per frame would cost more than the frame. Revocations through
 * the API close the sockets at once anyway (_helix_gateway_hub_close_device());
 * only another process (--disable-user) is found out this way. */
#define FRAME_RECHECK_INTERVAL_US (2 * G_USEC_PER_SEC)

/* How far ahead of the gateway's clock an op's HLC may be (PROTOCOL.md section 7). */
#define MAX_CLOCK_AHEAD_MS (24 * 60 * 60 * G_GINT64_CONSTANT (1000))

typedef struct _Batch Batch;

struct _HelixGatewayHub
{
  HelixGateway       *gateway;    /* (unowned): the hub belongs to it */
  GHashTable         *users;      /* gint64 user id → GPtrArray of open SyncConn (unowned) */
  GPtrArray          *conns;      /* (element-type SyncConn) (owned): every connection, open
                                   * or closing */
  guint               recheck_id; /* while there are connections */
  GPtrArray          *pending;    /* (element-type PendingPush) (owned): pushes for the next
                                   * commit */
  guint               flush_id;   /* while there are pending pushes */
  HelixGatewayWriter *writer;     /* (owned) (nullable): stores the group commits, and
                                   * every other write */
  Batch              *inflight;   /* (owned) (nullable): the group commit being stored */
  GHashTable         *touching;   /* device ids (gint64 *) whose last_seen is being
                                   * written */
};

/* Who an accepted upgrade request speaks for, from sync_http_cb() to upgrade_cb(). */
typedef struct
{
  HelixGatewayAuth auth;
  guint8           token_hash[HELIX_GATEWAY_TOKEN_HASH_LEN];
} UpgradeAuth;

typedef struct
{
  HelixGatewayHub         *hub;         /* (unowned) */
  HelixWsConn             *ws;          /* (owned) */
  gint64                   user_id;
  char                    *user_name;
  gint64                   device_id;
  char                    *device_uuid; /* the device the token was issued to */
  guint8                   token_hash[HELIX_GATEWAY_TOKEN_HASH_LEN];
  char                    *device;      /* the device id of `hello` */
  gint64                   cursor;      /* the highest seq sent on this connection */
  gint64                   checked_us;  /* monotonic time of the last token check */
  guint                    backlog_id;
  guint                    n_pending;   /* its pushes in hub->pending and hub->inflight */
  guint                    bad_frames;
  gboolean                 said_hello;
  gboolean                 synced;
  gboolean                 closing;
} SyncConn;

static gboolean flush_pushes_cb (gpointer data);

/* A last_seen being written (_helix_gateway_hub_touch_device()). */
typedef struct
{
  HelixGatewayHub *hub; /* (nullable): %NULL once the hub stopped its writer */
  gint64           device_id;
  gint64           now_us;
} Touch;

/* A push waiting for the next group commit, or in it (see flush_pushes_cb()). */
typedef struct
{
  SyncConn  *conn; /* (nullable): %NULL once the connection is gone, or for an
                    * op of the gateway's own */
  GPtrArray *ops;  /* (element-type HelixSyncOp): the push's ops */
  GTask     *task; /* (owned) (nullable): an op of the gateway's own
                    * (_helix_gateway_hub_store_op_async()), until answered */
  gint64     user_id; /* whose op, with @task */
} PendingPush;

static void
pending_push_free (gpointer data)
{
  PendingPush *pending = data;

  /* Dropped unstored: the gateway stops. */
  if (pending->task != NULL)
    g_task_return_new_error (pending->task, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_DATABASE,
                             _("The gateway stopped before the change was stored"));
  g_clear_object (&pending->task);
  g_ptr_array_unref (pending->ops);
  g_free (pending);
}

/* Tells the gateway's own op of @pending how its push went. */
static void
answer_local_push (PendingPush      *pending,
                   HelixGatewayPush *push,
                   const GError     *batch_error)
{
  g_autoptr(GTask) task = g_steal_pointer (&pending->task);

  if (batch_error != NULL)
    g_task_return_error (task, g_error_copy (batch_error));
  else if (push->error != NULL)
    g_task_return_error (task, g_error_copy (push->error));
  else
    {
      g_assert (push->seqs != NULL && push->seqs->len == 1);
      g_task_return_pointer (task, g_memdup2 (push->seqs->data, sizeof (gint64)), g_free);
    }
}

/* A group commit: the pushes of several connections, stored by one transaction. */
struct _Batch
{
  GPtrArray        *pending; /* (element-type PendingPush) (owned): what was taken */
  HelixGatewayPush *pushes;  /* (array length=n) (owned) */
  PendingPush     **owners;  /* (array length=n): the PendingPush of each push */
  guint             n;
};

static void
batch_free (Batch *batch)
{
  for (guint i = 0; i < batch->n; i++)
    helix_gateway_push_clear (&batch->pushes[i]);
  g_free (batch->pushes);
  g_free (batch->owners);
  g_ptr_array_unref (batch->pending);
  g_free (batch);
}

/* Drops the writer and the batch in flight without acknowledging it: its
 * ops may be stored, and the devices push them again. */
static void
hub_stop_writer (HelixGatewayHub *hub)
{
  GHashTableIter iter;
  gpointer touch;

  g_clear_pointer (&hub->writer, _helix_gateway_writer_free);
  g_clear_pointer (&hub->inflight, batch_free);

  /* Their answers come later, to nobody. */
  g_hash_table_iter_init (&iter, hub->touching);
  while (g_hash_table_iter_next (&iter, NULL, &touch))
    ((Touch *) touch)->hub = NULL;
  g_hash_table_remove_all (hub->touching);
}

static GQuark
upgrade_auth_quark (void)
{
  static GQuark quark;

  if G_UNLIKELY (quark == 0)
    quark = g_quark_from_static_string ("helix-gateway-sync-auth");

  return quark;
}

static void
upgrade_auth_free (gpointer data)
{
  UpgradeAuth *upgrade = data;

  helix_gateway_auth_clear (&upgrade->auth);
  g_free (upgrade);
}

/* The hub {{{1 */

static void
sync_conn_free (gpointer data)
{
  SyncConn *conn = data;

  g_clear_handle_id (&conn->backlog_id, g_source_remove);

  /* Its pushes waiting for a commit are dropped: never acknowledged, the
   * device pushes them again. */
  for (guint i = 0; conn->n_pending > 0 && i < conn->hub->pending->len; i++)
    {
      PendingPush *pending = g_ptr_array_index (conn->hub->pending, i);

      if (pending->conn == conn)
        {
          pending->conn = NULL;
          conn->n_pending--;
        }
    }

  /* Its pushes being stored are fanned out all the same, without an ack. */
  for (guint i = 0; conn->n_pending > 0 && conn->hub->inflight != NULL &&
                    i < conn->hub->inflight->pending->len; i++)
    {
      PendingPush *pending = g_ptr_array_index (conn->hub->inflight->pending, i);

      if (pending->conn == conn)
        {
          pending->conn = NULL;
          conn->n_pending--;
        }
    }

  /* No callback after this; an open stream is closed at once. */
  g_clear_pointer (&conn->ws, helix_ws_conn_release);
  g_free (conn->user_name);
  g_free (conn->device_uuid);
  g_free (conn->device);
  g_free (conn);

  helix_gateway_metrics_websocket_closed ();
}

HelixGatewayHub *
_helix_gateway_hub_new (HelixGateway *gateway)
{
  HelixGatewayHub *hub = g_new0 (HelixGatewayHub, 1);

  hub->gateway = gateway;
  hub->users = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                      (GDestroyNotify) g_ptr_array_unref);
  hub->conns = g_ptr_array_new_with_free_func (sync_conn_free);
  hub->pending = g_ptr_array_new_with_free_func (pending_push_free);
  hub->touching = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);

  return hub;
}

void
_helix_gateway_hub_free (HelixGatewayHub *hub)
{
  if (hub == NULL)
    return;

  _helix_gateway_hub_disconnect_all (hub);
  g_clear_handle_id (&hub->recheck_id, g_source_remove);
  g_clear_handle_id (&hub->flush_id, g_source_remove);
  g_hash_table_unref (hub->users);
  g_ptr_array_unref (hub->conns);
  g_ptr_array_unref (hub->pending);
  g_hash_table_unref (hub->touching);
  g_free (hub);
}

static GPtrArray *
get_user_conns (HelixGatewayHub *hub,
                gint64           user_id)
{
  return g_hash_table_lookup (hub->users, &user_id);
}

static void close_conn (SyncConn   *conn,
                        gushort     code,
                        const char *reason);

/* Whether the connection's token was revoked since the upgrade, also by
 * another process (helix --headless --disable-user). A database that cannot
 * answer now revokes nothing. */
static gboolean
conn_is_revoked (SyncConn *conn)
{
  HelixGatewayDb *db = helix_gateway_get_db (conn->hub->gateway);
  g_auto(HelixGatewayAuth) auth = { 0 };
  g_autoptr(GError) error = NULL;

  conn->checked_us = g_get_monotonic_time ();

  if (db == NULL || helix_gateway_db_authenticate (db, conn->token_hash, &auth, &error))
    return FALSE;

  return g_error_matches (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NO_SUCH_DEVICE);
}

/* Closes (4001) the connections whose token was revoked behind the
 * gateway's back, even when they send nothing. */
static gboolean
recheck_cb (gpointer data)
{
  HelixGatewayHub *hub = data;
  g_autoptr(GPtrArray) conns = g_ptr_array_new ();

  if (hub->conns->len == 0)
    {
      hub->recheck_id = 0;
      return G_SOURCE_REMOVE;
    }

  g_ptr_array_extend (conns, hub->conns, NULL, NULL);
  for (guint i = 0; i < conns->len; i++)
    {
      SyncConn *conn = g_ptr_array_index (conns, i);

      if (!conn->closing && conn_is_revoked (conn))
        close_conn (conn, HELIX_GATEWAY_WS_CLOSE_REVOKED, "the token was revoked");
    }

  return G_SOURCE_CONTINUE;
}

static void
hub_add (HelixGatewayHub *hub,
         SyncConn        *conn)
{
  GPtrArray *list = get_user_conns (hub, conn->user_id);

  if (hub->recheck_id == 0)
    hub->recheck_id = g_timeout_add_seconds (RECHECK_INTERVAL_S, recheck_cb, hub);

  if (list == NULL)
    {
      list = g_ptr_array_new ();
      g_hash_table_insert (hub->users, g_memdup2 (&conn->user_id, sizeof conn->user_id), list);
    }

  g_ptr_array_add (list, conn);
  g_ptr_array_add (hub->conns, conn);
}

/* Takes @conn off its user's list: it gets nothing more. */
static void
hub_unlist (HelixGatewayHub *hub,
            SyncConn        *conn)
{
  GPtrArray *list = get_user_conns (hub, conn->user_id);

  if (list == NULL || !g_ptr_array_remove (list, conn))
    return;

  if (list->len == 0)
    g_hash_table_remove (hub->users, &conn->user_id);
}

static void
close_conn (SyncConn   *conn,
            gushort     code,
            const char *reason)
{
  if (conn->closing)
    return;

  conn->closing = TRUE;
  g_clear_handle_id (&conn->backlog_id, g_source_remove);
  hub_unlist (conn->hub, conn);

  g_debug ("sync: closing the connection of device %s of user %s: %u %s",
           conn->device_uuid, conn->user_name, code, reason);
  /* The device may have started closing first; then its close is answered already. */
  helix_ws_conn_close (conn->ws, code, reason);
}

/**
 * _helix_gateway_hub_close_all:
 * @hub: the hub
 * @code: the close code, such as 1001 when the gateway shuts down
 * @reason: the close reason
 *
 * Closes every open sync connection. They leave the hub once the peer has
 * answered (or HELIX_WS_CONN_CLOSE_TIMEOUT_S went by).
 */
void
_helix_gateway_hub_close_all (HelixGatewayHub *hub,
                              gushort          code,
                              const char      *reason)
{
  g_autoptr(GPtrArray) conns = g_ptr_array_new ();

  /* A copy without the free function of hub->conns: close_conn() does not
   * free, but it changes the lists. */
  g_ptr_array_extend (conns, hub->conns, NULL, NULL);
  for (guint i = 0; i < conns->len; i++)
    close_conn (g_ptr_array_index (conns, i), code, reason);
}

/**
 * _helix_gateway_hub_disconnect_all:
 * @hub: the hub
 *
 * Drops every connection at once (their streams are closed), for a gateway
 * that stops serving.
 */
void
_helix_gateway_hub_disconnect_all (HelixGatewayHub *hub)
{
  g_clear_handle_id (&hub->flush_id, g_source_remove);
  g_ptr_array_set_size (hub->pending, 0);
  hub_stop_writer (hub);
  g_hash_table_remove_all (hub->users);
  g_ptr_array_set_size (hub->conns, 0);
}

/**
 * _helix_gateway_hub_close_device:
 * @hub: the hub
 * @user_id: whose device
 * @device_uuid: the device whose token was revoked
 * @code: the close code (4001)
 * @reason: the close reason
 *
 * Closes the sync connections of a device at once.
 */
void
_helix_gateway_hub_close_device (HelixGatewayHub *hub,
                                 gint64           user_id,
                                 const char      *device_uuid,
                                 gushort          code,
                                 const char      *reason)
{
  GPtrArray *list = get_user_conns (hub, user_id);
  g_autoptr(GPtrArray) victims = g_ptr_array_new ();

  if (list == NULL)
    return;

  for (guint i = 0; i < list->len; i++)
    {
      SyncConn *conn = g_ptr_array_index (list, i);

      if (g_str_equal (conn->device_uuid, device_uuid))
        g_ptr_array_add (victims, conn);
    }

  /* close_conn() changes the list. */
  for (guint i = 0; i < victims->len; i++)
    close_conn (g_ptr_array_index (victims, i), code, reason);
}

/* Sending {{{1 */

/* Sends @text, which other connections may be sent too, unless the socket
 * is closing already (see send_text()). */
static void
send_shared_text (SyncConn   *conn,
                  const char *text)
{
  helix_ws_conn_send_text (conn->ws, text, strlen (text));
}

static void
send_text (SyncConn *conn,
           char     *text)
{
  g_assert (text != NULL);

  /* The peer may be gone already (a closing handshake in progress, or a dropped
   * network): what would be sent is lost with the connection, and the device gets it
   * again when it reconnects. A peer that reads nothing is closed once
   * HELIX_WS_CONN_MAX_OUTPUT_BYTES are queued for it (HELIX_WS_CLOSE_OUTPUT_FULL). */
  helix_ws_conn_send_text (conn->ws, text, strlen (text));
  g_free (text);
}

static void
send_error_literal (SyncConn       *conn,
                    HelixSyncError  code,
                    const char     *message,
                    const char     *op_id)
{
  send_text (conn, helix_sync_frame_build_error (helix_sync_error_to_code (code), message, op_id));
}

/* Sends `forbidden`, then closes with 1008 when @fatal. */
static void
send_forbidden (SyncConn   *conn,
                const char *message,
                gboolean    fatal)
{
  send_error_literal (conn, HELIX_SYNC_ERROR_FORBIDDEN, message, NULL);
  if (fatal)
    close_conn (conn, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "forbidden frame");
}

/* A database failure: tell the device to come back later, and go. */
static void
fail_unavailable (SyncConn     *conn,
                  const GError *error)
{
  g_warning ("sync: user %s, device %s: %s", conn->user_name, conn->device_uuid, error->message);
  send_error_literal (conn, HELIX_SYNC_ERROR_UNAVAILABLE,
                      _("The gateway cannot read or store operations now. Try again later."),
                      NULL);
  close_conn (conn, SOUP_WEBSOCKET_CLOSE_SERVER_ERROR, "storage error");
}

/* Sends the ops of @seqs and @canonicals (in seq order) whose seq is above the
 * connection's cursor, in `ops` frames of at most HELIX_SYNC_MAX_OPS ops and
 * HELIX_SYNC_MAX_FRAME_BYTES bytes, and moves the cursor along. */
static void
send_ops (SyncConn     *conn,
          const gint64 *seqs,
          char * const *canonicals,
          guint         n_ops)
{
  guint i = 0;

  while (i < n_ops)
    {
      gsize size = strlen ("{\"type\":\"ops\",\"ops\":[]}");
      guint n = 0;

      if (seqs[i] <= conn->cursor)
        {
          i++;
          continue;
        }

      /* As many as fit. */
      while (i + n < n_ops && n < HELIX_SYNC_MAX_OPS)
        {
          gsize op_size = _helix_gateway_op_frame_bytes (seqs[i + n], strlen (canonicals[i + n]));

          if (n > 0 && size + 1 + op_size > HELIX_SYNC_MAX_FRAME_BYTES)
            break;
          size += (n > 0 ? 1 : 0) + op_size;
          n++;
        }

      if (size > HELIX_SYNC_MAX_FRAME_BYTES)
        {
          /* A push never stores such an op (see check_push()); a peer would
           * close on it, so it is left out rather than sent. */
          g_assert (n == 1);
          g_warning ("sync: op with seq %lld of user %s is too large for a frame; not sent",
                     (long long) seqs[i], conn->user_name);
        }
      else
        send_text (conn, _helix_gateway_build_ops_frame (seqs + i, canonicals + i, n, NULL));

      conn->cursor = seqs[i + n - 1];
      i += n;
    }
}

/* The backlog {{{1 */

/* Sends one page of the backlog, or `synced` when there is no more.
 * Returns whether there may be more. */
static gboolean
backlog_step (SyncConn *conn)
{
  HelixGatewayDb *db = helix_gateway_get_db (conn->hub->gateway);
  g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GPtrArray) canonicals = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;

  if (db == NULL)
    {
      g_set_error_literal (&error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_DATABASE,
                           _("The database is closed"));
      fail_unavailable (conn, error);
      return FALSE;
    }

  if (!_helix_gateway_db_op_texts_since (db, conn->user_id, conn->cursor,
                                         HELIX_GATEWAY_OPS_PAGE_MAX, seqs, canonicals, &error))
    {
      fail_unavailable (conn, error);
      return FALSE;
    }

  if (seqs->len > 0)
    {
      send_ops (conn, (const gint64 *) seqs->data, (char * const *) canonicals->pdata, seqs->len);
      return TRUE;
    }

  conn->synced = TRUE;
  send_text (conn, helix_sync_frame_build_synced (conn->cursor));
  g_debug ("sync: device %s of user %s is synced at %lld", conn->device_uuid, conn->user_name,
           (long long) conn->cursor);

  return FALSE;
}

static gboolean
backlog_cb (gpointer data)
{
  SyncConn *conn = data;

  if (!conn->closing && backlog_step (conn))
    return G_SOURCE_CONTINUE;

  conn->backlog_id = 0;
  return G_SOURCE_REMOVE;
}

/* Sends the rest of the backlog now, for a frame that must come after it. */
static void
finish_backlog (SyncConn *conn)
{
  g_clear_handle_id (&conn->backlog_id, g_source_remove);

  while (!conn->closing && !conn->synced && backlog_step (conn))
    ;
}

/* Frames {{{1 */

static void
handle_hello (SyncConn       *conn,
              HelixSyncFrame *frame)
{
  HelixGatewayDb *db = helix_gateway_get_db (conn->hub->gateway);
  g_autoptr(GError) error = NULL;
  gint64 head = -1;

  conn->said_hello = TRUE;
  conn->device = g_strdup (helix_sync_frame_get_device (frame));
  conn->cursor = helix_sync_frame_get_cursor (frame);

  if (db != NULL)
    head = helix_gateway_db_get_head (db, conn->user_id, &error);
  else
    g_set_error_literal (&error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_DATABASE,
                         _("The database is closed"));
  if (head < 0)
    {
      fail_unavailable (conn, error);
      return;
    }

  g_info ("sync: user %s, device %s (%s) connected at cursor %lld, head %lld", conn->user_name,
          conn->device_uuid, conn->device, (long long) conn->cursor, (long long) head);

  send_text (conn, helix_sync_frame_build_welcome (conn->user_name, conn->device, head));

  /* A device ahead of the log (the gateway was restored from a backup) must
   * reconnect from 0 (PROTOCOL.md section 6); it has nothing to read here. */
  if (conn->cursor > head)
    {
      conn->synced = TRUE;
      send_text (conn, helix_sync_frame_build_synced (conn->cursor));
      conn->cursor = head;
      return;
    }

  conn->backlog_id = g_idle_add (backlog_cb, conn);
}

/* Refuses a push whose ops could not be delivered (an op's `ops` frame over
 * 1 MiB: the canonical form may escape more than the push did) or whose
 * clock is far ahead. Returns whether the push may be stored. */
static gboolean
check_push (SyncConn  *conn,
            GPtrArray *ops,
            gsize      frame_len)
{
  gint64 now_ms = g_get_real_time () / 1000;

  for (guint i = 0; i < ops->len; i++)
    {
      HelixSyncOp *op = g_ptr_array_index (ops, i);
      const HelixHlc *hlc = helix_sync_op_get_hlc (op);

      if (hlc->wall_ms > now_ms + MAX_CLOCK_AHEAD_MS)
        {
          send_error_literal (conn, HELIX_SYNC_ERROR_BAD_OP,
                              _("The operation’s clock is more than a day ahead of the "
                                "gateway’s. Fix the device’s clock; nothing of this push was "
                                "stored."),
                              helix_sync_op_get_op_id (op));
          return FALSE;
        }

      /* Escaping makes a text at most three times longer (\b → \u0008):
       * only a large push can hold an op too large to deliver. */
      if (frame_len > HELIX_SYNC_MAX_FRAME_BYTES / 3)
        {
          g_autofree char *canonical = helix_sync_op_canonical (op);
          const gint64 max_seq = HELIX_SYNC_MAX_INT;

          if (_helix_gateway_ops_frame_bytes (&max_seq, &canonical, 1) >
              HELIX_SYNC_MAX_FRAME_BYTES)
            {
              send_error_literal (conn, HELIX_SYNC_ERROR_BAD_OP,
                                  _("The operation would not fit in a 1 MiB frame for the "
                                    "other devices. Make its content shorter; nothing of this "
                                    "push was stored."),
                                  helix_sync_op_get_op_id (op));
              return FALSE;
            }
        }
    }

  return TRUE;
}

/* What becomes of a refused push (@push->error), or of every push of a
 * commit that failed (@batch_error): the error, to the pusher only.
 * @conn: the pusher, %NULL once it is gone. */
static void
refuse_push (SyncConn         *conn,
             HelixGatewayPush *push,
             const GError     *batch_error)
{
  g_assert (batch_error != NULL || push->error != NULL);

  if (conn == NULL || conn->closing)
    return;

  if (batch_error == NULL && push->error->domain == HELIX_SYNC_ERROR)
    {
      g_info ("sync: user %s, device %s: push refused: %s", conn->user_name,
              conn->device_uuid, push->error->message);
      send_text (conn, helix_sync_frame_build_error_from_gerror (push->error,
                                                                 push->conflict_op_id));
    }
  else
    fail_unavailable (conn, batch_error != NULL ? batch_error : push->error);
}

/* Acknowledges a stored push to its pusher. */
static void
acknowledge_push (SyncConn         *conn,
                  HelixGatewayPush *push)
{
  g_assert (push->seqs->len == push->n_ops);

  send_text (conn, _helix_gateway_build_ack_frame (push->ops,
                                                   (const gint64 *) push->seqs->data,
                                                   push->n_ops));

  /* The pusher has everything up to the ops it just stored. */
  for (guint i = 0; i < push->applied->len; i++)
    conn->cursor = MAX (conn->cursor,
                        helix_sync_op_get_seq (g_ptr_array_index (push->applied, i)));

  HELIX_HOT_DEBUG ("sync: user %s, device %s pushed %u ops, %u new", conn->user_name,
                   conn->device_uuid, push->n_ops, push->applied->len);
}

/* Sends ops @from to @to of @seqs and @canonicals to @conn, unless it reads
 * them from the log (its backlog) or is closing. */
static void
send_run (SyncConn     *conn,
          GArray       *seqs,
          GPtrArray    *canonicals,
          guint         from,
          guint         to)
{
  if (to <= from || conn->closing || !conn->synced)
    return;

  send_ops (conn, &g_array_index (seqs, gint64, from),
            (char * const *) canonicals->pdata + from, to - from);
  helix_gateway_metrics_add_ops_fanned_out (to - from);
}

/* Acknowledges and fans out @n pushes of one user, @idx into @batch in the
 * order they arrived, stored by one commit. Each op is sent once to every
 * connection of the user but its pusher's, and a connection gets the ops it
 * did not push in as few `ops` frames as the order of seqs allows: one before
 * each of its own acks and one after the last (a single frame, built once for
 * all of them, for a connection that pushed none). Sending ops one push at a
 * time would cost a frame, and a system call, per op and device. */
static void
deliver_user_pushes (HelixGatewayHub *hub,
                     Batch           *batch,
                     const guint     *idx,
                     guint            n)
{
  GPtrArray *list = get_user_conns (hub, batch->pushes[idx[0]].user_id);
  g_autoptr(GPtrArray) targets = NULL;
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(GPtrArray) canonicals = NULL;
  g_autofree guint *ends = NULL;
  g_autofree char *shared = NULL;
  gboolean share;

  /* Nobody connected (the pushers are gone too): they read the log later. */
  if (list == NULL)
    return;

  /* Every stored op of these pushes, in seq order; ends[k]: where those of
   * idx[k] end. */
  seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  canonicals = g_ptr_array_new ();
  ends = g_new (guint, n);
  for (guint k = 0; k < n; k++)
    {
      HelixGatewayPush *push = &batch->pushes[idx[k]];

      if (push->error == NULL)
        for (guint i = 0; i < push->applied->len; i++)
          {
            gint64 seq = helix_sync_op_get_seq (g_ptr_array_index (push->applied, i));

            g_assert (seqs->len == 0 || seq > g_array_index (seqs, gint64, seqs->len - 1));
            g_array_append_val (seqs, seq);
            g_ptr_array_add (canonicals, g_ptr_array_index (push->canonicals, i));
          }
      ends[k] = seqs->len;
    }

  share = seqs->len > 0 && seqs->len <= HELIX_SYNC_MAX_OPS &&
          _helix_gateway_ops_frame_bytes ((const gint64 *) seqs->data,
                                          (char * const *) canonicals->pdata,
                                          seqs->len) <= HELIX_SYNC_MAX_FRAME_BYTES;

  /* Sending may close a connection, which changes the list. */
  targets = g_ptr_array_sized_new (list->len);
  g_ptr_array_extend (targets, list, NULL, NULL);
  for (guint t = 0; t < targets->len; t++)
    {
      SyncConn *conn = g_ptr_array_index (targets, t);
      gboolean pushed = FALSE;
      guint from = 0;

      for (guint k = 0; k < n && !conn->closing; k++)
        {
          HelixGatewayPush *push = &batch->pushes[idx[k]];

          if (batch->owners[idx[k]]->conn != conn)
            continue;

          pushed = TRUE;
          if (push->error != NULL)
            {
              refuse_push (conn, push, NULL);
              continue;
            }

          /* Everything with a smaller seq first (PROTOCOL.md, section 9). */
          send_run (conn, seqs, canonicals, from, k > 0 ? ends[k - 1] : 0);
          if (!conn->closing)
            acknowledge_push (conn, push);
          from = ends[k];
        }

      if (conn->closing || !conn->synced)
        continue;

      if (!pushed && share && conn->cursor < g_array_index (seqs, gint64, 0))
        {
          if (shared == NULL)
            shared = _helix_gateway_build_ops_frame ((const gint64 *) seqs->data,
                                                     (char * const *) canonicals->pdata,
                                                     seqs->len, NULL);
          send_shared_text (conn, shared);
          conn->cursor = g_array_index (seqs, gint64, seqs->len - 1);
          helix_gateway_metrics_add_ops_fanned_out (seqs->len);
        }
      else
        send_run (conn, seqs, canonicals, from, seqs->len);
    }
}

static int
compare_by_user (gconstpointer a,
                 gconstpointer b,
                 gpointer      user_data)
{
  const Batch *batch = user_data;
  guint i = *(const guint *) a;
  guint j = *(const guint *) b;
  gint64 user_i = batch->pushes[i].user_id;
  gint64 user_j = batch->pushes[j].user_id;

  if (user_i != user_j)
    return user_i < user_j ? -1 : 1;

  /* Stable: in the order they arrived. */
  return i < j ? -1 : (i > j ? 1 : 0);
}

/* Acknowledges and fans out a stored batch, user by user. The users' seqs
 * are independent, so only the order within a user matters. */
static void
deliver_batch (HelixGatewayHub *hub,
               Batch           *batch)
{
  g_autoptr(GArray) order = g_array_sized_new (FALSE, FALSE, sizeof (guint), batch->n);
  guint start = 0;

  for (guint i = 0; i < batch->n; i++)
    g_array_append_val (order, i);
  g_array_sort_with_data (order, compare_by_user, batch);

  for (guint i = 1; i <= order->len; i++)
    {
      const guint *idx = &g_array_index (order, guint, 0);

      if (i < order->len && batch->pushes[idx[i]].user_id == batch->pushes[idx[start]].user_id)
        continue;

      deliver_user_pushes (hub, batch, idx + start, i - start);
      start = i;
    }
}

/* Acknowledges and fans out the batch in flight once it is stored (waiting
 * for the writer if it is not yet). Pushes that arrived meanwhile make the
 * next batch: when @start_next, it is submitted first, so that the writer
 * stores it while this one is fanned out (its seqs come after this one's,
 * and its acks and ops are sent after this one's); else from an idle. */
static void
complete_batch (HelixGatewayHub *hub,
                gboolean         start_next)
{
  Batch *batch = g_steal_pointer (&hub->inflight);
  g_autoptr(GError) error = NULL;
  gboolean stored;

  g_assert (batch != NULL);

  stored = _helix_gateway_writer_collect (hub->writer, &error);

  if (hub->pending->len > 0)
    {
      g_clear_handle_id (&hub->flush_id, g_source_remove);
      if (start_next)
        flush_pushes_cb (hub);
      else
        hub->flush_id = g_idle_add_full (G_PRIORITY_DEFAULT, flush_pushes_cb, hub, NULL);
    }

  for (guint i = 0; i < batch->n; i++)
    {
      SyncConn *conn = batch->owners[i]->conn;

      if (conn != NULL)
        conn->n_pending--;
      if (!stored)
        refuse_push (conn, &batch->pushes[i], error);
    }

  if (stored)
    deliver_batch (hub, batch);

  /* The gateway's own ops are answered once fanned out. */
  for (guint i = 0; i < batch->n; i++)
    if (batch->owners[i]->task != NULL)
      answer_local_push (batch->owners[i], &batch->pushes[i], stored ? NULL : error);

  batch_free (batch);
}

static void
writer_done_cb (gpointer data)
{
  HelixGatewayHub *hub = data;

  complete_batch (hub, TRUE);
}

/* Group commit: the pushes that arrived since the last one, from every
 * connection, are stored in one transaction with one fsync by the writer
 * thread, and only then acknowledged and fanned out, in the order they
 * arrived (complete_batch()). One batch is in flight at a time; the pushes
 * that arrive meanwhile make the next one. Every seq is therefore still sent
 * in increasing order on each connection: the pushes are finished one after
 * the other, each after the ones stored before it. */
static gboolean
flush_pushes_cb (gpointer data)
{
  HelixGatewayHub *hub = data;
  HelixGatewayDb *db = helix_gateway_get_db (hub->gateway);
  Batch *batch;
  guint n_ops = 0;

  hub->flush_id = 0;

  /* complete_batch() starts the next one. */
  if (hub->inflight != NULL)
    return G_SOURCE_REMOVE;

  /* All of them: what one iteration read is bounded by the sockets' buffers,
   * and whatever waited would only pile up behind the next reads. */
  batch = g_new0 (Batch, 1);
  batch->pending = g_steal_pointer (&hub->pending);
  hub->pending = g_ptr_array_new_with_free_func (pending_push_free);

  batch->pushes = g_new0 (HelixGatewayPush, batch->pending->len);
  batch->owners = g_new0 (PendingPush *, batch->pending->len);
  for (guint i = 0; i < batch->pending->len; i++)
    {
      PendingPush *pending = g_ptr_array_index (batch->pending, i);
      SyncConn *conn = pending->conn;
      HelixGatewayPush *push = &batch->pushes[batch->n];

      if (pending->task != NULL)
        {
          /* The gateway's own op: no device is recorded, so that every
           * device of the user receives it. */
          push->user_id = pending->user_id;
          push->device_id = 0;
        }
      else if (conn == NULL)
        continue;
      /* A connection closed meanwhile gets no ack: the device pushes again. */
      else if (conn->closing)
        {
          conn->n_pending--;
          pending->conn = NULL;
          continue;
        }
      else
        {
          push->user_id = conn->user_id;
          push->device_id = conn->device_id;
        }

      batch->owners[batch->n] = pending;
      push->ops = (HelixSyncOp **) pending->ops->pdata;
      push->n_ops = pending->ops->len;
      n_ops += pending->ops->len;
      batch->n++;
    }

  if (batch->n == 0)
    {
      batch_free (batch);
      return G_SOURCE_REMOVE;
    }

  if (db == NULL)
    {
      g_autoptr(GError) error = NULL;

      g_set_error_literal (&error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_DATABASE,
                           _("The database is closed"));
      for (guint i = 0; i < batch->n; i++)
        {
          SyncConn *conn = batch->owners[i]->conn;

          if (conn != NULL)
            conn->n_pending--;
          refuse_push (conn, &batch->pushes[i], error);
          if (batch->owners[i]->task != NULL)
            answer_local_push (batch->owners[i], &batch->pushes[i], error);
        }
      batch_free (batch);
      return G_SOURCE_REMOVE;
    }

  HELIX_HOT_DEBUG ("sync: one commit for %u pushes, %u ops", batch->n, n_ops);

  if (hub->writer == NULL)
    hub->writer = _helix_gateway_writer_new (helix_gateway_db_get_path (db), writer_done_cb, hub);

  hub->inflight = batch;
  _helix_gateway_writer_submit (hub->writer, batch->pushes, batch->n);

  return G_SOURCE_REMOVE;
}

/**
 * _helix_gateway_hub_store_op_async:
 * @hub: the hub
 * @user_id: whose op
 * @op: an op the gateway made (REST API, answers of the assistant), validated
 * @callback: called once it is stored (committed) and sent to the user's
 *   synced connections, or failed
 * @user_data: for @callback
 *
 * Stores @op with the next group commit, as a push of one op from no
 * device: its seq comes after those of every push and op submitted before
 * it, and every device of the user receives it.
 */
void
_helix_gateway_hub_store_op_async (HelixGatewayHub     *hub,
                                   gint64               user_id,
                                   HelixSyncOp         *op,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  PendingPush *pending;

  pending = g_new0 (PendingPush, 1);
  pending->ops = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
  g_ptr_array_add (pending->ops, helix_sync_op_ref (op));
  pending->user_id = user_id;
  pending->task = g_task_new (NULL, NULL, callback, user_data);
  g_task_set_source_tag (pending->task, _helix_gateway_hub_store_op_async);
  g_task_set_name (pending->task, "[helix] store op");

  g_ptr_array_add (hub->pending, pending);
  if (hub->flush_id == 0 && hub->inflight == NULL)
    hub->flush_id = g_idle_add_full (G_PRIORITY_DEFAULT, flush_pushes_cb, hub, NULL);
}

/**
 * _helix_gateway_hub_store_op_finish:
 * @result: the result given to the callback
 * @error: a location for a #GError: %HELIX_SYNC_ERROR for an op refused by
 *   the protocol, another domain for a storage error
 *
 * Returns: the op's seq, or 0 on error
 */
gint64
_helix_gateway_hub_store_op_finish (GAsyncResult  *result,
                                    GError       **error)
{
  g_autofree gint64 *seq = NULL;

  g_return_val_if_fail (g_task_is_valid (result, NULL), 0);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        _helix_gateway_hub_store_op_async, 0);

  seq = g_task_propagate_pointer (G_TASK (result), error);

  return seq != NULL ? *seq : 0;
}

/**
 * _helix_gateway_hub_get_writer:
 * @hub: the hub
 *
 * The writer thread, for the gateway's writes that are not ops
 * (_helix_gateway_writer_run_async()): they are stored in the order they
 * are submitted, with the group commits.
 *
 * Returns: (transfer none) (nullable): the writer, or %NULL when the
 *   database is closed
 */
HelixGatewayWriter *
_helix_gateway_hub_get_writer (HelixGatewayHub *hub)
{
  HelixGatewayDb *db = helix_gateway_get_db (hub->gateway);

  if (db == NULL)
    return NULL;

  if (hub->writer == NULL)
    hub->writer = _helix_gateway_writer_new (helix_gateway_db_get_path (db), writer_done_cb, hub);

  return hub->writer;
}

static gboolean
touch_device_func (HelixGatewayDb  *db,
                   gpointer         data,
                   GError         **error)
{
  Touch *touch = data;

  return helix_gateway_db_touch_device (db, touch->device_id, touch->now_us, error);
}

static void
touch_device_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Touch *touch = user_data;
  g_autoptr(GError) error = NULL;

  if (!_helix_gateway_writer_run_finish (result, &error))
    g_warning ("Could not note when a device was last seen: %s", error->message);

  /* Unless the hub stopped its writer meanwhile (hub_stop_writer()). */
  if (touch->hub != NULL)
    g_hash_table_remove (touch->hub->touching, &touch->device_id);
  g_free (touch);
}

/**
 * _helix_gateway_hub_touch_device:
 * @hub: the hub
 * @device_id: a device that used its token
 * @now_us: when
 *
 * Notes when @device_id was last seen, on the writer thread. Once per
 * device at a time: the requests that come meanwhile see the old time, and
 * do not ask again.
 *
 * Returns: whether it is being written now
 */
gboolean
_helix_gateway_hub_touch_device (HelixGatewayHub *hub,
                                 gint64           device_id,
                                 gint64           now_us)
{
  HelixGatewayWriter *writer = _helix_gateway_hub_get_writer (hub);
  Touch *touch;

  if (writer == NULL || g_hash_table_contains (hub->touching, &device_id))
    return FALSE;

  touch = g_new0 (Touch, 1);
  touch->hub = hub;
  touch->device_id = device_id;
  touch->now_us = now_us;
  g_hash_table_insert (hub->touching, g_memdup2 (&device_id, sizeof device_id), touch);
  _helix_gateway_writer_run_async (writer, touch_device_func, touch, touch_device_cb, touch);

  return TRUE;
}

static void
handle_push (SyncConn       *conn,
             HelixSyncFrame *frame,
             gsize           frame_len)
{
  HelixGatewayHub *hub = conn->hub;
  GPtrArray *ops = helix_sync_frame_get_ops (frame);
  PendingPush *pending;

  g_assert (ops != NULL && ops->len > 0);

  /* An ack promises that every smaller seq was sent: finish the backlog first. */
  finish_backlog (conn);
  if (conn->closing)
    return;

  if (!check_push (conn, ops, frame_len))
    return;

  /* The connection stays open: the device pushes again after maintenance. */
  if (_helix_gateway_in_maintenance (hub->gateway))
    {
      send_error_literal (conn, HELIX_SYNC_ERROR_UNAVAILABLE,
                          _("The gateway is in maintenance and stores nothing now; nothing "
                            "of this push was stored. Push again later."),
                          NULL);
      return;
    }

  /* Stored with the other pushes of this main loop iteration (flush_pushes_cb()).
   * The idle runs at the priority of the sockets: busy sockets cannot starve it. */
  pending = g_new0 (PendingPush, 1);
  pending->conn = conn;
  pending->ops = g_ptr_array_ref (ops);
  conn->n_pending++;
  g_ptr_array_add (hub->pending, pending);
  if (hub->flush_id == 0)
    hub->flush_id = g_idle_add_full (G_PRIORITY_DEFAULT, flush_pushes_cb, hub, NULL);
}

/* message.delta is relayed to the user's other devices, never stored. */
static void
relay_delta (SyncConn       *conn,
             HelixSyncFrame *frame)
{
  GPtrArray *list = get_user_conns (conn->hub, conn->user_id);
  g_autofree char *text = NULL;

  if (list == NULL)
    return;

  text = helix_sync_frame_build_message_delta (helix_sync_frame_get_session_id (frame),
                                               helix_sync_frame_get_message_id (frame),
                                               helix_sync_frame_get_delta (frame),
                                               helix_sync_frame_get_index (frame));

  for (guint i = 0; i < list->len; i++)
    {
      SyncConn *other = g_ptr_array_index (list, i);

      if (other != conn && other->said_hello && !other->closing)
        send_shared_text (other, text);
    }
}

/**
 * _helix_gateway_hub_send_user:
 * @hub: the hub
 * @user_id: a user
 * @text: a frame
 *
 * Sends @text to every connection of the user past `hello`: the deltas of
 * the assistant's answers and their failures.
 */
void
_helix_gateway_hub_send_user (HelixGatewayHub *hub,
                              gint64           user_id,
                              const char      *text)
{
  GPtrArray *list = get_user_conns (hub, user_id);

  for (guint i = 0; list != NULL && i < list->len; i++)
    {
      SyncConn *conn = g_ptr_array_index (list, i);

      if (conn->said_hello && !conn->closing)
        send_shared_text (conn, text);
    }
}

/**
 * _helix_gateway_hub_publish:
 * @hub: the hub
 * @user_id: whose ops
 * @from: (nullable): the SyncConn that pushed them, which is not sent them
 * @applied: (element-type HelixSyncOp): ops just stored, with their seq, in seq order
 * @canonicals: (element-type utf8) (nullable): the canonical text of each op of
 *   @applied, when the caller has them already
 *
 * Sends newly stored ops to the user's other synced connections.
 */
void
_helix_gateway_hub_publish (HelixGatewayHub *hub,
                            gint64           user_id,
                            gpointer         from,
                            GPtrArray       *applied,
                            GPtrArray       *canonicals)
{
  GPtrArray *list = get_user_conns (hub, user_id);
  g_autoptr(GPtrArray) targets = NULL;
  g_autoptr(GPtrArray) own_canonicals = NULL;
  g_autofree gint64 *seqs = NULL;
  g_autofree char *text = NULL;
  gboolean share;
  gint64 first_seq;
  gint64 last_seq;

  if (list == NULL || applied == NULL || applied->len == 0)
    return;

  g_assert (canonicals == NULL || canonicals->len == applied->len);

  /* Only the pusher is connected: nothing to make. */
  if (list->len == 1 && g_ptr_array_index (list, 0) == from)
    return;

  if (canonicals == NULL)
    {
      own_canonicals = g_ptr_array_new_full (applied->len, g_free);
      for (guint i = 0; i < applied->len; i++)
        g_ptr_array_add (own_canonicals, helix_sync_op_canonical (g_ptr_array_index (applied, i)));
      canonicals = own_canonicals;
    }

  seqs = g_new (gint64, applied->len);
  for (guint i = 0; i < applied->len; i++)
    seqs[i] = helix_sync_op_get_seq (g_ptr_array_index (applied, i));

  /* One `ops` frame of all of @applied, built once for every connection
   * that has none of them yet (all of them, but in a race with a backlog). */
  first_seq = seqs[0];
  last_seq = seqs[applied->len - 1];
  share = applied->len <= HELIX_SYNC_MAX_OPS &&
          _helix_gateway_ops_frame_bytes (seqs, (char * const *) canonicals->pdata,
                                          applied->len) <= HELIX_SYNC_MAX_FRAME_BYTES;

  /* Sending may close a connection, which changes the list. */
  targets = g_ptr_array_sized_new (list->len);
  g_ptr_array_extend (targets, list, NULL, NULL);
  for (guint i = 0; i < targets->len; i++)
    {
      SyncConn *conn = g_ptr_array_index (targets, i);

      /* A connection in its backlog reads the new ops from the log. */
      if (conn == from || conn->closing || !conn->synced)
        continue;

      if (share && conn->cursor < first_seq)
        {
          if (text == NULL)
            text = _helix_gateway_build_ops_frame (seqs, (char * const *) canonicals->pdata,
                                                   applied->len, NULL);
          send_shared_text (conn, text);
          conn->cursor = last_seq;
        }
      else
        send_ops (conn, seqs, (char * const *) canonicals->pdata, applied->len);
      helix_gateway_metrics_add_ops_fanned_out (applied->len);
    }
}

static void
handle_bad_frame (SyncConn     *conn,
                  const GError *error,
                  const char   *bad_op_id)
{
  g_debug ("sync: user %s, device %s: refused a frame: %s", conn->user_name, conn->device_uuid,
           error->message);

  send_text (conn, helix_sync_frame_build_error_from_gerror (error, bad_op_id));

  if (g_error_matches (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_TOO_DEEP))
    close_conn (conn, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "frame nested too deep");
  else if (++conn->bad_frames >= MAX_BAD_FRAMES)
    close_conn (conn, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "too many bad frames");
}

/* HelixWsConn hands over text messages only, valid UTF-8 of at most
 * HELIX_SYNC_MAX_FRAME_BYTES: a binary one closes the connection with 1003,
 * a larger one with 1009 (from its header, before it is read), invalid
 * UTF-8 with 1007. */
static void
on_message (HelixWsConn *ws,
            const char  *text,
            gsize        len,
            gpointer     user_data)
{
  SyncConn *conn = user_data;
  g_autoptr(HelixSyncFrame) frame = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *bad_op_id = NULL;
  HelixSyncFrameKind kind;

  if (conn->closing)
    return;

  /* At most every FRAME_RECHECK_INTERVAL_US (and every RECHECK_INTERVAL_S in
   * any case, recheck_cb()). */
  if (g_get_monotonic_time () - conn->checked_us >= FRAME_RECHECK_INTERVAL_US &&
      conn_is_revoked (conn))
    {
      close_conn (conn, HELIX_GATEWAY_WS_CLOSE_REVOKED, "the token was revoked");
      return;
    }

  frame = helix_sync_frame_parse_full (text, len, &bad_op_id, &error);
  if (frame == NULL)
    {
      handle_bad_frame (conn, error, bad_op_id);
      return;
    }

  conn->bad_frames = 0;
  kind = helix_sync_frame_get_kind (frame);

  if (!conn->said_hello)
    {
      if (kind == HELIX_SYNC_FRAME_HELLO)
        handle_hello (conn, frame);
      else
        send_forbidden (conn, _("The first frame must be “hello”."), TRUE);
      return;
    }

  switch (kind)
    {
    case HELIX_SYNC_FRAME_HELLO:
      send_forbidden (conn, _("“hello” was already sent on this connection."), TRUE);
      break;

    case HELIX_SYNC_FRAME_PUSH:
      handle_push (conn, frame, len);
      break;

    case HELIX_SYNC_FRAME_MESSAGE_DELTA:
      relay_delta (conn, frame);
      break;

    case HELIX_SYNC_FRAME_CHAT:
      _helix_gateway_chat_from_frame (conn->hub->gateway, conn->user_id, conn->user_name, frame);
      break;

    case HELIX_SYNC_FRAME_CHAT_CANCEL:
      _helix_gateway_chat_cancel (conn->hub->gateway, conn->user_id,
                                  helix_sync_frame_get_reply_id (frame));
      break;

    case HELIX_SYNC_FRAME_PING:
      send_text (conn, helix_sync_frame_build_pong (helix_sync_frame_get_ping_id (frame)));
      break;

    case HELIX_SYNC_FRAME_PONG:
      break;

    case HELIX_SYNC_FRAME_ERROR:
      g_debug ("sync: user %s, device %s sent error %s: %s", conn->user_name, conn->device_uuid,
               helix_sync_frame_get_error_code (frame), helix_sync_frame_get_error_message (frame));
      break;

    case HELIX_SYNC_FRAME_WELCOME:
    case HELIX_SYNC_FRAME_OPS:
    case HELIX_SYNC_FRAME_SYNCED:
    case HELIX_SYNC_FRAME_ACK:
    case HELIX_SYNC_FRAME_CHAT_FAILED:
      send_forbidden (conn, _("Only the gateway sends this frame."), FALSE);
      break;

    default:
      g_assert_not_reached ();
    }
}

static void
on_closed (HelixWsConn *ws,
           gushort      code,
           gpointer     user_data)
{
  SyncConn *conn = user_data;
  HelixGatewayHub *hub = conn->hub;

  g_debug ("sync: device %s of user %s disconnected (%u)", conn->device_uuid, conn->user_name,
           code);

  hub_unlist (hub, conn);
  /* Frees @conn. */
  g_ptr_array_remove_fast (hub->conns, conn);
}

/* Routes {{{1 */

/* The 101 is written: the stream is the hub's from now on. */
static void
upgrade_cb (SoupServerMessage *msg,
            gpointer           user_data)
{
  HelixGateway *self = user_data;
  HelixGatewayHub *hub = _helix_gateway_get_hub (self);
  UpgradeAuth *upgrade = g_object_get_qdata (G_OBJECT (msg), upgrade_auth_quark ());
  g_autoptr(SoupServerMessage) held = NULL;
  g_autoptr(GIOStream) stream = NULL;
  HelixGatewayAuth *auth;
  HelixWsConn *ws;
  SyncConn *conn;

  if (soup_server_message_get_status (msg) != SOUP_STATUS_SWITCHING_PROTOCOLS)
    return;

  /* sync_http_cb() answers every request it does not authenticate. */
  g_assert (upgrade != NULL);
  auth = &upgrade->auth;

  /* Taking the stream can drop libsoup's last reference to @msg. */
  held = g_object_ref (msg);
  _helix_gateway_request_upgraded (self, msg);
  stream = soup_server_message_steal_connection (msg);
  if (stream == NULL)
    return;

  ws = helix_ws_conn_new (stream, HELIX_SYNC_MAX_FRAME_BYTES);
  if (ws == NULL)
    {
      g_io_stream_close (stream, NULL, NULL);
      return;
    }

  conn = g_new0 (SyncConn, 1);
  helix_gateway_metrics_websocket_opened ();
  conn->hub = hub;
  conn->ws = ws;
  conn->user_id = auth->user_id;
  conn->user_name = g_strdup (auth->user_name);
  conn->device_id = auth->device_id;
  conn->device_uuid = g_strdup (auth->device_uuid);
  memcpy (conn->token_hash, upgrade->token_hash, sizeof conn->token_hash);
  /* sync_http_cb() has just checked it. */
  conn->checked_us = g_get_monotonic_time ();

  helix_ws_conn_set_keepalive (ws, KEEPALIVE_INTERVAL_S);
  helix_ws_conn_start (ws, on_message, on_closed, conn);

  hub_add (hub, conn);
}

static gboolean
is_upgrade_request (SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);

  return soup_message_headers_header_contains (headers, "Upgrade", "websocket") &&
         soup_message_headers_header_contains (headers, "Connection", "Upgrade");
}

/* Checks the upgrade request, then answers the handshake: any status set
 * before refuses it. */
static void
sync_http_cb (SoupServer        *server,
              SoupServerMessage *msg,
              const char        *path,
              GHashTable        *query,
              gpointer           user_data)
{
  static const char * const allowed[] = { "GET", NULL };
  HelixGateway *self = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  g_auto(HelixGatewayAuth) auth = { 0 };
  UpgradeAuth *upgrade;
  const char *origin;
  const char *token;

  if (!_helix_gateway_admit (self, msg))
    return;

  if (!g_str_equal (path, SYNC_PATH))
    {
      _helix_gateway_respond_not_found (msg, path);
      return;
    }

  if (!_helix_gateway_check_method (msg, allowed))
    return;

  _helix_gateway_set_no_store (msg);

  /* Browsers send Origin; other clients do not. A page of another site must
   * not open a socket with the user's credentials. */
  origin = soup_message_headers_get_one (headers, "Origin");
  if (origin != NULL &&
      !helix_gateway_config_origin_is_allowed (helix_gateway_get_config (self), origin))
    {
      g_info ("sync: refused a WebSocket from origin %s", origin);
      _helix_gateway_respond_error (msg, SOUP_STATUS_FORBIDDEN, "forbidden_origin",
                                    _("This web page may not use the gateway. Its "
                                      "administrator can allow it with the "
                                      "“allowed-origins” setting."));
      return;
    }

  if (!_helix_gateway_authenticate (self, msg, &auth))
    return;

  if (!is_upgrade_request (msg))
    {
      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "not_websocket",
                                    _("This is the sync WebSocket: connect with a WebSocket "
                                      "client (see PROTOCOL.md)."));
      return;
    }

  upgrade = g_new0 (UpgradeAuth, 1);
  upgrade->auth = auth;
  memset (&auth, 0, sizeof auth);

  /* Kept to check later that the token is still valid. The header was
   * just accepted by _helix_gateway_authenticate(). */
  token = soup_message_headers_get_one (headers, "Authorization") + strlen ("Bearer ");
  while (*token == ' ')
    token++;
  if (!helix_token_hash (token, upgrade->token_hash))
    g_assert_not_reached ();

  g_object_set_qdata_full (G_OBJECT (msg), upgrade_auth_quark (), upgrade, upgrade_auth_free);

  /* No subprotocol and no extension (PROTOCOL.md section 2); the origin was
   * checked above. A handshake libsoup finds wrong is answered (400) here. */
  if (!soup_websocket_server_process_handshake (msg, NULL, NULL, NULL, NULL))
    return;

  g_signal_connect_object (msg, "wrote-informational", G_CALLBACK (upgrade_cb), self, 0);
}

void
_helix_gateway_add_sync_routes (HelixGateway *self,
                                SoupServer   *server)
{
  g_assert (HELIX_IS_GATEWAY (self));
  g_assert (SOUP_IS_SERVER (server));

  /* The handler refuses what must not be upgraded, then answers the
   * handshake itself: the server has no WebSocket handler. */
  soup_server_add_handler (server, SYNC_PATH, sync_http_cb, self, NULL);
}
