/* helix-password.h: password hashes and access tokens (libsodium)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Passwords shorter than this (in characters) are refused. */
#define HELIX_PASSWORD_MIN_CHARS 8
/* Longer passwords (in bytes) are refused. */
#define HELIX_PASSWORD_MAX_BYTES 1024

/* A token is 32 random bytes in unpadded base64url: 43 characters. */
#define HELIX_TOKEN_BYTES 32
#define HELIX_TOKEN_LEN   43

gboolean  helix_password_init          (GError              **error);
void      helix_password_prepare       (void);

gboolean  helix_password_check_quality (const char           *password,
                                        GError              **error);
char     *helix_password_hash          (const char           *password,
                                        GError              **error);
gboolean  helix_password_verify        (const char           *hash,
                                        const char           *password);
gboolean  helix_password_needs_rehash  (const char           *hash);

void      helix_password_verify_async  (const char           *hash,
                                        const char           *password,
                                        GCancellable         *cancellable,
                                        GAsyncReadyCallback   callback,
                                        gpointer              user_data);
gboolean  helix_password_verify_finish (GAsyncResult         *result,
                                        char                **new_hash,
                                        GError              **error);

void      helix_password_free          (char                 *password);

void      helix_token_new              (char                  token[HELIX_TOKEN_LEN + 1],
                                        guint8                hash[32]);
gboolean  helix_token_hash             (const char           *token,
                                        guint8                hash[32]);

G_END_DECLS
