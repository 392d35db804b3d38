// SPDX-License-Identifier: Apache-2.0
/*
 * TCP segmentation offload on the in-memory device (net_memdev_ops_tso):
 * the device checks each super-segment against NET_PKT_TX_TCP_SEG's
 * contract (tso_bad), logs it (size, segment size, flags) and cuts it into
 * wire segments, which the test then takes as the peer would receive
 * them.  The peer negotiated SACK and an MSS of 1000 without timestamps,
 * so segment k of a send starts at base + 1000 k.  Checked: the size and
 * flags of super-segments, their bounds (cwnd, the peer's window, the
 * config's and the port's caps), MSS-sized repair of a loss inside one
 * (RFC 6675 and RACK), go-back after an RTO, sequence wraparound, the
 * bytes delivered, and that every packet buffer comes back.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <string.h>

#include "dataplane/net/net_priv.h"
#include "net_test.h"

static const struct nt_opts SACK1000 = {.mss = 1000, .ws = -1, .sackok = true};
static struct net_port_ops tso_ops;

/* TSO port with the given bounds (0: none), config by cfg_fn. */
static void setup_tso(void (*cfg_fn)(struct net_cfg *c), uint32_t max_payload, uint16_t seg_mtu)
{
	tso_ops = net_memdev_ops_tso;
	tso_ops.tso_max_payload = max_payload;
	tso_ops.tso_seg_mtu = seg_mtu;
	nt_ops = &tso_ops;
	nt_setup(cfg_fn);
}

static void no_rack(struct net_cfg *c)
{
	c->no_rack_tlp = 1;
}

static void fini(void)
{
	nt_fini();
	nt_ops = NULL;
}

TestSuite(net_tso, .fini = fini, .timeout = 60);

static uint8_t pattern(uint32_t i)
{
	return (uint8_t)(i * 31u + 7u);
}

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

/* The next data segment (pure ACKs skipped), its checksums and bytes
 * checked against the pattern at its offset from base; false if none. */
static bool take_data(struct nt_frame *f, uint32_t base)
{
	while (nt_take_tcp(f)) {
		if (!f->len)
			continue;
		cr_assert(f->ip_csum_ok && f->tcp_csum_ok, "bad checksum on seq %u", f->seq);
		cr_assert_leq(f->len, 1000u);
		for (uint32_t i = 0; i < f->len; i++)
			cr_assert_eq(f->data[i], pattern(f->seq - base + i),
				     "byte %u of the stream is wrong", f->seq - base + i);
		return true;
	}
	return false;
}

/* The peer acknowledges ack with SACK blocks (start, end) given as offsets
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

/*
 * Takes what the stack sends and acknowledges it, every `every` data
 * segments (the last of a round at once), until base + total is
 * acknowledged.  Returns the largest super-segment payload logged.
 */
static uint32_t pump(struct nt_conn *c, uint32_t base, uint32_t total, uint32_t every)
{
	struct nt_frame f;
	uint32_t since = 0, end = c->una, rounds = 0;

	while (seq_lt(c->una, base + total)) {
		cr_assert_lt(rounds++, 100000u, "the transfer does not progress");
		if (take_data(&f, base)) {
			cr_assert_eq(f.seq, end, "a gap or a retransmission without loss");
			end = f.seq + f.len;
			if (++since >= every) {
				nt_peer_ack(c, end, 65535);
				since = 0;
			}
			continue;
		}
		cr_assert_neq(
		    end, c->una,
		    "nothing sent and nothing to acknowledge (una %u, total %u, snd_max %u)",
		    c->una - base, total, c->so->snd_max - base);
		nt_peer_ack(c, end, 65535);
		since = 0;
	}
	uint32_t max = 0;

	for (uint32_t i = 0; i < nt.dev.n_tso_log; i++)
		if (nt.dev.tso_log[i].payload > max)
			max = nt.dev.tso_log[i].payload;
	return max;
}

static void close_clean(struct nt_conn *c)
{
	struct nt_frame f;
	char b[256];

	while (net_recv(c->so, b, sizeof(b), nt.now) > 0)
		;
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
	cr_assert_eq(nt.dev.tso_bad, 0, "a super-segment broke the offload's contract");
	nt_check_no_leaks();
}

