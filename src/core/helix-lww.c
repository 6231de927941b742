/* helix-lww.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-core"

#include "config.h"

#include "helix-lww.h"

const HelixLwwField helix_lww_session_fields[4] = {
  { "title", "title", "title_hlc", HELIX_LWW_STRING },
  { "pinned", "pinned", "pinned_hlc", HELIX_LWW_BOOLEAN },
  { "archived", "archived", "archived_hlc", HELIX_LWW_BOOLEAN },
  { "model", "model", "model_hlc", HELIX_LWW_STRING },
};

const HelixLwwField helix_lww_message_fields[6] = {
  { "model", "model", "model_hlc", HELIX_LWW_STRING },
  { "provider", "provider", "provider_hlc", HELIX_LWW_STRING },
  { "tokens_in", "tokens_in", "tokens_in_hlc", HELIX_LWW_INTEGER },
  { "tokens_out", "tokens_out", "tokens_out_hlc", HELIX_LWW_INTEGER },
  { "cost", "cost", "cost_hlc", HELIX_LWW_NUMBER },
  { "created_us", "created_us", "created_hlc", HELIX_LWW_INTEGER },
};
