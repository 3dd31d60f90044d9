/* SPDX-License-Identifier: ISC */
/* harness.h: the end-to-end harness.
 *
 * A test opens a session: a short temporary folder that holds the object
 * file, the socket and objd's log. It starts objd as a user would, runs
 * objctl with captured stdout, stderr and exit status, sends raw bytes to
 * the socket, and stops objd with SIGTERM, checking that it exits 0 and
 * removes its socket. Every failure is a Check failure that says where it
 * happened and what the programs printed.
 *
 * Cleanup: the foreground objd is in the test's process group, so Check
 * kills it with the test; it also dies with its parent (PR_SET_PDEATHSIG).
 * e2e_init() makes the runner a child subreaper, so a daemon that went to
 * the background is reparented to it, and e2e_fini() kills what is left
 * and removes every folder. */
#ifndef OBJD_E2E_HARNESS_H
#define OBJD_E2E_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <check.h>

#include "objd-client.h"
#include "objd.pb-c.h"

/* How long a condition may take before it counts as a failure. These are
 * deadlines, never performance assertions: the machine is slow and shared
 * and the suite runs under ASan too. */
#define E2E_DEADLINE 10.0
/* How long one objctl or objd command may run. */
#define E2E_RUN_DEADLINE 30.0

struct session {
	char dir[64];  /* the session's folder */
	char file[96]; /* DIR/objd.pb */
	char sock[96]; /* DIR/objd.sock */
	char log[96];  /* DIR/objd.log: objd's stdout and stderr */
	pid_t objd;    /* the foreground objd, or -1 */
	/* The OBJD_SOCKET that objctl sees; sock unless a test changes it. */
	const char *ctl_socket;
	/* When not 0, objctl and the other commands run as this user and
	 * group, without supplementary groups (tests run as root). */
	uid_t run_uid;
	gid_t run_gid;
	/* The last command run. status is its exit code, 128 + N if signal N
	 * killed it, or -1 if it outlived E2E_RUN_DEADLINE. */
	int status;
	char *out;
	size_t outlen;
	char *err;
	size_t errlen;
};

/* How e2e_start_with() starts objd. */
struct objd_opts {
	/* RLIMIT_FSIZE for objd, in bytes; 0 leaves the limit alone. */
	rlim_t fsize;
	/* --reload-interval; NULL means 0.1. */
	const char *reload_interval;
	/* More arguments, NULL-terminated; NULL for none. */
	const char *const *extra;
	/* NAME=VALUE strings for objd's environment, NULL-terminated; each
	 * replaces a variable of that name. NULL for none. */
	const char *const *env;
};

/* 1 when built with AddressSanitizer, whose allocator keeps freed memory:
 * bounds on objd's RSS hold only without it. */
#if defined(__SANITIZE_ADDRESS__)
#define E2E_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define E2E_SANITIZED 1
#endif
#endif
#ifndef E2E_SANITIZED
#define E2E_SANITIZED 0
#endif

#define E2E_ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Once per program, in main: finds objd and objctl ($OBJD_BIN,
 * $OBJCTL_BIN), makes the base folder and becomes a subreaper. */
void e2e_init(void);
/* Once per program, after the run: kills strays, removes the base folder. */
void e2e_fini(void);
/* The session of the test that runs: e2e_setup() opens it and
 * e2e_teardown() closes it, as a Check fixture. */
extern struct session e2e_session;
void e2e_setup(void);
void e2e_teardown(void);
/* A test case of suite with that fixture and timeout (seconds). */
TCase *e2e_tcase(Suite *suite, const char *name, double timeout);
/* main() of an end-to-end program: e2e_init(), the suite, e2e_fini();
 * the exit status says whether every test passed. */
int e2e_main(Suite *suite);
/* A libobjd client of the session's objd; fails the test if it cannot
 * connect. */
objd_client *e2e_client(const struct session *s);

/* A new session with its own folder; no objd yet. */
void e2e_open(struct session *s);
/* Stops objd if it still runs (checking it stops cleanly), kills any
 * process left behind, removes the folder. */
void e2e_close(struct session *s);

/* Starts `objd --foreground --file DIR/objd.pb --socket DIR/objd.sock
 * --reload-interval 0.1` and waits until the socket answers. */
#define e2e_start(s) e2e_start_with((s), NULL, __FILE__, __LINE__)
#define e2e_start_opts(s, o) e2e_start_with((s), (o), __FILE__, __LINE__)
void e2e_start_with(struct session *s, const struct objd_opts *o,
    const char *file, int line);
/* Sends SIGTERM, waits for objd to exit, checks exit status 0 and that the
 * socket is gone. */
#define e2e_stop(s) e2e_stop_at((s), __FILE__, __LINE__)
void e2e_stop_at(struct session *s, const char *file, int line);
/* Waits until pid, which need not be our child, is gone; *status is its
 * exit status when we could see it, -1 otherwise. False at the
 * deadline. */
bool e2e_wait_gone(pid_t pid, double timeout, int *status);
/* kill -9 objd and reap it. */
void e2e_kill9(struct session *s);
/* True while the foreground objd runs. */
bool e2e_alive(struct session *s);

