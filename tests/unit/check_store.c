/* SPDX-License-Identifier: ISC */
/* check_store.c: the in-memory object (server/store.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "objd.h"
#include "unit.h"

static struct store_entry *
entry(const char *key, const char *val)
{
	return store_entry_new(key, strlen(key), (const uint8_t *)val,
	    strlen(val), 7);
}

START_TEST(test_put_get_replace_remove)
{
	struct store *s = store_new();
	struct store_entry *e, *old;

	ck_assert_ptr_null(store_get(s, "a", 1));
	ck_assert_ptr_null(store_put(s, entry("a", "one")));
	e = store_get(s, "a", 1);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(STORE_ENTRY_KEY(e), "a");
	ck_assert_mem_eq(STORE_ENTRY_VALUE(e), "one", 3);
	ck_assert_uint_eq(e->revision, 7);

	old = store_put(s, entry("a", "two"));
	ck_assert_ptr_eq(old, e);
	free(old);
	ck_assert_uint_eq(store_count(s), 1);
	ck_assert_mem_eq(STORE_ENTRY_VALUE(store_get(s, "a", 1)), "two", 3);

	/* A key is its bytes: "a" and "a\0b" are different keys. */
	ck_assert_ptr_null(store_get(s, "a\0b", 3));
	e = store_remove(s, "a", 1);
	ck_assert_ptr_nonnull(e);
	free(e);
	ck_assert_ptr_null(store_remove(s, "a", 1));
	ck_assert_uint_eq(store_count(s), 0);
	store_free(s);
}
END_TEST

START_TEST(test_empty_value)
{
	struct store *s = store_new();

	store_put(s, store_entry_new("k", 1, NULL, 0, 1));
	ck_assert_uint_eq(store_get(s, "k", 1)->vallen, 0);
	store_free(s);
}
END_TEST

/* Many keys, removed in a scattered order, against a plain array as the
 * reference: exercises growth and the backward-shift deletion. */
START_TEST(test_many_against_reference)
{
	enum { N = 50000 };
	struct store *s = store_new();
	static bool present[N];
	char key[32];
	unsigned seed = 12345;

	memset(present, 0, sizeof(present));
	for (int round = 0; round < 4 * N; round++) {
		int k;

		seed = seed * 1103515245 + 12345;
		k = (int)((seed >> 8) % N);
		snprintf(key, sizeof(key), "key-%d", k);
		if ((seed >> 4) & 1) {
			free(store_put(s, entry(key, key)));
			present[k] = true;
		} else {
			free(store_remove(s, key, strlen(key)));
			present[k] = false;
		}
	}
	size_t expect = 0;
	for (int k = 0; k < N; k++) {
		struct store_entry *e;

		snprintf(key, sizeof(key), "key-%d", k);
		e = store_get(s, key, strlen(key));
		if (present[k]) {
			expect++;
			ck_assert_ptr_nonnull(e);
			ck_assert_mem_eq(STORE_ENTRY_VALUE(e), key,
			    strlen(key));
		} else
			ck_assert_ptr_null(e);
	}
	ck_assert_uint_eq(store_count(s), expect);
	store_free(s);
}
END_TEST

START_TEST(test_sorted_with_prefix)
{
	struct store *s = store_new();
	const char *keys[] = { "b", "a", "ab", "a\xc3\xa9", "B", "aa", "c" };
	struct store_entry **all;
	size_t n;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		store_put(s, entry(keys[i], "v"));
	all = store_sorted(s, "", 0, &n);
	ck_assert_uint_eq(n, 7);
	/* Bytewise: uppercase before lowercase, UTF-8 after ASCII. */
	ck_assert_str_eq(all[0]->data, "B");
	ck_assert_str_eq(all[1]->data, "a");
	ck_assert_str_eq(all[2]->data, "aa");
	ck_assert_str_eq(all[3]->data, "ab");
	ck_assert_str_eq(all[4]->data, "a\xc3\xa9");
	ck_assert_str_eq(all[5]->data, "b");
	ck_assert_str_eq(all[6]->data, "c");
	free(all);
	all = store_sorted(s, "a", 1, &n);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(all[0]->data, "a");
	ck_assert_str_eq(all[3]->data, "a\xc3\xa9");
	free(all);
	all = store_sorted(s, "zz", 2, &n);
	ck_assert_uint_eq(n, 0);
	free(all);
	store_free(s);
}
END_TEST

