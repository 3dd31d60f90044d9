/* conn.c: one connected client: frames in, answers out.
 *
 * The read callback cuts every whole frame out of the input, in order,
 * and leaves a partial one for later. A frame that is too large, or that
 * does not decode, gets an INVALID answer and closes that client only.
 *
 * The limits on a client live here too: --max-clients at accept;
 * --client-idle-timeout, the time a client may take between two pieces
 * of a frame it has started (a client idle between frames may stay);
 * --max-client-output, past which objd reads no more requests from a
 * client until it has read its answers (watch.c drops a watcher there).
 *
 * Answers are written as redis does, not as the bufferevent would: the
 * answers of a turn of the loop are written to each client at its end,
 * and only a client whose socket is full gets a write event until it
 * drains. Through the bufferevent, each answer added a write event, and
 * so two epoll_ctl calls and one more wait for the loop before it went
 * out. */
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "framing.h"
#include "log.h"
#include "objd.h"
#include "pbcheck.h"
#include "xmalloc.h"

/* A peer outside the policy is answered DENIED whatever it asks, so it
 * needs no large frames. */
#define CONN_DENIED_FRAME_MAX 4096
/* Clients over --max-clients linger this long, at most this many at
 * once, reading and dropping what they send: so their request goes out
 * whole and they read why they were refused, not a reset. */
#define CONN_REFUSED_SECONDS 1
#define CONN_REFUSED_MAX 64

static uint64_t conn_next_serial = 1;
static size_t conn_nrefused;
static TAILQ_HEAD(, conn) conn_unflushed =
    TAILQ_HEAD_INITIALIZER(conn_unflushed);
static struct event *conn_flush_ev;

/* Requests decode into an arena (arena.h), released once handled: most
 * fit in its first CONN_ARENA_SIZE bytes, larger ones spill to malloc. */
#define CONN_ARENA_SIZE (64 * 1024)
static struct arena conn_arena;

static void *
conn_arena_alloc(void *arena, size_t size)
{
	return arena_alloc(arena, size);
}

static void
conn_arena_keep(void *arena, void *p)
{
	/* Freed with the rest, when the arena is released to its mark. */
}

static ProtobufCAllocator conn_allocator = {
	.alloc = conn_arena_alloc,
	.free = conn_arena_keep,
	.allocator_data = &conn_arena,
};

static void conn_read_cb(struct bufferevent *, void *);
static void conn_write_cb(struct bufferevent *, void *);
static void conn_event_cb(struct bufferevent *, short, void *);
static void conn_finish(struct conn *);

/* A client over --max-clients. False if it was closed at once. */
static bool
conn_refuse_early(struct conn *c, int fd)
{
	static time_t last_log;
	static unsigned long unlogged;
	time_t now = time(NULL);

	/* A flood of connections must not flood the log as well. */
	if (now != last_log) {
		log_warnx("refusing client %llu (pid %ld, uid %ld): %zu "
		          "clients already (--max-clients)%s",
		    (unsigned long long)c->serial, (long)c->pid, (long)c->uid,
		    server.nconns, unlogged > 0 ? ", and more since" : "");
		last_log = now;
		unlogged = 0;
	} else
		unlogged++;
	if (conn_nrefused >= CONN_REFUSED_MAX) {
		close(fd);
		free(c);
		return false;
	}
	c->refused = true;
	return true;
}

/* Tells a refused client why, in an answer to no request (id 0). */
static void
conn_refuse(struct conn *c)
{
	struct timeval tv = { CONN_REFUSED_SECONDS, 0 };
	char why[160];

	conn_nrefused++;
	snprintf(why, sizeof(why),
	    "objd serves at most %zu clients at once (--max-clients); try "
	    "again later",
	    server.clients_max);
	reply_result(
	    c, 0, OBJD__STATUS__FAILED, why, store_revision(server.store));
	bufferevent_set_timeouts(c->bev, &tv, NULL);
}

