/* SPDX-License-Identifier: ISC */
/* objd-bench.c: a load generator for objd, in the manner of
 * redis-benchmark.
 *
 * One thread drives every client from one epoll loop. A test encodes its
 * request once, as a template frame; each request is a copy of it with
 * its id, its keys and a counter in its values written over in place, so
 * that the client costs a memcpy and a few stores per request. A client
 * sends a batch of -P requests with one write and reads their answers;
 * the latency of a request runs from the start of its batch's write to
 * the read that completes its answer. Every answer is checked: its id,
 * and its status, which must be OK.
 *
 * Keys are "key:" and twelve digits, as redis-benchmark writes
 * key:__rand_int__, so that both tools touch the same keys.
 *
 * With --redis it speaks redis's protocol (RESP) instead, to a
 * redis-server: the same requests as redis commands, from the same
 * loop, so that the two servers can be compared with one client program
 * and not only with two (make bench). */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "framing.h"
#include "objd-client.h"
#include "paths.h"
#include "pbcheck.h"
#include "pbwire.h"
#include "version.h"
#include "xmalloc.h"

/* Ids from here on take nine bytes as varints, so they are written over
 * a template without moving anything. */
#define BENCH_ID_BASE ((uint64_t)1 << 56)
#define BENCH_KEY_PREFIX "key:"
#define BENCH_KEY_DIGITS 12
#define BENCH_KEY_LEN (sizeof(BENCH_KEY_PREFIX) - 1 + BENCH_KEY_DIGITS)
/* The key space reaches at most this far: twelve digits. */
#define BENCH_KEYSPACE_MAX 1000000000000ULL
/* Keys per request of the fill, and of mset. */
#define BENCH_FILL_KEYS 100
#define BENCH_MSET_KEYS 10
/* The largest value, and the largest frame read back. */
#define BENCH_VALUE_MAX ((size_t)1 << 24)
#define BENCH_READ_CHUNK 16384
/* Without a single answer for this long, objd is taken for stuck. */
#define BENCH_STALL_MS 30000
#define BENCH_EVENTS 64

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

enum test_kind { T_PING, T_GET, T_SET, T_DEL, T_MSET, T_FILL, T_BATCH };

struct test {
	const char *name;  /* for -t */
	const char *title; /* in the report */
	enum test_kind kind;
	const char *help;
};

static const struct test tests[] = {
	{ "ping", "PING", T_PING, "ping" },
	{ "get", "GET", T_GET,
	    "get of one random key (the key space is filled first)" },
	{ "set", "SET", T_SET, "set of one random key to a -d byte string" },
	{ "del", "DEL", T_DEL,
	    "delete of each key once, in order (filled first; -n at most -r)" },
	{ "mset", "MSET (10 keys)", T_MSET,
	    "set of 10 consecutive keys from a random one, in one change" },
	{ "fill", "FILL", T_FILL,
	    "set of every key of the space once, 100 keys a request; "
	    "counts keys" },
	{ "batch", "BATCH", T_BATCH,
	    "Batch setting -k consecutive keys from a random one, in one "
	    "change (redis: MSET)" },
};

/* A request encoded once, and where its varying bytes are. */
struct tmpl {
	uint8_t *frame;
	size_t len;
	size_t id_off; /* the nine bytes of the id */
	size_t nkeys;
	size_t *key_off; /* the digits of each key */
	size_t *val_off; /* the bytes of each value, for a set */
};

struct client {
	int fd;
	uint8_t *out; /* the batch being sent */
	size_t out_len, out_off;
	bool polling_out; /* EPOLLOUT is asked for */
	uint8_t *in;
	size_t in_len, in_cap;
	uint64_t started;  /* ns: when the batch's write began */
	uint64_t first_id; /* the id of the batch's first request */
	size_t batch;      /* requests in the batch */
	size_t due;        /* answers of the batch still to come */
};

