/* SPDX-License-Identifier: ISC */
/* check_access.c: who may use objd (server/access.c), and what each
 * level may run through the request table (server/request.c).
 *
 * The peer's supplementary groups come from its socket; these tests pass
 * no socket (fd -1), so a peer is judged by its uid and primary group,
 * which is the rule for a peer whose groups cannot be read. */
#include <check.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objd.h"

/* objd's state lives in main.c, which the tests do not link. */
struct server server;
struct objd_options options;

#define NO_FD (-1)

static void
allow(const char *spec, enum access_level level)
{
	char err[256];

	ck_assert_msg(access_allow(spec, level, err, sizeof(err)) == 0,
	    "access_allow(%s): %s", spec, err);
}

static void
teardown(void)
{
	access_free();
}

/* A uid that is neither root nor the one running the tests. */
#define STRANGER ((uid_t)4242)
#define STRANGER_GID ((gid_t)4242)

START_TEST(test_root_and_self_always_write)
{
	ck_assert_int_eq(access_of_peer(NO_FD, 0, 0), ACCESS_WRITE);
	ck_assert_int_eq(access_of_peer(NO_FD, geteuid(), getegid()),
	    ACCESS_WRITE);
	ck_assert(!access_admits_others());
}
END_TEST

START_TEST(test_others_none_by_default)
{
	ck_assert_int_eq(access_of_peer(NO_FD, STRANGER, STRANGER_GID),
	    ACCESS_NONE);
	/* SO_PEERCRED failed: nobody known, so nothing allowed. */
	allow("*", ACCESS_WRITE);
	ck_assert_int_eq(access_of_peer(NO_FD, (uid_t)-1, (gid_t)-1),
	    ACCESS_NONE);
}
END_TEST

START_TEST(test_users_by_id)
{
	allow("4242", ACCESS_READ);
	allow("4343", ACCESS_WRITE);
	ck_assert(access_admits_others());
	ck_assert_int_eq(access_of_peer(NO_FD, 4242, 1), ACCESS_READ);
	ck_assert_int_eq(access_of_peer(NO_FD, 4343, 1), ACCESS_WRITE);
	ck_assert_int_eq(access_of_peer(NO_FD, 4444, 1), ACCESS_NONE);
}
END_TEST

START_TEST(test_user_by_name)
{
	struct passwd *pw;
	char name[256] = "";
	uid_t uid = 0;

	setpwent();
	while ((pw = getpwent()) != NULL)
		if (pw->pw_uid != 0 && pw->pw_uid != geteuid() &&
		    strlen(pw->pw_name) < sizeof(name)) {
			strcpy(name, pw->pw_name);
			uid = pw->pw_uid;
			break;
		}
	endpwent();
	ck_assert_msg(name[0] != '\0', "no user but root and the tester");
	allow(name, ACCESS_READ);
	ck_assert_int_eq(access_of_peer(NO_FD, uid, STRANGER_GID), ACCESS_READ);
	ck_assert_int_eq(access_of_peer(NO_FD, STRANGER, STRANGER_GID),
	    ACCESS_NONE);
}
END_TEST

START_TEST(test_groups)
{
	/* A group by number, and by name: root's group is 0 everywhere. */
	allow("@4545", ACCESS_WRITE);
	allow("@root", ACCESS_READ);
	ck_assert_int_eq(access_of_peer(NO_FD, STRANGER, 4545), ACCESS_WRITE);
	ck_assert_int_eq(access_of_peer(NO_FD, STRANGER, 0), ACCESS_READ);
	ck_assert_int_eq(access_of_peer(NO_FD, STRANGER, STRANGER_GID),
	    ACCESS_NONE);
}
END_TEST

START_TEST(test_anyone_and_highest_wins)
{
	allow(" * ", ACCESS_READ);
	ck_assert_int_eq(access_of_peer(NO_FD, STRANGER, STRANGER_GID),
	    ACCESS_READ);
	/* The highest level of the rules that match, in any order. */
	allow("4343, @4545", ACCESS_WRITE);
	allow("4343", ACCESS_READ);
	ck_assert_int_eq(access_of_peer(NO_FD, 4343, STRANGER_GID),
	    ACCESS_WRITE);
	ck_assert_int_eq(access_of_peer(NO_FD, STRANGER, 4545), ACCESS_WRITE);
	ck_assert_int_eq(access_of_peer(NO_FD, STRANGER, STRANGER_GID),
	    ACCESS_READ);
}
END_TEST

