/* test-webhook-settings.c: the webhooks the user delivers the audit trail to
 * (HelixWebhookSettings), their URLs in a real keyring, the audit entries of
 * their changes, delivery through the app's audit trail, and Preferences → Alerts
 *
 * The keyring is a real gnome-keyring-daemon (helix-test-keyring.h); GSettings is the
 * memory backend; the receiver is a loopback server (helix-test-server.h). Every
 * webhook URL of these tests carries a canary token, and every log line of every
 * test, debug included, is checked for it: the test aborts if one holds it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-test-webhooks"

#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <adwaita.h>
#include <json-glib/json-glib.h>
#include <libsecret/secret.h>
#include <sqlite3.h>

#include "helix-alerts-page-private.h"
#include "helix-application.h"
#include "helix-preferences-window.h"
#include "helix-webhook-settings.h"
#include "helix-test-sqlite.h"
#include "helix-test-canary.h"
#include "helix-test-keyring.h"
#include "helix-test-server.h"
#include "helix-test-util.h"

#define CANARY    "wh-canary-7c1e9b3a5d2f-never-log-this"
#define TOKEN_PATH "/api/webhooks/123456/" CANARY
#define WAIT_S    30

typedef struct
{
  GSettings            *settings;
  HelixWebhookSettings *webhooks;
  char                 *dir;
  char                 *log_path;
  char                 *queue_path;
  HelixTestServer       receiver;
  GPtrArray            *bodies;     /* every request body the receiver got */
  GPtrArray            *paths;      /* and its path */
} Fixture;

/* Helpers {{{1 */

static const SecretSchema *
url_schema (void)
{
  static const SecretSchema schema = {
    HELIX_WEBHOOK_URL_SCHEMA_NAME, SECRET_SCHEMA_NONE,
    {
      { "webhook", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
    }
  };

  return &schema;
}

/* The secret stored for webhook @id, looked up without the code under test. */
static char *
keyring_urls (const char *id)
{
  g_autoptr(GHashTable) attributes = secret_attributes_build (url_schema (), "webhook", id, NULL);

  return helix_test_keyring_lookup (url_schema (), attributes);
}

/* No value of the settings holds @secret. */
static void
assert_not_in_settings (GSettings  *settings,
                        const char *secret)
{
  g_autoptr(GSettingsSchema) schema = NULL;
  g_auto(GStrv) keys = NULL;

  g_object_get (settings, "settings-schema", &schema, NULL);
  keys = g_settings_schema_list_keys (schema);
  for (guint i = 0; keys[i] != NULL; i++)
    {
      g_autoptr(GVariant) value = g_settings_get_value (settings, keys[i]);
      g_autofree char *text = g_variant_print (value, FALSE);

      g_assert_null (strstr (text, secret));
    }
}

static char *
settings_text (GSettings *settings)
{
  g_autoptr(GVariant) value = g_settings_get_value (settings, "webhooks");

  return g_variant_print (value, FALSE);
}

static gboolean
load (HelixWebhookSettings  *webhooks,
      GError               **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  helix_webhook_settings_load_async (webhooks, NULL, helix_test_result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_S, "reading the webhooks");
  return helix_webhook_settings_load_finish (webhooks, result, error);
}

static HelixWebhookSettings *
new_loaded (Fixture *f)
{
  HelixWebhookSettings *webhooks = helix_webhook_settings_new (f->settings);
  g_autoptr(GError) error = NULL;

  g_assert_true (load (webhooks, &error));
  g_assert_no_error (error);

  return webhooks;
}

static HelixWebhook *
save (HelixWebhookSettings  *webhooks,
      const HelixWebhook    *webhook,
      GError               **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  helix_webhook_settings_save_async (webhooks, webhook, NULL, helix_test_result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_S, "saving a webhook");
  return helix_webhook_settings_save_finish (webhooks, result, error);
}

static gboolean
remove_webhook (HelixWebhookSettings  *webhooks,
                const char            *id,
                GError               **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  helix_webhook_settings_remove_async (webhooks, id, NULL, helix_test_result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_S, "removing a webhook");
  return helix_webhook_settings_remove_finish (webhooks, result, error);
}

static char *
token_url (Fixture *f)
{
  return helix_test_server_url (&f->receiver, TOKEN_PATH);
}

static GPtrArray *
audit_entries (HelixAudit *audit)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  HelixAuditFilter filter = { .channel = HELIX_AUDIT_CHANNEL_ASSISTANT_STATE, .limit = 100 };
  GPtrArray *items;

  helix_audit_list_async (audit, &filter, NULL, helix_test_result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_S, "listing the audit log");
  items = helix_audit_list_finish (audit, result, &error);
  g_assert_no_error (error);

  return items;
}

static void
receive (SoupServer        *server,
         SoupServerMessage *msg,
         const char        *path,
         GHashTable        *query,
         gpointer           user_data)
{
  Fixture *f = user_data;
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) flat = soup_message_body_flatten (body);

  g_ptr_array_add (f->bodies, g_strndup (g_bytes_get_data (flat, NULL), g_bytes_get_size (flat)));
  g_ptr_array_add (f->paths, g_strdup (path));
  soup_server_message_set_status (msg, 200, NULL);
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GHashTable) every = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(SecretService) service = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  /* A keyring without the webhooks of the tests before. */
  helix_test_keyring_start (TRUE);
  secret_service_get (SECRET_SERVICE_OPEN_SESSION, NULL, helix_test_keyring_result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_S, "the keyring service");
  service = secret_service_get_finish (result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  secret_service_clear (service, url_schema (), every, NULL, helix_test_keyring_result_cb,
                        &result);
  helix_test_wait_for (result != NULL, WAIT_S, "clearing the keyring");
  secret_service_clear_finish (service, result, &error);
  g_assert_no_error (error);

  f->settings = g_settings_new ("ai.helix.Helix");
  g_settings_reset (f->settings, "webhooks");

  f->dir = g_dir_make_tmp ("helix-webhook-settings-XXXXXX", &error);
  g_assert_no_error (error);
  f->log_path = g_build_filename (f->dir, "audit.db", NULL);
  f->queue_path = g_build_filename (f->dir, "webhooks.db", NULL);

  f->bodies = g_ptr_array_new_with_free_func (g_free);
  f->paths = g_ptr_array_new_with_free_func (g_free);
  /* The application case's child gets no receiver: it uses its parent's. */
  if (!g_test_subprocess ())
    helix_test_server_start (&f->receiver, receive, f);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  if (f->webhooks != NULL)
    helix_test_assert_finalized (g_steal_pointer (&f->webhooks));
  helix_test_server_clear (&f->receiver);
  g_clear_pointer (&f->bodies, g_ptr_array_unref);
  g_clear_pointer (&f->paths, g_ptr_array_unref);
  g_settings_reset (f->settings, "webhooks");
  g_clear_object (&f->settings);
  helix_test_rm_rf (f->dir);
  g_clear_pointer (&f->dir, g_free);
  g_clear_pointer (&f->log_path, g_free);
  g_clear_pointer (&f->queue_path, g_free);
}

