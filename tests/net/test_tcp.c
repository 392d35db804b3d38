// SPDX-License-Identifier: Apache-2.0
/*
 * TCP on the in-memory device, lwIP style: the test plays the remote host
 * (segments in), checks every segment the stack sends (segments out) and
 * drives the timers with the fake clock.  Every test ends asserting that
 * no buffer and no control block leaked.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "net_test.h"

static const struct nt_opts NO_OPTS = {.ws = -1};
static const struct nt_opts MSS1000 = {.mss = 1000, .ws = -1};

static void setup(void)
{
	nt_setup(NULL);
}

TestSuite(net_tcp, .init = setup, .fini = nt_fini, .timeout = 30);

static void finish(struct nt_conn *c)
{
	if (c->l)
		net_close(c->l, nt.now);
	c->l = NULL;
}

/* Ends a connection from the stack's side the clean way: close, the peer
 * acks the FIN and sends its own, TIME_WAIT runs out. */
static void close_clean(struct nt_conn *c)
{
	struct nt_frame f;

	net_close(c->so, nt.now);
	nt_expect_tcp(&f);
	cr_assert(f.flags & F_FIN);
	c->una = f.seq + f.len + 1;
	nt_peer_ack(c, c->una, 65535);
	c->o.tsval++;
	nt_send_tcp(c->pport, 80, c->pnxt, c->una, F_FIN | F_ACK, 65535, &c->o, NULL, 0);
	nt_expect_tcp(&f);
	cr_assert_eq(f.ack, c->pnxt + 1);
	nt_advance(61ull * 1000000);
	finish(c);
}

Test(net_tcp, passive_open_negotiates_options)
{
	struct nt_conn c;
	struct nt_opts o = {.mss = 1400, .ws = 7, .sackok = true, .ts = true, .tsval = 5000};
	struct nt_frame f;

	cr_assert_eq(net_listen(nt.s, 80, 8, &c.l), 0);
	nt_send_tcp(40000, 80, 1000, 0, F_SYN, 65535, &o, NULL, 0);
	nt_expect_tcp(&f);
	cr_assert_eq(f.flags, F_SYN | F_ACK);
	cr_assert_eq(f.ack, 1001);
	cr_assert(f.has_mss && f.mss == 1460);
	cr_assert(f.has_ws && f.ws == 1); /* 64 KiB buffer */
	cr_assert(f.has_sackok);
	cr_assert(f.has_ts && f.tsecr == 5000);
	cr_assert_eq(f.wnd, 65535);
	cr_assert_eq(net_accept(c.l, &c.so), -EAGAIN);
	o.tsval = 5001;
	o.tsecr = f.tsval;
	nt_send_tcp(40000, 80, 1001, f.seq + 1, F_ACK, 65535, &o, NULL, 0);
	cr_assert_eq(net_events(c.l), NET_EV_READABLE);
	cr_assert_eq(net_accept(c.l, &c.so), 0);
	cr_assert_str_eq(net_sock_state(c.so), "ESTABLISHED");
	cr_assert_eq(net_events(c.so), NET_EV_WRITABLE | NET_EV_CONNECTED);
	/* data segments carry timestamps; mss leaves room for them */
	char buf[3000];

	memset(buf, 'a', sizeof(buf));
	cr_assert_eq(net_send(c.so, buf, sizeof(buf), nt.now), 3000);
	nt_expect_tcp(&f);
	cr_assert_eq(f.len, 1400 - 12);
	cr_assert(f.has_ts && f.tsecr == 5001);
	cr_assert_eq(f.wnd, 32768); /* 65536 >> 1 */
	net_abort(c.so, nt.now);
	finish(&c);
	nt_check_no_leaks();
}

Test(net_tcp, passive_open_without_options)
{
	struct nt_conn c;
	struct nt_frame f;

	cr_assert_eq(net_listen(nt.s, 80, 8, &c.l), 0);
	nt_send_tcp(40000, 80, 1000, 0, F_SYN, 65535, &NO_OPTS, NULL, 0);
	nt_expect_tcp(&f);
	cr_assert(f.has_mss && !f.has_ws && !f.has_sackok && !f.has_ts);
	nt_send_tcp(40000, 80, 1001, f.seq + 1, F_ACK, 65535, NULL, NULL, 0);
	cr_assert_eq(net_accept(c.l, &c.so), 0);
	char buf[1000] = {0};

	cr_assert_eq(net_send(c.so, buf, sizeof(buf), nt.now), 1000);
	nt_expect_tcp(&f);
	cr_assert_eq(f.len, 536); /* RFC 9293: 536 without the option */
	net_abort(c.so, nt.now);
	finish(&c);
	nt_check_no_leaks();
}

Test(net_tcp, data_both_ways_and_delayed_ack)
{
	struct nt_conn c;
	struct nt_frame f;
	char buf[4000], in[4000];

	nt_open(&c, 7000, &MSS1000);
	nt_peer_data(&c, "hello", 5);
	cr_assert_eq(nt_pending(), 0, "the ACK is delayed");
	cr_assert_eq(net_events(c.so) & NET_EV_READABLE, NET_EV_READABLE);
	cr_assert_eq(net_recv(c.so, in, sizeof(in), nt.now), 5);
	cr_assert(memcmp(in, "hello", 5) == 0);
	cr_assert_eq(net_recv(c.so, in, sizeof(in), nt.now), -EAGAIN);
	nt_advance(39000);
	cr_assert_eq(nt_pending(), 0);
	nt_advance(1000);
	nt_expect_tcp(&f);
	cr_assert_eq(f.flags, F_ACK);
	cr_assert_eq(f.ack, c.pnxt);
	/* two segments: ACK at once (RFC 5681 4.2) */
	nt_peer_data(&c, "ab", 2);
	nt_peer_data(&c, "cd", 2);
	nt_expect_tcp(&f);
	cr_assert_eq(f.ack, c.pnxt);
	cr_assert_eq(net_recv(c.so, in, sizeof(in), nt.now), 4);
	/* the other way: 2500 bytes in segments of 1000 */
	for (int i = 0; i < 2500; i++)
		buf[i] = (char)i;
	cr_assert_eq(net_send(c.so, buf, 2500, nt.now), 2500);
	uint32_t got = 0;

	while (nt_take(&f)) {
		cr_assert_eq(f.seq, c.una + got);
		cr_assert(memcmp(f.data, buf + got, f.len) == 0);
		got += f.len;
	}
	cr_assert_eq(got, 2500);
	nt_peer_ack(&c, c.una + 2500, 65535);
	cr_assert_eq(nt_pending(), 0);
	close_clean(&c);
	nt_check_no_leaks();
}