struct opts {
	const char *socket;
	size_t clients;
	size_t requests;
	size_t pipeline;
	size_t datasize;
	size_t batch_keys; /* keys of a batch test's change */
	uint64_t keyspace;
	uint64_t seed;
	bool csv;
	bool quiet;
	bool fill;  /* fill the key space before get and del */
	bool redis; /* speak RESP to a redis-server */
	const struct test
	    *order[NITEMS(tests)]; /* the tests, as -t lists them */
	size_t ntests;
};

/* One run of one test. */
struct run {
	const struct test *test;
	const struct tmpl *tmpl; /* the request, or the full fill request */
	const struct tmpl *tail; /* the fill's last, shorter request */
	size_t total;            /* requests to send */
	size_t issued;
	size_t done;
	uint64_t next_id;
	uint64_t cursor; /* the next key, for del and fill */
	uint32_t *lat;   /* ns, one per answered request */
	int epfd;
};

static struct opts opts;
static uint64_t rng_state;
/* Written into set values. It starts from the clock, not from --seed:
 * a second run with the same keys must not set the values the first
 * one left, or objd would have nothing to write. */
static uint64_t value_counter;

static _Noreturn void __attribute__((format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("objd-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: cheap, and the same keys for the same --seed. */
static uint64_t
rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static uint64_t
rng_below(uint64_t n)
{
	return n <= 1 ? 0 : rng_next() % n;
}

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

static void
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

static void
tmpl_build(struct tmpl *t, enum test_kind kind, size_t nkeys, size_t datasize)
{
	size_t key_field = 1 + varint_size(BENCH_KEY_LEN) + BENCH_KEY_LEN;
	size_t value = 1 + varint_size(datasize) + datasize;
	size_t entry = key_field + 1 + varint_size(value) + value;
	size_t operation = 1 + varint_size(entry) + entry;
	size_t op, body;
	uint8_t op_tag;
	struct enc e;

	if (opts.redis) {
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
static void
tmpl_verify(const struct tmpl *t, enum test_kind kind, size_t datasize)
{
	size_t hlen, blen, n = 0;

	if (opts.redis) {
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

static void
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
static void
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

/* Appends one request to c's batch. */
static void
request_add(struct run *r, struct client *c)
{
	const struct tmpl *t = r->tmpl;
	uint64_t base = 0;
	uint8_t *p;

	switch (r->test->kind) {
	case T_GET:
	case T_SET:
	case T_MSET:
	case T_BATCH:
		base = rng_below(opts.keyspace);
		break;
	case T_DEL:
		base = r->cursor++;
		break;
	case T_FILL:
		base = r->cursor;
		if (opts.keyspace - base < t->nkeys)
			t = r->tail;
		r->cursor += t->nkeys;
		break;
	case T_PING:
		break;
	}
	p = c->out + c->out_len;
	memcpy(p, t->frame, t->len);
	c->out_len += t->len;
	if (!opts.redis)
		varint_encode(p + t->id_off, r->next_id++);
	for (size_t i = 0; i < t->nkeys; i++) {
		uint64_t key = base + i;

		if (key >= opts.keyspace)
			key -= opts.keyspace;
		put_digits(p + t->key_off[i], key);
		if (r->test->kind == T_SET || r->test->kind == T_MSET ||
		    r->test->kind == T_BATCH)
			put_counter(p + t->val_off[i], opts.datasize,
			    value_counter++);
	}
}

static void
client_poll_out(struct run *r, struct client *c, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0),
		.data.ptr = c };

	if (c->polling_out == on)
		return;
	if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, c->fd, &ev) == -1)
		die("epoll_ctl: %s", strerror(errno));
	c->polling_out = on;
}

/* Waits for c's answers the way redis-benchmark does: its event loop
 * (hiredis on ae) takes the socket out of epoll once a request is
 * written and adds it back for reading. The make bench table sets the
 * two programs side by side, and on a VM how a client waits moves its
 * 1-client rate by as much as the servers differ: against the same
 * redis-server this is worth 13% there, and costs 4% with 50 clients. */
static void
client_rearm(struct run *r, struct client *c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

	if (epoll_ctl(r->epfd, EPOLL_CTL_DEL, c->fd, NULL) == -1 ||
	    epoll_ctl(r->epfd, EPOLL_CTL_ADD, c->fd, &ev) == -1)
		die("epoll_ctl: %s", strerror(errno));
}

static void
client_flush(struct run *r, struct client *c)
{
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		    MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			client_poll_out(r, c, true);
			return;
		}
		die("sending to objd: %s", strerror(errno));
	}
	if (c->polling_out)
		client_poll_out(r, c, false);
	else
		client_rearm(r, c);
}

/* Starts c's next batch, if requests are left to send. */
static void
client_next(struct run *r, struct client *c)
{
	size_t k = r->total - r->issued;

	if (k > opts.pipeline)
		k = opts.pipeline;
	if (k == 0)
		return;
	c->out_len = c->out_off = 0;
	c->first_id = r->next_id;
	for (size_t i = 0; i < k; i++)
		request_add(r, c);
	r->issued += k;
	c->batch = c->due = k;
	c->started = now_ns();
	client_flush(r, c);
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
answer_check(const struct run *r, const uint8_t *p, size_t len, uint64_t id)
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
		die("%s: objd answered %s: %.*s", r->test->title,
		    objd_strerror((int)status),
		    error_len > INT_MAX ? INT_MAX : (int)error_len,
		    error != NULL ? (const char *)error : "");
	if (got_id != id)
		die("%s: answer for request %" PRIu64 " where %" PRIu64
		    " was due",
		    r->test->title, got_id - BENCH_ID_BASE, id - BENCH_ID_BASE);
	return;
bad:
	die("%s: objd sent a malformed answer", r->test->title);
}

/* The length of the RESP reply at p, checked; 0 if it is not all in
 * yet, and then *need is the bytes it takes, if known. */
static size_t
resp_reply(const struct run *r, const uint8_t *p, size_t len, size_t *need)
{
	const uint8_t *nl = memchr(p, '\n', len);
	size_t line;
	long long n;
	char *end;

	if (nl == NULL)
		return 0;
	line = (size_t)(nl - p) + 1;
	if (line < 3 || nl[-1] != '\r')
		die("%s: redis sent a malformed reply", r->test->title);
	switch (p[0]) {
	case '+': /* +OK, +PONG */
	case ':': /* the count of a DEL */
		return line;
	case '-':
		die("%s: redis answered %.*s", r->test->title, (int)line - 2,
		    (const char *)p);
	case '$':
		errno = 0;
		n = strtoll((const char *)p + 1, &end, 10);
		if (errno != 0 || end != (const char *)nl - 1 || n < -1 ||
		    n > (long long)BENCH_VALUE_MAX)
			die("%s: redis sent a malformed reply", r->test->title);
		/* As objd's NOT_FOUND: after the fill every key is there. */
		if (n == -1)
			die("%s: redis has no such key", r->test->title);
		*need = line + (size_t)n + 2;
		if (len < *need)
			return 0;
		if (p[*need - 2] != '\r' || p[*need - 1] != '\n')
			die("%s: redis sent a malformed reply", r->test->title);
		return *need;
	default:
		die("%s: redis sent a reply of type '%c', not expected here",
		    r->test->title, p[0]);
	}
}

/* The length of the answer at p, checked against the request it is
 * due for; 0 if it is not all in yet, and then *need is the bytes it
 * takes, if known. */
static size_t
answer_take(const struct run *r, const struct client *c, const uint8_t *p,
    size_t len, size_t *need)
{
	size_t hlen, blen;
	enum frame_status st;

	*need = 0;
	if (opts.redis)
		return resp_reply(r, p, len, need);
	st = frame_parse_header(p, len, FRAME_MAX_DEFAULT, &hlen, &blen);
	if (st == FRAME_SHORT)
		return 0;
	if (st != FRAME_OK)
		die("%s: objd sent a bad frame: %s", r->test->title,
		    frame_status_str(st));
	*need = hlen + blen;
	if (len < hlen + blen)
		return 0;
	answer_check(r, p + hlen, blen, c->first_id + (c->batch - c->due));
	return hlen + blen;
}

/* Reads what the server sent c and takes every whole answer out of it. */
static void
client_read(struct run *r, struct client *c)
{
	size_t off = 0, used, need;
	uint64_t lat, t;
	ssize_t n;

	if (c->in_cap - c->in_len < BENCH_READ_CHUNK / 2) {
		c->in_cap *= 2;
		c->in = xrealloc(c->in, c->in_cap);
	}
	n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == -1)
		die("reading from the server: %s", strerror(errno));
	if (n == 0)
		die("%s: the server closed the connection", r->test->title);
	t = now_ns();
	c->in_len += (size_t)n;
	while (c->due > 0) {
		used = answer_take(r, c, c->in + off, c->in_len - off, &need);
		if (used == 0) {
			/* Room for the whole answer, for the next reads. */
			if (need > c->in_cap) {
				c->in_cap = need + BENCH_READ_CHUNK;
				c->in = xrealloc(c->in, c->in_cap);
			}
			break;
		}
		off += used;
		lat = t - c->started;
		r->lat[r->done++] =
		    lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
		c->due--;
	}
	if (c->due == 0 && c->in_len > off)
		die("%s: the server sent more than was asked", r->test->title);
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	if (c->due == 0)
		client_next(r, c);
}

