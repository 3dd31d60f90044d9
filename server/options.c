/* SPDX-License-Identifier: ISC */
/* options.c: objd's options, one entry each in options_table.
 *
 * The table is the one list of them. getopt_long's array and short
 * options, objd --help, the names the config file accepts (config.c)
 * and the errors of a bad value are made from it, and a value from the
 * command line or from the file goes through the same options_apply,
 * so an option means the same in both places.
 *
 * Adding an option is three edits, in one commit:
 *
 *   1. One entry below, in the group where objd --help should list it
 *      (a .heading starts a group). Give its .name (no dashes), a
 *      .letter only if it needs a short form, its .kind, and what that
 *      kind reads:
 *        SWITCH  .to.flag                     (no value)
 *        PATH    .to.path   any word, kept as given: a path, a URL, a
 *                           prefix; it points into argv or the file
 *        SIZE    .to.size or .to.size64, .min, .max (K, M, G)
 *        COUNT   .to.count, .min, .max
 *        SECONDS .to.seconds, .max_seconds   (from 0, fractions)
 *        CHOICE  .to.choice {parse, set}, .choices  (the words, as the
 *                           error lists them: "a, b or c")
 *        MODE, GROUP, ALLOW  the socket's mode, group, the policy
 *      .to points at the field of struct objd_options (or the module's
 *      variable) that the option sets; its default is set in main()
 *      before options_read, or is the variable's initializer. Set
 *      .in_file = true unless the config file must not set it, .arg
 *      (the value's name, exactly when the kind takes one) and .help,
 *      its lines under "--name ARG" (objd --help stays within 79
 *      columns). A value no kind parses gets a kind of its own, and a
 *      case in options_apply; so does an option that acts rather than
 *      sets (--config, --help, --version).
 *   2. Its paragraph in man/objd.8: "--name" in SYNOPSIS, and a .TP
 *      paragraph in OPTIONS (or its Access or Limits part) whose tag is
 *      ".B \-\-name" or ".BI \-\-name \" value\"".
 *   3. If .in_file, its line in etc/objd.conf, commented out with its
 *      default: "# name = value" (a switch: "# name"), then "# what".
 *
 * tests/unit/check_options fails, naming the option, until 2 and 3 are
 * done, and when an option leaves the table but not the man page or the
 * config file; it also checks each entry against the rules of 1. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend-etcd.h"
#include "log.h"
#include "objd.h"
#include "options.h"
#include "version.h"

/* The config file root's objd reads when no --config is given. */
#define OBJD_CONFIG_DEFAULT OBJD_SYSCONFDIR "/objd/objd.conf"

/* The width of the usage's lines, and the column where an option's help
 * starts. */
#define USAGE_WIDTH 72
#define USAGE_HELP_COLUMN 23

struct options_main options_main;

static void
set_fsync(int mode)
{
	options.fsync = (enum fsync_mode)mode;
}

static void
set_log_level(int level)
{
	log_set_level((enum log_level)level);
}

