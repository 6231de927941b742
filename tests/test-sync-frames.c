/* test-sync-frames.c: the sync protocol's frames, ops and JSON pre-scans
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include "helix-sync.h"
#include "helix-sync-json.h"
#include "helix-sync-private.h"

#define S1  "0190f3a2-1c00-7000-8000-000000000001"
#define S2  "0190f3a2-1c00-7000-8000-000000000002"
#define M1  "0190f3a2-1c00-7000-8000-0000000000a1"
#define OP1 "0190f3a2-1c00-7000-8000-0000000000f1"
#define OP2 "0190f3a2-1c00-7000-8000-0000000000f2"
#define OP3 "0190f3a2-1c00-7000-8000-0000000000f3"
#define HLC "1763769600000:0:laptop-7f3a"

/* Ops without their opening brace, so that a test can put "seq" in front. */
#define SESSION_PUT_BODY \
  "\"op\":\"" OP1 "\",\"type\":\"session.put\",\"id\":\"" S1 "\",\"hlc\":\"" HLC "\"," \
  "\"data\":{\"title\":\"Trip\",\"pinned\":true}}"
#define MESSAGE_PUT_BODY \
  "\"op\":\"" OP2 "\",\"type\":\"message.put\",\"id\":\"" M1 "\",\"session\":\"" S1 "\"," \
  "\"hlc\":\"" HLC "\",\"data\":{\"role\":\"assistant\",\"content\":\"Hi \\\"there\\\"\\n\"," \
  "\"status\":\"done\",\"model\":\"m\",\"provider\":\"p\",\"tokens_in\":12,\"tokens_out\":3," \
  "\"cost\":0.0012,\"created_us\":1763769600000000}}"
#define SESSION_DELETE_BODY \
  "\"op\":\"" OP3 "\",\"type\":\"session.delete\",\"id\":\"" S2 "\",\"hlc\":\"" HLC "\"}"
#define SESSION_PUT    "{" SESSION_PUT_BODY
#define MESSAGE_PUT    "{" MESSAGE_PUT_BODY
#define SESSION_DELETE "{" SESSION_DELETE_BODY

static HelixSyncFrame *
parse_ok (const char *text)
{
  g_autoptr(GError) error = NULL;
  HelixSyncFrame *frame = helix_sync_frame_parse (text, strlen (text), &error);

  if (frame == NULL)
    g_test_message ("Refused: %s\n  %s", text, error->message);
  g_assert_no_error (error);
  g_assert_nonnull (frame);

  return frame;
}

static void
accept (const char *text)
{
  helix_sync_frame_unref (parse_ok (text));
}

static void
expect_error_len (const char     *text,
                  gsize           len,
                  HelixSyncError  code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSyncFrame) frame = helix_sync_frame_parse (text, len, &error);

  if (frame != NULL)
    g_test_message ("Accepted: %.200s", text);
  g_assert_null (frame);
  if (!g_error_matches (error, HELIX_SYNC_ERROR, (int) code))
    g_test_message ("For %.200s: got %s", text, error->message);
  g_assert_error (error, HELIX_SYNC_ERROR, (int) code);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
}

static void
expect_error (const char     *text,
              HelixSyncError  code)
{
  expect_error_len (text, strlen (text), code);
}

static char *
nested (guint depth)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < depth; i++)
    g_string_append_c (s, '[');
  for (guint i = 0; i < depth; i++)
    g_string_append_c (s, ']');

  return g_string_free (s, FALSE);
}

static void
test_json_validate_depth (void)
{
  g_autofree char *d64 = nested (64);
  g_autofree char *d65 = nested (65);
  g_autofree char *deep = nested (100000);
  g_autoptr(GError) error = NULL;
  const char *strings = "{\"a\":\"[[[[{{{{\\\"[[[[\",\"b\":[1]}";

  g_assert_true (helix_json_validate (d64, strlen (d64), 64, &error));
  g_assert_no_error (error);
  g_assert_false (helix_json_validate (d65, strlen (d65), 64, &error));
  g_assert_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_TOO_DEEP);
  g_clear_error (&error);
  g_assert_false (helix_json_validate (deep, strlen (deep), 64, &error));
  g_assert_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_TOO_DEEP);
  g_clear_error (&error);

  /* Brackets inside strings, escaped quotes included, do not count. */
  g_assert_true (helix_json_validate (strings, strlen (strings), 2, &error));
  g_assert_no_error (error);
  g_assert_false (helix_json_validate (strings, strlen (strings), 1, &error));
  g_clear_error (&error);

  g_assert_false (helix_json_validate ("[\"a\0\"]", 6, 64, &error));
  g_assert_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_FRAME);
  g_clear_error (&error);
  g_assert_false (helix_json_validate ("[\"\xc3\x28\"]", 5, 64, &error));
  g_assert_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_FRAME);
  g_clear_error (&error);
}

static void
test_json_validate (void)
{
  static const char * const good[] = {
    "{}", "[]", "0", "-0", "\"\"", "true", "null", " [ 1 , 2.5e-3 , -7E+2 ] ",
    "9007199254740991", "-9007199254740991", "1e999999", "12345678901234567890.5",
    "{\"a\":\"\\ud83d\\ude00 \\u00e9 \\/ \\b\\f\\n\\r\\t\"}", "[[[{\"a\":{}}]]]",
  };
  static const char * const bad[] = {
    "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{'a':1}", "01", "-",
    "1.", ".5", "+1", "1e", "0x10", "NaN", "Infinity", "-Infinity", "tru", "nul",
    "{\"a\":1}{}", "{\"a\":1} x", "/* c */ {}", "{} // c", "[1 2]", "[\"a\" \"b\"]",
    "9007199254740992", "-9007199254740992", "18446744073709551617",
    "99999999999999999999999", "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00\"",
    "\"\\ud800\\u0041\"", "\"\\x41\"", "\"\\u12\"", "\"tab\there\"", "\"open",
    "[}", "{]", "{\"a\":1]",
  };
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      if (!helix_json_validate (good[i], strlen (good[i]), 64, &error))
        g_test_message ("Refused %s: %s", good[i], error->message);
      g_assert_no_error (error);
    }

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      if (helix_json_validate (bad[i], strlen (bad[i]), 64, &error))
        g_test_message ("Accepted %s", bad[i]);
      g_assert_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_FRAME);
      g_clear_error (&error);
    }
}

/* Strict equality of two trees: same node and value types (an int is not a
 * double), same values bit for bit, same members in the same order. */
static void
assert_nodes_identical (JsonNode *a,
                        JsonNode *b)
{
  g_assert_cmpint (json_node_get_node_type (a), ==, json_node_get_node_type (b));

  switch (json_node_get_node_type (a))
    {
    case JSON_NODE_OBJECT:
      {
        JsonObject *oa = json_node_get_object (a);
        JsonObject *ob = json_node_get_object (b);
        g_autoptr(GList) ma = json_object_get_members (oa);
        g_autoptr(GList) mb = json_object_get_members (ob);

        g_assert_cmpuint (g_list_length (ma), ==, g_list_length (mb));
        for (GList *la = ma, *lb = mb; la != NULL; la = la->next, lb = lb->next)
          {
            g_assert_cmpstr (la->data, ==, lb->data);
            assert_nodes_identical (json_object_get_member (oa, la->data),
                                    json_object_get_member (ob, lb->data));
          }
      }
      break;

    case JSON_NODE_ARRAY:
      {
        JsonArray *aa = json_node_get_array (a);
        JsonArray *ab = json_node_get_array (b);

        g_assert_cmpuint (json_array_get_length (aa), ==, json_array_get_length (ab));
        for (guint i = 0; i < json_array_get_length (aa); i++)
          assert_nodes_identical (json_array_get_element (aa, i),
                                  json_array_get_element (ab, i));
      }
      break;

    case JSON_NODE_VALUE:
      g_assert_cmpstr (g_type_name (json_node_get_value_type (a)), ==,
                       g_type_name (json_node_get_value_type (b)));
      switch (json_node_get_value_type (a))
        {
        case G_TYPE_INT64:
          g_assert_cmpint (json_node_get_int (a), ==, json_node_get_int (b));
          break;
        case G_TYPE_DOUBLE:
          {
            double da = json_node_get_double (a);
            double db = json_node_get_double (b);

            g_assert_true (memcmp (&da, &db, sizeof da) == 0 || (da == 0.0 && db == 0.0));
          }
          break;
        case G_TYPE_BOOLEAN:
          g_assert_cmpint (json_node_get_boolean (a), ==, json_node_get_boolean (b));
          break;
        case G_TYPE_STRING:
          g_assert_cmpstr (json_node_get_string (a), ==, json_node_get_string (b));
          break;
        default:
          g_assert_not_reached ();
        }
      break;

    case JSON_NODE_NULL:
      break;

    default:
      g_assert_not_reached ();
    }
}

/* Compares helix_json_parse_valid() with JsonParser on @text when
 * helix_json_validate() accepts it; returns whether it did. Either way,
 * helix_json_parse_valid() must not read outside @text (ASan). */
static gboolean
compare_with_json_glib (const char *text,
                        gsize       len)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(JsonNode) ours = NULL;
  g_autoptr(GError) error = NULL;
  /* An exact copy, so that reading one byte too far is caught. */
  g_autofree char *exact = g_memdup2 (text, len);

  if (!helix_json_validate (exact, len, 64, &error))
    {
      g_autoptr(JsonNode) unchecked = helix_json_parse_valid (exact, len);

      return FALSE;
    }

  ours = helix_json_parse_valid (exact, len);
  g_assert_nonnull (ours);
  json_parser_load_from_data (parser, text, (gssize) len, &error);
  g_assert_no_error (error);
  assert_nodes_identical (ours, json_parser_get_root (parser));

  return TRUE;
}

