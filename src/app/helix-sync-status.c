/* helix-sync-status.c: what sync is doing, at the foot of the sidebar
 *
 * Shows the state of a HelixSyncClient in a line: “Up to date”, “Syncing 3 changes…”,
 * “Connecting…”, or “Offline · retrying in 12 s” with the reason in the tooltip. Hidden
 * while the desktop is not signed in to a gateway: everything works offline anyway.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "helix-sync-status.h"

struct _HelixSyncStatus
{
  GtkWidget        parent_instance;

  HelixSyncClient *client;
  GtkWidget       *box;
  GtkWidget       *icon;
  GtkWidget       *label;
  guint            countdown_id;
};

G_DEFINE_FINAL_TYPE (HelixSyncStatus, helix_sync_status, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_CLIENT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void update (HelixSyncStatus *self);

static gboolean
countdown_cb (gpointer user_data)
{
  update (user_data);

  return G_SOURCE_CONTINUE;
}

static void
update (HelixSyncStatus *self)
{
  HelixSyncClient *client = self->client;
  g_autofree char *text = NULL;
  const char *icon = NULL;
  const char *tooltip = NULL;
  gboolean counting = FALSE;
  guint pending;

  if (client == NULL || helix_sync_client_get_gateway_uri (client) == NULL)
    {
      gtk_widget_set_visible (GTK_WIDGET (self), FALSE);
      g_clear_handle_id (&self->countdown_id, g_source_remove);
      return;
    }

  pending = helix_sync_client_get_pending (client);

  switch (helix_sync_client_get_state (client))
    {
    case HELIX_SYNC_STATE_UP_TO_DATE:
      icon = "emblem-ok-symbolic";
      text = g_strdup (_("Up to date"));
      tooltip = helix_sync_client_get_gateway_uri (client);
      break;

    case HELIX_SYNC_STATE_SYNCING:
      icon = "emblem-synchronizing-symbolic";
      if (pending > 0)
        text = g_strdup_printf (ngettext ("Syncing %u change…", "Syncing %u changes…", pending),
                                pending);
      else
        text = g_strdup (_("Syncing…"));
      tooltip = helix_sync_client_get_gateway_uri (client);
      break;

    case HELIX_SYNC_STATE_CONNECTING:
      icon = "network-transmit-receive-symbolic";
      text = g_strdup (_("Connecting…"));
      tooltip = helix_sync_client_get_gateway_uri (client);
      break;

    case HELIX_SYNC_STATE_OFFLINE:
    default:
      {
        gint64 retry_at = helix_sync_client_get_retry_at (client);
        g_autofree char *waiting = NULL;

        icon = "network-offline-symbolic";
        if (retry_at > 0)
          {
            gint64 seconds = MAX (0, (retry_at - g_get_monotonic_time () + G_USEC_PER_SEC - 1) /
                                     G_USEC_PER_SEC);

            /* Translators: the sync state when the gateway cannot be reached */
            waiting = g_strdup_printf (ngettext ("Offline · retrying in %u second",
                                                 "Offline · retrying in %u seconds",
                                                 (guint) seconds),
                                       (guint) seconds);
            counting = TRUE;
          }
        else
          waiting = g_strdup (_("Offline"));

        if (pending > 0)
          /* Translators: the sync state, then how many local changes wait */
          text = g_strdup_printf (ngettext ("%s · %u change waiting", "%s · %u changes waiting",
                                            pending),
                                  waiting, pending);
        else
          text = g_steal_pointer (&waiting);
        tooltip = helix_sync_client_get_last_error (client);
      }
      break;
    }

  gtk_image_set_from_icon_name (GTK_IMAGE (self->icon), icon);
  gtk_label_set_label (GTK_LABEL (self->label), text);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self), tooltip);
  gtk_widget_set_visible (GTK_WIDGET (self), TRUE);

  if (counting && self->countdown_id == 0)
    self->countdown_id = g_timeout_add_seconds (1, countdown_cb, self);
  else if (!counting)
    g_clear_handle_id (&self->countdown_id, g_source_remove);
}

