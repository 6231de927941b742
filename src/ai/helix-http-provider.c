/* helix-http-provider.c: what every HTTP model provider has in common
 *
 * The name in messages and the ledger, the API root, the key and one #SoupSession per
 * provider, with a pool of the native HTTP/1.1 client for http:// chat calls
 * (helix-http1-client.c; model lists stay on libsoup); a chat call is a #HelixProviderCall with the subclass's request and its
 * #HelixProviderCallFuncs. Subclasses (one per wire format) only build the request and
 * read the events. The key is write-only: it goes into the request headers and is
 * scrubbed from provider text quoted in errors, never logged.
 *
 * A provider may have several keys (a pool). Calls use one key until it is
 * refused (401) or out of quota (402, or 429 with a quota error); that key then
 * rests for a while (helix_http_provider_set_key_rest()) and the next usable
 * one takes over. When every key rests, calls fail at once with
 * %HELIX_PROVIDER_ERROR_QUOTA and the router moves on.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-ai"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-http-provider.h"
#include "helix-provider-anthropic.h"
#include "helix-provider-gemini.h"
#include "helix-provider-openai.h"
#include "helix-provider-private.h"

/* One key of the pool; shared with the calls that use it. */
typedef struct
{
  gatomicrefcount  ref_count;
  char            *secret;
  gint64           rests_until;  /* monotonic µs; 0 when usable */
} Key;

typedef struct
{
  char        *name;
  char        *base_url;
  GPtrArray   *keys;          /* of Key */
  guint        current;       /* the key calls use while it works */
  guint        key_rest_s;
  Key         *building_key;  /* the key of the request being built */
  SoupSession      *session;
  HelixHttp1Client *h1client;     /* http:// chat calls; NULL with HELIX_PROVIDER_HTTP=libsoup */
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

static Key *
key_new (const char *secret)
{
  Key *key = g_new0 (Key, 1);

  g_atomic_ref_count_init (&key->ref_count);
  key->secret = g_strdup (secret);
  return key;
}

static Key *
key_ref (Key *key)
{
  g_atomic_ref_count_inc (&key->ref_count);
  return key;
}

static void
key_unref (gpointer data)
{
  Key *key = data;

  if (!g_atomic_ref_count_dec (&key->ref_count))
    return;

  memset (key->secret, 0, strlen (key->secret));
  g_free (key->secret);
  g_free (key);
}

static gboolean
key_usable (Key    *key,
            gint64  now)
{
  return key->rests_until <= now;
}

/* The key for the next call: the current one, or the next usable one. */
static Key *
pick_key (HelixHttpProviderPrivate *priv)
{
  gint64 now = g_get_monotonic_time ();

  for (guint i = 0; i < priv->keys->len; i++)
    {
      guint index = (priv->current + i) % priv->keys->len;
      Key *key = g_ptr_array_index (priv->keys, index);

      if (key_usable (key, now))
        {
          priv->current = index;
          return key;
        }
    }

  return NULL;
}

/* @key failed for want of quota or authorization: it rests, the next takes over. */
static void
rest_key (HelixHttpProvider *self,
          Key               *key,
          const GError      *error)
{
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (self);
  guint index;

  if (!g_ptr_array_find (priv->keys, key, &index))
    return;  /* replaced meanwhile */

  key->rests_until = g_get_monotonic_time () + (gint64) priv->key_rest_s * G_USEC_PER_SEC;
  if (priv->current == index)
    priv->current = (index + 1) % priv->keys->len;

  /* The error text has been scrubbed of the key (see _helix_provider_error_new()). */
  g_message ("%s: API key %u of %u rests for %u s: %s", priv->name, index + 1,
             priv->keys->len, priv->key_rest_s, error->message);
}

static void
call_done (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HelixHttpProvider *self = HELIX_HTTP_PROVIDER (object);
  Key *key = g_task_get_task_data (task);
  GError *error = NULL;

  if (_helix_provider_call_finish (HELIX_PROVIDER (self), result, call_done, &error))
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  if (key != NULL &&
      (g_error_matches (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_AUTH) ||
       g_error_matches (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_QUOTA)))
    rest_key (self, key, error);

  g_task_return_error (task, error);
}

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
  g_autoptr(GTask) task = NULL;
  HelixProviderCall *call;
  SoupMessage *msg;
  g_autoptr(GBytes) body = NULL;
  Key *key = NULL;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, stream_chat_async);
  g_task_set_check_cancellable (task, FALSE);

  if (priv->keys->len > 0)
    {
      key = pick_key (priv);
      if (key == NULL)
        {
          g_task_return_new_error (task, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_QUOTA,
                                   _("Every API key of %s is resting after a quota or authorization error. Add credit or a working key, or wait."),
                                   priv->name);
          return;
        }
      g_task_set_task_data (task, key_ref (key), key_unref);
    }

  call = _helix_provider_call_new (provider, klass->call_funcs, request, stream,
                                   key != NULL ? key->secret : NULL,
                                   cancellable, call_done, g_steal_pointer (&task), call_done);
  priv->building_key = key;
  msg = klass->build_message (self, request, &body);
  priv->building_key = NULL;
  g_assert (msg != NULL && body != NULL);  /* the base URL was checked when the provider was made */

  g_debug ("%s: model %s, %u messages", priv->name, helix_chat_request_get_model (request),
           helix_chat_request_get_n_messages (request));

  _helix_provider_call_send (call, priv->session, priv->h1client, msg, body);
}

