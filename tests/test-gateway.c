/* test-gateway.c: the headless gateway, its configuration and its log
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "helix-gateway.h"
#include "helix-gateway-metrics.h"
#include "helix-gateway-private.h"
#include "helix-test-http.h"
#include "helix-test-util.h"

/* Generous: on a loaded machine the gateway may take a while to start. A
 * timeout fails the test; nothing waits on a fixed sleep. */
#define WAIT_TIMEOUT_S 20

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

static void
test_config_defaults (void)
{
  g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
  g_autofree char *state_dir = g_build_filename (g_get_user_state_dir (), "helix", NULL);
  g_autofree char *db_path = g_build_filename (state_dir, "gateway.db", NULL);
  g_autofree char *config_db_path = NULL;

  g_assert_cmpstr (helix_gateway_config_get_listen (config), ==, "127.0.0.1:8080");
  g_assert_cmpstr (helix_gateway_config_get_listen_host (config), ==, "127.0.0.1");
  g_assert_cmpuint (helix_gateway_config_get_listen_port (config), ==, 8080);
  g_assert_cmpstr (helix_gateway_config_get_state_dir (config), ==, state_dir);
  g_assert_cmpint (helix_gateway_config_get_log_level (config), ==, HELIX_LOG_LEVEL_INFO);
  g_assert_null (helix_gateway_config_get_path (config));

  config_db_path = helix_gateway_config_dup_database_path (config);
  g_assert_cmpstr (config_db_path, ==, db_path);
}

static void
test_config_good_file (void)
{
  static const char data[] =
    "\xef\xbb\xbf# Helix gateway, with a byte order mark and CRLF line ends\r\n"
    "\r\n"
    "  # an indented comment\r\n"
    "[gateway]\r\n"
    "listen = 0.0.0.0:9000\r\n"
    "state-dir=/srv/helix\r\n"
    "log-level=debug \t\r\n";
  g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (helix_gateway_config_load_data (config, data, strlen (data), "good.conf", &error));
  g_assert_no_error (error);

  g_assert_cmpstr (helix_gateway_config_get_listen (config), ==, "0.0.0.0:9000");
  g_assert_cmpuint (helix_gateway_config_get_listen_port (config), ==, 9000);
  g_assert_cmpstr (helix_gateway_config_get_state_dir (config), ==, "/srv/helix");
  g_assert_cmpint (helix_gateway_config_get_log_level (config), ==, HELIX_LOG_LEVEL_DEBUG);

  /* An empty file, and a file with only the group, change nothing. */
  g_assert_true (helix_gateway_config_load_data (config, "", 0, "empty.conf", &error));
  g_assert_no_error (error);
  g_assert_true (helix_gateway_config_load_data (config, "[gateway]\n", 10, "group.conf", &error));
  g_assert_no_error (error);
  g_assert_cmpstr (helix_gateway_config_get_listen (config), ==, "0.0.0.0:9000");
}

/* The example shipped in data/ must load as it is. */
static void
test_config_example (void)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "..", "data",
                                                 "gateway.conf.example", NULL);
  g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
  g_autoptr(GError) error = NULL;

  /* The shipped example must exist and load: a missing one is a failure. */
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));

  g_assert_true (helix_gateway_config_load_file (config, path, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (helix_gateway_config_get_path (config), ==, path);
  g_assert_cmpstr (helix_gateway_config_get_listen (config), ==, "127.0.0.1:8080");
}

typedef struct
{
  const char *name;
  const char *data;
  int         code;
  const char *expected[4];
} BadConfig;

/* Every error names the file, the line and the key. */
static const BadConfig bad_configs[] = {
  { "bad-listen",
    "# Helix gateway\n# line 2\n\n[gateway]\nlisten=not-an-address\n",
    HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
    { "bad.conf:5:", "“listen”", "“gateway”", "“not-an-address” is not ADDR:PORT" } },
  { "unknown-key",
    "[gateway]\nlisen=127.0.0.1:8080\n",
    HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_KEY,
    { "bad.conf:2:", "unknown key “lisen”", "did you mean “listen”" } },
  { "unknown-key-far",
    "[gateway]\nport=8080\n",
    HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_KEY,
    { "bad.conf:2:", "“port”", "listen, log-level, maintenance" } },
  { "unknown-group",
    "[gateway]\nlisten=127.0.0.1:8080\n[gatway]\n",
    HELIX_GATEWAY_CONFIG_ERROR_UNKNOWN_GROUP,
    { "bad.conf:3:", "“[gatway]”" } },
  { "syntax",
    "[gateway]\nlisten=127.0.0.1:8080\nthis is not a key file\n",
    HELIX_GATEWAY_CONFIG_ERROR_SYNTAX,
    { "bad.conf:3:", "“this is not a key file”" } },
  { "bad-group-header",
    "[gateway\n",
    HELIX_GATEWAY_CONFIG_ERROR_SYNTAX,
    { "bad.conf:1:", "[gateway]" } },
  { "key-before-group",
    "listen=127.0.0.1:8080\n[gateway]\n",
    HELIX_GATEWAY_CONFIG_ERROR_SYNTAX,
    { "bad.conf:1:", "“listen”", "before any group" } },
  { "duplicate-key",
    "[gateway]\nlisten=127.0.0.1:8080\n\nlisten=127.0.0.1:9090\n",
    HELIX_GATEWAY_CONFIG_ERROR_DUPLICATE_KEY,
    { "bad.conf:4:", "“listen”", "line 2" } },
  { "bad-log-level",
    "[gateway]\nlisten=127.0.0.1:8080\nlog-level=loud\n",
    HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
    { "bad.conf:3:", "“log-level”", "“loud”", "error, warning, info or debug" } },
  { "relative-state-dir",
    "[gateway]\nstate-dir=var/lib/helix\n",
    HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
    { "bad.conf:2:", "“state-dir”", "absolute path" } },
  { "empty-state-dir",
    "[gateway]\nstate-dir=\n",
    HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
    { "bad.conf:2:", "“state-dir”", "empty" } },
  { "bad-escape",
    "[gateway]\nstate-dir=/srv/\\q\n",
    HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE,
    { "bad.conf:2:", "“state-dir”" } },
  { "not-utf8",
    "[gateway]\nstate-dir=/srv/\xff\n",
    HELIX_GATEWAY_CONFIG_ERROR_SYNTAX,
    { "bad.conf:2:", "UTF-8" } },
};

static void
test_config_bad_file (gconstpointer data)
{
  const BadConfig *bad = data;
  g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
  g_autoptr(GError) error = NULL;

  g_assert_false (helix_gateway_config_load_data (config, bad->data, strlen (bad->data),
                                                  "/etc/helix/bad.conf", &error));
  g_assert_error (error, HELIX_GATEWAY_CONFIG_ERROR, bad->code);
  g_test_message ("%s", error->message);

  g_assert_true (g_str_has_prefix (error->message, "/etc/helix/bad.conf:"));
  for (guint i = 0; i < G_N_ELEMENTS (bad->expected) && bad->expected[i] != NULL; i++)
    g_assert_nonnull (strstr (error->message, bad->expected[i]));

  /* A failed load changes nothing. */
  g_assert_cmpstr (helix_gateway_config_get_listen (config), ==, "127.0.0.1:8080");
  g_assert_cmpint (helix_gateway_config_get_log_level (config), ==, HELIX_LOG_LEVEL_INFO);
}

static void
test_config_missing_file (void)
{
  g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("helix-gateway-XXXXXX", &error);
  g_autofree char *path = NULL;

  g_assert_no_error (error);
  path = g_build_filename (dir, "missing.conf", NULL);

  g_assert_false (helix_gateway_config_load_file (config, path, &error));
  g_assert_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, path));

  helix_test_rm_rf (dir);
}

