// SPDX-License-Identifier: Apache-2.0
/*
 * common/hist.h: bucket bounds tile the values, a value's bucket holds
 * it, quantiles land within 1/16 of the true value, empty copies give
 * NaN, and windows (hist_sub) and merges are field-wise; the
 * AvgMinMaxCounter beside the buckets is exact and resets on request.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist.h"

Test(hist, buckets_tile_the_values_and_hold_their_value)
{
	cr_assert_eq(hist_bucket_low(0), 0);
	for (unsigned i = 0; i + 1 < HIST_BUCKETS; i++)
		cr_assert_eq(hist_bucket_high(i), hist_bucket_low(i + 1), "bucket %u", i);
	cr_assert_eq(hist_bucket_high(HIST_BUCKETS - 1), UINT64_MAX);
	for (uint64_t v = 0; v < 100000; v = v < 64 ? v + 1 : v * 9 / 8 + 1) {
		unsigned b = hist_bucket(v);

		cr_assert(hist_bucket_low(b) <= v && v < hist_bucket_high(b), "%lu in %u",
			  (unsigned long)v, b);
	}
	cr_assert_eq(hist_bucket(UINT64_MAX), HIST_BUCKETS - 1);
	cr_assert_eq(hist_bucket((uint64_t)1 << 41), HIST_BUCKETS - 1);
	/* The last bucket starts at 2^40 * 15/8 and holds everything above. */
	cr_assert_eq(hist_bucket(((uint64_t)1 << 41) - 1), HIST_BUCKETS - 1);
	cr_assert_eq(hist_bucket_low(HIST_BUCKETS - 1), ((uint64_t)1 << 40) / 8 * 15);
	cr_assert_eq(hist_bucket(((uint64_t)1 << 40) / 8 * 15 - 1), HIST_BUCKETS - 2);
}

Test(hist, empty_quantile_is_nan)
{
	struct hist h;

	memset(&h, 0, sizeof(h));
	cr_assert(isnan(hist_quantile(&h, 0.5)));
}

Test(hist, quantiles_within_a_sixteenth)
{
	static struct hist h, c;

	/* 1..10000: the q-quantile is q * 10000. */
	for (uint64_t v = 1; v <= 10000; v++)
		hist_add(&h, v);
	hist_read(&h, &c);
	cr_assert_eq(c.count, 10000);
	cr_assert_eq(c.sum, 10000ull * 10001 / 2);
	for (double q = 0.01; q < 1; q += 0.07) {
		double want = ceil(q * 10000), got = hist_quantile(&c, q);

		cr_assert(fabs(got - want) <= want / 16 + 1, "q %.2f: %f, want %f", q, got, want);
	}
	cr_assert_eq(hist_quantile(&c, 0), 1.0); /* small values are exact */
}

Test(hist, windows_and_merges_are_field_wise)
{
	static struct hist a, then, now, win, m;

	hist_add(&a, 5);
	hist_read(&a, &then);
	hist_add(&a, 1000);
	hist_add(&a, 1000);
	hist_read(&a, &now);
	hist_sub(&now, &then, &win);
	cr_assert_eq(win.count, 2);
	cr_assert_eq(win.sum, 2000);
	cr_assert_eq(win.b[hist_bucket(5)], 0);
	cr_assert(fabs(hist_quantile(&win, 0.5) - 1000) <= 1000 / 16.0);
	memset(&m, 0, sizeof(m));
	hist_merge(&m, &now);
	hist_merge(&m, &then);
	cr_assert_eq(m.count, 4);
	cr_assert_eq(m.b[hist_bucket(5)], 2);
	/* A field that went down (never, for one writer) counts as 0. */
	hist_sub(&then, &now, &win);
	cr_assert_eq(win.count, 0);
	cr_assert(isnan(hist_quantile(&win, 0.9)));
}

Test(hist, avg_min_max_counter_since_start_then_since_reset)
{
	static struct hist a, c, m;
	struct hist_mm mm;

	hist_read(&a, &c);
	hist_mm(&c, &mm);
	cr_assert_eq(mm.cnt, 0);
	cr_assert_eq(mm.min, 0);
	hist_add(&a, 7);
	hist_add(&a, 3);
	hist_add_n(&a, 12, 2);
	hist_read(&a, &c);
	hist_mm(&c, &mm);
	cr_assert_eq(mm.cnt, 4);
	cr_assert_eq(mm.sum, 34);
	cr_assert_eq(mm.min, 3); /* exact, not a bucket's bound */
	cr_assert_eq(mm.max, 12);
	cr_assert_eq(c.count, 4);
	cr_assert_eq(c.b[hist_bucket(12)], 2);

	/* A reset request: empty at once, the buckets and count go on. */
	hist_reset(&a);
	hist_read(&a, &c);
	hist_mm(&c, &mm);
	cr_assert_eq(mm.cnt, 0);
	cr_assert_eq(mm.max, 0);
	cr_assert_eq(c.count, 4);
	/* The writer's next add starts the counter afresh. */
	hist_add(&a, 20);
	hist_add(&a, 15);
	hist_read(&a, &c);
	hist_mm(&c, &mm);
	cr_assert_eq(mm.cnt, 2);
	cr_assert_eq(mm.sum, 35);
	cr_assert_eq(mm.min, 15);
	cr_assert_eq(mm.max, 20);
	cr_assert_eq(c.count, 6);
	cr_assert_eq(c.sum, 69);

	/* Merged copies: counts add, the lower min, the higher max; a reset
	 * copy not yet acknowledged by its writer adds nothing. */
	static struct hist b, d, pending;

	hist_add(&b, 1);
	hist_read(&b, &d);
	memset(&m, 0, sizeof(m));
	hist_merge(&m, &c);
	hist_merge(&m, &d);
	hist_mm(&m, &mm);
	cr_assert_eq(mm.cnt, 3);
	cr_assert_eq(mm.min, 1);
	cr_assert_eq(mm.max, 20);
	hist_add(&pending, 99);
	hist_reset(&pending);
	hist_merge(&m, &pending);
	hist_mm(&m, &mm);
	cr_assert_eq(mm.cnt, 3);
	cr_assert_eq(mm.max, 20);
	cr_assert_eq(m.count, 6 + 1 + 1); /* ... while its buckets count on */
}
