/* SPDX-License-Identifier: ISC */
/* check_watch.c: watchers (server/watch.c) on clients over socketpairs,
 * fed by the commit path with a fake backend (fixture.c): the entries
 * at the start, events in revision order for the prefix watched, a
 * resume from a revision, and RELOAD. No objd runs. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "value.h"

static void
setup(void)
{
	fixture_setup();
}

static void
teardown(void)
{
	fixture_teardown();
}

/* Starts a watch of prefix from since for fc, as request id. */
static void
watch(struct fixture_client *fc, uint64_t id, const char *prefix,
    uint64_t since)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Watch w = OBJD__WATCH__INIT;

	w.prefix = (char *)prefix;
	w.since = since;
	req.id = id;
	req.op_case = OBJD__REQUEST__OP_WATCH;
	req.watch = &w;
	handle_watch(fc->conn, &req);
	fixture_turn_end();
}

static Objd__Response *
next(struct fixture_client *fc)
{
	Objd__Response *r = fixture_answer(fc);

	ck_assert_msg(r != NULL, "no frame where one was due");
	return r;
}

/* Commits sets of keys[i] to vals[i] by writer, each its own change. */
static void
commit_sets(struct fixture_client *writer, const char *const *keys,
    const char *const *vals, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fixture_set(writer, 100 + i, keys[i], vals[i]);
	ck_assert(batch_commit_turn());
	fixture_turn_end();
}

/* The next frame of fc is one event of type for key, at revision. */
static void
expect_event(struct fixture_client *fc, uint64_t id, unsigned type,
    const char *key, uint64_t revision)
{
	Objd__Response *r = next(fc);

	ck_assert_uint_eq(r->id, id);
	ck_assert_int_eq(r->status, OBJD__STATUS__OK);
	ck_assert_uint_eq(r->n_events, 1);
	ck_assert_uint_eq(r->events[0]->type, type);
	ck_assert_str_eq(r->events[0]->key, key);
	ck_assert_uint_eq(r->events[0]->revision, revision);
	objd__response__free_unpacked(r, NULL);
}

START_TEST(test_entries_then_events)
{
	struct fixture_client w, writer;
	const char *k1[] = { "app.a", "other" }, *v1[] = { "1", "2" };
	const char *k2[] = { "other", "app.b" }, *v2[] = { "3", "4" };
	Objd__Response *r;

	fixture_client(&w);
	fixture_client(&writer);
	commit_sets(&writer, k1, v1, 2);
	watch(&w, 9, "app.", 0);
	/* The current entries under the prefix first. */
	r = next(&w);
	ck_assert_uint_eq(r->id, 9);
	ck_assert_int_eq(r->status, OBJD__STATUS__OK);
	ck_assert_uint_eq(r->n_entries, 1);
	ck_assert_str_eq(r->entries[0]->key, "app.a");
	objd__response__free_unpacked(r, NULL);
	/* Then each change under it, once durable, and nothing else. */
	commit_sets(&writer, k2, v2, 2);
	expect_event(&w, 9, OBJD__EVENT__TYPE__SET, "app.b", 4);
	ck_assert_ptr_null(fixture_answer(&w));
}
END_TEST

/* A change the backend refuses is never sent. */
START_TEST(test_no_event_for_failed_change)
{
	struct fixture_client w, writer;
	const char *k[] = { "a" }, *v[] = { "1" };
	Objd__Response *r;

	fixture_client(&w);
	fixture_client(&writer);
	watch(&w, 1, "", 0);
	r = next(&w);
	ck_assert_uint_eq(r->n_entries, 0);
	objd__response__free_unpacked(r, NULL);
	fake.fail = true;
	commit_sets(&writer, k, v, 1);
	ck_assert_ptr_null(fixture_answer(&w));
	fake.fail = false;
	commit_sets(&writer, k, v, 1);
	expect_event(&w, 1, OBJD__EVENT__TYPE__SET, "a", 1);
}
END_TEST

/* A deletion is an event too; a watch resumed from a revision gets the
 * changes after it, from the history, without the entries. */
