/* SPDX-License-Identifier: ISC */
/* check_protocol.c: revisions, compare-and-set, batches, watch, key
 * paths, dump and load, and pipelining, end to end.
 *
 * Like check_e2e, every test starts the objd built here on a folder of
 * its own and drives it with objctl, libobjd and raw bytes. Helpers that
 * run in forked children never call Check: they report through their
 * exit status or a pipe. */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "framing.h"
#include "harness.h"
#include "json.h"
#include "objd-client.h"
#include "value.h"

static struct session *const s = &e2e_session;

/* objd without fsync: the tests that make thousands of changes test the
 * protocol, not the disk. */
static void
start_fast(void)
{
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "never") };

	e2e_start_opts(s, &o);
}

/* The cap on a client's unread answers in the slow watcher tests, and
 * how many changes of BIG bytes go well past it. */
#define OUTPUT_MAX "4M"
#define BIG (1 << 20)
#define PAST_THE_CAP 16

static void
start_capped(void)
{
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "never",
		                   "--max-client-output", OUTPUT_MAX) };

	e2e_start_opts(s, &o);
}

/* Sets key to a new value of BIG bytes, n times. */
static void
write_big(objd_client *c, const char *key, int n)
{
	uint8_t *blob = malloc(BIG);

	ck_assert_ptr_nonnull(blob);
	memset(blob, 'x', BIG);
	for (int i = 0; i < n; i++) {
		Objd__Value *v;

		memcpy(blob, &i, sizeof(i));
		v = value_new_bytes(blob, BIG);
		ck_assert_msg(objd_set(c, &key, (const Objd__Value *const *)&v,
		                  1) == OBJD_OK,
		    "write %d: %s", i, objd_client_error(c));
		value_free(v);
	}
	free(blob);
}

/* A libobjd connection to the session's objd. */
/* The object's revision and the commits objd has written, from status. */
static void
status_counts(uint64_t *rev, uint64_t *ncommits)
{
	objd_client *c = e2e_client(s);
	Objd__Response *r = NULL;

	ck_assert_msg(objd_status(c, &r) == OBJD_OK, "objd_status: %s",
	    objd_client_error(c));
	*rev = r->info->revision;
	*ncommits = r->info->commits;
	objd_response_free(r);
	objd_close(c);
}

static uint64_t
revision(void)
{
	uint64_t rev, ncommits;

	status_counts(&rev, &ncommits);
	return rev;
}

static uint64_t
parse_u64(const char *text)
{
	char *end;
	uint64_t n;

	errno = 0;
	n = strtoull(text, &end, 10);
	ck_assert_msg(errno == 0 && end != text, "not a number: '%s'", text);
	return n;
}

/* The number after "name: " in text, which must be there. */
static uint64_t
field_u64(const char *text, const char *name)
{
	const char *p = strstr(text, name);

	ck_assert_msg(p != NULL, "no '%s' in:\n%s", name, text);
	return parse_u64(p + strlen(name));
}

/*
 * Raw connections that keep the bytes past a frame, for pipelining and
 * for watches.
 */
struct raw {
	int fd;
	uint8_t *buf;
	size_t len;
	size_t cap;
};

static void
raw_open(struct raw *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = e2e_raw_connect(s);
}

static void
raw_close(struct raw *r)
{
	if (r->fd != -1)
		close(r->fd);
	free(r->buf);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/* Appends the frame of req to buf[*len ..), growing it. */
static void
frame_append(uint8_t **buf, size_t *len, Objd__Request *req)
{
	size_t n;
	uint8_t *f = frame_pack(&req->base, &n);

	*buf = realloc(*buf, *len + n);
	ck_assert_ptr_nonnull(*buf);
	memcpy(*buf + *len, f, n);
	*len += n;
	free(f);
}

/* The next answer: RAW_ANSWER with *resp, RAW_CLOSED at the end of the
 * stream between frames, RAW_TIMEOUT, or RAW_GARBAGE. */
static enum raw_outcome
raw_next(struct raw *r, double timeout, Objd__Response **resp)
{
	double end = e2e_now() + timeout;
	size_t hlen, blen;
	ssize_t n;

	*resp = NULL;
	for (;;) {
		switch (frame_parse_header(r->buf, r->len, FRAME_MAX_DEFAULT,
		    &hlen, &blen)) {
		case FRAME_OK:
			if (r->len < hlen + blen)
				break;
			*resp =
			    objd__response__unpack(NULL, blen, r->buf + hlen);
			memmove(r->buf, r->buf + hlen + blen,
			    r->len - hlen - blen);
			r->len -= hlen + blen;
			return *resp != NULL ? RAW_ANSWER : RAW_GARBAGE;
		case FRAME_SHORT:
			break;
		default:
			return RAW_GARBAGE;
		}
		if (r->cap - r->len < 65536) {
			r->cap = r->cap == 0 ? 1 << 20 : r->cap * 2;
			r->buf = realloc(r->buf, r->cap);
			ck_assert_ptr_nonnull(r->buf);
		}
		struct pollfd pfd = { r->fd, POLLIN, 0 };
		double left = end - e2e_now();

		if (left <= 0)
			return RAW_TIMEOUT;
		if (poll(&pfd, 1, (int)(left * 1000) + 1) == 0)
			continue;
		n = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return r->len == 0 ? RAW_CLOSED : RAW_GARBAGE;
		r->len += (size_t)n;
	}
}

/* Objd__Request builders for raw requests; the parts live in *keep. */
struct reqbuf {
	Objd__Request req;
	Objd__Set set;
	Objd__Get get;
	Objd__Ping ping;
	Objd__Reload reload;
	Objd__Watch watch;
	Objd__Entry entry, *entries[1];
	char *keys[1];
};

static Objd__Request *
req_set(struct reqbuf *b, uint64_t id, const char *key, Objd__Value *v)
{
	memset(b, 0, sizeof(*b));
	objd__request__init(&b->req);
	objd__set__init(&b->set);
	objd__entry__init(&b->entry);
	b->entry.key = (char *)key;
	b->entry.value = v;
	b->entries[0] = &b->entry;
	b->set.n_entries = 1;
	b->set.entries = b->entries;
	b->req.id = id;
	b->req.op_case = OBJD__REQUEST__OP_SET;
	b->req.set = &b->set;
	return &b->req;
}

static Objd__Request *
req_get(struct reqbuf *b, uint64_t id, const char *key)
{
	memset(b, 0, sizeof(*b));
	objd__request__init(&b->req);
	objd__get__init(&b->get);
	b->keys[0] = (char *)key;
	b->get.n_keys = 1;
	b->get.keys = b->keys;
	b->req.id = id;
	b->req.op_case = OBJD__REQUEST__OP_GET;
	b->req.get = &b->get;
	return &b->req;
}

static Objd__Request *
req_reload(struct reqbuf *b, uint64_t id)
{
	memset(b, 0, sizeof(*b));
	objd__request__init(&b->req);
	objd__reload__init(&b->reload);
	b->req.id = id;
	b->req.op_case = OBJD__REQUEST__OP_RELOAD;
	b->req.reload = &b->reload;
	return &b->req;
}

static Objd__Request *
req_ping(struct reqbuf *b, uint64_t id)
{
	memset(b, 0, sizeof(*b));
	objd__request__init(&b->req);
	objd__ping__init(&b->ping);
	b->req.id = id;
	b->req.op_case = OBJD__REQUEST__OP_PING;
	b->req.ping = &b->ping;
	return &b->req;
}

static Objd__Request *
req_watch(struct reqbuf *b, uint64_t id, const char *prefix, uint64_t since)
{
	memset(b, 0, sizeof(*b));
	objd__request__init(&b->req);
	objd__watch__init(&b->watch);
	b->watch.prefix = (char *)prefix;
	b->watch.since = since;
	b->req.id = id;
	b->req.op_case = OBJD__REQUEST__OP_WATCH;
	b->req.watch = &b->watch;
	return &b->req;
}

/*
 * Compare-and-set.
 */

/* Reads one byte from fd, or 0 at the end or on an error. */
static char
pipe_get(int fd)
{
	char c;

	while (read(fd, &c, 1) == -1)
		if (errno != EINTR)
			return 0;
	return c;
}

static void
pipe_put(int fd, char c)
{
	while (write(fd, &c, 1) == -1)
		if (errno != EINTR)
			return;
}

/* A racer, in a child process with its own connection. On 'r' it reads
 * the revision of "cas" and answers 'd'; on 'w' it sets "cas" to
 * id * 1000000 + round if the revision is still the one it read, and
 * answers '1' (it won), '0' (conflict) or 'e'; on 'q' it exits. */
static _Noreturn void
racer(int id, int in, int out)
{
	Objd__Value *v = NULL;
	objd_client *c = NULL;
	const char *key = "cas";
	uint64_t rev = 0;
	int round = 0, st;
	char cmd;

	if (objd_connect(s->sock, E2E_DEADLINE, &c, NULL, 0) != OBJD_OK)
		_exit(2);
	while ((cmd = pipe_get(in)) != 'q' && cmd != 0) {
		if (cmd == 'r') {
			st = objd_get_meta(c, key, &v, &rev);
			objd_value_free(v);
			pipe_put(out, st == OBJD_OK ? 'd' : 'e');
			continue;
		}
		objd_cond cond = { .key = key, .revision = rev };

		v = objd_value_new_int((int64_t)id * 1000000 + round++);
		st = objd_set_if(c, &key, (const Objd__Value *const *)&v, 1,
		    &cond, 1);
		objd_value_free(v);
		pipe_put(out,
		    st == OBJD_OK             ? '1'
		        : st == OBJD_CONFLICT ? '0'
		                              : 'e');
	}
	objd_close(c);
	_exit(0);
}

/* A counter, in a child: once go[0] reaches its end, adds 1 to
 * "counter" n times, reading and then writing under a condition on the
 * revision it read, again on each conflict. Exits 0, or 1 on any other
 * outcome. */
static _Noreturn void
incrementer(int n, const int go[2])
{
	const char *key = "counter";
	Objd__Value *v = NULL, *nv;
	objd_client *c = NULL;
	uint64_t rev;
	int st;

	if (objd_connect(s->sock, E2E_DEADLINE, &c, NULL, 0) != OBJD_OK)
		_exit(2);
	close(go[1]);
	pipe_get(go[0]);
	for (int done = 0; done < n;) {
		if (objd_get_meta(c, key, &v, &rev) != OBJD_OK ||
		    v->kind_case != OBJD__VALUE__KIND_INT_VALUE)
			_exit(1);
		nv = objd_value_new_int(v->int_value + 1);
		objd_value_free(v);
		objd_cond cond = { .key = key, .revision = rev };

		st = objd_set_if(c, &key, (const Objd__Value *const *)&nv, 1,
		    &cond, 1);
		objd_value_free(nv);
		if (st == OBJD_OK)
			done++;
		else if (st != OBJD_CONFLICT)
			_exit(1);
	}
	objd_close(c);
	_exit(0);
}

static pid_t
fork_child(void)
{
	pid_t pid = fork();

	ck_assert_msg(pid != -1, "fork: %s", strerror(errno));
	return pid;
}

static void
reap(pid_t pid, const char *what)
{
	int st;

	ck_assert_msg(e2e_wait_gone(pid, 4 * E2E_DEADLINE, &st),
	    "%s did not end", what);
	ck_assert_msg(st == 0, "%s exited with %d", what, st);
}

START_TEST(test_cas_race)
{
	enum { ROUNDS = 200, INCREMENTS = 200 };
	int to[2][2], from[2][2], go[2];
	const char *cas = "cas", *counter = "counter";
	Objd__Value *v;
	objd_client *c;
	pid_t pid[2];
	uint64_t rev0, rev;
	int winner = -1;

	start_fast();
	c = e2e_client(s);
	v = value_new_int(0);
	ck_assert_int_eq(objd_set(c, &cas, (const Objd__Value *const *)&v, 1),
	    OBJD_OK);
	value_free(v);
	ck_assert_int_eq(objd_get_meta(c, cas, &v, &rev0), OBJD_OK);
	value_free(v);

	for (int i = 0; i < 2; i++) {
		ck_assert(pipe(to[i]) == 0 && pipe(from[i]) == 0);
		if ((pid[i] = fork_child()) == 0)
			racer(i + 1, to[i][0], from[i][1]);
		close(to[i][0]);
		close(from[i][1]);
	}
	for (int round = 0; round < ROUNDS; round++) {
		char got[2];

		/* Both read the revision before either writes... */
		for (int i = 0; i < 2; i++)
			pipe_put(to[i][1], 'r');
		for (int i = 0; i < 2; i++)
			ck_assert_msg(pipe_get(from[i][0]) == 'd',
			    "round %d: racer %d could not read", round, i + 1);
		/* ...then both write on what they read: one wins. */
		for (int i = 0; i < 2; i++)
			pipe_put(to[i][1], 'w');
		for (int i = 0; i < 2; i++)
			got[i] = pipe_get(from[i][0]);
		ck_assert_msg((got[0] == '1' && got[1] == '0') ||
		        (got[0] == '0' && got[1] == '1'),
		    "round %d: racers answered %c and %c, want one win and "
		    "one conflict",
		    round, got[0], got[1]);
		winner = got[0] == '1' ? 1 : 2;
	}
	for (int i = 0; i < 2; i++) {
		pipe_put(to[i][1], 'q');
		close(to[i][1]);
		close(from[i][0]);
		reap(pid[i], "a racer");
	}
	/* One commit a round, and the value is the last winner's. */
	ck_assert_int_eq(objd_get_meta(c, cas, &v, &rev), OBJD_OK);
	ck_assert_uint_eq(rev, rev0 + ROUNDS);
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_INT_VALUE);
	ck_assert_int_eq(v->int_value, winner * 1000000 + ROUNDS - 1);
	value_free(v);

	/* Free running: no increment is lost. */
	v = value_new_int(0);
	ck_assert_int_eq(
	    objd_set(c, &counter, (const Objd__Value *const *)&v, 1), OBJD_OK);
	value_free(v);
	ck_assert(pipe(go) == 0);
	for (int i = 0; i < 2; i++)
		if ((pid[i] = fork_child()) == 0)
			incrementer(INCREMENTS, go);
	close(go[0]);
	close(go[1]); /* both go */
	for (int i = 0; i < 2; i++)
		reap(pid[i], "an incrementer");
	ck_assert_int_eq(objd_get(c, counter, &v), OBJD_OK);
	ck_assert_int_eq(v->int_value, 2 * INCREMENTS);
	value_free(v);
	objd_close(c);
	e2e_stop(s);
}
END_TEST

