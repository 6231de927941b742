/* helix-crash-writer.c: appends messages until killed
 *
 * Used by test-crash: it opens the store at argv[1], appends messages to its first
 * session (creating one if there is none) and prints each message id on stdout only
 * after helix_store_append_message() returned, i.e. after the commit. Whatever it
 * printed was acknowledged, and must survive a SIGKILL at any moment.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "helix-core.h"

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixStore) store = NULL;
  g_autoptr(GPtrArray) sessions = NULL;
  g_autoptr(HelixSession) session = NULL;

  if (argc != 2)
    {
      g_printerr ("usage: %s DATABASE\n", argv[0]);
      return 2;
    }

  store = helix_store_open (argv[1], &error);
  if (store == NULL)
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }

  sessions = helix_store_list_sessions (store, TRUE, &error);
  if (sessions != NULL && sessions->len > 0)
    session = g_object_ref (g_ptr_array_index (sessions, 0));
  else
    session = helix_store_create_session (store, "Crash test", &error);
  if (session == NULL)
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }

  for (guint64 i = 0; ; i++)
    {
      g_autofree char *content = g_strdup_printf ("crash test message %" G_GUINT64_FORMAT " %s", i,
                                                  i % 3 ? "short" : "with a somewhat longer body "
                                                  "so that pages fill and split at varied moments");
      HelixNewMessage nm = HELIX_NEW_MESSAGE_INIT (i % 2 ? HELIX_MESSAGE_ROLE_ASSISTANT
                                                         : HELIX_MESSAGE_ROLE_USER,
                                                   content);
      g_autoptr(HelixMessage) message = NULL;
      g_autofree char *line = NULL;
      gsize len;

      message = helix_store_append_message (store, helix_session_get_id (session), &nm, &error);
      if (message == NULL)
        {
          g_printerr ("%s\n", error->message);
          return 1;
        }

      /* One write(2) per line: the test reads whole lines or nothing. */
      line = g_strconcat (helix_message_get_id (message), "\n", NULL);
      len = strlen (line);
      if (write (STDOUT_FILENO, line, len) != (gssize) len)
        return 1;
    }

  return 0;
}
