/* SPDX-License-Identifier: ISC */
/* pbcheck.h: a check of untrusted protobuf bytes before protobuf-c sees
 * them.
 *
 * protobuf-c's unpack recurses without a limit (a value nested a few
 * thousand deep overflows the stack) and accepts invalid UTF-8 and NUL
 * bytes in strings. pbcheck walks the bytes with an explicit stack,
 * guided by the message descriptors, and refuses them before unpack. */
#ifndef OBJD_PBCHECK_H
#define OBJD_PBCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Values nest at most this deep; a scalar value alone is depth 1. */
#define VALUE_DEPTH_MAX 64

/* Checks that buf[0..len) is a well-formed desc message whose string
 * fields are valid UTF-8 without NUL and whose objd.Value members nest at
 * most VALUE_DEPTH_MAX deep. On failure writes the reason to err. */
bool pbcheck(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
    size_t len, char *err, size_t errlen);

#endif
