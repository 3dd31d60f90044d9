/* SPDX-License-Identifier: ISC */
/* history.c: the past versions of each key (objd --history N).
 *
 * Each key that was ever set has a ring of its last N versions: the
 * revision, time and kind of each change, and for a set the value it
 * wrote. The newest version of a key that exists is its store entry, so
 * its value is not kept twice: when a set replaces the entry, or a
 * delete takes it out, the old value goes into the ring as the value of
 * the version before, copied if it is a few bytes (the entry is freed,
 * for the next set to reuse while warm), else the old entry itself
 * moves there. A change costs a slot of the ring, which it reuses once
 * the ring holds N.
 *
 * A key set once has no ring: its one version is its store entry,
 * whose revision is the version's, and its time is found in a list of
 * commit times shared by all keys (one pair of revision and time for
 * each second in which such keys were set). Its ring is made at its
 * second change. A ring is one allocation with its key, made with
 * HISTORY_RING_FIRST slots and grown fourfold up to N: each growth
 * copies the ring and its key into a new allocation, and a key that is
 * changed again and again would otherwise pay that at its 3rd, 5th, 9th,
 * 17th... change. Rings are found by key
 * through an open-addressing table, as the store's entries are; a
 * deleted key keeps its ring, for history and get --at. A change finds
 * the ring through the store entry it replaces (store_entry.ring), which
 * store_put hands on to the entry after it: the table is searched only
 * for a key whose entry does not know its ring, and a ring that is made
 * or moved is told to the key's live entry.
 *
 * This is not watch.c's ring of recent events: that one is global and
 * bounded in events, for watchers to resume; this one is per key and
 * outlives restarts, through the object file (objfile.c). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "objd.h"
#include "xmalloc.h"

#define HISTORY_MIN_SLOTS 16
/* A ring's slots when a key's second change makes it, and how many
 * times larger it grows when full: a version costs 24 bytes, an
 * allocation and a copy of the ring far more. */
#define HISTORY_RING_FIRST 4
#define HISTORY_RING_GROWTH 4
/* A version as a snapshot writes it costs about this much besides its
 * value: tags, lengths, revision and time. */
#define HISTORY_VERSION_FILE_COST 16

size_t history_depth = HISTORY_DEPTH_DEFAULT;
uint64_t history_key_bytes = HISTORY_BYTES_DEFAULT;

/* A commit time: the changes from revision on, until the next pair's,
 * were committed at time. */
struct history_time {
	uint64_t revision;
	int64_t time;
};

/* The list of times is trimmed when it has this many pairs, and then
 * at twice as many as were left. */
#define HISTORY_TIMES_TRIM 1024

struct history {
	struct store *store;        /* whose entries point at the rings */
	struct history_time *times; /* by revision */
	size_t ntimes, captimes, trim_at;
	/* A key without ring whose entry is newer than this revision was
	 * set once, its past known (absent); an older one came from a
	 * file without its past. */
	uint64_t known_since;
	struct key_history **slots;
	size_t nslots; /* a power of two */
	size_t count;
	uint64_t seed;
	uint64_t bytes; /* estimate of the versions' size in a snapshot */
};

struct history *
history_new(struct store *store, uint64_t seed)
{
	struct history *h = xcalloc(1, sizeof(*h));

	h->store = store;
	h->nslots = HISTORY_MIN_SLOTS;
	h->slots = xcalloc(h->nslots, sizeof(*h->slots));
	h->seed = seed;
	h->trim_at = HISTORY_TIMES_TRIM;
	return h;
}

static void
version_clear(struct history_version *v)
{
	if (v->vlen == HISTORY_IN_ENTRY)
		free(v->val.entry);
	memset(v, 0, sizeof(*v));
}

bool
history_version_stored(const struct history_version *v, const uint8_t **val,
    size_t *vallen)
{
	if (v->vlen == HISTORY_NO_VALUE)
		return false;
	if (v->vlen == HISTORY_IN_ENTRY) {
		*val = STORE_ENTRY_VALUE(v->val.entry);
		*vallen = v->val.entry->vallen;
	} else {
		*val = v->val.bytes;
		*vallen = v->vlen;
	}
	return true;
}

/* v keeps old's value: a copy if short, else old. Returns old if it is
 * spent (copied), for the caller to free or reuse, else NULL. */
