/* helix-sync-op-private.h: the fields of HelixSyncOp, for the files of the op
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

#include "helix-hlc.h"
#include "helix-uuid.h"
#include "helix-sync-types.h"

G_BEGIN_DECLS

struct _HelixSyncOp
{
  gatomicrefcount  ref_count;
  HelixSyncOpKind  kind;
  char             op_id[HELIX_UUID_STRING_LEN + 1];
  char             id[HELIX_UUID_STRING_LEN + 1];
  char             session_id[HELIX_UUID_STRING_LEN + 1];  /* empty unless message.put */
  HelixHlc         hlc;
  gint64           seq;                                    /* 0: none */
  JsonObject      *data;                                   /* NULL for session.delete */
};

G_END_DECLS
