// SPDX-License-Identifier: Apache-2.0
/*
 * RACK-TLP (RFC 8985) on the in-memory device: the
 * test plays a SACK peer whose round trip is RTT_US on the fake clock
 * (it answers each flight RTT_US after it was sent), loses chosen
 * segments and checks which segments the stack sends again, and when.
 * MSS 1000 without timestamps, so segment k of a flight starts at
 * base + 1000 k.  The control block's congestion state is read through
 * the stack's private header (white box, as lwIP's tests do).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "dataplane/net/net_priv.h"
#include "net_test.h"

#define RTT_US 20000u
#define MSS 1000u

static const struct nt_opts SACK1000 = {.mss = 1000, .ws = -1, .sackok = true};

static void setup(void)
{
	nt_setup(NULL);
}

TestSuite(net_rack, .init = setup, .fini = nt_fini, .timeout = 30);

static const struct net_stats *st(void)
{
	return net_stack_stats(nt.s);
}

/* The next segment carrying data (pure ACKs skipped); false if none. */
static bool take_data(struct nt_frame *f)
{
	while (nt_take_tcp(f))
		if (f->len || (f->flags & F_FIN))
			return true;
	return false;
}

static uint32_t take_all_data(uint32_t *seqs, uint32_t max)
{
	struct nt_frame f;
	uint32_t n = 0;

	while (take_data(&f)) {
		cr_assert_lt(n, max);
		seqs[n++] = f.seq;
	}
	return n;
}

static void send_bytes(struct nt_conn *c, uint32_t len)
{
	static uint8_t b[16384];

	cr_assert_leq(len, sizeof(b));
	for (uint32_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 7u);
	cr_assert_eq(net_send(c->so, b, len, nt.now), (long)len);
}

/* The peer acknowledges ack with SACK blocks (start, end), as offsets
 * from base. */
static void peer_sack(struct nt_conn *c, uint32_t ack, uint32_t base, uint32_t n, ...)
{
	va_list ap;

	c->o.n_sack = n;
	va_start(ap, n);
	for (uint32_t k = 0; k < n; k++) {
		c->o.sack[k][0] = base + va_arg(ap, uint32_t);
		c->o.sack[k][1] = base + va_arg(ap, uint32_t);
	}
	va_end(ap);
	c->una = ack;
	nt_send_tcp(c->pport, 80, c->pnxt, ack, F_ACK, 65535, &c->o, NULL, 0);
	c->o.n_sack = 0;
}

/* Passive open with a SACK peer RTT_US away, then one segment sent and
 * acknowledged RTT_US later: SRTT = RACK.min_RTT = RTT_US. */
static void open_rtt(struct nt_conn *c)
{
	struct nt_frame f;
	uint32_t seqs[4];

	memset(c, 0, sizeof(*c));
	c->o = SACK1000;
	c->pport = 40000;
	c->piss = 7000;
	cr_assert_eq(net_listen(nt.s, 80, 8, &c->l), 0);
	nt_send_tcp(c->pport, 80, c->piss, 0, F_SYN, 65535, &c->o, NULL, 0);
	nt_expect_tcp(&f);
	cr_assert_eq(f.flags, F_SYN | F_ACK);
	cr_assert(f.has_sackok);
	c->iss = f.seq;
	c->una = f.seq + 1;
	c->pnxt = c->piss + 1;
	nt_advance(RTT_US);
	nt_send_tcp(c->pport, 80, c->pnxt, c->una, F_ACK, 65535, &c->o, NULL, 0);
	cr_assert_eq(net_accept(c->l, &c->so), 0);
	send_bytes(c, MSS);
	cr_assert_eq(take_all_data(seqs, 4), 1);
	nt_advance(RTT_US);
	nt_peer_ack(c, c->una + MSS, 65535);
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(c->so->srtt_us, RTT_US);
	cr_assert_eq(c->so->rack_min_rtt_us, RTT_US);
	cr_assert_eq(c->so->t_tlp, 0, "nothing in flight: no probe armed");
}