static void
append_random_string (GString *out)
{
  static const char * const pieces[] = {
    "a", "Z", "0", " ", "é", "€", "😀", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n",
    "\\r", "\\t", "\\u00e9", "\\u20AC", "\\ud83d\\ude00", "\\u0041", "{", "]", ":", ",",
  };
  guint n = (guint) g_test_rand_int_range (0, 8);

  g_string_append_c (out, '"');
  for (guint i = 0; i < n; i++)
    g_string_append (out, pieces[g_test_rand_int_range (0, G_N_ELEMENTS (pieces))]);
  g_string_append_c (out, '"');
}

static void
append_random_value (GString *out,
                     guint    depth)
{
  static const char * const numbers[] = {
    "0", "-0", "1", "-1", "42", "9007199254740991", "-9007199254740991", "0.5", "-0.0",
    "1.0", "2.5e-3", "-7E+2", "1e2", "1E400", "-1e999999", "12345678901234567890.5",
    "0.1", "3.141592653589793238", "4.9e-324", "1e-400",
  };
  static const char * const spaces[] = { "", "", " ", "\n", "\t ", "\r\n" };
  int kind = g_test_rand_int_range (0, depth >= 6 ? 4 : 6);

  g_string_append (out, spaces[g_test_rand_int_range (0, G_N_ELEMENTS (spaces))]);
  switch (kind)
    {
    case 0:
      g_string_append (out, numbers[g_test_rand_int_range (0, G_N_ELEMENTS (numbers))]);
      break;
    case 1:
      append_random_string (out);
      break;
    case 2:
      {
        static const char * const literals[] = { "true", "false", "null" };

        g_string_append (out, literals[g_test_rand_int_range (0, 3)]);
      }
      break;
    case 3:
      g_string_append_printf (out, "%d", g_test_rand_int ());
      break;
    case 4:
      {
        guint n = (guint) g_test_rand_int_range (0, 5);

        g_string_append_c (out, '[');
        for (guint i = 0; i < n; i++)
          {
            if (i > 0)
              g_string_append_c (out, ',');
            append_random_value (out, depth + 1);
          }
        g_string_append_c (out, ']');
      }
      break;
    default:
      {
        /* Names repeat now and then: the last value wins, in both. */
        static const char * const names[] = { "\"a\"", "\"b\"", "\"type\"", "\"\"", "\"\\u00e9\"" };
        guint n = (guint) g_test_rand_int_range (0, 5);

        g_string_append_c (out, '{');
        for (guint i = 0; i < n; i++)
          {
            if (i > 0)
              g_string_append_c (out, ',');
            if (g_test_rand_bit ())
              g_string_append (out, names[g_test_rand_int_range (0, G_N_ELEMENTS (names))]);
            else
              append_random_string (out);
            g_string_append (out, spaces[g_test_rand_int_range (0, G_N_ELEMENTS (spaces))]);
            g_string_append_c (out, ':');
            append_random_value (out, depth + 1);
          }
        g_string_append_c (out, '}');
      }
      break;
    }
  g_string_append (out, spaces[g_test_rand_int_range (0, G_N_ELEMENTS (spaces))]);
}

