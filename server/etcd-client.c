/* SPDX-License-Identifier: ISC */
/* etcd-client.c: libcurl's multi interface on objd's libevent loop, and
 * the transfers etcd-call.c and etcd-watch.c run on it (etcd-call.c has
 * the unary calls and their failover).
 *
 * curl says through its socket callback which sockets to wait on and
 * through its timer callback when to call it anyway; libevent waits for
 * both and hands each back to curl_multi_socket_action (curl's
 * "multi_socket" way, as its hiper.c example). Everything curl reports
 * (transfers done, watch messages buffered) is handled in etcd_process
 * after curl returned, so that the callbacks of objd's code never run
 * inside curl's and may start or cancel transfers.
 *
 * Failover: a failed attempt moves the client to the next endpoint at
 * once; after a whole round of failures it waits, from backoff_min
 * doubling to backoff_max, each wait cut by a random part of up to half
 * (jitter: hosts that lost the same member do not retry in step). */
#include <sys/socket.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "etcd-internal.h"
#include "log.h"
#include "xmalloc.h"

void
etcd_config_defaults(struct etcd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->attempt_timeout = 2.0;
	cfg->call_timeout = 10.0;
	cfg->watch_idle = 4.0;
	cfg->backoff_min = 0.05;
	cfg->backoff_max = 1.0;
}

double
etcd_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
etcd_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct timeval
etcd_tv(double seconds)
{
	struct timeval tv;

	if (seconds < 0)
		seconds = 0;
	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
	return tv;
}

/* http:// or https:// endpoints: a scheme-less name would make curl
 * guess. */
static bool
parse_endpoints(struct etcd *e, const char *list, char *err, size_t errlen)
{
	char *copy = xstrdup(list), *p = copy, *tok;

	while ((tok = strsep(&p, ",")) != NULL) {
		size_t n = strlen(tok);

		if (n == 0)
			continue;
		size_t scheme = strncmp(tok, "http://", 7) == 0 ? 7
		    : strncmp(tok, "https://", 8) == 0          ? 8
		                                                : 0;

		if (scheme == 0 || n == scheme) {
			snprintf(err, errlen,
			    "etcd endpoint \"%s\" is not an http:// or "
			    "https:// URL",
			    tok);
			free(copy);
			return false;
		}
		while (n > scheme && tok[n - 1] == '/')
			tok[--n] = '\0';
		e->endpoints = xreallocarray(e->endpoints, e->nendpoints + 1,
		    sizeof(*e->endpoints));
		e->endpoints[e->nendpoints++] = xstrdup(tok);
	}
	free(copy);
	if (e->nendpoints == 0) {
		snprintf(err, errlen, "no etcd endpoint given");
		return false;
	}
	return true;
}

/* libevent told that fd is ready: curl does the work. */
static void
on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct etcd *e = arg;
	int flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(e->multi, fd, flags, &running);
	etcd_process(e);
}

static void
on_curl_timer(evutil_socket_t fd, short what, void *arg)
{
	struct etcd *e = arg;
	int running;

	curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	etcd_process(e);
}

static void
on_deferred(evutil_socket_t fd, short what, void *arg)
{
	etcd_process(arg);
}

void
etcd_defer(struct etcd *e)
{
	event_active(e->deferred, 0, 0);
}

/* curl's socket callback: what to wait for on s. The event lives in
 * curl's per-socket pointer. */
static int
socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *sockp)
{
	struct etcd *e = userp;
	struct event *ev = sockp;
	short events;

	if (what == CURL_POLL_REMOVE) {
		if (ev != NULL) {
			event_free(ev);
			curl_multi_assign(e->multi, s, NULL);
		}
		return 0;
	}
	events = EV_PERSIST;
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	if (ev != NULL)
		event_free(ev);
	ev = event_new(e->base, s, events, on_socket, e);
	if (ev == NULL || event_add(ev, NULL) == -1)
		fatalx("etcd: cannot wait on a socket");
	curl_multi_assign(e->multi, s, ev);
	return 0;
}

/* curl's timer callback: -1 stops the timer; 0 means at once, which is
 * left to the loop rather than done here, inside curl. */
static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct etcd *e = userp;
	struct timeval tv;

	if (timeout_ms < 0) {
		evtimer_del(e->timer);
		return 0;
	}
	tv = etcd_tv((double)timeout_ms / 1000.0);
	evtimer_add(e->timer, &tv);
	return 0;
}