const struct options_entry options_table[] = {
	{ .name = "foreground",
	    .kind = OPTIONS_SWITCH,
	    .in_file = true,
	    .to.flag = &options_main.foreground,
	    .help = "stay attached and log to stderr" },
	{ .name = "file",
	    .kind = OPTIONS_PATH,
	    .in_file = true,
	    .arg = "PATH",
	    .to.path = &options.file_path,
	    .help = "the object file (default: $OBJD_FILE, or\n"
	            "a per-user location, see objd(8))" },
	{ .name = "socket",
	    .kind = OPTIONS_PATH,
	    .in_file = true,
	    .arg = "PATH",
	    .to.path = &options.socket_path,
	    .help = "the socket (default: $OBJD_SOCKET, or\n"
	            "$XDG_RUNTIME_DIR/objd.sock)" },
	{ .name = "reload-interval",
	    .kind = OPTIONS_SECONDS,
	    .in_file = true,
	    .arg = "SECONDS",
	    .max_seconds = 86400,
	    .to.seconds = &options.reload_interval,
	    .help = "how often to look for changes made to the\n"
	            "file by others (default 1, 0 = never)" },
	{ .name = "fsync",
	    .kind = OPTIONS_CHOICE,
	    .in_file = true,
	    .arg = "MODE",
	    .choices = "always, interval or never",
	    .to.choice = { fsync_mode_parse, set_fsync },
	    .help = "always (default): a change is answered once\n"
	            "on disk; interval: synced every second;\n"
	            "never: the kernel decides" },
	{ .name = "pidfile",
	    .kind = OPTIONS_PATH,
	    .in_file = true,
	    .arg = "PATH",
	    .to.path = &options_main.pidfile,
	    .help = "write objd's pid there" },
	{ .name = "config",
	    .kind = OPTIONS_CONFIG,
	    .arg = "PATH",
	    .help = "read options from PATH, one\n"
	            "\"name = value\" a line; the command\n"
	            "line wins. Without it, root's objd\n"
	            "reads " OBJD_CONFIG_DEFAULT "\n"
	            "if it exists" },
	{ .name = "compress",
	    .kind = OPTIONS_SWITCH,
	    .in_file = true,
	    .to.flag = &options_main.compress,
	    .help = "compact the file with its entries\n"
	            "zlib-deflated: smaller, but a reader\n"
	            "must inflate them (see objd(8)); objd\n"
	            "reads such files with or without it" },
	{ .name = "history",
	    .kind = OPTIONS_COUNT,
	    .in_file = true,
	    .arg = "N",
	    .min = 0,
	    .max = 1000000,
	    .to.count = &history_depth,
	    .help = "keep the last N versions of each key,\n"
	            "in memory and in the file (default 100,\n"
	            "0 = none): objctl history, get --at" },
	{ .name = "history-bytes",
	    .kind = OPTIONS_SIZE,
	    .in_file = true,
	    .arg = "SIZE",
	    .min = 0,
	    .max = SIZE_MAX / 4,
	    .to.size64 = &history_key_bytes,
	    .help = "past values kept of each key, at most\n"
	            "(default 1M): older versions go first" },
	{ .name = "log-level",
	    .kind = OPTIONS_CHOICE,
	    .in_file = true,
	    .arg = "LEVEL",
	    .choices = "error, warn, info or debug",
	    .to.choice = { log_level_parse, set_log_level },
	    .help = "error, warn, info (default) or debug" },
	{ .name = "help",
	    .letter = 'h',
	    .kind = OPTIONS_HELP,
	    .help = "print this and exit" },
	{ .name = "version",
	    .letter = 'V',
	    .kind = OPTIONS_VERSION,
	    .help = "print objd's version and exit" },

	{ .name = "allow-rw",
	    .kind = OPTIONS_ALLOW,
	    .in_file = true,
	    .arg = "WHO",
	    .to.level = ACCESS_WRITE,
	    .heading = "Access: root and objd's own user may always read and "
	               "write.",
	    .help = "more users who may read and write: a\n"
	            "comma list of user names, uids, @group\n"
	            "names, @gids, or * for everyone\n"
	            "(repeatable)" },
	{ .name = "allow-ro",
	    .kind = OPTIONS_ALLOW,
	    .in_file = true,
	    .arg = "WHO",
	    .to.level = ACCESS_READ,
	    .help = "users who may only read (get, list,\n"
	            "watch, status, ping); anyone else is\n"
	            "denied" },
	{ .name = "socket-mode",
	    .kind = OPTIONS_MODE,
	    .in_file = true,
	    .arg = "MODE",
	    .to.mode = &options.socket_mode,
	    .help = "the socket's mode (default 0600: no one\n"
	            "else can connect; 0660 or 0666 to open\n"
	            "it)" },
	{ .name = "socket-group",
	    .kind = OPTIONS_GROUP,
	    .in_file = true,
	    .arg = "GROUP",
	    .to.group = &options.socket_group,
	    .help = "the socket's group (default objd's)" },

	{ .name = "max-frame",
	    .kind = OPTIONS_SIZE,
	    .in_file = true,
	    .arg = "SIZE",
	    .min = 1024,
	    .max = (size_t)1 << 30,
	    .to.size = &options.frame_max,
	    .heading = "Limits (sizes take K, M or G):",
	    .help = "the largest request (default 64M)" },
	{ .name = "max-clients",
	    .kind = OPTIONS_COUNT,
	    .in_file = true,
	    .arg = "N",
	    .min = 1,
	    .max = 1000000,
	    .to.count = &options.clients_max,
	    .help = "clients at once (default 1024); one more\n"
	            "is told so and closed" },
	{ .name = "client-idle-timeout",
	    .kind = OPTIONS_SECONDS,
	    .in_file = true,
	    .arg = "SECONDS",
	    .max_seconds = 86400,
	    .to.seconds = &options.client_idle_timeout,
	    .help = "close a client that stops for SECONDS\n"
	            "in the middle of a request (default 30,\n"
	            "0 = never); between requests it may idle" },
	{ .name = "max-client-output",
	    .kind = OPTIONS_SIZE,
	    .in_file = true,
	    .arg = "SIZE",
	    .min = 64 * 1024,
	    .max = SIZE_MAX / 4,
	    .to.size = &options.client_output_max,
	    .help = "answers a client has not read, at most\n"
	            "(default 64M): objd then reads no more\n"
	            "of its requests, and drops a watch" },
	{ .name = "max-output-total",
	    .kind = OPTIONS_SIZE,
	    .in_file = true,
	    .arg = "SIZE",
	    .min = 64 * 1024,
	    .max = SIZE_MAX / 4,
	    .to.size = &options.output_total_max,
	    .help = "answers all clients have not read, at\n"
	            "most (default: a quarter of memory, at\n"
	            "most 1G): past it the client holding\n"
	            "the most is dropped" },

	{ .name = "etcd",
	    .kind = OPTIONS_PATH,
	    .in_file = true,
	    .arg = "URL[,URL...]",
	    .to.path = &etcd_mode.endpoints,
	    .heading = "Many hosts (see objd(8)):",
	    .help = "keep the object in etcd v3 at these\n"
	            "http:// or https:// endpoints: every\n"
	            "objd given the same endpoints and prefix\n"
	            "serves the same object; the file becomes\n"
	            "a cache" },
	{ .name = "etcd-prefix",
	    .kind = OPTIONS_PATH,
	    .in_file = true,
	    .arg = "PREFIX",
	    .to.path = &etcd_mode.prefix,
	    .help = "the object's etcd keys start with it\n"
	            "(default /objd/)" },
	{ .name = "etcd-max-txn-ops",
	    .kind = OPTIONS_COUNT,
	    .in_file = true,
	    .arg = "N",
	    .min = 2,
	    .max = 1000000,
	    .to.count = &etcd_mode.max_txn_ops,
	    .help = "operations etcd takes in one transaction\n"
	            "(etcd's --max-txn-ops, default 128)" },
	{ .name = "etcd-user",
	    .kind = OPTIONS_PATH,
	    .in_file = true,
	    .arg = "NAME",
	    .to.path = &etcd_mode.user,
	    .help = "authenticate to etcd as NAME, with the\n"
	            "first line of --etcd-password-file" },
	{ .name = "etcd-password-file",
	    .kind = OPTIONS_PATH,
	    .in_file = true,
	    .arg = "PATH",
	    .to.path = &etcd_mode.password_file,
	    .help = "where etcd's password for --etcd-user is" },
	{ .name = "etcd-cacert",
	    .kind = OPTIONS_PATH,
	    .in_file = true,
	    .arg = "PATH",
	    .to.path = &etcd_mode.cacert,
	    .help = "https:// endpoints: check the members'\n"
	            "certificates against this CA (PEM;\n"
	            "default: the system's)" },
	{ .name = "etcd-cert",
	    .kind = OPTIONS_PATH,
	    .in_file = true,
	    .arg = "PATH",
	    .to.path = &etcd_mode.cert,
	    .help = "https:// endpoints: objd's client\n"
	            "certificate (PEM), with --etcd-key" },
	{ .name = "etcd-key",
	    .kind = OPTIONS_PATH,
	    .in_file = true,
	    .arg = "PATH",
	    .to.path = &etcd_mode.key,
	    .help = "the key of --etcd-cert (PEM)" },
	{ .name = "max-staleness",
	    .kind = OPTIONS_SECONDS,
	    .in_file = true,
	    .arg = "SECONDS",
	    .max_seconds = 86400 * 365,
	    .to.seconds = &etcd_mode.max_staleness,
	    .help = "refuse reads once etcd has not been\n"
	            "heard from for SECONDS (default 0 =\n"
	            "no limit)" },
	{ .name = NULL },
};

