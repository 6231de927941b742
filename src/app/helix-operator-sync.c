/* helix-operator-sync.c: the operator view's sync state and devices
 *
 * When the desktop is signed in to a gateway: where, as whom, what the sync
 * client is doing (and why it is offline), and the account's devices as the
 * gateway lists them (GET /api/v1/devices, through HelixAccount). The state
 * follows the client's and the account's notifications; the devices are
 * asked for when the window opens, on sign-in and now and then after.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-operator-window-private.h"

static gboolean
signed_in (HelixOperatorWindow *self)
{
  return self->account != NULL && helix_account_get_signed_in (self->account);
}

/* What this device kept of the gateway's audit log, and whether it still fits. */
static void
show_checkpoint (HelixOperatorWindow *self,
                 HelixOperatorRows   *rows)
{
  g_autofree char *note = NULL;
  const char *warning;
  AdwActionRow *row;

  if (self->checkpoints == NULL)
    return;

  note = helix_checkpoint_keeper_dup_checkpoint (self->checkpoints);
  warning = helix_checkpoint_keeper_get_warning (self->checkpoints);
  row = _helix_operator_rows_take (rows, "gateway-audit", 0);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Gateway audit log"));

  if (warning != NULL)
    {
      adw_action_row_set_subtitle (row, warning);
      _helix_operator_row_set_value (row, _("Altered"), "error");
    }
  else if (note != NULL)
    {
      g_auto(GStrv) lines = g_strsplit (note, "\n", 3);
      gint64 size = g_strv_length (lines) > 1 ? g_ascii_strtoll (lines[1], NULL, 10) : 0;
      g_autofree char *subtitle =
        g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                      "This device keeps its signed checkpoint at %" G_GINT64_FORMAT " entry",
                                      "This device keeps its signed checkpoint at %" G_GINT64_FORMAT " entries",
                                      size),
                         size);

      adw_action_row_set_subtitle (row, subtitle);
      _helix_operator_row_set_value (row, _("Consistent"), "success");
    }
  else
    {
      adw_action_row_set_subtitle (row, _("No checkpoint kept yet"));
      _helix_operator_row_set_value (row, _("Unknown"), "dim-label");
    }
}

static void
show_state (HelixOperatorWindow *self)
{
  HelixOperatorRows *rows = &self->rows[HELIX_OPERATOR_LIST_SYNC];
  g_autoptr(GString) subtitle = g_string_new (NULL);
  g_autofree char *value = NULL;
  const char *style = NULL;
  AdwActionRow *row;

  _helix_operator_rows_begin (rows);

  if (!signed_in (self))
    {
      _helix_operator_rows_end (rows, _("Not signed in to a gateway. Everything works on this "
                                        "computer; sign in in Preferences to sync your chats "
                                        "with your other devices."));
      return;
    }

  row = _helix_operator_rows_take (rows, "gateway", 0);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row),
                                 helix_account_get_gateway_uri (self->account));
  /* Translators: %s is a user name. */
  g_string_append_printf (subtitle, _("Signed in as %s"),
                          helix_account_get_username (self->account));

  if (self->sync_client == NULL || helix_sync_client_get_gateway_uri (self->sync_client) == NULL)
    {
      value = g_strdup (_("Not syncing"));
      style = "dim-label";
    }
  else
    {
      guint pending = helix_sync_client_get_pending (self->sync_client);
      const char *last_error = helix_sync_client_get_last_error (self->sync_client);

      switch (helix_sync_client_get_state (self->sync_client))
        {
        case HELIX_SYNC_STATE_UP_TO_DATE:
          value = g_strdup (_("Up to date"));
          style = "success";
          break;
        case HELIX_SYNC_STATE_SYNCING:
          if (pending > 0)
            value = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Syncing %u change…",
                                                  "Syncing %u changes…", pending),
                                     pending);
          else
            value = g_strdup (_("Syncing…"));
          break;
        case HELIX_SYNC_STATE_CONNECTING:
          value = g_strdup (_("Connecting…"));
          break;
        case HELIX_SYNC_STATE_OFFLINE:
        default:
          value = g_strdup (_("Offline"));
          style = "warning";
          break;
        }

      if (pending > 0)
        {
          g_string_append (subtitle, " · ");
          g_string_append_printf (subtitle, g_dngettext (GETTEXT_PACKAGE,
                                                         "%u change waiting to be sent",
                                                         "%u changes waiting to be sent", pending),
                                  pending);
        }
      if (last_error != NULL &&
          helix_sync_client_get_state (self->sync_client) == HELIX_SYNC_STATE_OFFLINE)
        {
          g_string_append (subtitle, "\n");
          g_string_append (subtitle, last_error);
        }
    }

  adw_action_row_set_subtitle (row, subtitle->str);
  _helix_operator_row_set_value (row, value, style);
  show_checkpoint (self, rows);
  _helix_operator_rows_end (rows, NULL);
}

