/* SPDX-License-Identifier: ISC */
/* etcd-commit.c: the etcd backend's commit path (backend-etcd.c): a
 * batch's Txns, each sent once the Txns before it that it rests on are
 * over, their answers, the settling of answers lost, and the batch's
 * end once the cache can take it */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backend-etcd.h"
#include "etcd-backend.h"
#include "etcd.h"
#include "log.h"
#include "objd.h"
#include "xmalloc.h"

static const struct timeval catch_up_tv = { (time_t)WATCH_CATCH_UP, 0 };

/* Whether a meta value is ours, and its seq. */
bool
eb_meta_ours(const struct etcd_backend *eb, const ProtobufCBinaryData *v,
    uint64_t *seq)
{
	size_t wl = strlen(eb->writer);
	char buf[32];

	if (v->len <= wl + 1 || v->len - wl - 1 >= sizeof(buf) ||
	    memcmp(v->data, eb->writer, wl) != 0 || v->data[wl] != ' ')
		return false;
	memcpy(buf, v->data + wl + 1, v->len - wl - 1);
	buf[v->len - wl - 1] = '\0';
	*seq = strtoull(buf, NULL, 10);
	return true;
}

/* Whether seq was answered unknown; forgets it. */
bool
eb_forget_unknown(struct etcd_backend *eb, uint64_t seq)
{
	for (size_t i = 0; i < eb->nunknown; i++) {
		if (eb->unknown[i] == seq) {
			eb->unknown[i] = eb->unknown[--eb->nunknown];
			return true;
		}
	}
	return false;
}

/* The Txn out is answered unknown: remembered, oldest dropped. */
static void
note_unknown(struct etcd_backend *eb, uint64_t seq)
{
	size_t max = sizeof(eb->unknown) / sizeof(eb->unknown[0]);

	if (eb->nunknown == max) {
		memmove(eb->unknown, eb->unknown + 1,
		    (max - 1) * sizeof(eb->unknown[0]));
		eb->nunknown--;
	}
	eb->unknown[eb->nunknown++] = seq;
}

static void tx_unknown(struct tx *x);

/* The batch is over: its statuses are set; the loop applies it, with
 * the changes of others the watch brought after its own, all in the
 * order of their revisions. */
static void
batch_done(struct etcd_backend *eb)
{
	struct backend_batch *b = eb->b, *held = eb->held;
	size_t nheld = eb->nheld;

	evtimer_del(eb->catch_up);
	eb->b = NULL;
	eb->waiting_watch = false;
	eb->seen_own = false;
	b->revision = b->base;
	for (size_t i = 0; i < b->ntxns; i++) {
		struct backend_txn *t = &b->txns[i];

		/* Not made, or nothing to make: the revision before. */
		if (!t->changes || t->status != BACKEND_OK)
			t->revision = i > 0 ? b->txns[i - 1].revision : b->base;
		if (t->revision > b->revision)
			b->revision = t->revision;
	}
	b->others = held;
	b->nothers = nheld;
	eb->held = NULL;
	eb->nheld = 0;
	free(eb->tx);
	free(eb->sent);
	free(eb->cidx);
	free(eb->pidx);
	free(eb->chash);
	free(eb->phash);
	eb->tx = NULL;
	eb->sent = NULL;
	eb->cidx = eb->pidx = NULL;
	eb->chash = eb->phash = NULL;
	eb->ntx = eb->nsent = 0;
	eb->be.hooks->committed(b);
	for (size_t i = 0; i < nheld; i++) {
		free(held[i].changes);
		free(held[i].txns);
	}
	free(held);
	eb_barriers_soon(eb);
	if (eb->resync_pending) {
		eb->resync_pending = false;
		eb_resync(eb);
	}
}

void
eb_on_catch_up(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_backend *eb = arg;

	if (eb->b == NULL)
		return;
	/* Lost answers the watch did not settle: unknown. */
	for (size_t i = eb->first; i < eb->ntx; i++)
		if (eb->tx[i].state == TX_SETTLING && eb->tx[i].settle_at >= 0)
			tx_unknown(&eb->tx[i]);
	if (!eb->waiting_watch) {
		eb_dispatch(eb);
		return;
	}
	/* The Txns applied, but the watch does not bring them: answer, and
	 * make the cache exact by a resync. */
	log_warnx("etcd: the watch did not bring objd's own write in %.0f s: "
	          "resync",
	    WATCH_CATCH_UP);
	eb->resync_pending = true;
	batch_done(eb);
}

