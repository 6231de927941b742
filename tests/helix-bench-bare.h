/* helix-bench-bare.h: starting bare-soup-server from a benchmark
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <gio/gio.h>

/* Starts the program named by the environment variable @variable
 * (HELIX_BARE_SOUP_SERVER: bare-soup-server, relaying to @upstream_base if
 * not %NULL; HELIX_BARE_NATIVE_SERVER: bare-native-server) and fills @addr
 * with where it listens. Returns %NULL, saying why on stderr, when the
 * variable is not set (a benchmark run by hand). */
static inline GSubprocess *
helix_bench_bare_start_from (const char         *variable,
                             const char         *upstream_base,
                             struct sockaddr_in *addr)
{
  const char *binary = g_getenv (variable);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autofree char *line = NULL;
  GSubprocess *server;
  const char *port;

  if (binary == NULL)
    {
      g_printerr ("bench: %s is not set: no floor figures from it\n", variable);
      return NULL;
    }

  server = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, binary, upstream_base,
                             NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server));
  line = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  port = strrchr (line, ':');
  g_assert_nonnull (port);

  memset (addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_port = htons ((guint16) atoi (port + 1));
  inet_pton (AF_INET, "127.0.0.1", &addr->sin_addr);

  return server;
}

/* Starts bare-soup-server (see helix_bench_bare_start_from()). */
static inline GSubprocess *
helix_bench_bare_start (const char         *upstream_base,
                        struct sockaddr_in *addr)
{
  return helix_bench_bare_start_from ("HELIX_BARE_SOUP_SERVER", upstream_base, addr);
}

static inline void
helix_bench_bare_stop (GSubprocess *server)
{
  if (server == NULL)
    return;
  g_subprocess_force_exit (server);
  g_subprocess_wait (server, NULL, NULL);
  g_object_unref (server);
}
