/* helix-audit-keyring.c: the desktop's audit signing key, kept in the keyring
 *
 * The ed25519 key that signs the local audit log's checkpoints lives in
 * libsecret, never in a file beside the log: whoever can rewrite the log can
 * then not sign a checkpoint for it. It is made on first use. Read through
 * secret_service_search() (secret_password_lookup() leaks a D-Bus reply per
 * item in libsecret 0.20), except by the command-line verifier.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix"

#include "config.h"

#include <glib/gi18n.h>
#include <libsecret/secret.h>
#include <string.h>

#include "helix-audit-keyring.h"

static const SecretSchema *
get_schema (void)
{
  static const SecretSchema schema = {
    HELIX_AUDIT_KEY_SCHEMA_NAME, SECRET_SCHEMA_NONE,
    {
      { "origin", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
    }
  };

  return &schema;
}

/**
 * helix_audit_keyring_default_origin:
 *
 * Returns: (transfer full): this machine's log name, "helix-audit/<host>"
 */
char *
helix_audit_keyring_default_origin (void)
{
  g_autofree char *host = g_strdup (g_get_host_name ());

  /* Key names take no spaces or "+" (signed-note rules). */
  g_strdelimit (host, " +\t\n", '-');
  return g_strconcat ("helix-audit/", host, NULL);
}

/* The stored text: the 64-byte secret key in base64. */
static HelixAuditSigner *
signer_from_text (const char  *origin,
                  const char  *text,
                  GError     **error)
{
  g_autofree guint8 *secret = NULL;
  HelixAuditSigner *signer;
  gsize len = 0;

  secret = g_base64_decode (text, &len);
  if (len != HELIX_AUDIT_SECRET_KEY_BYTES)
    {
      if (secret != NULL)
        memset (secret, 0, len);
      g_set_error_literal (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_INVALID,
                           _("The audit key in the keyring is damaged"));
      return NULL;
    }

  signer = helix_audit_signer_new_from_secret (origin, secret, error);
  memset (secret, 0, len);

  return signer;
}

typedef struct
{
  char             *origin;
  SecretService    *service;
  HelixAuditSigner *signer;
  char             *text;
} Load;

static void
load_free (Load *load)
{
  g_free (load->origin);
  g_clear_object (&load->service);
  g_clear_pointer (&load->signer, helix_audit_signer_unref);
  if (load->text != NULL)
    memset (load->text, 0, strlen (load->text));
  g_free (load->text);
  g_free (load);
}

static void
stored_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Load *load = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!secret_password_store_finish (result, &error))
    {
      g_task_return_new_error (task, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO,
                               _("Could not keep the audit key in the keyring: %s"),
                               error->message);
      return;
    }

  g_debug ("Made the audit key for %s", load->origin);
  g_task_return_pointer (task, g_steal_pointer (&load->signer),
                         (GDestroyNotify) helix_audit_signer_unref);
}

static void
searched_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Load *load = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autofree char *label = NULL;
  GList *items;

  items = secret_service_search_finish (SECRET_SERVICE (object), result, &error);
  if (error != NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  if (items != NULL)
    {
      SecretValue *value = secret_item_get_secret (items->data);
      HelixAuditSigner *signer = NULL;

      if (value != NULL)
        {
          char *text = secret_value_unref_to_password (value, NULL);

          signer = signer_from_text (load->origin, text, &error);
          memset (text, 0, strlen (text));
          g_free (text);
        }
      else
        g_set_error_literal (&error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO,
                             _("The keyring is locked"));
      g_list_free_full (items, g_object_unref);

      if (signer == NULL)
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_task_return_pointer (task, signer, (GDestroyNotify) helix_audit_signer_unref);
      return;
    }

  /* None yet: make one. */
  load->signer = helix_audit_signer_new (load->origin, &error);
  if (load->signer == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  load->text = g_base64_encode (helix_audit_signer_get_secret_key (load->signer),
                                HELIX_AUDIT_SECRET_KEY_BYTES);
  /* Translators: the label of a keyring item */
  label = g_strdup (_("Helix: audit log signing key"));
  secret_password_store (get_schema (), SECRET_COLLECTION_DEFAULT, label, load->text,
                         g_task_get_cancellable (task), stored_cb, g_object_ref (task),
                         "origin", load->origin,
                         NULL);
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

  attributes = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (attributes, (gpointer) "origin", load->origin);
  secret_service_search (load->service, get_schema (), attributes,
                         SECRET_SEARCH_UNLOCK | SECRET_SEARCH_LOAD_SECRETS,
                         g_task_get_cancellable (task), searched_cb, g_object_ref (task));
}

/**
 * helix_audit_keyring_load_async:
 * @origin: the log's name, which is the key's
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the key
 * @user_data: for @callback
 *
 * Reads the key from the keyring, or makes and stores one.
 */
void
helix_audit_keyring_load_async (const char          *origin,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Load *load;

  g_return_if_fail (origin != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_audit_keyring_load_async);
  load = g_new0 (Load, 1);
  load->origin = g_strdup (origin);
  g_task_set_task_data (task, load, (GDestroyNotify) load_free);

  secret_service_get (SECRET_SERVICE_OPEN_SESSION, cancellable, got_service_cb,
                      g_steal_pointer (&task));
}

/**
 * helix_audit_keyring_load_finish:
 * @result: the result
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the key
 */
HelixAuditSigner *
helix_audit_keyring_load_finish (GAsyncResult  *result,
                                 GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * helix_audit_keyring_lookup_sync:
 * @origin: the log's name
 * @error: return location for a #GError
 *
 * For `helix --verify-audit`: reads the key, and makes none.
 *
 * Returns: (transfer full) (nullable): the key; %NULL without an error when
 *   the keyring has none
 */
HelixAuditSigner *
helix_audit_keyring_lookup_sync (const char  *origin,
                                 GError     **error)
{
  HelixAuditSigner *signer;
  char *text;

  text = secret_password_lookup_sync (get_schema (), NULL, error, "origin", origin, NULL);
  if (text == NULL)
    return NULL;

  signer = signer_from_text (origin, text, error);
  secret_password_free (text);

  return signer;
}
