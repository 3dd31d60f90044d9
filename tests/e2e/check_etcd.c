/* SPDX-License-Identifier: ISC */
/* check_etcd.c: objd on etcd, end to end: a real 3-member etcd cluster
 * on 127.0.0.1 (tests/etcd-cluster.c) and two objds on one prefix, two
 * "hosts" with their own files and sockets, driven by objctl and
 * libobjd. Each sees the other's changes, in order; compare-and-set
 * races have one winner; acknowledged writes survive kill -9 of the
 * leader, SIGSTOP of the leader and of a follower, and kill -9 of all
 * three members; a watcher resumes after etcd compacted what it missed;
 * with every member down reads are served and writes exit 6. Skipped
 * (77) without etcd. */
#include "config.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "etcd-hosts.h"
#include "harness.h"
#include "objd-client.h"

static struct etcd_cluster cluster;
static struct session *const a = &e2e_session;
static struct session b_session;
static struct session *const b = &b_session;

#define PREFIX "/objd/e2e/"

/* Starts s's objd on the given endpoints. */
static void
start_host(struct session *s, const char *endpoints)
{
	etcd_hosts_start(s, &cluster, endpoints, PREFIX);
}

/* The value of key on s as objctl prints it, or NULL if it is not
 * there (malloc'd). */
static char *
get(struct session *s, const char *key)
{
	if (CTL(s, "get", key) != 0)
		return NULL;
	return strdup(s->out);
}

/* Waits until key on s reads want (with its newline). */
static bool
wait_value(struct session *s, const char *key, const char *want)
{
	char line[256];

	snprintf(line, sizeof(line), "%s\n", want);
	for (double end = e2e_now() + 30; e2e_now() < end; e2e_sleep(0.05)) {
		char *v = get(s, key);
		bool same = v != NULL && strcmp(v, line) == 0;

		free(v);
		if (same)
			return true;
	}
	return false;
}

/* A watch on s, and what it saw: "SET key@rev" lines. */
struct watcher {
	objd_client *c;
	char log[32768];
	int n;
	uint64_t last;
	bool rising, reload;
};

static void
watch_start(struct watcher *w, struct session *s)
{
	Objd__Response *first = NULL;

	memset(w, 0, sizeof(*w));
	w->rising = true;
	w->c = e2e_client(s);
	ck_assert_int_eq(objd_watch(w->c, "", 0, &first), OBJD_OK);
	objd_response_free(first);
}

/* Reads events until n in all (or the log holds until, if not NULL),
 * or the deadline. */
static void
watch_read_until(struct watcher *w, int n, const char *until)
{
	for (double end = e2e_now() + 30; e2e_now() < end &&
	     (until != NULL ? strstr(w->log, until) == NULL : w->n < n);) {
		Objd__Response *r = NULL;

		ck_assert_int_eq(objd_watch_next(w->c, &r, 0.2), OBJD_OK);
		for (size_t i = 0; r != NULL && i < r->n_events; i++) {
			const Objd__Event *ev = r->events[i];
			size_t len = strlen(w->log);
			const char *type = "SET";

			if (ev->type == OBJD__EVENT__TYPE__DELETE)
				type = "DEL";
			else if (ev->type == OBJD__EVENT__TYPE__RELOAD) {
				type = "RELOAD";
				w->reload = true;
			}
			if (ev->revision <= w->last)
				w->rising = false;
			w->last = ev->revision;
			snprintf(w->log + len, sizeof(w->log) - len,
			    "%s %s@%" PRIu64 "\n", type, ev->key ? ev->key : "",
			    ev->revision);
			w->n++;
		}
		objd_response_free(r);
	}
}

static void
watch_read(struct watcher *w, int n)
{
	watch_read_until(w, n, NULL);
}

