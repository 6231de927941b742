/* helix-hlc.c: hybrid logical clock (Kulkarni et al., 2014)
 *
 * A timestamp is (wall_ms, counter, device). It never goes backwards on one device,
 * stays close to physical time, and orders every pair of events totally: by wall time,
 * then counter, then device id.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-core"

#include "config.h"

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <string.h>

#include "helix-hlc.h"

/* A remote clock further ahead than this is refused rather than dragging ours with it. */
#define MAX_DRIFT_MS (24 * 60 * 60 * 1000)
#define MAX_COUNTER  G_MAXUINT32

struct _HelixHlcClock
{
  HelixHlc          last;
  HelixHlcTimeFunc  time_func;
  gpointer          time_data;
  GMutex            mutex;
};

static gint64
real_time_ms (gpointer user_data)
{
  return g_get_real_time () / 1000;
}

gboolean
helix_hlc_device_is_valid (const char *device)
{
  gsize len;

  if (device == NULL)
    return FALSE;

  len = strlen (device);
  if (len == 0 || len > HELIX_HLC_DEVICE_MAX)
    return FALSE;

  for (gsize i = 0; i < len; i++)
    {
      if (!g_ascii_isalnum (device[i]) && device[i] != '-' && device[i] != '_' && device[i] != '.')
        return FALSE;
    }

  return TRUE;
}

HelixHlcClock *
helix_hlc_clock_new (const char *device)
{
  HelixHlcClock *clock;

  g_return_val_if_fail (helix_hlc_device_is_valid (device), NULL);

  clock = g_new0 (HelixHlcClock, 1);
  g_strlcpy (clock->last.device, device, sizeof clock->last.device);
  clock->time_func = real_time_ms;
  g_mutex_init (&clock->mutex);

  return clock;
}

void
helix_hlc_clock_set_time_func (HelixHlcClock    *clock,
                               HelixHlcTimeFunc  func,
                               gpointer          user_data)
{
  g_return_if_fail (clock != NULL);

  g_mutex_lock (&clock->mutex);
  clock->time_func = func ? func : real_time_ms;
  clock->time_data = user_data;
  g_mutex_unlock (&clock->mutex);
}

void
helix_hlc_clock_free (HelixHlcClock *clock)
{
  if (clock == NULL)
    return;

  g_mutex_clear (&clock->mutex);
  g_free (clock);
}

const char *
helix_hlc_clock_get_device (HelixHlcClock *clock)
{
  g_return_val_if_fail (clock != NULL, NULL);

  return clock->last.device;
}

/* Moves the clock to max(last, physical[, remote]) and returns the new timestamp. */
static void
advance_locked (HelixHlcClock  *clock,
                const HelixHlc *remote,
                HelixHlc       *out)
{
  gint64 physical = clock->time_func (clock->time_data);
  gint64 wall = MAX (clock->last.wall_ms, physical);
  guint32 counter;

  if (remote != NULL)
    wall = MAX (wall, remote->wall_ms);

  if (wall == clock->last.wall_ms && remote != NULL && wall == remote->wall_ms)
    counter = MAX (clock->last.counter, remote->counter);
  else if (wall == clock->last.wall_ms)
    counter = clock->last.counter;
  else if (remote != NULL && wall == remote->wall_ms)
    counter = remote->counter;
  else
    counter = 0;

  if (wall == clock->last.wall_ms || (remote != NULL && wall == remote->wall_ms))
    {
      if (counter == MAX_COUNTER)
        {
          /* Four billion events in one millisecond: borrow the next one. */
          wall++;
          counter = 0;
        }
      else
        {
          counter++;
        }
    }

  clock->last.wall_ms = wall;
  clock->last.counter = counter;
  *out = clock->last;
}

void
helix_hlc_clock_now (HelixHlcClock *clock,
                     HelixHlc      *out)
{
  g_return_if_fail (clock != NULL);
  g_return_if_fail (out != NULL);

  g_mutex_lock (&clock->mutex);
  advance_locked (clock, NULL, out);
  g_mutex_unlock (&clock->mutex);
}

/**
 * helix_hlc_clock_receive:
 * @clock: the local clock
 * @remote: a timestamp received from another device
 * @out: (out): the local timestamp for the receive event
 * @error: set when @remote is more than a day ahead of local time
 *
 * Merges a remote timestamp so that every later local timestamp sorts after it.
 */
