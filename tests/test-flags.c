/* test-flags.c: feature flags: the roll-out, the kill switches, the state file
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "helix-flags.h"
#include "helix-state-file.h"
#include "helix-test-util.h"

#define N_USERS 10000

typedef struct
{
  char *dir;
  char *path;
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("helix-flags-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "flags.json", NULL);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  helix_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->path);
}

static guint
count_enabled (HelixFlags *flags,
               const char *name)
{
  guint n = 0;

  for (guint i = 0; i < N_USERS; i++)
    {
      g_autofree char *user = g_strdup_printf ("user-%u", i);

      n += helix_flags_is_enabled (flags, name, user);
    }

  return n;
}

static void
test_names (void)
{
  const char * const *names = helix_flags_get_names ();

  g_assert_cmpuint (g_strv_length ((char **) names), ==, 4);
  g_assert_true (g_strv_contains (names, "custom-tools"));
  g_assert_true (g_strv_contains (names, "composite-skills"));
  g_assert_true (g_strv_contains (names, "memory-synthesis"));
  g_assert_true (g_strv_contains (names, "voice"));
  g_assert_false (helix_flags_name_is_known ("Voice"));
  g_assert_false (helix_flags_name_is_known (""));
  g_assert_false (helix_flags_name_is_known (NULL));
  g_assert_cmpstr (helix_flags_get_kill_variable ("memory-synthesis"), ==, "DISABLE_SYNTHESIS");
  g_assert_cmpstr (helix_flags_get_kill_variable ("custom-tools"), ==, "DISABLE_CUSTOM_TOOLS");
  g_assert_cmpstr (helix_flags_get_kill_variable ("composite-skills"), ==,
                   "DISABLE_COMPOSITE_SKILLS");
  g_assert_cmpstr (helix_flags_get_kill_variable ("voice"), ==, "DISABLE_VOICE");
  g_assert_null (helix_flags_get_kill_variable ("nope"));
}

/* The bucket is the documented formula: these values were computed apart
 * from this code (Python's hashlib, with the same domain and lengths). */
static void
test_bucket_known_answers (void)
{
  g_assert_cmpuint (helix_flags_bucket ("voice", "alice"), ==, 1944);
  g_assert_cmpuint (helix_flags_bucket ("memory-synthesis", "alice"), ==, 2624);
  g_assert_cmpuint (helix_flags_bucket ("voice", "bob"), ==, 9059);
}

static void
test_defaults (void)
{
  g_autoptr(HelixFlags) flags = helix_flags_new ();
  const char * const *names = helix_flags_get_names ();

  for (guint i = 0; names[i] != NULL; i++)
    {
      HelixFlagState state;

      g_assert_true (helix_flags_get_state (flags, names[i], &state));
      g_assert_cmpstr (state.name, ==, names[i]);
      g_assert_true (state.enabled);
      g_assert_cmpuint (state.percent, ==, 100);
      g_assert_cmpint (state.source, ==, HELIX_FLAG_SOURCE_DEFAULT);
      g_assert_cmpint (state.kill, ==, HELIX_FLAG_KILL_NONE);
      g_assert_cmpuint (count_enabled (flags, names[i]), ==, N_USERS);
    }
}

/* Over 10,000 ids the share that gets a flag is near its percent, every
 * evaluation gives the same answer, raising the percent only adds users, and
 * two flags pick independent users. */
