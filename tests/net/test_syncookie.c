// SPDX-License-Identifier: Apache-2.0
/*
 * SYN cookies (tcp_syncookie.c) on the in-memory device: a SYN flood
 * beyond a listener's backlog keeps no state and a legitimate client
 * still connects, with the options its SYN asked for where timestamps
 * can carry them; forged, misdirected and old cookies are refused with
 * RST; the counters say what happened.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "net_test.h"

static void setup(void)
{
	nt_setup(NULL);
}

TestSuite(net_syncookie, .init = setup, .fini = nt_fini, .timeout = 30);

static const struct nt_opts FULL = {
    .mss = 1400, .ws = 7, .sackok = true, .ts = true, .tsval = 5000};
static const struct nt_opts BARE = {.mss = 1400, .ws = 7, .sackok = true};

/* A SYN from the peer's port; returns the SYN-ACK. */
static void syn(uint16_t port, uint32_t isn, const struct nt_opts *o, struct nt_frame *f)
{
	nt_send_tcp(port, 80, isn, 0, F_SYN, 65535, o, NULL, 0);
	cr_assert(nt_take_tcp(f), "no SYN-ACK");
	cr_assert_eq(f->flags, F_SYN | F_ACK);
	cr_assert_eq(f->ack, isn + 1);
}

static void drain(void)
{
	struct nt_frame f;

	while (nt_take(&f))
		;
}

/* Runs the clock s seconds in 1 s steps (the half-open connections'
 * SYN-ACK retransmissions fire on the way); drops what the stack sends. */
static void advance_s(uint32_t s)
{
	for (uint32_t i = 0; i < s; i++) {
		nt_advance(1000000);
		drain();
	}
}

Test(net_syncookie, flood_beyond_the_backlog_and_a_client_still_connects)
{
	struct net_sock *l, *so;
	struct nt_frame f;
	struct nt_opts o = FULL;
	const struct net_stats *st = net_stack_stats(nt.s);
	uint32_t cookie;
	char buf[3000];

	cr_assert_eq(net_listen(nt.s, 80, 4, &l), 0);
	/* the flood: 4 half-open connections fill the backlog, the next 200
	 * SYNs (never completed) get cookies and leave nothing behind */
	for (uint16_t i = 0; i < 204; i++)
		syn((uint16_t)(20000 + i), 1000u * i, &BARE, &f);
	cr_assert_eq(net_stack_socks_in_use(nt.s), 1 + 4);
	cr_assert_eq(st->tcp_syncookie_tx, 200);
	cr_assert_eq(st->tcp_syn_drop, 0);
	/* the client */
	syn(50000, 777, &o, &f);
	cookie = f.seq;
	cr_assert_eq(st->tcp_syncookie_tx, 201);
	cr_assert_eq(f.mss, 1460);
	cr_assert(f.has_ws && f.has_sackok && f.has_ts, "options offered back");
	cr_assert_eq(f.tsecr, 5000);
	cr_assert_eq(f.tsval & 0xf, 7, "window scale in the timestamp");
	cr_assert(f.tsval & 0x10, "SACK-permitted in the timestamp");
	cr_assert_eq(net_stack_socks_in_use(nt.s), 1 + 4);
	o.tsecr = f.tsval;
	o.tsval++;
	/* the final ACK carries the first request */
	nt_send_tcp(50000, 80, 778, cookie + 1, F_ACK | F_PSH, 100, &o, "ruok", 4);
	cr_assert_eq(st->tcp_syncookie_ok, 1);
	cr_assert_eq(net_accept(l, &so), 0);
	cr_assert_str_eq(net_sock_state(so), "ESTABLISHED");
	cr_assert_eq(net_recv(so, buf, sizeof(buf), nt.now), 4);
	cr_assert(memcmp(buf, "ruok", 4) == 0);
	/* the window of 100 is scaled by 2^7, the MSS is the table's 1400
	 * less the timestamps: a 3000-byte reply leaves in full segments */
	memset(buf, 'x', sizeof(buf));
	cr_assert_eq(net_send(so, buf, 3000, nt.now), 3000);
	do
		cr_assert(nt_take_tcp(&f));
	while (!f.len);
	cr_assert_eq(f.seq, cookie + 1);
	cr_assert_eq(f.len, 1388);
	cr_assert(f.has_ts);
	/* SACK-permitted survived: out-of-order data is SACKed */
	o.tsval++;
	nt_send_tcp(50000, 80, 782 + 100, cookie + 1, F_ACK, 100, &o, "late", 4);
	for (;;) {
		cr_assert(nt_take_tcp(&f));
		if (f.n_sack)
			break;
	}
	cr_assert_eq(f.sack[0][0], 882);
	net_abort(so, nt.now);
	drain();
	net_close(l, nt.now);
	drain();
	nt_check_no_leaks();
}

Test(net_syncookie, without_timestamps_no_window_scale_nor_sack)
{
	struct net_sock *l, *so;
	struct nt_frame f;
	uint32_t cookie;

	cr_assert_eq(net_listen(nt.s, 80, 1, &l), 0);
	syn(40001, 100, &BARE, &f); /* fills the backlog */
	syn(40002, 200, &BARE, &f);
	cookie = f.seq;
	cr_assert_eq(net_stack_stats(nt.s)->tcp_syncookie_tx, 1);
	cr_assert(!f.has_ws && !f.has_sackok && !f.has_ts);
	cr_assert_eq(f.mss, 1460);
	nt_send_tcp(40002, 80, 201, cookie + 1, F_ACK, 65535, NULL, NULL, 0);
	cr_assert_eq(net_stack_stats(nt.s)->tcp_syncookie_ok, 1);
	cr_assert_eq(net_accept(l, &so), 0);
	cr_assert_eq(net_send(so, "hello", 5, nt.now), 5);
	do
		cr_assert(nt_take_tcp(&f));
	while (!f.len);
	cr_assert_eq(f.seq, cookie + 1);
	cr_assert(!f.has_ts);
	net_abort(so, nt.now);
	drain();
	net_close(l, nt.now);
	drain();
	nt_check_no_leaks();
}

