/* helix-sync-types.h: limits, enums and the error domain of the sync protocol
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/* Largest frame either side accepts, in bytes; a bigger one is closed with 1009. */
#define HELIX_SYNC_MAX_FRAME_BYTES   (1024 * 1024)
#define HELIX_SYNC_MAX_MODEL_BYTES   256
/* Deepest nesting of arrays and objects a frame may have. */
#define HELIX_SYNC_MAX_DEPTH         64
/* Most operations in one `ops` or `push` frame, and most acks in one `ack` frame. */
#define HELIX_SYNC_MAX_OPS           500
/* Largest integer on the wire: 2^53 - 1, which every JSON implementation holds exactly. */
#define HELIX_SYNC_MAX_INT           G_GINT64_CONSTANT (9007199254740991)

/* Field limits, in bytes of UTF-8. */
#define HELIX_SYNC_MAX_TITLE_BYTES   1024
#define HELIX_SYNC_MAX_CONTENT_BYTES (4 * 1024 * 1024)
#define HELIX_SYNC_MAX_NAME_BYTES    256
#define HELIX_SYNC_MAX_DELTA_BYTES   (64 * 1024)
#define HELIX_SYNC_MAX_MESSAGE_BYTES 4096
#define HELIX_SYNC_MAX_CODE_BYTES    64
#define HELIX_SYNC_MAX_PING_ID_BYTES 64

typedef struct _HelixSyncOp    HelixSyncOp;
typedef struct _HelixSyncFrame HelixSyncFrame;

#define HELIX_SYNC_ERROR (helix_sync_error_quark ())

/**
 * HelixSyncError:
 * @HELIX_SYNC_ERROR_BAD_FRAME: not JSON, not an object, or a frame member is missing,
 *   of the wrong type, out of range or unknown (`bad_frame`)
 * @HELIX_SYNC_ERROR_BAD_OP: an operation is malformed (`bad_op`)
 * @HELIX_SYNC_ERROR_TOO_LARGE: the frame is over 1 MiB or holds more than 500 ops
 *   (`too_large`)
 * @HELIX_SYNC_ERROR_TOO_DEEP: arrays and objects nest deeper than 64 (`too_deep`)
 * @HELIX_SYNC_ERROR_UNKNOWN_TYPE: the frame `type` is not one this side knows
 *   (`unknown_type`)
 * @HELIX_SYNC_ERROR_OP_CONFLICT: an op id was reused for a different operation
 *   (`op_conflict`)
 * @HELIX_SYNC_ERROR_FORBIDDEN: the frame is not allowed here or now (`forbidden`)
 * @HELIX_SYNC_ERROR_RATE_LIMITED: the device sends too fast (`rate_limited`)
 * @HELIX_SYNC_ERROR_UNAVAILABLE: the gateway cannot serve the request now
 *   (`unavailable`)
 *
 * Each code has a wire name, the `code` of an `error` frame; see
 * helix_sync_error_to_code().
 */
typedef enum
{
  HELIX_SYNC_ERROR_BAD_FRAME,
  HELIX_SYNC_ERROR_BAD_OP,
  HELIX_SYNC_ERROR_TOO_LARGE,
  HELIX_SYNC_ERROR_TOO_DEEP,
  HELIX_SYNC_ERROR_UNKNOWN_TYPE,
  HELIX_SYNC_ERROR_OP_CONFLICT,
  HELIX_SYNC_ERROR_FORBIDDEN,
  HELIX_SYNC_ERROR_RATE_LIMITED,
  HELIX_SYNC_ERROR_UNAVAILABLE,
} HelixSyncError;

/**
 * HelixSyncOpKind:
 * @HELIX_SYNC_OP_SESSION_PUT: `session.put`, creates a session or sets some of its fields
 * @HELIX_SYNC_OP_MESSAGE_PUT: `message.put`, appends a message to a session
 * @HELIX_SYNC_OP_SESSION_DELETE: `session.delete`, leaves a tombstone
 */
typedef enum
{
  HELIX_SYNC_OP_SESSION_PUT,
  HELIX_SYNC_OP_MESSAGE_PUT,
  HELIX_SYNC_OP_SESSION_DELETE,
} HelixSyncOpKind;

/**
 * HelixSyncFrameKind:
 * @HELIX_SYNC_FRAME_HELLO: `hello`, device → gateway, first frame
 * @HELIX_SYNC_FRAME_WELCOME: `welcome`, gateway → device, answers hello
 * @HELIX_SYNC_FRAME_OPS: `ops`, gateway → device, stored ops with their seq
 * @HELIX_SYNC_FRAME_SYNCED: `synced`, gateway → device, the backlog is sent
 * @HELIX_SYNC_FRAME_PUSH: `push`, device → gateway, new ops
 * @HELIX_SYNC_FRAME_ACK: `ack`, gateway → device, the seq of each pushed op
 * @HELIX_SYNC_FRAME_MESSAGE_DELTA: `message.delta`, either way, streamed text, not stored
 * @HELIX_SYNC_FRAME_ERROR: `error`, either way
 * @HELIX_SYNC_FRAME_PING: `ping`, either way
 * @HELIX_SYNC_FRAME_PONG: `pong`, either way, answers ping
 * @HELIX_SYNC_FRAME_CHAT: `chat`, device → gateway: answer a stored user message
 * @HELIX_SYNC_FRAME_CHAT_FAILED: `chat.failed`, gateway → device: no answer came
 * @HELIX_SYNC_FRAME_CHAT_CANCEL: `chat.cancel`, device → gateway: stop writing an answer
 */
typedef enum
{
  HELIX_SYNC_FRAME_HELLO,
  HELIX_SYNC_FRAME_WELCOME,
  HELIX_SYNC_FRAME_OPS,
  HELIX_SYNC_FRAME_SYNCED,
  HELIX_SYNC_FRAME_PUSH,
  HELIX_SYNC_FRAME_ACK,
  HELIX_SYNC_FRAME_MESSAGE_DELTA,
  HELIX_SYNC_FRAME_ERROR,
  HELIX_SYNC_FRAME_PING,
  HELIX_SYNC_FRAME_PONG,
  HELIX_SYNC_FRAME_CHAT,
  HELIX_SYNC_FRAME_CHAT_FAILED,
  HELIX_SYNC_FRAME_CHAT_CANCEL,
} HelixSyncFrameKind;

GQuark      helix_sync_error_quark          (void);
const char *helix_sync_error_to_code        (HelixSyncError      code);
gboolean    helix_sync_error_from_code      (const char         *str,
                                             HelixSyncError     *code);

const char *helix_sync_op_kind_to_string    (HelixSyncOpKind     kind);
gboolean    helix_sync_op_kind_from_string  (const char         *str,
                                             HelixSyncOpKind    *kind);
const char *helix_sync_frame_kind_to_string (HelixSyncFrameKind  kind);
gboolean    helix_sync_frame_kind_from_string (const char       *str,
                                               HelixSyncFrameKind *kind);
gboolean    helix_sync_frame_kind_sent_by_device  (HelixSyncFrameKind kind);
gboolean    helix_sync_frame_kind_sent_by_gateway (HelixSyncFrameKind kind);

G_END_DECLS
