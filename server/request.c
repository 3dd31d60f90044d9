/* SPDX-License-Identifier: ISC */
/* request.c: the table of request kinds, the access check, and dispatch.
 *
 * Adding a kind is adding a row here and a handler in the req-*.c file of
 * its family. The table is indexed by the request's oneof case, so a
 * look-up is one bounds check on the hot path. A request that the peer
 * may not run is answered DENIED here, before any handler sees it;
 * access.c only says whether, and why not. */
#include <stdio.h>

#include "log.h"
#include "objd.h"

static const struct request_kind request_kinds[] = {
	[OBJD__REQUEST__OP_GET] = {
	    .name = "get",
	    .op = OBJD__REQUEST__OP_GET,
	    .exec = handle_get,
	},
	[OBJD__REQUEST__OP_SET] = {
	    .name = "set",
	    .op = OBJD__REQUEST__OP_SET,
	    .flags = REQ_WRITES | REQ_BATCHED,
	    .exec = handle_set,
	},
	[OBJD__REQUEST__OP_DELETE] = {
	    .name = "delete",
	    .op = OBJD__REQUEST__OP_DELETE,
	    .flags = REQ_WRITES | REQ_BATCHED,
	    .exec = handle_delete,
	},
	[OBJD__REQUEST__OP_LIST] = {
	    .name = "list",
	    .op = OBJD__REQUEST__OP_LIST,
	    .exec = handle_list,
	},
	[OBJD__REQUEST__OP_PING] = {
	    .name = "ping",
	    .op = OBJD__REQUEST__OP_PING,
	    .exec = handle_ping,
	},
	[OBJD__REQUEST__OP_STATUS] = {
	    .name = "status",
	    .op = OBJD__REQUEST__OP_STATUS,
	    .exec = handle_status,
	},
	[OBJD__REQUEST__OP_RELOAD] = {
	    .name = "reload",
	    .op = OBJD__REQUEST__OP_RELOAD,
	    .flags = REQ_WRITES,
	    .exec = handle_reload,
	},
	[OBJD__REQUEST__OP_COMPACT] = {
	    .name = "compact",
	    .op = OBJD__REQUEST__OP_COMPACT,
	    .flags = REQ_WRITES,
	    .exec = handle_compact,
	},
	[OBJD__REQUEST__OP_BATCH] = {
	    .name = "batch",
	    .op = OBJD__REQUEST__OP_BATCH,
	    .flags = REQ_WRITES | REQ_BATCHED,
	    .exec = handle_batch,
	},
	[OBJD__REQUEST__OP_WATCH] = {
	    .name = "watch",
	    .op = OBJD__REQUEST__OP_WATCH,
	    .exec = handle_watch,
	},
	[OBJD__REQUEST__OP_STAGE] = {
	    .name = "stage",
	    .op = OBJD__REQUEST__OP_STAGE,
	    .flags = REQ_WRITES | REQ_BATCHED,
	    .exec = handle_stage,
	},
	[OBJD__REQUEST__OP_HISTORY] = {
	    .name = "history",
	    .op = OBJD__REQUEST__OP_HISTORY,
	    .exec = handle_history,
	},
};

const struct request_kind *
request_kind_of(Objd__Request__OpCase op)
{
	if ((size_t)op >= sizeof(request_kinds) / sizeof(request_kinds[0]) ||
	    request_kinds[op].exec == NULL)
		return NULL;
	return &request_kinds[op];
}

bool
request_joins_batch(const struct conn *c, const Objd__Request *req)
{
	const struct request_kind *k = request_kind_of(req->op_case);

	/* A refusal would be answered at once, out of order. */
	return k != NULL && (k->flags & REQ_BATCHED) &&
	    access_may(conn_access(c), k->flags) == ACCESS_MAY;
}

/* Answers DENIED to request id, a request named name, and logs it: the
 * first refusal of a connection is worth a warning; a client that
 * insists must not flood the log. */
static void
request_deny(struct conn *c, const char *name, uint64_t id,
    enum access_verdict v)
{
	long uid = (long)conn_uid(c), pid = (long)conn_pid(c);
	unsigned long long serial = (unsigned long long)conn_serial(c);
	char why[256];

	access_refusal(v, uid, name, why, sizeof(why));
	if (conn_first_denial(c))
		log_warnx("denied %s to client %llu (uid %ld, pid %ld): %s",
		    name, serial, uid, pid, access_verdict_reason(v));
	else
		log_debug("denied %s to client %llu (uid %ld, pid %ld)", name,
		    serial, uid, pid);
	reply_status(c, id, OBJD__STATUS__DENIED, why);
}

void
request_deny_frame(struct conn *c)
{
	enum access_verdict v = access_may(conn_access(c), REQ_WRITES);

	request_deny(c, "a large request", 0,
	    v == ACCESS_MAY ? ACCESS_NOT_ADMITTED : v);
}

void
request_dispatch(struct conn *c, const Objd__Request *req)
{
	const struct request_kind *k = request_kind_of(req->op_case);
	enum access_verdict v;

	if (k == NULL) {
		reply_status(c, req->id, OBJD__STATUS__INVALID,
		    "unknown request: this objd is older than its client?");
		return;
	}
	log_debug("client %llu: %s #%llu", (unsigned long long)conn_serial(c),
	    k->name, (unsigned long long)req->id);
	if ((v = access_may(conn_access(c), k->flags)) != ACCESS_MAY) {
		request_deny(c, k->name, req->id, v);
		return;
	}
	k->exec(c, req);
}
