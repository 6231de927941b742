/* bare-soup-server.c: the floor libsoup sets, for the benchmarks
 *
 * A SoupServer with nothing of Helix in it, started by bench-gateway and
 * bench-router beside the real gateway and driven by the same clients, so
 * that a run says how much of a request's cost is libsoup's own on this
 * machine:
 *
 *   GET  /health                {"status":"ok"}, like the gateway's
 *   POST /v1/chat/completions   the body relayed as it is to
 *                               UPSTREAM/v1/chat/completions with a SoupSession
 *                               (connections kept alive, as the gateway's
 *                               providers do), and the upstream's answer
 *                               relayed back: no auth, no routing, no ledger
 *
 * Usage: bare-soup-server [UPSTREAM-BASE-URL]
 * It listens on 127.0.0.1 on a free port and prints "http://127.0.0.1:PORT\n".
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-bench"

#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>

#include <libsoup/soup.h>

static SoupSession *session;
static char *upstream_uri;

static void
health_cb (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *path,
           GHashTable        *query,
           gpointer           user_data)
{
  static const char body[] = "{\"status\":\"ok\"}";

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC, body,
                                    sizeof body - 1);
}

static void
relayed_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(SoupServerMessage) msg = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result,
                                                              &error);
  SoupMessage *upstream = soup_session_get_async_result_message (SOUP_SESSION (source), result);

  if (body == NULL)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_BAD_GATEWAY, NULL);
    }
  else
    {
      gsize len;
      const char *data = g_bytes_get_data (body, &len);
      const char *type = soup_message_headers_get_content_type (
        soup_message_get_response_headers (upstream), NULL);

      soup_server_message_set_status (msg, soup_message_get_status (upstream), NULL);
      soup_server_message_set_response (msg, type != NULL ? type : "application/json",
                                        SOUP_MEMORY_COPY, data, len);
    }
  soup_server_message_unpause (msg);
}

static void
chat_cb (SoupServer        *server,
         SoupServerMessage *msg,
         const char        *path,
         GHashTable        *query,
         gpointer           user_data)
{
  SoupMessageBody *request = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) body = soup_message_body_flatten (request);
  g_autoptr(SoupMessage) upstream = soup_message_new ("POST", upstream_uri);

  soup_message_set_request_body_from_bytes (upstream, "application/json", body);
  soup_message_add_flags (upstream, SOUP_MESSAGE_IDEMPOTENT);
  soup_server_message_pause (msg);
  soup_session_send_and_read_async (session, upstream, G_PRIORITY_DEFAULT, NULL, relayed_cb,
                                    g_object_ref (msg));
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(SoupServer) server = soup_server_new (NULL, NULL);
  g_autoptr(GError) error = NULL;
  GSList *uris;

  prctl (PR_SET_PDEATHSIG, SIGTERM);
  signal (SIGPIPE, SIG_IGN);

  if (argc > 1)
    {
      upstream_uri = g_strconcat (argv[1], "/v1/chat/completions", NULL);
      session = soup_session_new_with_options ("max-conns", 256, "max-conns-per-host", 64, NULL);
      soup_server_add_handler (server, "/v1/chat/completions", chat_cb, NULL, NULL);
    }
  soup_server_add_handler (server, "/health", health_cb, NULL, NULL);

  if (!soup_server_listen_local (server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error))
    g_error ("Could not listen: %s", error->message);

  uris = soup_server_get_uris (server);
  g_print ("http://127.0.0.1:%u\n", g_uri_get_port (uris->data));
  fflush (stdout);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);

  g_main_loop_run (loop);

  return 0;
}
