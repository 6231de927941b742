/* test-sync-client.c: desktop stores kept in sync through a real gateway
 *
 * A real gateway in this process on an ephemeral loopback port; each device is a real
 * HelixStore with its own SQLite file and a HelixSyncClient speaking the protocol over
 * a real libsoup WebSocket. Every wait is on a real event, with a timeout that fails.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "helix-gateway.h"
#include "helix-gateway-sync.h"
#include "helix-store-sync.h"
#include "helix-sync-private.h"
#include "helix-test-gateway.h"
#include "helix-test-server.h"
#include "helix-test-sync.h"

#define PASSWORD "correct horse battery staple"

typedef struct
{
  HelixStore      *store;
  HelixSyncClient *client;
  char            *token;
} Device;

typedef struct
{
  char         *dir;
  char         *state_dir;
  HelixGateway *gateway;
  char         *uri;
  char         *listen;
  Device        a;
  Device        b;
} Fixture;

static HelixGateway *
start_gateway (const char *listen,
               const char *state_dir)
{
  g_autoptr(HelixGatewayConfig) config = helix_gateway_config_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (helix_gateway_config_set_listen (config, listen, &error));
  g_assert_true (helix_gateway_config_set_state_dir (config, state_dir, &error));
  g_assert_no_error (error);

  return helix_test_gateway_start (config);
}

static void
stop_gateway (Fixture *f)
{
  helix_test_gateway_shutdown (f->gateway);
  g_clear_object (&f->gateway);
}

static void
device_init (Fixture    *f,
             Device     *device,
             const char *name)
{
  g_autofree char *path = g_strdup_printf ("%s/%s.db", f->dir, name);
  g_autoptr(GError) error = NULL;

  device->store = helix_store_open (path, &error);
  g_assert_no_error (error);
  device->client = helix_sync_client_new (device->store);
  helix_sync_client_set_backoff (device->client, 20, 200);
  device->token = helix_test_login (NULL, f->uri, "alice", PASSWORD, name, NULL);
}

static void
device_connect (Fixture *f,
                Device  *device)
{
  helix_sync_client_connect (device->client, f->uri, device->token);
}

static void
device_clear (Device *device)
{
  helix_sync_client_disconnect (device->client);
  helix_test_assert_finalized (g_steal_pointer (&device->client));
  helix_store_close (device->store);
  g_clear_object (&device->store);
  g_clear_pointer (&device->token, g_free);
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUri) uri = NULL;

  f->dir = g_dir_make_tmp ("helix-sync-client-XXXXXX", &error);
  g_assert_no_error (error);
  f->state_dir = g_build_filename (f->dir, "state", NULL);
  f->gateway = start_gateway ("127.0.0.1:0", f->state_dir);
  f->uri = g_strdup (helix_gateway_get_uri (f->gateway));
  uri = g_uri_parse (f->uri, G_URI_FLAGS_NONE, &error);
  g_assert_no_error (error);
  f->listen = g_strdup_printf ("127.0.0.1:%d", g_uri_get_port (uri));

  helix_test_gateway_add_user (f->gateway, "alice", PASSWORD);
  device_init (f, &f->a, "laptop");
  device_init (f, &f->b, "desktop");
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  device_clear (&f->a);
  device_clear (&f->b);
  if (f->gateway != NULL)
    stop_gateway (f);
  helix_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->state_dir);
  g_free (f->uri);
  g_free (f->listen);
}

static gint64
gateway_head (Fixture *f)
{
  HelixGatewayDb *db = helix_gateway_get_db (f->gateway);
  g_autoptr(HelixGatewayUser) user = NULL;
  g_autoptr(GError) error = NULL;
  gint64 head;

  user = helix_gateway_db_lookup_user (db, "alice", &error);
  g_assert_no_error (error);
  head = helix_gateway_db_get_head (db, user->id, &error);
  g_assert_no_error (error);

  return head;
}

static void
wait_state (HelixSyncClient *client,
            HelixSyncState   state)
{
  g_autofree char *name = g_enum_to_string (HELIX_TYPE_SYNC_STATE, state);
  g_autofree char *what = g_strdup_printf ("sync state %s", name);

  helix_test_wait_for (helix_sync_client_get_state (client) == state, HELIX_TEST_WAIT_S, what);
}

static HelixSession *
create_session (Device     *device,
                const char *title)
{
  g_autoptr(GError) error = NULL;
  HelixSession *session = helix_store_create_session (device->store, title, &error);

  g_assert_no_error (error);

  return session;
}

static void
append (Device     *device,
        const char *session_id,
        const char *content)
{
  HelixNewMessage message = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, content);
  g_autoptr(HelixMessage) added = NULL;
  g_autoptr(GError) error = NULL;

  added = helix_store_append_message (device->store, session_id, &message, &error);
  g_assert_no_error (error);
}

static void
rename_session (Device     *device,
                const char *session_id,
                const char *title)
{
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(GError) error = NULL;

  session = helix_store_rename_session (device->store, session_id, title, &error);
  g_assert_no_error (error);
}

static void
set_flag (Device           *device,
          const char       *session_id,
          HelixSessionFlag  flag,
          gboolean          value)
{
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(GError) error = NULL;

  session = helix_store_set_session_flag (device->store, session_id, flag, value, &error);
  g_assert_no_error (error);
}

/* Tests {{{1 */

