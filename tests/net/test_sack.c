// SPDX-License-Identifier: Apache-2.0
/*
 * Sender-side SACK and RFC 6675 loss recovery on the in-memory device:
 * the test plays a peer that negotiated SACK-permitted, loses chosen
 * segments and answers with SACK blocks (on pure ACKs or on its own data,
 * as a ZooKeeper client's requests carry them), and checks exactly which
 * segments the stack retransmits and when.  MSS 1000 without timestamps,
 * so segment k of a send starts at base + 1000 k.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "net_test.h"

static const struct nt_opts SACK1000 = {.mss = 1000, .ws = -1, .sackok = true};

/* RFC 6675 alone: RACK-TLP (test_rack.c) would find the losses these
 * tests script by time, on a fake clock whose RTT is 0, before DupThresh */
static void no_rack(struct net_cfg *c)
{
	c->no_rack_tlp = 1;
}

static void setup(void)
{
	nt_setup(no_rack);
}

TestSuite(net_sack, .init = setup, .fini = nt_fini, .timeout = 30);

static uint8_t pattern(uint32_t i)
{
	return (uint8_t)(i * 31u + 7u);
}

/* Queues len pattern bytes (offset off of the stream) on the socket. */
static void send_pattern(struct nt_conn *c, uint32_t off, uint32_t len)
{
	static uint8_t b[65536];

	while (len) {
		uint32_t n = len < sizeof(b) ? len : (uint32_t)sizeof(b);

		for (uint32_t i = 0; i < n; i++)
			b[i] = pattern(off + i);
		cr_assert_eq(net_send(c->so, b, n, nt.now), (long)n);
		off += n;
		len -= n;
	}
}

/* The next segment carrying data (pure ACKs skipped); false if none. */
static bool take_data(struct nt_frame *f)
{
	while (nt_take_tcp(f))
		if (f->len)
			return true;
	return false;
}

/* Takes every data segment the stack sent; returns how many, with their
 * sequence numbers in seqs. */
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

/* The peer acknowledges ack with the SACK blocks given as (start, end)
 * offsets from base; with data (len > 0) when withdata. */
static void peer_sack(struct nt_conn *c, uint32_t ack, uint32_t base, bool withdata, uint32_t n,
		      ...)
{
	va_list ap;
	static const char req[16] = "zookeeper req..";

	c->o.n_sack = n;
	va_start(ap, n);
	for (uint32_t k = 0; k < n; k++) {
		c->o.sack[k][0] = base + va_arg(ap, uint32_t);
		c->o.sack[k][1] = base + va_arg(ap, uint32_t);
	}
	va_end(ap);
	c->una = ack;
	c->o.tsval++;
	nt_send_tcp(c->pport, 80, c->pnxt, ack, withdata ? F_ACK | F_PSH : F_ACK, 65535, &c->o,
		    withdata ? req : NULL, withdata ? sizeof(req) : 0);
	if (withdata)
		c->pnxt += sizeof(req);
	c->o.n_sack = 0;
}

static void drain_recv(struct nt_conn *c)
{
	char b[4096];

	while (net_recv(c->so, b, sizeof(b), nt.now) > 0)
		;
}

static void close_clean(struct nt_conn *c)
{
	struct nt_frame f;

	drain_recv(c);
	net_close(c->so, nt.now);
	do
		cr_assert(nt_take_tcp(&f), "no FIN");
	while (!(f.flags & F_FIN));
	c->una = f.seq + f.len + 1;
	nt_peer_ack(c, c->una, 65535);
	c->o.tsval++;
	nt_send_tcp(c->pport, 80, c->pnxt, c->una, F_FIN | F_ACK, 65535, &c->o, NULL, 0);
	nt_advance(61ull * 1000000);
	net_close(c->l, nt.now);
	c->l = NULL;
	nt_check_no_leaks();
}

Test(net_sack, sack_permitted_is_negotiated_both_ways)
{
	struct nt_conn c;
	struct nt_frame f;
	struct net_sock *so;

	/* passive: the SYN-ACK carries SACK-permitted only if the SYN did */
	nt_open(&c, 7000, &SACK1000);
	close_clean(&c);
	cr_assert_eq(net_connect(nt.s, PEER_IP, 80, nt.now, &so), 0);
	for (;;) {
		cr_assert(nt_take_tcp(&f));
		if (f.flags & F_SYN)
			break;
	}
	cr_assert(f.has_sackok, "our SYN offers SACK-permitted");
	net_abort(so, nt.now);
	nt_check_no_leaks();
}

