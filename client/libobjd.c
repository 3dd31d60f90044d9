/* libobjd.c: a blocking client for objd over its UNIX socket.
 *
 * The socket is non-blocking once connected, so that every wait goes
 * through poll() and one deadline bounds a whole call however the bytes
 * trickle in. An answer from objd is untrusted: it is size-capped and
 * checked with pbcheck before protobuf-c unpacks it. Any local failure
 * in the middle of a call leaves the stream out of step, so the
 * connection is closed and later calls fail at once. */
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

#include "framing.h"
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

struct objd_client {
	int fd; /* -1 once the connection is given up */
	char *socket_path;
	double timeout;
	uint64_t last_id;
	uint64_t revision;
	/* Bytes read but not yet used: a frame arrives in pieces. */
	uint8_t *in;
	size_t in_len;
	size_t in_cap;
	char error[1024];
};

static void client_fail(objd_client *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
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
client_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
client_deadline(const objd_client *c)
{
	return c->timeout > 0 ? client_now() + c->timeout : 0;
}

/* Waits until fd is ready for events or the deadline passes (0: never).
 * Returns 0 when ready, -1 with errno ETIMEDOUT or poll's error. */
static int
client_wait(int fd, short events, double deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	double left;
	int ms, n;

	for (;;) {
		ms = -1;
		if (deadline > 0) {
			left = deadline - client_now();
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
		if (n == -1 && errno != EINTR)
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

static int
client_write_all(
    objd_client *c, const uint8_t *buf, size_t len, double deadline)
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
			if (client_wait(c->fd, POLLOUT, deadline) == -1)
				return client_io_error(c, "sending");
			continue;
		}
		return client_io_error(c, "sending");
	}
	return OBJD_OK;
}

/* Reads until at least want bytes are buffered, and whatever else
 * arrives with them and fits. */
static int
client_fill(objd_client *c, size_t want, double deadline)
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
			if (client_wait(c->fd, POLLIN, deadline) == -1)
				return client_io_error(c, "reading its answer");
			continue;
		}
		return client_io_error(c, "reading its answer");
	}
	return OBJD_OK;
}

