/* SPDX-License-Identifier: ISC */
/* check_json.c: unit tests of common/json.c. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json-members.h"
#include "json.h"
#include "pbcheck.h"
#include "unit.h"
#include "value.h"

static Objd__Value *
parse_ok(const char *text)
{
	char err[512] = "";
	Objd__Value *v = json_to_value(text, strlen(text), err, sizeof(err));

	ck_assert_msg(v != NULL, "parsing %s failed: %s", text, err);
	ck_assert_msg(value_valid(v, err, sizeof(err)), "%s: %s", text, err);
	return v;
}

/* Asserts that text (len bytes) is refused with every word of want in
 * the message. */
static void
parse_fails(const char *text, size_t len, const char *want1, const char *want2)
{
	char err[512] = "";
	Objd__Value *v = json_to_value(text, len, err, sizeof(err));

	ck_assert_msg(v == NULL, "%s was accepted", text);
	value_free(v);
	ck_assert_msg(strstr(err, want1) != NULL, "\"%s\" lacks \"%s\"", err,
	    want1);
	if (want2 != NULL)
		ck_assert_msg(strstr(err, want2) != NULL, "\"%s\" lacks \"%s\"",
		    err, want2);
}

/* The length of a literal, embedded NULs included. */
#define PARSE_FAILS(lit, want1, want2)                                         \
	parse_fails(lit, sizeof(lit) - 1, want1, want2)

/* Asserts that v renders as want with the given indent. */
static void
emits(const Objd__Value *v, int indent, const char *want)
{
	char *got = json_from_value(v, indent);

	ck_assert_str_eq(got, want);
	free(got);
}

/* Parses in, checks it renders compact as out, and that out reads back
 * to the same rendering. */
static void
round_trip(const char *in, const char *out)
{
	Objd__Value *v = parse_ok(in), *again;
	char *text = json_from_value(v, 0);

	ck_assert_str_eq(text, out);
	again = parse_ok(text);
	emits(again, 0, out);
	free(text);
	value_free(v);
	value_free(again);
}

/* count nested lists around a scalar 1: count + 1 value levels. */
static char *
nested_lists(size_t count, const char *inner)
{
	size_t n = strlen(inner);
	char *s = malloc(2 * count + n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, '[', count);
	memcpy(s + count, inner, n);
	memset(s + count + n, ']', count);
	s[2 * count + n] = '\0';
	return s;
}

static const struct scalar_case {
	const char *in;
	Objd__Value__KindCase kind;
	const char *out;
} scalar_cases[] = {
	{ "null", OBJD__VALUE__KIND_NULL_VALUE, "null" },
	{ "true", OBJD__VALUE__KIND_BOOL_VALUE, "true" },
	{ "false", OBJD__VALUE__KIND_BOOL_VALUE, "false" },
	{ "30", OBJD__VALUE__KIND_INT_VALUE, "30" },
	{ "-0", OBJD__VALUE__KIND_INT_VALUE, "0" },
	{ "9223372036854775807", OBJD__VALUE__KIND_INT_VALUE,
	    "9223372036854775807" },
	{ "-9223372036854775808", OBJD__VALUE__KIND_INT_VALUE,
	    "-9223372036854775808" },
	{ "30.0", OBJD__VALUE__KIND_DOUBLE_VALUE, "30.0" },
	{ "3.5", OBJD__VALUE__KIND_DOUBLE_VALUE, "3.5" },
	{ "1e2", OBJD__VALUE__KIND_DOUBLE_VALUE, "100.0" },
	{ "0.1", OBJD__VALUE__KIND_DOUBLE_VALUE, "0.1" },
	{ "-0.0", OBJD__VALUE__KIND_DOUBLE_VALUE, "-0.0" },
	{ "1e300", OBJD__VALUE__KIND_DOUBLE_VALUE, "1e+300" },
	{ "1E+16", OBJD__VALUE__KIND_DOUBLE_VALUE, "1e+16" },
	{ "1e15", OBJD__VALUE__KIND_DOUBLE_VALUE, "1000000000000000.0" },
	{ "0.0001", OBJD__VALUE__KIND_DOUBLE_VALUE, "0.0001" },
	{ "0.00001", OBJD__VALUE__KIND_DOUBLE_VALUE, "1e-05" },
	{ "5e-324", OBJD__VALUE__KIND_DOUBLE_VALUE, "5e-324" },
	{ "1.7976931348623157e308", OBJD__VALUE__KIND_DOUBLE_VALUE,
	    "1.7976931348623157e+308" },
	{ "0.30000000000000004", OBJD__VALUE__KIND_DOUBLE_VALUE,
	    "0.30000000000000004" },
	{ "\"x\"", OBJD__VALUE__KIND_STRING_VALUE, "\"x\"" },
	{ "\"\"", OBJD__VALUE__KIND_STRING_VALUE, "\"\"" },
	{ " [ ] ", OBJD__VALUE__KIND_LIST_VALUE, "[]" },
	{ "{}", OBJD__VALUE__KIND_MAP_VALUE, "{}" },
	{ "{\"$bytes\": \"\"}", OBJD__VALUE__KIND_BYTES_VALUE,
	    "{\"$bytes\": \"\"}" },
	{ "{\"$double\": \"nan\"}", OBJD__VALUE__KIND_DOUBLE_VALUE,
	    "{\"$double\": \"nan\"}" },
};