#define OPTIONS_COUNT_ALL (sizeof(options_table) / sizeof(options_table[0]))

/* getopt_long's val of the table's entry i; a short option's val is its
 * letter. */
#define OPTIONS_VAL_FIRST 256

/* The config file's values, which options point into until objd stops
 * (config.c). */
static char **config_values;

void
options_apply(const struct options_entry *o, const char *value)
{
	char name[OPTIONS_NAME_MAX + 3], err[512];
	int rc = 0, v;

	snprintf(name, sizeof(name), "--%s", o->name);
	switch (o->kind) {
	case OPTIONS_SWITCH:
		*o->to.flag = true;
		break;
	case OPTIONS_PATH:
		*o->to.path = value;
		break;
	case OPTIONS_SIZE:
		if (o->to.size64 != NULL)
			*o->to.size64 =
			    config_size(name, value, o->min, o->max);
		else
			*o->to.size = config_size(name, value, o->min, o->max);
		break;
	case OPTIONS_COUNT:
		*o->to.count = config_count(name, value, o->min, o->max);
		break;
	case OPTIONS_SECONDS:
		*o->to.seconds = config_seconds(name, value, o->max_seconds);
		break;
	case OPTIONS_CHOICE:
		if ((v = o->to.choice.parse(value)) == -1)
			config_fail("%s is %s, not '%s'", name, o->choices,
			    value);
		o->to.choice.set(v);
		break;
	case OPTIONS_MODE:
		rc = access_parse_mode(value, o->to.mode, err, sizeof(err));
		break;
	case OPTIONS_GROUP:
		rc = access_parse_group(value, o->to.group, err, sizeof(err));
		break;
	case OPTIONS_ALLOW:
		if (access_allow(value, o->to.level, err, sizeof(err)) == -1)
			config_fail("%s: %s", name, err);
		break;
	case OPTIONS_CONFIG:
		/* Read before the command line: see read_config(). */
		break;
	case OPTIONS_HELP:
		options_usage(stdout);
		exit(0);
	case OPTIONS_VERSION:
		printf("objd %s\n", OBJD_VERSION);
		exit(0);
	}
	if (rc == -1)
		config_fail("%s", err);
}

