/* SPDX-License-Identifier: ISC */
/* check_pbcheck.c: unit tests of common/pbcheck.c, common/utf8.c and
 * the checking half of common/value.c.
 *
 * Deep and malformed inputs are written byte by byte: protobuf-c cannot
 * be trusted to unpack them, which is the point of pbcheck. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "objd.pb-c.h"
#include "pbcheck.h"
#include "utf8.h"
#include "value.h"

/* A growing byte string. */
struct bytes {
	uint8_t *p;
	size_t len;
	size_t cap;
};

static void
put(struct bytes *b, const void *p, size_t n)
{
	if (b->cap - b->len < n) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void
put_varint(struct bytes *b, uint64_t v)
{
	uint8_t tmp[VARINT_MAX_LEN];

	put(b, tmp, varint_encode(tmp, v));
}

static void
put_tag(struct bytes *b, uint64_t field, unsigned wire)
{
	put_varint(b, field << 3 | wire);
}

/* A length-delimited field holding n bytes at p. */
static void
put_field(struct bytes *b, uint64_t field, const void *p, size_t n)
{
	put_tag(b, field, 2);
	put_varint(b, n);
	put(b, p, n);
}

/* Writes a Value that is depth lists deep around the int 1 (depth 1 is
 * the int alone). Lengths are worked out innermost first, so this takes
 * no recursion and linear time however deep. */
static void
put_nested_value(struct bytes *b, size_t depth)
{
	size_t *vlen = calloc(depth + 1, sizeof(*vlen));
	size_t *llen = calloc(depth + 1, sizeof(*llen));

	ck_assert(vlen != NULL && llen != NULL);
	vlen[1] = 2;
	for (size_t k = 2; k <= depth; k++) {
		llen[k] = 1 + varint_size(vlen[k - 1]) + vlen[k - 1];
		vlen[k] = 1 + varint_size(llen[k]) + llen[k];
	}
	for (size_t k = depth; k >= 2; k--) {
		put_tag(b, 7, 2); /* Value.list_value */
		put_varint(b, llen[k]);
		put_tag(b, 1, 2); /* ListValue.values */
		put_varint(b, vlen[k - 1]);
	}
	put(b, "\x18\x02", 2); /* Value.int_value = 1, zigzag */
	free(vlen);
	free(llen);
}

/* Wraps value bytes as Request{id: 1, set: {entries: [{key, value}]}}. */
static struct bytes
request_set(const char *key, size_t keylen, const struct bytes *value)
{
	struct bytes entry = { 0 }, set = { 0 }, req = { 0 };

	put_field(&entry, 1, key, keylen);
	put_field(&entry, 2, value->p, value->len);
	put_field(&set, 1, entry.p, entry.len);
	put(&req, "\x08\x01", 2);
	put_field(&req, 3, set.p, set.len);
	free(entry.p);
	free(set.p);
	return req;
}

static bool
check_request(const struct bytes *b, char *err, size_t errlen)
{
	return pbcheck(&objd__request__descriptor, b->p, b->len, err, errlen);
}

/* Builds depth nested lists around the int 1 with the constructors. */
static Objd__Value *
nested_list_value(size_t depth)
{
	Objd__Value *v = value_new_int(1);

	for (size_t k = 1; k < depth; k++) {
		Objd__Value *list = value_new_list();

		value_list_append(list, v);
		v = list;
	}
	return v;
}

static Objd__Value *
nested_map_value(size_t depth)
{
	Objd__Value *v = value_new_string("leaf", 4);

	for (size_t k = 1; k < depth; k++) {
		Objd__Value *map = value_new_map();

		value_map_add(map, "k", 1, v);
		v = map;
	}
	return v;
}

START_TEST(test_request_depth)
{
	static const size_t depths[] = { 1, 2, 63, 64 };
	char err[256];

	for (size_t k = 0; k < sizeof(depths) / sizeof(depths[0]); k++) {
		struct bytes val = { 0 }, req;
		Objd__Request *r;
		const Objd__Value *v;
		size_t seen = 1;

		put_nested_value(&val, depths[k]);
		req = request_set("k", 1, &val);
		ck_assert_msg(check_request(&req, err, sizeof(err)),
		    "depth %zu: %s", depths[k], err);
		r = objd__request__unpack(NULL, req.len, req.p);
		ck_assert_ptr_nonnull(r);
		ck_assert_int_eq(r->op_case, OBJD__REQUEST__OP_SET);
		v = r->set->entries[0]->value;
		while (v->kind_case == OBJD__VALUE__KIND_LIST_VALUE) {
			ck_assert_uint_eq(v->list_value->n_values, 1);
			v = v->list_value->values[0];
			seen++;
		}
		ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_INT_VALUE);
		ck_assert_int_eq(v->int_value, 1);
		ck_assert_uint_eq(seen, depths[k]);
		objd__request__free_unpacked(r, NULL);
		free(val.p);
		free(req.p);
	}
}
END_TEST