Test(net_tcp, retransmission_after_loss_with_rto_backoff)
{
	struct nt_conn c;
	struct nt_frame f;

	nt_open(&c, 7000, &MSS1000);
	cr_assert_eq(net_send(c.so, "0123456789", 10, nt.now), 10);
	nt_expect_tcp(&f);
	cr_assert_eq(f.seq, c.una);
	/* the handshake's RTT sample was 0: RTO = the 200 ms minimum */
	nt_advance(199000);
	cr_assert_eq(nt_pending(), 0);
	nt_advance(1000); /* RTO 200 ms (cfg.rto_min_us's default) */
	nt_expect_tcp(&f);
	cr_assert_eq(f.seq, c.una);
	cr_assert_eq(f.len, 10);
	nt_advance(399000);
	cr_assert_eq(nt_pending(), 0);
	nt_advance(1000); /* doubled: 400 ms */
	nt_expect_tcp(&f);
	cr_assert_eq(f.seq, c.una);
	nt_advance(800000); /* 800 ms */
	nt_expect_tcp(&f);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_rto, 3);
	nt_peer_ack(&c, c.una + 10, 65535);
	nt_advance(20000000);
	cr_assert_eq(nt_pending(), 0);
	close_clean(&c);
	nt_check_no_leaks();
}

static void rto_50ms(struct net_cfg *c)
{
	c->rto_min_us = 50000;
	c->rto_max_retries = 16;
}

/* The minimum is the configured one (cfg.rto_min_us, the dpdk backend's
 * cheetah.tcp.rto_min_ms); each expiry doubles the RTO up to 60 s and no
 * further (RFC 6298 5.5, 2.5). */
Test(net_tcp, rto_minimum_is_configured_and_backoff_bounded, .init = NULL)
{
	struct nt_conn c;
	struct nt_frame f;
	uint64_t want = 50000, t = 0;

	nt_setup(rto_50ms);
	nt_open(&c, 7000, &MSS1000);
	cr_assert_eq(net_send(c.so, "0123456789", 10, nt.now), 10);
	nt_expect_tcp(&f);
	for (int i = 0; i < 14; i++) {
		/* (nt_take_tcp answers the ARP requests of a long test) */
		nt_advance(want - 1);
		cr_assert(!nt_take_tcp(&f), "expiry %d early", i);
		nt_advance(1);
		cr_assert(nt_take_tcp(&f), "expiry %d", i);
		cr_assert_eq(f.seq, c.una, "expiry %d", i);
		cr_assert_eq(f.len, 10);
		t += want;
		want = want * 2 > 60000000 ? 60000000 : want * 2;
	}
	cr_assert_eq(net_stack_stats(nt.s)->tcp_rto, 14);
	/* 50 ms .. 51.2 s doubling (11 expiries), then 60 s three times */
	cr_assert_eq(t, 50000ull * 2047 + 3 * 60000000ull);
	nt_advance(60000000 - 1);
	cr_assert(!nt_take_tcp(&f));
	nt_advance(1);
	cr_assert(nt_take_tcp(&f));
	while (nt_take_tcp(&f))
		;
	nt_peer_ack(&c, c.una + 10, 65535);
	close_clean(&c);
	nt_check_no_leaks();
}

static void rto_min_too_big(struct net_cfg *c)
{
	c->rto_min_us = 60000001;
}

Test(net_tcp, rto_minimum_over_the_maximum_is_refused)
{
	struct net_stack *s;
	struct net_memdev d;
	struct net_cfg c = nt.cfg;

	rto_min_too_big(&c);
	net_memdev_init(&d, 4);
	cr_assert_eq(net_stack_create(&s, &c, &net_memdev_ops, &d), -EINVAL);
}

Test(net_tcp, retransmissions_give_up_with_reset)
{
	struct nt_conn c;
	struct nt_frame f;
	int n = 0, rst = 0;

	nt_open(&c, 7000, &MSS1000);
	cr_assert_eq(net_send(c.so, "x", 1, nt.now), 1);
	for (int i = 0; i < 20; i++) {
		nt_advance(60000000);
		while (nt_take_tcp(&f)) {
			n++;
			rst += !!(f.flags & F_RST);
		}
	}
	cr_assert_eq(rst, 1, "n %d rst %d", n, rst);
	cr_assert_eq(n, 1 + 12 + 1); /* first, 12 retries, RST */
	cr_assert_eq(net_events(c.so) & NET_EV_ERR, NET_EV_ERR);
	cr_assert_eq(net_recv(c.so, &n, 1, nt.now), -ETIMEDOUT);
	cr_assert_eq(net_send(c.so, "x", 1, nt.now), -ETIMEDOUT);
	net_close(c.so, nt.now);
	finish(&c);
	nt_check_no_leaks();
}

Test(net_tcp, fast_retransmit_on_three_dup_acks_then_newreno_recovery)
{
	struct nt_conn c;
	struct nt_frame f;
	static char buf[4000];
	uint32_t base;

	nt_open(&c, 7000, &MSS1000);
	memset(buf, 'z', sizeof(buf));
	cr_assert_eq(net_send(c.so, buf, 4000, nt.now), 4000);
	base = c.una;
	for (int i = 0; i < 4; i++) { /* initial window 4 * 1000 */
		cr_assert(nt_take(&f), "segment %d", i);
		cr_assert_eq(f.seq, base + 1000u * (uint32_t)i);
	}
	cr_assert_eq(nt_pending(), 0);
	/* segment 1 lost: segments 2, 3, 4 produce duplicate ACKs */
	nt_peer_ack(&c, base, 65535);
	nt_peer_ack(&c, base, 65535);
	cr_assert_eq(nt_pending(), 0);
	nt_peer_ack(&c, base, 65535);
	cr_assert(nt_take(&f), "fast retransmit");
	cr_assert_eq(f.seq, base);
	cr_assert_eq(f.len, 1000);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_fast_retrans, 1);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_rto, 0);
	/* partial ACK (segment 3 lost too): retransmit it at once */
	nt_peer_ack(&c, base + 2000, 65535);
	nt_expect_tcp(&f);
	cr_assert_eq(f.seq, base + 2000);
	/* full ACK ends recovery */
	nt_peer_ack(&c, base + 4000, 65535);
	while (nt_take(&f))
		;
	cr_assert_eq(net_stack_stats(nt.s)->tcp_rto, 0);
	close_clean(&c);
	nt_check_no_leaks();
}

