// SPDX-License-Identifier: Apache-2.0
/*
 * Two stacks of one port (two dataplane workers) sharing what they learn
 * from ARP (net_nbr.c), and the exception path (net_cfg.exception,
 * net_stack_send_raw), on in-memory devices with the fake clock.
 *
 * Stack A is the test helpers' stack (nt, share number 0); stack B (share
 * number 1) has the same MAC and address on its own device, as two queues
 * of one port do.  The device spreads frames by a hash of addresses and
 * ports: an ARP reply lands on one queue, so here on B while A asked.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "net_test.h"

#define GW_IP 0x0a0000feu
#define GW_MAC "\x02\x00\x00\x00\x00\xfe"
#define FAR_IP 0xc0a80105u /* 192.168.1.5: off-link, through the gateway */

static struct net_nbr_share *share;
static struct net_stack *sb;
static struct net_memdev devb;

static void cfg_a(struct net_cfg *c)
{
	c->share = share;
	c->share_id = 0;
}

static void setup(void)
{
	struct net_cfg c = {0};

	cr_assert_eq(net_nbr_share_create(&share, 2), 0);
	nt_setup(cfg_a);
	memcpy(c.mac, US_MAC, 6);
	c.ip = US_IP;
	c.netmask = 0xffffff00u;
	c.gateway = GW_IP;
	c.pool_size = 512;
	c.max_socks = 16;
	c.secret = 999;
	c.share = share;
	c.share_id = 1;
	net_memdev_init(&devb, 256);
	cr_assert_eq(net_stack_create(&sb, &c, &net_memdev_ops, &devb), 0);
	devb.pool = net_stack_pool(sb);
}

static void teardown(void)
{
	nt_fini();
	if (sb) {
		net_memdev_drain(&devb);
		net_stack_destroy(sb);
		sb = NULL;
	}
	net_nbr_share_destroy(share);
	share = NULL;
}

TestSuite(net_nbr, .init = setup, .fini = teardown, .timeout = 30);

static void arp_frame(uint8_t *b, uint16_t op, uint32_t spa, const char *sha, uint32_t tpa)
{
	uint8_t *a = b + 14;

	memset(b, 0, 60);
	memcpy(b, op == 1 ? "\xff\xff\xff\xff\xff\xff" : US_MAC, 6);
	memcpy(b + 6, sha, 6);
	b[12] = 0x08;
	b[13] = 0x06;
	a[1] = 1;
	a[2] = 0x08;
	a[4] = 6;
	a[5] = 4;
	a[7] = (uint8_t)op;
	memcpy(a + 8, sha, 6);
	a[14] = (uint8_t)(spa >> 24);
	a[15] = (uint8_t)(spa >> 16);
	a[16] = (uint8_t)(spa >> 8);
	a[17] = (uint8_t)spa;
	if (op == 2)
		memcpy(a + 18, US_MAC, 6);
	a[24] = (uint8_t)(tpa >> 24);
	a[25] = (uint8_t)(tpa >> 16);
	a[26] = (uint8_t)(tpa >> 8);
	a[27] = (uint8_t)tpa;
}

/* An ARP frame into stack B's queue; B polls. */
static void arp_to_b(uint16_t op, uint32_t spa, const char *sha, uint32_t tpa)
{
	uint8_t b[60];

	arp_frame(b, op, spa, sha, tpa);
	cr_assert_eq(net_memdev_inject(&devb, b, sizeof(b), 0), 0);
	net_poll(sb, nt.now);
}

static bool take_b(struct nt_frame *f)
{
	struct net_pkt *p;

	net_flush(sb);
	p = net_memdev_take(&devb);
	if (!p)
		return false;
	nt_parse(p->data, p->len, f);
	net_pkt_free(devb.pool, p);
	return true;
}

static void check_no_leaks_b(void)
{
	net_flush(sb);
	net_memdev_drain(&devb);
	cr_assert_eq(net_stack_socks_in_use(sb), 0);
	cr_assert_eq(net_stack_pool(sb)->in_use, 0);
}