static struct store_entry *
version_keep(struct history *h, struct key_history *kh,
    struct history_version *v, struct store_entry *old)
{
	h->bytes += old->vallen;
	kh->vbytes += old->vallen;
	if (old->vallen <= HISTORY_INLINE) {
		memcpy(v->val.bytes, STORE_ENTRY_VALUE(old), old->vallen);
		v->vlen = (uint8_t)old->vallen;
		return old;
	}
	v->val.entry = old;
	v->vlen = HISTORY_IN_ENTRY;
	return NULL;
}

static void
key_history_free(struct key_history *kh)
{
	for (uint32_t i = 0; i < kh->count; i++)
		version_clear(HISTORY_AT(kh, i));
	free(kh);
}

void
history_free(struct history *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->nslots; i++)
		if (h->slots[i] != NULL)
			key_history_free(h->slots[i]);
	free(h->slots);
	free(h->times);
	free(h);
}

static void
note_time(struct history *h, uint64_t revision, int64_t time)
{
	if (h->ntimes > 0 && h->times[h->ntimes - 1].time == time)
		return;
	if (h->ntimes == h->captimes) {
		h->captimes = h->captimes ? h->captimes * 2 : 64;
		h->times =
		    xreallocarray(h->times, h->captimes, sizeof(*h->times));
	}
	h->times[h->ntimes].revision = revision;
	h->times[h->ntimes].time = time;
	h->ntimes++;
}

int64_t
history_time_of(const struct history *h, uint64_t revision)
{
	size_t lo = 0, hi = h->ntimes;

	if (revision <= h->known_since)
		return 0;
	/* The last pair at or before revision. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (h->times[mid].revision <= revision)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 ? h->times[lo - 1].time : 0;
}

bool
history_born(const struct history *h, const struct store_entry *e)
{
	return h != NULL && history_depth > 0 && e->revision > h->known_since;
}

uint64_t
history_known_since(const struct history *h)
{
	return h->known_since;
}

void
history_set_known_since(struct history *h, uint64_t revision)
{
	h->known_since = revision;
}

size_t
history_times_count(const struct history *h)
{
	return h->ntimes;
}

void
history_times_get(const struct history *h, size_t i, uint64_t *revision,
    int64_t *time)
{
	*revision = h->times[i].revision;
	*time = h->times[i].time;
}

void
history_times_add(struct history *h, uint64_t revision, int64_t time)
{
	if (h->ntimes == 0 || revision > h->times[h->ntimes - 1].revision)
		note_time(h, revision, time);
}

size_t
history_times_first(const struct history *h, uint64_t oldest)
{
	size_t lo = 0, hi = h->ntimes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (h->times[mid].revision <= oldest)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 ? lo - 1 : 0;
}

struct oldest_single {
	const struct history *h;
	uint64_t oldest;
};

static void
oldest_single_entry(const struct store_entry *e, void *arg)
{
	struct oldest_single *o = arg;

	if (e->revision < o->oldest && e->revision > o->h->known_since &&
	    history_get(o->h, e->data, e->keylen) == NULL)
		o->oldest = e->revision;
}

uint64_t
history_oldest_single(const struct history *h, const struct store *s)
{
	struct oldest_single o = { h, UINT64_MAX };

	store_foreach(s, oldest_single_entry, &o);
	return o.oldest;
}

void
history_times_trim(struct history *h, const struct store *s)
{
	size_t first;

	if (h == NULL || h->ntimes < h->trim_at)
		return;
	/* Only keys without a ring read the list: the pair of the oldest
	 * one's revision is the first still needed. */
	first = history_times_first(h, history_oldest_single(h, s));
	memmove(h->times, h->times + first,
	    (h->ntimes - first) * sizeof(*h->times));
	h->ntimes -= first;
	h->trim_at = h->ntimes * 2 > HISTORY_TIMES_TRIM ? h->ntimes * 2
	                                                : HISTORY_TIMES_TRIM;
}

size_t
history_count(const struct history *h)
{
	return h->count;
}

uint64_t
history_bytes(const struct history *h)
{
	return h->bytes;
}

static size_t
find_slot(const struct history *h, const char *key, size_t keylen,
    uint64_t hash)
{
	size_t mask = h->nslots - 1, i = hash & mask;

	for (;; i = (i + 1) & mask) {
		const struct key_history *kh = h->slots[i];

		if (kh == NULL ||
		    (kh->hash == hash && kh->keylen == keylen &&
		        memcmp(HISTORY_KEY(kh), key, keylen) == 0))
			return i;
	}
}

