/* SPDX-License-Identifier: ISC */
/* check_load.c: a load too large for one frame, sent in pieces (Batch
 * and Request.stage in objd.proto): one change however many pieces, and
 * none if the load is cut short. End to end, against a real objd. */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"
#include "objd-client.h"
#include "value.h"

static struct session *const s = &e2e_session;

/* Keys in the large documents: about 2 MiB of JSON, past what objctl
 * reads whole (1 MiB) and past the frame limit the tests give objd. */
#define NKEYS 60000
#define FRAME_MAX "256K"

static void
start_small_frames(void)
{
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "never",
		                   "--max-frame", FRAME_MAX) };

	e2e_start_opts(s, &o);
}

static uint64_t
revision(void)
{
	objd_client *c = e2e_client(s);
	Objd__Response *r;
	uint64_t rev;

	ck_assert_int_eq(objd_status(c, &r), OBJD_OK);
	rev = r->info->revision;
	ck_assert_uint_eq(rev, r->revision);
	objd_response_free(r);
	objd_close(c);
	return rev;
}

static uint64_t
nkeys(void)
{
	objd_client *c = e2e_client(s);
	Objd__Response *r;
	uint64_t n;

	ck_assert_int_eq(objd_status(c, &r), OBJD_OK);
	n = r->info->keys;
	objd_response_free(r);
	objd_close(c);
	return n;
}

/* A JSON object of n keys k000000.. whose values are strings tagged
 * with tag; bad_at >= 0 makes that member's value invalid JSON. */
static char *
big_doc(int n, const char *tag, int bad_at)
{
	size_t cap = (size_t)n * 64 + 16, len = 0;
	char *doc = malloc(cap);

	ck_assert_ptr_nonnull(doc);
	len += (size_t)sprintf(doc + len, "{\n");
	for (int i = 0; i < n; i++)
		len += (size_t)sprintf(doc + len,
		    "  \"k%06d\": %s\"%s-%06d-padding\"%s\n", i,
		    i == bad_at ? "[" : "", tag, i, i + 1 < n ? "," : "");
	strcpy(doc + len, "}\n");
	return doc;
}

static void
assert_value(const char *key, const char *want)
{
	char line[128];

	snprintf(line, sizeof(line), "%s\n", want);
	ck_assert_str_eq(CTL_OK(s, "get", key), line);
}

/* A document past the frame limit loads as one change: a watcher sees
 * every key of it at one revision, and the file holds it after a
 * restart. */
START_TEST(test_load_in_pieces)
{
	char *doc = big_doc(NKEYS, "one", -1);
	Objd__Response *first, *r;
	objd_client *w;
	uint64_t rev;
	size_t events = 0;

	start_small_frames();
	CTL_OK(s, "set", "old", "1");
	rev = revision();
	w = e2e_client(s);
	ck_assert_int_eq(objd_watch(w, "", 0, &first), OBJD_OK);
	objd_response_free(first);

	ck_assert_msg(e2e_objctl(s, doc, NULL, E2E_ARGV("load")) == 0,
	    "load: exit %d: %s", s->status, s->err);
	ck_assert_uint_eq(revision(), rev + 1);
	ck_assert_uint_eq(nkeys(), NKEYS);
	CTL_EXIT(s, 1, "get", "old");
	assert_value("k000000", "one-000000-padding");
	assert_value("k059999", "one-059999-padding");

	/* NKEYS sets and the delete of old, all at rev + 1. */
	while (events < NKEYS + 1) {
		ck_assert_int_eq(objd_watch_next(w, &r, E2E_DEADLINE), OBJD_OK);
		for (size_t i = 0; i < r->n_events; i++)
			ck_assert_uint_eq(r->events[i]->revision, rev + 1);
		events += r->n_events;
		objd_response_free(r);
	}
	ck_assert_uint_eq(events, NKEYS + 1);
	objd_close(w);

	/* The same document again changes nothing. */
	ck_assert(e2e_objctl(s, doc, NULL, E2E_ARGV("load")) == 0);
	ck_assert_uint_eq(revision(), rev + 1);

	e2e_stop(s);
	start_small_frames();
	ck_assert_uint_eq(revision(), rev + 1);
	ck_assert_uint_eq(nkeys(), NKEYS);
	assert_value("k031415", "one-031415-padding");
	free(doc);
	e2e_stop(s);
}
END_TEST

