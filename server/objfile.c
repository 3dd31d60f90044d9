/* SPDX-License-Identifier: ISC */
/* objfile.c: the object file. Nothing else knows its byte layout.
 *
 * The file is one serialized objd.Object that grows by appending: two
 * protobuf messages written one after the other parse as one, with their
 * map entries concatenated. objd writes a FileHeader once, then for each
 * change a fragment: its entries (a deleted key gets a tombstone value)
 * and a Commit record with the revision, the number of entries and a
 * crc32 of the fragment. So a change costs in proportion to its own size,
 * and at every commit the file is a valid Object that any protobuf runtime
 * reads (the last entry of a key wins, as protobuf's maps say).
 *
 * Loading is the walk in common/objfile-scan.c, which objctl shares to
 * read and check files offline. At start, a torn end is cut back to the
 * last good commit (the cut bytes are kept aside); damage followed by a
 * good commit, or inside the snapshot that a file starts with, is
 * refused, because cutting there would drop acknowledged changes.
 *
 * With --fsync always, the file keeps room after its last commit: one
 * padding field (Object.padding) of zeros up to the end, which the next
 * change overwrites, ending in a shorter padding field. An fdatasync
 * after a write that grows the file must also commit the new size
 * through the filesystem's journal, one more flush to the disk; a write
 * inside the file's blocks needs only its data flushed (on ext4 here,
 * 122-131 us against 187-206 after 39 bytes). So only a change that
 * finds no room grows the file, by a sixteenth of its size, at least 64
 * KiB, and a new file (a rewrite's, a compaction's) starts with room.
 * At every moment the file still parses as one Object, its room
 * included, and a torn write over the room is cut back as any torn end
 * is. The other modes sync seldom or never: they keep no room, and cut
 * any they find.
 *
 * Compaction writes the live state to a temporary file in a child process
 * while the parent goes on appending; the parent then copies what it
 * appended meanwhile, syncs, and renames the new file into place.
 *
 * With --compress, a snapshot (compaction, rewrite) holds its entries as
 * zlib-deflated chunks (Object.deflated_entries) of at most
 * OBJFILE_CHUNK_MAX bytes of plain entries each: a protobuf-encoded
 * entry costs at least 4 bytes of tags and lengths besides its key and
 * value, which deflate mostly takes back. Loading always accepts chunks,
 * whatever the option: it inflates one chunk at a time into a buffer of
 * that bound and walks its entries as it walks the file's own, so a
 * chunk that would inflate to more (a zip bomb in a replaced file) is
 * refused after at most that many bytes. */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
/* libdeflate: the crc32 of commits (zlib's, computed many times faster
 * than zlib on the short records of a change), and the zlib streams of
 * --compress, made and read whole, as the bound on a chunk allows. */
#include <libdeflate.h>

#include "framing.h"
#include "key.h"
#include "log.h"
#include "objd.h"
#include "objfile-scan.h"
#include "paths.h"
#include "value.h"
#include "xmalloc.h"

/* HistoryRecord, Version and HistoryTimes (proto/objd.proto). */
#define RECORD_FIELD_KEY OBJFILE_RECORD_KEY
#define RECORD_FIELD_VERSIONS 2
#define RECORD_FIELD_TIME 3
#define RECORD_FIELD_TRUNCATED 4
#define RECORD_FIELD_EXPIRE 5
#define VERSION_FIELD_REVISION 1
#define VERSION_FIELD_TIME 2
#define VERSION_FIELD_WHAT 3
#define VERSION_FIELD_VALUE 4
#define TIMES_FIELD_KNOWN_SINCE 1
#define TIMES_FIELD_REVISIONS 2
#define TIMES_FIELD_TIMES 3
#define FILE_FORMAT 1
#define WRITE_CHUNK (256 * 1024)
/* The room a file grows by: a sixteenth of it, within these bounds, and
 * ending on a page. */
#define ROOM_MIN (64 * 1024)
#define ROOM_MAX (4 * 1024 * 1024)
#define ROOM_ALIGN 4096
/* Compaction runs in a child and is seldom: libdeflate's default level,
 * about twice as fast as zlib's default for a file a few percent
 * larger; its higher levels take several times longer. */
#define DEFLATE_LEVEL 6

/* What the file looked like when objd last wrote or read it. */
struct identity {
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
	char *temp_prefix; /* of objd's new files in dir, for this path */
	int lock_fd;
	int fd;         /* open for appending at good_end; -1: none yet */
	off_t good_end; /* the end of the last good commit */
	off_t size;     /* good_end, or more with room after it */
	enum fsync_mode fsync;
	bool dirty;          /* written since the last fsync */
	bool needs_rewrite;  /* an fsync failed: what is on disk is in doubt */
	bool compress;       /* --compress: snapshots deflate their entries */
	bool others_watched; /* other programs' files are loaded */
	struct identity seen;
	/* The file objfile_load last read at the path (only exists, dev
	 * and ino count), or none, when the file was missing or moved
	 * aside: objfile_write_back replaces only that. */
	struct identity at_path;
	/* objd appended since seen was taken: the size is seen's, and the
	 * times are unknown, but none later than appended_at. */
	bool seen_appended;
	struct timespec appended_at;
	/* The file's times came after objd's clock for what was its own
	 * append (times_suspect), as on a network filesystem that stamps
	 * a write when it flushes it: from then on, they are asked for
	 * after each append (asks_times). */
	bool times_suspect;
	bool asks_times;
	struct objfile_stats stats;
	/* Compaction in progress: the child, its file, and what the parent
	 * appended to the old file since the child's snapshot. */
	pid_t child;
	char *child_tmp;
	bool child_writes_back; /* for a reload: only over at_path */
	struct buf tail;
	/* The buffer of the last changes written, for the next ones: each
	 * commit would otherwise allocate and free a 4 KiB one. */
	struct buf spare;
};

/* Growable byte buffers. */
static void
buf_reserve(struct buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return;
	while (b->len + more > b->cap)
		b->cap = b->cap ? b->cap * 2 : 4096;
	b->data = xrealloc(b->data, b->cap);
}

