/* SPDX-License-Identifier: ISC */
/* watch.c: clients that follow changes, and the recent history that lets
 * them resume.
 *
 * Every committed change is recorded in a bounded history and sent to the
 * watchers whose prefix it matches, as it is applied: so events go out in
 * revision order and only once durable. A watcher that does not read
 * while objd keeps writing to it would make objd's memory grow without
 * bound; past WATCH_OUTPUT_MAX of unsent output it is told and dropped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "objd.h"
#include "xmalloc.h"

/* The history holds at most this many events, and this many bytes. */
#define HISTORY_MAX_EVENTS 100000
#define HISTORY_MAX_BYTES (64 * 1024 * 1024)
/* Its keys and values are laid one after the other in chunks of this
 * size (a larger one gets a chunk of its own). Events leave in the order
 * they came, so chunks empty in that order too: a change costs a copy
 * and no allocation, where a block of its own for each event cost a
 * realloc of the one it pushed out at every set. */
#define HISTORY_CHUNK (64 * 1024)

struct history_chunk {
	struct history_chunk *next;
	size_t size, used;
	size_t events; /* in the ring, with their bytes here */
	uint8_t data[];
};

/* The ring holds HISTORY_MAX_EVENTS of these whatever the changes' size,
 * so after a load they are most of the history's memory: an event keeps
 * only what it cannot find elsewhere. Its chunk is not kept, as events
 * leave in the order they came and so always from the first chunk; the
 * lengths of a copy are short, as only values of less than WATCH_REF_MIN
 * bytes are copied and keys are short (a longer one, that only a file or
 * an etcd written by others could hold, gets an entry of its own). */
struct watch_event {
	uint64_t revision;
	union {
		/* The copy, in a chunk: the key, and its value after it. NULL
		 * for RELOAD. */
		char *key;
		/* A set of a value of WATCH_REF_MIN bytes or more keeps no
		 * copy: key and value are in the store entry it made. The
		 * store (or the key's history) owns that entry while it holds
		 * it; whoever frees it then goes through store_entry_free,
		 * which hands it to the event (owned) while the event is in
		 * the ring. */
		struct store_entry *entry;
	};
	uint16_t keylen, vallen; /* of the copy */
	uint8_t type;
	bool has_entry;
	bool owned;
	/* Owned, and its pages hidden from compactions' children
	 * (forkhide.c): only the store's entries and the keys' past
	 * versions go into a compaction. */
	bool hidden;
};

struct watcher {
	TAILQ_ENTRY(watcher) entry;
	struct conn *conn;
	uint64_t id;
	char *prefix;
	size_t prefixlen;
};
TAILQ_HEAD(watcher_list, watcher);

static struct {
	struct watch_event *ring; /* HISTORY_MAX_EVENTS slots */
	size_t head, count;       /* the oldest event, and how many */
	size_t bytes;
	size_t pinned;                      /* events with an entry */
	struct history_chunk *first, *last; /* the oldest, the one filling */
	/* Every change after this revision is in the ring. */
	uint64_t complete_after;
	struct watcher_list watchers;
} watch;

static void watch_store_freeing(const struct store *s);

void
watch_init(void)
{
	watch.ring = xcalloc(HISTORY_MAX_EVENTS, sizeof(*watch.ring));
	watch.complete_after = store_revision(server.store);
	TAILQ_INIT(&watch.watchers);
	store_adopt_hook = watch_adopt;
	store_freeing_hook = watch_store_freeing;
}

/* Room for n bytes of the newest event, in the chunk being filled or a
 * new one. */
static uint8_t *
history_take(size_t n)
{
	struct history_chunk *c = watch.last;
	uint8_t *p;

	if (c == NULL || c->size - c->used < n) {
		size_t size = n > HISTORY_CHUNK ? n : HISTORY_CHUNK;

		if (c != NULL && c->events == 0) {
			/* Empty, so the only one left (history_release), and
			 * too small: it goes. */
			free(c);
			watch.first = watch.last = NULL;
		}
		c = xmalloc(sizeof(*c) + size);
		c->next = NULL;
		c->size = size;
		c->used = 0;
		c->events = 0;
		if (watch.last != NULL)
			watch.last->next = c;
		else
			watch.first = c;
		watch.last = c;
	}
	p = c->data + c->used;
	c->used += n;
	c->events++;
	return p;
}

/* The oldest event has left: its chunk goes once its last event has.
 * That chunk is then the first; if it is also the one being filled, it
 * is filled again from its start. */
static void
history_release(struct history_chunk *c)
{
	if (c == NULL || --c->events > 0)
		return;
	if (c == watch.last) {
		c->used = 0;
		return;
	}
	watch.first = c->next;
	free(c);
}

