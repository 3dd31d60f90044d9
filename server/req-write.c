/* SPDX-License-Identifier: ISC */
/* req-write.c: set, delete and batch. Each request is one atomic
 * change (txn.c) that joins the current batch (batch.c) and is answered
 * once durable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "objd.h"
#include "xmalloc.h"

/* Answers a write that queues no change. While a batch is open the
 * answer takes its place in it: the client may have writes waiting there,
 * answered first, and the outcome may rest on changes not yet durable. */
static void
write_answer(struct conn *c, uint64_t id, Objd__Status status,
    const char *error)
{
	if (batch_pending())
		batch_defer(c, id, status, error);
	else
		reply_status(c, id, status, error);
}

/* The longest time to live: ten years, in ms. */
#define TTL_MAX_MS (10ULL * 366 * 24 * 3600 * 1000)

/* Gives the keys t sets the lease a request asks for; false once an
 * answer has been sent, and then t is already freed. */
static bool
write_lease(struct conn *c, uint64_t id, struct txn *t, uint64_t ttl_ms,
    bool hold)
{
	if (ttl_ms > TTL_MAX_MS) {
		write_answer(c, id, OBJD__STATUS__INVALID,
		    "a time to live is at most ten years");
		txn_free(t);
		return false;
	}
	if (ttl_ms != 0)
		t->deadline = expire_now_ms() + ttl_ms;
	if (hold)
		t->holder = expire_holder(c);
	return true;
}

/* Starts t under the conditions; false once an answer has been sent, and
 * then t is already freed. */
static bool
write_begin(struct conn *c, uint64_t id, struct txn *t,
    Objd__Condition *const *conds, size_t n)
{
	Objd__Status status;
	char err[512];

	txn_init(t);
	for (size_t i = 0; i < n; i++) {
		status = txn_check(t, conds[i], err, sizeof(err));
		if (status != OBJD__STATUS__OK) {
			write_answer(c, id, status, err);
			txn_free(t);
			return false;
		}
	}
	return true;
}

/* Ends t: answers status and err when an operation failed, commits t
 * otherwise (or answers at once when it changes nothing), and frees t. */
static void
write_end(struct conn *c, uint64_t id, struct txn *t, Objd__Status status,
    const char *err)
{
	if (status != OBJD__STATUS__OK)
		write_answer(c, id, status, err);
	else if (!txn_commit(t, c, id))
		write_answer(c, id, OBJD__STATUS__OK, NULL);
	txn_free(t);
}

/* A set of this many keys or fewer finds a repeated key in a table on
 * the stack. */
#define SET_TABLE_INLINE 64

/* The first key that set names twice, or NULL. The keys go into a hash
 * table of their positions, so that the check costs O(keys): comparing
 * each key with every other held up every client for as long as a set of
 * many keys took. */
static const char *
set_repeated_key(const Objd__Set *set)
{
	static uint64_t seed;
	static bool seeded;
	size_t inline_slots[SET_TABLE_INLINE * 2], *slots = inline_slots;
	size_t nslots = 4, mask, i, j;
	const char *repeated = NULL, *key;

	if (set->n_entries < 2)
		return NULL;
	/* Random, so that no client can aim its keys at one slot. */
	if (!seeded) {
		seed = store_random_seed(&seed);
		seeded = true;
	}
	while (nslots < set->n_entries * 2)
		nslots *= 2;
	if (nslots > SET_TABLE_INLINE * 2)
		slots = xcalloc(nslots, sizeof(*slots));
	else
		memset(slots, 0, nslots * sizeof(*slots));
	mask = nslots - 1;
	/* A slot holds a key's position plus one; 0 is empty. */
	for (i = 0; i < set->n_entries && repeated == NULL; i++) {
		key = set->entries[i]->key;
		j = store_key_hash(seed, key, strlen(key)) & mask;
		while (slots[j] != 0 &&
		    strcmp(set->entries[slots[j] - 1]->key, key) != 0)
			j = (j + 1) & mask;
		if (slots[j] != 0)
			repeated = key;
		slots[j] = i + 1;
	}
	if (slots != inline_slots)
		free(slots);
	return repeated;
}

