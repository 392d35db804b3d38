/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bucket layout (see bench_hist.h): index v for v < 2*SUB; above, with
 * shift = msb(v) - SUB_BITS the value's top SUB_BITS+1 bits v >> shift lie
 * in [SUB, 2*SUB), and the bucket is (shift + 1) * SUB + (v >> shift) - SUB.
 * Consecutive ranges tile the number line with no gap: 255 -> 255, 256 ->
 * 256 (shift 1), and each bucket of shift s holds 2^s values.
 */
#include "perf/bench_hist.h"

#include <errno.h>
#include <string.h>

void bench_hist_reset(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
}

unsigned bench_hist_index(uint64_t ns)
{
	if (ns < 2 * BENCH_HIST_SUB)
		return (unsigned)ns;
	unsigned shift = (unsigned)(63 - __builtin_clzll(ns)) - BENCH_HIST_SUB_BITS;
	if (shift > BENCH_HIST_MAX_SHIFT)
		return BENCH_HIST_BUCKETS - 1;
	return (shift + 1) * BENCH_HIST_SUB + (unsigned)(ns >> shift) - BENCH_HIST_SUB;
}

uint64_t bench_hist_lowest(unsigned idx)
{
	if (idx < 2 * BENCH_HIST_SUB)
		return idx;
	unsigned shift = idx / BENCH_HIST_SUB - 1;
	return (uint64_t)(idx % BENCH_HIST_SUB + BENCH_HIST_SUB) << shift;
}

uint64_t bench_hist_highest(unsigned idx)
{
	if (idx < 2 * BENCH_HIST_SUB)
		return idx;
	unsigned shift = idx / BENCH_HIST_SUB - 1;
	return bench_hist_lowest(idx) + ((uint64_t)1 << shift) - 1;
}

void bench_hist_record(struct bench_hist *h, uint64_t ns)
{
	h->buckets[bench_hist_index(ns)]++;
	h->count++;
	if (ns > h->max)
		h->max = ns;
}

void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	if (src->max > dst->max)
		dst->max = src->max;
}

/* The midpoint of a bucket, never above the largest value recorded. */
static uint64_t representative(const struct bench_hist *h, unsigned idx)
{
	uint64_t lo = bench_hist_lowest(idx), hi = bench_hist_highest(idx);
	uint64_t mid = lo + (hi - lo) / 2;

	return mid > h->max ? h->max : mid;
}

uint64_t bench_hist_quantile(const struct bench_hist *h, double q)
{
	if (h->count == 0)
		return 0;
	if (q >= 1.0)
		return h->max;
	/* The rank of the value wanted, 1-based: ceil(q * count). */
	double want = q * (double)h->count;
	uint64_t rank = (uint64_t)want;
	if ((double)rank < want)
		rank++;
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			return representative(h, i);
	}
	return h->max;
}

int bench_hist_write_cdf(const struct bench_hist *h, FILE *f)
{
	uint64_t seen = 0;

	for (unsigned i = 0; i < BENCH_HIST_BUCKETS && h->count; i++) {
		if (!h->buckets[i])
			continue;
		seen += h->buckets[i];
		if (fprintf(f, "%.3f %.6f\n", (double)representative(h, i) / 1e3,
			    (double)seen / (double)h->count) < 0)
			return -EIO;
	}
	return ferror(f) ? -EIO : 0;
}
