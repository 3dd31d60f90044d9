/* SPDX-License-Identifier: ISC */
/* check_etcd_client.c: objd's etcd client (server/etcd-*.c) against a
 * real 3-member etcd cluster that each test starts and stops: Txn with
 * compares, Range, a Watch from a revision, a watch from a compacted
 * revision (canceled with compact_revision), failover when the leader is
 * killed, a hung (SIGSTOP) member's watch ended by silence, calls and
 * the watch on one connection per member, a Txn whose connection is
 * cut after it went out, answered unknown and never sent again, and a
 * call whose connection closed before it, sent again once etcd's HTTP/1
 * side refused it.
 * Skipped (77) without etcd. */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <curl/curl.h>
#include <event2/event.h>

#include "etcd-cluster.h"
#include "etcd.h"
#include "log.h"
#include "xmalloc.h"

static struct etcd_cluster cluster;
static struct event_base *base;
static struct etcd *client;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
wake(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until *done or until timeout seconds passed. Deadlines
 * only: never a measure of speed. */
static bool
run_until(const bool *done, double timeout)
{
	double end = now() + timeout;
	struct event *tick = event_new(base, -1, EV_PERSIST, wake, NULL);
	struct timeval tv = { 0, 100000 };

	ck_assert_ptr_nonnull(tick);
	event_add(tick, &tv);
	while (!*done && now() < end)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(tick);
	return *done;
}

static void
setup(void)
{
	char err[512];
	struct etcd_config cfg;

	if (getenv("ETCD_DEBUG") != NULL)
		log_set_level(LOG_LEVEL_DEBUG);
	ck_assert_msg(etcd_cluster_start(&cluster, err, sizeof(err)), "%s",
	    err);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	etcd_config_defaults(&cfg);
	cfg.endpoints = cluster.endpoints;
	client = etcd_new(base, &cfg, err, sizeof(err));
	ck_assert_msg(client != NULL, "%s", err);
}

static void
teardown(void)
{
	etcd_free(client);
	client = NULL;
	if (base != NULL)
		event_base_free(base);
	base = NULL;
	etcd_cluster_stop(&cluster);
}

/* A unary call's answer, kept past its callback: the message packed
 * again. */
struct answer {
	bool done;
	int status;
	bool maybe_applied;
	char message[512];
	uint8_t *packed;
	size_t len;
};

static void
on_reply(const struct etcd_reply *r, void *arg)
{
	struct answer *a = arg;

	a->done = true;
	a->status = r->status;
	a->maybe_applied = r->maybe_applied;
	snprintf(a->message, sizeof(a->message), "%s",
	    r->message ? r->message : "");
	if (r->msg != NULL) {
		a->len = protobuf_c_message_get_packed_size(r->msg);
		a->packed = xmalloc(a->len + 1);
		protobuf_c_message_pack(r->msg, a->packed);
	}
}

static Etcdserverpb__RangeResponse *
range(const char *key, int64_t revision, int *status)
{
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	struct answer a = { 0 };
	Etcdserverpb__RangeResponse *r = NULL;

	req.key.data = (uint8_t *)key;
	req.key.len = strlen(key);
	req.revision = revision;
	etcd_range(client, &req, on_reply, &a);
	ck_assert_msg(run_until(&a.done, 30), "no answer to a Range");
	*status = a.status;
	if (a.status == ETCD_OK)
		r = etcdserverpb__range_response__unpack(NULL, a.len, a.packed);
	free(a.packed);
	return r;
}

/* A Txn that puts key=value if the compare holds (cmp NULL: none), and
 * else reads key. *succeeded and the revision after it. */
static int
put_if(const char *key, const char *value, Etcdserverpb__Compare *cmp,
    bool *succeeded, int64_t *revision, bool *maybe)
{
	Etcdserverpb__TxnRequest req = ETCDSERVERPB__TXN_REQUEST__INIT;
	Etcdserverpb__RequestOp op = ETCDSERVERPB__REQUEST_OP__INIT,
	                        *ops[1] = { &op };
	Etcdserverpb__RequestOp fop = ETCDSERVERPB__REQUEST_OP__INIT,
	                        *fops[1] = { &fop };
	Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
	Etcdserverpb__RangeRequest get = ETCDSERVERPB__RANGE_REQUEST__INIT;
	Etcdserverpb__Compare *cmps[1] = { cmp };
	struct answer a = { 0 };

	put.key.data = (uint8_t *)key;
	put.key.len = strlen(key);
	put.value.data = (uint8_t *)value;
	put.value.len = strlen(value);
	op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
	op.request_put = &put;
	get.key = put.key;
	fop.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
	fop.request_range = &get;
	req.n_success = 1;
	req.success = ops;
	req.n_failure = 1;
	req.failure = fops;
	if (cmp != NULL) {
		req.n_compare = 1;
		req.compare = cmps;
	}
	etcd_txn(client, &req, on_reply, &a);
	ck_assert_msg(run_until(&a.done, 30), "no answer to a Txn");
	if (maybe != NULL)
		*maybe = a.maybe_applied;
	if (a.status == ETCD_OK) {
		Etcdserverpb__TxnResponse *r =
		    etcdserverpb__txn_response__unpack(NULL, a.len, a.packed);

		ck_assert_ptr_nonnull(r);
		*succeeded = r->succeeded;
		*revision = r->header->revision;
		etcdserverpb__txn_response__free_unpacked(r, NULL);
	}
	free(a.packed);
	return a.status;
}

static int64_t
put(const char *key, const char *value)
{
	bool ok;
	int64_t rev;
	int status = put_if(key, value, NULL, &ok, &rev, NULL);

	ck_assert_int_eq(status, ETCD_OK);
	ck_assert(ok);
	return rev;
}

START_TEST(test_txn_compares)
{
	Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT;
	Etcdserverpb__RangeResponse *r;
	bool ok;
	int64_t rev, rev2;
	int status;

	/* --if-absent: CREATE == 0. */
	cmp.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
	cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
	cmp.key.data = (uint8_t *)"/t/a";
	cmp.key.len = 4;
	cmp.target_union_case =
	    ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
	cmp.create_revision = 0;
	ck_assert_int_eq(put_if("/t/a", "one", &cmp, &ok, &rev, NULL), ETCD_OK);
	ck_assert(ok);
	ck_assert_int_eq(put_if("/t/a", "two", &cmp, &ok, &rev2, NULL),
	    ETCD_OK);
	ck_assert(!ok);
	ck_assert_int_eq(rev2, rev);

	/* --if-revision: MOD == N, true then stale. */
	cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
	cmp.target_union_case =
	    ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
	cmp.mod_revision = rev;
	ck_assert_int_eq(put_if("/t/a", "three", &cmp, &ok, &rev2, NULL),
	    ETCD_OK);
	ck_assert(ok);
	ck_assert_int_gt(rev2, rev);
	ck_assert_int_eq(put_if("/t/a", "four", &cmp, &ok, &rev, NULL),
	    ETCD_OK);
	ck_assert(!ok);

	r = range("/t/a", 0, &status);
	ck_assert_int_eq(status, ETCD_OK);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->n_kvs, 1);
	ck_assert_int_eq(r->kvs[0]->value.len, 5);
	ck_assert(memcmp(r->kvs[0]->value.data, "three", 5) == 0);
	ck_assert_int_eq(r->kvs[0]->mod_revision, rev2);
	etcdserverpb__range_response__free_unpacked(r, NULL);

	/* An old revision still reads the old value. */
	r = range("/t/a", rev2 - 1, &status);
	ck_assert_int_eq(status, ETCD_OK);
	ck_assert_int_eq(r->n_kvs, 1);
	ck_assert(memcmp(r->kvs[0]->value.data, "one", 3) == 0);
	etcdserverpb__range_response__free_unpacked(r, NULL);

	/* A missing key: no kvs. */
	r = range("/t/none", 0, &status);
	ck_assert_int_eq(status, ETCD_OK);
	ck_assert_int_eq(r->n_kvs, 0);
	etcdserverpb__range_response__free_unpacked(r, NULL);
}
END_TEST

