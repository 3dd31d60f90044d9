/* SPDX-License-Identifier: ISC */
/* objctl.c: the command line client of objd, a thin layer over libobjd.
 *
 * The grammar is two tables, the options and the commands; --help is
 * printed from them, so a command is added by adding a row and its
 * function. Options may come anywhere after the command, up to "--"
 * (the global ones before it too); a number is never taken for one, so
 * that "objctl set k -5" stores -5.
 *
 * Keys are paths (keypath.h), passed to objd as they are, except that
 * objctl reads the escapes that list prints for control characters (\n,
 * \t, \u0001), so that every line list prints is a KEY again. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "json-members.h"
#include "json.h"
#include "key.h"
#include "keypath.h"
#include "log.h"
#include "framing.h"
#include "objctl-file.h"
#include "objd-client.h"
#include "paths.h"
#include "utf8.h"
#include "value.h"
#include "version.h"
#include "xmalloc.h"

/* A call that takes longer than this is taken for a stuck objd; a
 * script should not hang forever on one. */
#define CTL_TIMEOUT_DEFAULT 30.0
/* About 31 years: beyond that a timeout means nothing. */
#define CTL_TIMEOUT_MAX 1e9

/* The exit code of a usage error; 0 means "go on" inside the parser. */
#define CTL_USAGE OBJD_INVALID

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
	bool fix;         /* check --fix */
	const char *file; /* --file: read this file, not objd */
	struct ctl_file offline;
	char why[1024]; /* --file: why a read failed */
	objd_client *client;
};

enum ctl_opt_id {
	OPT_SOCKET,
	OPT_JSON,
	OPT_TIMEOUT,
	OPT_STRING,
	OPT_STDIN,
	OPT_PREFIX,
	OPT_IF_REVISION,
	OPT_IF_ABSENT,
	OPT_META,
	OPT_SINCE,
	OPT_COUNT,
	OPT_MERGE,
	OPT_FILE,
	OPT_FIX,
	OPT_TTL,
	OPT_AT,
	OPT_HELP,
	OPT_VERSION
};

struct ctl_opt {
	const char *name; /* the long name, without "--" */
	char letter;      /* the short name, or 0 */
	const char *arg;  /* the argument's name, or NULL for none */
	enum ctl_opt_id id;
	bool global; /* false: only for commands that list it */
	const char *help;
};

static const struct ctl_opt ctl_opts[] = {
	{ "socket", 's', "PATH", OPT_SOCKET, true, "objd's socket" },
	{ "json", 0, NULL, OPT_JSON, true, "print answers as JSON" },
	{ "timeout", 0, "SECONDS", OPT_TIMEOUT, true,
	    "wait at most SECONDS for objd; 0: forever (default 30)" },
	{ "string", 0, NULL, OPT_STRING, false,
	    "set, hold: store every VALUE as the string given" },
	{ "stdin", 'x', NULL, OPT_STDIN, false,
	    "set: the value of the one KEY is standard input, as read" },
	{ "prefix", 0, "PREFIX", OPT_PREFIX, false,
	    "del: every key that starts with PREFIX, at least one" },
	{ "if-revision", 0, "N", OPT_IF_REVISION, false,
	    "set, del, revert: only if every KEY was last changed at "
	    "revision N" },
	{ "if-absent", 0, NULL, OPT_IF_ABSENT, false,
	    "set, del, hold: only if no KEY exists" },
	{ "meta", 0, NULL, OPT_META, false,
	    "get: the value with its revision and the object's" },
	{ "since", 0, "REV", OPT_SINCE, false,
	    "watch: the changes after revision REV, without the values" },
	{ "count", 0, "N", OPT_COUNT, false, "watch: exit after N changes" },
	{ "merge", 0, NULL, OPT_MERGE, false,
	    "load: set the document's keys and keep the others" },
	{ "file", 'f', "PATH", OPT_FILE, true,
	    "get, list, dump, status: read the object file PATH, without "
	    "objd" },
	{ "fix", 0, NULL, OPT_FIX, false,
	    "check: cut a torn tail back to the last good commit" },
	{ "ttl", 0, "SECONDS", OPT_TTL, false,
	    "set: the keys expire SECONDS later (fractions allowed)" },
	{ "at", 0, "REV", OPT_AT, false,
	    "get: the object or KEY as it was at revision REV" },
	{ "help", 'h', NULL, OPT_HELP, true, "print this help" },
	{ "version", 0, NULL, OPT_VERSION, true, "print objctl's version" },
};

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

static int cmd_get(struct ctl *, int, char **);
static int cmd_set(struct ctl *, int, char **);
static int cmd_del(struct ctl *, int, char **);
static int cmd_list(struct ctl *, int, char **);
static int cmd_watch(struct ctl *, int, char **);
static int cmd_dump(struct ctl *, int, char **);
static int cmd_load(struct ctl *, int, char **);
static int cmd_status(struct ctl *, int, char **);
static int cmd_reload(struct ctl *, int, char **);
static int cmd_compact(struct ctl *, int, char **);
static int cmd_ping(struct ctl *, int, char **);
static int cmd_check(struct ctl *, int, char **);
static int cmd_edit(struct ctl *, int, char **);
static int cmd_hold(struct ctl *, int, char **);
static int cmd_history(struct ctl *, int, char **);
static int cmd_revert(struct ctl *, int, char **);

#define CTL_CONDS ((1u << OPT_IF_REVISION) | (1u << OPT_IF_ABSENT))

static const struct ctl_cmd ctl_cmds[] = {
	{ "get", 0, 1, "[OPTIONS] [KEY]",
	    "print the whole object, or the value of KEY",
	    (1u << OPT_META) | (1u << OPT_AT), cmd_get, true },
	{ "set", 1, -1, "[OPTIONS] KEY VALUE...",
	    "set keys in one atomic change",
	    (1u << OPT_STRING) | (1u << OPT_STDIN) | (1u << OPT_TTL) |
	        CTL_CONDS,
	    cmd_set, false },
	{ "hold", 2, -1, "[--if-absent] KEY VALUE...",
	    "set keys that live until objctl ends (SIGINT, SIGTERM)",
	    (1u << OPT_STRING) | (1u << OPT_IF_ABSENT), cmd_hold, false },
	{ "del", 0, -1, "[OPTIONS] KEY...",
	    "delete keys in one atomic change: all or none",
	    (1u << OPT_PREFIX) | CTL_CONDS, cmd_del, false },
	{ "list", 0, 1, "[PREFIX]", "print the keys, one a line, sorted", 0,
	    cmd_list, true },
	{ "history", 1, 1, "KEY",
	    "print the versions kept of KEY, oldest first", 0, cmd_history,
	    false },
	{ "revert", 2, 2, "[OPTIONS] KEY REV",
	    "set KEY back to its value at revision REV, as a new change",
	    1u << OPT_IF_REVISION, cmd_revert, false },
	{ "watch", 0, 1, "[OPTIONS] [PREFIX]",
	    "print the values, then a line per change",
	    (1u << OPT_SINCE) | (1u << OPT_COUNT), cmd_watch, false },
	{ "dump", 0, 0, "", "print the object as JSON that load reads back", 0,
	    cmd_dump, true },
	{ "edit", 0, 1, "[KEY]",
	    "edit the object (or KEY) as JSON in $EDITOR, applied as one "
	    "change",
	    0, cmd_edit, false },
	{ "load", 0, 1, "[--merge] [FILE|-]",
	    "replace the object with a JSON document, atomically",
	    1u << OPT_MERGE, cmd_load, false },
	{ "status", 0, 0, "", "print objd's state (with --file, the file's)", 0,
	    cmd_status, true },
	{ "reload", 0, 0, "", "make objd load its file now", 0, cmd_reload,
	    false },
	{ "compact", 0, 0, "",
	    "make objd rewrite its file with only the live "
	    "state",
	    0, cmd_compact, false },
	{ "ping", 0, 0, "", "check that objd answers", 0, cmd_ping, false },
	{ "check", 1, 1, "[--fix] PATH",
	    "verify every commit of an object file, without objd",
	    1u << OPT_FIX, cmd_check, false },
};

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

