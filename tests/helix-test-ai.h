/* helix-test-ai.h: the fixture shared by the tests of the HTTP providers
 *
 * A fake provider speaking one wire format, a chat request (a system message and a
 * user message with a non-ASCII character), and a stream whose deltas and usage
 * signals are recorded. The test makes the provider of its format.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

#include "fake-provider.h"
#include "helix-http-provider.h"
#include "helix-test-util.h"

G_BEGIN_DECLS

typedef struct
{
  FakeProvider      *fake;
  char              *base_url;  /* the fake's, with a trailing slash (allowed) */
  HelixHttpProvider *provider;
  HelixChatRequest  *request;
  HelixChatStream   *stream;
  GPtrArray         *deltas;
  guint              n_usage;
  GCancellable      *cancel_on_delta;
} HelixTestAiFixture;

static inline void
helix_test_ai_delta_cb (HelixChatStream    *stream,
                        const char         *text,
                        HelixTestAiFixture *fixture)
{
  g_ptr_array_add (fixture->deltas, g_strdup (text));
  if (fixture->cancel_on_delta != NULL)
    g_cancellable_cancel (fixture->cancel_on_delta);
}

static inline void
helix_test_ai_usage_cb (HelixChatStream    *stream,
                        gint64              input_tokens,
                        gint64              output_tokens,
                        HelixTestAiFixture *fixture)
{
  fixture->n_usage++;
}

/* A fresh stream for the next call, its deltas and usage count reset. */
static inline void
helix_test_ai_new_stream (HelixTestAiFixture *fixture)
{
  g_clear_object (&fixture->stream);
  fixture->stream = helix_chat_stream_new ();
  g_ptr_array_set_size (fixture->deltas, 0);
  fixture->n_usage = 0;
  g_signal_connect (fixture->stream, "delta", G_CALLBACK (helix_test_ai_delta_cb), fixture);
  g_signal_connect (fixture->stream, "usage", G_CALLBACK (helix_test_ai_usage_cb), fixture);
}

static inline void
helix_test_ai_fixture_init (HelixTestAiFixture *fixture,
                            FakeFormat          format,
                            const char         *model)
{
  fixture->fake = fake_provider_new (format);
  fixture->base_url = g_strconcat (fake_provider_get_base_url (fixture->fake), "/", NULL);
  fixture->request = helix_chat_request_new (model);
  helix_chat_request_add_message (fixture->request, HELIX_MESSAGE_ROLE_SYSTEM, "Be brief.");
  helix_chat_request_add_message (fixture->request, HELIX_MESSAGE_ROLE_USER, "Say h\xC3\xA9llo");
  fixture->deltas = g_ptr_array_new_with_free_func (g_free);
  helix_test_ai_new_stream (fixture);
}

static inline void
helix_test_ai_fixture_clear (HelixTestAiFixture *fixture)
{
  g_clear_object (&fixture->cancel_on_delta);
  g_ptr_array_unref (fixture->deltas);
  helix_test_assert_finalized (g_steal_pointer (&fixture->stream));
  helix_chat_request_unref (fixture->request);
  helix_test_assert_finalized (g_steal_pointer (&fixture->provider));
  fake_provider_free (fixture->fake);
  g_free (fixture->base_url);
}

typedef struct
{
  gboolean  done;
  gboolean  ok;
  GError   *error;
} HelixTestAiResult;

static inline void
helix_test_ai_call_cb (GObject      *object,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  HelixTestAiResult *r = user_data;

  r->ok = helix_provider_stream_chat_finish (HELIX_PROVIDER (object), result, &r->error);
  r->done = TRUE;
}

/* Runs one call to its end; returns its error (or NULL). */
static inline GError *
helix_test_ai_run_call (HelixTestAiFixture *fixture,
                        GCancellable       *cancellable)
{
  HelixTestAiResult r = { 0 };

  helix_provider_stream_chat_async (HELIX_PROVIDER (fixture->provider), fixture->request,
                                    fixture->stream, cancellable, helix_test_ai_call_cb, &r);
  helix_test_wait_for (r.done, 60, "the chat call");
  g_assert_true (r.ok == (r.error == NULL));

  return r.error;
}

static inline void
helix_test_ai_wait_client_closed (HelixTestAiFixture *fixture)
{
  helix_test_wait_for (fake_provider_get_client_closed (fixture->fake), 30,
                       "the fake server to see the connection closed");
}

/* The JSON body of the last request the fake got. */
static inline JsonObject *
helix_test_ai_last_body (HelixTestAiFixture *fixture,
                         JsonParser         *parser)
{
  g_assert_true (json_parser_load_from_data (parser, fake_provider_get_last_body (fixture->fake),
                                             -1, NULL));
  return json_node_get_object (json_parser_get_root (parser));
}

G_END_DECLS
