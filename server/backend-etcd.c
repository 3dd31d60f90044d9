/* SPDX-License-Identifier: ISC */
/* backend-etcd.c: etcd v3 as the backend (backend-etcd.h).
 *
 * Writes: each request of a batch is one Txn, which also puts the meta
 * key with this objd's writer id and a sequence number. The Txns go out
 * at once, as HTTP/2 streams, where nothing orders them: a Txn waits
 * for the Txns before it in the batch that come from the same client
 * (a pipeline keeps its order), that write a key it writes or compares,
 * or that compare a key it writes; one that compares the object's
 * revision waits for all before it (each writes the meta key). etcd
 * then makes them in one raft round, as it does for as many clients.
 *
 * The cache applies etcd's order exactly (read-your-writes, and local
 * watchers in revision order): a batch is reported committed once every
 * Txn is answered and the cache can take them. That is at once when
 * their revisions are exactly the ones after the cache's (no change of
 * others' can lie between: etcd gives each change its own revision);
 * otherwise once the watch has brought everything up to the newest of
 * them. Changes of others the watch brought after an own one go to the
 * loop with the batch (backend_batch.others), which applies all in
 * revision order. Own changes are known on the watch by the meta key's
 * writer id, not by revision, since the watch may outrun the answer.
 *
 * A Txn whose answer is lost (a timeout, a member gone after sending)
 * is settled through a quorum read of the meta key: holding the Txn's
 * writer id and sequence number, it was applied there. Otherwise (other
 * Txns wrote it since, ours among them) its revision is no lower than
 * the Txn's if it was applied by then; once the watch has brought
 * everything up to it, the Txn was applied if the watch brought its
 * sequence number. Otherwise the
 * request is answered BACKEND_UNKNOWN, and the Txn, if the watch brings
 * it later, is taken as a change of others'.
 *
 * Reads of the whole state (load: at start, and the resync after the
 * watch's start was compacted) are paged Ranges at one fixed revision,
 * on a client of a private event base run to completion: load is
 * synchronous, and libevent's loop cannot run inside itself. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "backend-etcd.h"
#include "clock.h"
#include "etcd.h"
#include "log.h"
#include "objd.h"
#include "xmalloc.h"

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

struct fetch;
struct barrier;

/* The lease of one holder (a connection of this objd that holds keys). */
struct holder_lease {
	uint64_t holder;
	int64_t id;             /* 0 until granted */
	bool revoking;          /* its holder is gone */
	struct etcd_call *call; /* the renewal or revoke out */
	struct etcd_backend *eb;
	struct holder_lease *next;
};

/* Txns of one batch out at a time, at most: on libcurl below 8, each
 * is a connection of its own (etcd-client.c). */
#define MAX_OUT 64

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

static const struct timeval catch_up_tv = { (time_t)WATCH_CATCH_UP, 0 };
static const struct timeval renew_tv = { HOLD_RENEW, 0 };

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

static struct etcd_backend *
EB(const struct backend *be)
{
	return (struct etcd_backend *)(uintptr_t)be;
}

static const struct etcd_watch_handlers watch_handlers;

static void
watch_open(struct etcd_backend *eb)
{
	size_t endlen;
	uint8_t *end = etcd_prefix_end(eb->prefix, eb->prefixlen, &endlen);

	eb->watch = etcd_watch_open(eb->client, eb->prefix, eb->prefixlen, end,
	    endlen, eb->applied + 1, &watch_handlers, eb);
	free(end);
}

static void
on_rewatch(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_backend *eb = arg;

	if (eb->watch == NULL && eb->loaded)
		watch_open(eb);
}

/* The key of an etcd key under the k/ prefix, or NULL. */
static const char *
objd_key(const struct etcd_backend *eb, const ProtobufCBinaryData *k,
    size_t *len)
{
	if (k->len <= eb->kprefixlen ||
	    memcmp(k->data, eb->kprefix, eb->kprefixlen) != 0)
		return NULL;
	*len = k->len - eb->kprefixlen;
	return (const char *)k->data + eb->kprefixlen;
}

/* Whether a meta value is ours, and its seq. */
static bool
meta_ours(const struct etcd_backend *eb, const ProtobufCBinaryData *v,
    uint64_t *seq)
{
	size_t wl = strlen(eb->writer);
	char buf[32];

	if (v->len <= wl + 1 || v->len - wl - 1 >= sizeof(buf) ||
	    memcmp(v->data, eb->writer, wl) != 0 || v->data[wl] != ' ')
		return false;
	memcpy(buf, v->data + wl + 1, v->len - wl - 1);
	buf[v->len - wl - 1] = '\0';
	*seq = strtoull(buf, NULL, 10);
	return true;
}

/* Empties s, for a load that starts again. */
static void
store_empty(struct store *s)
{
	size_t n, i;
	struct store_entry **all = store_sorted(s, "", 0, &n);

	for (i = 0; i < n; i++)
		free(store_remove(s, STORE_ENTRY_KEY(all[i]), all[i]->keylen));
	free(all);
}

/* A new lease id, positive (etcd's ids are int64): a holder's is odd
 * and random, so that it clashes with no other host's; an expiring
 * set's is even and carries its deadline (wall clock, ms) above
 * LEASE_DEADLINE_SHIFT bits, so that every host knows the time left.
 * Two expiring sets may draw the same id only with the same deadline:
 * sharing that lease changes nothing. */
#define LEASE_DEADLINE_SHIFT 21
static int64_t
lease_id(struct etcd_backend *eb, bool held, uint64_t deadline)
{
	uint64_t x;

	/* xorshift64*: ids need only be unlikely to clash. */
	eb->rng ^= eb->rng >> 12;
	eb->rng ^= eb->rng << 25;
	eb->rng ^= eb->rng >> 27;
	x = eb->rng * 0x2545f4914f6cdd1dULL;
	if (held)
		return (int64_t)(((x >> 2) | (1ULL << 32)) | LEASE_HELD);
	x &= ((1ULL << LEASE_DEADLINE_SHIFT) - 1) & ~1ULL;
	/* Deadlines fit 42 bits until the year 2109. */
	deadline &= (1ULL << (63 - LEASE_DEADLINE_SHIFT)) - 1;
	return (int64_t)((deadline << LEASE_DEADLINE_SHIFT) | x);
}

/* The deadline and holder a key put with lease id has, as a txn's. */
static void
lease_meaning(int64_t id, uint64_t *deadline, uint64_t *holder)
{
	*deadline = *holder = 0;
	if (id <= 0)
		return;
	if (id & LEASE_HELD)
		*holder = (uint64_t)id;
	else
		*deadline = (uint64_t)id >> LEASE_DEADLINE_SHIFT;
}

/* key's lease as etcd last told (0: none). */
static int64_t
key_lease(const struct etcd_backend *eb, const char *key, size_t keylen)
{
	const struct store_entry *e = store_get(eb->leased, key, keylen);
	int64_t id = 0;

	if (e != NULL)
		memcpy(&id, STORE_ENTRY_VALUE(e), sizeof(id));
	return id;
}

static void
note_lease(struct etcd_backend *eb, const char *key, size_t keylen, int64_t id)
{
	if (id == 0)
		free(store_remove(eb->leased, key, keylen));
	else
		free(store_put(eb->leased,
		    store_entry_new(key, keylen, (const uint8_t *)&id,
		        sizeof(id), 0)));
}

/* The events of one revision: each key's lease noted. The result says
 * whether they are etcd's deletion of keys whose lease ended (no meta
 * key: no objd wrote them) and of an expiring key's lease (an expiry, as
 * watchers see it), rather than a holder's. */
static bool
note_leases(struct etcd_backend *eb, Mvccpb__Event **evs, size_t n, bool meta)
{
	bool expired = false;

	for (size_t i = 0; i < n; i++) {
		const Mvccpb__KeyValue *kv = evs[i]->kv;
		const char *key;
		size_t keylen;

		if ((key = objd_key(eb, &kv->key, &keylen)) == NULL)
			continue;
		if (evs[i]->type == MVCCPB__EVENT__EVENT_TYPE__DELETE) {
			int64_t id = key_lease(eb, key, keylen);

			if (!meta && id != 0 && (id & LEASE_HELD) == 0)
				expired = true;
			note_lease(eb, key, keylen, 0);
		} else
			note_lease(eb, key, keylen, kv->lease);
	}
	return expired;
}

static void batch_done(struct etcd_backend *eb);
static void barriers_soon(struct etcd_backend *eb);
static void resync(struct etcd_backend *eb);

/* Whether seq was answered unknown; forgets it. */
static bool
forget_unknown(struct etcd_backend *eb, uint64_t seq)
{
	for (size_t i = 0; i < eb->nunknown; i++) {
		if (eb->unknown[i] == seq) {
			eb->unknown[i] = eb->unknown[--eb->nunknown];
			return true;
		}
	}
	return false;
}

