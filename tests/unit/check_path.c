/* SPDX-License-Identifier: ISC */
/* check_path.c: values inside nested maps (server/path.c): get, set and
 * delete at a dotted path inside an encoded top-level value, one at a
 * time or on a decoded tree with its index, and the errors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "keypath.h"
#include "objd.h"
#include "value.h"

/* objd's state lives in main.c, which the tests do not link. */
struct server server;
struct objd_options options;

/* A JSON document, encoded as objd stores a value. */
static uint8_t *
encode(const char *json, size_t *len)
{
	char err[256];
	Objd__Value *v = json_to_value(json, strlen(json), err, sizeof(err));
	uint8_t *out;

	ck_assert_msg(v != NULL, "%s: %s", json, err);
	out = value_pack(v, len);
	value_free(v);
	return out;
}

/* Encoded value bytes, as one line of JSON; frees them. */
static char *
decode(uint8_t *buf, size_t len)
{
	char err[256];
	Objd__Value *v;
	char *json;

	ck_assert_ptr_nonnull(buf);
	v = value_unpack(buf, len, err, sizeof(err));
	ck_assert_msg(v != NULL, "%s", err);
	json = json_from_value(v, 0);
	value_free(v);
	free(buf);
	return json;
}

static void
parse(const char *path, struct keypath *kp)
{
	char err[256];

	ck_assert_msg(keypath_parse(path, kp, err, sizeof(err)), "%s: %s", path,
	    err);
}

static const char doc[] =
    "{\"server\": {\"port\": 8080, \"tls\": {\"on\": true}}, \"n\": 3}";

/* The value at path inside doc, as JSON; NULL with status and err. */
static char *
get(const char *top, const char *path, Objd__Status *status, char *err,
    size_t errlen)
{
	struct keypath kp;
	size_t toplen, len = 0;
	uint8_t *enc = encode(top, &toplen), *out;

	parse(path, &kp);
	*status = OBJD__STATUS__OK;
	out = path_get(enc, toplen, &kp, &len, status, err, errlen);
	free(enc);
	keypath_free(&kp);
	return out != NULL ? decode(out, len) : NULL;
}

START_TEST(test_get)
{
	Objd__Status st;
	char err[256], *json;

	json = get(doc, "cfg.server.port", &st, err, sizeof(err));
	ck_assert_str_eq(json, "8080");
	free(json);
	json = get(doc, "cfg.server.tls", &st, err, sizeof(err));
	ck_assert_str_eq(json, "{\"on\": true}");
	free(json);
	json = get(doc, "cfg.n", &st, err, sizeof(err));
	ck_assert_str_eq(json, "3");
	free(json);
	/* A member whose name holds a dot, escaped. */
	json = get("{\"a.b\": \"x\"}", "cfg.a\\.b", &st, err, sizeof(err));
	ck_assert_str_eq(json, "\"x\"");
	free(json);
}
END_TEST

START_TEST(test_get_errors)
{
	Objd__Status st;
	char err[256];

	ck_assert_ptr_null(get(doc, "cfg.server.host", &st, err, sizeof(err)));
	ck_assert_int_eq(st, OBJD__STATUS__NOT_FOUND);
	ck_assert_str_eq(err, "key not found: server has no host");
	ck_assert_ptr_null(get(doc, "cfg.nope.port", &st, err, sizeof(err)));
	ck_assert_int_eq(st, OBJD__STATUS__NOT_FOUND);
	ck_assert_str_eq(err, "key not found: cfg has no nope");
	ck_assert_ptr_null(
	    get(doc, "cfg.server.port.x", &st, err, sizeof(err)));
	ck_assert_int_eq(st, OBJD__STATUS__INVALID);
	ck_assert_str_eq(err, "port is an int, not a map");
	ck_assert_ptr_null(get("\"text\"", "cfg.x", &st, err, sizeof(err)));
	ck_assert_int_eq(st, OBJD__STATUS__INVALID);
	ck_assert_str_eq(err, "cfg is a string, not a map");
	ck_assert_ptr_null(get("[1, 2]", "cfg.x", &st, err, sizeof(err)));
	ck_assert_int_eq(st, OBJD__STATUS__INVALID);
	ck_assert_str_eq(err, "cfg is a list, not a map");
}
END_TEST

/* Sets path inside top (NULL: the key does not exist) to the JSON val;
 * the result as JSON, or NULL with err. */
