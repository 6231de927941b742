/* helix-audit.c: the audit trail as a service
 *
 * One writer thread owns the log (helix-audit-log.c). Callers hand it entries
 * and go on; it sanitizes their payloads, appends whatever has arrived meanwhile
 * in one durable transaction (a group commit), and only then answers each
 * caller: a privileged action runs in the callback of
 * helix_audit_record_async() and not at all when it failed (fail closed).
 *
 * After each commit the writer queues the new entries for the webhook sinks
 * whose channels they are on (helix-webhook-queue.c), in the same order, and
 * advances every sink's mark; at start it catches each sink up from its mark,
 * so an entry committed just before a crash is still delivered. A new
 * checkpoint becomes an entry of the hash-chain channel (so receivers keep
 * it) and rides with every webhook batch.
 *
 * Verifying and listing open a second connection in a worker thread: neither
 * holds up appends, and nothing here waits for the disk on the main loop
 * except opening the files.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-audit"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helix-audit.h"
#include "helix-json.h"
#include "helix-sanitizer.h"

/* Entries appended in one transaction, at most. */
#define MAX_GROUP      512
/* Entries read per step while catching a sink up. */
#define CATCH_UP_CHUNK 1000
#define KEY_MAGIC      "helix-audit-key-v1"
#define MAX_KEY_FILE   1024

typedef struct
{
  char  *name;
  char  *url;
  char **channels;
} Sink;

/* A caller of helix_audit_record_sync(), blocked until its entry is written. */
typedef struct
{
  GMutex   mutex;
  GCond    cond;
  gboolean done;
  GError  *error;
} Waiter;

typedef enum
{
  JOB_RECORD,
  JOB_START,
  JOB_CHECKPOINT_EVERY,
  JOB_SIGNER,
  JOB_STOP,
} JobKind;

typedef struct
{
  JobKind    kind;
  char      *channel;
  char      *actor;
  char      *event;
  char      *payload;
  gint64     time_us;
  GTask     *task;        /* (nullable): a caller waits on a main loop */
  Waiter    *waiter;      /* (nullable): a caller waits, blocked */
  GPtrArray *sinks;       /* JOB_START: Sink */
  gint64     mark;        /* JOB_START: where new sinks begin */
  guint      n_entries;   /* JOB_CHECKPOINT_EVERY */
  guint      seconds;
  HelixAuditSigner *signer;  /* JOB_SIGNER */
} Job;

struct _HelixAudit
{
  GObject            parent_instance;

  char              *log_path;
  char              *origin;
  HelixAuditSigner  *signer;       /* (nullable) */
  guint8             public_key[HELIX_AUDIT_PUBLIC_KEY_BYTES];
  HelixWebhookQueue *queue;
  GPtrArray         *sinks;        /* Sink; fixed once started */
  GHashTable        *failing;      /* sink name set */
  GMainContext      *context;
  gboolean           started;
  gint64             open_size;    /* the log's size when opened */

  GThread           *writer;
  GAsyncQueue       *jobs;

  /* The writer's own */
  HelixAuditLog     *log;
  GPtrArray         *routes;       /* Sink, once started */
  gboolean           behind;       /* a webhook enqueue failed: catch up */
  gint64             checkpoint_size;

  GMutex             mutex;        /* around the fields below */
  gint64             size;
  char              *latest_checkpoint;
  char              *last_error;
  gboolean           closed;

  guint              heartbeat;
  char              *heartbeat_actor;
  gint64             started_us;
};

G_DEFINE_FINAL_TYPE (HelixAudit, helix_audit, G_TYPE_OBJECT)

enum {
  ENTRY_ADDED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
sink_free (gpointer data)
{
  Sink *sink = data;

  g_free (sink->name);
  g_free (sink->url);
  g_strfreev (sink->channels);
  g_free (sink);
}

static void
job_free (Job *job)
{
  g_free (job->channel);
  g_free (job->actor);
  g_free (job->event);
  g_free (job->payload);
  g_clear_object (&job->task);
  g_clear_pointer (&job->sinks, g_ptr_array_unref);
  g_clear_pointer (&job->signer, helix_audit_signer_unref);
  g_free (job);
}

void
helix_audit_sink_status_free (HelixAuditSinkStatus *status)
{
  if (status == NULL)
    return;

  g_free (status->name);
  g_free (status->url);
  g_strfreev (status->channels);
  g_free (status->last_error);
  g_free (status);
}

static void
set_last_error (HelixAudit *self,
                const char *message)
{
  g_mutex_lock (&self->mutex);
  g_free (self->last_error);
  self->last_error = g_strdup (message);
  g_mutex_unlock (&self->mutex);
}

/* Webhook entries {{{1 */

/* The entry as receivers get it: {"seq", "time", "channel", "actor", "event", "payload"}. */
static char *
webhook_entry (const HelixAuditEntry *entry)
{
  g_autoptr(GDateTime) time = g_date_time_new_from_unix_utc (entry->time_us / G_USEC_PER_SEC);
  g_autofree char *iso = time != NULL ? g_date_time_format_iso8601 (time) : g_strdup ("");
  GString *out = g_string_sized_new (128 + strlen (entry->payload));

  g_string_append_printf (out, "{\"seq\":%" G_GINT64_FORMAT ",\"time\":", entry->seq);
  helix_json_append_string (out, iso);
  g_string_append (out, ",\"channel\":");
  helix_json_append_string (out, entry->channel);
  g_string_append (out, ",\"actor\":");
  helix_json_append_string (out, entry->actor);
  g_string_append (out, ",\"event\":");
  helix_json_append_string (out, entry->event);
  g_string_append_printf (out, ",\"payload\":%s}", entry->payload);

  return g_string_free (out, FALSE);
}

static gboolean
sink_takes (const Sink *sink,
            const char *channel)
{
  return g_strv_contains ((const char * const *) sink->channels, channel);
}

/* Queues @entries for the sinks on their channels, and moves every sink's
 * mark to the last of them. On the writer thread. */
static gboolean
route_entries (HelixAudit             *self,
               const HelixAuditEntry  *entries,
               guint                   n_entries,
               GError                **error)
{
  g_autoptr(GArray) items = NULL;
  g_autoptr(GPtrArray) texts = NULL;

  if (self->routes == NULL || self->routes->len == 0 || n_entries == 0)
    return TRUE;

  items = g_array_new (FALSE, TRUE, sizeof (HelixWebhookItem));
  texts = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n_entries; i++)
    {
      char *text = NULL;

      for (guint s = 0; s < self->routes->len; s++)
        {
          const Sink *sink = g_ptr_array_index (self->routes, s);
          HelixWebhookItem item = { sink->name, entries[i].seq, entries[i].channel, NULL };

          if (sink_takes (sink, entries[i].channel))
            {
              if (text == NULL)
                g_ptr_array_add (texts, (text = webhook_entry (&entries[i])));
              item.entry = text;
              g_array_append_val (items, item);
            }
          else if (i == n_entries - 1)
            {
              /* Nothing for it: only its mark moves. */
              g_array_append_val (items, item);
            }
        }
    }

