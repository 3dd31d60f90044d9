/* SPDX-License-Identifier: ISC */
/* objfile-replace.c: writing the object file anew: a snapshot of the
 * state (with --compress, in deflated chunks), by objd (a rewrite) or by
 * a child while objd goes on appending (a compaction, a reload's
 * write-back); its install by an exchange or a no-replace rename that
 * never drops a file another program renamed in; and the move aside of a
 * file that did not load (reject). */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libdeflate.h>

#include "log.h"
#include "objfile-int.h"
#include "paths.h"
#include "xmalloc.h"

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
	off_t written_back; /* where the writeback asked for ends */
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
	size_t lenlen; /* bytes of the last record's length */
	size_t rings_written;
	uint64_t oldest_single; /* revision of the oldest key set once */
};

/* A snapshot is synced whole before it replaces the file. Starting the
 * kernel's writeback of every SNAPSHOT_WRITEBACK bytes as they are
 * written, without waiting for it, leaves that sync less to do: a
 * compaction ends sooner, and fewer changes pile up meanwhile, to be
 * copied after it. A failed writeback shows in that sync. */
#define SNAPSHOT_WRITEBACK (8 * 1024 * 1024)

static void
snapshot_flush(struct snapshot_writer *w)
{
	if (w->error == 0 &&
	    objfile_write_all(w->fd, w->buf.data, w->buf.len, w->at) == -1)
		w->error = errno;
	w->at += (off_t)w->buf.len;
	w->buf.len = 0;
	if (w->error == 0 && w->at - w->written_back >= SNAPSHOT_WRITEBACK) {
		(void)sync_file_range(w->fd, w->written_back,
		    w->at - w->written_back, SYNC_FILE_RANGE_WRITE);
		w->written_back = w->at;
	}
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
	buf_put_varint(&w->buf, PBW_OBJECT_DEFLATED_TAG);
	buf_put_varint(&w->buf, n);
	buf_put(&w->buf, w->zout, n);
	snapshot_maybe_flush(w);
}

static void snapshot_put_key_record(struct snapshot_writer *,
    const struct key_history *);
static void snapshot_put_entry_only(const struct store_entry *,
    struct snapshot_writer *);

/* e's ring: through the entry, which a change keeps told of it, or the
 * table for an entry that was not. */
static const struct key_history *
entry_ring(const struct snapshot_writer *w, const struct store_entry *e)
{
	if (w->history == NULL)
		return NULL;
	if (e->ring != NULL)
		return e->ring;
	return history_get(w->history, e->data, e->keylen);
}

/* Writes e, then its key's history record if it has one. */
static void
snapshot_put_entry(const struct store_entry *e, void *arg)
{
	struct snapshot_writer *w = arg;
	const struct key_history *kh;

	snapshot_put_entry_only(e, w);
	if (w->history == NULL)
		return;
	if ((kh = entry_ring(w, e)) != NULL)
		snapshot_put_key_record(w, kh);
	else if (e->revision < w->oldest_single)
		w->oldest_single = e->revision;
}

static void
buf_put_packed(struct buf *b, uint64_t tag, const struct history *h,
    size_t first, bool times)
{
	size_t n = history_times_count(h), len = 0;
	uint64_t rev;
	int64_t time;

	for (size_t i = first; i < n; i++) {
		history_times_get(h, i, &rev, &time);
		len += varint_size(times ? (uint64_t)time : rev);
	}
	buf_put_varint(b, tag);
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
	buf_put_varint(&w->record, PBW_TIMES_KNOWN_SINCE_TAG);
	buf_put_varint(&w->record, history_known_since(h));
	buf_put_packed(&w->record, PBW_TIMES_REVISIONS_TAG, h, first, false);
	buf_put_packed(&w->record, PBW_TIMES_TIMES_TAG, h, first, true);
	buf_put_varint(&w->buf, PBW_OBJECT_TIMES_TAG);
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
	struct objformat_lease lease_buf, *lease = NULL;
	size_t size;

	if (l != NULL) {
		lease_buf = (struct objformat_lease){ l->deadline, l->holder };
		lease = &lease_buf;
	}
	size = objformat_entry_size(e->keylen, e->vallen, e->revision,
	    with_revision, lease);

	/* An entry too big for a chunk of its own stays plain: the bound on
	 * a chunk is what keeps loading safe. */
	if (w->compress && size <= OBJFILE_CHUNK_MAX) {
		if (w->chunk.len + size > OBJFILE_CHUNK_MAX)
			snapshot_deflate(w);
		objformat_put_entry(&w->chunk, e->data, e->keylen,
		    STORE_ENTRY_VALUE(e), e->vallen, e->revision, with_revision,
		    lease);
		return;
	}
	objformat_put_entry(&w->buf, e->data, e->keylen, STORE_ENTRY_VALUE(e),
	    e->vallen, e->revision, with_revision, lease);
	snapshot_maybe_flush(w);
}

