/* SPDX-License-Identifier: ISC */
/* rejoin.c: after a sync, the next commit waits for the writers that
 * sync answered (commit.c's header says why), for no longer than the
 * sync took, nor than REJOIN_MAX. */
#include <sys/timerfd.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "objd.h"
#include "rejoin.h"
#include "xmalloc.h"

/* The longest a commit waits for writers to rejoin, in seconds. */
#define REJOIN_MAX 0.001

/* A writer a sync answered, which the next commit waits for. */
struct rejoin_writer {
	struct conn *conn; /* held (conn_hold) until back */
	bool back;         /* joined the open batch, or left */
};

/* The wait of the next commit for the writers a sync answered. */
static struct {
	bool waiting;
	/* The writers, sorted by address for bsearch; each held while not
	 * back, so that the address stays its client's. */
	struct rejoin_writer *writers;
	size_t n, cap;
	size_t awaited; /* writers not back yet */
	/* conn_departures() when the writers were last looked at. */
	uint64_t departures;
	/* A timerfd, the one clock of the wait's end: libevent's own timers
	 * round up to the milliseconds of epoll_wait, longer than a sync
	 * here. Arming or disarming it drops an expiry not yet read. */
	int timer_fd;
	struct event *timer;
} rejoin = { .timer_fd = -1 };

/* Arms the timer to go off in seconds, or disarms it with 0. */
static bool
rejoin_timer_set(double seconds)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = (time_t)seconds;
	its.it_value.tv_nsec =
	    (long)((seconds - (double)its.it_value.tv_sec) * 1e9);
	if (seconds > 0 && its.it_value.tv_sec == 0 &&
	    its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	return timerfd_settime(rejoin.timer_fd, 0, &its, NULL) == 0;
}

/* w is back (or will never be): the wait no longer counts on it. */
static void
rejoin_back(struct rejoin_writer *w)
{
	w->back = true;
	rejoin.awaited--;
	conn_unhold(w->conn);
}

/* Lets go of every writer not back. */
static void
rejoin_drop(void)
{
	for (size_t i = 0; i < rejoin.n; i++)
		if (!rejoin.writers[i].back)
			rejoin_back(&rejoin.writers[i]);
	rejoin.n = 0;
}

static void
rejoin_end(bool expired)
{
	rejoin.waiting = false;
	rejoin_drop();
	if (expired)
		server.commit_waits_expired++;
	else /* early: the timer need not go off */
		(void)rejoin_timer_set(0);
}

static void
rejoin_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	uint64_t expirations;

	(void)events;
	(void)arg;
	if (read(fd, &expirations, sizeof(expirations)) == -1)
		return; /* EAGAIN: disarmed since, or re-armed */
	/* The end of this turn commits what gathered (loop.c). */
	if (rejoin.waiting)
		rejoin_end(true);
}

static int
rejoin_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct rejoin_writer *)a)->conn;
	uintptr_t y = (uintptr_t)((const struct rejoin_writer *)b)->conn;

	return x < y ? -1 : x > y;
}

static struct rejoin_writer *
rejoin_find(struct conn *c)
{
	struct rejoin_writer key = { .conn = c };

	if (rejoin.n == 0)
		return NULL;
	return bsearch(&key, rejoin.writers, rejoin.n, sizeof(key), rejoin_cmp);
}

/* The distinct writers of l that may write again, sorted. */
static void
rejoin_collect(const struct backend_batch *l)
{
	size_t n = 0;

	rejoin.n = 0;
	for (size_t i = 0; i < l->ntxns; i++) {
		struct conn *c = l->txns[i].ticket.conn;

		/* A pipeline's writes come one after the other. */
		if (c == NULL || !conn_writes_on(c) ||
		    (rejoin.n > 0 && rejoin.writers[rejoin.n - 1].conn == c))
			continue;
		if (rejoin.n == rejoin.cap) {
			rejoin.cap = rejoin.cap ? rejoin.cap * 2 : 16;
			rejoin.writers = xreallocarray(rejoin.writers,
			    rejoin.cap, sizeof(*rejoin.writers));
		}
		rejoin.writers[rejoin.n++] =
		    (struct rejoin_writer){ .conn = c };
	}
	if (rejoin.n > 1)
		qsort(rejoin.writers, rejoin.n, sizeof(*rejoin.writers),
		    rejoin_cmp);
	for (size_t i = 0; i < rejoin.n; i++)
		if (n == 0 ||
		    rejoin.writers[n - 1].conn != rejoin.writers[i].conn)
			rejoin.writers[n++] = rejoin.writers[i];
	rejoin.n = n;
}

void
rejoin_start(const struct backend_batch *l, const struct backend_batch *open,
    double seconds)
{
	rejoin_collect(l);
	rejoin.awaited = rejoin.n;
	for (size_t i = 0; i < rejoin.n; i++)
		conn_hold(rejoin.writers[i].conn);
	/* Those already back in the open batch. */
	for (size_t i = 0; i < open->ntxns; i++) {
		struct rejoin_writer *w =
		    rejoin_find(open->txns[i].ticket.conn);

		if (w != NULL && !w->back)
			rejoin_back(w);
	}
	if (seconds > REJOIN_MAX)
		seconds = REJOIN_MAX;
	if (rejoin.awaited == 0 || (rejoin.awaited == 1 && open->ntxns == 0) ||
	    rejoin.timer_fd == -1 || !rejoin_timer_set(seconds)) {
		rejoin_drop();
		return;
	}
	rejoin.waiting = true;
	rejoin.departures = conn_departures();
	server.commit_waits++;
}

void
rejoin_count(struct conn *c)
{
	struct rejoin_writer *w;

	if (!rejoin.waiting || (w = rejoin_find(c)) == NULL || w->back)
		return;
	rejoin_back(w);
	if (rejoin.awaited == 0)
		rejoin_end(false);
}

void
rejoin_check_departures(void)
{
	if (!rejoin.waiting || conn_departures() == rejoin.departures)
		return;
	rejoin.departures = conn_departures();
	for (size_t i = 0; i < rejoin.n; i++)
		if (!rejoin.writers[i].back &&
		    !conn_writes_on(rejoin.writers[i].conn))
			rejoin_back(&rejoin.writers[i]);
	if (rejoin.awaited == 0)
		rejoin_end(false);
}

void
rejoin_init(void)
{
	rejoin.timer_fd =
	    timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (rejoin.timer_fd == -1)
		fatal("cannot create a timer");
	rejoin.timer = event_new(server.base, rejoin.timer_fd,
	    EV_READ | EV_PERSIST, rejoin_timer_cb, NULL);
	if (rejoin.timer == NULL || event_add(rejoin.timer, NULL) == -1)
		fatalx("cannot watch the commit wait's timer");
}

void
rejoin_free(void)
{
	if (rejoin.timer != NULL)
		event_free(rejoin.timer);
	if (rejoin.timer_fd != -1)
		close(rejoin.timer_fd);
	rejoin_drop();
	free(rejoin.writers);
	memset(&rejoin, 0, sizeof(rejoin));
	rejoin.timer_fd = -1;
}

bool
rejoin_waiting(void)
{
	return rejoin.waiting;
}

void
rejoin_stop(void)
{
	if (rejoin.waiting)
		rejoin_end(false);
}
