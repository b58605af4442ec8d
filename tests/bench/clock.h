/* SPDX-License-Identifier: Apache-2.0 */
/* The monotonic clock the benchmark clients time themselves with. */
#ifndef OUTPOST_BENCH_CLOCK_H
#define OUTPOST_BENCH_CLOCK_H

#include <time.h>

/* Seconds on CLOCK_MONOTONIC. */
static inline double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