/* A varint at p, for the loops below that reserved room for it: the
 * per-call growth check of buf_put_varint, for each field of 10 million
 * versions, was a fifth of a snapshot's time. */
static inline uint8_t *
put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline size_t
varint_len(uint64_t v)
{
	/* 1 + the bits above the first 7, 7 a byte: 64 - clz counts them. */
	return 1 + (v >= 0x80 ? (size_t)(63 - __builtin_clzll(v)) / 7 : 0);
}

/* The most a Version takes besides its value: tag and length, revision,
 * time, what, the value's tag and length. */
#define VERSION_ROOM_MAX (6 * (1 + VARINT_MAX_LEN) + HISTORY_INLINE)
/* pack_key_record writes the record's tag in two bytes. */
_Static_assert(PBW_OBJECT_HISTORY_TAG >= 0x80 &&
        PBW_OBJECT_HISTORY_TAG < 0x4000,
    "a history record's tag is two bytes");

/* A key's HistoryRecord: its versions but the one its entry holds,
 * packed into b in one pass over the ring. The record's length comes
 * before its versions, and is known after them: its bytes are reserved,
 * as many as *lenlen guesses (the last record's), and the versions
 * moved only when the guess was wrong. Each Version is small enough to
 * be sized before it is written, from the fields in hand. */
static void
pack_key_record(struct buf *b, const struct key_history *kh, size_t *lenlen)
{
	const struct history_version *v;
	const uint8_t *val;
	size_t vallen, vbody, start = b->len, guess = *lenlen, body, need;
	uint32_t n = kh->count, slot = kh->head;
	uint64_t time = 0;
	uint8_t *p, *first;

	if (n > 0 && HISTORY_AT(kh, n - 1)->what == HISTORY_SET &&
	    HISTORY_AT(kh, n - 1)->vlen == HISTORY_NO_VALUE) {
		n--;
		time = HISTORY_AT(kh, n)->time;
	}
	/* The record's tag (two bytes: field 16), its length, the key. */
	buf_reserve(b, 2 + guess + 1 + VARINT_MAX_LEN + kh->keylen);
	first = b->data + start + 2 + guess;
	p = first;
	*p++ = PBW_RECORD_KEY_TAG;
	p = put_varint(p, kh->keylen);
	memcpy(p, HISTORY_KEY(kh), kh->keylen);
	p += kh->keylen;
	for (uint32_t i = 0; i < n; i++) {
		/* The ring from head, without a division for each. */
		v = &kh->ring[slot];
		if (++slot == kh->cap)
			slot = 0;
		val = NULL;
		vallen = 0;
		if (v->what == HISTORY_SET &&
		    !history_version_stored(v, &val, &vallen))
			val = NULL;
		vbody = 1 + varint_len(v->revision);
		if (v->time != 0)
			vbody += 1 + varint_len(v->time);
		if (v->what != 0)
			vbody += 1 + varint_len(v->what);
		if (v->what == HISTORY_SET)
			vbody += 1 + varint_len(vallen) + vallen;
		need = VERSION_ROOM_MAX + vallen;
		if ((size_t)(b->data + b->cap - p) < need) {
			b->len = (size_t)(p - b->data);
			buf_reserve(b, need);
			first = b->data + start + 2 + guess;
			p = b->data + b->len;
		}
		*p++ = PBW_RECORD_VERSIONS_TAG;
		p = put_varint(p, vbody);
		*p++ = PBW_VERSION_REVISION_TAG;
		p = put_varint(p, v->revision);
		if (v->time != 0) {
			*p++ = PBW_VERSION_TIME_TAG;
			p = put_varint(p, v->time);
		}
		if (v->what != 0) {
			*p++ = PBW_VERSION_WHAT_TAG;
			p = put_varint(p, v->what);
		}
		if (v->what == HISTORY_SET) {
			*p++ = PBW_VERSION_VALUE_TAG;
			p = put_varint(p, vallen);
			/* A value kept in the version is copied whole, a
			 * fixed size the compiler inlines: the room reserved
			 * covers the bytes past vallen, which what follows
			 * writes over. */
			if (v->vlen != HISTORY_IN_ENTRY && val != NULL)
				memcpy(p, v->val.bytes, HISTORY_INLINE);
			else if (vallen > 0)
				memcpy(p, val, vallen);
			p += vallen;
		}
	}
	b->len = (size_t)(p - b->data);
	buf_reserve(b, 2 * (1 + VARINT_MAX_LEN) + VARINT_MAX_LEN);
	first = b->data + start + 2 + guess;
	p = b->data + b->len;
	if (time != 0) {
		*p++ = PBW_RECORD_TIME_TAG;
		p = put_varint(p, time);
	}
	if (kh->truncated) {
		*p++ = PBW_RECORD_TRUNCATED_TAG;
		*p++ = 1;
	}
	body = (size_t)(p - first);
	*lenlen = varint_len(body);
	/* The reserve above left room for a longer length too. */
	if (*lenlen != guess)
		memmove(b->data + start + 2 + *lenlen, first, body);
	p = b->data + start;
	p = put_varint(p, PBW_OBJECT_HISTORY_TAG);
	put_varint(p, body);
	b->len = start + 2 + *lenlen + body;
}

