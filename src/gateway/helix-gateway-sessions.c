/* helix-gateway-sessions.c: the synced sessions over REST (/api/v1/sessions)
 *
 *   GET    /api/v1/sessions                  the caller's sessions, newest first
 *   POST   /api/v1/sessions                  {"title"?} → 201, the new session
 *   GET    /api/v1/sessions/{id}             one session
 *   PATCH  /api/v1/sessions/{id}             {"title"?,"pinned"?,"archived"?,"model"?} → 200
 *   DELETE /api/v1/sessions/{id}             → 204
 *   GET    /api/v1/sessions/{id}/messages?after=SEQ&limit=1..200
 *                                            {"messages":[…],"next":SEQ or null}
 *
 * Every change is made as a sync op (session.put, session.delete) timestamped
 * by the gateway's own HLC clock (device "gateway") and stored exactly as if
 * a device had pushed it: with the sync hub's next group commit, on the
 * writer thread (_helix_gateway_hub_store_op_async()), so that its seq is
 * ordered with the pushes of the user's devices and it is fanned out to
 * them with those. The request waits (paused) until the commit is durable,
 * then is answered: the main loop never writes nor waits for the disk. The
 * op log stays the one source of truth, and devices learn of the change
 * when they sync. A session of another user, or a deleted one, is "not
 * found" (404), never "forbidden", which would tell that it exists.
 *
 * The queries are lookups through the primary keys or a scan of one user's
 * index range, cheap enough for the main loop (see helix-gateway-db.c).
 *
 * The list (GET /api/v1/sessions), which every device reads when it
 * starts, is kept per user with the user's head seq it was read at (a
 * #HelixGatewayListCache). Sessions change only through ops, and every op
 * stored raises its user's head seq in the same transaction, whichever
 * connection or process stores it; the token check reads the head seq
 * (HelixGatewayAuth.head_seq), so a list kept for that very seq is the one
 * the database would give, and is answered without reading it again. A
 * list is read after the head seq it is kept for, never before: it may be
 * newer than its seq (then it is read again next time), never older.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "helix-gateway-private.h"
#include "helix-gateway-sync.h"
#include "helix-json.h"
#include "helix-uuid.h"

#define SESSIONS_PATH "/api/v1/sessions"

#define MESSAGES_LIMIT_DEFAULT 50
#define MESSAGES_LIMIT_MAX     200

/* The lists kept take at most this much memory; a longer list is not kept. */
#define LIST_CACHE_MAX_BYTES       (4 * 1024 * 1024)
#define LIST_CACHE_MAX_LIST_BYTES  (256 * 1024)

static void
respond_session_not_found (SoupServerMessage *msg)
{
  _helix_gateway_respond_error (msg, SOUP_STATUS_NOT_FOUND, "not_found",
                                _("You have no session with this id."));
}

static void
respond_invalid (SoupServerMessage *msg,
                 const char        *message)
{
  _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request", message);
}

/* A session as JSON; with @with_model, the model pinned for it too (a list
 * leaves it out: it is read from an index without it). */
static void
append_session_json (GString                       *out,
                     const HelixGatewaySyncSession *session,
                     gboolean                       with_model)
{
  /* Each session of a list is written here: the literals go in whole. */
  helix_json_append_literal (out, "{\"id\":");
  _helix_gateway_json_append_string (out, session->uuid);
  helix_json_append_literal (out, ",\"title\":");
  _helix_gateway_json_append_string (out, session->title);
  if (session->pinned && session->archived)
    helix_json_append_literal (out, ",\"pinned\":true,\"archived\":true,\"created\":");
  else if (session->pinned)
    helix_json_append_literal (out, ",\"pinned\":true,\"archived\":false,\"created\":");
  else if (session->archived)
    helix_json_append_literal (out, ",\"pinned\":false,\"archived\":true,\"created\":");
  else
    helix_json_append_literal (out, ",\"pinned\":false,\"archived\":false,\"created\":");
  _helix_gateway_json_append_time (out, session->created_us);
  helix_json_append_literal (out, ",\"updated\":");
  _helix_gateway_json_append_time (out, session->updated_us);
  /* The model pinned for it, or null for the cheapest (automatic). */
  if (with_model && session->model != NULL && *session->model != '\0')
    {
      helix_json_append_literal (out, ",\"model\":");
      _helix_gateway_json_append_string (out, session->model);
    }
  else if (with_model)
    helix_json_append_literal (out, ",\"model\":null");
  g_string_append_c (out, '}');
}

