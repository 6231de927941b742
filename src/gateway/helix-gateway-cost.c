/* helix-gateway-cost.c: what the AI router's calls cost (/api/v1/operations/cost)
 *
 *   GET /api/v1/operations/cost?from=YYYY-MM-DD&to=YYYY-MM-DD&group=G[&user=NAME]
 *
 * Totals of the ledger between two UTC days (both included, at most 366
 * days), grouped by day, provider, model, operation or user. A user sees
 * their own calls only; an administrator may ask for anyone's (user=NAME),
 * for everyone's (no user), and for the totals per user (group=user).
 * The query runs in the ledger's worker thread, never on the main loop.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "helix-gateway-private.h"

#define COST_PATH "/api/v1/operations/cost"

/* The longest range one query may cover, in days. */
#define MAX_DAYS 366

static const struct
{
  const char       *name;
  HelixLedgerGroup  group;
} groups[] = {
  { "day", HELIX_LEDGER_GROUP_DAY },
  { "provider", HELIX_LEDGER_GROUP_PROVIDER },
  { "model", HELIX_LEDGER_GROUP_MODEL },
  { "operation", HELIX_LEDGER_GROUP_OPERATION },
  { "user", HELIX_LEDGER_GROUP_USER },
};

/* A day as YYYY-MM-DD, exactly; midnight UTC. */
static GDateTime *
parse_day (const char *text)
{
  int year, month, day;

  if (text == NULL || strlen (text) != 10 || text[4] != '-' || text[7] != '-')
    return NULL;

  for (guint i = 0; i < 10; i++)
    if (i != 4 && i != 7 && !g_ascii_isdigit (text[i]))
      return NULL;

  year = atoi (text);
  month = atoi (text + 5);
  day = atoi (text + 8);
  if (year < 1970 || !g_date_valid_dmy (day, month, year))
    return NULL;

  return g_date_time_new_utc (year, month, day, 0, 0, 0);
}

typedef struct
{
  SoupServerMessage *msg;
  HelixLedger       *ledger;
  char              *from;
  char              *to;
  const char        *group;
} CostQuery;

static void
cost_query_free (CostQuery *query)
{
  g_clear_object (&query->msg);
  g_clear_object (&query->ledger);
  g_free (query->from);
  g_free (query->to);
  g_free (query);
}

static void
add_total (JsonBuilder            *builder,
           const HelixLedgerTotal *total)
{
  if (total->key != NULL)
    {
      json_builder_set_member_name (builder, "key");
      json_builder_add_string_value (builder, total->key);
    }
  json_builder_set_member_name (builder, "calls");
  json_builder_add_int_value (builder, total->calls);
  json_builder_set_member_name (builder, "failures");
  json_builder_add_int_value (builder, total->failures);
  json_builder_set_member_name (builder, "input_tokens");
  json_builder_add_int_value (builder, total->input_tokens);
  json_builder_set_member_name (builder, "output_tokens");
  json_builder_add_int_value (builder, total->output_tokens);
  json_builder_set_member_name (builder, "cost_usd");
  json_builder_add_double_value (builder, total->cost_usd);
}

static void
respond_totals (CostQuery *query,
                GPtrArray *totals)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  HelixLedgerTotal sum = { 0 };

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "from");
  json_builder_add_string_value (builder, query->from);
  json_builder_set_member_name (builder, "to");
  json_builder_add_string_value (builder, query->to);
  json_builder_set_member_name (builder, "group");
  json_builder_add_string_value (builder, query->group);
  json_builder_set_member_name (builder, "totals");
  json_builder_begin_array (builder);
  for (guint i = 0; totals != NULL && i < totals->len; i++)
    {
      const HelixLedgerTotal *total = g_ptr_array_index (totals, i);

      json_builder_begin_object (builder);
      add_total (builder, total);
      json_builder_end_object (builder);

      sum.calls += total->calls;
      sum.failures += total->failures;
      sum.input_tokens += total->input_tokens;
      sum.output_tokens += total->output_tokens;
      sum.cost_usd += total->cost_usd;
    }
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "total");
  json_builder_begin_object (builder);
  add_total (builder, &sum);
  json_builder_end_object (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  _helix_gateway_respond_json (query->msg, SOUP_STATUS_OK, root);
}

#ifdef HELIX_GATEWAY_HAVE_LEDGER
static void
totals_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  CostQuery *query = user_data;
  g_autoptr(GPtrArray) totals = NULL;
  g_autoptr(GError) error = NULL;

  totals = helix_ledger_query_totals_finish (HELIX_LEDGER (source), result, &error);
  if (totals == NULL)
    _helix_gateway_respond_internal_error (query->msg, error);
  else
    respond_totals (query, totals);

  soup_server_message_unpause (query->msg);
  cost_query_free (query);
}
#endif

