/* SPDX-License-Identifier: ISC */
/* commit.c: group commit.
 *
 * A write is not applied when it arrives: its changes wait in the batch,
 * and other clients go on reading the committed state. When the event loop
 * has handled every request of its turn (loop.c), the batch is handed to
 * the backend (backend.h: the file appends it in one write, and one fsync
 * with --fsync always), and once the backend reports it over, what it made
 * durable is answered, then applied. A change the backend could not make
 * is answered FAILED and not applied: no client ever sees a change that is
 * not durable. Each request waits as a ticket (block.c).
 *
 * A client's further writes join the same batch (a pipeline of sets costs
 * one commit, not one each); every other request of it waits until the
 * batch is answered. So that its answers keep their order, a write that
 * changes nothing, or fails a check, while a batch is open is answered in
 * its place in the batch too (batch_defer): such a waiter takes no
 * revision. Its outcome may rest on pending changes, so if those fail, an
 * OK it was to get becomes FAILED.
 *
 * One batch is in the backend's hands at a time (with --fsync always,
 * while the sync thread syncs it): it is "syncing", still pending, and seen
 * by later writes as it is by its own; the next batch gathers, and is
 * handed over once the first is over (below). If the first fails, the
 * next fails with it, as its writes may rest on the failed ones. Whatever
 * must see every change in the store (reload, stopping) first waits for
 * the batch in flight (batch_settle).
 *
 * Committing the gathered batch the moment a sync ends would split
 * clients that write in a loop into two halves for good: while one half
 * waits in the syncing batch, the other gathers, and every sync carries
 * half of them (50 clients: 25 a sync, always). So after a sync, the
 * next commit waits for the writers that sync answered to write again,
 * or to leave, unless they were already back; for no longer than the
 * sync took, nor than a millisecond (rejoin.c). A sync of all of them
 * costs little more than one of half, so the rate of many durable
 * writers rises by a quarter. The price: a write may wait that long
 * once more. etcd's raft round is such a sync (backend_ops.commits_wait):
 * the Txns of a batch go out at once and share one round. */
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backend.h"
#include "clock.h"
#include "log.h"
#include "objd.h"
#include "rejoin.h"
#include "xmalloc.h"

struct backend *backend;

/* The index of the pending changes by key, so that a write looks up
 * what the batch holds in O(1): open addressing, each slot 1 + the
 * position of the key's latest change, 0 when empty. (Memory runs out
 * long before a batch holds 2^32 changes.) */
#define BATCH_INDEX_MIN 64
/* Past this, the index is dropped with its batch, not cleared: one huge
 * batch (a load) must not make every later commit clear a huge table,
 * nor objd keep it. Below, a few clients' batches of 1,000 keys each
 * keep theirs: an index made again grows through every size, and each
 * growth reads every pending change's entry, cold by then. (A commit
 * of few changes clears their slots only, batch_index_clear.) */
#define BATCH_INDEX_KEEP 65536
/* The arrays of changes and waiters are kept for the next batch up to
 * this many of each, for the same reasons. */
#define BATCH_KEEP 16384

/* A batch of this many changes is large (a load). It leaves a lot of
 * the heap free once it ends: its arrays, its index, its file fragment,
 * the values it replaced, the decoded requests that made it. glibc
 * keeps free pages it cannot give back from the top of the heap, so
 * objd would hold after a load several times what it holds after a
 * restart on the same file. malloc_trim gives them back, once large
 * batches have paused for batch_trim_delay: a trim hands back every free
 * page and the next large batch faults them in again, zeroed. Ten
 * clients' batches of 1,000 keys, committed together, make every commit
 * large, and a trim after each cost more than the batch's own work;
 * under a steady flow of them the pages are the next batch's anyway. */
#define BATCH_LARGE 10000
static const struct timeval batch_trim_delay = { 0, 250000 };

/* The batch handed to the backend and not yet over: still pending, and
 * seen by later writes as it is by its own. */
