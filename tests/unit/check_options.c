/* SPDX-License-Identifier: ISC */
/* check_options.c: unit tests of server/options.c's table, and the lists
 * kept by hand beside it.
 *
 * man/objd.8 (its SYNOPSIS and OPTIONS) and etc/objd.conf (its commented
 * settings) are written by hand; objd --help is made from the table.
 * Each must list exactly the table's options, the config file those the
 * file may set: an option missing from one, or one the table does not
 * have, fails here with its name. */
#include <check.h>
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objd.h"
#include "options.h"

/* options.c stores into the server's fields; main.c, which defines
 * them, is not linked here. */
struct server server;
struct objd_options options;

#define NAMES_MAX 128

/* Option names, in the order found. */
struct names {
	char *v[NAMES_MAX];
	size_t n;
};

static void
names_add(struct names *l, const char *name, size_t len)
{
	ck_assert_uint_lt(l->n, NAMES_MAX);
	l->v[l->n] = strndup(name, len);
	ck_assert_ptr_nonnull(l->v[l->n]);
	l->n++;
}

static void
names_free(struct names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
}

static size_t
names_count(const struct names *l, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		n += strcmp(l->v[i], name) == 0;
	return n;
}

/* What got lacks of want, has beyond it, or has twice: "" if nothing.
 * The caller frees it. */
static char *
names_diff(const struct names *want, const struct names *got)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(fp);
	for (size_t i = 0; i < want->n; i++)
		if (names_count(got, want->v[i]) == 0)
			fprintf(fp, " missing --%s;", want->v[i]);
	for (size_t i = 0; i < got->n; i++) {
		size_t first = 0;

		/* Each name is reported once, at its first place. */
		while (strcmp(got->v[first], got->v[i]) != 0)
			first++;
		if (first != i)
			continue;
		if (names_count(want, got->v[i]) == 0)
			fprintf(fp, " extra --%s;", got->v[i]);
		else if (names_count(got, got->v[i]) > 1)
			fprintf(fp, " twice --%s;", got->v[i]);
	}
	ck_assert_int_eq(fclose(fp), 0);
	return text;
}

/* The table's names: all, or those the config file may set. */
static void
table_names(struct names *l, bool file_only)
{
	for (const struct options_entry *o = options_table; o->name != NULL;
	     o++)
		if (!file_only || o->in_file)
			names_add(l, o->name, strlen(o->name));
}

/* The text of a file of the source tree (OBJD_SRCDIR), which the caller
 * frees. */
static char *
source_file(const char *name)
{
	const char *dir = getenv("OBJD_SRCDIR");
	char path[4096], *text;
	long size;
	FILE *fp;

	ck_assert_msg(dir != NULL,
	    "OBJD_SRCDIR is not set (make check sets it)");
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "r");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
	size = ftell(fp);
	ck_assert_int_ge(size, 0);
	rewind(fp);
	text = malloc((size_t)size + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(fread(text, 1, (size_t)size, fp), (size_t)size);
	text[size] = '\0';
	fclose(fp);
	return text;
}

/* The lines of text from the one that starts with from up to (not
 * including) the next that starts with ".SH "; NULL if none does. */
static char *
man_section(const char *text, const char *from)
{
	const char *start = text, *end;
	size_t n = strlen(from);

	while (strncmp(start, from, n) != 0 || start[n] != '\n') {
		start = strchr(start, '\n');
		if (start == NULL)
			return NULL;
		start++;
	}
	start += n + 1;
	for (end = start; *end != '\0' && strncmp(end, ".SH ", 4) != 0;) {
		end = strchr(end, '\n');
		end = end != NULL ? end + 1 : start + strlen(start);
	}
	return strndup(start, (size_t)(end - start));
}

