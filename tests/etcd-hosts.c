/* SPDX-License-Identifier: ISC */
/* etcd-hosts.c: two objds on one etcd cluster, the tests' fixture. */
#include "config.h"

#include <stdio.h>

#include <check.h>

#include "etcd-hosts.h"

void
etcd_hosts_setup(struct etcd_cluster *c, struct session *b, bool tls)
{
	char err[512];
	bool started;

	e2e_setup();
	e2e_open(b);
	started = tls ? etcd_cluster_start_tls(c, err, sizeof(err))
	              : etcd_cluster_start(c, err, sizeof(err));
	ck_assert_msg(started, "%s", err);
}

void
etcd_hosts_teardown(struct etcd_cluster *c, struct session *b)
{
	struct session *a = &e2e_session;

	if (b->objd > 0 && e2e_alive(b))
		e2e_stop(b);
	if (a->objd > 0 && e2e_alive(a))
		e2e_stop(a);
	etcd_cluster_stop(c);
	e2e_close(b);
	e2e_teardown();
}

/* The fixture of etcd_hosts_tcase: Check's fixtures take no argument. */
static struct etcd_cluster *fixture_cluster;
static struct session *fixture_b;
static bool fixture_tls;

static void
fixture_setup(void)
{
	etcd_hosts_setup(fixture_cluster, fixture_b, fixture_tls);
}

static void
fixture_teardown(void)
{
	etcd_hosts_teardown(fixture_cluster, fixture_b);
}

TCase *
etcd_hosts_tcase(Suite *suite, const char *name, struct etcd_cluster *c,
    struct session *b, bool tls)
{
	TCase *tc = tcase_create(name);

	fixture_cluster = c;
	fixture_b = b;
	fixture_tls = tls;
	tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(suite, tc);
	return tc;
}

void
etcd_hosts_start(struct session *s, const struct etcd_cluster *c,
    const char *endpoints, const char *prefix)
{
	struct objd_opts o = { 0 };
	const char *const *plain, *const *tls;

	if (endpoints == NULL)
		endpoints = c->endpoints;
	/* Both at the function's scope: a compound literal lives only as
	 * long as the block it is written in. */
	plain = E2E_ARGV("--etcd", endpoints, "--etcd-prefix", prefix);
	tls = E2E_ARGV("--etcd", endpoints, "--etcd-prefix", prefix,
	    "--etcd-cacert", c->cacert, "--etcd-cert", c->cert, "--etcd-key",
	    c->key);
	o.extra = c->tls ? tls : plain;
	e2e_start_opts(s, &o);
}

int
etcd_hosts_main(Suite *suite)
{
	char err[512];
	int rc;

	if (etcd_cluster_program() == NULL) {
		printf("SKIP: etcd is not installed (apt-get install "
		       "etcd-server etcd-client)\n");
		return 77;
	}
	if (fixture_tls && etcd_cluster_openssl() == NULL) {
		printf("SKIP: openssl is not installed (apt-get install "
		       "openssl)\n");
		return 77;
	}
	if (!etcd_cluster_init(err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 99;
	}
	rc = e2e_main(suite);
	etcd_cluster_fini();
	return rc;
}
