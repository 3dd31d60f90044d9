/* SPDX-License-Identifier: ISC */
/* block.h: answering later, through one door.
 *
 * A request that cannot be answered at once (a write waiting for its
 * batch to be durable, a compaction) is parked: block_park gives a
 * ticket, and the client reads no further request but, for a write,
 * further writes that join the same batch, so that its answers keep
 * their order (Redis's blockClient, tmux's CMD_RETURN_WAIT). Whoever
 * completes the request answers it with the ticket (block_answer) and
 * lets it go (block_release); no other file counts what a client waits
 * for.
 *
 * A ticket keeps its client allocated (conn.c counts them), so the
 * answer for a client that left meanwhile finds it and is dropped
 * there. A pipeline of sets parks and answers a ticket for each set:
 * the calls are inline, as the counts they replaced were. */
#ifndef OBJD_BLOCK_H
#define OBJD_BLOCK_H

enum block_kind {
	BLOCK_JOINS, /* the client's later writes may join (the batch) */
	BLOCK_ALONE, /* nothing more of the client is read meanwhile */
};
struct ticket {
	struct conn *conn; /* NULL: answered to no one (objd's own) */
	uint64_t id;
	bool joins;
};

static inline struct ticket
block_park(struct conn *c, uint64_t id, enum block_kind kind)
{
	bool joins = kind == BLOCK_JOINS;

	conn_park(c, joins);
	return (struct ticket){ .conn = c, .id = id, .joins = joins };
}

/* The ticket's answer, without letting it go. */
static inline void
block_answer(const struct ticket *t, Objd__Status status, const char *error,
    uint64_t revision)
{
	if (t->conn != NULL)
		reply_result(t->conn, t->id, status, error, revision);
}

/* Writes the answers given so far now, not at the end of the turn. */
static inline void
block_flush(const struct ticket *t)
{
	if (t->conn != NULL)
		conn_write_answers_now(t->conn);
}

/* Lets the ticket go: the client's requests after it may be read. */
static inline void
block_release(struct ticket *t)
{
	struct conn *c = t->conn;

	if (c == NULL)
		return;
	t->conn = NULL;
	conn_unpark(c, t->joins);
}

/* block_answer, then block_release. */
void block_done(struct ticket *t, Objd__Status status, const char *error,
    uint64_t revision);

#endif
