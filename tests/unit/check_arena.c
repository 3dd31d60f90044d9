/* SPDX-License-Identifier: ISC */
/* check_arena.c: unit tests of common/arena.c. */
#include <check.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define SIZE 1024

static int
aligned(const void *p)
{
	return (uintptr_t)p % alignof(max_align_t) == 0;
}

static int
inside(const struct arena *a, const void *p)
{
	return (const unsigned char *)p >= a->base &&
	    (const unsigned char *)p < a->base + a->size;
}

START_TEST(test_alloc_aligned_and_distinct)
{
	struct arena a;
	unsigned char *p[20];

	arena_init(&a, SIZE);
	for (int i = 0; i < 20; i++) {
		p[i] = arena_alloc(&a, (size_t)i);
		ck_assert_ptr_nonnull(p[i]);
		ck_assert(aligned(p[i]));
		ck_assert(inside(&a, p[i]));
		memset(p[i], i, (size_t)i);
	}
	/* No allocation overlaps the next one. */
	for (int i = 0; i < 20; i++)
		for (int j = 0; j < i; j++)
			ck_assert_int_eq(p[i][j], i);
	arena_free(&a);
}
END_TEST

START_TEST(test_spill_past_size)
{
	struct arena a;
	void *in, *big, *after;

	arena_init(&a, SIZE);
	in = arena_alloc(&a, SIZE - 16);
	ck_assert(inside(&a, in));
	big = arena_alloc(&a, 4 * SIZE);
	ck_assert_ptr_nonnull(big);
	ck_assert(!inside(&a, big));
	ck_assert(aligned(big));
	memset(big, 0xab, 4 * SIZE);
	/* What is left in the arena is still used. */
	after = arena_alloc(&a, 16);
	ck_assert(inside(&a, after));
	ck_assert_ptr_nonnull(a.spills);
	arena_free(&a); /* LeakSanitizer checks the spill is freed */
}
END_TEST

/* A released spill is kept for the next one that fits in it, so large
 * requests one after the other do not each get fresh pages; one past
 * ARENA_SPARE_MAX is freed. */
START_TEST(test_spare_spill_reused)
{
	struct arena a;
	struct arena_mark m;
	unsigned char *big, *again, *huge;

	arena_init(&a, SIZE);
	m = arena_mark(&a);
	big = arena_alloc(&a, 8 * SIZE);
	ck_assert_ptr_nonnull(big);
	memset(big, 0xab, 8 * SIZE);
	arena_release(&a, m);
	ck_assert_ptr_null(a.spills);
	ck_assert_ptr_nonnull(a.spare);
	/* Smaller than the spare: the spare serves it. */
	again = arena_alloc(&a, 4 * SIZE);
	ck_assert_ptr_eq(again, big);
	ck_assert_ptr_null(a.spare);
	memset(again, 0xcd, 4 * SIZE);
	/* Larger than the spare, now in use: a spill of its own. */
	huge = arena_alloc(&a, ARENA_SPARE_MAX + 1);
	ck_assert_ptr_nonnull(huge);
	ck_assert(huge != again);
	memset(huge, 0xef, ARENA_SPARE_MAX + 1);
	arena_release(&a, m);
	/* The one within the limit was kept, the huge one freed. */
	ck_assert_ptr_nonnull(a.spare);
	ck_assert_ptr_eq(arena_alloc(&a, 8 * SIZE), big);
	arena_release(&a, m);
	arena_free(&a); /* LeakSanitizer checks the spare is freed */
}
END_TEST

static int cleanup_log[4], cleanup_n;

static void
note_cleanup(void *arg)
{
	ck_assert_int_lt(cleanup_n, 4);
	cleanup_log[cleanup_n++] = *(const int *)arg;
}

/* Cleanups run when the arena is released to a mark taken before them,
 * newest first, and only those. */
START_TEST(test_cleanups_run_on_release)
{
	static const int ids[] = { 1, 2, 3 };
	struct arena a;
	struct arena_mark outer, inner;

	cleanup_n = 0;
	arena_init(&a, SIZE);
	outer = arena_mark(&a);
	ck_assert(arena_on_release(&a, note_cleanup, (void *)&ids[0]));
	inner = arena_mark(&a);
	ck_assert(arena_on_release(&a, note_cleanup, (void *)&ids[1]));
	ck_assert(arena_on_release(&a, note_cleanup, (void *)&ids[2]));
	arena_release(&a, inner);
	ck_assert_int_eq(cleanup_n, 2);
	ck_assert_int_eq(cleanup_log[0], 3);
	ck_assert_int_eq(cleanup_log[1], 2);
	arena_release(&a, outer);
	ck_assert_int_eq(cleanup_n, 3);
	ck_assert_int_eq(cleanup_log[2], 1);
	arena_free(&a);
	ck_assert_int_eq(cleanup_n, 3);
}
END_TEST

START_TEST(test_release_nests)
{
	struct arena a;
	struct arena_mark outer, inner;
	void *first, *second, *again;

	arena_init(&a, SIZE);
	outer = arena_mark(&a);
	first = arena_alloc(&a, 100);
	inner = arena_mark(&a);
	second = arena_alloc(&a, 100);
	(void)arena_alloc(&a, 8 * SIZE); /* a spill, inside the inner mark */
	ck_assert_ptr_nonnull(a.spills);
	arena_release(&a, inner);
	ck_assert_ptr_null(a.spills);
	/* The inner space is handed out again; the outer stays taken. */
	again = arena_alloc(&a, 100);
	ck_assert_ptr_eq(again, second);
	ck_assert_ptr_ne(again, first);
	arena_release(&a, outer);
	ck_assert_uint_eq(a.used, 0);
	ck_assert_ptr_eq(arena_alloc(&a, 1), first);
	arena_free(&a);
}
END_TEST

START_TEST(test_huge_is_refused)
{
	struct arena a;

	arena_init(&a, SIZE);
	ck_assert_ptr_null(arena_alloc(&a, SIZE_MAX - 8));
	arena_free(&a);
}
END_TEST

static Suite *
arena_suite(void)
{
	Suite *s = suite_create("arena");
	TCase *tc = tcase_create("arena");

	tcase_add_test(tc, test_alloc_aligned_and_distinct);
	tcase_add_test(tc, test_spill_past_size);
	tcase_add_test(tc, test_spare_spill_reused);
	tcase_add_test(tc, test_release_nests);
	tcase_add_test(tc, test_cleanups_run_on_release);
	tcase_add_test(tc, test_huge_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(arena_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
