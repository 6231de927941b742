/* helix-sync-client.c: keeps a desktop store in sync with a gateway
 *
 * One WebSocket to the gateway's `/api/v1/sync` (src/sync/PROTOCOL.md). The client says
 * `hello` with the store's cursor, applies the backlog and live `ops` frames, pushes the
 * outbox once the backlog is done, one `push` at a time, and removes ops from the outbox
 * only when their `ack` arrives. The cursor moves in the same transaction as the ops or
 * acks that carry it (helix_sync_replica_apply_parsed()).
 *
 * All store work (parsing big frames, applying ops, reading the outbox) runs in a worker
 * thread, one job at a time and in arrival order, so that frames are applied in the
 * order the gateway sent them and the main loop never waits for the disk.
 *
 * A dropped connection is retried with exponential backoff and jitter, from 1 s up to
 * 60 s, and at once when the network comes back. A token the gateway refuses (HTTP 401
 * on the upgrade, close code 4001) stops the client: #HelixSyncClient::signed-out.
 *
 * The token is sent only in the Authorization header and never logged.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-sync"

#include "config.h"

#include <glib/gi18n.h>
#include <libsoup/soup.h>
#include <string.h>

#include "helix-sync-client.h"
#include "helix-sync-frame.h"
#include "helix-sync-private.h"
#include "helix-sync-replica.h"

/* Ops per `push`: small enough that an ack comes back quickly. */
#define PUSH_BATCH_OPS          100
#define PING_INTERVAL_MS        30000
#define IDLE_TIMEOUT_MS         90000
#define HANDSHAKE_TIMEOUT_S     20
#define PUSH_RETRY_MIN_MS       1000
#define CLOSE_CODE_REVOKED      4001
#define SYNC_PATH               "/api/v1/sync"

typedef enum
{
  JOB_HELLO,        /* read the cursor for `hello` */
  JOB_FRAME,        /* parse a received frame; apply `ops` and `ack` */
  JOB_PUSH,         /* build the next `push` from the outbox */
  JOB_DROP_OP,      /* remove an op the gateway refused from the outbox */
  JOB_RESET_CURSOR, /* the gateway lost history: start again from 0 */
  JOB_COUNT,        /* only count the outbox */
} JobKind;

typedef struct
{
  JobKind         kind;
  guint64         serial;
  guint           generation;
  HelixStore     *store;
  /* In */
  GBytes         *text;
  guint           max_ops;
  char           *op_id;
  char           *gateway_uri;
  const gint     *current_generation;
  gboolean        identity_changed;
  /* Out */
  HelixSyncFrame *frame;
  char           *push;
  GStrv           push_ids;
  gint64          cursor;
  gint64          pending;
  GError         *error;
} Job;

typedef enum
{
  PUSH_IDLE,
  PUSH_BUILDING,
  PUSH_IN_FLIGHT,
} PushState;

struct _HelixSyncClient
{
  GObject                  parent_instance;

  HelixStore              *store;
  SoupSession             *session;
  GNetworkMonitor         *monitor;
  gulong                   monitor_handler;
  gulong                   store_handlers[2];

  char                    *uri;
  char                    *token;

  /* The connection. @generation changes with each attempt; results of work done for
   * an older one do not act on a newer one. */
  gint                     generation; /* (atomic): read by the worker */
  GCancellable            *connect_cancellable;
  SoupWebsocketConnection *ws;
  gboolean                 welcomed;
  gboolean                 synced;
  gint64                   hello_cursor;
  gint64                   last_rx_us;
  guint                    ping_source;
  guint64                  ping_counter;

  /* Reconnecting */
  guint                    attempt;
  guint                    reconnect_source;
  gint64                   retry_at;
  guint                    backoff_min_ms;
  guint                    backoff_max_ms;
  guint                    ping_interval_ms;
  guint                    idle_timeout_ms;

  /* Pushing */
  PushState                push_state;
  GStrv                    push_ids;
  guint                    push_limit;
  guint                    push_retry_source;
  guint                    push_retries;
  guint                    push_idle_source;
  gboolean                 push_again;

  /* The worker: one job at a time, in order */
  GQueue                   jobs;
  guint64                  job_serial;   /* of the last job queued */
  guint64                  done_serial;  /* of the last job done */
  gboolean                 job_running;
  gboolean                 count_queued;

  /* Answers asked of the gateway (ChatRequest), until a sign of them comes back */
  GPtrArray               *chats;

  HelixSyncState           state;
  guint                    pending;
  char                    *last_error;
};

/* An answer asked of the gateway with a `chat` frame. It is sent once the
 * outbox is empty (its user message acknowledged), and again after a reconnect
 * until a delta, the answer or a failure for it arrives. */
typedef struct
{
  char     *reply;
  char     *session;
  char     *frame;
  guint64   after;    /* the outbox is counted by a job queued after this one */
  gboolean  sent;     /* on the current connection */
  gboolean  writing;  /* a delta came: the gateway has it, no need to ask again */
} ChatRequest;

static void
chat_request_free (gpointer data)
{
  ChatRequest *request = data;

  g_free (request->reply);
  g_free (request->session);
  g_free (request->frame);
  g_free (request);
}