START_TEST(test_two_hosts_in_order)
{
	struct watcher wa, wb;
	const char *p;
	unsigned long long open;

	start_host(a, cluster.endpoints);
	start_host(b, cluster.endpoints);
	watch_start(&wa, a);
	watch_start(&wb, b);
	CTL_OK(a, "set", "a1", "1");
	CTL_OK(b, "set", "b1", "2");
	CTL_OK(a, "set", "a2", "3");
	CTL_OK(b, "del", "a1");
	CTL_OK(a, "set", "b1", "4");
	watch_read(&wa, 5);
	watch_read(&wb, 5);
	ck_assert_msg(wa.n == 5, "a saw:\n%s", wa.log);
	/* Both hosts saw every change once, in the order made, with the
	 * same revisions, rising. */
	ck_assert_str_eq(wa.log, wb.log);
	ck_assert(wa.rising);
	ck_assert_msg(strncmp(wa.log, "SET a1@", 7) == 0 &&
	        strstr(wa.log, "\nSET b1@") != NULL &&
	        strstr(wa.log, "\nSET a2@") != NULL &&
	        strstr(wa.log, "\nDEL a1@") != NULL &&
	        strstr(wa.log, "\nSET b1@") < strstr(wa.log, "\nSET a2@") &&
	        strstr(wa.log, "\nSET a2@") < strstr(wa.log, "\nDEL a1@"),
	    "%s", wa.log);
	ck_assert(wait_value(b, "b1", "4"));
	ck_assert_int_eq(CTL(b, "get", "a1"), 1);
	/* status tells of etcd: reachable, the cache at etcd's revision. */
	CTL_OK(b, "status");
	ck_assert_msg(e2e_line_has(b->out, "backend:", "etcd"), "%s", b->out);
	ck_assert_msg(strstr(b->out, "etcd: reachable since") != NULL, "%s",
	    b->out);
	ck_assert_msg(e2e_line_has(b->out, "etcd lag:", "revisions"), "%s",
	    b->out);
	CTL_OK(b, "--json", "status");
	ck_assert_msg(strstr(b->out, "\"prefix\": \"" PREFIX "\"") != NULL,
	    "%s", b->out);
	ck_assert_msg(strstr(b->out, "\"resyncs\": 0") != NULL, "%s", b->out);
	/* The calls so far (a load, sets, gets) and the watch shared a
	 * connection per member. */
	p = strstr(b->out, "\"connections_open\": ");
	ck_assert_msg(p != NULL, "%s", b->out);
	open = strtoull(p + strlen("\"connections_open\": "), NULL, 10);
	ck_assert_msg(open >= 1 && open <= ETCD_MEMBERS, "%s", b->out);
	CTL_OK(b, "status");
	ck_assert_msg(e2e_line_has(b->out, "etcd connections:", "opened"), "%s",
	    b->out);
	/* reload reads etcd again, not the cache file. */
	CTL_OK(b, "reload");
	ck_assert(e2e_log_has(b, "etcd: reading " PREFIX " again"));
	ck_assert(wait_value(b, "b1", "4"));
	ck_assert_int_eq(CTL(b, "get", "a1"), 1);
	objd_close(wa.c);
	objd_close(wb.c);
}
END_TEST

/* Runs objctl on s in a child process: its exit status comes back
 * through waitpid. */
static pid_t
ctl_async(struct session *s, const char *const *argv)
{
	pid_t pid = fork();

	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		_exit(e2e_objctl(s, NULL, NULL, argv) & 0xff);
	return pid;
}

