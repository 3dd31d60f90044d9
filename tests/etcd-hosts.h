/* SPDX-License-Identifier: ISC */
/* etcd-hosts.h: the fixture of the tests that run two objds ("hosts")
 * on one etcd cluster: the test's own session and a second one. */
#ifndef OBJD_ETCD_HOSTS_H
#define OBJD_ETCD_HOSTS_H

#include <stdbool.h>

#include <check.h>

#include "etcd-cluster.h"
#include "harness.h"

/* Opens the sessions (e2e_session and b) and starts the cluster, with
 * TLS (client certificates required) or without. */
void etcd_hosts_setup(struct etcd_cluster *c, struct session *b, bool tls);
/* Stops both objds first (they stop cleanly with etcd up or down), then
 * the members, before the sessions close, which kill every child of
 * the test that is left. */
void etcd_hosts_teardown(struct etcd_cluster *c, struct session *b);
/* A test case of suite whose fixture is the two above on c and b (one
 * fixture per program: the last one given), with the tests' timeout. */
TCase *etcd_hosts_tcase(Suite *suite, const char *name, struct etcd_cluster *c,
    struct session *b, bool tls);
/* Starts s's objd on endpoints (c's, every member, when NULL) under
 * prefix, with c's CA, certificate and key when c serves TLS. */
void etcd_hosts_start(struct session *s, const struct etcd_cluster *c,
    const char *endpoints, const char *prefix);
/* main() of a program of etcd_hosts_tcase's cases: 77 (skipped)
 * without etcd, or without openssl for a TLS fixture; 99 if the
 * clusters' folder cannot be made; else e2e_main's status. */
int etcd_hosts_main(Suite *suite);

#endif
