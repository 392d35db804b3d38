// SPDX-License-Identifier: Apache-2.0
/*
 * tcp_rack.c - RACK-TLP (RFC 8985): time-based loss detection and the
 * tail loss probe, on connections that negotiated SACK.
 *
 * Why: a coordination service sends small replies; the last segment of
 * a burst is often the only one, and when it is lost no duplicate ACK
 * ever comes: before this file such a loss waited for the RTO (1 s at
 * least then).  The tail loss probe sends one segment after a probe
 * timeout (PTO) of about two round trips so that the peer's ACK (with
 * SACK blocks) reveals the loss and SACK recovery repairs it.  RACK
 * declares a segment lost when a segment sent after it was delivered
 * and one RACK.rtt plus a reordering window has passed since it was
 * sent, instead of counting DupThresh duplicates: it finds a lost
 * middle segment with fewer than three segments after it, and a lost
 * retransmission (e.g. the probe's) without waiting for the RTO.
 *
 * What is remembered: txr[], one record per transmission (start, end,
 * send time, flags), sorted by sequence, disjoint, inside [snd_una,
 * snd_max], allocated with the send and receive rings (tcp_cb.c); a
 * retransmission splits the records it partly covers and stamps them
 * with its time, and an ACK splits them at snd_una and where the SACKed
 * ranges start and end (a TSO super-segment is one record until then).  At most
 * TCP_TXREC_MAX records: a segment
 * sent when they are full is not recorded (RACK never marks it lost;
 * RFC 6675's DupThresh rule and the RTO still do), and a split that
 * does not fit stamps the whole record (a later time: conservative).
 *
 * RACK (RFC 8985 6.2) on each ACK: every record newly delivered (below
 * snd_una or inside a SACKed range) updates RACK.xmit_ts/end_seq/rtt
 * (a retransmitted one only when its timestamp echo and RTT show the
 * ACK is for the retransmission) and RACK.min_RTT (the minimum over the
 * connection, not a windowed filter); a non-retransmitted one delivered
 * below the highest delivered end (RACK.fack) means reordering.  The
 * reordering window is RACK.min_RTT / 4 times a multiplier raised, once
 * per round trip, by a spurious retransmission: a D-SACK (RFC 2883: the
 * peer got a segment twice; tcp_in.c sends them too), or, for peers
 * that send none, the ACK of a retransmitted segment that answers the
 * original (its timestamp echo is older, or it came sooner than
 * RACK.min_RTT after the retransmission); reset after 16 recoveries without one; at most
 * SRTT, and 0 while no reordering was seen and the connection is in
 * recovery or has DupThresh segments SACKed.  A record sent before the
 * RACK segment is lost once its send time + RACK.rtt + window passed;
 * the reordering timer (t_rack) waits for the ones not yet due.  Lost
 * octets feed tcp_sack.c: a hole holds lost octets up to
 * tcp_rack_lost_to() even where DupThresh does not call it lost, so
 * NextSeg resends them and SetPipe does not count them.  A loss found
 * by RACK outside recovery enters RFC 6675 recovery exactly like
 * DupThresh DupAcks (ssthresh = max(FlightSize / 2, 2 mss)).
 *
 * TLP (RFC 8985 7): armed after new data is sent or new data is
 * acknowledged, when something is in flight, outside recovery and RTO
 * recovery, and no probe is out: PTO = 2 SRTT (1 s without a sample),
 * at least TLP_MIN_US (RTT samples from 1 ms timestamps read 0 on a
 * LAN, and the peer needs some time to answer), plus TLP_DELACK_US when
 * a single segment is in flight (its ACK may be a delayed one), never
 * after the RTO would fire.  The probe sends one new segment if the
 * peer's window allows, otherwise it resends the last segment; cwnd
 * does not hold it back.  One probe per episode: the episode ends when
 * an ACK covers the probe: a probe of new data, or one that a D-SACK
 * shows spurious, changes nothing; an ACK past the probe's end means the
 * probe repaired a loss: ssthresh = max(the flight at the probe / 2, 2
 * mss), cwnd = ssthresh (once: entering recovery instead ends the
 * episode without it).
 *
 * Without SACK (as Linux): neither runs; the peer's ACKs would not show
 * what a probe found, and NewReno's recovery needs no timestamps.
 *
 * Thread: the stack's owner.
 */
