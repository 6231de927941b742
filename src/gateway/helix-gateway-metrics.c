/* helix-gateway-metrics.c: Prometheus metrics of the gateway
 *
 * One registry per process, behind a mutex so that any thread may record
 * into it. helix_gateway_metrics_render() writes the text exposition format,
 * version 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
 *
 * Labels never hold what a client chose: requests are counted under their
 * route pattern (`/api/v1/sessions/{id}`), and a path without a route is
 * `other`, so the number of series stays bounded however many ids and
 * bogus paths the gateway sees.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <string.h>

#include "helix-gateway-metrics.h"

/* Upper bounds of the AI call histograms, in seconds: calls take longer. */
static const double ai_buckets[] = {
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
};

/* Upper bounds of the duration histograms, in seconds. */
static const double buckets[] = {
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};

#define N_BUCKETS G_N_ELEMENTS (buckets)
G_STATIC_ASSERT (G_N_ELEMENTS (ai_buckets) == G_N_ELEMENTS (buckets));

typedef struct
{
  guint64 counts[N_BUCKETS]; /* not cumulative; render() sums them */
  guint64 count;
  double  sum;
} Histogram;

static GMutex lock;
static gboolean initialized;
static gint64 start_time_us;
static GHashTable *requests;   /* "route\nmethod\nstatus" → guint64 * */
static GHashTable *durations;  /* route → Histogram */
static GHashTable *queries;    /* query name → Histogram */
static gint64 websockets_open;
static guint64 ops_accepted;
static guint64 ops_fanned_out;

/* The AI router's calls. Label values come from the configuration (provider
 * and model names) and the router (operations, outcomes): bounded. Keys are
 * the label pairs, escaped, as they are written: `provider="…",model="…"`. */
static GHashTable *ai_calls;       /* labels → guint64 * */
static GHashTable *ai_tokens;      /* labels → guint64 * */
static GHashTable *ai_cost;        /* labels → double * */
static GHashTable *ai_durations;   /* labels → Histogram (ai_buckets) */
static GHashTable *ai_first_token; /* labels → Histogram (ai_buckets) */
static GHashTable *ai_breakers;    /* labels → guint * */

/* Every route pattern of the gateway. */
static const char * const routes[] = {
  "/health",
  "/metrics",
  "/api/v1/auth/login",
  "/api/v1/auth/logout",
  "/api/v1/devices",
  "/api/v1/devices/{id}",
  "/api/v1/sessions",
  "/api/v1/sessions/{id}",
  "/api/v1/sessions/{id}/messages",
  "/api/v1/search",
  "/api/v1/sync",
  "/api/v1/chat/message",
  "/api/v1/operations/cost",
  "/api/v1/flags",
  "/api/v1/admin/flags",
  "/api/v1/admin/flags/{name}",
  "/api/v1/admin/maintenance",
  "/api/v1/audit/verify",
  "/api/v1/audit/entries",
  "/api/v1/audit/checkpoint",
  "/v1/chat/completions",
  "/v1/models",
};

