/* helix-provider.c: a model provider that streams chat answers
 *
 * The interface, its error domain, and what every HTTP wire format shares:
 * how an HTTP status and a provider's error body become a %HELIX_PROVIDER_ERROR
 * the router can act on, and how `Retry-After` is read.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-ai"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-provider-private.h"

G_DEFINE_INTERFACE (HelixProvider, helix_provider, G_TYPE_OBJECT)
G_DEFINE_QUARK (helix-provider-error-quark, helix_provider_error)

static void
helix_provider_default_init (HelixProviderInterface *iface)
{
}

/**
 * helix_provider_has_spare_key:
 * @self: a provider
 *
 * Whether, after a call failed for want of quota or authorization, another
 * of the provider's keys can be tried at once.
 *
 * Returns: %TRUE if a key of the provider's pool is still usable
 */
gboolean
helix_provider_has_spare_key (HelixProvider *self)
{
  HelixProviderInterface *iface;

  g_return_val_if_fail (HELIX_IS_PROVIDER (self), FALSE);

  iface = HELIX_PROVIDER_GET_IFACE (self);
  return iface->has_spare_key != NULL && iface->has_spare_key (self);
}

/**
 * helix_provider_can_check:
 * @self: a provider
 *
 * Returns: whether helix_provider_check_async() does anything
 */
gboolean
helix_provider_can_check (HelixProvider *self)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER (self), FALSE);

  return HELIX_PROVIDER_GET_IFACE (self)->check_async != NULL;
}

/**
 * helix_provider_check_async:
 * @self: a provider
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the check is done
 * @user_data: data for @callback
 *
 * A cheap call that needs a working address and key (a model list): the
 * router's active health check. Providers that cannot check succeed at once.
 */
void
helix_provider_check_async (HelixProvider       *self,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  HelixProviderInterface *iface;

  g_return_if_fail (HELIX_IS_PROVIDER (self));

  iface = HELIX_PROVIDER_GET_IFACE (self);
  if (iface->check_async == NULL)
    {
      g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

      g_task_set_source_tag (task, helix_provider_check_async);
      g_task_return_boolean (task, TRUE);
      return;
    }

  iface->check_async (self, cancellable, callback, user_data);
}

/**
 * helix_provider_check_finish:
 * @self: a provider
 * @result: the result given to the callback
 * @error: return location for a #GError (%HELIX_PROVIDER_ERROR)
 *
 * Returns: %TRUE if the provider answered as it should
 */
gboolean
helix_provider_check_finish (HelixProvider  *self,
                             GAsyncResult   *result,
                             GError        **error)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER (self), FALSE);

  if (g_task_is_valid (result, self) &&
      g_task_get_source_tag (G_TASK (result)) == helix_provider_check_async)
    return g_task_propagate_boolean (G_TASK (result), error);

  return HELIX_PROVIDER_GET_IFACE (self)->check_finish (self, result, error);
}

/**
 * helix_provider_get_name:
 * @self: a provider
 *
 * Returns: the provider's configured name, for messages and the ledger
 */
const char *
helix_provider_get_name (HelixProvider *self)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER (self), NULL);

  return HELIX_PROVIDER_GET_IFACE (self)->get_name (self);
}

/**
 * helix_provider_stream_chat_async:
 * @self: a provider
 * @request: what to ask
 * @stream: a new stream that receives the answer as it arrives (connect to
 *   #HelixChatStream::delta before calling this)
 * @cancellable: (nullable): cancels the call: the HTTP request is aborted at once
 *   and the call fails with %HELIX_PROVIDER_ERROR_CANCELLED
 * @callback: called when the call is over
 * @user_data: passed to @callback
 *
 * Starts a streaming chat call. Deltas, usage and the finish reason reach
 * @stream while the call runs, on the thread-default main context of the caller.
 */