/* Opens, then grows cwnd to 8 segments: 4 sent, each acknowledged alone
 * (slow start: one MSS per ACK).  Returns the next byte's sequence. */
static uint32_t open_warm(struct nt_conn *c, uint32_t piss)
{
	struct nt_frame f;
	uint32_t base;

	nt_open(c, piss, &SACK1000);
	base = c->una;
	cr_assert_eq(c->so->cwnd, 4001u); /* the ACK of our SYN counted 1 */
	send_pattern(c, 0, 4000);
	for (int k = 0; k < 4; k++) {
		cr_assert(take_data(&f, base));
		nt_peer_ack(c, f.seq + f.len, 65535);
	}
	cr_assert_eq(c->una, base + 4000);
	cr_assert_eq(c->so->cwnd, 8001u);
	cr_assert_eq(nt_pending(), 0);
	return base;
}

Test(net_tso, super_segments_have_the_size_and_flags)
{
	struct nt_conn c;
	struct nt_frame f;
	const struct net_stats *st;
	uint32_t base;

	setup_tso(no_rack, 0, 0);
	nt_open(&c, 5000, &SACK1000);
	base = c.una;
	send_pattern(&c, 0, 20000);
	net_flush(nt.s);
	/* cwnd (4 segments) bounds the first: one super-segment of 4 */
	cr_assert_eq(nt.dev.n_tso_log, 1);
	cr_assert_eq(nt.dev.tso_log[0].seq, base);
	cr_assert_eq(nt.dev.tso_log[0].payload, 4000);
	cr_assert_eq(nt.dev.tso_log[0].segsz, 1000);
	cr_assert_eq(nt.dev.tso_log[0].segs, 4);
	cr_assert_eq(nt.dev.tso_log[0].bufs, 2); /* 54 + 4000 bytes in 2 KiB buffers */
	cr_assert_eq(nt.dev.tso_log[0].tcp_flags, F_ACK);
	cr_assert_eq(nt.dev.tso_bad, 0);
	st = net_stack_stats(nt.s);
	cr_assert_eq(st->tcp_tso_tx, 1);
	cr_assert_eq(st->tcp_tso_segs, 4);
	for (uint32_t k = 0; k < 4; k++) {
		cr_assert(take_data(&f, base));
		cr_assert_eq(f.seq, base + 1000 * k);
		cr_assert_eq(f.len, 1000);
		cr_assert_eq(f.flags, F_ACK);
	}
	cr_assert_eq(nt_pending(), 0);
	/* a partial ACK of it (2 of 4): cwnd 5000, flight 2000: 3 more leave
	 * as one super-segment after the rest of the first */
	nt_peer_ack(&c, base + 2000, 65535);
	cr_assert_eq(c.so->cwnd, 5001u);
	cr_assert_eq(nt.dev.n_tso_log, 2);
	cr_assert_eq(nt.dev.tso_log[1].seq, base + 4000);
	cr_assert_eq(nt.dev.tso_log[1].payload, 3000);
	for (uint32_t k = 0; k < 3; k++) {
		cr_assert(take_data(&f, base));
		cr_assert_eq(f.seq, base + 4000 + 1000 * k);
	}
	cr_assert_eq(nt_pending(), 0);
	/* the rest; the last super-segment carries PSH on its last segment */
	nt_peer_ack(&c, base + 7000, 65535);
	cr_assert_eq(nt.dev.tso_log[2].payload, 6000);
	cr_assert_leq(pump(&c, base, 20000, 1000), 20000);
	cr_assert_eq(nt.dev.tso_log[nt.dev.n_tso_log - 1].tcp_flags, F_ACK | F_PSH);
	cr_assert_eq(st->tcp_retrans, 0);
	cr_assert_eq(st->tcp_tso_tx, nt.dev.tso_frames);
	cr_assert_eq(st->tcp_tso_segs, nt.dev.tso_segs);
	close_clean(&c);
}

