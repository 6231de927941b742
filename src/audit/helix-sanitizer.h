/* helix-sanitizer.h: secrets out of everything Helix writes down or sends
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What stands where a secret was. */
#define HELIX_SANITIZER_REDACTED "[redacted]"

/* Configured secrets shorter than this are not searched for: too many false hits. */
#define HELIX_SANITIZER_MIN_SECRET 8

typedef struct _HelixSanitizer HelixSanitizer;

HelixSanitizer *helix_sanitizer_new            (void);
HelixSanitizer *helix_sanitizer_get_default    (void);
void            helix_sanitizer_free           (HelixSanitizer *self);
void            helix_sanitizer_add_secret     (HelixSanitizer *self,
                                                const char     *secret);
void            helix_sanitizer_remove_secret  (HelixSanitizer *self,
                                                const char     *secret);
char           *helix_sanitizer_redact         (HelixSanitizer *self,
                                                const char     *text);
gboolean        helix_sanitizer_is_clean       (HelixSanitizer *self,
                                                const char     *text);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HelixSanitizer, helix_sanitizer_free)

G_END_DECLS