/* Reads a roff option name, "\-\-max\-frame", at p into l. */
static const char *
man_name(struct names *l, const char *p)
{
	char name[128];
	size_t n = 0;

	p += 4; /* \-\- */
	while (n < sizeof(name) - 1) {
		if (islower((unsigned char)*p) || isdigit((unsigned char)*p))
			name[n++] = *p++;
		else if (strncmp(p, "\\-", 2) == 0 && n > 0) {
			name[n++] = '-';
			p += 2;
		} else
			break;
	}
	if (n > 0)
		names_add(l, name, n);
	return p;
}

/* The options a SYNOPSIS names: every \-\-name in it. */
static void
man_synopsis(struct names *l, const char *section)
{
	for (const char *p = strstr(section, "\\-\\-"); p != NULL;
	     p = strstr(p, "\\-\\-"))
		p = man_name(l, p);
}

/* The options an OPTIONS section describes: the tag of each .TP
 * paragraph (".B \-\-name" or ".BI \-\-name \" value\""), and of each
 * .TQ that adds a tag to one. */
static void
man_options(struct names *l, const char *section)
{
	for (const char *p = section; (p = strpbrk(p, ".")) != NULL;) {
		if (strncmp(p, ".TP\n", 4) != 0 &&
		    strncmp(p, ".TQ\n", 4) != 0) {
			p++;
			continue;
		}
		p += 4;
		if (strncmp(p, ".B \\-\\-", 7) == 0)
			man_name(l, p + 3);
		else if (strncmp(p, ".BI \\-\\-", 8) == 0)
			man_name(l, p + 4);
	}
}

/* The settings a config file shows commented out: "# name",
 * "# name = value", each perhaps followed by "# what it does". Prose has
 * capitals, punctuation or more words. */
static void
conf_settings(struct names *l, const char *text)
{
	regex_t re;
	regmatch_t m[2];
	char *copy = strdup(text), *line, *save = NULL;

	ck_assert_ptr_nonnull(copy);
	ck_assert_int_eq(regcomp(&re,
	                     "^#[ \t]*([a-z][a-z0-9-]*)"
	                     "([ \t]*=[ \t]*[^ \t#]+)?([ \t]+#.*)?[ \t]*$",
	                     REG_EXTENDED),
	    0);
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		if (regexec(&re, line, 2, m, 0) == 0)
			names_add(l, line + m[1].rm_so,
			    (size_t)(m[1].rm_eo - m[1].rm_so));
	regfree(&re);
	free(copy);
}

/* The options a usage names: "[--name" in its first paragraph, and
 * "  --name" at the start of a line after it. */
static void
usage_names(struct names *synopsis, struct names *listed, const char *text)
{
	const char *body = strstr(text, "\n\n"), *p, *q;

	ck_assert_ptr_nonnull(body);
	for (p = text; (p = strstr(p, "[--")) != NULL && p < body; p = q) {
		p += 3;
		q = p + strcspn(p, " ]");
		names_add(synopsis, p, (size_t)(q - p));
	}
	for (p = body; (p = strstr(p, "\n  --")) != NULL; p = q) {
		p += 5;
		q = p + strcspn(p, " \n");
		names_add(listed, p, (size_t)(q - p));
	}
}

/* Fails with where and the difference unless got lists exactly want. */
static void
assert_lists(const struct names *want, const struct names *got,
    const char *where)
{
	char *diff = names_diff(want, got);

	ck_assert_msg(diff[0] == '\0', "%s:%s", where, diff);
	free(diff);
}

START_TEST(test_man_page)
{
	struct names want = { .n = 0 }, got = { .n = 0 };
	char *text = source_file("man/objd.8"), *section;

	table_names(&want, false);
	section = man_section(text, ".SH OPTIONS");
	ck_assert_msg(section != NULL, "man/objd.8 has no OPTIONS");
	man_options(&got, section);
	assert_lists(&want, &got, "man/objd.8 OPTIONS");
	free(section);
	names_free(&got);

	section = man_section(text, ".SH SYNOPSIS");
	ck_assert_msg(section != NULL, "man/objd.8 has no SYNOPSIS");
	man_synopsis(&got, section);
	assert_lists(&want, &got, "man/objd.8 SYNOPSIS");
	free(section);
	names_free(&got);
	names_free(&want);
	free(text);
}
END_TEST

