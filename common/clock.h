/* SPDX-License-Identifier: ISC */
/* clock.h: the clocks as seconds: the wall clock, for status and the
 * log, and the monotonic clock, for deadlines and timing. */
#ifndef OBJD_CLOCK_H
#define OBJD_CLOCK_H

#include <time.h>

static inline double
now_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double
now_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
