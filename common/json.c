/* SPDX-License-Identifier: ISC */
/* json.c: objd.Value <-> JSON text.
 *
 * jansson parses; the emitter is our own so that the output is stable
 * (sorted members, Python-like layout) and doubles keep their type. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "json.h"
#include "pbcheck.h"
#include "utf8.h"
#include "value.h"
#include "xmalloc.h"

/* One member of a JSON object about to be written. */
struct member {
	const char *key;
	const Objd__Value *value;
};

/* Where the conversion of a parsed document stands, for its errors. */
struct conv {
	struct buf path;
	char *err;
	size_t errlen;
};

#define STR(x) #x
#define XSTR(x) STR(x)
#define DEPTH_MAX_STR XSTR(VALUE_DEPTH_MAX)

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void emit_value(struct buf *, const Objd__Value *, int, unsigned);

/* JSON text is a NUL-terminated string at every step. */
static void
buf_add(struct buf *b, const char *s, size_t n)
{
	buf_put_text(b, s, n);
}

static void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

/* Escapes as Python's json.dumps(ensure_ascii=False) does, and DEL too,
 * so that no control character reaches a terminal raw. */
static void
emit_string(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	buf_addc(b, '"');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7] = "\\u00";

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		buf_add(b, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':
			buf_adds(b, "\\\"");
			break;
		case '\\':
			buf_adds(b, "\\\\");
			break;
		case '\b':
			buf_adds(b, "\\b");
			break;
		case '\f':
			buf_adds(b, "\\f");
			break;
		case '\n':
			buf_adds(b, "\\n");
			break;
		case '\r':
			buf_adds(b, "\\r");
			break;
		case '\t':
			buf_adds(b, "\\t");
			break;
		default:
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			buf_add(b, esc, 6);
			break;
		}
	}
	buf_add(b, s + run, len - run);
	buf_addc(b, '"');
}

/* The shortest decimal that reads back as the finite d, laid out as
 * Python's repr does: positional for exponents -4..15, scientific
 * otherwise, and with ".0" where it would read back as an integer. */
static void
emit_double(struct buf *b, double d)
{
	char sci[32], out[64];
	int prec, exp;

	for (prec = 0;; prec++) {
		snprintf(sci, sizeof(sci), "%.*e", prec, d);
		/* Seventeen significant digits always read back. */
		if (prec == 16 || strtod(sci, NULL) == d)
			break;
	}
	exp = atoi(strchr(sci, 'e') + 1);
	if (exp < -4 || exp >= 16) {
		buf_adds(b, sci);
		return;
	}
	snprintf(out, sizeof(out), "%.*f", prec > exp ? prec - exp : 0, d);
	buf_adds(b, out);
	if (strchr(out, '.') == NULL)
		buf_adds(b, ".0");
}

static void
emit_base64(struct buf *b, const uint8_t *p, size_t len)
{
	char quad[4];
	size_t i;

	buf_addc(b, '"');
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t w =
		    (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		quad[0] = b64_alphabet[w >> 18];
		quad[1] = b64_alphabet[(w >> 12) & 63];
		quad[2] = b64_alphabet[(w >> 6) & 63];
		quad[3] = b64_alphabet[w & 63];
		buf_add(b, quad, 4);
	}
	if (i < len) {
		uint32_t w = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			w |= (uint32_t)p[i + 1] << 8;
		quad[0] = b64_alphabet[w >> 18];
		quad[1] = b64_alphabet[(w >> 12) & 63];
		quad[2] = i + 1 < len ? b64_alphabet[(w >> 6) & 63] : '=';
		quad[3] = '=';
		buf_add(b, quad, 4);
	}
	buf_addc(b, '"');
}

/* Starts the next item of a list or map at the given level. */
static void
emit_sep(struct buf *b, int indent, unsigned level, int first)
{
	if (!first)
		buf_addc(b, ',');
	if (indent > 0) {
		buf_addc(b, '\n');
		for (size_t i = 0; i < (size_t)indent * level; i++)
			buf_addc(b, ' ');
	} else if (!first)
		buf_addc(b, ' ');
}

/* Ends a list or map opened at level; an empty one stays on its line. */
static void
emit_close(struct buf *b, char c, int indent, unsigned level, size_t n)
{
	if (n > 0 && indent > 0)
		emit_sep(b, indent, level, 1);
	buf_addc(b, c);
}

