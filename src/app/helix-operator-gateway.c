/* helix-operator-gateway.c: the operator view's Gateway page, for administrators
 *
 * When the account is an administrator of its gateway: the gateway's
 * maintenance mode, its feature flags with their roll-out, and a check of
 * the gateway's audit log against the checkpoint this device kept
 * (PROTOCOL.md §12, through HelixAccount). Whether the account is one is
 * found out by asking for the maintenance mode: the gateway answers 403 to
 * anyone else, and the page stays hidden.
 *
 * A switch changes only when the gateway says the change took effect: the
 * maintenance switch holds its state until the PUT is answered and goes back
 * if it fails; a flag's switch and percent are sent one change at a time and
 * show what the gateway answered. Killed flags cannot be changed here (their
 * kill comes from the configuration or the environment) and say so.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-operator-window-private.h"

/* As the template has it. */
#define FLAGS_DESCRIPTION \
  _("Which features the gateway’s users get, and the share of users each is rolled out to.")

typedef struct
{
  HelixOperatorWindow *self;     /* unowned: the window owns this */
  char                *name;
  AdwActionRow        *row;      /* owned by flags_list */
  GtkSwitch           *toggle;
  GtkSpinButton       *percent;
  HelixAccountFlag    *known;    /* what the gateway last said */
  gboolean             sending;
  gboolean             again;    /* changed while sending */
} HelixOperatorFlagRow;

static gboolean
signed_in (HelixOperatorWindow *self)
{
  return self->account != NULL && helix_account_get_signed_in (self->account);
}

static GCancellable *
get_cancellable (HelixOperatorWindow *self)
{
  if (self->gateway_cancellable == NULL)
    self->gateway_cancellable = g_cancellable_new ();

  return self->gateway_cancellable;
}

static void
set_admin (HelixOperatorWindow *self,
           gboolean             admin)
{
  self->gateway_admin = admin;
  adw_view_stack_page_set_visible (self->gateway_page, admin);
}

/* Flags {{{1 */

static void on_flag_toggled (HelixOperatorFlagRow *flag_row);
static void on_flag_percent_changed (HelixOperatorFlagRow *flag_row);

static void
flag_row_free (HelixOperatorFlagRow *flag_row)
{
  g_signal_handlers_disconnect_by_data (flag_row->toggle, flag_row);
  g_signal_handlers_disconnect_by_data (flag_row->percent, flag_row);
  gtk_list_box_remove (flag_row->self->flags_list, GTK_WIDGET (flag_row->row));
  g_clear_pointer (&flag_row->known, helix_account_flag_free);
  g_free (flag_row->name);
  g_free (flag_row);
}

static const char *
describe_source (const char *source)
{
  if (g_strcmp0 (source, "config") == 0)
    return _("set in the gateway’s configuration");
  if (g_strcmp0 (source, "runtime") == 0)
    return _("set here at run time");

  return _("the default");
}