/* Tests {{{1 */

/* Saved: the URLs in the keyring only; read back the same by a new object. */
static void
test_save_reload (Fixture       *f,
                  gconstpointer  data)
{
  static const char * const channels[] = { HELIX_AUDIT_CHANNEL_ALERTS,
                                           HELIX_AUDIT_CHANNEL_HEARTBEAT, NULL };
  g_autoptr(HelixWebhookSettings) again = NULL;
  g_autoptr(HelixWebhook) webhook = NULL;
  g_autoptr(HelixWebhook) saved = NULL;
  g_autoptr(HelixWebhook) second = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = token_url (f);
  g_autofree char *backup = g_strdup ("https://backup.example.com/hooks/" CANARY "-backup");
  g_autofree char *stored = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *text = NULL;
  const HelixWebhook *found;

  f->webhooks = new_loaded (f);
  g_assert_cmpuint (helix_webhook_settings_get_n_webhooks (f->webhooks), ==, 0);
  g_assert_null (helix_webhook_settings_get_keyring_error (f->webhooks));

  webhook = helix_webhook_new (NULL, "  Team Discord ", HELIX_WEBHOOK_FORMAT_DISCORD, url, backup,
                               channels);
  saved = save (f->webhooks, webhook, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (saved->id, ==, "team-discord");
  g_assert_cmpstr (saved->name, ==, "Team Discord");
  g_assert_true (helix_webhook_settings_needs_restart (f->webhooks, "team-discord"));

  /* A new one takes the default channels; a same-sounding name gets its own id. */
  g_clear_pointer (&webhook, helix_webhook_free);
  webhook = helix_webhook_new (NULL, "Team: Discord", HELIX_WEBHOOK_FORMAT_JSON,
                               "http://127.0.0.1:9/json", NULL, helix_webhook_default_channels ());
  second = save (f->webhooks, webhook, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (second->id, ==, "team-discord-2");

  /* The keyring has the URLs; the settings, not. */
  stored = keyring_urls ("team-discord");
  expected = g_strconcat (url, "\n", backup, NULL);
  g_assert_cmpstr (stored, ==, expected);
  assert_not_in_settings (f->settings, CANARY);
  assert_not_in_settings (f->settings, "127.0.0.1");
  text = settings_text (f->settings);
  g_test_message ("settings: %s", text);
  g_assert_nonnull (strstr (text, "'team-discord', 'Team Discord', 'discord', "
                                  "['alerts', 'heartbeat']"));
  g_assert_nonnull (strstr (text, "'json', ['alerts', 'hash-chain']"));

  /* A new object reads the same webhooks. */
  again = helix_webhook_settings_new (f->settings);
  g_assert_cmpuint (helix_webhook_settings_get_n_webhooks (again), ==, 2);
  g_assert_null (helix_webhook_settings_lookup (again, "team-discord")->url);
  g_assert_true (load (again, &error));
  g_assert_no_error (error);
  found = helix_webhook_settings_get_webhook (again, 0);
  g_assert_cmpstr (found->id, ==, "team-discord");
  g_assert_cmpstr (found->name, ==, "Team Discord");
  g_assert_cmpint (found->format, ==, HELIX_WEBHOOK_FORMAT_DISCORD);
  g_assert_cmpstr (found->url, ==, url);
  g_assert_cmpstr (found->backup_url, ==, backup);
  g_assert_cmpstrv (found->channels, channels);
  g_assert_false (helix_webhook_settings_needs_restart (again, "team-discord"));
  found = helix_webhook_settings_get_webhook (again, 1);
  g_assert_cmpstr (found->id, ==, "team-discord-2");
  g_assert_cmpint (found->format, ==, HELIX_WEBHOOK_FORMAT_JSON);
  g_assert_cmpstr (found->url, ==, "http://127.0.0.1:9/json");
  g_assert_null (found->backup_url);
  g_assert_cmpstrv (found->channels, helix_webhook_default_channels ());

  /* Removed: out of the settings and the keyring. */
  g_assert_true (remove_webhook (again, "team-discord", &error));
  g_assert_no_error (error);
  g_clear_pointer (&stored, g_free);
  stored = keyring_urls ("team-discord");
  g_assert_null (stored);
  g_assert_cmpuint (helix_webhook_settings_get_n_webhooks (again), ==, 1);
  g_assert_false (remove_webhook (again, "team-discord", &error));
  g_assert_error (error, HELIX_WEBHOOK_SETTINGS_ERROR, HELIX_WEBHOOK_SETTINGS_ERROR_NOT_FOUND);
}

static void
assert_refused (Fixture            *f,
                const HelixWebhook *webhook,
                const char         *message)
{
  g_autoptr(HelixWebhook) saved = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *before = settings_text (f->settings);
  g_autofree char *after = NULL;
  guint n = helix_webhook_settings_get_n_webhooks (f->webhooks);

  g_assert_false (helix_webhook_settings_validate (f->webhooks, webhook, &error));
  g_assert_error (error, HELIX_WEBHOOK_SETTINGS_ERROR, HELIX_WEBHOOK_SETTINGS_ERROR_INVALID);
  g_clear_error (&error);

  saved = save (f->webhooks, webhook, &error);
  g_assert_null (saved);
  g_assert_error (error, HELIX_WEBHOOK_SETTINGS_ERROR, HELIX_WEBHOOK_SETTINGS_ERROR_INVALID);
  g_test_message ("refused: %s", error->message);
  g_assert_nonnull (strstr (error->message, message));
  g_assert_null (strstr (error->message, CANARY));

  after = settings_text (f->settings);
  g_assert_cmpstr (before, ==, after);
  g_assert_cmpuint (helix_webhook_settings_get_n_webhooks (f->webhooks), ==, n);
}

static void
test_validation (Fixture       *f,
                 gconstpointer  data)
{
  static const char * const none[] = { NULL };
  static const char * const unknown[] = { HELIX_AUDIT_CHANNEL_ALERTS, "gossip", NULL };
  const char * const *channels = helix_webhook_default_channels ();
  g_autoptr(HelixWebhook) first = NULL;
  g_autoptr(HelixWebhook) saved = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = token_url (f);
  g_autofree char *long_name = g_strnfill (HELIX_WEBHOOK_MAX_NAME + 1, 'x');
  g_autofree char *long_url = NULL;
  g_autofree char *stored = NULL;
  g_autoptr(GString) builder = g_string_new ("https://example.com/");

  f->webhooks = new_loaded (f);
  first = helix_webhook_new (NULL, "Ops", HELIX_WEBHOOK_FORMAT_JSON, url, NULL, channels);
  saved = save (f->webhooks, first, &error);
  g_assert_no_error (error);

  while (builder->len <= HELIX_WEBHOOK_MAX_URL)
    g_string_append (builder, CANARY);
  long_url = g_strdup (builder->str);

#define REFUSED(name, format, url, backup, channels, message) \
  G_STMT_START { \
    g_autoptr(HelixWebhook) w = helix_webhook_new (NULL, name, format, url, backup, channels); \
    assert_refused (f, w, message); \
  } G_STMT_END

  REFUSED ("  ", HELIX_WEBHOOK_FORMAT_JSON, url, NULL, channels, "Enter a name");
  REFUSED (long_name, HELIX_WEBHOOK_FORMAT_JSON, url, NULL, channels, "too long");
  REFUSED ("OPS", HELIX_WEBHOOK_FORMAT_JSON, url, NULL, channels, "already a webhook named");
  REFUSED ("New", 7, url, NULL, channels, "Discord or JSON");
  REFUSED ("New", HELIX_WEBHOOK_FORMAT_JSON, NULL, NULL, channels, "Enter the webhook address");
  REFUSED ("New", HELIX_WEBHOOK_FORMAT_JSON, "ftp://example.com/" CANARY, NULL, channels,
           "not an http(s) URL");
  REFUSED ("New", HELIX_WEBHOOK_FORMAT_JSON, "discord.com/api/webhooks/1/" CANARY, NULL, channels,
           "not an http(s) URL");
  REFUSED ("New", HELIX_WEBHOOK_FORMAT_JSON, "https:///" CANARY, NULL, channels,
           "not an http(s) URL");
  REFUSED ("New", HELIX_WEBHOOK_FORMAT_JSON, "https://example.com/a b/" CANARY, NULL, channels,
           "spaces or line breaks");
  REFUSED ("New", HELIX_WEBHOOK_FORMAT_JSON, "https://example.com/\n" CANARY, NULL, channels,
           "spaces or line breaks");
  REFUSED ("New", HELIX_WEBHOOK_FORMAT_JSON, long_url, NULL, channels, "too long");
  REFUSED ("New", HELIX_WEBHOOK_FORMAT_JSON, url, "file:///etc/" CANARY, channels,
           "backup address is not an http(s) URL");
  REFUSED ("New", HELIX_WEBHOOK_FORMAT_JSON, url, NULL, none, "at least one");
  REFUSED ("New", HELIX_WEBHOOK_FORMAT_JSON, url, NULL, unknown, "unknown");

#undef REFUSED

  /* Nothing of the refused ones reached the keyring. */
  stored = keyring_urls ("new");
  g_assert_null (stored);

  /* A change to an existing one keeps its name free for itself. */
  g_clear_pointer (&first, helix_webhook_free);
  first = helix_webhook_copy (saved);
  g_free (first->name);
  first->name = g_strdup ("ops");
  g_assert_true (helix_webhook_settings_validate (f->webhooks, first, &error));
  g_assert_no_error (error);
}

/* Changes are written to the audit trail first, with the host and never the
 * URL; when the trail cannot be written, nothing changes (fail closed). */
static void
test_audited (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(HelixAudit) audit = NULL;
  g_autoptr(HelixWebhook) webhook = NULL;
  g_autoptr(HelixWebhook) saved = NULL;
  g_autoptr(HelixWebhook) refused = NULL;
  g_autoptr(HelixWebhook) other = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = token_url (f);
  g_autofree char *stored = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  HelixAuditItem *item;
  sqlite3 *db = NULL;

  audit = helix_audit_open (f->log_path, f->queue_path, "helix-audit/test", NULL, &error);
  g_assert_no_error (error);
  f->webhooks = new_loaded (f);
  helix_webhook_settings_set_audit (f->webhooks, audit, NULL);

  webhook = helix_webhook_new (NULL, "Alerts", HELIX_WEBHOOK_FORMAT_DISCORD, url,
                               "https://backup.example.org/" CANARY,
                               helix_webhook_default_channels ());
  saved = save (f->webhooks, webhook, &error);
  g_assert_no_error (error);
  entries = audit_entries (audit);
  g_assert_cmpuint (entries->len, ==, 1);
  item = g_ptr_array_index (entries, 0);
  g_test_message ("%s %s", item->event, item->payload);
  g_assert_cmpstr (item->event, ==, "webhook.added");
  g_assert_cmpstr (item->channel, ==, HELIX_AUDIT_CHANNEL_ASSISTANT_STATE);
  g_assert_nonnull (strstr (item->payload, "\"name\":\"Alerts\""));
  g_assert_nonnull (strstr (item->payload, "\"format\":\"discord\""));
  g_assert_nonnull (strstr (item->payload, "\"channels\":[\"alerts\",\"hash-chain\"]"));
  g_assert_nonnull (strstr (item->payload, "\"host\":\"127.0.0.1\""));
  g_assert_nonnull (strstr (item->payload, "\"backup_host\":\"backup.example.org\""));
  g_assert_null (strstr (item->payload, CANARY));
  g_assert_null (strstr (item->payload, "api/webhooks"));

  /* Another process holds the trail's lock: no addition, change or removal
   * happens, in the settings or the keyring. */
  db = helix_test_sqlite_open (f->log_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  g_assert_cmpint (sqlite3_exec (db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), ==, SQLITE_OK);
  before = settings_text (f->settings);

  other = helix_webhook_new (NULL, "Second", HELIX_WEBHOOK_FORMAT_JSON, url, NULL,
                             helix_webhook_default_channels ());
  refused = save (f->webhooks, other, &error);
  g_assert_null (refused);
  g_assert_error (error, HELIX_WEBHOOK_SETTINGS_ERROR, HELIX_WEBHOOK_SETTINGS_ERROR_AUDIT);
  g_test_message ("refused: %s", error->message);
  g_assert_nonnull (strstr (error->message, "audit log"));
  g_clear_error (&error);
  g_assert_cmpuint (helix_webhook_settings_get_n_webhooks (f->webhooks), ==, 1);
  stored = keyring_urls ("second");
  g_assert_null (stored);

  g_clear_pointer (&other, helix_webhook_free);
  other = helix_webhook_copy (saved);
  other->format = HELIX_WEBHOOK_FORMAT_JSON;
  g_clear_pointer (&other->backup_url, g_free);
  refused = save (f->webhooks, other, &error);
  g_assert_null (refused);
  g_assert_error (error, HELIX_WEBHOOK_SETTINGS_ERROR, HELIX_WEBHOOK_SETTINGS_ERROR_AUDIT);
  g_clear_error (&error);
  g_assert_cmpint (helix_webhook_settings_lookup (f->webhooks, "alerts")->format, ==,
                   HELIX_WEBHOOK_FORMAT_DISCORD);

  g_assert_false (remove_webhook (f->webhooks, "alerts", &error));
  g_assert_error (error, HELIX_WEBHOOK_SETTINGS_ERROR, HELIX_WEBHOOK_SETTINGS_ERROR_AUDIT);
  g_clear_error (&error);
  g_assert_nonnull (helix_webhook_settings_lookup (f->webhooks, "alerts"));

  after = settings_text (f->settings);
  g_assert_cmpstr (before, ==, after);
  stored = keyring_urls ("alerts");
  g_assert_nonnull (strstr (stored, "backup.example.org"));
  g_clear_pointer (&stored, g_free);

  g_assert_cmpint (sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);

  /* Writable again: the change and the removal go through, recorded. */
  g_clear_pointer (&saved, helix_webhook_free);
  saved = save (f->webhooks, other, &error);
  g_assert_no_error (error);
  stored = keyring_urls ("alerts");
  g_assert_cmpstr (stored, ==, url);
  g_assert_true (remove_webhook (f->webhooks, "alerts", &error));
  g_assert_no_error (error);
  g_clear_pointer (&entries, g_ptr_array_unref);
  entries = audit_entries (audit);
  g_assert_cmpuint (entries->len, ==, 3);
  g_assert_cmpstr (((HelixAuditItem *) g_ptr_array_index (entries, 1))->event, ==,
                   "webhook.changed");
  g_assert_cmpstr (((HelixAuditItem *) g_ptr_array_index (entries, 0))->event, ==,
                   "webhook.removed");
  for (guint i = 0; i < entries->len; i++)
    g_assert_null (strstr (((HelixAuditItem *) g_ptr_array_index (entries, i))->payload, CANARY));

  /* No trail at all (it could not be opened): refused, with the reason. */
  helix_webhook_settings_set_audit (f->webhooks, NULL, "The disk is full");
  refused = save (f->webhooks, webhook, &error);
  g_assert_null (refused);
  g_assert_error (error, HELIX_WEBHOOK_SETTINGS_ERROR, HELIX_WEBHOOK_SETTINGS_ERROR_AUDIT);
  g_assert_nonnull (strstr (error->message, "The disk is full"));
  g_assert_cmpuint (helix_webhook_settings_get_n_webhooks (f->webhooks), ==, 0);

  helix_audit_close (audit);
}

/* A locked keyring, then none at all: said, and nothing stored. */
static void
test_no_keyring (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(HelixWebhookSettings) reader = NULL;
  g_autoptr(HelixWebhook) webhook = NULL;
  g_autoptr(HelixWebhook) saved = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = token_url (f);
  g_autoptr(GVariant) value = NULL;
  guint first = 0;

#ifdef __SANITIZE_ADDRESS__
  /* libsecret 0.20.5 (Debian 12) leaks a D-Bus reply when an unlock fails, in
   * its GDBus worker thread (see test-account.c): the locked case runs in the
   * plain build only. */
  first = 1;
#endif

  /* One stored while the keyring works, read while it is locked. */
  f->webhooks = new_loaded (f);
  webhook = helix_webhook_new (NULL, "Stored", HELIX_WEBHOOK_FORMAT_JSON, url, NULL,
                               helix_webhook_default_channels ());
  saved = save (f->webhooks, webhook, &error);
  g_assert_no_error (error);
  g_clear_pointer (&saved, helix_webhook_free);

  for (guint i = first; i < 2; i++)
    {
      gboolean locked = i == 0;

      if (locked)
        helix_test_keyring_start (FALSE);
      else
        helix_test_keyring_stop ();

      /* Without a keyring, the read fails and says so. A locked one (whose
       * unlock prompt cannot be shown) hides its items from libsecret 0.20's
       * search: then the webhook just has no address. */
      reader = helix_webhook_settings_new (f->settings);
      if (!locked)
        {
          g_assert_false (load (reader, &error));
          g_assert_error (error, HELIX_WEBHOOK_SETTINGS_ERROR,
                          HELIX_WEBHOOK_SETTINGS_ERROR_KEYRING);
          g_test_message ("no keyring: %s", error->message);
          g_clear_error (&error);
          g_assert_nonnull (strstr (helix_webhook_settings_get_keyring_error (reader),
                                    "keyring is not available"));
        }
      else
        {
          load (reader, &error);
          g_clear_error (&error);
        }
      g_assert_cmpuint (helix_webhook_settings_get_n_webhooks (reader), ==, 1);
      g_assert_null (helix_webhook_settings_get_webhook (reader, 0)->url);

      /* Saving stores nothing, anywhere. */
      g_clear_pointer (&webhook, helix_webhook_free);
      webhook = helix_webhook_new (NULL, "New", HELIX_WEBHOOK_FORMAT_DISCORD, url, NULL,
                                   helix_webhook_default_channels ());
      saved = save (reader, webhook, &error);
      g_assert_null (saved);
      g_assert_error (error, HELIX_WEBHOOK_SETTINGS_ERROR, HELIX_WEBHOOK_SETTINGS_ERROR_KEYRING);
      g_assert_nonnull (strstr (error->message, "Nothing was stored"));
      g_clear_error (&error);
      g_assert_cmpuint (helix_webhook_settings_get_n_webhooks (reader), ==, 1);
      g_clear_pointer (&value, g_variant_unref);
      value = g_settings_get_value (f->settings, "webhooks");
      g_assert_cmpuint (g_variant_n_children (value), ==, 1);
      assert_not_in_settings (f->settings, CANARY);

      helix_test_assert_finalized (g_steal_pointer (&reader));
    }

  helix_test_keyring_start (TRUE);
}

/* The app's way: the settings give their webhooks to an audit trail before it
 * starts, and an alert recorded there reaches the loopback receiver. */
static void
test_delivery (Fixture       *f,
               gconstpointer  data)
{
  static const char * const alerts_only[] = { HELIX_AUDIT_CHANNEL_ALERTS, NULL };
  g_autoptr(HelixWebhookSettings) reader = NULL;
  g_autoptr(HelixWebhook) webhook = NULL;
  g_autoptr(HelixWebhook) saved = NULL;
  g_autoptr(HelixAudit) audit = NULL;
  g_autoptr(GPtrArray) sinks = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *url = token_url (f);
  HelixAuditSinkStatus *status;
  JsonObject *root;
  JsonArray *entries;
  gboolean found = FALSE;

  f->webhooks = new_loaded (f);
  webhook = helix_webhook_new (NULL, "Receiver", HELIX_WEBHOOK_FORMAT_JSON, url, NULL, alerts_only);
  saved = save (f->webhooks, webhook, &error);
  g_assert_no_error (error);

  /* A later start: a new object reads the URL from the keyring. */
  reader = new_loaded (f);
  audit = helix_audit_open (f->log_path, f->queue_path, "helix-audit/test", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (helix_webhook_settings_add_sinks (reader, audit), ==, 1);
  helix_audit_start (audit);

  sinks = helix_audit_list_sinks (audit);
  g_assert_cmpuint (sinks->len, ==, 1);
  status = g_ptr_array_index (sinks, 0);
  g_assert_cmpstr (status->name, ==, "receiver");
  g_assert_null (strstr (status->url, CANARY));
  g_assert_cmpstrv (status->channels, alerts_only);

  /* Another channel's entry does not go there; the alert does. */
  helix_audit_record (audit, HELIX_AUDIT_CHANNEL_COMMANDS, "test", "tool.run", "{\"tool\":\"ls\"}");
  helix_audit_record (audit, HELIX_AUDIT_CHANNEL_ALERTS, "test", "budget.reached",
                      "{\"limit\":5}");
  helix_test_wait_for (f->bodies->len > 0, WAIT_S, "the alert at the receiver");

  g_assert_cmpstr (g_ptr_array_index (f->paths, 0), ==, TOKEN_PATH);
  g_test_message ("received: %s", (char *) g_ptr_array_index (f->bodies, 0));
  g_assert_true (json_parser_load_from_data (parser, g_ptr_array_index (f->bodies, 0), -1, &error));
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (root, "sink"), ==, "receiver");
  entries = json_object_get_array_member (root, "entries");
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *entry = json_array_get_object_element (entries, i);

      g_assert_cmpstr (json_object_get_string_member (entry, "channel"), ==,
                       HELIX_AUDIT_CHANNEL_ALERTS);
      found = TRUE;
    }
  g_assert_true (found);
  g_assert_nonnull (strstr (g_ptr_array_index (f->bodies, 0), "budget.reached"));
  g_assert_null (strstr (g_ptr_array_index (f->bodies, 0), "tool.run"));
  g_assert_null (strstr (g_ptr_array_index (f->bodies, 0), CANARY));

  helix_audit_close (audit);
}

/* Preferences → Alerts {{{1 */

static void
spin (void)
{
  for (guint i = 0; i < 100 && g_main_context_pending (NULL); i++)
    g_main_context_iteration (NULL, FALSE);
}

/* The open message dialog other than @except, if there is one. */
static AdwMessageDialog *
find_message_dialog (gpointer except)
{
  GListModel *toplevels = gtk_window_get_toplevels ();
  AdwMessageDialog *found = NULL;

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GObject) window = g_list_model_get_item (toplevels, i);

      if (ADW_IS_MESSAGE_DIALOG (window) && window != except &&
          gtk_widget_get_visible (GTK_WIDGET (window)))
        found = ADW_MESSAGE_DIALOG (window);
    }

  return found;
}