static int
member_cmp(const void *a, const void *b)
{
	const struct member *ma = a, *mb = b;

	return strcmp(ma->key, mb->key);
}

/* Writes members as an object, sorted bytewise by key; sorts in place. */
static void
emit_members(struct buf *b, struct member *m, size_t n, int indent,
    unsigned level)
{
	qsort(m, n, sizeof(*m), member_cmp);
	buf_addc(b, '{');
	for (size_t i = 0; i < n; i++) {
		emit_sep(b, indent, level + 1, i == 0);
		emit_string(b, m[i].key, strlen(m[i].key));
		buf_adds(b, ": ");
		emit_value(b, m[i].value, indent, level + 1);
	}
	emit_close(b, '}', indent, level, n);
}

/* Writes {"key": text} for the forms JSON has no spelling for; text is
 * already a JSON string. */
static void
emit_special(struct buf *b, const char *key, const char *text, int indent,
    unsigned level)
{
	buf_addc(b, '{');
	emit_sep(b, indent, level + 1, 1);
	emit_string(b, key, strlen(key));
	buf_adds(b, ": ");
	buf_adds(b, text);
	emit_close(b, '}', indent, level, 1);
}

static void
emit_list(struct buf *b, const Objd__ListValue *l, int indent, unsigned level)
{
	size_t n = l != NULL ? l->n_values : 0;

	buf_addc(b, '[');
	for (size_t i = 0; i < n; i++) {
		emit_sep(b, indent, level + 1, i == 0);
		emit_value(b, l->values[i], indent, level + 1);
	}
	emit_close(b, ']', indent, level, n);
}

/* True if members would read back as a special form: a map whose only
 * member is "$bytes", "$double" or "$map". */
static bool
members_special(const struct member *m, size_t n)
{
	return n == 1 &&
	    (strcmp(m[0].key, "$bytes") == 0 ||
	        strcmp(m[0].key, "$double") == 0 ||
	        strcmp(m[0].key, "$map") == 0);
}

/* Writes members as a map, escaped as {"$map": {...}} where they would
 * otherwise read back as a special form. */
static void
emit_object(struct buf *b, struct member *m, size_t n, int indent,
    unsigned level)
{
	if (!members_special(m, n)) {
		emit_members(b, m, n, indent, level);
		return;
	}
	buf_addc(b, '{');
	emit_sep(b, indent, level + 1, 1);
	emit_string(b, "$map", strlen("$map"));
	buf_adds(b, ": ");
	emit_members(b, m, n, indent, level + 1);
	emit_close(b, '}', indent, level, 1);
}

static void
emit_map(struct buf *b, const Objd__MapValue *m, int indent, unsigned level)
{
	size_t n = m != NULL ? m->n_fields : 0;
	struct member *mem = xreallocarray(NULL, n, sizeof(*mem));

	for (size_t i = 0; i < n; i++) {
		mem[i].key = m->fields[i]->key;
		mem[i].value = m->fields[i]->value;
	}
	emit_object(b, mem, n, indent, level);
	free(mem);
}

static void
emit_bytes(struct buf *b, const ProtobufCBinaryData *bin, int indent,
    unsigned level)
{
	struct buf text = { 0 };

	emit_base64(&text, bin->data, bin->len);
	emit_special(b, "$bytes", (char *)text.data, indent, level);
	free((char *)text.data);
}

static void
emit_nonfinite(struct buf *b, double d, int indent, unsigned level)
{
	const char *name = isnan(d) ? "\"nan\""
	    : d > 0                 ? "\"inf\""
	                            : "\"-inf\"";

	emit_special(b, "$double", name, indent, level);
}

/* Recursion is bounded: every Value objd holds was checked to nest at
 * most VALUE_DEPTH_MAX deep, by pbcheck or by json_to_value. */
