/* helix-state-file.c: a small JSON document kept durably in a private file
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-audit"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "helix-json.h"
#include "helix-state-file.h"
#include "helix-sync-json.h"

/**
 * HelixStateFile:
 *
 * A JSON object kept in a file of its own (mode 0600) for settings changed
 * at run time that must survive a restart: the feature flags, the gateway's
 * maintenance mode.
 *
 * helix_state_file_open() reads the file, if there is one, once at start-up
 * (at most %HELIX_STATE_FILE_MAX_BYTES, nested at most
 * %HELIX_STATE_FILE_MAX_DEPTH levels, strict JSON). Changes are made one
 * member at a time: helix_state_file_set_member_async() writes the whole
 * document with the member changed to a temporary file in a worker thread,
 * syncs it to disk and renames it over the old one, so that a crash leaves
 * either the old or the new document. Only once that succeeded does the
 * document in memory (helix_state_file_get_root()) change. Changes are
 * written in the order they were asked for, one at a time.
 */

struct _HelixStateFile
{
  GObject     parent_instance;

  char       *path;
  JsonNode   *root;     /* the document as it is on disk (an object) */

  GQueue      pending;  /* GTask: changes waiting for their turn */
  GTask      *writing;  /* (nullable): the change being written */
};

/* One change of a member. */
typedef struct
{
  char     *name;
  JsonNode *value;      /* (nullable): remove the member */
  JsonNode *new_root;   /* the document with the change, once its turn came */
  char     *text;       /* @new_root as text */
  char     *path;
} Change;

G_DEFINE_FINAL_TYPE (HelixStateFile, helix_state_file, G_TYPE_OBJECT)

G_DEFINE_QUARK (helix-state-file-error-quark, helix_state_file_error)

static void start_next (HelixStateFile *self);

static void
change_free (Change *change)
{
  g_free (change->name);
  g_clear_pointer (&change->value, json_node_unref);
  g_clear_pointer (&change->new_root, json_node_unref);
  g_free (change->text);
  g_free (change->path);
  g_free (change);
}

static void
helix_state_file_dispose (GObject *object)
{
  HelixStateFile *self = (HelixStateFile *) object;
  GTask *task;

  /* A change still queued holds a reference to @self: none can be left. */
  while ((task = g_queue_pop_head (&self->pending)) != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               _("The state file was closed before the change was written"));
      g_object_unref (task);
    }

  G_OBJECT_CLASS (helix_state_file_parent_class)->dispose (object);
}

static void
helix_state_file_finalize (GObject *object)
{
  HelixStateFile *self = (HelixStateFile *) object;

  g_assert (self->writing == NULL);

  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->root, json_node_unref);

  G_OBJECT_CLASS (helix_state_file_parent_class)->finalize (object);
}

static void
helix_state_file_class_init (HelixStateFileClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = helix_state_file_dispose;
  object_class->finalize = helix_state_file_finalize;
}

static void
helix_state_file_init (HelixStateFile *self)
{
  g_queue_init (&self->pending);
  self->root = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (self->root, json_object_new ());
}

/* Reads @path into @contents, refusing a link, anything but a regular file
 * and a file larger than HELIX_STATE_FILE_MAX_BYTES. Returns %FALSE with
 * G_IO_ERROR_NOT_FOUND if there is no file. */
static gboolean
read_limited (const char  *path,
              char       **contents,
              gsize       *length,
              GError     **error)
{
  g_autofree char *buffer = NULL;
  struct stat st;
  gsize done = 0;
  int fd;

  fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0);
  if (fd < 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   _("Could not open the state file “%s”: %s"), path, g_strerror (saved_errno));
      return FALSE;
    }

  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, HELIX_STATE_FILE_ERROR, HELIX_STATE_FILE_ERROR_READ,
                   _("The state file “%s” is not a regular file; move it away"), path);
      close (fd);
      return FALSE;
    }

  if (st.st_size > HELIX_STATE_FILE_MAX_BYTES)
    {
      g_set_error (error, HELIX_STATE_FILE_ERROR, HELIX_STATE_FILE_ERROR_INVALID,
                   _("The state file “%s” is larger than %u bytes: it was not written by "
                     "Helix; move it away"),
                   path, (guint) HELIX_STATE_FILE_MAX_BYTES);
      close (fd);
      return FALSE;
    }

  /* One byte more than allowed, to notice a file that grew meanwhile. */
  buffer = g_malloc (HELIX_STATE_FILE_MAX_BYTES + 2);
  while (done <= HELIX_STATE_FILE_MAX_BYTES)
    {
      gssize n = read (fd, buffer + done, HELIX_STATE_FILE_MAX_BYTES + 1 - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved_errno = errno;

          g_set_error (error, HELIX_STATE_FILE_ERROR, HELIX_STATE_FILE_ERROR_READ,
                       _("Could not read the state file “%s”: %s"), path,
                       g_strerror (saved_errno));
          close (fd);
          return FALSE;
        }
      if (n == 0)
        break;
      done += n;
    }
  close (fd);

  if (done > HELIX_STATE_FILE_MAX_BYTES)
    {
      g_set_error (error, HELIX_STATE_FILE_ERROR, HELIX_STATE_FILE_ERROR_INVALID,
                   _("The state file “%s” is larger than %u bytes: it was not written by "
                     "Helix; move it away"),
                   path, (guint) HELIX_STATE_FILE_MAX_BYTES);
      return FALSE;
    }

  buffer[done] = '\0';
  *contents = g_steal_pointer (&buffer);
  *length = done;

  return TRUE;
}