/* Shows @flag in its row, without sending anything. */
static void
show_flag (HelixOperatorFlagRow   *flag_row,
           const HelixAccountFlag *flag)
{
  g_autoptr(GString) subtitle = g_string_new (NULL);

  g_signal_handlers_block_by_func (flag_row->toggle, on_flag_toggled, flag_row);
  g_signal_handlers_block_by_func (flag_row->percent, on_flag_percent_changed, flag_row);
  gtk_switch_set_active (flag_row->toggle, flag->enabled);
  gtk_spin_button_set_value (flag_row->percent, flag->percent);
  g_signal_handlers_unblock_by_func (flag_row->percent, on_flag_percent_changed, flag_row);
  g_signal_handlers_unblock_by_func (flag_row->toggle, on_flag_toggled, flag_row);

  gtk_widget_set_sensitive (GTK_WIDGET (flag_row->toggle), !flag->killed);
  gtk_widget_set_sensitive (GTK_WIDGET (flag_row->percent), !flag->killed);

  if (flag->killed && g_strcmp0 (flag->killed_by, "environment") == 0)
    /* Translators: %s is the name of an environment variable. */
    g_string_append_printf (subtitle, _("Off for everyone: killed by %s in the gateway’s "
                                        "environment"),
                            flag->kill_variable != NULL ? flag->kill_variable : "?");
  else if (flag->killed)
    g_string_append (subtitle, _("Off for everyone: killed in the gateway’s configuration"));
  else if (!flag->enabled)
    /* Translators: %s says where the setting comes from, such as "the default". */
    g_string_append_printf (subtitle, _("Off · %s"), describe_source (flag->source));
  else
    /* Translators: %u is a percentage, %s where the setting comes from. */
    g_string_append_printf (subtitle, _("On for %u %% of users · %s"), flag->percent,
                            describe_source (flag->source));

  if (flag->changed_us > 0)
    {
      g_autofree char *when = _helix_operator_format_time (flag->changed_us);

      /* Translators: %s is a time. */
      g_string_append_printf (subtitle, _(" · changed %s"), when);
    }

  adw_action_row_set_subtitle (flag_row->row, subtitle->str);

  if (flag_row->known != flag)
    {
      g_clear_pointer (&flag_row->known, helix_account_flag_free);
      flag_row->known = g_new0 (HelixAccountFlag, 1);
      *flag_row->known = *flag;
      flag_row->known->name = g_strdup (flag->name);
      flag_row->known->killed_by = g_strdup (flag->killed_by);
      flag_row->known->kill_variable = g_strdup (flag->kill_variable);
      flag_row->known->source = g_strdup (flag->source);
    }
}