static int ctl_err(int, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints one line on stderr and returns status, for "return ctl_err()". */
static int
ctl_err(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("objctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

/* Escapes the control characters of s as JSON does (\n, \u0001), so
 * that a key or a path with a newline stays on its line. path escapes a
 * dot and a backslash too, as a key path does: a top-level key so
 * written can be passed back as a KEY (list, watch); a message wants
 * the text as it was. */
static char *
ctl_escape(const char *s, bool path)
{
	size_t len = strlen(s), n = 0;
	char *out = xreallocarray(NULL, len + 1, 6);
	unsigned char ch;

	for (; *s != '\0'; s++) {
		ch = (unsigned char)*s;
		if ((ch == '\\' || ch == '.') && path) {
			out[n++] = '\\';
			out[n++] = (char)ch;
		} else if (ch == '\n') {
			memcpy(out + n, "\\n", 2);
			n += 2;
		} else if (ch == '\t') {
			memcpy(out + n, "\\t", 2);
			n += 2;
		} else if (ch == '\r') {
			memcpy(out + n, "\\r", 2);
			n += 2;
		} else if (ch < 0x20 || ch == 0x7f) {
			n += (size_t)snprintf(out + n, 7, "\\u%04x", ch);
		} else
			out[n++] = (char)ch;
	}
	out[n] = '\0';
	return out;
}

static size_t
ctl_cmd_width(void)
{
	size_t w = 0, n;

	for (size_t i = 0; i < NITEMS(ctl_cmds); i++) {
		n = strlen(ctl_cmds[i].name) + 1 + strlen(ctl_cmds[i].args);
		if (n > w)
			w = n;
	}
	return w;
}

static void
ctl_opt_line(FILE *fp, const struct ctl_opt *o)
{
	char buf[64];

	/* Long names line up whether or not there is a short one. */
	if (o->letter != 0)
		snprintf(buf, sizeof(buf), "-%c, --%s%s%s", o->letter, o->name,
		    o->arg ? " " : "", o->arg ? o->arg : "");
	else
		snprintf(buf, sizeof(buf), "    --%s%s%s", o->name,
		    o->arg ? " " : "", o->arg ? o->arg : "");
	fprintf(fp, "  %-22s %s\n", buf, o->help);
}

static void
ctl_help(FILE *fp)
{
	int w = (int)ctl_cmd_width();
	char line[128], *sock;

	fputs("usage: objctl [--socket PATH] [--json] [--timeout SECONDS] "
	      "COMMAND [ARGS...]\n"
	      "       objctl --file PATH get|list|dump|status [ARGS...]\n"
	      "       objctl check [--fix] PATH\n\ncommands:\n",
	    fp);
	for (size_t i = 0; i < NITEMS(ctl_cmds); i++) {
		snprintf(line, sizeof(line), "%s %s", ctl_cmds[i].name,
		    ctl_cmds[i].args);
		fprintf(fp, "  %-*s  %s\n", w, line, ctl_cmds[i].help);
	}
	fputs("\noptions (anywhere before \"--\"; a command's own after it):\n",
	    fp);
	for (size_t i = 0; i < NITEMS(ctl_opts); i++)
		ctl_opt_line(fp, &ctl_opts[i]);
	sock = paths_default_socket();
	fprintf(fp,
	    "\nThe socket is --socket, else $OBJD_SOCKET, else the default, "
	    "now\n%s.\n"
	    "A VALUE is read as JSON when it is a JSON literal (30, 3.5, "
	    "true, null, \"x\",\n"
	    "[...], {...}) and as a string otherwise (John, New York, "
	    "01234).\n"
	    "A KEY is a path: server.port is port in the map server; a "
	    "dot or a backslash\n"
	    "in a name is written \\. or \\\\, as list prints it.\n"
	    "A word that starts with - is an option, unless it is - alone or "
	    "a number\n"
	    "(-5, -2.5); after -- every word is an argument (set -- -x 1).\n"
	    "Exit status: 0 done, 1 key not found, 2 usage error or bad "
	    "value, 3 objd\n"
	    "cannot be reached, 4 conflict, 5 permission denied, 6 objd "
	    "failed.\n",
	    sock);
	free(sock);
}

static void
ctl_cmd_help(FILE *fp, const struct ctl_cmd *cmd)
{
	fprintf(fp, "usage: objctl [OPTIONS] %s %s\n%s\n", cmd->name, cmd->args,
	    cmd->help);
	for (size_t i = 0; i < NITEMS(ctl_opts); i++)
		if (cmd->opts & (1u << ctl_opts[i].id))
			ctl_opt_line(fp, &ctl_opts[i]);
	fputs("See objctl --help for the options of every command.\n", fp);
}

static const struct ctl_cmd *
ctl_find_cmd(const char *name)
{
	for (size_t i = 0; i < NITEMS(ctl_cmds); i++)
		if (strcmp(ctl_cmds[i].name, name) == 0)
			return &ctl_cmds[i];
	return NULL;
}

/* A lone "-" and a negative number ("-5", "-.5") are arguments, never
 * options. */
static bool
ctl_is_option(const char *arg)
{
	return arg[0] == '-' && arg[1] != '\0' &&
	    !isdigit((unsigned char)arg[1]) && arg[1] != '.';
}

static const struct ctl_opt *
ctl_find_opt(const char *arg, const char **value)
{
	size_t len;

	*value = NULL;
	for (size_t i = 0; i < NITEMS(ctl_opts); i++) {
		const struct ctl_opt *o = &ctl_opts[i];

		if (arg[1] != '-') {
			if (o->letter != 0 && arg[1] == o->letter &&
			    arg[2] == '\0')
				return o;
			continue;
		}
		len = strlen(o->name);
		if (strncmp(arg + 2, o->name, len) != 0)
			continue;
		if (arg[2 + len] == '=') {
			*value = arg + 3 + len;
			return o;
		}
		if (arg[2 + len] == '\0')
			return o;
	}
	return NULL;
}

static int
ctl_set_timeout(struct ctl *ctl, const char *arg)
{
	char *end;
	double t;

	errno = 0;
	t = strtod(arg, &end);
	if (*arg == '\0' || *end != '\0' || errno != 0 ||
	    !(t >= 0 && t <= CTL_TIMEOUT_MAX))
		return ctl_err(CTL_USAGE,
		    "--timeout wants a number of seconds (0 for no limit), "
		    "not '%s'",
		    arg);
	ctl->timeout = t;
	return 0;
}

/* Reads a revision or a count: a decimal number that fits 64 bits. */
static int
ctl_set_uint(const char *opt, const char *what, const char *arg, uint64_t *out)
{
	unsigned long long n;
	char *end;

	errno = 0;
	n = strtoull(arg, &end, 10);
	if (!isdigit((unsigned char)*arg) || *end != '\0' || errno != 0)
		return ctl_err(CTL_USAGE, "--%s wants %s, not '%s'", opt, what,
		    arg);
	*out = n;
	return 0;
}

/* The longest --ttl: ten years, as objd takes. */
#define CTL_TTL_MAX (10.0 * 366 * 24 * 3600)

/* --ttl SECONDS: more than 0, fractions allowed, in milliseconds. */
static int
ctl_set_ttl(struct ctl *ctl, const char *arg)
{
	char *end;
	double s;

	errno = 0;
	s = strtod(arg, &end);
	if (end == arg || *end != '\0' || errno != 0 || !(s > 0) ||
	    s > CTL_TTL_MAX)
		return ctl_err(CTL_USAGE,
		    "--ttl wants a number of seconds above 0 and at most "
		    "ten years, not '%s'",
		    arg);
	ctl->ttl_ms = (uint64_t)(s * 1000.0 + 0.5);
	if (ctl->ttl_ms == 0)
		ctl->ttl_ms = 1;
	return 0;
}

/* Applies one option. Returns 0 to go on, -1 to exit 0 (--help and
 * --version were answered), or an exit code. */
static int
ctl_apply_opt(struct ctl *ctl, const struct ctl_cmd *cmd,
    const struct ctl_opt *o, const char *value)
{
	switch (o->id) {
	case OPT_SOCKET:
		if (*value == '\0')
			return ctl_err(CTL_USAGE, "--socket wants a path");
		ctl->socket = value;
		return 0;
	case OPT_JSON:
		ctl->json = true;
		return 0;
	case OPT_TIMEOUT:
		return ctl_set_timeout(ctl, value);
	case OPT_STRING:
		ctl->string = true;
		return 0;
	case OPT_STDIN:
		ctl->from_stdin = true;
		return 0;
	case OPT_PREFIX:
		ctl->prefix = value;
		return 0;
	case OPT_IF_REVISION:
		ctl->if_revision_set = true;
		return ctl_set_uint(o->name, "a revision", value,
		    &ctl->if_revision);
	case OPT_IF_ABSENT:
		ctl->if_absent = true;
		return 0;
	case OPT_META:
		ctl->meta = true;
		return 0;
	case OPT_SINCE:
		return ctl_set_uint(o->name, "a revision", value, &ctl->since);
	case OPT_COUNT:
		ctl->count_set = true;
		return ctl_set_uint(o->name, "a number of changes", value,
		    &ctl->count);
	case OPT_MERGE:
		ctl->merge = true;
		return 0;
	case OPT_FILE:
		if (*value == '\0')
			return ctl_err(CTL_USAGE, "--file wants a path");
		ctl->file = value;
		return 0;
	case OPT_FIX:
		ctl->fix = true;
		return 0;
	case OPT_TTL:
		return ctl_set_ttl(ctl, value);
	case OPT_AT:
		if (ctl_set_uint(o->name, "a revision", value, &ctl->at) != 0)
			return CTL_USAGE;
		if (ctl->at == 0)
			return ctl_err(CTL_USAGE,
			    "--at wants a revision from 1 on");
		return 0;
	case OPT_HELP:
		if (cmd != NULL)
			ctl_cmd_help(stdout, cmd);
		else
			ctl_help(stdout);
		return -1;
	case OPT_VERSION:
		printf("objctl %s\n", OBJD_VERSION);
		return -1;
	}
	return 0;
}

/* A command's own option, given before the command or to another. */
static int
ctl_not_here(const struct ctl_cmd *cmd, const char *arg,
    const struct ctl_opt *o)
{
	for (size_t i = 0; i < NITEMS(ctl_cmds); i++)
		if (ctl_cmds[i].opts & (1u << o->id))
			return ctl_err(CTL_USAGE,
			    "%s is an option of %s: put it after the command, "
			    "as in objctl %s %s",
			    arg, ctl_cmds[i].name, ctl_cmds[i].name,
			    ctl_cmds[i].args);
	return ctl_err(CTL_USAGE, "%s is not an option of %s", arg,
	    cmd != NULL ? cmd->name : "objctl");
}

/* Reads the options at argv[*ip...], those of cmd too if it is not NULL,
 * up to the first argument that is not one, or past "--", which sets
 * *ended. Same returns as ctl_apply_opt. */
static int
ctl_parse_opts(struct ctl *ctl, const struct ctl_cmd *cmd, int argc,
    char **argv, int *ip, bool *ended)
{
	const struct ctl_opt *o;
	const char *arg, *value;
	int rc;

	*ended = false;
	while (*ip < argc && ctl_is_option(argv[*ip])) {
		arg = argv[(*ip)++];
		if (strcmp(arg, "--") == 0) {
			*ended = true;
			return 0;
		}
		if ((o = ctl_find_opt(arg, &value)) == NULL)
			return ctl_err(CTL_USAGE,
			    "unknown option '%s' (see objctl --help; an "
			    "argument that starts with - goes after --)",
			    arg);
		if (!o->global &&
		    (cmd == NULL || (cmd->opts & (1u << o->id)) == 0))
			return ctl_not_here(cmd, arg, o);
		if (o->arg != NULL && value == NULL) {
			if (*ip == argc)
				return ctl_err(CTL_USAGE, "--%s wants %s",
				    o->name, o->arg);
			value = argv[(*ip)++];
		} else if (o->arg == NULL && value != NULL)
			return ctl_err(CTL_USAGE, "--%s takes no value",
			    o->name);
		if ((rc = ctl_apply_opt(ctl, cmd, o, value)) != 0)
			return rc;
	}
	return 0;
}

/* Reads what follows the command: its options and the global ones,
 * anywhere among its arguments, as git and systemctl read theirs; after
 * "--" every word is an argument ("objctl set -- --if-absent x" sets a
 * key of that name). The arguments go to args, in order. Same returns as
 * ctl_apply_opt. */
static int
ctl_parse_args(struct ctl *ctl, const struct ctl_cmd *cmd, int argc,
    char **argv, int i, char **args, int *nargs)
{
	bool ended = false;
	int rc;

	*nargs = 0;
	while (i < argc) {
		if ((rc = ctl_parse_opts(ctl, cmd, argc, argv, &i, &ended)) !=
		    0)
			return rc;
		if (ended)
			break;
		if (i < argc)
			args[(*nargs)++] = argv[i++];
	}
	while (i < argc)
		args[(*nargs)++] = argv[i++];
	return 0;
}

static int
ctl_check_count(const struct ctl_cmd *cmd, int argc)
{
	if (argc >= cmd->min_args &&
	    (cmd->max_args < 0 || argc <= cmd->max_args))
		return 0;
	return ctl_err(CTL_USAGE, "usage: objctl %s%s%s", cmd->name,
	    *cmd->args ? " " : "", cmd->args);
}

static int
ctl_connect(struct ctl *ctl)
{
	char err[1024];
	int status;

	/* revert reads, then writes, on one connection. */
	if (ctl->client != NULL)
		return OBJD_OK;
	status = objd_connect(ctl->socket, ctl->timeout, &ctl->client, err,
	    sizeof(err));
	if (status != OBJD_OK)
		return ctl_err(status, "%s", err);
	return OBJD_OK;
}

/* What get, list, dump and status read: objd, or with --file the file,
 * read once. */
static int
ctl_source(struct ctl *ctl)
{
	int status;

	if (ctl->file == NULL)
		return ctl_connect(ctl);
	status =
	    ctl_file_read(ctl->file, &ctl->offline, ctl->why, sizeof(ctl->why));
	if (status != OBJD_OK)
		return ctl_err(status, "%s", ctl->why);
	return OBJD_OK;
}

/* The object's revision in the last answer. */
static uint64_t
ctl_revision(struct ctl *ctl)
{
	if (ctl->file != NULL)
		return ctl->offline.scan.revision;
	return objd_client_revision(ctl->client);
}

/* Reports a failed call with objd's words, or libobjd's own (or the
 * file's reader's). */
static int
ctl_call_failed(struct ctl *ctl, int status)
{
	const char *why =
	    ctl->file != NULL ? ctl->why : objd_client_error(ctl->client);

	return ctl_err(status, "%s", *why ? why : objd_strerror(status));
}

/* Appends the code point cp (1 to 0xffff, no surrogate) as UTF-8. */
static size_t
ctl_put_utf8(char *out, unsigned cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	out[0] = (char)(0xe0 | cp >> 12);
	out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[2] = (char)(0x80 | (cp & 0x3f));
	return 3;
}

/* Reads the escapes of a KEY or PREFIX argument into *out. \n, \t, \r,
 * \b, \f and \uXXXX (what list prints for control characters) become the
 * characters. In a path (a KEY) \. and \\ stay as they are, for objd,
 * and a dot or backslash spelt \u002e or \u005c is escaped so; in a
 * prefix, which is no path, they become the character. Returns 0, or
 * CTL_USAGE with the reason printed. */
static int
ctl_unescape(const char *arg, bool path, char **out)
{
	char *o = xmalloc(strlen(arg) + 1), *shown;
	const char *p;
	size_t n = 0;
	unsigned cp;

	for (p = arg; *p != '\0'; p++) {
		if (*p != '\\') {
			o[n++] = *p;
			continue;
		}
		switch (*++p) {
		case '.':
		case '\\':
			if (path)
				o[n++] = '\\';
			o[n++] = *p;
			continue;
		case 'n':
			o[n++] = '\n';
			continue;
		case 't':
			o[n++] = '\t';
			continue;
		case 'r':
			o[n++] = '\r';
			continue;
		case 'b':
			o[n++] = '\b';
			continue;
		case 'f':
			o[n++] = '\f';
			continue;
		case 'u':
			if (strspn(p + 1, "0123456789abcdefABCDEF") < 4)
				goto bad;
			cp = (unsigned)strtoul(
			    (char[]){ p[1], p[2], p[3], p[4], '\0' }, NULL, 16);
			if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
				goto bad;
			p += 4;
			if (path && (cp == '.' || cp == '\\'))
				o[n++] = '\\';
			/* Six bytes of input make at most four of output. */
			n += ctl_put_utf8(o + n, cp);
			continue;
		default:
			goto bad;
		}
	}
	o[n] = '\0';
	*out = o;
	return 0;
bad:
	free(o);
	shown = ctl_escape(arg, false);
	ctl_err(CTL_USAGE,
	    "'%s': a backslash escapes a dot (\\.), a backslash (\\\\) or a "
	    "control character (\\n, \\t, \\r, \\b, \\f, \\u0001; \\u0000 "
	    "and surrogates are not allowed)",
	    shown);
	free(shown);
	return CTL_USAGE;
}

/* A KEY argument as the path objd reads, checked; free *path. */
static int
ctl_key_arg(const char *arg, char **path)
{
	struct keypath kp;
	char err[512], *shown;
	int status;

	if ((status = ctl_unescape(arg, true, path)) != 0)
		return status;
	if (keypath_parse(*path, &kp, err, sizeof(err))) {
		keypath_free(&kp);
		return 0;
	}
	free(*path);
	*path = NULL;
	shown = ctl_escape(arg, false);
	ctl_err(CTL_USAGE, "invalid key '%s': %s", shown, err);
	free(shown);
	return CTL_USAGE;
}

/* A PREFIX argument (list, watch) as the text keys start with; free
 * *prefix. */
static int
ctl_prefix_arg(const char *arg, char **prefix)
{
	int status;

	if ((status = ctl_unescape(arg, false, prefix)) != 0)
		return status;
	if (utf8_valid(*prefix, strlen(*prefix)))
		return 0;
	free(*prefix);
	*prefix = NULL;
	return ctl_err(CTL_USAGE, "a prefix must be UTF-8 text, as keys are");
}

/* Reads KEY arguments into a new array of paths; free with
 * ctl_free_strs(). stride 2 takes every other argument (set). */
static int
ctl_key_args(char **argv, size_t n, size_t stride, char ***paths)
{
	char **p = xcalloc(n, sizeof(*p));
	int status;

	for (size_t i = 0; i < n; i++)
		if ((status = ctl_key_arg(argv[i * stride], &p[i])) != 0) {
			for (size_t k = 0; k < i; k++)
				free(p[k]);
			free(p);
			return status;
		}
	*paths = p;
	return 0;
}

static void
ctl_free_strs(char **strs, size_t n)
{
	for (size_t i = 0; strs != NULL && i < n; i++)
		free(strs[i]);
	free(strs);
}

/* Prints v as JSON on its own line, and frees it. */
static void
ctl_print_json(Objd__Value *v, int indent)
{
	char *s = json_from_value(v, indent);

	printf("%s\n", s);
	free(s);
	value_free(v);
}

static void
ctl_add(Objd__Value *m, const char *name, Objd__Value *v)
{
	value_map_add(m, name, strlen(name), v);
}

static Objd__Value *
ctl_uint(uint64_t n)
{
	return n > INT64_MAX ? value_new_double((double)n)
	                     : value_new_int((int64_t)n);
}

/* The --json answer of a write: the revision it left the object at. */
static void
ctl_print_revision(struct ctl *ctl)
{
	Objd__Value *m = value_new_map();

	ctl_add(m, "revision", ctl_uint(objd_client_revision(ctl->client)));
	ctl_print_json(m, 0);
}

/* Reports a failed write: a conflict says so first. */
static int
ctl_write_failed(struct ctl *ctl, int status)
{
	const char *why = objd_client_error(ctl->client);

	if (*why == '\0')
		why = objd_strerror(status);
	if (status == OBJD_CONFLICT && strncasecmp(why, "conflict", 8) != 0)
		return ctl_err(status, "conflict: %s", why);
	return ctl_err(status, "%s", why);
}

static int
ctl_get_all(struct ctl *ctl)
{
	Objd__Response *resp;
	char *s;
	int status;

	if ((status = ctl_source(ctl)) != OBJD_OK)
		return status;
	if (ctl->file != NULL)
		resp = ctl->offline.all;
	else if ((status = objd_get_all_at(ctl->client, ctl->at, &resp)) !=
	    OBJD_OK) {
		objd_response_free(resp);
		return ctl_call_failed(ctl, status);
	}
	s = json_from_entries(resp->entries, resp->n_entries, 2);
	printf("%s\n", s);
	free(s);
	if (ctl->file == NULL)
		objd_response_free(resp);
	return OBJD_OK;
}

/* get --meta: the value, the revision that last changed its key and the
 * object's, and the seconds left before it expires if it does, as lines
 * of "name: value" or one JSON object. */
static void
ctl_print_meta(struct ctl *ctl, Objd__Value *v, uint64_t rev, uint64_t ttl_ms)
{
	uint64_t objrev = ctl_revision(ctl);
	Objd__Value *m;
	char *text;

	if (ctl->json) {
		m = value_new_map();
		ctl_add(m, "value", v);
		ctl_add(m, "revision", ctl_uint(rev));
		ctl_add(m, "object_revision", ctl_uint(objrev));
		if (ttl_ms != 0)
			ctl_add(m, "expires_in",
			    value_new_double(ttl_ms / 1e3));
		ctl_print_json(m, 0);
		return;
	}
	text = json_from_value(v, 0);
	printf("value: %s\nrevision: %" PRIu64 "\nobject revision: %" PRIu64
	       "\n",
	    text, rev, objrev);
	if (ttl_ms != 0)
		printf("expires in: %.1f s\n", ttl_ms / 1e3);
	free(text);
	value_free(v);
}

static int
cmd_get(struct ctl *ctl, int argc, char **argv)
{
	Objd__Value *v;
	uint64_t rev = 0, ttl_ms = 0;
	char *path, *shown;
	int status;

	if (argc == 0 && ctl->meta)
		return ctl_err(CTL_USAGE, "usage: objctl get --meta KEY");
	if (argc == 0)
		return ctl_get_all(ctl);
	if ((status = ctl_key_arg(argv[0], &path)) != 0)
		return status;
	if ((status = ctl_source(ctl)) != OBJD_OK) {
		free(path);
		return status;
	}
	if (ctl->file != NULL)
		status = ctl_file_get(&ctl->offline, path, &v, &rev, ctl->why,
		    sizeof(ctl->why));
	else if (ctl->at != 0)
		status = objd_get_at(ctl->client, path, ctl->at, &v, &rev);
	else if (ctl->meta)
		status = objd_get_ttl(ctl->client, path, &v, &rev, &ttl_ms);
	else
		status = objd_get(ctl->client, path, &v);
	free(path);
	/* objd says whether the key did not exist then, or the history
	 * does not reach back so far. */
	if (status == OBJD_NOT_FOUND && ctl->at != 0)
		return ctl_call_failed(ctl, status);
	if (status == OBJD_NOT_FOUND) {
		shown = ctl_escape(argv[0], false);
		ctl_err(status, "key not found: %s", shown);
		free(shown);
		return status;
	}
	if (status != OBJD_OK)
		return ctl_call_failed(ctl, status);
	if (ctl->meta)
		ctl_print_meta(ctl, v, rev, ttl_ms);
	/* Raw, so that name=$(objctl get name) needs no unquoting. */
	else if (v->kind_case == OBJD__VALUE__KIND_STRING_VALUE && !ctl->json) {
		printf("%s\n", v->string_value);
		value_free(v);
	} else
		ctl_print_json(v, 0);
	return OBJD_OK;
}

static int
ctl_strcmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The protocol wants each key once in a change; say so before sending. */
static int
ctl_check_unique(char **keys, size_t n)
{
	char **sorted = xmemdup(keys, n * sizeof(*keys));
	char *shown;
	int status = 0;

	qsort(sorted, n, sizeof(*sorted), ctl_strcmp);
	for (size_t i = 1; i < n && status == 0; i++)
		if (strcmp(sorted[i - 1], sorted[i]) == 0) {
			shown = ctl_escape(sorted[i], false);
			status = ctl_err(CTL_USAGE,
			    "key '%s' is given twice: set each key once",
			    shown);
			free(shown);
		}
	free(sorted);
	return status;
}

static Objd__Value *
ctl_read_value(struct ctl *ctl, const char *key, const char *arg)
{
	Objd__Value *v;
	char err[512], *shown;

	if (ctl->string) {
		if (utf8_valid(arg, strlen(arg)))
			return value_new_string(arg, strlen(arg));
		snprintf(err, sizeof(err),
		    "--string takes UTF-8 text; store binary data as "
		    "{\"$bytes\": \"<base64>\"} without -s");
		v = NULL;
	} else
		v = json_value_from_arg(arg, err, sizeof(err));
	if (v == NULL) {
		shown = ctl_escape(key, false);
		ctl_err(CTL_USAGE, "the value for '%s': %s", shown, err);
		free(shown);
	}
	return v;
}

static void
ctl_free_values(Objd__Value **values, size_t n)
{
	for (size_t i = 0; i < n; i++)
		value_free(values[i]);
	free(values);
}

/* The conditions of set and del: --if-revision or --if-absent, on every
 * key; NULL with *n 0 if there are none. */
static objd_cond *
ctl_conditions(struct ctl *ctl, char **keys, size_t nkeys, size_t *n)
{
	objd_cond *conds;

	*n = 0;
	if (!ctl->if_absent && !ctl->if_revision_set)
		return NULL;
	conds = xcalloc(nkeys, sizeof(*conds));
	for (size_t i = 0; i < nkeys; i++) {
		conds[i].key = keys[i];
		conds[i].absent = ctl->if_absent;
		conds[i].revision = ctl->if_revision;
	}
	*n = nkeys;
	return conds;
}

/* Sends the batch of set or del, and says how it went. */
static int
ctl_write(struct ctl *ctl, const objd_op *ops, char **keys, size_t n)
{
	objd_cond *conds;
	size_t nconds;
	int status;

	if (ctl->if_absent && ctl->if_revision_set)
		return ctl_err(CTL_USAGE,
		    "--if-revision and --if-absent exclude each other");
	if ((status = ctl_connect(ctl)) != OBJD_OK)
		return status;
	conds = ctl_conditions(ctl, keys, n, &nconds);
	status =
	    objd_batch_ttl(ctl->client, ops, n, conds, nconds, ctl->ttl_ms);
	free(conds);
	if (status == OBJD_NOT_FOUND && n > 1)
		return ctl_err(status, "%s; nothing was deleted",
		    objd_client_error(ctl->client));
	if (status != OBJD_OK)
		return ctl_write_failed(ctl, status);
	if (ctl->json)
		ctl_print_revision(ctl);
	return OBJD_OK;
}

static bool ctl_read_upto(int, const char *, size_t, char **, size_t *,
    size_t *, bool *);

/* set -x KEY: the value is standard input as read, a string when it is
 * UTF-8 without NUL and bytes otherwise, as redis-cli -x takes it. */
static int
ctl_set_stdin(struct ctl *ctl, int argc, char **argv)
{
	Objd__Value *value;
	objd_op op;
	char *key, *buf;
	size_t len, cap;
	bool eof;
	int status;

	if (argc != 1)
		return ctl_err(CTL_USAGE,
		    "set -x takes one KEY, whose value is standard input: "
		    "usage: objctl set -x KEY");
	if (ctl->string)
		return ctl_err(CTL_USAGE,
		    "--string and -x exclude each other: -x stores text as a "
		    "string already");
	if ((status = ctl_key_arg(argv[0], &key)) != 0)
		return status;
	if (!ctl_read_upto(STDIN_FILENO, "standard input", FRAME_MAX_DEFAULT,
	        &buf, &len, &cap, &eof)) {
		free(key);
		return CTL_USAGE;
	}
	if (!eof) {
		free(buf);
		free(key);
		return ctl_err(CTL_USAGE,
		    "standard input holds more than %zu bytes, the most one "
		    "request carries",
		    FRAME_MAX_DEFAULT);
	}
	value = utf8_valid(buf, len) ? value_new_string(buf, len)
	                             : value_new_bytes((uint8_t *)buf, len);
	free(buf);
	op.key = key;
	op.value = value;
	status = ctl_write(ctl, &op, &key, 1);
	value_free(value);
	free(key);
	return status;
}

/* The KEY VALUE pairs of set and hold. */
struct ctl_pairs {
	size_t n;
	char **keys;
	Objd__Value **values;
	objd_op *ops;
};

static void
ctl_pairs_free(struct ctl_pairs *p)
{
	free(p->ops);
	ctl_free_values(p->values, p->n);
	ctl_free_strs(p->keys, p->n);
}

/* Reads argv's pairs into p (freed with ctl_pairs_free() on success);
 * 0, or the exit status with the reason printed. */
static int
ctl_pairs_read(struct ctl *ctl, int argc, char **argv, struct ctl_pairs *p)
{
	int status;

	p->n = (size_t)argc / 2;
	if ((status = ctl_key_args(argv, p->n, 2, &p->keys)) != 0)
		return status;
	p->values = xcalloc(p->n, sizeof(*p->values));
	p->ops = xcalloc(p->n, sizeof(*p->ops));
	for (size_t i = 0; i < p->n && status == 0; i++) {
		p->values[i] =
		    ctl_read_value(ctl, argv[2 * i], argv[2 * i + 1]);
		if (p->values[i] == NULL)
			status = CTL_USAGE;
		p->ops[i].key = p->keys[i];
		p->ops[i].value = p->values[i];
	}
	if (status == 0)
		status = ctl_check_unique(p->keys, p->n);
	if (status != 0)
		ctl_pairs_free(p);
	return status;
}

static int
cmd_set(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_pairs p;
	char *shown;
	int status;

	if (ctl->from_stdin)
		return ctl_set_stdin(ctl, argc, argv);
	if (argc % 2 != 0) {
		shown = ctl_escape(argv[argc - 1], false);
		ctl_err(CTL_USAGE,
		    "'%s' has no VALUE: usage: objctl set [OPTIONS] KEY VALUE "
		    "[KEY VALUE...]",
		    shown);
		free(shown);
		return CTL_USAGE;
	}
	if ((status = ctl_pairs_read(ctl, argc, argv, &p)) != 0)
		return status;
	status = ctl_write(ctl, p.ops, p.keys, p.n);
	ctl_pairs_free(&p);
	return status;
}

/* del --prefix PREFIX: one change, like del of every key it finds. */
static int
ctl_del_prefix(struct ctl *ctl, int argc)
{
	char *prefix;
	int status;

	if (argc != 0)
		return ctl_err(CTL_USAGE,
		    "del --prefix takes no KEY: usage: objctl del --prefix "
		    "PREFIX");
	if (ctl->if_absent || ctl->if_revision_set)
		return ctl_err(CTL_USAGE,
		    "del --prefix takes no --if-revision or --if-absent");
	if (*ctl->prefix == '\0')
		return ctl_err(CTL_USAGE,
		    "del --prefix wants a PREFIX that is not empty (to empty "
		    "the object: echo '{}' | objctl load)");
	if ((status = ctl_prefix_arg(ctl->prefix, &prefix)) != 0)
		return status;
	if ((status = ctl_connect(ctl)) == OBJD_OK) {
		status = objd_delete_prefix(ctl->client, prefix);
		if (status != OBJD_OK)
			status = ctl_write_failed(ctl, status);
		else if (ctl->json)
			ctl_print_revision(ctl);
	}
	free(prefix);
	return status;
}

static int
cmd_del(struct ctl *ctl, int argc, char **argv)
{
	size_t n = (size_t)argc;
	objd_op *ops;
	char **keys;
	int status;

	if (ctl->prefix != NULL)
		return ctl_del_prefix(ctl, argc);
	if (n == 0)
		return ctl_err(CTL_USAGE,
		    "usage: objctl del [OPTIONS] KEY... or objctl del "
		    "--prefix PREFIX");
	if ((status = ctl_key_args(argv, n, 1, &keys)) != 0)
		return status;
	ops = xcalloc(n, sizeof(*ops));
	for (size_t i = 0; i < n; i++)
		ops[i].key = keys[i];
	status = ctl_check_unique(keys, n);
	if (status == 0)
		status = ctl_write(ctl, ops, keys, n);
	free(ops);
	ctl_free_strs(keys, n);
	return status;
}

static void
ctl_print_keys(struct ctl *ctl, char **keys, size_t n)
{
	Objd__Value *list;
	char *shown;

	if (ctl->json) {
		list = value_new_list();
		for (size_t i = 0; i < n; i++)
			value_list_append(list,
			    value_new_string(keys[i], strlen(keys[i])));
		ctl_print_json(list, 2);
		return;
	}
	/* Escaped as a path, so that every line is a KEY again. */
	for (size_t i = 0; i < n; i++) {
		shown = ctl_escape(keys[i], true);
		printf("%s\n", shown);
		free(shown);
	}
}

static int
cmd_list(struct ctl *ctl, int argc, char **argv)
{
	Objd__Response *resp;
	char *prefix;
	int status;

	if ((status = ctl_prefix_arg(argc > 0 ? argv[0] : "", &prefix)) != 0)
		return status;
	if ((status = ctl_source(ctl)) != OBJD_OK) {
		free(prefix);
		return status;
	}
	if (ctl->file != NULL)
		resp = ctl_file_list(&ctl->offline, prefix);
	else
		status = objd_list(ctl->client, prefix, &resp);
	free(prefix);
	if (status != OBJD_OK) {
		objd_response_free(resp);
		return ctl_call_failed(ctl, status);
	}
	ctl_print_keys(ctl, resp->keys, resp->n_keys);
	objd_response_free(resp);
	return OBJD_OK;
}

/* Set by SIGINT: watch ends, with exit 0. */
static volatile sig_atomic_t ctl_interrupted;

static void
ctl_on_sigint(int sig)
{
	(void)sig;
	ctl_interrupted = 1;
}

/* Prints a line and sends it on at once: a watch is read as it goes. */
static int
ctl_watch_line(const char *line)
{
	if (printf("%s\n", line) < 0 || fflush(stdout) == EOF)
		return ctl_err(OBJD_FAILED, "cannot write the output: %s",
		    strerror(errno));
	return 0;
}

/* The first lines of a watch: the current values at the object's
 * revision. Text: "REV current KEY VALUE" per key ("REV current" if no
 * key matches); JSON: one line {"revision", "type": "current",
 * "values": {...}}. */
static int
ctl_watch_current(struct ctl *ctl, const Objd__Response *first)
{
	char *line, *key, *value;
	int status = 0;

	if (ctl->json) {
		value = json_from_entries(first->entries, first->n_entries, 0);
		if (asprintf(&line,
		        "{\"revision\": %" PRIu64
		        ", \"type\": \"current\", \"values\": %s}",
		        first->revision, value) == -1)
			fatalx("out of memory");
		free(value);
		status = ctl_watch_line(line);
		free(line);
		return status;
	}
	if (first->n_entries == 0) {
		if (asprintf(&line, "%" PRIu64 " current", first->revision) ==
		    -1)
			fatalx("out of memory");
		status = ctl_watch_line(line);
		free(line);
		return status;
	}
	for (size_t i = 0; i < first->n_entries && status == 0; i++) {
		key = ctl_escape(first->entries[i]->key, true);
		value = json_from_value(first->entries[i]->value, 0);
		if (asprintf(&line, "%" PRIu64 " current %s %s",
		        first->revision, key, value) == -1)
			fatalx("out of memory");
		status = ctl_watch_line(line);
		free(line);
		free(value);
		free(key);
	}
	return status;
}

/* One change. Text: "REV set KEY VALUE", "REV delete KEY", "REV reload
 * ..."; JSON: {"key", "revision", "type", "value"}. KEY is escaped as
 * list prints it, VALUE is JSON on one line. */
static int
ctl_watch_event(struct ctl *ctl, const Objd__Event *e)
{
	char *line, *key, *value = NULL;
	const char *type;
	int status, n;

	switch (e->type) {
	case OBJD__EVENT__TYPE__SET:
		type = "set";
		value = json_from_value(e->value, 0);
		break;
	case OBJD__EVENT__TYPE__DELETE:
		type = "delete";
		break;
	case OBJD__EVENT__TYPE__EXPIRE:
		type = "expire";
		break;
	case OBJD__EVENT__TYPE__RELOAD:
		type = "reload";
		break;
	default:
		type = "unknown";
		break;
	}
	if (ctl->json) {
		Objd__Value *k = value_new_string(e->key, strlen(e->key));

		key = json_from_value(k, 0);
		value_free(k);
		if (e->type == OBJD__EVENT__TYPE__SET)
			n = asprintf(&line,
			    "{\"key\": %s, \"revision\": %" PRIu64
			    ", \"type\": \"%s\", \"value\": %s}",
			    key, e->revision, type, value);
		else if (e->type == OBJD__EVENT__TYPE__DELETE ||
		    e->type == OBJD__EVENT__TYPE__EXPIRE)
			n = asprintf(&line,
			    "{\"key\": %s, \"revision\": %" PRIu64
			    ", \"type\": \"%s\"}",
			    key, e->revision, type);
		else
			n = asprintf(&line,
			    "{\"revision\": %" PRIu64 ", \"type\": \"%s\"}",
			    e->revision, type);
	} else {
		key = ctl_escape(e->key, true);
		if (e->type == OBJD__EVENT__TYPE__SET)
			n = asprintf(&line, "%" PRIu64 " set %s %s",
			    e->revision, key, value);
		else if (e->type == OBJD__EVENT__TYPE__DELETE ||
		    e->type == OBJD__EVENT__TYPE__EXPIRE)
			n = asprintf(&line, "%" PRIu64 " %s %s", e->revision,
			    type, key);
		else if (e->type == OBJD__EVENT__TYPE__RELOAD)
			n = asprintf(&line,
			    "%" PRIu64 " reload (objd reloaded the whole "
			    "object from its file)",
			    e->revision);
		else
			n = asprintf(&line, "%" PRIu64 " unknown event %d",
			    e->revision, (int)e->type);
	}
	if (n == -1)
		fatalx("out of memory");
	status = ctl_watch_line(line);
	free(line);
	free(key);
	free(value);
	return status;
}

/* hold: sets the keys, held by this connection, then waits for SIGINT
 * or SIGTERM (exit 0) or for objd to close the connection (exit 6): the
 * keys go with the connection, however objctl ends. */
static int
cmd_hold(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_pairs p;
	struct sigaction sa;
	struct pollfd pfd;
	int status;

	if (argc % 2 != 0)
		return ctl_err(CTL_USAGE,
		    "usage: objctl hold [--if-absent] KEY VALUE [KEY "
		    "VALUE...]");
	if ((status = ctl_pairs_read(ctl, argc, argv, &p)) != 0)
		return status;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ctl_on_sigint;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the signal must end the wait. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	status = ctl_connect(ctl);
	if (status == 0) {
		status = objd_hold(ctl->client, p.ops, p.n, ctl->if_absent);
		if (status != OBJD_OK)
			status = ctl_write_failed(ctl, status);
	}
	ctl_pairs_free(&p);
	if (status != 0)
		return status;
	if (ctl->json)
		ctl_print_revision(ctl);
	fflush(stdout);
	pfd.fd = objd_client_fd(ctl->client);
	pfd.events = POLLIN;
	while (!ctl_interrupted) {
		if (poll(&pfd, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			return ctl_err(OBJD_FAILED, "poll: %s",
			    strerror(errno));
		}
		if (pfd.revents != 0)
			return ctl_err(OBJD_FAILED,
			    "objd closed the connection: the keys are no "
			    "longer held");
	}
	return OBJD_OK;
}

/* Where a watch is in --count: a change is one revision, which may
 * carry many events, each a frame of its own. */
struct watch_count {
	uint64_t seen;     /* changes begun */
	uint64_t revision; /* of the change being printed */
	uint64_t mark;     /* the mark asked for once the last began, or 0 */
};

/* Prints the events of r that --count lets through. Once the last change
 * counted begins, a mark is asked for (objd_watch_mark()): every event of
 * that change comes before it, and nothing after it is printed. */
static int
ctl_watch_events(struct ctl *ctl, const Objd__Response *r,
    struct watch_count *wc)
{
	const Objd__Event *e;
	int status;

	for (size_t i = 0; i < r->n_events; i++) {
		e = r->events[i];
		if (e->revision != wc->revision || wc->seen == 0) {
			if (wc->mark != 0)
				return 0;
			wc->seen++;
			wc->revision = e->revision;
			if (ctl->count_set && wc->seen == ctl->count &&
			    objd_watch_mark(ctl->client, &wc->mark) != OBJD_OK)
				return ctl_call_failed(ctl, OBJD_UNREACHABLE);
		}
		if ((status = ctl_watch_event(ctl, e)) != 0)
			return status;
	}
	return 0;
}

/* Follows the watch until --count changes, SIGINT, or its end. */
static int
ctl_watch_follow(struct ctl *ctl, struct watch_count *wc)
{
	Objd__Response *r;
	int status;

	if (ctl->count_set && ctl->count == 0)
		return OBJD_OK;
	for (;;) {
		/* A signal ends the wait at once; the timeout only covers
		 * one that came just before it. */
		status = objd_watch_next(ctl->client, &r, 1.0);
		if (ctl_interrupted) {
			objd_response_free(r);
			return OBJD_OK;
		}
		if (status != OBJD_OK) {
			objd_response_free(r);
			return ctl_call_failed(ctl, status);
		}
		if (r != NULL && wc->mark != 0 && r->id == wc->mark) {
			objd_response_free(r);
			return OBJD_OK;
		}
		status = r != NULL ? ctl_watch_events(ctl, r, wc) : 0;
		objd_response_free(r);
		if (status != 0)
			return status;
	}
}

static int
cmd_watch(struct ctl *ctl, int argc, char **argv)
{
	struct watch_count wc = { 0, 0, 0 };
	struct sigaction sa;
	Objd__Response *first;
	char *prefix;
	int status;

	if ((status = ctl_prefix_arg(argc > 0 ? argv[0] : "", &prefix)) != 0)
		return status;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ctl_on_sigint;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the signal must end the wait for objd. */
	sigaction(SIGINT, &sa, NULL);
	if ((status = ctl_connect(ctl)) != OBJD_OK) {
		free(prefix);
		return status;
	}
	status = objd_watch(ctl->client, prefix, ctl->since, &first);
	free(prefix);
	if (status != OBJD_OK) {
		objd_response_free(first);
		return ctl_call_failed(ctl, status);
	}
	if (ctl->since == 0)
		status = ctl_watch_current(ctl, first);
	/* Changes that came with the first answer. */
	if (status == 0 && !(ctl->count_set && ctl->count == 0))
		status = ctl_watch_events(ctl, first, &wc);
	objd_response_free(first);
	if (status != 0)
		return status;
	return ctl_watch_follow(ctl, &wc);
}

static int
cmd_dump(struct ctl *ctl, int argc, char **argv)
{
	return ctl_get_all(ctl);
}

/* A document of at most this many bytes is read whole, parsed whole
 * and sent in one batch, as any objd takes it. A larger one is read
 * member by member (json-members.h) and sent in pieces that objd
 * applies as one change (objd.proto, Batch): objctl's memory then
 * depends on the size of a piece, not of the document. */
#define LOAD_WHOLE_MAX (1024 * 1024)
/* A piece goes to objd once its keys and values take this many bytes:
 * small enough that objd decodes it inside the arena it keeps for a
 * request, which a piece eight times larger overflowed into a malloc
 * and a free for each of its fields (a fourth of objd's instructions
 * for a load, by callgrind). */
#define LOAD_PIECE_BYTES (8 * 1024)
/* Pieces sent and not answered yet, at most: objd stages them while
 * objctl reads on, and objctl never waits for one piece at a time. */
#define LOAD_IN_FLIGHT 32

/* Opens FILE, or stdin for "-"; -1 with the reason printed. */
static int
ctl_load_open(const char *name)
{
	int fd;

	if (strcmp(name, "-") == 0)
		return STDIN_FILENO;
	if ((fd = open(name, O_RDONLY | O_CLOEXEC)) == -1)
		ctl_err(CTL_USAGE, "cannot read %s: %s", name, strerror(errno));
	return fd;
}

/* Reads fd into *buf until it holds more than max bytes or the file
 * ends (*eof); false with the reason printed. */
static bool
ctl_read_upto(int fd, const char *name, size_t max, char **buf, size_t *len,
    size_t *cap, bool *eof)
{
	ssize_t r = 0;

	*cap = 65536;
	*len = 0;
	*eof = false;
	*buf = xmalloc(*cap);
	while (*len <= max) {
		if (*len == *cap) {
			*buf = xreallocarray(*buf, 2, *cap);
			*cap *= 2;
		}
		r = read(fd, *buf + *len, *cap - *len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		*len += (size_t)r;
	}
	if (r == -1) {
		ctl_err(CTL_USAGE, "cannot read %s: %s", name, strerror(errno));
		free(*buf);
		return false;
	}
	*eof = r == 0;
	return true;
}

/* Checks a top-level key of the document; false with the reason
 * printed. */
static bool
ctl_load_key(const char *name, const char *key, size_t len)
{
	char err[512], *shown;

	if (key_valid(key, len, err, sizeof(err)))
		return true;
	shown = ctl_escape(key, false);
	ctl_err(CTL_USAGE, "%s: invalid key \"%s\": %s; nothing was loaded",
	    name, shown, err);
	free(shown);
	return false;
}

/* Parses a whole document for load: a JSON object of valid keys. NULL
 * with the reason printed (exit 2). */
static Objd__Value *
ctl_load_document(const char *name, const char *text, size_t len)
{
	Objd__Value *doc;
	char err[512];

	doc = json_to_value(text, len, err, sizeof(err));
	if (doc == NULL) {
		ctl_err(CTL_USAGE, "%s: %s; nothing was loaded", name, err);
		return NULL;
	}
	if (doc->kind_case != OBJD__VALUE__KIND_MAP_VALUE) {
		ctl_err(CTL_USAGE,
		    "%s: the document is %s %s, not a JSON object of keys "
		    "and values; nothing was loaded",
		    name, strchr("ai", value_type_name(doc)[0]) ? "an" : "a",
		    value_type_name(doc));
		value_free(doc);
		return NULL;
	}
	for (size_t i = 0; i < doc->map_value->n_fields; i++) {
		const char *key = doc->map_value->fields[i]->key;

		if (!ctl_load_key(name, key, strlen(key))) {
			value_free(doc);
			return NULL;
		}
	}
	return doc;
}

/* Loads a document read whole, in one batch. */
static int
ctl_load_whole(struct ctl *ctl, const char *name, const char *text, size_t len)
{
	Objd__Value *doc;
	Objd__MapValue *m;
	objd_op *ops;
	char **keys;
	int status;

	if ((doc = ctl_load_document(name, text, len)) == NULL)
		return CTL_USAGE;
	m = doc->map_value;
	ops = xcalloc(m->n_fields, sizeof(*ops));
	keys = xcalloc(m->n_fields, sizeof(*keys));
	/* The document's keys are top-level keys: as paths, escaped. */
	for (size_t i = 0; i < m->n_fields; i++) {
		keys[i] = keypath_escape(m->fields[i]->key,
		    strlen(m->fields[i]->key));
		ops[i].key = keys[i];
		ops[i].value = m->fields[i]->value;
	}
	if ((status = ctl_connect(ctl)) == OBJD_OK) {
		status = objd_batch(ctl->client, ops, m->n_fields, NULL, 0,
		    !ctl->merge);
		if (status != OBJD_OK)
			ctl_write_failed(ctl, status);
		else if (ctl->json)
			ctl_print_revision(ctl);
	}
	ctl_free_strs(keys, m->n_fields);
	free(ops);
	value_free(doc);
	return status;
}

/* The sets of one piece of a load, as the wire wants them. */
struct load_piece {
	Objd__Operation *ops;
	Objd__Operation **ptrs;
	Objd__Entry *entries;
	size_t n, cap;
	size_t bytes;     /* of its keys and values, packed */
	size_t in_flight; /* pieces sent and not answered */
};

/* Adds a set of key (escaped as a path, and taken) to value. */
static void
ctl_piece_add(struct load_piece *p, char *key, Objd__Value *value)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 1024;
		p->ops = xreallocarray(p->ops, p->cap, sizeof(*p->ops));
		p->ptrs = xreallocarray(p->ptrs, p->cap, sizeof(*p->ptrs));
		p->entries =
		    xreallocarray(p->entries, p->cap, sizeof(*p->entries));
	}
	objd__entry__init(&p->entries[p->n]);
	p->entries[p->n].key = key;
	p->entries[p->n].value = value;
	p->bytes += strlen(key) + value_packed_size(value);
	p->n++;
}

/* Empties p, freeing its keys and values. */
static void
ctl_piece_clear(struct load_piece *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->entries[i].key);
		value_free(p->entries[i].value);
	}
	p->n = 0;
	p->bytes = 0;
}

static void
ctl_piece_free(struct load_piece *p)
{
	ctl_piece_clear(p);
	free(p->ops);
	free(p->ptrs);
	free(p->entries);
}

/* Waits for answers until at most left pieces are unanswered; a status
 * other than OK is reported and returned. */
static int
ctl_piece_answers(struct ctl *ctl, struct load_piece *p, size_t left)
{
	Objd__Response *resp;
	int status;

	while (p->in_flight > left) {
		status = objd_receive(ctl->client, &resp);
		objd_response_free(resp);
		p->in_flight--;
		if (status != OBJD_OK)
			return ctl_write_failed(ctl, status);
	}
	return OBJD_OK;
}

/* Sends p's sets: staged, or with last as the batch that ends the load
 * and applies every piece. */
static int
ctl_piece_send(struct ctl *ctl, struct load_piece *p, bool last)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Batch batch = OBJD__BATCH__INIT;
	int status;

	for (size_t i = 0; i < p->n; i++) {
		objd__operation__init(&p->ops[i]);
		p->ops[i].op_case = OBJD__OPERATION__OP_SET;
		p->ops[i].set = &p->entries[i];
		p->ptrs[i] = &p->ops[i];
	}
	batch.n_operations = p->n;
	batch.operations = p->ptrs;
	if (last) {
		batch.replace = !ctl->merge;
		req.op_case = OBJD__REQUEST__OP_BATCH;
		req.batch = &batch;
	} else {
		req.op_case = OBJD__REQUEST__OP_STAGE;
		req.stage = &batch;
	}
	status = objd_send(ctl->client, &req);
	ctl_piece_clear(p);
	if (status != OBJD_OK)
		return ctl_write_failed(ctl, status);
	p->in_flight++;
	return ctl_piece_answers(ctl, p, last ? 0 : LOAD_IN_FLIGHT);
}