  return helix_webhook_queue_enqueue_batch (self->queue, (HelixWebhookItem *) items->data,
                                            items->len, error);
}

typedef struct
{
  GArray    *entries;   /* HelixAuditEntry, strings in @strings */
  GPtrArray *strings;
} Chunk;

static gboolean
collect_entry (const HelixAuditEntry *entry,
               gpointer               user_data)
{
  Chunk *chunk = user_data;
  HelixAuditEntry copy = *entry;

  g_ptr_array_add (chunk->strings, (char *) (copy.channel = g_strdup (entry->channel)));
  g_ptr_array_add (chunk->strings, (char *) (copy.actor = g_strdup (entry->actor)));
  g_ptr_array_add (chunk->strings, (char *) (copy.event = g_strdup (entry->event)));
  g_ptr_array_add (chunk->strings, (char *) (copy.payload = g_strdup (entry->payload)));
  g_array_append_val (chunk->entries, copy);

  return chunk->entries->len < CATCH_UP_CHUNK;
}

/* Queues what each sink missed: the entries after its mark. */
static gboolean
catch_up (HelixAudit  *self,
          gint64       new_sink_mark,
          GError     **error)
{
  g_autofree gint64 *marks = NULL;
  gint64 from = G_MAXINT64;

  if (self->routes == NULL || self->routes->len == 0)
    return TRUE;

  marks = g_new0 (gint64, self->routes->len);
  for (guint s = 0; s < self->routes->len; s++)
    {
      const Sink *sink = g_ptr_array_index (self->routes, s);

      if (!helix_webhook_queue_get_mark (self->queue, sink->name, &marks[s]))
        {
          /* A new sink starts with the entries of this run. */
          if (!helix_webhook_queue_set_mark (self->queue, sink->name, new_sink_mark, error))
            return FALSE;
          marks[s] = new_sink_mark;
        }
      from = MIN (from, marks[s]);
    }

  /* A sink further on gets nothing twice: entries up to its mark are skipped. */
  while (from < helix_audit_log_get_size (self->log))
    {
      Chunk chunk = { g_array_new (FALSE, TRUE, sizeof (HelixAuditEntry)),
                      g_ptr_array_new_with_free_func (g_free) };
      g_autoptr(GArray) items = g_array_new (FALSE, TRUE, sizeof (HelixWebhookItem));
      g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
      gint64 last = from;
      gboolean ok;

      ok = helix_audit_log_read (self->log, from, FALSE, collect_entry, &chunk, error);
      for (guint i = 0; ok && i < chunk.entries->len; i++)
        {
          const HelixAuditEntry *entry = &g_array_index (chunk.entries, HelixAuditEntry, i);
          char *text = NULL;

          last = entry->seq;
          for (guint s = 0; s < self->routes->len; s++)
            {
              const Sink *sink = g_ptr_array_index (self->routes, s);
              HelixWebhookItem item = { sink->name, entry->seq, entry->channel, NULL };

              if (entry->seq <= marks[s])
                continue;
              if (sink_takes (sink, entry->channel))
                {
                  if (text == NULL)
                    g_ptr_array_add (texts, (text = webhook_entry (entry)));
                  item.entry = text;
                }
              else if (i != chunk.entries->len - 1)
                continue;
              g_array_append_val (items, item);
            }
        }
      ok = ok && helix_webhook_queue_enqueue_batch (self->queue, (HelixWebhookItem *) items->data,
                                                    items->len, error);
      g_array_unref (chunk.entries);
      g_ptr_array_unref (chunk.strings);
      if (!ok)
        return FALSE;
      if (last == from)
        break;
      for (guint s = 0; s < self->routes->len; s++)
        marks[s] = MAX (marks[s], last);
      from = last;
    }

  return TRUE;
}

/* The writer {{{1 */

/* What the main context hears after a group: entries added, callers answered. */
typedef struct
{
  HelixAudit *self;
  GArray     *added;     /* Added */
  GPtrArray  *answers;   /* Answer */
} Emission;

typedef struct
{
  GTask  *task;
  gint64  seq;
  GError *error;
} Answer;

typedef struct
{
  gint64  seq;
  char   *channel;
  char   *event;
} Added;

static void
emission_free (gpointer data)
{
  Emission *emission = data;

  for (guint i = 0; i < emission->added->len; i++)
    {
      g_free (g_array_index (emission->added, Added, i).channel);
      g_free (g_array_index (emission->added, Added, i).event);
    }
  g_array_unref (emission->added);
  g_ptr_array_unref (emission->answers);
  g_object_unref (emission->self);
  g_free (emission);
}

static gboolean
emit_added (gpointer data)
{
  Emission *emission = data;

  for (guint i = 0; i < emission->added->len; i++)
    {
      Added *added = &g_array_index (emission->added, Added, i);

      g_signal_emit (emission->self, signals[ENTRY_ADDED], 0, added->seq, added->channel,
                     added->event);
    }

  /* Answered here rather than on the writer: the tasks' last references
   * (and with them the trail's) are never dropped on the writer thread. */
  for (guint i = 0; i < emission->answers->len; i++)
    {
      Answer *answer = g_ptr_array_index (emission->answers, i);

      if (answer->error != NULL)
        g_task_return_error (answer->task, g_steal_pointer (&answer->error));
      else
        g_task_return_int (answer->task, answer->seq);
    }

  return G_SOURCE_REMOVE;
}

static void
answer_free (gpointer data)
{
  Answer *answer = data;

  g_clear_object (&answer->task);
  g_clear_error (&answer->error);
  g_free (answer);
}

/* Tells @job's caller how it went: a blocked one at once, a task from the main context. */
static void
answer_job (Job       *job,
            GPtrArray *answers,
            gint64     seq,
            GError    *error)
{
  if (job->waiter != NULL)
    {
      g_mutex_lock (&job->waiter->mutex);
      job->waiter->error = error != NULL ? g_error_copy (error) : NULL;
      job->waiter->done = TRUE;
      g_cond_signal (&job->waiter->cond);
      g_mutex_unlock (&job->waiter->mutex);
      job->waiter = NULL;
    }
  else if (job->task != NULL)
    {
      Answer *answer = g_new0 (Answer, 1);

      answer->task = g_steal_pointer (&job->task);
      answer->seq = seq;
      answer->error = error != NULL ? g_error_copy (error) : NULL;
      g_ptr_array_add (answers, answer);
    }
  else if (error != NULL)
    {
      g_warning ("An audit entry (%s %s) was not written: %s", job->channel, job->event,
                 error->message);
    }
}

