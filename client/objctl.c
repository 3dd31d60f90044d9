/* objctl.c: the command line client of objd, a thin layer over libobjd.
 *
 * The grammar is two tables, the options and the commands; --help is
 * printed from them, so a command is added by adding a row and its
 * function. Options go before the command or right after it: a
 * command's arguments are never taken for options, so that
 * "objctl set k -5" stores -5. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "key.h"
#include "log.h"
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
	bool string; /* set -s: every VALUE is a string */
	objd_client *client;
};

enum ctl_opt_id {
	OPT_SOCKET,
	OPT_JSON,
	OPT_TIMEOUT,
	OPT_STRING,
	OPT_HELP,
	OPT_VERSION
};

struct ctl_opt {
	const char *name; /* the long name, without "--" */
	char letter; /* the short name, or 0 */
	const char *arg; /* the argument's name, or NULL for none */
	enum ctl_opt_id id;
	bool global; /* false: only for commands that list it */
	const char *help;
};

static const struct ctl_opt ctl_opts[] = {
	{ "socket", 0, "PATH", OPT_SOCKET, true, "objd's socket" },
	{ "json", 0, NULL, OPT_JSON, true, "print answers as JSON" },
	{ "timeout", 0, "SECONDS", OPT_TIMEOUT, true,
	    "wait at most SECONDS for objd; 0: forever (default 30)" },
	{ "string", 's', NULL, OPT_STRING, false,
	    "set: store every VALUE as the string given" },
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
};

static int cmd_get(struct ctl *, int, char **);
static int cmd_set(struct ctl *, int, char **);
static int cmd_del(struct ctl *, int, char **);
static int cmd_list(struct ctl *, int, char **);
static int cmd_status(struct ctl *, int, char **);
static int cmd_reload(struct ctl *, int, char **);
static int cmd_compact(struct ctl *, int, char **);
static int cmd_ping(struct ctl *, int, char **);

static const struct ctl_cmd ctl_cmds[] = {
	{ "get", 0, 1, "[KEY]", "print the whole object, or the value of KEY",
	    0, cmd_get },
	{ "set", 2, -1, "[-s] KEY VALUE [KEY VALUE...]",
	    "set keys in one atomic change", 1u << OPT_STRING, cmd_set },
	{ "del", 1, -1, "KEY...", "delete keys in one atomic change", 0,
	    cmd_del },
	{ "list", 0, 1, "[PREFIX]", "print the keys, one a line, sorted", 0,
	    cmd_list },
	{ "status", 0, 0, "", "print objd's state", 0, cmd_status },
	{ "reload", 0, 0, "", "make objd load its file now", 0, cmd_reload },
	{ "compact", 0, 0, "", "make objd rewrite its file with only the live "
			       "state", 0, cmd_compact },
	{ "ping", 0, 0, "", "check that objd answers", 0, cmd_ping },
};

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

static int
ctl_err(int, const char *, ...) __attribute__((format(printf, 2, 3)));

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
 * that a key or a path with a newline stays on its line. exact escapes
 * the backslash too, so that the text can be read back unambiguously:
 * list wants that, a message does not. */