START_TEST(test_revision_and_stamp)
{
	struct store *s = store_new();

	ck_assert_uint_eq(store_revision(s), 0);
	store_set_revision(s, 41);
	ck_assert_uint_eq(store_revision(s), 41);
	store_put(s, entry("x", "1"));
	store_put(s, entry("y", "2"));
	store_stamp(s, 42);
	ck_assert_uint_eq(store_get(s, "x", 1)->revision, 42);
	ck_assert_uint_eq(store_get(s, "y", 1)->revision, 42);
	store_free(s);
}
END_TEST

/* A store of keys k0..k(n-1), each with the value v<i>, put in the order
 * start, start+step, ... modulo n (step coprime with n). */
static struct store *
store_of(size_t n, size_t start, size_t step)
{
	struct store *s = store_new();
	char key[32], val[32];

	for (size_t k = 0, i = start % n; k < n; k++, i = (i + step) % n) {
		snprintf(key, sizeof(key), "k%zu", i);
		snprintf(val, sizeof(val), "v%zu", i);
		ck_assert_ptr_null(store_put(s, entry(key, val)));
	}
	return s;
}

/* Replaces key's value in s. */
static void
store_set(struct store *s, const char *key, const char *val)
{
	free(store_put(s, entry(key, val)));
}

/* Equality is of keys and values, whatever the order they came in, the
 * seeds of the tables or the revisions; it fails on any difference, in
 * any of the batches the comparison looks at together, also when the
 * counts and sizes agree. */
START_TEST(test_equal)
{
	size_t n = 1000;
	struct store *a = store_of(n, 0, 1), *b = store_of(n, 17, 7);
	struct store *empty1 = store_new(), *empty2 = store_new();
	char key[32], other[32], val[32];

	ck_assert(store_equal(empty1, empty2));
	ck_assert(!store_equal(a, empty1));
	ck_assert(!store_equal(empty1, a));
	ck_assert(store_equal(a, b));
	ck_assert(store_equal(b, a));
	store_stamp(b, 99);
	ck_assert(store_equal(a, b));

	for (size_t i = 0; i < n; i += 37) {
		snprintf(key, sizeof(key), "k%zu", i);
		snprintf(other, sizeof(other), "x%zu", i);
		snprintf(val, sizeof(val), "v%zu", i);
		/* Another value of the same size. */
		store_set(b, key, i == 0 ? "w0" : "v?");
		ck_assert(!store_equal(a, b));
		ck_assert(!store_equal(b, a));
		/* Another key of the same size, with the same value. */
		free(store_remove(b, key, strlen(key)));
		store_set(b, other, val);
		ck_assert_uint_eq(store_count(a), store_count(b));
		ck_assert_uint_eq(store_bytes(a), store_bytes(b));
		ck_assert(!store_equal(a, b));
		ck_assert(!store_equal(b, a));
		/* A key missing. */
		free(store_remove(b, other, strlen(other)));
		ck_assert(!store_equal(a, b));
		store_set(b, key, val);
		ck_assert(store_equal(a, b));
	}
	store_free(a);
	store_free(b);
	store_free(empty1);
	store_free(empty2);
}
END_TEST

static void
count_entry(const struct store_entry *e, void *arg)
{
	size_t *seen = arg;
	size_t i = strtoul(STORE_ENTRY_KEY(e) + 1, NULL, 10);

	seen[i]++;
}

