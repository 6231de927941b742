/* helix-test-util.h: small helpers shared by the tests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <glib/gstdio.h>

G_BEGIN_DECLS

/* Removes a directory tree made by a test. */
static inline void
helix_test_rm_rf (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        helix_test_rm_rf (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static inline gboolean
helix_test_timeout_cb (gpointer user_data)
{
  g_error ("Timed out waiting for %s", (const char *) user_data);
  return G_SOURCE_REMOVE;
}

/* Spins the default main context until *@done is set; fails the test after
 * @timeout_s seconds rather than hanging. */
#define helix_test_wait_for(done, timeout_s, what) \
  G_STMT_START { \
    guint _timeout_id = g_timeout_add_seconds ((timeout_s), helix_test_timeout_cb, (gpointer) (what)); \
    while (!(done)) \
      g_main_context_iteration (NULL, TRUE); \
    g_source_remove (_timeout_id); \
  } G_STMT_END

/* A GAsyncReadyCallback that keeps the result in the GAsyncResult * at @user_data:
 * then helix_test_wait_for (result != NULL, …) and call the _finish function. */
static inline void
helix_test_result_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

/* Waits (at most five seconds) until the weak pointer at @weak_location is cleared. */
static inline void
helix_test_wait_finalized (gpointer *weak_location)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (g_atomic_pointer_get (weak_location) != NULL && g_get_monotonic_time () < deadline)
    {
      g_main_context_iteration (NULL, FALSE);
      g_thread_yield ();
    }

  if (*weak_location != NULL)
    g_error ("%s %p was not finalized: a reference leaked",
             G_OBJECT_TYPE_NAME (*weak_location), *weak_location);
}

/* Drops the last reference to @object and checks that it is finalized. A GTask worker
 * thread may hold a reference for a moment after its callback ran, so this waits for
 * that instead of asserting at once. */
static inline void
helix_test_assert_finalized (gpointer object)
{
  gpointer weak = object;

  g_object_add_weak_pointer (G_OBJECT (object), &weak);
  g_object_unref (object);
  helix_test_wait_finalized (&weak);
}

G_END_DECLS
