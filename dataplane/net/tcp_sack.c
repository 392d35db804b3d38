// SPDX-License-Identifier: Apache-2.0
/*
 * tcp_sack.c - sender-side SACK: the scoreboard and RFC 6675 loss
 * recovery, used when both ends negotiated SACK-permitted (NewReno, RFC
 * 6582 in tcp_in.c, otherwise).
 *
 * Why: with data flowing both ways (ZooKeeper's requests and replies) the
 * peer's ACKs carry data, RFC 5681 counts none of them as duplicates, and
 * NewReno recovers one hole per round trip; most losses then waited for
 * the RTO.  RFC 6675 counts an ACK as a DupAck when it SACKs new octets,
 * whatever else it carries, and retransmits every hole the scoreboard
 * shows lost in one round trip, sending while cwnd - pipe >= 1 mss.
 *
 * The scoreboard is a sorted array of at most TCP_SACKB_MAX disjoint
 * ranges [start, end) inside [snd_una, snd_max]; when it is full the
 * highest range is given up (SACK information is advisory: what is not
 * on the scoreboard counts as in flight, which is conservative).  Data
 * stays in the send ring until acknowledged cumulatively, so a peer that
 * reneges (discards SACKed data) is repaired by the RTO, which clears the
 * scoreboard and goes back to snd_una (RFC 2018 8).
 *
 * IsLost is constant inside a hole (it depends only on the ranges above
 * it), so the loops run over holes, not octets: hole k is the gap below
 * range k; the last gap, above the highest range, is never lost by
 * IsLost.  RACK (tcp_rack.c) adds lost octets at the front of a hole,
 * the last one included: hole k is lost from its start up to lost[k].
 *
 * Thread: the stack's owner.
 */
#include "net_priv.h"

static void sb_check(const struct net_sock *so)
{
	assert(so->n_sacked <= TCP_SACKB_MAX);
	for (uint32_t i = 0; i < so->n_sacked; i++) {
		assert(seq_lt(so->sacked[i].start, so->sacked[i].end));
		assert(seq_leq(so->snd_una, so->sacked[i].start));
		assert(seq_leq(so->sacked[i].end, so->snd_max));
		assert(i == 0 || seq_gt(so->sacked[i].start, so->sacked[i - 1].end));
	}
}

void tcp_sack_clear(struct net_sock *so)
{
	so->n_sacked = 0;
	so->sack_rec = false;
}

void tcp_sack_trim(struct net_sock *so)
{
	uint32_t i = 0, j;

	while (i < so->n_sacked && seq_leq(so->sacked[i].end, so->snd_una))
		i++;
	for (j = 0; i < so->n_sacked; i++, j++)
		so->sacked[j] = so->sacked[i];
	so->n_sacked = j;
	if (j && seq_lt(so->sacked[0].start, so->snd_una))
		so->sacked[0].start = so->snd_una;
	if (seq_lt(so->high_rxt, so->snd_una))
		so->high_rxt = so->snd_una;
}

/* Adds [a, b) to the scoreboard; returns the octets that were new. */
static uint32_t sb_insert(struct net_sock *so, uint32_t a, uint32_t b)
{
	uint32_t i, j, n = so->n_sacked, fresh = b - a;

	/* first range that ends at or after a */
	for (i = 0; i < n && seq_lt(so->sacked[i].end, a); i++)
		;
	/* merge every range that overlaps or touches [a, b) */
	for (j = i; j < n && seq_leq(so->sacked[j].start, b); j++) {
		uint32_t s = so->sacked[j].start, e = so->sacked[j].end;
		uint32_t lo = seq_gt(s, a) ? s : a, hi = seq_lt(e, b) ? e : b;

		if (seq_lt(lo, hi))
			fresh -= hi - lo; /* already SACKed */
		if (seq_lt(s, a))
			a = s;
		if (seq_gt(e, b))
			b = e;
	}
	/* ranges i .. j-1 become one */
	if (j > i) {
		so->sacked[i].start = a;
		so->sacked[i].end = b;
		memmove(&so->sacked[i + 1], &so->sacked[j], (n - j) * sizeof(so->sacked[0]));
		so->n_sacked = n - (j - i - 1);
		return fresh;
	}
	if (n == TCP_SACKB_MAX) {
		if (i == n)
			return 0; /* above everything kept: given up */
		n--;		  /* the highest range is given up */
	}
	memmove(&so->sacked[i + 1], &so->sacked[i], (n - i) * sizeof(so->sacked[0]));
	so->sacked[i].start = a;
	so->sacked[i].end = b;
	so->n_sacked = n + 1;
	return fresh;
}

