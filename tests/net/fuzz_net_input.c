// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the network stack's input path (Ethernet, ARP,
 * IPv4, ICMP, TCP).  Each input is a series of records
 *
 *   [ctl:1][dt:1][len:2 big-endian][len bytes of frame]
 *
 * delivered to a fresh stack (10.0.0.1, listener on port 80) one by one,
 * with the clock advanced by dt * 10 ms before each.  ctl bits:
 *   0: mark the frame's checksums as verified by the device (so the
 *      fuzzer reaches TCP without computing checksums);
 *   1: fix up the headers: our MAC, IPv4 ethertype, version/IHL, our
 *      address as destination, an on-link source, TCP as protocol, and
 *      then valid IPv4 and TCP checksums;
 *   2: the application sends a few bytes on every accepted connection;
 *   3: the application closes the oldest accepted connection;
 *   4: the application sends 4 KiB on every accepted connection (a
 *      flight of several segments: SACK recovery becomes reachable).
 * An input of odd length runs on the in-memory device with every
 * offload and TSO (net_memdev_ops_tso: 4 KiB sends may leave as
 * super-segments, which the device checks and cuts), of even length on
 * the one without.
 * Our ISNs are fixed (1000000, cfg.isn) so that an input can acknowledge
 * what the stack sent (SYN cookies still use their own).
 * After each frame the application accepts and reads everything.  At the
 * end every connection is closed, time runs past every timer, and the
 * stack must give every packet buffer back (net_pool_fini asserts it) and
 * keep its counters coherent.  Seeds: tests/net/corpus/.
 */
#include <stdlib.h>
#include <string.h>

#include "dataplane/net/net.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

#define MAX_CONNS 16

static void fixup(uint8_t *f, uint32_t len)
{
	uint8_t *ip = f + 14, *th;
	uint32_t ihl, tot, tl;
	uint8_t ph[12];
	uint16_t c;

	if (len < 34)
		return;
	memcpy(f, "\x02\x00\x00\x00\x00\x01", 6);
	f[6] = 0x02; /* unicast source */
	f[12] = 0x08;
	f[13] = 0x00;
	ip[0] = 0x45;
	ihl = 20;
	tot = len - 14;
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	ip[6] &= 0x40; /* no fragment */
	ip[7] = 0;
	ip[9] = 6;
	ip[12] = 10;
	ip[13] = 0;
	ip[14] = 0;
	if (ip[15] == 1 || ip[15] == 0 || ip[15] == 255)
		ip[15] = 2;
	memcpy(ip + 16, "\x0a\x00\x00\x01", 4);
	ip[10] = ip[11] = 0;
	c = net_csum(ip, ihl, 0);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	tl = tot - ihl;
	if (tl < 20)
		return;
	th = ip + ihl;
	memcpy(ph, ip + 12, 8);
	ph[8] = 0;
	ph[9] = 6;
	ph[10] = (uint8_t)(tl >> 8);
	ph[11] = (uint8_t)tl;
	th[16] = th[17] = 0;
	c = net_csum(th, tl, net_csum_partial(ph, 12, 0));
	th[16] = (uint8_t)(c >> 8);
	th[17] = (uint8_t)c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t fixed_isn(void *arg, const struct net_tuple *t)
{
	(void)arg;
	(void)t;
	return 1000000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t frame[NET_PKT_BUFSZ], buf[4096], out[4096];
	struct net_cfg cfg = {0};
	struct net_memdev dev;
	struct net_stack *s;
	struct net_sock *l, *conns[MAX_CONNS];
	uint32_t nconn = 0;
	uint64_t now = 1000000;
	size_t off = 0;

	memcpy(cfg.mac, "\x02\x00\x00\x00\x00\x01", 6);
	cfg.ip = 0x0a000001u;
	cfg.netmask = 0xffffff00u;
	cfg.gateway = 0x0a0000feu;
	cfg.pool_size = 256;
	cfg.max_socks = MAX_CONNS + 8;
	cfg.sndbuf = 8192;
	cfg.rcvbuf = 8192;
	cfg.keepalive_idle_us = 5000000;
	cfg.isn = fixed_isn;
	net_memdev_init(&dev, 64);
	/* inputs of odd length run on a device with all offloads and TSO */
	CHECK(net_stack_create(&s, &cfg, size & 1 ? &net_memdev_ops_tso : &net_memdev_ops, &dev) ==
	      0);
	dev.pool = net_stack_pool(s);
	CHECK(net_listen(s, 80, 4, &l) == 0);
	net_stack_start(s, now);

	while (off + 4 <= size) {
		uint8_t ctl = data[off], dt = data[off + 1];
		uint32_t len = (uint32_t)data[off + 2] << 8 | data[off + 3];
		uint32_t fl = 0;
		struct net_sock *c;

		off += 4;
		if (len > size - off)
			len = (uint32_t)(size - off);
		if (len > NET_PKT_BUFSZ)
			len = NET_PKT_BUFSZ;
		memcpy(frame, data + off, len);
		off += len;
		now += (uint64_t)dt * 10000;
		if (ctl & 2)
			fixup(frame, len);
		if (ctl & 1)
			fl = NET_PKT_RX_IP_CSUM_GOOD | NET_PKT_RX_L4_CSUM_GOOD;
		if (net_memdev_inject(&dev, frame, len, fl) == 0)
			net_poll(s, now);
		else
			net_timers(s, now);
		while (nconn < MAX_CONNS && net_accept(l, &c) == 0)
			conns[nconn++] = c;
		for (uint32_t i = 0; i < nconn; i++) {
			long n;

			while ((n = net_recv(conns[i], buf, sizeof(buf), now)) > 0)
				CHECK((size_t)n <= sizeof(buf));
			if (ctl & 4)
				(void)net_send(conns[i], "zk", 2, now);
			if (ctl & 16)
				(void)net_send(conns[i], out, sizeof(out), now);
			CHECK((net_events(conns[i]) & ~0x1fu) == 0);
		}
		if ((ctl & 8) && nconn) {
			net_close(conns[0], now);
			memmove(conns, conns + 1, --nconn * sizeof(conns[0]));
		}
		net_flush(s);
		net_memdev_drain(&dev); /* the wire takes what was sent */
	}
	for (uint32_t i = 0; i < nconn; i++)
		net_close(conns[i], now);
	net_close(l, now);
	/* run every timer out: TIME_WAIT, retransmissions, ARP */
	for (int i = 0; i < 40 && net_next_timer(s) != UINT64_MAX; i++) {
		now += 60000000;
		net_timers(s, now);
		net_memdev_drain(&dev);
	}
	net_memdev_drain(&dev);
	CHECK(net_stack_socks_in_use(s) == 0);
	CHECK(net_stack_pool(s)->in_use == 0);
	CHECK(dev.tso_bad == 0);
	net_stack_destroy(s);
	return 0;
}