/* Reads one frame; on OBJD_OK its body is c->in[*off .. *off + *len). */
static int
client_read_frame(objd_client *c, double deadline, size_t *off, size_t *len)
{
	enum frame_status fs;
	size_t hlen = 0, blen = 0;
	int status;

	for (;;) {
		fs = frame_parse_header(
		    c->in, c->in_len, FRAME_MAX_DEFAULT, &hlen, &blen);
		if (fs != FRAME_SHORT)
			break;
		status = client_fill(c, c->in_len + 1, deadline);
		if (status != OBJD_OK)
			return status;
	}
	if (fs != FRAME_OK) {
		client_fail(c, "objd at %s answered nonsense: %s",
		    c->socket_path, frame_status_str(fs));
		return client_break(c, OBJD_FAILED);
	}
	status = client_fill(c, hlen + blen, deadline);
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

static bool
client_status_known(int status)
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
client_decode(
    objd_client *c, const uint8_t *buf, size_t len, Objd__Response **resp)
{
	char why[256];
	Objd__Response *r;

	if (!pbcheck(&objd__response__descriptor, buf, len, why, sizeof(why))) {
		client_fail(
		    c, "objd at %s answered nonsense: %s", c->socket_path, why);
		return client_break(c, OBJD_FAILED);
	}
	r = objd__response__unpack(NULL, len, buf);
	if (r == NULL) {
		client_fail(c,
		    "objd at %s answered nonsense: malformed response",
		    c->socket_path);
		return client_break(c, OBJD_FAILED);
	}
	if (r->id != c->last_id) {
		client_fail(c,
		    "objd at %s answered request %llu instead of %llu",
		    c->socket_path, (unsigned long long)r->id,
		    (unsigned long long)c->last_id);
		objd__response__free_unpacked(r, NULL);
		return client_break(c, OBJD_FAILED);
	}
	if (!client_status_known((int)r->status)) {
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
	int fd, flags, saved;

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
		if (err != NULL)
			snprintf(err, errlen,
			    "cannot reach objd at %s: a socket path must be "
			    "1 to %zu bytes long",
			    *c->socket_path ? c->socket_path : "\"\"",
			    sizeof(sa.sun_path) - 1);
		objd_close(c);
		return OBJD_UNREACHABLE;
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
	if (err != NULL) {
		if (saved == ENOENT || saved == ECONNREFUSED)
			snprintf(err, errlen,
			    "cannot reach objd at %s: is objd running? (%s)",
			    c->socket_path, strerror(saved));
		else if (saved == EAGAIN || saved == EWOULDBLOCK)
			snprintf(err, errlen,
			    "cannot reach objd at %s: it did not accept the "
			    "connection within %g seconds",
			    c->socket_path, timeout);
		else if (saved == EACCES || saved == EPERM)
			snprintf(err, errlen,
			    "cannot reach objd at %s: %s (is it another "
			    "user's objd? use --socket)",
			    c->socket_path, strerror(saved));
		else
			snprintf(err, errlen, "cannot reach objd at %s: %s",
			    c->socket_path, strerror(saved));
	}
	if (fd != -1)
		close(fd);
	objd_close(c);
	errno = saved;
	return OBJD_UNREACHABLE;
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
objd_call(objd_client *c, Objd__Request *req, Objd__Response **resp)
{
	double deadline = client_deadline(c);
	size_t len, off = 0, blen = 0;
	uint8_t *frame;
	int status;

	*resp = NULL;
	c->error[0] = '\0';
	if (c->fd == -1) {
		client_fail(c, "the connection to objd at %s broke earlier",
		    c->socket_path);
		return OBJD_UNREACHABLE;
	}
	req->id = ++c->last_id;
	frame = frame_pack(&req->base, &len);
	status = client_write_all(c, frame, len, deadline);
	free(frame);
	if (status != OBJD_OK)
		return status;
	status = client_read_frame(c, deadline, &off, &blen);
	if (status != OBJD_OK)
		return status;
	status = client_decode(c, c->in + off, blen, resp);
	if (c->fd != -1)
		client_consume(c, off + blen);
	if (*resp == NULL)
		return status;
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

void
objd_response_free(Objd__Response *resp)
{
	if (resp != NULL)
		objd__response__free_unpacked(resp, NULL);
}

/* Checks the entries of a Get answer, so that callers may print them
 * without looking twice. */
static int
client_check_entries(objd_client *c, Objd__Response *resp)
{
	char why[256];

	for (size_t i = 0; i < resp->n_entries; i++) {
		const Objd__Entry *e = resp->entries[i];

		if (*e->key == '\0' || e->value == NULL ||
		    !value_valid(e->value, why, sizeof(why))) {
			client_fail(c,
			    "objd at %s answered with an invalid entry: %s",
			    c->socket_path,
			    e->value == NULL ? "no value" : why);
			return OBJD_FAILED;
		}
	}
	return OBJD_OK;
}

int
objd_get(objd_client *c, const char *key, Objd__Value **value)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Get get = OBJD__GET__INIT;
	Objd__Response *resp;
	char *keys[1];
	int status;

	*value = NULL;
	keys[0] = (char *)key;
	get.n_keys = 1;
	get.keys = keys;
	req.op_case = OBJD__REQUEST__OP_GET;
	req.get = &get;
	status = objd_call(c, &req, &resp);
	if (status != OBJD_OK)
		goto out;
	if ((status = client_check_entries(c, resp)) != OBJD_OK)
		goto out;
	/* "The keys found": a missing key may come back as no entry. */
	if (resp->n_entries == 0) {
		client_fail(c, "key not found: %s", key);
		status = OBJD_NOT_FOUND;
		goto out;
	}
	if (resp->n_entries != 1 || strcmp(resp->entries[0]->key, key) != 0) {
		client_fail(c, "objd at %s answered with another key than %s",
		    c->socket_path, key);
		status = OBJD_FAILED;
		goto out;
	}
	*value = resp->entries[0]->value;
	resp->entries[0]->value = NULL;
out:
	objd_response_free(resp);
	return status;
}

int
objd_get_all(objd_client *c, Objd__Response **resp)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Get get = OBJD__GET__INIT;
	int status;

	req.op_case = OBJD__REQUEST__OP_GET;
	req.get = &get;
	status = objd_call(c, &req, resp);
	if (status == OBJD_OK &&
	    (status = client_check_entries(c, *resp)) != OBJD_OK) {
		objd_response_free(*resp);
		*resp = NULL;
	}
	return status;
}

/* Sends req and keeps only its status: for requests whose answer says
 * nothing beyond it and the revision. */
static int
client_call_status(objd_client *c, Objd__Request *req)
{
	Objd__Response *resp;
	int status;

	status = objd_call(c, req, &resp);
	objd_response_free(resp);
	return status;
}

int
objd_set(objd_client *c, const char *const *keys,
    const Objd__Value *const *values, size_t n)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Set set = OBJD__SET__INIT;
	Objd__Entry *entries, **ptrs;
	int status;

	entries = xreallocarray(NULL, n, sizeof(*entries));
	ptrs = xreallocarray(NULL, n, sizeof(*ptrs));
	for (size_t i = 0; i < n; i++) {
		objd__entry__init(&entries[i]);
		/* Packing only reads them; the casts satisfy the generated
		 * struct, which has no const members. */
		entries[i].key = (char *)keys[i];
		entries[i].value = (Objd__Value *)values[i];
		ptrs[i] = &entries[i];
	}
	set.n_entries = n;
	set.entries = ptrs;
	req.op_case = OBJD__REQUEST__OP_SET;
	req.set = &set;
	status = client_call_status(c, &req);
	free(ptrs);
	free(entries);
	return status;
}

int
objd_delete(objd_client *c, const char *const *keys, size_t n)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Delete del = OBJD__DELETE__INIT;

	del.n_keys = n;
	del.keys = (char **)keys;
	req.op_case = OBJD__REQUEST__OP_DELETE;
	req.delete_ = &del;
	return client_call_status(c, &req);
}