/* One segment lost; the peer's three DupAcks carry data (a client's
 * requests) and SACK blocks: RFC 5681 would count none of them. */
Test(net_sack, one_lost_segment_recovered_by_dupacks_that_carry_data)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t base, seqs[8];

	nt_open(&c, 7000, &SACK1000);
	base = c.una;
	send_pattern(&c, 0, 4000);
	cr_assert_eq(take_all_data(seqs, 8), 4); /* initial window: 4 * 1000 */
	peer_sack(&c, base, base, true, 1, 1000, 2000);
	peer_sack(&c, base, base, true, 1, 1000, 3000);
	cr_assert_eq(take_all_data(seqs, 8), 0, "not before DupThresh");
	peer_sack(&c, base, base, true, 1, 1000, 4000);
	cr_assert(take_data(&f), "fast retransmit");
	cr_assert_eq(f.seq, base);
	cr_assert_eq(f.len, 1000);
	for (uint32_t i = 0; i < f.len; i++)
		cr_assert_eq(f.data[i], pattern(i));
	cr_assert_eq(take_all_data(seqs, 8), 0, "only the hole");
	cr_assert_eq(net_stack_stats(nt.s)->tcp_sack_recovery, 1);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_fast_retrans, 1);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_sack_rexmit, 1);
	nt_peer_ack(&c, base + 4000, 65535);
	cr_assert_eq(take_all_data(seqs, 8), 0);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_rto, 0);
	close_clean(&c);
}

/* The same losses on a connection without SACK: ACKs with data are no
 * duplicates (RFC 5681), so only the RTO repairs the hole. */
Test(net_sack, without_sack_acks_with_data_are_not_duplicates)
{
	struct nt_conn c;
	struct nt_frame f;
	const struct nt_opts o = {.mss = 1000, .ws = -1};
	uint32_t base, seqs[8];

	nt_open(&c, 7000, &o);
	base = c.una;
	send_pattern(&c, 0, 4000);
	cr_assert_eq(take_all_data(seqs, 8), 4);
	for (int i = 0; i < 3; i++)
		nt_peer_data(&c, "req", 3);
	cr_assert_eq(take_all_data(seqs, 8), 0);
	nt_advance(1000000);
	cr_assert(take_data(&f));
	cr_assert_eq(f.seq, base);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_rto, 1);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_sack_recovery, 0);
	nt_peer_ack(&c, base + 4000, 65535);
	close_clean(&c);
}

/* Eight segments, 1, 3 and 5 lost: every hole is retransmitted within the
 * recovery, each as soon as IsLost or pipe allows, none twice, no RTO. */
Test(net_sack, several_holes_repaired_in_one_recovery)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t b, seqs[16];

	nt_open(&c, 7000, &SACK1000);
	send_pattern(&c, 0, 4000);
	cr_assert_eq(take_all_data(seqs, 16), 4);
	for (uint32_t i = 1; i <= 4; i++) /* slow start: cwnd 8000 */
		nt_peer_ack(&c, seqs[0] + 1000 * i, 65535);
	b = c.una;
	send_pattern(&c, 4000, 8000);
	cr_assert_eq(take_all_data(seqs, 16), 8);
	cr_assert_eq(seqs[7], b + 7000);
	nt_peer_ack(&c, b + 1000, 65535);		  /* s0 */
	peer_sack(&c, b + 1000, b, false, 1, 2000, 3000); /* s2 */
	peer_sack(&c, b + 1000, b, false, 2, 4000, 5000, 2000, 3000);
	cr_assert_eq(take_all_data(seqs, 16), 0);
	/* s6: three ranges above s1, which IsLost: recovery, s1 again;
	 * cwnd = 3500 and pipe = 4000 (s3, s5, s7 and the retransmission) */
	peer_sack(&c, b + 1000, b, false, 3, 6000, 7000, 4000, 5000, 2000, 3000);
	cr_assert(take_data(&f));
	cr_assert_eq(f.seq, b + 1000);
	cr_assert_eq(take_all_data(seqs, 16), 0);
	/* s7: now 3000 octets SACKed above s3, which IsLost: sent */
	peer_sack(&c, b + 1000, b, false, 3, 6000, 8000, 4000, 5000, 2000, 3000);
	cr_assert(take_data(&f));
	cr_assert_eq(f.seq, b + 3000);
	cr_assert_eq(take_all_data(seqs, 16), 0);
	/* the retransmitted s1 arrives: partial ACK; s5 is not lost by
	 * IsLost but NextSeg's rule 3 sends it while pipe allows */
	peer_sack(&c, b + 3000, b, false, 2, 6000, 8000, 4000, 5000);
	cr_assert(take_data(&f));
	cr_assert_eq(f.seq, b + 5000);
	cr_assert_eq(f.len, 1000);
	for (uint32_t i = 0; i < f.len; i++)
		cr_assert_eq(f.data[i], pattern(4000 + 5000 + i));
	cr_assert_eq(take_all_data(seqs, 16), 0);
	nt_peer_ack(&c, b + 8000, 65535);
	cr_assert_eq(take_all_data(seqs, 16), 0);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_sack_recovery, 1);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_sack_rexmit, 3);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_retrans, 3);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_rto, 0);
	close_clean(&c);
}