/* --merge in pieces sets the document's keys and keeps the others. */
START_TEST(test_load_merge_in_pieces)
{
	char *doc = big_doc(NKEYS, "two", -1);
	uint64_t rev;

	start_small_frames();
	CTL_OK(s, "set", "keep", "1", "k000007", "old");
	rev = revision();
	ck_assert_msg(e2e_objctl(s, doc, NULL, E2E_ARGV("load", "--merge")) ==
	        0,
	    "load --merge: exit %d: %s", s->status, s->err);
	ck_assert_uint_eq(revision(), rev + 1);
	ck_assert_uint_eq(nkeys(), NKEYS + 1);
	assert_value("keep", "1");
	assert_value("k000007", "two-000007-padding");
	free(doc);
	e2e_stop(s);
}
END_TEST

/* A bad member far into the document, or a key given twice across
 * pieces, refuses the whole load: nothing of the pieces before it
 * stays. */
START_TEST(test_load_in_pieces_refused)
{
	char *bad = big_doc(NKEYS, "bad", NKEYS - 10), *twice, *p;
	char *before;
	uint64_t rev;

	start_small_frames();
	CTL_OK(s, "set", "keep", "1");
	before = strdup(CTL_OK(s, "dump"));
	rev = revision();
	ck_assert_int_eq(e2e_objctl(s, bad, NULL, E2E_ARGV("load")), 2);
	ck_assert_msg(strstr(s->err, "nothing was loaded") != NULL &&
	        strstr(s->err, "k059990") != NULL,
	    "stderr: %s", s->err);
	ck_assert_msg(e2e_one_line(s->err), "stderr: %s", s->err);

	/* The first key again as the last one. */
	twice = big_doc(NKEYS, "twice", -1);
	p = strstr(twice, "k059999");
	ck_assert_ptr_nonnull(p);
	memcpy(p, "k000000", 7);
	ck_assert_int_eq(e2e_objctl(s, twice, NULL, E2E_ARGV("load")), 2);
	ck_assert_msg(strstr(s->err, "k000000 is set twice") != NULL,
	    "stderr: %s", s->err);

	ck_assert_uint_eq(revision(), rev);
	ck_assert_str_eq(CTL_OK(s, "dump"), before);
	free(before);
	free(twice);
	free(bad);
	e2e_stop(s);
}
END_TEST

/* A request of n sets a<i>=i, staged or as the batch that ends them. */
static int
send_sets(objd_client *c, const char *prefix, int n, bool stage, bool replace)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Batch b = OBJD__BATCH__INIT;
	Objd__Operation ops[8], *ptrs[8];
	Objd__Entry entries[8];
	Objd__Response *resp;
	char keys[8][16];
	int status;

	ck_assert_int_le(n, 8);
	for (int i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%s%d", prefix, i);
		objd__entry__init(&entries[i]);
		entries[i].key = keys[i];
		entries[i].value = value_new_int(i);
		objd__operation__init(&ops[i]);
		ops[i].op_case = OBJD__OPERATION__OP_SET;
		ops[i].set = &entries[i];
		ptrs[i] = &ops[i];
	}
	b.n_operations = (size_t)n;
	b.operations = ptrs;
	b.replace = replace;
	if (stage) {
		req.op_case = OBJD__REQUEST__OP_STAGE;
		req.stage = &b;
	} else {
		req.op_case = OBJD__REQUEST__OP_BATCH;
		req.batch = &b;
	}
	status = objd_call(c, &req, &resp);
	objd_response_free(resp);
	for (int i = 0; i < n; i++)
		value_free(entries[i].value);
	return status;
}

