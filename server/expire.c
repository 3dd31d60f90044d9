/* SPDX-License-Identifier: ISC */
/* expire.c: the end of leases (lease.c). A key whose deadline passed,
 * and the keys of a holder whose connection is gone, are deleted as a
 * committed change of objd's own, in the batch like any write: the file
 * records it, watchers see it (an expiry as "expire"), and a restart
 * finds it done.
 *
 * One libevent timer stands for the earliest deadline; it takes every
 * lease due off the heap, so an expiry costs O(keys expired). Held keys
 * are looked for only when a holder left or a file was loaded, among the
 * held ones alone. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backend-etcd.h"
#include "clock.h"
#include "log.h"
#include "objd.h"
#include "xmalloc.h"

/* The timer is armed at most this far ahead, so that a step of the wall
 * clock (the deadlines' clock) is noticed. */
#define EXPIRE_REARM_MAX_MS 10000
/* A key whose expiry must wait for a pending write, or a held key of a
 * holder gone while its key has one, is looked at again this soon. */
#define EXPIRE_RETRY_MS 100
/* After a failed write of objd's own change, the wait before another. */
#define EXPIRE_BACKOFF_MS 1000

static struct {
	struct event *timer;
	uint64_t armed;       /* the deadline it is armed for; 0: none */
	uint64_t instance;    /* random: holders of this objd's connections */
	bool holders_dirty;   /* a holder left, or a load brought held keys */
	uint64_t retry_at;    /* look again by then, at the latest; 0: no */
	uint64_t backoff_end; /* after a failed write, nothing before */
} expire;

uint64_t
expire_now_ms(void)
{
	return (uint64_t)(now_wall() * 1000.0);
}

static bool
key_pending(const char *key, size_t keylen)
{
	bool pending;

	(void)batch_lookup(key, keylen, &pending);
	return pending;
}

/* Queues the deletion of every key due by now as one change; a key with
 * a write still pending waits for it (which sets or deletes it anew). */
static void
expire_due(struct leases *l, uint64_t now)
{
	struct lease *lease, **later = NULL;
	size_t nlater = 0, caplater = 0, n = 0;

	while ((lease = leases_pop_due(l, now)) != NULL) {
		if (key_pending(lease->key, lease->keylen)) {
			if (nlater == caplater) {
				caplater = caplater ? caplater * 2 : 16;
				later = xreallocarray(later, caplater,
				    sizeof(*later));
			}
			later[nlater++] = lease;
			continue;
		}
		if (n++ == 0)
			batch_begin_own(true);
		batch_add_delete(lease->key, lease->keylen);
	}
	for (size_t i = 0; i < nlater; i++)
		leases_requeue(l, later[i]);
	if (nlater > 0)
		expire.retry_at = now + EXPIRE_RETRY_MS;
	free(later);
	if (n > 0)
		log_debug("%zu key(s) expire", n);
}

struct held_walk {
	struct lease **held;
	size_t n, cap;
};

static void
held_collect(struct lease *lease, void *arg)
{
	struct held_walk *w = arg;

	if (lease->holder == 0)
		return;
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->held = xreallocarray(w->held, w->cap, sizeof(*w->held));
	}
	w->held[w->n++] = lease;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_lease_holder(const void *a, const void *b)
{
	const struct lease *x = *(struct lease *const *)a;
	const struct lease *y = *(struct lease *const *)b;

	return cmp_u64(&x->holder, &y->holder);
}

/* The holders of the connections, as expire_orphans collects them. */
struct live_holders {
	uint64_t *holders;
	size_t n, cap;
};

static void
live_collect(struct conn *c, void *arg)
{
	struct live_holders *live = arg;

	if (conn_holder(c) == 0)
		return;
	if (live->n == live->cap) {
		live->cap = live->cap ? live->cap * 2 : 16;
		live->holders =
		    xreallocarray(live->holders, live->cap, sizeof(uint64_t));
	}
	live->holders[live->n++] = conn_holder(c);
}

/* Queues the deletion of the held keys whose holder is no connection of
 * this objd: one change for each holder. */
static void
expire_orphans(struct leases *l, uint64_t now)
{
	struct held_walk w = { 0 };
	struct live_holders lh = { 0 };
	uint64_t *live, prev = 0;
	size_t nlive;

	if (leases_held(l) == 0)
		return;
	leases_foreach_held(l, held_collect, &w);
	conn_foreach(live_collect, &lh);
	live = lh.holders;
	nlive = lh.n;
	if (nlive > 0)
		qsort(live, nlive, sizeof(*live), cmp_u64);
	qsort(w.held, w.n, sizeof(*w.held), cmp_lease_holder);
	for (size_t i = 0; i < w.n; i++) {
		struct lease *lease = w.held[i];

		if (nlive > 0 &&
		    bsearch(&lease->holder, live, nlive, sizeof(*live),
		        cmp_u64) != NULL)
			continue;
		if (key_pending(lease->key, lease->keylen)) {
			expire.holders_dirty = true;
			expire.retry_at = now + EXPIRE_RETRY_MS;
			continue;
		}
		if (prev != lease->holder)
			batch_begin_own(false);
		prev = lease->holder;
		batch_add_delete(lease->key, lease->keylen);
	}
	free(w.held);
	free(live);
}