/* Appends @jobs' entries in one transaction; each job learns its seq or the error. */
static gboolean
append_group (HelixAudit *self,
              GPtrArray  *jobs,
              GArray     *added,
              GPtrArray  *answers)
{
  g_autoptr(GArray) entries = g_array_new (FALSE, TRUE, sizeof (HelixAuditEntry));
  g_autoptr(GError) error = NULL;
  gint64 first = 0;

  for (guint i = 0; i < jobs->len; i++)
    {
      Job *job = g_ptr_array_index (jobs, i);
      HelixAuditEntry entry = { 0, job->time_us, job->channel, job->actor, job->event, job->payload };

      g_array_append_val (entries, entry);
    }

  if (!helix_audit_log_append_batch (self->log, (HelixAuditEntry *) entries->data, entries->len,
                                     &first, &error))
    {
      /* One bad entry must not sink the others: then each goes alone. */
      if (jobs->len > 1 && g_error_matches (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_INVALID))
        {
          gboolean any = FALSE;

          for (guint i = 0; i < jobs->len; i++)
            {
              g_autoptr(GPtrArray) one = g_ptr_array_new ();

              g_ptr_array_add (one, g_ptr_array_index (jobs, i));
              any |= append_group (self, one, added, answers);
            }
          return any;
        }

      set_last_error (self, error->message);
      for (guint i = 0; i < jobs->len; i++)
        answer_job (g_ptr_array_index (jobs, i), answers, 0, error);
      return FALSE;
    }

  for (guint i = 0; i < entries->len; i++)
    {
      HelixAuditEntry *entry = &g_array_index (entries, HelixAuditEntry, i);
      Added item = { first + i, g_strdup (entry->channel), g_strdup (entry->event) };

      entry->seq = first + i;
      g_array_append_val (added, item);
    }

  g_mutex_lock (&self->mutex);
  self->size = first + entries->len - 1;
  g_mutex_unlock (&self->mutex);

  /* The entries are durable: queue them for the sinks, then answer. A queue
   * that failed is caught up from the marks later. */
  if (self->behind)
    self->behind = !catch_up (self, self->size, NULL);
  else if (!route_entries (self, (HelixAuditEntry *) entries->data, entries->len, &error))
    {
      g_warning ("Audit entries wait for their webhooks: %s", error->message);
      self->behind = TRUE;
    }

  for (guint i = 0; i < jobs->len; i++)
    answer_job (g_ptr_array_index (jobs, i), answers, first + i, NULL);

  return TRUE;
}

/* A new checkpoint is kept in the log as a hash-chain entry and goes with
 * every webhook batch from now on. */
static void
note_checkpoint (HelixAudit *self,
                 GArray     *added,
                 GPtrArray  *answers)
{
  g_autoptr(HelixAuditCheckpoint) checkpoint = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) payload = NULL;
  g_autoptr(GPtrArray) jobs = NULL;
  Job job = { JOB_RECORD };

  checkpoint = helix_audit_log_get_latest_checkpoint (self->log, &error);
  if (checkpoint == NULL || checkpoint->size <= self->checkpoint_size)
    return;
  self->checkpoint_size = checkpoint->size;

  g_mutex_lock (&self->mutex);
  g_free (self->latest_checkpoint);
  self->latest_checkpoint = g_strdup (checkpoint->note);
  g_mutex_unlock (&self->mutex);
  helix_webhook_queue_set_checkpoint (self->queue, checkpoint->note);

  payload = g_string_new (NULL);
  g_string_append_printf (payload, "{\"size\":%" G_GINT64_FORMAT ",\"note\":", checkpoint->size);
  helix_json_append_string (payload, checkpoint->note);
  g_string_append_c (payload, '}');

  job.channel = (char *) HELIX_AUDIT_CHANNEL_HASH_CHAIN;
  job.actor = (char *) "system";
  job.event = (char *) "checkpoint";
  job.payload = payload->str;
  job.time_us = g_get_real_time ();
  jobs = g_ptr_array_new ();
  g_ptr_array_add (jobs, &job);
  append_group (self, jobs, added, answers);

  /* The entry may have made the next checkpoint: that one waits for more
   * entries, or it would be recorded, checkpointed, recorded… */
  g_clear_pointer (&checkpoint, helix_audit_checkpoint_free);
  checkpoint = helix_audit_log_get_latest_checkpoint (self->log, NULL);
  if (checkpoint != NULL && checkpoint->size > self->checkpoint_size)
    {
      self->checkpoint_size = checkpoint->size;
      g_mutex_lock (&self->mutex);
      g_free (self->latest_checkpoint);
      self->latest_checkpoint = g_strdup (checkpoint->note);
      g_mutex_unlock (&self->mutex);
      helix_webhook_queue_set_checkpoint (self->queue, checkpoint->note);
    }
}

static void
sanitize (Job *job)
{
  HelixSanitizer *sanitizer = helix_sanitizer_get_default ();
  char *clean;

  clean = helix_sanitizer_redact (sanitizer, job->payload);
  g_free (job->payload);
  job->payload = clean;
  clean = helix_sanitizer_redact (sanitizer, job->actor);
  g_free (job->actor);
  job->actor = clean;
}

static gpointer
writer_thread (gpointer data)
{
  HelixAudit *self = data;
  gboolean stop = FALSE;

  while (!stop)
    {
      g_autoptr(GPtrArray) group = g_ptr_array_new_with_free_func ((GDestroyNotify) job_free);
      g_autoptr(GArray) added = g_array_new (FALSE, TRUE, sizeof (Added));
      g_autoptr(GPtrArray) answers = g_ptr_array_new_with_free_func (answer_free);
      Job *job = g_async_queue_pop (self->jobs);

      /* Whatever arrived meanwhile goes in the same transaction. */
      for (; job != NULL; job = group->len < MAX_GROUP ? g_async_queue_try_pop (self->jobs) : NULL)
        {
          if (job->kind == JOB_RECORD)
            {
              if (job->task != NULL && g_cancellable_is_cancelled (g_task_get_cancellable (job->task)))
                {
                  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                                 _("Operation was cancelled"));

                  answer_job (job, answers, 0, error);
                  job_free (job);
                  continue;
                }
              sanitize (job);
              g_ptr_array_add (group, job);
              continue;
            }

          /* Anything else runs after the entries before it. */
          if (group->len > 0)
            {
              append_group (self, group, added, answers);
              g_ptr_array_set_size (group, 0);
            }

          switch (job->kind)
            {
            case JOB_START:
              {
                g_autoptr(GError) error = NULL;

                self->routes = g_ptr_array_ref (job->sinks);
                if (!catch_up (self, job->mark, &error))
                  {
                    g_warning ("Audit entries wait for their webhooks: %s", error->message);
                    self->behind = TRUE;
                  }
              }
              break;

            case JOB_CHECKPOINT_EVERY:
              helix_audit_log_set_checkpoint_every (self->log, job->n_entries, job->seconds);
              break;

            case JOB_SIGNER:
              helix_audit_log_set_signer (self->log, job->signer);
              break;

            case JOB_STOP:
              stop = TRUE;
              break;

            case JOB_RECORD:
            default:
              g_assert_not_reached ();
            }
          job_free (job);
          if (stop)
            break;
        }

      if (group->len > 0)
        append_group (self, group, added, answers);
      if (added->len > 0)
        note_checkpoint (self, added, answers);

      if (added->len > 0 || answers->len > 0)
        {
          Emission *emission = g_new0 (Emission, 1);

          emission->self = g_object_ref (self);
          emission->added = g_steal_pointer (&added);
          emission->answers = g_steal_pointer (&answers);
          g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, emit_added, emission,
                                      emission_free);
        }
    }

  return NULL;
}

