/* SPDX-License-Identifier: ISC */
/* objctl.c: the command line client of objd, a thin layer over libobjd:
 * main, and the commands that read and write through objd. Their grammar
 * is ctl-parse.c's and what they print goes through ctl-output.c's one
 * interface, as text or as JSON (ctl.h); load, edit and check have files
 * of their own. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ctl.h"
#include "framing.h"
#include "json.h"
#include "log.h"
#include "utf8.h"
#include "value.h"
#include "xmalloc.h"

/* A call that takes longer than this is taken for a stuck objd; a
 * script should not hang forever on one. */
#define CTL_TIMEOUT_DEFAULT 30.0

int
ctl_connect(struct ctl *ctl)
{
	char err[1024];
	int status;

	/* revert reads, then writes, on one connection. */
	if (ctl->client != NULL)
		return OBJD_OK;
	status = objd_connect(ctl->socket, ctl->timeout, &ctl->client, err,
	    sizeof(err));
	if (status != OBJD_OK)
		return ctl_err(status, "%s", err);
	objd_client_set_consistent(ctl->client, ctl->consistent);
	return OBJD_OK;
}

/* What get, list, dump and status read: objd, or with --file the file,
 * read once. */
static int
ctl_source(struct ctl *ctl)
{
	int status;

	if (ctl->file == NULL)
		return ctl_connect(ctl);
	status =
	    ctl_file_read(ctl->file, &ctl->offline, ctl->why, sizeof(ctl->why));
	if (status != OBJD_OK)
		return ctl_err(status, "%s", ctl->why);
	return OBJD_OK;
}

/* The object's revision in the last answer. */
static uint64_t
ctl_revision(struct ctl *ctl)
{
	if (ctl->file != NULL)
		return ctl->offline.scan.revision;
	return objd_client_revision(ctl->client);
}

/* Reports a failed call with objd's words, or libobjd's own (or the
 * file's reader's). */
int
ctl_call_failed(struct ctl *ctl, int status)
{
	const char *why =
	    ctl->file != NULL ? ctl->why : objd_client_error(ctl->client);

	return ctl_err(status, "%s", *why ? why : objd_strerror(status));
}

/* Reports a failed write: a conflict says so first. */
int
ctl_write_failed(struct ctl *ctl, int status)
{
	const char *why = objd_client_error(ctl->client);

	if (*why == '\0')
		why = objd_strerror(status);
	if (status == OBJD_CONFLICT && strncasecmp(why, "conflict", 8) != 0)
		return ctl_err(status, "conflict: %s", why);
	return ctl_err(status, "%s", why);
}

void
ctl_written(struct ctl *ctl)
{
	ctl->out->written(objd_client_revision(ctl->client));
}

static int
ctl_get_all(struct ctl *ctl)
{
	Objd__Response *resp;
	int status;

	if ((status = ctl_source(ctl)) != OBJD_OK)
		return status;
	if (ctl->file != NULL)
		resp = ctl->offline.all;
	else if ((status = objd_get_all_at(ctl->client, ctl->at, &resp)) !=
	    OBJD_OK) {
		objd_response_free(resp);
		return ctl_call_failed(ctl, status);
	}
	ctl->out->object(resp);
	if (ctl->file == NULL)
		objd_response_free(resp);
	return OBJD_OK;
}

int
cmd_get(struct ctl *ctl, int argc, char **argv)
{
	Objd__Value *v;
	uint64_t rev = 0, ttl_ms = 0;
	char *path, *shown;
	int status;

	if (argc == 0 && ctl->meta)
		return ctl_err(CTL_USAGE, "usage: objctl get --meta KEY");
	if (ctl->consistent && ctl->at != 0)
		return ctl_err(CTL_USAGE,
		    "--consistent reads now: not with --at");
	if (argc == 0)
		return ctl_get_all(ctl);
	if ((status = ctl_key_arg(argv[0], &path)) != 0)
		return status;
	if ((status = ctl_source(ctl)) != OBJD_OK) {
		free(path);
		return status;
	}
	if (ctl->file != NULL)
		status = ctl_file_get(&ctl->offline, path, &v, &rev, ctl->why,
		    sizeof(ctl->why));
	else if (ctl->at != 0)
		status = objd_get_at(ctl->client, path, ctl->at, &v, &rev);
	else if (ctl->meta)
		status = objd_get_ttl(ctl->client, path, &v, &rev, &ttl_ms);
	else
		status = objd_get(ctl->client, path, &v);
	free(path);
	/* objd says whether the key did not exist then, or the history
	 * does not reach back so far. */
	if (status == OBJD_NOT_FOUND && ctl->at != 0)
		return ctl_call_failed(ctl, status);
	if (status == OBJD_NOT_FOUND) {
		shown = ctl_escape(argv[0], false);
		ctl_err(status, "key not found: %s", shown);
		free(shown);
		return status;
	}
	if (status != OBJD_OK)
		return ctl_call_failed(ctl, status);
	if (ctl->meta)
		ctl->out->meta(v, rev, ctl_revision(ctl), ttl_ms);
	else
		ctl->out->value(v);
	return OBJD_OK;
}

