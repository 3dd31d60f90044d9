/* SPDX-License-Identifier: ISC */
/* conn.c: one connected client's life: accept, the limits on clients,
 * the events of its socket and timers, and close. Its frames are read
 * and handled in conn-input.c, its answers buffered and written in
 * conn-output.c; struct conn is private to the three (conn-private.h).
 *
 * The limits on a client: --max-clients at accept (here);
 * --client-idle-timeout, the time a client may take between two pieces
 * of a frame it has started (a client idle between frames may stay);
 * --max-client-output, past which objd reads no more requests from a
 * client until it has read its answers (conn-input.c; watch.c drops a
 * watcher there); --max-output-total, past which the client holding the
 * most unread answers is dropped, as redis's maxmemory-clients drops its
 * largest (conn-output.c).
 *
 * The socket is driven with plain events, as redis drives its own: one
 * read per wake-up into the input buffer, and the answers of a turn of
 * the loop written to each client at its end, from the connection's own
 * small buffer while they fit (reply.c); only a client whose socket is
 * full gets a write event until it drains. A bufferevent cost a
 * FIONREAD system call per read, and a dozen calls into libevent per
 * request to keep its events in step. */
#include <sys/resource.h>
#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "conn-private.h"
#include "framing.h"
#include "log.h"
#include "objd.h"
#include "xmalloc.h"

#include <event2/buffer.h>
#include <event2/event.h>

/* Clients over --max-clients linger this long, at most this many at
 * once, reading and dropping what they send: so their request goes out
 * whole and they read why they were refused, not a reset. Any more are
 * told why at once and closed (conn_refuse_now). */
#define CONN_REFUSED_SECONDS 1
#define CONN_REFUSED_MAX 64

/* Every client connected, and closing ones not yet buried. */
struct conn_list conns = TAILQ_HEAD_INITIALIZER(conns);

static uint64_t conn_next_serial = 1;
static size_t conn_nrefused;
/* Clients that left, or stopped sending, so far (conn_departures). */
uint64_t conn_departed;
/* Clients closed this turn, freed at its end. */
static struct conn_list conn_dead = TAILQ_HEAD_INITIALIZER(conn_dead);

static void conn_timeout_cb(evutil_socket_t, short, void *);
static void conn_free_io(struct conn *);

static void
conn_start_reading(struct conn *c)
{
	if (!event_pending(c->read_ev, EV_READ, NULL))
		conn_add_event(c->read_ev, NULL);
	if (conn_timeout_set(&c->read_timeout) &&
	    !evtimer_pending(c->read_timer, NULL))
		conn_add_event(c->read_timer, &c->read_timeout);
}

void
conn_stop_reading(struct conn *c)
{
	event_del(c->read_ev);
	event_del(c->read_timer);
}

/* NULL for none. Runs at once if c is reading, and restarts at each
 * read. */
void
conn_set_read_timeout(struct conn *c, const struct timeval *tv)
{
	c->read_timeout = tv != NULL ? *tv : (struct timeval){ 0, 0 };
	event_del(c->read_timer);
	if (tv != NULL && event_pending(c->read_ev, EV_READ, NULL))
		conn_add_event(c->read_timer, tv);
}

/* NULL for none. Runs while the socket is full, restarting at each
 * write. */
static void
conn_set_write_timeout(struct conn *c, const struct timeval *tv)
{
	c->write_timeout = tv != NULL ? *tv : (struct timeval){ 0, 0 };
	event_del(c->write_timer);
	if (tv != NULL && c->writing)
		conn_add_event(c->write_timer, tv);
}

/* Why a client over --max-clients is refused. */
static void
conn_refusal(char *why, size_t len)
{
	snprintf(why, len,
	    "objd serves at most %zu clients at once (--max-clients); try "
	    "again later",
	    options.clients_max);
}

/* Tells a client over --max-clients why, in an answer to no request
 * (id 0), and closes it: a refusal past the lingering ones costs a write
 * and no memory. The socket is new, so the answer fits in it whole; the
 * client reads it even if its request then meets a closed socket. */
