/* SPDX-License-Identifier: ISC */
/* harness.c: start and stop objd, run objctl, talk raw to the socket. */
#include "config.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "clock.h"
#include "framing.h"
#include "harness.h"
#include "value.h"
#include "xmalloc.h"

/* The largest answer e2e_raw_wait() takes. */
#define RAW_ANSWER_MAX (1 << 20)
#define RAW_READER_SIZE (RAW_ANSWER_MAX + VARINT_MAX_LEN)

static const char *objd_bin;
static const char *objctl_bin;
/* The runner's folder; every session's folder is made inside it. */
static char base_dir[32];

/* Paths and envp arrays live until the session closes. */
#define OWNED_MAX 64
static char *owned[OWNED_MAX];
static size_t n_owned;

static char *
own(char *p)
{
	if (n_owned == OWNED_MAX)
		e2e_fail(__FILE__, __LINE__, "harness: too many paths");
	owned[n_owned++] = p;
	return p;
}

static void
free_owned(void)
{
	while (n_owned > 0)
		free(owned[--n_owned]);
}

_Noreturn void
e2e_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	_ck_assert_failed(file, line, "Failed", "%s", msg);
	/* In CK_FORK=no mode the call above longjmps; it never returns. */
	abort();
}

double
e2e_now(void)
{
	return now_monotonic();
}

void
e2e_sleep(double seconds)
{
	struct timespec ts;

	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

char *
e2e_read_file(const char *path, size_t *lenp)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap == 0 ? 8192 : cap * 2;
			if ((buf = realloc(buf, cap + 1)) == NULL)
				abort();
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

void
e2e_write_file(const char *path, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		e2e_fail(__FILE__, __LINE__, "open %s: %s", path,
		    strerror(errno));
	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			e2e_fail(__FILE__, __LINE__, "write %s: %s", path,
			    strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) == -1 || close(fd) == -1)
		e2e_fail(__FILE__, __LINE__, "close %s: %s", path,
		    strerror(errno));
}

void
e2e_write_plain_file(const char *path, const char *key, const char *value)
{
	Objd__Object obj = OBJD__OBJECT__INIT;
	Objd__Object__EntriesEntry e = OBJD__OBJECT__ENTRIES_ENTRY__INIT,
	                           *ptrs[1] = { &e };
	Objd__Value *v = value_new_string(value, strlen(value));
	uint8_t *buf;
	size_t len;

	e.key = (char *)key;
	e.value = v;
	obj.n_entries = 1;
	obj.entries = ptrs;
	len = objd__object__get_packed_size(&obj);
	buf = xmalloc(len);
	objd__object__pack(&obj, buf);
	e2e_write_file(path, buf, len);
	free(buf);
	value_free(v);
}

size_t
e2e_count_lines(const char *text)
{
	size_t n = 0;

	for (; *text != '\0'; text++)
		n += *text == '\n';
	return n;
}

bool
e2e_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

char *
e2e_path(const struct session *s, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", s->dir, name) == -1)
		abort();
	return own(p);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void
rm_rf(const char *dir)
{
	if (dir[0] != '\0')
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Kills and reaps every child of this process: daemons reparented to us
 * (we are a subreaper) and anything else left behind. */
static void
kill_strays(void)
{
	pid_t me = getpid();
	struct dirent *de;
	DIR *d;

	if ((d = opendir("/proc")) != NULL) {
		while ((de = readdir(d)) != NULL) {
			char path[64], buf[512], *p;
			pid_t pid, ppid;
			ssize_t n;
			char state;
			int fd;

			pid = (pid_t)strtol(de->d_name, &p, 10);
			if (*p != '\0' || pid <= 0)
				continue;
			snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
			if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
				continue;
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n <= 0)
				continue;
			buf[n] = '\0';
			/* "pid (comm) state ppid ...": comm may hold
			 * anything, so parse after its last ')'. */
			if ((p = strrchr(buf, ')')) == NULL ||
			    sscanf(p + 1, " %c %d", &state, &ppid) != 2)
				continue;
			if (ppid == me)
				kill(pid, SIGKILL);
		}
		closedir(d);
	}
	for (double end = e2e_now() + 5; e2e_now() < end;) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);

		if (pid == 0)
			e2e_sleep(0.01);
		else if (pid == -1)
			break;
	}
}