static char *
set(const char *top, const char *path, const char *val, char *err,
    size_t errlen)
{
	struct keypath kp;
	size_t toplen = 0, len = 0;
	uint8_t *enc = top != NULL ? encode(top, &toplen) : NULL, *out;
	Objd__Value *v = json_to_value(val, strlen(val), err, errlen);

	ck_assert_ptr_nonnull(v);
	parse(path, &kp);
	out = path_set(enc, toplen, &kp, v, &len, err, errlen);
	value_free(v);
	free(enc);
	keypath_free(&kp);
	return out != NULL ? decode(out, len) : NULL;
}

START_TEST(test_set)
{
	char err[256], *json;

	/* Replaces a member; the others stay. */
	json = set(doc, "cfg.server.port", "9090", err, sizeof(err));
	ck_assert_str_eq(json,
	    "{\"n\": 3, \"server\": {\"port\": 9090, \"tls\": {\"on\": "
	    "true}}}");
	free(json);
	/* Adds one, making the maps on the way. */
	json =
	    set(doc, "cfg.server.limits.max", "[1,\"two\"]", err, sizeof(err));
	ck_assert_str_eq(json,
	    "{\"n\": 3, \"server\": {\"limits\": {\"max\": [1, \"two\"]}, "
	    "\"port\": 8080, \"tls\": {\"on\": true}}}");
	free(json);
	/* A key that does not exist yet becomes a map. */
	json = set(NULL, "cfg.a.b", "null", err, sizeof(err));
	ck_assert_str_eq(json, "{\"a\": {\"b\": null}}");
	free(json);
	/* A map replaced by a scalar. */
	json = set(doc, "cfg.server", "false", err, sizeof(err));
	ck_assert_str_eq(json, "{\"n\": 3, \"server\": false}");
	free(json);
}
END_TEST

START_TEST(test_set_errors)
{
	char err[256], path[2 * KEYPATH_MAX_PARTS + 8], *json;
	size_t n;

	ck_assert_ptr_null(set(doc, "cfg.n.x", "1", err, sizeof(err)));
	ck_assert_str_eq(err, "n is an int, not a map");
	ck_assert_ptr_null(set("3.5", "cfg.x", "1", err, sizeof(err)));
	ck_assert_str_eq(err, "cfg is a double, not a map");
	/* The top-level value and 63 maps in it, then a value of two
	 * levels: one too deep. */
	n = (size_t)snprintf(path, sizeof(path), "cfg");
	for (int i = 0; i < KEYPATH_MAX_PARTS - 1; i++)
		n += (size_t)snprintf(path + n, sizeof(path) - n, ".m");
	ck_assert_ptr_null(set(NULL, path, "[1]", err, sizeof(err)));
	ck_assert_str_eq(err, "value nested deeper than 64 levels");
	/* A scalar there is as deep as a value may go. */
	json = set(NULL, path, "1", err, sizeof(err));
	ck_assert_msg(json != NULL, "%s", err);
	free(json);
}
END_TEST

/* Deletes path inside top; the result as JSON, or NULL with status and
 * err. */
static char *
del(const char *top, const char *path, Objd__Status *status, char *err,
    size_t errlen)
{
	struct keypath kp;
	size_t toplen, len = 0;
	uint8_t *enc = encode(top, &toplen), *out;

	parse(path, &kp);
	*status = OBJD__STATUS__OK;
	out = path_delete(enc, toplen, &kp, &len, status, err, errlen);
	free(enc);
	keypath_free(&kp);
	return out != NULL ? decode(out, len) : NULL;
}

START_TEST(test_delete)
{
	Objd__Status st;
	char err[256], *json;

	json = del(doc, "cfg.server.port", &st, err, sizeof(err));
	ck_assert_str_eq(json,
	    "{\"n\": 3, \"server\": {\"tls\": {\"on\": true}}}");
	free(json);
	json = del(doc, "cfg.server", &st, err, sizeof(err));
	ck_assert_str_eq(json, "{\"n\": 3}");
	free(json);
	/* The last member goes; the map stays, empty. */
	json = del("{\"a\": {\"b\": 1}}", "cfg.a.b", &st, err, sizeof(err));
	ck_assert_str_eq(json, "{\"a\": {}}");
	free(json);
}
END_TEST

START_TEST(test_delete_errors)
{
	Objd__Status st;
	char err[256];

	ck_assert_ptr_null(del(doc, "cfg.server.host", &st, err, sizeof(err)));
	ck_assert_int_eq(st, OBJD__STATUS__NOT_FOUND);
	ck_assert_str_eq(err, "key not found: server has no host");
	ck_assert_ptr_null(del(doc, "cfg.x.y", &st, err, sizeof(err)));
	ck_assert_int_eq(st, OBJD__STATUS__NOT_FOUND);
	ck_assert_str_eq(err, "key not found: cfg has no x");
	ck_assert_ptr_null(del(doc, "cfg.n.x", &st, err, sizeof(err)));
	ck_assert_int_eq(st, OBJD__STATUS__INVALID);
	ck_assert_str_eq(err, "n is an int, not a map");
	ck_assert_ptr_null(del("true", "cfg.x", &st, err, sizeof(err)));
	ck_assert_int_eq(st, OBJD__STATUS__INVALID);
	ck_assert_str_eq(err, "cfg is a bool, not a map");
}
END_TEST