void
handle_set(struct conn *c, const Objd__Request *req)
{
	const Objd__Set *set = req->set;
	Objd__Status status = OBJD__STATUS__OK;
	const char *key;
	struct txn t;
	char err[512];

	if (set->n_entries == 0) {
		write_answer(c, req->id, OBJD__STATUS__INVALID,
		    "set needs at least one key");
		return;
	}
	/* Two values for one key in one set is a mistake, not an order. */
	if ((key = set_repeated_key(set)) != NULL) {
		snprintf(err, sizeof(err), "key %s is set twice in one request",
		    key);
		write_answer(c, req->id, OBJD__STATUS__INVALID, err);
		return;
	}
	if (!write_begin(c, req->id, &t, set->conditions, set->n_conditions) ||
	    !write_lease(c, req->id, &t, set->ttl_ms, set->hold))
		return;
	for (size_t i = 0; i < set->n_entries && status == OBJD__STATUS__OK;
	     i++)
		status = txn_set(&t, set->entries[i]->key,
		    set->entries[i]->value, err, sizeof(err));
	write_end(c, req->id, &t, status, err);
}

void
handle_delete(struct conn *c, const Objd__Request *req)
{
	const Objd__Delete *del = req->delete_;
	Objd__Status status = OBJD__STATUS__OK;
	struct txn t;
	char err[512];

	if (del->n_keys == 0) {
		write_answer(c, req->id, OBJD__STATUS__INVALID,
		    "delete needs at least one key");
		return;
	}
	if (!write_begin(c, req->id, &t, del->conditions, del->n_conditions))
		return;
	for (size_t i = 0; i < del->n_keys && status == OBJD__STATUS__OK; i++)
		status = txn_delete(&t, del->keys[i], err, sizeof(err));
	write_end(c, req->id, &t, status, err);
}

/* The batch that ends c's staged pieces (stage.c): its own sets are
 * staged after them, and then all of them queued as one change, once
 * its conditions hold. */
/* A compare a staged batch rests on (backend.h): found before its
 * pieces join the batch, made once it is begun. */
struct staged_compare {
	const char *key;
	size_t keylen;
	bool absent;
	uint64_t revision;
};

static void
handle_staged_batch(struct conn *c, const Objd__Request *req)
{
	const Objd__Batch *b = req->batch;
	Objd__Status status;
	struct txn t;
	struct staged_compare *cmps = NULL;
	size_t ncmps = 0;
	char err[768];

	status = stage_add(c, b, true, err, sizeof(err));
	if (status != OBJD__STATUS__OK) {
		stage_free(c);
		write_answer(c, req->id, status, err);
		return;
	}
	if (!write_begin(c, req->id, &t, b->conditions, b->n_conditions) ||
	    !write_lease(c, req->id, &t, b->ttl_ms, b->hold)) {
		stage_free(c);
		return;
	}
	/* As txn_commit does for a batch in one piece: the keys its
	 * conditions are on, as they are committed now (one with a change
	 * still in the batch is left to the batch's order). */
	if (batch_want_compares) {
		cmps = xreallocarray(NULL, t.n + 1, sizeof(*cmps));
		for (size_t i = 0; i < t.n; i++) {
			const struct store_entry *e;
			bool pending;

			if (!t.keys[i].compared)
				continue;
			e = batch_lookup(t.keys[i].key, t.keys[i].keylen,
			    &pending);
			if (!pending)
				cmps[ncmps++] =
				    (struct staged_compare){ t.keys[i].key,
					    t.keys[i].keylen, e == NULL,
					    e != NULL ? e->revision : 0 };
		}
	}
	if (!stage_commit(c, req->id, b->replace))
		write_answer(c, req->id, OBJD__STATUS__OK, NULL);
	else {
		if (t.deadline != 0 || t.holder != 0)
			batch_lease(t.deadline, t.holder);
		for (size_t i = 0; i < ncmps; i++)
			batch_compare(cmps[i].absent ? BACKEND_CMP_KEY_ABSENT
			                             : BACKEND_CMP_KEY_REVISION,
			    cmps[i].key, cmps[i].keylen, cmps[i].revision);
		if (batch_want_compares &&
		    b->object_condition_case ==
		        OBJD__BATCH__OBJECT_CONDITION_IF_OBJECT_REVISION)
			batch_compare(BACKEND_CMP_OBJECT_REVISION, NULL, 0,
			    b->if_object_revision);
	}
	free(cmps);
	txn_free(&t);
}

