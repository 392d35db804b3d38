// SPDX-License-Identifier: Apache-2.0
/*
 * tcp_timer.c - TCP timers: retransmission (RFC 6298), persist (zero
 * window probing, RFC 9293 3.8.6.1), delayed ACK (RFC 9293 3.8.6.3,
 * RFC 5681 4.2), keepalive (RFC 9293 3.8.4), TIME_WAIT (2*MSL).
 *
 * Why absolute deadlines and a scan: every control block carries its
 * deadlines in microseconds of the caller's clock (0 = off); net_timers()
 * scans the active list only when the earliest deadline (timer_hint, a
 * lower bound kept by tcp_timer_arm) is due.  A timer wheel would scale
 * better past tens of thousands of connections per core; the scan keeps
 * the state machine obvious, and the hint keeps idle polls O(1).
 * Measured (tests/net/net_bench_conns under perf): 1.0-1.3 % of the CPU
 * with 1,000 connections, 1.2 % with 10,000.
 *
 * RTO (RFC 6298): SRTT/RTTVAR from one sample per flight (Karn: never from
 * a retransmitted segment) or from every timestamp echo (RFC 7323 4); RTO
 * = SRTT + max(G, 4 RTTVAR), G = 1 ms, clamped to [cfg.rto_min_us, 60 s];
 * doubled on each expiry (5.5), never past 60 s (2.5); after an expiry
 * cwnd = 1 segment and ssthresh =
 * max(flight / 2, 2 mss) (RFC 5681 3.1 eq. 4), the SACK scoreboard is
 * forgotten (the peer may have reneged, RFC 2018 8) and sending goes back
 * to snd_una (go-back-N, as BSD).
 *
 * Why the minimum is 200 ms by default (cheetah.tcp.rto_min_ms), not RFC
 * 6298's 1 s: 2.4 makes 1 s a SHOULD and allows less; the 1 s guarded
 * against spurious timeouts from coarse clocks and delayed ACKs of
 * 1990s stacks.  Our clock is in microseconds, the peers are the Linux
 * and JVM clients of a ZooKeeper ensemble on a LAN, whose delayed ACKs
 * last 40-200 ms, and Linux has run its own RTO minimum at 200 ms for
 * decades.  A request/reply exchange whose one-segment reply is lost
 * waited the whole minimum (1 s; 200 ms on Linux).  A spurious timeout
 * costs a retransmitted segment and a cwnd collapse; a late one costs a
 * client's whole request latency.  The tail loss probe (tcp_rack.c)
 * comes 2 SRTT after the last send when more than one segment is in
 * flight, and takes the RTO's place (no backoff, no cwnd collapse) when
 * one is.  Neither the initial RTO (1 s, 2.1) nor 5.7's 3 s change.
 *
 * The tail loss probe (t_tlp) and RACK's reordering timer (t_rack) are
 * deadlines of the same kind; tcp_rack.c arms and serves them.
 *
 * Thread: the stack's owner.
 */
#include "net_priv.h"

#define RTO_MAX_US 60000000u
#define SYN_MAX_RETRIES 6u
#define PERSIST_MAX_SHIFT 6u

void tcp_rtt_sample(struct net_sock *so, uint32_t r)
{
	uint32_t var, rto;

	if (!so->rtt_valid) {
		so->srtt_us = r;
		so->rttvar_us = r / 2;
		so->rtt_valid = true;
	} else {
		uint32_t d = so->srtt_us > r ? so->srtt_us - r : r - so->srtt_us;

		so->rttvar_us = (uint32_t)(((uint64_t)so->rttvar_us * 3 + d) / 4);
		so->srtt_us = (uint32_t)(((uint64_t)so->srtt_us * 7 + r) / 8);
	}
	var = 4 * so->rttvar_us;
	rto = so->srtt_us + (var > 1000 ? var : 1000);
	if (rto < so->st->cfg.rto_min_us)
		rto = so->st->cfg.rto_min_us;
	if (rto > RTO_MAX_US)
		rto = RTO_MAX_US;
	so->rto_us = rto;
}

void tcp_rexmt_restart(struct net_sock *so, uint64_t now)
{
	if (so->snd_una == so->snd_max && so->snd_nxt == so->snd_una)
		so->t_rexmt = 0; /* all acknowledged (5.2) */
	else
		tcp_timer_arm(so, &so->t_rexmt, now + so->rto_us); /* 5.3 */
}

