/* helix-operator-audit.c: the operator view's audit log page and webhook sinks
 *
 * The entries, newest first, a page of HELIX_OPERATOR_AUDIT_PAGE at a time,
 * filtered by channel and by text. New entries are added at the top as the
 * log announces them ("entry-added", on the main thread after each durable
 * append). Verify runs the log's verification in the background and shows
 * what it found: how many entries are intact, or the first bad one and why.
 * After an intact result, the log's latest signed checkpoint is remembered
 * for the next Verify, so a log cut short or rewritten meanwhile is caught.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-app"

#include "config.h"

#include <glib/gi18n.h>

#include "helix-operator-window-private.h"

/* Filters settle this long before the list is asked again. */
#define FILTER_DELAY_MS 250
/* New entries are fetched at most this often. */
#define NEWER_DELAY_MS 200
/* Rows kept; older ones are dropped from the end (and can be shown again). */
#define MAX_AUDIT_ROWS (5 * HELIX_OPERATOR_AUDIT_PAGE)
/* Characters of a payload shown in a row's subtitle. */
#define PAYLOAD_PREVIEW 300

typedef struct
{
  const char *channel;
  const char *name;
} Channel;

static const Channel channels[] = {
  { NULL, N_("All Channels") },
  { HELIX_AUDIT_CHANNEL_COMMANDS, N_("Commands") },
  { HELIX_AUDIT_CHANNEL_API, N_("API") },
  { HELIX_AUDIT_CHANNEL_HEARTBEAT, N_("Heartbeat") },
  { HELIX_AUDIT_CHANNEL_FILE_CHANGES, N_("File Changes") },
  { HELIX_AUDIT_CHANNEL_ASSISTANT_STATE, N_("Assistant State") },
  { HELIX_AUDIT_CHANNEL_ALERTS, N_("Alerts") },
  { HELIX_AUDIT_CHANNEL_HASH_CHAIN, N_("Hash Chain") },
};

typedef enum
{
  LOAD_RELOAD,
  LOAD_MORE,
  LOAD_NEWER,
} LoadKind;

typedef struct
{
  HelixOperatorWindow *self;
  LoadKind             kind;
} Load;

static void
load_free (Load *load)
{
  g_object_unref (load->self);
  g_free (load);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Load, load_free)

static const char *
selected_channel (HelixOperatorWindow *self)
{
  guint selected = gtk_drop_down_get_selected (self->channel_dropdown);

  return selected < G_N_ELEMENTS (channels) ? channels[selected].channel : NULL;
}

static const char *
search_text (HelixOperatorWindow *self)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->audit_search));

  return text != NULL && text[0] != '\0' ? text : NULL;
}

static GtkWidget *
new_entry_row (const HelixAuditItem *item)
{
  AdwActionRow *row = ADW_ACTION_ROW (adw_action_row_new ());
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (item->time_us / G_USEC_PER_SEC);
  g_autoptr(GDateTime) local = utc != NULL ? g_date_time_to_local (utc) : NULL;
  g_autofree char *when = local != NULL ? g_date_time_format (local, "%x %X") : g_strdup ("?");
  g_autoptr(GString) subtitle = g_string_new (NULL);

  /* Translators: an entry's number, time, channel and who did it. */
  g_string_append_printf (subtitle, _("#%" G_GINT64_FORMAT " · %s · %s · %s"),
                          item->seq, when, item->channel, item->actor);
  if (item->payload != NULL && item->payload[0] != '\0' && g_strcmp0 (item->payload, "{}") != 0)
    {
      g_string_append_c (subtitle, '\n');
      if (g_utf8_strlen (item->payload, -1) > PAYLOAD_PREVIEW)
        {
          const char *end = g_utf8_offset_to_pointer (item->payload, PAYLOAD_PREVIEW);

          g_string_append_len (subtitle, item->payload, end - item->payload);
          g_string_append (subtitle, "…");
        }
      else
        g_string_append (subtitle, item->payload);
    }

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), item->event);
  adw_action_row_set_subtitle (row, subtitle->str);
  adw_action_row_set_subtitle_lines (row, 4);

  return GTK_WIDGET (row);
}

