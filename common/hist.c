/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Log-linear histograms (hist.h): bucket bounds, copies and quantiles.
 *
 * Why log-linear and not a sketch (CKMS, as the Java Prometheus client
 * ZooKeeper uses, or a t-digest): the writer is a dataplane worker, whose
 * cost per request must be a few stores with no allocation and no branch
 * on the distribution; a fixed array of counters is that, and merging
 * workers or cutting a time window out of two copies is a subtraction.
 * The price is value precision (1/8 of the value, reported as the
 * bucket's midpoint, so within 1/16) instead of rank precision.
 *
 * Thread: any (pure functions over copies).
 */
#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/hist.h"

_Static_assert(HIST_BUCKETS == 312, "bucket count documented in hist.h");

uint64_t hist_bucket_low(unsigned i)
{
	unsigned msb, sub;

	assert(i < HIST_BUCKETS);
	if (i < HIST_SUB)
		return i;
	msb = i / HIST_SUB + HIST_SUB_BITS - 1;
	sub = i % HIST_SUB;
	return (uint64_t)(HIST_SUB + sub) << (msb - HIST_SUB_BITS);
}

uint64_t hist_bucket_high(unsigned i)
{
	assert(i < HIST_BUCKETS);
	if (i == HIST_BUCKETS - 1)
		return UINT64_MAX;
	return hist_bucket_low(i + 1);
}

void hist_read(const struct hist *h, struct hist *out)
{
	uint32_t req;

	out->count = __atomic_load_n(&h->count, __ATOMIC_ACQUIRE);
	out->sum = __atomic_load_n(&h->sum, __ATOMIC_RELAXED);
	/* The acknowledgement first: a counter read after it is the reset one or newer. */
	out->reset_seen = __atomic_load_n(&h->reset_seen, __ATOMIC_ACQUIRE);
	out->reset_req = __atomic_load_n(&h->reset_req, __ATOMIC_RELAXED);
	out->mm_count = __atomic_load_n(&h->mm_count, __ATOMIC_RELAXED);
	out->mm_sum = __atomic_load_n(&h->mm_sum, __ATOMIC_RELAXED);
	out->mm_min = __atomic_load_n(&h->mm_min, __ATOMIC_RELAXED);
	out->mm_max = __atomic_load_n(&h->mm_max, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		out->b[i] = __atomic_load_n(&h->b[i], __ATOMIC_RELAXED);
	out->base = h->base;
	/*
	 * A reset requested and acknowledged while we copied: the fields
	 * above may mix the old counter with the new one (the old min, the
	 * new max).  The writer's release fence before it starts a counter
	 * pairs with this one: if any field came from the new counter, the
	 * request it saw is seen here.  Such a copy reads as not yet
	 * acknowledged, i.e. empty (hist_mm, hist_since_reset).
	 */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	req = __atomic_load_n(&h->reset_req, __ATOMIC_RELAXED);
	if (req != out->reset_req)
		out->reset_req = req;
}

void hist_mm(const struct hist *h, struct hist_mm *out)
{
	if (h->reset_req != h->reset_seen || !h->mm_count) {
		*out = (struct hist_mm){0};
		return;
	}
	*out = (struct hist_mm){h->mm_count, h->mm_sum, h->mm_min, h->mm_max};
	assert(out->min <= out->max);
}

void hist_merge(struct hist *acc, const struct hist *h)
{
	struct hist_mm a, b;

	hist_mm(acc, &a);
	hist_mm(h, &b);
	acc->count += h->count;
	acc->sum += h->sum;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		acc->b[i] += h->b[i];
	/* The merged counter is acknowledged (request 0, seen 0): hist_mm reads it as is. */
	acc->reset_req = acc->reset_seen = 0;
	acc->base = NULL;
	acc->mm_count = a.cnt + b.cnt;
	acc->mm_sum = a.sum + b.sum;
	acc->mm_min = !a.cnt ? b.min : !b.cnt || a.min < b.min ? a.min : b.min;
	acc->mm_max = a.max > b.max ? a.max : b.max;
	assert(acc->mm_count >= a.cnt);
}

static uint64_t minus(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

void hist_sub(const struct hist *now, const struct hist *then, struct hist *out)
{
	out->count = minus(now->count, then->count);
	out->sum = minus(now->sum, then->sum);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		out->b[i] = minus(now->b[i], then->b[i]);
	out->mm_count = now->mm_count;
	out->mm_sum = now->mm_sum;
	out->mm_min = now->mm_min;
	out->mm_max = now->mm_max;
	out->reset_req = now->reset_req;
	out->reset_seen = now->reset_seen;
	out->base = now->base;
}

void hist_since_reset(const struct hist *c, struct hist *out)
{
	bool whole = !c->reset_req && !c->base;
	bool empty = c->reset_req != c->reset_seen || (c->reset_req && !c->base);

	*out = (struct hist){0};
	if (empty)
		return;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		out->b[i] = whole ? c->b[i]
				  : minus(c->b[i], __atomic_load_n(&c->base[i], __ATOMIC_RELAXED));
		out->count += out->b[i];
	}
	assert(!whole || out->count >= c->count); /* hist_read: count first */
}

double hist_quantile(const struct hist *h, double q)
{
	uint64_t total = 0, rank, seen = 0;

	assert(q >= 0 && q <= 1);
	/* The buckets' own total: a copy racing an add may differ from count. */
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		total += h->b[i];
	if (!total)
		return NAN;
	rank = (uint64_t)ceil(q * (double)total);
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen < rank)
			continue;
		if (i < HIST_SUB)
			return (double)i;
		if (i == HIST_BUCKETS - 1)
			return (double)hist_bucket_low(i);
		return ((double)hist_bucket_low(i) + (double)(hist_bucket_high(i) - 1)) / 2.0;
	}
	assert(0 && "rank within total");
	return NAN;
}
