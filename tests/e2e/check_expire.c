/* SPDX-License-Identifier: ISC */
/* check_expire.c: keys that expire (set --ttl) and keys held by a
 * connection (hold). The heap of deadlines as a unit; the rest end to
 * end, against a real objd: expiry as a committed change that watchers
 * see, across restarts, in thousands at once; held keys going with their
 * holder however it ends, and with objd's crash.
 *
 * No timing is asserted beyond "not before the deadline": a key is
 * polled until it goes, up to a generous deadline. */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "arena.h"
#include "framing.h"
#include "harness.h"
#include "objd-client.h"
#include "objd.h"

static struct session *const s = &e2e_session;

/* The heap of deadlines. */

START_TEST(test_heap_order)
{
	struct leases *l = leases_new();
	struct lease *lease;
	uint64_t last = 0;
	size_t n = 0;
	char key[32];

	/* Deadlines in a scrambled order, some equal. */
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%u", i);
		leases_set(l, key, strlen(key), 1 + (i * 7919u) % 500, 0);
	}
	ck_assert_uint_eq(leases_count(l), 1000);
	ck_assert_uint_eq(leases_next_deadline(l), 1);
	/* Nothing is due before its deadline. */
	ck_assert_ptr_null(leases_pop_due(l, 0));
	while ((lease = leases_pop_due(l, 250)) != NULL) {
		ck_assert_uint_ge(lease->deadline, last);
		ck_assert_uint_le(lease->deadline, 250);
		last = lease->deadline;
		n++;
	}
	ck_assert_uint_eq(n, 500);
	ck_assert_uint_eq(leases_next_deadline(l), 251);
	/* Taken off the queue, a lease stays the key's. */
	ck_assert_ptr_nonnull(leases_get(l, "k0", 2));
	leases_free(l);
}
END_TEST

START_TEST(test_heap_replace_and_drop)
{
	struct leases *l = leases_new();
	struct lease *lease;
	char key[32];

	for (unsigned i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "k%u", i);
		leases_set(l, key, strlen(key), 100 + i, 0);
	}
	/* A new deadline for a key replaces its lease in the queue. */
	leases_set(l, "k50", 3, 5, 0);
	ck_assert_uint_eq(leases_next_deadline(l), 5);
	leases_set(l, "k50", 3, 1000, 0);
	ck_assert_uint_eq(leases_next_deadline(l), 100);
	/* Dropped from the middle and from the top. */
	leases_drop(l, "k10", 3);
	leases_drop(l, "k0", 2);
	ck_assert_uint_eq(leases_count(l), 98);
	ck_assert_uint_eq(leases_next_deadline(l), 101);
	/* None of the dropped comes back out. */
	for (uint64_t last = 0; (lease = leases_pop_due(l, 999)) != NULL;) {
		ck_assert_str_ne(lease->key, "k10");
		ck_assert_str_ne(lease->key, "k0");
		ck_assert_str_ne(lease->key, "k50");
		ck_assert_uint_ge(lease->deadline, last);
		last = lease->deadline;
	}
	/* A requeued lease is due again. */
	lease = leases_get(l, "k99", 3);
	ck_assert_ptr_nonnull(lease);
	leases_requeue(l, lease);
	ck_assert_uint_eq(leases_next_deadline(l), 199);
	/* 0 and 0: no lease. */
	leases_set(l, "k99", 3, 0, 0);
	ck_assert_ptr_null(leases_get(l, "k99", 3));
	ck_assert_uint_eq(leases_next_deadline(l), 1000);
	leases_free(l);
}
END_TEST

static void
count_held(struct lease *lease, void *arg)
{
	ck_assert_uint_ne(lease->holder, 0);
	(*(size_t *)arg)++;
}

START_TEST(test_heap_holders)
{
	struct leases *l = leases_new();
	size_t n = 0;

	leases_set(l, "a", 1, 0, 7);
	leases_set(l, "b", 1, 0, 7);
	leases_set(l, "c", 1, 50, 0);
	ck_assert_uint_eq(leases_held(l), 2);
	leases_foreach_held(l, count_held, &n);
	ck_assert_uint_eq(n, 2);
	/* A held key is not in the queue of deadlines. */
	ck_assert_uint_eq(leases_next_deadline(l), 50);
	leases_set(l, "a", 1, 0, 0);
	ck_assert_uint_eq(leases_held(l), 1);
	leases_drop(l, "b", 1);
	ck_assert_uint_eq(leases_held(l), 0);
	n = 0;
	leases_foreach_held(l, count_held, &n);
	ck_assert_uint_eq(n, 0);
	leases_free(l);
}
END_TEST