static struct batch_syncing {
	bool active;
	bool handing;   /* inside the backend's commit */
	double started; /* monotonic */
	struct backend_batch list;
	uint32_t *index;
	size_t nindex;
} syncing;

static struct {
	struct backend_batch list;
	/* The arrays of the last batch answered, kept for the next: a
	 * malloc and a free of each, at each commit, were a twentieth of
	 * the work of a set. */
	struct backend_batch spare;
	uint32_t *index;
	size_t nindex; /* slots: a power of two, at least 2 * nchanges */
	uint64_t seed;
	struct event *trim; /* batch_trim's timer, made at the first */
} batch;

static void batch_commit_now(void);

bool
batch_commit_turn(void)
{
	rejoin_check_departures();
	/* A batch in flight commits this one when it ends, a wait for
	 * writers when it is over, and a compaction's hold once it has
	 * caught up. */
	if (batch.list.ntxns == 0 || syncing.active || rejoin_waiting() ||
	    compact_holds_commits())
		return false;
	batch_commit_now();
	return true;
}

void
batch_init(void)
{
	batch.seed = store_random_seed(&batch);
	/* Only syncs on the sync thread, and a backend's round trips,
	 * make commits wait. */
	if (options.fsync == FSYNC_ALWAYS || backend->ops->commits_wait)
		rejoin_init();
}

void
batch_free(void)
{
	batch_settle();
	rejoin_free();
	free(batch.list.changes);
	free(batch.list.txns);
	free(batch.spare.changes);
	free(batch.spare.txns);
	free(batch.index);
	if (batch.trim != NULL)
		event_free(batch.trim);
	memset(&batch, 0, sizeof(batch));
}

bool
batch_pending(void)
{
	return batch.list.ntxns > 0 || syncing.active;
}

bool
batch_has_changes(void)
{
	return batch.list.nchanges > 0 || syncing.list.nchanges > 0;
}

/* The index slot of key: where it is, or the empty slot it would take. */
static size_t
index_slot(const uint32_t *index, size_t nindex,
    const struct backend_change *changes, const char *key, size_t keylen,
    uint64_t hash)
{
	size_t mask = nindex - 1, i = hash & mask;

	for (;; i = (i + 1) & mask) {
		const struct backend_change *ch;

		if (index[i] == 0)
			return i;
		ch = &changes[index[i] - 1];
		if (ch->hash == hash && ch->entry->keylen == keylen &&
		    memcmp(ch->entry->data, key, keylen) == 0)
			return i;
	}
}

/* Puts the last change in the index, over an earlier one of its key. */
static size_t
batch_index_slot(const char *key, size_t keylen, uint64_t hash)
{
	return index_slot(batch.index, batch.nindex, batch.list.changes, key,
	    keylen, hash);
}

static void
batch_index_add(void)
{
	size_t n = batch.list.nchanges;
	struct backend_change *ch = &batch.list.changes[n - 1];

	if (n * 2 > batch.nindex) {
		free(batch.index);
		batch.nindex =
		    batch.nindex ? batch.nindex * 2 : BATCH_INDEX_MIN;
		while (n * 2 > batch.nindex)
			batch.nindex *= 2;
		batch.index = xcalloc(batch.nindex, sizeof(*batch.index));
		/* In order, so each key's latest change is the one kept. */
		for (size_t i = 0; i + 1 < n; i++) {
			struct backend_change *old = &batch.list.changes[i];

			old->slot = (uint32_t)batch_index_slot(old->entry->data,
			    old->entry->keylen, old->hash);
			batch.index[old->slot] = (uint32_t)i + 1;
		}
	}
	ch->slot = (uint32_t)batch_index_slot(ch->entry->data,
	    ch->entry->keylen, ch->hash);
	batch.index[ch->slot] = (uint32_t)n;
}

/* Empties the index of the n changes just taken from the batch. A
 * batch of a few changes clears their slots only: one big batch leaves
 * the index large, and a memset of all of it would then cost each
 * later commit of a single set more than the rest of its work. */