static gboolean
stream_chat_finish (HelixProvider  *provider,
                    GAsyncResult   *result,
                    GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, provider), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == stream_chat_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
has_spare_key (HelixProvider *provider)
{
  return helix_http_provider_get_n_usable_keys (HELIX_HTTP_PROVIDER (provider)) > 0;
}

static void
check_async (HelixProvider       *provider,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             user_data)
{
  helix_http_provider_list_models_async (HELIX_HTTP_PROVIDER (provider), cancellable, callback,
                                         user_data);
}

static gboolean
check_finish (HelixProvider  *provider,
              GAsyncResult   *result,
              GError        **error)
{
  g_auto(GStrv) models = helix_http_provider_list_models_finish (HELIX_HTTP_PROVIDER (provider),
                                                                 result, error);

  return models != NULL;
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
  iface->has_spare_key = has_spare_key;
  iface->check_async = check_async;
  iface->check_finish = check_finish;
}

static void
helix_http_provider_dispose (GObject *object)
{
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (HELIX_HTTP_PROVIDER (object));

  if (priv->session != NULL)
    soup_session_abort (priv->session);
  g_clear_object (&priv->session);
  if (priv->h1client != NULL)
    helix_http1_client_close_idle (priv->h1client);
  g_clear_pointer (&priv->h1client, helix_http1_client_unref);

  G_OBJECT_CLASS (helix_http_provider_parent_class)->dispose (object);
}

