// SPDX-License-Identifier: Apache-2.0
/*
 * tcp_in.c - TCP input: segment arrival (RFC 9293 3.10.7), in the order
 * the RFC gives: LISTEN, SYN-SENT, then for synchronized states the
 * PAWS test (RFC 7323 5), the acceptability test, RST (with RFC 5961
 * challenge ACKs), SYN (challenge ACK), ACK (RFC 5681 congestion
 * control; loss recovery per RFC 6675 with the SACK scoreboard of
 * tcp_sack.c when both ends negotiated SACK, with RACK-TLP's time-based
 * loss detection and tail loss probe of tcp_rack.c; NewReno, RFC 6582,
 * otherwise), data (in order into the
 * receive ring, out of order into the same ring with an interval list
 * that also feeds the SACK blocks, RFC 2018; a duplicate is reported once
 * as a D-SACK block, RFC 2883, which the sender's RACK uses to widen its
 * reordering window), FIN.
 *
 * Why one function per phase: each RFC step is a small function that
 * returns whether processing goes on, so the order of the RFC's steps is
 * visible in tcp_conn_input() and a reader can check it against the text.
 *
 * Not done (see the report in the commit): RFC 6191 reuse of TIME_WAIT by
 * a new SYN; urgent data (ignored); an out-of-order FIN
 * (dropped; the peer sends it again).
 *
 * Thread: the stack's owner.  The frame is freed by tcp_input.
 */
#include "net_priv.h"

struct seg {
	uint32_t seq, ack, wnd;
	uint32_t len; /* payload bytes */
	uint8_t flags;
	const uint8_t *data;
	bool has_mss, has_ws, has_sackok, has_ts;
	uint16_t mss;
	uint8_t ws;
	uint32_t tsval, tsecr;
	uint32_t n_sack;
	struct tcp_sackblk sack[4];
};

static bool parse_options(struct seg *g, const uint8_t *o, uint32_t n)
{
	uint32_t i = 0;

	while (i < n) {
		uint8_t kind = o[i], len;

		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= n)
			return false;
		len = o[i + 1];
		if (len < 2 || i + len > n)
			return false;
		switch (kind) {
		case 2:
			if (len != 4)
				return false;
			g->has_mss = true;
			g->mss = get16(o + i + 2);
			break;
		case 3:
			if (len != 3)
				return false;
			g->has_ws = true;
			g->ws = o[i + 2];
			break;
		case 4:
			if (len != 2)
				return false;
			g->has_sackok = true;
			break;
		case 8:
			if (len != 10)
				return false;
			g->has_ts = true;
			g->tsval = get32(o + i + 2);
			g->tsecr = get32(o + i + 6);
			break;
		case 5: /* SACK blocks (RFC 2018 3) */
			if (len < 10 || (len - 2) % 8 || (len - 2) / 8 > 4)
				break; /* malformed: ignored (advisory) */
			g->n_sack = (len - 2u) / 8u;
			for (uint32_t k = 0; k < g->n_sack; k++) {
				g->sack[k].start = get32(o + i + 2 + 8 * k);
				g->sack[k].end = get32(o + i + 6 + 8 * k);
			}
			break;
		default: /* the unknown: skipped */
			break;
		}
		i += len;
	}
	return true;
}

static uint32_t init_cwnd(uint32_t mss)
{
	/* RFC 5681 3.1 */
	if (mss > 2190)
		return 2 * mss;
	if (mss > 1095)
		return 3 * mss;
	return 4 * mss;
}

/* Options of a SYN or SYN-ACK: what both sides agreed on. */
static void syn_options(struct net_sock *so, const struct seg *g)
{
	const struct net_cfg *c = &so->st->cfg;
	uint32_t mss = c->mtu - IP_HLEN - TCP_HLEN;
	uint32_t peer = g->has_mss ? g->mss : 536;

	if (peer < 64)
		peer = 64;
	so->peer_mss = (uint16_t)(peer > 65535 ? 65535 : peer);
	so->ws_ok = g->has_ws && !c->no_wscale;
	so->snd_wscale = so->ws_ok ? (g->ws > 14 ? 14 : g->ws) : 0;
	if (!so->ws_ok)
		so->rcv_wscale = 0;
	so->ts_ok = g->has_ts && !c->no_timestamps;
	if (so->ts_ok)
		so->ts_recent = g->tsval;
	so->sack_ok = g->has_sackok && !c->no_sack;
	if (peer < mss)
		mss = peer;
	if (so->ts_ok)
		mss -= 12;
	so->mss = (uint16_t)mss;
	so->cwnd = init_cwnd(mss);
}