/* Whether a txn in state s counts against MAX_OUT: a call of its out. */
static bool
tx_active(enum tx_state s)
{
	return s == TX_GRANTING || s == TX_OUT || s == TX_SETTLING;
}

void
eb_tx_state(struct tx *x, enum tx_state s)
{
	struct etcd_backend *eb = x->eb;

	eb->out -= tx_active(x->state);
	eb->out += tx_active(s);
	x->state = s;
}

/* The txn of the batch in flight that went out with seq, or NULL. */
struct tx *
eb_tx_of_seq(struct etcd_backend *eb, uint64_t seq)
{
	if (eb->b == NULL || seq < eb->first_seq ||
	    seq - eb->first_seq >= eb->nsent)
		return NULL;
	return eb->sent[seq - eb->first_seq];
}

/* A Txn of ours applied at rev: its changes take the revision. */
void
eb_tx_applied(struct tx *x, int64_t rev)
{
	struct etcd_backend *eb = x->eb;
	struct backend_batch *b = eb->b;

	if (x->call != NULL) {
		etcd_call_cancel(x->call);
		x->call = NULL;
	}
	b->txns[x->i].status = BACKEND_OK;
	b->txns[x->i].revision = (uint64_t)rev;
	for (size_t k = x->cfirst; k < x->cend; k++)
		b->changes[eb->cidx[k]].entry->revision = (uint64_t)rev;
	if (rev > eb->newest)
		eb->newest = rev;
	eb_tx_state(x, TX_DONE);
}

/* x ends with st, not made; a failure (not a conflict, not a limit)
 * fails the txns not sent yet, as etcd is failing them too. why is the
 * batch's error, if it has none yet, and x's own for a limit. */
void
eb_tx_ends(struct tx *x, enum backend_status st, const char *why)
{
	struct backend_batch *b = x->eb->b;
	struct backend_txn *t = &b->txns[x->i];

	if (x->call != NULL) {
		etcd_call_cancel(x->call);
		x->call = NULL;
	}
	t->status = st;
	if (why != NULL && b->error == NULL)
		b->error = xstrdup(why);
	if (st == BACKEND_INVALID && why != NULL) {
		free(t->error);
		t->error = xstrdup(why);
	}
	if (st == BACKEND_FAILED || st == BACKEND_UNKNOWN)
		x->eb->failed_rest = true;
	eb_tx_state(x, TX_DONE);
}

/* x's answer was lost and the watch did not bring it: unknown. If the
 * watch brings it later, the cache takes it as a change of others'. */
static void
tx_unknown(struct tx *x)
{
	note_unknown(x->eb, x->seq);
	eb_tx_ends(x, BACKEND_UNKNOWN,
	    "etcd's answer was lost and the write's outcome is unknown");
}

/* The quorum read of a lost answer's settling: the meta key in etcd
 * now. Still x's: applied. Else its revision is no lower than x's if x
 * was applied by then: once the watch has brought everything up to it
 * (batch_check), x is applied if the watch brought its seq, and unknown
 * if not (it may still be applied later; never guessed). */
static void
on_settle_read(const struct etcd_reply *r, void *arg)
{
	struct tx *x = arg;
	const Etcdserverpb__RangeResponse *rr =
	    (const Etcdserverpb__RangeResponse *)r->msg;
	uint64_t seq;

	x->call = NULL;
	if (x->seen != 0)
		eb_tx_applied(x, x->seen);
	else if (r->status != ETCD_OK)
		tx_unknown(x);
	else if (rr->n_kvs == 1 &&
	    eb_meta_ours(x->eb, &rr->kvs[0]->value, &seq) && seq == x->seq)
		/* The meta key is still as x left it: applied there. */
		eb_tx_applied(x, rr->kvs[0]->mod_revision);
	else
		x->settle_at = rr->n_kvs == 1 ? rr->kvs[0]->mod_revision : 0;
	eb_dispatch(x->eb);
}