/* Called with the lock held. */
static void
ensure_initialized (void)
{
  if (initialized)
    return;

  initialized = TRUE;
  start_time_us = g_get_real_time ();
  requests = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  durations = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  queries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  ai_calls = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  ai_tokens = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  ai_cost = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  ai_durations = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  ai_first_token = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  ai_breakers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

/**
 * helix_gateway_metrics_init:
 *
 * Notes the start time of the process; called when the gateway class is made.
 */
void
helix_gateway_metrics_init (void)
{
  g_mutex_lock (&lock);
  ensure_initialized ();
  g_mutex_unlock (&lock);
}

/**
 * helix_gateway_metrics_route_for_path:
 * @path: the path of a request
 *
 * Returns: the route pattern that serves @path, or `other`
 */
const char *
helix_gateway_metrics_route_for_path (const char *path)
{
  /* The pattern fits: at most 256 bytes of path, two segments replaced. */
  char pattern[256 + 2 * sizeof "{name}" + 1];
  const char *segments[5];
  gsize lengths[5];
  guint n_segments = 0;
  gsize length;
  char *out;

  g_return_val_if_fail (path != NULL, "other");

  length = strlen (path);
  if (path[0] != '/' || length > 256)
    return "other";

  /* Every request asks: no allocation. No route has more than 5 segments. */
  for (const char *p = path + 1; ; )
    {
      const char *end = strchr (p, '/');

      if (end == NULL)
        end = p + strlen (p);

      if (n_segments == G_N_ELEMENTS (segments))
        return "other";
      segments[n_segments] = p;
      lengths[n_segments] = end - p;
      n_segments++;
      if (*end == '\0')
        break;
      p = end + 1;
    }

#define SEGMENT_IS(i, text) \
  ((i) < n_segments && lengths[i] == strlen (text) && memcmp (segments[i], text, lengths[i]) == 0)

  /* /api/v1/sessions/X/messages → /api/v1/sessions/{id}/messages,
   * /api/v1/admin/flags/X → /api/v1/admin/flags/{name} */
  out = pattern;
  for (guint i = 0; i < n_segments; i++)
    {
      gboolean is_id = i == 3 && (SEGMENT_IS (2, "sessions") || SEGMENT_IS (2, "devices"));
      gboolean is_name = i == 4 && SEGMENT_IS (2, "admin") && SEGMENT_IS (3, "flags");

      *out++ = '/';
      if (is_id)
        out = stpcpy (out, "{id}");
      else if (is_name)
        out = stpcpy (out, "{name}");
      else
        {
          memcpy (out, segments[i], lengths[i]);
          out += lengths[i];
        }
    }
  *out = '\0';

#undef SEGMENT_IS

  for (guint i = 0; i < G_N_ELEMENTS (routes); i++)
    {
      if (g_str_equal (pattern, routes[i]))
        return routes[i];
    }

  return "other";
}

static void
histogram_observe (GHashTable *table,
                   const char *key,
                   double      seconds)
{
  Histogram *histogram = g_hash_table_lookup (table, key);

  if (histogram == NULL)
    {
      histogram = g_new0 (Histogram, 1);
      g_hash_table_insert (table, g_strdup (key), histogram);
    }

  for (guint i = 0; i < N_BUCKETS; i++)
    {
      if (seconds <= buckets[i])
        {
          histogram->counts[i]++;
          break;
        }
    }
  histogram->count++;
  histogram->sum += seconds;
}

/* Methods are a client's choice too: only the ones the gateway knows are kept. */
static const char *
method_label (const char *method)
{
  static const char * const known[] = { "GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS", "PUT" };

  for (guint i = 0; method != NULL && i < G_N_ELEMENTS (known); i++)
    {
      if (g_str_equal (method, known[i]))
        return known[i];
    }

  return "other";
}

/**
 * helix_gateway_metrics_observe_request:
 * @route: a route pattern, from helix_gateway_metrics_route_for_path()
 * @method: the request method
 * @status: the response status
 * @duration_us: how long the request took
 *
 * Counts a finished request.
 */
void
helix_gateway_metrics_observe_request (const char *route,
                                       const char *method,
                                       guint       status,
                                       gint64      duration_us)
{
  /* Routes and methods are short: the key fits, and is copied only once. */
  char key[128];
  const char *label = method_label (method);
  char digits[16];
  char *status_text = digits + sizeof digits;
  gsize route_len, label_len, status_len;
  guint64 *count;

  g_return_if_fail (route != NULL);

  route_len = strlen (route);
  label_len = strlen (label);
  if (route_len + label_len + 16 > sizeof key)
    g_return_if_reached ();

  /* "ROUTE\nMETHOD\nSTATUS", without printf: for every request. */
  do
    {
      *--status_text = '0' + status % 10;
      status /= 10;
    }
  while (status > 0);
  status_len = digits + sizeof digits - status_text;
  memcpy (key, route, route_len);
  key[route_len] = '\n';
  memcpy (key + route_len + 1, label, label_len);
  key[route_len + 1 + label_len] = '\n';
  memcpy (key + route_len + 2 + label_len, status_text, status_len);
  key[route_len + 2 + label_len + status_len] = '\0';

  g_mutex_lock (&lock);
  ensure_initialized ();

  count = g_hash_table_lookup (requests, key);
  if (count == NULL)
    {
      count = g_new0 (guint64, 1);
      g_hash_table_insert (requests, g_strdup (key), count);
    }
  (*count)++;

  histogram_observe (durations, route, duration_us / (double) G_USEC_PER_SEC);
  g_mutex_unlock (&lock);
}

/**
 * helix_gateway_metrics_observe_query:
 * @query: a fixed name for the query, such as `apply_ops`
 * @duration_us: how long it took
 */
void
helix_gateway_metrics_observe_query (const char *query,
                                     gint64      duration_us)
{
  g_return_if_fail (query != NULL);

  g_mutex_lock (&lock);
  ensure_initialized ();
  histogram_observe (queries, query, duration_us / (double) G_USEC_PER_SEC);
  g_mutex_unlock (&lock);
}

void
helix_gateway_metrics_websocket_opened (void)
{
  g_mutex_lock (&lock);
  ensure_initialized ();
  websockets_open++;
  g_mutex_unlock (&lock);
}

void
helix_gateway_metrics_websocket_closed (void)
{
  g_mutex_lock (&lock);
  ensure_initialized ();
  if (websockets_open > 0)
    websockets_open--;
  g_mutex_unlock (&lock);
}

void
helix_gateway_metrics_add_ops_accepted (guint n_ops)
{
  g_mutex_lock (&lock);
  ensure_initialized ();
  ops_accepted += n_ops;
  g_mutex_unlock (&lock);
}

void
helix_gateway_metrics_add_ops_fanned_out (guint n_ops)
{
  g_mutex_lock (&lock);
  ensure_initialized ();
  ops_fanned_out += n_ops;
  g_mutex_unlock (&lock);
}

/* AI calls {{{1 */

/* Appends name="value" with the value escaped as the text format wants:
 * backslash, double quote and line feed. */
static void
append_label (GString    *out,
              const char *name,
              const char *value)
{
  if (out->len > 0)
    g_string_append_c (out, ',');
  g_string_append (out, name);
  g_string_append (out, "=\"");
  for (const char *c = value; *c != '\0'; c++)
    {
      if (*c == '\\')
        g_string_append (out, "\\\\");
      else if (*c == '"')
        g_string_append (out, "\\\"");
      else if (*c == '\n')
        g_string_append (out, "\\n");
      else
        g_string_append_c (out, *c);
    }
  g_string_append_c (out, '"');
}

static gpointer
counter_lookup (GHashTable *table,
                GString    *labels,
                gsize       size)
{
  gpointer value = g_hash_table_lookup (table, labels->str);

  if (value == NULL)
    {
      value = g_malloc0 (size);
      g_hash_table_insert (table, g_strdup (labels->str), value);
    }

  return value;
}

static void
ai_histogram_observe (GHashTable *table,
                      const char *key,
                      double      seconds)
{
  Histogram *histogram = g_hash_table_lookup (table, key);

  if (histogram == NULL)
    {
      histogram = g_new0 (Histogram, 1);
      g_hash_table_insert (table, g_strdup (key), histogram);
    }

  for (guint i = 0; i < G_N_ELEMENTS (ai_buckets); i++)
    {
      if (seconds <= ai_buckets[i])
        {
          histogram->counts[i]++;
          break;
        }
    }
  histogram->count++;
  histogram->sum += seconds;
}

/**
 * helix_gateway_metrics_observe_ai_call:
 * @provider: the provider of the last attempt, or `none`
 * @model: its model, or `none`
 * @operation: the operation (`chat`, …)
 * @outcome: `ok`, `failed` or `partial`
 * @input_tokens: input tokens
 * @output_tokens: output tokens
 * @cost_usd: what they cost
 * @duration_us: how long the call took
 * @first_token_us: how long until the first text, or -1
 *
 * Counts a finished call of the AI router.
 */
void
helix_gateway_metrics_observe_ai_call (const char *provider,
                                       const char *model,
                                       const char *operation,
                                       const char *outcome,
                                       gint64      input_tokens,
                                       gint64      output_tokens,
                                       double      cost_usd,
                                       gint64      duration_us,
                                       gint64      first_token_us)
{
  g_autoptr(GString) labels = g_string_new (NULL);
  gsize model_end;
  guint64 *count;
  double *cost;

  g_return_if_fail (provider != NULL && model != NULL && operation != NULL && outcome != NULL);

  append_label (labels, "provider", provider);
  append_label (labels, "model", model);
  model_end = labels->len;

  g_mutex_lock (&lock);
  ensure_initialized ();

  ai_histogram_observe (ai_durations, labels->str, duration_us / (double) G_USEC_PER_SEC);
  if (first_token_us >= 0)
    ai_histogram_observe (ai_first_token, labels->str, first_token_us / (double) G_USEC_PER_SEC);

  cost = counter_lookup (ai_cost, labels, sizeof (double));
  *cost += MAX (cost_usd, 0);

  append_label (labels, "direction", "in");
  count = counter_lookup (ai_tokens, labels, sizeof (guint64));
  *count += MAX (input_tokens, 0);
  g_string_truncate (labels, model_end);
  append_label (labels, "direction", "out");
  count = counter_lookup (ai_tokens, labels, sizeof (guint64));
  *count += MAX (output_tokens, 0);

  g_string_truncate (labels, model_end);
  append_label (labels, "operation", operation);
  append_label (labels, "outcome", outcome);
  count = counter_lookup (ai_calls, labels, sizeof (guint64));
  (*count)++;

  g_mutex_unlock (&lock);
}

/**
 * helix_gateway_metrics_set_ai_breaker_state:
 * @provider: a provider
 * @state: its #HelixRouterHealth
 *
 * Notes the state of a provider's circuit breaker, written as 0 (closed),
 * 1 (half-open) or 2 (open).
 */
void
helix_gateway_metrics_set_ai_breaker_state (const char *provider,
                                            guint       state)
{
  g_autoptr(GString) labels = g_string_new (NULL);
  guint *value;

  g_return_if_fail (provider != NULL);

  append_label (labels, "provider", provider);

  g_mutex_lock (&lock);
  ensure_initialized ();
  value = counter_lookup (ai_breakers, labels, sizeof (guint));
  /* HelixRouterHealth: CLOSED 0, OPEN 1, HALF_OPEN 2; the gauge: 0, 2, 1. */
  *value = state == 1 ? 2 : state == 2 ? 1 : 0;
  g_mutex_unlock (&lock);
}

static void
append_header (GString    *out,
               const char *name,
               const char *type,
               const char *help)
{
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* Sorted keys, so that the output is stable between scrapes. */
static GPtrArray *
sorted_keys (GHashTable *table)
{
  GPtrArray *keys = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (keys, key);

  g_ptr_array_sort (keys, compare_strings);

  return keys;
}

static void
append_histograms (GString    *out,
                   const char *name,
                   const char *label,
                   GHashTable *table)
{
  g_autoptr(GPtrArray) keys = sorted_keys (table);

  for (guint i = 0; i < keys->len; i++)
    {
      const char *key = g_ptr_array_index (keys, i);
      const Histogram *histogram = g_hash_table_lookup (table, key);
      char number[G_ASCII_DTOSTR_BUF_SIZE];
      guint64 cumulative = 0;

      for (guint b = 0; b < N_BUCKETS; b++)
        {
          cumulative += histogram->counts[b];
          g_string_append_printf (out, "%s_bucket{%s=\"%s\",le=\"%s\"} %" G_GUINT64_FORMAT "\n",
                                  name, label, key,
                                  g_ascii_formatd (number, sizeof number, "%g", buckets[b]),
                                  cumulative);
        }
      g_string_append_printf (out, "%s_bucket{%s=\"%s\",le=\"+Inf\"} %" G_GUINT64_FORMAT "\n",
                              name, label, key, histogram->count);
      g_string_append_printf (out, "%s_sum{%s=\"%s\"} %s\n", name, label, key,
                              g_ascii_formatd (number, sizeof number, "%.9g", histogram->sum));
      g_string_append_printf (out, "%s_count{%s=\"%s\"} %" G_GUINT64_FORMAT "\n",
                              name, label, key, histogram->count);
    }
}

static void
append_ai_histograms (GString    *out,
                      const char *name,
                      GHashTable *table)
{
  g_autoptr(GPtrArray) keys = sorted_keys (table);

  for (guint i = 0; i < keys->len; i++)
    {
      const char *key = g_ptr_array_index (keys, i);
      const Histogram *histogram = g_hash_table_lookup (table, key);
      char number[G_ASCII_DTOSTR_BUF_SIZE];
      guint64 cumulative = 0;

      for (guint b = 0; b < G_N_ELEMENTS (ai_buckets); b++)
        {
          cumulative += histogram->counts[b];
          g_string_append_printf (out, "%s_bucket{%s,le=\"%s\"} %" G_GUINT64_FORMAT "\n",
                                  name, key,
                                  g_ascii_formatd (number, sizeof number, "%g", ai_buckets[b]),
                                  cumulative);
        }
      g_string_append_printf (out, "%s_bucket{%s,le=\"+Inf\"} %" G_GUINT64_FORMAT "\n",
                              name, key, histogram->count);
      g_string_append_printf (out, "%s_sum{%s} %s\n", name, key,
                              g_ascii_formatd (number, sizeof number, "%.9g", histogram->sum));
      g_string_append_printf (out, "%s_count{%s} %" G_GUINT64_FORMAT "\n",
                              name, key, histogram->count);
    }
}

static void
append_ai_metrics (GString *out)
{
  char number[G_ASCII_DTOSTR_BUF_SIZE];
  g_autoptr(GPtrArray) calls = sorted_keys (ai_calls);
  g_autoptr(GPtrArray) tokens = sorted_keys (ai_tokens);
  g_autoptr(GPtrArray) costs = sorted_keys (ai_cost);
  g_autoptr(GPtrArray) breakers = sorted_keys (ai_breakers);

  append_header (out, "helix_ai_calls_total", "counter",
                 "AI router calls, by the provider and model of their last attempt, "
                 "operation and outcome (ok, failed, partial).");
  for (guint i = 0; i < calls->len; i++)
    g_string_append_printf (out, "helix_ai_calls_total{%s} %" G_GUINT64_FORMAT "\n",
                            (const char *) g_ptr_array_index (calls, i),
                            *(guint64 *) g_hash_table_lookup (ai_calls,
                                                              g_ptr_array_index (calls, i)));

  append_header (out, "helix_ai_tokens_total", "counter",
                 "Tokens of AI calls as the providers counted them, in and out.");
  for (guint i = 0; i < tokens->len; i++)
    g_string_append_printf (out, "helix_ai_tokens_total{%s} %" G_GUINT64_FORMAT "\n",
                            (const char *) g_ptr_array_index (tokens, i),
                            *(guint64 *) g_hash_table_lookup (ai_tokens,
                                                              g_ptr_array_index (tokens, i)));

  append_header (out, "helix_ai_cost_usd_total", "counter",
                 "What AI calls cost, in US dollars, by the price table.");
  for (guint i = 0; i < costs->len; i++)
    g_string_append_printf (out, "helix_ai_cost_usd_total{%s} %s\n",
                            (const char *) g_ptr_array_index (costs, i),
                            g_ascii_formatd (number, sizeof number, "%.9g",
                                             *(double *) g_hash_table_lookup (
                                               ai_cost, g_ptr_array_index (costs, i))));

  append_header (out, "helix_ai_call_duration_seconds", "histogram",
                 "How long AI calls took, retries and failovers included.");
  append_ai_histograms (out, "helix_ai_call_duration_seconds", ai_durations);

  append_header (out, "helix_ai_time_to_first_token_seconds", "histogram",
                 "How long AI calls took to their first text.");
  append_ai_histograms (out, "helix_ai_time_to_first_token_seconds", ai_first_token);

  append_header (out, "helix_ai_provider_breaker_state", "gauge",
                 "Each AI provider's circuit breaker: 0 closed, 1 half-open, 2 open.");
  for (guint i = 0; i < breakers->len; i++)
    g_string_append_printf (out, "helix_ai_provider_breaker_state{%s} %u\n",
                            (const char *) g_ptr_array_index (breakers, i),
                            *(guint *) g_hash_table_lookup (ai_breakers,
                                                            g_ptr_array_index (breakers, i)));
}

/**
 * helix_gateway_metrics_render:
 *
 * Returns: (transfer full): every metric, in the Prometheus text format 0.0.4
 */
char *
helix_gateway_metrics_render (void)
{
  GString *out = g_string_new (NULL);
  g_autoptr(GPtrArray) keys = NULL;
  char number[G_ASCII_DTOSTR_BUF_SIZE];

  g_mutex_lock (&lock);
  ensure_initialized ();

  append_header (out, "helix_build_info", "gauge",
                 "The version of the gateway, as a label; always 1.");
  g_string_append (out, "helix_build_info{version=\"" PACKAGE_VERSION "\"} 1\n");

  append_header (out, "helix_process_start_time_seconds", "gauge",
                 "When the gateway process started, in seconds since the Unix epoch.");
  g_string_append_printf (out, "helix_process_start_time_seconds %s\n",
                          g_ascii_formatd (number, sizeof number, "%.3f",
                                           start_time_us / (double) G_USEC_PER_SEC));

  append_header (out, "helix_http_requests_total", "counter",
                 "HTTP requests answered, by route pattern, method and status.");
  keys = sorted_keys (requests);
  for (guint i = 0; i < keys->len; i++)
    {
      const char *key = g_ptr_array_index (keys, i);
      g_auto(GStrv) parts = g_strsplit (key, "\n", 3);
      const guint64 *count = g_hash_table_lookup (requests, key);

      g_string_append_printf (out, "helix_http_requests_total{route=\"%s\",method=\"%s\","
                              "status=\"%s\"} %" G_GUINT64_FORMAT "\n",
                              parts[0], parts[1], parts[2], *count);
    }

  append_header (out, "helix_http_request_duration_seconds", "histogram",
                 "How long HTTP requests took, by route pattern.");
  append_histograms (out, "helix_http_request_duration_seconds", "route", durations);

  append_header (out, "helix_websockets_open", "gauge", "Sync WebSockets open now.");
  g_string_append_printf (out, "helix_websockets_open %" G_GINT64_FORMAT "\n", websockets_open);

  append_header (out, "helix_sync_ops_accepted_total", "counter",
                 "Ops stored from pushes and REST writes (duplicates not counted).");
  g_string_append_printf (out, "helix_sync_ops_accepted_total %" G_GUINT64_FORMAT "\n",
                          ops_accepted);

  append_header (out, "helix_sync_ops_fanned_out_total", "counter",
                 "Ops sent to other devices of their user as they were stored.");
  g_string_append_printf (out, "helix_sync_ops_fanned_out_total %" G_GUINT64_FORMAT "\n",
                          ops_fanned_out);

  append_header (out, "helix_db_query_duration_seconds", "histogram",
                 "How long database queries took, by query.");
  append_histograms (out, "helix_db_query_duration_seconds", "query", queries);

  append_ai_metrics (out);

  g_mutex_unlock (&lock);

  return g_string_free (out, FALSE);
}