static const char *
event_key(const struct watch_event *ev)
{
	return ev->has_entry ? ev->entry->data : ev->key;
}

static size_t
event_keylen(const struct watch_event *ev)
{
	return ev->has_entry ? ev->entry->keylen : ev->keylen;
}

/* NULL for DELETE and RELOAD. */
static const uint8_t *
event_val(const struct watch_event *ev)
{
	if (ev->type != OBJD__EVENT__TYPE__SET)
		return NULL;
	if (ev->has_entry)
		return (const uint8_t *)STORE_ENTRY_VALUE(ev->entry);
	return (const uint8_t *)ev->key + ev->keylen;
}

static size_t
event_vallen(const struct watch_event *ev)
{
	return ev->has_entry ? ev->entry->vallen : ev->vallen;
}

static size_t
entry_size(const struct store_entry *e)
{
	return sizeof(*e) + e->keylen + 1 + e->vallen;
}

/* ev now owns its entry. */
static void
watch_event_own(struct watch_event *ev)
{
	ev->owned = true;
	ev->hidden = forkhide_hide(ev->entry, entry_size(ev->entry));
}

/* Drops the oldest event. */
static void
watch_event_drop(struct watch_event *ev)
{
	watch.bytes -= event_keylen(ev) + event_vallen(ev);
	if (ev->has_entry) {
		if (ev->hidden)
			forkhide_show(ev->entry, entry_size(ev->entry));
		if (ev->owned)
			free(ev->entry);
		watch.pinned--;
	} else if (ev->key != NULL)
		history_release(watch.first);
	memset(ev, 0, sizeof(*ev));
}