static void keepalive_touch(struct net_sock *so, uint64_t now)
{
	const struct net_cfg *c = &so->st->cfg;

	so->last_rx_us = now;
	so->nkeep = 0;
	if (c->keepalive_idle_us && so->state >= TCP_ESTABLISHED && so->state != TCP_TIME_WAIT)
		tcp_timer_arm(so, &so->t_keep, now + c->keepalive_idle_us);
}

static void enter_time_wait(struct net_sock *so, uint64_t now)
{
	tcp_set_state(so, TCP_TIME_WAIT);
	so->t_rexmt = so->t_persist = so->t_keep = so->t_tlp = so->t_rack = 0;
	tcp_timer_arm(so, &so->t_2msl, now + 2ull * so->st->cfg.msl_us);
}

/* ------------------------------------------------------------------ */
/* LISTEN and SYN-SENT                                                 */

static void conn_input(struct net_sock *so, struct seg *g, uint64_t now);

/* The backlog is full: a SYN-ACK whose ISN is a cookie (tcp_syncookie.c),
 * sent from a stand-in control block that lives on the stack. */
static void cookie_synack(struct net_sock *l, const struct seg *g, const struct net_tuple *t,
			  uint64_t now)
{
	struct net_stack *s = l->st;
	const struct net_cfg *c = &s->cfg;
	struct net_sock tmp;

	memset(&tmp, 0, sizeof(tmp));
	tmp.st = s;
	tmp.t = *t;
	tmp.in_use = true;
	tmp.rb_size = c->rcvbuf;
	tmp.iss = tcp_cookie_make(s, t, g->seq, g->has_mss ? g->mss : 536, now);
	tcp_init_cb(&tmp, now);
	tmp.state = TCP_SYN_RCVD;
	tmp.irs = g->seq;
	tmp.rcv_nxt = g->seq + 1;
	/* window scale and SACK-permitted survive only in our timestamp */
	tmp.ts_ok = g->has_ts && !c->no_timestamps;
	if (tmp.ts_ok) {
		tmp.ts_recent = g->tsval;
		tmp.ws_ok = g->has_ws && !c->no_wscale;
		tmp.sack_ok = g->has_sackok && !c->no_sack;
		tmp.cookie = true;
		tmp.cookie_tsval =
		    tcp_cookie_tsval((uint32_t)(now / 1000), tmp.ws_ok, g->ws, tmp.sack_ok);
	}
	if (!tmp.ws_ok)
		tmp.rcv_wscale = 0;
	tcp_send_ctl(&tmp, tmp.iss, TCPF_SYN | TCPF_ACK, now);
	s->stats.tcp_syncookie_tx++;
	l->cookie_until = now + 2 * TCP_COOKIE_PERIOD_US;
}

/*
 * An ACK to a listener: if it carries one of our recent cookies, the
 * connection is created in SYN_RECEIVED from what the cookie and the
 * timestamp echo hold, and the segment is processed on it (it becomes
 * ESTABLISHED and joins the accept queue).  Returns false when the ACK
 * is no cookie of ours (the caller answers RST).
 */
static bool cookie_accept(struct net_sock *l, struct seg *g, const struct net_tuple *t,
			  uint64_t now)
{
	struct net_stack *s = l->st;
	struct net_sock *so;
	struct seg syn;
	int mss;

	if (s->cfg.no_syncookies || !l->cookie_until || now > l->cookie_until ||
	    (g->flags & TCPF_SYN))
		return false;
	mss = tcp_cookie_check(s, t, g->seq - 1, g->ack - 1, now);
	if (mss < 0) {
		s->stats.tcp_syncookie_bad++;
		return false;
	}
	if (l->n_acceptq >= l->backlog || !(so = tcp_sock_alloc(s, true))) {
		s->stats.tcp_syn_drop++; /* the peer will retransmit */
		return true;
	}
	memset(&syn, 0, sizeof(syn));
	syn.seq = g->seq - 1;
	syn.has_mss = true;
	syn.mss = (uint16_t)mss;
	if (g->has_ts) {
		syn.has_ts = true;
		syn.tsval = g->tsval;
		tcp_cookie_opts(g->tsecr, &syn.has_ws, &syn.ws, &syn.has_sackok);
		g->tsecr = 0; /* its low bits are options: no RTT sample from it */
	}
	so->t = *t;
	so->parent = l;
	l->n_syn++;
	so->iss = g->ack - 1;
	tcp_init_cb(so, now);
	so->irs = syn.seq;
	so->rcv_nxt = g->seq;
	so->rcv_adv = so->rcv_nxt;
	so->last_ack_sent = so->rcv_nxt;
	syn_options(so, &syn);
	so->snd_wnd = g->wnd;
	so->snd_wl1 = syn.seq;
	so->snd_wl2 = so->iss;
	so->snd_nxt = so->snd_max = so->iss + 1; /* our SYN-ACK */
	so->recover = so->iss;
	tcp_set_state(so, TCP_SYN_RCVD);
	tcp_hash_insert(so);
	s->stats.tcp_syncookie_ok++;
	conn_input(so, g, now);
	if (so->in_use) {
		tcp_check(so);
		tcp_notify(so);
	}
	return true;
}