/* Answers with one session. */
static void
respond_session (SoupServerMessage       *msg,
                 guint                    status,
                 HelixGatewaySyncSession *session)
{
  GString *text = g_string_sized_new (256);

  append_session_json (text, session, TRUE);
  _helix_gateway_respond_json_text (msg, status, text);
}

/* Finds the caller's live session @id. If it has none (or it is deleted, or
 * the database fails), answers and returns %NULL. */
static HelixGatewaySyncSession *
find_session (HelixGateway      *self,
              SoupServerMessage *msg,
              HelixGatewayAuth  *auth,
              const char        *id)
{
  g_autoptr(HelixGatewaySyncSession) session = NULL;
  g_autoptr(GError) error = NULL;

  session = helix_gateway_db_get_session (helix_gateway_get_db (self), auth->user_id, id, &error);
  if (session == NULL)
    {
      if (g_error_matches (error, HELIX_GATEWAY_DB_ERROR, HELIX_GATEWAY_DB_ERROR_NO_SUCH_SESSION))
        respond_session_not_found (msg);
      else
        _helix_gateway_respond_internal_error (msg, error);
      return NULL;
    }

  if (session->deleted)
    {
      respond_session_not_found (msg);
      return NULL;
    }

  return g_steal_pointer (&session);
}

static void
store_op_stored_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HelixSyncOp *op = g_task_get_task_data (task);
  GError *error = NULL;
  gint64 seq;

  seq = _helix_gateway_hub_store_op_finish (result, &error);
  if (seq == 0)
    {
      g_task_return_error (task, error);
      return;
    }

  g_debug ("gateway: stored %s %s as seq %lld",
           helix_sync_op_kind_to_string (helix_sync_op_get_kind (op)),
           helix_sync_op_get_id (op), (long long) seq);
  g_task_return_pointer (task, g_memdup2 (&seq, sizeof seq), g_free);
}

/**
 * _helix_gateway_store_op_async:
 * @self: a gateway
 * @user_id: whose data
 * @kind: what kind of op
 * @id: the session or message
 * @session_id: (nullable): the session of a message
 * @data: (nullable): the op's data
 * @seen: (array length=n_seen) (nullable): HLCs the op must be later than, so
 *   that it wins over them
 * @n_seen: how many
 * @callback: called once the op is stored (durably) and sent to every
 *   connected device of the user, or failed
 * @user_data: for @callback
 *
 * Makes an op of the gateway's own (REST API, answers of the assistant) and
 * stores it on the writer thread with the next group commit of the sync
 * hub, ordered with the pushes of the user's devices.
 */
void
_helix_gateway_store_op_async (HelixGateway        *self,
                               gint64               user_id,
                               HelixSyncOpKind      kind,
                               const char          *id,
                               const char          *session_id,
                               JsonObject          *data,
                               const char * const  *seen,
                               gsize                n_seen,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  HelixHlcClock *clock = _helix_gateway_get_clock (self);
  g_autoptr(GTask) task = NULL;
  g_autoptr(HelixSyncOp) op = NULL;
  g_autofree char *op_id = helix_uuid_new_v7 ();
  GError *error = NULL;
  HelixHlc hlc;

  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, _helix_gateway_store_op_async);

  for (gsize i = 0; i < n_seen; i++)
    {
      HelixHlc stored;

      /* A device clock more than a day ahead is not followed; its value wins. */
      if (seen[i] != NULL && helix_hlc_parse (seen[i], &stored, NULL))
        helix_hlc_clock_receive (clock, &stored, &hlc, NULL);
    }
  helix_hlc_clock_now (clock, &hlc);

  op = helix_sync_op_new (kind, op_id, id, session_id, &hlc, data, &error);
  if (op == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  if (helix_gateway_get_db (self) == NULL)
    {
      g_task_return_new_error (task, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_DATABASE,
                               _("The database is closed"));
      return;
    }

  /* Made here, not pushed by a device: no device is recorded, so that every
   * device of the user receives it. */
  g_task_set_task_data (task, helix_sync_op_ref (op), (GDestroyNotify) helix_sync_op_unref);
  _helix_gateway_hub_store_op_async (_helix_gateway_get_hub (self), user_id, op,
                                     store_op_stored_cb, g_steal_pointer (&task));
}

