// SPDX-License-Identifier: Apache-2.0
/*
 * test_dpdk.c - the stack's DPDK port (dataplane/net/net_dpdk.h) without a
 * kernel: two ethdev ports made of two rte_rings (rte_eth_from_rings), one
 * stack on each, a TCP connection between them through the real EAL,
 * mempools, rx/tx bursts and the mbuf <-> net_pkt copies.  The clock is
 * fake, so the run is deterministic.
 *
 * Each criterion test runs in a process of its own, so each has its own
 * EAL (--no-huge --no-shconf --no-pci, a per-process --file-prefix).
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

#include "dataplane/net/net_dpdk.h"
#include "tests/common/leakcheck.h"

static void eal_up(const char *extra)
{
	char eal[512], err[256] = "";
	int rc;

	snprintf(eal, sizeof(eal),
		 "--no-huge -m 128 --no-pci --no-shconf --no-telemetry --lcores=0@(0-1) "
		 "--log-level=warning --file-prefix=chnt%d %s",
		 (int)getpid(), extra);
	rc = net_dpdk_eal_init_str(eal, err, sizeof(err));
	cr_assert_eq(rc, 0, "EAL: %d %s", rc, err);
}

Test(net_dpdk, eal_once_and_no_port)
{
	char err[256] = "";
	struct net_dpdk_port *p = (void *)1;
	struct net_dpdk_port_cfg pc = {0};
	int rc;

	eal_up("");
	rc = net_dpdk_eal_init_str("--no-huge", err, sizeof(err));
	cr_assert_eq(rc, -EALREADY);
	cr_assert(strstr(err, "already"), "%s", err);
	cr_assert_eq(net_dpdk_port_count(), 0);
	rc = net_dpdk_port_open(&p, &pc, err, sizeof(err));
	cr_assert_eq(rc, -ENODEV);
	cr_assert_null(p);
	cr_assert(strstr(err, "no network port"), "%s", err);
	net_dpdk_eal_fini();
	test_assert_no_leaks();
}

Test(net_dpdk, bad_eal_argument)
{
	char err[256] = "";
	int rc = net_dpdk_eal_init_str("--no-huge --no-pci --no-shconf --no-such-option", err,
				       sizeof(err));

	cr_assert_lt(rc, 0);
	cr_assert(strstr(err, "EAL initialisation failed"), "%s", err);
	test_assert_no_leaks();
}

/* ------------------------------------------------------------------ */
/* Two stacks over a ring pair                                         */

struct side {
	struct net_dpdk_port *port;
	struct net_dpdk_queue *q;
	struct net_stack *st;
	unsigned mbufs0;
};

static uint64_t now = 1000000;
static uint16_t last_port_id; /* ring_port's, for the ethdev calls of a test */

