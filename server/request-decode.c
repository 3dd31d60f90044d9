/* SPDX-License-Identifier: ISC */
/* request-decode.c: the common requests, decoded by hand.
 *
 * Nearly every request is a get, set or delete of plain keys to scalar
 * values. The generic path walks such a request twice through the
 * descriptors (pbcheck, then protobuf-c), which was a fifth of the cost
 * of a pipelined set; here it is read once, straight into the structures
 * protobuf-c would build, in the same arena.
 *
 * Only one narrow form is taken: the id first if at all, then one
 * operation; each entry a key and then a value; a value one scalar
 * field; no conditions, no unknown fields, no field twice. That is how
 * every protobuf encoder writes these requests. Anything else, valid or
 * not, is left to the generic path, which decodes it or says what is
 * wrong with it. So this file need only be right about what it accepts:
 * tests/check_decode.c holds it to protobuf-c's result on each of those. */
#include <string.h>

#include "arena.h"
#include "framing.h"
#include "objd.h"
#include "utf8.h"

#define PB_VARINT(field) ((uint8_t)((field) << 3))
#define PB_FIXED64(field) ((uint8_t)(((field) << 3) | 1))
#define PB_LEN(field) ((uint8_t)(((field) << 3) | 2))
/* protobuf-c reads a length prefix in at most five bytes. */
#define PB_LEN_BYTES_MAX 5

struct cursor {
	const uint8_t *p, *end;
};

/* Takes the length prefix at c and the bytes it covers, as sub. */
static bool
take_len(struct cursor *c, struct cursor *sub)
{
	size_t avail = (size_t)(c->end - c->p);
	uint64_t n;
	int used;

	used = varint_decode(c->p,
	    avail < PB_LEN_BYTES_MAX ? avail : PB_LEN_BYTES_MAX, &n);
	if (used <= 0 || n > avail - (size_t)used)
		return false;
	sub->p = c->p + used;
	sub->end = sub->p + n;
	c->p = sub->end;
	return true;
}

static bool
take_tag(struct cursor *c, uint8_t tag)
{
	if (c->p == c->end || *c->p != tag)
		return false;
	c->p++;
	return true;
}

/* A string field's bytes, NUL-terminated in a, as protobuf-c keeps them. */
static char *
take_string(struct arena *a, struct cursor *c)
{
	struct cursor s;
	size_t n;
	char *str;

	if (!take_len(c, &s))
		return NULL;
	n = (size_t)(s.end - s.p);
	if (!utf8_valid((const char *)s.p, n) ||
	    (str = arena_alloc(a, n + 1)) == NULL)
		return NULL;
	memcpy(str, s.p, n);
	str[n] = '\0';
	return str;
}

/* How many fields c holds, if all are the length-delimited field tag;
 * 0 if another comes. */
static size_t
count_fields(struct cursor c, uint8_t tag)
{
	struct cursor sub;
	size_t n = 0;

	while (c.p < c.end) {
		if (!take_tag(&c, tag) || !take_len(&c, &sub))
			return 0;
		n++;
	}
	return n;
}

/* Get.keys and Delete.keys, field 1, when c holds nothing else. */
static char **
take_keys(struct arena *a, struct cursor c, size_t *n)
{
	char **keys;

	*n = count_fields(c, PB_LEN(1));
	if (*n == 0 || (keys = arena_alloc(a, *n * sizeof(*keys))) == NULL)
		return NULL;
	for (size_t i = 0; i < *n; i++) {
		c.p++; /* the tag count_fields saw */
		if ((keys[i] = take_string(a, &c)) == NULL)
			return NULL;
	}
	return keys;
}

static Objd__Value *
take_value(struct arena *a, struct cursor c)
{
	Objd__Value *v;
	struct cursor s;
	uint64_t n;
	int used;

	if (c.p == c.end || (v = arena_alloc(a, sizeof(*v))) == NULL)
		return NULL;
	*v = (Objd__Value)OBJD__VALUE__INIT;
	switch (*c.p++) {
	case PB_VARINT(OBJD__VALUE__KIND_NULL_VALUE):
		/* The one NullValue; protobuf-c would truncate others. */
		if (!take_tag(&c, 0))
			return NULL;
		v->null_value = OBJD__NULL_VALUE__NULL_VALUE;
		v->kind_case = OBJD__VALUE__KIND_NULL_VALUE;
		break;
	case PB_VARINT(OBJD__VALUE__KIND_BOOL_VALUE):
		if (c.p == c.end || *c.p > 1)
			return NULL;
		v->bool_value = *c.p++;
		v->kind_case = OBJD__VALUE__KIND_BOOL_VALUE;
		break;
	case PB_VARINT(OBJD__VALUE__KIND_INT_VALUE):
		used = varint_decode(c.p, (size_t)(c.end - c.p), &n);
		if (used <= 0)
			return NULL;
		c.p += used;
		/* sint64: zigzag. */
		v->int_value = (int64_t)(n >> 1) ^ -(int64_t)(n & 1);
		v->kind_case = OBJD__VALUE__KIND_INT_VALUE;
		break;
	case PB_FIXED64(OBJD__VALUE__KIND_DOUBLE_VALUE):
		if (c.end - c.p < 8)
			return NULL;
		n = 0;
		for (int i = 7; i >= 0; i--)
			n = n << 8 | c.p[i];
		memcpy(&v->double_value, &n, sizeof(n));
		c.p += 8;
		v->kind_case = OBJD__VALUE__KIND_DOUBLE_VALUE;
		break;
	case PB_LEN(OBJD__VALUE__KIND_STRING_VALUE):
		if ((v->string_value = take_string(a, &c)) == NULL)
			return NULL;
		v->kind_case = OBJD__VALUE__KIND_STRING_VALUE;
		break;
	case PB_LEN(OBJD__VALUE__KIND_BYTES_VALUE):
		if (!take_len(&c, &s))
			return NULL;
		v->bytes_value.len = (size_t)(s.end - s.p);
		/* protobuf-c leaves empty bytes without a buffer. */
		if (v->bytes_value.len > 0) {
			v->bytes_value.data =
			    arena_alloc(a, v->bytes_value.len);
			if (v->bytes_value.data == NULL)
				return NULL;
			memcpy(v->bytes_value.data, s.p, v->bytes_value.len);
		}
		v->kind_case = OBJD__VALUE__KIND_BYTES_VALUE;
		break;
	default:
		return NULL;
	}
	return c.p == c.end ? v : NULL;
}

