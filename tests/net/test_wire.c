// SPDX-License-Identifier: Apache-2.0
/*
 * Two stacks back to back (TigerBeetle's VOPR in miniature): stack A
 * (10.0.0.1) connects to a listener on stack B (10.0.0.2) through an
 * in-memory wire that loses, duplicates, delays and so reorders frames,
 * every decision drawn from one seeded PRNG, under one fake clock.  Both
 * sides send 1 MiB and verify every byte they receive; then both close,
 * and the test asserts that both stacks got every buffer and every
 * control block back.  A failing seed replays exactly.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net_test.h"

#define XFER (1u << 20)
#ifndef SEEDS
#define SEEDS 8
#endif
#define WIRE_MAX 8192u

struct wframe {
	uint64_t at;
	int to; /* 0: A, 1: B */
	uint16_t len;
	uint8_t data[1514];
};

#define MAXC 8

struct wconn {
	struct net_sock *so;
	uint32_t sent, rcvd;
	uint16_t key; /* A's port: both sides derive the data from it */
	bool closed, eof;
};

struct side {
	struct net_stack *s;
	struct net_memdev dev;
	struct net_sock *l;
	struct wconn c[MAXC];
	uint32_t nc;
	uint8_t pat; /* byte i of a stream is (uint8_t)(i * pat + key) */
};

static struct side sd[2];
static struct wframe *wire;
static uint32_t wn;
static uint64_t rng;
/* slow: B reads at most 1 KiB per connection every 2 s into 8 KiB
 * receive buffers, so A meets zero windows that stay shut longer than its
 * persist timer (RTO, at least 200 ms) and must probe, whether or not the
 * loss takes B's window updates */
static bool slow;
static uint64_t last_probes; /* zero-window probes A sent in the last run */
static uint64_t next_read;
static uint32_t loss_pct, dup_pct, jitter_us;
static uint64_t stat_lost, stat_dup, stat_delivered;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static void mk(struct side *x, uint32_t ip, uint8_t last)
{
	struct net_cfg c = {0};

	memcpy(c.mac, "\x02\x00\x00\x00\x00\x00", 6);
	c.mac[5] = last;
	c.ip = ip;
	c.netmask = 0xffffff00u;
	c.pool_size = 4096;
	c.max_socks = 8;
	c.sndbuf = 256 * 1024;
	c.rcvbuf = slow ? 8192 : 256 * 1024;
	c.msl_us = 1000000;
	c.secret = rng;
	memset(x, 0, sizeof(*x));
	net_memdev_init(&x->dev, 2048);
	cr_assert_eq(net_stack_create(&x->s, &c, &net_memdev_ops, &x->dev), 0);
	x->dev.pool = net_stack_pool(x->s);
}

static void to_wire(int from, uint64_t now)
{
	struct net_pkt *p;

	while ((p = net_memdev_take(&sd[from].dev))) {
		int copies = 1;

		if (rnd() % 100 < loss_pct) {
			copies = 0;
			stat_lost++;
		} else if (rnd() % 100 < dup_pct) {
			copies = 2;
			stat_dup++;
		}
		for (int k = 0; k < copies && wn < WIRE_MAX; k++) {
			struct wframe *w = &wire[wn++];

			w->at = now + 200 + (jitter_us ? rnd() % jitter_us : 0);
			w->to = !from;
			w->len = p->len;
			memcpy(w->data, p->data, p->len);
		}
		net_pkt_free(sd[from].dev.pool, p);
	}
}

static void deliver(uint64_t now)
{
	uint32_t i = 0;

	while (i < wn) {
		if (wire[i].at > now) {
			i++;
			continue;
		}
		if (net_memdev_inject(&sd[wire[i].to].dev, wire[i].data, wire[i].len, 0) == 0)
			stat_delivered++;
		else
			stat_lost++;
		wire[i] = wire[--wn]; /* order among due frames: random */
	}
}

static uint64_t wire_next(void)
{
	uint64_t m = UINT64_MAX;

	for (uint32_t i = 0; i < wn; i++)
		if (wire[i].at < m)
			m = wire[i].at;
	return m;
}

static uint32_t xfer;

