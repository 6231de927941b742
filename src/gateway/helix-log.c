/* helix-log.c: how the gateway writes its log
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helix-log.h"
#include "helix-sanitizer.h"

/* The name systemd shows for our lines when stderr is a plain pipe. */
#define LOG_IDENTIFIER "helix-gateway"

static int       current_level = HELIX_LOG_LEVEL_INFO; /* (atomic) */
static char    **debug_domains;
static gboolean  debug_all;
static gboolean  to_journal;
static int       installed_writer; /* (atomic) */

/*
 * The request lines, batched (helix_log_set_batched()).
 *
 * A busy gateway writes one line per request, and one write() each is a
 * large share of a small request's cost. So with batching on,
 * helix_log_info() appends its line to @pending, which is written with one
 * write() when:
 *  - the main loop has nothing else to do (a G_PRIORITY_LOW idle source,
 *    added when a line is buffered and none is attached): a quiet
 *    gateway's lines appear at once;
 *  - the next line would not fit (BATCH_SIZE) or the oldest buffered line
 *    is older than BATCH_MAX_AGE_US: a gateway that is never idle writes
 *    at least that often;
 *  - any other message is logged (helix_log_writer(), under the same lock):
 *    lines stay in the order they were logged, and a warning or a g_error()
 *    always follows the requests before it;
 *  - the process exits (atexit()) or helix_log_flush() is called (the
 *    gateway's main() after its loop ends);
 *  - the process crashes: a handler of SIGSEGV, SIGBUS, SIGFPE, SIGILL and
 *    SIGABRT writes what is buffered with write() (async-signal-safe; no
 *    lock, as the crashing thread may hold it), then lets the previous
 *    disposition handle the signal. Only SIGKILL (or a crash inside the
 *    append itself) can lose lines.
 * A fixed array, never reallocated, so that the crash handler can read it.
 */
#define BATCH_SIZE       16384
#define BATCH_MAX_AGE_US (100 * 1000)

static GMutex    batch_lock;
static gboolean  batched;              /* (atomic) */
static char      pending[BATCH_SIZE];
static gsize     pending_len;          /* written under @batch_lock, read by the crash handler */
static gint64    pending_since_us;
static gboolean  flush_scheduled;      /* an idle flush is attached */

static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
static struct sigaction previous_actions[G_N_ELEMENTS (crash_signals)];

/**
 * helix_log_level_from_string:
 * @text: (nullable): a level name: `error`, `warning`, `info` or `debug`
 * @level: (out): where to store the level
 *
 * Returns: %TRUE if @text named a level
 */
gboolean
helix_log_level_from_string (const char    *text,
                             HelixLogLevel *level)
{
  static const struct {
    const char    *name;
    HelixLogLevel  level;
  } names[] = {
    { "error", HELIX_LOG_LEVEL_ERROR },
    { "warning", HELIX_LOG_LEVEL_WARNING },
    { "info", HELIX_LOG_LEVEL_INFO },
    { "debug", HELIX_LOG_LEVEL_DEBUG },
  };

  g_return_val_if_fail (level != NULL, FALSE);

  if (text == NULL)
    return FALSE;

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      if (g_str_equal (text, names[i].name))
        {
          *level = names[i].level;
          return TRUE;
        }
    }

  return FALSE;
}

/**
 * helix_log_level_to_string:
 * @level: a level
 *
 * Returns: the name of @level, as written in the configuration file
 */
const char *
helix_log_level_to_string (HelixLogLevel level)
{
  switch (level)
    {
    case HELIX_LOG_LEVEL_ERROR:
      return "error";
    case HELIX_LOG_LEVEL_WARNING:
      return "warning";
    case HELIX_LOG_LEVEL_INFO:
      return "info";
    case HELIX_LOG_LEVEL_DEBUG:
      return "debug";
    default:
      g_return_val_if_reached (NULL);
    }
}

/* Syslog priorities, the same GLib's journald writer uses, so that a message
 * has the same priority whichever way it reaches the journal. */
static int
level_to_priority (GLogLevelFlags   log_level,
                   const char     **label)
{
  if (log_level & G_LOG_LEVEL_ERROR)
    {
      *label = "ERROR";
      return 3;
    }
  if (log_level & G_LOG_LEVEL_CRITICAL)
    {
      *label = "CRITICAL";
      return 4;
    }
  if (log_level & G_LOG_LEVEL_WARNING)
    {
      *label = "WARNING";
      return 4;
    }
  if (log_level & G_LOG_LEVEL_MESSAGE)
    {
      *label = "MESSAGE";
      return 5;
    }
  if (log_level & G_LOG_LEVEL_INFO)
    {
      *label = "INFO";
      return 6;
    }

  *label = "DEBUG";
  return 7;
}

