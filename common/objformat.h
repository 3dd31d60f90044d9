/* SPDX-License-Identifier: ISC */
/* objformat.h: the object file's byte layout, once: its field numbers,
 * the encoders of its pieces (entries, commits, the header, padding),
 * and the walk that reads it. objd writes and loads with it, objctl reads
 * and checks files with it offline, the fuzzers feed it: one format, so
 * all of them judge a file alike. It does no I/O and knows no store:
 * the encoders fill a buffer, and each entry of a good commit the walk
 * finds goes to a callback. The layout itself is described in
 * objd-file(5) and proto/objd.proto. */
#ifndef OBJD_OBJFORMAT_H
#define OBJD_OBJFORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "framing.h"
#include "pbwire.h"

/* The fields of objd.Object, objd.Object.EntriesEntry and objd.Commit
 * (proto/objd.proto) that the file's walk and objd's writer use: names
 * for rows of pbwire.h, which check_pbwire holds to the schema (the code
 * here writes and compares the rows' PBW_*_TAG). */
#define OBJFILE_FIELD_HEADER PBW_OBJECT_HEADER
#define OBJFILE_FIELD_ENTRIES PBW_OBJECT_ENTRIES
#define OBJFILE_FIELD_DEFLATED PBW_OBJECT_DEFLATED
#define OBJFILE_FIELD_PADDING PBW_OBJECT_PADDING
#define OBJFILE_FIELD_COMMITS PBW_OBJECT_COMMITS
/* objd --history: a HistoryRecord (a key's versions, or without a key
 * the time of a change), and a snapshot's HistoryTimes. */
#define OBJFILE_FIELD_HISTORY PBW_OBJECT_HISTORY
#define OBJFILE_FIELD_TIMES PBW_OBJECT_TIMES
#define OBJFILE_RECORD_KEY PBW_RECORD_KEY
#define OBJFILE_RECORD_VERSIONS PBW_RECORD_VERSIONS
#define OBJFILE_RECORD_TIME PBW_RECORD_TIME
#define OBJFILE_RECORD_TRUNCATED PBW_RECORD_TRUNCATED
#define OBJFILE_RECORD_EXPIRE PBW_RECORD_EXPIRE
#define OBJFILE_VERSION_REVISION PBW_VERSION_REVISION
#define OBJFILE_VERSION_TIME PBW_VERSION_TIME
#define OBJFILE_VERSION_WHAT PBW_VERSION_WHAT
#define OBJFILE_VERSION_VALUE PBW_VERSION_VALUE
#define OBJFILE_TIMES_KNOWN_SINCE PBW_TIMES_KNOWN_SINCE
#define OBJFILE_TIMES_REVISIONS PBW_TIMES_REVISIONS
#define OBJFILE_TIMES_TIMES PBW_TIMES_TIMES
/* FileHeader.format of the files objd writes. */
#define OBJFILE_FORMAT 1
#define OBJFILE_ENTRY_KEY PBW_OBJECT_ENTRY_KEY
#define OBJFILE_ENTRY_VALUE PBW_OBJECT_ENTRY_VALUE
/* A snapshot's entry's own revision, and a key's lease (objd set --ttl,
 * hold): its deadline in ms since the epoch, and the connection that
 * holds it; fields objd.proto describes but does not declare (see
 * PBWIRE_UNDECLARED). */
#define OBJFILE_ENTRY_REVISION PBW_OBJECT_ENTRY_REVISION
#define OBJFILE_ENTRY_DEADLINE PBW_OBJECT_ENTRY_DEADLINE
#define OBJFILE_ENTRY_HOLDER PBW_OBJECT_ENTRY_HOLDER
#define OBJFILE_COMMIT_REVISION PBW_COMMIT_REVISION
#define OBJFILE_COMMIT_CRC32 PBW_COMMIT_CRC32
#define OBJFILE_COMMIT_N_ENTRIES PBW_COMMIT_N_ENTRIES
/* The plain bytes of one deflated chunk, at most: the bound that makes
 * loading a hostile file safe (see proto/objd.proto). 64 KiB is two of
 * deflate's 32 KiB windows, so larger chunks would compress hardly
 * better. */
