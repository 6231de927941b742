/* helix-sync.h: the sync protocol, shared by the gateway and the desktop client
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-sync-enums.h"
#include "helix-sync-frame.h"
#include "helix-sync-json.h"
#include "helix-sync-op.h"
#include "helix-sync-replica.h"
#include "helix-sync-types.h"