static void listen_input(struct net_sock *l, struct seg *g, const struct net_tuple *t,
			 const uint8_t *th, uint64_t now)
{
	struct net_stack *s = l->st;
	struct net_sock *so = NULL;

	if (g->flags & TCPF_RST)
		return;
	if (g->flags & TCPF_ACK) {
		if (!cookie_accept(l, g, t, now))
			tcp_send_rst_reply(s, t->faddr, t->laddr, th, g->len, now);
		return;
	}
	if (!(g->flags & TCPF_SYN))
		return;
	if (l->n_syn + l->n_acceptq >= l->backlog || !(so = tcp_sock_alloc(s, true))) {
		if (!s->cfg.no_syncookies && l->n_acceptq < l->backlog)
			cookie_synack(l, g, t, now);
		else
			s->stats.tcp_syn_drop++;
		return;
	}
	so->t = *t;
	so->parent = l;
	l->n_syn++;
	so->iss = tcp_isn(s, t, now);
	tcp_init_cb(so, now);
	so->irs = g->seq;
	so->rcv_nxt = g->seq + 1;
	so->rcv_adv = so->rcv_nxt;
	so->last_ack_sent = so->rcv_nxt;
	syn_options(so, g);
	so->snd_wnd = g->wnd; /* never scaled in a SYN */
	so->snd_wl1 = g->seq;
	so->snd_wl2 = so->iss;
	so->recover = so->iss;
	tcp_set_state(so, TCP_SYN_RCVD);
	tcp_hash_insert(so);
	tcp_output(so, now);
}

static void syn_sent_input(struct net_sock *so, const struct seg *g, const uint8_t *th,
			   uint64_t now)
{
	struct net_stack *s = so->st;
	bool ack_ok = false;

	if (g->flags & TCPF_ACK) {
		if (seq_leq(g->ack, so->iss) || seq_gt(g->ack, so->snd_max)) {
			tcp_send_rst_reply(s, so->t.faddr, so->t.laddr, th, g->len, now);
			return;
		}
		ack_ok = true;
	}
	if (g->flags & TCPF_RST) {
		if (ack_ok) {
			s->stats.tcp_rst_rx++;
			tcp_drop(so, -ECONNREFUSED);
		}
		return;
	}
	if (!(g->flags & TCPF_SYN))
		return;
	so->irs = g->seq;
	so->rcv_nxt = g->seq + 1;
	so->rcv_adv = so->rcv_nxt;
	so->last_ack_sent = so->rcv_nxt;
	syn_options(so, g);
	so->snd_wnd = g->wnd;
	so->snd_wl1 = g->seq;
	so->snd_wl2 = g->ack;
	so->recover = so->iss;
	if (ack_ok) {
		if (so->ts_ok && g->tsecr)
			tcp_rtt_sample(so, ((uint32_t)(now / 1000) - g->tsecr) * 1000u);
		else if (so->rtt_timing)
			tcp_rtt_sample(so, (uint32_t)(now - so->rtt_start));
		so->rtt_timing = false;
		so->snd_una = g->ack;
		if (so->nrexmt && !so->rtt_valid)
			so->rto_us = 3000000; /* RFC 6298 5.7: the SYN was retransmitted */
		so->nrexmt = 0;
		tcp_set_state(so, TCP_ESTABLISHED);
		so->t_rexmt = 0;
		keepalive_touch(so, now);
		so->ack_now = true;
		tcp_output(so, now);
		return;
	}
	/* simultaneous open: SYN-ACK from SYN_RCVD */
	tcp_set_state(so, TCP_SYN_RCVD);
	so->snd_nxt = so->iss;
	so->t_rexmt = 0;
	tcp_output(so, now);
}

/* ------------------------------------------------------------------ */
/* Synchronized states                                                 */