/**
 * _helix_gateway_store_op_finish:
 * @self: a gateway
 * @result: the result given to the callback
 * @error: return location for a #GError: %HELIX_SYNC_ERROR for a bad op,
 *   another domain for a storage error
 *
 * Returns: the op's seq, or 0 on error
 */
gint64
_helix_gateway_store_op_finish (HelixGateway  *self,
                                GAsyncResult  *result,
                                GError       **error)
{
  g_autofree gint64 *seq = NULL;

  g_return_val_if_fail (g_task_is_valid (result, self), 0);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        _helix_gateway_store_op_async, 0);

  seq = g_task_propagate_pointer (G_TASK (result), error);

  return seq != NULL ? *seq : 0;
}

/* A change of a session over REST, from its request to its answer once the
 * op is stored. */
typedef enum
{
  CHANGE_CREATE,
  CHANGE_PATCH,
  CHANGE_DELETE,
} ChangeKind;

typedef struct
{
  HelixGateway      *gateway;
  SoupServerMessage *msg;
  ChangeKind         kind;
  gint64             user_id;
  char              *user_name;
  char              *id;
  gboolean           disconnected;
} Change;

static void
on_change_disconnected (SoupServerMessage *msg,
                        Change            *change)
{
  change->disconnected = TRUE;
}

static void
change_free (Change *change)
{
  g_signal_handlers_disconnect_by_data (change->msg, change);
  g_clear_object (&change->msg);
  g_clear_object (&change->gateway);
  g_free (change->user_name);
  g_free (change->id);
  g_free (change);
}

/* Answers a change once its op is stored. */
static void
answer_change (Change *change)
{
  HelixGateway *self = change->gateway;
  SoupServerMessage *msg = change->msg;
  HelixGatewayDb *db = helix_gateway_get_db (self);
  g_autoptr(HelixGatewaySyncSession) session = NULL;
  g_autoptr(GError) error = NULL;

  if (change->kind == CHANGE_DELETE)
    {
      g_info ("sessions: user %s deleted session %s", change->user_name, change->id);
      _helix_gateway_respond_no_content (msg);
      return;
    }

  if (db == NULL)
    g_set_error_literal (&error, HELIX_GATEWAY_ERROR, HELIX_GATEWAY_ERROR_DATABASE,
                         _("The database is closed"));
  else
    session = helix_gateway_db_get_session (db, change->user_id, change->id, &error);
  if (session == NULL)
    {
      _helix_gateway_respond_internal_error (msg, error);
      return;
    }

  /* Deleted by a device while the change was waiting for its commit. */
  if (session->deleted)
    {
      respond_session_not_found (msg);
      return;
    }

  if (change->kind == CHANGE_CREATE)
    {
      g_autofree char *location = g_strconcat (SESSIONS_PATH "/", change->id, NULL);

      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Location",
                                    location);
      respond_session (msg, SOUP_STATUS_CREATED, session);
    }
  else
    respond_session (msg, SOUP_STATUS_OK, session);
}

