/* helix-sse-parser.c: an incremental Server-Sent Events parser
 *
 * Follows the "event stream interpretation" of the WHATWG HTML standard
 * (§9.2.6): lines end with CRLF, LF or CR; a leading BOM is dropped; lines that
 * start with ':' are comments; `field:value` (one space after the colon is
 * dropped) or a bare `field`; `data` fields are joined with "\n"; a blank line
 * dispatches the event unless no data was given; `id` sets the last event id
 * (which outlives the event); `retry` with only ASCII digits sets the
 * reconnection time; other fields are ignored.
 *
 * Input arrives in chunks that may split a line anywhere: inside a UTF-8
 * sequence, inside the BOM, or between the CR and the LF of a CRLF. Bytes
 * are kept until their line ends, and each complete line is checked for
 * UTF-8 then (a line end is ASCII, so it never splits a character).
 *
 * Unlike a browser, which replaces invalid UTF-8 and has no limits, this
 * parser reads untrusted network input: invalid UTF-8, a line longer than
 * max_line or event data larger than max_event stop it with an error.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-ai"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-sse-parser.h"

struct _HelixSseParser
{
  gatomicrefcount    ref_count;

  HelixSseEventFunc  func;
  gpointer           user_data;
  GDestroyNotify     user_data_free;

  gsize              max_line;
  gsize              max_event;

  GString           *line;        /* the current line, without its end */
  GString           *data;        /* data buffer of the current event */
  GString           *event_type;  /* "" means "message" */
  char              *last_event_id;
  gint64             retry;       /* ms, or -1 */

  GError            *error;       /* sticky */
  guint              seen_bytes;  /* up to 3: for the BOM */
  guint              after_cr : 1;
  guint              stopped : 1;
};

G_DEFINE_BOXED_TYPE (HelixSseParser, helix_sse_parser, helix_sse_parser_ref, helix_sse_parser_unref)
G_DEFINE_QUARK (helix-sse-error-quark, helix_sse_error)

static const char bom[] = "\xEF\xBB\xBF";

/**
 * helix_sse_parser_new:
 * @func: called for each event
 * @user_data: passed to @func
 * @user_data_free: (nullable): frees @user_data with the parser
 *
 * Returns: (transfer full): a new parser with the default limits
 *   (%HELIX_SSE_PARSER_DEFAULT_MAX_LINE, %HELIX_SSE_PARSER_DEFAULT_MAX_EVENT)
 */
HelixSseParser *
helix_sse_parser_new (HelixSseEventFunc func,
                      gpointer          user_data,
                      GDestroyNotify    user_data_free)
{
  HelixSseParser *self;

  g_return_val_if_fail (func != NULL, NULL);

  self = g_new0 (HelixSseParser, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->func = func;
  self->user_data = user_data;
  self->user_data_free = user_data_free;
  self->max_line = HELIX_SSE_PARSER_DEFAULT_MAX_LINE;
  self->max_event = HELIX_SSE_PARSER_DEFAULT_MAX_EVENT;
  self->line = g_string_new (NULL);
  self->data = g_string_new (NULL);
  self->event_type = g_string_new (NULL);
  self->last_event_id = g_strdup ("");
  self->retry = -1;

  return self;
}

HelixSseParser *
helix_sse_parser_ref (HelixSseParser *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
helix_sse_parser_unref (HelixSseParser *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  if (self->user_data_free != NULL)
    self->user_data_free (self->user_data);
  g_string_free (self->line, TRUE);
  g_string_free (self->data, TRUE);
  g_string_free (self->event_type, TRUE);
  g_free (self->last_event_id);
  g_clear_error (&self->error);
  g_free (self);
}

/**
 * helix_sse_parser_set_limits:
 * @self: a parser
 * @max_line: the longest line allowed, in bytes (without its end)
 * @max_event: the most data bytes one event may carry (with the "\n" between
 *   its `data:` lines)
 *
 * Sets the limits beyond which helix_sse_parser_feed() fails.
 */
void
helix_sse_parser_set_limits (HelixSseParser *self,
                             gsize           max_line,
                             gsize           max_event)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (max_line > 0 && max_event > 0);

  self->max_line = max_line;
  self->max_event = max_event;
}

static gboolean
fail (HelixSseParser *self,
      GError        **error,
      HelixSseError   code,
      const char     *message)
{
  self->error = g_error_new_literal (HELIX_SSE_ERROR, code, message);
  g_propagate_error (error, g_error_copy (self->error));
  return FALSE;
}

static gboolean
dispatch (HelixSseParser *self)
{
  HelixSseEvent event;

  if (self->data->len == 0)
    {
      /* Only fields other than data: nothing to dispatch. */
      g_string_truncate (self->event_type, 0);
      return TRUE;
    }

  /* Drop the "\n" the last data line added. */
  g_string_truncate (self->data, self->data->len - 1);

  event.type = self->event_type->len > 0 ? self->event_type->str : "message";
  event.data = self->data->str;
  event.data_len = self->data->len;
  event.last_event_id = self->last_event_id;

  if (!self->func (&event, self->user_data))
    self->stopped = TRUE;

  g_string_truncate (self->data, 0);
  g_string_truncate (self->event_type, 0);

  return TRUE;
}

static gboolean
is_ascii_digits (const char *s,
                 gsize       len)
{
  if (len == 0)
    return FALSE;

  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isdigit (s[i]))
      return FALSE;

  return TRUE;
}

