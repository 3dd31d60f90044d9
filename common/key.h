/* SPDX-License-Identifier: ISC */
/* key.h: what a key may be. */
#ifndef OBJD_KEY_H
#define OBJD_KEY_H

#include <stdbool.h>
#include <stddef.h>

/* The longest key accepted, in bytes. */
#define KEY_MAX_LEN 4096

/* True if key[0..len) is a valid key: non-empty, at most KEY_MAX_LEN
 * bytes, UTF-8 without NUL. Otherwise writes why to err. */
bool key_valid(const char *key, size_t len, char *err, size_t errlen);

#endif