/*
 * Conditions and batches through objctl.
 */
START_TEST(test_conditions)
{
	char rev[32], bad[32];
	uint64_t r0, r;

	e2e_start(s);
	/* --if-absent: once. */
	CTL_OK(s, "set", "--if-absent", "lock", "me");
	CTL_EXIT(s, 4, "set", "--if-absent", "lock", "you");
	ck_assert_msg(e2e_one_line(s->err), "stderr: '%s'", s->err);
	ck_assert_msg(strncmp(s->err, "objctl: conflict", 16) == 0,
	    "stderr: '%s'", s->err);
	ck_assert_str_eq(CTL_OK(s, "get", "lock"), "me\n");
	/* For every key of the command: one present key fails them all. */
	CTL_EXIT(s, 4, "set", "--if-absent", "fresh", "1", "lock", "x");
	CTL_EXIT(s, 1, "get", "fresh");

	/* --if-revision: the key's own revision. */
	CTL_OK(s, "get", "--meta", "lock");
	snprintf(rev, sizeof(rev), "%" PRIu64,
	    field_u64(s->out, "\nrevision: "));
	snprintf(bad, sizeof(bad), "%" PRIu64, parse_u64(rev) + 7);
	CTL_OK(s, "set", "other", "1"); /* another key's change */
	CTL_EXIT(s, 4, "set", "--if-revision", bad, "lock", "you");
	ck_assert_str_eq(CTL_OK(s, "get", "lock"), "me\n");
	CTL_OK(s, "set", "--if-revision", rev, "lock", "you");
	ck_assert_str_eq(CTL_OK(s, "get", "lock"), "you\n");
	/* The revision moved on: the old one conflicts now. */
	CTL_EXIT(s, 4, "set", "--if-revision", rev, "lock", "again");

	/* del under conditions. */
	r0 = revision();
	CTL_EXIT(s, 4, "del", "--if-revision", rev, "lock");
	CTL_EXIT(s, 4, "del", "--if-absent", "lock");
	ck_assert_str_eq(CTL_OK(s, "get", "lock"), "you\n");
	ck_assert_uint_eq(revision(), r0);
	CTL_OK(s, "get", "--meta", "lock");
	snprintf(rev, sizeof(rev), "%" PRIu64,
	    field_u64(s->out, "\nrevision: "));
	CTL_OK(s, "--json", "del", "--if-revision", rev, "lock");
	ck_assert_msg(strncmp(s->out, "{\"revision\": ", 13) == 0,
	    "del --json printed %s", s->out);
	CTL_EXIT(s, 1, "get", "lock");

	/* Usage errors. */
	CTL_EXIT(s, 2, "set", "--if-revision", "x", "k", "v");
	CTL_EXIT(s, 2, "set", "--if-revision", "-1", "k", "v");
	CTL_EXIT(s, 2, "set", "--if-revision", "1", "--if-absent", "k", "v");
	CTL_EXIT(s, 2, "--if-absent", "set", "k", "v");
	CTL_EXIT(s, 2, "get", "--if-absent", "k");

	/* del of several keys with one missing deletes nothing. */
	CTL_OK(s, "set", "a", "1", "b", "2", "c", "3");
	r = revision();
	CTL_EXIT(s, 1, "del", "a", "missing", "b");
	ck_assert_msg(e2e_one_line(s->err), "stderr: '%s'", s->err);
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "1\n");
	ck_assert_str_eq(CTL_OK(s, "get", "b"), "2\n");
	ck_assert_uint_eq(revision(), r);
	/* and several that exist go in one commit. */
	CTL_OK(s, "del", "a", "b", "c");
	ck_assert_uint_eq(revision(), r + 1);
	CTL_EXIT(s, 2, "del", "a", "a");
	e2e_stop(s);
}
END_TEST

/* Sets n keys named k<i> in one request, the key at position dup (if
 * below n) named like the one at position of; returns the status. */
static int
set_many(objd_client *c, size_t n, size_t dup, size_t of)
{
	char **keys = calloc(n, sizeof(*keys));
	Objd__Value *v = value_new_int(1);
	const Objd__Value **vals = calloc(n, sizeof(*vals));
	int rc;

	ck_assert(keys != NULL && vals != NULL);
	for (size_t i = 0; i < n; i++) {
		keys[i] = malloc(32);
		ck_assert_ptr_nonnull(keys[i]);
		snprintf(keys[i], 32, "k%zu", i == dup ? of : i);
		vals[i] = v;
	}
	rc = objd_set(c, (const char *const *)keys, vals, n);
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(vals);
	value_free(v);
	return rc;
}

/* A set that names a key twice is refused whole, wherever the two are
 * and however many keys the set has; one of many distinct keys is not. */
START_TEST(test_set_repeated_key)
{
	static const size_t sizes[] = { 2, 3, 64, 200, 20000 };
	objd_client *c;
	uint64_t r;

	start_fast();
	c = e2e_client(s);
	r = revision();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];

		/* The last key repeats the first; one in the middle repeats
		 * its neighbour. */
		ck_assert_int_eq(set_many(c, n, n - 1, 0), OBJD_INVALID);
		ck_assert_msg(
		    strstr(objd_client_error(c), "key k0 is set twice") != NULL,
		    "%zu keys: %s", n, objd_client_error(c));
		ck_assert_int_eq(set_many(c, n, n / 2, n / 2 - 1),
		    OBJD_INVALID);
		ck_assert_uint_eq(revision(), r);
	}
	ck_assert_int_eq(set_many(c, 20000, SIZE_MAX, 0), OBJD_OK);
	ck_assert_uint_eq(revision(), r + 1);
	CTL_OK(s, "status");
	ck_assert_uint_eq(field_u64(s->out, "\nkeys: "), 20000);
	/* Paths are compared as written. */
	CTL_EXIT(s, 2, "set", "m.a", "1", "m.a", "2");
	objd_close(c);
	e2e_stop(s);
}
END_TEST

START_TEST(test_get_meta)
{
	uint64_t krev, orev, rev2;
	Objd__Value *v;
	objd_client *c;

	e2e_start(s);
	CTL_OK(s, "set", "port", "8080");
	krev = revision();
	CTL_OK(s, "set", "name", "John");
	orev = revision();
	ck_assert_uint_gt(orev, krev);

	CTL_OK(s, "get", "--meta", "port");
	ck_assert_msg(strstr(s->out, "value: 8080\n") != NULL, "%s", s->out);
	ck_assert_uint_eq(field_u64(s->out, "\nrevision: "), krev);
	ck_assert_uint_eq(field_u64(s->out, "object revision: "), orev);
	/* A string is shown as JSON: one line whatever it holds. */
	CTL_OK(s, "set", "text", "\"two\\nlines\"");
	CTL_OK(s, "get", "--meta", "text");
	ck_assert_msg(strncmp(s->out, "value: \"two\\nlines\"\n", 20) == 0,
	    "%s", s->out);

	CTL_OK(s, "--json", "get", "--meta", "port");
	{
		char want[128];

		snprintf(want, sizeof(want),
		    "{\"value\": 8080, \"revision\": %" PRIu64
		    ", \"object_revision\": %" PRIu64 "}",
		    krev, orev + 1);
		ck_assert_msg(e2e_json_same(s->out, want), "got %s want %s",
		    s->out, want);
	}
	CTL_EXIT(s, 1, "get", "--meta", "missing");
	CTL_EXIT(s, 2, "get", "--meta");

	/* libobjd: the key's revision and the object's. */
	c = e2e_client(s);
	ck_assert_int_eq(objd_get_meta(c, "port", &v, &rev2), OBJD_OK);
	ck_assert_uint_eq(rev2, krev);
	ck_assert_uint_eq(objd_client_revision(c), orev + 1);
	value_free(v);
	objd_close(c);
	e2e_stop(s);
}
END_TEST

/*
 * Key paths.
 */
START_TEST(test_nested_keys)
{
	int st;

	e2e_start(s);
	CTL_OK(s, "set", "server.port", "8080");
	ck_assert_msg(
	    e2e_json_same(CTL_OK(s, "get", "server"), "{\"port\": 8080}"),
	    "get server printed %s", s->out);
	ck_assert_str_eq(CTL_OK(s, "get", "server.port"), "8080\n");
	CTL_OK(s, "set", "server.host", "db", "server.tls.on", "true");
	ck_assert_msg(e2e_json_same(CTL_OK(s, "get"),
	                  "{\"server\": {\"host\": \"db\", \"port\": 8080, "
	                  "\"tls\": {\"on\": true}}}"),
	    "get printed %s", s->out);
	ck_assert_str_eq(CTL_OK(s, "get", "server.tls.on"), "true\n");
	ck_assert_str_eq(CTL_OK(s, "list"), "server\n");

	/* A key with a literal dot, and one with a backslash. */
	CTL_OK(s, "set", "a\\.b", "1", "c\\\\d", "2");
	ck_assert_str_eq(CTL_OK(s, "get", "a\\.b"), "1\n");
	ck_assert_str_eq(CTL_OK(s, "get", "c\\\\d"), "2\n");
	CTL_EXIT(s, 1, "get", "a");
	CTL_OK(s, "--json", "list");
	ck_assert_msg(
	    e2e_json_same(s->out, "[\"a.b\", \"c\\\\d\", \"server\"]"),
	    "list --json printed %s", s->out);
	ck_assert_str_eq(CTL_OK(s, "list"), "a\\.b\nc\\\\d\nserver\n");
	ck_assert_msg(e2e_json_same(CTL_OK(s, "get", "--json", "a\\.b"), "1"),
	    "%s", s->out);

	/* A name with a dot inside a nested map. */
	CTL_OK(s, "set", "hosts.db\\.example\\.com", "\"10.0.0.1\"");
	ck_assert_msg(e2e_json_same(CTL_OK(s, "get", "hosts"),
	                  "{\"db.example.com\": \"10.0.0.1\"}"),
	    "get hosts printed %s", s->out);

	/* del of a nested key leaves the map. */
	CTL_OK(s, "del", "server.port");
	CTL_EXIT(s, 1, "get", "server.port");
	ck_assert_msg(e2e_json_same(CTL_OK(s, "get", "server"),
	                  "{\"host\": \"db\", \"tls\": {\"on\": true}}"),
	    "get server printed %s", s->out);
	CTL_EXIT(s, 1, "del", "server.port");
	CTL_OK(s, "del", "server.tls.on");
	ck_assert_msg(e2e_json_same(CTL_OK(s, "get", "server.tls"), "{}"), "%s",
	    s->out);

	/* Paths through what is not a map, and bad paths. */
	st = CTL(s, "get", "server.host.x");
	ck_assert_msg((st == 1 || st == 2) && e2e_one_line(s->err),
	    "get server.host.x: exit %d, stderr '%s'", st, s->err);
	CTL_EXIT(s, 2, "get", "a..b");
	CTL_EXIT(s, 2, "set", "a.", "1");
	CTL_EXIT(s, 2, "get", "a\\x");
	ck_assert_msg(e2e_one_line(s->err), "stderr: '%s'", s->err);
	e2e_stop(s);
}
END_TEST