/* A walk visits every key once, including those in the last slots, where
 * it no longer fetches ahead. */
START_TEST(test_foreach_visits_each_once)
{
	size_t sizes[] = { 0, 1, 11, 12, 13, 100, 5000 };

	for (size_t t = 0; t < sizeof(sizes) / sizeof(sizes[0]); t++) {
		size_t n = sizes[t];
		size_t *seen = calloc(n + 1, sizeof(*seen));
		struct store *s = store_new();

		if (n > 0) {
			store_free(s);
			s = store_of(n, 0, 1);
		}
		store_foreach(s, count_entry, seen);
		for (size_t i = 0; i < n; i++)
			ck_assert_uint_eq(seen[i], 1);
		store_free(s);
		free(seen);
	}
}
END_TEST

/* Large stores go to a thread, small ones are freed at once; under ASan,
 * a use after free or a double free in either fails here. */
START_TEST(test_free_behind)
{
	store_free_behind(NULL);
	store_free_behind(store_of(10, 0, 1));
	store_free_behind(store_of(20000, 0, 1));
}
END_TEST

/* Finds key in the packed req, and nothing in any cut of it that ends
 * before the key does. Under ASan, a read past a cut fails the test. */
static void
assert_first_key(Objd__Request *req, const char *want)
{
	size_t len, keylen;
	const char *key;
	uint8_t *body = request_pack(req, &len), *cut;

	if (want == NULL) {
		ck_assert(!prefetch_first_key(body, len, &key, &keylen));
		free(body);
		return;
	}
	ck_assert(prefetch_first_key(body, len, &key, &keylen));
	ck_assert_uint_eq(keylen, strlen(want));
	ck_assert_mem_eq(key, want, keylen);
	for (size_t n = 0; n < len; n++) {
		cut = malloc(n + 1);
		ck_assert_ptr_nonnull(cut);
		memcpy(cut, body, n);
		if (prefetch_first_key(cut, n, &key, &keylen))
			ck_assert((const uint8_t *)key + keylen <= cut + n);
		free(cut);
	}
	free(body);
}

/* The parts of a set of one key to a string, kept by the caller. */
struct set_parts {
	Objd__Set set;
	Objd__Entry entry, *entries[1];
	Objd__Value value;
};

/* Makes req a set of key to the string text. */
static void
request_set_string(Objd__Request *req, struct set_parts *p, const char *key,
    const char *text)
{
	objd__set__init(&p->set);
	objd__entry__init(&p->entry);
	objd__value__init(&p->value);
	p->entries[0] = &p->entry;
	p->set.n_entries = 1;
	p->set.entries = p->entries;
	p->entry.key = (char *)key;
	p->entry.value = &p->value;
	p->value.kind_case = OBJD__VALUE__KIND_STRING_VALUE;
	p->value.string_value = (char *)text;
	req->op_case = OBJD__REQUEST__OP_SET;
	req->set = &p->set;
}

START_TEST(test_prefetch_first_key)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Get get = OBJD__GET__INIT;
	struct set_parts set;
	Objd__Delete del = OBJD__DELETE__INIT;
	Objd__Ping ping = OBJD__PING__INIT;
	char *keys[] = { "key:000000000042", "other" };
	char *path[] = { "server.port" };

	req.id = 300;
	req.op_case = OBJD__REQUEST__OP_GET;
	req.get = &get;
	get.n_keys = 2;
	get.keys = keys;
	assert_first_key(&req, "key:000000000042");
	req.id = 0; /* no id field at all */
	assert_first_key(&req, "key:000000000042");
	get.keys = path; /* a path: its top-level key is not the string */
	get.n_keys = 1;
	assert_first_key(&req, NULL);
	get.n_keys = 0;
	assert_first_key(&req, NULL);

	req.id = 7;
	request_set_string(&req, &set, "name", "John");
	assert_first_key(&req, "name");

	req.op_case = OBJD__REQUEST__OP_DELETE;
	req.delete_ = &del;
	del.n_keys = 1;
	del.keys = keys + 1;
	assert_first_key(&req, "other");

	req.op_case = OBJD__REQUEST__OP_PING;
	req.ping = &ping;
	assert_first_key(&req, NULL);
}
END_TEST

