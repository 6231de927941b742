/* helix-message-list.c: a paged GListModel of the messages of one session
 *
 * A session may hold a million messages; this model holds none of them up front. Its
 * length comes from the session row, and items are fetched a page at a time, with one
 * index range scan each, when a view asks for them. A small LRU of pages bounds memory
 * however far the user scrolls.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-core"

#include "config.h"

#include "helix-message-list.h"
#include "helix-message-private.h"
#include "helix-session-private.h"

#define PAGE_SIZE 64
#define MAX_PAGES 16

typedef struct
{
  guint64    index;
  GPtrArray *messages;
} Page;

struct _HelixMessageList
{
  GObject     parent_instance;

  HelixStore *store;
  char       *session_id;
  guint       n_items;

  /* Most recently used first. */
  GQueue      pages;

  gulong      message_added_handler;
  gulong      session_changed_handler;
};

static void list_model_iface_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (HelixMessageList, helix_message_list, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, list_model_iface_init))

enum {
  PROP_0,
  PROP_STORE,
  PROP_SESSION_ID,
  PROP_N_ITEMS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
page_free (Page *page)
{
  g_ptr_array_unref (page->messages);
  g_free (page);
}

static Page *
lookup_page (HelixMessageList *self,
             guint64           index)
{
  for (GList *l = self->pages.head; l != NULL; l = l->next)
    {
      Page *page = l->data;

      if (page->index == index)
        {
          if (l != self->pages.head)
            {
              g_queue_unlink (&self->pages, l);
              g_queue_push_head_link (&self->pages, l);
            }
          return page;
        }
    }

  return NULL;
}

static Page *
load_page (HelixMessageList *self,
           guint64           index)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *messages;
  Page *page;

  messages = helix_store_get_messages (self->store, self->session_id,
                                       index * PAGE_SIZE, PAGE_SIZE, &error);
  if (messages == NULL)
    {
      g_warning ("Could not load messages of chat %s: %s", self->session_id, error->message);
      return NULL;
    }

  page = g_new0 (Page, 1);
  page->index = index;
  page->messages = messages;
  g_queue_push_head (&self->pages, page);

  while (self->pages.length > MAX_PAGES)
    page_free (g_queue_pop_tail (&self->pages));

  return page;
}

static GType
helix_message_list_get_item_type (GListModel *model)
{
  return HELIX_TYPE_MESSAGE;
}

static guint
helix_message_list_get_n_items (GListModel *model)
{
  return HELIX_MESSAGE_LIST (model)->n_items;
}

static gpointer
helix_message_list_get_item (GListModel *model,
                             guint       position)
{
  HelixMessageList *self = HELIX_MESSAGE_LIST (model);
  guint64 index = position / PAGE_SIZE;
  guint offset = position % PAGE_SIZE;
  Page *page;

  if (position >= self->n_items)
    return NULL;

  /* One bounded index lookup of at most PAGE_SIZE rows: tens of microseconds, even on a
   * session of a million messages (see the store_open_last50_ms benchmark). */
  page = lookup_page (self, index);
  if (page == NULL || (page->messages->len <= offset && page->messages->len < PAGE_SIZE))
    {
      if (page != NULL)
        {
          g_queue_remove (&self->pages, page);
          page_free (page);
        }
      page = load_page (self, index);
    }

  if (page == NULL || offset >= page->messages->len)
    return NULL;

  return g_object_ref (g_ptr_array_index (page->messages, offset));
}

static void
list_model_iface_init (GListModelInterface *iface)
{
  iface->get_item_type = helix_message_list_get_item_type;
  iface->get_n_items = helix_message_list_get_n_items;
  iface->get_item = helix_message_list_get_item;
}

static void
grow_to (HelixMessageList *self,
         guint64           n_items)
{
  guint old = self->n_items;

  if (n_items <= old)
    return;

  self->n_items = (guint) MIN (n_items, (guint64) G_MAXUINT);
  g_list_model_items_changed (G_LIST_MODEL (self), old, 0, self->n_items - old);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
}

static void
on_message_added (HelixMessageList *self,
                  HelixMessage     *message,
                  HelixStore       *store)
{
  Page *page;

  if (!g_str_equal (message->session_id, self->session_id))
    return;

  if (message->position < self->n_items)
    {
      /* A message from another device sorted before messages shown already (they
       * were written while offline): everything from there on moved down a place. */
      guint position = (guint) message->position;
      guint old = self->n_items;

      for (GList *l = self->pages.head; l != NULL;)
        {
          GList *next = l->next;
          Page *cached = l->data;

          if ((cached->index + 1) * PAGE_SIZE > position)
            {
              page_free (cached);
              g_queue_delete_link (&self->pages, l);
            }
          l = next;
        }

      self->n_items++;
      g_list_model_items_changed (G_LIST_MODEL (self), position, old - position,
                                  self->n_items - position);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
      return;
    }

  /* Keep the new message in its page if that page is loaded, so the view does not
   * need to go back to the database for the row it is about to show. */
  page = lookup_page (self, message->position / PAGE_SIZE);
  if (page != NULL && page->messages->len == message->position % PAGE_SIZE)
    g_ptr_array_add (page->messages, g_object_ref (message));

  grow_to (self, message->position + 1);
}

