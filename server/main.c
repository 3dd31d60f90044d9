/* SPDX-License-Identifier: ISC */
/* main.c: objd's life: options, start in the background, the event loop,
 * signals and a clean stop. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "backend.h"
#include "backend-etcd.h"
#include "framing.h"
#include "log.h"
#include "objd.h"
#include "paths.h"
#include "version.h"
#include "xmalloc.h"

/* The config file root's objd reads when no --config is given. */
#define OBJD_CONFIG_DEFAULT OBJD_SYSCONFDIR "/objd/objd.conf"

struct server server;

/* While starting in the background, the write end of the pipe on which
 * the waiting parent hears "ok" or why the start failed. */
static int startup_fd = -1;
static const char *pidfile_path;
static char *pidfile_owned;
static struct event *stop_flush_timer;
static double stop_deadline;
static bool compress_snapshots; /* --compress */

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: objd [--foreground] [--file PATH] [--socket PATH]\n"
	    "            [--reload-interval SECONDS] [--fsync MODE]\n"
	    "            [--pidfile PATH] [--config PATH] [--compress]\n"
	    "            [--allow-rw WHO] [--allow-ro WHO]\n"
	    "            [--socket-mode MODE] [--socket-group GROUP]\n"
	    "            [--max-frame SIZE] [--max-clients N]\n"
	    "            [--client-idle-timeout SECONDS]\n"
	    "            [--max-client-output SIZE] [--max-output-total SIZE]\n"
	    "            [--history N] [--history-bytes SIZE]\n"
	    "            [--etcd URL[,URL...]] [--etcd-prefix PREFIX]\n"
	    "            [--etcd-user NAME --etcd-password-file PATH]\n"
	    "            [--log-level error|warn|info|debug] [--help] "
	    "[--version]\n"
	    "\n"
	    "objd keeps one typed key/value object in a file and serves it\n"
	    "on a UNIX socket; objctl talks to it. Without --foreground it\n"
	    "starts in the background and returns once it accepts clients.\n"
	    "\n"
	    "  --foreground         stay attached and log to stderr\n"
	    "  --file PATH          the object file (default: $OBJD_FILE, or\n"
	    "                       a per-user location, see objd(8))\n"
	    "  --socket PATH        the socket (default: $OBJD_SOCKET, or\n"
	    "                       $XDG_RUNTIME_DIR/objd.sock)\n"
	    "  --reload-interval S  how often to look for changes made to the\n"
	    "                       file by others (default 1, 0 = never)\n"
	    "  --fsync MODE         always (default): a change is answered "
	    "once\n"
	    "                       on disk; interval: synced every second;\n"
	    "                       never: the kernel decides\n"
	    "  --pidfile PATH       write objd's pid there\n"
	    "  --compress           compact the file with its entries\n"
	    "                       zlib-deflated: smaller, but a reader\n"
	    "                       must inflate them (see objd(8)); objd\n"
	    "                       reads such files with or without it\n"
	    "  --history N          keep the last N versions of each key,\n"
	    "                       in memory and in the file (default 100,\n"
	    "                       0 = none): objctl history, get --at\n"
	    "  --history-bytes SIZE past values kept of each key, at most\n"
	    "                       (default 1M): older versions go first\n"
	    "  --log-level LEVEL    error, warn, info (default) or debug\n"
	    "  --config PATH        read options from PATH, one\n"
	    "                       \"name = value\" a line; the command\n"
	    "                       line wins. Without it, root's objd\n"
	    "                       reads %s\n"
	    "                       if it exists\n"
	    "\n"
	    "Access: root and objd's own user may always read and write.\n"
	    "  --allow-rw WHO       more users who may read and write: a\n"
	    "                       comma list of user names, uids, @group\n"
	    "                       names, @gids, or * for everyone\n"
	    "                       (repeatable)\n"
	    "  --allow-ro WHO       users who may only read (get, list,\n"
	    "                       watch, status, ping); anyone else is\n"
	    "                       denied\n"
	    "  --socket-mode MODE   the socket's mode (default 0600: no one\n"
	    "                       else can connect; 0660 or 0666 to open\n"
	    "                       it)\n"
	    "  --socket-group GROUP the socket's group (default objd's)\n"
	    "\n"
	    "Limits (sizes take K, M or G):\n"
	    "  --max-frame SIZE     the largest request (default 64M)\n"
	    "  --max-clients N      clients at once (default 1024); one more\n"
	    "                       is told so and closed\n"
	    "  --client-idle-timeout S\n"
	    "                       close a client that stops for S seconds\n"
	    "                       in the middle of a request (default 30,\n"
	    "                       0 = never); between requests it may idle\n"
	    "  --max-client-output SIZE\n"
	    "                       answers a client has not read, at most\n"
	    "                       (default 64M): objd then reads no more\n"
	    "                       of its requests, and drops a watch\n"
	    "  --max-output-total SIZE\n"
	    "                       answers all clients have not read, at\n"
	    "                       most (default: a quarter of memory, at\n"
	    "                       most 1G): past it the client holding\n"
	    "                       the most is dropped\n",
	    OBJD_CONFIG_DEFAULT);
	/* Apart: C11 promises string literals of 4095 bytes, no more. */
	fprintf(out,
	    "\n"
	    "Many hosts (see objd(8)):\n"
	    "  --etcd URL[,URL...]  keep the object in etcd v3 at these\n"
	    "                       http:// endpoints: every objd given the\n"
	    "                       same endpoints and prefix serves the\n"
	    "                       same object; the file becomes a cache\n"
	    "  --etcd-prefix PREFIX the object's etcd keys start with it\n"
	    "                       (default /objd/)\n"
	    "  --etcd-max-txn-ops N operations etcd takes in one transaction\n"
	    "                       (etcd's --max-txn-ops, default 128)\n"
	    "  --etcd-user NAME     authenticate to etcd as NAME, with the\n"
	    "  --etcd-password-file PATH\n"
	    "                       first line of PATH as the password\n");
}