/* Repeated names in any object are told; the tree keeps the last. */
static void
test_json_parse_valid_repeated (void)
{
  static const struct { const char *text; gboolean repeated; } cases[] = {
    { "{\"a\":1,\"a\":2}", TRUE },
    { "[{\"x\":{\"k\":1,\"j\":2,\"k\":3}}]", TRUE },
    { "{\"a\":{\"b\":1},\"c\":{\"b\":2}}", FALSE },
    { "{\"a\":1,\"A\":2,\"a \":3}", FALSE },
    { "[1,1,\"a\",\"a\"]", FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gboolean repeated = !cases[i].repeated;
      g_autoptr(JsonNode) root = NULL;

      g_assert_true (helix_json_validate (cases[i].text, strlen (cases[i].text), 64, NULL));
      root = helix_json_parse_valid_full (cases[i].text, strlen (cases[i].text), &repeated);
      g_assert_nonnull (root);
      g_assert_cmpint (repeated, ==, cases[i].repeated);
    }

  {
    g_autoptr(JsonNode) root = helix_json_parse_valid_full ("{\"a\":1,\"a\":2}", 13, NULL);

    g_assert_cmpint (json_object_get_int_member (json_node_get_object (root), "a"), ==, 2);
  }
}

/* helix_json_parse_valid() builds exactly JsonParser's tree from every text
 * helix_json_validate() accepts: random documents, and the same mutated
 * (what the mutation leaves valid is compared too; what it breaks is still
 * parsed, for ASan to watch). */
static void
test_json_parse_valid (void)
{
  guint compared = 0;

  for (guint iter = 0; iter < 20000; iter++)
    {
      g_autoptr(GString) text = g_string_new (NULL);

      append_random_value (text, 0);
      g_assert_true (compare_with_json_glib (text->str, text->len));
      compared++;

      /* A few mutations of it. */
      for (guint m = 0; m < 3 && text->len > 0; m++)
        {
          static const char interesting[] = "{}[]\",:\\0123456789-.eE+tfnu \x80\xc3";
          gsize pos = (gsize) g_test_rand_int_range (0, (gint32) text->len);

          if (g_test_rand_bit ())
            text->str[pos] = interesting[g_test_rand_int_range (0, sizeof interesting - 1)];
          else
            g_string_truncate (text, pos);
          if (compare_with_json_glib (text->str, text->len))
            compared++;
        }
    }

  g_test_message ("%u texts parsed identically", compared);
  g_assert_cmpuint (compared, >=, 20000);
}

static void
assert_roundtrip (const char *text)
{
  g_autoptr(HelixSyncFrame) frame = parse_ok (text);
  GPtrArray *ops = helix_sync_frame_get_ops (frame);
  g_autofree char *again = NULL;
  g_autoptr(HelixSyncFrame) frame2 = NULL;

  /* Rebuild from the parsed values and compare the texts. */
  switch (helix_sync_frame_get_kind (frame))
    {
    case HELIX_SYNC_FRAME_HELLO:
      again = helix_sync_frame_build_hello (helix_sync_frame_get_cursor (frame),
                                            helix_sync_frame_get_device (frame));
      break;
    case HELIX_SYNC_FRAME_WELCOME:
      again = helix_sync_frame_build_welcome (helix_sync_frame_get_user (frame),
                                              helix_sync_frame_get_device (frame),
                                              helix_sync_frame_get_head (frame));
      break;
    case HELIX_SYNC_FRAME_OPS:
      again = helix_sync_frame_build_ops ((HelixSyncOp * const *) ops->pdata, ops->len);
      break;
    case HELIX_SYNC_FRAME_SYNCED:
      again = helix_sync_frame_build_synced (helix_sync_frame_get_cursor (frame));
      break;
    case HELIX_SYNC_FRAME_PUSH:
      again = helix_sync_frame_build_push ((HelixSyncOp * const *) ops->pdata, ops->len);
      break;
    case HELIX_SYNC_FRAME_ACK:
      {
        guint n;
        const HelixSyncAck *acks = helix_sync_frame_get_acks (frame, &n);

        again = helix_sync_frame_build_ack (acks, n);
      }
      break;
    case HELIX_SYNC_FRAME_MESSAGE_DELTA:
      again = helix_sync_frame_build_message_delta (helix_sync_frame_get_session_id (frame),
                                                    helix_sync_frame_get_message_id (frame),
                                                    helix_sync_frame_get_delta (frame),
                                                    helix_sync_frame_get_index (frame));
      break;
    case HELIX_SYNC_FRAME_ERROR:
      again = helix_sync_frame_build_error (helix_sync_frame_get_error_code (frame),
                                            helix_sync_frame_get_error_message (frame),
                                            helix_sync_frame_get_error_op (frame));
      break;
    case HELIX_SYNC_FRAME_PING:
      again = helix_sync_frame_build_ping (helix_sync_frame_get_ping_id (frame));
      break;
    case HELIX_SYNC_FRAME_PONG:
      again = helix_sync_frame_build_pong (helix_sync_frame_get_ping_id (frame));
      break;
    case HELIX_SYNC_FRAME_CHAT:
      again = helix_sync_frame_build_chat (helix_sync_frame_get_session_id (frame),
                                           helix_sync_frame_get_message_id (frame),
                                           helix_sync_frame_get_reply_id (frame),
                                           helix_sync_frame_get_model (frame));
      break;
    case HELIX_SYNC_FRAME_CHAT_CANCEL:
      again = helix_sync_frame_build_chat_cancel (helix_sync_frame_get_session_id (frame),
                                                  helix_sync_frame_get_reply_id (frame));
      break;
    case HELIX_SYNC_FRAME_CHAT_FAILED:
      again = helix_sync_frame_build_chat_failed (helix_sync_frame_get_session_id (frame),
                                                  helix_sync_frame_get_reply_id (frame),
                                                  helix_sync_frame_get_error_message (frame));
      break;
    default:
      g_assert_not_reached ();
    }

  g_assert_nonnull (again);
  frame2 = parse_ok (again);
  g_assert_cmpint (helix_sync_frame_get_kind (frame2), ==, helix_sync_frame_get_kind (frame));

  /* Built frames are a fixed point: building from them again gives the same text. */
  if (helix_sync_frame_get_ops (frame) != NULL)
    {
      GPtrArray *a = helix_sync_frame_get_ops (frame);
      GPtrArray *b = helix_sync_frame_get_ops (frame2);

      g_assert_cmpuint (a->len, ==, b->len);
      for (guint i = 0; i < a->len; i++)
        {
          g_assert_true (helix_sync_op_equal (a->pdata[i], b->pdata[i]));
          g_assert_cmpint (helix_sync_op_get_seq (a->pdata[i]), ==,
                           helix_sync_op_get_seq (b->pdata[i]));
        }
    }
}

static void
test_frame_roundtrip (void)
{
  g_autoptr(HelixSyncFrame) hello = NULL;
  g_autoptr(HelixSyncFrame) welcome = NULL;
  g_autoptr(HelixSyncFrame) ops = NULL;
  g_autoptr(HelixSyncFrame) ack = NULL;
  g_autoptr(HelixSyncFrame) delta = NULL;
  g_autoptr(HelixSyncFrame) err = NULL;
  g_autoptr(HelixSyncFrame) ping = NULL;
  const HelixSyncAck *acks;
  HelixSyncOp *op;
  JsonObject *data;
  guint n;

  hello = parse_ok ("{\"type\":\"hello\",\"cursor\":0,\"device\":\"laptop-7f3a\"}");
  g_assert_cmpint (helix_sync_frame_get_kind (hello), ==, HELIX_SYNC_FRAME_HELLO);
  g_assert_cmpint (helix_sync_frame_get_cursor (hello), ==, 0);
  g_assert_cmpstr (helix_sync_frame_get_device (hello), ==, "laptop-7f3a");

  welcome = parse_ok ("{\"type\":\"welcome\",\"user\":\"alice\",\"device\":\"d.1\",\"head\":42}");
  g_assert_cmpstr (helix_sync_frame_get_user (welcome), ==, "alice");
  g_assert_cmpint (helix_sync_frame_get_head (welcome), ==, 42);

  ops = parse_ok ("{\"type\":\"ops\",\"ops\":["
                  "{\"seq\":7," SESSION_PUT_BODY ","
                  "{\"seq\":8," MESSAGE_PUT_BODY ","
                  "{\"seq\":9007199254740991," SESSION_DELETE_BODY "]}");
  g_assert_cmpuint (helix_sync_frame_get_ops (ops)->len, ==, 3);

  op = g_ptr_array_index (helix_sync_frame_get_ops (ops), 0);
  g_assert_cmpint (helix_sync_op_get_kind (op), ==, HELIX_SYNC_OP_SESSION_PUT);
  g_assert_cmpstr (helix_sync_op_get_op_id (op), ==, OP1);
  g_assert_cmpstr (helix_sync_op_get_id (op), ==, S1);
  g_assert_null (helix_sync_op_get_session_id (op));
  g_assert_cmpint (helix_sync_op_get_seq (op), ==, 7);
  g_assert_cmpint (helix_sync_op_get_hlc (op)->wall_ms, ==, G_GINT64_CONSTANT (1763769600000));
  g_assert_cmpstr (helix_sync_op_get_hlc (op)->device, ==, "laptop-7f3a");
  data = helix_sync_op_get_data (op);
  g_assert_cmpstr (json_object_get_string_member (data, "title"), ==, "Trip");
  g_assert_true (json_object_get_boolean_member (data, "pinned"));
  g_assert_false (json_object_has_member (data, "archived"));

  op = g_ptr_array_index (helix_sync_frame_get_ops (ops), 1);
  g_assert_cmpint (helix_sync_op_get_kind (op), ==, HELIX_SYNC_OP_MESSAGE_PUT);
  g_assert_cmpstr (helix_sync_op_get_session_id (op), ==, S1);
  data = helix_sync_op_get_data (op);
  g_assert_cmpstr (json_object_get_string_member (data, "content"), ==, "Hi \"there\"\n");
  g_assert_cmpint (json_object_get_int_member (data, "tokens_in"), ==, 12);
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (data, "cost"), 0.0012, 1e-12);

  op = g_ptr_array_index (helix_sync_frame_get_ops (ops), 2);
  g_assert_cmpint (helix_sync_op_get_kind (op), ==, HELIX_SYNC_OP_SESSION_DELETE);
  g_assert_null (helix_sync_op_get_data (op));
  g_assert_cmpint (helix_sync_op_get_seq (op), ==, G_GINT64_CONSTANT (9007199254740991));

  ack = parse_ok ("{\"type\":\"ack\",\"acks\":[{\"op\":\"" OP1 "\",\"seq\":1},"
                  "{\"seq\":2,\"op\":\"" OP2 "\"}]}");
  acks = helix_sync_frame_get_acks (ack, &n);
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmpstr (acks[1].op, ==, OP2);
  g_assert_cmpint (acks[1].seq, ==, 2);

  delta = parse_ok ("{\"type\":\"message.delta\",\"session\":\"" S1 "\",\"message\":\"" M1 "\","
                    "\"delta\":\"wor\",\"index\":3}");
  g_assert_cmpstr (helix_sync_frame_get_delta (delta), ==, "wor");
  g_assert_cmpint (helix_sync_frame_get_index (delta), ==, 3);

  err = parse_ok ("{\"type\":\"error\",\"code\":\"op_conflict\",\"message\":\"x\","
                  "\"op\":\"" OP1 "\"}");
  g_assert_cmpstr (helix_sync_frame_get_error_code (err), ==, "op_conflict");
  g_assert_cmpstr (helix_sync_frame_get_error_op (err), ==, OP1);

  ping = parse_ok ("{\"type\":\"ping\"}");
  g_assert_null (helix_sync_frame_get_ping_id (ping));

  assert_roundtrip ("{\"type\":\"hello\",\"cursor\":12,\"device\":\"laptop-7f3a\"}");
  assert_roundtrip ("{\"type\":\"welcome\",\"user\":\"alice\",\"device\":\"d.1\",\"head\":42}");
  assert_roundtrip ("{\"type\":\"ops\",\"ops\":[{\"seq\":7," SESSION_PUT_BODY ",{\"seq\":8,"
                    MESSAGE_PUT_BODY "]}");
  assert_roundtrip ("{\"type\":\"synced\",\"cursor\":8}");
  assert_roundtrip ("{\"type\":\"push\",\"ops\":[" SESSION_PUT "," MESSAGE_PUT ","
                    SESSION_DELETE "]}");
  assert_roundtrip ("{\"type\":\"ack\",\"acks\":[{\"op\":\"" OP1 "\",\"seq\":1}]}");
  assert_roundtrip ("{\"type\":\"message.delta\",\"session\":\"" S1 "\",\"message\":\"" M1 "\","
                    "\"delta\":\"\\u00e9\\ud83d\\ude00\",\"index\":0}");
  assert_roundtrip ("{\"type\":\"error\",\"code\":\"bad_op\",\"message\":\"no\","
                    "\"op\":\"" OP1 "\"}");
  assert_roundtrip ("{\"type\":\"error\",\"code\":\"some_future_code\",\"message\":\"\"}");
  assert_roundtrip ("{\"type\":\"ping\",\"id\":\"17\"}");
  assert_roundtrip ("{\"type\":\"pong\"}");
  assert_roundtrip ("{\"type\":\"chat\",\"session\":\"" S1 "\",\"message\":\"" M1 "\","
                    "\"reply\":\"" OP1 "\"}");
  assert_roundtrip ("{\"type\":\"chat\",\"session\":\"" S1 "\",\"message\":\"" M1 "\","
                    "\"reply\":\"" OP1 "\",\"model\":\"deepseek/deepseek-chat\"}");
  assert_roundtrip ("{\"type\":\"chat.cancel\",\"session\":\"" S1 "\",\"reply\":\"" OP1 "\"}");
  assert_roundtrip ("{\"type\":\"chat.failed\",\"session\":\"" S1 "\",\"reply\":\"" OP1 "\","
                    "\"error\":\"No working model\"}");

  {
    g_autoptr(HelixSyncFrame) chat = parse_ok ("{\"type\":\"chat\",\"session\":\"" S1 "\","
                                               "\"message\":\"" M1 "\",\"reply\":\"" OP1 "\","
                                               "\"model\":\"m\"}");

    g_assert_cmpint (helix_sync_frame_get_kind (chat), ==, HELIX_SYNC_FRAME_CHAT);
    g_assert_cmpstr (helix_sync_frame_get_session_id (chat), ==, S1);
    g_assert_cmpstr (helix_sync_frame_get_message_id (chat), ==, M1);
    g_assert_cmpstr (helix_sync_frame_get_reply_id (chat), ==, OP1);
    g_assert_cmpstr (helix_sync_frame_get_model (chat), ==, "m");
    g_assert_true (helix_sync_frame_kind_sent_by_device (HELIX_SYNC_FRAME_CHAT));
    g_assert_false (helix_sync_frame_kind_sent_by_gateway (HELIX_SYNC_FRAME_CHAT));
    g_assert_false (helix_sync_frame_kind_sent_by_device (HELIX_SYNC_FRAME_CHAT_FAILED));
    g_assert_true (helix_sync_frame_kind_sent_by_gateway (HELIX_SYNC_FRAME_CHAT_FAILED));
  }
}