static bool acceptable(const struct net_sock *so, const struct seg *g, uint32_t seglen)
{
	uint32_t wnd = tcp_rcv_wnd(so);
	uint32_t rn = so->rcv_nxt;

	if (seglen == 0) {
		if (wnd == 0)
			return g->seq == rn;
		return seq_leq(rn, g->seq) && seq_lt(g->seq, rn + wnd);
	}
	if (wnd == 0)
		return false;
	return (seq_leq(rn, g->seq) && seq_lt(g->seq, rn + wnd)) ||
	       (seq_leq(rn, g->seq + seglen - 1) && seq_lt(g->seq + seglen - 1, rn + wnd));
}

static void ooo_insert(struct net_sock *so, uint32_t a, uint32_t b)
{
	uint32_t i, j, n = so->n_ooo;

	/* merge every interval that overlaps or touches [a, b) */
	for (i = 0; i < n;) {
		struct tcp_ooo *o = &so->ooo[i];

		if (seq_leq(o->start, b) && seq_leq(a, o->end)) {
			if (seq_lt(o->start, a))
				a = o->start;
			if (seq_gt(o->end, b))
				b = o->end;
			so->ooo[i] = so->ooo[--n];
			continue;
		}
		i++;
	}
	assert(n < TCP_OOO_MAX);
	/* insert sorted by start */
	for (i = 0; i < n && seq_lt(so->ooo[i].start, a); i++)
		;
	for (j = n; j > i; j--)
		so->ooo[j] = so->ooo[j - 1];
	so->ooo[i].start = a;
	so->ooo[i].end = b;
	so->n_ooo = n + 1;
	/* the removal above may have unsorted the rest: re-sort (n <= 8) */
	for (i = 1; i < so->n_ooo; i++)
		for (j = i; j > 0 && seq_lt(so->ooo[j].start, so->ooo[j - 1].start); j--) {
			struct tcp_ooo t = so->ooo[j];

			so->ooo[j] = so->ooo[j - 1];
			so->ooo[j - 1] = t;
		}
	for (i = 0; i < so->n_ooo; i++)
		if (seq_leq(so->ooo[i].start, a) && seq_leq(b, so->ooo[i].end))
			so->sack_first = i;
}

/* Would [a, b) fit in the interval list? */
static bool ooo_room(const struct net_sock *so, uint32_t a, uint32_t b)
{
	if (so->n_ooo < TCP_OOO_MAX)
		return true;
	for (uint32_t i = 0; i < so->n_ooo; i++)
		if (seq_leq(so->ooo[i].start, b) && seq_leq(a, so->ooo[i].end))
			return true;
	return false;
}

static void rb_put(struct net_sock *so, uint32_t off, const uint8_t *d, uint32_t len)
{
	uint32_t pos = (so->rb_head + so->rb_len + off) % so->rb_size;
	uint32_t first = so->rb_size - pos;

	assert(so->rb_len + off + len <= so->rb_size);
	if (first > len)
		first = len;
	memcpy(so->rbuf + pos, d, first);
	memcpy(so->rbuf, d + first, len - first);
}

/* In-order data arrived up to rcv_nxt: absorb the intervals it reaches. */
static bool ooo_advance(struct net_sock *so)
{
	bool filled = false;

	while (so->n_ooo && seq_leq(so->ooo[0].start, so->rcv_nxt)) {
		if (seq_gt(so->ooo[0].end, so->rcv_nxt)) {
			so->rb_len += so->ooo[0].end - so->rcv_nxt;
			so->rcv_nxt = so->ooo[0].end;
		}
		memmove(&so->ooo[0], &so->ooo[1], (so->n_ooo - 1) * sizeof(so->ooo[0]));
		so->n_ooo--;
		filled = true;
	}
	so->sack_first = 0;
	assert(so->rb_len <= so->rb_size);
	return filled;
}

/* RFC 2883: [a, b) arrived twice; the next ACK reports it first. */
static void dsack_note(struct net_sock *so, uint32_t a, uint32_t b)
{
	if (!so->sack_ok || !seq_lt(a, b))
		return;
	so->dsack_pending = true;
	so->dsack_start = a;
	so->dsack_end = b;
}

