// SPDX-License-Identifier: Apache-2.0
/*
 * tcp_out.c - TCP output: building segments, what may be sent now.
 *
 * Why: every segment the stack sends is built here from the control
 * block, so the options (MSS, window scale, SACK-permitted, timestamps,
 * SACK blocks) and the window are computed in one place.
 *
 * What may be sent (RFC 9293 3.8.6, RFC 5681 3.1): new data up to
 * min(snd_wnd, cwnd) - flight, one segment of at most mss each; sender
 * silly-window avoidance: a segment shorter than mss leaves only when it
 * carries all the queued data or nothing is in flight (no Nagle: the
 * dataplane writes whole replies).  Limited Transmit (RFC 3042): the
 * first two duplicate ACKs each let one more segment out.  During RFC
 * 6675 recovery tcp_sack_send (tcp_sack.c) chooses what leaves instead.
 * SACK blocks ride on every ACK while out-of-order data is held, data
 * segments included, whose payload shrinks by the option's length.
 * The FIN goes after the last byte, regardless of the window.
 * TSO (a port with NET_PORT_TX_TSO, net.h NET_PKT_TX_TCP_SEG): new data
 * may leave as one super-segment of as many whole segments as the
 * windows allow (plus the tail of the queued data), up to the stack's
 * tso_max and what the pool can spare; the device cuts it into segments
 * of the payload one segment carries here.  Everything else about it is
 * per byte already: sequence space, flight, cwnd, SACK scoreboard; RACK
 * records it as one transmission and splits the record where SACKed
 * ranges start and end (tcp_rack.c).  Retransmissions never use it:
 * they leave one segment at a time, as without TSO.
 * Retransmissions (RTO go-back, fast retransmit) rebuild segments from
 * the send ring: data stays in the ring until acknowledged, so no
 * per-segment queue exists.
 * Pure ACKs and RSTs carry snd_max as their sequence number (see
 * tcp_send_ack).  Every data segment sent is recorded for RACK and the
 * tail loss probe is armed at the end of tcp_output (tcp_rack.c).
 *
 * Window (RFC 7323 2.3): the announced window is the free space of the
 * receive ring, shifted by our scale, so the right edge never moves left
 * except by the rounding of the shift.
 *
 * Thread: the stack's owner.
 */
#include "net_priv.h"

#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2
#define TCPOPT_WS 3
#define TCPOPT_SACKOK 4
#define TCPOPT_SACK 5
#define TCPOPT_TS 8

uint32_t tcp_flight(const struct net_sock *so)
{
	return so->snd_nxt - so->snd_una;
}

static uint32_t ts_now(uint64_t now)
{
	return (uint32_t)(now / 1000); /* a 1 ms timestamp clock */
}