/* Every line that list prints reads back as its key. */
START_TEST(test_list_escapes)
{
	static const char *const keys[] = { "plain", "a.b", "c\\d", "x\ny",
		"tab\there", "dot.", "\\.", "caf\xc3\xa9.x", "\x01",
		"del\x7f" };
	size_t n = sizeof(keys) / sizeof(keys[0]);
	Objd__Response *r;
	Objd__Value *v;
	objd_client *c;
	char *copy, *line, *save;
	size_t seen = 0;

	e2e_start(s);
	c = e2e_client(s);
	for (size_t i = 0; i < n; i++) {
		/* Set through libobjd as top-level keys: paths, escaped. */
		char path[64], *p = path;

		for (const char *k = keys[i]; *k != '\0'; k++) {
			if (*k == '.' || *k == '\\')
				*p++ = '\\';
			*p++ = *k;
		}
		*p = '\0';
		v = value_new_int((int64_t)i);
		ck_assert_msg(objd_set(c, (const char *[]){ path },
		                  (const Objd__Value *const *)&v, 1) == OBJD_OK,
		    "set %s: %s", path, objd_client_error(c));
		value_free(v);
	}
	ck_assert_int_eq(objd_list(c, NULL, &r), OBJD_OK);
	ck_assert_uint_eq(r->n_keys, n);
	objd_response_free(r);
	objd_close(c);

	copy = strdup(CTL_OK(s, "list"));
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save), seen++) {
		char want[32];
		size_t i;

		CTL_OK(s, "--json", "get", line);
		for (i = 0; i < n; i++) {
			snprintf(want, sizeof(want), "%zu\n", i);
			if (strcmp(s->out, want) == 0)
				break;
		}
		ck_assert_msg(i < n, "get '%s' printed %s", line, s->out);
	}
	ck_assert_uint_eq(seen, n);
	free(copy);

	/* A prefix is read as list prints keys. */
	ck_assert_str_eq(CTL_OK(s, "list", "a\\."), "a\\.b\n");
	ck_assert_str_eq(CTL_OK(s, "list", "a."), "a\\.b\n");
	ck_assert_str_eq(CTL_OK(s, "list", "x\\n"), "x\\ny\n");
	ck_assert_str_eq(CTL_OK(s, "list", "c\\\\"), "c\\\\d\n");
	e2e_stop(s);
}
END_TEST

/*
 * Pipelining: 100 requests in one write, 100 answers in order.
 */
START_TEST(test_pipelining)
{
	enum { N = 100 };
	struct reqbuf b;
	struct raw r;
	uint8_t *buf = NULL;
	size_t len = 0;
	char keys[N][16];
	Objd__Value *vals[N];

	e2e_start(s);
	/* set k_i, then get k_i, or ping: answers must follow the order. */
	for (int i = 0; i < N; i++) {
		uint64_t id = 1000 + (uint64_t)i * 7;

		snprintf(keys[i], sizeof(keys[i]), "k%d", i / 3);
		vals[i] = NULL;
		if (i % 3 == 0) {
			vals[i] = value_new_int(i);
			frame_append(&buf, &len,
			    req_set(&b, id, keys[i], vals[i]));
		} else if (i % 3 == 1)
			frame_append(&buf, &len, req_get(&b, id, keys[i]));
		else
			frame_append(&buf, &len, req_ping(&b, id));
	}
	raw_open(&r);
	ck_assert(e2e_raw_send(r.fd, buf, len));
	free(buf);
	for (int i = 0; i < N; i++) {
		Objd__Response *resp;
		enum raw_outcome o = raw_next(&r, E2E_DEADLINE, &resp);

		ck_assert_msg(o == RAW_ANSWER, "answer %d: %s", i,
		    e2e_raw_outcome_str(o));
		ck_assert_uint_eq(resp->id, 1000 + (uint64_t)i * 7);
		ck_assert_msg(resp->status == OBJD__STATUS__OK,
		    "answer %d: status %d: %s", i, resp->status, resp->error);
		if (i % 3 == 1) {
			ck_assert_uint_eq(resp->n_entries, 1);
			ck_assert_str_eq(resp->entries[0]->key, keys[i]);
			ck_assert_int_eq(resp->entries[0]->value->int_value,
			    i - 1);
		}
		objd__response__free_unpacked(resp, NULL);
	}
	for (int i = 0; i < N; i++)
		value_free(vals[i]);
	raw_close(&r);
	ck_assert_str_eq(CTL_OK(s, "get", "k33"), "99\n");
	e2e_stop(s);
}
END_TEST

/*
 * Answers of every size, in one pipeline the client does not read until
 * objd's socket is full: small answers wait in a connection's own
 * buffer and larger ones in its evbuffer, and whichever way they went
 * they come back whole and in order.
 */
START_TEST(test_answer_sizes)
{
	static const size_t sizes[] = { 0, 1, 400, 460, 470, 480, 500, 511, 512,
		600, 5000, 70000 };
	enum { NSIZES = sizeof(sizes) / sizeof(sizes[0]), N = 3000 };
	char keys[NSIZES][16];
	struct reqbuf b;
	struct raw r;
	uint8_t *buf = NULL;
	size_t len = 0;
	objd_client *c;
	char *text = malloc(sizes[NSIZES - 1] + 1);

	ck_assert_ptr_nonnull(text);
	start_fast();
	c = e2e_client(s);
	for (int k = 0; k < NSIZES; k++) {
		const char *key = keys[k];
		Objd__Value *v;

		snprintf(keys[k], sizeof(keys[k]), "size%d", k);
		memset(text, 'a' + k, sizes[k]);
		v = value_new_string(text, sizes[k]);
		ck_assert_msg(objd_set(c, &key, (const Objd__Value *const *)&v,
		                  1) == OBJD_OK,
		    "set %s: %s", key, objd_client_error(c));
		value_free(v);
	}
	objd_close(c);
	/* Mostly small answers, so that they share the small buffer, with
	 * a larger one every so often. */
	for (int i = 0; i < N; i++) {
		int k = i % 7 == 6 ? (i / 7) % NSIZES : i % 8;

		frame_append(&buf, &len, req_get(&b, 1 + (uint64_t)i, keys[k]));
	}
	raw_open(&r);
	ck_assert(e2e_raw_send(r.fd, buf, len));
	free(buf);
	usleep(300 * 1000);
	for (int i = 0; i < N; i++) {
		int k = i % 7 == 6 ? (i / 7) % NSIZES : i % 8;
		Objd__Response *resp;
		enum raw_outcome o = raw_next(&r, E2E_DEADLINE, &resp);
		const char *got;

		ck_assert_msg(o == RAW_ANSWER, "answer %d: %s", i,
		    e2e_raw_outcome_str(o));
		ck_assert_uint_eq(resp->id, 1 + (uint64_t)i);
		ck_assert_msg(resp->status == OBJD__STATUS__OK,
		    "answer %d: status %d: %s", i, resp->status, resp->error);
		ck_assert_uint_eq(resp->n_entries, 1);
		ck_assert_str_eq(resp->entries[0]->key, keys[k]);
		got = resp->entries[0]->value->string_value;
		ck_assert_uint_eq(strlen(got), sizes[k]);
		for (size_t j = 0; j < sizes[k]; j++)
			ck_assert_msg(got[j] == 'a' + k,
			    "answer %d: byte %zu of %s is %d", i, j, keys[k],
			    got[j]);
		objd__response__free_unpacked(resp, NULL);
	}
	raw_close(&r);
	free(text);
	e2e_stop(s);
}
END_TEST

static uint64_t
commits(void)
{
	uint64_t rev, ncommits;

	status_counts(&rev, &ncommits);
	return ncommits;
}

/* Sends buf, n requests, on r and checks that each is answered OK in
 * order; revs, if not NULL, takes their revisions. */
static void
raw_send_expect_ok(struct raw *r, const uint8_t *buf, size_t len, int n,
    uint64_t *revs)
{
	Objd__Response *resp;

	ck_assert(e2e_raw_send(r->fd, buf, len));
	for (int i = 0; i < n; i++) {
		enum raw_outcome o = raw_next(r, E2E_DEADLINE, &resp);

		ck_assert_msg(o == RAW_ANSWER, "answer %d of %d: %s", i + 1, n,
		    e2e_raw_outcome_str(o));
		ck_assert_msg(resp->status == OBJD__STATUS__OK,
		    "answer %d of %d: status %d (%s)", i + 1, n, resp->status,
		    resp->error);
		if (revs != NULL)
			revs[i] = resp->revision;
		objd__response__free_unpacked(resp, NULL);
	}
}

/*
 * A pipeline of writes joins one batch: the sets sent in one write share
 * one commit, and their answers (no-ops, conflicts and errors among them,
 * which take no revision) come back in order. A get behind them waits and
 * sees them.
 */
START_TEST(test_pipelined_writes)
{
	enum { SETS = 16 };
	struct reqbuf b;
	struct raw r;
	uint8_t *buf = NULL;
	size_t len = 0;
	char keys[SETS][16];
	Objd__Value *one = value_new_int(1), *two = value_new_int(2);
	Objd__Condition absent = OBJD__CONDITION__INIT, *conds[1] = { &absent };
	Objd__Response *resp;
	uint64_t rev, commits_before;
	uint64_t id = 1;

	e2e_start(s);
	rev = revision();
	commits_before = commits();
	for (int i = 0; i < SETS; i++) {
		snprintf(keys[i], sizeof(keys[i]), "p%d", i);
		frame_append(&buf, &len, req_set(&b, id++, keys[i], one));
	}
	/* A set to the value a pending set gives: a no-op. */
	frame_append(&buf, &len, req_set(&b, id++, keys[0], one));
	/* --if-absent on a key a pending set creates: a conflict. */
	req_set(&b, id++, keys[1], two);
	absent.key = keys[1];
	absent.test_case = OBJD__CONDITION__TEST_ABSENT;
	absent.absent = true;
	b.set.n_conditions = 1;
	b.set.conditions = conds;
	frame_append(&buf, &len, &b.req);
	/* A set of nothing: invalid. */
	req_set(&b, id++, keys[0], one);
	b.set.n_entries = 0;
	frame_append(&buf, &len, &b.req);
	frame_append(&buf, &len, req_get(&b, id++, keys[SETS - 1]));
	frame_append(&buf, &len, req_set(&b, id++, "last", two));

	raw_open(&r);
	ck_assert(e2e_raw_send(r.fd, buf, len));
	free(buf);
	for (uint64_t want = 1; want < id; want++) {
		enum raw_outcome o = raw_next(&r, E2E_DEADLINE, &resp);
		Objd__Status status = OBJD__STATUS__OK;
		uint64_t at = rev + SETS;

		ck_assert_msg(o == RAW_ANSWER, "answer %" PRIu64 ": %s", want,
		    e2e_raw_outcome_str(o));
		ck_assert_uint_eq(resp->id, want);
		if (want <= SETS)
			at = rev + want;
		else if (want == SETS + 2)
			status = OBJD__STATUS__CONFLICT;
		else if (want == SETS + 3)
			status = OBJD__STATUS__INVALID;
		else if (want == SETS + 5)
			at = rev + SETS + 1;
		ck_assert_msg(resp->status == status,
		    "answer %" PRIu64 ": status %d (%s), not %d", want,
		    resp->status, resp->error, status);
		ck_assert_msg(resp->revision == at,
		    "answer %" PRIu64 ": revision %" PRIu64 ", not %" PRIu64,
		    want, resp->revision, at);
		if (want == SETS + 4) {
			ck_assert_uint_eq(resp->n_entries, 1);
			ck_assert_int_eq(resp->entries[0]->value->int_value, 1);
		}
		objd__response__free_unpacked(resp, NULL);
	}
	raw_close(&r);
	/* The sets before the get share one commit and "last" has its own;
	 * one commit per set would be 17. Slack for a read split in two. */
	ck_assert_uint_le(commits() - commits_before, 3);
	ck_assert_str_eq(CTL_OK(s, "get", "p0"), "1\n");
	ck_assert_str_eq(CTL_OK(s, "get", "p1"), "1\n");
	value_free(one);
	value_free(two);
	e2e_stop(s);
}
END_TEST