Test(net_tcp, reordering_goes_to_the_ooo_queue_with_sack)
{
	struct nt_conn c;
	struct nt_frame f;
	struct nt_opts o = {.mss = 1000, .ws = -1, .sackok = true};
	char d[300], in[400];
	uint32_t p;

	for (int i = 0; i < 300; i++)
		d[i] = (char)(i * 7);
	nt_open(&c, 7000, &o);
	p = c.pnxt;
	nt_send_tcp(40000, 80, p + 100, c.una, F_ACK, 65535, &c.o, d + 100, 100);
	nt_expect_tcp(&f);
	cr_assert_eq(f.ack, p);
	cr_assert_eq(f.n_sack, 1);
	cr_assert_eq(f.sack[0][0], p + 100);
	cr_assert_eq(f.sack[0][1], p + 200);
	cr_assert_eq(net_recv(c.so, in, sizeof(in), nt.now), -EAGAIN);
	nt_send_tcp(40000, 80, p + 250, c.una, F_ACK, 65535, &c.o, d + 250, 50);
	nt_expect_tcp(&f);
	cr_assert_eq(f.n_sack, 2);
	cr_assert_eq(f.sack[0][0], p + 250); /* the latest first */
	cr_assert_eq(f.sack[1][0], p + 100);
	nt_send_tcp(40000, 80, p + 200, c.una, F_ACK, 65535, &c.o, d + 200, 50);
	nt_expect_tcp(&f);
	cr_assert_eq(f.n_sack, 1);
	cr_assert_eq(f.sack[0][0], p + 100);
	cr_assert_eq(f.sack[0][1], p + 300);
	nt_send_tcp(40000, 80, p, c.una, F_ACK, 65535, &c.o, d, 100);
	nt_expect_tcp(&f);
	cr_assert_eq(f.ack, p + 300); /* hole filled: ACK at once */
	cr_assert_eq(f.n_sack, 0);
	cr_assert_eq(net_recv(c.so, in, sizeof(in), nt.now), 300);
	cr_assert(memcmp(in, d, 300) == 0);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_ooo, 3);
	c.pnxt = p + 300;
	close_clean(&c);
	nt_check_no_leaks();
}

Test(net_tcp, duplicates_are_acked_and_dropped)
{
	struct nt_conn c;
	struct nt_frame f;
	char in[100];
	uint32_t p;

	nt_open(&c, 7000, &MSS1000);
	p = c.pnxt;
	nt_peer_data(&c, "abcdef", 6);
	nt_send_tcp(40000, 80, p, c.una, F_ACK, 65535, &c.o, "abcdef", 6);
	nt_expect_tcp(&f); /* the duplicate is acknowledged at once */
	cr_assert_eq(f.ack, p + 6);
	/* a partial overlap: only the new bytes count */
	nt_send_tcp(40000, 80, p + 3, c.una, F_ACK, 65535, &c.o, "defgh", 5);
	c.pnxt = p + 8;
	nt_advance(100000);
	while (nt_take(&f))
		;
	cr_assert_eq(net_recv(c.so, in, sizeof(in), nt.now), 8);
	cr_assert(memcmp(in, "abcdefgh", 8) == 0);
	cr_assert_geq(net_stack_stats(nt.s)->tcp_dup, 2);
	close_clean(&c);
	nt_check_no_leaks();
}

Test(net_tcp, zero_window_and_persist_probes)
{
	struct nt_conn c;
	struct nt_frame f;

	nt_open(&c, 7000, &MSS1000);
	nt_peer_ack(&c, c.una, 0);
	cr_assert_eq(net_send(c.so, "0123456789", 10, nt.now), 10);
	cr_assert_eq(nt_pending(), 0, "nothing may be sent into a zero window");
	nt_advance(200000); /* the RTO: 200 ms (the minimum) */
	nt_expect_tcp(&f);
	cr_assert_eq(f.seq, c.una - 1); /* a probe */
	cr_assert_eq(f.len, 0);
	nt_peer_ack(&c, c.una, 0); /* still closed */
	nt_advance(200000);
	cr_assert_eq(nt_pending(), 0);
	nt_advance(200000); /* backed off to 400 ms */
	nt_expect_tcp(&f);
	cr_assert_eq(f.seq, c.una - 1);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_probe, 2);
	nt_peer_ack(&c, c.una, 65535); /* opens */
	nt_expect_tcp(&f);
	cr_assert_eq(f.len, 10);
	nt_peer_ack(&c, c.una + 10, 65535);
	nt_advance(100000000);
	cr_assert_eq(nt_pending(), 0);
	close_clean(&c);
	nt_check_no_leaks();
}

static void small_rcvbuf(struct net_cfg *cfg)
{
	cfg->rcvbuf = 2000;
}

Test(net_tcp, receive_window_fills_then_reopens, .init = NULL)
{
	struct nt_conn c;
	struct nt_frame f;
	char d[1000], in[4000];

	nt_setup(small_rcvbuf);
	memset(d, 'q', sizeof(d));
	nt_open(&c, 7000, &MSS1000);
	nt_peer_data(&c, d, 1000);
	nt_peer_data(&c, d, 1000);
	nt_expect_tcp(&f);
	cr_assert_eq(f.ack, c.pnxt);
	cr_assert_eq(f.wnd, 0);
	/* beyond the window: dropped, answered with the zero window */
	nt_send_tcp(40000, 80, c.pnxt, c.una, F_ACK, 65535, &c.o, d, 100);
	nt_expect_tcp(&f);
	cr_assert_eq(f.ack, c.pnxt);
	cr_assert_eq(f.wnd, 0);
	cr_assert_eq(net_recv(c.so, in, sizeof(in), nt.now), 2000);
	nt_expect_tcp(&f); /* window update */
	cr_assert_eq(f.wnd, 2000);
	close_clean(&c);
	nt_check_no_leaks();
}

Test(net_tcp, rst_in_syn_received_frees_the_half_open_connection)
{
	struct net_sock *l;
	struct nt_frame f;

	cr_assert_eq(net_listen(nt.s, 80, 8, &l), 0);
	nt_send_tcp(40000, 80, 1000, 0, F_SYN, 65535, &NO_OPTS, NULL, 0);
	nt_expect_tcp(&f);
	cr_assert_eq(net_stack_socks_in_use(nt.s), 2);
	nt_send_tcp(40000, 80, 1001, 0, F_RST, 0, NULL, NULL, 0);
	cr_assert_eq(net_stack_socks_in_use(nt.s), 1);
	cr_assert_eq(nt_pending(), 0);
	net_close(l, nt.now);
	nt_check_no_leaks();
}

