/* bench-markdown.c: rendering an answer from Markdown
 *
 * Prints lines `BENCH <name> <value> <unit>`. Run with `meson test -C <build> --benchmark`
 * under a display (build-aux/dev.sh bench runs it in Xvfb).
 *
 *   markdown_render_20kb_ms   a 20 KB mixed answer into an empty view: parse, build the
 *                             widgets, and measure them for a 720 px wide row (text laid
 *                             out); the mean of 20 runs
 *   markdown_stream_step_ms   the same answer streamed in 200-byte steps: the mean cost of
 *                             one step (set the text so far, measure again)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-bench-markdown"

#include "config.h"

#include <stdio.h>
#include <string.h>

#include <adwaita.h>

#include "helix-markdown-view.h"
#include "helix-test-markdown.h"

#define RENDER_RUNS 20
#define STREAM_STEP 200
#define ROW_WIDTH 720

static void
measure (GtkWidget *view)
{
  int minimum, natural;

  gtk_widget_measure (view, GTK_ORIENTATION_VERTICAL, ROW_WIDTH, &minimum, &natural, NULL, NULL);
  g_assert_cmpint (natural, >, 0);
}

static void
settle (void)
{
  for (guint i = 0; i < 1000 && g_main_context_pending (NULL); i++)
    g_main_context_iteration (NULL, FALSE);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *doc = NULL;
  GtkWindow *window;
  GtkWidget *holder;
  gsize len;
  double render_ms = 0;
  double stream_ms = 0;
  guint n_steps = 0;

  gtk_init ();
  adw_init ();

  doc = helix_test_markdown_document (20 * 1024);
  len = strlen (doc);

  /* A realized window, as in the app; the views are measured, not shown. */
  window = GTK_WINDOW (gtk_window_new ());
  holder = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  gtk_window_set_child (window, holder);
  gtk_window_present (window);
  settle ();

  for (guint run = 0; run <= RENDER_RUNS; run++)
    {
      GtkWidget *view = helix_markdown_view_new ();
      gint64 start;

      gtk_box_append (GTK_BOX (holder), view);
      start = g_get_monotonic_time ();
      helix_markdown_view_set_markdown (HELIX_MARKDOWN_VIEW (view), doc, len);
      measure (view);
      /* The first run warms up caches (fonts, languages, styles); it does not count. */
      if (run > 0)
        render_ms += (g_get_monotonic_time () - start) / 1000.0;
      gtk_box_remove (GTK_BOX (holder), view);
      settle ();
    }
  render_ms /= RENDER_RUNS;

  {
    GtkWidget *view = helix_markdown_view_new ();

    gtk_box_append (GTK_BOX (holder), view);
    for (gsize n = STREAM_STEP; ; n = MIN (n + STREAM_STEP, len))
      {
        gint64 start = g_get_monotonic_time ();

        helix_markdown_view_set_markdown (HELIX_MARKDOWN_VIEW (view), doc, n);
        measure (view);
        stream_ms += (g_get_monotonic_time () - start) / 1000.0;
        n_steps++;
        if (n == len)
          break;
      }
    gtk_box_remove (GTK_BOX (holder), view);
  }
  stream_ms /= n_steps;

  printf ("# %" G_GSIZE_FORMAT " bytes, %u streaming steps\n", len, n_steps);
  printf ("BENCH markdown_render_20kb_ms %.2f ms\n", render_ms);
  printf ("BENCH markdown_stream_step_ms %.3f ms\n", stream_ms);

  gtk_window_destroy (window);
  settle ();

  return 0;
}