static AdwActionRow *
find_row (HelixAlertsPage *page,
          const char      *id)
{
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (page->webhook_list));
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (g_strcmp0 (g_object_get_data (G_OBJECT (child), "webhook-id"), id) == 0)
      return ADW_ACTION_ROW (child);

  return NULL;
}

static void
editor_expect (HelixAlertsPage *page,
               const char      *message)
{
  spin ();
  if (message == NULL)
    {
      g_assert_false (gtk_widget_get_visible (GTK_WIDGET (page->editor_error)));
      g_assert_true (adw_message_dialog_get_response_enabled (page->editor, "save"));
      return;
    }

  g_test_message ("editor: %s", gtk_label_get_text (page->editor_error));
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (page->editor_error)));
  g_assert_nonnull (strstr (gtk_label_get_text (page->editor_error), message));
  g_assert_false (adw_message_dialog_get_response_enabled (page->editor, "save"));
}

static void
test_page (Fixture       *f,
           gconstpointer  data)
{
  g_autoptr(HelixAudit) audit = NULL;
  g_autoptr(HelixWebhook) webhook = NULL;
  g_autoptr(HelixWebhook) saved = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = token_url (f);
  g_autofree char *stored = NULL;
  const HelixWebhook *added;
  HelixAlertsPage *page;
  AdwMessageDialog *dialog;
  GtkWindow *window;
  AdwActionRow *row;

  /* One webhook delivering through a running trail. */
  f->webhooks = new_loaded (f);
  webhook = helix_webhook_new (NULL, "Receiver", HELIX_WEBHOOK_FORMAT_JSON, url, NULL,
                               helix_webhook_default_channels ());
  saved = save (f->webhooks, webhook, &error);
  g_assert_no_error (error);
  helix_test_assert_finalized (g_steal_pointer (&f->webhooks));
  f->webhooks = new_loaded (f);
  audit = helix_audit_open (f->log_path, f->queue_path, "helix-audit/test", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (helix_webhook_settings_add_sinks (f->webhooks, audit), ==, 1);
  helix_audit_start (audit);
  helix_webhook_settings_set_audit (f->webhooks, audit, NULL);

  /* In a window of its own: libadwaita 1.2's AdwPreferencesWindow keeps its
   * groups past its end. */
  window = GTK_WINDOW (adw_window_new ());
  page = helix_alerts_page_new (f->webhooks, audit);
  adw_window_set_content (ADW_WINDOW (window), GTK_WIDGET (page));
  gtk_window_set_default_size (window, 600, 800);
  gtk_window_present (window);
  spin ();

  row = find_row (page, "receiver");
  g_assert_nonnull (row);
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (page->keyring_group)));
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)), ==, "Receiver");
  g_test_message ("%s", adw_action_row_get_subtitle (row));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (row),
                            "JSON · 127.0.0.1 · alerts, hash-chain"));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (row), "Delivering"));
  g_assert_null (strstr (adw_action_row_get_subtitle (row), CANARY));

  /* The receiver goes away: an alert fails, and the page says so. */
  helix_test_server_stop (&f->receiver);
  helix_audit_record (audit, HELIX_AUDIT_CHANNEL_ALERTS, "test", "budget.reached", "{}");
  helix_test_wait_for (strstr (adw_action_row_get_subtitle (find_row (page, "receiver")),
                               "Retrying") != NULL ||
                       (_helix_alerts_page_refresh (page), FALSE),
                       WAIT_S, "the failed delivery on the page");
  g_test_message ("%s", adw_action_row_get_subtitle (find_row (page, "receiver")));
  g_assert_null (strstr (adw_action_row_get_subtitle (find_row (page, "receiver")), CANARY));

  /* Add Webhook: the editor checks what is typed, and only then saves. */
  gtk_widget_activate_action (GTK_WIDGET (page), "alerts.add", NULL);
  g_assert_nonnull (page->editor);
  editor_expect (page, "Enter a name");
  gtk_editable_set_text (GTK_EDITABLE (page->name_row), "receiver");
  editor_expect (page, "already a webhook named");
  gtk_editable_set_text (GTK_EDITABLE (page->name_row), "Discord");
  editor_expect (page, "Enter the webhook address");
  gtk_editable_set_text (GTK_EDITABLE (page->url_row), "ftp://discord.example/" CANARY);
  editor_expect (page, "not an http(s) URL");
  gtk_editable_set_text (GTK_EDITABLE (page->url_row),
                         "https://discord.example/api/webhooks/1/" CANARY);
  editor_expect (page, NULL);
  for (guint i = 0; i < HELIX_ALERTS_PAGE_N_CHANNELS; i++)
    gtk_check_button_set_active (page->channel_checks[i], FALSE);
  editor_expect (page, "at least one");
  gtk_check_button_set_active (page->channel_checks[2], TRUE);
  editor_expect (page, NULL);
  adw_message_dialog_response (page->editor, "save");
  helix_test_wait_for (helix_webhook_settings_get_n_webhooks (f->webhooks) == 2, WAIT_S,
                       "the webhook saved from the editor");
  spin ();

  added = helix_webhook_settings_lookup (f->webhooks, "discord");
  g_assert_nonnull (added);
  g_assert_cmpint (added->format, ==, HELIX_WEBHOOK_FORMAT_DISCORD);
  g_assert_cmpstr (added->channels[0], ==, helix_webhook_list_channels ()[2]);
  g_assert_null (added->channels[1]);
  stored = keyring_urls ("discord");
  g_assert_cmpstr (stored, ==, "https://discord.example/api/webhooks/1/" CANARY);
  assert_not_in_settings (f->settings, CANARY);
  row = find_row (page, "discord");
  g_assert_nonnull (row);
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (row), "next time Helix starts"));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (row), "discord.example"));
  g_assert_null (strstr (adw_action_row_get_subtitle (row), CANARY));

  /* Edit: the editor comes filled in. */
  gtk_widget_activate_action (GTK_WIDGET (page), "alerts.edit", "s", "discord");
  g_assert_nonnull (page->editor);
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (page->name_row)), ==, "Discord");
  g_assert_cmpuint (adw_combo_row_get_selected (page->format_row), ==, 0);
  gtk_editable_set_text (GTK_EDITABLE (page->backup_row), "https://backup.example/" CANARY);
  adw_combo_row_set_selected (page->format_row, 1);
  editor_expect (page, NULL);
  adw_message_dialog_response (page->editor, "save");
  helix_test_wait_for (helix_webhook_settings_lookup (f->webhooks, "discord")->format ==
                       HELIX_WEBHOOK_FORMAT_JSON, WAIT_S, "the edited webhook");
  g_assert_cmpstr (helix_webhook_settings_lookup (f->webhooks, "discord")->backup_url, ==,
                   "https://backup.example/" CANARY);

  /* The audit trail refuses: the page says why, and nothing changes. */
  helix_webhook_settings_set_audit (f->webhooks, NULL, "The disk is full");
  gtk_widget_activate_action (GTK_WIDGET (page), "alerts.remove", "s", "discord");
  dialog = find_message_dialog (page->editor);
  g_assert_nonnull (dialog);
  adw_message_dialog_response (dialog, "remove");
  helix_test_wait_for (gtk_widget_get_visible (GTK_WIDGET (page->error_group)), WAIT_S,
                       "the refusal on the page");
  g_assert_nonnull (strstr (gtk_label_get_text (page->error_label), "The disk is full"));
  g_assert_nonnull (helix_webhook_settings_lookup (f->webhooks, "discord"));

  /* Remove, after asking. */
  helix_webhook_settings_set_audit (f->webhooks, audit, NULL);
  spin ();
  gtk_widget_activate_action (GTK_WIDGET (page), "alerts.remove", "s", "discord");
  dialog = find_message_dialog (page->editor);
  g_assert_nonnull (dialog);
  adw_message_dialog_response (dialog, "remove");
  /* Done when its address is out of the keyring too: the error goes then. */
  helix_test_wait_for (helix_webhook_settings_get_n_webhooks (f->webhooks) == 1 &&
                       !gtk_widget_get_visible (GTK_WIDGET (page->error_group)), WAIT_S,
                       "the removal");
  spin ();
  g_assert_null (find_row (page, "discord"));
  g_clear_pointer (&stored, g_free);
  stored = keyring_urls ("discord");
  g_assert_null (stored);

  gtk_window_destroy (window);
  spin ();
  helix_audit_close (audit);
}