Test(net_tcp, rst_in_established_resets_and_checks_sequence)
{
	struct nt_conn c;
	struct nt_frame f;
	char in[10];

	nt_open(&c, 7000, &MSS1000);
	/* out of the window: ignored */
	nt_send_tcp(40000, 80, c.pnxt + 100000, 0, F_RST, 0, NULL, NULL, 0);
	cr_assert_eq(nt_pending(), 0);
	/* in the window but not exact: challenge ACK (RFC 5961 3.2) */
	nt_send_tcp(40000, 80, c.pnxt + 10, 0, F_RST, 0, NULL, NULL, 0);
	nt_expect_tcp(&f);
	cr_assert_eq(f.flags, F_ACK);
	cr_assert_eq(f.ack, c.pnxt);
	cr_assert_str_eq(net_sock_state(c.so), "ESTABLISHED");
	/* a SYN on the connection: challenge ACK too (RFC 5961 4.2) */
	nt_send_tcp(40000, 80, c.pnxt + 5, 0, F_SYN, 0, NULL, NULL, 0);
	nt_expect_tcp(&f);
	cr_assert_eq(f.flags, F_ACK);
	cr_assert_str_eq(net_sock_state(c.so), "ESTABLISHED");
	/* exact: reset */
	nt_send_tcp(40000, 80, c.pnxt, 0, F_RST, 0, NULL, NULL, 0);
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(net_recv(c.so, in, sizeof(in), nt.now), -ECONNRESET);
	cr_assert(net_events(c.so) & NET_EV_ERR);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_rst_rx, 1);
	net_close(c.so, nt.now);
	finish(&c);
	nt_check_no_leaks();
}

/* Drives a connection into a closing state, then resets it. */
static void rst_in_state(const char *state)
{
	struct nt_conn c;
	struct nt_frame f;

	nt_open(&c, 7000, &MSS1000);
	if (!strcmp(state, "CLOSE_WAIT") || !strcmp(state, "LAST_ACK")) {
		nt_send_tcp(40000, 80, c.pnxt, c.una, F_FIN | F_ACK, 65535, &c.o, NULL, 0);
		c.pnxt++;
		nt_expect_tcp(&f);
		if (!strcmp(state, "LAST_ACK")) {
			net_close(c.so, nt.now);
			nt_expect_tcp(&f);
			cr_assert(f.flags & F_FIN);
		}
	} else {
		net_close(c.so, nt.now);
		nt_expect_tcp(&f);
		cr_assert(f.flags & F_FIN);
		if (!strcmp(state, "FIN_WAIT_2") || !strcmp(state, "TIME_WAIT"))
			nt_peer_ack(&c, f.seq + 1, 65535);
		if (!strcmp(state, "CLOSING")) {
			nt_send_tcp(40000, 80, c.pnxt, c.una, F_FIN | F_ACK, 65535, &c.o, NULL, 0);
			c.pnxt++;
			nt_expect_tcp(&f);
		}
		if (!strcmp(state, "TIME_WAIT")) {
			nt_send_tcp(40000, 80, c.pnxt, f.seq + 1, F_FIN | F_ACK, 65535, &c.o, NULL,
				    0);
			c.pnxt++;
			nt_expect_tcp(&f);
		}
	}
	cr_assert_eq(net_stack_socks_in_use(nt.s), 2);
	nt_send_tcp(40000, 80, c.pnxt, 0, F_RST, 0, NULL, NULL, 0);
	cr_assert_eq(nt_pending(), 0);
	if (!strcmp(state, "CLOSE_WAIT")) {
		char in[4];

		cr_assert_eq(net_recv(c.so, in, 4, nt.now), -ECONNRESET);
		net_close(c.so, nt.now);
	}
	cr_assert_eq(net_stack_socks_in_use(nt.s), 1, "in %s", state);
	finish(&c);
	nt_check_no_leaks();
}

Test(net_tcp, rst_in_close_wait)
{
	rst_in_state("CLOSE_WAIT");
}
Test(net_tcp, rst_in_last_ack)
{
	rst_in_state("LAST_ACK");
}
Test(net_tcp, rst_in_fin_wait_1)
{
	rst_in_state("FIN_WAIT_1");
}
Test(net_tcp, rst_in_fin_wait_2)
{
	rst_in_state("FIN_WAIT_2");
}
Test(net_tcp, rst_in_closing)
{
	rst_in_state("CLOSING");
}
Test(net_tcp, rst_in_time_wait)
{
	rst_in_state("TIME_WAIT");
}

Test(net_tcp, rst_in_syn_sent_refuses)
{
	struct net_sock *so;
	struct nt_frame f;
	char in[4];

	nt_send_arp(1, PEER_IP, PEER_MAC, US_IP);
	cr_assert(nt_take(&f));
	cr_assert_eq(net_connect(nt.s, PEER_IP, 2181, nt.now, &so), 0);
	net_flush(nt.s);
	nt_expect_tcp(&f);
	cr_assert_eq(f.flags, F_SYN);
	/* an RST that does not acknowledge the SYN is ignored */
	nt_send_tcp(2181, f.sport, 0, f.seq, F_RST | F_ACK, 0, NULL, NULL, 0);
	cr_assert_str_eq(net_sock_state(so), "SYN_SENT");
	nt_send_tcp(2181, f.sport, 0, f.seq + 1, F_RST | F_ACK, 0, NULL, NULL, 0);
	cr_assert_eq(net_recv(so, in, 4, nt.now), -ECONNREFUSED);
	net_close(so, nt.now);
	nt_check_no_leaks();
}

Test(net_tcp, active_open)
{
	struct net_sock *so;
	struct nt_frame f;
	struct nt_opts o = {.mss = 1460, .ws = 2, .sackok = true, .ts = true, .tsval = 77};
	char in[10];

	nt_send_arp(1, PEER_IP, PEER_MAC, US_IP);
	cr_assert(nt_take(&f));
	cr_assert_eq(net_connect(nt.s, PEER_IP, 2181, nt.now, &so), 0);
	net_flush(nt.s);
	nt_expect_tcp(&f);
	cr_assert_eq(f.flags, F_SYN);
	cr_assert(f.has_mss && f.has_ws && f.has_sackok && f.has_ts);
	cr_assert_eq(net_events(so) & NET_EV_CONNECTED, 0);
	o.tsecr = f.tsval;
	nt_send_tcp(2181, f.sport, 5000, f.seq + 1, F_SYN | F_ACK, 1000, &o, NULL, 0);
	cr_assert_str_eq(net_sock_state(so), "ESTABLISHED");
	cr_assert(net_events(so) & NET_EV_CONNECTED);
	struct nt_frame a;

	nt_expect_tcp(&a);
	cr_assert_eq(a.flags, F_ACK);
	cr_assert_eq(a.ack, 5001);
	o.tsval++;
	nt_send_tcp(2181, f.sport, 5001, f.seq + 1, F_ACK | F_PSH, 1000, &o, "ruok", 4);
	cr_assert_eq(net_recv(so, in, sizeof(in), nt.now), 4);
	net_abort(so, nt.now);
	nt_expect_tcp(&a);
	cr_assert(a.flags & F_RST);
	nt_check_no_leaks();
}