static int
ctl_wait(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(test_cas_race)
{
	start_host(a, cluster.endpoints);
	start_host(b, cluster.endpoints);
	CTL_OK(a, "set", "n", "0");
	ck_assert(wait_value(b, "n", "0"));
	for (int round = 0; round < 20; round++) {
		objd_client *c = e2e_client(a);
		Objd__Value *v = NULL;
		uint64_t rev = 0;
		char revs[32], va[16], vb[16];
		pid_t pa, pb;
		int ea, eb;

		ck_assert_int_eq(objd_get_meta(c, "n", &v, &rev), OBJD_OK);
		objd_value_free(v);
		objd_close(c);
		snprintf(revs, sizeof(revs), "%" PRIu64, rev);
		snprintf(va, sizeof(va), "a%d", round);
		snprintf(vb, sizeof(vb), "b%d", round);
		pa = ctl_async(a,
		    E2E_ARGV("set", "--if-revision", revs, "n", va));
		pb = ctl_async(b,
		    E2E_ARGV("set", "--if-revision", revs, "n", vb));
		ea = ctl_wait(pa);
		eb = ctl_wait(pb);
		/* Exactly one winner; the other is told of a conflict. */
		ck_assert_msg((ea == 0 && eb == 4) || (ea == 4 && eb == 0),
		    "round %d: a exited %d, b %d", round, ea, eb);
		/* Both hosts settle on the winner's value. */
		ck_assert(wait_value(a, "n", ea == 0 ? va : vb));
		ck_assert(wait_value(b, "n", ea == 0 ? va : vb));
	}
}
END_TEST

/* How a racing batch is made. */
enum race_mode {
	RACE_OBJECT,        /* one piece, if_object_revision */
	RACE_STAGED_OBJECT, /* two pieces, if_object_revision */
	RACE_STAGED_KEY,    /* two pieces, the first setting x, and a
	                     * condition on x's revision */
};

/* A Batch (or with stage, a Stage piece) that sets key=value, in req;
 * at: its if_object_revision, or with xrev, the revision its condition
 * wants of x. */
struct one_set {
	Objd__Request req;
	Objd__Batch batch;
	Objd__Operation op, *ops[1];
	Objd__Entry entry;
	Objd__Value value;
	Objd__Condition cond, *conds[1];
};

static void
one_set(struct one_set *s, bool stage, const char *key, const char *value,
    uint64_t at, uint64_t xrev)
{
	objd__request__init(&s->req);
	objd__batch__init(&s->batch);
	objd__operation__init(&s->op);
	objd__entry__init(&s->entry);
	objd__value__init(&s->value);
	s->value.kind_case = OBJD__VALUE__KIND_STRING_VALUE;
	s->value.string_value = (char *)value;
	s->entry.key = (char *)key;
	s->entry.value = &s->value;
	s->op.op_case = OBJD__OPERATION__OP_SET;
	s->op.set = &s->entry;
	s->ops[0] = &s->op;
	s->batch.n_operations = 1;
	s->batch.operations = s->ops;
	if (stage) {
		s->req.op_case = OBJD__REQUEST__OP_STAGE;
		s->req.stage = &s->batch;
		return;
	}
	if (xrev != 0) {
		objd__condition__init(&s->cond);
		s->cond.key = "x";
		s->cond.test_case = OBJD__CONDITION__TEST_REVISION;
		s->cond.revision = xrev;
		s->conds[0] = &s->cond;
		s->batch.n_conditions = 1;
		s->batch.conditions = s->conds;
	} else {
		s->batch.object_condition_case =
		    OBJD__BATCH__OBJECT_CONDITION_IF_OBJECT_REVISION;
		s->batch.if_object_revision = at;
	}
	s->req.op_case = OBJD__REQUEST__OP_BATCH;
	s->req.batch = &s->batch;
}

/* A batch that sets key=value on c at object revision rev (or x's
 * revision xrev), made as mode says, in a child that waits for a byte
 * on go first: its status comes back through waitpid. Staged: a piece
 * sent ahead (key_staged=value, or x=value) makes it a staged batch,
 * whose last piece carries the condition. */
static pid_t
batch_at_async(objd_client *c, int go, const char *key, const char *value,
    uint64_t rev, enum race_mode mode, uint64_t xrev)
{
	pid_t pid = fork();

	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct one_set s;
		Objd__Response *resp = NULL;
		char byte, staged_key[64];
		int st;

		if (mode != RACE_OBJECT) {
			snprintf(staged_key, sizeof(staged_key), "%s_staged",
			    key);
			one_set(&s, true,
			    mode == RACE_STAGED_KEY ? "x" : staged_key, value,
			    0, 0);
			st = objd_call(c, &s.req, &resp);
			objd_response_free(resp);
			if (st != OBJD_OK)
				_exit(98);
		}
		if (read(go, &byte, 1) != 1)
			_exit(99);
		one_set(&s, false, key, value, rev,
		    mode == RACE_STAGED_KEY ? xrev : 0);
		st = objd_call(c, &s.req, &resp);
		objd_response_free(resp);
		_exit(st & 0xff);
	}
	return pid;
}

