/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Clocks.  Monotonic time for timeouts and latency; wall-clock milliseconds
 * for ZooKeeper's ctime/mtime (System.currentTimeMillis() on the leader).
 */
#ifndef CHEETAH_COMMON_CLOCK_H
#define CHEETAH_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int64_t clock_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
