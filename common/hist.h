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
 *
 * Beside the buckets, each histogram keeps ZooKeeper's AvgMinMaxCounter
 * for mntr (count, sum, exact min and max) since its last reset, as srst
 * resets it (ServerMetrics.resetAll).  A reset is a request: any thread
 * bumps reset_req (hist_reset); the writer, at its next add, sees the
 * request, starts the counter afresh and acknowledges it (reset_seen).
 * So the writer stays the only writer of the counter, and a copy whose
 * request is not acknowledged yet reads as empty (hist_mm): nothing was
 * added since the reset.  count, sum and the buckets are never reset.
 *
 * mntr's p50..p999 (AvgMinMaxPercentileCounter) are since the last reset
 * too: a histogram given a baseline array (hist_keep_base) has its writer
 * copy the buckets into it when it acknowledges a reset, before the
 * acknowledgement (release); hist_since_reset subtracts it from a copy.
 * The array is the histogram owner's, 2.5 KiB: only the few summaries
 * mntr prints percentiles for keep one (a hist stays 2.5 KiB for the
 * /metrics windows and the per-namespace tables).  A copy points at its
 * histogram's live baseline: hist_since_reset reads it while that
 * histogram lives, and a reset landing between the copy and that read
 * counts some buckets as 0 (an srst racing mntr, like the counter's).
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
	/* mntr's AvgMinMaxCounter since the last reset (hist_mm): the writer's */
	uint64_t mm_count, mm_sum, mm_min, mm_max;
	uint32_t reset_req;  /* bumped by hist_reset (any thread) */
	uint32_t reset_seen; /* the writer's: the request its counter started at */
	/* b at the acknowledged reset (hist_keep_base), written by the writer; or NULL */
	uint64_t *base;
	uint64_t b[HIST_BUCKETS];
};

/* A histogram's AvgMinMaxCounter (min and max 0 when cnt is 0). */
struct hist_mm {
	uint64_t cnt, sum, min, max;
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

/* Writer: counts v n times.  The histogram's one writer thread only. */
static inline void hist_add_n(struct hist *h, uint64_t v, uint64_t n)
{
	unsigned i = hist_bucket(v);
	uint32_t req = __atomic_load_n(&h->reset_req, __ATOMIC_RELAXED);

	if (!n)
		return;
	if (req != h->reset_seen || !h->mm_count) {
		/*
		 * The first since start or since a reset: the counter starts
		 * here.  Release: a reader that loads a field stored below
		 * sees req (hist_read's second look at the request).
		 */
		__atomic_thread_fence(__ATOMIC_RELEASE);
		__atomic_store_n(&h->mm_count, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&h->mm_sum, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&h->mm_min, v, __ATOMIC_RELAXED);
		__atomic_store_n(&h->mm_max, v, __ATOMIC_RELAXED);
		if (h->base)
			for (unsigned k = 0; k < HIST_BUCKETS; k++)
				__atomic_store_n(&h->base[k], h->b[k], __ATOMIC_RELAXED);
		/* Release: a reader that sees this acknowledgement sees the baseline. */
		__atomic_store_n(&h->reset_seen, req, __ATOMIC_RELEASE);
	} else if (v < h->mm_min) {
		__atomic_store_n(&h->mm_min, v, __ATOMIC_RELAXED);
	} else if (v > h->mm_max) {
		__atomic_store_n(&h->mm_max, v, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&h->mm_sum, h->mm_sum + v * n, __ATOMIC_RELAXED);
	__atomic_store_n(&h->mm_count, h->mm_count + n, __ATOMIC_RELAXED);
	__atomic_store_n(&h->b[i], h->b[i] + n, __ATOMIC_RELAXED);
	__atomic_store_n(&h->sum, h->sum + v * n, __ATOMIC_RELAXED);
	/* Release: a reader that sees this count sees the bucket and sum above. */
	__atomic_store_n(&h->count, h->count + n, __ATOMIC_RELEASE);
}

/* Writer: counts v.  The histogram's one writer thread only. */
static inline void hist_add(struct hist *h, uint64_t v)
{
	hist_add_n(h, v, 1);
}

/*
 * srst: asks h's writer to start its AvgMinMaxCounter afresh (hist_mm
 * reads empty until the next add).  Any thread; never blocks.
 */
static inline void hist_reset(struct hist *h)
{
	__atomic_add_fetch(&h->reset_req, 1, __ATOMIC_RELAXED);
}

/*
 * Gives h a baseline (HIST_BUCKETS counters, zeroed, living as long as h)
 * for hist_since_reset.  h's owner, before h's first add.
 */
static inline void hist_keep_base(struct hist *h, uint64_t *base)
{
	h->base = base;
}

/* The smallest value bucket i holds, and one past its largest. */
uint64_t hist_bucket_low(unsigned i);
uint64_t hist_bucket_high(unsigned i);

/*
 * Copies h into *out: the count first (acquire), so buckets never sum
 * below it; out->base is h's (hist_since_reset).  A copy during which a
 * reset was requested reads as empty (hist_mm, hist_since_reset), never
 * as a mix of the old counter and the new.  Any thread.
 */
void hist_read(const struct hist *h, struct hist *out);

/*
 * *acc += *h, field by field (merging several writers' copies); the
 * AvgMinMaxCounters merge as one (sums, the lower min, the higher max).
 * The result has no baseline (merge hist_since_reset copies instead).
 */
void hist_merge(struct hist *acc, const struct hist *h);

/* The AvgMinMaxCounter of a copy since its last reset (mntr's avg/min/max/cnt/sum). */
void hist_mm(const struct hist *h, struct hist_mm *out);

/*
 * *out = *now - *then, for two copies of one histogram with then taken
 * first (a window); a field that went down (it cannot) counts as 0.
 * The AvgMinMaxCounter and baseline are now's (their start: the last reset).
 */
void hist_sub(const struct hist *now, const struct hist *then, struct hist *out);

/*
 * *out = the values a copy c counted since its histogram's last reset:
 * its buckets minus the baseline (count: their total; sum 0; base NULL),
 * for hist_quantile.  Empty when the reset is not acknowledged yet (as
 * hist_mm), or when the histogram was reset but keeps no baseline; all
 * of c's buckets when it was never reset.  c must come from hist_read
 * (or hist_sub) of a histogram that still lives.  Any thread.
 */
void hist_since_reset(const struct hist *c, struct hist *out);

/*
 * The q-quantile (0 <= q <= 1) of a copy: the midpoint of the bucket
 * holding the value of rank ceil(q * count) (an exact value below 8).
 * NaN when the copy is empty, as Prometheus' client libraries report a
 * summary quantile without observations.
 */
double hist_quantile(const struct hist *h, double q);

#endif
