/* SPDX-License-Identifier: ISC */
/* etcd-internal.h: what etcd-client.c and etcd-watch.c share. */
#ifndef OBJD_ETCD_INTERNAL_H
#define OBJD_ETCD_INTERNAL_H

#include <sys/queue.h>
#include <sys/time.h>

#include <curl/curl.h>

#include "etcd.h"

/* One gRPC call on curl: a unary call, or a watch stream. */
struct etcd_xfer {
	enum { XFER_CALL, XFER_WATCH } kind;
	struct etcd *e;
	TAILQ_ENTRY(etcd_xfer) entry;
	CURL *easy;      /* NULL while no transfer runs */
	size_t endpoint; /* the endpoint of the transfer */
	bool dead;       /* over: freed at the next sweep */
	const char *method;
	struct grpc_reader in;
	int grpc_status; /* -1 until the trailers said */
	char *grpc_message;
	char errbuf[CURL_ERROR_SIZE];
	double last_rx;             /* monotonic: when bytes last came */
	struct event *retry;        /* starts the transfer (again) */
	struct curl_slist *headers; /* the client's, and the token */
	bool is_auth;               /* the Authenticate call itself */
	bool parked;                /* waits for a token */
	bool auth_tried;            /* has waited for one */
	bool reauthed; /* has got a new token after etcd refused one */
	/* The connection the transfer runs on (see etcd_xfer_start). */
	bool opening;        /* opens an h2c connection, no socket yet */
	bool rider;          /* rides an open h2c connection (HTTP/2 wanted, not
	                      * by prior knowledge) */
	bool h1;             /* a rider was answered over HTTP/1.x */
	bool own_connection; /* the next attempt opens its own */

	/* A unary call: its framed request, and where the answer goes. */
	uint8_t *body;
	size_t bodylen;
	size_t bodyoff;      /* what the read callback handed curl */
	bool body_out;       /* some of the body left through it */
	bool resend_refused; /* libcurl would have sent it again */
	const ProtobufCMessageDescriptor *resp_desc;
	bool idempotent;
	double deadline; /* monotonic */
	etcd_reply_cb cb;
	void *arg;

	/* A watch: the requests waiting to be sent (the read callback
	 * hands them to curl), and the liveness timer. */
	uint8_t *out;
	size_t outlen, outoff;
	bool paused; /* the read callback paused the upload */
	bool ended;  /* the transfer ended: tell after the messages */
	int end_status;
	char *end_message;
	struct event *idle;
	struct etcd_watch_handlers h;
};

struct etcd {
	struct event_base *base;
	struct etcd_config cfg;
	char **endpoints;
	size_t nendpoints;
	size_t cur;     /* the endpoint in use */
	unsigned fails; /* attempts failed in a row */
	bool reachable;
	/* libcurl before 8.0: a prior-knowledge transfer on a reused h2c
	 * connection fails (etcd_new says more). */
	bool h2c_reuse_bug;
	/* The sockets curl opened, while open: which endpoint, and the
	 * transfer that opened it until an answer came on it (a socket
	 * that never connected is closed without telling). */
	struct etcd_sock {
		curl_socket_t fd;
		size_t endpoint;
		struct etcd_xfer *owner;
	} * socks;
	size_t nsocks;
	unsigned *opening; /* per endpoint: transfers opening one */
	uint64_t conns_opened;
	double since, last_contact;
	uint64_t reconnects;
	CURLM *multi;
	struct event *timer;    /* curl's timeout */
	struct event *deferred; /* etcd_process from the loop */
	struct curl_slist *headers;
	TAILQ_HEAD(, etcd_xfer) xfers;
	char *user, *password;
	char *cacert, *cert, *key; /* TLS files, or NULL */
	char *token;               /* NULL: none yet */
	bool authing;              /* an Authenticate call is out */
	char *auth_error;          /* why the last one failed */
};

double etcd_wall(void);
double etcd_mono(void);
struct timeval etcd_tv(double seconds);
void etcd_process(struct etcd *e);
void etcd_defer(struct etcd *e);
void etcd_contact(struct etcd *e, size_t endpoint);
/* Counts a failure of endpoint and moves off it; the wait before the
 * next attempt. */
double etcd_failed(struct etcd *e, size_t endpoint, const char *why);
bool etcd_xfer_start(struct etcd_xfer *x, const char *method);
void etcd_xfer_free(struct etcd_xfer *x);
/* Takes x's transfer off curl, if it runs. */
void etcd_xfer_stop(struct etcd_xfer *x);
/* Stops x's transfer and marks it for the sweep. */
void etcd_xfer_kill(struct etcd_xfer *x);
/* etcd refused the token: the next transfer gets a new one. */
void etcd_token_refused(struct etcd *e);
/* etcd-call.c: asks for a token; the transfers parked for it go on once
 * it is there (or fail). */
void etcd_auth_start(struct etcd *e);
/* etcd-call.c: a call's transfer ended with result. */
void etcd_call_done(struct etcd_xfer *x, CURLcode result);

/* etcd-watch.c */
bool etcd_watch_setup(struct etcd_xfer *x, CURL *c);
void etcd_watch_done(struct etcd_xfer *x, CURLcode result);
void etcd_watch_deliver(struct etcd_xfer *x);

#endif
