/* SPDX-License-Identifier: ISC */
/* check_small.c: the small things of objctl, end to end: set -x, del
 * --prefix (and its operation on the wire), the request a plain set or
 * del sends, watch --count counting changes, reload saying that objd
 * rejected the file, and many nested paths into one value in one
 * request. */
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

static struct session *const s = &e2e_session;

static uint64_t
revision(void)
{
	objd_client *c = e2e_client(s);
	Objd__Response *r = NULL;
	uint64_t rev;

	ck_assert_int_eq(objd_status(c, &r), OBJD_OK);
	rev = r->info->revision;
	objd_response_free(r);
	objd_close(c);
	return rev;
}

/* The value of key, which must exist; free with value_free(). */
static Objd__Value *
get_value(const char *key)
{
	objd_client *c = e2e_client(s);
	Objd__Value *v = NULL;

	ck_assert_msg(objd_get(c, key, &v) == OBJD_OK, "get %s: %s", key,
	    objd_client_error(c));
	objd_close(c);
	return v;
}

/* Runs `objctl set -x KEY < DIR/input` with input holding buf, through
 * the shell, so that the input may hold any byte; returns the exit. */
static int
set_stdin(const char *key, const void *buf, size_t len, const char *more)
{
	const char *in = e2e_path(s, "input");
	char cmd[1024];

	e2e_write_file(in, buf, len);
	snprintf(cmd, sizeof(cmd),
	    "exec \"%s\" --socket '%s' set -x %s '%s' < '%s'",
	    getenv("OBJCTL_BIN"), s->sock, more, key, in);
	return e2e_run(s, E2E_ARGV("/bin/sh", "-c", cmd));
}

START_TEST(test_set_stdin)
{
	static const uint8_t binary[] = { 'a', 0, 'b', 0xff, '\n' };
	static const char text[] = "line one\nligne deux, \xc3\xa9t\xc3\xa9\n";
	Objd__Value *v;
	uint8_t *big;
	size_t biglen = 3 * 1024 * 1024;

	e2e_start(s);
	/* Text, exactly as read: the last newline is part of it. */
	ck_assert_int_eq(set_stdin("t", text, strlen(text), ""), 0);
	v = get_value("t");
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_STRING_VALUE);
	ck_assert_str_eq(v->string_value, text);
	value_free(v);

	/* NUL or bytes that are not UTF-8: bytes. */
	ck_assert_int_eq(set_stdin("bin", binary, sizeof(binary), ""), 0);
	v = get_value("bin");
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_BYTES_VALUE);
	ck_assert_uint_eq(v->bytes_value.len, sizeof(binary));
	ck_assert_mem_eq(v->bytes_value.data, binary, sizeof(binary));
	value_free(v);

	/* Empty input: the empty string. */
	ck_assert_int_eq(set_stdin("empty", "", 0, ""), 0);
	v = get_value("empty");
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_STRING_VALUE);
	ck_assert_str_eq(v->string_value, "");
	value_free(v);

	/* A large input, into a nested path. */
	big = malloc(biglen);
	ck_assert_ptr_nonnull(big);
	for (size_t i = 0; i < biglen; i++)
		big[i] = (uint8_t)(i * 7);
	ck_assert_int_eq(set_stdin("m.big", big, biglen, ""), 0);
	v = get_value("m.big");
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_BYTES_VALUE);
	ck_assert_uint_eq(v->bytes_value.len, biglen);
	ck_assert_mem_eq(v->bytes_value.data, big, biglen);
	value_free(v);
	free(big);

	/* Conditions as for set. */
	ck_assert_int_eq(set_stdin("t", "x", 1, "--if-absent"), 4);
	ck_assert_int_eq(set_stdin("new", "x", 1, "--if-absent"), 0);
	ck_assert_int_eq(set_stdin("new", "y", 1, "--if-revision 1"), 4);

	/* One KEY, and no --string. */
	CTL_EXIT(s, 2, "set", "-x", "a", "b");
	CTL_EXIT(s, 2, "set", "-x", "--string", "a");
	e2e_stop(s);
}
END_TEST

