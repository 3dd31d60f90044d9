/* SPDX-License-Identifier: ISC */
/* check_security.c: objd on a machine with other users and hostile or
 * broken clients, end to end.
 *
 * Access control needs a second user: as root (CI) the tests run objctl
 * and libobjd as made-up uids; as anyone else they say they are skipped.
 * The limits need no privilege. Memory is read from /proc/PID/status;
 * its bounds hold only without sanitizers, whose allocator keeps freed
 * memory (the numbers are printed either way). */
#include "config.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "framing.h"
#include "harness.h"
#include "objd-client.h"
#include "unit.h"
#include "value.h"

/* Made-up users and a group, for the policy: nobody needs them to exist. */
#define UID_RO 4242  /* --allow-ro */
#define UID_OUT 4343 /* in no rule */
#define GID_RW 4500  /* --allow-rw @4500 */

/* The hostile crowd. */
#define STALLED_CLIENTS 1000

static struct session *const s = &e2e_session;

static bool
skip_unless_root(const char *test)
{
	if (geteuid() == 0)
		return false;
	printf("SKIP %s: it runs clients as other users, which needs root\n",
	    test);
	return true;
}

/* Lets other users reach the session's socket: its folder and the
 * runner's folder above it become passable (0711), as /run is. */
static void
open_folders(void)
{
	char dir[sizeof(s->dir)];

	memcpy(dir, s->dir, sizeof(dir));
	ck_assert_int_eq(chmod(s->dir, 0711), 0);
	ck_assert_int_eq(chmod(dirname(dir), 0711), 0);
}

static void
check_growth(const char *what, long before, long after, long max_kb)
{
	printf("%s: objd's RSS %ld kB before, %ld kB after, peak %ld kB\n",
	    what, before, after, e2e_objd_kb(s, "VmHWM"));
	if (!E2E_SANITIZED)
		ck_assert_msg(after - before <= max_kb,
		    "%s: objd's RSS grew by %ld kB, more than %ld", what,
		    after - before, max_kb);
}

/* What a libobjd call made as another user returned. */
enum call { CALL_PING, CALL_GET, CALL_SET };

struct as_user {
	uid_t uid;
	gid_t gid;
	gid_t groups[2];
	int ngroups;
};

/* Runs call through libobjd in a child that has become who; returns
 * its OBJD_* status. */
static int
libobjd_as(const struct as_user *who, enum call call)
{
	pid_t pid;
	int st;

	if ((pid = fork()) == -1)
		ck_abort_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		const char *key = "name";
		objd_client *c = NULL;
		Objd__Value *v = NULL;
		int rc = -1;

		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (setgroups((size_t)who->ngroups, who->groups) == -1 ||
		    setgid(who->gid) == -1 || setuid(who->uid) == -1)
			_exit(100);
		if (objd_connect(s->sock, E2E_DEADLINE, &c, NULL, 0) != OBJD_OK)
			_exit(OBJD_UNREACHABLE);
		switch (call) {
		case CALL_PING:
			rc = objd_ping(c);
			break;
		case CALL_GET:
			rc = objd_get(c, key, &v);
			break;
		case CALL_SET:
			v = value_new_string("set by libobjd", 14);
			rc = objd_set(c, &key, (const Objd__Value *const *)&v,
			    1);
			break;
		}
		_exit(rc);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 100,
	    "the child could not become uid %ld", (long)who->uid);
	return WEXITSTATUS(st);
}

/* Runs objctl as uid:gid and requires exit code want. */
#define CTL_AS(uid, gid, want, ...)                                            \
	do {                                                                   \
		s->run_uid = (uid);                                            \
		s->run_gid = (gid);                                            \
		CTL_EXIT(s, (want), __VA_ARGS__);                              \
		s->run_uid = 0;                                                \
		s->run_gid = 0;                                                \
	} while (0)

/* objctl must be runnable by other users: the build folder may not be. */
static bool
objctl_runs_as_others(const char *test)
{
	s->run_uid = UID_OUT;
	s->run_gid = UID_OUT;
	CTL(s, "--version");
	s->run_uid = s->run_gid = 0;
	if (s->status == 0)
		return true;
	printf("SKIP %s: objctl cannot run as uid %d (exit %d): is the build "
	       "folder closed to other users?\n",
	    test, UID_OUT, s->status);
	return false;
}

/*
 * Access control.
 */
