/* helix-sync-client.h: keeps a desktop store in sync with a gateway
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-store.h"

G_BEGIN_DECLS

/**
 * HelixSyncState:
 * @HELIX_SYNC_STATE_OFFLINE: not connected: no gateway is set, or the client waits
 *   before it tries again (see #HelixSyncClient:retry-at)
 * @HELIX_SYNC_STATE_CONNECTING: opening the connection, until the gateway's `welcome`
 * @HELIX_SYNC_STATE_SYNCING: connected, receiving the backlog or sending local changes
 *   (#HelixSyncClient:pending says how many wait)
 * @HELIX_SYNC_STATE_UP_TO_DATE: connected, the backlog is applied and every local
 *   change is acknowledged
 *
 * What a sync status shows.
 */
typedef enum
{
  HELIX_SYNC_STATE_OFFLINE,
  HELIX_SYNC_STATE_CONNECTING,
  HELIX_SYNC_STATE_SYNCING,
  HELIX_SYNC_STATE_UP_TO_DATE,
} HelixSyncState;

#define HELIX_TYPE_SYNC_STATE (helix_sync_state_get_type ())

/* Reconnect backoff: exponential with jitter (a delay in the upper half of a
 * ceiling that doubles), from 1 s, capped at 60 s. */
#define HELIX_SYNC_CLIENT_BACKOFF_MIN_MS 1000
#define HELIX_SYNC_CLIENT_BACKOFF_MAX_MS 60000

#define HELIX_TYPE_SYNC_CLIENT (helix_sync_client_get_type ())

G_DECLARE_FINAL_TYPE (HelixSyncClient, helix_sync_client, HELIX, SYNC_CLIENT, GObject)

GType            helix_sync_state_get_type        (void) G_GNUC_CONST;

HelixSyncClient *helix_sync_client_new            (HelixStore       *store);

void             helix_sync_client_connect        (HelixSyncClient  *self,
                                                   const char       *gateway_uri,
                                                   const char       *token);
void             helix_sync_client_disconnect     (HelixSyncClient  *self);

HelixStore      *helix_sync_client_get_store      (HelixSyncClient  *self);
const char      *helix_sync_client_get_gateway_uri (HelixSyncClient *self);
HelixSyncState   helix_sync_client_get_state      (HelixSyncClient  *self);
guint            helix_sync_client_get_pending    (HelixSyncClient  *self);
const char      *helix_sync_client_get_last_error (HelixSyncClient  *self);
gint64           helix_sync_client_get_retry_at   (HelixSyncClient  *self);

void             helix_sync_client_set_backoff    (HelixSyncClient  *self,
                                                   guint             min_ms,
                                                   guint             max_ms);
void             helix_sync_client_request_chat   (HelixSyncClient  *self,
                                                   const char       *session_id,
                                                   const char       *message_id,
                                                   const char       *reply_id,
                                                   const char       *model);
void             helix_sync_client_cancel_chat    (HelixSyncClient  *self,
                                                   const char       *reply_id);
void             helix_sync_client_set_keepalive  (HelixSyncClient  *self,
                                                   guint             ping_interval_ms,
                                                   guint             idle_timeout_ms);

G_END_DECLS