struct etcd *
etcd_new(struct event_base *base, const struct etcd_config *cfg, char *err,
    size_t errlen)
{
	static bool global_done;
	struct etcd *e = xcalloc(1, sizeof(*e));

	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			snprintf(err, errlen, "libcurl cannot start");
			free(e);
			return NULL;
		}
		global_done = true;
	}
	e->base = base;
	e->cfg = *cfg;
	e->cfg.endpoints = NULL;
	if (cfg->user != NULL) {
		e->user = xstrdup(cfg->user);
		e->password = xstrdup(cfg->password ? cfg->password : "");
	}
	e->cfg.user = e->user;
	e->cfg.password = e->password;
	e->cacert = cfg->cacert ? xstrdup(cfg->cacert) : NULL;
	e->cert = cfg->cert ? xstrdup(cfg->cert) : NULL;
	e->key = cfg->key ? xstrdup(cfg->key) : NULL;
	e->cfg.cacert = e->cacert;
	e->cfg.cert = e->cert;
	e->cfg.key = e->key;
	if (!parse_endpoints(e, cfg->endpoints, err, errlen)) {
		etcd_free(e);
		return NULL;
	}
	TAILQ_INIT(&e->xfers);
	/* Jitter apart from other hosts' and processes' (not a secret). */
	srandom((unsigned)((uint64_t)getpid() ^ (uint64_t)(etcd_wall() * 1e6)));
	e->cur = (size_t)random() % e->nendpoints;
	e->reachable = true;
	e->since = etcd_wall();
	/* libcurl before 8.0 fails the second request on a reused
	 * prior-knowledge HTTP/2 connection with "Error in the HTTP2 framing
	 * layer" (curl issue 10634, fixed by pull request 10643); Debian
	 * 12's is 7.88.1. etcd_xfer_start works around it. */
	e->h2c_reuse_bug =
	    curl_version_info(CURLVERSION_NOW)->version_num < 0x080000;
	e->opening = xcalloc(e->nendpoints, sizeof(*e->opening));
	e->multi = curl_multi_init();
	e->timer = evtimer_new(base, on_curl_timer, e);
	e->deferred = event_new(base, -1, 0, on_deferred, e);
	if (e->multi == NULL || e->timer == NULL || e->deferred == NULL)
		fatalx("etcd: out of resources");
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
	/* One HTTP/2 connection per member carries every call and the
	 * watch. */
	curl_multi_setopt(e->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	e->headers = curl_slist_append(NULL, "content-type: application/grpc");
	e->headers = curl_slist_append(e->headers, "te: trailers");
	e->headers = curl_slist_append(e->headers, "hasleader: true");
	/* No "Expect: 100-continue" round trip before a body. */
	e->headers = curl_slist_append(e->headers, "Expect:");
	if (e->headers == NULL)
		fatalx("etcd: out of memory");
	return e;
}

void
etcd_free(struct etcd *e)
{
	struct etcd_xfer *x;
	size_t i;

	if (e == NULL)
		return;
	while ((x = TAILQ_FIRST(&e->xfers)) != NULL) {
		etcd_xfer_stop(x);
		TAILQ_REMOVE(&e->xfers, x, entry);
		etcd_xfer_free(x);
	}
	if (e->multi != NULL)
		curl_multi_cleanup(e->multi);
	if (e->timer != NULL)
		event_free(e->timer);
	if (e->deferred != NULL)
		event_free(e->deferred);
	free(e->socks);
	free(e->opening);
	curl_slist_free_all(e->headers);
	free(e->user);
	if (e->password != NULL)
		explicit_bzero(e->password, strlen(e->password));
	free(e->password);
	free(e->token);
	free(e->auth_error);
	free(e->cacert);
	free(e->cert);
	free(e->key);
	for (i = 0; i < e->nendpoints; i++)
		free(e->endpoints[i]);
	free(e->endpoints);
	free(e);
}

void
etcd_stats(const struct etcd *e, struct etcd_stats *st)
{
	st->reachable = e->reachable;
	st->last_contact = e->last_contact;
	st->since = e->since;
	st->reconnects = e->reconnects;
	st->endpoint = e->endpoints[e->cur];
	st->conns_open = e->nsocks;
	st->conns_opened = e->conns_opened;
}

void
etcd_contact(struct etcd *e, size_t endpoint)
{
	double now = etcd_wall();

	e->last_contact = now;
	e->fails = 0;
	if (!e->reachable) {
		e->reachable = true;
		e->since = now;
		log_info("etcd: reached %s", e->endpoints[endpoint]);
	}
}

