/* SPDX-License-Identifier: ISC */
/* value.c: building, checking and encoding objd.Value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "pbcheck.h"
#include "pbwire.h"
#include "utf8.h"
#include "value.h"
#include "xmalloc.h"

/* utf8: whether strings and map keys are still to be checked. */
static bool
value_valid_at(const Objd__Value *v, unsigned depth, bool utf8, char *err,
    size_t errlen)
{
	if (v == NULL || v->kind_case == OBJD__VALUE__KIND__NOT_SET) {
		snprintf(err, errlen, "a value has no type");
		return false;
	}
	if (depth > VALUE_DEPTH_MAX) {
		snprintf(err, errlen, "value nested deeper than %d levels",
		    VALUE_DEPTH_MAX);
		return false;
	}
	switch (v->kind_case) {
	case OBJD__VALUE__KIND_TOMBSTONE:
		snprintf(err, errlen, "a tombstone is not a value");
		return false;
	case OBJD__VALUE__KIND_STRING_VALUE:
		if (utf8 &&
		    !utf8_valid(v->string_value, strlen(v->string_value))) {
			snprintf(err, errlen, "a string is not valid UTF-8");
			return false;
		}
		return true;
	case OBJD__VALUE__KIND_LIST_VALUE:
		if (v->list_value == NULL)
			return true;
		for (size_t i = 0; i < v->list_value->n_values; i++)
			if (!value_valid_at(v->list_value->values[i], depth + 1,
			        utf8, err, errlen))
				return false;
		return true;
	case OBJD__VALUE__KIND_MAP_VALUE:
		if (v->map_value == NULL)
			return true;
		for (size_t i = 0; i < v->map_value->n_fields; i++) {
			const Objd__MapValue__FieldsEntry *e =
			    v->map_value->fields[i];

			if (utf8 && !utf8_valid(e->key, strlen(e->key))) {
				snprintf(err, errlen,
				    "a map key is not valid UTF-8");
				return false;
			}
			/* Maps are small in practice; a quadratic check keeps
			 * this free of allocation. */
			for (size_t j = 0; j < i; j++)
				if (strcmp(v->map_value->fields[j]->key,
				        e->key) == 0) {
					snprintf(err, errlen,
					    "map key \"%s\" appears twice",
					    e->key);
					return false;
				}
			if (!value_valid_at(e->value, depth + 1, utf8, err,
			        errlen))
				return false;
		}
		return true;
	default:
		return true;
	}
}

bool
value_valid(const Objd__Value *v, char *err, size_t errlen)
{
	return value_valid_at(v, 1, true, err, errlen);
}

bool
value_valid_decoded(const Objd__Value *v, char *err, size_t errlen)
{
	return value_valid_at(v, 1, false, err, errlen);
}

/* A scalar's field tag: its field number, and its wire type. */
static uint8_t
scalar_tag(const Objd__Value *v)
{
	switch (v->kind_case) {
	case OBJD__VALUE__KIND_NULL_VALUE:
		return PBW_VALUE_NULL_TAG;
	case OBJD__VALUE__KIND_BOOL_VALUE:
		return PBW_VALUE_BOOL_TAG;
	case OBJD__VALUE__KIND_INT_VALUE:
		return PBW_VALUE_INT_TAG;
	case OBJD__VALUE__KIND_DOUBLE_VALUE:
		return PBW_VALUE_DOUBLE_TAG;
	case OBJD__VALUE__KIND_STRING_VALUE:
		return PBW_VALUE_STRING_TAG;
	default: /* bytes */
		return PBW_VALUE_BYTES_TAG;
	}
}

