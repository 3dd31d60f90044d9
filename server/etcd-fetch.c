/* SPDX-License-Identifier: ISC */
/* etcd-fetch.c: the etcd backend's reads of the whole prefix
 * (backend-etcd.c): the load at start and the resync after the watch's
 * start was compacted.
 *
 * Reads of the whole state are paged Ranges at one fixed revision,
 * on a client of a private event base run to completion: load is
 * synchronous, and libevent's loop cannot run inside itself */
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

/* Empties s, for a load that starts again. */
static void
store_empty(struct store *s)
{
	size_t n, i;
	struct store_entry **all = store_sorted(s, "", 0, &n);

	for (i = 0; i < n; i++)
		free(store_remove(s, STORE_ENTRY_KEY(all[i]), all[i]->keylen));
	free(all);
}

/* A private loop for what must be synchronous: runs until *done. */
struct sync_call {
	bool done;
	int status;
	char message[512];
	Etcdserverpb__RangeResponse *range;
};

static void
on_sync(const struct etcd_reply *r, void *arg)
{
	struct sync_call *sc = arg;
	size_t len;
	uint8_t *buf;

	sc->done = true;
	sc->status = r->status;
	snprintf(sc->message, sizeof(sc->message), "%s",
	    r->message ? r->message : "");
	if (r->msg == NULL)
		return;
	/* The answer is freed after this returns: keep a copy. */
	len = protobuf_c_message_get_packed_size(r->msg);
	buf = xmalloc(len + 1);
	protobuf_c_message_pack(r->msg, buf);
	sc->range = etcdserverpb__range_response__unpack(NULL, len, buf);
	free(buf);
}

/* A read of the whole prefix at one revision, page by page. */
struct fetch {
	struct store *s;
	uint8_t *from, *end;
	size_t fromlen, endlen;
	int64_t at, objrev;
	uint64_t cluster;
};

static void
fetch_init(struct etcd_backend *eb, struct fetch *f, struct store *s)
{
	memset(f, 0, sizeof(*f));
	f->s = s;
	f->end = etcd_prefix_end(eb->prefix, eb->prefixlen, &f->endlen);
	f->from = xmemdup(eb->prefix, eb->prefixlen);
	f->fromlen = eb->prefixlen;
}

/* The revision was compacted while paging: start again at the newest. */
static void
fetch_restart(struct etcd_backend *eb, struct fetch *f)
{
	store_empty(f->s);
	f->at = f->objrev = 0;
	free(f->from);
	f->from = xmemdup(eb->prefix, eb->prefixlen);
	f->fromlen = eb->prefixlen;
}

static void
fetch_request(const struct fetch *f, Etcdserverpb__RangeRequest *req)
{
	etcdserverpb__range_request__init(req);
	req->key.data = f->from;
	req->key.len = f->fromlen;
	req->range_end.data = f->end;
	req->range_end.len = f->endlen;
	req->limit = LOAD_PAGE;
	req->revision = f->at;
}

/* Takes one page into the store; true if more follow. */
static bool
fetch_page(struct etcd_backend *eb, struct fetch *f,
    const Etcdserverpb__RangeResponse *r)
{
	const Mvccpb__KeyValue *last;

	if (f->at == 0 && r->header != NULL) {
		f->at = r->header->revision;
		f->cluster = r->header->cluster_id;
	}
	for (size_t i = 0; i < r->n_kvs; i++) {
		const Mvccpb__KeyValue *kv = r->kvs[i];
		const char *key;
		size_t keylen;

		if (kv->key.len == eb->metalen &&
		    memcmp(kv->key.data, eb->meta, eb->metalen) == 0)
			f->objrev = kv->mod_revision;
		else if ((key = eb_objd_key(eb, &kv->key, &keylen)) != NULL) {
			uint64_t deadline, holder;

			free(store_put(f->s,
			    store_entry_new(key, keylen, kv->value.data,
			        kv->value.len, (uint64_t)kv->mod_revision)));
			eb_note_lease(eb, key, keylen, kv->lease);
			eb_lease_meaning(kv->lease, &deadline, &holder);
			if (deadline != 0 || holder != 0)
				store_lease_set(f->s, key, keylen, deadline,
				    holder);
		}
	}
	if (!r->more || r->n_kvs == 0)
		return false;
	last = r->kvs[r->n_kvs - 1];
	free(f->from);
	f->fromlen = last->key.len + 1;
	f->from = xmalloc(f->fromlen);
	memcpy(f->from, last->key.data, last->key.len);
	f->from[last->key.len] = 0;
	return true;
}

static void
fetch_free(struct fetch *f)
{
	free(f->from);
	free(f->end);
	f->from = f->end = NULL;
}

/* The state read is the cache's now: the watch goes on from it. */
static void
fetch_done(struct etcd_backend *eb, struct fetch *f)
{
	if (eb->loaded && eb->cluster_id != 0 && f->cluster != eb->cluster_id)
		log_warnx("etcd: another cluster (id %" PRIx64 ", was %" PRIx64
		          ")",
		    f->cluster, eb->cluster_id);
	store_set_revision(f->s, (uint64_t)f->objrev);
	eb->cluster_id = f->cluster;
	eb->applied = f->at;
	if (f->at > eb->newest)
		eb->newest = f->at;
	if (eb->watch != NULL) {
		etcd_watch_close(eb->watch);
		eb->watch = NULL;
	}
	eb->loaded = true;
	eb_watch_open(eb);
	eb_barriers_soon(eb);
}