START_TEST(test_allow_errors)
{
	char err[256];

	ck_assert_int_eq(
	    access_allow("4242,,4343", ACCESS_READ, err, sizeof(err)), -1);
	ck_assert_str_eq(err,
	    "an empty name in '4242,,4343' (names are separated by commas)");
	ck_assert_int_eq(
	    access_allow("objd-no-such-user", ACCESS_READ, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err,
	    "no user named 'objd-no-such-user' (a group is written @name)");
	ck_assert_int_eq(
	    access_allow("@objd-no-such-group", ACCESS_WRITE, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "no group named 'objd-no-such-group'");
	/* A uid must fit: 4294967295 is (uid_t)-1, the unknown peer. */
	ck_assert_int_eq(
	    access_allow("4294967295", ACCESS_READ, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_level_names)
{
	ck_assert_str_eq(access_level_name(ACCESS_NONE), "none");
	ck_assert_str_eq(access_level_name(ACCESS_READ), "read-only");
	ck_assert_str_eq(access_level_name(ACCESS_WRITE), "read-write");
}
END_TEST

START_TEST(test_may_by_flags)
{
	const unsigned flags[] = { 0, REQ_WRITES, REQ_WRITES | REQ_BATCHED };

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		ck_assert_int_eq(access_may(ACCESS_WRITE, flags[i]),
		    ACCESS_MAY);
		ck_assert_int_eq(access_may(ACCESS_NONE, flags[i]),
		    ACCESS_NOT_ADMITTED);
	}
	ck_assert_int_eq(access_may(ACCESS_READ, 0), ACCESS_MAY);
	ck_assert_int_eq(access_may(ACCESS_READ, REQ_WRITES),
	    ACCESS_ONLY_READS);
	ck_assert_int_eq(access_may(ACCESS_READ, REQ_WRITES | REQ_BATCHED),
	    ACCESS_ONLY_READS);
}
END_TEST

/* Each kind of request, and whether it writes: a read-only peer may run
 * exactly the ones that do not. */
static const struct {
	Objd__Request__OpCase op;
	const char *name;
	bool writes, batched;
} kinds[] = {
	{ OBJD__REQUEST__OP_GET, "get", false, false },
	{ OBJD__REQUEST__OP_SET, "set", true, true },
	{ OBJD__REQUEST__OP_DELETE, "delete", true, true },
	{ OBJD__REQUEST__OP_LIST, "list", false, false },
	{ OBJD__REQUEST__OP_PING, "ping", false, false },
	{ OBJD__REQUEST__OP_STATUS, "status", false, false },
	{ OBJD__REQUEST__OP_RELOAD, "reload", true, false },
	{ OBJD__REQUEST__OP_COMPACT, "compact", true, false },
	{ OBJD__REQUEST__OP_BATCH, "batch", true, true },
	{ OBJD__REQUEST__OP_WATCH, "watch", false, false },
	{ OBJD__REQUEST__OP_STAGE, "stage", true, true },
	{ OBJD__REQUEST__OP_HISTORY, "history", false, false },
};

START_TEST(test_kinds)
{
	const struct request_kind *k = request_kind_of(kinds[_i].op);

	ck_assert_ptr_nonnull(k);
	ck_assert(k->exec != NULL);
	ck_assert_int_eq(k->op, kinds[_i].op);
	ck_assert_str_eq(k->name, kinds[_i].name);
	ck_assert_int_eq(!!(k->flags & REQ_WRITES), kinds[_i].writes);
	ck_assert_int_eq(!!(k->flags & REQ_BATCHED), kinds[_i].batched);
	ck_assert_int_eq(access_may(ACCESS_WRITE, k->flags), ACCESS_MAY);
	ck_assert_int_eq(access_may(ACCESS_READ, k->flags),
	    kinds[_i].writes ? ACCESS_ONLY_READS : ACCESS_MAY);
	ck_assert_int_eq(access_may(ACCESS_NONE, k->flags),
	    ACCESS_NOT_ADMITTED);
}
END_TEST

START_TEST(test_every_kind_listed)
{
	size_t n = 0;

	ck_assert_ptr_null(request_kind_of(OBJD__REQUEST__OP__NOT_SET));
	ck_assert_ptr_null(request_kind_of((Objd__Request__OpCase)1));
	ck_assert_ptr_null(request_kind_of((Objd__Request__OpCase)1000));
	/* Every case of Request.op has a row, and the list above has them
	 * all. */
	for (unsigned i = 0; i < objd__request__descriptor.n_fields; i++) {
		const ProtobufCFieldDescriptor *f =
		    &objd__request__descriptor.fields[i];

		if (f->id == 1) /* id */
			continue;
		ck_assert_msg(request_kind_of((Objd__Request__OpCase)f->id) !=
		        NULL,
		    "Request.%s has no row in the table", f->name);
		n++;
	}
	ck_assert_uint_eq(n, sizeof(kinds) / sizeof(kinds[0]));
}
END_TEST

START_TEST(test_refusal_texts)
{
	char buf[256];

	ck_assert_str_eq(access_verdict_reason(ACCESS_ONLY_READS),
	    "it may only read");
	ck_assert_str_eq(access_verdict_reason(ACCESS_NOT_ADMITTED),
	    "no --allow-rw or --allow-ro admits it");
	access_refusal(ACCESS_ONLY_READS, 4242, "set", buf, sizeof(buf));
	ck_assert_str_eq(buf,
	    "permission denied: uid 4242 may only read from this objd, and a "
	    "set request writes (objd --allow-rw lets a user write)");
	access_refusal(ACCESS_NOT_ADMITTED, 4343, "get", buf, sizeof(buf));
	ck_assert_str_eq(buf,
	    "permission denied: uid 4343 may not use this objd (see its "
	    "--allow-ro and --allow-rw)");
}
END_TEST

START_TEST(test_socket_mode)
{
	mode_t mode = 0;
	char err[256];

	ck_assert_int_eq(access_parse_mode("0660", &mode, err, sizeof(err)), 0);
	ck_assert_uint_eq(mode, 0660);
	ck_assert_int_eq(access_parse_mode("600", &mode, err, sizeof(err)), 0);
	ck_assert_uint_eq(mode, 0600);
	ck_assert_int_eq(access_parse_mode("0640x", &mode, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err,
	    "--socket-mode wants an octal mode such as 0600 or 0660, not "
	    "'0640x'");
	ck_assert_int_eq(access_parse_mode("01777", &mode, err, sizeof(err)),
	    -1);
	ck_assert_int_eq(access_parse_mode("-600", &mode, err, sizeof(err)),
	    -1);
	ck_assert_int_eq(access_parse_mode("0460", &mode, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err,
	    "--socket-mode 0460 would lock out objd's own user: it must "
	    "include 0600");
	ck_assert_uint_eq(mode, 0600);
}
END_TEST

START_TEST(test_socket_group)
{
	gid_t gid = 1;
	char err[256];

	ck_assert_int_eq(access_parse_group("root", &gid, err, sizeof(err)), 0);
	ck_assert_uint_eq(gid, 0);
	ck_assert_int_eq(access_parse_group("@4545", &gid, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(gid, 4545);
	ck_assert_int_eq(
	    access_parse_group("@objd-no-such-group", &gid, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err,
	    "--socket-group: no group named 'objd-no-such-group'");
	ck_assert_uint_eq(gid, 4545);
}
END_TEST

static Suite *
access_suite(void)
{
	Suite *s = suite_create("access");
	TCase *tc;

	tc = tcase_create("policy");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_root_and_self_always_write);
	tcase_add_test(tc, test_others_none_by_default);
	tcase_add_test(tc, test_users_by_id);
	tcase_add_test(tc, test_user_by_name);
	tcase_add_test(tc, test_groups);
	tcase_add_test(tc, test_anyone_and_highest_wins);
	tcase_add_test(tc, test_allow_errors);
	tcase_add_test(tc, test_level_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("requests");
	tcase_add_test(tc, test_may_by_flags);
	tcase_add_loop_test(tc, test_kinds, 0,
	    sizeof(kinds) / sizeof(kinds[0]));
	tcase_add_test(tc, test_every_kind_listed);
	tcase_add_test(tc, test_refusal_texts);
	suite_add_tcase(s, tc);

	tc = tcase_create("socket");
	tcase_add_test(tc, test_socket_mode);
	tcase_add_test(tc, test_socket_group);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(access_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