/* The store ends a key's lease when the key is set or deleted. */
START_TEST(test_store_ends_lease)
{
	struct store *st = store_new();
	const uint8_t v[] = { 0x18, 0x02 }; /* int 1 */

	free(store_put(st, store_entry_new("a", 1, v, sizeof(v), 1)));
	store_lease_set(st, "a", 1, 10, 0);
	ck_assert_ptr_nonnull(leases_get(store_leases(st), "a", 1));
	free(store_put(st, store_entry_new("a", 1, v, sizeof(v), 2)));
	ck_assert_ptr_null(leases_get(store_leases(st), "a", 1));
	store_lease_set(st, "a", 1, 10, 0);
	free(store_remove(st, "a", 1));
	ck_assert_uint_eq(leases_count(store_leases(st)), 0);
	store_free(st);
}
END_TEST

/* objd decodes the common requests by hand (request-decode.c): a Set or
 * a Batch that carries a lease must come out with it, or not at all (and
 * then protobuf-c decodes it). */
static void
check_decoded_lease(Objd__Request *req)
{
	struct arena arena;
	size_t len = objd__request__get_packed_size(req);
	uint8_t *body = malloc(len);
	Objd__Request *got;

	ck_assert_ptr_nonnull(body);
	objd__request__pack(req, body);
	arena_init(&arena, 4096);
	got = request_decode(&arena, body, len);
	if (got != NULL && got->op_case == OBJD__REQUEST__OP_SET) {
		ck_assert_uint_eq(got->set->ttl_ms, req->set->ttl_ms);
		ck_assert_int_eq(got->set->hold, req->set->hold);
	} else if (got != NULL) {
		ck_assert_int_eq(got->op_case, OBJD__REQUEST__OP_BATCH);
		ck_assert_uint_eq(got->batch->ttl_ms, req->batch->ttl_ms);
		ck_assert_int_eq(got->batch->hold, req->batch->hold);
	}
	arena_free(&arena);
	free(body);
}

START_TEST(test_hand_decoder_keeps_lease)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Set set = OBJD__SET__INIT;
	Objd__Batch batch = OBJD__BATCH__INIT;
	Objd__Operation op = OBJD__OPERATION__INIT, *ops[] = { &op };
	Objd__Entry e = OBJD__ENTRY__INIT, *entries[] = { &e };
	Objd__Value v = OBJD__VALUE__INIT;

	v.kind_case = OBJD__VALUE__KIND_INT_VALUE;
	v.int_value = 1;
	e.key = "k";
	e.value = &v;
	set.n_entries = 1;
	set.entries = entries;
	req.id = 9;
	req.op_case = OBJD__REQUEST__OP_SET;
	req.set = &set;
	set.ttl_ms = 1500;
	check_decoded_lease(&req);
	set.ttl_ms = 0;
	set.hold = true;
	check_decoded_lease(&req);
	op.op_case = OBJD__OPERATION__OP_SET;
	op.set = &e;
	batch.n_operations = 1;
	batch.operations = ops;
	req.op_case = OBJD__REQUEST__OP_BATCH;
	req.batch = &batch;
	batch.ttl_ms = 1500;
	check_decoded_lease(&req);
	batch.ttl_ms = 0;
	batch.hold = true;
	check_decoded_lease(&req);
}
END_TEST

/* End to end. */

/* The object's revision, from objctl status --json. */
static uint64_t
object_revision(void)
{
	const char *out = CTL_OK(s, "--json", "status");
	const char *p = strstr(out, "\"revision\": ");

	ck_assert_msg(p != NULL, "no revision in %s", out);
	return strtoull(p + strlen("\"revision\": "), NULL, 10);
}

/* Waits until `objctl get key` exits 1 (gone); false at the deadline. */
static bool
wait_gone(const char *key, double timeout)
{
	double until = e2e_now() + timeout;

	do {
		if (CTL(s, "get", key) == 1)
			return true;
		e2e_sleep(0.05);
	} while (e2e_now() < until);
	return false;
}