static void close_clean(struct nt_conn *c)
{
	struct nt_frame f;

	net_close(c->so, nt.now);
	do
		cr_assert(nt_take_tcp(&f), "no FIN");
	while (!(f.flags & F_FIN));
	c->una = f.seq + f.len + 1;
	nt_peer_ack(c, c->una, 65535);
	nt_send_tcp(c->pport, 80, c->pnxt, c->una, F_FIN | F_ACK, 65535, &c->o, NULL, 0);
	nt_advance(61ull * 1000000);
	net_close(c->l, nt.now);
	c->l = NULL;
	nt_check_no_leaks();
}

static void rto_1s(struct net_cfg *c)
{
	c->rto_min_us = 1000000;
}

/* The last of four segments is lost; the first three are acknowledged
 * one RTT later.  One segment in flight: PTO = 2 SRTT + the delayed-ACK
 * allowance (240 ms), well before the RTO (1 s minimum here, to tell
 * them apart); the probe resends the last segment, whose ACK ends the
 * loss without an RTO.  The episode ends with the next ACK past the
 * probe: the probe repaired a loss, the cwnd is reduced (once). */
Test(net_rack, lost_last_segment_recovered_by_the_probe_not_the_rto, .init = NULL)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t base, seqs[8], cwnd;

	nt_setup(rto_1s);
	open_rtt(&c);
	base = c.una;
	send_bytes(&c, 4 * MSS);
	cr_assert_eq(take_all_data(seqs, 8), 4);
	nt_advance(RTT_US);
	nt_peer_ack(&c, base + 3 * MSS, 65535);
	cr_assert_eq(take_all_data(seqs, 8), 0);
	cr_assert_eq(c.so->t_tlp, nt.now + 2 * RTT_US + 200000);
	cr_assert_eq(c.so->t_rexmt, nt.now + 1000000);
	nt_advance(2 * RTT_US + 200000 - 1);
	cr_assert_eq(take_all_data(seqs, 8), 0, "not before the PTO");
	nt_advance(1);
	cr_assert(take_data(&f), "the probe at the PTO");
	cr_assert_eq(f.seq, base + 3 * MSS);
	cr_assert_eq(f.len, MSS);
	cr_assert_eq(take_all_data(seqs, 8), 0, "one probe");
	cr_assert_eq(st()->tcp_tlp_probe, 1);
	nt_advance(RTT_US);
	nt_peer_ack(&c, base + 4 * MSS, 65535);
	cr_assert_eq(st()->tcp_rto, 0);
	cr_assert_eq(st()->tcp_retrans, 1);
	cr_assert_eq(st()->tcp_tlp_repaired, 0, "the episode is still open");
	cwnd = c.so->cwnd;
	/* the next exchange acknowledges past the probe */
	send_bytes(&c, MSS);
	cr_assert_eq(take_all_data(seqs, 8), 1);
	nt_advance(RTT_US);
	nt_peer_ack(&c, base + 5 * MSS, 65535);
	cr_assert_eq(st()->tcp_tlp_repaired, 1);
	cr_assert_eq(c.so->ssthresh, 2 * MSS, "max(flight at the probe / 2, 2 mss)");
	cr_assert_eq(c.so->cwnd, 2 * MSS);
	cr_assert_lt(c.so->cwnd, cwnd);
	nt_advance(5000000);
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(st()->tcp_tlp_probe, 1);
	close_clean(&c);
}

/* With the default 200 ms RTO minimum, a one-segment flight's PTO (2
 * SRTT + 200 ms) would come after the RTO: the probe takes the RTO's
 * time instead and the RTO (cwnd to one segment, backoff) does not
 * happen. */
Test(net_rack, probe_replaces_an_earlier_rto)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t base, seqs[8];
	uint64_t t0;

	open_rtt(&c);
	base = c.una;
	send_bytes(&c, 100); /* a small reply, lost */
	cr_assert_eq(take_all_data(seqs, 8), 1);
	t0 = nt.now;
	cr_assert_eq(c.so->t_rexmt, t0 + 200000);
	cr_assert_eq(c.so->t_tlp, t0 + 200000);
	nt_advance(199999);
	cr_assert_eq(take_all_data(seqs, 8), 0);
	nt_advance(1);
	cr_assert(take_data(&f));
	cr_assert_eq(f.seq, base);
	cr_assert_eq(f.len, 100);
	cr_assert_eq(st()->tcp_tlp_probe, 1);
	cr_assert_eq(st()->tcp_rto, 0);
	cr_assert_eq(c.so->t_rexmt, nt.now + 200000, "the RTO pushed back");
	nt_advance(RTT_US);
	nt_peer_ack(&c, base + 100, 65535);
	cr_assert_eq(take_all_data(seqs, 8), 0);
	close_clean(&c);
}

