/* SPDX-License-Identifier: ISC */
/* objfile-tail.c: the changes objd commits while a child writes a new
 * file (a compaction, a reload's write-back), which must follow the
 * child's snapshot in it.
 *
 * objd appends them to its old file, as always. It used to keep a copy
 * of each in memory too, and to write them all after the snapshot once
 * the child had exited. Where the live state is large (many keys with
 * their history), a child runs for seconds; under a stream of large
 * values the changes meanwhile are hundreds of MB: objd took a page
 * fault on each page of memory they filled, and blocked its loop for as
 * long as their write took. So the child, once its snapshot is written,
 * copies those changes itself from the old file, in the kernel, round
 * after round while objd keeps committing more: a page shared with the
 * child says how far objd has committed and how far the child has
 * copied.
 *
 * Then the child hands the changes over: it takes those committed so
 * far as its last round, and objd writes each change it commits from
 * then on to the child's file too, where the child's rounds will end.
 * objd used to copy what the child left once it had exited: under a
 * stream of large values after a snapshot of a large state, hundreds of
 * MB, for most of a second in which it served no one. Written as they
 * come, they cost each change a second write (as much as their copy),
 * and the child's last round is bounded: one that chased them might
 * never end where the two share a CPU.
 *
 * Only bytes objd has committed (after their sync, with --fsync
 * always) are copied: a change cut back after a failed write or sync
 * never is. A failed sync of the old file puts what is in it in doubt
 * (the kernel may have dropped the pages): the child's file then fails,
 * as the rewrite that follows writes the whole state anyway (a rewrite
 * stops a running child first). When objd's file changes under a
 * running child otherwise (a load) before the hand-over, the changes
 * not yet copied are read back from the old file before it is closed,
 * and the changes from then on are kept in memory, as all of them were
 * before. After the hand-over the old file is the child's alone to
 * read (it has its own descriptor). */
#include <sys/mman.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "objfile-int.h"

struct objfile_tail_share {
	/* The old file's end of the last change objd committed; with
	 * HANDED_OVER, of the last one the child takes. */
	_Atomic int64_t committed;
	/* The end of the last change the child copied. */
	_Atomic int64_t copied;
	/* The child's file's offset of the old file's byte 0: set by the
	 * child before its hand-over. */
	_Atomic int64_t shift;
};

/* In committed, once the child has handed the changes over: no offset
 * of a file reaches it. */
#define HANDED_OVER ((int64_t)1 << 62)

/* The child hands over once fewer than this are left to copy; or, from
 * the fourth round on, no fewer than the round before copied; or once it
 * has copied as much as its snapshot holds. objd then commits changes as
 * fast as the child copies them (the two may share a CPU), and a child
 * that chased them would run ever longer, leave an ever longer file, and
 * hold up the next compaction. */
#define TAIL_ROUND_SMALL (1024 * 1024)
#define TAIL_ROUNDS_MIN 3
#define TAIL_ROUNDS 16
/* The buffer of a copy through user space, where copy_file_range does
 * not work between the two files. */
#define TAIL_COPY_CHUNK (256 * 1024)

static int
copy_through_buffer(int from, off_t pos, int to, off_t at, size_t len)
{
	static uint8_t buf[TAIL_COPY_CHUNK];

	while (len > 0) {
		ssize_t n = pread(from, buf,
		    len < sizeof(buf) ? len : sizeof(buf), pos);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO; /* the old file was cut */
			return -1;
		}
		if (objfile_write_all(to, buf, (size_t)n, at) == -1)
			return -1;
		pos += n;
		at += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Copies len bytes at pos in from to at in to: in the kernel where it
 * can. The copies of a catch-up follow each other in to, and share the
 * end of the blocks allocated ahead of them (allocated); the first asks
 * again for some of those the snapshot allocated, which costs little. */
static int
copy_range(int from, off_t pos, int to, off_t at, size_t len, off_t *allocated)
{
	objfile_allocate_ahead(to, allocated, at, at + (off_t)len);
	while (len > 0) {
		ssize_t n = copy_file_range(from, &pos, to, &at, len, 0);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 &&
		    (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
		        errno == EOPNOTSUPP))
			return copy_through_buffer(from, pos, to, at, len);
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		len -= (size_t)n;
	}
	return 0;
}

