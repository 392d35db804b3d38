// SPDX-License-Identifier: Apache-2.0
/*
 * test_idle.c - the polling loop's idle back-off (net_idle in net.h):
 * spin mode never sleeps; back-off spins spin_polls empty rounds, then
 * sleeps in doubling steps up to max_us, never past the next timer, and
 * any work resets it.  Pure function, fake clock.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "dataplane/net/net.h"

Test(net_idle, spin_never_sleeps)
{
	struct net_idle w;

	net_idle_init(&w, NET_IDLE_SPIN);
	for (int i = 0; i < 10000; i++)
		cr_assert_eq(net_idle_next(&w, 0, 1000, UINT64_MAX), 0);
}

Test(net_idle, backoff_spins_then_doubles_to_the_cap)
{
	struct net_idle w;
	uint32_t want = 16;

	net_idle_init(&w, NET_IDLE_BACKOFF);
	for (uint32_t i = 0; i < w.spin_polls; i++)
		cr_assert_eq(net_idle_next(&w, 0, 1000, UINT64_MAX), 0, "round %u", i);
	for (int i = 0; i < 12; i++) {
		cr_assert_eq(net_idle_next(&w, 0, 1000, UINT64_MAX), want, "step %d", i);
		want = want * 2 > w.max_us ? w.max_us : want * 2;
	}
	cr_assert_eq(want, 512);
	/* Work resets: spinning again, then the first step. */
	cr_assert_eq(net_idle_next(&w, 1, 1000, UINT64_MAX), 0);
	for (uint32_t i = 0; i < w.spin_polls; i++)
		cr_assert_eq(net_idle_next(&w, 0, 1000, UINT64_MAX), 0);
	cr_assert_eq(net_idle_next(&w, 0, 1000, UINT64_MAX), 16);
}

Test(net_idle, never_sleeps_past_the_next_timer)
{
	struct net_idle w;

	net_idle_init(&w, NET_IDLE_BACKOFF);
	w.spin_polls = 0;
	w.step_us = 100;
	w.max_us = 1000;
	cr_assert_eq(net_idle_next(&w, 0, 5000, 5030), 30);
	cr_assert_eq(net_idle_next(&w, 0, 5000, 5000), 0, "a due timer: poll now");
	cr_assert_eq(net_idle_next(&w, 0, 5000, 4000), 0, "an overdue timer: poll now");
	cr_assert_eq(net_idle_next(&w, 0, 5000, UINT64_MAX), 800, "steps went on: 100 200 400 800");
	cr_assert_eq(net_idle_next(&w, 0, 5000, UINT64_MAX), 1000);
	cr_assert_eq(net_idle_next(&w, 0, 5000, UINT64_MAX), 1000);
}

Test(net_idle, wait_counts_its_sleeps)
{
	struct net_idle w;

	net_idle_init(&w, NET_IDLE_BACKOFF);
	w.spin_polls = 2;
	w.step_us = 1;
	w.max_us = 4;
	for (int i = 0; i < 6; i++)
		net_idle_wait(&w, 0, 0, UINT64_MAX);
	cr_assert_eq(w.sleeps, 4);
	cr_assert_eq(w.slept_us, 1 + 2 + 4 + 4);
}