static void
test_frame_builders (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSyncFrame) frame = NULL;
  g_autofree char *text = NULL;
  g_autofree char *long_message = NULL;
  g_autoptr(GError) sync_error = g_error_new_literal (HELIX_SYNC_ERROR,
                                                      HELIX_SYNC_ERROR_RATE_LIMITED, "slow down");
  g_autoptr(GError) other_error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "disk");

  text = helix_sync_frame_build_error_from_gerror (sync_error, OP1);
  frame = parse_ok (text);
  g_assert_cmpstr (helix_sync_frame_get_error_code (frame), ==, "rate_limited");
  g_assert_cmpstr (helix_sync_frame_get_error_message (frame), ==, "slow down");
  g_assert_cmpstr (helix_sync_frame_get_error_op (frame), ==, OP1);
  g_clear_pointer (&frame, helix_sync_frame_unref);
  g_clear_pointer (&text, g_free);

  text = helix_sync_frame_build_error_from_gerror (other_error, NULL);
  frame = parse_ok (text);
  g_assert_cmpstr (helix_sync_frame_get_error_code (frame), ==, "unavailable");
  g_assert_null (helix_sync_frame_get_error_op (frame));
  g_clear_pointer (&frame, helix_sync_frame_unref);
  g_clear_pointer (&text, g_free);

  /* Long messages are cut on a character boundary so the frame stays valid. */
  {
    GString *s = g_string_new (NULL);

    for (guint i = 0; i < 3000; i++)
      g_string_append (s, "é");
    long_message = g_string_free (s, FALSE);
  }
  text = helix_sync_frame_build_error ("bad_frame", long_message, NULL);
  frame = parse_ok (text);
  g_assert_cmpuint (strlen (helix_sync_frame_get_error_message (frame)), <=,
                    HELIX_SYNC_MAX_MESSAGE_BYTES);
  g_assert_cmpuint (strlen (helix_sync_frame_get_error_message (frame)), >=,
                    HELIX_SYNC_MAX_MESSAGE_BYTES - 1);

  /* Every error code has a wire name that maps back. */
  for (int code = HELIX_SYNC_ERROR_BAD_FRAME; code <= HELIX_SYNC_ERROR_UNAVAILABLE; code++)
    {
      HelixSyncError back;

      g_assert_true (helix_sync_error_from_code (helix_sync_error_to_code (code), &back));
      g_assert_cmpint (back, ==, code);
    }
  g_assert_false (helix_sync_error_from_code ("nope", NULL));

  /* Directions, as PROTOCOL.md section 4 lists them. */
  g_assert_true (helix_sync_frame_kind_sent_by_device (HELIX_SYNC_FRAME_PUSH));
  g_assert_false (helix_sync_frame_kind_sent_by_device (HELIX_SYNC_FRAME_ACK));
  g_assert_false (helix_sync_frame_kind_sent_by_gateway (HELIX_SYNC_FRAME_HELLO));
  for (int kind = HELIX_SYNC_FRAME_HELLO; kind <= HELIX_SYNC_FRAME_PONG; kind++)
    {
      HelixSyncFrameKind back;

      g_assert_true (helix_sync_frame_kind_sent_by_device (kind) ||
                     helix_sync_frame_kind_sent_by_gateway (kind));
      g_assert_true (helix_sync_frame_kind_from_string (helix_sync_frame_kind_to_string (kind),
                                                        &back));
      g_assert_cmpint (back, ==, kind);
    }
  g_assert_no_error (error);
}

static void
test_frame_oversize (void)
{
  const char *head = "{\"type\":\"push\",\"ops\":[{\"op\":\"" OP2 "\",\"type\":\"message.put\","
                     "\"id\":\"" M1 "\",\"session\":\"" S1 "\",\"hlc\":\"" HLC "\","
                     "\"data\":{\"role\":\"user\",\"status\":\"pending\",\"content\":\"";
  const char *tail = "\"}}]}";
  g_autofree char *text = NULL;
  gsize fill = HELIX_SYNC_MAX_FRAME_BYTES - strlen (head) - strlen (tail);
  g_autoptr(HelixSyncFrame) frame = NULL;
  GString *s = g_string_new (head);

  /* Exactly at the limit: accepted. */
  for (gsize i = 0; i < fill; i++)
    g_string_append_c (s, 'x');
  g_string_append (s, tail);
  g_assert_cmpuint (s->len, ==, HELIX_SYNC_MAX_FRAME_BYTES);
  frame = parse_ok (s->str);

  /* One byte more: refused before parsing. */
  g_string_insert_c (s, strlen (head), 'x');
  text = g_string_free (s, FALSE);
  expect_error (text, HELIX_SYNC_ERROR_TOO_LARGE);
}

static void
test_frame_depth (void)
{
  g_autofree char *d65 = nested (65);
  g_autofree char *deep = nested (100000);
  g_autofree char *deep_objects = NULL;
  g_autofree char *in_ping = NULL;
  GString *s = g_string_new (NULL);

  expect_error (d65, HELIX_SYNC_ERROR_TOO_DEEP);
  expect_error (deep, HELIX_SYNC_ERROR_TOO_DEEP);

  for (guint i = 0; i < 100000; i++)
    g_string_append (s, "{\"a\":");
  deep_objects = g_string_free (s, FALSE);  /* unterminated too: depth is caught first */
  expect_error (deep_objects, HELIX_SYNC_ERROR_TOO_DEEP);

  /* 64 levels is within the limit (then refused for its member). */
  s = g_string_new ("{\"type\":\"ping\",\"id\":");
  for (guint i = 0; i < 63; i++)
    g_string_append_c (s, '[');
  for (guint i = 0; i < 63; i++)
    g_string_append_c (s, ']');
  g_string_append_c (s, '}');
  in_ping = g_string_free (s, FALSE);
  expect_error (in_ping, HELIX_SYNC_ERROR_BAD_FRAME);
}

static void
test_frame_encoding (void)
{
  const char with_nul[] = "{\"type\":\"ping\",\"id\":\"a\0b\"}";

  expect_error ("{\"type\":\"ping\",\"id\":\"\xff\"}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"ping\",\"id\":\"\xc3\x28\"}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"ping\",\"id\":\"\xed\xa0\x80\"}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error_len (with_nul, sizeof with_nul - 1, HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"ping\",\"id\":\"a\\u0000b\"}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"ping\",\"id\":\"\\ud800\"}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("not json", HELIX_SYNC_ERROR_BAD_FRAME);
}

static void
test_frame_numbers (void)
{
  expect_error ("{\"type\":\"synced\",\"cursor\":1e999999}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"synced\",\"cursor\":-1e999999}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"synced\",\"cursor\":1.0}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"synced\",\"cursor\":1.5}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"synced\",\"cursor\":1e3}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"synced\",\"cursor\":-1}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"synced\",\"cursor\":9007199254740992}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"synced\",\"cursor\":18446744073709551617}",
                HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"hello\",\"cursor\":-9223372036854775809,\"device\":\"d\"}",
                HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"synced\",\"cursor\":NaN}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"synced\",\"cursor\":Infinity}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"synced\",\"cursor\":01}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"welcome\",\"user\":\"u\",\"device\":\"d\",\"head\":-5}",
                HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"message.delta\",\"session\":\"" S1 "\",\"message\":\"" M1 "\","
                "\"delta\":\"x\",\"index\":0.5}", HELIX_SYNC_ERROR_BAD_FRAME);
  /* chat: every id required, a model of at most 256 bytes, nothing else */
  expect_error ("{\"type\":\"chat\",\"session\":\"" S1 "\",\"message\":\"" M1 "\"}",
                HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"chat\",\"session\":\"" S1 "\",\"message\":\"" M1 "\","
                "\"reply\":\"" OP1 "\",\"model\":7}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"chat\",\"session\":\"" S1 "\",\"message\":\"" M1 "\","
                "\"reply\":\"" OP1 "\",\"stream\":true}", HELIX_SYNC_ERROR_BAD_FRAME);
  {
    g_autofree char *long_model = g_strnfill (257, 'm');
    g_autofree char *text = g_strdup_printf ("{\"type\":\"chat\",\"session\":\"" S1 "\","
                                             "\"message\":\"" M1 "\",\"reply\":\"" OP1 "\","
                                             "\"model\":\"%s\"}", long_model);

    expect_error (text, HELIX_SYNC_ERROR_BAD_FRAME);
  }
  expect_error ("{\"type\":\"chat.failed\",\"session\":\"" S1 "\",\"reply\":\"" OP1 "\"}",
                HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"ack\",\"acks\":[{\"op\":\"" OP1 "\",\"seq\":0}]}",
                HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"ops\",\"ops\":[{\"seq\":0," SESSION_DELETE_BODY "]}",
                HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"ops\",\"ops\":[{\"seq\":2.0," SESSION_DELETE_BODY "]}",
                HELIX_SYNC_ERROR_BAD_OP);

  /* Numbers inside op data. */
#define MSG_WITH(extra) \
  "{\"type\":\"push\",\"ops\":[{\"op\":\"" OP2 "\",\"type\":\"message.put\",\"id\":\"" M1 "\"," \
  "\"session\":\"" S1 "\",\"hlc\":\"" HLC "\",\"data\":{\"role\":\"user\",\"content\":\"c\"," \
  "\"status\":\"done\"" extra "}}]}"
  accept (MSG_WITH (",\"cost\":1"));
  accept (MSG_WITH (",\"cost\":1e308"));
  accept (MSG_WITH (",\"tokens_in\":0"));
  expect_error (MSG_WITH (",\"cost\":1e999999"), HELIX_SYNC_ERROR_BAD_OP);
  expect_error (MSG_WITH (",\"cost\":-1e999999"), HELIX_SYNC_ERROR_BAD_OP);
  expect_error (MSG_WITH (",\"cost\":-0.5"), HELIX_SYNC_ERROR_BAD_OP);
  expect_error (MSG_WITH (",\"cost\":\"1\""), HELIX_SYNC_ERROR_BAD_OP);
  expect_error (MSG_WITH (",\"tokens_in\":1.5"), HELIX_SYNC_ERROR_BAD_OP);
  expect_error (MSG_WITH (",\"tokens_out\":-1"), HELIX_SYNC_ERROR_BAD_OP);
  expect_error (MSG_WITH (",\"tokens_out\":1e2"), HELIX_SYNC_ERROR_BAD_OP);
  expect_error (MSG_WITH (",\"created_us\":-1"), HELIX_SYNC_ERROR_BAD_OP);
}

static void
test_frame_wrong_types (void)
{
  expect_error ("[]", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("\"hello\"", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("null", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":1}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":null}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":[\"ping\"]}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"hello\",\"cursor\":\"5\",\"device\":\"d\"}",
                HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"hello\",\"cursor\":true,\"device\":\"d\"}",
                HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"hello\",\"cursor\":null,\"device\":\"d\"}",
                HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"hello\",\"cursor\":1,\"device\":5}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"hello\",\"cursor\":1,\"device\":\"has space\"}",
                HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"hello\",\"cursor\":1,\"device\":\"\"}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"welcome\",\"user\":\"\",\"device\":\"d\",\"head\":0}",
                HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"push\",\"ops\":{}}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"push\",\"ops\":[]}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"push\",\"ops\":[1]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[[]]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"ack\",\"acks\":[\"x\"]}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"ack\",\"acks\":[{\"op\":\"" OP1 "\",\"seq\":1,\"x\":1}]}",
                HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"error\",\"code\":\"Bad Code\",\"message\":\"m\"}",
                HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"error\",\"code\":\"\",\"message\":\"m\"}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"error\",\"code\":\"bad_op\",\"message\":\"m\",\"op\":null}",
                HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"ping\",\"id\":17}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"ping\",\"id\":\"" "0123456789012345678901234567890123456789"
                "01234567890123456789012345\"}", HELIX_SYNC_ERROR_BAD_FRAME);

  /* Op members and data of the wrong type. */
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"session.put\",\"id\":\""
                S1 "\",\"hlc\":\"" HLC "\",\"data\":{\"pinned\":\"yes\"}}]}",
                HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"session.put\",\"id\":\""
                S1 "\",\"hlc\":\"" HLC "\",\"data\":{\"title\":7}}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"session.put\",\"id\":\""
                S1 "\",\"hlc\":\"" HLC "\",\"data\":[]}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"session.put\",\"id\":\""
                S1 "\",\"hlc\":7,\"data\":{\"title\":\"t\"}}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error (MSG_WITH (",\"model\":null"), HELIX_SYNC_ERROR_BAD_OP);
  /* The session's pinned model: a string ("" for automatic), never null. */
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"session.put\",\"id\":\""
                S1 "\",\"hlc\":\"" HLC "\",\"data\":{\"model\":5}}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"session.put\",\"id\":\""
                S1 "\",\"hlc\":\"" HLC "\",\"data\":{\"model\":null}}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP2 "\",\"type\":\"message.put\",\"id\":\""
                M1 "\",\"session\":\"" S1 "\",\"hlc\":\"" HLC "\",\"data\":{\"role\":\"robot\","
                "\"content\":\"c\",\"status\":\"done\"}}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP2 "\",\"type\":\"message.put\",\"id\":\""
                M1 "\",\"session\":\"" S1 "\",\"hlc\":\"" HLC "\",\"data\":{\"role\":\"user\","
                "\"content\":\"c\",\"status\":\"finished\"}}]}", HELIX_SYNC_ERROR_BAD_OP);
}

