/* helix-sync-member.c: strictly typed access to the members of a JSON object
 *
 * Every getter fails, with the error code the caller names, when the member has the
 * wrong JSON type (null included), is out of range, or is missing but required. The
 * messages name the member but never quote its value, which may be large or hostile.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "helix-sync"

#include "config.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

#include "helix-uuid.h"
#include "helix-sync-private.h"

/* Longest excerpt of untrusted text quoted in an error message, in bytes. */
#define EXCERPT_MAX 64

/* Returns at most EXCERPT_MAX bytes of the UTF-8 text @str, cut on a character
 * boundary, so that an error message quoting it is valid UTF-8 and short. */
char *
_helix_sync_excerpt (const char *str)
{
  gsize len = strnlen (str, EXCERPT_MAX + 1);
  const char *end;

  if (len <= EXCERPT_MAX)
    return g_strdup (str);

  end = g_utf8_find_prev_char (str, str + EXCERPT_MAX + 1);
  g_assert (end != NULL);

  return g_strdup_printf ("%.*s…", (int) (end - str), str);
}

typedef struct
{
  const char * const *allowed;
  const char         *unknown;
} MemberCheck;

static void
check_member_cb (JsonObject  *object,
                 const char  *name,
                 JsonNode    *node,
                 gpointer     user_data)
{
  MemberCheck *check = user_data;

  if (check->unknown != NULL || g_strv_contains (check->allowed, name))
    return;

  check->unknown = name;
}

/* Whether @object has only members of @allowed. @what names @object in the
 * error: an untranslated N_() text, or an op or frame type, which
 * translations leave as it is. It is translated only for an error: gettext
 * costs more than the check. */
gboolean
_helix_sync_check_members (JsonObject          *object,
                           const char * const  *allowed,
                           HelixSyncError       code,
                           const char          *what,
                           GError             **error)
{
  MemberCheck check = { allowed, NULL };
  g_autofree char *name = NULL;

  json_object_foreach_member (object, check_member_cb, &check);
  if (check.unknown == NULL)
    return TRUE;

  name = _helix_sync_excerpt (check.unknown);
  g_set_error (error, HELIX_SYNC_ERROR, code, _("Unknown member “%s” in %s"), name, _(what));
  return FALSE;
}

static JsonNode *
get_member (JsonObject      *object,
            const char      *name,
            gboolean         required,
            HelixSyncError   code,
            GError         **error)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL && required)
    g_set_error (error, HELIX_SYNC_ERROR, code, _("Member “%s” is missing"), name);

  return node;
}

static gboolean
wrong_type (const char      *name,
            const char      *expected,
            HelixSyncError   code,
            GError         **error)
{
  g_set_error (error, HELIX_SYNC_ERROR, code, _("Member “%s” must be %s"), name, expected);
  return FALSE;
}

static gboolean
holds (JsonNode *node,
       GType     type)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

gboolean
_helix_sync_get_string (JsonObject      *object,
                        const char      *name,
                        gboolean         required,
                        gsize            max_bytes,
                        HelixSyncError   code,
                        const char     **out,
                        GError         **error)
{
  JsonNode *node = get_member (object, name, required, code, error);
  const char *str;

  *out = NULL;
  if (node == NULL)
    return !required;

  if (!holds (node, G_TYPE_STRING))
    return wrong_type (name, _("a string"), code, error);

  str = json_node_get_string (node);
  if (strlen (str) > max_bytes)
    {
      g_set_error (error, HELIX_SYNC_ERROR, code,
                   _("Member “%s” is longer than %lu bytes"), name, (gulong) max_bytes);
      return FALSE;
    }
  /* The pre-scan saw UTF-8 text; this also covers objects made by a caller. */
  if (!g_utf8_validate (str, -1, NULL))
    return wrong_type (name, _("valid UTF-8"), code, error);

  *out = str;
  return TRUE;
}

gboolean
_helix_sync_get_uuid (JsonObject      *object,
                      const char      *name,
                      gboolean         required,
                      HelixSyncError   code,
                      const char     **out,
                      GError         **error)
{
  JsonNode *node = json_object_get_member (object, name);

  /* The common case at once: a UUID is ASCII, so valid UTF-8 too. Anything
   * else goes the long way, for the error it deserves. */
  if (node != NULL && holds (node, G_TYPE_STRING) &&
      helix_uuid_is_valid (json_node_get_string (node)))
    {
      *out = json_node_get_string (node);
      return TRUE;
    }

  if (!_helix_sync_get_string (object, name, required, G_MAXSIZE, code, out, error))
    return FALSE;

  if (*out != NULL && !helix_uuid_is_valid (*out))
    {
      *out = NULL;
      return wrong_type (name, _("a lower-case UUID (8-4-4-4-12 hex digits)"), code, error);
    }

  return TRUE;
}

gboolean
_helix_sync_get_int (JsonObject      *object,
                     const char      *name,
                     gboolean         required,
                     gint64           min,
                     gint64           max,
                     HelixSyncError   code,
                     gint64          *out,
                     gboolean        *present,
                     GError         **error)
{
  JsonNode *node = get_member (object, name, required, code, error);
  gint64 value;

  if (present != NULL)
    *present = node != NULL;
  if (node == NULL)
    return !required;

  /* json-glib reads any literal with a fraction or exponent as a double: 1.0 and 1e3
   * are not integers here. */
  if (!holds (node, G_TYPE_INT64))
    return wrong_type (name, _("an integer"), code, error);

  value = json_node_get_int (node);
  if (value < min || value > max)
    {
      g_set_error (error, HELIX_SYNC_ERROR, code,
                   _("Member “%s” must be an integer from %lld to %lld"),
                   name, (long long) min, (long long) max);
      return FALSE;
    }

  *out = value;
  return TRUE;
}

gboolean
_helix_sync_get_bool (JsonObject      *object,
                      const char      *name,
                      HelixSyncError   code,
                      gboolean        *out,
                      gboolean        *present,
                      GError         **error)
{
  JsonNode *node = json_object_get_member (object, name);

  *present = node != NULL;
  if (node == NULL)
    return TRUE;

  if (!holds (node, G_TYPE_BOOLEAN))
    return wrong_type (name, _("true or false"), code, error);

  *out = json_node_get_boolean (node);
  return TRUE;
}

gboolean
_helix_sync_get_number (JsonObject      *object,
                        const char      *name,
                        double           min,
                        HelixSyncError   code,
                        double          *out,
                        gboolean        *present,
                        GError         **error)
{
  JsonNode *node = json_object_get_member (object, name);
  double value;

  *present = node != NULL;
  if (node == NULL)
    return TRUE;

  if (holds (node, G_TYPE_INT64))
    value = (double) json_node_get_int (node);
  else if (holds (node, G_TYPE_DOUBLE))
    value = json_node_get_double (node);
  else
    return wrong_type (name, _("a number"), code, error);

  /* 1e999999 reads as infinity. */
  if (!isfinite (value) || value < min)
    {
      g_set_error (error, HELIX_SYNC_ERROR, code,
                   _("Member “%s” must be a finite number of at least %g"), name, min);
      return FALSE;
    }

  /* -0 and 0 are the same amount; keep one spelling for the canonical form. */
  *out = value == 0 ? 0.0 : value;
  return TRUE;
}