/* The object {{{1 */

static void
helix_audit_dispose (GObject *object)
{
  HelixAudit *self = HELIX_AUDIT (object);

  helix_audit_close (self);

  G_OBJECT_CLASS (helix_audit_parent_class)->dispose (object);
}

static void
helix_audit_finalize (GObject *object)
{
  HelixAudit *self = HELIX_AUDIT (object);

  g_clear_object (&self->queue);
  g_clear_pointer (&self->sinks, g_ptr_array_unref);
  g_clear_pointer (&self->routes, g_ptr_array_unref);
  g_clear_pointer (&self->failing, g_hash_table_unref);
  g_clear_pointer (&self->signer, helix_audit_signer_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->jobs, g_async_queue_unref);
  g_free (self->log_path);
  g_free (self->origin);
  g_free (self->latest_checkpoint);
  g_free (self->last_error);
  g_free (self->heartbeat_actor);
  g_mutex_clear (&self->mutex);

  G_OBJECT_CLASS (helix_audit_parent_class)->finalize (object);
}

static void
helix_audit_class_init (HelixAuditClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = helix_audit_dispose;
  object_class->finalize = helix_audit_finalize;

  /**
   * HelixAudit::entry-added:
   * @self: the audit trail
   * @seq: the entry's seq
   * @channel: its channel
   * @event: its event
   *
   * An entry was appended and is durable. Emitted in the main context the
   * trail was opened in.
   */
  signals[ENTRY_ADDED] =
    g_signal_new ("entry-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 3, G_TYPE_INT64, G_TYPE_STRING, G_TYPE_STRING);
}

static void
helix_audit_init (HelixAudit *self)
{
  g_mutex_init (&self->mutex);
  self->sinks = g_ptr_array_new_with_free_func (sink_free);
  self->failing = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->jobs = g_async_queue_new ();
  self->context = g_main_context_ref_thread_default ();
  self->started_us = g_get_monotonic_time ();
}

static void
on_sink_failing (HelixWebhookQueue *queue,
                 const char        *sink,
                 const char        *message,
                 HelixAudit        *self)
{
  g_autoptr(GString) payload = g_string_new ("{\"sink\":");

  g_hash_table_add (self->failing, g_strdup (sink));
  helix_json_append_string (payload, sink);
  g_string_append (payload, ",\"error\":");
  helix_json_append_string (payload, message != NULL ? message : "");
  g_string_append_c (payload, '}');
  helix_audit_record (self, HELIX_AUDIT_CHANNEL_ALERTS, "system", "webhook.failing", payload->str);
}

static void
on_sink_recovered (HelixWebhookQueue *queue,
                   const char        *sink,
                   HelixAudit        *self)
{
  g_autoptr(GString) payload = g_string_new ("{\"sink\":");

  g_hash_table_remove (self->failing, sink);
  helix_json_append_string (payload, sink);
  g_string_append_c (payload, '}');
  helix_audit_record (self, HELIX_AUDIT_CHANNEL_ALERTS, "system", "webhook.recovered", payload->str);
}

/**
 * helix_audit_open:
 * @log_path: the audit log's file (made, mode 0600, if missing)
 * @queue_path: the webhook queue's file (likewise)
 * @origin: the log's name, "helix-audit/<host>"; also its key's name
 * @signer: (nullable): the key that signs checkpoints
 * @error: return location for a #GError
 *
 * Opens both files and starts the writer. Entries may be recorded at once;
 * add the sinks, then helix_audit_start() delivers.
 *
 * Returns: (transfer full) (nullable): the audit trail
 */
HelixAudit *
helix_audit_open (const char        *log_path,
                  const char        *queue_path,
                  const char        *origin,
                  HelixAuditSigner  *signer,
                  GError           **error)
{
  g_autoptr(HelixAudit) self = NULL;
  g_autoptr(HelixAuditCheckpoint) checkpoint = NULL;

  g_return_val_if_fail (log_path != NULL && queue_path != NULL && origin != NULL, NULL);

  self = g_object_new (HELIX_TYPE_AUDIT, NULL);
  self->log_path = g_strdup (log_path);
  self->origin = g_strdup (origin);
  if (signer != NULL)
    {
      self->signer = helix_audit_signer_ref (signer);
      memcpy (self->public_key, helix_audit_signer_get_public_key (signer),
              HELIX_AUDIT_PUBLIC_KEY_BYTES);
    }

  if ((self->log = helix_audit_log_open (log_path, origin, signer, error)) == NULL ||
      (self->queue = helix_webhook_queue_open (queue_path, error)) == NULL)
    return NULL;

  self->size = self->open_size = helix_audit_log_get_size (self->log);
  if ((checkpoint = helix_audit_log_get_latest_checkpoint (self->log, NULL)) != NULL)
    {
      self->checkpoint_size = checkpoint->size;
      self->latest_checkpoint = g_strdup (checkpoint->note);
      helix_webhook_queue_set_checkpoint (self->queue, checkpoint->note);
    }
  g_signal_connect_object (self->queue, "sink-failing", G_CALLBACK (on_sink_failing), self, 0);
  g_signal_connect_object (self->queue, "sink-recovered", G_CALLBACK (on_sink_recovered), self, 0);

  self->writer = g_thread_new ("helix-audit", writer_thread, self);

  return g_steal_pointer (&self);
}

/**
 * helix_audit_close:
 * @self: an audit trail
 *
 * Writes what was recorded so far, stops the writer and closes the files.
 * Recording afterwards fails.
 */
void
helix_audit_close (HelixAudit *self)
{
  g_return_if_fail (HELIX_IS_AUDIT (self));

  g_mutex_lock (&self->mutex);
  if (self->closed)
    {
      g_mutex_unlock (&self->mutex);
      return;
    }
  self->closed = TRUE;
  g_mutex_unlock (&self->mutex);

  g_clear_handle_id (&self->heartbeat, g_source_remove);
  if (self->writer != NULL)
    {
      Job *job = g_new0 (Job, 1);

      job->kind = JOB_STOP;
      g_async_queue_push (self->jobs, job);
      g_thread_join (g_steal_pointer (&self->writer));
    }
  if (self->log != NULL)
    {
      helix_audit_log_close (self->log);
      g_clear_object (&self->log);
    }
  if (self->queue != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->queue, self);
      helix_webhook_queue_close (self->queue);
    }
}

const char *
helix_audit_get_origin (HelixAudit *self)
{
  g_return_val_if_fail (HELIX_IS_AUDIT (self), NULL);

  return self->origin;
}

const char *
helix_audit_get_log_path (HelixAudit *self)
{
  g_return_val_if_fail (HELIX_IS_AUDIT (self), NULL);

  return self->log_path;
}

/**
 * helix_audit_get_public_key:
 * @self: an audit trail
 *
 * Returns: (nullable) (array fixed-size=32): the key its checkpoints are
 *   signed with, or %NULL when it has none
 */
