/* SPDX-License-Identifier: ISC */
/* backend.h: where committed changes go, and where the state comes from.
 *
 * The commit path (commit.c), the compaction policy (compact.c) and
 * reload (reload.c) talk to the backend through this table and never to
 * each other: the backend is the one owner of the persistent side. Two
 * implementations are meant for it: the local file (backend-file.c:
 * append into the room, the sync thread, compaction, rewrite, reject)
 * and etcd (backend-etcd.c; objd(8), "Many hosts": one Txn per request,
 * revisions etcd assigns, changes of other hosts from a watch).
 *
 * Every operation and every hook runs on the loop's thread; a backend
 * that works elsewhere (a sync thread, a child process, a socket to
 * etcd) reports back through the hooks from a callback of the loop. A
 * backend operation never calls commit.c, compact.c or reload.c
 * directly: it calls the hooks it was given. */
#ifndef OBJD_BACKEND_H
#define OBJD_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objd.h"

/* The outcome of a request's change, or of a whole operation. */
enum backend_status {
	BACKEND_OK,
	/* A compare the backend evaluated itself failed (etcd): the
	 * change was not made, and the request is answered CONFLICT. */
	BACKEND_CONFLICT,
	/* The change was not made (the file could not be written, etcd
	 * refused or could not be reached): answered FAILED. */
	BACKEND_FAILED,
	/* Whether it was made is not known (an etcd answer lost and not
	 * settled through the meta key): answered FAILED, saying so. */
	BACKEND_UNKNOWN,
	/* The change is past a limit of the backend (etcd: operations
	 * per Txn, request size), refused whole: answered INVALID. */
	BACKEND_INVALID,
};

/* A compare that a request's change rests on. commit.c's requests have
 * checked each against the state they saw already (txn.c); a backend
 * whose state can move under objd (etcd: other hosts) checks them again
 * where the change is made, and answers BACKEND_CONFLICT. A backend
 * that alone writes its state (the file) ignores them. */
enum backend_compare_kind {
	BACKEND_CMP_KEY_REVISION,    /* key's revision == revision */
	BACKEND_CMP_KEY_ABSENT,      /* key does not exist */
	BACKEND_CMP_KEY_PRESENT,     /* key exists */
	BACKEND_CMP_OBJECT_REVISION, /* the object's revision == revision */
};
struct backend_compare {
	size_t txn; /* the index of the txn it guards */
	enum backend_compare_kind kind;
	const char *key; /* NULL for BACKEND_CMP_OBJECT_REVISION */
	size_t keylen;
	uint64_t revision;
};

/* One key's change in a batch. For a set, entry is the new entry (key
 * and value); for a delete, an entry holding the key alone. The backend
 * sets entry->revision to the revision of the change it is part of,
 * before its committed hook is called. */
struct backend_change {
	struct store_entry *entry;
	size_t txn; /* the index of its txn in the batch */
	/* commit.c's own, for its index of pending keys. */
	uint64_t hash;
	uint32_t slot;
	bool delete;
};

/* One request's change: atomic, and in order after the txns before it
 * in the batch that share its origin or a key it writes or compares (a
 * backend may make the others at the same time, in any order). A txn with no
 * changes (changes false) stands in the batch only so that its request is
 * answered in its place; the backend gives it the revision of the txn before it
 * and nothing else. */
struct backend_txn {
	/* In: what commit.c asks for. */
	bool changes;
	bool expire; /* its deletes are expiries (watchers see EXPIRE) */
	/* Out: set by the backend before committed (with revision). */
	enum backend_status status;
	/* commit.c's own: the answer of a txn without changes. */
	Objd__Status answer;
	/* In: who sent it (a connection's serial, cut to 32 bits; 0 for
	 * objd's own). A backend that makes the txns of a batch at once
	 * (etcd) keeps the txns of one origin in their order: a client's
	 * pipeline is answered, and applied, as it was sent. Two origins
	 * that share the number are only kept in order needlessly. */
	uint32_t origin;
	/* In: the lease its sets give their keys: a deadline (wall clock,
	 * ms) and a holder, both 0 for none. */
	uint64_t deadline, holder;
	/* Out: the object's revision once this txn is applied; revisions
	 * rise through a batch, with gaps allowed (etcd's). */
	uint64_t revision;
	/* commit.c's own: who is answered (block.c; a NULL conn for a
	 * change of objd's own), and the error of a txn without changes
	 * (which it owns). The fields are laid out so that a txn takes 72
	 * bytes: a pipeline's batch holds one for each request. */
	struct ticket ticket;
	char *error;
};

