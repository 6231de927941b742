/* test-json.c: the guard in front of json-glib
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "helix-json.h"

static void
assert_ok (const char *text)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (helix_json_check_text (text, strlen (text), 1024, 4, &error));
  g_assert_no_error (error);
}

static void
assert_refused (const char *text,
                gsize       len,
                int         code)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (helix_json_check_text (text, len, 1024, 4, &error));
  g_assert_error (error, G_IO_ERROR, code);
}

static void
test_json_check (void)
{
  assert_ok ("{}");
  assert_ok ("[[[[1]]]]");
  assert_ok ("{\"a\":[{\"b\":[1]}]}");
  /* Brackets inside strings, escaped quotes included, do not nest. */
  assert_ok ("[\"[[[[[[[[\"]");
  assert_ok ("[\"\\\"[[[[[[[[\"]");
  assert_ok ("\"\\\\\"");

  assert_refused ("[[[[[1]]]]]", 11, G_IO_ERROR_MESSAGE_TOO_LARGE);
  assert_refused ("{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}", 26, G_IO_ERROR_MESSAGE_TOO_LARGE);
  assert_refused ("[\"\\\\\"[[[[[]]]]]]", 16, G_IO_ERROR_MESSAGE_TOO_LARGE);
  assert_refused ("[\"a\0b\"]", 7, G_IO_ERROR_INVALID_DATA);
  assert_refused ("[\"\xff\"]", 5, G_IO_ERROR_INVALID_DATA);
  assert_refused ("[\"\xc3\"]", 5, G_IO_ERROR_INVALID_DATA);
}

static void
test_json_size (void)
{
  g_autofree char *big = g_strnfill (1025, ' ');
  g_autoptr(GError) error = NULL;

  g_assert_false (helix_json_check_text (big, 1025, 1024, 64, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
}

/* What crashes json-glib 1.6 is refused quickly, and is harmless once refused. */
static void
test_json_very_deep (void)
{
  const gsize depth = 200000;
  g_autofree char *text = g_malloc (2 * depth + 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();

  memset (text, '[', depth);
  memset (text + depth, ']', depth);
  text[2 * depth] = '\0';

  g_assert_false (helix_json_check_text (text, 2 * depth, 1024 * 1024, 64, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);

  /* At the limit, json-glib parses it fine. */
  g_clear_error (&error);
  memset (text, '[', 64);
  memset (text + 64, ']', 64);
  g_assert_true (helix_json_check_text (text, 128, 1024 * 1024, 64, &error));
  g_assert_true (json_parser_load_from_data (parser, text, 128, &error));
  g_assert_no_error (error);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/helix/json/check", test_json_check);
  g_test_add_func ("/helix/json/size", test_json_size);
  g_test_add_func ("/helix/json/very-deep", test_json_very_deep);

  return g_test_run ();
}
