// SPDX-License-Identifier: Apache-2.0
/*
 * net_idle.c - idle back-off for a polled core (net.h, struct net_idle).
 *
 * Why: a DPDK core polls its queue in a loop.  On an appliance it owns its
 * CPU and should spin (no wake-up latency); on a shared or small machine
 * (CI: two vCPUs, two polled processes in one test) spinning starves
 * everything else.  Back-off: spin a little (bursts come in trains), then
 * sleep in short, doubling steps, capped, and never past the next TCP/ARP
 * timer so timers stay punctual.  Any work resets to spinning.
 *
 * net_idle_next is pure (a test drives it with a fake clock); only
 * net_idle_wait sleeps.  Thread: the owner of the polling loop.
 */
#include <assert.h>
#include <string.h>
#include <time.h>

#include "net.h"

void net_idle_init(struct net_idle *w, enum net_idle_mode mode)
{
	memset(w, 0, sizeof(*w));
	w->mode = mode;
	w->spin_polls = 100;
	w->step_us = 16;
	w->max_us = 512;
}

uint32_t net_idle_next(struct net_idle *w, int did_work, uint64_t now_us, uint64_t next_timer_us)
{
	uint32_t us;

	if (did_work) {
		w->idle_polls = 0;
		w->cur_us = 0;
		return 0;
	}
	if (w->mode == NET_IDLE_SPIN)
		return 0;
	if (w->idle_polls < w->spin_polls) {
		w->idle_polls++;
		return 0;
	}
	assert(w->step_us > 0 && w->step_us <= w->max_us);
	us = w->cur_us ? w->cur_us : w->step_us;
	w->cur_us = us >= w->max_us / 2 ? w->max_us : us * 2;
	if (next_timer_us <= now_us)
		return 0;
	if (next_timer_us - now_us < us)
		us = (uint32_t)(next_timer_us - now_us);
	return us;
}

void net_idle_wait(struct net_idle *w, int did_work, uint64_t now_us, uint64_t next_timer_us)
{
	uint32_t us = net_idle_next(w, did_work, now_us, next_timer_us);
	struct timespec ts;

	if (!us)
		return;
	ts.tv_sec = us / 1000000u;
	ts.tv_nsec = (long)(us % 1000000u) * 1000;
	nanosleep(&ts, NULL);
	w->sleeps++;
	w->slept_us += us;
}
