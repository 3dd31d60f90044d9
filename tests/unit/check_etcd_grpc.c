/* SPDX-License-Identifier: ISC */
/* check_etcd_grpc.c: gRPC's framing and status trailers (etcd-grpc.c),
 * and etcd's prefix range end, without an etcd. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "etcd.h"

START_TEST(test_grpc_framing)
{
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	struct grpc_reader rd = { .max = 64 };
	const uint8_t *msg;
	size_t len, mlen;
	uint8_t *f;
	char *m = NULL;
	int status = -1;
	uint8_t *end;
	size_t endlen;

	req.key.data = (uint8_t *)"abc";
	req.key.len = 3;
	f = grpc_frame(&req.base, &len);
	ck_assert_int_eq(f[0], 0);
	ck_assert_int_eq(len,
	    5 + protobuf_c_message_get_packed_size(&req.base));
	ck_assert_int_eq(f[4], len - 5);
	/* Byte by byte: nothing until the message is whole. */
	for (size_t i = 0; i + 1 < len; i++) {
		ck_assert(grpc_reader_feed(&rd, f + i, 1));
		ck_assert_int_eq(grpc_reader_next(&rd, &msg, &mlen), 0);
	}
	ck_assert(grpc_reader_feed(&rd, f + len - 1, 1));
	ck_assert_int_eq(grpc_reader_next(&rd, &msg, &mlen), 1);
	ck_assert_int_eq(mlen, len - 5);
	ck_assert(memcmp(msg, f + 5, mlen) == 0);
	grpc_reader_consume(&rd, mlen);
	ck_assert_int_eq(grpc_reader_next(&rd, &msg, &mlen), 0);
	/* Compressed, and over max: bad. */
	f[0] = 1;
	ck_assert(grpc_reader_feed(&rd, f, len));
	ck_assert_int_eq(grpc_reader_next(&rd, &msg, &mlen), -1);
	grpc_reader_free(&rd);
	f[0] = 0;
	f[4] = 65;
	ck_assert(grpc_reader_feed(&rd, f, 5));
	ck_assert_int_eq(grpc_reader_next(&rd, &msg, &mlen), -1);
	grpc_reader_free(&rd);
	free(f);

	ck_assert(grpc_header("grpc-status: 3\r\n", 16, &status, &m));
	ck_assert_int_eq(status, 3);
	ck_assert(grpc_header("Grpc-Message: etcdserver:%20too%20many%0D\r\n",
	    43, &status, &m));
	ck_assert_str_eq(m, "etcdserver: too many\r");
	ck_assert(!grpc_header("content-type: application/grpc\r\n", 32,
	    &status, &m));
	ck_assert(grpc_header("grpc-status: x\r\n", 16, &status, &m));
	ck_assert_int_eq(status, 2);
	free(m);

	end = etcd_prefix_end("/a/", 3, &endlen);
	ck_assert_int_eq(endlen, 3);
	ck_assert(memcmp(end, "/a0", 3) == 0);
	free(end);
	end = etcd_prefix_end("a\xff\xff", 3, &endlen);
	ck_assert_int_eq(endlen, 1);
	ck_assert_int_eq(end[0], 'b');
	free(end);
}
END_TEST

START_TEST(test_reader_grows)
{
	struct grpc_reader rd = { .max = 1u << 20 };
	Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
	uint8_t *value = calloc(1, 100000), *f;
	const uint8_t *msg;
	size_t len, mlen;
	Etcdserverpb__PutRequest *back;

	ck_assert_ptr_nonnull(value);
	put.value.data = value;
	put.value.len = 100000;
	f = grpc_frame(&put.base, &len);
	/* Two messages in one feed, then read in turn. */
	ck_assert(grpc_reader_feed(&rd, f, len));
	ck_assert(grpc_reader_feed(&rd, f, len));
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(grpc_reader_next(&rd, &msg, &mlen), 1);
		back = etcdserverpb__put_request__unpack(NULL, mlen, msg);
		ck_assert_ptr_nonnull(back);
		ck_assert_int_eq(back->value.len, 100000);
		etcdserverpb__put_request__free_unpacked(back, NULL);
		grpc_reader_consume(&rd, mlen);
	}
	ck_assert_int_eq(rd.len, 0);
	/* Past max and its prefix: refused whole. */
	rd.max = 10;
	ck_assert(!grpc_reader_feed(&rd, f, len));
	grpc_reader_free(&rd);
	free(f);
	free(value);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("etcd grpc");
	TCase *tc = tcase_create("framing");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_grpc_framing);
	tcase_add_test(tc, test_reader_grows);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
