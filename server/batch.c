/* batch.c: group commit.
 *
 * A write is not applied when it arrives: its changes wait in the batch,
 * the client that sent it waits too (so its answers stay in order), and
 * other clients go on reading the committed state. When the event loop has
 * run every callback of its turn, the batch is appended to the file in one
 * write (and one fsync, with --fsync always), then applied, then answered.
 * If the file cannot be written, every write of the batch is answered
 * FAILED and nothing of it is applied: no client ever sees a change that
 * is not in the file. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "objd.h"
#include "xmalloc.h"

struct batch_change {
	struct store_entry *entry; /* the new entry, or the key to delete */
	size_t waiter; /* the index of the change it is part of */
	bool delete;
};

struct batch_waiter {
	struct conn *conn;
	uint64_t id;
	Objd__Status status;
	char *error;
};

static struct {
	struct batch_change *changes;
	size_t nchanges, capchanges;
	struct batch_waiter *waiters;
	size_t nwaiters, capwaiters;
	struct event *ev;
	struct event *sync_timer; /* --fsync interval */
} batch;

static void batch_sync_cb(evutil_socket_t, short, void *);

static void
batch_commit_cb(evutil_socket_t fd, short events, void *arg)
{
	batch_commit();
}

void
batch_init(void)
{
	struct timeval second = { 1, 0 };

	batch.ev = event_new(server.base, -1, 0, batch_commit_cb, NULL);
	if (batch.ev == NULL)
		fatalx("cannot create the commit event");
	if (server.fsync != FSYNC_INTERVAL)
		return;
	batch.sync_timer = event_new(server.base, -1, EV_PERSIST,
	    batch_sync_cb, NULL);
	if (batch.sync_timer == NULL ||
	    event_add(batch.sync_timer, &second) == -1)
		fatalx("cannot create the sync timer");
}

void
batch_free(void)
{
	if (batch.ev != NULL)
		event_free(batch.ev);
	if (batch.sync_timer != NULL)
		event_free(batch.sync_timer);
	free(batch.changes);
	free(batch.waiters);
	memset(&batch, 0, sizeof(batch));
}

bool
batch_pending(void)
{
	return batch.nwaiters > 0;
}

const struct store_entry *
batch_lookup(const char *key, size_t keylen, bool *pending)
{
	for (size_t i = batch.nchanges; i-- > 0;) {
		struct batch_change *ch = &batch.changes[i];

		if (ch->entry->keylen == keylen &&
		    memcmp(ch->entry->data, key, keylen) == 0) {
			*pending = true;
			return ch->delete ? NULL : ch->entry;
		}
	}
	*pending = false;
	return store_get(server.store, key, keylen);
}

void
batch_begin(struct conn *c, uint64_t id)
{
	struct batch_waiter *w;

	if (batch.nwaiters == batch.capwaiters) {
		batch.capwaiters = batch.capwaiters ? batch.capwaiters * 2 : 16;
		batch.waiters = xreallocarray(
		    batch.waiters, batch.capwaiters, sizeof(*batch.waiters));
	}
	w = &batch.waiters[batch.nwaiters++];
	w->conn = c;
	w->id = id;
	w->status = OBJD__STATUS__OK;
	w->error = NULL;
	c->pending++;
	bufferevent_disable(c->bev, EV_READ);
	if (batch.nwaiters == 1)
		event_active(batch.ev, 0, 0);
}

static void
batch_add(struct store_entry *e, bool delete)
{
	if (batch.nchanges == batch.capchanges) {
		batch.capchanges = batch.capchanges ? batch.capchanges * 2 : 16;
		batch.changes = xreallocarray(
		    batch.changes, batch.capchanges, sizeof(*batch.changes));
	}
	batch.changes[batch.nchanges++] = (struct batch_change){
		.entry = e, .waiter = batch.nwaiters - 1, .delete = delete
	};
}

void
batch_add_set(const char *key, size_t keylen, const uint8_t *val, size_t vallen)
{
	batch_add(store_entry_new(key, keylen, val, vallen, 0), false);
}

