/* SPDX-License-Identifier: ISC */
/* objfile-snapshot.c: a snapshot of the state as the head of a new object
 * file: each entry followed by its key's history record, the records of
 * deleted keys with a past, the list of commit times and a commit record
 * over it all; with --compress, the entries and records deflated in
 * chunks. Written by objd itself (a rewrite) or by a compaction's child
 * (objfile-replace.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <libdeflate.h>

#include "crc32.h"
#include "log.h"
#include "objfile-int.h"
#include "xmalloc.h"

/* The walk of the keys waits on memory for each key's ring, the ring's
 * newest version and the ring's slot in the reuse table: none is near
 * the entry before. So an entry waits this many turns before it is
 * written: its ring is fetched when it comes in, the newest version and
 * the slot half-way, and the fetches of several keys overlap. */
#define SNAPSHOT_AHEAD 16

/* The index of the i-th of the keys waiting, the first at first. */
static size_t
ahead_index(size_t first, size_t i)
{
	return (first + i) % SNAPSHOT_AHEAD;
}

/* A key's record in the snapshot that starts the file objd appends to. */
struct reuse_slot {
	const struct key_history *ring;
	size_t at, len;
};

/* That snapshot, when objd wrote it from the rings it has now: the
 * record of a ring that has not changed since is copied from it, not
 * encoded again. Most rings are unchanged between two compactions, and
 * encoding their versions was most of a compaction's CPU, on the
 * processor objd serves from. */
struct snapshot_reuse {
	const uint8_t *map;
	size_t maplen;
	uint64_t revision;        /* that snapshot's */
	struct reuse_slot *slots; /* open addressing on the ring's hash */
	size_t mask;
	size_t copied;
};

struct snapshot_writer {
	int fd;
	uint64_t revision; /* the snapshot's: its entries' own by default */
	const struct leases *leases; /* the store's */
	struct buf buf;
	off_t at;
	off_t written_back; /* where the writeback asked for ends */
	off_t allocated;    /* objfile_allocate_ahead's */
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
	struct snapshot_reuse reuse;
	/* The entries that wait for their turn, oldest first. */
	const struct store_entry *waiting[SNAPSHOT_AHEAD];
	size_t waiting_first, nwaiting;
	/* The old snapshot's records that wait for theirs (reuse_note). */
	struct noted_record {
		struct objformat_record_at at;
		uint64_t hash;
	} noted[SNAPSHOT_AHEAD];
	size_t noted_first, nnoted;
};

/* Where the search of a ring of that hash (the store's, of its key)
 * starts in the reuse table. */
static size_t
reuse_home(const struct snapshot_reuse *r, uint64_t hash)
{
	return hash & r->mask;
}

/* A snapshot is synced whole before it replaces the file. Starting the
 * kernel's writeback of every SNAPSHOT_WRITEBACK bytes as they are
 * written, without waiting for it, leaves that sync less to do: a
 * compaction ends sooner, and fewer changes pile up meanwhile, to be
 * copied after it. A failed writeback shows in that sync. */
#define SNAPSHOT_WRITEBACK (8 * 1024 * 1024)

