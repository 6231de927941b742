/* test-hlc.c: hybrid logical clock and UUIDs
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "helix-hlc.h"
#include "helix-uuid.h"

static gint64 fake_now;

static gint64
fake_time (gpointer user_data)
{
  return fake_now;
}

static void
test_hlc_monotonic (void)
{
  g_autoptr(HelixHlcClock) clock = helix_hlc_clock_new ("dev-a");
  HelixHlc prev = { 0 };
  HelixHlc now;

  helix_hlc_clock_set_time_func (clock, fake_time, NULL);
  fake_now = 1000;

  for (guint i = 0; i < 1000; i++)
    {
      /* Physical time jumps around, backwards included. */
      fake_now = 1000 + g_test_rand_int_range (-50, 50);
      helix_hlc_clock_now (clock, &now);
      g_assert_cmpint (helix_hlc_compare (&prev, &now), <, 0);
      g_assert_cmpstr (now.device, ==, "dev-a");
      prev = now;
    }

  /* When physical time moves ahead, the counter resets. */
  fake_now = 5000;
  helix_hlc_clock_now (clock, &now);
  g_assert_cmpint (now.wall_ms, ==, 5000);
  g_assert_cmpuint (now.counter, ==, 0);
}

static void
test_hlc_receive (void)
{
  g_autoptr(HelixHlcClock) a = helix_hlc_clock_new ("a");
  g_autoptr(HelixHlcClock) b = helix_hlc_clock_new ("b");
  g_autoptr(GError) error = NULL;
  HelixHlc sent, received, later;

  helix_hlc_clock_set_time_func (a, fake_time, NULL);
  helix_hlc_clock_set_time_func (b, fake_time, NULL);

  /* b's clock is behind a's event: receiving it makes b's next stamp sort after. */
  fake_now = 2000;
  helix_hlc_clock_now (a, &sent);
  sent.wall_ms = 9000; /* a's physical clock was ahead */
  g_assert_true (helix_hlc_clock_receive (b, &sent, &received, &error));
  g_assert_no_error (error);
  g_assert_cmpint (helix_hlc_compare (&sent, &received), <, 0);
  helix_hlc_clock_now (b, &later);
  g_assert_cmpint (helix_hlc_compare (&received, &later), <, 0);
  g_assert_cmpint (later.wall_ms, ==, 9000);

  /* A remote clock a day and more ahead is refused. */
  sent.wall_ms = fake_now + (gint64) 25 * 3600 * 1000;
  g_assert_false (helix_hlc_clock_receive (b, &sent, &received, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

static void
test_hlc_compare_ties (void)
{
  HelixHlc x = { .wall_ms = 5, .counter = 1, .device = "a" };
  HelixHlc y = { .wall_ms = 5, .counter = 1, .device = "b" };
  HelixHlc z = { .wall_ms = 5, .counter = 2, .device = "a" };

  g_assert_cmpint (helix_hlc_compare (&x, &y), <, 0);
  g_assert_cmpint (helix_hlc_compare (&y, &z), <, 0);
  g_assert_cmpint (helix_hlc_compare (&x, &x), ==, 0);
}

static void
test_hlc_text (void)
{
  static const char * const bad[] = {
    "", ":", "1:2", "1:2:", "-1:2:a", "1:-2:a", "+1:2:a", " 1:2:a", "1:2:a b",
    "1:4294967296:a", "1:2:a:b", "x:2:a", "1234567890123456:0:a",
    "1:2:0123456789012345678901234567890123456789012345678901234567890123456789",
  };
  HelixHlc hlc = { .wall_ms = 1763769600000, .counter = 42, .device = "laptop-7f3a" };
  HelixHlc parsed;
  g_autofree char *text = helix_hlc_to_string (&hlc);

  g_assert_cmpstr (text, ==, "1763769600000:42:laptop-7f3a");

  /* The allocation-free form writes the same text, at the extremes too. */
  {
    HelixHlc big = { .wall_ms = G_MAXINT64, .counter = G_MAXUINT32, .device = "" };
    HelixHlc zero = { .wall_ms = 0, .counter = 0, .device = "d" };
    char buf[HELIX_HLC_STRING_MAX];

    memset (big.device, 'x', HELIX_HLC_DEVICE_MAX);
    big.device[HELIX_HLC_DEVICE_MAX] = '\0';
    g_assert_cmpuint (helix_hlc_format (&big, buf), ==, 19 + 1 + 10 + 1 + HELIX_HLC_DEVICE_MAX);
    g_assert_true (g_str_has_prefix (buf, "9223372036854775807:4294967295:xxxx"));
    g_assert_cmpuint (helix_hlc_format (&zero, buf), ==, 5);
    g_assert_cmpstr (buf, ==, "0:0:d");
  }
  g_assert_true (helix_hlc_parse (text, &parsed, NULL));
  g_assert_cmpint (helix_hlc_compare (&hlc, &parsed), ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_false (helix_hlc_parse (bad[i], &parsed, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    }
}

static void
test_uuid_v7 (void)
{
  g_autofree char *prev = NULL;
  gint64 now = g_get_real_time () / 1000;

  for (guint i = 0; i < 1000; i++)
    {
      g_autofree char *id = helix_uuid_new_v7_at (now + i);

      g_assert_true (helix_uuid_is_valid (id));
      g_assert_true (g_uuid_string_is_valid (id));
      g_assert_cmpint (id[14], ==, '7');
      g_assert_true (strchr ("89ab", id[19]) != NULL);
      g_assert_cmpint (helix_uuid_v7_get_time (id), ==, now + i);
      if (prev != NULL)
        g_assert_cmpstr (prev, <, id);
      g_free (g_steal_pointer (&prev));
      prev = g_steal_pointer (&id);
    }

  g_assert_false (helix_uuid_is_valid (NULL));
  g_assert_false (helix_uuid_is_valid (""));
  g_assert_false (helix_uuid_is_valid ("0190a0b2-7c3d-7000-8000-00000000000"));
  g_assert_false (helix_uuid_is_valid ("0190a0b2-7c3d-7000-8000-0000000000000"));
  g_assert_false (helix_uuid_is_valid ("0190A0B2-7C3D-7000-8000-000000000000"));
  g_assert_false (helix_uuid_is_valid ("0190a0b2x7c3d-7000-8000-000000000000"));
  g_assert_true (helix_uuid_is_valid ("0190a0b2-7c3d-7000-8000-000000000000"));
  g_assert_cmpint (helix_uuid_v7_get_time ("0190a0b2-7c3d-4000-8000-000000000000"), ==, -1);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/helix/hlc/monotonic", test_hlc_monotonic);
  g_test_add_func ("/helix/hlc/receive", test_hlc_receive);
  g_test_add_func ("/helix/hlc/compare-ties", test_hlc_compare_ties);
  g_test_add_func ("/helix/hlc/text", test_hlc_text);
  g_test_add_func ("/helix/uuid/v7", test_uuid_v7);

  return g_test_run ();
}