START_TEST(test_object_revision_race)
{
	int wins_a = 0, wins_b = 0;

	start_host(a, cluster.endpoints);
	start_host(b, cluster.endpoints);
	CTL_OK(a, "set", "x", "0");
	ck_assert(wait_value(b, "x", "0"));
	for (int round = 0; round < 21; round++) {
		objd_client *ca = e2e_client(a), *cb = e2e_client(b);
		Objd__Response *all = NULL;
		Objd__Value *xv = NULL;
		enum race_mode mode = (enum race_mode)(round % 3);
		uint64_t rev, xrev = 0;
		int go[2], ea, eb;
		pid_t pa, pb;
		char v[16];

		/* Both hosts at the same object revision. The last round's
		 * winner answered once its own host had its change; the
		 * other host learns it through etcd's watch, later, and
		 * may be either one. */
		for (double end = e2e_now() + 30;; e2e_sleep(0.02)) {
			ck_assert_int_eq(objd_get_all(ca, &all), OBJD_OK);
			objd_response_free(all);
			ck_assert_int_eq(objd_get_all(cb, &all), OBJD_OK);
			objd_response_free(all);
			rev = objd_client_revision(ca);
			if (objd_client_revision(cb) == rev || e2e_now() >= end)
				break;
		}
		ck_assert_uint_eq(objd_client_revision(cb), rev);
		ck_assert_int_eq(objd_get_meta(ca, "x", &xv, &xrev), OBJD_OK);
		objd_value_free(xv);
		/* Each writes a key of its own at that revision: keys
		 * apart, only the object's revision can tell. A value new
		 * each round: the same one again would change nothing.
		 * Every third round the batch comes in two pieces, and
		 * every third in two whose condition is on x, which both
		 * set. */
		ck_assert_int_eq(pipe(go), 0);
		snprintf(v, sizeof(v), "%d", round);
		pa = batch_at_async(ca, go[0], "from_a", v, rev, mode, xrev);
		pb = batch_at_async(cb, go[0], "from_b", v, rev, mode, xrev);
		ck_assert_int_eq(write(go[1], "gg", 2), 2);
		close(go[0]);
		close(go[1]);
		ea = ctl_wait(pa);
		eb = ctl_wait(pb);
		objd_close(ca);
		objd_close(cb);
		ck_assert_msg((ea == OBJD_OK && eb == OBJD_CONFLICT) ||
		        (ea == OBJD_CONFLICT && eb == OBJD_OK),
		    "round %d: a got %d, b %d", round, ea, eb);
		wins_a += ea == OBJD_OK;
		wins_b += eb == OBJD_OK;
	}
	ck_assert_int_eq(wins_a + wins_b, 21);
}
END_TEST

/* A write that was acknowledged: key=value. */
struct acked {
	char key[16], value[16];
};

/* Writes key w<i> on s; notes it if acknowledged. */
static void
write_one(struct session *s, int i, struct acked *acked, int *nacked)
{
	char key[16], value[16];

	snprintf(key, sizeof(key), "w%d", i);
	snprintf(value, sizeof(value), "v%d", i);
	if (CTL(s, "set", key, value) == 0) {
		snprintf(acked[*nacked].key, sizeof(acked[0].key), "%s", key);
		snprintf(acked[*nacked].value, sizeof(acked[0].value), "%s",
		    value);
		(*nacked)++;
	} else
		/* Refused or outcome unknown: said so, never a crash. */
		ck_assert_msg(s->status == 6, "set %s exited %d: %s", key,
		    s->status, s->err);
}

static int
other_than(int not1, int not2)
{
	for (int i = 0; i < ETCD_MEMBERS; i++)
		if (i != not1 && i != not2)
			return i;
	return -1;
}