void
conn_accept(int fd)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	struct ucred cred;
	socklen_t len = sizeof(cred);

	c->serial = conn_next_serial++;
	c->pid = -1;
	c->uid = (uid_t)-1;
	c->gid = (gid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		c->pid = cred.pid;
		c->uid = cred.uid;
		c->gid = cred.gid;
	}
	if (server.nconns >= server.clients_max && !conn_refuse_early(c, fd))
		return;
	c->access = access_of_peer(fd, c->uid, c->gid);
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
	/* A new bufferevent writes by itself: answers go by conn_flush. */
	bufferevent_disable(c->bev, EV_WRITE);
	bufferevent_enable(c->bev, EV_READ);
	TAILQ_INSERT_TAIL(&server.conns, c, entry);
	if (c->refused) {
		conn_refuse(c);
		return;
	}
	server.nconns++;
	log_debug("client %llu connected (pid %ld, uid %ld, %s)",
	    (unsigned long long)c->serial, (long)c->pid, (long)c->uid,
	    access_level_name(c->access));
}

static void
conn_free(struct conn *c)
{
	log_debug("client %llu closed", (unsigned long long)c->serial);
	TAILQ_REMOVE(&server.conns, c, entry);
	if (c->unflushed)
		TAILQ_REMOVE(&conn_unflushed, c, unflushed_entry);
	if (c->refused)
		conn_nrefused--;
	else
		server.nconns--;
	watch_conn_gone(c);
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

/* --client-idle-timeout as libevent takes it. */
static struct timeval
conn_idle_timeout(void)
{
	struct timeval tv;

	tv.tv_sec = (time_t)server.client_idle_timeout;
	tv.tv_usec =
	    (suseconds_t)((server.client_idle_timeout - (double)tv.tv_sec) *
	        1e6);
	return tv;
}

/* Reads no more; closes once every answer owed is written, or once the
 * client has read none of them for --client-idle-timeout. */
static void
conn_finish(struct conn *c)
{
	struct timeval tv;

	c->closing = true;
	c->timed = false; /* the idle timeout no longer applies */
	bufferevent_disable(c->bev, EV_READ);
	if (c->pending == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		conn_gone(c);
		return;
	}
	if (server.client_idle_timeout > 0 && !c->refused) {
		tv = conn_idle_timeout();
		bufferevent_set_timeouts(c->bev, NULL, &tv);
	}
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
	if (c->pending > 0 || c->paused || server.stopping)
		return;
	if (!c->eof)
		bufferevent_enable(c->bev, EV_READ);
	conn_process(c);
}

/* Runs the idle timeout while the client owes the rest of a frame, and
 * only then: a client idle between frames may stay. Each read restarts
 * it (the bufferevent's read timeout). */
static void
conn_watch_idle(struct conn *c)
{
	struct timeval tv;
	bool partial = server.client_idle_timeout > 0 && !c->eof &&
	    c->pending == 0 && !c->paused &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) > 0;

	/* A closing client has its own timeout (conn_finish). */
	if (c->gone || c->closing || partial == c->timed)
		return;
	c->timed = partial;
	if (!partial) {
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		return;
	}
	tv = conn_idle_timeout();
	bufferevent_set_timeouts(c->bev, &tv, NULL);
}

/* The client has not read its answers: its unsent output is at the cap.
 * Its requests wait in the socket until it reads; the write callback
 * resumes once half the output is gone. */