static void
test_rollout (void)
{
  static const guint percents[] = { 0, 1, 10, 25, 50, 75, 99, 100 };
  g_autoptr(HelixFlags) flags = helix_flags_new ();
  g_autoptr(HelixFlags) again = helix_flags_new ();
  g_autoptr(GError) error = NULL;
  gboolean previous[N_USERS] = { FALSE, };
  guint both = 0;

  for (guint p = 0; p < G_N_ELEMENTS (percents); p++)
    {
      guint n = 0;

      g_assert_true (helix_flags_set (flags, "voice", TRUE, percents[p], &error));
      g_assert_no_error (error);
      g_assert_true (helix_flags_set (again, "voice", TRUE, percents[p], &error));
      g_assert_no_error (error);

      for (guint i = 0; i < N_USERS; i++)
        {
          g_autofree char *user = g_strdup_printf ("user-%u", i);
          gboolean on = helix_flags_is_enabled (flags, "voice", user);

          /* Deterministic: the same answer from another instance, and again. */
          g_assert_cmpint (on, ==, helix_flags_is_enabled (again, "voice", user));
          g_assert_cmpint (on, ==, helix_flags_is_enabled (flags, "voice", user));
          g_assert_cmpint (on, ==,
                           helix_flags_bucket ("voice", user) < percents[p] * 100);
          /* Monotonic: whoever had it keeps it. */
          if (previous[i])
            g_assert_true (on);
          previous[i] = on;
          n += on;
        }

      g_test_message ("voice at %u%%: %u of %u users", percents[p], n, N_USERS);
      /* A binomial count's standard deviation is at most 50 here: 300 is 6 of them. */
      g_assert_cmpint (ABS ((gint) n - (gint) (percents[p] * N_USERS / 100)), <=, 300);
      if (percents[p] == 0)
        g_assert_cmpuint (n, ==, 0);
      if (percents[p] == 100)
        g_assert_cmpuint (n, ==, N_USERS);
    }

  /* Independent flags: at 50 % each, about a quarter of the users get both. */
  g_assert_true (helix_flags_set (flags, "voice", TRUE, 50, &error));
  g_assert_true (helix_flags_set (flags, "custom-tools", TRUE, 50, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < N_USERS; i++)
    {
      g_autofree char *user = g_strdup_printf ("user-%u", i);

      both += helix_flags_is_enabled (flags, "voice", user) &&
              helix_flags_is_enabled (flags, "custom-tools", user);
    }
  g_test_message ("both flags at 50%%: %u of %u users", both, N_USERS);
  g_assert_cmpint (ABS ((gint) both - N_USERS / 4), <=, 300);

  /* Disabled is off for everyone whatever the percent. */
  g_assert_true (helix_flags_set (flags, "voice", FALSE, 100, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_enabled (flags, "voice"), ==, 0);
}

static void
test_kill_environment (void)
{
  g_autoptr(HelixFlags) flags = helix_flags_new ();
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) env = NULL;
  g_auto(GStrv) bad = NULL;
  HelixFlagState state;

  env = g_environ_setenv (NULL, "DISABLE_SYNTHESIS", "1", TRUE);
  env = g_environ_setenv (env, "DISABLE_VOICE", "0", TRUE);
  env = g_environ_setenv (env, "DISABLE_CUSTOM_TOOLS", "", TRUE);
  g_assert_true (helix_flags_apply_environment (flags, (const char * const *) env, &error));
  g_assert_no_error (error);

  g_assert_true (helix_flags_get_state (flags, "memory-synthesis", &state));
  g_assert_cmpint (state.kill, ==, HELIX_FLAG_KILL_ENVIRONMENT);
  g_assert_cmpstr (helix_flags_kill_to_string (state.kill), ==, "environment");
  g_assert_cmpuint (count_enabled (flags, "memory-synthesis"), ==, 0);

  /* A change at run time does not lift it: the kill switch wins. */
  g_assert_true (helix_flags_set (flags, "memory-synthesis", TRUE, 100, &error));
  g_assert_no_error (error);
  g_assert_true (helix_flags_get_state (flags, "memory-synthesis", &state));
  g_assert_true (state.enabled);
  g_assert_cmpuint (state.percent, ==, 100);
  g_assert_cmpint (state.kill, ==, HELIX_FLAG_KILL_ENVIRONMENT);
  g_assert_cmpuint (count_enabled (flags, "memory-synthesis"), ==, 0);

  /* "0" and "" kill nothing. */
  g_assert_true (helix_flags_get_state (flags, "voice", &state));
  g_assert_cmpint (state.kill, ==, HELIX_FLAG_KILL_NONE);
  g_assert_true (helix_flags_get_state (flags, "custom-tools", &state));
  g_assert_cmpint (state.kill, ==, HELIX_FLAG_KILL_NONE);
  g_assert_cmpuint (count_enabled (flags, "voice"), ==, N_USERS);

  /* A value that is neither is refused, and nothing changes. */
  bad = g_environ_setenv (NULL, "DISABLE_COMPOSITE_SKILLS", "1", TRUE);
  bad = g_environ_setenv (bad, "DISABLE_VOICE", "maybe", TRUE);
  g_assert_false (helix_flags_apply_environment (flags, (const char * const *) bad, &error));
  g_assert_error (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_INVALID_VALUE);
  g_assert_nonnull (strstr (error->message, "DISABLE_VOICE"));
  g_assert_true (helix_flags_get_state (flags, "composite-skills", &state));
  g_assert_cmpint (state.kill, ==, HELIX_FLAG_KILL_NONE);
}

static void
test_kill_config (void)
{
  g_autoptr(HelixFlags) flags = helix_flags_new ();
  g_autoptr(GError) error = NULL;
  HelixFlagState state;

  g_assert_true (helix_flags_configure (flags, "voice", TRUE, 40, &error));
  g_assert_true (helix_flags_kill (flags, "voice", HELIX_FLAG_KILL_CONFIG, &error));
  g_assert_no_error (error);

  g_assert_true (helix_flags_get_state (flags, "voice", &state));
  g_assert_cmpint (state.source, ==, HELIX_FLAG_SOURCE_CONFIG);
  g_assert_cmpuint (state.percent, ==, 40);
  g_assert_cmpint (state.kill, ==, HELIX_FLAG_KILL_CONFIG);
  g_assert_cmpuint (count_enabled (flags, "voice"), ==, 0);

  g_assert_true (helix_flags_kill (flags, "voice", HELIX_FLAG_KILL_NONE, &error));
  g_assert_no_error (error);
  g_assert_cmpint (ABS ((gint) count_enabled (flags, "voice") - 4000), <=, 300);

  g_assert_false (helix_flags_kill (flags, "teleport", HELIX_FLAG_KILL_CONFIG, &error));
  g_assert_error (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_UNKNOWN_FLAG);
}

static void
on_changed (HelixFlags *flags,
            const char *name,
            GPtrArray  *seen)
{
  g_ptr_array_add (seen, g_strdup (name));
}

typedef struct
{
  guint    n_done;
  gboolean ok[4];
  GError  *errors[4];
} AsyncSets;

static void
set_done_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  AsyncSets *sets = user_data;
  guint i = sets->n_done++;

  sets->ok[i] = helix_flags_set_finish (HELIX_FLAGS (source), result, &sets->errors[i]);
}

