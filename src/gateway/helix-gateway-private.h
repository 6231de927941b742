/* helix-gateway-private.h: what the gateway's files share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "helix-audit.h"
#include "helix-gateway.h"
#include "helix-ledger.h"
#include "helix-router.h"
#include "helix-hlc.h"
#include "helix-rate-limit.h"
#include "helix-gateway-sync.h"
#include "helix-sync.h"

G_BEGIN_DECLS

/* The longest X-Request-Id the gateway takes over from a client. */
#define HELIX_REQUEST_ID_MAX_LEN 64

/* The largest request body an API route accepts, and how deeply its JSON may nest. */
#define HELIX_GATEWAY_MAX_BODY_BYTES (16 * 1024)
#define HELIX_GATEWAY_MAX_JSON_DEPTH 16

/* The largest body of an OpenAI-compatible request (/v1/…): conversations are
 * larger than the other API bodies. */
#define HELIX_GATEWAY_MAX_CHAT_BODY_BYTES (1024 * 1024)
#define HELIX_GATEWAY_MAX_CHAT_JSON_DEPTH 16

/* Failed logins allowed per account and per client address within the window. Fixed
 * for now; the configuration file does not offer them yet. */
#define HELIX_GATEWAY_LOGIN_MAX_FAILURES 5
#define HELIX_GATEWAY_LOGIN_WINDOW_S     (15 * 60)

/* How many rate limit buckets each table keeps at most (users, client addresses). */
#define HELIX_GATEWAY_RATE_LIMIT_MAX_KEYS 65536

/* The Retry-After of a write refused in maintenance mode, in seconds. */
#define HELIX_GATEWAY_MAINTENANCE_RETRY_AFTER_S 60

/* Responses larger than this are gzip-compressed for clients that accept it. */
#define HELIX_GATEWAY_GZIP_MIN_BYTES 1024

/* How long browsers may cache a CORS preflight answer, in seconds. */
#define HELIX_GATEWAY_CORS_MAX_AGE_S 600

/* Password checks (argon2id: 64 MiB each) running at once; more logins get 503. */
#define HELIX_GATEWAY_LOGINS_IN_FLIGHT_MAX 4

/* An account command of the command line (see helix-gateway-users.c). */
typedef struct
{
  char     *add_user;
  gboolean  admin;
  gboolean  list_users;
  char     *disable_user;
  char     *enable_user;
} HelixGatewayUserCommand;

/* The close code of a sync WebSocket whose token was revoked (PROTOCOL.md). */
#define HELIX_GATEWAY_WS_CLOSE_REVOKED 4001

/* The open sync WebSockets of every user (helix-gateway-ws.c). */
typedef struct _HelixGatewayHub HelixGatewayHub;

typedef struct
{
  HelixRateLimit *limit;     /* keys "user:NAME" and "addr:ADDRESS" */
  guint           in_flight; /* password checks running */
} HelixGatewayLogins;

/* A route: its pattern ("{id}" for a path segment) and its Allow header. */
typedef struct
{
  const char *pattern;
  const char *methods;
} HelixGatewayRoute;

const HelixGatewayRoute *_helix_gateway_get_routes (guint *n_routes);

const char *_helix_gateway_get_client_address (HelixGateway      *self,
                                               SoupServerMessage *msg);
gboolean _helix_gateway_admit               (HelixGateway      *self,
                                             SoupServerMessage *msg);
gboolean _helix_gateway_limit_user          (HelixGateway      *self,
                                             SoupServerMessage *msg,
                                             const char        *user_name);
void     _helix_gateway_respond_rate_limited (SoupServerMessage *msg,
                                             gint64             retry_after_us);
gboolean _helix_gateway_method_is_write     (const char        *method);
gboolean _helix_gateway_in_maintenance      (HelixGateway      *self);
gboolean _helix_gateway_maintenance_is_runtime (HelixGateway   *self);
void     _helix_gateway_set_maintenance_async (HelixGateway        *self,
                                               gboolean             maintenance,
                                               const char          *by,
                                               GAsyncReadyCallback  callback,
                                               gpointer             user_data);
