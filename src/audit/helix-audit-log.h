/* helix-audit-log.h: the tamper-evident audit trail
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-audit-checkpoint.h"

G_BEGIN_DECLS


/* Bounds of an entry. */
#define HELIX_AUDIT_MAX_NAME     256           /* channel, actor, event */
#define HELIX_AUDIT_MAX_PAYLOAD  (64 * 1024)

/**
 * HelixAuditEntry:
 * @seq: its place in the log, from 1
 * @time_us: when, in µs since the Unix epoch
 * @channel: "commands", "api", "alerts"…
 * @actor: who: a user, a device, "system"
 * @event: what happened
 * @payload: a JSON object as text, already sanitized
 *
 * One entry, as appended and as read back.
 */
typedef struct
{
  gint64      seq;
  gint64      time_us;
  const char *channel;
  const char *actor;
  const char *event;
  const char *payload;
} HelixAuditEntry;

/**
 * HelixAuditProblem:
 * @HELIX_AUDIT_OK: the log is intact
 * @HELIX_AUDIT_BAD_ENTRY: an entry does not hash to its place in the chain:
 *   it was edited, inserted, deleted or moved
 * @HELIX_AUDIT_BAD_SEQUENCE: the entries are not numbered 1, 2, 3…
 * @HELIX_AUDIT_TRUNCATED: a checkpoint covers entries the log no longer has
 * @HELIX_AUDIT_REWRITTEN: the log does not have the head a checkpoint signed
 * @HELIX_AUDIT_BAD_SIGNATURE: a checkpoint is not signed by the trusted key
 * @HELIX_AUDIT_ROLLED_BACK: the log's newest checkpoint is older than one seen before
 */
typedef enum
{
  HELIX_AUDIT_OK,
  HELIX_AUDIT_BAD_ENTRY,
  HELIX_AUDIT_BAD_SEQUENCE,
  HELIX_AUDIT_TRUNCATED,
  HELIX_AUDIT_REWRITTEN,
  HELIX_AUDIT_BAD_SIGNATURE,
  HELIX_AUDIT_ROLLED_BACK,
} HelixAuditProblem;

/**
 * HelixAuditReport:
 * @problem: what is wrong, or %HELIX_AUDIT_OK
 * @seq: the first entry (or checkpoint size) concerned, or 0
 * @n_entries: entries checked
 * @head: (array fixed-size=32): the hash of the last entry checked
 * @message: (nullable): for people
 */
typedef struct
{
  HelixAuditProblem problem;
  gint64            seq;
  gint64            n_entries;
  guint8            head[32];
  char             *message;
} HelixAuditReport;

void helix_audit_report_clear (HelixAuditReport *report);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (HelixAuditReport, helix_audit_report_clear)

#define HELIX_TYPE_AUDIT_LOG (helix_audit_log_get_type ())

G_DECLARE_FINAL_TYPE (HelixAuditLog, helix_audit_log, HELIX, AUDIT_LOG, GObject)

HelixAuditLog    *helix_audit_log_open           (const char               *path,
                                                  const char               *origin,
                                                  HelixAuditSigner         *signer,
                                                  GError                  **error);
void              helix_audit_log_close          (HelixAuditLog            *self);
const char       *helix_audit_log_get_path       (HelixAuditLog            *self);
gint64            helix_audit_log_get_size       (HelixAuditLog            *self);
void              helix_audit_log_set_signer     (HelixAuditLog            *self,
                                                  HelixAuditSigner         *signer);
void              helix_audit_log_set_checkpoint_every (HelixAuditLog      *self,
                                                  guint                     n_entries,
                                                  guint                     seconds);

gint64            helix_audit_log_append         (HelixAuditLog            *self,
                                                  const char               *channel,
                                                  const char               *actor,
                                                  const char               *event,
                                                  const char               *payload,
                                                  GError                  **error);
gboolean          helix_audit_log_append_batch   (HelixAuditLog            *self,
                                                  const HelixAuditEntry    *entries,
                                                  guint                     n_entries,
                                                  gint64                   *first_seq,
                                                  GError                  **error);

/**
 * HelixAuditReadFunc:
 * @entry: an entry, valid during the call
 * @user_data: the caller's data
 *
 * Returns: %TRUE to read on
 */
typedef gboolean (*HelixAuditReadFunc) (const HelixAuditEntry *entry,
                                        gpointer               user_data);

gboolean          helix_audit_log_read           (HelixAuditLog            *self,
                                                  gint64                    from_seq,
                                                  gboolean                  newest_first,
                                                  HelixAuditReadFunc        func,
                                                  gpointer                  user_data,
                                                  GError                  **error);

HelixAuditCheckpoint *helix_audit_log_checkpoint (HelixAuditLog            *self,
                                                  GError                  **error);
HelixAuditCheckpoint *helix_audit_log_get_latest_checkpoint (HelixAuditLog *self,
                                                  GError                  **error);

gboolean          helix_audit_log_verify         (HelixAuditLog            *self,
                                                  const guint8             *public_key,
                                                  HelixAuditCheckpoint     *known,
                                                  HelixAuditReport         *report,
                                                  GError                  **error);

void              helix_audit_entry_hash         (const guint8             *prev,
                                                  const guint8             *record,
                                                  gsize                     len,
                                                  guint8                   *out);

G_END_DECLS