static void
helix_http_provider_finalize (GObject *object)
{
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (HELIX_HTTP_PROVIDER (object));

  g_clear_pointer (&priv->name, g_free);
  g_clear_pointer (&priv->base_url, g_free);
  g_clear_pointer (&priv->keys, g_ptr_array_unref);

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
  if (helix_http1_client_is_enabled ())
    priv->h1client = helix_http1_client_new ("helix/" PACKAGE_VERSION);
  priv->keys = g_ptr_array_new_with_free_func (key_unref);
  priv->key_rest_s = HELIX_HTTP_PROVIDER_DEFAULT_KEY_REST_S;
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
 * @api_key: (nullable): the new key, or %NULL or "" for none; calls already
 *   running keep the old one
 */
void
helix_http_provider_set_api_key (HelixHttpProvider *self,
                                 const char        *api_key)
{
  const char *keys[] = { api_key, NULL };

  helix_http_provider_set_api_keys (self, api_key != NULL && *api_key != '\0' ? keys : NULL);
}

/**
 * helix_http_provider_set_api_keys:
 * @self: a provider
 * @api_keys: (nullable) (array zero-terminated=1): the pool of keys, in the
 *   order to use them; %NULL or empty for none
 *
 * Replaces the pool; every key starts usable. Calls already running keep their key.
 */
void
helix_http_provider_set_api_keys (HelixHttpProvider  *self,
                                  const char * const *api_keys)
{
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (self);

  g_return_if_fail (HELIX_IS_HTTP_PROVIDER (self));

  g_ptr_array_set_size (priv->keys, 0);
  priv->current = 0;
  for (guint i = 0; api_keys != NULL && api_keys[i] != NULL; i++)
    if (*api_keys[i] != '\0')
      g_ptr_array_add (priv->keys, key_new (api_keys[i]));
}

/**
 * helix_http_provider_parse_api_keys:
 * @text: one API key, or several separated by spaces, commas or line breaks
 * @error: return location for a #GError
 *
 * Reads the keys of a pool as a person types them. A key is printable ASCII
 * without spaces or commas (every vendor's keys are), at most
 * %HELIX_HTTP_PROVIDER_MAX_KEY_BYTES long; a pool holds at most
 * %HELIX_HTTP_PROVIDER_MAX_KEYS keys, each once. Errors say which key is
 * wrong by its position, never by its text.
 *
 * Returns: (transfer full) (nullable): the keys in order, possibly none; or
 *   %NULL with @error set (%G_IO_ERROR_INVALID_ARGUMENT)
 */
GStrv
helix_http_provider_parse_api_keys (const char  *text,
                                    GError     **error)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  const char *p = text;
  guint n = 0;

  g_return_val_if_fail (text != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  for (;;)
    {
      const char *start;
      g_autofree char *key = NULL;

      while (*p != '\0' && (g_ascii_isspace (*p) || *p == ','))
        p++;
      if (*p == '\0')
        break;

      start = p;
      while (*p != '\0' && !g_ascii_isspace (*p) && *p != ',')
        {
          if ((guchar) *p < 0x21 || (guchar) *p > 0x7e)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           _("API key %u has a character no API key has."), n + 1);
              return NULL;
            }
          p++;
        }

      if (++n > HELIX_HTTP_PROVIDER_MAX_KEYS)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       _("At most %d API keys per provider."), HELIX_HTTP_PROVIDER_MAX_KEYS);
          return NULL;
        }
      if (p - start > HELIX_HTTP_PROVIDER_MAX_KEY_BYTES)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       _("API key %u is too long (at most %d characters)."), n,
                       HELIX_HTTP_PROVIDER_MAX_KEY_BYTES);
          return NULL;
        }

      key = g_strndup (start, p - start);
      if (!g_hash_table_add (seen, g_strdup (key)))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       _("API key %u is there twice."), n);
          return NULL;
        }
      g_strv_builder_add (builder, key);
    }

  return g_strv_builder_end (builder);
}

/**
 * helix_http_provider_set_key_rest:
 * @self: a provider
 * @seconds: how long a key rests after a quota or authorization error
 */
void
helix_http_provider_set_key_rest (HelixHttpProvider *self,
                                  guint              seconds)
{
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (self);

  g_return_if_fail (HELIX_IS_HTTP_PROVIDER (self));

  priv->key_rest_s = seconds;
}

/**
 * helix_http_provider_get_n_keys:
 * @self: a provider
 *
 * Returns: the number of keys in the pool
 */
guint
helix_http_provider_get_n_keys (HelixHttpProvider *self)
{
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (self);

  g_return_val_if_fail (HELIX_IS_HTTP_PROVIDER (self), 0);

  return priv->keys->len;
}

/**
 * helix_http_provider_get_n_usable_keys:
 * @self: a provider
 *
 * Returns: the number of keys not resting now
 */
guint
helix_http_provider_get_n_usable_keys (HelixHttpProvider *self)
{
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (self);
  gint64 now = g_get_monotonic_time ();
  guint n = 0;

  g_return_val_if_fail (HELIX_IS_HTTP_PROVIDER (self), 0);

  for (guint i = 0; i < priv->keys->len; i++)
    n += key_usable (g_ptr_array_index (priv->keys, i), now);

  return n;
}

/* The key for the headers of the request being built; %NULL for none. */
const char *
_helix_http_provider_get_api_key (HelixHttpProvider *self)
{
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (self);

  return priv->building_key != NULL ? priv->building_key->secret : NULL;
}

/**
 * helix_http_provider_default_base_url:
 * @kind: "openai", "anthropic" or "gemini"
 *
 * Returns: (nullable): the public API root of that wire format's vendor
 */