/* Fails the start: tells the waiting parent, or stderr, and exits. */
static _Noreturn void __attribute__((format(printf, 1, 2)))
startup_fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (startup_fd == -1)
		fatalx("%s", msg); /* stderr, or the journal */
	if (write(startup_fd, msg, strlen(msg)) == -1)
		log_warn("cannot report to the starting process");
	log_warnx("%s", msg);
	exit(1);
}

/* Forks; the parent waits until the child reports that it serves, so
 * "objd && objctl get" never races. Returns in the child. */
static void
daemon_start(void)
{
	char msg[1024];
	ssize_t n;
	size_t got = 0;
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1)
		fatal("pipe");
	pid = fork();
	if (pid == -1)
		fatal("fork");
	if (pid == 0) {
		close(fds[0]);
		startup_fd = fds[1];
		if (setsid() == -1)
			fatal("setsid");
		return;
	}
	close(fds[1]);
	while (got < sizeof(msg) - 1) {
		n = read(fds[0], msg + got, sizeof(msg) - 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	msg[got] = '\0';
	if (strcmp(msg, "ok") == 0)
		exit(0);
	fprintf(stderr, "objd: %s\n", got > 0 ? msg : "failed to start");
	exit(1);
}

/* Tells the parent that the socket accepts clients, and lets go of the
 * terminal. */
static void
daemon_ready(void)
{
	int fd;

	if (startup_fd == -1)
		return;
	if (write(startup_fd, "ok", 2) != 2)
		log_warn("cannot report to the starting process");
	close(startup_fd);
	startup_fd = -1;
	fd = open("/dev/null", O_RDWR);
	if (fd != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

static char *
absolute_path(const char *path)
{
	char cwd[4096];

	if (path[0] == '/')
		return xstrdup(path);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		startup_fail("cannot find the current folder: %s",
		    strerror(errno));
	return xasprintf("%s/%s", cwd, path);
}

static char *
absolute_path_free(char *path)
{
	char *abs = absolute_path(path);

	free(path);
	return abs;
}

static void
pidfile_write(void)
{
	char buf[32];
	int fd, n;

	if (pidfile_path == NULL)
		return;
	fd = open(pidfile_path,
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (fd == -1 || write(fd, buf, (size_t)n) != n)
		startup_fail("cannot write pidfile %s: %s", pidfile_path,
		    strerror(errno));
	close(fd);
}

/* What the backend tells the rest of objd. */
static const struct backend_hooks backend_hooks = {
	.committed = batch_committed,
	.others_committed = batch_others_committed,
	.others_replaced = reload_soon,
	.snapshot_done = compact_settle,
};

/* Stopping waits for answers to be written, up to a second. */
static void
stop_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	if (conn_all_written() || now_wall() > stop_deadline)
		event_base_loopexit(server.base, NULL);
}

static void
stop_cb(evutil_socket_t sig, short events, void *arg)
{
	struct timeval tv = { 0, 10 * 1000 };

	if (server.stopping)
		return;
	log_info("stopping on signal %d", (int)sig);
	notify_systemd("STOPPING=1");
	server.stopping = true;
	listener_stop();
	listener_unlink();
	batch_commit();
	conn_stop_all_reading();
	/* After batch_commit, so that the changes it answered come first. */
	watch_stopping();
	stop_deadline = now_wall() + 1.0;
	stop_flush_timer =
	    event_new(server.base, -1, EV_PERSIST, stop_flush_cb, NULL);
	if (stop_flush_timer == NULL || event_add(stop_flush_timer, &tv) == -1)
		event_base_loopexit(server.base, NULL);
}

static void
chld_cb(evutil_socket_t sig, short events, void *arg)
{
	compact_child_exited();
}

static void
hup_cb(evutil_socket_t sig, short events, void *arg)
{
	char err[1024];

	/* On etcd the file is objd's own cache: read etcd again instead. */
	if (etcd_mode_reload(err, sizeof(err)))
		return;
	log_info("reloading %s on SIGHUP", server.file_path);
	/* systemd shows objd as reloading until it says READY=1 again. */
	notify_reloading();
	reload_now(true, err, sizeof(err));
	notify_ready();
}

/* --max-output-total unless given: a quarter of the machine's memory,
 * at most 1 GiB (sixteen clients at the default --max-client-output).
 * Slow readers of large answers fit, and a thousand clients that read
 * nothing cannot make objd the one the kernel kills on a small
 * machine. */
static size_t
output_total_default(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	size_t most = (size_t)1 << 30, least = (size_t)64 << 20, quarter;

	if (pages <= 0 || size <= 0)
		return most;
	quarter = (size_t)pages / 4 * (size_t)size;
	return quarter > most ? most : quarter < least ? least : quarter;
}

/* The long options that have no short form. */
enum {
	OPT_ALLOW_RW = 256,
	OPT_ALLOW_RO,
	OPT_SOCKET_MODE,
	OPT_SOCKET_GROUP,
	OPT_MAX_FRAME,
	OPT_MAX_CLIENTS,
	OPT_IDLE_TIMEOUT,
	OPT_MAX_OUTPUT,
	OPT_MAX_OUTPUT_TOTAL,
	OPT_CONFIG,
	OPT_COMPRESS,
	OPT_HISTORY,
	OPT_HISTORY_BYTES,
	OPT_ETCD,
	OPT_ETCD_PREFIX,
	OPT_ETCD_MAX_TXN_OPS,
	OPT_ETCD_USER,
	OPT_ETCD_PASSWORD_FILE
};

static const struct option longopts[] = {
	{ "allow-rw", required_argument, NULL, OPT_ALLOW_RW },
	{ "allow-ro", required_argument, NULL, OPT_ALLOW_RO },
	{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
	{ "socket-group", required_argument, NULL, OPT_SOCKET_GROUP },
	{ "max-frame", required_argument, NULL, OPT_MAX_FRAME },
	{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
	{ "client-idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "max-client-output", required_argument, NULL, OPT_MAX_OUTPUT },
	{ "max-output-total", required_argument, NULL, OPT_MAX_OUTPUT_TOTAL },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "compress", no_argument, NULL, OPT_COMPRESS },
	{ "history", required_argument, NULL, OPT_HISTORY },
	{ "history-bytes", required_argument, NULL, OPT_HISTORY_BYTES },
	{ "etcd", required_argument, NULL, OPT_ETCD },
	{ "etcd-prefix", required_argument, NULL, OPT_ETCD_PREFIX },
	{ "etcd-max-txn-ops", required_argument, NULL, OPT_ETCD_MAX_TXN_OPS },
	{ "etcd-user", required_argument, NULL, OPT_ETCD_USER },
	{ "etcd-password-file", required_argument, NULL,
	    OPT_ETCD_PASSWORD_FILE },
	{ "foreground", no_argument, NULL, 'f' },
	{ "file", required_argument, NULL, 'F' },
	{ "socket", required_argument, NULL, 's' },
	{ "reload-interval", required_argument, NULL, 'r' },
	{ "fsync", required_argument, NULL, 'y' },
	{ "pidfile", required_argument, NULL, 'p' },
	{ "log-level", required_argument, NULL, 'l' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* The config file read before the command line (config.c): the values
 * of its settings, which options point into until objd stops. */
static char **config_values;

/* The access and limit options. */
static void
apply_limit_option(int ch, const char *arg)
{
	char err[512];
	int rc = 0;

	switch (ch) {
	case OPT_ALLOW_RW:
	case OPT_ALLOW_RO:
		rc = access_allow(arg,
		    ch == OPT_ALLOW_RW ? ACCESS_WRITE : ACCESS_READ, err,
		    sizeof(err));
		if (rc == -1)
			config_fail("--allow-%s: %s",
			    ch == OPT_ALLOW_RW ? "rw" : "ro", err);
		break;
	case OPT_SOCKET_MODE:
		rc = access_parse_mode(arg, &server.socket_mode, err,
		    sizeof(err));
		break;
	case OPT_SOCKET_GROUP:
		rc = access_parse_group(arg, &server.socket_group, err,
		    sizeof(err));
		break;
	case OPT_MAX_FRAME:
		server.frame_max =
		    config_size("--max-frame", arg, 1024, (size_t)1 << 30);
		break;
	case OPT_MAX_CLIENTS:
		server.clients_max =
		    config_count("--max-clients", arg, 1, 1000000);
		break;
	case OPT_IDLE_TIMEOUT:
		server.client_idle_timeout =
		    config_seconds("--client-idle-timeout", arg, 86400);
		break;
	case OPT_MAX_OUTPUT:
		server.client_output_max = config_size("--max-client-output",
		    arg, 64 * 1024, SIZE_MAX / 4);
		break;
	case OPT_MAX_OUTPUT_TOTAL:
		server.output_total_max = config_size("--max-output-total", arg,
		    64 * 1024, SIZE_MAX / 4);
		break;
	}
	if (rc == -1)
		config_fail("%s", err);
}

/* Applies one option, from the command line or the config file (arg is
 * then a value of config_values); foreground points to main's. */
static void
apply_option(int ch, const char *arg, void *foreground)
{
	int level, mode;

	switch (ch) {
	case 'f':
		*(bool *)foreground = true;
		break;
	case 'F':
		server.file_path = arg;
		break;
	case 's':
		server.socket_path = arg;
		break;
	case 'r':
		server.reload_interval =
		    config_seconds("--reload-interval", arg, 86400);
		break;
	case 'p':
		pidfile_path = arg;
		break;
	case OPT_COMPRESS:
		compress_snapshots = true;
		break;
	case OPT_HISTORY:
		history_depth = config_count("--history", arg, 0, 1000000);
		break;
	case OPT_HISTORY_BYTES:
		history_key_bytes =
		    config_size("--history-bytes", arg, 0, SIZE_MAX / 4);
		break;
	case 'y':
		if ((mode = fsync_mode_parse(arg)) == -1)
			config_fail("--fsync is always, interval or never, "
			            "not '%s'",
			    arg);
		server.fsync = (enum fsync_mode)mode;
		break;
	case 'l':
		if ((level = log_level_parse(arg)) == -1)
			config_fail("--log-level is error, warn, info or "
			            "debug, not '%s'",
			    arg);
		log_set_level((enum log_level)level);
		break;
	case OPT_CONFIG:
		/* Read before the command line: see read_config(). */
		break;
	case OPT_ETCD:
		etcd_mode.endpoints = arg;
		break;
	case OPT_ETCD_PREFIX:
		if (*arg == '\0')
			config_fail("--etcd-prefix is empty");
		etcd_mode.prefix = arg;
		break;
	case OPT_ETCD_USER:
		etcd_mode.user = arg;
		break;
	case OPT_ETCD_PASSWORD_FILE:
		etcd_mode.password_file = arg;
		break;
	case OPT_ETCD_MAX_TXN_OPS:
		etcd_mode.max_txn_ops =
		    config_count("--etcd-max-txn-ops", arg, 2, 1000000);
		break;
	default:
		apply_limit_option(ch, arg);
		break;
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

static void
parse_options(int argc, char **argv, bool *foreground)
{
	int ch, index;

	/* getopt's messages start with argv[0]: "objd", not its path. */
	argv[0] = (char *)"objd";
	for (;;) {
		index = -1;
		ch = getopt_long(argc, argv, "hV", longopts, &index);
		if (ch == -1)
			break;
		if (index != -1)
			require_full_name(argv, &longopts[index]);
		switch (ch) {
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("objd %s\n", OBJD_VERSION);
			exit(0);
		case '?':
			/* getopt said why. */
			usage_fail();
		default:
			apply_option(ch, optarg, foreground);
			break;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "objd: unexpected argument '%s'\n",
		    argv[optind]);
		usage_fail();
	}
}

/* The config file is read first, so that the command line overrides it:
 * the one --config names, else root's default when it exists. */
static void
read_config(int argc, char **argv, bool *foreground)
{
	const char *given = NULL, *path;

	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *p = NULL;

		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			p = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			p = argv[i] + 9;
		if (p != NULL && given != NULL)
			config_fail("--config is given once");
		if (p != NULL)
			given = p;
	}
	path = config_choose(given, geteuid() == 0, OBJD_CONFIG_DEFAULT);
	if (path != NULL)
		config_values =
		    config_read(path, longopts, apply_option, foreground);
}

/* Everything that can fail at start, in an order that leaves nothing
 * half done: the file's lock, the file, then the socket, unless systemd
 * passed one (listen_fd). */
static int
startup(int listen_fd)
{
	double began = now_monotonic();
	char err[1024];
	int fd, rc;

	server.file =
	    objfile_open(server.file_path, server.fsync, err, sizeof(err));
	if (server.file == NULL)
		startup_fail("%s", err);
	objfile_set_compress(server.file, compress_snapshots);
	objfile_watch_others(server.file, server.reload_interval > 0);
	server.store = store_new();
	switch (
	    objfile_load(server.file, server.store, true, err, sizeof(err))) {
	case -1:
		startup_fail("cannot load %s: %s", server.file_path, err);
	case 1:
		/* Another program wrote the file: objd appends only to
		 * files in its own format. A newer one renamed in meanwhile
		 * is left for the first reload, if there are reloads. */
		rc = server.reload_interval > 0
		    ? objfile_write_back(server.file, server.store, err,
		          sizeof(err))
		    : objfile_rewrite(server.file, server.store, err,
		          sizeof(err));
		if (rc == -1)
			startup_fail("%s", err);
		if (rc == 1)
			log_warnx("%s", err);
		break;
	}
	server.last_load = now_wall();
	log_info("loaded %s: %zu keys, revision %llu in %.1f ms",
	    server.file_path, store_count(server.store),
	    (unsigned long long)store_revision(server.store),
	    (now_monotonic() - began) * 1e3);
	fd = listen_fd != -1
	    ? listen_fd
	    : listener_bind(server.socket_path, err, sizeof(err));
	if (fd == -1)
		startup_fail("%s", err);
	pidfile_write();
	return fd;
}

int
main(int argc, char **argv)
{
	struct event *sigs[4];
	static const int signums[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	static void (*const handlers[])(evutil_socket_t, short,
	    void *) = { stop_cb, stop_cb, hup_cb, chld_cb };
	bool foreground = false;
	char *file_path = NULL, *socket_path = NULL, err[1024];
	int fd, listen_fd;

	log_init("objd", 0);
	server.reload_interval = 1.0;
	server.frame_max = FRAME_MAX_DEFAULT;
	server.clients_max = 1024;
	server.client_idle_timeout = 30;
	server.client_output_max = (size_t)64 << 20;
	server.output_total_max = output_total_default();
	server.socket_mode = 0600;
	server.socket_group = (gid_t)-1;
	read_config(argc, argv, &foreground);
	parse_options(argc, argv, &foreground);
	/* On etcd the file is a cache that only objd writes: no looks for
	 * outside replacement. */
	if (etcd_mode.endpoints != NULL)
		server.reload_interval = 0;
	/* One cap on a client's unsent output, watching or not. */
	server.watch_output_max = server.client_output_max;
	conn_init_limits();

	/* objd goes to / in the background: every path is made absolute. */
	file_path = server.file_path != NULL ? xstrdup(server.file_path)
	                                     : paths_default_file();
	server.file_path = file_path = absolute_path_free(file_path);
	socket_path = server.socket_path != NULL ? xstrdup(server.socket_path)
	                                         : paths_default_socket();
	server.socket_path = socket_path = absolute_path_free(socket_path);
	if (pidfile_path != NULL)
		pidfile_path = pidfile_owned =
		    absolute_path_free(xstrdup(pidfile_path));

	/* A client that goes away mid-answer must not kill objd, and a file
	 * over its size limit must fail a write with EFBIG, not kill it. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);

	/* A socket from systemd replaces --socket. LISTEN_PID names this
	 * process, so it is taken before the fork. */
	if (listener_from_systemd(&listen_fd, &server.socket_path, err,
	        sizeof(err)) == -1)
		startup_fail("%s", err);

	if (!foreground) {
		daemon_start();
		log_init("objd", 1);
		if (chdir("/") == -1)
			startup_fail("chdir /: %s", strerror(errno));
	}
	server.started = now_wall();
	fd = startup(listen_fd);
	access_check_setup(listen_fd != -1);

	/* The event base is made after fork: it must not share its epoll
	 * descriptor with the parent. */
	server.base = event_base_new();
	if (server.base == NULL)
		startup_fail("cannot create the event loop");
	if (etcd_mode.endpoints == NULL)
		backend = backend_file_new(server.file, &backend_hooks);
	else if ((backend = etcd_mode_start(err, sizeof(err))) == NULL)
		startup_fail("%s", err);
	if (!backend->ops->start(backend, err, sizeof(err)))
		startup_fail("%s", err);
	batch_init();
	watch_init();
	expire_init();
	reload_init();
	notify_watchdog_start(server.base);
	for (size_t i = 0; i < sizeof(signums) / sizeof(signums[0]); i++) {
		sigs[i] =
		    evsignal_new(server.base, signums[i], handlers[i], NULL);
		if (sigs[i] == NULL || event_add(sigs[i], NULL) == -1)
			startup_fail("cannot handle signal %d", signums[i]);
	}
	listener_start(fd);
	log_info("serving %s (%zu keys, revision %llu) on %s", server.file_path,
	    store_count(server.store),
	    (unsigned long long)store_revision(server.store),
	    server.socket_path);
	daemon_ready();
	notify_ready();

	loop_run();

	batch_commit();
	listener_stop();
	listener_unlink();
	if (pidfile_path != NULL)
		unlink(pidfile_path);
	conn_close_all();
	for (size_t i = 0; i < sizeof(signums) / sizeof(signums[0]); i++)
		event_free(sigs[i]);
	if (stop_flush_timer != NULL)
		event_free(stop_flush_timer);
	notify_watchdog_stop();
	reload_free();
	access_free();
	watch_free();
	expire_free();
	batch_free();
	if (etcd_mode.endpoints != NULL) {
		backend->ops->settle(backend);
		etcd_mode_stop();
	}
	backend->ops->close(backend);
	event_base_free(server.base);
	store_free(server.store);
	objfile_close(server.file);
	free(server.last_reload_error);
	free(server.rejected_file);
	free(server.last_write_error);
	free(file_path);
	free(socket_path);
	free(pidfile_owned);
	/* Options from the config file point into it until here. */
	config_free(config_values);
	log_info("stopped");
	return 0;
}
