/* helix-provider-private.h: what provider implementations share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <libsoup/soup.h>

#include "helix-chat-stream.h"
#include "helix-provider.h"

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

GError *_helix_provider_error_from_http      (const char      *provider_name,
                                              guint            status,
                                              gint64           retry_after,
                                              const char      *error_type,
                                              const char      *error_code,
                                              const char      *error_message,
                                              const char      *secret);
GError *_helix_provider_error_from_io        (const char      *provider_name,
                                              const GError    *io_error);
char   *_helix_provider_redact               (const char      *text,
                                              const char      *secret,
                                              gsize            max_chars);

G_END_DECLS
