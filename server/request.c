/* SPDX-License-Identifier: ISC */
/* request.c: the table of request kinds. Adding a kind is adding a row
 * here and a handler in one of the handle-*.c files. */
#include <stdio.h>

#include "log.h"
#include "objd.h"

static const struct request_kind request_kinds[] = {
	{ OBJD__REQUEST__OP_GET, "get", false, false, handle_get },
	{ OBJD__REQUEST__OP_SET, "set", true, true, handle_set },
	{ OBJD__REQUEST__OP_DELETE, "delete", true, true, handle_delete },
	{ OBJD__REQUEST__OP_LIST, "list", false, false, handle_list },
	{ OBJD__REQUEST__OP_PING, "ping", false, false, handle_ping },
	{ OBJD__REQUEST__OP_STATUS, "status", false, false, handle_status },
	{ OBJD__REQUEST__OP_RELOAD, "reload", true, false, handle_reload },
	{ OBJD__REQUEST__OP_COMPACT, "compact", true, false, handle_compact },
	{ OBJD__REQUEST__OP_BATCH, "batch", true, true, handle_batch },
	{ OBJD__REQUEST__OP_WATCH, "watch", false, false, handle_watch },
	{ OBJD__REQUEST__OP_STAGE, "stage", true, true, handle_stage },
	{ OBJD__REQUEST__OP_HISTORY, "history", false, false, handle_history },
};

static const struct request_kind *
request_kind_of(const Objd__Request *req)
{
	for (size_t i = 0; i < sizeof(request_kinds) / sizeof(request_kinds[0]);
	     i++)
		if (request_kinds[i].op == req->op_case)
			return &request_kinds[i];
	return NULL;
}

bool
request_joins_batch(const struct conn *c, const Objd__Request *req)
{
	const struct request_kind *k = request_kind_of(req);

	/* A refusal would be answered at once, out of order. */
	return k != NULL && k->batched && conn_access(c) == ACCESS_WRITE;
}

void
request_dispatch(struct conn *c, const Objd__Request *req)
{
	const struct request_kind *k = request_kind_of(req);

	if (k == NULL) {
		reply_status(c, req->id, OBJD__STATUS__INVALID,
		    "unknown request: this objd is older than its client?");
		return;
	}
	log_debug("client %llu: %s #%llu", (unsigned long long)conn_serial(c),
	    k->name, (unsigned long long)req->id);
	if (access_permits(c, k, req->id))
		k->handle(c, req);
}
