/* SPDX-License-Identifier: ISC */
/* objfile-scan.h: the object file's byte layout, and the walk that reads
 * it. objd loads with it, objctl reads and checks files with it offline,
 * the fuzzers feed it: one loader, so all three judge a file alike. It
 * does no I/O but objfile_keep_tail's, and knows no store: each entry of
 * a good commit goes to a callback. */
#ifndef OBJD_OBJFILE_SCAN_H
#define OBJD_OBJFILE_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The fields of objd.Object, objd.Object.EntriesEntry and objd.Commit
 * (proto/objd.proto) that the file's walk and objd's writer use. */
#define OBJFILE_FIELD_HEADER 1
#define OBJFILE_FIELD_ENTRIES 2
#define OBJFILE_FIELD_DEFLATED 3
#define OBJFILE_FIELD_PADDING 14
#define OBJFILE_FIELD_COMMITS 15
/* objd --history: a HistoryRecord (a key's versions, or without a key
 * the time of a change), and a snapshot's HistoryTimes. */
#define OBJFILE_FIELD_HISTORY 16
#define OBJFILE_FIELD_TIMES 17
#define OBJFILE_RECORD_KEY 1
#define OBJFILE_ENTRY_KEY 1
#define OBJFILE_ENTRY_VALUE 2
#define OBJFILE_ENTRY_REVISION 3
/* A key's lease (objd set --ttl, hold): its deadline in ms since the
 * epoch, and the connection that holds it. */
#define OBJFILE_ENTRY_DEADLINE 4
#define OBJFILE_ENTRY_HOLDER 5
#define OBJFILE_COMMIT_REVISION 1
#define OBJFILE_COMMIT_CRC32 2
#define OBJFILE_COMMIT_N_ENTRIES 3
/* The plain bytes of one deflated chunk, at most: the bound that makes
 * loading a hostile file safe (see proto/objd.proto). 64 KiB is two of
 * deflate's 32 KiB windows, so larger chunks would compress hardly
 * better. */
#define OBJFILE_CHUNK_MAX 65536
/* A commit record's payload, at most: three tags, a 64-bit varint, a
 * fixed32 and a 32-bit varint. */
#define OBJFILE_COMMIT_MAX (3 + 10 + 4 + 5)

/* The value of a deleted key: a Value whose only member is an empty
 * Tombstone (field 9). */
extern const uint8_t objfile_tombstone[2];

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

/* Walks buf[0..len), an object file, handing the entries of each good
 * commit to ops->entry in the file's order (the last of a key wins).
 * A file another program wrote, without header or commits, is one
 * change, its entries checked as strictly as a request's. */
enum scan_result objfile_scan(const uint8_t *buf, size_t len,
    const struct scan_ops *ops, struct scan_report *rep);

/* Keeps buf[0..len), a tail cut from the file at path, beside it as
 * path.torn-TIME (or .torn-TIME.N: a name no other file has), synced.
 * Returns the new file's name (free it), or NULL with err set. */
char *objfile_keep_tail(const char *path, const uint8_t *buf, size_t len,
    char *err, size_t errlen);

#endif
