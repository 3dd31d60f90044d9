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

#include "log.h"
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
/* A slot holds its entry's address and, in bits 48 to 55, which
 * user-space addresses leave clear on Linux (x86-64 with 4- or 5-level
 * page tables and arm64, unless a program asks mmap for more; the top
 * byte is left to arm64's own tags), the top byte of its key's hash. A
 * look-up compares that byte first and goes to an entry only when it
 * matches: about one in 256 of the other keys of its probe run. Among
 * 100,000 keys each entry is a cache miss, and the look-ups of a batch
 * fetch ahead only the entry that their first slot holds. 0 is an
 * empty slot. */
/* LeakSanitizer takes a tagged address for no pointer: the entries of
 * a store that a thread is still freeing at exit would be leaks. Under
 * ASan the slots hold bare addresses. */
#if defined(__SANITIZE_ADDRESS__)
#define SLOT_UNTAGGED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLOT_UNTAGGED 1
#endif
#endif
#if UINTPTR_MAX > 0xffffffffu && !defined(SLOT_UNTAGGED)
#define SLOT_TAG_SHIFT 48
#define SLOT_TAG_MASK ((uintptr_t)0xff << SLOT_TAG_SHIFT)
#else
#define SLOT_TAG_SHIFT 0
#define SLOT_TAG_MASK ((uintptr_t)0)
#endif

const bool store_slots_tagged = SLOT_TAG_MASK != 0;

static inline uintptr_t
slot_tag(uint64_t hash)
{
	return ((uintptr_t)(hash >> 56) << SLOT_TAG_SHIFT) & SLOT_TAG_MASK;
}

static inline struct store_entry *
slot_entry(uintptr_t slot)
{
	return (struct store_entry *)(slot & ~SLOT_TAG_MASK);
}

/* The slot of e, whose hash is set. */
static inline uintptr_t
slot_of_entry(struct store_entry *e)
{
	if (((uintptr_t)e & SLOT_TAG_MASK) != 0)
		fatalx("an entry at %p leaves no room for its slot's tag",
		    (void *)e);
	return (uintptr_t)e | slot_tag(e->hash);
}

static inline void
store_walk_ahead(const uintptr_t *slots, size_t n, size_t i)
{
	if (i + STORE_WALK_AHEAD < n && slots[i + STORE_WALK_AHEAD] != 0)
		__builtin_prefetch(slot_entry(slots[i + STORE_WALK_AHEAD]));
}

struct store {
	uintptr_t *slots;
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
		free(slot_entry(s->slots[i]));
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
	uintptr_t tag = slot_tag(hash);

	for (;; i = (i + 1) & mask) {
		uintptr_t slot = s->slots[i];
		const struct store_entry *e;

		if (slot == 0)
			return i;
		if ((slot & SLOT_TAG_MASK) != tag)
			continue;
		e = slot_entry(slot);
		if (e->hash == hash && e->keylen == keylen &&
		    memcmp(e->data, key, keylen) == 0)
			return i;
	}
}

struct store_entry *
store_get_hashed(const struct store *s, const char *key, size_t keylen,
    uint64_t hash)
{
	return slot_entry(s->slots[store_find_slot(s, key, keylen, hash)]);
}

struct store_entry *
store_get(const struct store *s, const char *key, size_t keylen)
{
	uint64_t hash = store_hash(s, key, keylen);

	return slot_entry(s->slots[store_find_slot(s, key, keylen, hash)]);
}

uint64_t
store_prefetch_slot(const struct store *s, const char *key, size_t keylen)
{
	uint64_t hash = store_hash(s, key, keylen);

	__builtin_prefetch(&s->slots[hash & (s->nslots - 1)]);
	return hash;
}

const struct store_entry *
store_peek(const struct store *s, uint64_t hash)
{
	size_t mask = s->nslots - 1, i = hash & mask;
	uintptr_t tag = slot_tag(hash), slot;

	/* The first entry of the probe run whose tag is the key's. */
	while ((slot = s->slots[i]) != 0 && (slot & SLOT_TAG_MASK) != tag)
		i = (i + 1) & mask;
	return slot_entry(slot);
}