static int
ctl_strcmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The protocol wants each key once in a change; say so before sending. */
static int
ctl_check_unique(char **keys, size_t n)
{
	char **sorted = xmemdup(keys, n * sizeof(*keys));
	char *shown;
	int status = 0;

	qsort(sorted, n, sizeof(*sorted), ctl_strcmp);
	for (size_t i = 1; i < n && status == 0; i++)
		if (strcmp(sorted[i - 1], sorted[i]) == 0) {
			shown = ctl_escape(sorted[i], false);
			status = ctl_err(CTL_USAGE,
			    "key '%s' is given twice: set each key once",
			    shown);
			free(shown);
		}
	free(sorted);
	return status;
}

static Objd__Value *
ctl_read_value(struct ctl *ctl, const char *key, const char *arg)
{
	Objd__Value *v;
	char err[512], *shown;

	if (ctl->string) {
		if (utf8_valid(arg, strlen(arg)))
			return value_new_string(arg, strlen(arg));
		snprintf(err, sizeof(err),
		    "--string takes UTF-8 text; store binary data as "
		    "{\"$bytes\": \"<base64>\"} without -s");
		v = NULL;
	} else
		v = json_value_from_arg(arg, err, sizeof(err));
	if (v == NULL) {
		shown = ctl_escape(key, false);
		ctl_err(CTL_USAGE, "the value for '%s': %s", shown, err);
		free(shown);
	}
	return v;
}

static void
ctl_free_values(Objd__Value **values, size_t n)
{
	for (size_t i = 0; i < n; i++)
		value_free(values[i]);
	free(values);
}

/* The conditions of set and del: --if-revision or --if-absent, on every
 * key; NULL with *n 0 if there are none. */
static objd_cond *
ctl_conditions(struct ctl *ctl, char **keys, size_t nkeys, size_t *n)
{
	objd_cond *conds;

	*n = 0;
	if (!ctl->if_absent && !ctl->if_revision_set)
		return NULL;
	conds = xcalloc(nkeys, sizeof(*conds));
	for (size_t i = 0; i < nkeys; i++) {
		conds[i].key = keys[i];
		conds[i].absent = ctl->if_absent;
		conds[i].revision = ctl->if_revision;
	}
	*n = nkeys;
	return conds;
}

/* Sends the change of set, del or revert. Sets alone, or deletes alone,
 * go as the Set or Delete request that libobjd's objd_set_if() and
 * objd_delete_if() send (and objd-bench's set and del), so that objctl
 * and a program take one path through objd for one action; objd answers
 * them as it answers a batch of the same operations. --ttl, which libobjd
 * offers on a batch only, goes as a Batch. */
static int
ctl_send_write(struct ctl *ctl, const objd_op *ops, size_t n,
    const objd_cond *conds, size_t nconds)
{
	const Objd__Value **values;
	const char **keys;
	size_t nsets = 0;
	int status;

	for (size_t i = 0; i < n; i++)
		if (ops[i].value != NULL)
			nsets++;
	if (ctl->ttl_ms != 0 || (nsets != 0 && nsets != n))
		return objd_batch_ttl(ctl->client, ops, n, conds, nconds,
		    ctl->ttl_ms);
	keys = xcalloc(n, sizeof(*keys));
	values = xcalloc(n, sizeof(*values));
	for (size_t i = 0; i < n; i++) {
		keys[i] = ops[i].key;
		values[i] = ops[i].value;
	}
	if (nsets == n)
		status =
		    objd_set_if(ctl->client, keys, values, n, conds, nconds);
	else
		status = objd_delete_if(ctl->client, keys, n, conds, nconds);
	free(values);
	free(keys);
	return status;
}

