/* helix-sync-private.h: helpers shared by the files of the sync library
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

#include "helix-hlc.h"
#include "helix-sync-types.h"

G_BEGIN_DECLS

/* How an op's `seq` member is treated: `ops` frames require it, `push` frames forbid it. */
typedef enum
{
  HELIX_SYNC_SEQ_FORBIDDEN,
  HELIX_SYNC_SEQ_REQUIRED,
  HELIX_SYNC_SEQ_OPTIONAL,
} HelixSyncSeqMode;

char        *_helix_sync_excerpt       (const char          *str);
guint        _helix_sync_backoff_delay_ms (guint             min_ms,
                                           guint             max_ms,
                                           guint             attempt,
                                           double            random);
gboolean     _helix_sync_check_members (JsonObject          *object,
                                        const char * const  *allowed,
                                        HelixSyncError       code,
                                        const char          *what,
                                        GError             **error);
gboolean     _helix_sync_get_string    (JsonObject          *object,
                                        const char          *name,
                                        gboolean             required,
                                        gsize                max_bytes,
                                        HelixSyncError       code,
                                        const char         **out,
                                        GError             **error);
gboolean     _helix_sync_get_uuid      (JsonObject          *object,
                                        const char          *name,
                                        gboolean             required,
                                        HelixSyncError       code,
                                        const char         **out,
                                        GError             **error);
gboolean     _helix_sync_get_int       (JsonObject          *object,
                                        const char          *name,
                                        gboolean             required,
                                        gint64               min,
                                        gint64               max,
                                        HelixSyncError       code,
                                        gint64              *out,
                                        gboolean            *present,
                                        GError             **error);
gboolean     _helix_sync_get_bool      (JsonObject          *object,
                                        const char          *name,
                                        HelixSyncError       code,
                                        gboolean            *out,
                                        gboolean            *present,
                                        GError             **error);
gboolean     _helix_sync_get_number    (JsonObject          *object,
                                        const char          *name,
                                        double               min,
                                        HelixSyncError       code,
                                        double              *out,
                                        gboolean            *present,
                                        GError             **error);

HelixSyncOp *_helix_sync_op_new_from_object (JsonObject        *object,
                                             HelixSyncSeqMode   seq_mode,
                                             GError           **error);
HelixSyncOp *_helix_sync_op_new_parsed      (HelixSyncOpKind    kind,
                                             const char        *op_id,
                                             const char        *id,
                                             const char        *session_id,
                                             const HelixHlc    *hlc,
                                             JsonObject        *data);
void         _helix_sync_op_build           (HelixSyncOp       *op,
                                             JsonBuilder       *builder,
                                             gboolean           with_seq);

HelixSyncFrame *_helix_sync_frame_parse_push_fast (const char  *text,
                                                  gsize        len);
HelixSyncFrame *_helix_sync_frame_parse_tree      (const char  *text,
                                                  gsize        len,
                                                  char       **bad_op_id,
                                                  GError     **error);

G_END_DECLS
