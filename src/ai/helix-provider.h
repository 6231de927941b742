/* helix-provider.h: a model provider that streams chat answers
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-chat-request.h"
#include "helix-chat-stream.h"

G_BEGIN_DECLS

#define HELIX_PROVIDER_ERROR (helix_provider_error_quark ())

/**
 * HelixProviderError:
 * @HELIX_PROVIDER_ERROR_FAILED: none of the below
 * @HELIX_PROVIDER_ERROR_AUTH: the provider refused the API key (HTTP 401 or 403)
 * @HELIX_PROVIDER_ERROR_QUOTA: the account is out of quota or credit (HTTP 402, or
 *   429 with a quota error); waiting does not help, another key might
 * @HELIX_PROVIDER_ERROR_RATE_LIMITED: too many requests (HTTP 429); see
 *   helix_chat_stream_get_retry_after()
 * @HELIX_PROVIDER_ERROR_OVERLOADED: the provider is overloaded (HTTP 503 or 529)
 * @HELIX_PROVIDER_ERROR_SERVER: another server error (HTTP 5xx)
 * @HELIX_PROVIDER_ERROR_BAD_REQUEST: the provider refused the request (HTTP 400 and
 *   the other 4xx): unknown model, context too long, bad parameters
 * @HELIX_PROVIDER_ERROR_NETWORK: the provider could not be reached, or the
 *   connection failed
 * @HELIX_PROVIDER_ERROR_CONNECT_TIMEOUT: no connection within the connect timeout
 * @HELIX_PROVIDER_ERROR_FIRST_TOKEN_TIMEOUT: no answer data within the first-token
 *   timeout
 * @HELIX_PROVIDER_ERROR_CALL_TIMEOUT: the whole call took longer than the call timeout
 * @HELIX_PROVIDER_ERROR_CANCELLED: the caller cancelled the call
 * @HELIX_PROVIDER_ERROR_PROTOCOL: the provider's answer broke its wire format: bad
 *   JSON, too large or too deep, or a stream that ended before its end marker
 *
 * Errors of a provider call. After any of them the text received so far stays
 * in the #HelixChatStream, which is not complete (helix_chat_stream_is_complete()).
 */
typedef enum
{
  HELIX_PROVIDER_ERROR_FAILED,
  HELIX_PROVIDER_ERROR_AUTH,
  HELIX_PROVIDER_ERROR_QUOTA,
  HELIX_PROVIDER_ERROR_RATE_LIMITED,
  HELIX_PROVIDER_ERROR_OVERLOADED,
  HELIX_PROVIDER_ERROR_SERVER,
  HELIX_PROVIDER_ERROR_BAD_REQUEST,
  HELIX_PROVIDER_ERROR_NETWORK,
  HELIX_PROVIDER_ERROR_CONNECT_TIMEOUT,
  HELIX_PROVIDER_ERROR_FIRST_TOKEN_TIMEOUT,
  HELIX_PROVIDER_ERROR_CALL_TIMEOUT,
  HELIX_PROVIDER_ERROR_CANCELLED,
  HELIX_PROVIDER_ERROR_PROTOCOL,
} HelixProviderError;

#define HELIX_TYPE_PROVIDER (helix_provider_get_type ())

G_DECLARE_INTERFACE (HelixProvider, helix_provider, HELIX, PROVIDER, GObject)

/**
 * HelixProviderInterface:
 * @get_name: returns the provider's name, as configured ("openai", "ollama", …)
 * @stream_chat_async: starts a streaming chat call that reports into the stream
 * @stream_chat_finish: completes it
 *
 * One wire format per implementation. An implementation must honour the three
 * timeouts of the request, abort the HTTP request at once when the
 * cancellable is cancelled, report with the %HELIX_PROVIDER_ERROR codes, and
 * never log the API key.
 */
struct _HelixProviderInterface
{
  GTypeInterface parent_iface;

  const char *(*get_name)           (HelixProvider        *self);
  void        (*stream_chat_async)  (HelixProvider        *self,
                                     HelixChatRequest     *request,
                                     HelixChatStream      *stream,
                                     GCancellable         *cancellable,
                                     GAsyncReadyCallback   callback,
                                     gpointer              user_data);
  gboolean    (*stream_chat_finish) (HelixProvider        *self,
                                     GAsyncResult         *result,
                                     GError              **error);
  gboolean    (*has_spare_key)      (HelixProvider        *self);
  void        (*check_async)        (HelixProvider        *self,
                                     GCancellable         *cancellable,
                                     GAsyncReadyCallback   callback,
                                     gpointer              user_data);
  gboolean    (*check_finish)       (HelixProvider        *self,
                                     GAsyncResult         *result,
                                     GError              **error);
};

GQuark       helix_provider_error_quark        (void);

const char  *helix_provider_get_name           (HelixProvider        *self);
void         helix_provider_stream_chat_async  (HelixProvider        *self,
                                                HelixChatRequest     *request,
                                                HelixChatStream      *stream,
                                                GCancellable         *cancellable,
                                                GAsyncReadyCallback   callback,
                                                gpointer              user_data);
gboolean     helix_provider_stream_chat_finish (HelixProvider        *self,
                                                GAsyncResult         *result,
                                                GError              **error);

gboolean     helix_provider_has_spare_key      (HelixProvider        *self);
gboolean     helix_provider_can_check          (HelixProvider        *self);
void         helix_provider_check_async        (HelixProvider        *self,
                                                GCancellable         *cancellable,
                                                GAsyncReadyCallback   callback,
                                                gpointer              user_data);
gboolean     helix_provider_check_finish       (HelixProvider        *self,
                                                GAsyncResult         *result,
                                                GError              **error);
gint64       helix_provider_parse_retry_after  (const char           *value,
                                                GDateTime            *now);
gboolean     helix_provider_error_is_retryable (const GError         *error);

G_END_DECLS