static void
batch_index_clear(const struct backend_change *changes, size_t n)
{
	if (batch.nindex > BATCH_INDEX_KEEP) {
		free(batch.index);
		batch.index = NULL;
		batch.nindex = 0;
	} else if (batch.index != NULL && n * 8 < batch.nindex) {
		for (size_t i = 0; i < n; i++)
			batch.index[changes[i].slot] = 0;
	} else if (batch.index != NULL)
		memset(batch.index, 0, batch.nindex * sizeof(*batch.index));
}

/* The index of a batch the backend is done with comes back for the
 * next, emptied, unless the next has one already. */
static void
batch_index_return(uint32_t *index, size_t nindex,
    const struct backend_change *changes, size_t n)
{
	if (batch.index != NULL) {
		free(index);
		return;
	}
	batch.index = index;
	batch.nindex = nindex;
	batch_index_clear(changes, n);
}

/* The latest of n changes to key, through their index; NULL if none. */
static const struct backend_change *
index_find(const uint32_t *index, size_t nindex,
    const struct backend_change *changes, size_t n, const char *key,
    size_t keylen, uint64_t hash)
{
	uint32_t at;

	if (n == 0)
		return NULL;
	at = index[index_slot(index, nindex, changes, key, keylen, hash)];
	return at != 0 ? &changes[at - 1] : NULL;
}

const struct store_entry *
batch_lookup(const char *key, size_t keylen, bool *pending)
{
	const struct backend_change *ch;
	uint64_t hash = 0;

	if (batch.list.nchanges > 0 || syncing.list.nchanges > 0)
		hash = store_key_hash(batch.seed, key, keylen);
	ch = index_find(batch.index, batch.nindex, batch.list.changes,
	    batch.list.nchanges, key, keylen, hash);
	if (ch == NULL)
		ch = index_find(syncing.index, syncing.nindex,
		    syncing.list.changes, syncing.list.nchanges, key, keylen,
		    hash);
	*pending = ch != NULL;
	if (ch != NULL)
		return ch->delete ? NULL : ch->entry;
	return store_get(server.store, key, keylen);
}

static struct backend_txn *
batch_wait(struct conn *c, uint64_t id, bool changes)
{
	struct backend_txn *w;

	if (batch.list.ntxns == batch.list.captxns) {
		batch.list.captxns =
		    batch.list.captxns ? batch.list.captxns * 2 : 16;
		batch.list.txns = xreallocarray(batch.list.txns,
		    batch.list.captxns, sizeof(*batch.list.txns));
	}
	if (c != NULL)
		rejoin_count(c);
	w = &batch.list.txns[batch.list.ntxns++];
	*w = (struct backend_txn){ .answer = OBJD__STATUS__OK,
		.changes = changes };
	if (c != NULL) {
		w->ticket = block_park(c, id, BLOCK_JOINS);
		w->origin = (uint32_t)conn_serial(c);
	}
	return w;
}

void
batch_begin(struct conn *c, uint64_t id)
{
	batch_wait(c, id, true);
}

void
batch_begin_own(bool expire)
{
	batch_wait(NULL, 0, true)->expire = expire;
}

bool batch_want_compares;

void
batch_compare(int kind, const char *key, size_t keylen, uint64_t revision)
{
	struct backend_batch *l = &batch.list;
	struct backend_compare *c;

	c = xreallocarray((void *)l->compares, l->ncompares + 1, sizeof(*c));
	c[l->ncompares] = (struct backend_compare){ .txn = l->ntxns - 1,
		.kind = (enum backend_compare_kind)kind,
		.key = key != NULL ? xmemdup(key, keylen) : NULL,
		.keylen = keylen,
		.revision = revision };
	l->compares = c;
	l->ncompares++;
}

static void
batch_compares_free(struct backend_batch *l)
{
	for (size_t i = 0; i < l->ncompares; i++)
		free((char *)l->compares[i].key);
	free((void *)l->compares);
	l->compares = NULL;
	l->ncompares = 0;
}