/* Four segments, the second lost; the peer acknowledges the first and
 * SACKs the third and fourth: two DupAcks, below DupThresh, and IsLost
 * is false.  RACK: the fourth was sent with the second and delivered, so
 * the second is lost RACK.rtt + reo_wnd (min_RTT / 4) after it was sent;
 * the reordering timer fires then and recovery resends it. */
static void lost_middle(void)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t base, seqs[8];
	uint64_t t0;

	open_rtt(&c);
	base = c.una;
	t0 = nt.now;
	send_bytes(&c, 4 * MSS);
	cr_assert_eq(take_all_data(seqs, 8), 4);
	nt_advance(RTT_US);
	nt_peer_ack(&c, base + MSS, 65535);
	peer_sack(&c, base + MSS, base, 1, 2 * MSS, 3 * MSS);
	nt_advance(1000);
	peer_sack(&c, base + MSS, base, 1, 2 * MSS, 4 * MSS);
	cr_assert_eq(take_all_data(seqs, 8), 0, "not yet");
	/* RACK.rtt = 21 ms (the fourth), reo_wnd = 20 ms / 4 */
	cr_assert_eq(c.so->t_rack, t0 + RTT_US + 1000 + RTT_US / 4);
	nt.now = t0 + RTT_US + 1000 + RTT_US / 4 - 1;
	nt_poll();
	cr_assert_eq(take_all_data(seqs, 8), 0, "not inside the reordering window");
	nt_advance(1);
	cr_assert(take_data(&f), "RACK found the loss");
	cr_assert_eq(f.seq, base + MSS);
	cr_assert_eq(f.len, MSS);
	cr_assert_eq(take_all_data(seqs, 8), 0, "only the hole");
	cr_assert_eq(st()->tcp_rack_lost, 1);
	cr_assert_eq(st()->tcp_rack_recovery, 1);
	cr_assert_eq(st()->tcp_sack_recovery, 1);
	cr_assert(c.so->in_recovery);
	cr_assert_eq(c.so->ssthresh, 2 * MSS); /* max(3000 / 2, 2 mss) */
	nt_advance(RTT_US);
	nt_peer_ack(&c, base + 4 * MSS, 65535);
	cr_assert(!c.so->in_recovery);
	cr_assert_eq(take_all_data(seqs, 8), 0);
	cr_assert_eq(st()->tcp_rto, 0);
	cr_assert_eq(st()->tcp_retrans, 1);
	cr_assert_eq(st()->tcp_tlp_probe, 0);
	close_clean(&c);
}

Test(net_rack, lost_middle_segment_found_by_rack)
{
	lost_middle();
}

static uint32_t isn_near_wrap(void *arg, const struct net_tuple *t)
{
	(void)arg;
	(void)t;
	return 0xfffffffful - 2500; /* the flight after the warm-up spans 0 */
}

static void wrap_isn(struct net_cfg *c)
{
	c->isn = isn_near_wrap;
}

Test(net_rack, lost_middle_segment_across_the_sequence_wrap, .init = NULL)
{
	nt_setup(wrap_isn);
	lost_middle();
}

/* The same flight, but the second segment was only late: it arrives 3 ms
 * after the SACKs, inside the reordering window.  Nothing is resent,
 * then or later, and RACK now knows the path reorders. */
