/* helix-audit-verify.c: `helix --verify-audit`, the audit log checked from a terminal
 *
 *     helix --verify-audit [--state-dir DIR] [--checkpoint FILE] [--public-key BASE64]
 *
 * Reads DIR/audit.db and recomputes its chain against the key that signs its
 * checkpoints: the gateway's key file DIR/audit.key, else (on the desktop)
 * the key in the keyring, else the public key given. A checkpoint kept
 * elsewhere (a webhook receiver's, a note saved earlier) catches a cut tail,
 * a rewritten chain signed with another key and a rolled-back log.
 *
 * Prints one line and exits 0 when the log is intact, 1 when it is not (the
 * line names the first bad entry and why), 2 when it could not be checked.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-audit"

#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>

#include "helix-audit.h"

#define EXIT_INTACT    0
#define EXIT_TAMPERED  1
#define EXIT_ERROR     2

static const char *
problem_name (HelixAuditProblem problem)
{
  switch (problem)
    {
    case HELIX_AUDIT_OK:            return "ok";
    case HELIX_AUDIT_BAD_ENTRY:     return "bad-entry";
    case HELIX_AUDIT_BAD_SEQUENCE:  return "bad-sequence";
    case HELIX_AUDIT_TRUNCATED:     return "truncated";
    case HELIX_AUDIT_REWRITTEN:     return "rewritten";
    case HELIX_AUDIT_BAD_SIGNATURE: return "bad-signature";
    case HELIX_AUDIT_ROLLED_BACK:   return "rolled-back";
    default:                        return "unknown";
    }
}

/* The log's own name, from its newest checkpoint (not trusted: a wrong one
 * only makes the signatures fail), or this machine's. */
static char *
find_origin (const char *log_path)
{
  g_autoptr(HelixAuditLog) log = NULL;
  g_autoptr(HelixAuditCheckpoint) latest = NULL;
  g_autofree char *fallback = NULL;
  g_autofree char *host = g_strdup (g_get_host_name ());
  const char *end;

  g_strdelimit (host, " +\t\n", '-');
  fallback = g_strconcat ("helix-audit/", host, NULL);
  log = helix_audit_log_open (log_path, fallback, NULL, NULL);
  if (log != NULL)
    latest = helix_audit_log_get_latest_checkpoint (log, NULL);
  if (latest == NULL || latest->note == NULL || (end = strchr (latest->note, '\n')) == NULL ||
      end == latest->note)
    return g_steal_pointer (&fallback);

  return g_strndup (latest->note, end - latest->note);
}

static gboolean
has_checkpoints (const char *log_path,
                 const char *origin)
{
  g_autoptr(HelixAuditLog) log = helix_audit_log_open (log_path, origin, NULL, NULL);
  g_autoptr(HelixAuditCheckpoint) latest = NULL;

  if (log != NULL)
    latest = helix_audit_log_get_latest_checkpoint (log, NULL);

  return latest != NULL;
}

/**
 * helix_audit_verify_run:
 * @state_dir: the folder of audit.db
 * @key_file: (nullable): the gateway's key file; %NULL for `@state_dir/audit.key`
 * @checkpoint_path: (nullable): a checkpoint kept elsewhere
 * @public_key_text: (nullable): the trusted key, base64
 * @lookup: (nullable): finds a key kept elsewhere than a key file
 *
 * Verifies the log and prints one line.
 *
 * Returns: the exit status: 0 intact, 1 tampered with, 2 not checked
 */
