/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_priv.h - the stack's private structures, shared by its files only.
 *
 * Frame layout of everything the stack builds: Ethernet (14) | IPv4
 * without options (20) | TCP or ICMP.  Received frames may carry IPv4
 * options; the parsers use the header lengths from the packet.
 */
#ifndef CHEETAH_NET_PRIV_H
#define CHEETAH_NET_PRIV_H

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "net.h"

#define ETH_HLEN 14u
#define ETH_P_IPV4 0x0800u
#define ETH_P_ARP 0x0806u
#define IP_HLEN 20u
#define IP_PROTO_ICMP 1u
#define IP_PROTO_TCP 6u
#define IP_TTL_DEFAULT 64u
#define TCP_HLEN 20u
#define NET_L4_OFF (ETH_HLEN + IP_HLEN)

#define ARP_TABLE_SIZE 64u
#define ARP_QUEUE_MAX 4u /* frames held per unresolved address */
#define ARP_RETRY_US 1000000u
#define ARP_MAX_TRIES 3u

#define ICMP_ERR_PER_SEC 100u /* ICMP error messages sent per second at most */

#define NET_TXQ_MAX 256u
#define NET_RX_BURST 32u
/*
 * Frames one net_poll takes at most (bursts of NET_RX_BURST until one
 * comes back short).  The device's RX ring is a queue without flow
 * control: what it holds waits unacknowledged, and past its size frames
 * are dropped.  The stack's receive buffers are the queue with flow
 * control (the advertised window), so a poll moves what the ring holds
 * into them; the layer above then serves connections at its own pace.
 * The bound is the largest ring worth giving a port (16,384 frames of
 * af_packet's 2 KiB), not a common NIC ring's 1,024: frames a poll
 * leaves behind wait a whole loop iteration more, and on a loaded
 * machine an iteration can outlast the peer's RTO minimum (measured:
 * 19,500 sessions over af_packet with a 16,384-frame ring lost none with
 * this bound, and 15,722 with 1,024 at a ring of 4,096).  At about a
 * microsecond a frame, a full poll is some 16 ms.  See net_poll in net.h.
 */
#define NET_RX_POLL_MAX 16384u

/* Big-endian load/store on byte arrays (frames are not aligned). */
static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Sequence-number arithmetic modulo 2^32 (RFC 9293 3.4). */
static inline bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}
static inline bool seq_leq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}
#define seq_gt(a, b) seq_lt(b, a)
#define seq_geq(a, b) seq_leq(b, a)

enum arp_state { ARP_FREE = 0, ARP_PENDING, ARP_VALID };

struct arp_entry {
	uint32_t ip;
	uint8_t mac[6];
	uint8_t state;
	uint8_t tries;
	uint64_t expire_us; /* VALID: lifetime end; PENDING: next request */
	struct net_pkt *q;  /* PENDING: frames waiting (bounded) */
	uint32_t qlen;
};

enum tcp_state {
	TCP_CLOSED = 0,
	TCP_LISTEN,
	TCP_SYN_SENT,
	TCP_SYN_RCVD,
	TCP_ESTABLISHED,
	TCP_FIN_WAIT_1,
	TCP_FIN_WAIT_2,
	TCP_CLOSE_WAIT,
	TCP_CLOSING,
	TCP_LAST_ACK,
	TCP_TIME_WAIT,
};

#define TCP_OOO_MAX 8u	  /* out-of-order intervals kept per connection */
#define TCP_SACKB_MAX 16u /* sender's scoreboard: SACKed ranges kept (tcp_sack.c) */
#define TCP_DUPTHRESH 3u  /* RFC 5681 / RFC 6675 DupThresh */

struct tcp_ooo {
	uint32_t start, end; /* [start, end) in sequence space */
};

#define TCP_TXREC_MAX 64u /* RACK: transmissions remembered per connection */
#define TXR_REXMIT 0x01u  /* sent more than once */
#define TXR_SACKED 0x02u  /* delivered (SACKed) */
#define TXR_LOST 0x04u	  /* RACK marked it lost; not resent since */

/* One transmission of [start, end) (tcp_rack.c). */
struct tcp_txrec {
	uint32_t start, end;
	uint64_t xmit_us;
	uint32_t flags; /* TXR_* */
};

/* A TCP control block (or a listener).  Owned by its stack's thread. */
struct net_sock {
	struct net_stack *st;
	struct net_sock *hnext;	      /* tuple hash chain */
	struct net_sock *next, *prev; /* active list (timers) / free list */
	struct net_sock *parent;      /* listener while unaccepted */
	struct net_sock *aq_next;     /* listener's accept queue */
	struct net_sock *lnext;	      /* the stack's list of listeners */
	struct net_tuple t;
	uint8_t state; /* enum tcp_state */
	bool in_use, user_closed, in_acceptq, fin_queued, fin_rcvd;
	bool ts_ok, ws_ok, sack_ok, ack_now, in_recovery, rtt_timing;
	bool cookie;	       /* a SYN cookie's stand-in: no state is kept */
	uint32_t cookie_tsval; /* its SYN-ACK's TSval (options in the low bits) */
	int err;	       /* -ECONNRESET, -ETIMEDOUT once dead */
	void *user;	       /* the owner's (net_sock_set_user); NULL at alloc */