/* Loads a document too large to read whole: member by member, in
 * pieces. objd applies nothing until the last piece, so a failure on
 * the way (a bad member, objctl killed) leaves the object as it was. */
static int
ctl_load_stream(struct ctl *ctl, const char *name, int fd, char *buf,
    size_t len, size_t cap)
{
	struct json_members *jm = json_members_open(fd, buf, len, cap);
	struct load_piece p = { 0 };
	Objd__Value *value;
	size_t keylen;
	char err[1024], *key;
	int status, r;

	if ((status = ctl_connect(ctl)) != OBJD_OK) {
		json_members_close(jm);
		return status;
	}
	while (status == OBJD_OK) {
		r = json_members_next(jm, &key, &keylen, &value, err,
		    sizeof(err));
		if (r == -1) {
			status = ctl_err(CTL_USAGE,
			    "%s: %s; nothing was loaded", name, err);
			break;
		}
		if (r == 0) {
			status = ctl_piece_send(ctl, &p, true);
			if (status == OBJD_OK && ctl->json)
				ctl_print_revision(ctl);
			break;
		}
		if (!ctl_load_key(name, key, keylen)) {
			free(key);
			value_free(value);
			status = CTL_USAGE;
			break;
		}
		ctl_piece_add(&p, keypath_escape(key, keylen), value);
		free(key);
		if (p.bytes >= LOAD_PIECE_BYTES)
			status = ctl_piece_send(ctl, &p, false);
	}
	ctl_piece_free(&p);
	json_members_close(jm);
	return status;
}

