/* SPDX-License-Identifier: ISC */
/* conn.c: one connected client: frames in, answers out.
 *
 * Every whole frame is cut out of the input, in order, and a partial one
 * is left for later; this happens once all the clients ready in a turn
 * of the loop are read, so that their keys can be fetched from memory
 * together (conn_handle_input). A frame that is too large, or that does not
 * decode, gets an INVALID answer and closes that client only.
 *
 * The limits on a client live here too: --max-clients at accept;
 * --client-idle-timeout, the time a client may take between two pieces
 * of a frame it has started (a client idle between frames may stay);
 * --max-client-output, past which objd reads no more requests from a
 * client until it has read its answers (watch.c drops a watcher there);
 * --max-output-total, past which the client holding the most unread
 * answers is dropped, as redis's maxmemory-clients drops its largest.
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

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "framing.h"
#include "log.h"
#include "objd.h"
#include "pbcheck.h"
#include "pbwire.h"
#include "utf8.h"
#include "xmalloc.h"

#include <event2/buffer.h>
#include <event2/event.h>

/* A peer outside the policy is answered DENIED whatever it asks, so it
 * needs no large frames. */
#define CONN_DENIED_FRAME_MAX 4096
/* Clients over --max-clients linger this long, at most this many at
 * once, reading and dropping what they send: so their request goes out
 * whole and they read why they were refused, not a reset. Any more are
 * told why at once and closed (conn_refuse_now). */
#define CONN_REFUSED_SECONDS 1
#define CONN_REFUSED_MAX 64
/* At most this much is read at each wake-up, so that one busy client
 * does not hold up the others. */
#define CONN_READ_SIZE 16384
/* The rest of a large frame is read straight into its client's input,
 * up to this much at a wake-up, and room for no more is made ahead of
 * the bytes: a frame's header alone must not reserve frame_max. */
#define CONN_READ_DIRECT_MAX (1024 * 1024)
/* A frame at least this large whose beginning shows a set of one large
 * value (request_hole_find) has the value read straight into the entry
 * the set makes of it, as redis reads a large bulk argument into its
 * own string: copied from the input into the entry, it cost as much
 * again as the socket's own copy. Below this, the value is mostly here
 * after the first read already. */
#define CONN_HOLE_MIN (32 * 1024)
/* Clients whose keys are fetched together, at most. */
#define CONN_PREFETCH_MAX 64
/* A client's input buffer starts this small; once it is emptied, it is
 * kept if no larger than CONN_IN_KEEP, and freed otherwise, so that
 * one big request does not hold its memory for as long as the client
 * stays. */
#define CONN_IN_MIN 256
#define CONN_IN_KEEP 1024
/* A freed input buffer larger than CONN_IN_KEEP is not given back to
 * malloc but kept, the largest up to this size, for the next large
 * request of any client: malloc maps a buffer of a megabyte on its own
 * and unmaps it once freed, and the kernel's copy of each large request
 * into fresh pages then cost a page fault every 4 KiB. */
#define CONN_IN_SPARE_MAX ((size_t)4 << 20)
static uint8_t *conn_in_spare;
static size_t conn_in_spare_cap;

/* Room for a few answers to plain gets and sets (reply.c). */
#define CONN_OUT_SMALL 512

