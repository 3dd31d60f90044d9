/* SPDX-License-Identifier: ISC */
/* check_config.c: objd's config file and its usage errors.
 *
 * The choice of the file and the reading of good settings are tested on
 * config.c's functions; every mistake, which ends objd with exit 2, on
 * the objd built here, as an administrator meets it. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"
#include "objd.h"
#include "options.h"

static struct session *const s = &e2e_session;

/* Writes text to DIR/name and returns the path. */
static const char *
conf(const char *name, const char *text)
{
	const char *path = e2e_path(s, name);

	e2e_write_file(path, text, strlen(text));
	return path;
}

/* The file: the one --config names, else root's default when it exists,
 * else none. */
START_TEST(test_choose)
{
	const char *dflt = conf("objd.conf", "foreground\n");
	const char *missing = e2e_path(s, "missing.conf");

	ck_assert_str_eq(config_choose(NULL, true, dflt), dflt);
	ck_assert_ptr_null(config_choose(NULL, false, dflt));
	ck_assert_ptr_null(config_choose(NULL, true, missing));
	ck_assert_str_eq(config_choose("given", true, dflt), "given");
	ck_assert_str_eq(config_choose("given", false, dflt), "given");
	/* A --config that names no file is read, and fails there. */
	ck_assert_str_eq(config_choose(missing, true, dflt), missing);
}
END_TEST

/* What config_read handed to apply, in order. */
static char applied[512];

static void
record(const struct options_entry *o, const char *value, void *arg)
{
	size_t n = strlen(applied);

	ck_assert_ptr_eq(arg, &applied);
	snprintf(applied + n, sizeof(applied) - n, "%s=%s;", o->name,
	    value != NULL ? value : "(none)");
}

START_TEST(test_read_settings)
{
	static const struct options_entry opts[] = {
		{ .name = "file", .kind = OPTIONS_PATH, .in_file = true },
		{ .name = "foreground",
		    .kind = OPTIONS_SWITCH,
		    .in_file = true },
		{ .name = "max-frame", .kind = OPTIONS_SIZE, .in_file = true },
		{ .name = NULL },
	};
	const char *path = conf("objd.conf",
	    "# objd's settings\n"
	    "   # an indented comment\n"
	    "\n"
	    "file = /var/lib/objd/a b.pb  \n"
	    "\tforeground\n"
	    "max-frame=1M\n"
	    "file = /srv/last.pb\n");
	char **kept;

	applied[0] = '\0';
	kept = config_read(path, opts, record, &applied);
	ck_assert_str_eq(applied,
	    "file=/var/lib/objd/a b.pb;foreground=(none);max-frame=1M;"
	    "file=/srv/last.pb;");
	ck_assert_str_eq(kept[0], "/var/lib/objd/a b.pb");
	ck_assert_str_eq(kept[2], "/srv/last.pb");
	ck_assert_ptr_null(kept[3]);
	config_free(kept);
}
END_TEST

/* objd run with argv fails with exit 2 and prints exactly want. */
#define REFUSED(want, ...)                                                     \
	refused(__FILE__, __LINE__, (want), E2E_ARGV(__VA_ARGS__))

static void
refused(const char *file, int line, const char *want, const char *const *argv)
{
	e2e_objd_cmd(s, argv);
	if (s->status != 2 || strcmp(s->err, want) != 0)
		e2e_fail(file, line, "exit %d, stderr:\n%s\nwant exit 2:\n%s",
		    s->status, s->err, want);
	if (e2e_exists(s->sock))
		e2e_fail(file, line, "objd made its socket");
}

/* objd run with --config on a file of text fails with exit 2 and prints
 * one line: "objd: PATH:" then want. */
#define FILE_REFUSED(text, want)                                               \
	file_refused(__FILE__, __LINE__, (text), (want))

static void
file_refused(const char *file, int line, const char *text, const char *want)
{
	const char *path = conf("bad.conf", text);
	char expect[512];

	snprintf(expect, sizeof(expect), "objd: %s:%s\n", path, want);
	refused(file, line, expect,
	    E2E_ARGV("--foreground", "--config", path, "--file", s->file,
	        "--socket", s->sock));
}

/* Each mistake in the file: one line that names the file and line, the
 * option as it must be spelled, and what is wrong. */
