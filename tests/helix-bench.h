/* helix-bench.h: what every benchmark may report beside its figures
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdio.h>
#include <unistd.h>

#include <glib.h>

/* CPU seconds the hypervisor took from this virtual machine so far, all its
 * CPUs together (the `steal` column of /proc/stat), or -1: time no process
 * here could run. Its growth during a phase is what moves the figures of
 * that phase between runs on a shared host. */
static inline double
helix_bench_steal_s (void)
{
  g_autofree char *text = NULL;
  unsigned long long steal;

  /* "cpu  user nice system idle iowait irq softirq steal …", in clock ticks */
  if (!g_file_get_contents ("/proc/stat", &text, NULL, NULL) ||
      sscanf (text, "cpu %*u %*u %*u %*u %*u %*u %*u %llu", &steal) != 1)
    return -1;

  return steal / (double) sysconf (_SC_CLK_TCK);
}