/* One connected client. */
struct conn {
	TAILQ_ENTRY(conn) entry;
	/* Answers wait for the end of the loop's turn (conn_write_answers). */
	TAILQ_ENTRY(conn) unflushed_entry;
	bool unflushed;
	/* Input read this turn waits to be handled (conn_handle_input). */
	TAILQ_ENTRY(conn) unread_entry;
	bool unread;
	int fd;
	/* Input read and not yet handled: in[in_off, in_len). One flat
	 * buffer, kept while small, so that a read allocates nothing. */
	uint8_t *in;
	size_t in_off, in_len, in_cap;
	/* The value of the frame at in_off read into its entry instead
	 * (conn_hole_open): input bytes [hole_at, hole_at + hole_len) from
	 * in_off are in hole, and in holds room for them only. */
	struct store_entry *hole;
	size_t hole_at, hole_len;
	/* A string's hole: its bytes up to hole_checked are valid UTF-8,
	 * unless hole_bad (conn_hole_check). */
	bool hole_text, hole_bad;
	size_t hole_checked;
	struct evbuffer *out;
	/* Answers wait here while they fit, so that an answer allocates
	 * nothing (out takes a chunk for each). Holds bytes only while out
	 * is empty: these come first. */
	uint8_t out_small[CONN_OUT_SMALL];
	size_t out_small_len;
	struct event *read_ev;  /* persistent; added while reading */
	struct event *write_ev; /* added only while the socket is full */
	/* write_ev is added: known without asking libevent, as each answer
	 * looks. */
	bool writing;
	/* The read timeout runs while reading and restarts at each read;
	 * the write timeout runs while the socket is full and restarts at
	 * each write (as a bufferevent's do). */
	struct event *read_timer, *write_timer;
	struct timeval read_timeout, write_timeout; /* 0: none */
	size_t read_want; /* process input only once it holds this much */
	uint64_t serial;  /* for the log */
	pid_t pid;        /* the peer's, from SO_PEERCRED */
	uid_t uid;
	gid_t gid;
	enum access_level access; /* what the peer may do (access.c) */
	bool denied_logged;       /* a refusal of this client was logged */
	bool refused;             /* over --max-clients: answered, closing */
	bool paused; /* reading stops: its unsent output is over the cap */
	bool timed;  /* the idle timeout runs: part of a frame is here */
	bool held;   /* its next request waits for a reload (reload_holds) */
	bool wrote;  /* it has sent a write that joined the batch */
	/* Requests of this client parked (block.c), not yet answered:
	 * writes waiting in the batch, a compaction. Only further writes
	 * may join the batch meanwhile; any other frame waits, so answers
	 * stay in order. */
	unsigned pending;
	unsigned batched; /* of pending, those that let writes join */
	/* Holds on it (conn_hold): it stays allocated, though gone, until
	 * they are let go. */
	unsigned holds;
	bool eof;     /* the peer sends no more */
	bool gone;    /* the peer left; free once nothing is pending */
	bool buried;  /* off server.conns, freed at the turn's end */
	bool closing; /* close once the output is written */
	/* Its output as last counted in the total of all clients' (conn.c's
	 * budget for --max-output-total). */
	size_t out_counted;
	/* The pieces of a batch sent in pieces, so far (stage.c's). */
	struct stage *stage;
	/* An answer reserved in out, not yet committed
	 * (conn_output_reserve): its space. */
	struct evbuffer_iovec reserved;
	/* Its mark on the keys it holds, which go when it closes (expire.c);
	 * 0 until it holds one. */
	uint64_t holder;
};
TAILQ_HEAD(conn_list, conn);

/* Every client connected, and closing ones not yet buried. */
static struct conn_list conns = TAILQ_HEAD_INITIALIZER(conns);

static uint64_t conn_next_serial = 1;
static size_t conn_nrefused;
/* Clients that left, or stopped sending, so far (conn_departures). */
static uint64_t conn_departed;
/* The answers every client has not read, as last counted
 * (conn_output_count). */
static size_t conn_output_total;
/* Clients whose answers wait for conn_write_answers. */
static TAILQ_HEAD(, conn) conn_unflushed = TAILQ_HEAD_INITIALIZER(
    conn_unflushed);
/* Clients read this turn whose requests wait for conn_handle_input. */
static TAILQ_HEAD(, conn) conn_unread = TAILQ_HEAD_INITIALIZER(conn_unread);
/* Clients closed this turn, freed at its end. */
static struct conn_list conn_dead = TAILQ_HEAD_INITIALIZER(conn_dead);

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

static void conn_read_cb(evutil_socket_t, short, void *);
static void conn_write_cb(evutil_socket_t, short, void *);
static void conn_timeout_cb(evutil_socket_t, short, void *);
static void conn_finish(struct conn *);
static void conn_input_added(struct conn *);
static void conn_free_io(struct conn *);
static void conn_output_count(struct conn *);
static void conn_output_added(struct conn *);
static void conn_release(struct conn *);
static bool conn_output_spill(struct conn *);

static bool
conn_timeout_set(const struct timeval *tv)
{
	return tv->tv_sec != 0 || tv->tv_usec != 0;
}

