// SPDX-License-Identifier: Apache-2.0
/*
 * common/hist.h: bucket bounds tile the values, a value's bucket holds
 * it, quantiles land within 1/16 of the true value, empty copies give
 * NaN, and windows (hist_sub) and merges are field-wise; the
 * AvgMinMaxCounter beside the buckets is exact and resets on request,
 * and a copy that a reset lands in reads as empty.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

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

/*
 * An srst racing mntr: the writer acknowledges a reset (its counter
 * starts afresh: min = max = its value) while a reader is in the middle
 * of hist_read.  Before the fix the copy held the old counter's min
 * (1000) and the new one's max (1) under an acknowledged reset, and
 * hist_mm's min <= max assertion aborted the server.  The interleaving
 * is made exact with a hardware watchpoint on the counter's min: the
 * reader's load of it raises a signal, whose handler plays the writer
 * (another core's reset and add) before the reader loads the max.  A
 * copy that saw a reset land must read as empty (the reset's view).
 */
static struct hist wp_h;
static volatile sig_atomic_t wp_armed, wp_hits;

static void wp_writer(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	if (!wp_armed)
		return; /* the writer's own stores to the watched word */
	wp_armed = 0;
	wp_hits++;
	hist_reset(&wp_h);
	hist_add(&wp_h, 1);
}

Test(hist, a_reset_acknowledged_during_a_copy_reads_as_empty)
{
	struct perf_event_attr a = {
	    .type = PERF_TYPE_BREAKPOINT,
	    .size = sizeof(a),
	    .bp_type = HW_BREAKPOINT_RW, /* x86 has no read-only watchpoint */
	    .bp_addr = (uintptr_t)&wp_h.mm_min,
	    .bp_len = HW_BREAKPOINT_LEN_8,
	    .sample_period = 1,
	    .disabled = 1,
	    .exclude_kernel = 1,
	    .exclude_hv = 1,
	};
	struct sigaction sa = {.sa_sigaction = wp_writer, .sa_flags = SA_SIGINFO};
	struct f_owner_ex own = {F_OWNER_TID, (pid_t)syscall(SYS_gettid)};
	static struct hist c, s;
	struct hist_mm mm;
	static uint64_t base[HIST_BUCKETS];
	int fd;

	hist_keep_base(&wp_h, base);
	hist_add(&wp_h, 1000);
	fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
	/* CI runs as root on a machine that has them; say what is missing. */
	cr_assert_geq(fd, 0, "this test needs a hardware watchpoint (perf_event_open: %s)",
		      strerror(errno));
	cr_assert_eq(sigaction(SIGIO, &sa, NULL), 0);
	cr_assert_eq(fcntl(fd, F_SETFL, O_ASYNC), 0);
	cr_assert_eq(fcntl(fd, F_SETSIG, SIGIO), 0);
	cr_assert_eq(fcntl(fd, F_SETOWN_EX, &own), 0);
	wp_armed = 1;
	cr_assert_eq(ioctl(fd, PERF_EVENT_IOC_ENABLE, 0), 0);
	hist_read(&wp_h, &c);
	cr_assert_eq(ioctl(fd, PERF_EVENT_IOC_DISABLE, 0), 0);
	close(fd);
	cr_assert_eq(wp_hits, 1, "the writer ran once, inside hist_read");
	hist_mm(&c, &mm);
	cr_assert_eq(mm.cnt, 0, "a copy across a reset: cnt %lu min %lu max %lu",
		     (unsigned long)mm.cnt, (unsigned long)mm.min, (unsigned long)mm.max);
	hist_since_reset(&c, &s);
	cr_assert_eq(s.count, 0);
	/* The next copy sees the new counter whole. */
	hist_read(&wp_h, &c);
	hist_mm(&c, &mm);
	cr_assert(mm.cnt == 1 && mm.min == 1 && mm.max == 1, "cnt %lu min %lu max %lu",
		  (unsigned long)mm.cnt, (unsigned long)mm.min, (unsigned long)mm.max);
	hist_since_reset(&c, &s);
	cr_assert_eq(s.count, 1);
}
