/* SPDX-License-Identifier: ISC */
/* buf.h: a growable byte buffer, the one objd's code appends to (the
 * object file's encoders, JSON text). */
#ifndef OBJD_BUF_H
#define OBJD_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len, cap;
};
/* Makes room for more bytes after len. */
void buf_reserve(struct buf *b, size_t more);
/* Frees the bytes: a buffer that grew for a burst must not hold its
 * peak for ever. */
void buf_release(struct buf *b);
void buf_put(struct buf *b, const void *p, size_t len);
void buf_put_varint(struct buf *b, uint64_t v);
/* Text: appends s (len bytes), keeping the bytes NUL-terminated. */
void buf_put_text(struct buf *b, const char *s, size_t len);
/* The text, never NULL (an empty one if nothing was put); b is left
 * empty, the caller frees it. */
char *buf_take_text(struct buf *b);

#endif
