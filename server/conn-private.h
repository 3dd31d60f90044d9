/* SPDX-License-Identifier: ISC */
/* conn-private.h: struct conn, and what the three files of the conn
 * module share: conn.c (a client's life: accept, limits, events, close),
 * conn-input.c (reading, frames, large values read into their entries)
 * and conn-output.c (answers buffered and written). Only those three
 * include it, so that struct conn stays theirs: the rest of objd reaches
 * a client through the accessors of objd.h. */
#ifndef OBJD_CONN_PRIVATE_H
#define OBJD_CONN_PRIVATE_H

#include <sys/queue.h>
#include <sys/time.h>
#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "log.h"
#include "objd.h"

#include <event2/buffer.h>
#include <event2/event.h>

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
	/* Its output as last counted in the total of all clients'
	 * (conn-output.c's budget for --max-output-total). */
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

/* conn.c */
/* Every client connected, and closing ones not yet buried. */
extern struct conn_list conns;
/* Clients that left, or stopped sending, so far (conn_departures). */
extern uint64_t conn_departed;
void conn_gone(struct conn *c);
void conn_finish(struct conn *c);
void conn_release(struct conn *c);
struct timeval conn_idle_timeout(void);
void conn_set_read_timeout(struct conn *c, const struct timeval *tv);

/* conn-input.c */
/* Clients read this turn whose requests wait for conn_handle_input. */
extern struct conn_list conn_unread;
/* Where requests decode (conn_frame); freed by conn_close_all. */
extern struct arena conn_arena;
void conn_read_cb(evutil_socket_t fd, short events, void *arg);
void conn_reject(struct conn *c, uint64_t id, const char *why);

/* conn-output.c */
/* Clients whose answers wait for conn_write_answers. */
extern struct conn_list conn_unflushed;
/* The answers every client has not read, as last counted
 * (conn_output_count). */
extern size_t conn_output_total;
void conn_write_cb(evutil_socket_t fd, short events, void *arg);
void conn_output_count(struct conn *c);

/* Small helpers on every request's path: inline in each conn file, not
 * a call away. */
static inline bool
conn_timeout_set(const struct timeval *tv)
{
	return tv->tv_sec != 0 || tv->tv_usec != 0;
}

static inline void
conn_add_event(struct event *ev, const struct timeval *tv)
{
	if (event_add(ev, tv) == -1)
		fatalx("cannot add a client event");
}

static inline size_t
conn_input_len(const struct conn *c)
{
	return c->in_len - c->in_off;
}

/* c's input is to be handled once every client ready this turn is
 * read. */
static inline void
conn_input_added(struct conn *c)
{
	if (c->unread)
		return;
	c->unread = true;
	TAILQ_INSERT_TAIL(&conn_unread, c, unread_entry);
}

static inline void
conn_stop_writing(struct conn *c)
{
	if (!c->writing)
		return;
	event_del(c->write_ev);
	event_del(c->write_timer);
	c->writing = false;
}

/* What conn_output_len says, inline for the conn files: every frame
 * asks (conn_process). */
static inline size_t
conn_output_unsent(const struct conn *c)
{
	return c->out_small_len + evbuffer_get_length(c->out);
}

#endif /* OBJD_CONN_PRIVATE_H */