START_TEST(test_scalar)
{
	const struct scalar_case *c = &scalar_cases[_i];
	Objd__Value *v = parse_ok(c->in);

	ck_assert_int_eq(v->kind_case, c->kind);
	value_free(v);
	round_trip(c->in, c->out);
}
END_TEST

START_TEST(test_int_is_not_double)
{
	Objd__Value *i = parse_ok("30"), *d = parse_ok("30.0");

	ck_assert_int_eq(i->kind_case, OBJD__VALUE__KIND_INT_VALUE);
	ck_assert_int_eq(i->int_value, 30);
	ck_assert_int_eq(d->kind_case, OBJD__VALUE__KIND_DOUBLE_VALUE);
	ck_assert(d->double_value == 30.0);
	emits(i, 0, "30");
	emits(d, 0, "30.0");
	value_free(i);
	value_free(d);
}
END_TEST

START_TEST(test_double_emit)
{
	static const struct {
		double d;
		const char *out;
	} cases[] = {
		{ 0.1, "0.1" },
		{ 0.0, "0.0" },
		{ 1.0 / 3, "0.3333333333333333" },
		{ 2.0 / 3, "0.6666666666666666" },
		{ 1e300, "1e+300" },
		{ -1e-300, "-1e-300" },
		{ 123456789.125, "123456789.125" },
		{ 1e22, "1e+22" },
		{ 9007199254740993.0, "9007199254740992.0" },
		{ 4.9406564584124654e-324, "5e-324" },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		Objd__Value *v = value_new_double(cases[k].d);

		emits(v, 0, cases[k].out);
		emits(v, 2, cases[k].out);
		value_free(v);
	}
}
END_TEST

START_TEST(test_negative_zero)
{
	Objd__Value *v = parse_ok("-0.0");

	ck_assert(v->double_value == 0.0);
	ck_assert(signbit(v->double_value));
	value_free(v);
	v = value_new_double(-0.0);
	emits(v, 0, "-0.0");
	value_free(v);
}
END_TEST

/* Random doubles of every magnitude read back bit for bit. */
START_TEST(test_double_round_trip)
{
	uint64_t x = 88172645463325252ULL;

	for (int k = 0; k < 20000; k++) {
		Objd__Value *v, *back;
		uint64_t got;
		double d;
		char *text;

		xorshift64(&x);
		memcpy(&d, &x, sizeof(d));
		if (!isfinite(d))
			continue;
		v = value_new_double(d);
		text = json_from_value(v, 0);
		ck_assert_msg(strpbrk(text, ".e") != NULL, "%s", text);
		back = parse_ok(text);
		ck_assert_int_eq(back->kind_case,
		    OBJD__VALUE__KIND_DOUBLE_VALUE);
		memcpy(&got, &back->double_value, sizeof(got));
		ck_assert_msg(got == x, "%s did not read back", text);
		free(text);
		value_free(v);
		value_free(back);
	}
}
END_TEST

START_TEST(test_nonfinite)
{
	Objd__Value *v;

	v = value_new_double(NAN);
	emits(v, 0, "{\"$double\": \"nan\"}");
	emits(v, 2, "{\n  \"$double\": \"nan\"\n}");
	value_free(v);
	v = value_new_double(INFINITY);
	emits(v, 0, "{\"$double\": \"inf\"}");
	value_free(v);
	v = value_new_double(-INFINITY);
	emits(v, 0, "{\"$double\": \"-inf\"}");
	value_free(v);

	v = parse_ok("{\"$double\": \"nan\"}");
	ck_assert(isnan(v->double_value));
	value_free(v);
	v = parse_ok("{\"$double\": \"inf\"}");
	ck_assert(isinf(v->double_value) && v->double_value > 0);
	value_free(v);
	v = parse_ok("{\"$double\": \"-inf\"}");
	ck_assert(isinf(v->double_value) && v->double_value < 0);
	value_free(v);

	PARSE_FAILS("{\"$double\": \"Infinity\"}", "$double", NULL);
	PARSE_FAILS("{\"$double\": 1.5}", "$double", NULL);
	/* A second member makes it an ordinary map. */
	v = parse_ok("{\"$double\": \"x\", \"y\": 1}");
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_MAP_VALUE);
	value_free(v);
}
END_TEST

