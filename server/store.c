/* SPDX-License-Identifier: ISC */
/* store.c: the in-memory object, an open-addressing hash table.
 *
 * Each key is one allocation holding its key and encoded value. Linear
 * probing with backward-shift deletion keeps look-ups short without
 * tombstones. Sorted listings sort a snapshot of the entries: they are
 * rarer than look-ups, and the sort costs O(n log n) only when asked. */
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <xxhash.h>

#include "objd.h"
#include "xmalloc.h"

#define STORE_MIN_SLOTS 16
/* How many slots ahead a walk fetches entries: far enough that an entry
 * is in the cache when its turn comes. */
#define STORE_WALK_AHEAD 16

/* A walk over slots[0..n) at slot i starts fetching the entry
 * STORE_WALK_AHEAD slots on: the entries lie all over the heap, in no
 * relation to their slots, and a walk of a large store would otherwise
 * wait on memory once per key. */
static inline void
store_walk_ahead(struct store_entry *const *slots, size_t n, size_t i)
{
	if (i + STORE_WALK_AHEAD < n && slots[i + STORE_WALK_AHEAD] != NULL)
		__builtin_prefetch(slots[i + STORE_WALK_AHEAD]);
}

struct store {
	struct store_entry **slots;
	size_t nslots; /* a power of two */
	size_t count;
	uint64_t bytes;
	uint64_t revision;
	uint64_t seed; /* random, so clients cannot aim for collisions */
	struct leases *leases;   /* made at the first lease */
	struct history *history; /* the past versions of the keys */
};

uint64_t
store_key_hash(uint64_t seed, const char *key, size_t len)
{
	/* Every request hashes its keys several times (prefetch, batch,
	 * store): XXH3 is the fastest well-kept hash for short keys. */
	return XXH3_64bits_withSeed(key, len, seed);
}

static uint64_t
store_hash(const struct store *s, const char *key, size_t len)
{
	return store_key_hash(s->seed, key, len);
}

uint64_t
store_random_seed(const void *salt)
{
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)(uintptr_t)salt ^ (uint64_t)rand();
	return seed;
}

struct store *
store_new(void)
{
	struct store *s = xcalloc(1, sizeof(*s));

	s->nslots = STORE_MIN_SLOTS;
	s->slots = xcalloc(s->nslots, sizeof(*s->slots));
	s->seed = store_random_seed(s);
	s->history = history_new(s, s->seed);
	return s;
}

struct history *
store_history(const struct store *s)
{
	return s->history;
}

static void
store_free_all(struct store *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nslots; i++)
		free(s->slots[i]);
	free(s->slots);
	leases_free(s->leases);
	history_free(s->history);
	free(s);
}

void
store_free(struct store *s)
{
	if (s != NULL && store_freeing_hook != NULL)
		store_freeing_hook(s);
	store_free_all(s);
}

/* Below this many keys a store is freed in the loop: a thread costs more
 * than the free()s. glibc merges freed chunks (they wait in its
 * fastbins) at the next large malloc, which would otherwise be the
 * loop's pause. malloc_trim does it here instead and hands the pages
 * back, so objd's RSS after a reload returns to what the new store
 * needs. (Without fastbins, M_MXFAST 0, free() merges at once, but that
 * costs every pipelined set.) */
#define STORE_FREE_BEHIND_MIN 10000

static void *
store_free_main(void *arg)
{
	store_free_all(arg);
#ifdef HAVE_MALLOC_TRIM
	malloc_trim(0);
#endif
	return NULL;
}

void
store_free_behind(struct store *s)
{
	if (s != NULL && store_freeing_hook != NULL)
		store_freeing_hook(s);
	if (s != NULL &&
	    (s->count < STORE_FREE_BEHIND_MIN ||
	        !run_behind(store_free_main, s)))
		store_free(s);
}

struct leases *
store_leases(const struct store *s)
{
	return s->leases;
}

void
store_lease_set(struct store *s, const char *key, size_t keylen,
    uint64_t deadline, uint64_t holder)
{
	if (s->leases == NULL) {
		if (deadline == 0 && holder == 0)
			return;
		s->leases = leases_new();
	}
	leases_set(s->leases, key, keylen, deadline, holder);
}