const guint8 *
helix_audit_get_public_key (HelixAudit *self)
{
  g_return_val_if_fail (HELIX_IS_AUDIT (self), NULL);

  return self->signer != NULL ? self->public_key : NULL;
}

/* Entries written so far (the seq of the newest). */
gint64
helix_audit_get_size (HelixAudit *self)
{
  gint64 size;

  g_return_val_if_fail (HELIX_IS_AUDIT (self), 0);

  g_mutex_lock (&self->mutex);
  size = self->size;
  g_mutex_unlock (&self->mutex);

  return size;
}

/**
 * helix_audit_dup_last_error:
 * @self: an audit trail
 *
 * Returns: (transfer full) (nullable): why the last append failed, if one did
 */
char *
helix_audit_dup_last_error (HelixAudit *self)
{
  char *message;

  g_return_val_if_fail (HELIX_IS_AUDIT (self), NULL);

  /* The writer sets it: a copy, under the lock. */
  g_mutex_lock (&self->mutex);
  message = g_strdup (self->last_error);
  g_mutex_unlock (&self->mutex);

  return message;
}

/**
 * helix_audit_get_webhook_queue:
 * @self: an audit trail
 *
 * Returns: (transfer none): its webhook queue, for timings and signals
 */
HelixWebhookQueue *
helix_audit_get_webhook_queue (HelixAudit *self)
{
  g_return_val_if_fail (HELIX_IS_AUDIT (self), NULL);

  return self->queue;
}

/**
 * helix_audit_add_sink:
 * @self: an audit trail, not started yet
 * @name: the sink's name
 * @format: what its receiver reads
 * @url: where to send; its path may hold a token, so the sanitizer is told of it
 * @backup_url: (nullable): where to send when @url keeps failing
 * @channels: the channels it gets
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the sink was valid
 */
gboolean
helix_audit_add_sink (HelixAudit          *self,
                      const char          *name,
                      HelixWebhookFormat   format,
                      const char          *url,
                      const char          *backup_url,
                      const char * const  *channels,
                      GError             **error)
{
  static const char * const known[] = {
    HELIX_AUDIT_CHANNEL_COMMANDS, HELIX_AUDIT_CHANNEL_API, HELIX_AUDIT_CHANNEL_HEARTBEAT,
    HELIX_AUDIT_CHANNEL_FILE_CHANGES, HELIX_AUDIT_CHANNEL_ASSISTANT_STATE,
    HELIX_AUDIT_CHANNEL_ALERTS, HELIX_AUDIT_CHANNEL_HASH_CHAIN, NULL,
  };
  g_autoptr(GUri) uri = NULL;
  Sink *sink;

  g_return_val_if_fail (HELIX_IS_AUDIT (self), FALSE);
  g_return_val_if_fail (!self->started, FALSE);
  g_return_val_if_fail (name != NULL, FALSE);

  if (channels == NULL || channels[0] == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("The webhook %s gets no channels"), name);
      return FALSE;
    }
  for (guint i = 0; channels[i] != NULL; i++)
    if (!g_strv_contains (known, channels[i]))
      {
        g_autofree char *list = g_strjoinv (", ", (char **) known);

        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                     _("The webhook %s asks for the unknown channel “%s” (there are: %s)"), name,
                     channels[i], list);
        return FALSE;
      }
  for (guint i = 0; i < self->sinks->len; i++)
    if (g_str_equal (((Sink *) g_ptr_array_index (self->sinks, i))->name, name))
      {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, _("There are two webhooks named %s"),
                     name);
        return FALSE;
      }

  /* Webhook URLs are credentials (Discord's carry a token). */
  if (url != NULL)
    helix_sanitizer_add_secret (helix_sanitizer_get_default (), url);
  if (backup_url != NULL)
    helix_sanitizer_add_secret (helix_sanitizer_get_default (), backup_url);

  if (!helix_webhook_queue_add_sink (self->queue, name, format, url, backup_url, error))
    return FALSE;

  /* Shown to people: the host only. */
  uri = g_uri_parse (url, SOUP_HTTP_URI_FLAGS, NULL);
  sink = g_new0 (Sink, 1);
  sink->name = g_strdup (name);
  sink->url = g_strdup_printf ("%s://%s/…", g_uri_get_scheme (uri), g_uri_get_host (uri));
  sink->channels = g_strdupv ((char **) channels);
  g_ptr_array_add (self->sinks, sink);

  return TRUE;
}

/**
 * helix_audit_set_signer:
 * @self: an audit trail
 * @signer: the key that signs checkpoints from now on; its name is the origin
 *
 * For a key that arrives after the trail was opened: the desktop's comes
 * from the keyring, and entries are recorded meanwhile.
 */
void
helix_audit_set_signer (HelixAudit       *self,
                        HelixAuditSigner *signer)
{
  Job *job;

  g_return_if_fail (HELIX_IS_AUDIT (self));
  g_return_if_fail (signer != NULL);

  g_mutex_lock (&self->mutex);
  g_clear_pointer (&self->signer, helix_audit_signer_unref);
  self->signer = helix_audit_signer_ref (signer);
  memcpy (self->public_key, helix_audit_signer_get_public_key (signer), HELIX_AUDIT_PUBLIC_KEY_BYTES);
  g_mutex_unlock (&self->mutex);

  job = g_new0 (Job, 1);
  job->kind = JOB_SIGNER;
  job->signer = helix_audit_signer_ref (signer);
  g_async_queue_push (self->jobs, job);
}

/**
 * helix_audit_set_checkpoint_every:
 * @self: an audit trail
 * @n_entries: sign a checkpoint after this many entries (0: never for that reason)
 * @seconds: or when this much time passed since the last one (0: likewise)
 */
void
helix_audit_set_checkpoint_every (HelixAudit *self,
                                  guint       n_entries,
                                  guint       seconds)
{
  Job *job;

  g_return_if_fail (HELIX_IS_AUDIT (self));

  job = g_new0 (Job, 1);
  job->kind = JOB_CHECKPOINT_EVERY;
  job->n_entries = n_entries;
  job->seconds = seconds;
  g_async_queue_push (self->jobs, job);
}

static gboolean
heartbeat_cb (gpointer data)
{
  HelixAudit *self = data;
  g_autofree char *payload = NULL;

  payload = g_strdup_printf ("{\"uptime_s\":%" G_GINT64_FORMAT ",\"entries\":%" G_GINT64_FORMAT "}",
                             (g_get_monotonic_time () - self->started_us) / G_USEC_PER_SEC,
                             helix_audit_get_size (self));
  helix_audit_record (self, HELIX_AUDIT_CHANNEL_HEARTBEAT, self->heartbeat_actor, "heartbeat",
                      payload);

  return G_SOURCE_CONTINUE;
}

/**
 * helix_audit_set_heartbeat:
 * @self: an audit trail
 * @seconds: record a heartbeat entry this often; 0 for never
 * @actor: (nullable): who beats ("gateway", "desktop"); "system" by default
 *
 * A receiver that stops getting heartbeats knows Helix, or its log, stopped.
 */