/* Writes kh's record, in the chunk being deflated with compress (as the
 * entries are), else plain: then straight into the write buffer. */
static void
snapshot_put_key_record(struct snapshot_writer *w, const struct key_history *kh)
{
	w->rings_written++;
	if (!w->compress) {
		pack_key_record(&w->buf, kh, &w->lenlen);
		snapshot_maybe_flush(w);
		return;
	}
	w->record.len = 0;
	pack_key_record(&w->record, kh, &w->lenlen);
	if (w->record.len <= OBJFILE_CHUNK_MAX) {
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
		.lenlen = 2,
		.oldest_single = UINT64_MAX };

	objformat_put_header(&w.buf);
	/* Each key's history record right after its entry, where a load
	 * finds the entry it completes still in the cache; then those of
	 * deleted keys. */
	store_foreach(s, snapshot_put_entry, &w);
	/* Each ring belongs to one key: when every one followed its entry,
	 * no key is deleted with its past, and the walk of the table, a
	 * store look-up for each ring, is spared. */
	if (w.history != NULL && w.rings_written < history_count(w.history))
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
	objformat_put_commit_record(&w.buf, store_revision(s), w.crc,
	    (uint32_t)store_count(s));
	snapshot_flush(&w);
	free(w.buf.data);
	if (w.error != 0) {
		errno = w.error;
		return -1;
	}
	return w.at;
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

/* Renames from to to unless something is at to: DONE when renamed,
 * GAVE_WAY when to is taken, FAILED with errno. */
static enum objfile_result
rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return OBJFILE_DONE;
	if (errno == EEXIST)
		return OBJFILE_GAVE_WAY;
	if (!rename_flags_unsupported(errno))
		return OBJFILE_FAILED;
	if (access(to, F_OK) == 0)
		return OBJFILE_GAVE_WAY;
	if (errno != ENOENT || rename(from, to) == -1)
		return OBJFILE_FAILED;
	return OBJFILE_DONE;
}

/* Puts the file at tmp, out, back at the object file's path, where
 * objd put the file placed: by another exchange, so that a file renamed
 * in meanwhile is not written over. Such a file is newer than out (it
 * replaced placed, which came after out), so then it goes back in the
 * same way, and out, as its rename would have it, is dropped. Returns
 * GAVE_WAY when the path holds the newest of them and tmp what is to be
 * removed, or FAILED when the way back failed. */