/* Changes at run time are written to the state file (0600) before they take
 * effect, win over the configuration, and survive a reopen. */
static void
test_persistence (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(HelixFlags) flags = helix_flags_new ();
  g_autoptr(HelixFlags) reopened = helix_flags_new ();
  g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  AsyncSets sets = { 0, };
  HelixFlagState state;
  GStatBuf st;

  g_assert_true (helix_flags_configure (flags, "custom-tools", TRUE, 10, &error));
  g_assert_true (helix_flags_load (flags, f->path, &error));
  g_assert_no_error (error);
  /* No file yet: nothing at run time. */
  g_assert_false (g_file_test (f->path, G_FILE_TEST_EXISTS));

  g_signal_connect (flags, "changed::voice", G_CALLBACK (on_changed), seen);

  /* Two changes of voice in a row, and one of custom-tools: stored in order. */
  helix_flags_set_async (flags, "voice", TRUE, 30, NULL, set_done_cb, &sets);
  helix_flags_set_async (flags, "voice", TRUE, 60, NULL, set_done_cb, &sets);
  helix_flags_set_async (flags, "custom-tools", FALSE, 100, NULL, set_done_cb, &sets);
  /* Nothing changes before it is on disk. */
  g_assert_true (helix_flags_get_state (flags, "voice", &state));
  g_assert_cmpint (state.source, ==, HELIX_FLAG_SOURCE_DEFAULT);
  g_assert_cmpuint (seen->len, ==, 0);

  helix_test_wait_for (sets.n_done == 3, 30, "the flags to be stored");
  for (guint i = 0; i < 3; i++)
    {
      g_assert_no_error (sets.errors[i]);
      g_assert_true (sets.ok[i]);
    }
  g_assert_cmpuint (seen->len, ==, 2);

  g_assert_true (helix_flags_get_state (flags, "voice", &state));
  g_assert_cmpint (state.source, ==, HELIX_FLAG_SOURCE_RUNTIME);
  g_assert_cmpuint (state.percent, ==, 60);
  g_assert_cmpint (state.changed_us, >, 0);
  g_assert_true (helix_flags_get_state (flags, "custom-tools", &state));
  g_assert_cmpint (state.source, ==, HELIX_FLAG_SOURCE_RUNTIME);
  g_assert_false (state.enabled);

  g_assert_cmpint (g_stat (f->path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  /* A synchronous change too. */
  g_assert_true (helix_flags_set (flags, "composite-skills", TRUE, 5, &error));
  g_assert_no_error (error);

  /* Reopened with another configuration: what was changed at run time wins,
   * the rest follows the configuration. */
  g_assert_true (helix_flags_configure (reopened, "custom-tools", TRUE, 100, &error));
  g_assert_true (helix_flags_configure (reopened, "memory-synthesis", TRUE, 20, &error));
  g_assert_true (helix_flags_load (reopened, f->path, &error));
  g_assert_no_error (error);

  g_assert_true (helix_flags_get_state (reopened, "voice", &state));
  g_assert_cmpint (state.source, ==, HELIX_FLAG_SOURCE_RUNTIME);
  g_assert_true (state.enabled);
  g_assert_cmpuint (state.percent, ==, 60);
  g_assert_true (helix_flags_get_state (reopened, "custom-tools", &state));
  g_assert_cmpint (state.source, ==, HELIX_FLAG_SOURCE_RUNTIME);
  g_assert_false (state.enabled);
  g_assert_true (helix_flags_get_state (reopened, "composite-skills", &state));
  g_assert_cmpuint (state.percent, ==, 5);
  g_assert_true (helix_flags_get_state (reopened, "memory-synthesis", &state));
  g_assert_cmpint (state.source, ==, HELIX_FLAG_SOURCE_CONFIG);
  g_assert_cmpuint (state.percent, ==, 20);

  for (guint i = 0; i < N_USERS; i += 7)
    {
      g_autofree char *user = g_strdup_printf ("user-%u", i);

      g_assert_cmpint (helix_flags_is_enabled (flags, "voice", user), ==,
                       helix_flags_is_enabled (reopened, "voice", user));
    }
}

/* A change that cannot be written is not made. */
static void
test_store_failure (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(HelixFlags) flags = helix_flags_new ();
  g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  AsyncSets sets = { 0, };
  HelixFlagState state;

  g_assert_true (helix_flags_load (flags, f->path, &error));
  g_assert_true (helix_flags_set (flags, "voice", TRUE, 50, &error));
  g_assert_no_error (error);
  g_signal_connect (flags, "changed", G_CALLBACK (on_changed), seen);

  /* The directory goes (root may write anywhere; a missing directory stops it). */
  helix_test_rm_rf (f->dir);

  g_assert_false (helix_flags_set (flags, "voice", TRUE, 90, &error));
  g_assert_error (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_STORE);
  g_clear_error (&error);

  helix_flags_set_async (flags, "voice", FALSE, 90, NULL, set_done_cb, &sets);
  helix_test_wait_for (sets.n_done == 1, 30, "the change to fail");
  g_assert_false (sets.ok[0]);
  g_assert_error (sets.errors[0], HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_STORE);
  g_clear_error (&sets.errors[0]);

  g_assert_cmpuint (seen->len, ==, 0);
  g_assert_true (helix_flags_get_state (flags, "voice", &state));
  g_assert_true (state.enabled);
  g_assert_cmpuint (state.percent, ==, 50);
}

static void
test_bad_input (void)
{
  static const char * const bad_settings[] = {
    "", "101", "101%", "-1", "1000", "abc", "50%%", " 5", "5 ", "0x10", "1e2", "+5", "onn",
  };
  static const struct
  {
    const char *text;
    gboolean    enabled;
    guint       percent;
  } good_settings[] = {
    { "on", TRUE, 100 }, { "TRUE", TRUE, 100 }, { "yes", TRUE, 100 },
    { "off", FALSE, 100 }, { "false", FALSE, 100 }, { "No", FALSE, 100 },
    { "0", TRUE, 0 }, { "25%", TRUE, 25 }, { "100", TRUE, 100 }, { "007", TRUE, 7 },
  };
  g_autoptr(HelixFlags) flags = helix_flags_new ();
  g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  gboolean enabled;
  guint percent;
  gboolean on;

  g_signal_connect (flags, "changed", G_CALLBACK (on_changed), seen);

  g_assert_false (helix_flags_set (flags, "teleport", TRUE, 50, &error));
  g_assert_error (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_UNKNOWN_FLAG);
  g_assert_nonnull (strstr (error->message, "memory-synthesis"));
  g_clear_error (&error);

  g_assert_false (helix_flags_set (flags, "voice", TRUE, 101, &error));
  g_assert_error (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_INVALID_VALUE);
  g_clear_error (&error);

  g_assert_false (helix_flags_configure (flags, "voice", TRUE, G_MAXUINT, &error));
  g_assert_error (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_INVALID_VALUE);
  g_clear_error (&error);
  g_assert_cmpuint (seen->len, ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (bad_settings); i++)
    {
      g_assert_false (helix_flags_parse_setting (bad_settings[i], &enabled, &percent, &error));
      g_assert_error (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_INVALID_VALUE);
      g_clear_error (&error);
    }
  for (guint i = 0; i < G_N_ELEMENTS (good_settings); i++)
    {
      g_assert_true (helix_flags_parse_setting (good_settings[i].text, &enabled, &percent,
                                                &error));
      g_assert_no_error (error);
      g_assert_cmpint (enabled, ==, good_settings[i].enabled);
      g_assert_cmpuint (percent, ==, good_settings[i].percent);
    }

  g_assert_false (helix_flags_parse_switch ("2", &on, &error));
  g_assert_error (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_INVALID_VALUE);
  g_clear_error (&error);
  g_assert_true (helix_flags_parse_switch ("ON", &on, &error));
  g_assert_true (on);
  g_assert_true (helix_flags_parse_switch ("", &on, &error));
  g_assert_false (on);
}

/* A damaged, oversized, too deep or out-of-range state file is refused and
 * left as it is. */
static void
test_bad_files (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GString) deep = g_string_new ("{\"voice\":");
  g_autofree char *large = NULL;
  g_autofree char *target = g_build_filename (f->dir, "elsewhere.json", NULL);
  const char *contents[] = {
    "not json",
    "[]",
    "{\"voice\":{\"enabled\":true,\"percent\":101,\"changed_us\":1}}",
    "{\"voice\":{\"enabled\":true,\"percent\":-1,\"changed_us\":1}}",
    "{\"voice\":{\"enabled\":1,\"percent\":50,\"changed_us\":1}}",
    "{\"voice\":{\"enabled\":true,\"percent\":50}}",
    "{\"voice\":{\"enabled\":true,\"percent\":50,\"changed_us\":1,\"x\":2}}",
    "{\"voice\":{\"enabled\":true,\"percent\":5.5,\"changed_us\":1}}",
    "{\"voice\":true}",
    "{\"voice\":{\"enabled\":true,\"percent\":50,\"changed_us\":1}} trailing",
    NULL, /* too deep */
    NULL, /* too large */
  };
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 20; i++)
    g_string_append (deep, "{\"a\":");
  g_string_append (deep, "1");
  for (guint i = 0; i < 21; i++)
    g_string_append_c (deep, '}');
  contents[G_N_ELEMENTS (contents) - 2] = deep->str;
  large = g_strnfill (HELIX_STATE_FILE_MAX_BYTES + 10, ' ');
  large[0] = '{';
  large[HELIX_STATE_FILE_MAX_BYTES + 9] = '}';
  contents[G_N_ELEMENTS (contents) - 1] = large;

  for (guint i = 0; i < G_N_ELEMENTS (contents); i++)
    {
      g_autoptr(HelixFlags) flags = helix_flags_new ();
      g_autofree char *after = NULL;

      g_assert_true (g_file_set_contents (f->path, contents[i], -1, &error));
      g_assert_false (helix_flags_load (flags, f->path, &error));
      g_assert_error (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_STORE);
      g_test_message ("%s", error->message);
      g_clear_error (&error);

      g_assert_true (g_file_get_contents (f->path, &after, NULL, &error));
      g_assert_cmpstr (after, ==, contents[i]);
    }

  /* A symbolic link is not followed. */
  g_assert_cmpint (g_unlink (f->path), ==, 0);
  g_assert_true (g_file_set_contents (target, "{}", -1, &error));
  g_assert_cmpint (symlink (target, f->path), ==, 0);
  {
    g_autoptr(HelixFlags) flags = helix_flags_new ();

    g_assert_false (helix_flags_load (flags, f->path, &error));
    g_assert_error (error, HELIX_FLAGS_ERROR, HELIX_FLAGS_ERROR_STORE);
    g_clear_error (&error);
  }

  /* An unknown flag (from a newer version) is ignored, the others are read. */
  g_assert_cmpint (g_unlink (f->path), ==, 0);
  g_assert_true (g_file_set_contents (f->path,
                                      "{\"teleport\":{\"enabled\":true},"
                                      "\"voice\":{\"enabled\":false,\"percent\":50,"
                                      "\"changed_us\":1}}",
                                      -1, &error));
  {
    g_autoptr(HelixFlags) flags = helix_flags_new ();
    HelixFlagState state;

    g_assert_true (helix_flags_load (flags, f->path, &error));
    g_assert_no_error (error);
    g_assert_true (helix_flags_get_state (flags, "voice", &state));
    g_assert_false (state.enabled);
    g_assert_cmpuint (state.percent, ==, 50);
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/helix/flags/names", test_names);
  g_test_add_func ("/helix/flags/bucket-known-answers", test_bucket_known_answers);
  g_test_add_func ("/helix/flags/defaults", test_defaults);
  g_test_add_func ("/helix/flags/rollout", test_rollout);
  g_test_add_func ("/helix/flags/kill-environment", test_kill_environment);
  g_test_add_func ("/helix/flags/kill-config", test_kill_config);
  g_test_add_func ("/helix/flags/bad-input", test_bad_input);
  g_test_add ("/helix/flags/persistence", Fixture, NULL, fixture_setup, test_persistence,
              fixture_teardown);
  g_test_add ("/helix/flags/store-failure", Fixture, NULL, fixture_setup, test_store_failure,
              fixture_teardown);
  g_test_add ("/helix/flags/bad-files", Fixture, NULL, fixture_setup, test_bad_files,
              fixture_teardown);

  return g_test_run ();
}