static void
on_txn(const struct etcd_reply *r, void *arg)
{
	struct tx *x = arg;
	struct etcd_backend *eb = x->eb;
	const Etcdserverpb__TxnResponse *tr =
	    (const Etcdserverpb__TxnResponse *)r->msg;
	char why[600];

	x->call = NULL;
	if (r->status == ETCD_OK) {
		if (tr->header != NULL && tr->header->cluster_id != 0 &&
		    eb->cluster_id != 0 &&
		    tr->header->cluster_id != eb->cluster_id)
			eb->resync_pending = true;
		if (tr->succeeded)
			eb_tx_applied(x, tr->header->revision);
		else
			eb_tx_ends(x, BACKEND_CONFLICT, NULL);
	} else if (r->maybe_applied) {
		/* Settled through a quorum read, then the watch. */
		Etcdserverpb__RangeRequest req =
		    ETCDSERVERPB__RANGE_REQUEST__INIT;

		req.key.data = (uint8_t *)eb->meta;
		req.key.len = eb->metalen;
		log_warnx("etcd: %s: settling the write through the watch",
		    r->message);
		eb_tx_state(x, TX_SETTLING);
		x->settle_at = -1;
		if (x->seen != 0)
			eb_tx_applied(x, x->seen);
		else
			x->call =
			    etcd_range(eb->client, &req, on_settle_read, x);
	} else if (r->status == ETCD_INVALID_ARGUMENT &&
	    strstr(r->message, "too many operations") != NULL) {
		/* etcd's limits refuse that request alone (INVALID);
		 * anything else (authentication, permission, no quorum) is
		 * etcd failing it, and the ones not sent. */
		snprintf(why, sizeof(why),
		    "the request has more operations than etcd's "
		    "--max-txn-ops allows: %s",
		    r->message);
		eb_tx_ends(x, BACKEND_INVALID, why);
	} else if (r->status == ETCD_INVALID_ARGUMENT &&
	    strstr(r->message, "too large") != NULL) {
		snprintf(why, sizeof(why),
		    "the request is larger than etcd's "
		    "--max-request-bytes allows: %s",
		    r->message);
		eb_tx_ends(x, BACKEND_INVALID, why);
	} else {
		snprintf(why, sizeof(why), "etcd refused the write: %s",
		    r->message);
		eb_tx_ends(x, BACKEND_FAILED, why);
	}
	eb_dispatch(eb);
}

static void
set_compare(Etcdserverpb__Compare *c, const struct etcd_backend *eb,
    const struct backend_compare *bc, uint8_t **keybuf)
{
	etcdserverpb__compare__init(c);
	if (bc->kind == BACKEND_CMP_OBJECT_REVISION) {
		c->key.data = (uint8_t *)eb->meta;
		c->key.len = eb->metalen;
	} else {
		*keybuf = xmalloc(eb->kprefixlen + bc->keylen);
		memcpy(*keybuf, eb->kprefix, eb->kprefixlen);
		memcpy(*keybuf + eb->kprefixlen, bc->key, bc->keylen);
		c->key.data = *keybuf;
		c->key.len = eb->kprefixlen + bc->keylen;
	}
	switch (bc->kind) {
	case BACKEND_CMP_KEY_REVISION:
	case BACKEND_CMP_OBJECT_REVISION:
		c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
		c->result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
		c->target_union_case =
		    ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
		c->mod_revision = (int64_t)bc->revision;
		break;
	case BACKEND_CMP_KEY_ABSENT:
	case BACKEND_CMP_KEY_PRESENT:
		c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
		c->result = bc->kind == BACKEND_CMP_KEY_ABSENT
		    ? ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL
		    : ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER;
		c->target_union_case =
		    ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
		c->create_revision = 0;
		break;
	}
}

/* Sends x's Txn, or ends x where it cannot go (past a limit), or
 * starts its lease's grant (whose answer sends it). */
