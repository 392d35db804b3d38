// SPDX-License-Identifier: Apache-2.0
/*
 * bench_net_dpdk.c - what the stack's DPDK port costs per frame: bursts of
 * 32 frames go through net_dpdk's tx_burst (net_pkt -> mbuf copy, mempool
 * alloc) into a net_ring loopback port and back through rx_burst (mbuf ->
 * net_pkt copy, mbuf free).  No protocol runs; the figure is the adapter's
 * share of a frame's cost, both directions, with the copies
 * (docs/ARCHITECTURE.md, "The DPDK port of the stack").
 *
 *   bench_net_dpdk [frame bytes, 60..2048; default 1514] [bursts; 200000]
 *
 * Runs its own EAL: -l 1 --no-huge -m 256 --no-pci --no-shconf.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eth_ring.h>
#include <rte_ring.h>

#include "common/clock.h"
#include "dataplane/net/net_dpdk.h"

int main(int argc, char **argv)
{
	int len = argc > 1 ? atoi(argv[1]) : 1514;
	long bursts = argc > 2 ? atol(argv[2]) : 200000;
	struct net_dpdk_port_cfg pc = {0};
	const struct net_port_ops *ops;
	struct net_dpdk_port *p;
	struct net_dpdk_queue *q;
	struct net_pool pool;
	struct net_pkt *b[32];
	struct rte_ring *r;
	uint64_t frames = 0, t0, t;
	char err[256];
	int id;

	if (len < 60 || len > (int)NET_PKT_BUFSZ || bursts <= 0) {
		fprintf(stderr, "usage: bench_net_dpdk [60..2048] [bursts]\n");
		return 2;
	}
	if (net_dpdk_eal_init_str("-l 1 --no-huge -m 256 --no-pci --no-shconf --no-telemetry "
				  "--log-level=warning --file-prefix=bench_net_dpdk",
				  err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	r = rte_ring_create("lo", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	id = r ? rte_eth_from_rings("lo", &r, 1, &r, 1, 0) : -1;
	if (id < 0) {
		fprintf(stderr, "cannot make a ring port\n");
		return 1;
	}
	pc.port_id = (uint16_t)id;
	if (net_dpdk_port_open(&p, &pc, err, sizeof(err)) || net_pool_init(&pool, 1024)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	q = net_dpdk_queue(p, 0);
	net_dpdk_queue_bind(q, &pool);
	ops = net_dpdk_port_ops(p);
	t0 = clock_mono_ns();
	for (long it = 0; it < bursts; it++) {
		uint16_t s, n;

		for (int i = 0; i < 32; i++) {
			b[i] = net_pkt_alloc(&pool);
			b[i]->len = (uint16_t)len;
		}
		s = ops->tx_burst(q, b, 32);
		for (int i = s; i < 32; i++)
			net_pkt_free(&pool, b[i]);
		n = ops->rx_burst(q, b, 32);
		for (int i = 0; i < n; i++)
			net_pkt_free(&pool, b[i]);
		frames += n;
	}
	t = clock_mono_ns() - t0;
	printf("frame %d bytes: %lu frames, %.1f ns per frame (tx copy + rx copy, mbuf alloc and "
	       "free, ring), %.2f Mpps\n",
	       len, frames, (double)t / (double)frames, (double)frames * 1e3 / (double)t);
	net_dpdk_port_close(p);
	net_pool_fini(&pool);
	rte_ring_free(r);
	net_dpdk_eal_fini();
	return 0;
}
