/* SPDX-License-Identifier: ISC */
/* listener.c: the UNIX socket. The only place that creates, probes,
 * accepts on and removes it. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"
#include "objd.h"
#include "paths.h"

static struct {
	struct evconnlistener *evl;
	struct event *resume;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	bool bound;
} listener;

/* True if the process that listens on the socket connected on fd is
 * gone. Its compaction child may still hold the socket for a moment: a
 * kill -9 between its fork and its closing of what it inherited leaves
 * it accepting connections until the kernel delivers its own death. */
static bool
listener_owner_died(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	/* For the connecting side, SO_PEERCRED is the listener's at its
	 * listen(): the objd, not the child. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
	    cred.pid <= 0)
		return false;
	return kill(cred.pid, 0) == -1 && errno == ESRCH;
}

/* A socket file may be left by an objd that died. Connecting tells a
 * live one from a dead one; only a dead one's is removed. */
static int
listener_clear_stale(const struct sockaddr_un *sun, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	if (lstat(sun->sun_path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen,
		    "%s exists and is not a socket; "
		    "remove it or choose another --socket",
		    sun->sun_path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	if (rc == 0 && listener_owner_died(fd)) {
		log_info("%s is still held by a child of an objd that died; "
		         "taking it over",
		    sun->sun_path);
		rc = -1;
		errno = ECONNREFUSED;
	}
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen,
		    "another objd is already listening on "
		    "%s",
		    sun->sun_path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		snprintf(err, errlen, "cannot probe %s: %s", sun->sun_path,
		    strerror(errno));
		return -1;
	}
	log_info("removing stale socket %s", sun->sun_path);
	if (unlink(sun->sun_path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove stale socket %s: %s",
		    sun->sun_path, strerror(errno));
		return -1;
	}
	return 0;
}

/* --socket-group and --socket-mode, set before listen(): until then
 * nobody can connect, so there is no moment with the wrong ones. */
static int
listener_set_access(const char *path, char *err, size_t errlen)
{
	if (options.socket_group != (gid_t)-1 &&
	    chown(path, (uid_t)-1, options.socket_group) == -1) {
		snprintf(err, errlen, "cannot give %s to group %ld: %s", path,
		    (long)options.socket_group, strerror(errno));
		return -1;
	}
	if (chmod(path, options.socket_mode) == -1) {
		snprintf(err, errlen, "cannot make %s mode %04o: %s", path,
		    (unsigned)options.socket_mode, strerror(errno));
		return -1;
	}
	return 0;
}

/* Others reach an open socket only through its folder: says so when its
 * folder keeps them out. */
static void
listener_check_reach(const char *dir)
{
	struct stat st;
	bool group = (options.socket_mode & 0060) != 0;
	bool others = (options.socket_mode & 0006) != 0;

	if ((!group && !others) || stat(dir, &st) == -1)
		return;
	if ((others && (st.st_mode & 0001) == 0) ||
	    (group && (st.st_mode & 0011) == 0))
		log_warnx("--socket-mode %04o opens the socket, but its folder "
		          "%s is mode %04o: other users cannot reach it",
		    (unsigned)options.socket_mode, dir,
		    (unsigned)(st.st_mode & 07777));
}

int
listener_bind(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *dir;
	struct stat st;
	mode_t old_mask;
	int fd, rc;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen,
		    "socket path is %zu bytes, the most is "
		    "%zu: %s",
		    strlen(path), sizeof(sun.sun_path) - 1, path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	dir = paths_dirname(path);
	/* A folder made for an open socket lets others pass, not look. */
	rc = paths_make_dir(dir,
	         (options.socket_mode & 0066) != 0 &&
	                 strncmp(dir, "/tmp/objd-", 10) != 0
	             ? 0711
	             : 0700,
	         err, errlen)
	    ? 0
	    : -1;
	if (rc == 0)
		listener_check_reach(dir);
	free(dir);
	if (rc == -1 || listener_clear_stale(&sun, err, errlen) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* The mode comes from the umask at bind: a chmod afterwards would
	 * leave a moment in which anyone could connect. */
	old_mask = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_mask);
	if (rc == 0 && listener_set_access(path, err, errlen) == -1) {
		unlink(path);
		close(fd);
		return -1;
	}
	if (rc == -1 || listen(fd, 511) == -1 || stat(path, &st) == -1) {
		snprintf(err, errlen, "cannot listen on %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	memcpy(listener.path, sun.sun_path, sizeof(listener.path));
	listener.dev = st.st_dev;
	listener.ino = st.st_ino;
	listener.bound = true;
	return fd;
}

/* The first descriptor that systemd passes (SD_LISTEN_FDS_START). */
#define LISTENER_SYSTEMD_FD 3

/* Reads a decimal number from the environment; false if name is unset
 * or not one. */
static bool
listener_env_number(const char *name, unsigned long *v)
{
	const char *s = getenv(name);
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0';
}

/* Names the listening socket for the log and objctl status: its path,
 * or "@name" for an abstract one. False if it is not a UNIX socket:
 * objd's permissions rest on its peers' credentials. */
static bool
listener_name(int fd)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);
	size_t n;

	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &len) == -1 ||
	    sun.sun_family != AF_UNIX)
		return false;
	n = len > offsetof(struct sockaddr_un, sun_path)
	    ? len - offsetof(struct sockaddr_un, sun_path)
	    : 0;
	if (n == 0)
		snprintf(listener.path, sizeof(listener.path), "(unnamed)");
	else if (sun.sun_path[0] == '\0')
		snprintf(listener.path, sizeof(listener.path), "@%.*s",
		    (int)(n - 1), sun.sun_path + 1);
	else
		snprintf(listener.path, sizeof(listener.path), "%.*s", (int)n,
		    sun.sun_path);
	return true;
}