static void
emit_value(struct buf *b, const Objd__Value *v, int indent, unsigned level)
{
	char num[32];

	switch (v != NULL ? v->kind_case : OBJD__VALUE__KIND__NOT_SET) {
	case OBJD__VALUE__KIND_BOOL_VALUE:
		buf_adds(b, v->bool_value ? "true" : "false");
		break;
	case OBJD__VALUE__KIND_INT_VALUE:
		snprintf(num, sizeof(num), "%" PRId64, v->int_value);
		buf_adds(b, num);
		break;
	case OBJD__VALUE__KIND_DOUBLE_VALUE:
		if (isfinite(v->double_value))
			emit_double(b, v->double_value);
		else
			emit_nonfinite(b, v->double_value, indent, level);
		break;
	case OBJD__VALUE__KIND_STRING_VALUE:
		emit_string(b, v->string_value, strlen(v->string_value));
		break;
	case OBJD__VALUE__KIND_BYTES_VALUE:
		emit_bytes(b, &v->bytes_value, indent, level);
		break;
	case OBJD__VALUE__KIND_LIST_VALUE:
		emit_list(b, v->list_value, indent, level);
		break;
	case OBJD__VALUE__KIND_MAP_VALUE:
		emit_map(b, v->map_value, indent, level);
		break;
	default:
		/* null, and a value without a kind, which is invalid anyway. */
		buf_adds(b, "null");
		break;
	}
}

char *
json_from_value(const Objd__Value *v, int indent)
{
	struct buf b = { 0 };

	emit_value(&b, v, indent < 0 ? 0 : indent, 0);
	return buf_take_text(&b);
}

char *
json_from_entries(Objd__Entry *const *entries, size_t n, int indent)
{
	struct buf b = { 0 };
	struct member *mem = xreallocarray(NULL, n, sizeof(*mem));

	for (size_t i = 0; i < n; i++) {
		mem[i].key = entries[i]->key;
		mem[i].value = entries[i]->value;
	}
	emit_object(&b, mem, n, indent < 0 ? 0 : indent, 0);
	free(mem);
	return buf_take_text(&b);
}

static int
b64_digit(char c)
{
	const char *p;

	if (c == '\0' || (p = strchr(b64_alphabet, c)) == NULL)
		return -1;
	return (int)(p - b64_alphabet);
}

/* Strict base64: the standard alphabet, padded, and no stray bits, so
 * that every byte string has exactly one spelling. out must hold
 * len / 4 * 3 bytes; *outlen is set to the bytes decoded. */
static bool
b64_decode(const char *s, size_t len, uint8_t *out, size_t *outlen)
{
	size_t i, o = 0, pad = 0;

	if (len % 4 != 0)
		return false;
	if (len > 0 && s[len - 1] == '=')
		pad = len > 1 && s[len - 2] == '=' ? 2 : 1;
	for (i = 0; i < len; i += 4) {
		uint32_t w = 0;
		int k, d;

		for (k = 0; k < 4; k++) {
			if (i + k >= len - pad) {
				w <<= 6;
				continue;
			}
			if ((d = b64_digit(s[i + k])) < 0)
				return false;
			w = w << 6 | (uint32_t)d;
		}
		out[o++] = (uint8_t)(w >> 16);
		out[o++] = (uint8_t)(w >> 8);
		out[o++] = (uint8_t)w;
	}
	o -= pad;
	/* The bits that padding covers must be zero. */
	if (pad > 0 && out[o] != 0)
		return false;
	*outlen = o;
	return true;
}

static Objd__Value *conv_value(struct conv *, json_t *, unsigned);

static Objd__Value *conv_fail(struct conv *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes the reason and where it is, as a jq path ("." is the top). */
static Objd__Value *
conv_fail(struct conv *c, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s (at %s%s)", why,
	    c->path.len == 0 || c->path.data[0] == '[' ? "." : "",
	    c->path.len > 0 ? (char *)c->path.data : "");
	return NULL;
}

