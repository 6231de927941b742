/* helix-audit-checkpoint.h: signed (size, head) notes of the audit trail
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define HELIX_AUDIT_ERROR (helix_audit_error_quark ())

/**
 * HelixAuditError:
 * @HELIX_AUDIT_ERROR_IO: the log could not be read or written
 * @HELIX_AUDIT_ERROR_INVALID: an entry or a checkpoint is malformed
 * @HELIX_AUDIT_ERROR_NEWER: the log was written by a newer Helix
 * @HELIX_AUDIT_ERROR_SIGNATURE: a checkpoint is not signed by the expected key
 */
typedef enum
{
  HELIX_AUDIT_ERROR_IO,
  HELIX_AUDIT_ERROR_INVALID,
  HELIX_AUDIT_ERROR_NEWER,
  HELIX_AUDIT_ERROR_SIGNATURE,
} HelixAuditError;

GQuark helix_audit_error_quark (void);

#define HELIX_AUDIT_PUBLIC_KEY_BYTES  32
#define HELIX_AUDIT_SECRET_KEY_BYTES  64
#define HELIX_AUDIT_HASH_BYTES        32
/* A checkpoint note, at most. */
#define HELIX_AUDIT_MAX_NOTE          4096

/* An ed25519 key pair that signs checkpoints. */
typedef struct _HelixAuditSigner HelixAuditSigner;

#define HELIX_TYPE_AUDIT_SIGNER (helix_audit_signer_get_type ())

GType             helix_audit_signer_get_type       (void) G_GNUC_CONST;
HelixAuditSigner *helix_audit_signer_new            (const char       *name,
                                                     GError          **error);
HelixAuditSigner *helix_audit_signer_new_from_secret (const char      *name,
                                                      const guint8    *secret,
                                                      GError         **error);
HelixAuditSigner *helix_audit_signer_ref            (HelixAuditSigner *self);
void              helix_audit_signer_unref          (HelixAuditSigner *self);
const char       *helix_audit_signer_get_name       (HelixAuditSigner *self);
const guint8     *helix_audit_signer_get_public_key (HelixAuditSigner *self);
const guint8     *helix_audit_signer_get_secret_key (HelixAuditSigner *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixAuditSigner, helix_audit_signer_unref)

/**
 * HelixAuditCheckpoint:
 * @origin: the log's name
 * @size: entries covered
 * @head: (array fixed-size=32): the hash of entry @size (zeros for 0)
 * @note: the signed note text (C2SP signed-note / tlog-checkpoint form)
 */
typedef struct
{
  char   *origin;
  gint64  size;
  guint8  head[HELIX_AUDIT_HASH_BYTES];
  char   *note;
} HelixAuditCheckpoint;

HelixAuditCheckpoint *helix_audit_checkpoint_sign   (HelixAuditSigner      *signer,
                                                     const char            *origin,
                                                     gint64                 size,
                                                     const guint8          *head);
HelixAuditCheckpoint *helix_audit_checkpoint_parse  (const char            *note,
                                                     gssize                 len,
                                                     const guint8          *public_key,
                                                     const char            *key_name,
                                                     GError               **error);
void                  helix_audit_checkpoint_free   (HelixAuditCheckpoint  *checkpoint);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixAuditCheckpoint, helix_audit_checkpoint_free)

G_END_DECLS