static void
test_config_listen (void)
{
  static const struct {
    const char *text;
    const char *canonical;
    const char *host;
    guint       port;
  } good[] = {
    { "127.0.0.1:8080", "127.0.0.1:8080", "127.0.0.1", 8080 },
    { "0.0.0.0:0", "0.0.0.0:0", "0.0.0.0", 0 },
    { "10.1.2.3:65535", "10.1.2.3:65535", "10.1.2.3", 65535 },
    { "[::1]:8080", "[::1]:8080", "::1", 8080 },
    { "[::]:0", "[::]:0", "::", 0 },
    { "[2001:DB8:0:0::1]:443", "[2001:db8::1]:443", "2001:db8::1", 443 },
    { "[::ffff:127.0.0.1]:80", "[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1", 80 },
  };
  static const char * const bad[] = {
    "", "foo", "not-an-address", "127.0.0.1", "127.0.0.1:", ":8080", "127.0.0.1:65536",
    "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:80a", "127.0.0.1:123456", "256.0.0.1:80",
    "localhost:8080", " 127.0.0.1:80", "127.0.0.1 :80", "::1:8080", "::1", "[::1]8080",
    "[::1]", "[::1:8080", "[]:80", "[127.0.0.1]:80", "[::1]:", "[fe80::1%eth0]:80",
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
      g_autoptr(GSocketAddress) address = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *host = NULL;

      g_assert_true (helix_gateway_config_set_listen (config, good[i].text, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (helix_gateway_config_get_listen (config), ==, good[i].canonical);
      g_assert_cmpstr (helix_gateway_config_get_listen_host (config), ==, good[i].host);
      g_assert_cmpuint (helix_gateway_config_get_listen_port (config), ==, good[i].port);

      address = helix_gateway_config_dup_listen_address (config);
      g_assert_true (G_IS_INET_SOCKET_ADDRESS (address));
      g_assert_cmpuint (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address)), ==,
                        good[i].port);
      host = g_inet_address_to_string (
        g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address)));
      g_assert_cmpstr (host, ==, good[i].host);
    }

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
      g_autoptr(GError) error = NULL;

      g_test_message ("listen “%s”", bad[i]);
      g_assert_false (helix_gateway_config_set_listen (config, bad[i], &error));
      g_assert_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE);
      g_assert_nonnull (strstr (error->message, "ADDR:PORT"));
      g_assert_cmpstr (helix_gateway_config_get_listen (config), ==, "127.0.0.1:8080");
    }
}

/* Defaults < file < environment < command line. */
static void
test_config_precedence (void)
{
  static const char file[] =
    "[gateway]\n"
    "listen=127.0.0.1:1111\n"
    "state-dir=/srv/from-file\n"
    "log-level=warning\n";
  const char * const env[] = {
    "HOME=/nowhere",
    "HELIX_LISTEN=[::1]:2222",
    "HELIX_LOG_LEVEL=debug",
    "HELIX_STATE_DIR=",
    NULL
  };
  const char * const bad_env[] = { "HELIX_LOG_LEVEL=loud", "HELIX_LISTEN=127.0.0.1:3", NULL };
  g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (helix_gateway_config_load_data (config, file, strlen (file), "file", &error));
  g_assert_no_error (error);
  g_assert_cmpstr (helix_gateway_config_get_listen (config), ==, "127.0.0.1:1111");

  g_assert_true (helix_gateway_config_apply_environment (config, env, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (helix_gateway_config_get_listen (config), ==, "[::1]:2222");
  g_assert_cmpint (helix_gateway_config_get_log_level (config), ==, HELIX_LOG_LEVEL_DEBUG);
  /* Empty means unset. */
  g_assert_cmpstr (helix_gateway_config_get_state_dir (config), ==, "/srv/from-file");

  /* A bad variable is named, and nothing of that environment applies. */
  g_assert_false (helix_gateway_config_apply_environment (config, bad_env, &error));
  g_assert_error (error, HELIX_GATEWAY_CONFIG_ERROR, HELIX_GATEWAY_CONFIG_ERROR_INVALID_VALUE);
  g_assert_nonnull (strstr (error->message, "HELIX_LOG_LEVEL"));
  g_assert_nonnull (strstr (error->message, "loud"));
  g_assert_cmpstr (helix_gateway_config_get_listen (config), ==, "[::1]:2222");
  g_clear_error (&error);

  /* The command line (the setters) comes last. */
  g_assert_true (helix_gateway_config_set_listen (config, "127.0.0.1:4444", &error));
  g_assert_true (helix_gateway_config_set_state_dir (config, "/srv/from-option/", &error));
  g_assert_no_error (error);
  g_assert_cmpstr (helix_gateway_config_get_listen (config), ==, "127.0.0.1:4444");
  g_assert_cmpstr (helix_gateway_config_get_state_dir (config), ==, "/srv/from-option");
}

static void
test_config_copy (void)
{
  g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
  g_autoptr(HelixGatewayConfig) copy = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (helix_gateway_config_set_listen (config, "[::1]:0", &error));
  helix_gateway_config_set_log_level (config, HELIX_LOG_LEVEL_ERROR);
  copy = g_boxed_copy (HELIX_TYPE_GATEWAY_CONFIG, config);

  g_assert_cmpstr (helix_gateway_config_get_listen (copy), ==, "[::1]:0");
  g_assert_cmpint (helix_gateway_config_get_log_level (copy), ==, HELIX_LOG_LEVEL_ERROR);
  g_assert_cmpstr (helix_gateway_config_get_state_dir (copy), ==,
                   helix_gateway_config_get_state_dir (config));
}

/* ------------------------------------------------------------------------ */
/* Log                                                                      */
/* ------------------------------------------------------------------------ */

static void
test_log_format (void)
{
  static const struct {
    GLogLevelFlags  level;
    const char     *domain;
    const char     *message;
    const char     *line;
  } cases[] = {
    { G_LOG_LEVEL_ERROR, "helix-gateway", "boom", "<3>helix-gateway[helix-gateway]: ERROR: boom\n" },
    { G_LOG_LEVEL_CRITICAL, "GLib", "oops", "<4>helix-gateway[GLib]: CRITICAL: oops\n" },
    { G_LOG_LEVEL_WARNING, "helix-gateway", "careful", "<4>helix-gateway[helix-gateway]: WARNING: careful\n" },
    { G_LOG_LEVEL_MESSAGE, NULL, "note", "<5>helix-gateway: MESSAGE: note\n" },
    { G_LOG_LEVEL_INFO, "helix-gateway", "listening on http://127.0.0.1:1",
      "<6>helix-gateway[helix-gateway]: INFO: listening on http://127.0.0.1:1\n" },
    { G_LOG_LEVEL_DEBUG, "libsoup", "two\nlines\x1b[31m", "<7>helix-gateway[libsoup]: DEBUG: two\\nlines\\x1b[31m\n" },
    { G_LOG_LEVEL_INFO, "", "a\rb\tc\x7f", "<6>helix-gateway: INFO: a\\rb\tc\\x7f\n" },
  };
  HelixLogLevel level;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *line = helix_log_format_line (cases[i].level, cases[i].domain,
                                                     cases[i].message);

      g_assert_cmpstr (line, ==, cases[i].line);
    }

  g_assert_true (helix_log_level_from_string ("warning", &level));
  g_assert_cmpint (level, ==, HELIX_LOG_LEVEL_WARNING);
  g_assert_cmpstr (helix_log_level_to_string (HELIX_LOG_LEVEL_DEBUG), ==, "debug");
  g_assert_false (helix_log_level_from_string ("WARNING", &level));
  g_assert_false (helix_log_level_from_string (NULL, &level));
}

/* Batched request lines (helix_log_set_batched()). Each case runs in a
 * subprocess whose stderr is a file, as the gateway's is in production:
 * the writer, the batch and the crash handler are process-wide. */

#define BATCH_SECRET "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz012345"

static char *
batch_log_path (void)
{
  /* Shared by the parent and its child (same parent pid for both). */
  return g_strdup_printf ("%s/helix-test-log-batch-%d.log", g_get_tmp_dir (),
                          g_test_subprocess () ? (int) getppid () : (int) getpid ());
}

static void
batch_child_setup (void)
{
  g_autofree char *path = batch_log_path ();
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (dup2 (fd, STDERR_FILENO), ==, STDERR_FILENO);
  close (fd);

  helix_log_install (HELIX_LOG_LEVEL_INFO);
  helix_log_set_batched (TRUE);
}

static void
batch_log_request (guint i)
{
  char line[128];

  g_snprintf (line, sizeof line, "GET /batch/%05u 200 0.1 ms request-id=batch-%05u", i, i);
  helix_log_info ("helix-test", line);
}

static char *
batch_read_log (void)
{
  g_autofree char *path = batch_log_path ();
  g_autoptr(GError) error = NULL;
  char *text = NULL;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);

  return text;
}