/* The key of the one whole frame at the front of a client's input, with
 * the hash the store gives it; nothing for a cut frame, a frame over the
 * limit, or a request without a plain key. */
START_TEST(test_prefetch_frame_slot)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	struct set_parts set;
	Objd__Ping ping = OBJD__PING__INIT;
	struct store *s = store_new();
	uint8_t frame[256], *f;
	size_t n;
	uint64_t hash;

	req.id = 9;
	request_set_string(&req, &set, "name", "John");
	f = frame_pack(&req.base, &n);
	ck_assert_uint_le(2 * n, sizeof(frame));
	memcpy(frame, f, n);
	/* A second frame behind it changes nothing. */
	memcpy(frame + n, f, n);
	free(f);

	ck_assert(prefetch_frame_slot(s, frame, n, 64, &hash));
	ck_assert_uint_eq(hash, store_prefetch_slot(s, "name", 4));
	ck_assert(prefetch_frame_slot(s, frame, 2 * n, 64, &hash));
	ck_assert_uint_eq(hash, store_prefetch_slot(s, "name", 4));
	for (size_t cut = 0; cut < n; cut++)
		ck_assert_msg(!prefetch_frame_slot(s, frame, cut, 64, &hash),
		    "a frame cut at %zu of %zu bytes", cut, n);
	ck_assert(!prefetch_frame_slot(s, frame, n, 4, &hash));

	req.op_case = OBJD__REQUEST__OP_PING;
	req.ping = &ping;
	f = frame_pack(&req.base, &n);
	ck_assert(!prefetch_frame_slot(s, f, n, 64, &hash));
	free(f);
	store_free(s);
}
END_TEST

/* Any bytes at all, framed or not: a hint that never fails. */
START_TEST(test_prefetch_frames_any_bytes)
{
	struct store *s = store_new();
	uint8_t buf[512];

	store_put(s, entry("name", "John"));
	srand(7);
	for (int round = 0; round < 2000; round++) {
		size_t len = (size_t)rand() % sizeof(buf);

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rand();
		/* Short frames, so that several fit. */
		for (size_t i = 0; i < len; i += 1 + (size_t)rand() % 40)
			buf[i] = (uint8_t)(rand() % 40);
		prefetch_frames(s, buf, len, 64);
	}
	store_free(s);
}
END_TEST

/* One change of key to val (NULL: a delete) at revision, as a batch
 * applies it: the store first, then the history with what it replaced. */
static void
history_step(struct store *s, const char *key, const char *val,
    uint64_t revision)
{
	struct store_entry *old, *live;

	if (val != NULL) {
		struct store_entry *e = store_entry_new(key, strlen(key),
		    (const uint8_t *)val, strlen(val), revision);

		old = store_put(s, e);
	} else
		old = store_remove(s, key, strlen(key));
	store_set_revision(s, revision);
	history_change(store_history(s), key, strlen(key), revision,
	    (int64_t)revision, val != NULL ? HISTORY_SET : HISTORY_DELETE, old,
	    true);
	/* The live entry knows its key's ring, whether the change made
	 * it, moved it, or found it from a deleted key's past. */
	if ((live = store_get(s, key, strlen(key))) != NULL)
		ck_assert_ptr_eq(live->ring,
		    history_get(store_history(s), key, strlen(key)));
	/* The look-up in steps finds what the look-up at once finds. */
	ck_assert_ptr_eq(
	    history_get_hashed(store_history(s), key, strlen(key),
	        history_key_hash(store_history(s), key, strlen(key))),
	    history_get(store_history(s), key, strlen(key)));
}