#include "net_priv.h"

#define TLP_MIN_US 10000u      /* PTO floor */
#define TLP_DELACK_US 200000u  /* RFC 8985 WCDelAckT: one segment in flight */
#define TLP_NO_RTT_US 1000000u /* PTO without an RTT sample */
#define RACK_REO_PERSIST 16u   /* recoveries a raised window lasts */
#define RACK_REO_MULT_MAX 64u  /* (the window stays at most SRTT) */

bool tcp_rack_on(const struct net_sock *so)
{
	return so->sack_ok && so->txr && !so->st->cfg.no_rack_tlp;
}

static void txr_check(const struct net_sock *so)
{
	assert(so->n_txr <= TCP_TXREC_MAX);
	for (uint32_t i = 0; i < so->n_txr; i++) {
		assert(seq_lt(so->txr[i].start, so->txr[i].end));
		assert(i == 0 || seq_leq(so->txr[i - 1].end, so->txr[i].start));
	}
}

/* Splits the record that holds seq strictly inside, if there is room. */
static void txr_split(struct net_sock *so, uint32_t seq)
{
	for (uint32_t i = 0; i < so->n_txr; i++) {
		struct tcp_txrec *r = &so->txr[i];

		if (seq_leq(seq, r->start))
			return;
		if (seq_lt(seq, r->end)) {
			if (so->n_txr == TCP_TXREC_MAX)
				return;
			memmove(r + 1, r, (so->n_txr - i) * sizeof(*r));
			so->n_txr++;
			r->end = seq;
			r[1].start = seq;
			return;
		}
	}
}

void tcp_rack_sent(struct net_sock *so, uint32_t seq, uint32_t end, uint64_t now)
{
	uint32_t old_end;

	if (!tcp_rack_on(so) || so->state < TCP_ESTABLISHED || !seq_lt(seq, end))
		return;
	/* the part already sent: a retransmission */
	old_end = seq_lt(end, so->snd_max) ? end : so->snd_max;
	if (seq_lt(seq, old_end)) {
		txr_split(so, seq);
		txr_split(so, old_end);
		for (uint32_t i = 0; i < so->n_txr; i++) {
			struct tcp_txrec *r = &so->txr[i];

			if (seq_leq(r->end, seq))
				continue;
			if (seq_geq(r->start, old_end))
				break;
			r->xmit_us = now;
			r->flags = TXR_REXMIT;
		}
		seq = old_end;
	}
	/* the part never sent before */
	if (seq_lt(seq, end) && so->n_txr < TCP_TXREC_MAX &&
	    (so->n_txr == 0 || seq_leq(so->txr[so->n_txr - 1].end, seq))) {
		struct tcp_txrec *r = &so->txr[so->n_txr++];

		r->start = seq;
		r->end = end;
		r->xmit_us = now;
		r->flags = 0;
	}
	txr_check(so);
}

/* RFC 8985 RACK_sent_after: (t1, s1) was sent after (t2, s2). */
static bool sent_after(uint64_t t1, uint32_t s1, uint64_t t2, uint32_t s2)
{
	return t1 > t2 || (t1 == t2 && seq_gt(s1, s2));
}

static bool is_sacked(const struct net_sock *so, uint32_t a, uint32_t b)
{
	for (uint32_t k = 0; k < so->n_sacked; k++) {
		if (seq_geq(so->sacked[k].start, b))
			return false;
		if (seq_leq(so->sacked[k].start, a) && seq_leq(b, so->sacked[k].end))
			return true;
	}
	return false;
}

/* RFC 8985 6.2 steps 2 and 3 for one newly delivered record.  Returns
 * true when the ACK shows a retransmission was spurious (it answers the
 * original: Eifel's timestamp test, RFC 3522, or an RTT below the
 * minimum). */
