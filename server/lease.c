/* SPDX-License-Identifier: ISC */
/* lease.c: the keys of a store that expire (a deadline) or go with the
 * connection that set them (a holder).
 *
 * Few keys have either, so they are kept beside the store rather than in
 * every entry: an index from key to lease, and a binary min-heap of the
 * deadlines, each lease knowing its place in it. The earliest deadline
 * is the heap's top; taking the due ones costs O(log n) each, so a tick
 * that expires k keys costs O(k log n), never a walk of the store. */
#include <stdlib.h>
#include <string.h>

#include "objd.h"
#include "xmalloc.h"

#define LEASE_NOT_QUEUED SIZE_MAX

struct leases {
	struct store *index; /* key -> struct lease *, as its value bytes */
	struct lease **heap; /* by deadline, earliest first */
	size_t nheap, capheap;
	/* The held ones, so that a holder's end looks at them alone. */
	TAILQ_HEAD(, lease) held;
	size_t nheld;
};

struct leases *
leases_new(void)
{
	struct leases *l = xcalloc(1, sizeof(*l));

	l->index = store_new();
	TAILQ_INIT(&l->held);
	return l;
}

static void
lease_free_one(const struct store_entry *e, void *arg)
{
	struct lease *lease;

	(void)arg;
	memcpy(&lease, STORE_ENTRY_VALUE(e), sizeof(lease));
	free(lease);
}

void
leases_free(struct leases *l)
{
	if (l == NULL)
		return;
	store_foreach(l->index, lease_free_one, NULL);
	store_free(l->index);
	free(l->heap);
	free(l);
}

size_t
leases_count(const struct leases *l)
{
	return l == NULL ? 0 : store_count(l->index);
}

size_t
leases_held(const struct leases *l)
{
	return l == NULL ? 0 : l->nheld;
}

static void
heap_place(struct leases *l, size_t i, struct lease *lease)
{
	l->heap[i] = lease;
	lease->heap_pos = i;
}

static void
heap_up(struct leases *l, size_t i)
{
	struct lease *lease = l->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (l->heap[parent]->deadline <= lease->deadline)
			break;
		heap_place(l, i, l->heap[parent]);
		i = parent;
	}
	heap_place(l, i, lease);
}

static void
heap_down(struct leases *l, size_t i)
{
	struct lease *lease = l->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= l->nheap)
			break;
		if (child + 1 < l->nheap &&
		    l->heap[child + 1]->deadline < l->heap[child]->deadline)
			child++;
		if (lease->deadline <= l->heap[child]->deadline)
			break;
		heap_place(l, i, l->heap[child]);
		i = child;
	}
	heap_place(l, i, lease);
}

static void
heap_push(struct leases *l, struct lease *lease)
{
	if (l->nheap == l->capheap) {
		l->capheap = l->capheap ? l->capheap * 2 : 16;
		l->heap = xreallocarray(l->heap, l->capheap, sizeof(*l->heap));
	}
	heap_place(l, l->nheap++, lease);
	heap_up(l, lease->heap_pos);
}

static void
heap_remove(struct leases *l, struct lease *lease)
{
	size_t i = lease->heap_pos;
	struct lease *last;

	if (i == LEASE_NOT_QUEUED)
		return;
	lease->heap_pos = LEASE_NOT_QUEUED;
	last = l->heap[--l->nheap];
	if (i == l->nheap)
		return;
	heap_place(l, i, last);
	/* The last one may belong above or below the hole. */
	heap_up(l, i);
	heap_down(l, last->heap_pos);
}

struct lease *
leases_get(const struct leases *l, const char *key, size_t keylen)
{
	const struct store_entry *e;
	struct lease *lease;

	if (leases_count(l) == 0 ||
	    (e = store_get(l->index, key, keylen)) == NULL)
		return NULL;
	memcpy(&lease, STORE_ENTRY_VALUE(e), sizeof(lease));
	return lease;
}

void
leases_drop(struct leases *l, const char *key, size_t keylen)
{
	struct store_entry *e;
	struct lease *lease;

	if (leases_count(l) == 0 ||
	    (e = store_remove(l->index, key, keylen)) == NULL)
		return;
	memcpy(&lease, STORE_ENTRY_VALUE(e), sizeof(lease));
	free(e);
	heap_remove(l, lease);
	if (lease->holder != 0) {
		TAILQ_REMOVE(&l->held, lease, held_entry);
		l->nheld--;
	}
	free(lease);
}

void
leases_set(struct leases *l, const char *key, size_t keylen, uint64_t deadline,
    uint64_t holder)
{
	struct lease *lease;

	leases_drop(l, key, keylen);
	if (deadline == 0 && holder == 0)
		return;
	lease = xmalloc(sizeof(*lease) + keylen + 1);
	lease->deadline = deadline;
	lease->holder = holder;
	lease->heap_pos = LEASE_NOT_QUEUED;
	lease->keylen = keylen;
	memcpy(lease->key, key, keylen);
	lease->key[keylen] = '\0';
	free(store_put(l->index,
	    store_entry_new(key, keylen, (const uint8_t *)&lease, sizeof(lease),
	        0)));
	if (holder != 0) {
		TAILQ_INSERT_TAIL(&l->held, lease, held_entry);
		l->nheld++;
	}
	if (deadline != 0)
		heap_push(l, lease);
}

uint64_t
leases_next_deadline(const struct leases *l)
{
	return l == NULL || l->nheap == 0 ? 0 : l->heap[0]->deadline;
}

struct lease *
leases_pop_due(struct leases *l, uint64_t now)
{
	struct lease *lease;

	if (l == NULL || l->nheap == 0 || l->heap[0]->deadline > now)
		return NULL;
	lease = l->heap[0];
	heap_remove(l, lease);
	return lease;
}

void
leases_requeue(struct leases *l, struct lease *lease)
{
	if (lease->deadline != 0 && lease->heap_pos == LEASE_NOT_QUEUED)
		heap_push(l, lease);
}

struct leases_walk {
	void (*fn)(struct lease *, void *);
	void *arg;
};

static void
leases_walk_one(const struct store_entry *e, void *arg)
{
	struct leases_walk *w = arg;
	struct lease *lease;

	memcpy(&lease, STORE_ENTRY_VALUE(e), sizeof(lease));
	w->fn(lease, w->arg);
}

void
leases_foreach(const struct leases *l, void (*fn)(struct lease *, void *),
    void *arg)
{
	struct leases_walk w = { fn, arg };

	if (leases_count(l) > 0)
		store_foreach(l->index, leases_walk_one, &w);
}

void
leases_foreach_held(const struct leases *l, void (*fn)(struct lease *, void *),
    void *arg)
{
	struct lease *lease, *next;

	if (l == NULL)
		return;
	for (lease = TAILQ_FIRST(&l->held); lease != NULL; lease = next) {
		next = TAILQ_NEXT(lease, held_entry);
		fn(lease, arg);
	}
}
