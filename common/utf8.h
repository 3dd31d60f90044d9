/* SPDX-License-Identifier: ISC */
/* utf8.h: UTF-8 validation; protobuf-c does not check strings itself. */
#ifndef OBJD_UTF8_H
#define OBJD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF) and holds no NUL byte. */
bool utf8_valid(const char *s, size_t len);
/* How much of s[0..len) is whole characters: len, less a character at
 * the end whose last bytes are still to come. Bytes arriving in pieces
 * are checked with utf8_valid up to there, and from there on with the
 * next piece, with the result of checking them all at once. */
size_t utf8_whole(const char *s, size_t len);

#endif