void
batch_add_delete(const char *key, size_t keylen)
{
	batch_add(store_entry_new(key, keylen, NULL, 0, 0), true);
}

void
batch_foreach_set(void (*fn)(const struct store_entry *, void *), void *arg)
{
	for (size_t i = 0; i < batch.nchanges; i++)
		if (!batch.changes[i].delete)
			fn(batch.changes[i].entry, arg);
}

void
batch_end(Objd__Status status, const char *error)
{
	struct batch_waiter *w = &batch.waiters[batch.nwaiters - 1];

	w->status = status;
	w->error = error != NULL ? xstrdup(error) : NULL;
}

/* Each change of the batch takes the next revision, in arrival order;
 * they are numbered only now, so a reload in between cannot skew them. */
/* Each change of the batch takes the next revision, in arrival order;
 * they are numbered only now, so a reload in between cannot skew them. */
static void
batch_encode(struct objfile_changes *out, struct batch_change *changes,
    size_t n, size_t nwaiters, uint64_t base)
{
	size_t i = 0;

	for (size_t w = 0; w < nwaiters; w++) {
		for (; i < n && changes[i].waiter == w; i++) {
			struct store_entry *e = changes[i].entry;

			e->revision = base + w + 1;
			if (changes[i].delete)
				objfile_change_delete(out, e->data, e->keylen);
			else
				objfile_change_set(out, e->data, e->keylen,
				    STORE_ENTRY_VALUE(e), e->vallen);
		}
		objfile_change_commit(out, base + w + 1);
	}
}

static void
batch_apply(struct batch_change *changes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct batch_change *ch = &changes[i];

		if (ch->delete) {
			free(store_remove(server.store, ch->entry->data,
			    ch->entry->keylen));
			watch_changed(ch->entry, true);
			free(ch->entry);
		} else {
			free(store_put(server.store, ch->entry));
			watch_changed(ch->entry, false);
		}
	}
}

void
batch_commit(void)
{
	struct batch_change *changes = batch.changes;
	struct batch_waiter *waiters = batch.waiters;
	size_t nchanges = batch.nchanges, nwaiters = batch.nwaiters;
	uint64_t before = store_revision(server.store);
	struct objfile_changes out;
	char err[1024];
	int rc;

	if (nwaiters == 0)
		return;
	/* Answering resumes clients, which may open the next batch. */
	batch.changes = NULL;
	batch.waiters = NULL;
	batch.nchanges = batch.capchanges = 0;
	batch.nwaiters = batch.capwaiters = 0;

	objfile_changes_init(server.file, &out);
	batch_encode(&out, changes, nchanges, nwaiters, before);
	rc = objfile_append(server.file, server.store, &out, err, sizeof(err));
	objfile_changes_free(&out);
	free(server.last_write_error);
	server.last_write_error = NULL;
	if (rc == 0) {
		batch_apply(changes, nchanges);
		store_set_revision(server.store, before + nwaiters);
		server.last_save = now_wall();
	} else {
		log_warnx("%s; %zu change(s) refused", err, nwaiters);
		server.last_write_error = xstrdup(err);
		for (size_t i = 0; i < nchanges; i++)
			free(changes[i].entry);
	}
	free(changes);

	for (size_t i = 0; i < nwaiters; i++) {
		struct batch_waiter *w = &waiters[i];

		if (rc == -1)
			reply_result(w->conn, w->id, OBJD__STATUS__FAILED, err,
			    before);
		else
			reply_result(w->conn, w->id, w->status, w->error,
			    before + i + 1);
		free(w->error);
		w->conn->pending--;
		conn_release(w->conn);
	}
	free(waiters);
	if (rc == 0)
		compact_maybe();
}

static void
batch_sync_cb(evutil_socket_t fd, short events, void *arg)
{
	char err[1024];

	if (objfile_sync(server.file, err, sizeof(err)) == -1)
		log_warnx("%s", err);
}
