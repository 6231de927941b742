/* helix-state-file.h: a small JSON document kept durably in a private file
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The largest state file read, and how deeply its JSON may nest. */
#define HELIX_STATE_FILE_MAX_BYTES (64 * 1024)
#define HELIX_STATE_FILE_MAX_DEPTH 8

#define HELIX_STATE_FILE_ERROR (helix_state_file_error_quark ())

/**
 * HelixStateFileError:
 * @HELIX_STATE_FILE_ERROR_READ: the file could not be read
 * @HELIX_STATE_FILE_ERROR_INVALID: the file is not a JSON object within the limits
 * @HELIX_STATE_FILE_ERROR_WRITE: the file could not be written
 */
typedef enum
{
  HELIX_STATE_FILE_ERROR_READ,
  HELIX_STATE_FILE_ERROR_INVALID,
  HELIX_STATE_FILE_ERROR_WRITE,
} HelixStateFileError;

#define HELIX_TYPE_STATE_FILE (helix_state_file_get_type ())

G_DECLARE_FINAL_TYPE (HelixStateFile, helix_state_file, HELIX, STATE_FILE, GObject)

GQuark          helix_state_file_error_quark       (void);

HelixStateFile *helix_state_file_open              (const char           *path,
                                                    GError              **error);
const char     *helix_state_file_get_path          (HelixStateFile       *self);
JsonObject     *helix_state_file_get_root          (HelixStateFile       *self);

void            helix_state_file_set_member_async  (HelixStateFile       *self,
                                                    const char           *name,
                                                    JsonNode             *value,
                                                    GCancellable         *cancellable,
                                                    GAsyncReadyCallback   callback,
                                                    gpointer              user_data);
gboolean        helix_state_file_set_member_finish (HelixStateFile       *self,
                                                    GAsyncResult         *result,
                                                    GError              **error);
gboolean        helix_state_file_set_member        (HelixStateFile       *self,
                                                    const char           *name,
                                                    JsonNode             *value,
                                                    GError              **error);

G_END_DECLS