/* Sends the change of set, del or revert, and says how it went. */
static int
ctl_write(struct ctl *ctl, const objd_op *ops, char **keys, size_t n)
{
	objd_cond *conds;
	size_t nconds;
	int status;

	if (ctl->if_absent && ctl->if_revision_set)
		return ctl_err(CTL_USAGE,
		    "--if-revision and --if-absent exclude each other");
	if ((status = ctl_connect(ctl)) != OBJD_OK)
		return status;
	conds = ctl_conditions(ctl, keys, n, &nconds);
	status = ctl_send_write(ctl, ops, n, conds, nconds);
	free(conds);
	if (status == OBJD_NOT_FOUND && n > 1)
		return ctl_err(status, "%s; nothing was deleted",
		    objd_client_error(ctl->client));
	if (status != OBJD_OK)
		return ctl_write_failed(ctl, status);
	ctl_written(ctl);
	return OBJD_OK;
}

/* set -x KEY: the value is standard input as read, a string when it is
 * UTF-8 without NUL and bytes otherwise, as redis-cli -x takes it. */
static int
ctl_set_stdin(struct ctl *ctl, int argc, char **argv)
{
	Objd__Value *value;
	objd_op op;
	char *key, *buf;
	size_t len, cap;
	bool eof;
	int status;

	if (argc != 1)
		return ctl_err(CTL_USAGE,
		    "set -x takes one KEY, whose value is standard input: "
		    "usage: objctl set -x KEY");
	if (ctl->string)
		return ctl_err(CTL_USAGE,
		    "--string and -x exclude each other: -x stores text as a "
		    "string already");
	if ((status = ctl_key_arg(argv[0], &key)) != 0)
		return status;
	if (!ctl_read_upto(STDIN_FILENO, "standard input", FRAME_MAX_DEFAULT,
	        &buf, &len, &cap, &eof)) {
		free(key);
		return CTL_USAGE;
	}
	if (!eof) {
		free(buf);
		free(key);
		return ctl_err(CTL_USAGE,
		    "standard input holds more than %zu bytes, the most one "
		    "request carries",
		    FRAME_MAX_DEFAULT);
	}
	value = utf8_valid(buf, len) ? value_new_string(buf, len)
	                             : value_new_bytes((uint8_t *)buf, len);
	free(buf);
	op.key = key;
	op.value = value;
	status = ctl_write(ctl, &op, &key, 1);
	value_free(value);
	free(key);
	return status;
}

/* The KEY VALUE pairs of set and hold. */
struct ctl_pairs {
	size_t n;
	char **keys;
	Objd__Value **values;
	objd_op *ops;
};

static void
ctl_pairs_free(struct ctl_pairs *p)
{
	free(p->ops);
	ctl_free_values(p->values, p->n);
	ctl_free_strs(p->keys, p->n);
}

/* Reads argv's pairs into p (freed with ctl_pairs_free() on success);
 * 0, or the exit status with the reason printed. */
static int
ctl_pairs_read(struct ctl *ctl, int argc, char **argv, struct ctl_pairs *p)
{
	int status;

	p->n = (size_t)argc / 2;
	if ((status = ctl_key_args(argv, p->n, 2, &p->keys)) != 0)
		return status;
	p->values = xcalloc(p->n, sizeof(*p->values));
	p->ops = xcalloc(p->n, sizeof(*p->ops));
	for (size_t i = 0; i < p->n && status == 0; i++) {
		p->values[i] =
		    ctl_read_value(ctl, argv[2 * i], argv[2 * i + 1]);
		if (p->values[i] == NULL)
			status = CTL_USAGE;
		p->ops[i].key = p->keys[i];
		p->ops[i].value = p->values[i];
	}
	if (status == 0)
		status = ctl_check_unique(p->keys, p->n);
	if (status != 0)
		ctl_pairs_free(p);
	return status;
}

int
cmd_set(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_pairs p;
	char *shown;
	int status;

	if (ctl->from_stdin)
		return ctl_set_stdin(ctl, argc, argv);
	if (argc % 2 != 0) {
		shown = ctl_escape(argv[argc - 1], false);
		ctl_err(CTL_USAGE,
		    "'%s' has no VALUE: usage: objctl set [OPTIONS] KEY VALUE "
		    "[KEY VALUE...]",
		    shown);
		free(shown);
		return CTL_USAGE;
	}
	if ((status = ctl_pairs_read(ctl, argc, argv, &p)) != 0)
		return status;
	status = ctl_write(ctl, p.ops, p.keys, p.n);
	ctl_pairs_free(&p);
	return status;
}