static void
conn_add_event(struct event *ev, const struct timeval *tv)
{
	if (event_add(ev, tv) == -1)
		fatalx("cannot add a client event");
}

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

static void
conn_start_writing(struct conn *c)
{
	if (c->writing)
		return;
	conn_add_event(c->write_ev, NULL);
	if (conn_timeout_set(&c->write_timeout))
		conn_add_event(c->write_timer, &c->write_timeout);
	c->writing = true;
}

static void
conn_stop_writing(struct conn *c)
{
	if (!c->writing)
		return;
	event_del(c->write_ev);
	event_del(c->write_timer);
	c->writing = false;
}

/* NULL for none. Runs at once if c is reading, and restarts at each
 * read. */
static void
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
static void
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
static struct timeval
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
static void
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
static void
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

static size_t
conn_input_len(const struct conn *c)
{
	return c->in_len - c->in_off;
}

/* Makes room for n more bytes at the end of c's input; false if memory
 * ran out. */
static bool
conn_input_reserve(struct conn *c, size_t n)
{
	size_t have = conn_input_len(c), cap;
	uint8_t *in;

	if (c->in_cap - c->in_len < n && c->in_off > 0) {
		memmove(c->in, c->in + c->in_off, have);
		c->in_off = 0;
		c->in_len = have;
	}
	if (c->in_cap - c->in_len < n) {
		cap = c->in_cap > 0 ? c->in_cap : CONN_IN_MIN;
		while (cap - have < n) {
			if (cap > SIZE_MAX / 2)
				return false;
			cap *= 2;
		}
		if (conn_in_spare != NULL && conn_in_spare_cap >= cap) {
			in = conn_in_spare;
			cap = conn_in_spare_cap;
			conn_in_spare = NULL;
			if (have > 0)
				memcpy(in, c->in + c->in_off, have);
			free(c->in);
			c->in_off = 0;
			c->in_len = have;
		} else if ((in = realloc(c->in, cap)) == NULL)
			return false;
		c->in = in;
		c->in_cap = cap;
	}
	return true;
}

/* Frees an input buffer of cap bytes, or keeps it as the spare. Out of
 * line: conn_input_drain, on every request's path, stays inlined. */
static __attribute__((noinline)) void
conn_input_release(uint8_t *in, size_t cap)
{
	if (cap > CONN_IN_SPARE_MAX ||
	    (conn_in_spare != NULL && conn_in_spare_cap >= cap)) {
		free(in);
		return;
	}
	free(conn_in_spare);
	conn_in_spare = in;
	conn_in_spare_cap = cap;
}

/* Appends n bytes to c's input; false if memory ran out. */
static bool
conn_input_add(struct conn *c, const uint8_t *p, size_t n)
{
	if (!conn_input_reserve(c, n))
		return false;
	memcpy(c->in + c->in_len, p, n);
	c->in_len += n;
	return true;
}

/* Takes n handled bytes off the front of c's input. */
static void
conn_input_drain(struct conn *c, size_t n)
{
	c->in_off += n;
	if (c->in_off < c->in_len)
		return;
	c->in_off = c->in_len = 0;
	if (c->in_cap > CONN_IN_KEEP) {
		conn_input_release(c->in, c->in_cap);
		c->in = NULL;
		c->in_cap = 0;
	}
}

/* Where the bytes of c's hole go. */
static uint8_t *
conn_hole_bytes(const struct conn *c)
{
	return (uint8_t *)c->hole->data + c->hole->keylen + 1;
}

/* Checks the UTF-8 of a string hole's first got bytes, those not checked
 * yet up to the last whole character: each piece just after the socket
 * copied it, while it is in the cache, where the decoder would check
 * the whole value once it is here, from memory. */
static void
conn_hole_check(struct conn *c, size_t got)
{
	const char *p = (const char *)conn_hole_bytes(c) + c->hole_checked;
	size_t n;

	if (!c->hole_text || c->hole_bad || got <= c->hole_checked)
		return;
	n = got - c->hole_checked;
	if (got < c->hole_len)
		n = utf8_whole(p, n);
	if (utf8_valid(p, n))
		c->hole_checked += n;
	else
		c->hole_bad = true;
}

