// SPDX-License-Identifier: Apache-2.0
/*
 * Ethernet, ARP, IPv4 and ICMP echo on the in-memory device: frames in,
 * frames out, the ARP timers driven by the fake clock; every test ends
 * asserting that no buffer and no control block leaked.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "dataplane/net/net_priv.h" /* NET_RX_BURST, NET_RX_POLL_MAX */
#include "net_test.h"

static void setup(void)
{
	nt_setup(NULL);
}

static void teardown(void)
{
	nt_fini();
}

TestSuite(net_link, .init = setup, .fini = teardown, .timeout = 30);

Test(net_link, gratuitous_arp_at_start)
{
	struct nt_frame f;

	net_stack_start(nt.s, nt.now);
	cr_assert(nt_take(&f));
	cr_assert_eq(f.ethertype, 0x0806);
	cr_assert_eq(f.arp_op, 1);
	cr_assert_eq(f.arp_spa, US_IP);
	cr_assert_eq(f.arp_tpa, US_IP);
	cr_assert(memcmp(f.dst_mac, "\xff\xff\xff\xff\xff\xff", 6) == 0);
	cr_assert(memcmp(f.arp_sha, US_MAC, 6) == 0);
	nt_check_no_leaks();
}

Test(net_link, arp_request_for_us_is_answered)
{
	struct nt_frame f;

	nt_send_arp(1, PEER_IP, PEER_MAC, US_IP);
	cr_assert(nt_take(&f));
	cr_assert_eq(f.arp_op, 2);
	cr_assert_eq(f.arp_spa, US_IP);
	cr_assert_eq(f.arp_tpa, PEER_IP);
	cr_assert(memcmp(f.dst_mac, PEER_MAC, 6) == 0);
	cr_assert(memcmp(f.arp_sha, US_MAC, 6) == 0);
	cr_assert_eq(nt_pending(), 0);
	/* for another address: silence */
	nt_send_arp(1, PEER_IP, PEER_MAC, OTHER_IP);
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(net_stack_stats(nt.s)->arp_rx, 2);
	nt_check_no_leaks();
}

Test(net_link, resolution_holds_frames_until_reply)
{
	struct net_sock *so;
	struct nt_frame f;

	cr_assert_eq(net_connect(nt.s, OTHER_IP, 80, nt.now, &so), 0);
	net_flush(nt.s);
	cr_assert(nt_take(&f));
	cr_assert_eq(f.ethertype, 0x0806);
	cr_assert_eq(f.arp_op, 1);
	cr_assert_eq(f.arp_tpa, OTHER_IP);
	cr_assert_eq(nt_pending(), 0); /* the SYN waits */
	nt_send_arp(2, OTHER_IP, "\x02\x00\x00\x00\x00\x03", US_IP);
	cr_assert(nt_take(&f));
	cr_assert_eq(f.ethertype, 0x0800);
	cr_assert_eq(f.flags, F_SYN);
	cr_assert(memcmp(f.dst_mac, "\x02\x00\x00\x00\x00\x03", 6) == 0);
	net_close(so, nt.now);
	nt_check_no_leaks();
}

Test(net_link, unanswered_resolution_gives_up_and_frees)
{
	uint8_t ic[8] = {8, 0, 0, 0, 0, 1, 0, 2}, b[100];
	struct nt_frame f;
	int requests = 0;
	uint16_t c = net_csum(ic, 8, 0);

	ic[2] = (uint8_t)(c >> 8);
	ic[3] = (uint8_t)c;
	/* an off-link sender: the reply goes to the gateway, unresolved */
	nt_inject_raw(b, nt_build_ipv4(b, 0x0b000001u, US_IP, 1, ic, 8));
	for (int i = 0; i < 10; i++) {
		while (nt_take(&f)) {
			cr_assert_eq(f.ethertype, 0x0806);
			cr_assert_eq(f.arp_tpa, 0x0a0000feu);
			requests++;
		}
		nt_advance(1000000);
	}
	cr_assert_eq(requests, 3, "requests: %d", requests);
	cr_assert_eq(net_stack_stats(nt.s)->arp_queue_drop, 1);
	cr_assert_eq(net_next_timer(nt.s), UINT64_MAX);
	nt_check_no_leaks();
}