/*
 * The batch's index of pending changes outlives a batch: after one big
 * batch it is large, and each later commit clears only the slots of its
 * own changes. A slot left behind holds the position of a change in an
 * earlier batch: the next look-up that meets it reads past the changes
 * of a smaller batch (ASan sees it). Each batch of 20 sets below leaves
 * its slots for the single sets of the same keys after it. Without
 * fsync: with it, each batch hands its index to the sync and the next
 * starts a new one.
 */
START_TEST(test_batch_index_reused)
{
	enum { BIG_BATCH = 600, ROUNDS = 10, KEYS_PER_ROUND = 20 };
	enum { HUGE_CHANGE = 1500 };
	static char names[HUGE_CHANGE][16];
	static const char *argv[2 + 2 * HUGE_CHANGE];
	struct reqbuf b;
	struct raw r;
	uint8_t *buf = NULL;
	size_t len = 0;
	char key[16];
	Objd__Value *one = value_new_int(1), *two = value_new_int(2);
	Objd__Value *three = value_new_int(3);
	uint64_t id = 1, rev = 0;

	start_fast();
	raw_open(&r);
	for (int i = 0; i < BIG_BATCH; i++) {
		snprintf(key, sizeof(key), "big%d", i);
		frame_append(&buf, &len, req_set(&b, id++, key, one));
	}
	raw_send_expect_ok(&r, buf, len, BIG_BATCH, NULL);
	for (int round = 0; round < ROUNDS; round++) {
		int first = round * KEYS_PER_ROUND;

		len = 0;
		for (int k = first; k < first + KEYS_PER_ROUND; k++) {
			snprintf(key, sizeof(key), "big%d", k);
			frame_append(&buf, &len, req_set(&b, id++, key, two));
		}
		raw_send_expect_ok(&r, buf, len, KEYS_PER_ROUND, NULL);
		for (int k = first; k < first + KEYS_PER_ROUND; k++) {
			uint64_t revs[2];

			len = 0;
			snprintf(key, sizeof(key), "big%d", k);
			frame_append(&buf, &len, req_set(&b, id++, key, three));
			/* The value the pending set gives: a no-op. */
			frame_append(&buf, &len, req_set(&b, id++, key, three));
			raw_send_expect_ok(&r, buf, len, 2, revs);
			ck_assert_uint_gt(revs[0], rev);
			ck_assert_uint_eq(revs[1], revs[0]);
			rev = revs[0];
		}
	}
	free(buf);
	raw_close(&r);
	ck_assert_str_eq(CTL_OK(s, "get", "big0"), "3\n");
	ck_assert_str_eq(CTL_OK(s, "get", "big199"), "3\n");
	ck_assert_str_eq(CTL_OK(s, "get", "big200"), "1\n");

	/* One change of more keys than a batch keeps arrays for: its
	 * arrays are freed, and the sets after it grow new ones. */
	argv[0] = "set";
	for (int i = 0; i < HUGE_CHANGE; i++) {
		snprintf(names[i], sizeof(names[i]), "huge%d", i);
		argv[1 + 2 * i] = names[i];
		argv[2 + 2 * i] = "4";
	}
	argv[1 + 2 * HUGE_CHANGE] = NULL;
	e2e_objctl_expect(s, __FILE__, __LINE__, 0, NULL, argv);
	CTL_OK(s, "set", "big0", "5");
	CTL_OK(s, "set", "big1", "5");
	ck_assert_str_eq(CTL_OK(s, "get", "huge1499"), "4\n");
	ck_assert_str_eq(CTL_OK(s, "get", "big1"), "5\n");
	value_free(one);
	value_free(two);
	value_free(three);
	e2e_stop(s);
}
END_TEST

/*
 * objd notes the file's size and times after its own append only once
 * the answers are out. A reload that comes before that, here one behind
 * a set in the same pipeline, must still see the append as objd's own:
 * taken for another program's change, the file would be written back
 * anew (a new inode) for nothing.
 */
START_TEST(test_own_append_before_reload)
{
	struct reqbuf b;
	struct raw r;
	struct stat before, after;
	uint8_t *buf = NULL;
	size_t len = 0;
	Objd__Value *v = value_new_int(2);

	start_fast();
	CTL_OK(s, "set", "k", "1");
	ck_assert_int_eq(stat(s->file, &before), 0);
	frame_append(&buf, &len, req_set(&b, 1, "k", v));
	frame_append(&buf, &len, req_reload(&b, 2));
	raw_open(&r);
	raw_send_expect_ok(&r, buf, len, 2, NULL);
	raw_close(&r);
	free(buf);
	value_free(v);
	ck_assert_int_eq(stat(s->file, &after), 0);
	ck_assert_msg(after.st_ino == before.st_ino,
	    "objd wrote its file back after a reload of its own append");
	ck_assert_str_eq(CTL_OK(s, "get", "k"), "2\n");
	e2e_stop(s);
}
END_TEST

/*
 * A client's input is one buffer: frames cut across reads, a frame far
 * larger than the buffer it found, and the small ones after it (once
 * the large buffer is given back) all arrive whole and in order. The
 * first bytes go a few at a time, so that frames are cut everywhere.
 */
START_TEST(test_input_across_reads)
{
	enum { SMALL = 1000, LARGE = 200 * 1024, TRICKLE = 2048 };
	struct reqbuf b;
	struct raw r;
	uint8_t *buf = NULL, *blob = malloc(LARGE);
	size_t len = 0;
	char key[16];
	Objd__Value *v, *large;
	Objd__Response *resp;
	uint64_t id = 1;

	ck_assert_ptr_nonnull(blob);
	memset(blob, 'x', LARGE);
	large = value_new_bytes(blob, LARGE);
	start_fast();
	for (int i = 0; i < 2 * SMALL + 1; i++) {
		if (i == SMALL) {
			frame_append(&buf, &len,
			    req_set(&b, id++, "large", large));
			continue;
		}
		snprintf(key, sizeof(key), "in%d", i);
		v = value_new_int(i);
		frame_append(&buf, &len, req_set(&b, id++, key, v));
		value_free(v);
	}
	raw_open(&r);
	for (size_t off = 0; off < TRICKLE; off += 7) {
		ck_assert(e2e_raw_send(r.fd, buf + off,
		    TRICKLE - off < 7 ? TRICKLE - off : 7));
		usleep(100);
	}
	raw_send_expect_ok(&r, buf + TRICKLE, len - TRICKLE, 2 * SMALL + 1,
	    NULL);
	len = 0;
	frame_append(&buf, &len, req_get(&b, id, "large"));
	ck_assert(e2e_raw_send(r.fd, buf, len));
	ck_assert(raw_next(&r, E2E_DEADLINE, &resp) == RAW_ANSWER);
	ck_assert_int_eq(resp->status, OBJD__STATUS__OK);
	ck_assert_uint_eq(resp->n_entries, 1);
	v = resp->entries[0]->value;
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_BYTES_VALUE);
	ck_assert_uint_eq(v->bytes_value.len, LARGE);
	ck_assert(memcmp(v->bytes_value.data, blob, LARGE) == 0);
	objd__response__free_unpacked(resp, NULL);
	raw_close(&r);
	ck_assert_str_eq(CTL_OK(s, "get", "in0"), "0\n");
	ck_assert_str_eq(CTL_OK(s, "get", "in999"), "999\n");
	ck_assert_str_eq(CTL_OK(s, "get", "in1001"), "1001\n");
	ck_assert_str_eq(CTL_OK(s, "get", "in2000"), "2000\n");
	free(buf);
	free(blob);
	value_free(large);
	e2e_stop(s);
}
END_TEST

/* Sends buf in pieces: its first `bytewise` bytes one at a time, the
 * rest in pieces of growing sizes, each after a pause, so that objd
 * reads a frame's beginning cut at each byte and its value in many
 * reads. */
static void
send_in_pieces(int fd, const uint8_t *buf, size_t len, size_t bytewise)
{
	static const size_t sizes[] = { 1000, 4093, 65536, 7, 300000 };
	size_t off = 0, i = 0, n;

	while (off < len) {
		n = off < bytewise ? 1 : sizes[i++ % 5];
		if (n > len - off)
			n = len - off;
		ck_assert(e2e_raw_send(fd, buf + off, n));
		off += n;
		usleep(200);
	}
}

/* The next answer on r, which must be status; freed. */
static void
expect_status(struct raw *r, Objd__Status status)
{
	Objd__Response *resp;
	enum raw_outcome o = raw_next(r, E2E_DEADLINE, &resp);

	ck_assert_msg(o == RAW_ANSWER, "%s", e2e_raw_outcome_str(o));
	ck_assert_msg(resp->status == status, "status %d (%s), not %d",
	    resp->status, resp->error, status);
	objd__response__free_unpacked(resp, NULL);
}

/* The value of key, which must be want. */
static void
expect_value(objd_client *c, const char *key, const Objd__Value *want)
{
	Objd__Value *v = NULL;

	ck_assert_int_eq(objd_get(c, key, &v), OBJD__STATUS__OK);
	ck_assert_int_eq(v->kind_case, want->kind_case);
	if (want->kind_case == OBJD__VALUE__KIND_STRING_VALUE)
		ck_assert_str_eq(v->string_value, want->string_value);
	else {
		ck_assert_uint_eq(v->bytes_value.len, want->bytes_value.len);
		ck_assert(memcmp(v->bytes_value.data, want->bytes_value.data,
		              want->bytes_value.len) == 0);
	}
	objd_value_free(v);
}

/*
 * A large value is read into its store entry as it arrives (conn.c's
 * hole): whichever byte of the frame's beginning a read ends at, in as
 * many reads as it comes, with frames pipelined behind it, from raw
 * clients, libobjd and objctl. A large frame that turns out malformed,
 * in its value's UTF-8 or after the value, is answered INVALID and
 * closes its client only.
 */
