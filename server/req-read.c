/* SPDX-License-Identifier: ISC */
/* req-read.c: get, list and history, answered from memory: at once, or
 * for a consistent get once the backend says memory holds all it had.
 * Reads see only committed state: a change still in the batch is not
 * durable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "key.h"
#include "keypath.h"
#include "backend.h"
#include "objd.h"
#include "pbwire.h"
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

/* The oldest revision at which key's state is known: a key that came
 * without a past is known from its entry on. */
static uint64_t
known_from(const struct history *h, const char *key, size_t keylen)
{
	const struct key_history *kh = history_get(h, key, keylen);
	const struct store_entry *e;

	if (kh != NULL)
		return history_known_from(kh);
	e = store_get(server.store, key, keylen);
	return e != NULL && !history_born(h, e) ? e->revision : 0;
}

/* Fills it with the top-level key's value at revision at, from the
 * history; false with status and err if it had none then, or if the
 * history does not reach back so far (*unknown, if not NULL). */
static bool
get_top_at(const char *key, size_t keylen, uint64_t at, struct reply_item *it,
    Objd__Status *status, char *err, size_t errlen, bool *unknown)
{
	const struct history *h = store_history(server.store);
	uint64_t changed = 0;

	memset(it, 0, sizeof(*it));
	switch (history_at(h, server.store, key, keylen, at, &it->val,
	    &it->vallen, &changed)) {
	case HISTORY_PRESENT:
		it->key = key;
		it->keylen = keylen;
		it->revision = changed;
		return true;
	case HISTORY_ABSENT:
		*status = OBJD__STATUS__NOT_FOUND;
		snprintf(err, errlen, "key %.*s did not exist at revision %llu",
		    (int)(keylen > 200 ? 200 : keylen), key,
		    (unsigned long long)at);
		return false;
	case HISTORY_UNKNOWN:
		break;
	}
	*status = OBJD__STATUS__NOT_FOUND;
	if (unknown != NULL)
		*unknown = true;
	if (history_depth == 0)
		snprintf(err, errlen,
		    "revision %llu is older than the history objd keeps: "
		    "none (objd --history 0)",
		    (unsigned long long)at);
	else
		snprintf(err, errlen,
		    "revision %llu is older than the history objd keeps of "
		    "%.*s, which goes back to revision %llu",
		    (unsigned long long)at, (int)(keylen > 200 ? 200 : keylen),
		    key, (unsigned long long)known_from(h, key, keylen));
	return false;
}

/* The top-level key's entry now, or at revision at (0: now). */
static bool
get_top(const char *key, size_t keylen, const char *path, uint64_t at,
    struct reply_item *it, Objd__Status *status, char *err, size_t errlen)
{
	const struct store_entry *e;

	if (at != 0)
		return get_top_at(key, keylen, at, it, status, err, errlen,
		    NULL);
	e = store_get(server.store, key, keylen);
	if (e == NULL) {
		*status = OBJD__STATUS__NOT_FOUND;
		snprintf(err, errlen, "key not found: %s", path);
		return false;
	}
	reply_item_from_entry(it, e);
	return true;
}

/* Fills it with the value at path, now or at revision at (0: now);
 * false with status and err if there is none. *owned is set to bytes
 * the caller frees afterwards. trees, if not NULL, keeps the values
 * that nested paths reach into decoded for the request. */
static bool
get_one(struct get_trees *trees, const char *path, uint64_t at,
    struct reply_item *it, uint8_t **owned, Objd__Status *status, char *err,
    size_t errlen)
{
	const struct store_entry *e;
	struct reply_item top;
	struct keypath kp;
	size_t parts;
	bool found;

	*owned = NULL;
	if (keypath_is_plain(path)) {
		if (!key_valid(path, strlen(path), err, errlen)) {
			*status = OBJD__STATUS__INVALID;
			return false;
		}
		if (at != 0)
			return get_top_at(path, strlen(path), at, it, status,
			    err, errlen, NULL);
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
	found = get_top(kp.parts[0], kp.lens[0], path, at, &top, status, err,
	    errlen);
	e = found && at == 0 ? store_get(server.store, kp.parts[0], kp.lens[0])
	                     : NULL;
	if (found && kp.n == 1)
		*it = top;
	else if (found) {
		*owned = e != NULL ? get_nested(trees, e, &kp, &it->vallen,
		                         status, err, errlen)
		                   : path_get(top.val, top.vallen, &kp,
		                         &it->vallen, status, err, errlen);
		if (*owned != NULL) {
			it->val = *owned;
			it->revision = top.revision;
			it->type = 0;
			it->ttl_ms =
			    e != NULL ? expire_ttl_left(e->data, e->keylen) : 0;
		}
	}
	parts = kp.n;
	keypath_free(&kp);
	if (!found || (parts > 1 && *owned == NULL))
		return false;
	/* The answer names the key as it was asked for. */
	it->key = path;
	it->keylen = strlen(path);
	return true;
}

/* The whole object at revision at, from the history. */
struct object_at {
	uint64_t at;
	struct reply_item *items;
	size_t n, cap;
	bool unknown;
	char err[512];
};

static void
object_at_add(struct object_at *o, const char *key, size_t keylen)
{
	Objd__Status st;

	if (o->unknown)
		return;
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 64;
		o->items = xreallocarray(o->items, o->cap, sizeof(*o->items));
	}
	if (get_top_at(key, keylen, o->at, &o->items[o->n], &st, o->err,
	        sizeof(o->err), &o->unknown))
		o->n++;
}