int
objd_list(objd_client *c, const char *prefix, Objd__Response **resp)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__List list = OBJD__LIST__INIT;

	if (prefix != NULL)
		list.prefix = (char *)prefix;
	req.op_case = OBJD__REQUEST__OP_LIST;
	req.list = &list;
	return objd_call(c, &req, resp);
}

int
objd_ping(objd_client *c)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Ping ping = OBJD__PING__INIT;

	req.op_case = OBJD__REQUEST__OP_PING;
	req.ping = &ping;
	return client_call_status(c, &req);
}

int
objd_status(objd_client *c, Objd__Response **resp)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__StatusQuery query = OBJD__STATUS_QUERY__INIT;
	int status;

	req.op_case = OBJD__REQUEST__OP_STATUS;
	req.status = &query;
	status = objd_call(c, &req, resp);
	if (status == OBJD_OK && (*resp)->info == NULL) {
		client_fail(c,
		    "objd at %s answered a status query without its state",
		    c->socket_path);
		objd_response_free(*resp);
		*resp = NULL;
		status = OBJD_FAILED;
	}
	return status;
}

int
objd_reload(objd_client *c)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Reload reload = OBJD__RELOAD__INIT;

	req.op_case = OBJD__REQUEST__OP_RELOAD;
	req.reload = &reload;
	return client_call_status(c, &req);
}

int
objd_compact(objd_client *c)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Compact compact = OBJD__COMPACT__INIT;

	req.op_case = OBJD__REQUEST__OP_COMPACT;
	req.compact = &compact;
	return client_call_status(c, &req);
}