G_DEFINE_FINAL_TYPE (HelixSyncClient, helix_sync_client, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (HelixSyncState, helix_sync_state,
                    G_DEFINE_ENUM_VALUE (HELIX_SYNC_STATE_OFFLINE, "offline"),
                    G_DEFINE_ENUM_VALUE (HELIX_SYNC_STATE_CONNECTING, "connecting"),
                    G_DEFINE_ENUM_VALUE (HELIX_SYNC_STATE_SYNCING, "syncing"),
                    G_DEFINE_ENUM_VALUE (HELIX_SYNC_STATE_UP_TO_DATE, "up-to-date"))

enum {
  PROP_0,
  PROP_STORE,
  PROP_STATE,
  PROP_PENDING,
  PROP_LAST_ERROR,
  PROP_RETRY_AT,
  PROP_GATEWAY_URI,
  N_PROPS
};

enum {
  SIGNED_OUT,
  MESSAGE_DELTA,
  CHAT_FAILED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void start_connection (HelixSyncClient *self);
static void forget_chat      (HelixSyncClient *self,
                              const char      *reply);
static void mark_writing     (HelixSyncClient *self,
                              const char      *reply);
static void maybe_send_chats (HelixSyncClient *self);
static void drop_connection  (HelixSyncClient *self,
                              gboolean         reconnect);
static void maybe_push       (HelixSyncClient *self);
static void push_retry_cb    (gpointer         user_data);
static void reconnect_cb     (gpointer         user_data);

/* State {{{1 */

static void
update_state (HelixSyncClient *self)
{
  HelixSyncState state;

  if (self->ws == NULL)
    state = self->connect_cancellable != NULL ? HELIX_SYNC_STATE_CONNECTING
                                              : HELIX_SYNC_STATE_OFFLINE;
  else if (!self->welcomed)
    state = HELIX_SYNC_STATE_CONNECTING;
  else if (!self->synced || self->pending > 0 || self->push_state != PUSH_IDLE)
    state = HELIX_SYNC_STATE_SYNCING;
  else
    state = HELIX_SYNC_STATE_UP_TO_DATE;

  if (state == self->state)
    return;

  if (g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN) == FALSE)
    {
      g_autofree char *name = g_enum_to_string (HELIX_TYPE_SYNC_STATE, state);

      g_debug ("Sync state: %s", name);
    }
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
set_pending (HelixSyncClient *self,
             gint64           pending)
{
  guint value = (guint) CLAMP (pending, 0, G_MAXUINT);

  if (pending < 0 || value == self->pending)
    return;

  self->pending = value;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PENDING]);
}

static void
set_last_error (HelixSyncClient *self,
                const char      *message)
{
  if (g_strcmp0 (self->last_error, message) == 0)
    return;

  g_free (self->last_error);
  self->last_error = g_strdup (message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAST_ERROR]);
}

static void
set_retry_at (HelixSyncClient *self,
              gint64           retry_at)
{
  if (self->retry_at == retry_at)
    return;

  self->retry_at = retry_at;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RETRY_AT]);
}

/* The worker {{{1 */

static void
job_free (Job *job)
{
  g_clear_object (&job->store);
  g_clear_pointer (&job->text, g_bytes_unref);
  g_clear_pointer (&job->op_id, g_free);
  g_clear_pointer (&job->gateway_uri, g_free);
  g_clear_pointer (&job->frame, helix_sync_frame_unref);
  g_clear_pointer (&job->push, g_free);
  g_clear_pointer (&job->push_ids, g_strfreev);
  g_clear_error (&job->error);
  g_free (job);
}

static void
job_thread (GTask        *task,
            gpointer      source_object,
            gpointer      task_data,
            GCancellable *cancellable)
{
  Job *job = task_data;
  gboolean ok = TRUE;

  switch (job->kind)
    {
    case JOB_HELLO:
      job->cursor = helix_store_get_sync_cursor (job->store, &job->error);
      ok = job->cursor >= 0;
      break;

    case JOB_FRAME:
      {
        gsize len;
        const char *text = g_bytes_get_data (job->text, &len);

        job->frame = helix_sync_frame_parse (text, len, &job->error);
        ok = job->frame != NULL;
        if (ok && !helix_sync_frame_kind_sent_by_gateway (helix_sync_frame_get_kind (job->frame)))
          {
            g_set_error (&job->error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_FORBIDDEN,
                         _("The gateway sent a “%s” frame"),
                         helix_sync_frame_kind_to_string (helix_sync_frame_get_kind (job->frame)));
            ok = FALSE;
          }
        if (ok)
          {
            HelixSyncFrameKind kind = helix_sync_frame_get_kind (job->frame);

            /* Frames of a connection that was dropped meanwhile are not applied: after
             * a `welcome` that showed the store synced with another gateway or account
             * its cursor was wrong, and any other time they simply come again. */
            if (job->generation != (guint) g_atomic_int_get (job->current_generation))
              ;
            else if (kind == HELIX_SYNC_FRAME_OPS || kind == HELIX_SYNC_FRAME_ACK)
              ok = helix_sync_replica_apply_parsed (job->store, job->frame, &job->error);
            else if (kind == HELIX_SYNC_FRAME_WELCOME)
              {
                g_autofree char *identity =
                  g_strdup_printf ("%s %s", job->gateway_uri,
                                   helix_sync_frame_get_user (job->frame));

                ok = helix_store_check_sync_identity (job->store, identity,
                                                      &job->identity_changed, &job->error);
              }
          }
      }
      break;

    case JOB_PUSH:
      job->push = helix_sync_replica_build_push (job->store, job->max_ops, &job->push_ids,
                                                 &job->error);
      ok = job->error == NULL;
      break;

    case JOB_DROP_OP:
      {
        const char *ids[] = { job->op_id, NULL };

        ok = helix_store_outbox_ack (job->store, ids, 0, &job->error);
      }
      break;

    case JOB_RESET_CURSOR:
      ok = helix_store_reset_sync_cursor (job->store, &job->error);
      break;

    case JOB_COUNT:
    default:
      break;
    }

  if (ok)
    job->pending = helix_store_outbox_count (job->store, NULL);
  else
    job->pending = -1;

  g_task_return_boolean (task, TRUE);
}

static void job_done (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data);

static void
run_next_job (HelixSyncClient *self)
{
  g_autoptr(GTask) task = NULL;
  Job *job;

  if (self->job_running || g_queue_is_empty (&self->jobs))
    return;

  job = g_queue_pop_head (&self->jobs);
  self->job_running = TRUE;
  task = g_task_new (self, NULL, job_done, NULL);
  g_task_set_source_tag (task, run_next_job);
  g_task_set_task_data (task, job, (GDestroyNotify) job_free);
  g_task_run_in_thread (task, job_thread);
}

static Job *
queue_job (HelixSyncClient *self,
           JobKind          kind)
{
  Job *job = g_new0 (Job, 1);

  job->kind = kind;
  job->serial = ++self->job_serial;
  job->generation = (guint) self->generation;
  job->current_generation = &self->generation;
  job->store = g_object_ref (self->store);
  job->gateway_uri = g_strdup (self->uri);
  g_queue_push_tail (&self->jobs, job);

  return job;
}

static void
queue_count (HelixSyncClient *self)
{
  if (self->count_queued)
    return;

  self->count_queued = TRUE;
  queue_job (self, JOB_COUNT);
  run_next_job (self);
}

/* The connection {{{1 */

