/* SPDX-License-Identifier: Apache-2.0 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "perf/bench_hist.h"

static struct bench_hist *h;

static void setup(void)
{
	h = calloc(1, sizeof(*h));
	cr_assert_not_null(h);
}

static void teardown(void)
{
	free(h);
}

TestSuite(bench_hist, .init = setup, .fini = teardown);

Test(bench_hist, buckets_tile_the_range_without_gaps)
{
	for (unsigned i = 0; i + 1 < BENCH_HIST_BUCKETS; i++) {
		cr_assert_eq(bench_hist_highest(i) + 1, bench_hist_lowest(i + 1), "bucket %u", i);
		cr_assert_eq(bench_hist_index(bench_hist_lowest(i)), i);
		cr_assert_eq(bench_hist_index(bench_hist_highest(i)), i);
	}
}

Test(bench_hist, relative_error_is_below_one_percent)
{
	for (uint64_t v = 1; v < (1ull << 40); v = v * 3 + 1) {
		unsigned i = bench_hist_index(v);
		uint64_t width = bench_hist_highest(i) - bench_hist_lowest(i);
		cr_assert_leq((double)width / (double)v, 1.0 / 128, "value %llu", (unsigned long long)v);
	}
}

Test(bench_hist, huge_values_land_in_the_last_bucket_and_max_is_exact)
{
	bench_hist_record(h, UINT64_MAX / 2);
	cr_assert_eq(h->buckets[BENCH_HIST_BUCKETS - 1], 1);
	cr_assert_eq(bench_hist_quantile(h, 1.0), UINT64_MAX / 2);
}

Test(bench_hist, quantiles_of_a_uniform_sample)
{
	/* 1..100000 ns once each: pXX is XX % of 100000 within a bucket. */
	for (uint64_t v = 1; v <= 100000; v++)
		bench_hist_record(h, v);
	double qs[] = {0.5, 0.9, 0.99, 0.999};
	for (unsigned i = 0; i < 4; i++) {
		double want = qs[i] * 100000;
		double got = (double)bench_hist_quantile(h, qs[i]);
		cr_assert(got > want * 0.99 && got < want * 1.01, "q %g: %g, want %g", qs[i], got,
			  want);
	}
	cr_assert_eq(bench_hist_quantile(h, 1.0), 100000);
	cr_assert_eq(h->count, 100000);
}

Test(bench_hist, small_counts_pick_the_right_rank)
{
	bench_hist_record(h, 10);
	bench_hist_record(h, 20);
	bench_hist_record(h, 30);
	bench_hist_record(h, 40);
	cr_assert_eq(bench_hist_quantile(h, 0.25), 10);
	cr_assert_eq(bench_hist_quantile(h, 0.5), 20);
	cr_assert_eq(bench_hist_quantile(h, 0.51), 30);
	cr_assert_eq(bench_hist_quantile(h, 0.99), 40);
}

Test(bench_hist, empty_is_zero)
{
	cr_assert_eq(bench_hist_quantile(h, 0.5), 0);
	cr_assert_eq(bench_hist_quantile(h, 1.0), 0);
}

Test(bench_hist, merge_adds_counts_and_keeps_the_max)
{
	struct bench_hist *b = calloc(1, sizeof(*b));

	bench_hist_record(h, 5);
	bench_hist_record(b, 7);
	bench_hist_record(b, 900);
	bench_hist_merge(h, b);
	cr_assert_eq(h->count, 3);
	cr_assert_eq(h->max, 900);
	cr_assert_eq(bench_hist_quantile(h, 0.5), 7);
	free(b);
}

Test(bench_hist, cdf_is_increasing_and_ends_at_one)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	for (uint64_t v = 1000; v < 2000000; v += 997)
		bench_hist_record(h, v);
	cr_assert_eq(bench_hist_write_cdf(h, f), 0);
	fclose(f);
	double last_us = -1, last_frac = 0, us, frac;
	int n = 0, used;
	for (char *p = buf; sscanf(p, "%lf %lf\n%n", &us, &frac, &used) == 2; p += used) {
		cr_assert_gt(us, last_us);
		cr_assert_geq(frac, last_frac);
		last_us = us;
		last_frac = frac;
		n++;
	}
	cr_assert_gt(n, 100);
	cr_assert_float_eq(last_frac, 1.0, 1e-9);
	free(buf);
}
