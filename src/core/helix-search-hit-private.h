/* helix-search-hit-private.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-search-hit.h"

G_BEGIN_DECLS

HelixSearchHit *_helix_search_hit_new (HelixSession *session,
                                       const char   *message_id,
                                       const char   *snippet);

G_END_DECLS
