/* SPDX-License-Identifier: ISC */
/* forkhide.c: memory that a forked child does not get.
 *
 * A compaction forks a child that writes the store as it was. From the
 * fork on, every page the two share is read-only in objd, and the first
 * write to it takes a fault, with a copy while the child runs. Large
 * values are where this costs: the watch history keeps the last sets'
 * entries (up to its byte bound, most of objd's memory under a stream
 * of sets of large values), malloc hands each one back for a later
 * set's value once the history lets it go, and the copy into it then
 * faults once for each of its pages, a quarter of a million faults per
 * GiB, when a compaction forked while the history held it. The child
 * never reads those entries: it writes the store and the keys' past
 * versions, and an entry the history alone keeps is in neither. Such
 * an entry's whole pages are left out of the children forked while it
 * is hidden (MADV_DONTFORK), so that they stay writable in objd.
 *
 * The pages are inside a malloc block, of which malloc keeps only the
 * header, before the first of them, while the block is in use; they
 * are shown again before the block goes back to malloc, which may hand
 * them out for what a child reads. */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "objd.h"

/* Each hidden block is a mapping of its own until it is shown (the
 * kernel splits the heap's around it): only blocks this large are worth
 * the two calls, and they keep the mappings few (the watch history's
 * 64 MiB hold at most 2,048 of them, against the kernel's default limit
 * of 65,530 mappings). */
#define FORKHIDE_MIN (32 * 1024)

static uintptr_t
page_size(void)
{
	static uintptr_t size;

	if (size == 0) {
		long n = sysconf(_SC_PAGESIZE);

		size = n > 0 ? (uintptr_t)n : 4096;
	}
	return size;
}

/* The whole pages inside [p, p + len): true if they are at least
 * FORKHIDE_MIN bytes. */
static bool
whole_pages(const void *p, size_t len, void **start, size_t *n)
{
	uintptr_t pg = page_size();
	uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1);
	uintptr_t b = ((uintptr_t)p + len) & ~(pg - 1);

	if (b <= a || b - a < FORKHIDE_MIN)
		return false;
	*start = (void *)a;
	*n = b - a;
	return true;
}

bool
forkhide_hide(const void *p, size_t len)
{
	void *start;
	size_t n;

	/* It may fail (too many mappings): the pages are then shared as
	 * any others, which costs only the faults. */
	return whole_pages(p, len, &start, &n) &&
	    madvise(start, n, MADV_DONTFORK) == 0;
}

void
forkhide_show(const void *p, size_t len)
{
	void *start;
	size_t n;

	/* The pages were hidden, so they are a mapping that takes the
	 * advice back. */
	if (whole_pages(p, len, &start, &n))
		(void)madvise(start, n, MADV_DOFORK);
}