static void
test_frame_missing (void)
{
  expect_error ("{}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"cursor\":0}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"hello\",\"device\":\"d\"}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"hello\",\"cursor\":0}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"welcome\",\"user\":\"u\",\"device\":\"d\"}",
                HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"synced\"}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"push\"}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"ack\"}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"ack\",\"acks\":[{\"op\":\"" OP1 "\"}]}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"message.delta\",\"session\":\"" S1 "\",\"message\":\"" M1 "\","
                "\"index\":0}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"error\",\"code\":\"bad_op\"}", HELIX_SYNC_ERROR_BAD_FRAME);

  /* Ops. */
  expect_error ("{\"type\":\"push\",\"ops\":[{\"type\":\"session.delete\",\"id\":\"" S1 "\","
                "\"hlc\":\"" HLC "\"}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"id\":\"" S1 "\","
                "\"hlc\":\"" HLC "\"}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"session.delete\","
                "\"hlc\":\"" HLC "\"}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"session.delete\","
                "\"id\":\"" S1 "\"}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"session.put\","
                "\"id\":\"" S1 "\",\"hlc\":\"" HLC "\"}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"session.put\","
                "\"id\":\"" S1 "\",\"hlc\":\"" HLC "\",\"data\":{}}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP2 "\",\"type\":\"message.put\",\"id\":\""
                M1 "\",\"hlc\":\"" HLC "\",\"data\":{\"role\":\"user\",\"content\":\"c\","
                "\"status\":\"done\"}}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP2 "\",\"type\":\"message.put\",\"id\":\""
                M1 "\",\"session\":\"" S1 "\",\"hlc\":\"" HLC "\",\"data\":{\"role\":\"user\","
                "\"status\":\"done\"}}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP2 "\",\"type\":\"message.put\",\"id\":\""
                M1 "\",\"session\":\"" S1 "\",\"hlc\":\"" HLC "\",\"data\":{\"content\":\"c\","
                "\"status\":\"done\"}}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP2 "\",\"type\":\"message.put\",\"id\":\""
                M1 "\",\"session\":\"" S1 "\",\"hlc\":\"" HLC "\",\"data\":{\"role\":\"user\","
                "\"content\":\"c\"}}]}", HELIX_SYNC_ERROR_BAD_OP);
  /* An `ops` frame needs each op's seq. */
  expect_error ("{\"type\":\"ops\",\"ops\":[" SESSION_DELETE "]}", HELIX_SYNC_ERROR_BAD_OP);
}

static void
assert_error_frame_for (const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSyncFrame) frame = helix_sync_frame_parse (text, strlen (text), &error);
  g_autoptr(HelixSyncFrame) reply = NULL;
  g_autofree char *reply_text = NULL;

  g_assert_null (frame);
  g_assert_nonnull (error);
  /* The gateway can always answer with an error frame, and it is a valid frame. */
  reply_text = helix_sync_frame_build_error_from_gerror (error, NULL);
  g_assert_nonnull (reply_text);
  g_assert_cmpuint (strlen (reply_text), <, 1024);
  reply = parse_ok (reply_text);
  g_assert_cmpstr (helix_sync_frame_get_error_message (reply), ==, error->message);
}

static void
test_frame_unknown (void)
{
  g_autofree char *long_name = NULL;
  g_autofree char *long_type = NULL;
  g_autofree char *long_op_type = NULL;
  GString *s;

  expect_error ("{\"type\":\"hack\"}", HELIX_SYNC_ERROR_UNKNOWN_TYPE);
  expect_error ("{\"type\":\"HELLO\",\"cursor\":0,\"device\":\"d\"}",
                HELIX_SYNC_ERROR_UNKNOWN_TYPE);
  expect_error ("{\"type\":\"\"}", HELIX_SYNC_ERROR_UNKNOWN_TYPE);
  expect_error ("{\"type\":\"ping\",\"extra\":1}", HELIX_SYNC_ERROR_BAD_FRAME);
  expect_error ("{\"type\":\"synced\",\"cursor\":1,\"head\":1}", HELIX_SYNC_ERROR_BAD_FRAME);

  /* Unknown op type, op members and data fields. */
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"session.drop\","
                "\"id\":\"" S1 "\",\"hlc\":\"" HLC "\"}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"session.delete\","
                "\"id\":\"" S1 "\",\"hlc\":\"" HLC "\",\"extra\":1}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"session.delete\","
                "\"id\":\"" S1 "\",\"hlc\":\"" HLC "\",\"data\":{}}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"session.put\","
                "\"id\":\"" S1 "\",\"session\":\"" S2 "\",\"hlc\":\"" HLC "\","
                "\"data\":{\"title\":\"t\"}}]}", HELIX_SYNC_ERROR_BAD_OP);
  expect_error ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"session.put\","
                "\"id\":\"" S1 "\",\"hlc\":\"" HLC "\","
                "\"data\":{\"title\":\"t\",\"color\":\"red\"}}]}",
                HELIX_SYNC_ERROR_BAD_OP);
  expect_error (MSG_WITH (",\"tokens\":1"), HELIX_SYNC_ERROR_BAD_OP);
  /* Long, multi-byte names are quoted cut on a character boundary. */
  s = g_string_new ("{\"type\":\"ping\",\"");
  for (guint i = 0; i < 1000; i++)
    g_string_append (s, "\xc3\xa9");
  g_string_append (s, "\":1}");
  long_name = g_string_free (s, FALSE);
  expect_error (long_name, HELIX_SYNC_ERROR_BAD_FRAME);
  assert_error_frame_for (long_name);

  s = g_string_new ("{\"type\":\"x");
  for (guint i = 0; i < 1000; i++)
    g_string_append (s, "\xe2\x82\xac");
  g_string_append (s, "\"}");
  long_type = g_string_free (s, FALSE);
  expect_error (long_type, HELIX_SYNC_ERROR_UNKNOWN_TYPE);
  assert_error_frame_for (long_type);

  s = g_string_new ("{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"");
  for (guint i = 0; i < 1000; i++)
    g_string_append (s, "\xf0\x9f\x98\x80");
  g_string_append (s, "\",\"id\":\"" S1 "\",\"hlc\":\"" HLC "\"}]}");
  long_op_type = g_string_free (s, FALSE);
  expect_error (long_op_type, HELIX_SYNC_ERROR_BAD_OP);
  assert_error_frame_for (long_op_type);

  /* Pushed ops must not carry a seq: the gateway assigns it. */
  expect_error ("{\"type\":\"push\",\"ops\":[{\"seq\":1," SESSION_DELETE_BODY "]}",
                HELIX_SYNC_ERROR_BAD_OP);
}

static char *
push_of (guint n)
{
  GString *s = g_string_new ("{\"type\":\"push\",\"ops\":[");

  for (guint i = 0; i < n; i++)
    {
      char op_id[HELIX_UUID_STRING_LEN + 1];

      helix_uuid_format_v7 (1763769600000 + i, op_id);
      g_string_append_printf (s, "%s{\"op\":\"%s\",\"type\":\"session.delete\",\"id\":\"" S1 "\","
                              "\"hlc\":\"" HLC "\"}", i > 0 ? "," : "", op_id);
    }
  g_string_append (s, "]}");

  return g_string_free (s, FALSE);
}

