/* helix-ws-conn.h: the server side of a WebSocket connection (RFC 6455)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* What queued output one connection may hold, in bytes: a peer that reads
 * nothing is closed with HELIX_WS_CLOSE_OUTPUT_FULL past it. */
#define HELIX_WS_CONN_MAX_OUTPUT_BYTES (8 * 1024 * 1024)

/* How long a closing handshake waits for the peer's close frame, in seconds. */
#define HELIX_WS_CONN_CLOSE_TIMEOUT_S 5

/* The close codes of RFC 6455 section 7.4.1 that the connection uses itself. */
#define HELIX_WS_CLOSE_NORMAL           1000
#define HELIX_WS_CLOSE_GOING_AWAY       1001
#define HELIX_WS_CLOSE_PROTOCOL_ERROR   1002
#define HELIX_WS_CLOSE_UNSUPPORTED_DATA 1003
#define HELIX_WS_CLOSE_NO_STATUS        1005
#define HELIX_WS_CLOSE_ABNORMAL         1006
#define HELIX_WS_CLOSE_BAD_DATA         1007
#define HELIX_WS_CLOSE_POLICY_VIOLATION 1008
#define HELIX_WS_CLOSE_TOO_BIG          1009
#define HELIX_WS_CLOSE_SERVER_ERROR     1011

/* A peer that reads too slowly (HELIX_WS_CONN_MAX_OUTPUT_BYTES queued), or
 * that sent nothing, not even a pong, for three keep-alive intervals: the
 * connection is closed with 1008 (policy violation). */
#define HELIX_WS_CLOSE_OUTPUT_FULL HELIX_WS_CLOSE_POLICY_VIOLATION

typedef enum
{
  HELIX_WS_CONN_STATE_OPEN,
  HELIX_WS_CONN_STATE_CLOSING,
  HELIX_WS_CONN_STATE_CLOSED,
} HelixWsConnState;

typedef struct _HelixWsConn HelixWsConn;

/**
 * HelixWsConnMessageFunc:
 * @conn: the connection
 * @text: (array length=len): a complete text message, valid UTF-8 (it may
 *   hold NUL bytes); not nul-terminated, and only valid during the call
 * @len: its length in bytes
 * @user_data: the data given to helix_ws_conn_start()
 */
typedef void (*HelixWsConnMessageFunc) (HelixWsConn *conn,
                                        const char  *text,
                                        gsize        len,
                                        gpointer     user_data);

/**
 * HelixWsConnClosedFunc:
 * @conn: the connection, now %HELIX_WS_CONN_STATE_CLOSED
 * @code: the code of the peer's close frame (1005 when it had none), else
 *   the code this side closed with, else 1006 (the stream ended or failed)
 * @user_data: the data given to helix_ws_conn_start()
 */
typedef void (*HelixWsConnClosedFunc) (HelixWsConn *conn,
                                       gushort      code,
                                       gpointer     user_data);

HelixWsConn      *helix_ws_conn_new              (GIOStream              *stream,
                                                  gsize                   max_message_bytes);
HelixWsConn      *helix_ws_conn_ref              (HelixWsConn            *conn);
void              helix_ws_conn_unref            (HelixWsConn            *conn);
void              helix_ws_conn_start            (HelixWsConn            *conn,
                                                  HelixWsConnMessageFunc  message_func,
                                                  HelixWsConnClosedFunc   closed_func,
                                                  gpointer                user_data);
void              helix_ws_conn_release          (HelixWsConn            *conn);
void              helix_ws_conn_set_keepalive    (HelixWsConn            *conn,
                                                  guint                   interval_s);
HelixWsConnState  helix_ws_conn_get_state        (HelixWsConn            *conn);
gsize             helix_ws_conn_get_queued_bytes (HelixWsConn            *conn);
gboolean          helix_ws_conn_send_text        (HelixWsConn            *conn,
                                                  const char             *text,
                                                  gsize                   len);
void              helix_ws_conn_close            (HelixWsConn            *conn,
                                                  gushort                 code,
                                                  const char             *reason);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixWsConn, helix_ws_conn_unref)

G_END_DECLS