/* Writes the options of a segment; returns their length (multiple of 4). */
static uint32_t put_options(struct net_sock *so, uint8_t *o, uint8_t flags, uint32_t len,
			    uint64_t now)
{
	const struct net_cfg *c = &so->st->cfg;
	uint32_t n = 0;

	if (flags & TCPF_SYN) {
		bool active = so->state == TCP_SYN_SENT;

		o[n++] = TCPOPT_MSS;
		o[n++] = 4;
		put16(o + n, (uint16_t)(c->mtu - IP_HLEN - TCP_HLEN));
		n += 2;
		if (active ? !c->no_wscale : so->ws_ok) {
			o[n++] = TCPOPT_NOP;
			o[n++] = TCPOPT_WS;
			o[n++] = 3;
			o[n++] = so->rcv_wscale;
		}
		if (active ? !c->no_sack : so->sack_ok) {
			o[n++] = TCPOPT_NOP;
			o[n++] = TCPOPT_NOP;
			o[n++] = TCPOPT_SACKOK;
			o[n++] = 2;
		}
		if (active ? !c->no_timestamps : so->ts_ok) {
			o[n++] = TCPOPT_NOP;
			o[n++] = TCPOPT_NOP;
			o[n++] = TCPOPT_TS;
			o[n++] = 10;
			put32(o + n, so->cookie ? so->cookie_tsval : ts_now(now));
			put32(o + n + 4, so->ts_recent);
			n += 8;
		}
		assert(n <= 40 && n % 4 == 0);
		return n;
	}
	if (so->ts_ok) {
		o[n++] = TCPOPT_NOP;
		o[n++] = TCPOPT_NOP;
		o[n++] = TCPOPT_TS;
		o[n++] = 10;
		put32(o + n, ts_now(now));
		put32(o + n + 4, so->ts_recent);
		n += 8;
	}
	/* SACK blocks on every ACK while out-of-order data is held, data
	 * segments included (the peer's RFC 6675 recovery counts those too);
	 * tcp_xmit shortened the payload to make room (tcp_sack_optlen) */
	(void)len;
	if (so->sack_ok && (so->n_ooo || so->dsack_pending) && (flags & TCPF_ACK)) {
		uint32_t max = so->ts_ok ? 3 : 4, k = 0, want = so->n_ooo + so->dsack_pending;
		uint32_t cnt = want < max ? want : max;

		o[n++] = TCPOPT_NOP;
		o[n++] = TCPOPT_NOP;
		o[n++] = TCPOPT_SACK;
		o[n++] = (uint8_t)(2 + 8 * cnt);
		if (so->dsack_pending) { /* RFC 2883: the duplicate first, once */
			put32(o + n, so->dsack_start);
			put32(o + n + 4, so->dsack_end);
			n += 8;
			k++;
			so->dsack_pending = false;
		}
		/* RFC 2018 4: the block of the latest segment first */
		if (so->n_ooo && k < cnt) {
			assert(so->sack_first < so->n_ooo);
			put32(o + n, so->ooo[so->sack_first].start);
			put32(o + n + 4, so->ooo[so->sack_first].end);
			n += 8;
		}
		for (uint32_t i = 0; i < so->n_ooo && k + 1 < cnt; i++) {
			if (i == so->sack_first)
				continue;
			put32(o + n, so->ooo[i].start);
			put32(o + n + 4, so->ooo[i].end);
			n += 8;
			k++;
		}
	}
	assert(n <= 40 && n % 4 == 0);
	return n;
}

static void seg_finish(struct net_stack *s, struct net_pkt *pkt, uint32_t src, uint32_t dst,
		       uint16_t tlen, uint64_t now)
{
	uint8_t *th = pkt->data + NET_L4_OFF;
	bool tso = pkt->flags & NET_PKT_TX_TCP_SEG;
	/* TSO: the device sums each segment's length in (rte_ipv4_phdr_cksum
	 * with RTE_MBUF_F_TX_TCP_SEG leaves it out) */
	uint32_t ps = ip_pseudo_sum(src, dst, IP_PROTO_TCP, tso ? 0 : tlen);

	put16(th + 16, 0);
	if (s->ops->caps & NET_PORT_TX_TCP_CSUM) {
		uint32_t f = ps;

		while (f >> 16)
			f = (f & 0xffff) + (f >> 16);
		put16(th + 16, (uint16_t)f);
		pkt->flags |= NET_PKT_TX_TCP_CSUM;
	} else {
		put16(th + 16, net_csum(th, tlen, ps));
	}
	s->stats.tcp_tx++;
	ip_output(s, pkt, dst, IP_PROTO_TCP, tlen, now);
}

/* Copies n bytes of the send ring from offset off (from sb_seq) to d. */
static void ring_copy(const struct net_sock *so, uint32_t off, uint8_t *d, uint32_t n)
{
	uint32_t pos = (so->sb_head + off) % so->sb_size;
	uint32_t first = so->sb_size - pos;

	assert(off + n <= so->sb_len);
	if (first > n)
		first = n;
	memcpy(d, so->sbuf + pos, first);
	memcpy(d + first, so->sbuf, n - first);
}

/* Chains buffers after head for the payload of a super-segment beyond
 * the first buffer: rest bytes from ring offset off.  false (nothing
 * chained) when the pool runs out. */
static bool chain_payload(struct net_sock *so, struct net_pkt *head, uint32_t off, uint32_t rest)
{
	struct net_pkt **tail = &head->frag;

	while (rest) {
		struct net_pkt *b = net_pkt_alloc(&so->st->pool);
		uint32_t k = rest < NET_PKT_BUFSZ ? rest : NET_PKT_BUFSZ;

		if (!b) {
			net_pkt_free(&so->st->pool, head->frag);
			head->frag = NULL;
			return false;
		}
		ring_copy(so, off, b->data, k);
		b->len = (uint16_t)k;
		*tail = b;
		tail = &b->frag;
		off += k;
		rest -= k;
	}
	return true;
}

