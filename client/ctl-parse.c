/* SPDX-License-Identifier: ISC */
/* ctl-parse.c: objctl's grammar. It is two tables, the options and the
 * commands; --help is printed from them, so a command is added by adding
 * a row and its function. Options may come anywhere after the command,
 * up to "--" (the global ones before it too); a number is never taken
 * for one, so that "objctl set k -5" stores -5.
 *
 * Keys are paths (keypath.h), passed to objd as they are, except that
 * objctl reads the escapes that list prints for control characters (\n,
 * \t, \u0001), so that every line list prints is a KEY again. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "keypath.h"
#include "paths.h"
#include "utf8.h"
#include "version.h"
#include "xmalloc.h"

/* About 31 years: beyond that a timeout means nothing. */
#define CTL_TIMEOUT_MAX 1e9

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
	OPT_CONSISTENT,
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
	    "get, list, dump, history, status: read the object file PATH, "
	    "without objd" },
	{ "fix", 0, NULL, OPT_FIX, false,
	    "check: cut a torn tail back to the last good commit" },
	{ "ttl", 0, "SECONDS", OPT_TTL, false,
	    "set: the keys expire SECONDS later (fractions allowed)" },
	{ "at", 0, "REV", OPT_AT, false,
	    "get: the object or KEY as it was at revision REV" },
	{ "consistent", 0, NULL, OPT_CONSISTENT, false,
	    "get: after a quorum read of etcd (objd --etcd)" },
	{ "help", 'h', NULL, OPT_HELP, true, "print this help" },
	{ "version", 0, NULL, OPT_VERSION, true, "print objctl's version" },
};

#define CTL_CONDS ((1u << OPT_IF_REVISION) | (1u << OPT_IF_ABSENT))

static const struct ctl_cmd ctl_cmds[] = {
	{ "get", 0, 1, "[OPTIONS] [KEY]",
	    "print the whole object, or the value of KEY",
	    (1u << OPT_META) | (1u << OPT_AT) | (1u << OPT_CONSISTENT), cmd_get,
	    true },
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
	    true },
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
	      "       objctl --file PATH get|list|dump|history|status "
	      "[ARGS...]\n"
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
int
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
	case OPT_CONSISTENT:
		ctl->consistent = true;
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

int
ctl_parse(struct ctl *ctl, int argc, char **argv, const struct ctl_cmd **cmd,
    char ***args, int *nargs)
{
	int i = 1, rc;
	bool ended;
	char *shown;

	*args = NULL;
	if ((rc = ctl_parse_opts(ctl, NULL, argc, argv, &i, &ended)) != 0)
		return rc;
	if (i == argc)
		return ctl_err(CTL_USAGE,
		    "no command given (see objctl --help)");
	if ((*cmd = ctl_find_cmd(argv[i])) == NULL) {
		shown = ctl_escape(argv[i], false);
		ctl_err(CTL_USAGE, "unknown command '%s' (see objctl --help)",
		    shown);
		free(shown);
		return CTL_USAGE;
	}
	*args = xreallocarray(NULL, (size_t)argc, sizeof(**args));
	rc = ctl_parse_args(ctl, *cmd, argc, argv, i + 1, *args, nargs);
	if (rc == 0)
		rc = ctl_check_count(*cmd, *nargs);
	if (rc == 0 && ctl->file != NULL && (*cmd)->fn == cmd_check)
		rc = ctl_err(CTL_USAGE, "usage: objctl check [--fix] PATH");
	else if (rc == 0 && ctl->file != NULL && !(*cmd)->offline)
		rc = ctl_err(CTL_USAGE,
		    "--file reads a file for get, list, dump, history and "
		    "status; %s "
		    "needs objd",
		    (*cmd)->name);
	if (rc != 0) {
		free(*args);
		*args = NULL;
	}
	return rc;
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
int
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
int
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
int
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

void
ctl_free_strs(char **strs, size_t n)
{
	for (size_t i = 0; strs != NULL && i < n; i++)
		free(strs[i]);
	free(strs);
}
