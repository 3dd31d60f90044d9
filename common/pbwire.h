/* SPDX-License-Identifier: ISC */
/* pbwire.h: the protobuf wire constants of the code that encodes and
 * decodes objd's messages by hand, in one place.
 *
 * The hot paths (server/request-decode.c, server/reply-pack.c,
 * server/prefetch.c, common/value.c, objd-bench's templates) skip
 * protobuf-c because walking its descriptors costs more than the work.
 * They still speak proto/objd.proto, so every field number and wire type
 * they use is a row of PBWIRE_FIELDS below, and
 * tests/unit/check_pbwire.c checks each row against protobuf-c's
 * generated descriptor: a schema change that a fast path does not follow
 * fails the test instead of the wire. Add a row, not a literal.
 *
 * The varint itself is in framing.h (varint_encode, varint_decode,
 * varint_size), shared with the frame's length prefix. */
#ifndef OBJD_PBWIRE_H
#define OBJD_PBWIRE_H

#include <stdint.h>

/* The wire types of protobuf's encoding. */
enum pb_wire {
	PB_WIRE_VARINT = 0,
	PB_WIRE_FIXED64 = 1,
	PB_WIRE_LEN = 2,
	PB_WIRE_FIXED32 = 5,
};

/* The wire type of each protobuf type the rows below name. */
#define PBWIRE_WIRE_UINT64 PB_WIRE_VARINT
#define PBWIRE_WIRE_INT64 PB_WIRE_VARINT
#define PBWIRE_WIRE_SINT64 PB_WIRE_VARINT
#define PBWIRE_WIRE_BOOL PB_WIRE_VARINT
#define PBWIRE_WIRE_ENUM PB_WIRE_VARINT
#define PBWIRE_WIRE_DOUBLE PB_WIRE_FIXED64
#define PBWIRE_WIRE_STRING PB_WIRE_LEN
#define PBWIRE_WIRE_BYTES PB_WIRE_LEN
#define PBWIRE_WIRE_MESSAGE PB_WIRE_LEN

/* protobuf-c reads a length prefix in at most five bytes. */
#define PB_LEN_BYTES_MAX 5

/* X(NAME, message's descriptor, field's name in objd.proto, field
 * number, protobuf type): one field of objd.proto that hand-written code
 * reads or writes. Each gives PBW_NAME, the field number, and
 * PBW_NAME_TAG, its tag (field number and wire type) as the one byte the
 * fast paths compare and write: every number here is below 16. */
#define PBWIRE_FIELDS(X)                                                       \
	X(REQUEST_ID, objd__request__descriptor, "id", 1, UINT64)              \
	X(REQUEST_GET, objd__request__descriptor, "get", 2, MESSAGE)           \
	X(REQUEST_SET, objd__request__descriptor, "set", 3, MESSAGE)           \
	X(REQUEST_DELETE, objd__request__descriptor, "delete", 4, MESSAGE)     \
	X(REQUEST_PING, objd__request__descriptor, "ping", 6, MESSAGE)         \
	X(REQUEST_BATCH, objd__request__descriptor, "batch", 10, MESSAGE)      \
	X(GET_KEYS, objd__get__descriptor, "keys", 1, STRING)                  \
	X(DELETE_KEYS, objd__delete__descriptor, "keys", 1, STRING)            \
	X(SET_ENTRIES, objd__set__descriptor, "entries", 1, MESSAGE)           \
	X(BATCH_OPERATIONS, objd__batch__descriptor, "operations", 1, MESSAGE) \
	X(BATCH_REPLACE, objd__batch__descriptor, "replace", 3, BOOL)          \
	X(OPERATION_SET, objd__operation__descriptor, "set", 1, MESSAGE)       \
	X(OPERATION_DELETE, objd__operation__descriptor, "delete", 2, STRING)  \
	X(ENTRY_KEY, objd__entry__descriptor, "key", 1, STRING)                \
	X(ENTRY_VALUE, objd__entry__descriptor, "value", 2, MESSAGE)           \
	X(ENTRY_REVISION, objd__entry__descriptor, "revision", 3, UINT64)      \
	X(ENTRY_TTL_MS, objd__entry__descriptor, "ttl_ms", 4, UINT64)          \
	X(VALUE_NULL, objd__value__descriptor, "null_value", 1, ENUM)          \
	X(VALUE_BOOL, objd__value__descriptor, "bool_value", 2, BOOL)          \
	X(VALUE_INT, objd__value__descriptor, "int_value", 3, SINT64)          \
	X(VALUE_DOUBLE, objd__value__descriptor, "double_value", 4, DOUBLE)    \
	X(VALUE_STRING, objd__value__descriptor, "string_value", 5, STRING)    \
	X(VALUE_BYTES, objd__value__descriptor, "bytes_value", 6, BYTES)       \
	X(RESPONSE_ID, objd__response__descriptor, "id", 1, UINT64)            \
	X(RESPONSE_STATUS, objd__response__descriptor, "status", 2, ENUM)      \
	X(RESPONSE_ERROR, objd__response__descriptor, "error", 3, STRING)      \
	X(RESPONSE_REVISION, objd__response__descriptor, "revision", 4,        \
	    UINT64)                                                            \
	X(RESPONSE_ENTRIES, objd__response__descriptor, "entries", 5, MESSAGE) \
	X(RESPONSE_EVENTS, objd__response__descriptor, "events", 8, MESSAGE)   \
	X(RESPONSE_VERSIONS, objd__response__descriptor, "versions", 9,        \
	    MESSAGE)                                                           \
	X(EVENT_TYPE, objd__event__descriptor, "type", 1, ENUM)                \
	X(EVENT_REVISION, objd__event__descriptor, "revision", 2, UINT64)      \
	X(EVENT_KEY, objd__event__descriptor, "key", 3, STRING)                \
	X(EVENT_VALUE, objd__event__descriptor, "value", 4, MESSAGE)           \
	X(VERSION_REVISION, objd__version__descriptor, "revision", 1, UINT64)  \
	X(VERSION_TIME, objd__version__descriptor, "time", 2, INT64)           \
	X(VERSION_WHAT, objd__version__descriptor, "what", 3, ENUM)            \
	X(VERSION_VALUE, objd__version__descriptor, "value", 4, MESSAGE)

#define PBWIRE_CONSTANTS(name, descriptor, field, number, type)                \
	PBW_##name = (number),                                                 \
	PBW_##name##_TAG = ((number) << 3 | PBWIRE_WIRE_##type),
enum { PBWIRE_FIELDS(PBWIRE_CONSTANTS) };
#undef PBWIRE_CONSTANTS

/* sint64's zigzag: small magnitudes, either sign, in few varint bytes. */
static inline uint64_t
pb_zigzag_encode(int64_t v)
{
	return v < 0 ? ~((uint64_t)v << 1) : (uint64_t)v << 1;
}

static inline int64_t
pb_zigzag_decode(uint64_t n)
{
	return (int64_t)(n >> 1) ^ -(int64_t)(n & 1);
}

#endif /* OBJD_PBWIRE_H */
