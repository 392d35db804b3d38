/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_test.h - helpers for the network stack's tests (lwIP style: the
 * test plays the remote host on an in-memory device, injects frames,
 * captures and parses what the stack sends, and drives a fake clock).
 *
 * The stack under test ("us"): 02:00:00:00:00:01, 10.0.0.1/24,
 * gateway 10.0.0.254.  The scripted peer: 02:00:00:00:00:02, 10.0.0.2.
 */
#ifndef CHEETAH_NET_TEST_H
#define CHEETAH_NET_TEST_H

#include <stdbool.h>
#include <stdint.h>

#include "dataplane/net/net.h"

#define US_IP 0x0a000001u
#define PEER_IP 0x0a000002u
#define OTHER_IP 0x0a000003u
#define US_MAC "\x02\x00\x00\x00\x00\x01"
#define PEER_MAC "\x02\x00\x00\x00\x00\x02"

struct nt {
	struct net_stack *s;
	struct net_memdev dev;
	struct net_cfg cfg;
	uint64_t now;
};

extern struct nt nt;
/* The port operations nt_setup gives the stack (NULL: net_memdev_ops, no
 * offloads); a test sets it before nt_setup. */
extern const struct net_port_ops *nt_ops;

/* Default config, then cfg_fn may change it before create. */
void nt_setup(void (*cfg_fn)(struct net_cfg *c));
/* Drains the device, asserts that no buffer and no control block leaked
 * (call at the end of each test: criterion does not fail a test on an
 * assertion in .fini). */
void nt_check_no_leaks(void);
/* Destroys the stack (the .fini of the suites). */
void nt_fini(void);
void nt_advance(uint64_t us); /* moves the clock and runs timers */
void nt_poll(void);	      /* one poll at the current time */

/* A parsed frame. */
struct nt_frame {
	uint16_t ethertype;
	uint8_t dst_mac[6], src_mac[6];
	/* ARP */
	uint16_t arp_op;
	uint32_t arp_spa, arp_tpa;
	uint8_t arp_sha[6];
	/* IPv4 */
	uint32_t ip_src, ip_dst;
	uint8_t ip_proto, ip_ttl;
	bool ip_csum_ok;
	/* ICMP */
	uint8_t icmp_type;
	bool icmp_csum_ok;
	uint16_t icmp_len;
	uint8_t icmp[1500];
	/* TCP */
	uint16_t sport, dport, wnd;
	uint32_t seq, ack;
	uint8_t flags;
	bool tcp_csum_ok;
	bool has_mss, has_ws, has_sackok, has_ts;
	uint16_t mss;
	uint8_t ws;
	uint32_t tsval, tsecr;
	uint32_t n_sack;
	uint32_t sack[4][2];
	uint32_t len;
	uint8_t data[1500];
};

/* Takes the next frame the stack sent; false when none. */
bool nt_take(struct nt_frame *f);
/* Like nt_take, but answers the stack's ARP requests for the peer
 * (its cache entry expires in long tests) and returns TCP frames only. */
bool nt_take_tcp(struct nt_frame *f);
/* Number of frames waiting. */
uint32_t nt_pending(void);
void nt_parse(const uint8_t *b, uint32_t len, struct nt_frame *f);

/* Frame builders; they inject into the device and poll. */
void nt_inject_raw(const uint8_t *b, uint32_t len);
uint32_t nt_build_ipv4(uint8_t *b, uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4,
		       uint32_t l4len);
void nt_send_arp(uint16_t op, uint32_t spa, const char *sha, uint32_t tpa);
void nt_send_ping(uint16_t id, uint16_t seq, const void *data, uint32_t len);

/* TCP options for nt_send_tcp. */
struct nt_opts {
	uint16_t mss; /* 0: none */
	int ws;	      /* <0: none */
	bool sackok;
	bool ts;
	uint32_t tsval, tsecr;
	uint32_t n_sack;     /* SACK blocks on segments without SYN */
	uint32_t sack[4][2]; /* [start, end) */
};

void nt_send_tcp(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
		 uint16_t wnd, const struct nt_opts *o, const void *data, uint32_t len);

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

/* A scripted TCP connection to a listener on port 80 of the stack:
 * peer port 40000, peer ISN piss. */
struct nt_conn {
	struct net_sock *l, *so;
	uint32_t piss, pnxt; /* peer's next sequence number */
	uint32_t iss, una;   /* stack's ISN; what the peer acknowledged */
	uint16_t pport;
	struct nt_opts o;
};

/* Passive open with options o (NULL: none): SYN in, SYN-ACK out, ACK in,
 * accept. */
void nt_open(struct nt_conn *c, uint32_t piss, const struct nt_opts *o);
/* The peer sends data (with ACK of c->una) and advances pnxt. */
void nt_peer_data(struct nt_conn *c, const void *d, uint32_t len);
/* The peer sends a pure ACK of ack with window wnd. */
void nt_peer_ack(struct nt_conn *c, uint32_t ack, uint16_t wnd);
/* Expects exactly one TCP segment now; returns it. */
void nt_expect_tcp(struct nt_frame *f);

#endif