/* Socket activation (sd_listen_fds(3)), without libsystemd: LISTEN_PID
 * names the process the descriptors are for and LISTEN_FDS counts them
 * from fd 3. These are a few stable, documented lines; libsystemd would
 * bring six more libraries into a daemon that may run as root (see
 * notify.c). objd takes one listening UNIX stream socket and leaves its
 * file alone: systemd made it and keeps it between runs. */
int
listener_from_systemd(int *fdp, const char **pathp, char *err, size_t errlen)
{
	unsigned long pid, n;
	int fd = LISTENER_SYSTEMD_FD, type = 0, listening = 0, flags;
	socklen_t len;
	struct stat st;

	*fdp = -1;
	if (!listener_env_number("LISTEN_PID", &pid) ||
	    pid != (unsigned long)getpid() ||
	    !listener_env_number("LISTEN_FDS", &n) || n == 0)
		return 0;
	/* What was passed is objd's alone, not its children's. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n != 1) {
		snprintf(err, errlen,
		    "systemd passed %lu sockets; objd listens on one "
		    "(give objd.socket one ListenStream)",
		    n);
		return -1;
	}
	len = sizeof(type);
	if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_STREAM) {
		snprintf(err, errlen,
		    "the descriptor systemd passed is not a stream socket "
		    "(ListenStream= in objd.socket)");
		return -1;
	}
	len = sizeof(listening);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == -1 ||
	    !listening) {
		snprintf(err, errlen,
		    "the socket systemd passed is not listening");
		return -1;
	}
	if (!listener_name(fd)) {
		snprintf(err, errlen,
		    "the socket systemd passed is not a UNIX socket "
		    "(ListenStream= in objd.socket must be a path)");
		return -1;
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		snprintf(err, errlen, "the socket systemd passed: %s",
		    strerror(errno));
		return -1;
	}
	listener.bound = false;
	*fdp = fd;
	*pathp = listener.path;
	return 1;
}

static void
listener_accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *addr, int socklen, void *arg)
{
	(void)conn_accept(fd);
}

static void
listener_resume_cb(evutil_socket_t fd, short events, void *arg)
{
	if (listener.evl != NULL && !server.stopping)
		evconnlistener_enable(listener.evl);
}

/* Out of file descriptors: pause accepting for a moment rather than
 * spin on a listener that is always readable. */
static void
listener_error_cb(struct evconnlistener *evl, void *arg)
{
	struct timeval tv = { 0, 200 * 1000 };

	log_warn("accept on %s", listener.path);
	evconnlistener_disable(evl);
	event_add(listener.resume, &tv);
}

void
listener_start(int fd)
{
	listener.evl = evconnlistener_new(server.base, listener_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	listener.resume = evtimer_new(server.base, listener_resume_cb, NULL);
	if (listener.evl == NULL || listener.resume == NULL)
		fatalx("cannot listen on %s", listener.path);
	evconnlistener_set_error_cb(listener.evl, listener_error_cb);
}

void
listener_stop(void)
{
	if (listener.evl != NULL)
		evconnlistener_free(listener.evl);
	if (listener.resume != NULL)
		event_free(listener.resume);
	listener.evl = NULL;
	listener.resume = NULL;
}

/* Removes the socket file, unless another objd has replaced it since. */
void
listener_unlink(void)
{
	struct stat st;

	if (!listener.bound)
		return;
	if (stat(listener.path, &st) == 0 && st.st_dev == listener.dev &&
	    st.st_ino == listener.ino)
		unlink(listener.path);
	listener.bound = false;
}