/* Staged pieces are seen by no one, and go with their client. */
START_TEST(test_staged_pieces_invisible)
{
	objd_client *a, *b;
	Objd__Value *v;
	uint64_t rev;

	start_small_frames();
	CTL_OK(s, "set", "keep", "1");
	rev = revision();
	a = e2e_client(s);
	ck_assert_int_eq(send_sets(a, "a", 3, true, false), OBJD_OK);
	ck_assert_int_eq(send_sets(a, "b", 3, true, false), OBJD_OK);
	b = e2e_client(s);
	ck_assert_int_eq(objd_get(b, "a0", &v), OBJD_NOT_FOUND);
	ck_assert_uint_eq(revision(), rev);
	/* a leaves: its pieces go with it. */
	objd_close(a);
	a = e2e_client(s);
	ck_assert_int_eq(send_sets(a, "c", 1, false, false), OBJD_OK);
	ck_assert_uint_eq(revision(), rev + 1);
	CTL_EXIT(s, 1, "get", "a0");
	CTL_EXIT(s, 1, "get", "b2");

	/* Two pieces and the batch that ends them: one change. */
	ck_assert_int_eq(send_sets(a, "a", 3, true, false), OBJD_OK);
	ck_assert_int_eq(objd_get(b, "a0", &v), OBJD_NOT_FOUND);
	ck_assert_int_eq(send_sets(a, "b", 3, true, false), OBJD_OK);
	ck_assert_int_eq(send_sets(a, "d", 2, false, true), OBJD_OK);
	ck_assert_uint_eq(revision(), rev + 2);
	ck_assert_str_eq(CTL_OK(s, "list"), "a0\na1\na2\nb0\nb1\nb2\nd0\nd1\n");

	/* A piece with replace is refused, and so is the rest. */
	ck_assert_int_eq(send_sets(a, "e", 1, true, true), OBJD_INVALID);
	ck_assert_int_eq(send_sets(a, "f", 1, true, false), OBJD_INVALID);
	ck_assert_int_eq(send_sets(a, "g", 1, false, false), OBJD_INVALID);
	ck_assert_uint_eq(revision(), rev + 2);
	/* and the next batch is a batch again. */
	ck_assert_int_eq(send_sets(a, "h", 1, false, false), OBJD_OK);
	ck_assert_uint_eq(revision(), rev + 3);
	objd_close(a);
	objd_close(b);
	e2e_stop(s);
}
END_TEST

/* A load of large values goes in pieces of one value each: their
 * values, taken into their entries as they are decoded, come back byte
 * for byte, from memory and from the file, at the one revision. */
#define LARGE_KEYS 12
#define LARGE_LEN (100 * 1024)

static char *
large_text(int i)
{
	char *t = malloc(LARGE_LEN + 1);

	ck_assert_ptr_nonnull(t);
	for (size_t j = 0; j < LARGE_LEN; j++)
		t[j] = (char)('a' + (j / 7 + (size_t)i * 5) % 26);
	t[LARGE_LEN] = '\0';
	return t;
}

static void
assert_large_values(void)
{
	objd_client *c = e2e_client(s);

	for (int i = 0; i < LARGE_KEYS; i++) {
		char key[16], *want = large_text(i);
		Objd__Value *v = NULL;

		snprintf(key, sizeof(key), "v%02d", i);
		ck_assert_int_eq(objd_get(c, key, &v), OBJD_OK);
		ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_STRING_VALUE);
		ck_assert_msg(strcmp(v->string_value, want) == 0, "%s differs",
		    key);
		value_free(v);
		free(want);
	}
	objd_close(c);
}

START_TEST(test_load_large_values_in_pieces)
{
	size_t cap = LARGE_KEYS * (LARGE_LEN + 32) + 16, len = 0;
	char *doc = malloc(cap);
	uint64_t rev;

	ck_assert_ptr_nonnull(doc);
	len += (size_t)sprintf(doc + len, "{");
	for (int i = 0; i < LARGE_KEYS; i++) {
		char *t = large_text(i);

		len += (size_t)sprintf(doc + len, "%s\"v%02d\": \"%s\"",
		    i > 0 ? ", " : "", i, t);
		free(t);
	}
	strcpy(doc + len, "}\n");
	start_small_frames();
	CTL_OK(s, "set", "old", "1");
	rev = revision();
	ck_assert_msg(e2e_objctl(s, doc, NULL, E2E_ARGV("load")) == 0,
	    "load: exit %d: %s", s->status, s->err);
	ck_assert_uint_eq(revision(), rev + 1);
	ck_assert_uint_eq(nkeys(), LARGE_KEYS);
	assert_large_values();
	e2e_stop(s);
	start_small_frames();
	ck_assert_uint_eq(revision(), rev + 1);
	assert_large_values();
	free(doc);
	e2e_stop(s);
}
END_TEST

