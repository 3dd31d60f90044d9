/* SPDX-License-Identifier: ISC */
/* behind.c: work that need not hold up the loop, done on a thread.
 *
 * Some clean-ups cost milliseconds that no client should wait for: the
 * last close of a large file whose name is gone frees its blocks and
 * cached pages before it returns, and freeing a store of a million keys
 * is a million free()s. Each gets a detached thread of its own, as Redis's
 * bio threads close old append-only files and free large values. Such
 * work is rare (a compaction, a reload), so a thread per job costs less
 * than keeping one waiting. */
#include <pthread.h>
#include <signal.h>

#include "objd.h"

/* glibc's malloc takes its locks across fork(); the AddressSanitizer of
 * Debian 12's clang 14 does not take its allocator's. A compaction's
 * child forked while a thread here freed memory then waited forever in
 * realloc for a lock that thread held (check_storage, sanitizer build).
 * Built with it, the work is done on the loop: each caller does it
 * there when run_behind returns false. */
#if defined(__SANITIZE_ADDRESS__)
#define BEHIND_ON_LOOP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BEHIND_ON_LOOP 1
#endif
#endif

bool
run_behind(void *(*fn)(void *), void *arg)
{
#ifdef BEHIND_ON_LOOP
	(void)fn;
	(void)arg;
	return false;
#else
	pthread_attr_t attr;
	pthread_t thread;
	sigset_t all, old;
	int rc;

	if (pthread_attr_init(&attr) != 0)
		return false;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Signals are the loop's to take. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&thread, &attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return rc == 0;
#endif
}
