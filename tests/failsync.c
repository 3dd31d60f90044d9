/* SPDX-License-Identifier: ISC */
/* failsync.c: an LD_PRELOAD shim for the tests that makes objd's disk and
 * folder misbehave on cue, as a failing disk, a slow one, another program
 * or another filesystem would.
 *
 * $OBJD_TEST_SHIM_DIR names a folder; a file of a given name there turns
 * a misbehaviour on while it exists, so a test turns each on and off in
 * a running objd by creating and removing that file:
 *
 *   fail-fsync       fsync and fdatasync fail with EIO, as a disk that
 *                    lost a write does;
 *   slow-fsync       each sync first takes a second, so that a test can
 *                    act while one is in flight;
 *   held-fsync       each sync waits until this file is removed;
 *   log-syncs        each sync is noted with its file and the process
 *                    that asked for it, so that a test can tell which
 *                    files objd and its children sync;
 *   racer            objd's next rename first renames this file to where
 *                    objd's goes, as another program's rename that lands
 *                    between objd's look at the path and its own rename
 *                    (which uses the file up: the race happens once);
 *   racer-next       the same as racer, for the rename after the one
 *                    that racer takes: another program's second rename,
 *                    landing between two of objd's;
 *   racer-at-source  the same, but to the path objd renames from, as
 *                    another program's rename that lands just before
 *                    objd moves a file away;
 *   no-rename-flags  renameat2 knows no flags, as on NFS;
 *   no-inotify       inotify_init1 fails, as when the user's inotify
 *                    instances are used up;
 *   held-load        a map of a file (objd's load of it) waits until
 *                    this file is removed, as a large file's load takes
 *                    long, so that a test can act while one runs;
 *   held-copy        each copy_file_range (a compaction's child copying
 *                    the changes that follow its snapshot) waits until
 *                    this file is removed;
 *   log-copies       each copy_file_range is noted with its length and
 *                    the process that asked for it.
 *
 * Each misbehaviour is noted on stderr, which is objd's log in the tests:
 * a test can tell that the shim was loaded and fired.
 *
 * Built for the tests only (check_LTLIBRARIES), and without the
 * sanitizers: it must load into any objd, instrumented or not. */
#include <sys/inotify.h>
#include <sys/mman.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The path of the trigger file name in the shim's folder, or NULL when
 * the shim has no folder. */
static const char *
trigger_path(const char *name, char *buf, size_t len)
{
	const char *dir = getenv("OBJD_TEST_SHIM_DIR");
	int n;

	if (dir == NULL || *dir == '\0')
		return NULL;
	n = snprintf(buf, len, "%s/%s", dir, name);
	return n > 0 && (size_t)n < len ? buf : NULL;
}

static bool
triggered(const char *name)
{
	char buf[PATH_MAX];
	const char *path = trigger_path(name, buf, sizeof(buf));

	return path != NULL && access(path, F_OK) == 0;
}

/* The real function, looked up at each call: none of these is called
 * often enough for a cache to pay. POSIX's way to take a function from
 * dlsym (ISO C has none). */
#define NEXT(fn, name)                                                         \
	do {                                                                   \
		*(void **)&(fn) = dlsym(RTLD_NEXT, (name));                    \
		if ((fn) == NULL) {                                            \
			errno = ENOSYS;                                        \
			return -1;                                             \
		}                                                              \
	} while (0)

