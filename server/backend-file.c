/* SPDX-License-Identifier: ISC */
/* backend-file.c: the local object file as the backend: the one owner of
 * its write side.
 *
 * A batch is encoded as fragments, each closed by a commit, and appended
 * into the file's preallocated room in one write (objfile.c). With
 * --fsync always its fdatasync runs on the sync thread (syncer.c) while
 * the loop gathers the next batch; the batch is over once the sync is
 * in. With --fsync interval a timer syncs each second. Compaction runs
 * in a child process; rewrite and reject replace or move the file after
 * a reload. Whatever touches the file first waits for the sync in flight
 * (file_settle), so the thread is never syncing a file that goes. */
#include <sys/wait.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backend.h"
#include "log.h"
#include "xmalloc.h"

struct file_backend {
	struct backend be; /* first: a struct backend * is one of these */
	struct objfile *f;
	/* The batch whose sync is in flight, and its fragments. */
	struct backend_batch *syncing;
	struct objfile_changes out;
	struct event *sync_timer; /* --fsync interval */
	double compact_began;     /* monotonic, for the log */
};

/* The one file backend: the sync thread's callback takes no argument. */
static struct file_backend *file_backend;

/* Each change of the batch takes the next revision, in arrival order; a
 * txn without changes takes the revision of the one before. Sets
 * b->revision to the revision after the last. */
static void
file_encode(struct objfile_changes *out, struct backend_batch *b)
{
	struct backend_change *changes = b->changes;
	struct backend_txn *txns = b->txns;
	uint64_t revision = b->base;
	size_t i = 0, n = b->nchanges;
	bool expiring = false;

	for (size_t t = 0; t < b->ntxns; t++) {
		if (!txns[t].changes) {
			txns[t].revision = revision;
			continue;
		}
		revision++;
		txns[t].revision = revision;
		for (; i < n && changes[i].txn == t; i++) {
			struct store_entry *e = changes[i].entry;

			e->revision = revision;
			if (changes[i].delete)
				objfile_change_delete(out, e->data, e->keylen);
			else
				objfile_change_set_leased(out, e->data,
				    e->keylen, STORE_ENTRY_VALUE(e), e->vallen,
				    txns[t].deadline, txns[t].holder);
		}
		/* The versions the changes make take the time of the commit:
		 * written in the first change, after its entries, and again
		 * where a change's deletes start or stop being expiries. */
		if (history_depth > 0 &&
		    (revision == b->base + 1 || txns[t].expire != expiring)) {
			objfile_change_time(out, b->time, txns[t].expire);
			expiring = txns[t].expire;
		}
		objfile_change_commit(out, revision);
	}
	b->revision = revision;
}

/* Ends b: every txn with changes made (OBJFILE_DONE) or not (err). */
static void
file_done(struct file_backend *fb, struct backend_batch *b,
    enum objfile_result rc, const char *err)
{
	bool done = rc == OBJFILE_DONE;

	objfile_changes_free(fb->f, &fb->out);
	for (size_t i = 0; i < b->ntxns; i++) {
		b->txns[i].status = done ? BACKEND_OK : BACKEND_FAILED;
		if (!done)
			b->txns[i].revision = b->base;
	}
	if (!done) {
		b->error = xstrdup(err);
		b->revision = b->base;
	}
	fb->be.hooks->committed(b);
}

/* The sync thread is done: sync_errno is its fdatasync's. */
static void
file_synced(int sync_errno)
{
	struct file_backend *fb = file_backend;
	struct backend_batch *b = fb->syncing;
	char err[1024];
	enum objfile_result rc;

	fb->syncing = NULL;
	rc = objfile_append_finish(fb->f, &fb->out, sync_errno, err,
	    sizeof(err));
	file_done(fb, b, rc, err);
}

