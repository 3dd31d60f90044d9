/* SPDX-License-Identifier: ISC */
/* backend-etcd.h: etcd v3 as objd's backend (objd(8), "Many hosts").
 *
 * Key mapping under the prefix P (default "/objd/"): each top-level objd
 * key is the etcd key "P k/KEY" holding the entry's value bytes (the
 * serialized objd.Value, as in the file); "P m", the meta key, holds
 * "WRITER SEQ" of the last write and its mod_revision is the object's
 * revision. Every write is one etcd Txn per request: the request's
 * compares, then its puts, deletes and the meta put.
 *
 * Expiring and held keys are put with an etcd lease, and etcd deletes
 * them for every host: a set --ttl with a lease granted for it, whose
 * TTL is the time left; the held keys of one connection with that
 * holder's lease (10 s), renewed every 3 s while it lives and revoked
 * when it ends, so that they go 10 s after their objd died. objd picks
 * the lease ids: odd for a holder's, even and carrying the deadline for
 * an expiry's, so that each host knows a key's time left and tells
 * etcd's deletion of an expiring key (watchers see "expire") from a
 * holder's end ("delete"). */
#ifndef OBJD_BACKEND_ETCD_H
#define OBJD_BACKEND_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

struct event_base;

struct backend_etcd_config {
	const char *endpoints; /* comma-separated http:// or https:// URLs */
	const char *prefix;    /* NULL: "/objd/" */
	/* etcd's --max-txn-ops (128) and --max-request-bytes (1.5 MiB):
	 * a request past them is refused whole, never split. 0: etcd's
	 * defaults. */
	size_t max_txn_ops;
	size_t max_request_bytes;
	/* How long a write may wait for etcd's answer (seconds); 0: 5. */
	double write_timeout;
	/* etcd's authentication, or NULL. */
	const char *user, *password;
	/* Reads are refused once etcd has not been heard from for this
	 * long (seconds); 0: never. */
	double max_staleness;
	/* TLS files for https:// endpoints (etcd_config), or NULL. */
	const char *cacert, *cert, *key;
	/* Calls fn for the holder of each connection that holds keys (a
	 * holder's lease is revoked once it is not among them); NULL:
	 * holders' leases are never revoked, only left to run out. */
	void (*live_holders)(void (*fn)(uint64_t holder, void *arg), void *arg);
};

#define BACKEND_ETCD_PREFIX "/objd/"
#define BACKEND_ETCD_MAX_TXN_OPS 128
#define BACKEND_ETCD_MAX_REQUEST_BYTES (3u << 19) /* 1.5 MiB */

/* A backend on the cluster; NULL with err if the configuration is bad.
 * Nothing is asked of etcd before load. */
struct backend *backend_etcd_open(struct event_base *base,
    const struct backend_etcd_config *cfg, const struct backend_hooks *hooks,
    char *err, size_t errlen);

/* What status shows of etcd. */
struct backend_etcd_stats {
	bool reachable;
	double since;            /* wall clock when reachable last changed */
	double last_contact;     /* wall clock, 0 if never */
	uint64_t cache_revision; /* the cluster revision the cache holds */
	uint64_t etcd_revision;  /* the newest etcd revision heard of */
	uint64_t cluster_id;
	uint64_t reconnects;
	uint64_t resyncs;
	uint64_t conns_open, conns_opened; /* TCP connections to members */
	size_t txns_out; /* Txns of the batch in flight out at once now */
	const char *endpoint;
	const char *prefix;
};
void backend_etcd_stats(const struct backend *be,
    struct backend_etcd_stats *st);
/* Reads the whole prefix again in the background, then tells the loop
 * (others_replaced), as after a compacted watch. */
void backend_etcd_resync(struct backend *be);
/* A holder's connection ended (expire.c): the leases of the holders gone
 * are revoked, and etcd deletes their keys on every host. */
void backend_etcd_holders_changed(struct backend *be);

/* etcd-objd.c: objd --etcd. */
struct etcd_mode {
	const char *endpoints;     /* --etcd; NULL: the file is the backend */
	const char *prefix;        /* --etcd-prefix */
	size_t max_txn_ops;        /* --etcd-max-txn-ops */
	const char *user;          /* --etcd-user */
	const char *password_file; /* --etcd-password-file */
	double max_staleness;      /* --max-staleness */
	const char *cacert;        /* --etcd-cacert */
	const char *cert;          /* --etcd-cert */
	const char *key;           /* --etcd-key */
};
extern struct etcd_mode etcd_mode;
/* The etcd backend, with the cluster's state loaded into server.store
 * (or the file's kept, while etcd cannot be reached); NULL with err. */
struct backend *etcd_mode_start(char *err, size_t errlen);
/* Writes the cache file, as objd stops. */
void etcd_mode_stop(void);
/* With --etcd: starts a read of the whole prefix from etcd (its state
 * replaces the cache once read, as after a compacted watch) and returns
 * true; false without --etcd. */
bool etcd_mode_reload(char *err, size_t errlen);
/* status: the backend's name, and etcd's side with --etcd; the texts
 * stay valid until the next call. */
void etcd_mode_status(Objd__StatusInfo *info);

#endif
