/* helix-sync-frame.c: parsing the frames of the sync protocol
 *
 * Every frame goes through three gates before any member is read: its size, a
 * linear syntax, encoding and depth scan (helix-sync-json.c), then json-glib. After
 * that each frame type has a fixed set of members, each with a fixed JSON type and
 * range; anything else is refused. PROTOCOL.md documents exactly these rules. Push
 * frames of the usual shape skip the json-glib tree of the frame itself (see "Push
 * frames, the short way" below), never its rules.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-sync"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-hlc.h"
#include "helix-uuid.h"
#include "helix-sync-frame.h"
#include "helix-sync-json.h"
#include "helix-sync-private.h"

struct _HelixSyncFrame
{
  gatomicrefcount     ref_count;
  HelixSyncFrameKind  kind;
  gint64              cursor;         /* hello, synced */
  gint64              head;           /* welcome */
  gint64              index;          /* message.delta */
  char               *user;           /* welcome */
  char               *device;         /* hello, welcome */
  GPtrArray          *ops;            /* ops, push: HelixSyncOp */
  GArray             *acks;           /* ack: HelixSyncAck */
  char               *session_id;     /* message.delta */
  char               *message_id;     /* message.delta */
  char               *delta;          /* message.delta */
  char               *code;           /* error */
  char               *message;        /* error */
  char               *op_id;          /* error, optional */
  char               *ping_id;        /* ping, pong, optional */
  char               *reply_id;       /* chat, chat.failed */
  char               *model;          /* chat, optional */
};

G_DEFINE_BOXED_TYPE (HelixSyncFrame, helix_sync_frame, helix_sync_frame_ref, helix_sync_frame_unref)

/* Members of each frame type, indexed by HelixSyncFrameKind. */
static const char * const frame_members[][6] = {
  [HELIX_SYNC_FRAME_HELLO]         = { "type", "cursor", "device", NULL },
  [HELIX_SYNC_FRAME_WELCOME]       = { "type", "user", "device", "head", NULL },
  [HELIX_SYNC_FRAME_OPS]           = { "type", "ops", NULL },
  [HELIX_SYNC_FRAME_SYNCED]        = { "type", "cursor", NULL },
  [HELIX_SYNC_FRAME_PUSH]          = { "type", "ops", NULL },
  [HELIX_SYNC_FRAME_ACK]           = { "type", "acks", NULL },
  [HELIX_SYNC_FRAME_MESSAGE_DELTA] = { "type", "session", "message", "delta", "index", NULL },
  [HELIX_SYNC_FRAME_ERROR]         = { "type", "code", "message", "op", NULL },
  [HELIX_SYNC_FRAME_PING]          = { "type", "id", NULL },
  [HELIX_SYNC_FRAME_PONG]          = { "type", "id", NULL },
  [HELIX_SYNC_FRAME_CHAT]          = { "type", "session", "message", "reply", "model", NULL },
  [HELIX_SYNC_FRAME_CHAT_FAILED]   = { "type", "session", "reply", "error", NULL },
  [HELIX_SYNC_FRAME_CHAT_CANCEL]   = { "type", "session", "reply", NULL },
};

static const char * const ack_members[] = { "op", "seq", NULL };

static gboolean
get_device (JsonObject  *object,
            char       **out,
            GError     **error)
{
  const char *device;

  if (!_helix_sync_get_string (object, "device", TRUE, HELIX_HLC_DEVICE_MAX + 1,
                               HELIX_SYNC_ERROR_BAD_FRAME, &device, error))
    return FALSE;

  if (!helix_hlc_device_is_valid (device))
    {
      g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_FRAME,
                   _("Member “device” must be 1 to %d characters of A–Z, a–z, 0–9, "
                     "‘-’, ‘_’ and ‘.’"), HELIX_HLC_DEVICE_MAX);
      return FALSE;
    }

  *out = g_strdup (device);
  return TRUE;
}

