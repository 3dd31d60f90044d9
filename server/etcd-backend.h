/* SPDX-License-Identifier: ISC */
/* etcd-backend.h: the state of the etcd backend (backend-etcd.c), shared
 * with its commit path (etcd-commit.c), its leases (etcd-lease.c), its
 * reads of the whole prefix (etcd-fetch.c) and its read barrier
 * (etcd-barrier.c). Private to them: the rest of objd sees
 * backend-etcd.h. */
#ifndef OBJD_ETCD_BACKEND_H
#define OBJD_ETCD_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "backend.h"
#include "etcd.h"

struct store;
struct fetch;
struct barrier;

/* A held key's lease: its TTL, and how often it is renewed, well within
 * it, so that a renewal or two may be lost to a leader change. */
#define HOLD_TTL 10
#define HOLD_RENEW 3
/* Lease ids are objd's own choice: a held key's are odd, an expiring
 * key's even, so that every host tells from a key's lease whether its
 * deletion by etcd is an expiry or its holder's end. */
#define LEASE_HELD 1

/* Keys per page of a load. */
#define LOAD_PAGE 1000
/* How long a batch whose Txns all answered may wait for the watch to
 * deliver them before the cache is resynced instead. */
#define WATCH_CATCH_UP 5.0

/* The lease of one holder (a connection of this objd that holds keys). */
struct holder_lease {
	uint64_t holder;
	int64_t id;             /* 0 until granted */
	bool revoking;          /* its holder is gone */
	struct etcd_call *call; /* the renewal or revoke out */
	struct etcd_backend *eb;
	struct holder_lease *next;
};

/* A txn of the batch in flight. */
enum tx_state {
	TX_WAITING,  /* not sent: it rests on a txn not over, or a grant */
	TX_GRANTING, /* its lease's grant is out */
	TX_OUT,      /* its Txn is out */
	TX_SETTLING, /* its answer was lost: a quorum read, then the watch */
	TX_DONE,     /* its status and revision are set */
};

struct tx {
	struct etcd_backend *eb;
	size_t i; /* in the batch */
	enum tx_state state;
	size_t cfirst, cend; /* its changes: cidx[cfirst..cend) */
	size_t pfirst, pend; /* its compares: pidx[pfirst..pend) */
	uint64_t seq;        /* the meta key's, once sent */
	int64_t lease;       /* an expiring set's own, once granted */
	int64_t used_lease;  /* the lease its puts carried */
	int64_t seen;        /* the revision the watch brought it at */
	/* Settling: the meta key's revision a quorum read gave; -1 while
	 * the read is out. */
	int64_t settle_at;
	struct etcd_call *call;
};

/* A key or origin in the set of tx_pass, valid in the pass it bears. */
struct dep {
	uint64_t hash;
	uint32_t pass;
	unsigned what;
};

struct etcd_backend {
	struct backend be; /* first: the ops' argument */
	struct event_base *base;
	struct etcd_config ecfg;
	struct etcd *client;
	char *prefix, *kprefix, *meta;
	size_t prefixlen, kprefixlen, metalen;
	size_t max_ops, max_bytes;
	char writer[96];
	uint64_t seq;

	/* The batch in flight: its txns, each sent once those it rests
	 * on are over (tx_may_go), at most MAX_OUT out at a time. */
	struct backend_batch *b;
	struct tx *tx;
	size_t ntx;
	size_t first;     /* the first txn not over */
	size_t out;       /* txns with a call out (tx_active) */
	struct tx **sent; /* the txn of seq first_seq + i */
	size_t nsent;
	uint64_t first_seq;      /* the seq of the batch's first Txn */
	size_t *cidx, *pidx;     /* changes and compares, grouped by txn */
	uint64_t *chash, *phash; /* their keys' hashes */
	bool seen_own;           /* the watch brought a Txn of the batch */
	bool waiting_watch;      /* all over; waits for the watch */
	bool failed_rest;        /* etcd failed one: the rest are not sent */
	bool dispatching, again;
	struct event *catch_up; /* WATCH_CATCH_UP */
	/* The set of tx_pass (dep_get). */
	struct dep *deps;
	size_t ndeps;
	uint32_t pass;
	uint64_t seed;
	/* Own Txns answered as unknown or failed after they may have been
	 * sent: if the watch brings one, it was applied, and the cache
	 * takes it as a change of others'. */
	uint64_t unknown[16];
	size_t nunknown;
	/* Changes of others that the watch brought after one of the
	 * batch's own: applied with it, in revision order. */
	struct backend_batch *held;
	size_t nheld;

