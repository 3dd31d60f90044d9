/* SPDX-License-Identifier: ISC */
/* handle-read.c: get and list, answered at once from memory. Reads see
 * only committed state: a change still in the batch is not durable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "keypath.h"
#include "objd.h"
#include "value.h"
#include "xmalloc.h"

/* A get of up to this many keys needs no allocation. */
#define GET_INLINE_KEYS 8

/* The values that a get of several nested paths reached into, decoded
 * once each for the request (an entry's address -> its struct
 * get_tree), with the members of their maps indexed from the second path
 * into a value on: n paths into one value cost O(n + size of the value),
 * not n decodes of it. Committed entries stay put while a request is
 * handled. */
struct get_trees {
	struct store *roots;
	struct path_index index;
};

struct get_tree {
	Objd__Value *root;
	unsigned uses;
};

static void
get_tree_free(const struct store_entry *e, void *arg)
{
	struct get_tree *gt;

	(void)arg;
	memcpy(&gt, STORE_ENTRY_VALUE(e), sizeof(gt));
	value_free(gt->root);
	free(gt);
}

static void
get_trees_free(struct get_trees *trees)
{
	if (trees->roots != NULL) {
		store_foreach(trees->roots, get_tree_free, NULL);
		store_free(trees->roots);
	}
	path_index_free(&trees->index);
}

/* The value at the nested path kp of e, packed; NULL with status. */
static uint8_t *
get_nested(struct get_trees *trees, const struct store_entry *e,
    const struct keypath *kp, size_t *len, Objd__Status *status, char *err,
    size_t errlen)
{
	const struct store_entry *found;
	const Objd__Value *v;
	struct get_tree *gt;

	if (trees == NULL)
		return path_get(STORE_ENTRY_VALUE(e), e->vallen, kp, len,
		    status, err, errlen);
	if (trees->roots == NULL)
		trees->roots = store_new();
	found = store_get(trees->roots, (const char *)&e, sizeof(e));
	if (found != NULL)
		memcpy(&gt, STORE_ENTRY_VALUE(found), sizeof(gt));
	else {
		gt = xcalloc(1, sizeof(*gt));
		gt->root = path_tree(STORE_ENTRY_VALUE(e), e->vallen);
		store_put(trees->roots,
		    store_entry_new((const char *)&e, sizeof(e),
		        (const uint8_t *)&gt, sizeof(gt), 0));
	}
	v = path_tree_get(++gt->uses > 1 ? &trees->index : NULL, gt->root, kp,
	    status, err, errlen);
	return v != NULL ? value_pack(v, len) : NULL;
}

/* Fills it with the value at path; false with status and err if there
 * is none. *owned is set to bytes the caller frees afterwards. */
static bool
get_one(struct get_trees *trees, const char *path, struct reply_item *it,
    uint8_t **owned, Objd__Status *status, char *err, size_t errlen)
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
		*owned =
		    get_nested(trees, e, &kp, &it->vallen, status, err, errlen);
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
	struct get_trees trees = { NULL, { NULL } };
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
		if (get_one(get->n_keys > 1 ? &trees : NULL, get->keys[i],
		        &items[n], &owned[i], &st, err, sizeof(err)))
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
	get_trees_free(&trees);
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
