/* SPDX-License-Identifier: ISC */
/* libobjd.c: a blocking client for objd over its UNIX socket.
 *
 * The socket is non-blocking once connected, so that every wait goes
 * through poll() and one deadline bounds a whole call however the bytes
 * trickle in. An answer from objd is untrusted: it is size-capped and
 * checked with pbcheck before protobuf-c unpacks it. Any local failure
 * in the middle of a call leaves the stream out of step, so the
 * connection is closed and later calls fail at once.
 *
 * This file owns the connection: connect, framed I/O, errors, the
 * accessors and a watch's stream of events. The typed calls, built on
 * objd_call(), are in libobjd-calls.c. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "framing.h"
#include "libobjd-internal.h"
#include "objd-client.h"
#include "paths.h"
#include "pbcheck.h"
#include "value.h"
#include "xmalloc.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* Bytes asked of recv() at a time while the frame's length is unknown. */
#define CLIENT_READ_CHUNK 4096
/* The largest read buffer kept between calls. */
#define CLIENT_KEEP_MAX ((size_t)1 << 20)
/* A timeout beyond this many seconds (about 31 years) is no bound. */
#define CLIENT_TIMEOUT_MAX 1e9
/* What a soft read returns when its wait ends (the deadline passed, or
 * a signal came) before the frame was whole; the stream stays in step. */
#define CLIENT_AGAIN (-1)

struct objd_client {
	int fd; /* -1 once the connection is given up */
	char *socket_path;
	double timeout;
	uint64_t last_id;
	uint64_t answered_id; /* of the last request answered */
	uint64_t revision;
	bool consistent; /* objd_client_set_consistent */
	/* The id of the watch this connection follows, or 0: a watching
	 * connection only reads events. */
	uint64_t watch_id;
	/* The id of the last mark asked for in the watch, or 0. */
	uint64_t mark_id;
	/* Bytes read but not yet used: a frame arrives in pieces. */
	uint8_t *in;
	size_t in_len;
	size_t in_cap;
	char error[1024];
};

void
client_fail(objd_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
}

/* Gives up the connection after a local failure: whatever is left on
 * the stream would be read as the answer to the next request. */
static int
client_break(objd_client *c, int status)
{
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	c->in_len = 0;
	return status;
}

static double
client_deadline(const objd_client *c)
{
	return c->timeout > 0 ? now_monotonic() + c->timeout : 0;
}

/* Waits until fd is ready for events or the deadline passes (0: never).
 * Returns 0 when ready, -1 with errno ETIMEDOUT or poll's error; a
 * signal ends the wait (EINTR) only if intr is set. */
static int
client_wait(int fd, short events, double deadline, bool intr)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	double left;
	int ms, n;

	for (;;) {
		ms = -1;
		if (deadline > 0) {
			left = deadline - now_monotonic();
			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			/* Round up, or the last wait spins at 0 ms. */
			ms = left * 1000 >= INT_MAX - 1
			    ? INT_MAX
			    : (int)(left * 1000) + 1;
		}
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return 0;
		if (n == -1 && (errno != EINTR || intr))
			return -1;
	}
}

static int
client_io_error(objd_client *c, const char *doing)
{
	if (errno == ETIMEDOUT) {
		client_fail(c,
		    "objd at %s did not answer within the timeout of %g "
		    "seconds: is it stuck?",
		    c->socket_path, c->timeout);
		return client_break(c, OBJD_UNREACHABLE);
	}
	client_fail(c, "lost objd at %s while %s: %s", c->socket_path, doing,
	    strerror(errno));
	return client_break(c, OBJD_UNREACHABLE);
}

static int client_read_frame(objd_client *, double, bool, size_t *, size_t *);
static int client_decode(objd_client *, uint64_t, const uint8_t *, size_t,
    Objd__Response **);

/* objd hung up while the request was still going out. It may have said
 * why first (a request over its --max-frame, a client over its
 * --max-clients): that answer is worth more than "broken pipe". */
