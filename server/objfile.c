/* SPDX-License-Identifier: ISC */
/* objfile.c: the object file: the changes objd appends, and what objd
 * knows of the file (its identity, its room). Its byte layout is
 * common/objformat.c's; objfile-load.c opens and loads it,
 * objfile-replace.c writes it anew.
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
 * Loading is the walk in common/objformat.c, which objctl shares to
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
 * inside the file's blocks needs only its data flushed, about a third
 * less time for a small change on ext4. So only a change that
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
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/vfs.h>

#include <linux/magic.h>

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32.h"
#include "log.h"
#include "objfile-int.h"
#include "xmalloc.h"

/* From this size a change's value is written from where it is, with
 * pwritev, and not copied into the change's buffer: a copy of a large
 * value costs as much as its write, and its buffer a fresh page for
 * every 4 KiB. Below it, an iovec costs more than the copy. */
#define OBJFILE_REF_MIN (8 * 1024)

size_t
objfile_changes_len(const struct objfile_changes *c)
{
	return c->buf.len + c->refs_len;
}

/* The entry of a value of OBJFILE_REF_MIN bytes or more: out of line,
 * so the common small one costs no more than a copy. */
static __attribute__((noinline)) void
change_put_ref(struct objfile_changes *c, const char *key, size_t keylen,
    const uint8_t *val, size_t vallen, const struct objformat_lease *lease)
{
	struct objfile_ref *r;

	if (c->nrefs == c->refs_cap) {
		c->refs_cap = c->refs_cap ? 2 * c->refs_cap : 8;
		c->refs = xreallocarray(c->refs, c->refs_cap, sizeof(*c->refs));
	}
	r = &c->refs[c->nrefs++];
	r->at = objformat_put_entry_around(&c->buf, key, keylen, vallen, 0,
	    false, lease);
	r->p = val;
	r->len = vallen;
	c->refs_len += vallen;
}

static inline __attribute__((always_inline)) void
change_put_entry(struct objfile_changes *c, const char *key, size_t keylen,
    const uint8_t *val, size_t vallen, const struct objformat_lease *lease)
{
	if (c->buf.len == 0 && c->with_header)
		objformat_put_header(&c->buf);
	c->entries++;
	if (vallen < OBJFILE_REF_MIN)
		objformat_put_entry(&c->buf, key, keylen, val, vallen, 0, false,
		    lease);
	else
		change_put_ref(c, key, keylen, val, vallen, lease);
}

void
objfile_change_set(struct objfile_changes *c, const char *key, size_t keylen,
    const uint8_t *val, size_t vallen)
{
	change_put_entry(c, key, keylen, val, vallen, NULL);
}

void
objfile_change_set_leased(struct objfile_changes *c, const char *key,
    size_t keylen, const uint8_t *val, size_t vallen, uint64_t deadline,
    uint64_t holder)
{
	struct objformat_lease lease = { deadline, holder };

	change_put_entry(c, key, keylen, val, vallen, &lease);
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
		objformat_put_header(&c->buf);
	if (time > 0) {
		*p++ = PBW_RECORD_TIME_TAG;
		p += varint_encode(p, (uint64_t)time);
	}
	if (expire) {
		*p++ = PBW_RECORD_EXPIRE_TAG;
		*p++ = 1;
	}
	buf_put_varint(&c->buf, PBW_OBJECT_HISTORY_TAG);
	buf_put_varint(&c->buf, (uint64_t)(p - rec));
	buf_put(&c->buf, rec, (size_t)(p - rec));
}

/* objfile_change_commit of a fragment with refs: its checksum runs over
 * their bytes in their places, as over the bytes of the file. */
static void
change_commit_refs(struct objfile_changes *c, uint64_t revision)
{
	uint32_t crc = 0;
	size_t at = c->start;

	for (size_t i = 0; i < c->nrefs; i++) {
		const struct objfile_ref *r = &c->refs[i];

		if (r->at < c->start)
			continue;
		crc = crc32_update(crc, c->buf.data + at, r->at - at);
		crc = crc32_update(crc, r->p, r->len);
		at = r->at;
	}
	crc = crc32_update(crc, c->buf.data + at, c->buf.len - at);
	objformat_put_commit_record(&c->buf, revision, crc, c->entries);
	c->start = c->buf.len;
}