uint32_t tcp_sack_update(struct net_sock *so, const struct tcp_sackblk *b, uint32_t n)
{
	uint32_t fresh = 0;

	for (uint32_t k = 0; k < n; k++) {
		uint32_t a = b[k].start, e = b[k].end;

		/* below snd_una (D-SACK, RFC 2883, or old), straddling it, past
		 * what was sent or empty: nothing to learn */
		if (!seq_lt(a, e) || seq_lt(a, so->snd_una) || seq_gt(e, so->snd_max))
			continue;
		fresh += sb_insert(so, a, e);
	}
	sb_check(so);
	return fresh;
}

/* Start of hole k (below range k, or above the last one for k == n). */
static uint32_t hole_start(const struct net_sock *so, uint32_t k)
{
	return k == 0 ? so->snd_una : so->sacked[k - 1].end;
}

static uint32_t hole_end(const struct net_sock *so, uint32_t k)
{
	return k == so->n_sacked ? so->snd_max : so->sacked[k].start;
}

/* lost[k] for the holes below each range: RFC 6675 IsLost. */
static void holes_lost6675(const struct net_sock *so, bool *lost)
{
	uint64_t above = 0;
	uint32_t n = so->n_sacked;

	for (uint32_t k = n; k-- > 0;) {
		above += so->sacked[k].end - so->sacked[k].start;
		lost[k] = n - k >= TCP_DUPTHRESH || above > (uint64_t)(TCP_DUPTHRESH - 1) * so->mss;
	}
	lost[n] = false;
}

/* lost[k]: hole k's octets [hole_start, lost[k]) are lost: all of it by
 * IsLost, else the part RACK marked (tcp_rack.c), which may include
 * the last hole, above the highest SACKed octet. */
static void holes_lost(const struct net_sock *so, uint32_t *lost)
{
	bool l6675[TCP_SACKB_MAX + 1];

	holes_lost6675(so, l6675);
	for (uint32_t k = 0; k <= so->n_sacked; k++) {
		uint32_t a = hole_start(so, k), b = hole_end(so, k);

		lost[k] = l6675[k] ? b : a;
		if (!l6675[k] && so->n_txr && seq_lt(a, b))
			lost[k] = tcp_rack_lost_to(so, a, b);
	}
}

bool tcp_sack_una_lost(const struct net_sock *so)
{
	bool lost[TCP_SACKB_MAX + 1];

	if (!so->n_sacked || so->sacked[0].start == so->snd_una)
		return false;
	holes_lost6675(so, lost);
	return lost[0];
}

/* RFC 6675 SetPipe: octets not lost, plus octets retransmitted. */
static uint32_t set_pipe(const struct net_sock *so, const uint32_t *lost)
{
	uint32_t pipe = 0;

	for (uint32_t k = 0; k <= so->n_sacked; k++) {
		uint32_t a = hole_start(so, k), b = hole_end(so, k);

		if (!seq_lt(a, b))
			continue;
		assert(seq_leq(a, lost[k]) && seq_leq(lost[k], b));
		pipe += b - lost[k];
		if (seq_gt(so->high_rxt, a))
			pipe += (seq_lt(so->high_rxt, b) ? so->high_rxt : b) - a;
	}
	return pipe;
}

static uint32_t rexmit(struct net_sock *so, uint32_t seq, uint32_t end, uint64_t now)
{
	uint32_t c = tcp_xmit(so, seq, end - seq, now);

	if (c)
		so->st->stats.tcp_sack_rexmit++;
	return c;
}

void tcp_sack_enter(struct net_sock *so, uint64_t now)
{
	uint32_t half = tcp_flight(so) / 2, end, c;

	assert(so->sack_ok && !so->in_recovery && so->snd_nxt == so->snd_max);
	so->recover = so->snd_max;
	so->ssthresh = half > 2u * so->mss ? half : 2u * so->mss;
	so->cwnd = so->ssthresh;
	so->in_recovery = true;
	so->sack_rec = true;
	tcp_tlp_cancel(so); /* RFC 8985 7.4: one cwnd reduction */
	so->st->stats.tcp_fast_retrans++;
	so->st->stats.tcp_sack_recovery++;
	end = hole_end(so, 0);
	if (seq_gt(end, so->snd_una + so->mss))
		end = so->snd_una + so->mss;
	c = seq_lt(so->snd_una, end) ? rexmit(so, so->snd_una, end, now) : 0;
	so->high_rxt = so->rescue_rxt = so->snd_una + c;
	tcp_timer_arm(so, &so->t_rexmt, now + so->rto_us);
}

