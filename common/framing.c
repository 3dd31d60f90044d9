/* SPDX-License-Identifier: ISC */
/* framing.c: varint-delimited frames. */
#include <string.h>

#include "framing.h"
#include "xmalloc.h"

size_t
varint_encode(uint8_t out[VARINT_MAX_LEN], uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

size_t
varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

int
varint_decode_long(const uint8_t *buf, size_t len, uint64_t *v)
{
	uint64_t result = 0;
	size_t i;

	for (i = 0; i < len && i < VARINT_MAX_LEN; i++) {
		uint64_t bits = buf[i] & 0x7f;

		/* The tenth byte may only carry the 64th bit. */
		if (i == VARINT_MAX_LEN - 1 && bits > 1)
			return -1;
		result |= bits << (7 * i);
		if ((buf[i] & 0x80) == 0) {
			*v = result;
			return (int)(i + 1);
		}
	}
	return i == VARINT_MAX_LEN ? -1 : 0;
}

enum frame_status
frame_parse_header(const uint8_t *buf, size_t len, size_t max,
    size_t *header_len, size_t *body_len)
{
	uint64_t n;
	int used;

	used = varint_decode(buf, len, &n);
	if (used < 0)
		return FRAME_BAD;
	if (used == 0) {
		/* Later bytes only add to the bits already here: refuse a
		 * huge length as soon as they show it. Counting the bytes
		 * instead would refuse a padded small length (80 80 80 00)
		 * or not depending on how it was split. len < 10 here. */
		n = 0;
		for (size_t i = 0; i < len; i++)
			n |= (uint64_t)(buf[i] & 0x7f) << (7 * i);
		return n > max ? FRAME_TOO_LARGE : FRAME_SHORT;
	}
	if (n > max)
		return FRAME_TOO_LARGE;
	*header_len = (size_t)used;
	*body_len = (size_t)n;
	return FRAME_OK;
}

const char *
frame_status_str(enum frame_status status)
{
	switch (status) {
	case FRAME_OK:
		return "ok";
	case FRAME_SHORT:
		return "frame cut short";
	case FRAME_TOO_LARGE:
		return "frame larger than the limit";
	case FRAME_BAD:
		return "malformed frame length";
	}
	return "unknown frame status";
}

uint8_t *
frame_pack(const ProtobufCMessage *msg, size_t *len)
{
	size_t body = protobuf_c_message_get_packed_size(msg);
	uint8_t prefix[VARINT_MAX_LEN];
	size_t plen = varint_encode(prefix, body);
	uint8_t *out = xmalloc(plen + body);

	memcpy(out, prefix, plen);
	protobuf_c_message_pack(msg, out + plen);
	*len = plen + body;
	return out;
}
