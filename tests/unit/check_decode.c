/* SPDX-License-Identifier: ISC */
/* check_decode.c: requests decoded by hand (server/request-decode.c)
 * come out as protobuf-c decodes them, and whatever is not in the common
 * form is left to protobuf-c. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "framing.h"
#include "objd.h"
#include "pbcheck.h"
#include "unit.h"
#include "value.h"

static struct arena arena;

static void
setup(void)
{
	arena_init(&arena, 4096);
}

static void
teardown(void)
{
	arena_free(&arena);
}

/* Decodes body by hand; if that takes it, protobuf-c must take it too,
 * and both must pack to the same bytes. Returns whether it was taken. */
static bool
decodes_as_protobuf_c(const uint8_t *body, size_t len)
{
	struct arena_mark mark = arena_mark(&arena);
	Objd__Request *ours, *theirs;
	uint8_t *a, *b;
	size_t na, nb;
	char err[256];

	ours = request_decode(&arena, body, len);
	if (ours == NULL) {
		arena_release(&arena, mark);
		return false;
	}
	ck_assert_msg(
	    pbcheck(&objd__request__descriptor, body, len, err, sizeof(err)),
	    "taken by hand, refused by pbcheck: %s", err);
	theirs = objd__request__unpack(NULL, len, body);
	ck_assert_msg(theirs != NULL, "taken by hand, refused by protobuf-c");
	na = objd__request__get_packed_size(ours);
	nb = objd__request__get_packed_size(theirs);
	ck_assert_uint_eq(na, nb);
	a = malloc(na + 1);
	b = malloc(nb + 1);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(objd__request__pack(ours, a), na);
	ck_assert_uint_eq(objd__request__pack(theirs, b), nb);
	ck_assert_mem_eq(a, b, na);
	free(a);
	free(b);
	objd__request__free_unpacked(theirs, NULL);
	arena_release(&arena, mark);
	return true;
}

static bool
request_taken(const Objd__Request *req)
{
	size_t len;
	uint8_t *buf = request_pack(req, &len);
	bool taken = decodes_as_protobuf_c(buf, len);

	free(buf);
	return taken;
}

static bool
bytes_taken(const char *bytes, size_t len)
{
	return decodes_as_protobuf_c((const uint8_t *)bytes, len);
}

/* A set of one key to v, with id. */
static bool
set_taken(uint64_t id, const char *key, Objd__Value *v)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Set set = OBJD__SET__INIT;
	Objd__Entry entry = OBJD__ENTRY__INIT, *entries[] = { &entry };

	entry.key = (char *)key;
	entry.value = v;
	set.n_entries = 1;
	set.entries = entries;
	req.id = id;
	req.op_case = OBJD__REQUEST__OP_SET;
	req.set = &set;
	return request_taken(&req);
}

static bool
keys_taken(Objd__Request__OpCase op, char **keys, size_t n)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Get get = OBJD__GET__INIT;
	Objd__Delete del = OBJD__DELETE__INIT;

	req.id = 7;
	req.op_case = op;
	if (op == OBJD__REQUEST__OP_GET) {
		get.n_keys = n;
		get.keys = keys;
		req.get = &get;
	} else {
		del.n_keys = n;
		del.keys = keys;
		req.delete_ = &del;
	}
	return request_taken(&req);
}

START_TEST(test_gets_and_deletes)
{
	char long_key[1000];
	char *one[] = { "name" };
	char *several[] = { "a", "b", "café", "日本", "key:000000000042",
		long_key };

	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	ck_assert(keys_taken(OBJD__REQUEST__OP_GET, one, 1));
	ck_assert(keys_taken(OBJD__REQUEST__OP_GET, several, 6));
	ck_assert(keys_taken(OBJD__REQUEST__OP_DELETE, one, 1));
	ck_assert(keys_taken(OBJD__REQUEST__OP_DELETE, several, 6));
	/* An empty key among others is encoded, so it is taken too. */
	several[1] = "";
	ck_assert(keys_taken(OBJD__REQUEST__OP_GET, several, 6));
}
END_TEST

