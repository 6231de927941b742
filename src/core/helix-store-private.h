/* helix-store-private.h: what the store shares with its sibling files and tests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <sqlite3.h>

#include "helix-hlc.h"
#include "helix-store.h"
#include "helix-store-sync.h"

G_BEGIN_DECLS

#define HELIX_STORE_APPLICATION_ID 1212962865 /* 'HLX1' */

/* What helix-store.c, helix-store-write.c and helix-store-read.c share. */
struct _HelixStore
{
  GObject        parent_instance;

  char          *path;
  char          *device_id;
  guint          schema_version;
  HelixHlcClock *clock;
  GMainContext  *main_context;
  GThread       *main_thread;

  GMutex         writer_mutex;
  sqlite3       *writer;
  sqlite3_stmt  *find_session_stmt;
  sqlite3_stmt  *insert_message_stmt;
  sqlite3_stmt  *bump_session_stmt;
  sqlite3_stmt  *index_messages_stmt;
  sqlite3_stmt  *index_watermark_stmt;
  sqlite3_stmt  *set_watermark_stmt;
  guint          n_unindexed;
  sqlite3_stmt  *begin_stmt;
  sqlite3_stmt  *commit_stmt;
  sqlite3_stmt  *rollback_stmt;
  sqlite3_stmt  *writer_session_stmt;
  sqlite3_stmt  *outbox_insert_stmt;
  GThreadPool   *write_pool;

  GMutex         reader_mutex;
  sqlite3       *reader;
  sqlite3_stmt  *page_stmt;
  sqlite3_stmt  *reader_session_stmt;

  GMutex         pool_mutex;
  GPtrArray     *idle_readers;

  GThreadPool   *checkpoint_pool;
  sqlite3       *checkpointer;
  gint           checkpoint_queued;

  guint          closed : 1;
};

#define MAX_IDLE_READERS   4
#define MAX_SEARCH_LIMIT   1000
#define MAX_PAGE           1024
/* WAL pages after which a checkpoint is started in the background (4 MiB). */
#define CHECKPOINT_PAGES   1000

#define SESSION_COLUMNS \
  "s.id, s.uuid, s.title, s.created_us, s.updated_us, s.pinned, s.archived, s.deleted, " \
  "s.hlc, s.n_messages, s.model"
#define N_SESSION_COLUMNS 11

#define MESSAGE_COLUMNS \
  "m.id, m.uuid, m.position, m.role, m.content, m.created_us, m.status, m.model, " \
  "m.provider, m.tokens_in, m.tokens_out, m.cost, m.metadata, m.hlc"

gboolean      _helix_store_check_open       (HelixStore     *self,
                                             GError        **error);
gboolean      _helix_store_check_id         (const char     *id,
                                             const char     *what,
                                             GError        **error);
gboolean      _helix_store_check_text       (const char     *text,
                                             gsize           max_bytes,
                                             const char     *what,
                                             GError        **error);
sqlite3      *_helix_store_acquire_reader   (HelixStore     *self,
                                             GError        **error);
void          _helix_store_release_reader   (HelixStore     *self,
                                             sqlite3        *db);
HelixSession *_helix_store_session_from_row (sqlite3_stmt   *stmt,
                                             int             first);
HelixMessage *_helix_store_message_from_row (sqlite3_stmt   *stmt,
                                             GRefString     *session_id);
HelixSession *_helix_store_load_session     (HelixStore     *self,
                                             sqlite3        *db,
                                             const char     *session_id,
                                             GError        **error);
void          _helix_store_emit_changes     (HelixStore     *self,
                                             GPtrArray      *objects);
extern GPrivate _helix_store_in_writer_thread;

void          _helix_store_write_pool_func  (gpointer        data,
                                             gpointer        user_data);

guint         _helix_store_list_migrations  (guint         **versions);
gboolean      _helix_store_migrate          (sqlite3        *db,
                                             guint           target_version,
                                             GError        **error);
gboolean      _helix_store_create_at_version (const char    *path,
                                              guint          version,
                                              GError       **error);
gboolean      _helix_store_checkpoint       (HelixStore     *self,
                                             GError        **error);
gboolean      _helix_store_flush_index      (HelixStore     *self,
                                             GError        **error);
int           _helix_store_writer_begin     (HelixStore     *self);
int           _helix_store_writer_commit    (HelixStore     *self);
void          _helix_store_writer_rollback  (HelixStore     *self);
gboolean      _helix_store_enqueue          (HelixStore     *self,
                                             const char     *kind,
                                             const char     *entity,
                                             const char     *session_id,
                                             const char     *hlc,
                                             const char     *data,
                                             GError        **error);

G_END_DECLS
