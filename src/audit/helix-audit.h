/* helix-audit.h: the audit trail as a service: entries recorded off the main
 * loop, routed by channel to webhook sinks, verified and listed in the background
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-audit-log.h"
#include "helix-webhook-queue.h"

G_BEGIN_DECLS

/* Channels */
#define HELIX_AUDIT_CHANNEL_COMMANDS        "commands"         /* tool and command runs */
#define HELIX_AUDIT_CHANNEL_API             "api"              /* logins, tokens, admin actions */
#define HELIX_AUDIT_CHANNEL_HEARTBEAT       "heartbeat"        /* every 60 s: still alive */
#define HELIX_AUDIT_CHANNEL_FILE_CHANGES    "file-changes"     /* configuration and key files */
#define HELIX_AUDIT_CHANNEL_ASSISTANT_STATE "assistant-state"  /* providers, keys, flags */
#define HELIX_AUDIT_CHANNEL_ALERTS          "alerts"           /* budgets, failing sinks, breakers */
#define HELIX_AUDIT_CHANNEL_HASH_CHAIN      "hash-chain"       /* signed checkpoints */

#define HELIX_AUDIT_HEARTBEAT_S   60
/* Entries a list asks for, at most. */
#define HELIX_AUDIT_MAX_LIST      1000

/**
 * HelixAuditFilter:
 * @channel: (nullable): only this channel
 * @actor: (nullable): only this actor
 * @text: (nullable): only entries whose event or payload contains this
 * @before_seq: only entries before this one; 0 for the newest
 * @limit: at most this many (≤ %HELIX_AUDIT_MAX_LIST), newest first
 */
typedef struct
{
  const char *channel;
  const char *actor;
  const char *text;
  gint64      before_seq;
  guint       limit;
} HelixAuditFilter;

/**
 * HelixAuditItem:
 * @seq, @time_us, @channel, @actor, @event, @payload: as in #HelixAuditEntry
 *
 * An entry read back, owning its strings (one allocation).
 */
typedef struct
{
  gint64  seq;
  gint64  time_us;
  char   *channel;
  char   *actor;
  char   *event;
  char   *payload;
} HelixAuditItem;

/**
 * HelixAuditSinkStatus:
 * @name: the sink's name
 * @url: where it delivers (its main URL; never holds a secret the sanitizer knows)
 * @channels: the channels routed to it
 * @pending: entries queued, not yet delivered
 * @failing: whether it has failed for longer than the alert time
 * @last_error: (nullable): its last delivery error
 */
typedef struct
{
  char     *name;
  char     *url;
  char    **channels;
  guint     pending;
  gboolean  failing;
  char     *last_error;
} HelixAuditSinkStatus;

void helix_audit_sink_status_free (HelixAuditSinkStatus *status);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixAuditSinkStatus, helix_audit_sink_status_free)

#define HELIX_TYPE_AUDIT (helix_audit_get_type ())

G_DECLARE_FINAL_TYPE (HelixAudit, helix_audit, HELIX, AUDIT, GObject)

HelixAudit       *helix_audit_open                 (const char            *log_path,
                                                    const char            *queue_path,
                                                    const char            *origin,
                                                    HelixAuditSigner      *signer,
                                                    GError               **error);
void              helix_audit_close                (HelixAudit            *self);

const char       *helix_audit_get_origin           (HelixAudit            *self);
const char       *helix_audit_get_log_path         (HelixAudit            *self);
const guint8     *helix_audit_get_public_key       (HelixAudit            *self);
gint64            helix_audit_get_size             (HelixAudit            *self);
char             *helix_audit_dup_last_error       (HelixAudit            *self);

gboolean          helix_audit_add_sink             (HelixAudit            *self,
                                                    const char            *name,
                                                    HelixWebhookFormat     format,
                                                    const char            *url,
                                                    const char            *backup_url,
                                                    const char * const    *channels,
                                                    GError               **error);
void              helix_audit_set_signer           (HelixAudit            *self,
                                                    HelixAuditSigner      *signer);
void              helix_audit_set_checkpoint_every (HelixAudit            *self,
                                                    guint                  n_entries,
                                                    guint                  seconds);
void              helix_audit_set_heartbeat        (HelixAudit            *self,
                                                    guint                  seconds,
                                                    const char            *actor);
HelixWebhookQueue *helix_audit_get_webhook_queue   (HelixAudit            *self);
void              helix_audit_start                (HelixAudit            *self);

void              helix_audit_record_async         (HelixAudit            *self,
                                                    const char            *channel,
                                                    const char            *actor,
                                                    const char            *event,
                                                    const char            *payload,
                                                    GCancellable          *cancellable,
                                                    GAsyncReadyCallback    callback,
                                                    gpointer               user_data);
gint64            helix_audit_record_finish        (HelixAudit            *self,
                                                    GAsyncResult          *result,
                                                    GError               **error);
void              helix_audit_record               (HelixAudit            *self,
                                                    const char            *channel,
                                                    const char            *actor,
                                                    const char            *event,
                                                    const char            *payload);
gboolean          helix_audit_record_sync          (HelixAudit            *self,
                                                    const char            *channel,
                                                    const char            *actor,
                                                    const char            *event,
                                                    const char            *payload,
                                                    GError               **error);

void              helix_audit_verify_async         (HelixAudit            *self,
                                                    const char            *known_checkpoint,
                                                    GCancellable          *cancellable,
                                                    GAsyncReadyCallback    callback,
                                                    gpointer               user_data);
gboolean          helix_audit_verify_finish        (HelixAudit            *self,
                                                    GAsyncResult          *result,
                                                    HelixAuditReport      *report,
                                                    GError               **error);

gboolean          helix_audit_verify_file          (const char            *log_path,
                                                    const char            *origin,
                                                    const guint8          *public_key,
                                                    const char            *known_checkpoint,
                                                    HelixAuditReport      *report,
                                                    GError               **error);

void              helix_audit_list_async           (HelixAudit            *self,
                                                    const HelixAuditFilter *filter,
                                                    GCancellable          *cancellable,
                                                    GAsyncReadyCallback    callback,
                                                    gpointer               user_data);
GPtrArray        *helix_audit_list_finish          (HelixAudit            *self,
                                                    GAsyncResult          *result,
                                                    GError               **error);

char             *helix_audit_dup_latest_checkpoint (HelixAudit           *self);
GPtrArray        *helix_audit_list_sinks           (HelixAudit            *self);

HelixAuditSigner *helix_audit_load_key_file        (const char            *path,
                                                    const char            *name,
                                                    GError               **error);

/**
 * HelixAuditKeyLookup:
 * @origin: a log's name
 * @error: return location for a #GError
 *
 * Finds the signing key of the log @origin somewhere other than a key file
 * (the desktop's keyring).
 *
 * Returns: (transfer full) (nullable): the key, or %NULL (without an error when there is none)
 */
typedef HelixAuditSigner *(*HelixAuditKeyLookup) (const char  *origin,
                                                  GError     **error);

int               helix_audit_verify_run           (const char            *state_dir,
                                                    const char            *key_file,
                                                    const char            *checkpoint_path,
                                                    const char            *public_key_text,
                                                    HelixAuditKeyLookup    lookup);
int               helix_audit_verify_main          (int                    argc,
                                                    char                 **argv,
                                                    const char            *default_state_dir,
                                                    HelixAuditKeyLookup    lookup);

G_END_DECLS
