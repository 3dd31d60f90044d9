/* SPDX-License-Identifier: ISC */
/* bench-wire.c: objd-bench's bytes on the wire, in objd's protocol or in
 * redis's (RESP).
 *
 * A test's request is encoded once, as a template, and read back as the
 * server will read it before it is used: a wrong template would measure
 * nonsense. The run loop (objd-bench.c) copies the template for each
 * request and writes the id, the keys' digits and a counter in the
 * values over it, at the offsets the template records. An answer is cut
 * out of what a client read and checked: objd's id and status OK, or a
 * redis reply that is not an error. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "framing.h"
#include "objd-client.h"
#include "pbcheck.h"
#include "pbwire.h"
#include "xmalloc.h"

/* Template encoding: a buffer sized up front, written in order. */
struct enc {
	uint8_t *p;
	size_t len;
};

static void
enc_byte(struct enc *e, uint8_t b)
{
	e->p[e->len++] = b;
}

static void
enc_varint(struct enc *e, uint64_t v)
{
	e->len += varint_encode(e->p + e->len, v);
}

static void
enc_bytes(struct enc *e, const void *p, size_t len)
{
	memcpy(e->p + e->len, p, len);
	e->len += len;
}

void
put_digits(uint8_t *p, uint64_t n)
{
	for (size_t i = BENCH_KEY_DIGITS; i-- > 0;) {
		p[i] = (uint8_t)('0' + n % 10);
		n /= 10;
	}
}

/* Writes the key field (key:000000000000), whose tag is tag, and
 * records where its digits are. */
static void
enc_key(struct enc *e, uint8_t tag, size_t *digits_off)
{
	enc_byte(e, tag);
	enc_varint(e, BENCH_KEY_LEN);
	enc_bytes(e, BENCH_KEY_PREFIX, sizeof(BENCH_KEY_PREFIX) - 1);
	*digits_off = e->len;
	memset(e->p + e->len, '0', BENCH_KEY_DIGITS);
	e->len += BENCH_KEY_DIGITS;
}

/* Encodes a Request of kind with nkeys keys, keys 0 .. nkeys - 1 and
 * values of datasize 'x', as one frame (tags from pbwire.h). */
static void tmpl_build_resp(struct tmpl *, enum test_kind, size_t, size_t);

void
tmpl_build(struct tmpl *t, bool redis, enum test_kind kind, size_t nkeys,
    size_t datasize)
{
	size_t key_field = 1 + varint_size(BENCH_KEY_LEN) + BENCH_KEY_LEN;
	size_t value = 1 + varint_size(datasize) + datasize;
	size_t entry = key_field + 1 + varint_size(value) + value;
	size_t operation = 1 + varint_size(entry) + entry;
	size_t op, body;
	uint8_t op_tag;
	struct enc e;

	if (redis) {
		tmpl_build_resp(t, kind, nkeys, datasize);
		return;
	}
	switch (kind) {
	case T_PING:
		op_tag = PBW_REQUEST_PING_TAG;
		op = 0;
		nkeys = 0;
		break;
	case T_GET:
	case T_DEL:
		op_tag = kind == T_GET ? PBW_REQUEST_GET_TAG
		                       : PBW_REQUEST_DELETE_TAG;
		op = nkeys * key_field;
		break;
	case T_BATCH:
		op_tag = PBW_REQUEST_BATCH_TAG;
		op = nkeys * (1 + varint_size(operation) + operation);
		break;
	default:
		op_tag = PBW_REQUEST_SET_TAG;
		op = nkeys * (1 + varint_size(entry) + entry);
		break;
	}
	body = 1 + varint_size(BENCH_ID_BASE) + 1 + varint_size(op) + op;
	t->len = varint_size(body) + body;
	t->frame = xmalloc(t->len);
	t->nkeys = nkeys;
	t->key_off = xcalloc(nkeys ? nkeys : 1, sizeof(*t->key_off));
	t->val_off = xcalloc(nkeys ? nkeys : 1, sizeof(*t->val_off));
	e.p = t->frame;
	e.len = 0;
	enc_varint(&e, body);
	enc_byte(&e, PBW_REQUEST_ID_TAG);
	t->id_off = e.len;
	enc_varint(&e, BENCH_ID_BASE);
	enc_byte(&e, op_tag);
	enc_varint(&e, op);
	for (size_t i = 0; i < nkeys; i++) {
		if (op_tag != PBW_REQUEST_SET_TAG &&
		    op_tag != PBW_REQUEST_BATCH_TAG) {
			/* Get.keys and Delete.keys */
			enc_key(&e,
			    op_tag == PBW_REQUEST_GET_TAG ? PBW_GET_KEYS_TAG
			                                  : PBW_DELETE_KEYS_TAG,
			    &t->key_off[i]);
			put_digits(t->frame + t->key_off[i], i);
			continue;
		}
		if (op_tag == PBW_REQUEST_BATCH_TAG) {
			enc_byte(&e, PBW_BATCH_OPERATIONS_TAG);
			enc_varint(&e, operation);
			enc_byte(&e, PBW_OPERATION_SET_TAG);
		} else
			enc_byte(&e, PBW_SET_ENTRIES_TAG);
		enc_varint(&e, entry);
		enc_key(&e, PBW_ENTRY_KEY_TAG, &t->key_off[i]);
		put_digits(t->frame + t->key_off[i], i);
		enc_byte(&e, PBW_ENTRY_VALUE_TAG);
		enc_varint(&e, value);
		enc_byte(&e, PBW_VALUE_STRING_TAG);
		enc_varint(&e, datasize);
		t->val_off[i] = e.len;
		memset(t->frame + e.len, 'x', datasize);
		e.len += datasize;
	}
	if (e.len != t->len)
		die("internal error: template of %zu bytes, %zu written",
		    t->len, e.len);
}