START_TEST(test_request_too_deep)
{
	static const size_t depths[] = { 65, 66, 200, 5000, 100000 };
	char err[256];

	for (size_t k = 0; k < sizeof(depths) / sizeof(depths[0]); k++) {
		struct bytes val = { 0 }, req;

		put_nested_value(&val, depths[k]);
		req = request_set("k", 1, &val);
		strcpy(err, "");
		ck_assert(!check_request(&req, err, sizeof(err)));
		ck_assert_msg(strstr(err, "nested deeper than 64") != NULL,
		    "depth %zu: %s", depths[k], err);
		free(val.p);
		free(req.p);
	}
}
END_TEST

/* The hand-made bytes are what protobuf-c itself writes, and the limit
 * holds for a Value on its own too. */
START_TEST(test_value_depth)
{
	char err[256];

	for (size_t depth = 62; depth <= 66; depth++) {
		Objd__Value *v = nested_list_value(depth), *back;
		struct bytes hand = { 0 };
		uint8_t *packed;
		size_t len;
		bool ok = depth <= VALUE_DEPTH_MAX;

		put_nested_value(&hand, depth);
		packed = value_pack(v, &len);
		ck_assert_uint_eq(len, hand.len);
		ck_assert_mem_eq(packed, hand.p, len);
		ck_assert(pbcheck(&objd__value__descriptor, packed, len, err,
		              sizeof(err)) == ok);
		ck_assert(value_valid(v, err, sizeof(err)) == ok);
		back = value_unpack(packed, len, err, sizeof(err));
		ck_assert((back != NULL) == ok);
		if (!ok)
			ck_assert_msg(strstr(err, "deeper than 64") != NULL,
			    "%s", err);
		value_free(back);
		value_free(v);
		free(packed);
		free(hand.p);
	}
}
END_TEST

START_TEST(test_map_depth)
{
	char err[256];

	for (size_t depth = 63; depth <= 65; depth++) {
		Objd__Value *v = nested_map_value(depth);
		struct bytes val = { 0 }, req;
		uint8_t *packed;
		size_t len;
		bool ok = depth <= VALUE_DEPTH_MAX;

		packed = value_pack(v, &len);
		ck_assert(pbcheck(&objd__value__descriptor, packed, len, err,
		              sizeof(err)) == ok);
		put(&val, packed, len);
		req = request_set("k", 1, &val);
		ck_assert(check_request(&req, err, sizeof(err)) == ok);
		ck_assert(value_valid(v, err, sizeof(err)) == ok);
		value_free(v);
		free(packed);
		free(val.p);
		free(req.p);
	}
}
END_TEST