Test(net_syncookie, forged_misdirected_and_old_cookies_get_rst)
{
	struct net_sock *l, *so;
	struct nt_frame f;
	const struct net_stats *st = net_stack_stats(nt.s);
	uint32_t cookie, c2;

	cr_assert_eq(net_listen(nt.s, 80, 1, &l), 0);
	/* no cookie out yet: an ACK to the listener is just reset, not
	 * counted as a bad cookie */
	nt_send_tcp(40009, 80, 900, 12345, F_ACK, 65535, NULL, NULL, 0);
	cr_assert(nt_take_tcp(&f));
	cr_assert(f.flags & F_RST);
	cr_assert_eq(st->tcp_syncookie_bad, 0);
	syn(40001, 100, &BARE, &f);
	syn(40002, 200, &BARE, &f);
	cookie = f.seq;
	/* forged: wrong cookie */
	nt_send_tcp(40002, 80, 201, cookie + 2, F_ACK, 65535, NULL, NULL, 0);
	cr_assert(nt_take_tcp(&f));
	cr_assert(f.flags & F_RST);
	cr_assert_eq(f.seq, cookie + 2);
	/* misdirected: another port, another peer ISN */
	nt_send_tcp(40003, 80, 201, cookie + 1, F_ACK, 65535, NULL, NULL, 0);
	cr_assert(nt_take_tcp(&f) && (f.flags & F_RST));
	nt_send_tcp(40002, 80, 301, cookie + 1, F_ACK, 65535, NULL, NULL, 0);
	cr_assert(nt_take_tcp(&f) && (f.flags & F_RST));
	cr_assert_eq(st->tcp_syncookie_bad, 3);
	cr_assert_eq(st->tcp_syncookie_ok, 0);
	cr_assert_eq(net_stack_socks_in_use(nt.s), 2);
	/* a cookie stays good into the next 64 s period */
	advance_s(65);
	syn(40004, 400, &BARE, &f); /* the half-open one is still there */
	c2 = f.seq;
	nt_send_tcp(40002, 80, 201, cookie + 1, F_ACK, 65535, NULL, NULL, 0);
	cr_assert_eq(st->tcp_syncookie_ok, 1);
	cr_assert_eq(net_accept(l, &so), 0);
	net_abort(so, nt.now);
	drain();
	/* but not past two periods, even while cookies are being sent */
	advance_s(130);
	cr_assert_eq(net_stack_socks_in_use(nt.s), 1, "the half-open one expired");
	syn(40005, 500, &BARE, &f); /* half-open: the backlog is full again */
	syn(40006, 600, &BARE, &f); /* a cookie: they are being sent */
	cr_assert_eq(st->tcp_syncookie_tx, 3);
	nt_send_tcp(40004, 80, 401, c2 + 1, F_ACK, 65535, NULL, NULL, 0);
	cr_assert(nt_take_tcp(&f));
	cr_assert(f.flags & F_RST, "a cookie 130 s old");
	cr_assert_eq(st->tcp_syncookie_bad, 4);
	while (net_accept(l, &so) == 0)
		net_abort(so, nt.now);
	drain();
	net_close(l, nt.now);
	drain();
	nt_check_no_leaks();
}

/* A valid cookie that finds the accept queue full is dropped without a
 * trace (as Linux does); the client's retransmission, once the server
 * has accepted, gets in. */
Test(net_syncookie, full_accept_queue_drops_the_cookie_ack_until_accept)
{
	struct net_sock *l, *a, *b;
	struct nt_frame f;
	const struct net_stats *st = net_stack_stats(nt.s);
	uint32_t iss1, cookie;
	char buf[8];

	cr_assert_eq(net_listen(nt.s, 80, 1, &l), 0);
	syn(40001, 100, &BARE, &f);
	iss1 = f.seq;
	syn(40002, 200, &BARE, &f);
	cookie = f.seq;
	cr_assert_eq(st->tcp_syncookie_tx, 1);
	nt_send_tcp(40001, 80, 101, iss1 + 1, F_ACK, 65535, NULL, NULL, 0);
	nt_send_tcp(40002, 80, 201, cookie + 1, F_ACK | F_PSH, 65535, NULL, "x", 1);
	cr_assert_eq(nt_pending(), 0, "dropped, not reset");
	cr_assert_eq(st->tcp_syn_drop, 1);
	cr_assert_eq(st->tcp_syncookie_ok, 0);
	cr_assert_eq(net_stack_socks_in_use(nt.s), 2);
	cr_assert_eq(net_accept(l, &a), 0);
	nt_send_tcp(40002, 80, 201, cookie + 1, F_ACK | F_PSH, 65535, NULL, "x", 1);
	cr_assert_eq(st->tcp_syncookie_ok, 1);
	cr_assert_eq(net_accept(l, &b), 0);
	cr_assert_eq(net_recv(b, buf, sizeof(buf), nt.now), 1);
	cr_assert_eq(buf[0], 'x');
	net_abort(a, nt.now);
	net_abort(b, nt.now);
	drain();
	net_close(l, nt.now);
	drain();
	nt_check_no_leaks();
}