	/* listener */
	uint32_t backlog, n_syn, n_acceptq;
	uint64_t cookie_until; /* SYN cookies sent lately: ACKs checked until */
	struct net_sock *aq_head, *aq_tail;

	/* send side: sbuf holds the bytes [sb_seq, sb_seq + sb_len) */
	uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2;
	uint32_t sb_seq, sb_len, sb_head, sb_size, fin_seq;
	uint8_t snd_wscale, rcv_wscale;
	uint16_t mss; /* payload bytes per segment (after options) */
	uint16_t peer_mss;
	uint32_t cwnd, ssthresh, recover, dupacks;
	uint8_t *sbuf;
	/* sender-side SACK (RFC 6675, tcp_sack.c): the ranges the peer
	 * SACKed above snd_una, sorted, disjoint, inside [snd_una, snd_max];
	 * advisory (the send ring keeps the bytes until the cumulative ACK) */
	struct tcp_ooo sacked[TCP_SACKB_MAX];
	uint32_t n_sacked;
	bool sack_rec;	     /* in_recovery is RFC 6675 recovery (not NewReno) */
	uint32_t high_rxt;   /* end of the highest retransmission (HighRxt + 1) */
	uint32_t rescue_rxt; /* rescue retransmission allowed once snd_una >= this */

	/* RACK-TLP (RFC 8985, tcp_rack.c), SACK connections only: what was
	 * sent when, sorted by sequence, disjoint, inside [snd_una, snd_max] */
	struct tcp_txrec *txr; /* TCP_TXREC_MAX of them, before sbuf; NULL: none */
	uint32_t n_txr;
	uint64_t rack_xmit_us; /* RACK.xmit_ts: the latest sent delivered */
	uint32_t rack_end;     /* RACK.end_seq */
	uint32_t rack_rtt_us;  /* RACK.rtt */
	uint32_t rack_min_rtt_us, rack_fack, rack_dsack_round;
	uint8_t rack_reo_mult, rack_reo_persist;
	bool rack_valid, rack_min_valid, rack_reordering, rack_dsack_pending, rack_was_rec;
	bool tlp_active, tlp_rexmit; /* a probe is out (TLP.end_seq set) */
	uint32_t tlp_end, tlp_flight;
	uint32_t tlp_una, tlp_max; /* snd_una, snd_max when the PTO was armed */

	/* receive side: rbuf[rb_head .. rb_head + rb_len) is readable, the
	 * sequence rcv_nxt maps to rb_head + rb_len; out-of-order bytes are
	 * stored in place further on and listed in ooo[] */
	uint32_t irs, rcv_nxt, rcv_adv, rb_head, rb_len, rb_size;
	uint8_t *rbuf;
	struct tcp_ooo ooo[TCP_OOO_MAX];
	uint32_t n_ooo;
	uint32_t sack_first; /* index in ooo[] of the latest arrival */
	/* D-SACK (RFC 2883): a duplicate received, reported once as the
	 * first SACK block of the next ACK */
	bool dsack_pending;
	uint32_t dsack_start, dsack_end;

	/* timestamps (RFC 7323) */
	uint32_t ts_recent, last_ack_sent;

	/* RTT / RTO (RFC 6298), microseconds */
	uint32_t srtt_us, rttvar_us, rto_us;
	bool rtt_valid;
	uint32_t rtt_seq;
	uint64_t rtt_start;

	/* timers: absolute deadlines in us, 0 = off */
	uint64_t t_rexmt, t_persist, t_delack, t_keep, t_2msl;
	uint64_t t_tlp, t_rack; /* tail loss probe; RACK reordering timer */
	uint32_t nrexmt, npersist, nprobes, nkeep, delack_segs;
	uint64_t last_rx_us;
	uint32_t ev_seen; /* events at the last notify or socket call */
};

struct net_stack {
	struct net_cfg cfg;
	const struct net_port_ops *ops;
	void *port_ctx;
	struct net_pool pool;
	struct net_stats stats;

	struct arp_entry arp[ARP_TABLE_SIZE];

	struct net_pkt *txq[NET_TXQ_MAX];
	uint32_t txq_len;

