/* helix-gateway-chat.c: the assistant's answers, written by the gateway
 *
 * A device asks for an answer with a `chat` frame on the sync WebSocket
 * (after its user message was acknowledged), or a program with
 * `POST /api/v1/chat/message`. The gateway reads the session's recent
 * history from its store, runs the router, and streams the answer to every
 * connected device of the user as `message.delta` frames. The finished answer
 * is stored as a `message.put` op of the gateway's own, so it reaches every
 * device like any other op, now or when they next connect. An answer that
 * never started is reported with a `chat.failed` frame and not stored.
 *
 * After the first answer of a session still named after its first message
 * (or not named), a "title" operation names it, with a `session.put` op.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-gateway-db-private.h"
#include "helix-gateway-private.h"
#include "helix-title.h"
#include "helix-uuid.h"

#define CHAT_PATH "/api/v1/chat/message"

/* The history sent with a question, at most: the newest messages that fit. */
#define MAX_HISTORY_MESSAGES 200
#define MAX_HISTORY_BYTES    (256 * 1024)

/* A user message sent through the REST API, at most. */
#define MAX_CONTENT_BYTES    (256 * 1024)
#define MAX_BODY_BYTES       (MAX_CONTENT_BYTES * 2 + 4096)

/* An answer must fit in one frame as an op (PROTOCOL.md section 9). */
#define MAX_ANSWER_BYTES     (900 * 1024)

/* Answers under way per user, at most. */
#define MAX_CHATS_PER_USER   4

typedef struct
{
  GWeakRef           gateway;
  gint64             user_id;
  char              *user_name;
  char              *session;
  char              *reply;
  HelixChatStream   *stream;
  gint64             index;         /* of the next delta */
  GCancellable      *cancellable;
  SoupServerMessage *msg;           /* (nullable): a REST request waiting for the answer */
} ChatJob;

/* The answers under way on a gateway, by reply id: to refuse a second
 * request for the same answer, count them per user, and cancel them when
 * the gateway goes. */
static GHashTable *
get_jobs (HelixGateway *self)
{
  GHashTable *jobs = g_object_get_data (G_OBJECT (self), "helix-gateway-chats");

  if (jobs == NULL)
    {
      jobs = g_hash_table_new (g_str_hash, g_str_equal);
      g_object_set_data_full (G_OBJECT (self), "helix-gateway-chats", jobs,
                              (GDestroyNotify) g_hash_table_unref);
    }

  return jobs;
}

static guint
count_user_jobs (HelixGateway *self,
                 gint64        user_id)
{
  GHashTableIter iter;
  ChatJob *job;
  guint n = 0;

  g_hash_table_iter_init (&iter, get_jobs (self));
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &job))
    n += job->user_id == user_id;

  return n;
}

/* The program that asked went away: the answer is still written and stored. */
static void
on_message_gone (SoupServerMessage *msg,
                 ChatJob           *job)
{
  g_signal_handlers_disconnect_by_data (msg, job);
  g_clear_object (&job->msg);
}

static void
chat_job_free (ChatJob *job)
{
  if (job->msg != NULL)
    g_signal_handlers_disconnect_by_data (job->msg, job);
  g_weak_ref_clear (&job->gateway);
  g_free (job->user_name);
  g_free (job->session);
  g_free (job->reply);
  g_clear_object (&job->stream);
  g_clear_object (&job->cancellable);
  g_clear_object (&job->msg);
  g_free (job);
}

/* History */

