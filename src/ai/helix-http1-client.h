/* helix-http1-client.h: a small HTTP/1.1 keep-alive client for plain http:// providers
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/* Limits on what a server may send. */
#define HELIX_HTTP1_MAX_HEAD            (64 * 1024)  /* a response head, and a chunked body's trailers */
#define HELIX_HTTP1_MAX_CHUNK_LINE      1024         /* a chunk-size line, extensions included */
#define HELIX_HTTP1_DEFAULT_IDLE_S      30
#define HELIX_HTTP1_DEFAULT_MAX_IDLE    64           /* idle connections kept per host */
#define HELIX_HTTP1_DEFAULT_MAX_PER_HOST 256         /* connections open at once per host */

typedef struct _HelixHttp1Client  HelixHttp1Client;
typedef struct _HelixHttp1Request HelixHttp1Request;

/**
 * HelixHttp1Callbacks:
 * @connected: (nullable): a new connection was made for the request (never
 *   called for a reused one)
 * @head: the response head arrived; @headers stay valid until the request ends
 * @body: some bytes of the body, as they arrive
 * @end: the request is over: @error is %NULL when the body was read to its
 *   end, or a #GIOError: %G_IO_ERROR_PARTIAL_INPUT for a body cut off,
 *   %G_IO_ERROR_INVALID_DATA for a server breaking the protocol,
 *   %G_IO_ERROR_CONNECTION_CLOSED or %G_IO_ERROR_BROKEN_PIPE for a connection
 *   gone before any byte of the response. The request is freed when @end returns.
 *
 * What a request reports, on the thread-default main context it was sent
 * from. @head and @body may call helix_http1_request_abort(); then nothing
 * more is called.
 */
typedef struct
{
  void (*connected) (gpointer            user_data);
  void (*head)      (guint               status,
                     SoupMessageHeaders *headers,
                     gpointer            user_data);
  void (*body)      (const guint8       *data,
                     gsize               len,
                     gpointer            user_data);
  void (*end)       (const GError       *error,
                     gpointer            user_data);
} HelixHttp1Callbacks;

gboolean           helix_http1_client_is_enabled       (void);

HelixHttp1Client  *helix_http1_client_new              (const char                *user_agent);
HelixHttp1Client  *helix_http1_client_ref              (HelixHttp1Client          *self);
void               helix_http1_client_unref            (HelixHttp1Client          *self);
void               helix_http1_client_close_idle       (HelixHttp1Client          *self);
void               helix_http1_client_set_idle_limits  (HelixHttp1Client          *self,
                                                        guint                      idle_timeout_s,
                                                        guint                      max_idle_per_host);
void               helix_http1_client_set_max_per_host (HelixHttp1Client          *self,
                                                        guint                      max_per_host);
guint              helix_http1_client_get_n_idle       (HelixHttp1Client          *self);
guint              helix_http1_client_get_n_waiting    (HelixHttp1Client          *self);
guint              helix_http1_client_get_n_open       (HelixHttp1Client          *self);
guint              helix_http1_client_get_n_connects   (HelixHttp1Client          *self);

HelixHttp1Request *helix_http1_client_send             (HelixHttp1Client          *self,
                                                        const char                *method,
                                                        GUri                      *uri,
                                                        SoupMessageHeaders        *headers,
                                                        const char                *content_type,
                                                        GBytes                    *body,
                                                        gboolean                   new_connection,
                                                        const HelixHttp1Callbacks *callbacks,
                                                        gpointer                   user_data);
void               helix_http1_request_abort           (HelixHttp1Request         *request);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixHttp1Client, helix_http1_client_unref)

G_END_DECLS