static void
text_add(char **text, size_t *len, const Objd__Event *e)
{
	static const char *const names[] = { "set", "delete", "reload",
		"expire" };
	const char *name = e->type < 4 ? names[e->type] : "unknown";
	int n = snprintf(NULL, 0, "%llu %s %s\n",
	    (unsigned long long)e->revision, name, e->key);

	*text = realloc(*text, *len + (size_t)n + 1);
	ck_assert_ptr_nonnull(*text);
	snprintf(*text + *len, (size_t)n + 1, "%llu %s %s\n",
	    (unsigned long long)e->revision, name, e->key);
	*len += (size_t)n;
}

/* The changes after revision since, as lines "REV TYPE KEY", read with a
 * watch up to a set of the key "sentinel", which this makes first. The
 * caller frees the text. */
static char *
watch_since(uint64_t since)
{
	double until = e2e_now() + E2E_DEADLINE;
	Objd__Response *r = NULL;
	objd_client *c;
	char *text = NULL;
	size_t len = 0;
	bool done = false;

	CTL_OK(s, "set", "sentinel", "1");
	ck_assert_int_eq(objd_connect(s->ctl_socket, E2E_DEADLINE, &c, NULL, 0),
	    OBJD_OK);
	ck_assert_int_eq(objd_watch(c, "", since, &r), OBJD_OK);
	while (!done && e2e_now() < until) {
		for (size_t i = 0; r != NULL && i < r->n_events; i++) {
			text_add(&text, &len, r->events[i]);
			if (r->events[i]->type == OBJD__EVENT__TYPE__SET &&
			    strcmp(r->events[i]->key, "sentinel") == 0)
				done = true;
		}
		objd_response_free(r);
		r = NULL;
		if (!done)
			ck_assert_int_eq(objd_watch_next(c, &r, 0.5), OBJD_OK);
	}
	objd_response_free(r);
	objd_close(c);
	ck_assert_msg(done, "the watch did not reach the sentinel: %s",
	    text != NULL ? text : "");
	return text;
}

#define TTL_SECONDS 2.0

START_TEST(test_ttl_expires_as_change)
{
	double set_at;
	uint64_t rev;
	const char *out;
	char *events;

	CTL_OK(s, "set", "keep", "1");
	set_at = e2e_now();
	CTL_OK(s, "set", "--ttl", "2", "a", "1", "b", "\"x\"");
	rev = object_revision();
	out = CTL_OK(s, "get", "--meta", "a");
	ck_assert_msg(strstr(out, "expires in: ") != NULL, "%s", out);
	/* Not before the deadline: reads at about 0.5 s. */
	e2e_sleep(0.5);
	if (e2e_now() - set_at < TTL_SECONDS - 0.2)
		CTL_OK(s, "get", "a");
	ck_assert_msg(wait_gone("a", TTL_SECONDS + E2E_DEADLINE),
	    "a did not expire");
	ck_assert_uint_ge(e2e_now() - set_at, TTL_SECONDS - 0.05);
	CTL_EXIT(s, 1, "get", "b");
	CTL_OK(s, "get", "keep");
	/* Both went in one change of their own, which watchers see. */
	ck_assert_uint_eq(object_revision(), rev + 1);
	events = watch_since(2);
	ck_assert_msg(strstr(events, "3 expire a\n") != NULL &&
	        strstr(events, "3 expire b\n") != NULL,
	    "%s", events);
	free(events);
	/* objctl prints it so, in text and JSON. */
	out = CTL_OK(s, "watch", "--since", "2", "--count", "1");
	ck_assert_msg(strncmp(out, "3 expire ", 9) == 0, "%s", out);
	out = CTL_OK(s, "--json", "watch", "--since", "2", "--count", "1");
	ck_assert_msg(strstr(out, "\"type\": \"expire\"") != NULL, "%s", out);
	/* The file says so too: after a restart they are still gone. */
	e2e_stop(s);
	e2e_start(s);
	CTL_EXIT(s, 1, "get", "a");
	ck_assert_uint_eq(object_revision(), rev + 2);
}
END_TEST

START_TEST(test_set_without_ttl_makes_permanent)
{
	const char *out;

	CTL_OK(s, "set", "--ttl", "0.3", "a", "1", "b", "1");
	/* The same value, without --ttl: a change of its lease alone. */
	CTL_OK(s, "set", "a", "1");
	out = CTL_OK(s, "get", "--meta", "a");
	ck_assert_msg(strstr(out, "expires in") == NULL, "%s", out);
	ck_assert_msg(wait_gone("b", E2E_DEADLINE), "b did not expire");
	CTL_OK(s, "get", "a");
	/* And it stays so across a restart. */
	e2e_stop(s);
	e2e_start(s);
	CTL_OK(s, "get", "a");
}
END_TEST

