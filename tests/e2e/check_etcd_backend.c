/* SPDX-License-Identifier: ISC */
/* check_etcd_backend.c: the etcd backend (server/backend-etcd.c) through
 * backend.h, against a real 3-member etcd cluster. Two backends on one
 * prefix, each with its own store and event loop, stand for two hosts;
 * the hooks apply what the backend reports the way the loop does.
 * Two hosts see each other's changes in order; compare-and-set races
 * have one winner; limits are refused whole; a watch whose start was
 * compacted resyncs; with every member down, writes fail. Skipped (77)
 * without etcd. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <event2/event.h>

#include "backend-etcd.h"
#include "etcd-cluster.h"
#include "log.h"
#include "objd.h"
#include "xmalloc.h"

static struct etcd_cluster cluster;

/* One "host": a backend, its loop, and the store the hooks keep. */
struct host {
	struct event_base *base;
	struct backend *be;
	struct store *store;
	bool committed, replaced;
	/* What the hooks saw: "rev key=value" or "rev key deleted" lines
	 * of others' changes, in the order they came. */
	char others[16384];
	uint64_t last_rev; /* the revisions the store was given rise */
	bool order_ok;
};

static struct host hosts[2];
static struct host *hooked; /* the host whose hooks run */

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Applies change i of b, if its txn was made. */
static void
apply_one(struct host *h, const struct backend_batch *b, size_t i, bool own)
{
	const struct backend_change *c = &b->changes[i];
	const struct backend_txn *t = &b->txns[c->txn];

	if (t->status != BACKEND_OK || !t->changes)
		return;
	if (t->revision < h->last_rev)
		h->order_ok = false;
	h->last_rev = t->revision;
	if (!own) {
		size_t len = strlen(h->others);

		snprintf(h->others + len, sizeof(h->others) - len,
		    "%llu %s%s%.*s\n", (unsigned long long)t->revision,
		    STORE_ENTRY_KEY(c->entry), c->delete ? " deleted" : "=",
		    c->delete ? 0 : (int)c->entry->vallen,
		    (const char *)STORE_ENTRY_VALUE(c->entry));
	}
	if (c->delete) {
		free(store_remove(h->store, STORE_ENTRY_KEY(c->entry),
		    c->entry->keylen));
		if (!own)
			free(c->entry);
	} else if (own) {
		/* commit.c's entries stay its own: a copy. */
		free(store_put(h->store,
		    store_entry_new(STORE_ENTRY_KEY(c->entry), c->entry->keylen,
		        STORE_ENTRY_VALUE(c->entry), c->entry->vallen,
		        c->entry->revision)));
	} else
		free(store_put(h->store, c->entry));
	if (t->revision > store_revision(h->store))
		store_set_revision(h->store, t->revision);
}

/* One change of a batch or of its others, as commit.c orders them. */
struct step {
	uint64_t revision;
	size_t order;
	const struct backend_batch *b;
	size_t i;
	bool own;
};