struct key_history *
history_get(const struct history *h, const char *key, size_t keylen)
{
	if (h == NULL)
		return NULL;
	return history_get_hashed(h, key, keylen,
	    history_key_hash(h, key, keylen));
}

uint64_t
history_key_hash(const struct history *h, const char *key, size_t keylen)
{
	return store_key_hash(h->seed, key, keylen);
}

void
history_prefetch_slot_ring(const struct history *h, uint64_t hash)
{
	const struct key_history *kh = h->slots[hash & (h->nslots - 1)];

	/* The first the search compares: its hash, length and key. */
	if (kh != NULL)
		__builtin_prefetch(kh);
}

struct key_history *
history_get_hashed(const struct history *h, const char *key, size_t keylen,
    uint64_t hash)
{
	return h->slots[find_slot(h, key, keylen, hash)];
}

static void
grow_table(struct history *h)
{
	struct key_history **old = h->slots;
	size_t oldn = h->nslots;

	h->nslots *= 2;
	h->slots = xcalloc(h->nslots, sizeof(*h->slots));
	for (size_t i = 0; i < oldn; i++) {
		size_t j;

		if (old[i] == NULL)
			continue;
		for (j = old[i]->hash & (h->nslots - 1); h->slots[j] != NULL;
		     j = (j + 1) & (h->nslots - 1))
			;
		h->slots[j] = old[i];
	}
	free(old);
}

/* A ring of cap slots holding kh's versions (none if kh is NULL) from
 * its start, and the key. */
static struct key_history *
key_history_alloc(const char *key, size_t keylen, uint64_t hash, uint32_t cap,
    const struct key_history *kh)
{
	struct key_history *n;

	/* The ring after the key, aligned for its members. */
	size_t at = (sizeof(*n) + keylen + 1 + 7) & ~(size_t)7;

	n = xmalloc(at + cap * sizeof(n->ring[0]));
	n->ring = (struct history_version *)((char *)n + at);
	n->hash = hash;
	n->keylen = (uint32_t)keylen;
	n->cap = cap;
	n->head = 0;
	n->count = 0;
	n->truncated = false;
	n->vbytes = 0;
	if (kh != NULL) {
		n->truncated = kh->truncated;
		n->vbytes = kh->vbytes;
		/* The ring in at most two runs: from head to its end, then
		 * from its start. */
		uint32_t first = kh->cap - kh->head < kh->count
		    ? kh->cap - kh->head
		    : kh->count;

		memcpy(n->ring, kh->ring + kh->head,
		    first * sizeof(n->ring[0]));
		memcpy(n->ring + first, kh->ring,
		    (kh->count - first) * sizeof(n->ring[0]));
		n->count = kh->count;
	}
	memcpy(HISTORY_KEY(n), key, keylen);
	HISTORY_KEY(n)[keylen] = '\0';
	return n;
}

/* key's ring, made in slot i (find_slot's for hash) if it has none. */
static struct key_history *
ring_at(struct history *h, const char *key, size_t keylen, uint64_t hash,
    size_t i, uint32_t cap)
{
	struct key_history *kh;

	if (cap > history_depth)
		cap = (uint32_t)history_depth;
	if (h->slots[i] != NULL)
		return h->slots[i];
	kh = h->slots[i] =
	    key_history_alloc(key, keylen, hash, cap > 0 ? cap : 1, NULL);
	h->bytes += keylen + HISTORY_VERSION_FILE_COST;
	if (++h->count * 4 > h->nslots * 3)
		grow_table(h);
	return kh;
}

static struct key_history *
ring_for(struct history *h, const char *key, size_t keylen)
{
	uint64_t hash = store_key_hash(h->seed, key, keylen);

	return ring_at(h, key, keylen, hash, find_slot(h, key, keylen, hash),
	    1);
}

/* kh's slot in the table. */
static size_t
slot_of(const struct history *h, const struct key_history *kh)
{
	size_t mask = h->nslots - 1, i = kh->hash & mask;

	while (h->slots[i] != kh)
		i = (i + 1) & mask;
	return i;
}

/* The live entry of kh's key, if there is one, points at kh. */
static void
link_entry(const struct history *h, struct key_history *kh)
{
	struct store_entry *e;

	if (h->store != NULL &&
	    (e = store_get_hashed(h->store, HISTORY_KEY(kh), kh->keylen,
	         kh->hash)) != NULL)
		e->ring = kh;
}

