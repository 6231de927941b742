/* helix-password.c: password hashes and access tokens (libsodium)
 *
 * Passwords are stored as argon2id strings made by crypto_pwhash_str() with
 * the INTERACTIVE limits; a stored hash made with other limits is replaced at
 * the next successful login. argon2id is deliberately slow (a few hundred
 * milliseconds and 64 MiB), so the gateway verifies passwords in a worker
 * thread with helix_password_verify_async().
 *
 * Tokens are 32 bytes from randombytes_buf(), handed out in base64url; only
 * their SHA-256 is stored. Buffers that held a password or a token are wiped
 * with sodium_memzero() before they are freed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-gateway"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>
#include <sodium.h>

#include "helix-password.h"

#define OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE

G_STATIC_ASSERT (HELIX_TOKEN_LEN + 1 ==
                 sodium_base64_ENCODED_LEN (HELIX_TOKEN_BYTES,
                                            sodium_base64_VARIANT_URLSAFE_NO_PADDING));
G_STATIC_ASSERT (crypto_hash_sha256_BYTES == 32);

/**
 * helix_password_init:
 * @error: a location for a #GError
 *
 * Initialises libsodium. Safe to call more than once, from any thread.
 *
 * Returns: %FALSE if libsodium cannot work here (no entropy source)
 */
gboolean
helix_password_init (GError **error)
{
  static gsize initialized = 0;
  static gboolean ok = FALSE;

  if (g_once_init_enter (&initialized))
    {
      ok = sodium_init () >= 0;
      g_once_init_leave (&initialized, 1);
    }

  if (!ok)
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                         _("Could not initialise the cryptography library (libsodium)"));

  return ok;
}

/**
 * helix_password_free:
 * @password: (nullable): a password from g_strdup() and friends
 *
 * Wipes and frees @password.
 */
void
helix_password_free (char *password)
{
  if (password == NULL)
    return;

  sodium_memzero (password, strlen (password));
  g_free (password);
}

/**
 * helix_password_check_quality:
 * @password: a new password
 * @error: a location for a #GError
 *
 * Returns: whether @password is valid UTF-8 of at least
 *   %HELIX_PASSWORD_MIN_CHARS characters and at most
 *   %HELIX_PASSWORD_MAX_BYTES bytes
 */
gboolean
helix_password_check_quality (const char  *password,
                              GError     **error)
{
  gsize len;

  g_return_val_if_fail (password != NULL, FALSE);

  len = strlen (password);
  if (len == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           _("The password is empty"));
      return FALSE;
    }

  if (!g_utf8_validate (password, len, NULL))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           _("The password is not valid UTF-8 text"));
      return FALSE;
    }

  if (g_utf8_strlen (password, len) < HELIX_PASSWORD_MIN_CHARS)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("The password is too short: use at least %d characters"),
                   HELIX_PASSWORD_MIN_CHARS);
      return FALSE;
    }

  if (len > HELIX_PASSWORD_MAX_BYTES)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("The password is too long: use at most %d bytes"),
                   HELIX_PASSWORD_MAX_BYTES);
      return FALSE;
    }

  return TRUE;
}

/**
 * helix_password_hash:
 * @password: a password
 * @error: a location for a #GError
 *
 * Hashes @password with argon2id. This takes a few hundred milliseconds: never
 * call it on the main loop of a server.
 *
 * Returns: (transfer full): the `$argon2id$…` string, or %NULL with @error set
 */
char *
helix_password_hash (const char  *password,
                     GError     **error)
{
  char hash[crypto_pwhash_STRBYTES];

  g_return_val_if_fail (password != NULL, NULL);

  if (!helix_password_init (error))
    return NULL;

  if (crypto_pwhash_str (hash, password, strlen (password), OPSLIMIT, MEMLIMIT) != 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                           _("Could not hash the password: out of memory"));
      return NULL;
    }

  return g_strdup (hash);
}

/**
 * helix_password_verify:
 * @hash: an argon2 string from helix_password_hash()
 * @password: a password
 *
 * Slow, like helix_password_hash().
 *
 * Returns: whether @password matches @hash
 */
gboolean
helix_password_verify (const char *hash,
                       const char *password)
{
  g_return_val_if_fail (hash != NULL, FALSE);
  g_return_val_if_fail (password != NULL, FALSE);

  if (!helix_password_init (NULL))
    return FALSE;

  return crypto_pwhash_str_verify (hash, password, strlen (password)) == 0;
}

/**
 * helix_password_needs_rehash:
 * @hash: an argon2 string
 *
 * Returns: whether @hash was made with other limits (or another algorithm)
 *   than helix_password_hash() uses now
 */
gboolean
helix_password_needs_rehash (const char *hash)
{
  g_return_val_if_fail (hash != NULL, FALSE);

  return crypto_pwhash_str_needs_rehash (hash, OPSLIMIT, MEMLIMIT) != 0;
}

/* A hash of a random password, to verify against when the user does not
 * exist, so that an unknown user takes as long as a wrong password. */
