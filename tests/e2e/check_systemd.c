/* SPDX-License-Identifier: ISC */
/* check_systemd.c: objd under systemd, without systemd. Each test makes
 * the listening socket itself and passes it the way systemd does (fd 3,
 * LISTEN_PID, LISTEN_FDS), then talks to objd through libobjd; it also
 * listens on NOTIFY_SOCKET, as systemd does, for what objd says there. */
#include "config.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <grp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "clock.h"
#include "objd-client.h"

/* A deadline for things that take a moment, never a performance bound. */
#define SD_DEADLINE 10.0

static const char *objd_bin;

static struct {
	char dir[64];
	char sock[96];  /* the socket "systemd" made */
	char other[96]; /* --socket: objd must not use it */
	char file[96];
	char log[96];
	int lfd;   /* the listening socket, kept as systemd keeps it */
	pid_t pid; /* the objd started, or -1 */
	/* JOURNAL_STREAM for the objd spawned next: none, its stderr's
	 * device and inode (as systemd sets it), or another stream's. */
	enum { JOURNAL_NONE, JOURNAL_STDERR, JOURNAL_OTHER } journal;
	uid_t run_uid; /* when not 0, objd runs as this uid and gid */
} t;

/* How spawn() passes the socket. */
enum pass {
	PASS_OURS,  /* LISTEN_PID is objd's */
	PASS_OTHER, /* LISTEN_PID is another process's */
	PASS_TWO    /* LISTEN_FDS=2 */
};

static void
sleep_a_little(void)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static char *
read_log(void)
{
	static char buf[4096];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	if ((fd = open(t.log, O_RDONLY)) == -1)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

static int
listen_on(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(fd, -1);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0,
	    "bind %s: %s", path, strerror(errno));
	ck_assert_int_eq(listen(fd, 16), 0);
	return fd;
}

/* Every test's folder is made in this one, which main() removes at the
 * end: a failed check ends a test's process at once, before teardown. */
static char base[32];

/* Kills the daemon whose pid the pidfile in dir holds. */
static void
kill_pidfile(const char *dir)
{
	char path[320], buf[32] = "";
	ssize_t n;
	long pid;
	int fd;

	snprintf(path, sizeof(path), "%s/objd.pid", dir);
	if ((fd = open(path, O_RDONLY)) == -1)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0 && (pid = strtol(buf, NULL, 10)) > 1)
		kill((pid_t)pid, SIGKILL);
}

/* After the run: what failed tests left running, and every folder. */
static void
cleanup_all(void)
{
	char path[300], cmd[64];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(base)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			snprintf(path, sizeof(path), "%s/%s", base, de->d_name);
			kill_pidfile(path);
		}
		closedir(d);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", base);
}

static void
setup(void)
{
	snprintf(t.dir, sizeof(t.dir), "%s/t.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(t.dir));
	snprintf(t.sock, sizeof(t.sock), "%s/objd.sock", t.dir);
	snprintf(t.other, sizeof(t.other), "%s/other.sock", t.dir);
	snprintf(t.file, sizeof(t.file), "%s/objd.pb", t.dir);
	snprintf(t.log, sizeof(t.log), "%s/objd.log", t.dir);
	t.pid = -1;
	t.journal = JOURNAL_NONE;
	t.run_uid = 0;
	t.lfd = listen_on(t.sock);
}

static void
teardown(void)
{
	if (t.pid > 0) {
		kill(t.pid, SIGKILL);
		waitpid(t.pid, NULL, 0);
	}
	close(t.lfd);
}

/* Sets JOURNAL_STREAM as systemd does when stderr is the journal:
 * stderr's device and inode; another inode if other. */
static void
set_journal_stream(bool other)
{
	struct stat st;
	char v[64];

	if (fstat(STDERR_FILENO, &st) == -1)
		_exit(127);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino + (other ? 1 : 0));
	setenv("JOURNAL_STREAM", v, 1);
}

/* Starts objd as systemd would: fd is dup'ed to 3 and the environment
 * says so. argv holds objd's arguments after the program name. */
