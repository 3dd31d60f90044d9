/* SPDX-License-Identifier: ISC */
/* etcd.h: objd's etcd v3 client.
 *
 * Real gRPC over HTTP/2 (h2c to http:// URLs, TLS with ALPN h2 to
 * https:// ones) through
 * libcurl's multi interface, driven by objd's libevent loop: curl tells
 * which sockets and which timeout to wait for, libevent waits, and
 * curl_multi_socket_action does the work. No thread per request: one
 * connection per endpoint (a few at most, while the first is in the
 * making) multiplexes the unary calls and the watch.
 * The messages are etcd's own, compiled by protoc-c from proto/etcd.
 *
 * Every call carries the metadata `hasleader: true`, so that a member
 * cut off from its cluster ends a watch instead of serving it from its
 * stale state forever (etcd answers such a watch with gRPC code 14,
 * "no leader").
 *
 * Callbacks run from the loop, never from inside curl: a callback may
 * start calls, and may close its own watch or cancel other calls. */
#ifndef OBJD_ETCD_H
#define OBJD_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "etcd/rpc.pb-c.h"

struct event_base;
struct etcd;
struct etcd_call;
struct etcd_watch;

/* gRPC's status codes that the client looks at; etcd answers others
 * too, passed on as they are. */
enum {
	ETCD_OK = 0,
	ETCD_CANCELLED = 1,
	ETCD_INVALID_ARGUMENT = 3,
	ETCD_DEADLINE_EXCEEDED = 4,
	ETCD_FAILED_PRECONDITION = 9,
	ETCD_OUT_OF_RANGE = 11,
	ETCD_UNAVAILABLE = 14,
	ETCD_UNAUTHENTICATED = 16,
};

struct etcd_config {
	/* Comma-separated http:// (h2c) or https:// (HTTP/2 negotiated by
	 * ALPN) URLs of the members. */
	const char *endpoints;
	/* How long one attempt at a unary call may take (seconds). */
	double attempt_timeout;
	/* How long a unary call may go on failing over before it fails. */
	double call_timeout;
	/* A watch that hears nothing for this long (no event, no progress
	 * notification) is taken for dead: a hung member answers TCP and
	 * nothing else. Set it above the cluster's
	 * --experimental-watch-progress-notify-interval. */
	double watch_idle;
	/* Backoff between rounds over every endpoint: from min, doubling
	 * up to max, each wait jittered down by up to half. */
	double backoff_min, backoff_max;
	/* etcd's authentication, or NULL: calls carry the token that
	 * Authenticate gives for them, got again when etcd says it is no
	 * longer valid (simple tokens expire). */
	const char *user, *password;
	/* TLS, for https:// endpoints: the CA file that the members'
	 * certificates are checked against (NULL: the system's), and the
	 * client's certificate and key files, PEM (NULL: none). */
	const char *cacert, *cert, *key;
};

/* The defaults for cfg (endpoints left NULL). */
void etcd_config_defaults(struct etcd_config *cfg);

/* A client of one cluster; NULL with err if the endpoints do not parse. */
struct etcd *etcd_new(struct event_base *base, const struct etcd_config *cfg,
    char *err, size_t errlen);
/* Cancels every call (their callbacks are not called) and every watch,
 * and frees the client. */
void etcd_free(struct etcd *e);

/* The answer to a unary call. */
struct etcd_reply {
	/* gRPC's status; ETCD_UNAVAILABLE too when no member answered. */
	int status;
	/* Why, when status is not ETCD_OK: grpc-message, or curl's error. */
	const char *message;
	/* The request may have reached etcd although no answer came (a
	 * timeout or a connection lost after sending): the outcome of a
	 * write is unknown. False when it was never sent, or answered. */
	bool maybe_applied;
	/* The answer (status ETCD_OK): the call's response message
	 * (Etcdserverpb__RangeResponse for etcd_range, and so on). Freed
	 * after the callback returns. */
	ProtobufCMessage *msg;
	/* The endpoint that answered, or last tried. */
	const char *endpoint;
};
typedef void (*etcd_reply_cb)(const struct etcd_reply *r, void *arg);

/* Unary calls. A Range is retried on the other endpoints, with backoff,
 * until cfg->call_timeout; a Txn only where it cannot have been sent
 * (the connection refused), since sending it twice could apply it
 * twice, and not past a whole round of endpoints that all refused: any
 * other failure answers with maybe_applied. The request is
 * packed before the function returns. The call is the caller's to
 * cancel until its callback runs. */
struct etcd_call *etcd_range(struct etcd *e,
    const Etcdserverpb__RangeRequest *req, etcd_reply_cb cb, void *arg);