static JsonArray *
get_array (JsonObject  *object,
           const char  *name,
           GError     **error)
{
  JsonNode *node = json_object_get_member (object, name);
  JsonArray *array;
  guint n;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    {
      g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_FRAME,
                   _("Member “%s” must be an array"), name);
      return NULL;
    }

  array = json_node_get_array (node);
  n = json_array_get_length (array);
  if (n == 0)
    {
      g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_FRAME,
                   _("Member “%s” must not be empty"), name);
      return NULL;
    }
  if (n > HELIX_SYNC_MAX_OPS)
    {
      g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_TOO_LARGE,
                   _("Member “%s” holds %u entries; send at most %d per frame"),
                   name, n, HELIX_SYNC_MAX_OPS);
      return NULL;
    }

  return array;
}

static gboolean
parse_ops (HelixSyncFrame  *frame,
           JsonObject      *object,
           char           **bad_op_id,
           GError         **error)
{
  HelixSyncSeqMode mode = frame->kind == HELIX_SYNC_FRAME_OPS
                          ? HELIX_SYNC_SEQ_REQUIRED : HELIX_SYNC_SEQ_FORBIDDEN;
  JsonArray *array = get_array (object, "ops", error);
  guint n;

  if (array == NULL)
    return FALSE;

  n = json_array_get_length (array);
  frame->ops = g_ptr_array_new_full (n, (GDestroyNotify) helix_sync_op_unref);

  for (guint i = 0; i < n; i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      HelixSyncOp *op;
      JsonObject *op_object;
      const char *op_id;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        {
          g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP,
                       _("Operation %u is not a JSON object"), i);
          return FALSE;
        }

      op_object = json_node_get_object (node);
      op = _helix_sync_op_new_from_object (op_object, mode, error);
      if (op == NULL)
        {
          /* Name the op in the error frame when its id at least is readable. */
          if (bad_op_id != NULL &&
              _helix_sync_get_uuid (op_object, "op", TRUE, HELIX_SYNC_ERROR_BAD_OP, &op_id, NULL))
            *bad_op_id = g_strdup (op_id);
          g_prefix_error (error, _("Operation %u: "), i);
          return FALSE;
        }

      g_ptr_array_add (frame->ops, op);
    }

  return TRUE;
}

static gboolean
parse_acks (HelixSyncFrame  *frame,
            JsonObject      *object,
            GError         **error)
{
  JsonArray *array = get_array (object, "acks", error);
  guint n;

  if (array == NULL)
    return FALSE;

  n = json_array_get_length (array);
  frame->acks = g_array_sized_new (FALSE, TRUE, sizeof (HelixSyncAck), n);

  for (guint i = 0; i < n; i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      JsonObject *ack_object;
      HelixSyncAck ack;
      const char *op_id;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        {
          g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_FRAME,
                       _("Ack %u is not a JSON object"), i);
          return FALSE;
        }

      ack_object = json_node_get_object (node);
      if (!_helix_sync_check_members (ack_object, ack_members, HELIX_SYNC_ERROR_BAD_FRAME,
                                      N_("an ack"), error) ||
          !_helix_sync_get_uuid (ack_object, "op", TRUE, HELIX_SYNC_ERROR_BAD_FRAME, &op_id,
                                 error) ||
          !_helix_sync_get_int (ack_object, "seq", TRUE, 1, HELIX_SYNC_MAX_INT,
                                HELIX_SYNC_ERROR_BAD_FRAME, &ack.seq, NULL, error))
        {
          g_prefix_error (error, _("Ack %u: "), i);
          return FALSE;
        }

      memcpy (ack.op, op_id, sizeof ack.op);
      g_array_append_val (frame->acks, ack);
    }

  return TRUE;
}

static gboolean
get_dup_string (JsonObject  *object,
                const char  *name,
                gboolean     required,
                gsize        max_bytes,
                char       **out,
                GError     **error)
{
  const char *str;

  if (!_helix_sync_get_string (object, name, required, max_bytes, HELIX_SYNC_ERROR_BAD_FRAME,
                               &str, error))
    return FALSE;

  *out = g_strdup (str);
  return TRUE;
}

