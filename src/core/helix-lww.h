/* helix-lww.h: the last-writer-wins members of synced sessions and messages
 *
 * The desktop store and the gateway apply the same ops to tables with the same column
 * names; both take the list of members, their columns and the columns of their HLCs
 * from here, so that they cannot drift apart (see src/sync/PROTOCOL.md).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  HELIX_LWW_STRING,
  HELIX_LWW_BOOLEAN,
  HELIX_LWW_INTEGER,
  HELIX_LWW_NUMBER,
} HelixLwwType;

/**
 * HelixLwwField:
 * @member: the member of the op's data
 * @column: the column that holds its value
 * @hlc_column: the column that holds the HLC of that value
 * @type: the JSON type of the member
 *
 * One member kept last-writer-wins by HLC. The SQL names come from these tables only.
 */
typedef struct
{
  const char   *member;
  const char   *column;
  const char   *hlc_column;
  HelixLwwType  type;
} HelixLwwField;

/* session.put: title, pinned, archived, model. */
extern const HelixLwwField helix_lww_session_fields[4];

/* The optional members of message.put; content and status share the row's `hlc`. */
extern const HelixLwwField helix_lww_message_fields[6];

G_END_DECLS