void
e2e_init(void)
{
	objd_bin = getenv("OBJD_BIN");
	objctl_bin = getenv("OBJCTL_BIN");
	if (objd_bin == NULL || objctl_bin == NULL ||
	    access(objd_bin, X_OK) == -1 || access(objctl_bin, X_OK) == -1) {
		fprintf(stderr,
		    "check_e2e: set OBJD_BIN and OBJCTL_BIN to the built "
		    "objd and objctl (make check does)\n");
		exit(99);
	}
	snprintf(base_dir, sizeof(base_dir), "/tmp/objd-e2e.XXXXXX");
	if (mkdtemp(base_dir) == NULL) {
		fprintf(stderr, "check_e2e: mkdtemp: %s\n", strerror(errno));
		exit(99);
	}
	/* Daemons that leave a failed test are reparented to us. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
}

void
e2e_fini(void)
{
	kill_strays();
	rm_rf(base_dir);
}

void
e2e_open(struct session *s)
{
	memset(s, 0, sizeof(*s));
	s->objd = -1;
	if (base_dir[0] == '\0')
		e2e_fail(__FILE__, __LINE__, "e2e_init() was not called");
	snprintf(s->dir, sizeof(s->dir), "%s/XXXXXX", base_dir);
	if (mkdtemp(s->dir) == NULL)
		e2e_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
	snprintf(s->file, sizeof(s->file), "%s/objd.pb", s->dir);
	snprintf(s->sock, sizeof(s->sock), "%s/objd.sock", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/objd.log", s->dir);
	s->ctl_socket = s->sock;
	/* A daemon started by this test becomes our child, so the test
	 * can wait for it and see its exit status. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
}

void
e2e_close(struct session *s)
{
	if (s->objd > 0 && e2e_alive(s))
		e2e_stop_at(s, __FILE__, __LINE__);
	kill_strays();
	rm_rf(s->dir);
	free(s->out);
	free(s->err);
	s->out = s->err = NULL;
	free_owned();
}

long
e2e_objd_kb(const struct session *s, const char *field)
{
	char path[64], *text, *p;
	long kb = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)s->objd);
	if ((text = e2e_read_file(path, NULL)) == NULL)
		return -1;
	if ((p = strstr(text, field)) != NULL)
		sscanf(p + strlen(field), ": %ld", &kb);
	free(text);
	return kb;
}

#define E2E_LOG_TAIL 3072

char *
e2e_log_tail(const struct session *s)
{
	size_t len;
	char *log = e2e_read_file(s->log, &len);

	if (log == NULL)
		return own(strdup("(no log)"));
	/* Check refuses a failure message over 4096 bytes (and exits 2
	 * instead of reporting it): the tail leaves room for the rest. */
	if (len > E2E_LOG_TAIL)
		memmove(log, log + len - E2E_LOG_TAIL, E2E_LOG_TAIL + 1);
	return own(log);
}

bool
e2e_log_has(const struct session *s, const char *text)
{
	double end = e2e_now() + E2E_DEADLINE;
	char *log;
	bool found;

	for (;;) {
		log = e2e_read_file(s->log, NULL);
		found = log != NULL && strstr(log, text) != NULL;
		free(log);
		if (found || e2e_now() > end)
			return found;
		e2e_sleep(0.02);
	}
}

/* What spawn() runs. */
struct spawn {
	const char *path;
	char *const *argv;
	char *const *envp;
	const char *in;  /* stdin; NULL: /dev/null */
	const char *out; /* stdout, truncated */
	const char *err; /* stderr, truncated; NULL: with stdout, appended */
	rlim_t fsize;    /* RLIMIT_FSIZE; 0: unchanged */
	bool pdeathsig;  /* die with the parent */
	uid_t uid;       /* run as uid and gid; 0: unchanged */
	gid_t gid;
};

