/* SPDX-License-Identifier: ISC */
/* check_key.c: unit tests of common/key.c. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"

static const struct key_case {
	const char *key;
	size_t len;
} good_keys[] = {
	{ "a", 1 },
	{ "name", 4 },
	{ "server.port", 11 },
	{ ".", 1 },
	{ "a..b", 4 },
	{ " spaced key ", 12 },
	{ "line\nbreak", 10 },	    /* allowed; objctl list escapes it */
	{ "caf\xc3\xa9", 5 },	    /* U+00E9 */
	{ "\xf0\x9f\x98\x80", 4 }, /* U+1F600 */
	{ "\xf4\x8f\xbf\xbf", 4 }, /* U+10FFFF */
}, bad_utf8_keys[] = {
	{ "a\0b", 3 },
	{ "\0", 1 },
	{ "\xff", 1 },
	{ "\xc3", 1 },		   /* truncated */
	{ "\xc0\xae", 2 },	   /* overlong '.' */
	{ "\xed\xa0\x80", 3 },	   /* surrogate */
	{ "\xf4\x90\x80\x80", 4 }, /* above U+10FFFF */
	{ "ok\x80", 3 },	   /* stray continuation byte */
};

START_TEST(test_good)
{
	const struct key_case *c = &good_keys[_i];
	char err[128] = "untouched";

	ck_assert_msg(key_valid(c->key, c->len, err, sizeof(err)),
	    "key %zu refused: %s", (size_t)_i, err);
}
END_TEST

START_TEST(test_bad_utf8)
{
	const struct key_case *c = &bad_utf8_keys[_i];
	char err[128] = "";

	ck_assert(!key_valid(c->key, c->len, err, sizeof(err)));
	ck_assert_msg(strstr(err, "UTF-8") != NULL, "%s", err);
}
END_TEST

START_TEST(test_empty)
{
	char err[128] = "";

	ck_assert(!key_valid("", 0, err, sizeof(err)));
	ck_assert_msg(strstr(err, "empty") != NULL, "%s", err);
	/* The length counts, not the NUL terminator. */
	ck_assert(!key_valid("abc", 0, err, sizeof(err)));
}
END_TEST

START_TEST(test_length)
{
	char *key = malloc(KEY_MAX_LEN + 2), err[128] = "";

	ck_assert_ptr_nonnull(key);
	memset(key, 'k', KEY_MAX_LEN + 1);
	key[KEY_MAX_LEN + 1] = '\0';
	ck_assert(key_valid(key, KEY_MAX_LEN, err, sizeof(err)));
	ck_assert(!key_valid(key, KEY_MAX_LEN + 1, err, sizeof(err)));
	ck_assert_msg(strstr(err, "4096") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "4097") != NULL, "%s", err);
	/* A multibyte character that crosses the limit still counts in
	 * bytes. */
	memcpy(key + KEY_MAX_LEN - 1, "\xc3\xa9", 2);
	ck_assert(!key_valid(key, KEY_MAX_LEN + 1, err, sizeof(err)));
	free(key);
}
END_TEST

START_TEST(test_small_err)
{
	char err[4];

	memset(err, 'x', sizeof(err));
	ck_assert(!key_valid("", 0, err, sizeof(err)));
	ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
}
END_TEST

static Suite *
key_suite(void)
{
	Suite *s = suite_create("key");
	TCase *tc = tcase_create("valid");

	tcase_add_loop_test(tc, test_good, 0,
	    sizeof(good_keys) / sizeof(good_keys[0]));
	tcase_add_loop_test(tc, test_bad_utf8, 0,
	    sizeof(bad_utf8_keys) / sizeof(bad_utf8_keys[0]));
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_length);
	tcase_add_test(tc, test_small_err);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(key_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