void
batch_lease(uint64_t deadline, uint64_t holder)
{
	struct backend_txn *w = &batch.list.txns[batch.list.ntxns - 1];

	w->deadline = deadline;
	w->holder = holder;
}

void
batch_defer(struct conn *c, uint64_t id, Objd__Status status, const char *error)
{
	struct backend_txn *w = batch_wait(c, id, false);

	w->answer = status;
	w->error = error != NULL ? xstrdup(error) : NULL;
}

static void
batch_add(struct store_entry *e, bool delete)
{
	if (batch.list.nchanges == batch.list.capchanges) {
		batch.list.capchanges =
		    batch.list.capchanges ? batch.list.capchanges * 2 : 16;
		batch.list.changes = xreallocarray(batch.list.changes,
		    batch.list.capchanges, sizeof(*batch.list.changes));
	}
	batch.list.changes[batch.list.nchanges++] = (struct backend_change){
		.entry = e,
		.txn = batch.list.ntxns - 1,
		.hash = store_key_hash(batch.seed, e->data, e->keylen),
		.delete = delete,
	};
	batch_index_add();
}

void
batch_reserve(size_t n)
{
	size_t want = batch.list.nchanges + n, nindex;

	if (want > batch.list.capchanges) {
		batch.list.capchanges = want;
		batch.list.changes = xreallocarray(batch.list.changes,
		    batch.list.capchanges, sizeof(*batch.list.changes));
	}
	/* The index is made again at its new size: as it would be when
	 * it grew, once instead of at each doubling. */
	nindex = batch.nindex ? batch.nindex : BATCH_INDEX_MIN;
	while (want * 2 > nindex)
		nindex *= 2;
	if (nindex == batch.nindex)
		return;
	free(batch.index);
	batch.nindex = nindex;
	batch.index = xcalloc(batch.nindex, sizeof(*batch.index));
	for (size_t i = 0; i < batch.list.nchanges; i++) {
		struct backend_change *ch = &batch.list.changes[i];

		ch->slot = (uint32_t)batch_index_slot(ch->entry->data,
		    ch->entry->keylen, ch->hash);
		batch.index[ch->slot] = (uint32_t)i + 1;
	}
}

void
batch_add_set(const char *key, size_t keylen, const uint8_t *val, size_t vallen)
{
	batch_add(store_entry_new(key, keylen, val, vallen, 0), false);
}

void
batch_add_entry(struct store_entry *e)
{
	batch_add(e, false);
}

void
batch_add_delete(const char *key, size_t keylen)
{
	batch_add(store_entry_new(key, keylen, NULL, 0, 0), true);
}

void
batch_foreach_set(void (*fn)(const struct store_entry *, void *), void *arg)
{
	for (size_t i = 0; i < syncing.list.nchanges; i++)
		if (!syncing.list.changes[i].delete)
			fn(syncing.list.changes[i].entry, arg);
	for (size_t i = 0; i < batch.list.nchanges; i++)
		if (!batch.list.changes[i].delete)
			fn(batch.list.changes[i].entry, arg);
}

/* Whether t's change was made. */
static bool
txn_made(const struct backend_txn *t)
{
	return t->status == BACKEND_OK;
}

/* Applying a change waits on memory: its key's slot and entry in the
 * store, and with history its ring's header and versions, each a cache
 * miss that a pipeline of sets would otherwise pay one after the other.
 * batch_apply fetches them ahead, in stages: the store's slots
 * BATCH_FETCH_AHEAD changes on, the entries they point to half as far,
 * the rings those entries point to a quarter as far, and the versions
 * an eighth. Each stage looks again from the store (store_peek, in the
 * cache by then), since a change in between may have moved a ring. */
#define BATCH_FETCH_AHEAD 32

struct apply_fetch {
	uint64_t hash; /* the store's, which the history's table shares */
};

