/* SPDX-License-Identifier: ISC */
/* path.c: reading and writing inside nested maps. Stored values are
 * encoded; a path that reaches inside one decodes its top-level value,
 * walks the maps named by the rest of the path, and encodes the result.
 * Depth was checked when the value was stored, so the decode is safe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keypath.h"
#include "log.h"
#include "objd.h"
#include "value.h"
#include "xmalloc.h"

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
path_map_add(Objd__Value *m, const char *key, size_t keylen, Objd__Value *item)
{
	Objd__MapValue *map = m->map_value;
	Objd__MapValue__FieldsEntry *e = xmalloc(sizeof(*e));

	objd__map_value__fields_entry__init(e);
	e->key = xstrndup(key, keylen);
	e->value = item;
	map->fields =
	    xreallocarray(map->fields, map->n_fields + 1, sizeof(*map->fields));
	map->fields[map->n_fields++] = e;
}

/* The member key of map m, or NULL. */
static Objd__MapValue__FieldsEntry **
path_member(Objd__Value *m, const char *key, size_t keylen)
{
	Objd__MapValue *map = m->map_value;

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
path_walk(Objd__Value *top, const struct keypath *kp, size_t upto,
    Objd__Status *status, char *err, size_t errlen)
{
	Objd__Value *v = top;

	for (size_t i = 1; i <= upto; i++) {
		Objd__MapValue__FieldsEntry **m;

		if (path_not_map(v, kp, i - 1, err, errlen)) {
			*status = OBJD__STATUS__INVALID;
			return NULL;
		}
		m = path_member(v, kp->parts[i], kp->lens[i]);
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

	v = path_walk(root, kp, kp->n - 1, status, err, errlen);
	if (v != NULL)
		out = value_pack(v, len);
	value_free(root);
	return out;
}

uint8_t *
path_set(const uint8_t *top, size_t toplen, const struct keypath *kp,
    const Objd__Value *val, size_t *len, char *err, size_t errlen)
{
	Objd__Value *root =
	    top != NULL ? path_decode(top, toplen) : value_new_map();
	Objd__Value *v = root, *copy;
	Objd__MapValue__FieldsEntry **m;
	uint8_t *packed, *out;
	size_t plen;

	for (size_t i = 1; i < kp->n; i++) {
		if (path_not_map(v, kp, i - 1, err, errlen)) {
			value_free(root);
			return NULL;
		}
		m = path_member(v, kp->parts[i], kp->lens[i]);
		if (i == kp->n - 1) {
			/* A copy the tree owns, freed with it. */
			packed = value_pack(val, &plen);
			copy = path_decode(packed, plen);
			free(packed);
			if (m != NULL) {
				value_free((*m)->value);
				(*m)->value = copy;
			} else
				path_map_add(v, kp->parts[i], kp->lens[i],
				    copy);
			break;
		}
		if (m == NULL) {
			path_map_add(v, kp->parts[i], kp->lens[i],
			    value_new_map());
			m = path_member(v, kp->parts[i], kp->lens[i]);
		}
		v = (*m)->value;
	}
	if (!value_valid(root, err, errlen)) {
		value_free(root);
		return NULL;
	}
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

	parent = path_walk(root, kp, last - 1, status, err, errlen);
	if (parent == NULL)
		goto done;
	if (path_not_map(parent, kp, last - 1, err, errlen)) {
		*status = OBJD__STATUS__INVALID;
		goto done;
	}
	m = path_member(parent, kp->parts[last], kp->lens[last]);
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