START_TEST(test_limits_refused)
{
	Etcdserverpb__TxnRequest req = ETCDSERVERPB__TXN_REQUEST__INIT;
	Etcdserverpb__RequestOp ops[129], *opp[129];
	Etcdserverpb__PutRequest puts[129];
	char keys[129][16];
	struct answer a = { 0 };
	int i;

	for (i = 0; i < 129; i++) {
		Etcdserverpb__RequestOp op = ETCDSERVERPB__REQUEST_OP__INIT;
		Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;

		snprintf(keys[i], sizeof(keys[i]), "/l/%d", i);
		ops[i] = op;
		puts[i] = p;
		puts[i].key.data = (uint8_t *)keys[i];
		puts[i].key.len = strlen(keys[i]);
		ops[i].request_case =
		    ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
		ops[i].request_put = &puts[i];
		opp[i] = &ops[i];
	}
	req.n_success = 129;
	req.success = opp;
	etcd_txn(client, &req, on_reply, &a);
	ck_assert(run_until(&a.done, 30));
	/* "too many operations in txn request": refused, not applied. */
	ck_assert_int_eq(a.status, ETCD_INVALID_ARGUMENT);
	ck_assert(!a.maybe_applied);
	ck_assert_msg(strstr(a.message, "too many operations") != NULL, "%s",
	    a.message);
	free(a.packed);
}
END_TEST

