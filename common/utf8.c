/* SPDX-License-Identifier: ISC */
/* utf8.c: a strict UTF-8 checker (RFC 3629). */
#include <stdint.h>
#include <string.h>

#include "utf8.h"

#define UTF8_ONES 0x0101010101010101ULL
#define UTF8_HIGHS 0x8080808080808080ULL

/* Whether the eight bytes of w are all ASCII and none is NUL. */
static bool
utf8_plain_word(uint64_t w)
{
	return ((w | ((w - UTF8_ONES) & ~w)) & UTF8_HIGHS) == 0;
}

/* Whether the 32 bytes at s are all ASCII and none is NUL: four words
 * at once, which compilers turn into vector instructions. A large value
 * is checked at several bytes a cycle, not one word a few cycles. */
static bool
utf8_plain_block(const uint8_t *s)
{
	uint64_t w[4], any = 0;

	memcpy(w, s, sizeof(w));
	for (size_t k = 0; k < 4; k++)
		any |= w[k] | ((w[k] - UTF8_ONES) & ~w[k]);
	return (any & UTF8_HIGHS) == 0;
}

bool
utf8_valid(const char *str, size_t len)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t i = 0;

	while (i < len) {
		uint8_t c;
		uint8_t lo = 0x80, hi = 0xbf;
		size_t need;
		uint64_t w;

		/* Keys and text are mostly ASCII: 32 bytes a step, then
		 * eight. */
		while (len - i >= 32 && utf8_plain_block(s + i))
			i += 32;
		while (len - i >= sizeof(w)) {
			memcpy(&w, s + i, sizeof(w));
			if (!utf8_plain_word(w))
				break;
			i += sizeof(w);
		}
		if (i == len)
			break;
		c = s[i];
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0; /* overlong */
			else if (c == 0xed)
				hi = 0x9f; /* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90; /* overlong */
			else if (c == 0xf4)
				hi = 0x8f; /* above U+10FFFF */
		} else
			return false;
		if (len - i - 1 < need)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= need; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += need + 1;
	}
	return true;
}
