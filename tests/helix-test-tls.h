/* helix-test-tls.h: a self-signed certificate for 127.0.0.1, for TLS tests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <glib/gstdio.h>

G_BEGIN_DECLS

/* Makes a P-256 key at @key_path (mode 0600) and a certificate for
 * 127.0.0.1 valid one day at @cert_path with the openssl command, and
 * returns them (the certificate with its key, for a server). Without openssl or a TLS backend, the test is skipped and
 * %NULL returned (CI installs both). */
static inline GTlsCertificate *
helix_test_tls_make_certificate (const char *cert_path,
                                 const char *key_path)
{
  g_autofree char *openssl = g_find_program_in_path ("openssl");
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  GTlsCertificate *cert;
  int status = 0;
  const char *argv[] = {
    NULL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
    "-keyout", NULL, "-out", NULL, NULL,
  };

  if (openssl == NULL)
    {
      g_test_skip ("openssl is not installed (Debian package openssl)");
      return NULL;
    }
  if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    {
      g_test_skip ("GLib has no TLS backend (Debian package glib-networking)");
      return NULL;
    }

  argv[0] = openssl;
  argv[15] = key_path;
  argv[17] = cert_path;
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err,
                &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("openssl failed: %s", err);

  g_assert_cmpint (g_chmod (key_path, 0600), ==, 0);
  cert = g_tls_certificate_new_from_files (cert_path, key_path, &error);
  g_assert_no_error (error);

  return cert;
}

/* Call at the end of main() of a test that made TLS connections. The TLS
 * backend runs handshakes in GTask worker threads, which keep GnuTLS's
 * thread-local data. LeakSanitizer (GCC 12, glibc 2.36) crashes reading the
 * dynamic TLS of such threads in its scan at exit ("Tracer caught signal
 * 11"): let them end first. Idle workers leave GTask's pool after half a
 * second, then go when told. */
static inline void
helix_test_tls_end_workers (void)
{
  g_usleep (G_USEC_PER_SEC);
  g_thread_pool_set_max_unused_threads (0);
  g_thread_pool_stop_unused_threads ();
  for (guint i = 0; i < 200 && g_thread_pool_get_num_unused_threads () > 0; i++)
    g_usleep (10000);
  g_usleep (100000);
}

G_END_DECLS