/* The worker that asked for the gateway learns its MAC from the worker
 * whose queue the reply reached (the refusal of two workers with a
 * gateway came from this). */
Test(net_nbr, gateway_reply_on_the_other_stack_releases_the_frame)
{
	struct net_sock *so;
	struct nt_frame f;

	cr_assert_eq(net_connect(nt.s, FAR_IP, 80, nt.now, &so), 0);
	net_flush(nt.s);
	cr_assert(nt_take(&f));
	cr_assert_eq(f.ethertype, 0x0806);
	cr_assert_eq(f.arp_op, 1);
	cr_assert_eq(f.arp_tpa, GW_IP);
	cr_assert_eq(nt_pending(), 0); /* the SYN waits for the gateway's MAC */

	arp_to_b(2, GW_IP, GW_MAC, US_IP);
	cr_assert_eq(net_stack_stats(sb)->arp_share_tx, 1);
	cr_assert_not(take_b(&f), "B answers nothing to a reply");

	nt_poll(); /* A applies B's fact: the SYN leaves for the gateway */
	cr_assert_eq(net_stack_stats(nt.s)->arp_share_rx, 1);
	cr_assert(nt_take(&f));
	cr_assert_eq(f.ethertype, 0x0800);
	cr_assert_eq(f.flags, F_SYN);
	cr_assert_eq(f.ip_dst, FAR_IP);
	cr_assert(memcmp(f.dst_mac, GW_MAC, 6) == 0);

	/* B knows the gateway too: its own traffic goes out at once. */
	{
		struct net_sock *so2;

		cr_assert_eq(net_connect(sb, FAR_IP, 81, nt.now, &so2), 0);
		cr_assert(take_b(&f));
		cr_assert_eq(f.ethertype, 0x0800);
		cr_assert(memcmp(f.dst_mac, GW_MAC, 6) == 0);
		net_abort(so2, nt.now);
	}
	net_abort(so, nt.now);
	nt_check_no_leaks();
	check_no_leaks_b();
}

/* A fact applies to entries a stack has: B's ARP traffic with a client
 * that A never talked to makes no entry in A (no churn). */
Test(net_nbr, facts_update_known_entries_only)
{
	struct net_sock *so;
	struct nt_frame f;

	arp_to_b(1, OTHER_IP, "\x02\x00\x00\x00\x00\x03", US_IP); /* who has us? */
	cr_assert(take_b(&f));
	cr_assert_eq(f.arp_op, 2);
	cr_assert_eq(net_stack_stats(sb)->arp_share_tx, 1);
	nt_poll();
	cr_assert_eq(net_stack_stats(nt.s)->arp_share_rx, 1);
	/* A still has to ask */
	cr_assert_eq(net_connect(nt.s, OTHER_IP, 80, nt.now, &so), 0);
	net_flush(nt.s);
	cr_assert(nt_take(&f));
	cr_assert_eq(f.ethertype, 0x0806);
	cr_assert_eq(f.arp_tpa, OTHER_IP);
	/* a changed MAC, learned by B, reaches A's resolved entry */
	arp_to_b(2, OTHER_IP, "\x02\x00\x00\x00\x00\x03", US_IP);
	nt_poll();
	cr_assert(nt_take(&f));
	cr_assert_eq(f.flags, F_SYN);
	cr_assert(memcmp(f.dst_mac, "\x02\x00\x00\x00\x00\x03", 6) == 0);
	arp_to_b(1, OTHER_IP, "\x02\x00\x00\x00\x00\x33", US_IP);
	nt_poll();
	{
		struct net_sock *so2; /* its SYN goes to the new MAC */

		cr_assert_eq(net_connect(nt.s, OTHER_IP, 81, nt.now, &so2), 0);
		net_flush(nt.s);
		cr_assert(nt_take(&f));
		cr_assert_eq(f.flags, F_SYN);
		cr_assert(memcmp(f.dst_mac, "\x02\x00\x00\x00\x00\x33", 6) == 0);
		net_abort(so2, nt.now);
	}
	net_abort(so, nt.now);
	nt_check_no_leaks();
	check_no_leaks_b();
}