static int
client_send_refused(objd_client *c, double deadline)
{
	Objd__Response *r = NULL;
	size_t off, len;
	int status;

	if (errno != EPIPE && errno != ECONNRESET)
		return client_io_error(c, "sending");
	status = client_read_frame(c, deadline, false, &off, &len);
	if (status != OBJD_OK)
		return status;
	status = client_decode(c, c->last_id, c->in + off, len, &r);
	if (r == NULL)
		return status;
	objd__response__free_unpacked(r, NULL);
	client_fail(c,
	    "objd at %s closed the connection before the request "
	    "was sent: check objd's log",
	    c->socket_path);
	return client_break(c, OBJD_UNREACHABLE);
}

static int
client_write_all(objd_client *c, const uint8_t *buf, size_t len,
    double deadline)
{
	ssize_t n;

	while (len > 0) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (client_wait(c->fd, POLLOUT, deadline, false) == -1)
				return client_io_error(c, "sending");
			continue;
		}
		return client_send_refused(c, deadline);
	}
	return OBJD_OK;
}

/* Reads until at least want bytes are buffered, and whatever else
 * arrives with them and fits. With soft set, a timeout or a signal
 * returns CLIENT_AGAIN and keeps what was read. */
static int
client_fill(objd_client *c, size_t want, double deadline, bool soft)
{
	size_t cap = want > CLIENT_READ_CHUNK ? want : CLIENT_READ_CHUNK;
	ssize_t n;

	if (cap > c->in_cap) {
		c->in = xrealloc(c->in, cap);
		c->in_cap = cap;
	}
	while (c->in_len < want) {
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (n > 0) {
			c->in_len += (size_t)n;
			continue;
		}
		if (n == 0) {
			client_fail(c,
			    "objd at %s closed the connection without "
			    "answering: check objd's log",
			    c->socket_path);
			return client_break(c, OBJD_UNREACHABLE);
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (client_wait(c->fd, POLLIN, deadline, soft) == 0)
				continue;
			if (soft && (errno == ETIMEDOUT || errno == EINTR))
				return CLIENT_AGAIN;
			return client_io_error(c, "reading its answer");
		}
		return client_io_error(c, "reading its answer");
	}
	return OBJD_OK;
}

/* Reads one frame; on OBJD_OK its body is c->in[*off .. *off + *len).
 * soft: as client_fill(). */
static int
client_read_frame(objd_client *c, double deadline, bool soft, size_t *off,
    size_t *len)
{
	enum frame_status fs;
	size_t hlen = 0, blen = 0;
	int status;

	for (;;) {
		fs = frame_parse_header(c->in, c->in_len, FRAME_MAX_DEFAULT,
		    &hlen, &blen);
		if (fs != FRAME_SHORT)
			break;
		status = client_fill(c, c->in_len + 1, deadline, soft);
		if (status != OBJD_OK)
			return status;
	}
	if (fs != FRAME_OK) {
		client_fail(c, "objd at %s answered nonsense: %s",
		    c->socket_path, frame_status_str(fs));
		return client_break(c, OBJD_FAILED);
	}
	status = client_fill(c, hlen + blen, deadline, soft);
	if (status != OBJD_OK)
		return status;
	*off = hlen;
	*len = blen;
	return OBJD_OK;
}

/* Drops the frame just used, keeping any bytes that came after it. A
 * buffer grown for one large answer is not kept for the small ones. */
static void
client_consume(objd_client *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
	if (c->in_cap > CLIENT_KEEP_MAX && c->in_len <= CLIENT_READ_CHUNK) {
		c->in = xrealloc(c->in, CLIENT_READ_CHUNK);
		c->in_cap = CLIENT_READ_CHUNK;
	}
}

bool
libobjd_status_known(int status)
{
	switch (status) {
	case OBJD__STATUS__OK:
	case OBJD__STATUS__NOT_FOUND:
	case OBJD__STATUS__INVALID:
	case OBJD__STATUS__CONFLICT:
	case OBJD__STATUS__DENIED:
	case OBJD__STATUS__FAILED:
		return true;
	default:
		return false;
	}
}

