/* SPDX-License-Identifier: ISC */
/* fuzz_conn.c: libFuzzer harness for what a client's bytes reach.
 *
 * Each input is what one client sends: objd's own connection code
 * (conn.c) reads it from a socketpair on a real event loop, so framing,
 * pbcheck, protobuf-c's unpack, the request table, the access check and
 * every handler run as they do in objd, writes included (group commit,
 * the object file, compaction's child). Whatever objd answers must be
 * well-formed Response frames, and the client must be closed once it
 * hangs up; anything else aborts.
 *
 * The first input byte picks the peer's access level, the second where
 * the bytes are cut in two sends (so that frames also arrive in pieces).
 * Every input starts from an empty object, as after someone replaced the
 * file with an empty one: the objd that serves the inputs is one long
 * life, so its revisions and watch history go on as they would. */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "backend.h"
#include "clock.h"
#include "framing.h"
#include "log.h"
#include "objd.h"
#include "pbcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The largest answer stream checked; later bytes are only counted. */
#define FUZZ_OUT_MAX (1 << 20)
/* How long one input may take before it counts as a hang. */
#define FUZZ_DEADLINE 10.0

struct server server;
struct objd_options options;

static char fuzz_dir[64];
static char fuzz_file[96];
static uint8_t *fuzz_out;
static size_t fuzz_outlen;

