/* SPDX-License-Identifier: ISC */
/* arena.c: see arena.h. */
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

#include "arena.h"
#include "xmalloc.h"

/* Under AddressSanitizer the released part is poisoned, so a use of a
 * request after it was released is still caught, as it was with free. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_POISON(p, n) ((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define ARENA_ALIGN alignof(max_align_t)

struct arena_spill {
	struct arena_spill *next;
	size_t size; /* of data */
	alignas(max_align_t) unsigned char data[];
};

void
arena_init(struct arena *a, size_t size)
{
	a->size = size - size % ARENA_ALIGN;
	a->base = xmalloc(a->size);
	a->used = 0;
	a->spills = NULL;
	a->spare = NULL;
	a->cleanups = NULL;
	ARENA_POISON(a->base, a->size);
}

void
arena_free(struct arena *a)
{
	arena_release(a, (struct arena_mark){ 0, NULL, NULL });
	free(a->spare);
	a->spare = NULL;
	ARENA_UNPOISON(a->base, a->size);
	free(a->base);
	a->base = NULL;
	a->size = 0;
}

/* n bytes that do not fit in the arena. Out of line, so that the common
 * case stays a few instructions. */
static __attribute__((noinline)) void *
arena_spill(struct arena *a, size_t n)
{
	struct arena_spill *s;

	if ((s = a->spare) != NULL && s->size >= n) {
		/* Its pages are mapped already: a fresh spill of a megabyte
		 * costs a page fault for every 4 KiB of it. */
		a->spare = NULL;
		ARENA_UNPOISON(s->data, n);
	} else {
		if (n > SIZE_MAX - sizeof(*s))
			return NULL;
		if ((s = malloc(sizeof(*s) + n)) == NULL)
			return NULL;
		s->size = n;
	}
	s->next = a->spills;
	a->spills = s;
	return s->data;
}

void *
arena_alloc(struct arena *a, size_t n)
{
	size_t need;

	if (n == 0)
		n = 1;
	if (n <= a->size - a->used) {
		void *p = a->base + a->used;

		need = n + (ARENA_ALIGN - n % ARENA_ALIGN) % ARENA_ALIGN;
		a->used += need <= a->size - a->used ? need : a->size - a->used;
		ARENA_UNPOISON(p, n);
		return p;
	}
	return arena_spill(a, n);
}

struct arena_mark
arena_mark(const struct arena *a)
{
	return (struct arena_mark){ a->used, a->spills, a->cleanups };
}

bool
arena_on_release(struct arena *a, void (*fn)(void *), void *arg)
{
	struct arena_cleanup *c = arena_alloc(a, sizeof(*c));

	if (c == NULL)
		return false;
	c->fn = fn;
	c->arg = arg;
	c->next = a->cleanups;
	a->cleanups = c;
	return true;
}

void
arena_release(struct arena *a, struct arena_mark m)
{
	while (a->cleanups != m.cleanups) {
		struct arena_cleanup *c = a->cleanups;

		a->cleanups = c->next;
		c->fn(c->arg);
	}
	while (a->spills != m.spills) {
		struct arena_spill *s = a->spills;

		a->spills = s->next;
		/* The largest spill within ARENA_SPARE_MAX is kept for the
		 * next large request. */
		if (s->size <= ARENA_SPARE_MAX &&
		    (a->spare == NULL || a->spare->size < s->size)) {
			free(a->spare);
			a->spare = s;
			ARENA_POISON(s->data, s->size);
		} else
			free(s);
	}
	ARENA_POISON(a->base + m.used, a->used - m.used);
	a->used = m.used;
}
