/* SPDX-License-Identifier: ISC */
/* framing.h: the wire's framing, shared by objd, libobjd and objctl.
 *
 * A frame is a protobuf message preceded by its length as a base-128
 * varint: protobuf's standard "delimited" form. */
#ifndef OBJD_FRAMING_H
#define OBJD_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* The largest frame body accepted by default: 64 MiB. */
#define FRAME_MAX_DEFAULT ((size_t)64 << 20)
/* A varint never takes more than this many bytes. */
#define VARINT_MAX_LEN 10

enum frame_status {
	FRAME_OK,        /* a whole header was parsed */
	FRAME_SHORT,     /* more bytes are needed to tell */
	FRAME_TOO_LARGE, /* the announced length is over the maximum */
	FRAME_BAD        /* the length prefix is not a valid varint */
};

/* Writes v as a varint into out; returns the number of bytes used. */
size_t varint_encode(uint8_t out[VARINT_MAX_LEN], uint64_t v);
/* How many bytes varint_encode writes for v. */
size_t varint_size(uint64_t v);
/* varint_decode for varints of two bytes or more. */
int varint_decode_long(const uint8_t *buf, size_t len, uint64_t *v);
/* Reads a varint from buf[0..len). Returns the bytes used, 0 if buf ends
 * before the varint does, or -1 if it is longer than ten bytes or
 * overflows 64 bits. Inline for the one-byte varints that most tags,
 * lengths and ids are: objd decodes several per request. */
static inline int
varint_decode(const uint8_t *buf, size_t len, uint64_t *v)
{
	if (len > 0 && buf[0] < 0x80) {
		*v = buf[0];
		return 1;
	}
	return varint_decode_long(buf, len, v);
}

/* Parses the length prefix at buf[0..len). On FRAME_OK sets *header_len
 * and *body_len, which is at most max. */
enum frame_status frame_parse_header(const uint8_t *buf, size_t len, size_t max,
    size_t *header_len, size_t *body_len);
/* Returns a human reading of a frame_status. */
const char *frame_status_str(enum frame_status status);

/* Packs msg as a whole frame into a new buffer; sets *len. */
uint8_t *frame_pack(const ProtobufCMessage *msg, size_t *len);

#endif