size_t
store_count(const struct store *s)
{
	return s->count;
}

uint64_t
store_bytes(const struct store *s)
{
	return s->bytes;
}

uint64_t
store_revision(const struct store *s)
{
	return s->revision;
}

void
store_set_revision(struct store *s, uint64_t revision)
{
	s->revision = revision;
}

static size_t
store_find_slot(const struct store *s, const char *key, size_t keylen,
    uint64_t hash)
{
	size_t mask = s->nslots - 1, i = hash & mask;

	for (;; i = (i + 1) & mask) {
		struct store_entry *e = s->slots[i];

		if (e == NULL)
			return i;
		if (e->hash == hash && e->keylen == keylen &&
		    memcmp(e->data, key, keylen) == 0)
			return i;
	}
}

struct store_entry *
store_get_hashed(const struct store *s, const char *key, size_t keylen,
    uint64_t hash)
{
	return s->slots[store_find_slot(s, key, keylen, hash)];
}

struct store_entry *
store_get(const struct store *s, const char *key, size_t keylen)
{
	uint64_t hash = store_hash(s, key, keylen);

	return s->slots[store_find_slot(s, key, keylen, hash)];
}

uint64_t
store_prefetch_slot(const struct store *s, const char *key, size_t keylen)
{
	uint64_t hash = store_hash(s, key, keylen);

	__builtin_prefetch(&s->slots[hash & (s->nslots - 1)]);
	return hash;
}

void
store_prefetch_entry(const struct store *s, uint64_t hash)
{
	const struct store_entry *e = s->slots[hash & (s->nslots - 1)];

	/* An entry is 16-byte aligned: its key and value often start in
	 * the cache line after its header. */
	if (e != NULL) {
		__builtin_prefetch(e);
		__builtin_prefetch((const char *)e + 64);
	}
}

/* The entry in e's block of sizeof(*e) + keylen + 1 + vallen bytes. */
static struct store_entry *
store_entry_init(struct store_entry *e, const char *key, size_t keylen,
    size_t vallen, uint64_t revision)
{
	e->revision = revision;
	e->hash = 0;
	e->ring = NULL;
	e->keylen = (uint32_t)keylen;
	e->vallen = (uint32_t)vallen;
	memcpy(e->data, key, keylen);
	e->data[keylen] = '\0';
	return e;
}

struct store_entry *
store_entry_alloc(const char *key, size_t keylen, size_t vallen,
    uint64_t revision)
{
	return store_entry_init(
	    xmalloc(sizeof(struct store_entry) + keylen + 1 + vallen), key,
	    keylen, vallen, revision);
}

struct store_entry *
store_entry_try_alloc(const char *key, size_t keylen, size_t vallen,
    uint64_t revision)
{
	struct store_entry *e =
	    malloc(sizeof(struct store_entry) + keylen + 1 + vallen);

	return e != NULL ? store_entry_init(e, key, keylen, vallen, revision)
	                 : NULL;
}

bool (*store_adopt_hook)(struct store_entry *e);
void (*store_freeing_hook)(const struct store *s);

void
store_entry_free(struct store_entry *e)
{
	if (e != NULL && e->vallen >= WATCH_REF_MIN &&
	    store_adopt_hook != NULL && store_adopt_hook(e))
		return;
	free(e);
}

/* Entries that changes let go, kept for the entries of the next ones.
 * A batch of 1,000 keys lets go of the 1,000 entries it replaces (their
 * short values copied into the keys' history) and the next one makes
 * 1,000 more of the same sizes. Through malloc, those chunks wait in
 * glibc's fastbins until the next large malloc merges them all
 * (malloc_consolidate), touching each one's neighbours, cold by then
 * among the 100,000 keys and their history, and the small mallocs after
 * take them out of its unsorted bin one by one: a quarter of a batch's
 * CPU time. Here a spent entry goes on a list of its exact size, whose
 * next entry of that size takes it back at once. Only on the loop:
 * reload's thread makes entries too, through malloc. */