void
helix_provider_stream_chat_async (HelixProvider       *self,
                                  HelixChatRequest    *request,
                                  HelixChatStream     *stream,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_return_if_fail (HELIX_IS_PROVIDER (self));
  g_return_if_fail (request != NULL);
  g_return_if_fail (HELIX_IS_CHAT_STREAM (stream));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  HELIX_PROVIDER_GET_IFACE (self)->stream_chat_async (self, request, stream, cancellable,
                                                      callback, user_data);
}

/**
 * helix_provider_stream_chat_finish:
 * @self: a provider
 * @result: the result given to the callback
 * @error: a location for a #GError (%HELIX_PROVIDER_ERROR)
 *
 * Returns: %TRUE if the answer is complete; otherwise the stream keeps what arrived
 */
gboolean
helix_provider_stream_chat_finish (HelixProvider  *self,
                                   GAsyncResult   *result,
                                   GError        **error)
{
  g_return_val_if_fail (HELIX_IS_PROVIDER (self), FALSE);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), FALSE);

  return HELIX_PROVIDER_GET_IFACE (self)->stream_chat_finish (self, result, error);
}

/**
 * helix_provider_parse_retry_after:
 * @value: (nullable): a `Retry-After` header value: seconds, or an HTTP date
 * @now: (nullable): the current time, or %NULL for the clock's
 *
 * Returns: the seconds to wait (0 for a date in the past), or -1 if @value is
 *   missing or malformed
 */
gint64
helix_provider_parse_retry_after (const char *value,
                                  GDateTime  *now)
{
  g_autoptr(GDateTime) date = NULL;
  g_autoptr(GDateTime) current = NULL;
  g_autofree char *text = NULL;
  gint64 seconds;
  guint64 parsed;

  if (value == NULL)
    return -1;

  text = g_strstrip (g_strdup (value));
  if (*text == '\0')
    return -1;

  if (g_ascii_isdigit (*text))
    {
      if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXINT32, &parsed, NULL))
        return -1;
      return (gint64) parsed;
    }

  date = soup_date_time_new_from_http_string (text);
  if (date == NULL)
    return -1;

  current = now != NULL ? g_date_time_ref (now) : g_date_time_new_now_utc ();
  seconds = g_date_time_difference (date, current) / G_TIME_SPAN_SECOND;

  return CLAMP (seconds, 0, G_MAXINT32);
}

/**
 * helix_provider_error_is_retryable:
 * @error: an error of a provider call
 *
 * Whether the same call may succeed later, or with another provider: rate
 * limits, overload, server and network errors, timeouts and broken streams.
 * Auth and quota errors need another key; bad requests and cancellations
 * are not retried.
 *
 * Returns: %TRUE if a retry (after a backoff) makes sense
 */
gboolean
helix_provider_error_is_retryable (const GError *error)
{
  g_return_val_if_fail (error != NULL, FALSE);

  if (error->domain != HELIX_PROVIDER_ERROR)
    return FALSE;

  switch ((HelixProviderError) error->code)
    {
    case HELIX_PROVIDER_ERROR_RATE_LIMITED:
    case HELIX_PROVIDER_ERROR_OVERLOADED:
    case HELIX_PROVIDER_ERROR_SERVER:
    case HELIX_PROVIDER_ERROR_NETWORK:
    case HELIX_PROVIDER_ERROR_CONNECT_TIMEOUT:
    case HELIX_PROVIDER_ERROR_FIRST_TOKEN_TIMEOUT:
    case HELIX_PROVIDER_ERROR_CALL_TIMEOUT:
    case HELIX_PROVIDER_ERROR_PROTOCOL:
      return TRUE;

    case HELIX_PROVIDER_ERROR_FAILED:
    case HELIX_PROVIDER_ERROR_AUTH:
    case HELIX_PROVIDER_ERROR_QUOTA:
    case HELIX_PROVIDER_ERROR_BAD_REQUEST:
    case HELIX_PROVIDER_ERROR_CANCELLED:
    default:
      return FALSE;
    }
}

