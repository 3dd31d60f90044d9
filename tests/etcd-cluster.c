/* SPDX-License-Identifier: ISC */
/* etcd-cluster.c: the tests' etcd cluster (etcd-cluster.h).
 *
 * Health and leadership are asked through etcd's JSON gateway with a
 * blocking libcurl call: test code, where blocking is the simple way. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "etcd-cluster.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
nap(double seconds)
{
	struct timespec ts = { (time_t)seconds,
		(long)((seconds - (double)(time_t)seconds) * 1e9) };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* name on PATH, into found; NULL if it is not there. */
static const char *
on_path(const char *name, char *found, size_t size)
{
	const char *path;
	char *copy, *p, *dir;

	if ((path = getenv("PATH")) == NULL)
		path = "/usr/bin:/bin";
	copy = strdup(path);
	for (p = copy; copy != NULL && (dir = strsep(&p, ":")) != NULL;) {
		snprintf(found, size, "%s/%s", *dir ? dir : ".", name);
		if (access(found, X_OK) == 0) {
			free(copy);
			return found;
		}
	}
	free(copy);
	return NULL;
}

const char *
etcd_cluster_program(void)
{
	static char found[512];
	const char *env = getenv("ETCD_BIN");

	if (env != NULL && *env != '\0')
		return access(env, X_OK) == 0 ? env : NULL;
	return on_path("etcd", found, sizeof(found));
}

const char *
etcd_cluster_openssl(void)
{
	static char found[512];

	return on_path("openssl", found, sizeof(found));
}

/* Free ports: each bound to port 0 and kept until all are chosen, so
 * that no two are the same. */
static bool
free_ports(int *ports, int n)
{
	int fds[2 * ETCD_MEMBERS], i;
	bool ok = true;

	for (i = 0; i < n; i++) {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		socklen_t len = sizeof(sin);

		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] == -1 ||
		    bind(fds[i], (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
		    getsockname(fds[i], (struct sockaddr *)&sin, &len) == -1) {
			ok = false;
			ports[i] = 0;
		} else
			ports[i] = ntohs(sin.sin_port);
	}
	for (i = 0; i < n; i++)
		if (fds[i] != -1)
			close(fds[i]);
	return ok;
}

static bool
spawn(struct etcd_cluster *c, int i, char *err, size_t errlen)
{
	struct etcd_member *m = &c->m[i];
	const char *prog = etcd_cluster_program();
	char client[64], peer[64];
	pid_t pid;
	int fd;

	if (prog == NULL) {
		snprintf(err, errlen, "etcd is not installed");
		return false;
	}
	snprintf(client, sizeof(client), "%s://127.0.0.1:%d",
	    c->tls ? "https" : "http", m->client_port);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", m->peer_port);
	if ((fd = open(c->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	         0600)) == -1) {
		snprintf(err, errlen, "%s: %s", c->log, strerror(errno));
		return false;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(fd);
		return false;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 1);
		dup2(fd, 2);
		char server_cert[320], server_key[320];
		const char *argv[48];
		int n = 0;

		snprintf(server_cert, sizeof(server_cert), "%s/server.pem",
		    c->dir);
		snprintf(server_key, sizeof(server_key), "%s/server.key",
		    c->dir);
		for (const char *const *a = (const char *const[]){ "etcd",
		         "--name", m->name, "--data-dir", m->data,
		         "--listen-client-urls", client,
		         "--advertise-client-urls", client,
		         "--listen-peer-urls", peer,
		         "--initial-advertise-peer-urls", peer,
		         "--initial-cluster", c->initial,
		         "--initial-cluster-token", c->dir,
		         "--initial-cluster-state", "new",
		         "--heartbeat-interval", "50", "--election-timeout",
		         "500", "--pre-vote",
		         "--experimental-watch-progress-notify-interval", "1s",
		         "--log-level", "warn", "--logger", "zap", NULL };
		     *a != NULL; a++)
			argv[n++] = *a;
		if (c->tls) {
			argv[n++] = "--cert-file";
			argv[n++] = server_cert;
			argv[n++] = "--key-file";
			argv[n++] = server_key;
			argv[n++] = "--trusted-ca-file";
			argv[n++] = c->cacert;
			argv[n++] = "--client-cert-auth";
		}
		argv[n] = NULL;
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	close(fd);
	m->pid = pid;
	m->stopped = false;
	return true;
}