/* A buffer that grew for a burst must not hold its peak for ever. */
static void
buf_release(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static void
buf_put(struct buf *b, const void *p, size_t len)
{
	buf_reserve(b, len);
	memcpy(b->data + b->len, p, len);
	b->len += len;
}

static void
buf_put_varint(struct buf *b, uint64_t v)
{
	buf_reserve(b, VARINT_MAX_LEN);
	b->len += varint_encode(b->data + b->len, v);
}

/* A key's lease, as a map entry carries it (0: none). */
struct entry_lease {
	uint64_t deadline, holder;
};

/* The size of a map entry's payload, without its own tag and length. */
static size_t
entry_body_size(size_t keylen, size_t vallen, uint64_t revision,
    bool with_revision, const struct entry_lease *lease)
{
	size_t body =
	    1 + varint_size(keylen) + keylen + 1 + varint_size(vallen) + vallen;

	if (with_revision)
		body += 1 + varint_size(revision);
	if (lease != NULL && lease->deadline != 0)
		body += 1 + varint_size(lease->deadline);
	if (lease != NULL && lease->holder != 0)
		body += 1 + varint_size(lease->holder);
	return body;
}

static void
buf_put_entry(struct buf *b, const char *key, size_t keylen, const uint8_t *val,
    size_t vallen, uint64_t revision, bool with_revision,
    const struct entry_lease *lease)
{
	size_t body =
	    entry_body_size(keylen, vallen, revision, with_revision, lease);
	uint8_t *p;

	/* Room for all of it at once: each change writes one. */
	buf_reserve(b, 2 * VARINT_MAX_LEN + body);
	p = b->data + b->len;
	p += varint_encode(p, (OBJFILE_FIELD_ENTRIES << 3) | 2);
	p += varint_encode(p, body);
	*p++ = (OBJFILE_ENTRY_KEY << 3) | 2;
	p += varint_encode(p, keylen);
	memcpy(p, key, keylen);
	p += keylen;
	*p++ = (OBJFILE_ENTRY_VALUE << 3) | 2;
	p += varint_encode(p, vallen);
	memcpy(p, val, vallen);
	p += vallen;
	if (with_revision) {
		*p++ = OBJFILE_ENTRY_REVISION << 3;
		p += varint_encode(p, revision);
	}
	if (lease != NULL && lease->deadline != 0) {
		*p++ = OBJFILE_ENTRY_DEADLINE << 3;
		p += varint_encode(p, lease->deadline);
	}
	if (lease != NULL && lease->holder != 0) {
		*p++ = OBJFILE_ENTRY_HOLDER << 3;
		p += varint_encode(p, lease->holder);
	}
	b->len = (size_t)(p - b->data);
}

size_t
objfile_commit_pack(uint64_t revision, uint32_t crc32, uint32_t n_entries,
    uint8_t out[OBJFILE_COMMIT_MAX])
{
	uint8_t *p = out;

	if (revision != 0) {
		*p++ = OBJFILE_COMMIT_REVISION << 3;
		p += varint_encode(p, revision);
	}
	if (crc32 != 0) {
		*p++ = (OBJFILE_COMMIT_CRC32 << 3) | 5;
		for (int i = 0; i < 4; i++)
			*p++ = (uint8_t)(crc32 >> (8 * i));
	}
	if (n_entries != 0) {
		*p++ = OBJFILE_COMMIT_N_ENTRIES << 3;
		p += varint_encode(p, n_entries);
	}
	return (size_t)(p - out);
}

static void
buf_put_commit_record(struct buf *b, uint64_t revision, uint32_t crc32,
    uint32_t n_entries)
{
	uint8_t tmp[OBJFILE_COMMIT_MAX];
	size_t n = objfile_commit_pack(revision, crc32, n_entries, tmp);

	buf_put_varint(b, (OBJFILE_FIELD_COMMITS << 3) | 2);
	buf_put_varint(b, n);
	buf_put(b, tmp, n);
}

static void
buf_put_header(struct buf *b)
{
	Objd__FileHeader header = OBJD__FILE_HEADER__INIT;
	uint8_t tmp[16];
	size_t n;

	header.format = FILE_FORMAT;
	n = objd__file_header__pack(&header, tmp);
	buf_put_varint(b, (OBJFILE_FIELD_HEADER << 3) | 2);
	buf_put_varint(b, n);
	buf_put(b, tmp, n);
}

/* Closes the change that started at *start with a commit record. */
static void
buf_put_commit(struct buf *b, size_t *start, uint64_t revision,
    uint32_t n_entries)
{
	buf_put_commit_record(b, revision,
	    libdeflate_crc32(0, b->data + *start, b->len - *start), n_entries);
	*start = b->len;
}

/* The change builder used by batch.c. */
void
objfile_change_set(struct objfile_changes *c, const char *key, size_t keylen,
    const uint8_t *val, size_t vallen)
{
	if (c->buf.len == 0 && c->with_header)
		buf_put_header(&c->buf);
	buf_put_entry(&c->buf, key, keylen, val, vallen, 0, false, NULL);
	c->entries++;
}

void
objfile_change_set_leased(struct objfile_changes *c, const char *key,
    size_t keylen, const uint8_t *val, size_t vallen, uint64_t deadline,
    uint64_t holder)
{
	struct entry_lease lease = { deadline, holder };

	if (c->buf.len == 0 && c->with_header)
		buf_put_header(&c->buf);
	buf_put_entry(&c->buf, key, keylen, val, vallen, 0, false, &lease);
	c->entries++;
}

void
objfile_change_delete(struct objfile_changes *c, const char *key, size_t keylen)
{
	objfile_change_set(c, key, keylen, objfile_tombstone,
	    sizeof(objfile_tombstone));
}

void
objfile_change_time(struct objfile_changes *c, int64_t time, bool expire)
{
	uint8_t rec[1 + VARINT_MAX_LEN + 2], *p = rec;

	if (c->buf.len == 0 && c->with_header)
		buf_put_header(&c->buf);
	if (time > 0) {
		*p++ = RECORD_FIELD_TIME << 3;
		p += varint_encode(p, (uint64_t)time);
	}
	if (expire) {
		*p++ = RECORD_FIELD_EXPIRE << 3;
		*p++ = 1;
	}
	buf_put_varint(&c->buf, (OBJFILE_FIELD_HISTORY << 3) | 2);
	buf_put_varint(&c->buf, (uint64_t)(p - rec));
	buf_put(&c->buf, rec, (size_t)(p - rec));
}

void
objfile_change_commit(struct objfile_changes *c, uint64_t revision)
{
	if (c->buf.len == 0 && c->with_header)
		buf_put_header(&c->buf);
	buf_put_commit(&c->buf, &c->start, revision, c->entries);
	c->entries = 0;
}

void
objfile_changes_init(struct objfile *f, struct objfile_changes *c)
{
	memset(c, 0, sizeof(*c));
	c->with_header = f->fd != -1 && f->good_end == 0;
	c->buf = f->spare;
	memset(&f->spare, 0, sizeof(f->spare));
}

/* Past this, a buffer that grew for one big change is not kept. */
#define SPARE_KEEP (64 * 1024)

void
objfile_changes_free(struct objfile *f, struct objfile_changes *c)
{
	if (f->spare.data == NULL && c->buf.cap <= SPARE_KEEP) {
		f->spare = c->buf;
		f->spare.len = 0;
	} else
		free(c->buf.data);
	memset(c, 0, sizeof(*c));
}

static void
identity_from(struct identity *id, const struct stat *st)
{
	id->exists = true;
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
	id->ctime = st->st_ctim;
}

static void
objfile_note_identity(struct objfile *f)
{
	struct stat st;

	f->seen_appended = false;
	if (f->fd != -1 && fstat(f->fd, &st) == 0)
		identity_from(&f->seen, &st);
}

/* objd's own write left the file size bytes long. Its times are not
 * asked for with an fstat: that would cost a system call per commit, and
 * on kernels with fine-grained file times, asking makes the next write
 * stamp the inode anew through the journal (pwrite of a set: 1.3 to 2.0
 * us here). The clock after the write is as late as any time the write
 * gave the file. */
static void
objfile_note_append(struct objfile *f, off_t size)
{
	if (f->asks_times) {
		objfile_note_identity(f);
		return;
	}
	f->seen.size = size;
	f->seen_appended = true;
	clock_gettime(CLOCK_REALTIME, &f->appended_at);
}

void
objfile_same_state(struct objfile *f)
{
	if (f->times_suspect && !f->asks_times) {
		log_info("%s: the file's times come later than objd's clock "
		         "says it wrote; asking for them after each write",
		    f->path);
		f->asks_times = true;
	}
	f->times_suspect = false;
}

bool
objfile_asks_times(const struct objfile *f)
{
	return f->asks_times;
}

static bool
time_after(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec != b->tv_sec ? a->tv_sec > b->tv_sec
	                              : a->tv_nsec > b->tv_nsec;
}

/* objd creates, renames and cuts files in the object file's folder, so
 * no other user may change that folder: one who could would plant the
 * names objd is about to use. */
static bool
objfile_check_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (stat(dir, &st) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a folder", dir);
		return false;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen,
		    "the folder %s belongs to uid %ld: objd keeps its file "
		    "only in a folder of its own user or of root",
		    dir, (long)st.st_uid);
		return false;
	}
	if ((st.st_mode & 0022) != 0) {
		snprintf(err, errlen,
		    "the folder %s is writable by other users (mode %04o): "
		    "objd keeps its file only in a folder that they cannot "
		    "change (chmod go-w, or choose another --file)",
		    dir, (unsigned)(st.st_mode & 07777));
		return false;
	}
	return true;
}

/* The lock lives in its own file: the object file's inode changes at
 * every compaction, a lock on it would not hold. It is a POSIX record
 * lock, which belongs to the process, not flock(2), which belongs to the
 * open file and so to a compaction child as well: after a kill -9 of objd
 * during a fork, the child kept a restarted objd out until it died. */