/**
 * helix_state_file_open:
 * @path: the file; its directory must exist
 * @error: return location for a #GError
 *
 * Reads @path if it exists (an empty document otherwise). This blocks: it is
 * meant for start-up, before the main loop serves anything. A file that is
 * not a JSON object, is larger than %HELIX_STATE_FILE_MAX_BYTES or nests
 * deeper than %HELIX_STATE_FILE_MAX_DEPTH is refused
 * (%HELIX_STATE_FILE_ERROR_INVALID) and left as it is.
 *
 * Returns: (transfer full) (nullable): the state file, or %NULL on error
 */
HelixStateFile *
helix_state_file_open (const char  *path,
                       GError     **error)
{
  g_autoptr(HelixStateFile) self = NULL;
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;
  JsonNode *root;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (HELIX_TYPE_STATE_FILE, NULL);
  self->path = g_strdup (path);

  if (!read_limited (path, &contents, &length, &local_error))
    {
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        return g_steal_pointer (&self);

      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  if (!helix_json_check_text (contents, length, HELIX_STATE_FILE_MAX_BYTES,
                              HELIX_STATE_FILE_MAX_DEPTH, &local_error) ||
      !helix_json_validate (contents, length, HELIX_STATE_FILE_MAX_DEPTH, &local_error))
    {
      g_set_error (error, HELIX_STATE_FILE_ERROR, HELIX_STATE_FILE_ERROR_INVALID,
                   _("The state file “%s” is damaged (%s); move it away to start over"),
                   path, local_error->message);
      return NULL;
    }

  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, contents, length, &local_error))
    {
      g_set_error (error, HELIX_STATE_FILE_ERROR, HELIX_STATE_FILE_ERROR_INVALID,
                   _("The state file “%s” is damaged (%s); move it away to start over"),
                   path, local_error->message);
      return NULL;
    }

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, HELIX_STATE_FILE_ERROR, HELIX_STATE_FILE_ERROR_INVALID,
                   _("The state file “%s” does not hold a JSON object; move it away to start "
                     "over"),
                   path);
      return NULL;
    }

  g_clear_pointer (&self->root, json_node_unref);
  self->root = json_node_copy (root);

  return g_steal_pointer (&self);
}

/**
 * helix_state_file_get_path:
 * @self: a state file
 *
 * Returns: its path
 */
const char *
helix_state_file_get_path (HelixStateFile *self)
{
  g_return_val_if_fail (HELIX_IS_STATE_FILE (self), NULL);

  return self->path;
}

/**
 * helix_state_file_get_root:
 * @self: a state file
 *
 * Returns: (transfer none): the document as it was last written (or read)
 */
JsonObject *
helix_state_file_get_root (HelixStateFile *self)
{
  g_return_val_if_fail (HELIX_IS_STATE_FILE (self), NULL);

  return json_node_get_object (self->root);
}

/* The document with @change made. */
static void
change_prepare (HelixStateFile *self,
                Change         *change)
{
  JsonObject *object;

  change->new_root = json_node_copy (self->root);
  object = json_node_get_object (change->new_root);
  if (change->value != NULL)
    json_object_set_member (object, change->name, json_node_copy (change->value));
  else if (json_object_has_member (object, change->name))
    json_object_remove_member (object, change->name);

  change->text = json_to_string (change->new_root, TRUE);
  change->path = g_strdup (self->path);
}

/* Writes a temporary file, syncs it, renames it over @path and syncs the
 * directory: either the old or the new document survives a crash. */