START_TEST(test_every_scalar)
{
	static const uint64_t ids[] = { 0, 1, 127, 128, (uint64_t)1 << 56,
		(uint64_t)1 << 63, UINT64_MAX };
	static const int64_t ints[] = { 0, 1, -1, 63, -64, 64, INT32_MIN,
		INT64_MAX, INT64_MIN };
	static const double doubles[] = { 0.0, -0.0, 1.5, -2.25e300, 5e-324,
		INFINITY, -INFINITY, NAN };
	static const uint8_t blob[] = { 0, 1, 0xff, 0x80, 0 };
	char long_text[5000];
	Objd__Value v;

	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		v = (Objd__Value)OBJD__VALUE__INIT;
		v.kind_case = OBJD__VALUE__KIND_STRING_VALUE;
		v.string_value = "John";
		ck_assert(set_taken(ids[i], "name", &v));
	}
	v.string_value = "";
	ck_assert(set_taken(1, "name", &v));
	v.string_value = "Zoë, 東京 🚀";
	ck_assert(set_taken(1, "name", &v));
	v.string_value = long_text;
	ck_assert(set_taken(1, "name", &v));
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		v = (Objd__Value)OBJD__VALUE__INIT;
		v.kind_case = OBJD__VALUE__KIND_INT_VALUE;
		v.int_value = ints[i];
		ck_assert(set_taken(2, "age", &v));
	}
	for (size_t i = 0; i < sizeof(doubles) / sizeof(doubles[0]); i++) {
		v = (Objd__Value)OBJD__VALUE__INIT;
		v.kind_case = OBJD__VALUE__KIND_DOUBLE_VALUE;
		v.double_value = doubles[i];
		ck_assert(set_taken(3, "pi", &v));
	}
	v = (Objd__Value)OBJD__VALUE__INIT;
	v.kind_case = OBJD__VALUE__KIND_BOOL_VALUE;
	v.bool_value = 1;
	ck_assert(set_taken(4, "ok", &v));
	v.bool_value = 0;
	ck_assert(set_taken(4, "ok", &v));
	v = (Objd__Value)OBJD__VALUE__INIT;
	v.kind_case = OBJD__VALUE__KIND_NULL_VALUE;
	ck_assert(set_taken(5, "nothing", &v));
	v = (Objd__Value)OBJD__VALUE__INIT;
	v.kind_case = OBJD__VALUE__KIND_BYTES_VALUE;
	v.bytes_value.data = (uint8_t *)blob;
	v.bytes_value.len = sizeof(blob);
	ck_assert(set_taken(6, "blob", &v));
	v.bytes_value.len = 0;
	ck_assert(set_taken(6, "blob", &v));
}
END_TEST

/* A large string or bytes value is decoded into the store entry a set
 * takes (request_take_entry): the entry holds the value as value_pack
 * packs it, only for its own key and only once, and one not taken is
 * freed with the arena (LeakSanitizer sees to that). */
START_TEST(test_large_values_into_entries)
{
	struct arena_mark mark = arena_mark(&arena);
	size_t n = 20000, len, packedlen;
	char *text = malloc(n + 1), *bad = malloc(n + 1);
	uint8_t *blob = malloc(n), *body, *packed;
	Objd__Request req = OBJD__REQUEST__INIT, *got;
	Objd__Set set = OBJD__SET__INIT;
	Objd__Entry entry = OBJD__ENTRY__INIT, *entries[] = { &entry };
	Objd__Value v = OBJD__VALUE__INIT;
	const Objd__Value *gv;
	const char *str;
	struct store_entry *e;

	ck_assert(text != NULL && bad != NULL && blob != NULL);
	for (size_t i = 0; i < n; i++) {
		text[i] = (char)('a' + i % 26);
		blob[i] = (uint8_t)(i * 7);
	}
	text[n] = '\0';
	memcpy(bad, text, n + 1);
	bad[n / 2] = (char)0xff;
	v.kind_case = OBJD__VALUE__KIND_STRING_VALUE;
	v.string_value = text;
	ck_assert(set_taken(1, "big", &v));
	v.string_value = bad;
	ck_assert(!set_taken(1, "big", &v));
	v = (Objd__Value)OBJD__VALUE__INIT;
	v.kind_case = OBJD__VALUE__KIND_BYTES_VALUE;
	v.bytes_value.data = blob;
	v.bytes_value.len = n;
	ck_assert(set_taken(1, "big", &v));

	v = (Objd__Value)OBJD__VALUE__INIT;
	v.kind_case = OBJD__VALUE__KIND_STRING_VALUE;
	v.string_value = text;
	entry.key = "big";
	entry.value = &v;
	set.n_entries = 1;
	set.entries = entries;
	req.op_case = OBJD__REQUEST__OP_SET;
	req.set = &set;
	body = request_pack(&req, &len);
	got = request_decode(&arena, body, len);
	free(body);
	ck_assert_ptr_nonnull(got);
	gv = got->set->entries[0]->value;
	/* The decoded Value is the arena's; its string is the entry's. */
	str = gv->string_value;
	ck_assert_ptr_null(request_take_entry(gv, "other", 5));
	e = request_take_entry(gv, "big", 3);
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_null(request_take_entry(gv, "big", 3));
	arena_release(&arena, mark);
	/* Taken, it outlives the request, and so does the string in it. */
	packed = value_pack(&v, &packedlen);
	ck_assert_uint_eq(e->keylen, 3);
	ck_assert_str_eq(e->data, "big");
	ck_assert_uint_eq(e->vallen, packedlen);
	ck_assert_mem_eq(STORE_ENTRY_VALUE(e), packed, packedlen);
	ck_assert_str_eq(str, text);
	free(packed);
	free(e);
	free(text);
	free(bad);
	free(blob);
}
END_TEST