struct etcd_call *etcd_txn(struct etcd *e, const Etcdserverpb__TxnRequest *req,
    etcd_reply_cb cb, void *arg);
/* Leases: a grant of ttl seconds (id 0: etcd chooses it; otherwise
 * that id, and the call is retried like a Range), a revoke (the keys
 * put with it are deleted), and one renewal (LeaseKeepAlive, as a
 * unary call; its answer's TTL is 0 or less once the lease is gone).
 * The answers are an Etcdserverpb__LeaseGrantResponse,
 * __LeaseRevokeResponse and __LeaseKeepAliveResponse. */
struct etcd_call *etcd_lease_grant(struct etcd *e, int64_t id, int64_t ttl,
    etcd_reply_cb cb, void *arg);
struct etcd_call *etcd_lease_revoke(struct etcd *e, int64_t id,
    etcd_reply_cb cb, void *arg);
struct etcd_call *etcd_lease_keepalive(struct etcd *e, int64_t id,
    etcd_reply_cb cb, void *arg);
/* Its callback is not called. */
void etcd_call_cancel(struct etcd_call *c);

/* A watch stream: Watch's bidirectional stream, with one watcher. */
struct etcd_watch_handlers {
	/* One WatchResponse: created, events, a progress notification, or
	 * canceled (compact_revision is set when the start revision was
	 * compacted). The response is freed when it returns. */
	void (*response)(const Etcdserverpb__WatchResponse *r, void *arg);
	/* The stream ended (status and message say why: the member went
	 * away, lost its leader, fell silent past watch_idle). Nothing more
	 * is called; the watch is freed after it returns. Not called after
	 * etcd_watch_close. */
	void (*ended)(int status, const char *message, void *arg);
};
/* Opens a watch of [key, range_end) from start_revision on the next
 * endpoint in turn, with progress notifications. */
struct etcd_watch *etcd_watch_open(struct etcd *e, const void *key,
    size_t keylen, const void *range_end, size_t range_endlen,
    int64_t start_revision, const struct etcd_watch_handlers *h, void *arg);
/* Asks etcd for a progress notification on the stream. */
void etcd_watch_progress(struct etcd_watch *w);
/* Ends the stream; no handler is called after it. */
void etcd_watch_close(struct etcd_watch *w);

/* What status shows. */
struct etcd_stats {
	bool reachable;        /* the last call or stream had an answer */
	double last_contact;   /* wall clock of the last answer, 0: none */
	double since;          /* wall clock when reachable last changed */
	uint64_t reconnects;   /* moves to another endpoint after a failure */
	const char *endpoint;  /* the endpoint in use */
	uint64_t conns_open;   /* TCP connections to members open now */
	uint64_t conns_opened; /* and opened since etcd_new */
};
void etcd_stats(const struct etcd *e, struct etcd_stats *st);

/* The end of the prefix range: key with its last byte that is not 0xff
 * incremented and what follows dropped (etcd's "range_end"); "\0" (one
 * zero byte) for a key of 0xff bytes, meaning "to the end". Malloc'd. */
uint8_t *etcd_prefix_end(const void *key, size_t keylen, size_t *endlen);

/* etcd-grpc.c: gRPC's framing, apart from the transport so that it is
 * tested apart. */
/* The 5-byte prefix (not compressed, length big-endian) then msg
 * packed; malloc'd, *len its size. */
uint8_t *grpc_frame(const ProtobufCMessage *msg, size_t *len);
/* A reader of length-prefixed messages from a byte stream. */
struct grpc_reader {
	uint8_t *buf;
	size_t len, cap;
	size_t max; /* a message larger than this is an error */
};
/* Appends data; false if the buffer would pass max plus a prefix. */
bool grpc_reader_feed(struct grpc_reader *r, const void *data, size_t len);
/* The next whole message: 1 with *msg and *msglen (valid until
 * grpc_reader_consume or the next feed), 0 if none is whole yet, -1 if
 * the stream is bad (compressed, or over max). */
int grpc_reader_next(struct grpc_reader *r, const uint8_t **msg,
    size_t *msglen);
/* Drops the message grpc_reader_next returned. */
void grpc_reader_consume(struct grpc_reader *r, size_t msglen);
void grpc_reader_free(struct grpc_reader *r);
/* A header line (or trailer) as curl gives it: if it is grpc-status,
 * *status gets its value; if grpc-message, *message its percent-decoded
 * text (malloc'd; the old one freed). True if it was either. */
bool grpc_header(const char *line, size_t len, int *status, char **message);

#endif