static void data_input(struct net_sock *so, const struct seg *g, uint64_t now)
{
	struct net_stack *s = so->st;

	if (g->seq == so->rcv_nxt) {
		bool had_ooo = so->n_ooo != 0;

		rb_put(so, 0, g->data, g->len);
		so->rb_len += g->len;
		so->rcv_nxt += g->len;
		if (had_ooo) {
			ooo_advance(so);
			so->ack_now = true; /* RFC 5681 4.2: a hole filled */
			return;
		}
		if (++so->delack_segs >= 2)
			so->ack_now = true;
		else if (!so->t_delack)
			tcp_timer_arm(so, &so->t_delack, now + s->cfg.delack_us);
		return;
	}
	/* out of order, inside the window (trimmed by the caller) */
	assert(seq_gt(g->seq, so->rcv_nxt));
	s->stats.tcp_ooo++;
	so->ack_now = true; /* a duplicate ACK, with SACK blocks */
	for (uint32_t i = 0; i < so->n_ooo; i++)
		if (seq_leq(so->ooo[i].start, g->seq) && seq_leq(g->seq + g->len, so->ooo[i].end)) {
			dsack_note(so, g->seq, g->seq + g->len); /* held already */
			return;
		}
	if (!ooo_room(so, g->seq, g->seq + g->len))
		return;
	rb_put(so, g->seq - so->rcv_nxt, g->data, g->len);
	ooo_insert(so, g->seq, g->seq + g->len);
}

static void fast_retransmit(struct net_sock *so, uint64_t now)
{
	uint32_t half = tcp_flight(so) / 2;

	so->ssthresh = half > 2u * so->mss ? half : 2u * so->mss;
	so->recover = so->snd_max;
	so->in_recovery = true;
	so->st->stats.tcp_fast_retrans++;
	tcp_tlp_cancel(so);
	tcp_xmit(so, so->snd_una, so->mss, now);
	so->cwnd = so->ssthresh + 3u * so->mss;
	tcp_timer_arm(so, &so->t_rexmt, now + so->rto_us);
}

/*
 * An ACK on a SACK connection outside RFC 6675 recovery, or a duplicate
 * inside it (RFC 6675 5 steps 1-4): the scoreboard learns its blocks;
 * it is a DupAck when it SACKs new octets (data, window and a moved
 * cumulative ACK do not matter) or when it is an RFC 5681 duplicate;
 * recovery starts at DupThresh DupAcks or as soon as IsLost(snd_una).
 * cum: the ACK moved snd_una (DupAcks were reset by the caller).
 */
static void sack_ack(struct net_sock *so, const struct seg *g, bool cum, uint32_t wnd, uint64_t now)
{
	uint32_t fresh = g->n_sack ? tcp_sack_update(so, g->sack, g->n_sack) : 0;
	bool dup5681 =
	    !cum && g->len == 0 && !(g->flags & (TCPF_SYN | TCPF_FIN)) && wnd == so->snd_wnd;

	if (so->in_recovery) {
		if (!so->sack_rec && dup5681) /* NewReno recovery (after a switch) */
			so->cwnd += so->mss;
		return; /* (B): tcp_output runs (C) */
	}
	if (so->snd_max == so->snd_una)
		return;
	if (fresh || dup5681)
		so->dupacks++;
	if ((so->dupacks >= TCP_DUPTHRESH || tcp_sack_una_lost(so)) &&
	    seq_geq(so->snd_una, so->recover) && so->snd_nxt == so->snd_max) {
		if (so->n_sacked)
			tcp_sack_enter(so, now);
		else if (!cum && so->dupacks == TCP_DUPTHRESH)
			fast_retransmit(so, now); /* no SACK blocks: NewReno */
	}
}

