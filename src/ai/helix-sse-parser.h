/* helix-sse-parser.h: an incremental Server-Sent Events parser
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define HELIX_SSE_ERROR (helix_sse_error_quark ())

/**
 * HelixSseError:
 * @HELIX_SSE_ERROR_LINE_TOO_LONG: a line is longer than the parser's line limit
 * @HELIX_SSE_ERROR_EVENT_TOO_LARGE: the data of one event is larger than the event limit
 * @HELIX_SSE_ERROR_INVALID_UTF8: a line is not valid UTF-8 (or contains a NUL byte)
 *
 * Why a #HelixSseParser stopped. Once it reported an error a parser refuses all
 * further input with the same error.
 */
typedef enum
{
  HELIX_SSE_ERROR_LINE_TOO_LONG,
  HELIX_SSE_ERROR_EVENT_TOO_LARGE,
  HELIX_SSE_ERROR_INVALID_UTF8,
} HelixSseError;

/* Default limits: one line, and the data of one event. */
#define HELIX_SSE_PARSER_DEFAULT_MAX_LINE  (1024 * 1024)
#define HELIX_SSE_PARSER_DEFAULT_MAX_EVENT (1024 * 1024)

/**
 * HelixSseEvent:
 * @type: the event type: the last `event:` field, or "message"
 * @data: the `data:` fields joined with "\n", NUL-terminated
 * @data_len: the length of @data in bytes
 * @last_event_id: the last `id:` field seen so far in the stream (may be "")
 *
 * One dispatched event. Valid only during the callback.
 */
typedef struct
{
  const char *type;
  const char *data;
  gsize       data_len;
  const char *last_event_id;
} HelixSseEvent;

/**
 * HelixSseEventFunc:
 * @event: the event
 * @user_data: the data given to helix_sse_parser_new()
 *
 * Called for each event, in stream order, from within helix_sse_parser_feed().
 * The callback must not free the parser.
 *
 * Returns: %TRUE to go on, %FALSE to stop: the parser then ignores the rest of
 *   the input (helix_sse_parser_is_stopped() says so)
 */
typedef gboolean (*HelixSseEventFunc) (const HelixSseEvent *event,
                                       gpointer             user_data);

typedef struct _HelixSseParser HelixSseParser;

#define HELIX_TYPE_SSE_PARSER (helix_sse_parser_get_type ())

GType           helix_sse_parser_get_type       (void) G_GNUC_CONST;
GQuark          helix_sse_error_quark           (void);

HelixSseParser *helix_sse_parser_new            (HelixSseEventFunc  func,
                                                 gpointer           user_data,
                                                 GDestroyNotify     user_data_free);
HelixSseParser *helix_sse_parser_ref            (HelixSseParser    *self);
void            helix_sse_parser_unref          (HelixSseParser    *self);

void            helix_sse_parser_set_limits     (HelixSseParser    *self,
                                                 gsize              max_line,
                                                 gsize              max_event);
gboolean        helix_sse_parser_feed           (HelixSseParser    *self,
                                                 const char        *data,
                                                 gsize              len,
                                                 GError           **error);
gboolean        helix_sse_parser_has_pending    (HelixSseParser    *self);
gboolean        helix_sse_parser_is_stopped     (HelixSseParser    *self);
gint64          helix_sse_parser_get_retry      (HelixSseParser    *self);
const char     *helix_sse_parser_get_last_event_id (HelixSseParser *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixSseParser, helix_sse_parser_unref)

G_END_DECLS
