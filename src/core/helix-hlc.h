/* helix-hlc.h: hybrid logical clock
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Longest device id an HLC may carry, in bytes. */
#define HELIX_HLC_DEVICE_MAX 64

/**
 * HelixHlc:
 * @wall_ms: physical component, milliseconds since the Unix epoch
 * @counter: logical component, breaks ties within one millisecond
 * @device: the device that made the timestamp; the last tie-breaker
 *
 * A hybrid logical clock timestamp. Its text form is `<wall_ms>:<counter>:<device>`,
 * e.g. `1763769600000:0:laptop-7f3a`.
 */
typedef struct
{
  gint64  wall_ms;
  guint32 counter;
  char    device[HELIX_HLC_DEVICE_MAX + 1];
} HelixHlc;

/* Longest text form: 20 digits, ':', 10 digits, ':', the device, and a NUL. */
#define HELIX_HLC_STRING_MAX (20 + 1 + 10 + 1 + HELIX_HLC_DEVICE_MAX + 1)

typedef struct _HelixHlcClock HelixHlcClock;

/**
 * HelixHlcTimeFunc:
 *
 * Returns the physical time in milliseconds since the Unix epoch; tests replace it.
 */
typedef gint64 (*HelixHlcTimeFunc) (gpointer user_data);

HelixHlcClock *helix_hlc_clock_new           (const char        *device);
void           helix_hlc_clock_set_time_func (HelixHlcClock     *clock,
                                              HelixHlcTimeFunc   func,
                                              gpointer           user_data);
void           helix_hlc_clock_free          (HelixHlcClock     *clock);
const char    *helix_hlc_clock_get_device    (HelixHlcClock     *clock);
void           helix_hlc_clock_now           (HelixHlcClock     *clock,
                                              HelixHlc          *out);
gboolean       helix_hlc_clock_receive       (HelixHlcClock     *clock,
                                              const HelixHlc    *remote,
                                              HelixHlc          *out,
                                              GError           **error);

int            helix_hlc_compare             (const HelixHlc    *a,
                                              const HelixHlc    *b);
char          *helix_hlc_to_string           (const HelixHlc    *hlc);
gsize          helix_hlc_format              (const HelixHlc    *hlc,
                                              char               buf[HELIX_HLC_STRING_MAX]);
gboolean       helix_hlc_parse               (const char        *str,
                                              HelixHlc          *out,
                                              GError           **error);
gboolean       helix_hlc_device_is_valid     (const char        *device);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixHlcClock, helix_hlc_clock_free)

G_END_DECLS
