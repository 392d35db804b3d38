// SPDX-License-Identifier: Apache-2.0
/*
 * net_ip.c - IPv4 (RFC 791, RFC 1122 3.2) and ICMP echo (RFC 792).
 *
 * Why so little: the stack serves one address on one link.  It does not
 * forward, so TTL matters only on output (IP_TTL_DEFAULT); it refuses
 * fragments (a ZooKeeper client's segments never need them, and a
 * reassembly queue is an attack surface), counting them in ip_frag_drop.
 * Every drop has its own counter so that an operator can tell a checksum
 * problem from traffic that is not for us.
 *
 * Checks on input, in order: version 4, IHL >= 5, header within the frame,
 * total length within the frame and >= IHL, header checksum (or the
 * device's verdict when it offers RX checksum offload), destination is our
 * address (or limited broadcast for ICMP), not a fragment.
 *
 * Unknown protocols (anything but ICMP and TCP; UDP included, the stack
 * has none) are answered with ICMP Destination Unreachable, code 2
 * "protocol unreachable", as RFC 1122 3.2.2.1 says a host SHOULD, quoting
 * the datagram's header and first 8 data octets (3.2.2), and never for a
 * link-layer broadcast or multicast frame, a fragment or a source that is
 * no single host (3.2.2: those MUST NOT get an ICMP error; ICMP errors
 * themselves are a known protocol and only counted); at most
 * ICMP_ERR_PER_SEC a second, so a flood of them cannot turn the stack
 * into an amplifier.  TCP answers RST, never port unreachable (RFC 9293).
 *
 * The exception path (cfg.exception, e.g. a kernel TAP interface so that
 * an operator can still ssh to the port's address) takes instead what is
 * addressed to us but not for Cheetah: TCP segments for no listener and
 * no connection of the stack, datagrams of other protocols, ICMP other
 * than echo requests.  Fragments are never handed over (the kernel would
 * reassemble a fragmented segment for clientPort and answer it RST).
 *
 * Thread: the stack's owner.
 */
#include "net_priv.h"

/* The pseudo-header's six 16-bit words summed in registers: the value
 * net_csum_partial gives for the 12 bytes, at a tenth of its cost (it ran
 * for every TCP segment, both ways). */
uint32_t ip_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
	uint32_t sum = (src >> 16) + (src & 0xffffu) + (dst >> 16) + (dst & 0xffffu) + proto + len;

	while (sum >> 16)
		sum = (sum & 0xffffu) + (sum >> 16);
	return sum;
}

void ip_output(struct net_stack *s, struct net_pkt *pkt, uint32_t dst, uint8_t proto,
	       uint16_t l4len, uint64_t now)
{
	uint8_t *ip = pkt->data + ETH_HLEN;
	bool tso = pkt->flags & NET_PKT_TX_TCP_SEG;

	/* a TSO super-segment: the caller chained it and set the lengths */
	assert(tso || NET_L4_OFF + (uint32_t)l4len <= NET_PKT_BUFSZ);
	assert(tso || l4len + IP_HLEN <= s->cfg.mtu);
	assert(!tso || (s->ops->caps & NET_PORT_TX_IP_CSUM));
	assert(!tso || NET_L4_OFF + (uint32_t)l4len == net_pkt_chain_len(pkt));
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)(IP_HLEN + l4len));
	put16(ip + 4, s->ip_id++);
	put16(ip + 6, 0x4000); /* DF */
	ip[8] = IP_TTL_DEFAULT;
	ip[9] = proto;
	put16(ip + 10, 0);
	put32(ip + 12, s->cfg.ip);
	put32(ip + 16, dst);
	if (s->ops->caps & NET_PORT_TX_IP_CSUM)
		pkt->flags |= NET_PKT_TX_IP_CSUM;
	else
		put16(ip + 10, net_csum(ip, IP_HLEN, 0));
	if (tso) {
		eth_output_ip(s, pkt, dst, now);
		return;
	}
	pkt->len = (uint16_t)(NET_L4_OFF + l4len);
	if (pkt->len < 60) {
		memset(pkt->data + pkt->len, 0, 60u - pkt->len);
		pkt->len = 60;
	}
	eth_output_ip(s, pkt, dst, now);
}

static void icmp_input(struct net_stack *s, struct net_pkt *pkt, uint32_t src, uint8_t *ic,
		       uint16_t len, uint64_t now)
{
	struct net_pkt *r;

	s->stats.icmp_rx++;
	if (len < 8 || net_csum(ic, len, 0) != 0) {
		s->stats.icmp_drop++;
		goto out;
	}
	if (ic[0] != 8 || ic[1] != 0) { /* only echo request is answered */
		if (net_exception(s, pkt))
			return; /* e.g. errors about the kernel's own connections */
		s->stats.icmp_drop++;
		goto out;
	}
	if (len + IP_HLEN > s->cfg.mtu) {
		s->stats.icmp_drop++;
		goto out;
	}
	r = net_pkt_alloc(&s->pool);
	if (!r) {
		s->stats.rx_nobuf++;
		goto out;
	}
	memcpy(r->data + NET_L4_OFF, ic, len);
	r->data[NET_L4_OFF] = 0; /* echo reply */
	put16(r->data + NET_L4_OFF + 2, 0);
	put16(r->data + NET_L4_OFF + 2, net_csum(r->data + NET_L4_OFF, len, 0));
	s->stats.icmp_echo_reply++;
	ip_output(s, r, src, IP_PROTO_ICMP, len, now);
out:
	net_pkt_free(&s->pool, pkt);
}