static void
snapshot_flush(struct snapshot_writer *w)
{
	if (w->error == 0)
		objfile_allocate_ahead(w->fd, &w->allocated, w->at,
		    w->at + (off_t)w->buf.len);
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
		w->crc = crc32_update(w->crc, w->buf.data, w->buf.len);
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
snapshot_put_entry_now(struct snapshot_writer *w, const struct store_entry *e)
{
	const struct key_history *kh;

	snapshot_put_entry_only(e, w);
	if (w->history == NULL)
		return;
	if ((kh = entry_ring(w, e)) != NULL)
		snapshot_put_key_record(w, kh);
	else if (e->revision < w->oldest_single)
		w->oldest_single = e->revision;
}

static const struct store_entry *
waiting_at(const struct snapshot_writer *w, size_t i)
{
	return w->waiting[ahead_index(w->waiting_first, i)];
}

static void
snapshot_put_first_waiting(struct snapshot_writer *w)
{
	snapshot_put_entry_now(w, waiting_at(w, 0));
	w->waiting_first = ahead_index(w->waiting_first, 1);
	w->nwaiting--;
}

/* Takes e in among the entries waiting, and writes the first of them
 * once SNAPSHOT_AHEAD wait; snapshot_put_all_waiting writes the rest. */
static void
snapshot_put_entry(const struct store_entry *e, void *arg)
{
	struct snapshot_writer *w = arg;
	const struct store_entry *half;

	if (w->history == NULL) {
		snapshot_put_entry_only(e, w);
		return;
	}
	if (e->ring != NULL)
		__builtin_prefetch(e->ring);
	if (w->nwaiting >= SNAPSHOT_AHEAD / 2 &&
	    (half = waiting_at(w, w->nwaiting - SNAPSHOT_AHEAD / 2))->ring !=
	        NULL) {
		history_prefetch_version(half);
		if (w->reuse.slots != NULL)
			__builtin_prefetch(&w->reuse.slots[reuse_home(&w->reuse,
			    half->ring->hash)]);
	}
	if (w->nwaiting == SNAPSHOT_AHEAD)
		snapshot_put_first_waiting(w);
	w->waiting[ahead_index(w->waiting_first, w->nwaiting++)] = e;
}

static void
snapshot_put_all_waiting(struct snapshot_writer *w)
{
	while (w->nwaiting > 0)
		snapshot_put_first_waiting(w);
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

/* kh's slot in the table of the old snapshot's records, or the empty
 * one where it goes. */
static struct reuse_slot *
reuse_slot(const struct snapshot_reuse *r, const struct key_history *kh)
{
	size_t i = reuse_home(r, kh->hash);

	while (r->slots[i].ring != NULL && r->slots[i].ring != kh)
		i = (i + 1) & r->mask;
	return &r->slots[i];
}

/* Notes the first record waiting in the reuse table, under the ring of
 * its key. */
static void
reuse_note_first(struct snapshot_writer *w)
{
	const struct noted_record *n = &w->noted[w->noted_first];
	const struct key_history *kh;

	kh = history_get_hashed(w->history, n->at.key, n->at.keylen, n->hash);
	if (kh != NULL)
		*reuse_slot(&w->reuse, kh) =
		    (struct reuse_slot){ kh, n->at.at, n->at.len };
	w->noted_first = ahead_index(w->noted_first, 1);
	w->nnoted--;
}

/* The look-up of each record's key waits on memory twice, for its slot
 * in the history's table and for the ring there, and the note once more,
 * for the slot in the reuse table: as the walk of the keys does
 * (snapshot_put_entry), a record waits SNAPSHOT_AHEAD turns, the first
 * slots fetched when it comes in, the ring half-way. */
static void
reuse_note(const struct objformat_record_at *r, void *arg)
{
	struct snapshot_writer *w = arg;
	uint64_t hash = history_key_hash(w->history, r->key, r->keylen);
	const struct noted_record *half;

	history_prefetch_ring(w->history, NULL, hash);
	__builtin_prefetch(&w->reuse.slots[reuse_home(&w->reuse, hash)]);
	if (w->nnoted >= SNAPSHOT_AHEAD / 2) {
		half = &w->noted[ahead_index(w->noted_first,
		    w->nnoted - SNAPSHOT_AHEAD / 2)];
		history_prefetch_slot_ring(w->history, half->hash);
	}
	if (w->nnoted == SNAPSHOT_AHEAD)
		reuse_note_first(w);
	w->noted[ahead_index(w->noted_first, w->nnoted++)] =
	    (struct noted_record){ *r, hash };
}

static void
reuse_close(struct snapshot_reuse *r)
{
	if (r->map != NULL)
		munmap((void *)r->map, r->maplen);
	free(r->slots);
	r->map = NULL;
	r->slots = NULL;
}

/* Maps the file at from and finds its snapshot's records. Its commit
 * record's crc32 is checked over the whole snapshot first: bytes that
 * went bad on disk since objd wrote them are not copied into a file
 * whose new crc32 would vouch for them. Without a good snapshot, every
 * record is encoded. */
static void
reuse_open(struct snapshot_writer *w, int from)
{
	struct snapshot_reuse *r = &w->reuse;
	struct stat st;
	size_t n = 16;
	void *map;

	if (fstat(from, &st) == -1 || st.st_size <= 0 ||
	    (uint64_t)st.st_size > SIZE_MAX)
		return;
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, from, 0);
	if (map == MAP_FAILED)
		return;
	(void)madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
	r->map = map;
	r->maplen = (size_t)st.st_size;
	while (n < 2 * history_count(w->history))
		n *= 2;
	r->slots = xcalloc(n, sizeof(*r->slots));
	r->mask = n - 1;
	if (!objformat_snapshot_records(r->map, r->maplen, &r->revision,
	        reuse_note, w)) {
		w->nnoted = 0;
		reuse_close(r);
		return;
	}
	while (w->nnoted > 0)
		reuse_note_first(w);
}

/* kh's record in the old snapshot, if kh has not changed since: every
 * change of a ring adds a version of a later revision. */
static const struct reuse_slot *
reuse_find(const struct snapshot_reuse *r, const struct key_history *kh)
{
	const struct reuse_slot *slot;

	if (r->slots == NULL ||
	    (kh->count > 0 &&
	        HISTORY_AT(kh, kh->count - 1)->revision > r->revision))
		return NULL;
	slot = reuse_slot(r, kh);
	return slot->ring == kh ? slot : NULL;
}

/* Writes kh's record, in the chunk being deflated with compress (as the
 * entries are), else plain: then straight into the write buffer. */
static void
snapshot_put_key_record(struct snapshot_writer *w, const struct key_history *kh)
{
	const struct reuse_slot *old;

	w->rings_written++;
	if (!w->compress) {
		if ((old = reuse_find(&w->reuse, kh)) != NULL) {
			buf_put(&w->buf, w->reuse.map + old->at, old->len);
			w->reuse.copied++;
		} else
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
off_t
objfile_write_snapshot(int fd, const struct store *s, bool compress,
    int reuse_from, size_t *reused)
{
	struct snapshot_writer w = { .fd = fd,
		.revision = store_revision(s),
		.leases = store_leases(s),
		.compress = compress,
		.store = s,
		.history = history_depth > 0 ? store_history(s) : NULL,
		.lenlen = 2,
		.oldest_single = UINT64_MAX };

	if (reuse_from != -1 && !compress && w.history != NULL)
		reuse_open(&w, reuse_from);
	objformat_put_header(&w.buf);
	/* Each key's history record right after its entry, where a load
	 * finds the entry it completes still in the cache; then those of
	 * deleted keys. */
	store_foreach(s, snapshot_put_entry, &w);
	snapshot_put_all_waiting(&w);
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
	if (reused != NULL)
		*reused = w.reuse.copied;
	reuse_close(&w.reuse);
	free(w.record.data);
	libdeflate_free_compressor(w.deflater);
	free(w.zout);
	free(w.chunk.data);
	w.crc = crc32_update(w.crc, w.buf.data, w.buf.len);
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