static int
step_cmp(const void *a, const void *b)
{
	const struct step *x = a, *y = b;

	if (x->revision != y->revision)
		return x->revision < y->revision ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Applies b's changes, and its others', in the order of their
 * revisions, as commit.c does; the host's own batches are counted. */
static void
apply(struct host *h, const struct backend_batch *b, bool own)
{
	size_t n = b->nchanges, k = 0;
	struct step *steps;

	for (size_t o = 0; o < b->nothers; o++)
		n += b->others[o].nchanges;
	steps = xcalloc(n + 1, sizeof(*steps));
	for (size_t i = 0; i < b->nchanges; i++, k++)
		steps[k] = (struct step){ b->txns[b->changes[i].txn].revision,
			k, b, i, own };
	for (size_t o = 0; o < b->nothers; o++) {
		const struct backend_batch *ob = &b->others[o];

		for (size_t i = 0; i < ob->nchanges; i++, k++)
			steps[k] = (struct step){
				ob->txns[ob->changes[i].txn].revision, k, ob, i,
				false
			};
	}
	qsort(steps, n, sizeof(*steps), step_cmp);
	for (size_t i = 0; i < n; i++)
		apply_one(h, steps[i].b, steps[i].i, steps[i].own);
	free(steps);
	if (b->revision > store_revision(h->store))
		store_set_revision(h->store, b->revision);
}

static void
hook_committed(struct backend_batch *b)
{
	apply(hooked, b, true);
	hooked->committed = true;
}

static void
hook_others(const struct backend_batch *b)
{
	apply(hooked, b, false);
}

static void
hook_replaced(void)
{
	hooked->replaced = true;
}

static void
hook_snapshot(bool ok, const char *error)
{
}

static const struct backend_hooks hooks = { hook_committed, hook_others,
	hook_replaced, hook_snapshot };

static void
wake(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs host h's loop until *flag or timeout (a deadline only). */
static bool
run(struct host *h, const bool *flag, double timeout)
{
	double end = now() + timeout;
	struct event *tick = event_new(h->base, -1, EV_PERSIST, wake, NULL);
	struct timeval tv = { 0, 50000 };

	event_add(tick, &tv);
	hooked = h;
	while ((flag == NULL || !*flag) && now() < end)
		event_base_loop(h->base, EVLOOP_ONCE);
	event_free(tick);
	return flag == NULL || *flag;
}

static void
host_open(struct host *h, const char *prefix)
{
	struct backend_etcd_config cfg = { 0 };
	char err[512];

	memset(h, 0, sizeof(*h));
	h->order_ok = true;
	h->base = event_base_new();
	ck_assert_ptr_nonnull(h->base);
	cfg.endpoints = cluster.endpoints;
	cfg.prefix = prefix;
	h->be = backend_etcd_open(h->base, &cfg, &hooks, err, sizeof(err));
	ck_assert_msg(h->be != NULL, "%s", err);
	h->store = store_new();
	hooked = h;
	ck_assert_msg(h->be->ops->load(h->be, h->store, true, err,
	                  sizeof(err)) == BACKEND_LOAD_OK,
	    "load: %s", err);
}

static void
host_close(struct host *h)
{
	if (h->be == NULL)
		return;
	hooked = h;
	h->be->ops->close(h->be);
	store_free(h->store);
	event_base_free(h->base);
	h->be = NULL;
}

static void
setup(void)
{
	char err[512];

	if (getenv("ETCD_DEBUG") != NULL)
		log_set_level(LOG_LEVEL_DEBUG);
	ck_assert_msg(etcd_cluster_start(&cluster, err, sizeof(err)), "%s",
	    err);
	host_open(&hosts[0], "/objd/t/");
	host_open(&hosts[1], "/objd/t/");
}

static void
teardown(void)
{
	host_close(&hosts[0]);
	host_close(&hosts[1]);
	etcd_cluster_stop(&cluster);
}

/* A batch under construction. */
struct req {
	struct backend_batch b;
	struct backend_compare cmps[4];
};

static void
req_init(struct req *r, struct host *h)
{
	memset(r, 0, sizeof(*r));
	r->b.base = r->b.revision = store_revision(h->store);
}

static size_t
req_txn(struct req *r, const struct backend_compare *cmp)
{
	struct backend_txn *t;

	r->b.txns = xreallocarray(r->b.txns, r->b.ntxns + 1, sizeof(*t));
	t = &r->b.txns[r->b.ntxns];
	memset(t, 0, sizeof(*t));
	if (cmp != NULL) {
		ck_assert_uint_lt(r->b.ncompares, 4);
		r->cmps[r->b.ncompares] = *cmp;
		r->cmps[r->b.ncompares].txn = r->b.ntxns;
		r->b.compares = r->cmps;
		r->b.ncompares++;
	}
	return r->b.ntxns++;
}

/* A txn of the client origin (req_txn's are all of origin 0). */
static size_t
req_txn_from(struct req *r, const struct backend_compare *cmp, uint32_t origin)
{
	size_t t = req_txn(r, cmp);

	r->b.txns[t].origin = origin;
	return t;
}

static void
req_change(struct req *r, size_t txn, const char *key, const char *value)
{
	struct backend_change *c;

	r->b.changes =
	    xreallocarray(r->b.changes, r->b.nchanges + 1, sizeof(*c));
	c = &r->b.changes[r->b.nchanges++];
	memset(c, 0, sizeof(*c));
	c->txn = txn;
	c->delete = value == NULL;
	c->entry = store_entry_new(key, strlen(key), (const uint8_t *)value,
	    value ? strlen(value) : 0, 0);
	r->b.txns[txn].changes = true;
}

static void
req_free(struct req *r)
{
	for (size_t i = 0; i < r->b.nchanges; i++)
		free(r->b.changes[i].entry);
	for (size_t i = 0; i < r->b.ntxns; i++)
		free(r->b.txns[i].error);
	free(r->b.changes);
	free(r->b.txns);
	free(r->b.error);
}

/* Commits r on h and waits for the answer. */
static void
commit(struct host *h, struct req *r)
{
	h->committed = false;
	hooked = h;
	h->be->ops->commit(h->be, &r->b);
	ck_assert_msg(run(h, &h->committed, 60), "no answer to a commit");
}

static enum backend_status
set1(struct host *h, const char *key, const char *value,
    const struct backend_compare *cmp, uint64_t *rev)
{
	struct req r;
	enum backend_status st;

	req_init(&r, h);
	req_change(&r, req_txn(&r, cmp), key, value);
	commit(h, &r);
	st = r.b.txns[0].status;
	if (rev != NULL)
		*rev = r.b.txns[0].revision;
	req_free(&r);
	return st;
}

static char *
value_of(struct host *h, const char *key)
{
	struct store_entry *e = store_get(h->store, key, strlen(key));

	return e ? xstrndup((const char *)STORE_ENTRY_VALUE(e), e->vallen)
	         : NULL;
}

START_TEST(test_two_hosts_in_order)
{
	struct host *a = &hosts[0], *b = &hosts[1];
	uint64_t r1, r2, r3;
	char want[512], *v;
	struct req r;

	ck_assert_int_eq(set1(a, "x", "1", NULL, &r1), BACKEND_OK);
	ck_assert_int_eq(store_revision(a->store), r1);
	/* Read-your-writes: the store holds it when the answer comes. */
	v = value_of(a, "x");
	ck_assert_str_eq(v, "1");
	free(v);
	/* One batch of two requests: two Txns, rising revisions. */
	req_init(&r, a);
	req_change(&r, req_txn(&r, NULL), "y", "2");
	req_change(&r, req_txn(&r, NULL), "x", NULL);
	commit(a, &r);
	ck_assert_int_eq(r.b.txns[0].status, BACKEND_OK);
	ck_assert_int_eq(r.b.txns[1].status, BACKEND_OK);
	r2 = r.b.txns[0].revision;
	r3 = r.b.txns[1].revision;
	ck_assert_uint_gt(r2, r1);
	ck_assert_uint_gt(r3, r2);
	ck_assert_uint_eq(r.b.changes[0].entry->revision, r2);
	req_free(&r);

	/* The other host sees all three, in order, with their revisions. */
	snprintf(want, sizeof(want), "%llu x=1\n%llu y=2\n%llu x deleted\n",
	    (unsigned long long)r1, (unsigned long long)r2,
	    (unsigned long long)r3);
	for (double end = now() + 30;
	     strcmp(b->others, want) != 0 && now() < end;)
		run(b, NULL, 0.1);
	ck_assert_str_eq(b->others, want);
	ck_assert_uint_eq(store_revision(b->store), r3);
	ck_assert(b->order_ok);

	/* And back: b's change reaches a, whose own are not repeated. */
	ck_assert_int_eq(set1(b, "z", "3", NULL, &r1), BACKEND_OK);
	snprintf(want, sizeof(want), "%llu z=3\n", (unsigned long long)r1);
	for (double end = now() + 30;
	     strcmp(a->others, want) != 0 && now() < end;)
		run(a, NULL, 0.1);
	ck_assert_str_eq(a->others, want);
	ck_assert(a->order_ok);
}
END_TEST

START_TEST(test_cas_race)
{
	struct host *a = &hosts[0], *b = &hosts[1];
	uint64_t rev;

	ck_assert_int_eq(set1(a, "n", "0", NULL, &rev), BACKEND_OK);
	for (int round = 0; round < 20; round++) {
		struct backend_compare cmp = { .kind = BACKEND_CMP_KEY_REVISION,
			.key = "n",
			.keylen = 1,
			.revision = rev };
		struct req ra, rb;
		char va[16], vb[16];
		int winners;

		snprintf(va, sizeof(va), "a%d", round);
		snprintf(vb, sizeof(vb), "b%d", round);
		req_init(&ra, a);
		req_change(&ra, req_txn(&ra, &cmp), "n", va);
		req_init(&rb, b);
		req_change(&rb, req_txn(&rb, &cmp), "n", vb);
		/* Both out before either answer is read. */
		a->committed = b->committed = false;
		hooked = a;
		a->be->ops->commit(a->be, &ra.b);
		hooked = b;
		b->be->ops->commit(b->be, &rb.b);
		for (double end = now() + 60;
		     !(a->committed && b->committed) && now() < end;) {
			run(a, &a->committed, 0.02);
			run(b, &b->committed, 0.02);
		}
		ck_assert(a->committed && b->committed);
		winners = (ra.b.txns[0].status == BACKEND_OK) +
		    (rb.b.txns[0].status == BACKEND_OK);
		ck_assert_msg(winners == 1, "round %d: %d winners", round,
		    winners);
		ck_assert(ra.b.txns[0].status == BACKEND_CONFLICT ||
		    rb.b.txns[0].status == BACKEND_CONFLICT);
		rev = ra.b.txns[0].status == BACKEND_OK ? ra.b.txns[0].revision
		                                        : rb.b.txns[0].revision;
		req_free(&ra);
		req_free(&rb);
	}
}
END_TEST

START_TEST(test_absent_present)
{
	struct host *a = &hosts[0];
	struct backend_compare absent = { .kind = BACKEND_CMP_KEY_ABSENT,
		.key = "k",
		.keylen = 1 };
	struct backend_compare present = { .kind = BACKEND_CMP_KEY_PRESENT,
		.key = "k",
		.keylen = 1 };
	struct backend_compare obj = { .kind = BACKEND_CMP_OBJECT_REVISION };
	uint64_t rev;

	ck_assert_int_eq(set1(a, "k", NULL, &present, NULL), BACKEND_CONFLICT);
	ck_assert_int_eq(set1(a, "k", "1", &absent, &rev), BACKEND_OK);
	ck_assert_int_eq(set1(a, "k", "2", &absent, NULL), BACKEND_CONFLICT);
	obj.revision = rev;
	ck_assert_int_eq(set1(a, "j", "1", &obj, &rev), BACKEND_OK);
	/* The object moved on: the old object revision no longer holds. */
	ck_assert_int_eq(set1(a, "j", "2", &obj, NULL), BACKEND_CONFLICT);
	ck_assert_int_eq(set1(a, "k", NULL, &present, NULL), BACKEND_OK);
}
END_TEST

START_TEST(test_limits)
{
	struct host *a = &hosts[0];
	struct req r;
	size_t t;
	char key[32], *big;
	long long before = etcd_cluster_revision(&cluster);

	/* 128 keys and the meta key: 129 operations. */
	req_init(&r, a);
	t = req_txn(&r, NULL);
	for (int i = 0; i < 128; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		req_change(&r, t, key, "v");
	}
	commit(a, &r);
	ck_assert_int_eq(r.b.txns[0].status, BACKEND_INVALID);
	ck_assert_ptr_nonnull(r.b.error);
	ck_assert_msg(strstr(r.b.error, "--max-txn-ops") != NULL, "%s",
	    r.b.error);
	req_free(&r);

	/* 127 keys fit. */
	req_init(&r, a);
	t = req_txn(&r, NULL);
	for (int i = 0; i < 127; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		req_change(&r, t, key, "v");
	}
	commit(a, &r);
	ck_assert_int_eq(r.b.txns[0].status, BACKEND_OK);
	req_free(&r);

	/* 2 MiB in one request. */
	big = xmalloc(2u << 20);
	memset(big, 'x', (2u << 20) - 1);
	big[(2u << 20) - 1] = '\0';
	ck_assert_int_eq(set1(a, "big", big, NULL, NULL), BACKEND_INVALID);
	free(big);
	/* Nothing was split: one Txn (127 keys and the meta key) went in. */
	ck_assert_int_eq(etcd_cluster_revision(&cluster), before + 1);
}
END_TEST

START_TEST(test_resync_after_compaction)
{
	struct host *a = &hosts[0], *b = &hosts[1];
	uint64_t rev = 0;
	char v[16], rs[32], err[256], *got;
	struct store *fresh;

	/* a's loop does not run while b writes and the cluster compacts
	 * past what a's watch asked for. */
	for (int i = 0; i < 10; i++) {
		snprintf(v, sizeof(v), "%d", i);
		ck_assert_int_eq(set1(b, "c", v, NULL, &rev), BACKEND_OK);
	}
	snprintf(rs, sizeof(rs), "%llu", (unsigned long long)rev);
	ck_assert_int_eq(etcd_cluster_ctl(&cluster,
	                     (const char *const[]){ "compact", rs, NULL }),
	    0);
	/* The watch answers canceled with compact_revision: a resync. */
	ck_assert(run(a, &a->replaced, 30));
	fresh = store_new();
	hooked = a;
	ck_assert(a->be->ops->load(a->be, fresh, false, err, sizeof(err)) ==
	    BACKEND_LOAD_OK);
	store_free(a->store);
	a->store = fresh;
	got = value_of(a, "c");
	ck_assert_str_eq(got, "9");
	free(got);
	ck_assert_uint_eq(store_revision(a->store), rev);
	{
		struct backend_etcd_stats st;

		backend_etcd_stats(a->be, &st);
		ck_assert_uint_eq(st.resyncs, 1);
		ck_assert(st.reachable);
	}
	/* And the watch goes on from there. */
	ck_assert_int_eq(set1(b, "c", "after", NULL, &rev), BACKEND_OK);
	for (double end = now() + 30; now() < end;) {
		run(a, NULL, 0.1);
		got = value_of(a, "c");
		if (strcmp(got, "after") == 0) {
			free(got);
			break;
		}
		free(got);
	}
	got = value_of(a, "c");
	ck_assert_str_eq(got, "after");
	free(got);
}
END_TEST

START_TEST(test_all_down)
{
	struct host *a = &hosts[0];
	struct req r;
	struct backend_etcd_stats st;
	char err[256];
	struct store *s;

	ck_assert_int_eq(set1(a, "d", "1", NULL, NULL), BACKEND_OK);
	for (int i = 0; i < ETCD_MEMBERS; i++)
		etcd_cluster_kill(&cluster, i);
	req_init(&r, a);
	req_change(&r, req_txn(&r, NULL), "d", "2");
	req_change(&r, req_txn(&r, NULL), "e", "2");
	commit(a, &r);
	ck_assert_int_eq(r.b.txns[0].status, BACKEND_FAILED);
	ck_assert_int_eq(r.b.txns[1].status, BACKEND_FAILED);
	ck_assert_ptr_nonnull(r.b.error);
	ck_assert_msg(strstr(r.b.error, "etcd unreachable") != NULL, "%s",
	    r.b.error);
	req_free(&r);
	backend_etcd_stats(a->be, &st);
	ck_assert(!st.reachable);
	s = store_new();
	ck_assert(a->be->ops->load(a->be, s, false, err, sizeof(err)) ==
	    BACKEND_LOAD_FAILED);
	ck_assert_msg(strstr(err, "etcd unreachable") != NULL, "%s", err);
	store_free(s);
}
END_TEST

/* How many Txns of the batch in flight are out at once. */
static size_t
txns_out(struct host *h)
{
	struct backend_etcd_stats st;

	backend_etcd_stats(h->be, &st);
	return st.txns_out;
}

/* Hands r to h's backend and tells how many of its Txns went out at
 * once, then waits for the answer. */
static size_t
commit_out(struct host *h, struct req *r)
{
	size_t out;

	h->committed = false;
	hooked = h;
	h->be->ops->commit(h->be, &r->b);
	out = txns_out(h);
	ck_assert_msg(run(h, &h->committed, 60), "no answer to a commit");
	return out;
}

/* The Txns of a batch go out at once where nothing orders them:
 * requests of different clients on different keys. Those of one client
 * keep its order, and so do those that share a key. */
START_TEST(test_batch_at_once)
{
	struct host *a = &hosts[0], *b = &hosts[1];
	struct req r;
	char key[16], want[512] = "", *v;
	uint64_t revs[4];

	/* Four clients, four keys: four Txns out at once. */
	req_init(&r, a);
	for (uint32_t i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "p%u", i);
		req_change(&r, req_txn_from(&r, NULL, i + 1), key, "1");
	}
	ck_assert_uint_eq(commit_out(a, &r), 4);
	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(r.b.txns[i].status, BACKEND_OK);
		revs[i] = r.b.txns[i].revision;
		for (size_t j = 0; j < i; j++)
			ck_assert_uint_ne(revs[i], revs[j]);
	}
	ck_assert(a->order_ok);
	ck_assert_uint_eq(store_revision(a->store), r.b.revision);
	/* The other host has them in the order of their revisions. */
	for (uint64_t rev = r.b.base + 1; rev <= r.b.revision; rev++)
		for (size_t i = 0; i < 4; i++)
			if (revs[i] == rev) {
				size_t len = strlen(want);

				snprintf(want + len, sizeof(want) - len,
				    "%llu p%zu=1\n", (unsigned long long)rev,
				    i);
			}
	req_free(&r);
	for (double end = now() + 30;
	     strcmp(b->others, want) != 0 && now() < end;)
		run(b, NULL, 0.1);
	ck_assert_str_eq(b->others, want);
	ck_assert(b->order_ok);

	/* One client's two requests: one after the other. */
	req_init(&r, a);
	req_change(&r, req_txn_from(&r, NULL, 7), "q1", "1");
	req_change(&r, req_txn_from(&r, NULL, 7), "q2", "1");
	req_change(&r, req_txn_from(&r, NULL, 8), "q3", "1");
	ck_assert_uint_eq(commit_out(a, &r), 2);
	ck_assert_int_eq(r.b.txns[0].status, BACKEND_OK);
	ck_assert_int_eq(r.b.txns[1].status, BACKEND_OK);
	ck_assert_uint_gt(r.b.txns[1].revision, r.b.txns[0].revision);
	req_free(&r);

	/* Two clients on one key: in the batch's order, the last wins. */
	req_init(&r, a);
	req_change(&r, req_txn_from(&r, NULL, 1), "s", "first");
	req_change(&r, req_txn_from(&r, NULL, 2), "s", "second");
	ck_assert_uint_eq(commit_out(a, &r), 1);
	ck_assert_int_eq(r.b.txns[1].status, BACKEND_OK);
	ck_assert_uint_gt(r.b.txns[1].revision, r.b.txns[0].revision);
	req_free(&r);
	v = value_of(a, "s");
	ck_assert_str_eq(v, "second");
	free(v);
	ck_assert(a->order_ok);
}
END_TEST