static void
tx_send(struct tx *x)
{
	struct etcd_backend *eb = x->eb;
	struct backend_batch *b = eb->b;
	Etcdserverpb__TxnRequest req = ETCDSERVERPB__TXN_REQUEST__INIT;
	Etcdserverpb__RequestOp *ops, **opp;
	Etcdserverpb__PutRequest *puts;
	Etcdserverpb__DeleteRangeRequest *dels;
	Etcdserverpb__Compare *cmps, **cmpp;
	uint8_t **keys;
	char metaval[128];
	size_t n = x->cend - x->cfirst, ncmp = x->pend - x->pfirst, nk = 0, k,
	       size;
	int64_t lease;

	if (n + 1 > eb->max_ops || ncmp > eb->max_ops) {
		char why[256];

		snprintf(why, sizeof(why),
		    "the request has %zu operations with the meta key, over "
		    "etcd's limit of %zu per transaction (etcd's "
		    "--max-txn-ops); it is not split",
		    n + 1, eb->max_ops);
		eb_tx_ends(x, BACKEND_INVALID, why);
		return;
	}
	if ((lease = eb_lease_for(eb, x)) < 0)
		return;
	ops = xcalloc(n + 1, sizeof(*ops));
	opp = xcalloc(n + 1, sizeof(*opp));
	puts = xcalloc(n + 1, sizeof(*puts));
	dels = xcalloc(n + 1, sizeof(*dels));
	keys = xcalloc(n + ncmp + 1, sizeof(*keys));
	cmps = xcalloc(ncmp + 1, sizeof(*cmps));
	cmpp = xcalloc(ncmp + 1, sizeof(*cmpp));
	for (k = x->cfirst; k < x->cend; k++) {
		const struct backend_change *c = &b->changes[eb->cidx[k]];
		const struct store_entry *e = c->entry;
		size_t o = req.n_success;
		uint8_t *key;

		key = keys[nk++] = xmalloc(eb->kprefixlen + e->keylen);
		memcpy(key, eb->kprefix, eb->kprefixlen);
		memcpy(key + eb->kprefixlen, STORE_ENTRY_KEY(e), e->keylen);
		etcdserverpb__request_op__init(&ops[o]);
		if (c->delete) {
			etcdserverpb__delete_range_request__init(&dels[o]);
			dels[o].key.data = key;
			dels[o].key.len = eb->kprefixlen + e->keylen;
			ops[o].request_case =
			    ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
			ops[o].request_delete_range = &dels[o];
		} else {
			etcdserverpb__put_request__init(&puts[o]);
			puts[o].key.data = key;
			puts[o].key.len = eb->kprefixlen + e->keylen;
			puts[o].value.data = (uint8_t *)STORE_ENTRY_VALUE(e);
			puts[o].value.len = e->vallen;
			puts[o].lease = lease;
			ops[o].request_case =
			    ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
			ops[o].request_put = &puts[o];
		}
		opp[o] = &ops[o];
		req.n_success++;
	}
	x->seq = eb->seq + 1;
	snprintf(metaval, sizeof(metaval), "%s %" PRIu64, eb->writer, x->seq);
	etcdserverpb__put_request__init(&puts[n]);
	puts[n].key.data = (uint8_t *)eb->meta;
	puts[n].key.len = eb->metalen;
	puts[n].value.data = (uint8_t *)metaval;
	puts[n].value.len = strlen(metaval);
	etcdserverpb__request_op__init(&ops[n]);
	ops[n].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
	ops[n].request_put = &puts[n];
	opp[n] = &ops[n];
	req.n_success++;
	req.success = opp;
	for (k = x->pfirst; k < x->pend; k++) {
		set_compare(&cmps[req.n_compare], eb, &b->compares[eb->pidx[k]],
		    &keys[nk]);
		if (keys[nk] != NULL)
			nk++;
		cmpp[req.n_compare] = &cmps[req.n_compare];
		req.n_compare++;
	}
	req.compare = cmpp;
	size = protobuf_c_message_get_packed_size(&req.base);
	if (size > eb->max_bytes) {
		char why[256];

		snprintf(why, sizeof(why),
		    "the request is %zu bytes, over etcd's limit of %zu "
		    "(etcd's --max-request-bytes); it is not split",
		    size, eb->max_bytes);
		x->seq = 0;
		eb_tx_ends(x, BACKEND_INVALID, why);
	} else {
		eb->seq = x->seq;
		eb->sent[eb->nsent++] = x;
		x->used_lease = lease;
		eb_tx_state(x, TX_OUT);
		x->call = etcd_txn(eb->client, &req, on_txn, x);
	}
	for (k = 0; k < nk; k++)
		free(keys[k]);
	free(keys);
	free(ops);
	free(opp);
	free(puts);
	free(dels);
	free(cmps);
	free(cmpp);
}

