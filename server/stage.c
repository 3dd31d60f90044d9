/* SPDX-License-Identifier: ISC */
/* stage.c: a batch too large for one frame, sent in pieces (objd.proto,
 * Batch).
 *
 * Each piece's sets are packed into store entries as the piece comes,
 * and wait on their connection in a table of their own that nothing
 * else reads: no client sees them and the file never holds them. The
 * last piece turns them all into one change of the batch (commit.c), so
 * the pieces commit together or not at all, and a client that leaves
 * first takes them with it. A piece that is refused fails the whole
 * staged batch: the pieces after it, already on their way, and the last
 * one are refused too, so that no part of it can ever commit.
 *
 * Only sets of top-level keys are staged (a load is made of them): each
 * is then one entry, whatever comes before or after it, and the last
 * piece costs one look-up per key. */
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "keypath.h"
#include "objd.h"
#include "value.h"
#include "xmalloc.h"

struct stage_slot {
	uint64_t hash;
	uint32_t at; /* 1 + the entry's place in entries; 0: empty */
};

struct stage {
	/* The staged entries in the order they came, each key once, and
	 * their keys' set: open addressing with each hash in its slot,
	 * so that a probe reads no entry unless the hashes match (the
	 * entries lie all over the heap: a store's probes, which read
	 * each, made the staging of a load cost three times as much). */
	struct store_entry **entries;
	size_t n, cap;
	struct stage_slot *slots;
	size_t nslots; /* a power of two, at least 2 * cap */
	uint64_t seed;
	size_t pieces; /* staged so far */
	char *error;   /* why a piece was refused, once one was */
};

/* How many entries ahead stage_index fetches their slots. */
#define STAGE_AHEAD 8
/* Staged entries past this many are freed on a thread of their own
 * (behind.c), which then gives the pages back. */
#define STAGE_LARGE 10000

bool
stage_open(const struct conn *c)
{
	return conn_staged(c) != NULL;
}

static void *
stage_free_main(void *arg)
{
	struct stage *st = arg;
	bool large = st->n >= STAGE_LARGE;

	for (size_t i = 0; i < st->n; i++)
		free(st->entries[i]);
	free(st->entries);
	free(st->slots);
	free(st->error);
	free(st);
#ifdef HAVE_MALLOC_TRIM
	/* As after a large batch (commit.c): the pages go back. */
	if (large)
		malloc_trim(0);
#else
	(void)large;
#endif
	return NULL;
}

/* Frees st, a large one on a thread of its own. */
static void
stage_release(struct stage *st)
{
	if (st->n < STAGE_LARGE || !run_behind(stage_free_main, st))
		stage_free_main(st);
}

void
stage_free(struct conn *c)
{
	struct stage *st = *conn_stage(c);

	if (st == NULL)
		return;
	*conn_stage(c) = NULL;
	stage_release(st);
}

/* Refuses the staged batch for good: its entries go, the reason stays
 * for the pieces still to come. */
static Objd__Status
stage_refuse(struct stage *st, const char *err)
{
	struct stage *entries = xmalloc(sizeof(*entries));

	*entries = *st;
	entries->error = NULL;
	st->entries = NULL;
	st->slots = NULL;
	st->n = st->cap = st->nslots = 0;
	st->error = xstrdup(err);
	stage_release(entries);
	return OBJD__STATUS__INVALID;
}

/* The slot of key in st's set: where it is, or the empty slot it would
 * take. */
static size_t
stage_slot(const struct stage *st, const char *key, size_t keylen,
    uint64_t hash)
{
	size_t mask = st->nslots - 1, i = hash & mask;

	for (;; i = (i + 1) & mask) {
		const struct stage_slot *sl = &st->slots[i];
		const struct store_entry *e;

		if (sl->at == 0)
			return i;
		if (sl->hash != hash)
			continue;
		e = st->entries[sl->at - 1];
		if (e->keylen == keylen && memcmp(e->data, key, keylen) == 0)
			return i;
	}
}

static bool
stage_has(const struct stage *st, const char *key, size_t keylen)
{
	uint64_t hash = store_key_hash(st->seed, key, keylen);

	return st->nslots > 0 &&
	    st->slots[stage_slot(st, key, keylen, hash)].at != 0;
}

/* Room for more entries, up to want, with the set at most half
 * full. */