void
helix_audit_set_heartbeat (HelixAudit *self,
                           guint       seconds,
                           const char *actor)
{
  g_return_if_fail (HELIX_IS_AUDIT (self));

  g_clear_handle_id (&self->heartbeat, g_source_remove);
  g_free (self->heartbeat_actor);
  self->heartbeat_actor = g_strdup (actor != NULL ? actor : "system");
  if (seconds > 0)
    self->heartbeat = g_timeout_add_seconds (seconds, heartbeat_cb, self);
}

/**
 * helix_audit_start:
 * @self: an audit trail
 *
 * Routes entries to the sinks added so far and starts delivering: first
 * what each sink missed before (a sink new to the queue starts with this
 * run's entries).
 */
void
helix_audit_start (HelixAudit *self)
{
  Job *job;

  g_return_if_fail (HELIX_IS_AUDIT (self));
  g_return_if_fail (!self->started);

  self->started = TRUE;
  job = g_new0 (Job, 1);
  job->kind = JOB_START;
  job->sinks = g_ptr_array_ref (self->sinks);
  job->mark = self->open_size;
  g_async_queue_push (self->jobs, job);
  helix_webhook_queue_start (self->queue);
}

/* Recording {{{1 */

static Job *
record_job (HelixAudit *self,
            const char *channel,
            const char *actor,
            const char *event,
            const char *payload,
            GTask      *task)
{
  Job *job = g_new0 (Job, 1);

  job->kind = JOB_RECORD;
  job->channel = g_strdup (channel);
  job->actor = g_strdup (actor);
  job->event = g_strdup (event);
  job->payload = g_strdup (payload != NULL ? payload : "{}");
  job->time_us = g_get_real_time ();
  job->task = task;

  return job;
}

/* Queues @job unless the trail is closed. */
static gboolean
push_record (HelixAudit *self,
             Job        *job)
{
  gboolean closed;

  g_mutex_lock (&self->mutex);
  closed = self->closed;
  if (!closed)
    g_async_queue_push (self->jobs, job);
  g_mutex_unlock (&self->mutex);

  return !closed;
}

/**
 * helix_audit_record_async:
 * @self: an audit trail
 * @channel: the entry's channel (HELIX_AUDIT_CHANNEL_…)
 * @actor: who acts: a user name, "device:<id>", "system"
 * @event: what happens, e.g. "auth.login"
 * @payload: (nullable): a JSON object with the details; it is sanitized
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once the entry is durable, or could not be written
 * @user_data: for @callback
 *
 * Records a privileged action before it runs. Run the action in @callback
 * only if helix_audit_record_finish() returns a seq: when the entry could not
 * be written, the action must not happen (fail closed) and the user is told why.
 */
void
helix_audit_record_async (HelixAudit          *self,
                          const char          *channel,
                          const char          *actor,
                          const char          *event,
                          const char          *payload,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Job *job;

  g_return_if_fail (HELIX_IS_AUDIT (self));
  g_return_if_fail (channel != NULL && actor != NULL && event != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_audit_record_async);

  job = record_job (self, channel, actor, event, payload, g_object_ref (task));
  if (!push_record (self, job))
    {
      job_free (job);
      g_task_return_new_error (task, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO,
                               _("The audit log is closed"));
    }
}

/**
 * helix_audit_record_finish:
 * @self: an audit trail
 * @result: the result
 * @error: return location for a #GError
 *
 * Returns: the entry's seq, or 0 when it was not written: then do not act
 */
gint64
helix_audit_record_finish (HelixAudit    *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  gssize seq;

  g_return_val_if_fail (g_task_is_valid (result, self), 0);

  seq = g_task_propagate_int (G_TASK (result), error);
  return MAX (seq, 0);
}

/**
 * helix_audit_record:
 * @self: an audit trail
 * @channel: the entry's channel
 * @actor: who
 * @event: what
 * @payload: (nullable): a JSON object
 *
 * Records something that has happened already (a heartbeat, an alert)
 * without waiting. A failure is logged and kept as the last error.
 */
void
helix_audit_record (HelixAudit *self,
                    const char *channel,
                    const char *actor,
                    const char *event,
                    const char *payload)
{
  Job *job;

  g_return_if_fail (HELIX_IS_AUDIT (self));
  g_return_if_fail (channel != NULL && actor != NULL && event != NULL);

  job = record_job (self, channel, actor, event, payload, NULL);
  if (!push_record (self, job))
    job_free (job);
}

/**
 * helix_audit_record_sync:
 * @self: an audit trail
 * @channel: the entry's channel
 * @actor: who
 * @event: what
 * @payload: (nullable): a JSON object
 * @error: return location for a #GError
 *
 * Like helix_audit_record_async(), waiting: for command-line tools, never
 * on a main loop that serves anyone.
 *
 * Returns: %TRUE if the entry is durable: then the action may run
 */
gboolean
helix_audit_record_sync (HelixAudit  *self,
                         const char  *channel,
                         const char  *actor,
                         const char  *event,
                         const char  *payload,
                         GError     **error)
{
  Waiter waiter = { 0 };
  Job *job;

  g_return_val_if_fail (HELIX_IS_AUDIT (self), FALSE);
  g_return_val_if_fail (channel != NULL && actor != NULL && event != NULL, FALSE);

  g_mutex_init (&waiter.mutex);
  g_cond_init (&waiter.cond);
  job = record_job (self, channel, actor, event, payload, NULL);
  job->waiter = &waiter;
  if (!push_record (self, job))
    {
      job_free (job);
      g_set_error_literal (&waiter.error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO,
                           _("The audit log is closed"));
    }
  else
    {
      g_mutex_lock (&waiter.mutex);
      while (!waiter.done)
        g_cond_wait (&waiter.cond, &waiter.mutex);
      g_mutex_unlock (&waiter.mutex);
    }
  g_mutex_clear (&waiter.mutex);
  g_cond_clear (&waiter.cond);

  if (waiter.error != NULL)
    {
      g_propagate_error (error, waiter.error);
      return FALSE;
    }

  return TRUE;
}

/* Verifying and listing {{{1 */

typedef struct
{
  char   *log_path;
  char   *origin;
  guint8  public_key[HELIX_AUDIT_PUBLIC_KEY_BYTES];
  char   *known;
  HelixAuditFilter filter;
  char   *channel;
  char   *actor;
  char   *text;
} Query;

static void
query_free (gpointer data)
{
  Query *query = data;

  g_free (query->log_path);
  g_free (query->origin);
  g_free (query->known);
  g_free (query->channel);
  g_free (query->actor);
  g_free (query->text);
  g_free (query);
}

static Query *
query_new (HelixAudit *self)
{
  Query *query = g_new0 (Query, 1);

  query->log_path = g_strdup (self->log_path);
  query->origin = g_strdup (self->origin);
  g_mutex_lock (&self->mutex);
  memcpy (query->public_key, self->public_key, sizeof query->public_key);
  g_mutex_unlock (&self->mutex);

  return query;
}

static void
report_free (gpointer data)
{
  HelixAuditReport *report = data;

  helix_audit_report_clear (report);
  g_free (report);
}