static int
client_decode(objd_client *c, uint64_t want, const uint8_t *buf, size_t len,
    Objd__Response **resp)
{
	char why[256];
	Objd__Response *r;

	if (!pbcheck(&objd__response__descriptor, buf, len, why, sizeof(why))) {
		client_fail(c, "objd at %s answered nonsense: %s",
		    c->socket_path, why);
		return client_break(c, OBJD_FAILED);
	}
	r = objd__response__unpack(NULL, len, buf);
	if (r == NULL) {
		client_fail(c,
		    "objd at %s answered nonsense: malformed response",
		    c->socket_path);
		return client_break(c, OBJD_FAILED);
	}
	/* An answer to no request (id 0) is objd's word on the connection
	 * itself (too many clients, a frame it could not read); objd closes
	 * the connection after it. */
	if (r->id == 0 && c->last_id != 0 && r->status != OBJD__STATUS__OK) {
		int status = libobjd_status_known((int)r->status)
		    ? (int)r->status
		    : OBJD_FAILED;

		client_fail(c, "objd at %s: %s", c->socket_path,
		    *r->error ? r->error : objd_strerror(status));
		objd__response__free_unpacked(r, NULL);
		return client_break(c, status);
	}
	if (r->id != want && (c->mark_id == 0 || r->id != c->mark_id)) {
		client_fail(c,
		    "objd at %s answered request %llu instead of %llu",
		    c->socket_path, (unsigned long long)r->id,
		    (unsigned long long)want);
		objd__response__free_unpacked(r, NULL);
		return client_break(c, OBJD_FAILED);
	}
	if (!libobjd_status_known((int)r->status)) {
		/* A newer objd may know outcomes this client does not; the
		 * request did not succeed as far as we can tell. */
		client_fail(c, "objd answered with unknown status %d: %s",
		    (int)r->status, *r->error ? r->error : "no details");
		*resp = r;
		return OBJD_FAILED;
	}
	*resp = r;
	return (int)r->status;
}