void
objfile_change_commit(struct objfile_changes *c, uint64_t revision)
{
	if (c->buf.len == 0 && c->with_header)
		objformat_put_header(&c->buf);
	if (c->nrefs == 0 || c->refs[c->nrefs - 1].at < c->start)
		objformat_put_commit(&c->buf, &c->start, revision, c->entries);
	else
		change_commit_refs(c, revision);
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
	free(c->refs);
	memset(c, 0, sizeof(*c));
}

void
objfile_identity_from(struct identity *id, const struct stat *st)
{
	id->exists = true;
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
	id->ctime = st->st_ctim;
}

void
objfile_note_identity(struct objfile *f)
{
	struct stat st;

	f->seen_appended = false;
	if (f->fd != -1 && fstat(f->fd, &st) == 0)
		objfile_identity_from(&f->seen, &st);
}

/* objd's own write left the file size bytes long. Its times are not
 * asked for with an fstat: that would cost a system call per commit, and
 * on kernels with fine-grained file times, asking makes the next write
 * stamp the inode anew through the journal, which costs each write as
 * much again. The clock after the write is as late as any time the write
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

bool
time_after(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec != b->tv_sec ? a->tv_sec > b->tv_sec
	                              : a->tv_nsec > b->tv_nsec;
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

/* Writes all of iov at at, whatever short writes the kernel makes;
 * iov is used up on the way. */