/* The frame of header_len + body_len bytes at the front of c's input is
 * still arriving: if it is a set of one large value, that value's bytes
 * go into its entry from now on, those here copied once. The whole frame
 * gets room in the input, which the value's bytes never touch: a frame
 * whose beginning is here may reserve what it says it needs, as redis
 * reserves a large bulk argument's whole length. */
static void
conn_hole_open(struct conn *c, size_t header_len, size_t body_len)
{
	size_t have = conn_input_len(c), at, len, keylen, here;
	const char *key;
	uint64_t n;
	int used;

	if (!request_hole_find(c->in + c->in_off + header_len,
	        have - header_len, body_len, &at, &len, &key, &keylen) ||
	    have >= header_len + at + len)
		return;
	/* Out of memory: the frame is read as any other, and fails there. */
	if (!conn_input_reserve(c, header_len + body_len - have))
		return;
	/* The input may have moved. */
	if (!request_hole_find(c->in + c->in_off + header_len,
	        have - header_len, body_len, &at, &len, &key, &keylen))
		return;
	if ((c->hole = request_hole_entry(key, keylen, len)) == NULL)
		return;
	c->hole_at = header_len + at;
	c->hole_len = len;
	here = have - c->hole_at;
	memcpy(conn_hole_bytes(c), c->in + c->in_off + c->hole_at, here);
	/* The string's bytes begin after its tag and length. */
	c->hole_text = conn_hole_bytes(c)[0] == PBW_VALUE_STRING_TAG;
	c->hole_bad = false;
	used = varint_decode(conn_hole_bytes(c) + 1,
	    len - 1 < PB_LEN_BYTES_MAX ? len - 1 : PB_LEN_BYTES_MAX, &n);
	c->hole_checked = 1 + (size_t)used;
	conn_hole_check(c, here);
}

/* Puts the bytes of c's hole back into the input, where a frame that is
 * not decoded with its hole needs them, and drops the hole. */
static void
conn_hole_fill(struct conn *c)
{
	memcpy(c->in + c->in_off + c->hole_at, conn_hole_bytes(c), c->hole_len);
	free(c->hole);
	c->hole = NULL;
}

/* Decodes the frame body of c, which has a hole, into conn_arena
 * above mark: with the hole if it decodes so (hole->taken; the
 * request's arena owns the entry then), or else from its bytes, put
 * back. Out of line, so that other frames' path stays as it was. */
static __attribute__((noinline)) Objd__Request *
conn_decode_hole(struct conn *c, const uint8_t *body, size_t body_len,
    struct arena_mark mark, struct request_hole *hole)
{
	Objd__Request *req;

	*hole = (struct request_hole){ c->in + c->in_off + c->hole_at,
		c->hole_len, c->hole,
		c->hole_text && !c->hole_bad && c->hole_checked == c->hole_len,
		false };
	req = request_decode_hole(&conn_arena, body, body_len, hole);
	if (req != NULL && hole->taken) {
		c->hole = NULL;
		return req;
	}
	arena_release(&conn_arena, mark);
	conn_hole_fill(c);
	return request_decode(&conn_arena, body, body_len);
}

/* A frame decoded with its hole waits: it will be decoded again, from
 * its bytes, and the entry goes with the request. */
static void
conn_frame_unhole(const struct request_hole *hole)
{
	if (hole != NULL)
		memcpy((uint8_t *)hole->at, STORE_ENTRY_VALUE(hole->e),
		    hole->len);
}

/* Runs the idle timeout while the client owes the rest of a frame, and
 * only then: a client idle between frames may stay. Each read restarts
 * it (the read timeout). */
static void
conn_watch_idle(struct conn *c)
{
	struct timeval tv;
	bool partial = options.client_idle_timeout > 0 && !c->eof &&
	    c->pending == 0 && !c->paused && conn_input_len(c) > 0;

	/* A closing client has its own timeout (conn_finish). */
	if (c->gone || c->closing || partial == c->timed)
		return;
	c->timed = partial;
	if (!partial) {
		conn_set_read_timeout(c, NULL);
		return;
	}
	tv = conn_idle_timeout();
	conn_set_read_timeout(c, &tv);
}