Test(net_tso, the_peer_window_bounds_a_super_segment_to_whole_segments)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t base;

	setup_tso(no_rack, 0, 0);
	nt_open(&c, 5000, &SACK1000);
	base = c.una;
	nt_peer_ack(&c, base, 2500); /* window 2500 < cwnd 4000 */
	send_pattern(&c, 0, 10000);
	net_flush(nt.s);
	cr_assert_eq(nt.dev.n_tso_log, 1);
	cr_assert_eq(nt.dev.tso_log[0].payload, 2000); /* not 2500: no runt */
	cr_assert(take_data(&f, base));
	cr_assert(take_data(&f, base));
	cr_assert_eq(f.seq, base + 1000);
	cr_assert_not(take_data(&f, base), "sent beyond the peer's window");
	nt_peer_ack(&c, base + 2000, 65535);
	pump(&c, base, 10000, 2);
	close_clean(&c);
}

static void cap3000(struct net_cfg *c)
{
	c->tso_max = 3000;
	c->no_rack_tlp = 1;
}

Test(net_tso, the_config_cap_bounds_super_segments)
{
	struct nt_conn c;
	uint32_t base;

	setup_tso(cap3000, 0, 0);
	nt_open(&c, 5000, &SACK1000);
	base = c.una;
	send_pattern(&c, 0, 60000);
	cr_assert_eq(pump(&c, base, 60000, 2), 3000);
	cr_assert_gt(nt.dev.tso_frames, 10);
	close_clean(&c);
}

Test(net_tso, the_port_bounds_the_super_and_the_wire_segments)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t base;

	/* at most 5000 bytes; each segment at most 1020 bytes of IPv4: 980 */
	setup_tso(no_rack, 5000, 1020);
	nt_open(&c, 5000, &SACK1000);
	base = c.una;
	send_pattern(&c, 0, 4000);
	net_flush(nt.s);
	cr_assert_eq(nt.dev.n_tso_log, 1);
	cr_assert_eq(nt.dev.tso_log[0].segsz, 980);
	cr_assert_eq(nt.dev.tso_log[0].payload, 4000); /* all the data: a short tail */
	cr_assert_eq(nt.dev.tso_log[0].segs, 5);
	for (uint32_t k = 0; k < 5; k++) {
		cr_assert(take_data(&f, base));
		cr_assert_eq(f.len, k < 4 ? 980u : 80u);
	}
	nt_peer_ack(&c, base + 4000, 65535);
	send_pattern(&c, 4000, 60000);
	uint32_t max = pump(&c, base, 64000, 2);

	cr_assert(max > 4000 && max <= 5000, "largest super-segment %u", max);
	for (uint32_t i = 0; i < nt.dev.n_tso_log; i++) {
		cr_assert_leq(nt.dev.tso_log[i].payload, 5000);
		cr_assert_eq(nt.dev.tso_log[i].segsz, 980);
	}
	close_clean(&c);
}

/* Takes every data segment sent; *hi: the highest end seen.  Returns
 * whether one started at seq. */
static bool drain(uint32_t base, uint32_t *hi, uint32_t seq)
{
	struct nt_frame f;
	bool seen = false;

	while (take_data(&f, base)) {
		seen |= f.seq == seq;
		if (seq_gt(f.seq + f.len, *hi))
			*hi = f.seq + f.len;
	}
	return seen;
}

