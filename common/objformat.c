/* SPDX-License-Identifier: ISC */
/* objformat.c: the object file's byte layout: the encoders of its
 * pieces, and the walk over its bytes (the layout is described in
 * objd-file(5) and proto/objd.proto).
 *
 * Loading walks the top-level fields without decoding the whole message.
 * Entries wait in a staging list until their commit checks out, so a torn
 * write at the end never reaches the caller. Only the tail that a crash
 * left unwritten is a torn end, for objd to cut back to the last good
 * commit; damage followed by a good commit, or inside the snapshot that
 * a file starts with, is damage, because cutting there would drop
 * acknowledged changes.
 *
 * Deflated chunks (--compress) are inflated one at a time into a buffer
 * of OBJFILE_CHUNK_MAX bytes and their entries walked as the file's own,
 * so a chunk that would inflate to more (a zip bomb in a replaced file)
 * is refused after at most that many bytes. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* libdeflate: the zlib streams of --compress, read whole, as the bound
 * on a chunk allows. */
#include <libdeflate.h>

#include "crc32.h"
#include "framing.h"
#include "key.h"
#include "objformat.h"
#include "value.h"
#include "xmalloc.h"

const uint8_t objfile_tombstone[2] = { PBW_VALUE_TOMBSTONE_TAG, 0 };

/* Reads the header of one field at buf[*pos..len): its number, wire type
 * and, for a varint, its value; for the others *value is the payload's
 * size and *pos is left at the payload. */
static int
read_field(const uint8_t *buf, size_t len, size_t *pos, uint32_t *number,
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
	case PB_WIRE_VARINT:
		used = varint_decode(buf + *pos, len - *pos, value);
		if (used <= 0)
			return -1;
		*pos += (size_t)used;
		return 0;
	case PB_WIRE_FIXED64:
	case PB_WIRE_FIXED32:
		*value = *wire == PB_WIRE_FIXED64 ? 8 : 4;
		return len - *pos < *value ? -1 : 0;
	case PB_WIRE_LEN:
		used = varint_decode(buf + *pos, len - *pos, value);
		if (used <= 0 || *value > len - *pos - (size_t)used)
			return -1;
		*pos += (size_t)used;
		return 0;
	default:
		return -1;
	}
}

int
objfile_read_field(const uint8_t *buf, size_t len, size_t *pos,
    uint32_t *number, unsigned *wire, uint64_t *value)
{
	return read_field(buf, len, pos, number, wire, value);
}

/* One map entry, as it lies in the file. */
struct raw_entry {
	const char *key;
	size_t keylen;
	const uint8_t *val;
	size_t vallen;
	uint64_t revision; /* its own, if it has one */
	bool has_revision; /* if not, it takes the commit's */
	uint64_t deadline; /* its lease, if any */
	uint64_t holder;
};

static int
parse_entry(const uint8_t *buf, size_t len, struct raw_entry *e)
{
	size_t pos = 0;
	uint32_t number;
	unsigned wire;
	uint64_t n;

	memset(e, 0, sizeof(*e));
	e->key = "";
	while (pos < len) {
		if (read_field(buf, len, &pos, &number, &wire, &n) == -1)
			return -1;
		if (pb_tag(number, wire) == PBW_OBJECT_ENTRY_KEY_TAG) {
			e->key = (const char *)buf + pos;
			e->keylen = (size_t)n;
		} else if (pb_tag(number, wire) == PBW_OBJECT_ENTRY_VALUE_TAG) {
			e->val = buf + pos;
			e->vallen = (size_t)n;
		} else if (pb_tag(number, wire) ==
		    PBW_OBJECT_ENTRY_REVISION_TAG) {
			e->revision = n;
			e->has_revision = true;
		} else if (pb_tag(number, wire) ==
		    PBW_OBJECT_ENTRY_DEADLINE_TAG)
			e->deadline = n;
		else if (pb_tag(number, wire) == PBW_OBJECT_ENTRY_HOLDER_TAG)
			e->holder = n;
		if (wire != PB_WIRE_VARINT)
			pos += (size_t)n;
	}
	return 0;
}

static bool
is_tombstone(const struct raw_entry *e)
{
	return e->vallen == sizeof(objfile_tombstone) &&
	    memcmp(e->val, objfile_tombstone, sizeof(objfile_tombstone)) == 0;
}

