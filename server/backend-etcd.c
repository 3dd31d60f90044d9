/* SPDX-License-Identifier: ISC */
/* backend-etcd.c: etcd v3 as the backend (backend-etcd.h).
 *
 * Writes: each request of a batch is one Txn, which also puts the meta
 * key with this objd's writer id and a sequence number. The Txns go out
 * at once, as HTTP/2 streams, where nothing orders them: a Txn waits
 * for the Txns before it in the batch that come from the same client
 * (a pipeline keeps its order), that write a key it writes or compares,
 * or that compare a key it writes; one that compares the object's
 * revision waits for all before it (each writes the meta key). etcd
 * then makes them in one raft round, as it does for as many clients.
 *
 * The cache applies etcd's order exactly (read-your-writes, and local
 * watchers in revision order): a batch is reported committed once every
 * Txn is answered and the cache can take them. That is at once when
 * their revisions are exactly the ones after the cache's (no change of
 * others' can lie between: etcd gives each change its own revision);
 * otherwise once the watch has brought everything up to the newest of
 * them. Changes of others the watch brought after an own one go to the
 * loop with the batch (backend_batch.others), which applies all in
 * revision order. Own changes are known on the watch by the meta key's
 * writer id, not by revision, since the watch may outrun the answer.
 *
 * A Txn whose answer is lost (a timeout, a member gone after sending)
 * is settled through a quorum read of the meta key: holding the Txn's
 * writer id and sequence number, it was applied there. Otherwise (other
 * Txns wrote it since, ours among them) its revision is no lower than
 * the Txn's if it was applied by then; once the watch has brought
 * everything up to it, the Txn was applied if the watch brought its
 * sequence number. Otherwise the
 * request is answered BACKEND_UNKNOWN, and the Txn, if the watch brings
 * it later, is taken as a change of others'.
 *
 * Here are the watch, which keeps the cache, and the backend's ops. The
 * commit path (the Txns, their order and answers, the settling of lost
 * ones) is in etcd-commit.c, leases in etcd-lease.c, the reads of the
 * whole state in etcd-fetch.c, consistent reads' barrier in
 * etcd-barrier.c; the state they share is struct etcd_backend
 * (etcd-backend.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "backend-etcd.h"
#include "etcd-backend.h"
#include "clock.h"
#include "etcd.h"
#include "log.h"
#include "objd.h"
#include "xmalloc.h"

static const struct timeval renew_tv = { HOLD_RENEW, 0 };

static const struct etcd_watch_handlers watch_handlers;

void
eb_watch_open(struct etcd_backend *eb)
{
	size_t endlen;
	uint8_t *end = etcd_prefix_end(eb->prefix, eb->prefixlen, &endlen);

	eb->watch = etcd_watch_open(eb->client, eb->prefix, eb->prefixlen, end,
	    endlen, eb->applied + 1, &watch_handlers, eb);
	free(end);
}

static void
on_rewatch(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_backend *eb = arg;

	if (eb->watch == NULL && eb->loaded)
		eb_watch_open(eb);
}

/* The key of an etcd key under the k/ prefix, or NULL. */
const char *
eb_objd_key(const struct etcd_backend *eb, const ProtobufCBinaryData *k,
    size_t *len)
{
	if (k->len <= eb->kprefixlen ||
	    memcmp(k->data, eb->kprefix, eb->kprefixlen) != 0)
		return NULL;
	*len = k->len - eb->kprefixlen;
	return (const char *)k->data + eb->kprefixlen;
}

