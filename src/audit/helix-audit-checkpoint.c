/* helix-audit-checkpoint.c: signed (size, head) notes of the audit trail
 *
 * A checkpoint says "the log <origin> had <size> entries and the last one
 * hashed to <head>", signed with ed25519. Its text follows the C2SP
 * tlog-checkpoint and signed-note formats:
 *
 *     helix-audit/alice-laptop
 *     1042
 *     q5x2…base64 of the 32-byte head…=
 *
 *     — helix-audit/alice-laptop 0s1n…base64 of key hash (4) ‖ signature (64)…=
 *
 * The key hash is the first four bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖
 * public key), 0x01 naming ed25519, and the signature covers the text up to
 * the empty line. A checkpoint kept by someone else (a webhook receiver, a
 * client) proves later that the log had that head at that size.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-audit"

#include "config.h"

#include <glib/gi18n.h>
#include <sodium.h>
#include <string.h>

#include "helix-audit-checkpoint.h"

#define SIG_PREFIX   "\xe2\x80\x94 "  /* "— " */
#define ALG_ED25519  0x01

G_DEFINE_QUARK (helix-audit-error-quark, helix_audit_error)

struct _HelixAuditSigner
{
  gatomicrefcount ref_count;
  char           *name;
  guint8          public_key[crypto_sign_PUBLICKEYBYTES];
  guint8          secret_key[crypto_sign_SECRETKEYBYTES];
};

G_STATIC_ASSERT (crypto_sign_PUBLICKEYBYTES == HELIX_AUDIT_PUBLIC_KEY_BYTES);
G_STATIC_ASSERT (crypto_sign_SECRETKEYBYTES == HELIX_AUDIT_SECRET_KEY_BYTES);

G_DEFINE_BOXED_TYPE (HelixAuditSigner, helix_audit_signer, helix_audit_signer_ref,
                     helix_audit_signer_unref)

static gboolean
init_sodium (GError **error)
{
  if (sodium_init () < 0)
    {
      g_set_error_literal (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_IO,
                           _("The cryptography library could not start"));
      return FALSE;
    }

  return TRUE;
}

/* A key name: printable, no spaces or "+" (signed-note rules). */
static gboolean
name_is_valid (const char *name)
{
  if (name == NULL || *name == '\0' || strlen (name) > 128 || !g_utf8_validate (name, -1, NULL))
    return FALSE;

  for (const char *p = name; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_isspace (c) || !g_unichar_isprint (c) || c == '+')
        return FALSE;
    }

  return TRUE;
}

/**
 * helix_audit_signer_new:
 * @name: the key's name, which is also the log's origin ("helix-audit/<host>")
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): a new random key pair
 */
HelixAuditSigner *
helix_audit_signer_new (const char  *name,
                        GError     **error)
{
  HelixAuditSigner *self;

  if (!init_sodium (error))
    return NULL;
  if (!name_is_valid (name))
    {
      g_set_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_INVALID,
                   _("“%s” is not a valid key name"), name);
      return NULL;
    }

  self = g_new0 (HelixAuditSigner, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->name = g_strdup (name);
  crypto_sign_keypair (self->public_key, self->secret_key);

  return self;
}

/**
 * helix_audit_signer_new_from_secret:
 * @name: the key's name
 * @secret: (array fixed-size=64): an ed25519 secret key (seed ‖ public key)
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the key pair
 */
HelixAuditSigner *
helix_audit_signer_new_from_secret (const char    *name,
                                    const guint8  *secret,
                                    GError       **error)
{
  HelixAuditSigner *self;

  if (!init_sodium (error))
    return NULL;
  if (!name_is_valid (name))
    {
      g_set_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_INVALID,
                   _("“%s” is not a valid key name"), name);
      return NULL;
    }

  self = g_new0 (HelixAuditSigner, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->name = g_strdup (name);
  memcpy (self->secret_key, secret, sizeof self->secret_key);
  crypto_sign_ed25519_sk_to_pk (self->public_key, self->secret_key);

  return self;
}