static pid_t
spawn(int fd, enum pass pass, const char *const *argv)
{
	const char *args[16] = { objd_bin };
	char num[32];
	size_t n = 1;
	pid_t pid;
	int log;

	while (*argv != NULL && n < 15)
		args[n++] = *argv++;
	args[n] = NULL;
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid > 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	log = open(t.log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (log == -1 || dup2(log, STDERR_FILENO) == -1 || dup2(fd, 3) == -1)
		_exit(127);
	/* dup2 clears FD_CLOEXEC on 3, unless fd was already 3. */
	fcntl(3, F_SETFD, 0);
	if (t.run_uid != 0 &&
	    (setgroups(0, NULL) == -1 || setgid((gid_t)t.run_uid) == -1 ||
	        setuid(t.run_uid) == -1))
		_exit(126);
	if (t.journal != JOURNAL_NONE)
		set_journal_stream(t.journal == JOURNAL_OTHER);
	snprintf(num, sizeof(num), "%ld",
	    pass == PASS_OTHER ? (long)getppid() : (long)getpid());
	setenv("LISTEN_PID", num, 1);
	setenv("LISTEN_FDS", pass == PASS_TWO ? "2" : "1", 1);
	if (pass == PASS_TWO)
		dup2(fd, 4);
	execv(objd_bin, (char *const *)args);
	_exit(127);
}

static pid_t
spawn_foreground(int fd, enum pass pass)
{
	const char *argv[] = { "--foreground", "--file", t.file, "--socket",
		t.other, "--reload-interval", "0", NULL };

	return spawn(fd, pass, argv);
}

/* Waits for pid to exit; its exit status, or -1 at the deadline. */
static int
wait_exit(pid_t pid)
{
	double deadline = now_monotonic() + SD_DEADLINE;
	int status;
	pid_t r;

	while (now_monotonic() < deadline) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status)
			                         : 128 + WTERMSIG(status);
		sleep_a_little();
	}
	return -1;
}

static void
stop(void)
{
	int status;

	ck_assert_int_eq(kill(t.pid, SIGTERM), 0);
	status = wait_exit(t.pid);
	t.pid = -1;
	ck_assert_msg(status == 0, "objd exited %d; its log:\n%s", status,
	    read_log());
}

static objd_client *
client_at(const char *path)
{
	objd_client *c = NULL;
	char err[256] = "";

	ck_assert_msg(objd_connect(path, SD_DEADLINE, &c, err, sizeof(err)) ==
	        OBJD_OK,
	    "connect %s: %s", path, err);
	return c;
}

static void
set_string(objd_client *c, const char *key, const char *s)
{
	Objd__Value *v = objd_value_new_string(s);
	const Objd__Value *values[] = { v };
	int status;

	status = objd_set(c, &key, values, 1);
	objd_value_free(v);
	ck_assert_msg(status == OBJD_OK, "set %s: %s", key,
	    objd_client_error(c));
}

static void
expect_string(objd_client *c, const char *key, const char *want)
{
	Objd__Value *v = NULL;
	int status;

	status = objd_get(c, key, &v);
	ck_assert_msg(status == OBJD_OK, "get %s: %s", key,
	    objd_client_error(c));
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_STRING_VALUE);
	ck_assert_str_eq(v->string_value, want);
	objd_value_free(v);
}

static void
expect_status_socket(objd_client *c, const char *want)
{
	Objd__Response *r = NULL;

	ck_assert_msg(objd_status(c, &r) == OBJD_OK, "status: %s",
	    objd_client_error(c));
	ck_assert_str_eq(r->info->socket, want);
	objd_response_free(r);
}

/* The heart of socket activation: a client connects before objd runs
 * and is answered once it does; objd serves the passed socket, leaves
 * --socket alone, and on stop leaves the socket file to systemd, whose
 * socket a second objd then serves with the same object. */
START_TEST(test_activation)
{
	objd_client *early, *c;

	early = client_at(t.sock);
	t.pid = spawn_foreground(t.lfd, PASS_OURS);
	set_string(early, "name", "John");
	expect_string(early, "name", "John");
	expect_status_socket(early, t.sock);
	ck_assert_msg(!exists(t.other), "objd bound --socket too");
	objd_close(early);
	stop();
	ck_assert_msg(exists(t.sock), "objd removed systemd's socket");

	/* systemd starts objd again on the next client. */
	c = client_at(t.sock);
	t.pid = spawn_foreground(t.lfd, PASS_OURS);
	expect_string(c, "name", "John");
	ck_assert_int_eq(objd_ping(c), OBJD_OK);
	objd_close(c);
	stop();
	ck_assert(exists(t.sock));
	ck_assert(!exists(t.other));
}
END_TEST

/* LISTEN_PID names another process: the socket is not objd's, and objd
 * binds its own --socket as usual. */