/* Only async-signal-safe calls between fork and exec. */
static pid_t
spawn(const struct spawn *sp)
{
	pid_t parent = getpid(), pid;
	int in, out, err;
	sigset_t all;

	if ((pid = fork()) == -1)
		e2e_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
	if (pid > 0)
		return pid;

	if (sp->pdeathsig) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent)
			_exit(127);
	}
	in = open(sp->in != NULL ? sp->in : "/dev/null", O_RDONLY);
	if (sp->err != NULL) {
		out = open(sp->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		err = open(sp->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	} else {
		out = open(sp->out, O_WRONLY | O_CREAT | O_APPEND, 0600);
		err = out;
	}
	if (in == -1 || out == -1 || err == -1 || dup2(in, 0) == -1 ||
	    dup2(out, 1) == -1 || dup2(err, 2) == -1)
		_exit(127);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (sp->fsize > 0) {
		struct rlimit rl = { sp->fsize, sp->fsize };

		/* SIGXFSZ keeps its default action: objd must ignore it
		 * itself, so that a write past the limit fails with EFBIG
		 * as one fails with ENOSPC on a full disk. */
		signal(SIGXFSZ, SIG_DFL);
		if (setrlimit(RLIMIT_FSIZE, &rl) == -1)
			_exit(127);
	}
	/* After the files are open: they are in a folder of root's. */
	if (sp->uid != 0) {
		if (setgroups(0, NULL) == -1 || setgid(sp->gid) == -1 ||
		    setuid(sp->uid) == -1)
			_exit(127);
		/* A change of user clears the parent-death signal. */
		if (sp->pdeathsig)
			prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	}
	execve(sp->path, sp->argv, sp->envp);
	_exit(127);
}

/* Waits for pid until the deadline; returns its exit code, 128 + signal,
 * or -1 after killing it at the deadline. */
static int
wait_exit(pid_t pid, double timeout)
{
	double end = e2e_now() + timeout, nap = 0.001;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (r == -1 && errno != EINTR)
			return -2;
		if (e2e_now() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		e2e_sleep(nap);
		if (nap < 0.02)
			nap *= 2;
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -2;
}

/* True if add sets the variable of var, a NAME=VALUE string. */
static bool
env_replaced(const char *var, const char *const *add)
{
	size_t len = strcspn(var, "=");

	for (size_t i = 0; add != NULL && add[i] != NULL; i++)
		if (strncmp(add[i], var, len) == 0 && add[i][len] == '=')
			return true;
	return false;
}

/* The environment for a child: ours without OBJD_*, plus add, which
 * replaces a variable of ours of the same name (a program may read the
 * first of two, as ASan does). The array is from malloc, its strings are
 * not. */
static char **
make_env(const char *const *add)
{
	extern char **environ;
	size_t n = 0, m = 0;
	char **envp;

	while (environ[n] != NULL)
		n++;
	while (add != NULL && add[m] != NULL)
		m++;
	if ((envp = calloc(n + m + 1, sizeof(*envp))) == NULL)
		abort();
	m = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "OBJD_", 5) != 0 &&
		    !env_replaced(environ[i], add))
			envp[m++] = environ[i];
	for (size_t i = 0; add != NULL && add[i] != NULL; i++)
		envp[m++] = (char *)add[i];
	envp[m] = NULL;
	return envp;
}

static char **
make_argv(const char *prog, const char *const *pre, const char *const *args)
{
	size_t n = 1, i = 0;
	char **argv;

	for (size_t j = 0; pre != NULL && pre[j] != NULL; j++)
		n++;
	for (size_t j = 0; args != NULL && args[j] != NULL; j++)
		n++;
	if ((argv = calloc(n + 1, sizeof(*argv))) == NULL)
		abort();
	argv[i++] = (char *)prog;
	for (size_t j = 0; pre != NULL && pre[j] != NULL; j++)
		argv[i++] = (char *)pre[j];
	for (size_t j = 0; args != NULL && args[j] != NULL; j++)
		argv[i++] = (char *)args[j];
	argv[i] = NULL;
	return argv;
}

/* A command line for messages; long arguments are shortened. */
static const char *
cmdline(const char *prog, const char *const *argv)
{
	static char buf[512];
	size_t len;

	snprintf(buf, sizeof(buf), "%s", prog);
	for (size_t i = 0; argv[i] != NULL; i++) {
		len = strlen(buf);
		if (strlen(argv[i]) > 60)
			snprintf(buf + len, sizeof(buf) - len,
			    " '%.40s...' (%zu bytes)", argv[i],
			    strlen(argv[i]));
		else
			snprintf(buf + len, sizeof(buf) - len, " '%s'",
			    argv[i]);
	}
	return buf;
}