/* The keyring is not there: the page says so. */
static void
test_page_no_keyring (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  GtkWidget *page;

  helix_test_keyring_stop ();
  f->webhooks = helix_webhook_settings_new (f->settings);
  g_assert_false (load (f->webhooks, &error));
  page = GTK_WIDGET (helix_alerts_page_new (f->webhooks, NULL));
  g_object_ref_sink (page);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (HELIX_ALERTS_PAGE (page)->keyring_group)));
  g_assert_nonnull (strstr (gtk_label_get_text (HELIX_ALERTS_PAGE (page)->keyring_label),
                            "keyring is not available"));
  g_object_unref (page);

  helix_test_keyring_start (TRUE);
}

static void
test_preferences_window (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(HelixAccount) account = helix_account_new ();
  HelixPreferencesWindow *window;
  HelixAlertsPage *page;

  f->webhooks = new_loaded (f);

  window = helix_preferences_window_new (NULL, account, f->settings);
  g_assert_null (helix_preferences_window_get_alerts_page (window));
  helix_preferences_window_set_webhook_settings (window, f->webhooks, NULL);
  page = helix_preferences_window_get_alerts_page (window);
  g_assert_nonnull (page);
  g_assert_true (gtk_widget_get_ancestor (GTK_WIDGET (page), ADW_TYPE_PREFERENCES_WINDOW) ==
                 GTK_WIDGET (window));
  adw_preferences_window_set_visible_page (ADW_PREFERENCES_WINDOW (window),
                                           ADW_PREFERENCES_PAGE (page));
  gtk_window_present (GTK_WINDOW (window));
  spin ();
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (page)));
  gtk_window_destroy (GTK_WINDOW (window));
  spin ();

  /* libadwaita 1.2's AdwPreferencesWindow keeps a reference to the groups of
   * its pages after it is destroyed: not checked. */
  g_clear_object (&f->webhooks);
}