static void
fetch_slots(struct apply_fetch *f, const struct store_entry *e)
{
	f->hash = store_prefetch_slot(server.store, e->data, e->keylen);
}

static void
fetch_ahead(struct apply_fetch *ahead, struct backend_change *changes, size_t i,
    size_t n, const struct history *h)
{
	const size_t far = BATCH_FETCH_AHEAD, half = far / 2, quarter = far / 4,
	             eighth = far / 8;

	if (i + eighth < n && history_depth > 0)
		history_prefetch_version(
		    store_peek(server.store, ahead[(i + eighth) % far].hash));
	if (i + quarter < n && history_depth > 0)
		history_prefetch_ring(h,
		    store_peek(server.store, ahead[(i + quarter) % far].hash),
		    ahead[(i + quarter) % far].hash);
	if (i + half < n)
		store_prefetch_entry(server.store,
		    ahead[(i + half) % far].hash);
	if (i + far < n)
		fetch_slots(&ahead[(i + far) % far], changes[i + far].entry);
}

/* e's change in the history, of old, the entry it replaced or deleted;
 * hash is its key's, if fetched (hashed). */
static void
history_apply(struct history *h, const struct store_entry *e, bool hashed,
    uint64_t hash, int64_t time, unsigned what, struct store_entry *old)
{
	if (hashed)
		store_entry_recycle(history_change_hashed(h, e->data, e->keylen,
		    hash, e->revision, time, what, old, true));
	else
		history_change(h, e->data, e->keylen, e->revision, time, what,
		    old, true);
}

/* Applies change i of l, unless its txn was not made (then frees it);
 * the entry replaced or deleted goes into the history h as its key's
 * version before. hash is its key's, if fetched (hashed). True if
 * applied. */
static bool
apply_change(const struct backend_batch *l, size_t i, struct history *h,
    bool hashed, uint64_t hash)
{
	struct backend_change *ch = &l->changes[i];
	const struct backend_txn *w = &l->txns[ch->txn];
	struct store_entry *e = ch->entry;

	if (!txn_made(w)) {
		/* objd's own change is tried again later. */
		if (w->ticket.conn == NULL)
			expire_retry(e->data, e->keylen);
		free(e);
		return false;
	}
	if (ch->delete) {
		struct store_entry *old =
		    store_remove(server.store, e->data, e->keylen);

		history_apply(h, e, hashed, hash, l->time,
		    w->expire ? HISTORY_EXPIRE : HISTORY_DELETE, old);
		watch_changed(e,
		    w->expire ? OBJD__EVENT__TYPE__EXPIRE
		              : OBJD__EVENT__TYPE__DELETE);
		free(e);
	} else {
		struct store_entry *old = hashed
		    ? store_put_hashed(server.store, e, hash)
		    : store_put(server.store, e);

		history_apply(h, e, hashed, hash, l->time, HISTORY_SET, old);
		if (w->deadline != 0 || w->holder != 0)
			store_lease_set(server.store, e->data, e->keylen,
			    w->deadline, w->holder);
		watch_changed(e, OBJD__EVENT__TYPE__SET);
	}
	return true;
}

/* Whether l's made changes come in rising revisions, with no others'
 * to fit in among them: then they are applied as they stand. */
static bool
batch_in_order(const struct backend_batch *l)
{
	uint64_t last = 0;

	if (l->nothers > 0)
		return false;
	for (size_t i = 0; i < l->ntxns; i++) {
		const struct backend_txn *w = &l->txns[i];

		if (!w->changes || !txn_made(w))
			continue;
		if (w->revision < last)
			return false;
		last = w->revision;
	}
	return true;
}

/* One change to apply, of the batch's own or of others'. */
struct apply_step {
	uint64_t revision;
	size_t order; /* ties keep the order the steps were listed in */
	const struct backend_batch *b;
	size_t i;
};