static void
stage_grow(struct stage *st, size_t want)
{
	struct stage_slot *old = st->slots;
	size_t oldn = st->nslots;

	if (want <= st->cap)
		return;
	st->cap = st->cap ? st->cap : 1024;
	while (st->cap < want)
		st->cap *= 2;
	st->entries = xreallocarray(st->entries, st->cap, sizeof(*st->entries));
	st->nslots = 2 * st->cap;
	st->slots = xcalloc(st->nslots, sizeof(*st->slots));
	for (size_t i = 0; i < oldn; i++) {
		size_t j, mask = st->nslots - 1;

		if (old[i].at == 0)
			continue;
		for (j = old[i].hash & mask; st->slots[j].at != 0;
		     j = (j + 1) & mask)
			;
		st->slots[j] = old[i];
	}
	free(old);
}

/* Puts the entries from the from'th on in the set; returns 1 + the
 * place of the first whose key is there already, or 0. Each slot is
 * fetched a few entries ahead: it lies anywhere in the set, and the set
 * of a large load is far larger than the cache. */
static size_t
stage_index(struct stage *st, size_t from)
{
	size_t n = st->n - from, mask = st->nslots - 1, k;
	uint64_t *hashes = xreallocarray(NULL, n ? n : 1, sizeof(*hashes));

	for (size_t i = 0; i < n; i++) {
		const struct store_entry *e = st->entries[from + i];

		hashes[i] = store_key_hash(st->seed, e->data, e->keylen);
	}
	for (size_t i = 0; i < n; i++) {
		const struct store_entry *e = st->entries[from + i];

		if (i + STAGE_AHEAD < n)
			__builtin_prefetch(
			    &st->slots[hashes[i + STAGE_AHEAD] & mask]);
		k = stage_slot(st, e->data, e->keylen, hashes[i]);
		if (st->slots[k].at != 0) {
			free(hashes);
			return from + i + 1;
		}
		st->slots[k].hash = hashes[i];
		st->slots[k].at = (uint32_t)(from + i + 1);
	}
	free(hashes);
	return 0;
}

/* The top-level key that path names, unescaped into kp when it must be;
 * false with err if path is not one top-level key. */
static bool
stage_key(const char *path, struct keypath *kp, const char **key,
    size_t *keylen, char *err, size_t errlen)
{
	kp->n = 0;
	if (keypath_is_plain(path)) {
		*key = path;
		*keylen = strlen(path);
		return key_valid(path, *keylen, err, errlen);
	}
	if (!keypath_parse(path, kp, err, errlen))
		return false;
	if (kp->n != 1) {
		snprintf(err, errlen,
		    "%s: a batch in pieces sets top-level keys only", path);
		keypath_free(kp);
		return false;
	}
	*key = kp->parts[0];
	*keylen = kp->lens[0];
	return true;
}

/* Packs one operation into an entry at the end of st's entries; false
 * with err if it cannot be staged. */
static bool
stage_op(struct stage *st, const Objd__Operation *op, char *err, size_t errlen)
{
	struct store_entry *e;
	struct keypath kp;
	const char *key;
	size_t keylen;
	char why[256];

	if (op->op_case != OBJD__OPERATION__OP_SET) {
		snprintf(err, errlen,
		    "a batch in pieces holds sets only, no deletes");
		return false;
	}
	if (!stage_key(op->set->key, &kp, &key, &keylen, err, errlen))
		return false;
	if (!value_valid(op->set->value, why, sizeof(why))) {
		snprintf(err, errlen, "%s: %s", op->set->key, why);
		keypath_free(&kp);
		return false;
	}
	/* A large value was decoded into its entry (request-decode.c):
	 * taken as it is, not copied again. */
	e = request_entries_untaken > 0
	    ? request_take_entry(op->set->value, key, keylen)
	    : NULL;
	if (e == NULL) {
		e = store_entry_alloc(key, keylen,
		    value_packed_size(op->set->value), 0);
		value_pack_to(op->set->value,
		    (uint8_t *)e->data + e->keylen + 1);
	}
	keypath_free(&kp);
	st->entries[st->n++] = e;
	return true;
}

