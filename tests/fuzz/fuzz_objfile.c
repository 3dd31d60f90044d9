/* SPDX-License-Identifier: ISC */
/* fuzz_objfile.c: libFuzzer harness for the object file's loader and
 * recovery.
 *
 * Each input is an object file. objfile_scan_buffer() walks it as bytes;
 * then it is put on disk and loaded as objd loads it at start (recovery:
 * a torn end is cut back, another program's file is adopted and
 * rewritten). Whatever objd then serves must be what it reads back from
 * the file, before and after one more change is appended; a file it
 * refuses must be left byte for byte as it was; anything else aborts. */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "objd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct server server;
struct objd_options options;

static char fuzz_dir[64];
static char fuzz_file[96];

static int
fuzz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void
fuzz_cleanup(void)
{
	if (fuzz_dir[0] != '\0')
		nftw(fuzz_dir, fuzz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static void
fuzz_init(void)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	log_init("objd-fuzz", 0);
	log_set_level(LOG_LEVEL_ERROR);
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/objd-fuzz.XXXXXX", base);
	if (mkdtemp(fuzz_dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	atexit(fuzz_cleanup);
	snprintf(fuzz_file, sizeof(fuzz_file), "%s/objd.pb", fuzz_dir);
}

static _Noreturn void
fuzz_fail(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_objfile: %s: %s\n", what, err);
	abort();
}

struct fuzz_same {
	const struct store *other;
	bool same;
};

static void
fuzz_same_entry(const struct store_entry *e, void *arg)
{
	struct fuzz_same *fs = arg;
	const struct store_entry *o = store_get(fs->other, e->data, e->keylen);

	if (o == NULL || o->vallen != e->vallen || o->revision != e->revision ||
	    memcmp(STORE_ENTRY_VALUE(o), STORE_ENTRY_VALUE(e), e->vallen) != 0)
		fs->same = false;
}

/* True if a and b hold the same keys, values and revisions. */
static bool
fuzz_same(const struct store *a, const struct store *b)
{
	struct fuzz_same fs = { b, true };

	if (store_count(a) != store_count(b) ||
	    store_revision(a) != store_revision(b))
		return false;
	store_foreach(a, fuzz_same_entry, &fs);
	return fs.same;
}

/* Reads the file back as a reload would, and compares. */
static void
fuzz_reread(struct objfile *f, const struct store *s, const char *when)
{
	struct store *t = store_new();
	char err[1024];

	if (objfile_load(f, t, false, err, sizeof(err)) != 0)
		fuzz_fail(when, err);
	if (!fuzz_same(s, t))
		fuzz_fail(when, "the file does not hold what objd serves");
	store_free(t);
}

/* A file objd refused is as it was given. */
static void
fuzz_untouched(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size + 1);
	ssize_t n;
	int fd;

	fd = open(fuzz_file, O_RDONLY | O_CLOEXEC);
	if (buf == NULL || fd == -1)
		fuzz_fail("refused", "the file is gone");
	n = read(fd, buf, size + 1);
	close(fd);
	if (n != (ssize_t)size || (size > 0 && memcmp(buf, data, size) != 0))
		fuzz_fail("refused", "the refused file was changed");
	free(buf);
}

static void
fuzz_write_file(const uint8_t *data, size_t size)
{
	int fd;

	fuzz_cleanup();
	if (mkdir(fuzz_dir, 0700) == -1 && errno != EEXIST)
		abort();
	fd = open(fuzz_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || (size > 0 && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t one[] = { 0x18, 0x02 }; /* Value{int: 1} */
	static bool ready;
	struct objfile_changes ch;
	struct objfile *f;
	struct store *s;
	size_t good_end;
	char err[1024];
	bool ours;
	int rc;

	if (!ready) {
		fuzz_init();
		ready = true;
	}

	/* The walk alone, on the bytes as given. */
	s = store_new();
	objfile_scan_buffer(data, size, s, &good_end, &ours, err, sizeof(err));
	if (good_end > size)
		fuzz_fail("scan", "good end past the end");
	store_free(s);

	/* A start on this file, as objd's main() does it. */
	fuzz_write_file(data, size);
	f = objfile_open(fuzz_file, FSYNC_NEVER, err, sizeof(err));
	if (f == NULL)
		fuzz_fail("open", err);
	s = store_new();
	rc = objfile_load(f, s, true, err, sizeof(err));
	if (rc == -1)
		fuzz_untouched(data, size);
	if (rc == 1 && objfile_rewrite(f, s, err, sizeof(err)) == -1)
		fuzz_fail("rewrite", err);
	if (rc >= 0) {
		fuzz_reread(f, s, "after the start");
		/* One change appended to the recovered file. */
		objfile_changes_init(f, &ch);
		objfile_change_set(&ch, "fuzz", 4, one, sizeof(one));
		objfile_change_commit(&ch, store_revision(s) + 1);
		if (objfile_append(f, s, &ch, err, sizeof(err)) == -1)
			fuzz_fail("append", err);
		objfile_changes_free(f, &ch);
		free(store_put(s,
		    store_entry_new("fuzz", 4, one, sizeof(one),
		        store_revision(s) + 1)));
		store_set_revision(s, store_revision(s) + 1);
		fuzz_reread(f, s, "after a change");
	}
	store_free(s);
	objfile_close(f);
	return 0;
}