void
objfile_tail_start(struct objfile *f, int fd)
{
	struct objfile_tail_share *sh;

	f->tail_fd = fd;
	f->tail_handed_over = false;
	f->tail_new_at = 0;
	f->tail.len = 0;
	f->tail_base = f->good_end;
	f->tail_frozen = false;
	f->tail_broken = false;
	f->tail_share = NULL;
	if (f->fd == -1)
		return;
	/* Without it, objd keeps the changes in memory, as after a
	 * freeze. */
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return;
	atomic_init(&sh->committed, (int64_t)f->good_end);
	atomic_init(&sh->copied, (int64_t)f->good_end);
	atomic_init(&sh->shift, 0);
	f->tail_share = sh;
}

/* Whether the changes are read from the old file rather than kept. */
static bool
from_old_file(const struct objfile *f)
{
	return f->tail_share != NULL && !f->tail_frozen;
}

/* The child has taken the changes up to end in the old file: objd's
 * next go to its file after them. */
static void
note_hand_over(struct objfile *f, int64_t end)
{
	f->tail_handed_over = true;
	f->tail_new_at = (off_t)(end +
	    atomic_load_explicit(&f->tail_share->shift, memory_order_relaxed));
}

/* Whether the child has handed the changes over, before objd's file
 * changed. */
static bool
handed_over(struct objfile *f)
{
	int64_t committed;

	if (f->tail_handed_over || !from_old_file(f))
		return f->tail_handed_over;
	committed = atomic_load_explicit(&f->tail_share->committed,
	    memory_order_acquire);
	if ((committed & HANDED_OVER) == 0)
		return false;
	note_hand_over(f, committed & ~HANDED_OVER);
	return true;
}

static void
write_to_child_file(struct objfile *f, const struct objfile_changes *c)
{
	if (f->tail_broken)
		return;
	if (objfile_write_changes(f->tail_fd, c, f->tail_new_at) == -1) {
		log_warn("cannot write a change to the new file for %s",
		    f->path);
		f->tail_broken = true;
		return;
	}
	f->tail_new_at += (off_t)objfile_changes_len(c);
}

void
objfile_tail_add(struct objfile *f, const struct objfile_changes *c, off_t from)
{
	size_t at = 0;

	if (f->tail_handed_over) {
		write_to_child_file(f, c);
		return;
	}
	if (from_old_file(f)) {
		int64_t committed = (int64_t)from;

		/* The change went to the old file right after the last one;
		 * otherwise objd's file changed without a freeze: what the
		 * child did not copy is lost to it. */
		if (atomic_compare_exchange_strong_explicit(
		        &f->tail_share->committed, &committed,
		        (int64_t)f->good_end, memory_order_release,
		        memory_order_acquire))
			return;
		if (committed != ((int64_t)from | HANDED_OVER)) {
			f->tail_broken = true;
			return;
		}
		note_hand_over(f, (int64_t)from);
		write_to_child_file(f, c);
		return;
	}
	for (size_t i = 0; i < c->nrefs; i++) {
		buf_put(&f->tail, c->buf.data + at, c->refs[i].at - at);
		buf_put(&f->tail, c->refs[i].p, c->refs[i].len);
		at = c->refs[i].at;
	}
	buf_put(&f->tail, c->buf.data + at, c->buf.len - at);
}

void
objfile_tail_doubt(struct objfile *f)
{
	if (f->child != -1)
		f->tail_broken = true;
}

void
objfile_tail_freeze(struct objfile *f)
{
	int64_t copied, committed;

	/* After the hand-over, objd's changes go to the child's file
	 * whichever file objd appends to. */
	if (f->child == -1 || !from_old_file(f) || handed_over(f))
		return;
	f->tail_frozen = true;
	if (f->tail_broken || f->fd == -1)
		return;
	/* The child copies no further than it was told: objd reads the
	 * rest back now, from where the child is (it may be further at
	 * the end, never before). */
	copied =
	    atomic_load_explicit(&f->tail_share->copied, memory_order_acquire);
	/* The child may hand over meanwhile, at the same offset. */
	committed = atomic_load_explicit(&f->tail_share->committed,
	                memory_order_relaxed) &
	    ~HANDED_OVER;
	f->tail_base = (off_t)copied;
	f->tail.len = 0;
	buf_reserve(&f->tail, (size_t)(committed - copied));
	while (copied < committed) {
		ssize_t n = pread(f->fd, f->tail.data + f->tail.len,
		    (size_t)(committed - copied), (off_t)copied);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			f->tail_broken = true;
			return;
		}
		f->tail.len += (size_t)n;
		copied += n;
	}
}

