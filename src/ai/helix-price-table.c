/* helix-price-table.c: what each model costs and can do
 *
 * A price table maps a provider and a model to its price (USD per million
 * input and output tokens), quality tier, context length, whether it
 * streams, and what it can do (its capabilities: "chat", the default, or
 * "transcription" for a speech model). Helix ships one (`data/prices.json`,
 * compiled in as a resource); a second text loaded over it replaces the
 * entries it names and adds new ones. Texts are checked strictly: size and
 * depth first, then every member of every entry; a text with any bad entry
 * changes nothing.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-ai"

#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "helix-ai-resources.h"
#include "helix-json.h"
#include "helix-price-table.h"

#define DEFAULT_RESOURCE "/org/gnome/Helix/ai/prices.json"

struct _HelixPriceTable
{
  gatomicrefcount  ref_count;
  GHashTable      *prices;  /* "provider\nmodel" → HelixModelPrice */
  GPtrArray       *retired; /* removed entries: calls may still point at them */
};

G_DEFINE_QUARK (helix-price-table-error-quark, helix_price_table_error)
G_DEFINE_BOXED_TYPE (HelixPriceTable, helix_price_table,
                     helix_price_table_ref, helix_price_table_unref)

static void
model_price_free (gpointer data)
{
  HelixModelPrice *price = data;

  g_free (price->provider);
  g_free (price->model);
  g_free (price);
}

static char *
make_key (const char *provider,
          const char *model)
{
  return g_strconcat (provider, "\n", model, NULL);
}

/* Adds @price (taking @key and @price), or updates the entry in place: calls
 * under way hold pointers to entries (the router's candidates). */
static void
put_price (HelixPriceTable *self,
           char            *key,
           HelixModelPrice *price)
{
  HelixModelPrice *old = g_hash_table_lookup (self->prices, key);

  if (old == NULL)
    {
      g_hash_table_insert (self->prices, key, price);
      return;
    }

  old->input_per_m = price->input_per_m;
  old->output_per_m = price->output_per_m;
  old->tier = price->tier;
  old->context = price->context;
  old->streaming = price->streaming;
  old->capabilities = price->capabilities;
  g_free (key);
  model_price_free (price);
}

static GHashTable *
prices_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free, model_price_free);
}