Test(net_link, cache_entry_expires)
{
	struct nt_frame f;

	/* learned from the request */
	nt_send_arp(1, PEER_IP, PEER_MAC, US_IP);
	cr_assert(nt_take(&f));
	nt_send_ping(1, 1, "x", 1);
	cr_assert(nt_take(&f));
	cr_assert_eq(f.ethertype, 0x0800); /* resolved: no request */
	nt_advance(301ull * 1000000);
	/* expired: the next reply needs a request first (the echo request
	 * itself re-teaches the address: on-link senders are trusted, so
	 * send the request from the side with a different source) */
	uint8_t ic[8] = {8, 0, 0, 0, 0, 1, 0, 2}, b[100];
	uint32_t n;

	ic[2] = (uint8_t)(net_csum(ic, 8, 0) >> 8);
	ic[3] = (uint8_t)net_csum(ic, 8, 0);
	/* from an off-link source: no learning, goes via the gateway */
	n = nt_build_ipv4(b, 0x0b000001u, US_IP, 1, ic, 8);
	nt_inject_raw(b, n);
	cr_assert(nt_take(&f));
	cr_assert_eq(f.ethertype, 0x0806);
	cr_assert_eq(f.arp_tpa, 0x0a0000feu);
	for (int i = 0; i < 5; i++)
		nt_advance(1000000); /* gives up: frame freed */
	nt_check_no_leaks();
}

Test(net_link, icmp_echo_is_answered)
{
	struct nt_frame f;
	const char payload[] = "abcdefghijklmnopqrstuvwxyz0123456789";

	nt_send_ping(0x1234, 7, payload, sizeof(payload));
	cr_assert(nt_take(&f));
	cr_assert_eq(f.ip_proto, 1);
	cr_assert(f.ip_csum_ok);
	cr_assert(f.icmp_csum_ok);
	cr_assert_eq(f.icmp_type, 0);
	cr_assert_eq(f.ip_dst, PEER_IP);
	cr_assert_eq(f.ip_ttl, 64);
	cr_assert_eq(f.icmp_len, 8 + sizeof(payload));
	cr_assert_eq(f.icmp[4], 0x12);
	cr_assert_eq(f.icmp[7], 7);
	cr_assert(memcmp(f.icmp + 8, payload, sizeof(payload)) == 0);
	cr_assert_eq(net_stack_stats(nt.s)->icmp_echo_reply, 1);
	nt_check_no_leaks();
}

Test(net_link, icmp_bad_checksum_dropped)
{
	uint8_t ic[12] = {8, 0, 0x12, 0x34, 0, 1, 0, 1, 'a', 'b', 'c', 'd'};
	uint8_t b[100];

	nt_inject_raw(b, nt_build_ipv4(b, PEER_IP, US_IP, 1, ic, sizeof(ic)));
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(net_stack_stats(nt.s)->icmp_drop, 1);
}

static uint32_t ping_frame(uint8_t *b)
{
	uint8_t ic[8] = {8, 0, 0, 0, 0, 1, 0, 1};
	uint16_t c = net_csum(ic, 8, 0);

	ic[2] = (uint8_t)(c >> 8);
	ic[3] = (uint8_t)c;
	return nt_build_ipv4(b, PEER_IP, US_IP, 1, ic, 8);
	nt_check_no_leaks();
}

Test(net_link, ipv4_bad_checksum_dropped_and_counted)
{
	uint8_t b[100];
	uint32_t n = ping_frame(b);

	b[14 + 10] ^= 0x55;
	nt_inject_raw(b, n);
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(net_stack_stats(nt.s)->ip_bad_csum, 1);
	nt_check_no_leaks();
}

Test(net_link, ipv4_fragments_dropped_and_counted)
{
	uint8_t b[100];
	uint32_t n;

	for (int k = 0; k < 2; k++) {
		n = ping_frame(b);
		b[14 + 6] = k == 0 ? 0x20 : 0x00; /* MF, then offset 8 */
		b[14 + 7] = k == 0 ? 0x00 : 0x01;
		b[14 + 10] = b[14 + 11] = 0;
		uint16_t c = net_csum(b + 14, 20, 0);

		b[14 + 10] = (uint8_t)(c >> 8);
		b[14 + 11] = (uint8_t)c;
		nt_inject_raw(b, n);
	}
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(net_stack_stats(nt.s)->ip_frag_drop, 2);
	nt_check_no_leaks();
}