/* The session's newest messages that fit, oldest first. */
static GPtrArray *
read_history (HelixGatewayDb  *db,
              gint64           user_id,
              const char      *session,
              GError         **error)
{
  g_autoptr(GPtrArray) newest_first = g_ptr_array_new_with_free_func (g_free);
  GPtrArray *history;
  sqlite3_stmt *stmt;
  gsize bytes = 0;
  int rc;

  stmt = _helix_gateway_db_prepare (db,
                                    "SELECT role, content FROM sync_messages"
                                    " WHERE user = ?1 AND session = ?2 AND content != ''"
                                    " ORDER BY seq DESC LIMIT ?3", error);
  if (stmt == NULL)
    return NULL;

  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_text (stmt, 2, session, -1, SQLITE_STATIC);
  sqlite3_bind_int (stmt, 3, MAX_HISTORY_MESSAGES);

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      const char *role = (const char *) sqlite3_column_text (stmt, 0);
      const char *content = (const char *) sqlite3_column_text (stmt, 1);
      gsize len = (gsize) sqlite3_column_bytes (stmt, 1);

      if (newest_first->len > 0 && bytes + len > MAX_HISTORY_BYTES)
        break;
      bytes += len;
      /* "role\0content": roles are short words. */
      g_ptr_array_add (newest_first, g_strconcat (role, "\n", content, NULL));
    }
  _helix_gateway_db_release (stmt);

  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("Could not read the session"));
      return NULL;
    }

  history = g_ptr_array_new_full (newest_first->len, g_free);
  for (guint i = newest_first->len; i > 0; i--)
    g_ptr_array_add (history, g_steal_pointer (&g_ptr_array_index (newest_first, i - 1)));

  return history;
}

/* Whether the user has @message, a user message of @session, and not @reply yet. */
static gboolean
check_messages (HelixGatewayDb  *db,
                gint64           user_id,
                const char      *session,
                const char      *message,
                const char      *reply,
                GError         **error)
{
  sqlite3_stmt *stmt;
  gboolean has_message = FALSE;
  gboolean has_reply = FALSE;

  stmt = _helix_gateway_db_prepare (db,
                                    "SELECT uuid, session, role FROM sync_messages"
                                    " WHERE user = ?1 AND (uuid = ?2 OR uuid = ?3)", error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_text (stmt, 2, message, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, reply, -1, SQLITE_STATIC);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      const char *uuid = (const char *) sqlite3_column_text (stmt, 0);

      if (g_str_equal (uuid, reply))
        has_reply = TRUE;
      else if (g_strcmp0 ((const char *) sqlite3_column_text (stmt, 1), session) == 0 &&
               g_strcmp0 ((const char *) sqlite3_column_text (stmt, 2), "user") == 0)
        has_message = TRUE;
    }
  _helix_gateway_db_release (stmt);

  if (has_reply)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                   _("This answer was written already."));
      return FALSE;
    }
  if (!has_message)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   _("There is no such user message in this session. Push it, and ask once it is acknowledged."));
      return FALSE;
    }

  return TRUE;
}

static HelixMessageRole
role_from_string (const char *role)
{
  if (g_str_equal (role, "assistant"))
    return HELIX_MESSAGE_ROLE_ASSISTANT;
  if (g_str_equal (role, "system"))
    return HELIX_MESSAGE_ROLE_SYSTEM;
  if (g_str_equal (role, "tool"))
    return HELIX_MESSAGE_ROLE_TOOL;

  return HELIX_MESSAGE_ROLE_USER;
}

/* Streaming */

static void
send_delta_piece (ChatJob      *job,
                  HelixGateway *self,
                  const char   *piece)
{
  g_autofree char *text = NULL;

  text = helix_sync_frame_build_message_delta (job->session, job->reply, piece, job->index++);
  _helix_gateway_hub_send_user (_helix_gateway_get_hub (self), job->user_id, text);
}

static void
on_delta (HelixChatStream *stream,
          const char      *piece,
          ChatJob         *job)
{
  g_autoptr(HelixGateway) self = g_weak_ref_get (&job->gateway);
  gsize len = strlen (piece);

  if (self == NULL || _helix_gateway_get_hub (self) == NULL)
    return;

  /* A delta frame holds 64 KiB at most: longer pieces go in several, cut
   * between characters. */
  while (len > HELIX_SYNC_MAX_DELTA_BYTES)
    {
      const char *end = g_utf8_find_prev_char (piece, piece + HELIX_SYNC_MAX_DELTA_BYTES + 1);
      g_autofree char *part = g_strndup (piece, (gsize) (end - piece));

      send_delta_piece (job, self, part);
      len -= (gsize) (end - piece);
      piece = end;
    }
  send_delta_piece (job, self, piece);
}