off_t
objfile_tail_catch_up(const struct objfile *f, int from, int to, off_t at)
{
	struct objfile_tail_share *sh = f->tail_share;
	int64_t pos, last = INT64_MAX;
	off_t snapshot = at, allocated = 0;

	if (sh == NULL || from == -1)
		return at;
	pos = atomic_load_explicit(&sh->copied, memory_order_relaxed);
	for (int round = 0; round < TAIL_ROUNDS; round++) {
		int64_t end =
		    atomic_load_explicit(&sh->committed, memory_order_acquire);

		if (end - pos < TAIL_ROUND_SMALL ||
		    (round >= TAIL_ROUNDS_MIN && end - pos >= last) ||
		    at - snapshot > snapshot)
			break;
		if (copy_range(from, (off_t)pos, to, at, (size_t)(end - pos),
		        &allocated) == -1)
			return -1;
		at += (off_t)(end - pos);
		atomic_store_explicit(&sh->copied, end, memory_order_release);
		last = end - pos;
		pos = end;
	}
	return at;
}

off_t
objfile_tail_hand_over(const struct objfile *f, int from, int to, off_t at)
{
	struct objfile_tail_share *sh = f->tail_share;
	int64_t pos, end;
	off_t allocated = 0;

	if (sh == NULL || from == -1)
		return at;
	pos = atomic_load_explicit(&sh->copied, memory_order_relaxed);
	atomic_store_explicit(&sh->shift, (int64_t)at - pos,
	    memory_order_relaxed);
	/* objd commits no further change than end to the child: after a
	 * freeze, none at all. */
	end = atomic_load_explicit(&sh->committed, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&sh->committed, &end,
	    end | HANDED_OVER, memory_order_acq_rel, memory_order_relaxed))
		;
	if (end < pos) {
		errno = EIO;
		return -1;
	}
	if (copy_range(from, (off_t)pos, to, at, (size_t)(end - pos),
	        &allocated) == -1)
		return -1;
	atomic_store_explicit(&sh->copied, end, memory_order_release);
	return at + (off_t)(end - pos);
}

off_t
objfile_tail_finish(struct objfile *f, int fd, off_t end)
{
	int64_t copied = (int64_t)f->tail_base;
	size_t skip;

	if (f->tail_broken) {
		errno = EIO;
		return -1;
	}
	/* The child took what objd committed before its hand-over, and
	 * objd wrote what came after to the child's file. */
	if (from_old_file(f)) {
		if (!handed_over(f)) {
			errno = EIO;
			return -1;
		}
		return f->tail_new_at;
	}
	if (f->tail_share != NULL)
		copied = atomic_load_explicit(&f->tail_share->copied,
		    memory_order_acquire);
	if (copied < (int64_t)f->tail_base ||
	    copied - (int64_t)f->tail_base > (int64_t)f->tail.len) {
		errno = EIO;
		return -1;
	}
	skip = (size_t)(copied - (int64_t)f->tail_base);
	if (objfile_write_all(fd, f->tail.data + skip, f->tail.len - skip,
	        end) == -1)
		return -1;
	return end + (off_t)(f->tail.len - skip);
}

void
objfile_tail_release(struct objfile *f)
{
	buf_release(&f->tail);
	if (f->tail_share != NULL)
		munmap(f->tail_share, sizeof(*f->tail_share));
	f->tail_share = NULL;
	if (f->tail_fd != -1)
		close(f->tail_fd);
	f->tail_fd = -1;
	f->tail_frozen = false;
	f->tail_broken = false;
	f->tail_handed_over = false;
	f->tail_base = 0;
}

uint64_t
objfile_compact_backlog(const struct objfile *f)
{
	int64_t committed, copied;

	if (f->child == -1 || f->tail_share == NULL || f->tail_frozen)
		return 0;
	committed = atomic_load_explicit(&f->tail_share->committed,
	                memory_order_relaxed) &
	    ~HANDED_OVER;
	copied =
	    atomic_load_explicit(&f->tail_share->copied, memory_order_relaxed);
	return committed > copied ? (uint64_t)(committed - copied) : 0;
}
