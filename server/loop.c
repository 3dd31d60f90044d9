/* SPDX-License-Identifier: ISC */
/* loop.c: the event loop's turns.
 *
 * libevent runs the callbacks of every event ready in a turn; what they
 * leave is done after the last of them, as redis does in its
 * beforeSleep: the requests of every client read are handled together
 * (their keys prefetched), the writes they make are committed in one
 * batch, and the answers written. Each of these steps may leave work for
 * another (an answer written resumes a client with requests waiting, a
 * sync finished lets the next batch commit), so they run until none is
 * left. They are plain calls, not events made active: as events, each
 * request would pay libevent's queueing three times over. */
#include <event2/event.h>

#include "log.h"
#include "objd.h"

void
loop_turn_end(void)
{
	bool busy;

	reload_look_blind();
	do {
		busy = conn_handle_input();
		busy |= batch_commit_turn();
		busy |= conn_write_answers();
	} while (busy);
	conn_free_dead();
}

void
loop_run(void)
{
	int rc;

	do {
		/* Waits for an event, runs every callback ready, and
		 * returns; 1 if no event is left to wait for. */
		if ((rc = event_base_loop(server.base, EVLOOP_ONCE)) == -1)
			fatalx("the event loop failed");
		loop_turn_end();
	} while (rc == 0 && !event_base_got_exit(server.base) &&
	    !event_base_got_break(server.base));
}