static void
change_stored_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Change *change = user_data;
  g_autoptr(GError) error = NULL;

  if (change->disconnected)
    {
      /* Stored all the same: the devices get it. */
      g_debug ("sessions: the client went away before its change was stored");
      change_free (change);
      return;
    }

  if (_helix_gateway_store_op_finish (HELIX_GATEWAY (source), result, &error) > 0)
    answer_change (change);
  else if (error->domain == HELIX_SYNC_ERROR)
    respond_invalid (change->msg, error->message);
  else
    _helix_gateway_respond_internal_error (change->msg, error);

  soup_server_message_unpause (change->msg);
  change_free (change);
}

/* Makes one op and stores it; answers @msg (paused meanwhile) once it is
 * stored, as @kind says. */
static void
apply_new_op (HelixGateway       *self,
              SoupServerMessage  *msg,
              HelixGatewayAuth   *auth,
              ChangeKind          kind,
              const char         *id,
              JsonObject         *data,
              const char * const *seen,
              gsize               n_seen)
{
  Change *change = g_new0 (Change, 1);

  change->gateway = g_object_ref (self);
  change->msg = g_object_ref (msg);
  change->kind = kind;
  change->user_id = auth->user_id;
  change->user_name = g_strdup (auth->user_name);
  change->id = g_strdup (id);
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_change_disconnected), change);
  soup_server_message_pause (msg);

  _helix_gateway_store_op_async (self, auth->user_id,
                                 kind == CHANGE_DELETE ? HELIX_SYNC_OP_SESSION_DELETE
                                                       : HELIX_SYNC_OP_SESSION_PUT,
                                 id, NULL, data, seen, n_seen, change_stored_cb, change);
}

/* Copies the members of @body into a session.put data object. Only
 * "title" (and, unless @title_only, "pinned", "archived" and "model") may
 * be there, each of its type; otherwise answers 400 and returns %NULL. A
 * "model" of null goes back to automatic (the op's ""). */
static JsonObject *
read_session_data (SoupServerMessage *msg,
                   JsonObject        *body,
                   gboolean           title_only)
{
  g_autoptr(JsonObject) data = json_object_new ();
  g_autoptr(GList) members = json_object_get_members (body);

  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *name = l->data;
      JsonNode *node = json_object_get_member (body, name);
      gboolean is_string = JSON_NODE_HOLDS_VALUE (node) &&
                           json_node_get_value_type (node) == G_TYPE_STRING;
      gboolean is_boolean = JSON_NODE_HOLDS_VALUE (node) &&
                            json_node_get_value_type (node) == G_TYPE_BOOLEAN;

      if (g_str_equal (name, "title"))
        {
          if (!is_string)
            {
              respond_invalid (msg, _("“title” must be a string."));
              return NULL;
            }
          json_object_set_string_member (data, name, json_node_get_string (node));
        }
      else if (!title_only && (g_str_equal (name, "pinned") || g_str_equal (name, "archived")))
        {
          if (!is_boolean)
            {
              g_autofree char *message =
                g_strdup_printf (_("“%s” must be true or false."), name);

              respond_invalid (msg, message);
              return NULL;
            }
          json_object_set_boolean_member (data, name, json_node_get_boolean (node));
        }
      else if (!title_only && g_str_equal (name, "model"))
        {
          const char *model = is_string ? json_node_get_string (node) : "";

          if (!is_string && !JSON_NODE_HOLDS_NULL (node))
            {
              respond_invalid (msg, _("“model” must be a model's name, or null for the "
                                      "cheapest."));
              return NULL;
            }
          if (strlen (model) > HELIX_SYNC_MAX_NAME_BYTES)
            {
              g_autofree char *message =
                g_strdup_printf (_("“model” is too long (at most %d bytes)."),
                                 HELIX_SYNC_MAX_NAME_BYTES);

              respond_invalid (msg, message);
              return NULL;
            }
          json_object_set_string_member (data, name, model);
        }
      else
        {
          g_autofree char *message =
            g_strdup_printf (title_only
                             ? _("Unknown member “%.64s”: a new session takes only “title”.")
                             : _("Unknown member “%.64s”: a session can change only “title”, "
                                 "“pinned”, “archived” and “model”."),
                             name);

          respond_invalid (msg, message);
          return NULL;
        }
    }

  return g_steal_pointer (&data);
}