Test(net_rack, reordered_segment_is_not_resent_inside_the_window)
{
	struct nt_conn c;
	uint32_t base, seqs[8];

	open_rtt(&c);
	base = c.una;
	send_bytes(&c, 4 * MSS);
	cr_assert_eq(take_all_data(seqs, 8), 4);
	nt_advance(RTT_US);
	nt_peer_ack(&c, base + MSS, 65535);
	peer_sack(&c, base + MSS, base, 1, 2 * MSS, 3 * MSS);
	nt_advance(1000);
	peer_sack(&c, base + MSS, base, 1, 2 * MSS, 4 * MSS);
	cr_assert_neq(c.so->t_rack, 0);
	nt_advance(3000);
	cr_assert_eq(take_all_data(seqs, 8), 0);
	nt_peer_ack(&c, base + 4 * MSS, 65535);
	cr_assert_eq(c.so->t_rack, 0);
	cr_assert(c.so->rack_reordering);
	nt_advance(5000000);
	cr_assert_eq(take_all_data(seqs, 8), 0);
	cr_assert_eq(st()->tcp_retrans, 0);
	cr_assert_eq(st()->tcp_rack_lost, 0);
	cr_assert_eq(st()->tcp_sack_recovery, 0);
	cr_assert_eq(st()->tcp_tlp_probe, 0);
	close_clean(&c);
}

/* The last two of four segments are lost.  Two in flight: PTO = 2 SRTT
 * (40 ms); the probe resends the fourth; the peer SACKs it, which shows
 * the third lost (RACK: sent before a delivered segment, RACK.rtt ago):
 * recovery resends it and sets cwnd = ssthresh once; the TLP episode
 * ended with the recovery, so the ACK past the probe reduces nothing
 * more. */
Test(net_rack, probe_then_real_loss_reduces_cwnd_once)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t base, seqs[8];

	open_rtt(&c);
	base = c.una;
	send_bytes(&c, 4 * MSS);
	cr_assert_eq(take_all_data(seqs, 8), 4);
	nt_advance(RTT_US);
	nt_peer_ack(&c, base + 2 * MSS, 65535);
	cr_assert_eq(c.so->t_tlp, nt.now + 2 * RTT_US);
	nt_advance(2 * RTT_US - 1);
	cr_assert_eq(take_all_data(seqs, 8), 0);
	nt_advance(1);
	cr_assert(take_data(&f), "the probe");
	cr_assert_eq(f.seq, base + 3 * MSS);
	cr_assert_eq(take_all_data(seqs, 8), 0);
	cr_assert_eq(st()->tcp_tlp_probe, 1);
	nt_advance(RTT_US);
	peer_sack(&c, base + 2 * MSS, base, 1, 3 * MSS, 4 * MSS);
	cr_assert(take_data(&f), "the third, found lost");
	cr_assert_eq(f.seq, base + 2 * MSS);
	cr_assert_eq(take_all_data(seqs, 8), 0);
	cr_assert(c.so->in_recovery);
	cr_assert_eq(st()->tcp_rack_recovery, 1);
	cr_assert_eq(c.so->ssthresh, 2 * MSS);
	cr_assert_eq(c.so->cwnd, 2 * MSS);
	nt_advance(RTT_US);
	nt_peer_ack(&c, base + 4 * MSS, 65535);
	cr_assert(!c.so->in_recovery);
	cr_assert_eq(st()->tcp_tlp_repaired, 0, "no second reduction");
	cr_assert_eq(c.so->ssthresh, 2 * MSS);
	cr_assert_eq(st()->tcp_sack_recovery, 1);
	cr_assert_eq(st()->tcp_rto, 0);
	cr_assert_eq(st()->tcp_retrans, 2);
	close_clean(&c);
}

/* Nothing outstanding: no probe is armed, none is sent. */
Test(net_rack, no_probe_when_nothing_is_outstanding)
{
	struct nt_conn c;
	uint32_t seqs[8];

	open_rtt(&c);
	send_bytes(&c, 2 * MSS);
	cr_assert_eq(take_all_data(seqs, 8), 2);
	cr_assert_neq(c.so->t_tlp, 0);
	nt_advance(RTT_US);
	nt_peer_ack(&c, c.una + 2 * MSS, 65535);
	cr_assert_eq(c.so->t_tlp, 0);
	cr_assert_eq(c.so->t_rack, 0);
	nt_advance(10000000);
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(st()->tcp_tlp_probe, 0);
	close_clean(&c);
}