START_TEST(test_resume_since)
{
	struct fixture_client w, writer;
	const char *k[] = { "a", "b", "c" }, *v[] = { "1", "2", "3" };
	Objd__Response *r;

	fixture_client(&w);
	fixture_client(&writer);
	commit_sets(&writer, k, v, 3);
	batch_begin(writer.conn, 50);
	batch_add_delete("a", 1);
	ck_assert(batch_commit_turn());
	fixture_turn_end();
	watch(&w, 5, "", 1);
	r = next(&w);
	ck_assert_uint_eq(r->id, 5);
	ck_assert_uint_eq(r->n_entries, 0);
	objd__response__free_unpacked(r, NULL);
	expect_event(&w, 5, OBJD__EVENT__TYPE__SET, "b", 2);
	expect_event(&w, 5, OBJD__EVENT__TYPE__SET, "c", 3);
	expect_event(&w, 5, OBJD__EVENT__TYPE__DELETE, "a", 4);
	ck_assert_ptr_null(fixture_answer(&w));
}
END_TEST

/* The txns of a batch that the backend made in another order (etcd's
 * Txns sent at once) reach watchers in the order of their revisions,
 * and so do the changes of others the backend fits in among them. */
START_TEST(test_events_in_revision_order)
{
	struct fixture_client w, a, b;
	struct backend_batch ob = { 0 };
	struct backend_change ch = { 0 };
	struct backend_txn t = { .changes = true, .status = BACKEND_OK };
	Objd__Value *v = value_new_string("theirs", 6);
	Objd__Response *r;
	uint8_t *packed;
	size_t len;

	fixture_client(&w);
	fixture_client(&a);
	fixture_client(&b);
	watch(&w, 1, "", 0);
	r = next(&w);
	ck_assert_uint_eq(r->n_entries, 0);
	objd__response__free_unpacked(r, NULL);
	fake.reverse = true;
	fixture_set(&a, 10, "x", "1");
	fixture_set(&b, 11, "y", "2");
	ck_assert(batch_commit_turn());
	fixture_turn_end();
	expect_event(&w, 1, OBJD__EVENT__TYPE__SET, "y", 1);
	expect_event(&w, 1, OBJD__EVENT__TYPE__SET, "x", 2);
	ck_assert_ptr_null(fixture_answer(&w));
	ck_assert_uint_eq(store_revision(server.store), 2);

	/* Revisions 4 and 6 are the batch's, 5 another host's. */
	fake.hold = true;
	fake.gap = 1;
	fixture_set(&a, 12, "x", "3");
	fixture_set(&b, 13, "y", "4");
	ck_assert(batch_commit_turn());
	packed = value_pack(v, &len);
	value_free(v);
	ch.entry = store_entry_new("o", 1, packed, len, 5);
	free(packed);
	t.revision = 5;
	ob.changes = &ch;
	ob.nchanges = 1;
	ob.txns = &t;
	ob.ntxns = 1;
	ob.revision = 5;
	fake.inflight->others = &ob;
	fake.inflight->nothers = 1;
	fake_complete();
	fixture_turn_end();
	expect_event(&w, 1, OBJD__EVENT__TYPE__SET, "y", 4);
	expect_event(&w, 1, OBJD__EVENT__TYPE__SET, "o", 5);
	expect_event(&w, 1, OBJD__EVENT__TYPE__SET, "x", 6);
	ck_assert_ptr_null(fixture_answer(&w));
	ck_assert_uint_eq(store_revision(server.store), 6);
	ck_assert_uint_eq(store_get(server.store, "o", 1)->revision, 5);
}
END_TEST

/* A revision ahead of the object is refused. */
START_TEST(test_since_in_future)
{
	struct fixture_client w;
	Objd__Response *r;

	fixture_client(&w);
	watch(&w, 3, "", 10);
	r = next(&w);
	ck_assert_uint_eq(r->id, 3);
	ck_assert_int_eq(r->status, OBJD__STATUS__INVALID);
	objd__response__free_unpacked(r, NULL);
}
END_TEST

