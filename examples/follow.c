/* SPDX-License-Identifier: ISC */
/* follow.c: libobjd's non-blocking interface in a libevent program.
 *
 * Follows the changes of the keys that start with PREFIX and prints a
 * line for each, while the same loop runs a timer of its own: the
 * program never blocks on objd. After COUNT changes (0: never) it reads
 * the object's revision with a get over the same connection and exits.
 *
 *	cc -o follow follow.c $(pkg-config --cflags --libs libobjd libevent)
 *	./follow [PREFIX [COUNT]]
 *
 * The socket is the one objctl would use ($OBJD_SOCKET or the default).
 * Exits with objctl's exit codes. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>
#include <objd/objd-client.h>

struct follow {
	struct event_base *base;
	struct event *readable; /* persistent */
	struct event *writable; /* added while requests wait to go out */
	objd_async *conn;
	long left; /* changes to print before the get; < 0: no end */
	bool stopped;
	int status;
};

static void want_events(struct follow *f);

/* Ends the loop with status; the first reason to stop is the one that
 * counts (closing the connection calls the callbacks that wait). */
static void
stop(struct follow *f, int status, const char *why)
{
	if (f->stopped)
		return;
	if (why != NULL)
		fprintf(stderr, "follow: %s\n", why);
	f->stopped = true;
	f->status = status;
	event_base_loopexit(f->base, NULL);
}

static void
got_revision(objd_async *a, int status, const Objd__Response *resp, void *arg)
{
	struct follow *f = arg;

	if (status != OBJD_OK) {
		stop(f, status, objd_async_error(a));
		return;
	}
	printf("done at revision %llu\n", (unsigned long long)resp->revision);
	stop(f, OBJD_OK, NULL);
}

static void
got_changes(objd_async *a, int status, const Objd__Response *resp, void *arg)
{
	Objd__Request get = OBJD__REQUEST__INIT;
	Objd__Get body = OBJD__GET__INIT;
	struct follow *f = arg;
	char *json;

	if (status != OBJD_OK) {
		/* objd dropped the watch, stopped, or went away. */
		stop(f, status, objd_async_error(a));
		return;
	}
	/* The first answer: the current entries. */
	for (size_t i = 0; i < resp->n_entries; i++) {
		json = objd_value_to_json(resp->entries[i]->value, 0);
		printf("%llu current %s %s\n",
		    (unsigned long long)resp->revision, resp->entries[i]->key,
		    json);
		free(json);
	}
	for (size_t i = 0; i < resp->n_events && f->left != 0; i++) {
		const Objd__Event *ev = resp->events[i];

		if (ev->type == OBJD__EVENT__TYPE__SET) {
			json = objd_value_to_json(ev->value, 0);
			printf("%llu set %s %s\n",
			    (unsigned long long)ev->revision, ev->key, json);
			free(json);
		} else if (ev->type == OBJD__EVENT__TYPE__DELETE ||
		    ev->type == OBJD__EVENT__TYPE__EXPIRE)
			printf("%llu %s %s\n", (unsigned long long)ev->revision,
			    ev->type == OBJD__EVENT__TYPE__EXPIRE ? "expire"
			                                          : "delete",
			    ev->key);
		else
			printf("%llu reload\n",
			    (unsigned long long)ev->revision);
		if (f->left > 0)
			f->left--;
	}
	fflush(stdout);
	if (f->left != 0)
		return;
	/* Enough: a request on the same connection as the watch. */
	f->left = -1;
	get.op_case = OBJD__REQUEST__OP_GET;
	get.get = &body;
	if ((status = objd_async_call(a, &get, got_revision, f)) != OBJD_OK) {
		stop(f, status, objd_async_error(a));
		return;
	}
	want_events(f);
}

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
	struct follow *f = arg;
	int status = OBJD_OK;

	if (what & EV_WRITE)
		status = objd_async_write(f->conn);
	if (status == OBJD_OK && (what & EV_READ))
		status = objd_async_read(f->conn);
	if (status != OBJD_OK) {
		stop(f, status, objd_async_error(f->conn));
		return;
	}
	want_events(f);
}

/* The loop waits for reading always, and for writing while requests
 * wait to go out. */
static void
want_events(struct follow *f)
{
	if (objd_async_wants_write(f->conn) &&
	    !event_pending(f->writable, EV_WRITE, NULL))
		event_add(f->writable, NULL);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	/* The loop is free while the watch waits: other work goes on. */
	fprintf(stderr, "follow: still following\n");
}

int
main(int argc, char **argv)
{
	struct follow f = { .left = -1 };
	struct timeval second = { 1, 0 };
	struct event *tick;
	char err[256];
	int status;

	if (argc > 2 && (f.left = strtol(argv[2], NULL, 10)) <= 0)
		f.left = -1;
	status = objd_async_connect(NULL, &f.conn, err, sizeof(err));
	if (status != OBJD_OK) {
		fprintf(stderr, "follow: %s\n", err);
		return status;
	}
	if ((f.base = event_base_new()) == NULL) {
		fprintf(stderr, "follow: cannot make an event loop\n");
		return OBJD_FAILED;
	}
	status = objd_async_watch(f.conn, argc > 1 ? argv[1] : "", 0,
	    got_changes, &f);
	if (status != OBJD_OK) {
		fprintf(stderr, "follow: %s\n", objd_async_error(f.conn));
		return status;
	}
	f.readable = event_new(f.base, objd_async_fd(f.conn),
	    EV_READ | EV_PERSIST, on_io, &f);
	f.writable =
	    event_new(f.base, objd_async_fd(f.conn), EV_WRITE, on_io, &f);
	event_add(f.readable, NULL);
	want_events(&f);
	tick = event_new(f.base, -1, EV_PERSIST, on_tick, NULL);
	event_add(tick, &second);
	event_base_dispatch(f.base);
	event_free(tick);
	event_free(f.readable);
	event_free(f.writable);
	objd_async_close(f.conn);
	event_base_free(f.base);
	return f.status;
}
