/* SPDX-License-Identifier: ISC */
/* etcd-call.c: etcd's unary calls (Range, Txn, the lease calls,
 * Authenticate) over etcd-client.c's transfers: an attempt per endpoint,
 * failover and backoff, the token, and the answer handed to the caller.
 * etcd-client.c owns libcurl and the connections; etcd-watch.c the
 * watch. */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "etcd-internal.h"
#include "log.h"
#include "xmalloc.h"

/* A timer for "from the loop, at once". */
static const struct timeval zero = { 0, 0 };

static struct etcd_call *call_new(struct etcd *e, const char *method,
    const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
    bool idempotent, etcd_reply_cb cb, void *arg);

void
etcd_token_refused(struct etcd *e)
{
	free(e->token);
	e->token = NULL;
}

/* The token is there, or Authenticate failed: the transfers that waited
 * start, or fail with why. */
static void
on_auth(const struct etcd_reply *r, void *arg)
{
	struct etcd *e = arg;
	const Etcdserverpb__AuthenticateResponse *ar =
	    (const Etcdserverpb__AuthenticateResponse *)r->msg;
	struct etcd_xfer *x;

	e->authing = false;
	free(e->auth_error);
	e->auth_error = NULL;
	if (r->status == ETCD_OK && ar->token != NULL && *ar->token != '\0')
		e->token = xstrdup(ar->token);
	else {
		e->auth_error = xasprintf("etcd authentication as %s: %s",
		    e->user, r->message ? r->message : "no token");
		log_warnx("%s", e->auth_error);
	}
	TAILQ_FOREACH (x, &e->xfers, entry) {
		if (x->parked && !x->dead) {
			x->parked = false;
			evtimer_add(x->retry, &zero);
		}
	}
}

void
etcd_auth_start(struct etcd *e)
{
	Etcdserverpb__AuthenticateRequest req =
	    ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
	struct etcd_xfer *x;

	req.name = e->user;
	req.password = e->password;
	e->authing = true;
	x = (struct etcd_xfer *)call_new(e, "/etcdserverpb.Auth/Authenticate",
	    &req.base, &etcdserverpb__authenticate_response__descriptor, true,
	    on_auth, e);
	x->is_auth = true;
}

static void call_attempt(evutil_socket_t fd, short what, void *arg);

static void
call_deliver(struct etcd_xfer *x, int status, const char *message,
    bool maybe_applied, ProtobufCMessage *msg)
{
	struct etcd_reply r = {
		.status = status,
		.message = message,
		.maybe_applied = maybe_applied,
		.msg = msg,
		.endpoint = x->e->endpoints[x->endpoint],
	};

	x->dead = true;
	etcd_xfer_stop(x);
	x->cb(&r, x->arg);
	if (msg != NULL)
		protobuf_c_message_free_unpacked(msg, NULL);
}

/* The attempt is over without an answer: another, or the end. sent says
 * whether the request may have reached etcd. */
static void
call_retry(struct etcd_xfer *x, const char *why, bool sent)
{
	double wait = etcd_failed(x->e, x->endpoint, why);
	struct timeval tv;

	etcd_xfer_stop(x);
	/* A write that no member took after a whole round fails at once:
	 * objd answers it, rather than hold it while etcd is down. */
	if ((sent && !x->idempotent) || etcd_mono() + wait >= x->deadline ||
	    (!x->idempotent && x->e->fails >= x->e->nendpoints)) {
		char *msg = xasprintf("etcd unreachable: %s: %s",
		    x->e->endpoints[x->endpoint], why);

		call_deliver(x, ETCD_UNAVAILABLE, msg, sent && !x->idempotent,
		    NULL);
		free(msg);
		return;
	}
	tv = etcd_tv(wait);
	evtimer_add(x->retry, &tv);
}