/* A key is written .key when jq would read it so, else .["key"]. */
static void
path_push_key(struct conv *c, const char *key)
{
	size_t n = strspn(key,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");

	if (key[0] != '\0' && key[n] == '\0' &&
	    !(key[0] >= '0' && key[0] <= '9')) {
		buf_addc(&c->path, '.');
		buf_adds(&c->path, key);
		return;
	}
	buf_adds(&c->path, ".[");
	emit_string(&c->path, key, strlen(key));
	buf_addc(&c->path, ']');
}

static void
path_pop(struct conv *c, size_t len)
{
	c->path.len = len;
	if (c->path.data != NULL)
		c->path.data[len] = '\0';
}

static Objd__Value *
conv_bytes(struct conv *c, json_t *j)
{
	const char *s = json_string_value(j);
	size_t len = json_string_length(j);
	uint8_t *raw;
	Objd__Value *v;
	size_t n;

	if (s == NULL)
		return conv_fail(c, "\"$bytes\" must be a base64 string");
	raw = xmalloc(len / 4 * 3 + 1);
	if (!b64_decode(s, len, raw, &n)) {
		free(raw);
		return conv_fail(c,
		    "\"$bytes\" is not valid base64 "
		    "(standard alphabet, with = padding)");
	}
	v = value_new_bytes(raw, n);
	free(raw);
	return v;
}

static Objd__Value *
conv_double(struct conv *c, json_t *j)
{
	const char *s = json_string_value(j);

	if (s != NULL && strcmp(s, "nan") == 0)
		return value_new_double(NAN);
	if (s != NULL && strcmp(s, "inf") == 0)
		return value_new_double(INFINITY);
	if (s != NULL && strcmp(s, "-inf") == 0)
		return value_new_double(-INFINITY);
	return conv_fail(c, "\"$double\" must be \"nan\", \"inf\" or \"-inf\"");
}

static Objd__Value *
conv_list(struct conv *c, json_t *j, unsigned depth)
{
	Objd__Value *list = value_new_list(), *item;
	size_t i, mark = c->path.len;
	char idx[32];
	json_t *elem;

	for (i = 0; i < json_array_size(j); i++) {
		elem = json_array_get(j, i);
		snprintf(idx, sizeof(idx), "[%zu]", i);
		buf_adds(&c->path, idx);
		if ((item = conv_value(c, elem, depth + 1)) == NULL) {
			value_free(list);
			return NULL;
		}
		path_pop(c, mark);
		value_list_append(list, item);
	}
	return list;
}

/* The members of the JSON object j, as a map, whatever their names. */
static Objd__Value *
conv_members(struct conv *c, json_t *j, unsigned depth)
{
	Objd__Value *map, *item;
	size_t mark = c->path.len;
	const char *key;
	json_t *elem;
	void *it;

	map = value_new_map();
	for (it = json_object_iter(j); it != NULL;
	     it = json_object_iter_next(j, it)) {
		key = json_object_iter_key(it);
		elem = json_object_iter_value(it);
		path_push_key(c, key);
		if ((item = conv_value(c, elem, depth + 1)) == NULL) {
			value_free(map);
			return NULL;
		}
		path_pop(c, mark);
		value_map_add(map, key, strlen(key), item);
	}
	return map;
}

/* {"$map": {...}} is the inner map taken as it is: the escape of a map
 * that would otherwise read as a special form. The wrapper is no level
 * of nesting of its own. */
static Objd__Value *
conv_literal_map(struct conv *c, json_t *j, unsigned depth)
{
	size_t mark = c->path.len;
	Objd__Value *map;

	if (!json_is_object(j))
		return conv_fail(c,
		    "\"$map\" must be an object: the map taken as it is");
	path_push_key(c, "$map");
	if ((map = conv_members(c, j, depth)) != NULL)
		path_pop(c, mark);
	return map;
}

static Objd__Value *
conv_map(struct conv *c, json_t *j, unsigned depth)
{
	json_t *elem;

	if (json_object_size(j) == 1) {
		if ((elem = json_object_get(j, "$bytes")) != NULL)
			return conv_bytes(c, elem);
		if ((elem = json_object_get(j, "$double")) != NULL)
			return conv_double(c, elem);
		if ((elem = json_object_get(j, "$map")) != NULL)
			return conv_literal_map(c, elem, depth);
	}
	return conv_members(c, j, depth);
}

/* Recurses at most VALUE_DEPTH_MAX + 1 deep, whatever jansson accepted. */
static Objd__Value *
conv_value(struct conv *c, json_t *j, unsigned depth)
{
	if (depth > VALUE_DEPTH_MAX)
		return conv_fail(c, "value nested deeper than %d levels",
		    VALUE_DEPTH_MAX);
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return conv_map(c, j, depth);
	case JSON_ARRAY:
		return conv_list(c, j, depth);
	case JSON_STRING:
		/* jansson refuses \u0000 already; this keeps it so. */
		if (memchr(json_string_value(j), '\0', json_string_length(j)))
			return conv_fail(c, "a string holds a NUL character");
		return value_new_string(json_string_value(j),
		    json_string_length(j));
	case JSON_INTEGER:
		return value_new_int(json_integer_value(j));
	case JSON_REAL:
		return value_new_double(json_real_value(j));
	case JSON_TRUE:
		return value_new_bool(true);
	case JSON_FALSE:
		return value_new_bool(false);
	default:
		return value_new_null();
	}
}

