/* SPDX-License-Identifier: ISC */
/* check_small.c: the small things of objctl, end to end: set -x, del
 * --prefix (and its operation on the wire), watch --count counting
 * changes, and reload saying that objd rejected the file. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "framing.h"
#include "harness.h"
#include "objd-client.h"
#include "value.h"

static struct session session;
static struct session *s = &session;

static void
setup(void)
{
	e2e_open(s);
}

static void
teardown(void)
{
	e2e_close(s);
}

static objd_client *
client(void)
{
	objd_client *c = NULL;
	char err[256] = "";

	ck_assert_msg(objd_connect(s->sock, E2E_DEADLINE, &c, err,
	                  sizeof(err)) == OBJD_OK,
	    "objd_connect %s: %s", s->sock, err);
	return c;
}

static uint64_t
revision(void)
{
	objd_client *c = client();
	Objd__Response *r = NULL;
	uint64_t rev;

	ck_assert_int_eq(objd_status(c, &r), OBJD_OK);
	rev = r->info->revision;
	objd_response_free(r);
	objd_close(c);
	return rev;
}

/* --count counts changes: a change of two keys is two lines, one
 * change. */
START_TEST(test_watch_count_changes)
{
	char since[32], want[128];
	uint64_t rev;

	e2e_start(s);
	CTL_OK(s, "set", "first", "0");
	rev = revision();
	CTL_OK(s, "set", "a", "1", "b", "2");
	CTL_OK(s, "set", "c", "3");
	CTL_OK(s, "set", "d", "4", "e", "5");
	snprintf(since, sizeof(since), "%" PRIu64, rev);

	CTL_OK(s, "watch", "--since", since, "--count", "1");
	snprintf(want, sizeof(want),
	    "%" PRIu64 " set a 1\n%" PRIu64 " set b 2\n", rev + 1, rev + 1);
	ck_assert_str_eq(s->out, want);

	CTL_OK(s, "watch", "--since", since, "--count", "2");
	snprintf(want, sizeof(want),
	    "%" PRIu64 " set a 1\n%" PRIu64 " set b 2\n%" PRIu64 " set c 3\n",
	    rev + 1, rev + 1, rev + 2);
	ck_assert_str_eq(s->out, want);

	/* The last change counted is printed whole. */
	snprintf(since, sizeof(since), "%" PRIu64, rev + 1);
	CTL_OK(s, "watch", "--since", since, "--count", "2");
	snprintf(want, sizeof(want),
	    "%" PRIu64 " set c 3\n%" PRIu64 " set d 4\n%" PRIu64 " set e 5\n",
	    rev + 2, rev + 3, rev + 3);
	ck_assert_str_eq(s->out, want);

	/* With the current values first, and a prefix. */
	CTL_OK(s, "watch", "--count", "0", "a");
	snprintf(want, sizeof(want), "%" PRIu64 " current a 1\n", rev + 3);
	ck_assert_str_eq(s->out, want);
	e2e_stop(s);
}
END_TEST

/* objd's own look rejects a bad file before objctl reload asks: the
 * reload says so (exit 6 with the reason), and the good state stays. */
START_TEST(test_reload_after_rejection)
{
	const char *tmp;
	double end;

	e2e_start(s);
	CTL_OK(s, "set", "good", "1");
	tmp = e2e_path(s, "bad.tmp");
	e2e_write_file(tmp, "\x0fnot an object", 14);
	ck_assert_int_eq(rename(tmp, s->file), 0);
	/* Wait for objd (reload interval 0.1 s) to reject it by itself. */
	end = e2e_now() + E2E_DEADLINE;
	while (CTL(s, "status") == 0 &&
	    strstr(s->out, "not an object") == NULL &&
	    strstr(s->out, "rejected") == NULL && e2e_now() < end)
		e2e_sleep(0.05);
	CTL_EXIT(s, 6, "reload");
	ck_assert_msg(strstr(s->err, "rejected") != NULL, "stderr: %s", s->err);
	ck_assert_msg(e2e_one_line(s->err), "stderr: %s", s->err);
	ck_assert_str_eq(CTL_OK(s, "get", "good"), "1\n");
	/* Until a good file comes. */
	CTL_EXIT(s, 6, "reload");
	e2e_write_file(tmp, "", 0);
	ck_assert_int_eq(rename(tmp, s->file), 0);
	CTL_OK(s, "reload");
	ck_assert_str_eq(CTL_OK(s, "get"), "{}\n");
	e2e_stop(s);
}
END_TEST

static Suite *
small_suite(void)
{
	Suite *suite = suite_create("small");
	TCase *tc = tcase_create("small");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_watch_count_changes);
	tcase_add_test(tc, test_reload_after_rejection);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	e2e_init();
	sr = srunner_create(small_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	e2e_fini();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
