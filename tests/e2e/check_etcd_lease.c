/* SPDX-License-Identifier: ISC */
/* check_etcd_lease.c: expiring and held keys on etcd, end to end: two
 * objds ("hosts" A and B) on one prefix of a real 3-member cluster
 * (tests/etcd-cluster.c). A key set with --ttl on A is put with an etcd
 * lease, so etcd deletes it for both hosts, which see it as one expiry;
 * a key held on A goes on both when its holder ends, and when A's objd
 * is killed, once the lease it no longer renews runs out. Skipped (77)
 * without etcd. */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "etcd-hosts.h"
#include "harness.h"
#include "objd-client.h"

static struct etcd_cluster cluster;
static struct session *const a = &e2e_session;
static struct session b_session;
static struct session *const b = &b_session;

#define PREFIX "/objd/lease/"
/* objd's held keys' lease TTL (HOLD_TTL in etcd-backend.h), and how long
 * past it a key may take to go: etcd checks its leases every 500 ms,
 * and the machine is shared. */
#define HOLD_TTL 10.0
#define MARGIN 20.0

static void
start_host(struct session *s)
{
	etcd_hosts_start(s, &cluster, NULL, PREFIX);
}

/* Waits up to secs for key to be there (present) or gone on s. */
static bool
wait_key(struct session *s, const char *key, bool present, double secs)
{
	for (double end = e2e_now() + secs; e2e_now() < end; e2e_sleep(0.1))
		if ((CTL(s, "get", key) == 0) == present)
			return true;
	return (CTL(s, "get", key) == 0) == present;
}

/* A watch on s, and what it saw: "SET key", "DEL key", "EXP key"
 * lines. */
struct watcher {
	objd_client *c;
	char log[4096];
};

static void
watch_start(struct watcher *w, struct session *s)
{
	Objd__Response *first = NULL;

	memset(w, 0, sizeof(*w));
	w->c = e2e_client(s);
	ck_assert_int_eq(objd_watch(w->c, "", 0, &first), OBJD_OK);
	objd_response_free(first);
}

/* Reads events until the log holds until, or 30 s passed. */
static void
watch_until(struct watcher *w, const char *until)
{
	for (double end = e2e_now() + 30;
	     e2e_now() < end && strstr(w->log, until) == NULL;) {
		Objd__Response *r = NULL;

		ck_assert_int_eq(objd_watch_next(w->c, &r, 0.2), OBJD_OK);
		for (size_t i = 0; r != NULL && i < r->n_events; i++) {
			const Objd__Event *ev = r->events[i];
			size_t len = strlen(w->log);
			const char *type = "SET";

			if (ev->type == OBJD__EVENT__TYPE__DELETE)
				type = "DEL";
			else if (ev->type == OBJD__EVENT__TYPE__EXPIRE)
				type = "EXP";
			else if (ev->type == OBJD__EVENT__TYPE__RELOAD)
				type = "RELOAD";
			snprintf(w->log + len, sizeof(w->log) - len, "%s %s\n",
			    type, ev->key ? ev->key : "");
		}
		objd_response_free(r);
	}
}

/* Starts `objctl hold KEY VALUE` on A in the background and waits
 * until B sees KEY. */
static pid_t
hold_start(const char *key, const char *value)
{
	const char *bin = getenv("OBJCTL_BIN");
	pid_t pid = fork();

	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		setenv("OBJD_SOCKET", a->ctl_socket, 1);
		execl(bin, bin, "hold", key, value, (char *)NULL);
		_exit(127);
	}
	ck_assert_msg(wait_key(b, key, true, E2E_DEADLINE),
	    "hold on A did not reach B");
	return pid;
}

static void
hold_end(pid_t pid)
{
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}

