/* helix-error.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-core"

#include "config.h"

#include "helix-error.h"

G_DEFINE_QUARK (helix-store-error-quark, helix_store_error)
