/* helix-account.h: the desktop's gateway account and its device token
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define HELIX_ACCOUNT_ERROR (helix_account_error_quark ())

/**
 * HelixAccountError:
 * @HELIX_ACCOUNT_ERROR_INVALID: the gateway address, user name, password or
 *   device name cannot be used
 * @HELIX_ACCOUNT_ERROR_KEYRING: the keyring is missing, locked, or refused
 *   (for a sign-in: nothing was stored and the new token was revoked)
 * @HELIX_ACCOUNT_ERROR_AUTH: the gateway refused the user name or password
 * @HELIX_ACCOUNT_ERROR_RATE_LIMITED: too many failed sign-ins; the message says
 *   how long to wait
 * @HELIX_ACCOUNT_ERROR_NETWORK: the gateway could not be reached
 * @HELIX_ACCOUNT_ERROR_PROTOCOL: the gateway answered something unexpected
 * @HELIX_ACCOUNT_ERROR_UNAVAILABLE: the gateway is busy or down for a while
 * @HELIX_ACCOUNT_ERROR_NOT_REVOKED: a sign-out removed the token from this
 *   device, but the gateway could not be told to revoke it
 * @HELIX_ACCOUNT_ERROR_FORBIDDEN: the gateway allows this to administrators
 *   only, and the account is not one (HTTP 403)
 */
typedef enum
{
  HELIX_ACCOUNT_ERROR_INVALID,
  HELIX_ACCOUNT_ERROR_KEYRING,
  HELIX_ACCOUNT_ERROR_AUTH,
  HELIX_ACCOUNT_ERROR_RATE_LIMITED,
  HELIX_ACCOUNT_ERROR_NETWORK,
  HELIX_ACCOUNT_ERROR_PROTOCOL,
  HELIX_ACCOUNT_ERROR_UNAVAILABLE,
  HELIX_ACCOUNT_ERROR_NOT_REVOKED,
  HELIX_ACCOUNT_ERROR_FORBIDDEN,
} HelixAccountError;

/* The libsecret schema of the device tokens, with the attributes "gateway"
 * (the normalized gateway address) and "username". */
#define HELIX_ACCOUNT_SECRET_SCHEMA_NAME "ai.helix.Helix.DeviceToken"

/**
 * HelixAccountDevice:
 * @id: the device's id (a UUID)
 * @name: its name
 * @created_us: when it signed in, µs since the Unix epoch, or 0
 * @last_seen_us: when the gateway last heard from it, or 0
 * @current: whether it is this device
 * @revoked: whether its token was revoked
 *
 * A device of the account, as GET /api/v1/devices lists it.
 */
typedef struct
{
  char     *id;
  char     *name;
  gint64    created_us;
  gint64    last_seen_us;
  gboolean  current;
  gboolean  revoked;
} HelixAccountDevice;

void helix_account_device_free (HelixAccountDevice *device);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixAccountDevice, helix_account_device_free)

/**
 * HelixAccountCheckpoint:
 * @origin: the gateway's audit log's name
 * @public_key: (array fixed-size=32): the ed25519 key it signs checkpoints with
 * @note: (nullable): its newest checkpoint, a signed note; %NULL before the first
 *
 * What GET /api/v1/audit/checkpoint answers.
 */
typedef struct
{
  char   *origin;
  guint8  public_key[32];
  char   *note;
} HelixAccountCheckpoint;

void helix_account_checkpoint_free (HelixAccountCheckpoint *checkpoint);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixAccountCheckpoint, helix_account_checkpoint_free)

/**
 * HelixAccountFlag:
 * @name: the flag's name, such as "voice"
 * @enabled: whether it is on
 * @percent: the share of users it is rolled out to, 0–100
 * @killed: whether it is off for everyone whatever @enabled says
 * @killed_by: (nullable): "config" or "environment" when @killed
 * @kill_variable: (nullable): the environment variable that kills it
 * @source: where @enabled and @percent come from: "default", "config", "runtime"
 * @changed_us: the last change at run time, µs since the Unix epoch, or 0
 *
 * A feature flag, as GET /api/v1/admin/flags lists it.
 */
typedef struct
{
  char     *name;
  gboolean  enabled;
  guint     percent;
  gboolean  killed;
  char     *killed_by;
  char     *kill_variable;
  char     *source;
  gint64    changed_us;
} HelixAccountFlag;