/* A compare on a key that a request before it in the batch writes sees
 * that write: its Txn waits for the other's. */
START_TEST(test_batch_compare_sees_earlier_write)
{
	struct host *a = &hosts[0];
	struct backend_compare absent = { .kind = BACKEND_CMP_KEY_ABSENT,
		.key = "c",
		.keylen = 1 };
	struct backend_compare at = { .kind = BACKEND_CMP_KEY_REVISION,
		.key = "c",
		.keylen = 1 };
	struct backend_compare obj = { .kind = BACKEND_CMP_OBJECT_REVISION };
	struct req r;
	uint64_t rev;

	ck_assert_int_eq(set1(a, "c", "0", NULL, &rev), BACKEND_OK);
	/* Client 1 deletes c; client 2 sets d if c is absent (it is, once
	 * 1's delete is in); client 3 sets e if c is still at rev (it is
	 * not). Client 4 compares nothing and goes at once. */
	at.revision = rev;
	req_init(&r, a);
	req_change(&r, req_txn_from(&r, NULL, 1), "c", NULL);
	req_change(&r, req_txn_from(&r, &absent, 2), "d", "1");
	req_change(&r, req_txn_from(&r, &at, 3), "e", "1");
	req_change(&r, req_txn_from(&r, NULL, 4), "f", "1");
	ck_assert_uint_eq(commit_out(a, &r), 2);
	ck_assert_int_eq(r.b.txns[0].status, BACKEND_OK);
	ck_assert_int_eq(r.b.txns[1].status, BACKEND_OK);
	ck_assert_int_eq(r.b.txns[2].status, BACKEND_CONFLICT);
	ck_assert_int_eq(r.b.txns[3].status, BACKEND_OK);
	ck_assert_uint_gt(r.b.txns[1].revision, r.b.txns[0].revision);
	rev = r.b.revision;
	req_free(&r);
	ck_assert_ptr_null(store_get(a->store, "e", 1));
	ck_assert(a->order_ok);

	/* The object's revision: every Txn writes the meta key, so such a
	 * compare waits for all before it, and fails once they moved it. */
	obj.revision = rev;
	req_init(&r, a);
	req_change(&r, req_txn_from(&r, NULL, 1), "g", "1");
	req_change(&r, req_txn_from(&r, &obj, 2), "h", "1");
	ck_assert_uint_eq(commit_out(a, &r), 1);
	ck_assert_int_eq(r.b.txns[0].status, BACKEND_OK);
	ck_assert_int_eq(r.b.txns[1].status, BACKEND_CONFLICT);
	req_free(&r);
}
END_TEST