static void
remove_all_rows (HelixOperatorWindow *self)
{
  GtkListBoxRow *row;

  while ((row = gtk_list_box_get_row_at_index (self->audit_list, 0)) != NULL)
    gtk_list_box_remove (self->audit_list, GTK_WIDGET (row));
  self->n_audit_rows = 0;
  self->audit_newest_seq = 0;
  self->audit_oldest_seq = 0;
}

/* Keeps the list to MAX_AUDIT_ROWS, dropping the oldest. */
static void
trim_rows (HelixOperatorWindow *self)
{
  while (self->n_audit_rows > MAX_AUDIT_ROWS)
    {
      GtkListBoxRow *last = gtk_list_box_get_row_at_index (self->audit_list,
                                                           self->n_audit_rows - 1);

      gtk_list_box_remove (self->audit_list, GTK_WIDGET (last));
      self->n_audit_rows--;
      gtk_widget_set_visible (GTK_WIDGET (self->more_button), TRUE);
    }
}

static void list_page (HelixOperatorWindow *self,
                       LoadKind             kind);

static void
on_listed (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(Load) load = user_data;
  HelixOperatorWindow *self = load->self;
  g_autoptr(GPtrArray) items = NULL;
  g_autoptr(GError) error = NULL;

  items = helix_audit_list_finish (HELIX_AUDIT (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  self->audit_loading = FALSE;
  if (error != NULL)
    {
      adw_preferences_group_set_description (self->audit_group, error->message);
      return;
    }
  adw_preferences_group_set_description (self->audit_group, NULL);

  switch (load->kind)
    {
    case LOAD_RELOAD:
      remove_all_rows (self);
      G_GNUC_FALLTHROUGH;

    case LOAD_MORE:
      for (guint i = 0; i < items->len; i++)
        {
          HelixAuditItem *item = g_ptr_array_index (items, i);

          gtk_list_box_append (self->audit_list, new_entry_row (item));
          self->n_audit_rows++;
          if (self->audit_newest_seq == 0)
            self->audit_newest_seq = item->seq;
          self->audit_oldest_seq = item->seq;
        }
      gtk_widget_set_visible (GTK_WIDGET (self->more_button),
                              items->len == HELIX_OPERATOR_AUDIT_PAGE);
      break;

    case LOAD_NEWER:
    default:
      {
        HelixAuditItem *oldest = items->len > 0 ? g_ptr_array_index (items, items->len - 1) : NULL;

        /* More new entries than a page: the list starts over. */
        if (items->len == HELIX_OPERATOR_AUDIT_PAGE && oldest->seq > self->audit_newest_seq + 1)
          {
            list_page (self, LOAD_RELOAD);
            return;
          }

        for (guint i = items->len; i > 0; i--)
          {
            HelixAuditItem *item = g_ptr_array_index (items, i - 1);

            if (item->seq <= self->audit_newest_seq)
              continue;
            gtk_list_box_prepend (self->audit_list, new_entry_row (item));
            self->n_audit_rows++;
            self->audit_newest_seq = item->seq;
            if (self->audit_oldest_seq == 0)
              self->audit_oldest_seq = item->seq;
          }
        trim_rows (self);
      }
      break;
    }

  self->n_audit_loads++;

  if (self->audit_newer_again)
    {
      self->audit_newer_again = FALSE;
      list_page (self, LOAD_NEWER);
    }
}

static void
list_page (HelixOperatorWindow *self,
           LoadKind             kind)
{
  HelixAuditFilter filter = { 0 };
  Load *load;

  if (self->audit == NULL)
    return;

  /* A reload replaces whatever was on its way. */
  if (kind == LOAD_RELOAD)
    {
      g_cancellable_cancel (self->audit_cancellable);
      g_clear_object (&self->audit_cancellable);
      self->audit_newer_again = FALSE;
    }
  else if (self->audit_loading)
    {
      if (kind == LOAD_NEWER)
        self->audit_newer_again = TRUE;
      return;
    }

  if (self->audit_cancellable == NULL)
    self->audit_cancellable = g_cancellable_new ();

  filter.channel = selected_channel (self);
  filter.text = search_text (self);
  filter.limit = HELIX_OPERATOR_AUDIT_PAGE;
  filter.before_seq = kind == LOAD_MORE ? self->audit_oldest_seq : 0;

  load = g_new0 (Load, 1);
  load->self = g_object_ref (self);
  load->kind = kind;
  self->audit_loading = TRUE;
  helix_audit_list_async (self->audit, &filter, self->audit_cancellable, on_listed, load);
}

/**
 * _helix_operator_audit_reload:
 * @self: an operator window
 *
 * Shows the newest page of entries that pass the filters.
 */
void
_helix_operator_audit_reload (HelixOperatorWindow *self)
{
  if (self->audit != NULL)
    list_page (self, LOAD_RELOAD);
}

void
_helix_operator_audit_more (HelixOperatorWindow *self)
{
  if (self->audit != NULL && self->audit_oldest_seq > 1)
    list_page (self, LOAD_MORE);
}

static gboolean
on_filter_settled (gpointer user_data)
{
  HelixOperatorWindow *self = user_data;

  self->audit_filter_id = 0;
  _helix_operator_audit_reload (self);

  return G_SOURCE_REMOVE;
}

void
_helix_operator_audit_filter_changed (HelixOperatorWindow *self)
{
  if (self->audit == NULL)
    return;

  g_clear_handle_id (&self->audit_filter_id, g_source_remove);
  self->audit_filter_id = g_timeout_add (FILTER_DELAY_MS, on_filter_settled, self);
}

static gboolean
on_newer (gpointer user_data)
{
  HelixOperatorWindow *self = user_data;

  self->audit_newer_id = 0;
  list_page (self, LOAD_NEWER);

  return G_SOURCE_REMOVE;
}

static void
on_entry_added (HelixAudit          *audit,
                gint64               seq,
                const char          *channel,
                const char          *event,
                HelixOperatorWindow *self)
{
  const char *wanted = selected_channel (self);

  /* An entry of another channel cannot pass the filter. */
  if (wanted != NULL && g_strcmp0 (wanted, channel) != 0)
    return;

  if (self->audit_newer_id == 0)
    self->audit_newer_id = g_timeout_add (NEWER_DELAY_MS, on_newer, self);
}

/* Verify {{{1 */

static char *
describe_problem (const HelixAuditReport *report)
{
  switch (report->problem)
    {
    case HELIX_AUDIT_OK:
      return NULL;
    case HELIX_AUDIT_BAD_ENTRY:
      /* Translators: %ld is an entry's number. */
      return g_strdup_printf (_("Entry %" G_GINT64_FORMAT " does not match the chain: it was "
                                "edited, inserted, deleted or moved"), report->seq);
    case HELIX_AUDIT_BAD_SEQUENCE:
      return g_strdup_printf (_("Entry %" G_GINT64_FORMAT " is out of sequence"), report->seq);
    case HELIX_AUDIT_TRUNCATED:
      return g_strdup_printf (_("A checkpoint covers %" G_GINT64_FORMAT " entries, but the log "
                                "is shorter: entries were removed"), report->seq);
    case HELIX_AUDIT_REWRITTEN:
      return g_strdup_printf (_("The log does not have the head its checkpoint at entry "
                                "%" G_GINT64_FORMAT " signed: it was rewritten"), report->seq);
    case HELIX_AUDIT_BAD_SIGNATURE:
      return g_strdup_printf (_("The checkpoint at entry %" G_GINT64_FORMAT " is not signed by "
                                "this install’s key"), report->seq);
    case HELIX_AUDIT_ROLLED_BACK:
    default:
      return g_strdup_printf (_("The log’s newest checkpoint (entry %" G_GINT64_FORMAT ") is "
                                "older than one seen before: it was rolled back"), report->seq);
    }
}

static void
show_verify_result (HelixOperatorWindow *self,
                    const char          *title,
                    const char          *subtitle,
                    const char          *style)
{
  GtkWidget *row = GTK_WIDGET (self->verify_row);

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->verify_row), title);
  adw_action_row_set_subtitle (self->verify_row, subtitle != NULL ? subtitle : "");
  gtk_widget_remove_css_class (row, "success");
  gtk_widget_remove_css_class (row, "error");
  if (style != NULL)
    gtk_widget_add_css_class (row, style);
  gtk_accessible_update_property (GTK_ACCESSIBLE (row),
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  subtitle != NULL ? subtitle : "",
                                  -1);
}