/* Prints "[--name ARG]" for every option, wrapped. */
static void
usage_synopsis(FILE *out)
{
	static const char lead[] = "usage: objd";
	size_t column = sizeof(lead) - 1, n;
	char item[128];

	fputs(lead, out);
	for (const struct options_entry *o = options_table; o->name != NULL;
	     o++) {
		n = (size_t)snprintf(item, sizeof(item), "[--%s%s%s]", o->name,
		    o->arg != NULL ? " " : "", o->arg != NULL ? o->arg : "");
		if (column + 1 + n > USAGE_WIDTH) {
			fprintf(out, "\n%*s", (int)sizeof(lead), "");
			column = sizeof(lead);
		} else {
			fputc(' ', out);
			column++;
		}
		fputs(item, out);
		column += n;
	}
	fputc('\n', out);
}

/* Prints "  --name ARG" and the option's help lines beside or under it. */
static void
usage_option(FILE *out, const struct options_entry *o)
{
	const char *line = o->help, *end;
	char label[128];
	int n;

	n = snprintf(label, sizeof(label), "  --%s%s%s", o->name,
	    o->arg != NULL ? " " : "", o->arg != NULL ? o->arg : "");
	fputs(label, out);
	if (n >= USAGE_HELP_COLUMN) {
		fputc('\n', out);
		n = 0;
	}
	for (;;) {
		end = line + strcspn(line, "\n");
		fprintf(out, "%*s%.*s\n", USAGE_HELP_COLUMN - n, "",
		    (int)(end - line), line);
		if (*end == '\0')
			break;
		line = end + 1;
		n = 0;
	}
}

void
options_usage(FILE *out)
{
	usage_synopsis(out);
	fputs("\n"
	      "objd keeps one typed key/value object in a file and serves it\n"
	      "on a UNIX socket; objctl talks to it. Without --foreground it\n"
	      "starts in the background and returns once it accepts "
	      "clients.\n",
	    out);
	for (const struct options_entry *o = options_table; o->name != NULL;
	     o++) {
		if (o == options_table || o->heading != NULL)
			fputc('\n', out);
		if (o->heading != NULL)
			fprintf(out, "%s\n", o->heading);
		usage_option(out, o);
	}
}

/* A usage error on the command line: the reason was printed; one more
 * line says where to look, rather than the whole usage. */
static _Noreturn void
usage_fail(void)
{
	fputs("Try 'objd --help'.\n", stderr);
	exit(2);
}