/**
 * helix_audit_verify_file:
 * @log_path: an audit log
 * @origin: its name
 * @public_key: (array fixed-size=32): the key its checkpoints must be signed with
 * @known_checkpoint: (nullable): a checkpoint note kept elsewhere, the newest seen
 * @report: (out caller-allocates): what was found
 * @error: return location for a #GError, for a log that cannot be read
 *
 * Verifies a log on its own connection, waiting for the disk: for worker
 * threads and command-line tools. A kept checkpoint that @public_key did
 * not sign is reported as %HELIX_AUDIT_BAD_SIGNATURE: the log was signed
 * again by someone else, or the checkpoint is another log's.
 *
 * Returns: %TRUE if the log was read: then see @report
 */
gboolean
helix_audit_verify_file (const char        *log_path,
                         const char        *origin,
                         const guint8      *public_key,
                         const char        *known_checkpoint,
                         HelixAuditReport  *report,
                         GError           **error)
{
  g_autoptr(HelixAuditLog) log = NULL;
  g_autoptr(HelixAuditCheckpoint) known = NULL;
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (log_path != NULL && origin != NULL && public_key != NULL, FALSE);
  g_return_val_if_fail (report != NULL, FALSE);

  memset (report, 0, sizeof *report);
  if (known_checkpoint != NULL)
    {
      known = helix_audit_checkpoint_parse (known_checkpoint, -1, public_key, origin, &local_error);
      if (known == NULL)
        {
          report->problem = HELIX_AUDIT_BAD_SIGNATURE;
          report->message = g_strdup_printf (_("The kept checkpoint does not match this log’s key: %s"),
                                             local_error->message);
          return TRUE;
        }
    }

  if ((log = helix_audit_log_open (log_path, origin, NULL, error)) == NULL)
    return FALSE;

  return helix_audit_log_verify (log, public_key, known, report, error);
}

static void
verify_thread (GTask        *task,
               gpointer      source,
               gpointer      task_data,
               GCancellable *cancellable)
{
  Query *query = task_data;
  g_autoptr(GError) error = NULL;
  HelixAuditReport *report = g_new0 (HelixAuditReport, 1);

  if (!helix_audit_verify_file (query->log_path, query->origin, query->public_key, query->known,
                                report, &error))
    {
      report_free (report);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  g_task_return_pointer (task, report, report_free);
}

/**
 * helix_audit_verify_async:
 * @self: an audit trail
 * @known_checkpoint: (nullable): a checkpoint note kept elsewhere (a webhook
 *   receiver, a client): the newest one seen
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the report
 * @user_data: for @callback
 *
 * Verifies the whole log in a worker thread, against this trail's key.
 */
void
helix_audit_verify_async (HelixAudit          *self,
                          const char          *known_checkpoint,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Query *query;

  g_return_if_fail (HELIX_IS_AUDIT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_audit_verify_async);
  query = query_new (self);
  query->known = g_strdup (known_checkpoint);
  g_task_set_task_data (task, query, query_free);
  g_task_run_in_thread (task, verify_thread);
}

/**
 * helix_audit_verify_finish:
 * @self: an audit trail
 * @result: the result
 * @report: (out caller-allocates): what was found; clear it with helix_audit_report_clear()
 * @error: return location for a #GError, for a log that could not be read
 *
 * Returns: %TRUE if the log was read: then see @report
 */
gboolean
helix_audit_verify_finish (HelixAudit        *self,
                           GAsyncResult      *result,
                           HelixAuditReport  *report,
                           GError           **error)
{
  HelixAuditReport *found;

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (report != NULL, FALSE);

  memset (report, 0, sizeof *report);
  if ((found = g_task_propagate_pointer (G_TASK (result), error)) == NULL)
    return FALSE;

  *report = *found;
  g_free (found);

  return TRUE;
}

typedef struct
{
  const HelixAuditFilter *filter;
  char                   *folded;
  GPtrArray              *items;
  GCancellable           *cancellable;
} Listing;

static HelixAuditItem *
item_new (const HelixAuditEntry *entry)
{
  gsize channel = strlen (entry->channel) + 1;
  gsize actor = strlen (entry->actor) + 1;
  gsize event = strlen (entry->event) + 1;
  gsize payload = strlen (entry->payload) + 1;
  HelixAuditItem *item = g_malloc (sizeof *item + channel + actor + event + payload);
  char *p = (char *) (item + 1);

  item->seq = entry->seq;
  item->time_us = entry->time_us;
  item->channel = memcpy (p, entry->channel, channel), p += channel;
  item->actor = memcpy (p, entry->actor, actor), p += actor;
  item->event = memcpy (p, entry->event, event), p += event;
  item->payload = memcpy (p, entry->payload, payload);

  return item;
}

static gboolean
contains_folded (const char *text,
                 const char *folded)
{
  g_autofree char *haystack = g_utf8_casefold (text, -1);

  return strstr (haystack, folded) != NULL;
}

static gboolean
list_entry (const HelixAuditEntry *entry,
            gpointer               user_data)
{
  Listing *listing = user_data;
  const HelixAuditFilter *filter = listing->filter;

  if (g_cancellable_is_cancelled (listing->cancellable))
    return FALSE;

  if ((filter->channel == NULL || g_str_equal (filter->channel, entry->channel)) &&
      (filter->actor == NULL || g_str_equal (filter->actor, entry->actor)) &&
      (listing->folded == NULL || contains_folded (entry->event, listing->folded) ||
       contains_folded (entry->actor, listing->folded) ||
       contains_folded (entry->payload, listing->folded)))
    g_ptr_array_add (listing->items, item_new (entry));

  return listing->items->len < filter->limit;
}

static void
list_thread (GTask        *task,
             gpointer      source,
             gpointer      task_data,
             GCancellable *cancellable)
{
  Query *query = task_data;
  g_autoptr(HelixAuditLog) log = NULL;
  g_autoptr(GError) error = NULL;
  Listing listing = { &query->filter, NULL, g_ptr_array_new_with_free_func (g_free), cancellable };

  if (query->text != NULL && *query->text != '\0')
    listing.folded = g_utf8_casefold (query->text, -1);

  if ((log = helix_audit_log_open (query->log_path, query->origin, NULL, &error)) == NULL ||
      !helix_audit_log_read (log, query->filter.before_seq, TRUE, list_entry, &listing, &error))
    {
      g_ptr_array_unref (listing.items);
      g_free (listing.folded);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  g_free (listing.folded);
  if (!g_task_return_error_if_cancelled (task))
    g_task_return_pointer (task, listing.items, (GDestroyNotify) g_ptr_array_unref);
  else
    g_ptr_array_unref (listing.items);
}

/**
 * helix_audit_list_async:
 * @self: an audit trail
 * @filter: (nullable): which entries; %NULL for the newest 100
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the entries
 * @user_data: for @callback
 *
 * Reads entries back in a worker thread, newest first.
 */
void
helix_audit_list_async (HelixAudit             *self,
                        const HelixAuditFilter *filter,
                        GCancellable           *cancellable,
                        GAsyncReadyCallback     callback,
                        gpointer                user_data)
{
  g_autoptr(GTask) task = NULL;
  Query *query;

  g_return_if_fail (HELIX_IS_AUDIT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_audit_list_async);
  query = query_new (self);
  if (filter != NULL)
    {
      query->filter.channel = query->channel = g_strdup (filter->channel);
      query->filter.actor = query->actor = g_strdup (filter->actor);
      query->filter.text = query->text = g_strdup (filter->text);
      query->filter.before_seq = filter->before_seq;
      query->filter.limit = filter->limit;
    }
  if (query->filter.limit == 0)
    query->filter.limit = 100;
  query->filter.limit = MIN (query->filter.limit, HELIX_AUDIT_MAX_LIST);
  g_task_set_task_data (task, query, query_free);
  g_task_run_in_thread (task, list_thread);
}

/**
 * helix_audit_list_finish:
 * @self: an audit trail
 * @result: the result
 * @error: return location for a #GError
 *
 * Returns: (transfer container) (element-type HelixAuditItem): the entries,
 *   newest first; each freed with the array
 */
GPtrArray *
helix_audit_list_finish (HelixAudit    *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * helix_audit_dup_latest_checkpoint:
 * @self: an audit trail
 *
 * Returns: (transfer full) (nullable): the newest signed checkpoint note
 */
char *
helix_audit_dup_latest_checkpoint (HelixAudit *self)
{
  char *note;

  g_return_val_if_fail (HELIX_IS_AUDIT (self), NULL);

  g_mutex_lock (&self->mutex);
  note = g_strdup (self->latest_checkpoint);
  g_mutex_unlock (&self->mutex);

  return note;
}

/**
 * helix_audit_list_sinks:
 * @self: an audit trail
 *
 * Returns: (transfer container) (element-type HelixAuditSinkStatus): each
 *   sink's delivery state
 */
GPtrArray *
helix_audit_list_sinks (HelixAudit *self)
{
  GPtrArray *list;

  g_return_val_if_fail (HELIX_IS_AUDIT (self), NULL);

  list = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_audit_sink_status_free);
  for (guint i = 0; i < self->sinks->len; i++)
    {
      const Sink *sink = g_ptr_array_index (self->sinks, i);
      HelixAuditSinkStatus *status = g_new0 (HelixAuditSinkStatus, 1);

      status->name = g_strdup (sink->name);
      status->url = g_strdup (sink->url);
      status->channels = g_strdupv (sink->channels);
      status->pending = helix_webhook_queue_get_pending (self->queue, sink->name);
      status->failing = g_hash_table_contains (self->failing, sink->name);
      status->last_error = g_strdup (helix_webhook_queue_get_last_error (self->queue, sink->name));
      g_ptr_array_add (list, status);
    }

  return list;
}

/* The key file {{{1 */

static HelixAuditSigner *
read_key_file (const char  *path,
               const char  *name,
               int          fd,
               GError     **error)
{
  g_autofree char *text = NULL;
  g_autofree guint8 *secret = NULL;
  g_auto(GStrv) lines = NULL;
  struct stat st;
  gsize len = 0;

  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO,
                   _("The audit key %s is not a regular file"), path);
      return NULL;
    }
  if ((st.st_mode & 077) != 0 || (st.st_uid != geteuid () && st.st_uid != 0))
    {
      g_set_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO,
                   _("The audit key %s may be read or changed by others: it must belong to "
                     "this user (or root) with mode 0600 (chmod 600 %s)"), path, path);
      return NULL;
    }
  if (st.st_size > MAX_KEY_FILE)
    {
      g_set_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_INVALID,
                   _("The audit key %s is too large to be a key"), path);
      return NULL;
    }

  text = g_malloc0 (MAX_KEY_FILE + 1);
  for (gssize n; len < MAX_KEY_FILE && (n = read (fd, text + len, MAX_KEY_FILE - len)) != 0; )
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved_errno = errno;

          g_set_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO,
                       _("Could not read the audit key %s: %s"), path, g_strerror (saved_errno));
          return NULL;
        }
      len += n;
    }

  lines = g_strsplit (text, "\n", 3);
  if (g_strv_length (lines) < 2 || !g_str_equal (lines[0], KEY_MAGIC) ||
      !g_base64_decode_inplace (lines[1], &len) || len != HELIX_AUDIT_SECRET_KEY_BYTES)
    {
      g_set_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_INVALID,
                   _("The audit key %s is not a Helix audit key"), path);
      return NULL;
    }

  return helix_audit_signer_new_from_secret (name, (const guint8 *) lines[1], error);
}