/* Asserts that @text holds the lines of requests @first to @last - 1, each
 * once and in order, at its start; returns where the last one ends. */
static const char *
batch_assert_lines (const char *text,
                    guint       first,
                    guint       last)
{
  const char *p = text;

  for (guint i = first; i < last; i++)
    {
      char expected[160];
      gsize length;

      length = g_snprintf (expected, sizeof expected,
                           "<6>helix-gateway[helix-test]: INFO: GET /batch/%05u 200 0.1 ms "
                           "request-id=batch-%05u\n", i, i);
      if (strncmp (p, expected, length) != 0)
        g_error ("Line %u missing or out of order; found instead: %.160s", i, p);
      p += length;
    }

  return p;
}

static void
test_log_batched (void)
{
  g_autofree char *path = batch_log_path ();
  g_autofree char *text = NULL;
  const char *p;

  if (g_test_subprocess ())
    {
      batch_child_setup ();

      /* More than the batch holds: some are written when it fills. */
      for (guint i = 0; i < 1000; i++)
        batch_log_request (i);
      /* Any other message follows the lines logged before it. */
      g_message ("between the batches");
      for (guint i = 1000; i < 1500; i++)
        batch_log_request (i);
      /* The sanitizer still sees every line. */
      helix_log_info ("helix-test", "GET /leak/" BATCH_SECRET " 404 0.1 ms request-id=leak");

      /* The main loop with nothing else to do writes them. */
      while (g_main_context_iteration (NULL, FALSE))
        ;
      text = batch_read_log ();
      p = batch_assert_lines (text, 0, 1000);
      g_assert_true (g_str_has_prefix (p, "<5>helix-gateway[helix-gateway-tests]: "
                                          "MESSAGE: between the batches\n") ||
                     g_str_has_prefix (p, "<5>helix-gateway: MESSAGE: between the batches\n"));
      p = strchr (p, '\n') + 1;
      p = batch_assert_lines (p, 1000, 1500);
      g_assert_true (g_str_has_prefix (p, "<6>helix-gateway[helix-test]: INFO: GET /leak/"));
      g_assert_null (strstr (text, BATCH_SECRET));
      p = strchr (p, '\n') + 1;
      g_assert_cmpstr (p, ==, "");

      /* Left in the batch at exit: exit() writes them. */
      for (guint i = 1500; i < 1600; i++)
        batch_log_request (i);
      exit (0);
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();

  text = batch_read_log ();
  p = strstr (text, "request-id=leak\n");
  g_assert_nonnull (p);
  p = batch_assert_lines (p + strlen ("request-id=leak\n"), 1500, 1600);
  g_assert_cmpstr (p, ==, "");
  g_unlink (path);
}

/* A crash writes what is batched before the process goes. */
static void
test_log_batched_crash (void)
{
  g_autofree char *path = batch_log_path ();
  g_autofree char *text = NULL;

  if (g_test_subprocess ())
    {
      batch_child_setup ();
      for (guint i = 0; i < 50; i++)
        batch_log_request (i);
      abort ();
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();

  text = batch_read_log ();
  g_assert_cmpstr (batch_assert_lines (text, 0, 50), ==, "");
  g_unlink (path);
}

/* The hot routes write their JSON directly: the same text json-glib writes. */
static void
test_json_writer (void)
{
  static const char * const strings[] = {
    "", "plain", "quote \" and \\ backslash", "\b\f\n\r\t", "\x01\x1f\x7f end",
    "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80", "</script>",
  };
  static const gint64 times_s[] = {
    0, 1, -1, 59, 86399, 86400, -86400, -86401, 951782400 /* 2000-02-29 */,
    1795348800, 4102444800 /* 2100-01-01 */, 253402300799 /* 9999-12-31T23:59:59 */,
    G_GINT64_CONSTANT (-62135596800) /* 0001-01-01 */, 253402300800, G_GINT64_CONSTANT (-62135596801),
  };
  g_autoptr(GRand) rand = g_rand_new_with_seed (3);

  for (guint i = 0; i < G_N_ELEMENTS (strings); i++)
    {
      g_autoptr(JsonNode) node = json_node_init_string (json_node_alloc (), strings[i]);
      g_autofree char *expected = json_to_string (node, FALSE);
      g_autoptr(GString) out = g_string_new (NULL);
      g_autoptr(JsonNode) parsed = NULL;
      g_autoptr(GError) error = NULL;

      _helix_gateway_json_append_string (out, strings[i]);
      /* Byte for byte as json-glib writes it, but for other control
       * characters: json-glib 1.6 leaves U+001F raw, which JSON does not
       * allow, and writes \b and \f where \u0008 and \u000c are as good. */
      if (strpbrk (strings[i], "\b\f\x01\x1f") == NULL)
        g_assert_cmpstr (out->str, ==, expected);
      else
        g_assert_null (strpbrk (out->str, "\b\f\x01\x1f"));
      parsed = json_from_string (out->str, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (json_node_get_string (parsed), ==, strings[i]);
    }

  /* Random strings: escapes at either end, next to each other, and long
   * runs without any; control characters, ASCII and multi-byte UTF-8, into
   * a string that grows as they are written. */
  for (guint i = 0; i < 2000; i++)
    {
      static const char * const pieces[] = {
        "\"", "\\", "\n", "\t", "\r", "\b", "\x01", "\x1f", " ", "~", "\x7f", "\xc3\xa9",
        "\xf0\x9f\x98\x80", "0190f3a2-1c00-7000-8000-0000000000a1", "a title of some length",
      };
      g_autoptr(GString) text = g_string_new (NULL);
      g_autoptr(GString) out = g_string_new (NULL);
      g_autoptr(JsonNode) parsed = NULL;
      g_autoptr(GError) error = NULL;
      guint n = g_rand_int_range (rand, 0, 12);

      for (guint j = 0; j < n; j++)
        g_string_append (text, pieces[g_rand_int_range (rand, 0, G_N_ELEMENTS (pieces))]);

      /* After text already written, as in a list. */
      g_string_append (out, "[1,");
      _helix_gateway_json_append_string (out, text->str);
      g_string_append_c (out, ']');
      g_assert_null (strpbrk (out->str, "\b\f\n\r\t\x01\x1f"));
      parsed = json_from_string (out->str, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (json_array_get_string_element (json_node_get_array (parsed), 1), ==,
                       text->str);
      g_assert_cmpuint (strlen (out->str), ==, out->len);
    }

  for (guint i = 0; i < G_N_ELEMENTS (times_s) + 2000; i++)
    {
      gint64 time_us = i < G_N_ELEMENTS (times_s)
                       ? times_s[i] * G_USEC_PER_SEC + (i % 2 ? 999999 : 0)
                       : (gint64) g_rand_double_range (rand, -7e16, 2.6e17);
      g_autoptr(GDateTime) time = g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC);
      g_autofree char *text = time != NULL ? g_date_time_format_iso8601 (time) : NULL;
      g_autofree char *expected = text != NULL ? g_strdup_printf ("\"%s\"", text)
                                               : g_strdup ("null");
      g_autoptr(GString) out = g_string_new (NULL);

      _helix_gateway_json_append_time (out, time_us);
      g_assert_cmpstr (out->str, ==, expected);
    }
}

static void
test_route_for_path (void)
{
  static const struct
  {
    const char *path;
    const char *route;
  } cases[] = {
    { "/health", "/health" },
    { "/health/", "other" },
    { "/health/x", "other" },
    { "/api/v1/sessions", "/api/v1/sessions" },
    { "/api/v1/sessions/", "/api/v1/sessions/{id}" },
    { "/api/v1/sessions/0190a1b2-c3d4", "/api/v1/sessions/{id}" },
    { "/api/v1/sessions/x/messages", "/api/v1/sessions/{id}/messages" },
    { "/api/v1/sessions/x/messages/y", "other" },
    { "/api/v1/devices/7", "/api/v1/devices/{id}" },
    { "/api/v1/admin/flags/voice", "/api/v1/admin/flags/{name}" },
    { "/api/v1/admin/flags", "/api/v1/admin/flags" },
    { "/api/v1/admin/maintenance", "/api/v1/admin/maintenance" },
    { "/api//v1/sessions", "other" },
    { "/api/v1/sessions{id}", "other" },
    { "/v1/chat/completions", "/v1/chat/completions" },
    { "/", "other" },
    { "", "other" },
    { "health", "other" },
    { "/a/b/c/d/e/f/g/h", "other" },
  };
  g_autofree char *long_path = g_strnfill (300, 'a');

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpstr (helix_gateway_metrics_route_for_path (cases[i].path), ==, cases[i].route);

  long_path[0] = '/';
  g_assert_cmpstr (helix_gateway_metrics_route_for_path (long_path), ==, "other");
}

/* ------------------------------------------------------------------------ */
/* The real gateway, in a child process                                     */
/* ------------------------------------------------------------------------ */

typedef struct
{
  GSubprocess      *process;
  GDataInputStream *stderr_stream;
  GCancellable     *cancellable;
  GString          *log;          /* everything it wrote to stderr so far */
  gboolean          stderr_done;
  gboolean          exited;
  guint             port;
} Gateway;

/* If the test aborts, the gateway must not outlive it. */
static void
kill_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocessLauncher *
make_launcher (void)
{
  GSubprocessLauncher *launcher;

  /* stdout is silenced: it carries this test's TAP output. */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, kill_with_parent, NULL, NULL);

  /* Whatever the developer's shell has must not change the outcome. */
  g_subprocess_launcher_unsetenv (launcher, "HELIX_LISTEN");
  g_subprocess_launcher_unsetenv (launcher, "HELIX_STATE_DIR");
  g_subprocess_launcher_unsetenv (launcher, "HELIX_LOG_LEVEL");
  g_subprocess_launcher_unsetenv (launcher, "G_MESSAGES_DEBUG");

  return launcher;
}

static GPtrArray *
make_argv (const char * const *args)
{
  GPtrArray *argv = g_ptr_array_new ();

  g_ptr_array_add (argv, (gpointer) g_getenv ("HELIX_BINARY"));
  g_ptr_array_add (argv, (gpointer) "--headless");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  return argv;
}

static gboolean
have_binary (void)
{
  const char *binary = g_getenv ("HELIX_BINARY");

  /* Run through `meson test`, which sets it: without the binary, the test fails. */
  if (binary == NULL || !g_file_test (binary, G_FILE_TEST_IS_EXECUTABLE))
    g_error ("HELIX_BINARY does not name the helix executable; run this test through meson test");

  return TRUE;
}

static void read_next_line (Gateway *gw);

static void
stderr_line_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  Gateway *gw;

  line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* @user_data may be gone */

  gw = user_data;
  if (line == NULL)
    {
      gw->stderr_done = TRUE;
      return;
    }

  g_test_message ("gateway: %s", line);
  g_string_append (gw->log, line);
  g_string_append_c (gw->log, '\n');
  read_next_line (gw);
}

static void
read_next_line (Gateway *gw)
{
  g_data_input_stream_read_line_async (gw->stderr_stream, G_PRIORITY_DEFAULT, gw->cancellable,
                                       stderr_line_cb, gw);
}

static Gateway *
gateway_spawn (const char * const *args)
{
  g_autoptr(GSubprocessLauncher) launcher = make_launcher ();
  g_autoptr(GPtrArray) argv = make_argv (args);
  g_autoptr(GError) error = NULL;
  Gateway *gw = g_new0 (Gateway, 1);

  gw->log = g_string_new (NULL);
  gw->cancellable = g_cancellable_new ();
  gw->process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata,
                                              &error);
  g_assert_no_error (error);

  gw->stderr_stream = g_data_input_stream_new (g_subprocess_get_stderr_pipe (gw->process));
  read_next_line (gw);

  return gw;
}