START_TEST(test_del_prefix)
{
	char since[32], line[64];
	uint64_t rev;

	e2e_start(s);
	CTL_OK(s, "set", "app1", "1", "app2.x", "2", "apple", "3", "b", "4");
	rev = revision();
	CTL_OK(s, "del", "--prefix", "app");
	ck_assert_str_eq(CTL_OK(s, "list"), "b\n");
	ck_assert_uint_eq(revision(), rev + 1);

	/* One change: a delete per key, all at one revision. */
	snprintf(since, sizeof(since), "%" PRIu64, rev);
	CTL_OK(s, "watch", "--since", since, "--count", "1");
	snprintf(line, sizeof(line),
	    "%" PRIu64 " delete app1\n%" PRIu64 " delete app2\n%" PRIu64
	    " delete apple\n",
	    rev + 1, rev + 1, rev + 1);
	ck_assert_str_eq(s->out, line);

	/* No key under it is exit 1, as del of a missing key; nothing
	 * changes. An empty prefix is a usage error. */
	CTL_EXIT(s, 1, "del", "--prefix", "app");
	ck_assert_msg(strstr(s->err, "no key starts with app") != NULL,
	    "stderr: %s", s->err);
	ck_assert_uint_eq(revision(), rev + 1);
	CTL_EXIT(s, 2, "del", "--prefix", "");
	CTL_EXIT(s, 2, "del", "--prefix", "b", "b");
	CTL_EXIT(s, 2, "del", "--prefix", "b", "--if-absent");
	CTL_EXIT(s, 2, "del");
	ck_assert_str_eq(CTL_OK(s, "list"), "b\n");
	e2e_stop(s);
}
END_TEST

/* How many requests of kind ("set", "delete", "batch") objd's debug log
 * names so far. objd logs a request before it handles it, and a client
 * has its answer only after that, so the count is whole once objctl has
 * exited. */
static int
requests_of(const char *kind)
{
	char *log = e2e_read_file(s->log, NULL), pat[32];
	const char *p = log;
	int n = 0;

	ck_assert_ptr_nonnull(log);
	snprintf(pat, sizeof(pat), ": %s #", kind);
	while ((p = strstr(p, pat)) != NULL) {
		n++;
		p += strlen(pat);
	}
	free(log);
	return n;
}

static void
kinds_are(int line, int sets, int deletes, int batches)
{
	int n[3] = { requests_of("set"), requests_of("delete"),
		requests_of("batch") };

	if (n[0] != sets || n[1] != deletes || n[2] != batches)
		e2e_fail(__FILE__, line,
		    "objd saw %d set, %d delete and %d batch requests, not "
		    "%d, %d and %d:\n%s",
		    n[0], n[1], n[2], sets, deletes, batches, e2e_log_tail(s));
}

#define KINDS(sets, deletes, batches)                                          \
	kinds_are(__LINE__, (sets), (deletes), (batches))

/* A plain set or del of objctl sends the request that libobjd's
 * objd_set() and objd_delete() send, so that both take one path through
 * objd: Set and Delete, with many keys and conditions too, and whether
 * objd takes the change or refuses it. --ttl, which libobjd offers on a
 * batch only, and del --prefix go as a Batch. objd names each request
 * it reads in its debug log. */
