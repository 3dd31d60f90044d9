/* SPDX-License-Identifier: ISC */
/* bench.h: objd-bench's parts and what they share.
 *
 *   objd-bench.c  main, the options and tests, the epoll loop that drives
 *                 the clients, and the report
 *   bench-wire.c  the bytes on the wire, in objd's protocol or in redis's
 *                 (RESP): the request templates, built once and checked,
 *                 and the reading and checking of the answers
 *
 * Every failure here is fatal: die() says why and exits 1. */
#ifndef OBJD_BENCH_H
#define OBJD_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ids from here on take nine bytes as varints, so they are written over
 * a template without moving anything. */
#define BENCH_ID_BASE ((uint64_t)1 << 56)
#define BENCH_KEY_PREFIX "key:"
#define BENCH_KEY_DIGITS 12
#define BENCH_KEY_LEN (sizeof(BENCH_KEY_PREFIX) - 1 + BENCH_KEY_DIGITS)
/* The key space reaches at most this far: twelve digits. */
#define BENCH_KEYSPACE_MAX 1000000000000ULL
/* The largest value. */
#define BENCH_VALUE_MAX ((size_t)1 << 24)

enum test_kind { T_PING, T_GET, T_SET, T_DEL, T_MSET, T_FILL, T_BATCH };

/* A request encoded once, and where its varying bytes are. */
struct tmpl {
	uint8_t *frame;
	size_t len;
	size_t id_off; /* the nine bytes of the id; SIZE_MAX in RESP */
	size_t nkeys;
	size_t *key_off; /* the digits of each key */
	size_t *val_off; /* the bytes of each value, for a set */
};

/* objd-bench.c */
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* bench-wire.c */
/* Encodes the request of kind, in RESP if redis, with keys 0 .. nkeys - 1
 * and values of datasize 'x'. */
void tmpl_build(struct tmpl *t, bool redis, enum test_kind kind, size_t nkeys,
    size_t datasize);
/* Decodes t as the server will and dies unless it says what it should. */
void tmpl_verify(const struct tmpl *t, bool redis, enum test_kind kind,
    size_t datasize);
void tmpl_free(struct tmpl *t);
/* Writes key number n's twelve digits at p. */
void put_digits(uint8_t *p, uint64_t n);
/* Writes counter n into a value of len bytes, so that a set changes it. */
void put_counter(uint8_t *p, size_t len, uint64_t n);
/* The length of the answer at p, checked (id, for objd, is the request's
 * it is due for; title names the test when it dies); 0 if it is not all
 * in yet, and then *need is the bytes it takes, if known. */
size_t answer_take(bool redis, const char *title, uint64_t id, const uint8_t *p,
    size_t len, size_t *need);

#endif
