/* SPDX-License-Identifier: ISC */
/* etcd-lease.c: the etcd backend's leases (backend-etcd.c): the lease
 * ids that tell an expiry from a holder's end, each key's lease as
 * etcd told it, the grant a txn's puts wait for, and the holders'
 * leases, renewed while their connections last and revoked after */
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

/* A new lease id, positive (etcd's ids are int64): a holder's is odd
 * and random, so that it clashes with no other host's; an expiring
 * set's is even and carries its deadline (wall clock, ms) above
 * LEASE_DEADLINE_SHIFT bits, so that every host knows the time left.
 * Two expiring sets may draw the same id only with the same deadline:
 * sharing that lease changes nothing. */
#define LEASE_DEADLINE_SHIFT 21
static int64_t
lease_id(struct etcd_backend *eb, bool held, uint64_t deadline)
{
	uint64_t x;

	/* xorshift64*: ids need only be unlikely to clash. */
	eb->rng ^= eb->rng >> 12;
	eb->rng ^= eb->rng << 25;
	eb->rng ^= eb->rng >> 27;
	x = eb->rng * 0x2545f4914f6cdd1dULL;
	if (held)
		return (int64_t)(((x >> 2) | (1ULL << 32)) | LEASE_HELD);
	x &= ((1ULL << LEASE_DEADLINE_SHIFT) - 1) & ~1ULL;
	/* Deadlines fit 42 bits until the year 2109. */
	deadline &= (1ULL << (63 - LEASE_DEADLINE_SHIFT)) - 1;
	return (int64_t)((deadline << LEASE_DEADLINE_SHIFT) | x);
}

/* The deadline and holder a key put with lease id has, as a txn's. */
void
eb_lease_meaning(int64_t id, uint64_t *deadline, uint64_t *holder)
{
	*deadline = *holder = 0;
	if (id <= 0)
		return;
	if (id & LEASE_HELD)
		*holder = (uint64_t)id;
	else
		*deadline = (uint64_t)id >> LEASE_DEADLINE_SHIFT;
}

/* key's lease as etcd last told (0: none). */
static int64_t
key_lease(const struct etcd_backend *eb, const char *key, size_t keylen)
{
	const struct store_entry *e = store_get(eb->leased, key, keylen);
	int64_t id = 0;

	if (e != NULL)
		memcpy(&id, STORE_ENTRY_VALUE(e), sizeof(id));
	return id;
}

void
eb_note_lease(struct etcd_backend *eb, const char *key, size_t keylen,
    int64_t id)
{
	if (id == 0)
		free(store_remove(eb->leased, key, keylen));
	else
		free(store_put(eb->leased,
		    store_entry_new(key, keylen, (const uint8_t *)&id,
		        sizeof(id), 0)));
}

/* The events of one revision: each key's lease noted. The result says
 * whether they are etcd's deletion of keys whose lease ended (no meta
 * key: no objd wrote them) and of an expiring key's lease (an expiry, as
 * watchers see it), rather than a holder's. */
bool
eb_note_leases(struct etcd_backend *eb, Mvccpb__Event **evs, size_t n,
    bool meta)
{
	bool expired = false;

	for (size_t i = 0; i < n; i++) {
		const Mvccpb__KeyValue *kv = evs[i]->kv;
		const char *key;
		size_t keylen;

		if ((key = eb_objd_key(eb, &kv->key, &keylen)) == NULL)
			continue;
		if (evs[i]->type == MVCCPB__EVENT__EVENT_TYPE__DELETE) {
			int64_t id = key_lease(eb, key, keylen);

			if (!meta && id != 0 && (id & LEASE_HELD) == 0)
				expired = true;
			eb_note_lease(eb, key, keylen, 0);
		} else
			eb_note_lease(eb, key, keylen, kv->lease);
	}
	return expired;
}

static void
on_grant(const struct etcd_reply *r, void *arg)
{
	struct tx *x = arg;
	struct etcd_backend *eb = x->eb;
	char why[600];

	x->call = NULL;
	eb->grant_tx = NULL;
	/* A grant retried after a lost answer finds its own id taken. */
	if (r->status != ETCD_OK &&
	    !(r->status == ETCD_FAILED_PRECONDITION && r->message != NULL &&
	        strstr(r->message, "already exists") != NULL)) {
		snprintf(why, sizeof(why),
		    "etcd refused the lease of the keys: %s", r->message);
		eb->granting = NULL;
		eb_tx_ends(x, BACKEND_FAILED, why);
		eb_dispatch(eb);
		return;
	}
	if (eb->granting != NULL)
		eb->granting->id = eb->grant_id;
	else
		x->lease = eb->grant_id;
	eb->granting = NULL;
	eb_tx_state(x, TX_WAITING);
	eb_dispatch(eb);
}

