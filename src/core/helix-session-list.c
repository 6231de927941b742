/* helix-session-list.c: a GListModel of the sessions in a store
 *
 * Holds one HelixSession per visible session, sorted pinned first, then by latest
 * activity. It loads in a worker thread and then follows the store's signals, updating
 * its objects in place so that bindings to their properties follow renames.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-core"

#include "config.h"

#include "helix-session-list.h"
#include "helix-session-private.h"

struct _HelixSessionList
{
  GObject       parent_instance;

  HelixStore   *store;
  GPtrArray    *items;
  GCancellable *cancellable;
  gulong        changed_handler;

  guint         show_archived : 1;
  guint         loading : 1;
  guint         reload_needed : 1;
};

static void list_model_iface_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (HelixSessionList, helix_session_list, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, list_model_iface_init))

enum {
  PROP_0,
  PROP_STORE,
  PROP_SHOW_ARCHIVED,
  PROP_LOADING,
  PROP_N_ITEMS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void helix_session_list_reload (HelixSessionList *self);

static GType
helix_session_list_get_item_type (GListModel *model)
{
  return HELIX_TYPE_SESSION;
}

static guint
helix_session_list_get_n_items (GListModel *model)
{
  return HELIX_SESSION_LIST (model)->items->len;
}

static gpointer
helix_session_list_get_item (GListModel *model,
                             guint       position)
{
  HelixSessionList *self = HELIX_SESSION_LIST (model);

  if (position >= self->items->len)
    return NULL;

  return g_object_ref (g_ptr_array_index (self->items, position));
}

static void
list_model_iface_init (GListModelInterface *iface)
{
  iface->get_item_type = helix_session_list_get_item_type;
  iface->get_n_items = helix_session_list_get_n_items;
  iface->get_item = helix_session_list_get_item;
}

static int
compare_sessions (HelixSession *a,
                  HelixSession *b)
{
  if (a->pinned != b->pinned)
    return a->pinned ? -1 : 1;
  if (a->updated_us != b->updated_us)
    return a->updated_us > b->updated_us ? -1 : 1;
  if (a->rowid != b->rowid)
    return a->rowid > b->rowid ? -1 : 1;

  return 0;
}

static guint
sorted_position (HelixSessionList *self,
                 HelixSession     *session)
{
  guint lo = 0;
  guint hi = self->items->len;

  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;

      if (compare_sessions (g_ptr_array_index (self->items, mid), session) < 0)
        lo = mid + 1;
      else
        hi = mid;
    }

  return lo;
}

static gboolean
is_visible (HelixSessionList *self,
            HelixSession     *session)
{
  return !session->deleted && (self->show_archived || !session->archived);
}

static void
items_changed (HelixSessionList *self,
               guint             position,
               guint             removed,
               guint             added)
{
  g_list_model_items_changed (G_LIST_MODEL (self), position, removed, added);
  if (removed != added)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
}

static void
on_session_changed (HelixSessionList *self,
                    HelixSession     *snapshot,
                    HelixStore       *store)
{
  g_autoptr(HelixSession) session = NULL;
  guint old_position;
  guint new_position;

  if (self->loading)
    {
      /* The load may or may not include this change; load again once it is done. */
      self->reload_needed = TRUE;
      return;
    }

  session = helix_session_list_find (self, snapshot->id, &old_position);
  if (session != NULL)
    g_object_ref (session);

  if (session == NULL)
    {
      if (!is_visible (self, snapshot))
        return;

      new_position = sorted_position (self, snapshot);
      g_ptr_array_insert (self->items, new_position, g_object_ref (snapshot));
      items_changed (self, new_position, 0, 1);
      return;
    }

  if (!is_visible (self, snapshot))
    {
      g_ptr_array_remove_index (self->items, old_position);
      items_changed (self, old_position, 1, 0);
      return;
    }

  /* Take it out, update it, and put it back where it now sorts. */
  g_ptr_array_remove_index (self->items, old_position);
  _helix_session_update (session, snapshot);
  new_position = sorted_position (self, session);
  g_ptr_array_insert (self->items, new_position, g_object_ref (session));

  if (new_position != old_position)
    {
      guint first = MIN (old_position, new_position);
      guint n = MAX (old_position, new_position) - first + 1;

      g_list_model_items_changed (G_LIST_MODEL (self), first, n, n);
    }
}

static void
set_loading (HelixSessionList *self,
             gboolean          loading)
{
  if (self->loading == !!loading)
    return;

  self->loading = !!loading;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADING]);
}

static void
list_sessions_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(HelixSessionList) self = user_data;
  g_autoptr(GPtrArray) sessions = NULL;
  g_autoptr(GError) error = NULL;
  guint old_len;

  sessions = helix_store_list_sessions_finish (HELIX_STORE (object), result, &error);
  if (sessions == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_warning ("Could not list the chats: %s", error->message);
          set_loading (self, FALSE);
        }
      return;
    }

  old_len = self->items->len;
  g_ptr_array_set_size (self->items, 0);
  g_ptr_array_extend_and_steal (self->items, g_steal_pointer (&sessions));
  g_clear_object (&self->cancellable);

  /* Announce the items before the end of loading, so that whoever reacts to
   * notify::loading finds views that already know the new items. */
  items_changed (self, 0, old_len, self->items->len);
  set_loading (self, FALSE);

  if (self->reload_needed)
    helix_session_list_reload (self);
}

