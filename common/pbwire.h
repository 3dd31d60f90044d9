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
 * fails the test instead of the wire. Add a row, not a literal. The
 * object file's code (common/objformat.c, server/objfile*.c) walks and
 * writes the file field by field too, from PBWIRE_FILE_FIELDS and
 * PBWIRE_UNDECLARED.
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
#define PBWIRE_WIRE_UINT32 PB_WIRE_VARINT
#define PBWIRE_WIRE_INT64 PB_WIRE_VARINT
#define PBWIRE_WIRE_SINT64 PB_WIRE_VARINT
#define PBWIRE_WIRE_BOOL PB_WIRE_VARINT
#define PBWIRE_WIRE_ENUM PB_WIRE_VARINT
#define PBWIRE_WIRE_DOUBLE PB_WIRE_FIXED64
#define PBWIRE_WIRE_FIXED32 PB_WIRE_FIXED32
#define PBWIRE_WIRE_STRING PB_WIRE_LEN
#define PBWIRE_WIRE_BYTES PB_WIRE_LEN
#define PBWIRE_WIRE_MESSAGE PB_WIRE_LEN
/* A repeated scalar, which proto3 packs: one length-delimited field. */
#define PBWIRE_WIRE_PACKED_UINT64 PB_WIRE_LEN
#define PBWIRE_WIRE_PACKED_INT64 PB_WIRE_LEN

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
	X(REQUEST_STAGE, objd__request__descriptor, "stage", 12, MESSAGE)      \
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

/* The same, for the object file (its layout is objd-file(5)); its code
 * reads each field's number and wire type as pb_tag() and compares that
 * with the row's tag. Object's history (16) and history_times (17) have
 * two-byte tags, written as varints; the encoders write the others as
 * one byte, and the walk compares a commit record's tags byte by byte
 * where it looks for one in damage. */
#define PBWIRE_FILE_FIELDS(X)                                                  \
	X(OBJECT_HEADER, objd__object__descriptor, "header", 1, MESSAGE)       \
	X(OBJECT_ENTRIES, objd__object__descriptor, "entries", 2, MESSAGE)     \
	X(OBJECT_DEFLATED, objd__object__descriptor, "deflated_entries", 3,    \
	    BYTES)                                                             \
	X(OBJECT_PADDING, objd__object__descriptor, "padding", 14, BYTES)      \
	X(OBJECT_COMMITS, objd__object__descriptor, "commits", 15, MESSAGE)    \
	X(OBJECT_HISTORY, objd__object__descriptor, "history", 16, MESSAGE)    \
	X(OBJECT_TIMES, objd__object__descriptor, "history_times", 17,         \
	    MESSAGE)                                                           \
	X(OBJECT_ENTRY_KEY, objd__object__entries_entry__descriptor, "key", 1, \
	    STRING)                                                            \
	X(OBJECT_ENTRY_VALUE, objd__object__entries_entry__descriptor,         \
	    "value", 2, MESSAGE)                                               \
	X(VALUE_TOMBSTONE, objd__value__descriptor, "tombstone", 9, MESSAGE)   \
	X(COMMIT_REVISION, objd__commit__descriptor, "revision", 1, UINT64)    \
	X(COMMIT_CRC32, objd__commit__descriptor, "crc32", 2, FIXED32)         \
	X(COMMIT_N_ENTRIES, objd__commit__descriptor, "n_entries", 3, UINT32)  \
	X(RECORD_KEY, objd__history_record__descriptor, "key", 1, STRING)      \
	X(RECORD_VERSIONS, objd__history_record__descriptor, "versions", 2,    \
	    MESSAGE)                                                           \
	X(RECORD_TIME, objd__history_record__descriptor, "time", 3, INT64)     \
	X(RECORD_TRUNCATED, objd__history_record__descriptor, "truncated", 4,  \
	    BOOL)                                                              \
	X(RECORD_EXPIRE, objd__history_record__descriptor, "expire", 5, BOOL)  \
	X(TIMES_KNOWN_SINCE, objd__history_times__descriptor, "known_since",   \
	    1, UINT64)                                                         \
	X(TIMES_REVISIONS, objd__history_times__descriptor, "revisions", 2,    \
	    PACKED_UINT64)                                                     \
	X(TIMES_TIMES, objd__history_times__descriptor, "times", 3,            \
	    PACKED_INT64)

/* X(NAME, message's descriptor, field number, protobuf type): the fields
 * the object file's map entries carry that objd.proto only describes in
 * a comment: a map<> entry declares key and value alone, and turning
 * Object.entries into a repeated message to declare them would take
 * their map from every other reader (and change protobuf-c's types).
 * Runtimes skip them as unknown; check_pbwire holds that the schema
 * leaves their numbers free, so that stays true. */
#define PBWIRE_UNDECLARED(X)                                                   \
	X(OBJECT_ENTRY_REVISION, objd__object__entries_entry__descriptor, 3,   \
	    UINT64)                                                            \
	X(OBJECT_ENTRY_DEADLINE, objd__object__entries_entry__descriptor, 4,   \
	    UINT64)                                                            \
	X(OBJECT_ENTRY_HOLDER, objd__object__entries_entry__descriptor, 5,     \
	    UINT64)

#define PBWIRE_CONSTANTS(name, descriptor, field, number, type)                \
	PBW_##name = (number),                                                 \
	PBW_##name##_TAG = ((number) << 3 | PBWIRE_WIRE_##type),
#define PBWIRE_UNDECLARED_CONSTANTS(name, descriptor, number, type)            \
	PBWIRE_CONSTANTS(name, descriptor, "", number, type)
enum {
	PBWIRE_FIELDS(PBWIRE_CONSTANTS) PBWIRE_FILE_FIELDS(PBWIRE_CONSTANTS)
	    PBWIRE_UNDECLARED(PBWIRE_UNDECLARED_CONSTANTS)
};
#undef PBWIRE_UNDECLARED_CONSTANTS
#undef PBWIRE_CONSTANTS

/* The tag of a field that objfile_read_field split into its number and
 * wire type, to compare with a PBW_NAME_TAG: both at once. */
static inline uint64_t
pb_tag(uint32_t number, unsigned wire)
{
	return (uint64_t)number << 3 | wire;
}

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