Test(net_tcp, simultaneous_close)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t fin;

	nt_open(&c, 7000, &MSS1000);
	net_close(c.so, nt.now);
	nt_expect_tcp(&f);
	cr_assert(f.flags & F_FIN);
	fin = f.seq;
	cr_assert_str_eq(net_sock_state(c.so), "FIN_WAIT_1");
	/* the peer's FIN crosses ours: it does not acknowledge our FIN */
	nt_send_tcp(40000, 80, c.pnxt, fin, F_FIN | F_ACK, 65535, &c.o, NULL, 0);
	nt_expect_tcp(&f);
	cr_assert_eq(f.ack, c.pnxt + 1);
	cr_assert_str_eq(net_sock_state(c.so), "CLOSING");
	c.pnxt++;
	nt_peer_ack(&c, fin + 1, 65535);
	cr_assert_str_eq(net_sock_state(c.so), "TIME_WAIT");
	cr_assert_eq(net_stack_socks_in_use(nt.s), 2);
	nt_advance(59000000);
	cr_assert_eq(net_stack_socks_in_use(nt.s), 2);
	nt_advance(1000000); /* 2 * MSL (30 s) */
	cr_assert_eq(net_stack_socks_in_use(nt.s), 1);
	finish(&c);
	nt_check_no_leaks();
}

Test(net_tcp, fin_wait_and_time_wait)
{
	struct nt_conn c;
	struct nt_frame f;
	uint32_t fin;

	nt_open(&c, 7000, &MSS1000);
	net_close(c.so, nt.now);
	nt_expect_tcp(&f);
	fin = f.seq;
	nt_peer_ack(&c, fin + 1, 65535);
	cr_assert_str_eq(net_sock_state(c.so), "FIN_WAIT_2");
	cr_assert_eq(nt_pending(), 0);
	nt_send_tcp(40000, 80, c.pnxt, fin + 1, F_FIN | F_ACK, 65535, &c.o, NULL, 0);
	nt_expect_tcp(&f);
	cr_assert_eq(f.ack, c.pnxt + 1);
	cr_assert_str_eq(net_sock_state(c.so), "TIME_WAIT");
	nt_advance(30000000);
	/* the FIN again (our ACK was lost): ACKed, 2 MSL restarts */
	nt_send_tcp(40000, 80, c.pnxt, fin + 1, F_FIN | F_ACK, 65535, &c.o, NULL, 0);
	nt_expect_tcp(&f);
	cr_assert_eq(f.ack, c.pnxt + 1);
	nt_advance(40000000);
	cr_assert_eq(net_stack_socks_in_use(nt.s), 2);
	nt_advance(20000000);
	cr_assert_eq(net_stack_socks_in_use(nt.s), 1);
	finish(&c);
	nt_check_no_leaks();
}

Test(net_tcp, peer_closes_first_close_wait_last_ack)
{
	struct nt_conn c;
	struct nt_frame f;
	char in[10];

	nt_open(&c, 7000, &MSS1000);
	nt_peer_data(&c, "bye", 3);
	nt_send_tcp(40000, 80, c.pnxt, c.una, F_FIN | F_ACK, 65535, &c.o, NULL, 0);
	c.pnxt++;
	nt_expect_tcp(&f);
	cr_assert_eq(f.ack, c.pnxt);
	cr_assert_str_eq(net_sock_state(c.so), "CLOSE_WAIT");
	cr_assert(net_events(c.so) & NET_EV_HUP);
	cr_assert_eq(net_recv(c.so, in, sizeof(in), nt.now), 3);
	cr_assert_eq(net_recv(c.so, in, sizeof(in), nt.now), 0);
	cr_assert_eq(net_send(c.so, "ok", 2, nt.now), 2); /* half close */
	nt_expect_tcp(&f);
	cr_assert_eq(f.len, 2);
	net_close(c.so, nt.now);
	nt_expect_tcp(&f);
	cr_assert(f.flags & F_FIN);
	cr_assert_eq(f.seq, c.una + 2);
	nt_peer_ack(&c, f.seq + 1, 65535);
	cr_assert_eq(net_stack_socks_in_use(nt.s), 1); /* no TIME_WAIT */
	finish(&c);
	nt_check_no_leaks();
}

static void big_rcvbuf(struct net_cfg *cfg)
{
	cfg->rcvbuf = 1u << 20;
}

Test(net_tcp, window_scaling, .init = NULL)
{
	struct nt_conn c;
	struct nt_frame f;
	struct nt_opts o = {.mss = 1460, .ws = 7};
	static char buf[5000];

	nt_setup(big_rcvbuf);
	cr_assert_eq(net_listen(nt.s, 80, 8, &c.l), 0);
	nt_send_tcp(40000, 80, 1000, 0, F_SYN, 65535, &o, NULL, 0);
	nt_expect_tcp(&f);
	cr_assert(f.has_ws);
	cr_assert_eq(f.ws, 5);	    /* 1 MiB >> 5 fits in 16 bits */
	cr_assert_eq(f.wnd, 65535); /* a SYN's window is never scaled */
	/* the ACK's window 8 means 8 << 7 = 1024 bytes */
	nt_send_tcp(40000, 80, 1001, f.seq + 1, F_ACK, 8, &o, NULL, 0);
	cr_assert_eq(net_accept(c.l, &c.so), 0);
	cr_assert_eq(net_send(c.so, buf, sizeof(buf), nt.now), 5000);
	nt_expect_tcp(&f);
	cr_assert_eq(f.len, 1024);
	cr_assert_eq(f.wnd, (1u << 20) >> 5);
	cr_assert_eq(nt_pending(), 0);
	net_abort(c.so, nt.now);
	finish(&c);
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
}

