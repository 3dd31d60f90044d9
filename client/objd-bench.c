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
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "framing.h"
#include "objd-client.h"
#include "paths.h"
#include "version.h"
#include "xmalloc.h"

/* Keys per request of the fill, and of mset. */
#define BENCH_FILL_KEYS 100
#define BENCH_MSET_KEYS 10
/* What a client reads at a time. */
#define BENCH_READ_CHUNK 16384
/* Without a single answer for this long, objd is taken for stuck. */
#define BENCH_STALL_MS 30000
#define BENCH_EVENTS 64

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

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

_Noreturn void
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
		used = answer_take(opts.redis, r->test->title,
		    c->first_id + (c->batch - c->due), c->in + off,
		    c->in_len - off, &need);
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
	tmpl_build(&tmpl, opts.redis, test->kind, nkeys, opts.datasize);
	tmpl_verify(&tmpl, opts.redis, test->kind, opts.datasize);
	r.tmpl = &tmpl;
	r.tail = &tmpl;
	r.total = opts.requests;
	if (test->kind == T_DEL && r.total > opts.keyspace)
		r.total = opts.keyspace;
	if (test->kind == T_FILL) {
		r.total = (opts.keyspace + nkeys - 1) / nkeys;
		if (opts.keyspace % nkeys != 0) {
			tmpl_build(&tail, opts.redis, T_FILL,
			    opts.keyspace % nkeys, opts.datasize);
			tmpl_verify(&tail, opts.redis, T_FILL, opts.datasize);
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
