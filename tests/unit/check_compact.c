/* SPDX-License-Identifier: ISC */
/* check_compact.c: unit tests of server/compact.c's rule for automatic
 * compactions: when a file of a given size, live state and last
 * compaction is due. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "objd.h"

#define MiB (1024ULL * 1024)

/* objd's state lives in main.c, which the tests do not link. */
struct server server;
struct objd_options options;

/* Small files are never compacted by themselves, nor files within
 * twice their live state. */
START_TEST(test_floor_and_twice_live)
{
	ck_assert(!compact_due(MiB - 1, 0, 100, 0));
	ck_assert(compact_due(MiB, 0, 100, 0));
	ck_assert(!compact_due(10 * MiB, 5 * MiB, 100, 0));
	ck_assert(compact_due(10 * MiB + 1, 5 * MiB, 100, 0));
}
END_TEST

/* A small object under a stream of changes: once the interval is over,
 * past twice the live state and the size the last compaction left. */
START_TEST(test_interval)
{
	ck_assert(!compact_due(4 * MiB, 1000, 0.5, MiB));
	ck_assert(compact_due(4 * MiB, 1000, 1.0, MiB));
	ck_assert(compact_due(4 * MiB, 1000, 30, 0));
}
END_TEST

/* Many dead bytes do not wait for the interval, once the file has grown
 * by what the last compaction left, but for a fifth of a second since
 * the last one began. */
START_TEST(test_dead_bytes)
{
	ck_assert(compact_due(200 * MiB, MiB, 0.2, 100 * MiB));
	ck_assert(!compact_due(200 * MiB, MiB, 0.19, 100 * MiB));
	ck_assert(!compact_due(2000 * MiB, MiB, 0, 100 * MiB));
	ck_assert(!compact_due(199 * MiB, MiB, 0.2, 100 * MiB));
	ck_assert(!compact_due(60 * MiB, MiB, 0.2, 10 * MiB));
	ck_assert(compact_due(60 * MiB, MiB, 1.0, 10 * MiB));
}
END_TEST

/* A large live state (keys with history), whose last compaction left
 * it with the changes made while it ran: after the interval, the next
 * one starts once the file holds twice the live state; before it, only
 * once the file has grown by what the last one left. */
START_TEST(test_large_live_state)
{
	uint64_t live = 360 * MiB, compacted = 700 * MiB;

	ck_assert(!compact_due(720 * MiB, live, 60, compacted));
	ck_assert(compact_due(800 * MiB, live, 5, compacted));
	ck_assert(!compact_due(800 * MiB, live, 0.5, compacted));
	ck_assert(!compact_due(1399 * MiB, live, 0.5, compacted));
	ck_assert(compact_due(1400 * MiB, live, 0.5, compacted));
}
END_TEST

/* Commits wait for a compaction once it has more than 256 MiB to copy,
 * or more than the live state where that is larger. */
START_TEST(test_hold_bound)
{
	ck_assert_uint_eq(compact_hold_bound(0), 256 * MiB);
	ck_assert_uint_eq(compact_hold_bound(MiB), 256 * MiB);
	ck_assert_uint_eq(compact_hold_bound(256 * MiB), 256 * MiB);
	ck_assert_uint_eq(compact_hold_bound(1024 * MiB), 1024 * MiB);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("compact");
	TCase *tc = tcase_create("due");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_floor_and_twice_live);
	tcase_add_test(tc, test_interval);
	tcase_add_test(tc, test_dead_bytes);
	tcase_add_test(tc, test_large_live_state);
	tcase_add_test(tc, test_hold_bound);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