/* Without SACK neither RACK nor the probe runs (as Linux): the lost
 * segment waits for the RTO. */
Test(net_rack, no_probe_without_sack)
{
	struct nt_conn c;
	struct nt_frame f;
	const struct nt_opts o = {.mss = 1000, .ws = -1};

	nt_open(&c, 7000, &o);
	send_bytes(&c, 2 * MSS);
	cr_assert(take_data(&f));
	cr_assert(take_data(&f));
	cr_assert_eq(c.so->t_tlp, 0);
	cr_assert_eq(c.so->n_txr, 0);
	nt_advance(200000);
	cr_assert(take_data(&f));
	cr_assert_eq(st()->tcp_rto, 1);
	cr_assert_eq(st()->tcp_tlp_probe, 0);
	nt_peer_ack(&c, c.una + 2 * MSS, 65535);
	close_clean(&c);
}

/* The probe sends new data when some is queued and the peer's window
 * allows it (cwnd does not hold it back); an ACK covering a probe of new
 * data ends the episode without a cwnd reduction. */
Test(net_rack, probe_sends_new_data_when_there_is_some)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t base, seqs[16];

	open_rtt(&c);
	base = c.una;
	send_bytes(&c, 12 * MSS);
	cr_assert_eq(take_all_data(seqs, 16), 5, "cwnd 5000 after the warm-up");
	nt_advance(RTT_US);
	nt_peer_ack(&c, base + 3 * MSS, 65535);
	cr_assert_eq(take_all_data(seqs, 16), 4, "cwnd 6000, 2000 in flight");
	cr_assert_eq(seqs[3], base + 8 * MSS);
	nt_advance(2 * RTT_US);
	cr_assert(take_data(&f), "the probe");
	cr_assert_eq(f.seq, base + 9 * MSS, "new data, beyond cwnd");
	cr_assert_eq(f.len, MSS);
	cr_assert_eq(take_all_data(seqs, 16), 0);
	cr_assert_eq(st()->tcp_tlp_probe, 1);
	cr_assert_eq(st()->tcp_retrans, 0);
	nt_advance(RTT_US);
	nt_peer_ack(&c, base + 10 * MSS, 65535);
	cr_assert(!c.so->tlp_active);
	cr_assert_eq(st()->tcp_tlp_repaired, 0);
	cr_assert_eq(c.so->ssthresh, 0x7fffffff, "no reduction");
	take_all_data(seqs, 16);
	nt_advance(RTT_US);
	nt_peer_ack(&c, base + 12 * MSS, 65535);
	close_clean(&c);
}

/* The probe resent the last segment but the original had arrived (its
 * ACK was only late): the peer's ACK carries a D-SACK for the probe, so
 * the episode ends without a cwnd reduction, and RACK widens its
 * reordering window (the multiplier goes to 2). */
Test(net_rack, spurious_probe_shown_by_dsack_reduces_nothing)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t base, seqs[8];

	open_rtt(&c);
	base = c.una;
	send_bytes(&c, 4 * MSS);
	cr_assert_eq(take_all_data(seqs, 8), 4);
	nt_advance(RTT_US);
	nt_peer_ack(&c, base + 2 * MSS, 65535);
	nt_advance(2 * RTT_US);
	cr_assert(take_data(&f), "the probe");
	cr_assert_eq(f.seq, base + 3 * MSS);
	nt_advance(RTT_US);
	peer_sack(&c, base + 4 * MSS, base, 1, 3 * MSS, 4 * MSS); /* D-SACK */
	cr_assert(!c.so->tlp_active);
	cr_assert_eq(c.so->rack_reo_mult, 2);
	send_bytes(&c, MSS);
	cr_assert_eq(take_all_data(seqs, 8), 1);
	nt_advance(RTT_US);
	nt_peer_ack(&c, base + 5 * MSS, 65535);
	cr_assert_eq(st()->tcp_tlp_repaired, 0);
	cr_assert_eq(c.so->ssthresh, 0x7fffffff, "no reduction");
	cr_assert_eq(st()->tcp_sack_recovery, 0);
	close_clean(&c);
}