/* A reload reaches every watcher, whatever its prefix. */
START_TEST(test_reload)
{
	struct fixture_client w;
	Objd__Response *r;

	fixture_client(&w);
	watch(&w, 2, "only.", 0);
	objd__response__free_unpacked(next(&w), NULL);
	watch_reloaded(7);
	fixture_turn_end();
	r = next(&w);
	ck_assert_uint_eq(r->id, 2);
	ck_assert_uint_eq(r->n_events, 1);
	ck_assert_uint_eq(r->events[0]->type, OBJD__EVENT__TYPE__RELOAD);
	ck_assert_uint_eq(r->events[0]->revision, 7);
	objd__response__free_unpacked(r, NULL);
}
END_TEST

/* The next frame of fc is a set event of key at revision, to a string
 * of n bytes, each fill. */
static void
expect_large_set(struct fixture_client *fc, uint64_t id, const char *key,
    uint64_t revision, size_t n, char fill)
{
	Objd__Response *r = next(fc);
	const char *got;

	ck_assert_uint_eq(r->id, id);
	ck_assert_uint_eq(r->n_events, 1);
	ck_assert_uint_eq(r->events[0]->type, OBJD__EVENT__TYPE__SET);
	ck_assert_str_eq(r->events[0]->key, key);
	ck_assert_uint_eq(r->events[0]->revision, revision);
	ck_assert_ptr_nonnull(r->events[0]->value);
	got = r->events[0]->value->string_value;
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(strlen(got), n);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(got[i], fill);
	objd__response__free_unpacked(r, NULL);
}

/* A large value's event keeps its set's entry, not a copy: a watch
 * resumed after later sets, a delete, and the store's replacement (a
 * reload's) still gets each value as it was at its revision, with and
 * without the keys' own history keeping the old entries too. */
START_TEST(test_large_values_after_later_sets)
{
	static const size_t depths[] = { 0, 3 };
	size_t saved_depth = history_depth, n = 3 * WATCH_REF_MIN;
	char *x = malloc(n + 1), *y = malloc(n + 1);
	const char *k[] = { "a", "big", "big" }, *v[] = { "1", x, y };

	ck_assert(x != NULL && y != NULL);
	memset(x, 'x', n);
	memset(y, 'y', n);
	x[n] = y[n] = '\0';
	for (size_t d = 0; d < 2; d++) {
		struct fixture_client w, w2, writer;
		struct store *fresh;
		Objd__Response *r;
		uint64_t base;

		if (d > 0) {
			fixture_teardown();
			fixture_setup();
		}
		history_depth = depths[d];
		fixture_client(&w);
		fixture_client(&w2);
		fixture_client(&writer);
		base = store_revision(server.store);
		commit_sets(&writer, k, v, 3);
		batch_begin(writer.conn, 50);
		batch_add_delete("big", 3);
		ck_assert(batch_commit_turn());
		fixture_turn_end();
		watch(&w, 5, "", base + 1);
		r = next(&w);
		ck_assert_uint_eq(r->n_entries, 0);
		objd__response__free_unpacked(r, NULL);
		expect_large_set(&w, 5, "big", base + 2, n, 'x');
		expect_large_set(&w, 5, "big", base + 3, n, 'y');
		expect_event(&w, 5, OBJD__EVENT__TYPE__DELETE, "big", base + 4);
		ck_assert_ptr_null(fixture_answer(&w));
		/* A set the store still holds, then the store goes whole. */
		commit_sets(&writer, k + 1, v + 1, 1);
		expect_large_set(&w, 5, "big", base + 5, n, 'x');
		fresh = store_new();
		store_set_revision(fresh, base + 6);
		store_free(server.store);
		server.store = fresh;
		watch_reloaded(base + 6);
		fixture_turn_end();
		r = next(&w);
		ck_assert_uint_eq(r->events[0]->type,
		    OBJD__EVENT__TYPE__RELOAD);
		objd__response__free_unpacked(r, NULL);
		watch(&w2, 6, "big", base + 1);
		r = next(&w2);
		ck_assert_uint_eq(r->n_entries, 0);
		objd__response__free_unpacked(r, NULL);
		expect_large_set(&w2, 6, "big", base + 2, n, 'x');
		expect_large_set(&w2, 6, "big", base + 3, n, 'y');
		expect_event(&w2, 6, OBJD__EVENT__TYPE__DELETE, "big",
		    base + 4);
		expect_large_set(&w2, 6, "big", base + 5, n, 'x');
		r = next(&w2);
		ck_assert_uint_eq(r->events[0]->type,
		    OBJD__EVENT__TYPE__RELOAD);
		objd__response__free_unpacked(r, NULL);
		ck_assert_ptr_null(fixture_answer(&w2));
	}
	history_depth = saved_depth;
	free(x);
	free(y);
}
END_TEST