static gboolean
get_dup_uuid (JsonObject  *object,
              const char  *name,
              gboolean     required,
              char       **out,
              GError     **error)
{
  const char *str;

  if (!_helix_sync_get_uuid (object, name, required, HELIX_SYNC_ERROR_BAD_FRAME, &str, error))
    return FALSE;

  *out = g_strdup (str);
  return TRUE;
}

static gboolean
parse_error_code (HelixSyncFrame  *frame,
                  JsonObject      *object,
                  GError         **error)
{
  if (!get_dup_string (object, "code", TRUE, HELIX_SYNC_MAX_CODE_BYTES, &frame->code, error))
    return FALSE;

  /* Unknown codes are allowed, so that a gateway can add some, but not odd text. */
  for (const char *p = frame->code; *p != '\0'; p++)
    {
      if (!g_ascii_islower (*p) && *p != '_')
        goto bad;
    }
  if (frame->code[0] != '\0')
    return TRUE;

bad:
  g_set_error_literal (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_FRAME,
                       _("Member “code” must be 1 to 64 characters of a–z and ‘_’"));
  return FALSE;
}

static gboolean
parse_members (HelixSyncFrame  *frame,
               JsonObject      *object,
               char           **bad_op_id,
               GError         **error)
{
  const char *user;

  switch (frame->kind)
    {
    case HELIX_SYNC_FRAME_HELLO:
      return _helix_sync_get_int (object, "cursor", TRUE, 0, HELIX_SYNC_MAX_INT,
                                  HELIX_SYNC_ERROR_BAD_FRAME, &frame->cursor, NULL, error) &&
             get_device (object, &frame->device, error);

    case HELIX_SYNC_FRAME_WELCOME:
      if (!_helix_sync_get_string (object, "user", TRUE, HELIX_SYNC_MAX_NAME_BYTES,
                                   HELIX_SYNC_ERROR_BAD_FRAME, &user, error))
        return FALSE;
      if (user[0] == '\0')
        {
          g_set_error_literal (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_FRAME,
                               _("Member “user” must not be empty"));
          return FALSE;
        }
      frame->user = g_strdup (user);
      return get_device (object, &frame->device, error) &&
             _helix_sync_get_int (object, "head", TRUE, 0, HELIX_SYNC_MAX_INT,
                                  HELIX_SYNC_ERROR_BAD_FRAME, &frame->head, NULL, error);

    case HELIX_SYNC_FRAME_OPS:
    case HELIX_SYNC_FRAME_PUSH:
      return parse_ops (frame, object, bad_op_id, error);

    case HELIX_SYNC_FRAME_SYNCED:
      return _helix_sync_get_int (object, "cursor", TRUE, 0, HELIX_SYNC_MAX_INT,
                                  HELIX_SYNC_ERROR_BAD_FRAME, &frame->cursor, NULL, error);

    case HELIX_SYNC_FRAME_ACK:
      return parse_acks (frame, object, error);

    case HELIX_SYNC_FRAME_MESSAGE_DELTA:
      return get_dup_uuid (object, "session", TRUE, &frame->session_id, error) &&
             get_dup_uuid (object, "message", TRUE, &frame->message_id, error) &&
             get_dup_string (object, "delta", TRUE, HELIX_SYNC_MAX_DELTA_BYTES,
                             &frame->delta, error) &&
             _helix_sync_get_int (object, "index", TRUE, 0, HELIX_SYNC_MAX_INT,
                                  HELIX_SYNC_ERROR_BAD_FRAME, &frame->index, NULL, error);

    case HELIX_SYNC_FRAME_ERROR:
      return parse_error_code (frame, object, error) &&
             get_dup_string (object, "message", TRUE, HELIX_SYNC_MAX_MESSAGE_BYTES,
                             &frame->message, error) &&
             get_dup_uuid (object, "op", FALSE, &frame->op_id, error);

    case HELIX_SYNC_FRAME_PING:
    case HELIX_SYNC_FRAME_PONG:
      return get_dup_string (object, "id", FALSE, HELIX_SYNC_MAX_PING_ID_BYTES,
                             &frame->ping_id, error);

    case HELIX_SYNC_FRAME_CHAT:
      return get_dup_uuid (object, "session", TRUE, &frame->session_id, error) &&
             get_dup_uuid (object, "message", TRUE, &frame->message_id, error) &&
             get_dup_uuid (object, "reply", TRUE, &frame->reply_id, error) &&
             get_dup_string (object, "model", FALSE, HELIX_SYNC_MAX_MODEL_BYTES,
                             &frame->model, error);

    case HELIX_SYNC_FRAME_CHAT_CANCEL:
      return get_dup_uuid (object, "session", TRUE, &frame->session_id, error) &&
             get_dup_uuid (object, "reply", TRUE, &frame->reply_id, error);

    case HELIX_SYNC_FRAME_CHAT_FAILED:
      return get_dup_uuid (object, "session", TRUE, &frame->session_id, error) &&
             get_dup_uuid (object, "reply", TRUE, &frame->reply_id, error) &&
             get_dup_string (object, "error", TRUE, HELIX_SYNC_MAX_MESSAGE_BYTES,
                             &frame->message, error);

    default:
      g_assert_not_reached ();
    }

  return FALSE;
}

