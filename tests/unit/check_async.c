/* SPDX-License-Identifier: ISC */
/* check_async.c: unit tests of client/libobjd-async.c, against a fake
 * objd in the test itself: a listening socket whose one connection the
 * test accepts, reads requests from and writes chosen answers to. */
#include <sys/socket.h>
#include <sys/un.h>

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framing.h"
#include "objd-client.h"
#include "objd.pb-c.h"

static char dir[64];
static char path[96];
static int listener = -1;
static int peer = -1; /* the fake objd's end */
static objd_async *conn;

/* What the callbacks saw, in order. */
struct seen {
	int n;
	uint64_t ids[16];
	int statuses[16];
	bool had_resp[16];
	size_t events[16];
	bool close_in_callback;
	bool call_in_callback;
};

static void
setup(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char err[256];

	snprintf(dir, sizeof(dir), "/tmp/objd-async.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	listener = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ne(listener, -1);
	ck_assert_int_eq(bind(listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(listener, 4), 0);
	ck_assert_int_eq(objd_async_connect(path, &conn, err, sizeof(err)),
	    OBJD_OK);
	peer = accept(listener, NULL, NULL);
	ck_assert_int_ne(peer, -1);
}

static void
teardown(void)
{
	objd_async_close(conn);
	conn = NULL;
	if (peer != -1)
		close(peer);
	close(listener);
	unlink(path);
	rmdir(dir);
}

static void
record(objd_async *a, int status, const Objd__Response *resp, void *arg)
{
	struct seen *s = arg;
	int i = s->n++;

	ck_assert_int_lt(i, 16);
	s->ids[i] = resp != NULL ? resp->id : 0;
	s->statuses[i] = status;
	s->had_resp[i] = resp != NULL;
	s->events[i] = resp != NULL ? resp->n_events : 0;
	if (s->close_in_callback)
		objd_async_close(a);
	if (s->call_in_callback) {
		Objd__Request req = OBJD__REQUEST__INIT;
		Objd__Ping ping = OBJD__PING__INIT;

		s->call_in_callback = false;
		req.op_case = OBJD__REQUEST__OP_PING;
		req.ping = &ping;
		ck_assert_int_eq(objd_async_call(a, &req, record, s), OBJD_OK);
	}
}

static void
send_ping(struct seen *s)
{
	Objd__Request req = OBJD__REQUEST__INIT;
	Objd__Ping ping = OBJD__PING__INIT;

	req.op_case = OBJD__REQUEST__OP_PING;
	req.ping = &ping;
	ck_assert_int_eq(objd_async_call(conn, &req, record, s), OBJD_OK);
}

/* The fake objd reads one request and gives its id. */
static uint64_t
fake_read_request(void)
{
	static uint8_t buf[65536];
	static size_t len;
	size_t hlen, blen;
	Objd__Request *req;
	uint64_t id;
	ssize_t n;

	while (frame_parse_header(buf, len, FRAME_MAX_DEFAULT, &hlen, &blen) !=
	        FRAME_OK ||
	    len < hlen + blen) {
		n = read(peer, buf + len, sizeof(buf) - len);
		ck_assert_int_gt(n, 0);
		len += (size_t)n;
	}
	req = objd__request__unpack(NULL, blen, buf + hlen);
	ck_assert_ptr_nonnull(req);
	id = req->id;
	objd__request__free_unpacked(req, NULL);
	memmove(buf, buf + hlen + blen, len - hlen - blen);
	len -= hlen + blen;
	return id;
}

/* The fake objd answers id with status and n events. */
static void
fake_answer(uint64_t id, Objd__Status status, size_t n_events)
{
	Objd__Response resp = OBJD__RESPONSE__INIT;
	Objd__Event ev[4], *evp[4];
	uint8_t *frame;
	size_t len;

	ck_assert_uint_le(n_events, 4);
	for (size_t i = 0; i < n_events; i++) {
		objd__event__init(&ev[i]);
		ev[i].type = OBJD__EVENT__TYPE__DELETE;
		ev[i].key = "k";
		ev[i].revision = 10 + i;
		evp[i] = &ev[i];
	}
	resp.id = id;
	resp.status = status;
	resp.revision = 7;
	resp.n_events = n_events;
	resp.events = evp;
	frame = frame_pack(&resp.base, &len);
	ck_assert_int_eq(write(peer, frame, len), (ssize_t)len);
	free(frame);
}

/* Feeds the client what the fake objd wrote. */
static int
client_reads(void)
{
	struct pollfd pfd = { .fd = objd_async_fd(conn), .events = POLLIN };

	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	return objd_async_read(conn);
}

START_TEST(test_answers_in_order)
{
	struct seen s = { 0 };
	uint64_t a, b;

	send_ping(&s);
	send_ping(&s);
	ck_assert(!objd_async_wants_write(conn));
	a = fake_read_request();
	b = fake_read_request();
	ck_assert_uint_eq(a + 1, b);
	fake_answer(a, OBJD__STATUS__OK, 0);
	fake_answer(b, OBJD__STATUS__NOT_FOUND, 0);
	while (s.n < 2)
		ck_assert_int_eq(client_reads(), OBJD_OK);
	ck_assert_uint_eq(s.ids[0], a);
	ck_assert_int_eq(s.statuses[0], OBJD_OK);
	ck_assert_uint_eq(s.ids[1], b);
	ck_assert_int_eq(s.statuses[1], OBJD_NOT_FOUND);
	ck_assert_uint_eq(objd_async_revision(conn), 7);
}
END_TEST

/* A watch's callback is called for each frame until one that is not OK,
 * and requests on the same connection are answered between its frames. */
START_TEST(test_watch_and_requests_share)
{
	struct seen w = { 0 }, p = { 0 };
	uint64_t wid, pid;

	ck_assert_int_eq(objd_async_watch(conn, "k", 0, record, &w), OBJD_OK);
	wid = fake_read_request();
	fake_answer(wid, OBJD__STATUS__OK, 0);
	send_ping(&p);
	pid = fake_read_request();
	fake_answer(wid, OBJD__STATUS__OK, 2);
	fake_answer(pid, OBJD__STATUS__OK, 0);
	fake_answer(wid, OBJD__STATUS__FAILED, 0);
	while (w.n < 3 || p.n < 1)
		ck_assert_int_eq(client_reads(), OBJD_OK);
	ck_assert_int_eq(w.statuses[0], OBJD_OK);
	ck_assert_uint_eq(w.events[1], 2);
	ck_assert_int_eq(w.statuses[2], OBJD_FAILED);
	ck_assert_uint_eq(p.ids[0], pid);
	/* The watch ended: another frame for it is an answer to nothing. */
	fake_answer(wid, OBJD__STATUS__OK, 1);
	ck_assert_int_eq(client_reads(), OBJD_FAILED);
	ck_assert_int_eq(w.n, 3);
	ck_assert_ptr_nonnull(strstr(objd_async_error(conn), "not waiting"));
}
END_TEST

/* When objd goes away, each waiting request and live watch is told
 * once, without an answer. */
START_TEST(test_broken_connection_tells_each_once)
{
	struct seen w = { 0 }, p = { 0 };

	ck_assert_int_eq(objd_async_watch(conn, "", 0, record, &w), OBJD_OK);
	fake_answer(fake_read_request(), OBJD__STATUS__OK, 0);
	ck_assert_int_eq(client_reads(), OBJD_OK);
	send_ping(&p);
	send_ping(&p);
	close(peer);
	peer = -1;
	ck_assert_int_eq(client_reads(), OBJD_UNREACHABLE);
	ck_assert_int_eq(w.n, 2);
	ck_assert_int_eq(w.statuses[1], OBJD_UNREACHABLE);
	ck_assert(!w.had_resp[1]);
	ck_assert_int_eq(p.n, 2);
	ck_assert_int_eq(p.statuses[0], OBJD_UNREACHABLE);
	ck_assert_int_eq(objd_async_fd(conn), -1);
	ck_assert_int_eq(objd_async_read(conn), OBJD_UNREACHABLE);
	{
		Objd__Request req = OBJD__REQUEST__INIT;
		Objd__Ping ping = OBJD__PING__INIT;

		req.op_case = OBJD__REQUEST__OP_PING;
		req.ping = &ping;
		ck_assert_int_eq(objd_async_call(conn, &req, record, &p),
		    OBJD_UNREACHABLE);
		ck_assert_int_eq(p.n, 2);
	}
}
END_TEST

START_TEST(test_garbage_breaks_the_connection)
{
	struct seen p = { 0 };
	const uint8_t junk[] = { 0x03, 0xff, 0xff, 0xff };

	send_ping(&p);
	fake_read_request();
	ck_assert_int_eq(write(peer, junk, sizeof(junk)),
	    (ssize_t)sizeof(junk));
	ck_assert_int_eq(client_reads(), OBJD_FAILED);
	ck_assert_int_eq(p.n, 1);
	ck_assert_int_eq(p.statuses[0], OBJD_FAILED);
	ck_assert_ptr_nonnull(strstr(objd_async_error(conn), "nonsense"));
}
END_TEST

/* A callback may send a request, and may close the connection. */
START_TEST(test_callbacks_may_call_and_close)
{
	struct seen s = { .call_in_callback = true };
	uint64_t id;

	send_ping(&s);
	fake_answer(fake_read_request(), OBJD__STATUS__OK, 0);
	ck_assert_int_eq(client_reads(), OBJD_OK);
	ck_assert_int_eq(s.n, 1);
	id = fake_read_request(); /* the ping the callback sent */
	s.close_in_callback = true;
	fake_answer(id, OBJD__STATUS__OK, 0);
	fake_answer(id + 1, OBJD__STATUS__OK, 0); /* never read */
	ck_assert_int_eq(client_reads(), OBJD_UNREACHABLE);
	ck_assert_int_eq(s.n, 2);
	conn = NULL; /* freed by the close in the callback */
}
END_TEST

START_TEST(test_connect_refused)
{
	objd_async *a = NULL;
	char err[256];
	char missing[128];

	snprintf(missing, sizeof(missing), "%s/none", dir);
	ck_assert_int_eq(objd_async_connect(missing, &a, err, sizeof(err)),
	    OBJD_UNREACHABLE);
	ck_assert_ptr_null(a);
	ck_assert_ptr_nonnull(strstr(err, "is objd running?"));
}
END_TEST

static Suite *
async_suite(void)
{
	Suite *s = suite_create("async");
	TCase *tc = tcase_create("client");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_answers_in_order);
	tcase_add_test(tc, test_watch_and_requests_share);
	tcase_add_test(tc, test_broken_connection_tells_each_once);
	tcase_add_test(tc, test_garbage_breaks_the_connection);
	tcase_add_test(tc, test_callbacks_may_call_and_close);
	tcase_add_test(tc, test_connect_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(async_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