/* A Txn whose revision follows the cache's at once is applied at its
 * answer; one with another host's change before it waits for the watch
 * to bring that change first, so that revisions rise in the cache. */
START_TEST(test_other_host_between)
{
	struct host *a = &hosts[0], *b = &hosts[1];
	uint64_t r1, r2;
	char want[128], *v;

	for (int round = 0; round < 5; round++) {
		char val[8];

		snprintf(val, sizeof(val), "%d", round);
		/* a's loop does not run while b writes: a's watch has not
		 * brought b's change when a's Txn is answered. */
		ck_assert_int_eq(set1(b, "w", val, NULL, &r1), BACKEND_OK);
		ck_assert_int_eq(set1(a, "v", val, NULL, &r2), BACKEND_OK);
		ck_assert_uint_gt(r2, r1);
		/* Both in the cache at the answer, b's first. */
		v = value_of(a, "w");
		ck_assert_ptr_nonnull(v);
		ck_assert_str_eq(v, val);
		free(v);
		ck_assert_uint_eq(store_revision(a->store), r2);
		ck_assert(a->order_ok);
		snprintf(want, sizeof(want), "%llu w=%s\n",
		    (unsigned long long)r1, val);
		ck_assert_str_eq(a->others + strlen(a->others) - strlen(want),
		    want);
	}
	/* A revision outside the prefix, which no watch of it brings: the
	 * Txn after it is not next to the cache, and waits for the watch
	 * to bring the Txn itself (not for the catch-up's resync). */
	ck_assert_int_eq(
	    etcd_cluster_ctl(&cluster,
	        (const char *const[]){ "put", "/elsewhere", "x", NULL }),
	    0);
	ck_assert_int_eq(set1(a, "v", "after", NULL, &r2), BACKEND_OK);
	ck_assert_uint_eq(store_revision(a->store), r2);
	{
		struct backend_etcd_stats st;

		backend_etcd_stats(a->be, &st);
		ck_assert_uint_eq(st.resyncs, 0);
		ck_assert_uint_eq(st.cache_revision, r2);
	}
}
END_TEST