static HelixAuditSigner *
create_key_file (const char  *path,
                 const char  *name,
                 GError     **error)
{
  g_autoptr(HelixAuditSigner) signer = NULL;
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *encoded = NULL;
  g_autofree char *text = NULL;
  gsize len, done = 0;
  int fd;

  if ((signer = helix_audit_signer_new (name, error)) == NULL)
    return NULL;

  if (g_mkdir_with_parents (dir, 0700) != 0 ||
      (fd = g_open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
    {
      int saved_errno = errno;

      g_set_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO,
                   _("Could not make the audit key %s: %s"), path, g_strerror (saved_errno));
      return NULL;
    }

  encoded = g_base64_encode (helix_audit_signer_get_secret_key (signer), HELIX_AUDIT_SECRET_KEY_BYTES);
  text = g_strdup_printf (KEY_MAGIC "\n%s\n", encoded);
  len = strlen (text);
  while (done < len)
    {
      gssize n = write (fd, text + done, len - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        break;
      done += n;
    }
  memset (text, 0, len);
  memset (encoded, 0, strlen (encoded));

  if (done < len || fsync (fd) != 0)
    {
      int saved_errno = errno;

      close (fd);
      g_unlink (path);
      g_set_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO,
                   _("Could not write the audit key %s: %s"), path, g_strerror (saved_errno));
      return NULL;
    }
  close (fd);

  return g_steal_pointer (&signer);
}

/**
 * helix_audit_load_key_file:
 * @path: the key's file
 * @name: the key's name: the log's origin
 * @error: return location for a #GError
 *
 * Loads the ed25519 key that signs checkpoints on the gateway, or makes one
 * (mode 0600) when the file does not exist. A key file others may read or
 * write is refused: whoever can read it can sign a rewritten log.
 *
 * Returns: (transfer full) (nullable): the key
 */
HelixAuditSigner *
helix_audit_load_key_file (const char  *path,
                           const char  *name,
                           GError     **error)
{
  HelixAuditSigner *signer;
  int fd;

  g_return_val_if_fail (path != NULL && name != NULL, NULL);

  if ((fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0)) < 0)
    {
      int saved_errno = errno;

      if (saved_errno == ENOENT)
        return create_key_file (path, name, error);

      g_set_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO,
                   _("Could not open the audit key %s: %s"), path, g_strerror (saved_errno));
      return NULL;
    }

  signer = read_key_file (path, name, fd, error);
  close (fd);

  return signer;
}
