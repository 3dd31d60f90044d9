/* SPDX-License-Identifier: ISC */
/* check_pbwire.c: unit tests of common/pbwire.h.
 *
 * Every row of PBWIRE_FIELDS and PBWIRE_FILE_FIELDS is held to
 * protobuf-c's generated descriptors of proto/objd.proto: the field
 * exists under that name, has that number and that type, and the tag the
 * fast paths and the object file's code write is that number with the
 * wire type protobuf gives the type. Every row of PBWIRE_UNDECLARED is
 * held to a number its message leaves free. The rows come from the same
 * lists the constants do, so no constant goes unchecked. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "objd.pb-c.h"
#include "objformat.h"
#include "pbwire.h"

/* A packed repeated scalar is, to protobuf-c, a repeated field of the
 * scalar's type with the packed flag: wire_of() below gives it its wire
 * type from the flag, apart from pbwire.h's PBWIRE_WIRE_PACKED_*. */
#define PROTOBUF_C_TYPE_PACKED_UINT64 PROTOBUF_C_TYPE_UINT64
#define PROTOBUF_C_TYPE_PACKED_INT64 PROTOBUF_C_TYPE_INT64

struct row {
	const char *constant;
	const ProtobufCMessageDescriptor *message;
	const char *field;
	unsigned number; /* PBW_NAME */
	unsigned tag;    /* PBW_NAME_TAG */
	ProtobufCType type;
	bool one_byte; /* a wire row: its tag is compared as one byte */
};

#define PBWIRE_ROW(name, descriptor, field, number, type)                      \
	{ "PBW_" #name, &descriptor, field, PBW_##name, PBW_##name##_TAG,      \
		PROTOBUF_C_TYPE_##type, true },
#define PBWIRE_FILE_ROW(name, descriptor, field, number, type)                 \
	{ "PBW_" #name, &descriptor, field, PBW_##name, PBW_##name##_TAG,      \
		PROTOBUF_C_TYPE_##type, false },
static const struct row rows[] = { PBWIRE_FIELDS(PBWIRE_ROW)
	    PBWIRE_FILE_FIELDS(PBWIRE_FILE_ROW) };
#undef PBWIRE_FILE_ROW
#undef PBWIRE_ROW

/* A number the schema does not declare, and the wire type the file's
 * code writes it with. */
struct undeclared {
	const char *constant;
	const ProtobufCMessageDescriptor *message;
	unsigned number;
	unsigned tag;
	unsigned wire;
};

#define PBWIRE_UNDECLARED_ROW(name, descriptor, number, type)                  \
	{ "PBW_" #name, &descriptor, PBW_##name, PBW_##name##_TAG,             \
		PBWIRE_WIRE_##type },
static const struct undeclared undeclared[] = { PBWIRE_UNDECLARED(
    PBWIRE_UNDECLARED_ROW) };
#undef PBWIRE_UNDECLARED_ROW

/* The wire type protobuf encodes a field of descriptor f with; worked
 * out here from the protobuf type, apart from pbwire.h's own list. */
static unsigned
wire_of(const ProtobufCFieldDescriptor *f)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED &&
	    (f->flags & PROTOBUF_C_FIELD_FLAG_PACKED))
		return 2;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_BOOL:
	case PROTOBUF_C_TYPE_ENUM:
		return 0;
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 1;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return 2;
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return 5;
	}
	ck_abort_msg("field %s: protobuf type %d unknown", f->name, f->type);
	return 8;
}

START_TEST(test_row_matches_schema)
{
	const struct row *r = &rows[_i];
	const ProtobufCFieldDescriptor *f, *byno;

	f = protobuf_c_message_descriptor_get_field_by_name(r->message,
	    r->field);
	ck_assert_msg(f != NULL, "%s: %s has no field %s", r->constant,
	    r->message->name, r->field);
	ck_assert_msg(f->id == r->number,
	    "%s is %u, but %s.%s is field %u in objd.proto", r->constant,
	    r->number, r->message->name, r->field, f->id);
	ck_assert_msg(f->type == r->type,
	    "%s: %s.%s has protobuf type %d, pbwire.h says %d", r->constant,
	    r->message->name, r->field, f->type, r->type);
	byno = protobuf_c_message_descriptor_get_field(r->message, r->number);
	ck_assert_ptr_eq(byno, f);
	ck_assert_msg(r->tag == (f->id << 3 | wire_of(f)),
	    "%s_TAG is 0x%02x, but %s.%s is sent as 0x%02x", r->constant,
	    r->tag, r->message->name, r->field, f->id << 3 | wire_of(f));
	/* The fast paths compare and write a tag as one byte. */
	if (r->one_byte)
		ck_assert_msg(r->tag < 0x80, "%s_TAG takes more than one byte",
		    r->constant);
}
END_TEST