START_TEST(test_ttl_refused)
{
	e2e_start(s);
	CTL_EXIT(s, 2, "set", "--ttl", "0", "a", "1");
	CTL_EXIT(s, 2, "set", "--ttl", "-1", "a", "1");
	CTL_EXIT(s, 2, "set", "--ttl", "soon", "a", "1");
	CTL_EXIT(s, 2, "set", "--ttl", "1e12", "a", "1");
	CTL_EXIT(s, 1, "get", "a");
}
END_TEST

/* A deadline that passed while objd was down: the key goes at start, as
 * a committed change. */
START_TEST(test_ttl_passed_while_down)
{
	uint64_t rev;

	CTL_OK(s, "set", "--ttl", "0.5", "a", "1");
	CTL_OK(s, "set", "b", "2");
	e2e_stop(s);
	rev = 2;
	e2e_sleep(0.8);
	e2e_start(s);
	ck_assert_msg(wait_gone("a", E2E_DEADLINE), "a stayed");
	CTL_OK(s, "get", "b");
	ck_assert_uint_eq(object_revision(), rev + 1);
	/* Committed: a restart does not bring it back. */
	e2e_stop(s);
	e2e_start(s);
	CTL_EXIT(s, 1, "get", "a");
	ck_assert_uint_eq(object_revision(), rev + 1);
}
END_TEST

/* A restart before the deadline neither cancels nor extends it; a
 * compaction keeps it. */
START_TEST(test_ttl_survives_restart)
{
	double set_at;

	set_at = e2e_now();
	CTL_OK(s, "set", "--ttl", "4", "a", "1");
	CTL_OK(s, "compact");
	e2e_stop(s);
	e2e_start(s);
	if (e2e_now() - set_at < 3.5) {
		const char *out = CTL_OK(s, "get", "--meta", "a");

		ck_assert_msg(strstr(out, "expires in: ") != NULL, "%s", out);
	}
	ck_assert_msg(wait_gone("a", 4 + E2E_DEADLINE), "a did not expire");
	ck_assert_uint_ge(e2e_now() - set_at, 4 - 0.05);
}
END_TEST

/* A compressed snapshot keeps the leases too. */
START_TEST(test_compressed_snapshot_keeps_leases)
{
	struct objd_opts o = { .extra = E2E_ARGV("--compress") };
	const char *out;

	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "--ttl", "3600", "a", "1");
	CTL_OK(s, "set", "b", "1");
	CTL_OK(s, "compact");
	e2e_stop(s);
	e2e_start_opts(s, &o);
	out = CTL_OK(s, "get", "--meta", "a");
	ck_assert_msg(strstr(out, "expires in: ") != NULL, "%s", out);
	out = CTL_OK(s, "get", "--meta", "b");
	ck_assert_msg(strstr(out, "expires in") == NULL, "%s", out);
	ck_assert(strstr(CTL_OK(s, "status"), "expiring keys: 1") != NULL);
}
END_TEST

#define MANY_KEYS 3000

START_TEST(test_many_expire_in_one_change)
{
	const char **argv = calloc(2 * MANY_KEYS + 5, sizeof(*argv));
	char **names = calloc(MANY_KEYS, sizeof(*names));
	double until = e2e_now() + 2 * E2E_DEADLINE;
	const char *out;
	char *events;
	uint64_t rev;
	size_t n = 0, count = 0;

	ck_assert_ptr_nonnull(argv);
	e2e_start(s);
	CTL_OK(s, "set", "keep", "1");
	argv[n++] = "set";
	argv[n++] = "--ttl";
	argv[n++] = "1";
	for (size_t i = 0; i < MANY_KEYS; i++) {
		ck_assert_int_ne(asprintf(&names[i], "k%05zu", i), -1);
		argv[n++] = names[i];
		argv[n++] = "1";
	}
	e2e_objctl_expect(s, __FILE__, __LINE__, 0, NULL, argv);
	rev = object_revision();
	while (e2e_now() < until) {
		out = CTL_OK(s, "--json", "status");
		if (strstr(out, "\"keys\": 1,") != NULL)
			break;
		e2e_sleep(0.1);
	}
	ck_assert_msg(strstr(CTL_OK(s, "--json", "status"), "\"keys\": 1,"),
	    "the keys did not expire");
	ck_assert_uint_eq(object_revision(), rev + 1);
	events = watch_since(2);
	for (const char *p = events; (p = strstr(p, "3 expire k")) != NULL; p++)
		count++;
	free(events);
	ck_assert_uint_eq(count, MANY_KEYS);
	for (size_t i = 0; i < MANY_KEYS; i++)
		free(names[i]);
	free(names);
	free(argv);
}
END_TEST

