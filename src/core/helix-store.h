/* helix-store.h: the local SQLite store
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-error.h"
#include "helix-message.h"
#include "helix-session.h"
#include "helix-types.h"

G_BEGIN_DECLS

/* Limits on what a caller may write. */
#define HELIX_STORE_TITLE_MAX_BYTES   1024
#define HELIX_STORE_MODEL_MAX_BYTES   256
#define HELIX_STORE_CONTENT_MAX_BYTES (4 * 1024 * 1024)
#define HELIX_STORE_SEARCH_MAX_BYTES  512

#define HELIX_TYPE_STORE (helix_store_get_type ())

G_DECLARE_FINAL_TYPE (HelixStore, helix_store, HELIX, STORE, GObject)

/**
 * HelixNewMessage:
 * @role: who wrote it
 * @content: UTF-8 text, at most %HELIX_STORE_CONTENT_MAX_BYTES
 * @status: initial status
 * @model: (nullable): the model that wrote it
 * @provider: (nullable): the provider that served it
 * @tokens_in: input tokens, or -1 when unknown
 * @tokens_out: output tokens, or -1 when unknown
 * @cost: cost in USD, or a negative value when unknown
 * @metadata: (nullable): a JSON object as text
 * @id: (nullable): a UUID made elsewhere (sync, import); %NULL makes a new one
 * @created_us: creation time, or 0 for now
 *
 * What a caller hands to helix_store_append_message().
 */
typedef struct
{
  HelixMessageRole    role;
  const char         *content;
  HelixMessageStatus  status;
  const char         *model;
  const char         *provider;
  gint64              tokens_in;
  gint64              tokens_out;
  double              cost;
  const char         *metadata;
  const char         *id;
  gint64              created_us;
} HelixNewMessage;

#define HELIX_NEW_MESSAGE_INIT(r, c) \
  ((HelixNewMessage) { .role = (r), .content = (c), .status = HELIX_MESSAGE_STATUS_DONE, \
                       .tokens_in = -1, .tokens_out = -1, .cost = -1.0 })

/**
 * HelixSessionFlag:
 * @HELIX_SESSION_FLAG_PINNED: the session is pinned to the top of the list
 * @HELIX_SESSION_FLAG_ARCHIVED: the session is archived
 * @HELIX_SESSION_FLAG_DELETED: the session is deleted (a tombstone)
 */
typedef enum
{
  HELIX_SESSION_FLAG_PINNED,
  HELIX_SESSION_FLAG_ARCHIVED,
  HELIX_SESSION_FLAG_DELETED,
} HelixSessionFlag;

char         *helix_store_dup_default_path       (void);

HelixStore   *helix_store_open                   (const char           *path,
                                                  GError              **error);
void          helix_store_open_async             (const char           *path,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
HelixStore   *helix_store_open_finish            (GAsyncResult         *result,
                                                  GError              **error);
void          helix_store_close                  (HelixStore           *self);

const char   *helix_store_get_path               (HelixStore           *self);
const char   *helix_store_get_device_id          (HelixStore           *self);
guint         helix_store_get_schema_version     (HelixStore           *self);
guint         helix_store_get_latest_schema_version (void);
gboolean      helix_store_check                  (HelixStore           *self,
                                                  GError              **error);

/* Sessions */
HelixSession *helix_store_create_session         (HelixStore           *self,
                                                  const char           *title,
                                                  GError              **error);
void          helix_store_create_session_async   (HelixStore           *self,
                                                  const char           *title,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
HelixSession *helix_store_create_session_finish  (HelixStore           *self,
                                                  GAsyncResult         *result,
                                                  GError              **error);
HelixSession *helix_store_rename_session         (HelixStore           *self,
                                                  const char           *session_id,
                                                  const char           *title,
                                                  GError              **error);
void          helix_store_rename_session_async   (HelixStore           *self,
                                                  const char           *session_id,
                                                  const char           *title,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
HelixSession *helix_store_set_session_flag       (HelixStore           *self,
                                                  const char           *session_id,
                                                  HelixSessionFlag      flag,
                                                  gboolean              value,
                                                  GError              **error);
void          helix_store_set_session_flag_async (HelixStore           *self,
                                                  const char           *session_id,
                                                  HelixSessionFlag      flag,
                                                  gboolean              value,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
HelixSession *helix_store_set_session_model      (HelixStore           *self,
                                                  const char           *session_id,
                                                  const char           *model,
                                                  GError              **error);
void          helix_store_set_session_model_async (HelixStore          *self,
                                                  const char           *session_id,
                                                  const char           *model,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
HelixSession *helix_store_update_session_finish  (HelixStore           *self,
                                                  GAsyncResult         *result,
                                                  GError              **error);
HelixSession *helix_store_get_session            (HelixStore           *self,
                                                  const char           *session_id,
                                                  GError              **error);
GPtrArray    *helix_store_list_sessions          (HelixStore           *self,
                                                  gboolean              include_archived,
                                                  GError              **error);
void          helix_store_list_sessions_async    (HelixStore           *self,
                                                  gboolean              include_archived,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
GPtrArray    *helix_store_list_sessions_finish   (HelixStore           *self,
                                                  GAsyncResult         *result,
                                                  GError              **error);

/* Messages */
HelixMessage *helix_store_append_message         (HelixStore           *self,
                                                  const char           *session_id,
                                                  const HelixNewMessage *message,
                                                  GError              **error);
void          helix_store_append_message_async   (HelixStore           *self,
                                                  const char           *session_id,
                                                  const HelixNewMessage *message,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
HelixMessage *helix_store_append_message_finish  (HelixStore           *self,
                                                  GAsyncResult         *result,
                                                  GError              **error);
gboolean      helix_store_import_messages        (HelixStore           *self,
                                                  const char           *session_id,
                                                  const HelixNewMessage *messages,
                                                  gsize                 n_messages,
                                                  GError              **error);
HelixMessage *helix_store_get_message            (HelixStore           *self,
                                                  const char           *message_id,
                                                  GError              **error);
guint64       helix_store_count_messages         (HelixStore           *self,
                                                  const char           *session_id,
                                                  GError              **error);
GPtrArray    *helix_store_get_messages           (HelixStore           *self,
                                                  const char           *session_id,
                                                  guint64               first_position,
                                                  guint                 n_messages,
                                                  GError              **error);

/* Search */
GPtrArray    *helix_store_search_messages        (HelixStore           *self,
                                                  const char           *query,
                                                  guint                 limit,
                                                  GError              **error);
void          helix_store_search_async           (HelixStore           *self,
                                                  const char           *query,
                                                  guint                 limit,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
GListModel   *helix_store_search_finish          (HelixStore           *self,
                                                  GAsyncResult         *result,
                                                  GError              **error);

G_END_DECLS