/* The client has not read its answers: its unsent output is at the cap.
 * Its requests wait in the socket until it reads; conn_written resumes
 * once half the output is gone. */
static void
conn_pause(struct conn *c)
{
	log_debug("client %llu: %zu bytes of answers unread, pausing",
	    (unsigned long long)c->serial, conn_output_len(c));
	c->paused = true;
	conn_stop_reading(c);
}

/* The id of a request that failed to decode, if its first field is the
 * id (as every encoder writes it), so the error answer can name it. */
static uint64_t
conn_guess_id(const uint8_t *body, size_t len)
{
	uint64_t id = 0;

	if (len > 1 && body[0] == PBW_REQUEST_ID_TAG &&
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
	conn_stop_reading(c);
}

/* Handles one whole frame of body_len bytes after a header_len prefix;
 * false if it must wait (conn_wait). While c has requests pending, only
 * writes that join their batch go on: anything else, an error answer
 * included, would be answered ahead of them. */
static bool
conn_frame(struct conn *c, size_t header_len, size_t body_len)
{
	const uint8_t *body = c->in + c->in_off + header_len;
	Objd__Request *req;
	struct arena_mark mark;
	struct request_hole hole;
	bool holed = false;
	char why[256];

	if (conn_arena.base == NULL)
		arena_init(&conn_arena, CONN_ARENA_SIZE);
	/* Handling may resume other clients, whose requests stack above. */
	mark = arena_mark(&conn_arena);
	if (__builtin_expect(c->hole != NULL, 0)) {
		req = conn_decode_hole(c, body, body_len, mark, &hole);
		holed = hole.taken;
	} else
		req = request_decode(&conn_arena, body, body_len);
	if (req == NULL) {
		/* Not in the common form: protobuf-c decodes it, or says
		 * why not. */
		arena_release(&conn_arena, mark);
		if (!pbcheck(&objd__request__descriptor, body, body_len, why,
		        sizeof(why))) {
			if (c->pending > 0)
				return false;
			conn_reject(c, conn_guess_id(body, body_len), why);
			return true;
		}
		req = objd__request__unpack(&conn_allocator, body_len, body);
	}
	if (req == NULL) {
		arena_release(&conn_arena, mark);
		if (c->pending > 0)
			return false;
		conn_reject(c, conn_guess_id(body, body_len),
		    "malformed request");
		return true;
	}
	if (reload_holds(c, req)) {
		conn_frame_unhole(holed ? &hole : NULL);
		arena_release(&conn_arena, mark);
		c->held = true;
		return false;
	}
	if (c->pending > 0 && !request_joins_batch(c, req)) {
		conn_frame_unhole(holed ? &hole : NULL);
		arena_release(&conn_arena, mark);
		return false;
	}
	/* The request holds copies: the bytes may go. */
	conn_input_drain(c, header_len + body_len);
	request_dispatch(c, req);
	arena_release(&conn_arena, mark);
	return true;
}

void
conn_process(struct conn *c)
{
	size_t have, header_len, body_len;
	enum frame_status st;
	size_t max = options.frame_max;
	char why[128];

	if (c->refused) {
		conn_input_drain(c, conn_input_len(c));
		if (c->eof && !c->closing)
			conn_finish(c);
		return;
	}
	if (c->access == ACCESS_NONE && max > CONN_DENIED_FRAME_MAX)
		max = CONN_DENIED_FRAME_MAX;
	else if (conn_input_len(c) > 0)
		prefetch_frames(server.store, c->in + c->in_off,
		    conn_input_len(c), max);
	while (!c->gone && !c->closing && c->pending == c->batched &&
	    !server.stopping) {
		have = conn_input_len(c);
		if (have == 0)
			break;
		if (conn_output_len(c) >= options.client_output_max) {
			conn_pause(c);
			break;
		}
		st = frame_parse_header(c->in + c->in_off,
		    have < VARINT_MAX_LEN ? have : VARINT_MAX_LEN, max,
		    &header_len, &body_len);
		if (st == FRAME_SHORT)
			break;
		if (st != FRAME_OK && c->pending > 0) {
			conn_wait(c);
			break;
		}
		if (st == FRAME_TOO_LARGE && c->access == ACCESS_NONE) {
			request_deny_frame(c);
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
			if (c->hole == NULL && body_len >= CONN_HOLE_MIN)
				conn_hole_open(c, header_len, body_len);
			/* Wake up only once the whole frame is here. */
			c->read_want = header_len + body_len;
			conn_watch_idle(c);
			return;
		}
		if (!conn_frame(c, header_len, body_len)) {
			conn_wait(c);
			break;
		}
	}
	if (c->gone)
		return;
	c->read_want = 0;
	conn_watch_idle(c);
	if (c->eof && !c->closing && c->pending == 0 && !c->paused && !c->held)
		conn_finish(c);
}

/* Handles the input of every client read this turn; false if there was
 * none. With many clients each sends one request at a time, and its key
 * is far in memory: their keys are fetched together first (prefetch.c),
 * so that the look-ups do not each wait in turn. */
bool
conn_handle_input(void)
{
	uint64_t hashes[CONN_PREFETCH_MAX];
	size_t n = 0;
	struct conn *c;

	c = TAILQ_FIRST(&conn_unread);
	if (c == NULL)
		return false;
	/* A lone client's look-up would only pay for it. */
	if (TAILQ_NEXT(c, unread_entry) == NULL)
		c = NULL;
	for (; c != NULL; c = TAILQ_NEXT(c, unread_entry)) {
		if (n == CONN_PREFETCH_MAX)
			break;
		if (c->access != ACCESS_NONE && conn_input_len(c) > 0 &&
		    prefetch_frame_slot(server.store, c->in + c->in_off,
		        conn_input_len(c), options.frame_max, &hashes[n]))
			n++;
	}
	for (size_t i = 0; i < n; i++)
		store_prefetch_entry(server.store, hashes[i]);
	/* Handling may add clients: they go last, and are handled too. */
	while ((c = TAILQ_FIRST(&conn_unread)) != NULL) {
		TAILQ_REMOVE(&conn_unread, c, unread_entry);
		c->unread = false;
		conn_process(c);
	}
	return true;
}

/* c's input is to be handled once every client ready this turn is
 * read. */
static void
conn_input_added(struct conn *c)
{
	if (c->unread)
		return;
	c->unread = true;
	TAILQ_INSERT_TAIL(&conn_unread, c, unread_entry);
}

static void
conn_read_cb(evutil_socket_t fd, short events, void *arg)
{
	struct conn *c = arg;
	uint8_t buf[CONN_READ_SIZE];
	size_t have = conn_input_len(c), want;
	uint8_t *to;
	bool direct, into_hole;
	ssize_t n;

	/* Into the stack first: reading into each client's own buffer
	 * would need room for a whole read there, for each of a thousand
	 * clients that each sent a few bytes. But the rest of a large
	 * frame, whose size is known, is read straight into the input, at
	 * once: through the stack it cost a copy more, a realloc at each
	 * doubling, and a wake-up each CONN_READ_SIZE. */
	want = c->read_want > have ? c->read_want - have : 0;
	/* A hole's bytes go into its entry; the input has their room
	 * already (conn_hole_open). */
	into_hole = c->hole != NULL && have >= c->hole_at &&
	    have - c->hole_at < c->hole_len;
	if (into_hole)
		want = c->hole_len - (have - c->hole_at);
	if (want > CONN_READ_DIRECT_MAX)
		want = CONN_READ_DIRECT_MAX;
	direct = want >= CONN_READ_SIZE || into_hole;
	if (into_hole)
		to = conn_hole_bytes(c) + (have - c->hole_at);
	else if (direct) {
		if (!conn_input_reserve(c, want)) {
			conn_reject(c, 0, "out of memory reading the request");
			return;
		}
		to = c->in + c->in_len;
	} else
		to = buf;
	n = read(fd, to, direct ? want : sizeof(buf));
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		log_debug("client %llu: %s", (unsigned long long)c->serial,
		    strerror(errno));
		conn_gone(c);
		return;
	}
	/* A client may send its requests and shut down its side before
	 * reading: it is still owed every answer. */
	if (n == 0) {
		c->eof = true;
		conn_departed++;
		conn_stop_reading(c);
		conn_process(c);
		return;
	}
	if (into_hole) {
		c->in_len += (size_t)n;
		conn_hole_check(c, have + (size_t)n - c->hole_at);
	} else if (direct)
		c->in_len += (size_t)n;
	else if (!conn_input_add(c, buf, (size_t)n)) {
		conn_reject(c, 0, "out of memory reading the request");
		return;
	}
	if (evtimer_pending(c->read_timer, NULL))
		conn_add_event(c->read_timer, &c->read_timeout);
	if (conn_input_len(c) >= c->read_want)
		conn_input_added(c);
}