static void
file_commit(struct backend *be, struct backend_batch *b)
{
	struct file_backend *fb = (struct file_backend *)be;
	char err[1024];
	enum objfile_result rc;

	objfile_changes_init(fb->f, &fb->out);
	file_encode(&fb->out, b);
	if (b->revision == b->base) {
		/* Answers kept in order, and nothing to write. */
		file_done(fb, b, OBJFILE_DONE, NULL);
		return;
	}
	/* The store is the state before the batch, for when the file
	 * must be started anew. */
	rc = objfile_append_start(fb->f, server.store, &fb->out, err,
	    sizeof(err));
	if (rc == OBJFILE_GAVE_WAY) {
		/* Another program's file came first: loaded now, it is
		 * what the refused clients' next try builds on. */
		be->hooks->others_replaced();
		rc = OBJFILE_FAILED;
	}
	if (rc == OBJFILE_DONE && objfile_append_needs_sync(fb->f) &&
	    syncer_start(objfile_fd(fb->f), file_synced)) {
		fb->syncing = b;
		return;
	}
	if (rc == OBJFILE_DONE)
		rc = objfile_append_finish(fb->f, &fb->out,
		    objfile_append_needs_sync(fb->f)
		        ? objfile_append_sync(fb->f)
		        : 0,
		    err, sizeof(err));
	file_done(fb, b, rc, err);
}

static void
file_settle(struct backend *be)
{
	struct file_backend *fb = (struct file_backend *)be;

	if (fb->syncing != NULL)
		file_synced(syncer_wait());
}

static void
file_sync_cb(evutil_socket_t fd, short events, void *arg)
{
	struct file_backend *fb = arg;
	char err[1024];

	(void)fd;
	(void)events;
	if (objfile_sync(fb->f, err, sizeof(err)) == OBJFILE_FAILED)
		log_warnx("%s", err);
}

static bool
file_start(struct backend *be, char *err, size_t errlen)
{
	struct file_backend *fb = (struct file_backend *)be;
	struct timeval second = { 1, 0 };

	if (options.fsync != FSYNC_INTERVAL)
		return true;
	fb->sync_timer =
	    event_new(server.base, -1, EV_PERSIST, file_sync_cb, fb);
	if (fb->sync_timer == NULL ||
	    event_add(fb->sync_timer, &second) == -1) {
		snprintf(err, errlen, "cannot create the sync timer");
		return false;
	}
	return true;
}

static enum backend_load
file_load(struct backend *be, struct store *s, bool recover, char *err,
    size_t errlen)
{
	struct file_backend *fb = (struct file_backend *)be;

	switch (objfile_load(fb->f, s, recover, err, errlen)) {
	case OBJFILE_LOADED:
		return BACKEND_LOAD_OK;
	case OBJFILE_LOADED_FOREIGN:
		return BACKEND_LOAD_FOREIGN;
	case OBJFILE_LOAD_FAILED:
		break;
	}
	return BACKEND_LOAD_FAILED;
}

static bool
file_outside_replacement(const struct backend *be)
{
	(void)be;
	return true;
}

static enum backend_outside
file_check(struct backend *be)
{
	struct file_backend *fb = (struct file_backend *)be;

	switch (objfile_check(fb->f)) {
	case OBJFILE_CHANGED:
		return BACKEND_CHANGED;
	case OBJFILE_MISSING:
		return BACKEND_MISSING;
	default:
		return BACKEND_UNCHANGED;
	}
}

static void
file_same_state(struct backend *be)
{
	objfile_same_state(((struct file_backend *)be)->f);
}

static enum backend_outside
file_rewrite(struct backend *be, const struct store *s, bool only_if_same,
    char *err, size_t errlen)
{
	struct file_backend *fb = (struct file_backend *)be;
	enum objfile_result rc;

	/* The sync thread must be done with the file that goes. */
	file_settle(be);
	rc = only_if_same ? objfile_write_back(fb->f, s, err, errlen)
	                  : objfile_rewrite(fb->f, s, err, errlen);
	if (rc == OBJFILE_GAVE_WAY)
		return BACKEND_CHANGED;
	/* A rewrite stands in for a compaction under way. */
	be->hooks->snapshot_done(rc == OBJFILE_DONE,
	    rc == OBJFILE_DONE ? NULL : err);
	return rc == OBJFILE_DONE ? BACKEND_UNCHANGED : BACKEND_MISSING;
}