static int
step_cmp(const void *a, const void *b)
{
	const struct apply_step *x = a, *y = b;

	if (x->revision != y->revision)
		return x->revision < y->revision ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Applies l's changes and its others' in the order of their revisions:
 * the txns of a batch that etcd made at once may have taken theirs in
 * any order, and watchers must see them rise. */
static size_t
batch_apply_sorted(const struct backend_batch *l, struct history *h)
{
	size_t n = l->nchanges, k = 0, applied = 0;
	struct apply_step *steps;

	for (size_t o = 0; o < l->nothers; o++)
		n += l->others[o].nchanges;
	steps = xcalloc(n, sizeof(*steps));
	for (size_t i = 0; i < l->nchanges; i++, k++)
		steps[k] = (struct apply_step){
			.revision = l->txns[l->changes[i].txn].revision,
			.order = k,
			.b = l,
			.i = i,
		};
	for (size_t o = 0; o < l->nothers; o++)
		for (size_t i = 0; i < l->others[o].nchanges; i++, k++)
			steps[k] = (struct apply_step){
				.revision =
				    l->others[o]
				        .txns[l->others[o].changes[i].txn]
				        .revision,
				.order = k,
				.b = &l->others[o],
				.i = i,
			};
	qsort(steps, n, sizeof(*steps), step_cmp);
	for (size_t i = 0; i < n; i++)
		applied += apply_change(steps[i].b, steps[i].i, h, false, 0);
	free(steps);
	return applied;
}

/* Applies the changes; each replaced or deleted entry's value goes into
 * the history as the value of its key's version before. */
static void
batch_apply(const struct backend_batch *l)
{
	struct backend_change *changes = l->changes;
	struct history *h = store_history(server.store);
	struct apply_fetch ahead[BATCH_FETCH_AHEAD];
	size_t sets = 0, applied = 0, n = l->nchanges;

	/* A large change (a load) sizes the table once, for the keys
	 * there are or the keys it sets, whichever are more: as many as a
	 * restart would size it for, and no more. */
	for (size_t i = 0; i < n && n >= BATCH_LARGE && l->revision > l->base;
	     i++)
		sets += !changes[i].delete;
	if (sets > store_count(server.store))
		store_reserve(server.store, sets);
	if (!batch_in_order(l)) {
		if (batch_apply_sorted(l, h) > 0)
			history_times_trim(h, server.store);
		return;
	}
	/* A change or two gain nothing from it. */
	if (n > 2)
		for (size_t i = 0; i < n && i < BATCH_FETCH_AHEAD; i++)
			fetch_slots(&ahead[i], changes[i].entry);
	for (size_t i = 0; i < n; i++) {
		/* Read before fetch_ahead takes its place for a change on. */
		uint64_t hash = n > 2 ? ahead[i % BATCH_FETCH_AHEAD].hash : 0;

		if (n > 2)
			fetch_ahead(ahead, changes, i, n, h);
		applied += apply_change(l, i, h, n > 2, hash);
	}
	if (applied > 0)
		history_times_trim(h, server.store);
}

/* Keeps l's arrays for the next batch if there are none, and they are
 * not the large ones of a huge batch; frees them otherwise. */
static void
batch_recycle(struct backend_batch *l)
{
	struct backend_batch *spare = &batch.spare;

	if (spare->changes == NULL && spare->txns == NULL &&
	    l->capchanges <= BATCH_KEEP && l->captxns <= BATCH_KEEP) {
		*spare = *l;
		spare->nchanges = spare->ntxns = 0;
	} else {
		free(l->changes);
		free(l->txns);
	}
	memset(l, 0, sizeof(*l));
}

#ifdef HAVE_MALLOC_TRIM
static void *
batch_trim_main(void *arg)
{
	(void)arg;
	malloc_trim(0);
	return NULL;
}

/* Hands the heap's free pages back, on a thread of its own: a trim
 * walks the whole heap, which the loop need not wait for. */
static void
batch_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (!run_behind(batch_trim_main, NULL))
		malloc_trim(0);
}
#endif

/* After a large batch, (re)arms the trim: it comes batch_trim_delay
 * after the last of a run of large batches. */