static int
cmd_load(struct ctl *ctl, int argc, char **argv)
{
	const char *name = argc > 0 ? argv[0] : "-";
	size_t len, cap;
	char *buf;
	bool eof;
	int fd, status;

	if ((fd = ctl_load_open(name)) == -1)
		return CTL_USAGE;
	if (!ctl_read_upto(fd,
	        strcmp(name, "-") == 0 ? "the standard input" : name,
	        LOAD_WHOLE_MAX, &buf, &len, &cap, &eof)) {
		if (fd != STDIN_FILENO)
			close(fd);
		return CTL_USAGE;
	}
	if (strcmp(name, "-") == 0)
		name = "the standard input";
	if (eof) {
		status = ctl_load_whole(ctl, name, buf, len);
		free(buf);
	} else
		status = ctl_load_stream(ctl, name, fd, buf, len, cap);
	if (fd != STDIN_FILENO)
		close(fd);
	return status;
}

/* ISO 8601 in local time with the UTC offset, e.g.
 * 2024-05-01T12:00:00+02:00; "never" for 0. */
static void
ctl_format_time(char *buf, size_t len, double t)
{
	struct tm tm;
	time_t secs;
	char off[16];

	if (!(t > 0)) {
		snprintf(buf, len, "never");
		return;
	}
	/* objd's word is not trusted to fit a time_t. */
	secs = t < 253402300800.0 ? (time_t)t : 0;
	if (secs == 0 || localtime_r(&secs, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm) == 0 ||
	    strftime(off, sizeof(off), "%z", &tm) != 5) {
		snprintf(buf, len, "%.0f seconds since the epoch", t);
		return;
	}
	snprintf(buf + strlen(buf), len - strlen(buf), "%.3s:%s", off, off + 3);
}