/* Builds and sends one segment of a connection; payload: len bytes of the
 * send ring starting at offset off from sb_seq.  segsz > 0: a TSO
 * super-segment the device cuts into segments of segsz payload bytes. */
static void send_seg(struct net_sock *so, uint32_t seq, uint8_t flags, uint32_t off, uint32_t len,
		     uint32_t segsz, uint64_t now)
{
	struct net_stack *s = so->st;
	struct net_pkt *pkt = net_pkt_alloc(&s->pool);
	uint8_t *th;
	uint32_t optlen, wnd, hlen, inhead = len;

	if (!pkt) {
		s->stats.rx_nobuf++;
		return; /* like a loss: timers recover */
	}
	th = pkt->data + NET_L4_OFF;
	optlen = put_options(so, th + TCP_HLEN, flags, len, now);
	hlen = TCP_HLEN + optlen;
	if (segsz) {
		assert(s->tso_max && len > segsz && len <= s->tso_max);
		assert(hlen + segsz + IP_HLEN <= s->cfg.mtu);
		assert(IP_HLEN + hlen + len <= 65535u);
		if (inhead > NET_PKT_BUFSZ - NET_L4_OFF - hlen)
			inhead = NET_PKT_BUFSZ - NET_L4_OFF - hlen;
		if (!chain_payload(so, pkt, off + inhead, len - inhead)) {
			net_pkt_free(&s->pool, pkt);
			s->stats.rx_nobuf++;
			return; /* like a loss */
		}
		pkt->flags |= NET_PKT_TX_TCP_SEG;
		pkt->tso_segsz = (uint16_t)segsz;
		pkt->len = (uint16_t)(NET_L4_OFF + hlen + inhead);
		s->stats.tcp_tso_tx++;
		s->stats.tcp_tso_segs += (len + segsz - 1) / segsz;
	} else {
		assert(hlen + len + IP_HLEN <= s->cfg.mtu);
	}
	put16(th, so->t.lport);
	put16(th + 2, so->t.fport);
	put32(th + 4, seq);
	put32(th + 8, (flags & TCPF_ACK) ? so->rcv_nxt : 0);
	th[12] = (uint8_t)((hlen / 4) << 4);
	th[13] = flags;
	wnd = tcp_rcv_wnd(so);
	if (so->state == TCP_SYN_SENT || (flags & TCPF_SYN)) {
		wnd = wnd > 65535 ? 65535 : wnd;
		put16(th + 14, (uint16_t)wnd);
	} else {
		wnd >>= so->rcv_wscale;
		wnd = wnd > 65535 ? 65535 : wnd;
		put16(th + 14, (uint16_t)wnd);
		wnd <<= so->rcv_wscale;
	}
	if (flags & TCPF_ACK) {
		uint32_t edge = so->rcv_nxt + wnd;

		if (seq_gt(edge, so->rcv_adv))
			so->rcv_adv = edge;
		so->last_ack_sent = so->rcv_nxt;
		so->t_delack = 0;
		so->delack_segs = 0;
		so->ack_now = false;
	}
	put16(th + 18, 0);
	if (len)
		ring_copy(so, off, th + hlen, inhead);
	seg_finish(s, pkt, so->t.laddr, so->t.faddr, (uint16_t)(hlen + len), now);
}

/* tcp_xmit; segsz > 0: new data may leave as one TSO super-segment of up
 * to maxlen bytes cut into segsz-byte segments (tcp_output decided). */