/* RFC 4648 section 10 vectors. */
START_TEST(test_bytes_vectors)
{
	static const char *plain[] = { "", "f", "fo", "foo", "foob", "fooba",
		"foobar" };
	static const char *b64[] = { "", "Zg==", "Zm8=", "Zm9v",
		"Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };

	for (size_t k = 0; k < sizeof(plain) / sizeof(plain[0]); k++) {
		Objd__Value *v = value_new_bytes((const uint8_t *)plain[k],
		    strlen(plain[k]));
		char want[64], *got;

		snprintf(want, sizeof(want), "{\"$bytes\": \"%s\"}", b64[k]);
		got = json_from_value(v, 0);
		ck_assert_str_eq(got, want);
		value_free(v);
		v = parse_ok(got);
		ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_BYTES_VALUE);
		ck_assert_uint_eq(v->bytes_value.len, strlen(plain[k]));
		ck_assert_mem_eq(v->bytes_value.data, plain[k],
		    strlen(plain[k]));
		value_free(v);
		free(got);
	}
}
END_TEST

START_TEST(test_bytes_binary)
{
	uint8_t all[256];
	Objd__Value *v, *back;
	char *text;

	for (size_t k = 0; k < sizeof(all); k++)
		all[k] = (uint8_t)(255 - k);
	for (size_t n = 0; n <= sizeof(all); n++) {
		v = value_new_bytes(all, n);
		text = json_from_value(v, 0);
		back = parse_ok(text);
		ck_assert_int_eq(back->kind_case,
		    OBJD__VALUE__KIND_BYTES_VALUE);
		ck_assert_uint_eq(back->bytes_value.len, n);
		if (n > 0)
			ck_assert_mem_eq(back->bytes_value.data, all, n);
		free(text);
		value_free(v);
		value_free(back);
	}
}
END_TEST

static const char *bad_base64[] = {
	"A",
	"AA",
	"AAA",
	"AA=",
	"AAF=", /* stray bits under the padding */
	"AB==", /* likewise */
	"A===",
	"====",
	"AA=A",
	"AA==AAAA",
	"****",
	"AAAA\n",
	"AAA-", /* URL-safe alphabet */
	"AAA_",
};

START_TEST(test_bytes_invalid)
{
	char text[64];

	snprintf(text, sizeof(text), "{\"$bytes\": \"%s\"}", bad_base64[_i]);
	/* The raw newline case is escaped to stay valid JSON. */
	if (strchr(bad_base64[_i], '\n') != NULL)
		snprintf(text, sizeof(text), "{\"$bytes\": \"AAAA\\n\"}");
	parse_fails(text, strlen(text), "base64", NULL);
}
END_TEST

START_TEST(test_bytes_not_string)
{
	PARSE_FAILS("{\"$bytes\": 5}", "$bytes", NULL);
	PARSE_FAILS("[{\"$bytes\": null}]", "$bytes", "(at .[0])");
	PARSE_FAILS("{\"a b\": {\"c\": {\"$bytes\": 1}}}", "$bytes",
	    "(at .[\"a b\"].c)");
	PARSE_FAILS("{\"$bytes\": []}", "$bytes", "(at .)");
}
END_TEST

START_TEST(test_nested_round_trip)
{
	round_trip("{\"list\": [1, 2.5, \"three\", null, true, [], {}, "
	           "[[{\"x\": {\"$bytes\": \"AP8=\"}}]]], \"map\": {\"a\": "
	           "{\"b\": {\"c\": false}}}, \"n\": -7}",
	    "{\"list\": [1, 2.5, \"three\", null, true, [], {}, "
	    "[[{\"x\": {\"$bytes\": \"AP8=\"}}]]], \"map\": {\"a\": "
	    "{\"b\": {\"c\": false}}}, \"n\": -7}");
}
END_TEST

START_TEST(test_sorting)
{
	Objd__Value *v =
	    parse_ok("{\"b\": 1, \"a\": 2, \"B\": 3, \"\\u00e9\": 4, "
	             "\"aa\": 5, \"\": 6, \"a\\u0001\": 7}");

	emits(v, 0,
	    "{\"\": 6, \"B\": 3, \"a\": 2, \"a\\u0001\": 7, \"aa\": 5, "
	    "\"b\": 1, \"\xc3\xa9\": 4}");
	value_free(v);
}
END_TEST

