/* helix-types.h: shared enums and forward declarations
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

typedef struct _HelixStore   HelixStore;
typedef struct _HelixSession HelixSession;
typedef struct _HelixMessage HelixMessage;

/**
 * HelixMessageRole:
 * @HELIX_MESSAGE_ROLE_USER: written by the user
 * @HELIX_MESSAGE_ROLE_ASSISTANT: written by a model
 * @HELIX_MESSAGE_ROLE_SYSTEM: a system prompt or notice
 * @HELIX_MESSAGE_ROLE_TOOL: output of a tool run
 */
typedef enum
{
  HELIX_MESSAGE_ROLE_USER,
  HELIX_MESSAGE_ROLE_ASSISTANT,
  HELIX_MESSAGE_ROLE_SYSTEM,
  HELIX_MESSAGE_ROLE_TOOL,
} HelixMessageRole;

/**
 * HelixMessageStatus:
 * @HELIX_MESSAGE_STATUS_PENDING: stored, not yet answered or sent
 * @HELIX_MESSAGE_STATUS_STREAMING: an answer that is still arriving
 * @HELIX_MESSAGE_STATUS_DONE: complete
 * @HELIX_MESSAGE_STATUS_ERROR: failed; see the metadata for why
 */
typedef enum
{
  HELIX_MESSAGE_STATUS_PENDING,
  HELIX_MESSAGE_STATUS_STREAMING,
  HELIX_MESSAGE_STATUS_DONE,
  HELIX_MESSAGE_STATUS_ERROR,
} HelixMessageStatus;

const char         *helix_message_role_to_string   (HelixMessageRole    role);
gboolean            helix_message_role_from_string (const char         *str,
                                                    HelixMessageRole   *role);
const char         *helix_message_status_to_string (HelixMessageStatus  status);
gboolean            helix_message_status_from_string (const char       *str,
                                                      HelixMessageStatus *status);

G_END_DECLS