/* Runs bin with stdout and stderr in files of the session's folder, so
 * that neither can fill a pipe and block. Frees envp. */
static int
run(struct session *s, const char *bin, const char *name, const char *input,
    char **envp, const char *const *argv)
{
	char in[128], out[128], err[128];
	struct spawn sp;
	char **args;
	pid_t pid;

	snprintf(in, sizeof(in), "%s/cmd.in", s->dir);
	snprintf(out, sizeof(out), "%s/cmd.out", s->dir);
	snprintf(err, sizeof(err), "%s/cmd.err", s->dir);
	memset(&sp, 0, sizeof(sp));
	sp.path = bin;
	sp.argv = args = make_argv(name, NULL, argv);
	sp.envp = envp;
	sp.out = out;
	sp.err = err;
	sp.pdeathsig = true;
	sp.uid = s->run_uid;
	sp.gid = s->run_gid;
	if (input != NULL) {
		sp.in = in;
		e2e_write_file(in, input, strlen(input));
	}
	pid = spawn(&sp);
	free(args);
	free(envp);
	s->status = wait_exit(pid, E2E_RUN_DEADLINE);
	free(s->out);
	free(s->err);
	s->out = e2e_read_file(sp.out, &s->outlen);
	s->err = e2e_read_file(sp.err, &s->errlen);
	if (s->out == NULL)
		s->out = strdup("");
	if (s->err == NULL)
		s->err = strdup("");
	return s->status;
}

int
e2e_objctl(struct session *s, const char *input, const char *const *env,
    const char *const *argv)
{
	const char *add[16];
	char sock[160];
	size_t n = 0;

	snprintf(sock, sizeof(sock), "OBJD_SOCKET=%s", s->ctl_socket);
	add[n++] = sock;
	for (size_t i = 0; env != NULL && env[i] != NULL && n < 15; i++)
		add[n++] = env[i];
	add[n] = NULL;
	return run(s, objctl_bin, "objctl", input, make_env(add), argv);
}

int
e2e_objd_cmd(struct session *s, const char *const *argv)
{
	return run(s, objd_bin, "objd", NULL, make_env(NULL), argv);
}

int
e2e_run(struct session *s, const char *const *argv)
{
	return run(s, argv[0], argv[0], NULL, make_env(NULL), argv + 1);
}

const char *
e2e_objctl_expect(struct session *s, const char *file, int line, int want,
    const char *input, const char *const *argv)
{
	int status = e2e_objctl(s, input, NULL, argv);

	if (status != want)
		e2e_fail(file, line,
		    "%s: exit %d, want %d\nstdout: %.1000s\nstderr: %.1000s",
		    cmdline("objctl", argv), status, want, s->out, s->err);
	return s->out;
}

/* True once process pid accepts connections at path. Anyone else is
 * not enough: after a kill -9 the old objd's compaction child may hold
 * its socket for a moment, and a client would connect to that. */
static bool
socket_answers(const char *path, pid_t pid)
{
	struct sockaddr_un sun;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd;
	bool ok;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return false;
	ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	    cred.pid == pid;
	close(fd);
	return ok;
}

void
e2e_start_with(struct session *s, const struct objd_opts *o, const char *file,
    int line)
{
	const char *const *extra = o != NULL ? o->extra : NULL;
	char **argv, **envp;
	const char *pre[] = { "--foreground", "--file", s->file, "--socket",
		s->sock, "--reload-interval",
		o != NULL && o->reload_interval != NULL ? o->reload_interval
		                                        : "0.1",
		NULL };
	struct spawn sp;
	double end;
	int st;

	if (s->objd > 0)
		e2e_fail(file, line, "objd already runs as pid %d",
		    (int)s->objd);
	memset(&sp, 0, sizeof(sp));
	sp.path = objd_bin;
	sp.argv = argv = make_argv("objd", pre, extra);
	sp.envp = envp = make_env(o != NULL ? o->env : NULL);
	sp.out = s->log;
	sp.fsize = o != NULL ? o->fsize : 0;
	sp.pdeathsig = true;
	s->objd = spawn(&sp);
	free(argv);
	free(envp);

	end = e2e_now() + E2E_DEADLINE;
	while (!socket_answers(s->sock, s->objd)) {
		pid_t r = waitpid(s->objd, &st, WNOHANG);

		if (r == s->objd) {
			s->objd = -1;
			e2e_fail(file, line,
			    "objd exited (status 0x%x) before its socket "
			    "answered; log:\n%s",
			    st, e2e_log_tail(s));
		}
		if (e2e_now() > end) {
			e2e_kill9(s);
			e2e_fail(file, line,
			    "objd's socket did not answer within %.0f s; "
			    "log:\n%s",
			    E2E_DEADLINE, e2e_log_tail(s));
		}
		e2e_sleep(0.01);
	}
}

