/* helix-uuid.c: UUID version 7 (RFC 9562), time-ordered
 *
 * Version 7 UUIDs start with the creation time in milliseconds, so ids made one after
 * another sort together: new rows land at the end of the SQLite index instead of at
 * random pages, which keeps bulk imports fast.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-core"

#include "config.h"

#include "helix-uuid.h"

static const char hex_digits[] = "0123456789abcdef";

void
helix_uuid_format_v7 (gint64 unix_ms,
                      char   out[HELIX_UUID_STRING_LEN + 1])
{
  guint8 bytes[16];
  guint o = 0;

  g_return_if_fail (out != NULL);

  /* 48-bit big-endian timestamp, then 74 random bits. */
  for (guint i = 0; i < 6; i++)
    bytes[i] = (guint8) ((guint64) unix_ms >> (8 * (5 - i)));
  for (guint i = 6; i < 16; i += 4)
    {
      guint32 r = g_random_int ();
      for (guint j = 0; j < 4 && i + j < 16; j++)
        bytes[i + j] = (guint8) (r >> (8 * j));
    }
  bytes[6] = (bytes[6] & 0x0f) | 0x70; /* version 7 */
  bytes[8] = (bytes[8] & 0x3f) | 0x80; /* RFC 9562 variant */

  for (guint i = 0; i < 16; i++)
    {
      if (i == 4 || i == 6 || i == 8 || i == 10)
        out[o++] = '-';
      out[o++] = hex_digits[bytes[i] >> 4];
      out[o++] = hex_digits[bytes[i] & 0xf];
    }
  out[o] = '\0';
}

char *
helix_uuid_new_v7_at (gint64 unix_ms)
{
  char *str = g_malloc (HELIX_UUID_STRING_LEN + 1);

  helix_uuid_format_v7 (unix_ms, str);

  return str;
}

char *
helix_uuid_new_v7 (void)
{
  return helix_uuid_new_v7_at (g_get_real_time () / 1000);
}

/**
 * helix_uuid_is_valid:
 * @str: (nullable): a string
 *
 * Checks that @str is a UUID in its canonical lower-case text form. Ids from other
 * devices are checked with this before they reach the database.
 */
gboolean
helix_uuid_is_valid (const char *str)
{
  if (str == NULL)
    return FALSE;

  for (guint i = 0; i < HELIX_UUID_STRING_LEN; i++)
    {
      char c = str[i];

      if (i == 8 || i == 13 || i == 18 || i == 23)
        {
          if (c != '-')
            return FALSE;
        }
      else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
        {
          return FALSE;
        }
    }

  return str[HELIX_UUID_STRING_LEN] == '\0';
}

/**
 * helix_uuid_v7_get_time:
 * @str: a version 7 UUID
 *
 * Returns: the milliseconds since the Unix epoch that @str carries, or -1 when @str
 *   is not a valid version 7 UUID
 */
gint64
helix_uuid_v7_get_time (const char *str)
{
  gint64 ms = 0;

  if (!helix_uuid_is_valid (str) || str[14] != '7')
    return -1;

  for (guint i = 0; i < 13; i++)
    {
      if (str[i] == '-')
        continue;
      ms = (ms << 4) | g_ascii_xdigit_value (str[i]);
    }

  return ms;
}