/* A key changed again and again: its ring grows through every size on
 * the way to the depth and then wraps, and each past revision still reads
 * back its own value, or absent after a delete, or unknown once dropped.
 * Long values sit in their entries, short ones in the ring. */
START_TEST(test_history_growth_and_wrap)
{
	static const size_t depths[] = { 1, 2, 3, 4, 5, 16, 17, 100 };
	size_t saved_depth = history_depth;
	char val[64];

	for (size_t d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
		struct store *s;
		size_t changes = 3 * depths[d] + 7;

		history_depth = depths[d];
		s = store_new();
		/* Another key between, so that rings share the table. */
		history_step(s, "other", "x", 1);
		for (uint64_t r = 2; r < 2 + changes; r++) {
			if (r % 11 == 0)
				history_step(s, "k", NULL, r);
			else {
				snprintf(val, sizeof(val),
				    r % 3 ? "%llu"
				          : "a value longer than a ring slot "
				            "%llu",
				    (unsigned long long)r);
				history_step(s, "k", val, r);
			}
		}
		for (uint64_t r = 2; r < 2 + changes; r++) {
			const uint8_t *got = NULL;
			size_t len = 0;
			uint64_t changed = 0;
			enum history_state st = history_at(store_history(s), s,
			    "k", 1, r, &got, &len, &changed);
			/* The newest depth versions are kept. */
			bool kept = r + depths[d] >= 2 + changes;

			if (!kept) {
				ck_assert_msg(st == HISTORY_UNKNOWN,
				    "depth %zu revision %llu", depths[d],
				    (unsigned long long)r);
				continue;
			}
			if (r % 11 == 0) {
				ck_assert_int_eq(st, HISTORY_ABSENT);
				continue;
			}
			ck_assert_uint_eq(changed, r);
			snprintf(val, sizeof(val),
			    r % 3 ? "%llu"
			          : "a value longer than a ring slot %llu",
			    (unsigned long long)r);
			ck_assert_msg(st == HISTORY_PRESENT,
			    "depth %zu revision %llu", depths[d],
			    (unsigned long long)r);
			ck_assert_uint_eq(len, strlen(val));
			ck_assert_mem_eq(got, val, len);
		}
		ck_assert_uint_eq(history_get(store_history(s), "k", 1)->count,
		    depths[d]);
		ck_assert_ptr_null(history_get(store_history(s), "other", 5));
		store_free(s);
	}
	history_depth = saved_depth;
}
END_TEST

/* The value test_history_bytes_wrap_in_place sets at revision r: long
 * ones, with a short one now and then, up to revision 80; short ones
 * after. */
static void
bytes_wrap_value(char *val, size_t size, uint64_t r)
{
	snprintf(val, size,
	    r <= 80 && r % 4 ? "a value of forty bytes, revision %06llu"
	                     : "%llu",
	    (unsigned long long)r);
}

/* A key whose past values pass --history-bytes keeps few versions in a
 * ring that no longer grows: the oldest go at its head, and the changes
 * after wrap past the ring's end, in place. Short values then let it
 * grow again, from a ring that wraps. Each kept revision reads back its
 * own value, each dropped one unknown, and the bound holds. */
