/* helix-router-private.h: what the router's files share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-router.h"

G_BEGIN_DECLS

/* What an operation needs. */
typedef struct
{
  const char *name;
  guint       min_tier;
  gint64      min_context;
  gboolean    streaming;
  guint       capability;  /* the HelixModelCapability a model needs */
} Operation;

/* A provider and its breaker. */
typedef struct
{
  guint              ref_count;
  HelixProvider     *provider;
  char              *name;
  GStrv              models;
  HelixRouterHealth  state;
  guint              failures;      /* in a row */
  gint64             opened_at;
  gboolean           probing;       /* the one half-open call is under way */
  gboolean           checking;      /* a health check is under way */
  guint              n_checks;
  gint64             check_latency_us;
  gint64             checked_at;    /* wall clock, µs */
  char              *check_error;
} Entry;

typedef struct
{
  Entry                 *entry;
  const char            *model;
  const HelixModelPrice *price;     /* NULL only for an override */
  double                 cost;
} Candidate;

typedef enum
{
  CHOICE_CHEAPEST,
  CHOICE_PINNED,
  CHOICE_OVERRIDE,
  CHOICE_BEST_AVAILABLE,
  CHOICE_DOWNGRADED,
} Choice;

struct _HelixRouter
{
  GObject               parent_instance;

  HelixPriceTable      *prices;
  GPtrArray            *entries;
  HelixRouterClockFunc  clock;
  gpointer              clock_data;
  guint                 cooldown_ms;
  guint                 backoff_base_ms;
  guint                 backoff_cap_ms;
  guint                 max_attempts;
  char                 *override;
  HelixBudget          *budget;
  guint                 health_interval_ms;
  guint                 health_source;
  GCancellable         *health_cancellable;
};

const Operation *_helix_router_find_operation    (const char       *name,
                                                  GError          **error);
GArray          *_helix_router_list_candidates   (HelixRouter      *self,
                                                  const Operation  *op,
                                                  const char       *pinned_model,
                                                  const char       *override,
                                                  Choice           *choice,
                                                  GError          **error);
char            *_helix_router_describe          (Choice            choice,
                                                  const Operation  *op,
                                                  const Candidate  *c);
gboolean         _helix_router_entry_available   (HelixRouter      *self,
                                                  Entry            *entry);
void             _helix_router_entry_open        (HelixRouter      *self,
                                                  Entry            *entry);
void             _helix_router_entry_report      (HelixRouter      *self,
                                                  Entry            *entry,
                                                  gboolean          success);
int              _helix_router_compare_candidates (gconstpointer   a,
                                                   gconstpointer   b);
int              _helix_router_compare_best_available (gconstpointer a,
                                                       gconstpointer b);
void             _helix_router_candidate_clear   (gpointer          data);
void             _helix_router_emit_call_finished (HelixRouter      *self,
                                                   HelixRouterResult *result);

G_END_DECLS