/* A scalar's varint, or its length for a string or bytes. */
static uint64_t
scalar_number(const Objd__Value *v)
{
	switch (v->kind_case) {
	case OBJD__VALUE__KIND_NULL_VALUE:
		/* An enum is an int32, sign-extended as protobuf has it. */
		return (uint64_t)(int64_t)(int32_t)v->null_value;
	case OBJD__VALUE__KIND_BOOL_VALUE:
		return v->bool_value ? 1 : 0;
	case OBJD__VALUE__KIND_INT_VALUE:
		return pb_zigzag_encode(v->int_value);
	case OBJD__VALUE__KIND_STRING_VALUE:
		return v->string_value != NULL ? strlen(v->string_value) : 0;
	default: /* bytes */
		return v->bytes_value.len;
	}
}

/* Whether v is packed by hand: one scalar, and nothing protobuf-c would
 * add (unknown fields it kept from a decode). */
static bool
packs_by_hand(const Objd__Value *v)
{
	switch (v->kind_case) {
	case OBJD__VALUE__KIND_NULL_VALUE:
	case OBJD__VALUE__KIND_BOOL_VALUE:
	case OBJD__VALUE__KIND_INT_VALUE:
	case OBJD__VALUE__KIND_DOUBLE_VALUE:
	case OBJD__VALUE__KIND_STRING_VALUE:
	case OBJD__VALUE__KIND_BYTES_VALUE:
		return v->base.n_unknown_fields == 0;
	default:
		return false;
	}
}

size_t
value_packed_size(const Objd__Value *v)
{
	uint64_t n;

	if (!packs_by_hand(v))
		return objd__value__get_packed_size(v);
	if (v->kind_case == OBJD__VALUE__KIND_DOUBLE_VALUE)
		return 1 + sizeof(double);
	n = scalar_number(v);
	if (v->kind_case == OBJD__VALUE__KIND_STRING_VALUE ||
	    v->kind_case == OBJD__VALUE__KIND_BYTES_VALUE)
		return 1 + varint_size(n) + (size_t)n;
	return 1 + varint_size(n);
}

size_t
value_pack_to(const Objd__Value *v, uint8_t *out)
{
	uint8_t *p = out;
	uint64_t n, bits;

	if (!packs_by_hand(v))
		return objd__value__pack(v, out);
	*p++ = scalar_tag(v);
	if (v->kind_case == OBJD__VALUE__KIND_DOUBLE_VALUE) {
		/* Little-endian on the wire, whatever the host. */
		memcpy(&bits, &v->double_value, sizeof(bits));
		for (size_t i = 0; i < sizeof(bits); i++, bits >>= 8)
			*p++ = (uint8_t)bits;
		return (size_t)(p - out);
	}
	n = scalar_number(v);
	p += varint_encode(p, n);
	if (v->kind_case == OBJD__VALUE__KIND_STRING_VALUE && n > 0) {
		memcpy(p, v->string_value, (size_t)n);
		p += n;
	} else if (v->kind_case == OBJD__VALUE__KIND_BYTES_VALUE && n > 0) {
		memcpy(p, v->bytes_value.data, (size_t)n);
		p += n;
	}
	return (size_t)(p - out);
}

uint8_t *
value_pack(const Objd__Value *v, size_t *len)
{
	uint8_t *buf = xmalloc(value_packed_size(v));

	*len = value_pack_to(v, buf);
	return buf;
}

Objd__Value *
value_unpack(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	Objd__Value *v;

	if (!pbcheck(&objd__value__descriptor, buf, len, err, errlen))
		return NULL;
	v = objd__value__unpack(NULL, len, buf);
	if (v == NULL) {
		snprintf(err, errlen, "malformed value");
		return NULL;
	}
	if (!value_valid(v, err, errlen)) {
		objd__value__free_unpacked(v, NULL);
		return NULL;
	}
	return v;
}

void
value_free(Objd__Value *v)
{
	if (v != NULL)
		objd__value__free_unpacked(v, NULL);
}