static gboolean
process_line (HelixSseParser  *self,
              GError         **error)
{
  const char *line = self->line->str;
  gsize len = self->line->len;
  const char *colon;
  const char *value;
  gsize field_len;
  gsize value_len;

  if (!g_utf8_validate_len (line, len, NULL))
    return fail (self, error, HELIX_SSE_ERROR_INVALID_UTF8,
                 _("The event stream is not valid UTF-8 text"));

  if (len == 0)
    return dispatch (self);

  if (line[0] == ':')
    return TRUE;  /* a comment */

  colon = memchr (line, ':', len);
  if (colon != NULL)
    {
      field_len = colon - line;
      value = colon + 1;
      if (*value == ' ')
        value++;
      value_len = len - (value - line);
    }
  else
    {
      field_len = len;
      value = line + len;
      value_len = 0;
    }

#define FIELD_IS(name) (field_len == strlen (name) && memcmp (line, name, field_len) == 0)

  if (FIELD_IS ("data"))
    {
      if (self->data->len + value_len + 1 > self->max_event + 1)
        return fail (self, error, HELIX_SSE_ERROR_EVENT_TOO_LARGE,
                     _("An event of the event stream is larger than allowed"));
      g_string_append_len (self->data, value, value_len);
      g_string_append_c (self->data, '\n');
    }
  else if (FIELD_IS ("event"))
    {
      g_string_truncate (self->event_type, 0);
      g_string_append_len (self->event_type, value, value_len);
    }
  else if (FIELD_IS ("id"))
    {
      /* An id with a NUL is ignored by the standard; NULs never get here. */
      g_free (self->last_event_id);
      self->last_event_id = g_strndup (value, value_len);
    }
  else if (FIELD_IS ("retry"))
    {
      if (is_ascii_digits (value, value_len) && value_len <= 18)
        self->retry = g_ascii_strtoll (value, NULL, 10);
    }

#undef FIELD_IS

  return TRUE;
}

/**
 * helix_sse_parser_feed:
 * @self: a parser
 * @data: (array length=len): the next bytes of the stream
 * @len: how many
 * @error: a location for a #GError
 *
 * Parses @data and calls the event function for every event it completes.
 * After the event function asked to stop, the input is ignored and %TRUE is
 * returned.
 *
 * Returns: %FALSE with @error set (in %HELIX_SSE_ERROR) if the stream breaks a
 *   limit or is not UTF-8; the parser then refuses all further input
 */
gboolean
helix_sse_parser_feed (HelixSseParser  *self,
                       const char      *data,
                       gsize            len,
                       GError         **error)
{
  g_autoptr(HelixSseParser) hold = NULL;
  const char *p = data;
  const char *end = data + len;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->error != NULL)
    {
      g_propagate_error (error, g_error_copy (self->error));
      return FALSE;
    }

  hold = helix_sse_parser_ref (self);

  /* The BOM, possibly split over several calls. */
  while (self->seen_bytes < 3 && p < end && !self->stopped)
    {
      if (*p == bom[self->seen_bytes] && self->line->len == self->seen_bytes)
        {
          g_string_append_c (self->line, *p);
          self->seen_bytes++;
          p++;
          if (self->seen_bytes == 3)
            g_string_truncate (self->line, 0);
          continue;
        }
      /* Not a BOM: the bytes kept so far belong to the first line. */
      self->seen_bytes = 3;
    }

  while (p < end && !self->stopped)
    {
      const char *eol = p;
      gsize take;

      if (self->after_cr)
        {
          self->after_cr = FALSE;
          if (*p == '\n')
            {
              p++;
              continue;
            }
        }

      while (eol < end && *eol != '\n' && *eol != '\r')
        eol++;

      take = eol - p;
      if (self->line->len + take > self->max_line)
        return fail (self, error, HELIX_SSE_ERROR_LINE_TOO_LONG,
                     _("A line of the event stream is longer than allowed"));
      g_string_append_len (self->line, p, take);
      p = eol;

      if (p == end)
        break;

      self->after_cr = (*p == '\r');
      p++;

      if (!process_line (self, error))
        return FALSE;
      g_string_truncate (self->line, 0);
    }

  return TRUE;
}

/**
 * helix_sse_parser_has_pending:
 * @self: a parser
 *
 * Whether the stream so far ends inside a line or an event. At the end of a
 * stream the standard drops such an incomplete event; a caller may want to
 * say that the stream was cut.
 *
 * Returns: %TRUE if bytes were given that no dispatched event used
 */
gboolean
helix_sse_parser_has_pending (HelixSseParser *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  return self->line->len > 0 || self->data->len > 0;
}

/**
 * helix_sse_parser_is_stopped:
 * @self: a parser
 *
 * Returns: %TRUE once the event function returned %FALSE
 */
gboolean
helix_sse_parser_is_stopped (HelixSseParser *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  return self->stopped;
}

/**
 * helix_sse_parser_get_retry:
 * @self: a parser
 *
 * Returns: the reconnection time of the last valid `retry:` field, in
 *   milliseconds, or -1 if there was none
 */
gint64
helix_sse_parser_get_retry (HelixSseParser *self)
{
  g_return_val_if_fail (self != NULL, -1);

  return self->retry;
}

/**
 * helix_sse_parser_get_last_event_id:
 * @self: a parser
 *
 * Returns: the value of the last `id:` field, or ""
 */
const char *
helix_sse_parser_get_last_event_id (HelixSseParser *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->last_event_id;
}