Test(net_tso, a_loss_inside_a_super_segment_is_repaired_by_mss_retransmits)
{
	struct nt_conn c;
	struct nt_frame f;
	const struct net_stats *st;
	uint32_t base, logged, hi;

	setup_tso(no_rack, 0, 0);
	base = open_warm(&c, 5000); /* cwnd 8 segments */
	send_pattern(&c, 4000, 20000);
	net_flush(nt.s);
	cr_assert_eq(nt.dev.n_tso_log, 2); /* the warm-up's, this one */
	cr_assert_eq(nt.dev.tso_log[1].seq, base + 4000);
	cr_assert_eq(nt.dev.tso_log[1].payload, 8000);
	for (uint32_t k = 0; k < 8; k++) {
		cr_assert(take_data(&f, base));
		cr_assert_eq(f.seq, base + 4000 + 1000 * k);
	}
	hi = base + 12000;
	/* its segments 2 and 3 (6000, 7000) are lost; the peer acknowledges
	 * the others as they arrive: a partial ACK, then DupAcks with SACK */
	nt_peer_ack(&c, base + 5000, 65535);
	nt_peer_ack(&c, base + 6000, 65535);
	cr_assert_not(drain(base, &hi, base + 6000)); /* new data only */
	st = net_stack_stats(nt.s);
	logged = nt.dev.n_tso_log;
	/* (Limited Transmit: each of the first two lets one new segment out) */
	peer_sack(&c, base + 6000, base, 1, 8000, 9000);
	cr_assert_not(drain(base, &hi, base + 6000));
	peer_sack(&c, base + 6000, base, 1, 8000, 10000);
	cr_assert_not(drain(base, &hi, base + 6000));
	cr_assert_eq(st->tcp_retrans, 0);
	peer_sack(&c, base + 6000, base, 1, 8000, 11000); /* IsLost(6000) */
	cr_assert_eq(st->tcp_sack_recovery, 1);
	/* the holes go again one segment each, never as a super-segment */
	cr_assert(take_data(&f, base));
	cr_assert_eq(f.seq, base + 6000);
	cr_assert_eq(f.len, 1000);
	cr_assert_not(drain(base, &hi, base + 6000), "resent twice");
	/* 6000 arrived, and everything sent after the holes */
	peer_sack(&c, base + 7000, base, 1, 8000, hi - base);
	cr_assert(drain(base, &hi, base + 7000), "the second hole was not resent");
	cr_assert_eq(st->tcp_retrans, 2);
	cr_assert_eq(nt.dev.n_tso_log, logged, "a retransmission left as a super-segment");
	/* the peer has everything: recovery ends, the rest goes */
	nt_peer_ack(&c, hi, 65535);
	pump(&c, base, 24000, 2);
	cr_assert_eq(st->tcp_retrans, 2);
	close_clean(&c);
}

Test(net_tso, rack_finds_the_loss_before_a_sacked_part_of_a_super_segment)
{
	struct nt_conn c;
	struct nt_frame f;
	const struct net_stats *st;
	uint32_t base, hi;

	setup_tso(NULL, 0, 0); /* RACK-TLP on */
	base = open_warm(&c, 5000);
	send_pattern(&c, 4000, 8000);
	net_flush(nt.s);
	cr_assert_eq(nt.dev.tso_log[1].payload, 8000);
	for (uint32_t k = 0; k < 8; k++)
		cr_assert(take_data(&f, base));
	/* one RTT later: the first 2 arrived, 2 and 3 were lost, 4 arrived
	 * (5-7 still on their way): one SACKed segment is no DupThresh */
	nt.now += 1000;
	nt_peer_ack(&c, base + 6000, 65535);
	st = net_stack_stats(nt.s);
	cr_assert_eq(st->tcp_rack_lost, 0);
	peer_sack(&c, base + 6000, base, 1, 8000, 9000);
	/* RACK: the SACKed segment was sent after [6000, 8000) (at the same
	 * time, higher in sequence) and an RTT has passed: lost.  Only if the
	 * super-segment's record is split where the SACK starts. */
	cr_assert_geq(st->tcp_rack_lost, 1);
	cr_assert_eq(st->tcp_rack_recovery, 1);
	cr_assert(take_data(&f, base));
	cr_assert_eq(f.seq, base + 6000);
	cr_assert_eq(f.len, 1000);
	cr_assert_not(take_data(&f, base), "resent more than pipe allows");
	/* the retransmission and the rest of the super-segment arrived */
	nt.now += 1000;
	peer_sack(&c, base + 7000, base, 1, 8000, 12000);
	hi = base + 12000;
	cr_assert(drain(base, &hi, base + 7000), "the second lost segment was not resent");
	/* (no new data to send: RFC 6675's rescue retransmission resends
	 * the last hole once more) */
	cr_assert_eq(st->tcp_retrans - st->tcp_sack_rescue, 2);
	nt_peer_ack(&c, base + 12000, 65535);
	close_clean(&c);
}