/* The Txn out is answered unknown: remembered, oldest dropped. */
static void
note_unknown(struct etcd_backend *eb, uint64_t seq)
{
	size_t max = sizeof(eb->unknown) / sizeof(eb->unknown[0]);

	if (eb->nunknown == max) {
		memmove(eb->unknown, eb->unknown + 1,
		    (max - 1) * sizeof(eb->unknown[0]));
		eb->nunknown--;
	}
	eb->unknown[eb->nunknown++] = seq;
}

/* The changes of one revision, made by others: to the loop. */
static void
others(struct etcd_backend *eb, Mvccpb__Event **evs, size_t n, int64_t rev,
    bool hold, bool expired)
{
	struct backend_batch ob = { 0 };
	struct backend_txn t = { 0 };
	uint64_t deadline = 0, holder = 0;
	size_t i;

	ob.changes = xcalloc(n, sizeof(*ob.changes));
	for (i = 0; i < n; i++) {
		const Mvccpb__KeyValue *kv = evs[i]->kv;
		struct backend_change *c = &ob.changes[ob.nchanges];
		const char *key;
		size_t keylen;

		if ((key = objd_key(eb, &kv->key, &keylen)) == NULL)
			continue;
		c->delete = evs[i]->type == MVCCPB__EVENT__EVENT_TYPE__DELETE;
		/* One Txn's puts share its lease, if any. */
		if (!c->delete &&kv->lease != 0)
			lease_meaning(kv->lease, &deadline, &holder);
		c->entry = store_entry_new(key, keylen,
		    c->delete ? NULL : kv->value.data,
		    c->delete ? 0 : kv->value.len, (uint64_t)rev);
		c->txn = 0;
		ob.nchanges++;
	}
	if (ob.nchanges == 0) {
		free(ob.changes);
		return;
	}
	ob.ntxns = 1;
	ob.revision = (uint64_t)rev;
	ob.time = (int64_t)time(NULL);
	if (hold) {
		struct backend_batch *h;

		eb->held =
		    xreallocarray(eb->held, eb->nheld + 1, sizeof(*eb->held));
		h = &eb->held[eb->nheld++];
		*h = ob;
		h->txns = xcalloc(1, sizeof(*h->txns));
		h->txns[0].changes = true;
		h->txns[0].expire = expired;
		h->txns[0].deadline = deadline;
		h->txns[0].holder = holder;
		h->txns[0].status = BACKEND_OK;
		h->txns[0].revision = (uint64_t)rev;
		return;
	}
	t.changes = true;
	t.expire = expired;
	t.deadline = deadline;
	t.holder = holder;
	t.status = BACKEND_OK;
	t.revision = (uint64_t)rev;
	ob.txns = &t;
	eb->be.hooks->others_committed(&ob);
	free(ob.changes);
}

static struct tx *tx_of_seq(struct etcd_backend *eb, uint64_t seq);
static void tx_applied(struct tx *x, int64_t rev);
static void dispatch(struct etcd_backend *eb);
static void tx_unknown(struct tx *x);

static void
on_watch(const Etcdserverpb__WatchResponse *r, void *arg)
{
	struct etcd_backend *eb = arg;
	size_t i, j;

	eb->rewatches = 0;
	if (r->header != NULL) {
		if (eb->cluster_id != 0 && r->header->cluster_id != 0 &&
		    r->header->cluster_id != eb->cluster_id) {
			log_warnx("etcd: the cluster id changed: resync");
			resync(eb);
			return;
		}
		if (r->header->revision > eb->newest)
			eb->newest = r->header->revision;
	}
	if (r->canceled) {
		if (r->compact_revision > 0)
			log_warnx("etcd: revision %" PRId64
			          " was compacted (now %" PRId64 "): resync",
			    eb->applied + 1, r->compact_revision);
		else
			log_warnx("etcd: the watch was cancelled (%s): resync",
			    r->cancel_reason);
		resync(eb);
		return;
	}
	/* Events come in revision order; one Txn's share a revision. */
	for (i = 0; i < r->n_events; i = j) {
		int64_t rev = r->events[i]->kv->mod_revision;
		bool ours = false, meta = false, expired;
		uint64_t seq = 0;
		struct tx *x;

		for (j = i;
		     j < r->n_events && r->events[j]->kv->mod_revision == rev;
		     j++) {
			const Mvccpb__KeyValue *kv = r->events[j]->kv;

			if (kv->key.len == eb->metalen &&
			    memcmp(kv->key.data, eb->meta, eb->metalen) == 0) {
				meta = true;
				if (meta_ours(eb, &kv->value, &seq))
					ours = true;
			}
		}
		/* Already in the cache: brought before, or an own change
		 * applied at its answer (its leases noted then). */
		if (rev <= eb->applied)
			continue;
		expired = note_leases(eb, r->events + i, j - i, meta);
		eb->applied = rev;
		if (ours && forget_unknown(eb, seq))
			ours = false;
		if (!ours) {
			/* After an own change of the batch in flight, the
			 * others wait to be applied with it. */
			others(eb, r->events + i, j - i, rev,
			    eb->b != NULL && eb->seen_own, expired);
			continue;
		}
		if ((x = tx_of_seq(eb, seq)) == NULL)
			continue;
		x->seen = rev;
		eb->seen_own = true;
		/* Its answer was lost: the watch settles it. */
		if (x->state == TX_SETTLING)
			tx_applied(x, rev);
	}
	/* A progress notification: everything up to it is delivered. Not
	 * the answer to a progress request (watch id -1): etcd 3.4.23
	 * sends that at once, ahead of events still on their way (etcd
	 * issue 15220); it only tells that etcd is there. */
	if (r->n_events == 0 && r->header != NULL && !r->created &&
	    r->watch_id != -1 && r->header->revision > eb->applied)
		eb->applied = r->header->revision;
	if (eb->b != NULL)
		dispatch(eb);
	barriers_soon(eb);
}

/* The watch is opened again after a wait that doubles while it keeps
 * ending without an answer (from 0.1 s to 2 s), jittered. */
static void
on_watch_ended(int status, const char *message, void *arg)
{
	struct etcd_backend *eb = arg;
	double wait =
	    0.1 * (double)(1u << (eb->rewatches < 4 ? eb->rewatches : 4));
	struct timeval tv;

	wait *= 0.5 + 0.5 * (double)random() / (double)RAND_MAX;
	tv.tv_sec = (time_t)wait;
	tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6);
	eb->watch = NULL;
	if (eb->rewatches++ == 0)
		log_info("%s: watching again from %" PRId64, message,
		    eb->applied + 1);
	else
		log_debug("%s: watching again from %" PRId64, message,
		    eb->applied + 1);
	evtimer_add(eb->rewatch, &tv);
}

static const struct etcd_watch_handlers watch_handlers = { on_watch,
	on_watch_ended };

/* The batch is over: its statuses are set; the loop applies it, with
 * the changes of others the watch brought after its own, all in the
 * order of their revisions. */
static void
batch_done(struct etcd_backend *eb)
{
	struct backend_batch *b = eb->b, *held = eb->held;
	size_t nheld = eb->nheld;

	evtimer_del(eb->catch_up);
	eb->b = NULL;
	eb->waiting_watch = false;
	eb->seen_own = false;
	b->revision = b->base;
	for (size_t i = 0; i < b->ntxns; i++) {
		struct backend_txn *t = &b->txns[i];

		/* Not made, or nothing to make: the revision before. */
		if (!t->changes || t->status != BACKEND_OK)
			t->revision = i > 0 ? b->txns[i - 1].revision : b->base;
		if (t->revision > b->revision)
			b->revision = t->revision;
	}
	b->others = held;
	b->nothers = nheld;
	eb->held = NULL;
	eb->nheld = 0;
	free(eb->tx);
	free(eb->sent);
	free(eb->cidx);
	free(eb->pidx);
	free(eb->chash);
	free(eb->phash);
	eb->tx = NULL;
	eb->sent = NULL;
	eb->cidx = eb->pidx = NULL;
	eb->chash = eb->phash = NULL;
	eb->ntx = eb->nsent = 0;
	eb->be.hooks->committed(b);
	for (size_t i = 0; i < nheld; i++) {
		free(held[i].changes);
		free(held[i].txns);
	}
	free(held);
	barriers_soon(eb);
	if (eb->resync_pending) {
		eb->resync_pending = false;
		resync(eb);
	}
}

static void
on_catch_up(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_backend *eb = arg;

	if (eb->b == NULL)
		return;
	/* Lost answers the watch did not settle: unknown. */
	for (size_t i = eb->first; i < eb->ntx; i++)
		if (eb->tx[i].state == TX_SETTLING && eb->tx[i].settle_at >= 0)
			tx_unknown(&eb->tx[i]);
	if (!eb->waiting_watch) {
		dispatch(eb);
		return;
	}
	/* The Txns applied, but the watch does not bring them: answer, and
	 * make the cache exact by a resync. */
	log_warnx("etcd: the watch did not bring objd's own write in %.0f s: "
	          "resync",
	    WATCH_CATCH_UP);
	eb->resync_pending = true;
	batch_done(eb);
}