static const struct utf8_case {
	const char *s;
	size_t len;
	bool ok;
} utf8_cases[] = {
	{ "", 0, true },
	{ "plain ascii", 11, true },
	{ "\x7f", 1, true },
	{ "\xc2\x80", 2, true },         /* U+0080 */
	{ "\xdf\xbf", 2, true },         /* U+07FF */
	{ "\xe0\xa0\x80", 3, true },     /* U+0800 */
	{ "\xed\x9f\xbf", 3, true },     /* U+D7FF */
	{ "\xee\x80\x80", 3, true },     /* U+E000 */
	{ "\xef\xbf\xbf", 3, true },     /* U+FFFF */
	{ "\xf0\x90\x80\x80", 4, true }, /* U+10000 */
	{ "\xf0\x9f\x98\x80", 4, true }, /* U+1F600 */
	{ "\xf4\x8f\xbf\xbf", 4, true }, /* U+10FFFF */
	{ "a\0b", 3, false },
	{ "\0", 1, false },
	{ "\x80", 1, false }, /* lone continuation */
	{ "\xbf", 1, false },
	{ "\xc0\x80", 2, false },                 /* overlong NUL */
	{ "\xc1\xbf", 2, false },                 /* overlong */
	{ "\xe0\x80\xaf", 3, false },             /* overlong '/' */
	{ "\xe0\x9f\xbf", 3, false },             /* overlong U+07FF */
	{ "\xf0\x80\x80\xaf", 4, false },         /* overlong '/' */
	{ "\xf0\x8f\xbf\xbf", 4, false },         /* overlong U+FFFF */
	{ "\xed\xa0\x80", 3, false },             /* U+D800 */
	{ "\xed\xbf\xbf", 3, false },             /* U+DFFF */
	{ "\xed\xa0\xbd\xed\xb8\x80", 6, false }, /* CESU-8 pair */
	{ "\xf4\x90\x80\x80", 4, false },         /* U+110000 */
	{ "\xf5\x80\x80\x80", 4, false },
	{ "\xf8\x88\x80\x80\x80", 5, false },
	{ "\xfe", 1, false },
	{ "\xff", 1, false },
	{ "\xc3", 1, false },         /* truncated */
	{ "\xe2\x82", 2, false },     /* truncated */
	{ "\xf0\x9f\x98", 3, false }, /* truncated */
	{ "\xc3\x28", 2, false },     /* bad continuation */
	{ "\xe2\x28\xa1", 3, false },
	{ "\xe2\x82\x28", 3, false },
	{ "\xf0\x9f\x28\x80", 4, false },
	{ "\xf0\x9f\x98\x28", 4, false },
	{ "ok\xc3\xa9\xc3", 5, false },
};

/* Checked in two pieces, cut at utf8_whole of every beginning, s is
 * valid as it is whole. */
static bool
utf8_valid_in_pieces(const char *s, size_t len, size_t cut)
{
	size_t w = utf8_whole(s, cut);

	ck_assert_uint_le(w, cut);
	ck_assert_uint_le(cut - w, 3);
	return utf8_valid(s, w) && utf8_valid(s + w, len - w);
}

START_TEST(test_utf8)
{
	const struct utf8_case *c = &utf8_cases[_i];

	ck_assert_msg(utf8_valid(c->s, c->len) == c->ok, "case %d", _i);
	for (size_t cut = 0; cut <= c->len; cut++)
		ck_assert_msg(utf8_valid_in_pieces(c->s, c->len, cut) == c->ok,
		    "case %d cut at %zu", _i, cut);
}
END_TEST

/* Long ASCII runs are checked a block and then a word at a time: a bad
 * byte or a valid sequence must be seen wherever it falls against the
 * blocks and the words. */