Test(net_tcp, sequence_numbers_wrap_around, .init = NULL)
{
	struct nt_conn c;
	struct nt_frame f;
	static char out[20000], in[20000], got[20000];
	uint32_t sent = 0, rcvd = 0;

	nt_setup(wrap_isn);
	for (int i = 0; i < 20000; i++) {
		out[i] = (char)(i * 13);
		in[i] = (char)(i * 17);
	}
	nt_open(&c, 0xfffff800u, &MSS1000);
	cr_assert_eq(c.iss, 0xfffff000u);
	/* the peer's data crosses 2^32 */
	for (uint32_t off = 0; off < 20000; off += 1000) {
		nt_peer_data(&c, in + off, 1000);
		long n = net_recv(c.so, got + rcvd, sizeof(got) - rcvd, nt.now);

		cr_assert_gt(n, 0);
		rcvd += (uint32_t)n;
	}
	cr_assert_eq(rcvd, 20000);
	cr_assert(memcmp(in, got, 20000) == 0);
	cr_assert_eq(c.pnxt, 0xfffff801u + 20000);
	/* ours too */
	while (sent < 20000) {
		long n = net_send(c.so, out + sent, 20000 - sent, nt.now);

		if (n > 0)
			sent += (uint32_t)n;
		while (nt_take(&f)) {
			if (!f.len)
				continue;
			cr_assert_eq(f.seq, c.una);
			cr_assert(memcmp(f.data, out + (f.seq - 0xfffff001u), f.len) == 0);
			nt_peer_ack(&c, f.seq + f.len, 65535);
		}
	}
	while (nt_take(&f))
		if (f.len)
			nt_peer_ack(&c, f.seq + f.len, 65535);
	cr_assert_eq(c.una, 0xfffff001u + 20000);
	close_clean(&c);
	nt_check_no_leaks();
}

static void no_cookies(struct net_cfg *cfg)
{
	cfg->no_syncookies = 1;
}

/* Without SYN cookies (test_syncookie.c has them) a full backlog drops. */
Test(net_tcp, syn_backlog_bound, .init = NULL)
{
	struct net_sock *l, *a;
	struct nt_frame f;

	nt_setup(no_cookies);
	cr_assert_eq(net_listen(nt.s, 80, 2, &l), 0);
	nt_send_tcp(40001, 80, 100, 0, F_SYN, 65535, &NO_OPTS, NULL, 0);
	nt_expect_tcp(&f);
	nt_send_tcp(40002, 80, 200, 0, F_SYN, 65535, &NO_OPTS, NULL, 0);
	nt_expect_tcp(&f);
	uint32_t iss2 = f.seq;

	nt_send_tcp(40003, 80, 300, 0, F_SYN, 65535, &NO_OPTS, NULL, 0);
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_syn_drop, 1);
	/* completing one does not make room: it waits in the accept queue */
	nt_send_tcp(40002, 80, 201, iss2 + 1, F_ACK, 65535, NULL, NULL, 0);
	nt_send_tcp(40003, 80, 300, 0, F_SYN, 65535, &NO_OPTS, NULL, 0);
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_syn_drop, 2);
	cr_assert_eq(net_accept(l, &a), 0);
	nt_send_tcp(40003, 80, 300, 0, F_SYN, 65535, &NO_OPTS, NULL, 0);
	nt_expect_tcp(&f);
	cr_assert_eq(f.flags, F_SYN | F_ACK);
	net_abort(a, nt.now);
	while (nt_take(&f))
		;
	/* closing the listener frees its half-open children */
	net_close(l, nt.now);
	nt_check_no_leaks();
}

Test(net_tcp, syn_ack_retransmitted_then_half_open_expires)
{
	struct net_sock *l;
	struct nt_frame f;
	int n = 0;

	cr_assert_eq(net_listen(nt.s, 80, 2, &l), 0);
	nt_send_tcp(40001, 80, 100, 0, F_SYN, 65535, &NO_OPTS, NULL, 0);
	nt_expect_tcp(&f);
	nt_send_tcp(40001, 80, 100, 0, F_SYN, 65535, &NO_OPTS, NULL, 0);
	nt_expect_tcp(&f); /* a repeated SYN gets the SYN-ACK again */
	cr_assert_eq(f.flags, F_SYN | F_ACK);
	for (int i = 0; i < 10; i++) {
		nt_advance(60000000);
		while (nt_take_tcp(&f))
			n++;
	}
	cr_assert_eq(n, 6, "n %d", n);
	cr_assert_eq(net_stack_socks_in_use(nt.s), 1);
	net_close(l, nt.now);
	nt_check_no_leaks();
}

Test(net_tcp, no_listener_answers_rst)
{
	struct nt_frame f;

	nt_send_tcp(40000, 81, 1000, 0, F_SYN, 65535, &NO_OPTS, NULL, 0);
	nt_expect_tcp(&f);
	cr_assert_eq(f.flags, F_RST | F_ACK);
	cr_assert_eq(f.seq, 0);
	cr_assert_eq(f.ack, 1001);
	nt_send_tcp(40000, 81, 1000, 5555, F_ACK, 65535, NULL, "x", 1);
	nt_expect_tcp(&f);
	cr_assert_eq(f.flags, F_RST);
	cr_assert_eq(f.seq, 5555);
	nt_send_tcp(40000, 81, 1000, 5555, F_RST, 65535, NULL, NULL, 0);
	cr_assert_eq(nt_pending(), 0); /* never an RST for an RST */
	cr_assert_eq(net_stack_stats(nt.s)->tcp_no_sock, 3);
	nt_check_no_leaks();
}

Test(net_tcp, bad_tcp_checksum_dropped)
{
	uint8_t th[20] = {0x9c, 0x40, 0,    80,	   0,	 0,    3,    0xe8, 0, 0,
			  0,	0,    0x50, F_SYN, 0xff, 0xff, 0x12, 0x34, 0, 0};
	uint8_t b[100];

	nt_inject_raw(b, nt_build_ipv4(b, PEER_IP, US_IP, 6, th, 20));
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_bad_csum, 1);
	nt_check_no_leaks();
}

Test(net_tcp, paws_drops_old_timestamps)
{
	struct nt_conn c;
	struct nt_frame f;
	struct nt_opts o = {.mss = 1000, .ws = -1, .ts = true, .tsval = 1000};
	char in[10];

	nt_open(&c, 7000, &o);
	c.o.tsval = 500; /* older than ts_recent */
	nt_send_tcp(40000, 80, c.pnxt, c.una, F_ACK, 65535, &c.o, "old", 3);
	nt_expect_tcp(&f);
	cr_assert_eq(f.ack, c.pnxt);
	cr_assert_eq(net_recv(c.so, in, sizeof(in), nt.now), -EAGAIN);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_paws_drop, 1);
	c.o.tsval = 2000;
	close_clean(&c);
	nt_check_no_leaks();
}