/* The lease x's puts carry: 0 for none; -1 while a grant is out (x's
 * own, whose answer sends x; or another's, one grant at a time). A
 * holder's lease is made at its first held key and lasts until the
 * holder goes; an expiring set's is made for its txn alone, with the
 * time left as its TTL. */
int64_t
eb_lease_for(struct etcd_backend *eb, struct tx *x)
{
	const struct backend_txn *t = &eb->b->txns[x->i];
	struct holder_lease *h = NULL;
	int64_t ttl = HOLD_TTL;

	if (t->holder != 0) {
		for (h = eb->holders; h != NULL; h = h->next)
			if (h->holder == t->holder && !h->revoking)
				break;
		if (h != NULL && h->id != 0)
			return h->id;
		if (eb->grant_tx != NULL)
			return -1;
		if (h == NULL) {
			h = xcalloc(1, sizeof(*h));
			h->holder = t->holder;
			h->eb = eb;
			h->next = eb->holders;
			eb->holders = h;
		}
	} else if (t->deadline == 0)
		return 0;
	else if (x->lease != 0)
		return x->lease;
	else if (eb->grant_tx != NULL)
		return -1;
	else {
		/* The deadlines' clock (expire.c's): the wall clock, ms. */
		uint64_t now = (uint64_t)(now_wall() * 1000.0);

		ttl = t->deadline > now
		    ? (int64_t)((t->deadline - now + 999) / 1000)
		    : 1;
	}
	eb->granting = h;
	eb->grant_tx = x;
	eb->grant_id = lease_id(eb, h != NULL, t->deadline);
	eb_tx_state(x, TX_GRANTING);
	x->call = etcd_lease_grant(eb->client, eb->grant_id, ttl, on_grant, x);
	return -1;
}

static void
on_revoked(const struct etcd_reply *r, void *arg)
{
	struct holder_lease *h = arg, **pp;
	struct etcd_backend *eb = h->eb;

	h->call = NULL;
	if (r->status != ETCD_OK &&
	    (r->message == NULL || strstr(r->message, "not found") == NULL))
		log_warnx("etcd: revoking the lease of held keys: %s; they "
		          "go once it runs out (%d s)",
		    r->message, HOLD_TTL);
	for (pp = &eb->holders; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
	free(h);
}

static void
on_renewed(const struct etcd_reply *r, void *arg)
{
	struct holder_lease *h = arg;
	const Etcdserverpb__LeaseKeepAliveResponse *kr =
	    (const Etcdserverpb__LeaseKeepAliveResponse *)r->msg;

	h->call = NULL;
	if (r->status != ETCD_OK) {
		log_warnx("etcd: renewing the lease of held keys: %s",
		    r->message);
		return;
	}
	if (kr->ttl <= 0) {
		/* Out of reach past its TTL: etcd deleted the keys. A hold
		 * of the same holder gets a new lease. */
		log_warnx("etcd: the lease of held keys ran out: etcd "
		          "deleted them");
		h->id = 0;
	}
}

struct live_holders {
	uint64_t *holders;
	size_t n, cap;
};

static void
live_one(uint64_t holder, void *arg)
{
	struct live_holders *lh = arg;

	if (lh->n == lh->cap) {
		lh->cap = lh->cap ? lh->cap * 2 : 16;
		lh->holders =
		    xreallocarray(lh->holders, lh->cap, sizeof(uint64_t));
	}
	lh->holders[lh->n++] = holder;
}

/* Revokes the leases of the holders that are no connection any more:
 * etcd deletes their keys, on every host at once. */
static void
holders_prune(struct etcd_backend *eb)
{
	struct live_holders lh = { 0 };
	struct holder_lease *h, **pp;

	if (eb->holders == NULL || eb->live_holders == NULL)
		return;
	eb->live_holders(live_one, &lh);
	for (pp = &eb->holders; (h = *pp) != NULL;) {
		bool alive = h == eb->granting || h->revoking;

		for (size_t i = 0; i < lh.n && !alive; i++)
			alive = lh.holders[i] == h->holder;
		if (alive) {
			pp = &h->next;
			continue;
		}
		if (h->id == 0) {
			*pp = h->next;
			free(h);
			continue;
		}
		if (h->call != NULL)
			etcd_call_cancel(h->call);
		h->revoking = true;
		h->call = etcd_lease_revoke(eb->client, h->id, on_revoked, h);
		pp = &h->next;
	}
	free(lh.holders);
}

void
eb_on_renew(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_backend *eb = arg;

	(void)fd;
	(void)what;
	holders_prune(eb);
	for (struct holder_lease *h = eb->holders; h != NULL; h = h->next)
		if (h->id != 0 && h->call == NULL && !h->revoking)
			h->call = etcd_lease_keepalive(eb->client, h->id,
			    on_renewed, h);
}

void
backend_etcd_holders_changed(struct backend *be)
{
	holders_prune(EB(be));
}
