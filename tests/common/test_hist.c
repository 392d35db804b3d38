// SPDX-License-Identifier: Apache-2.0
/*
 * common/hist.h: bucket bounds tile the values, a value's bucket holds
 * it, quantiles land within 1/16 of the true value, empty copies give
 * NaN, and windows (hist_sub) and merges are field-wise; the
 * AvgMinMaxCounter beside the buckets is exact and resets on request,
 * and a copy that a reset lands in reads as empty.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
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

/*
 * An srst racing mntr: the writer acknowledges a reset (its counter
 * starts afresh: min = max = its value) while a reader is in the middle
 * of hist_read.  Before the fix the copy could hold the old counter's
 * min (1000) and the new one's max (1) under an acknowledged reset, and
 * hist_mm's min <= max assertion aborted the server.
 *
 * The interleavings are made exact by single-stepping hist_read: a
 * SIGUSR1 handler sets the trap flag (EFLAGS.TF) in its context, so the
 * CPU raises SIGTRAP after every instruction that follows.  For k = 1,
 * 2, ... a fresh counter is copied, and at hist_read's k-th instruction
 * boundary the SIGTRAP handler plays the writer (another core's reset
 * and add) and stops stepping; the copy runs to its end and is judged:
 * one counter or empty (the reset's view), and the next copy the new
 * counter.  So the writer lands between every two of hist_read's first
 * instructions, whatever order the compiler gave its loads, until it
 * comes after both the load of the min and that of the max (the copy
 * holds the old counter's two): later boundaries cannot mix them.  The
 * copy that mixes the two must be among them (else the test proves
 * nothing).  Copy k costs some k traps, and the writer passes both
 * loads after 16 boundaries here, 186 under ASan (its checks come before
 * each load): 20000 traps at most, 0.4 s of CPU.  (A hardware watchpoint
 * on the min would be cheaper but never fires on the CI's Firecracker
 * VMs.)  x86-64 only: the trap flag and the registers named in the
 * signal context are its own.
 */
#if defined(__x86_64__)
#include <ucontext.h>

#define TRAP_FLAG 0x100	  /* EFLAGS.TF */
#define STEP_LIMIT 10000L /* traps of a copy */
#define K_MAX 2000L	  /* boundaries tried: 16 here, 186 under ASan */

static struct {
	struct hist h;
	uint64_t base[HIST_BUCKETS];
	long k;		 /* the boundary to play the writer at */
	long traps;	 /* every SIGTRAP of the copy, bounded by STEP_LIMIT */
	long inside;	 /* hist_read's boundaries reached so far */
	uintptr_t sp_in; /* the stack pointer at hist_read's entry; 0 before */
	bool played;
} st;

static void step_start(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	(void)sig;
	(void)si;
	uc->uc_mcontext.gregs[REG_EFL] |= TRAP_FLAG;
}

/*
 * A trap after each instruction: until hist_read's first instruction
 * (raise's tail, the call) nothing; inside it (its stack pointer at or
 * below the one at entry, so anything it calls too) a boundary; at the
 * k-th, the writer.  Stepping stops there, at hist_read's return or at
 * STEP_LIMIT.
 */
static void step(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *r = uc->uc_mcontext.gregs;
	uintptr_t ip = (uintptr_t)r[REG_RIP], sp = (uintptr_t)r[REG_RSP];

	(void)sig;
	(void)si;
	if (++st.traps > STEP_LIMIT)
		goto stop;
	if (!st.sp_in) {
		if (ip != (uintptr_t)hist_read)
			return;
		st.sp_in = sp;
	} else if (sp > st.sp_in) {
		goto stop; /* returned */
	}
	if (++st.inside < st.k)
		return;
	hist_reset(&st.h);
	hist_add(&st.h, 1);
	st.played = true;
stop:
	r[REG_EFL] &= ~TRAP_FLAG;
}