void
handle_stage(struct conn *c, const Objd__Request *req)
{
	Objd__Status status;
	char err[768];

	status = stage_add(c, req->stage, false, err, sizeof(err));
	write_answer(c, req->id, status,
	    status == OBJD__STATUS__OK ? NULL : err);
}

/* The key of operation j, for prefetch_step. */
static const char *
operation_key(const void *items, size_t j, size_t *keylen)
{
	const Objd__Operation *op = ((Objd__Operation *const *)items)[j];
	const char *key = NULL;

	if (op->op_case == OBJD__OPERATION__OP_SET)
		key = op->set->key;
	else if (op->op_case == OBJD__OPERATION__OP_DELETE)
		key = op->delete_;
	if (key != NULL)
		*keylen = strlen(key);
	return key;
}

void
handle_batch(struct conn *c, const Objd__Request *req)
{
	const Objd__Batch *b = req->batch;
	Objd__Status status = OBJD__STATUS__OK;
	struct prefetch_ring ring = { .store = server.store };
	struct txn t;
	char err[512];

	/* Checked first: a staged load's last piece is refused whole. */
	if (b->object_condition_case ==
	    OBJD__BATCH__OBJECT_CONDITION_IF_OBJECT_REVISION) {
		status =
		    txn_check_object(b->if_object_revision, err, sizeof(err));
		if (status != OBJD__STATUS__OK) {
			if (stage_open(c))
				stage_free(c);
			write_answer(c, req->id, status, err);
			return;
		}
	}
	if (stage_open(c)) {
		handle_staged_batch(c, req);
		return;
	}
	if (!write_begin(c, req->id, &t, b->conditions, b->n_conditions) ||
	    !write_lease(c, req->id, &t, b->ttl_ms, b->hold))
		return;
	if (b->object_condition_case ==
	    OBJD__BATCH__OBJECT_CONDITION_IF_OBJECT_REVISION) {
		t.object_compared = true;
		t.object_revision = b->if_object_revision;
	}
	for (size_t i = 0; i < b->n_operations && status == OBJD__STATUS__OK;
	     i++) {
		const Objd__Operation *op = b->operations[i];

		/* A load or a large batch looks up many keys. */
		prefetch_step(&ring, i, b->n_operations, operation_key,
		    b->operations);

		switch (op->op_case) {
		case OBJD__OPERATION__OP_SET:
			status = txn_set(&t, op->set->key, op->set->value, err,
			    sizeof(err));
			break;
		case OBJD__OPERATION__OP_DELETE:
			status = txn_delete(&t, op->delete_, err, sizeof(err));
			break;
		case OBJD__OPERATION__OP_DELETE_PREFIX:
			status = txn_delete_prefix(&t, op->delete_prefix, err,
			    sizeof(err));
			break;
		default:
			snprintf(err, sizeof(err),
			    "operation %zu of the batch is empty", i + 1);
			status = OBJD__STATUS__INVALID;
		}
	}
	if (status == OBJD__STATUS__OK && b->replace)
		txn_replace_rest(&t);
	write_end(c, req->id, &t, status, err);
}