bool
watch_adopt(struct store_entry *e)
{
	size_t lo = 0, hi = watch.count;

	if (watch.pinned == 0)
		return false;
	/* The ring is in revision order, and an entry keeps the revision
	 * of the set that made it while the store holds it. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (watch.ring[(watch.head + mid) % HISTORY_MAX_EVENTS]
		        .revision < e->revision)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < watch.count; lo++) {
		struct watch_event *ev =
		    &watch.ring[(watch.head + lo) % HISTORY_MAX_EVENTS];

		if (ev->revision != e->revision)
			break;
		if (ev->has_entry && ev->entry == e && !ev->owned) {
			watch_event_own(ev);
			return true;
		}
	}
	return false;
}

/* s is about to be freed whole: if it is the served store, the events
 * that keep its entries take copies of them. */
static void
watch_store_freeing(const struct store *s)
{
	if (s != server.store)
		return;
	for (size_t i = 0; i < watch.count && watch.pinned > 0; i++) {
		struct watch_event *ev =
		    &watch.ring[(watch.head + i) % HISTORY_MAX_EVENTS];
		struct store_entry *e = ev->entry;

		if (!ev->has_entry || ev->owned)
			continue;
		/* The store goes whole, on a thread of its own perhaps: the
		 * event keeps a copy of its own. */
		e = store_entry_new(e->data, e->keylen, STORE_ENTRY_VALUE(e),
		    e->vallen, e->revision);
		ev->entry = e;
		watch_event_own(ev);
	}
}

void
watch_free(void)
{
	struct watcher *w;

	while ((w = TAILQ_FIRST(&watch.watchers)) != NULL) {
		TAILQ_REMOVE(&watch.watchers, w, entry);
		free(w->prefix);
		free(w);
	}
	for (size_t i = 0; i < watch.count; i++)
		watch_event_drop(
		    &watch.ring[(watch.head + i) % HISTORY_MAX_EVENTS]);
	free(watch.last);
	free(watch.ring);
	memset(&watch, 0, sizeof(watch));
	store_adopt_hook = NULL;
	store_freeing_hook = NULL;
}

static bool
watch_matches(const struct watcher *w, const struct watch_event *ev)
{
	const char *key = event_key(ev);

	return key == NULL ||
	    (event_keylen(ev) >= w->prefixlen &&
	        memcmp(key, w->prefix, w->prefixlen) == 0);
}

static void
watch_item(struct reply_item *it, const struct watch_event *ev)
{
	it->key = event_key(ev) != NULL ? event_key(ev) : "";
	it->keylen = event_keylen(ev);
	it->val = event_val(ev);
	it->vallen = event_vallen(ev);
	it->revision = ev->revision;
	it->type = ev->type;
	it->ttl_ms = 0;
}

/* Sends ev to w; drops w if it has fallen too far behind. */
static void
watch_send(struct watcher *w, const struct watch_event *ev)
{
	struct reply_item it;
	size_t queued;

	if (!watch_matches(w, ev) || !conn_answers_go(w->conn))
		return;
	watch_item(&it, ev);
	reply_events(w->conn, w->id, ev->revision, &it, 1);
	queued = conn_output_len(w->conn);
	if (queued > options.watch_output_max) {
		char why[160];

		snprintf(why, sizeof(why),
		    "watch dropped: the client fell %zu bytes behind (the "
		    "most is %zu); watch again with --since the last "
		    "revision it saw",
		    queued, options.watch_output_max);
		reply_status(w->conn, w->id, OBJD__STATUS__FAILED, why);
		conn_fail(w->conn, why);
	}
}

/* Records a change, and sends it to the watchers it concerns; entry, if
 * not NULL, holds key and val, and is kept instead of a copy. */
static void
watch_record(uint64_t revision, unsigned type, const char *key, size_t keylen,
    const uint8_t *val, size_t vallen, struct store_entry *entry)
{
	struct watch_event *ev;
	struct watcher *w, *next;

	while (watch.count > 0 &&
	    (watch.count == HISTORY_MAX_EVENTS ||
	        watch.bytes + keylen + vallen > HISTORY_MAX_BYTES)) {
		ev = &watch.ring[watch.head];
		watch.complete_after = ev->revision;
		watch_event_drop(ev);
		watch.head = (watch.head + 1) % HISTORY_MAX_EVENTS;
		watch.count--;
	}
	ev = &watch.ring[(watch.head + watch.count++) % HISTORY_MAX_EVENTS];
	ev->revision = revision;
	ev->type = (uint8_t)type;
	ev->keylen = ev->vallen = 0;
	ev->owned = ev->hidden = false;
	ev->has_entry =
	    entry != NULL || keylen > UINT16_MAX || vallen > UINT16_MAX;
	if (ev->has_entry) {
		ev->entry = entry;
		if (entry == NULL) {
			ev->entry =
			    store_entry_new(key, keylen, val, vallen, revision);
			watch_event_own(ev);
		}
		watch.pinned++;
	} else if (key != NULL) {
		ev->key = (char *)history_take(keylen + vallen);
		memcpy(ev->key, key, keylen);
		if (val != NULL)
			memcpy(ev->key + keylen, val, vallen);
		ev->keylen = (uint16_t)keylen;
		ev->vallen = (uint16_t)vallen;
	} else
		ev->key = NULL;
	watch.bytes += keylen + vallen;
	for (w = TAILQ_FIRST(&watch.watchers); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		watch_send(w, ev);
	}
}

void
watch_changed(struct store_entry *e, unsigned type)
{
	bool deleted = type != OBJD__EVENT__TYPE__SET;

	watch_record(e->revision, type, e->data, e->keylen,
	    deleted ? NULL : STORE_ENTRY_VALUE(e), deleted ? 0 : e->vallen,
	    !deleted && e->vallen >= WATCH_REF_MIN ? e : NULL);
}

void
watch_reloaded(uint64_t revision)
{
	watch_record(revision, OBJD__EVENT__TYPE__RELOAD, NULL, 0, NULL, 0,
	    NULL);
}

void
watch_conn_gone(struct conn *c)
{
	struct watcher *w, *next;

	for (w = TAILQ_FIRST(&watch.watchers); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->conn != c)
			continue;
		TAILQ_REMOVE(&watch.watchers, w, entry);
		free(w->prefix);
		free(w);
	}
}

/* objd stops: every watch gets a last answer that says so, after the
 * changes committed before the stop, so that a watcher can tell a clean
 * stop from a crash or a dropped connection. */
void
watch_stopping(void)
{
	struct watcher *w;

	TAILQ_FOREACH (w, &watch.watchers, entry) {
		if (!conn_answers_go(w->conn))
			continue;
		reply_status(w->conn, w->id, OBJD__STATUS__FAILED,
		    "objd stopped: watch again once it is back, with --since "
		    "the last revision seen");
	}
}

uint64_t
watch_oldest_held(void)
{
	return watch.complete_after;
}

void
watch_start(struct conn *c, uint64_t id, const char *prefix, uint64_t since)
{
	struct watcher *w = xcalloc(1, sizeof(*w));

	w->conn = c;
	w->id = id;
	w->prefix = xstrdup(prefix);
	w->prefixlen = strlen(prefix);
	TAILQ_INSERT_TAIL(&watch.watchers, w, entry);
	if (since == 0)
		return;
	for (size_t i = 0; i < watch.count; i++) {
		struct watch_event *ev =
		    &watch.ring[(watch.head + i) % HISTORY_MAX_EVENTS];

		if (ev->revision > since)
			watch_send(w, ev);
	}
}