/* A port made of n ring pairs (rx[i], tx[i]) with n queues. */
static struct net_dpdk_port *ring_port(const char *name, struct rte_ring **rx, struct rte_ring **tx,
				       unsigned n)
{
	struct net_dpdk_port_cfg pc = {0};
	struct net_dpdk_port *p;
	char err[256] = "";
	int id, rc;

	id = rte_eth_from_rings(name, rx, n, tx, n, 0);
	cr_assert_geq(id, 0, "rte_eth_from_rings %s", name);
	pc.port_id = (uint16_t)id;
	last_port_id = (uint16_t)id;
	pc.n_queues = (uint16_t)n;
	pc.nb_rxd = 256;
	pc.nb_txd = 256;
	rc = net_dpdk_port_open(&p, &pc, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s: %d %s", name, rc, err);
	cr_assert_str_eq(net_dpdk_port_driver(p), "net_ring");
	cr_assert_eq(net_dpdk_port_queues(p), n);
	cr_assert_eq(net_dpdk_port_ops(p)->caps, 0, "net_ring offers no offload");
	return p;
}

/* One stack on queue qi of port. */
static void side_up(struct side *s, struct net_dpdk_port *port, uint16_t qi, uint32_t ip)
{
	struct net_cfg c = {0};
	int rc;

	s->port = port;
	net_dpdk_port_mac(port, c.mac);
	c.mac[0] = 0x02; /* ring ports may share a MAC: make ours unique */
	c.mac[5] = (uint8_t)ip;
	c.ip = ip;
	c.netmask = 0xffffff00u;
	c.pool_size = 1024;
	c.max_socks = 8;
	c.msl_us = 100000;
	c.secret = ip;
	s->q = net_dpdk_queue(port, qi);
	rc = net_stack_create(&s->st, &c, net_dpdk_port_ops(port), s->q);
	cr_assert_eq(rc, 0);
	net_dpdk_queue_bind(s->q, net_stack_pool(s->st));
	s->mbufs0 = net_dpdk_queue_mbufs_in_use(s->q);
	net_stack_start(s->st, now);
}

static void poll_both(struct side *a, struct side *b)
{
	now += 50;
	net_poll(a->st, now);
	net_poll(b->st, now);
}

/* a connects to b's echo port, sends size bytes, reads the echo, closes;
 * b echoes and closes on end of stream.  Asserts the bytes, the close,
 * the counters and that nothing leaked. */
static void echo_run(struct side *a, struct side *b, uint32_t b_ip, size_t size)
{
	static uint8_t out[300000], back[300000], buf[16384];
	struct net_sock *l, *c, *sv = NULL;
	size_t sent = 0, got = 0, echoed = 0, pend_off = 0, pend_len = 0;
	long n;

	cr_assert_leq(size, sizeof(out));
	cr_assert_eq(net_listen(b->st, 7, 4, &l), 0);
	cr_assert_eq(net_connect(a->st, b_ip, 7, now, &c), 0);
	for (size_t i = 0; i < size; i++)
		out[i] = (uint8_t)(i * 7 + (i >> 9) + b_ip);
	/* b echoes what it reads; a sends out[] and reads the echo. */
	for (int round = 0; round < 200000 && got < size; round++) {
		poll_both(a, b);
		if (!sv && net_accept(l, &sv) != 0)
			sv = NULL;
		if (sent < size && (net_events(c) & NET_EV_CONNECTED)) {
			n = net_send(c, out + sent, size - sent, now);
			if (n > 0)
				sent += (size_t)n;
			else
				cr_assert_eq(n, -EAGAIN);
		}
		/* The server echoes through a pending buffer: what its send
		 * buffer does not take now is sent on a later round. */
		while (sv) {
			if (pend_len == 0) {
				n = net_recv(sv, buf, sizeof(buf), now);
				if (n == -EAGAIN)
					break;
				cr_assert_gt(n, 0, "server recv %ld", n);
				pend_off = 0;
				pend_len = (size_t)n;
			}
			n = net_send(sv, buf + pend_off, pend_len, now);
			if (n == -EAGAIN)
				break;
			cr_assert_gt(n, 0, "server send %ld", n);
			pend_off += (size_t)n;
			pend_len -= (size_t)n;
			echoed += (size_t)n;
		}
		n = net_recv(c, back + got, size - got, now);
		if (n > 0)
			got += (size_t)n;
		else
			cr_assert_eq(n, -EAGAIN);
	}
	cr_assert_eq(got, size, "got back %zu of %zu bytes (server echoed %zu)", got, size, echoed);
	cr_assert_eq(memcmp(out, back, size), 0);

	/* Clean close from the client; the server sees EOF and closes too. */
	net_close(c, now);
	for (int round = 0; round < 100000; round++) {
		poll_both(a, b);
		if (sv && net_recv(sv, buf, sizeof(buf), now) == 0) {
			net_close(sv, now);
			sv = NULL;
		}
		if (!sv && net_stack_socks_in_use(a->st) == 0 && net_stack_socks_in_use(b->st) == 1)
			break;
	}
	cr_assert_null(sv, "server never saw the end of stream");
	cr_assert_eq(net_stack_socks_in_use(a->st), 0, "client's TIME_WAIT must end");
	cr_assert_eq(net_stack_socks_in_use(b->st), 1, "only the listener is left");
	net_close(l, now);
	poll_both(a, b);

	/* Every frame crossed the adapter, none was lost or leaked. */
	const struct net_dpdk_stats *sa = net_dpdk_queue_stats(a->q),
				    *sb = net_dpdk_queue_stats(b->q);
	cr_assert_gt(sa->tx_pkts, size / 1460);
	cr_assert_eq(sa->tx_pkts, sb->rx_pkts);
	cr_assert_eq(sb->tx_pkts, sa->rx_pkts);
	cr_assert_eq(sa->rx_nobuf + sa->tx_nombuf + sa->tx_full + sa->rx_too_big, 0);
	cr_assert_eq(sb->rx_nobuf + sb->tx_nombuf + sb->tx_full + sb->rx_too_big, 0);
	cr_assert_eq(net_stack_stats(a->st)->tcp_bad_csum + net_stack_stats(b->st)->tcp_bad_csum,
		     0);
	cr_assert_eq(net_stack_stats(a->st)->tcp_retrans + net_stack_stats(b->st)->tcp_retrans, 0,
		     "a lossless ring must need no retransmission");
	struct net_port_stats pa, pb;
	net_stack_port_stats(a->st, &pa);
	net_stack_port_stats(b->st, &pb);
	cr_assert_eq(pa.tx_pkts, sa->tx_pkts);
	cr_assert_eq(pa.rx_pkts, net_stack_stats(a->st)->rx_frames);
	cr_assert_eq(pb.rx_pkts, net_stack_stats(b->st)->rx_frames);
	cr_assert_eq(pa.tx_pkts, net_stack_stats(a->st)->tx_frames);
	cr_assert_eq(pa.rx_drop + pa.tx_drop + pa.rx_csum_bad + pa.dev_rx_missed, 0);
	cr_assert_eq(pb.rx_drop + pb.tx_drop + pb.rx_csum_bad + pb.dev_rx_missed, 0);
	cr_assert_eq(net_stack_pool(a->st)->in_use, 0);
	cr_assert_eq(net_stack_pool(b->st)->in_use, 0);
	cr_assert_eq(net_dpdk_queue_mbufs_in_use(a->q), a->mbufs0, "mbufs leaked on a");
	cr_assert_eq(net_dpdk_queue_mbufs_in_use(b->q), b->mbufs0, "mbufs leaked on b");
}

Test(net_dpdk, tcp_between_two_ring_ports)
{
	struct rte_ring *ab, *ba;
	struct net_dpdk_port *pa, *pb;
	struct side a = {0}, b = {0};

	eal_up("");
	ab = rte_ring_create("ab", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	ba = rte_ring_create("ba", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	cr_assert(ab && ba);
	pa = ring_port("ra", &ba, &ab, 1);
	pb = ring_port("rb", &ab, &ba, 1);
	side_up(&a, pa, 0, 0x0a010001u);
	side_up(&b, pb, 0, 0x0a010002u);
	echo_run(&a, &b, 0x0a010002u, 300000);
	net_stack_destroy(a.st);
	net_stack_destroy(b.st);
	net_dpdk_port_close(pa);
	net_dpdk_port_close(pb);
	rte_ring_free(ab);
	rte_ring_free(ba);
	net_dpdk_eal_fini();
	test_assert_no_leaks();
}

/* Two queue pairs per port, one stack per queue (shared-nothing): each
 * queue has its own mempool and counters, and traffic on one leaves the
 * other untouched. */
Test(net_dpdk, two_queues_two_stacks_each)
{
	struct rte_ring *ab[2], *ba[2];
	struct net_dpdk_port *pa, *pb;
	struct side a[2] = {0}, b[2] = {0};

	eal_up("");
	for (int i = 0; i < 2; i++) {
		char n1[16], n2[16];

		snprintf(n1, sizeof(n1), "ab%d", i);
		snprintf(n2, sizeof(n2), "ba%d", i);
		ab[i] = rte_ring_create(n1, 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
		ba[i] = rte_ring_create(n2, 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
		cr_assert(ab[i] && ba[i]);
	}
	pa = ring_port("ra", ba, ab, 2);
	pb = ring_port("rb", ab, ba, 2);
	for (uint16_t i = 0; i < 2; i++) {
		side_up(&a[i], pa, i, 0x0a020001u + 0x100u * i);
		side_up(&b[i], pb, i, 0x0a020002u + 0x100u * i);
	}
	cr_assert_neq(a[0].q, a[1].q);
	echo_run(&a[0], &b[0], 0x0a020002u, 100000);
	/* queue 1 saw only the gratuitous ARPs of the start */
	cr_assert_leq(net_dpdk_queue_stats(a[1].q)->rx_pkts, 1);
	cr_assert_leq(net_dpdk_queue_stats(b[1].q)->rx_pkts, 1);
	echo_run(&a[1], &b[1], 0x0a020102u, 200000);
	cr_assert_gt(net_dpdk_queue_stats(a[1].q)->tx_pkts, 100);
	for (int i = 0; i < 2; i++) {
		net_stack_destroy(a[i].st);
		net_stack_destroy(b[i].st);
	}
	net_dpdk_port_close(pa);
	net_dpdk_port_close(pb);
	for (int i = 0; i < 2; i++) {
		rte_ring_free(ab[i]);
		rte_ring_free(ba[i]);
	}
	net_dpdk_eal_fini();
	test_assert_no_leaks();
}

/* ------------------------------------------------------------------ */
/* A frame the device refuses in the middle of a burst                 */

/*
 * A PMD's tx_pkt_prepare (i40e's, iavf's) may refuse one frame of a
 * burst (rte_errno EINVAL): rte_eth_tx_prepare returns the index of the
 * first frame it refused.  net_ring has no prepare function, so the test
 * puts one in the port's fast-path table (rte_eth_fp_ops, filled by
 * rte_eth_dev_start): it refuses the second frame of the first burst of
 * three or more frames that carry TCP payload.  The port must drop that
 * frame alone (counted), send the frames around it in order, and TCP's
 * retransmission must deliver its bytes.
 */
static unsigned prep_calls, prep_refused;

static bool tcp_payload(const struct rte_mbuf *m)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t ihl, doff, len = rte_pktmbuf_data_len(m);

	if (len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00 || f[14 + 9] != 6)
		return false;
	ihl = (f[14] & 15u) * 4u;
	if (len < 14 + ihl + 20)
		return false;
	doff = (uint32_t)(f[14 + ihl + 12] >> 4) * 4u;
	return ((uint32_t)f[16] << 8 | f[17]) > ihl + doff;
}

/*
 * What the device does with the first burst of three or more data
 * frames: refuses its second frame; refuses every frame; or refuses its
 * second frame and then its ring takes one frame of what it is offered
 * (the first) and none on the port's retries.
 */
enum refusal { REFUSE_SECOND, REFUSE_ALL, REFUSE_SECOND_RING_TAKES_ONE };
static enum refusal refusal;
static unsigned refuse_left;   /* REFUSE_ALL: frames of that burst still to refuse */
static unsigned short_calls;   /* REFUSE_SECOND_RING_TAKES_ONE: tx_burst calls since */
static bool ring_short;	       /* the next tx_burst calls are short */
static eth_tx_burst_t ring_tx; /* net_ring's */

static uint16_t refuse(void *txq, struct rte_mbuf **m, uint16_t n)
{
	unsigned data = 0;

	(void)txq;
	prep_calls++;
	if (refuse_left) {
		/* The rest of the burst, prepared again by the port. */
		refuse_left--;
		prep_refused++;
		rte_errno = EINVAL;
		return 0;
	}
	for (uint16_t i = 0; i < n; i++)
		data += tcp_payload(m[i]);
	if (prep_refused || data < 3 || !tcp_payload(m[1]))
		return n;
	prep_refused++;
	rte_errno = EINVAL;
	switch (refusal) {
	case REFUSE_ALL:
		refuse_left = (unsigned)n - 1;
		return 0;
	case REFUSE_SECOND_RING_TAKES_ONE:
		ring_short = true;
		return 1;
	default:
		return 1;
	}
}

static uint16_t tx_short(void *txq, struct rte_mbuf **m, uint16_t n)
{
	if (!ring_short)
		return ring_tx(txq, m, n);
	/* One frame, then nothing for the port's four retries. */
	if (++short_calls == 1)
		return ring_tx(txq, m, 1);
	if (short_calls == 5)
		ring_short = false;
	return 0;
}

/*
 * A connection sends 20000 bytes while the device does what mode says
 * with one burst; every byte must arrive in order (TCP retransmits what
 * was dropped), the counters must add up and nothing may leak.
 */
static void refused_run(enum refusal mode)
{
	struct rte_ring *ab, *ba;
	struct net_dpdk_port *pa, *pb;
	struct side a = {0}, b = {0};
	struct net_port_stats ps;
	const struct net_dpdk_stats *qs;
	uint16_t ida;

	refusal = mode;
	eal_up("");
	ab = rte_ring_create("ab", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	ba = rte_ring_create("ba", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	cr_assert(ab && ba);
	pa = ring_port("ra", &ba, &ab, 1);
	ida = last_port_id;
	pb = ring_port("rb", &ab, &ba, 1);
	cr_assert_null(rte_eth_fp_ops[ida].tx_pkt_prepare, "net_ring has no prepare");
	rte_eth_fp_ops[ida].tx_pkt_prepare = refuse;
	ring_tx = rte_eth_fp_ops[ida].tx_pkt_burst;
	rte_eth_fp_ops[ida].tx_pkt_burst = tx_short;
	side_up(&a, pa, 0, 0x0a030001u);
	side_up(&b, pb, 0, 0x0a030002u);

	/* echo_run would assert a lossless run; this one is not. */
	{
		static uint8_t out[20000], back[20000];
		struct net_sock *l, *c, *sv = NULL;
		size_t sent = 0, got = 0;
		long n;

		for (size_t i = 0; i < sizeof(out); i++)
			out[i] = (uint8_t)(i * 13 + (i >> 8));
		cr_assert_eq(net_listen(b.st, 7, 4, &l), 0);
		cr_assert_eq(net_connect(a.st, 0x0a030002u, 7, now, &c), 0);
		/* The RTO (200 ms at least) brings the refused bytes back at
		 * the latest: 50 us per round, 40000 rounds = 2 s. */
		for (int round = 0; round < 40000 && got < sizeof(out); round++) {
			poll_both(&a, &b);
			if (!sv && net_accept(l, &sv) != 0)
				sv = NULL;
			if (sent < sizeof(out) && (net_events(c) & NET_EV_CONNECTED)) {
				n = net_send(c, out + sent, sizeof(out) - sent, now);
				if (n > 0)
					sent += (size_t)n;
				else
					cr_assert_eq(n, -EAGAIN);
			}
			if (sv) {
				n = net_recv(sv, back + got, sizeof(back) - got, now);
				if (n > 0)
					got += (size_t)n;
				else
					cr_assert_eq(n, -EAGAIN);
			}
		}
		cr_assert_gt(prep_calls, 0, "the port never asked the device to prepare a burst");
		cr_assert_geq(prep_refused, 1, "no burst of three data frames to refuse one of");
		cr_assert_eq(got, sizeof(out), "b got %zu of %zu bytes", got, sizeof(out));
		cr_assert_eq(memcmp(out, back, sizeof(out)), 0);
		cr_assert_geq(net_stack_stats(a.st)->tcp_retrans, 1, "the refused bytes came back");
		qs = net_dpdk_queue_stats(a.q);
		net_stack_port_stats(a.st, &ps);
		/* The refused frames were taken (dropped by the port), and
		 * every frame the port did not take was dropped by the stack. */
		cr_assert_eq(qs->tx_bad, prep_refused);
		cr_assert_eq(qs->tx_pkts + qs->tx_bad, net_stack_stats(a.st)->tx_frames);
		cr_assert_eq(qs->tx_full, net_stack_stats(a.st)->tx_drop);
		cr_assert_eq(ps.tx_drop, qs->tx_bad + qs->tx_full);
		switch (mode) {
		case REFUSE_SECOND:
			/* Only the refused frame was lost: the frames after it
			 * in the burst went out. */
			cr_assert_eq(prep_refused, 1);
			cr_assert_eq(net_stack_stats(a.st)->tx_drop, 0,
				     "frames after the refused one dropped");
			cr_assert_eq(ps.tx_drop, 1, "the port dropped %" PRIu64 " frames",
				     ps.tx_drop);
			break;
		case REFUSE_ALL:
			cr_assert_geq(prep_refused, 3, "the whole burst refused");
			cr_assert_eq(qs->tx_full, 0, "bursts after it not sent");
			break;
		case REFUSE_SECOND_RING_TAKES_ONE:
			/* Frame 0 sent, frame 1 refused (taken), frame 2 on
			 * left to the stack, which dropped it. */
			cr_assert_eq(prep_refused, 1);
			cr_assert_eq(short_calls, 5, "the ring was not short once");
			cr_assert_geq(qs->tx_full, 1, "the frames the ring did not take");
			break;
		}
		net_abort(c, now);
		net_abort(sv, now);
		net_close(l, now);
		poll_both(&a, &b);
	}
	cr_assert_eq(net_stack_socks_in_use(a.st), 0);
	cr_assert_eq(net_stack_socks_in_use(b.st), 0);
	/* Drain what is still in the rings, then nothing may be held. */
	for (int i = 0; i < 4; i++)
		poll_both(&a, &b);
	cr_assert_eq(net_stack_pool(a.st)->in_use, 0);
	cr_assert_eq(net_stack_pool(b.st)->in_use, 0);
	cr_assert_eq(net_dpdk_queue_mbufs_in_use(a.q), a.mbufs0, "mbufs leaked on a");
	cr_assert_eq(net_dpdk_queue_mbufs_in_use(b.q), b.mbufs0, "mbufs leaked on b");
	net_stack_destroy(a.st);
	net_stack_destroy(b.st);
	net_dpdk_port_close(pa);
	net_dpdk_port_close(pb);
	rte_ring_free(ab);
	rte_ring_free(ba);
	net_dpdk_eal_fini();
	test_assert_no_leaks();
}

Test(net_dpdk, a_frame_refused_mid_burst_is_dropped_alone)
{
	refused_run(REFUSE_SECOND);
}

/* Every frame of the burst refused: all taken and dropped, the next bursts sent. */
Test(net_dpdk, a_burst_refused_whole_is_dropped_and_the_next_sent)
{
	refused_run(REFUSE_ALL);
}

/*
 * The ring takes fewer frames than offered after a refusal: the port
 * returns the frames up to the first one the ring did not take (the
 * refused one among them), frees the mbufs of the rest, once.
 */
Test(net_dpdk, a_short_ring_after_a_refusal_returns_the_taken_prefix)
{
	refused_run(REFUSE_SECOND_RING_TAKES_ONE);
}
