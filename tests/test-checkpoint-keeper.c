/* test-checkpoint-keeper.c: the desktop keeps the gateway's audit checkpoints
 *
 * A real gateway on a loopback port with its audit trail checkpointed after
 * every entry, a real keyring for the account's token. The device pins the
 * gateway's key and keeps its newest checkpoint; a checkpoint the device kept
 * that is newer than what the gateway says now (signed with the gateway's own
 * key, as if the log had been cut), one of the same size with another head,
 * and a gateway key that changed are each reported.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include "helix-audit.h"
#include "helix-checkpoint-keeper.h"
#include "helix-gateway.h"
#include "helix-gateway-config-private.h"
#include "helix-test-gateway.h"
#include "helix-test-keyring.h"
#include "helix-test-util.h"

#define PASSWORD "correct horse battery staple"
#define WAIT_S   30

typedef struct
{
  char               *dir;
  HelixGatewayConfig *config;
  HelixGateway       *gateway;
  HelixAccount       *account;
  GSettings          *settings;
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  helix_test_keyring_start (TRUE);
  f->dir = g_dir_make_tmp ("helix-keeper-XXXXXX", &error);
  g_assert_no_error (error);
  f->config = helix_test_gateway_config_new (f->dir);
  helix_test_gateway_config_apply (f->config, NULL);
  /* A checkpoint after every entry: each login makes one. */
  g_assert_true (_helix_gateway_config_set_audit_key (f->config, "checkpoint-entries", "1", &error));
  g_assert_no_error (error);
  f->gateway = helix_test_gateway_start (f->config);
  helix_test_gateway_add_user (f->gateway, "alice", PASSWORD);

  f->settings = g_settings_new ("ai.helix.Helix");
  g_settings_reset (f->settings, "gateway-audit-key");
  g_settings_reset (f->settings, "gateway-audit-checkpoint");

  f->account = helix_account_new ();
  helix_account_sign_in_async (f->account, helix_gateway_get_uri (f->gateway), "alice", PASSWORD,
                               "Laptop", NULL, helix_test_result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_S, "the sign-in");
  g_assert_true (helix_account_sign_in_finish (f->account, result, &error));
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  g_clear_object (&f->account);
  g_settings_reset (f->settings, "gateway-audit-key");
  g_settings_reset (f->settings, "gateway-audit-checkpoint");
  g_clear_object (&f->settings);
  helix_test_gateway_shutdown (f->gateway);
  g_clear_object (&f->gateway);
  g_clear_pointer (&f->config, helix_gateway_config_free);
  helix_test_rm_rf (f->dir);
  g_free (f->dir);
}

static void
check (HelixCheckpointKeeper *keeper)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  helix_checkpoint_keeper_check_async (keeper, NULL, helix_test_result_cb, &result);
  helix_test_wait_for (result != NULL, WAIT_S, "the checkpoint check");
  g_assert_true (helix_checkpoint_keeper_check_finish (keeper, result, &error));
  g_assert_no_error (error);
}

/* The gateway's signing key, from its state directory, to sign checkpoints
 * the way a log that was cut would have had them. */
static HelixAuditSigner *
gateway_signer (Fixture      *f,
                const char   *origin)
{
  g_autofree char *path = g_build_filename (f->dir, "state", "audit.key", NULL);
  g_autoptr(GError) error = NULL;
  HelixAuditSigner *signer = helix_audit_load_key_file (path, origin, &error);

  g_assert_no_error (error);
  return signer;
}

