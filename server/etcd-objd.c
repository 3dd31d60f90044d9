/* SPDX-License-Identifier: ISC */
/* etcd-objd.c: objd's etcd mode (objd --etcd): the backend in place of
 * the file's, the first load, the resyncs, and the local file as a
 * cache.
 *
 * In this mode etcd is the state. The file is read at start as before,
 * so that objd serves the last state it saw while etcd cannot be
 * reached, and is written with the cache's state when objd stops; it
 * is not written on each change (etcd's raft majority is the durable
 * copy) nor watched for outside replacement. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend-etcd.h"
#include "log.h"
#include "objd.h"
#include "xmalloc.h"

struct etcd_mode etcd_mode;

/* A resync (the watch's start was compacted, the cluster was rebuilt),
 * or the first state read after a start without etcd: the cache takes
 * etcd's state, and watchers get a RELOAD only if it differs. */
static void
etcd_replaced(void)
{
	struct store *fresh = store_new();
	uint64_t revision;
	char err[1024];

	if (backend->ops->load(backend, fresh, false, err, sizeof(err)) !=
	    BACKEND_LOAD_OK) {
		log_warnx("etcd: %s", err);
		store_free(fresh);
		return;
	}
	server.last_load = now_wall();
	revision = store_revision(fresh);
	if (store_equal(fresh, server.store)) {
		if (revision > store_revision(server.store))
			store_set_revision(server.store, revision);
		store_free_behind(fresh);
		return;
	}
	/* Revisions only go up, also when etcd's went back (a restored
	 * cluster): watchers resume from a revision they have not seen. */
	if (revision <= store_revision(server.store))
		revision = store_revision(server.store) + 1;
	store_set_revision(fresh, revision);
	store_free_behind(server.store);
	server.store = fresh;
	watch_reloaded(revision);
	expire_loaded();
	log_info("etcd: took the cluster's state: %zu keys, revision %llu",
	    store_count(fresh), (unsigned long long)revision);
}

static const struct backend_hooks etcd_hooks = {
	.committed = batch_committed,
	.others_committed = batch_others_committed,
	.others_replaced = etcd_replaced,
	.snapshot_done = compact_settle,
};