const char *
helix_http_provider_default_base_url (const char *kind)
{
  g_return_val_if_fail (kind != NULL, NULL);

  if (g_str_equal (kind, "openai"))
    return "https://api.openai.com/v1";
  if (g_str_equal (kind, "anthropic"))
    return "https://api.anthropic.com";
  if (g_str_equal (kind, "gemini"))
    return "https://generativelanguage.googleapis.com";

  return NULL;
}

/**
 * helix_http_provider_new_for_kind:
 * @kind: the wire format: "openai" (any OpenAI-compatible server: DeepSeek,
 *   Ollama, vLLM, llama.cpp, OpenRouter), "anthropic" or "gemini"
 * @name: the provider's name
 * @base_url: (nullable): the API root, or %NULL for the vendor's own
 * @api_key: (nullable): the key, or %NULL for none
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): a provider, or %NULL with
 *   %G_IO_ERROR_INVALID_ARGUMENT for an unknown kind or a bad URL
 */
HelixHttpProvider *
helix_http_provider_new_for_kind (const char  *kind,
                                  const char  *name,
                                  const char  *base_url,
                                  const char  *api_key,
                                  GError     **error)
{
  g_return_val_if_fail (kind != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  if (base_url == NULL || *base_url == '\0')
    base_url = helix_http_provider_default_base_url (kind);

  if (g_str_equal (kind, "openai"))
    return HELIX_HTTP_PROVIDER (helix_provider_openai_new (name, base_url, api_key, error));
  if (g_str_equal (kind, "anthropic"))
    return HELIX_HTTP_PROVIDER (helix_provider_anthropic_new (name, base_url, api_key, error));
  if (g_str_equal (kind, "gemini"))
    return HELIX_HTTP_PROVIDER (helix_provider_gemini_new (name, base_url, api_key, error));

  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               _("%s: unknown provider kind “%s” (expected openai, anthropic or gemini)"),
               name, kind);
  return NULL;
}

/* Model lists */

typedef struct
{
  SoupMessage  *msg;
  Key          *key;
  GCancellable *cancellable;  /* the caller's and the timeout's */
  GCancellable *caller_cancellable;
  gulong        cancelled_id;
  GSource      *timeout;
  gboolean      timed_out;
  GByteArray   *body;
} ListData;

static void
list_data_free (gpointer data)
{
  ListData *list = data;

  if (list->timeout != NULL)
    {
      g_source_destroy (list->timeout);
      g_source_unref (list->timeout);
    }
  if (list->cancelled_id != 0)
    g_cancellable_disconnect (list->caller_cancellable, list->cancelled_id);
  g_clear_object (&list->caller_cancellable);
  g_clear_object (&list->msg);
  g_clear_pointer (&list->key, key_unref);
  g_clear_object (&list->cancellable);
  g_clear_pointer (&list->body, g_byte_array_unref);
  g_free (list);
}

static gboolean
list_timeout_cb (gpointer user_data)
{
  ListData *list = user_data;

  list->timed_out = TRUE;
  g_cancellable_cancel (list->cancellable);

  return G_SOURCE_REMOVE;
}

static void
list_cancelled_cb (GCancellable *caller,
                   GCancellable *ours)
{
  g_cancellable_cancel (ours);
}

static void
list_return_error (GTask  *task,
                   GError *error)
{
  HelixHttpProvider *self = g_task_get_source_object (task);
  ListData *list = g_task_get_task_data (task);

  if (list->key != NULL &&
      (g_error_matches (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_AUTH) ||
       g_error_matches (error, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_QUOTA)))
    rest_key (self, list->key, error);

  g_task_return_error (task, error);
}

static GError *
list_io_error (GTask        *task,
               const GError *error)
{
  HelixHttpProviderPrivate *priv =
    helix_http_provider_get_instance_private (g_task_get_source_object (task));
  ListData *list = g_task_get_task_data (task);

  if (list->timed_out)
    return g_error_new (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CALL_TIMEOUT,
                        _("%s did not answer within %u seconds."), priv->name,
                        HELIX_HTTP_PROVIDER_LIST_TIMEOUT_MS / 1000);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return g_error_new_literal (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_CANCELLED,
                                _("The request was cancelled"));

  return _helix_provider_error_from_io (priv->name, error);
}