	struct net_sock *socks; /* array of max_socks */
	struct net_sock *sock_free;
	struct net_sock *active;    /* list of in-use control blocks */
	struct net_sock *listeners; /* the listeners among them (few) */
	uint32_t socks_in_use;
	struct net_sock **htab; /* connections by tuple */
	uint32_t hmask;
	uint16_t next_eport;
	uint16_t ip_id;
	uint64_t icmp_err_window; /* start of the ICMP error rate window */
	uint32_t icmp_err_count;  /* errors sent in it */
	uint64_t timer_hint;	  /* no timer is due before this */
	uint64_t arp_hint;	  /* no ARP entry expires before this */
	uint64_t now_us;	  /* time of the call in progress */
	uint32_t tso_max;	  /* most payload of a TSO super-segment; 0: no TSO */
};

/* net_stack.c */
void net_txq_push(struct net_stack *s, struct net_pkt *pkt);

/* net_eth.c: Ethernet and ARP */
void eth_input(struct net_stack *s, struct net_pkt *pkt, uint64_t now);
/* Fills the Ethernet header of an IPv4 frame for next hop of dst and
 * queues it (or parks it behind an ARP request).  Takes ownership. */
void eth_output_ip(struct net_stack *s, struct net_pkt *pkt, uint32_t dst, uint64_t now);
/* Records ip's MAC (create: also when ip has no entry yet); returns
 * whether ip has a valid entry after. */
bool arp_learn(struct net_stack *s, uint32_t ip, const uint8_t *mac, bool create, uint64_t now);
void arp_send(struct net_stack *s, uint16_t op, const uint8_t *tha, uint32_t tpa, uint64_t now);
void arp_timers(struct net_stack *s, uint64_t now);
uint64_t arp_next_timer(const struct net_stack *s);
void arp_flush_all(struct net_stack *s);

/* net_nbr.c: neighbour facts between the stacks of a port */
void net_nbr_publish(struct net_nbr_share *sh, uint32_t from, uint32_t ip, const uint8_t *mac,
		     struct net_stats *st);
void net_nbr_drain(struct net_stack *s, struct net_nbr_share *sh, uint32_t to, uint64_t now);

/* net_stack.c: the exception path.  Hands pkt to cfg.exception and frees
 * it, returning true; false (pkt untouched) when the path is off. */
bool net_exception(struct net_stack *s, struct net_pkt *pkt);

/* net_ip.c: IPv4 and ICMP */
void ip_input(struct net_stack *s, struct net_pkt *pkt, uint64_t now);
/* Fills the IPv4 header at ETH_HLEN for a payload of l4len bytes that
 * starts at NET_L4_OFF and sends the frame.  Takes ownership. */
void ip_output(struct net_stack *s, struct net_pkt *pkt, uint32_t dst, uint8_t proto,
	       uint16_t l4len, uint64_t now);
uint32_t ip_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len);

/* tcp_cb.c: control blocks */
struct net_sock *tcp_sock_alloc(struct net_stack *s, bool bufs);
void tcp_sock_free(struct net_sock *so);
struct net_sock *tcp_lookup(struct net_stack *s, const struct net_tuple *t);
struct net_sock *tcp_lookup_listener(struct net_stack *s, uint16_t port);
void tcp_hash_insert(struct net_sock *so);
void tcp_set_state(struct net_sock *so, enum tcp_state st);
/* The connection is dead: error err (0 for a normal end); frees it if the
 * user already gave it up. */
void tcp_drop(struct net_sock *so, int err);
uint32_t tcp_rcv_wnd(const struct net_sock *so);
/* Calls cfg.notify if the stack made new events appear on so (or, for
 * an unaccepted connection, on its listener). */
void tcp_notify(struct net_sock *so);
/* Asserts the control block's invariants (tcp_cb.c's header). */
void tcp_check(const struct net_sock *so);
uint32_t tcp_isn(struct net_stack *s, const struct net_tuple *t, uint64_t now);
void tcp_timer_arm(struct net_sock *so, uint64_t *t, uint64_t when);
void tcp_init_cb(struct net_sock *so, uint64_t now);

/* tcp_in.c */
void tcp_input(struct net_stack *s, struct net_pkt *pkt, uint32_t src, uint32_t dst,
	       const uint8_t *th, uint16_t tlen, uint64_t now);

/* tcp_out.c */
#define TCPF_FIN 0x01u
#define TCPF_SYN 0x02u
#define TCPF_RST 0x04u
#define TCPF_PSH 0x08u
#define TCPF_ACK 0x10u
void tcp_output(struct net_sock *so, uint64_t now);
/* Sends one segment starting at seq (retransmission or new data) of at
 * most maxlen payload bytes; returns the sequence space it covers. */