/* del --prefix PREFIX: one change, like del of every key it finds. */
static int
ctl_del_prefix(struct ctl *ctl, int argc)
{
	char *prefix;
	int status;

	if (argc != 0)
		return ctl_err(CTL_USAGE,
		    "del --prefix takes no KEY: usage: objctl del --prefix "
		    "PREFIX");
	if (ctl->if_absent || ctl->if_revision_set)
		return ctl_err(CTL_USAGE,
		    "del --prefix takes no --if-revision or --if-absent");
	if (*ctl->prefix == '\0')
		return ctl_err(CTL_USAGE,
		    "del --prefix wants a PREFIX that is not empty (to empty "
		    "the object: echo '{}' | objctl load)");
	if ((status = ctl_prefix_arg(ctl->prefix, &prefix)) != 0)
		return status;
	if ((status = ctl_connect(ctl)) == OBJD_OK) {
		status = objd_delete_prefix(ctl->client, prefix);
		if (status != OBJD_OK)
			status = ctl_write_failed(ctl, status);
		else
			ctl_written(ctl);
	}
	free(prefix);
	return status;
}

int
cmd_del(struct ctl *ctl, int argc, char **argv)
{
	size_t n = (size_t)argc;
	objd_op *ops;
	char **keys;
	int status;

	if (ctl->prefix != NULL)
		return ctl_del_prefix(ctl, argc);
	if (n == 0)
		return ctl_err(CTL_USAGE,
		    "usage: objctl del [OPTIONS] KEY... or objctl del "
		    "--prefix PREFIX");
	if ((status = ctl_key_args(argv, n, 1, &keys)) != 0)
		return status;
	ops = xcalloc(n, sizeof(*ops));
	for (size_t i = 0; i < n; i++)
		ops[i].key = keys[i];
	status = ctl_check_unique(keys, n);
	if (status == 0)
		status = ctl_write(ctl, ops, keys, n);
	free(ops);
	ctl_free_strs(keys, n);
	return status;
}

int
cmd_list(struct ctl *ctl, int argc, char **argv)
{
	Objd__Response *resp;
	char *prefix;
	int status;

	if ((status = ctl_prefix_arg(argc > 0 ? argv[0] : "", &prefix)) != 0)
		return status;
	if ((status = ctl_source(ctl)) != OBJD_OK) {
		free(prefix);
		return status;
	}
	if (ctl->file != NULL)
		resp = ctl_file_list(&ctl->offline, prefix);
	else
		status = objd_list(ctl->client, prefix, &resp);
	free(prefix);
	if (status != OBJD_OK) {
		objd_response_free(resp);
		return ctl_call_failed(ctl, status);
	}
	ctl->out->keys(resp->keys, resp->n_keys);
	objd_response_free(resp);
	return OBJD_OK;
}

/* Set by SIGINT: watch ends, with exit 0. */
static volatile sig_atomic_t ctl_interrupted;

static void
ctl_on_sigint(int sig)
{
	(void)sig;
	ctl_interrupted = 1;
}

/* hold: sets the keys, held by this connection, then waits for SIGINT
 * or SIGTERM (exit 0) or for objd to close the connection (exit 6): the
 * keys go with the connection, however objctl ends. */