/* The end */

static JsonObject *
answer_data (const HelixRouterResult *result,
             const char              *text,
             gboolean                 complete)
{
  JsonObject *data = json_object_new ();

  json_object_set_string_member (data, "role", "assistant");
  json_object_set_string_member (data, "content", text);
  json_object_set_string_member (data, "status", complete ? "done" : "error");
  if (result->model != NULL)
    json_object_set_string_member (data, "model", result->model);
  if (result->provider != NULL)
    json_object_set_string_member (data, "provider", result->provider);
  json_object_set_int_member (data, "tokens_in", MAX (result->input_tokens, 0));
  json_object_set_int_member (data, "tokens_out", MAX (result->output_tokens, 0));
  json_object_set_double_member (data, "cost", MAX (result->cost_usd, 0));
  json_object_set_int_member (data, "created_us", g_get_real_time ());

  return data;
}

static guint
status_for_error (const GError *error)
{
  if (g_error_matches (error, HELIX_BUDGET_ERROR, HELIX_BUDGET_ERROR_EXCEEDED))
    return SOUP_STATUS_PAYMENT_REQUIRED;
  if (error->domain == HELIX_ROUTER_ERROR)
    return error->code == HELIX_ROUTER_ERROR_NO_CANDIDATE ? SOUP_STATUS_SERVICE_UNAVAILABLE
                                                          : SOUP_STATUS_BAD_REQUEST;
  if (g_error_matches (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_BAD_REQUEST))
    return SOUP_STATUS_BAD_REQUEST;
  if (g_error_matches (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CALL_TIMEOUT) ||
      g_error_matches (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_FIRST_TOKEN_TIMEOUT))
    return SOUP_STATUS_GATEWAY_TIMEOUT;

  return SOUP_STATUS_BAD_GATEWAY;
}

static void
respond_answer (SoupServerMessage       *msg,
                ChatJob                 *job,
                const HelixRouterResult *result,
                const char              *user_message,
                const char              *text,
                gboolean                 complete,
                const GError            *error)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "user_message");
  json_builder_add_string_value (builder, user_message);
  json_builder_set_member_name (builder, "message");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, job->reply);
  json_builder_set_member_name (builder, "session");
  json_builder_add_string_value (builder, job->session);
  json_builder_set_member_name (builder, "role");
  json_builder_add_string_value (builder, "assistant");
  json_builder_set_member_name (builder, "content");
  json_builder_add_string_value (builder, text);
  json_builder_set_member_name (builder, "status");
  json_builder_add_string_value (builder, complete ? "done" : "error");
  json_builder_set_member_name (builder, "model");
  json_builder_add_string_value (builder, result->model);
  json_builder_set_member_name (builder, "provider");
  json_builder_add_string_value (builder, result->provider);
  json_builder_set_member_name (builder, "tokens_in");
  json_builder_add_int_value (builder, MAX (result->input_tokens, 0));
  json_builder_set_member_name (builder, "tokens_out");
  json_builder_add_int_value (builder, MAX (result->output_tokens, 0));
  json_builder_set_member_name (builder, "cost");
  json_builder_add_double_value (builder, MAX (result->cost_usd, 0));
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "reason");
  json_builder_add_string_value (builder, result->reason);
  json_builder_set_member_name (builder, "partial");
  json_builder_add_boolean_value (builder, !complete);
  if (error != NULL)
    {
      json_builder_set_member_name (builder, "error");
      json_builder_add_string_value (builder, error->message);
    }
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  _helix_gateway_respond_json (msg, SOUP_STATUS_OK, root);
}

/* Titles */

typedef struct
{
  GWeakRef  gateway;
  gint64    user_id;
  char     *session;
  char     *default_title;
} TitleJob;

static void
title_job_free (TitleJob *job)
{
  g_weak_ref_clear (&job->gateway);
  g_free (job->session);
  g_free (job->default_title);
  g_free (job);
}