/* The rings are bounded: facts beyond a full ring are dropped and
 * counted, and those kept are applied once the other stack polls. */
Test(net_nbr, full_ring_drops_and_counts)
{
	const struct net_stats *b = net_stack_stats(sb);
	struct nt_frame f;

	for (uint32_t i = 0; i < 100; i++) {
		uint8_t mac[7] = "\x02\x00\x00\x00\x01\x00";

		mac[5] = (uint8_t)i;
		arp_to_b(1, 0x0a000010u + i, (const char *)mac, US_IP);
		while (take_b(&f))
			;
	}
	cr_assert_eq(b->arp_share_tx + b->arp_share_drop, 100);
	cr_assert_eq(b->arp_share_tx, 64, "ring of 64 facts: %llu sent",
		     (unsigned long long)b->arp_share_tx);
	cr_assert_eq(b->arp_share_drop, 36);
	nt_poll();
	cr_assert_eq(net_stack_stats(nt.s)->arp_share_rx, 64);
	nt_poll();
	cr_assert_eq(net_stack_stats(nt.s)->arp_share_rx, 64, "a fact is applied once");
	arp_to_b(1, 0x0a000010u, "\x02\x00\x00\x00\x01\x00", US_IP); /* room again */
	cr_assert_eq(b->arp_share_tx, 65);
	nt_check_no_leaks();
	check_no_leaks_b();
}

Test(net_nbr, bad_share_number_refused)
{
	struct net_cfg c = {0};
	struct net_stack *s = NULL;
	struct net_nbr_share *sh;

	memcpy(c.mac, US_MAC, 6);
	c.ip = US_IP;
	c.netmask = 0xffffff00u;
	c.share = share;
	c.share_id = 2;
	cr_assert_eq(net_stack_create(&s, &c, &net_memdev_ops, &devb), -EINVAL);
	cr_assert_eq(net_nbr_share_create(&sh, 0), -EINVAL);
}

/* ---- The exception path ---- */

static struct {
	uint8_t frame[16][1600];
	uint16_t len[16];
	uint32_t n;
	int ret; /* what the hook answers */
} exc;

static int exc_hook(void *arg, const uint8_t *frame, uint16_t len)
{
	(void)arg;
	if (exc.ret)
		return exc.ret;
	cr_assert_lt(exc.n, 16);
	memcpy(exc.frame[exc.n], frame, len);
	exc.len[exc.n++] = len;
	return 0;
}

static void cfg_exc(struct net_cfg *c)
{
	c->exception = exc_hook;
}

static void exc_setup(void)
{
	memset(&exc, 0, sizeof(exc));
	nt_setup(cfg_exc);
}

TestSuite(net_exception, .init = exc_setup, .fini = nt_fini, .timeout = 30);

static void send_udp(uint16_t dport)
{
	uint8_t udp[12] = {0x30, 0x39, (uint8_t)(dport >> 8), (uint8_t)dport, 0, 12, 0, 0, 'p', 'i',
			   'n',	 'g'};
	uint8_t b[100];

	nt_inject_raw(b, nt_build_ipv4(b, PEER_IP, US_IP, 17, udp, sizeof(udp)));
}