static void
on_session_changed (HelixMessageList *self,
                    HelixSession     *session,
                    HelixStore       *store)
{
  /* Imports add many messages at once and announce only the session. */
  if (g_str_equal (session->id, self->session_id))
    grow_to (self, session->n_messages);
}

static void
helix_message_list_constructed (GObject *object)
{
  HelixMessageList *self = (HelixMessageList *)object;
  g_autoptr(GError) error = NULL;
  guint64 n_messages;

  G_OBJECT_CLASS (helix_message_list_parent_class)->constructed (object);

  g_assert (HELIX_IS_STORE (self->store));
  g_assert (self->session_id != NULL);

  self->message_added_handler =
    g_signal_connect_object (self->store, "message-added",
                             G_CALLBACK (on_message_added), self, G_CONNECT_SWAPPED);
  self->session_changed_handler =
    g_signal_connect_object (self->store, "session-changed",
                             G_CALLBACK (on_session_changed), self, G_CONNECT_SWAPPED);

  n_messages = helix_store_count_messages (self->store, self->session_id, &error);
  self->n_items = (guint) MIN (n_messages, (guint64) G_MAXUINT);
  if (error != NULL && !g_error_matches (error, HELIX_STORE_ERROR, HELIX_STORE_ERROR_NOT_FOUND))
    g_warning ("Could not count the messages of chat %s: %s", self->session_id, error->message);
}

static void
helix_message_list_dispose (GObject *object)
{
  HelixMessageList *self = (HelixMessageList *)object;

  g_clear_signal_handler (&self->message_added_handler, self->store);
  g_clear_signal_handler (&self->session_changed_handler, self->store);
  g_queue_clear_full (&self->pages, (GDestroyNotify) page_free);
  g_clear_object (&self->store);

  G_OBJECT_CLASS (helix_message_list_parent_class)->dispose (object);
}

static void
helix_message_list_finalize (GObject *object)
{
  HelixMessageList *self = (HelixMessageList *)object;

  g_clear_pointer (&self->session_id, g_free);

  G_OBJECT_CLASS (helix_message_list_parent_class)->finalize (object);
}

static void
helix_message_list_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  HelixMessageList *self = HELIX_MESSAGE_LIST (object);

  switch (prop_id)
    {
    case PROP_STORE:
      g_value_set_object (value, self->store);
      break;

    case PROP_SESSION_ID:
      g_value_set_string (value, self->session_id);
      break;

    case PROP_N_ITEMS:
      g_value_set_uint (value, self->n_items);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_message_list_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  HelixMessageList *self = HELIX_MESSAGE_LIST (object);

  switch (prop_id)
    {
    case PROP_STORE:
      self->store = g_value_dup_object (value);
      break;

    case PROP_SESSION_ID:
      self->session_id = g_value_dup_string (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
helix_message_list_class_init (HelixMessageListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = helix_message_list_constructed;
  object_class->dispose = helix_message_list_dispose;
  object_class->finalize = helix_message_list_finalize;
  object_class->get_property = helix_message_list_get_property;
  object_class->set_property = helix_message_list_set_property;

  properties[PROP_STORE] =
    g_param_spec_object ("store", NULL, NULL, HELIX_TYPE_STORE,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));
  properties[PROP_SESSION_ID] =
    g_param_spec_string ("session-id", NULL, NULL, NULL,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));
  properties[PROP_N_ITEMS] =
    g_param_spec_uint ("n-items", NULL, NULL, 0, G_MAXUINT, 0,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
helix_message_list_init (HelixMessageList *self)
{
  g_queue_init (&self->pages);
}

/**
 * helix_message_list_new:
 * @store: a #HelixStore
 * @session_id: the session to show
 *
 * Returns: (transfer full): a new model; it counts the session's messages (one
 *   indexed lookup) and loads nothing else until asked
 */
HelixMessageList *
helix_message_list_new (HelixStore *store,
                        const char *session_id)
{
  g_return_val_if_fail (HELIX_IS_STORE (store), NULL);
  g_return_val_if_fail (session_id != NULL, NULL);

  return g_object_new (HELIX_TYPE_MESSAGE_LIST,
                       "store", store,
                       "session-id", session_id,
                       NULL);
}

HelixStore *
helix_message_list_get_store (HelixMessageList *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE_LIST (self), NULL);
  return self->store;
}

const char *
helix_message_list_get_session_id (HelixMessageList *self)
{
  g_return_val_if_fail (HELIX_IS_MESSAGE_LIST (self), NULL);
  return self->session_id;
}

/**
 * helix_message_list_get_n_cached:
 *
 * Returns: how many messages the model holds in memory right now
 */
guint
helix_message_list_get_n_cached (HelixMessageList *self)
{
  guint n = 0;

  g_return_val_if_fail (HELIX_IS_MESSAGE_LIST (self), 0);

  for (GList *l = self->pages.head; l != NULL; l = l->next)
    n += ((Page *) l->data)->messages->len;

  return n;
}