START_TEST(test_policy)
{
	const struct objd_opts opts = { .extra = E2E_ARGV("--socket-mode",
		                            "0666", "--allow-ro", "4242",
		                            "--allow-rw", "@4500") };
	struct as_user out = { UID_OUT, UID_OUT, { 0 }, 0 };
	struct as_user ro = { UID_RO, UID_RO, { 0 }, 0 };
	struct as_user member = { UID_OUT, UID_OUT, { GID_RW }, 1 };
	char *log;

	if (skip_unless_root("test_policy") ||
	    !objctl_runs_as_others("test_policy"))
		return;
	open_folders();
	e2e_start_opts(s, &opts);
	CTL_OK(s, "set", "name", "John");

	/* Outside the policy: nothing, not even ping. */
	CTL_AS(UID_OUT, UID_OUT, 5, "get", "name");
	ck_assert_msg(strstr(s->err, "permission denied") != NULL &&
	        e2e_one_line(s->err),
	    "stderr: %s", s->err);
	CTL_AS(UID_OUT, UID_OUT, 5, "set", "name", "Mallory");
	CTL_AS(UID_OUT, UID_OUT, 5, "ping");
	ck_assert_int_eq(libobjd_as(&out, CALL_GET), OBJD_DENIED);
	ck_assert_int_eq(libobjd_as(&out, CALL_SET), OBJD_DENIED);

	/* Read-only: reads, never writes. */
	CTL_AS(UID_RO, UID_RO, 0, "get", "name");
	ck_assert_str_eq(s->out, "John\n");
	CTL_AS(UID_RO, UID_RO, 0, "list");
	CTL_AS(UID_RO, UID_RO, 0, "status");
	CTL_AS(UID_RO, UID_RO, 5, "set", "name", "Mallory");
	ck_assert_msg(strstr(s->err, "may only read") != NULL, "stderr: %s",
	    s->err);
	CTL_AS(UID_RO, UID_RO, 5, "del", "name");
	ck_assert_int_eq(libobjd_as(&ro, CALL_GET), OBJD_OK);
	ck_assert_int_eq(libobjd_as(&ro, CALL_PING), OBJD_OK);
	ck_assert_int_eq(libobjd_as(&ro, CALL_SET), OBJD_DENIED);
	ck_assert_str_eq(CTL_OK(s, "get", "name"), "John\n");

	/* In the read-write group: as primary group (objctl) and as a
	 * supplementary one (libobjd, SO_PEERGROUPS). */
	CTL_AS(UID_OUT, GID_RW, 0, "set", "by", "group");
	ck_assert_int_eq(libobjd_as(&member, CALL_SET), OBJD_OK);
	ck_assert_str_eq(CTL_OK(s, "get", "name"), "set by libobjd\n");
	ck_assert_str_eq(CTL_OK(s, "get", "by"), "group\n");

	/* Every refusal is in the log with the peer's uid and pid. */
	log = e2e_log_tail(s);
	ck_assert_msg(e2e_line_has(log, "denied", "4343") &&
	        e2e_line_has(log, "denied", "4242") &&
	        strstr(log, "pid ") != NULL,
	    "log:\n%s", log);
	e2e_stop(s);
}
END_TEST

/* Names, lists and the config file. */
START_TEST(test_policy_config)
{
	const char *conf = e2e_path(s, "objd.conf");
	static const char text[] = "# objd's settings\n"
	                           "socket-mode = 0666\n"
	                           "\n"
	                           "allow-ro = nobody , 4242\n"
	                           "max-clients = 100\n";
	struct objd_opts opts = { .extra = E2E_ARGV("--config", conf) };
	struct group *gr = getgrnam("nogroup");

	e2e_write_file(conf, text, strlen(text));
	/* Unknown names are refused at start, with the name. */
	e2e_objd_cmd(s,
	    E2E_ARGV("--foreground", "--file", s->file, "--socket", s->sock,
	        "--allow-rw", "alice-does-not-exist"));
	ck_assert_int_eq(s->status, 2);
	ck_assert_msg(strstr(s->err, "alice-does-not-exist") != NULL &&
	        e2e_one_line(s->err),
	    "stderr: %s", s->err);
	e2e_objd_cmd(s,
	    E2E_ARGV("--foreground", "--file", s->file, "--socket", s->sock,
	        "--allow-ro", "@no-such-group-here"));
	ck_assert_int_eq(s->status, 2);
	e2e_write_file(e2e_path(s, "bad.conf"), "max-clients 3 4\n", 16);
	e2e_objd_cmd(s,
	    E2E_ARGV("--foreground", "--config", e2e_path(s, "bad.conf"),
	        "--file", s->file, "--socket", s->sock));
	ck_assert_int_eq(s->status, 2);
	ck_assert_msg(strstr(s->err, "bad.conf:1") != NULL, "stderr: %s",
	    s->err);
	ck_assert(!e2e_exists(s->sock));

	if (skip_unless_root("test_policy_config") ||
	    !objctl_runs_as_others("test_policy_config"))
		return;
	open_folders();
	e2e_start_opts(s, &opts);
	CTL_OK(s, "set", "k", "v");
	CTL_AS(65534, gr != NULL ? gr->gr_gid : 65534, 0, "get", "k");
	CTL_AS(65534, gr != NULL ? gr->gr_gid : 65534, 5, "set", "k", "w");
	CTL_AS(UID_RO, UID_RO, 0, "get", "k");
	CTL_AS(UID_OUT, UID_OUT, 5, "get", "k");
	e2e_stop(s);
}
END_TEST