/* Changes enough to go round the history's ring, with values of every
 * short length: a watch resumed from the oldest change it holds gets
 * each one after it as it was. */
START_TEST(test_history_wraps)
{
	enum { CHANGES = 130000, EVERY = 97 };
	struct fixture_client w, writer;
	uint64_t base, oldest;
	char key[32], *val = malloc(300);
	Objd__Response *r;

	ck_assert_ptr_nonnull(val);
	fixture_client(&w);
	fixture_client(&writer);
	base = store_revision(server.store);
	for (size_t i = 0; i < CHANGES; i++) {
		memset(val, 'a' + (int)(i % 26), i % 300);
		val[i % 300] = '\0';
		snprintf(key, sizeof(key), "%c%06zu", i % EVERY ? 'k' : 'p', i);
		fixture_set(&writer, 100 + i, key, val);
	}
	ck_assert(batch_commit_turn());
	fixture_turn_end();
	ck_assert_uint_eq(store_revision(server.store), base + CHANGES);
	oldest = watch_oldest_held();
	ck_assert_uint_gt(oldest, base);
	watch(&w, 3, "p", oldest);
	r = next(&w);
	ck_assert_uint_eq(r->n_entries, 0);
	objd__response__free_unpacked(r, NULL);
	for (size_t i = 0; i < CHANGES; i++) {
		if (i % EVERY != 0 || base + 1 + i <= oldest)
			continue;
		snprintf(key, sizeof(key), "p%06zu", i);
		expect_large_set(&w, 3, key, base + 1 + i, i % 300,
		    (char)('a' + i % 26));
	}
	ck_assert_ptr_null(fixture_answer(&w));
	free(val);
}
END_TEST

/* A key too long for a copy's length (a request could not set it, a
 * file or an etcd written by others could hold it) is kept whole. */
START_TEST(test_long_key)
{
	size_t n = 70000;
	char *key = malloc(n + 1);
	struct fixture_client w, writer;
	uint64_t base;
	Objd__Response *r;

	ck_assert_ptr_nonnull(key);
	memset(key, 'L', n);
	key[n] = '\0';
	fixture_client(&w);
	fixture_client(&writer);
	/* A watch from revision 0 would start with the entries. */
	fixture_set(&writer, 9, "a", "1");
	ck_assert(batch_commit_turn());
	fixture_turn_end();
	base = store_revision(server.store);
	fixture_set(&writer, 10, key, "v");
	ck_assert(batch_commit_turn());
	fixture_turn_end();
	batch_begin(writer.conn, 11);
	batch_add_delete(key, n);
	ck_assert(batch_commit_turn());
	fixture_turn_end();
	watch(&w, 4, "", base);
	r = next(&w);
	ck_assert_uint_eq(r->n_entries, 0);
	objd__response__free_unpacked(r, NULL);
	expect_large_set(&w, 4, key, base + 1, 1, 'v');
	expect_event(&w, 4, OBJD__EVENT__TYPE__DELETE, key, base + 2);
	ck_assert_ptr_null(fixture_answer(&w));
	free(key);
}
END_TEST

static Suite *
watch_suite(void)
{
	Suite *s = suite_create("watch");
	TCase *tc = tcase_create("watch");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_entries_then_events);
	tcase_add_test(tc, test_no_event_for_failed_change);
	tcase_add_test(tc, test_resume_since);
	tcase_add_test(tc, test_since_in_future);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_events_in_revision_order);
	tcase_add_test(tc, test_large_values_after_later_sets);
	tcase_add_test(tc, test_history_wraps);
	tcase_add_test(tc, test_long_key);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(watch_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