START_TEST(test_large_values_as_they_arrive)
{
	/* The text's characters of 1, 2 and 4 bytes, cut by the reads. */
	static const char chars[] = "ab\xc3\xa9\xf0\x9f\x98\x80xyz";
	enum {
		CHARS = sizeof(chars) - 1,
		TEXT = CHARS * 9310,
		BLOB = 1024 * 1024
	};
	char *text = malloc(TEXT + 1), *bad = malloc(TEXT + 1);
	uint8_t *blob = malloc(BLOB), *buf = NULL, *p;
	size_t len = 0;
	Objd__Value *vt, *vb, *vbad, *small = value_new_int(7);
	Objd__Request *req;
	Objd__Response *resp;
	struct reqbuf b;
	struct raw r, other;
	objd_client *c;
	const char *keys[] = { "lib0", "lib1", "lib2" };
	const char *out;

	ck_assert(text != NULL && bad != NULL && blob != NULL);
	for (size_t i = 0; i < TEXT; i += CHARS)
		memcpy(text + i, chars, CHARS);
	text[TEXT] = '\0';
	memcpy(bad, text, TEXT + 1);
	bad[TEXT / 2] = (char)0xff;
	for (size_t i = 0; i < BLOB; i++)
		blob[i] = (uint8_t)(i * 31 + i / 4096);
	vt = value_new_string(text, TEXT);
	vb = value_new_bytes(blob, BLOB);
	vbad = value_new_string(bad, TEXT);
	start_fast();
	c = e2e_client(s);

	/* Large sets, each followed by two frames, sent in pieces. */
	frame_append(&buf, &len, req_set(&b, 1, "text", vt));
	frame_append(&buf, &len, req_set(&b, 2, "after", small));
	frame_append(&buf, &len, req_get(&b, 3, "text"));
	frame_append(&buf, &len, req_set(&b, 4, "blob", vb));
	frame_append(&buf, &len, req_get(&b, 5, "after"));
	frame_append(&buf, &len, req_set(&b, 6, "after", vt));
	raw_open(&r);
	send_in_pieces(r.fd, buf, len, 64);
	for (int i = 0; i < 6; i++)
		expect_status(&r, OBJD__STATUS__OK);
	expect_value(c, "text", vt);
	expect_value(c, "blob", vb);
	expect_value(c, "after", vt);
	/* The same in pieces of growing sizes only, then at once. */
	send_in_pieces(r.fd, buf, len, 0);
	ck_assert(e2e_raw_send(r.fd, buf, len));
	for (int i = 0; i < 12; i++)
		expect_status(&r, OBJD__STATUS__OK);
	raw_close(&r);

	/* UTF-8 that fails midway: INVALID, that client closed, another
	 * served meanwhile. */
	raw_open(&other);
	raw_open(&r);
	len = 0;
	frame_append(&buf, &len, req_set(&b, 7, "bad", vbad));
	frame_append(&buf, &len, req_set(&b, 8, "after", small));
	send_in_pieces(r.fd, buf, len, 32);
	expect_status(&r, OBJD__STATUS__INVALID);
	ck_assert(raw_next(&r, E2E_DEADLINE, &resp) == RAW_CLOSED);
	raw_close(&r);
	len = 0;
	frame_append(&buf, &len, req_get(&b, 9, "after"));
	ck_assert(e2e_raw_send(other.fd, buf, len));
	ck_assert(raw_next(&other, E2E_DEADLINE, &resp) == RAW_ANSWER);
	ck_assert_int_eq(resp->status, OBJD__STATUS__OK);
	ck_assert_int_eq(resp->entries[0]->value->kind_case,
	    OBJD__VALUE__KIND_STRING_VALUE);
	objd__response__free_unpacked(resp, NULL);

	/* Malformed after the value: a second entry whose value field has a
	 * wire type none has. */
	raw_open(&r);
	len = 0;
	req = req_set(&b, 10, "text", vt);
	{
		Objd__Entry second = OBJD__ENTRY__INIT;
		Objd__Entry *two[] = { &b.entry, &second };

		second.key = "zzzzz";
		second.value = small;
		b.set.entries = two;
		b.set.n_entries = 2;
		frame_append(&buf, &len, req);
	}
	p = memmem(buf, len, "zzzzz", 5);
	ck_assert_ptr_nonnull(p);
	p[5] = 0xff;
	send_in_pieces(r.fd, buf, len, 40);
	expect_status(&r, OBJD__STATUS__INVALID);
	ck_assert(raw_next(&r, E2E_DEADLINE, &resp) == RAW_CLOSED);
	raw_close(&r);
	raw_close(&other);

	/* libobjd, pipelined: three large sets, then their answers. */
	for (int i = 0; i < 3; i++) {
		Objd__Value *v = i == 1 ? vb : vt;

		req = req_set(&b, 0, keys[i], v);
		ck_assert_int_eq(objd_send(c, req), OBJD__STATUS__OK);
	}
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(objd_receive(c, &resp), OBJD__STATUS__OK);
		ck_assert_int_eq(resp->status, OBJD__STATUS__OK);
		objd_response_free(resp);
	}
	expect_value(c, "lib0", vt);
	expect_value(c, "lib1", vb);
	expect_value(c, "lib2", vt);

	/* objctl: a value from its input, and two in one set. */
	e2e_objctl_expect(s, __FILE__, __LINE__, 0, text,
	    E2E_ARGV("set", "-x", "ctl"));
	expect_value(c, "ctl", vt);
	CTL_OK(s, "set", "--string", "ctl1", text, "ctl2", text);
	expect_value(c, "ctl1", vt);
	expect_value(c, "ctl2", vt);
	out = CTL_OK(s, "get", "ctl2");
	ck_assert_uint_eq(strlen(out), TEXT + 1);
	ck_assert(strncmp(out, text, TEXT) == 0);

	objd_close(c);
	free(buf);
	value_free(vt);
	value_free(vb);
	value_free(vbad);
	value_free(small);
	free(text);
	free(bad);
	free(blob);
	e2e_stop(s);
}
END_TEST

/*
 * Watch.
 */

/* The writer of the burst, in a child: N sets of burst<i % 10> = i,
 * pipelined on one raw connection, then every answer must be OK. */
static _Noreturn void
burst_writer(int n)
{
	struct reqbuf b;
	struct raw r;
	uint8_t *buf = NULL;
	size_t len = 0;
	char key[16];

	for (int i = 0; i < n; i++) {
		Objd__Value *v = value_new_int(i);

		snprintf(key, sizeof(key), "burst%d", i % 10);
		frame_append(&buf, &len, req_set(&b, (uint64_t)i + 1, key, v));
		value_free(v);
	}
	memset(&r, 0, sizeof(r));
	r.fd = e2e_raw_connect(s);
	if (!e2e_raw_send(r.fd, buf, len))
		_exit(3);
	for (int i = 0; i < n; i++) {
		Objd__Response *resp;

		if (raw_next(&r, 4 * E2E_DEADLINE, &resp) != RAW_ANSWER)
			_exit(4);
		if (resp->status != OBJD__STATUS__OK ||
		    resp->id != (uint64_t)i + 1)
			_exit(5);
		objd__response__free_unpacked(resp, NULL);
	}
	_exit(0);
}

START_TEST(test_watch_burst)
{
	enum { N = 10000 };
	Objd__Response *first = NULL, *r;
	objd_client *w, *other;
	uint64_t last, rev0;
	double end;
	int got = 0;
	pid_t pid;

	start_fast();
	CTL_OK(s, "set", "unrelated", "1");
	w = e2e_client(s);
	ck_assert_msg(objd_watch(w, "burst", 0, &first) == OBJD_OK,
	    "objd_watch: %s", objd_client_error(w));
	ck_assert_uint_eq(first->n_entries, 0);
	rev0 = last = first->revision;
	ck_assert_uint_eq(rev0, revision());
	objd_response_free(first);
	/* A watching connection serves only its watch. */
	ck_assert_int_eq(objd_ping(w), OBJD_INVALID);

	if ((pid = fork_child()) == 0)
		burst_writer(N);
	/* Another client and key meanwhile: not part of the watch. */
	other = e2e_client(s);
	ck_assert_int_eq(objd_ping(other), OBJD_OK);

	end = e2e_now() + 6 * E2E_DEADLINE;
	while (got < N && e2e_now() < end) {
		int st = objd_watch_next(w, &r, 1.0);

		ck_assert_msg(st == OBJD_OK, "objd_watch_next after %d: %s",
		    got, objd_client_error(w));
		for (size_t i = 0; r != NULL && i < r->n_events; i++) {
			const Objd__Event *e = r->events[i];
			char key[16];

			snprintf(key, sizeof(key), "burst%d", got % 10);
			ck_assert_msg(e->type == OBJD__EVENT__TYPE__SET,
			    "event %d: type %d", got, e->type);
			ck_assert_msg(strcmp(e->key, key) == 0,
			    "event %d: key %s, want %s", got, e->key, key);
			ck_assert_msg(e->value->kind_case ==
			            OBJD__VALUE__KIND_INT_VALUE &&
			        e->value->int_value == got,
			    "event %d: value %s", got,
			    objd_value_to_json(e->value, 0));
			ck_assert_msg(e->revision > last,
			    "event %d: revision %" PRIu64 " after %" PRIu64,
			    got, e->revision, last);
			last = e->revision;
			got++;
		}
		objd_response_free(r);
	}
	ck_assert_msg(got == N, "the watcher saw %d of %d changes", got, N);
	reap(pid, "the writer");
	ck_assert_uint_eq(last, revision());
	ck_assert_uint_eq(last, rev0 + N);
	/* Nothing more came. */
	ck_assert_int_eq(objd_watch_next(w, &r, 0.2), OBJD_OK);
	ck_assert_ptr_null(r);
	objd_close(w);
	objd_close(other);
	e2e_stop(s);
}
END_TEST

/* A copy of an event, kept past its frame. */
struct seen {
	Objd__Event__Type type;
	uint64_t revision;
	char key[32];
	char value[64];
};

/* Reads n events from the watch on w, and checks that no more come. */
static void
collect(objd_client *w, Objd__Response *first, struct seen *out, int n)
{
	double end = e2e_now() + E2E_DEADLINE;
	Objd__Response *r = first;
	int got = 0;

	for (;;) {
		for (size_t i = 0; r != NULL && i < r->n_events; i++) {
			const Objd__Event *e = r->events[i];
			char *v = e->value ? objd_value_to_json(e->value, 0)
			                   : strdup("");

			ck_assert_msg(got < n, "more than %d events: %s %s", n,
			    e->key, v);
			out[got].type = e->type;
			out[got].revision = e->revision;
			snprintf(out[got].key, sizeof(out[got].key), "%s",
			    e->key);
			snprintf(out[got].value, sizeof(out[got].value), "%s",
			    v);
			free(v);
			got++;
		}
		if (r != first)
			objd_response_free(r);
		if (got == n || e2e_now() > end)
			break;
		ck_assert_msg(objd_watch_next(w, &r, 1.0) == OBJD_OK,
		    "objd_watch_next: %s", objd_client_error(w));
	}
	ck_assert_msg(got == n, "%d events, want %d", got, n);
	ck_assert_int_eq(objd_watch_next(w, &r, 0.3), OBJD_OK);
	ck_assert_msg(r == NULL, "an event too many: %s",
	    r->n_events > 0 ? r->events[0]->key : "(none)");
}

/* Finds the event of key among n. */
static const struct seen *
find_event(const struct seen *ev, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (strcmp(ev[i].key, key) == 0)
			return &ev[i];
	ck_abort_msg("no event for %s", key);
	return NULL;
}

/* The three changes made after rev in test_watch_since. */
static void
check_three(const struct seen *ev, uint64_t rev)
{
	const struct seen *e;

	e = find_event(ev, 3, "app");
	ck_assert_int_eq(e->type, OBJD__EVENT__TYPE__SET);
	ck_assert_uint_eq(e->revision, rev + 1);
	ck_assert_str_eq(e->value, "{\"a\": 1}");
	e = find_event(ev, 3, "app3");
	ck_assert_int_eq(e->type, OBJD__EVENT__TYPE__SET);
	ck_assert_uint_eq(e->revision, rev + 1);
	ck_assert_str_eq(e->value, "2");
	e = find_event(ev, 3, "app1");
	ck_assert_int_eq(e->type, OBJD__EVENT__TYPE__DELETE);
	ck_assert_uint_eq(e->revision, rev + 2);
	/* In revision order. */
	ck_assert_str_eq(ev[2].key, "app1");
}

/* Snapshot, prefix, nested sets, delete, resume with since, and a since
 * objd no longer holds, through libobjd. */