/* The object file's map entries carry a revision and a lease under
 * numbers objd.proto leaves free: taken by a new field, they would be
 * read as that field by every other reader. */
START_TEST(test_undeclared_free)
{
	const struct undeclared *u = &undeclared[_i];

	ck_assert_msg(protobuf_c_message_descriptor_get_field(u->message,
	                  u->number) == NULL,
	    "%s is %u, but %s declares field %u", u->constant, u->number,
	    u->message->name, u->number);
	ck_assert_uint_eq(u->tag, u->number << 3 | u->wire);
	ck_assert_uint_lt(u->tag, 0x80);
}
END_TEST

/* The first byte protobuf-c packs m into, m holding one field only, is
 * that field's tag. */
static void
assert_first_byte(const ProtobufCMessage *m, unsigned tag)
{
	uint8_t buf[64];
	size_t n;

	ck_assert_uint_le(protobuf_c_message_get_packed_size(m), sizeof(buf));
	n = protobuf_c_message_pack(m, buf);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_eq(buf[0], tag);
}

START_TEST(test_packed_tags)
{
	Objd__Value v = OBJD__VALUE__INIT;
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Get get = OBJD__GET__INIT;
	Objd__Response resp = OBJD__RESPONSE__INIT;

	v.kind_case = OBJD__VALUE__KIND_DOUBLE_VALUE;
	v.double_value = 1.5;
	assert_first_byte(&v.base, PBW_VALUE_DOUBLE_TAG);
	v.kind_case = OBJD__VALUE__KIND_INT_VALUE;
	v.int_value = -3;
	assert_first_byte(&v.base, PBW_VALUE_INT_TAG);
	v.kind_case = OBJD__VALUE__KIND_STRING_VALUE;
	v.string_value = "x";
	assert_first_byte(&v.base, PBW_VALUE_STRING_TAG);
	req.id = 7;
	assert_first_byte(&req.base, PBW_REQUEST_ID_TAG);
	req.id = 0;
	req.op_case = OBJD__REQUEST__OP_GET;
	req.get = &get;
	assert_first_byte(&req.base, PBW_REQUEST_GET_TAG);
	resp.status = OBJD__STATUS__DENIED;
	assert_first_byte(&resp.base, PBW_RESPONSE_STATUS_TAG);
}
END_TEST

/* The tag protobuf-c packs m with first, m holding one field only, as
 * a varint: the object file's tags of fields 16 and 17 take two bytes. */
static void
assert_first_tag(const ProtobufCMessage *m, unsigned tag)
{
	uint8_t buf[64];
	uint64_t first;
	size_t n;

	ck_assert_uint_le(protobuf_c_message_get_packed_size(m), sizeof(buf));
	n = protobuf_c_message_pack(m, buf);
	ck_assert_int_gt(varint_decode(buf, n, &first), 0);
	ck_assert_uint_eq(first, tag);
}

