/* SPDX-License-Identifier: ISC */
/* path.c: reading and writing inside nested maps. Stored values are
 * encoded; a path that reaches inside one decodes its top-level value,
 * walks the maps named by the rest of the path, and encodes the result.
 * Depth was checked when the value was stored, so the decode is safe.
 *
 * A request of many paths into one value (m.k1, m.k2, ...) keeps the
 * value decoded (a tree) for its length instead, encodes it once at the
 * end, and finds the members of the maps it walks through an index
 * (struct path_index): so it costs O(paths + size of the value), where
 * decoding, walking and encoding the whole value for each path cost
 * O(paths x size). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keypath.h"
#include "log.h"
#include "objd.h"
#include "pbcheck.h"
#include "value.h"
#include "xmalloc.h"

/* The index holds, for each map it has seen, the map's address alone
 * (a mark: its members are in), and the address followed by a member's
 * name, with the member's position in the map's fields. Names are never
 * empty, so the two kinds of keys cannot meet. */
#define PATH_INDEX_KEY_INLINE 256

void
path_index_init(struct path_index *ix)
{
	ix->members = NULL;
}

void
path_index_reset(struct path_index *ix)
{
	store_free(ix->members);
	ix->members = NULL;
}

void
path_index_free(struct path_index *ix)
{
	path_index_reset(ix);
}

/* The index's key for member key of the map at m, in buf if it fits. */
static char *
path_index_key(const Objd__MapValue *m, const char *key, size_t keylen,
    char *buf, size_t *len)
{
	char *k = keylen + sizeof(m) <= PATH_INDEX_KEY_INLINE
	    ? buf
	    : xmalloc(keylen + sizeof(m));

	memcpy(k, &m, sizeof(m));
	memcpy(k + sizeof(m), key, keylen);
	*len = sizeof(m) + keylen;
	return k;
}

static void
path_index_put(struct path_index *ix, const Objd__MapValue *m, const char *key,
    size_t keylen, size_t pos)
{
	char buf[PATH_INDEX_KEY_INLINE], *k;
	size_t len;

	k = path_index_key(m, key, keylen, buf, &len);
	free(store_put(ix->members,
	    store_entry_new(k, len, (const uint8_t *)&pos, sizeof(pos), 0)));
	if (k != buf)
		free(k);
}

/* The member key of m through the index, which takes in every member of
 * m the first time. */
static Objd__MapValue__FieldsEntry **
path_index_member(struct path_index *ix, Objd__MapValue *m, const char *key,
    size_t keylen)
{
	const struct store_entry *e;
	char buf[PATH_INDEX_KEY_INLINE], *k;
	size_t len, pos;

	if (ix->members == NULL)
		ix->members = store_new();
	if (store_get(ix->members, (const char *)&m, sizeof(m)) == NULL) {
		for (size_t i = 0; i < m->n_fields; i++)
			path_index_put(ix, m, m->fields[i]->key,
			    strlen(m->fields[i]->key), i);
		free(store_put(ix->members,
		    store_entry_new((const char *)&m, sizeof(m), NULL, 0, 0)));
	}
	k = path_index_key(m, key, keylen, buf, &len);
	e = store_get(ix->members, k, len);
	if (k != buf)
		free(k);
	if (e == NULL)
		return NULL;
	memcpy(&pos, STORE_ENTRY_VALUE(e), sizeof(pos));
	return &m->fields[pos];
}

static Objd__Value *
path_decode(const uint8_t *top, size_t toplen)
{
	Objd__Value *v = objd__value__unpack(NULL, toplen, top);

	if (v == NULL)
		fatalx("a stored value does not decode");
	return v;
}

/* Adds a member to a decoded map. protobuf-c sized its array exactly, so
 * value_map_add's doubling rule does not hold here. */
static void
path_map_add(struct path_index *ix, Objd__Value *m, const char *key,
    size_t keylen, Objd__Value *item)
{
	Objd__MapValue *map = m->map_value;
	Objd__MapValue__FieldsEntry *e = xmalloc(sizeof(*e));

	objd__map_value__fields_entry__init(e);
	e->key = xstrndup(key, keylen);
	e->value = item;
	map->fields =
	    xreallocarray(map->fields, map->n_fields + 1, sizeof(*map->fields));
	map->fields[map->n_fields++] = e;
	if (ix != NULL && ix->members != NULL)
		path_index_put(ix, map, key, keylen, map->n_fields - 1);
}

/* The member key of map m, or NULL; through ix if it is not NULL. */
static Objd__MapValue__FieldsEntry **
path_member(struct path_index *ix, Objd__Value *m, const char *key,
    size_t keylen)
{
	Objd__MapValue *map = m->map_value;

	if (ix != NULL && map != NULL)
		return path_index_member(ix, map, key, keylen);
	for (size_t i = 0; map != NULL && i < map->n_fields; i++)
		if (strlen(map->fields[i]->key) == keylen &&
		    memcmp(map->fields[i]->key, key, keylen) == 0)
			return &map->fields[i];
	return NULL;
}

static bool
path_not_map(const Objd__Value *v, const struct keypath *kp, size_t upto,
    char *err, size_t errlen)
{
	if (v->kind_case == OBJD__VALUE__KIND_MAP_VALUE)
		return false;
	snprintf(err, errlen, "%.*s is %s %s, not a map", (int)kp->lens[upto],
	    kp->parts[upto],
	    v->kind_case == OBJD__VALUE__KIND_INT_VALUE ? "an" : "a",
	    value_type_name(v));
	return true;
}

