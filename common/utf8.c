/* SPDX-License-Identifier: ISC */
/* utf8.c: a strict UTF-8 checker (RFC 3629). */
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "utf8.h"

#define UTF8_ONES 0x0101010101010101ULL
#define UTF8_HIGHS 0x8080808080808080ULL

/* Whether the eight bytes of w are all ASCII and none is NUL. */
static bool
utf8_plain_word(uint64_t w)
{
	return ((w | ((w - UTF8_ONES) & ~w)) & UTF8_HIGHS) == 0;
}

#if defined(__SSE2__)
#define UTF8_BLOCK 64

/* Whether the 64 bytes at s are all ASCII and none is NUL: a byte is
 * both when it is above 0 as a signed byte. SSE2 is in every x86-64:
 * four compares and a mask a step take far fewer instructions a byte
 * than the portable words below, and a large string value is checked
 * on every set of it. */
static bool
utf8_plain_block(const uint8_t *s)
{
	const __m128i zero = _mm_setzero_si128();
	__m128i a = _mm_loadu_si128((const __m128i *)(const void *)s);
	__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + 16));
	__m128i c = _mm_loadu_si128((const __m128i *)(const void *)(s + 32));
	__m128i d = _mm_loadu_si128((const __m128i *)(const void *)(s + 48));
	__m128i ok = _mm_and_si128(
	    _mm_and_si128(_mm_cmpgt_epi8(a, zero), _mm_cmpgt_epi8(b, zero)),
	    _mm_and_si128(_mm_cmpgt_epi8(c, zero), _mm_cmpgt_epi8(d, zero)));

	return _mm_movemask_epi8(ok) == 0xffff;
}
#else
#define UTF8_BLOCK 32

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
#endif

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

		/* Keys and text are mostly ASCII: a block a step, then
		 * eight bytes. */
		while (len - i >= UTF8_BLOCK && utf8_plain_block(s + i))
			i += UTF8_BLOCK;
		while (len - i >= sizeof(w)) {
			memcpy(&w, s + i, sizeof(w));
			if (!utf8_plain_word(w))
				break;
			i += sizeof(w);
		}
		/* The last few ASCII bytes, or those before a sequence: a
		 * short key or value is mostly these. 1 to 0x7f, not NUL. */
		while (i < len && (uint8_t)(s[i] - 1) < 0x7f)
			i++;
		if (i == len)
			break;
		c = s[i];
		if (c == 0)
			return false;
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

size_t
utf8_whole(const char *str, size_t len)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t need;

	/* Back over the continuation bytes at the end, to the byte that
	 * began their character. */
	for (size_t k = 1; k <= len && k <= 4; k++) {
		uint8_t c = s[len - k];

		if ((c & 0xc0) == 0x80)
			continue;
		need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
		return need > k ? len - k : len;
	}
	return len;
}
