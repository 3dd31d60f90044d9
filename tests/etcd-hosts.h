/* SPDX-License-Identifier: ISC */
/* etcd-hosts.h: the fixture of the tests that run two objds ("hosts")
 * on one etcd cluster: the test's own session and a second one. */
#ifndef OBJD_ETCD_HOSTS_H
#define OBJD_ETCD_HOSTS_H

#include <stdbool.h>

#include "etcd-cluster.h"
#include "harness.h"

/* Opens the sessions (e2e_session and b) and starts the cluster, with
 * TLS (client certificates required) or without. */
void etcd_hosts_setup(struct etcd_cluster *c, struct session *b, bool tls);
/* Stops both objds first (they stop cleanly with etcd up or down), then
 * the members, before the sessions close, which kill every child of
 * the test that is left. */
void etcd_hosts_teardown(struct etcd_cluster *c, struct session *b);

#endif