int
helix_audit_verify_run (const char          *state_dir,
                        const char          *key_file,
                        const char          *checkpoint_path,
                        const char          *public_key_text,
                        HelixAuditKeyLookup  lookup)
{
  g_autoptr(HelixAuditSigner) signer = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(HelixAuditReport) report = { 0 };
  g_autofree char *known = NULL;
  g_autofree char *log_path = NULL;
  g_autofree char *key_path = NULL;
  g_autofree char *origin = NULL;
  g_autofree guint8 *public_key = NULL;
  char head[2 * HELIX_AUDIT_HASH_BYTES + 1];
  gsize len = 0;

  log_path = g_build_filename (state_dir, "audit.db", NULL);
  key_path = key_file != NULL ? g_strdup (key_file) : g_build_filename (state_dir, "audit.key", NULL);
  if (!g_file_test (log_path, G_FILE_TEST_IS_REGULAR))
    {
      g_printerr (_("helix: there is no audit log at %s\n"), log_path);
      return EXIT_ERROR;
    }
  origin = find_origin (log_path);

  if (checkpoint_path != NULL &&
      !g_file_get_contents (checkpoint_path, &known, &len, &error))
    {
      g_printerr ("helix: %s\n", error->message);
      return EXIT_ERROR;
    }
  if (known != NULL && (len > HELIX_AUDIT_MAX_NOTE || strlen (known) != len))
    {
      g_printerr (_("helix: %s is not a checkpoint\n"), checkpoint_path);
      return EXIT_ERROR;
    }

  /* The trusted key: given, the gateway's file, or the desktop's keyring. */
  if (public_key_text != NULL)
    {
      public_key = g_base64_decode (public_key_text, &len);
      if (len != HELIX_AUDIT_PUBLIC_KEY_BYTES)
        {
          g_printerr (_("helix: --public-key takes the 32-byte ed25519 key in base64\n"));
          return EXIT_ERROR;
        }
    }
  else if (g_file_test (key_path, G_FILE_TEST_EXISTS))
    {
      if ((signer = helix_audit_load_key_file (key_path, origin, &error)) == NULL)
        {
          g_printerr ("helix: %s\n", error->message);
          return EXIT_ERROR;
        }
    }
  else if (lookup != NULL)
    {
      signer = lookup (origin, &error);
      if (signer == NULL && error != NULL)
        {
          g_printerr (_("helix: could not read the audit key from the keyring: %s\n"), error->message);
          return EXIT_ERROR;
        }
    }
  if (public_key == NULL && signer != NULL)
    public_key = g_memdup2 (helix_audit_signer_get_public_key (signer), HELIX_AUDIT_PUBLIC_KEY_BYTES);

  if (public_key == NULL)
    {
      if (known != NULL || has_checkpoints (log_path, origin))
        {
          g_printerr (_("helix: no key to check the checkpoints against (no %s, none in the "
                        "keyring): give it with --public-key\n"), key_path);
          return EXIT_ERROR;
        }
      /* No checkpoints to check: the chain alone. */
      public_key = g_malloc0 (HELIX_AUDIT_PUBLIC_KEY_BYTES);
    }

  if (!helix_audit_verify_file (log_path, origin, public_key, known, &report, &error))
    {
      g_printerr ("helix: %s\n", error->message);
      return EXIT_ERROR;
    }

  for (guint i = 0; i < HELIX_AUDIT_HASH_BYTES; i++)
    g_snprintf (head + 2 * i, 3, "%02x", report.head[i]);

  if (report.problem == HELIX_AUDIT_OK)
    {
      g_print (_("ok: %" G_GINT64_FORMAT " entries of %s verified, head %s\n"), report.n_entries,
               origin, head);
      return EXIT_INTACT;
    }

  if (report.seq > 0)
    g_print (_("FAILED (%s) at entry %" G_GINT64_FORMAT ": %s\n"), problem_name (report.problem),
             report.seq, report.message != NULL ? report.message : "");
  else
    g_print (_("FAILED (%s): %s\n"), problem_name (report.problem),
             report.message != NULL ? report.message : "");
  return EXIT_TAMPERED;
}

/**
 * helix_audit_verify_main:
 * @argc: the arguments' count
 * @argv: (array length=argc): the command line, with `--verify-audit`
 * @default_state_dir: where the log is without `--state-dir`
 * @lookup: (nullable): finds a key kept elsewhere than a key file
 *
 * Returns: the exit status: 0 intact, 1 tampered with, 2 not checked
 */
int
helix_audit_verify_main (int                  argc,
                         char               **argv,
                         const char          *default_state_dir,
                         HelixAuditKeyLookup  lookup)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *state_dir = NULL;
  g_autofree char *checkpoint_path = NULL;
  g_autofree char *public_key_text = NULL;
  g_auto(GStrv) args = NULL;
  gboolean verify = FALSE;
  GOptionEntry entries[] = {
    { "verify-audit", 0, 0, G_OPTION_ARG_NONE, &verify, N_("Verify the audit log"), NULL },
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir,
      N_("The folder of audit.db"), N_("DIR") },
    { "checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &checkpoint_path,
      N_("A checkpoint kept elsewhere, the newest seen"), N_("FILE") },
    { "public-key", 0, 0, G_OPTION_ARG_STRING, &public_key_text,
      N_("The key the checkpoints must be signed with, in base64"), N_("BASE64") },
    G_OPTION_ENTRY_NULL
  };

  args = g_new0 (char *, argc + 1);
  for (int i = 0; i < argc; i++)
    args[i] = g_strdup (argv[i]);

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context, _("Checks that the audit log was not altered."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse_strv (context, &args, &error))
    {
      g_printerr ("helix: %s\n", error->message);
      return EXIT_ERROR;
    }

  return helix_audit_verify_run (state_dir != NULL ? state_dir : default_state_dir, NULL,
                                 checkpoint_path, public_key_text, lookup);
}