static int
fuzz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void
fuzz_cleanup(void)
{
	if (fuzz_dir[0] != '\0')
		nftw(fuzz_dir, fuzz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* The file is the fuzzer's alone: no one else replaces it. */
static void
fuzz_others_replaced(void)
{
	abort();
}

static const struct backend_hooks fuzz_hooks = {
	.committed = batch_committed,
	.others_committed = batch_others_committed,
	.others_replaced = fuzz_others_replaced,
	.snapshot_done = compact_settle,
};

static void
fuzz_init(void)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	char err[1024];

	log_init("objd-fuzz", 0);
	log_set_level(LOG_LEVEL_ERROR);
	signal(SIGPIPE, SIG_IGN);
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/objd-fuzz.XXXXXX", base);
	if (mkdtemp(fuzz_dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	atexit(fuzz_cleanup);
	snprintf(fuzz_file, sizeof(fuzz_file), "%s/objd.pb", fuzz_dir);
	server.base = event_base_new();
	if (server.base == NULL)
		abort();
	options.file_path = fuzz_file;
	options.socket_path = "(fuzz)";
	options.frame_max = FRAME_MAX_DEFAULT;
	options.clients_max = 16;
	options.client_idle_timeout = 0;
	/* Small, so that pausing and resuming a client runs too. */
	options.client_output_max = 1024;
	options.watch_output_max = 64 * 1024;
	options.fsync = FSYNC_NEVER;
	options.socket_mode = 0600;
	options.socket_group = (gid_t)-1;
	fuzz_out = malloc(FUZZ_OUT_MAX);
	if (fuzz_out == NULL)
		abort();
	/* objd's start, as main() makes it. */
	server.file = objfile_open(fuzz_file, FSYNC_NEVER, err, sizeof(err));
	server.store = store_new();
	if (server.file == NULL ||
	    objfile_load(server.file, server.store, true, err, sizeof(err)) !=
	        0) {
		fprintf(stderr, "fuzz_conn: %s\n", err);
		abort();
	}
	server.started = server.last_load = now_wall();
	backend = backend_file_new(server.file, &fuzz_hooks);
	if (!backend->ops->start(backend, err, sizeof(err))) {
		fprintf(stderr, "fuzz_conn: %s\n", err);
		abort();
	}
	batch_init();
	watch_init();
}

/* Files that rejected and torn files leave beside the object file. */
static void
fuzz_tidy(void)
{
	char path[512];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(fuzz_dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".rejected-") != NULL ||
		    strstr(de->d_name, ".torn-") != NULL) {
			snprintf(path, sizeof(path), "%s/%s", fuzz_dir,
			    de->d_name);
			unlink(path);
		}
	closedir(d);
}

/* The object is emptied as a reload of an empty file would do it: one
 * more revision, a reload event, the file written anew. */
static void
fuzz_empty(void)
{
	uint64_t revision = store_revision(server.store) + 1;
	struct store *fresh = store_new();
	char err[1024];

	fuzz_tidy();
	store_set_revision(fresh, revision);
	store_free(server.store);
	server.store = fresh;
	watch_reloaded(revision);
	if (objfile_rewrite(server.file, server.store, err, sizeof(err)) ==
	    -1) {
		fprintf(stderr, "fuzz_conn: %s\n", err);
		abort();
	}
}

/* Checks every whole answer frame read so far and drops it. */
static void
fuzz_check_answers(void)
{
	size_t pos = 0, hlen, blen;
	char why[256];

	while (pos < fuzz_outlen) {
		enum frame_status st = frame_parse_header(fuzz_out + pos,
		    fuzz_outlen - pos, FUZZ_OUT_MAX, &hlen, &blen);

		if (st == FRAME_SHORT)
			break;
		if (st != FRAME_OK) {
			fprintf(stderr, "fuzz_conn: objd sent a bad frame\n");
			abort();
		}
		if (fuzz_outlen - pos < hlen + blen)
			break;
		if (!pbcheck(&objd__response__descriptor, fuzz_out + pos + hlen,
		        blen, why, sizeof(why))) {
			fprintf(stderr, "fuzz_conn: objd sent %s\n", why);
			abort();
		}
		pos += hlen + blen;
	}
	memmove(fuzz_out, fuzz_out + pos, fuzz_outlen - pos);
	fuzz_outlen -= pos;
}

/* Reads what objd answered so far. */
static void
fuzz_read(int fd)
{
	uint8_t sink[4096];
	ssize_t n;

	for (;;) {
		if (fuzz_outlen < FUZZ_OUT_MAX)
			n = read(fd, fuzz_out + fuzz_outlen,
			    FUZZ_OUT_MAX - fuzz_outlen);
		else
			n = read(fd, sink, sizeof(sink));
		if (n <= 0)
			break;
		if (fuzz_outlen < FUZZ_OUT_MAX)
			fuzz_outlen += (size_t)n;
	}
	fuzz_check_answers();
}

/* One turn of objd's loop, as the client reads its answers. A
 * compaction's child is waited for here, where objd would get SIGCHLD. */
static void
fuzz_turn(int fd)
{
	siginfo_t si;

	event_base_loop(server.base, EVLOOP_NONBLOCK);
	loop_turn_end();
	if (objfile_compacting(server.file) &&
	    waitid(P_PID, (id_t)objfile_compact_child(server.file), &si,
	        WEXITED | WNOWAIT) == 0)
		compact_child_exited();
	fuzz_read(fd);
}

/* Sends buf, letting objd run whenever the socket is full. */
static void
fuzz_send(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n == -1 && errno == EAGAIN)
			fuzz_turn(fd);
		else
			return; /* objd closed the connection */
	}
	fuzz_turn(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct conn *c;
	size_t cut;
	double end;
	int sv[2];

	if (!ready) {
		fuzz_init();
		ready = true;
	}
	if (size < 2)
		return 0;
	fuzz_empty();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	        sv) == -1)
		abort();
	c = conn_accept(sv[0]);
	if (c == NULL)
		abort();
	conn_set_access(c, (enum access_level)(data[0] % 3));
	cut = (size - 2) * data[1] / 255;
	data += 2;
	size -= 2;
	fuzz_outlen = 0;

	fuzz_send(sv[1], data, cut);
	fuzz_send(sv[1], data + cut, size - cut);
	shutdown(sv[1], SHUT_WR);
	/* Having hung up, the client is owed its answers, then the close. */
	end = now_monotonic() + FUZZ_DEADLINE;
	while (server.nconns > 0 || batch_pending() ||
	    objfile_compacting(server.file)) {
		if (now_monotonic() > end) {
			fprintf(stderr, "fuzz_conn: objd kept the client\n");
			abort();
		}
		fuzz_turn(sv[1]);
	}
	close(sv[1]);
	return 0;
}