static void
test_frame_too_many_ops (void)
{
  g_autofree char *ok = push_of (HELIX_SYNC_MAX_OPS);
  g_autofree char *too_many = push_of (HELIX_SYNC_MAX_OPS + 1);
  g_autoptr(HelixSyncFrame) frame = parse_ok (ok);
  GString *acks = g_string_new ("{\"type\":\"ack\",\"acks\":[");
  g_autofree char *acks_text = NULL;

  g_assert_cmpuint (helix_sync_frame_get_ops (frame)->len, ==, HELIX_SYNC_MAX_OPS);
  expect_error (too_many, HELIX_SYNC_ERROR_TOO_LARGE);

  for (guint i = 0; i <= HELIX_SYNC_MAX_OPS; i++)
    g_string_append_printf (acks, "%s{\"op\":\"" OP1 "\",\"seq\":%u}", i > 0 ? "," : "", i + 1);
  g_string_append (acks, "]}");
  acks_text = g_string_free (acks, FALSE);
  expect_error (acks_text, HELIX_SYNC_ERROR_TOO_LARGE);
}

static void
test_frame_bad_uuids (void)
{
  static const char * const bad[] = {
    "0190F3A2-1C00-7000-8000-000000000001",  /* upper case */
    "0190f3a2-1c00-7000-8000-00000000001",   /* short */
    "0190f3a2-1c00-7000-8000-0000000000011", /* long */
    "0190f3a21c0070008000000000000001",      /* no dashes */
    "{0190f3a2-1c00-7000-8000-000000000001}",
    "0190f3a2-1c00-7000-8000-00000000000g",
    "",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *in_id = g_strdup_printf (
        "{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"session.delete\","
        "\"id\":\"%s\",\"hlc\":\"" HLC "\"}]}", bad[i]);
      g_autofree char *in_op = g_strdup_printf (
        "{\"type\":\"push\",\"ops\":[{\"op\":\"%s\",\"type\":\"session.delete\","
        "\"id\":\"" S1 "\",\"hlc\":\"" HLC "\"}]}", bad[i]);
      g_autofree char *in_session = g_strdup_printf (
        "{\"type\":\"push\",\"ops\":[{\"op\":\"" OP2 "\",\"type\":\"message.put\","
        "\"id\":\"" M1 "\","
        "\"session\":\"%s\",\"hlc\":\"" HLC "\",\"data\":{\"role\":\"user\",\"content\":\"c\","
        "\"status\":\"done\"}}]}", bad[i]);
      g_autofree char *in_ack = g_strdup_printf (
        "{\"type\":\"ack\",\"acks\":[{\"op\":\"%s\",\"seq\":1}]}", bad[i]);
      g_autofree char *in_delta = g_strdup_printf (
        "{\"type\":\"message.delta\",\"session\":\"%s\",\"message\":\"" M1 "\","
        "\"delta\":\"x\",\"index\":0}", bad[i]);
      g_autofree char *in_error = g_strdup_printf (
        "{\"type\":\"error\",\"code\":\"bad_op\",\"message\":\"m\",\"op\":\"%s\"}", bad[i]);

      expect_error (in_id, HELIX_SYNC_ERROR_BAD_OP);
      expect_error (in_op, HELIX_SYNC_ERROR_BAD_OP);
      expect_error (in_session, HELIX_SYNC_ERROR_BAD_OP);
      expect_error (in_ack, HELIX_SYNC_ERROR_BAD_FRAME);
      expect_error (in_delta, HELIX_SYNC_ERROR_BAD_FRAME);
      expect_error (in_error, HELIX_SYNC_ERROR_BAD_FRAME);
    }
}

static void
test_frame_bad_hlc (void)
{
  static const char * const bad[] = {
    "", "abc", "1:2", "1:2:", ":0:dev", "1::dev", "-1:0:dev", "+1:0:dev", " 1:0:dev",
    "1:4294967296:dev", "1234567890123456:0:dev", "1:0:has space", "1:0:dev/x",
    "1:0:" "0123456789012345678901234567890123456789012345678901234567890123456789",
    "1.5:0:dev", "0x10:0:dev",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *text = g_strdup_printf (
        "{\"type\":\"push\",\"ops\":[{\"op\":\"" OP1 "\",\"type\":\"session.delete\","
        "\"id\":\"" S1 "\",\"hlc\":\"%s\"}]}", bad[i]);
      g_autoptr(GError) error = NULL;
      g_autofree char *bad_op = NULL;
      g_autoptr(HelixSyncFrame) frame = helix_sync_frame_parse_full (text, strlen (text),
                                                                     &bad_op, &error);

      g_assert_null (frame);
      g_assert_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP);
      /* The op id was readable, so the error frame can name it. */
      g_assert_cmpstr (bad_op, ==, OP1);
    }
}

static HelixSyncOp *
op_from (const char *text)
{
  g_autoptr(GError) error = NULL;
  HelixSyncOp *op = helix_sync_op_new_from_data (text, strlen (text), &error);

  g_assert_no_error (error);
  g_assert_nonnull (op);

  return op;
}

static void
test_op_canonical (void)
{
  g_autoptr(HelixSyncOp) a = op_from (MESSAGE_PUT);
  g_autoptr(HelixSyncOp) b = op_from (
    "  {\n \"data\" : { \"created_us\":1763769600000000, \"cost\" : 12e-4,"
    " \"tokens_out\":3, \"tokens_in\":12, \"provider\":\"p\", \"model\":\"m\","
    " \"status\":\"done\", \"content\":\"Hi \\u0022there\\\"\\u000a\", \"role\":\"assistant\" },"
    "\t\"hlc\":\"" HLC "\", \"seq\": 99, \"session\":\"" S1 "\", \"id\":\"" M1 "\","
    " \"type\":\"message.put\", \"op\":\"" OP2 "\" }\n");
  g_autoptr(HelixSyncOp) c = op_from (
    "{\"op\":\"" OP2 "\",\"type\":\"message.put\",\"id\":\"" M1 "\",\"session\":\"" S1 "\","
    "\"hlc\":\"" HLC "\",\"data\":{\"role\":\"assistant\",\"content\":\"Hi \\\"there\\\"\\n!\","
    "\"status\":\"done\",\"model\":\"m\",\"provider\":\"p\",\"tokens_in\":12,\"tokens_out\":3,"
    "\"cost\":0.0012,\"created_us\":1763769600000000}}");
  g_autoptr(HelixSyncOp) d1 = op_from ("{\"op\":\"" OP1 "\",\"type\":\"session.put\",\"id\":\"" S1
                                       "\",\"hlc\":\"" HLC "\",\"data\":{\"title\":\"t\"}}");
  g_autoptr(HelixSyncOp) d2 = op_from ("{\"op\":\"" OP1 "\",\"type\":\"session.put\",\"id\":\"" S1
                                       "\",\"hlc\":\"" HLC "\","
                                       "\"data\":{\"title\":\"t\",\"pinned\":false}}");
  g_autoptr(HelixSyncOp) zero = op_from ("{\"op\":\"" OP2 "\",\"type\":\"message.put\",\"id\":\"" M1
                                         "\",\"session\":\"" S1 "\",\"hlc\":\"" HLC "\",\"data\":{"
                                         "\"role\":\"user\",\"content\":\"\",\"status\":\"done\","
                                         "\"cost\":0}}");
  g_autoptr(HelixSyncOp) minus_zero = op_from ("{\"op\":\"" OP2 "\",\"type\":\"message.put\","
                                               "\"id\":\"" M1 "\",\"session\":\"" S1 "\","
                                               "\"hlc\":\"" HLC "\",\"data\":{\"cost\":-0.0e5,"
                                               "\"role\":\"user\",\"content\":\"\","
                                               "\"status\":\"done\"}}");
  g_autoptr(HelixSyncOp) again = NULL;
  g_autoptr(HelixSyncOp) with_seq = NULL;
  g_autofree char *ca = helix_sync_op_canonical (a);
  g_autofree char *cb = helix_sync_op_canonical (b);
  g_autofree char *ha = helix_sync_op_hash (a);
  g_autofree char *hb = helix_sync_op_hash (b);
  g_autofree char *hc = helix_sync_op_hash (c);
  g_autofree char *c_again = NULL;
  g_autofree char *c_seq = NULL;

  /* Key order, spacing, escapes and number spelling do not change the canonical form. */
  g_assert_cmpstr (ca, ==, cb);
  g_assert_cmpstr (ha, ==, hb);
  g_assert_cmpuint (strlen (ha), ==, 64);
  g_assert_true (helix_sync_op_equal (a, b));
  g_assert_cmpint (helix_sync_op_get_seq (b), ==, 99);

  /* Content does. */
  g_assert_cmpstr (ha, !=, hc);
  g_assert_false (helix_sync_op_equal (a, c));
  g_assert_false (helix_sync_op_equal (d1, d2));
  g_assert_true (helix_sync_op_equal (zero, minus_zero));

  /* Sorted keys, no whitespace, no seq. */
  g_assert_true (g_str_has_prefix (ca, "{\"data\":{\"content\":\"Hi \\\"there\\\"\\n\",\"cost\":"));
  g_assert_true (g_str_has_suffix (ca, "\"hlc\":\"" HLC "\",\"id\":\"" M1 "\",\"op\":\"" OP2
                                   "\",\"session\":\"" S1 "\",\"type\":\"message.put\"}"));
  g_assert_null (strstr (ca, "seq"));

  /* The canonical text is itself a valid op with the same canonical text. */
  again = op_from (ca);
  c_again = helix_sync_op_canonical (again);
  g_assert_cmpstr (c_again, ==, ca);

  with_seq = helix_sync_op_dup_with_seq (a, 5);
  c_seq = helix_sync_op_canonical (with_seq);
  g_assert_cmpstr (c_seq, ==, ca);
  g_assert_cmpint (helix_sync_op_get_seq (with_seq), ==, 5);
  g_assert_cmpint (helix_sync_op_get_seq (a), ==, 0);
}

/* The canonical text is stored (hashed) by gateways: its escapes are fixed
 * for good, byte for byte. */
