/* SPDX-License-Identifier: ISC */
/* ctl.h: objctl's parts and what they share.
 *
 *   objctl.c      main and the commands that talk to objd
 *   ctl-parse.c   the option and command tables, the help printed from
 *                 them, the reading of argv and of KEY and PREFIX
 *   ctl-output.c  what objctl prints: one interface, as text or as JSON
 *   ctl-load.c    load; ctl-edit.c edit; ctl-check.c check
 *
 * Every function here that returns an int returns an exit status
 * (objd-client.h's OBJD_ codes) with the reason already on stderr, or 0
 * to go on. */
#ifndef OBJD_CTL_H
#define OBJD_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objctl-file.h"
#include "objd-client.h"

/* The exit code of a usage error; 0 means "go on" inside the parser. */
#define CTL_USAGE OBJD_INVALID

struct ctl_output;

struct ctl {
	const char *socket; /* --socket, or NULL for the default */
	double timeout;
	bool json;
	bool string;          /* set --string: every VALUE is a string */
	bool from_stdin;      /* set -x: the value is standard input */
	const char *prefix;   /* del --prefix PREFIX, or NULL */
	bool if_absent;       /* set, del --if-absent */
	bool if_revision_set; /* set, del --if-revision N */
	uint64_t if_revision;
	bool meta;      /* get --meta */
	uint64_t since; /* watch --since REV; 0: from the current values */
	bool count_set; /* watch --count N */
	uint64_t count;
	bool merge;       /* load --merge */
	uint64_t ttl_ms;  /* set --ttl SECONDS; 0: none */
	uint64_t at;      /* get --at REV; 0: now */
	bool consistent;  /* get --consistent */
	bool fix;         /* check --fix */
	const char *file; /* --file: read this file, not objd */
	struct ctl_file offline;
	char why[1024]; /* --file: why a read failed */
	objd_client *client;
	/* How answers are printed: text, or JSON with --json; chosen once
	 * the command line is read. */
	const struct ctl_output *out;
};

/* A row of the command table. */
struct ctl_cmd {
	const char *name;
	int min_args;
	int max_args; /* -1: no limit */
	const char *args;
	const char *help;
	unsigned opts; /* bits (1 << id) of its own options */
	int (*fn)(struct ctl *, int, char **);
	bool offline; /* works with --file */
};

/* The commands: objctl.c, but load, edit and check. */
int cmd_get(struct ctl *, int, char **);
int cmd_set(struct ctl *, int, char **);
int cmd_del(struct ctl *, int, char **);
int cmd_list(struct ctl *, int, char **);
int cmd_watch(struct ctl *, int, char **);
int cmd_dump(struct ctl *, int, char **);
int cmd_load(struct ctl *, int, char **);
int cmd_status(struct ctl *, int, char **);
int cmd_reload(struct ctl *, int, char **);
int cmd_compact(struct ctl *, int, char **);
int cmd_ping(struct ctl *, int, char **);
int cmd_check(struct ctl *, int, char **);
int cmd_edit(struct ctl *, int, char **);
int cmd_hold(struct ctl *, int, char **);
int cmd_history(struct ctl *, int, char **);
int cmd_revert(struct ctl *, int, char **);

/* ctl-parse.c */
/* Reads the command line into ctl: the options, the command (*cmd) and
 * its arguments (*args, malloc'd, *nargs of them). Returns 0 to run the
 * command, -1 when --help or --version was answered (exit 0), or the
 * exit status of a usage error, printed; *args is NULL unless 0. */
int ctl_parse(struct ctl *ctl, int argc, char **argv,
    const struct ctl_cmd **cmd, char ***args, int *nargs);
/* A decimal number that fits 64 bits, for option opt; CTL_USAGE with
 * "--opt wants what" printed. */
int ctl_set_uint(const char *opt, const char *what, const char *arg,
    uint64_t *out);
/* A KEY argument as the path objd reads, checked; free *path. */
int ctl_key_arg(const char *arg, char **path);
/* A PREFIX argument (list, watch, del --prefix); free *prefix. */
int ctl_prefix_arg(const char *arg, char **prefix);
/* KEY arguments argv[0], argv[stride] ... (n of them) as paths; free
 * with ctl_free_strs(). */
int ctl_key_args(char **argv, size_t n, size_t stride, char ***paths);
void ctl_free_strs(char **strs, size_t n);

/* ctl-output.c */
/* What objctl prints on stdout for each answer. main picks one of the
 * two once, by --json, and the commands print through it. A function
 * given a value takes it (frees it, or hands it on). */
struct ctl_output {
	/* get, dump: the whole object (the same in both). */
	void (*object)(const Objd__Response *resp);
	/* get KEY: its value. */
	void (*value)(Objd__Value *v);
	/* get --meta KEY: the value, the revision that last changed the
	 * key, the object's, and the ms before it expires (0: never). */
	void (*meta)(Objd__Value *v, uint64_t rev, uint64_t objrev,
	    uint64_t ttl_ms);
	/* list: the keys, sorted. */
	void (*keys)(char **keys, size_t n);
	/* The answer of a write: the revision it left the object at. */
	void (*written)(uint64_t revision);
	/* ping's answer. */
	void (*pong)(void);
	/* status: objd's, and with --file the file's. */
	void (*status)(const Objd__StatusInfo *in);
	void (*file_status)(const struct ctl_file *f);
	/* history: one version of a key; it may take v->value. */
	void (*version)(Objd__Version *v);
	/* watch: the current values, then each change, written out at
	 * once; 0, or OBJD_FAILED if the output could not be written. */
	int (*watch_current)(const Objd__Response *first);
	int (*watch_event)(const Objd__Event *e);
};
extern const struct ctl_output ctl_output_text;
extern const struct ctl_output ctl_output_json;

/* Prints "objctl: ..." on stderr and returns status, for "return
 * ctl_err()". */
int ctl_err(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* s with its control characters escaped as JSON does (\n, \u0001), and
 * with path, a dot and a backslash too, as a key path does; malloc'd. */
char *ctl_escape(const char *s, bool path);

/* objctl.c */
/* Connects to objd once; later calls reuse the connection. */
int ctl_connect(struct ctl *ctl);
/* Reports a failed call with objd's words, or libobjd's own (or the
 * file's reader's). */
int ctl_call_failed(struct ctl *ctl, int status);
/* Reports a failed write: a conflict says so first. */
int ctl_write_failed(struct ctl *ctl, int status);
/* Prints the answer of a write that objd just took. */
void ctl_written(struct ctl *ctl);

/* ctl-load.c */
/* Opens FILE, or stdin for "-"; -1 with the reason printed. */
int ctl_load_open(const char *name);
/* Reads fd into *buf until it holds more than max bytes or the file
 * ends (*eof); false with the reason printed. */
bool ctl_read_upto(int fd, const char *name, size_t max, char **buf,
    size_t *len, size_t *cap, bool *eof);

#endif