START_TEST(test_plain_writes_take_set_and_delete)
{
	const struct objd_opts o = { .extra =
		                         E2E_ARGV("--log-level", "debug") };
	const char *key = "lib";
	Objd__Value *v;
	objd_client *c;

	e2e_start_opts(s, &o);
	KINDS(0, 0, 0);
	CTL_OK(s, "set", "a", "1");
	KINDS(1, 0, 0);
	CTL_OK(s, "set", "b", "2", "c", "x");
	KINDS(2, 0, 0);
	CTL_OK(s, "set", "--if-absent", "d", "1");
	KINDS(3, 0, 0);
	CTL_EXIT(s, 4, "set", "--if-revision", "1", "b", "3");
	KINDS(4, 0, 0);
	ck_assert_int_eq(
	    e2e_objctl(s, "text", NULL, E2E_ARGV("set", "-x", "e")), 0);
	KINDS(5, 0, 0);
	CTL_OK(s, "del", "d");
	KINDS(5, 1, 0);
	CTL_OK(s, "del", "--if-revision", "2", "b", "c");
	KINDS(5, 2, 0);
	CTL_EXIT(s, 1, "del", "a", "nope");
	KINDS(5, 3, 0);
	/* revert sets a key back, or deletes it, as one plain write. */
	CTL_OK(s, "set", "a", "5");
	CTL_OK(s, "revert", "a", "1");
	KINDS(7, 3, 0);
	CTL_OK(s, "revert", "e", "1");
	KINDS(7, 4, 0);
	CTL_OK(s, "set", "--ttl", "100", "t", "1");
	KINDS(7, 4, 1);
	CTL_OK(s, "del", "--prefix", "t");
	KINDS(7, 4, 2);
	ck_assert_str_eq(CTL_OK(s, "list"), "a\n");
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "1\n");

	/* libobjd's own calls: the same kinds. */
	c = e2e_client(s);
	v = value_new_int(1);
	ck_assert_int_eq(objd_set(c, &key, (const Objd__Value *const *)&v, 1),
	    OBJD_OK);
	KINDS(8, 4, 2);
	ck_assert_int_eq(objd_delete(c, &key, 1), OBJD_OK);
	KINDS(8, 5, 2);
	value_free(v);
	objd_close(c);
	e2e_stop(s);
}
END_TEST

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

/* Many paths into one value in one request: objd keeps the value decoded
 * for the request and indexes its maps, and must give what path by path
 * gave, through a map replaced, a nested delete and errors. */
