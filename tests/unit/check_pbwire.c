/* SPDX-License-Identifier: ISC */
/* check_pbwire.c: unit tests of common/pbwire.h.
 *
 * Every row of PBWIRE_FIELDS is held to protobuf-c's generated
 * descriptors of proto/objd.proto: the field exists under that name, has
 * that number and that type, and the tag the fast paths write is that
 * number with the wire type protobuf gives the type. The rows come from
 * the same list the constants do, so no constant goes unchecked. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "objd.pb-c.h"
#include "pbwire.h"

struct row {
	const char *constant;
	const ProtobufCMessageDescriptor *message;
	const char *field;
	unsigned number; /* PBW_NAME */
	unsigned tag;    /* PBW_NAME_TAG */
	ProtobufCType type;
};

#define PBWIRE_ROW(name, descriptor, field, number, type)                      \
	{ "PBW_" #name, &descriptor, field, PBW_##name, PBW_##name##_TAG,      \
		PROTOBUF_C_TYPE_##type },
static const struct row rows[] = { PBWIRE_FIELDS(PBWIRE_ROW) };
#undef PBWIRE_ROW

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
	ck_assert_msg(r->tag < 0x80, "%s_TAG takes more than one byte",
	    r->constant);
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
	tcase_add_test(tc, test_packed_tags);
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
