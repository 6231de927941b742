/* helix-gateway-db.h: the gateway's database (accounts, devices, tokens)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* PRAGMA application_id of a gateway database: 'HLXG'. */
#define HELIX_GATEWAY_DB_APPLICATION_ID 1212962887

/* The longest user name and device name, in bytes. */
#define HELIX_GATEWAY_USER_NAME_MAX   64
#define HELIX_GATEWAY_DEVICE_NAME_MAX 128

/* The length of a token hash (SHA-256). */
#define HELIX_GATEWAY_TOKEN_HASH_LEN 32

#define HELIX_GATEWAY_DB_ERROR (helix_gateway_db_error_quark ())

/**
 * HelixGatewayDbError:
 * @HELIX_GATEWAY_DB_ERROR_FAILED: something not covered below
 * @HELIX_GATEWAY_DB_ERROR_NOT_A_DATABASE: the file is not a gateway database
 * @HELIX_GATEWAY_DB_ERROR_TOO_NEW: the file was written by a newer gateway
 * @HELIX_GATEWAY_DB_ERROR_CLOSED: the database was closed
 * @HELIX_GATEWAY_DB_ERROR_USER_EXISTS: a user of that name exists already
 * @HELIX_GATEWAY_DB_ERROR_NO_SUCH_USER: no user has that name, or the user is disabled
 * @HELIX_GATEWAY_DB_ERROR_NO_SUCH_DEVICE: the user has no device with that id
 * @HELIX_GATEWAY_DB_ERROR_INVALID: a name or value is malformed
 * @HELIX_GATEWAY_DB_ERROR_NO_SUCH_SESSION: the user has no session with that id
 */
typedef enum
{
  HELIX_GATEWAY_DB_ERROR_FAILED,
  HELIX_GATEWAY_DB_ERROR_NOT_A_DATABASE,
  HELIX_GATEWAY_DB_ERROR_TOO_NEW,
  HELIX_GATEWAY_DB_ERROR_CLOSED,
  HELIX_GATEWAY_DB_ERROR_USER_EXISTS,
  HELIX_GATEWAY_DB_ERROR_NO_SUCH_USER,
  HELIX_GATEWAY_DB_ERROR_NO_SUCH_DEVICE,
  HELIX_GATEWAY_DB_ERROR_INVALID,
  HELIX_GATEWAY_DB_ERROR_NO_SUCH_SESSION,
} HelixGatewayDbError;

/**
 * HelixGatewayUser:
 * @id: the row id (never leaves the gateway)
 * @name: the user name
 * @password_hash: the argon2id string (only from helix_gateway_db_lookup_user())
 * @is_admin: whether the user is an administrator
 * @disabled: whether the user may not log in
 * @created_us: when the user was added (µs since the epoch)
 * @n_devices: how many devices are logged in (not revoked)
 */
typedef struct
{
  gint64    id;
  char     *name;
  char     *password_hash;
  gboolean  is_admin;
  gboolean  disabled;
  gint64    created_us;
  guint     n_devices;
} HelixGatewayUser;

/**
 * HelixGatewayDevice:
 * @id: the row id (never leaves the gateway)
 * @uuid: the device id clients see
 * @name: the display name the client gave at login
 * @created_us: when it logged in
 * @last_seen_us: when it last used its token (updated at most once a minute)
 * @revoked_us: when it was logged out or revoked, or 0
 */
typedef struct
{
  gint64  id;
  char   *uuid;
  char   *name;
  gint64  created_us;
  gint64  last_seen_us;
  gint64  revoked_us;
} HelixGatewayDevice;

/**
 * HelixGatewayAuth:
 * @user_id: the user the token belongs to
 * @user_name: their name
 * @device_id: the device the token was issued to
 * @device_uuid: its public id
 * @last_seen_us: when the device was last seen
 * @head_seq: the user's head seq (users.head_seq) when the token was checked:
 *   every change to the user's synced sessions raises it
 *
 * Who a valid token speaks for.
 */
typedef struct
{
  gint64  user_id;
  char   *user_name;
  gint64  device_id;
  char   *device_uuid;
  gint64  last_seen_us;
  gint64  head_seq;
} HelixGatewayAuth;

void helix_gateway_user_free   (HelixGatewayUser   *user);
void helix_gateway_device_free (HelixGatewayDevice *device);
void helix_gateway_auth_clear  (HelixGatewayAuth   *auth);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixGatewayUser, helix_gateway_user_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (HelixGatewayAuth, helix_gateway_auth_clear)

#define HELIX_TYPE_GATEWAY_DB (helix_gateway_db_get_type ())

G_DECLARE_FINAL_TYPE (HelixGatewayDb, helix_gateway_db, HELIX, GATEWAY_DB, GObject)

GQuark            helix_gateway_db_error_quark               (void);

gboolean          helix_gateway_user_name_is_valid           (const char          *name);

HelixGatewayDb   *helix_gateway_db_open                      (const char          *path,
                                                              GError             **error);
void              helix_gateway_db_close                     (HelixGatewayDb      *self);
const char       *helix_gateway_db_get_path                  (HelixGatewayDb      *self);
void              helix_gateway_db_defer_checkpoints         (HelixGatewayDb      *self);
guint             helix_gateway_db_get_schema_version        (HelixGatewayDb      *self);
guint             helix_gateway_db_get_latest_schema_version (void);
gboolean          helix_gateway_db_check                     (HelixGatewayDb      *self,
                                                              GError             **error);

gboolean          helix_gateway_db_add_user                  (HelixGatewayDb      *self,
                                                              const char          *name,
                                                              const char          *password_hash,
                                                              gboolean             is_admin,
                                                              GError             **error);
HelixGatewayUser *helix_gateway_db_lookup_user               (HelixGatewayDb      *self,
                                                              const char          *name,
                                                              GError             **error);
GPtrArray        *helix_gateway_db_list_users                (HelixGatewayDb      *self,
                                                              GError             **error);
gboolean          helix_gateway_db_set_user_disabled         (HelixGatewayDb      *self,
                                                              const char          *name,
                                                              gboolean             disabled,
                                                              GError             **error);
gboolean          helix_gateway_db_set_password_hash         (HelixGatewayDb      *self,
                                                              gint64               user_id,
                                                              const char          *password_hash,
                                                              GError             **error);

char             *helix_gateway_db_add_device                (HelixGatewayDb      *self,
                                                              gint64               user_id,
                                                              const char          *device_name,
                                                              const guint8        *token_hash,
                                                              GError             **error);
gboolean          helix_gateway_db_authenticate              (HelixGatewayDb      *self,
                                                              const guint8        *token_hash,
                                                              HelixGatewayAuth    *auth,
                                                              GError             **error);
gboolean          helix_gateway_db_touch_device              (HelixGatewayDb      *self,
                                                              gint64               device_id,
                                                              gint64               now_us,
                                                              GError             **error);
GPtrArray        *helix_gateway_db_list_devices              (HelixGatewayDb      *self,
                                                              gint64               user_id,
                                                              GError             **error);
gboolean          helix_gateway_db_revoke_device             (HelixGatewayDb      *self,
                                                              gint64               user_id,
                                                              const char          *device_uuid,
                                                              GError             **error);

G_END_DECLS
