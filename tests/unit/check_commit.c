/* SPDX-License-Identifier: ISC */
/* check_commit.c: the group commit (server/commit.c) against a fake
 * backend kept in memory (fixture.c): a batch is handed over once, its
 * answers and its changes follow what the backend reports, a batch in
 * flight keeps the next one gathering, and an answer for a client that
 * left is dropped. No objd runs. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

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

/* The next answer of fc, which must be there, with its id and status. */
static uint64_t
expect_answer(struct fixture_client *fc, uint64_t id, Objd__Status status)
{
	Objd__Response *r = fixture_answer(fc);
	uint64_t revision;

	ck_assert_msg(r != NULL, "no answer for request %llu",
	    (unsigned long long)id);
	ck_assert_uint_eq(r->id, id);
	ck_assert_int_eq(r->status, status);
	revision = r->revision;
	objd__response__free_unpacked(r, NULL);
	return revision;
}

static void
expect_value(const char *key, const char *want)
{
	char *got = fixture_get(key);

	if (want == NULL)
		ck_assert_ptr_null(got);
	else {
		ck_assert_ptr_nonnull(got);
		ck_assert_str_eq(got, want);
	}
	free(got);
}

START_TEST(test_one_set)
{
	struct fixture_client a;

	fixture_client(&a);
	fixture_set(&a, 7, "k", "v");
	/* Not applied before the backend has it. */
	expect_value("k", NULL);
	ck_assert(batch_pending());
	ck_assert(batch_commit_turn());
	ck_assert_uint_eq(fake.commits, 1);
	expect_value("k", "v");
	ck_assert_uint_eq(store_revision(server.store), 1);
	ck_assert_uint_eq(store_get(server.store, "k", 1)->revision, 1);
	fixture_turn_end();
	ck_assert_uint_eq(expect_answer(&a, 7, OBJD__STATUS__OK), 1);
	ck_assert(!batch_pending());
	/* Nothing more to commit. */
	ck_assert(!batch_commit_turn());
	ck_assert_uint_eq(fake.commits, 1);
}
END_TEST

/* The writes of a turn go to the backend as one batch, in order. */
START_TEST(test_group)
{
	struct fixture_client a, b;

	fixture_client(&a);
	fixture_client(&b);
	fixture_set(&a, 1, "x", "1");
	fixture_set(&b, 2, "y", "2");
	fixture_set(&a, 3, "x", "3");
	ck_assert(batch_commit_turn());
	ck_assert_uint_eq(fake.commits, 1);
	ck_assert_uint_eq(fake.txns, 3);
	fixture_turn_end();
	ck_assert_uint_eq(expect_answer(&a, 1, OBJD__STATUS__OK), 1);
	ck_assert_uint_eq(expect_answer(&a, 3, OBJD__STATUS__OK), 3);
	ck_assert_uint_eq(expect_answer(&b, 2, OBJD__STATUS__OK), 2);
	expect_value("x", "3");
	expect_value("y", "2");
	ck_assert_uint_eq(store_revision(server.store), 3);
}
END_TEST

/* While a batch is in flight, its changes are seen as pending, and the
 * next one gathers; it is handed over once the first is over. */
START_TEST(test_in_flight)
{
	struct fixture_client a, b;
	const struct store_entry *e;
	bool pending;

	fake.hold = true;
	fixture_client(&a);
	fixture_client(&b);
	fixture_set(&a, 1, "k", "first");
	ck_assert(batch_commit_turn());
	ck_assert_ptr_nonnull(fake.inflight);
	e = batch_lookup("k", 1, &pending);
	ck_assert(pending);
	ck_assert_ptr_nonnull(e);
	expect_value("k", NULL);
	fixture_set(&b, 2, "k", "second");
	/* One batch at a time. */
	ck_assert(!batch_commit_turn());
	ck_assert_uint_eq(fake.commits, 1);
	fixture_turn_end();
	ck_assert_ptr_null(fixture_answer(&a));
	fake_complete();
	fixture_turn_end();
	ck_assert_uint_eq(expect_answer(&a, 1, OBJD__STATUS__OK), 1);
	expect_value("k", "first");
	ck_assert_ptr_null(fixture_answer(&b));
	ck_assert(batch_commit_turn());
	fake_complete();
	fixture_turn_end();
	ck_assert_uint_eq(expect_answer(&b, 2, OBJD__STATUS__OK), 2);
	expect_value("k", "second");
}
END_TEST