/* Whether a txn in state s counts against MAX_OUT: a call of its out. */
static bool
tx_active(enum tx_state s)
{
	return s == TX_GRANTING || s == TX_OUT || s == TX_SETTLING;
}

static void
tx_state(struct tx *x, enum tx_state s)
{
	struct etcd_backend *eb = x->eb;

	eb->out -= tx_active(x->state);
	eb->out += tx_active(s);
	x->state = s;
}

/* The txn of the batch in flight that went out with seq, or NULL. */
static struct tx *
tx_of_seq(struct etcd_backend *eb, uint64_t seq)
{
	if (eb->b == NULL || seq < eb->first_seq ||
	    seq - eb->first_seq >= eb->nsent)
		return NULL;
	return eb->sent[seq - eb->first_seq];
}

/* A Txn of ours applied at rev: its changes take the revision. */
static void
tx_applied(struct tx *x, int64_t rev)
{
	struct etcd_backend *eb = x->eb;
	struct backend_batch *b = eb->b;

	if (x->call != NULL) {
		etcd_call_cancel(x->call);
		x->call = NULL;
	}
	b->txns[x->i].status = BACKEND_OK;
	b->txns[x->i].revision = (uint64_t)rev;
	for (size_t k = x->cfirst; k < x->cend; k++)
		b->changes[eb->cidx[k]].entry->revision = (uint64_t)rev;
	if (rev > eb->newest)
		eb->newest = rev;
	tx_state(x, TX_DONE);
}

/* x ends with st, not made; a failure (not a conflict, not a limit)
 * fails the txns not sent yet, as etcd is failing them too. why is the
 * batch's error, if it has none yet, and x's own for a limit. */
static void
tx_ends(struct tx *x, enum backend_status st, const char *why)
{
	struct backend_batch *b = x->eb->b;
	struct backend_txn *t = &b->txns[x->i];

	if (x->call != NULL) {
		etcd_call_cancel(x->call);
		x->call = NULL;
	}
	t->status = st;
	if (why != NULL && b->error == NULL)
		b->error = xstrdup(why);
	if (st == BACKEND_INVALID && why != NULL) {
		free(t->error);
		t->error = xstrdup(why);
	}
	if (st == BACKEND_FAILED || st == BACKEND_UNKNOWN)
		x->eb->failed_rest = true;
	tx_state(x, TX_DONE);
}

/* x's answer was lost and the watch did not bring it: unknown. If the
 * watch brings it later, the cache takes it as a change of others'. */
static void
tx_unknown(struct tx *x)
{
	note_unknown(x->eb, x->seq);
	tx_ends(x, BACKEND_UNKNOWN,
	    "etcd's answer was lost and the write's outcome is unknown");
}

/* The quorum read of a lost answer's settling: the meta key in etcd
 * now. Still x's: applied. Else its revision is no lower than x's if x
 * was applied by then: once the watch has brought everything up to it
 * (batch_check), x is applied if the watch brought its seq, and unknown
 * if not (it may still be applied later; never guessed). */
static void
on_settle_read(const struct etcd_reply *r, void *arg)
{
	struct tx *x = arg;
	const Etcdserverpb__RangeResponse *rr =
	    (const Etcdserverpb__RangeResponse *)r->msg;
	uint64_t seq;

	x->call = NULL;
	if (x->seen != 0)
		tx_applied(x, x->seen);
	else if (r->status != ETCD_OK)
		tx_unknown(x);
	else if (rr->n_kvs == 1 && meta_ours(x->eb, &rr->kvs[0]->value, &seq) &&
	    seq == x->seq)
		/* The meta key is still as x left it: applied there. */
		tx_applied(x, rr->kvs[0]->mod_revision);
	else
		x->settle_at = rr->n_kvs == 1 ? rr->kvs[0]->mod_revision : 0;
	dispatch(x->eb);
}

static void
on_txn(const struct etcd_reply *r, void *arg)
{
	struct tx *x = arg;
	struct etcd_backend *eb = x->eb;
	const Etcdserverpb__TxnResponse *tr =
	    (const Etcdserverpb__TxnResponse *)r->msg;
	char why[600];

	x->call = NULL;
	if (r->status == ETCD_OK) {
		if (tr->header != NULL && tr->header->cluster_id != 0 &&
		    eb->cluster_id != 0 &&
		    tr->header->cluster_id != eb->cluster_id)
			eb->resync_pending = true;
		if (tr->succeeded)
			tx_applied(x, tr->header->revision);
		else
			tx_ends(x, BACKEND_CONFLICT, NULL);
	} else if (r->maybe_applied) {
		/* Settled through a quorum read, then the watch. */
		Etcdserverpb__RangeRequest req =
		    ETCDSERVERPB__RANGE_REQUEST__INIT;

		req.key.data = (uint8_t *)eb->meta;
		req.key.len = eb->metalen;
		log_warnx("etcd: %s: settling the write through the watch",
		    r->message);
		tx_state(x, TX_SETTLING);
		x->settle_at = -1;
		if (x->seen != 0)
			tx_applied(x, x->seen);
		else
			x->call =
			    etcd_range(eb->client, &req, on_settle_read, x);
	} else if (r->status == ETCD_INVALID_ARGUMENT &&
	    strstr(r->message, "too many operations") != NULL) {
		/* etcd's limits refuse that request alone (INVALID);
		 * anything else (authentication, permission, no quorum) is
		 * etcd failing it, and the ones not sent. */
		snprintf(why, sizeof(why),
		    "the request has more operations than etcd's "
		    "--max-txn-ops allows: %s",
		    r->message);
		tx_ends(x, BACKEND_INVALID, why);
	} else if (r->status == ETCD_INVALID_ARGUMENT &&
	    strstr(r->message, "too large") != NULL) {
		snprintf(why, sizeof(why),
		    "the request is larger than etcd's "
		    "--max-request-bytes allows: %s",
		    r->message);
		tx_ends(x, BACKEND_INVALID, why);
	} else {
		snprintf(why, sizeof(why), "etcd refused the write: %s",
		    r->message);
		tx_ends(x, BACKEND_FAILED, why);
	}
	dispatch(eb);
}

static void
set_compare(Etcdserverpb__Compare *c, const struct etcd_backend *eb,
    const struct backend_compare *bc, uint8_t **keybuf)
{
	etcdserverpb__compare__init(c);
	if (bc->kind == BACKEND_CMP_OBJECT_REVISION) {
		c->key.data = (uint8_t *)eb->meta;
		c->key.len = eb->metalen;
	} else {
		*keybuf = xmalloc(eb->kprefixlen + bc->keylen);
		memcpy(*keybuf, eb->kprefix, eb->kprefixlen);
		memcpy(*keybuf + eb->kprefixlen, bc->key, bc->keylen);
		c->key.data = *keybuf;
		c->key.len = eb->kprefixlen + bc->keylen;
	}
	switch (bc->kind) {
	case BACKEND_CMP_KEY_REVISION:
	case BACKEND_CMP_OBJECT_REVISION:
		c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
		c->result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
		c->target_union_case =
		    ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
		c->mod_revision = (int64_t)bc->revision;
		break;
	case BACKEND_CMP_KEY_ABSENT:
	case BACKEND_CMP_KEY_PRESENT:
		c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
		c->result = bc->kind == BACKEND_CMP_KEY_ABSENT
		    ? ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL
		    : ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER;
		c->target_union_case =
		    ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
		c->create_revision = 0;
		break;
	}
}

static void
on_grant(const struct etcd_reply *r, void *arg)
{
	struct tx *x = arg;
	struct etcd_backend *eb = x->eb;
	char why[600];

	x->call = NULL;
	eb->grant_tx = NULL;
	/* A grant retried after a lost answer finds its own id taken. */
	if (r->status != ETCD_OK &&
	    !(r->status == ETCD_FAILED_PRECONDITION && r->message != NULL &&
	        strstr(r->message, "already exists") != NULL)) {
		snprintf(why, sizeof(why),
		    "etcd refused the lease of the keys: %s", r->message);
		eb->granting = NULL;
		tx_ends(x, BACKEND_FAILED, why);
		dispatch(eb);
		return;
	}
	if (eb->granting != NULL)
		eb->granting->id = eb->grant_id;
	else
		x->lease = eb->grant_id;
	eb->granting = NULL;
	tx_state(x, TX_WAITING);
	dispatch(eb);
}

/* The lease x's puts carry: 0 for none; -1 while a grant is out (x's
 * own, whose answer sends x; or another's, one grant at a time). A
 * holder's lease is made at its first held key and lasts until the
 * holder goes; an expiring set's is made for its txn alone, with the
 * time left as its TTL. */