static int
objfile_lock(struct objfile *f, char *err, size_t errlen)
{
	char *lock_path = xasprintf("%s.lock", f->path);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
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
	if (fcntl(fd, F_SETLK, &fl) == -1) {
		if (errno != EACCES && errno != EAGAIN)
			snprintf(err, errlen, "cannot lock %s: %s", lock_path,
			    strerror(errno));
		else if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
			snprintf(err, errlen,
			    "%s is in use by another objd (pid %ld): stop it "
			    "first",
			    f->path, (long)fl.l_pid);
		else {
			n = pread(fd, pidbuf, sizeof(pidbuf) - 1, 0);
			pidbuf[n > 0 ? n : 0] = '\0';
			pidbuf[strcspn(pidbuf, "\n")] = '\0';
			snprintf(err, errlen,
			    "%s is in use by another objd (pid %s): stop it "
			    "first",
			    f->path, *pidbuf ? pidbuf : "unknown");
		}
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

/* The start of the names of objd's new files (a compaction's, a
 * rewrite's) beside the file at path, before mkostemp's six characters.
 * It holds the file's name, so that an objd of another file in the same
 * folder never takes them for its own; a name too long for that is
 * stood for by its crc. */
static char *
temp_prefix(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash != NULL ? slash + 1 : path;

	if (strlen(name) + sizeof(".objd-new..XXXXXX") - 1 <= NAME_MAX)
		return xasprintf(".objd-new.%s.", name);
	return xasprintf(".objd-new.%08x.",
	    (unsigned)libdeflate_crc32(0, name, strlen(name)));
}

/* Removes the new files that an objd of this path left when it was
 * killed while writing them (a compaction's child dies with it). The
 * lock is held: no live objd of this path is writing one. */
static void
remove_stale_temps(struct objfile *f)
{
	size_t plen = strlen(f->temp_prefix);
	unsigned long long bytes = 0;
	struct dirent *de;
	struct stat st;
	int n = 0;
	DIR *d;

	if ((d = opendir(f->dir)) == NULL) {
		log_warn("cannot look for stale files in %s", f->dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, f->temp_prefix, plen) != 0 ||
		    strlen(de->d_name) != plen + 6 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		        -1 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == -1) {
			log_warn("cannot remove stale %s/%s", f->dir,
			    de->d_name);
			continue;
		}
		n++;
		bytes += (unsigned long long)st.st_size;
	}
	closedir(d);
	if (n > 0)
		log_warnx("removed %d stale new file%s (%llu bytes) that an "
		          "interrupted compaction or rewrite left in %s",
		    n, n == 1 ? "" : "s", bytes, f->dir);
}

struct objfile *
objfile_open(const char *path, enum fsync_mode fsync_mode, char *err,
    size_t errlen)
{
	struct objfile *f = xcalloc(1, sizeof(*f));

	f->path = xstrdup(path);
	f->dir = paths_dirname(path);
	f->temp_prefix = temp_prefix(path);
	f->lock_fd = -1;
	f->fd = -1;
	f->child = -1;
	f->fsync = fsync_mode;
	if (!paths_make_dir(f->dir, 0700, err, errlen) ||
	    !objfile_check_dir(f->dir, err, errlen) ||
	    objfile_lock(f, err, errlen) == -1) {
		objfile_close(f);
		return NULL;
	}
	remove_stale_temps(f);
	return f;
}

void
objfile_close(struct objfile *f)
{
	if (f == NULL)
		return;
	objfile_compact_abort(f);
	if (f->fd != -1) {
		if (f->dirty && fdatasync(f->fd) == -1)
			log_warn("cannot sync %s", f->path);
		close(f->fd);
	}
	if (f->lock_fd != -1)
		close(f->lock_fd);
	free(f->tail.data);
	free(f->spare.data);
	free(f->path);
	free(f->dir);
	free(f->temp_prefix);
	free(f);
}

void
objfile_set_compress(struct objfile *f, bool compress)
{
	f->compress = compress;
}

void
objfile_watch_others(struct objfile *f, bool watched)
{
	f->others_watched = watched;
}

const struct objfile_stats *
objfile_stats(struct objfile *f)
{
	/* The sizes move with every change: taken when asked for. */
	f->stats.file_size = (uint64_t)f->good_end;
	f->stats.file_room = (uint64_t)(f->size - f->good_end);
	return &f->stats;
}

/* The store's side of the walk (common/objfile-scan.c): the entries go
 * into the store, each one it replaces or deletes into the history;
 * the records restore the history a snapshot kept. */
struct load {
	struct store *store;
	/* The change being loaded: its time and whether its deletes are
	 * expiries, from the last record without a key; whether its
	 * entries' past is known (not so for a snapshot's, until their
	 * records, nor for another program's file). */
	int64_t time;
	bool expire;
	bool known;
	uint64_t newest_head; /* of the entries whose past is unknown */
	bool times_seen;      /* the snapshot's list of commit times */
	struct history_loaded *versions; /* a record's, as it is read */
	size_t capversions;
};

static void
scan_to_store(const struct scan_entry *e, void *arg)
{
	struct load *ld = arg;
	struct store *s = ld->store;
	struct history *h = store_history(s);

	if (!ld->known) {
		/* A snapshot's or another program's entries make no
		 * versions: their past is unknown, or in the records that
		 * follow them. */
		if (e->revision > ld->newest_head)
			ld->newest_head = e->revision;
		if (e->deleted)
			free(store_remove(s, e->key, e->keylen));
		else
			free(store_put(s,
			    store_entry_new(e->key, e->keylen, e->val,
			        e->vallen, e->revision)));
	} else if (e->deleted)
		history_change(h, e->key, e->keylen, e->revision, ld->time,
		    ld->expire ? HISTORY_EXPIRE : HISTORY_DELETE,
		    store_remove(s, e->key, e->keylen), true);
	else
		history_change(h, e->key, e->keylen, e->revision, ld->time,
		    HISTORY_SET,
		    store_put(s,
		        store_entry_new(e->key, e->keylen, e->val, e->vallen,
		            e->revision)),
		    true);
	if (!e->deleted && (e->deadline != 0 || e->holder != 0))
		store_lease_set(s, e->key, e->keylen, e->deadline, e->holder);
}

/* Reads one Version of a record into l. */
static int
parse_version(const uint8_t *buf, size_t len, struct history_loaded *l)
{
	size_t pos = 0;
	uint32_t number;
	unsigned wire;
	uint64_t n;

	memset(l, 0, sizeof(*l));
	while (pos < len) {
		if (objfile_read_field(buf, len, &pos, &number, &wire, &n) ==
		    -1)
			return -1;
		if (wire == 0 && number == VERSION_FIELD_REVISION)
			l->revision = n;
		else if (wire == 0 && number == VERSION_FIELD_TIME)
			l->time = (int64_t)n;
		else if (wire == 0 && number == VERSION_FIELD_WHAT)
			l->what = (unsigned)n;
		else if (wire == 2 && number == VERSION_FIELD_VALUE) {
			l->val = buf + pos;
			l->vallen = (size_t)n;
		}
		if (wire != 0)
			pos += (size_t)n;
	}
	if (l->what != HISTORY_SET && l->what != HISTORY_DELETE &&
	    l->what != HISTORY_EXPIRE)
		return -1;
	return l->what != HISTORY_SET || l->val != NULL ? 0 : -1;
}

/* Applies a history record: a key's versions, or the time of the change
 * whose entries follow. false if it is malformed. */
static bool
load_record(struct load *ld, const uint8_t *p, size_t len, bool ours)
{
	const char *key = NULL;
	size_t pos = 0, keylen = 0, nversions = 0;
	int64_t time = 0;
	bool truncated = false, expire = false;
	char why[256];
	uint32_t number;
	unsigned wire;
	uint64_t n;

	while (pos < len) {
		if (objfile_read_field(p, len, &pos, &number, &wire, &n) == -1)
			return false;
		if (wire == 2 && number == RECORD_FIELD_KEY) {
			key = (const char *)p + pos;
			keylen = (size_t)n;
		} else if (wire == 2 && number == RECORD_FIELD_VERSIONS) {
			if (nversions == ld->capversions) {
				ld->capversions =
				    ld->capversions ? ld->capversions * 2 : 16;
				ld->versions = xreallocarray(ld->versions,
				    ld->capversions, sizeof(*ld->versions));
			}
			if (parse_version(p + pos, (size_t)n,
			        &ld->versions[nversions++]) == -1)
				return false;
		} else if (wire == 0 && number == RECORD_FIELD_TIME)
			time = (int64_t)n;
		else if (wire == 0 && number == RECORD_FIELD_TRUNCATED)
			truncated = n != 0;
		else if (wire == 0 && number == RECORD_FIELD_EXPIRE)
			expire = n != 0;
		if (wire != 0)
			pos += (size_t)n;
	}
	if (keylen == 0) {
		ld->time = time;
		ld->expire = expire;
		return true;
	}
	if (!ours && !key_valid(key, keylen, why, sizeof(why)))
		return false;
	/* A file objd did not write is checked as strictly as a request. */
	for (size_t i = 0; i < nversions && !ours; i++) {
		Objd__Value *v;

		if (ld->versions[i].what != HISTORY_SET)
			continue;
		v = value_unpack(ld->versions[i].val, ld->versions[i].vallen,
		    why, sizeof(why));
		if (v == NULL)
			return false;
		value_free(v);
	}
	history_restore(store_history(ld->store), ld->store, key, keylen,
	    ld->versions, nversions, time, truncated);
	return true;
}

/* Reads the packed varints of a list of commit times into *out. */
static int
read_packed(const uint8_t *p, size_t len, uint64_t **out, size_t *n)
{
	size_t pos = 0, cap = 0;
	uint64_t v;
	int used;

	*out = NULL;
	*n = 0;
	while (pos < len) {
		if ((used = varint_decode(p + pos, len - pos, &v)) <= 0) {
			free(*out);
			*out = NULL;
			return -1;
		}
		pos += (size_t)used;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*out = xreallocarray(*out, cap, sizeof(**out));
		}
		(*out)[(*n)++] = v;
	}
	return 0;
}

/* Applies a snapshot's list of commit times: the times of its keys set
 * once, and from which revision on such keys' past is known. */
static bool
load_times(struct load *ld, const uint8_t *p, size_t len)
{
	struct history *h = store_history(ld->store);
	uint64_t *revs = NULL, *times = NULL, known_since = 0;
	size_t nrevs = 0, ntimes = 0, pos = 0;
	uint32_t number;
	unsigned wire;
	uint64_t n;
	bool ok = false;

	while (pos < len) {
		if (objfile_read_field(p, len, &pos, &number, &wire, &n) == -1)
			goto out;
		if (wire == 0 && number == TIMES_FIELD_KNOWN_SINCE)
			known_since = n;
		else if (wire == 2 && number == TIMES_FIELD_REVISIONS) {
			free(revs);
			if (read_packed(p + pos, (size_t)n, &revs, &nrevs) ==
			    -1)
				goto out;
		} else if (wire == 2 && number == TIMES_FIELD_TIMES) {
			free(times);
			if (read_packed(p + pos, (size_t)n, &times, &ntimes) ==
			    -1)
				goto out;
		}
		if (wire != 0)
			pos += (size_t)n;
	}
	if (nrevs != ntimes)
		goto out;
	ld->times_seen = true;
	if (history_depth > 0) {
		history_set_known_since(h, known_since);
		for (size_t i = 0; i < nrevs; i++)
			history_times_add(h, revs[i], (int64_t)times[i]);
	}
	ok = true;
out:
	free(revs);
	free(times);
	return ok;
}

static bool
scan_record_to_store(enum scan_record_kind kind, const uint8_t *p, size_t len,
    bool ours, void *arg)
{
	struct load *ld = arg;

	if (kind == SCAN_RECORD_TIMES)
		return load_times(ld, p, len);
	return load_record(ld, p, len, ours);
}

/* After the first change (a snapshot, or another program's file), each
 * entry is a new version of its key. A snapshot's keys without a record
 * were set once if its list of times says so; without a list (a file
 * written without history), their past is unknown. */