HelixPriceTable *
helix_price_table_new (void)
{
  HelixPriceTable *self = g_new0 (HelixPriceTable, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->prices = prices_new ();
  self->retired = g_ptr_array_new_with_free_func (model_price_free);

  return self;
}

/**
 * helix_price_table_new_default:
 *
 * Returns: (transfer full): the table shipped with Helix, or %NULL if it does
 *   not load (a build fault)
 */
HelixPriceTable *
helix_price_table_new_default (GError **error)
{
  g_autoptr(HelixPriceTable) self = helix_price_table_new ();
  g_autoptr(GBytes) bytes = NULL;

  bytes = g_resource_lookup_data (helix_ai_get_resource (), DEFAULT_RESOURCE,
                                 G_RESOURCE_LOOKUP_FLAGS_NONE, error);
  if (bytes == NULL)
    return NULL;

  if (!helix_price_table_load (self, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                               error))
    return NULL;

  return g_steal_pointer (&self);
}

HelixPriceTable *
helix_price_table_ref (HelixPriceTable *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
helix_price_table_unref (HelixPriceTable *self)
{
  g_return_if_fail (self != NULL);

  if (g_atomic_ref_count_dec (&self->ref_count))
    {
      g_hash_table_unref (self->prices);
      g_ptr_array_unref (self->retired);
      g_free (self);
    }
}

static gboolean G_GNUC_PRINTF (3, 4)
entry_error (GError     **error,
             guint        index,
             const char  *format,
             ...)
{
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);

  g_set_error (error, HELIX_PRICE_TABLE_ERROR, HELIX_PRICE_TABLE_ERROR_INVALID,
               _("Price table entry %u is not valid: %s. Fix or remove that entry."),
               index + 1, what);
  return FALSE;
}

static gboolean
get_number (JsonObject *object,
            const char *name,
            double     *value)
{
  JsonNode *node = json_object_get_member (object, name);
  GType type;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;

  type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    *value = (double) json_node_get_int (node);
  else if (type == G_TYPE_DOUBLE)
    *value = json_node_get_double (node);
  else
    return FALSE;

  return isfinite (*value);
}

static const char *
get_string (JsonObject *object,
            const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;

  return json_node_get_string (node);
}

static const struct
{
  const char           *name;
  HelixModelCapability  flag;
} capability_names[] = {
  { "chat", HELIX_MODEL_CAPABILITY_CHAT },
  { "transcription", HELIX_MODEL_CAPABILITY_TRANSCRIPTION },
};

/**
 * helix_model_capability_to_string:
 * @capability: one capability
 *
 * Returns: its name in a price table ("chat", "transcription")
 */
const char *
helix_model_capability_to_string (HelixModelCapability capability)
{
  for (guint i = 0; i < G_N_ELEMENTS (capability_names); i++)
    if (capability_names[i].flag == capability)
      return capability_names[i].name;

  g_return_val_if_reached ("unknown");
}

/* "capabilities": a non-empty array of known names, each once; absent: chat. */
static gboolean
parse_capabilities (JsonObject  *object,
                    guint       *capabilities,
                    const char  *provider,
                    const char  *model,
                    guint        index,
                    GError     **error)
{
  JsonNode *member = json_object_get_member (object, "capabilities");
  JsonArray *array;
  guint n;

  *capabilities = 0;
  if (member == NULL)
    {
      *capabilities = HELIX_MODEL_CAPABILITY_DEFAULT;
      return TRUE;
    }

  if (!JSON_NODE_HOLDS_ARRAY (member) ||
      (n = json_array_get_length (array = json_node_get_array (member))) == 0 ||
      n > HELIX_PRICE_TABLE_MAX_CAPABILITIES)
    return entry_error (error, index,
                        _("%s/%s: “capabilities” must be a list of 1 to %u of “chat” and “transcription”"),
                        provider, model, HELIX_PRICE_TABLE_MAX_CAPABILITIES);

  for (guint i = 0; i < n; i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      const char *name = NULL;
      guint flag = 0;

      if (JSON_NODE_HOLDS_VALUE (element) &&
          json_node_get_value_type (element) == G_TYPE_STRING)
        name = json_node_get_string (element);

      for (guint j = 0; name != NULL && j < G_N_ELEMENTS (capability_names); j++)
        if (g_str_equal (name, capability_names[j].name))
          flag = capability_names[j].flag;

      if (flag == 0)
        return entry_error (error, index,
                            _("%s/%s: unknown capability “%.32s”; the capabilities are “chat” and “transcription”"),
                            provider, model, name != NULL ? name : "(not a string)");
      if (*capabilities & flag)
        return entry_error (error, index, _("%s/%s: the capability “%s” is listed twice"),
                            provider, model, name);
      *capabilities |= flag;
    }

  return TRUE;
}

static HelixModelPrice *
parse_entry (JsonNode  *node,
             guint      index,
             GError   **error)
{
  static const char * const members[] = {
    "provider", "model", "input", "output", "tier", "context", "streaming", "capabilities",
  };
  g_autoptr(GList) names = NULL;
  HelixModelPrice price = { 0 };
  const char *provider;
  const char *model;
  JsonObject *object;
  JsonNode *member;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return entry_error (error, index, "%s", _("not an object")), NULL;

  object = json_node_get_object (node);
  names = json_object_get_members (object);
  for (const GList *l = names; l != NULL; l = l->next)
    {
      gboolean known = FALSE;

      for (guint i = 0; i < G_N_ELEMENTS (members); i++)
        known |= g_str_equal (l->data, members[i]);
      if (!known)
        return entry_error (error, index, _("unknown member “%s”"), (const char *) l->data), NULL;
    }

  provider = get_string (object, "provider");
  model = get_string (object, "model");
  if (provider == NULL || *provider == '\0' || strchr (provider, '\n') != NULL)
    return entry_error (error, index, "%s", _("“provider” must be a non-empty string")), NULL;
  if (model == NULL || *model == '\0' || strchr (model, '\n') != NULL)
    return entry_error (error, index, _("%s: “model” must be a non-empty string"), provider), NULL;

  if (!get_number (object, "input", &price.input_per_m) || price.input_per_m < 0)
    return entry_error (error, index, _("%s/%s: “input” must be a price ≥ 0 in USD per million tokens"),
                        provider, model), NULL;
  if (!get_number (object, "output", &price.output_per_m) || price.output_per_m < 0)
    return entry_error (error, index, _("%s/%s: “output” must be a price ≥ 0 in USD per million tokens"),
                        provider, model), NULL;

  member = json_object_get_member (object, "tier");
  if (member == NULL || !JSON_NODE_HOLDS_VALUE (member) ||
      json_node_get_value_type (member) != G_TYPE_INT64 ||
      json_node_get_int (member) < 1 || json_node_get_int (member) > HELIX_PRICE_TABLE_MAX_TIER)
    return entry_error (error, index, _("%s/%s: “tier” must be 1, 2 or 3"), provider, model), NULL;
  price.tier = (guint) json_node_get_int (member);

  member = json_object_get_member (object, "context");
  if (member == NULL || !JSON_NODE_HOLDS_VALUE (member) ||
      json_node_get_value_type (member) != G_TYPE_INT64 || json_node_get_int (member) < 1)
    return entry_error (error, index, _("%s/%s: “context” must be a positive number of tokens"),
                        provider, model), NULL;
  price.context = json_node_get_int (member);

  member = json_object_get_member (object, "streaming");
  if (member == NULL || !JSON_NODE_HOLDS_VALUE (member) ||
      json_node_get_value_type (member) != G_TYPE_BOOLEAN)
    return entry_error (error, index, _("%s/%s: “streaming” must be true or false"),
                        provider, model), NULL;
  price.streaming = json_node_get_boolean (member);

  if (!parse_capabilities (object, &price.capabilities, provider, model, index, error))
    return NULL;

  price.provider = g_strdup (provider);
  price.model = g_strdup (model);

  return g_memdup2 (&price, sizeof price);
}

/**
 * helix_price_table_load:
 * @self: a price table
 * @text: a price table as JSON: `{"version": 1, "models": [{"provider", "model",
 *   "input", "output", "tier", "context", "streaming", "capabilities"}, …]}`;
 *   "capabilities" is optional (`["chat"]` when absent), a list of "chat" and
 *   "transcription"
 * @len: the length of @text, or -1 if it is nul-terminated
 * @error: return location for a #GError
 *
 * Loads @text over the table: its entries replace those of the same provider
 * and model, and add the others. If any entry is bad, nothing changes and
 * @error names the entry.
 *
 * Returns: %TRUE if @text was loaded
 */
gboolean
helix_price_table_load (HelixPriceTable  *self,
                        const char       *text,
                        gssize            len,
                        GError          **error)
{
  g_autoptr(GHashTable) loaded = NULL;
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GList) names = NULL;
  GHashTableIter iter;
  gpointer key, value;
  JsonObject *root;
  JsonArray *models;
  JsonNode *node;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (text != NULL, FALSE);

  if (len < 0)
    len = strnlen (text, HELIX_PRICE_TABLE_MAX_SIZE + 1);

  if (!helix_json_check_text (text, len, HELIX_PRICE_TABLE_MAX_SIZE,
                              HELIX_PRICE_TABLE_MAX_DEPTH, &local_error))
    {
      g_set_error (error, HELIX_PRICE_TABLE_ERROR, HELIX_PRICE_TABLE_ERROR_INVALID,
                   _("The price table is not valid: %s"), local_error->message);
      return FALSE;
    }

  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, text, len, &local_error))
    {
      g_set_error (error, HELIX_PRICE_TABLE_ERROR, HELIX_PRICE_TABLE_ERROR_INVALID,
                   _("The price table is not valid JSON: %s"), local_error->message);
      return FALSE;
    }

  node = json_parser_get_root (parser);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error_literal (error, HELIX_PRICE_TABLE_ERROR, HELIX_PRICE_TABLE_ERROR_INVALID,
                           _("The price table is not a JSON object with “version” and “models”"));
      return FALSE;
    }

  root = json_node_get_object (node);
  names = json_object_get_members (root);
  for (const GList *l = names; l != NULL; l = l->next)
    if (!g_str_equal (l->data, "version") && !g_str_equal (l->data, "models"))
      {
        g_set_error (error, HELIX_PRICE_TABLE_ERROR, HELIX_PRICE_TABLE_ERROR_INVALID,
                     _("The price table has an unknown member “%s”"), (const char *) l->data);
        return FALSE;
      }

  node = json_object_get_member (root, "version");
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64 || json_node_get_int (node) != 1)
    {
      g_set_error_literal (error, HELIX_PRICE_TABLE_ERROR, HELIX_PRICE_TABLE_ERROR_INVALID,
                           _("The price table must have “version”: 1"));
      return FALSE;
    }

  node = json_object_get_member (root, "models");
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    {
      g_set_error_literal (error, HELIX_PRICE_TABLE_ERROR, HELIX_PRICE_TABLE_ERROR_INVALID,
                           _("The price table must have a “models” array"));
      return FALSE;
    }

  models = json_node_get_array (node);
  loaded = prices_new ();
  for (guint i = 0; i < json_array_get_length (models); i++)
    {
      HelixModelPrice *price = parse_entry (json_array_get_element (models, i), i, error);
      char *price_key;

      if (price == NULL)
        return FALSE;

      price_key = make_key (price->provider, price->model);
      if (!g_hash_table_insert (loaded, price_key, price))
        return entry_error (error, i, _("%s/%s is listed twice"), price->provider, price->model);
    }

  g_hash_table_iter_init (&iter, loaded);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      g_hash_table_iter_steal (&iter);
      put_price (self, key, value);
    }

  return TRUE;
}