/* Words for jansson's errors where its own would puzzle a user. */
static const char *
parse_error_text(const json_error_t *je)
{
	switch (json_error_code(je)) {
	case json_error_null_character:
		return "a string holds a NUL character (\\u0000), which objd "
		       "cannot store; keep binary data as {\"$bytes\": "
		       "\"<base64>\"}";
	case json_error_stack_overflow:
		/* jansson's own limit is far beyond objd's. */
		return "value nested deeper than " DEPTH_MAX_STR " levels";
	case json_error_numeric_overflow:
		return "number out of range (integers are signed 64-bit, "
		       "doubles must be finite)";
	case json_error_invalid_utf8:
		return "the text is not valid UTF-8; keep binary data as "
		       "{\"$bytes\": \"<base64>\"}";
	default:
		return je->text;
	}
}

/* Parses text; on failure *syntax tells a JSON error from a document
 * objd cannot keep. */
static Objd__Value *
json_parse(const char *text, size_t len, char *err, size_t errlen, bool *syntax)
{
	struct conv c = { .err = err, .errlen = errlen };
	json_error_t je;
	Objd__Value *v;
	json_t *j;

	/* No JSON_ALLOW_NUL: jansson then refuses \u0000 itself, with its
	 * line and column. */
	j = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
	    &je);
	if (j == NULL) {
		enum json_error_code code = json_error_code(&je);

		*syntax = code != json_error_null_character &&
		    code != json_error_stack_overflow &&
		    code != json_error_numeric_overflow;
		snprintf(err, errlen, "line %d, column %d: %s", je.line,
		    je.column, parse_error_text(&je));
		return NULL;
	}
	v = conv_value(&c, j, 1);
	*syntax = false;
	json_decref(j);
	free(c.path.data);
	return v;
}

Objd__Value *
json_to_value(const char *text, size_t len, char *err, size_t errlen)
{
	bool syntax;

	return json_parse(text, len, err, errlen, &syntax);
}

/* True if s is spelled as a JSON number (RFC 8259, section 6). */
static bool
json_number_spelling(const char *s, bool *integral)
{
	size_t n;

	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		s += strspn(s, "0123456789");
	else
		return false;
	*integral = *s == '\0';
	if (*s == '.') {
		if ((n = strspn(s + 1, "0123456789")) == 0)
			return false;
		s += n + 1;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if ((n = strspn(s, "0123456789")) == 0)
			return false;
		s += n;
	}
	return *s == '\0';
}

Objd__Value *
json_value_from_arg(const char *arg, char *err, size_t errlen)
{
	char why[512];
	bool integral, syntax;
	Objd__Value *v;

	if (strcmp(arg, "true") == 0 || strcmp(arg, "false") == 0 ||
	    strcmp(arg, "null") == 0 || arg[0] == '[' || arg[0] == '{' ||
	    arg[0] == '"') {
		if ((v = json_parse(arg, strlen(arg), why, sizeof(why),
		         &syntax)) != NULL)
			return v;
		snprintf(err, errlen,
		    "%s%s; to store it as a string, use --string",
		    syntax ? "value is not valid JSON: " : "invalid value: ",
		    why);
		return NULL;
	}
	if (json_number_spelling(arg, &integral)) {
		if ((v = json_to_value(arg, strlen(arg), why, sizeof(why))) !=
		    NULL)
			return v;
		snprintf(err, errlen,
		    "%.40s%s is out of range for %s; to store it as a string, "
		    "use --string",
		    arg, strlen(arg) > 40 ? "..." : "",
		    integral ? "a 64-bit integer" : "a double");
		return NULL;
	}
	/* Anything else is the string itself (John, 01234, 1.2.3). */
	if (!utf8_valid(arg, strlen(arg))) {
		snprintf(err, errlen,
		    "value is not valid UTF-8 text; store binary data as "
		    "{\"$bytes\": \"<base64>\"}");
		return NULL;
	}
	return value_new_string(arg, strlen(arg));
}
