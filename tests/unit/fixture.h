/* SPDX-License-Identifier: ISC */
/* fixture.h: objd's loop side without a running objd, for the unit
 * tests of the commit path and the watch: an event base, an empty store,
 * clients on socketpairs, and a fake backend kept in memory whose
 * outcomes the test decides. */
#ifndef OBJD_TEST_FIXTURE_H
#define OBJD_TEST_FIXTURE_H

#include "backend.h"
#include "objd.h"

/* What the fake backend does with the next batches. */
struct fake_backend {
	struct backend be;
	bool hold;          /* keep a batch in flight until fake_complete */
	bool fail;          /* every txn FAILED */
	size_t conflict_at; /* 1 + the txn answered CONFLICT; 0: none */
	uint64_t gap;       /* revisions skipped before each txn */
	/* The txns take their revisions in the reverse of their order, as
	 * etcd may give the Txns of one batch that went out at once. */
	bool reverse;
	struct backend_batch *inflight;
	size_t commits; /* batches handed over */
	size_t txns;    /* txns with changes made, over all batches */
};
extern struct fake_backend fake;

void fixture_setup(void);
void fixture_teardown(void);
/* Ends the batch in flight as the fake's settings say. */
void fake_complete(void);

/* A client of the loop: its connection in objd and the peer's socket. */
struct fixture_client {
	struct conn *conn;
	int fd;
	/* Room for a frame of a key longer than 64 KiB (check_watch). */
	uint8_t buf[256 * 1024];
	size_t len;
};
void fixture_client(struct fixture_client *fc);
void fixture_client_close(struct fixture_client *fc);
/* Writes the answers of this turn, as the loop's turn end does. */
void fixture_turn_end(void);
/* The next answer the client has, NULL if none is there. Free it with
 * objd__response__free_unpacked. */
Objd__Response *fixture_answer(struct fixture_client *fc);
/* A set of key to a string value as a request's change: the change is
 * queued in the batch for fc's request id. */
void fixture_set(struct fixture_client *fc, uint64_t id, const char *key,
    const char *val);
/* The store's string value of key, or NULL. */
char *fixture_get(const char *key);

#endif