START_TEST(test_faults_keep_acknowledged_writes)
{
	struct acked acked[64];
	int nacked = 0, i = 0, leader, follower;
	char err[512];
	struct watcher wa, wb;

	start_host(a, cluster.endpoints);
	start_host(b, cluster.endpoints);
	watch_start(&wa, a);
	watch_start(&wb, b);

	/* kill -9 of the leader, and its restart. */
	leader = etcd_cluster_leader(&cluster, 10);
	ck_assert_int_ge(leader, 0);
	etcd_cluster_kill(&cluster, leader);
	for (int k = 0; k < 3; k++, i++)
		write_one(i % 2 ? b : a, i, acked, &nacked);
	ck_assert_msg(etcd_cluster_restart(&cluster, leader, err, sizeof(err)),
	    "%s", err);
	write_one(a, i++, acked, &nacked);

	/* SIGSTOP of the leader, then of a follower. */
	leader = etcd_cluster_leader(&cluster, 10);
	ck_assert_int_ge(leader, 0);
	etcd_cluster_pause(&cluster, leader);
	for (int k = 0; k < 3; k++, i++)
		write_one(i % 2 ? b : a, i, acked, &nacked);
	etcd_cluster_resume(&cluster, leader);
	leader = etcd_cluster_leader(&cluster, 10);
	ck_assert_int_ge(leader, 0);
	follower = other_than(leader, -1);
	etcd_cluster_pause(&cluster, follower);
	for (int k = 0; k < 3; k++, i++)
		write_one(i % 2 ? b : a, i, acked, &nacked);
	etcd_cluster_resume(&cluster, follower);

	/* kill -9 of all three, and their restart. */
	for (int m = 0; m < ETCD_MEMBERS; m++)
		etcd_cluster_kill(&cluster, m);
	write_one(a, i++, acked, &nacked);
	for (int m = 0; m < ETCD_MEMBERS; m++)
		ck_assert_msg(
		    etcd_cluster_respawn(&cluster, m, err, sizeof(err)), "%s",
		    err);
	for (int m = 0; m < ETCD_MEMBERS; m++)
		ck_assert(etcd_cluster_wait_healthy(&cluster, m, 30));
	/* Writes go through again, once a member answers. */
	for (double end = e2e_now() + 30; e2e_now() < end; e2e_sleep(0.1))
		if (CTL(b, "set", "after", "1") == 0)
			break;
	ck_assert_msg(b->status == 0, "no write after the restart: %s", b->err);
	ck_assert_int_gt(nacked, 0);

	/* Every acknowledged write is on both hosts, and in etcd: a host
	 * started afresh reads it from there. */
	for (int k = 0; k < nacked; k++) {
		ck_assert_msg(wait_value(a, acked[k].key, acked[k].value),
		    "a lost %s", acked[k].key);
		ck_assert_msg(wait_value(b, acked[k].key, acked[k].value),
		    "b lost %s", acked[k].key);
	}
	/* Each watcher saw every acknowledged write, once, in revision
	 * order, and both saw the same changes (a RELOAD after a full read
	 * of etcd may stand for some). */
	watch_read_until(&wa, 0, "SET after@");
	watch_read_until(&wb, 0, "SET after@");
	ck_assert(wa.rising && wb.rising);
	if (!wa.reload && !wb.reload)
		ck_assert_str_eq(wa.log, wb.log);
	for (int k = 0; k < nacked; k++) {
		char line[64];

		snprintf(line, sizeof(line), "SET %.15s@", acked[k].key);
		ck_assert_msg(wa.reload || strstr(wa.log, line) != NULL,
		    "a's watcher missed %s:\n%s", acked[k].key, wa.log);
		ck_assert_msg(wb.reload || strstr(wb.log, line) != NULL,
		    "b's watcher missed %s:\n%s", acked[k].key, wb.log);
	}
	objd_close(wa.c);
	objd_close(wb.c);
	e2e_stop(a);
	unlink(a->file);
	start_host(a, cluster.endpoints);
	for (int k = 0; k < nacked; k++)
		ck_assert_msg(wait_value(a, acked[k].key, acked[k].value),
		    "etcd lost %s", acked[k].key);
	ck_assert(wait_value(a, "after", "1"));
}
END_TEST