/* What conn.c does with a hole, for a request body of len bytes whose
 * first have bytes have arrived: if they show one (request_hole_find),
 * the value's bytes go into its entry, those in the request are
 * overwritten (the input never holds them), and the request is decoded
 * with the hole. Returns the decoded request, NULL if have showed no
 * hole; *taken says whether the decoder took the entry, which the caller
 * frees otherwise. */
static Objd__Request *
decode_with_hole(const uint8_t *body, size_t len, size_t have, uint8_t *copy,
    bool checked, struct request_hole *hole)
{
	size_t at, vallen, keylen;
	const char *key;
	Objd__Request *req;

	if (!request_hole_find(body, have, len, &at, &vallen, &key, &keylen))
		return NULL;
	ck_assert_uint_le(at + vallen, len);
	ck_assert_uint_gt(have, at);
	ck_assert_uint_le((size_t)((const uint8_t *)key - body) + keylen, have);
	hole->e = request_hole_entry(key, keylen, vallen);
	hole->len = vallen;
	hole->checked = checked;
	hole->taken = false;
	memcpy(copy, body, len);
	hole->at = copy + at;
	/* The bytes here copied once, the rest read in pieces. */
	for (size_t off = 0; off < vallen;) {
		size_t n = off < (have > at ? have - at : 0) ? have - at - off
		                                             : 1 + off % 4093;

		if (n > vallen - off)
			n = vallen - off;
		memcpy((uint8_t *)STORE_ENTRY_VALUE(hole->e) + off,
		    body + at + off, n);
		off += n;
	}
	memset(copy + at, 0xa5, vallen);
	req = request_decode_hole(&arena, copy, len, hole);
	ck_assert(req != NULL ? hole->taken : !hole->taken);
	return req;
}

/* req's body decoded with a hole, opened at the lengths of its
 * beginning that show one, comes out as the body whole; returns how
 * many lengths did. */
static size_t
holes_decode_whole(const Objd__Request *req)
{
	size_t len, n = 0, packedlen;
	uint8_t *body = request_pack(req, &len), *copy = malloc(len),
	        *packed = malloc(len);
	struct request_hole hole;
	Objd__Request *got;

	ck_assert(copy != NULL && packed != NULL);
	/* Every length up to the value and a little into it, where the
	 * beginning is cut inside a field; beyond, only how much of the
	 * value is here changes, and a few lengths do. */
	for (size_t have = 0; have <= len;
	     have += have < 128 || len - have < 8 ? 1 : 997) {
		struct arena_mark mark = arena_mark(&arena);

		/* A string checked as it arrived, or not. */
		got = decode_with_hole(body, len, have, copy, have % 2 == 1,
		    &hole);
		if (got == NULL) {
			/* A longer beginning shows it too. */
			ck_assert_uint_eq(n, 0);
			continue;
		}
		packedlen = objd__request__get_packed_size(got);
		ck_assert_uint_eq(packedlen, len);
		objd__request__pack(got, packed);
		ck_assert_mem_eq(packed, body, len);
		/* Not taken by a set: it goes with the arena. */
		arena_release(&arena, mark);
		n++;
	}
	free(body);
	free(copy);
	free(packed);
	return n;
}

/* A set of a large string and one of a small int, in a batch's
 * operations and a set's entries, for the tests of large values. */
struct large_and_small {
	Objd__Operation op[2], *ops[2];
	Objd__Entry e[2], *entries[2];
	Objd__Value v[2];
};

static void
large_and_small_init(struct large_and_small *t, char *text, int64_t small)
{
	static const char *const keys[] = { "large", "small" };

	for (size_t i = 0; i < 2; i++) {
		t->v[i] = (Objd__Value)OBJD__VALUE__INIT;
		t->e[i] = (Objd__Entry)OBJD__ENTRY__INIT;
		t->e[i].key = (char *)keys[i];
		t->e[i].value = &t->v[i];
		t->entries[i] = &t->e[i];
		t->op[i] = (Objd__Operation)OBJD__OPERATION__INIT;
		t->op[i].op_case = OBJD__OPERATION__OP_SET;
		t->op[i].set = &t->e[i];
		t->ops[i] = &t->op[i];
	}
	t->v[0].kind_case = OBJD__VALUE__KIND_STRING_VALUE;
	t->v[0].string_value = text;
	t->v[1].kind_case = OBJD__VALUE__KIND_INT_VALUE;
	t->v[1].int_value = small;
}

/* A large value read into its entry as it arrives (conn.c's hole):
 * sets, batches and pieces of a load, whichever byte of their beginning
 * the first read ends at, decode as whole requests do; whatever else is
 * not taken for one. */
