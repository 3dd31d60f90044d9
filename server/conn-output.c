/* SPDX-License-Identifier: ISC */
/* conn-output.c: a client's answers: buffered as they are made (reply.c
 * packs them in place), written to each client at the end of a turn of
 * the loop, and counted against --max-client-output and
 * --max-output-total. Only a client whose socket is full gets a write
 * event, until it drains. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "conn-private.h"
#include "log.h"
#include "objd.h"

#include <event2/buffer.h>
#include <event2/event.h>

/* The answers every client has not read, as last counted
 * (conn_output_count). */
size_t conn_output_total;
/* Clients whose answers wait for conn_write_answers. */
struct conn_list conn_unflushed = TAILQ_HEAD_INITIALIZER(conn_unflushed);

static void conn_output_added(struct conn *);

/* Inline: as a call, it costs conn_write_answers, run twice a turn, a
 * register saved and restored each time. */
static inline void
conn_start_writing(struct conn *c)
{
	if (c->writing)
		return;
	conn_add_event(c->write_ev, NULL);
	if (conn_timeout_set(&c->write_timeout))
		conn_add_event(c->write_timer, &c->write_timeout);
	c->writing = true;
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
	return conn_output_unsent(c);
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
void
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

void
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