/* A RESP command being built. */
struct resp {
	char *data;
	size_t len, cap;
};

static void
resp_reserve(struct resp *b, size_t n)
{
	if (b->cap - b->len < n) {
		b->cap = (b->len + n) * 2;
		b->data = xrealloc(b->data, b->cap);
	}
}

/* A RESP header: the type character and a count, as "*3\r\n". */
static void
resp_header(struct resp *b, char type, size_t n)
{
	resp_reserve(b, 24);
	b->len += (size_t)snprintf(b->data + b->len, 24, "%c%zu\r\n", type, n);
}

/* Appends a RESP bulk string of len bytes; its bytes are 'x' if text is
 * NULL. Returns where they are. */
static size_t
resp_bulk(struct resp *b, const char *text, size_t len)
{
	size_t at;

	resp_header(b, '$', len);
	at = b->len;
	resp_reserve(b, len + 2);
	if (text != NULL)
		memcpy(b->data + at, text, len);
	else
		memset(b->data + at, 'x', len);
	memcpy(b->data + at + len, "\r\n", 2);
	b->len += len + 2;
	return at;
}

/* The redis command of kind, as a RESP array, with the same keys and
 * values as tmpl_build's request: GET, SET, DEL, PING, or MSET for mset
 * and fill. */
static void
tmpl_build_resp(struct tmpl *t, enum test_kind kind, size_t nkeys,
    size_t datasize)
{
	static const char *const commands[] = {
		[T_PING] = "PING",
		[T_GET] = "GET",
		[T_SET] = "SET",
		[T_DEL] = "DEL",
		[T_MSET] = "MSET",
		[T_FILL] = "MSET",
		[T_BATCH] = "MSET",
	};
	const char *command = commands[kind];
	bool values = kind == T_SET || kind == T_MSET || kind == T_FILL ||
	    kind == T_BATCH;
	struct resp b = { 0 };
	char key[BENCH_KEY_LEN];

	if (kind == T_PING)
		nkeys = 0;
	t->nkeys = nkeys;
	t->key_off = xcalloc(nkeys ? nkeys : 1, sizeof(*t->key_off));
	t->val_off = xcalloc(nkeys ? nkeys : 1, sizeof(*t->val_off));
	t->id_off = SIZE_MAX;
	resp_header(&b, '*', 1 + nkeys * (values ? 2 : 1));
	resp_bulk(&b, command, strlen(command));
	memcpy(key, BENCH_KEY_PREFIX, sizeof(BENCH_KEY_PREFIX) - 1);
	for (size_t i = 0; i < nkeys; i++) {
		put_digits((uint8_t *)key + sizeof(BENCH_KEY_PREFIX) - 1, i);
		t->key_off[i] = resp_bulk(&b, key, BENCH_KEY_LEN) +
		    sizeof(BENCH_KEY_PREFIX) - 1;
		if (values)
			t->val_off[i] = resp_bulk(&b, NULL, datasize);
	}
	t->frame = (uint8_t *)b.data;
	t->len = b.len;
}

/* Reads the RESP template back, as redis will, and checks that it holds
 * the command, keys and values it should. */
