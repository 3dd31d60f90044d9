/* SPDX-License-Identifier: ISC */
/* arena.h: a bump allocator for short-lived trees of small allocations,
 * dropped all at once.
 *
 * objd decodes each request into it: an unpacked protobuf message is a
 * dozen small allocations (the message, each submessage, array and
 * string), and malloc and free of them cost more than the rest of a
 * simple get. Allocations nest like a stack: take a mark, allocate,
 * release back to the mark; what was allocated after a mark taken inside
 * (a request handled while another is being handled) goes first. */
#ifndef ARENA_H
#define ARENA_H

#include <stdbool.h>
#include <stddef.h>

struct arena_spill;

/* A function arena_release calls, for what an allocation of the arena
 * owns outside it. */
struct arena_cleanup {
	struct arena_cleanup *next;
	void (*fn)(void *arg);
	void *arg;
};

struct arena {
	unsigned char *base;
	size_t size, used;
	/* Allocations that did not fit, newest first. */
	struct arena_spill *spills;
	/* A spill released and kept, not freed: requests of large values
	 * come one after the other, and malloc hands each one fresh pages
	 * (it maps a block that large on its own), which cost more than the
	 * copy into them. At most ARENA_SPARE_MAX bytes, so a huge request
	 * does not stay in objd's memory after it. */
	struct arena_spill *spare;
	/* Registered with arena_on_release, newest first. */
	struct arena_cleanup *cleanups;
};

#define ARENA_SPARE_MAX ((size_t)4 << 20)

struct arena_mark {
	size_t used;
	struct arena_spill *spills;
	struct arena_cleanup *cleanups;
};

/* An arena of size bytes, beyond which allocations go to malloc; exits
 * if it cannot be had, like xmalloc. */
void arena_init(struct arena *a, size_t size);
void arena_free(struct arena *a);
/* n bytes aligned for any type, or NULL if memory is out. */
void *arena_alloc(struct arena *a, size_t n);
struct arena_mark arena_mark(const struct arena *a);
/* fn(arg) is called when the arena is released to a mark taken before
 * this call, newest first, before the arena's memory goes; false (and
 * nothing registered) if memory is out. */
bool arena_on_release(struct arena *a, void (*fn)(void *), void *arg);
/* Frees everything allocated since m was taken, after calling the
 * cleanups registered since. */
void arena_release(struct arena *a, struct arena_mark m);

#endif
