/* SPDX-License-Identifier: ISC */
/* handle-read.c: get and list, answered at once from memory. Reads see
 * only committed state: a change still in the batch is not durable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "keypath.h"
#include "objd.h"
#include "xmalloc.h"

/* A get of up to this many keys needs no allocation. */
#define GET_INLINE_KEYS 8

/* Fills it with the value at path; false with status and err if there
 * is none. *owned is set to bytes the caller frees afterwards. */
static bool
get_one(const char *path, struct reply_item *it, uint8_t **owned,
    Objd__Status *status, char *err, size_t errlen)
{
	const struct store_entry *e;
	struct keypath kp;
	size_t parts;

	*owned = NULL;
	if (keypath_is_plain(path)) {
		if (!key_valid(path, strlen(path), err, errlen)) {
			*status = OBJD__STATUS__INVALID;
			return false;
		}
		e = store_get(server.store, path, strlen(path));
		if (e == NULL) {
			*status = OBJD__STATUS__NOT_FOUND;
			snprintf(err, errlen, "key not found: %s", path);
			return false;
		}
		reply_item_from_entry(it, e);
		return true;
	}
	if (!keypath_parse(path, &kp, err, errlen)) {
		*status = OBJD__STATUS__INVALID;
		return false;
	}
	e = store_get(server.store, kp.parts[0], kp.lens[0]);
	if (e == NULL) {
		*status = OBJD__STATUS__NOT_FOUND;
		snprintf(err, errlen, "key not found: %s", path);
	} else if (kp.n == 1)
		reply_item_from_entry(it, e);
	else {
		*owned = path_get(STORE_ENTRY_VALUE(e), e->vallen, &kp,
		    &it->vallen, status, err, errlen);
		if (*owned != NULL) {
			it->val = *owned;
			it->revision = e->revision;
			it->type = 0;
			it->ttl_ms = expire_ttl_left(e->data, e->keylen);
		}
	}
	parts = kp.n;
	keypath_free(&kp);
	if (e == NULL || (parts > 1 && *owned == NULL))
		return false;
	/* The answer names the key as it was asked for. */
	it->key = path;
	it->keylen = strlen(path);
	return true;
}

void
handle_get(struct conn *c, const Objd__Request *req)
{
	const Objd__Get *get = req->get;
	Objd__Status status = OBJD__STATUS__OK, st;
	struct store_entry **all;
	struct reply_item *items, inline_items[GET_INLINE_KEYS];
	uint8_t **owned, *inline_owned[GET_INLINE_KEYS];
	char err[512], first_err[512];
	size_t n = 0;

	if (get->n_keys == 0) {
		all = store_sorted(server.store, "", 0, &n);
		items = xreallocarray(NULL, n + 1, sizeof(*items));
		for (size_t i = 0; i < n; i++)
			reply_item_from_entry(&items[i], all[i]);
		reply_entries(c, req->id, status, NULL, items, n);
		free(items);
		free(all);
		return;
	}
	if (get->n_keys <= GET_INLINE_KEYS) {
		items = inline_items;
		owned = inline_owned;
	} else {
		items = xreallocarray(NULL, get->n_keys, sizeof(*items));
		owned = xreallocarray(NULL, get->n_keys, sizeof(*owned));
	}
	for (size_t i = 0; i < get->n_keys; i++) {
		if (get_one(get->keys[i], &items[n], &owned[i], &st, err,
		        sizeof(err)))
			n++;
		else if (status == OBJD__STATUS__OK ||
		    (status == OBJD__STATUS__NOT_FOUND &&
		        st == OBJD__STATUS__INVALID)) {
			status = st;
			memcpy(first_err, err, sizeof(err));
		}
	}
	if (status == OBJD__STATUS__INVALID)
		reply_status(c, req->id, status, first_err);
	else
		reply_entries(c, req->id, status,
		    status == OBJD__STATUS__OK ? NULL : first_err, items, n);
	for (size_t i = 0; i < get->n_keys; i++)
		free(owned[i]);
	if (items != inline_items) {
		free(owned);
		free(items);
	}
}

void
handle_list(struct conn *c, const Objd__Request *req)
{
	const char *prefix = req->list->prefix;
	struct store_entry **found;
	size_t n;

	found = store_sorted(server.store, prefix, strlen(prefix), &n);
	reply_keys(c, req->id, found, n);
	free(found);
}