#define OBJFILE_CHUNK_MAX 65536
/* A commit record's payload, at most: three tags, a 64-bit varint, a
 * fixed32 and a 32-bit varint. */
#define OBJFILE_COMMIT_MAX (3 + 10 + 4 + 5)

/* The value of a deleted key: a Value whose only member is an empty
 * Tombstone (PBW_VALUE_TOMBSTONE). */
extern const uint8_t objfile_tombstone[2];

/* A key's lease, as a map entry carries it (0: none). */
struct objformat_lease {
	uint64_t deadline, holder;
};

/* Appends a map entry (Object field 2): the key, the packed Value, with
 * with_revision the key's own revision (a snapshot's; a change's entries
 * take their commit's), and its lease if lease is not NULL. */
void objformat_put_entry(struct buf *b, const char *key, size_t keylen,
    const uint8_t *val, size_t vallen, uint64_t revision, bool with_revision,
    const struct objformat_lease *lease);
/* objformat_put_entry without the value's vallen bytes: returns the
 * offset in b where they belong, for a caller that writes them from
 * where they are (objfile.c's changes, with pwritev). */
size_t objformat_put_entry_around(struct buf *b, const char *key, size_t keylen,
    size_t vallen, uint64_t revision, bool with_revision,
    const struct objformat_lease *lease);
/* The bytes objformat_put_entry appends for such an entry. */
size_t objformat_entry_size(size_t keylen, size_t vallen, uint64_t revision,
    bool with_revision, const struct objformat_lease *lease);
/* A Commit message, packed by hand as protobuf-c packs it (fields of 0
 * left out): through its descriptor, packing cost more than all the rest
 * of a one-key change. Returns its size. */
size_t objfile_commit_pack(uint64_t revision, uint32_t crc32,
    uint32_t n_entries, uint8_t out[OBJFILE_COMMIT_MAX]);
/* Appends a commit record (Object field 15). */
void objformat_put_commit_record(struct buf *b, uint64_t revision,
    uint32_t crc32, uint32_t n_entries);
/* Closes the change that started at *start with a commit record whose
 * crc32 covers b's bytes from there, and moves *start past it. */
void objformat_put_commit(struct buf *b, size_t *start, uint64_t revision,
    uint32_t n_entries);
/* Appends the FileHeader that starts every file objd writes. */
void objformat_put_header(struct buf *b);
/* Fills out with the header of a padding field (Object field 14) exactly
 * room bytes long, its header included, and returns the header's length;
 * 0 if no field is that long: room 1, and the few sizes where the
 * length's varint would need one more byte than leaves the size whole. */
size_t objformat_padding_header(size_t room, uint8_t out[1 + VARINT_MAX_LEN]);

/* The walk's verdict on a file. */
enum scan_result {
	SCAN_OK,
	SCAN_TORN,    /* cut or garbled after the last good commit */
	SCAN_DAMAGED, /* bad bytes in a snapshot, or before a good commit */
	SCAN_INVALID  /* a commit whose crc is good holds what cannot load */
};

/* What the walk found where it stopped (scan_report.at). */
enum scan_damage {
	SCAN_SOUND,           /* nothing */
	SCAN_BAD_FIELD,       /* bytes that are no protobuf field */
	SCAN_BAD_COMMIT,      /* a commit record whose crc or count is wrong */
	SCAN_REPLAYED_COMMIT, /* a good commit of an old revision again */
	SCAN_UNCOMMITTED,     /* entries with no commit record after them */
	SCAN_BAD_CHUNK,       /* a deflated chunk that does not inflate */
	SCAN_BAD_ENTRY,       /* an entry that does not parse, or is invalid */
	SCAN_BAD_COUNT        /* a commit counts other entries than it holds */
};

/* One entry of a good commit, as the walk hands it on. key and val
 * point into the file's buffer or into the chunk being inflated: valid
 * during the callback only. */
struct scan_entry {
	const char *key;
	size_t keylen;
	const uint8_t *val; /* the packed Value */
	size_t vallen;
	uint64_t revision; /* its own, or its commit's */
	bool deleted;      /* a tombstone: val is objfile_tombstone */
	uint64_t deadline; /* its lease: 0, none */
	uint64_t holder;
};

