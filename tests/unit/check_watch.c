/* SPDX-License-Identifier: ISC */
/* check_watch.c: watchers (server/watch.c) on clients over socketpairs,
 * fed by the commit path with a fake backend (fixture.c): the entries
 * at the start, events in revision order for the prefix watched, a
 * resume from a revision, and RELOAD. No objd runs. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

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