/* The changes of one group commit, in the order the requests came. */
struct backend_batch {
	struct backend_change *changes;
	size_t nchanges, capchanges;
	struct backend_txn *txns;
	size_t ntxns, captxns;
	/* In: the object's revision before the batch, and the wall clock
	 * of the commit (seconds), which history records. */
	uint64_t base;
	int64_t time;
	/* In: the compares the txns rest on, in txn order (NULL: none). */
	const struct backend_compare *compares;
	size_t ncompares;
	/* Out: the revision after the last txn, and why, if any txn did
	 * not end BACKEND_OK (malloc'd; the commit path frees it). A
	 * pointer, not an array: the batch is moved about at each commit. */
	uint64_t revision;
	char *error;
	/* Out (etcd): changes of others that the backend learnt of while
	 * the batch was out and that come after some of its own, each as
	 * others_committed would take it (one txn, changes made). The
	 * loop applies them with the batch's own, all in the order of
	 * their revisions, so that watchers see revisions rise. They stay
	 * the backend's, their entries become the store's. NULL: none. */
	const struct backend_batch *others;
	size_t nothers;
};

struct backend;

/* The end of a backend's read barrier: ok, or why not. */
typedef void (*backend_barrier_cb)(void *arg, bool ok, const char *error);

/* What the loop offers the backend: the backend's only way to tell
 * the rest of objd that something happened. */
struct backend_hooks {
	/* The batch handed to commit is over: each txn has its status and
	 * revision. Called exactly once per commit, from the loop, and
	 * possibly before commit returns (a backend that makes changes
	 * durable at once). Revisions need not rise with the txns' order
	 * (etcd makes the txns of different origins at once): the changes
	 * are applied in the order of their revisions, with b->others. */
	void (*committed)(struct backend_batch *b);
	/* Changes made by others (etcd's watch: other hosts), with their
	 * revisions and entries set: the loop applies them to the store
	 * and publishes them to watchers as it does its own. Each txn has
	 * changes and BACKEND_OK. Only while none of objd's own batches is
	 * in flight (etcd: in revision order, after the answer to its own).
	 * The batch stays the backend's; its entries become the store's. */
	void (*others_committed)(const struct backend_batch *b);
	/* The state may have been replaced as a whole by others: the file
	 * renamed over by another program, or an etcd resync after a
	 * compacted watch or a rebuilt cluster. The loop reloads: it calls
	 * load (aside, into a fresh store) and swaps the result in. */
	void (*others_replaced)(void);
	/* A snapshot of the whole state was written, or failed: a
	 * compaction ended, or a rewrite stood in for one. The clients
	 * waiting for a compaction are answered. */
	void (*snapshot_done)(bool ok, const char *error);
};

/* What the backend keeps, as status shows it (0 where it keeps none). */
struct backend_stats {
	uint64_t file_size;       /* up to the last commit */
	uint64_t file_room;       /* after it, preallocated */
	uint64_t compacted_size;  /* the size after the last compaction */
	double last_compaction;   /* wall clock, 0 if none */
	uint64_t recovered_bytes; /* cut from a torn end at start */
};

/* The outcome of load. */
enum backend_load {
	BACKEND_LOAD_OK,
	BACKEND_LOAD_FAILED,
	/* Loaded, but not in objd's own format (another program wrote the
	 * file): rewrite adopts it. */
	BACKEND_LOAD_FOREIGN,
};

/* What check found of the state's outside replacement. */
enum backend_outside {
	BACKEND_UNCHANGED, /* as objd last wrote or read it */
	BACKEND_CHANGED,   /* replaced or modified by someone else */
	BACKEND_MISSING,   /* removed by someone else */
};

struct backend_ops {
	const char *name; /* "file", "etcd": for status and the log */
	/* Every commit takes a round trip (etcd: a raft round), as a sync
	 * of --fsync always does: the next commit waits for the writers
	 * the last one answered (rejoin.c), lest clients that write in a
	 * loop split into two batches for good. */
	bool commits_wait;

	/* The loop exists (server.base): the backend starts its timers and
	 * connections. False with err if it cannot. */
	bool (*start)(struct backend *be, char *err, size_t errlen);