static const char *
get_dummy_hash (void)
{
  static char *dummy_hash;

  if (g_once_init_enter (&dummy_hash))
    {
      char password[32];
      char *hash;

      randombytes_buf (password, sizeof password - 1);
      for (gsize i = 0; i < sizeof password - 1; i++)
        password[i] = 'a' + ((guchar) password[i] % 26);
      password[sizeof password - 1] = '\0';

      hash = helix_password_hash (password, NULL);
      sodium_memzero (password, sizeof password);
      g_once_init_leave (&dummy_hash, hash != NULL ? hash : g_strdup ("-"));
    }

  return dummy_hash;
}

static void
prepare_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  get_dummy_hash ();
  g_task_return_boolean (task, TRUE);
}

/**
 * helix_password_prepare:
 *
 * Makes, in a worker thread, the dummy hash that unknown users are checked
 * against, so that even the first unknown user takes no longer than a
 * wrong password. Servers call this when they start.
 */
void
helix_password_prepare (void)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, NULL, NULL);

  g_task_set_source_tag (task, helix_password_prepare);
  g_task_run_in_thread (task, prepare_thread);
}

typedef struct
{
  char *hash;     /* (nullable): NULL for a user that does not exist */
  char *password;
} VerifyData;

static void
verify_data_free (VerifyData *data)
{
  g_free (data->hash);
  helix_password_free (data->password);
  g_free (data);
}

typedef struct
{
  gboolean  ok;
  char     *new_hash;
} VerifyResult;

static void
verify_result_free (VerifyResult *result)
{
  g_free (result->new_hash);
  g_free (result);
}

static void
verify_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  VerifyData *data = task_data;
  VerifyResult *result = g_new0 (VerifyResult, 1);

  if (data->hash != NULL)
    {
      result->ok = helix_password_verify (data->hash, data->password);
      if (result->ok && helix_password_needs_rehash (data->hash))
        {
          g_autoptr(GError) error = NULL;

          result->new_hash = helix_password_hash (data->password, &error);
          if (result->new_hash == NULL)
            g_warning ("Could not rehash a password: %s", error->message);
        }
    }
  else
    {
      /* The same work as for a wrong password, and the same answer. */
      helix_password_verify (get_dummy_hash (), data->password);
      result->ok = FALSE;
    }

  g_task_return_pointer (task, result, (GDestroyNotify) verify_result_free);
}

/**
 * helix_password_verify_async:
 * @hash: (nullable): the stored hash, or %NULL when there is no such user
 * @password: the password given
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Verifies @password in a worker thread. When @hash is %NULL it verifies
 * against a dummy hash instead, taking as long, and fails. When the password
 * is right but @hash was made with other limits, it also makes a new hash.
 */
void
helix_password_verify_async (const char          *hash,
                             const char          *password,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  VerifyData *data;

  g_return_if_fail (password != NULL);

  data = g_new0 (VerifyData, 1);
  data->hash = g_strdup (hash);
  data->password = g_strdup (password);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, helix_password_verify_async);
  g_task_set_task_data (task, data, (GDestroyNotify) verify_data_free);
  g_task_run_in_thread (task, verify_thread);
}

/**
 * helix_password_verify_finish:
 * @result: the result passed to the callback
 * @new_hash: (out) (optional) (transfer full): a new hash to store, or %NULL
 * @error: a location for a #GError
 *
 * Returns: whether the password was right
 */
gboolean
helix_password_verify_finish (GAsyncResult  *result,
                              char         **new_hash,
                              GError       **error)
{
  VerifyResult *verify;
  gboolean ok;

  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == helix_password_verify_async,
                        FALSE);

  verify = g_task_propagate_pointer (G_TASK (result), error);
  if (verify == NULL)
    return FALSE;

  ok = verify->ok;
  if (new_hash != NULL)
    *new_hash = g_steal_pointer (&verify->new_hash);
  verify_result_free (verify);

  return ok;
}

/**
 * helix_token_new:
 * @token: (out caller-allocates): the new token, NUL-terminated
 * @hash: (out caller-allocates): its SHA-256
 *
 * Makes a token of %HELIX_TOKEN_BYTES random bytes.
 */
void
helix_token_new (char   token[HELIX_TOKEN_LEN + 1],
                 guint8 hash[32])
{
  guint8 bytes[HELIX_TOKEN_BYTES];

  if (!helix_password_init (NULL))
    g_error ("libsodium cannot make random tokens here");

  randombytes_buf (bytes, sizeof bytes);
  sodium_bin2base64 (token, HELIX_TOKEN_LEN + 1, bytes, sizeof bytes,
                     sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero (bytes, sizeof bytes);
  crypto_hash_sha256 (hash, (const guchar *) token, HELIX_TOKEN_LEN);
}

/**
 * helix_token_hash:
 * @token: a token a client presented
 * @hash: (out caller-allocates): its SHA-256
 *
 * Returns: %FALSE if @token cannot be a token (wrong length or characters)
 */
gboolean
helix_token_hash (const char *token,
                  guint8      hash[32])
{
  g_return_val_if_fail (token != NULL, FALSE);

  if (strlen (token) != HELIX_TOKEN_LEN)
    return FALSE;

  for (gsize i = 0; i < HELIX_TOKEN_LEN; i++)
    {
      if (!g_ascii_isalnum (token[i]) && token[i] != '-' && token[i] != '_')
        return FALSE;
    }

  if (!helix_password_init (NULL))
    return FALSE;

  crypto_hash_sha256 (hash, (const guchar *) token, HELIX_TOKEN_LEN);

  return TRUE;
}