/* Returns false when the connection is gone. */
static bool ack_input(struct net_sock *so, const struct seg *g, uint64_t now)
{
	struct net_stack *s = so->st;
	uint32_t wnd = g->wnd << so->snd_wscale, acked, n;
	bool fin_acked, established_now = false, rack = false, advanced = false;

	if (so->state == TCP_SYN_RCVD) {
		if (!seq_lt(so->snd_una, g->ack) || seq_gt(g->ack, so->snd_max)) {
			so->ack_now = false;
			tcp_send_ctl(so, g->ack, TCPF_RST, now);
			s->stats.tcp_rst_tx++;
			return false;
		}
		tcp_set_state(so, TCP_ESTABLISHED);
		established_now = true;
		so->snd_wnd = wnd;
		so->snd_wl1 = g->seq;
		so->snd_wl2 = g->ack;
		keepalive_touch(so, now);
		if (so->parent) {
			struct net_sock *l = so->parent;

			assert(l->n_syn > 0);
			l->n_syn--;
			l->n_acceptq++;
			so->in_acceptq = true;
			if (l->aq_tail)
				l->aq_tail->aq_next = so;
			else
				l->aq_head = so;
			l->aq_tail = so;
		}
	}
	if (seq_gt(g->ack, so->snd_max)) { /* acks what was never sent */
		so->ack_now = true;
		return false;
	}
	if (seq_lt(g->ack, so->snd_una))
		goto window; /* old: ignored */
	if (g->ack == so->snd_una) {
		if (so->sack_ok) {
			sack_ack(so, g, false, wnd, now);
			rack = true;
			goto window;
		}
		/* RFC 5681 2: duplicate ACK */
		if (g->len == 0 && !(g->flags & (TCPF_SYN | TCPF_FIN)) && wnd == so->snd_wnd &&
		    so->snd_max != so->snd_una) {
			so->dupacks++;
			/* RFC 6582 3.2 step 2: not again for losses of
			 * the window that was already recovered */
			if (so->dupacks == 3 && !so->in_recovery && seq_gt(g->ack, so->recover))
				fast_retransmit(so, now);
			else if (so->in_recovery && so->dupacks > 3)
				so->cwnd += so->mss;
		} else {
			so->dupacks = 0;
		}
		goto window;
	}
	/* new data acknowledged */
	acked = g->ack - so->snd_una;
	if (so->ts_ok && g->has_ts && g->tsecr) {
		uint32_t ms = (uint32_t)(now / 1000) - g->tsecr;

		if (ms < 60000u)
			tcp_rtt_sample(so, ms * 1000u);
	} else if (so->rtt_timing && seq_gt(g->ack, so->rtt_seq)) {
		tcp_rtt_sample(so, (uint32_t)(now - so->rtt_start));
		so->rtt_timing = false;
	}
	if (so->nrexmt && !so->rtt_valid && established_now)
		so->rto_us = 3000000; /* RFC 6298 5.7: the SYN-ACK was retransmitted */
	so->nrexmt = 0;
	if (seq_gt(g->ack, so->sb_seq)) {
		n = g->ack - so->sb_seq;
		if (n > so->sb_len)
			n = so->sb_len;
		so->sb_seq += n;
		so->sb_head = (so->sb_head + n) % so->sb_size;
		so->sb_len -= n;
	}
	so->snd_una = g->ack;
	if (seq_lt(so->snd_nxt, so->snd_una))
		so->snd_nxt = so->snd_una;
	tcp_sack_trim(so);
	if (so->in_recovery && so->sack_rec) {
		if (seq_geq(g->ack, so->recover)) { /* RFC 6675 5 (A) */
			uint32_t f = tcp_flight(so) + so->mss;

			so->cwnd = so->ssthresh < f ? so->ssthresh : f;
			so->in_recovery = so->sack_rec = false;
			so->dupacks = 0;
			tcp_rexmt_restart(so, now);
		} else { /* (B): tcp_output runs (C) */
			tcp_timer_arm(so, &so->t_rexmt, now + so->rto_us);
		}
		if (g->n_sack)
			tcp_sack_update(so, g->sack, g->n_sack);
	} else if (so->in_recovery) {
		if (seq_geq(g->ack, so->recover)) { /* full ACK (RFC 6582) */
			uint32_t f = tcp_flight(so) + so->mss;

			so->cwnd = so->ssthresh < f ? so->ssthresh : f;
			so->in_recovery = false;
			so->dupacks = 0;
			tcp_rexmt_restart(so, now);
		} else { /* partial ACK: the next hole */
			tcp_xmit(so, so->snd_una, so->mss, now);
			so->cwnd = acked >= so->cwnd ? so->mss : so->cwnd - acked + so->mss;
			tcp_timer_arm(so, &so->t_rexmt, now + so->rto_us);
		}
	} else {
		so->dupacks = 0;
		if (so->cwnd < so->ssthresh)
			so->cwnd += acked < so->mss ? acked : so->mss;
		else
			so->cwnd += (uint32_t)((uint64_t)so->mss * so->mss / so->cwnd) ?: 1;
		tcp_rexmt_restart(so, now);
		if (so->sack_ok)
			sack_ack(so, g, true, wnd, now);
	}
	if (so->cwnd > (1u << 30))
		so->cwnd = 1u << 30;
	rack = advanced = true;
	fin_acked = so->fin_queued && seq_gt(g->ack, so->fin_seq);
	switch (so->state) {
	case TCP_FIN_WAIT_1:
		if (fin_acked) {
			tcp_set_state(so, TCP_FIN_WAIT_2);
			if (so->user_closed) /* orphan: bounded wait */
				tcp_timer_arm(so, &so->t_2msl, now + 2ull * s->cfg.msl_us);
		}
		break;
	case TCP_CLOSING:
		if (fin_acked)
			enter_time_wait(so, now);
		break;
	case TCP_LAST_ACK:
		if (fin_acked) {
			tcp_drop(so, 0);
			return false;
		}
		break;
	default:
		break;
	}
window:
	if (seq_lt(so->snd_wl1, g->seq) ||
	    (so->snd_wl1 == g->seq && seq_leq(so->snd_wl2, g->ack))) {
		so->snd_wnd = wnd;
		so->snd_wl1 = g->seq;
		so->snd_wl2 = g->ack;
		if (wnd) {
			so->t_persist = 0;
			so->npersist = 0;
			so->nprobes = 0;
		}
	}
	if (rack) /* RACK-TLP (RFC 8985): episode, deliveries, losses */
		tcp_rack_ack(so, g->sack, g->n_sack, advanced,
			     g->len == 0 && !(g->flags & (TCPF_SYN | TCPF_FIN)),
			     so->ts_ok && g->has_ts, g->tsecr, now);
	return true;
}