static int64_t
lease_for(struct etcd_backend *eb, struct tx *x)
{
	const struct backend_txn *t = &eb->b->txns[x->i];
	struct holder_lease *h = NULL;
	int64_t ttl = HOLD_TTL;

	if (t->holder != 0) {
		for (h = eb->holders; h != NULL; h = h->next)
			if (h->holder == t->holder && !h->revoking)
				break;
		if (h != NULL && h->id != 0)
			return h->id;
		if (eb->grant_tx != NULL)
			return -1;
		if (h == NULL) {
			h = xcalloc(1, sizeof(*h));
			h->holder = t->holder;
			h->eb = eb;
			h->next = eb->holders;
			eb->holders = h;
		}
	} else if (t->deadline == 0)
		return 0;
	else if (x->lease != 0)
		return x->lease;
	else if (eb->grant_tx != NULL)
		return -1;
	else {
		/* The deadlines' clock (expire.c's): the wall clock, ms. */
		uint64_t now = (uint64_t)(now_wall() * 1000.0);

		ttl = t->deadline > now
		    ? (int64_t)((t->deadline - now + 999) / 1000)
		    : 1;
	}
	eb->granting = h;
	eb->grant_tx = x;
	eb->grant_id = lease_id(eb, h != NULL, t->deadline);
	tx_state(x, TX_GRANTING);
	x->call = etcd_lease_grant(eb->client, eb->grant_id, ttl, on_grant, x);
	return -1;
}

static void
on_revoked(const struct etcd_reply *r, void *arg)
{
	struct holder_lease *h = arg, **pp;
	struct etcd_backend *eb = h->eb;

	h->call = NULL;
	if (r->status != ETCD_OK &&
	    (r->message == NULL || strstr(r->message, "not found") == NULL))
		log_warnx("etcd: revoking the lease of held keys: %s; they "
		          "go once it runs out (%d s)",
		    r->message, HOLD_TTL);
	for (pp = &eb->holders; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
	free(h);
}

static void
on_renewed(const struct etcd_reply *r, void *arg)
{
	struct holder_lease *h = arg;
	const Etcdserverpb__LeaseKeepAliveResponse *kr =
	    (const Etcdserverpb__LeaseKeepAliveResponse *)r->msg;

	h->call = NULL;
	if (r->status != ETCD_OK) {
		log_warnx("etcd: renewing the lease of held keys: %s",
		    r->message);
		return;
	}
	if (kr->ttl <= 0) {
		/* Out of reach past its TTL: etcd deleted the keys. A hold
		 * of the same holder gets a new lease. */
		log_warnx("etcd: the lease of held keys ran out: etcd "
		          "deleted them");
		h->id = 0;
	}
}

struct live_holders {
	uint64_t *holders;
	size_t n, cap;
};

static void
live_one(uint64_t holder, void *arg)
{
	struct live_holders *lh = arg;

	if (lh->n == lh->cap) {
		lh->cap = lh->cap ? lh->cap * 2 : 16;
		lh->holders =
		    xreallocarray(lh->holders, lh->cap, sizeof(uint64_t));
	}
	lh->holders[lh->n++] = holder;
}

/* Revokes the leases of the holders that are no connection any more:
 * etcd deletes their keys, on every host at once. */
static void
holders_prune(struct etcd_backend *eb)
{
	struct live_holders lh = { 0 };
	struct holder_lease *h, **pp;

	if (eb->holders == NULL || eb->live_holders == NULL)
		return;
	eb->live_holders(live_one, &lh);
	for (pp = &eb->holders; (h = *pp) != NULL;) {
		bool alive = h == eb->granting || h->revoking;

		for (size_t i = 0; i < lh.n && !alive; i++)
			alive = lh.holders[i] == h->holder;
		if (alive) {
			pp = &h->next;
			continue;
		}
		if (h->id == 0) {
			*pp = h->next;
			free(h);
			continue;
		}
		if (h->call != NULL)
			etcd_call_cancel(h->call);
		h->revoking = true;
		h->call = etcd_lease_revoke(eb->client, h->id, on_revoked, h);
		pp = &h->next;
	}
	free(lh.holders);
}

static void
on_renew(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_backend *eb = arg;

	(void)fd;
	(void)what;
	holders_prune(eb);
	for (struct holder_lease *h = eb->holders; h != NULL; h = h->next)
		if (h->id != 0 && h->call == NULL && !h->revoking)
			h->call = etcd_lease_keepalive(eb->client, h->id,
			    on_renewed, h);
}

void
backend_etcd_holders_changed(struct backend *be)
{
	holders_prune(EB(be));
}

/* Sends x's Txn, or ends x where it cannot go (past a limit), or
 * starts its lease's grant (whose answer sends it). */
static void
tx_send(struct tx *x)
{
	struct etcd_backend *eb = x->eb;
	struct backend_batch *b = eb->b;
	Etcdserverpb__TxnRequest req = ETCDSERVERPB__TXN_REQUEST__INIT;
	Etcdserverpb__RequestOp *ops, **opp;
	Etcdserverpb__PutRequest *puts;
	Etcdserverpb__DeleteRangeRequest *dels;
	Etcdserverpb__Compare *cmps, **cmpp;
	uint8_t **keys;
	char metaval[128];
	size_t n = x->cend - x->cfirst, ncmp = x->pend - x->pfirst, nk = 0, k,
	       size;
	int64_t lease;

	if (n + 1 > eb->max_ops || ncmp > eb->max_ops) {
		char why[256];

		snprintf(why, sizeof(why),
		    "the request has %zu operations with the meta key, over "
		    "etcd's limit of %zu per transaction (etcd's "
		    "--max-txn-ops); it is not split",
		    n + 1, eb->max_ops);
		tx_ends(x, BACKEND_INVALID, why);
		return;
	}
	if ((lease = lease_for(eb, x)) < 0)
		return;
	ops = xcalloc(n + 1, sizeof(*ops));
	opp = xcalloc(n + 1, sizeof(*opp));
	puts = xcalloc(n + 1, sizeof(*puts));
	dels = xcalloc(n + 1, sizeof(*dels));
	keys = xcalloc(n + ncmp + 1, sizeof(*keys));
	cmps = xcalloc(ncmp + 1, sizeof(*cmps));
	cmpp = xcalloc(ncmp + 1, sizeof(*cmpp));
	for (k = x->cfirst; k < x->cend; k++) {
		const struct backend_change *c = &b->changes[eb->cidx[k]];
		const struct store_entry *e = c->entry;
		size_t o = req.n_success;
		uint8_t *key;

		key = keys[nk++] = xmalloc(eb->kprefixlen + e->keylen);
		memcpy(key, eb->kprefix, eb->kprefixlen);
		memcpy(key + eb->kprefixlen, STORE_ENTRY_KEY(e), e->keylen);
		etcdserverpb__request_op__init(&ops[o]);
		if (c->delete) {
			etcdserverpb__delete_range_request__init(&dels[o]);
			dels[o].key.data = key;
			dels[o].key.len = eb->kprefixlen + e->keylen;
			ops[o].request_case =
			    ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
			ops[o].request_delete_range = &dels[o];
		} else {
			etcdserverpb__put_request__init(&puts[o]);
			puts[o].key.data = key;
			puts[o].key.len = eb->kprefixlen + e->keylen;
			puts[o].value.data = (uint8_t *)STORE_ENTRY_VALUE(e);
			puts[o].value.len = e->vallen;
			puts[o].lease = lease;
			ops[o].request_case =
			    ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
			ops[o].request_put = &puts[o];
		}
		opp[o] = &ops[o];
		req.n_success++;
	}
	x->seq = eb->seq + 1;
	snprintf(metaval, sizeof(metaval), "%s %" PRIu64, eb->writer, x->seq);
	etcdserverpb__put_request__init(&puts[n]);
	puts[n].key.data = (uint8_t *)eb->meta;
	puts[n].key.len = eb->metalen;
	puts[n].value.data = (uint8_t *)metaval;
	puts[n].value.len = strlen(metaval);
	etcdserverpb__request_op__init(&ops[n]);
	ops[n].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
	ops[n].request_put = &puts[n];
	opp[n] = &ops[n];
	req.n_success++;
	req.success = opp;
	for (k = x->pfirst; k < x->pend; k++) {
		set_compare(&cmps[req.n_compare], eb, &b->compares[eb->pidx[k]],
		    &keys[nk]);
		if (keys[nk] != NULL)
			nk++;
		cmpp[req.n_compare] = &cmps[req.n_compare];
		req.n_compare++;
	}
	req.compare = cmpp;
	size = protobuf_c_message_get_packed_size(&req.base);
	if (size > eb->max_bytes) {
		char why[256];

		snprintf(why, sizeof(why),
		    "the request is %zu bytes, over etcd's limit of %zu "
		    "(etcd's --max-request-bytes); it is not split",
		    size, eb->max_bytes);
		x->seq = 0;
		tx_ends(x, BACKEND_INVALID, why);
	} else {
		eb->seq = x->seq;
		eb->sent[eb->nsent++] = x;
		x->used_lease = lease;
		tx_state(x, TX_OUT);
		x->call = etcd_txn(eb->client, &req, on_txn, x);
	}
	for (k = 0; k < nk; k++)
		free(keys[k]);
	free(keys);
	free(ops);
	free(opp);
	free(puts);
	free(dels);
	free(cmps);
	free(cmpp);
}

/* The keys (and origins) of the txns not over that come before the
 * one a pass looks at: an open-addressing set of hashes, each slot
 * valid in the pass that stamped it, so that a pass need not clear it.
 * Equal hashes of different keys only keep two txns in order. */
#define DEP_WRITES 1u
#define DEP_COMPARES 2u
#define DEP_ORIGIN 4u

static unsigned
dep_get(const struct etcd_backend *eb, uint64_t h)
{
	size_t mask = eb->ndeps - 1;

	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		const struct dep *d = &eb->deps[i];

		if (d->pass != eb->pass)
			return 0;
		if (d->hash == h)
			return d->what;
	}
}

