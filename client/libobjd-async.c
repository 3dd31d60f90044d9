/* SPDX-License-Identifier: ISC */
/* libobjd-async.c: libobjd without blocking, for programs that run an
 * event loop of their own (GLib, libevent, epoll).
 *
 * The program owns the wait: it asks objd_async_fd() and
 * objd_async_wants_write(), and calls objd_async_read() and
 * objd_async_write() when its loop says the descriptor is ready. Each
 * request carries a callback, called with its answer from inside
 * objd_async_read(); a watch's callback is called for its first answer
 * and then for every frame of changes. Answers come in the order of the
 * requests, and watch frames carry the watch's id, so one connection
 * carries requests and watches together.
 *
 * A callback may send more requests and may close the connection; the
 * connection is freed once the callbacks in progress have returned. An
 * answer is untrusted, as in libobjd.c: size-capped by the framing,
 * checked with pbcheck, then unpacked. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framing.h"
#include "libobjd-internal.h"
#include "objd-client.h"
#include "paths.h"
#include "pbcheck.h"
#include "xmalloc.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* Bytes asked of recv() at a time. */
#define ASYNC_READ_CHUNK 65536

/* A request sent (or waiting to be) whose answer has not come, or a
 * watch whose first answer came and that goes on. */
struct async_call {
	uint64_t id;
	objd_async_cb *cb;
	void *arg;
	bool watch;
	struct async_call *next;
};

struct objd_async {
	int fd; /* -1 once the connection is broken */
	char *socket_path;
	uint64_t last_id;
	uint64_t revision;
	/* Requests in the order sent: answers come in that order. */
	struct async_call *calls;
	struct async_call **calls_tail;
	/* Watches that had their first answer: later frames name them. */
	struct async_call *watches;
	/* Frames not yet written, from out_off on. */
	uint8_t *out;
	size_t out_len, out_off;
	/* Bytes read and not yet used. */
	uint8_t *in;
	size_t in_len, in_cap;
	/* Callbacks in progress, and whether one of them closed a. */
	int depth;
	bool closed;
	char error[1024];
};

static void async_fail(objd_async *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
async_fail(objd_async *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->error, sizeof(a->error), fmt, ap);
	va_end(ap);
}