Test(net_exception, not_for_cheetah_goes_to_the_kernel)
{
	const struct net_stats *st = net_stack_stats(nt.s);
	struct net_sock *l;
	struct nt_frame f;

	cr_assert_eq(net_listen(nt.s, 80, 8, &l), 0);
	/* TCP to a port without a listener: handed over, no RST */
	nt_send_tcp(40000, 22, 1000, 0, F_SYN, 65535, NULL, NULL, 0);
	cr_assert_eq(exc.n, 1);
	nt_parse(exc.frame[0], exc.len[0], &f);
	cr_assert_eq(f.dport, 22);
	cr_assert_eq(f.flags, F_SYN);
	cr_assert_eq(nt_pending(), 0, "the stack answers nothing");
	cr_assert_eq(st->tcp_no_sock, 0);
	/* UDP: handed over, no ICMP protocol unreachable */
	send_udp(53);
	cr_assert_eq(exc.n, 2);
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(st->icmp_unreach_tx, 0);
	/* TCP to the listener: the stack's */
	nt_send_tcp(40001, 80, 5000, 0, F_SYN, 65535, NULL, NULL, 0);
	cr_assert_eq(exc.n, 2);
	cr_assert(nt_take(&f));
	cr_assert_eq(f.flags, F_SYN | F_ACK);
	/* and the rest of that connection too, though not to the listener */
	nt_send_tcp(40001, 80, 5001, f.seq + 1, F_ACK, 65535, NULL, NULL, 0);
	cr_assert_eq(exc.n, 2);
	/* echo requests: answered by the stack */
	nt_send_ping(1, 1, "x", 1);
	cr_assert_eq(exc.n, 2);
	cr_assert(nt_take(&f));
	cr_assert_eq(f.icmp_type, 0);
	/* ARP for us: answered, and a copy to the kernel */
	nt_send_arp(1, PEER_IP, PEER_MAC, US_IP);
	cr_assert_eq(exc.n, 3);
	cr_assert_eq(exc.len[2], 60);
	cr_assert(nt_take(&f));
	cr_assert_eq(f.arp_op, 2);
	cr_assert_eq(st->exc_fwd, 3);
	cr_assert_eq(st->exc_drop, 0);
	/* a hook that refuses: counted, freed */
	exc.ret = -EAGAIN;
	send_udp(53);
	cr_assert_eq(st->exc_drop, 1);
	cr_assert_eq(nt_pending(), 0);
	{
		struct net_sock *so;

		cr_assert_eq(net_accept(l, &so), 0);
		net_abort(so, nt.now);
	}
	net_close(l, nt.now);
	nt_poll();
	while (nt_pending()) {
		nt_take(&f);
	}
	nt_check_no_leaks();
}

Test(net_exception, kernel_frames_go_out_as_they_are)
{
	const struct net_stats *st = net_stack_stats(nt.s);
	uint8_t frame[60];
	struct nt_frame f;
	struct net_pkt *p;

	arp_frame(frame, 2, US_IP, US_MAC, PEER_IP);	      /* the kernel's ARP reply */
	cr_assert_eq(net_stack_send_raw(nt.s, frame, 42), 0); /* without padding */
	net_flush(nt.s);
	p = net_memdev_take(&nt.dev);
	cr_assert_not_null(p);
	cr_assert_eq(p->len, 60, "padded to the Ethernet minimum");
	cr_assert(memcmp(p->data, frame, 42) == 0);
	nt_parse(p->data, p->len, &f);
	cr_assert_eq(f.arp_op, 2);
	net_pkt_free(nt.dev.pool, p);
	cr_assert_eq(st->exc_tx, 1);
	cr_assert_eq(net_stack_send_raw(nt.s, frame, 13), -EINVAL);
	{
		static uint8_t big[1515];

		cr_assert_eq(net_stack_send_raw(nt.s, big, sizeof(big)), -EINVAL);
		cr_assert_eq(net_stack_send_raw(nt.s, big, 1514), 0);
	}
	cr_assert_eq(st->exc_tx, 2);
	cr_assert_eq(st->exc_drop, 2, "the two refused lengths");
	nt_check_no_leaks();
}

/* Off: the same frames are the stack's to refuse, as before. */
Test(net_exception, off_refuses_and_counts)
{
	const struct net_stats *st;
	struct nt_frame f;

	nt_setup(NULL);
	st = net_stack_stats(nt.s);
	nt_send_tcp(40000, 22, 1000, 0, F_SYN, 65535, NULL, NULL, 0);
	cr_assert(nt_take(&f));
	cr_assert_eq(f.flags & F_RST, F_RST);
	cr_assert_eq(st->tcp_no_sock, 1);
	send_udp(53);
	cr_assert(nt_take(&f));
	cr_assert_eq(f.icmp_type, 3);
	cr_assert_eq(st->ip_proto_drop, 1);
	cr_assert_eq(st->exc_fwd + st->exc_drop, 0);
	nt_check_no_leaks();
}