static void
dep_add(struct etcd_backend *eb, uint64_t h, unsigned what)
{
	size_t mask = eb->ndeps - 1;

	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		struct dep *d = &eb->deps[i];

		if (d->pass != eb->pass) {
			*d = (struct dep){ .hash = h,
				.what = what,
				.pass = eb->pass };
			return;
		}
		if (d->hash == h) {
			d->what |= what;
			return;
		}
	}
}

/* An origin's hash, apart from keys' (which store_key_hash spreads). */
static uint64_t
origin_hash(uint32_t origin)
{
	return ((uint64_t)origin + 1) * 0x9e3779b97f4a7c15ULL;
}

/* Whether x may go out now, with the txns not over before it in the
 * set: none is of its origin, writes a key x writes or compares, or
 * compares a key x writes; and x does not compare the object's
 * revision (every Txn writes the meta key). */
static bool
tx_may_go(const struct etcd_backend *eb, const struct tx *x)
{
	const struct backend_batch *b = eb->b;

	if (dep_get(eb, origin_hash(b->txns[x->i].origin)) & DEP_ORIGIN)
		return false;
	for (size_t k = x->cfirst; k < x->cend; k++)
		if (dep_get(eb, eb->chash[eb->cidx[k]]) &
		    (DEP_WRITES | DEP_COMPARES))
			return false;
	for (size_t k = x->pfirst; k < x->pend; k++) {
		const struct backend_compare *c = &b->compares[eb->pidx[k]];

		if (c->kind == BACKEND_CMP_OBJECT_REVISION ||
		    dep_get(eb, eb->phash[eb->pidx[k]]) & DEP_WRITES)
			return false;
	}
	return true;
}

static void
tx_deps_add(struct etcd_backend *eb, const struct tx *x)
{
	dep_add(eb, origin_hash(eb->b->txns[x->i].origin), DEP_ORIGIN);
	for (size_t k = x->cfirst; k < x->cend; k++)
		dep_add(eb, eb->chash[eb->cidx[k]], DEP_WRITES);
	for (size_t k = x->pfirst; k < x->pend; k++)
		if (eb->b->compares[eb->pidx[k]].kind !=
		    BACKEND_CMP_OBJECT_REVISION)
			dep_add(eb, eb->phash[eb->pidx[k]], DEP_COMPARES);
}

/* One pass over the txns not over, in order: sends each that may go,
 * and fails those not sent once etcd failed one. */
static void
tx_pass(struct etcd_backend *eb)
{
	bool before = false; /* a txn not over comes before */

	if (++eb->pass == 0) {
		memset(eb->deps, 0, eb->ndeps * sizeof(*eb->deps));
		eb->pass = 1;
	}
	for (size_t i = eb->first; i < eb->ntx; i++) {
		struct tx *x = &eb->tx[i];

		if (x->state == TX_WAITING && eb->failed_rest)
			tx_ends(x, BACKEND_FAILED, NULL);
		else if (x->state == TX_WAITING && eb->out < MAX_OUT &&
		    (!before || tx_may_go(eb, x)))
			tx_send(x);
		if (x->state == TX_DONE) {
			if (!before)
				eb->first = i + 1;
			continue;
		}
		before = true;
		tx_deps_add(eb, x);
	}
}

/* Whether the cache can take the batch's own changes at once, without
 * the watch: every revision from the one after the cache's up to the
 * batch's newest is a Txn of the batch, so that no change of others'
 * can lie between (etcd gives every change its own revision). */
static bool
batch_next_to_cache(const struct etcd_backend *eb, int64_t top)
{
	const struct backend_batch *b = eb->b;
	int64_t n = 0;

	for (size_t i = 0; i < b->ntxns; i++)
		if (b->txns[i].changes && b->txns[i].status == BACKEND_OK &&
		    (int64_t)b->txns[i].revision > eb->applied)
			n++;
	return n == top - eb->applied;
}

/* The batch's own changes are in the cache without the watch: their
 * leases noted as the watch would note them, which will skip them. */
static void
batch_apply_now(struct etcd_backend *eb, int64_t top)
{
	const struct backend_batch *b = eb->b;

	for (size_t i = 0; i < eb->ntx; i++) {
		const struct tx *x = &eb->tx[i];

		if (!b->txns[i].changes || b->txns[i].status != BACKEND_OK)
			continue;
		for (size_t k = x->cfirst; k < x->cend; k++) {
			const struct backend_change *c =
			    &b->changes[eb->cidx[k]];

			note_lease(eb, STORE_ENTRY_KEY(c->entry),
			    c->entry->keylen, c->delete ? 0 : x->used_lease);
		}
	}
	eb->applied = top;
}

static void
catch_up_arm(struct etcd_backend *eb)
{
	if (!evtimer_pending(eb->catch_up, NULL))
		evtimer_add(eb->catch_up, &catch_up_tv);
}

/* Ends the batch once every txn is over and the cache can take it. */
static void
batch_check(struct etcd_backend *eb)
{
	struct backend_batch *b = eb->b;
	int64_t top = 0;
	bool waits = false;

	for (size_t i = eb->first; i < eb->ntx; i++) {
		struct tx *x = &eb->tx[i];

		if (x->state == TX_SETTLING && x->settle_at >= 0) {
			if (eb->applied >= x->settle_at)
				tx_unknown(x);
			else
				waits = true;
		}
	}
	if (eb->out > 0 || eb->first < eb->ntx) {
		/* Settles that failed the txns not sent: a pass ends them. */
		if (eb->failed_rest && eb->out == 0) {
			tx_pass(eb);
			batch_check(eb);
			return;
		}
		if (waits)
			catch_up_arm(eb);
		return;
	}
	for (size_t i = 0; i < b->ntxns; i++)
		if (b->txns[i].changes && b->txns[i].status == BACKEND_OK &&
		    (int64_t)b->txns[i].revision > top)
			top = (int64_t)b->txns[i].revision;
	if (top == 0 || top <= eb->applied) {
		batch_done(eb);
		return;
	}
	/* Nothing watched yet (the first read of etcd is still under
	 * way): that read brings these changes too. */
	if (!eb->loaded) {
		eb->resync_pending = true;
		batch_done(eb);
		return;
	}
	if (batch_next_to_cache(eb, top)) {
		batch_apply_now(eb, top);
		batch_done(eb);
		return;
	}
	/* Others' changes may lie between: the watch brings them, and the
	 * batch's own, in revision order. A watch that ended is opened
	 * again from where it was, and brings them then. */
	eb->waiting_watch = true;
	catch_up_arm(eb);
}

/* Sends what may go, and ends the batch when it is over. Reentered
 * from a callback of a pass (none is called from inside a call), it
 * only asks for another pass. */
static void
dispatch(struct etcd_backend *eb)
{
	if (eb->b == NULL)
		return;
	if (eb->dispatching) {
		eb->again = true;
		return;
	}
	eb->dispatching = true;
	do {
		eb->again = false;
		tx_pass(eb);
	} while (eb->again);
	eb->dispatching = false;
	batch_check(eb);
}

/* Lists the changes (or compares) of each txn: idx gets their indices
 * grouped by txn, in order, and the txns their ranges in it. */
static void
group_by_txn(struct etcd_backend *eb, size_t n,
    size_t (*txn_of)(const void *, size_t), const void *arr, size_t *idx,
    bool compares)
{
	size_t *count = xcalloc(eb->ntx + 1, sizeof(*count));

	for (size_t i = 0; i < n; i++)
		count[txn_of(arr, i) + 1]++;
	for (size_t t = 0; t < eb->ntx; t++) {
		count[t + 1] += count[t];
		if (compares) {
			eb->tx[t].pfirst = count[t];
			eb->tx[t].pend = count[t + 1];
		} else {
			eb->tx[t].cfirst = count[t];
			eb->tx[t].cend = count[t + 1];
		}
	}
	for (size_t i = 0; i < n; i++)
		idx[count[txn_of(arr, i)]++] = i;
	free(count);
}

static size_t
change_txn(const void *arr, size_t i)
{
	return ((const struct backend_change *)arr)[i].txn;
}

static size_t
compare_txn(const void *arr, size_t i)
{
	return ((const struct backend_compare *)arr)[i].txn;
}

