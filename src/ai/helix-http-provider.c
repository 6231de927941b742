/* helix-http-provider.c: what every HTTP model provider has in common
 *
 * The name in messages and the ledger, the API root, the key and one #SoupSession per
 * provider; a chat call is a #HelixProviderCall with the subclass's request and its
 * #HelixProviderCallFuncs. Subclasses (one per wire format) only build the request and
 * read the events. The key is write-only: it goes into the request headers and is
 * scrubbed from provider text quoted in errors, never logged.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-ai"

#include "config.h"

#include <string.h>

#include "helix-http-provider.h"
#include "helix-provider-private.h"

typedef struct
{
  char        *name;
  char        *base_url;
  char        *api_key;
  SoupSession *session;
} HelixHttpProviderPrivate;

static void provider_iface_init (HelixProviderInterface *iface);

G_DEFINE_ABSTRACT_TYPE_WITH_CODE (HelixHttpProvider, helix_http_provider, G_TYPE_OBJECT,
                                  G_ADD_PRIVATE (HelixHttpProvider)
                                  G_IMPLEMENT_INTERFACE (HELIX_TYPE_PROVIDER, provider_iface_init))

enum {
  PROP_0,
  PROP_NAME,
  PROP_BASE_URL,
  PROP_API_KEY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
stream_chat_async (HelixProvider       *provider,
                   HelixChatRequest    *request,
                   HelixChatStream     *stream,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             user_data)
{
  HelixHttpProvider *self = HELIX_HTTP_PROVIDER (provider);
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (self);
  HelixHttpProviderClass *klass = HELIX_HTTP_PROVIDER_GET_CLASS (self);
  HelixProviderCall *call;
  SoupMessage *msg;

  call = _helix_provider_call_new (provider, klass->call_funcs, request, stream, priv->api_key,
                                   cancellable, callback, user_data, stream_chat_async);
  msg = klass->build_message (self, request);
  g_assert (msg != NULL);  /* the base URL was checked when the provider was made */

  g_debug ("%s: model %s, %u messages", priv->name, helix_chat_request_get_model (request),
           helix_chat_request_get_n_messages (request));

  _helix_provider_call_send (call, priv->session, msg);
}

static gboolean
stream_chat_finish (HelixProvider  *provider,
                    GAsyncResult   *result,
                    GError        **error)
{
  return _helix_provider_call_finish (provider, result, stream_chat_async, error);
}

static const char *
get_name (HelixProvider *provider)
{
  return helix_http_provider_get_name (HELIX_HTTP_PROVIDER (provider));
}

static void
provider_iface_init (HelixProviderInterface *iface)
{
  iface->get_name = get_name;
  iface->stream_chat_async = stream_chat_async;
  iface->stream_chat_finish = stream_chat_finish;
}

static void
helix_http_provider_dispose (GObject *object)
{
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (HELIX_HTTP_PROVIDER (object));

  if (priv->session != NULL)
    soup_session_abort (priv->session);
  g_clear_object (&priv->session);

  G_OBJECT_CLASS (helix_http_provider_parent_class)->dispose (object);
}

static void
helix_http_provider_finalize (GObject *object)
{
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (HELIX_HTTP_PROVIDER (object));

  g_clear_pointer (&priv->name, g_free);
  g_clear_pointer (&priv->base_url, g_free);
  if (priv->api_key != NULL)
    memset (priv->api_key, 0, strlen (priv->api_key));
  g_clear_pointer (&priv->api_key, g_free);

  G_OBJECT_CLASS (helix_http_provider_parent_class)->finalize (object);
}

static void
helix_http_provider_get_property (GObject    *object,
                                  guint       prop_id,
                                  GValue     *value,
                                  GParamSpec *pspec)
{
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (HELIX_HTTP_PROVIDER (object));

  switch (prop_id)
    {
    case PROP_NAME:
      g_value_set_string (value, priv->name);
      break;

    case PROP_BASE_URL:
      g_value_set_string (value, priv->base_url);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_http_provider_set_property (GObject      *object,
                                  guint         prop_id,
                                  const GValue *value,
                                  GParamSpec   *pspec)
{
  HelixHttpProvider *self = HELIX_HTTP_PROVIDER (object);
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (self);

  switch (prop_id)
    {
    case PROP_NAME:
      priv->name = g_value_dup_string (value);
      break;

    case PROP_BASE_URL:
      priv->base_url = _helix_provider_normalize_base_url (g_value_get_string (value));
      break;

    case PROP_API_KEY:
      helix_http_provider_set_api_key (self, g_value_get_string (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_http_provider_class_init (HelixHttpProviderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = helix_http_provider_dispose;
  object_class->finalize = helix_http_provider_finalize;
  object_class->get_property = helix_http_provider_get_property;
  object_class->set_property = helix_http_provider_set_property;

  /**
   * HelixHttpProvider:name:
   *
   * The provider's name in messages and the ledger ("openai", "deepseek", "anthropic").
   */
  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HelixHttpProvider:base-url:
   *
   * The API root, as the wire format wants it: `https://api.openai.com/v1`,
   * `https://api.anthropic.com`, `https://generativelanguage.googleapis.com`.
   */
  properties[PROP_BASE_URL] =
    g_param_spec_string ("base-url", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HelixHttpProvider:api-key:
   *
   * The key, or %NULL for a server without one (Ollama). Write-only.
   */
  properties[PROP_API_KEY] =
    g_param_spec_string ("api-key", NULL, NULL, NULL,
                         G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
helix_http_provider_init (HelixHttpProvider *self)
{
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (self);

  priv->session = _helix_provider_session_new ();
}

const char *
helix_http_provider_get_name (HelixHttpProvider *self)
{
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (self);

  g_return_val_if_fail (HELIX_IS_HTTP_PROVIDER (self), NULL);

  return priv->name;
}

/**
 * helix_http_provider_get_base_url:
 * @self: a provider
 *
 * Returns: the API root, without a trailing slash
 */
const char *
helix_http_provider_get_base_url (HelixHttpProvider *self)
{
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (self);

  g_return_val_if_fail (HELIX_IS_HTTP_PROVIDER (self), NULL);

  return priv->base_url;
}

/**
 * helix_http_provider_set_api_key:
 * @self: a provider
 * @api_key: (nullable): the new key; calls already running keep the old one
 */
void
helix_http_provider_set_api_key (HelixHttpProvider *self,
                                 const char        *api_key)
{
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (self);

  g_return_if_fail (HELIX_IS_HTTP_PROVIDER (self));

  if (priv->api_key != NULL)
    memset (priv->api_key, 0, strlen (priv->api_key));
  g_clear_pointer (&priv->api_key, g_free);
  priv->api_key = g_strdup (api_key);
}

/* The key for the request headers; %NULL or empty for none. */
const char *
_helix_http_provider_get_api_key (HelixHttpProvider *self)
{
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (self);

  return priv->api_key;
}