START_TEST(test_not_ours)
{
	objd_client *c;
	double deadline = now_monotonic() + SD_DEADLINE;

	t.pid = spawn_foreground(t.lfd, PASS_OTHER);
	/* The socket's name appears at bind, a moment before objd listens:
	 * until then a connect is refused. */
	while (objd_connect(t.other, SD_DEADLINE, &c, NULL, 0) != OBJD_OK &&
	    now_monotonic() < deadline)
		sleep_a_little();
	ck_assert_msg(c != NULL, "objd never listened on %s", t.other);
	expect_status_socket(c, t.other);
	objd_close(c);
	stop();
	ck_assert_msg(!exists(t.other), "objd left its own socket behind");
}
END_TEST

/* What objd cannot serve is refused at start, with a reason. */
static void
expect_refused(int fd, enum pass pass, const char *why)
{
	int status;

	t.pid = spawn_foreground(fd, pass);
	status = wait_exit(t.pid);
	if (status != -1)
		t.pid = -1;
	ck_assert_msg(status != 0 && status != -1,
	    "objd exited %d with a bad socket", status);
	ck_assert_msg(strstr(read_log(), why) != NULL,
	    "objd's log does not say \"%s\":\n%s", why, read_log());
	ck_assert(!exists(t.other));
}

START_TEST(test_refused_file)
{
	int fd = open("/dev/null", O_RDONLY);

	expect_refused(fd, PASS_OURS, "not a stream socket");
	close(fd);
}
END_TEST

START_TEST(test_refused_not_listening)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	expect_refused(fd, PASS_OURS, "not listening");
	close(fd);
}
END_TEST

START_TEST(test_refused_two)
{
	expect_refused(t.lfd, PASS_TWO, "passed 2 sockets");
}
END_TEST

/* Without --foreground objd takes the socket before it forks, since
 * LISTEN_PID names the process systemd started. */
START_TEST(test_background)
{
	char pidfile[128];
	const char *argv[] = { "--file", t.file, "--socket", t.other,
		"--reload-interval", "0", "--pidfile", pidfile, NULL };
	Objd__Response *r = NULL;
	objd_client *c;

	snprintf(pidfile, sizeof(pidfile), "%s/objd.pid", t.dir);
	/* The daemon is reparented to this process, which can then wait
	 * for it. */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	t.pid = spawn(t.lfd, PASS_OURS, argv);
	ck_assert_msg(wait_exit(t.pid) == 0, "objd did not start:\n%s",
	    read_log());
	t.pid = -1;
	c = client_at(t.sock);
	ck_assert_int_eq(objd_status(c, &r), OBJD_OK);
	t.pid = (pid_t)r->info->pid;
	ck_assert_str_eq(r->info->socket, t.sock);
	objd_response_free(r);
	set_string(c, "city", "New York");
	objd_close(c);
	ck_assert(!exists(t.other));
	stop();
	ck_assert(exists(t.sock));
}
END_TEST

/* A datagram socket that stands for systemd's notify socket: a path in
 * the test's folder, or an abstract name. NOTIFY_SOCKET names it for
 * the objd spawned next. */
static int
notify_listen(bool abstract)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char name[sizeof(sun.sun_path)];
	socklen_t len;
	int fd;

	if (abstract)
		snprintf(name, sizeof(name), "@objd-check-%ld", (long)getpid());
	else
		snprintf(name, sizeof(name), "%s/notify", t.dir);
	memcpy(sun.sun_path, name, strlen(name));
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(name) + (abstract ? 0 : 1));
	if (abstract)
		sun.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(fd, -1);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sun, len) == 0,
	    "bind %s: %s", name, strerror(errno));
	setenv("NOTIFY_SOCKET", name, 1);
	return fd;
}

/* Waits for one datagram on fd and checks that it holds want; returns
 * it. */
static const char *
expect_notification(int fd, const char *want)
{
	static char buf[512];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	ck_assert_msg(poll(&pfd, 1, (int)(SD_DEADLINE * 1000)) == 1,
	    "no notification %s; objd's log:\n%s", want, read_log());
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_msg(strstr(buf, want) != NULL, "got \"%s\", not %s", buf,
	    want);
	return buf;
}

/* objd says READY=1 once it serves, with a STATUS= line, and STOPPING=1
 * when it stops; through a socket at a path, and at an abstract name. */