/* Some of c's output is written; *c may be gone after. */
static void
conn_written(struct conn *c)
{
	size_t left = conn_output_len(c);

	if (c->gone)
		return;
	if (left == 0)
		conn_stop_writing(c);
	if (c->closing && c->pending == 0 && left == 0)
		conn_gone(c);
	else if (c->paused && left <= options.client_output_max / 2) {
		c->paused = false;
		conn_release(c);
	}
}

size_t
conn_output_len(const struct conn *c)
{
	return c->out_small_len + evbuffer_get_length(c->out);
}

/* Moves out_small into out, for an answer that does not fit there;
 * false if out of memory. */
static bool
conn_output_spill(struct conn *c)
{
	if (c->out_small_len > 0 &&
	    evbuffer_add(c->out, c->out_small, c->out_small_len) == -1)
		return false;
	c->out_small_len = 0;
	return true;
}

/* An answer that cannot be buffered closes its client. */
static void
conn_output_failed(struct conn *c, size_t len)
{
	log_warnx("client %llu: cannot buffer an answer of %zu bytes",
	    (unsigned long long)c->serial, len);
	conn_fail(c, "answer too large to buffer");
}

uint8_t *
conn_output_reserve(struct conn *c, size_t len)
{
	if (c->gone)
		return NULL;
	c->reserved.iov_base = NULL;
	/* While out is empty, small answers go to out_small, in place. */
	if (c->out_small_len + len <= sizeof(c->out_small) &&
	    evbuffer_get_length(c->out) == 0)
		return c->out_small + c->out_small_len;
	if (!conn_output_spill(c) ||
	    evbuffer_reserve_space(c->out, (ev_ssize_t)len, &c->reserved, 1) !=
	        1) {
		c->reserved.iov_base = NULL;
		conn_output_failed(c, len);
		return NULL;
	}
	return c->reserved.iov_base;
}