static void
set_verifying (HelixOperatorWindow *self,
               gboolean             verifying)
{
  self->verifying = verifying;
  gtk_widget_set_visible (GTK_WIDGET (self->verify_spinner), verifying);
  gtk_spinner_set_spinning (self->verify_spinner, verifying);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "operator.verify",
                                 !verifying && self->audit != NULL);
}

static void
on_verified (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(HelixOperatorWindow) self = user_data;
  g_auto(HelixAuditReport) report = { 0 };
  g_autoptr(GError) error = NULL;

  if (!helix_audit_verify_finish (HELIX_AUDIT (object), result, &report, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      set_verifying (self, FALSE);
      show_verify_result (self, _("Could Not Verify"), error->message, "error");
      self->n_verifies++;
      return;
    }

  set_verifying (self, FALSE);
  self->n_verifies++;

  if (report.problem == HELIX_AUDIT_OK)
    {
      g_autofree char *subtitle = NULL;
      g_autofree char *head = NULL;

      head = g_strdup_printf ("%02x%02x%02x%02x%02x%02x%02x%02x", report.head[0], report.head[1],
                              report.head[2], report.head[3], report.head[4], report.head[5],
                              report.head[6], report.head[7]);
      subtitle = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                               "%" G_GINT64_FORMAT " entry checked; the chain is "
                                               "intact (head %s…)",
                                               "%" G_GINT64_FORMAT " entries checked; the chain is "
                                               "intact (head %s…)",
                                               report.n_entries),
                                  report.n_entries, head);
      show_verify_result (self, _("Intact"), subtitle, "success");

      /* What was proven now is the baseline of the next Verify. */
      g_free (self->known_checkpoint);
      self->known_checkpoint = helix_audit_dup_latest_checkpoint (HELIX_AUDIT (object));
    }
  else
    {
      g_autofree char *problem = describe_problem (&report);
      g_autofree char *subtitle = NULL;

      if (report.message != NULL && report.message[0] != '\0')
        subtitle = g_strdup_printf ("%s\n%s", problem, report.message);
      else
        subtitle = g_steal_pointer (&problem);
      show_verify_result (self, _("Altered"), subtitle, "error");
    }
}