void
e2e_stop_at(struct session *s, const char *file, int line)
{
	pid_t pid = s->objd;
	int status;

	if (pid <= 0)
		e2e_fail(file, line, "no objd to stop");
	if (kill(pid, SIGTERM) == -1)
		e2e_fail(file, line, "kill %d: %s", (int)pid, strerror(errno));
	/* Twice the deadline: a sanitizer build checks for leaks at exit. */
	status = wait_exit(pid, 2 * E2E_DEADLINE);
	s->objd = -1;
	if (status == -1)
		e2e_fail(file, line,
		    "objd did not exit within %.0f s of SIGTERM; log:\n%s",
		    2 * E2E_DEADLINE, e2e_log_tail(s));
	if (status != 0)
		e2e_fail(file, line,
		    "objd exited with status %d after SIGTERM, want 0; "
		    "log:\n%s",
		    status, e2e_log_tail(s));
	if (e2e_exists(s->sock))
		e2e_fail(file, line, "objd stopped but left its socket %s",
		    s->sock);
}

void
e2e_kill9(struct session *s)
{
	if (s->objd <= 0)
		return;
	kill(s->objd, SIGKILL);
	waitpid(s->objd, NULL, 0);
	s->objd = -1;
}

bool
e2e_alive(struct session *s)
{
	int st;

	if (s->objd <= 0)
		return false;
	if (waitpid(s->objd, &st, WNOHANG) == s->objd) {
		s->objd = -1;
		return false;
	}
	return true;
}

bool
e2e_wait_gone(pid_t pid, double timeout, int *status)
{
	double end = e2e_now() + timeout;
	int st;

	*status = -1;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			if (WIFEXITED(st))
				*status = WEXITSTATUS(st);
			else if (WIFSIGNALED(st))
				*status = 128 + WTERMSIG(st);
			return true;
		}
		/* Not our child: watch the pid instead. */
		if (r == -1 && errno == ECHILD && kill(pid, 0) == -1 &&
		    errno == ESRCH)
			return true;
		if (e2e_now() > end)
			return false;
		e2e_sleep(0.01);
	}
}

int
e2e_raw_connect(struct session *s)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s->sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		e2e_fail(__FILE__, __LINE__, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		e2e_fail(__FILE__, __LINE__, "connect %s: %s", s->sock,
		    strerror(errno));
	return fd;
}

bool
e2e_raw_send(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

uint8_t *
e2e_get_frame(const char *key, uint64_t id, size_t *len)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Get get = OBJD__GET__INIT;
	char *keys[] = { (char *)key };
	uint8_t *frame;

	get.n_keys = 1;
	get.keys = keys;
	req.id = id;
	req.op_case = OBJD__REQUEST__OP_GET;
	req.get = &get;
	if ((frame = frame_pack(&req.base, len)) == NULL)
		abort();
	return frame;
}

void
e2e_reader_open(struct raw_reader *r, int fd)
{
	r->fd = fd;
	r->len = 0;
	if ((r->buf = malloc(RAW_READER_SIZE)) == NULL)
		abort();
}