START_TEST(test_ttl_expires_on_every_host)
{
	struct watcher wa, wb;

	start_host(a);
	start_host(b);
	watch_start(&wa, a);
	watch_start(&wb, b);
	CTL_OK(a, "set", "--ttl", "2", "t", "1");
	CTL_OK(a, "set", "p", "1");
	ck_assert(wait_key(b, "t", true, E2E_DEADLINE));
	CTL_OK(a, "get", "--meta", "t");
	ck_assert_msg(strstr(a->out, "expires in: ") != NULL, "%s", a->out);
	ck_assert_msg(wait_key(a, "t", false, 2 + MARGIN), "t stayed on A");
	ck_assert_msg(wait_key(b, "t", false, 2 + MARGIN), "t stayed on B");
	/* etcd deleted it, once, and both hosts saw an expiry. */
	watch_until(&wa, "EXP t\n");
	watch_until(&wb, "EXP t\n");
	ck_assert_msg(strcmp(wa.log, "SET t\nSET p\nEXP t\n") == 0, "A:\n%s",
	    wa.log);
	ck_assert_str_eq(wa.log, wb.log);
	CTL_OK(b, "get", "p");
	/* A later set without --ttl leaves the key for good: its put
	 * carries no lease. */
	CTL_OK(a, "set", "--ttl", "2", "u", "1");
	CTL_OK(a, "set", "u", "2");
	watch_until(&wb, "SET u\nSET u\n");
	/* A key whose lease ends after u's would have. */
	CTL_OK(a, "set", "--ttl", "4", "marker", "1");
	ck_assert_msg(wait_key(b, "marker", false, 4 + MARGIN),
	    "marker stayed on B");
	ck_assert_str_eq(CTL_OK(b, "get", "u"), "2\n");
	/* Every host knows the time left: the lease's id carries it. */
	CTL_OK(a, "set", "--ttl", "600", "long", "1");
	ck_assert(wait_key(b, "long", true, E2E_DEADLINE));
	CTL_OK(b, "get", "--meta", "long");
	ck_assert_msg(strstr(b->out, "expires in: ") != NULL, "%s", b->out);
	CTL_OK(b, "get", "--meta", "u");
	ck_assert_msg(strstr(b->out, "expires in") == NULL, "%s", b->out);
	objd_close(wa.c);
	objd_close(wb.c);
}
END_TEST

START_TEST(test_held_key_goes_with_holder)
{
	struct watcher wb;
	pid_t pid;

	start_host(a);
	start_host(b);
	watch_start(&wb, b);
	pid = hold_start("h", "1");
	CTL_OK(b, "status");
	ck_assert_msg(strstr(b->out, "held keys: 1") != NULL, "%s", b->out);
	/* The lease is renewed: the key outlives its TTL while held. */
	for (double end = e2e_now() + HOLD_TTL + 3; e2e_now() < end;
	     e2e_sleep(0.5))
		ck_assert_msg(CTL(b, "get", "h") == 0,
		    "h went while held: the lease was not renewed");
	hold_end(pid);
	ck_assert_msg(wait_key(a, "h", false, E2E_DEADLINE), "h stayed on A");
	ck_assert_msg(wait_key(b, "h", false, E2E_DEADLINE), "h stayed on B");
	/* A holder's end is a delete, not an expiry, on every host. */
	watch_until(&wb, "DEL h\n");
	ck_assert_msg(strcmp(wb.log, "SET h\nDEL h\n") == 0, "B:\n%s", wb.log);
	objd_close(wb.c);
}
END_TEST

START_TEST(test_held_key_goes_with_its_objd)
{
	pid_t pid;

	start_host(a);
	start_host(b);
	CTL_OK(a, "set", "permanent", "1");
	pid = hold_start("h", "1");
	/* A's objd dies: nobody revokes the lease, nobody renews it. */
	e2e_kill9(a);
	hold_end(pid);
	ck_assert_msg(wait_key(b, "h", false, HOLD_TTL + MARGIN),
	    "h stayed on B after A's objd died");
	ck_assert_str_eq(CTL_OK(b, "get", "permanent"), "1\n");
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("leases on etcd");
	TCase *tc = etcd_hosts_tcase(suite, "etcd leases", &cluster, b, false);

	tcase_add_test(tc, test_ttl_expires_on_every_host);
	tcase_add_test(tc, test_held_key_goes_with_holder);
	tcase_add_test(tc, test_held_key_goes_with_its_objd);
	return etcd_hosts_main(suite);
}
