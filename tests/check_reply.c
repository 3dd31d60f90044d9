/* check_reply.c: answers packed by hand (server/reply.c) are the bytes
 * protobuf-c packs. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objd.h"

/* Packs r both ways and compares the bytes. */
static void
assert_packs_as_protobuf_c(const Objd__Response *r)
{
	size_t want = objd__response__get_packed_size(r);
	uint8_t *ours = malloc(want + 1), *theirs = malloc(want + 1);

	ck_assert_ptr_nonnull(ours);
	ck_assert_ptr_nonnull(theirs);
	ck_assert_uint_eq(reply_header_size(r), want);
	ck_assert_uint_eq(objd__response__pack(r, theirs), want);
	ck_assert_uint_eq(reply_header_pack(r, ours), want);
	ck_assert_mem_eq(ours, theirs, want);
	free(ours);
	free(theirs);
}

START_TEST(test_plain_headers)
{
	static const uint64_t numbers[] = { 0, 1, 127, 128, 16383, 16384,
		UINT32_MAX, (uint64_t)1 << 63, UINT64_MAX };
	static const int statuses[] = { OBJD__STATUS__OK,
		OBJD__STATUS__NOT_FOUND, OBJD__STATUS__INVALID,
		OBJD__STATUS__FAILED, OBJD__STATUS__CONFLICT, 127, 128, -1 };
	char long_error[300];
	const char *errors[] = { NULL, "", "x", long_error };
	size_t n = sizeof(numbers) / sizeof(numbers[0]);

	memset(long_error, 'e', sizeof(long_error) - 1);
	long_error[sizeof(long_error) - 1] = '\0';
	for (size_t i = 0; i < n; i++)
		for (size_t s = 0; s < sizeof(statuses) / sizeof(statuses[0]);
		     s++)
			for (size_t e = 0; e < 4; e++) {
				Objd__Response r = OBJD__RESPONSE__INIT;

				r.id = numbers[i];
				r.revision = numbers[(i * 7 + s + e) % n];
				r.status = (Objd__Status)statuses[s];
				r.error = (char *)errors[e];
				assert_packs_as_protobuf_c(&r);
			}
}
END_TEST

/* Anything beyond the four plain fields is left to protobuf-c. */
START_TEST(test_other_fields)
{
	Objd__Response r = OBJD__RESPONSE__INIT;
	Objd__StatusInfo info = OBJD__STATUS_INFO__INIT;
	char *keys[] = { "a", "b" };

	r.id = 9;
	r.revision = 300;
	r.n_keys = 2;
	r.keys = keys;
	assert_packs_as_protobuf_c(&r);
	r.n_keys = 0;
	info.pid = 42;
	r.info = &info;
	r.error = "with info";
	assert_packs_as_protobuf_c(&r);
}
END_TEST

static Suite *
reply_suite(void)
{
	Suite *s = suite_create("reply");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_plain_headers);
	tcase_add_test(tc, test_other_fields);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(reply_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
