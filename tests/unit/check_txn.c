/* SPDX-License-Identifier: ISC */
/* check_txn.c: a request's overlay of the keys it touches
 * (server/txn.c): each key has one record, found again whether the
 * overlay is scanned (a few keys) or indexed (a batch), across the
 * index's growth. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "objd.h"

/* objd's state lives in main.c, which the tests do not link. */
struct server server;

static Objd__Status
set(struct txn *t, const char *key, const char *val)
{
	Objd__Value v = OBJD__VALUE__INIT;
	char err[256];

	v.kind_case = OBJD__VALUE__KIND_STRING_VALUE;
	v.string_value = (char *)val;
	return txn_set(t, key, &v, err, sizeof(err));
}

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

	server.store = store_new();
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
	store_free(server.store);
	server.store = NULL;
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
	server.store = store_new();
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
	store_free(server.store);
	server.store = NULL;
}
END_TEST

static Suite *
txn_suite(void)
{
	Suite *s = suite_create("txn");
	TCase *tc = tcase_create("overlay");

	tcase_set_timeout(tc, 60);
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
