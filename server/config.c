/* SPDX-License-Identifier: ISC */
/* config.c: the values of objd's limit options, and the config file.
 *
 * The config file holds objd's long options, one a line, as
 * "name = value" (or a bare "name" for a switch such as foreground);
 * '#' starts a comment. It is turned into the command line it spells
 * ("--name=value"), so every option means the same in both places and
 * main.c parses both with one getopt loop; options on the real command
 * line come after the file's, so they win, and lists (--allow-rw,
 * --allow-ro) add up. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objd.h"
#include "xmalloc.h"

/* The longest line of the config file. */
#define CONFIG_LINE_MAX 4096

static _Noreturn void __attribute__((format(printf, 1, 2)))
config_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("objd: ", stderr);
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
		config_usage_error("%s wants a size from %zu to %zu bytes "
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
		config_usage_error(
		    "%s wants a number from %zu to %zu, not '%s'", option, min,
		    max, arg);
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
		config_usage_error("%s wants seconds from 0 to %g, not '%s'",
		    option, max, arg);
	return v;
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

char **
config_read(const char *path, int *argcp)
{
	char line[CONFIG_LINE_MAX + 2], *name, *value, *eq;
	char **argv = xreallocarray(NULL, 2, sizeof(*argv));
	int argc = 1, lineno = 0;
	FILE *fp;

	if ((fp = fopen(path, "re")) == NULL)
		config_usage_error("cannot read config file %s: %s", path,
		    strerror(errno));
	argv[0] = xstrdup("objd");
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		if (strlen(line) > CONFIG_LINE_MAX)
			config_usage_error("%s:%d: line longer than %d bytes",
			    path, lineno, CONFIG_LINE_MAX);
		if (line[0] == '#')
			continue;
		name = config_trim(line);
		if (*name == '\0' || *name == '#')
			continue;
		value = NULL;
		if ((eq = strchr(name, '=')) != NULL) {
			*eq = '\0';
			value = config_trim(eq + 1);
			name = config_trim(name);
		}
		for (char *p = name; *p != '\0'; p++)
			if (!islower((unsigned char)*p) && *p != '-' &&
			    !isdigit((unsigned char)*p))
				config_usage_error(
				    "%s:%d: '%s' is not a setting: write "
				    "\"name = value\", as objd's long options",
				    path, lineno, name);
		if (*name == '\0' || strcmp(name, "config") == 0)
			config_usage_error("%s:%d: %s", path, lineno,
			    *name == '\0'
			        ? "a value without a name"
			        : "a config file cannot name another");
		argv = xreallocarray(argv, (size_t)argc + 2, sizeof(*argv));
		argv[argc++] = value != NULL ? xasprintf("--%s=%s", name, value)
		                             : xasprintf("--%s", name);
	}
	if (ferror(fp))
		config_usage_error("cannot read config file %s: %s", path,
		    strerror(errno));
	fclose(fp);
	argv[argc] = NULL;
	*argcp = argc;
	return argv;
}

void
config_free(char **argv)
{
	if (argv == NULL)
		return;
	for (char **p = argv; *p != NULL; p++)
		free(*p);
	free(argv);
}
