// SPDX-License-Identifier: Apache-2.0
/*
 * net_bench_conns - a measurement, not a test: many TCP connections
 * between two stacks on in-memory devices under one fake clock.
 *
 *   net_bench_conns [rounds [gap_us]]     (NC connections, 1,000 unless
 *                                          built with -DNC=...)
 *
 * Each round every connection sends a 64-byte request and the server
 * answers 128 bytes; then the clock runs gap_us more in 50 us polls (so
 * delayed-ACK and retransmission timers come due as on a real server).
 * Then a SYN flood: 20,000 SYNs at a listener created first (so at the
 * tail of the control-block list) whose backlog of 1 is full: every SYN
 * is answered with a cookie.  Prints CPU per request and per SYN; run it
 * under `perf record` to see where the time goes (how docs/ARCHITECTURE.md
 * decided against a timer wheel).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane/net/net.h"

#ifndef NC
#define NC 1000
#endif

static struct net_stack *A, *B;
static struct net_memdev da, db;

static void mk(struct net_stack **s, struct net_memdev *d, uint32_t ip, uint8_t last)
{
	struct net_cfg c = {0};

	memcpy(c.mac, "\x02\x00\x00\x00\x00\x00", 6);
	c.mac[5] = last;
	c.ip = ip;
	c.netmask = 0xffffff00u;
	c.pool_size = 16384;
	c.max_socks = NC + 16;
	c.sndbuf = 8192;
	c.rcvbuf = 8192;
	c.secret = 42;
	net_memdev_init(d, 16384);
	if (net_stack_create(s, &c, &net_memdev_ops, d))
		abort();
	d->pool = net_stack_pool(*s);
}

static void xfer(struct net_memdev *from, struct net_memdev *to)
{
	struct net_pkt *p;

	while ((p = net_memdev_take(from))) {
		if (net_memdev_inject(to, p->data, p->len, 0))
			abort();
		net_pkt_free(from->pool, p);
	}
}

static double cpu(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static struct net_sock *ca[NC], *cb[NC];
	struct net_sock *l;
	uint64_t now = 1000000;
	uint32_t nb = 0, rounds = argc > 1 ? (uint32_t)atoi(argv[1]) : 200;
	uint64_t gap = argc > 2 ? (uint64_t)atoll(argv[2]) : 0;
	char buf[4096];
	uint64_t reqs = 0;
	double t0, treq;

	mk(&A, &da, 0x0a000001u, 1);
	mk(&B, &db, 0x0a000002u, 2);
	net_listen(B, 2181, NC + 8, &l);
	{
		struct net_sock *l2;

		net_listen(B, 2182, 1, &l2); /* before the connections: near the list's tail */
	}
	net_stack_start(A, now);
	net_stack_start(B, now);
	for (int i = 0; i < NC; i++)
		if (net_connect(A, 0x0a000002u, 2181, now, &ca[i]))
			abort();
	while (nb < NC) {
		now += 20;
		net_flush(A);
		xfer(&da, &db);
		while (net_poll(B, now) > 0)
			;
		while (nb < NC && net_accept(l, &cb[nb]) == 0)
			nb++;
		net_flush(B);
		xfer(&db, &da);
		while (net_poll(A, now) > 0)
			;
	}
	t0 = cpu();
	for (uint32_t r = 0; r < rounds; r++) {
		for (int i = 0; i < NC; i++)
			if (net_send(ca[i], buf, 64, now) != 64)
				abort();
		/* until every reply is in */
		uint32_t got = 0;
		while (got < NC) {
			now += 20;
			net_flush(A);
			xfer(&da, &db);
			while (net_poll(B, now) > 0)
				;
			for (int i = 0; i < NC; i++) {
				long n = net_recv(cb[i], buf, sizeof(buf), now);

				if (n > 0) {
					if (net_send(cb[i], buf, 128, now) != 128)
						abort();
				}
			}
			net_flush(B);
			xfer(&db, &da);
			while (net_poll(A, now) > 0)
				;
			for (int i = 0; i < NC; i++) {
				long n = net_recv(ca[i], buf, sizeof(buf), now);

				if (n > 0)
					got++;
			}
		}
		reqs += NC;
		for (uint64_t end = now + gap; now < end;) {
			now += 50;
			net_flush(A);
			xfer(&da, &db);
			net_poll(B, now);
			net_flush(B);
			xfer(&db, &da);
			net_poll(A, now);
		}
	}
	treq = cpu() - t0;
	{
		/* a SYN flood at a second listener whose backlog (1) is full:
		 * every SYN is answered with a cookie */
		uint8_t f[60] = {0}, ph[12];
		uint32_t nsyn = 20000;
		double t1;

		memcpy(f, "\x02\x00\x00\x00\x00\x02", 6);
		memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
		f[12] = 8;
		f[14] = 0x45;
		f[17] = 40;
		f[22] = 64;
		f[23] = 6;
		f[26] = 10;
		f[29] = 1;
		f[30] = 10;
		f[33] = 2;
		t1 = cpu();
		for (uint32_t i = 0; i < nsyn; i++) {
			uint8_t *th = f + 34;
			uint16_t c;

			f[24] = f[25] = 0;
			c = net_csum(f + 14, 20, 0);
			f[24] = (uint8_t)(c >> 8);
			f[25] = (uint8_t)c;
			th[0] = (uint8_t)((30000 + i % 30000) >> 8);
			th[1] = (uint8_t)(30000 + i % 30000);
			th[2] = 2182 >> 8;
			th[3] = 2182 & 255;
			th[4] = (uint8_t)(i >> 8);
			th[12] = 5 << 4;
			th[13] = 2;
			th[14] = 0xff;
			th[16] = th[17] = 0;
			memcpy(ph, f + 26, 8);
			ph[8] = 0;
			ph[9] = 6;
			ph[10] = 0;
			ph[11] = 20;
			c = net_csum(th, 20, net_csum_partial(ph, 12, 0));
			th[16] = (uint8_t)(c >> 8);
			th[17] = (uint8_t)c;
			net_memdev_inject(&db, f, 60, 0);
			net_poll(B, now);
			net_memdev_drain(&db);
		}
		printf("SYN flood with %d connections: %.0f ns per SYN, cookies sent %llu\n", NC,
		       (cpu() - t1) * 1e9 / nsyn,
		       (unsigned long long)net_stack_stats(B)->tcp_syncookie_tx);
	}
	printf("%d connections: %llu requests, %.1f s simulated, %.0f ns CPU per request "
	       "(both stacks and the harness)\n",
	       NC, (unsigned long long)reqs, (now - 1000000) / 1e6, treq * 1e9 / reqs);
	return 0;
}