START_TEST(test_file_errors)
{
	FILE_REFUSED("# settings\nsocket-mode = 0660\n\nbogus = 1\n",
	    "4: unknown option 'bogus'");
	/* No abbreviation, no other spelling. */
	FILE_REFUSED("max-fr = 1M\n", "1: unknown option 'max-fr'");
	FILE_REFUSED("--max-frame = 1M\n", "1: unknown option '--max-frame'");
	FILE_REFUSED("Foreground\n", "1: unknown option 'Foreground'");
	FILE_REFUSED("max-frame = 12\n",
	    "1: --max-frame wants a size from 1024 to 1073741824 bytes "
	    "(K, M and G multiply by 1024), not '12'");
	FILE_REFUSED("fsync = sometimes\n",
	    "1: --fsync is always, interval or never, not 'sometimes'");
	FILE_REFUSED("\nreload-interval = soon\n",
	    "2: --reload-interval wants seconds from 0 to 86400, not 'soon'");
	FILE_REFUSED("foreground = yes\n",
	    "1: foreground takes no value: write a bare 'foreground'");
	FILE_REFUSED("file\n", "1: file needs a value: write \"file = ...\"");
	FILE_REFUSED("file =\n", "1: file needs a value: write \"file = ...\"");
	FILE_REFUSED("max-clients 3 4\n",
	    "1: 'max-clients 3 4' is not a setting: write \"name = value\", "
	    "one a line");
	FILE_REFUSED("= 3\n", "1: a value without a name");
	FILE_REFUSED("help\n", "1: 'help' is not a setting");
	FILE_REFUSED("config = /etc/other.conf\n",
	    "1: a config file cannot name another");

	/* A --config that names no file is an error, not an empty file. */
	REFUSED("objd: cannot read config file /nonexistent/objd.conf: No "
	        "such file or directory\n",
	    "--config", "/nonexistent/objd.conf", "--file", s->file, "--socket",
	    s->sock);
	REFUSED("objd: --config is given once\n", "--config",
	    conf("a.conf", ""), "--config=/dev/null");
}
END_TEST

/* A mistake on the command line: getopt's line or objd's, then where to
 * look, not the whole usage. Long options are taken by their full names
 * only, as in the file. */
START_TEST(test_command_line_errors)
{
	static const char try[] = "Try 'objd --help'.\n";
	char want[256];

#define CMD_REFUSED(first, ...)                                                \
	do {                                                                   \
		snprintf(want, sizeof(want), "objd: %s\n%s", (first), try);    \
		REFUSED(want, __VA_ARGS__, "--file", s->file, "--socket",      \
		    s->sock);                                                  \
	} while (0)

	CMD_REFUSED("unrecognized option '--bogus=1'", "--bogus=1");
	CMD_REFUSED("unrecognized option '--max-fr'", "--max-fr", "1M");
	CMD_REFUSED("unrecognized option '--max-fr'", "--max-fr=1M");
	CMD_REFUSED("unrecognized option '--fore'", "--fore");
	CMD_REFUSED("option '--foreground' doesn't allow an argument",
	    "--foreground=yes");
	CMD_REFUSED("unexpected argument 'extra'", "extra");
	CMD_REFUSED("invalid option -- 'x'", "-x");
	REFUSED("objd: option '--file' requires an argument\n"
	        "Try 'objd --help'.\n",
	    "--socket", s->sock, "--file");
#undef CMD_REFUSED
}
END_TEST

/* The file's settings apply, and the command line's win over them. */
START_TEST(test_file_then_command_line)
{
	const char *other = e2e_path(s, "other.sock");
	char text[512];
	struct objd_opts o;

	snprintf(text, sizeof(text),
	    "socket = %s\n"
	    "pidfile = %s\n",
	    other, e2e_path(s, "objd.pid"));
	o = (struct objd_opts){ .extra = E2E_ARGV("--config",
		                    conf("objd.conf", text)) };
	e2e_start_opts(s, &o);
	CTL_OK(s, "ping");
	ck_assert(!e2e_exists(other));
	ck_assert(e2e_exists(e2e_path(s, "objd.pid")));
	e2e_stop(s);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *suite = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_checked_fixture(tc, e2e_setup, e2e_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_choose);
	tcase_add_test(tc, test_read_settings);
	tcase_add_test(tc, test_file_errors);
	tcase_add_test(tc, test_command_line_errors);
	tcase_add_test(tc, test_file_then_command_line);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	return e2e_main(config_suite());
}