/* The application {{{1 */

/* The receiver of the application case: in the parent process, on a thread
 * of its own (the parent waits for the child meanwhile). It writes a file
 * the child waits for once it has the alert. */
typedef struct
{
  GMutex           lock;
  GMainContext    *context;
  HelixTestServer  server;
  GPtrArray       *bodies;
  GPtrArray       *paths;
  char            *marker;
  guint            port;
  gboolean         started;
  gboolean         stop;
} ThreadReceiver;

static void
thread_receive (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  ThreadReceiver *r = user_data;
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) flat = soup_message_body_flatten (body);
  g_autofree char *text = g_strndup (g_bytes_get_data (flat, NULL), g_bytes_get_size (flat));

  g_mutex_lock (&r->lock);
  g_ptr_array_add (r->paths, g_strdup (path));
  g_ptr_array_add (r->bodies, g_strdup (text));
  g_mutex_unlock (&r->lock);
  if (strstr (text, "budget.reached") != NULL)
    g_assert_true (g_file_set_contents (r->marker, "", 0, NULL));
  soup_server_message_set_status (msg, 200, NULL);
}

static gboolean
thread_receiver_wake_cb (gpointer user_data)
{
  return G_SOURCE_REMOVE;
}

static gpointer
thread_receiver_run (gpointer user_data)
{
  ThreadReceiver *r = user_data;
  gboolean stop = FALSE;

  g_main_context_push_thread_default (r->context);
  helix_test_server_start (&r->server, thread_receive, r);
  g_mutex_lock (&r->lock);
  r->port = r->server.port;
  r->started = TRUE;
  g_mutex_unlock (&r->lock);

  while (!stop)
    {
      g_main_context_iteration (r->context, TRUE);
      g_mutex_lock (&r->lock);
      stop = r->stop;
      g_mutex_unlock (&r->lock);
    }

  helix_test_server_clear (&r->server);
  g_main_context_pop_thread_default (r->context);

  return NULL;
}