static void
conn_pause(struct conn *c)
{
	log_debug("client %llu: %zu bytes of answers unread, pausing",
	    (unsigned long long)c->serial,
	    evbuffer_get_length(bufferevent_get_output(c->bev)));
	c->paused = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setwatermark(
	    c->bev, EV_WRITE, server.client_output_max / 2, 0);
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

/* The client's next frame must wait until its pending requests are
 * answered: it stays in the input, and nothing more is read meanwhile. */
static void
conn_wait(struct conn *c)
{
	bufferevent_disable(c->bev, EV_READ);
}

/* Handles one whole frame of body_len bytes after a header_len prefix;
 * false if it must wait (conn_wait). While c has requests pending, only
 * writes that join their batch go on: anything else, an error answer
 * included, would be answered ahead of them. */
static bool
conn_frame(
    struct conn *c, struct evbuffer *in, size_t header_len, size_t body_len)
{
	const uint8_t *body;
	Objd__Request *req;
	struct arena_mark mark;
	char why[256];

	body = evbuffer_pullup(in, (ev_ssize_t)(header_len + body_len));
	if (body == NULL) {
		if (c->pending > 0)
			return false;
		conn_reject(c, 0, "out of memory reading the request");
		return true;
	}
	body += header_len;
	if (!pbcheck(
	        &objd__request__descriptor, body, body_len, why, sizeof(why))) {
		if (c->pending > 0)
			return false;
		conn_reject(c, conn_guess_id(body, body_len), why);
		return true;
	}
	if (conn_arena.base == NULL)
		arena_init(&conn_arena, CONN_ARENA_SIZE);
	/* Handling may resume other clients, whose requests stack above. */
	mark = arena_mark(&conn_arena);
	req = objd__request__unpack(&conn_allocator, body_len, body);
	if (req == NULL) {
		arena_release(&conn_arena, mark);
		if (c->pending > 0)
			return false;
		conn_reject(
		    c, conn_guess_id(body, body_len), "malformed request");
		return true;
	}
	if (c->pending > 0 && !request_joins_batch(c, req)) {
		arena_release(&conn_arena, mark);
		return false;
	}
	evbuffer_drain(in, header_len + body_len);
	request_dispatch(c, req);
	arena_release(&conn_arena, mark);
	return true;
}

void
conn_process(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	uint8_t prefix[VARINT_MAX_LEN];
	struct evbuffer_iovec first;
	size_t have, header_len, body_len;
	enum frame_status st;
	size_t max = server.frame_max;
	ev_ssize_t n;
	char why[128];

	if (c->refused) {
		evbuffer_drain(in, evbuffer_get_length(in));
		if (c->eof && !c->closing)
			conn_finish(c);
		return;
	}
	if (c->access == ACCESS_NONE && max > CONN_DENIED_FRAME_MAX)
		max = CONN_DENIED_FRAME_MAX;
	else if (evbuffer_peek(in, -1, NULL, &first, 1) == 1)
		prefetch_frames(
		    server.store, first.iov_base, first.iov_len, max);
	while (!c->gone && !c->closing && c->pending == c->batched &&
	    !server.stopping) {
		have = evbuffer_get_length(in);
		if (have == 0)
			break;
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) >=
		    server.client_output_max) {
			conn_pause(c);
			break;
		}
		n = evbuffer_copyout(in, prefix, sizeof(prefix));
		st = frame_parse_header(
		    prefix, (size_t)n, max, &header_len, &body_len);
		if (st == FRAME_SHORT)
			break;
		if (st != FRAME_OK && c->pending > 0) {
			conn_wait(c);
			break;
		}
		if (st == FRAME_TOO_LARGE && c->access == ACCESS_NONE) {
			access_permits(c, NULL, 0);
			conn_fail(c, "permission denied");
			return;
		}
		if (st != FRAME_OK) {
			snprintf(why, sizeof(why), "%s (at most %zu bytes)",
			    frame_status_str(st), max);
			conn_reject(c, 0, why);
			return;
		}
		if (have < header_len + body_len) {
			if (c->eof)
				break;
			/* Wake up only once the whole frame is here. */
			bufferevent_setwatermark(
			    c->bev, EV_READ, header_len + body_len, 0);
			c->read_watermark = true;
			conn_watch_idle(c);
			return;
		}
		if (!conn_frame(c, in, header_len, body_len)) {
			conn_wait(c);
			break;
		}
	}
	if (c->gone)
		return;
	/* Setting it anew re-adds the read event: a system call per turn. */
	if (c->read_watermark) {
		bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
		c->read_watermark = false;
	}
	conn_watch_idle(c);
	if (c->eof && !c->closing && c->pending == 0 && !c->paused)
		conn_finish(c);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	conn_process(arg);
}