static gboolean
write_durably (const char  *path,
               const char  *text,
               GError     **error)
{
  g_autoptr(GError) local_error = NULL;

  if (!g_file_set_contents_full (path, text, -1,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0600, &local_error))
    {
      g_set_error (error, HELIX_STATE_FILE_ERROR, HELIX_STATE_FILE_ERROR_WRITE,
                   _("Could not write the state file “%s”: %s. Check the free space and "
                     "the permissions of its directory."),
                   path, local_error->message);
      return FALSE;
    }

  return TRUE;
}

static void
write_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  Change *change = task_data;
  GError *error = NULL;

  if (write_durably (change->path, change->text, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
write_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  HelixStateFile *self = HELIX_STATE_FILE (source);
  g_autoptr(GTask) outer = user_data;
  Change *change = g_task_get_task_data (outer);
  GError *error = NULL;

  g_assert (self->writing == outer);
  self->writing = NULL;

  if (g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_clear_pointer (&self->root, json_node_unref);
      self->root = g_steal_pointer (&change->new_root);
      g_task_return_boolean (outer, TRUE);
    }
  else
    g_task_return_error (outer, error);

  start_next (self);
}

static void
start_next (HelixStateFile *self)
{
  g_autoptr(GTask) inner = NULL;
  GTask *outer;

  if (self->writing != NULL)
    return;

  while ((outer = g_queue_pop_head (&self->pending)) != NULL &&
         g_cancellable_is_cancelled (g_task_get_cancellable (outer)))
    {
      g_task_return_new_error (outer, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               _("The change was cancelled before it was written"));
      g_object_unref (outer);
    }
  if (outer == NULL)
    return;

  /* Made now, from the document as the changes before left it. */
  change_prepare (self, g_task_get_task_data (outer));

  self->writing = outer;
  inner = g_task_new (self, NULL, write_done_cb, outer);
  g_task_set_source_tag (inner, start_next);
  g_task_set_task_data (inner, g_task_get_task_data (outer), NULL);
  g_task_run_in_thread (inner, write_thread);
}

/**
 * helix_state_file_set_member_async:
 * @self: a state file
 * @name: the member
 * @value: (nullable): its new value (copied); %NULL to remove it
 * @cancellable: (nullable): a #GCancellable (checked before the change is written)
 * @callback: called once the file is written, or could not be
 * @user_data: data for @callback
 *
 * Writes the document with @name set to @value, in a worker thread, after the
 * changes asked for before. The document in memory changes only once the file
 * is written.
 */
void
helix_state_file_set_member_async (HelixStateFile      *self,
                                   const char          *name,
                                   JsonNode            *value,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  GTask *task;
  Change *change;

  g_return_if_fail (HELIX_IS_STATE_FILE (self));
  g_return_if_fail (name != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  change = g_new0 (Change, 1);
  change->name = g_strdup (name);
  change->value = value != NULL ? json_node_copy (value) : NULL;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_state_file_set_member_async);
  /* Once written, the change is made whatever happens to @cancellable. */
  g_task_set_check_cancellable (task, FALSE);
  g_task_set_task_data (task, change, (GDestroyNotify) change_free);

  g_queue_push_tail (&self->pending, task);
  start_next (self);
}

/**
 * helix_state_file_set_member_finish:
 * @self: a state file
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the change is on disk (and in helix_state_file_get_root())
 */
gboolean
helix_state_file_set_member_finish (HelixStateFile  *self,
                                    GAsyncResult    *result,
                                    GError         **error)
{
  g_return_val_if_fail (HELIX_IS_STATE_FILE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        helix_state_file_set_member_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * helix_state_file_set_member:
 * @self: a state file
 * @name: the member
 * @value: (nullable): its new value (copied); %NULL to remove it
 * @error: return location for a #GError
 *
 * The same as helix_state_file_set_member_async(), blocking: for the command
 * line and tests, never while asynchronous changes are pending.
 *
 * Returns: %TRUE if the change is on disk
 */
gboolean
helix_state_file_set_member (HelixStateFile  *self,
                             const char      *name,
                             JsonNode        *value,
                             GError         **error)
{
  Change change = { 0 };
  gboolean ok;

  g_return_val_if_fail (HELIX_IS_STATE_FILE (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (self->writing == NULL && g_queue_is_empty (&self->pending), FALSE);

  change.name = (char *) name;
  change.value = value;
  change_prepare (self, &change);

  ok = write_durably (change.path, change.text, error);
  if (ok)
    {
      g_clear_pointer (&self->root, json_node_unref);
      self->root = g_steal_pointer (&change.new_root);
    }

  g_clear_pointer (&change.new_root, json_node_unref);
  g_free (change.text);
  g_free (change.path);

  return ok;
}