/* The retransmission is lost too: further ACKs bring no new SACK
 * information, nothing is sent again until the RTO, which goes back to
 * snd_una with cwnd 1 segment. */
Test(net_sack, lost_retransmission_waits_for_the_rto)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t base, seqs[8];

	nt_open(&c, 7000, &SACK1000);
	base = c.una;
	send_pattern(&c, 0, 4000);
	cr_assert_eq(take_all_data(seqs, 8), 4);
	peer_sack(&c, base, base, false, 1, 1000, 2000);
	peer_sack(&c, base, base, false, 1, 1000, 3000);
	peer_sack(&c, base, base, false, 1, 1000, 4000);
	cr_assert(take_data(&f));
	cr_assert_eq(f.seq, base);
	/* lost; the peer repeats itself (a window update, say) */
	peer_sack(&c, base, base, true, 1, 1000, 4000);
	peer_sack(&c, base, base, true, 1, 1000, 4000);
	cr_assert_eq(take_all_data(seqs, 8), 0);
	nt_advance(199000);
	cr_assert_eq(take_all_data(seqs, 8), 0);
	nt_advance(1000); /* RTO: 200 ms (RTT 0; the minimum) */
	cr_assert_eq(take_all_data(seqs, 8), 1);
	cr_assert_eq(seqs[0], base);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_rto, 1);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_sack_rexmit, 1);
	nt_peer_ack(&c, base + 4000, 65535);
	cr_assert_eq(take_all_data(seqs, 8), 0);
	close_clean(&c);
}

/* A peer that reneges: it SACKed 1000-4000, then acknowledges only up to
 * 1000 and no longer reports the rest (it dropped it).  SACKed data is
 * not acknowledged data: it stays in the send ring, the RTO clears the
 * scoreboard and sends it again, byte for byte. */
Test(net_sack, reneging_peer_gets_the_sacked_data_after_the_rto)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t base, seqs[8];

	nt_open(&c, 7000, &SACK1000);
	base = c.una;
	send_pattern(&c, 0, 4000);
	cr_assert_eq(take_all_data(seqs, 8), 4);
	peer_sack(&c, base, base, false, 1, 1000, 2000);
	peer_sack(&c, base, base, false, 1, 1000, 3000);
	peer_sack(&c, base, base, false, 1, 1000, 4000);
	cr_assert(take_data(&f));
	cr_assert_eq(f.seq, base);
	nt_peer_ack(&c, base + 1000, 65535); /* reneged: no blocks */
	cr_assert_eq(take_all_data(seqs, 8), 0, "the scoreboard still says SACKed");
	nt_advance(1000000);
	cr_assert(take_data(&f), "RTO");
	cr_assert_eq(f.seq, base + 1000);
	cr_assert_eq(f.len, 1000);
	for (uint32_t i = 0; i < f.len; i++)
		cr_assert_eq(f.data[i], pattern(1000 + i));
	cr_assert_eq(net_stack_stats(nt.s)->tcp_rto, 1);
	nt_peer_ack(&c, base + 2000, 65535);
	cr_assert_eq(take_all_data(seqs, 8), 2); /* go-back: 2000, 3000 */
	cr_assert_eq(seqs[0], base + 2000);
	cr_assert_eq(seqs[1], base + 3000);
	nt_peer_ack(&c, base + 4000, 65535);
	close_clean(&c);
}

/* The tail is lost: nothing SACKed above the last segments, so no rule
 * but the rescue retransmission (RFC 6675 NextSeg 4) sends them before
 * the RTO.  s1 and s3 lost of four: s3 has no SACKed octet above it. */