static void keepalive_cfg(struct net_cfg *cfg)
{
	cfg->keepalive_idle_us = 10000000;
	cfg->keepalive_intvl_us = 1000000;
	cfg->keepalive_cnt = 3;
}

Test(net_tcp, keepalive_probes_then_reset, .init = NULL)
{
	struct nt_conn c;
	struct nt_frame f;
	char in[4];

	nt_setup(keepalive_cfg);
	nt_open(&c, 7000, &MSS1000);
	nt_advance(9999000);
	cr_assert_eq(nt_pending(), 0);
	nt_advance(1000);
	nt_expect_tcp(&f);
	cr_assert_eq(f.seq, c.una - 1);
	nt_peer_ack(&c, c.una, 65535); /* answered: idle again */
	nt_advance(9000000);
	cr_assert_eq(nt_pending(), 0);
	for (int i = 0; i < 3; i++) {
		nt_advance(1000000);
		nt_expect_tcp(&f);
		cr_assert_eq(f.len, 0);
	}
	nt_advance(1000000);
	nt_expect_tcp(&f);
	cr_assert(f.flags & F_RST);
	cr_assert_eq(net_recv(c.so, in, 4, nt.now), -ETIMEDOUT);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_keepalive, 4);
	net_close(c.so, nt.now);
	finish(&c);
	nt_check_no_leaks();
}

Test(net_tcp, close_with_unread_data_resets)
{
	struct nt_conn c;
	struct nt_frame f;

	nt_open(&c, 7000, &MSS1000);
	nt_peer_data(&c, "unread", 6);
	net_close(c.so, nt.now);
	nt_expect_tcp(&f);
	cr_assert(f.flags & F_RST);
	finish(&c);
	nt_check_no_leaks();
}

Test(net_tcp, send_buffer_is_bounded)
{
	struct nt_conn c;
	static char buf[100000];
	struct nt_frame f;

	nt_open(&c, 7000, &MSS1000);
	nt_peer_ack(&c, c.una, 0);
	cr_assert_eq(net_send(c.so, buf, sizeof(buf), nt.now), 65536);
	cr_assert_eq(net_send(c.so, buf, 1, nt.now), -EAGAIN);
	cr_assert_eq(net_events(c.so) & NET_EV_WRITABLE, 0);
	while (nt_take(&f))
		;
	net_abort(c.so, nt.now);
	while (nt_take(&f))
		;
	finish(&c);
	nt_check_no_leaks();
}

Test(net_tcp, orphaned_fin_wait_2_is_bounded)
{
	struct nt_conn c;
	struct nt_frame f;

	nt_open(&c, 7000, &MSS1000);
	net_close(c.so, nt.now);
	nt_expect_tcp(&f);
	nt_peer_ack(&c, f.seq + 1, 65535);
	cr_assert_eq(net_stack_socks_in_use(nt.s), 2);
	nt_advance(59000000);
	cr_assert_eq(net_stack_socks_in_use(nt.s), 2);
	nt_advance(1000000); /* 2 * MSL: the peer never sent its FIN */
	cr_assert_eq(net_stack_socks_in_use(nt.s), 1);
	finish(&c);
	nt_check_no_leaks();
}

Test(net_tcp, orphan_facing_a_zero_window_gives_up)
{
	struct nt_conn c;
	struct nt_frame f;
	int rst = 0;

	nt_open(&c, 7000, &MSS1000);
	nt_peer_ack(&c, c.una, 0);
	cr_assert_eq(net_send(c.so, "data", 4, nt.now), 4);
	net_close(c.so, nt.now);
	for (int i = 0; i < 20; i++) {
		nt_advance(60000000);
		while (nt_take_tcp(&f)) {
			rst += !!(f.flags & F_RST);
			if (!(f.flags & F_RST))
				nt_peer_ack(&c, c.una, 0); /* still closed */
		}
	}
	cr_assert_eq(rst, 1);
	cr_assert_eq(net_stack_socks_in_use(nt.s), 1);
	finish(&c);
	nt_check_no_leaks();
}

Test(net_tcp, closing_a_listener_resets_its_unaccepted_connections)
{
	struct net_sock *l;
	struct nt_frame f;
	uint32_t iss;

	cr_assert_eq(net_listen(nt.s, 80, 4, &l), 0);
	nt_send_tcp(40001, 80, 100, 0, F_SYN, 65535, &NO_OPTS, NULL, 0);
	nt_expect_tcp(&f);
	iss = f.seq;
	nt_send_tcp(40001, 80, 101, iss + 1, F_ACK, 65535, NULL, NULL, 0);
	nt_send_tcp(40002, 80, 200, 0, F_SYN, 65535, &NO_OPTS, NULL, 0);
	nt_expect_tcp(&f);
	cr_assert_eq(net_stack_socks_in_use(nt.s), 3);
	net_close(l, nt.now);
	nt_expect_tcp(&f);
	cr_assert(f.flags & F_RST);
	nt_expect_tcp(&f);
	cr_assert(f.flags & F_RST);
	cr_assert_eq(nt_pending(), 0);
	nt_check_no_leaks();
}

Test(net_tcp, window_closing_over_data_in_flight_does_not_kill)
{
	struct nt_conn c;
	struct nt_frame f;
	int probes = 0;

	nt_open(&c, 7000, &MSS1000);
	cr_assert_eq(net_send(c.so, "0123456789", 10, nt.now), 10);
	nt_expect_tcp(&f);
	nt_peer_ack(&c, c.una, 0);     /* not received, window now closed */
	for (int i = 0; i < 30; i++) { /* half an hour */
		nt_advance(60000000);
		while (nt_take_tcp(&f)) {
			cr_assert_eq(f.flags & F_RST, 0);
			if (f.len == 0 && f.seq == c.una - 1)
				probes++;
			nt_peer_ack(&c, c.una, 0);
		}
	}
	cr_assert_str_eq(net_sock_state(c.so), "ESTABLISHED");
	cr_assert_geq(probes, 20);
	nt_peer_ack(&c, c.una, 65535);
	nt_expect_tcp(&f);
	cr_assert_eq(f.len, 10);
	nt_peer_ack(&c, c.una + 10, 65535);
	close_clean(&c);
	nt_check_no_leaks();
}

