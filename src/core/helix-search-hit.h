/* helix-search-hit.h: one result of a search
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "helix-session.h"

G_BEGIN_DECLS

#define HELIX_TYPE_SEARCH_HIT (helix_search_hit_get_type ())

G_DECLARE_FINAL_TYPE (HelixSearchHit, helix_search_hit, HELIX, SEARCH_HIT, GObject)

HelixSession *helix_search_hit_get_session    (HelixSearchHit *self);
const char   *helix_search_hit_get_message_id (HelixSearchHit *self);
const char   *helix_search_hit_get_snippet    (HelixSearchHit *self);

G_END_DECLS
