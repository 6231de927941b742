/* test-models.c: HelixSessionList and HelixMessageList
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "helix-core.h"
#include "helix-test-util.h"

typedef struct
{
  char       *dir;
  HelixStore *store;
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;

  f->dir = g_dir_make_tmp ("helix-models-XXXXXX", &error);
  g_assert_no_error (error);
  path = g_build_filename (f->dir, "helix.db", NULL);
  f->store = helix_store_open (path, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  helix_store_close (f->store);
  helix_test_assert_finalized (g_steal_pointer (&f->store));
  helix_test_rm_rf (f->dir);
  g_free (f->dir);
}

static void
wait_loaded (HelixSessionList *list)
{
  helix_test_wait_for (!helix_session_list_get_loading (list), 10, "session list");
}

static const char *
title_at (GListModel *model,
          guint       position)
{
  g_autoptr(HelixSession) session = g_list_model_get_item (model, position);

  g_assert_nonnull (session);
  /* The list holds a reference: the pointer stays valid after we drop ours. */
  return helix_session_get_title (session);
}

typedef struct
{
  guint position;
  guint removed;
  guint added;
  guint n_signals;
} Changes;

static void
on_items_changed (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  Changes    *changes)
{
  changes->position = position;
  changes->removed = removed;
  changes->added = added;
  changes->n_signals++;
}

static void
test_session_list (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) a = helix_store_create_session (f->store, "Alpha", &error);
  g_autoptr(HelixSession) b = helix_store_create_session (f->store, "Beta", &error);
  g_autoptr(HelixSessionList) list = helix_session_list_new (f->store);
  g_autoptr(HelixSession) c = NULL;
  g_autoptr(HelixSession) held = NULL;
  g_autoptr(HelixSession) tmp = NULL;
  GListModel *model = G_LIST_MODEL (list);
  Changes changes = { 0 };
  HelixNewMessage nm = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "bump");
  g_autoptr(HelixMessage) m = NULL;
  guint position = 0;

  g_assert_true (helix_session_list_get_loading (list));
  wait_loaded (list);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 2);
  g_assert_true (g_list_model_get_item_type (model) == HELIX_TYPE_SESSION);
  g_assert_cmpstr (title_at (model, 0), ==, "Beta");
  g_assert_cmpstr (title_at (model, 1), ==, "Alpha");
  g_assert_null (g_list_model_get_item (model, 2));

  g_signal_connect (list, "items-changed", G_CALLBACK (on_items_changed), &changes);

  /* A new session appears at the top. */
  c = helix_store_create_session (f->store, "Gamma", &error);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 3);
  g_assert_cmpstr (title_at (model, 0), ==, "Gamma");
  g_assert_cmpuint (changes.position, ==, 0);
  g_assert_cmpuint (changes.added, ==, 1);

  /* Renames update the object the list holds, in place. */
  held = g_object_ref (helix_session_list_find (list, helix_session_get_id (a), &position));
  g_assert_cmpuint (position, ==, 2);
  tmp = helix_store_rename_session (f->store, helix_session_get_id (a), "Alpha prime", &error);
  g_clear_object (&tmp);
  g_assert_cmpstr (helix_session_get_title (held), ==, "Alpha prime");

  /* A message moves its session to the top. */
  m = helix_store_append_message (f->store, helix_session_get_id (a), &nm, &error);
  g_assert_no_error (error);
  g_assert_true (helix_session_list_find (list, helix_session_get_id (a), &position) == held);
  g_assert_cmpuint (position, ==, 0);
  g_assert_cmpuint (helix_session_get_n_messages (held), ==, 1);

  /* Pinning moves Beta above it. */
  tmp = helix_store_set_session_flag (f->store, helix_session_get_id (b), HELIX_SESSION_FLAG_PINNED, TRUE, &error);
  g_clear_object (&tmp);
  g_assert_cmpstr (title_at (model, 0), ==, "Beta");

  /* Archived and deleted sessions leave the list; undo brings them back. */
  tmp = helix_store_set_session_flag (f->store, helix_session_get_id (c), HELIX_SESSION_FLAG_ARCHIVED, TRUE, &error);
  g_clear_object (&tmp);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 2);
  tmp = helix_store_set_session_flag (f->store, helix_session_get_id (b), HELIX_SESSION_FLAG_DELETED, TRUE, &error);
  g_clear_object (&tmp);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 1);
  g_assert_cmpuint (changes.removed, ==, 1);
  tmp = helix_store_set_session_flag (f->store, helix_session_get_id (b), HELIX_SESSION_FLAG_DELETED, FALSE, &error);
  g_clear_object (&tmp);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 2);

  helix_session_list_set_show_archived (list, TRUE);
  wait_loaded (list);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 3);
  g_assert_no_error (error);

  g_signal_handlers_disconnect_by_data (list, &changes);
}