START_TEST(test_indent)
{
	Objd__Value *v = parse_ok("{\"b\": [1, [], {}, {\"y\": null, "
	                          "\"x\": [true]}], \"a\": \"s\", "
	                          "\"c\": {\"$bytes\": \"AAE=\"}}");

	emits(v, 2,
	    "{\n"
	    "  \"a\": \"s\",\n"
	    "  \"b\": [\n"
	    "    1,\n"
	    "    [],\n"
	    "    {},\n"
	    "    {\n"
	    "      \"x\": [\n"
	    "        true\n"
	    "      ],\n"
	    "      \"y\": null\n"
	    "    }\n"
	    "  ],\n"
	    "  \"c\": {\n"
	    "    \"$bytes\": \"AAE=\"\n"
	    "  }\n"
	    "}");
	emits(v, 0,
	    "{\"a\": \"s\", \"b\": [1, [], {}, {\"x\": [true], \"y\": null}], "
	    "\"c\": {\"$bytes\": \"AAE=\"}}");
	emits(v, 4,
	    "{\n    \"a\": \"s\",\n    \"b\": [\n        1,\n        [],\n"
	    "        {},\n        {\n            \"x\": [\n"
	    "                true\n            ],\n"
	    "            \"y\": null\n        }\n    ],\n    \"c\": {\n"
	    "        \"$bytes\": \"AAE=\"\n    }\n}");
	value_free(v);
	v = parse_ok("[]");
	emits(v, 2, "[]");
	value_free(v);
	v = parse_ok("{}");
	emits(v, 2, "{}");
	value_free(v);
	v = parse_ok("7");
	emits(v, 2, "7");
	value_free(v);
}
END_TEST

static Objd__Entry *
entry_new(const char *key, Objd__Value *v)
{
	Objd__Entry *e = malloc(sizeof(*e));

	ck_assert_ptr_nonnull(e);
	objd__entry__init(e);
	e->key = strdup(key);
	e->value = v;
	return e;
}

START_TEST(test_entries)
{
	Objd__Entry *e[3];
	char *got;

	got = json_from_entries(NULL, 0, 2);
	ck_assert_str_eq(got, "{}");
	free(got);

	e[0] = entry_new("zeta", value_new_int(1));
	e[1] = entry_new("alpha", parse_ok("[1, 2]"));
	e[2] = entry_new("Mid", value_new_string("v", 1));
	got = json_from_entries(e, 3, 2);
	ck_assert_str_eq(got,
	    "{\n  \"Mid\": \"v\",\n  \"alpha\": [\n    1,\n    2\n  ],\n"
	    "  \"zeta\": 1\n}");
	free(got);
	got = json_from_entries(e, 3, 0);
	ck_assert_str_eq(got,
	    "{\"Mid\": \"v\", \"alpha\": [1, 2], \"zeta\": 1}");
	free(got);
	/* The caller's order is left alone. */
	ck_assert_str_eq(e[0]->key, "zeta");
	for (size_t k = 0; k < 3; k++)
		objd__entry__free_unpacked(e[k], NULL);
}
END_TEST

/* A map that would read back as a special form is escaped as
 * {"$map": {...}}, and reads back as the map it is. */
static const struct map_case {
	const char *in;             /* a document */
	const char *out;            /* its compact rendering */
	const char *member;         /* the only member of the map it reads as */
	Objd__Value__KindCase kind; /* that member's kind */
} map_cases[] = {
	{ "{\"$map\": {\"$bytes\": \"AAEC\"}}",
	    "{\"$map\": {\"$bytes\": \"AAEC\"}}", "$bytes",
	    OBJD__VALUE__KIND_STRING_VALUE },
	{ "{\"$map\": {\"$double\": 1}}", "{\"$map\": {\"$double\": 1}}",
	    "$double", OBJD__VALUE__KIND_INT_VALUE },
	{ "{\"$map\": {\"$map\": {}}}", "{\"$map\": {\"$map\": {}}}", "$map",
	    OBJD__VALUE__KIND_MAP_VALUE },
	{ "{\"$map\": {\"$bytes\": {\"$bytes\": \"\"}}}",
	    "{\"$map\": {\"$bytes\": {\"$bytes\": \"\"}}}", "$bytes",
	    OBJD__VALUE__KIND_BYTES_VALUE },
	{ "{\"$map\": {\"$map\": {\"$double\": \"nan\"}}}",
	    "{\"$map\": {\"$map\": {\"$double\": \"nan\"}}}", "$map",
	    OBJD__VALUE__KIND_DOUBLE_VALUE },
	/* Needless escapes are accepted, and written plain. */
	{ "{\"$map\": {\"a\": 1}}", "{\"a\": 1}", "a",
	    OBJD__VALUE__KIND_INT_VALUE },
	{ "{\"$map\": {\"$other\": true}}", "{\"$other\": true}", "$other",
	    OBJD__VALUE__KIND_BOOL_VALUE },
};

START_TEST(test_map_escape)
{
	const struct map_case *c = &map_cases[_i];
	Objd__Value *v = parse_ok(c->in);

	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_MAP_VALUE);
	ck_assert_uint_eq(v->map_value->n_fields, 1);
	ck_assert_str_eq(v->map_value->fields[0]->key, c->member);
	ck_assert_int_eq(v->map_value->fields[0]->value->kind_case, c->kind);
	value_free(v);
	round_trip(c->in, c->out);
}
END_TEST