static bool delivered(struct net_sock *so, const struct tcp_txrec *r, bool has_ts, uint32_t tsecr,
		      uint64_t now)
{
	uint64_t rtt64 = now - r->xmit_us;
	uint32_t rtt = rtt64 > UINT32_MAX ? UINT32_MAX : (uint32_t)rtt64;

	if (r->flags & TXR_REXMIT) {
		/* the ACK may be for the original: no sample from it */
		if (has_ts && tsecr && (int32_t)(tsecr - (uint32_t)(r->xmit_us / 1000)) < 0)
			return true;
		if (so->rack_min_valid && rtt < so->rack_min_rtt_us)
			return true;
	} else {
		if (!so->rack_min_valid || rtt < so->rack_min_rtt_us)
			so->rack_min_rtt_us = rtt;
		so->rack_min_valid = true;
		if (so->rack_valid && seq_lt(r->end, so->rack_fack))
			so->rack_reordering = true;
	}
	if (!so->rack_valid || seq_gt(r->end, so->rack_fack))
		so->rack_fack = r->end;
	if (!so->rack_valid || sent_after(r->xmit_us, r->end, so->rack_xmit_us, so->rack_end)) {
		so->rack_xmit_us = r->xmit_us;
		so->rack_end = r->end;
		so->rack_rtt_us = rtt;
		so->rack_valid = true;
	}
	return false;
}

/* RFC 8985 6.2 step 4. */
static uint32_t reo_wnd(const struct net_sock *so)
{
	uint32_t sacked = 0;
	uint64_t w;

	if (!so->rack_reordering) {
		if (so->in_recovery || so->nrexmt)
			return 0;
		for (uint32_t i = 0; i < so->n_txr; i++)
			sacked += !!(so->txr[i].flags & TXR_SACKED);
		if (sacked >= TCP_DUPTHRESH)
			return 0;
	}
	w = (uint64_t)(so->rack_reo_mult ? so->rack_reo_mult : 1) * so->rack_min_rtt_us / 4;
	if (so->rtt_valid && w > so->srtt_us)
		w = so->srtt_us;
	return (uint32_t)w;
}

/* RFC 8985 6.2 step 5: marks lost records; arms t_rack for the ones
 * not due yet.  Returns whether a record became lost. */
static bool detect_loss(struct net_sock *so, uint64_t now)
{
	uint64_t timeout = 0;
	uint32_t reo = reo_wnd(so);
	bool lost = false;

	so->t_rack = 0;
	if (!so->rack_valid)
		return false;
	for (uint32_t i = 0; i < so->n_txr; i++) {
		struct tcp_txrec *r = &so->txr[i];
		uint64_t due;

		if (r->flags & (TXR_SACKED | TXR_LOST))
			continue;
		if (!sent_after(so->rack_xmit_us, so->rack_end, r->xmit_us, r->end))
			continue;
		due = r->xmit_us + so->rack_rtt_us + reo;
		if (due <= now) {
			r->flags |= TXR_LOST;
			so->st->stats.tcp_rack_lost++;
			lost = true;
		} else if (due - now > timeout) {
			timeout = due - now;
		}
	}
	if (timeout)
		tcp_timer_arm(so, &so->t_rack, now + timeout);
	return lost;
}

/* A loss RACK found starts recovery as DupThresh DupAcks would. */
static void maybe_recover(struct net_sock *so, uint64_t now)
{
	if (so->in_recovery || so->snd_nxt != so->snd_max || so->nrexmt ||
	    !seq_geq(so->snd_una, so->recover) || so->snd_una == so->snd_max)
		return;
	so->st->stats.tcp_rack_recovery++;
	tcp_sack_enter(so, now);
}

static void tlp_ack(struct net_sock *so, const struct tcp_sackblk *b, uint32_t n, uint32_t ack,
		    bool advanced, bool pure, bool dsack)
{
	if (!so->tlp_active || seq_lt(ack, so->tlp_end))
		return;
	if (!so->tlp_rexmit) { /* new data delivered: no loss shown */
		so->tlp_active = false;
		return;
	}
	if (dsack && seq_lt(b[0].start, so->tlp_end) && seq_geq(b[0].end, so->tlp_end)) {
		so->tlp_active = false; /* the original arrived too */
		return;
	}
	if (seq_gt(ack, so->tlp_end)) { /* the probe repaired a loss */
		uint32_t half = so->tlp_flight / 2;

		so->tlp_active = false;
		so->st->stats.tcp_tlp_repaired++;
		if (!so->in_recovery) {
			so->ssthresh = half > 2u * so->mss ? half : 2u * so->mss;
			so->cwnd = so->ssthresh;
		}
		return;
	}
	if (!advanced && pure && n == 0)
		so->tlp_active = false; /* a DupAck without SACK: undecidable */
}