static HelixOperatorFlagRow *
take_flag_row (HelixOperatorWindow *self,
               const char          *name)
{
  HelixOperatorFlagRow *flag_row = g_hash_table_lookup (self->flag_rows, name);

  if (flag_row != NULL)
    return flag_row;

  flag_row = g_new0 (HelixOperatorFlagRow, 1);
  flag_row->self = self;
  flag_row->name = g_strdup (name);
  flag_row->row = ADW_ACTION_ROW (adw_action_row_new ());
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (flag_row->row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (flag_row->row), name);
  adw_action_row_set_subtitle_lines (flag_row->row, 3);

  flag_row->percent = GTK_SPIN_BUTTON (gtk_spin_button_new_with_range (0, 100, 1));
  gtk_spin_button_set_digits (flag_row->percent, 0);
  gtk_spin_button_set_numeric (flag_row->percent, TRUE);
  gtk_widget_set_valign (GTK_WIDGET (flag_row->percent), GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (GTK_WIDGET (flag_row->percent),
                               _("Percent of users who get it"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (flag_row->percent),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Roll-out in percent"), -1);
  adw_action_row_add_suffix (flag_row->row, GTK_WIDGET (flag_row->percent));

  flag_row->toggle = GTK_SWITCH (gtk_switch_new ());
  gtk_widget_set_valign (GTK_WIDGET (flag_row->toggle), GTK_ALIGN_CENTER);
  gtk_accessible_update_property (GTK_ACCESSIBLE (flag_row->toggle),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Enabled"), -1);
  adw_action_row_add_suffix (flag_row->row, GTK_WIDGET (flag_row->toggle));
  adw_action_row_set_activatable_widget (flag_row->row, GTK_WIDGET (flag_row->toggle));

  g_signal_connect_swapped (flag_row->toggle, "notify::active", G_CALLBACK (on_flag_toggled),
                            flag_row);
  g_signal_connect_swapped (flag_row->percent, "value-changed",
                            G_CALLBACK (on_flag_percent_changed), flag_row);

  gtk_list_box_append (self->flags_list, GTK_WIDGET (flag_row->row));
  g_hash_table_insert (self->flag_rows, g_strdup (name), flag_row);

  return flag_row;
}

typedef struct
{
  HelixOperatorWindow *self;
  char                *name;
} Patch;

static void
patch_free (Patch *patch)
{
  g_object_unref (patch->self);
  g_free (patch->name);
  g_free (patch);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Patch, patch_free)

static void send_flag (HelixOperatorFlagRow *flag_row);

static void
on_flag_patched (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(Patch) patch = user_data;
  HelixOperatorWindow *self = patch->self;
  g_autoptr(HelixAccountFlag) flag = NULL;
  g_autoptr(GError) error = NULL;
  HelixOperatorFlagRow *flag_row;

  flag = helix_account_patch_flag_finish (HELIX_ACCOUNT (object), result, &error);
  /* Cancelled: the account changed, and the count with it. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  self->n_gateway_changes--;

  flag_row = g_hash_table_lookup (self->flag_rows, patch->name);
  if (flag_row == NULL)
    return;

  flag_row->sending = FALSE;
  if (error != NULL)
    {
      /* The flag stays as the gateway last said. */
      flag_row->again = FALSE;
      if (flag_row->known != NULL)
        show_flag (flag_row, flag_row->known);
      adw_preferences_group_set_description (self->flags_group, error->message);
      return;
    }

  adw_preferences_group_set_description (self->flags_group, FLAGS_DESCRIPTION);
  if (flag_row->again)
    {
      /* What was changed meanwhile goes next; the widgets keep it. */
      flag_row->again = FALSE;
      g_clear_pointer (&flag_row->known, helix_account_flag_free);
      flag_row->known = g_steal_pointer (&flag);
      send_flag (flag_row);
      return;
    }

  show_flag (flag_row, flag);
}

/* Sends what the row's widgets say, one PATCH at a time. */
static void
send_flag (HelixOperatorFlagRow *flag_row)
{
  HelixOperatorWindow *self = flag_row->self;
  Patch *patch;

  if (!signed_in (self))
    return;

  if (flag_row->sending)
    {
      flag_row->again = TRUE;
      return;
    }

  patch = g_new0 (Patch, 1);
  patch->self = g_object_ref (self);
  patch->name = g_strdup (flag_row->name);
  flag_row->sending = TRUE;
  self->n_gateway_changes++;
  helix_account_patch_flag_async (self->account, flag_row->name,
                                  gtk_switch_get_active (flag_row->toggle) ? 1 : 0,
                                  gtk_spin_button_get_value_as_int (flag_row->percent),
                                  get_cancellable (self), on_flag_patched, patch);
}

static void
on_flag_toggled (HelixOperatorFlagRow *flag_row)
{
  send_flag (flag_row);
}

static void
on_flag_percent_changed (HelixOperatorFlagRow *flag_row)
{
  send_flag (flag_row);
}

static void
on_flags (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(HelixOperatorWindow) self = user_data;
  g_autoptr(GPtrArray) flags = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) listed = NULL;
  GHashTableIter iter;
  gpointer key;

  flags = helix_account_list_flags_finish (HELIX_ACCOUNT (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  self->gateway_loading = FALSE;
  self->n_gateway_loads++;
  if (error != NULL)
    {
      adw_preferences_group_set_description (self->flags_group, error->message);
      return;
    }

  adw_preferences_group_set_description (self->flags_group, FLAGS_DESCRIPTION);
  listed = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < flags->len; i++)
    {
      HelixAccountFlag *flag = g_ptr_array_index (flags, i);
      HelixOperatorFlagRow *flag_row = take_flag_row (self, flag->name);

      g_hash_table_add (listed, flag->name);
      /* A change on its way wins over an older list. */
      if (!flag_row->sending)
        show_flag (flag_row, flag);
    }

  g_hash_table_iter_init (&iter, self->flag_rows);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      if (!g_hash_table_contains (listed, key))
        g_hash_table_iter_remove (&iter);
    }
}

/* Maintenance {{{1 */

static void
show_maintenance (HelixOperatorWindow *self,
                  gboolean             maintenance)
{
  g_signal_handlers_block_matched (self->maintenance_switch, G_SIGNAL_MATCH_DATA, 0, 0, NULL,
                                   NULL, self);
  gtk_switch_set_active (self->maintenance_switch, maintenance);
  gtk_switch_set_state (self->maintenance_switch, maintenance);
  g_signal_handlers_unblock_matched (self->maintenance_switch, G_SIGNAL_MATCH_DATA, 0, 0, NULL,
                                     NULL, self);
  adw_action_row_set_subtitle (self->maintenance_row,
                               maintenance
                               ? _("On: users cannot change anything until you switch it off")
                               : _("Refuse new changes from users while you work on the "
                                   "gateway"));
}

static void
on_maintenance_set (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(HelixOperatorWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  gboolean maintenance = FALSE;

  helix_account_maintenance_finish (HELIX_ACCOUNT (object), result, &maintenance, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  self->n_gateway_changes--;

  if (error != NULL)
    {
      /* The switch goes back to what the gateway still has. */
      show_maintenance (self, gtk_switch_get_state (self->maintenance_switch));
      adw_action_row_set_subtitle (self->maintenance_row, error->message);
      return;
    }

  show_maintenance (self, maintenance);
}

/* The switch was flipped: its state follows when the gateway agrees. */
static gboolean
on_maintenance_state_set (HelixOperatorWindow *self,
                          gboolean             maintenance,
                          GtkSwitch           *toggle)
{
  if (!signed_in (self))
    return FALSE;

  self->n_gateway_changes++;
  helix_account_set_maintenance_async (self->account, maintenance, get_cancellable (self),
                                       on_maintenance_set, g_object_ref (self));

  return TRUE;
}

static void
on_maintenance (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(HelixOperatorWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  gboolean maintenance = FALSE;

  helix_account_maintenance_finish (HELIX_ACCOUNT (object), result, &maintenance, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  if (g_error_matches (error, HELIX_ACCOUNT_ERROR, HELIX_ACCOUNT_ERROR_FORBIDDEN))
    {
      /* Not an administrator: nothing to show. */
      self->gateway_loading = FALSE;
      self->n_gateway_loads++;
      set_admin (self, FALSE);
      return;
    }

  if (error != NULL)
    {
      /* Unreachable for now: an administrator's page says why, and stays. */
      self->gateway_loading = FALSE;
      self->n_gateway_loads++;
      if (self->gateway_admin)
        adw_preferences_group_set_description (self->gateway_group, error->message);
      return;
    }

  set_admin (self, TRUE);
  adw_preferences_group_set_description (self->gateway_group,
                                         _("You administer this gateway: what you change here "
                                           "applies to all its users."));
  /* A switch on its way wins over an older answer. */
  if (self->n_gateway_changes == 0)
    show_maintenance (self, maintenance);

  helix_account_list_flags_async (self->account, get_cancellable (self), on_flags,
                                  g_object_ref (self));
}

/* Verifying {{{1 */

/* What the gateway found, in words (PROTOCOL.md §12), or @problem itself. */
static const char *
describe_problem (const char *problem)
{
  static const struct { const char *code; const char *text; } problems[] = {
    { "bad_entry", N_("Entry altered") },
    { "bad_sequence", N_("Entries out of sequence") },
    { "truncated", N_("Log cut short") },
    { "rewritten", N_("Log rewritten") },
    { "bad_signature", N_("Signature not valid") },
    { "rolled_back", N_("Log rolled back") },
  };

  for (guint i = 0; i < G_N_ELEMENTS (problems); i++)
    {
      if (g_str_equal (problem, problems[i].code))
        return _(problems[i].text);
    }

  return problem;
}

static void
on_verified (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(HelixOperatorWindow) self = user_data;
  g_autoptr(HelixAccountAuditReport) report = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *subtitle = NULL;
  GtkWidget *row;

  report = helix_account_verify_audit_finish (HELIX_ACCOUNT (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  self->gateway_verifying = FALSE;
  self->n_gateway_verifies++;
  gtk_spinner_stop (self->gateway_verify_spinner);
  row = GTK_WIDGET (self->gateway_verify_row);
  gtk_widget_remove_css_class (row, "success");
  gtk_widget_remove_css_class (row, "error");

  if (error != NULL)
    {
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row),
                                     _("The Gateway’s Audit Log Could Not Be Verified"));
      adw_action_row_set_subtitle (self->gateway_verify_row, error->message);
      return;
    }

  if (report->ok)
    {
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row),
                                     _("The Gateway’s Audit Log Is Intact"));
      subtitle = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                               "%" G_GINT64_FORMAT " entry checked",
                                               "%" G_GINT64_FORMAT " entries checked",
                                               report->entries),
                                  report->entries);
      gtk_widget_add_css_class (row, "success");
    }
  else
    {
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row),
                                     _("The Gateway’s Audit Log Was Altered"));
      /* Translators: what is wrong ("Log rolled back", …), an entry's number, and the gateway's words. */
      subtitle = g_strdup_printf (_("%s at entry %" G_GINT64_FORMAT ": %s"),
                                  describe_problem (report->problem), report->seq,
                                  report->message != NULL ? report->message : report->problem);
      gtk_widget_add_css_class (row, "error");
    }

  adw_action_row_set_subtitle (self->gateway_verify_row, subtitle);
}