START_TEST(test_holes)
{
	enum { N = 9000 };
	char *text = malloc(N + 1);
	uint8_t *blob = malloc(N), *body, *copy;
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Set set = OBJD__SET__INIT;
	Objd__Batch b = OBJD__BATCH__INIT;
	struct large_and_small t;
	Objd__Operation **ops = t.ops;
	Objd__Entry *e = t.e, **entries = t.entries;
	Objd__Value *v = t.v;
	struct request_hole hole;
	size_t len;

	ck_assert(text != NULL && blob != NULL);
	for (size_t i = 0; i < N; i++) {
		text[i] = (char)('a' + i % 26);
		blob[i] = (uint8_t)(i * 13);
	}
	text[N] = '\0';
	large_and_small_init(&t, text, 3);

	/* A set, with an id and without; a string and bytes. */
	set.n_entries = 1;
	set.entries = entries;
	req.op_case = OBJD__REQUEST__OP_SET;
	req.set = &set;
	ck_assert_uint_gt(holes_decode_whole(&req), 0);
	req.id = 300;
	ck_assert_uint_gt(holes_decode_whole(&req), 0);
	v[0] = (Objd__Value)OBJD__VALUE__INIT;
	v[0].kind_case = OBJD__VALUE__KIND_BYTES_VALUE;
	v[0].bytes_value.data = blob;
	v[0].bytes_value.len = N;
	ck_assert_uint_gt(holes_decode_whole(&req), 0);
	/* A second entry after the large one. */
	set.n_entries = 2;
	ck_assert_uint_gt(holes_decode_whole(&req), 0);
	/* A batch and a piece of a load, the large value first. */
	b.n_operations = 2;
	b.operations = ops;
	req.op_case = OBJD__REQUEST__OP_BATCH;
	req.batch = &b;
	ck_assert_uint_gt(holes_decode_whole(&req), 0);
	b.replace = true;
	ck_assert_uint_gt(holes_decode_whole(&req), 0);
	req.op_case = OBJD__REQUEST__OP_STAGE;
	req.stage = &b;
	ck_assert_uint_gt(holes_decode_whole(&req), 0);

	/* None: the large value second, or too small, or a get. */
	req.op_case = OBJD__REQUEST__OP_SET;
	req.set = &set;
	entries[0] = &e[1];
	entries[1] = &e[0];
	ck_assert_uint_eq(holes_decode_whole(&req), 0);
	entries[0] = &e[0];
	set.n_entries = 1;
	v[0].bytes_value.len = 8000;
	ck_assert_uint_eq(holes_decode_whole(&req), 0);
	v[0].bytes_value.len = N;
	entries[1] = &e[1];

	/* A string that fails UTF-8 midway, and a frame that turns out
	 * malformed after its value: not decoded with the hole, whose bytes
	 * put back make the request what it was, for protobuf-c to refuse
	 * (conn.c answers it). */
	text[N / 2] = (char)0xff;
	v[0] = (Objd__Value)OBJD__VALUE__INIT;
	v[0].kind_case = OBJD__VALUE__KIND_STRING_VALUE;
	v[0].string_value = text;
	for (int bad = 0; bad < 2; bad++) {
		struct arena_mark mark = arena_mark(&arena);
		uint8_t *small;

		set.n_entries = (size_t)bad + 1;
		if (bad)
			text[N / 2] = 'x';
		body = request_pack(&req, &len);
		copy = malloc(len);
		ck_assert_ptr_nonnull(copy);
		if (bad) {
			/* The small entry's value field, a wire type none has.
			 */
			small = memmem(body, len, "small", 5);
			ck_assert_ptr_nonnull(small);
			small[5] = 0xff;
		}
		hole.e = NULL;
		ck_assert_ptr_null(
		    decode_with_hole(body, len, len / 2, copy, false, &hole));
		ck_assert_ptr_nonnull(hole.e);
		ck_assert(!hole.taken);
		arena_release(&arena, mark);
		memcpy((uint8_t *)hole.at, STORE_ENTRY_VALUE(hole.e), hole.len);
		ck_assert_mem_eq(copy, body, len);
		ck_assert(!decodes_as_protobuf_c(copy, len));
		ck_assert(
		    !pbcheck(&objd__request__descriptor, copy, len, NULL, 0));
		free(hole.e);
		free(copy);
		free(body);
	}
	free(text);
	free(blob);
}
END_TEST

START_TEST(test_several_entries)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Set set = OBJD__SET__INIT;
	Objd__Entry e[10], *entries[10];
	Objd__Value v[10];
	char keys[10][8];

	for (int i = 0; i < 10; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		v[i] = (Objd__Value)OBJD__VALUE__INIT;
		v[i].kind_case = OBJD__VALUE__KIND_INT_VALUE;
		v[i].int_value = -i;
		e[i] = (Objd__Entry)OBJD__ENTRY__INIT;
		e[i].key = keys[i];
		e[i].value = &v[i];
		entries[i] = &e[i];
	}
	set.n_entries = 10;
	set.entries = entries;
	req.op_case = OBJD__REQUEST__OP_SET;
	req.set = &set;
	ck_assert(request_taken(&req));
}
END_TEST

