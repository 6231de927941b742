/* helix-webhook-queue.h: audit entries delivered to webhooks, at least once
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * HelixWebhookFormat:
 * @HELIX_WEBHOOK_FORMAT_JSON: `{"sink", "entries": [{"seq", "channel", "entry"}], "checkpoint"}`
 * @HELIX_WEBHOOK_FORMAT_DISCORD: a Discord message: `content` and one embed per entry,
 *   within Discord's limits (10 embeds, 6,000 characters)
 */
typedef enum
{
  HELIX_WEBHOOK_FORMAT_JSON,
  HELIX_WEBHOOK_FORMAT_DISCORD,
} HelixWebhookFormat;

/* Defaults */
#define HELIX_WEBHOOK_MAX_BATCH            10
#define HELIX_WEBHOOK_TIMEOUT_S            10
#define HELIX_WEBHOOK_BACKOFF_MIN_MS       1000
#define HELIX_WEBHOOK_BACKOFF_MAX_MS       300000
#define HELIX_WEBHOOK_FAILOVER_AFTER       3
#define HELIX_WEBHOOK_ALERT_AFTER_S        600
/* Discord: 5 messages per 5 seconds per webhook. */
#define HELIX_WEBHOOK_DISCORD_BURST        5
#define HELIX_WEBHOOK_DISCORD_WINDOW_MS    5000
/* An entry, at most. */
#define HELIX_WEBHOOK_MAX_ENTRY            (64 * 1024)

/**
 * HelixWebhookItem:
 * @sink: the sink's name
 * @seq: the entry's seq in the audit log
 * @channel: its channel
 * @entry: the entry as a JSON object, sanitized
 */
typedef struct
{
  const char *sink;
  gint64      seq;
  const char *channel;
  const char *entry;
} HelixWebhookItem;

#define HELIX_TYPE_WEBHOOK_QUEUE (helix_webhook_queue_get_type ())

G_DECLARE_FINAL_TYPE (HelixWebhookQueue, helix_webhook_queue, HELIX, WEBHOOK_QUEUE, GObject)

HelixWebhookQueue *helix_webhook_queue_open           (const char          *path,
                                                       GError             **error);
void               helix_webhook_queue_close          (HelixWebhookQueue   *self);
gboolean           helix_webhook_queue_add_sink       (HelixWebhookQueue   *self,
                                                       const char          *name,
                                                       HelixWebhookFormat   format,
                                                       const char          *url,
                                                       const char          *backup_url,
                                                       GError             **error);
void               helix_webhook_queue_set_timing     (HelixWebhookQueue   *self,
                                                       guint                timeout_s,
                                                       guint                backoff_min_ms,
                                                       guint                backoff_max_ms,
                                                       guint                alert_after_s);
void               helix_webhook_queue_set_checkpoint (HelixWebhookQueue   *self,
                                                       const char          *note);
gboolean           helix_webhook_queue_enqueue        (HelixWebhookQueue   *self,
                                                       const char          *sink,
                                                       gint64               seq,
                                                       const char          *channel,
                                                       const char          *entry,
                                                       GError             **error);
gboolean           helix_webhook_queue_enqueue_batch  (HelixWebhookQueue   *self,
                                                       const HelixWebhookItem *items,
                                                       guint                n_items,
                                                       GError             **error);
gboolean           helix_webhook_queue_get_mark       (HelixWebhookQueue   *self,
                                                       const char          *sink,
                                                       gint64              *through);
gboolean           helix_webhook_queue_set_mark       (HelixWebhookQueue   *self,
                                                       const char          *sink,
                                                       gint64               through,
                                                       GError             **error);
void               helix_webhook_queue_start          (HelixWebhookQueue   *self);
guint              helix_webhook_queue_get_pending    (HelixWebhookQueue   *self,
                                                       const char          *sink);
const char        *helix_webhook_queue_get_last_error (HelixWebhookQueue   *self,
                                                       const char          *sink);

G_END_DECLS