static gboolean
gateway_logged (Gateway    *gw,
                const char *needle)
{
  return strstr (gw->log->str, needle) != NULL;
}

static void
gateway_wait_for_log (Gateway    *gw,
                      const char *needle)
{
  helix_test_wait_for (gateway_logged (gw, needle) || gw->stderr_done, WAIT_TIMEOUT_S, needle);

  if (!gateway_logged (gw, needle))
    g_error ("The gateway closed stderr before logging “%s”. It logged:\n%s",
             needle, gw->log->str);
}

static guint
gateway_wait_listening (Gateway *gw)
{
  g_autoptr(GRegex) regex = NULL;
  g_autoptr(GMatchInfo) match = NULL;
  g_autofree char *port = NULL;

  gateway_wait_for_log (gw, "listening on http://127.0.0.1:");

  regex = g_regex_new ("^<6>helix-gateway\\[helix-gateway\\]: INFO: listening on "
                       "http://127\\.0\\.0\\.1:([0-9]+)$",
                       G_REGEX_MULTILINE, 0, NULL);
  g_assert_true (g_regex_match (regex, gw->log->str, 0, &match));
  port = g_match_info_fetch (match, 1);
  gw->port = (guint) g_ascii_strtoull (port, NULL, 10);
  g_assert_cmpuint (gw->port, >, 0);
  g_assert_cmpuint (gw->port, <, 65536);

  return gw->port;
}

static void
wait_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  gboolean *done = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *done = TRUE;
}

/* Waits for the gateway to exit, and asserts that it exited with 0. */
static void
gateway_wait_exit_ok (Gateway *gw)
{
  gboolean done = FALSE;

  g_subprocess_wait_async (gw->process, NULL, wait_cb, &done);
  helix_test_wait_for (done, WAIT_TIMEOUT_S, "the gateway to exit");
  gw->exited = TRUE;
  helix_test_wait_for (gw->stderr_done, WAIT_TIMEOUT_S, "the end of the gateway's stderr");

  g_assert_true (g_subprocess_get_if_exited (gw->process));
  g_assert_cmpint (g_subprocess_get_exit_status (gw->process), ==, 0);
}