START_TEST(test_utf8_in_long_text)
{
	static const struct {
		const char *s;
		size_t len;
		bool ok;
	} inserts[] = {
		{ "\0", 1, false },
		{ "\x80", 1, false },
		{ "\xff", 1, false },
		{ "\xc3", 1, false },
		{ "\x7f", 1, true },
		{ "\xc3\xa9", 2, true },
		{ "\xf0\x9f\x98\x80", 4, true },
		{ "\xed\xa0\x80", 3, false },
	};
	char text[100];

	for (size_t k = 0; k < sizeof(inserts) / sizeof(inserts[0]); k++)
		for (size_t at = 0; at + inserts[k].len <= 90; at++) {
			memset(text, 'a', sizeof(text));
			memcpy(text + at, inserts[k].s, inserts[k].len);
			ck_assert_msg(utf8_valid(text, 90) == inserts[k].ok,
			    "insert %zu at %zu", k, at);
			for (size_t cut = 0; cut <= 90; cut++)
				ck_assert_msg(utf8_valid_in_pieces(text, 90,
				                  cut) == inserts[k].ok,
				    "insert %zu at %zu cut at %zu", k, at, cut);
			/* Past the given length, nothing counts. */
			ck_assert(utf8_valid(text, at));
		}
	memset(text, 'a', sizeof(text));
	ck_assert(utf8_valid(text, sizeof(text)));
}
END_TEST

/* utf8.c's checker before its fast paths: a byte at a time. The fast
 * ones must agree with it on every input. */
static bool
utf8_reference(const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		uint8_t c = s[i], lo = 0x80, hi = 0xbf;
		size_t need;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			lo = c == 0xe0 ? 0xa0 : 0x80;
			hi = c == 0xed ? 0x9f : 0xbf;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			lo = c == 0xf0 ? 0x90 : 0x80;
			hi = c == 0xf4 ? 0x8f : 0xbf;
		} else
			return false;
		if (len - i - 1 < need || s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= need; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += need + 1;
	}
	return true;
}

static uint64_t utf8_rand_state = 0x9e3779b97f4a7c15ULL;

/* xorshift64: the same inputs on every run. */
static uint32_t
utf8_rand(void)
{
	utf8_rand_state ^= utf8_rand_state << 13;
	utf8_rand_state ^= utf8_rand_state >> 7;
	utf8_rand_state ^= utf8_rand_state << 17;
	return (uint32_t)(utf8_rand_state >> 32);
}

/* Every byte value at every place of ASCII text, across the blocks and
 * words of the fast paths, from every alignment of the start. */
START_TEST(test_utf8_every_byte_everywhere)
{
	uint8_t buf[16 + 200];

	for (size_t off = 0; off < 16; off += 3)
		for (size_t at = 0; at < 200; at++)
			for (unsigned b = 0; b < 256; b++) {
				uint8_t *t = buf + off;

				memset(buf, 'x', sizeof(buf));
				t[at] = (uint8_t)b;
				ck_assert_msg(
				    utf8_valid((const char *)t, 200) ==
				        utf8_reference(t, 200),
				    "byte %#x at %zu, offset %zu", b, at, off);
			}
}
END_TEST

/* Random text of random length: mostly ASCII with valid and broken
 * sequences, NULs and stray bytes mixed in, against the reference. */
START_TEST(test_utf8_random_against_reference)
{
	static const char *pieces[] = { "\xc3\xa9", "\xe2\x82\xac",
		"\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf",
		"\xed\xa0\x80", "\xe0\x9f\xbf", "\xf4\x90\x80\x80", "\xc0\x80",
		"\xc3", "\xe2\x82", "\x80", "\xbf", "\xff", "\x7f" };
	const size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
	uint8_t buf[8 + 700];
	size_t valid = 0, runs = 20000;

	for (size_t r = 0; r < runs; r++) {
		size_t off = utf8_rand() % 8, len = utf8_rand() % 700;
		uint8_t *t = buf + off;
		unsigned odds = 1 + utf8_rand() % 400;

		for (size_t i = 0; i < len;) {
			uint32_t x = utf8_rand();

			if (x % odds != 0) {
				t[i++] = (uint8_t)(0x20 + x / 512 % 95);
				continue;
			}
			if (x / 1024 % 16 == 0) {
				/* Any byte at all, NUL included. */
				t[i++] = (uint8_t)(x >> 24);
				continue;
			}
			for (const char *p = pieces[x / 16384 % npieces];
			     *p != '\0' && i < len; p++)
				t[i++] = (uint8_t)*p;
		}
		ck_assert_msg(utf8_valid((const char *)t, len) ==
		        utf8_reference(t, len),
		    "run %zu (length %zu)", r, len);
		valid += utf8_reference(t, len);
	}
	/* Both answers came up often. */
	ck_assert_uint_gt(valid, runs / 10);
	ck_assert_uint_lt(valid, runs - runs / 10);
}
END_TEST

