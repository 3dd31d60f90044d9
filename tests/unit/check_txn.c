/* SPDX-License-Identifier: ISC */
/* check_txn.c: one write request as one atomic change (server/txn.c),
 * queued in the batch and made by a fake backend (fixture.c): its keys
 * share one revision, nested paths build their maps, conditions see
 * the committed and the pending state, and a change that changes
 * nothing queues nothing. No objd runs. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "value.h"

static struct fixture_client client;

static void
setup(void)
{
	fixture_setup();
	fixture_client(&client);
}

static void
teardown(void)
{
	fixture_teardown();
}

/* Sets key to the string val in t; its status. */
static Objd__Status
set(struct txn *t, const char *key, const char *val)
{
	Objd__Value *v = value_new_string(val, strlen(val));
	char err[256];
	Objd__Status st = txn_set(t, key, v, err, sizeof(err));

	value_free(v);
	return st;
}

/* Commits t for the client's request id, then the batch. */
static bool
commit(struct txn *t, uint64_t id)
{
	bool queued = txn_commit(t, client.conn, id);

	txn_free(t);
	if (queued)
		ck_assert(batch_commit_turn());
	return queued;
}

static uint64_t
key_revision(const char *key)
{
	struct store_entry *e = store_get(server.store, key, strlen(key));

	ck_assert_ptr_nonnull(e);
	return e->revision;
}

START_TEST(test_keys_share_a_revision)
{
	struct txn t;
	char *v;

	txn_init(&t);
	ck_assert_int_eq(set(&t, "a", "1"), OBJD__STATUS__OK);
	ck_assert_int_eq(set(&t, "b", "2"), OBJD__STATUS__OK);
	ck_assert(commit(&t, 1));
	ck_assert_uint_eq(fake.txns, 1);
	ck_assert_uint_eq(key_revision("a"), 1);
	ck_assert_uint_eq(key_revision("b"), 1);
	ck_assert_uint_eq(store_revision(server.store), 1);
	v = fixture_get("b");
	ck_assert_str_eq(v, "2");
	free(v);
}
END_TEST

/* A nested path makes the maps on its way; the top-level key is what
 * changes. */
START_TEST(test_nested_path)
{
	struct txn t;
	struct store_entry *e;
	Objd__Value *v;
	char err[128];

	txn_init(&t);
	ck_assert_int_eq(set(&t, "cfg.db.host", "h"), OBJD__STATUS__OK);
	ck_assert(commit(&t, 1));
	e = store_get(server.store, "cfg", 3);
	ck_assert_ptr_nonnull(e);
	v = value_unpack(STORE_ENTRY_VALUE(e), e->vallen, err, sizeof(err));
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_MAP_VALUE);
	value_free(v);
	ck_assert_ptr_null(store_get(server.store, "cfg.db.host", 11));
}
END_TEST

START_TEST(test_conditions)
{
	Objd__Condition cond = OBJD__CONDITION__INIT;
	struct txn t;
	char err[256];

	txn_init(&t);
	ck_assert_int_eq(set(&t, "k", "v"), OBJD__STATUS__OK);
	ck_assert(commit(&t, 1));
	cond.key = "k";
	cond.test_case = OBJD__CONDITION__TEST_REVISION;
	cond.revision = 1;
	txn_init(&t);
	ck_assert_int_eq(txn_check(&t, &cond, err, sizeof(err)),
	    OBJD__STATUS__OK);
	cond.revision = 2;
	ck_assert_int_eq(txn_check(&t, &cond, err, sizeof(err)),
	    OBJD__STATUS__CONFLICT);
	cond.test_case = OBJD__CONDITION__TEST_ABSENT;
	ck_assert_int_eq(txn_check(&t, &cond, err, sizeof(err)),
	    OBJD__STATUS__CONFLICT);
	cond.key = "other";
	ck_assert_int_eq(txn_check(&t, &cond, err, sizeof(err)),
	    OBJD__STATUS__OK);
	txn_free(&t);
}
END_TEST

/* A write sees the changes still pending before it, as they will be:
 * a key set by an earlier request of the batch exists, but its
 * revision is not one a client can have seen. */
START_TEST(test_sees_pending)
{
	Objd__Condition cond = OBJD__CONDITION__INIT;
	struct txn t;
	char err[256];

	fake.hold = true;
	txn_init(&t);
	ck_assert_int_eq(set(&t, "k", "v"), OBJD__STATUS__OK);
	ck_assert(commit(&t, 1));
	ck_assert_ptr_nonnull(fake.inflight);
	cond.key = "k";
	cond.test_case = OBJD__CONDITION__TEST_ABSENT;
	txn_init(&t);
	ck_assert_int_eq(txn_check(&t, &cond, err, sizeof(err)),
	    OBJD__STATUS__CONFLICT);
	cond.test_case = OBJD__CONDITION__TEST_REVISION;
	cond.revision = 1;
	ck_assert_int_eq(txn_check(&t, &cond, err, sizeof(err)),
	    OBJD__STATUS__CONFLICT);
	txn_free(&t);
	fake_complete();
}
END_TEST

START_TEST(test_delete)
{
	struct txn t;
	char err[256];

	txn_init(&t);
	ck_assert_int_eq(txn_delete(&t, "missing", err, sizeof(err)),
	    OBJD__STATUS__NOT_FOUND);
	ck_assert_int_eq(set(&t, "k", "v"), OBJD__STATUS__OK);
	ck_assert(commit(&t, 1));
	txn_init(&t);
	ck_assert_int_eq(txn_delete(&t, "k", err, sizeof(err)),
	    OBJD__STATUS__OK);
	ck_assert(commit(&t, 2));
	ck_assert_ptr_null(store_get(server.store, "k", 1));
	ck_assert_uint_eq(store_revision(server.store), 2);
}
END_TEST

/* A set to the value a key has commits nothing. */
START_TEST(test_same_value_commits_nothing)
{
	struct txn t;

	txn_init(&t);
	ck_assert_int_eq(set(&t, "k", "v"), OBJD__STATUS__OK);
	ck_assert(commit(&t, 1));
	txn_init(&t);
	ck_assert_int_eq(set(&t, "k", "v"), OBJD__STATUS__OK);
	ck_assert(!commit(&t, 2));
	ck_assert_uint_eq(fake.commits, 1);
	ck_assert_uint_eq(store_revision(server.store), 1);
}
END_TEST

static Suite *
txn_suite(void)
{
	Suite *s = suite_create("txn");
	TCase *tc = tcase_create("txn");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_keys_share_a_revision);
	tcase_add_test(tc, test_nested_path);
	tcase_add_test(tc, test_conditions);
	tcase_add_test(tc, test_sees_pending);
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_same_value_commits_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(txn_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