Objd__Status
stage_add(struct conn *c, const Objd__Batch *b, bool last, char *err,
    size_t errlen)
{
	struct stage *st = *conn_stage(c);
	size_t from, twice;
	char why[512];

	if (st == NULL) {
		st = *conn_stage(c) = xcalloc(1, sizeof(*st));
		st->seed = store_random_seed(st);
	}
	st->pieces++;
	if (st->error != NULL) {
		snprintf(err, errlen, "%s", st->error);
		return OBJD__STATUS__INVALID;
	}
	if (!last && (b->n_conditions > 0 || b->replace)) {
		snprintf(err, errlen,
		    "piece %zu of the batch has conditions or replace: they "
		    "go with its last piece; nothing of the batch is applied",
		    st->pieces);
		return stage_refuse(st, err);
	}
	from = st->n;
	stage_grow(st, st->n + b->n_operations);
	for (size_t i = 0; i < b->n_operations; i++) {
		if (stage_op(st, b->operations[i], why, sizeof(why)))
			continue;
		snprintf(err, errlen,
		    "piece %zu of the batch, operation %zu: %s; nothing "
		    "of the batch is applied",
		    st->pieces, i + 1, why);
		return stage_refuse(st, err);
	}
	if ((twice = stage_index(st, from)) != 0) {
		/* As a JSON document's member would be: a mistake. */
		snprintf(err, errlen,
		    "piece %zu of the batch, operation %zu: key %s is set "
		    "twice; nothing of the batch is applied",
		    st->pieces, twice - from,
		    b->operations[twice - from - 1]->set->key);
		return stage_refuse(st, err);
	}
	return OBJD__STATUS__OK;
}

/* Keys that a replace deletes: those that exist and are not staged. */
struct stage_gone {
	const struct stage *staged;
	const struct store_entry **keys;
	size_t n, cap;
};

static void
stage_gone_add(struct stage_gone *g, const struct store_entry *e)
{
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 64;
		g->keys = xreallocarray(g->keys, g->cap, sizeof(*g->keys));
	}
	g->keys[g->n++] = e;
}

/* A committed key goes unless it is staged; one with a pending change
 * is left to stage_gone_pending, which sees its latest. */
static void
stage_gone_committed(const struct store_entry *e, void *arg)
{
	struct stage_gone *g = arg;
	bool pending;

	if (stage_has(g->staged, e->data, e->keylen))
		return;
	(void)batch_lookup(e->data, e->keylen, &pending);
	if (!pending)
		stage_gone_add(g, e);
}

/* A key a pending change sets goes unless it is staged, once: only its
 * latest change, if that leaves it set, counts. */
static void
stage_gone_pending(const struct store_entry *e, void *arg)
{
	struct stage_gone *g = arg;
	bool pending;

	if (!stage_has(g->staged, e->data, e->keylen) &&
	    batch_lookup(e->data, e->keylen, &pending) == e)
		stage_gone_add(g, e);
}

/* Drops the staged entries that leave their keys as they are; returns
 * how many are left, at the front. Done before any is queued: the
 * look-ups then find no change of this batch in the way. */
static size_t
stage_changed(struct stage *st)
{
	const struct store_entry *old;
	size_t n = 0;
	bool pending;

	for (size_t i = 0; i < st->n; i++) {
		struct store_entry *e = st->entries[i];

		old = batch_lookup(e->data, e->keylen, &pending);
		if (old != NULL && old->vallen == e->vallen &&
		    memcmp(STORE_ENTRY_VALUE(old), STORE_ENTRY_VALUE(e),
		        e->vallen) == 0)
			free(e);
		else
			st->entries[n++] = e;
	}
	st->n = 0;
	return n;
}

bool
stage_commit(struct conn *c, uint64_t id, bool replace)
{
	struct stage_gone gone = { 0 };
	struct stage *st = *conn_stage(c);
	size_t n;

	if (replace) {
		/* Found before any change is queued: the batch's arrays
		 * move as it grows, its entries and the store's do not. */
		gone.staged = st;
		store_foreach(server.store, stage_gone_committed, &gone);
		batch_foreach_set(stage_gone_pending, &gone);
	}
	n = stage_changed(st);
	if (n + gone.n > 0) {
		batch_begin(c, id);
		batch_reserve(n + gone.n);
	}
	for (size_t i = 0; i < n; i++)
		batch_add_entry(st->entries[i]);
	for (size_t i = 0; i < gone.n; i++)
		batch_add_delete(gone.keys[i]->data, gone.keys[i]->keylen);
	free(gone.keys);
	stage_free(c);
	return n + gone.n > 0;
}