/* glibc's getopt_long takes any unambiguous prefix of a long option.
 * objd takes only the names it documents, as its config file does, so
 * that an option added later never changes what a command line means.
 * The option just parsed is argv[optind - 1], or the one before when
 * its value was a word of its own. */
static void
require_full_name(char **argv, const struct option *o)
{
	const char *word = argv[optind - 1];
	size_t n = strlen(o->name);

	if (o->has_arg != no_argument && optarg == word && optind >= 2)
		word = argv[optind - 2];
	if (strncmp(word, "--", 2) == 0 && strncmp(word + 2, o->name, n) == 0 &&
	    (word[2 + n] == '\0' || word[2 + n] == '='))
		return;
	fprintf(stderr, "objd: unrecognized option '%.*s'\n",
	    (int)strcspn(word, "="), word);
	usage_fail();
}

/* getopt_long's long and short options, made from the table. */
static void
options_getopt(struct option *longopts, char *shortopts)
{
	size_t i;

	for (i = 0; options_table[i].name != NULL; i++) {
		const struct options_entry *o = &options_table[i];

		longopts[i] = (struct option){ o->name,
			options_has_value(o) ? required_argument : no_argument,
			NULL, OPTIONS_VAL_FIRST + (int)i };
		if (o->letter != 0) {
			*shortopts++ = o->letter;
			if (options_has_value(o))
				*shortopts++ = ':';
		}
	}
	longopts[i] = (struct option){ NULL, 0, NULL, 0 };
	*shortopts = '\0';
}

/* The entry of getopt_long's answer ch: a long option's val, or a short
 * option's letter. */
static const struct options_entry *
options_of_val(int ch)
{
	if (ch >= OPTIONS_VAL_FIRST)
		return &options_table[ch - OPTIONS_VAL_FIRST];
	for (const struct options_entry *o = options_table; o->name != NULL;
	     o++)
		if (o->letter == ch)
			return o;
	return NULL;
}

static void
parse_command_line(int argc, char **argv)
{
	struct option longopts[OPTIONS_COUNT_ALL];
	char shortopts[2 * OPTIONS_COUNT_ALL + 1];
	const struct options_entry *o;
	int ch, index;

	options_getopt(longopts, shortopts);
	/* getopt's messages start with argv[0]: "objd", not its path. */
	argv[0] = (char *)"objd";
	for (;;) {
		index = -1;
		ch = getopt_long(argc, argv, shortopts, longopts, &index);
		if (ch == -1)
			break;
		if (index != -1)
			require_full_name(argv, &longopts[index]);
		if (ch == '?' || (o = options_of_val(ch)) == NULL)
			usage_fail(); /* getopt said why. */
		options_apply(o, optarg);
	}
	if (optind != argc) {
		fprintf(stderr, "objd: unexpected argument '%s'\n",
		    argv[optind]);
		usage_fail();
	}
}

static void
apply_from_file(const struct options_entry *o, const char *value, void *arg)
{
	options_apply(o, value);
}

/* The config file is read first, so that the command line overrides it:
 * the one --config names, else root's default when it exists. */
static void
read_config(int argc, char **argv)
{
	const struct options_entry *o = options_table;
	const char *given = NULL, *path;
	size_t n;

	while (o->name != NULL && o->kind != OPTIONS_CONFIG)
		o++;
	n = o->name != NULL ? strlen(o->name) : 0;
	for (int i = 1; n > 0 && i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *p = NULL;

		if (strncmp(argv[i], "--", 2) != 0 ||
		    strncmp(argv[i] + 2, o->name, n) != 0)
			continue;
		if (argv[i][2 + n] == '\0' && i + 1 < argc)
			p = argv[++i];
		else if (argv[i][2 + n] == '=')
			p = argv[i] + 2 + n + 1;
		if (p != NULL && given != NULL)
			config_fail("--%s is given once", o->name);
		if (p != NULL)
			given = p;
	}
	path = config_choose(given, geteuid() == 0, OBJD_CONFIG_DEFAULT);
	if (path != NULL)
		config_values =
		    config_read(path, options_table, apply_from_file, NULL);
}

void
options_read(int argc, char **argv)
{
	read_config(argc, argv);
	parse_command_line(argc, argv);
}

void
options_free(void)
{
	config_free(config_values);
	config_values = NULL;
}
