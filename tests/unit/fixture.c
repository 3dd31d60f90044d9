/* SPDX-License-Identifier: ISC */
/* fixture.c: see fixture.h. */
#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "fixture.h"
#include "framing.h"
#include "value.h"
#include "xmalloc.h"

struct server server;
struct objd_options options;
struct fake_backend fake;

/* The fake's outcome for b, decided now: revisions rise by 1 + gap
 * for each txn with changes; a txn without changes takes the one
 * before. */
static void
fake_decide(struct backend_batch *b)
{
	uint64_t revision = b->base, top = b->base, made = 0;
	size_t i = 0;

	for (size_t t = 0; t < b->ntxns; t++)
		made += b->txns[t].changes && !fake.fail &&
		    fake.conflict_at != t + 1;
	for (size_t t = 0; t < b->ntxns; t++) {
		struct backend_txn *x = &b->txns[t];

		x->status = BACKEND_OK;
		if (fake.fail && x->changes)
			x->status = BACKEND_FAILED;
		else if (fake.conflict_at == t + 1 && x->changes)
			x->status = BACKEND_CONFLICT;
		if (x->changes && x->status == BACKEND_OK) {
			if (fake.reverse)
				revision = b->base + made-- * (1 + fake.gap);
			else
				revision += 1 + fake.gap;
			fake.txns++;
		}
		x->revision = revision;
		if (revision > top)
			top = revision;
		for (; i < b->nchanges && b->changes[i].txn == t; i++)
			b->changes[i].entry->revision = revision;
	}
	b->revision = top;
	if (fake.fail)
		b->error = xstrdup("the fake refused it");
	else if (fake.conflict_at != 0)
		b->error = xstrdup("the fake's compare");
}

void
fake_complete(void)
{
	struct backend_batch *b = fake.inflight;

	ck_assert_ptr_nonnull(b);
	fake.inflight = NULL;
	fake_decide(b);
	fake.be.hooks->committed(b);
}

static void
fake_commit(struct backend *be, struct backend_batch *b)
{
	(void)be;
	ck_assert_ptr_null(fake.inflight); /* one at a time */
	fake.commits++;
	fake.inflight = b;
	if (!fake.hold)
		fake_complete();
}

static void
fake_settle(struct backend *be)
{
	(void)be;
	if (fake.inflight != NULL)
		fake_complete();
}

static bool
fake_compacting(const struct backend *be)
{
	(void)be;
	return false;
}

static void
fake_stats(const struct backend *be, struct backend_stats *st)
{
	(void)be;
	memset(st, 0, sizeof(*st));
}

/* Only what the commit path calls: the fake keeps no file. */
static const struct backend_ops fake_ops = {
	.name = "fake",
	.commit = fake_commit,
	.settle = fake_settle,
	.compacting = fake_compacting,
	.stats = fake_stats,
};

static void
fake_others_replaced(void)
{
}

static const struct backend_hooks fake_hooks = {
	.committed = batch_committed,
	.others_committed = batch_others_committed,
	.others_replaced = fake_others_replaced,
	.snapshot_done = compact_settle,
};

void
fixture_setup(void)
{
	/* As objd: a client that left must not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	memset(&fake, 0, sizeof(fake));
	fake.be.ops = &fake_ops;
	fake.be.hooks = &fake_hooks;
	backend = &fake.be;
	server.base = event_base_new();
	ck_assert_ptr_nonnull(server.base);
	server.store = store_new();
	options.frame_max = 1 << 20;
	options.clients_max = 100;
	options.client_output_max = 1 << 20;
	options.output_total_max = 1 << 24;
	options.watch_output_max = 1 << 20;
	options.fsync = FSYNC_NEVER;
	server.stopping = false;
	batch_init();
	watch_init();
	expire_init();
}

void
fixture_teardown(void)
{
	batch_commit();
	conn_close_all();
	watch_free();
	expire_free();
	batch_free();
	store_free(server.store);
	server.store = NULL;
	compact_free();
	event_base_free(server.base);
	server.base = NULL;
	free(server.last_write_error);
	server.last_write_error = NULL;
	backend = NULL;
}

void
fixture_client(struct fixture_client *fc)
{
	int sv[2];

	memset(fc, 0, sizeof(*fc));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_ne(fcntl(sv[0], F_SETFL, O_NONBLOCK), -1);
	ck_assert_int_ne(fcntl(sv[1], F_SETFL, O_NONBLOCK), -1);
	fc->conn = conn_accept(sv[0]);
	ck_assert_ptr_nonnull(fc->conn);
	fc->fd = sv[1];
}

void
fixture_client_close(struct fixture_client *fc)
{
	close(fc->fd);
	fc->fd = -1;
}

void
fixture_turn_end(void)
{
	(void)conn_write_answers();
}

Objd__Response *
fixture_answer(struct fixture_client *fc)
{
	size_t header, body;
	Objd__Response *r;
	ssize_t n;

	n = read(fc->fd, fc->buf + fc->len, sizeof(fc->buf) - fc->len);
	if (n > 0)
		fc->len += (size_t)n;
	else
		ck_assert(n == 0 || errno == EAGAIN);
	if (fc->len == 0 ||
	    frame_parse_header(fc->buf, fc->len, sizeof(fc->buf), &header,
	        &body) != FRAME_OK ||
	    fc->len < header + body)
		return NULL;
	r = objd__response__unpack(NULL, body, fc->buf + header);
	ck_assert_ptr_nonnull(r);
	fc->len -= header + body;
	memmove(fc->buf, fc->buf + header + body, fc->len);
	return r;
}

void
fixture_set(struct fixture_client *fc, uint64_t id, const char *key,
    const char *val)
{
	Objd__Value *v = value_new_string(val, strlen(val));
	uint8_t *packed;
	size_t len;

	packed = value_pack(v, &len);
	value_free(v);
	batch_begin(fc->conn, id);
	batch_add_set(key, strlen(key), packed, len);
	free(packed);
}

char *
fixture_get(const char *key)
{
	struct store_entry *e = store_get(server.store, key, strlen(key));
	Objd__Value *v;
	char err[128], *s;

	if (e == NULL)
		return NULL;
	v = value_unpack(STORE_ENTRY_VALUE(e), e->vallen, err, sizeof(err));
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->kind_case, OBJD__VALUE__KIND_STRING_VALUE);
	s = strdup(v->string_value);
	value_free(v);
	return s;
}