/* What a watch saw: events as "PUT key=value@rev" lines. */
struct seen {
	char log[8192];
	int events;
	bool created, canceled, ended, progress;
	int64_t compact_revision, last_revision;
	int end_status;
};

static void
on_watch(const Etcdserverpb__WatchResponse *r, void *arg)
{
	struct seen *s = arg;
	size_t i;

	if (r->created)
		s->created = true;
	if (r->canceled) {
		s->canceled = true;
		s->compact_revision = r->compact_revision;
	}
	if (r->n_events == 0 && !r->created && !r->canceled)
		s->progress = true;
	if (r->header != NULL)
		s->last_revision = r->header->revision;
	for (i = 0; i < r->n_events; i++) {
		const Mvccpb__Event *ev = r->events[i];
		size_t len = strlen(s->log);

		snprintf(s->log + len, sizeof(s->log) - len,
		    "%s %.*s=%.*s@%lld\n",
		    ev->type == MVCCPB__EVENT__EVENT_TYPE__DELETE ? "DEL"
		                                                  : "PUT",
		    (int)ev->kv->key.len, (const char *)ev->kv->key.data,
		    (int)ev->kv->value.len, (const char *)ev->kv->value.data,
		    (long long)ev->kv->mod_revision);
		s->events++;
	}
}

static void
on_ended(int status, const char *message, void *arg)
{
	struct seen *s = arg;

	s->ended = true;
	s->end_status = status;
}

static const struct etcd_watch_handlers handlers = { on_watch, on_ended };

static struct etcd_watch *
watch_prefix(const char *prefix, int64_t from, struct seen *s)
{
	size_t endlen;
	uint8_t *end = etcd_prefix_end(prefix, strlen(prefix), &endlen);
	struct etcd_watch *w = etcd_watch_open(client, prefix, strlen(prefix),
	    end, endlen, from, &handlers, s);

	free(end);
	return w;
}

START_TEST(test_watch_from_revision)
{
	struct seen s = { 0 };
	struct etcd_watch *w;
	char want[256];
	int64_t r1, r2, r3;
	bool wait;

	r1 = put("/w/a", "1");
	r2 = put("/w/b", "2");
	put("/x/outside", "no");
	r3 = put("/w/a", "3");
	w = watch_prefix("/w/", r1, &s);
	wait = false;
	for (double end = now() + 30; s.events < 3 && !s.ended && now() < end;)
		run_until(&wait, 0.2);
	ck_assert_msg(s.events == 3, "saw %d events: %s", s.events, s.log);
	snprintf(want, sizeof(want),
	    "PUT /w/a=1@%lld\nPUT /w/b=2@%lld\n"
	    "PUT /w/a=3@%lld\n",
	    (long long)r1, (long long)r2, (long long)r3);
	ck_assert_str_eq(s.log, want);
	ck_assert(s.created);

	/* New changes arrive on the open stream, deletes too. */
	{
		Etcdserverpb__TxnRequest req = ETCDSERVERPB__TXN_REQUEST__INIT;
		Etcdserverpb__RequestOp op = ETCDSERVERPB__REQUEST_OP__INIT,
		                        *ops[1] = { &op };
		Etcdserverpb__DeleteRangeRequest del =
		    ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
		struct answer a = { 0 };

		del.key.data = (uint8_t *)"/w/b";
		del.key.len = 4;
		op.request_case =
		    ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
		op.request_delete_range = &del;
		req.n_success = 1;
		req.success = ops;
		etcd_txn(client, &req, on_reply, &a);
		ck_assert(run_until(&a.done, 30));
		ck_assert_int_eq(a.status, ETCD_OK);
		free(a.packed);
	}
	for (double end = now() + 30; s.events < 4 && now() < end;)
		run_until(&wait, 0.2);
	ck_assert_msg(s.events == 4, "%s", s.log);
	ck_assert(strstr(s.log, "DEL /w/b=@") != NULL);

	/* Progress notifications: asked for, and the cluster's own. */
	s.progress = false;
	etcd_watch_progress(w);
	for (double end = now() + 30; !s.progress && now() < end;)
		run_until(&wait, 0.2);
	ck_assert(s.progress);
	ck_assert(!s.ended);
	etcd_watch_close(w);
	run_until(&wait, 0.2);
	ck_assert(!s.ended); /* closed: no handler runs after it */
}
END_TEST