Test(net_link, ipv4_wrong_address_dropped_and_counted)
{
	uint8_t ic[8] = {8, 0, 0xf7, 0xfd, 0, 1, 0, 1}, b[100];

	nt_inject_raw(b, nt_build_ipv4(b, PEER_IP, OTHER_IP, 1, ic, 8));
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(net_stack_stats(nt.s)->ip_not_us, 1);
	nt_check_no_leaks();
}

static void big_pool(struct net_cfg *c)
{
	c->pool_size = NET_RX_POLL_MAX + 4 * NET_RX_BURST;
}

/*
 * One poll takes what the port holds, in bursts, up to NET_RX_POLL_MAX
 * frames: the device's ring has no flow control, so frames left in it
 * while the layer above works are dropped once it is full (the watch
 * storm over af_packet lost thousands that way when a poll took one
 * burst of NET_RX_BURST).
 */
Test(net_link, poll_takes_all_the_port_holds_up_to_its_bound)
{
	uint8_t ic[8] = {8, 0, 0xf7, 0xfd, 0, 1, 0, 1}, b[100];
	const uint32_t more = NET_RX_POLL_MAX + 3 * NET_RX_BURST + 5; /* fits the pool */
	uint32_t n;

	nt_setup(big_pool);
	nt.dev.cap = NET_RX_POLL_MAX + 4 * NET_RX_BURST; /* the device's ring */
	n = nt_build_ipv4(b, PEER_IP, OTHER_IP, 1, ic, 8);
	for (uint32_t i = 0; i < 300; i++)
		cr_assert_eq(net_memdev_inject(&nt.dev, b, n, 0), 0);
	cr_assert_eq(net_poll(nt.s, nt.now), 300);
	cr_assert_eq(nt.dev.rx_len, 0);
	cr_assert_eq(net_stack_stats(nt.s)->ip_not_us, 300);

	for (uint32_t i = 0; i < more; i++)
		cr_assert_eq(net_memdev_inject(&nt.dev, b, n, 0), 0);
	cr_assert_eq(net_poll(nt.s, nt.now), (int)NET_RX_POLL_MAX);
	cr_assert_eq(nt.dev.rx_len, more - NET_RX_POLL_MAX);
	cr_assert_eq(net_poll(nt.s, nt.now), (int)(more - NET_RX_POLL_MAX));
	cr_assert_eq(net_poll(nt.s, nt.now), 0);
	cr_assert_eq(net_stack_stats(nt.s)->rx_frames, 300 + more);
	cr_assert_eq(net_stack_stats(nt.s)->ip_not_us, 300 + more);
	nt_check_no_leaks();
}

Test(net_link, malformed_frames_dropped)
{
	uint8_t b[100];
	uint32_t n = ping_frame(b);

	nt_inject_raw(b, 10); /* runt */
	nt_inject_raw(b, 20); /* IPv4 header cut */
	b[14] = 0x46;	      /* IHL 24 but checksum over 20: bad */
	nt_inject_raw(b, n);
	n = ping_frame(b);
	b[14 + 2] = 0x05; /* total length beyond the frame */
	nt_inject_raw(b, n);
	n = ping_frame(b);
	b[0] = 0x02; /* another host's MAC */
	b[5] = 0x09;
	nt_inject_raw(b, n);
	n = ping_frame(b);
	b[12] = 0x86; /* IPv6 ethertype */
	b[13] = 0xdd;
	nt_inject_raw(b, n);
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(net_stack_stats(nt.s)->eth_drop, 3);
	cr_assert_geq(net_stack_stats(nt.s)->ip_bad_hdr + net_stack_stats(nt.s)->ip_bad_csum, 3);
	nt_check_no_leaks();
}

Test(net_link, rx_checksum_offload_verdict_is_trusted)
{
	uint8_t b[100];
	uint32_t n = ping_frame(b);

	cr_assert_eq(net_memdev_inject(&nt.dev, b, n, NET_PKT_RX_IP_CSUM_BAD), 0);
	nt_poll();
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(net_stack_stats(nt.s)->ip_bad_csum, 1);
	nt_check_no_leaks();
}

static void offload_setup(void)
{
	nt_setup(NULL);
	/* the same stack on a port that offers every checksum offload */
	net_stack_destroy(nt.s);
	cr_assert_eq(net_stack_create(&nt.s, &nt.cfg, &net_memdev_ops_csum, &nt.dev), 0);
	nt.dev.pool = net_stack_pool(nt.s);
}

