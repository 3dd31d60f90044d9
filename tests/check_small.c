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

/* Sends one Batch request of ops over a raw connection; its status. */
static Objd__Status
raw_batch(Objd__Operation **ops, size_t n)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Batch batch = OBJD__BATCH__INIT;
	Objd__Response *resp = NULL;
	Objd__Status status;
	enum raw_outcome o;
	uint8_t *frame;
	size_t len;
	int fd;

	batch.n_operations = n;
	batch.operations = ops;
	req.id = 9;
	req.op_case = OBJD__REQUEST__OP_BATCH;
	req.batch = &batch;
	frame = frame_pack(&req.base, &len);
	fd = e2e_raw_connect(s);
	ck_assert(e2e_raw_send(fd, frame, len));
	free(frame);
	o = e2e_raw_wait(fd, E2E_DEADLINE, &resp);
	ck_assert_msg(o == RAW_ANSWER, "batch: %s", e2e_raw_outcome_str(o));
	ck_assert_uint_eq(resp->id, 9);
	status = resp->status;
	objd__response__free_unpacked(resp, NULL);
	close(fd);
	return status;
}

/* Operation 3, delete_prefix, as any protobuf encoder writes it: objd
 * must apply it in the batch's order, never drop it. */
START_TEST(test_delete_prefix_on_the_wire)
{
	Objd__Operation set = OBJD__OPERATION__INIT,
	                del = OBJD__OPERATION__INIT;
	Objd__Operation *ops[] = { &set, &del };
	Objd__Entry entry = OBJD__ENTRY__INIT;
	Objd__Value *one = value_new_int(1);

	e2e_start(s);
	CTL_OK(s, "set", "k1", "1", "k2", "2", "other", "3");
	/* A key the batch itself set goes too. */
	entry.key = "k3";
	entry.value = one;
	set.op_case = OBJD__OPERATION__OP_SET;
	set.set = &entry;
	del.op_case = OBJD__OPERATION__OP_DELETE_PREFIX;
	del.delete_prefix = "k";
	ck_assert_int_eq(raw_batch(ops, 2), OBJD__STATUS__OK);
	ck_assert_str_eq(CTL_OK(s, "list"), "other\n");

	/* Set after the delete: it stays. */
	ops[0] = &del;
	ops[1] = &set;
	del.delete_prefix = "o";
	ck_assert_int_eq(raw_batch(ops, 2), OBJD__STATUS__OK);
	ck_assert_str_eq(CTL_OK(s, "list"), "k3\n");

	/* Nothing matches: NOT_FOUND, and the set before it is undone. */
	ops[0] = &set;
	ops[1] = &del;
	entry.key = "z";
	del.delete_prefix = "nothing";
	ck_assert_int_eq(raw_batch(ops, 2), OBJD__STATUS__NOT_FOUND);
	del.delete_prefix = "";
	ck_assert_int_eq(raw_batch(ops + 1, 1), OBJD__STATUS__INVALID);
	ck_assert_str_eq(CTL_OK(s, "list"), "k3\n");
	value_free(one);
	e2e_stop(s);
}
END_TEST

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
	tcase_add_test(tc, test_delete_prefix_on_the_wire);
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
