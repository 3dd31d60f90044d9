/* SPDX-License-Identifier: ISC */
/* handle-write.c: set, delete and batch. Each request is one atomic
 * change (txn.c) that joins the current batch (batch.c) and is answered
 * once durable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objd.h"

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

void
handle_set(struct conn *c, const Objd__Request *req)
{
	const Objd__Set *set = req->set;
	Objd__Status status = OBJD__STATUS__OK;
	struct txn t;
	char err[512];

	if (set->n_entries == 0) {
		write_answer(c, req->id, OBJD__STATUS__INVALID,
		    "set needs at least one key");
		return;
	}
	/* Two values for one key in one set is a mistake, not an order. */
	for (size_t i = 0; i < set->n_entries; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(set->entries[j]->key,
			        set->entries[i]->key) == 0) {
				snprintf(err, sizeof(err),
				    "key %s is set twice in one request",
				    set->entries[i]->key);
				write_answer(c, req->id, OBJD__STATUS__INVALID,
				    err);
				return;
			}
	if (!write_begin(c, req->id, &t, set->conditions, set->n_conditions))
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

	if (!write_begin(c, req->id, &t, b->conditions, b->n_conditions))
		return;
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