static void conn_input(struct net_sock *so, struct seg *g, uint64_t now)
{
	struct net_stack *s = so->st;
	uint32_t seglen, wnd, d;
	bool had_fin = g->flags & TCPF_FIN;

	assert(so->state != TCP_SYN_SENT && so->state != TCP_LISTEN && so->state != TCP_CLOSED);
	/* PAWS (RFC 7323 5.3) */
	if (so->ts_ok && g->has_ts && !(g->flags & TCPF_RST) &&
	    (int32_t)(g->tsval - so->ts_recent) < 0) {
		s->stats.tcp_paws_drop++;
		tcp_send_ack(so, now);
		return;
	}
	if (so->state == TCP_SYN_RCVD && (g->flags & TCPF_SYN) && g->seq == so->irs &&
	    !(g->flags & TCPF_ACK)) {
		tcp_xmit(so, so->iss, 0, now); /* our SYN-ACK was lost */
		return;
	}
	seglen = g->len + !!(g->flags & TCPF_SYN) + had_fin;
	if (!acceptable(so, g, seglen)) {
		if (g->flags & TCPF_RST)
			return;
		if (tcp_rcv_wnd(so) == 0 && g->seq == so->rcv_nxt) {
			/* zero window: the ACK still counts (3.10.7.4) */
			g->len = 0;
			g->flags &= (uint8_t) ~(TCPF_FIN | TCPF_SYN);
			had_fin = false;
			so->ack_now = true;
		} else {
			s->stats.tcp_dup++;
			if (g->len && !(g->flags & TCPF_SYN) &&
			    seq_leq(g->seq + g->len, so->rcv_nxt)) /* old data again */
				dsack_note(so, g->seq, g->seq + g->len);
			if (so->state == TCP_TIME_WAIT && had_fin)
				tcp_timer_arm(so, &so->t_2msl, now + 2ull * s->cfg.msl_us);
			tcp_send_ack(so, now);
			return;
		}
	}
	if (so->ts_ok && g->has_ts && seq_leq(g->seq, so->last_ack_sent))
		so->ts_recent = g->tsval;
	/* trim what was already received, and what lies past the window */
	if (seq_lt(g->seq, so->rcv_nxt)) {
		d = so->rcv_nxt - g->seq;
		if (g->flags & TCPF_SYN) {
			g->flags &= (uint8_t)~TCPF_SYN;
			g->seq++;
			d--;
		}
		if (d >= g->len) {
			if (d > g->len)
				had_fin = false;
			d = g->len;
		}
		if (d) {
			dsack_note(so, g->seq, g->seq + d);
			so->ack_now = true;
		}
		g->data += d;
		g->len -= d;
		g->seq += d;
		if (g->len || d)
			s->stats.tcp_dup++;
	}
	wnd = tcp_rcv_wnd(so);
	if (seq_gt(g->seq + g->len, so->rcv_nxt + wnd)) {
		g->len = so->rcv_nxt + wnd - g->seq;
		had_fin = false;
	}
	/* RST (RFC 9293 3.10.7.4 second, RFC 5961 3.2) */
	if (g->flags & TCPF_RST) {
		if (g->seq != so->rcv_nxt) {
			s->stats.tcp_challenge_ack++;
			tcp_send_ack(so, now);
			return;
		}
		s->stats.tcp_rst_rx++;
		tcp_drop(so, so->state == TCP_SYN_RCVD ? -ECONNREFUSED : -ECONNRESET);
		return;
	}
	/* SYN in a synchronized state: challenge ACK (RFC 5961 4.2) */
	if (g->flags & TCPF_SYN) {
		s->stats.tcp_challenge_ack++;
		tcp_send_ack(so, now);
		return;
	}
	if (!(g->flags & TCPF_ACK))
		return;
	keepalive_touch(so, now);
	if (!ack_input(so, g, now)) {
		if (so->in_use && so->state != TCP_CLOSED && so->ack_now)
			tcp_send_ack(so, now);
		return;
	}
	if (so->state == TCP_TIME_WAIT) {
		if (had_fin) {
			so->ack_now = true;
			tcp_timer_arm(so, &so->t_2msl, now + 2ull * s->cfg.msl_us);
		}
		tcp_output(so, now);
		return;
	}
	/* data */
	if (g->len) {
		switch (so->state) {
		case TCP_ESTABLISHED:
		case TCP_FIN_WAIT_1:
		case TCP_FIN_WAIT_2:
			if (so->user_closed) { /* nobody will read it */
				tcp_send_ctl(so, so->snd_max, TCPF_RST | TCPF_ACK, now);
				s->stats.tcp_rst_tx++;
				tcp_drop(so, -ECONNRESET);
				return;
			}
			data_input(so, g, now);
			break;
		default: /* the peer's FIN came already: ignored */
			break;
		}
	}
	/* FIN, only in order (an early FIN is dropped and resent) */
	if (had_fin) {
		if (g->seq + g->len != so->rcv_nxt) {
			so->ack_now = true;
		} else {
			so->rcv_nxt++;
			so->fin_rcvd = true;
			so->ack_now = true;
			switch (so->state) {
			case TCP_ESTABLISHED:
				tcp_set_state(so, TCP_CLOSE_WAIT);
				break;
			case TCP_FIN_WAIT_1:
				if (seq_gt(so->snd_una, so->fin_seq))
					enter_time_wait(so, now);
				else
					tcp_set_state(so, TCP_CLOSING);
				break;
			case TCP_FIN_WAIT_2:
				enter_time_wait(so, now);
				break;
			default:
				break;
			}
		}
	}
	tcp_output(so, now);
}