/* The keys (and origins) of the txns not over that come before the
 * one a pass looks at: an open-addressing set of hashes, each slot
 * valid in the pass that stamped it, so that a pass need not clear it.
 * Equal hashes of different keys only keep two txns in order. */
#define DEP_WRITES 1u
#define DEP_COMPARES 2u
#define DEP_ORIGIN 4u

static unsigned
dep_get(const struct etcd_backend *eb, uint64_t h)
{
	size_t mask = eb->ndeps - 1;

	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		const struct dep *d = &eb->deps[i];

		if (d->pass != eb->pass)
			return 0;
		if (d->hash == h)
			return d->what;
	}
}

static void
dep_add(struct etcd_backend *eb, uint64_t h, unsigned what)
{
	size_t mask = eb->ndeps - 1;

	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		struct dep *d = &eb->deps[i];

		if (d->pass != eb->pass) {
			*d = (struct dep){ .hash = h,
				.what = what,
				.pass = eb->pass };
			return;
		}
		if (d->hash == h) {
			d->what |= what;
			return;
		}
	}
}

/* An origin's hash, apart from keys' (which store_key_hash spreads). */
static uint64_t
origin_hash(uint32_t origin)
{
	return ((uint64_t)origin + 1) * 0x9e3779b97f4a7c15ULL;
}

/* Whether x may go out now, with the txns not over before it in the
 * set: none is of its origin, writes a key x writes or compares, or
 * compares a key x writes; and x does not compare the object's
 * revision (every Txn writes the meta key). */
static bool
tx_may_go(const struct etcd_backend *eb, const struct tx *x)
{
	const struct backend_batch *b = eb->b;

	if (dep_get(eb, origin_hash(b->txns[x->i].origin)) & DEP_ORIGIN)
		return false;
	for (size_t k = x->cfirst; k < x->cend; k++)
		if (dep_get(eb, eb->chash[eb->cidx[k]]) &
		    (DEP_WRITES | DEP_COMPARES))
			return false;
	for (size_t k = x->pfirst; k < x->pend; k++) {
		const struct backend_compare *c = &b->compares[eb->pidx[k]];

		if (c->kind == BACKEND_CMP_OBJECT_REVISION ||
		    dep_get(eb, eb->phash[eb->pidx[k]]) & DEP_WRITES)
			return false;
	}
	return true;
}

static void
tx_deps_add(struct etcd_backend *eb, const struct tx *x)
{
	dep_add(eb, origin_hash(eb->b->txns[x->i].origin), DEP_ORIGIN);
	for (size_t k = x->cfirst; k < x->cend; k++)
		dep_add(eb, eb->chash[eb->cidx[k]], DEP_WRITES);
	for (size_t k = x->pfirst; k < x->pend; k++)
		if (eb->b->compares[eb->pidx[k]].kind !=
		    BACKEND_CMP_OBJECT_REVISION)
			dep_add(eb, eb->phash[eb->pidx[k]], DEP_COMPARES);
}

/* One pass over the txns not over, in order: sends each that may go,
 * and fails those not sent once etcd failed one. */
static void
tx_pass(struct etcd_backend *eb)
{
	bool before = false; /* a txn not over comes before */

	if (++eb->pass == 0) {
		memset(eb->deps, 0, eb->ndeps * sizeof(*eb->deps));
		eb->pass = 1;
	}
	for (size_t i = eb->first; i < eb->ntx; i++) {
		struct tx *x = &eb->tx[i];

		if (x->state == TX_WAITING && eb->failed_rest)
			eb_tx_ends(x, BACKEND_FAILED, NULL);
		else if (x->state == TX_WAITING && eb->out < MAX_OUT &&
		    (!before || tx_may_go(eb, x)))
			tx_send(x);
		if (x->state == TX_DONE) {
			if (!before)
				eb->first = i + 1;
			continue;
		}
		before = true;
		tx_deps_add(eb, x);
	}
}