/* Notes a sync of fd, by name, as "failsync: NAME of PATH by PID". */
static void
log_sync(const char *name, int fd)
{
	char link[64], path[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = '\0';
	fprintf(stderr, "failsync: %s of %s by %ld\n", name, path,
	    (long)getpid());
}

static int
sync_or_fail(const char *name, int fd)
{
	struct timespec second = { 1, 0 }, tick = { 0, 10 * 1000 * 1000 };
	int (*next)(int);

	if (triggered("log-syncs"))
		log_sync(name, fd);
	if (triggered("slow-fsync"))
		while (nanosleep(&second, &second) == -1 && errno == EINTR)
			;
	if (triggered("held-fsync")) {
		fprintf(stderr, "failsync: holding %s(%d)\n", name, fd);
		while (triggered("held-fsync"))
			nanosleep(&tick, NULL);
	}
	if (triggered("fail-fsync")) {
		fprintf(stderr, "failsync: %s(%d) fails with EIO\n", name, fd);
		errno = EIO;
		return -1;
	}
	NEXT(next, name);
	return next(fd);
}

int
fsync(int fd)
{
	return sync_or_fail("fsync", fd);
}

int
fdatasync(int fd)
{
	return sync_or_fail("fdatasync", fd);
}

/* Another program renames the file named racer in the shim's folder to
 * path, if that file exists; true if it did. */
static bool
race_to(const char *racer, const char *path)
{
	char buf[PATH_MAX];
	const char *from = trigger_path(racer, buf, sizeof(buf));
	int (*next)(const char *, const char *);

	if (from == NULL || strcmp(from, path) == 0 || access(from, F_OK) == -1)
		return false;
	*(void **)&next = dlsym(RTLD_NEXT, "rename");
	if (next == NULL || next(from, path) == -1)
		return false;
	fprintf(stderr, "failsync: renamed %s to %s first\n", from, path);
	return true;
}

/* Another program renames its file in, just before objd's rename. */
static void
race(const char *from, const char *to)
{
	if (!race_to("racer", to))
		race_to("racer-next", to);
	race_to("racer-at-source", from);
}

int
rename(const char *from, const char *to)
{
	int (*next)(const char *, const char *);

	race(from, to);
	NEXT(next, "rename");
	return next(from, to);
}

int
renameat2(int fromdir, const char *from, int todir, const char *to,
    unsigned int flags)
{
	int (*next)(int, const char *, int, const char *, unsigned int);

	if (flags != 0 && triggered("no-rename-flags")) {
		fprintf(stderr, "failsync: renameat2 fails with EINVAL\n");
		errno = EINVAL;
		return -1;
	}
	/* objd names its files by whole paths: no need to resolve todir. */
	race(from, to);
	NEXT(next, "renameat2");
	return next(fromdir, from, todir, to, flags);
}

int
inotify_init1(int flags)
{
	int (*next)(int);

	if (triggered("no-inotify")) {
		fprintf(stderr, "failsync: inotify_init1 fails with EMFILE\n");
		errno = EMFILE;
		return -1;
	}
	NEXT(next, "inotify_init1");
	return next(flags);
}

/* Only maps of files wait: the C library's own maps of memory pass. */
void *
mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	void *(*next)(void *, size_t, int, int, int, off_t);

	if (fd != -1 && triggered("held-load")) {
		fprintf(stderr, "failsync: holding a map of fd %d\n", fd);
		while (triggered("held-load"))
			nanosleep(&tick, NULL);
		fprintf(stderr, "failsync: map of fd %d let go\n", fd);
	}
	*(void **)&next = dlsym(RTLD_NEXT, "mmap");
	if (next == NULL) {
		errno = ENOSYS;
		return MAP_FAILED;
	}
	return next(addr, len, prot, flags, fd, off);
}

ssize_t
copy_file_range(int in, off64_t *in_at, int out, off64_t *out_at, size_t len,
    unsigned int flags)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	ssize_t (*next)(int, off64_t *, int, off64_t *, size_t, unsigned int);

	if (triggered("log-copies"))
		fprintf(stderr,
		    "failsync: copy_file_range of %zu bytes by %ld\n", len,
		    (long)getpid());
	if (triggered("held-copy")) {
		fprintf(stderr, "failsync: holding copy_file_range(%d)\n", in);
		while (triggered("held-copy"))
			nanosleep(&tick, NULL);
	}
	NEXT(next, "copy_file_range");
	return next(in, in_at, out, out_at, len, flags);
}
