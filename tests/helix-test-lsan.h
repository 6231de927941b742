/* helix-test-lsan.h: keeping LeakSanitizer to the leaks that are ours
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#if defined(__SANITIZE_ADDRESS__)
#include <stdio.h>
#include <string.h>

/* The sanitizer allocator's interface (GCC 12 ships no header for it). */
extern int    __sanitizer_get_ownership      (const volatile void *p);
extern size_t __sanitizer_get_allocated_size (const volatile void *p);

/* GLib's quark table starts as a block of 2,048 entries. When it grows,
 * GLib copies it and drops the old block on purpose (gquark.c: "This leaks
 * the old quarks array ... it allows us to do lockless lookup"). Built
 * without frame pointers, GLib gives LeakSanitizer a stack of two frames,
 * malloc and g_malloc, which a suppression cannot tell from a leak of ours.
 * So the block is found while it is still the table (a pointer in GLib's
 * writable data to a heap block of its size, whose entry 1 is the first
 * quark's name) and kept here: still pointed to, it is not reported. */
#define HELIX_TEST_QUARK_BLOCK 2048

static gpointer helix_test_kept_quark_block;

static inline gboolean
helix_test_find_quark_block (guintptr    start,
                             guintptr    end,
                             const char *first_quark)
{
  for (const gpointer *word = (const gpointer *) start; (guintptr) (word + 1) <= end; word++)
    {
      gpointer block = *word;

      if (block != NULL && __sanitizer_get_ownership (block) &&
          __sanitizer_get_allocated_size (block) == HELIX_TEST_QUARK_BLOCK * sizeof (char *) &&
          ((const char **) block)[1] == first_quark)
        {
          helix_test_kept_quark_block = block;
          return TRUE;
        }
    }

  return FALSE;
}

/* Call before the table grows (early in a test program). */
static inline void
helix_test_keep_quark_block (void)
{
  const char *first_quark = g_quark_to_string (1);
  FILE *maps = fopen ("/proc/self/maps", "r");
  char line[512];

  g_assert_nonnull (first_quark);
  g_assert_nonnull (maps);
  while (helix_test_kept_quark_block == NULL && fgets (line, sizeof line, maps) != NULL)
    {
      unsigned long start, end;
      char perms[5];

      if (strstr (line, "libglib-2.0.so") != NULL &&
          sscanf (line, "%lx-%lx %4s", &start, &end, perms) == 3 &&
          perms[0] == 'r' && perms[1] == 'w')
        helix_test_find_quark_block (start, end, first_quark);
    }
  fclose (maps);
  g_assert_nonnull (helix_test_kept_quark_block);
}
#else
static inline void
helix_test_keep_quark_block (void)
{
}
#endif