typedef struct
{
  HelixApplication *app;
  const char       *marker;
  gboolean          recorded;
  gboolean          checked;
} AppCheck;

static gboolean
app_check_cb (gpointer user_data)
{
  AppCheck *check = user_data;
  HelixAudit *audit = helix_application_get_audit (check->app);
  g_autoptr(GPtrArray) sinks = NULL;

  /* The trail is open, the webhook read from the keyring and added. */
  if (audit == NULL)
    return G_SOURCE_CONTINUE;
  sinks = helix_audit_list_sinks (audit);
  if (sinks->len == 0)
    return G_SOURCE_CONTINUE;

  if (!check->recorded)
    {
      g_assert_cmpuint (sinks->len, ==, 1);
      g_assert_cmpstr (((HelixAuditSinkStatus *) g_ptr_array_index (sinks, 0))->name, ==,
                       "receiver");
      helix_audit_record (audit, HELIX_AUDIT_CHANNEL_ALERTS, "test", "budget.reached",
                          "{\"limit\":5}");
      check->recorded = TRUE;
    }

  if (!g_file_test (check->marker, G_FILE_TEST_EXISTS))
    return G_SOURCE_CONTINUE;

  check->checked = TRUE;
  g_application_quit (G_APPLICATION (check->app));

  return G_SOURCE_REMOVE;
}