void tcp_input(struct net_stack *s, struct net_pkt *pkt, uint32_t src, uint32_t dst,
	       const uint8_t *th, uint16_t tlen, uint64_t now)
{
	struct net_tuple t;
	struct net_sock *so;
	struct seg g;
	uint32_t doff;

	s->stats.tcp_rx++;
	memset(&g, 0, sizeof(g));
	if (tlen < TCP_HLEN)
		goto bad;
	doff = (uint32_t)(th[12] >> 4) * 4u;
	if (doff < TCP_HLEN || doff > tlen)
		goto bad;
	if (pkt->flags & NET_PKT_RX_L4_CSUM_BAD) {
		s->stats.tcp_bad_csum++;
		goto out;
	}
	if (!(pkt->flags & NET_PKT_RX_L4_CSUM_GOOD) &&
	    net_csum(th, tlen, ip_pseudo_sum(src, dst, IP_PROTO_TCP, tlen))) {
		s->stats.tcp_bad_csum++;
		goto out;
	}
	if (!parse_options(&g, th + TCP_HLEN, doff - TCP_HLEN))
		goto bad;
	g.seq = get32(th + 4);
	g.ack = get32(th + 8);
	g.flags = th[13] & 0x3f;
	g.wnd = get16(th + 14);
	g.data = th + doff;
	g.len = tlen - doff;
	t.laddr = dst;
	t.faddr = src;
	t.lport = get16(th + 2);
	t.fport = get16(th);
	if (t.lport == 0 || t.fport == 0)
		goto bad;
	if ((g.flags & TCPF_SYN) && (g.flags & (TCPF_FIN | TCPF_RST)))
		goto bad;
	so = tcp_lookup(s, &t);
	if (so) {
		if (so->state == TCP_SYN_SENT)
			syn_sent_input(so, &g, th, now);
		else
			conn_input(so, &g, now);
		if (so->in_use) {
			tcp_check(so);
			tcp_notify(so);
		}
	} else {
		struct net_sock *l = tcp_lookup_listener(s, t.lport);

		if (l) {
			listen_input(l, &g, &t, th, now);
		} else {
			s->stats.tcp_no_sock++;
			tcp_send_rst_reply(s, src, dst, th,
					   g.len + !!(g.flags & TCPF_SYN) + !!(g.flags & TCPF_FIN),
					   now);
		}
	}
	goto out;
bad:
	s->stats.tcp_bad_hdr++;
out:
	net_pkt_free(&s->pool, pkt);
}