/* Sends a request frame on a new connection and returns the answer's
 * status. */
static Objd__Status
raw_call(Objd__Request *req)
{
	Objd__Response *resp;
	Objd__Status status;
	uint8_t *frame;
	size_t len;
	int fd = e2e_raw_connect(s);

	frame = frame_pack(&req->base, &len);
	ck_assert_ptr_nonnull(frame);
	ck_assert(e2e_raw_send(fd, frame, len));
	free(frame);
	ck_assert_int_eq(e2e_raw_wait(fd, E2E_DEADLINE, &resp), RAW_ANSWER);
	status = resp->status;
	objd__response__free_unpacked(resp, NULL);
	close(fd);
	return status;
}

/* The TTL of a plain Set and of a Batch, as raw frames: objd's own
 * decoders of the common requests must not drop it. */
START_TEST(test_ttl_raw_frames)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Set set = OBJD__SET__INIT;
	Objd__Batch batch = OBJD__BATCH__INIT;
	Objd__Operation op = OBJD__OPERATION__INIT, *ops[] = { &op };
	Objd__Entry e1 = OBJD__ENTRY__INIT, e2 = OBJD__ENTRY__INIT;
	Objd__Entry *entries[] = { &e1 };
	Objd__Value v = OBJD__VALUE__INIT;
	char *events;

	e2e_start(s);
	v.kind_case = OBJD__VALUE__KIND_INT_VALUE;
	v.int_value = 7;
	e1.key = "plain";
	e1.value = &v;
	set.n_entries = 1;
	set.entries = entries;
	set.ttl_ms = 300;
	req.id = 1;
	req.op_case = OBJD__REQUEST__OP_SET;
	req.set = &set;
	ck_assert_int_eq(raw_call(&req), OBJD__STATUS__OK);

	e2.key = "batched";
	e2.value = &v;
	op.op_case = OBJD__OPERATION__OP_SET;
	op.set = &e2;
	batch.n_operations = 1;
	batch.operations = ops;
	batch.ttl_ms = 300;
	req.op_case = OBJD__REQUEST__OP_BATCH;
	req.batch = &batch;
	ck_assert_int_eq(raw_call(&req), OBJD__STATUS__OK);

	ck_assert_msg(wait_gone("plain", E2E_DEADLINE), "plain stayed");
	ck_assert_msg(wait_gone("batched", E2E_DEADLINE), "batched stayed");
	events = watch_since(1);
	ck_assert_msg(strstr(events, "expire plain") != NULL, "%s", events);
	ck_assert_msg(strstr(events, "expire batched") != NULL, "%s", events);
	free(events);
}
END_TEST

/* The environment that preloads tests/failsync.c into objd, with the
 * session's folder as the shim's (as check_storage.c does). */
struct failsync {
	char preload[4096];
	char dir[128];
	char asan[4096];
	const char *env[4];
};

static void
failsync_init(struct failsync *fs, struct objd_opts *o)
{
	const char *lib = getenv("OBJD_FAILSYNC");
	const char *asan = getenv("ASAN_OPTIONS");

	ck_assert_msg(lib != NULL && access(lib, R_OK) == 0,
	    "OBJD_FAILSYNC: set it to the built tests/.libs/libfailsync.so");
	snprintf(fs->preload, sizeof(fs->preload), "LD_PRELOAD=%s", lib);
	snprintf(fs->dir, sizeof(fs->dir), "OBJD_TEST_SHIM_DIR=%.100s", s->dir);
	/* The shim is not instrumented: see check_storage.c. */
	snprintf(fs->asan, sizeof(fs->asan),
	    "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
	    asan != NULL ? asan : "", asan != NULL && *asan != '\0' ? ":" : "");
	fs->env[0] = fs->preload;
	fs->env[1] = fs->dir;
	fs->env[2] = fs->asan;
	fs->env[3] = NULL;
	o->env = fs->env;
}