/* The password: the file's first line. */
static char *
read_password(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (f == NULL) {
		snprintf(err, errlen, "--etcd-password-file %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	n = getline(&line, &cap, f);
	fclose(f);
	if (n <= 0) {
		snprintf(err, errlen, "--etcd-password-file %s is empty", path);
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

/* The TLS options: a certificate and its key go together, each file is
 * readable now (not only at the first connection), and they are for
 * https:// endpoints. */
static bool
tls_check(char *err, size_t errlen)
{
	const struct {
		const char *opt, *path;
	} files[] = {
		{ "--etcd-cacert", etcd_mode.cacert },
		{ "--etcd-cert", etcd_mode.cert },
		{ "--etcd-key", etcd_mode.key },
	};
	bool any = false;

	if ((etcd_mode.cert == NULL) != (etcd_mode.key == NULL)) {
		snprintf(err, errlen, "%s needs %s",
		    etcd_mode.cert != NULL ? "--etcd-cert" : "--etcd-key",
		    etcd_mode.cert != NULL ? "--etcd-key" : "--etcd-cert");
		return false;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (files[i].path == NULL)
			continue;
		any = true;
		if (access(files[i].path, R_OK) == -1) {
			snprintf(err, errlen, "%s %s: %s", files[i].opt,
			    files[i].path, strerror(errno));
			return false;
		}
	}
	if (any && strstr(etcd_mode.endpoints, "https://") == NULL) {
		snprintf(err, errlen,
		    "--etcd-cacert, --etcd-cert and --etcd-key are for "
		    "https:// endpoints, and --etcd has none");
		return false;
	}
	return true;
}

struct holders_walk {
	void (*fn)(uint64_t holder, void *arg);
	void *arg;
};

static void
holders_one(struct conn *c, void *arg)
{
	struct holders_walk *w = arg;

	if (conn_holder(c) != 0)
		w->fn(conn_holder(c), w->arg);
}

/* The holders of this objd's connections, for the backend's leases. */
static void
live_holders(void (*fn)(uint64_t holder, void *arg), void *arg)
{
	struct holders_walk w = { fn, arg };

	conn_foreach(holders_one, &w);
}

struct backend *
etcd_mode_start(char *err, size_t errlen)
{
	struct backend_etcd_config cfg = { 0 };
	struct backend *be;
	struct store *fresh;
	char *password = NULL;

	/* Other hosts write too: requests hand their compares to etcd. */
	batch_want_compares = true;
	cfg.endpoints = etcd_mode.endpoints;
	cfg.prefix = etcd_mode.prefix;
	cfg.live_holders = live_holders;
	cfg.max_txn_ops = etcd_mode.max_txn_ops;
	cfg.max_staleness = etcd_mode.max_staleness;
	if (!tls_check(err, errlen))
		return NULL;
	cfg.cacert = etcd_mode.cacert;
	cfg.cert = etcd_mode.cert;
	cfg.key = etcd_mode.key;
	if (etcd_mode.password_file != NULL && etcd_mode.user == NULL) {
		snprintf(err, errlen, "--etcd-password-file needs --etcd-user");
		return NULL;
	}
	if (etcd_mode.user != NULL) {
		if (etcd_mode.password_file == NULL) {
			snprintf(err, errlen,
			    "--etcd-user needs --etcd-password-file");
			return NULL;
		}
		if ((password = read_password(etcd_mode.password_file, err,
		         errlen)) == NULL)
			return NULL;
		cfg.user = etcd_mode.user;
		cfg.password = password;
	}
	be = backend_etcd_open(server.base, &cfg, &etcd_hooks, err, errlen);
	if (password != NULL) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	if (be == NULL)
		return NULL;
	fresh = store_new();
	if (be->ops->load(be, fresh, true, err, errlen) != BACKEND_LOAD_OK) {
		/* Served from the file until etcd answers: the load goes on
		 * in the background and replaces it then. */
		log_warnx("%s; serving %s's state (revision %llu) until etcd "
		          "answers",
		    err, options.file_path,
		    (unsigned long long)store_revision(server.store));
		store_free(fresh);
		return be;
	}
	store_free(server.store);
	server.store = fresh;
	server.last_load = now_wall();
	log_info("etcd: loaded %s from %s: %zu keys, revision %llu",
	    cfg.prefix ? cfg.prefix : BACKEND_ETCD_PREFIX, cfg.endpoints,
	    store_count(fresh), (unsigned long long)store_revision(fresh));
	return be;
}

bool
etcd_mode_reload(char *err, size_t errlen)
{
	if (etcd_mode.endpoints == NULL || backend == NULL)
		return false;
	log_info("etcd: reading %s again",
	    etcd_mode.prefix != NULL ? etcd_mode.prefix : BACKEND_ETCD_PREFIX);
	backend_etcd_resync(backend);
	return true;
}

void
etcd_mode_status(Objd__StatusInfo *info)
{
	static Objd__EtcdStatus es;
	struct backend_etcd_stats st;

	if (etcd_mode.endpoints == NULL || backend == NULL) {
		info->backend = (char *)"file";
		return;
	}
	info->backend = (char *)"etcd";
	backend_etcd_stats(backend, &st);
	objd__etcd_status__init(&es);
	es.endpoint = (char *)st.endpoint;
	es.prefix = (char *)st.prefix;
	es.reachable = st.reachable;
	es.since = st.since;
	es.last_contact = st.last_contact;
	es.cache_revision = st.cache_revision;
	es.etcd_revision = st.etcd_revision;
	es.reconnects = st.reconnects;
	es.resyncs = st.resyncs;
	es.cluster_id = st.cluster_id;
	es.connections_open = st.conns_open;
	es.connections_opened = st.conns_opened;
	info->etcd = &es;
}

void
etcd_mode_stop(void)
{
	char err[1024];

	/* The cache file, for a start while etcd cannot be reached. */
	if (objfile_rewrite(server.file, server.store, err, sizeof(err)) == -1)
		log_warnx("cannot write the cache %s: %s", options.file_path,
		    err);
}