START_TEST(test_watch_since)
{
	Objd__Response *first = NULL;
	objd_client *w, *c;
	const char *keys[] = { "app.a", "app3" };
	Objd__Value *vals[2];
	struct seen ev[3];
	uint64_t rev;
	int st;

	e2e_start(s);
	CTL_OK(s, "set", "app1", "1", "app2", "\"x\"", "zzz", "0");
	w = e2e_client(s);
	ck_assert_int_eq(objd_watch(w, "app", 0, &first), OBJD_OK);
	ck_assert_uint_eq(first->n_entries, 2);
	ck_assert_str_eq(first->entries[0]->key, "app1");
	ck_assert_str_eq(first->entries[1]->key, "app2");
	ck_assert_uint_eq(first->revision, revision());
	rev = first->revision;
	objd_response_free(first);

	/* A nested set is an event of its top-level key, with its whole
	 * value; a batch is one revision. */
	c = e2e_client(s);
	vals[0] = value_new_int(1);
	vals[1] = value_new_int(2);
	ck_assert_int_eq(objd_set(c, keys, (const Objd__Value *const *)vals, 2),
	    OBJD_OK);
	value_free(vals[0]);
	value_free(vals[1]);
	ck_assert_int_eq(objd_delete(c, (const char *[]){ "app1" }, 1),
	    OBJD_OK);
	CTL_OK(s, "set", "zzz", "1"); /* not watched */
	collect(w, NULL, ev, 3);
	check_three(ev, rev);
	objd_close(w);

	/* Resume after rev: the same changes, no snapshot. */
	w = e2e_client(s);
	ck_assert_int_eq(objd_watch(w, "app", rev, &first), OBJD_OK);
	ck_assert_uint_eq(first->n_entries, 0);
	collect(w, first, ev, 3);
	objd_response_free(first);
	check_three(ev, rev);
	objd_close(w);
	/* and after the first of them. */
	w = e2e_client(s);
	ck_assert_int_eq(objd_watch(w, "app", rev + 1, &first), OBJD_OK);
	collect(w, first, ev, 1);
	objd_response_free(first);
	ck_assert_str_eq(ev[0].key, "app1");
	ck_assert_uint_eq(ev[0].revision, rev + 2);
	objd_close(w);

	/* A restart forgets the past: a since before it is too old. */
	objd_close(c);
	e2e_stop(s);
	e2e_start(s);
	w = e2e_client(s);
	st = objd_watch(w, "app", 1, &first);
	ck_assert_msg(st == OBJD_NOT_FOUND, "watch since 1: %d %s", st,
	    objd_client_error(w));
	ck_assert_msg(*objd_client_error(w) != '\0', "no reason given");
	objd_response_free(first);
	objd_close(w);
	CTL_EXIT(s, 1, "watch", "--since", "1", "app");
	ck_assert_msg(e2e_one_line(s->err), "stderr: '%s'", s->err);
	e2e_stop(s);
}
END_TEST

/* The next event of watch w, reading answers as needed; *r (at first
 * the watch's first answer) and *k keep the place between calls, and
 * the caller frees *r at the end. */
static const Objd__Event *
next_event(objd_client *w, Objd__Response **r, size_t *k)
{
	while (*r == NULL || *k == (*r)->n_events) {
		objd_response_free(*r);
		*r = NULL;
		*k = 0;
		ck_assert_int_eq(objd_watch_next(w, r, E2E_DEADLINE), OBJD_OK);
		ck_assert_msg(*r != NULL, "no event within %g s", E2E_DEADLINE);
	}
	return (*r)->events[(*k)++];
}

/* have is want, which is freed. */
static void
assert_value_is(const Objd__Value *have, Objd__Value *want)
{
	char *h, *w;

	ck_assert_ptr_nonnull(have);
	h = objd_value_to_json(have, 0);
	w = objd_value_to_json(want, 0);
	ck_assert_str_eq(h, w);
	free(h);
	free(w);
	objd_value_free(want);
}

/* The value test_watch_history_full writes to key i in round r: ints
 * and strings of many lengths, laid one after the other in the
 * history's chunks. */
static Objd__Value *
history_value(int r, int i)
{
	char text[64];

	if (i % 3 != 0)
		return objd_value_new_int((int64_t)r * 100000 + i);
	snprintf(text, sizeof(text), "%d:%.*s", r, (i + r) % 50,
	    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
	return objd_value_new_string(text);
}

/* Past 100,000 changes the oldest leave the history: a since before
 * them is refused, and the newest changes, kept in what the oldest
 * left, come back intact. */
START_TEST(test_watch_history_full)
{
	enum { ROUNDS = 101, KEYS = 1000 };
	const char *keys[KEYS];
	char names[KEYS][8];
	Objd__Value *vals[KEYS];
	Objd__Response *first = NULL, *r;
	objd_client *c, *w;
	uint64_t rev_first = 0, rev_before_last = 0;
	size_t k = 0;
	int st;

	e2e_start(s);
	/* Since 0 asks for no history at all: start the rounds past it. */
	CTL_OK(s, "set", "other", "1");
	c = e2e_client(s);
	for (int i = 0; i < KEYS; i++) {
		snprintf(names[i], sizeof(names[i]), "h%d", i);
		keys[i] = names[i];
	}
	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < KEYS; i++)
			vals[i] = history_value(round, i);
		ck_assert_int_eq(
		    objd_set(c, keys, (const Objd__Value *const *)vals, KEYS),
		    OBJD_OK);
		for (int i = 0; i < KEYS; i++)
			objd_value_free(vals[i]);
		if (round == 0)
			rev_first = revision();
		if (round == ROUNDS - 2)
			rev_before_last = revision();
	}

	/* The first round's changes are gone. */
	w = e2e_client(s);
	st = objd_watch(w, "h", rev_first - 1, &first);
	ck_assert_msg(st == OBJD_NOT_FOUND, "watch since %" PRIu64 ": %d",
	    rev_first - 1, st);
	objd_response_free(first);
	objd_close(w);

	/* The last round's are all there, key by key. */
	w = e2e_client(s);
	ck_assert_int_eq(objd_watch(w, "h", rev_before_last, &first), OBJD_OK);
	r = first;
	for (int i = 0; i < KEYS; i++) {
		const Objd__Event *e = next_event(w, &r, &k);

		ck_assert_uint_eq(e->revision, rev_before_last + 1);
		ck_assert_str_eq(e->key, names[i]);
		assert_value_is(e->value, history_value(ROUNDS - 1, i));
	}
	objd_response_free(r);
	objd_close(w);
	objd_close(c);
	e2e_stop(s);
}
END_TEST

/* The value test_watch_history_large writes to v<i>: every third a
 * string larger than a chunk of the history (64 KiB), the others ints. */
static Objd__Value *
large_value(int i)
{
	Objd__Value *v;
	size_t len = 70000 + (size_t)i * 1000;
	char *text;

	if (i % 3 != 0)
		return objd_value_new_int(i);
	text = malloc(len + 1);
	ck_assert_ptr_nonnull(text);
	memset(text, 'a' + i, len);
	text[len] = '\0';
	v = objd_value_new_string(text);
	free(text);
	return v;
}

/* Values larger than the history's chunks, between small ones, and a
 * delete: a resume gives each back whole, in order. */
START_TEST(test_watch_history_large)
{
	enum { N = 10 };
	Objd__Response *first = NULL, *r;
	const Objd__Event *e;
	objd_client *c, *w;
	char name[8];
	const char *key = name;
	uint64_t since;
	size_t k = 0;

	e2e_start(s);
	CTL_OK(s, "set", "other", "1");
	since = revision();
	c = e2e_client(s);
	for (int i = 0; i < N; i++) {
		Objd__Value *v = large_value(i);

		snprintf(name, sizeof(name), "v%d", i);
		ck_assert_int_eq(
		    objd_set(c, &key, (const Objd__Value *const *)&v, 1),
		    OBJD_OK);
		objd_value_free(v);
	}
	snprintf(name, sizeof(name), "v0");
	ck_assert_int_eq(objd_delete(c, &key, 1), OBJD_OK);

	w = e2e_client(s);
	ck_assert_int_eq(objd_watch(w, "v", since, &first), OBJD_OK);
	r = first;
	for (int i = 0; i < N; i++) {
		e = next_event(w, &r, &k);
		snprintf(name, sizeof(name), "v%d", i);
		ck_assert_uint_eq(e->revision, since + 1 + (uint64_t)i);
		ck_assert_int_eq(e->type, OBJD__EVENT__TYPE__SET);
		ck_assert_str_eq(e->key, name);
		assert_value_is(e->value, large_value(i));
	}
	e = next_event(w, &r, &k);
	ck_assert_uint_eq(e->revision, since + 1 + N);
	ck_assert_int_eq(e->type, OBJD__EVENT__TYPE__DELETE);
	ck_assert_str_eq(e->key, "v0");
	objd_response_free(r);
	objd_close(w);
	objd_close(c);
	e2e_stop(s);
}
END_TEST

/* A writer for objctl watch, in a child: sets key to 1, 2, ... every
 * 20 ms until killed. */
static _Noreturn void
slow_writer(const char *key)
{
	objd_client *c = NULL;

	if (objd_connect(s->sock, E2E_DEADLINE, &c, NULL, 0) != OBJD_OK)
		_exit(2);
	for (int64_t i = 1;; i++) {
		Objd__Value *v = objd_value_new_int(i);

		if (objd_set(c, &key, (const Objd__Value *const *)&v, 1) !=
		    OBJD_OK)
			_exit(1);
		objd_value_free(v);
		e2e_sleep(0.02);
	}
}