static void
etcd_commit(struct backend *be, struct backend_batch *b)
{
	struct etcd_backend *eb = EB(be);
	size_t nkeys = b->nchanges + b->ncompares + b->ntxns, nd = 16;

	eb->b = b;
	eb->ntx = b->ntxns;
	eb->tx = xcalloc(b->ntxns + 1, sizeof(*eb->tx));
	eb->sent = xcalloc(b->ntxns + 1, sizeof(*eb->sent));
	eb->cidx = xcalloc(b->nchanges + 1, sizeof(*eb->cidx));
	eb->pidx = xcalloc(b->ncompares + 1, sizeof(*eb->pidx));
	eb->chash = xcalloc(b->nchanges + 1, sizeof(*eb->chash));
	eb->phash = xcalloc(b->ncompares + 1, sizeof(*eb->phash));
	while (nd < 2 * nkeys)
		nd *= 2;
	if (nd > eb->ndeps) {
		free(eb->deps);
		eb->deps = xcalloc(nd, sizeof(*eb->deps));
		eb->ndeps = nd;
		eb->pass = 0;
	}
	for (size_t i = 0; i < b->ntxns; i++) {
		eb->tx[i].eb = eb;
		eb->tx[i].i = i;
		if (b->txns[i].changes)
			eb->tx[i].state = TX_WAITING;
		else {
			/* Answered in its place, with the revision before. */
			eb->tx[i].state = TX_DONE;
			b->txns[i].status = BACKEND_OK;
		}
	}
	group_by_txn(eb, b->nchanges, change_txn, b->changes, eb->cidx, false);
	group_by_txn(eb, b->ncompares, compare_txn, b->compares, eb->pidx,
	    true);
	for (size_t i = 0; i < b->nchanges; i++)
		eb->chash[i] = store_key_hash(eb->seed,
		    STORE_ENTRY_KEY(b->changes[i].entry),
		    b->changes[i].entry->keylen);
	for (size_t i = 0; i < b->ncompares; i++)
		eb->phash[i] = b->compares[i].key == NULL
		    ? 0
		    : store_key_hash(eb->seed, b->compares[i].key,
		          b->compares[i].keylen);
	eb->first = 0;
	eb->out = 0;
	eb->nsent = 0;
	eb->first_seq = eb->seq + 1;
	eb->seen_own = false;
	eb->waiting_watch = false;
	eb->failed_rest = false;
	dispatch(eb);
}

/* A private loop for what must be synchronous: runs until *done. */
struct sync_call {
	bool done;
	int status;
	char message[512];
	Etcdserverpb__RangeResponse *range;
};

static void
on_sync(const struct etcd_reply *r, void *arg)
{
	struct sync_call *sc = arg;
	size_t len;
	uint8_t *buf;

	sc->done = true;
	sc->status = r->status;
	snprintf(sc->message, sizeof(sc->message), "%s",
	    r->message ? r->message : "");
	if (r->msg == NULL)
		return;
	/* The answer is freed after this returns: keep a copy. */
	len = protobuf_c_message_get_packed_size(r->msg);
	buf = xmalloc(len + 1);
	protobuf_c_message_pack(r->msg, buf);
	sc->range = etcdserverpb__range_response__unpack(NULL, len, buf);
	free(buf);
}

static void
etcd_settle(struct backend *be)
{
	struct etcd_backend *eb = EB(be);

	/* The batch's answers come through this loop: run it (the loop's
	 * own base, from outside its dispatch: objd stopping). */
	while (eb->b != NULL)
		if (event_base_loop(eb->base, EVLOOP_ONCE) == -1)
			break;
}

/* A read of the whole prefix at one revision, page by page. */
struct fetch {
	struct store *s;
	uint8_t *from, *end;
	size_t fromlen, endlen;
	int64_t at, objrev;
	uint64_t cluster;
};

static void
fetch_init(struct etcd_backend *eb, struct fetch *f, struct store *s)
{
	memset(f, 0, sizeof(*f));
	f->s = s;
	f->end = etcd_prefix_end(eb->prefix, eb->prefixlen, &f->endlen);
	f->from = xmemdup(eb->prefix, eb->prefixlen);
	f->fromlen = eb->prefixlen;
}

/* The revision was compacted while paging: start again at the newest. */
static void
fetch_restart(struct etcd_backend *eb, struct fetch *f)
{
	store_empty(f->s);
	f->at = f->objrev = 0;
	free(f->from);
	f->from = xmemdup(eb->prefix, eb->prefixlen);
	f->fromlen = eb->prefixlen;
}

static void
fetch_request(const struct fetch *f, Etcdserverpb__RangeRequest *req)
{
	etcdserverpb__range_request__init(req);
	req->key.data = f->from;
	req->key.len = f->fromlen;
	req->range_end.data = f->end;
	req->range_end.len = f->endlen;
	req->limit = LOAD_PAGE;
	req->revision = f->at;
}

/* Takes one page into the store; true if more follow. */
static bool
fetch_page(struct etcd_backend *eb, struct fetch *f,
    const Etcdserverpb__RangeResponse *r)
{
	const Mvccpb__KeyValue *last;

	if (f->at == 0 && r->header != NULL) {
		f->at = r->header->revision;
		f->cluster = r->header->cluster_id;
	}
	for (size_t i = 0; i < r->n_kvs; i++) {
		const Mvccpb__KeyValue *kv = r->kvs[i];
		const char *key;
		size_t keylen;

		if (kv->key.len == eb->metalen &&
		    memcmp(kv->key.data, eb->meta, eb->metalen) == 0)
			f->objrev = kv->mod_revision;
		else if ((key = objd_key(eb, &kv->key, &keylen)) != NULL) {
			uint64_t deadline, holder;

			free(store_put(f->s,
			    store_entry_new(key, keylen, kv->value.data,
			        kv->value.len, (uint64_t)kv->mod_revision)));
			note_lease(eb, key, keylen, kv->lease);
			lease_meaning(kv->lease, &deadline, &holder);
			if (deadline != 0 || holder != 0)
				store_lease_set(f->s, key, keylen, deadline,
				    holder);
		}
	}
	if (!r->more || r->n_kvs == 0)
		return false;
	last = r->kvs[r->n_kvs - 1];
	free(f->from);
	f->fromlen = last->key.len + 1;
	f->from = xmalloc(f->fromlen);
	memcpy(f->from, last->key.data, last->key.len);
	f->from[last->key.len] = 0;
	return true;
}

static void
fetch_free(struct fetch *f)
{
	free(f->from);
	free(f->end);
	f->from = f->end = NULL;
}

/* The state read is the cache's now: the watch goes on from it. */
static void
fetch_done(struct etcd_backend *eb, struct fetch *f)
{
	if (eb->loaded && eb->cluster_id != 0 && f->cluster != eb->cluster_id)
		log_warnx("etcd: another cluster (id %" PRIx64 ", was %" PRIx64
		          ")",
		    f->cluster, eb->cluster_id);
	store_set_revision(f->s, (uint64_t)f->objrev);
	eb->cluster_id = f->cluster;
	eb->applied = f->at;
	if (f->at > eb->newest)
		eb->newest = f->at;
	if (eb->watch != NULL) {
		etcd_watch_close(eb->watch);
		eb->watch = NULL;
	}
	eb->loaded = true;
	watch_open(eb);
	barriers_soon(eb);
}

static void fetch_next(struct etcd_backend *eb);

static void
on_fetch_retry(evutil_socket_t fd, short what, void *arg)
{
	fetch_next(arg);
}

/* A page of the background read (a resync, or the load that failed at
 * start): when the last is in, the loop is told to load, which takes
 * the state read here without asking etcd again. */
static void
on_fetch(const struct etcd_reply *r, void *arg)
{
	struct etcd_backend *eb = arg;
	struct timeval tv = { 1, 0 };

	eb->fetch_call = NULL;
	if (r->status == ETCD_OUT_OF_RANGE) {
		fetch_restart(eb, eb->fetching);
		fetch_next(eb);
		return;
	}
	if (r->status != ETCD_OK) {
		log_debug("etcd: resync: %s; trying again", r->message);
		evtimer_add(eb->fetch_retry, &tv);
		return;
	}
	if (fetch_page(eb, eb->fetching,
	        (const Etcdserverpb__RangeResponse *)r->msg)) {
		fetch_next(eb);
		return;
	}
	eb->fetched = true;
	eb->be.hooks->others_replaced();
}

static void
fetch_next(struct etcd_backend *eb)
{
	Etcdserverpb__RangeRequest req;

	fetch_request(eb->fetching, &req);
	eb->fetch_call = etcd_range(eb->client, &req, on_fetch, eb);
}

/* Starts the background read, unless one runs. */
static void
fetch_start(struct etcd_backend *eb)
{
	if (eb->fetching != NULL)
		return;
	eb->fetching = xcalloc(1, sizeof(*eb->fetching));
	eb->fetched = false;
	fetch_init(eb, eb->fetching, store_new());
	fetch_next(eb);
}