const char *
value_type_name(const Objd__Value *v)
{
	switch (v->kind_case) {
	case OBJD__VALUE__KIND_NULL_VALUE:
		return "null";
	case OBJD__VALUE__KIND_BOOL_VALUE:
		return "bool";
	case OBJD__VALUE__KIND_INT_VALUE:
		return "int";
	case OBJD__VALUE__KIND_DOUBLE_VALUE:
		return "double";
	case OBJD__VALUE__KIND_STRING_VALUE:
		return "string";
	case OBJD__VALUE__KIND_BYTES_VALUE:
		return "bytes";
	case OBJD__VALUE__KIND_LIST_VALUE:
		return "list";
	case OBJD__VALUE__KIND_MAP_VALUE:
		return "map";
	case OBJD__VALUE__KIND_TOMBSTONE:
		return "tombstone";
	default:
		return "none";
	}
}

static Objd__Value *
value_new(Objd__Value__KindCase kind)
{
	Objd__Value *v = xmalloc(sizeof(*v));

	objd__value__init(v);
	v->kind_case = kind;
	return v;
}

Objd__Value *
value_new_null(void)
{
	Objd__Value *v = value_new(OBJD__VALUE__KIND_NULL_VALUE);

	v->null_value = OBJD__NULL_VALUE__NULL_VALUE;
	return v;
}

Objd__Value *
value_new_bool(bool b)
{
	Objd__Value *v = value_new(OBJD__VALUE__KIND_BOOL_VALUE);

	v->bool_value = b;
	return v;
}

Objd__Value *
value_new_int(int64_t i)
{
	Objd__Value *v = value_new(OBJD__VALUE__KIND_INT_VALUE);

	v->int_value = i;
	return v;
}

Objd__Value *
value_new_double(double d)
{
	Objd__Value *v = value_new(OBJD__VALUE__KIND_DOUBLE_VALUE);

	v->double_value = d;
	return v;
}

Objd__Value *
value_new_string(const char *s, size_t len)
{
	Objd__Value *v = value_new(OBJD__VALUE__KIND_STRING_VALUE);

	v->string_value = xstrndup(s, len);
	return v;
}

Objd__Value *
value_new_bytes(const uint8_t *p, size_t len)
{
	Objd__Value *v = value_new(OBJD__VALUE__KIND_BYTES_VALUE);

	v->bytes_value.data = xmemdup(p, len);
	v->bytes_value.len = len;
	return v;
}

Objd__Value *
value_new_list(void)
{
	Objd__Value *v = value_new(OBJD__VALUE__KIND_LIST_VALUE);

	v->list_value = xmalloc(sizeof(*v->list_value));
	objd__list_value__init(v->list_value);
	return v;
}

Objd__Value *
value_new_map(void)
{
	Objd__Value *v = value_new(OBJD__VALUE__KIND_MAP_VALUE);

	v->map_value = xmalloc(sizeof(*v->map_value));
	objd__map_value__init(v->map_value);
	return v;
}

/* protobuf-c's arrays carry no capacity, so they grow by doubling at
 * each power of two: appending n items costs O(n). */
static bool
value_array_full(size_t n)
{
	return (n & (n - 1)) == 0;
}

void
value_list_append(Objd__Value *list, Objd__Value *item)
{
	Objd__ListValue *l = list->list_value;

	if (value_array_full(l->n_values))
		l->values = xreallocarray(l->values,
		    l->n_values ? l->n_values * 2 : 1, sizeof(*l->values));
	l->values[l->n_values++] = item;
}

void
value_map_add(Objd__Value *map, const char *key, size_t keylen,
    Objd__Value *item)
{
	Objd__MapValue *m = map->map_value;
	Objd__MapValue__FieldsEntry *e = xmalloc(sizeof(*e));

	objd__map_value__fields_entry__init(e);
	e->key = xstrndup(key, keylen);
	e->value = item;
	if (value_array_full(m->n_fields))
		m->fields = xreallocarray(m->fields,
		    m->n_fields ? m->n_fields * 2 : 1, sizeof(*m->fields));
	m->fields[m->n_fields++] = e;
}
