/* SPDX-License-Identifier: ISC */
/* config.c: the values of objd's options, and the config file.
 *
 * The config file holds objd's long options, one a line, as
 * "name = value" (or a bare "name" for a switch such as foreground);
 * '#' starts a comment. A name must be a long option of the table
 * (options.c) that the file may set, spelled out in full, exactly as on
 * the command line: each setting is handed to the same function as the
 * option, so it means the same in both places.
 * The file is read before the command line, whose options then win;
 * lists (--allow-rw, --allow-ro) add up.
 *
 * Every mistake, in the file or on the command line, is a usage error:
 * one line on stderr, with the file and line when it is the file's,
 * and exit 2. */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objd.h"
#include "options.h"
#include "xmalloc.h"

/* The longest line of the config file. */
#define CONFIG_LINE_MAX 4096

/* The setting being applied, named in its errors. */
static const char *where_path;
static int where_line;

void
config_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("objd: ", stderr);
	if (where_path != NULL)
		fprintf(stderr, "%s:%d: ", where_path, where_line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

size_t
config_size(const char *option, const char *arg, size_t min, size_t max)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (end != arg && *end != '\0' && end[1] == '\0') {
		switch (toupper((unsigned char)*end)) {
		case 'K':
			shift = 10;
			end++;
			break;
		case 'M':
			shift = 20;
			end++;
			break;
		case 'G':
			shift = 30;
			end++;
			break;
		}
	}
	if (!isdigit((unsigned char)*arg) || errno != 0 || *end != '\0' ||
	    v > (max >> shift) || (v << shift) < min)
		config_fail("%s wants a size from %zu to %zu bytes "
		            "(K, M and G multiply by 1024), not '%s'",
		    option, min, max, arg);
	return (size_t)(v << shift);
}

size_t
config_count(const char *option, const char *arg, size_t min, size_t max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (!isdigit((unsigned char)*arg) || errno != 0 || *end != '\0' ||
	    v < min || v > max)
		config_fail("%s wants a number from %zu to %zu, not '%s'",
		    option, min, max, arg);
	return (size_t)v;
}

double
config_seconds(const char *option, const char *arg, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno != 0 || end == arg || *end != '\0' || !isfinite(v) || v < 0 ||
	    v > max)
		config_fail("%s wants seconds from 0 to %g, not '%s'", option,
		    max, arg);
	return v;
}

const char *
config_choose(const char *given, bool root, const char *default_path)
{
	struct stat st;

	if (given != NULL)
		return given;
	if (root && stat(default_path, &st) == 0)
		return default_path;
	return NULL;
}

/* Trims white space at both ends, in place. */
static char *
config_trim(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* The option called exactly name, if the file may set it: --help and
 * --version are not settings, and one file cannot name another. */
static const struct options_entry *
config_lookup(const struct options_entry *o, const char *name)
{
	if (*name == '\0')
		config_fail("a value without a name");
	for (const char *p = name; *p != '\0'; p++)
		if (isspace((unsigned char)*p))
			config_fail("'%s' is not a setting: write "
			            "\"name = value\", one a line",
			    name);
	while (o->name != NULL && strcmp(o->name, name) != 0)
		o++;
	if (o->name == NULL)
		config_fail("unknown option '%s'", name);
	if (o->kind == OPTIONS_CONFIG)
		config_fail("a config file cannot name another");
	if (!o->in_file)
		config_fail("'%s' is not a setting", name);
	return o;
}

char **
config_read(const char *path, const struct options_entry *table,
    void (*apply)(const struct options_entry *, const char *, void *),
    void *arg)
{
	char line[CONFIG_LINE_MAX + 2], *name, *value, *eq;
	const struct options_entry *o;
	char **kept = xreallocarray(NULL, 1, sizeof(*kept));
	size_t nkept = 0;
	FILE *fp;

	if ((fp = fopen(path, "re")) == NULL)
		config_fail("cannot read config file %s: %s", path,
		    strerror(errno));
	where_path = path;
	where_line = 0;
	while (fgets(line, sizeof(line), fp) != NULL) {
		where_line++;
		if (strlen(line) > CONFIG_LINE_MAX)
			config_fail("line longer than %d bytes",
			    CONFIG_LINE_MAX);
		name = config_trim(line);
		if (*name == '\0' || *name == '#')
			continue;
		value = NULL;
		if ((eq = strchr(name, '=')) != NULL) {
			*eq = '\0';
			value = config_trim(eq + 1);
			name = config_trim(name);
		}
		o = config_lookup(table, name);
		if (!options_has_value(o) && value != NULL)
			config_fail("%s takes no value: write a bare '%s'",
			    name, name);
		if (options_has_value(o) && (value == NULL || *value == '\0'))
			config_fail("%s needs a value: write \"%s = ...\"",
			    name, name);
		/* Options keep pointers to their values until objd stops. */
		if (value != NULL) {
			value = xstrdup(value);
			kept = xreallocarray(kept, nkept + 2, sizeof(*kept));
			kept[nkept++] = value;
		}
		apply(o, value, arg);
	}
	where_path = NULL;
	if (ferror(fp))
		config_fail("cannot read config file %s: %s", path,
		    strerror(errno));
	fclose(fp);
	kept[nkept] = NULL;
	return kept;
}

void
config_free(char **kept)
{
	if (kept == NULL)
		return;
	for (char **p = kept; *p != NULL; p++)
		free(*p);
	free(kept);
}