/* Whether the cache can take the batch's own changes at once, without
 * the watch: every revision from the one after the cache's up to the
 * batch's newest is a Txn of the batch, so that no change of others'
 * can lie between (etcd gives every change its own revision). */
static bool
batch_next_to_cache(const struct etcd_backend *eb, int64_t top)
{
	const struct backend_batch *b = eb->b;
	int64_t n = 0;

	for (size_t i = 0; i < b->ntxns; i++)
		if (b->txns[i].changes && b->txns[i].status == BACKEND_OK &&
		    (int64_t)b->txns[i].revision > eb->applied)
			n++;
	return n == top - eb->applied;
}

/* The batch's own changes are in the cache without the watch: their
 * leases noted as the watch would note them, which will skip them. */
static void
batch_apply_now(struct etcd_backend *eb, int64_t top)
{
	const struct backend_batch *b = eb->b;

	for (size_t i = 0; i < eb->ntx; i++) {
		const struct tx *x = &eb->tx[i];

		if (!b->txns[i].changes || b->txns[i].status != BACKEND_OK)
			continue;
		for (size_t k = x->cfirst; k < x->cend; k++) {
			const struct backend_change *c =
			    &b->changes[eb->cidx[k]];

			eb_note_lease(eb, STORE_ENTRY_KEY(c->entry),
			    c->entry->keylen, c->delete ? 0 : x->used_lease);
		}
	}
	eb->applied = top;
}

static void
catch_up_arm(struct etcd_backend *eb)
{
	if (!evtimer_pending(eb->catch_up, NULL))
		evtimer_add(eb->catch_up, &catch_up_tv);
}

/* Ends the batch once every txn is over and the cache can take it. */
static void
batch_check(struct etcd_backend *eb)
{
	struct backend_batch *b = eb->b;
	int64_t top = 0;
	bool waits = false;

	for (size_t i = eb->first; i < eb->ntx; i++) {
		struct tx *x = &eb->tx[i];

		if (x->state == TX_SETTLING && x->settle_at >= 0) {
			if (eb->applied >= x->settle_at)
				tx_unknown(x);
			else
				waits = true;
		}
	}
	if (eb->out > 0 || eb->first < eb->ntx) {
		/* Settles that failed the txns not sent: a pass ends them. */
		if (eb->failed_rest && eb->out == 0) {
			tx_pass(eb);
			batch_check(eb);
			return;
		}
		if (waits)
			catch_up_arm(eb);
		return;
	}
	for (size_t i = 0; i < b->ntxns; i++)
		if (b->txns[i].changes && b->txns[i].status == BACKEND_OK &&
		    (int64_t)b->txns[i].revision > top)
			top = (int64_t)b->txns[i].revision;
	if (top == 0 || top <= eb->applied) {
		batch_done(eb);
		return;
	}
	/* Nothing watched yet (the first read of etcd is still under
	 * way): that read brings these changes too. */
	if (!eb->loaded) {
		eb->resync_pending = true;
		batch_done(eb);
		return;
	}
	if (batch_next_to_cache(eb, top)) {
		batch_apply_now(eb, top);
		batch_done(eb);
		return;
	}
	/* Others' changes may lie between: the watch brings them, and the
	 * batch's own, in revision order. A watch that ended is opened
	 * again from where it was, and brings them then. */
	eb->waiting_watch = true;
	catch_up_arm(eb);
}

/* Sends what may go, and ends the batch when it is over. Reentered
 * from a callback of a pass (none is called from inside a call), it
 * only asks for another pass. */
void
eb_dispatch(struct etcd_backend *eb)
{
	if (eb->b == NULL)
		return;
	if (eb->dispatching) {
		eb->again = true;
		return;
	}
	eb->dispatching = true;
	do {
		eb->again = false;
		tx_pass(eb);
	} while (eb->again);
	eb->dispatching = false;
	batch_check(eb);
}

