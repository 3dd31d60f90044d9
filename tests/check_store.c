/* check_store.c: the in-memory object (server/store.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objd.h"

static struct store_entry *
entry(const char *key, const char *val)
{
	return store_entry_new(
	    key, strlen(key), (const uint8_t *)val, strlen(val), 7);
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
			ck_assert_mem_eq(
			    STORE_ENTRY_VALUE(e), key, strlen(key));
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