/**
 * _helix_operator_gateway_verify:
 * @self: an operator window
 *
 * Has the gateway check its audit log against the checkpoint this device
 * kept, if any (POST /api/v1/audit/verify).
 */
void
_helix_operator_gateway_verify (HelixOperatorWindow *self)
{
  g_autofree char *note = NULL;

  if (self->gateway_verifying || !signed_in (self) || !self->gateway_admin)
    return;

  if (self->checkpoints != NULL)
    note = helix_checkpoint_keeper_dup_checkpoint (self->checkpoints);

  self->gateway_verifying = TRUE;
  gtk_spinner_start (self->gateway_verify_spinner);
  adw_action_row_set_subtitle (self->gateway_verify_row,
                               note != NULL
                               ? _("Checking against the checkpoint this device kept…")
                               : _("Checking; this device has kept no checkpoint yet…"));
  helix_account_verify_audit_async (self->account, note, get_cancellable (self), on_verified,
                                    g_object_ref (self));
}

/* The page {{{1 */

/**
 * _helix_operator_gateway_refresh:
 * @self: an operator window
 *
 * Asks the gateway whether the account administers it and, if so, for its
 * maintenance mode and flags.
 */
void
_helix_operator_gateway_refresh (HelixOperatorWindow *self)
{
  if (!signed_in (self))
    {
      _helix_operator_gateway_reset (self);
      return;
    }

  if (self->gateway_loading)
    return;

  self->gateway_loading = TRUE;
  helix_account_get_maintenance_async (self->account, get_cancellable (self), on_maintenance,
                                       g_object_ref (self));
}