/* In the child: the application reads the webhooks before it starts its
 * audit trail, and an alert recorded there reaches the parent's receiver. */
static void
run_application (Fixture *f)
{
  static const char * const channels[] = { HELIX_AUDIT_CHANNEL_ALERTS,
                                           HELIX_AUDIT_CHANNEL_HEARTBEAT, NULL };
  g_autoptr(HelixWebhook) webhook = NULL;
  g_autoptr(HelixWebhook) saved = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  g_autofree char *db = NULL;
  AppCheck check = { NULL, g_getenv ("HELIX_TEST_RECEIVED"), FALSE, FALSE };
  char *argv[4];
  guint timeout_id;

  g_assert_nonnull (check.marker);
  url = g_strdup_printf ("http://127.0.0.1:%s" TOKEN_PATH, g_getenv ("HELIX_TEST_RECEIVER_PORT"));
  f->webhooks = new_loaded (f);
  webhook = helix_webhook_new (NULL, "Receiver", HELIX_WEBHOOK_FORMAT_JSON, url, NULL, channels);
  saved = save (f->webhooks, webhook, &error);
  g_assert_no_error (error);
  helix_test_assert_finalized (g_steal_pointer (&f->webhooks));

  db = g_build_filename (f->dir, "profile", "helix.db", NULL);
  check.app = helix_application_new ("ai.helix.Helix.TestWebhooks");
  argv[0] = (char *) "helix";
  argv[1] = (char *) "--database";
  argv[2] = db;
  argv[3] = NULL;
  timeout_id = g_timeout_add (50, app_check_cb, &check);
  g_assert_cmpint (g_application_run (G_APPLICATION (check.app), 3, argv), ==, 0);
  if (!check.checked)
    g_source_remove (timeout_id);
  g_assert_true (check.checked);

  g_assert_nonnull (helix_application_get_webhook_settings (check.app));
  g_assert_cmpuint (helix_webhook_settings_get_n_webhooks (
                      helix_application_get_webhook_settings (check.app)), ==, 1);

  g_clear_object (&check.app);
}

