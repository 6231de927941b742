/* helix-http-provider.h: what every HTTP model provider has in common
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <libsoup/soup.h>

#include "helix-provider.h"

G_BEGIN_DECLS

#define HELIX_TYPE_HTTP_PROVIDER (helix_http_provider_get_type ())

G_DECLARE_DERIVABLE_TYPE (HelixHttpProvider, helix_http_provider, HELIX, HTTP_PROVIDER, GObject)

typedef struct _HelixProviderCallFuncs HelixProviderCallFuncs;

/**
 * HelixHttpProviderClass:
 * @call_funcs: how the wire format reads its answers (helix-provider-private.h)
 * @build_message: makes the request of a chat call: URL and headers with the key;
 *   its JSON body in @body (it is sent, and sent again if need be, by the base class)
 *
 * A subclass is one wire format: it builds the request and reads the events; the base
 * class keeps the name, the base URL, the key and the #SoupSession, and runs the call.
 */
struct _HelixHttpProviderClass
{
  GObjectClass parent_class;

  const HelixProviderCallFuncs *call_funcs;

  SoupMessage *(*build_message) (HelixHttpProvider  *self,
                                 HelixChatRequest   *request,
                                 GBytes            **body);

  /* The model list, a cheap call that needs the key: health checks and
   * "Test connection". GET {base-url}{models_path}; the ids are
   * {models_member}[].{models_id}. */
  void         (*authorize)     (HelixHttpProvider *self,
                                 SoupMessage       *msg,
                                 const char        *api_key);
  const char   *models_path;
  const char   *models_member;
  const char   *models_id;

  /*< private >*/
  gpointer padding[4];
};

const char *helix_http_provider_get_name     (HelixHttpProvider *self);
const char *helix_http_provider_get_base_url (HelixHttpProvider *self);
void        helix_http_provider_set_api_key  (HelixHttpProvider *self,
                                              const char        *api_key);
void        helix_http_provider_set_api_keys (HelixHttpProvider  *self,
                                              const char * const *api_keys);
void        helix_http_provider_set_key_rest (HelixHttpProvider *self,
                                              guint              seconds);
guint       helix_http_provider_get_n_keys   (HelixHttpProvider *self);
GStrv       helix_http_provider_parse_api_keys (const char      *text,
                                                GError         **error);
guint       helix_http_provider_get_n_usable_keys (HelixHttpProvider *self);

/* Keys in one provider's pool at most, and the longest key. */
#define HELIX_HTTP_PROVIDER_MAX_KEYS       16
#define HELIX_HTTP_PROVIDER_MAX_KEY_BYTES  1024

/* Default time a key rests after its quota ran out or it was refused. */
#define HELIX_HTTP_PROVIDER_DEFAULT_KEY_REST_S  600

void        helix_http_provider_list_models_async  (HelixHttpProvider   *self,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
GStrv       helix_http_provider_list_models_finish (HelixHttpProvider   *self,
                                                    GAsyncResult        *result,
                                                    GError             **error);

/* Bounds of a model list call. */
#define HELIX_HTTP_PROVIDER_LIST_TIMEOUT_MS  15000
#define HELIX_HTTP_PROVIDER_MAX_LIST_BODY    (4 * 1024 * 1024)
#define HELIX_HTTP_PROVIDER_MAX_MODELS       4096

HelixHttpProvider *helix_http_provider_new_for_kind (const char  *kind,
                                                     const char  *name,
                                                     const char  *base_url,
                                                     const char  *api_key,
                                                     GError     **error);
const char        *helix_http_provider_default_base_url (const char *kind);

G_END_DECLS