/**
 * _helix_operator_gateway_reset:
 * @self: an operator window
 *
 * Forgets what another account (or none) showed: hides the page and stops
 * what was on its way.
 */
void
_helix_operator_gateway_reset (HelixOperatorWindow *self)
{
  g_cancellable_cancel (self->gateway_cancellable);
  g_clear_object (&self->gateway_cancellable);
  self->gateway_loading = FALSE;
  self->gateway_verifying = FALSE;
  self->n_gateway_changes = 0;
  if (self->flag_rows == NULL)
    return;

  gtk_spinner_stop (self->gateway_verify_spinner);
  g_hash_table_remove_all (self->flag_rows);
  set_admin (self, FALSE);
}

void
_helix_operator_gateway_init (HelixOperatorWindow *self)
{
  self->flag_rows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify) flag_row_free);
  g_signal_connect_swapped (self->maintenance_switch, "state-set",
                            G_CALLBACK (on_maintenance_state_set), self);
}

/* Before the template goes: the rows' handlers point at what is freed here. */
void
_helix_operator_gateway_dispose (HelixOperatorWindow *self)
{
  g_cancellable_cancel (self->gateway_cancellable);
  g_clear_object (&self->gateway_cancellable);
  g_clear_pointer (&self->flag_rows, g_hash_table_unref);
}

/* Test accessors {{{1 */

AdwActionRow *
_helix_operator_window_get_flag_row (HelixOperatorWindow *self,
                                     const char          *name)
{
  HelixOperatorFlagRow *flag_row = g_hash_table_lookup (self->flag_rows, name);

  return flag_row != NULL ? flag_row->row : NULL;
}

GtkSwitch *
_helix_operator_window_get_flag_switch (HelixOperatorWindow *self,
                                        const char          *name)
{
  HelixOperatorFlagRow *flag_row = g_hash_table_lookup (self->flag_rows, name);

  return flag_row != NULL ? flag_row->toggle : NULL;
}

GtkSpinButton *
_helix_operator_window_get_flag_percent (HelixOperatorWindow *self,
                                         const char          *name)
{
  HelixOperatorFlagRow *flag_row = g_hash_table_lookup (self->flag_rows, name);

  return flag_row != NULL ? flag_row->percent : NULL;
}