gboolean
helix_hlc_clock_receive (HelixHlcClock   *clock,
                         const HelixHlc  *remote,
                         HelixHlc        *out,
                         GError         **error)
{
  gint64 physical;

  g_return_val_if_fail (clock != NULL, FALSE);
  g_return_val_if_fail (remote != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);

  g_mutex_lock (&clock->mutex);

  physical = clock->time_func (clock->time_data);
  if (remote->wall_ms > physical + MAX_DRIFT_MS)
    {
      g_mutex_unlock (&clock->mutex);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("A timestamp from device “%s” is more than a day in the future; "
                     "check that device’s clock"),
                   remote->device);
      return FALSE;
    }

  advance_locked (clock, remote, out);
  g_mutex_unlock (&clock->mutex);

  return TRUE;
}

int
helix_hlc_compare (const HelixHlc *a,
                   const HelixHlc *b)
{
  if (a->wall_ms != b->wall_ms)
    return a->wall_ms < b->wall_ms ? -1 : 1;
  if (a->counter != b->counter)
    return a->counter < b->counter ? -1 : 1;

  return strcmp (a->device, b->device);
}

static gsize
format_decimal (guint64  value,
                char    *out)
{
  char digits[20];
  gsize n = 0;

  do
    {
      digits[n++] = (char) ('0' + value % 10);
      value /= 10;
    }
  while (value != 0);

  for (gsize i = 0; i < n; i++)
    out[i] = digits[n - 1 - i];

  return n;
}

/**
 * helix_hlc_format:
 * @hlc: a timestamp
 * @buf: where to write its text form, NUL-terminated
 *
 * Like helix_hlc_to_string() without an allocation: the store stamps every row it
 * writes, and printf was a measurable share of a bulk import.
 *
 * Returns: the length written, without the NUL
 */
gsize
helix_hlc_format (const HelixHlc *hlc,
                  char            buf[HELIX_HLC_STRING_MAX])
{
  gsize n = 0;
  gsize device_len;

  g_return_val_if_fail (hlc != NULL, 0);

  n += format_decimal ((guint64) MAX (hlc->wall_ms, 0), buf + n);
  buf[n++] = ':';
  n += format_decimal (hlc->counter, buf + n);
  buf[n++] = ':';
  device_len = strnlen (hlc->device, HELIX_HLC_DEVICE_MAX);
  memcpy (buf + n, hlc->device, device_len);
  n += device_len;
  buf[n] = '\0';

  return n;
}

char *
helix_hlc_to_string (const HelixHlc *hlc)
{
  char buf[HELIX_HLC_STRING_MAX];

  g_return_val_if_fail (hlc != NULL, NULL);

  helix_hlc_format (hlc, buf);

  return g_strdup (buf);
}

gboolean
helix_hlc_parse (const char  *str,
                 HelixHlc    *out,
                 GError     **error)
{
  const char *p = str;
  const char *colon;
  guint64 wall;
  guint64 counter;
  char *end = NULL;

  g_return_val_if_fail (out != NULL, FALSE);

  if (str == NULL || strlen (str) > 20 + 1 + 10 + 1 + HELIX_HLC_DEVICE_MAX)
    goto invalid;

  /* Digits only: g_ascii_strtoull would accept signs and spaces. */
  colon = strchr (p, ':');
  if (colon == NULL || colon == p || colon - p > 15)
    goto invalid;
  for (const char *q = p; q < colon; q++)
    if (!g_ascii_isdigit (*q))
      goto invalid;
  wall = g_ascii_strtoull (p, &end, 10);
  if (end != colon)
    goto invalid;

  p = colon + 1;
  colon = strchr (p, ':');
  if (colon == NULL || colon == p || colon - p > 10)
    goto invalid;
  for (const char *q = p; q < colon; q++)
    if (!g_ascii_isdigit (*q))
      goto invalid;
  counter = g_ascii_strtoull (p, &end, 10);
  if (end != colon || counter > MAX_COUNTER)
    goto invalid;

  p = colon + 1;
  if (!helix_hlc_device_is_valid (p))
    goto invalid;

  out->wall_ms = (gint64) wall;
  out->counter = (guint32) counter;
  g_strlcpy (out->device, p, sizeof out->device);

  return TRUE;

invalid:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               _("“%.80s” is not a hybrid logical clock timestamp (expected WALL_MS:COUNTER:DEVICE)"),
               str ? str : "(null)");
  return FALSE;
}
