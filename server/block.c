/* SPDX-License-Identifier: ISC */
/* block.c: answering later (block.h), for those that answer a ticket and
 * let it go at once. */
#include "objd.h"

void
block_done(struct ticket *t, Objd__Status status, const char *error,
    uint64_t revision)
{
	block_answer(t, status, error, revision);
	block_release(t);
}
