/* SPDX-License-Identifier: ISC */
/* block.c: answering later, through one door.
 *
 * A request that cannot be answered at once (a write waiting for its
 * batch to be durable, a compaction) is parked: block_park gives a
 * ticket, and the client reads no further request but, for a write,
 * further writes that join the same batch, so that its answers keep
 * their order (Redis's blockClient, tmux's CMD_RETURN_WAIT). Whoever
 * completes the request answers it with the ticket and lets it go; no
 * other file counts what a client waits for.
 *
 * A ticket keeps its client allocated (conn.c counts them), so the
 * answer for a client that left meanwhile finds it and is dropped
 * there. */
#include "objd.h"

struct ticket
block_park(struct conn *c, uint64_t id, enum block_kind kind)
{
	bool joins = kind == BLOCK_JOINS;

	conn_park(c, joins);
	return (struct ticket){ .conn = c, .id = id, .joins = joins };
}

void
block_answer(const struct ticket *t, Objd__Status status, const char *error,
    uint64_t revision)
{
	if (t->conn != NULL)
		reply_result(t->conn, t->id, status, error, revision);
}

void
block_flush(const struct ticket *t)
{
	if (t->conn != NULL)
		conn_write_answers_now(t->conn);
}

void
block_release(struct ticket *t)
{
	struct conn *c = t->conn;

	if (c == NULL)
		return;
	t->conn = NULL;
	conn_unpark(c, t->joins);
}

void
block_done(struct ticket *t, Objd__Status status, const char *error,
    uint64_t revision)
{
	block_answer(t, status, error, revision);
	block_release(t);
}