static void
ctl_format_duration(char *buf, size_t len, double s)
{
	uint64_t n, d, h, m;

	if (!(s >= 0 && s < 1e15)) {
		snprintf(buf, len, "%g seconds", s);
		return;
	}
	if (s < 60) {
		snprintf(buf, len, "%.1fs", s);
		return;
	}
	n = (uint64_t)s;
	d = n / 86400;
	h = n / 3600 % 24;
	m = n / 60 % 60;
	if (d > 0)
		snprintf(buf, len, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m", d,
		    h, m);
	else if (h > 0)
		snprintf(buf, len, "%" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", h,
		    m, n % 60);
	else
		snprintf(buf, len, "%" PRIu64 "m %" PRIu64 "s", m, n % 60);
}

/* Prints "name: text", text escaped to keep the line one line. */
static void
ctl_print_field(const char *name, const char *text)
{
	char *shown = ctl_escape(text, false);

	printf("%s: %s\n", name, shown);
	free(shown);
}

static void
ctl_print_status_text(const Objd__StatusInfo *in)
{
	char buf[128];

	printf("pid: %" PRId64 "\n", in->pid);
	ctl_format_duration(buf, sizeof(buf), in->uptime);
	printf("uptime: %s\n", buf);
	ctl_print_field("version", in->version);
	ctl_print_field("file", in->file);
	ctl_print_field("socket", in->socket);
	printf("keys: %" PRIu64 "\n", in->keys);
	if (in->expiring_keys > 0 || in->held_keys > 0)
		printf("expiring keys: %" PRIu64 "\nheld keys: %" PRIu64 "\n",
		    in->expiring_keys, in->held_keys);
	printf("revision: %" PRIu64 "\n", in->revision);
	printf("clients: %" PRIu64 "\n", in->clients);
	if (in->reload_interval > 0)
		printf("reload interval: %gs\n", in->reload_interval);
	else
		printf("reload interval: never\n");
	ctl_format_time(buf, sizeof(buf), in->last_load);
	printf("last load: %s\n", buf);
	ctl_format_time(buf, sizeof(buf), in->last_save);
	printf("last save: %s\n", buf);
	if (in->file_room > 0)
		printf("file size: %" PRIu64 " (room after it: %" PRIu64 ")\n",
		    in->file_size, in->file_room);
	else
		printf("file size: %" PRIu64 "\n", in->file_size);
	printf("commits: %" PRIu64 "\n", in->commits);
	printf("history: %" PRIu64 " versions a key\n", in->history_depth);
	if (in->commit_waits > 0)
		printf("commit waits: %" PRIu64 " (%" PRIu64 " ran out)\n",
		    in->commit_waits, in->commit_waits_expired);
	ctl_print_field("fsync", in->fsync);
	ctl_format_time(buf, sizeof(buf), in->last_compaction);
	printf("last compaction: %s\n", buf);
	if (in->recovered_bytes > 0)
		printf("torn bytes cut at start: %" PRIu64 "\n",
		    in->recovered_bytes);
	if (*in->last_reload_error != '\0')
		ctl_print_field("last reload error", in->last_reload_error);
	if (*in->rejected_file != '\0')
		ctl_print_field("rejected file", in->rejected_file);
	if (*in->last_write_error != '\0')
		ctl_print_field("last write error", in->last_write_error);
	if (*in->backend != '\0')
		ctl_print_field("backend", in->backend);
	if (in->etcd != NULL) {
		const Objd__EtcdStatus *e = in->etcd;

		ctl_format_time(buf, sizeof(buf), e->since);
		printf("etcd: %s since %s, via %s, prefix %s\n",
		    e->reachable ? "reachable" : "unreachable", buf,
		    e->endpoint, e->prefix);
		ctl_format_time(buf, sizeof(buf), e->last_contact);
		printf("etcd last contact: %s\n", buf);
		printf("etcd revisions: cache %" PRIu64 ", etcd %" PRIu64 "\n",
		    e->cache_revision, e->etcd_revision);
		printf("etcd reconnects: %" PRIu64 ", resyncs: %" PRIu64 "\n",
		    e->reconnects, e->resyncs);
	}
}