void
store_prefetch_entry(const struct store *s, uint64_t hash)
{
	const struct store_entry *e = store_peek(s, hash);

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
#define ENTRY_SPARE_AHEAD 4  /* how many pops ahead one is fetched */

/* A stack of pointers for each size, not a list through the entries: a
 * spare is cold, and a list would wait on each one to find the next. */
static struct entry_spares {
	struct store_entry **e;
	uint32_t n, cap;
} entry_spare[ENTRY_SPARE_SIZE + 1];
static size_t entry_spares;

static size_t
entry_bytes(size_t keylen, size_t vallen)
{
	return sizeof(struct store_entry) + keylen + 1 + vallen;
}

void
store_entry_recycle(struct store_entry *e)
{
	struct entry_spares *sp;
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
	sp = &entry_spare[n];
	if (sp->n == sp->cap) {
		uint32_t cap = sp->cap ? 2 * sp->cap : 64;
		struct store_entry **grown =
		    reallocarray(sp->e, cap, sizeof(*sp->e));

		if (grown == NULL) {
			store_entry_free(e);
			return;
		}
		sp->e = grown;
		sp->cap = cap;
	}
	/* Its block holds at least n bytes (an entry may have been made
	 * with more than its value needs, never with less). */
	sp->e[sp->n++] = e;
	entry_spares++;
}

struct store_entry *
store_entry_reuse(const char *key, size_t keylen, size_t vallen,
    uint64_t revision)
{
	size_t n = entry_bytes(keylen, vallen);
	struct entry_spares *sp;
	struct store_entry *e;

	if (n > ENTRY_SPARE_SIZE || (sp = &entry_spare[n])->n == 0)
		return store_entry_alloc(key, keylen, vallen, revision);
	e = sp->e[--sp->n];
	entry_spares--;
	/* One for a set a few on: the spares are cold. */
	if (sp->n >= ENTRY_SPARE_AHEAD)
		__builtin_prefetch(sp->e[sp->n - ENTRY_SPARE_AHEAD], 1);
	return store_entry_init(e, key, keylen, vallen, revision);
}

size_t
store_entry_spares_free(void)
{
	size_t n = entry_spares;

	for (size_t i = 0; i <= ENTRY_SPARE_SIZE; i++) {
		struct entry_spares *sp = &entry_spare[i];

		while (sp->n > 0)
			free(sp->e[--sp->n]);
		free(sp->e);
		sp->e = NULL;
		sp->cap = 0;
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
	uintptr_t *old = s->slots;
	size_t oldn = s->nslots;

	s->nslots = nslots;
	s->slots = xcalloc(s->nslots, sizeof(*s->slots));
	for (size_t i = 0; i < oldn; i++) {
		const struct store_entry *e = slot_entry(old[i]);
		size_t j;

		/* Each entry's hash is read from the entry itself. */
		store_walk_ahead(old, oldn, i);
		if (e == NULL)
			continue;
		for (j = e->hash & (s->nslots - 1); s->slots[j] != 0;
		     j = (j + 1) & (s->nslots - 1))
			;
		s->slots[j] = old[i];
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
	return store_put_hashed(s, e, store_hash(s, e->data, e->keylen));
}

struct store_entry *
store_put_hashed(struct store *s, struct store_entry *e, uint64_t hash)
{
	struct store_entry *old;
	size_t i;

	if (s->leases != NULL)
		leases_drop(s->leases, e->data, e->keylen);
	e->hash = hash;
	i = store_find_slot(s, e->data, e->keylen, e->hash);
	old = slot_entry(s->slots[i]);
	s->slots[i] = slot_of_entry(e);
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
	e = slot_entry(s->slots[i]);
	if (e == NULL)
		return NULL;
	s->slots[i] = 0;
	s->count--;
	s->bytes -= e->keylen + e->vallen;
	/* Backward shift: move later members of the probe run into the
	 * hole when their home slot does not lie between hole and them. */
	for (j = (i + 1) & mask; s->slots[j] != 0; j = (j + 1) & mask) {
		size_t home = slot_entry(s->slots[j])->hash & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			s->slots[i] = s->slots[j];
			s->slots[j] = 0;
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
		struct store_entry *e = slot_entry(s->slots[i]);

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
	    slot_entry(s->slots[store_find_slot(s, e->data, e->keylen, hash)]);

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
			if (a->slots[i] != 0) {
				batch[n] = slot_entry(a->slots[i]);
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
		if (s->slots[i] != 0)
			fn(slot_entry(s->slots[i]), arg);
	}
}

void
store_stamp(struct store *s, uint64_t revision)
{
	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i] != 0)
			slot_entry(s->slots[i])->revision = revision;
}