void
_helix_operator_audit_verify (HelixOperatorWindow *self)
{
  if (self->audit == NULL || self->verifying)
    return;

  set_verifying (self, TRUE);
  show_verify_result (self, _("Verifying…"), NULL, NULL);
  helix_audit_verify_async (self->audit, self->known_checkpoint, self->cancellable, on_verified,
                            g_object_ref (self));
}

/* Webhook sinks {{{1 */

void
_helix_operator_audit_refresh_sinks (HelixOperatorWindow *self)
{
  HelixOperatorRows *rows = &self->rows[HELIX_OPERATOR_LIST_SINKS];
  g_autoptr(GPtrArray) sinks = NULL;

  _helix_operator_rows_begin (rows);

  if (self->audit == NULL)
    {
      _helix_operator_rows_end (rows,
                                _("No audit log in this view: webhook delivery is not known."));
      return;
    }

  /* Kept in memory by the queue: no waiting. */
  sinks = helix_audit_list_sinks (self->audit);
  for (guint i = 0; sinks != NULL && i < sinks->len; i++)
    {
      HelixAuditSinkStatus *sink = g_ptr_array_index (sinks, i);
      AdwActionRow *row = _helix_operator_rows_take (rows, sink->name, i);
      g_autofree char *routed = sink->channels != NULL ? g_strjoinv (", ", sink->channels) : NULL;
      g_autoptr(GString) subtitle = g_string_new (sink->url);
      g_autofree char *value = NULL;

      if (routed != NULL && routed[0] != '\0')
        {
          g_string_append (subtitle, "\n");
          /* Translators: %s lists audit channels. */
          g_string_append_printf (subtitle, _("Channels: %s"), routed);
        }
      if (sink->last_error != NULL)
        {
          g_string_append (subtitle, "\n");
          /* Translators: %s is why a webhook delivery failed. */
          g_string_append_printf (subtitle, _("Last error: %s"), sink->last_error);
        }

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), sink->name);
      adw_action_row_set_subtitle (row, subtitle->str);

      if (sink->pending > 0)
        value = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u queued", "%u queued",
                                              sink->pending),
                                 sink->pending);
      if (sink->failing)
        {
          g_autofree char *failing = value != NULL ? g_strdup_printf (_("Failing · %s"), value)
                                                   : g_strdup (_("Failing"));

          _helix_operator_row_set_value (row, failing, "error");
        }
      else if (value != NULL)
        _helix_operator_row_set_value (row, value, sink->last_error != NULL ? "warning" : NULL);
      else
        _helix_operator_row_set_value (row, _("Delivered"), "success");
    }

  _helix_operator_rows_end (rows, _("No webhook sinks: the audit log stays on this computer."));
}