void tcp_rack_ack(struct net_sock *so, const struct tcp_sackblk *b, uint32_t n, bool advanced,
		  bool pure, bool has_ts, uint32_t tsecr, uint64_t now)
{
	uint32_t i, j;
	bool dsack, spurious = false;

	if (!tcp_rack_on(so))
		return;
	/* RFC 2883: a first block below the cumulative ACK, or inside the
	 * second block, is a D-SACK */
	dsack = n && seq_lt(b[0].start, b[0].end) &&
		(seq_leq(b[0].end, so->snd_una) ||
		 (n > 1 && seq_leq(b[1].start, b[0].start) && seq_leq(b[0].end, b[1].end)));
	tlp_ack(so, b, n, so->snd_una, advanced, pure, dsack);
	/* a record may span many segments (a TSO super-segment): split it
	 * at snd_una and where SACKed ranges start and end, so that its
	 * acknowledged and SACKed parts count as delivered and the part
	 * before those can be marked lost */
	txr_split(so, so->snd_una);
	for (i = 0; i < so->n_sacked; i++) {
		txr_split(so, so->sacked[i].start);
		txr_split(so, so->sacked[i].end);
	}
	/* deliveries, then the records below snd_una go */
	for (i = 0; i < so->n_txr; i++) {
		struct tcp_txrec *r = &so->txr[i];

		if (r->flags & TXR_SACKED)
			continue;
		if (seq_leq(r->end, so->snd_una)) {
			spurious |= delivered(so, r, has_ts, tsecr, now);
		} else if (seq_geq(r->start, so->snd_una) && is_sacked(so, r->start, r->end)) {
			r->flags = (r->flags & TXR_REXMIT) | TXR_SACKED;
			spurious |= delivered(so, r, has_ts, tsecr, now);
		}
	}
	for (i = 0; i < so->n_txr && seq_leq(so->txr[i].end, so->snd_una); i++)
		;
	for (j = 0; i < so->n_txr; i++, j++)
		so->txr[j] = so->txr[i];
	so->n_txr = j;
	if (j && seq_lt(so->txr[0].start, so->snd_una))
		so->txr[0].start = so->snd_una;
	/* the reordering window's multiplier (RFC 8985 6.2 step 4) */
	if (so->rack_dsack_pending && seq_geq(so->snd_una, so->rack_dsack_round))
		so->rack_dsack_pending = false;
	if (!so->rack_reo_mult)
		so->rack_reo_mult = 1;
	if ((dsack || spurious) && !so->rack_dsack_pending) {
		so->rack_dsack_pending = true;
		so->rack_dsack_round = so->snd_max;
		if (so->rack_reo_mult < RACK_REO_MULT_MAX)
			so->rack_reo_mult++;
		so->rack_reo_persist = RACK_REO_PERSIST;
	} else if (so->rack_was_rec && !so->in_recovery && so->rack_reo_persist &&
		   --so->rack_reo_persist == 0) {
		so->rack_reo_mult = 1;
	}
	so->rack_was_rec = so->in_recovery;
	txr_check(so);
	if (so->snd_una == so->snd_max) {
		so->t_rack = 0;
		return;
	}
	if (detect_loss(so, now))
		maybe_recover(so, now);
}

uint32_t tcp_rack_lost_to(const struct net_sock *so, uint32_t a, uint32_t b)
{
	uint32_t to = a;

	for (uint32_t i = 0; i < so->n_txr; i++) {
		const struct tcp_txrec *r = &so->txr[i];

		if (seq_geq(r->start, b))
			break;
		if ((r->flags & (TXR_LOST | TXR_SACKED)) != TXR_LOST || seq_leq(r->end, a))
			continue;
		if (seq_gt(seq_lt(r->end, b) ? r->end : b, to))
			to = seq_lt(r->end, b) ? r->end : b;
	}
	return to;
}