START_TEST(test_socket_mode)
{
	gid_t group = geteuid() == 0 ? GID_RW : getegid();
	char gid[16];
	struct objd_opts opts = { 0 };
	struct stat st;

	/* The default: objd's user alone. */
	e2e_start(s);
	ck_assert_int_eq(stat(s->sock, &st), 0);
	ck_assert_msg(S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0600,
	    "socket mode %04o", (unsigned)(st.st_mode & 07777));
	if (geteuid() == 0 && objctl_runs_as_others("test_socket_mode")) {
		open_folders();
		CTL_AS(UID_OUT, UID_OUT, 5, "get");
		ck_assert_msg(strstr(s->err, "ermission denied") != NULL,
		    "stderr: %s", s->err);
	}
	e2e_stop(s);

	snprintf(gid, sizeof(gid), "%ld", (long)group);
	opts.extra = E2E_ARGV("--socket-mode", "0660", "--socket-group", gid);
	e2e_start_opts(s, &opts);
	ck_assert_int_eq(stat(s->sock, &st), 0);
	ck_assert_msg((st.st_mode & 07777) == 0660, "socket mode %04o",
	    (unsigned)(st.st_mode & 07777));
	ck_assert_int_eq(st.st_gid, group);
	CTL_OK(s, "ping");
	e2e_stop(s);

	/* Modes that are no mode, or that lock objd's own user out. */
	e2e_objd_cmd(s,
	    E2E_ARGV("--foreground", "--file", s->file, "--socket", s->sock,
	        "--socket-mode", "0999"));
	ck_assert_int_eq(s->status, 2);
	ck_assert_msg(e2e_one_line(s->err), "stderr: %s", s->err);
	e2e_objd_cmd(s,
	    E2E_ARGV("--foreground", "--file", s->file, "--socket", s->sock,
	        "--socket-mode", "0066"));
	ck_assert_int_eq(s->status, 2);
	ck_assert(!e2e_exists(s->sock));
}
END_TEST

/*
 * Files.
 */