typedef struct
{
  const char *message_id;
  gint64      received_us;
} Arrival;

static void
on_message_added (HelixStore   *store,
                  HelixMessage *message,
                  gpointer      user_data)
{
  Arrival *arrival = user_data;

  if (g_strcmp0 (helix_message_get_id (message), arrival->message_id) == 0)
    arrival->received_us = g_get_monotonic_time ();
}

/* A message written on A appears on B while both are connected; the state goes
 * offline → connecting → syncing → up to date. */
static void
test_realtime (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(HelixSession) session = NULL;
  g_autoptr(HelixMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  HelixNewMessage new_message = HELIX_NEW_MESSAGE_INIT (HELIX_MESSAGE_ROLE_USER, "Hello from the laptop");
  HelixSyncClient *clients[] = { f->a.client, f->b.client };
  Arrival arrival = { 0 };
  gint64 sent_us, total_us = 0;
  gulong handler;
  guint rounds = 20;

  g_assert_cmpint (helix_sync_client_get_state (f->a.client), ==, HELIX_SYNC_STATE_OFFLINE);
  device_connect (f, &f->a);
  g_assert_cmpint (helix_sync_client_get_state (f->a.client), ==, HELIX_SYNC_STATE_CONNECTING);
  device_connect (f, &f->b);
  wait_state (f->a.client, HELIX_SYNC_STATE_UP_TO_DATE);
  wait_state (f->b.client, HELIX_SYNC_STATE_UP_TO_DATE);

  session = create_session (&f->a, "Realtime");
  handler = g_signal_connect (f->b.store, "message-added", G_CALLBACK (on_message_added), &arrival);

  for (guint i = 0; i < rounds; i++)
    {
      g_clear_object (&message);
      sent_us = g_get_monotonic_time ();
      message = helix_store_append_message (f->a.store, helix_session_get_id (session),
                                            &new_message, &error);
      g_assert_no_error (error);
      arrival.message_id = helix_message_get_id (message);
      arrival.received_us = 0;
      helix_test_wait_for (arrival.received_us != 0, HELIX_TEST_WAIT_S, "the message on B");
      total_us += arrival.received_us - sent_us;
    }
  g_signal_handler_disconnect (f->b.store, handler);

  /* Recorded, not asserted: speed is measured by the benchmarks. */
  g_test_message ("A -> B delivery: mean %.2f ms over %u messages (commit on A, push, "
                  "gateway commit, fan-out, apply on B)", total_us / 1000.0 / rounds, rounds);

  helix_test_wait_converged (clients, G_N_ELEMENTS (clients), HELIX_TEST_WAIT_S);
  {
    g_autoptr(HelixSession) on_b = helix_store_get_session (f->b.store, helix_session_get_id (session),
                                                            &error);

    g_assert_no_error (error);
    g_assert_cmpstr (helix_session_get_title (on_b), ==, "Realtime");
    g_assert_cmpuint (helix_session_get_n_messages (on_b), ==, rounds);
  }

  /* And the other way round. */
  rename_session (&f->b, helix_session_get_id (session), "Renamed on the desktop");
  helix_test_wait_converged (clients, G_N_ELEMENTS (clients), HELIX_TEST_WAIT_S);
  {
    g_autoptr(HelixSession) on_a = helix_store_get_session (f->a.store, helix_session_get_id (session),
                                                            &error);

    g_assert_no_error (error);
    g_assert_cmpstr (helix_session_get_title (on_a), ==, "Renamed on the desktop");
  }

  /* Each op was stored once: one session, its messages, one rename. */
  g_assert_cmpint (gateway_head (f), ==, 1 + rounds + 1);
}

/* A and B each make 100 changes while offline, some of them conflicting; once they
 * reconnect they converge, with nothing lost or duplicated. */
static void
test_offline_convergence (Fixture       *f,
                          gconstpointer  data)
{
  HelixSyncClient *clients[] = { f->a.client, f->b.client };
  g_autoptr(HelixSession) shared = NULL;
  g_autoptr(HelixSession) doomed = NULL;
  g_autoptr(GError) error = NULL;
  const char *shared_id, *doomed_id;
  Device *devices[] = { &f->a, &f->b };
  gint64 head_before, took_us;

  device_connect (f, &f->a);
  device_connect (f, &f->b);
  shared = create_session (&f->a, "Shared");
  doomed = create_session (&f->a, "Doomed");
  shared_id = helix_session_get_id (shared);
  doomed_id = helix_session_get_id (doomed);
  append (&f->a, shared_id, "first");
  append (&f->a, doomed_id, "will be hidden");
  helix_test_wait_converged (clients, G_N_ELEMENTS (clients), HELIX_TEST_WAIT_S);
  head_before = gateway_head (f);
  g_assert_cmpint (head_before, ==, 4);

  helix_sync_client_disconnect (f->a.client);
  helix_sync_client_disconnect (f->b.client);
  g_assert_cmpint (helix_sync_client_get_state (f->a.client), ==, HELIX_SYNC_STATE_OFFLINE);

  /* 100 changes on each side: 10 renames of the shared chat, 1 flag change, 1 on the
   * doomed chat, 20 new chats with 3 messages each, 8 messages in the shared chat. */
  for (guint d = 0; d < G_N_ELEMENTS (devices); d++)
    {
      Device *device = devices[d];
      const char *name = d == 0 ? "A" : "B";

      for (guint i = 0; i < 10; i++)
        {
          g_autofree char *title = g_strdup_printf ("Shared, renamed by %s (%u)", name, i);

          rename_session (device, shared_id, title);
        }
      set_flag (device, shared_id, HELIX_SESSION_FLAG_PINNED, d == 0);
      if (d == 0)
        set_flag (device, doomed_id, HELIX_SESSION_FLAG_ARCHIVED, TRUE);
      else
        set_flag (device, doomed_id, HELIX_SESSION_FLAG_DELETED, TRUE);

      for (guint i = 0; i < 20; i++)
        {
          g_autofree char *title = g_strdup_printf ("Offline chat %u on %s", i, name);
          g_autoptr(HelixSession) session = create_session (device, title);

          for (guint j = 0; j < 3; j++)
            {
              g_autofree char *content = g_strdup_printf ("%s: message %u of chat %u", name, j, i);

              append (device, helix_session_get_id (session), content);
            }
        }
      for (guint i = 0; i < 8; i++)
        {
          g_autofree char *content = g_strdup_printf ("%s: offline note %u", name, i);

          append (device, shared_id, content);
        }
    }

  /* The outboxes hold the 100 changes each, and say so. */
  g_assert_cmpint (helix_store_outbox_count (f->a.store, &error), ==, 100);
  g_assert_cmpint (helix_store_outbox_count (f->b.store, &error), ==, 100);
  helix_test_wait_for (helix_sync_client_get_pending (f->a.client) == 100, HELIX_TEST_WAIT_S,
                       "the pending count");

  device_connect (f, &f->a);
  device_connect (f, &f->b);
  took_us = helix_test_wait_converged (clients, G_N_ELEMENTS (clients), HELIX_TEST_WAIT_S);
  g_test_message ("200 offline changes converged %.1f ms after reconnecting", took_us / 1000.0);

  /* Nothing duplicated: the gateway stored each op once, each store has each message
   * once, and the shared chat has the 1 + 16 messages in the same order on both. */
  g_assert_cmpint (gateway_head (f), ==, head_before + 200);
  for (guint d = 0; d < G_N_ELEMENTS (devices); d++)
    {
      HelixStore *store = devices[d]->store;
      g_autoptr(HelixSession) session = helix_store_get_session (store, shared_id, &error);
      g_autoptr(HelixSession) gone = helix_store_get_session (store, doomed_id, &error);

      g_assert_no_error (error);
      g_assert_cmpint (helix_test_count_rows (store, "SELECT count(*) FROM messages"), ==,
                       2 + 2 * 68);
      g_assert_cmpint (helix_test_count_rows (store, "SELECT count(DISTINCT uuid) FROM messages"), ==,
                       2 + 2 * 68);
      g_assert_cmpint (helix_test_count_rows (store, "SELECT count(*) FROM sessions WHERE NOT deleted"),
                       ==, 1 + 40);
      g_assert_cmpuint (helix_session_get_n_messages (session), ==, 17);
      /* The last rename wins, and B renamed last. */
      g_assert_cmpstr (helix_session_get_title (session), ==, "Shared, renamed by B (9)");
      g_assert_false (helix_session_get_pinned (session));
      /* A tombstone wins over A's later archiving. */
      g_assert_true (helix_session_get_deleted (gone));
      g_assert_cmpint (helix_store_outbox_count (store, &error), ==, 0);
    }
}

static void
on_signed_out (HelixSyncClient *client,
               gpointer         user_data)
{
  gboolean *signed_out = user_data;

  *signed_out = TRUE;
}

/* A token revoked on the gateway stops the client at once, with no retrying. */
static void
test_revoked (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(GBytes) body = NULL;
  gboolean signed_out = FALSE;

  device_connect (f, &f->a);
  wait_state (f->a.client, HELIX_SYNC_STATE_UP_TO_DATE);
  g_signal_connect (f->a.client, "signed-out", G_CALLBACK (on_signed_out), &signed_out);

  body = helix_test_http (NULL, f->uri, SOUP_METHOD_POST, "/api/v1/auth/logout", f->a.token, NULL,
                          SOUP_STATUS_NO_CONTENT);
  helix_test_wait_for (signed_out, HELIX_TEST_WAIT_S, "signed-out");
  g_assert_cmpint (helix_sync_client_get_state (f->a.client), ==, HELIX_SYNC_STATE_OFFLINE);
  g_assert_cmpint (helix_sync_client_get_retry_at (f->a.client), ==, 0);
  g_assert_nonnull (helix_sync_client_get_last_error (f->a.client));

  /* Connecting again with the dead token is refused before the upgrade (401). */
  signed_out = FALSE;
  device_connect (f, &f->a);
  helix_test_wait_for (signed_out, HELIX_TEST_WAIT_S, "signed-out after a 401");
  g_assert_cmpint (helix_sync_client_get_retry_at (f->a.client), ==, 0);
}

/* The gateway goes away and comes back on the same port: the client shows it is
 * offline, keeps local changes, reconnects on its own and pushes them. */
static void
test_reconnect (Fixture       *f,
                gconstpointer  data)
{
  HelixSyncClient *clients[] = { f->a.client, f->b.client };
  g_autoptr(HelixSession) session = NULL;

  device_connect (f, &f->a);
  device_connect (f, &f->b);
  wait_state (f->a.client, HELIX_SYNC_STATE_UP_TO_DATE);

  stop_gateway (f);
  wait_state (f->a.client, HELIX_SYNC_STATE_OFFLINE);
  helix_test_wait_for (helix_sync_client_get_retry_at (f->a.client) != 0, HELIX_TEST_WAIT_S,
                       "a retry to be scheduled");

  session = create_session (&f->a, "Written while the gateway was down");
  append (&f->a, helix_session_get_id (session), "still here");
  helix_test_wait_for (helix_sync_client_get_pending (f->a.client) == 2, HELIX_TEST_WAIT_S,
                       "two pending changes");
  g_assert_cmpint (helix_sync_client_get_state (f->a.client), !=, HELIX_SYNC_STATE_UP_TO_DATE);

  f->gateway = start_gateway (f->listen, f->state_dir);
  helix_test_wait_converged (clients, G_N_ELEMENTS (clients), HELIX_TEST_WAIT_S);
  g_assert_cmpint (gateway_head (f), ==, 2);
}

/* A gateway restored from an older backup (its head is behind the device's cursor):
 * the device syncs again from the start and loses nothing. */
static void
test_gateway_behind (Fixture       *f,
                     gconstpointer  data)
{
  HelixSyncClient *clients[] = { f->a.client, f->b.client };
  g_autoptr(HelixSession) session = NULL;
  g_autofree char *backup = g_build_filename (f->dir, "backup", NULL);
  g_autoptr(GError) error = NULL;

  device_connect (f, &f->a);
  device_connect (f, &f->b);
  session = create_session (&f->a, "Before the backup");
  helix_test_wait_converged (clients, G_N_ELEMENTS (clients), HELIX_TEST_WAIT_S);

  /* A cold copy of the gateway's state... */
  stop_gateway (f);
  {
    g_autofree char *from = g_build_filename (f->state_dir, "gateway.db", NULL);
    g_autofree char *to = NULL;
    g_autofree char *contents = NULL;
    gsize length;

    g_assert_cmpint (g_mkdir_with_parents (backup, 0700), ==, 0);
    to = g_build_filename (backup, "gateway.db", NULL);
    g_file_get_contents (from, &contents, &length, &error);
    g_assert_no_error (error);
    g_file_set_contents (to, contents, length, &error);
    g_assert_no_error (error);
  }
  f->gateway = start_gateway (f->listen, f->state_dir);

  /* ...then more history, which the backup does not have. */
  append (&f->a, helix_session_get_id (session), "after the backup");
  helix_test_wait_converged (clients, G_N_ELEMENTS (clients), HELIX_TEST_WAIT_S);
  g_assert_cmpint (helix_store_get_sync_cursor (f->b.store, &error), ==, 2);

  /* Restore the backup: head 1, while A and B are at 2. */
  stop_gateway (f);
  g_free (f->state_dir);
  f->state_dir = g_steal_pointer (&backup);
  f->gateway = start_gateway (f->listen, f->state_dir);

  helix_test_wait_converged (clients, G_N_ELEMENTS (clients), HELIX_TEST_WAIT_S);
  /* The message the backup lost is still on both devices (A does not push it again:
   * it was acknowledged); a new change syncs. */
  append (&f->b, helix_session_get_id (session), "after the restore");
  helix_test_wait_converged (clients, G_N_ELEMENTS (clients), HELIX_TEST_WAIT_S);
  g_assert_cmpint (helix_test_count_rows (f->a.store, "SELECT count(*) FROM messages"), ==, 2);
  g_assert_cmpint (helix_test_count_rows (f->b.store, "SELECT count(*) FROM messages"), ==, 2);
}

/* A device that synced with one gateway signs in to another: the cursor of the first
 * means nothing there, so it syncs the second one's history from the start. */
static void
test_switch_gateway (Fixture       *f,
                     gconstpointer  data)
{
  g_autofree char *other_dir = g_build_filename (f->dir, "other", NULL);
  g_autoptr(HelixGateway) other = start_gateway ("127.0.0.1:0", other_dir);
  const char *other_uri = helix_gateway_get_uri (other);
  g_autofree char *a_token = NULL;
  g_autoptr(GError) error = NULL;
  Device c = { 0 };

  device_connect (f, &f->a);
  for (guint i = 0; i < 5; i++)
    g_object_unref (create_session (&f->a, "On the first gateway"));
  helix_test_wait_for (helix_test_client_idle (f->a.client), HELIX_TEST_WAIT_S, "A to sync");
  g_assert_cmpint (helix_store_get_sync_cursor (f->a.store, &error), ==, 5);

  /* Another device fills the second gateway with 8 changes. */
  helix_test_gateway_add_user (other, "alice", PASSWORD);
  {
    g_autofree char *path = g_build_filename (f->dir, "c.db", NULL);

    c.store = helix_store_open (path, &error);
    g_assert_no_error (error);
    c.client = helix_sync_client_new (c.store);
    c.token = helix_test_login (NULL, other_uri, "alice", PASSWORD, "c", NULL);
  }
  helix_sync_client_connect (c.client, other_uri, c.token);
  for (guint i = 0; i < 8; i++)
    g_object_unref (create_session (&c, "On the second gateway"));
  helix_test_wait_for (helix_test_client_idle (c.client), HELIX_TEST_WAIT_S, "C to sync");

  a_token = helix_test_login (NULL, other_uri, "alice", PASSWORD, "laptop", NULL);
  helix_sync_client_connect (f->a.client, other_uri, a_token);
  helix_test_wait_for (helix_test_client_idle (f->a.client) &&
                       helix_test_count_rows (f->a.store, "SELECT count(*) FROM sessions") == 13,
                       HELIX_TEST_WAIT_S, "A to get the second gateway's history");
  g_assert_cmpint (helix_store_get_sync_cursor (f->a.store, &error), ==, 8);

  device_clear (&c);
  helix_test_gateway_shutdown (other);
}

/* The upgrade requests a stand-in gateway saw. */
typedef struct
{
  guint  n_upgrades;
  char  *extensions;  /* Sec-WebSocket-Extensions of the last, "" without */
} Upgrades;

static void
upgrade_handler (SoupServer        *server,
                 SoupServerMessage *msg,
                 const char        *path,
                 GHashTable        *query,
                 gpointer           user_data)
{
  Upgrades *upgrades = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *extensions = soup_message_headers_get_one (headers, "Sec-WebSocket-Extensions");

  if (soup_message_headers_header_contains (headers, "Upgrade", "websocket"))
    {
      upgrades->n_upgrades++;
      g_free (upgrades->extensions);
      upgrades->extensions = g_strdup (extensions != NULL ? extensions : "");
    }
  soup_server_message_set_status (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, NULL);
}

static void
websocket_refused_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SoupWebsocketConnection) ws =
    soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);

  g_assert_null (ws);
  *(gboolean *) user_data = TRUE;
}