/* The lists kept {{{1 */

/* A user's list as answered, and the head seq it was read at. */
typedef struct
{
  gint64  user_id;
  gint64  head_seq;
  char   *user_name;
  GBytes *text;
} CachedList;

struct _HelixGatewayListCache
{
  GHashTable *lists;   /* user id (gint64 *) → CachedList */
  gsize       n_bytes; /* the lengths of their texts */
};

static void
cached_list_free (CachedList *list)
{
  g_free (list->user_name);
  g_bytes_unref (list->text);
  g_free (list);
}

HelixGatewayListCache *
_helix_gateway_list_cache_new (void)
{
  HelixGatewayListCache *cache = g_new0 (HelixGatewayListCache, 1);

  cache->lists = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL,
                                        (GDestroyNotify) cached_list_free);

  return cache;
}

void
_helix_gateway_list_cache_free (HelixGatewayListCache *cache)
{
  g_hash_table_unref (cache->lists);
  g_free (cache);
}

/* Forgets every list: for another database. */
void
_helix_gateway_list_cache_clear (HelixGatewayListCache *cache)
{
  g_hash_table_remove_all (cache->lists);
  cache->n_bytes = 0;
}

static void
list_cache_remove (HelixGatewayListCache *cache,
                   gint64                 user_id)
{
  CachedList *list = g_hash_table_lookup (cache->lists, &user_id);

  if (list != NULL)
    {
      cache->n_bytes -= g_bytes_get_size (list->text);
      g_hash_table_remove (cache->lists, &user_id);
    }
}

/* The list kept for the user of @auth at its head seq, if any. The name
 * must match too: a user id is never given again, but the list would go
 * to no one else even if it were. */
static const CachedList *
list_cache_lookup (HelixGatewayListCache  *cache,
                   const HelixGatewayAuth *auth)
{
  const CachedList *list = g_hash_table_lookup (cache->lists, &auth->user_id);

  if (list == NULL || list->head_seq != auth->head_seq ||
      strcmp (list->user_name, auth->user_name) != 0)
    return NULL;

  return list;
}

/* Keeps @text (taken), read after @auth's head seq, as the user's list at
 * that seq; returns it. */
static GBytes *
list_cache_store (HelixGatewayListCache  *cache,
                  const HelixGatewayAuth *auth,
                  GBytes                 *text)
{
  gsize length = g_bytes_get_size (text);
  CachedList *list;

  list_cache_remove (cache, auth->user_id);
  if (length > LIST_CACHE_MAX_LIST_BYTES)
    return text;

  /* Full: the lists of users who stopped asking go too. */
  if (cache->n_bytes + length > LIST_CACHE_MAX_BYTES)
    _helix_gateway_list_cache_clear (cache);

  list = g_new0 (CachedList, 1);
  list->user_id = auth->user_id;
  list->head_seq = auth->head_seq;
  list->user_name = g_strdup (auth->user_name);
  list->text = g_bytes_ref (text);
  g_hash_table_insert (cache->lists, &list->user_id, list);
  cache->n_bytes += length;

  return text;
}

/* The collection {{{1 */

static void
append_list_item (const HelixGatewaySyncSession *session,
                  gpointer                       user_data)
{
  GString *text = user_data;

  if (text->len > 1)
    g_string_append_c (text, ',');
  append_session_json (text, session, FALSE);
}

/**
 * _helix_gateway_list_sessions_text:
 * @self: the gateway
 * @auth: whose sessions
 * @error: return location for a #GError
 *
 * The answer of `GET /api/v1/sessions` for the user of @auth, from the
 * list kept since their head seq last moved or read from the database.
 * Shared by the route below and the native HTTP path.
 *
 * Returns: (transfer full) (nullable): the JSON text, or %NULL if the
 *   database failed
 */