START_TEST(test_history_bytes_wrap_in_place)
{
	size_t saved_depth = history_depth;
	uint64_t saved_bytes = history_key_bytes;
	struct store *s;
	const struct key_history *kh;
	bool wrapped = false, grown_wrapped = false;
	char val[64];
	uint64_t last = 200, from;
	uint32_t cap = 0;

	history_depth = 100;
	history_key_bytes = 200;
	s = store_new();
	history_step(s, "other", "x", 1);
	for (uint64_t r = 2; r <= last; r++) {
		bytes_wrap_value(val, sizeof(val), r);
		history_step(s, "k", val, r);
		/* A key set once has no ring. */
		if ((kh = history_get(store_history(s), "k", 1)) == NULL) {
			ck_assert_uint_eq(r, 2);
			continue;
		}
		ck_assert_msg(kh->vbytes <= history_key_bytes || kh->count <= 2,
		    "revision %llu: %llu bytes", (unsigned long long)r,
		    (unsigned long long)kh->vbytes);
		if (kh->head > 0 && kh->head + kh->count > kh->cap)
			wrapped = true;
		if (cap != 0 && kh->cap > cap && wrapped)
			grown_wrapped = true;
		cap = kh->cap;
	}
	ck_assert(wrapped);
	ck_assert(grown_wrapped);
	kh = history_get(store_history(s), "k", 1);
	from = history_known_from(kh);
	ck_assert_uint_gt(from, 2);
	ck_assert_uint_eq(from + kh->count - 1, last);
	for (uint64_t r = 2; r <= last; r++) {
		const uint8_t *got = NULL;
		size_t len = 0;
		uint64_t changed = 0;
		enum history_state st = history_at(store_history(s), s, "k", 1,
		    r, &got, &len, &changed);

		if (r < from) {
			ck_assert_msg(st == HISTORY_UNKNOWN, "revision %llu",
			    (unsigned long long)r);
			continue;
		}
		bytes_wrap_value(val, sizeof(val), r);
		ck_assert_msg(st == HISTORY_PRESENT, "revision %llu",
		    (unsigned long long)r);
		ck_assert_uint_eq(changed, r);
		ck_assert_uint_eq(len, strlen(val));
		ck_assert_mem_eq(got, val, len);
	}
	store_free(s);
	history_depth = saved_depth;
	history_key_bytes = saved_bytes;
}
END_TEST

/* store_peek finds, among many keys, the entry a look-up would compare
 * first: the key's own unless another key of its probe run shares its
 * tag, and never an entry for an empty run. */
START_TEST(test_peek)
{
	struct store *s = store_new();
	char key[32];
	size_t own = 0;

	ck_assert_ptr_null(store_peek(s, store_prefetch_slot(s, "none", 4)));
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "key:%d", i);
		ck_assert_ptr_null(store_put(s,
		    store_entry_new(key, strlen(key), (const uint8_t *)"v", 1,
		        (uint64_t)i + 1)));
	}
	for (int i = 0; i < 5000; i++) {
		const struct store_entry *e;

		snprintf(key, sizeof(key), "key:%d", i);
		e = store_peek(s, store_prefetch_slot(s, key, strlen(key)));
		ck_assert_ptr_nonnull(e);
		own += e == store_get(s, key, strlen(key));
		store_prefetch_entry(s,
		    store_prefetch_slot(s, key, strlen(key)));
	}
	/* A tag is a byte of the hash: a few in a thousand share it. */
	if (store_slots_tagged)
		ck_assert_uint_ge(own, 4950);
	store_free(s);
}
END_TEST

/* A spent entry comes back for the next entry of its exact size, key
 * and value new; another size, or a value too long to keep, goes the
 * usual way, and freeing the spares counts what was kept. */
START_TEST(test_entry_recycle)
{
	struct store_entry *a, *b, *c, *big;
	static uint8_t large[WATCH_REF_MIN];

	ck_assert_uint_eq(store_entry_spares_free(), 0);
	a = store_entry_new("key:1", 5, (const uint8_t *)"abc", 3, 7);
	store_entry_recycle(a);
	store_entry_recycle(NULL);
	/* Another size: a new block, the spare stays. */
	b = store_entry_reuse("key:12", 6, 3, 9);
	ck_assert_ptr_ne(b, a);
	/* The same size: the spare, made anew. */
	c = store_entry_reuse("key:2", 5, 3, 8);
	ck_assert_ptr_eq(c, a);
	ck_assert_str_eq(c->data, "key:2");
	ck_assert_uint_eq(c->keylen, 5);
	ck_assert_uint_eq(c->vallen, 3);
	ck_assert_uint_eq(c->revision, 8);
	ck_assert_uint_eq(c->hash, 0);
	ck_assert_ptr_null(c->ring);
	/* None left of that size. */
	a = store_entry_reuse("key:3", 5, 3, 8);
	ck_assert_ptr_ne(a, c);
	store_entry_recycle(a);
	store_entry_recycle(b);
	store_entry_recycle(c);
	big = store_entry_new("big", 3, large, sizeof(large), 1);
	store_entry_recycle(big);
	ck_assert_uint_eq(store_entry_spares_free(), 3);
	ck_assert_uint_eq(store_entry_spares_free(), 0);
}
END_TEST