gboolean _helix_gateway_set_maintenance_finish (HelixGateway   *self,
                                               GAsyncResult   *result,
                                               GError        **error);
gboolean _helix_gateway_apply_cors          (HelixGateway      *self,
                                             SoupServerMessage *msg);

gint64   _helix_gateway_get_uptime_seconds  (HelixGateway      *self);
void     _helix_gateway_add_routes          (HelixGateway      *self,
                                             SoupServer        *server);
void     _helix_gateway_respond_json        (SoupServerMessage *msg,
                                             guint              status,
                                             JsonNode          *root);
void     _helix_gateway_respond_json_text   (SoupServerMessage *msg,
                                             guint              status,
                                             GString           *text);
void     _helix_gateway_json_append_string  (GString           *out,
                                             const char        *value);
void     _helix_gateway_append_int          (GString           *out,
                                             gint64             value);
gboolean _helix_gateway_accepts_gzip        (const char        *accept_encoding);
GBytes  *_helix_gateway_gzip_bytes          (const char        *data,
                                             gsize              size);
GString *_helix_gateway_health_text         (HelixGateway      *self,
                                             guint             *status);
void     _helix_gateway_json_append_time    (GString           *out,
                                             gint64             time_us);
void     _helix_gateway_respond_error       (SoupServerMessage *msg,
                                             guint              status,
                                             const char        *code,
                                             const char        *message);
gboolean _helix_gateway_request_id_is_valid (const char        *id);
gboolean _helix_gateway_check_method        (SoupServerMessage  *msg,
                                             const char * const *allowed);
void     _helix_gateway_respond_not_found   (SoupServerMessage *msg,
                                             const char        *path);
GByteArray *_helix_gateway_get_request_body (SoupServerMessage *msg,
                                             gboolean          *too_large);
HelixGatewayLogins *_helix_gateway_get_logins (HelixGateway    *self);
int      _helix_gateway_users_main          (const HelixGatewayConfig      *config,
                                             const HelixGatewayUserCommand *command);
void     _helix_gateway_add_api_routes      (HelixGateway      *self,
                                             SoupServer        *server);
void     _helix_gateway_add_admin_routes    (HelixGateway      *self,
                                             SoupServer        *server);
void     _helix_gateway_add_sessions_routes (HelixGateway      *self,
                                             SoupServer        *server);
void     _helix_gateway_add_search_routes   (HelixGateway      *self,
                                             SoupServer        *server);
/* The connection searches run on, in threads (helix-gateway-search.c). */
typedef struct _HelixGatewaySearcher HelixGatewaySearcher;

HelixGatewaySearcher *_helix_gateway_searcher_new   (const char           *path);
HelixGatewaySearcher *_helix_gateway_searcher_ref   (HelixGatewaySearcher *searcher);
void                  _helix_gateway_searcher_unref (HelixGatewaySearcher *searcher);
void                  _helix_gateway_searcher_close (HelixGatewaySearcher *searcher);
HelixGatewaySearcher *_helix_gateway_get_searcher   (HelixGateway         *self);
gboolean _helix_gateway_read_query_integer  (SoupServerMessage *msg,
                                             GHashTable        *query,
                                             const char        *name,
                                             gint64             min,
                                             gint64             max,
                                             gint64            *value);

/* The answers of GET /api/v1/sessions, per user (helix-gateway-sessions.c). */
typedef struct _HelixGatewayListCache HelixGatewayListCache;

HelixGatewayListCache *_helix_gateway_list_cache_new   (void);
void                   _helix_gateway_list_cache_free  (HelixGatewayListCache *cache);
void                   _helix_gateway_list_cache_clear (HelixGatewayListCache *cache);
HelixGatewayListCache *_helix_gateway_get_list_cache   (HelixGateway          *self);
HelixHlcClock *_helix_gateway_get_clock     (HelixGateway      *self);
HelixGatewayHub *_helix_gateway_get_hub     (HelixGateway      *self);
void     _helix_gateway_request_upgraded    (HelixGateway      *self,
                                             SoupServerMessage *msg);