START_TEST(test_config_file)
{
	struct names want = { .n = 0 }, got = { .n = 0 };
	char *text = source_file("etc/objd.conf");

	table_names(&want, true);
	conf_settings(&got, text);
	assert_lists(&want, &got, "etc/objd.conf");
	names_free(&got);
	names_free(&want);
	free(text);
}
END_TEST

START_TEST(test_usage)
{
	struct names want = { .n = 0 }, synopsis = { .n = 0 },
	             listed = { .n = 0 };
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(fp);
	options_usage(fp);
	ck_assert_int_eq(fclose(fp), 0);
	table_names(&want, false);
	usage_names(&synopsis, &listed, text);
	assert_lists(&want, &synopsis, "objd --help's synopsis");
	assert_lists(&want, &listed, "objd --help's list");
	/*
	 * Every line fits a terminal. The default config path comes from
	 * the build's sysconfdir (distcheck's is long), so a line naming it
	 * is measured as if it were /etc's.
	 */
	for (char *line = text; *line != '\0';) {
		size_t n = strcspn(line, "\n"), width = n;
		char *path =
		    memmem(line, n, OBJD_SYSCONFDIR, strlen(OBJD_SYSCONFDIR));

		if (path != NULL)
			width = n - strlen(OBJD_SYSCONFDIR) + strlen("/etc");
		ck_assert_msg(width <= 79, "objd --help: a line of %zu: %.*s",
		    width, (int)n, line);
		line += n + (line[n] == '\n');
	}
	names_free(&synopsis);
	names_free(&listed);
	names_free(&want);
	free(text);
}
END_TEST

/* The readers above find an option that is missing, one too many and
 * one listed twice, so that the tests that use them can fail. */
START_TEST(test_lists_differ)
{
	static const char man[] = ".SH SYNOPSIS\n"
	                          ".B objd\n"
	                          ".RB [ \\-\\-foreground ]\n"
	                          ".RB [ \\-\\-max\\-frame\n"
	                          ".IR size ]\n"
	                          ".SH OPTIONS\n"
	                          ".TP\n"
	                          ".B \\-\\-foreground\n"
	                          "Stay attached, unlike \\-\\-daemon.\n"
	                          ".SS Limits\n"
	                          ".TP\n"
	                          ".BI \\-\\-max\\-frames \" size\"\n"
	                          "The largest.\n"
	                          ".TP\n"
	                          ".B \\-\\-foreground\n"
	                          ".SH FILES\n"
	                          ".TP\n"
	                          ".B \\-\\-file\n";
	static const char conf[] =
	    "# objd.conf: settings, one \"name = value\" a line.\n"
	    "# Uncomment to change them.\n"
	    "# fsync = always            # always, interval or never\n"
	    "# compress                  # deflate\n"
	    "#allow-rw = @staff\n"
	    "# Limits (sizes take K, M or G).\n"
	    "fsync = never\n";
	struct names want = { .n = 0 }, got = { .n = 0 };
	char *section, *diff;

	names_add(&want, "foreground", 10);
	names_add(&want, "max-frame", 9);
	section = man_section(man, ".SH OPTIONS");
	man_options(&got, section);
	diff = names_diff(&want, &got);
	ck_assert_str_eq(diff,
	    " missing --max-frame; twice --foreground; extra --max-frames;");
	free(diff);
	free(section);
	names_free(&got);

	section = man_section(man, ".SH SYNOPSIS");
	man_synopsis(&got, section);
	diff = names_diff(&want, &got);
	ck_assert_str_eq(diff, "");
	free(diff);
	free(section);
	names_free(&got);
	names_free(&want);

	conf_settings(&got, conf);
	names_add(&want, "fsync", 5);
	names_add(&want, "log-level", 9);
	diff = names_diff(&want, &got);
	ck_assert_str_eq(diff,
	    " missing --log-level; extra --compress; extra --allow-rw;");
	free(diff);
	names_free(&got);
	names_free(&want);
}
END_TEST