static void
helix_sync_status_dispose (GObject *object)
{
  HelixSyncStatus *self = HELIX_SYNC_STATUS (object);

  helix_sync_status_set_client (self, NULL);
  g_clear_pointer (&self->box, gtk_widget_unparent);

  G_OBJECT_CLASS (helix_sync_status_parent_class)->dispose (object);
}

static void
helix_sync_status_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  HelixSyncStatus *self = HELIX_SYNC_STATUS (object);

  switch (prop_id)
    {
    case PROP_CLIENT:
      g_value_set_object (value, self->client);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_sync_status_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  HelixSyncStatus *self = HELIX_SYNC_STATUS (object);

  switch (prop_id)
    {
    case PROP_CLIENT:
      helix_sync_status_set_client (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_sync_status_class_init (HelixSyncStatusClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = helix_sync_status_dispose;
  object_class->get_property = helix_sync_status_get_property;
  object_class->set_property = helix_sync_status_set_property;

  properties[PROP_CLIENT] =
    g_param_spec_object ("client", NULL, NULL,
                         HELIX_TYPE_SYNC_CLIENT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "syncstatus");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_STATUS);
}

static void
helix_sync_status_init (HelixSyncStatus *self)
{
  self->box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  gtk_widget_set_margin_start (self->box, 12);
  gtk_widget_set_margin_end (self->box, 12);
  gtk_widget_set_margin_top (self->box, 6);
  gtk_widget_set_margin_bottom (self->box, 6);
  gtk_widget_add_css_class (self->box, "dim-label");
  gtk_widget_set_parent (self->box, GTK_WIDGET (self));

  self->icon = gtk_image_new ();
  gtk_widget_set_valign (self->icon, GTK_ALIGN_CENTER);
  gtk_box_append (GTK_BOX (self->box), self->icon);

  self->label = gtk_label_new (NULL);
  gtk_label_set_xalign (GTK_LABEL (self->label), 0.0);
  gtk_label_set_ellipsize (GTK_LABEL (self->label), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (self->label, "caption");
  gtk_box_append (GTK_BOX (self->box), self->label);

  gtk_widget_set_visible (GTK_WIDGET (self), FALSE);
}

GtkWidget *
helix_sync_status_new (void)
{
  return g_object_new (HELIX_TYPE_SYNC_STATUS, NULL);
}

/**
 * helix_sync_status_set_client:
 * @self: a #HelixSyncStatus
 * @client: (nullable): the client to show
 */
void
helix_sync_status_set_client (HelixSyncStatus *self,
                              HelixSyncClient *client)
{
  g_return_if_fail (HELIX_IS_SYNC_STATUS (self));
  g_return_if_fail (client == NULL || HELIX_IS_SYNC_CLIENT (client));

  if (self->client == client)
    return;

  if (self->client != NULL)
    g_signal_handlers_disconnect_by_data (self->client, self);
  g_clear_handle_id (&self->countdown_id, g_source_remove);
  g_set_object (&self->client, client);

  if (client != NULL)
    {
      g_signal_connect_swapped (client, "notify::state", G_CALLBACK (update), self);
      g_signal_connect_swapped (client, "notify::pending", G_CALLBACK (update), self);
      g_signal_connect_swapped (client, "notify::retry-at", G_CALLBACK (update), self);
      g_signal_connect_swapped (client, "notify::last-error", G_CALLBACK (update), self);
      g_signal_connect_swapped (client, "notify::gateway-uri", G_CALLBACK (update), self);
    }

  update (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CLIENT]);
}

/**
 * helix_sync_status_get_text:
 * @self: a #HelixSyncStatus
 *
 * Returns: (nullable): the line shown now, or %NULL when hidden
 */
const char *
helix_sync_status_get_text (HelixSyncStatus *self)
{
  g_return_val_if_fail (HELIX_IS_SYNC_STATUS (self), NULL);

  if (!gtk_widget_get_visible (GTK_WIDGET (self)))
    return NULL;

  return gtk_label_get_label (GTK_LABEL (self->label));
}