static uint32_t xmit(struct net_sock *so, uint32_t seq, uint32_t maxlen, uint32_t segsz,
		     uint64_t now)
{
	uint32_t off, len = 0, covered;
	uint8_t flags = TCPF_ACK;

	if ((so->state == TCP_SYN_SENT || so->state == TCP_SYN_RCVD) && seq == so->iss) {
		flags = so->state == TCP_SYN_SENT ? TCPF_SYN : TCPF_SYN | TCPF_ACK;
		send_seg(so, seq, flags, 0, 0, 0, now);
		covered = 1;
		goto sent;
	}
	assert(seq_geq(seq, so->sb_seq));
	off = seq - so->sb_seq;
	if (off < so->sb_len) {
		len = so->sb_len - off;
		if (len > maxlen)
			len = maxlen;
		if (!segsz && len > so->mss - tcp_sack_optlen(so))
			len = so->mss - tcp_sack_optlen(so);
		if (off + len == so->sb_len)
			flags |= TCPF_PSH;
	}
	if (len <= segsz)
		segsz = 0;
	covered = len;
	if (so->fin_queued && seq + len == so->fin_seq) {
		flags |= TCPF_FIN;
		covered++;
	}
	if (covered == 0)
		return 0;
	send_seg(so, seq, flags, off, len, segsz, now);
sent:
	tcp_rack_sent(so, seq, seq + covered, now);
	if (seq_lt(seq, so->snd_max)) {
		so->st->stats.tcp_retrans++;
		if (so->rtt_timing && seq_leq(seq, so->rtt_seq))
			so->rtt_timing = false; /* Karn */
	} else if (!so->rtt_timing && !so->ts_ok) {
		so->rtt_timing = true;
		so->rtt_seq = seq;
		so->rtt_start = now;
	}
	if (seq_gt(seq + covered, so->snd_max))
		so->snd_max = seq + covered;
	return covered;
}

uint32_t tcp_xmit(struct net_sock *so, uint32_t seq, uint32_t maxlen, uint64_t now)
{
	return xmit(so, seq, maxlen, 0, now);
}

/*
 * TSO: the payload of each segment the device makes of a super-segment
 * sent now (the options of all are the super-segment's), or 0 when new
 * data may not leave as one: no TSO on the port, not a data state, loss
 * recovery (what leaves then is chosen segment by segment), segments
 * under NET_TSO_SEG_MIN (a peer's small MSS), or the stack's pool
 * nearly empty.  *max: the most payload of one now.
 */
static uint32_t tso_seg(struct net_sock *so, uint32_t *max)
{
	struct net_stack *s = so->st;
	uint32_t opt = (so->ts_ok ? 12u : 0u) + tcp_sack_optlen(so);
	uint32_t seg = so->mss - tcp_sack_optlen(so), mtu, hdr, bufs, reserve;

	if (!s->tso_max || so->in_recovery || so->snd_nxt != so->snd_max)
		return 0;
	if (so->state != TCP_ESTABLISHED && so->state != TCP_CLOSE_WAIT &&
	    so->state != TCP_FIN_WAIT_1 && so->state != TCP_LAST_ACK)
		return 0;
	mtu = s->ops->tso_seg_mtu && s->ops->tso_seg_mtu < s->cfg.mtu ? s->ops->tso_seg_mtu
								      : s->cfg.mtu;
	hdr = IP_HLEN + TCP_HLEN + opt;
	if (mtu <= hdr)
		return 0;
	if (seg > mtu - hdr)
		seg = mtu - hdr;
	if (seg < NET_TSO_SEG_MIN) /* a device may refuse it (net.h) */
		return 0;
	/* the pool: a quarter stays for received frames and other sends */
	bufs = s->pool.size - s->pool.in_use;
	reserve = s->pool.size / 4;
	if (bufs <= reserve + 1)
		return 0;
	*max = (bufs - reserve) * NET_PKT_BUFSZ - (NET_L4_OFF + TCP_HLEN + opt);
	if (*max > s->tso_max)
		*max = s->tso_max;
	if (*max > 65535u - hdr)
		*max = 65535u - hdr;
	return seg;
}