static void
test_session_list_changes_while_loading (Fixture       *f,
                                         gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSessionList) list = helix_session_list_new (f->store);
  g_autoptr(HelixSession) a = NULL;

  /* Written while the first load is in flight: must not be lost. */
  a = helix_store_create_session (f->store, "Racing", &error);
  g_assert_no_error (error);
  wait_loaded (list);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (list)), ==, 1);
}

static void
test_message_list_paging (Fixture       *f,
                          gconstpointer  data)
{
  const guint n = 5000;
  g_autoptr(GError) error = NULL;
  g_autoptr(HelixSession) s = helix_store_create_session (f->store, "Long", &error);
  g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  g_autofree HelixNewMessage *batch = g_new0 (HelixNewMessage, n);
  g_autoptr(HelixMessageList) list = NULL;
  g_autoptr(HelixMessage) added = NULL;
  GListModel *model;
  Changes changes = { 0 };
  HelixNewMessage nm = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_ASSISTANT, "the newest");

  for (guint i = 0; i < n; i++)
    {
      g_ptr_array_add (texts, g_strdup_printf ("row %u", i));
      batch[i] = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, texts->pdata[i]);
    }
  g_assert_true (helix_store_import_messages (f->store, helix_session_get_id (s), batch, n, &error));
  g_assert_no_error (error);

  list = helix_message_list_new (f->store, helix_session_get_id (s));
  model = G_LIST_MODEL (list);

  /* Counting loads nothing. */
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, n);
  g_assert_cmpuint (helix_message_list_get_n_cached (list), ==, 0);

  /* The last rows, as a view opening at the bottom asks for them. */
  for (guint i = n - 50; i < n; i++)
    {
      g_autoptr(HelixMessage) m = g_list_model_get_item (model, i);
      g_autofree char *expected = g_strdup_printf ("row %u", i);

      g_assert_cmpstr (helix_message_get_content (m), ==, expected);
      g_assert_cmpuint (helix_message_get_position (m), ==, i);
    }
  g_assert_cmpuint (helix_message_list_get_n_cached (list), <=, 128);

  /* Scrolling through everything keeps memory bounded. */
  for (guint i = 0; i < n; i += 7)
    {
      g_autoptr(HelixMessage) m = g_list_model_get_item (model, i);
      g_autofree char *expected = g_strdup_printf ("row %u", i);

      g_assert_cmpstr (helix_message_get_content (m), ==, expected);
    }
  g_assert_cmpuint (helix_message_list_get_n_cached (list), <=, 16 * 64);
  g_assert_null (g_list_model_get_item (model, n));

  /* A new message is appended and announced. */
  g_signal_connect (list, "items-changed", G_CALLBACK (on_items_changed), &changes);
  added = helix_store_append_message (f->store, helix_session_get_id (s), &nm, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (changes.n_signals, ==, 1);
  g_assert_cmpuint (changes.position, ==, n);
  g_assert_cmpuint (changes.added, ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, n + 1);
  {
    g_autoptr(HelixMessage) last = g_list_model_get_item (model, n);
    g_assert_cmpstr (helix_message_get_content (last), ==, "the newest");
  }

  /* Messages of other sessions do not show up. */
  {
    g_autoptr(HelixSession) other = helix_store_create_session (f->store, "Other", &error);
    g_autoptr(HelixMessage) m = helix_store_append_message (f->store, helix_session_get_id (other), &nm, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (g_list_model_get_n_items (model), ==, n + 1);
  }

  /* An import grows the model by the imported rows. */
  g_assert_true (helix_store_import_messages (f->store, helix_session_get_id (s), batch, 10, &error));
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, n + 11);
  g_assert_cmpuint (changes.added, ==, 10);

  g_signal_handlers_disconnect_by_data (list, &changes);
}

static void
test_message_list_empty (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(HelixMessageList) list = helix_message_list_new (f->store, "0190a0b2-7c3d-7000-8000-000000000000");

  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (list)), ==, 0);
  g_assert_null (g_list_model_get_item (G_LIST_MODEL (list), 0));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/helix/models/session-list", Fixture, NULL,
              fixture_setup, test_session_list, fixture_teardown);
  g_test_add ("/helix/models/session-list-changes-while-loading", Fixture, NULL,
              fixture_setup, test_session_list_changes_while_loading, fixture_teardown);
  g_test_add ("/helix/models/message-list-paging", Fixture, NULL,
              fixture_setup, test_message_list_paging, fixture_teardown);
  g_test_add ("/helix/models/message-list-empty", Fixture, NULL,
              fixture_setup, test_message_list_empty, fixture_teardown);

  return g_test_run ();
}
