/* SPDX-License-Identifier: ISC */
/* compact.c: when to rewrite the object file with only the live state.
 *
 * The file grows by one fragment per change. Once it holds more than
 * about twice the live state (and at least COMPACT_FLOOR bytes, so a small
 * busy file is not rewritten all the time), or when a client asks, a child
 * process writes the live state to a new file (objfile.c).
 *
 * A compaction costs a fork, and a copy of each page objd writes while the
 * child runs. Under a heavy stream of changes to a small object the 2x
 * rule alone forks several times a second, which costs a pipeline of sets
 * a good part of its rate and its tail latency, so automatic compactions
 * start at most COMPACT_INTERVAL apart: the file
 * then holds at most that long's changes beyond twice the live state.
 *
 * But where values are large, an interval is a lot of bytes: the file of
 * one key of 1 MiB, rewritten in a loop, grew to hundreds of MB in it.
 * So a compaction also starts without waiting once the dead bytes reach
 * COMPACT_DEAD_MIN, if the file has grown by as much as the last
 * compaction left, and COMPACT_DEAD_SPACING has passed since the last
 * one began. The file then stays within twice the live state and
 * COMPACT_DEAD_MIN, plus what is written in that spacing and while a
 * compaction runs. The minimum and the growth are redis's rule for its
 * AOF rewrites. Each compaction costs a fork, a child's start and exit,
 * the sync of its snapshot, a copy of the changes that came during that
 * sync, and the close of the old file: compacting after every 16 MiB
 * nearly doubled objd's CPU time for each set of 1 MiB, and without the
 * spacing a stream of such sets to one key compacted every 40 to 60 ms.
 * Redis looks whether a rewrite is due ten times a second, but its
 * rewrites come further apart: the AOF written while one syncs its base
 * counts in the size it leaves. A fifth of a second apart, objd's
 * compactions of a small object under that stream come about as often,
 * and its file stays smaller than redis's folder.
 * The growth is what a compaction writes, the size it leaves: at most
 * one byte for each byte of the changes. And the changes made while the
 * child ran are written again after its snapshot: when they were many,
 * compacting again at once would write every change twice, for good.
 *
 * The interval has no such rule, though the live state may be large
 * (100 versions of each of 100,000 keys are some 250 MB of file): the
 * changes made while a child runs cost objd nothing but their append,
 * as the child copies them itself (objfile-tail.c), while a file let
 * grow by what the last compaction left held more of the kernel's
 * pages, and each set into pages not used before cost objd more than
 * a compaction more often did.
 *
 * A commit looks whether a compaction is due; but the last commit of a
 * stream may come before the interval is over, and the changes made
 * while a child ran follow its snapshot in the new file: under a stream
 * of large values, that file is about as large as the one it replaced,
 * most of it values already superseded. With no commit after, the file
 * would stay that large. So objd also looks by itself: once the
 * interval is over, when only the interval kept a compaction back; and
 * once a compaction during which changes came is over. A compaction
 * during which none came leaves a file with nothing to drop, and is not
 * followed by a look.
 *
 * A compaction's child runs at a lower priority than objd
 * (objfile-replace.c): where the two share a CPU, clients are served
 * first and the child has the time objd waits for them. Sharing it
 * evenly, the child took half of each set's time from a client that
 * waited for every answer. But a child that objd leaves no time would
 * fall behind without end: the changes it has yet to copy grow, and the
 * file it writes with them. So once they are more than
 * compact_hold_bound, commits wait until the child has caught up or is
 * gone (reads go on), looked at every COMPACT_HOLD_RECHECK_US: the
 * child tells nothing until it exits. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backend.h"
#include "log.h"
#include "objd.h"
#include "xmalloc.h"

#define COMPACT_FLOOR (1024 * 1024)
/* Each entry costs a few bytes of framing beyond its key and value. */
#define COMPACT_ENTRY_OVERHEAD 8

/* After a failed compaction, automatic ones wait this long. */
#define COMPACT_RETRY_SECONDS 60
#define COMPACT_INTERVAL 1.0
#define COMPACT_DEAD_MIN (64 * 1024 * 1024)
#define COMPACT_DEAD_SPACING 0.2
#define COMPACT_HOLD_MIN ((uint64_t)256 * 1024 * 1024)
#define COMPACT_HOLD_RECHECK_US 1000

static struct {
	struct ticket *waiters; /* the clients of objctl compact */
	size_t n, cap;
	double failed_at;
	double started_at; /* the last automatic compaction's start */
	bool running;      /* one this policy started and the backend runs */
	uint64_t started_revision; /* the store's, at the last start */
	uint64_t hold_bound;       /* compact_hold_bound, at the last start */
	struct event *recheck;     /* while commits are held */
	struct event *look;        /* objd's own look (compact_look_later) */
	bool look_failed;
} compact;

/* The bytes a compaction writes for the state, as compact_due counts
 * them. */
static uint64_t
live_bytes(void)
{
	return store_bytes(server.store) +
	    store_count(server.store) * COMPACT_ENTRY_OVERHEAD +
	    /* The history kept is part of what a compaction writes. */
	    history_bytes(store_history(server.store));
}

