/* helix-message.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-core"

#include "config.h"

#include "helix-enums.h"
#include "helix-message-private.h"

G_DEFINE_FINAL_TYPE (HelixMessage, helix_message, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ID,
  PROP_SESSION_ID,
  PROP_POSITION,
  PROP_ROLE,
  PROP_CONTENT,
  PROP_CREATED_US,
  PROP_STATUS,
  PROP_MODEL,
  PROP_PROVIDER,
  PROP_TOKENS_IN,
  PROP_TOKENS_OUT,
  PROP_COST,
  PROP_METADATA,
  PROP_HLC,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
helix_message_finalize (GObject *object)
{
  HelixMessage *self = (HelixMessage *)object;

  g_clear_pointer (&self->id, g_free);
  g_clear_pointer (&self->session_id, g_ref_string_release);
  g_clear_pointer (&self->content, g_free);
  g_clear_pointer (&self->model, g_free);
  g_clear_pointer (&self->provider, g_free);
  g_clear_pointer (&self->metadata, g_free);
  g_clear_pointer (&self->hlc, g_free);

  G_OBJECT_CLASS (helix_message_parent_class)->finalize (object);
}

static void
helix_message_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  HelixMessage *self = HELIX_MESSAGE (object);

  switch (prop_id)
    {
    case PROP_ID:
      g_value_set_string (value, self->id);
      break;

    case PROP_SESSION_ID:
      g_value_set_string (value, self->session_id);
      break;

    case PROP_POSITION:
      g_value_set_uint64 (value, self->position);
      break;

    case PROP_ROLE:
      g_value_set_enum (value, self->role);
      break;

    case PROP_CONTENT:
      g_value_set_string (value, self->content);
      break;

    case PROP_CREATED_US:
      g_value_set_int64 (value, self->created_us);
      break;

    case PROP_STATUS:
      g_value_set_enum (value, self->status);
      break;

    case PROP_MODEL:
      g_value_set_string (value, self->model);
      break;

    case PROP_PROVIDER:
      g_value_set_string (value, self->provider);
      break;

    case PROP_TOKENS_IN:
      g_value_set_int64 (value, self->tokens_in);
      break;

    case PROP_TOKENS_OUT:
      g_value_set_int64 (value, self->tokens_out);
      break;

    case PROP_COST:
      g_value_set_double (value, self->cost);
      break;

    case PROP_METADATA:
      g_value_set_string (value, self->metadata);
      break;

    case PROP_HLC:
      g_value_set_string (value, self->hlc);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_message_class_init (HelixMessageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  object_class->finalize = helix_message_finalize;
  object_class->get_property = helix_message_get_property;

  properties[PROP_ID] = g_param_spec_string ("id", NULL, NULL, NULL, flags);
  properties[PROP_SESSION_ID] = g_param_spec_string ("session-id", NULL, NULL, NULL, flags);
  properties[PROP_POSITION] =
    g_param_spec_uint64 ("position", NULL, NULL, 0, G_MAXUINT64, 0, flags);
  properties[PROP_ROLE] =
    g_param_spec_enum ("role", NULL, NULL,
                       HELIX_TYPE_MESSAGE_ROLE, HELIX_MESSAGE_ROLE_USER, flags);
  properties[PROP_CONTENT] = g_param_spec_string ("content", NULL, NULL, NULL, flags);
  properties[PROP_CREATED_US] =
    g_param_spec_int64 ("created-us", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_STATUS] =
    g_param_spec_enum ("status", NULL, NULL,
                       HELIX_TYPE_MESSAGE_STATUS, HELIX_MESSAGE_STATUS_DONE, flags);
  properties[PROP_MODEL] = g_param_spec_string ("model", NULL, NULL, NULL, flags);
  properties[PROP_PROVIDER] = g_param_spec_string ("provider", NULL, NULL, NULL, flags);
  properties[PROP_TOKENS_IN] =
    g_param_spec_int64 ("tokens-in", NULL, NULL, -1, G_MAXINT64, -1, flags);
  properties[PROP_TOKENS_OUT] =
    g_param_spec_int64 ("tokens-out", NULL, NULL, -1, G_MAXINT64, -1, flags);
  properties[PROP_COST] =
    g_param_spec_double ("cost", NULL, NULL, -1.0, G_MAXDOUBLE, -1.0, flags);
  properties[PROP_METADATA] = g_param_spec_string ("metadata", NULL, NULL, NULL, flags);
  properties[PROP_HLC] = g_param_spec_string ("hlc", NULL, NULL, NULL, flags);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
helix_message_init (HelixMessage *self)
{
  self->tokens_in = -1;
  self->tokens_out = -1;
  self->cost = -1.0;
}

HelixMessage *
_helix_message_new (void)
{
  return g_object_new (HELIX_TYPE_MESSAGE, NULL);
}

const char *
helix_message_get_id (HelixMessage *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE (self), NULL);
  return self->id;
}

const char *
helix_message_get_session_id (HelixMessage *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE (self), NULL);
  return self->session_id;
}

/**
 * helix_message_get_position:
 *
 * Returns: the 0-based place of the message in its session
 */
guint64
helix_message_get_position (HelixMessage *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE (self), 0);
  return self->position;
}

HelixMessageRole
helix_message_get_role (HelixMessage *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE (self), HELIX_MESSAGE_ROLE_USER);
  return self->role;
}

const char *
helix_message_get_content (HelixMessage *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE (self), NULL);
  return self->content;
}

gint64
helix_message_get_created_us (HelixMessage *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE (self), 0);
  return self->created_us;
}

HelixMessageStatus
helix_message_get_status (HelixMessage *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE (self), HELIX_MESSAGE_STATUS_DONE);
  return self->status;
}

const char *
helix_message_get_model (HelixMessage *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE (self), NULL);
  return self->model;
}

const char *
helix_message_get_provider (HelixMessage *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE (self), NULL);
  return self->provider;
}

gint64
helix_message_get_tokens_in (HelixMessage *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE (self), -1);
  return self->tokens_in;
}

gint64
helix_message_get_tokens_out (HelixMessage *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE (self), -1);
  return self->tokens_out;
}

double
helix_message_get_cost (HelixMessage *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE (self), -1.0);
  return self->cost;
}

const char *
helix_message_get_metadata (HelixMessage *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE (self), NULL);
  return self->metadata;
}

const char *
helix_message_get_hlc (HelixMessage *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE (self), NULL);
  return self->hlc;
}