/* Why a copy with the writer played in it is wrong, or NULL. */
static const char *incoherent(const struct hist *c)
{
	static struct hist since, next, next_since;
	struct hist_mm mm;

	/* The raw fields first: hist_mm asserts min <= max. */
	if (c->reset_req == c->reset_seen && c->mm_count &&
	    !(c->mm_count == 1 && c->mm_sum == 1000 && c->mm_min == 1000 && c->mm_max == 1000) &&
	    !(c->mm_count == 1 && c->mm_sum == 1 && c->mm_min == 1 && c->mm_max == 1))
		return "an acknowledged copy mixes the old counter and the new";
	hist_mm(c, &mm);
	if (mm.cnt && !(mm.cnt == 1 && mm.min == mm.max && mm.sum == mm.min))
		return "hist_mm is neither one counter nor empty";
	hist_since_reset(c, &since);
	if (since.count &&
	    !(since.count == 1 && (since.b[hist_bucket(1000)] || since.b[hist_bucket(1)])))
		return "hist_since_reset is neither one counter nor empty";
	hist_read(&st.h, &next);
	hist_mm(&next, &mm);
	hist_since_reset(&next, &next_since);
	if (!(mm.cnt == 1 && mm.sum == 1 && mm.min == 1 && mm.max == 1) || next_since.count != 1 ||
	    next_since.b[hist_bucket(1)] != 1)
		return "the next copy is not the new counter";
	return NULL;
}

/* A fresh counter (1000 once) copied with the writer at boundary k: false if it was not reached. */
static bool copy_with_writer_at(long k, struct hist *copy)
{
	memset(&st, 0, sizeof(st));
	hist_keep_base(&st.h, st.base);
	hist_add(&st.h, 1000);
	st.k = k;
	raise(SIGUSR1);
	hist_read(&st.h, copy);
	return st.played;
}

Test(hist, a_reset_acknowledged_during_a_copy_reads_as_empty)
{
	struct sigaction on = {.sa_sigaction = step_start, .sa_flags = SA_SIGINFO};
	struct sigaction trap = {.sa_sigaction = step, .sa_flags = SA_SIGINFO};
	struct sigaction old_on, old_trap;
	static struct hist copy;
	const char *why = NULL;
	long k, mixed = 0;
	bool reached = true, old_whole = false;

	cr_assert_eq(sigaction(SIGUSR1, &on, &old_on), 0);
	cr_assert_eq(sigaction(SIGTRAP, &trap, &old_trap), 0);
	for (k = 1; k <= K_MAX; k++) {
		reached = copy_with_writer_at(k, &copy);
		if (!reached)
			break;
		why = incoherent(&copy);
		if (copy.mm_min == 1000 && copy.mm_max == 1 && !mixed)
			mixed = k;
		/* The writer after the loads of both: no later boundary can mix them. */
		old_whole = copy.mm_min == 1000 && copy.mm_max == 1000;
		if (why || old_whole)
			break;
	}
	cr_assert_eq(sigaction(SIGTRAP, &old_trap, NULL), 0);
	cr_assert_eq(sigaction(SIGUSR1, &old_on, NULL), 0);

	cr_assert(!why, "boundary %ld: %s: cnt %lu sum %lu min %lu max %lu (request %u, seen %u)",
		  k, why, (unsigned long)copy.mm_count, (unsigned long)copy.mm_sum,
		  (unsigned long)copy.mm_min, (unsigned long)copy.mm_max, copy.reset_req,
		  copy.reset_seen);
	cr_assert(st.traps <= STEP_LIMIT, "boundary %ld: more than %ld traps", k, STEP_LIMIT);
	cr_assert(reached, "hist_read returned before boundary %ld (entered: %d)", k,
		  st.sp_in != 0);
	cr_assert(old_whole,
		  "%ld boundaries and the writer still lands before the load of min or of max",
		  K_MAX);
	cr_assert(mixed, "no boundary of %ld falls between the loads of min and max", k);
}
#else
Test(hist, a_reset_acknowledged_during_a_copy_reads_as_empty)
{
	cr_skip_test("single-steps with x86-64's trap flag");
}
#endif
