/* SPDX-License-Identifier: ISC */
/* utf8.h: UTF-8 validation; protobuf-c does not check strings itself. */
#ifndef OBJD_UTF8_H
#define OBJD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF) and holds no NUL byte. */
bool utf8_valid(const char *s, size_t len);

#endif