/* The history records of a good commit, as the walk hands them on. */
enum scan_record_kind {
	SCAN_RECORD_TIME, /* without a key: the time of the change, before
	                   * its entries */
	SCAN_RECORD_KEY,  /* a key's versions, after its entry */
	SCAN_RECORD_TIMES /* a snapshot's list of commit times */
};

struct scan_ops {
	void (*entry)(const struct scan_entry *e, void *arg);
	/* Optional: a key the walk will hand on soon, for a cache fetch. */
	void (*prefetch)(const char *key, size_t keylen, void *arg);
	/* Optional: a history record's payload; false if it is malformed.
	 * ours: the file is objd's (another program's is checked as
	 * strictly as a request). Without it records are passed over. */
	bool (*record)(enum scan_record_kind kind, const uint8_t *p, size_t len,
	    bool ours, void *arg);
	/* Optional: every entry and record of a good commit was handed on. */
	void (*committed)(uint64_t revision, void *arg);
	void *arg;
};

struct scan_report {
	enum scan_result result;
	enum scan_damage damage;
	size_t at;         /* where the walk stopped, if not SCAN_OK */
	size_t later;      /* SCAN_DAMAGED: a good commit after it, or 0 */
	size_t good_end;   /* the end of the last good commit */
	bool ours;         /* objd's format: the file starts with a header */
	bool padded;       /* room (a padding field) follows good_end */
	bool compressed;   /* it holds deflated chunks */
	uint64_t revision; /* the last good commit's */
	uint64_t commits;  /* how many good commits */
	char why[512];     /* the reason, for a message */
};

/* Reads the header of one protobuf field at buf[*pos..len): its number,
 * wire type and, for a varint, its value; for the other types *value is
 * the payload's size and *pos is left at the payload. -1 if malformed. */
int objfile_read_field(const uint8_t *buf, size_t len, size_t *pos,
    uint32_t *number, unsigned *wire, uint64_t *value);

/* The history's records (objformat-history.c). A Version of a record,
 * its value packed (NULL unless a set): what objd's loader and objctl's
 * reader of the file take from it. */
struct objformat_version {
	uint64_t revision;
	int64_t time;
	unsigned what; /* Version.What */
	const uint8_t *val;
	size_t vallen;
};

/* A history record (Object field 16) as read: a key's versions, or
 * without a key the time of the changes that follow. key and the
 * versions' values point into the record. */
struct objformat_record {
	const char *key;
	size_t keylen;
	int64_t time;
	bool truncated;
	bool expire;
	struct objformat_version *versions; /* kept for the next record */
	size_t nversions, capversions;
};

/* Reads a record's payload into r, whose versions array it reuses and
 * grows (the caller frees it); -1 if it is malformed, or holds a version
 * of a kind not known or a set without value. */
int objformat_read_record(const uint8_t *p, size_t len,
    struct objformat_record *r);

/* A snapshot's list of commit times (Object field 17), as read; the
 * caller frees revisions and times. */
struct objformat_times {
	uint64_t known_since;
	uint64_t *revisions;
	uint64_t *times; /* int64 seconds, as varints */
	size_t n;
};

/* Reads the list's payload into t; -1 if it is malformed or its two
 * lists differ in length. */
int objformat_read_times(const uint8_t *p, size_t len,
    struct objformat_times *t);

/* A plain history record (Object field 16) of a snapshot: the field's
 * bytes, tag included, and the key they are the record of. */
struct objformat_record_at {
	size_t at, len;
	const char *key;
	size_t keylen;
};

/* The snapshot a file of objd's starts with: walks buf[0..len) from its
 * header to its commit record, handing each plain history record on
 * to fn. True, with the snapshot's revision, if that commit record's
 * crc32 is good; false otherwise, what fn was given then being of no
 * worth. Records in deflated chunks are passed over. */
bool objformat_snapshot_records(const uint8_t *buf, size_t len,
    uint64_t *revision,
    void (*fn)(const struct objformat_record_at *r, void *arg), void *arg);

/* Walks buf[0..len), an object file, handing the entries of each good
 * commit to ops->entry in the file's order (the last of a key wins).
 * A file another program wrote, without header or commits, is one
 * change, its entries checked as strictly as a request's. */
enum scan_result objfile_scan(const uint8_t *buf, size_t len,
    const struct scan_ops *ops, struct scan_report *rep);

#endif