static void
gateway_free (Gateway *gw)
{
  if (!gw->exited)
    {
      g_subprocess_force_exit (gw->process);
      g_subprocess_wait (gw->process, NULL, NULL);
    }

  g_cancellable_cancel (gw->cancellable);
  g_clear_object (&gw->stderr_stream);
  g_clear_object (&gw->process);
  g_clear_object (&gw->cancellable);
  g_string_free (gw->log, TRUE);
  g_free (gw);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Gateway, gateway_free)

/* A temporary directory with an empty configuration file, so that a
 * /etc/helix/gateway.conf on the machine running the tests does not count. */
typedef struct
{
  char *dir;
  char *state_dir;
  char *config;
} Scratch;

static void
scratch_setup (Scratch       *s,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  s->dir = g_dir_make_tmp ("helix-gateway-XXXXXX", &error);
  g_assert_no_error (error);
  s->state_dir = g_build_filename (s->dir, "state", NULL);
  s->config = g_build_filename (s->dir, "gateway.conf", NULL);
  g_file_set_contents (s->config, "", 0, &error);
  g_assert_no_error (error);
}

static void
scratch_teardown (Scratch       *s,
                  gconstpointer  data)
{
  helix_test_rm_rf (s->dir);
  g_free (s->dir);
  g_free (s->state_dir);
  g_free (s->config);
}

static Gateway *
scratch_spawn_gateway_at_level (Scratch    *s,
                                const char *log_level)
{
  const char * const args[] = {
    "--config", s->config,
    "--listen", "127.0.0.1:0",
    "--state-dir", s->state_dir,
    "--log-level", log_level,
    NULL
  };

  return gateway_spawn (args);
}

static Gateway *
scratch_spawn_gateway (Scratch *s)
{
  return scratch_spawn_gateway_at_level (s, "info");
}

/* Sends a request with a real SoupSession and spins until the answer. */
static SoupMessage *
http (SoupSession  *session,
      const char   *method,
      guint         port,
      const char   *path,
      const char   *request_id,
      GBytes      **body)
{
  g_autofree char *base_uri = g_strdup_printf ("http://127.0.0.1:%u", port);
  g_autoptr(SoupMessage) msg = helix_test_http_message_new (base_uri, method, path, NULL, NULL,
                                                            NULL, -1);

  if (request_id != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Request-Id",
                                  request_id);

  *body = helix_test_http_send_message (session, msg, NULL);
  return g_steal_pointer (&msg);
}

static JsonObject *
parse_object (GBytes *body)
{
  g_autoptr(JsonNode) root = helix_test_http_parse_json (body);

  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));

  return json_object_ref (json_node_get_object (root));
}

static const char *
response_header (SoupMessage *msg,
                 const char  *name)
{
  return soup_message_headers_get_one (soup_message_get_response_headers (msg), name);
}

static void
assert_generated_request_id (const char *id)
{
  g_assert_nonnull (id);
  g_assert_cmpuint (strlen (id), ==, 32);
  for (const char *p = id; *p != '\0'; p++)
    g_assert_true (g_ascii_isxdigit (*p));
}

/* A raw HTTP/1.1 client, to hold a request half-sent. */
typedef struct
{
  GSocketConnection *connection;
  GInputStream      *input;
  GOutputStream     *output;
  GString           *received;
  gboolean           eof;
  gboolean           reading;
  char               buffer[4096];
} RawClient;

static RawClient *
raw_client_connect (guint port)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GError) error = NULL;
  RawClient *raw = g_new0 (RawClient, 1);

  /* A connection to loopback completes in the kernel; blocking is fine. */
  raw->connection = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  raw->input = g_io_stream_get_input_stream (G_IO_STREAM (raw->connection));
  raw->output = g_io_stream_get_output_stream (G_IO_STREAM (raw->connection));
  raw->received = g_string_new (NULL);

  return raw;
}

static void
raw_client_free (RawClient *raw)
{
  g_clear_object (&raw->connection);
  g_string_free (raw->received, TRUE);
  g_free (raw);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (RawClient, raw_client_free)

/* Waits until the gateway has taken the connection (it logs that at debug
 * level). */
static void
raw_client_wait_accepted (RawClient *raw,
                          Gateway   *gw)
{
  g_autoptr(GSocketAddress) address = NULL;
  g_autofree char *line = NULL;

  address = g_socket_connection_get_local_address (raw->connection, NULL);
  g_assert_nonnull (address);
  line = g_strdup_printf ("DEBUG: connection from 127.0.0.1:%u\n",
                          g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address)));
  gateway_wait_for_log (gw, line);
}

static void
raw_client_send (RawClient  *raw,
                 const char *text)
{
  g_autoptr(GError) error = NULL;

  g_output_stream_write_all (raw->output, text, strlen (text), NULL, NULL, &error);
  g_assert_no_error (error);
}

static void
raw_read_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  RawClient *raw = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n > 0)
    g_string_append_len (raw->received, raw->buffer, n);
  else
    raw->eof = TRUE; /* end of stream, or the connection was reset */

  raw->reading = FALSE;
}

/* Reads until @needle has arrived, or until the end of the stream if
 * @needle is %NULL. */
static void
raw_client_read_until (RawClient  *raw,
                       const char *needle)
{
  while (!raw->eof && (needle == NULL || strstr (raw->received->str, needle) == NULL))
    {
      raw->reading = TRUE;
      g_input_stream_read_async (raw->input, raw->buffer, sizeof raw->buffer,
                                 G_PRIORITY_DEFAULT, NULL, raw_read_cb, raw);
      helix_test_wait_for (!raw->reading, WAIT_TIMEOUT_S,
                           needle != NULL ? needle : "the end of the response");
    }
}