enum raw_outcome
e2e_reader_next(struct raw_reader *r, double timeout, Objd__Response **resp)
{
	double end = e2e_now() + timeout;
	size_t hlen, blen;

	*resp = NULL;
	for (;;) {
		struct pollfd pfd = { r->fd, POLLIN, 0 };
		double left;
		ssize_t n;

		switch (frame_parse_header(r->buf, r->len, RAW_ANSWER_MAX,
		    &hlen, &blen)) {
		case FRAME_SHORT:
			break;
		case FRAME_OK:
			if (r->len < hlen + blen)
				break;
			*resp =
			    objd__response__unpack(NULL, blen, r->buf + hlen);
			r->len -= hlen + blen;
			memmove(r->buf, r->buf + hlen + blen, r->len);
			return *resp != NULL ? RAW_ANSWER : RAW_GARBAGE;
		default:
			return RAW_GARBAGE;
		}
		left = end - e2e_now();
		if (left <= 0)
			return RAW_TIMEOUT;
		if (poll(&pfd, 1, (int)(left * 1000) + 1) == 0)
			continue;
		n = read(r->fd, r->buf + r->len, RAW_READER_SIZE - r->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) /* EOF or a reset: objd hung up */
			return r->len == 0 ? RAW_CLOSED : RAW_GARBAGE;
		r->len += (size_t)n;
	}
}

void
e2e_reader_close(struct raw_reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

enum raw_outcome
e2e_raw_wait(int fd, double timeout, Objd__Response **resp)
{
	struct raw_reader r;
	enum raw_outcome out;

	e2e_reader_open(&r, fd);
	out = e2e_reader_next(&r, timeout, resp);
	e2e_reader_close(&r);
	return out;
}

const char *
e2e_raw_outcome_str(enum raw_outcome o)
{
	switch (o) {
	case RAW_ANSWER:
		return "an answer";
	case RAW_CLOSED:
		return "the connection closed";
	case RAW_TIMEOUT:
		return "nothing before the deadline";
	case RAW_GARBAGE:
		return "bytes that are not a Response";
	}
	return "?";
}

bool
e2e_json_same(const char *got, const char *want)
{
	json_t *a, *b;
	json_error_t jerr;
	bool same;

	a = json_loads(got, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	b = json_loads(want, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (b == NULL)
		e2e_fail(__FILE__, __LINE__, "test bug: bad JSON %s: %s", want,
		    jerr.text);
	same = a != NULL && json_equal(a, b);
	json_decref(a);
	json_decref(b);
	return same;
}

bool
e2e_one_line(const char *text)
{
	const char *nl = strchr(text, '\n');

	return text[0] != '\n' && nl != NULL && nl[1] == '\0';
}

static bool
token_at(const char *line, const char *end, const char *value)
{
	size_t vlen = strlen(value);

	/* line holds no NUL, so strchr() below never matches one. */
	for (const char *p = line; p + vlen <= end; p++) {
		char before = p == line ? ' ' : p[-1];
		char after = p + vlen == end ? ' ' : p[vlen];

		if (memcmp(p, value, vlen) != 0)
			continue;
		if ((isspace((unsigned char)before) ||
		        strchr(":=\"'(", before) != NULL) &&
		    (isspace((unsigned char)after) ||
		        strchr(",\"')", after) != NULL))
			return true;
	}
	return false;
}

bool
e2e_line_has(const char *text, const char *word, const char *value)
{
	const char *line = text;

	while (*line != '\0') {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
		char *copy = strndup(line, len);
		bool found = copy != NULL && strcasestr(copy, word) != NULL &&
		    token_at(copy, copy + len, value);

		free(copy);
		if (found)
			return true;
		line += len;
		if (*line == '\n')
			line++;
	}
	return false;
}

int
e2e_main(Suite *suite)
{
	SRunner *sr;
	int failed;

	e2e_init();
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	e2e_fini();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

objd_client *
e2e_client(const struct session *s)
{
	objd_client *c = NULL;
	char err[256] = "";

	ck_assert_msg(objd_connect(s->sock, E2E_DEADLINE, &c, err,
	                  sizeof(err)) == OBJD_OK,
	    "objd_connect %s: %s", s->sock, err);
	ck_assert_ptr_nonnull(c);
	return c;
}

struct session e2e_session;

void
e2e_setup(void)
{
	e2e_open(&e2e_session);
}

void
e2e_teardown(void)
{
	e2e_close(&e2e_session);
}

TCase *
e2e_tcase(Suite *suite, const char *name, double timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, e2e_setup, e2e_teardown);
	tcase_set_timeout(tc, timeout);
	suite_add_tcase(suite, tc);
	return tc;
}