static void
fetch_cancel(struct etcd_backend *eb)
{
	if (eb->fetching == NULL)
		return;
	if (eb->fetch_call != NULL)
		etcd_call_cancel(eb->fetch_call);
	eb->fetch_call = NULL;
	evtimer_del(eb->fetch_retry);
	store_free(eb->fetching->s);
	fetch_free(eb->fetching);
	free(eb->fetching);
	eb->fetching = NULL;
	eb->fetched = false;
}

/* Reads the whole prefix into s at one revision: what the background
 * read brought, if it is over; else a read now, on a private loop. A
 * load that fails leaves a background read going, which tells the loop
 * through others_replaced once etcd answers. */
static enum backend_load
etcd_load(struct backend *be, struct store *s, bool recover, char *err,
    size_t errlen)
{
	struct etcd_backend *eb = EB(be);
	struct event_base *base;
	struct etcd *client;
	struct fetch f;
	enum backend_load rc = BACKEND_LOAD_FAILED;

	if (eb->fetched) {
		struct fetch *got = eb->fetching;
		size_t n;
		struct store_entry **all = store_sorted(got->s, "", 0, &n);

		for (size_t i = 0; i < n; i++)
			free(store_put(s,
			    store_remove(got->s, STORE_ENTRY_KEY(all[i]),
			        all[i]->keylen)));
		free(all);
		store_free(got->s);
		got->s = s;
		fetch_done(eb, got);
		fetch_free(got);
		free(got);
		eb->fetching = NULL;
		eb->fetched = false;
		return BACKEND_LOAD_OK;
	}
	if ((base = event_base_new()) == NULL)
		fatalx("etcd: out of resources");
	if ((client = etcd_new(base, &eb->ecfg, err, errlen)) == NULL) {
		event_base_free(base);
		return BACKEND_LOAD_FAILED;
	}
	fetch_init(eb, &f, s);
	for (;;) {
		Etcdserverpb__RangeRequest req;
		struct sync_call sc = { 0 };
		bool more;

		fetch_request(&f, &req);
		etcd_range(client, &req, on_sync, &sc);
		while (!sc.done)
			if (event_base_loop(base, EVLOOP_ONCE) == -1)
				fatalx("etcd: the load's loop failed");
		if (sc.status == ETCD_OUT_OF_RANGE) {
			fetch_restart(eb, &f);
			continue;
		}
		if (sc.status != ETCD_OK || sc.range == NULL) {
			snprintf(err, errlen, "%s%s",
			    sc.status == ETCD_UNAVAILABLE ? "" : "etcd: ",
			    sc.message);
			fetch_start(eb);
			goto out;
		}
		more = fetch_page(eb, &f, sc.range);
		etcdserverpb__range_response__free_unpacked(sc.range, NULL);
		if (!more)
			break;
	}
	fetch_cancel(eb);
	fetch_done(eb, &f);
	/* The private client's contact is not the backend's. */
	eb->loaded_at = now_wall();
	rc = BACKEND_LOAD_OK;
out:
	fetch_free(&f);
	etcd_free(client);
	event_base_free(base);
	return rc;
}

/* The watch cannot go on from where the cache is: the state is read
 * again in the background, once no batch of ours is in flight, and
 * the loop told to load it. */
static void
resync(struct etcd_backend *eb)
{
	if (eb->watch != NULL) {
		etcd_watch_close(eb->watch);
		eb->watch = NULL;
	}
	if (eb->b != NULL) {
		eb->resync_pending = true;
		return;
	}
	eb->resyncs++;
	fetch_start(eb);
}

/* A consistent read (read_barrier): a quorum Range gives the revision
 * of the object's last change in etcd, and the read is let through once
 * the cache holds it, as Kubernetes serves consistent reads from its
 * watch cache. The Range reads the meta key, which every change writes,
 * rather than count_only for the cluster's revision: a revision outside
 * the prefix reaches the cache only with the next periodic progress
 * notification (etcd 3.4's answer to a progress request may overtake
 * events, so it cannot stand in), and the object's own revision comes
 * with the watch's events at once. */
struct barrier {
	struct etcd_backend *eb;
	struct barrier *next, **prevp;
	backend_barrier_cb done;
	void *arg;
	struct etcd_call *call; /* the quorum Range, while out */
	struct event *timer;    /* the wait for the cache, once it has rev */
	int64_t rev; /* the object's in etcd; -1 until the Range answers */
};

/* Whether the store served holds everything etcd had at rev: the watch
 * brought it, and nothing it brought waits to be applied (others'
 * changes held behind an own batch, an own batch the watch showed, a
 * resync being read or not yet loaded). */
static bool
cache_holds(const struct etcd_backend *eb, int64_t rev)
{
	return eb->loaded && eb->fetching == NULL && eb->nheld == 0 &&
	    !(eb->b != NULL && eb->seen_own) && eb->applied >= rev;
}

static void
barrier_end(struct barrier *br, bool ok, const char *why)
{
	if (br->call != NULL)
		etcd_call_cancel(br->call);
	if (br->timer != NULL)
		event_free(br->timer);
	if ((*br->prevp = br->next) != NULL)
		br->next->prevp = br->prevp;
	br->done(br->arg, ok, why);
	free(br);
}

/* Lets through every barrier the cache has reached. Run from an event
 * of its own, after whatever changed the cache: a reload swaps a
 * resync's state in only after load returns. */
static void
on_barrier_check(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_backend *eb = arg;
	struct barrier *br, *next;

	for (br = eb->barriers; br != NULL; br = next) {
		next = br->next;
		if (br->rev >= 0 && cache_holds(eb, br->rev))
			barrier_end(br, true, NULL);
	}
}

static void
barriers_soon(struct etcd_backend *eb)
{
	if (eb->barriers != NULL)
		event_active(eb->barrier_check, EV_TIMEOUT, 0);
}

static void
on_barrier_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct barrier *br = arg;
	char why[256];

	snprintf(why, sizeof(why),
	    "objd's cache did not reach the object's revision in etcd, %" PRId64
	    ", in %.0f s (it holds %" PRId64 "): its watch of etcd lags",
	    br->rev, br->eb->ecfg.call_timeout, br->eb->applied);
	barrier_end(br, false, why);
}

static void
on_barrier_range(const struct etcd_reply *r, void *arg)
{
	struct barrier *br = arg;
	struct etcd_backend *eb = br->eb;
	const Etcdserverpb__RangeResponse *rr =
	    (const Etcdserverpb__RangeResponse *)r->msg;
	struct timeval tv;
	char why[700];

	br->call = NULL;
	if (r->status != ETCD_OK || rr->header == NULL) {
		snprintf(why, sizeof(why),
		    "etcd is unreachable: a quorum read failed (%s)%s%s",
		    r->message ? r->message : "no answer",
		    r->endpoint ? " at " : "", r->endpoint ? r->endpoint : "");
		barrier_end(br, false, why);
		return;
	}
	/* No meta key: nothing was ever written under the prefix. */
	br->rev = rr->n_kvs == 1 ? rr->kvs[0]->mod_revision : 0;
	if (rr->header->revision > eb->newest)
		eb->newest = rr->header->revision;
	if (cache_holds(eb, br->rev)) {
		barrier_end(br, true, NULL);
		return;
	}
	tv.tv_sec = (time_t)eb->ecfg.call_timeout;
	tv.tv_usec =
	    (suseconds_t)((eb->ecfg.call_timeout - (double)tv.tv_sec) * 1e6);
	if ((br->timer = evtimer_new(eb->base, on_barrier_timeout, br)) == NULL)
		fatalx("etcd: out of resources");
	evtimer_add(br->timer, &tv);
}

static void
etcd_read_barrier(struct backend *be, backend_barrier_cb done, void *arg)
{
	struct etcd_backend *eb = EB(be);
	struct barrier *br = xcalloc(1, sizeof(*br));
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;

	br->eb = eb;
	br->rev = -1;
	br->done = done;
	br->arg = arg;
	if ((br->next = eb->barriers) != NULL)
		br->next->prevp = &br->next;
	br->prevp = &eb->barriers;
	eb->barriers = br;
	/* Linearizable (not serializable): the meta key as a quorum has
	 * it. keys_only: its value is not wanted. */
	req.key.data = (uint8_t *)eb->meta;
	req.key.len = eb->metalen;
	req.keys_only = true;
	br->call = etcd_range(eb->client, &req, on_barrier_range, br);
}

/* The wall clock of the last word from etcd, 0 if none yet. */
static double
last_contact(const struct etcd_backend *eb)
{
	struct etcd_stats es;

	etcd_stats(eb->client, &es);
	return es.last_contact > eb->loaded_at ? es.last_contact
	                                       : eb->loaded_at;
}

static bool
etcd_readable(const struct backend *be, char *err, size_t errlen)
{
	const struct etcd_backend *eb = EB(be);
	double last, ago;

	if (eb->max_staleness <= 0)
		return true;
	if ((last = last_contact(eb)) == 0) {
		snprintf(err, errlen,
		    "etcd is unreachable and objd has not reached it since it "
		    "started: its copy may be older than --max-staleness "
		    "%g s allows",
		    eb->max_staleness);
		return false;
	}
	if ((ago = now_wall() - last) <= eb->max_staleness)
		return true;
	snprintf(err, errlen,
	    "etcd is unreachable: objd's copy is stale, %.0f s without "
	    "contact, past --max-staleness %g s",
	    ago, eb->max_staleness);
	return false;
}

