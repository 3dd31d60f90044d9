/* SPDX-License-Identifier: ISC */
/* etcd-watch.c: etcd's Watch stream over one HTTP/2 stream.
 *
 * gRPC's bidirectional stream is a POST whose body never ends: the read
 * callback hands curl the requests waiting (the create, later progress
 * requests) and, when none waits, pauses the upload with
 * CURL_READFUNC_PAUSE; a new request resumes it with curl_easy_pause.
 * The answers come as gRPC messages on the response body, buffered by
 * the write callback and delivered from the loop (etcd_process).
 *
 * A member that is stopped (SIGSTOP) or cut off keeps the TCP
 * connection and says nothing: the cluster sends progress
 * notifications at least every watch_idle, so silence that long ends
 * the stream, and the owner opens another on the next member. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "etcd-internal.h"
#include "log.h"
#include "xmalloc.h"

/* A timer for "from the loop, at once". */
static const struct timeval zero = { 0, 0 };

static size_t
read_cb(char *buf, size_t size, size_t nitems, void *userp)
{
	struct etcd_xfer *x = userp;
	size_t room = size * nitems, n;

	if (x->outoff == x->outlen) {
		x->outoff = x->outlen = 0;
		x->paused = true;
		return CURL_READFUNC_PAUSE;
	}
	n = x->outlen - x->outoff;
	if (n > room)
		n = room;
	memcpy(buf, x->out + x->outoff, n);
	x->outoff += n;
	return n;
}

static void
watch_queue(struct etcd_xfer *x, const Etcdserverpb__WatchRequest *req)
{
	size_t len;
	uint8_t *frame = grpc_frame(&req->base, &len);

	x->out = xrealloc(x->out, x->outlen + len);
	memcpy(x->out + x->outlen, frame, len);
	x->outlen += len;
	free(frame);
	if (x->easy != NULL && x->paused) {
		x->paused = false;
		curl_easy_pause(x->easy, CURLPAUSE_CONT);
		etcd_defer(x->e);
	}
}

/* Ends the stream with status: the messages already buffered are
 * delivered first. */
static void
watch_end(struct etcd_xfer *x, int status, const char *message)
{
	if (x->ended)
		return;
	x->ended = true;
	x->end_status = status;
	x->end_message = xstrdup(message);
	if (x->idle != NULL)
		evtimer_del(x->idle);
	etcd_defer(x->e);
}

static void
on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_xfer *x = arg;
	double quiet = etcd_mono() - x->last_rx;
	struct timeval tv;

	if (x->dead || x->ended)
		return;
	if (quiet >= x->e->cfg.watch_idle) {
		char *why = xasprintf("etcd: no word from %s for %.1f s",
		    x->e->endpoints[x->endpoint], quiet);

		etcd_failed(x->e, x->endpoint, "silent watch");
		etcd_xfer_stop(x);
		watch_end(x, ETCD_UNAVAILABLE, why);
		free(why);
		return;
	}
	tv.tv_sec = (time_t)(x->e->cfg.watch_idle - quiet);
	tv.tv_usec =
	    (suseconds_t)((x->e->cfg.watch_idle - quiet - (double)tv.tv_sec) *
	        1e6);
	evtimer_add(x->idle, &tv);
}

bool
etcd_watch_setup(struct etcd_xfer *x, CURL *c)
{
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(c, CURLOPT_READDATA, x);
	x->paused = false;
	return true;
}

static void
on_start(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_xfer *x = arg;
	struct timeval tv;

	if (!etcd_xfer_start(x, "/etcdserverpb.Watch/Watch")) {
		watch_end(x, ETCD_UNAVAILABLE,
		    x->errbuf[0] ? x->errbuf
		                 : "etcd unreachable: cannot start a transfer");
		return;
	}
	tv.tv_sec = (time_t)x->e->cfg.watch_idle;
	tv.tv_usec =
	    (suseconds_t)((x->e->cfg.watch_idle - (double)tv.tv_sec) * 1e6);
	evtimer_add(x->idle, &tv);
}