static Objd__Entry *
take_entry(struct arena *a, struct cursor c)
{
	Objd__Entry *e;
	struct cursor value;

	if ((e = arena_alloc(a, sizeof(*e))) == NULL)
		return NULL;
	*e = (Objd__Entry)OBJD__ENTRY__INIT;
	if (!take_tag(&c, PB_LEN(1)) || (e->key = take_string(a, &c)) == NULL)
		return NULL;
	if (!take_tag(&c, PB_LEN(2)) || !take_len(&c, &value) ||
	    (e->value = take_value(a, value)) == NULL)
		return NULL;
	return c.p == c.end ? e : NULL;
}

static Objd__Get *
take_get(struct arena *a, struct cursor c)
{
	Objd__Get *get;

	if ((get = arena_alloc(a, sizeof(*get))) == NULL)
		return NULL;
	*get = (Objd__Get)OBJD__GET__INIT;
	get->keys = take_keys(a, c, &get->n_keys);
	return get->keys != NULL ? get : NULL;
}

static Objd__Delete *
take_delete(struct arena *a, struct cursor c)
{
	Objd__Delete *del;

	if ((del = arena_alloc(a, sizeof(*del))) == NULL)
		return NULL;
	*del = (Objd__Delete)OBJD__DELETE__INIT;
	del->keys = take_keys(a, c, &del->n_keys);
	return del->keys != NULL ? del : NULL;
}

static Objd__Set *
take_set(struct arena *a, struct cursor c)
{
	Objd__Set *set;
	struct cursor entry;

	if ((set = arena_alloc(a, sizeof(*set))) == NULL)
		return NULL;
	*set = (Objd__Set)OBJD__SET__INIT;
	set->n_entries = count_fields(c, PB_LEN(1));
	if (set->n_entries == 0 ||
	    (set->entries = arena_alloc(a,
	         set->n_entries * sizeof(*set->entries))) == NULL)
		return NULL;
	for (size_t i = 0; i < set->n_entries; i++) {
		c.p++; /* the tag count_fields saw */
		if (!take_len(&c, &entry) ||
		    (set->entries[i] = take_entry(a, entry)) == NULL)
			return NULL;
	}
	return set;
}

Objd__Request *
request_decode(struct arena *a, const uint8_t *body, size_t len)
{
	struct cursor c = { body, body + len }, op;
	Objd__Request *req;
	uint64_t id = 0;
	uint8_t tag;
	int used;

	if (take_tag(&c, PB_VARINT(1))) {
		used = varint_decode(c.p, (size_t)(c.end - c.p), &id);
		if (used <= 0)
			return NULL;
		c.p += used;
	}
	if (c.p == c.end)
		return NULL;
	tag = *c.p++;
	if (!take_len(&c, &op) || c.p != c.end ||
	    (req = arena_alloc(a, sizeof(*req))) == NULL)
		return NULL;
	*req = (Objd__Request)OBJD__REQUEST__INIT;
	req->id = id;
	switch (tag) {
	case PB_LEN(OBJD__REQUEST__OP_GET):
		req->op_case = OBJD__REQUEST__OP_GET;
		req->get = take_get(a, op);
		return req->get != NULL ? req : NULL;
	case PB_LEN(OBJD__REQUEST__OP_SET):
		req->op_case = OBJD__REQUEST__OP_SET;
		req->set = take_set(a, op);
		return req->set != NULL ? req : NULL;
	case PB_LEN(OBJD__REQUEST__OP_DELETE):
		req->op_case = OBJD__REQUEST__OP_DELETE;
		req->delete_ = take_delete(a, op);
		return req->delete_ != NULL ? req : NULL;
	default:
		return NULL;
	}
}