Test(net_sack, rescue_retransmission_of_the_tail)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t b, seqs[16];

	nt_open(&c, 7000, &SACK1000);
	send_pattern(&c, 0, 4000);
	cr_assert_eq(take_all_data(seqs, 16), 4);
	for (uint32_t i = 1; i <= 4; i++)
		nt_peer_ack(&c, seqs[0] + 1000 * i, 65535);
	b = c.una;
	send_pattern(&c, 4000, 6000);
	cr_assert_eq(take_all_data(seqs, 16), 6);
	/* s0 and s5 lost; s1-s4 SACKed */
	peer_sack(&c, b, b, false, 1, 1000, 2000);
	peer_sack(&c, b, b, false, 1, 1000, 3000);
	peer_sack(&c, b, b, false, 1, 1000, 4000);
	cr_assert(take_data(&f));
	cr_assert_eq(f.seq, b);
	peer_sack(&c, b, b, false, 1, 1000, 5000);
	cr_assert_eq(take_all_data(seqs, 16), 0);
	/* s0 arrives: partial ACK; s5 is above every SACKed octet */
	nt_peer_ack(&c, b + 5000, 65535);
	cr_assert(take_data(&f), "rescue");
	cr_assert_eq(f.seq, b + 5000);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_sack_rescue, 1);
	nt_peer_ack(&c, b + 6000, 65535);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_rto, 0);
	close_clean(&c);
}

/* Receive side: while out-of-order data is held, our data segments carry
 * the SACK blocks too, their payload shortened to make room. */
Test(net_sack, our_data_segments_carry_sack_blocks)
{
	struct nt_conn c;
	struct nt_frame f;
	char d[100];

	memset(d, 'q', sizeof(d));
	nt_open(&c, 7000, &SACK1000);
	nt_send_tcp(c.pport, 80, c.pnxt + 100, c.una, F_ACK, 65535, &c.o, d, sizeof(d));
	nt_expect_tcp(&f);
	cr_assert_eq(f.n_sack, 1);
	send_pattern(&c, 0, 3000);
	cr_assert(take_data(&f));
	cr_assert_eq(f.n_sack, 1);
	cr_assert_eq(f.sack[0][0], c.pnxt + 100);
	cr_assert_eq(f.sack[0][1], c.pnxt + 200);
	cr_assert_eq(f.len, 1000 - 12, "payload shortened by the SACK option");
	while (take_data(&f))
		cr_assert_eq(f.n_sack, 1);
	nt_peer_ack(&c, c.una + 3000, 65535);
	nt_send_tcp(c.pport, 80, c.pnxt, c.una, F_ACK, 65535, &c.o, d, sizeof(d));
	c.pnxt += 200;
	nt_expect_tcp(&f);
	cr_assert_eq(f.ack, c.pnxt, "the hole filled");
	cr_assert_eq(f.n_sack, 0);
	close_clean(&c);
}

/* Forty segments in flight, every even one lost: twenty SACKed ranges,
 * more than the scoreboard's sixteen.  The highest ranges are given up
 * (they count as in flight), the recovery still repairs every hole, and
 * no segment the scoreboard holds as SACKed is sent again. */
Test(net_sack, scoreboard_overflow_still_recovers)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t b, off = 0, seqs[64], n, rexmit[40] = {0};
	bool got[40] = {false};

	nt_open(&c, 7000, &SACK1000);
	/* slow start to a cwnd of 64 segments */
	for (uint32_t k = 4; k <= 32; k *= 2) {
		send_pattern(&c, off, k * 1000);
		off += k * 1000;
		n = take_all_data(seqs, 64);
		cr_assert_eq(n, k, "%u segments, want %u", n, k);
		for (uint32_t i = 0; i < n; i++)
			nt_peer_ack(&c, seqs[i] + 1000, 65535);
	}
	b = c.una;
	send_pattern(&c, off, 40000);
	cr_assert_eq(take_all_data(seqs, 64), 40);
	/* the odd segments arrive; each ACK SACKs the newest range first,
	 * then the three before it (RFC 2018 4) */
	for (uint32_t i = 0; i < 20; i++) {
		uint32_t nb = i < 3 ? i + 1 : 4;

		c.o.n_sack = nb;
		for (uint32_t k = 0; k < nb; k++) {
			c.o.sack[k][0] = b + 1000 * (2 * (i - k) + 1);
			c.o.sack[k][1] = b + 1000 * (2 * (i - k) + 2);
		}
		c.o.tsval++;
		nt_send_tcp(c.pport, 80, c.pnxt, b, F_ACK, 65535, &c.o, NULL, 0);
		got[2 * i + 1] = true;
	}
	c.o.n_sack = 0;
	cr_assert_eq(net_stack_stats(nt.s)->tcp_sack_recovery, 1);
	/* the peer takes what is retransmitted and reports it, until done */
	for (int round = 0; round < 200; round++) {
		uint32_t cum = 0, nb = 0;

		while (take_data(&f)) {
			uint32_t k = (f.seq - b) / 1000;

			cr_assert_lt(k, 40);
			cr_assert(k % 2 == 0 || k > 31, "segment %u was SACKed on the scoreboard",
				  k);
			rexmit[k]++;
			got[k] = true;
		}
		while (cum < 40 && got[cum])
			cum++;
		if (cum == 40)
			break;
		c.o.n_sack = 0;
		for (uint32_t k = cum; k < 40 && nb < 4; k++)
			if (got[k] && (k == cum || !got[k - 1])) {
				uint32_t e = k;

				while (e < 40 && got[e])
					e++;
				c.o.sack[nb][0] = b + 1000 * k;
				c.o.sack[nb][1] = b + 1000 * e;
				nb++;
			}
		c.o.n_sack = nb;
		c.o.tsval++;
		c.una = b + 1000 * cum;
		nt_send_tcp(c.pport, 80, c.pnxt, c.una, F_ACK, 65535, &c.o, NULL, 0);
		c.o.n_sack = 0;
		if (nt_pending() == 0)
			nt_advance(100000);
	}
	for (uint32_t k = 0; k < 40; k += 2)
		cr_assert_geq(rexmit[k], 1, "hole %u never repaired", k);
	nt_peer_ack(&c, b + 40000, 65535);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_rto, 0);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_sack_recovery, 1);
	close_clean(&c);
}

