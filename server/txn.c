/* SPDX-License-Identifier: ISC */
/* txn.c: one write request as one atomic change.
 *
 * A request's operations run in order against an overlay of the
 * top-level keys it touches, which sits on the pending batch and the
 * store. Conditions are checked first, against the state before the
 * request. Only once every operation has succeeded does the change join
 * the batch: a failure anywhere leaves nothing behind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "keypath.h"
#include "backend.h"
#include "objd.h"
#include "value.h"
#include "xmalloc.h"

#define TXN_SCAN_MAX 16

void
txn_init(struct txn *t)
{
	t->keys = t->inline_keys;
	t->n = 0;
	t->cap = TXN_INLINE_KEYS;
	t->index = NULL;
	t->deadline = t->holder = 0;
	t->object_compared = false;
	t->nindex = 0;
	path_index_init(&t->paths);
}

void
txn_free(struct txn *t)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->keys[i].key_owned)
			free((char *)t->keys[i].key);
		if (t->keys[i].val_owned)
			free((uint8_t *)t->keys[i].val);
		free(t->keys[i].entry);
		value_free(t->keys[i].tree);
	}
	if (t->keys != t->inline_keys)
		free(t->keys);
	free(t->index);
	t->index = NULL;
	t->nindex = 0;
	path_index_free(&t->paths);
	t->n = 0;
}

/* Past TXN_SCAN_MAX keys (a batch, a load) the overlay is indexed: open
 * addressing over the positions in keys, at most half full, cleared
 * with the txn. A store as the index cost an allocation and a free for
 * each key. Each key is hashed once: its hash is kept with it for the
 * index's growth, and the slot its look-up found is where it goes. */
static uint64_t txn_seed;
static bool txn_seeded;

static uint64_t
txn_hash(const char *key, size_t keylen)
{
	if (!txn_seeded) {
		txn_seed = store_random_seed(&txn_seed);
		txn_seeded = true;
	}
	return store_key_hash(txn_seed, key, keylen);
}

/* key's slot in the index: the one that holds it, or the empty one where
 * it would go. */