/* The same strings, as a key and as a string value of a request. */
START_TEST(test_request_strings)
{
	const struct utf8_case *c = &utf8_cases[_i];
	struct bytes val = { 0 }, req;
	char err[256] = "";

	if (c->len == 0)
		return; /* an empty key is key_valid's business */
	put_field(&val, 5, "x", 1);
	req = request_set(c->s, c->len, &val);
	ck_assert(check_request(&req, err, sizeof(err)) == c->ok);
	if (!c->ok)
		ck_assert_msg(strstr(err, "UTF-8") != NULL, "%s", err);
	free(req.p);
	free(val.p);

	memset(&val, 0, sizeof(val));
	put_field(&val, 5, c->s, c->len);
	req = request_set("k", 1, &val);
	ck_assert(check_request(&req, err, sizeof(err)) == c->ok);
	ck_assert(pbcheck(&objd__value__descriptor, val.p, val.len, err,
	              sizeof(err)) == c->ok);
	free(req.p);
	free(val.p);
}
END_TEST

/* Every string field is checked, wherever it sits. */
START_TEST(test_string_fields)
{
	struct bytes b = { 0 }, inner = { 0 }, entry = { 0 }, map = { 0 };
	char err[256];

	/* Get.keys */
	put_field(&inner, 1, "ok", 2);
	put_field(&inner, 1, "\xff", 1);
	put_field(&b, 2, inner.p, inner.len);
	ck_assert(!check_request(&b, err, sizeof(err)));
	b.len = inner.len = 0;
	/* Delete.keys */
	put_field(&inner, 1, "a\0", 2);
	put_field(&b, 4, inner.p, inner.len);
	ck_assert(!check_request(&b, err, sizeof(err)));
	b.len = inner.len = 0;
	/* List.prefix */
	put_field(&inner, 1, "\xed\xa0\x80", 3);
	put_field(&b, 5, inner.p, inner.len);
	ck_assert(!check_request(&b, err, sizeof(err)));
	b.len = inner.len = 0;
	/* A map key inside a value: Value{map_value{fields{key}}}. */
	put_field(&entry, 1, "\xc0\xae", 2);
	put_field(&entry, 2, "\x08\x00", 2);
	put_field(&map, 1, entry.p, entry.len);
	put_field(&inner, 8, map.p, map.len);
	ck_assert(!pbcheck(&objd__value__descriptor, inner.p, inner.len, err,
	    sizeof(err)));
	/* Bytes are not text: anything goes. */
	b.len = 0;
	put_field(&b, 6, "\xff\0\xc0\x80", 4);
	ck_assert_msg(
	    pbcheck(&objd__value__descriptor, b.p, b.len, err, sizeof(err)),
	    "%s", err);
	free(b.p);
	free(inner.p);
	free(entry.p);
	free(map.p);
}
END_TEST

