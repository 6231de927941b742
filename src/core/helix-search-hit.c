/* helix-search-hit.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-core"

#include "config.h"

#include "helix-search-hit-private.h"

struct _HelixSearchHit
{
  GObject       parent_instance;

  HelixSession *session;
  char         *message_id;
  char         *snippet;
};

G_DEFINE_FINAL_TYPE (HelixSearchHit, helix_search_hit, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_SESSION,
  PROP_MESSAGE_ID,
  PROP_SNIPPET,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
helix_search_hit_dispose (GObject *object)
{
  HelixSearchHit *self = (HelixSearchHit *)object;

  g_clear_object (&self->session);

  G_OBJECT_CLASS (helix_search_hit_parent_class)->dispose (object);
}

static void
helix_search_hit_finalize (GObject *object)
{
  HelixSearchHit *self = (HelixSearchHit *)object;

  g_clear_pointer (&self->message_id, g_free);
  g_clear_pointer (&self->snippet, g_free);

  G_OBJECT_CLASS (helix_search_hit_parent_class)->finalize (object);
}

static void
helix_search_hit_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  HelixSearchHit *self = HELIX_SEARCH_HIT (object);

  switch (prop_id)
    {
    case PROP_SESSION:
      g_value_set_object (value, self->session);
      break;

    case PROP_MESSAGE_ID:
      g_value_set_string (value, self->message_id);
      break;

    case PROP_SNIPPET:
      g_value_set_string (value, self->snippet);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_search_hit_class_init (HelixSearchHitClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = helix_search_hit_dispose;
  object_class->finalize = helix_search_hit_finalize;
  object_class->get_property = helix_search_hit_get_property;

  properties[PROP_SESSION] =
    g_param_spec_object ("session", NULL, NULL, HELIX_TYPE_SESSION,
                         (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  properties[PROP_MESSAGE_ID] =
    g_param_spec_string ("message-id", NULL, NULL, NULL,
                         (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  properties[PROP_SNIPPET] =
    g_param_spec_string ("snippet", NULL, NULL, NULL,
                         (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
helix_search_hit_init (HelixSearchHit *self)
{
}

HelixSearchHit *
_helix_search_hit_new (HelixSession *session,
                       const char   *message_id,
                       const char   *snippet)
{
  HelixSearchHit *self = g_object_new (HELIX_TYPE_SEARCH_HIT, NULL);

  self->session = g_object_ref (session);
  self->message_id = g_strdup (message_id);
  self->snippet = g_strdup (snippet);

  return self;
}

HelixSession *
helix_search_hit_get_session (HelixSearchHit *self)
{
  g_return_val_if_fail (HELIX_IS_SEARCH_HIT (self), NULL);
  return self->session;
}

/**
 * helix_search_hit_get_message_id:
 *
 * Returns: (nullable): the matching message, or %NULL when the session title matched
 */
const char *
helix_search_hit_get_message_id (HelixSearchHit *self)
{
  g_return_val_if_fail (HELIX_IS_SEARCH_HIT (self), NULL);
  return self->message_id;
}

/**
 * helix_search_hit_get_snippet:
 *
 * Returns: (nullable): plain text around the match, or %NULL when the title matched
 */
const char *
helix_search_hit_get_snippet (HelixSearchHit *self)
{
  g_return_val_if_fail (HELIX_IS_SEARCH_HIT (self), NULL);
  return self->snippet;
}