/* Provider text for a message: the secret replaced, control characters made
 * spaces, and at most @max_chars characters. */
char *
_helix_provider_redact (const char *text,
                        const char *secret,
                        gsize       max_chars)
{
  g_autoptr(GString) out = NULL;
  g_autofree char *valid = NULL;

  if (text == NULL)
    return NULL;

  valid = g_utf8_make_valid (text, -1);
  out = g_string_new (valid);

  if (secret != NULL && *secret != '\0')
    g_string_replace (out, secret, "[redacted]", 0);

  for (gsize i = 0; i < out->len; i++)
    if ((guchar) out->str[i] < 0x20 || out->str[i] == 0x7f)
      out->str[i] = ' ';

  if (g_utf8_strlen (out->str, -1) > (glong) max_chars)
    {
      g_autofree char *cut = g_utf8_substring (out->str, 0, max_chars);

      g_string_assign (out, cut);
      g_string_append (out, "…");
    }

  return g_string_free (g_steal_pointer (&out), FALSE);
}

static gboolean
mentions_quota (const char *text)
{
  g_autofree char *lower = NULL;

  if (text == NULL)
    return FALSE;

  lower = g_utf8_strdown (text, -1);
  return strstr (lower, "quota") != NULL ||
         strstr (lower, "billing") != NULL ||
         strstr (lower, "credit") != NULL ||
         strstr (lower, "insufficient_balance") != NULL;
}

/*
 * Which error an HTTP error answer is. @error_type, @error_code and
 * @error_message come from the provider's error body when it had one; they
 * tell a quota error from a rate limit.
 */
HelixProviderError
_helix_provider_classify_http (guint       status,
                               const char *error_type,
                               const char *error_code,
                               const char *error_message)
{
  if (status == 401 || status == 403)
    return HELIX_PROVIDER_ERROR_AUTH;

  if (status == 402 ||
      (status == 429 && (mentions_quota (error_type) || mentions_quota (error_code) ||
                         mentions_quota (error_message))))
    return HELIX_PROVIDER_ERROR_QUOTA;

  if (status == 429)
    return HELIX_PROVIDER_ERROR_RATE_LIMITED;

  if (status == 503 || status == 529)
    return HELIX_PROVIDER_ERROR_OVERLOADED;

  if (status >= 500 && status <= 599)
    return HELIX_PROVIDER_ERROR_SERVER;

  if (status >= 400 && status <= 499)
    return HELIX_PROVIDER_ERROR_BAD_REQUEST;

  return HELIX_PROVIDER_ERROR_PROTOCOL;
}

/*
 * The error @code, for an HTTP error answer (@status) or for an error the
 * provider reported inside a stream that started well (@status 0). The
 * provider's @error_message is quoted with @secret (the API key) removed.
 */