static enum backend_outside
file_reject(struct backend *be, char **moved, char *err, size_t errlen)
{
	struct file_backend *fb = (struct file_backend *)be;

	switch (objfile_reject(fb->f, moved, err, errlen)) {
	case OBJFILE_DONE:
		return BACKEND_UNCHANGED;
	case OBJFILE_GAVE_WAY:
		return BACKEND_CHANGED;
	case OBJFILE_FAILED:
		break;
	}
	return BACKEND_MISSING;
}

static bool
file_compact(struct backend *be, const struct store *s, char *err,
    size_t errlen)
{
	struct file_backend *fb = (struct file_backend *)be;

	if (objfile_compacting(fb->f))
		return true;
	/* The child writes the store: a batch in flight, in the file but
	 * not yet in the store, would be in neither the copy nor its tail. */
	file_settle(be);
	if (objfile_compact_start(fb->f, s, err, errlen) == -1) {
		log_warnx("%s", err);
		be->hooks->snapshot_done(false, err);
		return false;
	}
	fb->compact_began = now_monotonic();
	log_info("compacting %s: %llu bytes for %zu keys", options.file_path,
	    (unsigned long long)objfile_stats(fb->f)->file_size,
	    store_count(s));
	return true;
}

static bool
file_compacting(const struct backend *be)
{
	return objfile_compacting(((const struct file_backend *)be)->f);
}

static uint64_t
file_compact_backlog(const struct backend *be)
{
	return objfile_compact_backlog(((const struct file_backend *)be)->f);
}

static void
file_child_exited(struct backend *be)
{
	struct file_backend *fb = (struct file_backend *)be;
	pid_t child = objfile_compact_child(fb->f);
	char err[1024];
	int status, rc;

	/* A reload's write-back runs as a child too: reload.c waits for
	 * it (reload_child_exited). */
	if (child == -1 || objfile_writing_back(fb->f))
		return;
	while ((rc = waitpid(child, &status, WNOHANG)) == -1 && errno == EINTR)
		;
	if (rc != child)
		return;
	/* The sync thread must be done with the file that goes. */
	file_settle(be);
	if (objfile_compact_finish(fb->f, status, err, sizeof(err)) ==
	    OBJFILE_FAILED) {
		log_warnx("%s", err);
		be->hooks->snapshot_done(false, err);
		return;
	}
	log_info("compacted %s to %llu bytes in %.1f ms", options.file_path,
	    (unsigned long long)objfile_stats(fb->f)->file_size,
	    (now_monotonic() - fb->compact_began) * 1e3);
	be->hooks->snapshot_done(true, NULL);
}

static void
file_stats(const struct backend *be, struct backend_stats *st)
{
	const struct objfile_stats *os =
	    objfile_stats(((const struct file_backend *)be)->f);

	st->file_size = os->file_size;
	st->file_room = os->file_room;
	st->compacted_size = os->compacted_size;
	st->last_compaction = os->last_compaction;
	st->recovered_bytes = os->recovered_bytes;
}

static void
file_close(struct backend *be)
{
	struct file_backend *fb = (struct file_backend *)be;

	file_settle(be);
	syncer_stop();
	if (fb->sync_timer != NULL)
		event_free(fb->sync_timer);
	/* The file itself stays open: objfile_close is main.c's, after. */
	file_backend = NULL;
	free(fb);
}

static const struct backend_ops file_ops = {
	.name = "file",
	.start = file_start,
	.commit = file_commit,
	.settle = file_settle,
	.load = file_load,
	.outside_replacement = file_outside_replacement,
	.check = file_check,
	.same_state = file_same_state,
	.rewrite = file_rewrite,
	.reject = file_reject,
	.compact = file_compact,
	.compacting = file_compacting,
	.compact_backlog = file_compact_backlog,
	.child_exited = file_child_exited,
	.stats = file_stats,
	.close = file_close,
};

struct backend *
backend_file_new(struct objfile *f, const struct backend_hooks *hooks)
{
	struct file_backend *fb = xcalloc(1, sizeof(*fb));

	fb->be.ops = &file_ops;
	fb->be.hooks = hooks;
	fb->f = f;
	file_backend = fb;
	return &fb->be;
}
