/* helix-session.c
 *
 * A HelixSession is a snapshot of one row of the sessions table. The store hands out
 * fresh snapshots; HelixSessionList keeps one object per session and updates it in
 * place with _helix_session_update(), so widgets bound to its properties follow.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-core"

#include "config.h"

#include "helix-session-private.h"

G_DEFINE_FINAL_TYPE (HelixSession, helix_session, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ID,
  PROP_TITLE,
  PROP_CREATED_US,
  PROP_UPDATED_US,
  PROP_PINNED,
  PROP_ARCHIVED,
  PROP_DELETED,
  PROP_HLC,
  PROP_N_MESSAGES,
  PROP_MODEL,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
helix_session_finalize (GObject *object)
{
  HelixSession *self = (HelixSession *)object;

  g_clear_pointer (&self->id, g_free);
  g_clear_pointer (&self->title, g_free);
  g_clear_pointer (&self->hlc, g_free);
  g_clear_pointer (&self->model, g_free);

  G_OBJECT_CLASS (helix_session_parent_class)->finalize (object);
}

static void
helix_session_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  HelixSession *self = HELIX_SESSION (object);

  switch (prop_id)
    {
    case PROP_ID:
      g_value_set_string (value, self->id);
      break;

    case PROP_TITLE:
      g_value_set_string (value, self->title);
      break;

    case PROP_CREATED_US:
      g_value_set_int64 (value, self->created_us);
      break;

    case PROP_UPDATED_US:
      g_value_set_int64 (value, self->updated_us);
      break;

    case PROP_PINNED:
      g_value_set_boolean (value, self->pinned);
      break;

    case PROP_ARCHIVED:
      g_value_set_boolean (value, self->archived);
      break;

    case PROP_DELETED:
      g_value_set_boolean (value, self->deleted);
      break;

    case PROP_HLC:
      g_value_set_string (value, self->hlc);
      break;

    case PROP_N_MESSAGES:
      g_value_set_uint64 (value, self->n_messages);
      break;

    case PROP_MODEL:
      g_value_set_string (value, self->model);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static gboolean
set_str (char       **ptr,
         const char  *value)
{
  if (g_strcmp0 (*ptr, value) == 0)
    return FALSE;

  g_free (*ptr);
  *ptr = g_strdup (value);

  return TRUE;
}

static void
helix_session_class_init (HelixSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = helix_session_finalize;
  object_class->get_property = helix_session_get_property;

  properties[PROP_ID] =
    g_param_spec_string ("id", NULL, NULL, NULL,
                         (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  properties[PROP_TITLE] =
    g_param_spec_string ("title", NULL, NULL, NULL,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  properties[PROP_CREATED_US] =
    g_param_spec_int64 ("created-us", NULL, NULL, 0, G_MAXINT64, 0,
                        (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  properties[PROP_UPDATED_US] =
    g_param_spec_int64 ("updated-us", NULL, NULL, 0, G_MAXINT64, 0,
                        (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  properties[PROP_PINNED] =
    g_param_spec_boolean ("pinned", NULL, NULL, FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  properties[PROP_ARCHIVED] =
    g_param_spec_boolean ("archived", NULL, NULL, FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  properties[PROP_DELETED] =
    g_param_spec_boolean ("deleted", NULL, NULL, FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  properties[PROP_HLC] =
    g_param_spec_string ("hlc", NULL, NULL, NULL,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  properties[PROP_N_MESSAGES] =
    g_param_spec_uint64 ("n-messages", NULL, NULL, 0, G_MAXUINT64, 0,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  /**
   * HelixSession:model: (nullable)
   *
   * The model the user pinned for the session: every answer asks for it.
   * %NULL means automatic (the router chooses).
   */
  properties[PROP_MODEL] =
    g_param_spec_string ("model", NULL, NULL, NULL,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
helix_session_init (HelixSession *self)
{
}

HelixSession *
_helix_session_new (void)
{
  return g_object_new (HELIX_TYPE_SESSION, NULL);
}

/* Copies @from's state into @self, notifying only what changed. */
void
_helix_session_update (HelixSession *self,
                       HelixSession *from)
{
  g_return_if_fail (HELIX_IS_SESSION (self));
  g_return_if_fail (HELIX_IS_SESSION (from));
  g_return_if_fail (g_strcmp0 (self->id, from->id) == 0);

  g_object_freeze_notify (G_OBJECT (self));

  if (set_str (&self->title, from->title))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TITLE]);
  if (set_str (&self->hlc, from->hlc))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HLC]);
  if (set_str (&self->model, from->model))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL]);

#define UPDATE_FIELD(field, prop) \
  G_STMT_START { \
    if (self->field != from->field) \
      { \
        self->field = from->field; \
        g_object_notify_by_pspec (G_OBJECT (self), properties[prop]); \
      } \
  } G_STMT_END

  UPDATE_FIELD (updated_us, PROP_UPDATED_US);
  UPDATE_FIELD (n_messages, PROP_N_MESSAGES);
  UPDATE_FIELD (pinned, PROP_PINNED);
  UPDATE_FIELD (archived, PROP_ARCHIVED);
  UPDATE_FIELD (deleted, PROP_DELETED);

#undef UPDATE_FIELD

  self->rowid = from->rowid;

  g_object_thaw_notify (G_OBJECT (self));
}

const char *
helix_session_get_id (HelixSession *self)
{
  g_return_val_if_fail (HELIX_IS_SESSION (self), NULL);
  return self->id;
}

const char *
helix_session_get_title (HelixSession *self)
{
  g_return_val_if_fail (HELIX_IS_SESSION (self), NULL);
  return self->title;
}

/**
 * helix_session_dup_created:
 *
 * Returns: (transfer full): when the session was created, in local time
 */
GDateTime *
helix_session_dup_created (HelixSession *self)
{
  g_autoptr(GDateTime) utc = NULL;

  g_return_val_if_fail (HELIX_IS_SESSION (self), NULL);

  utc = g_date_time_new_from_unix_utc (self->created_us / G_USEC_PER_SEC);

  return g_date_time_to_local (utc);
}

gint64
helix_session_get_created_us (HelixSession *self)
{
  g_return_val_if_fail (HELIX_IS_SESSION (self), 0);
  return self->created_us;
}

gint64
helix_session_get_updated_us (HelixSession *self)
{
  g_return_val_if_fail (HELIX_IS_SESSION (self), 0);
  return self->updated_us;
}

gboolean
helix_session_get_pinned (HelixSession *self)
{
  g_return_val_if_fail (HELIX_IS_SESSION (self), FALSE);
  return self->pinned;
}

gboolean
helix_session_get_archived (HelixSession *self)
{
  g_return_val_if_fail (HELIX_IS_SESSION (self), FALSE);
  return self->archived;
}

gboolean
helix_session_get_deleted (HelixSession *self)
{
  g_return_val_if_fail (HELIX_IS_SESSION (self), FALSE);
  return self->deleted;
}

const char *
helix_session_get_hlc (HelixSession *self)
{
  g_return_val_if_fail (HELIX_IS_SESSION (self), NULL);
  return self->hlc;
}

guint64
helix_session_get_n_messages (HelixSession *self)
{
  g_return_val_if_fail (HELIX_IS_SESSION (self), 0);
  return self->n_messages;
}

/**
 * helix_session_get_model:
 * @self: a #HelixSession
 *
 * Returns: (nullable): the model the user pinned for the session, or %NULL for
 *   automatic
 */
const char *
helix_session_get_model (HelixSession *self)
{
  g_return_val_if_fail (HELIX_IS_SESSION (self), NULL);
  return self->model;
}