static const struct raw_case {
	const char *bytes;
	size_t len;
	const char *what;
} malformed[] = {
	{ "\x08\x80", 2, "varint cut short" },
	{ "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12,
	    "varint of eleven bytes" },
	{ "\x80", 1, "tag cut short" },
	{ "\x1a\x80", 2, "length cut short" },
	{ "\x1a", 1, "length missing" },
	{ "\x1a\x05\x00", 3, "length past the end" },
	{ "\x2a\xff\xff\xff\xff\x0f", 6, "length of 4 GiB" },
	{ "\x1a\x02\x0a\x05", 4, "inner length past its parent" },
	{ "\x1a\x04\x0a\x02\x0a\x05", 6, "inner length past its parent" },
	{ "\x0b", 1, "wire type 3 (start group)" },
	{ "\x0c", 1, "wire type 4 (end group)" },
	{ "\x0e\x00", 2, "wire type 6" },
	{ "\x0f\x00", 2, "wire type 7" },
	{ "\x1b\x1c", 2, "a group in place of a message" },
	{ "\x00\x00", 2, "field number 0" },
	{ "\x02\x00", 2, "field number 0, length-delimited" },
	{ "\x80\x80\x80\x80\x80\x01\x00", 7, "field number over 2^32" },
	{ "\x09\x01\x02\x03", 4, "64-bit value cut short" },
	{ "\x0d\x01\x02", 3, "32-bit value cut short" },
};

START_TEST(test_malformed)
{
	const struct raw_case *c = &malformed[_i];
	char err[256] = "";

	ck_assert_msg(!pbcheck(&objd__request__descriptor,
	                  (const uint8_t *)c->bytes, c->len, err, sizeof(err)),
	    "accepted: %s", c->what);
	ck_assert_msg(err[0] != '\0', "no reason for %s", c->what);
}
END_TEST

/* Each case, one byte shorter, is still refused or still well-formed:
 * never read past the end (ASan checks the reading). */
START_TEST(test_truncations)
{
	Objd__Value *v = nested_map_value(5);
	struct bytes val = { 0 }, req;
	uint8_t *packed, *copy;
	size_t len;
	char err[256];

	packed = value_pack(v, &len);
	put(&val, packed, len);
	req = request_set("key", 3, &val);
	ck_assert(check_request(&req, err, sizeof(err)));
	for (size_t n = 0; n < req.len; n++) {
		bool ok;

		copy = malloc(n ? n : 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, req.p, n);
		ok = pbcheck(&objd__request__descriptor, copy, n, err,
		    sizeof(err));
		/* A cut inside a length-delimited field is always seen. */
		if (n > 2)
			ck_assert_msg(!ok, "cut at %zu accepted", n);
		free(copy);
	}
	value_free(v);
	free(packed);
	free(val.p);
	free(req.p);
}
END_TEST

static Objd__Value *
all_types_value(void)
{
	Objd__Value *map = value_new_map(), *list = value_new_list();

	value_list_append(list, value_new_null());
	value_list_append(list, value_new_bool(false));
	value_list_append(list, value_new_int(INT64_MIN));
	value_list_append(list, value_new_double(-0.0));
	value_list_append(list, value_new_string("", 0));
	value_list_append(list, value_new_bytes((const uint8_t *)"\0\xff", 2));
	value_list_append(list, value_new_list());
	value_list_append(list, value_new_map());
	value_map_add(map, "list", 4, list);
	value_map_add(map, "caf\xc3\xa9", 5,
	    value_new_string("\xe2\x82\xac", 3));
	return map;
}

