/* SPDX-License-Identifier: ISC */
/* request-decode.c: the common requests, decoded by hand.
 *
 * Nearly every request is a get, set or delete of plain keys to scalar
 * values. The generic path walks such a request twice through the
 * descriptors (pbcheck, then protobuf-c), which was a fifth of the cost
 * of a pipelined set; here it is read once, straight into the structures
 * protobuf-c would build, in the same arena.
 *
 * Batches too (libobjd's batches; objctl's load, edit and del --prefix
 * send one): protobuf-c makes an allocation for each operation, entry,
 * value and string of them, which for a batch of a thousand keys costs
 * more than applying it. Here a request of any size costs a handful.
 *
 * Only one narrow form is taken: the id first if at all, then one
 * operation; each entry a key and then a value; a value one scalar
 * field; a batch's operations each one set or delete, then replace if at
 * all; no conditions, no unknown fields, no field twice. That is how
 * every protobuf encoder writes these requests. Anything else, valid or
 * not, is left to the generic path, which decodes it or says what is
 * wrong with it. So this file need only be right about what it accepts:
 * tests/unit/check_decode.c holds it to protobuf-c's result on each of those.
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "framing.h"
#include "objd.h"
#include "pbwire.h"
#include "utf8.h"

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

/* Where a request decodes to. Its strings (and bytes) go to one block
 * taken up front, as large as the request: each string costs there its
 * bytes and a NUL, and in the request at least its bytes, a tag and a
 * length, so they all fit. A request of a thousand keys then costs two
 * allocations, not one for each key and value. */
struct decoder {
	struct arena *a;
	char *strings, *strings_end;
	/* A large value read into its entry already (conn-input.c), or NULL. */
	struct request_hole *hole;
};

/* n bytes of the strings' block. */
static char *
take_room(struct decoder *d, size_t n)
{
	char *p = d->strings;

	if ((size_t)(d->strings_end - p) < n)
		return NULL;
	d->strings += n;
	return p;
}