/* One segment chosen by NextSeg and sent; returns octets sent (0: none). */
static uint32_t next_seg(struct net_sock *so, const uint32_t *lost, uint64_t now)
{
	uint32_t n = so->n_sacked, k, a, b, c;

	/* (1) the first unSACKed octet above HighRxt, below the highest
	 * SACKed one, that IsLost, or that RACK marked lost (anywhere) */
	for (k = 0; k <= n; k++) {
		a = hole_start(so, k);
		b = lost[k];
		if (seq_lt(a, so->high_rxt))
			a = so->high_rxt;
		if (seq_lt(a, b)) {
			if (b - a > so->mss)
				b = a + so->mss;
			c = rexmit(so, a, b, now);
			so->high_rxt = a + c;
			return c;
		}
	}
	/* (2) new data the peer's window allows */
	if (so->snd_nxt == so->snd_max) {
		uint32_t end = so->sb_seq + so->sb_len;
		uint32_t left = seq_lt(so->snd_nxt, end) ? end - so->snd_nxt : 0;
		uint32_t wedge = so->snd_una + so->snd_wnd;
		uint32_t room = seq_gt(wedge, so->snd_nxt) ? wedge - so->snd_nxt : 0;

		uint32_t want = left < room ? left : room;

		if (want > so->mss)
			want = so->mss;
		/* sender silly-window avoidance, as tcp_output */
		if (want && (want == so->mss || want == left)) {
			c = tcp_xmit(so, so->snd_nxt, want, now);
			so->snd_nxt += c;
			return c;
		}
		if (!left && so->fin_queued && so->snd_nxt == so->fin_seq) {
			c = tcp_xmit(so, so->snd_nxt, 0, now);
			so->snd_nxt += c;
			return c;
		}
	}
	/* (3) an unSACKed octet above HighRxt below the highest SACKed one */
	for (k = 0; k < n; k++) {
		a = hole_start(so, k);
		b = hole_end(so, k);
		if (seq_lt(a, so->high_rxt))
			a = so->high_rxt;
		if (seq_lt(a, b)) {
			if (b - a > so->mss)
				b = a + so->mss;
			c = rexmit(so, a, b, now);
			so->high_rxt = a + c;
			return c;
		}
	}
	/* (4) rescue retransmission, once per recovery: a segment holding
	 * the highest unSACKed octet (HighRxt unchanged) */
	if (seq_geq(so->snd_una, so->rescue_rxt)) {
		for (k = n + 1; k-- > 0;) {
			a = hole_start(so, k);
			b = hole_end(so, k);
			if (!seq_lt(a, b))
				continue;
			if (b - a > so->mss)
				a = b - so->mss;
			so->rescue_rxt = so->recover + 1;
			c = rexmit(so, a, b, now);
			if (c)
				so->st->stats.tcp_sack_rescue++;
			return c;
		}
	}
	return 0;
}

void tcp_sack_send(struct net_sock *so, uint64_t now)
{
	uint32_t lost[TCP_SACKB_MAX + 1];
	uint32_t pipe, c;

	assert(so->in_recovery && so->sack_rec);
	sb_check(so);
	if (seq_lt(so->high_rxt, so->snd_una))
		so->high_rxt = so->snd_una;
	holes_lost(so, lost);
	pipe = set_pipe(so, lost);
	while (so->cwnd > pipe && so->cwnd - pipe >= so->mss) {
		c = next_seg(so, lost, now);
		if (!c)
			break;
		pipe += c;
	}
}

uint32_t tcp_sack_optlen(const struct net_sock *so)
{
	uint32_t max = so->ts_ok ? 3 : 4;

	uint32_t n = so->n_ooo + so->dsack_pending;

	if (!so->sack_ok || !n)
		return 0;
	return 4 + 8 * (n < max ? n : max);
}