START_TEST(test_valid_requests)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Get get = OBJD__GET__INIT;
	Objd__Set set = OBJD__SET__INIT;
	Objd__Delete del = OBJD__DELETE__INIT;
	Objd__List list = OBJD__LIST__INIT;
	Objd__Ping ping = OBJD__PING__INIT;
	Objd__Entry e1 = OBJD__ENTRY__INIT, e2 = OBJD__ENTRY__INIT;
	Objd__Entry *entries[] = { &e1, &e2 };
	char *keys[] = { "a", "server.port", "\xf0\x9f\x98\x80" };
	Objd__Value *v = all_types_value();
	char err[256];

	e1.key = "x";
	e1.value = v;
	e2.key = "y";
	e2.value = v->map_value->fields[0]->value;
	set.n_entries = 2;
	set.entries = entries;
	get.n_keys = del.n_keys = 3;
	get.keys = del.keys = keys;
	list.prefix = "server.";
	req.id = UINT64_MAX;

	for (int op = 0; op < 6; op++) {
		Objd__Request *back;
		uint8_t *buf;
		size_t len;

		req.op_case = op == 0 ? OBJD__REQUEST__OP__NOT_SET
		    : op == 1         ? OBJD__REQUEST__OP_GET
		    : op == 2         ? OBJD__REQUEST__OP_SET
		    : op == 3         ? OBJD__REQUEST__OP_DELETE
		    : op == 4         ? OBJD__REQUEST__OP_LIST
		                      : OBJD__REQUEST__OP_PING;
		req.get = &get;
		if (op == 2)
			req.set = &set;
		else if (op == 3)
			req.delete_ = &del;
		else if (op == 4)
			req.list = &list;
		else if (op == 5)
			req.ping = &ping;
		len = objd__request__get_packed_size(&req);
		buf = malloc(len + 1);
		ck_assert_ptr_nonnull(buf);
		objd__request__pack(&req, buf);
		ck_assert_msg(pbcheck(&objd__request__descriptor, buf, len, err,
		                  sizeof(err)),
		    "op %d: %s", op, err);
		back = objd__request__unpack(NULL, len, buf);
		ck_assert_ptr_nonnull(back);
		objd__request__free_unpacked(back, NULL);
		free(buf);
	}
	value_free(v);
}
END_TEST

/* Fields objd does not know are skipped, not refused. */
START_TEST(test_unknown_fields)
{
	struct bytes b = { 0 };
	char err[256];

	put(&b, "\x08\x07", 2);
	put_tag(&b, 99, 0);
	put_varint(&b, 12345);
	put_field(&b, 100, "\xff\xfe", 2); /* not checked as text */
	put_tag(&b, 101, 1);
	put(&b, "12345678", 8);
	put_tag(&b, 102, 5);
	put(&b, "1234", 4);
	put_tag(&b, (UINT64_C(1) << 29) - 1, 0); /* the largest field number */
	put_varint(&b, 0);
	ck_assert_msg(check_request(&b, err, sizeof(err)), "%s", err);
	ck_assert(
	    check_request(&(struct bytes){ NULL, 0, 0 }, err, sizeof(err)));
	free(b.p);
}
END_TEST

START_TEST(test_value_unpack)
{
	Objd__Value *v = all_types_value(), *back;
	struct bytes b = { 0 }, entry = { 0 }, map = { 0 };
	uint8_t *packed;
	size_t len;
	char err[256];

	packed = value_pack(v, &len);
	back = value_unpack(packed, len, err, sizeof(err));
	ck_assert_msg(back != NULL, "%s", err);
	ck_assert_int_eq(back->kind_case, OBJD__VALUE__KIND_MAP_VALUE);
	ck_assert_uint_eq(back->map_value->n_fields, 2);
	value_free(back);
	free(packed);
	value_free(v);

	/* A string with a NUL. */
	put_field(&b, 5, "a\0b", 3);
	ck_assert_ptr_null(value_unpack(b.p, b.len, err, sizeof(err)));
	ck_assert_msg(strstr(err, "NUL") != NULL, "%s", err);
	/* No kind at all. */
	ck_assert_ptr_null(value_unpack(b.p, 0, err, sizeof(err)));
	ck_assert_msg(strstr(err, "no type") != NULL, "%s", err);
	/* Not a message. */
	ck_assert_ptr_null(
	    value_unpack((const uint8_t *)"\x2a\x09", 2, err, sizeof(err)));
	/* A map with the same key twice passes the wire check but not
	 * value_valid. */
	put_field(&entry, 1, "dup", 3);
	put_field(&entry, 2, "\x10\x01", 2);
	put_field(&map, 1, entry.p, entry.len);
	put_field(&map, 1, entry.p, entry.len);
	b.len = 0;
	put_field(&b, 8, map.p, map.len);
	ck_assert(
	    pbcheck(&objd__value__descriptor, b.p, b.len, err, sizeof(err)));
	ck_assert_ptr_null(value_unpack(b.p, b.len, err, sizeof(err)));
	ck_assert_msg(strstr(err, "twice") != NULL, "%s", err);
	/* A map entry with no value. */
	b.len = map.len = entry.len = 0;
	put_field(&entry, 1, "k", 1);
	put_field(&map, 1, entry.p, entry.len);
	put_field(&b, 8, map.p, map.len);
	ck_assert_ptr_null(value_unpack(b.p, b.len, err, sizeof(err)));
	free(b.p);
	free(entry.p);
	free(map.p);
}
END_TEST