/* A file objd did not write is checked as strictly as a request. */
static bool
entry_valid(const struct raw_entry *e, char *err, size_t errlen)
{
	char why[256];
	Objd__Value *v;

	if (!key_valid(e->key, e->keylen, why, sizeof(why))) {
		snprintf(err, errlen, "bad key: %s", why);
		return false;
	}
	if (e->val == NULL) {
		snprintf(err, errlen, "key \"%.*s\" has no value",
		    (int)(e->keylen > 64 ? 64 : e->keylen), e->key);
		return false;
	}
	if (is_tombstone(e))
		return true;
	if ((v = value_unpack(e->val, e->vallen, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "bad value for key \"%.*s\": %s",
		    (int)(e->keylen > 64 ? 64 : e->keylen), e->key, why);
		return false;
	}
	value_free(v);
	return true;
}

static void
apply_entry(const struct scan_ops *ops, const struct raw_entry *e,
    uint64_t revision)
{
	struct scan_entry out = {
		.key = e->key,
		.keylen = e->keylen,
		.val = e->val,
		.vallen = e->vallen,
		.revision = e->has_revision ? e->revision : revision,
		.deleted = is_tombstone(e),
		.deadline = e->deadline,
		.holder = e->holder,
	};

	ops->entry(&out, ops->arg);
}

/* The walk over a whole file. */
struct scan {
	const uint8_t *buf;
	size_t len;
	const struct scan_ops *ops;
	bool has_header;
	bool any_commit;
	size_t good_end; /* the end of the last good commit */
	bool padded;     /* room follows good_end to the end */
	uint64_t revision;
	size_t *staged; /* offsets of the entries waiting for their commit */
	size_t nstaged, capstaged;
	size_t nchunks;  /* of the staged, deflated chunks */
	size_t nrecords; /* of the staged, history records */
	bool compressed;
	uint64_t commits;
	/* Where the walk stopped and what it found there. */
	enum scan_damage damage;
	size_t at, later;
	/* Inflates one chunk at a time into OBJFILE_CHUNK_MAX bytes. */
	struct libdeflate_decompressor *inflater;
	uint8_t *inflated;
	char why[512];
};

static void
scan_stage(struct scan *sc, size_t entry_at)
{
	if (sc->nstaged == sc->capstaged) {
		sc->capstaged = sc->capstaged ? sc->capstaged * 2 : 1024;
		sc->staged = xreallocarray(sc->staged, sc->capstaged,
		    sizeof(*sc->staged));
	}
	sc->staged[sc->nstaged++] = entry_at;
}

/* Applies one entry (its payload: p, len); for a foreign file, checks it
 * first. at names the entry, or the chunk it is in, in the error. */
static int
scan_apply_entry(struct scan *sc, const uint8_t *p, size_t len,
    uint64_t revision, size_t at, bool in_chunk)
{
	struct raw_entry e;

	if (parse_entry(p, len, &e) == -1 ||
	    (!sc->has_header && !entry_valid(&e, sc->why, sizeof(sc->why)))) {
		sc->damage = SCAN_BAD_ENTRY;
		sc->at = at;
		if (sc->why[0] == '\0')
			snprintf(sc->why, sizeof(sc->why),
			    "malformed entry %s byte %zu",
			    in_chunk ? "in the deflated chunk at" : "at", at);
		return -1;
	}
	apply_entry(sc->ops, &e, revision);
	return 0;
}

/* True if the history record at p has no key: the time of a change. */
static bool
record_is_time(const uint8_t *p, size_t len)
{
	size_t pos = 0;
	uint32_t number;
	unsigned wire;
	uint64_t n;

	while (pos < len) {
		if (read_field(p, len, &pos, &number, &wire, &n) == -1)
			return false;
		if (pb_tag(number, wire) == PBW_RECORD_KEY_TAG && n > 0)
			return false;
		if (wire != PB_WIRE_VARINT)
			pos += (size_t)n;
	}
	return true;
}

/* Hands the history record at p (its field at byte at) to ops->record. */
static int
scan_apply_record(struct scan *sc, enum scan_record_kind kind, const uint8_t *p,
    size_t len, size_t at)
{
	if (sc->ops->record == NULL ||
	    sc->ops->record(kind, p, len, sc->has_header, sc->ops->arg))
		return 0;
	sc->damage = SCAN_BAD_ENTRY;
	sc->at = at;
	snprintf(sc->why, sizeof(sc->why), "malformed %s at byte %zu",
	    kind == SCAN_RECORD_TIMES ? "list of commit times"
	                              : "history record",
	    at);
	return -1;
}

/* Inflates the chunk at byte at (its payload: in, inlen) into
 * sc->inflated, refusing one that would inflate to more than
 * OBJFILE_CHUNK_MAX bytes before it has produced more. */
static int
scan_inflate(struct scan *sc, size_t at, const uint8_t *in, size_t inlen,
    size_t *outlen)
{
	const char *why;
	size_t used = 0;

	*outlen = 0;
	if (sc->inflater == NULL) {
		if ((sc->inflater = libdeflate_alloc_decompressor()) == NULL) {
			why = "out of memory";
			goto bad;
		}
		sc->inflated = xmalloc(OBJFILE_CHUNK_MAX);
	}
	switch (libdeflate_zlib_decompress_ex(sc->inflater, in, inlen,
	    sc->inflated, OBJFILE_CHUNK_MAX, &used, outlen)) {
	case LIBDEFLATE_SUCCESS:
		if (used == inlen)
			return 0;
		why = "bytes follow its zlib stream";
		break;
	case LIBDEFLATE_INSUFFICIENT_SPACE:
		why = "it inflates to more than 65536 bytes, the most a "
		      "chunk may hold";
		break;
	default:
		/* libdeflate does not tell a stream cut short from a
		 * damaged one. */
		why = "it is not a whole zlib stream: damaged or cut short";
		break;
	}
bad:
	sc->damage = SCAN_BAD_CHUNK;
	sc->at = at;
	snprintf(sc->why, sizeof(sc->why),
	    "the deflated chunk at byte %zu does not load: %s", at, why);
	return -1;
}

/* Applies the entries of the deflated chunk at byte at; *count grows by
 * their number. */
static int
scan_apply_chunk(struct scan *sc, size_t at, const uint8_t *p, size_t len,
    uint64_t revision, size_t *count)
{
	size_t outlen, pos = 0, field_at;
	uint32_t number;
	unsigned wire;
	uint64_t n;

	if (scan_inflate(sc, at, p, len, &outlen) == -1)
		return -1;
	while (pos < outlen) {
		field_at = pos;
		if (read_field(sc->inflated, outlen, &pos, &number, &wire,
		        &n) == -1 ||
		    (pb_tag(number, wire) != PBW_OBJECT_ENTRIES_TAG &&
		        pb_tag(number, wire) != PBW_OBJECT_HISTORY_TAG)) {
			sc->damage = SCAN_BAD_CHUNK;
			sc->at = at;
			snprintf(sc->why, sizeof(sc->why),
			    "the deflated chunk at byte %zu holds something "
			    "other than map entries and history records, at "
			    "its byte %zu",
			    at, field_at);
			return -1;
		}
		/* A key's record follows its entry, in the same chunk. */
		if (number == PBW_OBJECT_HISTORY) {
			if (scan_apply_record(sc, SCAN_RECORD_KEY,
			        sc->inflated + pos, (size_t)n, at) == -1)
				return -1;
			pos += (size_t)n;
			continue;
		}
		if (scan_apply_entry(sc, sc->inflated + pos, (size_t)n,
		        revision, at, true) == -1)
			return -1;
		pos += (size_t)n;
		(*count)++;
	}
	return 0;
}

/* How many staged entries ahead a load fetches the slots of their keys. */
#define SCAN_FETCH_AHEAD 8

/* Starts fetching the slot of the key of staged entry i, if it is a plain
 * entry: inserting a million keys otherwise waits on memory for each. */
static void
scan_prefetch(struct scan *sc, size_t i)
{
	size_t pos = sc->staged[i];
	struct raw_entry e;
	uint32_t number;
	unsigned wire;
	uint64_t n;

	if (read_field(sc->buf, sc->len, &pos, &number, &wire, &n) == 0 &&
	    pb_tag(number, wire) == PBW_OBJECT_ENTRIES_TAG &&
	    n <= sc->len - pos &&
	    parse_entry(sc->buf + pos, (size_t)n, &e) == 0)
		sc->ops->prefetch(e.key, e.keylen, sc->ops->arg);
}

/* Applies the staged entries and chunks. want is the commit's count of
 * entries, checked here when chunks hide it from scan_commit_ok; NULL
 * for a file without commits. */
static int
scan_apply(struct scan *sc, uint64_t revision, const uint32_t *want)
{
	size_t count = 0;
	uint32_t number;
	unsigned wire;
	uint64_t n;

	/* A change's time record comes after its entries: taken first. */
	for (size_t i = 0; i < sc->nstaged && sc->nrecords > 0; i++) {
		size_t at = sc->staged[i], pos = at;

		read_field(sc->buf, sc->len, &pos, &number, &wire, &n);
		if (number == PBW_OBJECT_HISTORY &&
		    record_is_time(sc->buf + pos, (size_t)n) &&
		    scan_apply_record(sc, SCAN_RECORD_TIME, sc->buf + pos,
		        (size_t)n, at) == -1)
			return -1;
	}
	for (size_t i = 0; i < sc->nstaged; i++) {
		size_t at = sc->staged[i], pos = at;

		if (sc->ops->prefetch != NULL &&
		    i + SCAN_FETCH_AHEAD < sc->nstaged)
			scan_prefetch(sc, i + SCAN_FETCH_AHEAD);
		read_field(sc->buf, sc->len, &pos, &number, &wire, &n);
		if (number == PBW_OBJECT_TIMES) {
			if (scan_apply_record(sc, SCAN_RECORD_TIMES,
			        sc->buf + pos, (size_t)n, at) == -1)
				return -1;
		} else if (number == PBW_OBJECT_HISTORY) {
			if (!record_is_time(sc->buf + pos, (size_t)n) &&
			    scan_apply_record(sc, SCAN_RECORD_KEY,
			        sc->buf + pos, (size_t)n, at) == -1)
				return -1;
		} else if (number == PBW_OBJECT_DEFLATED) {
			if (scan_apply_chunk(sc, at, sc->buf + pos, (size_t)n,
			        revision, &count) == -1)
				return -1;
		} else if (scan_apply_entry(sc, sc->buf + pos, (size_t)n,
		               revision, at, false) == -1)
			return -1;
		else
			count++;
	}
	sc->nstaged = 0;
	sc->nchunks = 0;
	sc->nrecords = 0;
	if (sc->ops->committed != NULL)
		sc->ops->committed(revision, sc->ops->arg);
	/* The crc matched: a wrong count is the writer's, not a torn
	 * write. */
	if (want != NULL && count != *want) {
		sc->damage = SCAN_BAD_COUNT;
		snprintf(sc->why, sizeof(sc->why),
		    "the commit record of revision %llu counts %lu entries, "
		    "but its change holds %zu",
		    (unsigned long long)revision, (unsigned long)*want, count);
		return -1;
	}
	return 0;
}

/* Checks the commit record at pos against the change staged before it.
 * The entries inside deflated chunks are counted only once they are
 * inflated (scan_apply): here the count must cover the plain ones. */
static bool
scan_commit_ok(struct scan *sc, size_t tag_at, size_t pos, size_t n,
    size_t from, uint64_t *revision, uint32_t *n_entries)
{
	Objd__Commit *c = objd__commit__unpack(NULL, n, sc->buf + pos);
	size_t plain = sc->nstaged - sc->nchunks - sc->nrecords;
	bool ok;

	if (c == NULL)
		return false;
	ok = c->crc32 == crc32_update(0, sc->buf + from, tag_at - from) &&
	    (sc->nchunks == 0 ? c->n_entries == plain : c->n_entries >= plain);
	*revision = c->revision;
	*n_entries = c->n_entries;
	objd__commit__free_unpacked(c, NULL);
	return ok;
}

/* How many of the places last seen where a change may start a later
 * commit's crc is tried from: the real one is almost always the last. */
#define SCAN_FROM_MAX 32

/* Reads a commit record's payload at buf[0..len) as objd writes it:
 * revision, crc32 and count, nothing else. */
static bool
parse_commit(const uint8_t *buf, size_t len, uint64_t *revision,
    uint32_t *crc32)
{
	size_t pos = 0;
	uint32_t number;
	unsigned wire;
	uint64_t n;

	*revision = 0;
	*crc32 = 0;
	while (pos < len) {
		if (read_field(buf, len, &pos, &number, &wire, &n) == -1)
			return false;
		if (pb_tag(number, wire) == PBW_COMMIT_REVISION_TAG)
			*revision = n;
		else if (pb_tag(number, wire) == PBW_COMMIT_CRC32_TAG) {
			*crc32 = (uint32_t)buf[pos] |
			    (uint32_t)buf[pos + 1] << 8 |
			    (uint32_t)buf[pos + 2] << 16 |
			    (uint32_t)buf[pos + 3] << 24;
			pos += 4;
		} else if (pb_tag(number, wire) != PBW_COMMIT_N_ENTRIES_TAG)
			return false;
	}
	return true;
}

struct scan_froms {
	size_t at[SCAN_FROM_MAX];
	size_t n, next;
};

static void
scan_from_add(struct scan_froms *fr, size_t at)
{
	if (fr->n < SCAN_FROM_MAX)
		fr->at[fr->n++] = at;
	else {
		fr->at[fr->next] = at;
		fr->next = (fr->next + 1) % SCAN_FROM_MAX;
	}
}

/* Where a commit record that may be damaged could end, seen from byte p:
 * after a record's tag and one-byte length (OBJFILE_COMMIT_MAX < 128),
 * or after a crc field and the count that follows it. Between them,
 * each byte of a record but one leads to its end. */
static void
scan_note_record_ends(const struct scan *sc, size_t p, struct scan_froms *fr)
{
	const uint8_t *b = sc->buf;
	size_t left = sc->len - p;
	uint64_t count;
	int used;

	if (b[p] == PBW_OBJECT_COMMITS_TAG && left >= 2 && b[p + 1] > 0 &&
	    b[p + 1] <= OBJFILE_COMMIT_MAX && b[p + 1] <= left - 2)
		scan_from_add(fr, p + 2 + b[p + 1]);
	if (b[p] == PBW_COMMIT_CRC32_TAG && left >= 5) {
		scan_from_add(fr, p + 5);
		if (left > 5 && b[p + 5] == PBW_COMMIT_N_ENTRIES_TAG &&
		    (used = varint_decode(b + p + 6, left - 6, &count)) > 0)
			scan_from_add(fr, p + 6 + (size_t)used);
	}
}

/* After the walk stopped at damage or a torn end: looks byte by byte,
 * from the last good commit on, for a commit record whose crc matches
 * its change and whose revision is new. The walk cannot find it: a
 * damaged tag or length leads it astray. A change starts where the
 * record before it ends, and that record may be the damaged one: the
 * crc is tried from each of the last places where a record, whole or
 * not, may end. Returns the record's offset, or 0. */
static size_t
scan_finds_later_commit(const struct scan *sc)
{
	struct scan_froms fr = { .n = 0 };
	uint64_t revision;
	uint32_t crc;

	scan_from_add(&fr, sc->good_end);
	for (size_t p = sc->good_end; p + 2 < sc->len; p++) {
		size_t n = sc->buf[p + 1];

		if (sc->buf[p] == PBW_OBJECT_COMMITS_TAG && n > 0 &&
		    n <= OBJFILE_COMMIT_MAX && n <= sc->len - p - 2 &&
		    sc->buf[p + 2] == PBW_COMMIT_REVISION_TAG &&
		    parse_commit(sc->buf + p + 2, n, &revision, &crc) &&
		    revision > sc->revision) {
			for (size_t i = 0; i < fr.n; i++)
				if (fr.at[i] <= p &&
				    crc32_update(0, sc->buf + fr.at[i],
				        p - fr.at[i]) == crc)
					return p;
		}
		scan_note_record_ends(sc, p, &fr);
	}
	return 0;
}

/* The walk stopped at byte at, before the end, for the reason in
 * sc->why. Only the tail that a crash left unwritten is a torn end, to
 * be cut: objd writes a snapshot whole and renames it in, so a snapshot
 * short or bad is damage; so is anything followed by a good commit.
 * Cutting either would drop acknowledged changes. */
static enum scan_result
scan_stopped(struct scan *sc, size_t at, enum scan_damage damage)
{
	char why[sizeof(sc->why)];
	size_t later = 0;
	enum scan_result r = SCAN_TORN;

	memcpy(why, sc->why, sizeof(why));
	if (sc->has_header && !sc->any_commit)
		r = SCAN_DAMAGED;
	else if (sc->has_header && (later = scan_finds_later_commit(sc)) != 0)
		r = SCAN_DAMAGED;
	sc->damage = damage;
	sc->at = at;
	sc->later = later;
	if (r == SCAN_TORN)
		snprintf(sc->why, sizeof(sc->why), "%.400s at byte %zu", why,
		    at);
	else if (later == 0)
		snprintf(sc->why, sizeof(sc->why),
		    "damaged at byte %zu (%.400s), inside its snapshot, which "
		    "objd writes whole",
		    at, why);
	else
		snprintf(sc->why, sizeof(sc->why),
		    "damaged at byte %zu (%.400s), and a commit whose crc "
		    "matches is at byte %zu",
		    at, why, later);
	return r;
}

static enum scan_result
scan_file(struct scan *sc)
{
	size_t pos = 0, tag_at, from = 0;
	uint32_t number, n_entries;
	unsigned wire;
	uint64_t n, revision;

	while (pos < sc->len) {
		tag_at = pos;
		if (read_field(sc->buf, sc->len, &pos, &number, &wire, &n) ==
		    -1) {
			snprintf(sc->why, sizeof(sc->why), "malformed field");
			return scan_stopped(sc, tag_at, SCAN_BAD_FIELD);
		}
		if (pb_tag(number, wire) == PBW_OBJECT_HEADER_TAG &&
		    tag_at == 0)
			sc->has_header = true;
		else if (pb_tag(number, wire) == PBW_OBJECT_ENTRIES_TAG)
			scan_stage(sc, tag_at);
		else if (pb_tag(number, wire) == PBW_OBJECT_HISTORY_TAG ||
		    pb_tag(number, wire) == PBW_OBJECT_TIMES_TAG) {
			scan_stage(sc, tag_at);
			sc->nrecords++;
		} else if (pb_tag(number, wire) == PBW_OBJECT_DEFLATED_TAG) {
			scan_stage(sc, tag_at);
			sc->nchunks++;
			sc->compressed = true;
		} else if (pb_tag(number, wire) == PBW_OBJECT_PADDING_TAG &&
		    sc->any_commit && tag_at == sc->good_end &&
		    pos + (size_t)n == sc->len)
			sc->padded = true;
		else if (pb_tag(number, wire) == PBW_OBJECT_COMMITS_TAG) {
			if (!scan_commit_ok(sc, tag_at, pos, (size_t)n, from,
			        &revision, &n_entries)) {
				snprintf(sc->why, sizeof(sc->why),
				    "bad commit record");
				return scan_stopped(sc, tag_at,
				    SCAN_BAD_COMMIT);
			}
			/* The same change again (a replayed write), or an
			 * older one: nothing new, whatever its number. */
			if (sc->any_commit && revision <= sc->revision) {
				snprintf(sc->why, sizeof(sc->why),
				    "a replayed commit (revision %llu after "
				    "%llu)",
				    (unsigned long long)revision,
				    (unsigned long long)sc->revision);
				return scan_stopped(sc, sc->good_end,
				    SCAN_REPLAYED_COMMIT);
			}
			if (scan_apply(sc, revision, &n_entries) == -1) {
				if (sc->damage == SCAN_BAD_COUNT)
					sc->at = tag_at;
				return SCAN_INVALID;
			}
			sc->commits++;
			sc->any_commit = true;
			sc->revision = revision;
			from = sc->good_end = pos + (size_t)n;
		}
		if (wire != PB_WIRE_VARINT)
			pos += (size_t)n;
	}
	if (!sc->has_header && !sc->any_commit) {
		/* Another program's file: taken whole, as one change. */
		if (scan_apply(sc, 0, NULL) == -1)
			return SCAN_INVALID;
		sc->good_end = sc->len;
		return SCAN_OK;
	}
	if (sc->good_end != sc->len && !sc->padded) {
		snprintf(sc->why, sizeof(sc->why),
		    "%zu bytes without a commit record",
		    sc->len - sc->good_end);
		return scan_stopped(sc, sc->good_end, SCAN_UNCOMMITTED);
	}
	return SCAN_OK;
}

enum scan_result
objfile_scan(const uint8_t *buf, size_t len, const struct scan_ops *ops,
    struct scan_report *rep)
{
	struct scan sc = { .buf = buf, .len = len, .ops = ops };
	enum scan_result r;

	r = scan_file(&sc);
	free(sc.staged);
	libdeflate_free_decompressor(sc.inflater);
	free(sc.inflated);
	memset(rep, 0, sizeof(*rep));
	rep->result = r;
	rep->damage = r == SCAN_OK ? SCAN_SOUND : sc.damage;
	rep->at = sc.at;
	rep->later = sc.later;
	rep->good_end = sc.good_end;
	rep->ours = sc.has_header;
	rep->padded = sc.padded;
	rep->compressed = sc.compressed;
	rep->revision = sc.revision;
	rep->commits = sc.commits;
	snprintf(rep->why, sizeof(rep->why), "%s", sc.why);
	return r;
}

/* The encoders: what objd writes, byte for byte. */

/* The size of a map entry's payload, without its own tag and length. */
static size_t
entry_body_size(size_t keylen, size_t vallen, uint64_t revision,
    bool with_revision, const struct objformat_lease *lease)
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

size_t
objformat_entry_size(size_t keylen, size_t vallen, uint64_t revision,
    bool with_revision, const struct objformat_lease *lease)
{
	size_t body =
	    entry_body_size(keylen, vallen, revision, with_revision, lease);

	return 1 + varint_size(body) + body;
}

/* The entry as objformat_put_entry appends it, but with val NULL its
 * value's bytes left out: *val_at is then where they would go. */
static inline __attribute__((always_inline)) void
put_entry(struct buf *b, const char *key, size_t keylen, const uint8_t *val,
    size_t vallen, uint64_t revision, bool with_revision,
    const struct objformat_lease *lease, size_t *val_at)
{
	size_t body =
	    entry_body_size(keylen, vallen, revision, with_revision, lease);
	uint8_t *p;

	/* Room for all of it at once: each change writes one. */
	buf_reserve(b, 2 * VARINT_MAX_LEN + body - (val == NULL ? vallen : 0));
	p = b->data + b->len;
	p += varint_encode(p, PBW_OBJECT_ENTRIES_TAG);
	p += varint_encode(p, body);
	*p++ = PBW_OBJECT_ENTRY_KEY_TAG;
	p += varint_encode(p, keylen);
	memcpy(p, key, keylen);
	p += keylen;
	*p++ = PBW_OBJECT_ENTRY_VALUE_TAG;
	p += varint_encode(p, vallen);
	if (val != NULL) {
		memcpy(p, val, vallen);
		p += vallen;
	} else
		*val_at = (size_t)(p - b->data);
	if (with_revision) {
		*p++ = PBW_OBJECT_ENTRY_REVISION_TAG;
		p += varint_encode(p, revision);
	}
	if (lease != NULL && lease->deadline != 0) {
		*p++ = PBW_OBJECT_ENTRY_DEADLINE_TAG;
		p += varint_encode(p, lease->deadline);
	}
	if (lease != NULL && lease->holder != 0) {
		*p++ = PBW_OBJECT_ENTRY_HOLDER_TAG;
		p += varint_encode(p, lease->holder);
	}
	b->len = (size_t)(p - b->data);
}

void
objformat_put_entry(struct buf *b, const char *key, size_t keylen,
    const uint8_t *val, size_t vallen, uint64_t revision, bool with_revision,
    const struct objformat_lease *lease)
{
	static const uint8_t none[1];

	/* val may be NULL for no bytes; NULL tells put_entry to leave them
	 * out. */
	put_entry(b, key, keylen, val != NULL ? val : none, vallen, revision,
	    with_revision, lease, NULL);
}

size_t
objformat_put_entry_around(struct buf *b, const char *key, size_t keylen,
    size_t vallen, uint64_t revision, bool with_revision,
    const struct objformat_lease *lease)
{
	size_t at = 0;

	put_entry(b, key, keylen, NULL, vallen, revision, with_revision, lease,
	    &at);
	return at;
}

size_t
objfile_commit_pack(uint64_t revision, uint32_t crc32, uint32_t n_entries,
    uint8_t out[OBJFILE_COMMIT_MAX])
{
	uint8_t *p = out;

	if (revision != 0) {
		*p++ = PBW_COMMIT_REVISION_TAG;
		p += varint_encode(p, revision);
	}
	if (crc32 != 0) {
		*p++ = PBW_COMMIT_CRC32_TAG;
		for (int i = 0; i < 4; i++)
			*p++ = (uint8_t)(crc32 >> (8 * i));
	}
	if (n_entries != 0) {
		*p++ = PBW_COMMIT_N_ENTRIES_TAG;
		p += varint_encode(p, n_entries);
	}
	return (size_t)(p - out);
}

void
objformat_put_commit_record(struct buf *b, uint64_t revision, uint32_t crc32,
    uint32_t n_entries)
{
	uint8_t tmp[OBJFILE_COMMIT_MAX];
	size_t n = objfile_commit_pack(revision, crc32, n_entries, tmp);

	buf_put_varint(b, PBW_OBJECT_COMMITS_TAG);
	buf_put_varint(b, n);
	buf_put(b, tmp, n);
}

void
objformat_put_commit(struct buf *b, size_t *start, uint64_t revision,
    uint32_t n_entries)
{
	objformat_put_commit_record(b, revision,
	    crc32_update(0, b->data + *start, b->len - *start), n_entries);
	*start = b->len;
}

bool
objformat_snapshot_records(const uint8_t *buf, size_t len, uint64_t *revision,
    void (*fn)(const struct objformat_record_at *r, void *arg), void *arg)
{
	struct objformat_record_at r;
	size_t pos = 0, at, rpos;
	uint32_t number, crc32;
	unsigned wire;
	uint64_t n, klen;

	if (read_field(buf, len, &pos, &number, &wire, &n) == -1 ||
	    pb_tag(number, wire) != PBW_OBJECT_HEADER_TAG)
		return false;
	pos += (size_t)n;
	while (pos < len) {
		at = pos;
		if (read_field(buf, len, &pos, &number, &wire, &n) == -1)
			return false;
		if (pb_tag(number, wire) == PBW_OBJECT_COMMITS_TAG)
			return parse_commit(buf + pos, (size_t)n, revision,
			           &crc32) &&
			    crc32 == crc32_update(0, buf, at);
		if (pb_tag(number, wire) == PBW_OBJECT_HISTORY_TAG) {
			/* objd writes the key first, as protobuf-c does. */
			rpos = pos;
			if (read_field(buf, pos + (size_t)n, &rpos, &number,
			        &wire, &klen) == -1 ||
			    pb_tag(number, wire) != PBW_RECORD_KEY_TAG)
				return false;
			r = (struct objformat_record_at){ .at = at,
				.len = pos + (size_t)n - at,
				.key = (const char *)buf + rpos,
				.keylen = (size_t)klen };
			fn(&r, arg);
		}
		if (wire != PB_WIRE_VARINT)
			pos += (size_t)n;
	}
	return false;
}

void
objformat_put_header(struct buf *b)
{
	Objd__FileHeader header = OBJD__FILE_HEADER__INIT;
	uint8_t tmp[16];
	size_t n;

	header.format = OBJFILE_FORMAT;
	n = objd__file_header__pack(&header, tmp);
	buf_put_varint(b, PBW_OBJECT_HEADER_TAG);
	buf_put_varint(b, n);
	buf_put(b, tmp, n);
}

size_t
objformat_padding_header(size_t room, uint8_t out[1 + VARINT_MAX_LEN])
{
	for (size_t lenlen = 1; lenlen <= VARINT_MAX_LEN && 1 + lenlen <= room;
	     lenlen++) {
		if (varint_size(room - 1 - lenlen) == lenlen) {
			out[0] = PBW_OBJECT_PADDING_TAG;
			varint_encode(out + 1, room - 1 - lenlen);
			return 1 + lenlen;
		}
	}
	return 0;
}
