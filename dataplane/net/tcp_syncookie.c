// SPDX-License-Identifier: Apache-2.0
/*
 * tcp_syncookie.c - SYN cookies (RFC 4987 3.6): a listener whose backlog
 * is full answers a SYN without keeping any state, with a SYN-ACK whose
 * sequence number encodes what the connection needs, and creates the
 * connection only when an ACK comes back carrying that number plus one.
 *
 * Why: the backlog bound alone lets a SYN flood (spoofed sources that
 * never answer) hold every half-open slot for the SYN-ACK retransmission
 * time (about a minute with 6 retries), so legitimate clients are refused
 * for as long as the flood lasts.  With cookies a full queue costs the
 * stack one SYN-ACK per SYN and no memory.
 *
 * The cookie (our ISN), RFC 4987's layout:
 *
 *   bits 31-27  t: a time counter (now / 64 s) modulo 32
 *   bits 26-24  m: index of the peer's MSS in a table of 8
 *   bits 23-0   the low 24 bits of SipHash-2-4, keyed by the stack's
 *               secret, of (local/foreign address and port, the peer's
 *               ISN, the full counter, m, a domain byte apart from the
 *               ISN PRF's)
 *
 * An ACK's cookie is valid for the counter value it names if that is the
 * current one or the previous one (64 to 128 s).  The options of the SYN
 * that a cookie cannot hold ride, as Linux does, in the low 6 bits of our
 * timestamp (the peer echoes it in TSecr): bits 0-3 the peer's window
 * scale (15: none), bit 4 SACK-permitted.  Without timestamps there is
 * nowhere to keep them, so the cookie SYN-ACK offers neither window
 * scaling nor SACK and the connection has neither.
 *
 * Thread: the stack's owner.
 */
#include "net_priv.h"

#define TS_WS_NONE 0xfu
#define TS_SACK 0x10u
#define TS_BITS 0x3fu

static const uint16_t mss_table[8] = {64, 536, 1024, 1200, 1360, 1400, 1440, 1460};

static uint32_t cookie_hash(const struct net_stack *s, const struct net_tuple *t, uint32_t irs,
			    uint32_t counter, uint32_t m)
{
	uint8_t b[22];

	put32(b, t->laddr);
	put16(b + 4, t->lport);
	put32(b + 6, t->faddr);
	put16(b + 10, t->fport);
	put32(b + 12, irs);
	put32(b + 16, counter);
	b[20] = (uint8_t)m;
	b[21] = 'C'; /* not an input the ISN PRF ever hashes (12 bytes) */
	return (uint32_t)net_siphash24(s->cfg.secret, s->cfg.secret2, b, sizeof(b)) & 0xffffffu;
}

uint32_t tcp_cookie_make(const struct net_stack *s, const struct net_tuple *t, uint32_t irs,
			 uint16_t peer_mss, uint64_t now)
{
	uint32_t counter = (uint32_t)(now / TCP_COOKIE_PERIOD_US), m = 0;

	for (uint32_t i = 0; i < 8; i++)
		if (mss_table[i] <= peer_mss)
			m = i;
	return (counter & 31u) << 27 | m << 24 | cookie_hash(s, t, irs, counter, m);
}

int tcp_cookie_check(const struct net_stack *s, const struct net_tuple *t, uint32_t irs,
		     uint32_t cookie, uint64_t now)
{
	uint32_t counter = (uint32_t)(now / TCP_COOKIE_PERIOD_US), m = (cookie >> 24) & 7u;

	for (uint32_t age = 0; age < 2 && age <= counter; age++) {
		uint32_t c = counter - age;

		if ((cookie >> 27) == (c & 31u) &&
		    (cookie & 0xffffffu) == cookie_hash(s, t, irs, c, m))
			return mss_table[m];
	}
	return -1;
}

uint32_t tcp_cookie_tsval(uint32_t ts_now, bool has_ws, uint8_t ws, bool sack)
{
	uint32_t v = (has_ws ? (ws > 14 ? 14u : ws) : TS_WS_NONE) | (sack ? TS_SACK : 0u);
	uint32_t tsval = (ts_now & ~TS_BITS) | v;

	/* never ahead of the clock: the peer's PAWS and our RTT samples */
	if (tsval > ts_now)
		tsval -= TS_BITS + 1;
	return tsval;
}

void tcp_cookie_opts(uint32_t tsecr, bool *has_ws, uint8_t *ws, bool *sack)
{
	*has_ws = (tsecr & 0xfu) != TS_WS_NONE;
	*ws = (uint8_t)(tsecr & 0xfu);
	*sack = tsecr & TS_SACK;
}