struct buf {
	char *data;
	size_t len;
};

static size_t
collect(char *p, size_t size, size_t n, void *userp)
{
	struct buf *b = userp;
	char *grown = realloc(b->data, b->len + size * n + 1);

	if (grown == NULL)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, p, size * n);
	b->len += size * n;
	b->data[b->len] = '\0';
	return size * n;
}

/* A JSON gateway call to member i (body NULL: GET); its answer parsed,
 * or NULL. */
static json_t *
ask(struct etcd_cluster *c, int i, const char *path, const char *body)
{
	CURL *h = curl_easy_init();
	struct buf b = { NULL, 0 };
	char url[128];
	json_t *j = NULL;
	long code = 0;

	if (h == NULL)
		return NULL;
	snprintf(url, sizeof(url), "%s%s", c->m[i].url, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (c->tls) {
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->key);
	}
	if (body != NULL)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(h) == CURLE_OK &&
	    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
	    code == 200 && b.data != NULL)
		j = json_loads(b.data, 0, NULL);
	curl_easy_cleanup(h);
	free(b.data);
	return j;
}

bool
etcd_cluster_wait_healthy(struct etcd_cluster *c, int i, double timeout)
{
	double end = now() + timeout;

	do {
		json_t *j = ask(c, i, "/health", NULL);
		const char *h = json_string_value(json_object_get(j, "health"));
		bool ok = h != NULL && strcmp(h, "true") == 0;

		json_decref(j);
		if (ok)
			return true;
		nap(0.05);
	} while (now() < end);
	return false;
}

static char base_dir[128];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	/* On: what cannot go now is left, and the rest removed. */
	remove(path);
	return 0;
}

bool
etcd_cluster_init(char *err, size_t errlen)
{
	struct stat st;
	const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
	        access("/dev/shm", W_OK) == 0
	    ? "/dev/shm"
	    : "/tmp";

	snprintf(base_dir, sizeof(base_dir), "%s/objd-etcd.XXXXXX", base);
	if (mkdtemp(base_dir) == NULL) {
		snprintf(err, errlen, "mkdtemp %s: %s", base_dir,
		    strerror(errno));
		base_dir[0] = '\0';
		return false;
	}
	return true;
}

void
etcd_cluster_fini(void)
{
	if (base_dir[0] != '\0' && getenv("ETCD_KEEP_LOG") == NULL)
		nftw(base_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	base_dir[0] = '\0';
}

/* Runs script with sh in dir; false with err (its output is in
 * dir/openssl.log). */
static bool
run_script(const char *dir, const char *script, char *err, size_t errlen)
{
	pid_t pid;
	int status;

	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return false;
	}
	if (pid == 0) {
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (chdir(dir) == -1)
			_exit(126);
		fd = open("openssl.log", O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl("/bin/sh", "sh", "-ec", script, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			snprintf(err, errlen, "waitpid: %s", strerror(errno));
			return false;
		}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "making certificates failed (see %s/%s)",
		    dir, "openssl.log");
		return false;
	}
	return true;
}

/* A CA, then a server certificate for 127.0.0.1 and a client one that
 * it signs: P-256 keys, quick to make; a day is enough for a test. */
static const char certs_script[] =
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
    "-nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=objd-test-ca\n"
    "for who in server client; do\n"
    "  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
    "-nodes -keyout $who.key -out $who.csr -subj /CN=root\n"
    "  printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,"
    "clientAuth\\n' > $who.ext\n"
    "  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key "
    "-CAcreateserial -days 1 -out $who.pem -extfile $who.ext\n"
    "done\n";