static void
object_at_key(const struct key_history *kh, void *arg)
{
	object_at_add(arg, HISTORY_KEY(kh), kh->keylen);
}

static void
object_at_entry(const struct store_entry *e, void *arg)
{
	/* Keys with a ring were taken from the history. */
	if (history_get(store_history(server.store), e->data, e->keylen) ==
	    NULL)
		object_at_add(arg, e->data, e->keylen);
}

static int
item_cmp(const void *a, const void *b)
{
	const struct reply_item *x = a, *y = b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, n);

	if (c != 0)
		return c;
	return (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

static void
get_all_at(struct conn *c, uint64_t id, uint64_t at)
{
	struct object_at o = { .at = at };

	if (history_depth == 0) {
		snprintf(o.err, sizeof(o.err),
		    "revision %llu is older than the history objd keeps: "
		    "none (objd --history 0)",
		    (unsigned long long)at);
		reply_status(c, id, OBJD__STATUS__NOT_FOUND, o.err);
		return;
	}
	history_foreach(store_history(server.store), object_at_key, &o);
	store_foreach(server.store, object_at_entry, &o);
	if (o.unknown)
		reply_status(c, id, OBJD__STATUS__NOT_FOUND, o.err);
	else {
		if (o.n > 0)
			qsort(o.items, o.n, sizeof(*o.items), item_cmp);
		reply_entries(c, id, OBJD__STATUS__OK, NULL, o.items, o.n);
	}
	free(o.items);
}

/* Whether the backend lets reads be served now (--max-staleness);
 * answers FAILED, saying why, if not. */
static bool
read_allowed(struct conn *c, uint64_t id)
{
	char err[512];

	if (backend->ops->readable == NULL ||
	    backend->ops->readable(backend, err, sizeof(err)))
		return true;
	reply_status(c, id, OBJD__STATUS__FAILED, err);
	return false;
}

/* A consistent get waiting for the backend's read barrier: its
 * request, copied (the one decoded goes with the turn). */
struct consistent_get {
	struct ticket ticket;
	Objd__Request req;
	Objd__Get get;
	char *keys[];
};

static void
consistent_done(void *arg, bool ok, const char *error)
{
	struct consistent_get *cg = arg;

	if (!ok)
		block_answer(&cg->ticket, OBJD__STATUS__FAILED, error,
		    store_revision(server.store));
	else if (cg->ticket.conn != NULL)
		handle_get(cg->ticket.conn, &cg->req);
	block_release(&cg->ticket);
	for (size_t i = 0; i < cg->get.n_keys; i++)
		free(cg->keys[i]);
	free(cg);
}

/* Parks the client until the backend's state served holds everything
 * it had committed when the get came, then answers it as a plain get. */
static void
get_consistent(struct conn *c, const Objd__Request *req)
{
	const Objd__Get *get = req->get;
	struct consistent_get *cg;

	cg = xcalloc(1, sizeof(*cg) + get->n_keys * sizeof(cg->keys[0]));
	cg->req = (Objd__Request)OBJD__REQUEST__INIT;
	cg->req.id = req->id;
	cg->req.op_case = OBJD__REQUEST__OP_GET;
	cg->req.get = &cg->get;
	cg->get = (Objd__Get)OBJD__GET__INIT;
	cg->get.n_keys = get->n_keys;
	cg->get.keys = cg->keys;
	for (size_t i = 0; i < get->n_keys; i++)
		cg->keys[i] = xstrdup(get->keys[i]);
	/* Like a write, nothing more of the client is read until it is
	 * answered: its answers keep their order. */
	cg->ticket = block_park(c, req->id, BLOCK_ALONE);
	backend->ops->read_barrier(backend, consistent_done, cg);
}

void
handle_get(struct conn *c, const Objd__Request *req)
{
	const Objd__Get *get = req->get;
	Objd__Status status = OBJD__STATUS__OK, st;
	struct reply_item *items, inline_items[GET_INLINE_KEYS];
	uint8_t **owned, *inline_owned[GET_INLINE_KEYS];
	char err[512], first_err[512];
	struct get_trees trees = { NULL, { NULL } };
	size_t n = 0;

	if (get->consistent && get->at_revision != 0) {
		reply_status(c, req->id, OBJD__STATUS__INVALID,
		    "a consistent read is of now: not with at_revision");
		return;
	}
	if (!read_allowed(c, req->id))
		return;
	/* On a backend whose state is the one served, every read is. */
	if (get->consistent && backend->ops->read_barrier != NULL) {
		get_consistent(c, req);
		return;
	}
	if (get->at_revision >= store_revision(server.store) &&
	    get->at_revision != 0) {
		if (get->at_revision > store_revision(server.store)) {
			snprintf(err, sizeof(err),
			    "revision %llu is in the future (the object is at "
			    "%llu)",
			    (unsigned long long)get->at_revision,
			    (unsigned long long)store_revision(server.store));
			reply_status(c, req->id, OBJD__STATUS__INVALID, err);
			return;
		}
	} else if (get->n_keys == 0 && get->at_revision != 0) {
		get_all_at(c, req->id, get->at_revision);
		return;
	}
	if (get->n_keys == 0) {
		reply_entries_under(c, req->id, status, "", 0);
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
		        get->at_revision, &items[n], &owned[i], &st, err,
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

	if (!read_allowed(c, req->id))
		return;
	found = store_sorted(server.store, prefix, strlen(prefix), &n);
	reply_keys(c, req->id, found, n);
	free(found);
}

/* Appends a Version (Response.versions) to b; val NULL for none. */
static void
put_version(struct buf *b, uint64_t revision, uint32_t time, unsigned what,
    const uint8_t *val, size_t vallen)
{
	size_t body;
	uint8_t *p;

	body = 1 + varint_size(revision);
	if (time != 0)
		body += 1 + varint_size(time);
	if (what != 0)
		body += 1 + varint_size(what);
	if (val != NULL)
		body += 1 + varint_size(vallen) + vallen;
	if (b->len + 2 * VARINT_MAX_LEN + body > b->cap) {
		b->cap = (b->len + 2 * VARINT_MAX_LEN + body) * 2;
		b->data = xrealloc(b->data, b->cap);
	}
	p = b->data + b->len;
	*p++ = PBW_RESPONSE_VERSIONS_TAG;
	p += varint_encode(p, body);
	*p++ = PBW_VERSION_REVISION_TAG;
	p += varint_encode(p, revision);
	if (time != 0) {
		*p++ = PBW_VERSION_TIME_TAG;
		p += varint_encode(p, time);
	}
	if (what != 0) {
		*p++ = PBW_VERSION_WHAT_TAG;
		p += varint_encode(p, what);
	}
	if (val != NULL) {
		*p++ = PBW_VERSION_VALUE_TAG;
		p += varint_encode(p, vallen);
		memcpy(p, val, vallen);
		p += vallen;
	}
	b->len = (size_t)(p - b->data);
}

void
handle_history(struct conn *c, const Objd__Request *req)
{
	const char *key = req->history->key;
	const struct key_history *kh;
	const struct store_entry *e;
	struct buf b = { 0 };
	char err[512];

	if (!read_allowed(c, req->id))
		return;
	if (!key_valid(key, strlen(key), err, sizeof(err))) {
		reply_status(c, req->id, OBJD__STATUS__INVALID, err);
		return;
	}
	if (history_depth == 0) {
		reply_status(c, req->id, OBJD__STATUS__NOT_FOUND,
		    "objd keeps no history (objd --history 0)");
		return;
	}
	kh = history_get(store_history(server.store), key, strlen(key));
	e = store_get(server.store, key, strlen(key));
	if (kh == NULL && e == NULL) {
		snprintf(err, sizeof(err), "key %.200s has no history", key);
		reply_status(c, req->id, OBJD__STATUS__NOT_FOUND, err);
		return;
	}
	/* A key set once, or that came with no past (from a snapshot
	 * without its record, another program's file), has its entry
	 * alone; the time of a key set once is in the list of times. */
	if (kh == NULL)
		put_version(&b, e->revision,
		    history_time_of(store_history(server.store), e->revision),
		    HISTORY_SET, STORE_ENTRY_VALUE(e), e->vallen);
	for (uint32_t i = 0; kh != NULL && i < kh->count; i++) {
		const struct history_version *v = HISTORY_AT(kh, i);
		const uint8_t *val = NULL;
		size_t vallen = 0;

		if (!history_version_value(kh, i, server.store, &val, &vallen))
			val = NULL;
		put_version(&b, v->revision, v->time, v->what, val, vallen);
	}
	reply_packed(c, req->id, b.data, b.len);
	free(b.data);
}