/* Runs objctl with argv (without the program name), OBJD_SOCKET set to
 * s->ctl_socket, input on stdin (NULL: /dev/null) and env (NAME=VALUE
 * strings, NULL-terminated; NULL for none) added to the environment.
 * Returns the exit status; s->out and s->err hold what it printed. */
int e2e_objctl(struct session *s, const char *input, const char *const *env,
    const char *const *argv);
/* Runs objd with argv (without the program name), not as the session's
 * objd: for --help, refusals and the background start. */
int e2e_objd_cmd(struct session *s, const char *const *argv);
/* Runs the program argv[0] (a path) with the rest of argv, like
 * e2e_objd_cmd. */
int e2e_run(struct session *s, const char *const *argv);
/* Runs objctl and fails the test unless it exits with want. Returns
 * s->out. */
const char *e2e_objctl_expect(struct session *s, const char *file, int line,
    int want, const char *input, const char *const *argv);

/* The way tests talk: CTL_OK(s, "set", "name", "John") runs
 * `objctl set name John` and requires exit 0; CTL_EXIT(s, 1, "get", "x")
 * requires exit 1. Both give stdout. CTL() just runs it. */
#define CTL(s, ...) e2e_objctl((s), NULL, NULL, E2E_ARGV(__VA_ARGS__))
#define CTL_OK(s, ...)                                                         \
	e2e_objctl_expect((s), __FILE__, __LINE__, 0, NULL,                    \
	    E2E_ARGV(__VA_ARGS__))
#define CTL_EXIT(s, want, ...)                                                 \
	e2e_objctl_expect((s), __FILE__, __LINE__, (want), NULL,               \
	    E2E_ARGV(__VA_ARGS__))

/* Raw clients. */
enum raw_outcome {
	RAW_ANSWER,  /* a whole Response frame arrived */
	RAW_CLOSED,  /* objd closed the connection */
	RAW_TIMEOUT, /* nothing decisive before the deadline */
	RAW_GARBAGE  /* objd sent bytes that are not a Response frame */
};
/* A new connection to the session's socket; fails the test if it cannot. */
int e2e_raw_connect(struct session *s);
/* Sends all of buf; false if objd closed the connection first. */
bool e2e_raw_send(int fd, const void *buf, size_t len);
/* The frame of a get of key as request id, malloc'd; *len its size. */
uint8_t *e2e_get_frame(const char *key, uint64_t id, size_t *len);
/* Waits up to timeout seconds for one answer or for the close. On
 * RAW_ANSWER *resp holds the Response (free with
 * objd__response__free_unpacked). Bytes read past that answer are
 * dropped, so it does not suit pipelined requests. */
enum raw_outcome e2e_raw_wait(int fd, double timeout, Objd__Response **resp);
/* Reads the answers to pipelined requests in turn: the bytes read past
 * one answer wait in the reader for the next call. */
struct raw_reader {
	int fd;
	uint8_t *buf;
	size_t len;
};
void e2e_reader_open(struct raw_reader *r, int fd);
/* As e2e_raw_wait, for the reader's next answer. */
enum raw_outcome e2e_reader_next(struct raw_reader *r, double timeout,
    Objd__Response **resp);
/* Frees what the reader holds; the connection stays open. */
void e2e_reader_close(struct raw_reader *r);
const char *e2e_raw_outcome_str(enum raw_outcome o);

/* Helpers. */
double e2e_now(void);
void e2e_sleep(double seconds);
/* Reads a whole file, NUL-terminated; NULL if it cannot be read. */
char *e2e_read_file(const char *path, size_t *len);
/* Writes a whole file or fails the test. */
void e2e_write_file(const char *path, const void *buf, size_t len);
/* A file as another program writes it (objd-file(5)): one entry, key
 * set to the string value, without header, commit or revision. */
void e2e_write_plain_file(const char *path, const char *key, const char *value);
/* The lines of text, by its newlines. */
size_t e2e_count_lines(const char *text);
/* DIR/name; freed when the session closes. */
char *e2e_path(const struct session *s, const char *name);
/* True if both texts parse as JSON and are equal, types included (30 and
 * 30.0 differ). */
bool e2e_json_same(const char *got, const char *want);
/* True if text is exactly one non-empty line ending in a newline. */
bool e2e_one_line(const char *text);
/* True if some line of text contains word and, as a separate token,
 * value. */
bool e2e_line_has(const char *text, const char *word, const char *value);
/* True if path exists (lstat). */
bool e2e_exists(const char *path);
/* objd's memory in kB, from /proc/PID/status: field is "VmRSS" or
 * "VmHWM" (the peak); -1 if it cannot be read. */
long e2e_objd_kb(const struct session *s, const char *field);
/* objd's log so far, at most its last 4 KiB, for failure messages. */
char *e2e_log_tail(const struct session *s);
/* Waits up to E2E_DEADLINE for objd's log to hold text: a line objd
 * writes after its socket already accepts connections (the socket
 * listens before the loop and what it sets up are ready). */
bool e2e_log_has(const struct session *s, const char *text);
/* Fails the test at file:line with a formatted message. */
_Noreturn void e2e_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