START_TEST(test_watch_resumes_after_compaction)
{
	struct watcher wb;
	int leader, f;
	char others[256], err[512], rev[32];
	long long r;

	/* b talks to one follower only, a to the two others. */
	leader = etcd_cluster_leader(&cluster, 10);
	ck_assert_int_ge(leader, 0);
	f = other_than(leader, -1);
	snprintf(others, sizeof(others), "%s,%s", cluster.m[leader].url,
	    cluster.m[other_than(leader, f)].url);
	start_host(a, others);
	start_host(b, cluster.m[f].url);
	watch_start(&wb, b);
	CTL_OK(a, "set", "c", "0");
	watch_read(&wb, 1);
	ck_assert_int_eq(wb.n, 1);

	/* b's member goes away: what a writes meanwhile is compacted
	 * before b can watch it again. A restarted member serves clients
	 * only once it applied its log, compaction included. */
	etcd_cluster_kill(&cluster, f);
	for (int k = 1; k <= 5; k++) {
		char v[8];

		snprintf(v, sizeof(v), "%d", k);
		CTL_OK(a, "set", "c", v);
	}
	r = etcd_cluster_revision(&cluster);
	ck_assert_int_gt(r, 0);
	snprintf(rev, sizeof(rev), "%lld", r);
	ck_assert_int_eq(etcd_cluster_ctl(&cluster,
	                     (const char *const[]){ "compact", rev, NULL }),
	    0);
	ck_assert_msg(etcd_cluster_restart(&cluster, f, err, sizeof(err)), "%s",
	    err);

	/* b resyncs: its state is a's, its watcher told to read again. */
	ck_assert(wait_value(b, "c", "5"));
	ck_assert(e2e_log_has(b, "compacted"));
	CTL_OK(b, "status");
	ck_assert_msg(strstr(b->out, "resyncs: 1") != NULL, "%s", b->out);
	watch_read(&wb, 2);
	ck_assert_msg(wb.reload, "b's watcher saw:\n%s", wb.log);
	/* And the watch goes on after it. */
	CTL_OK(a, "set", "c", "6");
	watch_read(&wb, 3);
	ck_assert_msg(strstr(strstr(wb.log, "RELOAD"), "SET c@") != NULL, "%s",
	    wb.log);
	ck_assert(wait_value(b, "c", "6"));
	objd_close(wb.c);
}
END_TEST

/* objctl set of n keys k0 .. k<n-1> in one change; its exit status. */
static int
set_many(struct session *s, int n)
{
	const char *argv[2 + 2 * 200];
	char keys[200][8];
	int i, argc = 0;

	argv[argc++] = "set";
	for (i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		argv[argc++] = keys[i];
		argv[argc++] = "v";
	}
	argv[argc] = NULL;
	return e2e_objctl(s, NULL, NULL, argv);
}

START_TEST(test_limits_refused_whole)
{
	objd_client *c;
	Objd__Value v = OBJD__VALUE__INIT;
	char *big;
	const char *key = "big";
	const Objd__Value *vals[1] = { &v };

	start_host(a, cluster.endpoints);
	/* 128 keys and the meta key pass etcd's 128 operations: refused
	 * whole, with the limit named, and nothing written. */
	ck_assert_int_eq(set_many(a, 128), 2);
	ck_assert_msg(strstr(a->err, "--max-txn-ops") != NULL, "%s", a->err);
	CTL_EXIT(a, 1, "get", "k0");
	ck_assert_int_eq(set_many(a, 127), 0);
	CTL_OK(a, "get", "k126");
	/* 2 MiB passes etcd's 1.5 MiB request limit. */
	big = malloc(2u << 20);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', (2u << 20) - 1);
	big[(2u << 20) - 1] = '\0';
	v.kind_case = OBJD__VALUE__KIND_STRING_VALUE;
	v.string_value = big;
	c = e2e_client(a);
	ck_assert_int_eq(objd_set(c, &key, vals, 1), OBJD_INVALID);
	ck_assert_msg(strstr(objd_client_error(c), "--max-request-bytes") !=
	        NULL,
	    "%s", objd_client_error(c));
	objd_close(c);
	free(big);
	CTL_EXIT(a, 1, "get", "big");
}
END_TEST

