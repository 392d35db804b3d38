/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the dataplane: the seam between the I/O layer and the protocol
 * layer.
 *
 *  I/O layer (dp_worker.c, dp_conn.c, dp_sock.c, later dp_dpdk.c, 4lw):
 *    one worker thread per configured core; the backend ops table
 *    (struct dp_io_ops, STYLE.md "Pluggable I/O"); connections, their
 *    input framing (4-byte length, jute.maxbuffer) and bounded output
 *    queues; four-letter words (recognised in a connection's first 4
 *    bytes before any framing); maxClientCnxns per client IP; the ring
 *    wakeups.  It knows nothing of ZooKeeper requests.
 *
 *  Protocol layer (dp_session.c, dp_read.c, dp_watch.c):
 *    the connect handshake and the session's wire state, FIFO order per
 *    session, reads served from the tree, writes handed to the broadcast
 *    core, results and watch events from it, the watch manager, auth.
 *    It knows nothing of sockets.
 *
 * Everything here runs on the worker thread that owns the connection;
 * nothing is shared between workers except through rings (replication/
 * repl.h) and read-only statistics.
 */
#ifndef CHEETAH_DATAPLANE_DP_PRIV_H
#define CHEETAH_DATAPLANE_DP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jute.h"

struct dp_worker;  /* I/O layer: one per worker thread */
struct dp_conn;    /* I/O layer: one client connection */
struct dp_proto;   /* protocol layer: per-worker state (sessions, watches) */
struct cfg;
struct repl;
struct tree;

/* ---- Services of the I/O layer to the protocol layer ---- */

/* Stable id of a connection within its worker (used in repl messages). */
uint32_t dp_conn_id(const struct dp_conn *c);
/* The connection with that id, or NULL once it closed. */
struct dp_conn *dp_conn_lookup(struct dp_worker *w, uint32_t id);

/*
 * The first connection in a slot >= *slot (any state, until the protocol
 * layer has heard it closed), with *slot set to its slot; NULL when none
 * is left.  For listings that resume between calls (cons, stat, dump):
 * the caller goes on from *slot + 1.
 */
struct dp_conn *dp_conn_next(struct dp_worker *w, uint32_t *slot);

/*
 * Queues bytes (whole frames) for sending.  Returns 0, or -ENOBUFS when
 * the connection's output bound is exceeded: the connection is then being
 * closed (a client that stops reading is dropped, not buffered forever).
 */
int dp_conn_send(struct dp_conn *c, const void *buf, size_t len);
/* Start/commit a frame built in place in the output queue. */
struct jute_out *dp_conn_out_begin(struct dp_conn *c);
int dp_conn_out_commit(struct dp_conn *c);

/* Closes after the queued output is written; reason is logged once with the peer. */
void dp_conn_close(struct dp_conn *c, const char *reason);

/* The peer's address ("127.0.0.1") and "ip:port" for logs. */
const char *dp_conn_peer_ip(const struct dp_conn *c);
const char *dp_conn_peer(const struct dp_conn *c);

/* The protocol layer's per-connection state. */
void *dp_conn_user(const struct dp_conn *c);
void dp_conn_set_user(struct dp_conn *c, void *user);

/*
 * The core's answer to dp_proto_ask_sessions for connection conn of this
 * worker (the dump four-letter word): takes ownership of d (NULL when
 * the core ran out of memory).
 */
struct repl_sessions;
void dp_4lw_sessions(struct dp_worker *w, uint32_t conn, struct repl_sessions *d);

/* Worker facts. */
uint32_t dp_worker_index(const struct dp_worker *w);
struct dp_proto *dp_worker_proto(const struct dp_worker *w);
const struct cfg *dp_worker_cfg(const struct dp_worker *w);
struct repl *dp_worker_repl(const struct dp_worker *w);

/* ---- Hooks the I/O layer calls (implemented by the protocol layer) ---- */

struct dp_proto *dp_proto_new(struct dp_worker *w);
void dp_proto_free(struct dp_proto *p);

/* A new connection was accepted (before any byte). */
void dp_proto_opened(struct dp_proto *p, struct dp_conn *c);

/*
 * One complete frame (length prefix removed) arrived.  Returns 0, or a
 * negative errno after which the I/O layer closes the connection (the
 * protocol layer logged why, once, with the peer).
 */
int dp_proto_frame(struct dp_proto *p, struct dp_conn *c, const uint8_t *payload, uint32_t len);

/* The connection closed (either side); drop its watches, keep its session. */
void dp_proto_closed(struct dp_proto *p, struct dp_conn *c);