static void
tmpl_verify_resp(const struct tmpl *t, enum test_kind kind, size_t datasize)
{
	const char *p = (const char *)t->frame, *end = p + t->len;
	bool values = kind == T_SET || kind == T_MSET || kind == T_FILL ||
	    kind == T_BATCH;
	size_t n, len, per_key = values ? 2 : 1;
	char key[BENCH_KEY_LEN], *e;

	n = strtoul(p + 1, &e, 10);
	if (*p != '*' || n != 1 + t->nkeys * per_key ||
	    strncmp(e, "\r\n", 2) != 0)
		die("internal error: bad redis command template");
	p = e + 2;
	memcpy(key, BENCH_KEY_PREFIX, sizeof(BENCH_KEY_PREFIX) - 1);
	for (size_t i = 0; i < n; i++) {
		len = strtoul(p + 1, &e, 10);
		if (*p != '$' || strncmp(e, "\r\n", 2) != 0 ||
		    (size_t)(end - (e + 2)) < len + 2 ||
		    strncmp(e + 2 + len, "\r\n", 2) != 0)
			die("internal error: bad redis command template");
		p = e + 2;
		/* Element 0 is the command; then keys, each with its value
		 * in a set. */
		if (i > 0 && (i - 1) % per_key == 0) {
			put_digits((uint8_t *)key + sizeof(BENCH_KEY_PREFIX) -
			        1,
			    (i - 1) / per_key);
			if (len != BENCH_KEY_LEN || memcmp(p, key, len) != 0)
				die("internal error: a key of the template is "
				    "wrong");
		} else if (i > 0 && len != datasize)
			die("internal error: a value of the template is wrong");
		p += len + 2;
	}
	if (p != end)
		die("internal error: bytes after the redis command template");
}

/* Decodes the template with protobuf-c, as objd will, and checks that
 * it says what it should: a wrong template would measure nonsense. */
void
tmpl_verify(const struct tmpl *t, bool redis, enum test_kind kind,
    size_t datasize)
{
	size_t hlen, blen, n = 0;

	if (redis) {
		tmpl_verify_resp(t, kind, datasize);
		return;
	}

	Objd__Request *req;
	char err[256], key[BENCH_KEY_LEN + 1];
	bool ok = true;

	if (frame_parse_header(t->frame, t->len, FRAME_MAX_DEFAULT, &hlen,
	        &blen) != FRAME_OK ||
	    hlen + blen != t->len)
		die("internal error: bad template frame");
	if (!pbcheck(&objd__request__descriptor, t->frame + hlen, blen, err,
	        sizeof(err)))
		die("internal error: bad template: %s", err);
	req = objd__request__unpack(NULL, blen, t->frame + hlen);
	if (req == NULL || req->id != BENCH_ID_BASE)
		die("internal error: template does not decode");
	for (size_t i = 0; i < t->nkeys; i++) {
		memcpy(key, BENCH_KEY_PREFIX, sizeof(BENCH_KEY_PREFIX) - 1);
		put_digits((uint8_t *)key + sizeof(BENCH_KEY_PREFIX) - 1, i);
		key[BENCH_KEY_LEN] = '\0';
		switch (kind) {
		case T_GET:
			ok = ok && req->op_case == OBJD__REQUEST__OP_GET &&
			    req->get->n_keys == t->nkeys &&
			    strcmp(req->get->keys[i], key) == 0;
			break;
		case T_DEL:
			ok = ok && req->op_case == OBJD__REQUEST__OP_DELETE &&
			    req->delete_->n_keys == t->nkeys &&
			    strcmp(req->delete_->keys[i], key) == 0;
			break;
		case T_BATCH:
			ok = ok && req->op_case == OBJD__REQUEST__OP_BATCH &&
			    req->batch->n_operations == t->nkeys &&
			    req->batch->operations[i]->op_case ==
			        OBJD__OPERATION__OP_SET &&
			    strcmp(req->batch->operations[i]->set->key, key) ==
			        0 &&
			    req->batch->operations[i]->set->value->kind_case ==
			        OBJD__VALUE__KIND_STRING_VALUE &&
			    strlen(req->batch->operations[i]
			               ->set->value->string_value) == datasize;
			break;
		default:
			ok = ok && req->op_case == OBJD__REQUEST__OP_SET &&
			    req->set->n_entries == t->nkeys &&
			    strcmp(req->set->entries[i]->key, key) == 0 &&
			    req->set->entries[i]->value->kind_case ==
			        OBJD__VALUE__KIND_STRING_VALUE &&
			    strlen(req->set->entries[i]->value->string_value) ==
			        datasize;
			break;
		}
		n++;
	}
	if (kind == T_PING)
		ok = req->op_case == OBJD__REQUEST__OP_PING;
	objd__request__free_unpacked(req, NULL);
	if (!ok || n != t->nkeys)
		die("internal error: the template decodes to another request");
}

void
tmpl_free(struct tmpl *t)
{
	free(t->frame);
	free(t->key_off);
	free(t->val_off);
	memset(t, 0, sizeof(*t));
}