static void
test_op_canonical_escapes (void)
{
  g_autoptr(HelixSyncOp) op = op_from (
    "{\"op\":\"" OP2 "\",\"type\":\"message.put\",\"id\":\"" M1 "\",\"session\":\"" S1 "\","
    "\"hlc\":\"" HLC "\",\"data\":{\"role\":\"user\",\"status\":\"done\","
    "\"content\":\"q\\\" b\\\\ n\\n t\\t r\\r bs\\b ff\\f one\\u0001 us\\u001f "
    "del\\u007f sl\\/ \\u00e9\\u20ac\\ud83d\\ude00\"}}");
  g_autofree char *canonical = helix_sync_op_canonical (op);

  g_assert_cmpstr (canonical, ==,
                   "{\"data\":{\"content\":\"q\\\" b\\\\ n\\n t\\t r\\r bs\\u0008 ff\\u000c "
                   "one\\u0001 us\\u001f del\x7f sl/ \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\","
                   "\"role\":\"user\",\"status\":\"done\"},\"hlc\":\"" HLC "\",\"id\":\"" M1 "\","
                   "\"op\":\"" OP2 "\",\"session\":\"" S1 "\",\"type\":\"message.put\"}");
}

static void
test_op_new (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) data = json_object_new ();
  g_autoptr(JsonObject) bad_data = json_object_new ();
  g_autoptr(HelixSyncOp) op = NULL;
  g_autoptr(HelixSyncOp) del = NULL;
  g_autoptr(HelixSyncOp) bad = NULL;
  g_autoptr(HelixSyncFrame) frame = NULL;
  g_autofree char *push = NULL;
  HelixHlc hlc = { .wall_ms = 1763769600000, .counter = 4, .device = "phone" };
  static const char * const models[] = { "deepseek-reasoner", "" };
  g_autofree char *long_model = g_strnfill (HELIX_SYNC_MAX_NAME_BYTES + 1, 'm');
  HelixSyncOp *ops[2];
  GPtrArray *parsed;

  json_object_set_string_member (data, "title", "Groceries");
  json_object_set_boolean_member (data, "archived", FALSE);
  op = helix_sync_op_new (HELIX_SYNC_OP_SESSION_PUT, OP1, S1, NULL, &hlc, data, &error);
  g_assert_no_error (error);
  g_assert_nonnull (op);
  del = helix_sync_op_new (HELIX_SYNC_OP_SESSION_DELETE, OP3, S2, NULL, &hlc, NULL, &error);
  g_assert_no_error (error);

  /* The client's constructor refuses what the gateway would refuse. */
  json_object_set_int_member (bad_data, "title", 3);
  bad = helix_sync_op_new (HELIX_SYNC_OP_SESSION_PUT, OP1, S1, NULL, &hlc, bad_data, &error);
  g_assert_null (bad);
  g_assert_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP);
  g_clear_error (&error);
  g_clear_pointer (&bad_data, json_object_unref);
  bad_data = json_object_new ();
  json_object_set_string_member (bad_data, "model", long_model);
  bad = helix_sync_op_new (HELIX_SYNC_OP_SESSION_PUT, OP1, S1, NULL, &hlc, bad_data, &error);
  g_assert_null (bad);
  g_assert_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP);
  g_clear_error (&error);
  g_clear_pointer (&bad_data, json_object_unref);

  /* A model alone is enough for a session.put; "" is automatic. */
  for (guint i = 0; i < G_N_ELEMENTS (models); i++)
    {
      g_autoptr(JsonObject) model_data = json_object_new ();
      g_autoptr(HelixSyncOp) model_op = NULL;

      json_object_set_string_member (model_data, "model", models[i]);
      model_op = helix_sync_op_new (HELIX_SYNC_OP_SESSION_PUT, OP1, S1, NULL, &hlc, model_data,
                                    &error);
      g_assert_no_error (error);
      g_assert_nonnull (model_op);
    }

  bad = helix_sync_op_new (HELIX_SYNC_OP_SESSION_PUT, "nope", S1, NULL, &hlc, data, &error);
  g_assert_null (bad);
  g_assert_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP);
  g_clear_error (&error);
  bad = helix_sync_op_new (HELIX_SYNC_OP_MESSAGE_PUT, OP2, M1, NULL, &hlc, data, &error);
  g_assert_null (bad);
  g_assert_error (error, HELIX_SYNC_ERROR, HELIX_SYNC_ERROR_BAD_OP);
  g_clear_error (&error);

  ops[0] = op;
  ops[1] = del;
  push = helix_sync_frame_build_push (ops, 2);
  frame = parse_ok (push);
  g_assert_cmpuint (helix_sync_frame_get_ops (frame)->len, ==, 2);
  parsed = helix_sync_frame_get_ops (frame);
  g_assert_true (helix_sync_op_equal (op, g_ptr_array_index (parsed, 0)));
  g_assert_true (helix_sync_op_equal (del, g_ptr_array_index (parsed, 1)));
  g_assert_cmpstr (helix_sync_op_get_hlc (g_ptr_array_index (parsed, 0))->device, ==, "phone");
}

/* Both ways of reading a push frame made the same ops. */
static void
assert_same_ops (HelixSyncFrame *a,
                 HelixSyncFrame *b)
{
  GPtrArray *ops_a = helix_sync_frame_get_ops (a);
  GPtrArray *ops_b = helix_sync_frame_get_ops (b);

  g_assert_cmpint (helix_sync_frame_get_kind (a), ==, HELIX_SYNC_FRAME_PUSH);
  g_assert_cmpint (helix_sync_frame_get_kind (b), ==, HELIX_SYNC_FRAME_PUSH);
  g_assert_cmpuint (ops_a->len, ==, ops_b->len);

  for (guint i = 0; i < ops_a->len; i++)
    {
      HelixSyncOp *x = g_ptr_array_index (ops_a, i);
      HelixSyncOp *y = g_ptr_array_index (ops_b, i);
      g_autofree char *canonical_x = helix_sync_op_canonical (x);
      g_autofree char *canonical_y = helix_sync_op_canonical (y);

      g_assert_cmpstr (canonical_x, ==, canonical_y);
      g_assert_true (helix_sync_op_equal (x, y));
      g_assert_cmpint (helix_sync_op_get_kind (x), ==, helix_sync_op_get_kind (y));
      g_assert_cmpstr (helix_sync_op_get_op_id (x), ==, helix_sync_op_get_op_id (y));
      g_assert_cmpstr (helix_sync_op_get_id (x), ==, helix_sync_op_get_id (y));
      g_assert_cmpstr (helix_sync_op_get_session_id (x), ==, helix_sync_op_get_session_id (y));
      g_assert_cmpint (helix_hlc_compare (helix_sync_op_get_hlc (x), helix_sync_op_get_hlc (y)),
                       ==, 0);
      g_assert_cmpint (helix_sync_op_get_seq (x), ==, 0);
      g_assert_cmpint (helix_sync_op_get_seq (y), ==, 0);
    }
}

/* Reads @text both ways; returns whether the short way took it. */
static gboolean
compare_push_ways (const char *text,
                   gsize       len,
                   guint      *long_accepted)
{
  g_autoptr(HelixSyncFrame) fast = NULL;
  g_autoptr(HelixSyncFrame) tree = NULL;
  g_autoptr(GError) error = NULL;

  if (!helix_json_validate (text, len, 64, NULL))
    return FALSE;

  fast = _helix_sync_frame_parse_push_fast (text, len);
  tree = _helix_sync_frame_parse_tree (text, len, NULL, &error);
  if (tree != NULL)
    (*long_accepted)++;

  if (fast == NULL)
    return FALSE;

  /* Never accepted by the short way and refused by the long one. */
  if (tree == NULL)
    g_test_message ("The short way accepted what the long way refuses (%s): %.*s",
                    error->message, (int) len, text);
  g_assert_no_error (error);
  g_assert_nonnull (tree);
  assert_same_ops (fast, tree);

  return TRUE;
}