static bool start(struct etcd_cluster *c, bool tls, char *err, size_t errlen);

bool
etcd_cluster_start(struct etcd_cluster *c, char *err, size_t errlen)
{
	return start(c, false, err, errlen);
}

bool
etcd_cluster_start_tls(struct etcd_cluster *c, char *err, size_t errlen)
{
	return start(c, true, err, errlen);
}

static bool
start(struct etcd_cluster *c, bool tls, char *err, size_t errlen)
{
	int ports[2 * ETCD_MEMBERS], i;
	size_t off = 0;
	const char *base = base_dir[0] != '\0' ? base_dir : "/tmp";

	memset(c, 0, sizeof(*c));
	for (i = 0; i < ETCD_MEMBERS; i++)
		c->m[i].pid = -1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(c->dir, sizeof(c->dir), "%s/cluster.XXXXXX", base);
	if (mkdtemp(c->dir) == NULL) {
		snprintf(err, errlen, "mkdtemp %s: %s", c->dir,
		    strerror(errno));
		c->dir[0] = '\0';
		return false;
	}
	snprintf(c->log, sizeof(c->log), "%s/etcd.log", c->dir);
	if (tls) {
		c->tls = true;
		snprintf(c->cacert, sizeof(c->cacert), "%s/ca.pem", c->dir);
		snprintf(c->cert, sizeof(c->cert), "%s/client.pem", c->dir);
		snprintf(c->key, sizeof(c->key), "%s/client.key", c->dir);
		if (!run_script(c->dir, certs_script, err, errlen))
			return false;
	}
	if (!free_ports(ports, 2 * ETCD_MEMBERS)) {
		snprintf(err, errlen, "no free ports");
		return false;
	}
	for (i = 0; i < ETCD_MEMBERS; i++) {
		struct etcd_member *m = &c->m[i];

		snprintf(m->name, sizeof(m->name), "m%d", i);
		m->client_port = ports[2 * i];
		m->peer_port = ports[2 * i + 1];
		snprintf(m->url, sizeof(m->url), "%s://127.0.0.1:%d",
		    tls ? "https" : "http", m->client_port);
		snprintf(m->data, sizeof(m->data), "%s/%s", c->dir, m->name);
		off += (size_t)snprintf(c->initial + off,
		    sizeof(c->initial) - off, "%s%s=http://127.0.0.1:%d",
		    i ? "," : "", m->name, m->peer_port);
		snprintf(c->endpoints + strlen(c->endpoints),
		    sizeof(c->endpoints) - strlen(c->endpoints), "%s%s",
		    i ? "," : "", m->url);
	}
	for (i = 0; i < ETCD_MEMBERS; i++)
		if (!spawn(c, i, err, errlen))
			return false;
	for (i = 0; i < ETCD_MEMBERS; i++) {
		if (!etcd_cluster_wait_healthy(c, i, 30)) {
			snprintf(err, errlen,
			    "etcd member %d is not healthy (see %s)", i,
			    c->log);
			return false;
		}
	}
	return true;
}

static void
reap(struct etcd_member *m)
{
	if (m->pid <= 0)
		return;
	kill(m->pid, SIGCONT);
	kill(m->pid, SIGKILL);
	while (waitpid(m->pid, NULL, 0) == -1 && errno == EINTR)
		;
	m->pid = -1;
	m->stopped = false;
}

