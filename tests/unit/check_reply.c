/* SPDX-License-Identifier: ISC */
/* check_reply.c: what objd packs by hand is the bytes protobuf-c packs:
 * answers (server/reply-pack.c) and values (value_pack_to, which a set
 * packs its value with). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objd.h"
#include "value.h"

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

static void
assert_value_packs_as_protobuf_c(const Objd__Value *v)
{
	size_t want = objd__value__get_packed_size(v);
	uint8_t *ours = malloc(want + 1), *theirs = malloc(want + 1);

	ck_assert_ptr_nonnull(ours);
	ck_assert_ptr_nonnull(theirs);
	ck_assert_uint_eq(value_packed_size(v), want);
	ck_assert_uint_eq(objd__value__pack(v, theirs), want);
	ck_assert_uint_eq(value_pack_to(v, ours), want);
	ck_assert_mem_eq(ours, theirs, want);
	free(ours);
	free(theirs);
}

START_TEST(test_scalar_values)
{
	static const int64_t ints[] = { 0, 1, -1, 63, -64, 64, -65, INT32_MAX,
		INT32_MIN, INT64_MAX, INT64_MIN };
	static const double doubles[] = { 0.0, -0.0, 1.5, -2.25e300, 5e-324,
		INFINITY, -INFINITY, NAN };
	static const int nulls[] = { 0, 1, -1 };
	uint8_t blob[300];
	char text[300];
	Objd__Value v;

	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		v = (Objd__Value)OBJD__VALUE__INIT;
		v.kind_case = OBJD__VALUE__KIND_INT_VALUE;
		v.int_value = ints[i];
		assert_value_packs_as_protobuf_c(&v);
	}
	for (size_t i = 0; i < sizeof(doubles) / sizeof(doubles[0]); i++) {
		v = (Objd__Value)OBJD__VALUE__INIT;
		v.kind_case = OBJD__VALUE__KIND_DOUBLE_VALUE;
		v.double_value = doubles[i];
		assert_value_packs_as_protobuf_c(&v);
	}
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
		v = (Objd__Value)OBJD__VALUE__INIT;
		v.kind_case = OBJD__VALUE__KIND_NULL_VALUE;
		v.null_value = (Objd__NullValue)nulls[i];
		assert_value_packs_as_protobuf_c(&v);
	}
	for (int b = 0; b < 3; b++) {
		v = (Objd__Value)OBJD__VALUE__INIT;
		v.kind_case = OBJD__VALUE__KIND_BOOL_VALUE;
		v.bool_value = b;
		assert_value_packs_as_protobuf_c(&v);
	}
	/* Lengths whose varints take one byte and two. */
	memset(text, 'x', sizeof(text));
	for (size_t len = 0; len < sizeof(text); len += 127) {
		text[len] = '\0';
		v = (Objd__Value)OBJD__VALUE__INIT;
		v.kind_case = OBJD__VALUE__KIND_STRING_VALUE;
		v.string_value = text;
		assert_value_packs_as_protobuf_c(&v);
		text[len] = 'x';
	}
	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)i;
	for (size_t len = 0; len < sizeof(blob); len += 127) {
		v = (Objd__Value)OBJD__VALUE__INIT;
		v.kind_case = OBJD__VALUE__KIND_BYTES_VALUE;
		v.bytes_value.data = len > 0 ? blob : NULL;
		v.bytes_value.len = len;
		assert_value_packs_as_protobuf_c(&v);
	}
}
END_TEST

/* Anything but a lone scalar is left to protobuf-c. */
START_TEST(test_other_values)
{
	Objd__Value v = OBJD__VALUE__INIT, item = OBJD__VALUE__INIT,
	            *items[] = { &item };
	Objd__ListValue list = OBJD__LIST_VALUE__INIT;
	Objd__Tombstone tomb = OBJD__TOMBSTONE__INIT;
	ProtobufCMessageUnknownField unknown = { .tag = 15,
		.wire_type = PROTOBUF_C_WIRE_TYPE_VARINT,
		.len = 1,
		.data = (uint8_t *)"\x07" };

	item.kind_case = OBJD__VALUE__KIND_INT_VALUE;
	item.int_value = -5;
	list.n_values = 1;
	list.values = items;
	v.kind_case = OBJD__VALUE__KIND_LIST_VALUE;
	v.list_value = &list;
	assert_value_packs_as_protobuf_c(&v);
	v.kind_case = OBJD__VALUE__KIND_TOMBSTONE;
	v.tombstone = &tomb;
	assert_value_packs_as_protobuf_c(&v);
	/* What protobuf-c kept of a field it did not know, it writes back. */
	item.base.n_unknown_fields = 1;
	item.base.unknown_fields = &unknown;
	assert_value_packs_as_protobuf_c(&item);
	ck_assert_uint_eq(value_packed_size(&item), 4);
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
	tc = tcase_create("value");
	tcase_add_test(tc, test_scalar_values);
	tcase_add_test(tc, test_other_values);
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