START_TEST(test_value_valid)
{
	Objd__Value none = OBJD__VALUE__INIT, *v;
	char err[256];

	ck_assert(!value_valid(&none, err, sizeof(err)));
	ck_assert(!value_valid(NULL, err, sizeof(err)));

	v = value_new_map();
	value_map_add(v, "a", 1, value_new_null());
	value_map_add(v, "b", 1, value_new_null());
	ck_assert(value_valid(v, err, sizeof(err)));
	value_map_add(v, "a", 1, value_new_null());
	ck_assert(!value_valid(v, err, sizeof(err)));
	ck_assert_msg(strstr(err, "\"a\"") != NULL, "%s", err);
	value_free(v);

	v = value_new_map();
	value_map_add(v, "\xff", 1, value_new_null());
	ck_assert(!value_valid(v, err, sizeof(err)));
	value_free(v);

	v = value_new_list();
	value_list_append(v, value_new_string("\xed\xa0\x80", 3));
	ck_assert(!value_valid(v, err, sizeof(err)));
	value_free(v);

	v = nested_list_value(64);
	ck_assert(value_valid(v, err, sizeof(err)));
	value_free(v);
	v = nested_list_value(65);
	ck_assert(!value_valid(v, err, sizeof(err)));
	value_free(v);
}
END_TEST

START_TEST(test_type_names)
{
	Objd__Value none = OBJD__VALUE__INIT;
	Objd__Value *v[] = { value_new_null(), value_new_bool(true),
		value_new_int(0), value_new_double(0), value_new_string("", 0),
		value_new_bytes(NULL, 0), value_new_list(), value_new_map() };
	static const char *names[] = { "null", "bool", "int", "double",
		"string", "bytes", "list", "map" };

	for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
		ck_assert_str_eq(value_type_name(v[k]), names[k]);
		value_free(v[k]);
	}
	ck_assert_str_eq(value_type_name(&none), "none");
}
END_TEST

static Suite *
pbcheck_suite(void)
{
	Suite *s = suite_create("pbcheck");
	TCase *tc;

	tc = tcase_create("depth");
	tcase_add_test(tc, test_request_depth);
	tcase_add_test(tc, test_request_too_deep);
	tcase_add_test(tc, test_value_depth);
	tcase_add_test(tc, test_map_depth);
	tcase_set_timeout(tc, 20);
	suite_add_tcase(s, tc);

	tc = tcase_create("utf8");
	tcase_add_test(tc, test_utf8_in_long_text);
	tcase_add_test(tc, test_utf8_every_byte_everywhere);
	tcase_add_test(tc, test_utf8_random_against_reference);
	tcase_add_loop_test(tc, test_utf8, 0,
	    sizeof(utf8_cases) / sizeof(utf8_cases[0]));
	tcase_add_loop_test(tc, test_request_strings, 0,
	    sizeof(utf8_cases) / sizeof(utf8_cases[0]));
	tcase_add_test(tc, test_string_fields);
	suite_add_tcase(s, tc);

	tc = tcase_create("wire");
	tcase_add_loop_test(tc, test_malformed, 0,
	    sizeof(malformed) / sizeof(malformed[0]));
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_valid_requests);
	tcase_add_test(tc, test_unknown_fields);
	suite_add_tcase(s, tc);

	tc = tcase_create("value");
	tcase_add_test(tc, test_value_unpack);
	tcase_add_test(tc, test_value_valid);
	tcase_add_test(tc, test_type_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pbcheck_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