HelixAuditSigner *
helix_audit_signer_ref (HelixAuditSigner *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
helix_audit_signer_unref (HelixAuditSigner *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  sodium_memzero (self->secret_key, sizeof self->secret_key);
  g_free (self->name);
  g_free (self);
}

const char *
helix_audit_signer_get_name (HelixAuditSigner *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->name;
}

const guint8 *
helix_audit_signer_get_public_key (HelixAuditSigner *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->public_key;
}

/* For storing the key (keyring, 0600 file); never log it. */
const guint8 *
helix_audit_signer_get_secret_key (HelixAuditSigner *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->secret_key;
}

static void
key_hash (const char   *name,
          const guint8 *public_key,
          guint8        out[4])
{
  crypto_hash_sha256_state state;
  guint8 digest[crypto_hash_sha256_BYTES];
  const guint8 alg = ALG_ED25519;

  crypto_hash_sha256_init (&state);
  crypto_hash_sha256_update (&state, (const guint8 *) name, strlen (name));
  crypto_hash_sha256_update (&state, (const guint8 *) "\n", 1);
  crypto_hash_sha256_update (&state, &alg, 1);
  crypto_hash_sha256_update (&state, public_key, crypto_sign_PUBLICKEYBYTES);
  crypto_hash_sha256_final (&state, digest);
  memcpy (out, digest, 4);
}

static char *
body_text (const char   *origin,
           gint64        size,
           const guint8 *head)
{
  g_autofree char *head64 = g_base64_encode (head, HELIX_AUDIT_HASH_BYTES);

  return g_strdup_printf ("%s\n%" G_GINT64_FORMAT "\n%s\n", origin, size, head64);
}

/**
 * helix_audit_checkpoint_sign:
 * @signer: the log's key
 * @origin: the log's name
 * @size: the entries covered
 * @head: (array fixed-size=32): the hash of entry @size
 *
 * Returns: (transfer full): the signed checkpoint
 */
HelixAuditCheckpoint *
helix_audit_checkpoint_sign (HelixAuditSigner *signer,
                             const char       *origin,
                             gint64            size,
                             const guint8     *head)
{
  HelixAuditCheckpoint *checkpoint;
  g_autofree char *body = NULL;
  g_autofree char *sig64 = NULL;
  guint8 blob[4 + crypto_sign_BYTES];

  g_return_val_if_fail (signer != NULL, NULL);
  g_return_val_if_fail (origin != NULL && strchr (origin, '\n') == NULL, NULL);
  g_return_val_if_fail (size >= 0, NULL);

  body = body_text (origin, size, head);
  key_hash (signer->name, signer->public_key, blob);
  crypto_sign_detached (blob + 4, NULL, (const guint8 *) body, strlen (body), signer->secret_key);
  sig64 = g_base64_encode (blob, sizeof blob);

  checkpoint = g_new0 (HelixAuditCheckpoint, 1);
  checkpoint->origin = g_strdup (origin);
  checkpoint->size = size;
  memcpy (checkpoint->head, head, HELIX_AUDIT_HASH_BYTES);
  checkpoint->note = g_strdup_printf ("%s\n" SIG_PREFIX "%s %s\n", body, signer->name, sig64);

  return checkpoint;
}

static gboolean
invalid (GError     **error,
         const char  *what)
{
  g_set_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_INVALID,
               _("Not a valid checkpoint: %s"), what);
  return FALSE;
}

static gboolean
parse_size (const char *text,
            gint64     *size)
{
  guint64 value;

  /* Decimal, no sign, no leading zero (but "0"). */
  if (*text == '\0' || (text[0] == '0' && text[1] != '\0'))
    return FALSE;
  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXINT64, &value, NULL))
    return FALSE;

  *size = (gint64) value;
  return TRUE;
}

static guint8 *
decode_base64 (const char *text,
               gsize      *len)
{
  /* g_base64_decode() accepts anything: check the alphabet first. */
  gsize n = strlen (text);

  if (n == 0 || n % 4 != 0)
    return NULL;
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isalnum (text[i]) && text[i] != '+' && text[i] != '/' &&
        !(text[i] == '=' && i >= n - 2))
      return NULL;

  return g_base64_decode (text, len);
}

/**
 * helix_audit_checkpoint_parse:
 * @note: a checkpoint's text
 * @len: its length, or -1 if nul-terminated
 * @public_key: (array fixed-size=32): the key it must be signed with
 * @key_name: the name of that key
 * @error: return location for a #GError: %HELIX_AUDIT_ERROR_INVALID for a
 *   malformed note, %HELIX_AUDIT_ERROR_SIGNATURE when no valid signature of
 *   that key is on it
 *
 * Returns: (transfer full) (nullable): the checkpoint
 */