static void
scan_committed(uint64_t revision, void *arg)
{
	struct load *ld = arg;

	if (!ld->known && !ld->times_seen && history_depth > 0)
		history_set_known_since(store_history(ld->store),
		    revision > ld->newest_head ? revision : ld->newest_head);
	ld->known = true;
}

/* Inserting a million keys otherwise waits on memory for each. */
static void
scan_prefetch_slot(const char *key, size_t keylen, void *arg)
{
	const struct load *ld = arg;

	store_prefetch_slot(ld->store, key, keylen);
}

enum scan_result
objfile_scan_buffer(const uint8_t *buf, size_t len, struct store *s,
    size_t *good_end, bool *ours, char *err, size_t errlen)
{
	struct load ld = { .store = s };
	struct scan_ops ops = { .entry = scan_to_store,
		.prefetch = scan_prefetch_slot,
		.record = scan_record_to_store,
		.committed = scan_committed,
		.arg = &ld };
	struct scan_report rep;

	objfile_scan(buf, len, &ops, &rep);
	free(ld.versions);
	snprintf(err, errlen, "%s", rep.why);
	*good_end = rep.good_end;
	*ours = rep.ours;
	/* Per-key revisions come from the file; the object's is the last
	 * commit's. */
	store_set_revision(s, rep.revision);
	return rep.result;
}

/* Writes all of iov at at, whatever short writes the kernel makes;
 * iov is used up on the way. */