START_TEST(test_map_escape_more)
{
	Objd__Value *v, *m;
	Objd__Entry *e[2];
	char *got;

	/* Built, not parsed: a map whose only key is "$bytes". */
	v = value_new_map();
	value_map_add(v, "$bytes", 6, value_new_string("AAEC", 4));
	emits(v, 0, "{\"$map\": {\"$bytes\": \"AAEC\"}}");
	emits(v, 2, "{\n  \"$map\": {\n    \"$bytes\": \"AAEC\"\n  }\n}");
	value_free(v);

	/* Two members are a map anyway: no escape. */
	v = parse_ok("{\"$map\": 5, \"$bytes\": 1}");
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_MAP_VALUE);
	ck_assert_uint_eq(v->map_value->n_fields, 2);
	emits(v, 0, "{\"$bytes\": 1, \"$map\": 5}");
	value_free(v);

	/* Deep in a list, at every level. */
	round_trip("[{\"$map\": {\"$map\": {\"$map\": {\"$bytes\": \"\"}}}}]",
	    "[{\"$map\": {\"$map\": {\"$map\": {\"$bytes\": \"\"}}}}]");

	/* The whole object, too: its only key may be "$double". */
	m = value_new_map();
	value_map_add(m, "$double", 7, value_new_string("nan", 3));
	e[0] = entry_new("$double", value_new_string("inf", 3));
	e[1] = entry_new("x", m);
	got = json_from_entries(e, 1, 0);
	ck_assert_str_eq(got, "{\"$map\": {\"$double\": \"inf\"}}");
	free(got);
	got = json_from_entries(e, 2, 0);
	ck_assert_str_eq(got,
	    "{\"$double\": \"inf\", "
	    "\"x\": {\"$map\": {\"$double\": \"nan\"}}}");
	free(got);
	got = json_from_entries(e + 1, 1, 2);
	ck_assert_str_eq(got,
	    "{\n  \"x\": {\n    \"$map\": {\n      \"$double\": \"nan\"\n"
	    "    }\n  }\n}");
	free(got);
	for (size_t k = 0; k < 2; k++)
		objd__entry__free_unpacked(e[k], NULL);

	/* Errors name the member. */
	PARSE_FAILS("{\"$map\": 5}", "$map", "(at .)");
	PARSE_FAILS("{\"$map\": [1]}", "$map", "object");
	PARSE_FAILS("[{\"$map\": {\"k\": {\"$bytes\": 1}}}]", "$bytes",
	    "(at .[0].[\"$map\"].k)");
}
END_TEST

/* The wrapper is no level of nesting: 64 maps, each escaped, fit. */
START_TEST(test_map_escape_depth)
{
	Objd__Value *v = value_new_int(1), *m;
	char *text, err[256];

	for (int i = 1; i < 64; i++) {
		m = value_new_map();
		value_map_add(m, "$map", 4, v);
		v = m;
	}
	ck_assert(value_valid(v, err, sizeof(err)));
	text = json_from_value(v, 0);
	value_free(v);
	v = parse_ok(text);
	emits(v, 0, text);
	value_free(v);
	free(text);
}
END_TEST