static void
cost_cb (SoupServer        *server,
         SoupServerMessage *msg,
         const char        *path,
         GHashTable        *params,
         gpointer           user_data)
{
  static const char * const allowed[] = { "GET", "HEAD", NULL };
  HelixGateway *self = user_data;
  g_auto(HelixGatewayAuth) auth = { 0 };
  g_autoptr(HelixGatewayUser) user = NULL;
  g_autoptr(GDateTime) from = NULL;
  g_autoptr(GDateTime) to = NULL;
  g_autoptr(GDateTime) until = NULL;
  g_autoptr(GDateTime) today = NULL;
  g_autoptr(GError) error = NULL;
  const char *from_text = params != NULL ? g_hash_table_lookup (params, "from") : NULL;
  const char *to_text = params != NULL ? g_hash_table_lookup (params, "to") : NULL;
  const char *group_text = params != NULL ? g_hash_table_lookup (params, "group") : NULL;
  const char *who = params != NULL ? g_hash_table_lookup (params, "user") : NULL;
  HelixGatewayAi *ai;
  HelixLedger *ledger;
  HelixLedgerGroup group = HELIX_LEDGER_GROUP_DAY;
  CostQuery *query;
  gint64 days;
  gint group_index = -1;

  if (!_helix_gateway_begin_authenticated (self, msg, path, COST_PATH, allowed, &auth))
    return;

  /* Defaults: the last 30 days, by day. */
  today = g_date_time_new_now_utc ();
  to = to_text != NULL ? parse_day (to_text)
                       : g_date_time_new_utc (g_date_time_get_year (today),
                                              g_date_time_get_month (today),
                                              g_date_time_get_day_of_month (today), 0, 0, 0);
  from = from_text != NULL ? parse_day (from_text)
                           : (to != NULL ? g_date_time_add_days (to, -29) : NULL);
  if (from == NULL || to == NULL)
    {
      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                                    _("“from” and “to” must be days written YYYY-MM-DD, such "
                                      "as 2026-01-31."));
      return;
    }

  days = g_date_time_difference (to, from) / G_TIME_SPAN_DAY + 1;
  if (days < 1 || days > MAX_DAYS)
    {
      g_autofree char *message =
        g_strdup_printf (_("“from” must not be after “to”, and the range must cover at most "
                           "%u days."), MAX_DAYS);

      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request", message);
      return;
    }

  for (guint i = 0; i < G_N_ELEMENTS (groups); i++)
    if (g_strcmp0 (group_text != NULL ? group_text : "day", groups[i].name) == 0)
      group_index = i;
  if (group_index < 0)
    {
      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                                    _("“group” must be day, provider, model, operation or "
                                      "user."));
      return;
    }
  group = groups[group_index].group;

  if (who != NULL && !helix_gateway_user_name_is_valid (who))
    {
      _helix_gateway_respond_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request",
                                    _("“user” is not a user name."));
      return;
    }

  /* Anyone else's spending, or everyone's, is for administrators. An
   * indexed lookup (users.name is UNIQUE). */
  if (group == HELIX_LEDGER_GROUP_USER || g_strcmp0 (who, auth.user_name) != 0)
    {
      user = helix_gateway_db_lookup_user (helix_gateway_get_db (self), auth.user_name, &error);
      if (user == NULL)
        {
          _helix_gateway_respond_internal_error (msg, error);
          return;
        }

      if (!user->is_admin && (group == HELIX_LEDGER_GROUP_USER || who != NULL))
        {
          _helix_gateway_respond_error (msg, SOUP_STATUS_FORBIDDEN, "forbidden",
                                        _("Only an administrator may see other users’ costs. "
                                          "Leave out “user” and group=user to see your own."));
          return;
        }

      if (!user->is_admin)
        who = auth.user_name;
    }

  query = g_new0 (CostQuery, 1);
  query->msg = g_object_ref (msg);
  query->from = g_date_time_format (from, "%Y-%m-%d");
  query->to = g_date_time_format (to, "%Y-%m-%d");
  query->group = groups[group_index].name;

  ai = _helix_gateway_get_ai (self);
  ledger = ai != NULL ? _helix_gateway_ai_get_ledger (ai) : NULL;
  if (ledger == NULL)
    {
      /* No provider, no calls. */
      respond_totals (query, NULL);
      cost_query_free (query);
      return;
    }

#ifdef HELIX_GATEWAY_HAVE_LEDGER
  until = g_date_time_add_days (to, 1);
  query->ledger = g_object_ref (ledger);
  soup_server_message_pause (msg);
  helix_ledger_query_totals_async (ledger, group, who,
                                   g_date_time_to_unix (from) * G_USEC_PER_SEC,
                                   g_date_time_to_unix (until) * G_USEC_PER_SEC,
                                   NULL, totals_cb, query);
#else
  (void) until;
  respond_totals (query, NULL);
  cost_query_free (query);
#endif
}

void
_helix_gateway_add_cost_routes (HelixGateway *self,
                                SoupServer   *server)
{
  g_assert (HELIX_IS_GATEWAY (self));
  g_assert (SOUP_IS_SERVER (server));

  soup_server_add_handler (server, COST_PATH, cost_cb, self, NULL);
}
