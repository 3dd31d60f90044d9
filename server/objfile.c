/* objfile.c: the object file, one serialized objd.Object.
 *
 * The layout: a FileHeader (field 1), every key as one "entries" map
 * entry (field 2), then one Commit record (field 15) holding the revision
 * and a zlib crc32 of every byte before it. The header tells a file cut
 * short at an entry boundary from a file another program wrote without
 * any commit. Any protobuf runtime reads the file; objd's own loader
 * walks the top-level fields itself, so a key that appears twice takes
 * its last value and a large file is never decoded as one message.
 *
 * This version rewrites the whole file for each batch of changes:
 * temporary file in the same folder, fsync, rename, fsync of the folder,
 * so a crash leaves the old file or the new one and never a mix. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "framing.h"
#include "key.h"
#include "log.h"
#include "objd.h"
#include "paths.h"
#include "value.h"
#include "xmalloc.h"

#define OBJFILE_FIELD_HEADER 1
#define OBJFILE_FIELD_ENTRIES 2
#define OBJFILE_FIELD_COMMITS 15
#define OBJFILE_WRITE_BUFFER (256 * 1024)

/* What the file looked like when objd last wrote or read it. */
struct objfile_identity {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
};

struct objfile {
	char *path;
	char *dir;
	int lock_fd;
	struct objfile_identity seen;
};

static void
objfile_identity_from(struct objfile_identity *id, const struct stat *st)
{
	id->exists = true;
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
	id->ctime = st->st_ctim;
}

/* The lock lives in its own file: the object file's inode changes at
 * every rename, a lock on it would not hold. */
static int
objfile_lock(struct objfile *f, char *err, size_t errlen)
{
	char *lock_path = xasprintf("%s.lock", f->path);
	char pidbuf[32] = "";
	ssize_t n;
	int fd;

	fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		snprintf(err, errlen, "cannot open lock file %s: %s", lock_path,
		    strerror(errno));
		free(lock_path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		n = pread(fd, pidbuf, sizeof(pidbuf) - 1, 0);
		pidbuf[n > 0 ? n : 0] = '\0';
		pidbuf[strcspn(pidbuf, "\n")] = '\0';
		snprintf(err, errlen,
		    "%s is in use by another objd (pid %s): stop it first",
		    f->path, *pidbuf ? pidbuf : "unknown");
		close(fd);
		free(lock_path);
		return -1;
	}
	n = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pidbuf, (size_t)n, 0) != n)
		log_warn("cannot write pid to %s", lock_path);
	free(lock_path);
	f->lock_fd = fd;
	return 0;
}

struct objfile *
objfile_open(const char *path, char *err, size_t errlen)
{
	struct objfile *f = xcalloc(1, sizeof(*f));

	f->path = xstrdup(path);
	f->dir = paths_dirname(path);
	f->lock_fd = -1;
	if (!paths_make_dir(f->dir, 0700, err, errlen) ||
	    objfile_lock(f, err, errlen) == -1) {
		objfile_close(f);
		return NULL;
	}
	return f;
}

void
objfile_close(struct objfile *f)
{
	if (f == NULL)
		return;
	if (f->lock_fd != -1)
		close(f->lock_fd);
	free(f->path);
	free(f->dir);
	free(f);
}

/* Reads one length-delimited field's header at buf[*pos..len): its
 * number and the bounds of its bytes. Other wire types are skipped by the
 * caller through the returned wire type. */