START_TEST(test_unicode)
{
	Objd__Value *v;

	v = parse_ok("\"caf\\u00e9 \\ud83d\\ude00\"");
	ck_assert_str_eq(v->string_value, "caf\xc3\xa9 \xf0\x9f\x98\x80");
	emits(v, 0, "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
	value_free(v);
	v = parse_ok("\"caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac\"");
	ck_assert_str_eq(v->string_value,
	    "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac");
	value_free(v);
	/* Keys too. */
	v = parse_ok("{\"\\ud83d\\ude00\": 1}");
	ck_assert_str_eq(v->map_value->fields[0]->key, "\xf0\x9f\x98\x80");
	value_free(v);
}
END_TEST

START_TEST(test_escapes)
{
	Objd__Value *v;

	v = parse_ok("\"\\u0001\\u001f\\b\\f\\n\\r\\t\\\"\\\\\\/ \\u007f\"");
	ck_assert_str_eq(v->string_value, "\x01\x1f\b\f\n\r\t\"\\/ \x7f");
	emits(v, 0, "\"\\u0001\\u001f\\b\\f\\n\\r\\t\\\"\\\\/ \\u007f\"");
	value_free(v);
	v = value_new_string("tab\there", 8);
	emits(v, 2, "\"tab\\there\"");
	value_free(v);
}
END_TEST

START_TEST(test_reject_nul)
{
	PARSE_FAILS("\"a\\u0000b\"", "NUL", "line 1, column");
	PARSE_FAILS("{\"k\\u0000\": 1}", "NUL", "line 1, column");
	/* A raw NUL byte in the text. */
	PARSE_FAILS("\"a\0b\"", "line 1, column", NULL);
}
END_TEST

START_TEST(test_reject_int64_overflow)
{
	PARSE_FAILS("9223372036854775808", "range", "line 1, column");
	PARSE_FAILS("-9223372036854775809", "range", NULL);
	PARSE_FAILS("[1, 100000000000000000000000]", "range", NULL);
	PARSE_FAILS("1e999", "range", NULL);
	PARSE_FAILS("-1e999", "range", NULL);
}
END_TEST

START_TEST(test_depth)
{
	char *s;
	Objd__Value *v;
	uint8_t *packed;
	size_t len;
	char err[256];

	/* 63 lists around a scalar: 64 levels. */
	s = nested_lists(63, "1");
	v = parse_ok(s);
	/* Its encoding passes the wire check with the same limit. */
	packed = value_pack(v, &len);
	ck_assert(
	    pbcheck(&objd__value__descriptor, packed, len, err, sizeof(err)));
	free(packed);
	value_free(v);
	free(s);

	s = nested_lists(64, "1");
	parse_fails(s, strlen(s), "nested deeper than 64", "(at .[0][0]");
	free(s);
	s = nested_lists(64, "");
	v = parse_ok(s);
	value_free(v);
	free(s);
	s = nested_lists(65, "");
	parse_fails(s, strlen(s), "nested deeper than 64", NULL);
	free(s);
	/* bytes are a scalar even though they are spelt as an object. */
	s = nested_lists(63, "{\"$bytes\": \"AA==\"}");
	v = parse_ok(s);
	value_free(v);
	free(s);
	s = nested_lists(63, "{\"a\": 1}");
	parse_fails(s, strlen(s), "nested deeper than 64", ".a");
	free(s);
	/* Beyond jansson's own limit: refused, no crash. */
	s = nested_lists(5000, "1");
	parse_fails(s, strlen(s), "nested deeper than 64", "line 1, column");
	free(s);
}
END_TEST

START_TEST(test_reject_duplicates)
{
	PARSE_FAILS("{\"a\": 1, \"a\": 2}", "duplicate", "line 1, column");
	PARSE_FAILS("[{\"x\": {\"a\": 1, \"b\": 2, \"a\": 3}}]", "duplicate",
	    "line 1, column 27");
}
END_TEST

START_TEST(test_reject_invalid)
{
	static const char multi[] = "{\n  \"a\": 1,\n  \"b\": x\n}";

	PARSE_FAILS(multi, "line 3, column", NULL);
	PARSE_FAILS("[1,\n2,\nx]", "line 3, column 1", NULL);
	PARSE_FAILS("", "line 1", NULL);
	PARSE_FAILS("1 2", "line 1, column", NULL);
	PARSE_FAILS("{\"a\" 1}", "line 1, column", NULL);
	PARSE_FAILS("[1,]", "line 1, column", NULL);
	PARSE_FAILS("'x'", "line 1, column", NULL);
	PARSE_FAILS("NaN", "line 1, column", NULL);
	PARSE_FAILS("\"\xff\"", "line 1", "UTF-8");      /* bad UTF-8 */
	PARSE_FAILS("\"\xc0\x80\"", "line 1", "UTF-8");  /* overlong */
	PARSE_FAILS("\"\xed\xa0\x80\"", "line 1", NULL); /* surrogate */
	PARSE_FAILS("\"\\ud800\"", "line 1", NULL);      /* lone */
	PARSE_FAILS("\"a\nb\"", "line 1", NULL);         /* raw LF */
}
END_TEST

static const struct arg_case {
	const char *arg;
	Objd__Value__KindCase kind;
	const char *json; /* compact rendering */
} arg_cases[] = {
	{ "30", OBJD__VALUE__KIND_INT_VALUE, "30" },
	{ "-12", OBJD__VALUE__KIND_INT_VALUE, "-12" },
	{ "3.5", OBJD__VALUE__KIND_DOUBLE_VALUE, "3.5" },
	{ "30.0", OBJD__VALUE__KIND_DOUBLE_VALUE, "30.0" },
	{ "1e3", OBJD__VALUE__KIND_DOUBLE_VALUE, "1000.0" },
	{ "true", OBJD__VALUE__KIND_BOOL_VALUE, "true" },
	{ "false", OBJD__VALUE__KIND_BOOL_VALUE, "false" },
	{ "null", OBJD__VALUE__KIND_NULL_VALUE, "null" },
	{ "\"x\"", OBJD__VALUE__KIND_STRING_VALUE, "\"x\"" },
	{ "\"30\"", OBJD__VALUE__KIND_STRING_VALUE, "\"30\"" },
	{ "[1, \"a\"]", OBJD__VALUE__KIND_LIST_VALUE, "[1, \"a\"]" },
	{ "{\"b\":1,\"a\":{}}", OBJD__VALUE__KIND_MAP_VALUE,
	    "{\"a\": {}, \"b\": 1}" },
	{ "{\"$bytes\":\"aGk=\"}", OBJD__VALUE__KIND_BYTES_VALUE,
	    "{\"$bytes\": \"aGk=\"}" },
	{ "John", OBJD__VALUE__KIND_STRING_VALUE, "\"John\"" },
	{ "New York", OBJD__VALUE__KIND_STRING_VALUE, "\"New York\"" },
	{ "01234", OBJD__VALUE__KIND_STRING_VALUE, "\"01234\"" },
	{ "1.2.3", OBJD__VALUE__KIND_STRING_VALUE, "\"1.2.3\"" },
	{ "+5", OBJD__VALUE__KIND_STRING_VALUE, "\"+5\"" },
	{ "-", OBJD__VALUE__KIND_STRING_VALUE, "\"-\"" },
	{ "", OBJD__VALUE__KIND_STRING_VALUE, "\"\"" },
	{ "1.", OBJD__VALUE__KIND_STRING_VALUE, "\"1.\"" },
	{ ".5", OBJD__VALUE__KIND_STRING_VALUE, "\".5\"" },
	{ "1e", OBJD__VALUE__KIND_STRING_VALUE, "\"1e\"" },
	{ "0x10", OBJD__VALUE__KIND_STRING_VALUE, "\"0x10\"" },
	{ " 30", OBJD__VALUE__KIND_STRING_VALUE, "\" 30\"" },
	{ "True", OBJD__VALUE__KIND_STRING_VALUE, "\"True\"" },
	{ "nan", OBJD__VALUE__KIND_STRING_VALUE, "\"nan\"" },
	{ "inf", OBJD__VALUE__KIND_STRING_VALUE, "\"inf\"" },
	{ "a\"b", OBJD__VALUE__KIND_STRING_VALUE, "\"a\\\"b\"" },
	{ "caf\xc3\xa9", OBJD__VALUE__KIND_STRING_VALUE, "\"caf\xc3\xa9\"" },
};

START_TEST(test_arg)
{
	const struct arg_case *c = &arg_cases[_i];
	char err[512] = "";
	Objd__Value *v = json_value_from_arg(c->arg, err, sizeof(err));

	ck_assert_msg(v != NULL, "%s: %s", c->arg, err);
	ck_assert_int_eq(v->kind_case, c->kind);
	emits(v, 0, c->json);
	if (c->kind == OBJD__VALUE__KIND_STRING_VALUE && c->arg[0] != '"')
		ck_assert_str_eq(v->string_value, c->arg);
	value_free(v);
}
END_TEST

static const struct arg_error {
	const char *arg;
	const char *want1;
	const char *want2;
} arg_errors[] = {
	{ "[1,", "not valid JSON", "column" },
	{ "{x}", "not valid JSON", "line 1, column 2" },
	{ "\"abc", "not valid JSON", "column" },
	{ "[1, 2] x", "not valid JSON", "column" },
	{ "{\"a\": 1, \"a\": 2}", "duplicate", "--string" },
	{ "\"a\\u0000\"", "NUL", "--string" },
	{ "{\"$bytes\": \"!\"}", "base64", "--string" },
	{ "99999999999999999999", "out of range", "--string" },
	{ "-9223372036854775809", "64-bit integer", "--string" },
	{ "1e999", "out of range", "--string" },
	{ "\xff", "UTF-8", NULL },
};

START_TEST(test_arg_error)
{
	const struct arg_error *c = &arg_errors[_i];
	char err[512] = "";
	Objd__Value *v = json_value_from_arg(c->arg, err, sizeof(err));

	ck_assert_msg(v == NULL, "%s was accepted", c->arg);
	ck_assert_msg(strstr(err, c->want1) != NULL, "%s: \"%s\" lacks %s",
	    c->arg, err, c->want1);
	if (c->want2 != NULL)
		ck_assert_msg(strstr(err, c->want2) != NULL,
		    "%s: \"%s\" lacks %s", c->arg, err, c->want2);
	/* Every JSON-like failure says how to store the text as it is. */
	if (c->arg[0] == '[' || c->arg[0] == '{' || c->arg[0] == '"')
		ck_assert_msg(strstr(err, "--string") != NULL, "%s", err);
}
END_TEST

/* An error message never overflows a small buffer. */
START_TEST(test_small_err)
{
	char err[8];

	memset(err, 'x', sizeof(err));
	ck_assert_ptr_null(json_value_from_arg("[1,", err, sizeof(err)));
	ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
	ck_assert_ptr_null(json_to_value("[[1]", 4, err, sizeof(err)));
	ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
}
END_TEST

/* A reader on text through a pipe, read in small steps. */
static struct json_members *
members_of(const char *text, int *fd)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], text, strlen(text)),
	    (ssize_t)strlen(text));
	close(p[1]);
	*fd = p[0];
	return json_members_open(p[0], malloc(4), 0, 4);
}