START_TEST(test_watch_compacted)
{
	struct seen s = { 0 };
	struct etcd_watch *w;
	char rev[32];
	int64_t r1, last = 0;
	int i, status;
	bool wait = false;
	Etcdserverpb__RangeResponse *r;

	r1 = put("/c/k", "0");
	for (i = 1; i < 5; i++) {
		char v[8];

		snprintf(v, sizeof(v), "%d", i);
		last = put("/c/k", v);
	}
	snprintf(rev, sizeof(rev), "%lld", (long long)last);
	ck_assert_int_eq(etcd_cluster_ctl(&cluster,
	                     (const char *const[]){ "compact", rev, NULL }),
	    0);
	w = watch_prefix("/c/", r1, &s);
	for (double end = now() + 30; !s.canceled && !s.ended && now() < end;)
		run_until(&wait, 0.2);
	ck_assert(s.created);
	ck_assert(s.canceled);
	ck_assert_int_eq(s.compact_revision, last);
	ck_assert_int_eq(s.events, 0);
	/* The stream stays open after the cancel: the client closes it. */
	ck_assert(!s.ended);
	etcd_watch_close(w);

	/* A Range at a compacted revision: OUT_OF_RANGE (11). */
	r = range("/c/k", r1, &status);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(status, ETCD_OUT_OF_RANGE);
}
END_TEST

START_TEST(test_failover_leader_killed)
{
	struct seen s = { 0 };
	struct etcd_watch *w;
	Etcdserverpb__RangeResponse *r;
	struct etcd_stats st;
	int leader, status, i;
	bool wait = false, ok, maybe;
	int64_t rev, r0;

	r0 = put("/f/k", "before");
	w = watch_prefix("/f/", r0 + 1, &s);
	leader = etcd_cluster_leader(&cluster, 10);
	ck_assert_int_ge(leader, 0);
	etcd_cluster_kill(&cluster, leader);

	/* Reads fail over to the others. */
	for (i = 0; i < 3; i++) {
		r = range("/f/k", 0, &status);
		ck_assert_msg(status == ETCD_OK, "range: status %d", status);
		ck_assert_int_eq(r->n_kvs, 1);
		etcdserverpb__range_response__free_unpacked(r, NULL);
	}
	/* A write either commits or says its outcome is unknown; repeated
	 * until one commits (a new leader is elected). */
	for (double end = now() + 30;;) {
		status = put_if("/f/k", "after", NULL, &ok, &rev, &maybe);
		if (status == ETCD_OK)
			break;
		ck_assert_msg(now() < end, "no write after the leader died");
	}
	ck_assert(ok);

	/* The watch saw it, on whichever member; or its stream ended (the
	 * leader it ran on died) and a new one from r0 + 1 sees it. */
	for (double end = now() + 30;
	     strstr(s.log, "after") == NULL && !s.ended && now() < end;)
		run_until(&wait, 0.2);
	if (s.ended) {
		memset(&s, 0, sizeof(s));
		w = watch_prefix("/f/", r0 + 1, &s);
		for (double end = now() + 30;
		     strstr(s.log, "after") == NULL && now() < end;)
			run_until(&wait, 0.2);
	}
	ck_assert_msg(strstr(s.log, "after") != NULL, "%s", s.log);
	etcd_watch_close(w);
	etcd_stats(client, &st);
	ck_assert(st.reachable);
	ck_assert_double_gt(st.last_contact, 0);
}
END_TEST

