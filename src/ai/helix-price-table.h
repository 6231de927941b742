/* helix-price-table.h: what each model costs and can do
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define HELIX_PRICE_TABLE_ERROR (helix_price_table_error_quark ())

/**
 * HelixPriceTableError:
 * @HELIX_PRICE_TABLE_ERROR_INVALID: the price table is not valid
 *
 * Errors of helix_price_table_load().
 */
typedef enum
{
  HELIX_PRICE_TABLE_ERROR_INVALID,
} HelixPriceTableError;

/* Bounds of a price table text. */
#define HELIX_PRICE_TABLE_MAX_SIZE   (256 * 1024)
#define HELIX_PRICE_TABLE_MAX_DEPTH  8
#define HELIX_PRICE_TABLE_MAX_TIER   3
#define HELIX_PRICE_TABLE_MAX_CAPABILITIES 8

/**
 * HelixModelCapability:
 * @HELIX_MODEL_CAPABILITY_CHAT: answers chat messages with text ("chat")
 * @HELIX_MODEL_CAPABILITY_TRANSCRIPTION: turns speech into text ("transcription")
 *
 * What a model can do, as flags. An entry of a price table without
 * "capabilities" can chat.
 */
typedef enum
{
  HELIX_MODEL_CAPABILITY_CHAT          = 1 << 0,
  HELIX_MODEL_CAPABILITY_TRANSCRIPTION = 1 << 1,
} HelixModelCapability;

#define HELIX_MODEL_CAPABILITY_DEFAULT HELIX_MODEL_CAPABILITY_CHAT

/**
 * HelixModelPrice:
 * @provider: the provider name, as registered with the router
 * @model: the model name, as sent to the provider
 * @input_per_m: USD per million input tokens
 * @output_per_m: USD per million output tokens
 * @tier: quality tier, 1 (basic) to 3 (best)
 * @context: context length in tokens
 * @streaming: whether the model streams its answers
 * @capabilities: what the model can do, #HelixModelCapability flags
 */
typedef struct
{
  char     *provider;
  char     *model;
  double    input_per_m;
  double    output_per_m;
  guint     tier;
  gint64    context;
  gboolean  streaming;
  guint     capabilities;
} HelixModelPrice;

typedef struct _HelixPriceTable HelixPriceTable;

#define HELIX_TYPE_PRICE_TABLE (helix_price_table_get_type ())

GQuark                 helix_price_table_error_quark (void) G_GNUC_CONST;
GType                  helix_price_table_get_type    (void) G_GNUC_CONST;

HelixPriceTable       *helix_price_table_new         (void);
HelixPriceTable       *helix_price_table_new_default (GError          **error);
HelixPriceTable       *helix_price_table_ref         (HelixPriceTable  *self);
void                   helix_price_table_unref       (HelixPriceTable  *self);

gboolean               helix_price_table_load        (HelixPriceTable  *self,
                                                      const char       *text,
                                                      gssize            len,
                                                      GError          **error);
const HelixModelPrice *helix_price_table_lookup      (HelixPriceTable  *self,
                                                      const char       *provider,
                                                      const char       *model);
guint                  helix_price_table_get_n_items (HelixPriceTable  *self);
gboolean               helix_price_table_remove      (HelixPriceTable  *self,
                                                      const char       *provider,
                                                      const char       *model);
void                   helix_price_table_set         (HelixPriceTable  *self,
                                                      const HelixModelPrice *price);
const char            *helix_model_capability_to_string (HelixModelCapability capability);
double                 helix_price_table_cost        (const HelixModelPrice *price,
                                                      gint64            input_tokens,
                                                      gint64            output_tokens);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixPriceTable, helix_price_table_unref)

G_END_DECLS