/* The first user message of @session, and whether it has one answer only. */
static char *
read_first_question (HelixGatewayDb *db,
                     gint64          user_id,
                     const char     *session,
                     gboolean       *first_answer)
{
  sqlite3_stmt *stmt;
  char *question = NULL;
  gint64 n_answers = 0;

  stmt = _helix_gateway_db_prepare (db,
                                    "SELECT (SELECT content FROM sync_messages"
                                    "        WHERE user = ?1 AND session = ?2 AND role = 'user'"
                                    "        ORDER BY seq LIMIT 1),"
                                    "       (SELECT count (*) FROM sync_messages"
                                    "        WHERE user = ?1 AND session = ?2 AND role = 'assistant')",
                                    NULL);
  if (stmt == NULL)
    return NULL;

  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_text (stmt, 2, session, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    {
      question = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
      n_answers = sqlite3_column_int64 (stmt, 1);
    }
  _helix_gateway_db_release (stmt);

  *first_answer = n_answers == 1;
  return question;
}

/* Whether @session still has the name it was born with: none, or the start
 * of its first message (what the desktop gives a new chat). */
static gboolean
title_is_default (HelixGatewayDb *db,
                  gint64          user_id,
                  const char     *session,
                  const char     *default_title)
{
  g_autoptr(HelixGatewaySyncSession) stored = helix_gateway_db_get_session (db, user_id, session,
                                                                            NULL);

  return stored != NULL && !stored->deleted &&
         (stored->title == NULL || *stored->title == '\0' ||
          g_strcmp0 (stored->title, default_title) == 0);
}

static void
title_stored_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autofree char *session = user_data;
  g_autoptr(GError) error = NULL;

  if (_helix_gateway_store_op_finish (HELIX_GATEWAY (source), result, &error) == 0)
    g_warning ("chat: could not name session %s: %s", session, error->message);
}

static void
title_done (GObject      *object,
            GAsyncResult *res,
            gpointer      user_data)
{
  TitleJob *job = user_data;
  g_autoptr(HelixGateway) self = g_weak_ref_get (&job->gateway);
  g_autoptr(HelixRouterResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) data = NULL;
  g_autofree char *title = NULL;

  if (!helix_router_chat_finish (HELIX_ROUTER (object), res, &result, &error))
    {
      g_debug ("chat: no title for session %s: %s", job->session, error->message);
      title_job_free (job);
      return;
    }

  title = helix_title_clean (helix_chat_stream_get_text (result->stream));
  /* Renamed meanwhile (the user wins), or the gateway stopped. */
  if (*title == '\0' || self == NULL || helix_gateway_get_db (self) == NULL ||
      !title_is_default (helix_gateway_get_db (self), job->user_id, job->session,
                         job->default_title))
    {
      title_job_free (job);
      return;
    }

  data = json_object_new ();
  json_object_set_string_member (data, "title", title);
  _helix_gateway_store_op_async (self, job->user_id, HELIX_SYNC_OP_SESSION_PUT, job->session,
                                 NULL, data, NULL, 0, title_stored_cb, g_strdup (job->session));

  title_job_free (job);
}

static void
maybe_title (HelixGateway *self,
             ChatJob      *chat,
             const char   *answer)
{
  HelixGatewayAi *ai = _helix_gateway_get_ai (self);
  HelixGatewayDb *db = helix_gateway_get_db (self);
  g_autoptr(HelixChatRequest) request = NULL;
  g_autofree char *question = NULL;
  gboolean first_answer = FALSE;
  TitleJob *job;

  question = read_first_question (db, chat->user_id, chat->session, &first_answer);
  if (ai == NULL || question == NULL || !first_answer)
    return;

  job = g_new0 (TitleJob, 1);
  job->default_title = helix_title_from_text (question, HELIX_TITLE_DEFAULT_CHARS);
  if (!title_is_default (db, chat->user_id, chat->session, job->default_title))
    {
      title_job_free (job);
      return;
    }

  g_weak_ref_init (&job->gateway, self);
  job->user_id = chat->user_id;
  job->session = g_strdup (chat->session);
  request = helix_title_request_new (question, answer);
  helix_router_chat_async (_helix_gateway_ai_get_router (ai),
                           &(HelixRouterParams) {
                             .operation = "title",
                             .user = chat->user_name,
                             .session_id = chat->session,
                           },
                           request, NULL, NULL, title_done, job);
}

