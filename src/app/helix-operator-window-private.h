/* helix-operator-window-private.h: what helix-operator-*.c share, and test accessors
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-cost-chart.h"
#include "helix-checkpoint-keeper.h"
#include "helix-operator-window.h"

G_BEGIN_DECLS

/* Audit entries asked for at a time: a page of the list. */
#define HELIX_OPERATOR_AUDIT_PAGE 200
/* Recent calls shown. */
#define HELIX_OPERATOR_RECENT_CALLS 50
/* Rows a cost list shows, at most; the rest are summed in one row. */
#define HELIX_OPERATOR_MAX_COST_ROWS 40

/**
 * HelixOperatorList:
 *
 * The keyed lists of the window: rows are updated in place by key, so a
 * refresh does not lose the focus or the scroll position.
 */
typedef enum
{
  HELIX_OPERATOR_LIST_PROVIDERS,
  HELIX_OPERATOR_LIST_SINKS,
  HELIX_OPERATOR_LIST_SYNC,
  HELIX_OPERATOR_LIST_DEVICES,
  HELIX_OPERATOR_LIST_TODAY_PROVIDER,
  HELIX_OPERATOR_LIST_TODAY_MODEL,
  HELIX_OPERATOR_LIST_MONTH_PROVIDER,
  HELIX_OPERATOR_LIST_MONTH_MODEL,
  HELIX_OPERATOR_LIST_BUDGET,
  HELIX_OPERATOR_LIST_CALLS,
  HELIX_OPERATOR_N_LISTS
} HelixOperatorList;

typedef struct
{
  GtkListBox *list;
  GtkLabel   *placeholder;
  GHashTable *rows;        /* key → AdwActionRow (owned by the list) */
  guint       generation;
} HelixOperatorRows;

struct _HelixOperatorWindow
{
  AdwWindow          parent_instance;

  HelixRouter       *router;
  HelixLedger       *ledger;
  HelixBudget       *budget;
  HelixAudit        *audit;
  HelixAccount      *account;
  HelixSyncClient   *sync_client;
  HelixCheckpointKeeper *checkpoints;
  GCancellable      *cancellable;

  HelixOperatorRows  rows[HELIX_OPERATOR_N_LISTS];

  /* Refreshing */
  guint              timer_id;
  guint              soon_id;
  guint              n_pending;        /* queries on their way */
  guint              n_refreshes;      /* refreshes whose queries all answered */
  gboolean           refresh_again;
  guint              n_ticks;

  /* Audit log */
  GCancellable      *audit_cancellable;
  guint              audit_filter_id;
  guint              audit_newer_id;
  gboolean           audit_loading;
  gboolean           audit_newer_again;
  gint64             audit_newest_seq;  /* of the rows shown, or 0 */
  gint64             audit_oldest_seq;
  guint              n_audit_rows;
  guint              n_audit_loads;
  gboolean           verifying;
  guint              n_verifies;
  char              *known_checkpoint;

  /* Devices */
  GCancellable      *devices_cancellable;
  gboolean           devices_loading;

  /* The gateway, for administrators */
  GCancellable      *gateway_cancellable;
  GHashTable        *flag_rows;          /* name → HelixOperatorFlagRow */
  gboolean           gateway_loading;
  gboolean           gateway_admin;
  gboolean           gateway_verifying;
  guint              n_gateway_changes;  /* PUTs and PATCHes on their way */
  guint              n_gateway_loads;    /* answers of administrators' loads */
  guint              n_gateway_verifies;

  /* Template widgets */
  AdwViewStack         *stack;
  AdwPreferencesGroup  *providers_group;
  AdwPreferencesGroup  *sinks_group;
  AdwPreferencesGroup  *sync_group;
  AdwPreferencesGroup  *devices_group;
  AdwPreferencesGroup  *today_provider_group;
  AdwPreferencesGroup  *today_model_group;
  AdwPreferencesGroup  *month_provider_group;
  AdwPreferencesGroup  *month_model_group;
  AdwPreferencesGroup  *chart_group;
  AdwPreferencesGroup  *budget_group;
  AdwPreferencesGroup  *calls_group;
  AdwPreferencesGroup  *verify_group;
  AdwPreferencesGroup  *audit_group;
  GtkLabel             *today_total_label;
  GtkLabel             *month_total_label;
  HelixCostChart       *chart;
  AdwActionRow         *verify_row;
  GtkSpinner           *verify_spinner;
  GtkDropDown          *channel_dropdown;
  GtkSearchEntry       *audit_search;
  GtkListBox           *audit_list;
  GtkButton            *more_button;
  GtkListBox           *providers_list;
  GtkListBox           *sinks_list;
  GtkListBox           *sync_list;
  GtkListBox           *devices_list;
  GtkListBox           *today_provider_list;
  GtkListBox           *today_model_list;
  GtkListBox           *month_provider_list;
  GtkListBox           *month_model_list;
  GtkListBox           *budget_list;
  GtkListBox           *calls_list;
  AdwViewStackPage     *gateway_page;
  AdwPreferencesGroup  *gateway_group;
  AdwActionRow         *maintenance_row;
  GtkSwitch            *maintenance_switch;
  AdwActionRow         *gateway_verify_row;
  GtkSpinner           *gateway_verify_spinner;
  AdwPreferencesGroup  *flags_group;
  GtkListBox           *flags_list;
};

