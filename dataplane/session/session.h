/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The protocol layer (session/): what the layers above it see.
 *
 * One struct dp_proto per worker, created and used on that worker's
 * thread: the connect handshake and each session's wire state, FIFO
 * order per session, reads served from the tree, writes handed to the
 * broadcast core, results and watch events from it, the watch manager,
 * auth.  It sees connections only through the I/O layer's services
 * (io.h part 3) and knows nothing of sockets; the admin layer
 * (admin.h) calls the hooks below for every connection that is not a
 * four-letter word, and the listing functions for the words.
 *
 * Everything runs on the worker thread that owns the connection, except
 * dp_proto_stats (any worker; relaxed atomics).
 */
#ifndef CHEETAH_DATAPLANE_SESSION_SESSION_H
#define CHEETAH_DATAPLANE_SESSION_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jute.h"
#include "dataplane/session/watch.h"

struct dp_worker;  /* I/O layer: one per worker thread */
struct dp_conn;    /* I/O layer: one client connection */
struct dp_proto;   /* protocol layer: per-worker state (sessions, watches) */

/* ---- The protocol layer of one worker (the admin layer drives it) ---- */

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

/*
 * Where requests wait (mntr's cheetah_stage_* lines, docs/OPERATIONS.md):
 * counts, and sums of nanoseconds from a request's arrival (the worker
 * loop's round clock, so to a round's precision).  reads_at_once: run
 * on arrival, nothing queued ahead; reads_queued: run here after waiting
 * behind the session's earlier requests (a write's result, usually);
 * reads_core: run by the broadcast core at their place behind a later
 * write (arrival to answer); writes: core requests (arrival to result);
 * parked/behind: replies held after they were built, for this worker's
 * events (parked) or behind an earlier reply of the session (behind),
 * with the time held.
 */
struct dp_stage_stats {
	uint64_t reads_at_once;
	uint64_t reads_queued, reads_queued_ns;
	uint64_t reads_core, reads_core_ns;
	uint64_t writes, writes_ns;
	uint64_t parked, parked_ns;
	uint64_t behind, behind_ns;
};

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
	/*
	 * ZooKeeper's RESPONSE_BYTES and WATCH_BYTES (frame bytes without
	 * the length prefix, never reset), clientResponseStats (reset by
	 * srst: resp_max 0 and resp_min UINT32_MAX while no frame went
	 * out since; resp_last_ns, the worker round's clock when resp_last
	 * went, tells which worker's is the newest), SESSIONLESS_CONNECTIONS_EXPIRED and
	 * CONNECTION_REVALIDATE_COUNT (never reset).
	 */
	uint64_t response_bytes, watch_bytes, resp_last_ns;
	uint32_t resp_last, resp_min, resp_max;
	uint64_t sessionless_expired, conn_revalidate;
	/* response_bytes, watch_bytes, sessionless_expired, conn_revalidate at the last srst */
	uint64_t srst_response_bytes, srst_watch_bytes, srst_sessionless, srst_revalidate;
	/* NODE_*_WATCHER since start or srst, by event type - 1 (mntr's summaries) */
	struct {
		uint64_t cnt, sum, min, max;
	} watch_fired[4];
	struct dp_stage_stats stage;
};
void dp_proto_stats(const struct dp_proto *p, struct dp_proto_stats *st);

/*
 * This worker's reply latencies in microseconds since it started (never
 * reset): read_us those of requests without a txn, update_us those with
 * one (ZooKeeper's READ_LATENCY and UPDATE_LATENCY: ServerStats
 * .updateLatency, by Request.getHdr()).  Copies (hist_read); any thread.
 */
struct hist;
void dp_proto_latency(const struct dp_proto *p, struct hist *read_us, struct hist *update_us);

/*
 * This worker's watchers notified per watch event since it started,
 * out[type - 1] (4 of them) for the event types NodeCreated (1) .. NodeChildrenChanged
 * (4): one observation per event that notified any of its connections,
 * of how many (ZooKeeper's NODE_*_WATCHER, WatchManager.triggerWatch).
 * Copies (hist_read); any thread.
 */
void dp_proto_watch_fired(const struct dp_proto *p, struct hist *out);

/*
 * This worker's part of a four-letter word, word being its bit in enum
 * cfg_4lw (config.h): the text of the watch and connection listings
 * (wchs, wchc, wchp, cons, stat, dump), appended to out in ZooKeeper's
 * format; crst and srst reset this worker's counters; other words do
 * nothing.  Runs on p's own worker thread: a word asked on one worker
 * reaches the others through the admin layer's mailbox (admin path
 * only).  dump's lines are "<bucket>\tip: /<peer> sessionId: 0x<id>\n",
 * one per connection: ZooKeeper's line (NIOServerCnxn.toString) prefixed
 * with the decimal monotonic ms of the connection's expiry bucket, for
 * the admin layer to group as NIOServerCnxnFactory's connection
 * ExpiryQueue does.
 */
void dp_proto_describe(const struct dp_proto *p, uint32_t word, struct jute_out *out);

/*
 * The next part of this worker's wchc or wchp text (the same bytes
 * dp_proto_describe would give, cut at line boundaries): appends to out
 * from *cur on, stops once about budget bytes are appended, advances
 * *cur.  Returns true when this worker's listing is complete.  Runs on
 * p's own worker thread, like dp_proto_describe; the I/O layer asks for
 * the next part only once the asker's output has drained, so no worker
 * builds a whole listing at once (admin/fourlw.c).
 */
bool dp_proto_describe_chunk(const struct dp_proto *p, uint32_t word,
			     struct dp_describe_cursor *cur, size_t budget, struct jute_out *out);

/*
 * DigestAuthenticationProvider's identity of "user:password" bytes:
 * "user:base64(sha1(user:password))" into out (at least 3 * len + 32
 * bytes: each invalid UTF-8 byte of the user part becomes U+FFFD, as Java),
 * its length returned; for the AdminServer's "digest" scheme too
 * (admin/info.c).  Any thread (session/digest.c).
 */
size_t dp_digest_id(const uint8_t *auth, size_t len, char *out);

/*
 * This worker's connections as structs (dp_info.h's struct dp_conn_info),
 * from slot *slot on (the I/O layer's slot order, as cons lists them):
 * copies at most max into out[0..*n), advances *slot past them, returns
 * true when this worker's list is complete.  p's own worker thread
 * (session/info.c).
 */
struct dp_conn_info;
bool dp_proto_conn_infos(const struct dp_proto *p, uint32_t *slot, struct dp_conn_info *out,
			 uint32_t max, uint32_t *n);

/*
 * Asks the core for its session tracker (REPL_IN_SESSIONS) on behalf of
 * connection conn; the answer arrives through done on this worker's
 * thread (from dp_proto_poll), which owns d (NULL when the core ran out
 * of memory).  Returns 0, or -ENOMEM (logged; no answer will come).
 */
struct repl_sessions;
typedef void dp_sessions_done(struct dp_worker *w, uint32_t conn, struct repl_sessions *d);
int dp_proto_ask_sessions(struct dp_proto *p, uint32_t conn, dp_sessions_done *done);

/*
 * dump's "ephemeral nodes dump:" body, DataTree.dumpEphemerals: "Sessions
 * with Ephemerals (N):", then "0x<session>:" and "\t<path>" lines, in the
 * order ZooKeeper's hash maps iterate (see listing.c).  Reads the tree
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