void tcp_rack_rto(struct net_sock *so)
{
	for (uint32_t i = 0; i < so->n_txr; i++)
		so->txr[i].flags &= TXR_REXMIT;
	so->t_rack = 0;
	so->t_tlp = 0;
	so->tlp_active = false;
}

void tcp_tlp_cancel(struct net_sock *so)
{
	so->t_tlp = 0;
	so->tlp_active = false;
}

static bool tlp_allowed(const struct net_sock *so)
{
	switch (so->state) {
	case TCP_ESTABLISHED:
	case TCP_CLOSE_WAIT:
	case TCP_FIN_WAIT_1:
	case TCP_CLOSING:
	case TCP_LAST_ACK:
		break;
	default:
		return false;
	}
	return tcp_rack_on(so) && so->snd_una != so->snd_max && !so->in_recovery && !so->nrexmt &&
	       !so->tlp_active && so->snd_nxt == so->snd_max;
}

void tcp_tlp_arm(struct net_sock *so, uint64_t now)
{
	uint64_t pto, when;

	if (!tlp_allowed(so)) {
		so->t_tlp = 0;
		return;
	}
	/* RFC 8985 7.2: on new data sent or new data acknowledged only */
	if (so->t_tlp && so->tlp_una == so->snd_una && so->tlp_max == so->snd_max)
		return;
	pto = so->rtt_valid ? 2ull * so->srtt_us : TLP_NO_RTT_US;
	if (pto < TLP_MIN_US)
		pto = TLP_MIN_US;
	if (so->snd_max - so->snd_una <= so->mss)
		pto += TLP_DELACK_US;
	when = now + pto;
	if (so->t_rexmt && when > so->t_rexmt)
		when = so->t_rexmt;
	tcp_timer_arm(so, &so->t_tlp, when);
	so->tlp_una = so->snd_una;
	so->tlp_max = so->snd_max;
}

void tcp_tlp_fire(struct net_sock *so, uint64_t now)
{
	uint32_t end = so->sb_seq + so->sb_len, c = 0;
	uint32_t left = seq_lt(so->snd_nxt, end) ? end - so->snd_nxt : 0;
	uint32_t wedge = so->snd_una + so->snd_wnd;
	uint32_t room = seq_gt(wedge, so->snd_nxt) ? wedge - so->snd_nxt : 0;
	uint32_t flight = so->snd_max - so->snd_una;

	so->t_tlp = 0;
	if (!tlp_allowed(so))
		return;
	if (left && room) { /* RFC 8985 7.3: new data if the window allows */
		c = tcp_xmit(so, so->snd_nxt, left < room ? left : room, now);
		so->snd_nxt += c;
		so->tlp_rexmit = false;
	}
	if (!c) { /* else the last segment again */
		uint32_t dend =
		    so->fin_queued && seq_gt(so->snd_max, so->fin_seq) ? so->fin_seq : so->snd_max;
		uint32_t start =
		    dend - (dend - so->snd_una < so->mss ? dend - so->snd_una : so->mss);

		if (seq_lt(start, so->sb_seq))
			start = so->sb_seq;
		c = tcp_xmit(so, start, dend - start, now);
		so->tlp_rexmit = true;
	}
	if (!c)
		return;
	so->st->stats.tcp_tlp_probe++;
	so->tlp_active = true;
	so->tlp_end = so->snd_max;
	so->tlp_flight = flight;
	tcp_timer_arm(so, &so->t_rexmt, now + so->rto_us);
}

void tcp_rack_fire(struct net_sock *so, uint64_t now)
{
	so->t_rack = 0;
	if (!tcp_rack_on(so) || so->snd_una == so->snd_max || so->state < TCP_ESTABLISHED)
		return;
	if (detect_loss(so, now)) {
		maybe_recover(so, now);
		tcp_output(so, now);
	}
}