static void
test_health (Scratch       *s,
             gconstpointer  data)
{
  g_autoptr(Gateway) gw = NULL;
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(RawClient) idle = NULL;
  g_autofree char *db_path = NULL;
  g_autofree char *long_id = NULL;
  g_autofree char *long_path = NULL;
  g_autofree char *long_line = NULL;
  JsonObject *database;
  JsonNode *uptime;
  GStatBuf st;
  guint64 connection_id;
  guint port;

  if (!have_binary ())
    return;

  gw = scratch_spawn_gateway (s);
  port = gateway_wait_listening (gw);
  session = soup_session_new ();

  /* GET /health */
  msg = http (session, "GET", port, "/health", NULL, &body);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_OK);
  g_assert_cmpstr (soup_message_headers_get_content_type (soup_message_get_response_headers (msg),
                                                          NULL), ==, "application/json");
  assert_generated_request_id (response_header (msg, "X-Request-Id"));
  g_assert_cmpstr (response_header (msg, "Cache-Control"), ==, "no-store");
  /* Plain HTTP connections are kept alive. */
  g_assert_null (response_header (msg, "Connection"));
  connection_id = soup_message_get_connection_id (msg);

  object = parse_object (body);
  g_assert_cmpstr (json_object_get_string_member (object, "status"), ==, "ok");
  g_assert_cmpstr (json_object_get_string_member (object, "version"), ==, PACKAGE_VERSION);
  uptime = json_object_get_member (object, "uptime_s");
  g_assert_nonnull (uptime);
  g_assert_true (JSON_NODE_HOLDS_VALUE (uptime));
  g_assert_true (json_node_get_value_type (uptime) == G_TYPE_INT64 ||
                 json_node_get_value_type (uptime) == G_TYPE_DOUBLE);
  g_assert_cmpfloat (json_node_get_double (uptime), >=, 0);
  database = json_object_get_object_member (object, "database");
  g_assert_nonnull (database);
  g_assert_true (json_object_get_boolean_member (database, "ok"));
  g_assert_cmpint (json_object_get_int_member (database, "schema_version"), ==,
                   helix_gateway_db_get_latest_schema_version ());
  g_clear_object (&msg);
  g_clear_pointer (&body, g_bytes_unref);
  g_clear_pointer (&object, json_object_unref);

  /* A sane X-Request-Id is echoed and logged with the request. */
  msg = http (session, "GET", port, "/health", "test-request_1", &body);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_OK);
  g_assert_cmpstr (response_header (msg, "X-Request-Id"), ==, "test-request_1");
  /* On the same connection. */
  g_assert_cmpuint (soup_message_get_connection_id (msg), ==, connection_id);
  gateway_wait_for_log (gw, "GET /health 200 ");
  gateway_wait_for_log (gw, "request-id=test-request_1\n");
  /* The whole line: the duration in milliseconds, to a tenth. */
  g_assert_true (g_regex_match_simple ("^<6>helix-gateway\\[helix-gateway\\]: INFO: GET /health "
                                       "200 (0|[1-9][0-9]*)\\.[0-9] ms "
                                       "request-id=test-request_1$",
                                       gw->log->str, G_REGEX_MULTILINE, 0));
  g_clear_object (&msg);
  g_clear_pointer (&body, g_bytes_unref);

  /* The line of every request passes the sanitizer, and a long path is
   * logged whole. */
  msg = http (session, "GET", port, "/nothing/sk-abcdefghijklmnopqrstuvwx1234", "secret-path",
              &body);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_NOT_FOUND);
  gateway_wait_for_log (gw, "INFO: GET /nothing/[redacted] 404 ");
  gateway_wait_for_log (gw, "request-id=secret-path\n");
  g_assert_false (gateway_logged (gw, "sk-abcdefghijklmnopqrstuvwx1234"));
  g_clear_object (&msg);
  g_clear_pointer (&body, g_bytes_unref);

  long_path = g_strconcat ("/nothing/", long_id = g_strnfill (400, 'p'), NULL);
  g_clear_pointer (&long_id, g_free);
  msg = http (session, "GET", port, long_path, "long-path", &body);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_NOT_FOUND);
  long_line = g_strdup_printf ("INFO: GET %s 404 ", long_path);
  gateway_wait_for_log (gw, long_line);
  gateway_wait_for_log (gw, "request-id=long-path\n");
  g_clear_pointer (&long_line, g_free);
  long_line = g_strdup_printf ("^<6>helix-gateway\\[helix-gateway\\]: INFO: GET %s 404 "
                               "(0|[1-9][0-9]*)\\.[0-9] ms request-id=long-path$", long_path);
  g_assert_true (g_regex_match_simple (long_line, gw->log->str, G_REGEX_MULTILINE, 0));
  g_clear_object (&msg);
  g_clear_pointer (&body, g_bytes_unref);

  /* Others are replaced. */
  msg = http (session, "GET", port, "/health", "no spaces allowed", &body);
  assert_generated_request_id (response_header (msg, "X-Request-Id"));
  g_clear_object (&msg);
  g_clear_pointer (&body, g_bytes_unref);

  long_id = g_strnfill (65, 'a');
  msg = http (session, "GET", port, "/health", long_id, &body);
  assert_generated_request_id (response_header (msg, "X-Request-Id"));
  g_clear_object (&msg);
  g_clear_pointer (&body, g_bytes_unref);

  /* HEAD gets the headers only. */
  msg = http (session, "HEAD", port, "/health", NULL, &body);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_OK);
  g_assert_cmpuint (g_bytes_get_size (body), ==, 0);
  g_clear_object (&msg);
  g_clear_pointer (&body, g_bytes_unref);

  /* Unknown paths. */
  msg = http (session, "GET", port, "/no/such/thing", NULL, &body);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_NOT_FOUND);
  assert_generated_request_id (response_header (msg, "X-Request-Id"));
  helix_test_http_assert_error (msg, body, "not_found");
  g_clear_object (&msg);
  g_clear_pointer (&body, g_bytes_unref);

  msg = http (session, "GET", port, "/health/more", NULL, &body);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_NOT_FOUND);
  helix_test_http_assert_error (msg, body, "not_found");
  g_clear_object (&msg);
  g_clear_pointer (&body, g_bytes_unref);

  /* Other methods. */
  msg = http (session, "POST", port, "/health", NULL, &body);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_METHOD_NOT_ALLOWED);
  g_assert_cmpstr (response_header (msg, "Allow"), ==, "GET, HEAD");
  assert_generated_request_id (response_header (msg, "X-Request-Id"));
  helix_test_http_assert_error (msg, body, "method_not_allowed");
  g_clear_object (&msg);
  g_clear_pointer (&body, g_bytes_unref);

  /* A client that connected but sent nothing yet has no request in flight:
   * it must not hold the shutdown up. */
  idle = raw_client_connect (port);

  g_subprocess_send_signal (gw->process, SIGTERM);
  gateway_wait_exit_ok (gw);
  g_assert_true (gateway_logged (gw, "shutting down: no requests in flight"));
  g_assert_true (gateway_logged (gw, ": INFO: stopped\n"));
  raw_client_read_until (idle, NULL);
  g_assert_cmpstr (idle->received->str, ==, "");

  /* The database is where the state directory says, and only its user may
   * look into that directory. */
  db_path = g_build_filename (s->state_dir, "gateway.db", NULL);
  g_assert_true (g_file_test (db_path, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpint (g_stat (s->state_dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
}

static void
shutdown_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  gboolean *clean = user_data;
  g_autoptr(GError) error = NULL;

  *clean = helix_gateway_shutdown_finish (HELIX_GATEWAY (source), result, &error);
  g_assert_no_error (error);
}

/* In this process: a database that does not answer makes /health say 503. */
static void
test_health_degraded (Scratch       *s,
                      gconstpointer  data)
{
  g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
  g_autoptr(HelixGateway) gateway = NULL;
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *database;
  gboolean clean = FALSE;
  guint port;

  g_assert_true (helix_gateway_config_set_listen (config, "127.0.0.1:0", &error));
  g_assert_true (helix_gateway_config_set_state_dir (config, s->state_dir, &error));
  g_assert_no_error (error);

  gateway = helix_gateway_new (config);
  g_assert_null (helix_gateway_get_uri (gateway));
  g_assert_true (helix_gateway_start (gateway, &error));
  g_assert_no_error (error);
  g_assert_nonnull (helix_gateway_get_db (gateway));

  uri = g_uri_parse (helix_gateway_get_uri (gateway), G_URI_FLAGS_NONE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_uri_get_host (uri), ==, "127.0.0.1");
  port = g_uri_get_port (uri);
  g_assert_cmpuint (port, >, 0);

  session = soup_session_new ();
  msg = http (session, "GET", port, "/health", NULL, &body);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_OK);
  g_clear_object (&msg);
  g_clear_pointer (&body, g_bytes_unref);

  helix_gateway_db_close (helix_gateway_get_db (gateway));

  g_test_expect_message ("helix-gateway", G_LOG_LEVEL_WARNING,
                         "Health check: the database does not answer: *");
  msg = http (session, "GET", port, "/health", NULL, &body);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_SERVICE_UNAVAILABLE);

  object = parse_object (body);
  g_assert_cmpstr (json_object_get_string_member (object, "status"), ==, "degraded");
  g_assert_cmpstr (json_object_get_string_member (object, "version"), ==, PACKAGE_VERSION);
  database = json_object_get_object_member (object, "database");
  g_assert_false (json_object_get_boolean_member (database, "ok"));
  g_assert_cmpstr (json_object_get_string_member (database, "error"), !=, "");
  g_assert_false (json_object_has_member (database, "schema_version"));

  helix_gateway_shutdown_async (gateway, NULL, shutdown_cb, &clean);
  helix_test_wait_for (clean, WAIT_TIMEOUT_S, "the gateway to shut down");
  g_assert_null (helix_gateway_get_db (gateway));

  g_clear_object (&session);
  g_assert_finalize_object (g_steal_pointer (&gateway));
}

