/* SPDX-License-Identifier: ISC */
/* etcd-direct.c: gets and sets sent straight to etcd, for `make
 * bench-etcd`: the same operations objd on etcd makes, through the same
 * client (server/etcd-*.c: gRPC over libcurl), without objd. A get is a
 * Range of one key, a set a Txn that puts one key, as objd's Txn does
 * (less its meta key).
 *
 *   etcd-direct ENDPOINTS get|set REQUESTS CLIENTS
 *
 * CLIENTS calls are kept in flight. Prints "rps p50_ms" on one line. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "etcd.h"

static struct etcd *client;
static bool set_test;
static long sent, done, total;
static double *lat;
static int failed;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct slot {
	double start;
};

static void send_one(struct slot *s);

static void
on_reply(const struct etcd_reply *r, void *arg)
{
	struct slot *s = arg;

	if (r->status != ETCD_OK) {
		fprintf(stderr, "etcd-direct: %s\n", r->message);
		failed = 1;
	}
	lat[done++] = now() - s->start;
	if (sent < total)
		send_one(s);
}

static void
send_one(struct slot *s)
{
	char key[32], value[32];

	snprintf(key, sizeof(key), "/bench/key:%06ld", sent % 100000);
	snprintf(value, sizeof(value), "%ld", sent);
	s->start = now();
	sent++;
	if (set_test) {
		Etcdserverpb__TxnRequest req = ETCDSERVERPB__TXN_REQUEST__INIT;
		Etcdserverpb__RequestOp op = ETCDSERVERPB__REQUEST_OP__INIT,
		                        *ops[1] = { &op };
		Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;

		put.key.data = (uint8_t *)key;
		put.key.len = strlen(key);
		put.value.data = (uint8_t *)value;
		put.value.len = strlen(value);
		op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
		op.request_put = &put;
		req.n_success = 1;
		req.success = ops;
		etcd_txn(client, &req, on_reply, s);
	} else {
		Etcdserverpb__RangeRequest req =
		    ETCDSERVERPB__RANGE_REQUEST__INIT;

		req.key.data = (uint8_t *)key;
		req.key.len = strlen(key);
		etcd_range(client, &req, on_reply, s);
	}
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct etcd_config cfg;
	struct slot *slots;
	long clients;
	char err[256];
	double began, took;

	if (argc != 5 ||
	    (strcmp(argv[2], "get") != 0 && strcmp(argv[2], "set") != 0)) {
		fprintf(stderr,
		    "usage: etcd-direct ENDPOINTS get|set REQUESTS CLIENTS\n");
		return 2;
	}
	set_test = strcmp(argv[2], "set") == 0;
	total = strtol(argv[3], NULL, 10);
	clients = strtol(argv[4], NULL, 10);
	if (total <= 0 || clients <= 0 || clients > total) {
		fprintf(stderr, "etcd-direct: bad REQUESTS or CLIENTS\n");
		return 2;
	}
	if ((base = event_base_new()) == NULL)
		return 1;
	etcd_config_defaults(&cfg);
	cfg.endpoints = argv[1];
	if ((client = etcd_new(base, &cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "etcd-direct: %s\n", err);
		return 2;
	}
	lat = calloc((size_t)total, sizeof(*lat));
	slots = calloc((size_t)clients, sizeof(*slots));
	if (lat == NULL || slots == NULL)
		return 1;
	began = now();
	for (long i = 0; i < clients; i++)
		send_one(&slots[i]);
	while (done < total && !failed)
		if (event_base_loop(base, EVLOOP_ONCE) == -1)
			return 1;
	took = now() - began;
	qsort(lat, (size_t)done, sizeof(*lat), cmp);
	printf("%.0f %.3f\n", (double)done / took, lat[done / 2] * 1e3);
	etcd_free(client);
	event_base_free(base);
	free(lat);
	free(slots);
	return failed;
}