/* Set up {{{1 */

void
_helix_operator_audit_init (HelixOperatorWindow *self)
{
  g_autoptr(GtkStringList) names = gtk_string_list_new (NULL);
  GtkWidget *placeholder;

  for (guint i = 0; i < G_N_ELEMENTS (channels); i++)
    gtk_string_list_append (names, _(channels[i].name));
  gtk_drop_down_set_model (self->channel_dropdown, G_LIST_MODEL (names));

  placeholder = gtk_label_new (_("No entries"));
  gtk_widget_add_css_class (placeholder, "dim-label");
  gtk_widget_set_margin_top (placeholder, 12);
  gtk_widget_set_margin_bottom (placeholder, 12);
  gtk_list_box_set_placeholder (self->audit_list, placeholder);
}

/* Called once the construct properties are set. */
void
_helix_operator_audit_set_log (HelixOperatorWindow *self)
{
  set_verifying (self, FALSE);

  if (self->audit == NULL)
    {
      const char *missing = _("No audit log in this view.");

      adw_preferences_group_set_description (self->verify_group, missing);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->verify_row), _("Not available"));
      gtk_widget_set_sensitive (GTK_WIDGET (self->channel_dropdown), FALSE);
      gtk_widget_set_sensitive (GTK_WIDGET (self->audit_search), FALSE);
      return;
    }

  g_signal_connect_object (self->audit, "entry-added", G_CALLBACK (on_entry_added), self,
                           G_CONNECT_DEFAULT);
  list_page (self, LOAD_RELOAD);
}

void
_helix_operator_audit_dispose (HelixOperatorWindow *self)
{
  if (self->audit != NULL)
    g_signal_handlers_disconnect_by_data (self->audit, self);
  g_cancellable_cancel (self->audit_cancellable);
  g_clear_object (&self->audit_cancellable);
  g_clear_handle_id (&self->audit_filter_id, g_source_remove);
  g_clear_handle_id (&self->audit_newer_id, g_source_remove);
}

/* Test accessors */

guint
_helix_operator_window_get_n_verifies (HelixOperatorWindow *self)
{
  return self->n_verifies;
}

guint
_helix_operator_window_get_n_audit_loads (HelixOperatorWindow *self)
{
  return self->n_audit_loads;
}

guint
_helix_operator_window_get_n_audit_rows (HelixOperatorWindow *self)
{
  return self->n_audit_rows;
}

const char *
_helix_operator_window_get_verify_title (HelixOperatorWindow *self)
{
  return adw_preferences_row_get_title (ADW_PREFERENCES_ROW (self->verify_row));
}

const char *
_helix_operator_window_get_verify_subtitle (HelixOperatorWindow *self)
{
  return adw_action_row_get_subtitle (self->verify_row);
}
