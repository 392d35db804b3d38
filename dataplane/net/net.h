/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net.h - Cheetah's user-space network stack (Ethernet, ARP, IPv4, ICMP
 * echo, TCP), the public interface.
 *
 * Shape (lwIP, Seastar's native stack, TLDK):
 *
 *   port (net_port_ops: rx_burst / tx_burst; a DPDK ethdev queue later,
 *         the in-memory device net_memdev in tests)
 *     -> Ethernet -> ARP (cache, requests, replies, gratuitous ARP)
 *     -> IPv4 (header checksum, no fragments, TTL) -> ICMP echo
 *     -> TCP (RFC 9293; tcp_in.c, tcp_out.c, tcp_timer.c, tcp_cb.c)
 *
 * The stack knows nothing of ZooKeeper and nothing of DPDK: it takes and
 * returns bursts of struct net_pkt through a small table of operations.
 *
 * Rules (the contract):
 *  - Threads: a struct net_stack is owned by exactly one thread (one
 *    dataplane core).  Every function here, on a stack or on a socket of
 *    it, must be called from that thread.  Nothing is locked, nothing is
 *    shared between stacks (shared-nothing: one set of TCP control blocks
 *    per core).
 *  - Time: the stack never reads a clock.  The caller passes the current
 *    time in microseconds (a monotonic clock in production, a fake clock
 *    in tests) to net_poll() and to the calls that may transmit.  Time must
 *    never go backwards.
 *  - Memory: packet buffers come from a fixed pool created with the stack
 *    (net_pool); the fast path never calls malloc.  A socket's send and
 *    receive buffers are allocated once, when the connection is created.
 *  - Packet ownership: a port's rx_burst hands over packets allocated from
 *    net_stack_pool(); the stack frees each one once processed.  tx_burst
 *    takes ownership of the packets it accepts (returns the count); the
 *    stack frees the rest and counts them as tx drops.
 *  - Errors: 0 or a negative errno; -EAGAIN means "would block".
 */
#ifndef CHEETAH_NET_H
#define CHEETAH_NET_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Packet buffers                                                      */

#define NET_PKT_BUFSZ 2048u /* bytes of one buffer (one Ethernet frame) */

/* Offload flags carried by a packet (set by the port on RX, by the stack
 * on TX). */
#define NET_PKT_RX_IP_CSUM_GOOD (1u << 0)
#define NET_PKT_RX_IP_CSUM_BAD (1u << 1)
#define NET_PKT_RX_L4_CSUM_GOOD (1u << 2)
#define NET_PKT_RX_L4_CSUM_BAD (1u << 3)
#define NET_PKT_TX_IP_CSUM (1u << 4) /* device fills the IPv4 checksum */
#define NET_PKT_TX_TCP_CSUM                                                                        \
	(1u << 5) /* device fills the TCP checksum; the                                            \
		   * field holds the pseudo-header sum */
/* TCP segmentation offload: the frame is one TCP super-segment (a chain
 * through frag, headers in the first buffer) that the device cuts into
 * segments of tso_segsz payload bytes, each with a copy of the headers
 * (sequence number, IPv4 length, identification and checksums set per
 * segment; FIN and PSH on the last only).  Set with NET_PKT_TX_IP_CSUM
 * and NET_PKT_TX_TCP_CSUM; the TCP checksum field then holds the
 * pseudo-header sum WITHOUT the length (what DPDK's rte_ipv4_phdr_cksum
 * gives with RTE_MBUF_F_TX_TCP_SEG); the IPv4 total length is the whole
 * super-segment's. */
#define NET_PKT_TX_TCP_SEG (1u << 6)

/* One Ethernet frame: data[0..len) is the frame, without FCS; a TSO
 * super-segment (NET_PKT_TX_TCP_SEG) continues in frag's data[0..len),
 * and so on.  Only transmitted frames are chains. */
struct net_pkt {
	struct net_pkt *next; /* free list / queue link; owner's use */
	struct net_pkt *frag; /* the rest of a chained frame; NULL: none */
	uint16_t len;
	uint16_t pool_idx;  /* index in its pool (sanity check) */
	uint16_t tso_segsz; /* NET_PKT_TX_TCP_SEG: payload bytes per segment */
	uint32_t flags;
	uint8_t data[NET_PKT_BUFSZ];
};

/* A fixed pool of packet buffers with counters (lwIP's memp stats): tests
 * assert in_use == 0 at the end.  Owned by one thread. */
struct net_pool {
	struct net_pkt *bufs;
	struct net_pkt *free;
	uint32_t size;
	uint32_t in_use;
	uint64_t allocs, frees, alloc_fail;
};

/* Creates a pool of n buffers.  Returns 0, -EINVAL (n == 0 or > 65535)
 * or -ENOMEM. */
int net_pool_init(struct net_pool *p, uint32_t n);
/* Frees the pool's memory; buffers still in use are a caller bug
 * (asserted). */
void net_pool_fini(struct net_pool *p);
/* Returns a buffer with len 0 and flags 0, or NULL when the pool is
 * empty (counted in alloc_fail). */
struct net_pkt *net_pkt_alloc(struct net_pool *p);
/* Returns a buffer and the buffers chained after it (frag) to its pool.
 * NULL is ignored. */
void net_pkt_free(struct net_pool *p, struct net_pkt *pkt);
/* Bytes of a (chained) frame: the sum of len over the chain. */
uint32_t net_pkt_chain_len(const struct net_pkt *pkt);
/* Buffers of a (chained) frame. */
uint32_t net_pkt_chain_bufs(const struct net_pkt *pkt);

/* ------------------------------------------------------------------ */
/* The packet-I/O interface (one port queue)                           */

#define NET_PORT_RX_CSUM (1u << 0)     /* RX sets NET_PKT_RX_*_CSUM_* */
#define NET_PORT_TX_IP_CSUM (1u << 1)  /* honours NET_PKT_TX_IP_CSUM */
#define NET_PORT_TX_TCP_CSUM (1u << 2) /* honours NET_PKT_TX_TCP_CSUM */
#define NET_PORT_TX_TSO (1u << 3)      /* honours NET_PKT_TX_TCP_SEG (with both above) */

/* Counters of one port queue: the device's side of struct net_stats. */
struct net_port_stats {
	uint64_t rx_pkts, tx_pkts; /* frames handed to / accepted from the stack */
	uint64_t rx_drop;	   /* received, dropped by the port (no buffer, too long) */
	uint64_t tx_drop;	   /* refused by the port (no device buffer, ring full), or taken
				    * and dropped (a frame the device refused alone) */
	uint64_t rx_csum_bad;	   /* frames the device flagged with a bad checksum */
	/* The whole device (all queues), where it counts them: */
	uint64_t dev_rx_missed; /* dropped by the device: RX ring full */
	uint64_t dev_rx_errors, dev_tx_errors;
};

struct net_port_ops {
	/* Fills pkts[0..n) with received frames allocated from the pool it
	 * was given; returns how many (0..n).  The stack owns them after. */
	uint16_t (*rx_burst)(void *ctx, struct net_pkt **pkts, uint16_t n);
	/* Takes ownership of a prefix of pkts[0..n); returns its length.  A
	 * frame it takes may still be dropped alone (counted in tx_drop):
	 * one the device refuses does not stop the frames after it. */
	uint16_t (*tx_burst)(void *ctx, struct net_pkt **pkts, uint16_t n);
	uint32_t caps; /* NET_PORT_* */
	/* Optional (NULL: all zero): fills *out; on the queue's thread. */
	void (*stats)(void *ctx, struct net_port_stats *out);
	/* NET_PORT_TX_TSO's bounds (0: none beyond the stack's own): the
	 * most TCP payload bytes of one super-segment; the most buffers of
	 * its chain; the most bytes of each segment the device makes,
	 * counted from the IPv4 header (0: the stack's MTU). */
	uint32_t tso_max_payload;
	uint16_t tso_max_bufs;
	uint16_t tso_seg_mtu;
};

/* ------------------------------------------------------------------ */
/* Stack                                                               */

struct net_stack;
struct net_sock;

struct net_tuple {
	uint32_t laddr, faddr; /* host byte order */
	uint16_t lport, fport;
};

struct net_cfg {
	uint8_t mac[6];
	uint32_t ip, netmask, gateway;	       /* host byte order; gateway 0: none */
	uint16_t mtu;			       /* IP MTU, 576..1500; 0 means 1500 */
	uint32_t pool_size;		       /* packet buffers; 0 means 4096 */
	uint32_t max_socks;		       /* control blocks incl. listeners; 0: 1024 */
	uint32_t sndbuf, rcvbuf;	       /* bytes per connection; 0: 64 KiB each */
	uint32_t arp_ttl_us;		       /* cache entry lifetime; 0: 300 s */
	uint32_t msl_us;		       /* TIME_WAIT lasts 2*MSL; 0: 30 s */
	uint32_t delack_us;		       /* delayed-ACK timer; 0: 40 ms */
	uint32_t keepalive_idle_us;	       /* 0: keepalive off */
	uint32_t keepalive_intvl_us;	       /* 0: 75 s */
	uint32_t keepalive_cnt;		       /* 0: 9 */
	uint32_t rto_max_retries;	       /* data retransmissions before reset; 0: 12 */
	uint32_t rto_min_us;		       /* RTO floor (<= 60 s, the cap); 0: 200 ms */
	int no_rack_tlp;		       /* no RACK-TLP, RFC 8985 (tests) */
	int no_timestamps, no_wscale, no_sack; /* disable an option (tests) */
	int no_syncookies;		       /* a full backlog drops SYNs instead (tests) */
	/* TCP segmentation offload, on a port with NET_PORT_TX_TSO: new data
	 * leaves in super-segments of up to tso_max payload bytes (0:
	 * NET_TSO_MAX_DEFAULT; at most NET_TSO_MAX) instead of one segment of
	 * mss each; no_tso: never (diagnosis). */
	int no_tso;
	uint32_t tso_max;
	/* Initial sequence number; NULL: RFC 6528, SipHash-2-4 of the tuple
	 * keyed by secret/secret2, plus a 4 us clock.  Tests use it to start
	 * near 2^32. */
	uint32_t (*isn)(void *arg, const struct net_tuple *t);
	void *isn_arg;
	/* Readiness callback (NULL: none; poll net_events instead).  Called
	 * from net_poll/net_input/net_timers when the stack makes a NET_EV_*
	 * bit appear on a socket the user owns or on a listener (a connection
	 * is ready to accept), with the socket's current events.  Edge
	 * triggered: a bit is reported again only after a socket call
	 * (net_recv, net_send, net_accept) has observed it.  The callback may
	 * call the socket functions on that socket except net_close and
	 * net_abort (defer those to after the poll). */
	void (*notify)(void *arg, struct net_sock *so, uint32_t events);
	void *notify_arg;
	uint64_t secret, secret2; /* 128-bit ISN key: random at start-up */
	/* Neighbour facts shared with the other stacks of the port (NULL:
	 * none): this stack is number share_id of the share.  The facts this
	 * stack learns from ARP messages go to the others; net_poll applies
	 * theirs to the entries this stack has (net_nbr.c). */
	struct net_nbr_share *share;
	uint32_t share_id;
	/* The exception path (NULL: off).  Called with a frame addressed to
	 * this stack that is not for it (TCP to a port with no listener and
	 * no connection, UDP and other protocols, ICMP other than echo
	 * requests) instead of dropping or answering it, and with a copy of
	 * every ARP frame it receives; the frame is valid during the call
	 * only.  Returns 0 when it took the frame (exc_fwd), a negative errno
	 * when not (exc_drop).  On the stack's thread. */
	int (*exception)(void *arg, const uint8_t *frame, uint16_t len);
	void *exception_arg;
};

#define NET_TSO_MAX 65000u /* payload: the IPv4 total length is 16 bits */
#define NET_TSO_MAX_DEFAULT 65000u
/* The smallest segment of a super-segment: below it, new data leaves one
 * segment per frame.  Intel's i40e and iavf refuse a TSO frame whose
 * segment is under 256 bytes (rte_eth_tx_prepare), and a peer chooses
 * the MSS. */
#define NET_TSO_SEG_MIN 256u

struct net_stats {
	uint64_t rx_frames, tx_frames, tx_drop, rx_nobuf;
	uint64_t eth_drop; /* not for us, runt, unknown ethertype */
	uint64_t arp_rx, arp_tx, arp_drop, arp_queue_drop;
	uint64_t ip_rx, ip_bad_csum, ip_bad_hdr, ip_frag_drop, ip_not_us, ip_proto_drop;
	uint64_t icmp_rx, icmp_echo_reply, icmp_drop;
	/* ICMP Protocol Unreachable sent for a datagram of a protocol the
	 * stack lacks (RFC 1122 3.2.2.1), and those the rate limit held back */
	uint64_t icmp_unreach_tx, icmp_err_ratelimit;
	uint64_t tcp_rx, tcp_tx, tcp_bad_csum, tcp_bad_hdr, tcp_no_sock, tcp_rst_tx, tcp_rst_rx,
	    tcp_retrans, tcp_fast_retrans, tcp_rto, tcp_ooo, tcp_dup, tcp_syn_drop, tcp_paws_drop,
	    tcp_challenge_ack, tcp_probe, tcp_keepalive;
	/* sender-side SACK (RFC 6675): recoveries entered (also counted in
	 * tcp_fast_retrans), segments retransmitted by them (also in
	 * tcp_retrans), rescue retransmissions among those */
	uint64_t tcp_sack_recovery, tcp_sack_rexmit, tcp_sack_rescue;
	/* SYN cookies (RFC 4987): SYN-ACKs sent with a cookie because a
	 * listener's backlog was full; connections made from a valid cookie;
	 * ACKs whose cookie failed (forged, old) while cookies were out */
	uint64_t tcp_syncookie_tx, tcp_syncookie_ok, tcp_syncookie_bad;
	/* RACK-TLP (RFC 8985, SACK connections): tail loss probes sent;
	 * probes that repaired a loss (the cwnd was reduced for it);
	 * segments RACK's time-based detection marked lost; recoveries that
	 * RACK started (also counted in tcp_fast_retrans, tcp_sack_recovery) */
	uint64_t tcp_tlp_probe, tcp_tlp_repaired, tcp_rack_lost, tcp_rack_recovery;
	/* neighbour facts sent to the other stacks, applied from them, and
	 * not sent because a ring was full (net_nbr.c) */
	uint64_t arp_share_tx, arp_share_rx, arp_share_drop;
	/* the exception path: frames handed to it, refused by it, and frames
	 * from it sent out of the port (net_stack_send_raw) */
	uint64_t exc_fwd, exc_drop, exc_tx;
	/* TCP segmentation offload: super-segments handed to the port, and
	 * the segments the device makes of them (also counted in tcp_tx:
	 * tcp_tx counts a super-segment once) */
	uint64_t tcp_tso_tx, tcp_tso_segs;
};

/* The stack's sizes for a worker that must hold max_conns connections
 * (net_size_for): control blocks for them, their TIME_WAITs and closes
 * in progress (a quarter more) and the listener; packet buffers for one
 * frame in flight to every second connection plus the rings (at least
 * NET_SIZE_POOL_MIN, at most 65535, the pool's index width). */
#define NET_SIZE_POOL_MIN 8192u
#define NET_SIZE_MAX_CONNS (1u << 20)
struct net_size {
	uint32_t max_socks; /* net_cfg.max_socks */
	uint32_t pool_size; /* net_cfg.pool_size */
	uint64_t bytes;	    /* heap the stack takes for both, about */
};
/* Fills *out for max_conns connections.  Returns 0, or -EINVAL when
 * max_conns is 0 or over NET_SIZE_MAX_CONNS.  Pure; any thread. */
int net_size_for(uint32_t max_conns, struct net_size *out);

/* Creates a stack on a port.  cfg is copied; ops and port_ctx must
 * outlive the stack.  Returns 0, -EINVAL (bad address, mtu, rto_min_us
 * over 60 s) or -ENOMEM. */
int net_stack_create(struct net_stack **out, const struct net_cfg *cfg,
		     const struct net_port_ops *ops, void *port_ctx);
/* Frees the stack, its sockets (without sending anything) and its pool.
 * The port must hold no buffer of the pool any more. */
void net_stack_destroy(struct net_stack *s);
/* The pool a port allocates received frames from. */
struct net_pool *net_stack_pool(struct net_stack *s);
const struct net_stats *net_stack_stats(const struct net_stack *s);
/* The port's counters (zeros for a port without a stats operation). */
void net_stack_port_stats(const struct net_stack *s, struct net_port_stats *out);
/* Number of control blocks in use (listeners, connections, TIME_WAIT). */
uint32_t net_stack_socks_in_use(const struct net_stack *s);

/* Queues a whole Ethernet frame (14..1514 bytes, copied) for the port,
 * as it is: the exception path's frames from the kernel.  Returns 0
 * (exc_tx), -EINVAL (length) or -ENOBUFS (no packet buffer); both count
 * in exc_drop. */
int net_stack_send_raw(struct net_stack *s, const void *frame, size_t len);

/* Neighbour facts shared between the stacks of one port (net_nbr.c):
 * one bounded single-producer single-consumer ring per ordered pair of
 * stacks.  create: 0, -EINVAL (nstacks 0 or above 1024), -ENOMEM.
 * Create and destroy while no stack uses it; give it to each stack in
 * net_cfg.share with its number. */
struct net_nbr_share;
int net_nbr_share_create(struct net_nbr_share **out, uint32_t nstacks);
void net_nbr_share_destroy(struct net_nbr_share *sh);
uint32_t net_nbr_share_size(const struct net_nbr_share *sh);

/* Sends a gratuitous ARP (call once the port is up). */
int net_stack_start(struct net_stack *s, uint64_t now_us);

/* One round: receives what the port holds, in bursts, up to
 * NET_RX_POLL_MAX (16,384) frames, runs the protocols, fires due timers and
 * transmits what is queued.  Returns the number of frames received.
 * now_us: the current time.  Taking all the port holds, not one burst,
 * keeps the device's ring (no flow control: full means dropped) short
 * however long the caller's work between polls; the data waits in the
 * connections' receive buffers instead, acknowledged and flow-controlled. */
int net_poll(struct net_stack *s, uint64_t now_us);
/* Processes one frame (the stack takes ownership).  net_poll uses it; the
 * fuzzer and tests call it directly.  Output is queued until net_flush. */
void net_input(struct net_stack *s, struct net_pkt *pkt, uint64_t now_us);
/* Runs due timers, then transmits queued frames. */
void net_timers(struct net_stack *s, uint64_t now_us);
void net_flush(struct net_stack *s);
/* Earliest pending timer deadline (UINT64_MAX: none): a caller may sleep
 * until then when the port is idle. */
uint64_t net_next_timer(const struct net_stack *s);

/* ------------------------------------------------------------------ */
/* Idle back-off of a polling loop (net_idle.c)                        */

/* A polled core with nothing to do either spins (an appliance's
 * dedicated core: lowest latency) or backs off: after spin_polls empty
 * rounds it sleeps step_us, doubling each further empty round up to
 * max_us, never past the stack's next timer; any work resets it.  The
 * added latency of the first frame after a quiet spell is at most max_us
 * (plus the kernel's timer slack). */
enum net_idle_mode { NET_IDLE_SPIN = 0, NET_IDLE_BACKOFF = 1 };

struct net_idle {
	enum net_idle_mode mode;
	uint32_t spin_polls;	   /* empty rounds before the first sleep; 100 */
	uint32_t step_us;	   /* first sleep; 16 us */
	uint32_t max_us;	   /* longest sleep; 512 us */
	uint32_t idle_polls;	   /* empty rounds in a row */
	uint32_t cur_us;	   /* the next sleep */
	uint64_t sleeps, slept_us; /* counters */
};

/* Defaults above for the mode; the fields may be changed after. */
void net_idle_init(struct net_idle *w, enum net_idle_mode mode);
/* Pure: how long to sleep after a round (0: poll again now).  did_work:
 * the round received, sent or served anything; next_timer_us: the
 * stack's net_next_timer (UINT64_MAX: none). */
uint32_t net_idle_next(struct net_idle *w, int did_work, uint64_t now_us, uint64_t next_timer_us);
/* net_idle_next, then sleeps that long (nanosleep; the counters grow). */
void net_idle_wait(struct net_idle *w, int did_work, uint64_t now_us, uint64_t next_timer_us);

/* ------------------------------------------------------------------ */
/* Sockets (TCP)                                                       */

#define NET_EV_READABLE (1u << 0)  /* data, EOF or a pending accept */
#define NET_EV_WRITABLE (1u << 1)  /* send buffer space */
#define NET_EV_HUP (1u << 2)	   /* peer closed (FIN received) */
#define NET_EV_ERR (1u << 3)	   /* reset or timed out; the socket is dead */
#define NET_EV_CONNECTED (1u << 4) /* ESTABLISHED reached */

/* Opens a listener on the stack's address.  backlog bounds the half-open
 * (SYN_RECEIVED) plus the unaccepted (established, in the accept queue)
 * connections together; SYNs beyond it (or when no control block is
 * free) are answered with a SYN cookie and keep no state
 * (tcp_syncookie_tx), unless cfg.no_syncookies or the accept queue alone
 * fills the backlog: then they are dropped and counted (tcp_syn_drop).
 * Returns 0, -EADDRINUSE, -EINVAL, -ENOMEM. */
int net_listen(struct net_stack *s, uint16_t port, uint32_t backlog, struct net_sock **out);
/* Takes one established connection from a listener's queue: 0 and *out,
 * or -EAGAIN. */
int net_accept(struct net_sock *l, struct net_sock **out);
/* Active open to faddr:fport from an ephemeral port.  Returns 0 (the SYN
 * is queued; NET_EV_CONNECTED or NET_EV_ERR follows), -ENOMEM, -EINVAL,
 * -EADDRNOTAVAIL (no free ephemeral port). */
int net_connect(struct net_stack *s, uint32_t faddr, uint16_t fport, uint64_t now_us,
		struct net_sock **out);
/* Copies up to len received bytes.  Returns the count, 0 at end of stream
 * (FIN received and all data read), -EAGAIN, -ECONNRESET, -ECONNREFUSED
 * (active open refused), -ETIMEDOUT or -ENOTCONN.  Reading opens the window (a window update may be
 * sent). */
long net_recv(struct net_sock *so, void *buf, size_t len, uint64_t now_us);
/* Copies up to len bytes into the bounded send buffer and sends what the
 * windows allow.  Returns the count accepted (may be short), -EAGAIN when
 * the buffer is full, -EPIPE after close/shutdown, -ECONNRESET,
 * -ETIMEDOUT, -ENOTCONN. */
long net_send(struct net_sock *so, const void *buf, size_t len, uint64_t now_us);
/* Readiness: NET_EV_* bits. */
uint32_t net_events(const struct net_sock *so);
/* Graceful close: the caller gives up the socket (no call on it after);
 * unsent data is still sent, then FIN; the stack frees the control block
 * when the connection ends (after TIME_WAIT where it applies).  Closing a
 * listener resets its unaccepted connections. */
void net_close(struct net_sock *so, uint64_t now_us);
/* Abortive close: sends RST (where a connection exists) and frees it. */
void net_abort(struct net_sock *so, uint64_t now_us);
/* Tuple and TCP state name, for logs and tests. */
void net_sock_tuple(const struct net_sock *so, struct net_tuple *t);
const char *net_sock_state(const struct net_sock *so);
/* The owner's pointer on a socket (NULL until set; never read by the
 * stack): how a notify callback finds the owner's state for a socket. */
void net_sock_set_user(struct net_sock *so, void *user);
void *net_sock_user(const struct net_sock *so);

/* ------------------------------------------------------------------ */
/* In-memory device (tests, simulator)                                 */

/* Two FIFO queues of frames: rx (frames the test injects, the stack
 * receives) and tx (frames the stack sent, captured for the test).
 * Bounded by cap each; frames beyond are refused (tx) or dropped (inject
 * returns -ENOBUFS). */
#define NET_MEMDEV_TSO_LOG 64u
struct net_memdev_tso {
	uint32_t seq, payload; /* the super-segment's first sequence number, payload bytes */
	uint16_t segsz, segs;  /* tso_segsz; segments made of it */
	uint16_t bufs;	       /* buffers of its chain */
	uint16_t dport;	       /* its TCP destination port */
	uint8_t tcp_flags;
	uint8_t tcp_hlen; /* its TCP header's bytes, options included */
};
struct net_memdev {
	struct net_pool *pool; /* the stack's pool; set after create */
	struct net_pkt *rx_head, *rx_tail, *tx_head, *tx_tail;
	uint32_t rx_len, tx_len, cap;
	uint32_t caps;
	/* TSO (net_memdev_ops_tso): the device's part, in software: each
	 * super-segment is checked against the contract of
	 * NET_PKT_TX_TCP_SEG (tso_bad counts violations), logged (the first
	 * NET_MEMDEV_TSO_LOG of them; a test may reset n_tso_log), and cut
	 * into the wire segments the tx queue then holds. */
	uint64_t tso_frames, tso_segs, tso_bad;
	struct net_memdev_tso tso_log[NET_MEMDEV_TSO_LOG];
	uint32_t n_tso_log;
};

extern const struct net_port_ops net_memdev_ops;      /* caps: none */
extern const struct net_port_ops net_memdev_ops_csum; /* all checksum offloads */
/* All offloads and TSO (no bounds: a test copies it and sets them). */
extern const struct net_port_ops net_memdev_ops_tso;
void net_memdev_init(struct net_memdev *d, uint32_t cap);
/* Copies a frame into a buffer of d->pool and queues it for the stack. */
int net_memdev_inject(struct net_memdev *d, const void *frame, size_t len, uint32_t flags);
/* Dequeues the oldest frame the stack sent (caller frees it to d->pool),
 * or NULL. */
struct net_pkt *net_memdev_take(struct net_memdev *d);
/* Frees every queued frame. */
void net_memdev_drain(struct net_memdev *d);

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

/* The Internet checksum (RFC 1071) of buf, folded and complemented,
 * continuing from a partial sum. */
uint16_t net_csum(const void *buf, size_t len, uint32_t sum);
uint32_t net_csum_partial(const void *buf, size_t len, uint32_t sum);
/* SipHash-2-4 (Aumasson and Bernstein) of msg with the key (k0, k1), k0
 * holding key bytes 0-7 little-endian. */
uint64_t net_siphash24(uint64_t k0, uint64_t k1, const void *msg, size_t len);

#endif
