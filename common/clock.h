/* clock.h: the wall clock as seconds, for status and the log. */
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

#endif