/* Push frames, the short way {{{1
 *
 * Every op a device makes reaches the gateway in a push frame, and building
 * the json-glib tree of one cost the gateway more than anything else it did
 * with the op (allocations and hash tables, for members read once). Devices
 * send them in one shape: {"type":"push","ops":[…]}, each op an object of
 * the members op, type, id, session and hlc, strings without escapes, and
 * data, an object. _helix_sync_frame_parse_push_fast() reads that shape
 * straight from the text, which helix_json_validate() accepted (so it is
 * strict JSON, within the depth limit), and leaves only each op's data to
 * json-glib and to the same checks as the long way (set_data() in
 * helix-sync-op.c).
 *
 * It takes nothing it is not sure of: a member it does not expect, one
 * repeated, an escape, a value the long way would refuse, and it gives up;
 * the frame then goes the long way, which refuses it with the error it
 * deserves (or accepts what the short way does not know). So the short way
 * never accepts what the long way refuses, and it makes the same ops:
 * /helix/sync/frame/push-fast compares the two on thousands of mutated
 * frames. */

typedef struct
{
  const char *p;
  const char *end;
} Scan;

#define SCAN_IS(str, len, literal) \
  ((len) == sizeof (literal) - 1 && memcmp ((str), (literal), sizeof (literal) - 1) == 0)