/* Keyed rows (helix-operator-window.c) */
void          _helix_operator_rows_init         (HelixOperatorRows   *rows,
                                                 GtkListBox          *list);
void          _helix_operator_rows_clear        (HelixOperatorRows   *rows);
void          _helix_operator_rows_begin        (HelixOperatorRows   *rows);
AdwActionRow *_helix_operator_rows_take         (HelixOperatorRows   *rows,
                                                 const char          *key,
                                                 int                  order);
void          _helix_operator_rows_end          (HelixOperatorRows   *rows,
                                                 const char          *placeholder);
void          _helix_operator_row_set_value     (AdwActionRow        *row,
                                                 const char          *value,
                                                 const char          *style);
const char   *_helix_operator_row_get_value     (AdwActionRow        *row);

/* Pending queries, for the tests' waits (helix-operator-window.c) */
void          _helix_operator_window_hold       (HelixOperatorWindow *self);
void          _helix_operator_window_release    (HelixOperatorWindow *self);

char         *_helix_operator_format_time       (gint64               time_us);

/* Costs, budget and recent calls (helix-operator-costs.c) */
void          _helix_operator_costs_refresh     (HelixOperatorWindow *self);
void          _helix_operator_costs_refresh_budget (HelixOperatorWindow *self);

/* The audit page (helix-operator-audit.c) */
void          _helix_operator_audit_init        (HelixOperatorWindow *self);
void          _helix_operator_audit_dispose     (HelixOperatorWindow *self);
void          _helix_operator_audit_set_log     (HelixOperatorWindow *self);
void          _helix_operator_audit_refresh_sinks (HelixOperatorWindow *self);
void          _helix_operator_audit_reload      (HelixOperatorWindow *self);
void          _helix_operator_audit_filter_changed (HelixOperatorWindow *self);
void          _helix_operator_audit_verify      (HelixOperatorWindow *self);
void          _helix_operator_audit_more        (HelixOperatorWindow *self);

/* Sync and devices (helix-operator-sync.c) */
void          _helix_operator_sync_refresh      (HelixOperatorWindow *self,
                                                 gboolean             devices);
void          _helix_operator_sync_dispose      (HelixOperatorWindow *self);
void          _helix_operator_sync_finalize     (HelixOperatorWindow *self);

/* The gateway, for administrators (helix-operator-gateway.c) */
void          _helix_operator_gateway_init      (HelixOperatorWindow *self);
void          _helix_operator_gateway_refresh   (HelixOperatorWindow *self);
void          _helix_operator_gateway_reset     (HelixOperatorWindow *self);
void          _helix_operator_gateway_verify    (HelixOperatorWindow *self);
void          _helix_operator_gateway_dispose   (HelixOperatorWindow *self);

/* Test accessors */
gboolean      _helix_operator_window_is_idle    (HelixOperatorWindow *self);
guint         _helix_operator_window_get_n_refreshes (HelixOperatorWindow *self);
const char   *_helix_operator_window_get_value  (HelixOperatorWindow *self,
                                                 HelixOperatorList    list,
                                                 const char          *key);
const char   *_helix_operator_window_get_subtitle (HelixOperatorWindow *self,
                                                 HelixOperatorList    list,
                                                 const char          *key);
guint         _helix_operator_window_get_n_rows (HelixOperatorWindow *self,
                                                 HelixOperatorList    list);
guint         _helix_operator_window_get_n_verifies (HelixOperatorWindow *self);
guint         _helix_operator_window_get_n_audit_loads (HelixOperatorWindow *self);
guint         _helix_operator_window_get_n_audit_rows (HelixOperatorWindow *self);
const char   *_helix_operator_window_get_verify_title (HelixOperatorWindow *self);
const char   *_helix_operator_window_get_verify_subtitle (HelixOperatorWindow *self);
GtkSwitch    *_helix_operator_window_get_flag_switch (HelixOperatorWindow *self,
                                                      const char          *name);
GtkSpinButton *_helix_operator_window_get_flag_percent (HelixOperatorWindow *self,
                                                        const char          *name);
AdwActionRow *_helix_operator_window_get_flag_row (HelixOperatorWindow *self,
                                                   const char          *name);

G_END_DECLS