static void
helix_session_list_reload (HelixSessionList *self)
{
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);

  self->cancellable = g_cancellable_new ();
  self->reload_needed = FALSE;
  set_loading (self, TRUE);

  helix_store_list_sessions_async (self->store, self->show_archived, self->cancellable,
                                   list_sessions_cb, g_object_ref (self));
}

static void
helix_session_list_constructed (GObject *object)
{
  HelixSessionList *self = (HelixSessionList *)object;

  G_OBJECT_CLASS (helix_session_list_parent_class)->constructed (object);

  g_assert (HELIX_IS_STORE (self->store));

  self->changed_handler = g_signal_connect_object (self->store, "session-changed",
                                                   G_CALLBACK (on_session_changed), self,
                                                   G_CONNECT_SWAPPED);
  helix_session_list_reload (self);
}

static void
helix_session_list_dispose (GObject *object)
{
  HelixSessionList *self = (HelixSessionList *)object;

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_signal_handler (&self->changed_handler, self->store);
  g_clear_object (&self->store);

  G_OBJECT_CLASS (helix_session_list_parent_class)->dispose (object);
}

static void
helix_session_list_finalize (GObject *object)
{
  HelixSessionList *self = (HelixSessionList *)object;

  g_clear_pointer (&self->items, g_ptr_array_unref);

  G_OBJECT_CLASS (helix_session_list_parent_class)->finalize (object);
}

static void
helix_session_list_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  HelixSessionList *self = HELIX_SESSION_LIST (object);

  switch (prop_id)
    {
    case PROP_STORE:
      g_value_set_object (value, self->store);
      break;

    case PROP_SHOW_ARCHIVED:
      g_value_set_boolean (value, self->show_archived);
      break;

    case PROP_LOADING:
      g_value_set_boolean (value, self->loading);
      break;

    case PROP_N_ITEMS:
      g_value_set_uint (value, self->items->len);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_session_list_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  HelixSessionList *self = HELIX_SESSION_LIST (object);

  switch (prop_id)
    {
    case PROP_STORE:
      self->store = g_value_dup_object (value);
      break;

    case PROP_SHOW_ARCHIVED:
      helix_session_list_set_show_archived (self, g_value_get_boolean (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_session_list_class_init (HelixSessionListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = helix_session_list_constructed;
  object_class->dispose = helix_session_list_dispose;
  object_class->finalize = helix_session_list_finalize;
  object_class->get_property = helix_session_list_get_property;
  object_class->set_property = helix_session_list_set_property;

  properties[PROP_STORE] =
    g_param_spec_object ("store", NULL, NULL, HELIX_TYPE_STORE,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));
  properties[PROP_SHOW_ARCHIVED] =
    g_param_spec_boolean ("show-archived", NULL, NULL, FALSE,
                          (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  properties[PROP_LOADING] =
    g_param_spec_boolean ("loading", NULL, NULL, FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  properties[PROP_N_ITEMS] =
    g_param_spec_uint ("n-items", NULL, NULL, 0, G_MAXUINT, 0,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
helix_session_list_init (HelixSessionList *self)
{
  self->items = g_ptr_array_new_with_free_func (g_object_unref);
}

HelixSessionList *
helix_session_list_new (HelixStore *store)
{
  g_return_val_if_fail (HELIX_IS_STORE (store), NULL);

  return g_object_new (HELIX_TYPE_SESSION_LIST, "store", store, NULL);
}

HelixStore *
helix_session_list_get_store (HelixSessionList *self)
{
  g_return_val_if_fail (HELIX_IS_SESSION_LIST (self), NULL);
  return self->store;
}

gboolean
helix_session_list_get_show_archived (HelixSessionList *self)
{
  g_return_val_if_fail (HELIX_IS_SESSION_LIST (self), FALSE);
  return self->show_archived;
}

void
helix_session_list_set_show_archived (HelixSessionList *self,
                                      gboolean          show_archived)
{
  g_return_if_fail (HELIX_IS_SESSION_LIST (self));

  if (self->show_archived == !!show_archived)
    return;

  self->show_archived = !!show_archived;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHOW_ARCHIVED]);

  if (self->store != NULL)
    helix_session_list_reload (self);
}

/**
 * helix_session_list_get_loading:
 *
 * Returns: %TRUE until the first (or a new) load finished
 */
gboolean
helix_session_list_get_loading (HelixSessionList *self)
{
  g_return_val_if_fail (HELIX_IS_SESSION_LIST (self), FALSE);
  return self->loading;
}

/**
 * helix_session_list_find:
 * @self: a #HelixSessionList
 * @session_id: a session id
 * @position: (out) (optional): where it is
 *
 * Returns: (transfer none) (nullable): the session, if the list shows it
 */
HelixSession *
helix_session_list_find (HelixSessionList *self,
                         const char       *session_id,
                         guint            *position)
{
  g_return_val_if_fail (HELIX_IS_SESSION_LIST (self), NULL);

  for (guint i = 0; session_id != NULL && i < self->items->len; i++)
    {
      HelixSession *session = g_ptr_array_index (self->items, i);

      if (g_str_equal (session->id, session_id))
        {
          if (position != NULL)
            *position = i;
          return session;
        }
    }

  return NULL;
}