Test(net_tso, after_an_rto_the_go_back_is_mss_sized_then_tso_resumes)
{
	struct nt_conn c;
	struct nt_frame f;
	const struct net_stats *st;
	uint32_t base, logged, max_rto, hi;

	setup_tso(no_rack, 0, 0);
	nt_open(&c, 5000, &SACK1000);
	base = c.una;
	send_pattern(&c, 0, 30000);
	net_flush(nt.s);
	cr_assert_eq(nt.dev.tso_log[0].payload, 4000);
	hi = base;
	drain(base, &hi, 0);
	nt_peer_ack(&c, base + 1000, 65535); /* the rest is lost */
	drain(base, &hi, 0);		     /* what that ACK let out (lost too) */
	logged = nt.dev.n_tso_log;
	max_rto = c.so->snd_max;
	cr_assert_eq(hi, max_rto);
	st = net_stack_stats(nt.s);
	nt_advance(3ull * 1000000);
	cr_assert_geq(st->tcp_rto, 1);
	cr_assert(take_data(&f, base));
	cr_assert_eq(f.seq, base + 1000);
	cr_assert_eq(f.len, 1000);
	cr_assert_not(take_data(&f, base)); /* cwnd: one segment */
	hi = base + 2000;
	/* going back over what was sent: one segment at a time; new data
	 * after it may be a super-segment again */
	while (seq_lt(c.una, max_rto)) {
		uint32_t was = c.una;

		nt_peer_ack(&c, hi, 65535);
		drain(base, &hi, 0);
		cr_assert(seq_gt(c.una, was));
	}
	for (uint32_t i = logged; i < nt.dev.n_tso_log; i++)
		cr_assert(seq_geq(nt.dev.tso_log[i].seq, max_rto),
			  "a retransmission left as a super-segment");
	nt_peer_ack(&c, hi, 65535);
	pump(&c, base, 30000, 2);
	cr_assert_gt(nt.dev.n_tso_log, logged, "no TSO after the recovery");
	close_clean(&c);
}

Test(net_tso, a_close_with_data_queued_puts_the_fin_on_the_last_segment_only)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t base, fins = 0, end = 0;

	setup_tso(no_rack, 0, 0);
	nt_open(&c, 5000, &SACK1000);
	base = c.una;
	nt_peer_ack(&c, base, 65535);
	send_pattern(&c, 0, 9000);
	net_close(c.so, nt.now); /* FIN_WAIT_1 with 5000 bytes not sent */
	cr_assert_str_eq(net_sock_state(c.so), "FIN_WAIT_1");
	nt_pending();
	cr_assert_eq(nt.dev.n_tso_log, 1);
	while (take_data(&f, base))
		end = f.seq + f.len;
	nt_peer_ack(&c, end, 65535); /* cwnd 5001: the rest and the FIN at once */
	for (;;) {
		uint32_t got = 0;

		while (take_data(&f, base)) {
			got++;
			fins += !!(f.flags & F_FIN);
			cr_assert(!(f.flags & F_FIN) || f.seq + f.len == base + 9000,
				  "FIN on a segment that is not the last");
			end = f.seq + f.len + !!(f.flags & F_FIN);
		}
		if (!got)
			break;
		nt_peer_ack(&c, end, 65535);
	}
	cr_assert_eq(fins, 1);
	cr_assert_eq(c.una, base + 9001);
	cr_assert_eq(nt.dev.n_tso_log, 2);
	cr_assert_eq(nt.dev.tso_log[1].payload, 5000);
	cr_assert_eq(nt.dev.tso_log[nt.dev.n_tso_log - 1].tcp_flags, F_ACK | F_PSH | F_FIN);
	cr_assert_str_eq(net_sock_state(c.so), "FIN_WAIT_2");
	nt_send_tcp(c.pport, 80, c.pnxt, c.una, F_FIN | F_ACK, 65535, &c.o, NULL, 0);
	nt_advance(61ull * 1000000);
	net_close(c.l, nt.now);
	cr_assert_eq(nt.dev.tso_bad, 0);
	nt_check_no_leaks();
}

