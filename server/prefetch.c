/* SPDX-License-Identifier: ISC */
/* prefetch.c: a pipelined client's keys, touched ahead.
 *
 * A look-up in a large store waits twice on memory: for its slot, then
 * for its entry. A client that sends sixteen requests at once has them
 * all in its input before the first is handled, so their slots are
 * fetched together, then their entries, and the requests then find both
 * in the cache instead of waiting thirty-two times in a row.
 *
 * Only a hint: the requests are read here just far enough to find their
 * first key, as every encoder lays them out; anything else is skipped,
 * and it is the real decoding later that checks them.
 *
 * Many clients with one request each are the same case spread over
 * connections: conn-input.c reads them all before it handles any, and fetches
 * their keys together the same way. */
#include <string.h>

#include "framing.h"
#include "objd.h"
#include "pbwire.h"

/* At most this many keys ahead: as many as the cache takes at once. */
#define PREFETCH_MAX 32

/* If the field at *p is field `tag`, length-delimited, narrows *p and
 * *len to its bytes. */
static bool
prefetch_enter(const uint8_t **p, size_t *len, uint8_t tag)
{
	uint64_t n;
	int used;

	if (*len < 2 || (*p)[0] != tag)
		return false;
	used = varint_decode(*p + 1, *len - 1, &n);
	if (used <= 0 || n > *len - 1 - (size_t)used)
		return false;
	*p += 1 + used;
	*len = (size_t)n;
	return true;
}

bool
prefetch_first_key(const uint8_t *p, size_t len, const char **key,
    size_t *keylen)
{
	uint64_t id;
	int used;

	if (len > 1 && p[0] == PBW_REQUEST_ID_TAG) {
		if ((used = varint_decode(p + 1, len - 1, &id)) <= 0)
			return false;
		p += 1 + used;
		len -= 1 + (size_t)used;
	}
	if (len == 0)
		return false;
	switch (p[0]) {
	case PBW_REQUEST_GET_TAG:
		if (!prefetch_enter(&p, &len, PBW_REQUEST_GET_TAG) ||
		    !prefetch_enter(&p, &len, PBW_GET_KEYS_TAG))
			return false;
		break;
	case PBW_REQUEST_DELETE_TAG:
		if (!prefetch_enter(&p, &len, PBW_REQUEST_DELETE_TAG) ||
		    !prefetch_enter(&p, &len, PBW_DELETE_KEYS_TAG))
			return false;
		break;
	case PBW_REQUEST_SET_TAG:
		if (!prefetch_enter(&p, &len, PBW_REQUEST_SET_TAG) ||
		    !prefetch_enter(&p, &len, PBW_SET_ENTRIES_TAG) ||
		    !prefetch_enter(&p, &len, PBW_ENTRY_KEY_TAG))
			return false;
		break;
	default:
		return false;
	}
	if (len == 0 || memchr(p, '.', len) != NULL ||
	    memchr(p, '\\', len) != NULL)
		return false;
	*key = (const char *)p;
	*keylen = len;
	return true;
}

bool
prefetch_frame_slot(const struct store *s, const uint8_t *buf, size_t len,
    size_t frame_max, uint64_t *hash)
{
	size_t header_len, body_len, keylen;
	const char *key;

	if (frame_parse_header(buf, len, frame_max, &header_len, &body_len) !=
	        FRAME_OK ||
	    header_len + body_len > len ||
	    !prefetch_first_key(buf + header_len, body_len, &key, &keylen))
		return false;
	*hash = store_prefetch_slot(s, key, keylen);
	return true;
}

void
prefetch_frames(const struct store *s, const uint8_t *buf, size_t len,
    size_t frame_max)
{
	uint64_t hashes[PREFETCH_MAX];
	size_t n = 0, header_len, body_len, keylen;
	const char *key;

	while (n < PREFETCH_MAX &&
	    frame_parse_header(buf, len, frame_max, &header_len, &body_len) ==
	        FRAME_OK &&
	    header_len + body_len <= len) {
		/* A lone request would only pay for it. */
		if (n == 0 && header_len + body_len == len)
			return;
		if (prefetch_first_key(buf + header_len, body_len, &key,
		        &keylen))
			hashes[n++] = store_prefetch_slot(s, key, keylen);
		buf += header_len + body_len;
		len -= header_len + body_len;
	}
	for (size_t i = 0; i < n; i++)
		store_prefetch_entry(s, hashes[i]);
}

/* How many keys ahead prefetch_step fetches slots; entries, half as far:
 * far enough that each has come by its turn, near enough that it has not
 * gone again. */
#define PREFETCH_STEP_AHEAD 16

void
prefetch_step(struct prefetch_ring *r, size_t i, size_t n,
    prefetch_key_fn key_at, const void *items)
{
	size_t first = i == 0 ? 0 : i + PREFETCH_STEP_AHEAD - 1;
	size_t last = i + PREFETCH_STEP_AHEAD - 1, keylen;
	const char *key;

	for (size_t j = first; j <= last && j < n; j++)
		if ((key = key_at(items, j, &keylen)) != NULL)
			r->hashes[j % PREFETCH_RING] =
			    store_prefetch_slot(r->store, key, keylen);
		else
			r->hashes[j % PREFETCH_RING] = PREFETCH_NONE;
	if (i + PREFETCH_STEP_AHEAD / 2 < n &&
	    r->hashes[(i + PREFETCH_STEP_AHEAD / 2) % PREFETCH_RING] !=
	        PREFETCH_NONE)
		store_prefetch_entry(r->store,
		    r->hashes[(i + PREFETCH_STEP_AHEAD / 2) % PREFETCH_RING]);
}
