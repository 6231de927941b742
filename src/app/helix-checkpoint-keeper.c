/* helix-checkpoint-keeper.c: this device keeps the gateway's audit checkpoints
 *
 * The gateway's audit log is hash-chained and its checkpoints are signed, but
 * whoever runs the gateway could still cut its tail or rebuild it and sign it
 * with a new key: the log alone would look fine. Its users' devices are
 * other parties. While signed in, the desktop asks for the newest checkpoint
 * (GET /api/v1/audit/checkpoint) at sign-in and every ten minutes, checks its
 * signature, pins the key it was first seen with, and keeps the newest
 * checkpoint in the settings. It warns when:
 *
 * - the gateway signs with another key than the one pinned (rebuilt and signed again),
 * - the newest checkpoint is smaller than the one kept (cut or rolled back),
 * - it has the size of the one kept but another head (rewritten),
 * - the checkpoint is not signed by the key the gateway names.
 *
 * An administrator can also hand the kept checkpoint to the gateway's verifier
 * (POST /api/v1/audit/verify), which then checks the log against it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "helix-audit-checkpoint.h"
#include "helix-checkpoint-keeper.h"

struct _HelixCheckpointKeeper
{
  GObject       parent_instance;

  GSettings    *settings;
  HelixAccount *account;
  GCancellable *cancellable;
  char         *warning;
  guint         timer;
};

G_DEFINE_FINAL_TYPE (HelixCheckpointKeeper, helix_checkpoint_keeper, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_WARNING,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
set_warning (HelixCheckpointKeeper *self,
             const char            *warning)
{
  if (g_strcmp0 (self->warning, warning) == 0)
    return;

  if (warning != NULL)
    g_message ("Gateway audit log: %s", warning);
  g_free (self->warning);
  self->warning = g_strdup (warning);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_WARNING]);
}

/* The value of a (gateway, text) setting for @gateway, or NULL. */
static char *
dup_for_gateway (GSettings  *settings,
                 const char *key,
                 const char *gateway)
{
  g_autofree char *stored_gateway = NULL;
  g_autofree char *value = NULL;

  g_settings_get (settings, key, "(ss)", &stored_gateway, &value);
  if (gateway == NULL || !g_str_equal (stored_gateway, gateway) || *value == '\0')
    return NULL;

  return g_steal_pointer (&value);
}

static void
check_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  HelixCheckpointKeeper *self = g_task_get_source_object (task);
  g_autoptr(HelixAccountCheckpoint) fetched = NULL;
  g_autoptr(HelixAuditCheckpoint) latest = NULL;
  g_autoptr(HelixAuditCheckpoint) kept = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *gateway = NULL;
  g_autofree char *pinned = NULL;
  g_autofree char *key = NULL;
  g_autofree char *kept_note = NULL;
  g_autofree guchar *pinned_key = NULL;
  gsize len = 0;

  fetched = helix_account_get_audit_checkpoint_finish (HELIX_ACCOUNT (object), result, &error);
  if (fetched == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  gateway = g_strdup (helix_account_get_gateway_uri (self->account));
  key = g_base64_encode (fetched->public_key, sizeof fetched->public_key);

  /* The key first seen is the one trusted. */
  pinned = dup_for_gateway (self->settings, "gateway-audit-key", gateway);
  if (pinned == NULL)
    {
      g_settings_set (self->settings, "gateway-audit-key", "(ss)", gateway, key);
      pinned = g_strdup (key);
    }
  else if (!g_str_equal (pinned, key))
    {
      set_warning (self, _("The gateway now signs its audit log with another key than before: "
                           "its log may have been rebuilt. Ask its administrator."));
      g_task_return_boolean (task, TRUE);
      return;
    }
  pinned_key = g_base64_decode (pinned, &len);

  if (fetched->note == NULL)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  latest = helix_audit_checkpoint_parse (fetched->note, -1, pinned_key, fetched->origin, &error);
  if (latest == NULL)
    {
      set_warning (self, _("The gateway’s newest audit checkpoint is not signed by its key."));
      g_task_return_boolean (task, TRUE);
      return;
    }

  kept_note = dup_for_gateway (self->settings, "gateway-audit-checkpoint", gateway);
  if (kept_note != NULL)
    kept = helix_audit_checkpoint_parse (kept_note, -1, pinned_key, fetched->origin, NULL);

  if (kept != NULL && latest->size < kept->size)
    {
      g_autofree char *warning =
        g_strdup_printf (_("The gateway’s audit log was cut or rolled back: it had %" G_GINT64_FORMAT
                           " entries, and now says %" G_GINT64_FORMAT "."),
                         kept->size, latest->size);

      set_warning (self, warning);
    }
  else if (kept != NULL && latest->size == kept->size &&
           memcmp (latest->head, kept->head, sizeof latest->head) != 0)
    {
      set_warning (self, _("The gateway’s audit log was rewritten: the same number of entries "
                           "now ends in another one."));
    }
  else
    {
      if (kept == NULL || latest->size > kept->size)
        g_settings_set (self->settings, "gateway-audit-checkpoint", "(ss)", gateway, fetched->note);
      set_warning (self, NULL);
    }

  g_task_return_boolean (task, TRUE);
}

/**
 * helix_checkpoint_keeper_check_async:
 * @self: a keeper
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when checked
 * @user_data: for @callback
 *
 * Asks the gateway for its newest checkpoint and compares it with what this
 * device kept; see #HelixCheckpointKeeper:warning for the outcome.
 */