static void
test_sigint (Scratch       *s,
             gconstpointer  data)
{
  g_autoptr(Gateway) gw = NULL;
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = NULL;
  guint port;

  if (!have_binary ())
    return;

  gw = scratch_spawn_gateway (s);
  port = gateway_wait_listening (gw);

  session = soup_session_new ();
  msg = http (session, "GET", port, "/health", NULL, &body);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_OK);

  g_subprocess_send_signal (gw->process, SIGINT);
  gateway_wait_exit_ok (gw);
  g_assert_true (gateway_logged (gw, "received SIGINT"));
}

/* Sends the headers of a request and waits for "100 Continue": from then on
 * the gateway has the request in flight, and waits for its body. */
static RawClient *
start_request_in_flight (guint port)
{
  RawClient *raw = raw_client_connect (port);

  raw_client_send (raw,
                   "POST /health HTTP/1.1\r\n"
                   "Host: 127.0.0.1\r\n"
                   "X-Request-Id: in-flight-1\r\n"
                   "Content-Type: text/plain\r\n"
                   "Content-Length: 5\r\n"
                   "Expect: 100-continue\r\n"
                   "\r\n");
  raw_client_read_until (raw, "\r\n\r\n");
  g_assert_true (g_str_has_prefix (raw->received->str, "HTTP/1.1 100 Continue\r\n"));
  g_string_truncate (raw->received, 0);

  return raw;
}

/* SIGTERM lets a request in flight finish before the gateway exits. */
static void
test_sigterm_in_flight (Scratch       *s,
                        gconstpointer  data)
{
  g_autoptr(Gateway) gw = NULL;
  g_autoptr(RawClient) raw = NULL;
  g_autoptr(RawClient) late = NULL;
  g_autofree char *response = NULL;

  if (!have_binary ())
    return;

  gw = scratch_spawn_gateway_at_level (s, "debug");
  raw = start_request_in_flight (gateway_wait_listening (gw));
  /* A client that connected before the shutdown but sends its request
   * after it started. */
  late = raw_client_connect (gw->port);
  raw_client_wait_accepted (late, gw);

  g_subprocess_send_signal (gw->process, SIGTERM);
  gateway_wait_for_log (gw, "shutting down: waiting for 1 request in flight");

  /* It is answered 503 at once. */
  raw_client_send (late, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  raw_client_read_until (late, NULL);
  g_test_message ("late response: %s", late->received->str);
  response = g_ascii_strdown (late->received->str, -1);
  g_assert_true (g_str_has_prefix (response, "http/1.1 503 "));
  g_assert_nonnull (strstr (response, "\r\nretry-after: 5\r\n"));
  g_assert_nonnull (strstr (response, "\"shutting_down\""));
  g_clear_pointer (&response, g_free);

  /* The gateway has stopped listening but is still waiting for us. */
  g_assert_false (gw->stderr_done);
  {
    g_autoptr(GSocketClient) client = g_socket_client_new ();
    g_autoptr(GSocketConnection) refused = NULL;
    g_autoptr(GError) error = NULL;

    refused = g_socket_client_connect_to_host (client, "127.0.0.1", gw->port, NULL, &error);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  }

  raw_client_send (raw, "hello");
  raw_client_read_until (raw, NULL);

  response = g_ascii_strdown (raw->received->str, -1);
  g_test_message ("response: %s", raw->received->str);
  g_assert_true (g_str_has_prefix (response, "http/1.1 405 "));
  g_assert_nonnull (strstr (response, "\r\nx-request-id: in-flight-1\r\n"));
  g_assert_nonnull (strstr (response, "\r\nconnection: close\r\n"));
  g_assert_nonnull (strstr (response, "\"method_not_allowed\""));

  gateway_wait_exit_ok (gw);
  g_assert_true (gateway_logged (gw, "POST /health 405 "));
  g_assert_true (gateway_logged (gw, ": INFO: stopped\n"));
}

/* A second signal stops the gateway without waiting any longer. */
static void
test_second_signal (Scratch       *s,
                    gconstpointer  data)
{
  g_autoptr(Gateway) gw = NULL;
  g_autoptr(RawClient) raw = NULL;

  if (!have_binary ())
    return;

  gw = scratch_spawn_gateway (s);
  raw = start_request_in_flight (gateway_wait_listening (gw));

  g_subprocess_send_signal (gw->process, SIGTERM);
  gateway_wait_for_log (gw, "shutting down: waiting for 1 request in flight");
  g_subprocess_send_signal (gw->process, SIGINT);

  gateway_wait_exit_ok (gw);
  g_assert_true (gateway_logged (gw, "received SIGINT again: stopping now"));
  g_assert_true (gateway_logged (gw, "Stopped without waiting for 1 request in flight"));

  /* The request was cut off: the connection closes without an answer. */
  raw_client_read_until (raw, NULL);
  g_assert_cmpstr (raw->received->str, ==, "");
}

/* A request that never completes does not hold the shutdown up for more
 * than HELIX_GATEWAY_DRAIN_TIMEOUT_SECONDS. (This test takes that long.) */
static void
test_drain_timeout (Scratch       *s,
                    gconstpointer  data)
{
  g_autoptr(Gateway) gw = NULL;
  g_autoptr(RawClient) raw = NULL;
  g_autofree char *gave_up = NULL;

  if (!have_binary ())
    return;

  gw = scratch_spawn_gateway (s);
  raw = start_request_in_flight (gateway_wait_listening (gw));

  g_subprocess_send_signal (gw->process, SIGTERM);
  gateway_wait_for_log (gw, "shutting down: waiting for 1 request in flight");

  /* The body never comes. */
  gave_up = g_strdup_printf ("WARNING: Gave up after %u s waiting for 1 request in flight",
                             HELIX_GATEWAY_DRAIN_TIMEOUT_SECONDS);
  gateway_wait_for_log (gw, gave_up);
  gateway_wait_exit_ok (gw);

  raw_client_read_until (raw, NULL);
  g_assert_cmpstr (raw->received->str, ==, "");
}

typedef struct
{
  GSubprocess *process;
  char        *stderr_text;
  GError      *error;
  gboolean     done;
} RunResult;

static void
communicate_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  RunResult *r = user_data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, NULL, &r->stderr_text,
                                        &r->error);
  r->done = TRUE;
}

/* Runs the gateway with @args (and @env, "NAME=VALUE" pairs), expecting it
 * to refuse to start; returns what it wrote to stderr. */