/* An empty text is "none": null in JSON. */
static Objd__Value *
ctl_text(const char *s)
{
	return *s ? value_new_string(s, strlen(s)) : value_new_null();
}

static Objd__Value *
ctl_time_value(double t)
{
	char buf[64];

	if (!(t > 0))
		return value_new_null();
	ctl_format_time(buf, sizeof(buf), t);
	return value_new_string(buf, strlen(buf));
}

static void
ctl_print_status_json(const Objd__StatusInfo *in)
{
	Objd__Value *m = value_new_map();

	ctl_add(m, "pid", value_new_int(in->pid));
	ctl_add(m, "uptime", value_new_double(in->uptime));
	ctl_add(m, "version",
	    value_new_string(in->version, strlen(in->version)));
	ctl_add(m, "file", value_new_string(in->file, strlen(in->file)));
	ctl_add(m, "socket", value_new_string(in->socket, strlen(in->socket)));
	ctl_add(m, "keys", ctl_uint(in->keys));
	ctl_add(m, "revision", ctl_uint(in->revision));
	ctl_add(m, "clients", ctl_uint(in->clients));
	ctl_add(m, "reload_interval", value_new_double(in->reload_interval));
	ctl_add(m, "last_load", ctl_time_value(in->last_load));
	ctl_add(m, "last_save", ctl_time_value(in->last_save));
	ctl_add(m, "last_reload_error", ctl_text(in->last_reload_error));
	ctl_add(m, "rejected_file", ctl_text(in->rejected_file));
	ctl_add(m, "file_size", ctl_uint(in->file_size));
	ctl_add(m, "file_room", ctl_uint(in->file_room));
	ctl_add(m, "fsync", value_new_string(in->fsync, strlen(in->fsync)));
	ctl_add(m, "last_compaction", ctl_time_value(in->last_compaction));
	ctl_add(m, "recovered_bytes", ctl_uint(in->recovered_bytes));
	ctl_add(m, "last_write_error", ctl_text(in->last_write_error));
	ctl_add(m, "commits", ctl_uint(in->commits));
	ctl_add(m, "commit_waits", ctl_uint(in->commit_waits));
	ctl_add(m, "commit_waits_expired", ctl_uint(in->commit_waits_expired));
	ctl_add(m, "history_depth", ctl_uint(in->history_depth));
	ctl_add(m, "expiring_keys", ctl_uint(in->expiring_keys));
	ctl_add(m, "held_keys", ctl_uint(in->held_keys));
	ctl_add(m, "backend", ctl_text(in->backend));
	if (in->etcd != NULL) {
		const Objd__EtcdStatus *e = in->etcd;
		Objd__Value *em = value_new_map();

		ctl_add(em, "endpoint", ctl_text(e->endpoint));
		ctl_add(em, "prefix", ctl_text(e->prefix));
		ctl_add(em, "reachable", value_new_bool(e->reachable));
		ctl_add(em, "since", ctl_time_value(e->since));
		ctl_add(em, "last_contact", ctl_time_value(e->last_contact));
		ctl_add(em, "cache_revision", ctl_uint(e->cache_revision));
		ctl_add(em, "etcd_revision", ctl_uint(e->etcd_revision));
		ctl_add(em, "reconnects", ctl_uint(e->reconnects));
		ctl_add(em, "resyncs", ctl_uint(e->resyncs));
		ctl_add(em, "cluster_id", ctl_uint(e->cluster_id));
		ctl_add(m, "etcd", em);
	} else
		ctl_add(m, "etcd", value_new_null());
	ctl_print_json(m, 2);
}

/* status --file: what the file tells, in the names of objd's status
 * where they are the same. */
static void
ctl_print_file_status(struct ctl *ctl)
{
	const struct ctl_file *f = &ctl->offline;
	uint64_t room = f->scan.padded ? f->len - f->scan.good_end : 0;
	uint64_t torn =
	    f->scan.result == SCAN_TORN ? f->len - f->scan.good_end : 0;
	Objd__Value *m;

	if (ctl->json) {
		m = value_new_map();
		ctl_add(m, "file", value_new_string(f->path, strlen(f->path)));
		ctl_add(m, "file_size", ctl_uint(f->scan.good_end));
		ctl_add(m, "file_room", ctl_uint(room));
		ctl_add(m, "keys", ctl_uint(ctl_file_keys(f)));
		ctl_add(m, "revision", ctl_uint(f->scan.revision));
		ctl_add(m, "commits", ctl_uint(f->scan.commits));
		ctl_add(m, "torn_bytes", ctl_uint(torn));
		ctl_add(m, "compressed", value_new_bool(f->scan.compressed));
		ctl_add(m, "objd_format", value_new_bool(f->scan.ours));
		ctl_print_json(m, 2);
		return;
	}
	ctl_print_field("file", f->path);
	if (room > 0)
		printf("file size: %zu (room after it: %" PRIu64 ")\n",
		    f->scan.good_end, room);
	else
		printf("file size: %zu\n", f->scan.good_end);
	printf("keys: %zu\n", ctl_file_keys(f));
	printf("revision: %" PRIu64 "\n", f->scan.revision);
	printf("commits: %" PRIu64 "\n", f->scan.commits);
	if (torn > 0)
		printf("torn bytes at the end: %" PRIu64 "\n", torn);
	printf("compressed: %s\n", f->scan.compressed ? "yes" : "no");
	if (!f->scan.ours)
		printf("format: another program's (objd rewrites it in its "
		       "own when it loads it)\n");
}

