/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer.h - the transport between the servers of an ensemble (issue 9,
 * part 4): framed, checksummed byte messages over kernel TCP, one bounded
 * queue per peer, reconnection with back-off, and a handshake that refuses
 * a server of another ensemble or with a wrong id.  What the bytes mean
 * (Raft messages, snapshot chunks, forwarded writes) is the caller's.
 *
 * THREADS AND TIME
 *   One owner: the broadcast core thread calls every function; nothing is
 *   locked and the module starts no thread.  The caller puts peer_fd() (an
 *   epoll fd holding every socket of the module) in its own poll set and
 *   calls peer_poll(now_ms) when it is readable, when the deadline that
 *   peer_poll() returned has come, and after peer_send() before it sleeps
 *   (peer_send() only queues; peer_poll() writes).  All I/O is
 *   non-blocking: no call blocks except peer_new(), which resolves host
 *   names once (getaddrinfo: numeric addresses and /etc/hosts do not block;
 *   DNS may, once, at start-up).  Time is never read: now_ms (any monotonic
 *   millisecond count) is passed in, so tests drive timers exactly.
 *   Randomness (back-off jitter) comes from peer_config.seed.
 *
 * PORTS (zoo.cfg server.N=host:quorumPort:electionPort[:type][;client])
 *   Every message, votes included, travels on the quorum port.  Raft's
 *   elections are ordinary messages of the same protocol; a second link
 *   per peer for them would reorder a vote against the appends of the same
 *   term and double the sockets, for nothing.  (ZooKeeper 3.8 needs the
 *   election port for FastLeaderElection, which runs before its
 *   leader-follower link exists; Raft has no such phase.)  The election
 *   port is still bound and listened on: a port clash on the host fails at
 *   start-up as it does for ZooKeeper, and a ZooKeeper server or a stale
 *   script that connects to it is answered by a close and one log line
 *   ("the election port carries nothing in Cheetah") instead of a silent
 *   time-out.  quorumListenOnAllIPs is peer_config.listen_all.
 *
 * WHO CONNECTS TO WHOM
 *   Every server dials every other member on its quorum port and sends only
 *   on the connection it dialled (its "outbound" link to that peer); it
 *   receives only on the connections it accepted ("inbound").  So two
 *   servers hold two TCP connections, one per direction, and there is no
 *   ZooKeeper-style tie break on who keeps which socket.  The acceptor
 *   never sends a frame: after its half of the handshake (and of the quorum
 *   SASL exchange, if any), any byte from it on an outbound link is a
 *   protocol error.  A second inbound connection
 *   that claims an id which already has one replaces the old one (newest
 *   wins): a peer dials again only after it gave its previous link up
 *   (restart, time-out), so the old socket is the stale one.
 *
 * HANDSHAKE (struct peer_hello, PEER_HELLO_SIZE bytes, big-endian)
 *   magic "CHPR", version u16, flags u16 (0, or PEER_HELLO_F_SASL from
 *   a dialer that will authenticate: QUORUM SASL), ensemble u64, from u32,
 *   to u32, crc32c u32 of the preceding 24 bytes.  The dialer sends its
 *   hello at once; the acceptor checks it and answers with its own (from
 *   and to swapped) or closes.  The dialer checks the answer the same way,
 *   so a host:port that leads to the wrong server is refused by both ends.
 *   Refused, with a log line naming both sides ("peer says it is server 3
 *   of ensemble X talking to server 2, we are server 2 of ensemble Y"),
 *   rate-limited to one per known peer (and one for all unknown sources)
 *   every PEER_LOG_INTERVAL_MS, the last one kept in the statistics: bad magic
 *   or checksum, another version, another ensemble, an unknown id, our own
 *   id, a `to` that is not us, a handshake not complete within
 *   handshake_timeout_ms.
 *   The ensemble identity is a 64-bit value the caller passes; see
 *   peer_ensemble_id() for the default derived from zoo.cfg.
 *
 * QUORUM SASL (peer_config.sasl, from ZooKeeper's quorum.auth.* keys)
 *   A dialer with learner_require sets PEER_HELLO_F_SASL in its hello.
 *   The acceptor (with SASL enabled) answers with its hello and then the
 *   two exchange auth messages (PEER_AUTH_HDR bytes: status u32, length
 *   u32, then the token, at most PEER_AUTH_TOKEN_MAX bytes): the dialer
 *   sends PEER_AUTH_TOKEN, the acceptor answers PEER_AUTH_IN_PROGRESS,
 *   PEER_AUTH_SUCCESS or PEER_AUTH_ERROR (ZooKeeper's QuorumAuth.Status).
 *   Only after SUCCESS is the link up on either side: no frame travels
 *   before.  Refused (rate-limited log line naming the key or section,
 *   the link never comes up): an offer to an acceptor without
 *   enableSasl; no offer to an acceptor with server_require; wrong
 *   credentials; more than PEER_AUTH_MAX_STEPS messages; a malformed
 *   message.  Every step is bounded by the handshake time-outs
 *   (handshake_timeout_ms on the acceptor, dial_timeout_ms on the dialer)
 *   and each is a DIGEST-MD5 computation of microseconds (peer_sasl.c) or
 *   a GSSAPI step on peer_sasl's helper thread (the link waits for its
 *   eventfd, registered in this epoll set), so a peer that stalls or
 *   floods, or a slow KDC, costs one slot for at most the time-out, never
 *   a blocked poll.
 *
 * QUORUM TLS (peer_config.tls, from sslQuorum and ZooKeeper's ssl.quorum.*)
 *   Every link is TLS from its first byte: the dialer is the TLS client,
 *   the acceptor the TLS server, and each requires the other's
 *   certificate and verifies it against the quorum trust store
 *   (QuorumX509Util: clientAuth is need on quorum links).  With
 *   ssl.quorum.hostnameVerification (default true) the dialer also checks
 *   the acceptor's certificate against the host of its server.N line (an
 *   address against the IP SANs, a name against the DNS SANs and CN), and
 *   the acceptor checks the dialer's against the address it came from (IP
 *   SANs; no reverse DNS lookup, which would block).  The TLS handshake
 *   runs before the hello (PEER_LINK_TLS on the dialer, a pending
 *   connection on the acceptor), non-blocking, within the same time-outs
 *   (dial_timeout_ms, handshake_timeout_ms); the hello, quorum SASL and
 *   frames then travel inside TLS (SSL_read/SSL_write, one frame per
 *   SSL_write, the same queues and bounds).  A failed handshake (no
 *   certificate, another CA, a name mismatch, no common protocol) is
 *   logged with OpenSSL's reason, rate-limited as the handshake refusals
 *   above, and the link never comes up.  A plain server on the quorum
 *   port of a TLS one (or the reverse) fails the handshake: there is no
 *   port unification for a rolling upgrade.
 *
 * FRAMES (PEER_FRAME_HDR bytes then the payload, big-endian)
 *   length u32 (payload bytes, 0..max_frame), type u16 (1..65535, the
 *   caller's; 0 is reserved), flags u16 (0), crc32c u32 over the first 8
 *   header bytes and the payload.  A length above max_frame, non-zero
 *   flags, type 0 or a wrong checksum closes the link, with a log line
 *   naming the peer; the sender reconnects.  Every frame is checksummed,
 *   Raft messages too, although raft_msg.c checks its own: the transport
 *   also carries snapshot chunks and forwarded client writes, which have no
 *   checksum of their own, and on a byte stream a corrupted length would
 *   desynchronise every later message, so corruption must close the link
 *   where it is found, not just drop one message.  CRC-32C runs at about
 *   4 GB/s with SSE4.2 (common/crc32c.c), far above what a link carries.
 *   peer_frame_parse() and peer_hello_parse() are pure functions (bytes in,
 *   frame or error out) and are fuzzed (tests/replication/fuzz_peer.c).
 *
 * QUEUES, LOSS AND EVENTS
 *   peer_send() copies the payload into the peer's send queue, bounded by
 *   queue_max_bytes and queue_max_frames; it drops (returns an error) when
 *   the outbound link is not up or the queue is full: Raft tolerates loss
 *   and retransmits, and a queue that kept growing for a dead peer would
 *   only deliver stale messages later.  A peer that reads nothing for
 *   stall_timeout_ms while we have bytes for it is disconnected.  When an
 *   outbound link goes down, its queue is dropped (counted).
 *   Events are about outbound links: PEER_EV_CONNECTED when the handshake
 *   of a link we dialled completes (we can send), PEER_EV_LOST when such a
 *   link closes; each transition is reported exactly once, in order.
 *   A killed peer's kernel closes its sockets, so LOST comes within a poll
 *   of the kill (as ZooKeeper learns of a dead leader): the driver passes
 *   it to raft_peer_lost().  A peer cut off silently is noticed by Raft's
 *   own timeouts, or by the stall timeout when bytes wait for it.
 *
 * RECONNECTION
 *   A failed or lost outbound link is dialled again after a back-off that
 *   doubles from backoff_min_ms up to backoff_max_ms, each wait drawn
 *   uniformly from [b/2, b] (seeded jitter, so restarted servers do not
 *   dial in lock step); it resets when a handshake completes.  connect() is
 *   non-blocking; dial_timeout_ms bounds connect plus handshake.  EMFILE or
 *   ENFILE (out of descriptors) on socket() or accept() is not fatal: the
 *   dial is retried after the back-off, accepting resumes after
 *   PEER_EMFILE_RETRY_MS, both logged rate-limited.
 *
 * MEMORY BOUNDS
 *   Per peer: the send queue (queue_max_bytes + PEER_FRAME_HDR per frame)
 *   and one receive buffer of at most max_frame + PEER_FRAME_HDR bytes,
 *   grown on demand from PEER_RBUF_MIN and released when the link closes.
 *   At most PEER_PENDING_MAX accepted connections wait in the handshake
 *   at a time; further ones are closed at once (counted).
 */
#ifndef CHEETAH_REPLICATION_PEER_H
#define CHEETAH_REPLICATION_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PEER_MAX_MEMBERS 16 /* == RAFT_MAX_MEMBERS */
#define PEER_HELLO_SIZE 28
#define PEER_FRAME_HDR 12
#define PEER_MAGIC 0x43485052u /* "CHPR" */
#define PEER_VERSION 1
#define PEER_PENDING_MAX 8

#define PEER_DEFAULT_MAX_FRAME (4u << 20) /* a snapshot chunk + header room */
#define PEER_FRAME_LIMIT (256u << 20)	  /* the largest max_frame accepted */
#define PEER_DEFAULT_QUEUE_BYTES (16u << 20)
#define PEER_DEFAULT_QUEUE_FRAMES 4096
#define PEER_DEFAULT_DIAL_TIMEOUT_MS 2000
#define PEER_DEFAULT_HANDSHAKE_TIMEOUT_MS 2000
#define PEER_DEFAULT_STALL_TIMEOUT_MS 10000
#define PEER_DEFAULT_BACKOFF_MIN_MS 50
#define PEER_DEFAULT_BACKOFF_MAX_MS 1500
#define PEER_LOG_INTERVAL_MS 10000
/* sslQuorumReloadCertFiles: how often the store files are stat()ed. */
#define PEER_TLS_CHECK_MS 1000
#define PEER_EMFILE_RETRY_MS 100
#define PEER_RBUF_MIN (64u << 10)
#define PEER_HELLO_F_SASL 1u /* the dialer will authenticate (quorum SASL) */
#define PEER_AUTH_HDR 8
#define PEER_AUTH_TOKEN_MAX 4096 /* DIGEST-MD5 tokens are a few hundred bytes */
#define PEER_AUTH_MAX_STEPS 8

enum peer_auth_status { /* ZooKeeper's QuorumAuth.Status, plus the dialer's token */
			PEER_AUTH_TOKEN = 0,
			PEER_AUTH_IN_PROGRESS = 1,
			PEER_AUTH_SUCCESS = 2,
			PEER_AUTH_ERROR = 3,
};

struct peer_sasl;
struct cfg_tls;

/* One server.N line, as far as the transport cares. */
struct peer_member {
	uint32_t id;	  /* N >= 1 */
	const char *host; /* name or address; used by peer_new() only */
	uint16_t quorum_port;
	uint16_t election_port;
	bool observer; /* only feeds peer_ensemble_id() */
};

struct peer_config {
	uint32_t self_id;		   /* must be one of members[] */
	uint64_t ensemble;		   /* e.g. peer_ensemble_id(); 0 is refused */
	const struct peer_member *members; /* n_members entries, self included */
	size_t n_members;		   /* 1..PEER_MAX_MEMBERS */
	bool listen_all;		   /* quorumListenOnAllIPs: bind the wildcard */
	uint64_t seed;			   /* back-off jitter */
	/* 0 selects the PEER_DEFAULT_* value */
	uint32_t max_frame;	  /* payload bytes, <= PEER_FRAME_LIMIT */
	uint32_t queue_max_bytes; /* payload bytes queued per peer, >= max_frame */
	uint32_t queue_max_frames;
	uint32_t dial_timeout_ms;
	uint32_t handshake_timeout_ms;
	uint32_t stall_timeout_ms;
	uint32_t backoff_min_ms;
	uint32_t backoff_max_ms;
	const struct peer_sasl *sasl; /* quorum SASL (peer_sasl.h); NULL: off */
	/*
	 * sslQuorum: the ssl.quorum.* keys (config.h), NULL: off.  peer_new
	 * builds the OpenSSL context from them (and fails with -EINVAL,
	 * logged, when it cannot); nothing is referenced afterwards, except
	 * with tls->cert_reload (sslQuorumReloadCertFiles): then *tls must
	 * outlive the peer, which stats its key and trust store files every
	 * PEER_TLS_CHECK_MS from peer_poll and, when one changed, builds a new
	 * context for the links made afterwards (a failed build is logged,
	 * rate-limited, and the old context kept).
	 */
	const struct cfg_tls *tls; /* OpenSSL writes with write(2): ignore SIGPIPE */
};

enum peer_event {
	PEER_EV_CONNECTED = 1, /* our outbound link to `id` is up */
	PEER_EV_LOST = 2,      /* it went down (after having been up) */
};

/*
 * Called from inside peer_poll() only, on the owner thread.  payload is
 * valid during the call only (copy what must outlive it).  A callback may
 * call peer_send() and peer_stats(); it must not call peer_poll() or
 * peer_destroy().
 */
struct peer_callbacks {
	void (*on_frame)(void *arg, uint32_t from, uint16_t type, const void *payload, size_t len);
	void (*on_event)(void *arg, uint32_t id, enum peer_event ev);
	void *arg;
};

/* The outbound link's state, as the statistics show it. */
enum peer_link {
	PEER_LINK_IDLE = 0,	  /* waiting for the back-off to dial again */
	PEER_LINK_CONNECTING = 1, /* connect() in progress */
	PEER_LINK_HELLO = 2,	  /* connected, waiting for the acceptor's hello */
	PEER_LINK_UP = 3,
	PEER_LINK_AUTH = 4, /* hello done, quorum SASL exchange under way */
	PEER_LINK_TLS = 5,  /* connected, TLS handshake under way (sslQuorum) */
};

struct peer_stats {
	uint32_t id;
	enum peer_link out_state;
	bool in_up;	     /* an accepted link from it is established */
	uint64_t bytes_sent; /* payload bytes written */
	uint64_t frames_sent;
	uint64_t bytes_recv; /* payload bytes delivered */
	uint64_t frames_recv;
	uint64_t drops_full;	/* peer_send() -ENOBUFS */
	uint64_t drops_down;	/* -ENOTCONN, plus frames dropped with a lost queue */
	uint64_t connects;	/* outbound handshakes completed */
	uint64_t losses;	/* outbound links lost after being up */
	uint64_t dial_failures; /* refused, timed out, handshake failed */
	uint64_t refused;	/* inbound handshakes from it refused */
	uint64_t bad_frames;	/* inbound links closed for a bad frame */
	uint64_t stalls;	/* outbound links closed: peer read nothing */
	uint32_t queued_frames;
	uint64_t queued_bytes;
	char last_error[224]; /* the last problem logged about this peer, or "" */
	/* The accepted link from it (while in_up): its address, when it came up. */
	char in_from[64];      /* "host:port" as accepted */
	int64_t in_since_wall; /* ms since the epoch */
};

/* Whole-module counters. */
struct peer_global_stats {
	uint64_t refused_unknown; /* handshakes from no known member, or garbage */
	uint64_t election_port_conns;
	uint64_t pending_overflow; /* accepted connections closed: too many pending */
	uint64_t emfile;	   /* EMFILE/ENFILE seen on socket() or accept() */
	char last_error[224];
};

struct peer;

/*
 * Validates cfg, resolves every member's host (see THREADS AND TIME),
 * binds and listens on self's quorum and election ports (SO_REUSEADDR)
 * and schedules a first dial to every other member at once.  Nothing in
 * cfg is referenced after the call.
 * Returns 0 and *out, -EINVAL (a bad field: the log says which),
 * -EADDRINUSE / other -errno from socket()/bind()/listen(), -ENOMEM.
 */
int peer_new(const struct peer_config *cfg, const struct peer_callbacks *cb, struct peer **out);

/* Closes every socket and frees everything.  NULL is accepted. */
void peer_destroy(struct peer *p);

/* The fd to poll for readability (an epoll fd).  Owned by p. */
int peer_fd(const struct peer *p);

/*
 * Does all pending non-blocking I/O and the timers due at now_ms: accepts,
 * handshakes, reads and delivers frames (on_frame), writes queued frames,
 * dials, closes stalled or timed-out links, reports events (on_event).
 * *next_ms gets the earliest time at which peer_poll() must be called
 * again even if peer_fd() stays quiet (UINT64_MAX: no timer).  now_ms must
 * not go backwards.  Returns 0, or -errno if epoll_wait() itself failed
 * (EINTR is not a failure).
 */
int peer_poll(struct peer *p, uint64_t now_ms, uint64_t *next_ms);

/*
 * Queues one frame (type 1..65535, len <= max_frame bytes copied from
 * payload) for peer `to`.  Never blocks, does no I/O (see THREADS AND
 * TIME).  Returns 0; -EINVAL (unknown id, self, type 0); -EMSGSIZE (len
 * above max_frame); -ENOTCONN (outbound link not up: dropped); -ENOBUFS
 * (queue full: dropped); -ENOMEM.  Every error but -EINVAL is a counted
 * drop the caller may ignore.
 */
int peer_send(struct peer *p, uint32_t to, uint16_t type, const void *payload, size_t len);

/*
 * As peer_send, but the payload (exactly len bytes) is written by
 * enc(arg, buf, len) straight into the queued frame, so a message encoded
 * per peer (a Raft append) is not built elsewhere and copied.  enc returns
 * 0, or -errno: then nothing is queued and that is returned.  enc is called
 * only after every check above passed (never for a dropped frame), inside
 * this call; it must not call into this module.  -EINVAL also for a NULL enc.
 */
int peer_send_encoded(struct peer *p, uint32_t to, uint16_t type, size_t len,
		      int (*enc)(void *arg, uint8_t *buf, size_t len), void *arg);

/*
 * Membership changes (ZooKeeper's reconfig), outside peer_poll() only.
 * peer_add(): a new member to dial at the next poll and to accept links
 * from; resolves m->host (see THREADS AND TIME); nothing in m is kept.
 * Returns 0, -EINVAL (bad member, self), -EEXIST, -ENOSPC (PEER_MAX_MEMBERS
 * already), or resolve's -errno.  peer_remove(): closes both links to `id`,
 * drops its queue and forgets it (its handshakes are refused as an unknown
 * id from then on).  Returns 0 or -EINVAL (unknown id).
 */
int peer_add(struct peer *p, const struct peer_member *m);
int peer_remove(struct peer *p, uint32_t id);

/* True when frames wait in some queue (the caller should peer_poll()). */
bool peer_has_pending(const struct peer *p);

/* Copies peer id's statistics.  Returns 0 or -EINVAL (unknown id, self). */
int peer_stats(const struct peer *p, uint32_t id, struct peer_stats *out);
void peer_global_stats(const struct peer *p, struct peer_global_stats *out);

/*
 * The default ensemble identity: FNV-1a-64 over the members sorted by id,
 * each as (id, observer, quorum_port, election_port), and over `name` if
 * non-NULL (an operator-chosen ensemble name, e.g. a future
 * cheetah.ensembleName key).  Host names are left out on purpose: servers
 * commonly list themselves as 0.0.0.0 or by another spelling of their own
 * address, and a host that leads to the wrong server is caught by the id
 * check.  Two ensembles with identical id and port layouts are told apart
 * only by a name.  Never returns 0.
 */
uint64_t peer_ensemble_id(const struct peer_member *m, size_t n, const char *name);

struct cfg;

/*
 * Fills *out (other fields zero: the defaults) and members[] from a
 * finalized zoo.cfg: every server.N line is a member, self_id is myid,
 * listen_all is quorumListenOnAllIPs, ensemble is peer_ensemble_id() of
 * the members without a name.  out->members points to members[] and the
 * host strings to c's: keep both alive until peer_new() returns (it copies
 * what it needs).  Returns 0 or -EINVAL (no or too many servers, an id out
 * of range, self_id without a server line; logged).  In peer_cfg.c.
 */
int peer_config_from_cfg(const struct cfg *c, uint32_t self_id,
			 struct peer_member members[PEER_MAX_MEMBERS], struct peer_config *out);

/* ---- Pure codec (no state, no I/O; fuzzed) ---- */

struct peer_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t flags;
	uint64_t ensemble;
	uint32_t from;
	uint32_t to;
};

/* Writes PEER_HELLO_SIZE bytes (checksum included) to out. */
void peer_hello_encode(const struct peer_hello *h, uint8_t out[PEER_HELLO_SIZE]);

/*
 * Parses a hello from buf[0..n).  Returns PEER_HELLO_SIZE and *h, 0 if
 * n < PEER_HELLO_SIZE (need more), -EBADMSG (magic, checksum or flags
 * other than PEER_HELLO_F_SASL),
 * -EPROTONOSUPPORT (another version; *h is filled).
 */
int peer_hello_parse(const uint8_t *buf, size_t n, struct peer_hello *h);

struct peer_frame {
	uint16_t type;
	uint32_t len;
	const uint8_t *payload; /* points into the parsed buffer */
};

/* Writes the PEER_FRAME_HDR-byte header of a frame (checksum included). */
void peer_frame_header(uint16_t type, const void *payload, uint32_t len,
		       uint8_t out[PEER_FRAME_HDR]);

/*
 * Parses one frame from buf[0..n).  Returns the bytes it takes
 * (PEER_FRAME_HDR + len) and *f; 0 if more bytes are needed (*need, if
 * not NULL, gets the whole frame's size once the header is complete, else
 * PEER_FRAME_HDR); -EMSGSIZE (length above max_frame), -EBADMSG (type 0,
 * non-zero flags, wrong checksum).
 */
int peer_frame_parse(const uint8_t *buf, size_t n, uint32_t max_frame, struct peer_frame *f,
		     size_t *need);

/* Writes an auth message's PEER_AUTH_HDR-byte header. */
void peer_auth_header(enum peer_auth_status st, uint32_t len, uint8_t out[PEER_AUTH_HDR]);

/*
 * Parses one auth message from buf[0..n).  Returns the bytes it takes
 * (PEER_AUTH_HDR + *len), *st, and *tok pointing into buf; 0 if more are
 * needed; -EBADMSG (unknown status, length above PEER_AUTH_TOKEN_MAX).
 */
int peer_auth_parse(const uint8_t *buf, size_t n, enum peer_auth_status *st, const uint8_t **tok,
		    uint32_t *len);

#endif