/* Writes a counter into a value as hex digits, the last ones first, so
 * that a set always changes the value (objd commits nothing for a set to
 * the value a key already has; redis writes anyway). */
void
put_counter(uint8_t *p, size_t len, uint64_t n)
{
	static const char hex[] = "0123456789abcdef";

	if (len > 16)
		len = 16;
	for (size_t i = len; i-- > 0;) {
		p[i] = (uint8_t)hex[n & 0xf];
		n >>= 4;
	}
}

static bool
read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	int n = varint_decode(*p, (size_t)(end - *p), v);

	if (n <= 0)
		return false;
	*p += n;
	return true;
}

/* Checks one answer: its id, and status OK. Response fields: id 1,
 * status 2, error 3; the rest is skipped. */
static void
answer_check(const char *title, const uint8_t *p, size_t len, uint64_t id)
{
	const uint8_t *end = p + len, *error = NULL;
	uint64_t tag, v, got_id = 0, status = 0, error_len = 0;

	while (p < end) {
		if (!read_varint(&p, end, &tag))
			goto bad;
		switch (tag & 7) {
		case 0:
			if (!read_varint(&p, end, &v))
				goto bad;
			if (tag >> 3 == 1)
				got_id = v;
			else if (tag >> 3 == 2)
				status = v;
			break;
		case 1:
			if (end - p < 8)
				goto bad;
			p += 8;
			break;
		case 2:
			if (!read_varint(&p, end, &v) ||
			    v > (uint64_t)(end - p))
				goto bad;
			if (tag >> 3 == 3) {
				error = p;
				error_len = v;
			}
			p += v;
			break;
		case 5:
			if (end - p < 4)
				goto bad;
			p += 4;
			break;
		default:
			goto bad;
		}
	}
	if (status != 0)
		die("%s: objd answered %s: %.*s", title,
		    objd_strerror((int)status),
		    error_len > INT_MAX ? INT_MAX : (int)error_len,
		    error != NULL ? (const char *)error : "");
	if (got_id != id)
		die("%s: answer for request %" PRIu64 " where %" PRIu64
		    " was due",
		    title, got_id - BENCH_ID_BASE, id - BENCH_ID_BASE);
	return;
bad:
	die("%s: objd sent a malformed answer", title);
}

/* The length of the RESP reply at p, checked; 0 if it is not all in
 * yet, and then *need is the bytes it takes, if known. */
static size_t
resp_reply(const char *title, const uint8_t *p, size_t len, size_t *need)
{
	const uint8_t *nl = memchr(p, '\n', len);
	size_t line;
	long long n;
	char *end;

	if (nl == NULL)
		return 0;
	line = (size_t)(nl - p) + 1;
	if (line < 3 || nl[-1] != '\r')
		die("%s: redis sent a malformed reply", title);
	switch (p[0]) {
	case '+': /* +OK, +PONG */
	case ':': /* the count of a DEL */
		return line;
	case '-':
		die("%s: redis answered %.*s", title, (int)line - 2,
		    (const char *)p);
	case '$':
		errno = 0;
		n = strtoll((const char *)p + 1, &end, 10);
		if (errno != 0 || end != (const char *)nl - 1 || n < -1 ||
		    n > (long long)BENCH_VALUE_MAX)
			die("%s: redis sent a malformed reply", title);
		/* As objd's NOT_FOUND: after the fill every key is there. */
		if (n == -1)
			die("%s: redis has no such key", title);
		*need = line + (size_t)n + 2;
		if (len < *need)
			return 0;
		if (p[*need - 2] != '\r' || p[*need - 1] != '\n')
			die("%s: redis sent a malformed reply", title);
		return *need;
	default:
		die("%s: redis sent a reply of type '%c', not expected here",
		    title, p[0]);
	}
}

/* The length of the answer at p, checked against the request it is
 * due for, id; 0 if it is not all in yet, and then *need is the bytes it
 * takes, if known. */
size_t
answer_take(bool redis, const char *title, uint64_t id, const uint8_t *p,
    size_t len, size_t *need)
{
	size_t hlen, blen;
	enum frame_status st;

	*need = 0;
	if (redis)
		return resp_reply(title, p, len, need);
	st = frame_parse_header(p, len, FRAME_MAX_DEFAULT, &hlen, &blen);
	if (st == FRAME_SHORT)
		return 0;
	if (st != FRAME_OK)
		die("%s: objd sent a bad frame: %s", title,
		    frame_status_str(st));
	*need = hlen + blen;
	if (len < hlen + blen)
		return 0;
	answer_check(title, p + hlen, blen, id);
	return hlen + blen;
}