static void
conn_refuse_now(int fd)
{
	Objd__Response resp = OBJD__RESPONSE__INIT;
	uint8_t frame[VARINT_MAX_LEN + 256];
	char why[160];
	size_t body, n;

	conn_refusal(why, sizeof(why));
	resp.status = OBJD__STATUS__FAILED;
	resp.error = why;
	resp.revision = store_revision(server.store);
	body = reply_header_size(&resp);
	if (VARINT_MAX_LEN + body <= sizeof(frame)) {
		n = varint_encode(frame, body);
		n += reply_header_pack(&resp, frame + n);
		(void)send(fd, frame, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	close(fd);
}

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
		conn_refuse_now(fd);
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
	conn_refusal(why, sizeof(why));
	reply_result(c, 0, OBJD__STATUS__FAILED, why,
	    store_revision(server.store));
	conn_set_read_timeout(c, &tv);
}

struct conn *
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
	if (server.nconns >= options.clients_max && !conn_refuse_early(c, fd))
		return NULL;
	c->access = access_of_peer(fd, c->uid, c->gid);
	c->fd = fd;
	c->out = evbuffer_new();
	c->read_ev =
	    event_new(server.base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	c->write_ev =
	    event_new(server.base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
	c->read_timer = evtimer_new(server.base, conn_timeout_cb, c);
	c->write_timer = evtimer_new(server.base, conn_timeout_cb, c);
	if (c->out == NULL || c->read_ev == NULL || c->write_ev == NULL ||
	    c->read_timer == NULL || c->write_timer == NULL) {
		log_warnx("cannot set up client %llu",
		    (unsigned long long)c->serial);
		conn_free_io(c);
		free(c);
		return NULL;
	}
	conn_start_reading(c);
	TAILQ_INSERT_TAIL(&conns, c, entry);
	if (c->refused) {
		conn_refuse(c);
		return NULL;
	}
	server.nconns++;
	log_debug("client %llu connected (pid %ld, uid %ld, %s)",
	    (unsigned long long)c->serial, (long)c->pid, (long)c->uid,
	    access_level_name(c->access));
	return c;
}

/* What conn_accept made for c, whichever parts it did; closes the
 * socket. */
static void
conn_free_io(struct conn *c)
{
	if (c->read_ev != NULL)
		event_free(c->read_ev);
	if (c->write_ev != NULL)
		event_free(c->write_ev);
	if (c->read_timer != NULL)
		event_free(c->read_timer);
	if (c->write_timer != NULL)
		event_free(c->write_timer);
	free(c->in);
	free(c->hole);
	if (c->out != NULL)
		evbuffer_free(c->out);
	close(c->fd);
}

/* Takes a client that is gone and owed nothing off every list, to be
 * freed once the loop's turn ends (conn_free_dead). It may go deep inside
 * the handling of its own request, when an answer cannot be buffered,
 * or of another's, when a change is sent to it as a watcher: every
 * caller up the stack may still read it. */
static void
conn_bury(struct conn *c)
{
	if (c->buried)
		return;
	c->buried = true;
	log_debug("client %llu closed", (unsigned long long)c->serial);
	TAILQ_REMOVE(&conns, c, entry);
	if (c->unflushed)
		TAILQ_REMOVE(&conn_unflushed, c, unflushed_entry);
	c->unflushed = false;
	if (c->unread)
		TAILQ_REMOVE(&conn_unread, c, unread_entry);
	c->unread = false;
	if (c->refused)
		conn_nrefused--;
	else
		server.nconns--;
	TAILQ_INSERT_TAIL(&conn_dead, c, entry);
	/* Off server.conns, it no longer holds its keys. */
	if (c->holder != 0)
		expire_holder_gone();
}

static void
conn_free(struct conn *c)
{
	conn_output_total -= c->out_counted;
	watch_conn_gone(c);
	stage_free(c);
	conn_free_io(c);
	free(c);
}

void
conn_free_dead(void)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&conn_dead)) != NULL) {
		TAILQ_REMOVE(&conn_dead, c, entry);
		conn_free(c);
	}
}

/* The peer is gone or must go. A client with requests parked stays
 * until they are answered (the answers are dropped): their tickets
 * still point at it. */
void
conn_gone(struct conn *c)
{
	if (!c->gone)
		conn_departed++;
	c->gone = true;
	conn_stop_reading(c);
	conn_stop_writing(c);
	/* No answer of its goes out any more: their memory goes now. */
	evbuffer_drain(c->out, evbuffer_get_length(c->out));
	c->out_small_len = 0;
	conn_output_count(c);
	if (c->pending == 0 && c->holds == 0)
		conn_bury(c);
}

/* --client-idle-timeout as libevent takes it. */
struct timeval
conn_idle_timeout(void)
{
	struct timeval tv;

	tv.tv_sec = (time_t)options.client_idle_timeout;
	tv.tv_usec =
	    (suseconds_t)((options.client_idle_timeout - (double)tv.tv_sec) *
	        1e6);
	return tv;
}

/* Reads no more; closes once every answer owed is written, or once the
 * client has read none of them for --client-idle-timeout. */
void
conn_finish(struct conn *c)
{
	struct timeval tv;

	if (!c->closing)
		conn_departed++;
	c->closing = true;
	c->timed = false; /* the idle timeout no longer applies */
	conn_stop_reading(c);
	if (c->pending == 0 && conn_output_len(c) == 0) {
		conn_gone(c);
		return;
	}
	if (options.client_idle_timeout > 0 && !c->refused) {
		tv = conn_idle_timeout();
		conn_set_write_timeout(c, &tv);
	}
}

