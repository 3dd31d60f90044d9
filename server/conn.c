/* conn.c: one connected client: frames in, answers out.
 *
 * The read callback cuts every whole frame out of the input, in order,
 * and leaves a partial one for later. A frame that is too large, or that
 * does not decode, gets an INVALID answer and closes that client only. */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framing.h"
#include "log.h"
#include "objd.h"
#include "pbcheck.h"
#include "xmalloc.h"

static uint64_t conn_next_serial = 1;

static void conn_read_cb(struct bufferevent *, void *);
static void conn_write_cb(struct bufferevent *, void *);
static void conn_event_cb(struct bufferevent *, short, void *);

void
conn_accept(int fd)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	struct ucred cred;
	socklen_t len = sizeof(cred);

	c->serial = conn_next_serial++;
	c->pid = -1;
	c->uid = (uid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		c->pid = cred.pid;
		c->uid = cred.uid;
	}
	c->bev = bufferevent_socket_new(server.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_warnx(
		    "cannot set up client %llu", (unsigned long long)c->serial);
		close(fd);
		free(c);
		return;
	}
	bufferevent_setcb(
	    c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&server.conns, c, entry);
	server.nconns++;
	log_debug("client %llu connected (pid %ld, uid %ld)",
	    (unsigned long long)c->serial, (long)c->pid, (long)c->uid);
}

static void
conn_free(struct conn *c)
{
	log_debug("client %llu closed", (unsigned long long)c->serial);
	TAILQ_REMOVE(&server.conns, c, entry);
	server.nconns--;
	bufferevent_free(c->bev);
	free(c);
}

/* The peer is gone or must go. A client with writes in the batch stays
 * allocated until they commit: the batch still points at it. */
static void
conn_gone(struct conn *c)
{
	c->gone = true;
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	if (c->pending == 0)
		conn_free(c);
}

/* Reads no more; closes once every answer owed is written. */
static void
conn_finish(struct conn *c)
{
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	if (c->pending == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_gone(c);
}

void
conn_fail(struct conn *c, const char *why)
{
	log_info("closing client %llu (pid %ld): %s",
	    (unsigned long long)c->serial, (long)c->pid, why);
	conn_finish(c);
}

void
conn_release(struct conn *c)
{
	if (c->gone) {
		if (c->pending == 0)
			conn_free(c);
		return;
	}
	if (c->closing) {
		if (c->pending == 0 &&
		    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			conn_gone(c);
		return;
	}
	if (c->pending > 0 || server.stopping)
		return;
	if (!c->eof)
		bufferevent_enable(c->bev, EV_READ);
	conn_process(c);
}

/* The id of a request that failed to decode, if its first field is the
 * id (as every encoder writes it), so the error answer can name it. */
static uint64_t
conn_guess_id(const uint8_t *body, size_t len)
{
	uint64_t id = 0;

	if (len > 1 && body[0] == 0x08 &&
	    varint_decode(body + 1, len - 1, &id) <= 0)
		id = 0;
	return id;
}

/* Answers an undecodable frame and closes the client. */
static void
conn_reject(struct conn *c, uint64_t id, const char *why)
{
	reply_status(c, id, OBJD__STATUS__INVALID, why);
	conn_fail(c, why);
}

/* Handles one whole frame of body_len bytes after a header_len prefix. */
static void
conn_frame(
    struct conn *c, struct evbuffer *in, size_t header_len, size_t body_len)
{
	const uint8_t *body;
	Objd__Request *req;
	char why[256];

	body = evbuffer_pullup(in, (ev_ssize_t)(header_len + body_len));
	if (body == NULL) {
		conn_reject(c, 0, "out of memory reading the request");
		return;
	}
	body += header_len;
	if (!pbcheck(
	        &objd__request__descriptor, body, body_len, why, sizeof(why))) {
		conn_reject(c, conn_guess_id(body, body_len), why);
		return;
	}
	req = objd__request__unpack(NULL, body_len, body);
	if (req == NULL) {
		conn_reject(
		    c, conn_guess_id(body, body_len), "malformed request");
		return;
	}
	evbuffer_drain(in, header_len + body_len);
	request_dispatch(c, req);
	objd__request__free_unpacked(req, NULL);
}

void
conn_process(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	uint8_t prefix[VARINT_MAX_LEN];
	size_t have, header_len, body_len;
	enum frame_status st;
	ev_ssize_t n;
	char why[128];

	while (!c->gone && !c->closing && c->pending == 0 && !server.stopping) {
		have = evbuffer_get_length(in);
		if (have == 0)
			break;
		n = evbuffer_copyout(in, prefix, sizeof(prefix));
		st = frame_parse_header(prefix, (size_t)n, server.frame_max,
		    &header_len, &body_len);
		if (st == FRAME_SHORT)
			break;
		if (st != FRAME_OK) {
			snprintf(why, sizeof(why), "%s (at most %zu bytes)",
			    frame_status_str(st), server.frame_max);
			conn_reject(c, 0, why);
			return;
		}
		if (have < header_len + body_len) {
			if (c->eof)
				break;
			/* Wake up only once the whole frame is here. */
			bufferevent_setwatermark(
			    c->bev, EV_READ, header_len + body_len, 0);
			return;
		}
		conn_frame(c, in, header_len, body_len);
	}
	if (c->gone)
		return;
	bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
	if (c->eof && !c->closing && c->pending == 0)
		conn_finish(c);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	conn_process(arg);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->closing && !c->gone && c->pending == 0)
		conn_gone(c);
}

static void
conn_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct conn *c = arg;

	if (events & BEV_EVENT_ERROR)
		log_debug("client %llu: %s", (unsigned long long)c->serial,
		    strerror(errno));
	if (events & BEV_EVENT_ERROR) {
		conn_gone(c);
		return;
	}
	/* A client may send its requests and shut down its side before
	 * reading: it is still owed every answer. */
	if (events & BEV_EVENT_EOF) {
		c->eof = true;
		conn_process(c);
	}
}

void
conn_close_all(void)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&server.conns)) != NULL) {
		c->pending = 0;
		conn_free(c);
	}
}