int
cmd_hold(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_pairs p;
	struct sigaction sa;
	struct pollfd pfd;
	int status;

	if (argc % 2 != 0)
		return ctl_err(CTL_USAGE,
		    "usage: objctl hold [--if-absent] KEY VALUE [KEY "
		    "VALUE...]");
	if ((status = ctl_pairs_read(ctl, argc, argv, &p)) != 0)
		return status;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ctl_on_sigint;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the signal must end the wait. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	status = ctl_connect(ctl);
	if (status == 0) {
		status = objd_hold(ctl->client, p.ops, p.n, ctl->if_absent);
		if (status != OBJD_OK)
			status = ctl_write_failed(ctl, status);
	}
	ctl_pairs_free(&p);
	if (status != 0)
		return status;
	ctl_written(ctl);
	fflush(stdout);
	pfd.fd = objd_client_fd(ctl->client);
	pfd.events = POLLIN;
	while (!ctl_interrupted) {
		if (poll(&pfd, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			return ctl_err(OBJD_FAILED, "poll: %s",
			    strerror(errno));
		}
		if (pfd.revents != 0)
			return ctl_err(OBJD_FAILED,
			    "objd closed the connection: the keys are no "
			    "longer held");
	}
	return OBJD_OK;
}

/* Where a watch is in --count: a change is one revision, which may
 * carry many events, each a frame of its own. */
struct watch_count {
	uint64_t seen;     /* changes begun */
	uint64_t revision; /* of the change being printed */
	uint64_t mark;     /* the mark asked for once the last began, or 0 */
};

/* Prints the events of r that --count lets through. Once the last change
 * counted begins, a mark is asked for (objd_watch_mark()): every event of
 * that change comes before it, and nothing after it is printed. */
static int
ctl_watch_events(struct ctl *ctl, const Objd__Response *r,
    struct watch_count *wc)
{
	const Objd__Event *e;
	int status;

	for (size_t i = 0; i < r->n_events; i++) {
		e = r->events[i];
		if (e->revision != wc->revision || wc->seen == 0) {
			if (wc->mark != 0)
				return 0;
			wc->seen++;
			wc->revision = e->revision;
			if (ctl->count_set && wc->seen == ctl->count &&
			    objd_watch_mark(ctl->client, &wc->mark) != OBJD_OK)
				return ctl_call_failed(ctl, OBJD_UNREACHABLE);
		}
		if ((status = ctl->out->watch_event(e)) != 0)
			return status;
	}
	return 0;
}

/* Follows the watch until --count changes, SIGINT, or its end. */
static int
ctl_watch_follow(struct ctl *ctl, struct watch_count *wc)
{
	Objd__Response *r;
	int status;

	if (ctl->count_set && ctl->count == 0)
		return OBJD_OK;
	for (;;) {
		/* A signal ends the wait at once; the timeout only covers
		 * one that came just before it. */
		status = objd_watch_next(ctl->client, &r, 1.0);
		if (ctl_interrupted) {
			objd_response_free(r);
			return OBJD_OK;
		}
		if (status != OBJD_OK) {
			objd_response_free(r);
			return ctl_call_failed(ctl, status);
		}
		if (r != NULL && wc->mark != 0 && r->id == wc->mark) {
			objd_response_free(r);
			return OBJD_OK;
		}
		status = r != NULL ? ctl_watch_events(ctl, r, wc) : 0;
		objd_response_free(r);
		if (status != 0)
			return status;
	}
}

int
cmd_watch(struct ctl *ctl, int argc, char **argv)
{
	struct watch_count wc = { 0, 0, 0 };
	struct sigaction sa;
	Objd__Response *first;
	char *prefix;
	int status;

	if ((status = ctl_prefix_arg(argc > 0 ? argv[0] : "", &prefix)) != 0)
		return status;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ctl_on_sigint;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the signal must end the wait for objd. */
	sigaction(SIGINT, &sa, NULL);
	if ((status = ctl_connect(ctl)) != OBJD_OK) {
		free(prefix);
		return status;
	}
	status = objd_watch(ctl->client, prefix, ctl->since, &first);
	free(prefix);
	if (status != OBJD_OK) {
		objd_response_free(first);
		return ctl_call_failed(ctl, status);
	}
	if (ctl->since == 0)
		status = ctl->out->watch_current(first);
	/* Changes that came with the first answer. */
	if (status == 0 && !(ctl->count_set && ctl->count == 0))
		status = ctl_watch_events(ctl, first, &wc);
	objd_response_free(first);
	if (status != 0)
		return status;
	return ctl_watch_follow(ctl, &wc);
}

int
cmd_dump(struct ctl *ctl, int argc, char **argv)
{
	return ctl_get_all(ctl);
}

int
cmd_status(struct ctl *ctl, int argc, char **argv)
{
	Objd__Response *resp;
	int status;

	if ((status = ctl_source(ctl)) != OBJD_OK)
		return status;
	if (ctl->file != NULL) {
		ctl->out->file_status(&ctl->offline);
		return OBJD_OK;
	}
	if ((status = objd_status(ctl->client, &resp)) != OBJD_OK) {
		objd_response_free(resp);
		return ctl_call_failed(ctl, status);
	}
	ctl->out->status(resp->info);
	objd_response_free(resp);
	return OBJD_OK;
}

int
cmd_history(struct ctl *ctl, int argc, char **argv)
{
	Objd__Response *resp;
	char *path;
	int status;

	if ((status = ctl_key_arg(argv[0], &path)) != 0)
		return status;
	if (ctl->file != NULL)
		status = ctl_file_history(ctl->file, path, &resp, ctl->why,
		    sizeof(ctl->why));
	else if ((status = ctl_connect(ctl)) != OBJD_OK) {
		free(path);
		return status;
	} else
		status = objd_history(ctl->client, path, &resp);
	free(path);
	if (status != OBJD_OK) {
		objd_response_free(resp);
		return ctl_call_failed(ctl, status);
	}
	for (size_t i = 0; i < resp->n_versions; i++)
		ctl->out->version(resp->versions[i]);
	objd_response_free(resp);
	return OBJD_OK;
}

int
cmd_revert(struct ctl *ctl, int argc, char **argv)
{
	uint64_t rev;
	Objd__Value *v = NULL;
	objd_op op = { 0 };
	char *path;
	const char *why;
	int status;

	if ((status = ctl_key_arg(argv[0], &path)) != 0)
		return status;
	if (ctl_set_uint("revert", "a revision", argv[1], &rev) != 0 ||
	    rev == 0) {
		free(path);
		return ctl_err(CTL_USAGE,
		    "usage: objctl revert KEY REV (REV a revision from 1 on)");
	}
	if ((status = ctl_connect(ctl)) != OBJD_OK) {
		free(path);
		return status;
	}
	status = objd_get_at(ctl->client, path, rev, &v, NULL);
	why = objd_client_error(ctl->client);
	/* Absent then: deleted now. A history that does not reach back so
	 * far is an error. */
	if (status == OBJD_NOT_FOUND && strstr(why, "older than") != NULL) {
		free(path);
		return ctl_call_failed(ctl, status);
	}
	if (status != OBJD_OK && status != OBJD_NOT_FOUND) {
		free(path);
		return ctl_call_failed(ctl, status);
	}
	/* Absent then and now, unconditionally: nothing to change. */
	if (v == NULL && !ctl->if_revision_set) {
		Objd__Value *now = NULL;

		status = objd_get(ctl->client, path, &now);
		objd_value_free(now);
		if (status != OBJD_OK) {
			free(path);
			if (status != OBJD_NOT_FOUND)
				return ctl_call_failed(ctl, status);
			ctl_written(ctl);
			return OBJD_OK;
		}
	}
	op.key = path;
	op.value = v;
	status = ctl_write(ctl, &op, &path, 1);
	objd_value_free(v);
	free(path);
	return status;
}

int
cmd_reload(struct ctl *ctl, int argc, char **argv)
{
	int status;

	if ((status = ctl_connect(ctl)) != OBJD_OK)
		return status;
	if ((status = objd_reload(ctl->client)) != OBJD_OK)
		return ctl_call_failed(ctl, status);
	ctl_written(ctl);
	return OBJD_OK;
}

int
cmd_compact(struct ctl *ctl, int argc, char **argv)
{
	int status;

	if ((status = ctl_connect(ctl)) != OBJD_OK)
		return status;
	if ((status = objd_compact(ctl->client)) != OBJD_OK)
		return ctl_call_failed(ctl, status);
	ctl_written(ctl);
	return OBJD_OK;
}

int
cmd_ping(struct ctl *ctl, int argc, char **argv)
{
	int status;

	if ((status = ctl_connect(ctl)) != OBJD_OK)
		return status;
	if ((status = objd_ping(ctl->client)) != OBJD_OK)
		return ctl_call_failed(ctl, status);
	ctl->out->pong();
	return OBJD_OK;
}

/* A full disk or a closed pipe must not pass for success. */
static int
ctl_flush(int status)
{
	if (fflush(stdout) == EOF || ferror(stdout))
		return ctl_err(status == OBJD_OK ? OBJD_FAILED : status,
		    "cannot write the output: %s", strerror(errno));
	return status;
}

int
main(int argc, char **argv)
{
	struct ctl ctl = { .timeout = CTL_TIMEOUT_DEFAULT };
	const struct ctl_cmd *cmd;
	int rc, status, nargs;
	char **args;

	log_init("objctl", 0);
	if ((rc = ctl_parse(&ctl, argc, argv, &cmd, &args, &nargs)) != 0)
		return ctl_flush(rc < 0 ? 0 : rc);
	ctl.out = ctl.json ? &ctl_output_json : &ctl_output_text;
	status = cmd->fn(&ctl, nargs, args);
	objd_close(ctl.client);
	ctl_file_free(&ctl.offline);
	free(args);
	return ctl_flush(status);
}