/* An error body: {"error":{"message":…,"type"/"status":…,"code":…}} or {"error":"…"}. */
static GError *
list_http_error (GTask *task,
                 guint  status)
{
  HelixHttpProviderPrivate *priv =
    helix_http_provider_get_instance_private (g_task_get_source_object (task));
  ListData *list = g_task_get_task_data (task);
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *code = NULL;
  const char *message = NULL;
  const char *type = NULL;
  gint64 retry_after;

  retry_after = helix_provider_parse_retry_after (
    soup_message_headers_get_one (soup_message_get_response_headers (list->msg), "Retry-After"),
    now);

  root = _helix_provider_parse_object ((const char *) list->body->data,
                                       MIN (list->body->len, HELIX_PROVIDER_MAX_ERROR_BODY), NULL);
  if (root != NULL)
    {
      JsonObject *object = json_node_get_object (root);
      JsonObject *error = _helix_json_get_object (object, "error");

      if (error != NULL)
        {
          message = _helix_json_get_string (error, "message");
          type = _helix_json_get_string (error, "type");
          if (type == NULL)
            type = _helix_json_get_string (error, "status");
          code = _helix_json_get_code (error, "code");
        }
      else
        message = _helix_json_get_string (object, "error");
    }

  return _helix_provider_error_from_http (priv->name, status, retry_after, type, code,
                                          message != NULL ? message : soup_status_get_phrase (status),
                                          list->key != NULL ? list->key->secret : NULL);
}

static void
list_parse (GTask *task)
{
  HelixHttpProvider *self = g_task_get_source_object (task);
  HelixHttpProviderClass *klass = HELIX_HTTP_PROVIDER_GET_CLASS (self);
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (self);
  ListData *list = g_task_get_task_data (task);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;
  JsonArray *array;
  guint n;

  root = _helix_provider_parse_object ((const char *) list->body->data, list->body->len, &error);
  array = root != NULL ? _helix_json_get_array (json_node_get_object (root), klass->models_member)
                       : NULL;
  if (array == NULL)
    {
      g_task_return_new_error (task, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL,
                               _("%s sent a model list Helix cannot read (%s)."), priv->name,
                               error != NULL ? error->message : klass->models_member);
      return;
    }

  n = MIN (json_array_get_length (array), HELIX_HTTP_PROVIDER_MAX_MODELS);
  for (guint i = 0; i < n; i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      const char *id;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      id = _helix_json_get_string (json_node_get_object (node), klass->models_id);
      if (id == NULL || *id == '\0' || !g_utf8_validate (id, -1, NULL) || strlen (id) > 256)
        continue;
      if (g_str_has_prefix (id, "models/"))
        id += strlen ("models/");
      g_strv_builder_add (builder, id);
    }

  g_task_return_pointer (task, g_strv_builder_end (builder), (GDestroyNotify) g_strfreev);
}

static void list_read_cb (GObject      *object,
                          GAsyncResult *result,
                          gpointer      user_data);

static void
list_read_more (GTask        *task,
                GInputStream *stream)
{
  ListData *list = g_task_get_task_data (task);

  g_input_stream_read_bytes_async (stream, 64 * 1024, G_PRIORITY_DEFAULT, list->cancellable,
                                   list_read_cb, task);
}

static void
list_read_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  GTask *task = user_data;
  HelixHttpProviderPrivate *priv =
    helix_http_provider_get_instance_private (g_task_get_source_object (task));
  ListData *list = g_task_get_task_data (task);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  guint status;

  bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (object), result, &error);
  if (bytes == NULL)
    {
      list_return_error (task, list_io_error (task, error));
      g_object_unref (task);
      return;
    }

  if (g_bytes_get_size (bytes) > 0)
    {
      if (list->body->len + g_bytes_get_size (bytes) > HELIX_HTTP_PROVIDER_MAX_LIST_BODY)
        {
          list_return_error (task,
                             g_error_new (HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_PROTOCOL,
                                          _("%s sent a model list larger than %u MiB."), priv->name,
                                          HELIX_HTTP_PROVIDER_MAX_LIST_BODY / (1024 * 1024)));
          g_object_unref (task);
          return;
        }
      g_byte_array_append (list->body, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
      list_read_more (task, G_INPUT_STREAM (object));
      return;
    }

  status = soup_message_get_status (list->msg);
  if (status != SOUP_STATUS_OK)
    list_return_error (task, list_http_error (task, status));
  else
    list_parse (task);
  g_object_unref (task);
}