static void
async_call_free_list(struct async_call *c)
{
	struct async_call *next;

	for (; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
}

static void
async_free(objd_async *a)
{
	if (a->fd != -1)
		close(a->fd);
	async_call_free_list(a->calls);
	async_call_free_list(a->watches);
	free(a->socket_path);
	free(a->out);
	free(a->in);
	free(a);
}

static void
async_invoke(objd_async *a, struct async_call *c, int status,
    const Objd__Response *resp)
{
	a->depth++;
	c->cb(a, status, resp, c->arg);
	a->depth--;
}

/* The connection is lost: every request and watch still open learns it,
 * once, with status and no answer. Returns status. */
static int
async_break(objd_async *a, int status)
{
	struct async_call *calls = a->calls, *watches = a->watches, *c;

	if (a->fd != -1) {
		close(a->fd);
		a->fd = -1;
	}
	a->calls = NULL;
	a->calls_tail = &a->calls;
	a->watches = NULL;
	a->out_len = a->out_off = 0;
	a->in_len = 0;
	for (c = calls; c != NULL && !a->closed; c = c->next)
		async_invoke(a, c, status, NULL);
	for (c = watches; c != NULL && !a->closed; c = c->next)
		async_invoke(a, c, status, NULL);
	async_call_free_list(calls);
	async_call_free_list(watches);
	return status;
}

int
objd_async_connect(const char *socket_path, objd_async **out, char *err,
    size_t errlen)
{
	struct sockaddr_un sa;
	objd_async *a;
	int fd = -1, flags, saved, status;

	*out = NULL;
	a = xcalloc(1, sizeof(*a));
	a->fd = -1;
	a->calls_tail = &a->calls;
	a->socket_path =
	    socket_path != NULL ? xstrdup(socket_path) : paths_default_socket();
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (*a->socket_path == '\0' ||
	    strlen(a->socket_path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	memcpy(sa.sun_path, a->socket_path, strlen(a->socket_path));
	/* A UNIX stream connect completes at once or fails at once (a full
	 * backlog is EAGAIN), so it is made before the socket goes
	 * non-blocking: there is no connect in progress to watch. */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		goto fail;
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		if (errno == EISCONN)
			break;
		if (errno != EINTR)
			goto fail;
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		goto fail;
	a->fd = fd;
	*out = a;
	return OBJD_OK;

fail:
	saved = errno;
	status = libobjd_connect_error(a->socket_path, saved, 0, err, errlen);
	if (fd != -1)
		close(fd);
	async_free(a);
	errno = saved;
	return status;
}

void
objd_async_close(objd_async *a)
{
	if (a == NULL || a->closed)
		return;
	async_fail(a, "the connection was closed");
	async_break(a, OBJD_UNREACHABLE);
	a->closed = true;
	if (a->depth == 0)
		async_free(a);
}

int
objd_async_fd(const objd_async *a)
{
	return a->fd;
}

bool
objd_async_wants_write(const objd_async *a)
{
	return a->fd != -1 && a->out_off < a->out_len;
}

const char *
objd_async_error(const objd_async *a)
{
	return a->error;
}

uint64_t
objd_async_revision(const objd_async *a)
{
	return a->revision;
}

int
objd_async_write(objd_async *a)
{
	ssize_t n;

	while (a->fd != -1 && a->out_off < a->out_len) {
		n = send(a->fd, a->out + a->out_off, a->out_len - a->out_off,
		    MSG_NOSIGNAL);
		if (n > 0) {
			a->out_off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return OBJD_OK;
		async_fail(a, "lost objd at %s while sending: %s",
		    a->socket_path, strerror(errno));
		return async_break(a, OBJD_UNREACHABLE);
	}
	if (a->fd == -1)
		return OBJD_UNREACHABLE;
	a->out_off = a->out_len = 0;
	return OBJD_OK;
}

int
objd_async_call(objd_async *a, Objd__Request *req, objd_async_cb *cb, void *arg)
{
	struct async_call *c;
	uint8_t *frame;
	size_t len;

	if (a->fd == -1 || a->closed) {
		async_fail(a, "the connection to objd at %s broke earlier",
		    a->socket_path);
		return OBJD_UNREACHABLE;
	}
	req->id = ++a->last_id;
	frame = frame_pack(&req->base, &len);
	if (a->out_off > 0 && a->out_off == a->out_len)
		a->out_off = a->out_len = 0;
	a->out = xrealloc(a->out, a->out_len + len);
	memcpy(a->out + a->out_len, frame, len);
	a->out_len += len;
	free(frame);
	c = xcalloc(1, sizeof(*c));
	c->id = req->id;
	c->cb = cb;
	c->arg = arg;
	c->watch = req->op_case == OBJD__REQUEST__OP_WATCH;
	*a->calls_tail = c;
	a->calls_tail = &c->next;
	/* Most requests fit the socket's buffer: send now, and leave the
	 * rest to the program's loop. */
	return objd_async_write(a);
}

int
objd_async_watch(objd_async *a, const char *prefix, uint64_t since,
    objd_async_cb *cb, void *arg)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Watch watch = OBJD__WATCH__INIT;

	if (prefix != NULL)
		watch.prefix = (char *)prefix;
	watch.since = since;
	req.op_case = OBJD__REQUEST__OP_WATCH;
	req.watch = &watch;
	return objd_async_call(a, &req, cb, arg);
}

/* The call that r answers, taken off its list; NULL if none. */
static struct async_call *
async_take(objd_async *a, const Objd__Response *r)
{
	struct async_call *c, **pp;

	if ((c = a->calls) != NULL && c->id == r->id) {
		if ((a->calls = c->next) == NULL)
			a->calls_tail = &a->calls;
		c->next = NULL;
		return c;
	}
	for (pp = &a->watches; (c = *pp) != NULL; pp = &c->next) {
		if (c->id == r->id) {
			*pp = c->next;
			c->next = NULL;
			return c;
		}
	}
	return NULL;
}

/* Hands one answer to its callback. A watch answered OK goes on. */
static int
async_dispatch(objd_async *a, Objd__Response *r)
{
	struct async_call *c;
	int status;

	/* Id 0 is objd's word on the connection itself (too many
	 * clients, a frame it could not read): it closes it after that. */
	if (r->id == 0 && r->status != OBJD__STATUS__OK) {
		async_fail(a, "objd at %s: %s", a->socket_path,
		    *r->error ? r->error : "it closed the connection");
		return async_break(a,
		    libobjd_status_known((int)r->status) ? (int)r->status
		                                         : OBJD_FAILED);
	}
	if ((c = async_take(a, r)) == NULL) {
		async_fail(a,
		    "objd at %s answered request %llu, which is not "
		    "waiting",
		    a->socket_path, (unsigned long long)r->id);
		return async_break(a, OBJD_FAILED);
	}
	a->revision = r->revision;
	status =
	    libobjd_status_known((int)r->status) ? (int)r->status : OBJD_FAILED;
	if (status != OBJD_OK)
		async_fail(a, "%s",
		    *r->error ? r->error : objd_strerror(status));
	async_invoke(a, c, status, r);
	if (c->watch && status == OBJD_OK && !a->closed && a->fd != -1) {
		c->next = a->watches;
		a->watches = c;
	} else
		free(c);
	return OBJD_OK;
}

/* Reads what the socket has; OBJD_OK with *eof set at its end. */
static int
async_fill(objd_async *a, bool *eof)
{
	ssize_t n;

	*eof = false;
	for (;;) {
		if (a->in_cap - a->in_len < ASYNC_READ_CHUNK) {
			a->in_cap = a->in_len + ASYNC_READ_CHUNK;
			a->in = xrealloc(a->in, a->in_cap);
		}
		n = recv(a->fd, a->in + a->in_len, a->in_cap - a->in_len, 0);
		if (n > 0) {
			a->in_len += (size_t)n;
			if (a->in_len >= FRAME_MAX_DEFAULT + VARINT_MAX_LEN)
				return OBJD_OK;
			continue;
		}
		if (n == 0) {
			*eof = true;
			return OBJD_OK;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return OBJD_OK;
		async_fail(a, "lost objd at %s while reading: %s",
		    a->socket_path, strerror(errno));
		return async_break(a, OBJD_UNREACHABLE);
	}
}

/* Cuts and hands on every whole frame that was read. */
static int
async_frames(objd_async *a)
{
	enum frame_status fs;
	Objd__Response *r;
	size_t off = 0, hlen, blen;
	char why[256] = "malformed response";
	int status = OBJD_OK;

	while (a->fd != -1 && !a->closed) {
		fs = frame_parse_header(a->in + off, a->in_len - off,
		    FRAME_MAX_DEFAULT, &hlen, &blen);
		if (fs == FRAME_SHORT ||
		    (fs == FRAME_OK && a->in_len - off < hlen + blen))
			break;
		if (fs != FRAME_OK) {
			async_fail(a, "objd at %s answered nonsense: %s",
			    a->socket_path, frame_status_str(fs));
			return async_break(a, OBJD_FAILED);
		}
		if (!pbcheck(&objd__response__descriptor, a->in + off + hlen,
		        blen, why, sizeof(why)) ||
		    (r = objd__response__unpack(NULL, blen,
		         a->in + off + hlen)) == NULL) {
			async_fail(a, "objd at %s answered nonsense: %s",
			    a->socket_path, why);
			return async_break(a, OBJD_FAILED);
		}
		off += hlen + blen;
		status = async_dispatch(a, r);
		objd__response__free_unpacked(r, NULL);
		if (status != OBJD_OK)
			return status;
	}
	if (a->fd != -1 && !a->closed) {
		memmove(a->in, a->in + off, a->in_len - off);
		a->in_len -= off;
	}
	return status;
}

int
objd_async_read(objd_async *a)
{
	bool eof;
	int status;

	if (a->fd == -1 || a->closed) {
		async_fail(a, "the connection to objd at %s broke earlier",
		    a->socket_path);
		return OBJD_UNREACHABLE;
	}
	a->depth++;
	status = async_fill(a, &eof);
	if (status == OBJD_OK)
		status = async_frames(a);
	if (status == OBJD_OK && eof && a->fd != -1 && !a->closed) {
		async_fail(a,
		    "objd at %s closed the connection: check objd's "
		    "log",
		    a->socket_path);
		status = async_break(a, OBJD_UNREACHABLE);
	}
	a->depth--;
	if (a->closed && a->depth == 0) {
		async_free(a);
		return OBJD_UNREACHABLE;
	}
	return status;
}