/* The changes of one revision, made by others: to the loop. */
static void
others(struct etcd_backend *eb, Mvccpb__Event **evs, size_t n, int64_t rev,
    bool hold, bool expired)
{
	struct backend_batch ob = { 0 };
	struct backend_txn t = { 0 };
	uint64_t deadline = 0, holder = 0;
	size_t i;

	ob.changes = xcalloc(n, sizeof(*ob.changes));
	for (i = 0; i < n; i++) {
		const Mvccpb__KeyValue *kv = evs[i]->kv;
		struct backend_change *c = &ob.changes[ob.nchanges];
		const char *key;
		size_t keylen;

		if ((key = eb_objd_key(eb, &kv->key, &keylen)) == NULL)
			continue;
		c->delete = evs[i]->type == MVCCPB__EVENT__EVENT_TYPE__DELETE;
		/* One Txn's puts share its lease, if any. */
		if (!c->delete &&kv->lease != 0)
			eb_lease_meaning(kv->lease, &deadline, &holder);
		c->entry = store_entry_new(key, keylen,
		    c->delete ? NULL : kv->value.data,
		    c->delete ? 0 : kv->value.len, (uint64_t)rev);
		c->txn = 0;
		ob.nchanges++;
	}
	if (ob.nchanges == 0) {
		free(ob.changes);
		return;
	}
	ob.ntxns = 1;
	ob.revision = (uint64_t)rev;
	ob.time = (int64_t)time(NULL);
	if (hold) {
		struct backend_batch *h;

		eb->held =
		    xreallocarray(eb->held, eb->nheld + 1, sizeof(*eb->held));
		h = &eb->held[eb->nheld++];
		*h = ob;
		h->txns = xcalloc(1, sizeof(*h->txns));
		h->txns[0].changes = true;
		h->txns[0].expire = expired;
		h->txns[0].deadline = deadline;
		h->txns[0].holder = holder;
		h->txns[0].status = BACKEND_OK;
		h->txns[0].revision = (uint64_t)rev;
		return;
	}
	t.changes = true;
	t.expire = expired;
	t.deadline = deadline;
	t.holder = holder;
	t.status = BACKEND_OK;
	t.revision = (uint64_t)rev;
	ob.txns = &t;
	eb->be.hooks->others_committed(&ob);
	free(ob.changes);
}

static void
on_watch(const Etcdserverpb__WatchResponse *r, void *arg)
{
	struct etcd_backend *eb = arg;
	size_t i, j;

	eb->rewatches = 0;
	if (r->header != NULL) {
		if (eb->cluster_id != 0 && r->header->cluster_id != 0 &&
		    r->header->cluster_id != eb->cluster_id) {
			log_warnx("etcd: the cluster id changed: resync");
			eb_resync(eb);
			return;
		}
		if (r->header->revision > eb->newest)
			eb->newest = r->header->revision;
	}
	if (r->canceled) {
		if (r->compact_revision > 0)
			log_warnx("etcd: revision %" PRId64
			          " was compacted (now %" PRId64 "): resync",
			    eb->applied + 1, r->compact_revision);
		else
			log_warnx("etcd: the watch was cancelled (%s): resync",
			    r->cancel_reason);
		eb_resync(eb);
		return;
	}
	/* Events come in revision order; one Txn's share a revision. */
	for (i = 0; i < r->n_events; i = j) {
		int64_t rev = r->events[i]->kv->mod_revision;
		bool ours = false, meta = false, expired;
		uint64_t seq = 0;
		struct tx *x;

		for (j = i;
		     j < r->n_events && r->events[j]->kv->mod_revision == rev;
		     j++) {
			const Mvccpb__KeyValue *kv = r->events[j]->kv;

			if (kv->key.len == eb->metalen &&
			    memcmp(kv->key.data, eb->meta, eb->metalen) == 0) {
				meta = true;
				if (eb_meta_ours(eb, &kv->value, &seq))
					ours = true;
			}
		}
		/* Already in the cache: brought before, or an own change
		 * applied at its answer (its leases noted then). */
		if (rev <= eb->applied)
			continue;
		expired = eb_note_leases(eb, r->events + i, j - i, meta);
		eb->applied = rev;
		if (ours && eb_forget_unknown(eb, seq))
			ours = false;
		if (!ours) {
			/* After an own change of the batch in flight, the
			 * others wait to be applied with it. */
			others(eb, r->events + i, j - i, rev,
			    eb->b != NULL && eb->seen_own, expired);
			continue;
		}
		if ((x = eb_tx_of_seq(eb, seq)) == NULL)
			continue;
		x->seen = rev;
		eb->seen_own = true;
		/* Its answer was lost: the watch settles it. */
		if (x->state == TX_SETTLING)
			eb_tx_applied(x, rev);
	}
	/* A progress notification: everything up to it is delivered. Not
	 * the answer to a progress request (watch id -1): etcd 3.4.23
	 * sends that at once, ahead of events still on their way (etcd
	 * issue 15220); it only tells that etcd is there. */
	if (r->n_events == 0 && r->header != NULL && !r->created &&
	    r->watch_id != -1 && r->header->revision > eb->applied)
		eb->applied = r->header->revision;
	if (eb->b != NULL)
		eb_dispatch(eb);
	eb_barriers_soon(eb);
}

