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
 * The first record's ctl bits 5-7 choose the configuration (0: as
 * before they existed):
 *   5: 64 KiB send buffers and 16 KiB sends (bit 4): super-segments
 *      near the stack's TSO cap; a pool of 128 buffers and a device
 *      queue of 24 frames (the pool's reserve for TSO, refused frames
 *      and chains);
 *   6: a port with TSO bounds: 4000 payload bytes, 3 buffers per
 *      chain, wire segments of 1000 bytes from the IPv4 header;
 *   7: cfg.tso_max 3001 (not a multiple of any segment size).
 * An input of odd length runs on the in-memory device with every
 * offload and TSO (net_memdev_ops_tso: sends may leave as
 * super-segments, which the device checks and cuts), of even length on
 * the one without.  The MSS is the input's (its SYNs' MSS option).
 * Our ISNs are fixed (1000000, cfg.isn) so that an input can acknowledge
 * what the stack sent (SYN cookies still use their own).
 * After each frame the application accepts and reads everything.  What
 * the application sends is a pattern of its stream offset; every frame
 * the stack puts on the wire is checked: its lengths against the MTU
 * (the port's segment bound with TSO), a data segment's payload against
 * the MSS and the pattern (the send ring, the chains, the segmentation),
 * and each super-segment against the port's bounds and, when it was
 * sent, the peer's window and the congestion window.  At the end every
 * connection is closed, time runs past every timer, and the
 * stack must give every packet buffer back (net_pool_fini asserts it) and
 * keep its counters coherent.  Seeds: tests/net/corpus/.
 */
#include <stdlib.h>
#include <string.h>

#include "dataplane/net/net_priv.h"

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

/* The application's byte at stream offset k. */
static uint8_t pattern(uint32_t k)
{
	return (uint8_t)(k * 131u + (k >> 9) + 1u);
}

/* Sends n bytes of the pattern on a connection from stream offset *sent. */
static void send_pattern(struct net_sock *c, uint32_t *sent, uint32_t n, uint64_t now)
{
	static uint8_t buf[16384];
	long k;

	CHECK(n <= sizeof(buf));
	for (uint32_t i = 0; i < n; i++)
		buf[i] = pattern(*sent + i);
	k = net_send(c, buf, n, now);
	if (k > 0) {
		CHECK((uint32_t)k <= n);
		*sent += (uint32_t)k;
	}
}

static struct net_sock *conn_of(struct net_sock *const *conns, uint32_t n, uint32_t faddr,
				uint16_t fport)
{
	for (uint32_t i = 0; i < n; i++)
		if (conns[i]->t.faddr == faddr && conns[i]->t.fport == fport)
			return conns[i];
	return NULL;
}

/*
 * Checks the frames on the wire (the device's tx queue): lengths against
 * the MTU; a data segment of a live connection against its MSS and the
 * pattern of what its application sent (sent[]).
 */
static void check_wire(const struct net_memdev *d, struct net_sock *const *conns,
		       const uint32_t *sent, uint32_t nconn, uint32_t mtu)
{
	for (const struct net_pkt *p = d->tx_head; p; p = p->next) {
		const uint8_t *ip = p->data + ETH_HLEN, *th;
		uint32_t tot, ihl, thl, pl, seq, off;
		struct net_sock *c;
		uint32_t i;

		CHECK(!p->frag && p->len >= 60 && p->len <= NET_PKT_BUFSZ);
		if (get16(p->data + 12) != 0x0800)
			continue;
		tot = get16(ip + 2);
		ihl = (ip[0] & 15u) * 4u;
		CHECK(tot <= mtu && ETH_HLEN + tot <= p->len);
		CHECK(p->len == ETH_HLEN + tot || p->len == 60);
		if (ip[9] != 6)
			continue;
		th = ip + ihl;
		thl = (uint32_t)(th[12] >> 4) * 4u;
		CHECK(thl >= TCP_HLEN && ihl + thl <= tot);
		pl = tot - ihl - thl;
		if (!pl || get16(th) != 80)
			continue;
		c = conn_of(conns, nconn, get32(ip + 16), get16(th + 2));
		if (!c || c->state < TCP_ESTABLISHED)
			continue;
		CHECK(pl <= c->mss);
		for (i = 0; i < nconn && conns[i] != c; i++)
			;
		seq = get32(th + 4);
		off = seq - (c->iss + 1);
		CHECK(off + pl <= sent[i]);
		for (uint32_t k = 0; k < pl; k++)
			CHECK(th[thl + k] == pattern(off + k));
	}
}

/*
 * Checks the super-segments the device took since the log was reset:
 * the port's bounds (the segments it makes at most seg_mtu bytes from
 * the IPv4 header) and, on a live connection, the peer's window and
 * the congestion window when it was sent (what an ACK after it in the
 * same step cannot have changed; cwnd only if no timer or recovery
 * lowered it since: skip_cwnd).
 */
static void check_tso(struct net_memdev *d, struct net_sock *const *conns, uint32_t nconn,
		      const struct net_port_ops *ops, uint32_t cap, uint32_t seg_mtu,
		      bool skip_cwnd)
{
	for (uint32_t i = 0; i < d->n_tso_log; i++) {
		const struct net_memdev_tso *l = &d->tso_log[i];
		struct net_sock *c = NULL;
		uint32_t cw;

		CHECK(l->segsz >= NET_TSO_SEG_MIN && l->payload > l->segsz && l->payload <= cap);
		CHECK(l->segs == (l->payload + l->segsz - 1) / l->segsz);
		CHECK(!ops->tso_max_payload || l->payload <= ops->tso_max_payload);
		CHECK(!ops->tso_max_bufs || l->bufs <= ops->tso_max_bufs);
		CHECK(!(l->tcp_flags & (TCPF_SYN | TCPF_RST)));
		CHECK(IP_HLEN + l->tcp_hlen + l->segsz <= seg_mtu);
		for (uint32_t k = 0; k < nconn; k++)
			if (conns[k]->t.fport == l->dport && seq_leq(conns[k]->snd_una, l->seq) &&
			    seq_leq(l->seq + l->payload, conns[k]->snd_max))
				c = conns[k];
		if (!c)
			continue;
		CHECK(l->segsz <= c->mss);
		/* new data (snd_nxt was snd_max) inside the peer's window */
		CHECK(seq_leq(l->seq + l->payload, c->snd_una + c->snd_wnd));
		cw = c->cwnd;
		if (!c->in_recovery && c->dupacks < TCP_DUPTHRESH)
			cw += c->dupacks * (uint32_t)c->mss;
		CHECK(skip_cwnd || l->seq - c->snd_una + l->payload <= cw);
	}
	d->n_tso_log = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t frame[NET_PKT_BUFSZ], buf[4096];
	struct net_cfg cfg = {0};
	struct net_port_ops ops;
	struct net_memdev dev;
	struct net_stack *s;
	struct net_sock *l, *conns[MAX_CONNS];
	uint32_t nconn = 0, sent[MAX_CONNS], mode = size ? data[0] >> 5 : 0, seg_mtu;
	uint32_t big = mode & 1 ? 16384 : 4096;
	uint64_t now = 1000000;
	size_t off = 0;

	memcpy(cfg.mac, "\x02\x00\x00\x00\x00\x01", 6);
	cfg.ip = 0x0a000001u;
	cfg.netmask = 0xffffff00u;
	cfg.gateway = 0x0a0000feu;
	cfg.pool_size = mode & 1 ? 128 : 256;
	cfg.max_socks = MAX_CONNS + 8;
	cfg.sndbuf = mode & 1 ? 65536 : 8192;
	cfg.rcvbuf = 8192;
	cfg.keepalive_idle_us = 5000000;
	cfg.isn = fixed_isn;
	if (mode & 4)
		cfg.tso_max = 3001;
	/* inputs of odd length run on a device with all offloads and TSO */
	ops = size & 1 ? net_memdev_ops_tso : net_memdev_ops;
	if (mode & 2) {
		ops.tso_max_payload = 4000;
		ops.tso_max_bufs = 3;
		ops.tso_seg_mtu = 1000;
	}
	net_memdev_init(&dev, mode & 1 ? 24 : 64);
	CHECK(net_stack_create(&s, &cfg, &ops, &dev) == 0);
	dev.pool = net_stack_pool(s);
	seg_mtu = s->cfg.mtu;
	if (ops.tso_seg_mtu && ops.tso_seg_mtu < seg_mtu && s->tso_max)
		seg_mtu = ops.tso_seg_mtu;
	CHECK(net_listen(s, 80, 4, &l) == 0);
	net_stack_start(s, now);

	while (off + 4 <= size) {
		uint8_t ctl = data[off], dt = data[off + 1];
		uint32_t len = (uint32_t)data[off + 2] << 8 | data[off + 3];
		uint32_t fl = 0;
		uint64_t lowered;
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
		lowered = s->stats.tcp_rto + s->stats.tcp_fast_retrans +
			  s->stats.tcp_rack_recovery + s->stats.tcp_tlp_repaired;
		dev.n_tso_log = 0;
		if (net_memdev_inject(&dev, frame, len, fl) == 0)
			net_poll(s, now);
		else
			net_timers(s, now);
		while (nconn < MAX_CONNS && net_accept(l, &c) == 0) {
			sent[nconn] = 0;
			conns[nconn++] = c;
		}
		for (uint32_t i = 0; i < nconn; i++) {
			long n;

			while ((n = net_recv(conns[i], buf, sizeof(buf), now)) > 0)
				CHECK((size_t)n <= sizeof(buf));
			if (ctl & 4)
				send_pattern(conns[i], &sent[i], 2, now);
			if (ctl & 16)
				send_pattern(conns[i], &sent[i], big, now);
			CHECK((net_events(conns[i]) & ~0x1fu) == 0);
		}
		check_tso(&dev, conns, nconn, &ops, s->tso_max, seg_mtu,
			  lowered != s->stats.tcp_rto + s->stats.tcp_fast_retrans +
					 s->stats.tcp_rack_recovery + s->stats.tcp_tlp_repaired);
		if ((ctl & 8) && nconn) {
			net_close(conns[0], now);
			memmove(conns, conns + 1, --nconn * sizeof(conns[0]));
			memmove(sent, sent + 1, nconn * sizeof(sent[0]));
		}
		net_flush(s);
		check_wire(&dev, conns, sent, nconn, s->cfg.mtu);
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
	/* (the stack counts super-segments it made; one may be refused by a
	 * full device queue or dropped waiting for ARP) */
	CHECK(dev.tso_frames <= s->stats.tcp_tso_tx);
	net_stack_destroy(s);
	return 0;
}