START_TEST(test_auth)
{
	const char *pw = e2e_path(a, "etcd-password");
	struct objd_opts o = { 0 };

	ck_assert_int_eq(
	    etcd_cluster_ctl(&cluster,
	        (const char *const[]){ "user", "add", "root:secret", NULL }),
	    0);
	ck_assert_int_eq(etcd_cluster_ctl(&cluster,
	                     (const char *const[]){ "auth", "enable", NULL }),
	    0);
	e2e_write_file(pw, "secret\n", 7);
	o.extra = E2E_ARGV("--etcd", cluster.endpoints, "--etcd-prefix", PREFIX,
	    "--etcd-user", "root", "--etcd-password-file", pw);
	e2e_start_opts(a, &o);
	CTL_OK(a, "set", "k", "1");
	ck_assert_str_eq(CTL_OK(a, "get", "k"), "1\n");
	/* Another host without the password: it serves its file, and
	 * etcd refuses its writes. */
	start_host(b, cluster.endpoints);
	CTL_EXIT(b, 6, "set", "k", "2");
	ck_assert_str_eq(CTL_OK(a, "get", "k"), "1\n");
}
END_TEST

START_TEST(test_all_down_reads_served)
{
	char err[512];

	start_host(a, cluster.endpoints);
	start_host(b, cluster.endpoints);
	CTL_OK(a, "set", "k", "1");
	ck_assert(wait_value(b, "k", "1"));
	for (int m = 0; m < ETCD_MEMBERS; m++)
		etcd_cluster_kill(&cluster, m);
	ck_assert_str_eq(CTL_OK(a, "get", "k"), "1\n");
	ck_assert_str_eq(CTL_OK(b, "get", "k"), "1\n");
	CTL_EXIT(a, 6, "set", "k", "2");
	ck_assert_msg(strstr(a->err, "etcd unreachable") != NULL, "%s", a->err);
	CTL_EXIT(b, 6, "del", "k");
	CTL_OK(a, "status");
	ck_assert_msg(strstr(a->out, "etcd: unreachable since") != NULL, "%s",
	    a->out);
	/* A restart while etcd is down serves the cache file. */
	e2e_stop(b);
	start_host(b, cluster.endpoints);
	ck_assert_str_eq(CTL_OK(b, "get", "k"), "1\n");
	CTL_EXIT(b, 6, "set", "k", "3");
	/* etcd back: writes go through, and both hosts see them. */
	for (int m = 0; m < ETCD_MEMBERS; m++)
		ck_assert_msg(
		    etcd_cluster_respawn(&cluster, m, err, sizeof(err)), "%s",
		    err);
	for (int m = 0; m < ETCD_MEMBERS; m++)
		ck_assert(etcd_cluster_wait_healthy(&cluster, m, 30));
	for (double end = e2e_now() + 30; e2e_now() < end; e2e_sleep(0.1))
		if (CTL(b, "set", "k", "4") == 0)
			break;
	ck_assert_int_eq(b->status, 0);
	ck_assert(wait_value(a, "k", "4"));
}
END_TEST