static void
test_application (Fixture       *f,
                  gconstpointer  data)
{
  ThreadReceiver r = { 0, };
  g_autofree char *port = NULL;
  GThread *thread;
  gboolean started = FALSE;
  gboolean found = FALSE;

  /* The application runs in a process of its own, as test-providers.c's
   * application case does: the whole application's widgets grow GLib's quark
   * table to where GLib abandons its first block, which LeakSanitizer reports
   * and cannot tell from a leak. The receiver stays here, so that the child's
   * quarks stay under that size. */
  if (g_test_subprocess ())
    {
      run_application (f);
      return;
    }

  g_mutex_init (&r.lock);
  r.context = g_main_context_new ();
  r.bodies = g_ptr_array_new_with_free_func (g_free);
  r.paths = g_ptr_array_new_with_free_func (g_free);
  r.marker = g_build_filename (f->dir, "received", NULL);
  thread = g_thread_new ("receiver", thread_receiver_run, &r);
  while (!started)
    {
      g_usleep (1000);
      g_mutex_lock (&r.lock);
      started = r.started;
      g_mutex_unlock (&r.lock);
    }

  port = g_strdup_printf ("%u", r.port);
  g_setenv ("HELIX_TEST_RECEIVER_PORT", port, TRUE);
  g_setenv ("HELIX_TEST_RECEIVED", r.marker, TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();

  g_mutex_lock (&r.lock);
  r.stop = TRUE;
  g_mutex_unlock (&r.lock);
  g_main_context_invoke (r.context, thread_receiver_wake_cb, NULL);
  g_thread_join (thread);

  g_assert_cmpuint (r.bodies->len, >, 0);
  for (guint i = 0; i < r.bodies->len; i++)
    {
      g_assert_cmpstr (g_ptr_array_index (r.paths, i), ==, TOKEN_PATH);
      g_assert_null (strstr (g_ptr_array_index (r.bodies, i), CANARY));
      found |= strstr (g_ptr_array_index (r.bodies, i), "\"event\":\"budget.reached\"") != NULL;
    }
  g_assert_true (found);

  g_unsetenv ("HELIX_TEST_RECEIVER_PORT");
  g_unsetenv ("HELIX_TEST_RECEIVED");
  g_ptr_array_unref (r.bodies);
  g_ptr_array_unref (r.paths);
  g_free (r.marker);
  g_main_context_unref (r.context);
  g_mutex_clear (&r.lock);
}

/* Main {{{1 */

int
main (int   argc,
      char *argv[])
{
  g_autofree char *problem = NULL;
  int ret;

  /* Before any thread: the environment of this process and of the daemon. */
  helix_test_keyring_init ("helix-webhook-settings");

  /* No accessibility bus: its contexts keep widgets alive for a while. */
  g_setenv ("GTK_A11Y", "none", TRUE);

  /* Every log line is checked for the canary token, debug included. */
  helix_test_canary_init (&argc, &argv, CANARY);
  gtk_init ();
  adw_init ();
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

  if ((problem = helix_test_keyring_check ()) != NULL)
    {
      helix_test_keyring_cleanup ();
      g_error ("%s", problem);
    }

#define ADD(path, func) \
  g_test_add ("/helix/webhook-settings/" path, Fixture, NULL, fixture_setup, func, \
              fixture_teardown)

  ADD ("save-reload", test_save_reload);
  ADD ("validation", test_validation);
  ADD ("audited", test_audited);
  ADD ("no-keyring", test_no_keyring);
  ADD ("delivery", test_delivery);
  ADD ("page", test_page);
  ADD ("page-no-keyring", test_page_no_keyring);
  ADD ("preferences-window", test_preferences_window);
  ADD ("application", test_application);

#undef ADD

  ret = g_test_run ();

  helix_test_keyring_cleanup ();

  return ret;
}