static int
connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		die("socket path too long: %s", path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		die("socket: %s", strerror(errno));
	/* Blocking: a full backlog waits rather than fails. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		die("cannot connect to %s at %s: %s (is it running?)",
		    opts.redis ? "redis-server" : "objd", path,
		    strerror(errno));
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		die("fcntl: %s", strerror(errno));
	return fd;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* The q-quantile of n sorted latencies, in milliseconds. */
static double
quantile_ms(const uint32_t *lat, size_t n, double q)
{
	size_t i = (size_t)(q * (double)n + 0.999999);

	if (i > 0)
		i--;
	if (i >= n)
		i = n - 1;
	return lat[i] / 1e6;
}

static void
report(const struct run *r, size_t count, double seconds)
{
	const char *unit = r->test->kind == T_FILL ? "keys" : "requests";
	double rate = seconds > 0 ? (double)count / seconds : 0, sum = 0;
	double avg, min, p50, p99, p999, max;
	size_t n = r->done;

	qsort(r->lat, n, sizeof(*r->lat), cmp_u32);
	for (size_t i = 0; i < n; i++)
		sum += r->lat[i];
	avg = n ? sum / (double)n / 1e6 : 0;
	min = n ? r->lat[0] / 1e6 : 0;
	max = n ? r->lat[n - 1] / 1e6 : 0;
	p50 = n ? quantile_ms(r->lat, n, 0.5) : 0;
	p99 = n ? quantile_ms(r->lat, n, 0.99) : 0;
	p999 = n ? quantile_ms(r->lat, n, 0.999) : 0;
	if (opts.csv) {
		printf("\"%s\",\"%.2f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\","
		       "\"%.3f\",\"%.3f\"\n",
		    r->test->title, rate, avg, min, p50, p99, p999, max);
	} else if (opts.quiet) {
		printf("%s: %.2f %s per second, p50=%.3f p99=%.3f "
		       "p99.9=%.3f msec\n",
		    r->test->title, rate, unit, p50, p99, p999);
	} else {
		printf("====== %s ======\n", r->test->title);
		printf("  %zu %s completed in %.2f seconds", count, unit,
		    seconds);
		if (r->test->kind == T_FILL)
			printf(" (%zu requests)", n);
		printf("\n  %zu parallel clients, pipeline %zu\n", opts.clients,
		    opts.pipeline);
		printf("  %zu bytes payload, key space %" PRIu64 "\n",
		    opts.datasize, opts.keyspace);
		printf("  latency (msec): avg %.3f  min %.3f  p50 %.3f  "
		       "p99 %.3f  p99.9 %.3f  max %.3f\n",
		    avg, min, p50, p99, p999, max);
		printf("  throughput: %.2f %s per second\n\n", rate, unit);
	}
	fflush(stdout);
}

/* Runs one test with opts.clients connections; prints its figures
 * unless silent. */
static void
run_test(const struct test *test, bool silent)
{
	struct tmpl tmpl = { 0 }, tail = { 0 };
	struct epoll_event evs[BENCH_EVENTS];
	struct client *clients;
	struct run r = { .test = test, .next_id = BENCH_ID_BASE };
	size_t nkeys = 1, count, nclients = opts.clients;
	uint64_t start, end;
	int n;

	switch (test->kind) {
	case T_PING:
		nkeys = 0;
		break;
	case T_MSET:
		nkeys = opts.keyspace < BENCH_MSET_KEYS ? opts.keyspace
		                                        : BENCH_MSET_KEYS;
		break;
	case T_FILL:
		nkeys = opts.keyspace < BENCH_FILL_KEYS ? opts.keyspace
		                                        : BENCH_FILL_KEYS;
		break;
	case T_BATCH:
		nkeys = opts.keyspace < opts.batch_keys ? opts.keyspace
		                                        : opts.batch_keys;
		break;
	default:
		break;
	}
	tmpl_build(&tmpl, test->kind, nkeys, opts.datasize);
	tmpl_verify(&tmpl, test->kind, opts.datasize);
	r.tmpl = &tmpl;
	r.tail = &tmpl;
	r.total = opts.requests;
	if (test->kind == T_DEL && r.total > opts.keyspace)
		r.total = opts.keyspace;
	if (test->kind == T_FILL) {
		r.total = (opts.keyspace + nkeys - 1) / nkeys;
		if (opts.keyspace % nkeys != 0) {
			tmpl_build(&tail, T_FILL, opts.keyspace % nkeys,
			    opts.datasize);
			tmpl_verify(&tail, T_FILL, opts.datasize);
			r.tail = &tail;
		}
	}
	r.lat = xreallocarray(NULL, r.total ? r.total : 1, sizeof(*r.lat));
	if (nclients > r.total)
		nclients = r.total ? r.total : 1;

	if ((r.epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1: %s", strerror(errno));
	clients = xcalloc(nclients, sizeof(*clients));
	for (size_t i = 0; i < nclients; i++) {
		struct client *c = &clients[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

		c->fd = connect_to(opts.socket);
		c->out = xreallocarray(NULL, opts.pipeline, tmpl.len);
		c->in_cap = BENCH_READ_CHUNK;
		c->in = xmalloc(c->in_cap);
		if (epoll_ctl(r.epfd, EPOLL_CTL_ADD, c->fd, &ev) == -1)
			die("epoll_ctl: %s", strerror(errno));
	}

	start = now_ns();
	for (size_t i = 0; i < nclients; i++)
		client_next(&r, &clients[i]);
	while (r.done < r.total) {
		n = epoll_wait(r.epfd, evs, BENCH_EVENTS, BENCH_STALL_MS);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			die("epoll_wait: %s", strerror(errno));
		if (n == 0)
			die("%s: no answer from objd for %d seconds, with %zu "
			    "of %zu requests answered",
			    test->title, BENCH_STALL_MS / 1000, r.done,
			    r.total);
		for (int i = 0; i < n; i++) {
			struct client *c = evs[i].data.ptr;

			if (evs[i].events & EPOLLOUT)
				client_flush(&r, c);
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				client_read(&r, c);
		}
	}
	end = now_ns();

	count = test->kind == T_FILL ? (size_t)opts.keyspace : r.done;
	if (!silent)
		report(&r, count, (double)(end - start) / 1e9);
	for (size_t i = 0; i < nclients; i++) {
		close(clients[i].fd);
		free(clients[i].out);
		free(clients[i].in);
	}
	close(r.epfd);
	free(clients);
	free(r.lat);
	tmpl_free(&tmpl);
	if (tail.frame != NULL)
		tmpl_free(&tail);
}

/* Says which server is measured; objd's, from its status. */
static void
describe_objd(void)
{
	Objd__Response *resp = NULL;
	objd_client *c;
	char err[512];

	if (opts.redis) {
		if (!opts.quiet && !opts.csv)
			printf("redis-server at %s\n\n", opts.socket);
		return;
	}
	if (objd_connect(opts.socket, 10, &c, err, sizeof(err)) != OBJD_OK)
		die("%s", err);
	if (objd_status(c, &resp) != OBJD_OK || resp->info == NULL)
		die("status: %s", objd_client_error(c));
	if (!opts.quiet && !opts.csv)
		printf("objd %s at %s: %" PRIu64 " keys, fsync %s\n\n",
		    resp->info->version, opts.socket, resp->info->keys,
		    resp->info->fsync);
	objd_response_free(resp);
	objd_close(c);
}

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: objd-bench [-s PATH] [-c CLIENTS] [-n REQUESTS] "
	    "[-P DEPTH] [-t TESTS]\n"
	    "                  [-d SIZE] [-r KEYSPACE] [--seed N] "
	    "[--no-fill] [--redis] [--csv] [-q]\n"
	    "\n"
	    "Measures objd as redis-benchmark measures redis-server: CLIENTS\n"
	    "connections, driven from one thread, send REQUESTS requests in\n"
	    "all, DEPTH at a time each, and every answer must be OK.\n"
	    "\n"
	    "  -s, --socket PATH   objd's socket (default: $OBJD_SOCKET, or "
	    "objd's default)\n"
	    "  -c, --clients N     parallel connections (default 50)\n"
	    "  -n, --requests N    requests per test (default 100000)\n"
	    "  -P, --pipeline N    requests sent at once by a client "
	    "(default 1)\n"
	    "  -t, --tests LIST    comma-separated tests (default "
	    "ping,set,get,mset)\n"
	    "  -d, --datasize N    bytes of each set value (default 3)\n"
	    "  -k, --batch-keys N  keys of each batch test's change "
	    "(default 100)\n"
	    "  -r, --keyspace N    keys key:000000000000 .. key:N-1 "
	    "(default 1: one key)\n"
	    "      --seed N        seed of the random keys (default 1)\n"
	    "      --no-fill       do not fill the key space before get "
	    "and del\n"
	    "      --redis         speak RESP to a redis-server at -s, to "
	    "measure it with this\n"
	    "                      same client (GET, SET, DEL, MSET, PING)\n"
	    "      --csv           print CSV: test, rps, avg, min, p50, p99, "
	    "p99.9, max (msec)\n"
	    "  -q, --quiet         print one line per test\n"
	    "  -h, --help          print this help\n"
	    "      --version       print objd-bench's version\n"
	    "\ntests:\n");
	for (size_t i = 0; i < NITEMS(tests); i++)
		fprintf(fp, "  %-6s %s\n", tests[i].name, tests[i].help);
	fprintf(fp,
	    "\nA set writes a counter into its value, so that it always "
	    "changes the key.\n"
	    "Latency runs from the write of a request's batch to the read "
	    "of its answer.\n"
	    "Exit status: 0 done, 1 a failure (objd unreachable, an answer "
	    "not OK), 2 usage.\n");
}

static _Noreturn void __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("objd-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see objd-bench --help)\n", stderr);
	exit(2);
}

static uint64_t
parse_count(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0 || v < min ||
	    v > max)
		usage_error("%s wants a number from %" PRIu64 " to %" PRIu64
		            ", not '%s'",
		    opt, min, max, s);
	return v;
}