static void app_conn(struct side *x, struct wconn *w, uint64_t now)
{
	static uint8_t buf[65536];
	uint8_t other = x == &sd[0] ? sd[1].pat : sd[0].pat;
	long n;

	if (w->closed)
		return;
	while (w->sent < xfer) {
		uint32_t want = xfer - w->sent;

		if (want > sizeof(buf))
			want = sizeof(buf);
		for (uint32_t i = 0; i < want; i++)
			buf[i] = (uint8_t)((w->sent + i) * x->pat + w->key);
		n = net_send(w->so, buf, want, now);
		if (n == -EAGAIN)
			break;
		cr_assert_gt(n, 0, "send: %ld", n);
		w->sent += (uint32_t)n;
	}
	for (;;) {
		if (slow && x == &sd[1] && now < next_read)
			break;
		n = net_recv(w->so, buf, slow && x == &sd[1] ? 1024 : sizeof(buf), now);
		if (n == -EAGAIN)
			break;
		if (n == 0) {
			w->eof = true;
			break;
		}
		cr_assert_gt(n, 0, "recv: %ld", n);
		for (long i = 0; i < n; i++)
			cr_assert_eq(buf[i], (uint8_t)((w->rcvd + (uint32_t)i) * other + w->key),
				     "byte %u differs", w->rcvd + (uint32_t)i);
		w->rcvd += (uint32_t)n;
		if (slow && x == &sd[1])
			break; /* one read per turn */
	}
	cr_assert_leq(w->rcvd, xfer);
	/* A closes first once all is through; B closes at end of stream */
	if (w->sent == xfer && w->rcvd == xfer && (w->eof || x == &sd[0])) {
		net_close(w->so, now);
		w->closed = true;
	}
}

static void app(struct side *x, uint64_t now)
{
	for (uint32_t i = 0; i < x->nc; i++)
		app_conn(x, &x->c[i], now);
	if (slow && x == &sd[1] && now >= next_read)
		next_read = now + 2000000;
}

static bool all_closed(void)
{
	for (int k = 0; k < 2; k++)
		for (uint32_t i = 0; i < sd[k].nc; i++)
			if (!sd[k].c[i].closed)
				return false;
	return true;
}

