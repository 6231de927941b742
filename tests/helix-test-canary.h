/* helix-test-canary.h: a test that aborts when a secret reaches a log line
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

G_BEGIN_DECLS

static struct
{
  char     *secret;
  gboolean  show_debug;
  GLogFunc  default_handler;
} helix_test_canary;

static inline void
helix_test_canary_check (const char *text,
                         gssize      len)
{
  g_autofree char *copy = len >= 0 ? g_strndup (text, len) : NULL;

  if (text != NULL && strstr (copy != NULL ? copy : text, helix_test_canary.secret) != NULL)
    {
      fprintf (stderr, "A secret was logged: %s\n", copy != NULL ? copy : text);
      abort ();
    }
}

static inline GLogWriterOutput
helix_test_canary_writer (GLogLevelFlags   log_level,
                          const GLogField *fields,
                          gsize            n_fields,
                          gpointer         user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    helix_test_canary_check (fields[i].value, fields[i].length);

  if ((log_level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) != 0 && !helix_test_canary.show_debug)
    return G_LOG_WRITER_HANDLED;

  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

/* g_debug() and friends reach the handler that g_test_init() installed, not the writer. */
static inline void
helix_test_canary_handler (const char     *log_domain,
                           GLogLevelFlags  log_level,
                           const char     *message,
                           gpointer        user_data)
{
  helix_test_canary_check (message, -1);

  if ((log_level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) != 0 && !helix_test_canary.show_debug)
    return;

  helix_test_canary.default_handler (log_domain, log_level, message, user_data);
}

/*
 * g_test_init(), with every log line of every test checked for @secret (the
 * test aborts if one holds it) and every debug message produced, so that the
 * check sees them; they are shown only with G_MESSAGES_DEBUG.
 */
static inline void
helix_test_canary_init (int         *argc,
                        char      ***argv,
                        const char  *secret)
{
  helix_test_canary.secret = g_strdup (secret);
  helix_test_canary.show_debug = g_getenv ("G_MESSAGES_DEBUG") != NULL;
  g_log_set_writer_func (helix_test_canary_writer, NULL, NULL);
  g_test_init (argc, argv, NULL);
  g_log_set_debug_enabled (TRUE);
  helix_test_canary.default_handler = g_log_set_default_handler (helix_test_canary_handler, NULL);
}

G_END_DECLS
