/* SPDX-License-Identifier: ISC */
/* unit.h: small helpers that several Check programs share. */
#ifndef OBJD_TESTS_UNIT_H
#define OBJD_TESTS_UNIT_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "objd.pb-c.h"

/* xorshift64: random enough for test inputs, and the same sequence from
 * the same seed, so that a failure can be replayed. */
static inline uint64_t
xorshift64(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* req packed by protobuf-c into a buffer the caller frees. */
static inline uint8_t *
request_pack(const Objd__Request *req, size_t *len)
{
	uint8_t *buf;

	*len = objd__request__get_packed_size(req);
	buf = malloc(*len + 1);
	ck_assert_ptr_nonnull(buf);
	objd__request__pack(req, buf);
	return buf;
}

#endif
