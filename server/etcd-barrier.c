/* SPDX-License-Identifier: ISC */
/* etcd-barrier.c: the etcd backend's read barrier for consistent
 * reads (backend-etcd.c) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backend-etcd.h"
#include "clock.h"
#include "etcd-backend.h"
#include "etcd.h"
#include "log.h"
#include "objd.h"
#include "xmalloc.h"

/* A consistent read (read_barrier): a quorum Range gives the revision
 * of the object's last change in etcd, and the read is let through once
 * the cache holds it, as Kubernetes serves consistent reads from its
 * watch cache. The Range reads the meta key, which every change writes,
 * rather than count_only for the cluster's revision: a revision outside
 * the prefix reaches the cache only with the next periodic progress
 * notification (etcd 3.4's answer to a progress request may overtake
 * events, so it cannot stand in), and the object's own revision comes
 * with the watch's events at once. */
struct barrier {
	struct etcd_backend *eb;
	struct barrier *next, **prevp;
	backend_barrier_cb done;
	void *arg;
	struct etcd_call *call; /* the quorum Range, while out */
	struct event *timer;    /* the wait for the cache, once it has rev */
	int64_t rev; /* the object's in etcd; -1 until the Range answers */
};

/* Whether the store served holds everything etcd had at rev: the watch
 * brought it, and nothing it brought waits to be applied (others'
 * changes held behind an own batch, an own batch the watch showed, a
 * resync being read or not yet loaded). */
static bool
cache_holds(const struct etcd_backend *eb, int64_t rev)
{
	return eb->loaded && eb->fetching == NULL && eb->nheld == 0 &&
	    !(eb->b != NULL && eb->seen_own) && eb->applied >= rev;
}

static void
barrier_end(struct barrier *br, bool ok, const char *why)
{
	if (br->call != NULL)
		etcd_call_cancel(br->call);
	if (br->timer != NULL)
		event_free(br->timer);
	if ((*br->prevp = br->next) != NULL)
		br->next->prevp = br->prevp;
	br->done(br->arg, ok, why);
	free(br);
}

/* Lets through every barrier the cache has reached. Run from an event
 * of its own, after whatever changed the cache: a reload swaps a
 * resync's state in only after load returns. */
void
eb_on_barrier_check(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_backend *eb = arg;
	struct barrier *br, *next;

	for (br = eb->barriers; br != NULL; br = next) {
		next = br->next;
		if (br->rev >= 0 && cache_holds(eb, br->rev))
			barrier_end(br, true, NULL);
	}
}

void
eb_barriers_soon(struct etcd_backend *eb)
{
	if (eb->barriers != NULL)
		event_active(eb->barrier_check, EV_TIMEOUT, 0);
}

static void
on_barrier_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct barrier *br = arg;
	char why[256];

	snprintf(why, sizeof(why),
	    "objd's cache did not reach the object's revision in etcd, %" PRId64
	    ", in %.0f s (it holds %" PRId64 "): its watch of etcd lags",
	    br->rev, br->eb->ecfg.call_timeout, br->eb->applied);
	barrier_end(br, false, why);
}

static void
on_barrier_range(const struct etcd_reply *r, void *arg)
{
	struct barrier *br = arg;
	struct etcd_backend *eb = br->eb;
	const Etcdserverpb__RangeResponse *rr =
	    (const Etcdserverpb__RangeResponse *)r->msg;
	struct timeval tv;
	char why[700];

	br->call = NULL;
	if (r->status != ETCD_OK || rr->header == NULL) {
		snprintf(why, sizeof(why),
		    "etcd is unreachable: a quorum read failed (%s)%s%s",
		    r->message ? r->message : "no answer",
		    r->endpoint ? " at " : "", r->endpoint ? r->endpoint : "");
		barrier_end(br, false, why);
		return;
	}
	/* No meta key: nothing was ever written under the prefix. */
	br->rev = rr->n_kvs == 1 ? rr->kvs[0]->mod_revision : 0;
	if (rr->header->revision > eb->newest)
		eb->newest = rr->header->revision;
	if (cache_holds(eb, br->rev)) {
		barrier_end(br, true, NULL);
		return;
	}
	tv.tv_sec = (time_t)eb->ecfg.call_timeout;
	tv.tv_usec =
	    (suseconds_t)((eb->ecfg.call_timeout - (double)tv.tv_sec) * 1e6);
	if ((br->timer = evtimer_new(eb->base, on_barrier_timeout, br)) == NULL)
		fatalx("etcd: out of resources");
	evtimer_add(br->timer, &tv);
}

void
eb_read_barrier(struct backend *be, backend_barrier_cb done, void *arg)
{
	struct etcd_backend *eb = EB(be);
	struct barrier *br = xcalloc(1, sizeof(*br));
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;

	br->eb = eb;
	br->rev = -1;
	br->done = done;
	br->arg = arg;
	if ((br->next = eb->barriers) != NULL)
		br->next->prevp = &br->next;
	br->prevp = &eb->barriers;
	eb->barriers = br;
	/* Linearizable (not serializable): the meta key as a quorum has
	 * it. keys_only: its value is not wanted. */
	req.key.data = (uint8_t *)eb->meta;
	req.key.len = eb->metalen;
	req.keys_only = true;
	br->call = etcd_range(eb->client, &req, on_barrier_range, br);
}

void
eb_barriers_end(struct etcd_backend *eb, const char *why)
{
	while (eb->barriers != NULL)
		barrier_end(eb->barriers, false, why);
}