	/* Hands b to the backend to make durable, and returns. The backend
	 * sets each change's entry->revision and each txn's status and
	 * revision, then calls hooks->committed(b) once it knows: at once,
	 * or later from the loop (after a sync on a thread, or etcd's
	 * answer). commit.c hands over one batch at a time: the next
	 * gathers meanwhile. b and its entries stay commit.c's; the
	 * backend may read them until committed is called. */
	void (*commit)(struct backend *be, struct backend_batch *b);
	/* Waits until the batch in flight, if any, is over, and calls its
	 * committed hook before returning: for stopping, and before
	 * anything replaces the state the batch rests on. */
	void (*settle)(struct backend *be);
	/* A consistent read's barrier: calls done(arg, true, NULL) from the
	 * loop, never from inside the call, once the state served holds
	 * every change the backend had committed when it was called (etcd:
	 * a quorum read of the object's revision there, then the cache
	 * reaching it), or
	 * done(arg, false, why) if that cannot be known; at close at the
	 * latest. NULL for a backend whose state is the one served (the
	 * file: a plain read is consistent). */
	void (*read_barrier)(struct backend *be, backend_barrier_cb done,
	    void *arg);
	/* Whether reads may be served from the state served: false with
	 * err once it may be too old (etcd: no contact for
	 * --max-staleness). NULL: always. */
	bool (*readable)(const struct backend *be, char *err, size_t errlen);

	/* Reads the whole state into the empty store s, with its revision.
	 * recover (at start): a torn end of the file is cut back and
	 * appends go on from there. Does not touch the state being served:
	 * a reload loads into a fresh store aside. */
	enum backend_load (*load)(struct backend *be, struct store *s,
	    bool recover, char *err, size_t errlen);

	/* Whether the state may be replaced from outside as a whole, and
	 * objd then looks for it (reload.c: inotify, the timer, SIGHUP):
	 * true for the file, false for etcd (objctl load replaces it). */
	bool (*outside_replacement)(const struct backend *be);
	/* Compares the state with what objd last wrote or read; the file
	 * alone answers anything but BACKEND_UNCHANGED. */
	enum backend_outside (*check)(struct backend *be);
	/* The state check found changed is the one being served (only its
	 * times said so, after objd's own write). */
	void (*same_state)(struct backend *be);

	/* Replaces the persisted state with s, durably, and calls
	 * hooks->snapshot_done: after a reload, or at start to adopt a
	 * foreign file. only_if_same: unless others replaced it again since
	 * the last load; then BACKEND_CHANGED, leaving it, for a reload.
	 * BACKEND_UNCHANGED when written, BACKEND_MISSING (err) when not. */
	enum backend_outside (*rewrite)(struct backend *be,
	    const struct store *s, bool only_if_same, char *err, size_t errlen);
	/* Moves the state last loaded aside as bad (the file: to
	 * <file>.rejected-<time>, in *moved); BACKEND_CHANGED if others
	 * replaced it again meanwhile, BACKEND_MISSING (err) if it failed.
	 * NULL where nothing can be rejected. */
	enum backend_outside (*reject)(struct backend *be, char **moved,
	    char *err, size_t errlen);

	/* Starts writing a snapshot of s's state, which then stands for
	 * everything committed so far; commits go on meanwhile. Calls
	 * hooks->snapshot_done when over (also at once, on failure). False
	 * with err if it could not start. NULL for a backend that compacts
	 * by itself. */
	bool (*compact)(struct backend *be, const struct store *s, char *err,
	    size_t errlen);
	bool (*compacting)(const struct backend *be);
	/* The bytes committed since the compaction began that it has yet
	 * to take (0 if none runs). NULL where compact is. */
	uint64_t (*compact_backlog)(const struct backend *be);
	/* A child process exited (SIGCHLD): the backend reaps its own. */
	void (*child_exited)(struct backend *be);

	/* What status shows of the backend. */
	void (*stats)(const struct backend *be, struct backend_stats *st);
	/* Waits for the commit in flight, and frees the backend. */
	void (*close)(struct backend *be);
};

/* The head of every backend's state. */
struct backend {
	const struct backend_ops *ops;
	const struct backend_hooks *hooks;
};

/* The backend objd runs on (main.c sets it at start; commit.c's). */
extern struct backend *backend;

/* The loop's side of the hooks. commit.c: */
void batch_committed(struct backend_batch *b);
void batch_others_committed(const struct backend_batch *b);
/* reload.c: reload_soon. compact.c: compact_settle. */

/* backend-file.c: the object file f, opened and loaded (objfile.c), as
 * the backend; it owns f's write side from then on. */
struct backend *backend_file_new(struct objfile *f,
    const struct backend_hooks *hooks);

#endif