static void
scan_space (Scan *s)
{
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

/* Takes @c, after optional space. */
static gboolean
scan_char (Scan *s,
           char  c)
{
  scan_space (s);
  if (s->p >= s->end || *s->p != c)
    return FALSE;
  s->p++;

  return TRUE;
}

/* A string without escapes: the bytes between its quotes. */
static gboolean
scan_plain_string (Scan        *s,
                   const char **str,
                   gsize       *len)
{
  const char *start;

  scan_space (s);
  if (s->p >= s->end || *s->p != '"')
    return FALSE;

  start = ++s->p;
  while (s->p < s->end && *s->p != '"')
    {
      if (*s->p == '\\')
        return FALSE;
      s->p++;
    }
  if (s->p >= s->end)
    return FALSE;

  *str = start;
  *len = s->p - start;
  s->p++;

  return TRUE;
}

/* A plain string (see above) that fits in @size bytes with its NUL, into @buf. */
static gboolean
scan_string_into (Scan  *s,
                  char  *buf,
                  gsize  size)
{
  const char *str;
  gsize len;

  if (!scan_plain_string (s, &str, &len) || len >= size)
    return FALSE;
  memcpy (buf, str, len);
  buf[len] = '\0';

  return TRUE;
}

/* An object, braces included, of the validated text. */
static gboolean
scan_object (Scan        *s,
             const char **start)
{
  guint depth = 0;

  scan_space (s);
  if (s->p >= s->end || *s->p != '{')
    return FALSE;

  *start = s->p;
  for (; s->p < s->end; s->p++)
    {
      switch (*s->p)
        {
        case '"':
          for (s->p++; s->p < s->end && *s->p != '"'; s->p++)
            if (*s->p == '\\')
              s->p++;
          if (s->p >= s->end)
            return FALSE;
          break;
        case '{':
        case '[':
          depth++;
          break;
        case '}':
        case ']':
          if (--depth == 0)
            {
              s->p++;
              return TRUE;
            }
          break;
        default:
          break;
        }
    }

  return FALSE;
}

enum
{
  FAST_OP      = 1 << 0,
  FAST_TYPE    = 1 << 1,
  FAST_ID      = 1 << 2,
  FAST_SESSION = 1 << 3,
  FAST_HLC     = 1 << 4,
  FAST_DATA    = 1 << 5,

  FAST_REQUIRED = FAST_OP | FAST_TYPE | FAST_ID | FAST_HLC,
};

static HelixSyncOp *
scan_op (Scan *s)
{
  char op_id[HELIX_UUID_STRING_LEN + 1];
  char id[HELIX_UUID_STRING_LEN + 1];
  char session_id[HELIX_UUID_STRING_LEN + 1];
  char type[32];
  char hlc_str[HELIX_HLC_STRING_MAX];
  g_autoptr(JsonNode) data = NULL;
  const char *data_start = NULL;
  gsize data_len = 0;
  HelixSyncOpKind kind;
  HelixHlc hlc;
  guint seen = 0;
  const struct
  {
    const char *name;
    guint       member;
    char       *buf;
    gsize       size;
  } strings[] = {
    { "op", FAST_OP, op_id, sizeof op_id },
    { "type", FAST_TYPE, type, sizeof type },
    { "id", FAST_ID, id, sizeof id },
    { "session", FAST_SESSION, session_id, sizeof session_id },
    { "hlc", FAST_HLC, hlc_str, sizeof hlc_str },
  };

  if (!scan_char (s, '{'))
    return NULL;

  do
    {
      const char *name;
      gsize name_len;
      guint member;
      gboolean ok;

      if (!scan_plain_string (s, &name, &name_len) || !scan_char (s, ':'))
        return NULL;

      if (SCAN_IS (name, name_len, "data"))
        {
          member = FAST_DATA;
          ok = scan_object (s, &data_start);
          if (ok)
            data_len = s->p - data_start;
        }
      else
        {
          guint i = 0;

          while (i < G_N_ELEMENTS (strings) &&
                 !(name_len == strlen (strings[i].name) &&
                   memcmp (name, strings[i].name, name_len) == 0))
            i++;
          if (i == G_N_ELEMENTS (strings))
            return NULL;

          member = strings[i].member;
          ok = scan_string_into (s, strings[i].buf, strings[i].size);
        }

      /* A repeated member: the long way keeps the last, if it accepts it at all. */
      if (!ok || (seen & member) != 0)
        return NULL;
      seen |= member;
    }
  while (scan_char (s, ','));

  if (!scan_char (s, '}'))
    return NULL;

  if ((seen & FAST_REQUIRED) != FAST_REQUIRED ||
      !helix_sync_op_kind_from_string (type, &kind) ||
      (kind == HELIX_SYNC_OP_MESSAGE_PUT) != ((seen & FAST_SESSION) != 0) ||
      (kind == HELIX_SYNC_OP_SESSION_DELETE) == ((seen & FAST_DATA) != 0) ||
      !helix_uuid_is_valid (op_id) ||
      !helix_uuid_is_valid (id) ||
      ((seen & FAST_SESSION) != 0 && !helix_uuid_is_valid (session_id)) ||
      !helix_hlc_parse (hlc_str, &hlc, NULL))
    return NULL;

  if (data_start != NULL)
    {
      data = helix_json_parse_valid (data_start, data_len);
      if (data == NULL)
        return NULL;
    }

  return _helix_sync_op_new_parsed (kind, op_id, id,
                                    (seen & FAST_SESSION) != 0 ? session_id : NULL, &hlc,
                                    data != NULL ? json_node_get_object (data) : NULL);
}

/**
 * _helix_sync_frame_parse_push_fast:
 * @text: a frame that helix_json_validate() accepted
 * @len: its length in bytes
 *
 * Reads a push frame of the usual shape (see above).
 *
 * Returns: (transfer full) (nullable): the frame, or %NULL when @text is not
 *   a push frame of that shape, valid, and it must go the long way
 */
HelixSyncFrame *
_helix_sync_frame_parse_push_fast (const char *text,
                                   gsize       len)
{
  g_autoptr(GPtrArray) ops = NULL;
  Scan s = { text, text + len };
  gboolean seen_type = FALSE;
  HelixSyncFrame *frame;

  if (!scan_char (&s, '{'))
    return NULL;

  do
    {
      const char *name;
      const char *value;
      gsize name_len;
      gsize value_len;

      if (!scan_plain_string (&s, &name, &name_len) || !scan_char (&s, ':'))
        return NULL;

      if (SCAN_IS (name, name_len, "type") && !seen_type)
        {
          if (!scan_plain_string (&s, &value, &value_len) || !SCAN_IS (value, value_len, "push"))
            return NULL;
          seen_type = TRUE;
        }
      else if (SCAN_IS (name, name_len, "ops") && ops == NULL)
        {
          if (!scan_char (&s, '['))
            return NULL;

          ops = g_ptr_array_new_with_free_func ((GDestroyNotify) helix_sync_op_unref);
          do
            {
              HelixSyncOp *op;

              if (ops->len == HELIX_SYNC_MAX_OPS || (op = scan_op (&s)) == NULL)
                return NULL;
              g_ptr_array_add (ops, op);
            }
          while (scan_char (&s, ','));

          if (!scan_char (&s, ']'))
            return NULL;
        }
      else
        return NULL;
    }
  while (scan_char (&s, ','));

  if (!scan_char (&s, '}') || !seen_type || ops == NULL)
    return NULL;
  scan_space (&s);
  if (s.p != s.end)
    return NULL;

  frame = g_new0 (HelixSyncFrame, 1);
  g_atomic_ref_count_init (&frame->ref_count);
  frame->kind = HELIX_SYNC_FRAME_PUSH;
  frame->ops = g_steal_pointer (&ops);

  return frame;
}

/* Parsing {{{1 */

/**
 * _helix_sync_frame_parse_tree:
 * @text: a frame that helix_json_validate() accepted
 * @len: its length in bytes
 * @bad_op_id: (out) (optional) (nullable): see helix_sync_frame_parse_full()
 * @error: return location for a %HELIX_SYNC_ERROR
 *
 * The long way: any frame, through json-glib's tree.
 *
 * Returns: (transfer full) (nullable): the frame, or %NULL with @error set
 */
HelixSyncFrame *
_helix_sync_frame_parse_tree (const char  *text,
                              gsize        len,
                              char       **bad_op_id,
                              GError     **error)
{
  g_autoptr(HelixSyncFrame) frame = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *object;
  const char *type;

  if (bad_op_id != NULL)
    *bad_op_id = NULL;

  root = helix_json_parse_valid (text, len);
  if (root == NULL)
    {
      /* helix_json_validate() accepted it: this is a bug here. */
      g_critical ("A validated frame could not be parsed");
      g_set_error_literal (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_FRAME,
                           _("The frame is not valid JSON"));
      return NULL;
    }

  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_FRAME,
                           _("A frame must be a JSON object"));
      return NULL;
    }
  object = json_node_get_object (root);

  frame = g_new0 (HelixSyncFrame, 1);
  g_atomic_ref_count_init (&frame->ref_count);

  if (!_helix_sync_get_string (object, "type", TRUE, G_MAXSIZE, HELIX_SYNC_ERROR_BAD_FRAME, &type,
                               error))
    return NULL;
  if (!helix_sync_frame_kind_from_string (type, &frame->kind))
    {
      g_autofree char *excerpt = _helix_sync_excerpt (type);

      g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_UNKNOWN_TYPE,
                   _("Unknown frame type “%s”"), excerpt);
      return NULL;
    }

  if (!_helix_sync_check_members (object, frame_members[frame->kind],
                                  HELIX_SYNC_ERROR_BAD_FRAME, type, error))
    return NULL;

  if (!parse_members (frame, object, bad_op_id, error))
    return NULL;

  return g_steal_pointer (&frame);
}

