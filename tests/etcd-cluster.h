/* SPDX-License-Identifier: ISC */
/* etcd-cluster.h: a 3-member etcd cluster on 127.0.0.1 for the tests.
 *
 * Each member gets free client and peer ports and a data folder under a
 * temporary folder (on /dev/shm when there is one: etcd fsyncs its WAL
 * on every commit), and runs with the flags objd(8) recommends and short
 * timings:
 * --heartbeat-interval 50 --election-timeout 500 --pre-vote and a
 * progress notification every second. The members die with the process
 * that started them (PR_SET_PDEATHSIG); etcd_cluster_stop kills what is
 * left (SIGCONT first, so that a stopped member can die) and removes
 * the folder. */
#ifndef OBJD_ETCD_CLUSTER_H
#define OBJD_ETCD_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <check.h>

#define ETCD_MEMBERS 3

struct etcd_member {
	char name[16];
	int client_port, peer_port;
	char url[64]; /* http(s)://127.0.0.1:client_port */
	char data[300];
	pid_t pid; /* -1 when not running */
	bool stopped;
};

struct etcd_cluster {
	char dir[256];
	char log[300]; /* the members' output, all in one file */
	char initial[512];
	char endpoints[256]; /* every member's URL, comma-separated */
	struct etcd_member m[ETCD_MEMBERS];
	/* Client TLS (etcd_cluster_start_tls): the CA, and a client
	 * certificate and key it signed, in dir. */
	bool tls;
	char cacert[300], cert[300], key[300];
};

/* The etcd program ($ETCD_BIN, or etcd on PATH), or NULL: the tests
 * that need it skip (exit 77) without it. */
const char *etcd_cluster_program(void);
/* Once per program, in main, around the run: the folder that holds the
 * clusters' folders, removed at the end with whatever a failed test
 * (whose teardown Check does not run) left in it. False with err. */
bool etcd_cluster_init(char *err, size_t errlen);
void etcd_cluster_fini(void);
/* Starts the three members and waits until each answers /health;
 * false with err. */
bool etcd_cluster_start(struct etcd_cluster *c, char *err, size_t errlen);
/* The openssl program on PATH, or NULL: the TLS tests skip without. */
const char *etcd_cluster_openssl(void);
/* etcd_cluster_start with client TLS: openssl makes a CA, a server
 * certificate for 127.0.0.1 and a client certificate in the cluster's
 * folder, and the members serve https:// client URLs with
 * --client-cert-auth (their peers talk plain http). */
bool etcd_cluster_start_tls(struct etcd_cluster *c, char *err, size_t errlen);
/* Stops every member and removes the folder. */
void etcd_cluster_stop(struct etcd_cluster *c);
/* kill -9 of member i, reaped. */
void etcd_cluster_kill(struct etcd_cluster *c, int i);
/* Starts member i again on its data; waits until it answers /health. */
bool etcd_cluster_restart(struct etcd_cluster *c, int i, char *err,
    size_t errlen);
/* Starts member i again and returns: after all were killed, none is
 * healthy until a majority runs (etcd_cluster_wait_healthy). */
bool etcd_cluster_respawn(struct etcd_cluster *c, int i, char *err,
    size_t errlen);
/* SIGSTOP and SIGCONT of member i. */
void etcd_cluster_pause(struct etcd_cluster *c, int i);
void etcd_cluster_resume(struct etcd_cluster *c, int i);
/* True once member i answers /health with "true" (it has a leader),
 * within timeout seconds. */
bool etcd_cluster_wait_healthy(struct etcd_cluster *c, int i, double timeout);
/* The index of the leader, as the running members say, waiting up to
 * timeout seconds for them to agree on one; -1 if they do not. */
int etcd_cluster_leader(struct etcd_cluster *c, double timeout);
/* The cluster's current revision (a serializable-free Range of one
 * member), or -1. */
long long etcd_cluster_revision(struct etcd_cluster *c);
/* Runs etcdctl with the cluster's endpoints and args (NULL-terminated);
 * its exit status. */
int etcd_cluster_ctl(struct etcd_cluster *c, const char *const *args);
/* main() of a program that runs suite against clusters without objd:
 * 77 (skipped) without etcd, 99 if etcd_cluster_init fails, else
 * whether every test passed. */
int etcd_cluster_main(Suite *suite);

#endif
