/* SPDX-License-Identifier: ISC */
/* check_framing.c: unit tests of common/framing.c. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "objd.pb-c.h"

static const struct varint_case {
	uint64_t v;
	size_t len;
	uint8_t bytes[VARINT_MAX_LEN];
} varint_cases[] = {
	{ 0, 1, { 0x00 } },
	{ 1, 1, { 0x01 } },
	{ 127, 1, { 0x7f } },
	{ 128, 2, { 0x80, 0x01 } },
	{ 300, 2, { 0xac, 0x02 } },
	{ 16383, 2, { 0xff, 0x7f } },
	{ 16384, 3, { 0x80, 0x80, 0x01 } },
	{ UINT64_C(1) << 32, 5, { 0x80, 0x80, 0x80, 0x80, 0x10 } },
	{ (UINT64_C(1) << 63) - 1, 9,
	    { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f } },
	{ UINT64_C(1) << 63, 10,
	    { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 } },
	{ UINT64_MAX, 10,
	    { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 } },
};

START_TEST(test_varint_round_trip)
{
	const struct varint_case *c = &varint_cases[_i];
	uint8_t buf[VARINT_MAX_LEN + 4];
	uint64_t got = 12345;
	size_t n;

	memset(buf, 0xee, sizeof(buf));
	n = varint_encode(buf, c->v);
	ck_assert_uint_eq(n, c->len);
	ck_assert_mem_eq(buf, c->bytes, n);
	/* Trailing bytes are not part of the varint. */
	ck_assert_int_eq(varint_decode(buf, sizeof(buf), &got), (int)n);
	ck_assert(got == c->v);
	ck_assert_int_eq(varint_decode(buf, n, &got), (int)n);
	ck_assert(got == c->v);
	/* Every strict prefix asks for more. */
	for (size_t k = 0; k < n; k++)
		ck_assert_int_eq(varint_decode(buf, k, &got), 0);
}
END_TEST

START_TEST(test_varint_too_long)
{
	uint8_t buf[16];
	uint64_t v;

	/* Eleven bytes, all continuing. */
	memset(buf, 0x80, sizeof(buf));
	ck_assert_int_eq(varint_decode(buf, 11, &v), -1);
	ck_assert_int_eq(varint_decode(buf, 10, &v), -1);
	ck_assert_int_eq(varint_decode(buf, 9, &v), 0);
	/* Ten bytes ending in a padded zero still fits 64 bits. */
	buf[9] = 0x00;
	ck_assert_int_eq(varint_decode(buf, 10, &v), 10);
	ck_assert(v == 0);
	/* An eleventh byte after ten continuing ones. */
	buf[9] = 0x80;
	buf[10] = 0x01;
	ck_assert_int_eq(varint_decode(buf, 11, &v), -1);
}
END_TEST

START_TEST(test_varint_overflow)
{
	uint8_t buf[VARINT_MAX_LEN];
	uint64_t v;

	memset(buf, 0xff, sizeof(buf));
	for (uint8_t last = 0x02; last < 0x80; last++) {
		buf[9] = last;
		ck_assert_int_eq(varint_decode(buf, sizeof(buf), &v), -1);
	}
	buf[9] = 0x01;
	ck_assert_int_eq(varint_decode(buf, sizeof(buf), &v), 10);
	ck_assert(v == UINT64_MAX);
	buf[9] = 0x81;
	ck_assert_int_eq(varint_decode(buf, sizeof(buf), &v), -1);
}
END_TEST

