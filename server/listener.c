/* listener.c: the UNIX socket. The only place that creates, probes,
 * accepts on and removes it. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	rc = paths_make_dir(dir, 0700, err, errlen) ? 0 : -1;
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

static void
listener_accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *addr, int socklen, void *arg)
{
	conn_accept(fd);
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