void
conn_fail(struct conn *c, const char *why)
{
	log_info("closing client %llu (pid %ld): %s",
	    (unsigned long long)c->serial, (long)c->pid, why);
	conn_finish(c);
}

/* c may go on: reads again, and handles what waits, if nothing holds it
 * up; closes if it was closing and is owed nothing more. */
void
conn_release(struct conn *c)
{
	if (c->gone) {
		if (c->pending == 0 && c->holds == 0)
			conn_bury(c);
		return;
	}
	if (c->closing) {
		if (c->pending == 0 && conn_output_len(c) == 0)
			conn_gone(c);
		return;
	}
	if (c->pending > 0 || c->paused || server.stopping)
		return;
	if (!c->eof)
		conn_start_reading(c);
	/* Its waiting requests are handled with the turn's others, never
	 * from inside whatever released it: a reload settling the batch
	 * must not have writes built against the state it replaces. */
	conn_input_added(c);
}

void
conn_park(struct conn *c, bool joins)
{
	c->pending++;
	if (joins) {
		c->batched++;
		c->wrote = true;
	} else
		conn_stop_reading(c);
}

void
conn_unpark(struct conn *c, bool joins)
{
	c->pending--;
	/* A pipeline's writes are let go one by one: only the last of
	 * them can resume the client. */
	if (joins && --c->batched > 0)
		return;
	conn_release(c);
}

void
conn_hold(struct conn *c)
{
	c->holds++;
}

void
conn_unhold(struct conn *c)
{
	if (--c->holds == 0 && c->gone && c->pending == 0)
		conn_bury(c);
}

bool
conn_writes_on(const struct conn *c)
{
	return !c->gone && !c->closing && !c->eof;
}

bool
conn_answers_go(const struct conn *c)
{
	return !c->gone && !c->closing;
}

uint64_t
conn_departures(void)
{
	return conn_departed;
}

bool
conn_wrote(const struct conn *c)
{
	return c->wrote;
}

uint64_t
conn_serial(const struct conn *c)
{
	return c->serial;
}

pid_t
conn_pid(const struct conn *c)
{
	return c->pid;
}

uid_t
conn_uid(const struct conn *c)
{
	return c->uid;
}

enum access_level
conn_access(const struct conn *c)
{
	return c->access;
}

bool
conn_first_denial(struct conn *c)
{
	bool first = !c->denied_logged;

	c->denied_logged = true;
	return first;
}

void
conn_set_access(struct conn *c, enum access_level level)
{
	c->access = level;
}

uint64_t
conn_holder(const struct conn *c)
{
	return c->holder;
}

void
conn_set_holder(struct conn *c, uint64_t holder)
{
	c->holder = holder;
}

struct stage **
conn_stage(struct conn *c)
{
	return &c->stage;
}

struct stage *
conn_staged(const struct conn *c)
{
	return c->stage;
}

void
conn_foreach(void (*fn)(struct conn *, void *), void *arg)
{
	struct conn *c, *next;

	/* fn may close c: glibc's queue.h has no TAILQ_FOREACH_SAFE. */
	for (c = TAILQ_FIRST(&conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		fn(c, arg);
	}
}

void
conn_stop_all_reading(void)
{
	struct conn *c;

	TAILQ_FOREACH (c, &conns, entry)
		if (!c->gone)
			conn_stop_reading(c);
}

bool
conn_all_written(void)
{
	struct conn *c;

	TAILQ_FOREACH (c, &conns, entry)
		if (!c->gone && conn_output_len(c) > 0)
			return false;
	return true;
}

void
conn_resume_held(void)
{
	struct conn *c;

	TAILQ_FOREACH (c, &conns, entry) {
		if (!c->held)
			continue;
		c->held = false;
		conn_release(c);
	}
}

static void
conn_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct conn *c = arg;
	char why[160];

	if (c->closing && !c->refused)
		log_info("closing client %llu (pid %ld): it read none of its "
		         "last answers for %g seconds",
		    (unsigned long long)c->serial, (long)c->pid,
		    options.client_idle_timeout);
	if (c->refused || c->closing) {
		conn_gone(c);
		return;
	}
	c->timed = false;
	snprintf(why, sizeof(why),
	    "sent part of a request, then nothing for %g seconds "
	    "(--client-idle-timeout)",
	    options.client_idle_timeout);
	conn_reject(c, 0, why);
}

void
conn_close_all(void)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&conns)) != NULL) {
		c->pending = c->holds = 0;
		conn_bury(c);
	}
	conn_free_dead();
	if (conn_arena.base != NULL)
		arena_free(&conn_arena);
}

void
conn_init_limits(void)
{
	rlim_t need = (rlim_t)options.clients_max + CONN_REFUSED_MAX + 64;
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
		    (unsigned long long)rl.rlim_cur, options.clients_max);
}
