/* helix-sync-types.c: wire names of the protocol's enums, and its error domain
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-sync"

#include "config.h"

#include <string.h>

#include "helix-sync-types.h"

G_DEFINE_QUARK (helix-sync-error-quark, helix_sync_error)

/* Indexed by the enums; the order must match helix-sync-types.h. */
static const char * const error_codes[] = {
  "bad_frame", "bad_op", "too_large", "too_deep", "unknown_type",
  "op_conflict", "forbidden", "rate_limited", "unavailable",
};
static const char * const op_kinds[] = {
  "session.put", "message.put", "session.delete",
};
static const char * const frame_kinds[] = {
  "hello", "welcome", "ops", "synced", "push", "ack", "message.delta", "error", "ping", "pong",
  "chat", "chat.failed", "chat.cancel",
};

G_STATIC_ASSERT (G_N_ELEMENTS (error_codes) == HELIX_SYNC_ERROR_UNAVAILABLE + 1);
G_STATIC_ASSERT (G_N_ELEMENTS (op_kinds) == HELIX_SYNC_OP_SESSION_DELETE + 1);
G_STATIC_ASSERT (G_N_ELEMENTS (frame_kinds) == HELIX_SYNC_FRAME_CHAT_CANCEL + 1);

static gboolean
lookup (const char * const *names,
        guint               n_names,
        const char         *str,
        guint              *out)
{
  if (str == NULL)
    return FALSE;

  for (guint i = 0; i < n_names; i++)
    {
      if (strcmp (names[i], str) == 0)
        {
          *out = i;
          return TRUE;
        }
    }

  return FALSE;
}

/**
 * helix_sync_error_to_code:
 * @code: a #HelixSyncError
 *
 * Returns: the wire name of @code, for the `code` member of an `error` frame
 */
const char *
helix_sync_error_to_code (HelixSyncError code)
{
  g_return_val_if_fail ((guint) code < G_N_ELEMENTS (error_codes), "bad_frame");

  return error_codes[code];
}

gboolean
helix_sync_error_from_code (const char     *str,
                            HelixSyncError *code)
{
  guint i;

  if (!lookup (error_codes, G_N_ELEMENTS (error_codes), str, &i))
    return FALSE;
  if (code != NULL)
    *code = (HelixSyncError) i;

  return TRUE;
}

const char *
helix_sync_op_kind_to_string (HelixSyncOpKind kind)
{
  g_return_val_if_fail ((guint) kind < G_N_ELEMENTS (op_kinds), NULL);

  return op_kinds[kind];
}

gboolean
helix_sync_op_kind_from_string (const char      *str,
                                HelixSyncOpKind *kind)
{
  guint i;

  if (!lookup (op_kinds, G_N_ELEMENTS (op_kinds), str, &i))
    return FALSE;
  if (kind != NULL)
    *kind = (HelixSyncOpKind) i;

  return TRUE;
}

const char *
helix_sync_frame_kind_to_string (HelixSyncFrameKind kind)
{
  g_return_val_if_fail ((guint) kind < G_N_ELEMENTS (frame_kinds), NULL);

  return frame_kinds[kind];
}

gboolean
helix_sync_frame_kind_from_string (const char         *str,
                                   HelixSyncFrameKind *kind)
{
  guint i;

  if (!lookup (frame_kinds, G_N_ELEMENTS (frame_kinds), str, &i))
    return FALSE;
  if (kind != NULL)
    *kind = (HelixSyncFrameKind) i;

  return TRUE;
}

/**
 * helix_sync_frame_kind_sent_by_device:
 * @kind: a frame kind
 *
 * The gateway answers a frame a device may not send with `forbidden`.
 *
 * Returns: whether a device may send frames of @kind
 */
gboolean
helix_sync_frame_kind_sent_by_device (HelixSyncFrameKind kind)
{
  switch (kind)
    {
    case HELIX_SYNC_FRAME_HELLO:
    case HELIX_SYNC_FRAME_PUSH:
    case HELIX_SYNC_FRAME_MESSAGE_DELTA:
    case HELIX_SYNC_FRAME_ERROR:
    case HELIX_SYNC_FRAME_PING:
    case HELIX_SYNC_FRAME_PONG:
    case HELIX_SYNC_FRAME_CHAT:
    case HELIX_SYNC_FRAME_CHAT_CANCEL:
      return TRUE;

    case HELIX_SYNC_FRAME_WELCOME:
    case HELIX_SYNC_FRAME_OPS:
    case HELIX_SYNC_FRAME_SYNCED:
    case HELIX_SYNC_FRAME_ACK:
    case HELIX_SYNC_FRAME_CHAT_FAILED:
      return FALSE;

    default:
      g_return_val_if_reached (FALSE);
    }
}

/**
 * helix_sync_frame_kind_sent_by_gateway:
 * @kind: a frame kind
 *
 * Returns: whether a gateway may send frames of @kind
 */
gboolean
helix_sync_frame_kind_sent_by_gateway (HelixSyncFrameKind kind)
{
  switch (kind)
    {
    case HELIX_SYNC_FRAME_WELCOME:
    case HELIX_SYNC_FRAME_OPS:
    case HELIX_SYNC_FRAME_SYNCED:
    case HELIX_SYNC_FRAME_ACK:
    case HELIX_SYNC_FRAME_MESSAGE_DELTA:
    case HELIX_SYNC_FRAME_ERROR:
    case HELIX_SYNC_FRAME_PING:
    case HELIX_SYNC_FRAME_PONG:
    case HELIX_SYNC_FRAME_CHAT_FAILED:
      return TRUE;

    case HELIX_SYNC_FRAME_HELLO:
    case HELIX_SYNC_FRAME_PUSH:
    case HELIX_SYNC_FRAME_CHAT:
    case HELIX_SYNC_FRAME_CHAT_CANCEL:
      return FALSE;

    default:
      g_return_val_if_reached (FALSE);
    }
}