/* An expiry that cannot be made durable leaves the key, and is tried
 * again once the disk works. */
START_TEST(test_expiry_refused_then_retried)
{
	const char *trigger = e2e_path(s, "fail-fsync");
	struct objd_opts o = { .extra = E2E_ARGV("--fsync", "always") };
	struct failsync fs;

	failsync_init(&fs, &o);
	e2e_start_opts(s, &o);
	CTL_OK(s, "set", "--ttl", "0.3", "a", "1");
	e2e_write_file(trigger, "", 0);
	ck_assert_msg(e2e_log_has(s, "change(s) refused"),
	    "the expiry was not refused; log:\n%s", e2e_log_tail(s));
	CTL_OK(s, "get", "a");
	unlink(trigger);
	ck_assert_msg(wait_gone("a", E2E_DEADLINE), "a stayed");
}
END_TEST

/* Held keys. */

/* Starts `objctl hold ARGS...` in the background and waits until key
 * exists. */
static pid_t
hold_start(const char *key, const char *const *args)
{
	const char *bin = getenv("OBJCTL_BIN");
	double until = e2e_now() + E2E_DEADLINE;
	const char *argv[16];
	size_t n = 0;
	pid_t pid;

	argv[n++] = bin;
	argv[n++] = "hold";
	for (; *args != NULL && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		setenv("OBJD_SOCKET", s->ctl_socket, 1);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	while (CTL(s, "get", key) != 0 && e2e_now() < until)
		e2e_sleep(0.05);
	ck_assert_msg(CTL(s, "get", key) == 0, "hold did not set %s", key);
	return pid;
}

static int
hold_end(pid_t pid, int sig)
{
	int status;

	kill(pid, sig);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

START_TEST(test_hold_sigint)
{
	pid_t pid;
	int status;
	uint64_t rev;
	char *events;

	e2e_start(s);
	CTL_OK(s, "set", "first", "1");
	pid = hold_start("leader", E2E_ARGV("leader", "\"me\"", "lock", "1"));
	rev = object_revision();
	ck_assert(strstr(CTL_OK(s, "status"), "held keys: 2") != NULL);
	/* --if-absent: exit 4 at once, nothing changed. */
	CTL_EXIT(s, 4, "hold", "--if-absent", "other", "1", "lock", "2");
	CTL_EXIT(s, 1, "get", "other");
	status = hold_end(pid, SIGINT);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_msg(wait_gone("leader", E2E_DEADLINE), "leader stayed");
	CTL_EXIT(s, 1, "get", "lock");
	/* One change, of deletes. */
	ck_assert_uint_eq(object_revision(), rev + 1);
	events = watch_since(1);
	ck_assert_msg(strstr(events, "3 delete leader\n3 delete lock\n") !=
	            NULL ||
	        strstr(events, "3 delete lock\n3 delete leader\n") != NULL,
	    "%s", events);
	free(events);
	/* SIGTERM too. */
	pid = hold_start("x", E2E_ARGV("x", "1"));
	status = hold_end(pid, SIGTERM);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_msg(wait_gone("x", E2E_DEADLINE), "x stayed");
}
END_TEST

START_TEST(test_hold_kill9)
{
	pid_t pid;

	e2e_start(s);
	pid = hold_start("a", E2E_ARGV("a", "1"));
	CTL_OK(s, "set", "permanent", "1");
	hold_end(pid, SIGKILL);
	ck_assert_msg(wait_gone("a", E2E_DEADLINE), "a stayed");
	CTL_OK(s, "get", "permanent");
}
END_TEST

/* A held key set again by another client becomes that client's: it
 * stays when the holder goes. */
START_TEST(test_hold_taken_over)
{
	pid_t pid;

	e2e_start(s);
	pid = hold_start("a", E2E_ARGV("a", "1", "b", "1"));
	CTL_OK(s, "set", "a", "2");
	hold_end(pid, SIGINT);
	ck_assert_msg(wait_gone("b", E2E_DEADLINE), "b stayed");
	ck_assert_str_eq(CTL_OK(s, "get", "a"), "2\n");
}
END_TEST

/* objd crashes while a key is held: at start, the key is gone, as a
 * committed change. */
START_TEST(test_hold_objd_crash)
{
	uint64_t rev;
	pid_t pid;

	e2e_start(s);
	CTL_OK(s, "set", "permanent", "1");
	pid = hold_start("a", E2E_ARGV("a", "1"));
	rev = object_revision();
	e2e_kill9(s);
	hold_end(pid, SIGKILL);
	e2e_start(s);
	ck_assert_msg(wait_gone("a", E2E_DEADLINE), "a stayed");
	CTL_OK(s, "get", "permanent");
	ck_assert_uint_eq(object_revision(), rev + 1);
	e2e_stop(s);
	e2e_start(s);
	CTL_EXIT(s, 1, "get", "a");
	ck_assert_uint_eq(object_revision(), rev + 1);
}
END_TEST

/* objd stops cleanly while a key is held: the holder is told (exit 6),
 * and the key, left in the file, is gone once objd starts again. */
START_TEST(test_hold_objd_stop)
{
	uint64_t rev;
	pid_t pid;
	int status;

	e2e_start(s);
	pid = hold_start("a", E2E_ARGV("a", "1"));
	rev = object_revision();
	e2e_stop(s);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 6);
	e2e_start(s);
	ck_assert_msg(wait_gone("a", E2E_DEADLINE), "a stayed");
	ck_assert_uint_eq(object_revision(), rev + 1);
}
END_TEST

/* A raw connection that holds a key and closes its socket. */
START_TEST(test_hold_socket_closed)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Set set = OBJD__SET__INIT;
	Objd__Entry e = OBJD__ENTRY__INIT, *entries[] = { &e };
	Objd__Value v = OBJD__VALUE__INIT;

	e2e_start(s);
	v.kind_case = OBJD__VALUE__KIND_BOOL_VALUE;
	v.bool_value = true;
	e.key = "here";
	e.value = &v;
	set.n_entries = 1;
	set.entries = entries;
	set.hold = true;
	req.id = 1;
	req.op_case = OBJD__REQUEST__OP_SET;
	req.set = &set;
	/* raw_call closes the connection once answered. */
	ck_assert_int_eq(raw_call(&req), OBJD__STATUS__OK);
	ck_assert_msg(wait_gone("here", E2E_DEADLINE), "here stayed");
}
END_TEST