/* An answer being stored, from chat_done() to answer_stored_cb(). */
typedef struct
{
  ChatJob           *job;          /* (owned) */
  HelixRouterResult *result;       /* (owned) */
  char              *user_message; /* (nullable): the question of a REST request */
  char              *text;
  gboolean           complete;
  GError            *error;        /* (nullable): why the answer stopped */
} StoredAnswer;

static void
stored_answer_free (StoredAnswer *answer)
{
  chat_job_free (answer->job);
  g_clear_pointer (&answer->result, helix_router_result_free);
  g_free (answer->user_message);
  g_free (answer->text);
  g_clear_error (&answer->error);
  g_free (answer);
}

static void answer_stored_cb (GObject      *source,
                              GAsyncResult *res,
                              gpointer      user_data);

static void
chat_done (GObject      *object,
           GAsyncResult *res,
           gpointer      user_data)
{
  ChatJob *job = user_data;
  g_autoptr(HelixGateway) self = g_weak_ref_get (&job->gateway);
  g_autoptr(HelixRouterResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) data = NULL;
  g_autofree char *text = NULL;
  const char *user_message;
  StoredAnswer *answer;
  gboolean complete;

  complete = helix_router_chat_finish (HELIX_ROUTER (object), res, &result, &error);
  text = g_strdup (helix_chat_stream_get_text (result->stream));
  user_message = job->msg != NULL ? g_object_get_data (G_OBJECT (job->msg), "helix-user-message")
                                  : NULL;

  if (self == NULL || helix_gateway_get_db (self) == NULL || _helix_gateway_get_hub (self) == NULL)
    {
      /* The gateway stopped: nobody to tell, nowhere to store. */
      g_debug ("chat: the gateway stopped before answer %s was done", job->reply);
      if (self != NULL)
        g_hash_table_remove (get_jobs (self), job->reply);
      chat_job_free (job);
      return;
    }

  g_hash_table_remove (get_jobs (self), job->reply);

  if (*text == '\0')
    {
      g_autofree char *frame = NULL;

      g_debug ("chat: user %s: answer %s failed: %s", job->user_name, job->reply, error->message);
      frame = helix_sync_frame_build_chat_failed (job->session, job->reply, error->message);
      _helix_gateway_hub_send_user (_helix_gateway_get_hub (self), job->user_id, frame);
      if (job->msg != NULL)
        {
          _helix_gateway_respond_error (job->msg, status_for_error (error), "chat_failed",
                                        error->message);
          soup_server_message_unpause (job->msg);
        }
      chat_job_free (job);
      return;
    }

  /* What came is kept; an answer too long for one op is cut, and marked. */
  if (strlen (text) > MAX_ANSWER_BYTES)
    {
      *(char *) g_utf8_find_prev_char (text, text + MAX_ANSWER_BYTES + 1) = '\0';
      complete = FALSE;
    }

  /* Answered (and titled) once stored: answer_stored_cb(). */
  answer = g_new0 (StoredAnswer, 1);
  answer->job = job;
  answer->result = g_steal_pointer (&result);
  answer->user_message = g_strdup (user_message);
  answer->text = g_steal_pointer (&text);
  answer->complete = complete;
  answer->error = g_steal_pointer (&error);
  data = answer_data (answer->result, answer->text, complete);
  _helix_gateway_store_op_async (self, job->user_id, HELIX_SYNC_OP_MESSAGE_PUT, job->reply,
                                 job->session, data, NULL, 0, answer_stored_cb, answer);
}