static const struct test *
find_test(enum test_kind kind)
{
	for (size_t i = 0; i < NITEMS(tests); i++)
		if (tests[i].kind == kind)
			return &tests[i];
	abort();
}

/* Takes the tests in the order given, each once. */
static void
parse_tests(const char *list)
{
	char *copy = xstrdup(list), *p = copy, *name;
	size_t i, j;

	opts.ntests = 0;
	while ((name = strsep(&p, ",")) != NULL) {
		if (*name == '\0')
			continue;
		for (i = 0; i < NITEMS(tests); i++)
			if (strcasecmp(name, tests[i].name) == 0)
				break;
		if (i == NITEMS(tests))
			usage_error("unknown test '%s'", name);
		for (j = 0; j < opts.ntests; j++)
			if (opts.order[j] == &tests[i])
				break;
		if (j == opts.ntests)
			opts.order[opts.ntests++] = &tests[i];
	}
	free(copy);
	if (opts.ntests == 0)
		usage_error("no test given to -t");
}

enum { OPT_SEED = 256, OPT_NO_FILL, OPT_REDIS, OPT_CSV, OPT_VERSION };

int
main(int argc, char **argv)
{
	static const struct option longopts[] = { { "socket", required_argument,
		                                      NULL, 's' },
		{ "clients", required_argument, NULL, 'c' },
		{ "requests", required_argument, NULL, 'n' },
		{ "pipeline", required_argument, NULL, 'P' },
		{ "tests", required_argument, NULL, 't' },
		{ "datasize", required_argument, NULL, 'd' },
		{ "batch-keys", required_argument, NULL, 'k' },
		{ "keyspace", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "no-fill", no_argument, NULL, OPT_NO_FILL },
		{ "redis", no_argument, NULL, OPT_REDIS },
		{ "csv", no_argument, NULL, OPT_CSV },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 } };
	const char *test_list = "ping,set,get,mset";
	char *socket_path = NULL;
	int ch;

	opts.clients = 50;
	opts.requests = 100000;
	opts.pipeline = 1;
	opts.datasize = 3;
	opts.batch_keys = 100;
	opts.keyspace = 1;
	opts.seed = 1;
	opts.fill = true;
	while ((ch = getopt_long(argc, argv, "s:c:n:P:t:d:k:r:qh", longopts,
	            NULL)) != -1) {
		switch (ch) {
		case 's':
			opts.socket = optarg;
			break;
		case 'c':
			opts.clients = parse_count("-c", optarg, 1, 100000);
			break;
		case 'n':
			opts.requests = parse_count("-n", optarg, 1, 1u << 30);
			break;
		case 'P':
			opts.pipeline = parse_count("-P", optarg, 1, 100000);
			break;
		case 't':
			test_list = optarg;
			break;
		case 'd':
			opts.datasize =
			    parse_count("-d", optarg, 0, BENCH_VALUE_MAX);
			break;
		case 'k':
			opts.batch_keys = parse_count("-k", optarg, 1, 100000);
			break;
		case 'r':
			opts.keyspace =
			    parse_count("-r", optarg, 1, BENCH_KEYSPACE_MAX);
			break;
		case OPT_SEED:
			opts.seed =
			    parse_count("--seed", optarg, 0, UINT64_MAX);
			break;
		case OPT_NO_FILL:
			opts.fill = false;
			break;
		case OPT_REDIS:
			opts.redis = true;
			break;
		case OPT_CSV:
			opts.csv = true;
			break;
		case 'q':
			opts.quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("objd-bench %s\n", OBJD_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	parse_tests(test_list);
	if (opts.redis && opts.socket == NULL)
		usage_error("--redis needs -s, the redis-server's socket");
	if (opts.socket == NULL)
		opts.socket = socket_path = paths_default_socket();
	value_counter = now_ns() ^ ((uint64_t)getpid() << 32);
	/* xorshift must not start at 0. */
	rng_state = opts.seed * 0x9e3779b97f4a7c15ULL + 1;
	if (rng_state == 0)
		rng_state = 1;

	describe_objd();
	if (opts.csv)
		printf("\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\","
		       "\"p50_latency_ms\",\"p99_latency_ms\","
		       "\"p999_latency_ms\",\"max_latency_ms\"\n");
	for (size_t i = 0; i < opts.ntests; i++) {
		const struct test *t = opts.order[i];

		if (opts.fill && (t->kind == T_GET || t->kind == T_DEL))
			run_test(find_test(T_FILL), true);
		run_test(t, false);
	}
	free(socket_path);
	return 0;
}