#define ENTRY_SPARE_SIZE 192 /* bytes: the largest entry kept */
#define ENTRY_SPARE_MAX 8192 /* entries kept, of all sizes */

static struct store_entry *entry_spare[ENTRY_SPARE_SIZE + 1];
static size_t entry_spares;

static size_t
entry_bytes(size_t keylen, size_t vallen)
{
	return sizeof(struct store_entry) + keylen + 1 + vallen;
}

void
store_entry_recycle(struct store_entry *e)
{
	size_t n;

	if (e == NULL)
		return;
	n = entry_bytes(e->keylen, e->vallen);
	/* A value the watch history could keep goes the usual way. */
	if (n > ENTRY_SPARE_SIZE || e->vallen >= WATCH_REF_MIN ||
	    entry_spares >= ENTRY_SPARE_MAX) {
		store_entry_free(e);
		return;
	}
	/* Its block holds at least n bytes (an entry may have been made
	 * with more than its value needs, never with less). */
	e->hash = (uint64_t)(uintptr_t)entry_spare[n];
	entry_spare[n] = e;
	entry_spares++;
}

struct store_entry *
store_entry_reuse(const char *key, size_t keylen, size_t vallen,
    uint64_t revision)
{
	size_t n = entry_bytes(keylen, vallen);
	struct store_entry *e;

	if (n > ENTRY_SPARE_SIZE || (e = entry_spare[n]) == NULL)
		return store_entry_alloc(key, keylen, vallen, revision);
	entry_spare[n] = (struct store_entry *)(uintptr_t)e->hash;
	entry_spares--;
	return store_entry_init(e, key, keylen, vallen, revision);
}

size_t
store_entry_spares_free(void)
{
	size_t n = entry_spares;

	for (size_t i = 0; i <= ENTRY_SPARE_SIZE; i++)
		while (entry_spare[i] != NULL) {
			struct store_entry *e = entry_spare[i];

			entry_spare[i] =
			    (struct store_entry *)(uintptr_t)e->hash;
			free(e);
		}
	entry_spares = 0;
	return n;
}

struct store_entry *
store_entry_new(const char *key, size_t keylen, const uint8_t *val,
    size_t vallen, uint64_t revision)
{
	struct store_entry *e =
	    store_entry_alloc(key, keylen, vallen, revision);

	if (vallen)
		memcpy(e->data + keylen + 1, val, vallen);
	return e;
}

/* Moves s's entries to a table of nslots slots. */
static void
store_resize(struct store *s, size_t nslots)
{
	struct store_entry **old = s->slots;
	size_t oldn = s->nslots;

	s->nslots = nslots;
	s->slots = xcalloc(s->nslots, sizeof(*s->slots));
	for (size_t i = 0; i < oldn; i++) {
		struct store_entry *e = old[i];
		size_t j;

		/* Each entry's hash is read from the entry itself. */
		store_walk_ahead(old, oldn, i);
		if (e == NULL)
			continue;
		for (j = e->hash & (s->nslots - 1); s->slots[j] != NULL;
		     j = (j + 1) & (s->nslots - 1))
			;
		s->slots[j] = e;
	}
	free(old);
}

static void
store_grow(struct store *s)
{
	store_resize(s, s->nslots * 2);
}

void
store_reserve(struct store *s, size_t n)
{
	size_t nslots = s->nslots;

	while (n * 4 > nslots * 3)
		nslots *= 2;
	if (nslots != s->nslots)
		store_resize(s, nslots);
}

struct store_entry *
store_put(struct store *s, struct store_entry *e)
{
	struct store_entry *old;
	size_t i;

	if (s->leases != NULL)
		leases_drop(s->leases, e->data, e->keylen);
	e->hash = store_hash(s, e->data, e->keylen);
	i = store_find_slot(s, e->data, e->keylen, e->hash);
	old = s->slots[i];
	s->slots[i] = e;
	s->bytes += e->keylen + e->vallen;
	e->ring = old != NULL ? old->ring : NULL;
	if (old != NULL) {
		s->bytes -= old->keylen + old->vallen;
		return old;
	}
	/* Keep the load under 3/4 so probe runs stay short. */
	if (++s->count * 4 > s->nslots * 3)
		store_grow(s);
	return NULL;
}