static void
answer_stored_cb (GObject      *source,
                  GAsyncResult *res,
                  gpointer      user_data)
{
  HelixGateway *self = HELIX_GATEWAY (source);
  StoredAnswer *answer = user_data;
  ChatJob *job = answer->job;
  g_autoptr(GError) store_error = NULL;

  if (_helix_gateway_store_op_finish (self, res, &store_error) == 0)
    {
      g_autofree char *frame = NULL;

      g_warning ("chat: user %s: could not store answer %s: %s", job->user_name, job->reply,
                 store_error->message);
      frame = helix_sync_frame_build_chat_failed (job->session, job->reply,
                                                  _("The gateway could not store the answer."));
      _helix_gateway_hub_send_user (_helix_gateway_get_hub (self), job->user_id, frame);
      if (job->msg != NULL)
        {
          _helix_gateway_respond_internal_error (job->msg, store_error);
          soup_server_message_unpause (job->msg);
        }
      stored_answer_free (answer);
      return;
    }

  if (job->msg != NULL)
    {
      respond_answer (job->msg, job, answer->result, answer->user_message, answer->text,
                      answer->complete, answer->error);
      soup_server_message_unpause (job->msg);
    }

  if (answer->complete && helix_gateway_get_db (self) != NULL)
    maybe_title (self, job, answer->text);

  stored_answer_free (answer);
}

/* Starts an answer to @message in @session, written as @reply. */
static gboolean
chat_start (HelixGateway       *self,
            gint64              user_id,
            const char         *user_name,
            const char         *session,
            const char         *message,
            const char         *reply,
            const char         *model,
            SoupServerMessage  *msg,
            GError            **error)
{
  HelixGatewayAi *ai = _helix_gateway_get_ai (self);
  HelixGatewayDb *db = helix_gateway_get_db (self);
  g_autoptr(HelixGatewaySyncSession) stored = NULL;
  g_autoptr(HelixChatRequest) request = NULL;
  g_autoptr(GPtrArray) history = NULL;
  HelixRouterParams params = { 0 };
  ChatJob *job;

  if (g_hash_table_contains (get_jobs (self), reply))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, _("This answer is being written already."));
      return FALSE;
    }

  if (count_user_jobs (self, user_id) >= MAX_CHATS_PER_USER)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                   _("%d answers are being written already. Wait for one to finish."),
                   MAX_CHATS_PER_USER);
      return FALSE;
    }

  stored = helix_gateway_db_get_session (db, user_id, session, NULL);
  if (stored == NULL || stored->deleted)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("There is no such session."));
      return FALSE;
    }

  if (!check_messages (db, user_id, session, message, reply, error))
    return FALSE;

  /* A request that names no model asks for the one pinned for the session, if any. */
  if (model == NULL && stored->model != NULL && stored->model[0] != '\0')
    model = stored->model;

  if (ai == NULL)
    {
      g_set_error (error, HELIX_ROUTER_ERROR, HELIX_ROUTER_ERROR_NO_CANDIDATE,
                   _("This gateway has no AI providers. Its administrator can add them in gateway.conf."));
      return FALSE;
    }

  history = read_history (db, user_id, session, error);
  if (history == NULL)
    return FALSE;

  request = helix_chat_request_new ("auto");
  for (guint i = 0; i < history->len; i++)
    {
      char *line = g_ptr_array_index (history, i);
      char *newline = strchr (line, '\n');

      *newline = '\0';
      helix_chat_request_add_message (request, role_from_string (line), newline + 1);
    }

  job = g_new0 (ChatJob, 1);
  g_weak_ref_init (&job->gateway, self);
  job->user_id = user_id;
  job->user_name = g_strdup (user_name);
  job->session = g_strdup (session);
  job->reply = g_strdup (reply);
  job->cancellable = g_cancellable_new ();
  job->stream = helix_chat_stream_new ();
  if (msg != NULL)
    {
      job->msg = g_object_ref (msg);
      g_signal_connect (msg, "disconnected", G_CALLBACK (on_message_gone), job);
    }
  g_signal_connect (job->stream, "delta", G_CALLBACK (on_delta), job);
  g_hash_table_insert (get_jobs (self), job->reply, job);

  params.operation = "chat";
  params.user = user_name;
  params.session_id = session;
  params.pinned_model = model;
  helix_router_chat_async (_helix_gateway_ai_get_router (ai), &params, request, job->stream,
                           job->cancellable, chat_done, job);

  g_debug ("chat: user %s: writing answer %s in session %s", user_name, reply, session);
  return TRUE;
}