static size_t
txn_slot(const struct txn *t, const char *key, size_t keylen, uint64_t hash)
{
	size_t mask = t->nindex - 1;
	size_t i = (size_t)hash & mask;
	uint32_t pos;

	while ((pos = t->index[i]) != 0) {
		const struct txn_key *k = &t->keys[pos - 1];

		if (k->hash == hash && k->keylen == keylen &&
		    memcmp(k->key, key, keylen) == 0)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

/* The overlay's record of key, or NULL. */
static struct txn_key *
txn_find(struct txn *t, const char *key, size_t keylen)
{
	uint32_t pos;

	if (t->index == NULL) {
		for (size_t i = 0; i < t->n; i++)
			if (t->keys[i].keylen == keylen &&
			    memcmp(t->keys[i].key, key, keylen) == 0)
				return &t->keys[i];
		return NULL;
	}
	pos = t->index[txn_slot(t, key, keylen, txn_hash(key, keylen))];
	return pos != 0 ? &t->keys[pos - 1] : NULL;
}

/* Most requests touch a key or two: a scan beats a table until then.
 * Key i was just added; slot is where its look-up found room, if t had
 * an index then. */
static void
txn_index(struct txn *t, size_t i, size_t slot)
{
	size_t n, mask;

	if (t->index == NULL && t->n < TXN_SCAN_MAX)
		return;
	if (t->index != NULL && 2 * t->n <= t->nindex) {
		t->index[slot] = (uint32_t)(i + 1);
		return;
	}
	/* The keys a scan found were never hashed. */
	if (t->index == NULL)
		for (size_t j = 0; j <= i; j++)
			t->keys[j].hash =
			    txn_hash(t->keys[j].key, t->keys[j].keylen);
	for (n = 4 * TXN_SCAN_MAX; n < 2 * t->n; n *= 2)
		;
	free(t->index);
	t->index = xcalloc(n, sizeof(*t->index));
	t->nindex = n;
	mask = n - 1;
	/* The keys differ: each goes to the first free slot from its
	 * hash's, no key compared. */
	for (size_t j = 0; j <= i; j++) {
		size_t k = (size_t)t->keys[j].hash & mask;

		while (t->index[k] != 0)
			k = (k + 1) & mask;
		t->index[k] = (uint32_t)(j + 1);
	}
}

/* The overlay's record of a top-level key, made on first use. A key
 * that lasts as long as t (a request's, or an entry's) is borrowed, not
 * copied: most requests then allocate only the values they set. */
static struct txn_key *
txn_key(struct txn *t, const char *key, size_t keylen, bool lasts)
{
	const struct store_entry *e;
	struct txn_key *k;
	uint64_t hash = 0;
	size_t slot = 0;
	bool pending;

	if (t->index == NULL) {
		if ((k = txn_find(t, key, keylen)) != NULL)
			return k;
	} else {
		hash = txn_hash(key, keylen);
		slot = txn_slot(t, key, keylen, hash);
		if (t->index[slot] != 0)
			return &t->keys[t->index[slot] - 1];
	}
	/* Fourfold: a batch's thousand keys are moved three times, not
	 * eight. */
	if (t->n == t->cap) {
		t->cap *= 4;
		if (t->keys == t->inline_keys) {
			t->keys = xreallocarray(NULL, t->cap, sizeof(*t->keys));
			memcpy(t->keys, t->inline_keys, sizeof(t->inline_keys));
		} else
			t->keys =
			    xreallocarray(t->keys, t->cap, sizeof(*t->keys));
	}
	k = &t->keys[t->n++];
	memset(k, 0, sizeof(*k));
	k->key = lasts ? key : xstrndup(key, keylen);
	k->key_owned = !lasts;
	k->keylen = keylen;
	k->hash = hash;
	e = batch_lookup(key, keylen, &pending);
	if (e != NULL) {
		k->existed = k->exists = true;
		k->old = k->val = STORE_ENTRY_VALUE(e);
		k->oldlen = k->vallen = e->vallen;
	}
	txn_index(t, (size_t)(k - t->keys), slot);
	return k;
}

static void
txn_put(struct txn *t, struct txn_key *k, uint8_t *val, size_t len)
{
	if (k->tree != NULL) {
		value_free(k->tree);
		k->tree = NULL;
		path_index_reset(&t->paths);
	}
	if (k->val_owned)
		free((uint8_t *)k->val);
	free(k->entry);
	k->entry = NULL;
	k->val = val;
	k->val_owned = val != NULL;
	k->vallen = len;
	k->exists = val != NULL;
}

/* A whole value for k, packed straight into the entry that the batch
 * takes as it is: no copy of the value, no allocation but the entry; a
 * large one's entry was made as its request was decoded. */
static void
txn_put_value(struct txn *t, struct txn_key *k, const Objd__Value *v)
{
	struct store_entry *e = request_entries_untaken > 0
	    ? request_take_entry(v, k->key, k->keylen)
	    : NULL;

	if (e == NULL) {
		e = store_entry_reuse(k->key, k->keylen, value_packed_size(v),
		    0);
		value_pack_to(v, (uint8_t *)e->data + e->keylen + 1);
	}
	txn_put(t, k, NULL, 0);
	k->entry = e;
	k->val = STORE_ENTRY_VALUE(e);
	k->vallen = e->vallen;
	k->exists = true;
}

/* Packs the tree of k, which nested sets changed, into its value. */
static void
txn_pack_tree(struct txn *t, struct txn_key *k)
{
	uint8_t *val;
	size_t len;

	if (k->tree == NULL)
		return;
	val = value_pack(k->tree, &len);
	txn_put(t, k, val, len);
}

/* Finds path's top-level key: path itself when it is plain (kp->n is
 * then 0), else the first part of kp, parsed from it. Every path comes
 * from a request's string, which its decoding found to be UTF-8 without
 * NUL (request-decode.c, or pbcheck before protobuf-c): of a plain
 * key's rules only the length is left to check, and key_valid says what
 * is wrong with it. */
static bool
txn_parse(const char *path, struct keypath *kp, const char **key,
    size_t *keylen, char *err, size_t errlen)
{
	if (keypath_is_plain(path)) {
		kp->n = 0;
		*key = path;
		*keylen = strlen(path);
		if (*keylen == 0 || *keylen > KEY_MAX_LEN)
			return key_valid(path, *keylen, err, errlen);
		return true;
	}
	if (!keypath_parse(path, kp, err, errlen))
		return false;
	*key = kp->parts[0];
	*keylen = kp->lens[0];
	return true;
}

Objd__Status
txn_set(struct txn *t, const char *path, const Objd__Value *v, char *err,
    size_t errlen)
{
	struct keypath kp;
	struct txn_key *k;
	const char *key;
	size_t keylen;
	char why[256];
	bool ok;

	if (!txn_parse(path, &kp, &key, &keylen, err, errlen))
		return OBJD__STATUS__INVALID;
	if (!value_valid_decoded(v, why, sizeof(why))) {
		snprintf(err, errlen, "%s: %s", path, why);
		keypath_free(&kp);
		return OBJD__STATUS__INVALID;
	}
	k = txn_key(t, key, keylen, kp.n == 0);
	if (kp.n <= 1) {
		keypath_free(&kp);
		txn_put_value(t, k, v);
		return OBJD__STATUS__OK;
	}
	/* The first path into a value decodes it, and the request keeps it
	 * so until it commits; from the second on, the members of its maps
	 * are found through an index. */
	if (k->tree == NULL)
		k->tree = path_tree(k->exists ? k->val : NULL, k->vallen);
	ok = path_tree_set(++k->nested_sets > 1 ? &t->paths : NULL, k->tree,
	    &kp, v, err, errlen);
	keypath_free(&kp);
	if (!ok)
		return OBJD__STATUS__INVALID;
	k->exists = true;
	return OBJD__STATUS__OK;
}

Objd__Status
txn_delete(struct txn *t, const char *path, char *err, size_t errlen)
{
	Objd__Status status = OBJD__STATUS__OK;
	struct keypath kp;
	struct txn_key *k;
	const char *key;
	uint8_t *val;
	size_t keylen, len;

	if (!txn_parse(path, &kp, &key, &keylen, err, errlen))
		return OBJD__STATUS__INVALID;
	k = txn_key(t, key, keylen, kp.n == 0);
	txn_pack_tree(t, k);
	if (!k->exists) {
		snprintf(err, errlen, "key not found: %s", path);
		status = OBJD__STATUS__NOT_FOUND;
	} else if (kp.n <= 1)
		txn_put(t, k, NULL, 0);
	else if ((val = path_delete(k->val, k->vallen, &kp, &len, &status, err,
	              errlen)) != NULL)
		txn_put(t, k, val, len);
	keypath_free(&kp);
	return status;
}

Objd__Status
txn_check(struct txn *t, const Objd__Condition *cond, char *err, size_t errlen)
{
	const struct store_entry *e;
	struct keypath kp;
	Objd__Status status = OBJD__STATUS__OK;
	bool pending, exists;
	const char *key;
	uint8_t *nested;
	size_t keylen, len;

	if (!txn_parse(cond->key, &kp, &key, &keylen, err, errlen))
		return OBJD__STATUS__INVALID;
	e = batch_lookup(key, keylen, &pending);
	exists = e != NULL;
	if (exists && kp.n > 1) {
		nested = path_get(STORE_ENTRY_VALUE(e), e->vallen, &kp, &len,
		    &status, err, errlen);
		exists = nested != NULL;
		free(nested);
		status = OBJD__STATUS__OK;
	}
	keypath_free(&kp);
	/* A backend that others write too checks it again where the
	 * change is made: the key must still be as seen here. */
	if (batch_want_compares)
		txn_key(t, key, keylen, false)->compared = true;
	switch (cond->test_case) {
	case OBJD__CONDITION__TEST_ABSENT:
		if (exists) {
			snprintf(err, errlen, "conflict: %s exists", cond->key);
			return OBJD__STATUS__CONFLICT;
		}
		return OBJD__STATUS__OK;
	case OBJD__CONDITION__TEST_REVISION:
		/* A change still in the batch will give the key a revision
		 * that no client can have seen. */
		if (!exists || pending || e->revision != cond->revision) {
			if (!exists)
				snprintf(err, errlen,
				    "conflict: %s does not exist", cond->key);
			else
				snprintf(err, errlen,
				    "conflict: %s is at revision %llu, not "
				    "%llu",
				    cond->key,
				    (unsigned long long)(pending
				            ? store_revision(server.store) + 1
				            : e->revision),
				    (unsigned long long)cond->revision);
			return OBJD__STATUS__CONFLICT;
		}
		return OBJD__STATUS__OK;
	default:
		snprintf(err, errlen, "a condition on %s has no test",
		    cond->key);
		return OBJD__STATUS__INVALID;
	}
}

Objd__Status
txn_check_object(uint64_t revision, char *err, size_t errlen)
{
	uint64_t now = store_revision(server.store);

	/* A change still in the batch gives the object a revision that no
	 * client can have read. */
	if (batch_has_changes())
		now++;
	if (now == revision && !batch_has_changes())
		return OBJD__STATUS__OK;
	snprintf(err, errlen,
	    "conflict: the object is at revision %llu, not %llu",
	    (unsigned long long)now, (unsigned long long)revision);
	return OBJD__STATUS__CONFLICT;
}

struct prefix_walk {
	struct txn *t;
	const char *prefix;
	size_t len;
	size_t deleted;
};

static bool
txn_key_deleted(struct txn *t, struct txn_key *k)
{
	if (!k->exists)
		return false;
	txn_put(t, k, NULL, 0);
	return true;
}

static void
txn_prefix_one(const struct store_entry *e, void *arg)
{
	struct prefix_walk *w = arg;

	if (e->keylen >= w->len && memcmp(e->data, w->prefix, w->len) == 0 &&
	    txn_key_deleted(w->t, txn_key(w->t, e->data, e->keylen, true)))
		w->deleted++;
}

Objd__Status
txn_delete_prefix(struct txn *t, const char *prefix, char *err, size_t errlen)
{
	struct prefix_walk w = { t, prefix, strlen(prefix), 0 };
	struct store_entry **found;
	size_t n = t->n, nfound;

	if (w.len == 0) {
		snprintf(err, errlen,
		    "delete_prefix needs a prefix (to empty the object, load "
		    "an empty one)");
		return OBJD__STATUS__INVALID;
	}
	/* The keys this request made first: they are in neither the store
	 * nor the batch. Then those of the store, sorted so that watchers
	 * see the deletes in the order list prints the keys, and those of
	 * the batch, found through the overlay, which knows what the
	 * request did to them. */
	for (size_t i = 0; i < n; i++)
		if (t->keys[i].keylen >= w.len &&
		    memcmp(t->keys[i].key, prefix, w.len) == 0 &&
		    txn_key_deleted(t, &t->keys[i]))
			w.deleted++;
	found = store_sorted(server.store, prefix, w.len, &nfound);
	for (size_t i = 0; i < nfound; i++)
		txn_prefix_one(found[i], &w);
	free(found);
	batch_foreach_set(txn_prefix_one, &w);
	if (w.deleted == 0) {
		snprintf(err, errlen, "no key starts with %s", prefix);
		return OBJD__STATUS__NOT_FOUND;
	}
	return OBJD__STATUS__OK;
}

static void
txn_replace_one(const struct store_entry *e, void *arg)
{
	struct txn *t = arg;

	if (txn_find(t, e->data, e->keylen) == NULL)
		txn_put(t, txn_key(t, e->data, e->keylen, true), NULL, 0);
}

void
txn_replace_rest(struct txn *t)
{
	/* Keys touched so far are the ones the request sets; every other
	 * key, committed or pending, goes. */
	store_foreach(server.store, txn_replace_one, t);
	batch_foreach_set(txn_replace_one, t);
}

/* For a backend whose state others change too (etcd): the keys the
 * request's conditions are on, and those a nested set read and
 * rewrote, must be at etcd as the request saw them here, or the change
 * is not made (CONFLICT). A key with a change still in the batch has no
 * revision yet, and is left to the order of the batch. */
static void
txn_compares(const struct txn *t)
{
	/* txn_check_object saw no change pending: the object's revision
	 * is the one the client read. */
	if (t->object_compared)
		batch_compare(BACKEND_CMP_OBJECT_REVISION, NULL, 0,
		    t->object_revision);
	for (size_t i = 0; i < t->n; i++) {
		const struct txn_key *k = &t->keys[i];
		const struct store_entry *e;
		bool pending;

		if (!k->compared && k->nested_sets == 0)
			continue;
		e = batch_lookup(k->key, k->keylen, &pending);
		if (pending)
			continue;
		if (e != NULL)
			batch_compare(BACKEND_CMP_KEY_REVISION, k->key,
			    k->keylen, e->revision);
		else
			batch_compare(BACKEND_CMP_KEY_ABSENT, k->key, k->keylen,
			    0);
	}
}

bool
txn_commit(struct txn *t, struct conn *c, uint64_t id)
{
	size_t changed = 0;

	for (size_t i = 0; i < t->n; i++) {
		struct txn_key *k = &t->keys[i];

		txn_pack_tree(t, k);
		k->changed = k->exists != k->existed ||
		    (k->exists &&
		        (k->vallen != k->oldlen ||
		            memcmp(k->val, k->old, k->vallen) != 0));
		/* The same value with another lease (or none, for a key
		 * that had one) is a change: of its deadline or holder. */
		if (k->exists && !k->changed &&
		    (t->deadline != 0 || t->holder != 0 ||
		        leases_get(store_leases(server.store), k->key,
		            k->keylen) != NULL))
			k->changed = true;
		if (k->changed)
			changed++;
	}
	if (changed == 0)
		return false;
	batch_begin(c, id);
	if (t->deadline != 0 || t->holder != 0)
		batch_lease(t->deadline, t->holder);
	if (batch_want_compares)
		txn_compares(t);
	for (size_t i = 0; i < t->n; i++) {
		struct txn_key *k = &t->keys[i];

		if (!k->changed)
			continue;
		if (k->entry != NULL) {
			batch_add_entry(k->entry);
			k->entry = NULL;
		} else if (k->exists)
			batch_add_set(k->key, k->keylen, k->val, k->vallen);
		else
			batch_add_delete(k->key, k->keylen);
	}
	return true;
}
