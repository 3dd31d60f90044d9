/* SPDX-License-Identifier: ISC */
/* check_txn.c: one write request as one atomic change (server/txn.c),
 * queued in the batch and made by a fake backend (fixture.c): its keys
 * share one revision, nested paths build their maps, conditions see
 * the committed and the pending state, and a change that changes
 * nothing queues nothing; a request's overlay finds each key's one record
 * whether it scans or indexes them, across the index's growth. No objd
 * runs. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "key.h"
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

static Objd__Status
del(struct txn *t, const char *key)
{
	char err[256];

	return txn_delete(t, key, err, sizeof(err));
}

/* A key's name, kept until names_free: a txn borrows the keys of plain
 * paths, which last as long as the request in objd. */
static char **names;
static size_t nnames;

static const char *
name(const char *prefix, size_t i)
{
	char buf[64], **more;

	snprintf(buf, sizeof(buf), "%s%zu", prefix, i);
	more = realloc(names, (nnames + 1) * sizeof(*names));
	ck_assert_ptr_nonnull(more);
	names = more;
	names[nnames] = strdup(buf);
	ck_assert_ptr_nonnull(names[nnames]);
	return names[nnames++];
}

static void
names_free(void)
{
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	names = NULL;
	nnames = 0;
}

/* n keys set, some twice, then each deleted: a key's second set must
 * find its first record (a delete then finds it, and a second delete
 * finds it gone), and a key never set is not found. Keys already in the
 * store are found through the overlay too. */
static void
check_keys(size_t n)
{
	Objd__Status want;
	struct txn t;
	const char *key;

	for (size_t i = 0; i < n; i += 7) {
		key = name("stored:", i);
		free(store_put(server.store,
		    store_entry_new(key, strlen(key), (const uint8_t *)"x", 1,
		        1)));
	}
	txn_init(&t);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(set(&t, name("key:", i), "one"),
		    OBJD__STATUS__OK);
		/* Again, among the keys since. */
		if (i % 3 == 0)
			ck_assert_int_eq(set(&t, name("key:", i / 2), "two"),
			    OBJD__STATUS__OK);
	}
	for (size_t i = 0; i < n; i++) {
		key = name("key:", i);
		ck_assert_msg(del(&t, key) == OBJD__STATUS__OK, "n %zu: %s", n,
		    key);
		ck_assert_msg(del(&t, key) == OBJD__STATUS__NOT_FOUND,
		    "n %zu: %s twice", n, key);
		ck_assert_int_eq(del(&t, name("absent:", i)),
		    OBJD__STATUS__NOT_FOUND);
		key = name("stored:", i);
		want = i % 7 == 0 ? OBJD__STATUS__OK : OBJD__STATUS__NOT_FOUND;
		ck_assert_int_eq(del(&t, key), want);
		ck_assert_int_eq(del(&t, key), OBJD__STATUS__NOT_FOUND);
	}
	/* A key deleted in the request can be set again. */
	ck_assert_int_eq(set(&t, "key:0", "three"), OBJD__STATUS__OK);
	ck_assert_int_eq(del(&t, "key:0"), OBJD__STATUS__OK);
	txn_free(&t);
	names_free();
}

START_TEST(test_overlay_keys)
{
	/* Scanned only, at the switch to the index, and through several
	 * growths of it. */
	static const size_t sizes[] = { 1, 3, 15, 16, 17, 31, 33, 64, 65, 1000,
		5000 };

	check_keys(sizes[_i]);
}
END_TEST

/* A plain key's length is still checked, with key_valid's words: its
 * UTF-8 was the request's decoding's to check. */
START_TEST(test_key_length)
{
	static char longest[KEY_MAX_LEN + 2];
	Objd__Value v = OBJD__VALUE__INIT;
	struct txn t;
	char err[256] = "";

	v.kind_case = OBJD__VALUE__KIND_STRING_VALUE;
	v.string_value = (char *)"x";
	txn_init(&t);
	ck_assert_int_eq(txn_set(&t, "", &v, err, sizeof(err)),
	    OBJD__STATUS__INVALID);
	ck_assert_str_eq(err, "a key cannot be empty");
	ck_assert_int_eq(txn_delete(&t, "", err, sizeof(err)),
	    OBJD__STATUS__INVALID);
	memset(longest, 'k', KEY_MAX_LEN + 1);
	ck_assert_int_eq(txn_set(&t, longest, &v, err, sizeof(err)),
	    OBJD__STATUS__INVALID);
	ck_assert_ptr_nonnull(strstr(err, "at most"));
	longest[KEY_MAX_LEN] = '\0';
	ck_assert_int_eq(txn_set(&t, longest, &v, err, sizeof(err)),
	    OBJD__STATUS__OK);
	txn_free(&t);
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
	tcase_add_loop_test(tc, test_overlay_keys, 0, 11);
	tcase_add_test(tc, test_key_length);
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