/**
 * _helix_gateway_chat_from_frame:
 * @self: a gateway
 * @user_id: who asks
 * @user_name: their name
 * @frame: a `chat` frame
 *
 * Starts the answer; a request that cannot start is answered with a
 * `chat.failed` frame to the user's devices.
 */
void
_helix_gateway_chat_from_frame (HelixGateway   *self,
                                gint64          user_id,
                                const char     *user_name,
                                HelixSyncFrame *frame)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  if (chat_start (self, user_id, user_name, helix_sync_frame_get_session_id (frame),
                  helix_sync_frame_get_message_id (frame), helix_sync_frame_get_reply_id (frame),
                  helix_sync_frame_get_model (frame), NULL, &error))
    return;

  /* Asked twice for the same answer (a resent frame): the first is enough. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_EXISTS))
    return;

  text = helix_sync_frame_build_chat_failed (helix_sync_frame_get_session_id (frame),
                                             helix_sync_frame_get_reply_id (frame),
                                             error->message);
  _helix_gateway_hub_send_user (_helix_gateway_get_hub (self), user_id, text);
}

/**
 * _helix_gateway_chat_cancel:
 * @self: a gateway
 * @user_id: who asks
 * @reply_id: an answer under way
 *
 * Stops writing the answer (the user pressed Stop on a device): the
 * provider's request is aborted, and what was written is stored as a
 * partial answer. Another user's answer, or one that is done, is left alone.
 */
void
_helix_gateway_chat_cancel (HelixGateway *self,
                            gint64        user_id,
                            const char   *reply_id)
{
  ChatJob *job = g_hash_table_lookup (get_jobs (self), reply_id);

  if (job == NULL || job->user_id != user_id)
    return;

  g_debug ("chat: user %s stopped answer %s", job->user_name, reply_id);
  g_cancellable_cancel (job->cancellable);
}

/* REST */

/* A question of POST /api/v1/chat being stored. */
typedef struct
{
  SoupServerMessage *msg;
  gint64             user_id;
  char              *user_name;
  char              *session;
  char              *message;
  char              *reply;
  char              *model;
  gboolean           disconnected;
} Question;

static void
question_free (Question *question)
{
  g_signal_handlers_disconnect_by_data (question->msg, question);
  g_clear_object (&question->msg);
  g_free (question->user_name);
  g_free (question->session);
  g_free (question->message);
  g_free (question->reply);
  g_free (question->model);
  g_free (question);
}

static void
on_question_disconnected (SoupServerMessage *msg,
                          Question          *question)
{
  question->disconnected = TRUE;
}

static void
question_stored_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  HelixGateway *self = HELIX_GATEWAY (source);
  Question *question = user_data;
  SoupServerMessage *msg = question->msg;
  g_autoptr(GError) error = NULL;

  if (_helix_gateway_store_op_finish (self, result, &error) == 0)
    {
      if (error->domain == HELIX_SYNC_ERROR)
        _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                                      error->message);
      else
        _helix_gateway_respond_internal_error (msg, error);
    }
  /* The question is stored; nobody waits for the answer. */
  else if (question->disconnected)
    {
      question_free (question);
      return;
    }
  else
    {
      g_object_set_data_full (G_OBJECT (msg), "helix-user-message",
                              g_strdup (question->message), g_free);
      /* Answered by chat_done(), which lets the request go. */
      if (chat_start (self, question->user_id, question->user_name, question->session,
                      question->message, question->reply, question->model, msg, &error))
        {
          question_free (question);
          return;
        }

      _helix_gateway_respond_error (msg,
                                    g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BUSY)
                                    ? 429
                                    : status_for_error (error),
                                    "chat_failed", error->message);
    }

  if (!question->disconnected)
    soup_server_message_unpause (msg);
  question_free (question);
}