/**
 * helix_price_table_lookup:
 *
 * Returns: (nullable): the entry of @model served by @provider
 */
const HelixModelPrice *
helix_price_table_lookup (HelixPriceTable *self,
                          const char      *provider,
                          const char      *model)
{
  g_autofree char *key = NULL;
  const HelixModelPrice *price;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (provider != NULL, NULL);
  g_return_val_if_fail (model != NULL, NULL);

  key = make_key (provider, model);
  price = g_hash_table_lookup (self->prices, key);
  if (price == NULL)
    {
      /* "*" stands for every model of the provider not listed by name (Ollama). */
      g_free (key);
      key = make_key (provider, "*");
      price = g_hash_table_lookup (self->prices, key);
    }

  return price;
}

/**
 * helix_price_table_set:
 * @self: a price table
 * @price: the entry to add or replace; "*" as its model stands for every
 *   model of the provider that has no entry of its own; capabilities 0 stand
 *   for %HELIX_MODEL_CAPABILITY_DEFAULT
 *
 * For prices that do not come from a text: models a user adds by hand.
 */
void
helix_price_table_set (HelixPriceTable       *self,
                       const HelixModelPrice *price)
{
  HelixModelPrice *copy;

  g_return_if_fail (self != NULL);
  g_return_if_fail (price != NULL && price->provider != NULL && price->model != NULL);
  g_return_if_fail (price->tier >= 1 && price->tier <= HELIX_PRICE_TABLE_MAX_TIER);

  copy = g_memdup2 (price, sizeof *price);
  copy->provider = g_strdup (price->provider);
  copy->model = g_strdup (price->model);
  if (copy->capabilities == 0)
    copy->capabilities = HELIX_MODEL_CAPABILITY_DEFAULT;
  put_price (self, make_key (price->provider, price->model), copy);
}