/* A batch the backend refuses is answered FAILED and not applied; the
 * batch gathered meanwhile rests on it and fails too. */
START_TEST(test_failure)
{
	struct fixture_client a, b;

	fake.hold = true;
	fixture_client(&a);
	fixture_client(&b);
	fixture_set(&a, 1, "k", "v");
	ck_assert(batch_commit_turn());
	fixture_set(&b, 2, "j", "w");
	fake.fail = true;
	fake_complete();
	fixture_turn_end();
	ck_assert_uint_eq(expect_answer(&a, 1, OBJD__STATUS__FAILED), 0);
	ck_assert_uint_eq(expect_answer(&b, 2, OBJD__STATUS__FAILED), 0);
	expect_value("k", NULL);
	expect_value("j", NULL);
	ck_assert_uint_eq(store_revision(server.store), 0);
	ck_assert_ptr_nonnull(server.last_write_error);
	ck_assert(!batch_pending());
	ck_assert_uint_eq(fake.commits, 1);
	/* The next write works, and clears the error. */
	fake.fail = false;
	fake.hold = false;
	fixture_set(&a, 3, "k", "again");
	ck_assert(batch_commit_turn());
	fixture_turn_end();
	ck_assert_uint_eq(expect_answer(&a, 3, OBJD__STATUS__OK), 1);
	ck_assert_ptr_null(server.last_write_error);
}
END_TEST

/* A backend that checks compares itself (etcd) may refuse one txn of
 * a batch: that one is answered CONFLICT, the others are made. */
START_TEST(test_conflict_one_txn)
{
	struct fixture_client a, b;

	fixture_client(&a);
	fixture_client(&b);
	fake.conflict_at = 1;
	fixture_set(&a, 1, "k", "refused");
	fixture_set(&b, 2, "j", "made");
	ck_assert(batch_commit_turn());
	fixture_turn_end();
	expect_answer(&a, 1, OBJD__STATUS__CONFLICT);
	ck_assert_uint_eq(expect_answer(&b, 2, OBJD__STATUS__OK), 1);
	expect_value("k", NULL);
	expect_value("j", "made");
	ck_assert_ptr_null(server.last_write_error);
}
END_TEST

/* The backend assigns revisions; gaps are kept as they come. */
START_TEST(test_revision_gaps)
{
	struct fixture_client a;

	fixture_client(&a);
	fake.gap = 9;
	fixture_set(&a, 1, "k", "v");
	fixture_set(&a, 2, "j", "w");
	ck_assert(batch_commit_turn());
	fixture_turn_end();
	ck_assert_uint_eq(expect_answer(&a, 1, OBJD__STATUS__OK), 10);
	ck_assert_uint_eq(expect_answer(&a, 2, OBJD__STATUS__OK), 20);
	ck_assert_uint_eq(store_revision(server.store), 20);
	ck_assert_uint_eq(store_get(server.store, "k", 1)->revision, 10);
}
END_TEST

/* An answer deferred to keep a client's order takes its place in the
 * batch: the revision before it, and FAILED if the batch fails. */
START_TEST(test_deferred)
{
	struct fixture_client a;

	fixture_client(&a);
	fixture_set(&a, 1, "k", "v");
	batch_defer(a.conn, 2, OBJD__STATUS__OK, NULL);
	batch_defer(a.conn, 3, OBJD__STATUS__NOT_FOUND, "no such key");
	ck_assert(batch_commit_turn());
	fixture_turn_end();
	ck_assert_uint_eq(expect_answer(&a, 1, OBJD__STATUS__OK), 1);
	ck_assert_uint_eq(expect_answer(&a, 2, OBJD__STATUS__OK), 1);
	expect_answer(&a, 3, OBJD__STATUS__NOT_FOUND);

	fake.fail = true;
	fixture_set(&a, 4, "k", "w");
	batch_defer(a.conn, 5, OBJD__STATUS__OK, NULL);
	ck_assert(batch_commit_turn());
	fixture_turn_end();
	expect_answer(&a, 4, OBJD__STATUS__FAILED);
	expect_answer(&a, 5, OBJD__STATUS__FAILED);
	expect_value("k", "v");
}
END_TEST