static char *
format_day_time (gint64 time_us)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC);
  g_autoptr(GDateTime) local = utc != NULL ? g_date_time_to_local (utc) : NULL;

  return local != NULL ? g_date_time_format (local, "%x %X") : g_strdup ("?");
}

static void
on_devices (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(HelixOperatorWindow) self = user_data;
  HelixOperatorRows *rows = &self->rows[HELIX_OPERATOR_LIST_DEVICES];
  g_autoptr(GPtrArray) devices = NULL;
  g_autoptr(GError) error = NULL;

  devices = helix_account_list_devices_finish (HELIX_ACCOUNT (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  self->devices_loading = FALSE;
  if (error != NULL)
    {
      adw_preferences_group_set_description (self->devices_group, error->message);
      return;
    }

  adw_preferences_group_set_description (self->devices_group,
                                         _("The devices signed in to your gateway account."));
  _helix_operator_rows_begin (rows);
  for (guint i = 0; i < devices->len; i++)
    {
      HelixAccountDevice *device = g_ptr_array_index (devices, i);
      AdwActionRow *row = _helix_operator_rows_take (rows, device->id,
                                                     device->current ? -1 : (int) i);
      g_autoptr(GString) subtitle = g_string_new (NULL);

      if (device->last_seen_us > 0)
        {
          g_autofree char *seen = format_day_time (device->last_seen_us);

          /* Translators: %s is a date and time. */
          g_string_append_printf (subtitle, _("Last seen %s"), seen);
        }
      if (device->created_us > 0)
        {
          g_autofree char *created = format_day_time (device->created_us);

          if (subtitle->len > 0)
            g_string_append (subtitle, " · ");
          /* Translators: %s is a date and time. */
          g_string_append_printf (subtitle, _("signed in %s"), created);
        }

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), device->name);
      adw_action_row_set_subtitle (row, subtitle->str);
      if (device->revoked)
        _helix_operator_row_set_value (row, _("Revoked"), "dim-label");
      else if (device->current)
        _helix_operator_row_set_value (row, _("This device"), "success");
      else
        _helix_operator_row_set_value (row, NULL, NULL);
    }
  _helix_operator_rows_end (rows, _("No devices"));
}

static void
refresh_devices (HelixOperatorWindow *self)
{
  HelixOperatorRows *rows = &self->rows[HELIX_OPERATOR_LIST_DEVICES];

  gtk_widget_set_visible (GTK_WIDGET (self->devices_group), signed_in (self));
  if (!signed_in (self))
    {
      _helix_operator_rows_begin (rows);
      _helix_operator_rows_end (rows, NULL);
      return;
    }

  if (self->devices_loading)
    return;

  if (self->devices_cancellable == NULL)
    self->devices_cancellable = g_cancellable_new ();
  self->devices_loading = TRUE;
  helix_account_list_devices_async (self->account, self->devices_cancellable, on_devices,
                                    g_object_ref (self));
}

