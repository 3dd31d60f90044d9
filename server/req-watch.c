/* SPDX-License-Identifier: ISC */
/* req-watch.c: watch, whose client is then sent each change (watch.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objd.h"

void
handle_watch(struct conn *c, const Objd__Request *req)
{
	const Objd__Watch *wr = req->watch;
	char why[200];

	if (wr->since > store_revision(server.store)) {
		snprintf(why, sizeof(why),
		    "revision %llu is in the future (the object is at %llu)",
		    (unsigned long long)wr->since,
		    (unsigned long long)store_revision(server.store));
		reply_status(c, req->id, OBJD__STATUS__INVALID, why);
		return;
	}
	if (wr->since != 0 && wr->since < watch_oldest_held()) {
		snprintf(why, sizeof(why),
		    "revision %llu is no longer held (the oldest held is "
		    "%llu): read everything again",
		    (unsigned long long)wr->since,
		    (unsigned long long)watch_oldest_held());
		reply_status(c, req->id, OBJD__STATUS__NOT_FOUND, why);
		return;
	}
	/* The values now, then each change after them. */
	if (wr->since == 0)
		reply_entries_under(c, req->id, OBJD__STATUS__OK, wr->prefix,
		    strlen(wr->prefix));
	else
		reply_entries(c, req->id, OBJD__STATUS__OK, NULL, NULL, 0);
	watch_start(c, req->id, wr->prefix, wr->since);
}