/* The table itself: one entry a name and a letter, bounds in order, a
 * value's name exactly for the options that take one, help for all, and
 * only settings in the config file. */
START_TEST(test_table)
{
	size_t configs = 0;

	for (const struct options_entry *o = options_table; o->name != NULL;
	     o++) {
		for (const struct options_entry *p = options_table; p < o;
		     p++) {
			ck_assert_str_ne(p->name, o->name);
			ck_assert(o->letter == 0 || p->letter != o->letter);
		}
		ck_assert_msg(strspn(o->name, "abcdefghijklmnopqrstuvwxyz-") ==
		        strlen(o->name),
		    "--%s: a long name is lower case and dashes", o->name);
		ck_assert_msg(strlen(o->name) <= OPTIONS_NAME_MAX,
		    "--%s: longer than OPTIONS_NAME_MAX", o->name);
		ck_assert_msg((o->arg != NULL) == options_has_value(o),
		    "--%s: arg is the name of its value, if it has one",
		    o->name);
		ck_assert_msg(o->help != NULL && o->help[0] != '\0',
		    "--%s has no help", o->name);
		ck_assert_msg(o->min <= o->max, "--%s: min > max", o->name);
		if (o->kind == OPTIONS_SIZE || o->kind == OPTIONS_COUNT)
			ck_assert_msg(o->max > 0, "--%s has no max", o->name);
		if (o->kind == OPTIONS_SECONDS)
			ck_assert_msg(o->max_seconds > 0, "--%s has no max",
			    o->name);
		if (o->kind == OPTIONS_CHOICE)
			ck_assert_msg(o->choices != NULL &&
			        o->to.choice.parse != NULL &&
			        o->to.choice.set != NULL,
			    "--%s: a choice needs its words, parse and set",
			    o->name);
		if (o->kind == OPTIONS_CONFIG)
			configs++;
		if (o->kind == OPTIONS_CONFIG || o->kind == OPTIONS_HELP ||
		    o->kind == OPTIONS_VERSION)
			ck_assert_msg(!o->in_file,
			    "--%s is not a setting of the config file",
			    o->name);
	}
	ck_assert_uint_eq(configs, 1);
}
END_TEST

/* A value is parsed by its kind and stored where its entry says. */
START_TEST(test_apply)
{
	const struct options_entry *o;
	size_t frame = options.frame_max;

	for (o = options_table; strcmp(o->name, "max-frame") != 0; o++)
		;
	options_apply(o, "2K");
	ck_assert_uint_eq(options.frame_max, 2048);
	for (o = options_table; strcmp(o->name, "history-bytes") != 0; o++)
		;
	options_apply(o, "3M");
	ck_assert_uint_eq(history_key_bytes, (uint64_t)3 << 20);
	for (o = options_table; strcmp(o->name, "fsync") != 0; o++)
		;
	options_apply(o, "never");
	ck_assert_int_eq(options.fsync, FSYNC_NEVER);
	for (o = options_table; strcmp(o->name, "compress") != 0; o++)
		;
	options_apply(o, NULL);
	ck_assert(options_main.compress);
	for (o = options_table; strcmp(o->name, "reload-interval") != 0; o++)
		;
	options_apply(o, "0.25");
	ck_assert(options.reload_interval == 0.25);
	options.frame_max = frame;
}
END_TEST

/* A bad value is a usage error: exit 2, the option named. */
START_TEST(test_apply_refuses)
{
	const struct options_entry *o;

	for (o = options_table; strcmp(o->name, "max-clients") != 0; o++)
		;
	options_apply(o, "0");
}
END_TEST

static Suite *
options_suite(void)
{
	Suite *s = suite_create("options");
	TCase *tc = tcase_create("options");

	tcase_add_test(tc, test_man_page);
	tcase_add_test(tc, test_config_file);
	tcase_add_test(tc, test_usage);
	tcase_add_test(tc, test_lists_differ);
	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_apply);
	tcase_add_exit_test(tc, test_apply_refuses, 2);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(options_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