static int
objfile_field(const uint8_t *buf, size_t len, size_t *pos, uint32_t *number,
    unsigned *wire, uint64_t *value)
{
	uint64_t tag;
	int used;

	used = varint_decode(buf + *pos, len - *pos, &tag);
	if (used <= 0 || (tag >> 3) == 0 || (tag >> 3) > UINT32_MAX)
		return -1;
	*pos += (size_t)used;
	*number = (uint32_t)(tag >> 3);
	*wire = (unsigned)(tag & 7);
	switch (*wire) {
	case 0:
		used = varint_decode(buf + *pos, len - *pos, value);
		if (used <= 0)
			return -1;
		*pos += (size_t)used;
		return 0;
	case 1:
	case 5:
		*value = *wire == 1 ? 8 : 4;
		if (len - *pos < *value)
			return -1;
		return 0; /* *pos stays at the payload; *value is its size */
	case 2:
		used = varint_decode(buf + *pos, len - *pos, value);
		if (used <= 0 || *value > len - *pos - (size_t)used)
			return -1;
		*pos += (size_t)used;
		return 0;
	default:
		return -1;
	}
}

/* Parses one map entry (key, value) and puts it in the store. */
static int
objfile_load_entry(
    struct store *s, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	const char *key = "";
	const uint8_t *val = NULL;
	size_t keylen = 0, vallen = 0, pos = 0;
	char why[256];
	Objd__Value *v;
	uint32_t number;
	unsigned wire;
	uint64_t n;

	while (pos < len) {
		if (objfile_field(buf, len, &pos, &number, &wire, &n) == -1) {
			snprintf(err, errlen, "malformed entry");
			return -1;
		}
		if (wire == 2 && number == 1) {
			key = (const char *)buf + pos;
			keylen = (size_t)n;
		} else if (wire == 2 && number == 2) {
			val = buf + pos;
			vallen = (size_t)n;
		}
		if (wire != 0)
			pos += (size_t)n;
	}
	if (!key_valid(key, keylen, why, sizeof(why))) {
		snprintf(err, errlen, "bad key: %s", why);
		return -1;
	}
	if (val == NULL ||
	    (v = value_unpack(val, vallen, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "bad value for key \"%.*s\": %s",
		    (int)(keylen > 64 ? 64 : keylen), key,
		    val == NULL ? "no value" : why);
		return -1;
	}
	value_free(v);
	free(store_put(s, store_entry_new(key, keylen, val, vallen, 0)));
	return 0;
}

/* Walks the top-level fields of the file. */
static int
objfile_parse(
    struct store *s, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	size_t pos = 0, start, last_commit_end = 0;
	uint64_t revision = 0, n;
	uint32_t number;
	unsigned wire;
	Objd__Commit *commit;
	bool committed = false, has_header = false;
	uint32_t entries = 0;
	char why[512];

	while (pos < len) {
		start = pos;
		if (objfile_field(buf, len, &pos, &number, &wire, &n) == -1) {
			snprintf(
			    err, errlen, "malformed field at byte %zu", start);
			return -1;
		}
		if (wire == 2 && number == OBJFILE_FIELD_HEADER)
			has_header = true;
		else if (wire == 2 && number == OBJFILE_FIELD_ENTRIES) {
			if (objfile_load_entry(s, buf + pos, (size_t)n, why,
			        sizeof(why)) == -1) {
				snprintf(err, errlen, "entry at byte %zu: %s",
				    start, why);
				return -1;
			}
			entries++;
		} else if (wire == 2 && number == OBJFILE_FIELD_COMMITS) {
			commit =
			    objd__commit__unpack(NULL, (size_t)n, buf + pos);
			if (commit == NULL ||
			    commit->crc32 !=
			        crc32_z(0L, buf + last_commit_end,
			            start - last_commit_end) ||
			    commit->n_entries != entries) {
				snprintf(err, errlen,
				    "commit record at byte %zu %s", start,
				    commit == NULL
				        ? "is malformed"
				        : "does not match the entries "
				          "before it");
				objd__commit__free_unpacked(commit, NULL);
				return -1;
			}
			revision = commit->revision;
			objd__commit__free_unpacked(commit, NULL);
			committed = true;
			entries = 0;
			last_commit_end = pos + (size_t)n;
		}
		if (wire != 0)
			pos += (size_t)n;
	}
	if (has_header && !committed) {
		snprintf(err, errlen,
		    "no commit record: the file was cut "
		    "short");
		return -1;
	}
	if (committed && last_commit_end != len) {
		snprintf(err, errlen, "%zu bytes after the last commit record",
		    len - last_commit_end);
		return -1;
	}
	/* Per-key revisions are not in the file yet: every key takes the
	 * file's revision. */
	store_set_revision(s, revision);
	store_stamp(s, revision);
	return 0;
}

int
objfile_load(struct objfile *f, struct store *s, char *err, size_t errlen)
{
	struct stat st;
	void *map = NULL;
	int fd, rc;

	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT) {
		f->seen.exists = false;
		return 0;
	}
	if (fd == -1 || fstat(fd, &st) == -1) {
		snprintf(err, errlen, "cannot read %s: %s", f->path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", f->path);
		close(fd);
		return -1;
	}
	if (st.st_size > 0) {
		map = mmap(
		    NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			snprintf(err, errlen, "cannot map %s: %s", f->path,
			    strerror(errno));
			close(fd);
			return -1;
		}
	}
	rc = objfile_parse(s, map, (size_t)st.st_size, err, errlen);
	if (map != NULL)
		munmap(map, (size_t)st.st_size);
	close(fd);
	if (rc == 0)
		objfile_identity_from(&f->seen, &st);
	return rc;
}

/* A buffered writer that keeps the crc32 of what it wrote. */
struct objfile_writer {
	int fd;
	uint8_t *buf;
	size_t used;
	uLong crc;
	int error; /* errno of the first failure */
};

static void
objfile_flush(struct objfile_writer *w)
{
	size_t off = 0;
	ssize_t n;

	while (off < w->used && w->error == 0) {
		n = write(w->fd, w->buf + off, w->used - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			w->error = errno;
		else
			off += (size_t)n;
	}
	w->used = 0;
}

static void
objfile_put(struct objfile_writer *w, const void *p, size_t len)
{
	const uint8_t *bytes = p;

	w->crc = crc32_z(w->crc, bytes, len);
	while (len > 0) {
		size_t take = OBJFILE_WRITE_BUFFER - w->used;

		if (take > len)
			take = len;
		memcpy(w->buf + w->used, bytes, take);
		w->used += take;
		bytes += take;
		len -= take;
		if (w->used == OBJFILE_WRITE_BUFFER)
			objfile_flush(w);
	}
}

static void
objfile_put_varint(struct objfile_writer *w, uint64_t v)
{
	uint8_t tmp[VARINT_MAX_LEN];

	objfile_put(w, tmp, varint_encode(tmp, v));
}

static size_t
varint_size(uint64_t v)
{
	uint8_t tmp[VARINT_MAX_LEN];

	return varint_encode(tmp, v);
}

static void
objfile_put_entry(const struct store_entry *e, void *arg)
{
	struct objfile_writer *w = arg;
	size_t body = 1 + varint_size(e->keylen) + e->keylen + 1 +
	    varint_size(e->vallen) + e->vallen;

	objfile_put_varint(w, (OBJFILE_FIELD_ENTRIES << 3) | 2);
	objfile_put_varint(w, body);
	objfile_put_varint(w, (1 << 3) | 2);
	objfile_put_varint(w, e->keylen);
	objfile_put(w, e->data, e->keylen);
	objfile_put_varint(w, (2 << 3) | 2);
	objfile_put_varint(w, e->vallen);
	objfile_put(w, STORE_ENTRY_VALUE(e), e->vallen);
}

static void
objfile_put_header(struct objfile_writer *w)
{
	Objd__FileHeader header = OBJD__FILE_HEADER__INIT;
	uint8_t tmp[16];
	size_t n;

	header.format = 1;
	n = objd__file_header__pack(&header, tmp);
	objfile_put_varint(w, (OBJFILE_FIELD_HEADER << 3) | 2);
	objfile_put_varint(w, n);
	objfile_put(w, tmp, n);
}

static void
objfile_put_commit(
    struct objfile_writer *w, uint64_t revision, uint32_t n_entries)
{
	Objd__Commit commit = OBJD__COMMIT__INIT;
	uint8_t tmp[64];
	size_t n;

	commit.revision = revision;
	commit.crc32 = (uint32_t)w->crc;
	commit.n_entries = n_entries;
	n = objd__commit__pack(&commit, tmp);
	objfile_put_varint(w, (OBJFILE_FIELD_COMMITS << 3) | 2);
	objfile_put_varint(w, n);
	objfile_put(w, tmp, n);
}

static int
objfile_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
objfile_save(struct objfile *f, const struct store *s, char *err, size_t errlen)
{
	struct objfile_writer w = { .fd = -1, .crc = crc32(0L, NULL, 0) };
	char *tmp = xasprintf("%s/.objd-save.XXXXXX", f->dir);
	static const char create_step[] = "create a temporary file in";
	const char *step = create_step;
	struct stat st;

	if (!paths_make_dir(f->dir, 0700, err, errlen)) {
		free(tmp);
		return -1;
	}
	w.fd = mkostemp(tmp, O_CLOEXEC);
	if (w.fd == -1) {
		w.error = errno;
		goto fail;
	}
	w.buf = xmalloc(OBJFILE_WRITE_BUFFER);
	objfile_put_header(&w);
	store_foreach(s, objfile_put_entry, &w);
	objfile_put_commit(&w, store_revision(s), (uint32_t)store_count(s));
	objfile_flush(&w);
	step = "write";
	if (w.error != 0)
		goto fail;
	step = "sync";
	if (fsync(w.fd) == -1) {
		w.error = errno;
		goto fail;
	}
	step = "rename over";
	if (rename(tmp, f->path) == -1) {
		w.error = errno;
		goto fail;
	}
	/* The rename is durable only once the folder is synced. */
	if (objfile_sync_dir(f->dir) == -1)
		log_warn("cannot sync folder %s", f->dir);
	/* After the rename: it changes the inode's ctime. */
	if (fstat(w.fd, &st) == 0)
		objfile_identity_from(&f->seen, &st);
	close(w.fd);
	free(w.buf);
	free(tmp);
	return 0;
fail:
	snprintf(err, errlen, "cannot %s %s: %s", step,
	    step == create_step ? f->dir : f->path, strerror(w.error));
	if (w.fd != -1) {
		close(w.fd);
		unlink(tmp);
	}
	free(w.buf);
	free(tmp);
	return -1;
}

enum objfile_state
objfile_check(struct objfile *f)
{
	struct objfile_identity now;
	struct stat st;

	if (stat(f->path, &st) == -1)
		return f->seen.exists ? OBJFILE_MISSING : OBJFILE_UNCHANGED;
	objfile_identity_from(&now, &st);
	if (!f->seen.exists || now.dev != f->seen.dev ||
	    now.ino != f->seen.ino || now.size != f->seen.size ||
	    now.mtime.tv_sec != f->seen.mtime.tv_sec ||
	    now.mtime.tv_nsec != f->seen.mtime.tv_nsec ||
	    now.ctime.tv_sec != f->seen.ctime.tv_sec ||
	    now.ctime.tv_nsec != f->seen.ctime.tv_nsec)
		return OBJFILE_CHANGED;
	return OBJFILE_UNCHANGED;
}

char *
objfile_reject(struct objfile *f, char *err, size_t errlen)
{
	char stamp[32], *dest = NULL;
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (int i = 0; i < 1000; i++) {
		free(dest);
		dest = i == 0
		    ? xasprintf("%s.rejected-%s", f->path, stamp)
		    : xasprintf("%s.rejected-%s.%d", f->path, stamp, i);
		if (access(dest, F_OK) == -1 && errno == ENOENT) {
			if (rename(f->path, dest) == 0)
				return dest;
			break;
		}
	}
	snprintf(
	    err, errlen, "cannot move %s aside: %s", f->path, strerror(errno));
	free(dest);
	return NULL;
}