START_TEST(test_all_down)
{
	int status, i;
	bool ok, maybe;
	int64_t rev;
	struct etcd_stats st;
	Etcdserverpb__RangeResponse *r;

	put("/d/k", "v");
	for (i = 0; i < ETCD_MEMBERS; i++)
		etcd_cluster_kill(&cluster, i);
	r = range("/d/k", 0, &status);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(status, ETCD_UNAVAILABLE);
	/* Refused connections: never sent, so never applied. */
	status = put_if("/d/k", "w", NULL, &ok, &rev, &maybe);
	ck_assert_int_eq(status, ETCD_UNAVAILABLE);
	ck_assert(!maybe);
	etcd_stats(client, &st);
	ck_assert(!st.reachable);
	ck_assert_int_gt(st.reconnects, 0);
}
END_TEST

START_TEST(test_hung_member_watch)
{
	struct seen s = { 0 };
	struct etcd_stats st;
	bool wait = false;
	int i;

	/* The watch goes to the endpoint in use: stop that member. */
	etcd_stats(client, &st);
	watch_prefix("/h/", 0, &s);
	for (double end = now() + 30; !s.created && now() < end;)
		run_until(&wait, 0.2);
	ck_assert(s.created);
	for (i = 0; i < ETCD_MEMBERS; i++)
		if (strcmp(cluster.m[i].url, st.endpoint) == 0)
			etcd_cluster_pause(&cluster, i);
	/* Silence past watch_idle ends the stream: the member is taken for
	 * dead even though its TCP connection stays. */
	for (double end = now() + 30; !s.ended && now() < end;)
		run_until(&wait, 0.2);
	ck_assert(s.ended);
	ck_assert_int_eq(s.end_status, ETCD_UNAVAILABLE);
	for (i = 0; i < ETCD_MEMBERS; i++)
		etcd_cluster_resume(&cluster, i);
}
END_TEST

/* A client of the cluster as user, with password (NULL: none). */
static struct etcd *
client_as(const char *user, const char *password)
{
	struct etcd_config cfg;
	struct etcd *e;
	char err[256];

	etcd_config_defaults(&cfg);
	cfg.endpoints = cluster.endpoints;
	cfg.user = user;
	cfg.password = password;
	cfg.call_timeout = 5;
	e = etcd_new(base, &cfg, err, sizeof(err));
	ck_assert_msg(e != NULL, "%s", err);
	return e;
}

START_TEST(test_auth)
{
	struct etcd *plain = client;
	struct seen s = { 0 };
	struct etcd_watch *w;
	Etcdserverpb__RangeResponse *r;
	int status;
	bool wait = false;
	int64_t rev;

	ck_assert_int_eq(
	    etcd_cluster_ctl(&cluster,
	        (const char *const[]){ "user", "add", "root:rootpw", NULL }),
	    0);
	ck_assert_int_eq(etcd_cluster_ctl(&cluster,
	                     (const char *const[]){ "auth", "enable", NULL }),
	    0);
	/* Without a token: refused, as not applied. */
	r = range("/a/k", 0, &status);
	ck_assert_ptr_null(r);
	ck_assert_int_ne(status, ETCD_OK);

	/* With the password: Authenticate, then every call carries the
	 * token; the watch too. */
	client = client_as("root", "rootpw");
	rev = put("/a/k", "v");
	r = range("/a/k", 0, &status);
	ck_assert_int_eq(status, ETCD_OK);
	ck_assert_int_eq(r->n_kvs, 1);
	etcdserverpb__range_response__free_unpacked(r, NULL);
	w = watch_prefix("/a/", rev, &s);
	for (double end = now() + 30; s.events < 1 && !s.ended && now() < end;)
		run_until(&wait, 0.2);
	ck_assert_msg(s.events == 1, "%s", s.log);
	etcd_watch_close(w);
	etcd_free(client);

	/* A wrong password: every call fails, saying why. */
	client = client_as("root", "wrong");
	r = range("/a/k", 0, &status);
	ck_assert_ptr_null(r);
	ck_assert_int_ne(status, ETCD_OK);
	etcd_free(client);
	client = plain;
}
END_TEST