/* Txns of one batch whose answers are lost (the member they went to
 * stops once they are sent) are settled, each apart: applied, or
 * unknown, never guessed: the cache ends as etcd has the keys. */
START_TEST(test_lost_answers_settled)
{
	struct host *a = &hosts[0], *b = &hosts[1];
	struct backend_etcd_stats st;
	struct req r;
	char key[16], *va = NULL, *vb = NULL;
	int member = -1;
	bool same = false;

	ck_assert_int_eq(set1(a, "l", "0", NULL, NULL), BACKEND_OK);
	backend_etcd_stats(a->be, &st);
	for (int i = 0; i < ETCD_MEMBERS; i++)
		if (strcmp(cluster.m[i].url, st.endpoint) == 0)
			member = i;
	ck_assert_int_ge(member, 0);
	req_init(&r, a);
	for (uint32_t i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "l%u", i);
		req_change(&r, req_txn_from(&r, NULL, i + 1), key, "v");
	}
	/* The Txns start from a's loop: the member is stopped before it
	 * runs, and takes them into its socket without an answer. */
	a->committed = false;
	hooked = a;
	a->be->ops->commit(a->be, &r.b);
	ck_assert_uint_eq(txns_out(a), 3);
	etcd_cluster_pause(&cluster, member);
	ck_assert(run(a, &a->committed, 60));
	etcd_cluster_resume(&cluster, member);
	for (size_t i = 0; i < 3; i++) {
		enum backend_status got = r.b.txns[i].status;

		ck_assert_msg(got == BACKEND_OK || got == BACKEND_UNKNOWN,
		    "txn %zu: status %d", i, (int)got);
		if (got == BACKEND_UNKNOWN)
			ck_assert_msg(strstr(r.b.error, "unknown") != NULL,
			    "%s", r.b.error);
	}
	ck_assert(a->order_ok);
	/* Each host's cache ends as etcd has each key, whichever way its
	 * Txn went: what a answered unknown but etcd made comes to a's
	 * cache from its watch. */
	for (double end = now() + 60; !same && now() < end;) {
		run(a, NULL, 0.1);
		run(b, NULL, 0.1);
		same = true;
		for (size_t i = 0; i < 3 && same; i++) {
			snprintf(key, sizeof(key), "l%zu", i);
			va = value_of(a, key);
			vb = value_of(b, key);
			same = (va == NULL) == (vb == NULL) &&
			    (va == NULL || strcmp(va, vb) == 0);
			if (r.b.txns[i].status == BACKEND_OK)
				same = same && va != NULL;
			free(va);
			free(vb);
		}
	}
	ck_assert_msg(same, "the hosts' caches differ");
	ck_assert(a->order_ok);
	ck_assert(b->order_ok);
	req_free(&r);
}
END_TEST

