/* SPDX-License-Identifier: ISC */
/* options.h: objd's options, one table (options.c): the command line,
 * the config file and the usage all read it. */
#ifndef OBJD_OPTIONS_H
#define OBJD_OPTIONS_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "objd.h"

/* What an option's value is, and so how it is parsed and stored. */
enum options_kind {
	OPTIONS_SWITCH,  /* no value: sets *to.flag */
	OPTIONS_PATH,    /* a word: *to.path points to it */
	OPTIONS_SIZE,    /* bytes, K, M or G: *to.size or *to.size64 */
	OPTIONS_COUNT,   /* a whole number: *to.count */
	OPTIONS_SECONDS, /* seconds, fractions allowed: *to.seconds */
	OPTIONS_CHOICE,  /* one of some words: to.choice's parse and set */
	OPTIONS_MODE,    /* an octal file mode: *to.mode */
	OPTIONS_GROUP,   /* a group name or gid: *to.group */
	OPTIONS_ALLOW,   /* users added to the policy at to.level */
	OPTIONS_CONFIG,  /* the config file: read before the command line */
	OPTIONS_HELP,    /* print the usage and exit */
	OPTIONS_VERSION  /* print the version and exit */
};

/* Where an option's value goes: the member of its kind. */
struct options_to {
	bool *flag;
	const char **path;
	size_t *size;
	uint64_t *size64;
	size_t *count;
	double *seconds;
	mode_t *mode;
	gid_t *group;
	enum access_level level;
	struct {
		int (*parse)(const char *); /* the value, or -1 */
		void (*set)(int);
	} choice;
};

/* The longest name of an option. */
#define OPTIONS_NAME_MAX 40

/* One option. */
struct options_entry {
	const char *name; /* the long name, without its dashes */
	char letter;      /* its short form, or 0 */
	enum options_kind kind;
	bool in_file;        /* the config file may set it */
	const char *arg;     /* the value's name in the usage, or NULL */
	size_t min, max;     /* a size's or a count's bounds */
	double max_seconds;  /* a number of seconds' bound (from 0) */
	const char *choices; /* a choice's words, as an error lists them */
	struct options_to to;
	/* Lines of the usage under "--name ARG" (a '\n' a line), and the
	 * heading of the group of options this one begins, if it does. */
	const char *help;
	const char *heading;
};

/* Every option, ending with an entry whose name is NULL. */
extern const struct options_entry options_table[];

/* The settings main.c acts on itself, which no other module reads. */
struct options_main {
	bool foreground; /* --foreground */
	bool compress;   /* --compress */
	const char *pidfile;
};
extern struct options_main options_main;

/* Reads the config file (--config's, else root's default when it
 * exists), then the command line, whose options win. A mistake is a
 * usage error: exit 2 with one line on stderr; --help and --version
 * print and exit 0. */
void options_read(int argc, char **argv);
/* Frees the config file's values, which options point into until then. */
void options_free(void);
/* True if the option takes a value (--name VALUE, "name = value").
 * Inline, so that config.c's readers link without the table. */
static inline bool
options_has_value(const struct options_entry *o)
{
	return o->kind != OPTIONS_SWITCH && o->kind != OPTIONS_HELP &&
	    o->kind != OPTIONS_VERSION;
}
/* Applies one option, from the command line or the config file; value
 * is NULL for a switch. */
void options_apply(const struct options_entry *o, const char *value);
/* Prints objd --help. */
void options_usage(FILE *out);

#endif
