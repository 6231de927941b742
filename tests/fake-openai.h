/* fake-openai.h: the fake provider speaking the OpenAI chat completions wire format
 *
 * The names test-ai-openai.c was written with; see fake-provider.h.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "fake-provider.h"

G_BEGIN_DECLS

typedef FakeProvider FakeOpenai;

static inline FakeOpenai *
fake_openai_new (void)
{
  return fake_provider_new (FAKE_FORMAT_OPENAI);
}

#define fake_openai_free              fake_provider_free
#define fake_openai_get_base_url      fake_provider_get_base_url
#define fake_openai_respond_stream    fake_provider_respond_stream
#define fake_openai_respond_error     fake_provider_respond_error
#define fake_openai_get_n_requests    fake_provider_get_n_requests
#define fake_openai_get_last_body     fake_provider_get_last_body
#define fake_openai_get_last_header   fake_provider_get_last_header
#define fake_openai_get_client_closed fake_provider_get_client_closed

G_END_DECLS
