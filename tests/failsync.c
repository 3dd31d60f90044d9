/* failsync.c: an LD_PRELOAD shim for the tests that makes fsync and
 * fdatasync fail with EIO, as a disk that lost a write does.
 *
 * It fails only while the file named by $OBJD_TEST_FAIL_FSYNC exists, so
 * a test turns failures on and off in a running objd by creating and
 * removing that file. Each failure is noted on stderr, which is objd's
 * log in the tests: a test can tell that the shim was loaded and fired.
 * Likewise, while $OBJD_TEST_SLOW_FSYNC names a file that exists, each
 * sync first takes a second, so that a test can act while one is in
 * flight.
 *
 * And while $OBJD_TEST_RACE_RENAME names a file that exists, objd's next
 * rename first renames that file to where objd's goes, as another
 * program's rename that lands between objd's look at the path and its
 * own rename. That uses the file up: the race happens once. While
 * $OBJD_TEST_NO_RENAME_FLAGS names a file that exists, renameat2 knows
 * no flags, as on a filesystem without them (NFS).
 *
 * Built for the tests only (check_LTLIBRARIES), and without the
 * sanitizers: it must load into any objd, instrumented or not. */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bool
triggered(const char *variable)
{
	const char *trigger = getenv(variable);

	return trigger != NULL && *trigger != '\0' &&
	    access(trigger, F_OK) == 0;
}

static bool
failing(void)
{
	struct timespec second = { 1, 0 };

	if (triggered("OBJD_TEST_SLOW_FSYNC"))
		while (nanosleep(&second, &second) == -1 && errno == EINTR)
			;
	return triggered("OBJD_TEST_FAIL_FSYNC");
}

/* The real function, looked up at each call: a sync is slow enough that
 * a cache would buy nothing. */
static int
call_next(const char *name, int fd)
{
	int (*next)(int);

	/* POSIX's way to take a function from dlsym (ISO C has none). */
	*(void **)&next = dlsym(RTLD_NEXT, name);
	if (next == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return next(fd);
}

static int
fail(const char *name, int fd)
{
	fprintf(stderr, "failsync: %s(%d) fails with EIO\n", name, fd);
	errno = EIO;
	return -1;
}

int
fsync(int fd)
{
	return failing() ? fail("fsync", fd) : call_next("fsync", fd);
}

int
fdatasync(int fd)
{
	return failing() ? fail("fdatasync", fd) : call_next("fdatasync", fd);
}

/* Another program renames its file in, just before objd's rename. */
static void
race(const char *to)
{
	const char *racer = getenv("OBJD_TEST_RACE_RENAME");
	int (*next)(const char *, const char *);

	if (racer == NULL || *racer == '\0' || strcmp(racer, to) == 0 ||
	    access(racer, F_OK) == -1)
		return;
	*(void **)&next = dlsym(RTLD_NEXT, "rename");
	if (next != NULL && next(racer, to) == 0)
		fprintf(stderr, "failsync: renamed %s to %s first\n", racer,
		    to);
}

int
rename(const char *from, const char *to)
{
	int (*next)(const char *, const char *);

	race(to);
	*(void **)&next = dlsym(RTLD_NEXT, "rename");
	if (next == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return next(from, to);
}

int
renameat2(int fromdir, const char *from, int todir, const char *to,
    unsigned int flags)
{
	int (*next)(int, const char *, int, const char *, unsigned int);

	if (flags != 0 && triggered("OBJD_TEST_NO_RENAME_FLAGS")) {
		fprintf(stderr, "failsync: renameat2 fails with EINVAL\n");
		errno = EINVAL;
		return -1;
	}
	/* objd names its files by whole paths: no need to resolve todir. */
	race(to);
	*(void **)&next = dlsym(RTLD_NEXT, "renameat2");
	if (next == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return next(fromdir, from, todir, to, flags);
}