void
etcd_cluster_stop(struct etcd_cluster *c)
{
	int i;

	for (i = 0; i < ETCD_MEMBERS; i++)
		reap(&c->m[i]);
	if (c->dir[0] != '\0') {
		if (getenv("ETCD_KEEP_LOG") == NULL)
			nftw(c->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		c->dir[0] = '\0';
	}
}

void
etcd_cluster_kill(struct etcd_cluster *c, int i)
{
	reap(&c->m[i]);
}

bool
etcd_cluster_restart(struct etcd_cluster *c, int i, char *err, size_t errlen)
{
	if (!spawn(c, i, err, errlen))
		return false;
	if (!etcd_cluster_wait_healthy(c, i, 30)) {
		snprintf(err, errlen, "etcd member %d is not healthy again", i);
		return false;
	}
	return true;
}

bool
etcd_cluster_respawn(struct etcd_cluster *c, int i, char *err, size_t errlen)
{
	return spawn(c, i, err, errlen);
}

void
etcd_cluster_pause(struct etcd_cluster *c, int i)
{
	if (c->m[i].pid > 0 && kill(c->m[i].pid, SIGSTOP) == 0)
		c->m[i].stopped = true;
}

void
etcd_cluster_resume(struct etcd_cluster *c, int i)
{
	if (c->m[i].pid > 0 && kill(c->m[i].pid, SIGCONT) == 0)
		c->m[i].stopped = false;
}

/* member_id and leader are uint64 numbers, as JSON strings. */
int
etcd_cluster_leader(struct etcd_cluster *c, double timeout)
{
	double end = now() + timeout;

	do {
		int i, leader = -1, votes = 0, asked = 0;
		char want[32] = "";

		for (i = 0; i < ETCD_MEMBERS; i++) {
			json_t *j;
			const char *id, *l;

			if (c->m[i].pid <= 0 || c->m[i].stopped)
				continue;
			asked++;
			j = ask(c, i, "/v3/maintenance/status", "{}");
			id = json_string_value(json_object_get(
			    json_object_get(j, "header"), "member_id"));
			l = json_string_value(json_object_get(j, "leader"));
			if (id != NULL && l != NULL && strcmp(l, "0") != 0) {
				if (want[0] == '\0')
					snprintf(want, sizeof(want), "%s", l);
				if (strcmp(want, l) == 0)
					votes++;
				if (strcmp(id, l) == 0)
					leader = i;
			}
			json_decref(j);
		}
		if (leader >= 0 && votes == asked)
			return leader;
		nap(0.05);
	} while (now() < end);
	return -1;
}

long long
etcd_cluster_revision(struct etcd_cluster *c)
{
	int i;

	for (i = 0; i < ETCD_MEMBERS; i++) {
		json_t *j;
		const char *rev;
		long long r = -1;

		if (c->m[i].pid <= 0 || c->m[i].stopped)
			continue;
		j = ask(c, i, "/v3/maintenance/status", "{}");
		rev = json_string_value(
		    json_object_get(json_object_get(j, "header"), "revision"));
		if (rev != NULL)
			r = strtoll(rev, NULL, 10);
		json_decref(j);
		if (r >= 0)
			return r;
	}
	return -1;
}

int
etcd_cluster_ctl(struct etcd_cluster *c, const char *const *args)
{
	const char *argv[40];
	char eps[300], ca[320], cert[320], key[320];
	size_t n = 0;
	pid_t pid;
	int status;

	snprintf(eps, sizeof(eps), "--endpoints=%s", c->endpoints);
	argv[n++] = "etcdctl";
	argv[n++] = eps;
	if (c->tls) {
		snprintf(ca, sizeof(ca), "--cacert=%s", c->cacert);
		snprintf(cert, sizeof(cert), "--cert=%s", c->cert);
		snprintf(key, sizeof(key), "--key=%s", c->key);
		argv[n++] = ca;
		argv[n++] = cert;
		argv[n++] = key;
	}
	while (*args != NULL && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (null != -1)
			dup2(null, 1);
		setenv("ETCDCTL_API", "3", 1);
		execvp("etcdctl", (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int
etcd_cluster_main(Suite *suite)
{
	SRunner *sr;
	int failed;
	char err[512];

	if (etcd_cluster_program() == NULL) {
		printf("SKIP: etcd is not installed (apt-get install "
		       "etcd-server etcd-client)\n");
		return 77;
	}
	if (!etcd_cluster_init(err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 99;
	}
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	etcd_cluster_fini();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