/**
 * helix_sync_frame_parse_full:
 * @text: the text of one WebSocket message, not necessarily NUL-terminated
 * @len: its length in bytes
 * @bad_op_id: (out) (optional) (nullable): when an op is refused and its `op` member
 *   is a valid UUID, that id, for the `op` member of the `error` frame
 * @error: return location for a %HELIX_SYNC_ERROR; its code is the `code` to answer
 *   with (helix_sync_error_to_code()), its message the `message`
 *
 * Parses and validates one frame. Nothing of a refused frame may be applied: a frame
 * is valid as a whole or not at all. A %HELIX_SYNC_ERROR_TOO_LARGE for the byte size
 * is best answered by closing with 1009.
 *
 * Returns: (transfer full) (nullable): the frame, or %NULL with @error set
 */
HelixSyncFrame *
helix_sync_frame_parse_full (const char  *text,
                             gsize        len,
                             char       **bad_op_id,
                             GError     **error)
{
  HelixSyncFrame *frame;

  g_return_val_if_fail (text != NULL || len == 0, NULL);

  if (bad_op_id != NULL)
    *bad_op_id = NULL;

  if (len > HELIX_SYNC_MAX_FRAME_BYTES)
    {
      g_set_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_TOO_LARGE,
                   _("The frame is %lu bytes; the limit is %d"),
                   (gulong) len, HELIX_SYNC_MAX_FRAME_BYTES);
      return NULL;
    }

  if (!helix_json_validate (text, len, HELIX_SYNC_MAX_DEPTH, error))
    return NULL;

  frame = _helix_sync_frame_parse_push_fast (text, len);
  if (frame != NULL)
    return frame;

  return _helix_sync_frame_parse_tree (text, len, bad_op_id, error);
}

