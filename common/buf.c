/* SPDX-License-Identifier: ISC */
/* buf.c: a growable byte buffer. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "framing.h"
#include "xmalloc.h"

void
buf_reserve(struct buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return;
	while (b->len + more > b->cap)
		b->cap = b->cap ? b->cap * 2 : 4096;
	b->data = xrealloc(b->data, b->cap);
}

void
buf_release(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void
buf_put(struct buf *b, const void *p, size_t len)
{
	buf_reserve(b, len);
	memcpy(b->data + b->len, p, len);
	b->len += len;
}

void
buf_put_varint(struct buf *b, uint64_t v)
{
	buf_reserve(b, VARINT_MAX_LEN);
	b->len += varint_encode(b->data + b->len, v);
}

void
buf_put_text(struct buf *b, const char *s, size_t len)
{
	buf_reserve(b, len + 1);
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

char *
buf_take_text(struct buf *b)
{
	char *p = b->data != NULL ? (char *)b->data : xstrdup("");

	memset(b, 0, sizeof(*b));
	return p;
}