static int
writev_all(int fd, struct iovec *iov, int iovcnt, off_t at)
{
	ssize_t n;

	while (iovcnt > 0) {
		n = pwritev(fd, iov, iovcnt < IOV_MAX ? iovcnt : IOV_MAX, at);
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

int
objfile_write_all(int fd, const uint8_t *p, size_t len, off_t at)
{
	struct iovec iov = { (void *)p, len };

	return writev_all(fd, &iov, 1, at);
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
 * name is gone frees its blocks and its cached pages before it returns,
 * milliseconds for a large file, in which no client would be served. */
void
objfile_close_replaced(int fd, off_t size)
{
	if (size < CLOSE_BEHIND_MIN ||
	    !run_behind(close_main, (void *)(intptr_t)fd))
		close(fd);
}

/* The size a file grows to when a change ending at end finds no room. */
static off_t
room_grown_size(off_t end)
{
	off_t room = end / 16, size;
	uint8_t header[1 + VARINT_MAX_LEN];

	room = room < ROOM_MIN ? ROOM_MIN : room > ROOM_MAX ? ROOM_MAX : room;
	size = (end + room + ROOM_ALIGN - 1) / ROOM_ALIGN * ROOM_ALIGN;
	while (objformat_padding_header((size_t)(size - end), header) == 0)
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
write_with_room(int fd, off_t end, off_t *size, const struct iovec *data,
    int ndata, bool grow)
{
	off_t new_end = end, new_size = *size;
	uint8_t header[1 + VARINT_MAX_LEN];
	struct iovec room_iov[ROOM_IOV_MAX], *iov = room_iov;
	size_t headerlen = 0, zeros = 0;
	int iovcnt = 0, rc;

	for (int i = 0; i < ndata; i++)
		new_end += (off_t)data[i].iov_len;

	if (new_end < new_size)
		headerlen = objformat_padding_header(
		    (size_t)(new_size - new_end), header);
	/* Data that fills the room to the last byte grows the file too:
	 * with grow, the file never ends without room. */
	if (headerlen == 0 && (grow || new_end != new_size)) {
		new_size = grow ? room_grown_size(new_end) : new_end;
		headerlen = grow ? objformat_padding_header(
		                       (size_t)(new_size - new_end), header)
		                 : 0;
		zeros = (size_t)(new_size - new_end) - headerlen;
	}
	if (ndata > 1)
		iov = xreallocarray(NULL, (size_t)ndata + ROOM_IOV_MAX - 1,
		    sizeof(*iov));
	for (int i = 0; i < ndata; i++)
		iov[iovcnt++] = data[i];
	iov[iovcnt++] = (struct iovec){ header, headerlen };
	while (zeros > 0) {
		size_t n =
		    zeros < sizeof(room_zeros) ? zeros : sizeof(room_zeros);

		iov[iovcnt++] = (struct iovec){ room_zeros, n };
		zeros -= n;
	}
	rc = writev_all(fd, iov, iovcnt, end);
	if (iov != room_iov)
		free(iov);
	if (rc == -1)
		return -1;
	/* Only without room: a cut where no padding field would fit. */
	if (new_size < *size && ftruncate(fd, new_size) == -1)
		return -1;
	*size = new_size;
	return 0;
}

/* Allocates the file's blocks from from to past end, before bytes are
 * written there: a write into blocks allocated before skips the
 * filesystem's allocation of each block it fills (ext4's delayed
 * allocation, about 40% of a large append's CPU there, its writeback
 * included). FALLOC_FL_KEEP_SIZE leaves the file's size at its end, so
 * readers see nothing of it. The blocks go an eighth of the file ahead,
 * within ALLOC_AHEAD_MIN and ALLOC_AHEAD_MAX; those still beyond the end
 * when objd closes its file are given back (objfile_trim_ahead). A
 * filesystem that cannot, or has no room for the blocks ahead, is not
 * asked again for this file (*allocated is then -1): the writes allocate
 * their own blocks, as they would anyway. Nor is tmpfs, whose blocks are
 * memory, and whose writes were slower into pages allocated ahead. */
void
objfile_allocate_ahead(int fd, off_t *allocated, off_t from, off_t end)
{
	struct statfs fs;
	off_t ahead;

	if (*allocated == -1 || end <= *allocated)
		return;
	if (*allocated == 0 && fstatfs(fd, &fs) == 0 &&
	    fs.f_type == TMPFS_MAGIC) {
		*allocated = -1;
		return;
	}
	if (from < *allocated)
		from = *allocated;
	ahead = end / 8;
	ahead = ahead < ALLOC_AHEAD_MIN ? ALLOC_AHEAD_MIN
	    : ahead > ALLOC_AHEAD_MAX   ? ALLOC_AHEAD_MAX
	                                : ahead;
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, from, end + ahead - from) ==
	    -1) {
		if (errno != EINTR)
			*allocated = -1;
		return;
	}
	*allocated = end + ahead;
}

void
objfile_trim_ahead(int fd, off_t size, const char *path)
{
	struct stat st;

	/* Blocks a file of its size does not need: some are the
	 * filesystem's own (an extent tree's), too few to count here. A
	 * size not objd's is another program's, which objd leaves be. */
	if (fstat(fd, &st) == -1 || st.st_size != size ||
	    (off_t)st.st_blocks * 512 <= size + ALLOC_AHEAD_MIN)
		return;
	if (ftruncate(fd, size) == -1)
		log_warn("cannot give back the blocks after the end of %s",
		    path);
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
off_t
objfile_finish_new_file(int fd, off_t end, const void *data, size_t len,
    bool room)
{
	struct iovec iov = { (void *)(uintptr_t)data, len };
	off_t size = end;

	while (write_with_room(fd, end, &size, &iov, 1, room) == -1) {
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

/* The bytes of c as iovecs, into iov (room for 2 * nrefs + 1): returns
 * how many. */
static int
changes_iov(const struct objfile_changes *c, struct iovec *iov)
{
	size_t at = 0;
	int n = 0;

	for (size_t i = 0; i < c->nrefs; i++) {
		iov[n++] =
		    (struct iovec){ c->buf.data + at, c->refs[i].at - at };
		iov[n++] = (struct iovec){ (void *)(uintptr_t)c->refs[i].p,
			c->refs[i].len };
		at = c->refs[i].at;
	}
	iov[n++] = (struct iovec){ c->buf.data + at, c->buf.len - at };
	return n;
}

int
objfile_write_changes(int fd, const struct objfile_changes *c, off_t at)
{
	struct iovec one, *iov = &one;
	int rc;

	if (c->nrefs > 0)
		iov = xreallocarray(NULL, 2 * c->nrefs + 1, sizeof(*iov));
	rc = writev_all(fd, iov, changes_iov(c, iov), at);
	if (iov != &one)
		free(iov);
	return rc;
}

enum objfile_result
objfile_append_start(struct objfile *f, const struct store *s,
    const struct objfile_changes *c, char *err, size_t errlen)
{
	bool grow = f->fsync == FSYNC_ALWAYS;
	enum objfile_result rc;
	struct iovec one, *iov = &one;
	int saved, iovcnt;

	if (f->fd == -1 || f->needs_rewrite) {
		/* No file of ours yet, or one in doubt: start a new one. With
		 * none, and others' files looked for, objd puts its own only
		 * over the file it last saw there (another program's, which
		 * it adopts), or where it saw none: one renamed in since its
		 * last look is loaded by the next, not written over unread. */
		if (f->fd == -1 && f->others_watched)
			rc = objfile_rewrite_expecting(f, s, &f->seen, err,
			    errlen);
		else
			rc = objfile_rewrite_expecting(f, s, NULL, err, errlen);
		if (rc == OBJFILE_GAVE_WAY)
			snprintf(err, errlen,
			    "another program put a file at %s while objd "
			    "wrote its own; objd loads that one: try again",
			    f->path);
		if (rc != OBJFILE_DONE)
			return rc;
		if (c->with_header)
			return objfile_append_start(f, s, c, err, errlen);
	}
	if (c->with_header != (f->good_end == 0)) {
		snprintf(err, errlen,
		    "internal error: change built for "
		    "another file");
		return OBJFILE_FAILED;
	}
	if (c->nrefs > 0)
		iov = xreallocarray(NULL, 2 * c->nrefs + 1, sizeof(*iov));
	iovcnt = changes_iov(c, iov);
	objfile_allocate_ahead(f->fd, &f->allocated, f->good_end,
	    f->good_end + (off_t)objfile_changes_len(c));
	while (write_with_room(f->fd, f->good_end, &f->size, iov, iovcnt,
	           grow) == -1) {
		saved = errno;
		/* Leave no partial change behind; the next write would land
		 * at good_end anyway. */
		if (ftruncate(f->fd, f->good_end) == -1)
			log_warn("cannot cut %s back after a failed write",
			    f->path);
		else { /* the cut is objd's own, not another program's */
			f->size = f->good_end;
			f->allocated = 0; /* the blocks after it went too */
			objfile_note_append(f, f->size);
		}
		/* A full disk may still hold the change without room. */
		if (grow && is_disk_full(saved)) {
			grow = false;
			continue;
		}
		snprintf(err, errlen, "cannot write %s: %s", f->path,
		    strerror(saved));
		if (iov != &one)
			free(iov);
		return OBJFILE_FAILED;
	}
	if (iov != &one)
		free(iov);
	/* Noted now, not once synced: a look for outside changes while the
	 * sync runs must not take this write for another program's. */
	objfile_note_append(f, f->size);
	return OBJFILE_DONE;
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

enum objfile_result
objfile_append_finish(struct objfile *f, const struct objfile_changes *c,
    int sync_errno, char *err, size_t errlen)
{
	off_t from;

	if (sync_errno != 0) {
		/* After a failed fsync the kernel may have dropped the
		 * pages and will not say so again: the file is rewritten
		 * from memory before the next change. */
		f->needs_rewrite = true;
		objfile_tail_doubt(f);
		/* The refused change must not stay in the file either: the
		 * reload check would load it as another program's change,
		 * and a restart as a committed one. The cut is objd's own,
		 * so it is noted as such. */
		if (ftruncate(f->fd, f->good_end) == -1)
			log_warn("cannot cut %s back after a failed sync",
			    f->path);
		else {
			f->size = f->good_end;
			f->allocated = 0;
		}
		objfile_note_identity(f);
		snprintf(err, errlen, "cannot sync %s: %s", f->path,
		    strerror(sync_errno));
		return OBJFILE_FAILED;
	}
	f->dirty = f->fsync != FSYNC_ALWAYS;
	from = f->good_end;
	f->good_end += (off_t)objfile_changes_len(c);
	if (f->child != -1)
		objfile_tail_add(f, c, from);
	return OBJFILE_DONE;
}

enum objfile_result
objfile_append(struct objfile *f, const struct store *s,
    const struct objfile_changes *c, char *err, size_t errlen)
{
	enum objfile_result rc = objfile_append_start(f, s, c, err, errlen);

	if (rc != OBJFILE_DONE)
		return rc;
	return objfile_append_finish(f, c,
	    objfile_append_needs_sync(f) ? objfile_append_sync(f) : 0, err,
	    errlen);
}

enum objfile_result
objfile_sync(struct objfile *f, char *err, size_t errlen)
{
	if (f->fd == -1 || !f->dirty)
		return OBJFILE_DONE;
	if (fdatasync(f->fd) == -1) {
		snprintf(err, errlen, "cannot sync %s: %s", f->path,
		    strerror(errno));
		f->needs_rewrite = true;
		objfile_tail_doubt(f);
		return OBJFILE_FAILED;
	}
	f->dirty = false;
	return OBJFILE_DONE;
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
	objfile_identity_from(&now, &st);
	if (!f->seen.exists || now.dev != f->seen.dev ||
	    now.ino != f->seen.ino || now.size != f->seen.size)
		return OBJFILE_CHANGED;
	if (f->seen_appended) {
		/* Times past objd's last append are another program's. Its
		 * change in place, to the same size, in the same tick of the
		 * file clock goes unseen, as it would after an fstat too
		 * where file times are coarse: a new file renamed over the
		 * old one is the way to change it (objd(8), objd-file(5)). */
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