/* A client that leaves with a write in flight: the change is made, its
 * answer dropped, and the client freed once it is over. */
START_TEST(test_client_left)
{
	struct fixture_client a, b;

	fake.hold = true;
	fixture_client(&a);
	fixture_client(&b);
	fixture_set(&a, 1, "k", "v");
	fixture_set(&b, 2, "j", "w");
	ck_assert(batch_commit_turn());
	/* a's peer goes, and objd sees it (its read callback). */
	fixture_client_close(&a);
	ck_assert_int_ne(event_base_loop(server.base, EVLOOP_NONBLOCK), -1);
	fake_complete();
	fixture_turn_end();
	conn_free_dead();
	expect_value("k", "v");
	ck_assert_uint_eq(expect_answer(&b, 2, OBJD__STATUS__OK), 2);
}
END_TEST

/* A backend whose commits take a round trip (etcd's raft round) makes
 * the next commit wait for the writers the last one answered, as a
 * sync of --fsync always does: clients that write in a loop stay in one
 * batch, instead of two that take turns. */
START_TEST(test_round_trip_commits_wait)
{
	static struct backend_ops waits;
	struct fixture_client a, b;

	waits = *fake.be.ops;
	waits.commits_wait = true;
	fake.be.ops = &waits;
	batch_free();
	batch_init();
	fake.hold = true;
	fixture_client(&a);
	fixture_client(&b);
	fixture_set(&a, 1, "x", "1");
	fixture_set(&b, 2, "y", "1");
	ck_assert(batch_commit_turn());
	fake_complete();
	fixture_turn_end();
	expect_answer(&a, 1, OBJD__STATUS__OK);
	expect_answer(&b, 2, OBJD__STATUS__OK);
	/* a is back first: its write waits for b's. */
	fixture_set(&a, 3, "x", "2");
	ck_assert(!batch_commit_turn());
	fixture_set(&b, 4, "y", "2");
	ck_assert(batch_commit_turn());
	ck_assert_uint_eq(fake.commits, 2);
	fake_complete();
	fixture_turn_end();
	expect_answer(&a, 3, OBJD__STATUS__OK);
	expect_answer(&b, 4, OBJD__STATUS__OK);
}
END_TEST

/* Changes made by others (etcd's watch) are applied as they come. */
START_TEST(test_others_committed)
{
	struct backend_batch b = { 0 };
	struct backend_change ch;
	struct backend_txn t = { .changes = true, .status = BACKEND_OK };
	Objd__Value *v = value_new_string("theirs", 6);
	uint8_t *packed;
	size_t len;

	packed = value_pack(v, &len);
	value_free(v);
	ch = (struct backend_change){
		.entry = store_entry_new("o", 1, packed, len, 42),
		.txn = 0,
	};
	free(packed);
	t.revision = 42;
	b.changes = &ch;
	b.nchanges = 1;
	b.txns = &t;
	b.ntxns = 1;
	b.base = 0;
	b.revision = 42;
	batch_others_committed(&b);
	expect_value("o", "theirs");
	ck_assert_uint_eq(store_revision(server.store), 42);
	ck_assert_uint_eq(store_get(server.store, "o", 1)->revision, 42);
}
END_TEST

static Suite *
commit_suite(void)
{
	Suite *s = suite_create("commit");
	TCase *tc = tcase_create("commit");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_one_set);
	tcase_add_test(tc, test_group);
	tcase_add_test(tc, test_in_flight);
	tcase_add_test(tc, test_failure);
	tcase_add_test(tc, test_conflict_one_txn);
	tcase_add_test(tc, test_revision_gaps);
	tcase_add_test(tc, test_deferred);
	tcase_add_test(tc, test_client_left);
	tcase_add_test(tc, test_others_committed);
	tcase_add_test(tc, test_round_trip_commits_wait);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(commit_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