	/* The watch and the cache. */
	struct etcd_watch *watch;
	struct event *rewatch;
	int64_t applied; /* the cluster revision the cache holds */
	int64_t newest;  /* the newest revision heard of */
	uint64_t cluster_id;
	uint64_t resyncs;
	unsigned rewatches; /* the watch ended this often without a word */
	bool loaded;
	bool resync_pending;
	/* The background read of the whole state. */
	struct fetch *fetching;
	struct etcd_call *fetch_call;
	struct event *fetch_retry;
	bool fetched; /* over: load takes it */

	/* Consistent reads: their quorum Ranges out, then their wait for
	 * the cache to reach the revision etcd gave. */
	struct barrier *barriers;
	struct event *barrier_check;

	/* --max-staleness: reads are refused past it without contact;
	 * the timer asks the watch for a word meanwhile, so that a quiet
	 * cluster is not taken for a lost one. */
	double max_staleness;
	double loaded_at; /* wall clock of the last load that read etcd */
	struct event *heartbeat;

	/* Leases: the holders', renewed by the timer; the one grant out
	 * at a time, for grant_tx, a holder's (granting) or its own (an
	 * expiring set's); and each key's lease as the watch and loads
	 * brought it (objd key -> int64_t id), for telling an expiry from
	 * a holder's end. */
	struct holder_lease *holders;
	struct event *renew;
	struct tx *grant_tx;
	struct holder_lease *granting; /* whose grant is out, or NULL */
	void (*live_holders)(void (*fn)(uint64_t, void *), void *);
	int64_t grant_id;
	struct store *leased;
	uint64_t rng;
};

static inline struct etcd_backend *
EB(const struct backend *be)
{
	return (struct etcd_backend *)(uintptr_t)be;
}

/* Txns of one batch out at a time, at most: on libcurl below 8, each
 * is a connection of its own (etcd-client.c). */
#define MAX_OUT 64

/* backend-etcd.c */
void eb_watch_open(struct etcd_backend *eb);
/* The key of an etcd key under the k/ prefix, or NULL. */
const char *eb_objd_key(const struct etcd_backend *eb,
    const ProtobufCBinaryData *k, size_t *len);

/* etcd-commit.c */
void eb_commit(struct backend *be, struct backend_batch *b);
void eb_settle(struct backend *be);
/* Whether a meta value is ours, and its seq. */
bool eb_meta_ours(const struct etcd_backend *eb, const ProtobufCBinaryData *v,
    uint64_t *seq);
/* Whether seq was answered unknown; forgets it. */
bool eb_forget_unknown(struct etcd_backend *eb, uint64_t seq);
/* The txn of the batch in flight that went out with seq, or NULL. */
struct tx *eb_tx_of_seq(struct etcd_backend *eb, uint64_t seq);
/* A Txn of ours applied at rev: its changes take the revision. */
void eb_tx_applied(struct tx *x, int64_t rev);
void eb_tx_state(struct tx *x, enum tx_state s);
void eb_tx_ends(struct tx *x, enum backend_status st, const char *why);
void eb_dispatch(struct etcd_backend *eb);
void eb_on_catch_up(evutil_socket_t fd, short what, void *arg);

/* etcd-lease.c */
void eb_lease_meaning(int64_t id, uint64_t *deadline, uint64_t *holder);
void eb_note_lease(struct etcd_backend *eb, const char *key, size_t keylen,
    int64_t id);
bool eb_note_leases(struct etcd_backend *eb, Mvccpb__Event **evs, size_t n,
    bool meta);
int64_t eb_lease_for(struct etcd_backend *eb, struct tx *x);
void eb_on_renew(evutil_socket_t fd, short what, void *arg);

/* etcd-fetch.c */
enum backend_load eb_load(struct backend *be, struct store *s, bool recover,
    char *err, size_t errlen);
void eb_resync(struct etcd_backend *eb);
void eb_fetch_cancel(struct etcd_backend *eb);
void eb_on_fetch_retry(evutil_socket_t fd, short what, void *arg);

/* etcd-barrier.c */
void eb_read_barrier(struct backend *be, backend_barrier_cb done, void *arg);
void eb_barriers_soon(struct etcd_backend *eb);
void eb_on_barrier_check(evutil_socket_t fd, short what, void *arg);
/* Ends every barrier, not let through, with why. */
void eb_barriers_end(struct etcd_backend *eb, const char *why);

#endif