/* The client offers no WebSocket extension: permessage-deflate stays off
 * on both ends (the gateway refuses it too: test-gateway-ws). */
static void
test_no_deflate (void)
{
  HelixTestServer server = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("helix-sync-client-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "helix.db", NULL);
  g_autofree char *base = NULL;
  g_autofree char *sync_uri = NULL;
  g_autoptr(HelixStore) store = NULL;
  HelixSyncClient *client;
  Upgrades upgrades = { 0 };

  g_assert_no_error (error);
  helix_test_server_start (&server, upgrade_handler, &upgrades);
  base = g_strdup_printf ("http://127.0.0.1:%u", server.port);

  /* What a libsoup session with the extension manager offers: the
   * stand-in sees it. */
  {
    g_autoptr(SoupSession) session = soup_session_new ();
    g_autoptr(SoupMessage) msg = NULL;
    gboolean done = FALSE;

    soup_session_add_feature_by_type (session, SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER);
    sync_uri = g_strconcat (base, "/api/v1/sync", NULL);
    msg = soup_message_new (SOUP_METHOD_GET, sync_uri);
    soup_session_websocket_connect_async (session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                          websocket_refused_cb, &done);
    helix_test_wait_for (done, 30, "a default libsoup WebSocket");
    g_assert_cmpuint (upgrades.n_upgrades, ==, 1);
    g_assert_nonnull (strstr (upgrades.extensions, "permessage-deflate"));
  }

  /* The sync client's upgrade. */
  store = helix_store_open (path, &error);
  g_assert_no_error (error);
  client = helix_sync_client_new (store);
  helix_sync_client_connect (client, base, "not-a-real-token-0123456789abcdef");
  helix_test_wait_for (upgrades.n_upgrades == 2, 30, "the sync client's upgrade");
  g_assert_cmpstr (upgrades.extensions, ==, "");

  helix_sync_client_disconnect (client);
  helix_test_assert_finalized (client);
  helix_store_close (store);
  helix_test_server_clear (&server);
  g_free (upgrades.extensions);
  helix_test_rm_rf (dir);
}

/* The reconnect delay: its ceiling doubles from 1 s with each failed
 * attempt and stops at 60 s; the delay is spread over the ceiling's upper
 * half. */
static void
test_backoff (void)
{
  static const guint expected_ceilings[] = { 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000 };
  const guint min_ms = HELIX_SYNC_CLIENT_BACKOFF_MIN_MS;
  const guint max_ms = HELIX_SYNC_CLIENT_BACKOFF_MAX_MS;
  g_autoptr(GHashTable) seen = g_hash_table_new (NULL, NULL);
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);

  g_assert_cmpuint (min_ms, ==, 1000);
  g_assert_cmpuint (max_ms, ==, 60000);

  for (guint attempt = 0; attempt < G_N_ELEMENTS (expected_ceilings); attempt++)
    {
      guint ceiling = expected_ceilings[attempt];
      guint previous = 0;

      g_assert_cmpuint (_helix_sync_backoff_delay_ms (min_ms, max_ms, attempt, 0.0),
                        ==, ceiling / 2);
      g_assert_cmpuint (_helix_sync_backoff_delay_ms (min_ms, max_ms, attempt, 0.9999999),
                        ==, ceiling);
      g_assert_cmpuint (_helix_sync_backoff_delay_ms (min_ms, max_ms, attempt, 1.0), ==, ceiling);
      for (double r = 0.0; r < 1.0; r += 0.01)
        {
          guint delay = _helix_sync_backoff_delay_ms (min_ms, max_ms, attempt, r);

          g_assert_cmpuint (delay, >=, previous);
          previous = delay;
        }
    }

  /* However many attempts failed, never more than the cap, never an overflow. */
  for (guint attempt = 8; attempt < 64; attempt++)
    g_assert_cmpuint (_helix_sync_backoff_delay_ms (min_ms, max_ms, attempt, 0.9999999),
                      ==, max_ms);
  g_assert_cmpuint (_helix_sync_backoff_delay_ms (min_ms, max_ms, G_MAXUINT, 0.5), <=, max_ms);
  g_assert_cmpuint (_helix_sync_backoff_delay_ms (G_MAXUINT, G_MAXUINT, 40, 1.0), ==, G_MAXUINT);

  /* Jitter: clients that failed together come back spread out. */
  for (guint i = 0; i < 1000; i++)
    {
      guint delay = _helix_sync_backoff_delay_ms (min_ms, max_ms, 20, g_rand_double (rand));

      g_assert_cmpuint (delay, >=, max_ms / 2);
      g_assert_cmpuint (delay, <=, max_ms);
      g_hash_table_add (seen, GUINT_TO_POINTER (delay));
    }
  g_assert_cmpuint (g_hash_table_size (seen), >, 900);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/sync-client/backoff", test_backoff);
  g_test_add_func ("/sync-client/no-deflate", test_no_deflate);
  g_test_add ("/sync-client/realtime", Fixture, NULL, fixture_setup, test_realtime, fixture_teardown);
  g_test_add ("/sync-client/offline-convergence", Fixture, NULL, fixture_setup,
              test_offline_convergence, fixture_teardown);
  g_test_add ("/sync-client/revoked", Fixture, NULL, fixture_setup, test_revoked, fixture_teardown);
  g_test_add ("/sync-client/reconnect", Fixture, NULL, fixture_setup, test_reconnect,
              fixture_teardown);
  g_test_add ("/sync-client/switch-gateway", Fixture, NULL, fixture_setup, test_switch_gateway,
              fixture_teardown);
  g_test_add ("/sync-client/gateway-behind", Fixture, NULL, fixture_setup, test_gateway_behind,
              fixture_teardown);

  return g_test_run ();
}
