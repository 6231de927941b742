/* fake-provider.h: a loopback server that speaks a provider's streaming wire format
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * FakeFormat:
 * @FAKE_FORMAT_OPENAI: OpenAI chat completions, `POST /v1/chat/completions`
 * @FAKE_FORMAT_ANTHROPIC: Anthropic Messages, `POST /v1/messages`
 * @FAKE_FORMAT_GEMINI: Gemini, `POST /v1beta/models/{model}:streamGenerateContent`
 *
 * Which endpoint the fake serves (every other path is a 404) and what its base
 * URL looks like.
 */
typedef enum
{
  FAKE_FORMAT_OPENAI,
  FAKE_FORMAT_ANTHROPIC,
  FAKE_FORMAT_GEMINI,
} FakeFormat;

/**
 * FakeEnd:
 * @FAKE_END_FINISH: end the body properly after the chunks
 * @FAKE_END_CUT: after the chunks, shut the connection down in the middle of the
 *   chunked body (a provider that crashed or a proxy that gave up)
 * @FAKE_END_HOLD: after the chunks, send nothing more and wait for the client
 *   to close the connection (fake_provider_get_client_closed())
 */
typedef enum
{
  FAKE_END_FINISH,
  FAKE_END_CUT,
  FAKE_END_HOLD,
} FakeEnd;

typedef struct _FakeProvider FakeProvider;

FakeProvider *fake_provider_new               (FakeFormat          format);
void          fake_provider_free              (FakeProvider       *self);
const char   *fake_provider_get_base_url      (FakeProvider       *self);

void          fake_provider_respond_stream    (FakeProvider       *self,
                                               const char *const  *chunks,
                                               FakeEnd             end);
void          fake_provider_respond_error     (FakeProvider       *self,
                                               guint               status,
                                               const char         *retry_after,
                                               const char         *content_type,
                                               const char         *body);

void          fake_provider_set_models        (FakeProvider       *self,
                                               const char * const *models);
void          fake_provider_queue_error       (FakeProvider       *self,
                                               guint               status,
                                               const char         *retry_after,
                                               const char         *body);
void          fake_provider_queue_stream      (FakeProvider       *self,
                                               const char *const  *chunks,
                                               FakeEnd             end);
void          fake_provider_reset_client_closed (FakeProvider     *self);

guint         fake_provider_get_n_requests    (FakeProvider       *self);
const char   *fake_provider_get_last_body     (FakeProvider       *self);
const char   *fake_provider_get_last_path     (FakeProvider       *self);
const char   *fake_provider_get_last_query    (FakeProvider       *self);
const char   *fake_provider_get_last_header   (FakeProvider       *self,
                                               const char         *name);
gboolean      fake_provider_get_client_closed (FakeProvider       *self);

void          fake_provider_test_init         (int                *argc,
                                               char             ***argv,
                                               const char         *secret);
guint         fake_provider_time_scale        (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FakeProvider, fake_provider_free)

G_END_DECLS