/* Arms the timer for what is due next. */
static void
expire_arm(void)
{
	uint64_t now = expire_now_ms(), at;
	struct timeval tv;

	at = leases_next_deadline(store_leases(server.store));
	if (expire.retry_at != 0 && (at == 0 || expire.retry_at < at))
		at = expire.retry_at;
	else if (expire.holders_dirty && expire.retry_at == 0)
		at = now;
	if (at != 0 && at < expire.backoff_end)
		at = expire.backoff_end;
	if (at == expire.armed)
		return;
	expire.armed = at;
	if (at == 0) {
		evtimer_del(expire.timer);
		return;
	}
	at = at <= now ? 0 : at - now;
	if (at > EXPIRE_REARM_MAX_MS)
		at = EXPIRE_REARM_MAX_MS;
	tv.tv_sec = (time_t)(at / 1000);
	tv.tv_usec = (suseconds_t)(at % 1000) * 1000;
	evtimer_add(expire.timer, &tv);
}

static void
expire_run(evutil_socket_t fd, short events, void *arg)
{
	struct leases *l = store_leases(server.store);
	uint64_t now = expire_now_ms();

	(void)fd;
	(void)events;
	(void)arg;
	expire.armed = 0;
	expire.retry_at = 0;
	if (server.stopping)
		return;
	if (etcd_mode.endpoints != NULL) {
		/* etcd deletes them, for every host: an expiring key by its
		 * lease's end, a held key when its holder's lease is
		 * revoked (the backend's) or runs out. The deadlines stay
		 * for get --meta; none is deleted here too. */
		while (leases_pop_due(l, now) != NULL)
			;
		if (expire.holders_dirty && backend != NULL) {
			expire.holders_dirty = false;
			backend_etcd_holders_changed(backend);
		}
		expire_arm();
		return;
	}
	/* What it queues commits at the end of this turn (loop.c). */
	if (now >= expire.backoff_end) {
		if (expire.holders_dirty) {
			expire.holders_dirty = false;
			expire_orphans(l, now);
		}
		expire_due(l, now);
	}
	expire_arm();
}

void
expire_init(void)
{
	expire.timer = evtimer_new(server.base, expire_run, NULL);
	if (expire.timer == NULL)
		fatalx("cannot make the timer of expiring keys");
	do
		expire.instance = store_random_seed(&expire);
	while (expire.instance == 0);
	expire_loaded();
}

void
expire_free(void)
{
	if (expire.timer != NULL)
		event_free(expire.timer);
	memset(&expire, 0, sizeof(expire));
}

void
expire_changed(void)
{
	if (expire.timer != NULL &&
	    (expire.armed != 0 ||
	        leases_next_deadline(store_leases(server.store)) != 0))
		expire_arm();
}

void
expire_loaded(void)
{
	if (leases_held(store_leases(server.store)) > 0)
		expire.holders_dirty = true;
	if (expire.timer != NULL)
		expire_arm();
}

uint64_t
expire_holder(struct conn *c)
{
	/* Unique among this objd's connections, and unlike the marks of
	 * another objd's (a restart finds those in the file). */
	uint64_t holder = conn_holder(c);

	if (holder == 0) {
		holder =
		    expire.instance ^ (conn_serial(c) * 0x9e3779b97f4a7c15ULL);
		if (holder == 0)
			holder = expire.instance;
		conn_set_holder(c, holder);
	}
	return holder;
}

void
expire_holder_gone(void)
{
	if (server.stopping || expire.timer == NULL)
		return;
	expire.holders_dirty = true;
	expire.retry_at = 0;
	expire_arm();
}

void
expire_retry(const char *key, size_t keylen)
{
	struct leases *l = store_leases(server.store);
	struct lease *lease = leases_get(l, key, keylen);

	if (lease == NULL)
		return;
	leases_requeue(l, lease);
	if (lease->holder != 0)
		expire.holders_dirty = true;
	expire.backoff_end = expire_now_ms() + EXPIRE_BACKOFF_MS;
	expire.armed = 0;
	if (expire.timer != NULL)
		expire_arm();
}

uint64_t
expire_ttl_left(const char *key, size_t keylen)
{
	const struct lease *lease;
	uint64_t now;

	if (server.store == NULL ||
	    (lease = leases_get(store_leases(server.store), key, keylen)) ==
	        NULL ||
	    lease->deadline == 0)
		return 0;
	now = expire_now_ms();
	/* Due but not yet gone: 1, as 0 means it does not expire. */
	return lease->deadline > now ? lease->deadline - now : 1;
}
