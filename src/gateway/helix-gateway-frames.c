/* helix-gateway-frames.c: the frames the gateway sends for every op
 *
 * `ops` and `ack` frames are most of what the gateway writes: one `ops`
 * frame per stored op for each other device of the user, one `ack` per
 * push. They are spliced here from text instead of going through a
 * JsonBuilder and a JsonGenerator: an op of an `ops` frame is its canonical
 * text (helix_sync_op_canonical(), made once when the op is stored and kept
 * in the log) with `"seq":N` put in front of its first member. The canonical
 * form is valid JSON of a wire op (PROTOCOL.md section 5: members and data
 * members sorted, strings escaped, integers in decimal, `cost` as %.17g), so
 * the frame is valid for the strict parser of the devices; member order
 * does not matter to it. tests/test-gateway-ws.c parses every frame it gets
 * with that parser.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <string.h>

#include "helix-gateway-private.h"
#include "helix-sync.h"
#include "helix-uuid.h"

#define OPS_HEAD "{\"type\":\"ops\",\"ops\":["
#define OPS_TAIL "]}"
#define SEQ_HEAD "{\"seq\":"

/* Decimal digits of @value, 1 ≤ @value ≤ HELIX_SYNC_MAX_INT. */
static guint
count_digits (gint64 value)
{
  guint n = 1;

  while (value >= 10)
    {
      value /= 10;
      n++;
    }

  return n;
}


/**
 * _helix_gateway_op_frame_bytes:
 * @seq: the op's seq
 * @canonical_len: the length of its canonical text
 *
 * Returns: how many bytes the op takes in an `ops` frame, without the comma
 *   between two ops
 */
gsize
_helix_gateway_op_frame_bytes (gint64 seq,
                               gsize  canonical_len)
{
  /* `{"seq":N,` then the canonical text without its `{`. */
  return strlen (SEQ_HEAD) + count_digits (seq) + 1 + canonical_len - 1;
}

/**
 * _helix_gateway_ops_frame_bytes:
 * @seqs: (array length=n): the seqs of the ops
 * @canonicals: (array length=n): their canonical texts
 * @n: how many ops, at least 1
 *
 * Returns: the length of the `ops` frame _helix_gateway_build_ops_frame()
 *   makes of them
 */
gsize
_helix_gateway_ops_frame_bytes (const gint64 *seqs,
                                char * const *canonicals,
                                guint         n)
{
  gsize total = strlen (OPS_HEAD) + strlen (OPS_TAIL) + (n - 1);

  for (guint i = 0; i < n; i++)
    total += _helix_gateway_op_frame_bytes (seqs[i], strlen (canonicals[i]));

  return total;
}

/**
 * _helix_gateway_build_ops_frame:
 * @seqs: (array length=n): the seqs of the ops, increasing
 * @canonicals: (array length=n): their canonical texts (helix_sync_op_canonical())
 * @n: how many ops, 1 to %HELIX_SYNC_MAX_OPS
 * @length: (out) (optional): the length of the frame
 *
 * Returns: (transfer full): the `ops` frame of these ops, each with its seq;
 *   the caller keeps it under %HELIX_SYNC_MAX_FRAME_BYTES
 */
char *
_helix_gateway_build_ops_frame (const gint64 *seqs,
                                char * const *canonicals,
                                guint         n,
                                gsize        *length)
{
  GString *out;

  g_assert (n >= 1 && n <= HELIX_SYNC_MAX_OPS);

  out = g_string_sized_new (_helix_gateway_ops_frame_bytes (seqs, canonicals, n) + 1);
  g_string_append_len (out, OPS_HEAD, strlen (OPS_HEAD));
  for (guint i = 0; i < n; i++)
    {
      const char *canonical = canonicals[i];

      /* An object with at least one member (`hlc` is never absent). */
      g_assert (canonical[0] == '{' && canonical[1] == '"');
      g_assert (seqs[i] >= 1 && seqs[i] <= HELIX_SYNC_MAX_INT);

      if (i > 0)
        g_string_append_c (out, ',');
      g_string_append_len (out, SEQ_HEAD, strlen (SEQ_HEAD));
      _helix_gateway_append_int (out, seqs[i]);
      g_string_append_c (out, ',');
      g_string_append (out, canonical + 1);
    }
  g_string_append_len (out, OPS_TAIL, strlen (OPS_TAIL));

  if (length != NULL)
    *length = out->len;

  return g_string_free (out, FALSE);
}

/**
 * _helix_gateway_build_ack_frame:
 * @ops: (array length=n): the ops of a push
 * @seqs: (array length=n): the seq of each
 * @n: how many, 1 to %HELIX_SYNC_MAX_OPS
 *
 * helix_sync_frame_build_ack() without json-glib: op ids are canonical
 * UUIDs (the parser checked them) and seqs integers, nothing to escape.
 *
 * Returns: (transfer full): the `ack` frame
 */
char *
_helix_gateway_build_ack_frame (HelixSyncOp * const *ops,
                                const gint64        *seqs,
                                guint                n)
{
  /* `{"op":"<36>","seq":<16>},` */
  GString *out = g_string_sized_new (32 + n * 72);

  g_assert (n >= 1 && n <= HELIX_SYNC_MAX_OPS);

  g_string_append (out, "{\"type\":\"ack\",\"acks\":[");
  for (guint i = 0; i < n; i++)
    {
      const char *op_id = helix_sync_op_get_op_id (ops[i]);

      g_assert (helix_uuid_is_valid (op_id));
      g_assert (seqs[i] >= 1 && seqs[i] <= HELIX_SYNC_MAX_INT);

      if (i > 0)
        g_string_append_c (out, ',');
      g_string_append (out, "{\"op\":\"");
      g_string_append_len (out, op_id, HELIX_UUID_STRING_LEN);
      g_string_append (out, "\",\"seq\":");
      _helix_gateway_append_int (out, seqs[i]);
      g_string_append_c (out, '}');
    }
  g_string_append (out, "]}");

  return g_string_free (out, FALSE);
}
