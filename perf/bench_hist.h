/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A high-dynamic-range latency histogram for cheetah-bench, in the spirit
 * of HdrHistogram: values (nanoseconds) below 256 each have a bucket;
 * above, every power of two is split into 128 linear sub-buckets, so any
 * recorded value is reported within 1/128 (< 0.8 %) of itself, from 1 ns
 * to about 2^40 ns (18 minutes).  Larger values land in the last bucket;
 * the exact maximum is kept apart.
 *
 * A histogram is plain memory owned by one thread: each client thread
 * records into its own and the main thread merges them after the threads
 * have stopped (no atomics anywhere).
 */
#ifndef CHEETAH_PERF_BENCH_HIST_H
#define CHEETAH_PERF_BENCH_HIST_H

#include <stdint.h>
#include <stdio.h>

#define BENCH_HIST_SUB_BITS 7
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS)
#define BENCH_HIST_MAX_SHIFT 33
#define BENCH_HIST_BUCKETS ((BENCH_HIST_MAX_SHIFT + 2) * BENCH_HIST_SUB)

struct bench_hist {
	uint64_t count;
	uint64_t max;
	uint64_t buckets[BENCH_HIST_BUCKETS];
};

void bench_hist_reset(struct bench_hist *h);
void bench_hist_record(struct bench_hist *h, uint64_t ns);
/* Adds src's counts into dst. */
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);
/*
 * The smallest recorded value v such that at least q (0 < q <= 1) of the
 * values are <= v, as its bucket's midpoint (the exact maximum for q = 1);
 * 0 for an empty histogram.
 */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);
/*
 * Writes the cumulative distribution: one line "<microseconds> <fraction>"
 * per non-empty bucket, in increasing order.  Returns 0 or -errno.
 */
int bench_hist_write_cdf(const struct bench_hist *h, FILE *f);

/* The bucket of a value and the range of values a bucket holds. */
unsigned bench_hist_index(uint64_t ns);
uint64_t bench_hist_lowest(unsigned idx);
uint64_t bench_hist_highest(unsigned idx);

#endif