static int
writev_all(int fd, struct iovec *iov, int iovcnt, off_t at)
{
	ssize_t n;

	while (iovcnt > 0) {
		n = pwritev(fd, iov, iovcnt, at);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		at += n;
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static int
write_all(int fd, const uint8_t *p, size_t len, off_t at)
{
	struct iovec iov = { (void *)p, len };

	return writev_all(fd, &iov, 1, at);
}

/* Maps the file at path; *fdp is its descriptor, -1 if it is missing. */
static int
map_file(const char *path, int flags, int *fdp, uint8_t **map, size_t *len,
    struct stat *st, char *err, size_t errlen)
{
	/* Never through a symbolic link, and never waiting on a FIFO that
	 * someone put in the file's place. */
	int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	*fdp = -1;
	*map = NULL;
	*len = 0;
	if (fd == -1 && errno == ENOENT)
		return 0;
	if (fd == -1 && errno == ELOOP) {
		snprintf(err, errlen,
		    "%s is a symbolic link: objd does not follow one to the "
		    "file it writes (name the real file)",
		    path);
		return -1;
	}
	if (fd == -1 || fstat(fd, st) == -1) {
		snprintf(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	if (st->st_size > 0) {
		*map = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_PRIVATE,
		    fd, 0);
		if (*map == MAP_FAILED) {
			*map = NULL;
			snprintf(err, errlen, "cannot map %s: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		*len = (size_t)st->st_size;
	}
	*fdp = fd;
	return 0;
}

/* Below this, a replaced file is closed in the loop: a thread costs more. */
#define CLOSE_BEHIND_MIN (1024 * 1024)

static void *
close_main(void *arg)
{
	close((int)(intptr_t)arg);
	return NULL;
}

/* Closes objd's descriptor of a file that a new one has replaced, by
 * objd's rename or another program's. The last close of a file whose
 * name is gone frees its blocks and its cached pages before it returns:
 * for a file of 58 MB here, 8-13 ms in which no client would be served. */
static void
close_replaced(int fd, off_t size)
{
	if (size < CLOSE_BEHIND_MIN ||
	    !run_behind(close_main, (void *)(intptr_t)fd))
		close(fd);
}

/* A read of the file at the path into a store of its own, which touches
 * nothing of the objfile: it runs on a thread while the loop goes on
 * with the file it knows (reload.c). */
struct objfile_read {
	char *path;
	struct store *store;
	bool exists;
	struct stat st; /* of the file read, when it exists */
	int rc;
	char err[1024];
};

struct objfile_read *
objfile_read_new(const struct objfile *f, struct store *s)
{
	struct objfile_read *r = xcalloc(1, sizeof(*r));

	r->path = xstrdup(f->path);
	r->store = s;
	return r;
}

void
objfile_read_run(struct objfile_read *r)
{
	char why[512];
	uint8_t *map;
	size_t len, good_end;
	enum scan_result res;
	bool ours;
	int fd;

	r->rc = -1;
	if (map_file(r->path, O_RDONLY, &fd, &map, &len, &r->st, r->err,
	        sizeof(r->err)) == -1)
		return;
	r->exists = fd != -1;
	r->rc = 0;
	if (fd == -1)
		return;
	res = objfile_scan_buffer(map, len, r->store, &good_end, &ours, why,
	    sizeof(why));
	if (res != SCAN_OK) {
		snprintf(r->err, sizeof(r->err), "%s", why);
		r->rc = -1;
	}
	if (map != NULL)
		munmap(map, len);
	close(fd);
}

int
objfile_read_finish(struct objfile *f, struct objfile_read *r, char *err,
    size_t errlen)
{
	int rc = r->rc;

	/* What objfile_load without recover notes of the file it read. */
	if (rc == -1 && !r->exists)
		snprintf(err, errlen, "%s", r->err);
	else {
		f->at_path.exists = false;
		if (r->exists)
			identity_from(&f->at_path, &r->st);
		else {
			f->seen.exists = false;
			f->seen_appended = false;
		}
		if (rc == -1)
			snprintf(err, errlen, "%s", r->err);
	}
	free(r->path);
	free(r);
	return rc;
}

int
objfile_load(struct objfile *f, struct store *s, bool recover, char *err,
    size_t errlen)
{
	char why[512];
	struct stat st;
	uint8_t *map;
	size_t len, good_end, size;
	enum scan_result r;
	char *kept;
	bool ours;
	int fd;

	if (map_file(f->path, recover ? O_RDWR : O_RDONLY, &fd, &map, &len, &st,
	        err, errlen) == -1)
		return -1;
	f->at_path.exists = false;
	if (fd != -1)
		identity_from(&f->at_path, &st);
	if (fd == -1) {
		f->seen.exists = false;
		f->seen_appended = false;
		return 0;
	}
	r = objfile_scan_buffer(map, len, s, &good_end, &ours, why,
	    sizeof(why));
	size = len;
	if (r == SCAN_TORN && recover && ours) {
		log_warnx("%s: %s: cutting %zu bytes back to the last good "
		          "commit, at byte %zu",
		    f->path, why, len - good_end, good_end);
		kept = objfile_keep_tail(f->path, map + good_end,
		    len - good_end, err, errlen);
		if (kept != NULL)
			log_warnx("kept the %zu bytes cut from %s in %s",
			    len - good_end, f->path, kept);
		if (kept == NULL)
			r = SCAN_INVALID;
		else if (ftruncate(fd, (off_t)good_end) == -1 ||
		    fsync(fd) == -1) {
			snprintf(err, errlen, "cannot cut %s back: %s", f->path,
			    strerror(errno));
			r = SCAN_INVALID;
		} else {
			f->stats.recovered_bytes = len - good_end;
			free(kept);
			size = good_end;
			r = SCAN_OK;
		}
	} else if (r == SCAN_DAMAGED && recover)
		snprintf(err, errlen,
		    "%s: not a torn end, which a crash leaves, so objd cuts "
		    "nothing off; restore a copy of the file, or move it "
		    "aside to start without its changes",
		    why);
	else if (r != SCAN_OK)
		snprintf(err, errlen, "%s", why);
	if (map != NULL)
		munmap(map, len);
	if (r != SCAN_OK) {
		close(fd);
		return -1;
	}
	/* The file objd writes is its owner's alone, as the ones it
	 * creates are; a file it refuses stays as it was. */
	if (recover && (st.st_mode & 077) != 0) {
		if (fchmod(fd, 0600) == -1)
			log_warn("cannot make %s mode 0600", f->path);
		else
			log_info("made %s mode 0600 (it was %04o)", f->path,
			    (unsigned)(st.st_mode & 07777));
	}
	if (!recover) {
		close(fd);
		return 0;
	}
	/* Room is for --fsync always; in another mode, each change would
	 * have to rewrite the padding field after it for nothing. A crash
	 * before the cut leaves the room, which is as good. */
	if (ours && size > good_end && f->fsync != FSYNC_ALWAYS) {
		if (ftruncate(fd, (off_t)good_end) == -1)
			log_warn("cannot cut the room off %s", f->path);
		else
			size = good_end;
	}
	/* objd appends only to a file in its own format; another program's
	 * file is adopted by the caller's rewrite. */
	if (f->fd != -1)
		close_replaced(f->fd, f->size);
	f->fd = ours ? fd : -1;
	f->good_end = (off_t)good_end;
	f->size = (off_t)size;
	if (f->fd != -1)
		objfile_note_identity(f);
	else {
		/* The file read, not whatever the path holds by now: a newer
		 * one must look changed to the next reload. */
		if (fstat(fd, &st) == 0)
			identity_from(&f->seen, &st);
		f->seen_appended = false;
		close(fd);
	}
	return ours || good_end == 0 ? 0 : 1;
}

static int
sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

struct snapshot_writer {
	int fd;
	uint64_t revision; /* the snapshot's: its entries' own by default */
	const struct leases *leases; /* the store's */
	struct buf buf;
	off_t at;
	uint32_t crc;
	int error;
	/* --compress: entries wait in chunk until deflated into buf. */
	bool compress;
	struct buf chunk;
	struct libdeflate_compressor *deflater;
	uint8_t *zout;
	size_t zoutlen;
	/* The history: each key's record follows its entry. */
	const struct store *store;
	const struct history *history;
	struct buf record;
	uint64_t oldest_single; /* revision of the oldest key set once */
};

static void
snapshot_flush(struct snapshot_writer *w)
{
	if (w->error == 0 &&
	    write_all(w->fd, w->buf.data, w->buf.len, w->at) == -1)
		w->error = errno;
	w->at += (off_t)w->buf.len;
	w->buf.len = 0;
}

static void
snapshot_maybe_flush(struct snapshot_writer *w)
{
	if (w->buf.len >= WRITE_CHUNK) {
		w->crc = libdeflate_crc32(w->crc, w->buf.data, w->buf.len);
		snapshot_flush(w);
	}
}

/* Deflates the entries waiting in w->chunk into one deflated_entries
 * field of w->buf: a zlib stream. */
static void
snapshot_deflate(struct snapshot_writer *w)
{
	size_t n;

	if (w->chunk.len == 0 || w->error != 0) {
		w->chunk.len = 0;
		return;
	}
	if (w->deflater == NULL) {
		w->deflater = libdeflate_alloc_compressor(DEFLATE_LEVEL);
		if (w->deflater == NULL) {
			w->error = ENOMEM;
			w->chunk.len = 0;
			return;
		}
		/* Room for the worst case, so that every chunk fits. */
		w->zoutlen = libdeflate_zlib_compress_bound(w->deflater,
		    OBJFILE_CHUNK_MAX);
		w->zout = xmalloc(w->zoutlen);
	}
	n = libdeflate_zlib_compress(w->deflater, w->chunk.data, w->chunk.len,
	    w->zout, w->zoutlen);
	w->chunk.len = 0;
	if (n == 0) {
		log_warnx("cannot deflate a snapshot's entries");
		w->error = EINVAL;
		return;
	}
	buf_put_varint(&w->buf, (OBJFILE_FIELD_DEFLATED << 3) | 2);
	buf_put_varint(&w->buf, n);
	buf_put(&w->buf, w->zout, n);
	snapshot_maybe_flush(w);
}

static void snapshot_put_key_record(struct snapshot_writer *,
    const struct key_history *);
static void snapshot_put_entry_only(const struct store_entry *,
    struct snapshot_writer *);

/* Writes e, then its key's history record if it has one. */
static void
snapshot_put_entry(const struct store_entry *e, void *arg)
{
	struct snapshot_writer *w = arg;
	const struct key_history *kh;

	snapshot_put_entry_only(e, w);
	if (w->history == NULL)
		return;
	if ((kh = history_get(w->history, e->data, e->keylen)) != NULL)
		snapshot_put_key_record(w, kh);
	else if (e->revision < w->oldest_single)
		w->oldest_single = e->revision;
}

static void
buf_put_packed(struct buf *b, uint32_t field, const struct history *h,
    size_t first, bool times)
{
	size_t n = history_times_count(h), len = 0;
	uint64_t rev;
	int64_t time;

	for (size_t i = first; i < n; i++) {
		history_times_get(h, i, &rev, &time);
		len += varint_size(times ? (uint64_t)time : rev);
	}
	buf_put_varint(b, (field << 3) | 2);
	buf_put_varint(b, len);
	for (size_t i = first; i < n; i++) {
		history_times_get(h, i, &rev, &time);
		buf_put_varint(b, times ? (uint64_t)time : rev);
	}
}

/* The list of commit times (Object.history_times), from the pair the
 * oldest key set once needs: written after every entry, as that key is
 * only known then. */
static void
snapshot_put_times(struct snapshot_writer *w)
{
	const struct history *h = w->history;
	size_t first = history_times_first(h, w->oldest_single);

	w->record.len = 0;
	buf_put_varint(&w->record, TIMES_FIELD_KNOWN_SINCE << 3);
	buf_put_varint(&w->record, history_known_since(h));
	buf_put_packed(&w->record, TIMES_FIELD_REVISIONS, h, first, false);
	buf_put_packed(&w->record, TIMES_FIELD_TIMES, h, first, true);
	buf_put_varint(&w->buf, (OBJFILE_FIELD_TIMES << 3) | 2);
	buf_put_varint(&w->buf, w->record.len);
	buf_put(&w->buf, w->record.data, w->record.len);
	snapshot_maybe_flush(w);
}

static void
snapshot_put_entry_only(const struct store_entry *e, struct snapshot_writer *w)
{
	/* A key's revision is written when it is not the snapshot's, even
	 * when it is 0 (the keys of an adopted file): left out, it would
	 * read back as the snapshot's. */
	bool with_revision = e->revision != w->revision;
	const struct lease *l = leases_get(w->leases, e->data, e->keylen);
	struct entry_lease lease_buf, *lease = NULL;
	size_t body, size;

	if (l != NULL) {
		lease_buf = (struct entry_lease){ l->deadline, l->holder };
		lease = &lease_buf;
	}
	body = entry_body_size(e->keylen, e->vallen, e->revision, with_revision,
	    lease);
	size = 1 + varint_size(body) + body;

	/* An entry too big for a chunk of its own stays plain: the bound on
	 * a chunk is what keeps loading safe. */
	if (w->compress && size <= OBJFILE_CHUNK_MAX) {
		if (w->chunk.len + size > OBJFILE_CHUNK_MAX)
			snapshot_deflate(w);
		buf_put_entry(&w->chunk, e->data, e->keylen,
		    STORE_ENTRY_VALUE(e), e->vallen, e->revision, with_revision,
		    lease);
		return;
	}
	buf_put_entry(&w->buf, e->data, e->keylen, STORE_ENTRY_VALUE(e),
	    e->vallen, e->revision, with_revision, lease);
	snapshot_maybe_flush(w);
}

/* The size of a Version's payload. */
static size_t
version_body_size(const struct history_version *v, size_t vallen)
{
	size_t body = 1 + varint_size(v->revision);

	if (v->time != 0)
		body += 1 + varint_size(v->time);
	if (v->what != 0)
		body += 1 + varint_size(v->what);
	if (v->what == HISTORY_SET)
		body += 1 + varint_size(vallen) + vallen;
	return body;
}

/* A key's HistoryRecord: its versions but the one its entry holds,
 * packed into b. */
static void
pack_key_record(struct buf *b, const struct key_history *kh)
{
	const uint8_t *val = NULL;
	size_t vallen = 0, body, vbody;
	uint32_t n = kh->count;
	uint64_t time = 0;
	const struct history_version *v;

	if (n > 0 && HISTORY_AT(kh, n - 1)->what == HISTORY_SET &&
	    HISTORY_AT(kh, n - 1)->vlen == HISTORY_NO_VALUE) {
		n--;
		time = HISTORY_AT(kh, n)->time;
	}
	body = 1 + varint_size(kh->keylen) + kh->keylen;
	for (uint32_t i = 0; i < n; i++) {
		v = HISTORY_AT(kh, i);
		if (!history_version_stored(v, &val, &vallen))
			vallen = 0;
		vbody = version_body_size(v, vallen);
		body += 1 + varint_size(vbody) + vbody;
	}
	if (time != 0)
		body += 1 + varint_size(time);
	if (kh->truncated)
		body += 2;
	buf_put_varint(b, (OBJFILE_FIELD_HISTORY << 3) | 2);
	buf_put_varint(b, body);
	buf_put_varint(b, (RECORD_FIELD_KEY << 3) | 2);
	buf_put_varint(b, kh->keylen);
	buf_put(b, HISTORY_KEY(kh), kh->keylen);
	for (uint32_t i = 0; i < n; i++) {
		v = HISTORY_AT(kh, i);
		val = NULL;
		vallen = 0;
		if (v->what == HISTORY_SET &&
		    !history_version_stored(v, &val, &vallen))
			val = NULL;
		buf_put_varint(b, (RECORD_FIELD_VERSIONS << 3) | 2);
		buf_put_varint(b, version_body_size(v, vallen));
		buf_put_varint(b, VERSION_FIELD_REVISION << 3);
		buf_put_varint(b, v->revision);
		if (v->time != 0) {
			buf_put_varint(b, VERSION_FIELD_TIME << 3);
			buf_put_varint(b, v->time);
		}
		if (v->what != 0) {
			buf_put_varint(b, VERSION_FIELD_WHAT << 3);
			buf_put_varint(b, v->what);
		}
		if (v->what == HISTORY_SET) {
			buf_put_varint(b, (VERSION_FIELD_VALUE << 3) | 2);
			buf_put_varint(b, vallen);
			if (vallen > 0)
				buf_put(b, val, vallen);
		}
	}
	if (time != 0) {
		buf_put_varint(b, RECORD_FIELD_TIME << 3);
		buf_put_varint(b, time);
	}
	if (kh->truncated) {
		buf_put_varint(b, RECORD_FIELD_TRUNCATED << 3);
		buf_put_varint(b, 1);
	}
}

/* Writes kh's record, in the chunk being deflated with compress (as the
 * entries are), else plain. */
static void
snapshot_put_key_record(struct snapshot_writer *w, const struct key_history *kh)
{
	w->record.len = 0;
	pack_key_record(&w->record, kh);
	if (w->compress && w->record.len <= OBJFILE_CHUNK_MAX) {
		if (w->chunk.len + w->record.len > OBJFILE_CHUNK_MAX)
			snapshot_deflate(w);
		buf_put(&w->chunk, w->record.data, w->record.len);
		return;
	}
	/* After the entry it completes, which may wait in the chunk. */
	snapshot_deflate(w);
	buf_put(&w->buf, w->record.data, w->record.len);
	snapshot_maybe_flush(w);
}

/* The record of a key that no entry holds: deleted, with its past. */
static void
snapshot_put_gone_record(const struct key_history *kh, void *arg)
{
	struct snapshot_writer *w = arg;

	if (store_get(w->store, HISTORY_KEY(kh), kh->keylen) == NULL)
		snapshot_put_key_record(w, kh);
}

/* Writes header, every entry (each with its revision; with compress, in
 * deflated chunks), the history records and one commit to fd; returns the size,
 * or -1 with errno. The commit counts every entry, those in chunks too. */
static off_t
write_snapshot(int fd, const struct store *s, bool compress)
{
	struct snapshot_writer w = { .fd = fd,
		.revision = store_revision(s),
		.leases = store_leases(s),
		.compress = compress,
		.store = s,
		.history = history_depth > 0 ? store_history(s) : NULL,
		.oldest_single = UINT64_MAX };

	buf_put_header(&w.buf);
	/* Each key's history record right after its entry, where a load
	 * finds the entry it completes still in the cache; then those of
	 * deleted keys. */
	store_foreach(s, snapshot_put_entry, &w);
	history_foreach(w.history, snapshot_put_gone_record, &w);
	snapshot_deflate(&w);
	/* Without entries, the list says nothing a load would not assume
	 * (and a first file's empty snapshot stays as it was). */
	if (w.history != NULL && store_count(s) > 0)
		snapshot_put_times(&w);
	free(w.record.data);
	libdeflate_free_compressor(w.deflater);
	free(w.zout);
	free(w.chunk.data);
	w.crc = libdeflate_crc32(w.crc, w.buf.data, w.buf.len);
	buf_put_commit_record(&w.buf, store_revision(s), w.crc,
	    (uint32_t)store_count(s));
	snapshot_flush(&w);
	free(w.buf.data);
	if (w.error != 0) {
		errno = w.error;
		return -1;
	}
	return w.at;
}

/* Fills out with the header of a padding field exactly room bytes long
 * and returns its length; 0 if no field is: room 1, and the few sizes
 * where the length's varint would need one more byte than leaves the
 * size whole. */
static size_t
room_header(size_t room, uint8_t out[1 + VARINT_MAX_LEN])
{
	for (size_t lenlen = 1; lenlen <= VARINT_MAX_LEN && 1 + lenlen <= room;
	     lenlen++) {
		if (varint_size(room - 1 - lenlen) == lenlen) {
			out[0] = (OBJFILE_FIELD_PADDING << 3) | 2;
			varint_encode(out + 1, room - 1 - lenlen);
			return 1 + lenlen;
		}
	}
	return 0;
}

/* The size a file grows to when a change ending at end finds no room. */
static off_t
room_grown_size(off_t end)
{
	off_t room = end / 16, size;
	uint8_t header[1 + VARINT_MAX_LEN];

	room = room < ROOM_MIN ? ROOM_MIN : room > ROOM_MAX ? ROOM_MAX : room;
	size = (end + room + ROOM_ALIGN - 1) / ROOM_ALIGN * ROOM_ALIGN;
	while (room_header((size_t)(size - end), header) == 0)
		size += ROOM_ALIGN;
	return size;
}

/* What stands in the new room when the file grows: any bytes would do,
 * zeros are what a reader expects to skip. Never written, and outside
 * the binary: its pages are the kernel's one zero page. */
static uint8_t room_zeros[64 * 1024];
#define ROOM_IOV_MAX (2 + (ROOM_MAX + 4 * ROOM_ALIGN) / sizeof(room_zeros) + 1)

/* Writes len bytes of data at end, in a file of size bytes: in the room
 * if they leave some, ending it in a shorter padding field; otherwise,
 * with grow, growing the file with new room, in the same write so that
 * no moment of the file lacks its padding field. Sets size to the
 * file's new size. */
static int
write_with_room(int fd, off_t end, off_t *size, const void *data, size_t len,
    bool grow)
{
	off_t new_end = end + (off_t)len, new_size = *size;
	uint8_t header[1 + VARINT_MAX_LEN];
	struct iovec iov[ROOM_IOV_MAX];
	size_t headerlen = 0, zeros = 0;
	int iovcnt = 0;

	if (new_end < new_size)
		headerlen = room_header((size_t)(new_size - new_end), header);
	/* Data that fills the room to the last byte grows the file too:
	 * with grow, the file never ends without room. */
	if (headerlen == 0 && (grow || new_end != new_size)) {
		new_size = grow ? room_grown_size(new_end) : new_end;
		headerlen = grow
		    ? room_header((size_t)(new_size - new_end), header)
		    : 0;
		zeros = (size_t)(new_size - new_end) - headerlen;
	}
	iov[iovcnt++] = (struct iovec){ (void *)(uintptr_t)data, len };
	iov[iovcnt++] = (struct iovec){ header, headerlen };
	while (zeros > 0) {
		size_t n =
		    zeros < sizeof(room_zeros) ? zeros : sizeof(room_zeros);

		iov[iovcnt++] = (struct iovec){ room_zeros, n };
		zeros -= n;
	}
	if (writev_all(fd, iov, iovcnt, end) == -1)
		return -1;
	/* Only without room: a cut where no padding field would fit. */
	if (new_size < *size && ftruncate(fd, new_size) == -1)
		return -1;
	*size = new_size;
	return 0;
}

static bool
is_disk_full(int error)
{
	return error == ENOSPC || error == EDQUOT || error == EFBIG;
}

/* Ends a new file, whose snapshot ends at end, with data and, with
 * room, room after it, as appends would leave it: so the first change
 * after a compaction or a rewrite does not have to grow the file.
 * Returns the file's size, or -1 with errno. */
static off_t
finish_new_file(int fd, off_t end, const void *data, size_t len, bool room)
{
	off_t size = end;

	while (write_with_room(fd, end, &size, data, len, room) == -1) {
		int saved = errno;

		/* A full disk may still hold the file without room. */
		if (!room || !is_disk_full(saved) || ftruncate(fd, end) == -1) {
			errno = saved;
			return -1;
		}
		size = end;
		room = false;
	}
	return size;
}

static int
make_temp(struct objfile *f, char **tmp, char *err, size_t errlen)
{
	int fd;

	*tmp = xasprintf("%s/%sXXXXXX", f->dir, f->temp_prefix);
	fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "cannot create a file in %s: %s", f->dir,
		    strerror(errno));
		free(*tmp);
		*tmp = NULL;
	}
	return fd;
}

/* What rename_over expects where no file is to be replaced. */
static const struct identity no_file;

static bool
same_file(const struct stat *st, const struct identity *id)
{
	return id->exists && st->st_dev == id->dev && st->st_ino == id->ino;
}

/* True if the path holds the file expect names, or nothing if expect
 * says none was there. */
static bool
path_holds(const struct objfile *f, const struct identity *expect)
{
	struct stat st;

	if (stat(f->path, &st) == -1)
		return errno == ENOENT && !expect->exists;
	return same_file(&st, expect);
}

/* The filesystem cannot exchange two files or refuse to replace one
 * (renameat2's flags, which NFS lacks). */
static bool
rename_flags_unsupported(int error)
{
	return error == EINVAL || error == ENOSYS || error == EOPNOTSUPP;
}

/* Renames from to to unless something is at to: 0 when renamed, 1 when
 * to is taken, -1 with errno. */
static int
rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return 1;
	if (!rename_flags_unsupported(errno))
		return -1;
	if (access(to, F_OK) == 0)
		return 1;
	return errno == ENOENT ? rename(from, to) : -1;
}

/* Puts the file at tmp, out, back at the object file's path, where
 * objd put the file placed: by another exchange, so that a file renamed
 * in meanwhile is not written over. Such a file is newer than out (it
 * replaced placed, which came after out), so then it goes back in the
 * same way, and out, as its rename would have it, is dropped. Returns 1
 * when the path holds the newest of them and tmp what is to be removed,
 * or -1 when the way back failed. */
static int
exchange_back(struct objfile *f, const char *tmp, struct stat out,
    struct stat placed)
{
	struct stat back;

	/* Each turn needs another program's rename in a few system calls:
	 * a bound only against a storm of them. */
	for (int turn = 0; turn < 100; turn++) {
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, f->path,
		        RENAME_EXCHANGE) == -1) {
			/* The path was emptied meanwhile: out goes back
			 * only where nothing came since. */
			if (errno != ENOENT || access(tmp, F_OK) == -1)
				return -1;
			return rename_noreplace(tmp, f->path) == -1 ? -1 : 1;
		}
		if (lstat(tmp, &back) == -1)
			return -1;
		if (back.st_dev == placed.st_dev &&
		    back.st_ino == placed.st_ino)
			return 1;
		placed = out;
		out = back;
	}
	return -1;
}