START_TEST(test_header_ok)
{
	uint8_t buf[VARINT_MAX_LEN + 3];
	size_t hlen = 99, blen = 99, n;

	n = varint_encode(buf, 5);
	memcpy(buf + n, "\x08\x01\x30", 3);
	ck_assert_int_eq(
	    frame_parse_header(buf, n + 3, FRAME_MAX_DEFAULT, &hlen, &blen),
	    FRAME_OK);
	ck_assert_uint_eq(hlen, 1);
	ck_assert_uint_eq(blen, 5);

	/* An empty body is a valid frame. */
	buf[0] = 0;
	ck_assert_int_eq(
	    frame_parse_header(buf, 1, FRAME_MAX_DEFAULT, &hlen, &blen),
	    FRAME_OK);
	ck_assert_uint_eq(hlen, 1);
	ck_assert_uint_eq(blen, 0);

	/* Exactly the limit passes; one more does not. */
	n = varint_encode(buf, FRAME_MAX_DEFAULT);
	ck_assert_int_eq(
	    frame_parse_header(buf, n, FRAME_MAX_DEFAULT, &hlen, &blen),
	    FRAME_OK);
	ck_assert_uint_eq(hlen, n);
	ck_assert_uint_eq(blen, FRAME_MAX_DEFAULT);
	n = varint_encode(buf, FRAME_MAX_DEFAULT + 1);
	ck_assert_int_eq(
	    frame_parse_header(buf, n, FRAME_MAX_DEFAULT, &hlen, &blen),
	    FRAME_TOO_LARGE);
	n = varint_encode(buf, UINT64_MAX);
	ck_assert_int_eq(
	    frame_parse_header(buf, n, FRAME_MAX_DEFAULT, &hlen, &blen),
	    FRAME_TOO_LARGE);
}
END_TEST

START_TEST(test_header_short)
{
	uint8_t buf[VARINT_MAX_LEN] = { 0 };
	size_t hlen, blen, n;

	ck_assert_int_eq(
	    frame_parse_header(buf, 0, FRAME_MAX_DEFAULT, &hlen, &blen),
	    FRAME_SHORT);
	n = varint_encode(buf, FRAME_MAX_DEFAULT);
	for (size_t k = 0; k < n; k++)
		ck_assert_int_eq(
		    frame_parse_header(buf, k, FRAME_MAX_DEFAULT, &hlen, &blen),
		    FRAME_SHORT);
}
END_TEST

START_TEST(test_header_early_refusal)
{
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff };
	static const uint8_t big[] = { 0x80, 0x80, 0x80, 0x40 };
	size_t hlen, blen;

	/* Four continuing bytes already hold 2^28 - 1 > 64 MiB: there is no
	 * need to wait for the rest. */
	ck_assert_int_eq(frame_parse_header(huge, sizeof(huge),
	                     FRAME_MAX_DEFAULT, &hlen, &blen),
	    FRAME_TOO_LARGE);
	/* Three hold only 2^21 - 1, which may still end up small enough. */
	ck_assert_int_eq(
	    frame_parse_header(huge, 3, FRAME_MAX_DEFAULT, &hlen, &blen),
	    FRAME_SHORT);
	/* 0x40 << 21 is 2^27. */
	ck_assert_int_eq(frame_parse_header(big, sizeof(big), FRAME_MAX_DEFAULT,
	                     &hlen, &blen),
	    FRAME_TOO_LARGE);
	/* A lower limit refuses sooner. */
	ck_assert_int_eq(frame_parse_header(huge, 2, 1000, &hlen, &blen),
	    FRAME_TOO_LARGE);
	ck_assert_int_eq(frame_parse_header(huge, 1, 1000, &hlen, &blen),
	    FRAME_SHORT);
}
END_TEST

/* Whatever way a header arrives, a prefix either asks for more or gives
 * the same verdict as the whole. */
START_TEST(test_header_split)
{
	static const uint8_t headers[][VARINT_MAX_LEN + 1] = {
		{ 0x80, 0x80, 0x80, 0x80, 0x00 }, /* zero, padded */
		{ 0x85, 0x80, 0x80, 0x80, 0x00 }, /* five, padded */
		{ 0xff, 0xff, 0xff, 0x1f },       /* 64 MiB - 1 */
		{ 0x80, 0x80, 0x80, 0x20 },       /* 64 MiB */
		{ 0x81, 0x80, 0x80, 0x20 },       /* 64 MiB + 1 */
		{ 0xff, 0xff, 0xff, 0xff, 0x0f },
		{ 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
		    0x00 }, /* eleven bytes */
	};

	for (size_t h = 0; h < sizeof(headers) / sizeof(headers[0]); h++) {
		size_t hlen, blen;
		enum frame_status whole = frame_parse_header(headers[h],
		    sizeof(headers[h]), FRAME_MAX_DEFAULT, &hlen, &blen);

		ck_assert_int_ne(whole, FRAME_SHORT);
		for (size_t k = 0; k <= sizeof(headers[h]); k++) {
			enum frame_status part = frame_parse_header(headers[h],
			    k, FRAME_MAX_DEFAULT, &hlen, &blen);

			ck_assert_msg(part == FRAME_SHORT || part == whole,
			    "header %zu: %zu bytes give %d, all give %d", h, k,
			    (int)part, (int)whole);
		}
	}
}
END_TEST

