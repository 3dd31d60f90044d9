/* SPDX-License-Identifier: ISC */
/* objfile-int.h: what objfile.c (the append side, and what objd knows of
 * the file), objfile-load.c (open, lock, load, recover),
 * objfile-snapshot.c (a snapshot's bytes), objfile-replace.c
 * (compaction, write-back, install, reject) and objfile-tail.c share of
 * the object file; nothing else includes it but check_objfile, which
 * holds a snapshot's bytes to those written otherwise. */
#ifndef OBJD_OBJFILE_INT_H
#define OBJD_OBJFILE_INT_H

#include <sys/stat.h>
#include <sys/types.h>

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "objd.h"
#include "objformat.h"

#define WRITE_CHUNK (256 * 1024)
/* The room a file grows by: a sixteenth of it, within these bounds, and
 * ending on a page. */
#define ROOM_MIN (64 * 1024)
#define ROOM_MAX (4 * 1024 * 1024)
#define ROOM_ALIGN 4096
/* The blocks allocated ahead of the writes: an eighth of the file,
 * within these bounds (objfile_allocate_ahead). */
#define ALLOC_AHEAD_MIN (64 * 1024)
#define ALLOC_AHEAD_MAX (32 * 1024 * 1024)
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
	/* The end of the blocks objd allocated ahead of its appends to fd
	 * (objfile_allocate_ahead); -1: the filesystem would not. */
	off_t allocated;
	enum fsync_mode fsync;
	bool dirty;          /* written since the last fsync */
	bool needs_rewrite;  /* an fsync failed: what is on disk is in doubt */
	bool compress;       /* --compress: snapshots deflate their entries */
	bool others_watched; /* other programs' files are loaded */
	/* The history whose rings the snapshot at the start of fd was
	 * written from, by objd: a compaction copies the records of those
	 * unchanged since. NULL when fd's file was loaded. */
	const struct history *snapshot_of;
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
	const struct history *child_snapshot_of;
	bool child_writes_back; /* for a reload: only over at_path */
	/* The changes since the fork that the child does not copy from
	 * the old file (objfile-tail.c): kept in memory once objd's file
	 * changed, from the old file's offset tail_base. */
	struct buf tail;
	off_t tail_base;
	struct objfile_tail_share *tail_share;
	bool tail_frozen; /* the child is told of no more changes */
	bool tail_broken; /* the child's file misses changes, or is in doubt */
	/* Once the child has handed the changes over (it copies no more
	 * than it has taken): objd writes each of its own to the child's
	 * file too, at tail_new_at, through tail_fd. */
	bool tail_handed_over;
	int tail_fd;
	off_t tail_new_at;
	/* The buffer of the last changes written, for the next ones: each
	 * commit would otherwise allocate and free a 4 KiB one. */
	struct buf spare;
};

/* objfile.c */
void objfile_identity_from(struct identity *id, const struct stat *st);
/* Notes the file objd has open as the one it last wrote. */
void objfile_note_identity(struct objfile *f);
bool time_after(const struct timespec *a, const struct timespec *b);
/* Closes objd's descriptor of a file that a new one has replaced. */
void objfile_close_replaced(int fd, off_t size);
/* Before bytes are written to fd from from to end: allocates its blocks
 * there and ahead, unless *allocated, the end of those allocated so far
 * (0 at first), covers them already. */
void objfile_allocate_ahead(int fd, off_t *allocated, off_t from, off_t end);
/* Gives back the blocks of fd beyond its size, which must be size. */
void objfile_trim_ahead(int fd, off_t size, const char *path);
/* Writes all of p at at, whatever short writes the kernel makes. */
int objfile_write_all(int fd, const uint8_t *p, size_t len, off_t at);
/* Writes the bytes of c at at, as an append would. */
int objfile_write_changes(int fd, const struct objfile_changes *c, off_t at);
/* Ends a new file, whose snapshot ends at end, with data and, with
 * room, room after it; returns its size, or -1 with errno. */
off_t objfile_finish_new_file(int fd, off_t end, const void *data, size_t len,
    bool room);

/* objfile-tail.c */
/* Before the fork of a child, whose new file is fd (the tail takes it):
 * the tail starts at the old file's end. */
void objfile_tail_start(struct objfile *f, int fd);
/* After c is committed to the old file, from from to f->good_end. */
void objfile_tail_add(struct objfile *f, const struct objfile_changes *c,
    off_t from);
/* The old file's sync failed: the child's file is in doubt. */
void objfile_tail_doubt(struct objfile *f);
/* Before objd's file is closed for another: the rest of the tail is
 * objd's, in memory. */
void objfile_tail_freeze(struct objfile *f);
/* In the child, after its snapshot, which ends at at in to: copies the
 * changes objd commits to the old file (from) after it, in rounds while
 * they are many. Returns the new end of to, or -1 with errno. */
off_t objfile_tail_catch_up(const struct objfile *f, int from, int to,
    off_t at);
/* In the child, last: takes the changes committed so far, copies them
 * after at in to, and leaves those that follow to objd. Returns the new
 * end of to, or -1 with errno. */
off_t objfile_tail_hand_over(const struct objfile *f, int from, int to,
    off_t at);
/* Once the child has exited: writes the changes it did not copy at end
 * in its file fd (those objd kept in memory); returns the file's new
 * end, or -1 with errno. */
off_t objfile_tail_finish(struct objfile *f, int fd, off_t end);
void objfile_tail_release(struct objfile *f);

/* objfile-snapshot.c */
/* Writes s as a snapshot at the start of fd (deflating its entries and
 * records with compress); returns where it ends, or -1 with errno.
 * reuse_from, unless -1, is a file that starts with a snapshot objd
 * wrote from s's history (objfile.snapshot_of): the records of rings
 * unchanged since are copied from it, and counted in *reused. */
off_t objfile_write_snapshot(int fd, const struct store *s, bool compress,
    int reuse_from, size_t *reused);

/* objfile-replace.c */
/* Writes s as a new file and renames it over the old one, or only over
 * the file expect names (NULL: whatever is there): returns 1, err
 * unset, if the path holds another. */
enum objfile_result objfile_rewrite_expecting(struct objfile *f,
    const struct store *s, const struct identity *expect, char *err,
    size_t errlen);

#endif