/* Walks kp->parts[1..upto] from top; NULL if a member is missing. */
static Objd__Value *
path_walk(struct path_index *ix, Objd__Value *top, const struct keypath *kp,
    size_t upto, Objd__Status *status, char *err, size_t errlen)
{
	Objd__Value *v = top;

	for (size_t i = 1; i <= upto; i++) {
		Objd__MapValue__FieldsEntry **m;

		if (path_not_map(v, kp, i - 1, err, errlen)) {
			*status = OBJD__STATUS__INVALID;
			return NULL;
		}
		m = path_member(ix, v, kp->parts[i], kp->lens[i]);
		if (m == NULL) {
			*status = OBJD__STATUS__NOT_FOUND;
			snprintf(err, errlen, "key not found: %s has no %s",
			    kp->parts[i - 1], kp->parts[i]);
			return NULL;
		}
		v = (*m)->value;
	}
	return v;
}

uint8_t *
path_get(const uint8_t *top, size_t toplen, const struct keypath *kp,
    size_t *len, Objd__Status *status, char *err, size_t errlen)
{
	Objd__Value *root = path_decode(top, toplen), *v;
	uint8_t *out = NULL;

	v = path_walk(NULL, root, kp, kp->n - 1, status, err, errlen);
	if (v != NULL)
		out = value_pack(v, len);
	value_free(root);
	return out;
}

Objd__Value *
path_tree(const uint8_t *top, size_t toplen)
{
	return top != NULL ? path_decode(top, toplen) : value_new_map();
}

const Objd__Value *
path_tree_get(struct path_index *ix, Objd__Value *root,
    const struct keypath *kp, Objd__Status *status, char *err, size_t errlen)
{
	return path_walk(ix, root, kp, kp->n - 1, status, err, errlen);
}

/* How many levels v takes: 1 for a scalar. */
static unsigned
path_height(const Objd__Value *v)
{
	unsigned h = 0, sub;

	if (v->kind_case == OBJD__VALUE__KIND_LIST_VALUE &&
	    v->list_value != NULL)
		for (size_t i = 0; i < v->list_value->n_values; i++)
			if ((sub = path_height(v->list_value->values[i])) > h)
				h = sub;
	if (v->kind_case == OBJD__VALUE__KIND_MAP_VALUE && v->map_value != NULL)
		for (size_t i = 0; i < v->map_value->n_fields; i++)
			if ((sub = path_height(
			         v->map_value->fields[i]->value)) > h)
				h = sub;
	return h + 1;
}

bool
path_tree_set(struct path_index *ix, Objd__Value *root,
    const struct keypath *kp, const Objd__Value *val, char *err, size_t errlen)
{
	Objd__Value *v = root, *copy;
	Objd__MapValue__FieldsEntry **m;
	uint8_t *packed;
	size_t plen;

	/* The rest of the tree was valid, and val is: only the depth at
	 * which val lands is left to check, as value_valid() would. */
	if (kp->n - 1 + path_height(val) > VALUE_DEPTH_MAX) {
		snprintf(err, errlen, "value nested deeper than %d levels",
		    VALUE_DEPTH_MAX);
		return false;
	}
	for (size_t i = 1; i < kp->n; i++) {
		if (path_not_map(v, kp, i - 1, err, errlen))
			return false;
		m = path_member(ix, v, kp->parts[i], kp->lens[i]);
		if (i == kp->n - 1) {
			/* A copy the tree owns, freed with it. */
			packed = value_pack(val, &plen);
			copy = path_decode(packed, plen);
			free(packed);
			if (m != NULL) {
				/* Maps the index knows may go with it. */
				if (ix != NULL &&
				    (*m)->value->kind_case ==
				        OBJD__VALUE__KIND_MAP_VALUE)
					path_index_reset(ix);
				value_free((*m)->value);
				(*m)->value = copy;
			} else
				path_map_add(ix, v, kp->parts[i], kp->lens[i],
				    copy);
			break;
		}
		if (m == NULL) {
			path_map_add(ix, v, kp->parts[i], kp->lens[i],
			    value_new_map());
			m = path_member(ix, v, kp->parts[i], kp->lens[i]);
		}
		v = (*m)->value;
	}
	return true;
}

uint8_t *
path_set(const uint8_t *top, size_t toplen, const struct keypath *kp,
    const Objd__Value *val, size_t *len, char *err, size_t errlen)
{
	Objd__Value *root = path_tree(top, toplen);
	uint8_t *out = NULL;

	if (path_tree_set(NULL, root, kp, val, err, errlen))
		out = value_pack(root, len);
	value_free(root);
	return out;
}

uint8_t *
path_delete(const uint8_t *top, size_t toplen, const struct keypath *kp,
    size_t *len, Objd__Status *status, char *err, size_t errlen)
{
	Objd__Value *root = path_decode(top, toplen), *parent;
	Objd__MapValue__FieldsEntry **m = NULL;
	Objd__MapValue *map;
	uint8_t *out = NULL;
	size_t last = kp->n - 1;

	parent = path_walk(NULL, root, kp, last - 1, status, err, errlen);
	if (parent == NULL)
		goto done;
	if (path_not_map(parent, kp, last - 1, err, errlen)) {
		*status = OBJD__STATUS__INVALID;
		goto done;
	}
	m = path_member(NULL, parent, kp->parts[last], kp->lens[last]);
	if (m == NULL) {
		*status = OBJD__STATUS__NOT_FOUND;
		snprintf(err, errlen, "key not found: %s has no %s",
		    kp->parts[last - 1], kp->parts[last]);
		goto done;
	}
	map = parent->map_value;
	protobuf_c_message_free_unpacked(&(*m)->base, NULL);
	memmove(m, m + 1,
	    (size_t)(map->fields + map->n_fields - (m + 1)) * sizeof(*m));
	map->n_fields--;
	out = value_pack(root, len);
done:
	value_free(root);
	return out;
}
