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

/*
 * mntr's percentiles since start or srst: hist_since_reset subtracts the
 * baseline the writer took when it acknowledged the reset, so the
 * quantiles see only the values added since; before the writer's next
 * add, and for an empty histogram, there is nothing (NaN: mntr's 0).
 */
Test(hist, since_reset_quantiles_see_only_values_after_the_reset)
{
	static struct hist a, c, s, m, b2, c2, s2;
	static uint64_t base[HIST_BUCKETS], base2[HIST_BUCKETS];

	hist_keep_base(&a, base);
	hist_read(&a, &c);
	hist_since_reset(&c, &s);
	cr_assert_eq(s.count, 0);
	cr_assert(isnan(hist_quantile(&s, 0.5)));

	/* 1..1000: p50 500 and p99 990, each within its bucket (1/8 of it). */
	for (uint64_t v = 1; v <= 1000; v++)
		hist_add(&a, v);
	hist_read(&a, &c);
	hist_since_reset(&c, &s);
	cr_assert_eq(s.count, 1000);
	cr_assert(fabs(hist_quantile(&s, 0.5) - 500) <= 500 / 8.0, "%f", hist_quantile(&s, 0.5));
	cr_assert(fabs(hist_quantile(&s, 0.99) - 990) <= 990 / 8.0, "%f", hist_quantile(&s, 0.99));

	/* After a reset: empty until the writer's next add ... */
	hist_reset(&a);
	hist_read(&a, &c);
	hist_since_reset(&c, &s);
	cr_assert_eq(s.count, 0);
	cr_assert(isnan(hist_quantile(&s, 0.99)));
	/* ... then only the new values: 5000 x 100, where p99 was near 990. */
	for (int i = 0; i < 100; i++)
		hist_add(&a, 5000);
	hist_read(&a, &c);
	cr_assert_eq(c.count, 1100); /* the buckets themselves count on (/metrics) */
	hist_since_reset(&c, &s);
	cr_assert_eq(s.count, 100);
	cr_assert(fabs(hist_quantile(&s, 0.5) - 5000) <= 5000 / 8.0);
	cr_assert(fabs(hist_quantile(&s, 0.01) - 5000) <= 5000 / 8.0);
	/* /metrics' view (all buckets) is unchanged by the reset */
	cr_assert(fabs(hist_quantile(&c, 0.5) - 550) <= 550 / 8.0, "%f", hist_quantile(&c, 0.5));

	/* A second reset takes a new baseline; exact values below 8. */
	hist_reset(&a);
	hist_add(&a, 3);
	hist_add(&a, 7);
	hist_add(&a, 7);
	hist_read(&a, &c);
	hist_since_reset(&c, &s);
	cr_assert_eq(s.count, 3);
	cr_assert_eq(hist_quantile(&s, 0.5), 7);
	cr_assert_eq(hist_quantile(&s, 0.3), 3);

	/* Merged since-reset copies of two writers (mntr's readlatency). */
	hist_keep_base(&b2, base2);
	hist_add(&b2, 1);
	hist_read(&b2, &c2);
	hist_since_reset(&c2, &s2);
	memset(&m, 0, sizeof(m));
	hist_merge(&m, &s);
	hist_merge(&m, &s2);
	cr_assert_eq(m.count, 4);
	cr_assert_eq(hist_quantile(&m, 0.25), 1);
	cr_assert_eq(hist_quantile(&m, 1), 7);

	/* A histogram without a baseline: everything until it is reset, then nothing. */
	static struct hist nb, nc, ns;

	hist_add(&nb, 4);
	hist_read(&nb, &nc);
	hist_since_reset(&nc, &ns);
	cr_assert_eq(ns.count, 1);
	hist_reset(&nb);
	hist_add(&nb, 4);
	hist_read(&nb, &nc);
	hist_since_reset(&nc, &ns);
	cr_assert_eq(ns.count, 0);
}