void helix_account_flag_free (HelixAccountFlag *flag);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixAccountFlag, helix_account_flag_free)

/**
 * HelixAccountAuditReport:
 * @ok: whether the gateway's audit log is intact
 * @entries: how many entries it checked
 * @problem: "ok", or what is wrong ("bad_entry", "rolled_back", …)
 * @seq: the first entry (or checkpoint size) concerned
 * @message: (nullable): the gateway's words on the problem
 * @checkpoint: (nullable): the gateway's newest signed checkpoint note
 *
 * What POST /api/v1/audit/verify answers.
 */
typedef struct
{
  gboolean  ok;
  gint64    entries;
  char     *problem;
  gint64    seq;
  char     *message;
  char     *checkpoint;
} HelixAccountAuditReport;

void helix_account_audit_report_free (HelixAccountAuditReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixAccountAuditReport, helix_account_audit_report_free)

#define HELIX_TYPE_ACCOUNT (helix_account_get_type ())

G_DECLARE_FINAL_TYPE (HelixAccount, helix_account, HELIX, ACCOUNT, GObject)

GQuark        helix_account_error_quark     (void);

HelixAccount *helix_account_new             (void);

const char   *helix_account_get_gateway_uri (HelixAccount         *self);
char         *helix_account_dup_gateway_host (HelixAccount        *self);
const char   *helix_account_get_username    (HelixAccount         *self);
gboolean      helix_account_get_signed_in   (HelixAccount         *self);
gboolean      helix_account_get_busy        (HelixAccount         *self);
const char   *helix_account_get_token       (HelixAccount         *self);

char         *helix_account_normalize_uri   (const char           *gateway_uri,
                                             GError              **error);

void          helix_account_sign_in_async   (HelixAccount         *self,
                                             const char           *gateway_uri,
                                             const char           *username,
                                             const char           *password,
                                             const char           *device_name,
                                             GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data);
gboolean      helix_account_sign_in_finish  (HelixAccount         *self,
                                             GAsyncResult         *result,
                                             GError              **error);

void          helix_account_load_async      (HelixAccount         *self,
                                             const char           *gateway_uri,
                                             const char           *username,
                                             GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data);
gboolean      helix_account_load_finish     (HelixAccount         *self,
                                             GAsyncResult         *result,
                                             GError              **error);

void          helix_account_sign_out_async  (HelixAccount         *self,
                                             GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data);
gboolean      helix_account_sign_out_finish (HelixAccount         *self,
                                             GAsyncResult         *result,
                                             GError              **error);

void          helix_account_list_devices_async  (HelixAccount        *self,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
void          helix_account_get_audit_checkpoint_async  (HelixAccount        *self,
                                                         GCancellable        *cancellable,
                                                         GAsyncReadyCallback  callback,
                                                         gpointer             user_data);
HelixAccountCheckpoint *helix_account_get_audit_checkpoint_finish (HelixAccount  *self,
                                                                   GAsyncResult  *result,
                                                                   GError       **error);
GPtrArray    *helix_account_list_devices_finish (HelixAccount        *self,
                                                 GAsyncResult        *result,
                                                 GError             **error);

void          helix_account_get_maintenance_async (HelixAccount        *self,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
void          helix_account_set_maintenance_async (HelixAccount        *self,
                                                   gboolean             maintenance,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
gboolean      helix_account_maintenance_finish    (HelixAccount        *self,
                                                   GAsyncResult        *result,
                                                   gboolean            *maintenance,
                                                   GError             **error);
void          helix_account_list_flags_async      (HelixAccount        *self,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
GPtrArray    *helix_account_list_flags_finish     (HelixAccount        *self,
                                                   GAsyncResult        *result,
                                                   GError             **error);
void          helix_account_patch_flag_async      (HelixAccount        *self,
                                                   const char          *name,
                                                   int                  enabled,
                                                   int                  percent,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
HelixAccountFlag *helix_account_patch_flag_finish (HelixAccount        *self,
                                                   GAsyncResult        *result,
                                                   GError             **error);
void          helix_account_verify_audit_async    (HelixAccount        *self,
                                                   const char          *checkpoint,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
HelixAccountAuditReport *helix_account_verify_audit_finish (HelixAccount  *self,
                                                            GAsyncResult  *result,
                                                            GError       **error);

G_END_DECLS