/* Exchanges the new file, fd at tmp, with the file at the object file's
 * path, and puts that one back unless it is the one expected (see
 * exchange_back). Returns 0 when the new file is in place, 1 when the
 * path holds another program's file (tmp's name holds what is to be
 * removed), -1 with errno when no exchange took place. */
static int
exchange_in(struct objfile *f, int fd, char **tmp,
    const struct identity *expect)
{
	struct stat out, ours;

	if (renameat2(AT_FDCWD, *tmp, AT_FDCWD, f->path, RENAME_EXCHANGE) ==
	    -1) {
		/* Nothing at the path: not the file expected either. */
		return errno == ENOENT && access(*tmp, F_OK) == 0 ? 1 : -1;
	}
	if (lstat(*tmp, &out) == 0 && same_file(&out, expect)) {
		unlink(*tmp);
		return 0;
	}
	if (lstat(*tmp, &out) == -1 || fstat(fd, &ours) == -1 ||
	    exchange_back(f, *tmp, out, ours) == -1) {
		/* tmp's name may now hold another program's file, which
		 * is kept for its owner. */
		log_warnx(
		    "%s may hold a file that was renamed to %s while objd "
		    "replaced it; left there",
		    *tmp, f->path);
		free(*tmp);
		*tmp = NULL;
	}
	return 1;
}