static void
list_sent_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  GTask *task = user_data;
  g_autoptr(GInputStream) stream = NULL;
  g_autoptr(GError) error = NULL;

  stream = soup_session_send_finish (SOUP_SESSION (object), result, &error);
  if (stream == NULL)
    {
      list_return_error (task, list_io_error (task, error));
      g_object_unref (task);
      return;
    }

  list_read_more (task, stream);
}

/**
 * helix_http_provider_list_models_async:
 * @self: a provider
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the list
 * @user_data: data for @callback
 *
 * Asks the provider which models it serves: a cheap call that needs a working
 * key and address, so it doubles as a health check and "Test connection".
 * The body is capped at %HELIX_HTTP_PROVIDER_MAX_LIST_BODY and the call at
 * %HELIX_HTTP_PROVIDER_LIST_TIMEOUT_MS.
 */
void
helix_http_provider_list_models_async (HelixHttpProvider   *self,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  HelixHttpProviderPrivate *priv = helix_http_provider_get_instance_private (self);
  HelixHttpProviderClass *klass;
  g_autofree char *url = NULL;
  GTask *task;
  ListData *list;
  Key *key = NULL;

  g_return_if_fail (HELIX_IS_HTTP_PROVIDER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  klass = HELIX_HTTP_PROVIDER_GET_CLASS (self);
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_http_provider_list_models_async);
  g_task_set_check_cancellable (task, FALSE);

  if (priv->keys->len > 0 && (key = pick_key (priv)) == NULL)
    {
      g_task_return_new_error (task, HELIX_PROVIDER_ERROR, HELIX_PROVIDER_ERROR_QUOTA,
                               _("Every API key of %s is resting after a quota or authorization error. Add credit or a working key, or wait."),
                               priv->name);
      g_object_unref (task);
      return;
    }

  list = g_new0 (ListData, 1);
  list->key = key != NULL ? key_ref (key) : NULL;
  list->body = g_byte_array_new ();
  list->cancellable = g_cancellable_new ();
  g_task_set_task_data (task, list, list_data_free);

  if (cancellable != NULL)
    {
      list->caller_cancellable = g_object_ref (cancellable);
      list->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (list_cancelled_cb),
                                                  g_object_ref (list->cancellable),
                                                  g_object_unref);
    }

  list->timeout = g_timeout_source_new (HELIX_HTTP_PROVIDER_LIST_TIMEOUT_MS);
  g_source_set_static_name (list->timeout, "[helix-ai] model list timeout");
  g_source_set_callback (list->timeout, list_timeout_cb, list, NULL);
  g_source_attach (list->timeout, g_task_get_context (task));

  url = g_strconcat (priv->base_url, klass->models_path, NULL);
  list->msg = soup_message_new (SOUP_METHOD_GET, url);
  soup_message_add_flags (list->msg, SOUP_MESSAGE_NO_REDIRECT);
  klass->authorize (self, list->msg, key != NULL ? key->secret : NULL);

  soup_session_send_async (priv->session, list->msg, G_PRIORITY_DEFAULT, list->cancellable,
                           list_sent_cb, task);
}

/**
 * helix_http_provider_list_models_finish:
 * @self: a provider
 * @result: the result given to the callback
 * @error: return location for a #GError (%HELIX_PROVIDER_ERROR)
 *
 * Returns: (transfer full): the model ids, without Gemini's "models/" prefix
 */
GStrv
helix_http_provider_list_models_finish (HelixHttpProvider  *self,
                                        GAsyncResult       *result,
                                        GError            **error)
{
  g_return_val_if_fail (HELIX_IS_HTTP_PROVIDER (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        helix_http_provider_list_models_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