/**
 * helix_price_table_remove:
 * @self: a price table
 * @provider: a provider's name
 * @model: one of its models, or "*"
 *
 * Takes the entry out of the table. Calls under way may still point at it:
 * it is freed with the table, not before.
 *
 * Returns: %TRUE if there was such an entry
 */
gboolean
helix_price_table_remove (HelixPriceTable *self,
                          const char      *provider,
                          const char      *model)
{
  g_autofree char *key = NULL;
  gpointer stolen_key = NULL;
  gpointer price = NULL;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (provider != NULL && model != NULL, FALSE);

  key = make_key (provider, model);
  if (!g_hash_table_steal_extended (self->prices, key, &stolen_key, &price))
    return FALSE;

  g_free (stolen_key);
  g_ptr_array_add (self->retired, price);

  return TRUE;
}

guint
helix_price_table_get_n_items (HelixPriceTable *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return g_hash_table_size (self->prices);
}

/* The cost in USD of a call that used these tokens. */
double
helix_price_table_cost (const HelixModelPrice *price,
                        gint64                 input_tokens,
                        gint64                 output_tokens)
{
  g_return_val_if_fail (price != NULL, 0);

  return (MAX (input_tokens, 0) * price->input_per_m +
          MAX (output_tokens, 0) * price->output_per_m) / 1e6;
}
