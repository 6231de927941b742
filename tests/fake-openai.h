/* fake-openai.h: a loopback server that speaks the OpenAI chat completions wire format
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * FakeEnd:
 * @FAKE_END_FINISH: end the body properly after the chunks
 * @FAKE_END_CUT: after the chunks, shut the connection down in the middle of the
 *   chunked body (a provider that crashed or a proxy that gave up)
 * @FAKE_END_HOLD: after the chunks, send nothing more and wait for the client
 *   to close the connection (fake_openai_get_client_closed())
 */
typedef enum
{
  FAKE_END_FINISH,
  FAKE_END_CUT,
  FAKE_END_HOLD,
} FakeEnd;

typedef struct _FakeOpenai FakeOpenai;

FakeOpenai *fake_openai_new                (void);
void        fake_openai_free               (FakeOpenai        *self);
const char *fake_openai_get_base_url       (FakeOpenai        *self);

void        fake_openai_respond_stream     (FakeOpenai        *self,
                                            const char *const *chunks,
                                            FakeEnd            end);
void        fake_openai_respond_error      (FakeOpenai        *self,
                                            guint              status,
                                            const char        *retry_after,
                                            const char        *content_type,
                                            const char        *body);

guint       fake_openai_get_n_requests     (FakeOpenai        *self);
const char *fake_openai_get_last_body      (FakeOpenai        *self);
const char *fake_openai_get_last_header    (FakeOpenai        *self,
                                            const char        *name);
gboolean    fake_openai_get_client_closed  (FakeOpenai        *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FakeOpenai, fake_openai_free)

G_END_DECLS