/* A read barrier's end. */
struct barrier_end {
	bool done, ok;
	char why[512];
	/* What the store held then. */
	uint64_t revision;
	char *value;
	struct host *h;
};

static void
on_barrier(void *arg, bool ok, const char *why)
{
	struct barrier_end *be = arg;

	be->done = true;
	be->ok = ok;
	snprintf(be->why, sizeof(be->why), "%s", why ? why : "");
	be->revision = store_revision(be->h->store);
	be->value = value_of(be->h, "x");
}

START_TEST(test_read_barrier)
{
	struct host *a = &hosts[0], *b = &hosts[1];
	struct barrier_end end = { .h = b };
	uint64_t r1;

	/* b's loop has not run since a's write: its watch has not brought
	 * it yet, and the barrier lets the read through only once it has. */
	for (int round = 0; round < 10; round++) {
		char v[8];

		snprintf(v, sizeof(v), "%d", round);
		ck_assert_int_eq(set1(a, "x", v, NULL, &r1), BACKEND_OK);
		memset(&end, 0, sizeof(end));
		end.h = b;
		b->be->ops->read_barrier(b->be, on_barrier, &end);
		/* Never from inside the call. */
		ck_assert(!end.done);
		ck_assert(run(b, &end.done, 60));
		ck_assert_msg(end.ok, "%s", end.why);
		ck_assert_uint_ge(end.revision, r1);
		ck_assert_ptr_nonnull(end.value);
		ck_assert_str_eq(end.value, v);
		free(end.value);
	}
	/* No quorum: it ends, saying etcd is unreachable. */
	for (int i = 0; i < ETCD_MEMBERS; i++)
		etcd_cluster_kill(&cluster, i);
	memset(&end, 0, sizeof(end));
	end.h = b;
	b->be->ops->read_barrier(b->be, on_barrier, &end);
	ck_assert(run(b, &end.done, 60));
	ck_assert(!end.ok);
	ck_assert_msg(strstr(end.why, "etcd is unreachable") != NULL, "%s",
	    end.why);
	free(end.value);
	/* One still out when the backend closes ends then. */
	memset(&end, 0, sizeof(end));
	end.h = b;
	b->be->ops->read_barrier(b->be, on_barrier, &end);
	hooked = b;
	b->be->ops->close(b->be);
	b->be = NULL;
	ck_assert(end.done && !end.ok);
	ck_assert_str_eq(end.why, "objd is stopping");
	free(end.value);
	store_free(b->store);
	event_base_free(b->base);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("etcd backend");
	TCase *tc;

	tc = tcase_create("backend");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_two_hosts_in_order);
	tcase_add_test(tc, test_cas_race);
	tcase_add_test(tc, test_absent_present);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_resync_after_compaction);
	tcase_add_test(tc, test_all_down);
	tcase_add_test(tc, test_read_barrier);
	tcase_add_test(tc, test_batch_at_once);
	tcase_add_test(tc, test_batch_compare_sees_earlier_write);
	tcase_add_test(tc, test_other_host_between);
	tcase_add_test(tc, test_lost_answers_settled);
	suite_add_tcase(suite, tc);
	return etcd_cluster_main(suite);
}