static void
drop_oldest(struct history *h, struct key_history *kh)
{
	struct history_version *v = HISTORY_AT(kh, 0);
	const uint8_t *val;
	size_t vallen;

	if (history_version_stored(v, &val, &vallen)) {
		h->bytes -= vallen;
		kh->vbytes -= vallen;
	}
	h->bytes -= HISTORY_VERSION_FILE_COST;
	/* On the loop, unlike key_history_free: the history of changes may
	 * keep the entry (watch_adopt). */
	if (v->vlen == HISTORY_IN_ENTRY) {
		store_entry_free(v->val.entry);
		v->vlen = HISTORY_NO_VALUE;
	}
	version_clear(v);
	kh->head = (kh->head + 1) % kh->cap;
	kh->count--;
	kh->truncated = true;
}

/* Large values: past the byte bound, the oldest versions go, the newest
 * two (the current one and the value before it) always stay, so that a
 * key rewritten with megabytes keeps a little history, not N times its
 * size in memory and in every snapshot. */
static void
trim_bytes(struct history *h, struct key_history *kh)
{
	while (kh->vbytes > history_key_bytes && kh->count > 2)
		drop_oldest(h, kh);
}

/* Room for one more version at the end of kh, which may move to grow
 * (its caller then tells the key's live entry): the oldest goes when it
 * holds history_depth. */
static struct key_history *
make_room(struct history *h, struct key_history *kh)
{
	struct key_history *n;

	while (kh->count >= history_depth && kh->count > 0)
		drop_oldest(h, kh);
	if (kh->count < kh->cap)
		return kh;
	n = key_history_alloc(HISTORY_KEY(kh), kh->keylen, kh->hash,
	    (size_t)kh->cap * HISTORY_RING_GROWTH < history_depth
	        ? kh->cap * HISTORY_RING_GROWTH
	        : (uint32_t)history_depth,
	    kh);
	h->slots[slot_of(h, kh)] = n;
	free(kh);
	return n;
}

/* Writes the version v, kh's new newest, whose value is the store's
 * entry until a change keeps it. */
static void
version_set(struct history *h, struct key_history *kh,
    struct history_version *v, uint64_t revision, int64_t time, unsigned what)
{
	v->revision = revision;
	v->time = time > 0 && time <= (int64_t)UINT32_MAX ? (uint32_t)time : 0;
	v->what = (uint8_t)what;
	v->vlen = HISTORY_NO_VALUE;
	kh->count++;
	h->bytes += HISTORY_VERSION_FILE_COST;
}

/* Returns entry if spent, as version_keep. */
static struct store_entry *
push(struct history *h, struct key_history *kh, uint64_t revision, int64_t time,
    unsigned what, struct store_entry *entry)
{
	struct history_version *v = HISTORY_AT(kh, kh->count);

	version_set(h, kh, v, revision, time, what);
	return entry != NULL ? version_keep(h, kh, v, entry) : NULL;
}

/* The newest version, if it is a set whose value is the store's entry. */
static struct history_version *
newest_current(struct key_history *kh)
{
	struct history_version *v;

	if (kh->count == 0)
		return NULL;
	v = HISTORY_AT(kh, kh->count - 1);
	return v->what == HISTORY_SET && v->vlen == HISTORY_NO_VALUE ? v : NULL;
}

/* The index in kh's ring of its version i (at most its cap): HISTORY_AT's,
 * without a division on the path of every change. */
static inline uint32_t
ring_index(const struct key_history *kh, uint32_t i)
{
	uint32_t j = kh->head + i;

	return j >= kh->cap ? j - kh->cap : j;
}

/* The hot part of a ring's header (struct key_history, head to ring). */
#define HISTORY_HOT_BYTES 32
_Static_assert(offsetof(struct key_history, ring) +
            sizeof(struct history_version *) <=
        HISTORY_HOT_BYTES,
    "what a change reads of a ring's header fits HISTORY_HOT_BYTES");