static gboolean
debug_enabled_for (const char *log_domain)
{
  if (debug_all)
    return TRUE;
  if (debug_domains == NULL || log_domain == NULL)
    return FALSE;

  return g_strv_contains ((const char * const *) debug_domains, log_domain);
}

static gboolean
should_drop (GLogLevelFlags  log_level,
             const char     *log_domain)
{
  HelixLogLevel threshold = g_atomic_int_get (&current_level);

  if (log_level & (G_LOG_FLAG_FATAL | G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    return FALSE;
  if (log_level & G_LOG_LEVEL_WARNING)
    return threshold < HELIX_LOG_LEVEL_WARNING;
  if (log_level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    return threshold < HELIX_LOG_LEVEL_INFO;

  return threshold < HELIX_LOG_LEVEL_DEBUG && !debug_enabled_for (log_domain);
}

/**
 * helix_log_would_drop:
 * @log_level: the level of a message
 * @log_domain: (nullable): its domain
 *
 * Whether a message would be dropped, so that a caller on a hot path can skip
 * making it. Before helix_log_install() this is GLib's own filter
 * (g_log_writer_default_would_drop()).
 *
 * Returns: %TRUE if a message of @log_level in @log_domain would not be written
 */
gboolean
helix_log_would_drop (GLogLevelFlags  log_level,
                      const char     *log_domain)
{
  if (!g_atomic_int_get (&installed_writer))
    return g_log_writer_default_would_drop (log_level, log_domain);

  return should_drop (log_level, log_domain);
}

/* The handler of g_log() messages, those of libsoup among them (it logs a
 * debug line for every WebSocket frame it queues and sends). GLib 2.74 has
 * formatted the message already, but a dropped one stops here instead of
 * being turned into fields, dispatched and copied by the writer. */
static void
helix_log_handler (const char     *log_domain,
                   GLogLevelFlags  log_level,
                   const char     *message,
                   gpointer        user_data)
{
  if (should_drop (log_level, log_domain))
    return;

  g_log_default_handler (log_domain, log_level, message, user_data);
}

/**
 * helix_log_format_line:
 * @log_level: the level of the message
 * @log_domain: (nullable): the domain of the message
 * @message: (nullable): the message
 *
 * Formats one message as one line for stderr, in the form the journal
 * understands when stderr is connected to it as a stream:
 * `<N>helix-gateway[domain]: LEVEL: message`, where `<N>` is the syslog
 * priority. Control characters in @message are escaped so that a message
 * never spans lines.
 *
 * Returns: (transfer full): the line, ending in a newline
 */
char *
helix_log_format_line (GLogLevelFlags  log_level,
                       const char     *log_domain,
                       const char     *message)
{
  static const char hex[] = "0123456789abcdef";
  GString *line;
  const char *label;
  const char *run;
  int priority;

  priority = level_to_priority (log_level, &label);

  if (message == NULL)
    message = "(NULL) message";

  /* Written for every request: no printf. */
  line = g_string_sized_new (64 + strlen (message));
  g_string_append_c (line, '<');
  g_string_append_c (line, '0' + priority);
  g_string_append_c (line, '>');
  g_string_append (line, LOG_IDENTIFIER);
  if (log_domain != NULL && log_domain[0] != '\0')
    {
      g_string_append_c (line, '[');
      g_string_append (line, log_domain);
      g_string_append_c (line, ']');
    }
  g_string_append (line, ": ");
  g_string_append (line, label);
  g_string_append (line, ": ");

  run = message;
  for (const char *p = message; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      if (c >= 0x20 && c != 0x7f)
        continue;

      g_string_append_len (line, run, p - run);
      run = p + 1;
      if (c == '\n')
        g_string_append (line, "\\n");
      else if (c == '\r')
        g_string_append (line, "\\r");
      else if (c == '\t')
        g_string_append_c (line, '\t');
      else
        {
          g_string_append (line, "\\x");
          g_string_append_c (line, hex[c >> 4]);
          g_string_append_c (line, hex[c & 0xf]);
        }
    }
  g_string_append (line, run);

  g_string_append_c (line, '\n');

  return g_string_free (line, FALSE);
}

static void
write_all (int         fd,
           const char *data,
           gsize       length)
{
  while (length > 0)
    {
      gssize written = write (fd, data, length);

      if (written < 0)
        {
          if (errno == EINTR)
            continue;
          /* Nowhere left to report this. */
          return;
        }

      data += written;
      length -= written;
    }
}

/* With @batch_lock held. */
static void
flush_locked (void)
{
  if (pending_len > 0)
    write_all (STDERR_FILENO, pending, pending_len);
  pending_len = 0;
}

/**
 * helix_log_flush:
 *
 * Writes the request lines helix_log_info() buffered (see
 * helix_log_set_batched()). Safe from any thread.
 */
void
helix_log_flush (void)
{
  g_mutex_lock (&batch_lock);
  flush_locked ();
  g_mutex_unlock (&batch_lock);
}

static gboolean
flush_idle_cb (gpointer data)
{
  g_mutex_lock (&batch_lock);
  flush_scheduled = FALSE;
  flush_locked ();
  g_mutex_unlock (&batch_lock);

  return G_SOURCE_REMOVE;
}

/* Appends @line to the batch, or writes it (and what is pending) if it
 * does not fit. */
static void
batch_line (const char *line,
            gsize       length)
{
  gint64 now = g_get_monotonic_time ();
  gboolean schedule = FALSE;

  g_mutex_lock (&batch_lock);

  if (pending_len > 0 &&
      (length > sizeof pending - pending_len || now - pending_since_us > BATCH_MAX_AGE_US))
    flush_locked ();

  if (length > sizeof pending)
    write_all (STDERR_FILENO, line, length);
  else
    {
      if (pending_len == 0)
        pending_since_us = now;
      memcpy (pending + pending_len, line, length);
      pending_len += length;
      schedule = !flush_scheduled;
      flush_scheduled = TRUE;
    }

  g_mutex_unlock (&batch_lock);

  /* Outside the lock: GLib takes the context's own. A flush by size or age
   * meanwhile leaves the idle source with less (or nothing) to write. */
  if (schedule)
    {
      GSource *source = g_idle_source_new ();

      g_source_set_priority (source, G_PRIORITY_LOW);
      g_source_set_callback (source, flush_idle_cb, NULL, NULL);
      g_source_set_static_name (source, "[helix] log flush");
      g_source_attach (source, NULL);
      g_source_unref (source);
    }
}

static void
crash_handler (int signum)
{
  /* Whatever the state of the lock: the process is going. */
  if (pending_len > 0 && pending_len <= sizeof pending)
    write_all (STDERR_FILENO, pending, pending_len);
  pending_len = 0;

  for (guint i = 0; i < G_N_ELEMENTS (crash_signals); i++)
    if (crash_signals[i] == signum)
      sigaction (signum, &previous_actions[i], NULL);

  /* The previous handler (or the default action: a core dump) takes it
   * from here; a fault repeats when the handler returns. */
  raise (signum);
}

static void
flush_at_exit (void)
{
  helix_log_flush ();
}

/**
 * helix_log_set_batched:
 * @batch: whether to batch
 *
 * Lets helix_log_info() buffer its lines and write many with one write()
 * when it writes to stderr itself: when the default main context has
 * nothing else to do, when the buffer is full, at most 100 ms after the
 * oldest, before any other message, at exit and on a crash (see the top of
 * helix-log.c). For the gateway's main(), which runs the default main
 * context. Turning it off writes what is pending.
 */
void
helix_log_set_batched (gboolean batch)
{
  static gsize handlers_installed = 0;

  if (batch && g_once_init_enter (&handlers_installed))
    {
      struct sigaction action = { 0 };

      action.sa_handler = crash_handler;
      sigemptyset (&action.sa_mask);
      action.sa_flags = SA_RESETHAND | SA_NODEFER;
      for (guint i = 0; i < G_N_ELEMENTS (crash_signals); i++)
        sigaction (crash_signals[i], &action, &previous_actions[i]);
      atexit (flush_at_exit);

      g_once_init_leave (&handlers_installed, 1);
    }

  g_mutex_lock (&batch_lock);
  g_atomic_int_set (&batched, batch);
  if (!batch)
    flush_locked ();
  g_mutex_unlock (&batch_lock);
}

static GLogWriterOutput
helix_log_writer (GLogLevelFlags   log_level,
                  const GLogField *fields,
                  gsize            n_fields,
                  gpointer         user_data)
{
  g_autofree char *domain_copy = NULL;
  g_autofree char *message_copy = NULL;
  g_autofree char *redacted = NULL;
  g_autofree GLogField *clean_fields = NULL;
  g_autofree char *line = NULL;
  const char *domain = NULL;
  const char *message = NULL;
  gssize message_length = -1;

  for (gsize i = 0; i < n_fields; i++)
    {
      const char *value = fields[i].value;

      if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0)
        {
          if (fields[i].length >= 0)
            value = domain_copy = g_strndup (value, fields[i].length);
          domain = value;
        }
      else if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
        {
          message = value;
          message_length = fields[i].length;
        }
    }

  if (should_drop (log_level, domain))
    return G_LOG_WRITER_HANDLED;

  /* Copied only for a message that is written. */
  if (message != NULL && message_length >= 0)
    message = message_copy = g_strndup (message, message_length);

  /* Every line passes the sanitizer: a key, token or webhook URL that some
   * message carries is replaced before it reaches the journal or stderr. */
  if (message != NULL)
    message = redacted = helix_sanitizer_redact (helix_sanitizer_get_default (), message);

  clean_fields = g_memdup2 (fields, sizeof (GLogField) * n_fields);
  for (gsize i = 0; i < n_fields; i++)
    if (g_strcmp0 (clean_fields[i].key, "MESSAGE") == 0 && message != NULL)
      {
        clean_fields[i].value = message;
        clean_fields[i].length = -1;
      }

  if (to_journal &&
      g_log_writer_journald (log_level, clean_fields, n_fields, user_data) == G_LOG_WRITER_HANDLED)
    return G_LOG_WRITER_HANDLED;

  /* Also the fallback when the journal socket refused the message: stderr is
   * then still connected to the journal as a stream, which parses the <N>
   * prefix (unlike g_log_writer_default(), this keeps info messages). */
  line = helix_log_format_line (log_level, domain, message);
  /* After the request lines logged before it. */
  g_mutex_lock (&batch_lock);
  flush_locked ();
  write_all (STDERR_FILENO, line, strlen (line));
  g_mutex_unlock (&batch_lock);

  return G_LOG_WRITER_HANDLED;
}

/**
 * helix_log_info:
 * @log_domain: (nullable): the domain of the message
 * @message: the message, already formatted
 *
 * g_info() for the gateway's hottest line, the one of every request: with
 * the gateway's writer installed and writing to stderr, the line is
 * sanitized, formatted and written here, without the detour through
 * g_logv(), its handlers and structured fields. Otherwise (before
 * helix_log_install(), or logging to the journal) it is g_log() itself.
 */
void
helix_log_info (const char *log_domain,
                const char *message)
{
  g_autofree char *redacted = NULL;
  g_autofree char *line = NULL;

  g_return_if_fail (message != NULL);

  if (!g_atomic_int_get (&installed_writer) || to_journal)
    {
      g_log (log_domain, G_LOG_LEVEL_INFO, "%s", message);
      return;
    }

  if (should_drop (G_LOG_LEVEL_INFO, log_domain))
    return;

  /* As helix_log_writer() does. */
  redacted = helix_sanitizer_redact (helix_sanitizer_get_default (), message);
  line = helix_log_format_line (G_LOG_LEVEL_INFO, log_domain, redacted);
  if (g_atomic_int_get (&batched))
    batch_line (line, strlen (line));
  else
    {
      g_mutex_lock (&batch_lock);
      write_all (STDERR_FILENO, line, strlen (line));
      g_mutex_unlock (&batch_lock);
    }
}

/**
 * helix_log_set_level:
 * @level: the least severe messages to write
 *
 * Changes the level; takes effect at once, also for other threads.
 */
void
helix_log_set_level (HelixLogLevel level)
{
  g_return_if_fail (level <= HELIX_LOG_LEVEL_DEBUG);

  g_atomic_int_set (&current_level, level);
}

/**
 * helix_log_get_level:
 *
 * Returns: the current level
 */
HelixLogLevel
helix_log_get_level (void)
{
  return g_atomic_int_get (&current_level);
}

/**
 * helix_log_install:
 * @level: the least severe messages to write
 *
 * Makes the gateway's writer the GLib log writer of the process: messages
 * go to the journal when stderr is connected to it, else one line each to
 * stderr (see helix_log_format_line()). Messages below the level are dropped
 * as early as GLib lets us: g_log() ones in a default handler, before they
 * become structured fields. Call it before anything logs; later calls only
 * change the level.
 */
void
helix_log_install (HelixLogLevel level)
{
  static gsize installed = 0;

  helix_log_set_level (level);

  if (g_once_init_enter (&installed))
    {
      const char *debug = g_getenv ("G_MESSAGES_DEBUG");

      if (debug != NULL)
        {
          debug_domains = g_strsplit_set (debug, " ,", -1);
          debug_all = g_strv_contains ((const char * const *) debug_domains, "all");
        }

      to_journal = g_log_writer_is_journald (fileno (stderr));
      g_log_set_writer_func (helix_log_writer, NULL, NULL);
      g_log_set_default_handler (helix_log_handler, NULL);
      g_atomic_int_set (&installed_writer, TRUE);
      helix_debug_set_would_drop_func (helix_log_would_drop);

      g_once_init_leave (&installed, 1);
    }
}