static gboolean
is_current (HelixSyncClient *self,
            guint            generation)
{
  return self->ws != NULL && generation == (guint) self->generation &&
         soup_websocket_connection_get_state (self->ws) == SOUP_WEBSOCKET_STATE_OPEN;
}

static void
send_text (HelixSyncClient *self,
           const char      *text)
{
  if (soup_websocket_connection_get_state (self->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_send_text (self->ws, text);
}

/* A protocol or storage failure on this connection: close it and try again later. */
static void
fail_connection (HelixSyncClient *self,
                 const char      *what,
                 const GError    *error)
{
  g_autofree char *message = g_strdup_printf ("%s: %s", what, error->message);

  /* Not a warning: a broken network can cause it (a frame cut or duplicated on the
   * way); the next connection starts clean. */
  g_message ("Sync: %s", message);
  set_last_error (self, message);
  drop_connection (self, TRUE);
}

static void
handle_error_frame (HelixSyncClient *self,
                    HelixSyncFrame  *frame)
{
  const char *code = helix_sync_frame_get_error_code (frame);
  const char *op = helix_sync_frame_get_error_op (frame);
  HelixSyncError error_code;
  g_autofree char *message = NULL;

  message = g_strdup_printf (_("The gateway refused a change (%s): %s"), code,
                             helix_sync_frame_get_error_message (frame));
  g_message ("Sync: %s", message);

  if (self->push_state != PUSH_IN_FLIGHT)
    return;

  if (!helix_sync_error_from_code (code, &error_code))
    error_code = HELIX_SYNC_ERROR_BAD_FRAME;

  switch (error_code)
    {
    case HELIX_SYNC_ERROR_RATE_LIMITED:
    case HELIX_SYNC_ERROR_UNAVAILABLE:
      {
        guint delay = PUSH_RETRY_MIN_MS << MIN (self->push_retries, 5u);

        /* The push was dropped whole: send it again later. */
        self->push_retries++;
        self->push_state = PUSH_IDLE;
        g_clear_handle_id (&self->push_retry_source, g_source_remove);
        self->push_retry_source = g_timeout_add_once (delay + g_random_int_range (0, delay / 2 + 1),
                                                      push_retry_cb, self);
        return;
      }

    case HELIX_SYNC_ERROR_BAD_OP:
    case HELIX_SYNC_ERROR_OP_CONFLICT:
      if (op != NULL && self->push_ids != NULL)
        {
          guint index = 0;

          while (self->push_ids[index] != NULL && strcmp (self->push_ids[index], op) != 0)
            index++;

          if (self->push_ids[index] != NULL)
            {
              self->push_state = PUSH_IDLE;
              set_last_error (self, message);
              if (index == 0)
                {
                  /* The oldest change can never be stored: drop it, keep it locally. */
                  Job *job = queue_job (self, JOB_DROP_OP);

                  g_warning ("Sync: dropping change %s from the outbox: %s", op, message);
                  job->op_id = g_strdup (op);
                  self->push_state = PUSH_BUILDING;
                  run_next_job (self);
                }
              else
                {
                  /* Push what came before it first, so the outbox empties in order. */
                  self->push_limit = index;
                  maybe_push (self);
                }
              return;
            }
        }
      G_GNUC_FALLTHROUGH;

    case HELIX_SYNC_ERROR_BAD_FRAME:
    case HELIX_SYNC_ERROR_TOO_LARGE:
    case HELIX_SYNC_ERROR_TOO_DEEP:
    case HELIX_SYNC_ERROR_UNKNOWN_TYPE:
    case HELIX_SYNC_ERROR_FORBIDDEN:
    default:
      {
        /* Nothing this client can fix by sending again at once: back off. */
        g_autoptr(GError) error = g_error_new_literal (HELIX_SYNC_ERROR, error_code, message);

        fail_connection (self, _("Sync stopped"), error);
      }
      return;
    }
}

static gboolean
ack_answers_push (HelixSyncClient *self,
                  HelixSyncFrame  *frame)
{
  guint n_acks = 0;
  const HelixSyncAck *acks = helix_sync_frame_get_acks (frame, &n_acks);

  if (self->push_ids == NULL || n_acks != g_strv_length (self->push_ids))
    return FALSE;

  for (guint i = 0; i < n_acks; i++)
    if (strcmp (acks[i].op, self->push_ids[i]) != 0)
      return FALSE;

  return TRUE;
}

static void
handle_frame (HelixSyncClient *self,
              Job             *job)
{
  HelixSyncFrame *frame = job->frame;

  switch (helix_sync_frame_get_kind (frame))
    {
    case HELIX_SYNC_FRAME_WELCOME:
      if (self->welcomed)
        {
          g_autoptr(GError) error = g_error_new_literal (HELIX_SYNC_ERROR,
                                                         HELIX_SYNC_ERROR_FORBIDDEN,
                                                         _("A second “welcome”"));
          fail_connection (self, _("The gateway broke the sync protocol"), error);
          return;
        }
      if (job->identity_changed)
        {
          /* The hello carried the cursor of another gateway or account. */
          g_message ("Sync: this device synced with another gateway or account before; "
                     "syncing from the start");
          self->attempt = 0;
          drop_connection (self, TRUE);
          return;
        }
      if (helix_sync_frame_get_head (frame) < self->hello_cursor)
        {
          /* The gateway was restored from an older backup: ask for everything. */
          g_message ("Sync: the gateway is behind this device (head %" G_GINT64_FORMAT
                     ", cursor %" G_GINT64_FORMAT "); syncing from the start",
                     helix_sync_frame_get_head (frame), self->hello_cursor);
          queue_job (self, JOB_RESET_CURSOR);
          run_next_job (self);
          self->attempt = 0;
          drop_connection (self, TRUE);
          return;
        }
      self->welcomed = TRUE;
      self->attempt = 0;
      set_last_error (self, NULL);
      break;

    case HELIX_SYNC_FRAME_SYNCED:
      self->synced = TRUE;
      maybe_push (self);
      maybe_send_chats (self);
      break;

    case HELIX_SYNC_FRAME_OPS:
      if (self->chats->len > 0)
        {
          GPtrArray *ops = helix_sync_frame_get_ops (frame);

          for (guint i = 0; i < ops->len; i++)
            if (helix_sync_op_get_kind (g_ptr_array_index (ops, i)) == HELIX_SYNC_OP_MESSAGE_PUT)
              forget_chat (self, helix_sync_op_get_id (g_ptr_array_index (ops, i)));
        }
      break;

    case HELIX_SYNC_FRAME_ACK:
      /* Applied already; it ends the push in flight only if it answers that push (an
       * earlier ack may arrive twice from a network that duplicates). */
      if (self->push_state == PUSH_IN_FLIGHT && ack_answers_push (self, frame))
        {
          self->push_state = PUSH_IDLE;
          self->push_retries = 0;
          self->push_limit = PUSH_BATCH_OPS;
          g_clear_pointer (&self->push_ids, g_strfreev);
          maybe_push (self);
          maybe_send_chats (self);
        }
      break;

    case HELIX_SYNC_FRAME_ERROR:
      handle_error_frame (self, frame);
      break;

    case HELIX_SYNC_FRAME_PING:
      {
        g_autofree char *pong = helix_sync_frame_build_pong (helix_sync_frame_get_ping_id (frame));

        send_text (self, pong);
      }
      break;

    case HELIX_SYNC_FRAME_PONG:
      break;

    case HELIX_SYNC_FRAME_MESSAGE_DELTA:
      /* A finished message arrives later as a `message.put` op. */
      mark_writing (self, helix_sync_frame_get_message_id (frame));
      g_signal_emit (self, signals[MESSAGE_DELTA], 0, helix_sync_frame_get_session_id (frame),
                     helix_sync_frame_get_message_id (frame), helix_sync_frame_get_index (frame),
                     helix_sync_frame_get_delta (frame));
      break;

    case HELIX_SYNC_FRAME_CHAT_FAILED:
      forget_chat (self, helix_sync_frame_get_reply_id (frame));
      g_signal_emit (self, signals[CHAT_FAILED], 0, helix_sync_frame_get_session_id (frame),
                     helix_sync_frame_get_reply_id (frame),
                     helix_sync_frame_get_error_message (frame));
      break;

    case HELIX_SYNC_FRAME_HELLO:
    case HELIX_SYNC_FRAME_PUSH:
    case HELIX_SYNC_FRAME_CHAT:
    case HELIX_SYNC_FRAME_CHAT_CANCEL:
    default:
      g_assert_not_reached ();
    }
}

static void
job_done (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  HelixSyncClient *self = HELIX_SYNC_CLIENT (source);
  Job *job = g_task_get_task_data (G_TASK (result));
  gboolean current;

  self->job_running = FALSE;
  self->done_serial = job->serial;
  if (job->kind == JOB_COUNT)
    self->count_queued = FALSE;

  set_pending (self, job->pending);
  current = is_current (self, job->generation);

  switch (job->kind)
    {
    case JOB_HELLO:
      if (job->error != NULL)
        {
          if (current)
            fail_connection (self, _("Could not read the sync position"), job->error);
        }
      else if (current)
        {
          g_autofree char *hello = helix_sync_frame_build_hello (job->cursor,
                                                                 helix_store_get_device_id (self->store));

          self->hello_cursor = job->cursor;
          send_text (self, hello);
        }
      break;

    case JOB_FRAME:
      if (job->error != NULL)
        {
          /* Nothing of the frame was applied and the cursor did not move: the ops come
           * again on the next connection. */
          if (current)
            fail_connection (self, _("Could not apply changes from the gateway"), job->error);
        }
      else if (current)
        handle_frame (self, job);
      break;

    case JOB_PUSH:
      if (!current || self->push_state != PUSH_BUILDING)
        break;
      if (job->error != NULL)
        {
          self->push_state = PUSH_IDLE;
          fail_connection (self, _("Could not read the changes waiting for sync"), job->error);
        }
      else if (job->push == NULL)
        {
          self->push_state = PUSH_IDLE;
          if (self->push_again)
            maybe_push (self);
        }
      else
        {
          self->push_state = PUSH_IN_FLIGHT;
          g_clear_pointer (&self->push_ids, g_strfreev);
          self->push_ids = g_steal_pointer (&job->push_ids);
          send_text (self, job->push);
        }
      break;

    case JOB_DROP_OP:
      if (job->error != NULL)
        g_warning ("Sync: could not drop change %s: %s", job->op_id, job->error->message);
      if (self->push_state == PUSH_BUILDING)
        self->push_state = PUSH_IDLE;
      if (current)
        maybe_push (self);
      break;

    case JOB_RESET_CURSOR:
      if (job->error != NULL)
        g_warning ("Sync: %s", job->error->message);
      break;

    case JOB_COUNT:
    default:
      break;
    }

  maybe_send_chats (self);
  update_state (self);
  run_next_job (self);
}

static void
mark_writing (HelixSyncClient *self,
              const char      *reply)
{
  for (guint i = 0; i < self->chats->len; i++)
    if (g_str_equal (((ChatRequest *) g_ptr_array_index (self->chats, i))->reply, reply))
      ((ChatRequest *) g_ptr_array_index (self->chats, i))->writing = TRUE;
}

static void
forget_chat (HelixSyncClient *self,
             const char      *reply)
{
  for (guint i = 0; i < self->chats->len; i++)
    if (g_str_equal (((ChatRequest *) g_ptr_array_index (self->chats, i))->reply, reply))
      {
        g_ptr_array_remove_index (self->chats, i);
        return;
      }
}

/* Asks for the answers waiting, once their user messages are acknowledged:
 * the gateway answers only what it has. */
static void
maybe_send_chats (HelixSyncClient *self)
{
  if (self->ws == NULL || !self->synced || self->push_state != PUSH_IDLE || self->pending > 0)
    return;

  for (guint i = 0; i < self->chats->len; i++)
    {
      ChatRequest *request = g_ptr_array_index (self->chats, i);

      if (!request->sent && !request->writing && self->done_serial > request->after)
        {
          request->sent = TRUE;
          send_text (self, request->frame);
        }
    }
}

static void
maybe_push (HelixSyncClient *self)
{
  Job *job;

  if (self->ws == NULL || !self->synced || self->push_state != PUSH_IDLE)
    {
      if (self->ws == NULL)
        queue_count (self);
      /* A push being built may have read the outbox before this change: look again
       * when it is done. */
      self->push_again = TRUE;
      return;
    }

  self->push_again = FALSE;
  self->push_state = PUSH_BUILDING;
  job = queue_job (self, JOB_PUSH);
  job->max_ops = CLAMP (self->push_limit, 1, PUSH_BATCH_OPS);
  run_next_job (self);
  update_state (self);
}

static void
push_retry_cb (gpointer user_data)
{
  HelixSyncClient *self = user_data;

  self->push_retry_source = 0;
  maybe_push (self);
}

static void
push_idle_cb (gpointer user_data)
{
  HelixSyncClient *self = user_data;

  self->push_idle_source = 0;
  maybe_push (self);
}

/* A local change was committed: push it soon, coalescing bursts. */
static void
on_store_changed (HelixSyncClient *self)
{
  if (self->push_idle_source == 0)
    self->push_idle_source = g_idle_add_once (push_idle_cb, self);
}

static void
on_ws_message (SoupWebsocketConnection *ws,
               int                      type,
               GBytes                  *message,
               gpointer                 user_data)
{
  HelixSyncClient *self = user_data;
  Job *job;

  self->last_rx_us = g_get_monotonic_time ();

  if (type != SOUP_WEBSOCKET_DATA_TEXT)
    {
      soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_UNSUPPORTED_DATA, NULL);
      return;
    }

  job = queue_job (self, JOB_FRAME);
  job->text = g_bytes_ref (message);
  run_next_job (self);
}

static void
on_ws_closed (SoupWebsocketConnection *ws,
              gpointer                 user_data)
{
  HelixSyncClient *self = user_data;
  gushort code = soup_websocket_connection_get_close_code (ws);

  g_debug ("Sync connection closed (%u)", code);

  if (code == CLOSE_CODE_REVOKED)
    {
      set_last_error (self, _("This device was signed out on the gateway. Sign in again to sync."));
      drop_connection (self, FALSE);
      g_signal_emit (self, signals[SIGNED_OUT], 0);
      return;
    }

  {
    g_autofree char *message = NULL;

    if (code == SOUP_WEBSOCKET_CLOSE_GOING_AWAY)
      message = g_strdup (_("The gateway is restarting"));
    else
      message = g_strdup_printf (_("The connection to the gateway was closed (%u)"), code);
    set_last_error (self, message);
  }

  drop_connection (self, TRUE);
}

static void
on_ws_error (SoupWebsocketConnection *ws,
             GError                  *error,
             gpointer                 user_data)
{
  HelixSyncClient *self = user_data;

  g_debug ("Sync connection error: %s", error->message);
  set_last_error (self, error->message);
}

static gboolean
ping_cb (gpointer user_data)
{
  HelixSyncClient *self = user_data;
  g_autofree char *id = NULL;
  g_autofree char *ping = NULL;

  if (g_get_monotonic_time () - self->last_rx_us > (gint64) self->idle_timeout_ms * 1000)
    {
      self->ping_source = 0;
      set_last_error (self, _("The gateway stopped answering"));
      drop_connection (self, TRUE);
      return G_SOURCE_REMOVE;
    }

  id = g_strdup_printf ("p%" G_GUINT64_FORMAT, ++self->ping_counter);
  ping = helix_sync_frame_build_ping (id);
  send_text (self, ping);

  return G_SOURCE_CONTINUE;
}

/**
 * _helix_sync_backoff_delay_ms:
 * @min_ms: the first ceiling
 * @max_ms: the highest ceiling
 * @attempt: how many attempts failed in a row before this one
 * @random: a random number in [0, 1)
 *
 * The wait before a reconnect: exponential with jitter, a delay in the upper
 * half of a ceiling that doubles from @min_ms with each failed attempt up to
 * @max_ms. The jitter spreads the clients of a gateway that restarts over
 * half the ceiling, instead of all of them coming back at once; the lower
 * half is never used, so a client does not hammer a gateway that is down.
 *
 * Returns: the delay in milliseconds
 */
guint
_helix_sync_backoff_delay_ms (guint  min_ms,
                              guint  max_ms,
                              guint  attempt,
                              double random)
{
  guint64 cap = (guint64) min_ms << MIN (attempt, 16u);

  cap = MIN (cap, (guint64) max_ms);
  random = CLAMP (random, 0.0, 1.0);

  return (guint) MIN (cap, cap / 2 + (guint64) (random * (cap - cap / 2 + 1)));
}

static void
schedule_reconnect (HelixSyncClient *self)
{
  guint delay;

  if (self->uri == NULL || self->reconnect_source != 0)
    return;

  delay = _helix_sync_backoff_delay_ms (self->backoff_min_ms, self->backoff_max_ms,
                                        self->attempt, g_random_double ());
  self->attempt++;

  g_debug ("Sync: reconnecting in %u ms", delay);
  self->reconnect_source = g_timeout_add_once (delay, reconnect_cb, self);
  set_retry_at (self, g_get_monotonic_time () + (gint64) delay * 1000);
}

/* Forgets the connection (closing it if it is open) and, if asked, schedules the next
 * attempt. Frames of the old connection still queued are parsed but not applied (the
 * generation moved on): the cursor stays where it was, so the gateway sends those ops
 * again and the outbox pushes what those acks would have removed. */
static void
drop_connection (HelixSyncClient *self,
                 gboolean         reconnect)
{
  g_atomic_int_inc (&self->generation);

  if (self->connect_cancellable != NULL)
    {
      g_cancellable_cancel (self->connect_cancellable);
      g_clear_object (&self->connect_cancellable);
    }

  if (self->ws != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->ws, self);
      if (soup_websocket_connection_get_state (self->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (self->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      g_clear_object (&self->ws);
    }

  g_clear_handle_id (&self->ping_source, g_source_remove);
  g_clear_handle_id (&self->push_retry_source, g_source_remove);
  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  g_clear_pointer (&self->push_ids, g_strfreev);
  self->welcomed = FALSE;
  self->synced = FALSE;
  for (guint i = 0; i < self->chats->len; i++)
    ((ChatRequest *) g_ptr_array_index (self->chats, i))->sent = FALSE;
  self->push_limit = PUSH_BATCH_OPS;
  if (self->push_state != PUSH_IDLE)
    self->push_state = PUSH_IDLE;
  set_retry_at (self, 0);

  if (reconnect)
    schedule_reconnect (self);

  update_state (self);
}

typedef struct
{
  HelixSyncClient *self;
  SoupMessage     *msg;
  guint            generation;
} ConnectData;

static void
connect_data_free (ConnectData *data)
{
  g_clear_object (&data->self);
  g_clear_object (&data->msg);
  g_free (data);
}

static void
connect_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  ConnectData *data = user_data;
  HelixSyncClient *self = data->self;
  g_autoptr(SoupWebsocketConnection) ws = NULL;
  g_autoptr(GError) error = NULL;
  guint status;

  ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);

  if (data->generation != (guint) self->generation)
    {
      /* Cancelled, or superseded by disconnect/connect. */
      if (ws != NULL)
        soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      connect_data_free (data);
      return;
    }

  g_clear_object (&self->connect_cancellable);
  status = soup_message_get_status (data->msg);
  connect_data_free (data);

  if (ws == NULL)
    {
      g_autofree char *message = NULL;

      if (status == SOUP_STATUS_UNAUTHORIZED)
        {
          set_last_error (self, _("The gateway does not accept this device’s token any more. Sign in again to sync."));
          drop_connection (self, FALSE);
          g_signal_emit (self, signals[SIGNED_OUT], 0);
          return;
        }

      if (status == SOUP_STATUS_SERVICE_UNAVAILABLE)
        message = g_strdup (_("The gateway is in maintenance"));
      else if (status >= 400)
        message = g_strdup_printf (_("The gateway refused to sync (HTTP %u)"), status);
      else
        message = g_strdup_printf (_("Could not reach the gateway: %s"), error->message);

      g_debug ("Sync: %s", message);
      set_last_error (self, message);
      drop_connection (self, TRUE);
      return;
    }

  self->ws = g_steal_pointer (&ws);
  self->last_rx_us = g_get_monotonic_time ();
  soup_websocket_connection_set_max_incoming_payload_size (self->ws, HELIX_SYNC_MAX_FRAME_BYTES);
  g_signal_connect (self->ws, "message", G_CALLBACK (on_ws_message), self);
  g_signal_connect (self->ws, "closed", G_CALLBACK (on_ws_closed), self);
  g_signal_connect (self->ws, "error", G_CALLBACK (on_ws_error), self);
  self->ping_source = g_timeout_add (self->ping_interval_ms, ping_cb, self);

  queue_job (self, JOB_HELLO);
  run_next_job (self);
  update_state (self);
}

static void
start_connection (HelixSyncClient *self)
{
  g_autofree char *uri = NULL;
  g_autofree char *authorization = NULL;
  ConnectData *data;

  set_retry_at (self, 0);

  if (self->uri == NULL || self->ws != NULL || self->connect_cancellable != NULL)
    return;

  uri = g_strconcat (self->uri, SYNC_PATH, NULL);
  data = g_new0 (ConnectData, 1);
  data->self = g_object_ref (self);
  data->msg = soup_message_new (SOUP_METHOD_GET, uri);
  if (data->msg == NULL)
    {
      connect_data_free (data);
      set_last_error (self, _("The gateway address is not valid"));
      update_state (self);
      return;
    }

  authorization = g_strconcat ("Bearer ", self->token, NULL);
  soup_message_headers_replace (soup_message_get_request_headers (data->msg),
                                "Authorization", authorization);

  /* A gateway that does not finish the handshake within the idle timeout
   * (at most HANDSHAKE_TIMEOUT_S) is gone, like a connection gone silent. */
  g_object_set (self->session, "timeout",
                MIN (HANDSHAKE_TIMEOUT_S, MAX (1u, (self->idle_timeout_ms + 999) / 1000)), NULL);

  g_atomic_int_inc (&self->generation);
  data->generation = (guint) self->generation;
  self->connect_cancellable = g_cancellable_new ();
  soup_session_websocket_connect_async (self->session, data->msg, NULL, NULL,
                                        G_PRIORITY_DEFAULT, self->connect_cancellable,
                                        connect_cb, data);
  update_state (self);
}

static void
reconnect_cb (gpointer user_data)
{
  HelixSyncClient *self = user_data;

  self->reconnect_source = 0;
  start_connection (self);
}

static void
on_network_changed (GNetworkMonitor *monitor,
                    gboolean         available,
                    gpointer         user_data)
{
  HelixSyncClient *self = user_data;

  /* Waiting to retry and the network is back: try now. */
  if (available && self->reconnect_source != 0)
    {
      g_clear_handle_id (&self->reconnect_source, g_source_remove);
      self->attempt = 0;
      start_connection (self);
    }
}

/* GObject {{{1 */

static void
helix_sync_client_dispose (GObject *object)
{
  HelixSyncClient *self = HELIX_SYNC_CLIENT (object);

  g_clear_pointer (&self->uri, g_free);
  drop_connection (self, FALSE);
  g_clear_handle_id (&self->push_idle_source, g_source_remove);

  if (self->store != NULL)
    {
      for (guint i = 0; i < G_N_ELEMENTS (self->store_handlers); i++)
        g_clear_signal_handler (&self->store_handlers[i], self->store);
    }
  if (self->monitor != NULL)
    g_clear_signal_handler (&self->monitor_handler, self->monitor);

  G_OBJECT_CLASS (helix_sync_client_parent_class)->dispose (object);
}

static void
helix_sync_client_finalize (GObject *object)
{
  HelixSyncClient *self = HELIX_SYNC_CLIENT (object);

  g_queue_clear_full (&self->jobs, (GDestroyNotify) job_free);
  g_clear_object (&self->session);
  g_clear_object (&self->store);
  g_clear_object (&self->monitor);
  if (self->token != NULL)
    memset (self->token, 0, strlen (self->token));
  g_clear_pointer (&self->token, g_free);
  g_clear_pointer (&self->last_error, g_free);
  g_clear_pointer (&self->chats, g_ptr_array_unref);

  G_OBJECT_CLASS (helix_sync_client_parent_class)->finalize (object);
}

static void
helix_sync_client_constructed (GObject *object)
{
  HelixSyncClient *self = HELIX_SYNC_CLIENT (object);

  G_OBJECT_CLASS (helix_sync_client_parent_class)->constructed (object);

  g_return_if_fail (HELIX_IS_STORE (self->store));

  self->store_handlers[0] = g_signal_connect_swapped (self->store, "session-changed",
                                                      G_CALLBACK (on_store_changed), self);
  self->store_handlers[1] = g_signal_connect_swapped (self->store, "message-added",
                                                      G_CALLBACK (on_store_changed), self);
  self->monitor = g_object_ref (g_network_monitor_get_default ());
  self->monitor_handler = g_signal_connect (self->monitor, "network-changed",
                                            G_CALLBACK (on_network_changed), self);
  queue_count (self);
}

static void
helix_sync_client_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  HelixSyncClient *self = HELIX_SYNC_CLIENT (object);

  switch (prop_id)
    {
    case PROP_STORE:
      g_value_set_object (value, self->store);
      break;
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    case PROP_PENDING:
      g_value_set_uint (value, self->pending);
      break;
    case PROP_LAST_ERROR:
      g_value_set_string (value, self->last_error);
      break;
    case PROP_RETRY_AT:
      g_value_set_int64 (value, self->retry_at);
      break;
    case PROP_GATEWAY_URI:
      g_value_set_string (value, self->uri);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_sync_client_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  HelixSyncClient *self = HELIX_SYNC_CLIENT (object);

  switch (prop_id)
    {
    case PROP_STORE:
      self->store = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_sync_client_class_init (HelixSyncClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = helix_sync_client_constructed;
  object_class->dispose = helix_sync_client_dispose;
  object_class->finalize = helix_sync_client_finalize;
  object_class->get_property = helix_sync_client_get_property;
  object_class->set_property = helix_sync_client_set_property;

  properties[PROP_STORE] =
    g_param_spec_object ("store", NULL, NULL,
                         HELIX_TYPE_STORE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HelixSyncClient:state:
   *
   * Offline, connecting, syncing or up to date.
   */
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL,
                       HELIX_TYPE_SYNC_STATE, HELIX_SYNC_STATE_OFFLINE,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * HelixSyncClient:pending:
   *
   * How many local changes wait for the gateway's acknowledgement.
   */
  properties[PROP_PENDING] =
    g_param_spec_uint ("pending", NULL, NULL,
                       0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * HelixSyncClient:last-error:
   *
   * Why the last connection failed or closed, for people; %NULL once connected.
   */
  properties[PROP_LAST_ERROR] =
    g_param_spec_string ("last-error", NULL, NULL,
                         NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * HelixSyncClient:retry-at:
   *
   * When the next connection attempt starts, in g_get_monotonic_time() microseconds;
   * 0 when none is scheduled.
   */
  properties[PROP_RETRY_AT] =
    g_param_spec_int64 ("retry-at", NULL, NULL,
                        0, G_MAXINT64, 0,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * HelixSyncClient:gateway-uri:
   *
   * The gateway it syncs with; %NULL when sync is off.
   */
  properties[PROP_GATEWAY_URI] =
    g_param_spec_string ("gateway-uri", NULL, NULL,
                         NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * HelixSyncClient::signed-out:
   * @self: the client
   *
   * The gateway refused the device token (it was revoked, or the account disabled).
   * The client stopped; sign in again and call helix_sync_client_connect().
   */
  signals[SIGNED_OUT] =
    g_signal_new ("signed-out",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);

  /**
   * HelixSyncClient::message-delta:
   * @self: the client
   * @session_id: the session
   * @message_id: the message being streamed (an answer the gateway writes)
   * @index: the position of @delta in the stream, from 0
   * @delta: the next piece of text
   *
   * A piece of an answer as it streams to the user's devices. The finished
   * answer arrives later as a stored message.
   */
  signals[MESSAGE_DELTA] =
    g_signal_new ("message-delta",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 4, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_INT64, G_TYPE_STRING);

  /**
   * HelixSyncClient::chat-failed:
   * @self: the client
   * @session_id: the session
   * @reply_id: the answer that will not come
   * @error: why, for people
   *
   * The gateway could not answer (helix_sync_client_request_chat()).
   */
  signals[CHAT_FAILED] =
    g_signal_new ("chat-failed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
}

static void
helix_sync_client_init (HelixSyncClient *self)
{
  g_queue_init (&self->jobs);
  self->chats = g_ptr_array_new_with_free_func (chat_request_free);
  self->backoff_min_ms = HELIX_SYNC_CLIENT_BACKOFF_MIN_MS;
  self->backoff_max_ms = HELIX_SYNC_CLIENT_BACKOFF_MAX_MS;
  self->ping_interval_ms = PING_INTERVAL_MS;
  self->idle_timeout_ms = IDLE_TIMEOUT_MS;
  self->push_limit = PUSH_BATCH_OPS;
  self->state = HELIX_SYNC_STATE_OFFLINE;

  self->session = soup_session_new_with_options ("timeout", HANDSHAKE_TIMEOUT_S,
                                                 "user-agent", "Helix/" PACKAGE_VERSION,
                                                 NULL);
  /* PROTOCOL.md section 2: no permessage-deflate. libsoup 3 sessions come
   * without the extension manager; should a later one add it by default,
   * it goes (test-sync-client's /sync-client/no-deflate watches). */
  soup_session_remove_feature_by_type (self->session, SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER);
}

/* API {{{1 */

/**
 * helix_sync_client_new:
 * @store: the store to keep in sync
 *
 * Returns: (transfer full): a client, offline until helix_sync_client_connect()
 */
HelixSyncClient *
helix_sync_client_new (HelixStore *store)
{
  g_return_val_if_fail (HELIX_IS_STORE (store), NULL);

  return g_object_new (HELIX_TYPE_SYNC_CLIENT, "store", store, NULL);
}

/**
 * helix_sync_client_connect:
 * @self: a #HelixSyncClient
 * @gateway_uri: the gateway's base URI, `http(s)://host:port`, without a path
 * @token: the device token
 *
 * Starts syncing with the gateway, and keeps at it: a lost connection is opened again
 * with backoff. Replaces an earlier gateway or token.
 */
void
helix_sync_client_connect (HelixSyncClient *self,
                           const char      *gateway_uri,
                           const char      *token)
{
  g_autofree char *uri = NULL;

  g_return_if_fail (HELIX_IS_SYNC_CLIENT (self));
  g_return_if_fail (gateway_uri != NULL);
  g_return_if_fail (token != NULL);

  helix_sync_client_disconnect (self);

  uri = g_strdup (gateway_uri);
  while (g_str_has_suffix (uri, "/"))
    uri[strlen (uri) - 1] = '\0';

  self->uri = g_steal_pointer (&uri);
  self->token = g_strdup (token);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_GATEWAY_URI]);
  self->attempt = 0;
  set_last_error (self, NULL);
  start_connection (self);
}

/**
 * helix_sync_client_disconnect:
 * @self: a #HelixSyncClient
 *
 * Stops syncing and forgets the gateway and token. Local changes stay in the outbox.
 */
void
helix_sync_client_disconnect (HelixSyncClient *self)
{
  g_return_if_fail (HELIX_IS_SYNC_CLIENT (self));

  if (self->uri != NULL)
    {
      g_clear_pointer (&self->uri, g_free);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_GATEWAY_URI]);
    }
  if (self->token != NULL)
    memset (self->token, 0, strlen (self->token));
  g_clear_pointer (&self->token, g_free);
  drop_connection (self, FALSE);
}

HelixStore *
helix_sync_client_get_store (HelixSyncClient *self)
{
  g_return_val_if_fail (HELIX_IS_SYNC_CLIENT (self), NULL);

  return self->store;
}

/**
 * helix_sync_client_get_gateway_uri:
 * @self: a #HelixSyncClient
 *
 * Returns: (nullable): the gateway it syncs with, or %NULL when it was not told to
 */
const char *
helix_sync_client_get_gateway_uri (HelixSyncClient *self)
{
  g_return_val_if_fail (HELIX_IS_SYNC_CLIENT (self), NULL);

  return self->uri;
}

HelixSyncState
helix_sync_client_get_state (HelixSyncClient *self)
{
  g_return_val_if_fail (HELIX_IS_SYNC_CLIENT (self), HELIX_SYNC_STATE_OFFLINE);

  return self->state;
}

guint
helix_sync_client_get_pending (HelixSyncClient *self)
{
  g_return_val_if_fail (HELIX_IS_SYNC_CLIENT (self), 0);

  return self->pending;
}

const char *
helix_sync_client_get_last_error (HelixSyncClient *self)
{
  g_return_val_if_fail (HELIX_IS_SYNC_CLIENT (self), NULL);

  return self->last_error;
}

gint64
helix_sync_client_get_retry_at (HelixSyncClient *self)
{
  g_return_val_if_fail (HELIX_IS_SYNC_CLIENT (self), 0);

  return self->retry_at;
}

/**
 * helix_sync_client_set_backoff:
 * @self: a #HelixSyncClient
 * @min_ms: the first delay before reconnecting
 * @max_ms: the longest delay
 *
 * Changes the reconnect backoff (default 1 s to 60 s).
 */
void
helix_sync_client_set_backoff (HelixSyncClient *self,
                               guint            min_ms,
                               guint            max_ms)
{
  g_return_if_fail (HELIX_IS_SYNC_CLIENT (self));
  g_return_if_fail (min_ms >= 1 && min_ms <= max_ms);

  self->backoff_min_ms = min_ms;
  self->backoff_max_ms = max_ms;
}

/**
 * helix_sync_client_set_keepalive:
 * @self: a #HelixSyncClient
 * @ping_interval_ms: how often to ping the gateway (default 30 s)
 * @idle_timeout_ms: how long without any frame before the connection counts as dead
 *   (default 90 s); also how long the handshake may take, up to 20 s
 *
 * Takes effect with the next connection.
 */
void
helix_sync_client_set_keepalive (HelixSyncClient *self,
                                 guint            ping_interval_ms,
                                 guint            idle_timeout_ms)
{
  g_return_if_fail (HELIX_IS_SYNC_CLIENT (self));
  g_return_if_fail (ping_interval_ms >= 1 && ping_interval_ms < idle_timeout_ms);

  self->ping_interval_ms = ping_interval_ms;
  self->idle_timeout_ms = idle_timeout_ms;
}

/**
 * helix_sync_client_request_chat:
 * @self: a client
 * @session_id: the session
 * @message_id: the user message to answer, in the store (its op is pushed
 *   first: the request waits until the outbox is empty)
 * @reply_id: a new id for the answer
 * @model: (nullable): a model the user pinned for the session
 *
 * Asks the gateway to answer: the answer streams to every device of the user
 * (#HelixSyncClient::message-delta), then arrives as a stored message; or
 * #HelixSyncClient::chat-failed says why not. The request survives
 * reconnections until one of those comes.
 */
void
helix_sync_client_request_chat (HelixSyncClient *self,
                                const char      *session_id,
                                const char      *message_id,
                                const char      *reply_id,
                                const char      *model)
{
  ChatRequest *request;

  g_return_if_fail (HELIX_IS_SYNC_CLIENT (self));
  g_return_if_fail (helix_uuid_is_valid (session_id));
  g_return_if_fail (helix_uuid_is_valid (message_id));
  g_return_if_fail (helix_uuid_is_valid (reply_id));

  request = g_new0 (ChatRequest, 1);
  request->reply = g_strdup (reply_id);
  request->session = g_strdup (session_id);
  request->frame = helix_sync_frame_build_chat (session_id, message_id, reply_id, model);
  request->after = self->job_serial;
  g_ptr_array_add (self->chats, request);

  /* The user message may be in the outbox, and the count from before it: the
   * request waits for a count made after it. */
  self->count_queued = TRUE;
  queue_job (self, JOB_COUNT);
  run_next_job (self);
}

/**
 * helix_sync_client_cancel_chat:
 * @self: a client
 * @reply_id: an answer asked with helix_sync_client_request_chat()
 *
 * Stops asking for it, and asks the gateway to stop writing it: what it wrote
 * so far is stored as a partial answer, which syncs like any message.
 */
void
helix_sync_client_cancel_chat (HelixSyncClient *self,
                               const char      *reply_id)
{
  g_return_if_fail (HELIX_IS_SYNC_CLIENT (self));

  for (guint i = 0; i < self->chats->len; i++)
    {
      ChatRequest *request = g_ptr_array_index (self->chats, i);

      if (g_str_equal (request->reply, reply_id))
        {
          if ((request->sent || request->writing) && self->ws != NULL)
            {
              g_autofree char *frame = helix_sync_frame_build_chat_cancel (request->session,
                                                                           reply_id);

              send_text (self, frame);
            }
          g_ptr_array_remove_index (self->chats, i);
          return;
        }
    }
}