double
etcd_failed(struct etcd *e, size_t endpoint, const char *why)
{
	double wait;
	unsigned rounds;

	/* Another transfer may have moved on already. */
	if (endpoint == e->cur) {
		e->cur = (e->cur + 1) % e->nendpoints;
		e->reconnects++;
		log_debug("etcd: %s failed (%s), trying %s",
		    e->endpoints[endpoint], why, e->endpoints[e->cur]);
	}
	e->fails++;
	if (e->fails < e->nendpoints)
		return 0;
	if (e->reachable) {
		e->reachable = false;
		e->since = etcd_wall();
		log_warnx("etcd: no member answers (last: %s: %s)",
		    e->endpoints[endpoint], why);
	}
	if (e->fails % e->nendpoints != 0)
		return 0;
	rounds = e->fails / e->nendpoints;
	wait =
	    e->cfg.backoff_min * ldexp(1.0, (int)(rounds > 20 ? 20 : rounds));
	if (wait > e->cfg.backoff_max)
		wait = e->cfg.backoff_max;
	return wait * (0.5 + 0.5 * (double)random() / (double)RAND_MAX);
}

/* curl's write callback: the answer's bytes, gRPC-framed. */
static size_t
write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct etcd_xfer *x = userp;
	size_t n = size * nmemb;

	x->last_rx = etcd_mono();
	if (!grpc_reader_feed(&x->in, data, n))
		return 0; /* over the limit: curl ends the transfer */
	if (x->kind == XFER_WATCH)
		etcd_defer(x->e);
	return n;
}

/* curl's header callback: headers and trailers alike. */
static size_t
header_cb(char *line, size_t size, size_t nmemb, void *userp)
{
	struct etcd_xfer *x = userp;
	size_t n = size * nmemb;

	x->last_rx = etcd_mono();
	if (x->rider && n >= 7 && memcmp(line, "HTTP/1.", 7) == 0) {
		/* Ends the transfer: see etcd_call_done. */
		x->h1 = true;
		return 0;
	}
	/* The socket this transfer opened connected and carries answers. */
	for (size_t i = 0; i < x->e->nsocks; i++)
		if (x->e->socks[i].owner == x)
			x->e->socks[i].owner = NULL;
	grpc_header(line, n, &x->grpc_status, &x->grpc_message);
	return n;
}

/* The sockets: curl opens and closes them through these, so that objd
 * knows which members have a connection open (etcd_xfer_start). */
static curl_socket_t
opensocket_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct etcd_xfer *x = clientp;
	struct etcd *e = x->e;
	int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);

	if (fd == -1)
		return CURL_SOCKET_BAD;
	if (x->body_out) {
		/* A new connection for a request whose body has gone out on
		 * another: libcurl's resend (see body_read_cb). */
		x->resend_refused = true;
		close(fd);
		return CURL_SOCKET_BAD;
	}
	e->socks = xreallocarray(e->socks, e->nsocks + 1, sizeof(*e->socks));
	e->socks[e->nsocks++] = (struct etcd_sock){
		.fd = fd,
		.endpoint = x->endpoint,
		.owner = x,
	};
	e->conns_opened++;
	if (x->opening) {
		x->opening = false;
		e->opening[x->endpoint]--;
	}
	return fd;
}

static void
sock_forget(struct etcd *e, size_t i)
{
	e->socks[i] = e->socks[--e->nsocks];
}

static int
closesocket_cb(void *clientp, curl_socket_t fd)
{
	struct etcd *e = clientp;

	for (size_t i = 0; i < e->nsocks; i++) {
		if (e->socks[i].fd == fd) {
			sock_forget(e, i);
			break;
		}
	}
	return close(fd);
}

/* Whether endpoint has an h2c connection open or in the making. */
static bool
h2c_open(const struct etcd *e, size_t endpoint)
{
	if (e->opening[endpoint] > 0)
		return true;
	for (size_t i = 0; i < e->nsocks; i++)
		if (e->socks[i].endpoint == endpoint)
			return true;
	return false;
}