/* A string field's bytes, NUL-terminated, as protobuf-c keeps them. */
static char *
take_string(struct decoder *d, struct cursor *c)
{
	struct cursor s;
	size_t n;
	char *str;

	if (!take_len(c, &s))
		return NULL;
	n = (size_t)(s.end - s.p);
	if (!utf8_valid((const char *)s.p, n) ||
	    (str = take_room(d, n + 1)) == NULL)
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

/* Get.keys or Delete.keys, whose tag is tag, when c holds nothing
 * else. */
static char **
take_keys(struct decoder *d, struct cursor c, uint8_t tag, size_t *n)
{
	char **keys;

	*n = count_fields(c, tag);
	if (*n == 0 || (keys = arena_alloc(d->a, *n * sizeof(*keys))) == NULL)
		return NULL;
	for (size_t i = 0; i < *n; i++) {
		c.p++; /* the tag count_fields saw */
		if ((keys[i] = take_string(d, &c)) == NULL)
			return NULL;
	}
	return keys;
}

static bool
take_value(struct decoder *d, struct cursor c, Objd__Value *v)
{
	struct cursor s;
	uint64_t n;
	int used;

	if (c.p == c.end)
		return false;
	*v = (Objd__Value)OBJD__VALUE__INIT;
	switch (*c.p++) {
	case PBW_VALUE_NULL_TAG:
		/* The one NullValue; protobuf-c would truncate others. */
		if (!take_tag(&c, 0))
			return false;
		v->null_value = OBJD__NULL_VALUE__NULL_VALUE;
		v->kind_case = OBJD__VALUE__KIND_NULL_VALUE;
		break;
	case PBW_VALUE_BOOL_TAG:
		if (c.p == c.end || *c.p > 1)
			return false;
		v->bool_value = *c.p++;
		v->kind_case = OBJD__VALUE__KIND_BOOL_VALUE;
		break;
	case PBW_VALUE_INT_TAG:
		used = varint_decode(c.p, (size_t)(c.end - c.p), &n);
		if (used <= 0)
			return false;
		c.p += used;
		v->int_value = pb_zigzag_decode(n);
		v->kind_case = OBJD__VALUE__KIND_INT_VALUE;
		break;
	case PBW_VALUE_DOUBLE_TAG:
		if (c.end - c.p < 8)
			return false;
		n = 0;
		for (int i = 7; i >= 0; i--)
			n = n << 8 | c.p[i];
		memcpy(&v->double_value, &n, sizeof(n));
		c.p += 8;
		v->kind_case = OBJD__VALUE__KIND_DOUBLE_VALUE;
		break;
	case PBW_VALUE_STRING_TAG:
		if ((v->string_value = take_string(d, &c)) == NULL)
			return false;
		v->kind_case = OBJD__VALUE__KIND_STRING_VALUE;
		break;
	case PBW_VALUE_BYTES_TAG:
		if (!take_len(&c, &s))
			return false;
		v->bytes_value.len = (size_t)(s.end - s.p);
		/* protobuf-c leaves empty bytes without a buffer. */
		if (v->bytes_value.len > 0) {
			v->bytes_value.data =
			    (uint8_t *)take_room(d, v->bytes_value.len);
			if (v->bytes_value.data == NULL)
				return false;
			memcpy(v->bytes_value.data, s.p, v->bytes_value.len);
		}
		v->kind_case = OBJD__VALUE__KIND_BYTES_VALUE;
		break;
	default:
		return false;
	}
	return c.p == c.end;
}

/* From this size a string or bytes value is decoded straight into the
 * store entry a set makes of it (txn.c, and stage.c for a piece of a
 * load, take it with request_take_entry): the value's bytes in the
 * request are already its packed form, so they are copied once, where
 * a copy into the request's strings and then one into the entry cost as
 * much again as the rest of a large set. */
#define DECODE_ENTRY_MIN (8 * 1024)

/* The entries decoded for large values of the requests being handled,
 * newest first; each leaves when its request's arena is released,
 * freed unless a set took it. */
struct big_value {
	struct big_value *next;
	const Objd__Value *v;
	struct store_entry *e;
};
static struct big_value *big_values;
size_t request_entries_untaken;

static void
big_value_drop(void *arg)
{
	struct big_value *b = arg, **p;

	for (p = &big_values; *p != NULL; p = &(*p)->next)
		if (*p == b) {
			*p = b->next;
			break;
		}
	if (b->e != NULL) {
		request_entries_untaken--;
		free(b->e);
	}
}

struct store_entry *
request_take_entry(const Objd__Value *v, const char *key, size_t keylen)
{
	struct store_entry *e;

	for (struct big_value *b = big_values; b != NULL; b = b->next) {
		if (b->v != v)
			continue;
		e = b->e;
		if (e == NULL || e->keylen != keylen ||
		    memcmp(e->data, key, keylen) != 0)
			return NULL;
		b->e = NULL;
		request_entries_untaken--;
		return e;
	}
	return NULL;
}

/* A string or bytes value of at least DECODE_ENTRY_MIN bytes, packed as
 * value_pack_to packs it, into an entry of key: 1, and v refers to the
 * value in it; 0 if value is not such, to be decoded as any other; -1
 * if it is not valid or memory is out. */
static int
take_big_value(struct decoder *d, const char *key, struct cursor value,
    Objd__Value *v)
{
	size_t vallen = (size_t)(value.end - value.p), keylen, used;
	struct request_hole *hole;
	const uint8_t *p = value.p;
	struct store_entry *e;
	struct big_value *b;
	uint8_t *payload;
	uint64_t n;
	int got;

	/* Small values first, without a look at the hole: the hole is
	 * large, and a request decoded without taking it is decoded again
	 * from its bytes (conn-input.c), whatever was read in its place. */
	if (vallen < DECODE_ENTRY_MIN || vallen >= UINT32_MAX)
		return 0;
	/* The hole's bytes are in its entry only: the request holds none
	 * of them, so a value there that is not taken fails. */
	hole = d->hole;
	if (hole != NULL && (value.p != hole->at || vallen != hole->len))
		hole = NULL;
	if (hole != NULL)
		p = (const uint8_t *)hole->e->data + hole->e->keylen + 1;
	if (*p != PBW_VALUE_STRING_TAG && *p != PBW_VALUE_BYTES_TAG)
		return hole != NULL ? -1 : 0;
	got = varint_decode(p + 1,
	    vallen - 1 < PB_LEN_BYTES_MAX ? vallen - 1 : PB_LEN_BYTES_MAX, &n);
	if (got <= 0)
		return hole != NULL ? -1 : 0;
	used = (size_t)got;
	/* One field, its length in the fewest bytes: as value_pack_to
	 * writes it, or the entry would not hold what a copy would. */
	if (used != varint_size(n) || n != vallen - 1 - used)
		return hole != NULL ? -1 : 0;
	if (*p == PBW_VALUE_STRING_TAG && (hole == NULL || !hole->checked) &&
	    !utf8_valid((const char *)p + 1 + used, n))
		return -1;
	keylen = strlen(key);
	if (hole != NULL) {
		e = hole->e;
		if (e->keylen != keylen || memcmp(e->data, key, keylen) != 0)
			return -1;
	} else {
		/* A byte more than the value, for the string's NUL. */
		e = store_entry_alloc(key, keylen, vallen + 1, 0);
		e->vallen = (uint32_t)vallen;
		memcpy((uint8_t *)e->data + keylen + 1, p, vallen);
	}
	payload = (uint8_t *)e->data + keylen + 1;
	payload[vallen] = '\0';
	payload += 1 + used;
	if ((b = arena_alloc(d->a, sizeof(*b))) == NULL ||
	    !arena_on_release(d->a, big_value_drop, b)) {
		if (hole == NULL)
			free(e);
		return -1;
	}
	if (hole != NULL)
		hole->taken = true;
	b->v = v;
	b->e = e;
	b->next = big_values;
	big_values = b;
	request_entries_untaken++;
	*v = (Objd__Value)OBJD__VALUE__INIT;
	if (*p == PBW_VALUE_STRING_TAG) {
		v->string_value = (char *)payload;
		v->kind_case = OBJD__VALUE__KIND_STRING_VALUE;
	} else {
		v->bytes_value.data = payload;
		v->bytes_value.len = (size_t)n;
		v->kind_case = OBJD__VALUE__KIND_BYTES_VALUE;
	}
	return 1;
}

/* An entry into e, its value into v. */
static bool
take_entry(struct decoder *d, struct cursor c, Objd__Entry *e, Objd__Value *v)
{
	struct cursor value;
	int big;

	*e = (Objd__Entry)OBJD__ENTRY__INIT;
	if (!take_tag(&c, PBW_ENTRY_KEY_TAG) ||
	    (e->key = take_string(d, &c)) == NULL)
		return false;
	if (!take_tag(&c, PBW_ENTRY_VALUE_TAG) || !take_len(&c, &value) ||
	    (big = take_big_value(d, e->key, value, v)) < 0 ||
	    (big == 0 && !take_value(d, value, v)))
		return false;
	e->value = v;
	return c.p == c.end;
}

static Objd__Get *
take_get(struct decoder *d, struct cursor c)
{
	Objd__Get *get;

	if ((get = arena_alloc(d->a, sizeof(*get))) == NULL)
		return NULL;
	*get = (Objd__Get)OBJD__GET__INIT;
	get->keys = take_keys(d, c, PBW_GET_KEYS_TAG, &get->n_keys);
	return get->keys != NULL ? get : NULL;
}

static Objd__Delete *
take_delete(struct decoder *d, struct cursor c)
{
	Objd__Delete *del;

	if ((del = arena_alloc(d->a, sizeof(*del))) == NULL)
		return NULL;
	*del = (Objd__Delete)OBJD__DELETE__INIT;
	del->keys = take_keys(d, c, PBW_DELETE_KEYS_TAG, &del->n_keys);
	return del->keys != NULL ? del : NULL;
}

/* The structures of a set's entry, allocated together for all of them. */
struct entry_slot {
	Objd__Entry entry;
	Objd__Value value;
};

static Objd__Set *
take_set(struct decoder *d, struct cursor c)
{
	Objd__Set *set;
	struct entry_slot *slots;
	struct cursor entry;
	size_t n = count_fields(c, PBW_SET_ENTRIES_TAG);

	if (n == 0 || n > SIZE_MAX / (sizeof(*slots) + sizeof(Objd__Entry *)))
		return NULL;
	if ((set = arena_alloc(d->a, sizeof(*set))) == NULL)
		return NULL;
	*set = (Objd__Set)OBJD__SET__INIT;
	if ((set->entries = arena_alloc(d->a, n * sizeof(*set->entries))) ==
	        NULL ||
	    (slots = arena_alloc(d->a, n * sizeof(*slots))) == NULL)
		return NULL;
	set->n_entries = n;
	for (size_t i = 0; i < n; i++) {
		c.p++; /* the tag count_fields saw */
		if (!take_len(&c, &entry) ||
		    !take_entry(d, entry, &slots[i].entry, &slots[i].value))
			return NULL;
		set->entries[i] = &slots[i].entry;
	}
	return set;
}

/* The structures of a batch's operation, allocated together for all of
 * them. */
struct operation_slot {
	Objd__Operation op;
	Objd__Entry entry;
	Objd__Value value;
};

/* One Operation: exactly one of set (an entry) and delete (a key). */
static bool
take_operation(struct decoder *d, struct cursor c, struct operation_slot *s)
{
	struct cursor entry;

	s->op = (Objd__Operation)OBJD__OPERATION__INIT;
	if (take_tag(&c, PBW_OPERATION_SET_TAG)) {
		if (!take_len(&c, &entry) ||
		    !take_entry(d, entry, &s->entry, &s->value))
			return false;
		s->op.op_case = OBJD__OPERATION__OP_SET;
		s->op.set = &s->entry;
	} else if (take_tag(&c, PBW_OPERATION_DELETE_TAG)) {
		if ((s->op.delete_ = take_string(d, &c)) == NULL)
			return false;
		s->op.op_case = OBJD__OPERATION__OP_DELETE;
	} else
		return false;
	return c.p == c.end;
}

/* Batch.operations, and then replace if at all, as one byte; no
 * conditions. */
static Objd__Batch *
take_batch(struct decoder *d, struct cursor c)
{
	struct cursor rest = c, op;
	struct operation_slot *slots;
	Objd__Batch *b;
	size_t n = 0;
	bool replace = false;

	while (take_tag(&rest, PBW_BATCH_OPERATIONS_TAG)) {
		if (!take_len(&rest, &op))
			return NULL;
		n++;
	}
	if (take_tag(&rest, PBW_BATCH_REPLACE_TAG)) {
		if (rest.p == rest.end || *rest.p > 1)
			return NULL;
		replace = *rest.p++;
	}
	if (n == 0 || rest.p != rest.end ||
	    n > SIZE_MAX / (sizeof(*slots) + sizeof(Objd__Operation *)))
		return NULL;
	if ((b = arena_alloc(d->a, sizeof(*b))) == NULL)
		return NULL;
	*b = (Objd__Batch)OBJD__BATCH__INIT;
	if ((b->operations = arena_alloc(d->a, n * sizeof(*b->operations))) ==
	        NULL ||
	    (slots = arena_alloc(d->a, n * sizeof(*slots))) == NULL)
		return NULL;
	b->n_operations = n;
	b->replace = replace;
	for (size_t i = 0; i < n; i++) {
		c.p++; /* the tag counted above */
		if (!take_len(&c, &op) || !take_operation(d, op, &slots[i]))
			return NULL;
		b->operations[i] = &slots[i].op;
	}
	return b;
}

static Objd__Request *
decode(struct arena *a, const uint8_t *body, size_t len,
    struct request_hole *hole)
{
	struct cursor c = { body, body + len }, op;
	struct decoder d = { a, NULL, NULL, hole };
	Objd__Request *req;
	uint64_t id = 0;
	size_t oplen;
	uint8_t tag;
	int used;

	if (take_tag(&c, PBW_REQUEST_ID_TAG)) {
		used = varint_decode(c.p, (size_t)(c.end - c.p), &id);
		if (used <= 0)
			return NULL;
		c.p += used;
	}
	if (c.p == c.end)
		return NULL;
	tag = *c.p++;
	if (!take_len(&c, &op) || c.p != c.end)
		return NULL;
	switch (tag) {
	case PBW_REQUEST_GET_TAG:
	case PBW_REQUEST_SET_TAG:
	case PBW_REQUEST_DELETE_TAG:
	case PBW_REQUEST_BATCH_TAG:
	case PBW_REQUEST_STAGE_TAG:
		break;
	default:
		return NULL;
	}
	oplen = (size_t)(op.end - op.p);
	if ((req = arena_alloc(a, sizeof(*req))) == NULL ||
	    (d.strings = arena_alloc(a, oplen)) == NULL)
		return NULL;
	d.strings_end = d.strings + oplen;
	*req = (Objd__Request)OBJD__REQUEST__INIT;
	req->id = id;
	switch (tag) {
	case PBW_REQUEST_GET_TAG:
		req->op_case = OBJD__REQUEST__OP_GET;
		req->get = take_get(&d, op);
		return req->get != NULL ? req : NULL;
	case PBW_REQUEST_SET_TAG:
		req->op_case = OBJD__REQUEST__OP_SET;
		req->set = take_set(&d, op);
		return req->set != NULL ? req : NULL;
	case PBW_REQUEST_DELETE_TAG:
		req->op_case = OBJD__REQUEST__OP_DELETE;
		req->delete_ = take_delete(&d, op);
		return req->delete_ != NULL ? req : NULL;
	case PBW_REQUEST_BATCH_TAG:
		req->op_case = OBJD__REQUEST__OP_BATCH;
		req->batch = take_batch(&d, op);
		return req->batch != NULL ? req : NULL;
	default:
		/* A piece of a large load: its large values go into their
		 * entries at once, as a set's do (stage.c takes them). */
		req->op_case = OBJD__REQUEST__OP_STAGE;
		req->stage = take_batch(&d, op);
		return req->stage != NULL ? req : NULL;
	}
}

Objd__Request *
request_decode(struct arena *a, const uint8_t *body, size_t len)
{
	return decode(a, body, len, NULL);
}

Objd__Request *
request_decode_hole(struct arena *a, const uint8_t *body, size_t len,
    struct request_hole *hole)
{
	Objd__Request *req = decode(a, body, len, hole);

	/* Taken for a request that then failed: it stays the caller's,
	 * which puts its bytes back for protobuf-c. */
	if (req == NULL && hole->taken) {
		for (struct big_value *b = big_values; b != NULL; b = b->next)
			if (b->e == hole->e) {
				b->e = NULL;
				request_entries_untaken--;
				break;
			}
		hole->taken = false;
	}
	return req;
}

/* The field tag at *p, within the have bytes up to have_end, and its
 * length, which must end within end: *p moves past the length, *sub_end
 * to where the field ends, though its bytes may be still to come. */
static bool
hole_enter(const uint8_t **p, const uint8_t *have_end, const uint8_t *end,
    uint8_t tag, const uint8_t **sub_end)
{
	size_t avail;
	uint64_t n;
	int used;

	if (*p >= have_end || **p != tag)
		return false;
	(*p)++;
	avail = (size_t)(have_end - *p);
	used = varint_decode(*p,
	    avail < PB_LEN_BYTES_MAX ? avail : PB_LEN_BYTES_MAX, &n);
	if (used <= 0 || n > (size_t)(end - *p) - (size_t)used)
		return false;
	*p += used;
	*sub_end = *p + n;
	return true;
}

bool
request_hole_find(const uint8_t *body, size_t have, size_t len, size_t *at,
    size_t *vallen, const char **key, size_t *keylen)
{
	const uint8_t *p = body, *have_end = body + (have < len ? have : len);
	const uint8_t *end = body + len, *op_end, *sub_end, *entry_end;
	const uint8_t *key_end, *value_end;
	uint64_t n;
	size_t avail, vlen;
	int used;
	uint8_t tag;

	if (p < have_end && *p == PBW_REQUEST_ID_TAG) {
		p++;
		used = varint_decode(p, (size_t)(have_end - p), &n);
		if (used <= 0)
			return false;
		p += used;
	}
	if (p >= have_end)
		return false;
	tag = *p;
	if (tag != PBW_REQUEST_SET_TAG && tag != PBW_REQUEST_BATCH_TAG &&
	    tag != PBW_REQUEST_STAGE_TAG)
		return false;
	if (!hole_enter(&p, have_end, end, tag, &op_end) || op_end != end)
		return false;
	if (tag == PBW_REQUEST_SET_TAG) {
		if (!hole_enter(&p, have_end, op_end, PBW_SET_ENTRIES_TAG,
		        &entry_end))
			return false;
	} else if (!hole_enter(&p, have_end, op_end, PBW_BATCH_OPERATIONS_TAG,
	               &sub_end) ||
	    !hole_enter(&p, have_end, sub_end, PBW_OPERATION_SET_TAG,
	        &entry_end))
		return false;
	if (!hole_enter(&p, have_end, entry_end, PBW_ENTRY_KEY_TAG, &key_end) ||
	    key_end > have_end)
		return false;
	*key = (const char *)p;
	*keylen = (size_t)(key_end - p);
	p = key_end;
	if (!hole_enter(&p, have_end, entry_end, PBW_ENTRY_VALUE_TAG,
	        &value_end))
		return false;
	/* The value as take_big_value takes it: one string or bytes field,
	 * its length in the fewest bytes, here already. */
	vlen = (size_t)(value_end - p);
	if (vlen < DECODE_ENTRY_MIN || vlen >= UINT32_MAX || have_end - p < 1 ||
	    (*p != PBW_VALUE_STRING_TAG && *p != PBW_VALUE_BYTES_TAG))
		return false;
	avail = (size_t)(have_end - p) - 1;
	used = varint_decode(p + 1,
	    avail < PB_LEN_BYTES_MAX ? avail : PB_LEN_BYTES_MAX, &n);
	if (used <= 0 || (size_t)used != varint_size(n) ||
	    n != vlen - 1 - (size_t)used)
		return false;
	*at = (size_t)(p - body);
	*vallen = vlen;
	return true;
}

struct store_entry *
request_hole_entry(const char *key, size_t keylen, size_t vallen)
{
	/* A byte more than the value, for the string's NUL. */
	struct store_entry *e =
	    store_entry_try_alloc(key, keylen, vallen + 1, 0);

	if (e == NULL)
		return NULL;
	e->vallen = (uint32_t)vallen;
	return e;
}