static void
batch_trim(size_t nchanges)
{
#ifdef HAVE_MALLOC_TRIM
	if (nchanges < BATCH_LARGE)
		return;
	if (batch.trim == NULL &&
	    (batch.trim = evtimer_new(server.base, batch_trim_cb, NULL)) ==
	        NULL) {
		batch_trim_cb(-1, 0, NULL);
		return;
	}
	if (evtimer_add(batch.trim, &batch_trim_delay) == -1)
		batch_trim_cb(-1, 0, NULL);
#else
	(void)nchanges;
#endif
}

/* The answer to t, whose batch failed (failed) or not. */
static Objd__Status
txn_answer(const struct backend_txn *t, bool failed, const char **error,
    const char *batch_error)
{
	if (t->changes && t->status == BACKEND_CONFLICT) {
		*error = batch_error;
		return OBJD__STATUS__CONFLICT;
	}
	/* Past a limit of the backend (etcd's): that request alone. */
	if (t->changes && t->status == BACKEND_INVALID) {
		*error = t->error != NULL ? t->error : batch_error;
		return OBJD__STATUS__INVALID;
	}
	/* A deferred OK may rest on the failed changes before it. */
	if ((t->changes && !txn_made(t)) ||
	    (failed && !t->changes && t->answer == OBJD__STATUS__OK)) {
		*error = batch_error;
		return OBJD__STATUS__FAILED;
	}
	*error = t->error;
	return t->answer;
}

/* Ends a batch the backend is done with: applies the changes made,
 * frees the others, and answers each request. failed: a change of it
 * could not be made (not a conflict), so the answers deferred in it
 * may rest on a change that is not there. */
static void
batch_finish(struct backend_batch *l, bool failed)
{
	size_t nchanges = l->nchanges;
	uint64_t before = l->base, top = l->revision;
	bool advanced;

	for (size_t o = 0; o < l->nothers; o++)
		if (l->others[o].revision > top)
			top = l->others[o].revision;
	advanced = top > before;
	/* Every answer is out before any client resumes: a client that
	 * resumed early could be answered at once, ahead of its own answers
	 * still further down this batch. */
	for (size_t i = 0; i < l->ntxns; i++) {
		struct backend_txn *w = &l->txns[i];
		const char *error;
		Objd__Status st = txn_answer(w, failed, &error,
		    l->error != NULL ? l->error : "the change was not made");

		block_answer(&w->ticket, st, error,
		    failed || (w->changes && !txn_made(w)) ? before
		                                           : w->revision);
		free(w->error);
	}
	batch_compares_free(l);
	/* The answers are written before the changes are applied: nothing
	 * reads the object in between, and a client need not wait for the
	 * store, the watch history and the frees as well. */
	for (size_t i = 0; i < l->ntxns; i++)
		block_flush(&l->txns[i].ticket);
	batch_apply(l);
	if (advanced) {
		store_set_revision(server.store, top);
		server.last_save = now_wall();
		server.commits++;
	}
	/* A client's last ticket resumes it; until then its tickets keep
	 * it allocated. */
	for (size_t i = 0; i < l->ntxns; i++)
		block_release(&l->txns[i].ticket);
	if (advanced)
		expire_changed();
	free(l->error);
	batch_recycle(l);
	batch_trim(nchanges);
	if (advanced)
		compact_maybe();
}

static void
write_failed(const char *err, uint64_t changes)
{
	log_warnx("%s; %llu change(s) refused", err,
	    (unsigned long long)changes);
	free(server.last_write_error);
	server.last_write_error = xstrdup(err);
}

/* Takes the open batch's changes and waiters, and leaves it empty:
 * answering them resumes clients, which may open it again. */
static void
batch_take(struct backend_batch *l)
{
	*l = batch.list;
	batch.list = batch.spare;
	memset(&batch.spare, 0, sizeof(batch.spare));
}