static void
check_notify(bool abstract)
{
	objd_client *c;
	char status[256];
	int nfd;

	nfd = notify_listen(abstract);
	t.pid = spawn_foreground(t.lfd, PASS_OURS);
	unsetenv("NOTIFY_SOCKET");
	snprintf(status, sizeof(status), "STATUS=serving %s on %s", t.file,
	    t.sock);
	expect_notification(nfd, status);
	c = client_at(t.sock);
	ck_assert_int_eq(objd_ping(c), OBJD_OK);
	objd_close(c);
	kill(t.pid, SIGTERM);
	expect_notification(nfd, "STOPPING=1");
	stop();
	close(nfd);
}

START_TEST(test_notify)
{
	check_notify(false);
}
END_TEST

START_TEST(test_notify_abstract)
{
	check_notify(true);
}
END_TEST

/* SIGHUP (systemctl reload) is RELOADING=1 with the monotonic clock's
 * microseconds, then READY=1 once the file is loaded. */
START_TEST(test_notify_reload)
{
	unsigned long long usec, before;
	const char *msg, *p;
	struct timespec ts;
	int nfd;

	nfd = notify_listen(false);
	t.pid = spawn_foreground(t.lfd, PASS_OURS);
	unsetenv("NOTIFY_SOCKET");
	expect_notification(nfd, "READY=1");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	before = (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL;
	kill(t.pid, SIGHUP);
	msg = expect_notification(nfd, "RELOADING=1\nMONOTONIC_USEC=");
	p = strstr(msg, "MONOTONIC_USEC=") + strlen("MONOTONIC_USEC=");
	usec = strtoull(p, NULL, 10);
	ck_assert_msg(usec >= before, "MONOTONIC_USEC=%llu, before %llu", usec,
	    before);
	expect_notification(nfd, "READY=1");
	stop();
	close(nfd);
}
END_TEST

/* Waits for a datagram on fd that holds want, passing over others. */
static void
await_notification(int fd, const char *want)
{
	double deadline = now_monotonic() + SD_DEADLINE;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[512];
	ssize_t n;

	while (now_monotonic() < deadline) {
		if (poll(&pfd, 1, 100) != 1)
			continue;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		ck_assert_int_gt(n, 0);
		buf[n] = '\0';
		if (strstr(buf, want) != NULL)
			return;
	}
	ck_abort_msg("no notification %s; objd's log:\n%s", want, read_log());
}

/* WatchdogSec= in the unit: systemd sets WATCHDOG_USEC, and objd says
 * WATCHDOG=1 again and again while its loop turns. */
START_TEST(test_watchdog)
{
	int nfd;

	nfd = notify_listen(false);
	setenv("WATCHDOG_USEC", "100000", 1);
	t.pid = spawn_foreground(t.lfd, PASS_OURS);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	await_notification(nfd, "READY=1");
	await_notification(nfd, "WATCHDOG=1");
	await_notification(nfd, "WATCHDOG=1");
	stop();
	close(nfd);
}
END_TEST

/* A notify socket that no one listens on, or that objd cannot use, is
 * logged; objd serves all the same. */
static void
check_notify_unheard(const char *name, const char *why)
{
	objd_client *c;

	setenv("NOTIFY_SOCKET", name, 1);
	t.pid = spawn_foreground(t.lfd, PASS_OURS);
	unsetenv("NOTIFY_SOCKET");
	c = client_at(t.sock);
	ck_assert_int_eq(objd_ping(c), OBJD_OK);
	objd_close(c);
	stop();
	ck_assert_msg(strstr(read_log(), why) != NULL,
	    "objd's log does not say \"%s\":\n%s", why, read_log());
}

START_TEST(test_notify_unheard)
{
	char name[128];

	snprintf(name, sizeof(name), "%s/nobody", t.dir);
	check_notify_unheard(name, "cannot tell systemd READY=1");
}
END_TEST

START_TEST(test_notify_bad_address)
{
	check_notify_unheard("vsock:2:1234", "is not a UNIX socket");
}
END_TEST

/* Checks that every line of objd's log is "<N>message", N a syslog
 * priority, and that none names objd: journald names the unit. */
static void
expect_journal_lines(void)
{
	const char *log = read_log(), *p;

	ck_assert_msg(*log != '\0', "objd logged nothing");
	for (p = log; *p != '\0'; p = strchr(p, '\n') + 1) {
		ck_assert_msg(p[0] == '<' && p[1] >= '0' && p[1] <= '7' &&
		        p[2] == '>',
		    "a line without a priority:\n%s", log);
		ck_assert_msg(strncmp(p + 3, "objd: ", 6) != 0,
		    "a line names objd:\n%s", log);
		ck_assert_msg(strchr(p, '\n') != NULL, "a cut line:\n%s", log);
	}
}

static void
expect_in_log(const char *want)
{
	ck_assert_msg(strstr(read_log(), want) != NULL,
	    "objd's log does not say \"%s\":\n%s", want, read_log());
}

/* With stderr on the journal, lines take journald's priority prefixes
 * (<6> info, <4> warning, <7> debug) and drop objd's name. */
START_TEST(test_journal)
{
	const char *argv[] = { "--foreground", "--file", t.file, "--socket",
		t.other, "--reload-interval", "0", "--log-level", "debug",
		NULL };
	char nobody[128];
	objd_client *c;

	t.journal = JOURNAL_STDERR;
	/* No one hears the notify socket: a warning. */
	snprintf(nobody, sizeof(nobody), "%s/nobody", t.dir);
	setenv("NOTIFY_SOCKET", nobody, 1);
	t.pid = spawn(t.lfd, PASS_OURS, argv);
	unsetenv("NOTIFY_SOCKET");
	c = client_at(t.sock);
	ck_assert_int_eq(objd_ping(c), OBJD_OK);
	objd_close(c);
	stop();
	expect_journal_lines();
	expect_in_log("<6>serving ");
	expect_in_log("<4>cannot tell systemd READY=1");
	expect_in_log("<7>client 1 connected");
	expect_in_log("<6>stopped\n");
}
END_TEST

/* An objd that cannot start says why at <2> (critical): it exits. */
START_TEST(test_journal_fatal)
{
	int fd = open("/dev/null", O_RDONLY);

	t.journal = JOURNAL_STDERR;
	expect_refused(fd, PASS_OURS, "not a stream socket");
	close(fd);
	expect_journal_lines();
	expect_in_log("<2>the descriptor systemd passed is not a stream");
}
END_TEST

/* JOURNAL_STREAM inherited by a program whose stderr went elsewhere
 * does not count: lines are as on a terminal. */
START_TEST(test_journal_other_stream)
{
	objd_client *c;

	t.journal = JOURNAL_OTHER;
	t.pid = spawn_foreground(t.lfd, PASS_OURS);
	c = client_at(t.sock);
	ck_assert_int_eq(objd_ping(c), OBJD_OK);
	objd_close(c);
	stop();
	expect_in_log("objd: serving ");
	ck_assert_msg(strstr(read_log(), "<6>") == NULL, "%s", read_log());
}
END_TEST

/* Checks that the log has a line that says what, and ends saying how
 * long it took: " in N.N ms". */
static void
expect_duration(const char *what)
{
	const char *log = read_log(), *p = strstr(log, what), *end;
	double ms;
	int n = 0;

	ck_assert_msg(p != NULL, "objd's log does not say \"%s\":\n%s", what,
	    log);
	end = strchr(p, '\n');
	p = strstr(p, " in ");
	ck_assert_msg(p != NULL && end != NULL && p < end &&
	        sscanf(p, " in %lf ms%n", &ms, &n) == 1 && p + n == end &&
	        ms >= 0,
	    "\"%s\" says no duration:\n%s", what, log);
}

static void
copy_file(const char *from, const char *to)
{
	char buf[4096];
	ssize_t n;
	int in, out;

	in = open(from, O_RDONLY | O_CLOEXEC);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_msg(in != -1 && out != -1, "copy %s: %s", from,
	    strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(n, 0);
	close(in);
	close(out);
}

/* The log says how long the load at start, a reload and a compaction
 * took. */
START_TEST(test_durations)
{
	char want[256], copy[128];
	objd_client *c;

	t.pid = spawn_foreground(t.lfd, PASS_OURS);
	c = client_at(t.sock);
	set_string(c, "name", "John");
	snprintf(want, sizeof(want), "loaded %s: 0 keys, revision 0", t.file);
	expect_duration(want);

	ck_assert_int_eq(objd_compact(c), OBJD_OK);
	snprintf(want, sizeof(want), "compacted %s to ", t.file);
	expect_duration(want);

	/* Another program puts back the file of revision 1. */
	snprintf(copy, sizeof(copy), "%s/copy.pb", t.dir);
	copy_file(t.file, copy);
	set_string(c, "city", "New York");
	ck_assert_int_eq(rename(copy, t.file), 0);
	ck_assert_int_eq(objd_reload(c), OBJD_OK);
	snprintf(want, sizeof(want), "loaded %s: 1 keys, revision 3", t.file);
	expect_duration(want);
	expect_string(c, "name", "John");
	objd_close(c);
	stop();
}
END_TEST

/* The system unit's users, as numbers: objd's own (User=objd, and its
 * group objd), a member of the group objd, and someone else. */
#define UNIT_OBJD 4600
#define UNIT_MEMBER 4700
#define UNIT_OTHER 4800

/* Connects as uid (with the supplementary group objd if member) and sets
 * a key; the libobjd status. */
static int
set_as(uid_t uid, bool member)
{
	const gid_t groups[] = { UNIT_OBJD };
	int status;
	pid_t pid;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		objd_client *c = NULL;
		const char *key = "by";
		Objd__Value *v;

		if (setgroups(member ? 1 : 0, groups) == -1 ||
		    setgid((gid_t)uid) == -1 || setuid(uid) == -1)
			_exit(100);
		if (objd_connect(t.sock, SD_DEADLINE, &c, NULL, 0) != OBJD_OK)
			_exit(OBJD_UNREACHABLE);
		v = objd_value_new_string("someone");
		_exit(objd_set(c, &key, (const Objd__Value *const *)&v, 1));
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 100,
	    "the client could not become uid %ld", (long)uid);
	return WEXITSTATUS(status);
}

/* objd as objd.service and objd.socket run it: as the user objd, not
 * root, on a socket that systemd made (root's, mode 0660, group objd),
 * with --allow-rw @objd. Root and a member of the group may write; no
 * one else may even connect. */
START_TEST(test_unit_policy)
{
	char state[96], file[128], group[32];
	const char *argv[] = { "--foreground", "--file", file, "--socket",
		t.other, "--reload-interval", "0", "--allow-rw", group, NULL };
	objd_client *c;

	if (geteuid() != 0) {
		printf("SKIP test_unit_policy: needs root, to run objd and "
		       "its clients as other users\n");
		return;
	}
	/* The users must reach the socket, and objd its file's folder. */
	ck_assert_int_eq(chmod(base, 0755), 0);
	ck_assert_int_eq(chmod(t.dir, 0755), 0);
	snprintf(state, sizeof(state), "%s/state", t.dir);
	snprintf(file, sizeof(file), "%s/objd.pb", state);
	snprintf(group, sizeof(group), "@%d", UNIT_OBJD);
	ck_assert_int_eq(mkdir(state, 0700), 0);
	ck_assert_int_eq(chown(state, UNIT_OBJD, UNIT_OBJD), 0);
	ck_assert_int_eq(chown(t.sock, 0, UNIT_OBJD), 0);
	ck_assert_int_eq(chmod(t.sock, 0660), 0);

	t.run_uid = UNIT_OBJD;
	t.pid = spawn(t.lfd, PASS_OURS, argv);
	c = client_at(t.sock);
	set_string(c, "name", "John"); /* root */
	objd_close(c);
	ck_assert_int_eq(set_as(UNIT_MEMBER, true), OBJD_OK);
	ck_assert_int_eq(set_as(UNIT_OTHER, false), OBJD_UNREACHABLE);
	c = client_at(t.sock);
	expect_string(c, "by", "someone");
	objd_close(c);
	stop();
}
END_TEST

static Suite *
systemd_suite(void)
{
	Suite *s = suite_create("systemd");
	TCase *tc = tcase_create("activation");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_activation);
	tcase_add_test(tc, test_not_ours);
	tcase_add_test(tc, test_refused_file);
	tcase_add_test(tc, test_refused_not_listening);
	tcase_add_test(tc, test_refused_two);
	tcase_add_test(tc, test_background);
	tcase_add_test(tc, test_notify);
	tcase_add_test(tc, test_notify_abstract);
	tcase_add_test(tc, test_notify_reload);
	tcase_add_test(tc, test_watchdog);
	tcase_add_test(tc, test_notify_unheard);
	tcase_add_test(tc, test_notify_bad_address);
	tcase_add_test(tc, test_journal);
	tcase_add_test(tc, test_journal_fatal);
	tcase_add_test(tc, test_journal_other_stream);
	tcase_add_test(tc, test_durations);
	tcase_add_test(tc, test_unit_policy);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	if ((objd_bin = getenv("OBJD_BIN")) == NULL) {
		fprintf(stderr,
		    "OBJD_BIN is not set: run me with make check\n");
		return 99;
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(base, sizeof(base), "/tmp/objd-sd.XXXXXX");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 99;
	}
	sr = srunner_create(systemd_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	cleanup_all();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