/* A batch of n operations: sets of k<i> to i, every third one a delete
 * of d<i> instead when deletes is set. */
static bool
batch_taken(size_t n, bool deletes, bool replace)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Batch b = OBJD__BATCH__INIT;
	Objd__Operation *op = calloc(n, sizeof(*op)),
	                **ops = calloc(n, sizeof(*ops));
	Objd__Entry *e = calloc(n, sizeof(*e));
	Objd__Value *v = calloc(n, sizeof(*v));
	char(*keys)[16] = calloc(n, sizeof(*keys));
	bool taken;

	ck_assert(op != NULL && ops != NULL && e != NULL && v != NULL &&
	    keys != NULL);
	for (size_t i = 0; i < n; i++) {
		op[i] = (Objd__Operation)OBJD__OPERATION__INIT;
		ops[i] = &op[i];
		if (deletes && i % 3 == 2) {
			snprintf(keys[i], sizeof(keys[i]), "d%zu", i);
			op[i].op_case = OBJD__OPERATION__OP_DELETE;
			op[i].delete_ = keys[i];
			continue;
		}
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		v[i] = (Objd__Value)OBJD__VALUE__INIT;
		v[i].kind_case = OBJD__VALUE__KIND_INT_VALUE;
		v[i].int_value = (int64_t)i;
		e[i] = (Objd__Entry)OBJD__ENTRY__INIT;
		e[i].key = keys[i];
		e[i].value = &v[i];
		op[i].op_case = OBJD__OPERATION__OP_SET;
		op[i].set = &e[i];
	}
	b.n_operations = n;
	b.operations = ops;
	b.replace = replace;
	req.id = 9;
	req.op_case = OBJD__REQUEST__OP_BATCH;
	req.batch = &b;
	taken = request_taken(&req);
	free(op);
	free(ops);
	free(e);
	free(v);
	free(keys);
	return taken;
}

/* A piece of a load (Request.stage) is decoded by hand as a batch is,
 * and its large values go into entries that stage.c takes as a set's
 * are taken. */
START_TEST(test_stage_pieces)
{
	struct arena_mark mark = arena_mark(&arena);
	size_t n = 30000, len;
	char *text = malloc(n + 1);
	Objd__Request req = OBJD__REQUEST__INIT, *got;
	Objd__Batch b = OBJD__BATCH__INIT;
	struct large_and_small t;
	Objd__Value *v = t.v;
	struct store_entry *entry;
	uint8_t *body, *packed;
	size_t packedlen;

	ck_assert_ptr_nonnull(text);
	for (size_t i = 0; i < n; i++)
		text[i] = (char)('A' + i % 26);
	text[n] = '\0';
	large_and_small_init(&t, text, 5);
	b.n_operations = 2;
	b.operations = t.ops;
	req.id = 4;
	req.op_case = OBJD__REQUEST__OP_STAGE;
	req.stage = &b;
	ck_assert(request_taken(&req));

	body = request_pack(&req, &len);
	got = request_decode(&arena, body, len);
	free(body);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(got->op_case, OBJD__REQUEST__OP_STAGE);
	ck_assert_uint_eq(got->stage->n_operations, 2);
	ck_assert_ptr_null(request_take_entry(
	    got->stage->operations[1]->set->value, "small", 5));
	entry = request_take_entry(got->stage->operations[0]->set->value,
	    "large", 5);
	ck_assert_ptr_nonnull(entry);
	arena_release(&arena, mark);
	packed = value_pack(&v[0], &packedlen);
	ck_assert_str_eq(entry->data, "large");
	ck_assert_uint_eq(entry->vallen, packedlen);
	ck_assert_mem_eq(STORE_ENTRY_VALUE(entry), packed, packedlen);
	free(packed);
	free(entry);
	free(text);
}
END_TEST

START_TEST(test_batches)
{
	ck_assert(batch_taken(1, false, false));
	ck_assert(batch_taken(100, false, false));
	/* Far more than the arena holds. */
	ck_assert(batch_taken(5000, false, false));
	ck_assert(batch_taken(30, true, false));
	ck_assert(batch_taken(30, true, true));
	ck_assert(batch_taken(1000, false, true));
	/* By hand: a batch (52) of set "k" to true, replace false and
	 * true: 52 0d 0a 09 0a 07 0a 01 6b 12 02 10 01 18 0n. */
	ck_assert(bytes_taken(
	    "\x52\x0d\x0a\x09\x0a\x07\x0a\x01\x6b\x12\x02\x10\x01\x18\x00",
	    15));
	ck_assert(bytes_taken(
	    "\x52\x0d\x0a\x09\x0a\x07\x0a\x01\x6b\x12\x02\x10\x01\x18\x01",
	    15));
	/* A delete of "a": 52 05 0a 03 12 01 61. */
	ck_assert(bytes_taken("\x52\x05\x0a\x03\x12\x01\x61", 7));
}
END_TEST