/* Renames the new file, fd at tmp, to the object file's path, but only
 * over the file expect names (or where none is, if expect says so): over
 * another program's file renamed in meanwhile, objd would drop it
 * unread. A look at the path before the rename leaves a window for such
 * a file, so the rename itself checks where the filesystem can. Returns
 * 1 if the path held something else, which is left there; -1 on error.
 * Whatever then still has tmp's name is for objd to remove (its own
 * file, or one that a newer file replaced), or *tmp is NULL. */
static int
rename_over(struct objfile *f, int fd, char **tmp,
    const struct identity *expect, char *err, size_t errlen)
{
	int rc;

	if (expect == NULL)
		rc = rename(*tmp, f->path);
	else if (!expect->exists)
		rc = rename_noreplace(*tmp, f->path);
	else if ((rc = exchange_in(f, fd, tmp, expect)) == -1 &&
	    rename_flags_unsupported(errno))
		rc = path_holds(f, expect) ? rename(*tmp, f->path) : 1;
	if (rc == -1)
		snprintf(err, errlen, "cannot rename %s to %s: %s", *tmp,
		    f->path, strerror(errno));
	return rc;
}

/* Puts a fully written temporary file in place of the object file (see
 * rename_over for expect) and makes it the file objd appends to, at
 * end. */
static int
install_file(struct objfile *f, int fd, char **tmp,
    const struct identity *expect, off_t end, off_t size, char *err,
    size_t errlen)
{
	int rc;

	if ((rc = rename_over(f, fd, tmp, expect, err, errlen)) != 0)
		return rc;
	/* The rename is durable only once the folder is. */
	if (sync_dir(f->dir) == -1)
		log_warn("cannot sync folder %s", f->dir);
	if (f->fd != -1)
		close_replaced(f->fd, f->size);
	f->fd = fd;
	f->good_end = end;
	f->size = size;
	f->dirty = false;
	f->needs_rewrite = false;
	objfile_note_identity(f);
	free(*tmp);
	*tmp = NULL;
	return 0;
}

/* Writes s as a new file and renames it over the old one, or only over
 * the file expect names (see rename_over): returns 1, err unset, if the
 * path holds another. */
static int
rewrite(struct objfile *f, const struct store *s, const struct identity *expect,
    char *err, size_t errlen)
{
	char *tmp;
	off_t end, size = -1;
	int fd, rc = -1;

	objfile_compact_abort(f);
	if (!paths_make_dir(f->dir, 0700, err, errlen))
		return -1;
	if ((fd = make_temp(f, &tmp, err, errlen)) == -1)
		return -1;
	end = write_snapshot(fd, s, f->compress);
	if (end != -1)
		size =
		    finish_new_file(fd, end, NULL, 0, f->fsync == FSYNC_ALWAYS);
	if (end == -1 || size == -1 || fsync(fd) == -1) {
		snprintf(err, errlen, "cannot write %s: %s", f->path,
		    strerror(errno));
		goto fail;
	}
	/* A file renamed in during the write is seen here; one renamed in
	 * after, by the rename itself. */
	if (expect == NULL || path_holds(f, expect))
		rc = install_file(f, fd, &tmp, expect, end, size, err, errlen);
	else
		rc = 1;
	if (rc == 0)
		return 0;
fail:
	/* Appending to the old file could now be wrong (it may be another
	 * program's): the next change tries a whole rewrite again. */
	f->needs_rewrite = true;
	close(fd);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	return rc;
}

int
objfile_rewrite(struct objfile *f, const struct store *s, char *err,
    size_t errlen)
{
	return rewrite(f, s, NULL, err, errlen);
}

int
objfile_write_back(struct objfile *f, const struct store *s, char *err,
    size_t errlen)
{
	int rc = rewrite(f, s, &f->at_path, err, errlen);

	if (rc == 1)
		snprintf(err, errlen,
		    "%s was replaced again while objd wrote it back; objd "
		    "loads the new file",
		    f->path);
	return rc;
}

int
objfile_append_start(struct objfile *f, const struct store *s,
    const struct objfile_changes *c, char *err, size_t errlen)
{
	bool grow = f->fsync == FSYNC_ALWAYS;
	int saved, rc;

	if (f->fd == -1 || f->needs_rewrite) {
		/* No file of ours yet, or one in doubt: start a new one. With
		 * none, and others' files looked for, objd puts its own only
		 * over the file it last saw there (another program's, which
		 * it adopts), or where it saw none: one renamed in since its
		 * last look is loaded by the next, not written over unread. */
		if (f->fd == -1 && f->others_watched)
			rc = rewrite(f, s, &f->seen, err, errlen);
		else
			rc = rewrite(f, s, NULL, err, errlen);
		if (rc == 1)
			snprintf(err, errlen,
			    "another program put a file at %s while objd "
			    "wrote its own; objd loads that one: try again",
			    f->path);
		if (rc != 0)
			return rc;
		if (c->with_header)
			return objfile_append_start(f, s, c, err, errlen);
	}
	if (c->with_header != (f->good_end == 0)) {
		snprintf(err, errlen,
		    "internal error: change built for "
		    "another file");
		return -1;
	}
	while (write_with_room(f->fd, f->good_end, &f->size, c->buf.data,
	           c->buf.len, grow) == -1) {
		saved = errno;
		/* Leave no partial change behind; the next write would land
		 * at good_end anyway. */
		if (ftruncate(f->fd, f->good_end) == -1)
			log_warn("cannot cut %s back after a failed write",
			    f->path);
		else { /* the cut is objd's own, not another program's */
			f->size = f->good_end;
			objfile_note_append(f, f->size);
		}
		/* A full disk may still hold the change without room. */
		if (grow && is_disk_full(saved)) {
			grow = false;
			continue;
		}
		snprintf(err, errlen, "cannot write %s: %s", f->path,
		    strerror(saved));
		return -1;
	}
	/* Noted now, not once synced: a look for outside changes while the
	 * sync runs must not take this write for another program's. */
	objfile_note_append(f, f->size);
	return 0;
}

bool
objfile_append_needs_sync(const struct objfile *f)
{
	return f->fsync == FSYNC_ALWAYS;
}

int
objfile_fd(const struct objfile *f)
{
	return f->fd;
}

int
objfile_append_sync(const struct objfile *f)
{
	return fdatasync(f->fd) == -1 ? errno : 0;
}

int
objfile_append_finish(struct objfile *f, const struct objfile_changes *c,
    int sync_errno, char *err, size_t errlen)
{
	if (sync_errno != 0) {
		/* After a failed fsync the kernel may have dropped the
		 * pages and will not say so again: the file is rewritten
		 * from memory before the next change. */
		f->needs_rewrite = true;
		/* The refused change must not stay in the file either: the
		 * reload check would load it as another program's change,
		 * and a restart as a committed one. The cut is objd's own,
		 * so it is noted as such. */
		if (ftruncate(f->fd, f->good_end) == -1)
			log_warn("cannot cut %s back after a failed sync",
			    f->path);
		else
			f->size = f->good_end;
		objfile_note_identity(f);
		snprintf(err, errlen, "cannot sync %s: %s", f->path,
		    strerror(sync_errno));
		return -1;
	}
	f->dirty = f->fsync != FSYNC_ALWAYS;
	f->good_end += (off_t)c->buf.len;
	if (f->child != -1)
		buf_put(&f->tail, c->buf.data, c->buf.len);
	return 0;
}

int
objfile_append(struct objfile *f, const struct store *s,
    const struct objfile_changes *c, char *err, size_t errlen)
{
	int rc = objfile_append_start(f, s, c, err, errlen);

	if (rc != 0)
		return rc;
	return objfile_append_finish(f, c,
	    objfile_append_needs_sync(f) ? objfile_append_sync(f) : 0, err,
	    errlen);
}

int
objfile_sync(struct objfile *f, char *err, size_t errlen)
{
	if (f->fd == -1 || !f->dirty)
		return 0;
	if (fdatasync(f->fd) == -1) {
		snprintf(err, errlen, "cannot sync %s: %s", f->path,
		    strerror(errno));
		f->needs_rewrite = true;
		return -1;
	}
	f->dirty = false;
	return 0;
}

bool
objfile_compacting(const struct objfile *f)
{
	return f->child != -1;
}

/* Forks a child that writes s as a new file, for a compaction or a
 * write-back: the parent goes on appending to its file meanwhile. */