/* Splits text into lines; returns how many (at most max). */
static int
split_lines(char *text, char **lines, int max)
{
	int n = 0;
	char *save, *l;

	for (l = strtok_r(text, "\n", &save); l != NULL && n < max;
	     l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	return n;
}

START_TEST(test_objctl_watch)
{
	char *out, *lines[16], want[160], since[32];
	uint64_t rev, r1, prev;
	int n, st;
	pid_t pid;

	e2e_start(s);
	CTL_OK(s, "set", "w", "0", "w2", "\"a b\"", "other", "1");
	rev = revision();

	/* The current values, then three changes. */
	if ((pid = fork_child()) == 0)
		slow_writer("w");
	CTL_OK(s, "watch", "--count", "3", "w");
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	out = strdup(s->out);
	n = split_lines(out, lines, 16);
	ck_assert_msg(n == 5, "watch printed %d lines:\n%s", n, s->out);
	/* The snapshot: "REV current KEY VALUE", sorted by key. */
	r1 = parse_u64(lines[0]);
	ck_assert_uint_ge(r1, rev);
	ck_assert_msg(strstr(lines[0], " current w ") != NULL, "%s", lines[0]);
	snprintf(want, sizeof(want), "%" PRIu64 " current w2 \"a b\"", r1);
	ck_assert_str_eq(lines[1], want);
	prev = r1;
	for (int i = 2; i < 5; i++) {
		uint64_t r = parse_u64(lines[i]);

		ck_assert_msg(r > prev, "line %d: %s", i, lines[i]);
		ck_assert_msg(strstr(lines[i], " set w ") != NULL, "%s",
		    lines[i]);
		prev = r;
	}
	free(out);

	/* --since: only the changes after it, here a set and a delete. The
	 * writer may have been killed with its last set still in its sync,
	 * to be applied later; a write of another key is answered only
	 * after that one, so the revision read next includes it. */
	CTL_OK(s, "set", "other", "2");
	snprintf(since, sizeof(since), "%" PRIu64, revision());
	CTL_OK(s, "set", "w2", "[1, 2.0]");
	CTL_OK(s, "del", "w2");
	CTL_OK(s, "watch", "--since", since, "--count", "2", "w");
	out = strdup(s->out);
	n = split_lines(out, lines, 16);
	ck_assert_msg(n == 2, "watch --since printed:\n%s", s->out);
	snprintf(want, sizeof(want), "%" PRIu64 " set w2 [1, 2.0]",
	    parse_u64(since) + 1);
	ck_assert_str_eq(lines[0], want);
	snprintf(want, sizeof(want), "%" PRIu64 " delete w2",
	    parse_u64(since) + 2);
	ck_assert_str_eq(lines[1], want);
	free(out);

	/* JSON lines. */
	CTL_OK(s, "--json", "watch", "--since", since, "--count", "2", "w2");
	out = strdup(s->out);
	n = split_lines(out, lines, 16);
	ck_assert_msg(n == 2, "watch --json printed:\n%s", s->out);
	snprintf(want, sizeof(want),
	    "{\"revision\": %" PRIu64
	    ", \"type\": \"set\", \"key\": \"w2\", \"value\": [1, 2.0]}",
	    parse_u64(since) + 1);
	ck_assert_msg(e2e_json_same(lines[0], want), "%s", lines[0]);
	snprintf(want, sizeof(want),
	    "{\"revision\": %" PRIu64 ", \"type\": \"delete\", \"key\": "
	    "\"w2\"}",
	    parse_u64(since) + 2);
	ck_assert_msg(e2e_json_same(lines[1], want), "%s", lines[1]);
	free(out);

	/* The JSON snapshot is one line; --count 0 stops after it. */
	CTL_OK(s, "set", "w", "{\"$map\": {\"$bytes\": 5}}");
	CTL_OK(s, "--json", "watch", "--count", "0", "w");
	snprintf(want, sizeof(want),
	    "{\"revision\": %" PRIu64 ", \"type\": \"current\", "
	    "\"values\": {\"w\": {\"$map\": {\"$bytes\": 5}}}}\n",
	    revision());
	ck_assert_str_eq(s->out, want);
	CTL_OK(s, "watch", "--count", "0", "nothing");
	snprintf(want, sizeof(want), "%" PRIu64 " current\n", revision());
	ck_assert_str_eq(s->out, want);
	CTL_EXIT(s, 2, "watch", "--count", "x");
	CTL_EXIT(s, 2, "watch", "a", "b");
	e2e_stop(s);
}
END_TEST

/* Starts objctl with args in the background, its stdout and stderr in
 * the files out and err. */
static pid_t
spawn_objctl(const char *out, const char *err, const char *const *args)
{
	const char *bin = getenv("OBJCTL_BIN");
	char *argv[8];
	int n = 0, fo, fe;
	pid_t pid;

	ck_assert_ptr_nonnull(bin);
	argv[n++] = (char *)bin;
	for (int i = 0; args[i] != NULL && n < 7; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	if ((pid = fork_child()) == 0) {
		fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fo == -1 || fe == -1 || dup2(fo, 1) == -1 ||
		    dup2(fe, 2) == -1 ||
		    setenv("OBJD_SOCKET", s->sock, 1) == -1)
			_exit(127);
		execv(bin, argv);
		_exit(127);
	}
	return pid;
}

/* objd's count of connected clients, the asking one not included. */
static uint64_t
clients(void)
{
	objd_client *c = e2e_client(s);
	Objd__Response *r = NULL;
	uint64_t n;

	ck_assert_int_eq(objd_status(c, &r), OBJD_OK);
	n = r->info->clients - 1;
	objd_response_free(r);
	objd_close(c);
	return n;
}

/* objctl watch runs until SIGINT, and then exits 0. */
START_TEST(test_objctl_watch_sigint)
{
	char *out = e2e_path(s, "watch.out");
	pid_t pid;
	char *text = NULL;
	int st;

	e2e_start(s);
	CTL_OK(s, "set", "k", "v");
	pid = spawn_objctl(out, e2e_path(s, "watch.err"), E2E_ARGV("watch"));
	for (double end = e2e_now() + E2E_DEADLINE; e2e_now() < end;) {
		free(text);
		text = e2e_read_file(out, NULL);
		if (text != NULL && strstr(text, " current k ") != NULL)
			break;
		e2e_sleep(0.02);
	}
	ck_assert_msg(text != NULL && strstr(text, " current k \"v\"\n"),
	    "watch printed '%s'", text ? text : "");
	CTL_OK(s, "set", "k", "w");
	for (double end = e2e_now() + E2E_DEADLINE; e2e_now() < end;) {
		free(text);
		text = e2e_read_file(out, NULL);
		if (text != NULL && strstr(text, " set k \"w\"\n") != NULL)
			break;
		e2e_sleep(0.02);
	}
	ck_assert_msg(text != NULL && strstr(text, " set k \"w\"\n"),
	    "watch printed '%s'", text ? text : "");
	free(text);
	kill(pid, SIGINT);
	ck_assert(e2e_wait_gone(pid, E2E_DEADLINE, &st));
	ck_assert_int_eq(st, 0);
	e2e_stop(s);
}
END_TEST

/* A watch ended by objd's clean stop says that objd stopped, after the
 * changes committed before it; objctl exits 6 with that reason. */
START_TEST(test_objctl_watch_told_of_stop)
{
	const char *out = e2e_path(s, "watch.out");
	const char *err = e2e_path(s, "watch.err");
	char *text = NULL;
	pid_t pid;
	int st;

	e2e_start(s);
	CTL_OK(s, "set", "k", "v");
	pid = spawn_objctl(out, err, E2E_ARGV("watch"));
	for (double end = e2e_now() + E2E_DEADLINE; e2e_now() < end;) {
		free(text);
		text = e2e_read_file(out, NULL);
		if (text != NULL && strstr(text, " current k ") != NULL)
			break;
		e2e_sleep(0.02);
	}
	ck_assert_msg(text != NULL && strstr(text, " current k \"v\"\n"),
	    "watch printed '%s'", text ? text : "");
	free(text);
	CTL_OK(s, "set", "k", "w");
	e2e_stop(s);
	ck_assert(e2e_wait_gone(pid, E2E_DEADLINE, &st));
	text = e2e_read_file(out, NULL);
	ck_assert_msg(text != NULL && strstr(text, " set k \"w\"\n"),
	    "watch printed '%s'", text ? text : "");
	free(text);
	text = e2e_read_file(err, NULL);
	ck_assert_msg(st == 6, "objctl watch exited %d: %s", st, text);
	ck_assert_msg(text != NULL && e2e_one_line(text) &&
	        strncmp(text, "objctl: objd stopped", 20) == 0,
	    "stderr: '%s'", text ? text : "");
	free(text);
}
END_TEST

/* objctl watch, stopped while objd writes to it, is dropped: once it
 * runs again it prints what it had, then objd's reason, and exits 6. */
START_TEST(test_objctl_watch_dropped)
{
	const char *err = e2e_path(s, "watch.err");
	objd_client *c;
	char *text;
	pid_t pid;
	int st;

	start_capped();
	c = e2e_client(s);
	pid = spawn_objctl("/dev/null", err, E2E_ARGV("watch", "big"));
	for (double end = e2e_now() + E2E_DEADLINE;
	     clients() < 2 && e2e_now() < end;)
		e2e_sleep(0.02);
	ck_assert_uint_eq(clients(), 2); /* c and the watch */
	/* Let it subscribe, then stop it. */
	e2e_sleep(0.2);
	ck_assert_int_eq(kill(pid, SIGSTOP), 0);
	write_big(c, "big", PAST_THE_CAP);
	CTL_OK(s, "ping");
	ck_assert_int_eq(kill(pid, SIGCONT), 0);
	ck_assert(e2e_wait_gone(pid, 2 * E2E_DEADLINE, &st));
	text = e2e_read_file(err, NULL);
	ck_assert_msg(st == 6, "objctl watch exited %d: %s", st, text);
	ck_assert_msg(text != NULL && e2e_one_line(text) &&
	        strncmp(text, "objctl: ", 8) == 0,
	    "stderr: '%s'", text);
	free(text);
	ck_assert_uint_eq(clients(), 1);
	objd_close(c);
	e2e_stop(s);
}
END_TEST

/* A reload of the file is an event of its own. */
START_TEST(test_watch_reload)
{
	Objd__Response *first = NULL, *r = NULL;
	objd_client *w;
	bool seen = false;

	e2e_start(s);
	CTL_OK(s, "set", "k", "1");
	w = e2e_client(s);
	ck_assert_int_eq(objd_watch(w, NULL, 0, &first), OBJD_OK);
	objd_response_free(first);
	/* Another program replaces the file. */
	{
		Objd__Object obj = OBJD__OBJECT__INIT;
		Objd__Object__EntriesEntry
		    e = OBJD__OBJECT__ENTRIES_ENTRY__INIT,
		    *ep = &e;
		const char *tmp = e2e_path(s, "new.pb");
		size_t len;
		uint8_t *buf;

		e.key = "k";
		e.value = value_new_int(2);
		obj.n_entries = 1;
		obj.entries = &ep;
		len = objd__object__get_packed_size(&obj);
		buf = malloc(len);
		objd__object__pack(&obj, buf);
		e2e_write_file(tmp, buf, len);
		ck_assert(rename(tmp, s->file) == 0);
		free(buf);
		value_free(e.value);
	}
	for (double end = e2e_now() + E2E_DEADLINE; !seen && e2e_now() < end;) {
		ck_assert_int_eq(objd_watch_next(w, &r, 1.0), OBJD_OK);
		for (size_t i = 0; r != NULL && i < r->n_events; i++)
			if (r->events[i]->type == OBJD__EVENT__TYPE__RELOAD)
				seen = true;
		objd_response_free(r);
	}
	ck_assert_msg(seen, "no RELOAD event after the file was replaced");
	objd_close(w);
	e2e_stop(s);
}
END_TEST

/*
 * dump and load.
 */

/* Every type, and the maps that need the "$map" escape. */
static const char every_type[] =
    "{\n"
    "  \"null\": null, \"t\": true, \"f\": false,\n"
    "  \"int\": 30, \"zero\": 0, \"neg\": -5,\n"
    "  \"max\": 9223372036854775807, \"min\": -9223372036854775808,\n"
    "  \"dbl\": 30.0, \"tenth\": 0.1, \"negzero\": -0.0, \"tiny\": 5e-324,\n"
    "  \"big\": 1.7976931348623157e308, \"third\": 0.3333333333333333,\n"
    "  \"nan\": {\"$double\": \"nan\"}, \"inf\": {\"$double\": \"inf\"},\n"
    "  \"ninf\": {\"$double\": \"-inf\"},\n"
    "  \"str\": \"John\", \"empty\": \"\",\n"
    "  \"uni\": \"Jos\\u00e9 \\u2713 \\u65e5\\u672c \\ud83d\\ude00 "
    "\\u2028\",\n"
    "  \"ctl\": \"a\\nb\\tc\\u0001\\u001f\\u007f\\\"\\\\/\",\n"
    "  \"bytes\": {\"$bytes\": \"AAEC/w==\"}, \"nobytes\": {\"$bytes\": "
    "\"\"},\n"
    "  \"list\": [1, 2.5, \"a\", null, true, [false, []], {\"k\": 0.0}],\n"
    "  \"emptylist\": [], \"emptymap\": {},\n"
    "  \"map\": {\"a\": {\"b\": {\"c\": [{\"$bytes\": \"AP8=\"}]}}},\n"
    "  \"dollar\": {\"$map\": {\"$bytes\": \"not base64\"}},\n"
    "  \"dollar2\": {\"$map\": {\"$double\": {\"$map\": {\"$map\": 1}}}},\n"
    "  \"dollar3\": {\"$bytes\": 1, \"$map\": 2},\n"
    "  \"a.b\": \"dotted\", \"c\\\\d\": \"backslash\", \"x\\ny\": \"nl\",\n"
    "  \"\\u00e9\\u00e9\": \"utf-8 key\"\n"
    "}\n";

/* What dump must print for the document text. */
static char *
expected_dump(const char *doc)
{
	char err[256], *text, *out;
	Objd__Value *v = json_to_value(doc, strlen(doc), err, sizeof(err));

	ck_assert_msg(v != NULL, "test bug: %s", err);
	text = json_from_value(v, 2);
	value_free(v);
	ck_assert(asprintf(&out, "%s\n", text) != -1);
	free(text);
	return out;
}

START_TEST(test_dump_load_round_trip)
{
	char *want = expected_dump(every_type), *dump1, *dump2;
	const char *file = e2e_path(s, "dump.json");
	Objd__Value *v;
	objd_client *c;
	uint64_t rev;

	e2e_start(s);
	CTL_OK(s, "set", "old", "1");
	ck_assert_msg(e2e_objctl(s, every_type, NULL, E2E_ARGV("load")) == 0,
	    "load: exit %d: %s", s->status, s->err);
	dump1 = strdup(CTL_OK(s, "dump"));
	ck_assert_msg(strcmp(dump1, want) == 0, "dump printed\n%s\nwant\n%s",
	    dump1, want);
	CTL_EXIT(s, 1, "get", "old");
	/* get prints the same. */
	ck_assert_str_eq(CTL_OK(s, "get"), dump1);

	/* dump -> load -> dump, from a file, in one change. */
	e2e_write_file(file, dump1, strlen(dump1));
	rev = revision();
	CTL_OK(s, "load", file);
	ck_assert_uint_le(revision(), rev + 1);
	ck_assert_msg(strcmp(dump1, CTL_OK(s, "dump")) == 0,
	    "dump after load differs:\n%s\nwas\n%s", s->out, dump1);
	/* and once more from stdin, after a restart. */
	e2e_stop(s);
	e2e_start(s);
	ck_assert_str_eq(CTL_OK(s, "dump"), dump1);
	ck_assert(e2e_objctl(s, dump1, NULL, E2E_ARGV("load", "-")) == 0);
	ck_assert_str_eq(CTL_OK(s, "dump"), dump1);

	/* The types are the types. */
	ck_assert_str_eq(CTL_OK(s, "get", "dbl"), "30.0\n");
	ck_assert_str_eq(CTL_OK(s, "get", "int"), "30\n");
	ck_assert_str_eq(CTL_OK(s, "get", "negzero"), "-0.0\n");
	ck_assert_str_eq(CTL_OK(s, "get", "min"), "-9223372036854775808\n");
	ck_assert_str_eq(CTL_OK(s, "get", "a\\.b"), "dotted\n");
	ck_assert_str_eq(CTL_OK(s, "get", "dollar"),
	    "{\"$map\": {\"$bytes\": \"not base64\"}}\n");
	c = e2e_client(s);
	ck_assert_int_eq(objd_get(c, "nobytes", &v), OBJD_OK);
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_BYTES_VALUE);
	ck_assert_uint_eq(v->bytes_value.len, 0);
	value_free(v);
	ck_assert_int_eq(objd_get(c, "negzero", &v), OBJD_OK);
	ck_assert(v->kind_case == OBJD__VALUE__KIND_DOUBLE_VALUE &&
	    v->double_value == 0 && signbit(v->double_value));
	value_free(v);
	ck_assert_int_eq(objd_get(c, "nan", &v), OBJD_OK);
	ck_assert(isnan(v->double_value));
	value_free(v);
	ck_assert_int_eq(objd_get(c, "dollar", &v), OBJD_OK);
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_MAP_VALUE);
	ck_assert_str_eq(v->map_value->fields[0]->key, "$bytes");
	ck_assert_int_eq(v->map_value->fields[0]->value->kind_case,
	    OBJD__VALUE__KIND_STRING_VALUE);
	value_free(v);
	objd_close(c);

	/* A whole object whose only key is special is escaped too. */
	ck_assert(e2e_objctl(s, "{\"$map\": {\"$bytes\": 1}}", NULL,
	              E2E_ARGV("load")) == 0);
	ck_assert_str_eq(CTL_OK(s, "list"), "$bytes\n");
	dump2 = strdup(CTL_OK(s, "dump"));
	ck_assert_str_eq(dump2,
	    "{\n  \"$map\": {\n    \"$bytes\": 1\n  }\n}\n");
	ck_assert(e2e_objctl(s, dump2, NULL, E2E_ARGV("load")) == 0);
	ck_assert_str_eq(CTL_OK(s, "dump"), dump2);
	free(dump2);
	free(dump1);
	free(want);
	e2e_stop(s);
}
END_TEST