START_TEST(test_members)
{
	static const char text[] =
	    " {\n \"a\" : 1 , \"b\\u00e9\\n\": [1, {\"x\": \"}]\"}],"
	    "\"c\": \"q\\\"}\", \"d\":{}, \"e\":-2.5e3 }\n ";
	static const char *const want_keys[] = { "a", "b\xc3\xa9\n", "c", "d",
		"e" };
	static const char *const want_json[] = { "1", "[1, {\"x\": \"}]\"}]",
		"\"q\\\"}\"", "{}", "-2500.0" };
	struct json_members *m;
	Objd__Value *v;
	size_t keylen;
	char err[256], *key, *json;
	int fd;

	m = members_of(text, &fd);
	for (size_t i = 0; i < 5; i++) {
		ck_assert_int_eq(
		    json_members_next(m, &key, &keylen, &v, err, sizeof(err)),
		    1);
		ck_assert_str_eq(key, want_keys[i]);
		ck_assert_uint_eq(keylen, strlen(want_keys[i]));
		json = json_from_value(v, 0);
		ck_assert_str_eq(json, want_json[i]);
		free(json);
		free(key);
		value_free(v);
	}
	ck_assert_int_eq(
	    json_members_next(m, &key, &keylen, &v, err, sizeof(err)), 0);
	ck_assert_int_eq(
	    json_members_next(m, &key, &keylen, &v, err, sizeof(err)), 0);
	json_members_close(m);
	close(fd);
}
END_TEST

