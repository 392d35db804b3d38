/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A log-linear histogram of unsigned 64-bit values for latency and size
 * summaries (the /metrics quantiles): 8 buckets per power of two, so a
 * value's bucket bounds it within 1/8 of itself; values 0-7 exactly.
 * 312 buckets, 2.5 KiB; the last one holds everything from 2^40 * 15/8
 * up (23 days in microseconds).
 *
 * Concurrency: one writer thread per histogram calls hist_add (relaxed
 * atomic stores, no read-modify-write: a plain load and store each);
 * any thread may copy it with hist_read (relaxed loads) at any time.  A
 * copy racing an add may hold that add in some fields only; count is
 * read first, so a copy's count never exceeds its buckets' total.
 * Nothing is ever reset: a reader that wants a window subtracts an older
 * copy (hist_sub).
 */
#ifndef CHEETAH_COMMON_HIST_H
#define CHEETAH_COMMON_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 3
#define HIST_SUB (1u << HIST_SUB_BITS) /* buckets per power of two */
#define HIST_MAX_MSB 40		       /* highest power of two with its own buckets */
#define HIST_BUCKETS (HIST_SUB + (HIST_MAX_MSB - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t sum;
	uint64_t b[HIST_BUCKETS];
};

/* The bucket of v (< HIST_BUCKETS). */
static inline unsigned hist_bucket(uint64_t v)
{
	unsigned msb;

	if (v < HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	if (msb > HIST_MAX_MSB)
		return HIST_BUCKETS - 1;
	return (msb - HIST_SUB_BITS + 1) * HIST_SUB +
	       (unsigned)((v >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

/* Writer: counts v.  The histogram's one writer thread only. */
static inline void hist_add(struct hist *h, uint64_t v)
{
	unsigned i = hist_bucket(v);

	__atomic_store_n(&h->b[i], h->b[i] + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&h->sum, h->sum + v, __ATOMIC_RELAXED);
	/* Release: a reader that sees this count sees the bucket and sum above. */
	__atomic_store_n(&h->count, h->count + 1, __ATOMIC_RELEASE);
}

/* The smallest value bucket i holds, and one past its largest. */
uint64_t hist_bucket_low(unsigned i);
uint64_t hist_bucket_high(unsigned i);

/* Copies h into *out: the count first (acquire), so buckets never sum below it.  Any thread. */
void hist_read(const struct hist *h, struct hist *out);

/* *acc += *h, field by field (merging several writers' copies). */
void hist_merge(struct hist *acc, const struct hist *h);

/*
 * *out = *now - *then, for two copies of one histogram with then taken
 * first (a window); a field that went down (it cannot) counts as 0.
 */
void hist_sub(const struct hist *now, const struct hist *then, struct hist *out);

/*
 * The q-quantile (0 <= q <= 1) of a copy: the midpoint of the bucket
 * holding the value of rank ceil(q * count) (an exact value below 8).
 * NaN when the copy is empty, as Prometheus' client libraries report a
 * summary quantile without observations.
 */
double hist_quantile(const struct hist *h, double q);

#endif