GBytes *
_helix_gateway_list_sessions_text (HelixGateway      *self,
                                   HelixGatewayAuth  *auth,
                                   GError           **error)
{
  HelixGatewayListCache *cache = _helix_gateway_get_list_cache (self);
  const CachedList *cached = list_cache_lookup (cache, auth);
  GString *text;

  /* Nothing changed since the list was read (see the top of this file). */
  if (cached != NULL)
    return g_bytes_ref (cached->text);

  /* Read by every device when it starts: written directly from the rows,
   * which are not copied. */
  text = g_string_sized_new (4096);
  g_string_append_c (text, '[');
  if (!helix_gateway_db_foreach_session (helix_gateway_get_db (self), auth->user_id,
                                         append_list_item, text, error))
    {
      g_string_free (text, TRUE);
      return NULL;
    }
  g_string_append_c (text, ']');

  return list_cache_store (cache, auth, g_string_free_to_bytes (text));
}

static void
list_sessions (HelixGateway      *self,
               SoupServerMessage *msg,
               HelixGatewayAuth  *auth)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) text = NULL;
  gsize length;
  gconstpointer data;

  text = _helix_gateway_list_sessions_text (self, auth, &error);
  if (text == NULL)
    {
      _helix_gateway_respond_internal_error (msg, error);
      return;
    }

  data = g_bytes_get_data (text, &length);
  _helix_gateway_respond_json_text (msg, SOUP_STATUS_OK, g_string_new_len (data, length));
}

static void
create_session (HelixGateway      *self,
                SoupServerMessage *msg,
                HelixGatewayAuth  *auth)
{
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(JsonObject) data = NULL;
  g_autofree char *id = helix_uuid_new_v7 ();

  body = _helix_gateway_read_json_object (msg);
  if (body == NULL)
    return;

  data = read_session_data (msg, body, TRUE);
  if (data == NULL)
    return;
  if (!json_object_has_member (data, "title"))
    json_object_set_string_member (data, "title", "");

  /* Answered 201 once stored. */
  apply_new_op (self, msg, auth, CHANGE_CREATE, id, data, NULL, 0);
}

/* One session {{{1 */

static void
get_session (HelixGateway      *self,
             SoupServerMessage *msg,
             HelixGatewayAuth  *auth,
             const char        *id)
{
  g_autoptr(HelixGatewaySyncSession) session = find_session (self, msg, auth, id);

  if (session == NULL)
    return;

  respond_session (msg, SOUP_STATUS_OK, session);
}

static void
patch_session (HelixGateway      *self,
               SoupServerMessage *msg,
               HelixGatewayAuth  *auth,
               const char        *id)
{
  g_autoptr(HelixGatewaySyncSession) session = find_session (self, msg, auth, id);
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(JsonObject) data = NULL;
  const char *seen[4];

  if (session == NULL)
    return;

  body = _helix_gateway_read_json_object (msg);
  if (body == NULL)
    return;

  data = read_session_data (msg, body, FALSE);
  if (data == NULL)
    return;

  if (json_object_get_size (data) == 0)
    {
      respond_invalid (msg, _("Nothing to change: send at least one of “title”, “pinned”, "
                              "“archived” and “model”."));
      return;
    }

  /* The change must win over what devices set before, even with clocks ahead. */
  seen[0] = session->title_hlc;
  seen[1] = session->pinned_hlc;
  seen[2] = session->archived_hlc;
  seen[3] = session->model_hlc;
  /* Answered with the session once stored. */
  apply_new_op (self, msg, auth, CHANGE_PATCH, id, data, seen, G_N_ELEMENTS (seen));
}

static void
delete_session (HelixGateway      *self,
                SoupServerMessage *msg,
                HelixGatewayAuth  *auth,
                const char        *id)
{
  g_autoptr(HelixGatewaySyncSession) session = find_session (self, msg, auth, id);

  if (session == NULL)
    return;

  /* Answered 204 once stored. */
  apply_new_op (self, msg, auth, CHANGE_DELETE, id, NULL, NULL, 0);
}