void
conn_output_commit(struct conn *c, const uint8_t *end)
{
	if (c->reserved.iov_base == NULL)
		c->out_small_len = (size_t)(end - c->out_small);
	else {
		c->reserved.iov_len =
		    (size_t)(end - (const uint8_t *)c->reserved.iov_base);
		evbuffer_commit_space(c->out, &c->reserved, 1);
		c->reserved.iov_base = NULL;
	}
	conn_output_added(c);
}

bool
conn_output_append(struct conn *c, const void *p1, size_t len1, const void *p2,
    size_t len2)
{
	if (c->gone)
		return false;
	if (!conn_output_spill(c) || evbuffer_add(c->out, p1, len1) == -1 ||
	    (len2 > 0 && evbuffer_add(c->out, p2, len2) == -1)) {
		conn_output_failed(c, len1 + len2);
		return false;
	}
	conn_output_added(c);
	return true;
}

/* Writes out_small; what the socket does not take moves to out, to wait
 * for the write event there. False if the write failed. */
static bool
conn_write_small(struct conn *c, bool *progress)
{
	ssize_t n;

	while ((n = write(c->fd, c->out_small, c->out_small_len)) == -1 &&
	    errno == EINTR)
		;
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
		return false;
	if (n > 0) {
		*progress = true;
		c->out_small_len -= (size_t)n;
		memmove(c->out_small, c->out_small + n, c->out_small_len);
	}
	if (!conn_output_spill(c)) {
		errno = ENOMEM;
		return false;
	}
	return true;
}

/* Writes what c's output holds until the socket is full; *progress
 * says whether anything went. False if a write failed: c is gone. */