static int
cmd_status(struct ctl *ctl, int argc, char **argv)
{
	Objd__Response *resp;
	int status;

	if ((status = ctl_source(ctl)) != OBJD_OK)
		return status;
	if (ctl->file != NULL) {
		ctl_print_file_status(ctl);
		return OBJD_OK;
	}
	if ((status = objd_status(ctl->client, &resp)) != OBJD_OK) {
		objd_response_free(resp);
		return ctl_call_failed(ctl, status);
	}
	if (ctl->json)
		ctl_print_status_json(resp->info);
	else
		ctl_print_status_text(resp->info);
	objd_response_free(resp);
	return OBJD_OK;
}

/* A version's time: ISO 8601 in UTC; "-" (null in JSON) if unknown. */
static void
ctl_format_utc(char *buf, size_t len, int64_t t)
{
	time_t secs = (time_t)t;
	struct tm tm;

	if (t <= 0 || t >= 253402300800 || gmtime_r(&secs, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "-");
}

static const char *
ctl_what_name(Objd__Version__What what)
{
	switch (what) {
	case OBJD__VERSION__WHAT__SET:
		return "set";
	case OBJD__VERSION__WHAT__DELETE:
		return "delete";
	case OBJD__VERSION__WHAT__EXPIRE:
		return "expire";
	default:
		return "unknown";
	}
}

static void
ctl_print_version(struct ctl *ctl, Objd__Version *v)
{
	char when[64], *text;
	Objd__Value *m;

	ctl_format_utc(when, sizeof(when), v->time);
	if (ctl->json) {
		m = value_new_map();
		ctl_add(m, "revision", ctl_uint(v->revision));
		ctl_add(m, "time",
		    v->time > 0 && strcmp(when, "-") != 0
		        ? value_new_string(when, strlen(when))
		        : value_new_null());
		ctl_add(m, "what",
		    value_new_string(ctl_what_name(v->what),
		        strlen(ctl_what_name(v->what))));
		if (v->value != NULL) {
			ctl_add(m, "value", v->value);
			v->value = NULL; /* the map's now */
		}
		ctl_print_json(m, 0);
		return;
	}
	printf("%" PRIu64 " %s %s", v->revision, when, ctl_what_name(v->what));
	if (v->value == NULL) {
		printf("\n");
		return;
	}
	/* The value as get prints it: a string raw, the rest as JSON. */
	if (v->value->kind_case == OBJD__VALUE__KIND_STRING_VALUE)
		printf(" %s\n", v->value->string_value);
	else {
		text = json_from_value(v->value, 0);
		printf(" %s\n", text);
		free(text);
	}
}

static int
cmd_history(struct ctl *ctl, int argc, char **argv)
{
	Objd__Response *resp;
	char *path;
	int status;

	if ((status = ctl_key_arg(argv[0], &path)) != 0)
		return status;
	if ((status = ctl_connect(ctl)) != OBJD_OK) {
		free(path);
		return status;
	}
	status = objd_history(ctl->client, path, &resp);
	free(path);
	if (status != OBJD_OK) {
		objd_response_free(resp);
		return ctl_call_failed(ctl, status);
	}
	for (size_t i = 0; i < resp->n_versions; i++)
		ctl_print_version(ctl, resp->versions[i]);
	objd_response_free(resp);
	return OBJD_OK;
}

static int
cmd_revert(struct ctl *ctl, int argc, char **argv)
{
	uint64_t rev;
	Objd__Value *v = NULL;
	objd_op op = { 0 };
	char *path;
	const char *why;
	int status;

	if ((status = ctl_key_arg(argv[0], &path)) != 0)
		return status;
	if (ctl_set_uint("revert", "a revision", argv[1], &rev) != 0 ||
	    rev == 0) {
		free(path);
		return ctl_err(CTL_USAGE,
		    "usage: objctl revert KEY REV (REV a revision from 1 on)");
	}
	if ((status = ctl_connect(ctl)) != OBJD_OK) {
		free(path);
		return status;
	}
	status = objd_get_at(ctl->client, path, rev, &v, NULL);
	why = objd_client_error(ctl->client);
	/* Absent then: deleted now. A history that does not reach back so
	 * far is an error. */
	if (status == OBJD_NOT_FOUND && strstr(why, "older than") != NULL) {
		free(path);
		return ctl_call_failed(ctl, status);
	}
	if (status != OBJD_OK && status != OBJD_NOT_FOUND) {
		free(path);
		return ctl_call_failed(ctl, status);
	}
	/* Absent then and now, unconditionally: nothing to change. */
	if (v == NULL && !ctl->if_revision_set) {
		Objd__Value *now = NULL;

		status = objd_get(ctl->client, path, &now);
		objd_value_free(now);
		if (status != OBJD_OK) {
			free(path);
			if (status != OBJD_NOT_FOUND)
				return ctl_call_failed(ctl, status);
			if (ctl->json)
				ctl_print_revision(ctl);
			return OBJD_OK;
		}
	}
	op.key = path;
	op.value = v;
	status = ctl_write(ctl, &op, &path, 1);
	objd_value_free(v);
	free(path);
	return status;
}

static int
cmd_reload(struct ctl *ctl, int argc, char **argv)
{
	int status;

	if ((status = ctl_connect(ctl)) != OBJD_OK)
		return status;
	if ((status = objd_reload(ctl->client)) != OBJD_OK)
		return ctl_call_failed(ctl, status);
	if (ctl->json)
		ctl_print_revision(ctl);
	return OBJD_OK;
}

static int
cmd_compact(struct ctl *ctl, int argc, char **argv)
{
	int status;

	if ((status = ctl_connect(ctl)) != OBJD_OK)
		return status;
	if ((status = objd_compact(ctl->client)) != OBJD_OK)
		return ctl_call_failed(ctl, status);
	if (ctl->json)
		ctl_print_revision(ctl);
	return OBJD_OK;
}

static int
cmd_ping(struct ctl *ctl, int argc, char **argv)
{
	Objd__Value *m;
	int status;

	if ((status = ctl_connect(ctl)) != OBJD_OK)
		return status;
	if ((status = objd_ping(ctl->client)) != OBJD_OK)
		return ctl_call_failed(ctl, status);
	if (ctl->json) {
		m = value_new_map();
		ctl_add(m, "ok", value_new_bool(true));
		ctl_print_json(m, 0);
	} else
		printf("pong\n");
	return OBJD_OK;
}

/* check's report of a file that is not sound: the class of damage,
 * where, and what --fix would do about it. */
static void
ctl_check_report(const struct ctl_file *f)
{
	const struct scan_report *r = &f->scan;
	char *shown = ctl_escape(f->path, false);

	printf("%s: %s at byte %zu: %s\n", shown, ctl_file_damage_name(r),
	    r->at, r->why);
	printf("%s: %" PRIu64 " good commits up to byte %zu (revision %" PRIu64
	       "), %zu bytes in all\n",
	    shown, r->commits, r->good_end, r->revision, f->len);
	if (r->result == SCAN_TORN && r->ours)
		printf("%s: the %zu bytes after byte %zu are a torn tail, "
		       "which objd cuts at start (keeping them aside), as "
		       "objctl check --fix does\n",
		    shown, f->len - r->good_end, r->good_end);
	else
		printf("%s: not a torn tail, which a crash leaves: cutting "
		       "would drop acknowledged changes, so neither objd nor "
		       "--fix does; restore a copy of the file, or move it "
		       "aside\n",
		    shown);
	free(shown);
}

static void
ctl_check_sound(const struct ctl_file *f)
{
	char *shown = ctl_escape(f->path, false);

	printf("%s: sound: %" PRIu64 " commits, revision %" PRIu64
	       ", %zu keys, %zu bytes%s%s\n",
	    shown, f->scan.commits, f->scan.revision, ctl_file_keys(f),
	    f->scan.good_end, f->scan.compressed ? ", compressed" : "",
	    f->scan.ours ? "" : " (another program's format)");
	free(shown);
}

/* Cuts the file read back to its last good commit, through a descriptor
 * of the same file that may write. */
static int
ctl_cut(const struct ctl_file *f, char *err, size_t errlen)
{
	struct stat read_st, st;
	int fd = open(f->path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW), rc = -1;

	if (fd == -1 || fstat(fd, &st) == -1 || fstat(f->fd, &read_st) == -1)
		snprintf(err, errlen, "cannot cut %s back: %s", f->path,
		    strerror(errno));
	else if (st.st_dev != read_st.st_dev || st.st_ino != read_st.st_ino)
		snprintf(err, errlen,
		    "%s was replaced while objctl read it: nothing was cut",
		    f->path);
	else if (ftruncate(fd, (off_t)f->scan.good_end) == -1 ||
	    fsync(fd) == -1)
		snprintf(err, errlen, "cannot cut %s back: %s", f->path,
		    strerror(errno));
	else
		rc = 0;
	if (fd != -1)
		close(fd);
	return rc;
}

/* check --fix: cuts a torn tail back to the last good commit, under
 * objd's lock, keeping the cut bytes beside the file as objd does. */
static int
ctl_check_fix(struct ctl *ctl, const char *path)
{
	struct ctl_file *f = &ctl->offline;
	char err[1024], *kept, *shown;
	bool created;
	int lock_fd, status;

	if ((status = ctl_file_lock(path, &lock_fd, &created, err,
	         sizeof(err))) != OBJD_OK)
		return ctl_err(status, "%s", err);
	/* Read again under the lock: no objd changes it from now on. */
	ctl_file_free(f);
	status = ctl_file_scan(path, f, err, sizeof(err));
	if (status == OBJD_OK && f->scan.result == SCAN_OK) {
		ctl_file_unlock(path, lock_fd, created);
		ctl_check_sound(f);
		return OBJD_OK;
	}
	if (status == OBJD_OK && f->scan.result == SCAN_TORN && f->scan.ours) {
		kept = objfile_keep_tail(path, f->buf + f->scan.good_end,
		    f->len - f->scan.good_end, err, sizeof(err));
		if (kept == NULL)
			status = OBJD_FAILED;
		else if (ctl_cut(f, err, sizeof(err)) == -1)
			status = OBJD_FAILED;
		else {
			shown = ctl_escape(path, false);
			printf("%s: cut %zu bytes back to the last good commit "
			       "at byte %zu (revision %" PRIu64
			       "); they are kept in %s\n",
			    shown, f->len - f->scan.good_end, f->scan.good_end,
			    f->scan.revision, kept);
			free(shown);
		}
		free(kept);
	} else if (status == OBJD_OK) {
		ctl_check_report(f);
		snprintf(err, sizeof(err),
		    "%s: --fix cuts only a torn tail; the file is left as it "
		    "was",
		    path);
		status = OBJD_FAILED;
	}
	ctl_file_unlock(path, lock_fd, created);
	if (status != OBJD_OK)
		return ctl_err(status, "%s", err);
	return OBJD_OK;
}

static int
cmd_check(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_file *f = &ctl->offline;
	char err[1024];
	int status;

	if (ctl->fix)
		return ctl_check_fix(ctl, argv[0]);
	if ((status = ctl_file_scan(argv[0], f, err, sizeof(err))) != OBJD_OK)
		return ctl_err(status, "%s", err);
	if (f->scan.result != SCAN_OK) {
		ctl_check_report(f);
		return OBJD_FAILED;
	}
	ctl_check_sound(f);
	return OBJD_OK;
}

/* edit: the text being edited, and what it started from. */
struct ctl_edit {
	const char *key;     /* KEY as given, or NULL for the object */
	char *path;          /* KEY as objd reads it */
	char *file;          /* the temporary file */
	char *text;          /* what it held at first */
	Objd__Response *all; /* the object, without KEY */
	Objd__Value *value;  /* KEY's value */
	uint64_t revision;   /* the object's when read */
	bool keep;           /* the file holds text that was not applied */
};

/* Reads what is to be edited and its revision. */
static int
ctl_edit_read(struct ctl *ctl, struct ctl_edit *ed)
{
	char *shown;
	int status;

	if (ed->key == NULL) {
		status = objd_get_all(ctl->client, &ed->all);
		if (status != OBJD_OK)
			return ctl_call_failed(ctl, status);
		ed->text =
		    json_from_entries(ed->all->entries, ed->all->n_entries, 2);
	} else {
		status = objd_get(ctl->client, ed->path, &ed->value);
		if (status == OBJD_NOT_FOUND) {
			shown = ctl_escape(ed->key, false);
			ctl_err(status, "key not found: %s", shown);
			free(shown);
			return status;
		}
		if (status != OBJD_OK)
			return ctl_call_failed(ctl, status);
		ed->text = json_from_value(ed->value, 2);
	}
	ed->revision = objd_client_revision(ctl->client);
	ed->text = xrealloc(ed->text, strlen(ed->text) + 2);
	strcat(ed->text, "\n");
	return OBJD_OK;
}

/* Puts the text in a new file of this user's alone. */
static int
ctl_edit_file(struct ctl_edit *ed)
{
	const char *tmp = getenv("TMPDIR");
	size_t len = strlen(ed->text);
	int fd;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	ed->file = xasprintf("%s/objctl-edit-XXXXXX.json", tmp);
	if ((fd = mkstemps(ed->file, 5)) == -1)
		return ctl_err(OBJD_FAILED, "cannot make a file in %s: %s", tmp,
		    strerror(errno));
	if (write(fd, ed->text, len) != (ssize_t)len || close(fd) == -1) {
		ctl_err(OBJD_FAILED, "cannot write %s: %s", ed->file,
		    strerror(errno));
		unlink(ed->file);
		return OBJD_FAILED;
	}
	return OBJD_OK;
}

/* Runs $VISUAL, else $EDITOR, else vi, on the file, through the shell
 * as git does, so that EDITOR="code --wait" works. */
static int
ctl_run_editor(const char *file)
{
	const char *editor = getenv("VISUAL");
	pid_t pid;
	int wstatus;

	if (editor == NULL || *editor == '\0')
		editor = getenv("EDITOR");
	if (editor == NULL || *editor == '\0')
		editor = "vi";
	fflush(stdout);
	if ((pid = fork()) == -1)
		return ctl_err(OBJD_FAILED, "cannot start %s: %s", editor,
		    strerror(errno));
	if (pid == 0) {
		char *cmd = xasprintf("%s \"$@\"", editor);

		execl("/bin/sh", "sh", "-c", cmd, editor, file, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &wstatus, 0) == -1)
		if (errno != EINTR)
			return ctl_err(OBJD_FAILED, "cannot wait for %s: %s",
			    editor, strerror(errno));
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
		return OBJD_OK;
	return ctl_err(OBJD_FAILED,
	    "the editor (%s) failed (%s %d): nothing was changed", editor,
	    WIFEXITED(wstatus) ? "exit" : "signal",
	    WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WTERMSIG(wstatus));
}

/* Whether a and b are the same value, types included. */
static bool
ctl_same_value(const Objd__Value *a, const Objd__Value *b)
{
	char *x = json_from_value(a, 0), *y = json_from_value(b, 0);
	bool same = strcmp(x, y) == 0;

	free(x);
	free(y);
	return same;
}

static const Objd__Value *
ctl_member(const Objd__Value *map, const char *key)
{
	for (size_t i = 0; i < map->map_value->n_fields; i++)
		if (strcmp(map->map_value->fields[i]->key, key) == 0)
			return map->map_value->fields[i]->value;
	return NULL;
}

/* The changes from the object read to doc: sets of the keys changed or
 * new, deletes of the keys gone. paths[] are the keys as paths. */
static size_t
ctl_edit_diff(const struct ctl_edit *ed, const Objd__Value *doc, objd_op *ops,
    char **paths)
{
	const Objd__MapValue *m = doc->map_value;
	const Objd__Entry *old;
	size_t n = 0, k;

	for (size_t i = 0; i < m->n_fields; i++) {
		for (k = 0, old = NULL; k < ed->all->n_entries && old == NULL;
		     k++)
			if (strcmp(ed->all->entries[k]->key,
			        m->fields[i]->key) == 0)
				old = ed->all->entries[k];
		if (old != NULL &&
		    ctl_same_value(old->value, m->fields[i]->value))
			continue;
		paths[n] = keypath_escape(m->fields[i]->key,
		    strlen(m->fields[i]->key));
		ops[n].key = paths[n];
		ops[n++].value = m->fields[i]->value;
	}
	for (k = 0; k < ed->all->n_entries; k++) {
		if (ctl_member(doc, ed->all->entries[k]->key) != NULL)
			continue;
		paths[n] = keypath_escape(ed->all->entries[k]->key,
		    strlen(ed->all->entries[k]->key));
		ops[n].key = paths[n];
		ops[n++].value = NULL;
	}
	return n;
}

/* The edited text as a document: NULL with the reason in err. */
static Objd__Value *
ctl_edit_parse(const struct ctl_edit *ed, const char *text, size_t len,
    char *err, size_t errlen)
{
	Objd__Value *doc = json_to_value(text, len, err, errlen);
	char why[256], *shown;

	if (doc == NULL || ed->key != NULL)
		return doc;
	if (doc->kind_case != OBJD__VALUE__KIND_MAP_VALUE) {
		snprintf(err, errlen,
		    "the object must stay a JSON object of keys and values, "
		    "not %s",
		    value_type_name(doc));
		value_free(doc);
		return NULL;
	}
	for (size_t i = 0; i < doc->map_value->n_fields; i++) {
		const char *key = doc->map_value->fields[i]->key;

		if (key_valid(key, strlen(key), why, sizeof(why)))
			continue;
		shown = ctl_escape(key, false);
		snprintf(err, errlen, "invalid key \"%s\": %s", shown, why);
		free(shown);
		value_free(doc);
		return NULL;
	}
	return doc;
}

/* Asks on the terminal whether to edit again. */
static bool
ctl_ask_again(void)
{
	char line[64];

	if (!isatty(STDIN_FILENO))
		return false;
	fputs("objctl: edit again? [Y/n] ", stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return false;
	return line[0] != 'n' && line[0] != 'N';
}

/* Applies doc as one change at the revision read. */
static int
ctl_edit_apply(struct ctl *ctl, struct ctl_edit *ed, const Objd__Value *doc)
{
	size_t n = ed->all != NULL ? ed->all->n_entries : 0;
	size_t cap = n +
	    (doc->kind_case == OBJD__VALUE__KIND_MAP_VALUE
	            ? doc->map_value->n_fields
	            : 0) +
	    1;
	objd_op *ops = xcalloc(cap, sizeof(*ops));
	char **paths = xcalloc(cap, sizeof(*paths));
	int status;

	if (ed->key != NULL) {
		n = ctl_same_value(ed->value, doc) ? 0 : 1;
		ops[0].key = ed->path;
		ops[0].value = doc;
	} else
		n = ctl_edit_diff(ed, doc, ops, paths);
	if (n == 0) {
		fprintf(stderr, "objctl: no change: nothing was changed\n");
		status = OBJD_OK;
	} else if ((status = objd_batch_at(ctl->client, ops, n,
	                ed->revision)) != OBJD_OK) {
		ctl_write_failed(ctl, status);
		ctl_err(status,
		    "nothing was changed; the edited text is kept in %s",
		    ed->file);
		ed->keep = true;
	} else if (ctl->json)
		ctl_print_revision(ctl);
	ctl_free_strs(paths, cap);
	free(ops);
	return status;
}

/* The edited file, whole; NULL with the reason printed. */
static char *
ctl_edit_text(const char *name, size_t *len)
{
	size_t cap;
	char *buf;
	bool eof;
	int fd;

	if ((fd = ctl_load_open(name)) == -1)
		return NULL;
	if (!ctl_read_upto(fd, name, SIZE_MAX, &buf, len, &cap, &eof))
		buf = NULL;
	close(fd);
	return buf;
}

static int
ctl_edit_loop(struct ctl *ctl, struct ctl_edit *ed)
{
	char err[512], *text;
	Objd__Value *doc;
	size_t len;
	int status;

	for (;;) {
		if ((status = ctl_run_editor(ed->file)) != OBJD_OK)
			return status;
		if ((text = ctl_edit_text(ed->file, &len)) == NULL)
			return OBJD_FAILED;
		if (len == strlen(ed->text) &&
		    memcmp(text, ed->text, len) == 0) {
			free(text);
			fprintf(stderr,
			    "objctl: no change: nothing was "
			    "changed\n");
			return OBJD_OK;
		}
		doc = ctl_edit_parse(ed, text, len, err, sizeof(err));
		free(text);
		if (doc != NULL)
			break;
		ctl_err(CTL_USAGE, "%s: %s", ed->file, err);
		ed->keep = !ctl_ask_again();
		if (ed->keep)
			return ctl_err(CTL_USAGE,
			    "nothing was changed; the edited text is kept in "
			    "%s",
			    ed->file);
	}
	status = ctl_edit_apply(ctl, ed, doc);
	value_free(doc);
	return status;
}

static int
cmd_edit(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_edit ed = { .key = argc > 0 ? argv[0] : NULL };
	int status;

	if (ed.key != NULL && (status = ctl_key_arg(ed.key, &ed.path)) != 0)
		return status;
	if ((status = ctl_connect(ctl)) == OBJD_OK &&
	    (status = ctl_edit_read(ctl, &ed)) == OBJD_OK &&
	    (status = ctl_edit_file(&ed)) == OBJD_OK) {
		status = ctl_edit_loop(ctl, &ed);
		/* The text stays when it was not applied, for another try. */
		if (!ed.keep)
			unlink(ed.file);
	}
	free(ed.path);
	free(ed.file);
	free(ed.text);
	objd_response_free(ed.all);
	value_free(ed.value);
	return status;
}

/* A full disk or a closed pipe must not pass for success. */
static int
ctl_flush(int status)
{
	if (fflush(stdout) == EOF || ferror(stdout))
		return ctl_err(status == OBJD_OK ? OBJD_FAILED : status,
		    "cannot write the output: %s", strerror(errno));
	return status;
}

int
main(int argc, char **argv)
{
	struct ctl ctl = { .timeout = CTL_TIMEOUT_DEFAULT };
	const struct ctl_cmd *cmd;
	int i = 1, rc, status, nargs;
	bool ended;
	char **args;

	log_init("objctl", 0);
	if ((rc = ctl_parse_opts(&ctl, NULL, argc, argv, &i, &ended)) != 0)
		return ctl_flush(rc < 0 ? 0 : rc);
	if (i == argc)
		return ctl_err(CTL_USAGE,
		    "no command given (see objctl --help)");
	if ((cmd = ctl_find_cmd(argv[i])) == NULL) {
		char *shown = ctl_escape(argv[i], false);

		ctl_err(CTL_USAGE, "unknown command '%s' (see objctl --help)",
		    shown);
		free(shown);
		return CTL_USAGE;
	}
	args = xreallocarray(NULL, (size_t)argc, sizeof(*args));
	rc = ctl_parse_args(&ctl, cmd, argc, argv, i + 1, args, &nargs);
	if (rc == 0)
		rc = ctl_check_count(cmd, nargs);
	if (rc == 0 && ctl.file != NULL && cmd->fn == cmd_check)
		rc = ctl_err(CTL_USAGE, "usage: objctl check [--fix] PATH");
	else if (rc == 0 && ctl.file != NULL && !cmd->offline)
		rc = ctl_err(CTL_USAGE,
		    "--file reads a file for get, list, dump and status; %s "
		    "needs objd",
		    cmd->name);
	if (rc != 0) {
		free(args);
		return ctl_flush(rc < 0 ? 0 : rc);
	}
	status = cmd->fn(&ctl, nargs, args);
	objd_close(ctl.client);
	ctl_file_free(&ctl.offline);
	free(args);
	return ctl_flush(status);
}
