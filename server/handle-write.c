/* handle-write.c: set and delete. Each request is one atomic change that
 * joins the current batch (batch.c) and is answered once durable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "objd.h"
#include "value.h"
#include "xmalloc.h"

/* Checks every entry of a set; false once an answer has been sent. */
static bool
set_check(struct conn *c, const Objd__Request *req)
{
	const Objd__Set *set = req->set;
	char why[256], msg[512];

	if (set->n_entries == 0) {
		reply_status(c, req->id, OBJD__STATUS__INVALID,
		    "set needs at least one key");
		return false;
	}
	for (size_t i = 0; i < set->n_entries; i++) {
		const Objd__Entry *e = set->entries[i];

		if (!key_valid(e->key, strlen(e->key), why, sizeof(why)) ||
		    !value_valid(e->value, why, sizeof(why))) {
			snprintf(msg, sizeof(msg), "%s: %s",
			    *e->key ? e->key : "(empty key)", why);
			reply_status(c, req->id, OBJD__STATUS__INVALID, msg);
			return false;
		}
		/* Two values for one key in one change is a mistake. */
		for (size_t j = 0; j < i; j++)
			if (strcmp(set->entries[j]->key, e->key) == 0) {
				snprintf(msg, sizeof(msg),
				    "key %s is set twice in one request",
				    e->key);
				reply_status(
				    c, req->id, OBJD__STATUS__INVALID, msg);
				return false;
			}
	}
	return true;
}

void
handle_set(struct conn *c, const Objd__Request *req)
{
	const Objd__Set *set = req->set;
	uint8_t **packed;
	size_t *lens, changed = 0;
	bool pending;

	if (!set_check(c, req))
		return;
	packed = xcalloc(set->n_entries, sizeof(*packed));
	lens = xcalloc(set->n_entries, sizeof(*lens));
	for (size_t i = 0; i < set->n_entries; i++) {
		const Objd__Entry *e = set->entries[i];
		const struct store_entry *cur;

		packed[i] = value_pack(e->value, &lens[i]);
		cur = batch_lookup(e->key, strlen(e->key), &pending);
		/* Setting a value to what it already is commits nothing. */
		if (cur != NULL && cur->vallen == lens[i] &&
		    memcmp(STORE_ENTRY_VALUE(cur), packed[i], lens[i]) == 0) {
			free(packed[i]);
			packed[i] = NULL;
		} else
			changed++;
	}
	if (changed == 0)
		reply_status(c, req->id, OBJD__STATUS__OK, NULL);
	else {
		batch_begin(c, req->id);
		for (size_t i = 0; i < set->n_entries; i++)
			if (packed[i] != NULL)
				batch_add_set(set->entries[i]->key,
				    strlen(set->entries[i]->key), packed[i],
				    lens[i]);
		batch_end(OBJD__STATUS__OK, NULL);
	}
	for (size_t i = 0; i < set->n_entries; i++)
		free(packed[i]);
	free(packed);
	free(lens);
}

void
handle_delete(struct conn *c, const Objd__Request *req)
{
	const Objd__Delete *del = req->delete_;
	bool *exists, pending;
	size_t present = 0;
	char why[256], *missing = NULL;

	if (del->n_keys == 0) {
		reply_status(c, req->id, OBJD__STATUS__INVALID,
		    "delete needs at least one key");
		return;
	}
	exists = xcalloc(del->n_keys, sizeof(*exists));
	for (size_t i = 0; i < del->n_keys; i++) {
		const char *key = del->keys[i];

		if (!key_valid(key, strlen(key), why, sizeof(why))) {
			reply_status(c, req->id, OBJD__STATUS__INVALID, why);
			free(exists);
			return;
		}
		exists[i] = batch_lookup(key, strlen(key), &pending) != NULL;
		if (exists[i])
			present++;
		else if (missing == NULL)
			missing = xasprintf("key not found: %s", key);
	}
	/* Like rm(1): the keys that exist go, and a missing one is
	 * reported. */
	if (present == 0)
		reply_status(c, req->id, OBJD__STATUS__NOT_FOUND, missing);
	else {
		batch_begin(c, req->id);
		for (size_t i = 0; i < del->n_keys; i++)
			if (exists[i])
				batch_add_delete(
				    del->keys[i], strlen(del->keys[i]));
		batch_end(missing != NULL ? OBJD__STATUS__NOT_FOUND
		                          : OBJD__STATUS__OK,
		    missing);
	}
	free(missing);
	free(exists);
}