START_TEST(test_consistent_get)
{
	objd_client *c;
	Objd__Response *all = NULL;

	start_host(a, cluster.endpoints);
	start_host(b, cluster.endpoints);
	/* What one host wrote, a consistent get on the other reads at
	 * once: no waiting for the watch by the test. */
	for (int round = 0; round < 20; round++) {
		char v[16], line[20];

		snprintf(v, sizeof(v), "%d", round);
		snprintf(line, sizeof(line), "%d\n", round);
		CTL_OK(round % 2 ? a : b, "set", "n", v);
		ck_assert_str_eq(
		    CTL_OK(round % 2 ? b : a, "get", "--consistent", "n"),
		    line);
	}
	/* The whole object, and through libobjd. */
	CTL_OK(b, "set", "m", "x");
	ck_assert_msg(
	    strstr(CTL_OK(a, "get", "--consistent"), "\"m\": \"x\"") != NULL,
	    "%s", a->out);
	CTL_OK(a, "set", "m", "y");
	c = e2e_client(b);
	objd_client_set_consistent(c, true);
	ck_assert_int_eq(objd_get_all(c, &all), OBJD_OK);
	ck_assert_int_eq(all->n_entries, 2);
	ck_assert_str_eq(all->entries[0]->key, "m");
	ck_assert_str_eq(all->entries[0]->value->string_value, "y");
	objd_response_free(all);
	objd_close(c);
	/* etcd's revision moves outside the prefix: the watch brings no
	 * event for it, and the read does not wait for one. */
	ck_assert_int_eq(
	    etcd_cluster_ctl(&cluster,
	        (const char *const[]){ "put", "/elsewhere", "1", NULL }),
	    0);
	ck_assert_str_eq(CTL_OK(a, "get", "--consistent", "m"), "y\n");
	ck_assert_str_eq(CTL_OK(a, "get", "--consistent", "--meta", "m"),
	    CTL_OK(b, "get", "--meta", "m"));
	CTL_EXIT(a, 2, "get", "--consistent", "--at", "1", "m");
	/* No quorum: the consistent get fails and says why; a plain one is
	 * served from memory. */
	for (int m = 0; m < ETCD_MEMBERS; m++)
		etcd_cluster_kill(&cluster, m);
	CTL_EXIT(a, 6, "get", "--consistent", "m");
	ck_assert_msg(strstr(a->err, "etcd is unreachable") != NULL, "%s",
	    a->err);
	ck_assert_str_eq(CTL_OK(a, "get", "m"), "y\n");
}
END_TEST

START_TEST(test_max_staleness)
{
	struct objd_opts o = { 0 };
	char err[512];
	bool refused = false;

	o.extra = E2E_ARGV("--etcd", cluster.endpoints, "--etcd-prefix", PREFIX,
	    "--max-staleness", "1");
	e2e_start_opts(a, &o);
	start_host(b, cluster.endpoints);
	CTL_OK(a, "set", "k", "1");
	ck_assert_str_eq(CTL_OK(a, "get", "k"), "1\n");
	/* b, just started, may still be reading etcd: it must hold k
	 * before etcd goes away. */
	ck_assert(wait_value(b, "k", "1"));
	for (int m = 0; m < ETCD_MEMBERS; m++)
		etcd_cluster_kill(&cluster, m);
	/* Past a second without etcd, a refuses reads and says why; b,
	 * without a limit, serves them. */
	for (double end = e2e_now() + 30; e2e_now() < end && !refused;
	     e2e_sleep(0.1))
		refused = CTL(a, "get", "k") == 6;
	ck_assert_msg(refused, "a still reads: %s", a->out);
	ck_assert_msg(strstr(a->err, "stale") != NULL &&
	        strstr(a->err, "--max-staleness 1 s") != NULL,
	    "%s", a->err);
	CTL_EXIT(a, 6, "list");
	CTL_EXIT(a, 6, "history", "k");
	ck_assert_str_eq(CTL_OK(b, "get", "k"), "1\n");
	/* A restart while etcd is down has no contact to go by. */
	e2e_stop(a);
	e2e_start_opts(a, &o);
	CTL_EXIT(a, 6, "get", "k");
	ck_assert_msg(strstr(a->err, "since it started") != NULL, "%s", a->err);
	/* etcd back: reads are served again. */
	for (int m = 0; m < ETCD_MEMBERS; m++)
		ck_assert_msg(
		    etcd_cluster_respawn(&cluster, m, err, sizeof(err)), "%s",
		    err);
	ck_assert(wait_value(a, "k", "1"));
	CTL_OK(a, "list");
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("objd on etcd");
	TCase *tc = etcd_hosts_tcase(suite, "etcd", &cluster, b, false);

	tcase_add_test(tc, test_two_hosts_in_order);
	tcase_add_test(tc, test_cas_race);
	tcase_add_test(tc, test_faults_keep_acknowledged_writes);
	tcase_add_test(tc, test_watch_resumes_after_compaction);
	tcase_add_test(tc, test_limits_refused_whole);
	tcase_add_test(tc, test_all_down_reads_served);
	tcase_add_test(tc, test_auth);
	tcase_add_test(tc, test_consistent_get);
	tcase_add_test(tc, test_max_staleness);
	tcase_add_test(tc, test_object_revision_race);
	return etcd_hosts_main(suite);
}