static uint32_t isn_near_wrap(void *arg, const struct net_tuple *t)
{
	(void)arg;
	(void)t;
	return 0xfffff000u;
}

static void wrap_isn(struct net_cfg *cfg)
{
	cfg->isn = isn_near_wrap;
	cfg->no_rack_tlp = 1;
}

Test(net_tso, a_super_segment_across_2_to_the_32_and_its_repair)
{
	struct nt_conn c;
	struct nt_frame f;
	const struct net_stats *st;
	uint32_t base, s, hi;

	setup_tso(wrap_isn, 0, 0);
	base = open_warm(&c, 5000);
	cr_assert_eq(base, 0xfffff001u);
	send_pattern(&c, 4000, 40000);
	net_flush(nt.s);
	s = nt.dev.tso_log[1].seq;
	cr_assert_eq(s, base + 4000);
	cr_assert_eq(nt.dev.tso_log[1].payload, 8000);
	cr_assert_lt(s + 8000, s, "the super-segment does not cross 2^32");
	for (uint32_t k = 0; k < 8; k++) {
		cr_assert(take_data(&f, base));
		cr_assert_eq(f.seq, s + 1000 * k);
	}
	/* the segment holding 2^32 (offset 4095 from base: segment 0 of the
	 * super-segment holds 4000..4999) is lost */
	st = net_stack_stats(nt.s);
	hi = base + 12000;
	peer_sack(&c, base + 4000, base, 1, 5000, 6000);
	cr_assert_not(drain(base, &hi, base + 4000)); /* Limited Transmit */
	peer_sack(&c, base + 4000, base, 1, 5000, 7000);
	cr_assert_not(drain(base, &hi, base + 4000));
	peer_sack(&c, base + 4000, base, 1, 5000, 8000);
	cr_assert_eq(st->tcp_sack_recovery, 1);
	cr_assert(take_data(&f, base));
	cr_assert_eq(f.seq, base + 4000);
	cr_assert_eq(f.len, 1000);
	cr_assert_not(drain(base, &hi, base + 4000), "resent twice");
	nt_peer_ack(&c, hi, 65535);
	pump(&c, base, 44000, 2);
	cr_assert_eq(st->tcp_retrans, 1);
	close_clean(&c);
}

Test(net_tso, a_long_transfer_through_the_wrapping_send_ring_is_intact)
{
	struct nt_conn c;
	uint32_t base, off = 0;

	setup_tso(NULL, 0, 0);
	nt_open(&c, 5000, &SACK1000);
	base = c.una;
	/* 400 KB through a 64 KiB send ring, queued as room appears */
	while (off < 400000) {
		uint8_t b[7000];
		uint32_t n = 400000 - off < sizeof(b) ? 400000 - off : (uint32_t)sizeof(b);
		long r;

		for (uint32_t i = 0; i < n; i++)
			b[i] = pattern(off + i);
		r = net_send(c.so, b, n, nt.now);
		if (r > 0) {
			off += (uint32_t)r;
			continue;
		}
		cr_assert_eq(r, -EAGAIN);
		/* acknowledge all that is queued: room for more */
		pump(&c, base, c.so->sb_seq + c.so->sb_len - base, 2);
	}
	/* ACK-clocked: each ACK of two segments opens about three */
	cr_assert_geq(pump(&c, base, 400000, 2), 3000u);
	cr_assert_gt(nt.dev.tso_frames, 10);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_retrans, 0);
	close_clean(&c);
}

static void tso_off(struct net_cfg *c)
{
	c->no_tso = 1;
}

Test(net_tso, no_tso_sends_one_segment_per_frame)
{
	struct nt_conn c;
	uint32_t base;

	setup_tso(tso_off, 0, 0);
	nt_open(&c, 5000, &SACK1000);
	base = c.una;
	send_pattern(&c, 0, 20000);
	pump(&c, base, 20000, 2);
	cr_assert_eq(nt.dev.tso_frames, 0);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_tso_tx, 0);
	close_clean(&c);
}

static void bad_cap(struct net_cfg *c)
{
	c->tso_max = NET_TSO_MAX + 1;
}