/* The watch is opened again after a wait that doubles while it keeps
 * ending without an answer (from 0.1 s to 2 s), jittered. */
static void
on_watch_ended(int status, const char *message, void *arg)
{
	struct etcd_backend *eb = arg;
	double wait =
	    0.1 * (double)(1u << (eb->rewatches < 4 ? eb->rewatches : 4));
	struct timeval tv;

	wait *= 0.5 + 0.5 * (double)random() / (double)RAND_MAX;
	tv.tv_sec = (time_t)wait;
	tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6);
	eb->watch = NULL;
	if (eb->rewatches++ == 0)
		log_info("%s: watching again from %" PRId64, message,
		    eb->applied + 1);
	else
		log_debug("%s: watching again from %" PRId64, message,
		    eb->applied + 1);
	evtimer_add(eb->rewatch, &tv);
}

static const struct etcd_watch_handlers watch_handlers = { on_watch,
	on_watch_ended };

/* The wall clock of the last word from etcd, 0 if none yet. */
static double
last_contact(const struct etcd_backend *eb)
{
	struct etcd_stats es;

	etcd_stats(eb->client, &es);
	return es.last_contact > eb->loaded_at ? es.last_contact
	                                       : eb->loaded_at;
}

static bool
etcd_readable(const struct backend *be, char *err, size_t errlen)
{
	const struct etcd_backend *eb = EB(be);
	double last, ago;

	if (eb->max_staleness <= 0)
		return true;
	if ((last = last_contact(eb)) == 0) {
		snprintf(err, errlen,
		    "etcd is unreachable and objd has not reached it since it "
		    "started: its copy may be older than --max-staleness "
		    "%g s allows",
		    eb->max_staleness);
		return false;
	}
	if ((ago = now_wall() - last) <= eb->max_staleness)
		return true;
	snprintf(err, errlen,
	    "etcd is unreachable: objd's copy is stale, %.0f s without "
	    "contact, past --max-staleness %g s",
	    ago, eb->max_staleness);
	return false;
}

static void
on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_backend *eb = arg;

	if (eb->watch != NULL &&
	    now_wall() - last_contact(eb) >= eb->max_staleness / 4)
		etcd_watch_progress(eb->watch);
}

static bool
etcd_outside_replacement(const struct backend *be)
{
	return false;
}

static enum backend_outside
etcd_check(struct backend *be)
{
	return BACKEND_UNCHANGED;
}

static void
etcd_same_state(struct backend *be)
{
}

/* etcd is the state: a rewrite of the cache's own state changes
 * nothing there. */
static enum backend_outside
etcd_rewrite(struct backend *be, const struct store *s, bool only_if_same,
    char *err, size_t errlen)
{
	if (be->hooks->snapshot_done != NULL)
		be->hooks->snapshot_done(true, NULL);
	return BACKEND_UNCHANGED;
}

static bool
etcd_compacting(const struct backend *be)
{
	return false;
}

static void
etcd_stats_op(const struct backend *be, struct backend_stats *st)
{
	memset(st, 0, sizeof(*st));
}