static bool
conn_write(struct conn *c, bool *progress)
{
	int n = 0;

	*progress = false;
	if (c->out_small_len > 0 && !conn_write_small(c, progress)) {
		log_debug("client %llu: %s", (unsigned long long)c->serial,
		    strerror(errno));
		conn_gone(c);
		return false;
	}
	while (evbuffer_get_length(c->out) > 0 &&
	    ((n = evbuffer_write(c->out, c->fd)) > 0 ||
	        (n == -1 && errno == EINTR)))
		if (n > 0)
			*progress = true;
	conn_output_count(c);
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK) {
		log_debug("client %llu: %s", (unsigned long long)c->serial,
		    strerror(errno));
		conn_gone(c);
		return false;
	}
	return true;
}

/* Writes what c's output holds; what the socket does not take waits for
 * the write event. */
static void
conn_flush(struct conn *c)
{
	bool progress;

	if (c->gone || c->writing)
		return;
	if (!conn_write(c, &progress))
		return;
	/* The socket is full: the write event takes the rest. */
	if (conn_output_len(c) > 0)
		conn_start_writing(c);
	conn_written(c);
}

/* Takes c, whose answers wait, off their list, and writes them. */
static void
conn_flush_listed(struct conn *c)
{
	TAILQ_REMOVE(&conn_unflushed, c, unflushed_entry);
	c->unflushed = false;
	conn_flush(c);
}

bool
conn_write_answers(void)
{
	struct conn *c;

	if (TAILQ_EMPTY(&conn_unflushed))
		return false;
	/* A write may resume a client whose new answers join the list. */
	while ((c = TAILQ_FIRST(&conn_unflushed)) != NULL)
		conn_flush_listed(c);
	return true;
}

void
conn_write_answers_now(struct conn *c)
{
	if (c->unflushed && conn_input_len(c) == 0)
		conn_flush_listed(c);
}

/* Brings c's part of conn_output_total up to date. */
static void
conn_output_count(struct conn *c)
{
	size_t len = conn_output_len(c);

	conn_output_total = conn_output_total - c->out_counted + len;
	c->out_counted = len;
}

/* The client holding the most unread answers, or NULL if none holds
 * any. */
static struct conn *
conn_output_largest(void)
{
	struct conn *c, *largest = NULL;

	TAILQ_FOREACH (c, &conns, entry)
		if (!c->gone && c->out_counted > 0 &&
		    (largest == NULL || c->out_counted > largest->out_counted))
			largest = c;
	return largest;
}

/* The answers no client has read are over --max-output-total: the
 * clients holding the most go until they are not. A client that reads
 * nothing would otherwise keep up to --max-client-output each, a
 * thousand of them 64 GiB. Dropping the largest, not pausing every
 * client, leaves those that read served. Its answers are thrown away:
 * telling it why would take more of the memory it holds. */
static void
conn_output_over_budget(void)
{
	struct conn *c;

	while (conn_output_total > options.output_total_max &&
	    (c = conn_output_largest()) != NULL) {
		log_warnx("dropping client %llu (pid %ld, uid %ld): it has not "
		          "read %zu bytes of answers, and the answers no "
		          "client has read are over %zu bytes "
		          "(--max-output-total)",
		    (unsigned long long)c->serial, (long)c->pid, (long)c->uid,
		    c->out_counted, options.output_total_max);
		conn_gone(c);
	}
}

/* c's output has new answers: they are written at the end of this turn
 * of the loop, all at once, or sooner by conn_write_answers_now. */
static void
conn_output_added(struct conn *c)
{
	conn_output_count(c);
	if (conn_output_total > options.output_total_max)
		conn_output_over_budget();
	if (c->unflushed || c->gone)
		return;
	c->unflushed = true;
	TAILQ_INSERT_TAIL(&conn_unflushed, c, unflushed_entry);
}

static void
conn_write_cb(evutil_socket_t fd, short events, void *arg)
{
	struct conn *c = arg;
	bool progress;

	if (!conn_write(c, &progress))
		return;
	if (progress && evtimer_pending(c->write_timer, NULL))
		conn_add_event(c->write_timer, &c->write_timeout);
	conn_written(c);
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