/* Many paths into one tree, through the index, as a request of many
 * nested keys does: each sees the others' changes, including a map
 * replaced under the index. */
START_TEST(test_tree_with_index)
{
	struct path_index ix;
	struct keypath kp;
	Objd__Value *root, *v;
	const Objd__Value *got;
	Objd__Status st = OBJD__STATUS__OK;
	char err[256], *json;
	size_t toplen, len;
	uint8_t *enc = encode(doc, &toplen);

	path_index_init(&ix);
	root = path_tree(enc, toplen);
	free(enc);

	parse("cfg.server.port", &kp);
	got = path_tree_get(&ix, root, &kp, &st, err, sizeof(err));
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(got->int_value, 8080);
	v = value_new_int(1);
	ck_assert(path_tree_set(&ix, root, &kp, v, err, sizeof(err)));
	value_free(v);
	keypath_free(&kp);

	for (int i = 0; i < 40; i++) {
		char path[64];

		snprintf(path, sizeof(path), "cfg.server.k%d", i);
		parse(path, &kp);
		v = value_new_int(i);
		ck_assert(path_tree_set(&ix, root, &kp, v, err, sizeof(err)));
		value_free(v);
		got = path_tree_get(&ix, root, &kp, &st, err, sizeof(err));
		ck_assert_ptr_nonnull(got);
		ck_assert_int_eq(got->int_value, i);
		keypath_free(&kp);
	}

	/* Replacing the map tls frees the maps the index knew inside it. */
	parse("cfg.server.tls", &kp);
	v = value_new_map();
	ck_assert(path_tree_set(&ix, root, &kp, v, err, sizeof(err)));
	value_free(v);
	keypath_free(&kp);
	parse("cfg.server.tls.on", &kp);
	ck_assert_ptr_null(
	    path_tree_get(&ix, root, &kp, &st, err, sizeof(err)));
	ck_assert_int_eq(st, OBJD__STATUS__NOT_FOUND);
	ck_assert_str_eq(err, "key not found: tls has no on");
	keypath_free(&kp);
	parse("cfg.server.k39", &kp);
	got = path_tree_get(&ix, root, &kp, &st, err, sizeof(err));
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(got->int_value, 39);
	keypath_free(&kp);

	parse("cfg.n.x", &kp);
	v = value_new_int(1);
	ck_assert(!path_tree_set(&ix, root, &kp, v, err, sizeof(err)));
	ck_assert_str_eq(err, "n is an int, not a map");
	value_free(v);
	keypath_free(&kp);

	enc = value_pack(root, &len);
	json = decode(enc, len);
	ck_assert_ptr_nonnull(strstr(json, "\"port\": 1,"));
	ck_assert_ptr_nonnull(strstr(json, "\"k0\": 0,"));
	ck_assert_ptr_nonnull(strstr(json, "\"tls\": {}"));
	free(json);
	value_free(root);
	path_index_free(&ix);
}
END_TEST

/* A key that does not exist yet, as a tree: an empty map. */
START_TEST(test_tree_new)
{
	struct keypath kp;
	Objd__Value *root = path_tree(NULL, 0), *v;
	char err[256], *json;
	uint8_t *enc;
	size_t len;

	ck_assert_int_eq(root->kind_case, OBJD__VALUE__KIND_MAP_VALUE);
	parse("cfg.a.b.c", &kp);
	v = value_new_string("x", 1);
	ck_assert(path_tree_set(NULL, root, &kp, v, err, sizeof(err)));
	value_free(v);
	keypath_free(&kp);
	enc = value_pack(root, &len);
	json = decode(enc, len);
	ck_assert_str_eq(json, "{\"a\": {\"b\": {\"c\": \"x\"}}}");
	free(json);
	value_free(root);
}
END_TEST

static Suite *
path_suite(void)
{
	Suite *s = suite_create("path");
	TCase *tc;

	tc = tcase_create("one");
	tcase_add_test(tc, test_get);
	tcase_add_test(tc, test_get_errors);
	tcase_add_test(tc, test_set);
	tcase_add_test(tc, test_set_errors);
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_delete_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("tree");
	tcase_add_test(tc, test_tree_with_index);
	tcase_add_test(tc, test_tree_new);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(path_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