/* A transfer of a call ended with result. */
void
etcd_call_done(struct etcd_xfer *x, CURLcode result)
{
	const uint8_t *data;
	size_t len;
	long http = 0;
	ProtobufCMessage *msg;
	char why[CURL_ERROR_SIZE + 64];

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &http);
	if (x->h1) {
		/* A rider on a new connection, answered by the member's
		 * HTTP/1 side: gRPC never had it (see etcd_xfer_start).
		 * Again at once, with prior knowledge on a connection of its
		 * own; not a failure of the member. */
		log_debug("etcd: %s answered over HTTP/1.x; again over h2c",
		    x->e->endpoints[x->endpoint]);
		x->own_connection = true;
		etcd_xfer_stop(x);
		evtimer_add(x->retry, &zero);
		return;
	}
	if (result != CURLE_OK) {
		/* Refused: nothing was sent, unless this is a resend of a
		 * body that went out before (libcurl's, refused). */
		bool sent = x->body_out ||
		    (result != CURLE_COULDNT_CONNECT &&
		        result != CURLE_COULDNT_RESOLVE_HOST);

		if (x->resend_refused)
			snprintf(why, sizeof(why),
			    "the connection was lost after the request went "
			    "out (not sent again)");
		else
			snprintf(why, sizeof(why), "%s",
			    x->errbuf[0] ? x->errbuf
			                 : curl_easy_strerror(result));
		call_retry(x, why, sent);
		return;
	}
	if (x->grpc_status == -1) {
		long version = 0;

		/* gRPC is HTTP/2 only: over TLS, if ALPN did not agree h2,
		 * the member's HTTP/1.1 side answered. */
		curl_easy_getinfo(x->easy, CURLINFO_HTTP_VERSION, &version);
		if (version != 0 && version != CURL_HTTP_VERSION_2_0)
			snprintf(why, sizeof(why),
			    "HTTP status %ld over HTTP/1.x: the member did not "
			    "agree to HTTP/2 (TLS's ALPN h2)",
			    http);
		else
			snprintf(why, sizeof(why),
			    "HTTP status %ld without grpc-status", http);
		call_retry(x, why, http != 503 && http != 502);
		return;
	}
	etcd_contact(x->e, x->endpoint);
	if (x->grpc_status == ETCD_UNAUTHENTICATED && x->e->user != NULL &&
	    !x->is_auth && !x->reauthed) {
		/* The token expired or the member does not know it: refused,
		 * so not applied. Once more, with a new token. */
		x->reauthed = true;
		etcd_token_refused(x->e);
		etcd_xfer_stop(x);
		evtimer_add(x->retry, &zero);
		return;
	}
	if (x->grpc_status == ETCD_UNAVAILABLE ||
	    x->grpc_status == ETCD_DEADLINE_EXCEEDED) {
		/* "leader changed", "no leader", "request timed out": the
		 * member is alive but cannot serve; a write may still
		 * commit. */
		snprintf(why, sizeof(why), "%s",
		    x->grpc_message ? x->grpc_message : "unavailable");
		call_retry(x, why, true);
		return;
	}
	if (x->grpc_status != ETCD_OK) {
		call_deliver(x, x->grpc_status,
		    x->grpc_message ? x->grpc_message : "etcd refused", false,
		    NULL);
		return;
	}
	if (grpc_reader_next(&x->in, &data, &len) != 1 ||
	    (msg = protobuf_c_message_unpack(x->resp_desc, NULL, len, data)) ==
	        NULL) {
		call_deliver(x, 13 /* INTERNAL */,
		    "etcd's answer does not parse", false, NULL);
		return;
	}
	call_deliver(x, ETCD_OK, NULL, false, msg);
}

static void
call_attempt(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_xfer *x = arg;

	if (!etcd_xfer_start(x, x->method)) {
		call_deliver(x, ETCD_UNAVAILABLE,
		    x->errbuf[0] ? x->errbuf
		                 : "etcd unreachable: cannot start a transfer",
		    false, NULL);
		etcd_defer(x->e);
	}
}

static struct etcd_call *
call_new(struct etcd *e, const char *method, const ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *resp_desc, bool idempotent,
    etcd_reply_cb cb, void *arg)
{
	struct etcd_xfer *x = xcalloc(1, sizeof(*x));

	x->kind = XFER_CALL;
	x->e = e;
	x->method = method;
	x->resp_desc = resp_desc;
	x->idempotent = idempotent;
	x->cb = cb;
	x->arg = arg;
	/* An answer is at most etcd's own message limit. */
	x->in.max = 64u << 20;
	x->body = grpc_frame(req, &x->bodylen);
	x->deadline = etcd_mono() + e->cfg.call_timeout;
	x->retry = evtimer_new(e->base, call_attempt, x);
	if (x->retry == NULL)
		fatalx("etcd: out of resources");
	TAILQ_INSERT_TAIL(&e->xfers, x, entry);
	/* Started from the loop, so that a failure to start is answered
	 * after this returns. */
	evtimer_add(x->retry, &zero);
	return (struct etcd_call *)x;
}

struct etcd_call *
etcd_range(struct etcd *e, const Etcdserverpb__RangeRequest *req,
    etcd_reply_cb cb, void *arg)
{
	return call_new(e, "/etcdserverpb.KV/Range", &req->base,
	    &etcdserverpb__range_response__descriptor, true, cb, arg);
}

struct etcd_call *
etcd_txn(struct etcd *e, const Etcdserverpb__TxnRequest *req, etcd_reply_cb cb,
    void *arg)
{
	return call_new(e, "/etcdserverpb.KV/Txn", &req->base,
	    &etcdserverpb__txn_response__descriptor, false, cb, arg);
}

struct etcd_call *
etcd_lease_grant(struct etcd *e, int64_t id, int64_t ttl, etcd_reply_cb cb,
    void *arg)
{
	Etcdserverpb__LeaseGrantRequest req =
	    ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;

	req.id = id;
	req.ttl = ttl;
	/* Idempotent with an ID of our choosing: a grant sent twice
	 * answers "lease already exists" the second time. */
	return call_new(e, "/etcdserverpb.Lease/LeaseGrant", &req.base,
	    &etcdserverpb__lease_grant_response__descriptor, id != 0, cb, arg);
}

struct etcd_call *
etcd_lease_revoke(struct etcd *e, int64_t id, etcd_reply_cb cb, void *arg)
{
	Etcdserverpb__LeaseRevokeRequest req =
	    ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;

	req.id = id;
	return call_new(e, "/etcdserverpb.Lease/LeaseRevoke", &req.base,
	    &etcdserverpb__lease_revoke_response__descriptor, true, cb, arg);
}

struct etcd_call *
etcd_lease_keepalive(struct etcd *e, int64_t id, etcd_reply_cb cb, void *arg)
{
	Etcdserverpb__LeaseKeepAliveRequest req =
	    ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;

	req.id = id;
	/* LeaseKeepAlive is a stream; one request and the end of the
	 * stream is a unary call that etcd answers once, so a renewal
	 * needs no stream of its own kept open and watched. */
	return call_new(e, "/etcdserverpb.Lease/LeaseKeepAlive", &req.base,
	    &etcdserverpb__lease_keep_alive_response__descriptor, true, cb,
	    arg);
}

void
etcd_call_cancel(struct etcd_call *c)
{
	etcd_xfer_kill((struct etcd_xfer *)c);
}