static enum objfile_result
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
				return OBJFILE_FAILED;
			return rename_noreplace(tmp, f->path) == OBJFILE_FAILED
			    ? OBJFILE_FAILED
			    : OBJFILE_GAVE_WAY;
		}
		if (lstat(tmp, &back) == -1)
			return OBJFILE_FAILED;
		if (back.st_dev == placed.st_dev &&
		    back.st_ino == placed.st_ino)
			return OBJFILE_GAVE_WAY;
		placed = out;
		out = back;
	}
	return OBJFILE_FAILED;
}

/* Exchanges the new file, fd at tmp, with the file at the object file's
 * path, and puts that one back unless it is the one expected (see
 * exchange_back). Returns DONE when the new file is in place, GAVE_WAY
 * when the path holds another program's file (tmp's name holds what is
 * to be removed), FAILED with errno when no exchange took place. */
static enum objfile_result
exchange_in(struct objfile *f, int fd, char **tmp,
    const struct identity *expect)
{
	struct stat out, ours;

	if (renameat2(AT_FDCWD, *tmp, AT_FDCWD, f->path, RENAME_EXCHANGE) ==
	    -1) {
		/* Nothing at the path: not the file expected either. */
		return errno == ENOENT && access(*tmp, F_OK) == 0
		    ? OBJFILE_GAVE_WAY
		    : OBJFILE_FAILED;
	}
	if (lstat(*tmp, &out) == 0 && same_file(&out, expect)) {
		unlink(*tmp);
		return OBJFILE_DONE;
	}
	if (lstat(*tmp, &out) == -1 || fstat(fd, &ours) == -1 ||
	    exchange_back(f, *tmp, out, ours) == OBJFILE_FAILED) {
		/* tmp's name may now hold another program's file, which
		 * is kept for its owner. */
		log_warnx(
		    "%s may hold a file that was renamed to %s while objd "
		    "replaced it; left there",
		    *tmp, f->path);
		free(*tmp);
		*tmp = NULL;
	}
	return OBJFILE_GAVE_WAY;
}

/* Renames the new file, fd at tmp, to the object file's path, but only
 * over the file expect names (or where none is, if expect says so): over
 * another program's file renamed in meanwhile, objd would drop it
 * unread. A look at the path before the rename leaves a window for such
 * a file, so the rename itself checks where the filesystem can. Returns
 * GAVE_WAY if the path held something else, which is left there.
 * Whatever then still has tmp's name is for objd to remove (its own
 * file, or one that a newer file replaced), or *tmp is NULL. */
static enum objfile_result
rename_over(struct objfile *f, int fd, char **tmp,
    const struct identity *expect, char *err, size_t errlen)
{
	enum objfile_result rc;

	if (expect == NULL)
		rc = rename(*tmp, f->path) == 0 ? OBJFILE_DONE : OBJFILE_FAILED;
	else if (!expect->exists)
		rc = rename_noreplace(*tmp, f->path);
	else if ((rc = exchange_in(f, fd, tmp, expect)) == OBJFILE_FAILED &&
	    rename_flags_unsupported(errno)) {
		if (!path_holds(f, expect))
			rc = OBJFILE_GAVE_WAY;
		else if (rename(*tmp, f->path) == 0)
			rc = OBJFILE_DONE;
	}
	if (rc == OBJFILE_FAILED)
		snprintf(err, errlen, "cannot rename %s to %s: %s", *tmp,
		    f->path, strerror(errno));
	return rc;
}

/* Puts a fully written temporary file in place of the object file (see
 * rename_over for expect) and makes it the file objd appends to, at
 * end. */
static enum objfile_result
install_file(struct objfile *f, int fd, char **tmp,
    const struct identity *expect, off_t end, off_t size, char *err,
    size_t errlen)
{
	enum objfile_result rc;

	if ((rc = rename_over(f, fd, tmp, expect, err, errlen)) != OBJFILE_DONE)
		return rc;
	/* The rename is durable only once the folder is. */
	if (sync_dir(f->dir) == -1)
		log_warn("cannot sync folder %s", f->dir);
	objfile_tail_freeze(f);
	if (f->fd != -1)
		objfile_close_replaced(f->fd, f->size);
	f->fd = fd;
	f->good_end = end;
	f->size = size;
	f->dirty = false;
	f->needs_rewrite = false;
	objfile_note_identity(f);
	free(*tmp);
	*tmp = NULL;
	return OBJFILE_DONE;
}