void
helix_checkpoint_keeper_check_async (HelixCheckpointKeeper *self,
                                     GCancellable          *cancellable,
                                     GAsyncReadyCallback    callback,
                                     gpointer               user_data)
{
  GTask *task;

  g_return_if_fail (HELIX_IS_CHECKPOINT_KEEPER (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_checkpoint_keeper_check_async);
  helix_account_get_audit_checkpoint_async (self->account, cancellable, check_cb, task);
}

/**
 * helix_checkpoint_keeper_check_finish:
 * @self: a keeper
 * @result: the result
 * @error: return location for a #GError: the gateway could not be asked
 *
 * Returns: %TRUE if the gateway answered (then see the warning)
 */
gboolean
helix_checkpoint_keeper_check_finish (HelixCheckpointKeeper  *self,
                                      GAsyncResult           *result,
                                      GError                **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
checked_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!helix_checkpoint_keeper_check_finish (HELIX_CHECKPOINT_KEEPER (object), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_debug ("Could not ask the gateway for its audit checkpoint: %s", error->message);
}

static gboolean
timer_cb (gpointer user_data)
{
  HelixCheckpointKeeper *self = user_data;

  helix_checkpoint_keeper_check_async (self, self->cancellable, checked_cb, NULL);

  return G_SOURCE_CONTINUE;
}

static void
on_signed_in_changed (HelixCheckpointKeeper *self)
{
  g_clear_handle_id (&self->timer, g_source_remove);
  if (!helix_account_get_signed_in (self->account))
    return;

  helix_checkpoint_keeper_check_async (self, self->cancellable, checked_cb, NULL);
  self->timer = g_timeout_add_seconds (HELIX_CHECKPOINT_KEEPER_INTERVAL_S, timer_cb, self);
}

/**
 * helix_checkpoint_keeper_forget:
 * @self: a keeper
 *
 * Forgets the pinned key and the kept checkpoint, and the warning: after the
 * gateway's administrator explained a new key.
 */
void
helix_checkpoint_keeper_forget (HelixCheckpointKeeper *self)
{
  g_return_if_fail (HELIX_IS_CHECKPOINT_KEEPER (self));

  g_settings_reset (self->settings, "gateway-audit-key");
  g_settings_reset (self->settings, "gateway-audit-checkpoint");
  set_warning (self, NULL);
}

/* Why the gateway's audit log looks altered, or %NULL. */
const char *
helix_checkpoint_keeper_get_warning (HelixCheckpointKeeper *self)
{
  g_return_val_if_fail (HELIX_IS_CHECKPOINT_KEEPER (self), NULL);

  return self->warning;
}

/**
 * helix_checkpoint_keeper_dup_checkpoint:
 * @self: a keeper
 *
 * Returns: (transfer full) (nullable): the newest checkpoint kept for the
 *   gateway signed in to, for its verifier
 */
char *
helix_checkpoint_keeper_dup_checkpoint (HelixCheckpointKeeper *self)
{
  g_return_val_if_fail (HELIX_IS_CHECKPOINT_KEEPER (self), NULL);

  return dup_for_gateway (self->settings, "gateway-audit-checkpoint",
                          helix_account_get_gateway_uri (self->account));
}

static void
helix_checkpoint_keeper_dispose (GObject *object)
{
  HelixCheckpointKeeper *self = HELIX_CHECKPOINT_KEEPER (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->timer, g_source_remove);
  if (self->account != NULL)
    g_signal_handlers_disconnect_by_data (self->account, self);
  g_clear_object (&self->account);

  G_OBJECT_CLASS (helix_checkpoint_keeper_parent_class)->dispose (object);
}

static void
helix_checkpoint_keeper_finalize (GObject *object)
{
  HelixCheckpointKeeper *self = HELIX_CHECKPOINT_KEEPER (object);

  g_clear_object (&self->settings);
  g_clear_object (&self->cancellable);
  g_free (self->warning);

  G_OBJECT_CLASS (helix_checkpoint_keeper_parent_class)->finalize (object);
}

static void
helix_checkpoint_keeper_get_property (GObject    *object,
                                      guint       prop_id,
                                      GValue     *value,
                                      GParamSpec *pspec)
{
  HelixCheckpointKeeper *self = HELIX_CHECKPOINT_KEEPER (object);

  switch (prop_id)
    {
    case PROP_WARNING:
      g_value_set_string (value, self->warning);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_checkpoint_keeper_class_init (HelixCheckpointKeeperClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = helix_checkpoint_keeper_dispose;
  object_class->finalize = helix_checkpoint_keeper_finalize;
  object_class->get_property = helix_checkpoint_keeper_get_property;

  /**
   * HelixCheckpointKeeper:warning:
   *
   * Why the gateway's audit log looks cut, rolled back or rewritten, for
   * people; %NULL while it looks intact.
   */
  properties[PROP_WARNING] =
    g_param_spec_string ("warning", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
helix_checkpoint_keeper_init (HelixCheckpointKeeper *self)
{
  self->cancellable = g_cancellable_new ();
}

/**
 * helix_checkpoint_keeper_new:
 * @settings: where the key and the checkpoint are kept (ai.helix.Helix)
 * @account: the gateway account; checked at each sign-in, then every ten minutes
 *
 * Returns: (transfer full): a keeper
 */
HelixCheckpointKeeper *
helix_checkpoint_keeper_new (GSettings    *settings,
                             HelixAccount *account)
{
  HelixCheckpointKeeper *self;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);
  g_return_val_if_fail (HELIX_IS_ACCOUNT (account), NULL);

  self = g_object_new (HELIX_TYPE_CHECKPOINT_KEEPER, NULL);
  self->settings = g_object_ref (settings);
  self->account = g_object_ref (account);
  g_signal_connect_object (account, "notify::signed-in", G_CALLBACK (on_signed_in_changed), self,
                           G_CONNECT_SWAPPED);
  on_signed_in_changed (self);

  return self;
}