/* objctl killed in the middle of a load leaves the object as it was. */
START_TEST(test_load_killed_midway)
{
	char *doc = big_doc(NKEYS * 2, "cut", -1), *before, env[300];
	const char *objctl = getenv("OBJCTL_BIN");
	int in[2], status;
	size_t len = strlen(doc) - 3 * 65536, off = 0;
	uint64_t rev;
	ssize_t n;
	pid_t pid;

	start_small_frames();
	CTL_OK(s, "set", "keep", "1");
	before = strdup(CTL_OK(s, "dump"));
	rev = revision();
	ck_assert_int_eq(pipe(in), 0);
	snprintf(env, sizeof(env), "OBJD_SOCKET=%s", s->sock);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		close(in[0]);
		close(in[1]);
		putenv(env);
		execl(objctl, "objctl", "load", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	/* Most of the document: objctl has read it, so has sent most of
	 * its pieces, and objd has staged most of those. */
	while (off < len) {
		n = write(in[1], doc + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		ck_assert_int_gt(n, 0);
		off += (size_t)n;
	}
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	close(in[1]);
	ck_assert(WIFSIGNALED(status));

	ck_assert_uint_eq(revision(), rev);
	ck_assert_str_eq(CTL_OK(s, "dump"), before);
	/* objd is none the worse for it. */
	ck_assert(e2e_objctl(s, "{\"after\": 1}", NULL,
	              E2E_ARGV("load", "--merge")) == 0);
	ck_assert_str_eq(CTL_OK(s, "list"), "after\nkeep\n");
	free(before);
	free(doc);
	e2e_stop(s);
}
END_TEST

/* Keys of the load whose memory is measured: large enough that what
 * the load leaves free dwarfs the heap's usual slack. */
#define MEMORY_KEYS 200000

/* objd's RSS once a load of MEMORY_KEYS keys is over, at most 1.3 times
 * its RSS after a restart on the file that load wrote: the memory the
 * load used goes back. What it leaves on purpose, and a restart does
 * not, fits in that: the watch history, for `watch --since`, of its last
 * 100,000 changes. In one frame, and in pieces (small frames). */
START_TEST(test_memory_after_load)
{
	char *doc = big_doc(MEMORY_KEYS, "mem", -1);
	bool pieces = _i == 1;
	struct objd_opts o = { .extra = pieces
		    ? E2E_ARGV("--fsync", "never", "--max-frame", FRAME_MAX)
		    : E2E_ARGV("--fsync", "never") };
	long restarted, bound, loaded = -1;
	double end;

	/* The file of the load, and objd's RSS on it after a restart. */
	e2e_start_opts(s, &o);
	ck_assert(e2e_objctl(s, doc, NULL, E2E_ARGV("load")) == 0);
	e2e_stop(s);
	e2e_start_opts(s, &o);
	ck_assert_uint_eq(nkeys(), MEMORY_KEYS);
	restarted = e2e_objd_kb(s, "VmRSS");
	bound = restarted * 13 / 10;
	e2e_stop(s);
	ck_assert_int_eq(unlink(s->file), 0);

	/* The same load into a new objd; its pages go back soon after. */
	e2e_start_opts(s, &o);
	ck_assert_msg(e2e_objctl(s, doc, NULL, E2E_ARGV("load")) == 0,
	    "load: exit %d: %s", s->status, s->err);
	ck_assert_uint_eq(nkeys(), MEMORY_KEYS);
	for (end = e2e_now() + E2E_DEADLINE; e2e_now() < end; e2e_sleep(0.1)) {
		loaded = e2e_objd_kb(s, "VmRSS");
		if (loaded <= bound)
			break;
	}
	printf("test_memory_after_load (%s): objd's RSS %ld kB after the "
	       "load, %ld kB after a restart on its file\n",
	    pieces ? "in pieces" : "one frame", loaded, restarted);
	if (!E2E_SANITIZED)
		ck_assert_msg(loaded <= bound,
		    "objd's RSS %ld kB after a load, more than 1.3 times "
		    "%ld kB after a restart on its file",
		    loaded, restarted);
	free(doc);
	e2e_stop(s);
}
END_TEST

static Suite *
load_suite(void)
{
	Suite *suite = suite_create("load");
	TCase *tc = tcase_create("pieces");

	tcase_add_checked_fixture(tc, e2e_setup, e2e_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_load_in_pieces);
	tcase_add_test(tc, test_load_merge_in_pieces);
	tcase_add_test(tc, test_load_in_pieces_refused);
	tcase_add_test(tc, test_staged_pieces_invisible);
	tcase_add_test(tc, test_load_large_values_in_pieces);
	tcase_add_test(tc, test_load_killed_midway);
	tcase_add_loop_test(tc, test_memory_after_load, 0, 2);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	return e2e_main(load_suite());
}