static void
on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_backend *eb = arg;

	if (eb->watch != NULL &&
	    now_wall() - last_contact(eb) >= eb->max_staleness / 4)
		etcd_watch_progress(eb->watch);
}

static bool
etcd_outside_replacement(const struct backend *be)
{
	return false;
}

static enum backend_outside
etcd_check(struct backend *be)
{
	return BACKEND_UNCHANGED;
}

static void
etcd_same_state(struct backend *be)
{
}

/* etcd is the state: a rewrite of the cache's own state changes
 * nothing there. */
static enum backend_outside
etcd_rewrite(struct backend *be, const struct store *s, bool only_if_same,
    char *err, size_t errlen)
{
	if (be->hooks->snapshot_done != NULL)
		be->hooks->snapshot_done(true, NULL);
	return BACKEND_UNCHANGED;
}

static bool
etcd_compacting(const struct backend *be)
{
	return false;
}

static void
etcd_stats_op(const struct backend *be, struct backend_stats *st)
{
	memset(st, 0, sizeof(*st));
}

static void
etcd_close(struct backend *be)
{
	struct etcd_backend *eb = EB(be);

	etcd_settle(be);
	while (eb->barriers != NULL)
		barrier_end(eb->barriers, false, "objd is stopping");
	event_free(eb->barrier_check);
	if (eb->heartbeat != NULL)
		event_free(eb->heartbeat);
	fetch_cancel(eb);
	/* Held keys are left to their leases: they go HOLD_TTL after the
	 * last renewal, as when objd dies. */
	while (eb->holders != NULL) {
		struct holder_lease *h = eb->holders;

		eb->holders = h->next;
		if (h->call != NULL)
			etcd_call_cancel(h->call);
		free(h);
	}
	event_free(eb->renew);
	store_free(eb->leased);
	etcd_free(eb->client);
	event_free(eb->fetch_retry);
	event_free(eb->rewatch);
	event_free(eb->catch_up);
	free(eb->prefix);
	free(eb->kprefix);
	free(eb->meta);
	free((char *)eb->ecfg.endpoints);
	free((char *)eb->ecfg.user);
	free((char *)eb->ecfg.cacert);
	free((char *)eb->ecfg.cert);
	free((char *)eb->ecfg.key);
	if (eb->ecfg.password != NULL)
		explicit_bzero((char *)eb->ecfg.password,
		    strlen(eb->ecfg.password));
	free((char *)eb->ecfg.password);
	for (size_t i = 0; i < eb->nheld; i++) {
		for (size_t j = 0; j < eb->held[i].nchanges; j++)
			free(eb->held[i].changes[j].entry);
		free(eb->held[i].changes);
		free(eb->held[i].txns);
	}
	free(eb->held);
	free(eb->deps);
	free(eb);
}

/* Connections start with the first load, which objd makes before it
 * serves: nothing more to start. */
static bool
etcd_start(struct backend *be, char *err, size_t errlen)
{
	return true;
}

static const struct backend_ops etcd_ops = {
	.name = "etcd",
	.commits_wait = true,
	.start = etcd_start,
	.commit = etcd_commit,
	.settle = etcd_settle,
	.read_barrier = etcd_read_barrier,
	.readable = etcd_readable,
	.load = etcd_load,
	.outside_replacement = etcd_outside_replacement,
	.check = etcd_check,
	.same_state = etcd_same_state,
	.rewrite = etcd_rewrite,
	.reject = NULL,
	.compact = NULL,
	.compacting = etcd_compacting,
	.child_exited = NULL,
	.stats = etcd_stats_op,
	.close = etcd_close,
};

struct backend *
backend_etcd_open(struct event_base *base,
    const struct backend_etcd_config *cfg, const struct backend_hooks *hooks,
    char *err, size_t errlen)
{
	struct etcd_backend *eb = xcalloc(1, sizeof(*eb));
	const char *prefix = cfg->prefix ? cfg->prefix : BACKEND_ETCD_PREFIX;
	char host[64];

	if (*prefix == '\0') {
		snprintf(err, errlen, "the etcd prefix is empty");
		free(eb);
		return NULL;
	}
	eb->be.ops = &etcd_ops;
	eb->be.hooks = hooks;
	eb->base = base;
	etcd_config_defaults(&eb->ecfg);
	eb->ecfg.endpoints = cfg->endpoints;
	eb->ecfg.user = cfg->user;
	eb->ecfg.password = cfg->password;
	eb->ecfg.cacert = cfg->cacert;
	eb->ecfg.cert = cfg->cert;
	eb->ecfg.key = cfg->key;
	eb->ecfg.call_timeout =
	    cfg->write_timeout > 0 ? cfg->write_timeout : 5.0;
	if ((eb->client = etcd_new(base, &eb->ecfg, err, errlen)) == NULL) {
		free(eb);
		return NULL;
	}
	/* The private load loop makes clients of its own from ecfg. */
	eb->ecfg.endpoints = xstrdup(cfg->endpoints);
	eb->ecfg.user = cfg->user ? xstrdup(cfg->user) : NULL;
	eb->ecfg.password = cfg->password ? xstrdup(cfg->password) : NULL;
	eb->ecfg.cacert = cfg->cacert ? xstrdup(cfg->cacert) : NULL;
	eb->ecfg.cert = cfg->cert ? xstrdup(cfg->cert) : NULL;
	eb->ecfg.key = cfg->key ? xstrdup(cfg->key) : NULL;
	eb->prefix = xstrdup(prefix);
	eb->prefixlen = strlen(prefix);
	eb->kprefix = xasprintf("%sk/", prefix);
	eb->kprefixlen = strlen(eb->kprefix);
	eb->meta = xasprintf("%sm", prefix);
	eb->metalen = strlen(eb->meta);
	eb->max_ops =
	    cfg->max_txn_ops ? cfg->max_txn_ops : BACKEND_ETCD_MAX_TXN_OPS;
	eb->max_bytes = cfg->max_request_bytes ? cfg->max_request_bytes
	                                       : BACKEND_ETCD_MAX_REQUEST_BYTES;
	/* The writer id: this host and process, and a random part, so that
	 * a restarted objd never takes an old write for its own. */
	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "host");
	host[sizeof(host) - 1] = '\0';
	snprintf(eb->writer, sizeof(eb->writer), "%s/%ld/%08lx", host,
	    (long)getpid(), (unsigned long)random());
	for (char *p = eb->writer; *p; p++)
		if (*p == ' ')
			*p = '_';
	eb->rewatch = evtimer_new(base, on_rewatch, eb);
	eb->catch_up = evtimer_new(base, on_catch_up, eb);
	eb->fetch_retry = evtimer_new(base, on_fetch_retry, eb);
	eb->barrier_check = event_new(base, -1, 0, on_barrier_check, eb);
	eb->renew = event_new(base, -1, EV_PERSIST, on_renew, eb);
	if (eb->rewatch == NULL || eb->catch_up == NULL ||
	    eb->fetch_retry == NULL || eb->barrier_check == NULL ||
	    eb->renew == NULL || event_add(eb->renew, &renew_tv) == -1)
		fatalx("etcd: out of resources");
	eb->leased = store_new();
	eb->live_holders = cfg->live_holders;
	do
		eb->rng = store_random_seed(eb);
	while (eb->rng == 0);
	eb->seed = store_random_seed(&eb->seed);
	if ((eb->max_staleness = cfg->max_staleness) > 0) {
		double every = eb->max_staleness / 4;
		struct timeval tv = { (time_t)every,
			(suseconds_t)((every - (double)(time_t)every) * 1e6) };

		eb->heartbeat =
		    event_new(base, -1, EV_PERSIST, on_heartbeat, eb);
		if (eb->heartbeat == NULL ||
		    event_add(eb->heartbeat, &tv) == -1)
			fatalx("etcd: out of resources");
	}
	return &eb->be;
}

void
backend_etcd_resync(struct backend *be)
{
	resync(EB(be));
}

void
backend_etcd_stats(const struct backend *be, struct backend_etcd_stats *st)
{
	const struct etcd_backend *eb = EB(be);
	struct etcd_stats es;

	etcd_stats(eb->client, &es);
	st->reachable = es.reachable;
	st->since = es.since;
	st->last_contact = es.last_contact;
	st->reconnects = es.reconnects;
	st->endpoint = es.endpoint;
	st->cache_revision = (uint64_t)eb->applied;
	st->etcd_revision = (uint64_t)eb->newest;
	st->cluster_id = eb->cluster_id;
	st->resyncs = eb->resyncs;
	st->txns_out = 0;
	for (size_t i = eb->first; i < eb->ntx; i++)
		st->txns_out += eb->tx[i].state == TX_OUT;
	st->prefix = eb->prefix;
}