/* The body of a call that is not idempotent (a Txn) goes through a read
 * callback, never CURLOPT_POSTFIELDS, so that libcurl cannot send it
 * twice. libcurl sends a request again on a new connection when a
 * reused one died before any answer (Curl_retry_request in
 * lib/transfer.c, 7.88 to 8.21 alike), and a Txn sent twice may be
 * applied twice, or answered a conflict with itself. With
 * CURLOPT_POSTFIELDS it resends freely; with a read callback it must
 * rewind first: 7.88's readrewind (lib/multi.c) calls the seek callback
 * when body bytes were written (Curl_retry_request sets
 * rewindbeforesend only when writebytecount > 0), 8.x's cr_in_rewind
 * (lib/sendf.c) whenever the read callback was called; seek_cb refuses,
 * and the transfer fails with CURLE_SEND_FAIL_REWIND. A request whose
 * body curl never had is resent, rightly: etcd cannot have applied a
 * request it never had whole. 7.88 resends without rewinding when the
 * read callback was called but nothing counted as written; prereq_cb
 * (called before every request, resends too) and opensocket_cb refuse
 * any request of a transfer whose body has gone out once. Either way
 * the call ends with maybe_applied, and its owner settles it. */
static size_t
body_read_cb(char *buf, size_t size, size_t nitems, void *userp)
{
	struct etcd_xfer *x = userp;
	size_t n = x->bodylen - x->bodyoff;

	if (n > size * nitems)
		n = size * nitems;
	memcpy(buf, x->body + x->bodyoff, n);
	x->bodyoff += n;
	if (n > 0)
		x->body_out = true;
	return n;
}

static int
seek_cb(void *userp, curl_off_t offset, int origin)
{
	struct etcd_xfer *x = userp;

	x->resend_refused = true;
	return CURL_SEEKFUNC_FAIL;
}

#if LIBCURL_VERSION_NUM >= 0x075000
static int
prereq_cb(void *userp, char *conn_primary_ip, char *conn_local_ip,
    int conn_primary_port, int conn_local_port)
{
	struct etcd_xfer *x = userp;

	if (x->body_out) {
		x->resend_refused = true;
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}
#endif

/* Starts x's transfer on the current endpoint. For a watch, the body is
 * streamed by the read callback the caller set. */
bool
etcd_xfer_start(struct etcd_xfer *x, const char *method)
{
	struct etcd *e = x->e;
	char *url;
	CURL *c;

	x->endpoint = e->cur;
	x->rider = x->h1 = false;
	x->bodyoff = 0;
	x->body_out = x->resend_refused = false;
	x->grpc_status = -1;
	free(x->grpc_message);
	x->grpc_message = NULL;
	x->in.len = 0;
	x->errbuf[0] = '\0';
	x->last_rx = etcd_mono();
	if (e->user != NULL && !x->is_auth && e->token == NULL) {
		/* The Authenticate this one waited for failed. */
		if (x->auth_tried && !e->authing && e->auth_error != NULL) {
			snprintf(x->errbuf, sizeof(x->errbuf), "%s",
			    e->auth_error);
			x->auth_tried = false;
			return false;
		}
		x->parked = x->auth_tried = true;
		if (!e->authing)
			etcd_auth_start(e);
		return true;
	}
	x->auth_tried = false;
	curl_slist_free_all(x->headers);
	x->headers = NULL;
	for (const struct curl_slist *h = e->headers; h != NULL; h = h->next)
		x->headers = curl_slist_append(x->headers, h->data);
	if (e->token != NULL && !x->is_auth) {
		char *line = xasprintf("token: %s", e->token);

		x->headers = curl_slist_append(x->headers, line);
		free(line);
	}
	if (x->headers == NULL || (c = curl_easy_init()) == NULL)
		return false;
	url = xasprintf("%s%s", e->endpoints[x->endpoint], method);
	curl_easy_setopt(c, CURLOPT_URL, url);
	free(url);
	if (e->cacert != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, e->cacert);
	if (e->cert != NULL) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, e->cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, e->key);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_PRIVATE, x);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(e->cfg.attempt_timeout * 1000));
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, opensocket_cb);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, x);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, closesocket_cb);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, e);
	if (!e->h2c_reuse_bug ||
	    strncmp(e->endpoints[x->endpoint], "https://", 8) == 0) {
		/* h2c straight away to an http:// member; to an https://
		 * one, HTTP/2 as TLS's ALPN agrees it (etcd offers h2:
		 * libcurl 7.88 knows a reused TLS connection speaks it).
		 * Wait for the HTTP/2 connection in the making rather than
		 * open a second one to the same member. */
		curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
		    (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
		curl_easy_setopt(c, CURLOPT_PIPEWAIT, 1L);
	} else if (x->kind == XFER_CALL && !x->own_connection &&
	    h2c_open(e, x->endpoint)) {
		/* libcurl 7.88 over h2c: a prior-knowledge transfer on a
		 * reused connection puts a second HTTP/2 layer on it (its
		 * Curl_http2_may_switch looks at what the transfer wants,
		 * not at what the connection speaks). A transfer that wants
		 * HTTP/2 "over TLS only" may ride an open HTTP/2
		 * connection (ConnectionExists refuses h2 connections only
		 * to transfers that want less than HTTP/2) and is not
		 * switched. Should curl open a new connection for it
		 * instead (the one in view closed meanwhile), it speaks
		 * HTTP/1.1, without an Upgrade header, and etcd's HTTP/1
		 * side answers 404: gRPC is served on HTTP/2 only (etcd's
		 * cmux, and grpcHandlerFunc behind TLS, look at the
		 * protocol), so the call never reached etcd's gRPC server.
		 * header_cb ends such a transfer at its status line and
		 * etcd_call_done sends it again on a connection of its own. */
		curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
		    (long)CURL_HTTP_VERSION_2TLS);
		curl_easy_setopt(c, CURLOPT_PIPEWAIT, 1L);
		x->rider = true;
	} else {
		/* No connection to ride (or the watch, which has its own
		 * that the calls then ride): prior knowledge on a new
		 * connection, never a reused one. */
		curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
		    (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
		curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
		x->opening = true;
		e->opening[x->endpoint]++;
	}
	x->own_connection = false;
	/* TCP keepalive finds a member whose host vanished. */
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	if (x->kind == XFER_CALL && x->idempotent) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, x->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)x->bodylen);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
		    (long)(e->cfg.attempt_timeout * 1000));
	} else if (x->kind == XFER_CALL) {
		/* Never sent twice: see body_read_cb. */
		curl_easy_setopt(c, CURLOPT_READFUNCTION, body_read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, x);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, x);
