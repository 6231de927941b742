/* helix-keyring-items.c: every secret of a libsecret schema, read asynchronously
 *
 * Shared by the provider settings (API keys) and the webhook settings
 * (webhook URLs). Through secret_service_search() rather than
 * secret_password_lookup(): the latter leaks a D-Bus reply for every item it
 * finds in libsecret 0.20.
 *
 * An item found but left locked (its unlock prompt dismissed) is an error.
 * A collection whose unlock fails altogether is another matter: libsecret
 * 0.20 leaves its items out of the search, which then finds none; the
 * callers say of an item they expected but did not get that it could not be
 * read (perhaps locked).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-keyring"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-keyring-items.h"

typedef struct
{
  const SecretSchema *schema;
  char               *attribute;
  SecretService      *service;
} Load;

static void
load_free (Load *load)
{
  g_free (load->attribute);
  g_clear_object (&load->service);
  g_free (load);
}

/**
 * helix_keyring_secret_free:
 * @secret: (nullable): a string that held a secret
 *
 * Wipes @secret, then frees it.
 */
void
helix_keyring_secret_free (gpointer secret)
{
  if (secret != NULL)
    secret_password_free (secret);
}

static void
searched_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Load *load = g_task_get_task_data (task);
  g_autoptr(GHashTable) secrets = NULL;
  g_autoptr(GError) error = NULL;
  gboolean locked = FALSE;
  guint n_listed;
  GList *items;

  items = secret_service_search_finish (SECRET_SERVICE (object), result, &error);
  if (error != NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  secrets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, helix_keyring_secret_free);
  for (const GList *l = items; l != NULL; l = l->next)
    {
      g_autoptr(GVariant) cached = NULL;
      g_autoptr(GHashTable) attributes = NULL;
      SecretValue *value;
      const char *key;
      char *secret;

      /* An item removed while it was being read has no attributes left. */
      cached = g_dbus_proxy_get_cached_property (G_DBUS_PROXY (l->data), "Attributes");
      if (cached == NULL)
        continue;

      attributes = secret_item_get_attributes (l->data);
      key = g_hash_table_lookup (attributes, load->attribute);
      value = secret_item_get_secret (l->data);

      /* Found, but still locked: the unlock prompt was dismissed. */
      if (value == NULL)
        {
          locked = TRUE;
          continue;
        }

      secret = secret_value_unref_to_password (value, NULL);
      if (key == NULL || *key == '\0' || secret == NULL || *secret == '\0')
        {
          helix_keyring_secret_free (secret);
          continue;
        }

      g_hash_table_replace (secrets, g_strdup (key), secret);
    }
  n_listed = g_list_length (items);
  g_list_free_full (items, g_object_unref);

  g_debug ("Found %u of %u items of %s in the keyring", g_hash_table_size (secrets), n_listed,
           load->schema->name);

  if (locked)
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                             _("The keyring is locked"));
  else
    g_task_return_pointer (task, g_steal_pointer (&secrets), (GDestroyNotify) g_hash_table_unref);
}

static void
got_service_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Load *load = g_task_get_task_data (task);
  g_autoptr(GHashTable) attributes = NULL;
  g_autoptr(GError) error = NULL;

  load->service = secret_service_get_finish (result, &error);
  if (load->service == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* Every item of the schema: no attribute to match but the schema's own. */
  attributes = g_hash_table_new (g_str_hash, g_str_equal);
  secret_service_search (load->service, load->schema, attributes,
                         SECRET_SEARCH_ALL | SECRET_SEARCH_UNLOCK | SECRET_SEARCH_LOAD_SECRETS,
                         g_task_get_cancellable (task), searched_cb, g_object_ref (task));
}

/**
 * helix_keyring_items_load_async:
 * @schema: (not nullable): a schema that lives as long as the program
 * @attribute: the attribute of @schema that tells its items apart
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: for @callback
 *
 * Reads every item of @schema, unlocking the keyring if needed.
 */
void
helix_keyring_items_load_async (const SecretSchema  *schema,
                                const char          *attribute,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Load *load;

  g_return_if_fail (schema != NULL);
  g_return_if_fail (attribute != NULL);
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_keyring_items_load_async);
  load = g_new0 (Load, 1);
  load->schema = schema;
  load->attribute = g_strdup (attribute);
  g_task_set_task_data (task, load, (GDestroyNotify) load_free);

  secret_service_get (SECRET_SERVICE_OPEN_SESSION, cancellable, got_service_cb,
                      g_steal_pointer (&task));
}

/**
 * helix_keyring_items_load_finish:
 * @result: the result
 * @error: return location for a #GError; %G_IO_ERROR_PERMISSION_DENIED when
 *   an item stayed locked
 *
 * Returns: (transfer full) (nullable): the value of the attribute → the
 *   secret (wiped when the table drops it), or %NULL when the keyring is
 *   missing or locked
 */
GHashTable *
helix_keyring_items_load_finish (GAsyncResult  *result,
                                 GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        helix_keyring_items_load_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