/* Every txn of l failed with error: none is handed to the backend. */
static void
batch_fail_all(struct backend_batch *l, const char *error)
{
	l->base = l->revision = store_revision(server.store);
	l->error = xstrdup(error);
	for (size_t i = 0; i < l->ntxns; i++) {
		l->txns[i].status = BACKEND_FAILED;
		l->txns[i].revision = l->base;
	}
}

/* The backend is done with b (the batch in flight, or one it made
 * durable at once): whatever gathered meanwhile is committed at the
 * end of this turn. */
void
batch_committed(struct backend_batch *b)
{
	bool later = !syncing.handing;
	struct backend_batch done = *b, gathered;
	double took = later ? now_monotonic() - syncing.started : 0;
	uint64_t refused = 0;

	/* Answering resumes clients, whose writes must no longer see it. */
	batch_index_return(syncing.index, syncing.nindex, done.changes,
	    done.nchanges);
	syncing.active = false;
	syncing.index = NULL;
	syncing.nindex = 0;
	syncing.list.nchanges = syncing.list.ntxns = 0;
	gathered.ntxns = 0;
	for (size_t i = 0; i < done.ntxns; i++)
		refused += done.txns[i].changes &&
		    done.txns[i].status != BACKEND_OK &&
		    done.txns[i].status != BACKEND_CONFLICT &&
		    done.txns[i].status != BACKEND_INVALID;
	if (refused > 0) {
		if (done.error == NULL)
			done.error = xstrdup("the change was not made");
		write_failed(done.error, refused);
		/* The batch gathered meanwhile may rest on the failed one:
		 * it goes too. */
		if (later && batch.list.ntxns > 0) {
			log_warnx("%zu write(s) that came during the failed "
			          "sync refused too",
			    batch.list.ntxns);
			batch_take(&gathered);
			batch_index_clear(gathered.changes, gathered.nchanges);
			batch_fail_all(&gathered, done.error);
		}
	} else if (done.revision > done.base) {
		free(server.last_write_error);
		server.last_write_error = NULL;
	}
	/* Before the answers: they may resume clients that write again. */
	if (later && refused == 0)
		rejoin_start(&done, &batch.list, took);
	batch_finish(&done, refused > 0);
	if (gathered.ntxns > 0)
		batch_finish(&gathered, true);
}

void
batch_others_committed(const struct backend_batch *b)
{
	/* Changes made elsewhere land between two of objd's own batches:
	 * the loop's, with nothing in flight, so nothing pending rests on
	 * a state they change. */
	batch_apply(b);
	if (b->revision > store_revision(server.store))
		store_set_revision(server.store, b->revision);
	expire_changed();
}

/* Hands the open batch to the backend. Its changes are numbered only
 * now (by the backend), so a reload in between cannot skew them. */
static void
batch_commit_now(void)
{
	struct backend_batch *l = &syncing.list;

	if (batch.list.ntxns == 0)
		return;
	rejoin_stop();
	batch_take(l);
	l->time = (int64_t)now_wall();
	l->base = l->revision = store_revision(server.store);
	l->error = NULL;
	l->others = NULL;
	l->nothers = 0;
	/* Its index stays with it, for batch_lookup. */
	syncing.active = true;
	syncing.index = batch.index;
	syncing.nindex = batch.nindex;
	batch.index = NULL;
	batch.nindex = 0;
	/* batch_committed may run before this returns. */
	syncing.handing = true;
	backend->ops->commit(backend, l);
	syncing.handing = false;
	/* Still in flight (a sync on its thread): the rejoin wait is as long
	 * as it takes from here. */
	if (syncing.active)
		syncing.started = now_monotonic();
}

void
batch_settle(void)
{
	if (syncing.active)
		backend->ops->settle(backend);
}

void
batch_commit(void)
{
	batch_settle();
	batch_commit_now();
	batch_settle();
	/* Nor does the next commit wait for writers: the wait holds them,
	 * and objd stopping frees every connection next. */
	rejoin_stop();
}