#if LIBCURL_VERSION_NUM >= 0x075000
		curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, prereq_cb);
		curl_easy_setopt(c, CURLOPT_PREREQDATA, x);
#endif
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)x->bodylen);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
		    (long)(e->cfg.attempt_timeout * 1000));
	} else if (!etcd_watch_setup(x, c)) {
		curl_easy_cleanup(c);
		return false;
	}
	if (curl_multi_add_handle(e->multi, c) != CURLM_OK) {
		curl_easy_cleanup(c);
		return false;
	}
	x->easy = c;
	return true;
}

void
etcd_xfer_stop(struct etcd_xfer *x)
{
	struct etcd *e = x->e;

	if (x->opening) {
		x->opening = false;
		e->opening[x->endpoint]--;
	}
	/* A socket it opened that never carried an answer may have been
	 * closed without a word (a connect that failed). */
	for (size_t i = 0; i < e->nsocks;) {
		if (e->socks[i].owner == x)
			sock_forget(e, i);
		else
			i++;
	}
	if (x->easy == NULL)
		return;
	curl_multi_remove_handle(x->e->multi, x->easy);
	curl_easy_cleanup(x->easy);
	x->easy = NULL;
}

void
etcd_xfer_free(struct etcd_xfer *x)
{
	etcd_xfer_stop(x);
	if (x->retry != NULL)
		event_free(x->retry);
	if (x->idle != NULL)
		event_free(x->idle);
	curl_slist_free_all(x->headers);
	grpc_reader_free(&x->in);
	free(x->grpc_message);
	free(x->body);
	free(x->out);
	free(x->end_message);
	free(x);
}

void
etcd_xfer_kill(struct etcd_xfer *x)
{
	etcd_xfer_stop(x);
	if (x->retry != NULL)
		evtimer_del(x->retry);
	if (x->idle != NULL)
		evtimer_del(x->idle);
	x->dead = true;
	etcd_defer(x->e);
}

/* After curl ran: the transfers it finished, the watch messages it
 * buffered, and the sweep of what is over. */
void
etcd_process(struct etcd *e)
{
	struct etcd_xfer *x, *next;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(e->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &x);
		if (x->dead)
			continue;
		if (x->kind == XFER_CALL)
			etcd_call_done(x, m->data.result);
		else
			etcd_watch_done(x, m->data.result);
	}
	TAILQ_FOREACH (x, &e->xfers, entry) {
		if (x->kind == XFER_WATCH && !x->dead)
			etcd_watch_deliver(x);
	}
	for (x = TAILQ_FIRST(&e->xfers); x != NULL; x = next) {
		next = TAILQ_NEXT(x, entry);
		if (x->dead) {
			TAILQ_REMOVE(&e->xfers, x, entry);
			etcd_xfer_free(x);
		}
	}
}