/**
 * helix_sync_frame_parse:
 * @text: the text of one WebSocket message
 * @len: its length in bytes
 * @error: return location for a %HELIX_SYNC_ERROR
 *
 * Like helix_sync_frame_parse_full() without the id of a refused op.
 *
 * Returns: (transfer full) (nullable): the frame, or %NULL with @error set
 */
HelixSyncFrame *
helix_sync_frame_parse (const char  *text,
                        gsize        len,
                        GError     **error)
{
  return helix_sync_frame_parse_full (text, len, NULL, error);
}

HelixSyncFrame *
helix_sync_frame_ref (HelixSyncFrame *frame)
{
  g_return_val_if_fail (frame != NULL, NULL);

  g_atomic_ref_count_inc (&frame->ref_count);

  return frame;
}

void
helix_sync_frame_unref (HelixSyncFrame *frame)
{
  g_return_if_fail (frame != NULL);

  if (!g_atomic_ref_count_dec (&frame->ref_count))
    return;

  g_free (frame->user);
  g_free (frame->device);
  g_clear_pointer (&frame->ops, g_ptr_array_unref);
  g_clear_pointer (&frame->acks, g_array_unref);
  g_free (frame->session_id);
  g_free (frame->message_id);
  g_free (frame->delta);
  g_free (frame->code);
  g_free (frame->message);
  g_free (frame->op_id);
  g_free (frame->ping_id);
  g_free (frame->reply_id);
  g_free (frame->model);
  g_free (frame);
}

HelixSyncFrameKind
helix_sync_frame_get_kind (HelixSyncFrame *frame)
{
  g_return_val_if_fail (frame != NULL, HELIX_SYNC_FRAME_ERROR);

  return frame->kind;
}

/**
 * helix_sync_frame_get_cursor:
 * @frame: a `hello` or `synced` frame
 *
 * Returns: the highest seq the device applied (hello) or was sent (synced)
 */