/* True if objd left one of its temporary files in the session folder. */
static bool
has_temp_file(void)
{
	struct dirent *de;
	bool found = false;
	DIR *d = opendir(s->dir);

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, ".objd-new", 9) == 0)
			found = true;
	closedir(d);
	return found;
}
START_TEST(test_files)
{
	const char *sub = e2e_path(s, "shared");
	const char *target = e2e_path(s, "elsewhere.pb");
	char *file = e2e_path(s, "shared/objd.pb");
	struct stat st;

	/* What objd writes is its user's alone. */
	e2e_start(s);
	CTL_OK(s, "set", "k", "v");
	CTL_OK(s, "compact");
	ck_assert_int_eq(stat(s->file, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(stat(e2e_path(s, "objd.pb.lock"), &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_msg(!has_temp_file(), "compaction left a temporary file");
	e2e_stop(s);
	/* A file made readable by others is made private again. */
	ck_assert_int_eq(chmod(s->file, 0644), 0);
	e2e_start(s);
	ck_assert_int_eq(stat(s->file, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_str_eq(CTL_OK(s, "get", "k"), "v\n");
	e2e_stop(s);

	/* A symbolic link in the file's place is not followed. */
	ck_assert_int_eq(rename(s->file, target), 0);
	ck_assert_int_eq(symlink(target, s->file), 0);
	e2e_objd_cmd(s,
	    E2E_ARGV("--foreground", "--file", s->file, "--socket", s->sock));
	ck_assert_msg(s->status > 0 && s->status < 128 &&
	        strstr(s->err, "symbolic link") != NULL && e2e_one_line(s->err),
	    "objd on a symlink: exit %d, stderr: %s", s->status, s->err);
	ck_assert_int_eq(unlink(s->file), 0);
	/* Nor is a FIFO waited on. */
	ck_assert_int_eq(mkfifo(s->file, 0600), 0);
	e2e_objd_cmd(s,
	    E2E_ARGV("--foreground", "--file", s->file, "--socket", s->sock));
	ck_assert_msg(s->status > 0 && s->status < 128,
	    "objd on a FIFO: exit %d, stderr: %s", s->status, s->err);
	ck_assert_int_eq(unlink(s->file), 0);

	/* A folder that others may write to is refused. */
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	ck_assert_int_eq(chmod(sub, 01777), 0);
	e2e_objd_cmd(s,
	    E2E_ARGV("--foreground", "--file", file, "--socket", s->sock));
	ck_assert_msg(s->status > 0 && s->status < 128 &&
	        strstr(s->err, "writable by other users") != NULL &&
	        e2e_one_line(s->err),
	    "objd in a shared folder: exit %d, stderr: %s", s->status, s->err);
	ck_assert(!e2e_exists(file));
	if (geteuid() == 0) {
		/* So is another user's folder. */
		ck_assert_int_eq(chmod(sub, 0700), 0);
		ck_assert_int_eq(chown(sub, UID_OUT, UID_OUT), 0);
		e2e_objd_cmd(s,
		    E2E_ARGV("--foreground", "--file", file, "--socket",
		        s->sock));
		ck_assert_msg(s->status > 0 && s->status < 128 &&
		        strstr(s->err, "belongs to uid 4343") != NULL,
		    "objd in another's folder: exit %d, stderr: %s", s->status,
		    s->err);
	}
	ck_assert(!e2e_exists(s->sock));
}
END_TEST

/*
 * Limits.
 */

/* Raises this process's limit on open files to want, or as far as it
 * goes; returns how many it may open. */
static rlim_t
raise_nofile(rlim_t want)
{
	struct rlimit rl;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < want) {
		rl.rlim_cur =
		    rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want
		    ? want
		    : rl.rlim_max;
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	return rl.rlim_cur;
}

/* A connection that starts a frame of 1,000 bytes and sends 10. */
static int
stalled_client(void)
{
	static const uint8_t part[12] = { 0xe8, 0x07, 0x08, 0x01 };
	int fd = e2e_raw_connect(s);

	ck_assert(e2e_raw_send(fd, part, sizeof(part)));
	return fd;
}

/* The clients objd has, the one asking included. */
static uint64_t
clients_now(void)
{
	objd_client *c = NULL;
	Objd__Response *r = NULL;
	uint64_t n;

	ck_assert_int_eq(objd_connect(s->sock, E2E_DEADLINE, &c, NULL, 0),
	    OBJD_OK);
	ck_assert_int_eq(objd_status(c, &r), OBJD_OK);
	n = r->info->clients;
	objd_response_free(r);
	objd_close(c);
	return n;
}

/* Frames of n get requests for key, ids from 1. */
static uint8_t *
get_frames(const char *key, int n, size_t *len)
{
	uint8_t *frames = NULL;
	size_t flen;

	*len = 0;
	for (uint64_t id = 1; id <= (uint64_t)n; id++) {
		uint8_t *f = e2e_get_frame(key, id, &flen);

		frames = realloc(frames, *len + flen);
		ck_assert_ptr_nonnull(frames);
		memcpy(frames + *len, f, flen);
		*len += flen;
		free(f);
	}
	return frames;
}

/* Waits until objd has every client connected (status counts them). */
static void
wait_clients(uint64_t want)
{
	double end = e2e_now() + E2E_DEADLINE;
	objd_client *c = NULL;
	Objd__Response *r = NULL;

	ck_assert_int_eq(objd_connect(s->sock, E2E_DEADLINE, &c, NULL, 0),
	    OBJD_OK);
	for (;;) {
		ck_assert_int_eq(objd_status(c, &r), OBJD_OK);
		if (r->info->clients >= want + 1) {
			objd_response_free(r);
			break;
		}
		objd_response_free(r);
		ck_assert_msg(e2e_now() < end, "objd never saw %llu clients",
		    (unsigned long long)want);
		e2e_sleep(0.05);
	}
	objd_close(c);
}

START_TEST(test_stalled_clients)
{
	int fds[STALLED_CLIENTS];
	size_t n = STALLED_CLIENTS;
	long before, after;
	double t;
	rlim_t limit = raise_nofile(STALLED_CLIENTS + 64);

	if (limit < STALLED_CLIENTS + 64) {
		n = limit > 96 ? (size_t)(limit - 64) : 32;
		printf("test_stalled_clients: only %llu open files allowed: "
		       "%zu stalled clients, not %d\n",
		    (unsigned long long)limit, n, STALLED_CLIENTS);
	}
	e2e_start(s);
	CTL_OK(s, "set", "k", "v");
	before = e2e_objd_kb(s, "VmRSS");
	for (size_t i = 0; i < n; i++)
		fds[i] = stalled_client();
	wait_clients(n);

	/* A normal client is answered at once, reads and writes. */
	t = e2e_now();
	ck_assert_str_eq(CTL_OK(s, "get", "k"), "v\n");
	CTL_OK(s, "set", "k", "w");
	ck_assert_str_eq(CTL_OK(s, "get", "k"), "w\n");
	printf("test_stalled_clients: with %zu stalled clients, three "
	       "objctl calls took %.3f s\n",
	    n, e2e_now() - t);
	after = e2e_objd_kb(s, "VmRSS");
	/* Each holds about its 12 bytes and a connection's buffers. */
	check_growth("stalled clients", before, after, 16 * 1024);
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	ck_assert(e2e_alive(s));
	e2e_stop(s);
}
END_TEST

START_TEST(test_huge_prefix)
{
	static const uint8_t huge[] = { 0x80, 0x80, 0x80, 0x80, 0x10 };
	/* 60 MiB announced, under the limit: objd waits for it, and must
	 * not allocate it meanwhile. */
	static const uint8_t big[] = { 0x80, 0x80, 0x80, 0x1e, 0x08, 0x01 };
	Objd__Response *r = NULL;
	int fds[200];
	long before, after;

	e2e_start(s);
	CTL_OK(s, "ping");
	before = e2e_objd_kb(s, "VmRSS");
	for (int i = 0; i < 200; i++) {
		int fd = e2e_raw_connect(s);

		ck_assert(e2e_raw_send(fd, huge, sizeof(huge)));
		ck_assert_int_eq(e2e_raw_wait(fd, E2E_DEADLINE, &r),
		    RAW_ANSWER);
		ck_assert_int_eq(r->status, OBJD__STATUS__INVALID);
		ck_assert_msg(strstr(r->error, "larger than the limit") != NULL,
		    "error: %s", r->error);
		objd__response__free_unpacked(r, NULL);
		ck_assert_int_eq(e2e_raw_wait(fd, E2E_DEADLINE, &r),
		    RAW_CLOSED);
		close(fd);
	}
	for (int i = 0; i < 200; i++) {
		fds[i] = e2e_raw_connect(s);
		ck_assert(e2e_raw_send(fds[i], big, sizeof(big)));
	}
	wait_clients(200);
	after = e2e_objd_kb(s, "VmRSS");
	check_growth("a 4 GiB length prefix, and 60 MiB ones", before, after,
	    4 * 1024);
	for (int i = 0; i < 200; i++)
		close(fds[i]);
	CTL_OK(s, "ping");
	e2e_stop(s);
}
END_TEST

/* xorshift: the test's random bytes, reproducible from the seed. */
static uint64_t rnd_state;

static uint64_t
rnd(void)
{
	return xorshift64(&rnd_state);
}

START_TEST(test_random_bytes)
{
	enum { CLIENTS = 64, ROUNDS = 8, MAXLEN = 16384 };
	static uint8_t buf[MAXLEN];
	int fds[CLIENTS];
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

	/* To replay a failure: the seed it printed. */
	if (getenv("OBJD_TEST_SEED") != NULL)
		seed = strtoull(getenv("OBJD_TEST_SEED"), NULL, 10);
	rnd_state = seed | 1;
	printf("test_random_bytes: seed %llu\n", (unsigned long long)seed);
	e2e_start(s);
	CTL_OK(s, "set", "k", "v");
	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < CLIENTS; i++) {
			size_t len = 1 + rnd() % MAXLEN;

			for (size_t j = 0; j < len; j++)
				buf[j] = (uint8_t)rnd();
			/* Half start with a plausible frame header. */
			if (i % 2 == 0 && len > 3) {
				size_t body = rnd() % (len * 2);

				buf[0] = (uint8_t)(body | 0x80);
				buf[1] = (uint8_t)((body >> 7) & 0x7f);
				buf[2] = 0x08;
			}
			fds[i] = e2e_raw_connect(s);
			e2e_raw_send(fds[i], buf, len);
			/* Some hang up at once, some half-way. */
			if (rnd() % 4 == 0)
				shutdown(fds[i], SHUT_WR);
		}
		for (int i = 0; i < CLIENTS; i++) {
			struct pollfd pfd = { fds[i], POLLIN, 0 };
			char sink[4096];

			/* Until objd closes, or sends nothing more: a frame of
			 * random bytes can be a valid request (an empty one
			 * is), answered on a connection that stays open. */
			while (poll(&pfd, 1, 5) > 0 &&
			    read(fds[i], sink, sizeof(sink)) > 0)
				;
			close(fds[i]);
		}
		ck_assert_msg(e2e_alive(s),
		    "objd died in round %d (seed %llu); "
		    "log:\n%s",
		    round, (unsigned long long)seed, e2e_log_tail(s));
		ck_assert_str_eq(CTL_OK(s, "get", "k"), "v\n");
	}
	printf("test_random_bytes: objd's peak RSS %ld kB\n",
	    e2e_objd_kb(s, "VmHWM"));
	e2e_stop(s);
}
END_TEST

START_TEST(test_idle_timeout)
{
	const struct objd_opts opts = { .extra = E2E_ARGV(
		                            "--client-idle-timeout", "0.5") };
	static const uint8_t part[] = { 0x20, 0x08, 0x01 };
	static char value[32 * 1024 + 1];
	Objd__Response *r = NULL;
	objd_client *idle = NULL;
	uint8_t *frames;
	size_t len;
	double t;
	int fd;

	e2e_start_opts(s, &opts);
	ck_assert_int_eq(objd_connect(s->sock, E2E_DEADLINE, &idle, NULL, 0),
	    OBJD_OK);
	ck_assert_int_eq(objd_ping(idle), OBJD_OK);

	/* Part of a frame, then nothing: told why, and closed. */
	fd = e2e_raw_connect(s);
	ck_assert(e2e_raw_send(fd, part, sizeof(part)));
	t = e2e_now();
	ck_assert_int_eq(e2e_raw_wait(fd, E2E_DEADLINE, &r), RAW_ANSWER);
	ck_assert_msg(e2e_now() - t >= 0.4, "closed after %.2f s",
	    e2e_now() - t);
	ck_assert_int_eq(r->status, OBJD__STATUS__INVALID);
	ck_assert_msg(strstr(r->error, "--client-idle-timeout") != NULL,
	    "error: %s", r->error);
	objd__response__free_unpacked(r, NULL);
	ck_assert_int_eq(e2e_raw_wait(fd, E2E_DEADLINE, &r), RAW_CLOSED);
	close(fd);

	/* A client idle between requests stays. */
	e2e_sleep(1.2);
	ck_assert_int_eq(objd_ping(idle), OBJD_OK);

	/* One that asks, hangs up its side and never reads its answers
	 * (more than the socket holds) goes too. */
	memset(value, 'x', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	CTL_OK(s, "set", "--string", "big", value);
	frames = get_frames("big", 40, &len);
	fd = e2e_raw_connect(s);
	ck_assert(e2e_raw_send(fd, frames, len));
	free(frames);
	shutdown(fd, SHUT_WR);
	e2e_sleep(0.2);
	ck_assert_uint_eq(clients_now(), 3); /* idle, fd and the asker */
	for (t = e2e_now(); clients_now() > 2; e2e_sleep(0.05))
		ck_assert_msg(e2e_now() - t < E2E_DEADLINE,
		    "a client that reads nothing was kept");
	ck_assert_msg(strstr(e2e_log_tail(s), "read none of its last answers"),
	    "log:\n%s", e2e_log_tail(s));
	close(fd);
	objd_close(idle);
	e2e_stop(s);
}
END_TEST

START_TEST(test_max_clients)
{
	const struct objd_opts opts = { .extra =
		                            E2E_ARGV("--max-clients", "4") };
	Objd__Response *r = NULL;
	objd_client *c[4];
	int fd;

	e2e_start_opts(s, &opts);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(
		    objd_connect(s->sock, E2E_DEADLINE, &c[i], NULL, 0),
		    OBJD_OK);
		ck_assert_int_eq(objd_ping(c[i]), OBJD_OK);
	}
	/* One too many: told so, and closed. */
	CTL_EXIT(s, 6, "ping");
	ck_assert_msg(strstr(s->err, "at most 4 clients") != NULL &&
	        e2e_one_line(s->err),
	    "stderr: %s", s->err);
	CTL_EXIT(s, 6, "set", "k", "v");
	fd = e2e_raw_connect(s);
	ck_assert_int_eq(e2e_raw_wait(fd, E2E_DEADLINE, &r), RAW_ANSWER);
	ck_assert_int_eq(r->status, OBJD__STATUS__FAILED);
	objd__response__free_unpacked(r, NULL);
	ck_assert_int_eq(e2e_raw_wait(fd, E2E_DEADLINE, &r), RAW_CLOSED);
	close(fd);
	/* The four are served as before; once one leaves, a new one is. */
	ck_assert_int_eq(objd_ping(c[3]), OBJD_OK);
	objd_close(c[0]);
	for (double end = e2e_now() + E2E_DEADLINE; CTL(s, "ping") != 0;) {
		ck_assert_msg(e2e_now() < end, "objctl ping: %s", s->err);
		e2e_sleep(0.05);
	}
	CTL_OK(s, "set", "k", "v");
	for (int i = 1; i < 4; i++)
		objd_close(c[i]);
	e2e_stop(s);
}
END_TEST

/* However many clients come over --max-clients at once, each is told
 * why before it is closed: past the ones objd keeps for a moment, the
 * rest are told at once. */
START_TEST(test_max_clients_flood)
{
	const struct objd_opts opts = { .extra =
		                            E2E_ARGV("--max-clients", "1") };
	enum { FLOOD = 64 + 16 };
	Objd__Response *r = NULL;
	objd_client *c;
	int fds[FLOOD];

	e2e_start_opts(s, &opts);
	/* The one client objd serves; the start's own may not be gone yet. */
	for (double end = e2e_now() + E2E_DEADLINE;; e2e_sleep(0.05)) {
		ck_assert_int_eq(
		    objd_connect(s->sock, E2E_DEADLINE, &c, NULL, 0), OBJD_OK);
		if (objd_ping(c) == OBJD_OK)
			break;
		objd_close(c);
		ck_assert_msg(e2e_now() < end, "objd serves no one");
	}
	for (int i = 0; i < FLOOD; i++)
		fds[i] = e2e_raw_connect(s);
	CTL_EXIT(s, 6, "ping");
	ck_assert_msg(strstr(s->err, "at most 1 clients") != NULL, "stderr: %s",
	    s->err);
	for (int i = 0; i < FLOOD; i++) {
		enum raw_outcome o = e2e_raw_wait(fds[i], E2E_DEADLINE, &r);

		ck_assert_msg(o == RAW_ANSWER, "client %d of %d: %s", i + 1,
		    FLOOD, e2e_raw_outcome_str(o));
		ck_assert_int_eq(r->status, OBJD__STATUS__FAILED);
		ck_assert_msg(strstr(r->error, "--max-clients") != NULL,
		    "error: %s", r->error);
		objd__response__free_unpacked(r, NULL);
		ck_assert_int_eq(e2e_raw_wait(fds[i], E2E_DEADLINE, &r),
		    RAW_CLOSED);
		close(fds[i]);
	}
	ck_assert_msg(objd_ping(c) == OBJD_OK, "%s\nlog:\n%s",
	    objd_client_error(c), e2e_log_tail(s));
	objd_close(c);
	e2e_stop(s);
}
END_TEST

/* Clients that send many requests and read no answer are dropped, the
 * one holding the most first, once the answers no client has read pass
 * --max-output-total; a client that reads is served all along. */
START_TEST(test_output_total)
{
	const struct objd_opts opts = { .extra = E2E_ARGV("--max-output-total",
		                            "2M") };
	enum { READERS = 8, GETS = 400, VALUE = 32 * 1024 };
	char *value = malloc(VALUE + 1);
	int fds[READERS], rcvbuf = 4096;
	Objd__Value *v = NULL;
	objd_client *good;
	uint8_t *frames;
	long before, after;
	size_t len;

	ck_assert_ptr_nonnull(value);
	memset(value, 'x', VALUE);
	value[VALUE] = '\0';
	e2e_start_opts(s, &opts);
	CTL_OK(s, "set", "--string", "big", value);
	ck_assert_int_eq(objd_connect(s->sock, E2E_DEADLINE, &good, NULL, 0),
	    OBJD_OK);
	before = e2e_objd_kb(s, "VmRSS");
	/* Each would hold 12 MiB of answers, under its own cap of 64M. */
	frames = get_frames("big", GETS, &len);
	for (int i = 0; i < READERS; i++) {
		fds[i] = e2e_raw_connect(s);
		(void)setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof(rcvbuf));
		ck_assert(e2e_raw_send(fds[i], frames, len));
	}
	free(frames);
	/* Only the client that reads, and the one asking, are left. */
	for (double end = e2e_now() + E2E_DEADLINE; clients_now() > 2;
	     e2e_sleep(0.05)) {
		ck_assert_msg(e2e_now() < end, "%llu clients left; log:\n%s",
		    (unsigned long long)clients_now(), e2e_log_tail(s));
		ck_assert_int_eq(objd_get(good, "big", &v), OBJD_OK);
		value_free(v);
	}
	after = e2e_objd_kb(s, "VmRSS");
	check_growth("8 clients that read none of 400 answers of 32 KiB",
	    before, after, 8 * 1024);
	ck_assert_msg(strstr(e2e_log_tail(s), "--max-output-total") != NULL,
	    "log:\n%s", e2e_log_tail(s));
	ck_assert_int_eq(objd_get(good, "big", &v), OBJD_OK);
	ck_assert_uint_eq(strlen(v->string_value), VALUE);
	value_free(v);
	for (int i = 0; i < READERS; i++)
		close(fds[i]);
	objd_close(good);
	free(value);
	e2e_stop(s);
}
END_TEST

/* A client that sends many requests and reads no answer makes objd stop
 * reading it, not buffer every answer. */
START_TEST(test_output_cap)
{
	const struct objd_opts opts = { .extra = E2E_ARGV("--max-client-output",
		                            "64K") };
	enum { GETS = 400, VALUE = 32 * 1024 };
	char *value = malloc(VALUE + 1);
	struct raw_reader answers;
	uint8_t *frames;
	size_t len;
	long before, after;
	int fd;

	ck_assert_ptr_nonnull(value);
	memset(value, 'x', VALUE);
	value[VALUE] = '\0';
	e2e_start_opts(s, &opts);
	CTL_OK(s, "set", "--string", "big", value);
	before = e2e_objd_kb(s, "VmRSS");
	frames = get_frames("big", GETS, &len);
	fd = e2e_raw_connect(s);
	ck_assert(e2e_raw_send(fd, frames, len));
	e2e_sleep(0.5);
	/* objd is not stuck on it. */
	CTL_OK(s, "ping");
	after = e2e_objd_kb(s, "VmRSS");
	check_growth("400 answers of 32 KiB unread", before, after, 4 * 1024);

	/* Every answer comes once the client reads, in order. */
	e2e_reader_open(&answers, fd);
	for (uint64_t id = 1; id <= GETS; id++) {
		Objd__Response *r = NULL;

		ck_assert_int_eq(e2e_reader_next(&answers, E2E_DEADLINE, &r),
		    RAW_ANSWER);
		ck_assert_uint_eq(r->id, id);
		ck_assert_int_eq(r->status, OBJD__STATUS__OK);
		ck_assert_uint_eq(r->n_entries, 1);
		objd__response__free_unpacked(r, NULL);
	}
	e2e_reader_close(&answers);
	close(fd);
	free(frames);
	free(value);
	e2e_stop(s);
}
END_TEST

/* An answer that objd cannot buffer, out of memory, closes its client,
 * and objd serves on. Under AddressSanitizer, allocations over 8 MiB fail
 * in this objd, so the whole object's answer (three values of 3 MiB)
 * fails there; without it the answer goes out. objd used to free the
 * client deep inside the handling of its request and read it after. */
START_TEST(test_answer_out_of_memory)
{
	enum { VALUES = 3, VALUE = 3 * 1024 * 1024 };
	const char *asan = getenv("ASAN_OPTIONS");
	char *env_asan, *doc, *log;
	struct objd_opts opts = { 0 };
	int status;

	ck_assert_int_ne(asprintf(&env_asan,
	                     "ASAN_OPTIONS=%s%sallocator_may_return_null=1:"
	                     "max_allocation_size_mb=8",
	                     asan != NULL ? asan : "",
	                     asan != NULL && *asan != '\0' ? ":" : ""),
	    -1);
	opts.env = (const char *const[]){ env_asan, NULL };
	e2e_start_opts(s, &opts);
	doc = malloc(VALUE + 32);
	ck_assert_ptr_nonnull(doc);
	for (int i = 0; i < VALUES; i++) {
		int n = sprintf(doc, "{\"big%d\": \"", i);

		memset(doc + n, 'a' + i, VALUE);
		strcpy(doc + n + VALUE, "\"}");
		ck_assert_int_eq(
		    e2e_objctl(s, doc, NULL, E2E_ARGV("load", "--merge", "-")),
		    0);
	}
	status = CTL(s, "get");
	log = e2e_log_tail(s);
	if (status != 0) {
		/* Told, logged, and only this client closed. */
		ck_assert_msg(strstr(s->err, "closed the connection") != NULL,
		    "objctl get: %s", s->err);
		ck_assert_msg(strstr(log, "cannot buffer an answer") != NULL,
		    "objd's log: %s", log);
		printf("the whole object's answer could not be buffered: "
		       "its client was closed\n");
	} else {
		ck_assert_uint_gt(s->outlen, (size_t)VALUES * VALUE);
		printf("the whole object's answer went out\n");
	}
	CTL_OK(s, "ping");
	ck_assert_uint_eq(strlen(CTL_OK(s, "get", "big2")), VALUE + 1);
	free(doc);
	free(env_asan);
	e2e_stop(s);
}
END_TEST

START_TEST(test_max_frame)
{
	const struct objd_opts opts = { .extra =
		                            E2E_ARGV("--max-frame", "2K") };
	char value[4097];

	memset(value, 'y', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	e2e_start_opts(s, &opts);
	CTL_EXIT(s, 2, "set", "--string", "k", value);
	ck_assert_msg(strstr(s->err, "at most 2048 bytes") != NULL &&
	        e2e_one_line(s->err),
	    "stderr: %s", s->err);
	value[1000] = '\0';
	CTL_OK(s, "set", "--string", "k", value);
	e2e_stop(s);
}
END_TEST

/* Every limit option says what it wants. */
START_TEST(test_limit_options)
{
	static const char *const bad[][2] = {
		{ "--max-clients", "0" },
		{ "--max-clients", "many" },
		{ "--max-frame", "12" },
		{ "--max-frame", "2T" },
		{ "--client-idle-timeout", "-1" },
		{ "--max-client-output", "1" },
		{ "--max-output-total", "1K" },
		{ "--allow-ro", "" },
		{ "--allow-rw", "root,,daemon" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e2e_objd_cmd(s,
		    E2E_ARGV("--foreground", "--file", s->file, "--socket",
		        s->sock, bad[i][0], bad[i][1]));
		ck_assert_msg(s->status == 2 && e2e_one_line(s->err) &&
		        strstr(s->err, bad[i][0]) != NULL,
		    "objd %s '%s': exit %d, stderr: %s", bad[i][0], bad[i][1],
		    s->status, s->err);
	}
	ck_assert(!e2e_exists(s->sock));
	ck_assert_int_eq(e2e_objd_cmd(s, E2E_ARGV("--help")), 0);
	ck_assert_msg(strstr(s->out, "--max-client-output") != NULL &&
	        strstr(s->out, "--max-output-total") != NULL &&
	        strstr(s->out, "--allow-ro") != NULL,
	    "objd --help:\n%s", s->out);
}
END_TEST

static Suite *
security_suite(void)
{
	Suite *suite = suite_create("security");
	TCase *tc;

	tc = e2e_tcase(suite, "access", 60);
	tcase_add_test(tc, test_policy);
	tcase_add_test(tc, test_policy_config);
	tcase_add_test(tc, test_socket_mode);

	tc = e2e_tcase(suite, "files", 60);
	tcase_add_test(tc, test_files);

	tc = e2e_tcase(suite, "limits", 120);
	tcase_add_test(tc, test_stalled_clients);
	tcase_add_test(tc, test_huge_prefix);
	tcase_add_test(tc, test_random_bytes);
	tcase_add_test(tc, test_idle_timeout);
	tcase_add_test(tc, test_max_clients);
	tcase_add_test(tc, test_max_clients_flood);
	tcase_add_test(tc, test_output_cap);
	tcase_add_test(tc, test_output_total);
	tcase_add_test(tc, test_answer_out_of_memory);
	tcase_add_test(tc, test_max_frame);
	tcase_add_test(tc, test_limit_options);
	return suite;
}

int
main(void)
{
	return e2e_main(security_suite());
}