Test(net_tso, a_cap_over_the_ipv4_limit_is_refused)
{
	struct net_cfg cfg;
	struct net_stack *s = NULL;
	struct net_memdev d;

	memset(&cfg, 0, sizeof(cfg));
	cfg.ip = US_IP;
	memcpy(cfg.mac, US_MAC, 6);
	bad_cap(&cfg);
	net_memdev_init(&d, 16);
	cr_assert_eq(net_stack_create(&s, &cfg, &net_memdev_ops_tso, &d), -EINVAL);
	cr_assert_null(s);
}

/*
 * Intel's i40e and iavf refuse in rte_eth_tx_prepare a TSO frame whose
 * tso_segsz is below 256 bytes (net_dpdk.c drops such a frame, and
 * its retransmission would be refused again were it a super-segment):
 * a peer's small MSS must not make
 * super-segments; at NET_TSO_SEG_MIN they are made again.
 */
static void small_mss_transfer(uint16_t mss, bool tso)
{
	const struct nt_opts o = {.mss = mss, .ws = -1, .sackok = true};
	struct nt_conn c;
	struct nt_frame f;
	uint32_t base, n = 0;

	setup_tso(no_rack, 0, 0);
	nt_open(&c, 5000, &o);
	cr_assert_eq(c.so->mss, mss);
	base = c.una;
	send_pattern(&c, 0, 4 * mss);
	net_flush(nt.s);
	cr_assert_eq(nt.dev.n_tso_log, tso ? 1u : 0u);
	if (tso)
		cr_assert_eq(nt.dev.tso_log[0].segsz, mss);
	while (take_data(&f, base)) {
		cr_assert_eq(f.seq, base + n * mss);
		cr_assert_eq(f.len, mss);
		n++;
	}
	cr_assert_eq(n, 4); /* cwnd: 4 segments */
	nt_peer_ack(&c, base + 4 * mss, 65535);
	send_pattern(&c, 4 * mss, 20000);
	pump(&c, base, 4 * mss + 20000, 2);
	if (!tso)
		cr_assert_eq(nt.dev.n_tso_log, 0, "a super-segment of %u-byte segments",
			     nt.dev.tso_log[0].segsz);
	else
		cr_assert_gt(nt.dev.n_tso_log, 1);
	close_clean(&c);
}

Test(net_tso, a_peer_mss_below_the_device_floor_gets_no_super_segments)
{
	small_mss_transfer(NET_TSO_SEG_MIN - 1, false);
}

Test(net_tso, a_peer_mss_at_the_device_floor_gets_super_segments)
{
	small_mss_transfer(NET_TSO_SEG_MIN, true);
}

/* The in-memory device drops a super-segment that breaks the contract
 * (here: no tso_segsz) as a device would, counts it in tso_bad, and
 * gives its buffers back. */
Test(net_tso, the_device_gives_a_refused_super_segment_back)
{
	struct net_pool *pool;
	struct net_pkt *p;
	uint32_t before;

	setup_tso(no_rack, 0, 0);
	pool = net_stack_pool(nt.s);
	before = pool->in_use;
	p = net_pkt_alloc(pool);
	cr_assert_not_null(p);
	p->frag = net_pkt_alloc(pool);
	cr_assert_not_null(p->frag);
	memset(p->data, 0, NET_L4_OFF + TCP_HLEN);
	p->data[12] = 0x08;
	p->data[ETH_HLEN] = 0x45;
	p->data[ETH_HLEN + 9] = 6;
	p->data[NET_L4_OFF + 12] = 5 << 4;
	p->len = NET_L4_OFF + TCP_HLEN;
	p->frag->len = 1000;
	p->flags = NET_PKT_TX_TCP_SEG | NET_PKT_TX_IP_CSUM | NET_PKT_TX_TCP_CSUM;
	cr_assert_eq(tso_ops.tx_burst(&nt.dev, &p, 1), 1);
	cr_assert_eq(nt.dev.tso_bad, 1);
	cr_assert_eq(pool->in_use, before, "the refused chain's buffers were not given back");
	nt.dev.tso_bad = 0;
}