static void
test_keep (Fixture       *f,
           gconstpointer  data)
{
  g_autoptr(HelixCheckpointKeeper) keeper = helix_checkpoint_keeper_new (f->settings, f->account);
  g_autoptr(HelixAuditCheckpoint) kept = NULL;
  g_autoptr(HelixAuditCheckpoint) ahead = NULL;
  g_autoptr(HelixAuditCheckpoint) other_head = NULL;
  g_autoptr(HelixAuditSigner) signer = NULL;
  g_autoptr(HelixAuditSigner) stranger = NULL;
  g_autofree char *note = NULL;
  g_autofree char *key = NULL;
  g_autofree char *gateway = NULL;
  g_autofree char *origin = NULL;
  guint8 head[32];

  /* Pinned and kept, nothing to say. */
  check (keeper);
  g_assert_null (helix_checkpoint_keeper_get_warning (keeper));
  note = helix_checkpoint_keeper_dup_checkpoint (keeper);
  g_assert_nonnull (note);
  g_settings_get (f->settings, "gateway-audit-key", "(ss)", &gateway, &key);
  g_assert_cmpstr (gateway, ==, helix_account_get_gateway_uri (f->account));
  g_assert_cmpstr (key, !=, "");

  origin = g_strndup (note, strcspn (note, "\n"));
  signer = gateway_signer (f, origin);
  kept = helix_audit_checkpoint_parse (note, -1, helix_audit_signer_get_public_key (signer),
                                       helix_audit_signer_get_name (signer), NULL);
  g_assert_nonnull (kept);

  /* The log grows: the newer checkpoint is kept. */
  check (keeper);
  g_assert_null (helix_checkpoint_keeper_get_warning (keeper));

  /* The device had seen more entries than the gateway now has. */
  memset (head, 7, sizeof head);
  ahead = helix_audit_checkpoint_sign (signer, kept->origin, kept->size + 1000, head);
  g_settings_set (f->settings, "gateway-audit-checkpoint", "(ss)",
                  helix_account_get_gateway_uri (f->account), ahead->note);
  check (keeper);
  g_assert_nonnull (helix_checkpoint_keeper_get_warning (keeper));
  g_assert_nonnull (strstr (helix_checkpoint_keeper_get_warning (keeper), "cut or rolled back"));

  /* The same size with another head: rewritten. */
  g_clear_pointer (&note, g_free);
  helix_checkpoint_keeper_forget (keeper);
  check (keeper);
  note = helix_checkpoint_keeper_dup_checkpoint (keeper);
  g_clear_pointer (&kept, helix_audit_checkpoint_free);
  kept = helix_audit_checkpoint_parse (note, -1, helix_audit_signer_get_public_key (signer),
                                       helix_audit_signer_get_name (signer), NULL);
  g_assert_nonnull (kept);
  other_head = helix_audit_checkpoint_sign (signer, kept->origin, kept->size, head);
  g_settings_set (f->settings, "gateway-audit-checkpoint", "(ss)",
                  helix_account_get_gateway_uri (f->account), other_head->note);
  check (keeper);
  g_assert_nonnull (strstr (helix_checkpoint_keeper_get_warning (keeper), "rewritten"));

  /* The gateway signs with another key than the one pinned. */
  helix_checkpoint_keeper_forget (keeper);
  stranger = helix_audit_signer_new ("helix-audit/elsewhere", NULL);
  g_clear_pointer (&key, g_free);
  key = g_base64_encode (helix_audit_signer_get_public_key (stranger), 32);
  g_settings_set (f->settings, "gateway-audit-key", "(ss)",
                  helix_account_get_gateway_uri (f->account), key);
  check (keeper);
  g_assert_nonnull (strstr (helix_checkpoint_keeper_get_warning (keeper), "another key"));

  /* Forgotten: pinned again, quiet. */
  helix_checkpoint_keeper_forget (keeper);
  g_assert_null (helix_checkpoint_keeper_get_warning (keeper));
  check (keeper);
  g_assert_null (helix_checkpoint_keeper_get_warning (keeper));
}

int
main (int    argc,
      char **argv)
{
  helix_test_keyring_init ("helix-keeper");
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/checkpoint-keeper/keep", Fixture, NULL, fixture_set_up, test_keep,
              fixture_tear_down);

  return g_test_run ();
}