static pid_t
start_child(struct objfile *f, const struct store *s, char *err, size_t errlen)
{
	char *tmp;
	pid_t pid, parent;
	int fd;

	if ((fd = make_temp(f, &tmp, err, errlen)) == -1)
		return -1;
	parent = getpid();
	pid = fork();
	if (pid == -1) {
		snprintf(err, errlen, "cannot fork to compact: %s",
		    strerror(errno));
		close(fd);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	if (pid == 0) {
		/* The child sees the store as it was at fork, and only
		 * writes its own file. It must not keep the lock, the socket
		 * or any client open past objd's death, nor outlive it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		if (fd != 3 && (dup2(fd, 3) == -1 || close(fd) == -1))
			_exit(1);
		close_range(4, ~0U, 0);
		_exit(write_snapshot(3, s, f->compress) == -1 || fsync(3) == -1
		        ? 1
		        : 0);
	}
	close(fd);
	f->child = pid;
	f->child_tmp = tmp;
	f->child_writes_back = false;
	f->tail.len = 0;
	return pid;
}

pid_t
objfile_compact_start(struct objfile *f, const struct store *s, char *err,
    size_t errlen)
{
	if (f->child != -1)
		return f->child;
	return start_child(f, s, err, errlen);
}

pid_t
objfile_write_back_start(struct objfile *f, const struct store *s, char *err,
    size_t errlen)
{
	pid_t pid;

	/* The write-back stands in for a compaction under way. */
	objfile_compact_abort(f);
	if (!paths_make_dir(f->dir, 0700, err, errlen))
		return -1;
	if ((pid = start_child(f, s, err, errlen)) != -1)
		f->child_writes_back = true;
	return pid;
}

bool
objfile_writing_back(const struct objfile *f)
{
	return f->child != -1 && f->child_writes_back;
}

int
objfile_write_back_finish(struct objfile *f, int status, char *err,
    size_t errlen)
{
	char *tmp = f->child_tmp;
	struct stat st;
	off_t size;
	int fd = -1, rc = -1;

	f->child = -1;
	f->child_tmp = NULL;
	f->child_writes_back = false;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "cannot write %s: its writer failed",
		    f->path);
		goto fail;
	}
	/* What objd appended while the child wrote follows its snapshot,
	 * as after a compaction. */
	fd = open(tmp, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1 || fstat(fd, &st) == -1 ||
	    (size = finish_new_file(fd, st.st_size, f->tail.data, f->tail.len,
	         f->fsync == FSYNC_ALWAYS)) == -1 ||
	    fdatasync(fd) == -1) {
		snprintf(err, errlen, "cannot write %s: %s", f->path,
		    strerror(errno));
		goto fail;
	}
	/* A file renamed in during the write is seen here; one renamed in
	 * after, by the rename itself (as in rewrite). */
	if (path_holds(f, &f->at_path))
		rc = install_file(f, fd, &tmp, &f->at_path,
		    st.st_size + (off_t)f->tail.len, size, err, errlen);
	else
		rc = 1;
	if (rc == 0) {
		buf_release(&f->tail);
		return 0;
	}
	if (rc == 1)
		snprintf(err, errlen,
		    "%s was replaced again while objd wrote it back; objd "
		    "loads the new file",
		    f->path);
fail:
	/* As after a failed rewrite: the next change starts a new file. */
	f->needs_rewrite = true;
	if (fd != -1)
		close(fd);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	buf_release(&f->tail);
	return rc;
}

void
objfile_compact_abort(struct objfile *f)
{
	if (f->child == -1)
		return;
	kill(f->child, SIGKILL);
	while (waitpid(f->child, NULL, 0) == -1 && errno == EINTR)
		;
	unlink(f->child_tmp);
	free(f->child_tmp);
	f->child_tmp = NULL;
	f->child = -1;
	f->child_writes_back = false;
	free(f->tail.data);
	memset(&f->tail, 0, sizeof(f->tail));
}

int
objfile_compact_finish(struct objfile *f, int status, char *err, size_t errlen)
{
	char *tmp = f->child_tmp;
	const struct identity *expect = NULL;
	struct stat st;
	off_t size;
	int fd = -1, rc;

	f->child = -1;
	f->child_tmp = NULL;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "compaction of %s failed in its child",
		    f->path);
		goto fail;
	}
	/* Renamed over a file that another program put there meanwhile,
	 * the compaction would drop that file unread. The reload that
	 * follows writes a new one. A removed file is put back, as a
	 * reload would. (When objd does not look, its own state wins: its
	 * changes since went to the file it had open.) */
	if (f->others_watched) {
		switch (objfile_check(f)) {
		case OBJFILE_CHANGED:
			goto replaced;
		case OBJFILE_MISSING:
			expect = &no_file;
			break;
		case OBJFILE_UNCHANGED:
			expect = &f->seen;
			break;
		}
	}
	/* Changes committed while the child wrote follow its snapshot
	 * byte for byte: each fragment's crc covers only itself. */
	fd = open(tmp, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1 || fstat(fd, &st) == -1 ||
	    (size = finish_new_file(fd, st.st_size, f->tail.data, f->tail.len,
	         f->fsync == FSYNC_ALWAYS)) == -1 ||
	    fdatasync(fd) == -1) {
		snprintf(err, errlen, "cannot finish compacting %s: %s",
		    f->path, strerror(errno));
		goto fail;
	}
	/* The rename itself gives way to a file renamed in after the look
	 * above (rename_over). */
	rc = install_file(f, fd, &tmp, expect, st.st_size + (off_t)f->tail.len,
	    size, err, errlen);
	if (rc == 1)
		goto replaced;
	if (rc == -1)
		goto fail;
	f->stats.last_compaction = now_wall();
	f->stats.compacted_size = (uint64_t)f->good_end;
	buf_release(&f->tail);
	return 0;
replaced:
	snprintf(err, errlen,
	    "%s was replaced while objd compacted it; objd loads the new "
	    "file instead",
	    f->path);
fail:
	if (fd != -1)
		close(fd);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	buf_release(&f->tail);
	return -1;
}

pid_t
objfile_compact_child(const struct objfile *f)
{
	return f->child;
}

enum objfile_state
objfile_check(struct objfile *f)
{
	struct identity now;
	struct stat st;

	f->times_suspect = false;
	if (stat(f->path, &st) == -1) {
		if (errno == ENOENT)
			f->at_path.exists = false;
		return f->seen.exists ? OBJFILE_MISSING : OBJFILE_UNCHANGED;
	}
	identity_from(&now, &st);
	if (!f->seen.exists || now.dev != f->seen.dev ||
	    now.ino != f->seen.ino || now.size != f->seen.size)
		return OBJFILE_CHANGED;
	if (f->seen_appended) {
		/* Times past objd's last append are another program's. Its
		 * change in place, to the same size, in the same tick of the
		 * file clock goes unseen, as it would after an fstat too
		 * where file times are coarse: a new file renamed over the
		 * old one is the way to change it (README). */
		if (time_after(&now.mtime, &f->appended_at) ||
		    time_after(&now.ctime, &f->appended_at)) {
			f->times_suspect = true;
			return OBJFILE_CHANGED;
		}
		f->seen = now;
		f->seen_appended = false;
		return OBJFILE_UNCHANGED;
	}
	if (now.mtime.tv_sec != f->seen.mtime.tv_sec ||
	    now.mtime.tv_nsec != f->seen.mtime.tv_nsec ||
	    now.ctime.tv_sec != f->seen.ctime.tv_sec ||
	    now.ctime.tv_nsec != f->seen.ctime.tv_nsec)
		return OBJFILE_CHANGED;
	return OBJFILE_UNCHANGED;
}

int
objfile_reject(struct objfile *f, char **moved, char *err, size_t errlen)
{
	char stamp[32], *dest = NULL;
	time_t t = time(NULL);
	struct stat st;
	struct tm tm;
	int rc = 1;

	*moved = NULL;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (int i = 0; i < 1000 && rc == 1; i++) {
		free(dest);
		dest = i == 0
		    ? xasprintf("%s.rejected-%s", f->path, stamp)
		    : xasprintf("%s.rejected-%s.%d", f->path, stamp, i);
		rc = rename_noreplace(f->path, dest);
	}
	if (rc != 0) {
		snprintf(err, errlen, "cannot move %s aside: %s", f->path,
		    strerror(errno));
		free(dest);
		return -1;
	}
	/* What was moved is another program's file, renamed in after the
	 * bad one was read: it goes back, to be loaded. */
	if (lstat(dest, &st) == -1 || !same_file(&st, &f->at_path)) {
		if (rename_noreplace(dest, f->path) != 0)
			log_warnx("the file renamed to %s while objd moved "
			          "a bad one aside is kept as %s",
			    f->path, dest);
		free(dest);
		return 1;
	}
	f->at_path.exists = false;
	*moved = dest;
	return 0;
}

const char *
fsync_mode_name(enum fsync_mode m)
{
	return m == FSYNC_ALWAYS  ? "always"
	    : m == FSYNC_INTERVAL ? "interval"
	                          : "never";
}

int
fsync_mode_parse(const char *name)
{
	if (strcmp(name, "always") == 0)
		return FSYNC_ALWAYS;
	if (strcmp(name, "interval") == 0)
		return FSYNC_INTERVAL;
	if (strcmp(name, "never") == 0)
		return FSYNC_NEVER;
	return -1;
}