/* Batches outside the common form, valid or not, are left to protobuf-c
 * (and pbcheck), which refuse or take them as they always have. */
START_TEST(test_batches_left_to_protobuf_c)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Batch b = OBJD__BATCH__INIT;
	Objd__Operation op = OBJD__OPERATION__INIT, *ops[] = { &op };
	Objd__Entry entry = OBJD__ENTRY__INIT;
	Objd__Value v = OBJD__VALUE__INIT;
	Objd__Condition cond = OBJD__CONDITION__INIT, *conds[] = { &cond };

	v.kind_case = OBJD__VALUE__KIND_INT_VALUE;
	v.int_value = 1;
	entry.key = "k";
	entry.value = &v;
	op.op_case = OBJD__OPERATION__OP_SET;
	op.set = &entry;
	b.n_operations = 1;
	b.operations = ops;
	req.op_case = OBJD__REQUEST__OP_BATCH;
	req.batch = &b;
	ck_assert(request_taken(&req));
	/* A condition; no operation (objctl load of an empty object). */
	cond.key = "k";
	cond.test_case = OBJD__CONDITION__TEST_ABSENT;
	cond.absent = 1;
	b.n_conditions = 1;
	b.conditions = conds;
	ck_assert(!request_taken(&req));
	b.n_conditions = 0;
	b.n_operations = 0;
	b.replace = 1;
	ck_assert(!request_taken(&req));
	b.n_operations = 1;
	b.replace = 0;
	/* An empty operation; an entry with a revision, or no value. */
	op.op_case = OBJD__OPERATION__OP__NOT_SET;
	ck_assert(!request_taken(&req));
	op.op_case = OBJD__OPERATION__OP_SET;
	entry.revision = 2;
	ck_assert(!request_taken(&req));
	entry.revision = 0;
	entry.value = NULL;
	ck_assert(!request_taken(&req));

	/* A delete of "a" is 52 05 0a 03 12 01 61. Replace first, or of
	 * 2, or twice; an operation of both kinds, or of a set and a
	 * delete; an unknown field in an operation or in the batch. */
	ck_assert(!bytes_taken("\x52\x07\x18\x01\x0a\x03\x12\x01\x61", 9));
	ck_assert(!bytes_taken("\x52\x07\x0a\x03\x12\x01\x61\x18\x02", 9));
	ck_assert(
	    !bytes_taken("\x52\x09\x0a\x03\x12\x01\x61\x18\x01\x18\x01", 11));
	ck_assert(!bytes_taken("\x52\x08\x0a\x06\x12\x01\x61\x12\x01\x62", 10));
	ck_assert(!bytes_taken("\x52\x07\x0a\x05\x12\x01\x61\x78\x01", 9));
	ck_assert(!bytes_taken("\x52\x07\x0a\x03\x12\x01\x61\x78\x01", 9));
	/* A key of NUL or of bytes that are not UTF-8. */
	ck_assert(!bytes_taken("\x52\x05\x0a\x03\x12\x01\x00", 7));
	ck_assert(!bytes_taken("\x52\x05\x0a\x03\x12\x01\xff", 7));
	/* Cut short. */
	ck_assert(!bytes_taken("\x52\x05\x0a\x03\x12\x02\x61", 7));
	ck_assert(!bytes_taken("\x52\x05\x0a\x04\x12\x01\x61", 7));
}
END_TEST

/* Valid requests outside the common form, and invalid ones, are left to
 * protobuf-c, which answers them as it always has. */