void tcp_output(struct net_sock *so, uint64_t now)
{
	uint32_t end, left = 0, wnd, flight, usable, n, c, cw;

	switch (so->state) {
	case TCP_CLOSED:
	case TCP_LISTEN:
		return;
	case TCP_TIME_WAIT:
		if (so->ack_now)
			tcp_send_ack(so, now);
		return;
	case TCP_SYN_SENT:
	case TCP_SYN_RCVD:
		if (so->snd_nxt == so->iss)
			so->snd_nxt += tcp_xmit(so, so->iss, 0, now);
		if (!so->t_rexmt)
			tcp_timer_arm(so, &so->t_rexmt, now + so->rto_us);
		return;
	default:
		break;
	}
	assert(seq_leq(so->snd_una, so->snd_nxt) && seq_leq(so->snd_nxt, so->snd_max));
	/* Limited Transmit (RFC 3042, RFC 6675 5 step 2.3): each of the first
	 * two duplicate ACKs lets one new segment out beyond cwnd, so that a
	 * small window still yields DupThresh duplicates before the RTO */
	cw = so->cwnd;
	if (!so->in_recovery && so->dupacks && so->dupacks < TCP_DUPTHRESH &&
	    so->snd_nxt == so->snd_max)
		cw += so->dupacks * (uint32_t)so->mss;
	if (so->in_recovery && so->sack_rec) {
		/* RFC 6675: what leaves is chosen by NextSeg against pipe */
		tcp_sack_send(so, now);
		goto acked;
	}
	for (;;) {
		end = so->sb_seq + so->sb_len;
		left = seq_lt(so->snd_nxt, end) ? end - so->snd_nxt : 0;
		wnd = so->snd_wnd < cw ? so->snd_wnd : cw;
		flight = tcp_flight(so);
		usable = wnd > flight ? wnd - flight : 0;
		if (left) {
			uint32_t seg, tmax = 0;

			n = left < usable ? left : usable;
			/* TSO: as many whole segments as the windows allow (and
			 * the tail of the data) in one super-segment */
			seg = n > so->mss ? tso_seg(so, &tmax) : 0;
			if (seg) {
				uint32_t t = n < tmax ? n : tmax;

				if (t < left)
					t -= t % seg;
				if (t > seg) {
					c = xmit(so, so->snd_nxt, t, seg, now);
					assert(c > 0);
					so->snd_nxt += c;
					continue;
				}
			}
			if (n > so->mss)
				n = so->mss;
			if (n == 0 || (n < so->mss && n < left && flight))
				break;
			c = tcp_xmit(so, so->snd_nxt, n, now);
			assert(c > 0);
			so->snd_nxt += c;
			continue;
		}
		if (so->fin_queued && so->snd_nxt == so->fin_seq) {
			so->snd_nxt += tcp_xmit(so, so->snd_nxt, 0, now);
			continue;
		}
		break;
	}
acked:
	if (so->ack_now)
		tcp_send_ack(so, now);
	tcp_check(so);
	if (so->snd_nxt != so->snd_una) {
		if (!so->t_rexmt)
			tcp_timer_arm(so, &so->t_rexmt, now + so->rto_us);
		so->t_persist = 0;
	} else if (left && so->snd_wnd == 0 && !so->t_persist) {
		uint64_t d = (uint64_t)so->rto_us << so->npersist;

		if (d > 60000000u)
			d = 60000000u;
		tcp_timer_arm(so, &so->t_persist, now + d);
	}
	tcp_tlp_arm(so, now);
}

void tcp_send_ack(struct net_sock *so, uint64_t now)
{
	/* snd_max, not snd_nxt (as BSD): after an RTO went back, the peer
	 * may hold everything up to snd_max, and would find an ACK below
	 * its rcv_nxt unacceptable and ignore the acknowledgment in it */
	send_seg(so, so->snd_max, TCPF_ACK, 0, 0, 0, now);
}

void tcp_send_ctl(struct net_sock *so, uint32_t seq, uint8_t flags, uint64_t now)
{
	send_seg(so, seq, flags, 0, 0, 0, now);
}

void tcp_send_rst_reply(struct net_stack *s, uint32_t src, uint32_t dst, const uint8_t *in,
			uint32_t seglen, uint64_t now)
{
	struct net_pkt *pkt;
	uint8_t *th;

	if (in[13] & TCPF_RST)
		return;
	pkt = net_pkt_alloc(&s->pool);
	if (!pkt) {
		s->stats.rx_nobuf++;
		return;
	}
	th = pkt->data + NET_L4_OFF;
	memset(th, 0, TCP_HLEN);
	put16(th, get16(in + 2));
	put16(th + 2, get16(in));
	if (in[13] & TCPF_ACK) {
		put32(th + 4, get32(in + 8));
		th[13] = TCPF_RST;
	} else {
		put32(th + 8, get32(in + 4) + seglen);
		th[13] = TCPF_RST | TCPF_ACK;
	}
	th[12] = (TCP_HLEN / 4) << 4;
	s->stats.tcp_rst_tx++;
	seg_finish(s, pkt, dst, src, TCP_HLEN, now);
}