Test(net_tcp, isn_prf_is_siphash24_and_isns_differ_per_tuple)
{
	uint8_t msg[15];
	/* the reference vector of the SipHash paper: key 00..0f, message
	 * 00..0e */
	for (int i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	cr_assert_eq(net_siphash24(0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull, msg, 15),
		     0xa129ca6149be45e5ull);
	struct net_sock *l;
	struct nt_frame f;
	uint32_t a, b;

	cr_assert_eq(net_listen(nt.s, 80, 4, &l), 0);
	nt_send_tcp(40001, 80, 100, 0, F_SYN, 65535, &NO_OPTS, NULL, 0);
	nt_expect_tcp(&f);
	a = f.seq;
	nt_send_tcp(40002, 80, 100, 0, F_SYN, 65535, &NO_OPTS, NULL, 0);
	nt_expect_tcp(&f);
	b = f.seq;
	cr_assert_neq(a, b); /* same clock, different tuple */
	net_close(l, nt.now);
	nt_check_no_leaks();
}

static struct {
	int n;
	struct net_sock *so;
	uint32_t ev;
} notes;

static void on_event(void *arg, struct net_sock *so, uint32_t ev)
{
	(void)arg;
	notes.n++;
	notes.so = so;
	notes.ev = ev;
}

static void notify_cfg(struct net_cfg *cfg)
{
	cfg->notify = on_event;
	cfg->sndbuf = 2000;
}

Test(net_tcp, readiness_callback_is_edge_triggered, .init = NULL)
{
	struct nt_conn c;
	struct nt_frame f;
	char in[100], out[3000];

	memset(&notes, 0, sizeof(notes));
	nt_setup(notify_cfg);
	cr_assert_eq(net_listen(nt.s, 80, 4, &c.l), 0);
	nt_send_tcp(40000, 80, 1000, 0, F_SYN, 65535, &MSS1000, NULL, 0);
	nt_expect_tcp(&f);
	cr_assert_eq(notes.n, 0);
	nt_send_tcp(40000, 80, 1001, f.seq + 1, F_ACK, 65535, NULL, NULL, 0);
	cr_assert_eq(notes.n, 1); /* the listener: a connection to accept */
	cr_assert_eq(notes.so, c.l);
	cr_assert_eq(notes.ev, NET_EV_READABLE);
	cr_assert_eq(net_accept(c.l, &c.so), 0);
	c.pnxt = 1001;
	c.una = f.seq + 1;
	c.pport = 40000;
	c.o = MSS1000;
	nt_peer_data(&c, "ab", 2);
	cr_assert_eq(notes.n, 2);
	cr_assert_eq(notes.so, c.so);
	cr_assert(notes.ev & NET_EV_READABLE);
	nt_peer_data(&c, "cd", 2); /* still readable, not observed: no edge */
	cr_assert_eq(notes.n, 2);
	cr_assert_eq(net_recv(c.so, in, sizeof(in), nt.now), 4);
	nt_peer_data(&c, "ef", 2);
	cr_assert_eq(notes.n, 3);
	cr_assert_eq(net_recv(c.so, in, sizeof(in), nt.now), 2);
	/* the send buffer fills; an ACK that frees space is an edge */
	memset(out, 'x', sizeof(out));
	cr_assert_eq(net_send(c.so, out, sizeof(out), nt.now), 2000);
	cr_assert_eq(net_events(c.so) & NET_EV_WRITABLE, 0);
	while (nt_take(&f))
		;
	nt_peer_ack(&c, c.una + 1000, 65535);
	cr_assert_eq(notes.n, 4);
	cr_assert(notes.ev & NET_EV_WRITABLE);
	/* a reset is an edge too */
	nt_send_tcp(40000, 80, c.pnxt, 0, F_RST, 0, NULL, NULL, 0);
	cr_assert_eq(notes.n, 5);
	cr_assert(notes.ev & NET_EV_ERR);
	net_close(c.so, nt.now);
	finish(&c);
	nt_check_no_leaks();
}

/*
 * A connection reset while it waits in the accept queue leaves it without
 * a socket call: the listener's next connection must still be an edge
 * (the dpdk backend once stopped accepting after such a reset).
 */
Test(net_tcp, listener_edge_after_a_queued_connection_is_reset, .init = NULL)
{
	struct net_sock *l, *so;
	struct nt_frame f;

	memset(&notes, 0, sizeof(notes));
	nt_setup(notify_cfg);
	cr_assert_eq(net_listen(nt.s, 80, 4, &l), 0);
	nt_send_tcp(40000, 80, 1000, 0, F_SYN, 65535, &MSS1000, NULL, 0);
	nt_expect_tcp(&f);
	nt_send_tcp(40000, 80, 1001, f.seq + 1, F_ACK, 65535, NULL, NULL, 0);
	cr_assert_eq(notes.n, 1);
	cr_assert_eq(notes.so, l);
	nt_send_tcp(40000, 80, 1001, 0, F_RST, 0, NULL, NULL, 0);
	cr_assert_eq(net_events(l) & NET_EV_READABLE, 0, "the reset one left the queue");
	nt_send_tcp(40001, 80, 5000, 0, F_SYN, 65535, &MSS1000, NULL, 0);
	nt_expect_tcp(&f);
	nt_send_tcp(40001, 80, 5001, f.seq + 1, F_ACK, 65535, NULL, NULL, 0);
	cr_assert_eq(notes.n, 2, "the next connection is reported");
	cr_assert_eq(notes.so, l);
	cr_assert_eq(net_accept(l, &so), 0);
	net_abort(so, nt.now);
	net_close(l, nt.now);
	while (nt_take(&f))
		;
	nt_check_no_leaks();
}

Test(net_tcp, rto_is_3s_after_a_retransmitted_syn_ack)
{
	struct net_sock *l, *so;
	struct nt_frame f;
	uint32_t iss;

	cr_assert_eq(net_listen(nt.s, 80, 4, &l), 0);
	nt_send_tcp(40000, 80, 1000, 0, F_SYN, 65535, &MSS1000, NULL, 0);
	nt_expect_tcp(&f);
	iss = f.seq;
	nt_advance(1000000);
	nt_expect_tcp(&f); /* the SYN-ACK again */
	cr_assert_eq(f.flags, F_SYN | F_ACK);
	nt_send_tcp(40000, 80, 1001, iss + 1, F_ACK, 65535, NULL, NULL, 0);
	cr_assert_eq(net_accept(l, &so), 0);
	cr_assert_eq(net_send(so, "x", 1, nt.now), 1);
	nt_expect_tcp(&f);
	nt_advance(2999000);
	cr_assert_eq(nt_pending(), 0, "RFC 6298 5.7: 3 s, not 1 s");
	nt_advance(1000);
	nt_expect_tcp(&f);
	cr_assert_eq(f.len, 1);
	net_abort(so, nt.now);
	net_close(l, nt.now);
	nt_check_no_leaks();
}