START_TEST(test_left_to_protobuf_c)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Set set = OBJD__SET__INIT;
	Objd__Entry entry = OBJD__ENTRY__INIT, *entries[] = { &entry };
	Objd__Value v = OBJD__VALUE__INIT, item = OBJD__VALUE__INIT,
	            *items[] = { &item };
	Objd__ListValue list = OBJD__LIST_VALUE__INIT;
	Objd__Condition cond = OBJD__CONDITION__INIT, *conds[] = { &cond };
	Objd__Ping ping = OBJD__PING__INIT;
	Objd__Get get = OBJD__GET__INIT;

	/* Other operations. */
	req.op_case = OBJD__REQUEST__OP_PING;
	req.ping = &ping;
	ck_assert(!request_taken(&req));
	req.op_case = OBJD__REQUEST__OP__NOT_SET;
	ck_assert(!request_taken(&req));
	/* A get of no key. */
	req.op_case = OBJD__REQUEST__OP_GET;
	req.get = &get;
	ck_assert(!request_taken(&req));
	/* A get at a revision (history): the fast path would drop it. */
	{
		char *one[] = { "name" };

		get.n_keys = 1;
		get.keys = one;
		get.at_revision = 3;
		ck_assert(!request_taken(&req));
		get.keys = NULL;
		get.n_keys = 0;
		ck_assert(!request_taken(&req));
		get.at_revision = 0;
	}

	/* A nested value, a set under a condition, an entry's revision, an
	 * entry without a value. */
	item.kind_case = OBJD__VALUE__KIND_INT_VALUE;
	item.int_value = 1;
	list.n_values = 1;
	list.values = items;
	v.kind_case = OBJD__VALUE__KIND_LIST_VALUE;
	v.list_value = &list;
	entry.key = "k";
	entry.value = &v;
	set.n_entries = 1;
	set.entries = entries;
	req.op_case = OBJD__REQUEST__OP_SET;
	req.set = &set;
	ck_assert(!request_taken(&req));
	entry.value = &item;
	ck_assert(request_taken(&req));
	cond.key = "k";
	cond.test_case = OBJD__CONDITION__TEST_ABSENT;
	cond.absent = 1;
	set.n_conditions = 1;
	set.conditions = conds;
	ck_assert(!request_taken(&req));
	set.n_conditions = 0;
	entry.revision = 3;
	ck_assert(!request_taken(&req));
	entry.revision = 0;
	entry.value = NULL;
	ck_assert(!request_taken(&req));

	/* A batch that deletes a prefix (Operation field 3), alone and
	 * after a set: taken by hand or left to protobuf-c, it must decode
	 * to what protobuf-c makes, never to a batch without it. */
	{
		Objd__Batch batch = OBJD__BATCH__INIT;
		Objd__Operation set_op = OBJD__OPERATION__INIT,
		                del_op = OBJD__OPERATION__INIT,
		                *ops[] = { &set_op, &del_op };

		entry.value = &item;
		set_op.op_case = OBJD__OPERATION__OP_SET;
		set_op.set = &entry;
		del_op.op_case = OBJD__OPERATION__OP_DELETE_PREFIX;
		del_op.delete_prefix = "app.";
		batch.operations = ops + 1;
		batch.n_operations = 1;
		req.op_case = OBJD__REQUEST__OP_BATCH;
		req.batch = &batch;
		(void)request_taken(&req);
		batch.operations = ops;
		batch.n_operations = 2;
		(void)request_taken(&req);
		/* By hand: batch (52) of one operation (0a) holding field 3
		 * "p" (1a 01 70). */
		(void)bytes_taken("\x52\x05\x0a\x03\x1a\x01\x70", 7);
	}

	/* By hand: get "a" is 12 03 0a 01 61, with id 1 in front (08 01). */
	ck_assert(bytes_taken("\x08\x01\x12\x03\x0a\x01\x61", 7));
	/* The id after the operation, or twice; the operation twice. */
	ck_assert(!bytes_taken("\x12\x03\x0a\x01\x61\x08\x01", 7));
	ck_assert(!bytes_taken("\x08\x01\x08\x01\x12\x03\x0a\x01\x61", 9));
	ck_assert(!bytes_taken("\x12\x03\x0a\x01\x61\x12\x03\x0a\x01\x62", 10));
	/* An unknown field, in the request or in the get. */
	ck_assert(!bytes_taken("\x12\x03\x0a\x01\x61\x78\x01", 7));
	ck_assert(!bytes_taken("\x12\x05\x0a\x01\x61\x78\x01", 7));
	/* A key holding NUL, or bytes that are not UTF-8. */
	ck_assert(!bytes_taken("\x12\x03\x0a\x01\x00", 5));
	ck_assert(!bytes_taken("\x12\x03\x0a\x01\xff", 5));
	/* A length in more bytes than protobuf-c reads, and in fewer than
	 * it says. */
	ck_assert(bytes_taken("\x12\x83\x80\x80\x80\x00\x0a\x01\x61", 9));
	ck_assert(!bytes_taken("\x12\x83\x80\x80\x80\x80\x00\x0a\x01\x61", 10));
	ck_assert(!bytes_taken("\x12\x04\x0a\x01\x61", 5));
	ck_assert(!bytes_taken("\x12\x03\x0a\x02\x61", 5));
	/* set "k" to true is 1a 07 0a 05 0a 01 6b 12 02 10 01; a bool of
	 * 2 and a null of 1 are for protobuf-c to read. */
	ck_assert(
	    bytes_taken("\x1a\x09\x0a\x07\x0a\x01\x6b\x12\x02\x10\x01", 11));
	ck_assert(
	    !bytes_taken("\x1a\x09\x0a\x07\x0a\x01\x6b\x12\x02\x10\x02", 11));
	ck_assert(
	    !bytes_taken("\x1a\x09\x0a\x07\x0a\x01\x6b\x12\x02\x08\x01", 11));
	/* An empty value, and a value of two kinds. */
	ck_assert(!bytes_taken("\x1a\x07\x0a\x05\x0a\x01\x6b\x12\x00", 9));
	ck_assert(!bytes_taken(
	    "\x1a\x0b\x0a\x09\x0a\x01\x6b\x12\x04\x10\x01\x10\x00", 13));
	/* Nothing at all. */
	ck_assert(!bytes_taken("", 0));
}
END_TEST