static void
test_frame_push_fast (void)
{
  /* The shapes devices send go the short way. */
  static const char * const usual[] = {
    "{\"type\":\"push\",\"ops\":[" MESSAGE_PUT "]}",
    "{\"type\":\"push\",\"ops\":[" SESSION_PUT "," MESSAGE_PUT "," SESSION_DELETE "]}",
    " {\n \"ops\" : [ " SESSION_DELETE " ,\t" SESSION_PUT " ] , \"type\" : \"push\" }\r\n",
    /* A whole-number cost: the data is copied as a double, not adopted. */
    "{\"type\":\"push\",\"ops\":[{\"op\":\"" OP2 "\",\"type\":\"message.put\",\"id\":\"" M1 "\","
    "\"session\":\"" S1 "\",\"hlc\":\"" HLC "\",\"data\":{\"role\":\"user\",\"content\":\"}]{[\","
    "\"status\":\"done\",\"cost\":1}}]}",
    /* Members in another order. */
    "{\"ops\":[{\"data\":{\"title\":\"x\"},\"hlc\":\"" HLC "\",\"id\":\"" S1 "\","
    "\"type\":\"session.put\",\"op\":\"" OP1 "\"}],\"type\":\"push\"}",
  };
  /* Valid frames the short way leaves to the long way. */
  static const char * const long_way[] = {
    /* An escape in an id. */
    "{\"type\":\"push\",\"ops\":[{\"op\":\"\\u0030190f3a2-1c00-7000-8000-0000000000f3\","
    "\"type\":\"session.delete\",\"id\":\"" S2 "\",\"hlc\":\"" HLC "\"}]}",
    /* A repeated member (the last one wins), of the frame or of an op. */
    "{\"type\":\"push\",\"type\":\"push\",\"ops\":[" SESSION_DELETE "]}",
    "{\"type\":\"push\",\"ops\":[{\"op\":\"" OP3 "\",\"type\":\"session.delete\",\"id\":\""
    S1 "\",\"id\":\"" S2 "\",\"hlc\":\"" HLC "\"}]}",
    /* Another frame type. */
    "{\"type\":\"ops\",\"ops\":[{\"seq\":7," SESSION_PUT_BODY "]}",
  };
  /* Refused both ways. */
  static const char * const refused[] = {
    "{\"type\":\"push\",\"ops\":[]}",
    "{\"type\":\"push\",\"ops\":[{\"seq\":7," SESSION_PUT_BODY "]}",
    "{\"type\":\"push\",\"ops\":[" SESSION_DELETE "],\"extra\":1}",
    "{\"type\":\"push\",\"ops\":[{\"op\":\"" OP3 "\",\"type\":\"session.delete\",\"id\":\""
    S2 "\",\"hlc\":\"" HLC "\",\"data\":{}}]}",
    "{\"type\":\"push\",\"ops\":[{\"op\":\"" OP2 "\",\"type\":\"message.put\",\"id\":\"" M1 "\","
    "\"hlc\":\"" HLC "\",\"data\":{\"role\":\"user\",\"content\":\"x\",\"status\":\"done\"}}]}",
    "{\"type\":\"push\",\"ops\":[{\"op\":\"" OP2 "\",\"type\":\"message.put\",\"id\":\"" M1 "\","
    "\"session\":\"" S1 "\",\"hlc\":\"" HLC "\",\"data\":{\"role\":\"user\",\"content\":\"x\","
    "\"status\":\"done\",\"cost\":-1}}]}",
  };
  static const char interesting[] = "{}[]\",:\\0123456789-.eE+tfnu \t";
  guint long_accepted = 0;
  guint fast_taken = 0;

  for (guint i = 0; i < G_N_ELEMENTS (usual); i++)
    {
      g_test_message ("%s", usual[i]);
      g_assert_true (compare_push_ways (usual[i], strlen (usual[i]), &long_accepted));
    }

  for (guint i = 0; i < G_N_ELEMENTS (long_way); i++)
    {
      g_autoptr(HelixSyncFrame) frame = NULL;

      g_assert_false (compare_push_ways (long_way[i], strlen (long_way[i]), &long_accepted));
      frame = parse_ok (long_way[i]);
    }

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(HelixSyncFrame) frame = helix_sync_frame_parse (refused[i], strlen (refused[i]),
                                                                &error);

      g_assert_null (_helix_sync_frame_parse_push_fast (refused[i], strlen (refused[i])));
      g_assert_null (frame);
      g_assert_nonnull (error);
    }

  /* Mutations of the usual shapes: whatever the short way takes, the long
   * way takes too, with the same ops. */
  long_accepted = 0;
  for (guint iter = 0; iter < 30000; iter++)
    {
      const char *seed = usual[g_test_rand_int_range (0, G_N_ELEMENTS (usual))];
      g_autofree char *buf = g_malloc (strlen (seed) + 8);
      gsize len = strlen (seed);
      guint n_mutations = (guint) g_test_rand_int_range (1, 3);

      memcpy (buf, seed, len);
      for (guint m = 0; m < n_mutations && len > 0; m++)
        {
          gsize pos = (gsize) g_test_rand_int_range (0, (gint32) len);
          char byte = interesting[g_test_rand_int_range (0, sizeof interesting - 1)];

          switch (g_test_rand_int_range (0, 4))
            {
            case 0:  /* replace with a byte that matters to JSON */
              buf[pos] = byte;
              break;
            case 1:  /* insert one */
              memmove (buf + pos + 1, buf + pos, len - pos);
              buf[pos] = byte;
              len++;
              break;
            case 2:  /* flip the case of a letter (UUIDs are lower-case) */
              buf[pos] ^= g_ascii_isalpha (buf[pos]) ? 0x20 : 0;
              break;
            default:  /* delete one */
              memmove (buf + pos, buf + pos + 1, len - pos - 1);
              len--;
              break;
            }
        }

      {
        /* Exactly len bytes: neither way may read past them. */
        g_autofree char *exact = g_memdup2 (buf, len);

        if (compare_push_ways (exact, len, &long_accepted))
          fast_taken++;
      }
    }

  g_test_message ("Of 30000 mutated push frames, %u were valid, %u of them taken the short way",
                  long_accepted, fast_taken);
  /* The mutations keep enough frames whole for the comparison to mean something. */
  g_assert_cmpuint (fast_taken, >, 1000);
  g_assert_cmpuint (fast_taken, <=, long_accepted);
}

static void
test_fuzz (void)
{
  static const char * const seeds[] = {
    "{\"type\":\"hello\",\"cursor\":12,\"device\":\"laptop-7f3a\"}",
    "{\"type\":\"welcome\",\"user\":\"alice\",\"device\":\"d.1\",\"head\":42}",
    "{\"type\":\"ops\",\"ops\":[{\"seq\":7," SESSION_PUT_BODY ",{\"seq\":8," MESSAGE_PUT_BODY "]}",
    "{\"type\":\"synced\",\"cursor\":8}",
    "{\"type\":\"push\",\"ops\":[" SESSION_PUT "," MESSAGE_PUT "," SESSION_DELETE "]}",
    "{\"type\":\"ack\",\"acks\":[{\"op\":\"" OP1 "\",\"seq\":1},{\"op\":\"" OP2 "\",\"seq\":2}]}",
    "{\"type\":\"message.delta\",\"session\":\"" S1 "\",\"message\":\"" M1 "\","
    "\"delta\":\"\\u00e9\\ud83d\\ude00 x\",\"index\":0}",
    "{\"type\":\"error\",\"code\":\"bad_op\",\"message\":\"no\",\"op\":\"" OP1 "\"}",
    "{\"type\":\"ping\",\"id\":\"17\"}",
  };
  static const char interesting[] = "{}[]\",:\\0123456789-.eE+tfnu \x80\xc3\xff\0";
  guint accepted = 0;

  for (guint iter = 0; iter < 20000; iter++)
    {
      const char *seed = seeds[g_test_rand_int_range (0, G_N_ELEMENTS (seeds))];
      g_autofree char *buf = g_strdup (seed);
      gsize len = strlen (buf);
      guint n_mutations = (guint) g_test_rand_int_range (1, 5);
      g_autoptr(GError) error = NULL;
      g_autofree char *bad_op = NULL;
      g_autoptr(HelixSyncFrame) frame = NULL;

      for (guint m = 0; m < n_mutations && len > 0; m++)
        {
          gsize pos = (gsize) g_test_rand_int_range (0, (gint32) len);

          switch (g_test_rand_int_range (0, 4))
            {
            case 0:  /* flip a bit */
              buf[pos] ^= (char) (1 << g_test_rand_int_range (0, 8));
              break;
            case 1:  /* replace with a byte that matters to JSON */
              buf[pos] = interesting[g_test_rand_int_range (0, sizeof interesting)];
              break;
            case 2:  /* truncate */
              len = pos;
              break;
            default:  /* delete a byte */
              memmove (buf + pos, buf + pos + 1, len - pos - 1);
              len--;
              break;
            }
        }

      /* The parser gets exactly len bytes; it must not read past them. */
      {
        g_autofree char *exact = g_memdup2 (buf, len);

        frame = helix_sync_frame_parse_full (exact, len, &bad_op, &error);
      }

      if (frame != NULL)
        {
          g_assert_no_error (error);
          accepted++;
        }
      else
        {
          g_assert_nonnull (error);
          g_assert_true (error->domain == HELIX_SYNC_ERROR);
          g_assert_cmpint (error->code, >=, HELIX_SYNC_ERROR_BAD_FRAME);
          g_assert_cmpint (error->code, <=, HELIX_SYNC_ERROR_UNKNOWN_TYPE);
          g_assert_true (g_utf8_validate (error->message, -1, NULL));
          g_assert_true (bad_op == NULL || helix_uuid_is_valid (bad_op));
        }
    }

  g_test_message ("%u of 20000 mutated frames accepted", accepted);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/helix/sync/json/validate-depth", test_json_validate_depth);
  g_test_add_func ("/helix/sync/json/validate", test_json_validate);
  g_test_add_func ("/helix/sync/json/parse-valid", test_json_parse_valid);
  g_test_add_func ("/helix/sync/json/parse-valid-repeated", test_json_parse_valid_repeated);
  g_test_add_func ("/helix/sync/frame/roundtrip", test_frame_roundtrip);
  g_test_add_func ("/helix/sync/frame/builders", test_frame_builders);
  g_test_add_func ("/helix/sync/frame/oversize", test_frame_oversize);
  g_test_add_func ("/helix/sync/frame/depth", test_frame_depth);
  g_test_add_func ("/helix/sync/frame/encoding", test_frame_encoding);
  g_test_add_func ("/helix/sync/frame/numbers", test_frame_numbers);
  g_test_add_func ("/helix/sync/frame/wrong-types", test_frame_wrong_types);
  g_test_add_func ("/helix/sync/frame/missing", test_frame_missing);
  g_test_add_func ("/helix/sync/frame/push-fast", test_frame_push_fast);
  g_test_add_func ("/helix/sync/frame/unknown", test_frame_unknown);
  g_test_add_func ("/helix/sync/frame/too-many-ops", test_frame_too_many_ops);
  g_test_add_func ("/helix/sync/frame/bad-uuids", test_frame_bad_uuids);
  g_test_add_func ("/helix/sync/frame/bad-hlc", test_frame_bad_hlc);
  g_test_add_func ("/helix/sync/op/canonical", test_op_canonical);
  g_test_add_func ("/helix/sync/op/canonical-escapes", test_op_canonical_escapes);
  g_test_add_func ("/helix/sync/op/new", test_op_new);
  g_test_add_func ("/helix/sync/fuzz", test_fuzz);

  return g_test_run ();
}