static void run(uint64_t seed, uint32_t loss, uint32_t dup, uint32_t jitter, uint32_t nconn,
		uint32_t bytes)
{
	uint64_t now = 1000000, end;
	int rc;

	rng = seed * 0x9e3779b97f4a7c15ull + 1;
	loss_pct = loss;
	dup_pct = dup;
	jitter_us = jitter;
	stat_lost = stat_dup = stat_delivered = 0;
	next_read = 0;
	wire = calloc(WIRE_MAX, sizeof(*wire));
	wn = 0;
	cr_assert(wire);
	mk(&sd[0], 0x0a000001u, 1);
	mk(&sd[1], 0x0a000002u, 2);
	sd[0].pat = 7;
	sd[1].pat = 13;
	cr_assert_eq(net_listen(sd[1].s, 2181, 16, &sd[1].l), 0);
	net_stack_start(sd[0].s, now);
	net_stack_start(sd[1].s, now);
	xfer = bytes;
	for (uint32_t i = 0; i < nconn; i++) {
		struct net_tuple t;

		rc = net_connect(sd[0].s, 0x0a000002u, 2181, now, &sd[0].c[i].so);
		cr_assert_eq(rc, 0);
		net_sock_tuple(sd[0].c[i].so, &t);
		sd[0].c[i].key = t.lport;
	}
	sd[0].nc = nconn;
	end = now + 3600ull * 1000000;
	while (now < end) {
		uint64_t next;

		deliver(now);
		for (int i = 0; i < 2; i++)
			while (net_poll(sd[i].s, now) > 0)
				;
		struct net_sock *a;

		while (net_accept(sd[1].l, &a) == 0) {
			struct net_tuple t;

			cr_assert_lt(sd[1].nc, nconn);
			net_sock_tuple(a, &t);
			sd[1].c[sd[1].nc].so = a;
			sd[1].c[sd[1].nc++].key = t.fport;
		}
		app(&sd[0], now);
		app(&sd[1], now);
		for (int i = 0; i < 2; i++) {
			net_flush(sd[i].s);
			to_wire(i, now);
		}
		if (sd[1].nc == nconn && all_closed() && net_stack_socks_in_use(sd[0].s) == 0 &&
		    net_stack_socks_in_use(sd[1].s) == 1 && wn == 0)
			break;
		/* jump to the next thing that can happen */
		next = wire_next();
		for (int i = 0; i < 2; i++) {
			uint64_t t = net_next_timer(sd[i].s);

			if (t < next)
				next = t;
		}
		if (slow && next_read < next)
			next = next_read;
		now = next > now ? (next == UINT64_MAX ? now + 1000 : next) : now + 1;
	}
	cr_assert_lt(now, end, "did not finish");
	for (int k = 0; k < 2; k++)
		for (uint32_t i = 0; i < nconn; i++)
			cr_assert_eq(sd[k].c[i].rcvd, xfer);
	cr_log_info("seed %llu loss %u%% %u conn(s) x %u bytes: %.1f s simulated, %llu frames "
		    "delivered, %llu lost, %llu duplicated, %llu "
		    "retransmissions, %llu fast, %llu RTOs",
		    (unsigned long long)seed, loss, nconn, bytes, (now - 1000000) / 1e6,
		    (unsigned long long)stat_delivered, (unsigned long long)stat_lost,
		    (unsigned long long)stat_dup,
		    (unsigned long long)(net_stack_stats(sd[0].s)->tcp_retrans +
					 net_stack_stats(sd[1].s)->tcp_retrans),
		    (unsigned long long)(net_stack_stats(sd[0].s)->tcp_fast_retrans +
					 net_stack_stats(sd[1].s)->tcp_fast_retrans),
		    (unsigned long long)(net_stack_stats(sd[0].s)->tcp_rto +
					 net_stack_stats(sd[1].s)->tcp_rto));
	if (loss)
		cr_assert_gt(net_stack_stats(sd[0].s)->tcp_retrans +
				 net_stack_stats(sd[1].s)->tcp_retrans,
			     0);
	last_probes = net_stack_stats(sd[0].s)->tcp_probe;
	net_close(sd[1].l, now);
	for (int i = 0; i < 2; i++) {
		net_flush(sd[i].s);
		net_memdev_drain(&sd[i].dev);
		cr_assert_eq(net_stack_socks_in_use(sd[i].s), 0);
		cr_assert_eq(net_stack_pool(sd[i].s)->in_use, 0, "stack %d leaked %u buffers", i,
			     net_stack_pool(sd[i].s)->in_use);
		net_stack_destroy(sd[i].s);
		sd[i].s = NULL;
	}
	free(wire);
	wire = NULL;
}

static void fini(void)
{
	for (int i = 0; i < 2; i++) {
		if (!sd[i].s)
			continue;
		net_memdev_drain(&sd[i].dev);
		net_stack_destroy(sd[i].s);
		sd[i].s = NULL;
	}
	free(wire);
	wire = NULL;
}

TestSuite(net_wire, .fini = fini, .timeout = 120);

Test(net_wire, clean_wire_1mib_both_ways)
{
	run(1, 0, 0, 0, 1, XFER);
}

Test(net_wire, loss_5pct_reorder_dup_1mib_both_ways)
{
	run(2, 5, 1, 3000, 1, XFER);
}

Test(net_wire, loss_5pct_other_seed)
{
	run(3, 5, 2, 5000, 1, XFER);
}

Test(net_wire, loss_15pct_heavy)
{
	run(4, 15, 2, 5000, 1, XFER);
}

Test(net_wire, many_seeds_5pct)
{
	for (uint64_t seed = 100; seed < 100 + SEEDS; seed++)
		run(seed, 5 + seed % 6, seed % 3, (uint32_t)(seed % 5) * 2000, 1 + seed % 4,
		    XFER / 4);
}

Test(net_wire, eight_connections_at_once_5pct_loss)
{
	run(5, 5, 1, 3000, 8, XFER / 4);
}

Test(net_wire, slow_reader_zero_windows_under_loss)
{
	slow = true;
	run(6, 5, 1, 3000, 2, 64 * 1024);
	slow = false;
	cr_assert_gt(last_probes, 0, "the reader never closed its window");
	cr_log_info("zero-window probes: %llu", (unsigned long long)last_probes);
}