/* Drains this worker's ring from the core: results, events, expiries. */
void dp_proto_poll(struct dp_proto *p);

/*
 * True while a reply is parked waiting for the core to publish a zxid
 * (repl.h rule 2).  A txn with nothing for this worker's ring would not
 * wake it, so the I/O layer then sleeps at most 1 ms.
 */
bool dp_proto_pending(const struct dp_proto *p);

/*
 * Work the next dp_proto_poll does without any event announcing it (the
 * watches of a closed connection, freed a slice per call): the I/O layer
 * then polls without sleeping.
 */
bool dp_proto_has_work(const struct dp_proto *p);

/* Called at least every tickTime/2: session touches, pending timeouts. */
void dp_proto_tick(struct dp_proto *p, uint64_t now_ns);

/* Counters for four-letter words (this worker's share; summed by the caller). */
struct dp_proto_stats {
	uint64_t packets_received;
	uint64_t packets_sent;
	uint64_t outstanding;
	uint64_t watches;
	uint64_t watched_paths;
	uint64_t ephemerals_hint;
	uint64_t latency_min_us;
	uint64_t latency_max_us;
	uint64_t latency_sum_us;
	uint64_t latency_count;
	uint32_t connections;
	uint32_t sessions;
};
void dp_proto_stats(const struct dp_proto *p, struct dp_proto_stats *st);

/*
 * Text for the watch-listing and connection-listing four-letter words
 * (wchs, wchc, wchp, cons, dump), appended to out in ZooKeeper's format.
 * Runs on p's own worker thread: a word asked on one worker reaches the
 * others through the I/O layer's admin mailbox (admin path only).
 * dump's lines are "<bucket>\tip: /<peer> sessionId: 0x<id>\n", one per
 * connection: ZooKeeper's line (NIOServerCnxn.toString) prefixed with the
 * decimal monotonic ms of the connection's expiry bucket, for the I/O
 * layer to group as NIOServerCnxnFactory's connection ExpiryQueue does.
 */
void dp_proto_describe(const struct dp_proto *p, const char *word, struct jute_out *out);

/* Where a chunked listing (wchc, wchp) resumes on one worker; zero: the start. */
struct dp_describe_cursor {
	uint32_t i;   /* table index */
	uint32_t j;   /* 0 before the entry's header line, else 1 + the next item */
	uint64_t tag; /* identity of entry i while j > 0 */
};

/*
 * The next part of this worker's wchc or wchp text (the same bytes
 * dp_proto_describe would give, cut at line boundaries): appends to out
 * from *cur on, stops once about budget bytes are appended, advances
 * *cur.  Returns true when this worker's listing is complete.  Runs on
 * p's own worker thread, like dp_proto_describe; the I/O layer asks for
 * the next part only once the asker's output has drained, so no worker
 * builds a whole listing at once (dp_4lw.c).
 */
bool dp_proto_describe_chunk(const struct dp_proto *p, const char *word,
			     struct dp_describe_cursor *cur, size_t budget, struct jute_out *out);

/*
 * Asks the core for its session tracker (REPL_IN_SESSIONS) on behalf of
 * connection conn; the answer arrives through dp_4lw_sessions on this
 * worker.  Returns 0, or -ENOMEM (logged; no answer will come).
 */
int dp_proto_ask_sessions(struct dp_proto *p, uint32_t conn);

/*
 * dump's "ephemeral nodes dump:" body, DataTree.dumpEphemerals: "Sessions
 * with Ephemerals (N):", then "0x<session>:" and "\t<path>" lines, in the
 * order ZooKeeper's hash maps iterate (see dp_session.c).  Reads the tree
 * lock-free; on any worker.
 */
void dp_proto_ephemerals(const struct dp_proto *p, struct jute_out *out);

/*
 * The same text in parts, for a listing streamed as the client reads:
 * dp_proto_eph_begin takes the sessions holding ephemerals (ids only, in
 * ZooKeeper's order; NULL on allocation failure, logged);
 * dp_proto_eph_chunk appends from where the walk is, one session with all
 * its paths at a time (read from the tree then), stopping before the
 * first session that would start once budget bytes are appended, and
 * returns true when the listing is complete (or out->err is set);
 * dp_proto_eph_end frees the walk (NULL is fine).  The walk holds no
 * tree pointer between calls; on the asking worker's thread.
 */
struct dp_eph_walk;
struct dp_eph_walk *dp_proto_eph_begin(const struct dp_proto *p);
bool dp_proto_eph_chunk(const struct dp_proto *p, struct dp_eph_walk *e, size_t budget,
			struct jute_out *out);
void dp_proto_eph_end(struct dp_eph_walk *e);

#endif
