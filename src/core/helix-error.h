/* helix-error.h: error domains of the core library
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define HELIX_STORE_ERROR (helix_store_error_quark ())

/**
 * HelixStoreError:
 * @HELIX_STORE_ERROR_FAILED: an SQLite error not covered below
 * @HELIX_STORE_ERROR_NOT_A_DATABASE: the file is not an SQLite database, or not Helix's
 * @HELIX_STORE_ERROR_CORRUPT: the database is damaged
 * @HELIX_STORE_ERROR_TOO_NEW: the database was written by a newer Helix
 * @HELIX_STORE_ERROR_NOT_FOUND: the session or message does not exist
 * @HELIX_STORE_ERROR_INVALID: an argument was out of range (empty, too long, bad id)
 * @HELIX_STORE_ERROR_BUSY: another process holds the database locked
 * @HELIX_STORE_ERROR_FULL: the disk is full
 * @HELIX_STORE_ERROR_READ_ONLY: the database cannot be written
 * @HELIX_STORE_ERROR_CLOSED: the store was closed
 */
typedef enum
{
  HELIX_STORE_ERROR_FAILED,
  HELIX_STORE_ERROR_NOT_A_DATABASE,
  HELIX_STORE_ERROR_CORRUPT,
  HELIX_STORE_ERROR_TOO_NEW,
  HELIX_STORE_ERROR_NOT_FOUND,
  HELIX_STORE_ERROR_INVALID,
  HELIX_STORE_ERROR_BUSY,
  HELIX_STORE_ERROR_FULL,
  HELIX_STORE_ERROR_READ_ONLY,
  HELIX_STORE_ERROR_CLOSED,
} HelixStoreError;

GQuark helix_store_error_quark (void);

G_END_DECLS