void
history_prefetch_ring(const struct history *h, const struct store_entry *e,
    uint64_t hash)
{
	const struct key_history *kh = e != NULL ? e->ring : NULL;

	/* A change finds the ring through the entry it replaces, not the
	 * table, whose slot would be one more wait on memory; a key
	 * without ring looks in the table, to make one or find a deleted
	 * key's. */
	if (kh == NULL) {
		__builtin_prefetch(&h->slots[hash & (h->nslots - 1)]);
		return;
	}
	/* A ring is 16-byte aligned: what a change reads of its header is
	 * in one cache line unless the ring starts 48 bytes into it. A
	 * fetch of a line not needed would hold a fill buffer that the
	 * fetches of other changes wait for. */
	__builtin_prefetch(kh);
	if (((uintptr_t)kh & 63) > 64 - HISTORY_HOT_BYTES)
		__builtin_prefetch((const char *)kh + 64);
}

void
history_prefetch_version(const struct store_entry *e)
{
	const struct key_history *kh = e != NULL ? e->ring : NULL;
	const struct history_version *last, *next;

	/* The newest version, which a change reads, and the slot after
	 * it, which it writes (the same cache line, more often than not):
	 * kh's header is in the cache by now. */
	if (kh == NULL || kh->count == 0)
		return;
	last = &kh->ring[ring_index(kh, kh->count - 1)];
	next = kh->count < kh->cap ? &kh->ring[ring_index(kh, kh->count)]
	                           : &kh->ring[kh->head];
	__builtin_prefetch(last);
	if (((uintptr_t)last & ~(uintptr_t)63) !=
	    (((uintptr_t)(next + 1) - 1) & ~(uintptr_t)63))
		__builtin_prefetch(next);
}

/* The change of a key whose ring has room and whose newest version is
 * its current entry, old: nearly every change of a key changed before.
 * What history_change_hashed does then, without the look-ups and
 * branches of the rest (a ring made, grown or cut, a first version).
 * False if kh is not in that state; else true, and *spent is as
 * version_keep returns. */
static bool
change_in_place(struct history *h, struct key_history *kh, uint64_t revision,
    int64_t time, unsigned what, struct store_entry *old,
    struct store_entry **spent)
{
	uint32_t n = kh->count, last, next;
	struct history_version *cur, *v;

	if (n == 0 || n >= kh->cap || n >= history_depth)
		return false;
	last = ring_index(kh, n - 1);
	cur = &kh->ring[last];
	if (cur->what != HISTORY_SET || cur->vlen != HISTORY_NO_VALUE)
		return false;
	next = last + 1 == kh->cap ? 0 : last + 1;
	*spent = version_keep(h, kh, cur, old);
	v = &kh->ring[next];
	version_set(h, kh, v, revision, time, what);
	if (kh->vbytes > history_key_bytes)
		trim_bytes(h, kh);
	return true;
}

void
history_change(struct history *h, const char *key, size_t keylen,
    uint64_t revision, int64_t time, unsigned what, struct store_entry *old,
    bool known)
{
	if (h == NULL || history_depth == 0) {
		store_entry_free(old);
		return;
	}
	free(history_change_hashed(h, key, keylen,
	    store_key_hash(h->seed, key, keylen), revision, time, what, old,
	    known));
}

struct store_entry *
history_change_hashed(struct history *h, const char *key, size_t keylen,
    uint64_t hash, uint64_t revision, int64_t time, unsigned what,
    struct store_entry *old, bool known)
{
	struct key_history *kh, *was;
	struct history_version *cur;
	struct store_entry *spent = NULL;
	size_t slot;

	if (h == NULL || history_depth == 0)
		return old;
	was = old != NULL ? old->ring : NULL;
	if (was != NULL &&
	    change_in_place(h, was, revision, time, what, old, &spent))
		return spent;
	if (was != NULL)
		kh = was;
	else {
		slot = find_slot(h, key, keylen, hash);
		if (h->slots[slot] == NULL && old == NULL) {
			/* A new key: its version is its entry, its time in
			 * the list. A delete of a key never set leaves
			 * nothing. */
			if (what == HISTORY_SET && known)
				note_time(h, revision, time);
			else if (what == HISTORY_SET) {
				kh = ring_at(h, key, keylen, hash, slot, 1);
				kh->truncated = true;
				kh = make_room(h, kh);
				push(h, kh, revision, time, what, NULL);
				link_entry(h, kh);
			}
			return NULL;
		}
		/* A key's second change makes its ring with both
		 * versions. */
		kh = ring_at(h, key, keylen, hash, slot,
		    old != NULL ? HISTORY_RING_FIRST : 1);
	}
	if (kh->count == 0 && !known)
		kh->truncated = true;
	if (old != NULL) {
		/* The replaced entry is the value of the version before: the
		 * newest, unless the key had no ring yet, which then starts
		 * with it (and its time from the list). */
		if ((cur = newest_current(kh)) != NULL)
			spent = version_keep(h, kh, cur, old);
		else {
			bool born = kh->count == 0 && known &&
			    old->revision > h->known_since;

			kh = make_room(h, kh);
			if (!born)
				kh->truncated = true;
			spent = push(h, kh, old->revision,
			    history_time_of(h, old->revision), HISTORY_SET,
			    old);
		}
	}
	kh = make_room(h, kh);
	push(h, kh, revision, time, what, NULL);
	trim_bytes(h, kh);
	if (kh != was)
		link_entry(h, kh);
	return spent;
}