/* history_change_hashed hands back the entry whose short value it
 * copied, keeps a long one, and hands back any entry without history. */
START_TEST(test_history_spent_entry)
{
	size_t saved_depth = history_depth;
	struct store *s = store_new();
	struct store_entry *e, *old, *spent;
	const char *longer = "a value longer than a ring slot";
	const uint8_t *got;
	size_t len;
	uint64_t changed;

	history_step(s, "k", "one", 1);
	e = store_entry_new("k", 1, (const uint8_t *)"two", 3, 2);
	old = store_put(s, e);
	store_set_revision(s, 2);
	spent = history_change_hashed(store_history(s), "k", 1,
	    store_prefetch_slot(s, "k", 1), 2, 2, HISTORY_SET, old, true);
	ck_assert_ptr_eq(spent, old);
	free(spent);
	ck_assert_int_eq(
	    history_at(store_history(s), s, "k", 1, 1, &got, &len, &changed),
	    HISTORY_PRESENT);
	ck_assert_mem_eq(got, "one", 3);
	history_step(s, "k", longer, 3);
	e = store_entry_new("k", 1, (const uint8_t *)"four", 4, 4);
	old = store_put(s, e);
	store_set_revision(s, 4);
	spent = history_change_hashed(store_history(s), "k", 1,
	    store_prefetch_slot(s, "k", 1), 4, 4, HISTORY_SET, old, true);
	ck_assert_ptr_null(spent);
	ck_assert_int_eq(
	    history_at(store_history(s), s, "k", 1, 3, &got, &len, &changed),
	    HISTORY_PRESENT);
	ck_assert_mem_eq(got, longer, strlen(longer));
	history_depth = 0;
	e = store_entry_new("k", 1, (const uint8_t *)"five", 4, 5);
	old = store_put(s, e);
	store_set_revision(s, 5);
	spent = history_change_hashed(store_history(s), "k", 1,
	    store_prefetch_slot(s, "k", 1), 5, 5, HISTORY_SET, old, true);
	ck_assert_ptr_eq(spent, old);
	store_entry_free(spent);
	history_depth = saved_depth;
	store_free(s);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_put_get_replace_remove);
	tcase_add_test(tc, test_empty_value);
	tcase_add_test(tc, test_many_against_reference);
	tcase_add_test(tc, test_sorted_with_prefix);
	tcase_add_test(tc, test_revision_and_stamp);
	tcase_add_test(tc, test_equal);
	tcase_add_test(tc, test_foreach_visits_each_once);
	tcase_add_test(tc, test_free_behind);
	tcase_add_test(tc, test_history_growth_and_wrap);
	tcase_add_test(tc, test_history_bytes_wrap_in_place);
	tcase_add_test(tc, test_entry_recycle);
	tcase_add_test(tc, test_peek);
	tcase_add_test(tc, test_history_spent_entry);
	suite_add_tcase(s, tc);

	tc = tcase_create("prefetch");
	tcase_add_test(tc, test_prefetch_first_key);
	tcase_add_test(tc, test_prefetch_frame_slot);
	tcase_add_test(tc, test_prefetch_frames_any_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