START_TEST(test_header_bad)
{
	uint8_t buf[VARINT_MAX_LEN + 1];
	size_t hlen, blen;

	memset(buf, 0x80, sizeof(buf));
	ck_assert_int_eq(
	    frame_parse_header(buf, sizeof(buf), SIZE_MAX, &hlen, &blen),
	    FRAME_BAD);
	memset(buf, 0xff, sizeof(buf));
	buf[9] = 0x7f;
	ck_assert_int_eq(
	    frame_parse_header(buf, VARINT_MAX_LEN, SIZE_MAX, &hlen, &blen),
	    FRAME_BAD);
}
END_TEST

START_TEST(test_status_str)
{
	ck_assert_str_eq(frame_status_str(FRAME_OK), "ok");
	ck_assert_str_ne(frame_status_str(FRAME_TOO_LARGE),
	    frame_status_str(FRAME_BAD));
	ck_assert_str_ne(frame_status_str(FRAME_SHORT),
	    frame_status_str(FRAME_BAD));
}
END_TEST

START_TEST(test_frame_pack)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Set set = OBJD__SET__INIT;
	Objd__Entry entry = OBJD__ENTRY__INIT, *entries[1] = { &entry };
	Objd__Value value = OBJD__VALUE__INIT;
	Objd__Request *back;
	size_t len, hlen, blen;
	uint8_t *frame;

	value.kind_case = OBJD__VALUE__KIND_STRING_VALUE;
	value.string_value = "New York";
	entry.key = "city";
	entry.value = &value;
	set.n_entries = 1;
	set.entries = entries;
	req.id = 300;
	req.op_case = OBJD__REQUEST__OP_SET;
	req.set = &set;

	frame = frame_pack(&req.base, &len);
	ck_assert_int_eq(
	    frame_parse_header(frame, len, FRAME_MAX_DEFAULT, &hlen, &blen),
	    FRAME_OK);
	ck_assert_uint_eq(hlen + blen, len);
	ck_assert_uint_eq(blen, objd__request__get_packed_size(&req));
	back = objd__request__unpack(NULL, blen, frame + hlen);
	ck_assert_ptr_nonnull(back);
	ck_assert(back->id == 300);
	ck_assert_int_eq(back->op_case, OBJD__REQUEST__OP_SET);
	ck_assert_uint_eq(back->set->n_entries, 1);
	ck_assert_str_eq(back->set->entries[0]->key, "city");
	ck_assert_int_eq(back->set->entries[0]->value->kind_case,
	    OBJD__VALUE__KIND_STRING_VALUE);
	ck_assert_str_eq(back->set->entries[0]->value->string_value,
	    "New York");
	objd__request__free_unpacked(back, NULL);
	free(frame);
}
END_TEST

/* An empty message is a one-byte frame: its length, zero. */
START_TEST(test_frame_pack_empty)
{
	Objd__Ping ping = OBJD__PING__INIT;
	size_t len;
	uint8_t *frame = frame_pack(&ping.base, &len);

	ck_assert_uint_eq(len, 1);
	ck_assert_uint_eq(frame[0], 0);
	free(frame);
}
END_TEST

static Suite *
framing_suite(void)
{
	Suite *s = suite_create("framing");
	TCase *tc;

	tc = tcase_create("varint");
	tcase_add_loop_test(tc, test_varint_round_trip, 0,
	    sizeof(varint_cases) / sizeof(varint_cases[0]));
	tcase_add_test(tc, test_varint_too_long);
	tcase_add_test(tc, test_varint_overflow);
	suite_add_tcase(s, tc);

	tc = tcase_create("header");
	tcase_add_test(tc, test_header_ok);
	tcase_add_test(tc, test_header_short);
	tcase_add_test(tc, test_header_early_refusal);
	tcase_add_test(tc, test_header_split);
	tcase_add_test(tc, test_header_bad);
	tcase_add_test(tc, test_status_str);
	suite_add_tcase(s, tc);

	tc = tcase_create("pack");
	tcase_add_test(tc, test_frame_pack);
	tcase_add_test(tc, test_frame_pack_empty);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(framing_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