/* A TCP proxy on the test's loop between the client and one member: it
 * counts the connections it accepted and, once armed, forwards the
 * client's bytes up to the end of the next HTTP/2 DATA frame that ends
 * a stream (a request's last bytes), then cuts the connection: the
 * member has the whole request, the client never gets an answer. */
struct proxy {
	int lfd, port, member_port;
	struct event *accept_ev;
	int accepted, cuts;
	bool armed;
	struct pconn *conns[16]; /* open, to close at the end */
};

struct pconn {
	struct proxy *p;
	int cfd, sfd;
	struct event *cev, *sev;
	uint8_t buf[1 << 16]; /* the client's bytes not yet forwarded */
	size_t len;
	size_t preface; /* of the client connection preface, left */
	bool raw;       /* not HTTP/2: forwarded as it comes */
	bool cut;
};

static void
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return; /* the other side went: the read says so */
		p += w;
		n -= (size_t)w;
	}
}

static void
pconn_close(struct pconn *pc)
{
	for (int i = 0; i < 16; i++)
		if (pc->p->conns[i] == pc)
			pc->p->conns[i] = NULL;
	if (pc->cev != NULL)
		event_free(pc->cev);
	if (pc->sev != NULL)
		event_free(pc->sev);
	if (pc->cfd != -1)
		close(pc->cfd);
	if (pc->sfd != -1)
		close(pc->sfd);
	free(pc);
}

/* Member to client; after the cut, drained until the member closes. */
static void
pconn_from_member(evutil_socket_t fd, short what, void *arg)
{
	struct pconn *pc = arg;
	uint8_t b[16384];
	ssize_t n = read(pc->sfd, b, sizeof(b));

	if (n <= 0) {
		pconn_close(pc);
		return;
	}
	if (!pc->cut)
		write_all(pc->cfd, b, (size_t)n);
}