static void rexmt_fire(struct net_sock *so, uint64_t now)
{
	struct net_stack *s = so->st;
	uint32_t flight = so->snd_max - so->snd_una, half;

	so->t_rexmt = 0;
	so->nrexmt++;
	s->stats.tcp_rto++;
	so->rto_us = so->rto_us * 2 > RTO_MAX_US ? RTO_MAX_US : so->rto_us * 2;
	so->rtt_timing = false;
	if (so->state == TCP_SYN_SENT || so->state == TCP_SYN_RCVD) {
		if (so->nrexmt > SYN_MAX_RETRIES) {
			tcp_drop(so, -ETIMEDOUT);
			return;
		}
		so->snd_nxt = so->iss;
		tcp_output(so, now);
		return;
	}
	if (so->nrexmt > s->cfg.rto_max_retries) {
		tcp_send_ctl(so, so->snd_max, TCPF_RST | TCPF_ACK, now);
		s->stats.tcp_rst_tx++;
		tcp_drop(so, -ETIMEDOUT);
		return;
	}
	half = flight / 2;
	so->ssthresh = half > 2u * so->mss ? half : 2u * so->mss;
	so->cwnd = so->mss;
	so->recover = so->snd_max;
	so->in_recovery = false;
	so->dupacks = 0;
	tcp_sack_clear(so); /* RFC 2018 8: the peer may have reneged */
	tcp_rack_rto(so);
	so->snd_nxt = so->snd_una;
	tcp_output(so, now);
}

static void persist_fire(struct net_sock *so, uint64_t now)
{
	uint64_t d;

	so->t_persist = 0;
	if (so->snd_wnd != 0 || so->snd_nxt != so->snd_una)
		return;
	/* a zero-window probe: an old sequence number makes the receiver
	 * answer with an ACK that carries its current window */
	if (so->user_closed && ++so->nprobes > so->st->cfg.rto_max_retries) {
		/* an orphan facing a window that never opens (as Linux's
		 * tcp_orphan_retries): give up rather than hold it forever */
		tcp_send_ctl(so, so->snd_max, TCPF_RST | TCPF_ACK, now);
		so->st->stats.tcp_rst_tx++;
		tcp_drop(so, -ETIMEDOUT);
		return;
	}
	so->st->stats.tcp_probe++;
	tcp_send_ctl(so, so->snd_una - 1, TCPF_ACK, now);
	if (so->npersist < PERSIST_MAX_SHIFT)
		so->npersist++;
	d = (uint64_t)so->rto_us << so->npersist;
	tcp_timer_arm(so, &so->t_persist, now + (d > RTO_MAX_US ? RTO_MAX_US : d));
}

static void keep_fire(struct net_sock *so, uint64_t now)
{
	struct net_stack *s = so->st;

	so->t_keep = 0;
	if (so->state < TCP_ESTABLISHED || so->state == TCP_TIME_WAIT)
		return;
	if (so->nkeep >= s->cfg.keepalive_cnt) {
		tcp_send_ctl(so, so->snd_max, TCPF_RST | TCPF_ACK, now);
		s->stats.tcp_rst_tx++;
		tcp_drop(so, -ETIMEDOUT);
		return;
	}
	so->nkeep++;
	s->stats.tcp_keepalive++;
	tcp_send_ctl(so, so->snd_una - 1, TCPF_ACK, now);
	tcp_timer_arm(so, &so->t_keep, now + s->cfg.keepalive_intvl_us);
}

static uint64_t earliest(const struct net_sock *so)
{
	uint64_t m = UINT64_MAX;
	const uint64_t ts[] = {so->t_rexmt, so->t_persist, so->t_delack, so->t_keep,
			       so->t_2msl,  so->t_tlp,	   so->t_rack};

	for (unsigned i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
		if (ts[i] && ts[i] < m)
			m = ts[i];
	return m;
}

void tcp_timers(struct net_stack *s, uint64_t now)
{
	uint64_t hint = UINT64_MAX;

	s->timer_hint = UINT64_MAX;
	for (struct net_sock *so = s->active, *nx; so; so = nx) {
		nx = so->next;
		if (so->state == TCP_LISTEN)
			continue;
		if (so->t_2msl && so->t_2msl <= now) {
			so->t_2msl = 0;
			tcp_drop(so, 0);
			continue;
		}
		if (so->t_delack && so->t_delack <= now)
			tcp_send_ack(so, now);
		/* RACK before TLP before RTO: a loss found ends the probe, a
		 * probe pushes the RTO back */
		if (so->t_rack && so->t_rack <= now)
			tcp_rack_fire(so, now);
		if (so->t_tlp && so->t_tlp <= now)
			tcp_tlp_fire(so, now);
		if (so->t_rexmt && so->t_rexmt <= now) {
			rexmt_fire(so, now);
			if (!so->in_use || so->state == TCP_CLOSED) {
				if (so->in_use)
					tcp_notify(so);
				continue;
			}
		}
		if (so->t_persist && so->t_persist <= now) {
			persist_fire(so, now);
			if (!so->in_use || so->state == TCP_CLOSED)
				continue;
		}
		if (so->t_keep && so->t_keep <= now) {
			keep_fire(so, now);
			if (!so->in_use || so->state == TCP_CLOSED) {
				if (so->in_use)
					tcp_notify(so);
				continue;
			}
		}
		tcp_notify(so);
		uint64_t e = earliest(so);

		if (e < hint)
			hint = e;
	}
	/* timers armed during the scan lowered s->timer_hint already */
	if (hint < s->timer_hint)
		s->timer_hint = hint;
}

uint64_t tcp_next_timer(const struct net_stack *s)
{
	return s->timer_hint;
}