/**
 * _helix_gateway_read_query_integer:
 * @msg: the request
 * @query: (nullable): its query parameters
 * @name: the parameter
 * @min: the least value allowed
 * @max: the greatest value allowed
 * @value: (inout): the value read
 *
 * Reads the query parameter @name as an integer from @min to @max. Absent:
 * *@value is left alone. Malformed: answers 400 and returns %FALSE.
 *
 * Returns: whether the request may go on
 */
gboolean
_helix_gateway_read_query_integer (SoupServerMessage *msg,
                                   GHashTable        *query,
                                   const char        *name,
                                   gint64             min,
                                   gint64             max,
                                   gint64            *value)
{
  const char *text = query != NULL ? g_hash_table_lookup (query, name) : NULL;
  guint64 parsed = 0;
  gboolean ok;

  if (text == NULL)
    return TRUE;

  /* Decimal digits only: no sign, no spaces, at most 19 of them (any
   * gint64, and no more than a guint64 holds). */
  ok = *text != '\0' && strlen (text) <= 19;
  for (const char *p = text; ok && *p != '\0'; p++)
    ok = g_ascii_isdigit (*p);
  if (ok)
    {
      parsed = g_ascii_strtoull (text, NULL, 10);
      ok = parsed >= (guint64) min && parsed <= (guint64) max;
    }

  if (!ok)
    {
      g_autofree char *message =
        g_strdup_printf (_("“%s” must be an integer from %lld to %lld."), name,
                         (long long) min, (long long) max);

      respond_invalid (msg, message);
      return FALSE;
    }

  *value = (gint64) parsed;

  return TRUE;
}

static void
list_messages (HelixGateway      *self,
               SoupServerMessage *msg,
               HelixGatewayAuth  *auth,
               const char        *id,
               GHashTable        *query)
{
  g_autoptr(HelixGatewaySyncSession) session = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;
  gint64 after = 0;
  gint64 limit = MESSAGES_LIMIT_DEFAULT;
  gboolean more;
  guint n;

  if (query != NULL)
    {
      GHashTableIter iter;
      const char *name;

      g_hash_table_iter_init (&iter, query);
      while (g_hash_table_iter_next (&iter, (gpointer *) &name, NULL))
        {
          if (!g_str_equal (name, "after") && !g_str_equal (name, "limit"))
            {
              g_autofree char *message =
                g_strdup_printf (_("Unknown query parameter “%.64s”: use “after” and "
                                   "“limit”."), name);

              respond_invalid (msg, message);
              return;
            }
        }
    }

  if (!_helix_gateway_read_query_integer (msg, query, "after", 0, HELIX_SYNC_MAX_INT, &after) ||
      !_helix_gateway_read_query_integer (msg, query, "limit", 1, MESSAGES_LIMIT_MAX, &limit))
    return;

  session = find_session (self, msg, auth, id);
  if (session == NULL)
    return;

  /* One more than asked for tells whether there is a next page. */
  messages = helix_gateway_db_list_messages (helix_gateway_get_db (self), auth->user_id, id,
                                             after, (guint) limit + 1, &error);
  if (messages == NULL)
    {
      _helix_gateway_respond_internal_error (msg, error);
      return;
    }

  more = messages->len > (guint) limit;
  n = MIN (messages->len, (guint) limit);

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "messages");
  json_builder_begin_array (builder);
  for (guint i = 0; i < n; i++)
    {
      HelixGatewaySyncMessage *message = g_ptr_array_index (messages, i);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "id");
      json_builder_add_string_value (builder, message->uuid);
      json_builder_set_member_name (builder, "seq");
      json_builder_add_int_value (builder, message->seq);
      json_builder_set_member_name (builder, "role");
      json_builder_add_string_value (builder, message->role);
      json_builder_set_member_name (builder, "content");
      json_builder_add_string_value (builder, message->content);
      json_builder_set_member_name (builder, "status");
      json_builder_add_string_value (builder, message->status);
      if (message->model != NULL)
        {
          json_builder_set_member_name (builder, "model");
          json_builder_add_string_value (builder, message->model);
        }
      if (message->provider != NULL)
        {
          json_builder_set_member_name (builder, "provider");
          json_builder_add_string_value (builder, message->provider);
        }
      if (message->tokens_in >= 0)
        {
          json_builder_set_member_name (builder, "tokens_in");
          json_builder_add_int_value (builder, message->tokens_in);
        }
      if (message->tokens_out >= 0)
        {
          json_builder_set_member_name (builder, "tokens_out");
          json_builder_add_int_value (builder, message->tokens_out);
        }
      if (message->cost >= 0)
        {
          json_builder_set_member_name (builder, "cost");
          json_builder_add_double_value (builder, message->cost);
        }
      _helix_gateway_add_time_member (builder, "created", message->created_us);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "next");
  if (more && n > 0)
    json_builder_add_int_value (builder,
                                ((HelixGatewaySyncMessage *) g_ptr_array_index (messages,
                                                                                n - 1))->seq);
  else
    json_builder_add_null_value (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  _helix_gateway_respond_json (msg, SOUP_STATUS_OK, root);
}