struct store_entry *
store_remove(struct store *s, const char *key, size_t keylen)
{
	uint64_t hash = store_hash(s, key, keylen);
	size_t mask = s->nslots - 1, i, j;
	struct store_entry *e;

	if (s->leases != NULL)
		leases_drop(s->leases, key, keylen);
	i = store_find_slot(s, key, keylen, hash);
	e = s->slots[i];
	if (e == NULL)
		return NULL;
	s->slots[i] = NULL;
	s->count--;
	s->bytes -= e->keylen + e->vallen;
	/* Backward shift: move later members of the probe run into the
	 * hole when their home slot does not lie between hole and them. */
	for (j = (i + 1) & mask; s->slots[j] != NULL; j = (j + 1) & mask) {
		size_t home = s->slots[j]->hash & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			s->slots[i] = s->slots[j];
			s->slots[j] = NULL;
			i = j;
		}
	}
	return e;
}

static int
store_entry_cmp(const void *a, const void *b)
{
	const struct store_entry *x = *(struct store_entry *const *)a;
	const struct store_entry *y = *(struct store_entry *const *)b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->data, y->data, n);

	if (c != 0)
		return c;
	return (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

struct store_entry **
store_sorted(const struct store *s, const char *prefix, size_t prefixlen,
    size_t *n)
{
	struct store_entry **out =
	    xreallocarray(NULL, s->count + 1, sizeof(*out));
	size_t k = 0;

	for (size_t i = 0; i < s->nslots; i++) {
		struct store_entry *e = s->slots[i];

		if (e != NULL && e->keylen >= prefixlen &&
		    memcmp(e->data, prefix, prefixlen) == 0)
			out[k++] = e;
	}
	qsort(out, k, sizeof(*out), store_entry_cmp);
	*n = k;
	return out;
}

/* Entries compared at once: their look-ups' cache misses overlap. */
#define STORE_EQUAL_BATCH 16

static bool
store_has_entry(const struct store *s, const struct store_entry *e,
    uint64_t hash)
{
	const struct store_entry *o =
	    s->slots[store_find_slot(s, e->data, e->keylen, hash)];

	return o != NULL && o->vallen == e->vallen &&
	    memcmp(STORE_ENTRY_VALUE(o), STORE_ENTRY_VALUE(e), e->vallen) == 0;
}

bool
store_equal(const struct store *a, const struct store *b)
{
	const struct store_entry *batch[STORE_EQUAL_BATCH];
	uint64_t hashes[STORE_EQUAL_BATCH];
	size_t i = 0;

	if (a->count != b->count || a->bytes != b->bytes)
		return false;
	/* In slot order rather than sorted, which would cost an n log n
	 * sort first. A store so big has its slots and entries out of
	 * the cache, so each batch fetches a's entries, then b's slots for
	 * them, then b's entries, and the batch's waits on memory overlap. */
	while (i < a->nslots) {
		size_t n = 0;

		for (; i < a->nslots && n < STORE_EQUAL_BATCH; i++) {
			if (a->slots[i] != NULL) {
				batch[n] = a->slots[i];
				__builtin_prefetch(batch[n]);
				n++;
			}
		}
		for (size_t k = 0; k < n; k++)
			hashes[k] = store_prefetch_slot(b, batch[k]->data,
			    batch[k]->keylen);
		for (size_t k = 0; k < n; k++)
			store_prefetch_entry(b, hashes[k]);
		for (size_t k = 0; k < n; k++)
			if (!store_has_entry(b, batch[k], hashes[k]))
				return false;
	}
	return true;
}

void
store_foreach(const struct store *s,
    void (*fn)(const struct store_entry *, void *), void *arg)
{
	for (size_t i = 0; i < s->nslots; i++) {
		store_walk_ahead(s->slots, s->nslots, i);
		if (s->slots[i] != NULL)
			fn(s->slots[i], arg);
	}
}

void
store_stamp(struct store *s, uint64_t revision)
{
	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i] != NULL)
			s->slots[i]->revision = revision;
}