/* Some of c's output is written; *c may be gone after. */
static void
conn_written(struct conn *c)
{
	size_t left = evbuffer_get_length(bufferevent_get_output(c->bev));

	if (c->gone)
		return;
	if (left == 0 && (bufferevent_get_enabled(c->bev) & EV_WRITE))
		bufferevent_disable(c->bev, EV_WRITE);
	if (c->closing && c->pending == 0 && left == 0)
		conn_gone(c);
	else if (c->paused && left <= server.client_output_max / 2) {
		c->paused = false;
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		conn_release(c);
	}
}

/* Writes what c's output holds; what the socket does not take waits for
 * the write event. */
static void
conn_flush(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int fd = bufferevent_getfd(c->bev);

	int n = 0;

	if (c->gone || (bufferevent_get_enabled(c->bev) & EV_WRITE))
		return;
	/* The bufferevent keeps its output's front frozen so that only it
	 * drains it; here objd does, while its write event is off. */
	evbuffer_unfreeze(out, 1);
	while (evbuffer_get_length(out) > 0 &&
	    ((n = evbuffer_write(out, fd)) > 0 || (n == -1 && errno == EINTR)))
		;
	evbuffer_freeze(out, 1);
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK) {
		log_debug("client %llu: %s", (unsigned long long)c->serial,
		    strerror(errno));
		conn_gone(c);
		return;
	}
	/* The socket is full: the write event takes the rest. */
	if (evbuffer_get_length(out) > 0)
		bufferevent_enable(c->bev, EV_WRITE);
	conn_written(c);
}

static void
conn_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	struct conn *c;

	/* A write may resume a client whose new answers join the list. */
	while ((c = TAILQ_FIRST(&conn_unflushed)) != NULL) {
		TAILQ_REMOVE(&conn_unflushed, c, unflushed_entry);
		c->unflushed = false;
		conn_flush(c);
	}
}

void
conn_output_added(struct conn *c)
{
	if (c->unflushed)
		return;
	if (conn_flush_ev == NULL &&
	    (conn_flush_ev = event_new(server.base, -1, 0, conn_flush_cb,
		 NULL)) == NULL)
		fatalx("cannot create the answer flush event");
	c->unflushed = true;
	TAILQ_INSERT_TAIL(&conn_unflushed, c, unflushed_entry);
	event_active(conn_flush_ev, 0, 0);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	conn_written(arg);
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
	if (events & BEV_EVENT_TIMEOUT) {
		char why[160];

		if (c->closing && !c->refused)
			log_info("closing client %llu (pid %ld): it read none "
			         "of its last answers for %g seconds",
			    (unsigned long long)c->serial, (long)c->pid,
			    server.client_idle_timeout);
		if (c->refused || c->closing) {
			conn_gone(c);
			return;
		}
		c->timed = false;
		snprintf(why, sizeof(why),
		    "sent part of a request, then nothing for %g seconds "
		    "(--client-idle-timeout)",
		    server.client_idle_timeout);
		conn_reject(c, 0, why);
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
	if (conn_arena.base != NULL)
		arena_free(&conn_arena);
	if (conn_flush_ev != NULL) {
		event_free(conn_flush_ev);
		conn_flush_ev = NULL;
	}
}

void
conn_init_limits(void)
{
	rlim_t need = (rlim_t)server.clients_max + CONN_REFUSED_MAX + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need
	    ? rl.rlim_max
	    : need;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("cannot raise the limit on open files");
	if (rl.rlim_cur < need)
		log_warnx("objd may open only %llu files (ulimit -n): fewer "
		          "than the %zu clients of --max-clients can connect",
		    (unsigned long long)rl.rlim_cur, server.clients_max);
}