/**
 * _helix_operator_sync_refresh:
 * @self: an operator window
 * @devices: whether to ask the gateway for the devices too
 */
void
_helix_operator_sync_refresh (HelixOperatorWindow *self,
                              gboolean             devices)
{
  show_state (self);
  if (devices || !signed_in (self))
    {
      refresh_devices (self);
      _helix_operator_gateway_refresh (self);
    }
}

static void
on_state_changed (HelixOperatorWindow *self)
{
  show_state (self);
}

static void
on_signed_in_changed (HelixOperatorWindow *self)
{
  /* Another account's devices are not this one's. */
  g_cancellable_cancel (self->devices_cancellable);
  g_clear_object (&self->devices_cancellable);
  self->devices_loading = FALSE;
  _helix_operator_gateway_reset (self);
  _helix_operator_sync_refresh (self, TRUE);
}

/**
 * helix_operator_window_set_sync:
 * @self: an operator window
 * @account: (nullable): the gateway account
 * @client: (nullable): its sync client
 *
 * Shows the sync state of @client and the devices of @account, while it is
 * signed in.
 */
void
helix_operator_window_set_sync (HelixOperatorWindow *self,
                                HelixAccount        *account,
                                HelixSyncClient     *client)
{
  g_return_if_fail (HELIX_IS_OPERATOR_WINDOW (self));
  g_return_if_fail (account == NULL || HELIX_IS_ACCOUNT (account));
  g_return_if_fail (client == NULL || HELIX_IS_SYNC_CLIENT (client));

  _helix_operator_sync_dispose (self);

  g_set_object (&self->account, account);
  g_set_object (&self->sync_client, client);

  if (account != NULL)
    g_signal_connect_object (account, "notify::signed-in", G_CALLBACK (on_signed_in_changed), self,
                             G_CONNECT_SWAPPED);
  if (client != NULL)
    g_signal_connect_object (client, "notify", G_CALLBACK (on_state_changed), self,
                             G_CONNECT_SWAPPED);

  _helix_operator_sync_refresh (self, TRUE);
}

/**
 * helix_operator_window_set_checkpoint_keeper:
 * @self: an operator window
 * @keeper: (nullable): what keeps the gateway's audit checkpoints
 *
 * Shows, while signed in, whether the gateway's audit log still fits the
 * checkpoint this device kept.
 */
void
helix_operator_window_set_checkpoint_keeper (HelixOperatorWindow   *self,
                                             HelixCheckpointKeeper *keeper)
{
  g_return_if_fail (HELIX_IS_OPERATOR_WINDOW (self));
  g_return_if_fail (keeper == NULL || HELIX_IS_CHECKPOINT_KEEPER (keeper));

  if (self->checkpoints != NULL)
    g_signal_handlers_disconnect_by_data (self->checkpoints, self);
  g_set_object (&self->checkpoints, keeper);
  if (keeper != NULL)
    g_signal_connect_object (keeper, "notify::warning", G_CALLBACK (on_state_changed), self,
                             G_CONNECT_SWAPPED);
  show_state (self);
}

void
_helix_operator_sync_dispose (HelixOperatorWindow *self)
{
  g_cancellable_cancel (self->devices_cancellable);
  g_clear_object (&self->devices_cancellable);
  self->devices_loading = FALSE;
  _helix_operator_gateway_reset (self);

  if (self->account != NULL)
    g_signal_handlers_disconnect_by_data (self->account, self);
  if (self->sync_client != NULL)
    g_signal_handlers_disconnect_by_data (self->sync_client, self);
  g_clear_object (&self->account);
  g_clear_object (&self->sync_client);
}

/* At the window's end. */
void
_helix_operator_sync_finalize (HelixOperatorWindow *self)
{
  if (self->checkpoints != NULL)
    g_signal_handlers_disconnect_by_data (self->checkpoints, self);
  g_clear_object (&self->checkpoints);
}
