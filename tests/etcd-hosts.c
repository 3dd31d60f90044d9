/* SPDX-License-Identifier: ISC */
/* etcd-hosts.c: two objds on one etcd cluster, the tests' fixture. */
#include "config.h"

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