static uint64_t rng_state;

static uint64_t
rng(void)
{
	return xorshift64(&rng_state);
}

/* Whatever a damaged request decodes to by hand, protobuf-c agrees. */
START_TEST(test_damaged_requests)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Set set = OBJD__SET__INIT;
	Objd__Entry e[3], *entries[3];
	Objd__Value v[3];
	char *keys[] = { "alpha", "b", "gamma" };
	uint8_t *seed[3], buf[256];
	size_t seed_len[3], taken = 0, refused = 0;
	Objd__Get get = OBJD__GET__INIT;
	Objd__Batch batch = OBJD__BATCH__INIT;
	Objd__Operation op[3], *ops[3];

	for (int i = 0; i < 3; i++) {
		v[i] = (Objd__Value)OBJD__VALUE__INIT;
		e[i] = (Objd__Entry)OBJD__ENTRY__INIT;
		e[i].key = keys[i];
		e[i].value = &v[i];
		entries[i] = &e[i];
	}
	v[0].kind_case = OBJD__VALUE__KIND_STRING_VALUE;
	v[0].string_value = "John";
	v[1].kind_case = OBJD__VALUE__KIND_INT_VALUE;
	v[1].int_value = -300;
	v[2].kind_case = OBJD__VALUE__KIND_DOUBLE_VALUE;
	v[2].double_value = 2.5;
	set.n_entries = 3;
	set.entries = entries;
	req.id = 300;
	req.op_case = OBJD__REQUEST__OP_SET;
	req.set = &set;
	seed[0] = request_pack(&req, &seed_len[0]);
	get.n_keys = 3;
	get.keys = keys;
	req.op_case = OBJD__REQUEST__OP_GET;
	req.get = &get;
	seed[1] = request_pack(&req, &seed_len[1]);
	for (int i = 0; i < 3; i++) {
		op[i] = (Objd__Operation)OBJD__OPERATION__INIT;
		op[i].op_case = OBJD__OPERATION__OP_SET;
		op[i].set = &e[i];
		ops[i] = &op[i];
	}
	op[1].op_case = OBJD__OPERATION__OP_DELETE;
	op[1].delete_ = keys[1];
	batch.n_operations = 3;
	batch.operations = ops;
	batch.replace = 1;
	req.op_case = OBJD__REQUEST__OP_BATCH;
	req.batch = &batch;
	seed[2] = request_pack(&req, &seed_len[2]);

	rng_state = 0x9e3779b97f4a7c15ULL;
	for (int round = 0; round < 300000; round++) {
		int s = round % 3;
		size_t len = seed_len[s], at;

		memcpy(buf, seed[s], len);
		for (int m = 1 + (int)(rng() % 3); m > 0; m--) {
			at = len > 0 ? rng() % len : 0;
			switch (rng() % 4) {
			case 0: /* a byte changed */
				if (len > 0)
					buf[at] = (uint8_t)rng();
				break;
			case 1: /* a bit flipped */
				if (len > 0)
					buf[at] ^= (uint8_t)(1 << rng() % 8);
				break;
			case 2: /* cut short */
				len = at;
				break;
			default: /* a byte inserted */
				if (len < sizeof(buf)) {
					memmove(buf + at + 1, buf + at,
					    len - at);
					buf[at] = (uint8_t)rng();
					len++;
				}
				break;
			}
		}
		if (decodes_as_protobuf_c(buf, len))
			taken++;
		else
			refused++;
	}
	/* Both kinds of outcome happened, so both were tested. */
	ck_assert_uint_gt(taken, 1000);
	ck_assert_uint_gt(refused, 1000);
	for (int i = 0; i < 3; i++)
		free(seed[i]);
}
END_TEST

static Suite *
decode_suite(void)
{
	Suite *s = suite_create("decode");
	TCase *tc = tcase_create("decode");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_gets_and_deletes);
	tcase_add_test(tc, test_every_scalar);
	tcase_add_test(tc, test_several_entries);
	tcase_add_test(tc, test_large_values_into_entries);
	tcase_add_test(tc, test_holes);
	tcase_add_test(tc, test_left_to_protobuf_c);
	tcase_add_test(tc, test_batches);
	tcase_add_test(tc, test_stage_pieces);
	tcase_add_test(tc, test_batches_left_to_protobuf_c);
	tcase_add_test(tc, test_damaged_requests);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(decode_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