uint32_t tcp_xmit(struct net_sock *so, uint32_t seq, uint32_t maxlen, uint64_t now);
void tcp_send_ack(struct net_sock *so, uint64_t now);
/* A bare segment with seq and flags (probe, RST) for a connection. */
void tcp_send_ctl(struct net_sock *so, uint32_t seq, uint8_t flags, uint64_t now);
/* RST answering a segment that has no connection (RFC 9293 3.10.7.1). */
void tcp_send_rst_reply(struct net_stack *s, uint32_t src, uint32_t dst, const uint8_t *th,
			uint32_t seglen, uint64_t now);
uint32_t tcp_flight(const struct net_sock *so);

/* tcp_sack.c: the sender's scoreboard and RFC 6675 loss recovery */
struct tcp_sackblk {
	uint32_t start, end;
};
/* Records SACK blocks of an ACK (after snd_una moved); returns the
 * number of octets SACKed that were neither acknowledged nor SACKed
 * before (> 0: an RFC 6675 DupAck).  Invalid blocks are ignored. */
uint32_t tcp_sack_update(struct net_sock *so, const struct tcp_sackblk *b, uint32_t n);
/* Drops the scoreboard below snd_una (after a cumulative ACK). */
void tcp_sack_trim(struct net_sock *so);
/* Forgets the scoreboard (RTO: SACK information is advisory). */
void tcp_sack_clear(struct net_sock *so);
/* RFC 6675 IsLost(snd_una): DupThresh ranges or more than
 * (DupThresh - 1) * mss octets SACKed above it. */
bool tcp_sack_una_lost(const struct net_sock *so);
/* RFC 6675 5 step 4: enter recovery, retransmit the first hole. */
void tcp_sack_enter(struct net_sock *so, uint64_t now);
/* RFC 6675 5 step C: SetPipe, then NextSeg while cwnd - pipe >= mss. */
void tcp_sack_send(struct net_sock *so, uint64_t now);
/* Length of the SACK option our next segment carries (0: none). */
uint32_t tcp_sack_optlen(const struct net_sock *so);

/* tcp_rack.c: RACK-TLP (RFC 8985) */
/* RACK-TLP runs on this connection (SACK negotiated, not disabled). */
bool tcp_rack_on(const struct net_sock *so);
/* tcp_xmit sent [seq, end) (retransmitted where below snd_max). */
void tcp_rack_sent(struct net_sock *so, uint32_t seq, uint32_t end, uint64_t now);
/* After an acceptable ACK (snd_una and the scoreboard updated): TLP
 * episode, RACK deliveries, reordering window, loss marking, recovery
 * entry.  advanced: the ACK moved snd_una. */
void tcp_rack_ack(struct net_sock *so, const struct tcp_sackblk *b, uint32_t n, bool advanced,
		  bool pure, bool has_ts, uint32_t tsecr, uint64_t now);
/* The end of the octets RACK holds lost in the hole [a, b) from a (a:
 * none). */
uint32_t tcp_rack_lost_to(const struct net_sock *so, uint32_t a, uint32_t b);
/* RTO: lost and SACKed marks forgotten, no probe, no episode. */
void tcp_rack_rto(struct net_sock *so);
/* Loss recovery starts: the TLP episode ends (one cwnd reduction). */
void tcp_tlp_cancel(struct net_sock *so);
/* tcp_output's end: (re)arms the PTO when RFC 8985 7.2 says so. */
void tcp_tlp_arm(struct net_sock *so, uint64_t now);
/* Timers. */
void tcp_tlp_fire(struct net_sock *so, uint64_t now);
void tcp_rack_fire(struct net_sock *so, uint64_t now);

/* tcp_syncookie.c: SYN cookies (RFC 4987) */
#define TCP_COOKIE_PERIOD_US (64ull * 1000000) /* the cookie's time counter */
/* The cookie (our ISN) for a SYN with ISN irs from tuple t. */
uint32_t tcp_cookie_make(const struct net_stack *s, const struct net_tuple *t, uint32_t irs,
			 uint16_t peer_mss, uint64_t now);
/* The peer MSS a cookie encodes, or -1 if it is not one of ours for this
 * tuple and irs, or is older than two counter periods. */
int tcp_cookie_check(const struct net_stack *s, const struct net_tuple *t, uint32_t irs,
		     uint32_t cookie, uint64_t now);
/* Our SYN-ACK's TSval with the SYN's options in its low bits, and back. */
uint32_t tcp_cookie_tsval(uint32_t ts_now, bool has_ws, uint8_t ws, bool sack);
void tcp_cookie_opts(uint32_t tsecr, bool *has_ws, uint8_t *ws, bool *sack);

/* tcp_timer.c */
void tcp_timers(struct net_stack *s, uint64_t now);
uint64_t tcp_next_timer(const struct net_stack *s);
void tcp_rtt_sample(struct net_sock *so, uint32_t rtt_us);
void tcp_rexmt_restart(struct net_sock *so, uint64_t now);

#endif