static const struct {
	const char *text;
	const char *want;
} member_errors[] = {
	{ "[1]", "line 1: the document is not a JSON object" },
	{ "{\"a\" 1}", "':' expected" },
	{ "{\"a\": 1,}", "a name in double quotes expected" },
	{ "{\"a\": 1} x", "more text after the object" },
	{ "{\"a\": 1", "the text ends inside the object" },
	{ "{\"a\": [1, 2", "the text ends inside a value" },
	{ "{\"a\":\n\n tru}", "line 3, the value of \"a\": " },
	{ "{\"a\": 1 \"b\": 2}", "',' or '}' expected" },
	{ "{\"\\u0000\": 1}", "NUL" },
	{ "{\"\xff\": 1}", "UTF-8" },
};

START_TEST(test_members_errors)
{
	struct json_members *m;
	Objd__Value *v;
	size_t keylen;
	char err[256], *key;
	int fd, r;

	m = members_of(member_errors[_i].text, &fd);
	while ((r = json_members_next(m, &key, &keylen, &v, err,
	            sizeof(err))) == 1) {
		free(key);
		value_free(v);
	}
	ck_assert_int_eq(r, -1);
	ck_assert_msg(strstr(err, member_errors[_i].want) != NULL,
	    "%s: '%s' lacks '%s'", member_errors[_i].text, err,
	    member_errors[_i].want);
	ck_assert_int_eq(
	    json_members_next(m, &key, &keylen, &v, err, sizeof(err)), 0);
	json_members_close(m);
	close(fd);
}
END_TEST

static Suite *
json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc;

	tc = tcase_create("types");
	tcase_add_loop_test(tc, test_scalar, 0,
	    sizeof(scalar_cases) / sizeof(scalar_cases[0]));
	tcase_add_test(tc, test_int_is_not_double);
	tcase_add_test(tc, test_double_emit);
	tcase_add_test(tc, test_negative_zero);
	tcase_add_test(tc, test_double_round_trip);
	tcase_add_test(tc, test_nonfinite);
	tcase_add_test(tc, test_bytes_vectors);
	tcase_add_test(tc, test_bytes_binary);
	tcase_add_loop_test(tc, test_bytes_invalid, 0,
	    sizeof(bad_base64) / sizeof(bad_base64[0]));
	tcase_add_test(tc, test_bytes_not_string);
	suite_add_tcase(s, tc);

	tc = tcase_create("layout");
	tcase_add_test(tc, test_nested_round_trip);
	tcase_add_test(tc, test_sorting);
	tcase_add_test(tc, test_indent);
	tcase_add_test(tc, test_entries);
	tcase_add_loop_test(tc, test_map_escape, 0,
	    sizeof(map_cases) / sizeof(map_cases[0]));
	tcase_add_test(tc, test_map_escape_more);
	tcase_add_test(tc, test_map_escape_depth);
	tcase_add_test(tc, test_unicode);
	tcase_add_test(tc, test_escapes);
	suite_add_tcase(s, tc);

	tc = tcase_create("reject");
	tcase_add_test(tc, test_reject_nul);
	tcase_add_test(tc, test_reject_int64_overflow);
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_reject_duplicates);
	tcase_add_test(tc, test_reject_invalid);
	tcase_add_test(tc, test_small_err);
	suite_add_tcase(s, tc);

	tc = tcase_create("members");
	tcase_add_test(tc, test_members);
	tcase_add_loop_test(tc, test_members_errors, 0,
	    sizeof(member_errors) / sizeof(member_errors[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("arg");
	tcase_add_loop_test(tc, test_arg, 0,
	    sizeof(arg_cases) / sizeof(arg_cases[0]));
	tcase_add_loop_test(tc, test_arg_error, 0,
	    sizeof(arg_errors) / sizeof(arg_errors[0]));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(json_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