static char *
ctl_escape(const char *s, bool exact)
{
	size_t len = strlen(s), n = 0;
	char *out = xreallocarray(NULL, len + 1, 6);
	unsigned char ch;

	for (; *s != '\0'; s++) {
		ch = (unsigned char)*s;
		if (ch == '\\' && exact) {
			memcpy(out + n, "\\\\", 2);
			n += 2;
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
	      "COMMAND [ARGS...]\n\ncommands:\n",
	    fp);
	for (size_t i = 0; i < NITEMS(ctl_cmds); i++) {
		snprintf(line, sizeof(line), "%s %s", ctl_cmds[i].name,
		    ctl_cmds[i].args);
		fprintf(fp, "  %-*s  %s\n", w, line, ctl_cmds[i].help);
	}
	fputs("\noptions (before the command or right after it):\n", fp);
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

/* A lone "-" and a negative number are arguments, never options. */
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
ctl_not_here(
    const struct ctl_cmd *cmd, const char *arg, const struct ctl_opt *o)
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
 * up to the first argument that is not one. Same returns as
 * ctl_apply_opt. */
static int
ctl_parse_opts(
    struct ctl *ctl, const struct ctl_cmd *cmd, int argc, char **argv, int *ip)
{
	const struct ctl_opt *o;
	const char *arg, *value;
	int rc;

	while (*ip < argc && ctl_is_option(argv[*ip])) {
		arg = argv[(*ip)++];
		if (strcmp(arg, "--") == 0)
			return 0;
		if ((o = ctl_find_opt(arg, &value)) == NULL)
			return ctl_err(CTL_USAGE,
			    "unknown option '%s' (see objctl --help)", arg);
		if (!o->global &&
		    (cmd == NULL || (cmd->opts & (1u << o->id)) == 0))
			return ctl_not_here(cmd, arg, o);
		if (o->arg != NULL && value == NULL) {
			if (*ip == argc)
				return ctl_err(CTL_USAGE, "--%s wants %s",
				    o->name, o->arg);
			value = argv[(*ip)++];
		} else if (o->arg == NULL && value != NULL)
			return ctl_err(
			    CTL_USAGE, "--%s takes no value", o->name);
		if ((rc = ctl_apply_opt(ctl, cmd, o, value)) != 0)
			return rc;
	}
	return 0;
}

static int
ctl_check_count(const struct ctl_cmd *cmd, int argc, char **argv)
{
	const char *value;

	if (argc >= cmd->min_args &&
	    (cmd->max_args < 0 || argc <= cmd->max_args))
		return 0;
	/* "objctl get k --json" is a likely slip: say what to do. */
	for (int i = 0; i < argc; i++)
		if (ctl_is_option(argv[i]) &&
		    ctl_find_opt(argv[i], &value) != NULL)
			return ctl_err(CTL_USAGE,
			    "options go before the arguments: objctl %s %s %s",
			    cmd->name, argv[i], cmd->args);
	return ctl_err(CTL_USAGE, "usage: objctl %s%s%s", cmd->name,
	    *cmd->args ? " " : "", cmd->args);
}

static int
ctl_connect(struct ctl *ctl)
{
	char err[1024];
	int status;

	status = objd_connect(
	    ctl->socket, ctl->timeout, &ctl->client, err, sizeof(err));
	if (status != OBJD_OK)
		return ctl_err(status, "%s", err);
	return OBJD_OK;
}

/* Reports a failed call with objd's words, or libobjd's own. */
static int
ctl_call_failed(struct ctl *ctl, int status)
{
	const char *why = objd_client_error(ctl->client);

	return ctl_err(status, "%s", *why ? why : objd_strerror(status));
}

static int
ctl_check_key(const char *key)
{
	char err[256], *shown;

	if (key_valid(key, strlen(key), err, sizeof(err)))
		return 0;
	shown = ctl_escape(key, false);
	ctl_err(CTL_USAGE, "invalid key '%s': %s", shown, err);
	free(shown);
	return CTL_USAGE;
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

/* The --json answer of a write: the revision it left the object at. */
static void
ctl_print_revision(struct ctl *ctl)
{
	Objd__Value *m = value_new_map();
	uint64_t rev = objd_client_revision(ctl->client);

	value_map_add(m, "revision", strlen("revision"),
	    rev > INT64_MAX ? value_new_double((double)rev)
	                    : value_new_int((int64_t)rev));
	ctl_print_json(m, 0);
}

static int
ctl_get_all(struct ctl *ctl)
{
	Objd__Response *resp;
	char *s;
	int status;

	if ((status = ctl_connect(ctl)) != OBJD_OK)
		return status;
	if ((status = objd_get_all(ctl->client, &resp)) != OBJD_OK) {
		objd_response_free(resp);
		return ctl_call_failed(ctl, status);
	}
	s = json_from_entries(resp->entries, resp->n_entries, 2);
	printf("%s\n", s);
	free(s);
	objd_response_free(resp);
	return OBJD_OK;
}

static int
cmd_get(struct ctl *ctl, int argc, char **argv)
{
	Objd__Value *v;
	char *shown;
	int status;

	if (argc == 0)
		return ctl_get_all(ctl);
	if ((status = ctl_check_key(argv[0])) != 0)
		return status;
	if ((status = ctl_connect(ctl)) != OBJD_OK)
		return status;
	status = objd_get(ctl->client, argv[0], &v);
	if (status == OBJD_NOT_FOUND) {
		shown = ctl_escape(argv[0], false);
		ctl_err(status, "key not found: %s", shown);
		free(shown);
		return status;
	}
	if (status != OBJD_OK)
		return ctl_call_failed(ctl, status);
	/* Raw, so that name=$(objctl get name) needs no unquoting. */
	if (v->kind_case == OBJD__VALUE__KIND_STRING_VALUE && !ctl->json) {
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
ctl_check_unique(const char **keys, size_t n)
{
	const char **sorted = xmemdup(keys, n * sizeof(*keys));
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
		    "-s takes UTF-8 text; store binary data as "
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

static int
cmd_set(struct ctl *ctl, int argc, char **argv)
{
	size_t n = (size_t)argc / 2;
	const char **keys;
	Objd__Value **values;
	char *shown;
	int status = 0;

	if (argc % 2 != 0) {
		shown = ctl_escape(argv[argc - 1], false);
		ctl_err(CTL_USAGE,
		    "'%s' has no VALUE: usage: objctl set [-s] KEY VALUE "
		    "[KEY VALUE...]",
		    shown);
		free(shown);
		return CTL_USAGE;
	}
	keys = xreallocarray(NULL, n, sizeof(*keys));
	values = xcalloc(n, sizeof(*values));
	for (size_t i = 0; i < n && status == 0; i++) {
		keys[i] = argv[2 * i];
		if ((status = ctl_check_key(keys[i])) != 0)
			break;
		values[i] = ctl_read_value(ctl, keys[i], argv[2 * i + 1]);
		if (values[i] == NULL)
			status = CTL_USAGE;
	}
	if (status == 0)
		status = ctl_check_unique(keys, n);
	if (status == 0 && (status = ctl_connect(ctl)) == OBJD_OK) {
		status = objd_set(
		    ctl->client, keys, (const Objd__Value *const *)values, n);
		if (status != OBJD_OK)
			ctl_call_failed(ctl, status);
		else if (ctl->json)
			ctl_print_revision(ctl);
	}
	ctl_free_values(values, n);
	free(keys);
	return status;
}

static int
cmd_del(struct ctl *ctl, int argc, char **argv)
{
	int status;

	for (int i = 0; i < argc; i++)
		if ((status = ctl_check_key(argv[i])) != 0)
			return status;
	if ((status = ctl_connect(ctl)) != OBJD_OK)
		return status;
	status =
	    objd_delete(ctl->client, (const char *const *)argv, (size_t)argc);
	if (status != OBJD_OK)
		return ctl_call_failed(ctl, status);
	if (ctl->json)
		ctl_print_revision(ctl);
	return OBJD_OK;
}

static void
ctl_print_keys(struct ctl *ctl, char **keys, size_t n)
{
	Objd__Value *list;
	char *shown;

	if (ctl->json) {
		list = value_new_list();
		for (size_t i = 0; i < n; i++)
			value_list_append(
			    list, value_new_string(keys[i], strlen(keys[i])));
		ctl_print_json(list, 2);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		shown = ctl_escape(keys[i], true);
		printf("%s\n", shown);
		free(shown);
	}
}

static int
cmd_list(struct ctl *ctl, int argc, char **argv)
{
	const char *prefix = argc > 0 ? argv[0] : "";
	Objd__Response *resp;
	int status;

	if (!utf8_valid(prefix, strlen(prefix)))
		return ctl_err(
		    CTL_USAGE, "a prefix must be UTF-8 text, as keys are");
	if ((status = ctl_connect(ctl)) != OBJD_OK)
		return status;
	if ((status = objd_list(ctl->client, prefix, &resp)) != OBJD_OK) {
		objd_response_free(resp);
		return ctl_call_failed(ctl, status);
	}
	ctl_print_keys(ctl, resp->keys, resp->n_keys);
	objd_response_free(resp);
	return OBJD_OK;
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
	printf("file size: %" PRIu64 "\n", in->file_size);
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
	ctl_add(
	    m, "version", value_new_string(in->version, strlen(in->version)));
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
	ctl_add(m, "fsync", value_new_string(in->fsync, strlen(in->fsync)));
	ctl_add(m, "last_compaction", ctl_time_value(in->last_compaction));
	ctl_add(m, "recovered_bytes", ctl_uint(in->recovered_bytes));
	ctl_add(m, "last_write_error", ctl_text(in->last_write_error));
	ctl_print_json(m, 2);
}

static int
cmd_status(struct ctl *ctl, int argc, char **argv)
{
	Objd__Response *resp;
	int status;

	if ((status = ctl_connect(ctl)) != OBJD_OK)
		return status;
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
	int i = 1, rc, status;

	log_init("objctl", 0);
	if ((rc = ctl_parse_opts(&ctl, NULL, argc, argv, &i)) != 0)
		return ctl_flush(rc < 0 ? 0 : rc);
	if (i == argc)
		return ctl_err(
		    CTL_USAGE, "no command given (see objctl --help)");
	if ((cmd = ctl_find_cmd(argv[i])) == NULL) {
		char *shown = ctl_escape(argv[i], false);

		ctl_err(CTL_USAGE, "unknown command '%s' (see objctl --help)",
		    shown);
		free(shown);
		return CTL_USAGE;
	}
	i++;
	if ((rc = ctl_parse_opts(&ctl, cmd, argc, argv, &i)) != 0)
		return ctl_flush(rc < 0 ? 0 : rc);
	if ((rc = ctl_check_count(cmd, argc - i, argv + i)) != 0)
		return rc;
	status = cmd->fn(&ctl, argc - i, argv + i);
	objd_close(ctl.client);
	return ctl_flush(status);
}