static bool
compact_start(void)
{
	char err[1024];

	if (backend->ops->compacting(backend))
		return true;
	/* A failure is answered through compact_settle, at once. */
	compact.running = true;
	compact.started_revision = store_revision(server.store);
	compact.hold_bound = compact_hold_bound(live_bytes());
	return backend->ops->compact(backend, server.store, err, sizeof(err));
}

static void
compact_look_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	compact_maybe();
}

/* Looks whether a compaction is due once COMPACT_INTERVAL has passed
 * since the last automatic one began, unless a look is already set for
 * then. The timer runs on libevent's clock, the interval on the wall
 * clock's: a look that comes a little early sets another. Without the
 * timer, the next commit still looks, as it always does. */
static void
compact_look_later(void)
{
	double wait = COMPACT_INTERVAL - (now_wall() - compact.started_at);
	struct timeval tv = { 0, 0 };

	if (compact.look != NULL && evtimer_pending(compact.look, NULL))
		return;
	if (wait > 0) {
		/* Rounded up, so as not to come before it. */
		long us = (long)(wait * 1e6) + 1;

		tv.tv_sec = us / 1000000;
		tv.tv_usec = us % 1000000;
	}
	if ((compact.look != NULL ||
	        (compact.look = evtimer_new(server.base, compact_look_cb,
	             NULL)) != NULL) &&
	    evtimer_add(compact.look, &tv) == 0)
		return;
	/* Said once: it would otherwise be said at each commit. */
	if (!compact.look_failed)
		log_warnx("cannot set a timer: a compaction that is due waits "
		          "for the next change");
	compact.look_failed = true;
}

bool
compact_due(uint64_t size, uint64_t live, double since, uint64_t compacted)
{
	uint64_t dead;

	if (size < COMPACT_FLOOR || size <= 2 * live)
		return false;
	dead = size - live;
	return since >= COMPACT_INTERVAL ||
	    (dead >= COMPACT_DEAD_MIN && size - compacted >= compacted &&
	        since >= COMPACT_DEAD_SPACING);
}

void
compact_maybe(void)
{
	struct backend_stats st = { 0 };
	uint64_t size, live = live_bytes();
	double now;

	/* A backend without compact compacts by itself. */
	if (backend->ops->compact == NULL || backend->ops->compacting(backend))
		return;
	backend->ops->stats(backend, &st);
	size = st.file_size;
	now = now_wall();
	if (now - compact.failed_at <= COMPACT_RETRY_SECONDS)
		return;
	if (compact_due(size, live, now - compact.started_at,
	        size > st.compacted_size ? st.compacted_size : 0)) {
		compact.started_at = now;
		compact_start();
	} else if (compact_due(size, live, COMPACT_INTERVAL, 0))
		compact_look_later();
}

uint64_t
compact_hold_bound(uint64_t live)
{
	return live > COMPACT_HOLD_MIN ? live : COMPACT_HOLD_MIN;
}

/* Only wakes the loop, whose turn commits if the hold is over. */
static void
compact_recheck_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

bool
compact_holds_commits(void)
{
	struct timeval tv = { 0, COMPACT_HOLD_RECHECK_US };

	if (!compact.running || backend->ops->compact_backlog == NULL ||
	    backend->ops->compact_backlog(backend) <= compact.hold_bound)
		return false;
	if (compact.recheck != NULL && evtimer_pending(compact.recheck, NULL))
		return true;
	/* Without a way to look again, commits go on. */
	if (compact.recheck == NULL &&
	    (compact.recheck =
	            evtimer_new(server.base, compact_recheck_cb, NULL)) == NULL)
		return false;
	return evtimer_add(compact.recheck, &tv) == 0;
}

void
compact_now(const struct ticket *waiter)
{
	if (compact.n == compact.cap) {
		compact.cap = compact.cap ? compact.cap * 2 : 4;
		compact.waiters = xreallocarray(compact.waiters, compact.cap,
		    sizeof(*compact.waiters));
	}
	compact.waiters[compact.n++] = *waiter;
	compact_start();
}

void
compact_settle(bool ok, const char *error)
{
	struct ticket *waiters = compact.waiters;
	size_t n = compact.n;

	compact.waiters = NULL;
	compact.n = compact.cap = 0;
	if (!ok && compact.running)
		compact.failed_at = now_wall();
	compact.running = false;
	if (ok && store_revision(server.store) > compact.started_revision)
		compact_look_later();
	for (size_t i = 0; i < n; i++)
		block_done(&waiters[i],
		    ok ? OBJD__STATUS__OK : OBJD__STATUS__FAILED,
		    ok ? NULL : error, store_revision(server.store));
	free(waiters);
}

void
compact_child_exited(void)
{
	if (backend->ops->child_exited != NULL)
		backend->ops->child_exited(backend);
}

void
compact_free(void)
{
	if (compact.look != NULL)
		event_free(compact.look);
	if (compact.recheck != NULL)
		event_free(compact.recheck);
	free(compact.waiters);
	memset(&compact, 0, sizeof(compact));
}
