/* SPDX-License-Identifier: ISC */
/* conn-input.c: a client's input: read from its socket, cut into frames
 * and handed to request.c.
 *
 * Every whole frame is cut out of the input, in order, and a partial one
 * is left for later; this happens once all the clients ready in a turn
 * of the loop are read, so that their keys can be fetched from memory
 * together (conn_handle_input). A frame that is too large, or that does not
 * decode, gets an INVALID answer and closes that client only.
 *
 * A large set's value is read straight into the entry it makes (its
 * "hole": conn_hole_open). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "conn-private.h"
#include "framing.h"
#include "log.h"
#include "objd.h"
#include "pbcheck.h"
#include "pbwire.h"
#include "utf8.h"

#include <event2/event.h>

/* A peer outside the policy is answered DENIED whatever it asks, so it
 * needs no large frames. */
#define CONN_DENIED_FRAME_MAX 4096
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

/* Clients read this turn whose requests wait for conn_handle_input. */
struct conn_list conn_unread = TAILQ_HEAD_INITIALIZER(conn_unread);

/* Requests decode into an arena (arena.h), released once handled: most
 * fit in its first CONN_ARENA_SIZE bytes, larger ones spill to malloc. */
#define CONN_ARENA_SIZE (64 * 1024)
struct arena conn_arena;

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
void
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
		if (conn_output_unsent(c) >= options.client_output_max) {
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

void
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
