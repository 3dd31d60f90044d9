/* SPDX-License-Identifier: ISC */
/* syncer.c: a thread that runs fdatasync while the event loop goes on.
 *
 * With --fsync always a batch is answered only once the file is synced,
 * and an fdatasync takes longer than all the rest of a batch's work. Run
 * in the loop, it would stall every client for its whole length; here
 * the loop goes on reading requests and gathering the next batch (commit.c)
 * meanwhile, as LevelDB's writer and Redis's bio threads let theirs.
 *
 * One sync at a time. The thread touches nothing of objd's but the file
 * descriptor it is given: work and results cross over two pipes, so no
 * memory is shared and no lock is needed. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "objd.h"

static struct {
	bool running;
	bool broken; /* no thread: callers sync in the loop */
	pthread_t thread;
	int job[2];  /* descriptors to sync: loop to thread */
	int done[2]; /* errno of each sync, or 0: thread to loop */
	struct event *done_ev;
	void (*done_cb)(int);
	bool busy;
} syncer = { .job = { -1, -1 }, .done = { -1, -1 } };

static void *
syncer_main(void *arg)
{
	int fd, result;
	ssize_t n;

	for (;;) {
		n = read(syncer.job[0], &fd, sizeof(fd));
		if (n == -1 && errno == EINTR)
			continue;
		if (n != sizeof(fd))
			return NULL; /* closed: objd is stopping */
		result = fdatasync(fd) == -1 ? errno : 0;
		while (write(syncer.done[1], &result, sizeof(result)) == -1 &&
		    errno == EINTR)
			;
	}
}

/* The result of the sync in flight, if it is in; -1 if not yet. */
static int
syncer_collect(void)
{
	int result;
	ssize_t n;

	do
		n = read(syncer.done[0], &result, sizeof(result));
	while (n == -1 && errno == EINTR);
	if (n == 0)
		errno = EPIPE; /* the thread is gone */
	if (n != sizeof(result))
		return -1;
	syncer.busy = false;
	return result;
}

static void
syncer_done_cb(evutil_socket_t fd, short events, void *arg)
{
	int result;

	/* syncer_wait may have taken the result first. */
	if (!syncer.busy || (result = syncer_collect()) == -1)
		return;
	syncer.done_cb(result);
}

static void
syncer_close_pipes(void)
{
	for (int i = 0; i < 2; i++) {
		if (syncer.job[i] != -1)
			close(syncer.job[i]);
		if (syncer.done[i] != -1)
			close(syncer.done[i]);
		syncer.job[i] = syncer.done[i] = -1;
	}
	if (syncer.done_ev != NULL)
		event_free(syncer.done_ev);
	syncer.done_ev = NULL;
}

/* Started at the first sync, not at start-up: objd may fork to become a
 * daemon after, and a thread does not cross a fork. */
static bool
syncer_launch(void)
{
	sigset_t all, old;
	int rc;

	if (pipe2(syncer.job, O_CLOEXEC) == -1 ||
	    pipe2(syncer.done, O_CLOEXEC) == -1 ||
	    fcntl(syncer.done[0], F_SETFL, O_NONBLOCK) == -1) {
		log_warn("cannot make the sync thread's pipes");
		goto fail;
	}
	syncer.done_ev = event_new(server.base, syncer.done[0],
	    EV_READ | EV_PERSIST, syncer_done_cb, NULL);
	if (syncer.done_ev == NULL || event_add(syncer.done_ev, NULL) == -1) {
		log_warnx("cannot watch the sync thread");
		goto fail;
	}
	/* Signals are the loop's to take. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&syncer.thread, NULL, syncer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_warnx("cannot start the sync thread: %s", strerror(rc));
		goto fail;
	}
	syncer.running = true;
	return true;
fail:
	log_warnx("syncing in the event loop instead");
	syncer_close_pipes();
	syncer.broken = true;
	return false;
}

bool
syncer_start(int fd, void (*done)(int))
{
	ssize_t n;

	if (syncer.broken || (!syncer.running && !syncer_launch()))
		return false;
	do
		n = write(syncer.job[1], &fd, sizeof(fd));
	while (n == -1 && errno == EINTR);
	if (n != sizeof(fd)) {
		log_warn("cannot hand a sync to its thread");
		return false;
	}
	syncer.done_cb = done;
	syncer.busy = true;
	return true;
}

int
syncer_wait(void)
{
	struct pollfd pfd = { .fd = syncer.done[0], .events = POLLIN };
	int result;

	while ((result = syncer_collect()) == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			fatal("reading the sync thread's result");
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
			fatal("waiting for the sync thread");
	}
	return result;
}

void
syncer_stop(void)
{
	if (!syncer.running)
		return;
	if (syncer.busy)
		(void)syncer_wait();
	close(syncer.job[1]);
	syncer.job[1] = -1;
	pthread_join(syncer.thread, NULL);
	syncer.running = false;
	syncer_close_pipes();
}