/* The tests that start objd themselves run without the fixture's. */
static void
setup_started(void)
{
	e2e_open(s);
	e2e_start(s);
}

static Suite *
expire_suite(void)
{
	Suite *suite = suite_create("expire");
	TCase *unit = tcase_create("heap");
	TCase *ttl = tcase_create("ttl");
	TCase *raw = tcase_create("ttl-raw");
	TCase *hold = tcase_create("hold");

	tcase_add_test(unit, test_heap_order);
	tcase_add_test(unit, test_heap_replace_and_drop);
	tcase_add_test(unit, test_heap_holders);
	tcase_add_test(unit, test_store_ends_lease);
	tcase_add_test(unit, test_hand_decoder_keeps_lease);
	suite_add_tcase(suite, unit);

	tcase_add_checked_fixture(ttl, setup_started, e2e_teardown);
	tcase_set_timeout(ttl, 120);
	tcase_add_test(ttl, test_ttl_expires_as_change);
	tcase_add_test(ttl, test_set_without_ttl_makes_permanent);
	tcase_add_test(ttl, test_ttl_passed_while_down);
	tcase_add_test(ttl, test_ttl_survives_restart);
	suite_add_tcase(suite, ttl);

	tcase_add_checked_fixture(raw, e2e_setup, e2e_teardown);
	tcase_set_timeout(raw, 120);
	tcase_add_test(raw, test_ttl_refused);
	tcase_add_test(raw, test_many_expire_in_one_change);
	tcase_add_test(raw, test_compressed_snapshot_keeps_leases);
	tcase_add_test(raw, test_ttl_raw_frames);
	tcase_add_test(raw, test_expiry_refused_then_retried);
	suite_add_tcase(suite, raw);

	tcase_add_checked_fixture(hold, e2e_setup, e2e_teardown);
	tcase_set_timeout(hold, 120);
	tcase_add_test(hold, test_hold_sigint);
	tcase_add_test(hold, test_hold_kill9);
	tcase_add_test(hold, test_hold_taken_over);
	tcase_add_test(hold, test_hold_objd_crash);
	tcase_add_test(hold, test_hold_objd_stop);
	tcase_add_test(hold, test_hold_socket_closed);
	suite_add_tcase(suite, hold);
	return suite;
}

int
main(void)
{
	return e2e_main(expire_suite());
}
