/* helix-provider-private.h: what provider implementations share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "helix-chat-stream.h"
#include "helix-http-provider.h"
#include "helix-http1-client.h"
#include "helix-provider.h"
#include "helix-sse-parser.h"

G_BEGIN_DECLS

/* Limits on what a provider may send back. */
#define HELIX_PROVIDER_MAX_JSON_DEPTH  64
#define HELIX_PROVIDER_MAX_EVENT       (1024 * 1024)
#define HELIX_PROVIDER_MAX_TEXT        (8 * 1024 * 1024)
#define HELIX_PROVIDER_MAX_ERROR_BODY  (64 * 1024)

void    _helix_chat_stream_start             (HelixChatStream *self);
void    _helix_chat_stream_append            (HelixChatStream *self,
                                              const char      *text,
                                              gsize            len);
void    _helix_chat_stream_set_usage         (HelixChatStream *self,
                                              gint64           input_tokens,
                                              gint64           output_tokens);
void    _helix_chat_stream_set_finish_reason (HelixChatStream *self,
                                              const char      *reason);
void    _helix_chat_stream_set_complete      (HelixChatStream *self);
void    _helix_chat_stream_set_http_status   (HelixChatStream *self,
                                              guint            status,
                                              gint64           retry_after);

/* helix-provider.c: errors */
HelixProviderError  _helix_provider_classify_http      (guint               status,
                                                        const char         *error_type,
                                                        const char         *error_code,
                                                        const char         *error_message);
GError             *_helix_provider_error_new          (const char         *provider_name,
                                                        HelixProviderError  code,
                                                        guint               status,
                                                        gint64              retry_after,
                                                        const char         *error_message,
                                                        const char         *secret);
GError             *_helix_provider_error_from_http    (const char         *provider_name,
                                                        guint               status,
                                                        gint64              retry_after,
                                                        const char         *error_type,
                                                        const char         *error_code,
                                                        const char         *error_message,
                                                        const char         *secret);
GError             *_helix_provider_error_from_io      (const char         *provider_name,
                                                        const GError       *io_error);
char               *_helix_provider_redact             (const char         *text,
                                                        const char         *secret,
                                                        gsize               max_chars);

/* helix-provider-call.c: setup shared by the HTTP providers */
SoupSession        *_helix_provider_session_new        (void);
gboolean            _helix_provider_check_base_url     (const char         *provider_name,
                                                        const char         *base_url,
                                                        const char         *example,
                                                        GError            **error);
char               *_helix_provider_normalize_base_url (const char         *base_url);

/* helix-provider-call.c: untrusted JSON, parsed within the limits */
JsonNode           *_helix_provider_parse_json         (const char         *text,
                                                        gsize               len,
                                                        GError            **error);
JsonNode           *_helix_provider_parse_object       (const char         *text,
                                                        gsize               len,
                                                        GError            **error);
const char         *_helix_json_get_string             (JsonObject         *object,
                                                        const char         *name);
gboolean            _helix_json_get_count              (JsonObject         *object,
                                                        const char         *name,
                                                        gint64             *value);
JsonObject         *_helix_json_get_object             (JsonObject         *object,
                                                        const char         *name);
JsonArray          *_helix_json_get_array              (JsonObject         *object,
                                                        const char         *name);
char               *_helix_json_get_code               (JsonObject         *object,
                                                        const char         *name);

/*
 * HelixProviderCall: one streaming HTTP call, whatever the wire format. It owns
 * the message, the body stream, an inner #GCancellable (cancelled by the
 * caller's cancellable and by the three timeouts, so that a pending libsoup
 * operation fails at once and the connection is closed), the SSE parser and
 * the reading of error bodies. The wire format plugs in through
 * #HelixProviderCallFuncs.
 */
typedef struct _HelixProviderCall HelixProviderCall;

/**
 * HelixProviderCallFuncs:
 * @event: one event of a successful answer. Returns %TRUE to go on; %FALSE
 *   after _helix_provider_call_fail() or _helix_provider_call_complete()
 * @error_body: (nullable): the error of an HTTP error answer; @root is its
 *   body parsed (within the limits), or %NULL if it was no JSON. Returns
 *   %NULL for the plain error of the status
 * @stream_ended: (nullable): the body ended before the answer was marked
 *   complete. Returns %TRUE if that is the format's proper end; otherwise the
 *   answer was cut off
 */
struct _HelixProviderCallFuncs
{
  gboolean  (*event)        (HelixProviderCall   *call,
                             const HelixSseEvent *event);
  GError   *(*error_body)   (HelixProviderCall   *call,
                             guint                status,
                             JsonNode            *root);
  gboolean  (*stream_ended) (HelixProviderCall   *call);
};

/* helix-http-provider.c: for the subclasses */
const char         *_helix_http_provider_get_api_key     (HelixHttpProvider            *self);

HelixProviderCall  *_helix_provider_call_new             (HelixProvider                *provider,
                                                          const HelixProviderCallFuncs *funcs,
                                                          HelixChatRequest             *request,
                                                          HelixChatStream              *stream,
                                                          const char                   *secret,
                                                          GCancellable                 *cancellable,
                                                          GAsyncReadyCallback           callback,
                                                          gpointer                      user_data,
                                                          gpointer                      source_tag);
void                _helix_provider_call_send            (HelixProviderCall            *call,
                                                          SoupSession                  *session,
                                                          HelixHttp1Client             *h1client,
                                                          SoupMessage                  *msg,
                                                          GBytes                       *body);
gboolean            _helix_provider_call_finish          (HelixProvider                *provider,
                                                          GAsyncResult                 *result,
                                                          gpointer                      source_tag,
                                                          GError                      **error);

HelixChatStream    *_helix_provider_call_get_stream      (HelixProviderCall            *call);
void                _helix_provider_call_set_retry_after (HelixProviderCall            *call,
                                                          gint64                        seconds);
void                _helix_provider_call_got_data        (HelixProviderCall            *call);
gboolean            _helix_provider_call_append          (HelixProviderCall            *call,
                                                          const char                   *text,
                                                          gsize                         len);
void                _helix_provider_call_set_usage       (HelixProviderCall            *call,
                                                          gint64                        input_tokens,
                                                          gint64                        output_tokens);
void                _helix_provider_call_complete        (HelixProviderCall            *call);
void                _helix_provider_call_fail            (HelixProviderCall            *call,
                                                          GError                       *error);
gboolean            _helix_provider_call_fail_protocol   (HelixProviderCall            *call,
                                                          const char                   *what);
GError             *_helix_provider_call_protocol_error  (HelixProviderCall            *call,
                                                          const char                   *what);
GError             *_helix_provider_call_error           (HelixProviderCall            *call,
                                                          HelixProviderError            code,
                                                          guint                         status,
                                                          const char                   *message);
GError             *_helix_provider_call_http_error      (HelixProviderCall            *call,
                                                          guint                         status,
                                                          const char                   *error_type,
                                                          const char                   *error_code,
                                                          const char                   *message);

G_END_DECLS
