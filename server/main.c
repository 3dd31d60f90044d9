/* SPDX-License-Identifier: ISC */
/* main.c: objd's life: options, start in the background, the event loop,
 * signals and a clean stop. The options are options.c's. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
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
#include "options.h"
#include "paths.h"
#include "xmalloc.h"

struct server server;
struct objd_options options;

/* While starting in the background, the write end of the pipe on which
 * the waiting parent hears "ok" or why the start failed. */
static int startup_fd = -1;
static const char *pidfile_path;
static char *pidfile_owned;
static struct event *stop_flush_timer;
static double stop_deadline;

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
	if (!reload_child_exited())
		compact_child_exited();
}

static void
hup_cb(evutil_socket_t sig, short events, void *arg)
{
	char err[1024];

	/* On etcd the file is objd's own cache: read etcd again instead. */
	if (etcd_mode_reload(err, sizeof(err)))
		return;
	log_info("reloading %s on SIGHUP", options.file_path);
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

/* The signal mask before stop_signals_block, restored once the loop
 * handles the stop signals. */
static sigset_t stop_signals_old;

static void
stop_signals_block(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, &stop_signals_old) == -1)
		startup_fail("sigprocmask: %s", strerror(errno));
}

/* A stop signal that came meanwhile is handled now, by the loop. */
static void
stop_signals_unblock(void)
{
	if (sigprocmask(SIG_SETMASK, &stop_signals_old, NULL) == -1)
		startup_fail("sigprocmask: %s", strerror(errno));
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
	    objfile_open(options.file_path, options.fsync, err, sizeof(err));
	if (server.file == NULL)
		startup_fail("%s", err);
	objfile_set_compress(server.file, options_main.compress);
	objfile_watch_others(server.file, options.reload_interval > 0);
	server.store = store_new();
	switch (
	    objfile_load(server.file, server.store, true, err, sizeof(err))) {
	case OBJFILE_LOAD_FAILED:
		startup_fail("cannot load %s: %s", options.file_path, err);
	case OBJFILE_LOADED:
		break;
	case OBJFILE_LOADED_FOREIGN:
		/* Another program wrote the file: objd appends only to
		 * files in its own format. A newer one renamed in meanwhile
		 * is left for the first reload, if there are reloads. */
		rc = options.reload_interval > 0
		    ? objfile_write_back(server.file, server.store, err,
		          sizeof(err))
		    : objfile_rewrite(server.file, server.store, err,
		          sizeof(err));
		if (rc == OBJFILE_FAILED)
			startup_fail("%s", err);
		if (rc == OBJFILE_GAVE_WAY)
			log_warnx("%s", err);
		break;
	}
	server.last_load = now_wall();
	log_info("loaded %s: %zu keys, revision %llu in %.1f ms",
	    options.file_path, store_count(server.store),
	    (unsigned long long)store_revision(server.store),
	    (now_monotonic() - began) * 1e3);
	/* Once the socket listens, a client may connect and a service
	 * manager or a test may stop objd: a stop signal then waits, blocked,
	 * until the loop handles it (main), so that objd stops as asked,
	 * its socket and pid file removed, rather than die of the signal's
	 * default before its handlers are added. The load above stays
	 * stoppable. */
	stop_signals_block();
	fd = listen_fd != -1
	    ? listen_fd
	    : listener_bind(options.socket_path, err, sizeof(err));
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
	char *file_path = NULL, *socket_path = NULL, err[1024];
	int fd, listen_fd;

	log_init("objd", 0);
	options.reload_interval = 1.0;
	options.frame_max = FRAME_MAX_DEFAULT;
	options.clients_max = 1024;
	options.client_idle_timeout = 30;
	options.client_output_max = (size_t)64 << 20;
	options.output_total_max = output_total_default();
	options.socket_mode = 0600;
	options.socket_group = (gid_t)-1;
	options_read(argc, argv);
	if (etcd_mode.prefix != NULL && *etcd_mode.prefix == '\0')
		config_fail("--etcd-prefix is empty");
	/* One cap on a client's unsent output, watching or not. */
	options.watch_output_max = options.client_output_max;
	conn_init_limits();

	/* objd goes to / in the background: every path is made absolute. */
	file_path = options.file_path != NULL ? xstrdup(options.file_path)
	                                      : paths_default_file();
	options.file_path = file_path = absolute_path_free(file_path);
	socket_path = options.socket_path != NULL ? xstrdup(options.socket_path)
	                                          : paths_default_socket();
	options.socket_path = socket_path = absolute_path_free(socket_path);
	if (options_main.pidfile != NULL)
		pidfile_path = pidfile_owned =
		    absolute_path_free(xstrdup(options_main.pidfile));

	/* A client that goes away mid-answer must not kill objd, and a file
	 * over its size limit must fail a write with EFBIG, not kill it. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);

	/* A socket from systemd replaces --socket. LISTEN_PID names this
	 * process, so it is taken before the fork. */
	if (listener_from_systemd(&listen_fd, &options.socket_path, err,
	        sizeof(err)) == -1)
		startup_fail("%s", err);

	if (!options_main.foreground) {
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
	stop_signals_unblock();
	listener_start(fd);
	log_info("serving %s (%zu keys, revision %llu) on %s",
	    options.file_path, store_count(server.store),
	    (unsigned long long)store_revision(server.store),
	    options.socket_path);
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
	compact_free();
	event_base_free(server.base);
	store_free(server.store);
	store_entry_spares_free();
	objfile_close(server.file);
	free(server.last_reload_error);
	free(server.rejected_file);
	free(server.last_write_error);
	free(file_path);
	free(socket_path);
	free(pidfile_owned);
	/* Options from the config file point into it until here. */
	options_free();
	log_info("stopped");
	return 0;
}