void
history_restore(struct history *h, const struct store *s, const char *key,
    size_t keylen, const struct objformat_version *versions, size_t n,
    int64_t time, bool truncated)
{
	const struct store_entry *live = store_get(s, key, keylen);
	struct key_history *kh;

	if (h == NULL || history_depth == 0)
		return;
	kh = ring_for(h, key, keylen);
	while (kh->count > 0)
		drop_oldest(h, kh);
	kh->truncated = truncated;
	for (size_t i = 0; i < n; i++) {
		const struct objformat_version *l = &versions[i];

		kh = make_room(h, kh);
		free(push(h, kh, l->revision, l->time, l->what,
		    l->what == HISTORY_SET ? store_entry_new(key, keylen,
		                                 l->val, l->vallen, l->revision)
		                           : NULL));
	}
	if (live != NULL) {
		kh = make_room(h, kh);
		push(h, kh, live->revision, time, HISTORY_SET, NULL);
	}
	trim_bytes(h, kh);
	link_entry(h, kh);
}

void
history_foreach(const struct history *h,
    void (*fn)(const struct key_history *, void *), void *arg)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->nslots; i++)
		if (h->slots[i] != NULL)
			fn(h->slots[i], arg);
}

bool
history_version_value(const struct key_history *kh, uint32_t i,
    const struct store *s, const uint8_t **val, size_t *vallen)
{
	const struct history_version *v = HISTORY_AT(kh, i);
	const struct store_entry *e;

	if (v->what != HISTORY_SET)
		return false;
	if (history_version_stored(v, val, vallen))
		return true;
	/* The newest set of a key that exists is its entry in the store. */
	if (i + 1 != kh->count ||
	    (e = store_get(s, HISTORY_KEY(kh), kh->keylen)) == NULL)
		return false;
	*val = STORE_ENTRY_VALUE(e);
	*vallen = e->vallen;
	return true;
}

enum history_state
history_at(const struct history *h, const struct store *s, const char *key,
    size_t keylen, uint64_t revision, const uint8_t **val, size_t *vallen,
    uint64_t *changed)
{
	const struct key_history *kh = history_get(h, key, keylen);
	const struct store_entry *e;

	if (revision >= store_revision(s) || kh == NULL) {
		/* Now, or a key with no kept past: its entry, if it dates
		 * from then, is its state at revision. */
		e = store_get(s, key, keylen);
		if (e == NULL)
			return history_depth == 0 &&
			        revision < store_revision(s)
			    ? HISTORY_UNKNOWN
			    : HISTORY_ABSENT;
		if (e->revision > revision)
			return history_born(h, e) ? HISTORY_ABSENT
			                          : HISTORY_UNKNOWN;
		*val = STORE_ENTRY_VALUE(e);
		*vallen = e->vallen;
		*changed = e->revision;
		return HISTORY_PRESENT;
	}
	for (uint32_t i = kh->count; i-- > 0;) {
		const struct history_version *v = HISTORY_AT(kh, i);

		if (v->revision > revision)
			continue;
		*changed = v->revision;
		if (v->what != HISTORY_SET)
			return HISTORY_ABSENT;
		return history_version_value(kh, i, s, val, vallen)
		    ? HISTORY_PRESENT
		    : HISTORY_UNKNOWN;
	}
	return kh->truncated ? HISTORY_UNKNOWN : HISTORY_ABSENT;
}

uint64_t
history_known_from(const struct key_history *kh)
{
	if (kh == NULL || !kh->truncated || kh->count == 0)
		return 0;
	return HISTORY_AT(kh, 0)->revision;
}