static void fetch_next(struct etcd_backend *eb);

void
eb_on_fetch_retry(evutil_socket_t fd, short what, void *arg)
{
	fetch_next(arg);
}

/* A page of the background read (a resync, or the load that failed at
 * start): when the last is in, the loop is told to load, which takes
 * the state read here without asking etcd again. */
static void
on_fetch(const struct etcd_reply *r, void *arg)
{
	struct etcd_backend *eb = arg;
	struct timeval tv = { 1, 0 };

	eb->fetch_call = NULL;
	if (r->status == ETCD_OUT_OF_RANGE) {
		fetch_restart(eb, eb->fetching);
		fetch_next(eb);
		return;
	}
	if (r->status != ETCD_OK) {
		log_debug("etcd: resync: %s; trying again", r->message);
		evtimer_add(eb->fetch_retry, &tv);
		return;
	}
	if (fetch_page(eb, eb->fetching,
	        (const Etcdserverpb__RangeResponse *)r->msg)) {
		fetch_next(eb);
		return;
	}
	eb->fetched = true;
	eb->be.hooks->others_replaced();
}

static void
fetch_next(struct etcd_backend *eb)
{
	Etcdserverpb__RangeRequest req;

	fetch_request(eb->fetching, &req);
	eb->fetch_call = etcd_range(eb->client, &req, on_fetch, eb);
}

/* Starts the background read, unless one runs. */
static void
fetch_start(struct etcd_backend *eb)
{
	if (eb->fetching != NULL)
		return;
	eb->fetching = xcalloc(1, sizeof(*eb->fetching));
	eb->fetched = false;
	fetch_init(eb, eb->fetching, store_new());
	fetch_next(eb);
}

void
eb_fetch_cancel(struct etcd_backend *eb)
{
	if (eb->fetching == NULL)
		return;
	if (eb->fetch_call != NULL)
		etcd_call_cancel(eb->fetch_call);
	eb->fetch_call = NULL;
	evtimer_del(eb->fetch_retry);
	store_free(eb->fetching->s);
	fetch_free(eb->fetching);
	free(eb->fetching);
	eb->fetching = NULL;
	eb->fetched = false;
}

/* Reads the whole prefix into s at one revision: what the background
 * read brought, if it is over; else a read now, on a private loop. A
 * load that fails leaves a background read going, which tells the loop
 * through others_replaced once etcd answers. */
enum backend_load
eb_load(struct backend *be, struct store *s, bool recover, char *err,
    size_t errlen)
{
	struct etcd_backend *eb = EB(be);
	struct event_base *base;
	struct etcd *client;
	struct fetch f;
	enum backend_load rc = BACKEND_LOAD_FAILED;

	if (eb->fetched) {
		struct fetch *got = eb->fetching;
		size_t n;
		struct store_entry **all = store_sorted(got->s, "", 0, &n);

		for (size_t i = 0; i < n; i++)
			free(store_put(s,
			    store_remove(got->s, STORE_ENTRY_KEY(all[i]),
			        all[i]->keylen)));
		free(all);
		store_free(got->s);
		got->s = s;
		fetch_done(eb, got);
		fetch_free(got);
		free(got);
		eb->fetching = NULL;
		eb->fetched = false;
		return BACKEND_LOAD_OK;
	}
	if ((base = event_base_new()) == NULL)
		fatalx("etcd: out of resources");
	if ((client = etcd_new(base, &eb->ecfg, err, errlen)) == NULL) {
		event_base_free(base);
		return BACKEND_LOAD_FAILED;
	}
	fetch_init(eb, &f, s);
	for (;;) {
		Etcdserverpb__RangeRequest req;
		struct sync_call sc = { 0 };
		bool more;

		fetch_request(&f, &req);
		etcd_range(client, &req, on_sync, &sc);
		while (!sc.done)
			if (event_base_loop(base, EVLOOP_ONCE) == -1)
				fatalx("etcd: the load's loop failed");
		if (sc.status == ETCD_OUT_OF_RANGE) {
			fetch_restart(eb, &f);
			continue;
		}
		if (sc.status != ETCD_OK || sc.range == NULL) {
			snprintf(err, errlen, "%s%s",
			    sc.status == ETCD_UNAVAILABLE ? "" : "etcd: ",
			    sc.message);
			fetch_start(eb);
			goto out;
		}
		more = fetch_page(eb, &f, sc.range);
		etcdserverpb__range_response__free_unpacked(sc.range, NULL);
		if (!more)
			break;
	}
	eb_fetch_cancel(eb);
	fetch_done(eb, &f);
	/* The private client's contact is not the backend's. */
	eb->loaded_at = now_wall();
	rc = BACKEND_LOAD_OK;
out:
	fetch_free(&f);
	etcd_free(client);
	event_base_free(base);
	return rc;
}

/* The watch cannot go on from where the cache is: the state is read
 * again in the background, once no batch of ours is in flight, and
 * the loop told to load it. */
void
eb_resync(struct etcd_backend *eb)
{
	if (eb->watch != NULL) {
		etcd_watch_close(eb->watch);
		eb->watch = NULL;
	}
	if (eb->b != NULL) {
		eb->resync_pending = true;
		return;
	}
	eb->resyncs++;
	fetch_start(eb);
}