START_TEST(test_file_packed_tags)
{
	Objd__Object obj = OBJD__OBJECT__INIT;
	Objd__FileHeader header = OBJD__FILE_HEADER__INIT;
	Objd__Object__EntriesEntry entry = OBJD__OBJECT__ENTRIES_ENTRY__INIT;
	Objd__Object__EntriesEntry *entries[] = { &entry };
	Objd__Commit commit = OBJD__COMMIT__INIT;
	Objd__Commit *commits[] = { &commit };
	Objd__HistoryRecord rec = OBJD__HISTORY_RECORD__INIT;
	Objd__HistoryRecord *recs[] = { &rec };
	Objd__HistoryTimes times = OBJD__HISTORY_TIMES__INIT;
	Objd__Version version = OBJD__VERSION__INIT;
	Objd__Version *versions[] = { &version };
	Objd__Value v = OBJD__VALUE__INIT;
	Objd__Tombstone tomb = OBJD__TOMBSTONE__INIT;
	uint8_t chunk[1] = { 0 };
	ProtobufCBinaryData bytes = { sizeof(chunk), chunk };
	uint64_t revs[] = { 5 };
	int64_t secs[] = { 7 };

	header.format = OBJFILE_FORMAT;
	obj.header = &header;
	assert_first_tag(&obj.base, PBW_OBJECT_HEADER_TAG);
	obj.header = NULL;
	entry.key = "k";
	obj.n_entries = 1;
	obj.entries = entries;
	assert_first_tag(&obj.base, PBW_OBJECT_ENTRIES_TAG);
	assert_first_tag(&entry.base, PBW_OBJECT_ENTRY_KEY_TAG);
	entry.key = "";
	entry.value = &v;
	v.kind_case = OBJD__VALUE__KIND_BOOL_VALUE;
	v.bool_value = true;
	assert_first_tag(&entry.base, PBW_OBJECT_ENTRY_VALUE_TAG);
	obj.n_entries = 0;
	obj.n_deflated_entries = 1;
	obj.deflated_entries = &bytes;
	assert_first_tag(&obj.base, PBW_OBJECT_DEFLATED_TAG);
	obj.n_deflated_entries = 0;
	obj.padding = bytes;
	assert_first_tag(&obj.base, PBW_OBJECT_PADDING_TAG);
	obj.padding.len = 0;
	obj.n_commits = 1;
	obj.commits = commits;
	assert_first_tag(&obj.base, PBW_OBJECT_COMMITS_TAG);
	obj.n_commits = 0;
	obj.n_history = 1;
	obj.history = recs;
	assert_first_tag(&obj.base, PBW_OBJECT_HISTORY_TAG);
	obj.n_history = 0;
	obj.history_times = &times;
	assert_first_tag(&obj.base, PBW_OBJECT_TIMES_TAG);

	commit.revision = 3;
	assert_first_tag(&commit.base, PBW_COMMIT_REVISION_TAG);
	commit.revision = 0;
	commit.crc32 = 0xdeadbeef;
	assert_first_tag(&commit.base, PBW_COMMIT_CRC32_TAG);
	commit.crc32 = 0;
	commit.n_entries = 2;
	assert_first_tag(&commit.base, PBW_COMMIT_N_ENTRIES_TAG);

	rec.key = "k";
	assert_first_tag(&rec.base, PBW_RECORD_KEY_TAG);
	rec.key = "";
	rec.n_versions = 1;
	rec.versions = versions;
	assert_first_tag(&rec.base, PBW_RECORD_VERSIONS_TAG);
	rec.n_versions = 0;
	rec.time = 1234;
	assert_first_tag(&rec.base, PBW_RECORD_TIME_TAG);
	rec.time = 0;
	rec.truncated = true;
	assert_first_tag(&rec.base, PBW_RECORD_TRUNCATED_TAG);
	rec.truncated = false;
	rec.expire = true;
	assert_first_tag(&rec.base, PBW_RECORD_EXPIRE_TAG);

	times.known_since = 9;
	assert_first_tag(&times.base, PBW_TIMES_KNOWN_SINCE_TAG);
	times.known_since = 0;
	times.n_revisions = 1;
	times.revisions = revs;
	assert_first_tag(&times.base, PBW_TIMES_REVISIONS_TAG);
	times.n_revisions = 0;
	times.n_times = 1;
	times.times = secs;
	assert_first_tag(&times.base, PBW_TIMES_TIMES_TAG);

	v.kind_case = OBJD__VALUE__KIND_TOMBSTONE;
	v.tombstone = &tomb;
	assert_first_tag(&v.base, PBW_VALUE_TOMBSTONE_TAG);
}
END_TEST

/* objfile_tombstone is the Value protobuf-c packs for a tombstone. */
START_TEST(test_tombstone_bytes)
{
	Objd__Value v = OBJD__VALUE__INIT;
	Objd__Tombstone tomb = OBJD__TOMBSTONE__INIT;
	uint8_t buf[8];

	v.kind_case = OBJD__VALUE__KIND_TOMBSTONE;
	v.tombstone = &tomb;
	ck_assert_uint_eq(objd__value__get_packed_size(&v),
	    sizeof(objfile_tombstone));
	objd__value__pack(&v, buf);
	ck_assert_mem_eq(buf, objfile_tombstone, sizeof(objfile_tombstone));
}
END_TEST

/* A map entry as objd writes it, with its own revision and a lease,
 * reads in protobuf-c as its key and value, the undeclared fields kept
 * aside as unknown, in PBWIRE_UNDECLARED's order, with their wire
 * types: what objd.proto says any runtime does with them. */