/* The receiver's D-SACK (RFC 2883): a segment that arrives twice is
 * reported once, as the first SACK block of the ACK it causes: below
 * rcv_nxt alone, above it before the block that holds it.  Not without
 * SACK-permitted. */
Test(net_sack, duplicates_are_reported_by_dsack)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t p;

	nt_open(&c, 7000, &SACK1000);
	p = c.pnxt;
	nt_peer_data(&c, "abcd", 4);
	nt_send_tcp(c.pport, 80, p, c.una, F_ACK | F_PSH, 65535, &c.o, "abcd", 4);
	cr_assert(nt_take_tcp(&f));
	cr_assert_eq(f.ack, p + 4);
	cr_assert_eq(f.n_sack, 1, "a D-SACK block");
	cr_assert_eq(f.sack[0][0], p);
	cr_assert_eq(f.sack[0][1], p + 4);
	cr_assert(!nt_take_tcp(&f));
	/* once: the next ACK carries none */
	nt_peer_data(&c, "ef", 2);
	nt_advance(100000);
	cr_assert(nt_take_tcp(&f));
	cr_assert_eq(f.ack, p + 6);
	cr_assert_eq(f.n_sack, 0);
	/* out of order, twice: the duplicate, then the block holding it */
	nt_send_tcp(c.pport, 80, p + 10, c.una, F_ACK | F_PSH, 65535, &c.o, "klmn", 4);
	cr_assert(nt_take_tcp(&f));
	cr_assert_eq(f.n_sack, 1);
	nt_send_tcp(c.pport, 80, p + 12, c.una, F_ACK | F_PSH, 65535, &c.o, "mn", 2);
	cr_assert(nt_take_tcp(&f));
	cr_assert_eq(f.ack, p + 6);
	cr_assert_eq(f.n_sack, 2);
	cr_assert_eq(f.sack[0][0], p + 12);
	cr_assert_eq(f.sack[0][1], p + 14);
	cr_assert_eq(f.sack[1][0], p + 10);
	cr_assert_eq(f.sack[1][1], p + 14);
	nt_send_tcp(c.pport, 80, p + 6, c.una, F_ACK | F_PSH, 65535, &c.o, "ghij", 4);
	c.pnxt = p + 14;
	while (nt_take_tcp(&f))
		;
	close_clean(&c);
}

Test(net_sack, no_dsack_without_sack_permitted)
{
	struct nt_conn c;
	struct nt_frame f;
	const struct nt_opts o = {.mss = 1000, .ws = -1};
	uint32_t p;

	nt_open(&c, 7000, &o);
	p = c.pnxt;
	nt_peer_data(&c, "abcd", 4);
	nt_send_tcp(c.pport, 80, p, c.una, F_ACK | F_PSH, 65535, &c.o, "abcd", 4);
	cr_assert(nt_take_tcp(&f));
	cr_assert_eq(f.ack, p + 4);
	cr_assert_eq(f.n_sack, 0);
	close_clean(&c);
}