static void
etcd_close(struct backend *be)
{
	struct etcd_backend *eb = EB(be);

	eb_settle(be);
	eb_barriers_end(eb, "objd is stopping");
	event_free(eb->barrier_check);
	if (eb->heartbeat != NULL)
		event_free(eb->heartbeat);
	eb_fetch_cancel(eb);
	/* Held keys are left to their leases: they go HOLD_TTL after the
	 * last renewal, as when objd dies. */
	while (eb->holders != NULL) {
		struct holder_lease *h = eb->holders;

		eb->holders = h->next;
		if (h->call != NULL)
			etcd_call_cancel(h->call);
		free(h);
	}
	event_free(eb->renew);
	store_free(eb->leased);
	etcd_free(eb->client);
	event_free(eb->fetch_retry);
	event_free(eb->rewatch);
	event_free(eb->catch_up);
	free(eb->prefix);
	free(eb->kprefix);
	free(eb->meta);
	free((char *)eb->ecfg.endpoints);
	free((char *)eb->ecfg.user);
	free((char *)eb->ecfg.cacert);
	free((char *)eb->ecfg.cert);
	free((char *)eb->ecfg.key);
	if (eb->ecfg.password != NULL)
		explicit_bzero((char *)eb->ecfg.password,
		    strlen(eb->ecfg.password));
	free((char *)eb->ecfg.password);
	for (size_t i = 0; i < eb->nheld; i++) {
		for (size_t j = 0; j < eb->held[i].nchanges; j++)
			free(eb->held[i].changes[j].entry);
		free(eb->held[i].changes);
		free(eb->held[i].txns);
	}
	free(eb->held);
	free(eb->deps);
	free(eb);
}

/* Connections start with the first load, which objd makes before it
 * serves: nothing more to start. */
static bool
etcd_start(struct backend *be, char *err, size_t errlen)
{
	return true;
}

static const struct backend_ops etcd_ops = {
	.name = "etcd",
	.commits_wait = true,
	.start = etcd_start,
	.commit = eb_commit,
	.settle = eb_settle,
	.read_barrier = eb_read_barrier,
	.readable = etcd_readable,
	.load = eb_load,
	.outside_replacement = etcd_outside_replacement,
	.check = etcd_check,
	.same_state = etcd_same_state,
	.rewrite = etcd_rewrite,
	.reject = NULL,
	.compact = NULL,
	.compacting = etcd_compacting,
	.child_exited = NULL,
	.stats = etcd_stats_op,
	.close = etcd_close,
};