static void icmp_proto_unreach(struct net_stack *s, const struct net_pkt *pkt, uint32_t src,
			       uint32_t ihl, uint32_t tot, uint64_t now)
{
	const uint8_t *ip = pkt->data + ETH_HLEN;
	uint32_t n = ihl + (tot - ihl < 8 ? tot - ihl : 8);
	struct net_pkt *r;
	uint8_t *ic;

	if ((pkt->data[0] & 1) || (src >> 24) == 127 || (src >> 28) == 15 ||
	    src == (s->cfg.ip | ~s->cfg.netmask))
		return; /* link broadcast/multicast, loopback, class E, subnet broadcast */
	if (now - s->icmp_err_window >= 1000000 || !s->icmp_err_window) {
		s->icmp_err_window = now ? now : 1;
		s->icmp_err_count = 0;
	}
	if (s->icmp_err_count >= ICMP_ERR_PER_SEC) {
		s->stats.icmp_err_ratelimit++;
		return;
	}
	r = net_pkt_alloc(&s->pool);
	if (!r) {
		s->stats.rx_nobuf++;
		return;
	}
	s->icmp_err_count++;
	ic = r->data + NET_L4_OFF;
	ic[0] = 3; /* destination unreachable */
	ic[1] = 2; /* protocol unreachable */
	put16(ic + 2, 0);
	put32(ic + 4, 0);
	memcpy(ic + 8, ip, n);
	put16(ic + 2, net_csum(ic, 8 + n, 0));
	s->stats.icmp_unreach_tx++;
	ip_output(s, r, src, IP_PROTO_ICMP, (uint16_t)(8 + n), now);
}

/* With the exception path on: is this TCP segment for one of the stack's
 * listeners or connections?  Those not are the kernel's. */
static bool tcp_is_ours(struct net_stack *s, uint32_t src, const uint8_t *th, uint32_t len)
{
	struct net_tuple t;

	if (len < TCP_HLEN)
		return true; /* malformed: the stack counts it */
	t.laddr = s->cfg.ip;
	t.faddr = src;
	t.fport = get16(th);
	t.lport = get16(th + 2);
	return tcp_lookup_listener(s, t.lport) || tcp_lookup(s, &t);
}

void ip_input(struct net_stack *s, struct net_pkt *pkt, uint64_t now)
{
	uint8_t *ip = pkt->data + ETH_HLEN;
	uint32_t avail, ihl, tot, src, dst;

	s->stats.ip_rx++;
	if (pkt->len < ETH_HLEN + IP_HLEN)
		goto bad_hdr;
	avail = pkt->len - ETH_HLEN;
	ihl = (ip[0] & 15u) * 4u;
	tot = get16(ip + 2);
	if ((ip[0] >> 4) != 4 || ihl < IP_HLEN || ihl > avail || tot < ihl || tot > avail)
		goto bad_hdr;
	if (pkt->flags & NET_PKT_RX_IP_CSUM_BAD) {
		s->stats.ip_bad_csum++;
		goto drop;
	}
	if (!(pkt->flags & NET_PKT_RX_IP_CSUM_GOOD) && net_csum(ip, ihl, 0) != 0) {
		s->stats.ip_bad_csum++;
		goto drop;
	}
	src = get32(ip + 12);
	dst = get32(ip + 16);
	if (dst != s->cfg.ip && !(dst == 0xffffffffu && ip[9] == IP_PROTO_ICMP)) {
		s->stats.ip_not_us++;
		goto drop;
	}
	if (get16(ip + 6) & 0x3fffu) { /* MF set or offset != 0 */
		s->stats.ip_frag_drop++;
		goto drop;
	}
	if (src == 0 || src == 0xffffffffu || (src >> 28) == 14 || src == s->cfg.ip) {
		s->stats.ip_bad_hdr++;
		goto drop;
	}
	/* lwIP's "trust IP MAC": an on-link sender's address is learned */
	if (((src ^ s->cfg.ip) & s->cfg.netmask) == 0)
		arp_learn(s, src, pkt->data + 6, true, now);
	switch (ip[9]) {
	case IP_PROTO_ICMP:
		icmp_input(s, pkt, src, ip + ihl, (uint16_t)(tot - ihl), now);
		return;
	case IP_PROTO_TCP:
		if (dst != s->cfg.ip)
			break;
		if (s->cfg.exception && !tcp_is_ours(s, src, ip + ihl, tot - ihl) &&
		    net_exception(s, pkt))
			return;
		tcp_input(s, pkt, src, dst, ip + ihl, (uint16_t)(tot - ihl), now);
		return;
	default:
		if (dst == s->cfg.ip && net_exception(s, pkt))
			return;
		icmp_proto_unreach(s, pkt, src, ihl, tot, now);
		break;
	}
	s->stats.ip_proto_drop++;
	goto drop;
bad_hdr:
	s->stats.ip_bad_hdr++;
drop:
	net_pkt_free(&s->pool, pkt);
}