static char *
run_failing_gateway (const char * const *args,
                     const char * const *env)
{
  g_autoptr(GSubprocessLauncher) launcher = make_launcher ();
  g_autoptr(GPtrArray) argv = make_argv (args);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  RunResult r = { 0 };

  for (guint i = 0; env != NULL && env[i] != NULL; i++)
    {
      g_auto(GStrv) pair = g_strsplit (env[i], "=", 2);

      g_subprocess_launcher_setenv (launcher, pair[0], pair[1], TRUE);
    }

  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);

  g_subprocess_communicate_utf8_async (process, NULL, NULL, communicate_cb, &r);
  helix_test_wait_for (r.done, WAIT_TIMEOUT_S, "the gateway to refuse to start");
  g_assert_no_error (r.error);
  g_test_message ("stderr: %s", r.stderr_text);

  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 1);
  g_assert_true (g_str_has_prefix (r.stderr_text, "helix: "));
  g_assert_null (strstr (r.stderr_text, "listening on"));

  return r.stderr_text;
}

typedef struct
{
  const char *contents;
  const char *expected[3];
} BadConfigRun;

static const BadConfigRun bad_config_runs[] = {
  { "# Helix gateway\n# line 2\n\n[gateway]\nlisten=not-an-address\nlog-level=info\n",
    { ":5:", "listen", "not-an-address" } },
  { "[gateway]\nlisen=127.0.0.1:8080\n",
    { ":2:", "lisen" } },
  { "[gateway]\nlisten=127.0.0.1:8080\nthis is not a key file\n",
    { ":3:" } },
  { "[gateway]\n\n\nlog-level=loud\n",
    { ":4:", "log-level", "loud" } },
};

static void
test_bad_config (Scratch       *s,
                 gconstpointer  data)
{
  if (!have_binary ())
    return;

  for (guint i = 0; i < G_N_ELEMENTS (bad_config_runs); i++)
    {
      const char * const args[] = {
        "--config", s->config, "--listen", "127.0.0.1:0", "--state-dir", s->state_dir, NULL
      };
      const BadConfigRun *bad = &bad_config_runs[i];
      g_autoptr(GError) error = NULL;
      g_autofree char *text = NULL;

      g_file_set_contents (s->config, bad->contents, -1, &error);
      g_assert_no_error (error);

      text = run_failing_gateway (args, NULL);
      g_assert_nonnull (strstr (text, s->config));
      for (guint j = 0; j < G_N_ELEMENTS (bad->expected) && bad->expected[j] != NULL; j++)
        g_assert_nonnull (strstr (text, bad->expected[j]));

      /* It stopped before touching anything. */
      g_assert_false (g_file_test (s->state_dir, G_FILE_TEST_EXISTS));
    }
}

static void
test_bad_config_missing (Scratch       *s,
                         gconstpointer  data)
{
  g_autofree char *missing = NULL;
  g_autofree char *text = NULL;

  if (!have_binary ())
    return;

  missing = g_build_filename (s->dir, "missing.conf", NULL);
  {
    const char * const args[] = { "--config", missing, "--state-dir", s->state_dir, NULL };

    text = run_failing_gateway (args, NULL);
  }
  g_assert_nonnull (strstr (text, missing));
}

static void
test_bad_options (Scratch       *s,
                  gconstpointer  data)
{
  const char * const bad_listen[] = {
    "--config", s->config, "--listen", "localhost", "--state-dir", s->state_dir, NULL
  };
  const char * const good_args[] = {
    "--config", s->config, "--listen", "127.0.0.1:0", "--state-dir", s->state_dir, NULL
  };
  const char * const bad_env[] = { "HELIX_LOG_LEVEL=loud", NULL };
  const char * const extra_args[] = { "--config", s->config, "surplus", NULL };
  g_autofree char *text = NULL;

  if (!have_binary ())
    return;

  text = run_failing_gateway (bad_listen, NULL);
  g_assert_nonnull (strstr (text, "--listen"));
  g_assert_nonnull (strstr (text, "localhost"));
  g_clear_pointer (&text, g_free);

  text = run_failing_gateway (good_args, bad_env);
  g_assert_nonnull (strstr (text, "HELIX_LOG_LEVEL"));
  g_assert_nonnull (strstr (text, "loud"));
  g_clear_pointer (&text, g_free);

  text = run_failing_gateway (extra_args, NULL);
  g_assert_nonnull (strstr (text, "surplus"));

  g_assert_false (g_file_test (s->state_dir, G_FILE_TEST_EXISTS));
}

/* The gateway cannot listen where another one already does. */
static void
test_address_in_use (Scratch       *s,
                     gconstpointer  data)
{
  g_autoptr(Gateway) gw = NULL;
  g_autofree char *listen = NULL;
  g_autofree char *other_state = NULL;
  g_autofree char *text = NULL;

  if (!have_binary ())
    return;

  gw = scratch_spawn_gateway (s);
  listen = g_strdup_printf ("127.0.0.1:%u", gateway_wait_listening (gw));
  other_state = g_build_filename (s->dir, "other-state", NULL);

  {
    const char * const args[] = {
      "--config", s->config, "--listen", listen, "--state-dir", other_state, NULL
    };

    text = run_failing_gateway (args, NULL);
  }
  g_assert_nonnull (strstr (text, listen));
  g_assert_nonnull (strstr (text, "--listen"));

  g_subprocess_send_signal (gw->process, SIGTERM);
  gateway_wait_exit_ok (gw);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/helix/gateway/config/defaults", test_config_defaults);
  g_test_add_func ("/helix/gateway/config/good-file", test_config_good_file);
  g_test_add_func ("/helix/gateway/config/example", test_config_example);
  g_test_add_func ("/helix/gateway/config/missing-file", test_config_missing_file);
  g_test_add_func ("/helix/gateway/config/listen", test_config_listen);
  g_test_add_func ("/helix/gateway/config/precedence", test_config_precedence);
  g_test_add_func ("/helix/gateway/config/copy", test_config_copy);
  for (guint i = 0; i < G_N_ELEMENTS (bad_configs); i++)
    {
      g_autofree char *path = g_strdup_printf ("/helix/gateway/config/bad/%s", bad_configs[i].name);

      g_test_add_data_func (path, &bad_configs[i], test_config_bad_file);
    }
  g_test_add_func ("/helix/gateway/log/format", test_log_format);
  g_test_add_func ("/helix/gateway/log/batched", test_log_batched);
  g_test_add_func ("/helix/gateway/log/batched-crash", test_log_batched_crash);
  g_test_add_func ("/helix/gateway/json/writer", test_json_writer);
  g_test_add_func ("/helix/gateway/metrics/route-for-path", test_route_for_path);

  g_test_add ("/helix/gateway/health", Scratch, NULL,
              scratch_setup, test_health, scratch_teardown);
  g_test_add ("/helix/gateway/health-degraded", Scratch, NULL,
              scratch_setup, test_health_degraded, scratch_teardown);
  g_test_add ("/helix/gateway/sigint", Scratch, NULL,
              scratch_setup, test_sigint, scratch_teardown);
  g_test_add ("/helix/gateway/sigterm-inflight", Scratch, NULL,
              scratch_setup, test_sigterm_in_flight, scratch_teardown);
  g_test_add ("/helix/gateway/second-signal", Scratch, NULL,
              scratch_setup, test_second_signal, scratch_teardown);
  g_test_add ("/helix/gateway/drain-timeout", Scratch, NULL,
              scratch_setup, test_drain_timeout, scratch_teardown);
  g_test_add ("/helix/gateway/bad-config", Scratch, NULL,
              scratch_setup, test_bad_config, scratch_teardown);
  g_test_add ("/helix/gateway/bad-config/missing", Scratch, NULL,
              scratch_setup, test_bad_config_missing, scratch_teardown);
  g_test_add ("/helix/gateway/bad-options", Scratch, NULL,
              scratch_setup, test_bad_options, scratch_teardown);
  g_test_add ("/helix/gateway/address-in-use", Scratch, NULL,
              scratch_setup, test_address_in_use, scratch_teardown);

  return g_test_run ();
}