struct etcd_watch *
etcd_watch_open(struct etcd *e, const void *key, size_t keylen,
    const void *range_end, size_t range_endlen, int64_t start_revision,
    const struct etcd_watch_handlers *h, void *arg)
{
	struct etcd_xfer *x = xcalloc(1, sizeof(*x));
	Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
	Etcdserverpb__WatchCreateRequest cr =
	    ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;

	x->kind = XFER_WATCH;
	x->e = e;
	x->h = *h;
	x->arg = arg;
	x->in.max = 64u << 20;
	cr.key.data = (uint8_t *)key;
	cr.key.len = keylen;
	cr.range_end.data = (uint8_t *)range_end;
	cr.range_end.len = range_endlen;
	cr.start_revision = start_revision;
	cr.progress_notify = 1;
	req.request_union_case =
	    ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	req.create_request = &cr;
	watch_queue(x, &req);
	x->retry = evtimer_new(e->base, on_start, x);
	x->idle = evtimer_new(e->base, on_idle, x);
	if (x->retry == NULL || x->idle == NULL)
		fatalx("etcd: out of resources");
	TAILQ_INSERT_TAIL(&e->xfers, x, entry);
	evtimer_add(x->retry, &zero);
	return (struct etcd_watch *)x;
}

void
etcd_watch_progress(struct etcd_watch *w)
{
	struct etcd_xfer *x = (struct etcd_xfer *)w;
	Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
	Etcdserverpb__WatchProgressRequest pr =
	    ETCDSERVERPB__WATCH_PROGRESS_REQUEST__INIT;

	if (x->dead || x->ended)
		return;
	req.request_union_case =
	    ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST;
	req.progress_request = &pr;
	watch_queue(x, &req);
}

void
etcd_watch_close(struct etcd_watch *w)
{
	etcd_xfer_kill((struct etcd_xfer *)w);
}

void
etcd_watch_done(struct etcd_xfer *x, CURLcode result)
{
	char *why;
	int status;

	if (result != CURLE_OK) {
		why = xasprintf("etcd: watch on %s: %s",
		    x->e->endpoints[x->endpoint],
		    x->errbuf[0] ? x->errbuf : curl_easy_strerror(result));
		status = ETCD_UNAVAILABLE;
	} else if (x->grpc_status > 0) {
		why = xasprintf("etcd: watch on %s: %s",
		    x->e->endpoints[x->endpoint],
		    x->grpc_message ? x->grpc_message : "ended");
		status = x->grpc_status;
	} else {
		why = xasprintf("etcd: watch on %s ended",
		    x->e->endpoints[x->endpoint]);
		status = ETCD_UNAVAILABLE;
	}
	if (status == ETCD_UNAVAILABLE || status == ETCD_DEADLINE_EXCEEDED)
		etcd_failed(x->e, x->endpoint, why);
	if (status == ETCD_UNAUTHENTICATED)
		etcd_token_refused(x->e);
	etcd_xfer_stop(x);
	watch_end(x, status, why);
	free(why);
}

void
etcd_watch_deliver(struct etcd_xfer *x)
{
	const uint8_t *data;
	size_t len;
	int rc;

	while (!x->dead && (rc = grpc_reader_next(&x->in, &data, &len)) != 0) {
		Etcdserverpb__WatchResponse *r;

		if (rc == -1 ||
		    (r = etcdserverpb__watch_response__unpack(NULL, len,
		         data)) == NULL) {
			x->in.len = 0;
			etcd_xfer_stop(x);
			watch_end(x, 13, "etcd: a watch answer does not parse");
			break;
		}
		grpc_reader_consume(&x->in, len);
		etcd_contact(x->e, x->endpoint);
		x->h.response(r, x->arg);
		etcdserverpb__watch_response__free_unpacked(r, NULL);
	}
	if (!x->dead && x->ended) {
		x->dead = true;
		if (x->h.ended != NULL)
			x->h.ended(x->end_status, x->end_message, x->arg);
	}
}