/* Ops the gateway makes itself (helix-gateway-sessions.c). */
void     _helix_gateway_store_op_async      (HelixGateway        *self,
                                             gint64               user_id,
                                             HelixSyncOpKind      kind,
                                             const char          *id,
                                             const char          *session_id,
                                             JsonObject          *data,
                                             const char * const  *seen,
                                             gsize                n_seen,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
gint64   _helix_gateway_store_op_finish     (HelixGateway        *self,
                                             GAsyncResult        *result,
                                             GError             **error);

/* The assistant's answers over the sync WebSocket and the REST API
 * (helix-gateway-chat.c). */
void     _helix_gateway_chat_from_frame     (HelixGateway       *self,
                                             gint64              user_id,
                                             const char         *user_name,
                                             HelixSyncFrame     *frame);
void     _helix_gateway_chat_cancel         (HelixGateway       *self,
                                             gint64              user_id,
                                             const char         *reply_id);
void     _helix_gateway_add_chat_routes     (HelixGateway       *self,
                                             SoupServer         *server);
void     _helix_gateway_hub_send_user       (HelixGatewayHub    *hub,
                                             gint64              user_id,
                                             const char         *text);

/* The sync WebSocket (helix-gateway-ws.c). */
void             _helix_gateway_add_sync_routes    (HelixGateway     *self,
                                                    SoupServer       *server);
HelixGatewayHub *_helix_gateway_hub_new            (HelixGateway     *gateway);
void             _helix_gateway_hub_free           (HelixGatewayHub  *hub);
void             _helix_gateway_hub_close_all      (HelixGatewayHub  *hub,
                                                    gushort           code,
                                                    const char       *reason);
void             _helix_gateway_hub_disconnect_all (HelixGatewayHub  *hub);
void             _helix_gateway_hub_close_device   (HelixGatewayHub  *hub,
                                                    gint64            user_id,
                                                    const char       *device_uuid,
                                                    gushort           code,
                                                    const char       *reason);
void             _helix_gateway_hub_publish        (HelixGatewayHub  *hub,
                                                    gint64            user_id,
                                                    gpointer          from,
                                                    GPtrArray        *applied,
                                                    GPtrArray        *canonicals);

void             _helix_gateway_hub_store_op_async  (HelixGatewayHub     *hub,
                                                     gint64               user_id,
                                                     HelixSyncOp         *op,
                                                     GAsyncReadyCallback  callback,
                                                     gpointer             user_data);
gint64           _helix_gateway_hub_store_op_finish (GAsyncResult        *result,
                                                     GError             **error);
gboolean         _helix_gateway_hub_touch_device   (HelixGatewayHub  *hub,
                                                    gint64            device_id,
                                                    gint64            now_us);

/* Every write of the running gateway, on a thread of its own
 * (helix-gateway-writer.c). */
typedef struct _HelixGatewayWriter HelixGatewayWriter;
typedef void (*HelixGatewayWriterDone) (gpointer user_data);
typedef void (*HelixGatewayWriterHold) (gpointer data);
/* Runs on the writer thread with its connection. */
typedef gboolean (*HelixGatewayWriteFunc) (HelixGatewayDb  *db,
                                           gpointer         data,
                                           GError         **error);

HelixGatewayWriter *_helix_gateway_writer_new     (const char              *db_path,
                                                   HelixGatewayWriterDone   done,
                                                   gpointer                 user_data);
void                _helix_gateway_writer_submit  (HelixGatewayWriter      *self,
                                                   HelixGatewayPush        *pushes,
                                                   guint                    n);
gboolean            _helix_gateway_writer_is_busy (HelixGatewayWriter      *self);
gboolean            _helix_gateway_writer_collect (HelixGatewayWriter      *self,
                                                   GError                 **error);
void                _helix_gateway_writer_run_async  (HelixGatewayWriter    *self,
                                                      HelixGatewayWriteFunc  func,
                                                      gpointer               data,
                                                      GAsyncReadyCallback    callback,
                                                      gpointer               user_data);
gboolean            _helix_gateway_writer_run_finish (GAsyncResult          *result,
                                                      GError               **error);
void                _helix_gateway_writer_set_hold   (HelixGatewayWriter     *self,
                                                      HelixGatewayWriterHold  hold,
                                                      gpointer                data);
void                _helix_gateway_writer_free    (HelixGatewayWriter      *self);

HelixGatewayWriter *_helix_gateway_hub_get_writer (HelixGatewayHub         *hub);

/* `ops` and `ack` frames spliced from text (helix-gateway-frames.c). */
gsize            _helix_gateway_op_frame_bytes     (gint64               seq,
                                                    gsize                canonical_len);
gsize            _helix_gateway_ops_frame_bytes    (const gint64        *seqs,
                                                    char * const        *canonicals,
                                                    guint                n);
char            *_helix_gateway_build_ops_frame    (const gint64        *seqs,
                                                    char * const        *canonicals,
                                                    guint                n,
                                                    gsize               *length);
char            *_helix_gateway_build_ack_frame    (HelixSyncOp * const *ops,
                                                    const gint64        *seqs,
                                                    guint                n);

/* Shared by the API routes (helix-gateway-api.c, helix-gateway-sessions.c). */
void        _helix_gateway_set_no_store           (SoupServerMessage *msg);
void        _helix_gateway_respond_no_content     (SoupServerMessage *msg);
void        _helix_gateway_respond_internal_error (SoupServerMessage *msg,
                                                   const GError      *error);
JsonObject *_helix_gateway_read_json_object       (SoupServerMessage *msg);
gboolean    _helix_gateway_begin_authenticated    (HelixGateway       *self,
                                                   SoupServerMessage  *msg,
                                                   const char         *path,
                                                   const char         *expected,
                                                   const char * const *allowed,
                                                   HelixGatewayAuth   *auth);
gboolean    _helix_gateway_authenticate           (HelixGateway      *self,
                                                   SoupServerMessage *msg,
                                                   HelixGatewayAuth  *auth);

/* What a bearer token is (_helix_gateway_lookup_token()). */
typedef enum
{
  HELIX_GATEWAY_TOKEN_VALID,
  HELIX_GATEWAY_TOKEN_MISSING,     /* no "Authorization: Bearer …" */
  HELIX_GATEWAY_TOKEN_INVALID,     /* malformed, unknown or revoked */
  HELIX_GATEWAY_TOKEN_UNAVAILABLE, /* the database is closed */
  HELIX_GATEWAY_TOKEN_FAILED,      /* the database failed */
} HelixGatewayTokenResult;

GBytes     *_helix_gateway_list_sessions_text     (HelixGateway      *self,
                                                   HelixGatewayAuth  *auth,
                                                   GError           **error);

HelixGatewayTokenResult _helix_gateway_lookup_token (HelixGateway      *self,
                                                     const char        *authorization,
                                                     HelixGatewayAuth  *auth,
                                                     GError           **error);
void        _helix_gateway_add_time_member        (JsonBuilder       *builder,
                                                   const char        *name,
                                                   gint64             time_us);

/* The AI router of the gateway (helix-gateway-providers.c). */
typedef struct _HelixGatewayAi HelixGatewayAi;

/* A model some provider serves. */
typedef struct
{
  char *provider;
  char *model;
} HelixGatewayModel;

HelixGatewayAi *_helix_gateway_ai_new            (const HelixGatewayConfig  *config,
                                                  GError                   **error);
void            _helix_gateway_ai_free           (HelixGatewayAi            *ai);
HelixRouter    *_helix_gateway_ai_get_router     (HelixGatewayAi            *ai);
HelixLedger    *_helix_gateway_ai_get_ledger     (HelixGatewayAi            *ai);
HelixBudget    *_helix_gateway_ai_get_budget     (HelixGatewayAi            *ai);
GPtrArray      *_helix_gateway_ai_get_models     (HelixGatewayAi            *ai);
gboolean        _helix_gateway_ai_has_model      (HelixGatewayAi            *ai,
                                                  const char                *wanted);
void            _helix_gateway_ai_update_metrics (HelixGatewayAi            *ai);
HelixGatewayAi *_helix_gateway_get_ai            (HelixGateway              *self);

/* The OpenAI-compatible API and the cost report (helix-gateway-openai.c). */
void        _helix_gateway_add_openai_routes      (HelixGateway      *self,
                                                   SoupServer        *server);
gboolean    _helix_gateway_path_is_openai         (const char        *path);
GSocket    *_helix_gateway_message_get_socket     (SoupServerMessage *msg);
void        _helix_gateway_respond_openai_error   (SoupServerMessage *msg,
                                                   guint              status,
                                                   const char        *type,
                                                   const char        *code,
                                                   const char        *message);
const char *_helix_gateway_openai_error_type      (guint              status);
const char *_helix_gateway_openai_error_code      (const char        *code);
void        _helix_gateway_add_cost_routes        (HelixGateway      *self,
                                                   SoupServer        *server);
/* What _helix_gateway_parse_json_body() found wrong. */
typedef enum
{
  HELIX_GATEWAY_BODY_OK,
  HELIX_GATEWAY_BODY_EMPTY,
  HELIX_GATEWAY_BODY_INVALID,      /* not JSON, too large or too deep */
  HELIX_GATEWAY_BODY_NOT_STRICT,   /* comments, trailing text, leading zeros… */
  HELIX_GATEWAY_BODY_UNREADABLE,   /* validated, yet json-glib failed */
  HELIX_GATEWAY_BODY_REPEATED,     /* a member named twice */
  HELIX_GATEWAY_BODY_NOT_OBJECT,
} HelixGatewayBodyProblem;

JsonObject *_helix_gateway_parse_json_body          (const char              *data,
                                                     gsize                    length,
                                                     gsize                    max_bytes,
                                                     guint                    max_depth,
                                                     HelixGatewayBodyProblem *problem,
                                                     GError                 **error);
JsonObject *_helix_gateway_read_json_object_limited (SoupServerMessage *msg,
                                                   gsize              max_bytes,
                                                   guint              max_depth);
gboolean    _helix_gateway_lookup_admin           (HelixGateway      *self,
                                                   const char        *user_name,
                                                   gboolean          *is_admin,
                                                   GError           **error);

/* The audit trail (helix-gateway-audit.c). */
typedef struct _HelixGatewayAudited HelixGatewayAudited;

/* Runs a privileged action once its entry is durable; returns %TRUE when it
 * answered the request, %FALSE when it calls _helix_gateway_audited_finish() later. */
typedef gboolean (*HelixGatewayActFunc) (HelixGateway        *self,
                                         SoupServerMessage   *msg,
                                         HelixGatewayAudited *audited);

void          _helix_gateway_respond_not_started     (SoupServerMessage         *msg);
HelixAudit   *_helix_gateway_get_audit                 (HelixGateway              *self);
HelixAudit   *_helix_gateway_audit_open                (const HelixGatewayConfig  *config,
                                                        gboolean                   serve,
                                                        GError                   **error);
char         *_helix_gateway_audit_payload             (const char                *first_name,
                                                        ...) G_GNUC_NULL_TERMINATED;
void          _helix_gateway_audited                   (HelixGateway              *self,
                                                        SoupServerMessage         *msg,
                                                        const char                *channel,
                                                        const char                *actor,
                                                        const char                *event,
                                                        const char                *payload,
                                                        HelixGatewayActFunc        act,
                                                        gpointer                   data,
                                                        GDestroyNotify             destroy);
gpointer      _helix_gateway_audited_get_data          (HelixGatewayAudited       *audited);
SoupServerMessage *_helix_gateway_audited_get_message (HelixGatewayAudited       *audited);
void          _helix_gateway_audited_finish            (HelixGatewayAudited       *audited);
void          _helix_gateway_respond_audit_unavailable (SoupServerMessage         *msg,
                                                        const GError              *error);
gboolean      _helix_gateway_require_admin             (HelixGateway              *self,
                                                        SoupServerMessage         *msg,
                                                        HelixGatewayAuth          *auth);
GFileMonitor *_helix_gateway_audit_watch_config        (HelixAudit                *audit,
                                                        const char                *path);
void          _helix_gateway_add_audit_routes          (HelixGateway              *self,
                                                        SoupServer                *server);

G_END_DECLS