START_TEST(test_nested_paths_in_one_request)
{
	enum { MEMBERS = 300 };
	objd_op ops[MEMBERS + 8];
	Objd__Value *vals[MEMBERS + 8];
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Get get = OBJD__GET__INIT;
	Objd__Response *resp = NULL;
	char *keys[MEMBERS + 8], *gkeys[4], deep[256], err[128];
	objd_client *c;
	size_t n = 0;

#define OP(k, json)                                                            \
	do {                                                                   \
		keys[n] = strdup(k);                                           \
		vals[n] = objd_value_from_json((json), err, sizeof(err));      \
		ck_assert_msg(vals[n] != NULL, "%s: %s", (json), err);         \
		ops[n].key = keys[n];                                          \
		ops[n].value = vals[n];                                        \
		n++;                                                           \
	} while (0)

	e2e_start(s);
	CTL_OK(s, "set", "m", "{\"old\": 1, \"a\": {\"q\": 0}}");
	c = e2e_client(s);
	OP("m.a.x", "1");
	OP("m.a.y", "2");
	OP("m.a", "{\"z\": 1}");
	OP("m.a.w", "3");
	OP("m.b.c.d", "4");
	for (int i = 0; i < MEMBERS; i++) {
		char k[32], v[32];

		snprintf(k, sizeof(k), "m.k%d", i);
		snprintf(v, sizeof(v), "%d", i);
		OP(k, v);
	}
	OP("m.k5", "\"five\"");
	keys[n] = strdup("m.k6");
	ops[n].key = keys[n];
	ops[n].value = NULL; /* a nested delete */
	vals[n++] = NULL;
	OP("m.n.x", "7");
	ck_assert_msg(objd_batch(c, ops, n, NULL, 0, false) == OBJD_OK,
	    "batch: %s", objd_client_error(c));
	CTL_OK(s, "get", "m.a");
	ck_assert_msg(e2e_json_same(s->out, "{\"z\": 1, \"w\": 3}"), "m.a: %s",
	    s->out);
	ck_assert_str_eq(CTL_OK(s, "get", "m.b.c.d"), "4\n");
	ck_assert_str_eq(CTL_OK(s, "get", "m.k5"), "five\n");
	CTL_EXIT(s, 1, "get", "m.k6");
	CTL_OK(s, "get", "m.n");
	ck_assert_msg(e2e_json_same(s->out, "{\"x\": 7}"), "m.n: %s", s->out);
	ck_assert_str_eq(CTL_OK(s, "get", "m.old"), "1\n");
	ck_assert_str_eq(CTL_OK(s, "get", "m.k299"), "299\n");

	/* A get of several paths into it. */
	gkeys[0] = "m.k299";
	gkeys[1] = "m.a.w";
	gkeys[2] = "m.k0";
	gkeys[3] = "m.b";
	get.n_keys = 4;
	get.keys = gkeys;
	req.op_case = OBJD__REQUEST__OP_GET;
	req.get = &get;
	ck_assert_int_eq(objd_call(c, &req, &resp), OBJD_OK);
	ck_assert_uint_eq(resp->n_entries, 4);
	ck_assert_int_eq(resp->entries[0]->value->int_value, 299);
	ck_assert_int_eq(resp->entries[1]->value->int_value, 3);
	ck_assert_int_eq(resp->entries[2]->value->int_value, 0);
	ck_assert_int_eq(resp->entries[3]->value->kind_case,
	    OBJD__VALUE__KIND_MAP_VALUE);
	objd_response_free(resp);
	resp = NULL;
	gkeys[1] = "m.nope";
	ck_assert_int_eq(objd_call(c, &req, &resp), OBJD_NOT_FOUND);
	objd_response_free(resp);
	for (size_t i = 0; i < n; i++) {
		free(keys[i]);
		value_free(vals[i]);
	}

	/* Through a member that is not a map, and too deep: nothing
	 * changes. */
	n = 0;
	OP("m.k1.x", "1");
	ck_assert_int_eq(objd_batch(c, ops, n, NULL, 0, false), OBJD_INVALID);
	ck_assert_msg(strstr(objd_client_error(c), "not a map") != NULL, "%s",
	    objd_client_error(c));
	strcpy(deep, "d");
	for (int i = 1; i < 64; i++)
		strcat(deep, ".x");
	OP(deep, "1");
	ops[0] = ops[1];
	ck_assert_int_eq(objd_batch(c, ops, 1, NULL, 0, false), OBJD_OK);
	vals[2] = objd_value_from_json("{\"a\": 1}", err, sizeof(err));
	ops[0].value = vals[2];
	ck_assert_int_eq(objd_batch(c, ops, 1, NULL, 0, false), OBJD_INVALID);
	ck_assert_msg(strstr(objd_client_error(c), "deeper") != NULL, "%s",
	    objd_client_error(c));
	for (size_t i = 0; i < 3; i++)
		value_free(vals[i]);
	free(keys[0]);
	free(keys[1]);
	ck_assert_str_eq(CTL_OK(s, "get", "m.k1"), "1\n");
	objd_close(c);
	e2e_stop(s);
#undef OP
}
END_TEST

static Suite *
small_suite(void)
{
	Suite *suite = suite_create("small");
	TCase *tc = tcase_create("small");

	tcase_add_checked_fixture(tc, e2e_setup, e2e_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_set_stdin);
	tcase_add_test(tc, test_del_prefix);
	tcase_add_test(tc, test_plain_writes_take_set_and_delete);
	tcase_add_test(tc, test_delete_prefix_on_the_wire);
	tcase_add_test(tc, test_watch_count_changes);
	tcase_add_test(tc, test_reload_after_rejection);
	tcase_add_test(tc, test_nested_paths_in_one_request);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	return e2e_main(small_suite());
}