/* Routing {{{1 */

static void
sessions_cb (SoupServer        *server,
             SoupServerMessage *msg,
             const char        *path,
             GHashTable        *query,
             gpointer           user_data)
{
  static const char * const list_allowed[] = { "GET", "HEAD", "POST", NULL };
  static const char * const item_allowed[] = { "GET", "HEAD", "PATCH", "DELETE", NULL };
  static const char * const messages_allowed[] = { "GET", "HEAD", NULL };
  HelixGateway *self = user_data;
  g_auto(HelixGatewayAuth) auth = { 0 };
  g_autofree char *id = NULL;
  gboolean messages = FALSE;
  const char *method;

  if (!_helix_gateway_admit (self, msg))
    return;

  if (g_str_has_prefix (path, SESSIONS_PATH "/"))
    {
      const char *rest = path + strlen (SESSIONS_PATH "/");
      const char *slash = strchr (rest, '/');

      if (*rest == '\0' || slash == rest ||
          (slash != NULL && !g_str_equal (slash, "/messages")))
        {
          _helix_gateway_respond_not_found (msg, path);
          return;
        }

      messages = slash != NULL;
      id = slash != NULL ? g_strndup (rest, (gsize) (slash - rest)) : g_strdup (rest);
      if (*id == '\0')
        {
          _helix_gateway_respond_not_found (msg, path);
          return;
        }
    }
  else if (!g_str_equal (path, SESSIONS_PATH))
    {
      _helix_gateway_respond_not_found (msg, path);
      return;
    }

  if (!_helix_gateway_check_method (msg, id == NULL ? list_allowed
                                         : messages ? messages_allowed : item_allowed))
    return;

  _helix_gateway_set_no_store (msg);

  if (!_helix_gateway_authenticate (self, msg, &auth))
    return;

  /* Canonical lower-case UUIDs only, as the sync protocol has them. */
  if (id != NULL && !helix_uuid_is_valid (id))
    {
      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_id",
                                    _("This is not a session id: session ids are lower-case "
                                      "UUIDs, as listed by GET " SESSIONS_PATH "."));
      return;
    }

  method = soup_server_message_get_method (msg);
  if (id == NULL && g_str_equal (method, "POST"))
    create_session (self, msg, &auth);
  else if (id == NULL)
    list_sessions (self, msg, &auth);
  else if (messages)
    list_messages (self, msg, &auth, id, query);
  else if (g_str_equal (method, "PATCH"))
    patch_session (self, msg, &auth, id);
  else if (g_str_equal (method, "DELETE"))
    delete_session (self, msg, &auth, id);
  else
    get_session (self, msg, &auth, id);
}

void
_helix_gateway_add_sessions_routes (HelixGateway *self,
                                    SoupServer   *server)
{
  g_assert (HELIX_IS_GATEWAY (self));
  g_assert (SOUP_IS_SERVER (server));

  soup_server_add_handler (server, SESSIONS_PATH, sessions_cb, self, NULL);
}