gint64
helix_sync_frame_get_cursor (HelixSyncFrame *frame)
{
  g_return_val_if_fail (frame != NULL, 0);

  return frame->cursor;
}

/**
 * helix_sync_frame_get_head:
 * @frame: a `welcome` frame
 *
 * Returns: the user's highest seq when the gateway answered
 */
gint64
helix_sync_frame_get_head (HelixSyncFrame *frame)
{
  g_return_val_if_fail (frame != NULL, 0);

  return frame->head;
}

const char *
helix_sync_frame_get_user (HelixSyncFrame *frame)
{
  g_return_val_if_fail (frame != NULL, NULL);

  return frame->user;
}

const char *
helix_sync_frame_get_device (HelixSyncFrame *frame)
{
  g_return_val_if_fail (frame != NULL, NULL);

  return frame->device;
}

/**
 * helix_sync_frame_get_ops:
 * @frame: an `ops` or `push` frame
 *
 * Returns: (transfer none) (element-type HelixSyncOp) (nullable): its ops, in order
 */
GPtrArray *
helix_sync_frame_get_ops (HelixSyncFrame *frame)
{
  g_return_val_if_fail (frame != NULL, NULL);

  return frame->ops;
}

/**
 * helix_sync_frame_get_acks:
 * @frame: an `ack` frame
 * @n_acks: (out): the number of acks
 *
 * Returns: (transfer none) (array length=n_acks) (nullable): the acks, in order
 */
const HelixSyncAck *
helix_sync_frame_get_acks (HelixSyncFrame *frame,
                           guint          *n_acks)
{
  g_return_val_if_fail (frame != NULL, NULL);
  g_return_val_if_fail (n_acks != NULL, NULL);

  if (frame->acks == NULL)
    {
      *n_acks = 0;
      return NULL;
    }

  *n_acks = frame->acks->len;
  return (const HelixSyncAck *) (gpointer) frame->acks->data;
}

const char *
helix_sync_frame_get_session_id (HelixSyncFrame *frame)
{
  g_return_val_if_fail (frame != NULL, NULL);

  return frame->session_id;
}

const char *
helix_sync_frame_get_message_id (HelixSyncFrame *frame)
{
  g_return_val_if_fail (frame != NULL, NULL);

  return frame->message_id;
}

const char *
helix_sync_frame_get_delta (HelixSyncFrame *frame)
{
  g_return_val_if_fail (frame != NULL, NULL);

  return frame->delta;
}

gint64
helix_sync_frame_get_index (HelixSyncFrame *frame)
{
  g_return_val_if_fail (frame != NULL, 0);

  return frame->index;
}

const char *
helix_sync_frame_get_error_code (HelixSyncFrame *frame)
{
  g_return_val_if_fail (frame != NULL, NULL);

  return frame->code;
}

const char *
helix_sync_frame_get_error_message (HelixSyncFrame *frame)
{
  g_return_val_if_fail (frame != NULL, NULL);

  return frame->message;
}

const char *
helix_sync_frame_get_error_op (HelixSyncFrame *frame)
{
  g_return_val_if_fail (frame != NULL, NULL);

  return frame->op_id;
}

const char *
helix_sync_frame_get_ping_id (HelixSyncFrame *frame)
{
  g_return_val_if_fail (frame != NULL, NULL);

  return frame->ping_id;
}

/**
 * helix_sync_frame_get_reply_id:
 * @frame: a `chat` or `chat.failed` frame
 *
 * Returns: the id of the answer: the assistant message the gateway writes
 */
const char *
helix_sync_frame_get_reply_id (HelixSyncFrame *frame)
{
  g_return_val_if_fail (frame != NULL, NULL);

  return frame->reply_id;
}

/**
 * helix_sync_frame_get_model:
 * @frame: a `chat` frame
 *
 * Returns: (nullable): the model the user pinned, if any
 */
const char *
helix_sync_frame_get_model (HelixSyncFrame *frame)
{
  g_return_val_if_fail (frame != NULL, NULL);

  return frame->model;
}