int
objd_connect(const char *socket_path, double timeout, objd_client **out,
    char *err, size_t errlen)
{
	struct sockaddr_un sa;
	objd_client *c;
	int fd = -1, flags, saved, status;

	*out = NULL;
	if (!(timeout >= 0)) {
		if (err != NULL)
			snprintf(err, errlen, "invalid timeout %g", timeout);
		return OBJD_INVALID;
	}
	if (timeout > CLIENT_TIMEOUT_MAX)
		timeout = 0;
	c = xcalloc(1, sizeof(*c));
	c->fd = -1;
	c->timeout = timeout;
	c->socket_path =
	    socket_path != NULL ? xstrdup(socket_path) : paths_default_socket();

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (*c->socket_path == '\0' ||
	    strlen(c->socket_path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	memcpy(sa.sun_path, c->socket_path, strlen(c->socket_path));

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	/* A UNIX stream connect waits for room in objd's backlog, and
	 * that wait honours the send timeout. */
	if (timeout > 0) {
		struct timeval tv;

		tv.tv_sec = (time_t)timeout;
		tv.tv_usec = (suseconds_t)((timeout - (double)tv.tv_sec) * 1e6);
		if (tv.tv_sec == 0 && tv.tv_usec == 0)
			tv.tv_usec = 1;
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		/* An interrupted connect may still have completed. */
		if (errno == EISCONN)
			break;
		if (errno != EINTR)
			goto fail;
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		goto fail;
	c->fd = fd;
	*out = c;
	return OBJD_OK;

fail:
	saved = errno;
	status =
	    libobjd_connect_error(c->socket_path, saved, timeout, err, errlen);
	if (fd != -1)
		close(fd);
	objd_close(c);
	errno = saved;
	return status;
}

/* Says why a connect failed, and gives the status: objd is there but
 * the user may not talk to it (EACCES) is the answer of a request that
 * its policy refuses. */
int
libobjd_connect_error(const char *path, int error, double timeout, char *err,
    size_t errlen)
{
	if (err != NULL) {
		if (error == ENOENT || error == ECONNREFUSED)
			snprintf(err, errlen,
			    "cannot reach objd at %s: is objd running? (%s)",
			    path, strerror(error));
		else if (error == EAGAIN || error == EWOULDBLOCK)
			snprintf(err, errlen,
			    "cannot reach objd at %s: it did not accept the "
			    "connection within %g seconds",
			    path, timeout);
		else if (error == EACCES || error == EPERM)
			snprintf(err, errlen,
			    "cannot reach objd at %s: %s (is it another "
			    "user's objd? use --socket)",
			    path, strerror(error));
		else if (error == ENAMETOOLONG)
			snprintf(err, errlen,
			    "cannot reach objd at %s: a socket path must be "
			    "1 to %zu bytes long",
			    *path ? path : "\"\"",
			    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		else
			snprintf(err, errlen, "cannot reach objd at %s: %s",
			    path, strerror(error));
	}
	return error == EACCES || error == EPERM ? OBJD_DENIED
	                                         : OBJD_UNREACHABLE;
}

void
objd_close(objd_client *c)
{
	if (c == NULL)
		return;
	if (c->fd != -1)
		close(c->fd);
	free(c->socket_path);
	free(c->in);
	free(c);
}

char *
objd_default_socket(void)
{
	return paths_default_socket();
}

const char *
objd_client_socket(const objd_client *c)
{
	return c->socket_path;
}

const char *
objd_client_error(const objd_client *c)
{
	return c->error;
}

uint64_t
objd_client_revision(const objd_client *c)
{
	return c->revision;
}

int
objd_client_fd(const objd_client *c)
{
	return c->fd;
}

void
objd_client_set_consistent(objd_client *c, bool on)
{
	c->consistent = on;
}

bool
client_consistent(const objd_client *c)
{
	return c->consistent;
}

const char *
objd_strerror(int status)
{
	switch (status) {
	case OBJD_OK:
		return "success";
	case OBJD_NOT_FOUND:
		return "not found";
	case OBJD_INVALID:
		return "invalid request";
	case OBJD_UNREACHABLE:
		return "objd cannot be reached";
	case OBJD_CONFLICT:
		return "conflict";
	case OBJD_DENIED:
		return "permission denied";
	case OBJD_FAILED:
		return "objd failed to do it";
	default:
		return "unknown status";
	}
}

int
objd_send(objd_client *c, Objd__Request *req)
{
	size_t len;
	uint8_t *frame;
	int status;

	c->error[0] = '\0';
	if (c->fd == -1) {
		client_fail(c, "the connection to objd at %s broke earlier",
		    c->socket_path);
		return OBJD_UNREACHABLE;
	}
	if (c->watch_id != 0) {
		client_fail(c,
		    "this connection follows a watch and only reads its "
		    "events: use another connection");
		return OBJD_INVALID;
	}
	req->id = ++c->last_id;
	frame = frame_pack(&req->base, &len);
	status = client_write_all(c, frame, len, client_deadline(c));
	free(frame);
	return status;
}

int
objd_receive(objd_client *c, Objd__Response **resp)
{
	size_t off = 0, blen = 0;
	int status;

	*resp = NULL;
	c->error[0] = '\0';
	status = client_read_frame(c, client_deadline(c), false, &off, &blen);
	if (status != OBJD_OK)
		return status;
	status = client_decode(c, c->answered_id + 1, c->in + off, blen, resp);
	if (c->fd != -1)
		client_consume(c, off + blen);
	if (*resp == NULL)
		return status;
	c->answered_id++;
	c->revision = (*resp)->revision;
	if (status != OBJD_OK && c->error[0] == '\0') {
		if (*(*resp)->error != '\0')
			client_fail(c, "%s", (*resp)->error);
		else
			client_fail(c, "%s (objd gave no details: see its log)",
			    objd_strerror(status));
	}
	return status;
}

int
objd_call(objd_client *c, Objd__Request *req, Objd__Response **resp)
{
	int status;

	*resp = NULL;
	if ((status = objd_send(c, req)) != OBJD_OK)
		return status;
	return objd_receive(c, resp);
}

void
objd_response_free(Objd__Response *resp)
{
	if (resp != NULL)
		objd__response__free_unpacked(resp, NULL);
}

/* Checks the events of a watch frame, so that callers may print them
 * without looking twice. An event of a type this library does not know
 * is passed on as it is. */
static int
client_check_events(objd_client *c, const Objd__Response *resp)
{
	char why[256];

	for (size_t i = 0; i < resp->n_events; i++) {
		const Objd__Event *e = resp->events[i];

		switch (e->type) {
		case OBJD__EVENT__TYPE__SET:
			if (e->value == NULL) {
				snprintf(why, sizeof(why), "no value");
				goto bad;
			}
			if (!value_valid(e->value, why, sizeof(why)))
				goto bad;
			/* FALLTHROUGH */
		case OBJD__EVENT__TYPE__DELETE:
		case OBJD__EVENT__TYPE__EXPIRE:
			if (*e->key == '\0') {
				snprintf(why, sizeof(why), "no key");
				goto bad;
			}
			break;
		default:
			break;
		}
	}
	return OBJD_OK;
bad:
	client_fail(c, "objd at %s sent an invalid event: %s", c->socket_path,
	    why);
	return client_break(c, OBJD_FAILED);
}

int
objd_watch(objd_client *c, const char *prefix, uint64_t since,
    Objd__Response **first)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Watch watch = OBJD__WATCH__INIT;
	int status;

	if (prefix != NULL)
		watch.prefix = (char *)prefix;
	watch.since = since;
	req.op_case = OBJD__REQUEST__OP_WATCH;
	req.watch = &watch;
	status = objd_call(c, &req, first);
	if (status != OBJD_OK)
		return status;
	if ((status = client_check_entries(c, *first)) != OBJD_OK ||
	    (status = client_check_events(c, *first)) != OBJD_OK) {
		objd_response_free(*first);
		*first = NULL;
		return client_break(c, status);
	}
	c->watch_id = req.id;
	return OBJD_OK;
}

/* OBJD_OK if c follows a watch that goes on; else why not. */
static int
client_watching(objd_client *c)
{
	c->error[0] = '\0';
	if (c->watch_id == 0) {
		client_fail(c,
		    "this connection follows no watch: call "
		    "objd_watch() first");
		return OBJD_INVALID;
	}
	if (c->fd == -1) {
		client_fail(c, "the watch on objd at %s ended earlier",
		    c->socket_path);
		return OBJD_UNREACHABLE;
	}
	return OBJD_OK;
}

int
objd_watch_mark(objd_client *c, uint64_t *id)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Ping ping = OBJD__PING__INIT;
	uint8_t *frame;
	size_t len;
	int status;

	if ((status = client_watching(c)) != OBJD_OK)
		return status;
	/* objd answers a connection's requests in order, and queues the
	 * events of a change all at once as it applies it: the answer to a
	 * ping comes after every event of the changes applied before it. */
	req.op_case = OBJD__REQUEST__OP_PING;
	req.ping = &ping;
	req.id = c->mark_id = ++c->last_id;
	frame = frame_pack(&req.base, &len);
	status = client_write_all(c, frame, len, client_deadline(c));
	free(frame);
	*id = req.id;
	return status;
}

int
objd_watch_next(objd_client *c, Objd__Response **resp, double timeout)
{
	size_t off = 0, blen = 0;
	double deadline;
	int status;

	*resp = NULL;
	if ((status = client_watching(c)) != OBJD_OK)
		return status;
	/* A deadline of 0 would mean "never"; a timeout of 0 still reads
	 * what has come. */
	deadline = timeout < 0 || timeout > CLIENT_TIMEOUT_MAX
	    ? 0
	    : now_monotonic() + timeout;
	status = client_read_frame(c, deadline, true, &off, &blen);
	if (status == CLIENT_AGAIN)
		return OBJD_OK;
	if (status != OBJD_OK) {
		char why[sizeof(c->error)];

		snprintf(why, sizeof(why), "%s", c->error);
		client_fail(c, "the watch ended: %s", why);
		return status;
	}
	status = client_decode(c, c->watch_id, c->in + off, blen, resp);
	if (c->fd != -1)
		client_consume(c, off + blen);
	if (*resp == NULL)
		return status;
	c->revision = (*resp)->revision;
	if (status == OBJD_OK) {
		if ((status = client_check_events(c, *resp)) != OBJD_OK) {
			objd_response_free(*resp);
			*resp = NULL;
		}
		return status;
	}
	/* objd ends a watch with an error, and closes the connection. */
	if (c->error[0] == '\0')
		client_fail(c, "%s",
		    *(*resp)->error != '\0'
		        ? (*resp)->error
		        : "objd ended the watch without saying why: see its "
		          "log");
	return client_break(c, status);
}
