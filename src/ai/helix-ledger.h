/* helix-ledger.h: the record of every routed AI call and what it cost
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "helix-budget.h"
#include "helix-router.h"

G_BEGIN_DECLS

/**
 * HelixLedgerGroup:
 * @HELIX_LEDGER_GROUP_DAY: by calendar day (UTC), keys "YYYY-MM-DD"
 * @HELIX_LEDGER_GROUP_PROVIDER: by provider
 * @HELIX_LEDGER_GROUP_MODEL: by "provider/model"
 * @HELIX_LEDGER_GROUP_USER: by user
 * @HELIX_LEDGER_GROUP_OPERATION: by operation
 * @HELIX_LEDGER_GROUP_LOCAL_DAY: by calendar day in the process's local time
 *   (as the desktop's budget counts days), keys "YYYY-MM-DD"
 */
typedef enum
{
  HELIX_LEDGER_GROUP_DAY,
  HELIX_LEDGER_GROUP_PROVIDER,
  HELIX_LEDGER_GROUP_MODEL,
  HELIX_LEDGER_GROUP_USER,
  HELIX_LEDGER_GROUP_OPERATION,
  HELIX_LEDGER_GROUP_LOCAL_DAY,
} HelixLedgerGroup;

/**
 * HelixLedgerTotal:
 * @key: the group's key
 * @calls: calls
 * @failures: calls that gave no complete answer
 * @input_tokens: input tokens
 * @output_tokens: output tokens
 * @cost_usd: what they cost
 *
 * One line of helix_ledger_query_totals_finish().
 */
typedef struct
{
  char   *key;
  gint64  calls;
  gint64  failures;
  gint64  input_tokens;
  gint64  output_tokens;
  double  cost_usd;
} HelixLedgerTotal;

/**
 * HelixLedgerEntry:
 * @time_us: when the call ended, µs since the Unix epoch
 * @user: who asked
 * @session_id: (nullable): the chat session
 * @operation: the operation
 * @provider: (nullable): the provider of the last attempt
 * @model: (nullable): its model
 * @input_tokens: input tokens
 * @output_tokens: output tokens
 * @cost_usd: cost
 * @latency_us: duration of the whole call
 * @first_token_us: time to the first text, or -1
 * @attempts: calls made to providers
 * @outcome: "ok", "failed" or "partial"
 * @error: (nullable): why it failed
 * @reason: (nullable): why the model was chosen
 *
 * One call, as helix_ledger_list_recent_finish() gives it.
 */
typedef struct
{
  gint64  time_us;
  char   *user;
  char   *session_id;
  char   *operation;
  char   *provider;
  char   *model;
  gint64  input_tokens;
  gint64  output_tokens;
  double  cost_usd;
  gint64  latency_us;
  gint64  first_token_us;
  guint   attempts;
  char   *outcome;
  char   *error;
  char   *reason;
} HelixLedgerEntry;

void helix_ledger_total_free (HelixLedgerTotal *total);
void helix_ledger_entry_free (HelixLedgerEntry *entry);

#define HELIX_TYPE_LEDGER (helix_ledger_get_type ())

G_DECLARE_FINAL_TYPE (HelixLedger, helix_ledger, HELIX, LEDGER, GObject)

HelixLedger *helix_ledger_open                (const char           *path,
                                               GError              **error);
const char  *helix_ledger_get_path            (HelixLedger          *self);
void         helix_ledger_close               (HelixLedger          *self);

void         helix_ledger_attach              (HelixLedger          *self,
                                               HelixRouter          *router);
void         helix_ledger_record              (HelixLedger          *self,
                                               const HelixRouterResult *result,
                                               gint64                time_us);
gboolean     helix_ledger_flush               (HelixLedger          *self,
                                               GError              **error);

gboolean     helix_ledger_load_budget         (HelixLedger          *self,
                                               HelixBudget          *budget,
                                               gint64                now_us,
                                               GError              **error);

void         helix_ledger_query_totals_async  (HelixLedger          *self,
                                               HelixLedgerGroup      group,
                                               const char           *user,
                                               gint64                since_us,
                                               gint64                until_us,
                                               GCancellable         *cancellable,
                                               GAsyncReadyCallback   callback,
                                               gpointer              user_data);
GPtrArray   *helix_ledger_query_totals_finish (HelixLedger          *self,
                                               GAsyncResult         *result,
                                               GError              **error);
void         helix_ledger_list_recent_async   (HelixLedger          *self,
                                               const char           *user,
                                               guint                 limit,
                                               GCancellable         *cancellable,
                                               GAsyncReadyCallback   callback,
                                               gpointer              user_data);
GPtrArray   *helix_ledger_list_recent_finish  (HelixLedger          *self,
                                               GAsyncResult         *result,
                                               GError              **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixLedgerTotal, helix_ledger_total_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixLedgerEntry, helix_ledger_entry_free)

G_END_DECLS
