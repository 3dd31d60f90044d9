/* SPDX-License-Identifier: ISC */
/* rejoin.h: the wait of the next commit for the writers a sync answered
 * (rejoin.c), commit.c's. */
#ifndef OBJD_REJOIN_H
#define OBJD_REJOIN_H

#include <stdbool.h>

#include "backend.h"

/* With --fsync always, the only mode whose syncs make commits wait. */
void rejoin_init(void);
void rejoin_free(void);
/* The sync of synced is done, after it took seconds: the next commit
 * waits for synced's writers that are not back yet (in open, the batch
 * gathering), unless there is no one they could share a sync with.
 * Called while synced's tickets still hold its writers. */
void rejoin_start(const struct backend_batch *synced,
    const struct backend_batch *open, double seconds);
/* True while the next commit waits. */
bool rejoin_waiting(void);
/* c joins the open batch. */
void rejoin_count(struct conn *c);
/* Writers that left, or stopped sending, will not be back. */
void rejoin_check_departures(void);
/* The next commit goes now: the wait ends early. */
void rejoin_stop(void);

#endif