START_TEST(test_load_errors)
{
	static const struct {
		const char *doc;
		const char *want1;
		const char *want2;
	} bad[] = {
		{ "{\n  \"a\": 1,\n  \"b\": [1, 2,\n}\n", "line 4", "column" },
		{ "{\"a\": 1}\n{\"b\": 2}", "line 2", "column" },
		{ "", "line 1", "column" },
		{ "[1, 2]", "a list", "object" },
		{ "30", "an int", "object" },
		{ "{\"a\": {\"$bytes\": \"!!\"}}", "base64", ".a" },
		{ "{\"a\": 1, \"a\": 2}", "duplicate", "line 1" },
		{ "{\"\": 1}", "invalid key", NULL },
		{ "{\"a\": 99999999999999999999}", "out of range", "line 1" },
		{ "{\"a\": \"\\u0000\"}", "NUL", NULL },
		{ "{\"a\": \"\xff\"}", "UTF-8", "line 1" },
	};
	char *before;
	uint64_t rev;

	e2e_start(s);
	CTL_OK(s, "set", "keep", "1", "also", "[2]");
	before = strdup(CTL_OK(s, "dump"));
	rev = revision();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st = e2e_objctl(s, bad[i].doc, NULL, E2E_ARGV("load"));

		ck_assert_msg(st == 2, "load '%s': exit %d, want 2", bad[i].doc,
		    st);
		ck_assert_msg(e2e_one_line(s->err), "load '%s': stderr '%s'",
		    bad[i].doc, s->err);
		ck_assert_msg(strstr(s->err, bad[i].want1) != NULL,
		    "load '%s': stderr '%s' lacks '%s'", bad[i].doc, s->err,
		    bad[i].want1);
		ck_assert_msg(bad[i].want2 == NULL ||
		        strstr(s->err, bad[i].want2) != NULL,
		    "load '%s': stderr '%s' lacks '%s'", bad[i].doc, s->err,
		    bad[i].want2);
		st = e2e_objctl(s, bad[i].doc, NULL,
		    E2E_ARGV("load", "--merge"));
		ck_assert_int_eq(st, 2);
	}
	CTL_EXIT(s, 2, "load", e2e_path(s, "no-such-file.json"));
	ck_assert_msg(e2e_one_line(s->err), "stderr '%s'", s->err);
	CTL_EXIT(s, 2, "load", "a", "b");
	ck_assert_str_eq(CTL_OK(s, "dump"), before);
	ck_assert_uint_eq(revision(), rev);
	free(before);
	e2e_stop(s);
}
END_TEST

START_TEST(test_load_merge)
{
	uint64_t rev;

	e2e_start(s);
	CTL_OK(s, "set", "a", "1", "b", "2", "m", "{\"x\": 1, \"y\": 2}");
	rev = revision();
	ck_assert(e2e_objctl(s, "{\"b\": 3, \"c\": 4, \"m\": {\"z\": 3}}", NULL,
	              E2E_ARGV("load", "--merge")) == 0);
	/* Top-level keys are set whole; the others stay. */
	ck_assert_msg(e2e_json_same(CTL_OK(s, "get"),
	                  "{\"a\": 1, \"b\": 3, \"c\": 4, \"m\": {\"z\": 3}}"),
	    "after merge: %s", s->out);
	ck_assert_uint_eq(revision(), rev + 1);

	/* Without --merge the document is the object. */
	ck_assert(e2e_objctl(s, "{\"d\": 5, \"a.b\": 6}", NULL,
	              E2E_ARGV("load")) == 0);
	ck_assert_msg(e2e_json_same(CTL_OK(s, "get"), "{\"d\": 5, \"a.b\": 6}"),
	    "after load: %s", s->out);
	ck_assert_uint_eq(revision(), rev + 2);
	/* A dotted name in a document is a top-level key, not a path. */
	ck_assert_str_eq(CTL_OK(s, "get", "a\\.b"), "6\n");
	CTL_EXIT(s, 1, "get", "a");

	/* An empty document empties the object; with --merge it is a
	 * no-op. */
	ck_assert(e2e_objctl(s, "{}", NULL, E2E_ARGV("load", "--merge")) == 0);
	ck_assert_str_eq(CTL_OK(s, "list"), "a\\.b\nd\n");
	ck_assert(e2e_objctl(s, "{}", NULL, E2E_ARGV("load")) == 0);
	ck_assert_str_eq(CTL_OK(s, "list"), "");
	ck_assert_str_eq(CTL_OK(s, "dump"), "{}\n");
	e2e_stop(s);
}
END_TEST

/*
 * A watcher that does not read is dropped, and the others are served.
 */
START_TEST(test_slow_watcher_dropped)
{
	const char *key = "big";
	Objd__Response *resp;
	struct reqbuf b;
	struct raw r;
	objd_client *c;
	int rcvbuf = 4096, frames = 0;
	bool failed = false;
	enum raw_outcome o;

	start_capped();
	CTL_OK(s, "set", "probe", "still here");
	raw_open(&r);
	(void)setsockopt(r.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	{
		uint8_t *buf = NULL;
		size_t len = 0;

		frame_append(&buf, &len, req_watch(&b, 9, key, 0));
		ck_assert(e2e_raw_send(r.fd, buf, len));
		free(buf);
	}
	ck_assert_int_eq(raw_next(&r, E2E_DEADLINE, &resp), RAW_ANSWER);
	ck_assert_int_eq(resp->status, OBJD__STATUS__OK);
	objd__response__free_unpacked(resp, NULL);

	/* Large changes, well past the cap, while the watcher reads
	 * nothing; everyone else is served all along. */
	c = e2e_client(s);
	for (int i = 0; i < 4; i++) {
		write_big(c, key, PAST_THE_CAP / 4);
		ck_assert_str_eq(CTL_OK(s, "get", "probe"), "still here\n");
		ck_assert_int_eq(objd_ping(c), OBJD_OK);
	}
	/* What is left for the watcher: events, then the reason, then the
	 * end. */
	while ((o = raw_next(&r, E2E_DEADLINE, &resp)) == RAW_ANSWER) {
		frames++;
		if (resp->status != OBJD__STATUS__OK) {
			ck_assert_int_eq(resp->status, OBJD__STATUS__FAILED);
			ck_assert_msg(resp->error[0] != '\0',
			    "dropped without a reason");
			ck_assert_uint_eq(resp->id, 9);
			failed = true;
		} else
			ck_assert_msg(!failed, "an event after the drop");
		objd__response__free_unpacked(resp, NULL);
	}
	ck_assert_msg(o == RAW_CLOSED,
	    "after %d frames the watcher got %s, want the connection closed",
	    frames, e2e_raw_outcome_str(o));
	ck_assert_msg(failed, "objd closed the watch without a FAILED answer");
	/* It was told before the events went far past the cap. */
	ck_assert_int_lt(frames, PAST_THE_CAP);
	raw_close(&r);
	ck_assert(e2e_alive(s));
	ck_assert_str_eq(CTL_OK(s, "get", "probe"), "still here\n");
	objd_close(c);
	e2e_stop(s);
}
END_TEST

static Suite *
protocol_suite(void)
{
	Suite *suite = suite_create("protocol");
	TCase *tc;

	tc = e2e_tcase(suite, "conditions", 180);
	tcase_add_test(tc, test_cas_race);
	tcase_add_test(tc, test_conditions);
	tcase_add_test(tc, test_get_meta);
	tcase_add_test(tc, test_set_repeated_key);

	tc = e2e_tcase(suite, "paths", 60);
	tcase_add_test(tc, test_nested_keys);
	tcase_add_test(tc, test_list_escapes);
	tcase_add_test(tc, test_pipelining);
	tcase_add_test(tc, test_answer_sizes);
	tcase_add_test(tc, test_pipelined_writes);
	tcase_add_test(tc, test_batch_index_reused);
	tcase_add_test(tc, test_own_append_before_reload);
	tcase_add_test(tc, test_input_across_reads);
	tcase_add_test(tc, test_large_values_as_they_arrive);

	tc = e2e_tcase(suite, "watch", 180);
	tcase_add_test(tc, test_watch_burst);
	tcase_add_test(tc, test_watch_since);
	tcase_add_test(tc, test_watch_history_full);
	tcase_add_test(tc, test_watch_history_large);
	tcase_add_test(tc, test_objctl_watch);
	tcase_add_test(tc, test_objctl_watch_sigint);
	tcase_add_test(tc, test_objctl_watch_dropped);
	tcase_add_test(tc, test_objctl_watch_told_of_stop);
	tcase_add_test(tc, test_watch_reload);
	tcase_add_test(tc, test_slow_watcher_dropped);

	tc = e2e_tcase(suite, "dump and load", 60);
	tcase_add_test(tc, test_dump_load_round_trip);
	tcase_add_test(tc, test_load_errors);
	tcase_add_test(tc, test_load_merge);
	return suite;
}

int
main(void)
{
	return e2e_main(protocol_suite());
}