START_TEST(test_undeclared_skipped)
{
	const struct objformat_lease lease = { .deadline = 1700000000000,
		.holder = 42 };
	Objd__Value v = OBJD__VALUE__INIT;
	Objd__Object *o;
	struct buf b = { 0 };
	uint8_t val[16];
	size_t vallen;

	v.kind_case = OBJD__VALUE__KIND_INT_VALUE;
	v.int_value = -5;
	vallen = objd__value__pack(&v, val);
	objformat_put_entry(&b, "key", 3, val, vallen, 77, true, &lease);
	ck_assert_uint_eq(b.len,
	    objformat_entry_size(3, vallen, 77, true, &lease));
	o = objd__object__unpack(NULL, b.len, b.data);
	ck_assert_ptr_nonnull(o);
	ck_assert_uint_eq(o->n_entries, 1);
	ck_assert_str_eq(o->entries[0]->key, "key");
	ck_assert_ptr_nonnull(o->entries[0]->value);
	ck_assert_int_eq(o->entries[0]->value->int_value, -5);
	ck_assert_uint_eq(o->entries[0]->base.n_unknown_fields,
	    sizeof(undeclared) / sizeof(undeclared[0]));
	for (size_t i = 0; i < o->entries[0]->base.n_unknown_fields; i++) {
		const ProtobufCMessageUnknownField *u =
		    &o->entries[0]->base.unknown_fields[i];

		ck_assert_uint_eq(u->tag, undeclared[i].number);
		ck_assert_uint_eq(u->wire_type, undeclared[i].wire);
	}
	objd__object__free_unpacked(o, NULL);
	buf_release(&b);
}
END_TEST

/* The oneof cases the decoder sets are the field numbers it reads. */
START_TEST(test_oneof_cases)
{
	ck_assert_int_eq(OBJD__REQUEST__OP_GET, PBW_REQUEST_GET);
	ck_assert_int_eq(OBJD__REQUEST__OP_SET, PBW_REQUEST_SET);
	ck_assert_int_eq(OBJD__REQUEST__OP_DELETE, PBW_REQUEST_DELETE);
	ck_assert_int_eq(OBJD__REQUEST__OP_BATCH, PBW_REQUEST_BATCH);
	ck_assert_int_eq(OBJD__OPERATION__OP_SET, PBW_OPERATION_SET);
	ck_assert_int_eq(OBJD__OPERATION__OP_DELETE, PBW_OPERATION_DELETE);
	ck_assert_int_eq(OBJD__VALUE__KIND_NULL_VALUE, PBW_VALUE_NULL);
	ck_assert_int_eq(OBJD__VALUE__KIND_BOOL_VALUE, PBW_VALUE_BOOL);
	ck_assert_int_eq(OBJD__VALUE__KIND_INT_VALUE, PBW_VALUE_INT);
	ck_assert_int_eq(OBJD__VALUE__KIND_DOUBLE_VALUE, PBW_VALUE_DOUBLE);
	ck_assert_int_eq(OBJD__VALUE__KIND_STRING_VALUE, PBW_VALUE_STRING);
	ck_assert_int_eq(OBJD__VALUE__KIND_BYTES_VALUE, PBW_VALUE_BYTES);
}
END_TEST

static const int64_t zigzag_cases[] = { 0, 1, -1, 2, -2, 63, -64, 64, -65,
	1234567, -1234567, INT64_MAX, INT64_MIN, INT64_MIN + 1 };

/* pb_zigzag_encode gives the varint protobuf-c writes for an int_value,
 * and pb_zigzag_decode takes it back. */
START_TEST(test_zigzag)
{
	Objd__Value v = OBJD__VALUE__INIT;
	uint8_t buf[16];
	uint64_t n;
	size_t len;

	v.kind_case = OBJD__VALUE__KIND_INT_VALUE;
	v.int_value = zigzag_cases[_i];
	len = objd__value__pack(&v, buf);
	ck_assert_uint_eq(buf[0], PBW_VALUE_INT_TAG);
	ck_assert_int_eq(varint_decode(buf + 1, len - 1, &n), (int)len - 1);
	ck_assert_uint_eq(n, pb_zigzag_encode(v.int_value));
	ck_assert_int_eq(pb_zigzag_decode(n), v.int_value);
}
END_TEST

static Suite *
pbwire_suite(void)
{
	Suite *s = suite_create("pbwire");
	TCase *tc = tcase_create("schema");

	tcase_add_loop_test(tc, test_row_matches_schema, 0,
	    sizeof(rows) / sizeof(rows[0]));
	tcase_add_loop_test(tc, test_undeclared_free, 0,
	    sizeof(undeclared) / sizeof(undeclared[0]));
	tcase_add_test(tc, test_packed_tags);
	tcase_add_test(tc, test_file_packed_tags);
	tcase_add_test(tc, test_tombstone_bytes);
	tcase_add_test(tc, test_undeclared_skipped);
	tcase_add_test(tc, test_oneof_cases);
	tcase_add_loop_test(tc, test_zigzag, 0,
	    sizeof(zigzag_cases) / sizeof(zigzag_cases[0]));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pbwire_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