HelixAuditCheckpoint *
helix_audit_checkpoint_parse (const char    *note,
                              gssize         len,
                              const guint8  *public_key,
                              const char    *key_name,
                              GError       **error)
{
  g_autoptr(HelixAuditCheckpoint) checkpoint = NULL;
  g_autofree char *text = NULL;
  g_autofree guint8 *head = NULL;
  g_auto(GStrv) lines = NULL;
  const char *split;
  gsize body_len;
  gsize head_len = 0;
  guint8 expected_hash[4];
  gboolean signed_ok = FALSE;

  g_return_val_if_fail (note != NULL, NULL);
  g_return_val_if_fail (public_key != NULL && key_name != NULL, NULL);

  if (!init_sodium (error))
    return NULL;

  if (len < 0)
    len = (gssize) strlen (note);
  if (len > HELIX_AUDIT_MAX_NOTE)
    return invalid (error, _("it is too long")), NULL;
  text = g_strndup (note, (gsize) len);
  if ((gssize) strlen (text) != len || !g_utf8_validate (text, -1, NULL))
    return invalid (error, _("it is not text")), NULL;

  /* The body ends at the first empty line. */
  split = strstr (text, "\n\n");
  if (split == NULL || text[len - 1] != '\n')
    return invalid (error, _("no signature")), NULL;
  body_len = (gsize) (split - text) + 1;

  lines = g_strsplit (text, "\n", -1);
  if (g_strv_length (lines) < 6 || *lines[0] == '\0')
    return invalid (error, _("too few lines")), NULL;

  checkpoint = g_new0 (HelixAuditCheckpoint, 1);
  checkpoint->origin = g_strdup (lines[0]);
  if (!parse_size (lines[1], &checkpoint->size))
    return invalid (error, _("bad size")), NULL;
  head = decode_base64 (lines[2], &head_len);
  if (head == NULL || head_len != HELIX_AUDIT_HASH_BYTES)
    return invalid (error, _("bad head hash")), NULL;
  memcpy (checkpoint->head, head, HELIX_AUDIT_HASH_BYTES);
  /* Extension lines are not used: the body is exactly three lines. */
  if (*lines[3] != '\0')
    return invalid (error, _("unexpected lines")), NULL;

  key_hash (key_name, public_key, expected_hash);
  for (guint i = 4; lines[i] != NULL; i++)
    {
      const char *line = lines[i];
      const char *space;
      g_autofree guint8 *blob = NULL;
      gsize blob_len = 0;

      if (*line == '\0' && lines[i + 1] == NULL)
        break;
      if (!g_str_has_prefix (line, SIG_PREFIX))
        return invalid (error, _("bad signature line")), NULL;
      line += strlen (SIG_PREFIX);
      space = strchr (line, ' ');
      if (space == NULL)
        return invalid (error, _("bad signature line")), NULL;
      blob = decode_base64 (space + 1, &blob_len);
      if (blob == NULL || blob_len < 5)
        return invalid (error, _("bad signature")), NULL;

      /* Signatures of other keys are allowed, and skipped. */
      if (strlen (key_name) != (gsize) (space - line) ||
          strncmp (line, key_name, space - line) != 0 ||
          blob_len != 4 + crypto_sign_BYTES || memcmp (blob, expected_hash, 4) != 0)
        continue;

      if (crypto_sign_verify_detached (blob + 4, (const guint8 *) text, body_len,
                                       public_key) == 0)
        signed_ok = TRUE;
    }

  if (!signed_ok)
    {
      g_set_error (error, HELIX_AUDIT_ERROR, HELIX_AUDIT_ERROR_SIGNATURE,
                   _("The checkpoint is not signed by the key %s"), key_name);
      return NULL;
    }

  checkpoint->note = g_steal_pointer (&text);
  return g_steal_pointer (&checkpoint);
}

void
helix_audit_checkpoint_free (HelixAuditCheckpoint *checkpoint)
{
  if (checkpoint == NULL)
    return;

  g_free (checkpoint->origin);
  g_free (checkpoint->note);
  g_free (checkpoint);
}
