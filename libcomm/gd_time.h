/* Deadlines for pthread_cond_timedwait on CLOCK_MONOTONIC condition
 * variables (every godfs condition variable that waits with a timeout uses
 * that clock, so a change of the wall clock never stretches a wait). */
#ifndef GD_TIME_H
#define GD_TIME_H

#include <stdint.h>
#include <time.h>

/* Sets *ts to CLOCK_MONOTONIC now + ms milliseconds. */
void gd_time_deadline(struct timespec *ts, uint64_t ms);

#endif
