/* helix-core.h: everything of the core library
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-enums.h"
#include "helix-error.h"
#include "helix-hlc.h"
#include "helix-json.h"
#include "helix-message.h"
#include "helix-message-list.h"
#include "helix-search-hit.h"
#include "helix-session.h"
#include "helix-session-list.h"
#include "helix-store.h"
#include "helix-store-sync.h"
#include "helix-types.h"
#include "helix-uuid.h"
