/* SPDX-License-Identifier: ISC */
/* check_forkhide.c: unit tests of server/forkhide.c: what a forked child
 * gets of a hidden block, and what objd's writes to it cost after a
 * fork, counted in page faults (no timing). */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "objd.h"

#define PAGES 64
#define READ_FAULTED 42

static uint8_t *map;
static size_t pg;

static void
setup(void)
{
	pg = (size_t)sysconf(_SC_PAGESIZE);
	map = mmap(NULL, PAGES * pg, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	/* Every page present, as a used malloc block's are. */
	for (size_t i = 0; i < PAGES * pg; i++)
		map[i] = (uint8_t)i;
}

static void
teardown(void)
{
	munmap(map, PAGES * pg);
}

static void
on_segv(int sig)
{
	(void)sig;
	_exit(READ_FAULTED);
}

/* The exit status of a child that reads map[at] and checks the byte:
 * 0 if it read it, READ_FAULTED if the page was not there. */
static int
child_reads(size_t at)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_segv;
		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
		_exit(*(volatile uint8_t *)(map + at) == (uint8_t)at ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static long
minor_faults(void)
{
	struct rusage ru;

	ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_minflt;
}

/* The faults of writing every byte of map[from, to) after a fork. */
static long
faults_writing_after_fork(size_t from, size_t to)
{
	pid_t pid = fork();
	long before;
	int status;

	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	before = minor_faults();
	memset(map + from, 0x5a, to - from);
	return minor_faults() - before;
}

/* A block from byte 100 of the map to byte 100 of its page 60: pages 1
 * to 59 are whole, the first and the last are shared with whatever lies
 * beside the block. */
#define BLOCK_AT 100
#define BLOCK_LEN (60 * pg)

START_TEST(test_child_lacks_the_whole_pages)
{
	ck_assert(forkhide_hide(map + BLOCK_AT, BLOCK_LEN));
	ck_assert_int_eq(child_reads(BLOCK_AT), 0);
	ck_assert_int_eq(child_reads(pg - 1), 0);
	ck_assert_int_eq(child_reads(pg), READ_FAULTED);
	ck_assert_int_eq(child_reads(30 * pg + 7), READ_FAULTED);
	ck_assert_int_eq(child_reads(60 * pg - 1), READ_FAULTED);
	ck_assert_int_eq(child_reads(60 * pg), 0);
	ck_assert_int_eq(child_reads(60 * pg + BLOCK_AT - 1), 0);
	/* objd itself keeps them, values and all. */
	for (size_t i = 0; i < PAGES * pg; i++)
		ck_assert_uint_eq(map[i], (uint8_t)i);
	forkhide_show(map + BLOCK_AT, BLOCK_LEN);
}
END_TEST

START_TEST(test_shown_pages_reach_the_child)
{
	ck_assert(forkhide_hide(map + BLOCK_AT, BLOCK_LEN));
	forkhide_show(map + BLOCK_AT, BLOCK_LEN);
	ck_assert_int_eq(child_reads(pg), 0);
	ck_assert_int_eq(child_reads(30 * pg + 7), 0);
	ck_assert_int_eq(child_reads(60 * pg - 1), 0);
}
END_TEST

START_TEST(test_small_block_is_not_hidden)
{
	/* 7 whole pages of 4 KiB: under the 32 KiB worth two calls. */
	size_t len = 8 * pg - 2 * BLOCK_AT;

	if (pg != 4096)
		return;
	ck_assert(!forkhide_hide(map + BLOCK_AT, len));
	ck_assert_int_eq(child_reads(pg), 0);
	ck_assert_int_eq(child_reads(5 * pg), 0);
	ck_assert(!forkhide_hide(map + BLOCK_AT, 0));
}
END_TEST

START_TEST(test_hidden_pages_stay_writable_after_fork)
{
	long shared, hidden;

	/* Shared with a child once, each page faults at its first write
	 * after the fork, though the child is gone. */
	shared = faults_writing_after_fork(pg, 60 * pg);
	ck_assert_int_ge(shared, 59);
	ck_assert(forkhide_hide(map + BLOCK_AT, BLOCK_LEN));
	/* The write above faulted the pages back in: a fork now leaves
	 * the hidden ones as they are. (The margin is for the faults of
	 * a sanitizer's own memory, not of the block.) */
	hidden = faults_writing_after_fork(pg, 60 * pg);
	ck_assert_int_lt(hidden, 16);
	forkhide_show(map + BLOCK_AT, BLOCK_LEN);
}
END_TEST

static Suite *
forkhide_suite(void)
{
	Suite *s = suite_create("forkhide");
	TCase *tc = tcase_create("forkhide");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_child_lacks_the_whole_pages);
	tcase_add_test(tc, test_shown_pages_reach_the_child);
	tcase_add_test(tc, test_small_block_is_not_hidden);
	tcase_add_test(tc, test_hidden_pages_stay_writable_after_fork);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(forkhide_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