struct backend *
backend_etcd_open(struct event_base *base,
    const struct backend_etcd_config *cfg, const struct backend_hooks *hooks,
    char *err, size_t errlen)
{
	struct etcd_backend *eb = xcalloc(1, sizeof(*eb));
	const char *prefix = cfg->prefix ? cfg->prefix : BACKEND_ETCD_PREFIX;
	char host[64];

	if (*prefix == '\0') {
		snprintf(err, errlen, "the etcd prefix is empty");
		free(eb);
		return NULL;
	}
	eb->be.ops = &etcd_ops;
	eb->be.hooks = hooks;
	eb->base = base;
	etcd_config_defaults(&eb->ecfg);
	eb->ecfg.endpoints = cfg->endpoints;
	eb->ecfg.user = cfg->user;
	eb->ecfg.password = cfg->password;
	eb->ecfg.cacert = cfg->cacert;
	eb->ecfg.cert = cfg->cert;
	eb->ecfg.key = cfg->key;
	eb->ecfg.call_timeout =
	    cfg->write_timeout > 0 ? cfg->write_timeout : 5.0;
	if ((eb->client = etcd_new(base, &eb->ecfg, err, errlen)) == NULL) {
		free(eb);
		return NULL;
	}
	/* The private load loop makes clients of its own from ecfg. */
	eb->ecfg.endpoints = xstrdup(cfg->endpoints);
	eb->ecfg.user = cfg->user ? xstrdup(cfg->user) : NULL;
	eb->ecfg.password = cfg->password ? xstrdup(cfg->password) : NULL;
	eb->ecfg.cacert = cfg->cacert ? xstrdup(cfg->cacert) : NULL;
	eb->ecfg.cert = cfg->cert ? xstrdup(cfg->cert) : NULL;
	eb->ecfg.key = cfg->key ? xstrdup(cfg->key) : NULL;
	eb->prefix = xstrdup(prefix);
	eb->prefixlen = strlen(prefix);
	eb->kprefix = xasprintf("%sk/", prefix);
	eb->kprefixlen = strlen(eb->kprefix);
	eb->meta = xasprintf("%sm", prefix);
	eb->metalen = strlen(eb->meta);
	eb->max_ops =
	    cfg->max_txn_ops ? cfg->max_txn_ops : BACKEND_ETCD_MAX_TXN_OPS;
	eb->max_bytes = cfg->max_request_bytes ? cfg->max_request_bytes
	                                       : BACKEND_ETCD_MAX_REQUEST_BYTES;
	/* The writer id: this host and process, and a random part, so that
	 * a restarted objd never takes an old write for its own. */
	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "host");
	host[sizeof(host) - 1] = '\0';
	snprintf(eb->writer, sizeof(eb->writer), "%s/%ld/%08lx", host,
	    (long)getpid(), (unsigned long)random());
	for (char *p = eb->writer; *p; p++)
		if (*p == ' ')
			*p = '_';
	eb->rewatch = evtimer_new(base, on_rewatch, eb);
	eb->catch_up = evtimer_new(base, eb_on_catch_up, eb);
	eb->fetch_retry = evtimer_new(base, eb_on_fetch_retry, eb);
	eb->barrier_check = event_new(base, -1, 0, eb_on_barrier_check, eb);
	eb->renew = event_new(base, -1, EV_PERSIST, eb_on_renew, eb);
	if (eb->rewatch == NULL || eb->catch_up == NULL ||
	    eb->fetch_retry == NULL || eb->barrier_check == NULL ||
	    eb->renew == NULL || event_add(eb->renew, &renew_tv) == -1)
		fatalx("etcd: out of resources");
	eb->leased = store_new();
	eb->live_holders = cfg->live_holders;
	do
		eb->rng = store_random_seed(eb);
	while (eb->rng == 0);
	eb->seed = store_random_seed(&eb->seed);
	if ((eb->max_staleness = cfg->max_staleness) > 0) {
		double every = eb->max_staleness / 4;
		struct timeval tv = { (time_t)every,
			(suseconds_t)((every - (double)(time_t)every) * 1e6) };

		eb->heartbeat =
		    event_new(base, -1, EV_PERSIST, on_heartbeat, eb);
		if (eb->heartbeat == NULL ||
		    event_add(eb->heartbeat, &tv) == -1)
			fatalx("etcd: out of resources");
	}
	return &eb->be;
}

void
backend_etcd_resync(struct backend *be)
{
	eb_resync(EB(be));
}

void
backend_etcd_stats(const struct backend *be, struct backend_etcd_stats *st)
{
	const struct etcd_backend *eb = EB(be);
	struct etcd_stats es;

	etcd_stats(eb->client, &es);
	st->reachable = es.reachable;
	st->since = es.since;
	st->last_contact = es.last_contact;
	st->reconnects = es.reconnects;
	st->conns_open = es.conns_open;
	st->conns_opened = es.conns_opened;
	st->endpoint = es.endpoint;
	st->cache_revision = (uint64_t)eb->applied;
	st->etcd_revision = (uint64_t)eb->newest;
	st->cluster_id = eb->cluster_id;
	st->resyncs = eb->resyncs;
	st->txns_out = 0;
	for (size_t i = eb->first; i < eb->ntx; i++)
		st->txns_out += eb->tx[i].state == TX_OUT;
	st->prefix = eb->prefix;
}