/* Writes s as a new file and renames it over the old one, or only over
 * the file expect names (see rename_over): returns 1, err unset, if the
 * path holds another. */
enum objfile_result
objfile_rewrite_expecting(struct objfile *f, const struct store *s,
    const struct identity *expect, char *err, size_t errlen)
{
	char *tmp;
	off_t end, size = -1;
	enum objfile_result rc = OBJFILE_FAILED;
	int fd;

	objfile_compact_abort(f);
	if (!paths_make_dir(f->dir, 0700, err, errlen))
		return OBJFILE_FAILED;
	if ((fd = make_temp(f, &tmp, err, errlen)) == -1)
		return OBJFILE_FAILED;
	end = write_snapshot(fd, s, f->compress);
	if (end != -1)
		size = objfile_finish_new_file(fd, end, NULL, 0,
		    f->fsync == FSYNC_ALWAYS);
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
		rc = OBJFILE_GAVE_WAY;
	if (rc == OBJFILE_DONE)
		return OBJFILE_DONE;
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

enum objfile_result
objfile_rewrite(struct objfile *f, const struct store *s, char *err,
    size_t errlen)
{
	return objfile_rewrite_expecting(f, s, NULL, err, errlen);
}

enum objfile_result
objfile_write_back(struct objfile *f, const struct store *s, char *err,
    size_t errlen)
{
	enum objfile_result rc =
	    objfile_rewrite_expecting(f, s, &f->at_path, err, errlen);

	if (rc == OBJFILE_GAVE_WAY)
		snprintf(err, errlen,
		    "%s was replaced again while objd wrote it back; objd "
		    "loads the new file",
		    f->path);
	return rc;
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
	objfile_tail_start(f);
	parent = getpid();
	pid = fork();
	if (pid == -1) {
		snprintf(err, errlen, "cannot fork to compact: %s",
		    strerror(errno));
		objfile_tail_release(f);
		close(fd);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	if (pid == 0) {
		int old = -1;
		off_t end;

		/* The child sees the store as it was at fork, and only
		 * writes its own file, then copies what objd appended to
		 * the old one meanwhile (objfile-tail.c). It must not keep
		 * the lock, the socket or any client open past objd's
		 * death, nor outlive it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		/* Out of the way of 3 and 4 first. */
		if (f->tail_share != NULL &&
		    (old = fcntl(f->fd, F_DUPFD_CLOEXEC, 5)) == -1)
			_exit(1);
		if (fd != 3 && (dup2(fd, 3) == -1 || close(fd) == -1))
			_exit(1);
		if (old != -1 && (dup2(old, 4) == -1 || close(old) == -1))
			_exit(1);
		close_range(old != -1 ? 5 : 4, ~0U, 0);
		end = write_snapshot(3, s, f->compress);
		if (end != -1)
			end = objfile_tail_catch_up(f, old != -1 ? 4 : -1, 3,
			    end);
		if (end == -1 || fsync(3) == -1)
			_exit(1);
		/* objd commits more while that sync runs: copied and synced
		 * here too, they are not left for objd to copy and sync on
		 * its loop once the child is gone. */
		end = objfile_tail_catch_up(f, old != -1 ? 4 : -1, 3, end);
		_exit(end == -1 || fdatasync(3) == -1 ? 1 : 0);
	}
	close(fd);
	f->child = pid;
	f->child_tmp = tmp;
	f->child_writes_back = false;
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

/* A child's file that is not installed: closed, removed, with the tail
 * copied for it. */
static void
objfile_child_file_drop(struct objfile *f, int fd, char *tmp)
{
	if (fd != -1)
		close(fd);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	objfile_tail_release(f);
}

enum objfile_result
objfile_write_back_finish(struct objfile *f, int status, char *err,
    size_t errlen)
{
	char *tmp = f->child_tmp;
	struct stat st;
	off_t size;
	enum objfile_result rc = OBJFILE_FAILED;
	off_t end;
	int fd = -1;

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
	    (end = objfile_tail_finish(f, fd, st.st_size)) == -1 ||
	    (size = objfile_finish_new_file(fd, end, NULL, 0,
	         f->fsync == FSYNC_ALWAYS)) == -1 ||
	    fdatasync(fd) == -1) {
		snprintf(err, errlen, "cannot write %s: %s", f->path,
		    strerror(errno));
		goto fail;
	}
	/* A file renamed in during the write is seen here; one renamed in
	 * after, by the rename itself (as in rewrite). */
	if (path_holds(f, &f->at_path))
		rc = install_file(f, fd, &tmp, &f->at_path, end, size, err,
		    errlen);
	else
		rc = OBJFILE_GAVE_WAY;
	if (rc == OBJFILE_DONE) {
		objfile_tail_release(f);
		return OBJFILE_DONE;
	}
	if (rc == OBJFILE_GAVE_WAY)
		snprintf(err, errlen,
		    "%s was replaced again while objd wrote it back; objd "
		    "loads the new file",
		    f->path);
fail:
	/* As after a failed rewrite: the next change starts a new file. */
	f->needs_rewrite = true;
	objfile_child_file_drop(f, fd, tmp);
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
	objfile_tail_release(f);
}

enum objfile_result
objfile_compact_finish(struct objfile *f, int status, char *err, size_t errlen)
{
	char *tmp = f->child_tmp;
	const struct identity *expect = NULL;
	struct stat st;
	off_t size;
	enum objfile_result rc;
	off_t end;
	int fd = -1;

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
	    (end = objfile_tail_finish(f, fd, st.st_size)) == -1 ||
	    (size = objfile_finish_new_file(fd, end, NULL, 0,
	         f->fsync == FSYNC_ALWAYS)) == -1 ||
	    fdatasync(fd) == -1) {
		snprintf(err, errlen, "cannot finish compacting %s: %s",
		    f->path, strerror(errno));
		goto fail;
	}
	/* The rename itself gives way to a file renamed in after the look
	 * above (rename_over). */
	rc = install_file(f, fd, &tmp, expect, end, size, err, errlen);
	if (rc == OBJFILE_GAVE_WAY)
		goto replaced;
	if (rc == OBJFILE_FAILED)
		goto fail;
	f->stats.last_compaction = now_wall();
	f->stats.compacted_size = (uint64_t)f->good_end;
	objfile_tail_release(f);
	return OBJFILE_DONE;
replaced:
	snprintf(err, errlen,
	    "%s was replaced while objd compacted it; objd loads the new "
	    "file instead",
	    f->path);
fail:
	objfile_child_file_drop(f, fd, tmp);
	return OBJFILE_FAILED;
}

pid_t
objfile_compact_child(const struct objfile *f)
{
	return f->child;
}

enum objfile_result
objfile_reject(struct objfile *f, char **moved, char *err, size_t errlen)
{
	char stamp[32], *dest = NULL;
	time_t t = time(NULL);
	struct stat st;
	struct tm tm;
	enum objfile_result rc = OBJFILE_GAVE_WAY;

	*moved = NULL;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (int i = 0; i < 1000 && rc == OBJFILE_GAVE_WAY; i++) {
		free(dest);
		dest = i == 0
		    ? xasprintf("%s.rejected-%s", f->path, stamp)
		    : xasprintf("%s.rejected-%s.%d", f->path, stamp, i);
		rc = rename_noreplace(f->path, dest);
	}
	if (rc != OBJFILE_DONE) {
		snprintf(err, errlen, "cannot move %s aside: %s", f->path,
		    strerror(errno));
		free(dest);
		return OBJFILE_FAILED;
	}
	/* What was moved is another program's file, renamed in after the
	 * bad one was read: it goes back, to be loaded. */
	if (lstat(dest, &st) == -1 || !same_file(&st, &f->at_path)) {
		if (rename_noreplace(dest, f->path) != OBJFILE_DONE)
			log_warnx("the file renamed to %s while objd moved "
			          "a bad one aside is kept as %s",
			    f->path, dest);
		free(dest);
		return OBJFILE_GAVE_WAY;
	}
	f->at_path.exists = false;
	*moved = dest;
	return OBJFILE_DONE;
}