/* Lists the changes (or compares) of each txn: idx gets their indices
 * grouped by txn, in order, and the txns their ranges in it. */
static void
group_by_txn(struct etcd_backend *eb, size_t n,
    size_t (*txn_of)(const void *, size_t), const void *arr, size_t *idx,
    bool compares)
{
	size_t *count = xcalloc(eb->ntx + 1, sizeof(*count));

	for (size_t i = 0; i < n; i++)
		count[txn_of(arr, i) + 1]++;
	for (size_t t = 0; t < eb->ntx; t++) {
		count[t + 1] += count[t];
		if (compares) {
			eb->tx[t].pfirst = count[t];
			eb->tx[t].pend = count[t + 1];
		} else {
			eb->tx[t].cfirst = count[t];
			eb->tx[t].cend = count[t + 1];
		}
	}
	for (size_t i = 0; i < n; i++)
		idx[count[txn_of(arr, i)]++] = i;
	free(count);
}

static size_t
change_txn(const void *arr, size_t i)
{
	return ((const struct backend_change *)arr)[i].txn;
}

static size_t
compare_txn(const void *arr, size_t i)
{
	return ((const struct backend_compare *)arr)[i].txn;
}

void
eb_commit(struct backend *be, struct backend_batch *b)
{
	struct etcd_backend *eb = EB(be);
	size_t nkeys = b->nchanges + b->ncompares + b->ntxns, nd = 16;

	eb->b = b;
	eb->ntx = b->ntxns;
	eb->tx = xcalloc(b->ntxns + 1, sizeof(*eb->tx));
	eb->sent = xcalloc(b->ntxns + 1, sizeof(*eb->sent));
	eb->cidx = xcalloc(b->nchanges + 1, sizeof(*eb->cidx));
	eb->pidx = xcalloc(b->ncompares + 1, sizeof(*eb->pidx));
	eb->chash = xcalloc(b->nchanges + 1, sizeof(*eb->chash));
	eb->phash = xcalloc(b->ncompares + 1, sizeof(*eb->phash));
	while (nd < 2 * nkeys)
		nd *= 2;
	if (nd > eb->ndeps) {
		free(eb->deps);
		eb->deps = xcalloc(nd, sizeof(*eb->deps));
		eb->ndeps = nd;
		eb->pass = 0;
	}
	for (size_t i = 0; i < b->ntxns; i++) {
		eb->tx[i].eb = eb;
		eb->tx[i].i = i;
		if (b->txns[i].changes)
			eb->tx[i].state = TX_WAITING;
		else {
			/* Answered in its place, with the revision before. */
			eb->tx[i].state = TX_DONE;
			b->txns[i].status = BACKEND_OK;
		}
	}
	group_by_txn(eb, b->nchanges, change_txn, b->changes, eb->cidx, false);
	group_by_txn(eb, b->ncompares, compare_txn, b->compares, eb->pidx,
	    true);
	for (size_t i = 0; i < b->nchanges; i++)
		eb->chash[i] = store_key_hash(eb->seed,
		    STORE_ENTRY_KEY(b->changes[i].entry),
		    b->changes[i].entry->keylen);
	for (size_t i = 0; i < b->ncompares; i++)
		eb->phash[i] = b->compares[i].key == NULL
		    ? 0
		    : store_key_hash(eb->seed, b->compares[i].key,
		          b->compares[i].keylen);
	eb->first = 0;
	eb->out = 0;
	eb->nsent = 0;
	eb->first_seq = eb->seq + 1;
	eb->seen_own = false;
	eb->waiting_watch = false;
	eb->failed_rest = false;
	eb_dispatch(eb);
}

void
eb_settle(struct backend *be)
{
	struct etcd_backend *eb = EB(be);

	/* The batch's answers come through this loop: run it (the loop's
	 * own base, from outside its dispatch: objd stopping). */
	while (eb->b != NULL)
		if (event_base_loop(eb->base, EVLOOP_ONCE) == -1)
			break;
}