Test(net_link, tx_checksum_offload_leaves_the_sums_to_the_device, .init = offload_setup)
{
	struct net_sock *l;
	struct nt_frame f;

	nt_send_ping(1, 1, "abc", 3);
	cr_assert(nt_take(&f));
	cr_assert(f.ip_csum_ok && f.icmp_csum_ok);
	cr_assert_eq(net_listen(nt.s, 80, 4, &l), 0);
	nt_send_tcp(40000, 80, 1000, 0, F_SYN, 65535, NULL, NULL, 0);
	cr_assert(nt_take(&f));
	cr_assert_eq(f.flags, F_SYN | F_ACK);
	/* the memdev completed the sums the stack left to it */
	cr_assert(f.ip_csum_ok && f.tcp_csum_ok);
	net_close(l, nt.now);
	nt_check_no_leaks();
}

/* RFC 1122 3.2.2.1: a protocol the host lacks (UDP here) gets ICMP
 * Destination Unreachable, code 2, quoting the header and 8 octets. */
Test(net_link, unknown_protocol_gets_protocol_unreachable)
{
	uint8_t udp[20], b[100];
	struct nt_frame f;
	uint32_t n;

	for (int i = 0; i < 20; i++)
		udp[i] = (uint8_t)(i + 1);
	n = nt_build_ipv4(b, PEER_IP, US_IP, 17, udp, sizeof(udp));
	nt_inject_raw(b, n);
	cr_assert(nt_take(&f));
	cr_assert_eq(f.ip_proto, 1);
	cr_assert_eq(f.ip_dst, PEER_IP);
	cr_assert(f.icmp_csum_ok);
	cr_assert_eq(f.icmp_type, 3);
	cr_assert_eq(f.icmp[1], 2, "protocol unreachable");
	cr_assert_eq(f.icmp_len, 8 + 20 + 8);
	cr_assert(memcmp(f.icmp + 8, b + 14, 28) == 0, "header and 8 octets quoted");
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(net_stack_stats(nt.s)->ip_proto_drop, 1);
	cr_assert_eq(net_stack_stats(nt.s)->icmp_unreach_tx, 1);
	/* never for a link-layer broadcast (RFC 1122 3.2.2) */
	memset(b, 0xff, 6);
	nt_inject_raw(b, n);
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(net_stack_stats(nt.s)->ip_proto_drop, 2);
	cr_assert_eq(net_stack_stats(nt.s)->icmp_unreach_tx, 1);
	/* nor for a loopback source */
	nt_inject_raw(b, nt_build_ipv4(b, 0x7f000001u, US_IP, 17, udp, sizeof(udp)));
	cr_assert_eq(nt_pending(), 0);
	/* an ICMP error that reaches us is counted, never answered */
	{
		uint8_t ic[36], fr[100];
		uint16_t c;

		memset(ic, 0, sizeof(ic));
		ic[0] = 3;
		ic[1] = 1;
		c = net_csum(ic, sizeof(ic), 0);
		ic[2] = (uint8_t)(c >> 8);
		ic[3] = (uint8_t)c;
		nt_inject_raw(fr, nt_build_ipv4(fr, PEER_IP, US_IP, 1, ic, sizeof(ic)));
	}
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(net_stack_stats(nt.s)->icmp_drop, 1);
	nt_check_no_leaks();
}

Test(net_link, icmp_errors_are_rate_limited)
{
	uint8_t udp[8] = {0}, b[100];
	struct nt_frame f;
	uint32_t n = nt_build_ipv4(b, PEER_IP, US_IP, 47, udp, sizeof(udp)), got = 0;

	for (int i = 0; i < 150; i++) {
		nt_inject_raw(b, n);
		while (nt_take(&f))
			got++;
	}
	cr_assert_eq(got, 100);
	cr_assert_eq(net_stack_stats(nt.s)->icmp_err_ratelimit, 50);
	nt_advance(1000000);
	nt_inject_raw(b, n);
	cr_assert(nt_take(&f));
	cr_assert_eq(f.icmp_type, 3);
	cr_assert_eq(net_stack_stats(nt.s)->icmp_unreach_tx, 101);
	nt_check_no_leaks();
}