/* Client to member, whole frames at a time. */
static void
pconn_from_client(evutil_socket_t fd, short what, void *arg)
{
	struct pconn *pc = arg;
	size_t off = 0, fwd = 0;
	ssize_t n = read(pc->cfd, pc->buf + pc->len, sizeof(pc->buf) - pc->len);

	if (n <= 0) {
		pconn_close(pc);
		return;
	}
	pc->len += (size_t)n;
	if (pc->preface == 24 && pc->len >= 3 && memcmp(pc->buf, "PRI", 3) != 0)
		pc->raw = true;
	if (pc->raw) {
		write_all(pc->sfd, pc->buf, pc->len);
		pc->len = 0;
		return;
	}
	if (pc->preface > 0) {
		off = pc->len < pc->preface ? pc->len : pc->preface;
		pc->preface -= off;
	}
	fwd = off;
	while (pc->preface == 0 && pc->len - off >= 9) {
		const uint8_t *h = pc->buf + off;
		size_t flen = ((size_t)h[0] << 16) | ((size_t)h[1] << 8) | h[2];

		if (pc->len - off < 9 + flen)
			break;
		off += 9 + flen;
		fwd = off;
		if (pc->p->armed && h[3] == 0 /* DATA */ &&
		    (h[4] & 0x1) /* END_STREAM */) {
			pc->p->armed = false;
			pc->p->cuts++;
			pc->cut = true;
			break;
		}
	}
	write_all(pc->sfd, pc->buf, fwd);
	memmove(pc->buf, pc->buf + fwd, pc->len - fwd);
	pc->len -= fwd;
	if (pc->cut) {
		/* The request went whole; the member's answer is dropped
		 * (its socket is drained, so that what was written still
		 * reaches it rather than being reset). The client's side is
		 * reset, as a crashed host or a middlebox would: libcurl
		 * reads an error before any answer on a reused connection,
		 * the case where it sends a request again. */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		shutdown(pc->sfd, SHUT_WR);
		event_free(pc->cev);
		pc->cev = NULL;
		setsockopt(pc->cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(pc->cfd);
		pc->cfd = -1;
	}
}

static void
proxy_accept(evutil_socket_t fd, short what, void *arg)
{
	struct proxy *p = arg;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct pconn *pc;
	int cfd = accept(p->lfd, NULL, NULL);

	if (cfd == -1)
		return;
	pc = xcalloc(1, sizeof(*pc));
	pc->p = p;
	pc->cfd = cfd;
	pc->preface = 24; /* "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" */
	pc->sfd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_port = htons((uint16_t)p->member_port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ne(pc->sfd, -1);
	if (connect(pc->sfd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		pconn_close(pc);
		return;
	}
	for (int i = 0; i < 16; i++) {
		if (p->conns[i] == NULL) {
			p->conns[i] = pc;
			break;
		}
	}
	p->accepted++;
	pc->cev =
	    event_new(base, cfd, EV_READ | EV_PERSIST, pconn_from_client, pc);
	pc->sev = event_new(base, pc->sfd, EV_READ | EV_PERSIST,
	    pconn_from_member, pc);
	ck_assert(pc->cev != NULL && pc->sev != NULL);
	event_add(pc->cev, NULL);
	event_add(pc->sev, NULL);
}

static void
proxy_start(struct proxy *p, int member_port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	memset(p, 0, sizeof(*p));
	p->member_port = member_port;
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ne(p->lfd, -1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(p->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(p->lfd, 16), 0);
	ck_assert_int_eq(getsockname(p->lfd, (struct sockaddr *)&sin, &len), 0);
	p->port = ntohs(sin.sin_port);
	p->accept_ev =
	    event_new(base, p->lfd, EV_READ | EV_PERSIST, proxy_accept, p);
	ck_assert_ptr_nonnull(p->accept_ev);
	event_add(p->accept_ev, NULL);
}

static void
proxy_stop(struct proxy *p)
{
	for (int i = 0; i < 16; i++)
		if (p->conns[i] != NULL)
			pconn_close(p->conns[i]);
	event_free(p->accept_ev);
	close(p->lfd);
}

/* Closes every connection through p, as a member or a middlebox that
 * drops idle connections would. */
static void
proxy_drop_all(struct proxy *p)
{
	for (int i = 0; i < 16; i++)
		if (p->conns[i] != NULL)
			pconn_close(p->conns[i]);
}

/* A client of the member behind p only. */
static struct etcd *
client_via(const struct proxy *p)
{
	struct etcd_config cfg;
	char url[64], err[512];
	struct etcd *c;

	etcd_config_defaults(&cfg);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", p->port);
	cfg.endpoints = url;
	c = etcd_new(base, &cfg, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	return c;
}

/* Many calls, some at once, and a watch share one connection or a few
 * (libcurl 7.88's h2c reuse bug worked around: every call answered). */
START_TEST(test_one_connection)
{
	struct etcd *plain = client;
	struct proxy p;
	struct seen s = { 0 };
	struct etcd_watch *w;
	struct etcd_stats st;
	bool wait = false;

	proxy_start(&p, cluster.m[0].client_port);
	client = client_via(&p);
	w = watch_prefix("/one/", 0, &s);
	for (int round = 0; round < 10; round++) {
		struct answer a[10] = { 0 };
		char key[32];

		for (int i = 0; i < 10; i++) {
			Etcdserverpb__TxnRequest txn =
			    ETCDSERVERPB__TXN_REQUEST__INIT;
			Etcdserverpb__RequestOp
			    op = ETCDSERVERPB__REQUEST_OP__INIT,
			    *ops[1] = { &op };
			Etcdserverpb__PutRequest pr =
			    ETCDSERVERPB__PUT_REQUEST__INIT;
			Etcdserverpb__RangeRequest rr =
			    ETCDSERVERPB__RANGE_REQUEST__INIT;

			snprintf(key, sizeof(key), "/one/%d", i);
			pr.key.data = rr.key.data = (uint8_t *)key;
			pr.key.len = rr.key.len = strlen(key);
			pr.value = pr.key;
			op.request_case =
			    ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
			op.request_put = &pr;
			txn.n_success = 1;
			txn.success = ops;
			if (i % 2 == 0)
				etcd_txn(client, &txn, on_reply, &a[i]);
			else
				etcd_range(client, &rr, on_reply, &a[i]);
		}
		for (int i = 0; i < 10; i++) {
			ck_assert_msg(run_until(&a[i].done, 30),
			    "no answer to call %d", i);
			ck_assert_msg(a[i].status == ETCD_OK, "call %d: %s", i,
			    a[i].message);
			free(a[i].packed);
		}
	}
	for (double end = now() + 30; s.events < 50 && !s.ended && now() < end;)
		run_until(&wait, 0.2);
	ck_assert_msg(s.events == 50, "%d events: %s", s.events, s.log);
	etcd_stats(client, &st);
	ck_assert_msg(p.accepted <= 3 && st.conns_opened <= 3,
	    "100 calls and a watch opened %d connections (%llu)", p.accepted,
	    (unsigned long long)st.conns_opened);
	ck_assert_uint_ge(st.conns_open, 1);
	etcd_watch_close(w);
	etcd_free(client);
	client = plain;
	proxy_stop(&p);
}
END_TEST

/* The connection a call was to ride closed just before: libcurl opens a
 * new one for it, speaking HTTP/1.1 (no prior knowledge on a reused
 * connection with libcurl 7.88); etcd's HTTP/1 side answers 404 without
 * applying it, and the call goes again over h2c: applied once. */
START_TEST(test_rider_falls_back)
{
	struct etcd *plain = client;
	Etcdserverpb__RangeResponse *r;
	struct etcd_stats st;
	struct proxy p;
	int status;

	proxy_start(&p, cluster.m[0].client_port);
	client = client_via(&p);
	put("/fall/warm", "v");
	ck_assert_int_eq(p.accepted, 1);
	proxy_drop_all(&p);
	put("/fall/k", "v1");
	etcd_stats(client, &st);
	if (curl_version_info(CURLVERSION_NOW)->version_num < 0x080000)
		ck_assert_msg(p.accepted == 3,
		    "%d connections: the HTTP/1.1 one and the h2c one "
		    "expected",
		    p.accepted);
	ck_assert_uint_eq(st.conns_open, 1);
	r = range("/fall/k", 0, &status);
	ck_assert_int_eq(status, ETCD_OK);
	ck_assert_int_eq(r->n_kvs, 1);
	ck_assert_int_eq(r->kvs[0]->version, 1);
	etcdserverpb__range_response__free_unpacked(r, NULL);
	etcd_free(client);
	client = plain;
	proxy_stop(&p);
}
END_TEST

/* A Txn on a reused connection cut after its last byte went out (etcd
 * may have applied it): answered unknown, never sent again (by libcurl
 * on a new connection, or by the client), applied at most once. */
START_TEST(test_cut_txn_not_resent)
{
	struct etcd *plain = client;
	Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT;
	Etcdserverpb__RangeResponse *r;
	struct proxy p;
	int64_t rev;
	int status;
	bool ok = false, maybe = false;

	proxy_start(&p, cluster.m[0].client_port);
	client = client_via(&p);
	put("/cut/warm", "v");
	ck_assert_int_eq(p.accepted, 1);
	/* If absent: the same Txn sent twice would be answered "not
	 * succeeded" by its own first copy. */
	cmp.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
	cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
	cmp.key.data = (uint8_t *)"/cut/k";
	cmp.key.len = 6;
	cmp.target_union_case =
	    ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
	cmp.create_revision = 0;
	p.armed = true;
	status = put_if("/cut/k", "v1", &cmp, &ok, &rev, &maybe);
	ck_assert_int_eq(p.cuts, 1);
	ck_assert_msg(status != ETCD_OK && maybe,
	    "a cut Txn answered %d (maybe_applied %d)", status, maybe);
	/* Nothing reached the member again. */
	ck_assert_int_eq(p.accepted, 1);
	etcd_free(client);
	client = plain;
	proxy_stop(&p);
	r = range("/cut/k", 0, &status);
	ck_assert_int_eq(status, ETCD_OK);
	ck_assert_int_le(r->n_kvs, 1);
	if (r->n_kvs == 1)
		ck_assert_int_eq(r->kvs[0]->version, 1);
	etcdserverpb__range_response__free_unpacked(r, NULL);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("etcd client");
	TCase *tc;

	tc = tcase_create("cluster");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_txn_compares);
	tcase_add_test(tc, test_limits_refused);
	tcase_add_test(tc, test_watch_from_revision);
	tcase_add_test(tc, test_watch_compacted);
	tcase_add_test(tc, test_failover_leader_killed);
	tcase_add_test(tc, test_all_down);
	tcase_add_test(tc, test_hung_member_watch);
	tcase_add_test(tc, test_auth);
	tcase_add_test(tc, test_one_connection);
	tcase_add_test(tc, test_cut_txn_not_resent);
	tcase_add_test(tc, test_rider_falls_back);
	suite_add_tcase(suite, tc);
	return etcd_cluster_main(suite);
}
