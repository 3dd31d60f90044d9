/* SPDX-License-Identifier: ISC */
/* check_etcd_tls.c: objd on etcd over TLS, end to end: a 3-member
 * cluster serving https:// with client certificates required
 * (--client-cert-auth), its CA and certificates made by openssl in the
 * test's folder, and two objds given --etcd-cacert, --etcd-cert and
 * --etcd-key. Writes, the watch (one host sees the other's change) and a
 * consistent read go over HTTP/2 that TLS's ALPN agreed; without a
 * client certificate etcd refuses objd, and bad TLS options stop objd
 * before it starts. Skipped (77) without etcd or openssl. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "etcd-hosts.h"
#include "harness.h"
#include "objd-client.h"

static struct etcd_cluster cluster;
static struct session *const a = &e2e_session;
static struct session b_session;
static struct session *const b = &b_session;

#define PREFIX "/objd/tls/"

static void
start_host(struct session *s)
{
	etcd_hosts_start(s, &cluster, NULL, PREFIX);
}

/* Waits until key on s reads want (with its newline). */
static bool
wait_value(struct session *s, const char *key, const char *want)
{
	for (double end = e2e_now() + 30; e2e_now() < end; e2e_sleep(0.05))
		if (CTL(s, "get", key) == 0 && strcmp(s->out, want) == 0)
			return true;
	return false;
}

START_TEST(test_tls_hosts)
{
	ck_assert_msg(strncmp(cluster.endpoints, "https://", 8) == 0, "%s",
	    cluster.endpoints);
	start_host(a);
	start_host(b);
	CTL_OK(a, "set", "k", "1");
	ck_assert_str_eq(CTL_OK(a, "get", "k"), "1\n");
	/* b's watch, over TLS too, brings a's change. */
	ck_assert(wait_value(b, "k", "1\n"));
	CTL_OK(b, "set", "k", "2");
	ck_assert_str_eq(CTL_OK(a, "get", "--consistent", "k"), "2\n");
	CTL_OK(a, "status");
	ck_assert_msg(strstr(a->out, "etcd: reachable since") != NULL, "%s",
	    a->out);
	/* A host started afresh loads the state over TLS. */
	e2e_stop(b);
	unlink(b->file);
	start_host(b);
	ck_assert_str_eq(CTL_OK(b, "get", "k"), "2\n");
}
END_TEST

START_TEST(test_tls_refusals)
{
	struct objd_opts o = { 0 };

	/* No client certificate: etcd refuses the connection; objd serves
	 * its (empty) file and refuses writes. */
	o.extra = E2E_ARGV("--etcd", cluster.endpoints, "--etcd-prefix", PREFIX,
	    "--etcd-cacert", cluster.cacert);
	e2e_start_opts(a, &o);
	CTL_EXIT(a, 6, "set", "k", "1");
	CTL_EXIT(a, 6, "get", "--consistent", "k");
	ck_assert_msg(strstr(a->err, "etcd is unreachable") != NULL, "%s",
	    a->err);
	e2e_stop(a);
	/* A certificate without its key, a file that is not there, and TLS
	 * options without an https:// endpoint stop objd at start. */
	ck_assert_int_ne(
	    e2e_objd_cmd(a,
	        E2E_ARGV("--foreground", "--file", a->file, "--socket", a->sock,
	            "--etcd", cluster.endpoints, "--etcd-cert", cluster.cert)),
	    0);
	ck_assert_msg(strstr(a->err, "--etcd-cert needs --etcd-key") != NULL,
	    "%s", a->err);
	ck_assert_int_ne(
	    e2e_objd_cmd(a,
	        E2E_ARGV("--foreground", "--file", a->file, "--socket", a->sock,
	            "--etcd", cluster.endpoints, "--etcd-cacert",
	            "/nonexistent/ca.pem")),
	    0);
	ck_assert_msg(strstr(a->err, "/nonexistent/ca.pem") != NULL, "%s",
	    a->err);
	ck_assert_int_ne(
	    e2e_objd_cmd(a,
	        E2E_ARGV("--foreground", "--file", a->file, "--socket", a->sock,
	            "--etcd", "http://127.0.0.1:1", "--etcd-cacert",
	            cluster.cacert)),
	    0);
	ck_assert_msg(strstr(a->err, "https://") != NULL, "%s", a->err);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("objd on etcd over TLS");
	TCase *tc = etcd_hosts_tcase(suite, "tls", &cluster, b, true);

	tcase_add_test(tc, test_tls_hosts);
	tcase_add_test(tc, test_tls_refusals);
	return etcd_hosts_main(suite);
}