static void
post_message (HelixGateway      *self,
              SoupServerMessage *msg,
              HelixGatewayAuth  *auth)
{
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(JsonObject) data = NULL;
  g_autofree char *message = helix_uuid_new_v7 ();
  g_autofree char *reply = helix_uuid_new_v7 ();
  g_autoptr(GList) members = NULL;
  const char *session;
  const char *content;
  const char *model = NULL;
  JsonNode *node;
  Question *question;

  body = _helix_gateway_read_json_object_limited (msg, MAX_BODY_BYTES, 16);
  if (body == NULL)
    return;

  session = json_object_has_member (body, "session") &&
            JSON_NODE_HOLDS_VALUE (json_object_get_member (body, "session")) &&
            json_node_get_value_type (json_object_get_member (body, "session")) == G_TYPE_STRING
            ? json_object_get_string_member (body, "session") : NULL;
  node = json_object_get_member (body, "content");
  content = node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
            json_node_get_value_type (node) == G_TYPE_STRING ? json_node_get_string (node) : NULL;
  node = json_object_get_member (body, "model");
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    {
      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING ||
          strlen (json_node_get_string (node)) > HELIX_SYNC_MAX_MODEL_BYTES)
        {
          _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                                        _("“model” must be a model name of at most 256 bytes."));
          return;
        }
      model = json_node_get_string (node);
    }

  members = json_object_get_members (body);
  for (GList *l = members; l != NULL; l = l->next)
    if (!g_str_equal (l->data, "session") && !g_str_equal (l->data, "content") &&
        !g_str_equal (l->data, "model"))
      {
        g_autofree char *text = g_strdup_printf (_("Unknown member “%s”."), (char *) l->data);

        _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request", text);
        return;
      }

  if (session == NULL || !helix_uuid_is_valid (session))
    {
      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                                    _("“session” must be the id of a session."));
      return;
    }
  if (content == NULL || *content == '\0' || strlen (content) > MAX_CONTENT_BYTES)
    {
      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                                    _("“content” must be a non-empty string of at most 256 KiB."));
      return;
    }

  {
    g_autoptr(HelixGatewaySyncSession) stored =
      helix_gateway_db_get_session (helix_gateway_get_db (self), auth->user_id, session, NULL);

    if (stored == NULL || stored->deleted)
      {
        _helix_gateway_respond_error (msg, SOUP_STATUS_NOT_FOUND, "not_found",
                                      _("There is no such session."));
        return;
      }
  }

  if (_helix_gateway_get_ai (self) == NULL)
    {
      _helix_gateway_respond_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "no_providers",
                                    _("This gateway has no AI providers. Its administrator can add them in gateway.conf."));
      return;
    }

  /* The question is stored first, as the devices would: it reaches them all.
   * The answer starts once it is (question_stored_cb()). */
  data = json_object_new ();
  json_object_set_string_member (data, "role", "user");
  json_object_set_string_member (data, "content", content);
  json_object_set_string_member (data, "status", "done");
  json_object_set_int_member (data, "created_us", g_get_real_time ());

  question = g_new0 (Question, 1);
  question->msg = g_object_ref (msg);
  question->user_id = auth->user_id;
  question->user_name = g_strdup (auth->user_name);
  question->session = g_strdup (session);
  question->message = g_steal_pointer (&message);
  question->reply = g_steal_pointer (&reply);
  question->model = g_strdup (model);
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_question_disconnected), question);
  soup_server_message_pause (msg);
  _helix_gateway_store_op_async (self, auth->user_id, HELIX_SYNC_OP_MESSAGE_PUT,
                                 question->message, session, data, NULL, 0,
                                 question_stored_cb, question);
}

static void
chat_cb (SoupServer        *server,
         SoupServerMessage *msg,
         const char        *path,
         GHashTable        *query,
         gpointer           user_data)
{
  static const char * const allowed[] = { "POST", NULL };
  HelixGateway *self = user_data;
  g_auto(HelixGatewayAuth) auth = { 0 };

  if (!_helix_gateway_begin_authenticated (self, msg, path, CHAT_PATH, allowed, &auth))
    return;

  post_message (self, msg, &auth);
}

void
_helix_gateway_add_chat_routes (HelixGateway *self,
                                SoupServer   *server)
{
  g_assert (HELIX_IS_GATEWAY (self));
  g_assert (SOUP_IS_SERVER (server));

  soup_server_add_handler (server, CHAT_PATH, chat_cb, self, NULL);
}
