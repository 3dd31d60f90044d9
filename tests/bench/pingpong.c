/* SPDX-License-Identifier: ISC */
/* pingpong.c: one client program for objd and for redis-server.
 *
 * With one client, a request's round trip is mostly two wake-ups across
 * CPUs, and on a VM their cost depends on when each side goes idle: how
 * the client program waits moves the rate of the same server by 15%.
 * objd-bench and redis-benchmark wait differently, so their 1-client
 * rows compare the client programs as much as the servers. This one
 * speaks both protocols with the same loop (write a request, block in
 * read until its whole answer is in, again), so that only the server
 * differs.
 *
 *     pingpong objd|redis SOCKET get|set REQUESTS
 *
 * A get reads key:000000000000, which must hold a value; a set writes a
 * new value into it each time (objd commits nothing for a set to the
 * value a key already has). Prints requests per second and the median
 * round trip in ms. */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "framing.h"
#include "objd.pb-c.h"

#define PINGPONG_KEY "key:000000000000"
#define PINGPONG_BUF 4096

static void
die(const char *what)
{
	fprintf(stderr, "pingpong: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: pingpong objd|redis SOCKET get|set "
	    "REQUESTS\n");
	exit(2);
}

static int
compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The request, as the protocol writes it; set values count up. */
static size_t
request(bool redis, bool set, unsigned long n, uint8_t *out, size_t cap)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Get get = OBJD__GET__INIT;
	Objd__Set s = OBJD__SET__INIT;
	Objd__Entry entry = OBJD__ENTRY__INIT, *entries[] = { &entry };
	Objd__Value value = OBJD__VALUE__INIT;
	char *keys[] = { PINGPONG_KEY }, counter[24];
	size_t body, header;

	snprintf(counter, sizeof(counter), "%010lu", n);
	if (redis)
		return (size_t)(set ? snprintf((char *)out, cap,
		                          "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n"
		                          "$%zu\r\n%s\r\n",
		                          strlen(PINGPONG_KEY), PINGPONG_KEY,
		                          strlen(counter), counter)
		                    : snprintf((char *)out, cap,
		                          "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n",
		                          strlen(PINGPONG_KEY), PINGPONG_KEY));
	req.id = n + 1;
	if (set) {
		value.kind_case = OBJD__VALUE__KIND_STRING_VALUE;
		value.string_value = counter;
		entry.key = PINGPONG_KEY;
		entry.value = &value;
		s.n_entries = 1;
		s.entries = entries;
		req.op_case = OBJD__REQUEST__OP_SET;
		req.set = &s;
	} else {
		get.n_keys = 1;
		get.keys = keys;
		req.op_case = OBJD__REQUEST__OP_GET;
		req.get = &get;
	}
	body = objd__request__get_packed_size(&req);
	if (body + VARINT_MAX_LEN > cap)
		usage();
	header = varint_encode(out, body);
	return header + objd__request__pack(&req, out + header);
}

/* The length of the whole answer at the front of buf, or 0 if more is
 * needed to tell. */
static size_t
answer_length(bool redis, const uint8_t *buf, size_t len)
{
	size_t header, body;
	const uint8_t *eol;
	long bulk;

	if (!redis) {
		if (frame_parse_header(buf, len, PINGPONG_BUF, &header,
		        &body) != FRAME_OK)
			return 0;
		return header + body;
	}
	eol = memchr(buf, '\n', len);
	if (eol == NULL)
		return 0;
	if (buf[0] != '$')
		return (size_t)(eol - buf) + 1; /* +OK, -ERR */
	bulk = strtol((const char *)buf + 1, NULL, 10);
	return (size_t)(eol - buf) + 1 + (bulk < 0 ? 0 : (size_t)bulk + 2);
}

/* Whether the answer says the request worked: its status field (2) is
 * absent or OK. Read field by field rather than unpacked, so that
 * checking an objd answer costs the client no more than checking a
 * redis one. */
static bool
answer_ok(bool redis, const uint8_t *buf, size_t len)
{
	size_t header, body, pos, end;
	uint64_t tag, v;
	int used;

	if (redis)
		return buf[0] != '-' && !(buf[0] == '$' && buf[1] == '-');
	if (frame_parse_header(buf, len, PINGPONG_BUF, &header, &body) !=
	    FRAME_OK)
		return false;
	end = header + body;
	for (pos = header; pos < end;) {
		if ((used = varint_decode(buf + pos, end - pos, &tag)) <= 0)
			return false;
		pos += (size_t)used;
		/* Response has varints and length-delimited fields only. */
		if ((tag & 7) != 0 && (tag & 7) != 2)
			return false;
		if ((used = varint_decode(buf + pos, end - pos, &v)) <= 0)
			return false;
		pos += (size_t)used;
		if (tag == (2 << 3)) /* status */
			return v == OBJD__STATUS__OK;
		if ((tag & 7) == 2) {
			if (v > end - pos)
				return false;
			pos += (size_t)v;
		}
	}
	return true;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t req[256], buf[PINGPONG_BUF];
	size_t reqlen, have, want;
	unsigned long requests;
	double start, elapsed, t0, *times;
	bool redis, set;
	ssize_t n;
	int fd;

	if (argc != 5 || strlen(argv[2]) >= sizeof(sa.sun_path))
		usage();
	redis = strcmp(argv[1], "redis") == 0;
	set = strcmp(argv[3], "set") == 0;
	requests = strtoul(argv[4], NULL, 10);
	if ((!redis && strcmp(argv[1], "objd") != 0) ||
	    (!set && strcmp(argv[3], "get") != 0) || requests == 0)
		usage();
	if ((times = calloc(requests, sizeof(*times))) == NULL)
		die("calloc");
	strcpy(sa.sun_path, argv[2]);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		die("socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		die(argv[2]);
	start = now_monotonic();
	for (unsigned long i = 0; i < requests; i++) {
		reqlen = request(redis, set, i, req, sizeof(req));
		t0 = now_monotonic();
		if (write(fd, req, reqlen) != (ssize_t)reqlen)
			die("write");
		have = 0;
		do {
			if ((n = read(fd, buf + have, sizeof(buf) - have)) <=
			    0) {
				if (n == 0)
					errno = ECONNRESET;
				die("read");
			}
			have += (size_t)n;
			want = answer_length(redis, buf, have);
		} while (want == 0 || have < want);
		times[i] = now_monotonic() - t0;
		if (have > want || !answer_ok(redis, buf, have)) {
			fprintf(stderr, "pingpong: %s %s failed\n", argv[3],
			    PINGPONG_KEY);
			return 1;
		}
	}
	elapsed = now_monotonic() - start;
	qsort(times, requests, sizeof(*times), compare_doubles);
	printf("%.0f requests per second, p50 %.3f ms\n",
	    (double)requests / elapsed, times[requests / 2] * 1000);
	free(times);
	close(fd);
	return 0;
}