GError *
_helix_provider_error_new (const char         *provider_name,
                           HelixProviderError  code,
                           guint               status,
                           gint64              retry_after,
                           const char         *error_message,
                           const char         *secret)
{
  g_autofree char *said = NULL;
  g_autofree char *detail = NULL;

  if (error_message != NULL && *error_message != '\0')
    said = _helix_provider_redact (error_message, secret, 300);
  else if (status != 0)
    said = g_strdup (soup_status_get_phrase (status));
  else
    said = g_strdup (_("no details"));

  detail = status != 0 ? g_strdup_printf ("HTTP %u: %s", status, said) : g_steal_pointer (&said);

  switch (code)
    {
    case HELIX_PROVIDER_ERROR_AUTH:
      return g_error_new (HELIX_PROVIDER_ERROR, code,
                          _("%s refused the API key (%s). Check the key in the provider’s settings."),
                          provider_name, detail);

    case HELIX_PROVIDER_ERROR_QUOTA:
      return g_error_new (HELIX_PROVIDER_ERROR, code,
                          _("%s says the account is out of quota or credit (%s). Add credit, or use another key or provider."),
                          provider_name, detail);

    case HELIX_PROVIDER_ERROR_RATE_LIMITED:
      if (retry_after >= 0)
        return g_error_new (HELIX_PROVIDER_ERROR, code,
                            _("%s is limiting the rate of requests (%s). Try again in %d seconds."),
                            provider_name, detail, (int) MIN (retry_after, G_MAXINT32));
      return g_error_new (HELIX_PROVIDER_ERROR, code,
                          _("%s is limiting the rate of requests (%s). Try again later."),
                          provider_name, detail);

    case HELIX_PROVIDER_ERROR_OVERLOADED:
      return g_error_new (HELIX_PROVIDER_ERROR, code,
                          _("%s is overloaded (%s). Try again later, or use another provider."),
                          provider_name, detail);

    case HELIX_PROVIDER_ERROR_SERVER:
      if (status == 0)
        return g_error_new (HELIX_PROVIDER_ERROR, code,
                            _("%s reported an error while answering (%s). Try again, or use another provider."),
                            provider_name, detail);
      return g_error_new (HELIX_PROVIDER_ERROR, code,
                          _("%s failed with a server error (%s). Try again later."),
                          provider_name, detail);

    case HELIX_PROVIDER_ERROR_BAD_REQUEST:
      return g_error_new (HELIX_PROVIDER_ERROR, code,
                          _("%s refused the request (%s). Check the model name and the provider’s address."),
                          provider_name, detail);

    case HELIX_PROVIDER_ERROR_PROTOCOL:
      if (status != 0)
        return g_error_new (HELIX_PROVIDER_ERROR, code,
                            _("%s answered with an unexpected HTTP status (%s). Check the provider’s address."),
                            provider_name, detail);
      return g_error_new (HELIX_PROVIDER_ERROR, code,
                          _("%s sent an answer Helix cannot read (%s). Try again, or use another provider."),
                          provider_name, detail);

    case HELIX_PROVIDER_ERROR_FAILED:
    case HELIX_PROVIDER_ERROR_NETWORK:
    case HELIX_PROVIDER_ERROR_CONNECT_TIMEOUT:
    case HELIX_PROVIDER_ERROR_FIRST_TOKEN_TIMEOUT:
    case HELIX_PROVIDER_ERROR_CALL_TIMEOUT:
    case HELIX_PROVIDER_ERROR_CANCELLED:
    default:
      return g_error_new (HELIX_PROVIDER_ERROR, code,
                          _("%s reported an error (%s). Try again, or use another provider."),
                          provider_name, detail);
    }
}

/* Maps an HTTP error answer to a provider error; see _helix_provider_classify_http(). */
GError *
_helix_provider_error_from_http (const char *provider_name,
                                 guint       status,
                                 gint64      retry_after,
                                 const char *error_type,
                                 const char *error_code,
                                 const char *error_message,
                                 const char *secret)
{
  HelixProviderError code = _helix_provider_classify_http (status, error_type, error_code,
                                                           error_message);

  return _helix_provider_error_new (provider_name, code, status, retry_after, error_message,
                                    secret);
}

/* Maps a connection failure (resolver, socket, TLS) to a provider error. */
GError *
_helix_provider_error_from_io (const char   *provider_name,
                               const GError *io_error)
{
  if (io_error->domain == G_RESOLVER_ERROR)
    return g_error_new (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_NETWORK,
                        _("Could not find the address of %s (%s). Check the network and the provider’s address."),
                        provider_name, io_error->message);

  if (io_error->domain == G_TLS_ERROR)
    return g_error_new (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_NETWORK,
                        _("Could not make a secure connection to %s (%s). Check the provider’s address and the system time."),
                        provider_name, io_error->message);

  return g_error_new (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_NETWORK,
                      _("Could not reach %s (%s). Check the network and the provider’s address."),
                      provider_name, io_error->message);
}
